/*
 * indexer — bring an index up to date with folders of videos: walk them
 * (core/walk), decide per file, decode (core/video), encode frames with the
 * CLIP image tower (core/vit) batched across videos, prepare each head's
 * per-video cache (core/tcmgc, core/ea) and store everything (core/index),
 * one transaction per video.
 *
 * Per file found by the walk:
 *   unchanged  same size and mtime as stored, and cached for every selected
 *              model: nothing to do
 *   new        no row at this path: decode and encode; but when its content
 *              hash matches an indexed video (index_lookup_hash), it is
 *              recognised without decoding: a move when that video's file
 *              is gone (index_move_video), a copy otherwise
 *              (index_copy_video)
 *   changed    size or mtime differ: same content hash → only the mtime is
 *              updated; otherwise decoded and stored anew
 *   missing    stored and unchanged, but not cached for one of the selected
 *              models (a model added later): decoded and encoded, and only
 *              that model's tensors are added (index_put_tensors)
 *   damaged    stored and unchanged, but its stored record for a selected
 *              model is damaged (index_list_damaged): decoded and encoded,
 *              and its tensors stored again, like missing
 *   bad        cannot be decoded: stored with status error and the reason,
 *              and the run goes on (retried when the file changes)
 * After the walk, rows under a walked root whose file no longer exists
 * (stat says ENOENT/ENOTDIR) are deleted.  A file that still exists but is
 * now excluded, hidden or in another shard is left alone.
 *
 * Commits happen in walk order whatever the decode threads do, so an
 * interrupted run followed by a rerun gives the same rows as one
 * uninterrupted run (the same ids, the same tensors up to float rounding of
 * the batched encoder).
 *
 * Threads: options.jobs decode threads (each its own FFmpeg reader and a
 * read-only index handle for the hash lookups) feed a bounded queue; the
 * calling thread encodes and writes.  Decoding the next videos overlaps
 * encoding the current batch; frames of several videos share one
 * vit_encode call (options.batch frames at most).
 *
 * Several model files: files whose image towers are identical (same
 * config and a hash of every vision tensor) share one tower and one
 * encoding of the frames; the others are encoded separately.
 *
 * Core never prints: everything the user should see goes through the
 * progress callback.
 */
#ifndef CLIPGREP_INDEXER_H
#define CLIPGREP_INDEXER_H

#include <stdatomic.h>
#include <stdint.h>

#include "linear.h"

/* What happened to one file (indexer_event.action). */
typedef enum {
	INDEXER_UNCHANGED, /* skipped */
	INDEXER_ADDED,     /* new file, decoded and encoded */
	INDEXER_UPDATED,   /* changed file, decoded and encoded again */
	INDEXER_EXTENDED,  /* tensors added for a model it lacked */
	INDEXER_MOVED,     /* recognised by its content hash: renamed, no decoding */
	INDEXER_COPIED,    /* recognised by its content hash: copied, no decoding */
	INDEXER_TOUCHED,   /* mtime changed, content the same: mtime updated */
	INDEXER_PARTIAL,   /* decoded with problems; stored with status partial */
	INDEXER_FAILED,    /* not decodable: stored with status error and the reason */
	INDEXER_DELETED,   /* the file is gone: dropped from the index */
	INDEXER_REENCODED, /* its stored record was damaged: encoded and stored again */
	INDEXER_ACTIONS
} indexer_action;

/* "unchanged", "added", ... */
const char *indexer_action_name(indexer_action a);

typedef enum {
	INDEXER_EV_WALKED,  /* the walk is done: files_total is known */
	INDEXER_EV_FILE,    /* one file done: path, action, message (for partial/failed) */
	INDEXER_EV_WARNING, /* a problem that does not stop the run: path and message
	                       (unreadable directory, broken link, a write that failed) */
	INDEXER_EV_DONE     /* the run ended (also when stopped) */
} indexer_event_kind;

