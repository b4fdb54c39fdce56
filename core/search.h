/*
 * search — score a whole library for one query, keep the top K exactly,
 * and explain each hit.
 *
 * A search_lib holds the per-video caches of one TC-MGC head and/or one EA
 * head in memory (tcmgc_prepare_video / ea_prepare_video blobs, as the
 * index stores them), laid out for batched scoring: TC-MGC's Kc blocks of
 * all videos are contiguous, so a chunk of videos is scored by one GEMM
 * against all of the query's probe vectors.  search_run splits the library
 * across workers, the threads of the one pool (core/parallel, which the
 * towers use too), each taking chunks of videos in turn, then selects the
 * top K with a heap and recomputes the breakdown of each hit.
 *
 * Models:
 *   SEARCH_TCMGC  the TC-MGC final score (LSA over the four granularities)
 *   SEARCH_EA     the EA score (loose: exp(logit_scale) cos(s, v̂); tight:
 *                 the cross encoder, run on the opts.tight_rerank best
 *                 videos by the cosine of ŝ with the cached coarse vector)
 *   SEARCH_FUSED  both heads (the EA head must be a loose type): each
 *                 model's scores are z-normalised over the scored videos
 *                 (mean 0, population standard deviation 1; a constant
 *                 score becomes 0) and the fused score is their mean.
 *                 z-normalising first puts TC-MGC's LSA score (tens) and
 *                 EA's scaled cosine on one footing; rank fusion was not
 *                 chosen because it throws the score margins away.
 *
 * Exact by default: the hits, their order and their scores are those of
 * scoring every video with the full model in fp32 (search_score_all).
 * For a loose EA head the library also keeps a bfloat16 copy of each
 * video vector: a first pass ranks on it, and every video whose score
 * could still reach the top K under the proven error bound of
 * scan_bf16_bound is re-scored in fp32 (res->rescored counts them), so
 * the answer is the fp32 scan's bit for bit.  TC-MGC alone (not fused)
 * leaves a video unfinished once a proven upper bound of its score
 * (tcmgc_score_batch_above) is below the K-th best score a worker has
 * finished.  `clipgrep bench search --verify` checks exactly that.  With
 * opts.prefilter = M > 0 and a library larger than M, TC-MGC is run only on
 * the M best videos by a text-agnostic coarse score (cosine of s̄ with the
 * cached coarse vector: the normalised mean of the normalised V' rows);
 * this is an approximation, and `clipgrep bench search` measures its
 * recall of the exact top 10.
 *
 * BLAS: the scan's products are core/scan's own kernels; what runs once
 * per query may call the BLAS.  For the best throughput
 * run the BLAS single-threaded while searching (tensor_set_threads(1))
 * and let opts.threads use the cores.
 */
#ifndef CLIPGREP_SEARCH_H
#define CLIPGREP_SEARCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ea.h"
#include "tcmgc.h"

typedef enum { SEARCH_TCMGC, SEARCH_EA, SEARCH_FUSED } search_model;

typedef struct search_lib search_lib;

/* An empty library for the given heads (either may be NULL, not both);
 * the heads must outlive it. */
search_lib *search_lib_new(const tcmgc *tc, const ea *e, char **cause);
void search_lib_free(search_lib *lib);

/*
 * Append one video: tc_cache [tcmgc_video_cache_floats] and ea_cache
 * [ea_video_cache_floats] (each NULL only when the library has no such
 * head).  The blobs are copied.  id is the caller's (e.g. the index row).
 */
int search_lib_add(search_lib *lib, int64_t id, const float *tc_cache, const float *ea_cache,
    char **cause);
/* The same with the TC-MGC cache in its two parts, as search_lib_arrays holds
 * them: kc [kc_width] and tx [tx_width] (both NULL without TC-MGC). */
int search_lib_add_split(search_lib *lib, int64_t id, const float *kc, const float *tx,
    const float *ea_cache, char **cause);
/* Drop the video with this id (the last one takes its place); -1 if absent,
 * -2 when adopted arrays could not be copied (no memory; nothing dropped). */
int search_lib_remove(search_lib *lib, int64_t id);
int search_lib_reserve(search_lib *lib, size_t n, char **cause);
size_t search_lib_count(const search_lib *lib);

/*
 * A library's arrays as they lie in memory, n records each: what a cache
 * file (core/cachefile) stores, and what search_lib_adopt takes back.
 * Widths are floats per record; e16 (bf16 copies of each EA vector, a
 * loose EA head's first pass) has e16_width values per record, or is NULL
 * with e16_width 0.
 */
typedef struct {
	size_t n;
	const int64_t *ids;
	const float *kc, *tx, *eb;
	const uint16_t *e16;
	size_t kc_width, tx_width, ea_width, e16_width;
	double e16_vmax;  /* an upper bound of every EA vector's norm */
	int e16_bad;      /* some EA vector was not finite */
} search_lib_arrays;

