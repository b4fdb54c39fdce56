/*
 * tcmgc — the TC-MGC head (MODELS.md 3): seqTransf, language-video
 * attention (LVA), the four granularity scores with similarity
 * reorganisation (SR: top-k sorted, the fused inattentive value), ISA,
 * Bi-SR/Bi-ISA for frame-word, and LSA.
 *
 * Settings, from the model file's __metadata__:
 *   clipgrep.tcmgc.keep_rate       k = max(1, int(L * keep_rate)), computed
 *                                  in double as Python does (default 0.1)
 *   clipgrep.tcmgc.k               an explicit k (overrides keep_rate)
 *   clipgrep.tcmgc.softmax_lambda  λ of every ISA (default 100)
 * The logit scale is exp(clip.logit_scale) (100 when the file has none).
 * logit_weight [4,4] is the identity when the file lacks it.
 *
 * Training-free form (architecture "clip", a file with CLIP weights only):
 * V' = V (no temporal transformer); LVA with identity LayerNorms (γ = 1,
 * β = 0, eps 1e-5) and no projection branch, i.e. for a query q
 *     a = softmax(LN(V) LN(q) / sqrt(D)),  out = LN(LN(Σ a_i LN(V_i)));
 * every interaction matrix (global, local, the ISA matrices, logit_weight)
 * is the identity; λ, k and the logit scale as above.  This is TC-MGC at
 * its initialisation with the temporal transformer left out.
 *
 * How the per-pair work is made cheap (exact algebra, no approximation):
 * LN2, linear_proj and LN3 act on o = Σ a_i K_i, which lives in the span of
 * the F rows of K = LN1(V').  Writing Kc for K with each row centred,
 * B~ = C (I + W_proj) diag(γ2) (C centres a vector) and c~0 = C((I + W_proj)
 * β2 + b_proj), the centred LN3 input is y = B~ Kcᵀ a / σ2 + c~0 with
 * σ2² = aᵀ(Kc Kcᵀ)a / D + eps, and every quantity the scores need is
 * either a dot product of a Kc row with a per-query vector ("probe") or a
 * quadratic/linear form in a with per-video F x F / F-vector caches.  So a
 * (query, video) pair costs one [F, D] x [D, probes] product plus O(L² F)
 * (L = 32: 32 probes in the training-free form, where every output probe
 * is a multiple of an attention probe; 65 for a trained file, whose 33
 * video-side probes meet only the sentence's attention and are dotted with
 * the pooled Kcᵀ a instead.  Both counts are for a sentence feature that
 * is bit for bit one of the word rows, as core/textenc gives it; one more
 * otherwise).
 *
 * Numerics: fp32 throughout; the attention softmax uses a polynomial e^x
 * (relative error < 1.1e-7) and the normalisers a Newton-refined
 * reciprocal square root; on x86-64 Linux the per-pair step also has an
 * AVX2 build picked at run time (same arithmetic).  tests/test-heads holds
 * every output within 1e-4 of the float64 reference (observed < 1e-6).
 *
 * Per-video cache (flat floats; F frames, D embed dim):
 *   [0, F D)                 Kc: LN1(V') rows, each minus its own mean
 *   then, at F D ("extras"):
 *   +0          mK [F]       mean of each LN1(V') row
 *   +F          mask [F]     the video mask
 *   +2F         kyc [F]      Y c~0           (Y = Kc B~ᵀ, [F, D])
 *   +3F         ky3c [F]     Y (γ3² ⊙ c~0)
 *   +4F         kyb [F]      Y (γ3 ⊙ β3)
 *   +5F         GK [F, F]    Kc Kcᵀ
 *   +5F+F²      GY [F, F]    Y Yᵀ
 *   +5F+2F²     G3 [F, F]    (Y diag γ3)(Y diag γ3)ᵀ
 *   +5F+3F²     coarse [D]   normalised masked mean of the normalised V'
 *                            rows (the text-agnostic pre-filter vector)
 *   total F D + 5F + 3F² + D floats (28,592 bytes for ViT-B/32, F = 12).
 */
#ifndef CLIPGREP_TCMGC_H
#define CLIPGREP_TCMGC_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

typedef struct tcmgc tcmgc;
typedef struct tcmgc_query tcmgc_query;

