/*
 * indexer — walk, decide, decode (threads), encode (batched), store.
 *
 * Pipeline: the walk produces the files; each is classified against the
 * rows stored under the walked roots.  Files that need work become jobs in
 * walk order.  Decode threads take jobs in order (at most INDEXER_AHEAD
 * beyond the one being committed), hash the file, recognise moves, copies
 * and touched files by their hash, and otherwise decode F frames.  The
 * calling thread takes the jobs in order, gathers the decoded frames of
 * consecutive jobs into one image-tower batch, prepares the heads' caches
 * and commits each video in its own transaction.
 *
 * A video's frames are one group of the tower's batch (vit_encode_groups),
 * so its vectors do not depend on its neighbours in the batch: a resumed or
 * sharded index stores the same bytes as one run.  A short clip is padded
 * with the tower's zero-image embedding, computed once per tower
 * (vit_encode_blank); videos stored under schema 1's zero-row padding that
 * have fewer than F frames are re-encoded (index_list_zero_padded).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "heads.h"
#include "hash.h"
#include "index.h"
#include "indexer.h"
#include "tensor.h"
#include "util.h"
#include "video.h"
#include "vit.h"
#include "walk.h"

#define INDEXER_DEFAULT_BATCH 48
#define INDEXER_DEFAULT_THUMB 192

/* ---- models -------------------------------------------------------------- */

/* One image tower, shared by the model files whose towers are identical. */
typedef struct {
	vit *v;
	int first_model;  /* the model whose weights it reads */
	float *emb;       /* [batch, D] output of the current batch */
	float *pad;       /* [D] an all-zero image's embedding: pads short clips */
} indexer_tower;

typedef struct {
	heads_file *f;       /* owned by the run's heads_set */
	int64_t model_id;
	int tower;           /* index into towers */
	heads_record *rec;   /* one video's record, scratch */
} indexer_model;

/* ---- jobs ---------------------------------------------------------------- */

typedef enum { JOB_NEW, JOB_CHANGED, JOB_MISSING } indexer_job_kind;

typedef enum {
	OUT_NONE,
	OUT_DECODED,   /* vf holds the frames */
	OUT_MOVE,      /* src_id's file is gone: rename it */
	OUT_COPY,      /* src_id's file exists: copy it */
	OUT_TOUCH,     /* same content as the stored row: update the mtime */
	OUT_FAILED     /* error says why */
} indexer_outcome;

typedef struct {
	char *path;
	int64_t size, mtime_ns;
	indexer_job_kind kind;
	int64_t old_id;                   /* the row at path (CHANGED, MISSING) */
	bool damaged;                     /* MISSING because its record is damaged */
	uint8_t old_hash[HASH_SIZE];
	/* Filled by the decode thread. */
	indexer_outcome outcome;
	uint8_t hash[HASH_SIZE];
	int64_t src_id;
	video_frames *vf;
	double duration;
	char *error;
	bool ready;
	bool recut;                       /* the window changed: decode and store anew */
	/*
	 * A long video (more than one segment) is decoded in chunks of
	 * segments handed over one by one (guarded by the run's mutex): the
	 * writer encodes a chunk while the next is decoded, and at most
	 * INDEXER_CHUNKS_AHEAD chunks of pixels exist at once.
	 */
	video_segment *segs;              /* [n_segs] */
	int n_segs;                       /* segments decoded (final once ready) */
	int per_chunk;                    /* segments per chunk */
	video_frames **chunks;            /* [chunks_cap] decoded, not yet taken */
	int chunks_cap, chunks_done, chunks_taken;
	bool streaming;                   /* chunks are coming: the writer may start */
	bool abandoned;                   /* the writer stopped: decode no further */
	bool chunk_partial;               /* a chunk had decoding problems */
	char *chunk_note;                 /* the first chunk's note, or NULL */
} indexer_job;

/* Chunks a decode thread may hold before the writer takes them. */
#define INDEXER_CHUNKS_AHEAD 2
/* Segments one video may have; a longer video gets longer segments. */
#define INDEXER_MAX_SEGMENTS 4096

/* A stored row under a walked root, by path. */
typedef struct {
	char *path;
	int64_t id, size, mtime_ns;
	uint8_t hash[HASH_SIZE];
	index_status status;
	double duration, window;
	int shots;
	int sampling;
	bool walked;
} indexer_known;

typedef struct indexer_run_state indexer_run_state;

struct indexer_run_state {
	const indexer_options *opt;
	const char *db_path;
	index_db *ix;
	indexer_stats st;
	double t0;

	heads_set *hs;
	indexer_model *models;
	int n_models;
	indexer_tower *towers;
	int n_towers;
	int F, S, batch;
	linear_kernel kernel;     /* the towers' (linear_precision_kernel) */
	bool all_covered;         /* every indexed video has every model's tensors */
	int64_t *damaged;         /* [n_damaged] ascending ids of videos whose record for
	                             a selected model is damaged (index_list_damaged) */
	size_t n_damaged, cap_damaged;
	int64_t *zero_padded;     /* [n_zero_padded] sorted ids to re-encode: short
	                             clips padded by schema 1's zero rows */
	size_t n_zero_padded, cap_zero_padded;

	/* Stored rows under the roots: an open-addressing table over known[]. */
	indexer_known *known;
	size_t n_known, cap_known;
	int64_t *slots;           /* [nslots] index into known, or -1 */
	size_t nslots;

	indexer_job *jobs;
	size_t n_jobs, cap_jobs;

	/* Decode threads. */
	pthread_mutex_t mu;
	pthread_cond_t ready_cv, space_cv;
	size_t next_job;          /* the next job a decode thread takes */
	size_t consumed;          /* jobs the writer is done with */
	size_t ahead;             /* how far the decoders may run ahead */
	bool quit;
	pthread_t *threads;
	int n_threads;
	video_options vopt;

	float *pixels;            /* [batch, 3, S, S] the current image batch */
	char **cause;
};

static const char *const indexer_action_names[INDEXER_ACTIONS] = {
	"unchanged", "added", "updated", "extended", "moved", "copied", "touched",
	"partial", "failed", "deleted", "re-encoded",
};

const char *indexer_action_name(indexer_action a)
{
	return (unsigned)a < INDEXER_ACTIONS ? indexer_action_names[a] : "?";
}

void indexer_options_init(indexer_options *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->window = INDEXER_DEFAULT_WINDOW;
}

/* Whether a video of duration d cut with window w is one segment. */
static bool indexer_one_segment(double w, double d)
{
	return w <= 0 || !(d > w * VIDEO_SEGMENT_SLACK);
}

/* Whether k was cut or sampled otherwise than this run would do it. */
static bool indexer_recut(const indexer_run_state *s, const indexer_known *k)
{
	/* Another sampling mode picks other frames: like a new window, decode anew. */
	if (k->sampling != s->opt->sampling)
		return true;
	if (indexer_one_segment(k->window, k->duration) &&
	    indexer_one_segment(s->opt->window, k->duration))
		return false;
	return k->window != s->opt->window || (k->shots != 0) != (s->opt->shots != 0);
}

static bool indexer_stopping(const indexer_run_state *s)
{
	return s->opt->stop != NULL && atomic_load(s->opt->stop) != 0;
}