/* The library's arrays (valid until it next changes). */
void search_lib_get_arrays(const search_lib *lib, search_lib_arrays *out);
/*
 * Use a's arrays in place (no copy) as the whole library, which must be
 * empty; a's widths must be the library's own.  owner is released with
 * release(owner) by search_lib_free, or as soon as the library changes:
 * search_lib_add, _remove and _reserve first copy the arrays into memory
 * of its own.  The arrays are only read in place: they may be a read-only
 * mapping.  0, or -1 with *cause (then owner is not taken).
 */
int search_lib_adopt(search_lib *lib, const search_lib_arrays *a, void (*release)(void *),
    void *owner, char **cause);
/* Memory the library keeps per video, in bytes. */
size_t search_lib_bytes_per_video(const search_lib *lib);
int64_t search_lib_id(const search_lib *lib, size_t index);

typedef struct {
	search_model model;
	int top_k;        /* hits to return (default 10) */
	int threads;      /* workers (at most PARALLEL_MAX_PARTS, 16); 0 = one per online CPU */
	int prefilter;    /* 0 = exact; M > 0 = TC-MGC on the M best by the coarse score */
	int tight_rerank; /* EA tight: how many videos get the cross encoder (default 100) */
	int no_bf16;      /* 1: score every video in fp32 (no bf16 first pass) */
	int no_bound;     /* 1: finish every TC-MGC score (no bound-based skipping) */
	atomic_int *cancel; /* or NULL: once nonzero, the scan stops at the next
	                       block of videos (a few ms at most) and search_run
	                       returns 1 with no result */
} search_opts;

void search_opts_init(search_opts *opts);

typedef struct {
	int64_t id;
	size_t index;      /* position in the library at search time */
	float score;       /* what the hits are ranked by (the model's score, or fused) */
	float tcmgc;       /* TC-MGC final score, NAN without a TC-MGC query */
	float z[4];        /* S_vs, S_vw, S_sf, S_fw */
	float omega[4];    /* LSA weights */
	float ea;          /* EA score, NAN without an EA query */
	int best_frame;    /* the best moment, a frame index the caller maps to a time:
	                      the real frame the sentence's LVA attention weighs most
	                      (TC-MGC), else the frame with EA's largest aggregation
	                      (or excitation) weight */
	float *word_attn;  /* [L, F] word-frame attention, or NULL without TC-MGC */
	int *word_best;    /* [L] each word's best frame, or NULL */
	float *sent_attn;  /* [F] sentence-frame attention, or NULL */
	float *ea_exc;     /* [F] EA excitation weights, or NULL */
	float *ea_agg;     /* [F] EA aggregation weights, or NULL (tight) */
} search_hit;

typedef struct {
	int nhits;
	search_hit *hits;  /* best first */
	int frames, words;
	size_t scored;     /* videos the full model(s) scored (TC-MGC: finished,
	                      not skipped by the bound) */
	size_t rescored;   /* of those, videos re-scored in fp32 after the bf16 pass */
	size_t library;    /* library size */
	double seconds;    /* wall time of search_run */
	float *mem;        /* owns the hits' arrays */
	int *imem;
} search_result;

/*
 * Score the library.  tq is the TC-MGC query (needed for SEARCH_TCMGC and
 * SEARCH_FUSED), ea_s the raw sentence feature [D] for the EA head (needed
 * for SEARCH_EA and SEARCH_FUSED).  res is filled (search_result_free
 * releases it).  The library must not change during the call.  Returns 0;
 * 1 when opts->cancel was set during the call (res is left empty: no hits
 * of a stale query escape); or -1 with *cause.
 */
int search_run(const search_lib *lib, const tcmgc_query *tq, const float *ea_s,
    const search_opts *opts, search_result *res, char **cause);
void search_result_free(search_result *res);

/*
 * Only the scores, for every video in library order, with the same
 * threading: scores [count].  For tests and benchmarks (and callers that
 * want their own ranking).
 */
int search_score_all(const search_lib *lib, const tcmgc_query *tq, const float *ea_s,
    search_model which, int threads, float *scores, char **cause);

/*
 * The certificate, checked: run search_run(opts) and the exhaustive fp32
 * scan (search_score_all, then a plain sort by score, ties by library
 * order) for one query and compare the top K: the same videos in the same
 * order with scores within 1e-5 relative.  *mismatch gets 0 when they
 * agree, else 1 and a description in why [why_size]; *scored gets
 * search_run's res.scored (the videos scored in full in fp32: EA, those
 * the bf16 pass left; TC-MGC, those the bound did not skip).  For the
 * exact modes (opts->prefilter 0; not the EA tight type).  Returns 0, or
 * -1 with *cause.
 */
int search_verify(const search_lib *lib, const tcmgc_query *tq, const float *ea_s,
    const search_opts *opts, int *mismatch, size_t *scored, char *why, size_t why_size,
    char **cause);

#endif
