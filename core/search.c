/*
 * search — the in-memory library, threaded batched scoring, exact top K.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "scan.h"
#include "search.h"
#include "tensor.h"
#include "util.h"

/* Videos per TC-MGC GEMM: [CHUNK F, D] x [D, probes]; the products stay in L2. */
#define SEARCH_CHUNK 64

struct search_lib {
	const tcmgc *tc;
	const ea *e;
	size_t n, cap;
	int64_t *ids;   /* [cap] */
	float *kc;      /* [cap, kc_floats] TC-MGC Kc blocks, contiguous */
	float *tx;      /* [cap, tx_floats] TC-MGC extras (mK ... coarse) */
	float *eb;      /* [cap, ea_floats] EA blobs */
	size_t kc_floats, tx_floats, ea_floats;
	/* Loose EA only: the first pass's copy of each video vector v̂. */
	scan_bf16 *e16; /* [cap, D] bf16(eb[i][0..D)) */
	double e16_vmax;/* an upper bound of every |v̂| added (never lowered) */
	bool e16_bad;   /* some v̂ was not finite: the bf16 pass is off */
	/* search_lib_adopt's: the arrays above are the owner's (read-only) */
	void (*release)(void *);
	void *owner;
};

search_lib *search_lib_new(const tcmgc *tc, const ea *e, char **cause)
{
	search_lib *lib;

	if (tc == NULL && e == NULL) {
		util_set_cause(cause, "search: a library needs a TC-MGC or an EA head");
		return NULL;
	}
	if (tc != NULL && e != NULL && (tcmgc_frames(tc) != ea_frames(e) || tcmgc_dim(tc) != ea_dim(e))) {
		util_set_cause(cause, "search: the TC-MGC and EA heads disagree on frames or width");
		return NULL;
	}
	if ((lib = calloc(1, sizeof *lib)) == NULL) {
		util_set_cause(cause, "search: out of memory");
		return NULL;
	}
	lib->tc = tc;
	lib->e = e;
	if (tc != NULL) {
		lib->kc_floats = tcmgc_cache_extras_offset(tc);
		lib->tx_floats = tcmgc_video_cache_floats(tc) - lib->kc_floats;
	}
	if (e != NULL)
		lib->ea_floats = ea_video_cache_floats(e);
	return lib;
}

/* Free the arrays, or give adopted ones back to their owner. */
static void search_lib_drop_arrays(search_lib *lib)
{
	if (lib->owner != NULL) {
		lib->release(lib->owner);
		lib->owner = NULL;
		lib->release = NULL;
	} else {
		free(lib->ids);
		tensor_free(lib->kc);
		tensor_free(lib->tx);
		tensor_free(lib->eb);
		free(lib->e16);
	}
	lib->ids = NULL;
	lib->kc = lib->tx = lib->eb = NULL;
	lib->e16 = NULL;
}

void search_lib_free(search_lib *lib)
{
	if (lib == NULL)
		return;
	search_lib_drop_arrays(lib);
	free(lib);
}

/* *p grown to cap records of per floats, the first n_old kept; an adopted
 * array (owned elsewhere) is copied, not freed. */
static int search_grow(float **p, size_t n_old, size_t cap, size_t per, bool adopted)
{
	float *q;
	size_t total;

	if (per == 0)
		return 0;
	if (util_mul_size(cap, per, &total) == -1 || (q = tensor_alloc(total)) == NULL)
		return -1;
	if (*p != NULL)
		memcpy(q, *p, sizeof(float) * n_old * per);
	if (!adopted)
		tensor_free(*p);
	*p = q;
	return 0;
}

/*
 * Room for n records (at least the ones held).  Adopted arrays are copied
 * into memory of the library's own first, whatever n, and only then given
 * back: on failure the library is unchanged.
 */
static int search_lib_realloc(search_lib *lib, size_t n, char **cause)
{
	bool adopted = lib->owner != NULL;
	size_t d = lib->e16 != NULL || (lib->e != NULL && !ea_is_tight(lib->e)) ?
	    (size_t)ea_dim(lib->e) : 0;
	search_lib old = *lib;
	int64_t *ids;

	if (n < lib->n)
		n = lib->n;
	if (adopted) {
		if ((ids = malloc((n > 0 ? n : 1) * sizeof *ids)) != NULL)
			memcpy(ids, lib->ids, lib->n * sizeof *ids);
	} else {
		ids = realloc(lib->ids, (n > 0 ? n : 1) * sizeof *ids);
	}
	if (ids == NULL)
		goto oom;
	lib->ids = ids;
	if (search_grow(&lib->kc, lib->n, n, lib->kc_floats, adopted) == -1 ||
	    search_grow(&lib->tx, lib->n, n, lib->tx_floats, adopted) == -1 ||
	    search_grow(&lib->eb, lib->n, n, lib->ea_floats, adopted) == -1)
		goto oom;
	if (d > 0) {
		size_t total;
		scan_bf16 *h = NULL;
		if (util_mul_size(n > 0 ? n : 1, d, &total) == -1)
			goto oom;
		if (adopted) {
			if ((h = malloc(total * sizeof *h)) != NULL && lib->e16 != NULL)
				memcpy(h, lib->e16, lib->n * d * sizeof *h);
		} else {
			h = realloc(lib->e16, total * sizeof *h);
		}
		if (h == NULL)
			goto oom;
		lib->e16 = h;
	}
	lib->cap = n;
	if (adopted) {
		old.release(old.owner);
		lib->owner = NULL;
		lib->release = NULL;
	}
	return 0;
oom:
	if (adopted) {
		/* Undo: free the copies made so far, keep the owner's arrays. */
		if (lib->ids != old.ids)
			free(lib->ids);
		if (lib->kc != old.kc)
			tensor_free(lib->kc);
		if (lib->tx != old.tx)
			tensor_free(lib->tx);
		if (lib->eb != old.eb)
			tensor_free(lib->eb);
		if (lib->e16 != old.e16)
			free(lib->e16);
		*lib = old;
	}
	util_set_cause(cause, "search: out of memory for %zu videos", n);
	return -1;
}

