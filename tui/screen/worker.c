/*
 * worker — the search thread (owner of the engine), the thumbnail thread
 * and the index thread.
 *
 * A keystroke never waits for a stale search: worker_search sets the
 * engine's cancel flag when a search is in flight, the scan stops at its
 * next block of videos (engine_set_cancel, search_opts.cancel), nothing of
 * the stale search is published, and the newest query runs at once.
 *
 * Thumbnails are read from the index by the search thread (it owns the
 * engine; a read is a millisecond) and decoded by the thumbnail thread,
 * which steps aside while a search runs: a keystroke's search never waits
 * behind pictures.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "worker.h"

/* Thumbnail sets decoded per request list before the loop looks for a newer search. */
#define WORKER_MAX_WANTED 32
/* A DIR filter searches deeper so that enough hits fall inside DIR. */
#define WORKER_FILTER_DEPTH 500

struct worker {
	worker_options opt;
	char *db_path, *filter_prefix;
	char **models, **roots, **exclude;
	int n_exclude;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t search_thread, index_thread, thumb_thread;
	int search_started, index_started, thumb_started;
	atomic_int index_finished;
	atomic_int stop_index;
	int quit;

	/* Requests (under lock). */
	int search_pending;
	char *search_query;
	search_model search_mode;
	int search_top_k;
	int all_segments;          /* engine_search_segments' all_segments */
	/* The search cache file is written on a thread of its own after the
	 * first results (engine_flush_cache only reads the library: searches go
	 * on meanwhile; a refresh, which changes it, waits for it). */
	int cache_flushed;         /* the writer was started */
	int flush_joined;
	pthread_t flush_thread;
	atomic_int flush_done;
	uint64_t search_seq;
	int64_t wanted[WORKER_MAX_WANTED];
	int n_wanted;
	int64_t done_thumbs[WORKER_MAX_WANTED]; /* decoded since the list was set */
	int n_done_thumbs;
	int refresh_pending;
	int searching;          /* a search is running: the thumbnail thread waits */
	atomic_int cancel;      /* set (under lock) when a newer search supersedes the running one */
	pthread_cond_t thumb_cond;
	index_frames *to_decode[WORKER_MAX_WANTED]; /* read, waiting for the thumbnail thread */
	int64_t to_decode_id[WORKER_MAX_WANTED];
	int n_to_decode;

	/* Answers (under lock), handed over by worker_take. */
	worker_out out;

	/* Owned by the search thread. */
	engine *eng;
	engine_info info;

	/* Indexer progress (under lock). */
	worker_progress progress;
	double progress_wake; /* last time progress woke the loop */
};

static double worker_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void worker_wake(worker *w)
{
	char c = 'w';

	/* A full pipe already guarantees a wake-up. */
	while (write(w->opt.wake_fd, &c, 1) == -1 && errno == EINTR)
		;
}