static void indexer_emit(indexer_run_state *s, indexer_event_kind kind, const char *path,
    indexer_action action, const char *message)
{
	indexer_event ev = { kind, path, action, message, &s->st };

	s->st.seconds = util_now() - s->t0;
	if (s->opt->progress != NULL)
		s->opt->progress(s->opt->progress_arg, &ev);
}

static void indexer_file_done(indexer_run_state *s, const char *path, indexer_action a,
    const char *message)
{
	s->st.files_done++;
	s->st.actions[a]++;
	indexer_emit(s, INDEXER_EV_FILE, path, a, message);
}

/* ---- known rows ------------------------------------------------------------ */

static uint64_t indexer_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static int indexer_known_rehash(indexer_run_state *s, size_t nslots)
{
	int64_t *slots = malloc(nslots * sizeof *slots);

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < nslots; i++)
		slots[i] = -1;
	for (size_t k = 0; k < s->n_known; k++) {
		size_t i = indexer_hash_str(s->known[k].path) & (nslots - 1);
		while (slots[i] != -1)
			i = (i + 1) & (nslots - 1);
		slots[i] = (int64_t)k;
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	return 0;
}

static indexer_known *indexer_known_find(indexer_run_state *s, const char *path)
{
	if (s->nslots == 0)
		return NULL;
	for (size_t i = indexer_hash_str(path) & (s->nslots - 1); s->slots[i] != -1;
	    i = (i + 1) & (s->nslots - 1)) {
		indexer_known *k = &s->known[s->slots[i]];
		if (strcmp(k->path, path) == 0)
			return k;
	}
	return NULL;
}

typedef struct {
	indexer_run_state *s;
	const char *root;
	size_t root_len;
	bool is_dir;
} indexer_list_arg;

static int indexer_list_fn(void *arg, const index_video_row *row)
{
	indexer_list_arg *a = arg;
	indexer_run_state *s = a->s;
	indexer_known *k;

	/* The prefix listing also returns "/a/bc" for root "/a/b". */
	if (a->is_dir ? !(a->root_len == 1 || row->path[a->root_len] == '/')
	    : row->path[a->root_len] != '\0')
		return 0;
	if (indexer_known_find(s, row->path) != NULL)
		return 0; /* two roots overlap */
	if (s->n_known == s->cap_known) {
		size_t cap = s->cap_known ? 2 * s->cap_known : 256;
		indexer_known *nk = realloc(s->known, cap * sizeof *nk);
		if (nk == NULL)
			goto nomem;
		s->known = nk;
		s->cap_known = cap;
	}
	k = &s->known[s->n_known];
	memset(k, 0, sizeof *k);
	if ((k->path = util_strdup(row->path)) == NULL)
		goto nomem;
	k->id = row->id;
	k->size = row->size;
	k->mtime_ns = row->mtime_ns;
	memcpy(k->hash, row->hash, sizeof k->hash);
	k->status = row->status;
	k->duration = row->duration;
	k->window = row->window;
	k->shots = row->shots;
	k->sampling = row->sampling;
	s->n_known++;
	if (2 * s->n_known > s->nslots) {
		if (indexer_known_rehash(s, s->nslots ? 2 * s->nslots : 1024) == -1)
			goto nomem;
	} else {
		size_t i = indexer_hash_str(k->path) & (s->nslots - 1);
		while (s->slots[i] != -1)
			i = (i + 1) & (s->nslots - 1);
		s->slots[i] = (int64_t)(s->n_known - 1);
	}
	return 0;
nomem:
	util_set_cause(s->cause, "out of memory listing %s", UTIL_NAME(s->db_path));
	return -1;
}

/* ---- the walk -------------------------------------------------------------- */

static void indexer_walk_error(void *arg, const char *path, const char *reason)
{
	indexer_run_state *s = arg;

	s->st.warnings++;
	indexer_emit(s, INDEXER_EV_WARNING, path, INDEXER_UNCHANGED, reason);
}

static int indexer_add_job(indexer_run_state *s, const char *path, const struct stat *st,
    indexer_job_kind kind, const indexer_known *k)
{
	indexer_job *j;

	if (s->n_jobs == s->cap_jobs) {
		size_t cap = s->cap_jobs ? 2 * s->cap_jobs : 64;
		indexer_job *nj = realloc(s->jobs, cap * sizeof *nj);
		if (nj == NULL)
			return -1;
		s->jobs = nj;
		s->cap_jobs = cap;
	}
	j = &s->jobs[s->n_jobs];
	memset(j, 0, sizeof *j);
	if ((j->path = util_strdup(path)) == NULL)
		return -1;
	j->size = (int64_t)st->st_size;
	j->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	j->kind = kind;
	if (k != NULL) {
		j->old_id = k->id;
		memcpy(j->old_hash, k->hash, sizeof j->old_hash);
	}
	s->n_jobs++;
	return 0;
}

static int indexer_cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* ids: [n] ascending. */
static bool indexer_has_id(const int64_t *ids, size_t n, int64_t id)
{
	return n > 0 && bsearch(&id, ids, n, sizeof id, indexer_cmp_id) != NULL;
}

static bool indexer_is_damaged(const indexer_run_state *s, int64_t id)
{
	return indexer_has_id(s->damaged, s->n_damaged, id);
}

/*
 * Whether video id has sound tensors of every selected model: 1, 0, or
 * -1.  A damaged record counts as not covered: it is encoded again, and
 * never copied to a new path.
 */
static int indexer_covered(indexer_run_state *s, index_db *ix, int64_t id, char **cause)
{
	if (s->all_covered)
		return 1;
	if (indexer_is_damaged(s, id))
		return 0;
	for (int i = 0; i < s->n_models; i++) {
		float *data;
		int64_t count;
		char *why = NULL;
		int r = index_get_tensor(ix, id, s->models[i].model_id, HEADS_KIND_FRAMES, &data,
		    &count, &why);
		if (r == -1) {
			if (cause != NULL)
				*cause = why;
			else
				free(why);
			return -1;
		}
		free(why);
		if (r != 0)
			return 0;
		free(data);
	}
	return 1;
}

static bool indexer_is_zero_padded(const indexer_run_state *s, int64_t id)
{
	return indexer_has_id(s->zero_padded, s->n_zero_padded, id);
}

static int indexer_walk_fn(void *arg, const char *path, const char *rel,
    const struct stat *st)
{
	indexer_run_state *s = arg;
	indexer_known *k = indexer_known_find(s, path);
	int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	int r;

	(void)rel;
	if (indexer_stopping(s))
		return 2;
	s->st.files_total++;
	if (k != NULL) {
		if (k->walked) {
			s->st.files_total--; /* reached twice (overlapping roots) */
			return 0;
		}
		k->walked = true;
		if (k->size == (int64_t)st->st_size && k->mtime_ns == mtime_ns) {
			if (k->status == INDEX_ERROR)
				return 0; /* a bad file is retried when it changes */
			if (indexer_recut(s, k)) {
				if (indexer_add_job(s, path, st, JOB_CHANGED, k) != 0)
					return -3;
				s->jobs[s->n_jobs - 1].recut = true;
				return 0;
			}
			if (indexer_is_zero_padded(s, k->id))
				return indexer_add_job(s, path, st, JOB_MISSING, k) == 0 ? 0 : -3;
			if ((r = indexer_covered(s, s->ix, k->id, s->cause)) == -1)
				return -1;
			if (r == 1)
				return 0;
			if (indexer_add_job(s, path, st, JOB_MISSING, k) != 0)
				return -3;
			s->jobs[s->n_jobs - 1].damaged = indexer_is_damaged(s, k->id);
			return 0;
		}
		return indexer_add_job(s, path, st, JOB_CHANGED, k) == 0 ? 0 : -3;
	}
	return indexer_add_job(s, path, st, JOB_NEW, NULL) == 0 ? 0 : -3;
}