int search_lib_reserve(search_lib *lib, size_t n, char **cause)
{
	if (n <= lib->cap && lib->owner == NULL)
		return 0;
	return search_lib_realloc(lib, n > lib->cap ? n : lib->cap, cause);
}

void search_lib_get_arrays(const search_lib *lib, search_lib_arrays *out)
{
	memset(out, 0, sizeof *out);
	out->n = lib->n;
	out->ids = lib->ids;
	out->kc = lib->kc;
	out->tx = lib->tx;
	out->eb = lib->eb;
	out->e16 = lib->e16;
	out->kc_width = lib->kc_floats;
	out->tx_width = lib->tx_floats;
	out->ea_width = lib->ea_floats;
	out->e16_width = lib->e != NULL && !ea_is_tight(lib->e) ? (size_t)ea_dim(lib->e) : 0;
	out->e16_vmax = lib->e16_vmax;
	out->e16_bad = lib->e16_bad;
}

int search_lib_adopt(search_lib *lib, const search_lib_arrays *a, void (*release)(void *),
    void *owner, char **cause)
{
	size_t d = lib->e != NULL && !ea_is_tight(lib->e) ? (size_t)ea_dim(lib->e) : 0;

	if (lib->n != 0) {
		util_set_cause(cause, "search: only an empty library adopts arrays");
		return -1;
	}
	if (a->kc_width != lib->kc_floats || a->tx_width != lib->tx_floats ||
	    a->ea_width != lib->ea_floats || a->e16_width != d ||
	    (a->n > 0 && (a->ids == NULL || (lib->kc_floats > 0 && a->kc == NULL) ||
	    (lib->tx_floats > 0 && a->tx == NULL) || (lib->ea_floats > 0 && a->eb == NULL) ||
	    (d > 0 && a->e16 == NULL)))) {
		util_set_cause(cause, "search: the arrays do not fit this library's heads");
		return -1;
	}
	search_lib_drop_arrays(lib);
	/* Read only from here on (search_lib_realloc copies before any write). */
	lib->ids = (int64_t *)a->ids;
	lib->kc = (float *)a->kc;
	lib->tx = (float *)a->tx;
	lib->eb = (float *)a->eb;
	lib->e16 = (scan_bf16 *)a->e16;
	lib->n = lib->cap = a->n;
	lib->e16_vmax = a->e16_vmax;
	lib->e16_bad = a->e16_bad != 0;
	lib->release = release;
	lib->owner = owner;
	return 0;
}

int search_lib_add(search_lib *lib, int64_t id, const float *tc_cache, const float *ea_cache,
    char **cause)
{
	return search_lib_add_split(lib, id, tc_cache, tc_cache != NULL ? tc_cache + lib->kc_floats :
	    NULL, ea_cache, cause);
}

int search_lib_add_split(search_lib *lib, int64_t id, const float *kc, const float *tx,
    const float *ea_cache, char **cause)
{
	size_t i = lib->n;

	if ((lib->tc != NULL && (kc == NULL || tx == NULL)) || (lib->e != NULL && ea_cache == NULL)) {
		util_set_cause(cause, "search: video %lld lacks a cache for one of the heads",
		    (long long)id);
		return -1;
	}
	if ((i == lib->cap || lib->owner != NULL) &&
	    search_lib_reserve(lib, i == lib->cap ? (lib->cap ? lib->cap * 2 : 256) : lib->cap, cause) == -1)
		return -1;
	lib->ids[i] = id;
	if (lib->tc != NULL) {
		memcpy(lib->kc + i * lib->kc_floats, kc, sizeof(float) * lib->kc_floats);
		memcpy(lib->tx + i * lib->tx_floats, tx, sizeof(float) * lib->tx_floats);
	}
	if (lib->e != NULL)
		memcpy(lib->eb + i * lib->ea_floats, ea_cache, sizeof(float) * lib->ea_floats);
	if (lib->e16 != NULL) {
		int d = ea_dim(lib->e);
		double nn = 0;
		scan_to_bf16(ea_cache, (size_t)d, lib->e16 + i * (size_t)d);
		for (int j = 0; j < d; j++)
			nn += (double)ea_cache[j] * ea_cache[j];
		if (!isfinite(nn))
			lib->e16_bad = true;
		else if (sqrt(nn) > lib->e16_vmax)
			lib->e16_vmax = sqrt(nn);
	}
	lib->n++;
	return 0;
}

