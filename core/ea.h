/*
 * ea — the EA heads (excitation and aggregation on CLIP4Clip, MODELS.md 2):
 * every loose type (meanP, seqLSTM, seqTransf with the excitation,
 * aggregation and excitation-and-aggregation blocks, intra_mlp when the file
 * has it) and the tight type (excitation, cross encoder, pooler,
 * similarity_dense).
 *
 * Settings, from the model file's __metadata__ (architecture "ea"):
 *   clipgrep.ea.sim_header        meanP | seqLSTM | seqTransf | tightTransf
 *                                 (default meanP)
 *   clipgrep.ea.se_type           none | excitation | aggregation |
 *                                 excitation_aggregation | excitation_seq |
 *                                 excitation_seq_aggregation
 *                                 (default excitation_aggregation)
 *   clipgrep.ea.reduction_ratio   r > 1 squeezes (ReLU), r < 1 expands
 *                                 (ReLU6); hidden = int(F // r) (default 4)
 *   clipgrep.ea.aggregation_type  unity | squeeze_expand | expand_squeeze,
 *                                 for the two blocks of excitation_aggregation
 *                                 and excitation_seq_aggregation (default unity)
 * The defaults are the EA README's first configuration.  tightTransf takes
 * se_type excitation or none; the *_seq types need a sequential header.
 *
 * Reference quirks kept (MODELS.md): the squeeze averages every frame,
 * padded ones included; frames are not L2-normalised before pooling;
 * Excitation_Aggregation_Block uses ReLU whatever r; intra_mlp runs on the
 * loose types whenever the file has it, except excitation_seq_aggregation
 * (upstream crashes there); a tight checkpoint's intra_mlp and linear_mat
 * are never used.
 *
 * Training-free form (architecture "clip", CLIP weights only): CLIP4Clip's
 * meanP, i.e. the masked mean of the L2-normalised frame embeddings,
 * normalised; no block, no intra_mlp.
 *
 * The score is what the reference ranks by: loose types exp(logit_scale) *
 * cos(s, v) (logit_scale from clip.logit_scale, ln 100 when absent); the
 * tight type similarity_dense(pooled), no scale.
 *
 * Per-video cache (a flat float blob the index stores; D = embed dim,
 * F = frames):
 *   loose  [0, D)          v̂, the normalised video vector
 *          [D, D+F)        excitation weights e (1 where no excitation)
 *          [D+F, D+2F)     aggregation weights g (the masked-mean weights
 *                          mask/sum(mask) where there is no aggregation)
 *          [D+2F, D+3F)    intra_mlp weights (1 where not applied)
 *   tight  [0, F D)        excited frames plus cross position rows 1..F
 *          [F D, F D+F)    video mask
 *          [F D+F, F D+2F) excitation weights e
 *          [F D+2F, +D)    coarse vector: normalised masked mean of the
 *                          normalised excited frames (for a pre-filter)
 */
#ifndef CLIPGREP_EA_H
#define CLIPGREP_EA_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

typedef struct ea ea;

/*
 * Read the head's settings and weights from m, which must outlive the
 * result.  Errors name the file, the key or the tensor.
 */
ea *ea_load(model *m, char **cause);
void ea_free(ea *e);

int ea_frames(const ea *e);
int ea_dim(const ea *e);
bool ea_is_tight(const ea *e);
bool ea_is_training_free(const ea *e);
/* e.g. "seqTransf, aggregation r=0.25 (ReLU6), intra_mlp". */
const char *ea_describe(const ea *e);

size_t ea_video_cache_floats(const ea *e);

/*
 * The text-independent part, once per video at index time.
 *   v     [F, D]  CLIP frame embeddings
 *   mask  [F]     1 real, 0 padding
 *   cache [ea_video_cache_floats]
 * Thread-safe.  Returns 0 or -1 with *cause.
 */
int ea_prepare_video(const ea *e, const float *v, const float *mask, float *cache,
    char **cause);

/* The per-frame weights stored in a cache: excitation [F]; aggregation and
 * intra [F] (NULL for the tight type). */
const float *ea_cache_excitation(const ea *e, const float *cache);
const float *ea_cache_aggregation(const ea *e, const float *cache);
const float *ea_cache_intra(const ea *e, const float *cache);
/* The D-vector a coarse pre-filter dots with ŝ (loose: v̂ itself). */
const float *ea_cache_coarse(const ea *e, const float *cache);
size_t ea_cache_coarse_offset(const ea *e);

/*
 * Loose types: q [D] = exp(logit_scale) * s / |s|, so that a video's score
 * is q · v̂ (cache[0..D)).  Also the coarse query for the tight type.
 */
void ea_query_vector(const ea *e, const float *s, float *q);

/*
 * Scores of the sentence feature s [D] (raw, as the text tower gives it)
 * against n videos' caches (caches[i] points at one blob).  The tight type
 * runs the cross encoder on all n pairs in one batch.  Thread-safe.
 */
int ea_score_many(const ea *e, const float *s, const float *const *caches, int n,
    float *scores, char **cause);

#endif
