/*
 * fetch — download one file over HTTP(S) with libcurl, resumably, and
 * check it against a pinned SHA-256 before it takes its final name.
 *
 * The bytes go to DEST.part, appended to what an earlier, interrupted
 * attempt left there (an HTTP Range request; a server that ignores it
 * sends the whole file and the part starts over).  Only a complete file
 * whose SHA-256 is the expected one is renamed to DEST (then the folder is
 * synced); a failed transfer or a full disk keeps DEST.part for the next
 * attempt, and a complete file with the wrong digest is moved to DEST.bad
 * so that the next attempt starts afresh.  The only libcurl user.
 *
 * Threads: fetch_file may be called from one thread at a time (libcurl's
 * global initialisation is done on first use).
 */
#ifndef CLIPGREP_FETCH_H
#define CLIPGREP_FETCH_H

#include <stdint.h>

/* have: bytes in DEST.part so far; total: the whole file's size, or -1 while unknown. */
typedef void (*fetch_progress_fn)(void *arg, int64_t have, int64_t total);

typedef struct {
	const char *url;
	const char *dest;         /* the final path */
	const char *sha256;       /* 64 lowercase hex digits the file must hash to */
	int64_t size;             /* the expected size in bytes, or -1 when unknown */
	fetch_progress_fn progress; /* may be NULL; called as bytes arrive */
	void *arg;
} fetch_request;

/* 1 when this build has libcurl (fetch_file can download), else 0. */
int fetch_available(void);

/*
 * Make r->dest hold the file: already there with the right SHA-256, or
 * downloaded (resuming DEST.part), checked and renamed into place.  0 on
 * success (*fresh, when not NULL, is 1 when bytes were downloaded); -1
 * with *cause naming the URL or file and the reason, and saying what was
 * kept ("the partial download is kept in DEST.part: run the same command
 * again to resume").
 */
int fetch_file(const fetch_request *r, int *fresh, char **cause);

#endif