int search_lib_remove(search_lib *lib, int64_t id)
{
	for (size_t i = 0; i < lib->n; i++) {
		if (lib->ids[i] != id)
			continue;
		/* Adopted arrays are read-only: copy them first. */
		if (lib->owner != NULL && search_lib_realloc(lib, lib->n, NULL) == -1)
			return -2;
		size_t last = lib->n - 1;
		if (i != last) {
			lib->ids[i] = lib->ids[last];
			if (lib->tc != NULL) {
				memcpy(lib->kc + i * lib->kc_floats, lib->kc + last * lib->kc_floats,
				    sizeof(float) * lib->kc_floats);
				memcpy(lib->tx + i * lib->tx_floats, lib->tx + last * lib->tx_floats,
				    sizeof(float) * lib->tx_floats);
			}
			if (lib->e != NULL)
				memcpy(lib->eb + i * lib->ea_floats, lib->eb + last * lib->ea_floats,
				    sizeof(float) * lib->ea_floats);
			if (lib->e16 != NULL) {
				size_t d = (size_t)ea_dim(lib->e);
				memcpy(lib->e16 + i * d, lib->e16 + last * d, d * sizeof *lib->e16);
			}
		}
		lib->n--;
		return 0;
	}
	return -1;
}

size_t search_lib_count(const search_lib *lib)
{
	return lib->n;
}

size_t search_lib_bytes_per_video(const search_lib *lib)
{
	return sizeof(float) * (lib->kc_floats + lib->tx_floats + lib->ea_floats) + sizeof(int64_t) +
	    (lib->e16 != NULL ? sizeof(scan_bf16) * (size_t)ea_dim(lib->e) : 0);
}

int64_t search_lib_id(const search_lib *lib, size_t index)
{
	return lib->ids[index];
}

void search_opts_init(search_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->model = SEARCH_TCMGC;
	opts->top_k = 10;
	opts->tight_rerank = 100;
}

/* --- threaded scoring --------------------------------------------------- */

typedef enum {
	SEARCH_JOB_TCMGC,  /* full TC-MGC */
	SEARCH_JOB_DOT,    /* q · blob[offset .. offset + D) */
	SEARCH_JOB_BF16    /* q · bf16 copy (lib->e16) */
} search_job_kind;

typedef struct {
	const search_lib *lib;
	search_job_kind kind;
	const tcmgc_query *tq;
	const float *q;         /* [D] for DOT */
	const float *base;      /* DOT: array of blobs */
	size_t stride, offset;  /* DOT: floats per blob, offset of the vector */
	const size_t *cand;     /* video indices, or NULL for 0..n-1 */
	size_t n;
	float *out;             /* [n] */
	atomic_int *cancel;     /* the caller's flag, or NULL */
	int prune_k;            /* TCMGC: > 0 when only the top prune_k matter (see search_worker) */
	atomic_size_t full;     /* TCMGC: videos scored in full */
	atomic_size_t next;
	atomic_int failed;
	atomic_int cancelled;
} search_job;

/* Scores of videos [lo, hi) that reach at_least (NAN for the others); returns how many were
 * scored in full. */
static int search_job_tcmgc(search_job *job, float *scratch, float *gather_kc,
    float *gather_tx, size_t lo, size_t hi, float at_least)
{
	const search_lib *lib = job->lib;
	int count = (int)(hi - lo);

	if (job->cand == NULL)
		return tcmgc_score_batch_above(lib->tc, job->tq, lib->kc + lo * lib->kc_floats,
		    lib->tx + lo * lib->tx_floats, lib->tx_floats, count, at_least, job->out + lo,
		    scratch);
	for (int i = 0; i < count; i++) {
		size_t v = job->cand[lo + i];
		memcpy(gather_kc + (size_t)i * lib->kc_floats, lib->kc + v * lib->kc_floats,
		    sizeof(float) * lib->kc_floats);
		memcpy(gather_tx + (size_t)i * lib->tx_floats, lib->tx + v * lib->tx_floats,
		    sizeof(float) * lib->tx_floats);
	}
	return tcmgc_score_batch_above(lib->tc, job->tq, gather_kc, gather_tx, lib->tx_floats, count,
	    at_least, job->out + lo, scratch);
}