static char *worker_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static char **worker_strdupv(const char *const *v, int n)
{
	char **out = calloc((size_t)n + 1, sizeof *out);

	if (out == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
		out[i] = worker_strdup(v[i]);
	return out;
}

static void worker_freev(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* Keep only the hits under the prefix, at most keep of them. */
static void worker_filter(engine_result *r, const char *prefix, int keep)
{
	size_t plen = strlen(prefix);
	int n = 0;

	for (int i = 0; i < r->nhits; i++) {
		if (strncmp(r->hits[i].path, prefix, plen) != 0 || n >= keep)
			continue;
		if (n != i)
			r->hits[n] = r->hits[i];
		n++;
	}
	r->nhits = n;
}

static void worker_set_error(worker *w, const char *fallback, char *cause, uint64_t seq)
{
	free(w->out.error);
	w->out.error = cause != NULL ? cause : strdup(fallback);
	w->out.error_seq = seq;
}

static void *worker_flush_main(void *arg)
{
	worker *w = arg;

	engine_flush_cache(w->eng);
	atomic_store(&w->flush_done, 1);
	return NULL;
}

/* Wait for the cache writer, if one was started (search thread, or after it ended). */
static void worker_join_flush(worker *w)
{
	if (w->cache_flushed && !w->flush_joined) {
		pthread_join(w->flush_thread, NULL);
		w->flush_joined = 1;
	}
}

static void *worker_search_main(void *arg)
{
	worker *w = arg;
	engine_options eo;
	char *cause = NULL;

	engine_options_init(&eo);
	eo.db_path = w->db_path;
	eo.model_paths = (const char *const *)w->models;
	eo.n_models = w->opt.n_models;
	eo.threads = w->opt.threads;
	eo.create = w->opt.create;
	eo.precision = w->opt.precision;
	eo.no_cache = w->opt.no_cache;
	w->eng = engine_open(&eo, &cause);
	pthread_mutex_lock(&w->lock);
	if (w->eng == NULL) {
		w->out.open_failed = 1;
		worker_set_error(w, "cannot open the index", cause, 0);
		pthread_mutex_unlock(&w->lock);
		worker_wake(w);
		return NULL;
	}
	engine_set_cancel(w->eng, &w->cancel);
	engine_get_info(w->eng, &w->info);
	w->out.opened = 1;
	w->out.info = w->info;
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);

	pthread_mutex_lock(&w->lock);
	while (!w->quit) {
		if (w->search_pending) {
			char *q = w->search_query;
			search_model mode = w->search_mode;
			int top_k = w->search_top_k, depth = top_k;
			uint64_t seq = w->search_seq;
			engine_result *res = NULL;
			double t0;
			int rc;

			w->search_query = NULL;
			w->search_pending = 0;
			w->searching = 1;
			atomic_store(&w->cancel, 0);
			pthread_mutex_unlock(&w->lock);
			if (w->filter_prefix != NULL && depth < WORKER_FILTER_DEPTH)
				depth = WORKER_FILTER_DEPTH;
			t0 = worker_now();
			rc = engine_search_segments(w->eng, q, mode, depth, w->all_segments, &res,
			    &cause);
			if (rc == 0 && w->filter_prefix != NULL)
				worker_filter(res, w->filter_prefix, top_k);
			pthread_mutex_lock(&w->lock);
			w->searching = 0;
			pthread_cond_broadcast(&w->thumb_cond);
			if (rc == 1) {
				/* Superseded mid-scan: publish nothing, run the newer one. */
			} else if (rc == 0) {
				engine_result_free(w->out.result);
				free(w->out.result_query);
				w->out.result = res;
				w->out.result_seq = seq;
				w->out.result_query = q;
				w->out.result_ms = (worker_now() - t0) * 1e3;
				q = NULL;
			} else {
				worker_set_error(w, "search failed", cause, seq);
			}
			cause = NULL;
			free(q);
			if (rc != 1)
				worker_wake(w);
			continue;
		}
		if (w->refresh_pending) {
			int changed = 0, rc;
			w->refresh_pending = 0;
			pthread_mutex_unlock(&w->lock);
			worker_join_flush(w);
			rc = engine_refresh(w->eng, &changed, &cause);
			pthread_mutex_lock(&w->lock);
			if (rc == 0) {
				engine_get_info(w->eng, &w->info);
				w->out.info = w->info;
				if (changed > 0) {
					w->out.refreshed += changed;
					worker_wake(w);
				}
			} else {
				worker_set_error(w, "refresh failed", cause, 0);
				worker_wake(w);
			}
			cause = NULL;
			continue;
		}
		if (w->n_done_thumbs < w->n_wanted && w->n_to_decode < WORKER_MAX_WANTED) {
			int64_t id = w->wanted[w->n_done_thumbs++];
			index_frames *f;
			int queued = 0;
			for (int i = 0; i < w->n_to_decode && !queued; i++)
				queued = w->to_decode_id[i] == id;
			if (queued)
				continue;
			pthread_mutex_unlock(&w->lock);
			f = engine_get_segment_frames(w->eng, id, 1, &cause);
			free(cause); /* a video gone since the search: drawn without pictures */
			cause = NULL;
			pthread_mutex_lock(&w->lock);
			w->to_decode[w->n_to_decode] = f;
			w->to_decode_id[w->n_to_decode++] = id;
			pthread_cond_broadcast(&w->thumb_cond);
			continue;
		}
		if (!w->cache_flushed && w->out.result != NULL) {
			w->cache_flushed = 1;
			if (pthread_create(&w->flush_thread, NULL, worker_flush_main, w) != 0) {
				/* No thread: write it here, once. */
				pthread_mutex_unlock(&w->lock);
				worker_flush_main(w);
				pthread_mutex_lock(&w->lock);
				w->flush_joined = 1;
			}
			continue;
		}
		pthread_cond_wait(&w->cond, &w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* The thumbnail thread: decode what the search thread read, one frame at a time. */
static void *worker_thumb_main(void *arg)
{
	worker *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->quit) {
		index_frames *f;
		int64_t id;
		thumb_set *s;

		if (w->n_to_decode == 0) {
			pthread_cond_wait(&w->thumb_cond, &w->lock);
			continue;
		}
		f = w->to_decode[0];
		id = w->to_decode_id[0];
		w->n_to_decode--;
		memmove(w->to_decode, w->to_decode + 1, sizeof *w->to_decode * (size_t)w->n_to_decode);
		memmove(w->to_decode_id, w->to_decode_id + 1,
		    sizeof *w->to_decode_id * (size_t)w->n_to_decode);
		pthread_cond_signal(&w->cond); /* room in the queue */
		s = thumb_set_new(id, f != NULL ? f->n : 0);
		for (int i = 0; s != NULL && f != NULL && i < f->n && !w->quit; i++) {
			/* A search has the cores first. */
			while (w->searching && !w->quit)
				pthread_cond_wait(&w->thumb_cond, &w->lock);
			pthread_mutex_unlock(&w->lock);
			thumb_set_decode(s, i, &f->frames[i]);
			pthread_mutex_lock(&w->lock);
		}
		index_frames_free(f);
		if (s != NULL && !w->quit) {
			thumb_set **v = realloc(w->out.thumbs, sizeof *v * (size_t)(w->out.n_thumbs + 1));
			if (v != NULL) {
				w->out.thumbs = v;
				v[w->out.n_thumbs++] = s;
				s = NULL;
				worker_wake(w);
			}
		}
		thumb_set_free(s);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void worker_index_progress(void *arg, const indexer_event *ev)
{
	worker *w = arg;
	double now = worker_now();
	int wake = 0;

	pthread_mutex_lock(&w->lock);
	w->progress.files_total = ev->stats->files_total;
	w->progress.files_done = ev->stats->files_done;
	w->progress.to_decode = ev->stats->to_decode;
	w->progress.decoded = ev->stats->decoded;
	w->progress.added = ev->stats->actions[INDEXER_ADDED] + ev->stats->actions[INDEXER_UPDATED] +
	    ev->stats->actions[INDEXER_EXTENDED] + ev->stats->actions[INDEXER_MOVED] +
	    ev->stats->actions[INDEXER_COPIED] + ev->stats->actions[INDEXER_PARTIAL] +
	    ev->stats->actions[INDEXER_DELETED] + ev->stats->actions[INDEXER_REENCODED];
	w->progress.failed = ev->stats->actions[INDEXER_FAILED];
	if (ev->kind == INDEXER_EV_WALKED)
		w->progress.walked = 1;
	if (ev->kind == INDEXER_EV_FILE && ev->path != NULL) {
		size_t n = strlen(ev->path);
		if (n >= sizeof w->progress.current)
			n = sizeof w->progress.current - 1;
		memcpy(w->progress.current, ev->path, n);
		w->progress.current[n] = '\0';
	}
	w->out.progress_changed = 1;
	/* At most ten wake-ups a second for progress alone. */
	if (ev->kind != INDEXER_EV_FILE || now - w->progress_wake > 0.1) {
		w->progress_wake = now;
		wake = 1;
	}
	pthread_mutex_unlock(&w->lock);
	if (wake)
		worker_wake(w);
}

static void *worker_index_main(void *arg)
{
	worker *w = arg;
	indexer_options io;
	indexer_stats st;
	char *cause = NULL;
	int rc;

	indexer_options_init(&io);
	io.roots = (const char *const *)w->roots;
	io.n_roots = w->opt.n_roots;
	io.models = (const char *const *)w->models;
	io.n_models = w->opt.n_models;
	io.exclude = (const char *const *)w->exclude;
	io.jobs = w->opt.jobs;
	io.precision = w->opt.precision;
	if (w->opt.window_set)
		io.window = w->opt.window;
	io.shots = w->opt.shots;
	io.sampling = w->opt.sampling;
	io.wait_lock = 0;
	io.stop = &w->stop_index;
	io.progress = worker_index_progress;
	io.progress_arg = w;
	memset(&st, 0, sizeof st);
	rc = indexer_run(w->db_path, &io, &st, &cause);
	pthread_mutex_lock(&w->lock);
	w->progress.indexing = 0;
	w->progress.done = 1;
	w->progress.stopped = rc == 1;
	w->out.progress_changed = 1;
	if (rc == -1) {
		free(w->out.index_error);
		w->out.index_error = cause != NULL ? cause : strdup("indexing failed");
		cause = NULL;
	}
	pthread_mutex_unlock(&w->lock);
	free(cause);
	atomic_store(&w->index_finished, 1);
	worker_wake(w);
	return NULL;
}

/* Thread creation with the signals blocked, so that they reach the event loop's thread. */
static int worker_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

worker *worker_new(const worker_options *opt)
{
	worker *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->opt = *opt;
	w->db_path = worker_strdup(opt->db_path);
	w->filter_prefix = worker_strdup(opt->filter_prefix);
	w->models = worker_strdupv(opt->models, opt->n_models);
	w->roots = worker_strdupv(opt->roots, opt->n_roots);
	if (opt->exclude != NULL) {
		while (opt->exclude[w->n_exclude] != NULL)
			w->n_exclude++;
		w->exclude = worker_strdupv(opt->exclude, w->n_exclude);
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->thumb_cond, NULL);
	if (w->db_path == NULL || w->models == NULL || w->roots == NULL) {
		worker_free(w, 0);
		return NULL;
	}
	/*
	 * Create the index before the two threads open it: an index_open that
	 * meets a database another thread is still creating can take it for a
	 * foreign file.
	 */
	if (opt->create && access(opt->db_path, F_OK) == -1) {
		index_db *ix = index_open(opt->db_path, INDEX_CREATE, NULL);
		index_close(ix);
	}
	if (opt->n_roots > 0) {
		w->progress.indexing = 1;
		if (worker_spawn(&w->index_thread, worker_index_main, w) == 0)
			w->index_started = 1;
		else
			w->progress.indexing = 0;
	}
	if (worker_spawn(&w->thumb_thread, worker_thumb_main, w) != 0) {
		worker_free(w, 0);
		return NULL;
	}
	w->thumb_started = 1;
	if (worker_spawn(&w->search_thread, worker_search_main, w) != 0) {
		worker_free(w, 0);
		return NULL;
	}
	w->search_started = 1;
	return w;
}

void worker_free(worker *w, int wait_ms)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop_index, 1);
	pthread_mutex_lock(&w->lock);
	w->quit = 1;
	atomic_store(&w->cancel, 1);
	pthread_cond_broadcast(&w->cond);
	pthread_cond_broadcast(&w->thumb_cond);
	pthread_mutex_unlock(&w->lock);
	if (w->search_started)
		pthread_join(w->search_thread, NULL);
	if (w->thumb_started)
		pthread_join(w->thumb_thread, NULL);
	if (w->cache_flushed && !w->flush_joined) {
		/* Writing the search cache file: wait a little, then leave it to die
		 * with the process (its temporary file is removed by the next writer). */
		for (int waited = 0; !atomic_load(&w->flush_done) && waited < wait_ms; waited += 10) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (!atomic_load(&w->flush_done)) {
			pthread_detach(w->flush_thread);
			return; /* w and its engine stay allocated: the writer reads them */
		}
		worker_join_flush(w);
	}
	if (w->index_started) {
		/* The indexer stops after the video in flight; do not wait forever for it. */
		for (int waited = 0; !atomic_load(&w->index_finished) && waited < wait_ms; waited += 10) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (!atomic_load(&w->index_finished)) {
			/* Still decoding: the process exits under it (the index is crash-safe). */
			pthread_detach(w->index_thread);
			return; /* w stays allocated: the thread still uses it */
		}
		pthread_join(w->index_thread, NULL);
	}
	engine_close(w->eng);
	worker_out_clear(&w->out);
	for (int i = 0; i < w->n_to_decode; i++)
		index_frames_free(w->to_decode[i]);
	free(w->search_query);
	free(w->db_path);
	free(w->filter_prefix);
	worker_freev(w->models);
	worker_freev(w->roots);
	worker_freev(w->exclude);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->thumb_cond);
	free(w);
}

void worker_search(worker *w, const char *query, search_model mode, int top_k, uint64_t seq)
{
	char *q = strdup(query);

	if (q == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	free(w->search_query);
	w->search_query = q;
	w->search_mode = mode;
	w->search_top_k = top_k;
	w->search_seq = seq;
	w->search_pending = 1;
	if (w->searching)
		atomic_store(&w->cancel, 1);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void worker_set_all_segments(worker *w, int all)
{
	pthread_mutex_lock(&w->lock);
	w->all_segments = all;
	pthread_mutex_unlock(&w->lock);
}

void worker_want_thumbs(worker *w, const int64_t *ids, int n)
{
	if (n > WORKER_MAX_WANTED)
		n = WORKER_MAX_WANTED;
	pthread_mutex_lock(&w->lock);
	if (n != w->n_wanted || memcmp(ids, w->wanted, sizeof *ids * (size_t)n) != 0) {
		int m = 0;
		memcpy(w->wanted, ids, sizeof *ids * (size_t)n);
		w->n_wanted = n;
		w->n_done_thumbs = 0;
		/* Read but no longer wanted: drop; still wanted: keep, not read again. */
		for (int i = 0; i < w->n_to_decode; i++) {
			int still = 0;
			for (int j = 0; j < n && !still; j++)
				still = ids[j] == w->to_decode_id[i];
			if (still) {
				w->to_decode[m] = w->to_decode[i];
				w->to_decode_id[m++] = w->to_decode_id[i];
			} else {
				index_frames_free(w->to_decode[i]);
			}
		}
		w->n_to_decode = m;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

void worker_refresh(worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->refresh_pending = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void worker_take(worker *w, worker_out *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->out;
	out->progress = w->progress;
	memset(&w->out, 0, sizeof w->out);
	w->out.info = w->info;
	pthread_mutex_unlock(&w->lock);
}

void worker_out_clear(worker_out *out)
{
	engine_result_free(out->result);
	free(out->result_query);
	free(out->error);
	free(out->index_error);
	for (int i = 0; i < out->n_thumbs; i++)
		thumb_set_free(out->thumbs[i]);
	free(out->thumbs);
	memset(out, 0, sizeof *out);
}