/*
 * Read the head from m (architecture "tcmgc", or "clip" for the
 * training-free form); m must outlive the result.  Errors name the file and
 * the tensor or key.
 */
tcmgc *tcmgc_load(model *m, char **cause);
void tcmgc_free(tcmgc *t);

int tcmgc_frames(const tcmgc *t);
int tcmgc_words(const tcmgc *t);
int tcmgc_dim(const tcmgc *t);
int tcmgc_topk(const tcmgc *t);
bool tcmgc_is_training_free(const tcmgc *t);
const char *tcmgc_describe(const tcmgc *t);

size_t tcmgc_video_cache_floats(const tcmgc *t);
/* Offset of the extras (F D) and of the coarse vector within a cache. */
size_t tcmgc_cache_extras_offset(const tcmgc *t);
size_t tcmgc_cache_coarse_offset(const tcmgc *t);

/*
 * The text-independent part, once per video at index time.
 *   v     [F, D] CLIP frame embeddings;  mask [F] 1 real, 0 padding
 *   cache [tcmgc_video_cache_floats]
 * Thread-safe.  Returns 0 or -1 with *cause.
 */
int tcmgc_prepare_video(const tcmgc *t, const float *v, const float *mask, float *cache,
    char **cause);
/* V' (the seqTransf output, or V in the training-free form), for tests. */
int tcmgc_temporal(const tcmgc *t, const float *v, const float *mask, float *out, char **cause);

/*
 * The per-query part, once per query: s [D] the sentence feature and
 * words [L, D] the word features (all L positions, padding included, as
 * the reference uses them).  NULL with *cause on failure.
 */
tcmgc_query *tcmgc_query_new(const tcmgc *t, const float *s, const float *words, char **cause);
void tcmgc_query_free(tcmgc_query *q);
/* s / |s| [D], what a coarse pre-filter dots with the cached coarse vector. */
const float *tcmgc_query_sentence(const tcmgc_query *q);

/* What a score can report besides the score itself. */
typedef struct {
	float score;
	float z[4];      /* S_vs, S_vw, S_sf, S_fw (video-sentence, video-word,
	                    sentence-frame, frame-word), logit-scaled */
	float omega[4];  /* LSA weights, softmax(Z P) */
	float *word_attn; /* [L, F] LVA attention of each word over the frames, or NULL */
	float *sent_attn; /* [F] the sentence's attention, or NULL */
	int *word_best;   /* [L] each word's most attended frame, or NULL */
	int best_frame;   /* the best moment: the real frame the sentence attends most */
} tcmgc_detail;

/*
 * Score one (query, video) pair; detail (optional) gets the breakdown,
 * and its non-NULL arrays are filled.  Returns 0, or -1 with *cause.
 */
int tcmgc_score(const tcmgc *t, const tcmgc_query *q, const float *cache, float *score,
    tcmgc_detail *detail, char **cause);

/*
 * Score n videos at once for a search: their Kc blocks are contiguous in
 * kc [n F, D] and their extras (cache + tcmgc_cache_extras_offset) are at
 * extras + i * extras_stride.  scores [n].  scratch holds
 * tcmgc_batch_scratch_floats(t, q, n) floats and must have been zeroed
 * once (tensor_zalloc) before its first use with this query shape.  Thread-safe (one scratch per
 * thread); the probe products of 8 videos at a time are one block product
 * (core/scan: scan_block) of their 8 F frame rows against all probes.
 */
size_t tcmgc_batch_scratch_floats(const tcmgc *t, const tcmgc_query *q, int n);
void tcmgc_score_batch(const tcmgc *t, const tcmgc_query *q, const float *kc,
    const float *extras, size_t extras_stride, int n, float *scores, float *scratch);
/*
 * tcmgc_score_batch for a search that only needs the videos scoring at
 * least at_least: a video whose score is proved below it (an upper bound
 * from its probe products and normalisers, proved in tcmgc.c's
 * tcmgc_bound, taken before the out · probe values and the granularity
 * scores) gets NAN instead; every other one gets exactly the score
 * tcmgc_score_batch gives.  Returns how many were scored in full.
 */
int tcmgc_score_batch_above(const tcmgc *t, const tcmgc_query *q, const float *kc,
    const float *extras, size_t extras_stride, int n, float at_least, float *scores,
    float *scratch);

#endif
