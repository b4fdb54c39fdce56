/*
 * worker — the TUI's background threads, so that typing never waits:
 *
 *  - the search thread owns the engine (core/engine: one thread at a
 *    time): it opens it, runs the latest search asked for (older pending
 *    ones are dropped: a keystroke supersedes them), loads and decodes the
 *    thumbnails of the videos the screen wants, and refreshes the engine
 *    when the indexer has stored new videos;
 *  - the index thread (only with folders to index) runs core/indexer over
 *    them into the same database and reports progress.
 *
 * The event loop asks with worker_search / worker_want_thumbs /
 * worker_refresh, and collects what is done with worker_take when the
 * wake-up descriptor it gave becomes readable (one byte per event; the
 * loop drains it).  Everything worker_take hands over is the caller's.
 */
#ifndef CLIPGREP_WORKER_H
#define CLIPGREP_WORKER_H

#include <stdint.h>

#include "engine.h"
#include "indexer.h"
#include "thumb.h"

typedef struct worker worker;

typedef struct {
	const char *db_path;
	const char *const *models; /* [n_models] */
	int n_models;
	int threads;               /* search threads (0: all cores) */
	int create;                /* create the index when missing */
	const char *const *roots;  /* [n_roots] folders to index in the background, or none */
	int n_roots;
	const char *const *exclude;/* NULL-terminated, or NULL */
	int jobs;                  /* indexer decode threads (0: its default) */
	linear_precision precision; /* the towers' (indexing and the text tower) */
	int no_cache;              /* engine_options.no_cache */
	int window_set;            /* window is the indexer's segment window, else its default */
	double window;
	int shots;
	int sampling;              /* VIDEO_SAMPLING_* */
	const char *filter_prefix; /* show only hits whose path starts with this (NULL: all) */
	int wake_fd;               /* written one byte per event */
} worker_options;

/* Start the threads (the engine opens in the background).  NULL on failure. */
worker *worker_new(const worker_options *opt);
/*
 * Stop: the indexer is asked to stop after the video in flight and is
 * waited for at most wait_ms (then left to die with the process); the
 * search thread finishes its current step.  NULL is a no-op.
 */
void worker_free(worker *w, int wait_ms);

/* Ask for a search; replaces a pending one.  seq identifies the answer. */
void worker_search(worker *w, const char *query, search_model mode, int top_k, uint64_t seq);
/* Searches from now list every matching segment (1) or each video's best (0). */
void worker_set_all_segments(worker *w, int all);
/*
 * The hits whose thumbnails the screen wants, most wanted first (replaces
 * the list), each by engine_segment_key: a long video's segment shows its
 * own frames.
 */
void worker_want_thumbs(worker *w, const int64_t *ids, int n);
/* Pick up what the indexer stored (engine_refresh). */
void worker_refresh(worker *w);

typedef struct {
	int indexing;          /* the index thread is running */
	int walked;            /* the walk finished: files_total is meaningful */
	int64_t files_total, files_done, to_decode, decoded;
	int64_t added;         /* videos stored so far this run (added, updated, moved, ...) */
	int64_t failed;
	char current[256];     /* the file last handled (raw bytes, NUL-terminated) */
	int done;              /* the run ended */
	int stopped;           /* ... early, because we asked */
} worker_progress;

/* What worker_take hands over; free with worker_out_clear. */
typedef struct {
	int opened;              /* the engine opened since the last take */
	int open_failed;         /* ... or failed to: error says why */
	engine_info info;        /* valid when opened (strings live as long as the worker) */
	engine_result *result;   /* the latest answer, or NULL */
	uint64_t result_seq;
	double result_ms;        /* the search's wall time in the worker */
	char *result_query;
	char *error;             /* a failed search or open, or NULL */
	uint64_t error_seq;
	thumb_set **thumbs;      /* [n_thumbs] decoded sets */
	int n_thumbs;
	int refreshed;           /* videos added/updated/dropped by a refresh (> 0: search again) */
	int progress_changed;
	worker_progress progress;/* a copy of the indexer's progress */
	char *index_error;       /* why the indexer could not run or stopped, or NULL */
} worker_out;

void worker_take(worker *w, worker_out *out);
void worker_out_clear(worker_out *out);

#endif