/* ---- decode threads -------------------------------------------------------- */

/*
 * Hand a decoded chunk to the writer; with wait, first wait until it has
 * taken all but INDEXER_CHUNKS_AHEAD - 1.  false when the run is quitting.
 */
static bool indexer_put_chunk(indexer_run_state *s, indexer_job *j, video_frames *vf, bool wait)
{
	bool ok;

	pthread_mutex_lock(&s->mu);
	while (wait && !s->quit && !j->abandoned &&
	    j->chunks_done - j->chunks_taken >= INDEXER_CHUNKS_AHEAD)
		pthread_cond_wait(&s->space_cv, &s->mu);
	ok = !s->quit && !j->abandoned;
	if (ok) {
		j->chunks[j->chunks_done++] = vf;
		j->streaming = true;
		pthread_cond_broadcast(&s->ready_cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (!ok)
		video_frames_free(vf);
	return ok;
}

/*
 * Decode a job's file: F frames when it is one segment (j->vf), else its
 * segments in chunks (j->chunks), one pass over the file.  wait: a decode
 * thread, which waits for the writer to take chunks; else (the writer
 * itself) every chunk is kept.
 */
static void indexer_decode(indexer_run_state *s, indexer_job *j, bool wait)
{
	char *cause = NULL;
	video_reader *r;
	const video_info *info;
	double *cuts = NULL;
	int n_cuts = 0, n;

	j->outcome = OUT_FAILED;
	if ((r = video_open(j->path, &s->vopt, &cause)) == NULL)
		goto fail;
	info = video_get_info(r);
	j->duration = info->duration;
	if (indexer_one_segment(s->opt->window, info->duration)) {
		if ((j->vf = video_read_frames(r, s->F, &cause)) == NULL)
			goto fail;
		j->duration = video_get_info(r)->duration;
		video_close(r);
		j->outcome = OUT_DECODED;
		return;
	}
	if (s->opt->shots && video_find_cuts(r, &cuts, &n_cuts, &cause) == -1)
		goto fail;
	if ((j->segs = calloc(INDEXER_MAX_SEGMENTS, sizeof *j->segs)) == NULL) {
		cause = util_strdup("out of memory");
		goto fail;
	}
	n = video_plan_segments(info->start, info->duration, s->opt->window, cuts, n_cuts,
	    j->segs, INDEXER_MAX_SEGMENTS);
	free(cuts);
	j->per_chunk = s->batch / s->F;
	j->chunks_cap = (n + j->per_chunk - 1) / j->per_chunk;
	if ((j->chunks = calloc((size_t)j->chunks_cap, sizeof *j->chunks)) == NULL) {
		cause = util_strdup("out of memory");
		goto fail;
	}
	for (int c = 0; c < j->chunks_cap; c++) {
		int first = c * j->per_chunk;
		int k = n - first < j->per_chunk ? n - first : j->per_chunk;
		double next = first + k < n ? j->segs[first + k].start : NAN;
		video_frames *vf = video_read_segments(r, s->F, j->segs + first, k, c > 0, next,
		    &cause);

		if (vf == NULL) {
			if (c == 0)
				goto fail;
			/* What was read stays: the video is partial. */
			j->chunk_partial = true;
			if (j->chunk_note == NULL)
				j->chunk_note = cause;
			else
				free(cause);
			cause = NULL;
			break;
		}
		if (vf->partial) {
			j->chunk_partial = true;
			if (j->chunk_note == NULL && vf->note != NULL)
				j->chunk_note = util_strdup(vf->note);
		}
		if (!indexer_put_chunk(s, j, vf, wait))
			break;
		j->n_segs = first + k;
	}
	video_close(r);
	j->outcome = OUT_DECODED;
	return;
fail:
	free(cuts);
	video_close(r);
	j->error = cause != NULL ? cause : util_strdup("cannot decode");
}

/* Decide a job without decoding when its hash allows; otherwise decode. */
static void indexer_job_work(indexer_run_state *s, indexer_job *j, index_db *rix)
{
	char *cause = NULL;

	if (j->kind != JOB_MISSING) {
		if (hash_file(j->path, j->hash, NULL, &cause) == -1) {
			j->outcome = OUT_FAILED;
			j->error = cause;
			return;
		}
		if (j->kind == JOB_CHANGED && !j->recut &&
		    memcmp(j->hash, j->old_hash, sizeof j->hash) == 0 &&
		    rix != NULL && indexer_covered(s, rix, j->old_id, NULL) == 1) {
			j->outcome = OUT_TOUCH;
			return;
		}
		if (j->kind == JOB_NEW && rix != NULL) {
			index_video_row row;
			if (index_lookup_hash(rix, j->hash, &row, NULL) == 0) {
				struct stat st;
				if (indexer_covered(s, rix, row.id, NULL) == 1 &&
				    strcmp(row.path, j->path) != 0) {
					j->src_id = row.id;
					j->outcome = stat(row.path, &st) == 0 ? OUT_COPY : OUT_MOVE;
				}
				index_row_clear(&row);
				if (j->outcome != OUT_NONE)
					return;
			}
		}
	}
	indexer_decode(s, j, true);
}

static void *indexer_thread(void *arg)
{
	indexer_run_state *s = arg;
	index_db *rix = index_open(s->db_path, INDEX_READONLY, NULL);

	for (;;) {
		size_t idx;

		pthread_mutex_lock(&s->mu);
		while (!s->quit && s->next_job < s->n_jobs && s->next_job >= s->consumed + s->ahead)
			pthread_cond_wait(&s->space_cv, &s->mu);
		if (s->quit || s->next_job >= s->n_jobs) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		idx = s->next_job++;
		pthread_mutex_unlock(&s->mu);

		indexer_job_work(s, &s->jobs[idx], rix);

		pthread_mutex_lock(&s->mu);
		s->jobs[idx].ready = true;
		pthread_cond_broadcast(&s->ready_cv);
		pthread_mutex_unlock(&s->mu);
	}
	index_close(rix);
	return NULL;
}

static void indexer_job_release(indexer_job *j)
{
	video_frames_free(j->vf);
	j->vf = NULL;
	for (int c = j->chunks_taken; c < j->chunks_done; c++)
		video_frames_free(j->chunks[c]);
	free(j->chunks);
	j->chunks = NULL;
	j->chunks_cap = j->chunks_done = j->chunks_taken = 0;
	free(j->segs);
	j->segs = NULL;
	free(j->chunk_note);
	j->chunk_note = NULL;
	free(j->error);
	j->error = NULL;
}

/* ---- storing --------------------------------------------------------------- */

/* Store a failed file's row; -1 only when the write fails. */
static int indexer_store_failed(indexer_run_state *s, indexer_job *j)
{
	index_video v = { 0 };

	v.path = j->path;
	v.size = j->size;
	v.mtime_ns = j->mtime_ns;
	memcpy(v.hash, j->hash, sizeof v.hash);
	v.status = INDEX_ERROR;
	v.error = j->error != NULL ? j->error : "cannot decode";
	/*
	 * The row names the file already: keep only the reason.  Causes name
	 * files the way UTIL_NAME writes them ('path'); older ones bare.
	 */
	{
		const char *quoted = UTIL_NAME(j->path);
		size_t nq = strlen(quoted), np = strlen(j->path);

		if (strncmp(v.error, quoted, nq) == 0 && strncmp(v.error + nq, ": ", 2) == 0)
			v.error += nq + 2;
		else if (strncmp(v.error, j->path, np) == 0 && strncmp(v.error + np, ": ", 2) == 0)
			v.error += np + 2;
	}
	if (index_put_video(s->ix, &v, s->cause) < 0)
		return -1;
	indexer_file_done(s, j->path, INDEXER_FAILED, v.error);
	return 0;
}

/*
 * Commit a decoded job whose embeddings for tower t are at
 * towers[t].emb + row * D.
 */
static int indexer_store_decoded(indexer_run_state *s, indexer_job *j, int row)
{
	index_tensor tensors[HEADS_MAX_TENSORS * 16];
	index_frame *frames = NULL;
	video_frames *vf = j->vf;
	int n = vf->count, nt = 0, rc = -1;
	indexer_action action;

	for (int i = 0; i < s->n_models; i++) {
		indexer_model *m = &s->models[i];
		indexer_tower *t = &s->towers[m->tower];
		int D = vit_embed_dim(t->v);
		if (heads_record_prepare(m->rec, t->emb + (size_t)row * D, n, t->pad,
		    s->cause) == -1) {
			util_prefix_cause(s->cause, "%s", UTIL_NAME(j->path));
			return -1;
		}
		nt += heads_record_tensors(m->rec, m->model_id, tensors + nt);
	}
	if (j->kind == JOB_MISSING) {
		if (index_put_tensors(s->ix, j->old_id, nt, tensors, s->cause) == -1)
			return -1;
		indexer_file_done(s, j->path, j->damaged ? INDEXER_REENCODED : INDEXER_EXTENDED,
		    NULL);
		return 0;
	}
	if ((frames = calloc((size_t)n, sizeof *frames)) == NULL) {
		util_set_cause(s->cause, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		frames[i].time = vf->times[i];
		if (vf->thumbs != NULL && vf->thumbs[i] != NULL) {
			frames[i].thumb = vf->thumbs[i];
			frames[i].thumb_size = vf->thumb_sizes[i];
			frames[i].thumb_width = vf->thumb_width;
			frames[i].thumb_height = vf->thumb_height;
		}
	}
	index_video v = {
		.path = j->path, .size = j->size, .mtime_ns = j->mtime_ns,
		.duration = isfinite(j->duration) && j->duration > 0 ? j->duration : 0,
		.status = vf->partial ? INDEX_PARTIAL : INDEX_OK,
		.error = vf->partial ? (vf->note != NULL ? vf->note : "decoding problems") : NULL,
		.n_frames = n, .frames = frames, .n_tensors = nt, .tensors = tensors,
		.window = s->opt->window, .shots = s->opt->shots != 0,
		.sampling = s->opt->sampling,
	};
	memcpy(v.hash, j->hash, sizeof v.hash);
	if (index_put_video(s->ix, &v, s->cause) < 0)
		goto out;
	action = vf->partial ? INDEXER_PARTIAL : j->kind == JOB_NEW ? INDEXER_ADDED : INDEXER_UPDATED;
	indexer_file_done(s, j->path, action, vf->partial ? v.error : NULL);
	rc = 0;
out:
	free(frames);
	return rc;
}

/* A move or copy found by the decode thread, re-checked against what is committed now. */
static int indexer_store_moved(indexer_run_state *s, indexer_job *j)
{
	index_video_row row;
	struct stat st;
	int r = index_lookup_id(s->ix, j->src_id, &row, s->cause);

	if (r == -1)
		return -1;
	if (r == 1)
		return 1; /* gone meanwhile: decode after all */
	if (stat(row.path, &st) == 0 || strcmp(row.path, j->path) == 0) {
		index_row_clear(&row);
		if (index_copy_video(s->ix, j->src_id, j->path, j->mtime_ns, s->cause) < 0)
			return -1;
		indexer_file_done(s, j->path, INDEXER_COPIED, NULL);
		return 0;
	}
	index_row_clear(&row);
	if (index_move_video(s->ix, j->src_id, j->path, j->mtime_ns, s->cause) == -1)
		return -1;
	indexer_file_done(s, j->path, INDEXER_MOVED, NULL);
	return 0;
}

/* ---- the writer loop --------------------------------------------------------- */

/* Wait until job idx is decoded, or its first chunks are. */
static void indexer_wait_ready(indexer_run_state *s, size_t idx)
{
	pthread_mutex_lock(&s->mu);
	while (!s->jobs[idx].ready && !s->jobs[idx].streaming)
		pthread_cond_wait(&s->ready_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* Wait until the decode thread is done with job idx (it may still hold its reader). */
static void indexer_wait_ready_done(indexer_run_state *s, size_t idx)
{
	pthread_mutex_lock(&s->mu);
	while (!s->jobs[idx].ready && !s->quit)
		pthread_cond_wait(&s->ready_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* The next chunk of a streaming job, or NULL when none will come. */
static video_frames *indexer_take_chunk(indexer_run_state *s, indexer_job *j)
{
	video_frames *vf = NULL;

	pthread_mutex_lock(&s->mu);
	while (j->chunks_taken == j->chunks_done && !j->ready)
		pthread_cond_wait(&s->ready_cv, &s->mu);
	if (j->chunks_taken < j->chunks_done) {
		vf = j->chunks[j->chunks_taken];
		j->chunks[j->chunks_taken++] = NULL;
		pthread_cond_broadcast(&s->space_cv);
	}
	pthread_mutex_unlock(&s->mu);
	return vf;
}

/* A long video's record, built segment by segment. */
typedef struct {
	float *data[16][HEADS_MAX_TENSORS]; /* per model and tensor: [S * count] */
	int64_t count[16][HEADS_MAX_TENSORS];
	const char *kind[16][HEADS_MAX_TENSORS];
	int nt[16];
	index_frame *frames;  /* [n_frames], thumbs owned */
	int n_frames, cap_frames;
	index_segment *segs;  /* [n_segs] */
	int n_segs;
} indexer_stack;

static void indexer_stack_free(indexer_stack *k)
{
	for (int m = 0; m < 16; m++)
		for (int t = 0; t < HEADS_MAX_TENSORS; t++)
			free(k->data[m][t]);
	for (int i = 0; i < k->n_frames; i++)
		free((void *)k->frames[i].thumb);
	free(k->frames);
	free(k->segs);
}

/*
 * Encode one chunk (segments seg0 .. of j) and append its segments'
 * records and frames to k.  0 or -1.
 */
static int indexer_stack_chunk(indexer_run_state *s, indexer_job *j, video_frames *vf, int seg0,
    indexer_stack *k)
{
	size_t plane = (size_t)3 * s->S * s->S;
	int nseg = vf->requested / s->F, counts[INDEXER_MAX_SEGMENTS], first[INDEXER_MAX_SEGMENTS];
	double t0 = util_now();

	if (k->n_frames + vf->count > k->cap_frames) {
		int cap = (k->n_frames + vf->count) * 2;
		index_frame *nf = realloc(k->frames, (size_t)cap * sizeof *nf);
		if (nf == NULL)
			goto nomem;
		k->frames = nf, k->cap_frames = cap;
	}
	for (int g = 0; g < nseg; g++) {
		first[g] = vf->frame_of[g * s->F];
		counts[g] = vf->frame_of[g * s->F + s->F - 1] - first[g] + 1;
	}
	memcpy(s->pixels, vf->pixels, sizeof(float) * plane * (size_t)vf->count);
	for (int t = 0; t < s->n_towers; t++)
		if (vit_encode_groups(s->towers[t].v, s->pixels, counts, nseg, s->towers[t].emb,
		    s->cause) == -1)
			return -1;
	s->st.encode_seconds += util_now() - t0;
	s->st.frames += vf->count;
	for (int g = 0; g < nseg; g++) {
		index_segment *seg = &k->segs[k->n_segs];

		for (int i = 0; i < s->n_models; i++) {
			indexer_model *m = &s->models[i];
			indexer_tower *t = &s->towers[m->tower];
			index_tensor tens[HEADS_MAX_TENSORS];
			int D = vit_embed_dim(t->v), nt;

			if (heads_record_prepare(m->rec, t->emb + (size_t)first[g] * D, counts[g],
			    t->pad, s->cause) == -1) {
				util_prefix_cause(s->cause, "%s", UTIL_NAME(j->path));
				return -1;
			}
			nt = heads_record_tensors(m->rec, m->model_id, tens);
			k->nt[i] = nt;
			for (int q = 0; q < nt; q++) {
				if (k->data[i][q] == NULL) {
					k->count[i][q] = tens[q].count;
					k->kind[i][q] = tens[q].kind;
					k->data[i][q] = malloc((size_t)tens[q].count * sizeof(float) *
					    (size_t)j->chunks_cap * (size_t)j->per_chunk);
					if (k->data[i][q] == NULL)
						goto nomem;
				}
				memcpy(k->data[i][q] + (size_t)k->n_segs * (size_t)k->count[i][q],
				    tens[q].data, (size_t)tens[q].count * sizeof(float));
			}
		}
		seg->start = j->segs[seg0 + g].start;
		seg->end = j->segs[seg0 + g].end;
		seg->frame0 = k->n_frames;
		seg->frames = counts[g];
		for (int f = 0; f < counts[g]; f++) {
			index_frame *fr = &k->frames[k->n_frames++];
			int at = first[g] + f;
			memset(fr, 0, sizeof *fr);
			fr->time = vf->times[at];
			if (vf->thumbs != NULL && vf->thumbs[at] != NULL) {
				fr->thumb = vf->thumbs[at];
				fr->thumb_size = vf->thumb_sizes[at];
				fr->thumb_width = vf->thumb_width;
				fr->thumb_height = vf->thumb_height;
				vf->thumbs[at] = NULL; /* the stack owns it now */
			}
		}
		k->n_segs++;
	}
	return 0;
nomem:
	util_set_cause(s->cause, "out of memory");
	return -1;
}

/*
 * A long video: encode its chunks as they are decoded, then commit the
 * stacked record.  0, 1 when the stop flag ended it (nothing of it
 * stored), or -1 on a write error (a failed decode is stored as a failed
 * file).
 */
static int indexer_commit_streamed(indexer_run_state *s, indexer_job *j)
{
	indexer_stack k;
	index_tensor tensors[16 * HEADS_MAX_TENSORS];
	video_frames *vf;
	int nt = 0, rc = -1, chunk = 0;
	bool partial;
	indexer_action action;

	memset(&k, 0, sizeof k);
	if ((k.segs = calloc((size_t)j->chunks_cap * (size_t)j->per_chunk, sizeof *k.segs)) == NULL) {
		util_set_cause(s->cause, "out of memory");
		return -1;
	}
	while ((vf = indexer_take_chunk(s, j)) != NULL) {
		int r;

		if (indexer_stopping(s)) {
			/* Stop now, losing only this video: the decoder is told to give up. */
			video_frames_free(vf);
			pthread_mutex_lock(&s->mu);
			j->abandoned = true;
			pthread_cond_broadcast(&s->space_cv);
			pthread_mutex_unlock(&s->mu);
			rc = 1;
			goto out;
		}
		r = indexer_stack_chunk(s, j, vf, chunk * j->per_chunk, &k);
		if (vf->partial) {
			j->chunk_partial = true;
		}
		video_frames_free(vf);
		chunk++;
		if (r == -1)
			goto out;
	}
	if (k.n_segs == 0) {
		/* Quitting, or nothing decoded. */
		rc = j->outcome == OUT_FAILED ? indexer_store_failed(s, j) : 0;
		goto out;
	}
	for (int i = 0; i < s->n_models; i++)
		for (int q = 0; q < k.nt[i]; q++)
			tensors[nt++] = (index_tensor){ s->models[i].model_id, k.kind[i][q],
			    k.data[i][q], k.count[i][q] * k.n_segs };
	partial = j->chunk_partial;
	if (j->kind == JOB_MISSING) {
		if (index_put_tensors(s->ix, j->old_id, nt, tensors, s->cause) == -1)
			goto out;
		indexer_file_done(s, j->path, j->damaged ? INDEXER_REENCODED : INDEXER_EXTENDED,
		    NULL);
		rc = 0;
		goto out;
	}
	index_video v = {
		.path = j->path, .size = j->size, .mtime_ns = j->mtime_ns,
		.duration = isfinite(j->duration) && j->duration > 0 ? j->duration : 0,
		.status = partial ? INDEX_PARTIAL : INDEX_OK,
		.error = partial ? (j->chunk_note != NULL ? j->chunk_note : "decoding problems") :
		    NULL,
		.n_frames = k.n_frames, .frames = k.frames, .n_tensors = nt, .tensors = tensors,
		.window = s->opt->window, .shots = s->opt->shots != 0,
		.sampling = s->opt->sampling,
		.n_segments = k.n_segs, .segments = k.segs,
	};
	memcpy(v.hash, j->hash, sizeof v.hash);
	if (index_put_video(s->ix, &v, s->cause) < 0)
		goto out;
	action = partial ? INDEXER_PARTIAL : j->kind == JOB_NEW ? INDEXER_ADDED : INDEXER_UPDATED;
	indexer_file_done(s, j->path, action, partial ? v.error : NULL);
	rc = 0;
out:
	indexer_stack_free(&k);
	return rc;
}

static bool indexer_is_ready(indexer_run_state *s, size_t idx)
{
	bool ready;

	pthread_mutex_lock(&s->mu);
	ready = s->jobs[idx].ready;
	pthread_mutex_unlock(&s->mu);
	return ready;
}

static void indexer_consumed(indexer_run_state *s, size_t upto)
{
	pthread_mutex_lock(&s->mu);
	s->consumed = upto;
	pthread_cond_broadcast(&s->space_cv);
	pthread_mutex_unlock(&s->mu);
}

/* Decode a job here (a move whose source vanished meanwhile). */
static void indexer_decode_here(indexer_run_state *s, indexer_job *j)
{
	indexer_decode(s, j, false);
	j->ready = true; /* every chunk is there: no thread is decoding it */
}

/*
 * Process jobs [first, end): encode the decoded ones' frames in one batch
 * per tower, then commit every job in order.  Returns 0, 1 when stopped,
 * -1 on a write error.
 */
static int indexer_commit_range(indexer_run_state *s, size_t first, size_t end)
{
	size_t plane = (size_t)3 * s->S * s->S, redo[256];
	int rows = 0, row_of[256], counts[256], ngroups = 0, nredo = 0;

	for (size_t k = first; k < end; k++) {
		indexer_job *j = &s->jobs[k];
		if (j->outcome != OUT_DECODED)
			continue;
		memcpy(s->pixels + (size_t)rows * plane, j->vf->pixels,
		    sizeof(float) * plane * (size_t)j->vf->count);
		row_of[k - first] = rows;
		rows += j->vf->count;
		counts[ngroups++] = j->vf->count; /* one group per video */
	}
	if (rows > 0) {
		double t0 = util_now();
		for (int t = 0; t < s->n_towers; t++) {
			if (vit_encode_groups(s->towers[t].v, s->pixels, counts, ngroups,
			    s->towers[t].emb, s->cause) == -1)
				return -1;
		}
		s->st.encode_seconds += util_now() - t0;
		s->st.frames += rows;
	}
	for (size_t k = first; k < end; k++) {
		indexer_job *j = &s->jobs[k];
		int r = 0;

		if (k > first && indexer_stopping(s))
			return 1;
		switch (j->outcome) {
		case OUT_DECODED:
			r = indexer_store_decoded(s, j, row_of[k - first]);
			s->st.decoded++;
			break;
		case OUT_MOVE:
		case OUT_COPY:
			r = indexer_store_moved(s, j);
			if (r == 1) {
				/* Its source vanished meanwhile (never in practice: only
				 * this run writes): decode it after this batch. */
				j->outcome = OUT_NONE;
				r = 0;
				break;
			}
			s->st.decoded++;
			break;
		case OUT_TOUCH:
			r = index_move_video(s->ix, j->old_id, j->path, j->mtime_ns, s->cause);
			if (r == 0)
				indexer_file_done(s, j->path, INDEXER_TOUCHED, NULL);
			s->st.decoded++;
			break;
		case OUT_FAILED:
		default:
			r = indexer_store_failed(s, j);
			s->st.decoded++;
			break;
		}
		if (j->outcome == OUT_NONE)
			redo[nredo++] = k;
		else
			indexer_job_release(j);
		if (r != 0)
			return r;
	}
	/* After the batch: the towers' outputs are free again. */
	for (int i = 0; i < nredo; i++) {
		indexer_job *j = &s->jobs[redo[i]];
		int r;

		indexer_decode_here(s, j);
		r = j->streaming ? indexer_commit_streamed(s, j) :
		    j->outcome == OUT_DECODED ? indexer_commit_range(s, redo[i], redo[i] + 1) :
		    indexer_store_failed(s, j);
		indexer_job_release(j);
		if (r != 0)
			return r;
	}
	return 0;
}

static int indexer_process_jobs(indexer_run_state *s)
{
	size_t c = 0;
	int rc = 0;

	while (c < s->n_jobs) {
		size_t end;
		int frames;

		if (indexer_stopping(s)) {
			rc = 1;
			break;
		}
		indexer_wait_ready(s, c);
		if (s->jobs[c].streaming) {
			rc = indexer_commit_streamed(s, &s->jobs[c]);
			indexer_wait_ready_done(s, c);
			s->st.decoded += rc != 1;
			indexer_job_release(&s->jobs[c]);
			c++;
			indexer_consumed(s, c);
			if (rc != 0)
				break;
			continue;
		}
		/* Gather consecutive ready jobs while their frames fit one batch. */
		frames = s->jobs[c].outcome == OUT_DECODED ? s->jobs[c].vf->count : 0;
		for (end = c + 1; end < s->n_jobs && end - c < 256 && indexer_is_ready(s, end); end++) {
			indexer_job *j = &s->jobs[end];
			int f;
			if (j->streaming)
				break; /* a long video: on its own */
			f = j->outcome == OUT_DECODED ? j->vf->count : 0;
			if (frames + f > s->batch)
				break;
			frames += f;
		}
		rc = indexer_commit_range(s, c, end);
		/* Jobs a stop skipped still hold frames. */
		for (size_t k = c; k < end; k++)
			indexer_job_release(&s->jobs[k]);
		c = end;
		indexer_consumed(s, c);
		if (rc != 0)
			break;
	}
	return rc;
}

/* ---- deletions ----------------------------------------------------------- */

static int indexer_delete_gone(indexer_run_state *s)
{
	bool batch = false;
	int rc = 0;

	for (size_t k = 0; k < s->n_known; k++) {
		indexer_known *kn = &s->known[k];
		index_video_row row;
		struct stat st;
		int r;

		if (kn->walked || indexer_stopping(s))
			continue;
		if (stat(kn->path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
			continue;
		/* Moved away during this run? Then the row is no longer at this path. */
		if ((r = index_lookup_path(s->ix, kn->path, &row, s->cause)) == -1) {
			rc = -1;
			break;
		}
		if (r == 1)
			continue;
		index_row_clear(&row);
		if (!batch) {
			if (index_batch_begin(s->ix, s->cause) == -1) {
				rc = -1;
				break;
			}
			batch = true;
		}
		if (index_delete_video(s->ix, kn->id, s->cause) == -1) {
			rc = -1;
			break;
		}
		s->st.actions[INDEXER_DELETED]++;
		indexer_emit(s, INDEXER_EV_FILE, kn->path, INDEXER_DELETED, NULL);
	}
	if (batch) {
		if (rc == 0)
			rc = index_batch_commit(s->ix, s->cause);
		else
			index_batch_abort(s->ix);
	}
	return rc;
}

/* ---- setup ------------------------------------------------------------------- */

static int indexer_load_models(indexer_run_state *s, char **cause)
{
	const indexer_options *opt = s->opt;

	if (opt->n_models < 1 || opt->n_models > 16) {
		util_set_cause(cause, "index: give 1 to 16 model files, not %d", opt->n_models);
		return -1;
	}
	if ((s->hs = heads_open(opt->models, opt->n_models, HEADS_FOR_INDEX, cause)) == NULL)
		return -1;
	s->F = heads_frames(s->hs);
	s->S = heads_image_size(s->hs);
	s->kernel = linear_precision_kernel(opt->precision);
	s->st.precision = linear_kernel_precision(s->kernel);
	if (s->st.precision != opt->precision)
		indexer_emit(s, INDEXER_EV_WARNING, NULL, INDEXER_UNCHANGED,
		    "this CPU has no AVX512_BF16 (or CLIPGREP_LINEAR_KERNEL names an fp32 kernel): "
		    "encoding in fp32, not bf16");
	/* One entry per file, or per head of a multi-head file (core/heads.h). */
	s->n_models = heads_count(s->hs);
	if ((s->models = calloc((size_t)s->n_models, sizeof *s->models)) == NULL ||
	    (s->towers = calloc((size_t)s->n_models, sizeof *s->towers)) == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	for (int i = 0; i < s->n_models; i++) {
		indexer_model *m = &s->models[i];
		heads_file *f = heads_file_at(s->hs, i);

		m->f = f;
		if ((m->rec = heads_record_new(f, cause)) == NULL)
			return -1;
		/* Towers: share one with an earlier file whose tower is identical. */
		if (f->tower != i) {
			m->tower = s->models[f->tower].tower;
		} else {
			indexer_tower *t = &s->towers[s->n_towers];
			if ((t->v = vit_new_kernel(f->m, s->batch, s->kernel, cause)) == NULL ||
			    (t->emb = tensor_alloc((size_t)s->batch * (size_t)vit_embed_dim(t->v))) == NULL ||
			    (t->pad = tensor_alloc((size_t)vit_embed_dim(t->v))) == NULL) {
				if (t->v != NULL)
					util_set_cause(cause, "out of memory");
				vit_free(t->v);
				t->v = NULL;
				return -1;
			}
			/* Once per tower: every short clip gets the same padding frame. */
			if (vit_encode_blank(t->v, t->pad, cause) == -1) {
				util_prefix_cause(cause, "%s", f->path);
				return -1;
			}
			t->first_model = i;
			m->tower = s->n_towers++;
		}
	}
	return 0;
}

/* index_list_damaged's callback: collect the videos damaged for a selected model. */
static int indexer_damage_fn(void *arg, const index_damage *d)
{
	indexer_run_state *s = arg;
	bool ours = false;

	for (int i = 0; i < s->n_models; i++)
		ours = ours || s->models[i].model_id == d->model_id;
	if (!ours || (s->n_damaged > 0 && s->damaged[s->n_damaged - 1] == d->video_id))
		return 0;
	if (s->n_damaged == s->cap_damaged) {
		size_t cap = s->cap_damaged ? 2 * s->cap_damaged : 16;
		int64_t *nd = realloc(s->damaged, cap * sizeof *nd);

		if (nd == NULL) {
			s->n_damaged = SIZE_MAX; /* the caller's out-of-memory mark */
			return 1;
		}
		s->damaged = nd;
		s->cap_damaged = cap;
	}
	s->damaged[s->n_damaged++] = d->video_id;
	return 0;
}

static int indexer_add_zero_padded(void *arg, int64_t id)
{
	indexer_run_state *s = arg;

	if (s->n_zero_padded == s->cap_zero_padded) {
		size_t cap = s->cap_zero_padded ? 2 * s->cap_zero_padded : 64;
		int64_t *n = realloc(s->zero_padded, cap * sizeof *n);
		if (n == NULL) {
			util_set_cause(s->cause, "out of memory");
			return -1;
		}
		s->zero_padded = n;
		s->cap_zero_padded = cap;
	}
	s->zero_padded[s->n_zero_padded++] = id;
	return 0;
}

/*
 * Precision provenance: each selected model's stored vectors must be of
 * this run's precision.  A model without vectors takes it; one with vectors
 * of the other precision is refused, or with options.reencode has them
 * dropped so that every video is encoded again (as for a model added
 * later).
 */
static int indexer_check_precision(indexer_run_state *s, char **cause)
{
	const char *want = linear_precision_name(s->st.precision);
	index_stats stats;
	int rc = -1;

	if (index_get_stats(s->ix, &stats, cause) == -1)
		return -1;
	for (int i = 0; i < s->n_models; i++) {
		indexer_model *m = &s->models[i];
		int64_t videos = 0;
		char have[8], msg[512];

		if (index_model_precision(s->ix, m->model_id, have, cause) == -1)
			goto out;
		if (strcmp(have, want) == 0)
			continue;
		for (int k = 0; k < stats.n_models; k++)
			if (stats.models[k].id == m->model_id)
				videos = stats.models[k].videos;
		if (videos > 0 && !s->opt->reencode) {
			util_set_cause(cause, "%s holds %lld videos' vectors of model %s made in %s, and "
			    "this run would make %s ones: an index holds one precision per model. "
			    "Index with --precision %s, or add --reencode to encode them all again in %s",
			    UTIL_NAME(s->db_path), (long long)videos, UTIL_NAME(m->f->path), have, want,
			    have, want);
			goto out;
		}
		if (index_set_model_precision(s->ix, m->model_id, want, videos > 0, cause) == -1)
			goto out;
		if (videos > 0) {
			snprintf(msg, sizeof msg, "--reencode: dropped %lld videos' %s vectors of model %s; "
			    "encoding them again in %s", (long long)videos, have,
			    UTIL_NAME(m->f->path), want);
			indexer_emit(s, INDEXER_EV_WARNING, NULL, INDEXER_UNCHANGED, msg);
		}
	}
	rc = 0;
out:
	index_stats_clear(&stats);
	return rc;
}

static int indexer_register_models(indexer_run_state *s, char **cause)
{
	index_stats stats;
	int64_t indexed;

	for (int i = 0; i < s->n_models; i++) {
		indexer_model *m = &s->models[i];
		char json[1024];
		index_model_info info;

		char *real;

		heads_model_info(m->f, &info, json, sizeof json);
		info.precision = linear_precision_name(s->st.precision);
		/* Where the file is, for search to default to this index's models. */
		real = realpath(m->f->path, NULL);
		info.path = real;
		m->model_id = index_model_id(s->ix, &info, cause);
		free(real);
		if (m->model_id < 0)
			return -1;
	}
	if (indexer_check_precision(s, cause) == -1)
		return -1;
	/* Short clips stored under the old padding rule, for any model: re-encode them. */
	for (int i = 0; i < s->n_models; i++)
		if (index_list_zero_padded(s->ix, s->models[i].model_id, s->F, indexer_add_zero_padded,
		    s, cause) != 0)
			return -1;
	if (s->n_zero_padded > 0)
		qsort(s->zero_padded, s->n_zero_padded, sizeof *s->zero_padded, indexer_cmp_id);
	/* The common case: every indexed video has every model (no per-row checks). */
	if (index_get_stats(s->ix, &stats, cause) == -1)
		return -1;
	if (index_list_damaged(s->ix, indexer_damage_fn, s, cause) != 0) {
		if (s->n_damaged == SIZE_MAX)
			util_set_cause(cause, "out of memory listing %s", UTIL_NAME(s->db_path));
		index_stats_clear(&stats);
		return -1;
	}
	indexed = stats.by_status[INDEX_OK] + stats.by_status[INDEX_PARTIAL];
	s->all_covered = s->n_damaged == 0;
	for (int i = 0; i < s->n_models; i++) {
		int64_t have = 0;
		for (int k = 0; k < stats.n_models; k++)
			if (stats.models[k].id == s->models[i].model_id)
				have = stats.models[k].videos;
		if (have < indexed)
			s->all_covered = false;
	}
	index_stats_clear(&stats);
	return 0;
}

static void indexer_free_state(indexer_run_state *s)
{
	for (int t = 0; t < s->n_towers; t++) {
		vit_free(s->towers[t].v);
		tensor_free(s->towers[t].emb);
		tensor_free(s->towers[t].pad);
	}
	free(s->towers);
	for (int i = 0; s->models != NULL && i < s->n_models; i++)
		heads_record_free(s->models[i].rec);
	free(s->models);
	heads_free(s->hs);
	for (size_t k = 0; k < s->n_known; k++)
		free(s->known[k].path);
	free(s->known);
	free(s->slots);
	free(s->damaged);
	free(s->zero_padded);
	for (size_t k = 0; k < s->n_jobs; k++) {
		indexer_job_release(&s->jobs[k]);
		free(s->jobs[k].path);
	}
	free(s->jobs);
	tensor_free(s->pixels);
	index_close(s->ix);
}

int indexer_run(const char *db_path, const indexer_options *opt, indexer_stats *stats,
    char **cause)
{
	indexer_run_state s;
	char **roots = NULL;
	int rc = -1, ncpu = util_cpu_count();
	bool threads_started = false;

	memset(&s, 0, sizeof s);
	s.opt = opt;
	s.db_path = db_path;
	s.t0 = util_now();
	s.cause = cause;
	s.batch = opt->batch > 0 ? opt->batch : INDEXER_DEFAULT_BATCH;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.ready_cv, NULL);
	pthread_cond_init(&s.space_cv, NULL);

	if (opt->n_roots < 1) {
		util_set_cause(cause, "index: no folder given");
		goto out;
	}
	if ((roots = calloc((size_t)opt->n_roots, sizeof *roots)) == NULL) {
		util_set_cause(cause, "out of memory");
		goto out;
	}
	for (int i = 0; i < opt->n_roots; i++) {
		if ((roots[i] = realpath(opt->roots[i], NULL)) == NULL) {
			util_set_cause(cause, "%s: %s", UTIL_NAME(opt->roots[i]), strerror(errno));
			goto out;
		}
	}
	/* A root inside another (or given twice) is walked as part of it. */
	for (int i = 0; i < opt->n_roots; i++) {
		for (int j = 0; j < opt->n_roots && roots[i] != NULL; j++) {
			size_t n = roots[j] != NULL ? strlen(roots[j]) : 0;
			if (j == i || roots[j] == NULL)
				continue;
			if ((strcmp(roots[i], roots[j]) == 0 && j < i) ||
			    (strncmp(roots[i], roots[j], n) == 0 && n > 1 && roots[i][n] == '/') ||
			    (n == 1 && roots[i][1] != '\0')) {
				free(roots[i]);
				roots[i] = NULL;
			}
		}
	}
	if (indexer_load_models(&s, cause) == -1)
		goto out;
	s.st.towers = s.n_towers;
	if (s.batch < s.F) {
		util_set_cause(cause, "index: a batch of %d frames cannot hold one video (F = %d)",
		    s.batch, s.F);
		goto out;
	}
	if ((s.pixels = tensor_alloc((size_t)s.batch * 3 * (size_t)s.S * (size_t)s.S)) == NULL) {
		util_set_cause(cause, "out of memory");
		goto out;
	}
	if ((s.ix = index_open(db_path, INDEX_CREATE, cause)) == NULL ||
	    index_lock_writer(s.ix, opt->wait_lock, cause) == -1 ||
	    indexer_register_models(&s, cause) == -1)
		goto out;

	/* What is stored under the roots, then the walk. */
	for (int i = 0; i < opt->n_roots; i++) {
		struct stat st;
		indexer_list_arg a = { &s, roots[i], roots[i] != NULL ? strlen(roots[i]) : 0, false };
		char *prefix;

		if (roots[i] == NULL)
			continue;

		a.is_dir = stat(roots[i], &st) == 0 && S_ISDIR(st.st_mode);
		if ((prefix = malloc(a.root_len + 2)) == NULL) {
			util_set_cause(cause, "out of memory");
			goto out;
		}
		memcpy(prefix, roots[i], a.root_len + 1);
		if (a.is_dir && a.root_len > 1)
			strcat(prefix, "/");
		int r = index_list_videos(s.ix, prefix, indexer_list_fn, &a, cause);
		free(prefix);
		if (r != 0)
			goto out;
	}
	for (int i = 0; i < opt->n_roots; i++) {
		walk_options wo;
		int r;

		if (roots[i] == NULL)
			continue;
		walk_options_init(&wo);
		wo.hidden = opt->include_hidden;
		wo.exclude = opt->exclude;
		wo.shard_index = opt->shard_index;
		wo.shard_count = opt->shard_count;
		wo.on_error = indexer_walk_error;
		wo.error_arg = &s;
		r = walk_tree(roots[i], &wo, indexer_walk_fn, &s, cause);
		if (r == 2) {
			s.st.stopped = 1;
			rc = 1;
			goto out;
		}
		if (r == -3)
			util_set_cause(cause, "out of memory");
		if (r != 0)
			goto out;
	}
	s.st.to_decode = (int64_t)s.n_jobs;
	s.st.actions[INDEXER_UNCHANGED] = s.st.files_total - (int64_t)s.n_jobs;
	s.st.files_done = s.st.actions[INDEXER_UNCHANGED];
	indexer_emit(&s, INDEXER_EV_WALKED, NULL, INDEXER_UNCHANGED, NULL);
	/*
	 * FFmpeg is opened on first use (core/ffmpeg).  Without it every file
	 * would fail and be recorded as undecodable, and not be tried again
	 * until it changed: stop the run instead, before any file is touched.
	 */
	if (s.n_jobs > 0 && video_init(cause) == -1)
		goto out;

	/* Decode threads and the writer loop. */
	video_options_init(&s.vopt);
	s.vopt.size = s.S;
	s.vopt.want_float = 1;
	s.vopt.sampling = opt->sampling;
	s.vopt.thumb_width = opt->thumb_width > 0 ? opt->thumb_width : INDEXER_DEFAULT_THUMB;
	s.n_threads = opt->jobs > 0 ? opt->jobs : (ncpu + 3) / 4;
	if ((size_t)s.n_threads > s.n_jobs)
		s.n_threads = s.n_jobs > 0 ? (int)s.n_jobs : 0;
	/* Two codec threads per decode thread where there are cores for them, but
	 * one for keyframe sampling (video_options.threads) unless shots are cut:
	 * finding them decodes every keyframe in a row, which frame threads
	 * overlap. */
	s.vopt.threads = opt->sampling == VIDEO_SAMPLING_KEYFRAME && !opt->shots ? 1 :
	    ncpu / (s.n_threads > 0 ? s.n_threads : 1) > 1 ? 2 : 1;
	s.ahead = (size_t)s.n_threads + (size_t)(s.batch / s.F) + 1;
	s.st.decode_threads = s.n_threads;
	s.st.codec_threads = s.vopt.threads;
	s.st.convert_threads = video_convert_threads(&s.vopt);
	s.st.compute_threads = tensor_threads();
	if (s.n_threads > 0 && (s.threads = calloc((size_t)s.n_threads, sizeof *s.threads)) == NULL) {
		util_set_cause(cause, "out of memory");
		goto out;
	}
	for (int t = 0; t < s.n_threads; t++) {
		if (pthread_create(&s.threads[t], NULL, indexer_thread, &s) != 0) {
			s.n_threads = t;
			s.quit = true;
			util_set_cause(cause, "cannot start a decode thread");
			goto out;
		}
	}
	threads_started = true;
	rc = indexer_process_jobs(&s);
	if (rc == 0 && !opt->no_delete)
		rc = indexer_delete_gone(&s);
	if (rc == 0 && indexer_stopping(&s))
		rc = 1;
	if (rc == 1)
		s.st.stopped = 1;
out:
	if (threads_started || s.n_threads > 0) {
		pthread_mutex_lock(&s.mu);
		s.quit = true;
		pthread_cond_broadcast(&s.space_cv);
		pthread_mutex_unlock(&s.mu);
		for (int t = 0; t < s.n_threads; t++)
			pthread_join(s.threads[t], NULL);
	}
	free(s.threads);
	indexer_emit(&s, INDEXER_EV_DONE, NULL, INDEXER_UNCHANGED, NULL);
	if (stats != NULL)
		*stats = s.st;
	indexer_free_state(&s);
	for (int i = 0; roots != NULL && i < opt->n_roots; i++)
		free(roots[i]);
	free(roots);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.ready_cv);
	pthread_cond_destroy(&s.space_cv);
	return rc;
}