/* Counters; also what indexer_run reports at the end. */
typedef struct {
	int64_t files_total;        /* files the walk found */
	int64_t files_done;         /* of them, handled */
	int64_t to_decode;          /* files that need decoding (known after the walk) */
	int64_t decoded;            /* of them, done */
	int64_t actions[INDEXER_ACTIONS];
	int64_t frames;             /* frames encoded (once per frame, whatever the towers) */
	int towers;                 /* distinct image towers run: model files with
	                               identical towers share one */
	int64_t warnings;
	double seconds;             /* since the start */
	double encode_seconds;      /* in vit_encode */
	linear_precision precision; /* what the towers ran in: options.precision, or fp32
	                               when the CPU has no AVX512_BF16 (a warning says so) */
	int stopped;                /* the stop flag ended the run early */
	/* The threads the run had, for benchmarks to say what they measured: */
	int decode_threads;         /* clipgrep's decode threads (options.jobs) */
	int codec_threads;          /* FFmpeg's threads per decoder */
	int convert_threads;        /* threads per decoder converting frames (keyframe sampling) */
	int compute_threads;        /* the towers' (OpenBLAS's, and the parallel pool
	                               beside it: tensor_threads) */
} indexer_stats;

typedef struct {
	indexer_event_kind kind;
	const char *path;           /* the file (raw bytes), or NULL */
	indexer_action action;      /* INDEXER_EV_FILE */
	const char *message;        /* why partial/failed, the warning; or NULL */
	const indexer_stats *stats; /* counters so far */
} indexer_event;

/* Called from the thread running indexer_run. */
typedef void (*indexer_progress_fn)(void *arg, const indexer_event *ev);

typedef struct {
	const char *const *roots;   /* [n_roots] folders or single files; made absolute
	                               (realpath) before use and stored so */
	int n_roots;
	const char *const *models;  /* [n_models] model files (>= 1) */
	int n_models;
	const char *const *exclude; /* NULL-terminated fnmatch patterns (walk_options), or NULL */
	int include_hidden;
	int shard_index, shard_count; /* --shard I/N; count 0 or 1: everything */
	int jobs;                   /* decode threads; 0: about half the cores, at least 1 */
	int batch;                  /* max frames per vit_encode call; 0: 48 */
	int thumb_width;            /* thumbnail width in pixels; 0: 192 */
	int wait_lock;              /* another indexer on the db: wait (1) or fail (0) */
	double window;              /* seconds per segment of a long video (init:
	                               INDEXER_DEFAULT_WINDOW); 0: every file is one
	                               segment.  A video indexed with another window is
	                               cut and encoded again (unless both give it one
	                               segment) */
	int shots;                  /* snap segment boundaries to shot changes */
	int sampling;               /* VIDEO_SAMPLING_* (core/video.h); default exact.
	                               Recorded per video: a video indexed in the other
	                               mode is decoded and encoded again, as for a new
	                               window */
	int no_delete;              /* keep rows of files that are gone (the TUI indexing
	                               one folder of a larger index may set it) */
	linear_precision precision; /* the image tower's GEMMs (default fp32; bf16 falls
	                               back to fp32 with a warning on a CPU without
	                               AVX512_BF16).  An index records the precision of
	                               each model's vectors and never mixes them: a run
	                               in another precision than the stored vectors'
	                               fails, naming both, unless reencode is set */
	int reencode;               /* the stored vectors of a model are of another
	                               precision: drop them and encode every video again */
	atomic_int *stop;           /* when it becomes non-zero, stop after the video in
	                               flight (signal-safe to set); may be NULL */
	indexer_progress_fn progress; /* may be NULL */
	void *progress_arg;
} indexer_options;

/* The segment window when none is given, in seconds. */
#define INDEXER_DEFAULT_WINDOW 30.0

/* Zeroes (window INDEXER_DEFAULT_WINDOW): defaults everywhere, no roots, no models. */
void indexer_options_init(indexer_options *opt);

/*
 * Index opt->roots into the index at db_path (created if missing), holding
 * its writer lock for the whole run.  Returns 0 when the run finished
 * (bad files do not count as failure: they are in stats.actions[FAILED]),
 * 1 when *opt->stop ended it early (everything committed so far stays), or
 * -1 with *cause when it could not run or a write failed ("<db>: another
 * clipgrep is indexing ...", "<model>: ...", "<db>: database or disk is
 * full").  stats (may be NULL) gets the counters in every case.
 */
int indexer_run(const char *db_path, const indexer_options *opt, indexer_stats *stats,
    char **cause);

#endif