/* Keep the k best finite scores seen in a min-heap h [k] of *have entries. */
static void search_floor_add(float *h, int k, int *have, float v)
{
	int i;

	if (!isfinite(v))
		return;
	if (*have < k) {
		/* Sift up. */
		for (i = (*have)++; i > 0 && h[(i - 1) / 2] > v; i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = v;
		return;
	}
	if (v <= h[0])
		return;
	/* Replace the minimum, sift down. */
	for (i = 0;;) {
		int l = 2 * i + 1, r = l + 1, m = l;
		if (l >= k)
			break;
		if (r < k && h[r] < h[l])
			m = r;
		if (h[m] >= v)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = v;
}

/* Videos a worker takes at a time: TC-MGC's block is a few ms of work,
 * a dot product's is as much with 64 times the videos. */
static size_t search_chunk(const search_job *job)
{
	return job->kind == SEARCH_JOB_TCMGC ? SEARCH_CHUNK : (size_t)SEARCH_CHUNK * 64;
}

/* One of the pool's parts (core/parallel): each takes chunks of videos in turn. */
static void search_worker(void *arg, int part, int parts)
{
	search_job *job = arg;
	const search_lib *lib = job->lib;
	float *scratch = NULL, *gkc = NULL, *gtx = NULL, *best = NULL;
	int d = lib->tc != NULL ? tcmgc_dim(lib->tc) : ea_dim(lib->e), have = 0;
	size_t full = 0;

	(void)part; /* the parts share one queue of chunks */
	(void)parts;

	if (job->kind == SEARCH_JOB_TCMGC) {
		/* Zeroed once: the padding columns of the probe products are read. */
		scratch = tensor_zalloc(tcmgc_batch_scratch_floats(lib->tc, job->tq, SEARCH_CHUNK));
		if (job->cand != NULL) {
			gkc = tensor_alloc(SEARCH_CHUNK * lib->kc_floats);
			gtx = tensor_alloc(SEARCH_CHUNK * lib->tx_floats);
		}
		/*
		 * With prune_k, this worker keeps the k best scores it has
		 * computed in full; a video proved to score less than the k-th
		 * of them has k videos strictly above it, so it cannot be in
		 * the top k and is left unfinished (NAN, ranked last).
		 */
		if (job->prune_k > 0)
			best = malloc(sizeof *best * (size_t)job->prune_k);
		if (scratch == NULL || (job->cand != NULL && (gkc == NULL || gtx == NULL)) ||
		    (job->prune_k > 0 && best == NULL)) {
			atomic_store(&job->failed, 1);
			goto out;
		}
	}
	for (;;) {
		/* Between blocks: a block is at most a few milliseconds of work. */
		if (job->cancel != NULL && atomic_load_explicit(job->cancel, memory_order_relaxed)) {
			atomic_store(&job->cancelled, 1);
			break;
		}
		size_t chunk = search_chunk(job);
		size_t lo = atomic_fetch_add(&job->next, chunk);
		if (lo >= job->n)
			break;
		size_t hi = lo + chunk < job->n ? lo + chunk : job->n;
		if (job->kind == SEARCH_JOB_TCMGC) {
			float at_least = job->prune_k > 0 && have == job->prune_k ? best[0] :
			    -INFINITY;
			full += (size_t)search_job_tcmgc(job, scratch, gkc, gtx, lo, hi, at_least);
			for (size_t i = lo; job->prune_k > 0 && i < hi; i++)
				search_floor_add(best, job->prune_k, &have, job->out[i]);
			continue;
		}
		if (job->kind == SEARCH_JOB_BF16) {
			scan_dot_bf16(SCAN_AUTO, job->q, lib->e16 + lo * (size_t)d, (size_t)d, d,
			    hi - lo, job->out + lo);
			continue;
		}
		for (size_t i = lo; i < hi; i++) {
			size_t v = job->cand != NULL ? job->cand[i] : i;
			job->out[i] = tensor_dot(job->q, job->base + v * job->stride + job->offset, d);
		}
	}
out:
	atomic_fetch_add(&job->full, full);
	free(best);
	tensor_free(scratch);
	tensor_free(gkc);
	tensor_free(gtx);
}

static int search_thread_count(int want, size_t n, size_t chunk)
{
	int t = want > 0 ? want : util_cpu_count();
	size_t chunks = (n + chunk - 1) / chunk;

	if ((size_t)t > chunks)
		t = (int)(chunks > 0 ? chunks : 1);
	return t < 1 ? 1 : t > PARALLEL_MAX_PARTS ? PARALLEL_MAX_PARTS : t;
}

/* Run job over its n videos on `threads` workers of the one pool
 * (core/parallel; the caller is one of them); 0, 1 when cancelled, or -1
 * with *cause. */
static int search_job_run(search_job *job, int threads, char **cause)
{
	atomic_store(&job->next, 0);
	atomic_store(&job->failed, 0);
	atomic_store(&job->cancelled, 0);
	atomic_store(&job->full, 0);
	parallel_run_parts(search_worker, job,
	    search_thread_count(threads, job->n, search_chunk(job)));
	if (atomic_load(&job->failed)) {
		util_set_cause(cause, "search: out of memory");
		return -1;
	}
	return atomic_load(&job->cancelled) ? 1 : 0;
}

static int search_dot_all(const search_lib *lib, const float *q, const float *base,
    size_t stride, size_t offset, const size_t *cand, size_t n, int threads, atomic_int *cancel,
    float *out, char **cause)
{
	search_job job = { .lib = lib, .kind = SEARCH_JOB_DOT, .q = q, .base = base,
		.stride = stride, .offset = offset, .cand = cand, .n = n, .out = out,
		.cancel = cancel };

	return search_job_run(&job, threads, cause);
}

/* TC-MGC scores of n videos; with prune_k > 0 only the top prune_k are
 * exact, the rest may be NAN (see search_worker).  *full (or NULL) gets
 * how many were scored in full. */
static int search_tcmgc_all(const search_lib *lib, const tcmgc_query *tq, const size_t *cand,
    size_t n, int threads, atomic_int *cancel, int prune_k, size_t *full, float *out,
    char **cause)
{
	search_job job = { .lib = lib, .kind = SEARCH_JOB_TCMGC, .tq = tq, .cand = cand, .n = n,
		.out = out, .cancel = cancel, .prune_k = prune_k };
	int r = search_job_run(&job, threads, cause);

	if (full != NULL)
		*full = atomic_load(&job.full);
	return r;
}

/* --- top K ---------------------------------------------------------------- */

typedef struct {
	float score;
	size_t index; /* into the candidate arrays */
} search_entry;

/* a ranks below b: lower score, or equal score and later index. */
static bool search_below(const search_entry *a, const search_entry *b)
{
	return a->score < b->score || (a->score == b->score && a->index > b->index);
}

static void search_sift_down(search_entry *h, int n, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && search_below(&h[l], &h[m]))
			m = l;
		if (r < n && search_below(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		search_entry t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* The k best of scores[n] (NaN ranks last), best first, into out; returns the count. */
static int search_select(const float *scores, size_t n, int k, search_entry *out)
{
	int have = 0;

	for (size_t i = 0; i < n; i++) {
		search_entry e = { isnan(scores[i]) ? -INFINITY : scores[i], i };
		if (have < k) {
			out[have++] = e;
			if (have == k)
				for (int j = k / 2 - 1; j >= 0; j--)
					search_sift_down(out, k, j);
		} else if (search_below(&out[0], &e)) {
			out[0] = e;
			search_sift_down(out, k, 0);
		}
	}
	if (have < k)
		for (int j = have / 2 - 1; j >= 0; j--)
			search_sift_down(out, have, j);
	/* Heap sort: repeatedly move the worst to the end, then reverse. */
	for (int end = have - 1; end > 0; end--) {
		search_entry t = out[0];
		out[0] = out[end];
		out[end] = t;
		search_sift_down(out, end, 0);
	}
	return have;
}

/*
 * The bf16 first pass of a loose EA search: approx[i] = q · bf16(v̂_i) for
 * every video, then the candidates cand[0 .. *ncand), ascending: every
 * video whose fp32 score can still be among the K best.
 *
 * Why no top-K video is lost: with b = scan_bf16_bound for this query and
 * the largest |v̂| of the library (the same for every video), each fp32
 * score f_i (the exhaustive scan's, search_score_all) is within b of
 * approx_i.  Let a_K be the K-th largest finite approx.  At least K
 * videos have f >= a_K - b.  A video with approx_i < a_K - 2b has
 * f_i <= approx_i + b < a_K - b, so at least K videos score strictly
 * more: it is not in the top K, whatever the tie-break.  Every other
 * video, and every one whose approx is not finite (bf16 overflow), is a
 * candidate; with fewer than K finite approximations, all are.  The
 * candidates keep their library order, so ties among them break by
 * index as in the exhaustive ranking.  Returns 0, 1 (cancelled) or -1.
 */
static int search_ea_bf16_pass(const search_lib *lib, const float *q, int k, int threads,
    atomic_int *cancel, float *approx, size_t *cand, size_t *ncand, char **cause)
{
	int d = ea_dim(lib->e), have, r;
	size_t n = lib->n, m = 0;
	search_job job = { .lib = lib, .kind = SEARCH_JOB_BF16, .q = q, .n = n, .out = approx,
		.cancel = cancel };
	double qn = 0, qmax = 0, thresh = -INFINITY;
	float *fin;
	search_entry *top;

	if ((r = search_job_run(&job, threads, cause)) != 0)
		return r;
	for (int j = 0; j < d; j++) {
		qn += (double)q[j] * q[j];
		qmax = fabs((double)q[j]) > qmax ? fabs((double)q[j]) : qmax;
	}
	double b = scan_bf16_bound(d, sqrt(qn), lib->e16_vmax, qmax);
	if ((fin = tensor_alloc(n)) == NULL || (top = calloc((size_t)k, sizeof *top)) == NULL) {
		tensor_free(fin);
		util_set_cause(cause, "search: out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (isfinite(approx[i]))
			fin[m++] = approx[i];
	have = search_select(fin, m, k, top);
	if (have == k && isfinite(b))
		thresh = (double)top[k - 1].score - 2 * b;
	free(top);
	tensor_free(fin);
	m = 0;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(approx[i]) || (double)approx[i] >= thresh)
			cand[m++] = i;
	*ncand = m;
	return 0;
}

static void search_znorm(float *x, size_t n)
{
	double mean = 0, var = 0;

	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= n > 0 ? (double)n : 1;
	for (size_t i = 0; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= n > 0 ? (double)n : 1;
	double inv = var > 0 ? 1.0 / sqrt(var) : 0;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((x[i] - mean) * inv);
}

int search_score_all(const search_lib *lib, const tcmgc_query *tq, const float *ea_s,
    search_model which, int threads, float *scores, char **cause)
{
	size_t n = lib->n;
	float *other = NULL, *q = NULL;
	int rc = -1;

	if ((which != SEARCH_EA && (lib->tc == NULL || tq == NULL)) ||
	    (which != SEARCH_TCMGC && (lib->e == NULL || ea_s == NULL))) {
		util_set_cause(cause, "search: the library or the query lacks a head the model needs");
		return -1;
	}
	if (which != SEARCH_TCMGC && ea_is_tight(lib->e)) {
		util_set_cause(cause, "search: scoring every video with the EA tight type is not "
		    "interactive; use search_run (it re-ranks a short list)");
		return -1;
	}
	if (which != SEARCH_EA && search_tcmgc_all(lib, tq, NULL, n, threads, NULL, 0, NULL, scores,
	    cause) == -1)
		return -1;
	if (which == SEARCH_TCMGC)
		return 0;
	float *dst = scores;
	if (which == SEARCH_FUSED) {
		if ((other = tensor_alloc(n)) == NULL)
			goto oom;
		dst = other;
	}
	if ((q = tensor_alloc((size_t)ea_dim(lib->e))) == NULL)
		goto oom;
	ea_query_vector(lib->e, ea_s, q);
	if (search_dot_all(lib, q, lib->eb, lib->ea_floats, 0, NULL, n, threads, NULL, dst,
	    cause) == -1)
		goto out;
	if (which == SEARCH_FUSED) {
		search_znorm(scores, n);
		search_znorm(other, n);
		for (size_t i = 0; i < n; i++)
			scores[i] = (scores[i] + other[i]) / 2;
	}
	rc = 0;
	goto out;
oom:
	util_set_cause(cause, "search: out of memory");
out:
	tensor_free(other);
	tensor_free(q);
	return rc;
}

void search_result_free(search_result *res)
{
	if (res == NULL)
		return;
	free(res->hits);
	tensor_free(res->mem);
	free(res->imem);
	memset(res, 0, sizeof *res);
}

/* Fill the hits' breakdowns: TC-MGC detail, EA weights, best moment. */
static int search_explain(const search_lib *lib, const tcmgc_query *tq, bool with_ea,
    search_result *res, char **cause)
{
	int f = res->frames, l = res->words;
	size_t per = (size_t)l * f + f + 2 * (size_t)f;
	float *cache = NULL;

	res->mem = tensor_zalloc(per * (size_t)(res->nhits ? res->nhits : 1));
	res->imem = calloc((size_t)l * (res->nhits ? res->nhits : 1) + 1, sizeof *res->imem);
	if (lib->tc != NULL && tq != NULL)
		cache = tensor_alloc(lib->kc_floats + lib->tx_floats);
	if (res->mem == NULL || res->imem == NULL || (lib->tc != NULL && tq != NULL && cache == NULL)) {
		util_set_cause(cause, "search: out of memory");
		tensor_free(cache);
		return -1;
	}
	for (int h = 0; h < res->nhits; h++) {
		search_hit *hit = &res->hits[h];
		float *m = res->mem + per * h;
		size_t v = hit->index;

		hit->best_frame = 0;
		if (lib->tc != NULL && tq != NULL) {
			tcmgc_detail det = { .word_attn = m, .sent_attn = m + (size_t)l * f,
				.word_best = res->imem + (size_t)l * h };
			memcpy(cache, lib->kc + v * lib->kc_floats, sizeof(float) * lib->kc_floats);
			memcpy(cache + lib->kc_floats, lib->tx + v * lib->tx_floats,
			    sizeof(float) * lib->tx_floats);
			/* The breakdown is recomputed for this video alone; its
			 * score is the batch's bit for bit (scan_block's products
			 * do not depend on the block). */
			if (tcmgc_score(lib->tc, tq, cache, NULL, &det, cause) == -1) {
				tensor_free(cache);
				return -1;
			}
			memcpy(hit->z, det.z, sizeof det.z);
			memcpy(hit->omega, det.omega, sizeof det.omega);
			hit->word_attn = det.word_attn;
			hit->sent_attn = det.sent_attn;
			hit->word_best = det.word_best;
			hit->best_frame = det.best_frame;
		}
		if (with_ea) {
			const float *blob = lib->eb + v * lib->ea_floats;
			const float *exc = ea_cache_excitation(lib->e, blob);
			const float *agg = ea_cache_aggregation(lib->e, blob);
			hit->ea_exc = m + (size_t)l * f + f;
			memcpy(hit->ea_exc, exc, sizeof(float) * (size_t)f);
			if (agg != NULL) {
				hit->ea_agg = hit->ea_exc + f;
				memcpy(hit->ea_agg, agg, sizeof(float) * (size_t)f);
			}
			if (lib->tc == NULL || tq == NULL) {
				/* EA alone: the frame with the largest pooling weight. */
				const float *w = agg != NULL ? agg : exc;
				for (int i = 1; i < f; i++)
					if (w[i] > w[hit->best_frame])
						hit->best_frame = i;
			}
		}
	}
	tensor_free(cache);
	return 0;
}

int search_run(const search_lib *lib, const tcmgc_query *tq, const float *ea_s,
    const search_opts *opts, search_result *res, char **cause)
{
	double t0 = util_now();
	size_t n = lib->n, ncand = n;
	size_t *cand = NULL;
	float *tcs = NULL, *eas = NULL, *rank = NULL, *q = NULL, *coarse = NULL;
	search_entry *top = NULL;
	bool use_tc = opts->model != SEARCH_EA, use_ea = opts->model != SEARCH_TCMGC;
	int k = opts->top_k > 0 ? opts->top_k : 10, rc = -1, r;

	memset(res, 0, sizeof *res);
	if ((use_tc && (lib->tc == NULL || tq == NULL)) || (use_ea && (lib->e == NULL || ea_s == NULL))) {
		util_set_cause(cause, "search: the library or the query lacks a head the model needs");
		return -1;
	}
	if (opts->model == SEARCH_FUSED && ea_is_tight(lib->e)) {
		util_set_cause(cause, "search: fused ranking needs a loose EA head (this one is %s)",
		    ea_describe(lib->e));
		return -1;
	}
	res->library = n;
	res->frames = lib->tc != NULL ? tcmgc_frames(lib->tc) : ea_frames(lib->e);
	res->words = lib->tc != NULL ? tcmgc_words(lib->tc) : 0;
	if (n == 0) {
		res->seconds = util_now() - t0;
		return 0;
	}
	if ((tcs = tensor_alloc(n)) == NULL || (eas = tensor_alloc(n)) == NULL ||
	    (rank = tensor_alloc(n)) == NULL || (coarse = tensor_alloc(n)) == NULL ||
	    (top = calloc((size_t)k, sizeof *top)) == NULL)
		goto oom;

	/* Candidates: every video, or the best by a coarse, text-agnostic score. */
	int limit = 0;
	const float *cq = NULL, *cbase = NULL;
	size_t cstride = 0, coff = 0;
	if (use_tc && opts->prefilter > 0 && n > (size_t)opts->prefilter) {
		limit = opts->prefilter;
		cq = tcmgc_query_sentence(tq);
		cbase = lib->tx;
		cstride = lib->tx_floats;
		coff = tcmgc_cache_coarse_offset(lib->tc) - lib->kc_floats;
	} else if (opts->model == SEARCH_EA && ea_is_tight(lib->e)) {
		limit = opts->tight_rerank > 0 ? opts->tight_rerank : 100;
		if (n <= (size_t)limit)
			limit = 0;
		if ((q = tensor_alloc((size_t)ea_dim(lib->e))) == NULL)
			goto oom;
		ea_query_vector(lib->e, ea_s, q);
		cq = q;
		cbase = lib->eb;
		cstride = lib->ea_floats;
		coff = ea_cache_coarse_offset(lib->e);
	}
	if (limit > 0) {
		search_entry *best = calloc((size_t)limit, sizeof *best);
		if (best == NULL || (cand = malloc((size_t)limit * sizeof *cand)) == NULL) {
			free(best);
			goto oom;
		}
		if ((r = search_dot_all(lib, cq, cbase, cstride, coff, NULL, n, opts->threads,
		    opts->cancel, coarse, cause)) != 0) {
			free(best);
			goto fail;
		}
		ncand = (size_t)search_select(coarse, n, limit, best);
		for (size_t i = 0; i < ncand; i++)
			cand[i] = best[i].index;
		free(best);
	} else if (opts->model == SEARCH_EA && lib->e16 != NULL && !lib->e16_bad && !opts->no_bf16 &&
	    n > (size_t)k) {
		/* The bf16 first pass: the candidates are every video that can
		 * still reach the top K; they are scored in fp32 below. */
		if ((q = tensor_alloc((size_t)ea_dim(lib->e))) == NULL ||
		    (cand = malloc(n * sizeof *cand)) == NULL)
			goto oom;
		ea_query_vector(lib->e, ea_s, q);
		if ((r = search_ea_bf16_pass(lib, q, k, opts->threads, opts->cancel, coarse, cand,
		    &ncand, cause)) != 0)
			goto fail;
		res->rescored = ncand;
	}

	/* TC-MGC alone ranks only the top k: the bound may skip the rest. */
	size_t full = ncand;
	if (use_tc && (r = search_tcmgc_all(lib, tq, cand, ncand, opts->threads, opts->cancel,
	    opts->model == SEARCH_TCMGC && !opts->no_bound ? k : 0, &full, tcs, cause)) != 0)
		goto fail;
	if (use_ea) {
		if (ea_is_tight(lib->e)) {
			const float **ptrs = malloc(ncand * sizeof *ptrs);
			if (ptrs == NULL)
				goto oom;
			for (size_t i = 0; i < ncand; i++)
				ptrs[i] = lib->eb + (cand != NULL ? cand[i] : i) * lib->ea_floats;
			int rt = ea_score_many(lib->e, ea_s, ptrs, (int)ncand, eas, cause);
			free(ptrs);
			if (rt == -1)
				goto out;
		} else {
			if (q == NULL && (q = tensor_alloc((size_t)ea_dim(lib->e))) == NULL)
				goto oom;
			ea_query_vector(lib->e, ea_s, q);
			if ((r = search_dot_all(lib, q, lib->eb, lib->ea_floats, 0, cand, ncand,
			    opts->threads, opts->cancel, eas, cause)) != 0)
				goto fail;
		}
	}
	if (opts->cancel != NULL && atomic_load(opts->cancel)) {
		r = 1;
		goto fail;
	}
	if (opts->model == SEARCH_FUSED) {
		memcpy(rank, tcs, sizeof(float) * ncand);
		memcpy(coarse, eas, sizeof(float) * ncand);
		search_znorm(rank, ncand);
		search_znorm(coarse, ncand);
		for (size_t i = 0; i < ncand; i++)
			rank[i] = (rank[i] + coarse[i]) / 2;
	} else
		memcpy(rank, use_tc ? tcs : eas, sizeof(float) * ncand);

	res->nhits = search_select(rank, ncand, k, top);
	res->scored = use_tc ? full : ncand;
	if ((res->hits = calloc((size_t)(res->nhits ? res->nhits : 1), sizeof *res->hits)) == NULL)
		goto oom;
	for (int h = 0; h < res->nhits; h++) {
		search_hit *hit = &res->hits[h];
		size_t c = top[h].index;
		hit->index = cand != NULL ? cand[c] : c;
		hit->id = lib->ids[hit->index];
		hit->score = rank[c];
		hit->tcmgc = use_tc ? tcs[c] : NAN;
		hit->ea = use_ea ? eas[c] : NAN;
		for (int g = 0; g < 4; g++)
			hit->z[g] = hit->omega[g] = NAN;
	}
	if (search_explain(lib, use_tc ? tq : NULL, use_ea, res, cause) == -1)
		goto out;
	res->seconds = util_now() - t0;
	rc = 0;
	goto out;
fail:
	rc = r; /* 1: cancelled, -1: failed (cause set) */
	goto out;
oom:
	util_set_cause(cause, "search: out of memory");
out:
	if (rc != 0)
		search_result_free(res);
	free(cand);
	free(top);
	tensor_free(tcs);
	tensor_free(eas);
	tensor_free(rank);
	tensor_free(q);
	tensor_free(coarse);
	return rc;
}

/* --- verification ---------------------------------------------------------- */

static const float *search_verify_scores;

/* Best first: higher score, NaN last, then lower index. */
static int search_verify_cmp(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	float x = search_verify_scores[a], y = search_verify_scores[b];
	float xs = isnan(x) ? -INFINITY : x, ys = isnan(y) ? -INFINITY : y;

	if (xs != ys)
		return xs > ys ? -1 : 1;
	return a < b ? -1 : a > b;
}

int search_verify(const search_lib *lib, const tcmgc_query *tq, const float *ea_s,
    const search_opts *opts, int *mismatch, size_t *scored, char *why, size_t why_size,
    char **cause)
{
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
	size_t n = lib->n, *order = NULL;
	float *scores = NULL;
	search_result res;
	int k = opts->top_k > 0 ? opts->top_k : 10, rc = -1;

	*mismatch = 0;
	*scored = 0;
	if (why_size > 0)
		why[0] = '\0';
	if (search_run(lib, tq, ea_s, opts, &res, cause) != 0) {
		if (cause != NULL && *cause == NULL)
			util_set_cause(cause, "search: the search was cancelled");
		return -1;
	}
	*scored = res.scored;
	if ((scores = tensor_alloc(n ? n : 1)) == NULL ||
	    (order = malloc((n ? n : 1) * sizeof *order)) == NULL) {
		util_set_cause(cause, "search: out of memory");
		goto out;
	}
	if (search_score_all(lib, tq, ea_s, opts->model, opts->threads, scores, cause) == -1)
		goto out;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	/* qsort has no context argument: one sort at a time. */
	pthread_mutex_lock(&sort_lock);
	search_verify_scores = scores;
	qsort(order, n, sizeof *order, search_verify_cmp);
	pthread_mutex_unlock(&sort_lock);
	size_t want = (size_t)k < n ? (size_t)k : n;
	if ((size_t)res.nhits != want) {
		*mismatch = 1;
		snprintf(why, why_size, "%d hits, the exhaustive scan has %zu", res.nhits, want);
	}
	for (size_t h = 0; h < want && !*mismatch; h++) {
		float got = res.hits[h].score, ref = scores[order[h]];
		double tol = 1e-5 * fabs((double)ref);
		if (res.hits[h].index != order[h] || !(fabs((double)got - ref) <= tol ||
		    (isnan(got) && isnan(ref)))) {
			*mismatch = 1;
			snprintf(why, why_size, "hit %zu: video %lld score %.9g, the exhaustive scan has "
			    "video %lld score %.9g", h + 1, (long long)res.hits[h].id, (double)got,
			    (long long)lib->ids[order[h]], (double)ref);
		}
	}
	rc = 0;
out:
	search_result_free(&res);
	tensor_free(scores);
	free(order);
	return rc;
}
