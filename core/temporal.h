/*
 * temporal — the sequence encoders that sit between the CLIP image tower
 * and the retrieval heads (MODELS.md 1.5 and 2.4):
 *
 *   seqTransf  X = V + frame_position_embeddings[0..F-1]; the residual
 *              blocks transformerClip.resblocks.* (TF LayerNorm, eps
 *              1e-12; additive -1e6 on the keys of padded frames, no
 *              causal mask); V' = X_out + V.
 *   seqLSTM    lstm_visual (one layer, hidden = D, gates i,f,g,o as in
 *              torch) over the real frames, then V' = LSTM(V) + V.
 *
 * seqLSTM padding: upstream packs the batch by video length and pads the
 * LSTM output to the longest video in the batch, so a padded row's value
 * depends on which other videos share the batch.  clipgrep scores one
 * video at a time as if a full-length video were in the batch: the LSTM
 * runs over the first n = sum(mask) frames (real frames first, padding
 * after, as pack_padded_sequence assumes) and padded rows get a zero LSTM
 * output, i.e. V'_i = V_i.
 *
 * The number of transformer layers is read from the file; the head count
 * is the text tower's (clipgrep.text.heads, width / 64 for CLIP), which is
 * what the upstream TransformerClip is built with.
 */
#ifndef CLIPGREP_TEMPORAL_H
#define CLIPGREP_TEMPORAL_H

#include "model.h"
#include "ops.h"

typedef enum {
	TEMPORAL_NONE,      /* V' = V */
	TEMPORAL_SEQ_TRANSF,
	TEMPORAL_SEQ_LSTM
} temporal_kind;

typedef struct temporal temporal;

/*
 * Read the weights of `kind` for frames F and width dim from m (which must
 * outlive the result).  Errors name the file and the tensor.
 */
temporal *temporal_load(model *m, temporal_kind kind, int frames, int dim, char **cause);
void temporal_free(temporal *t);

temporal_kind temporal_get_kind(const temporal *t);

/*
 * out = V' for one video.
 *   v    [F, dim]  raw CLIP frame embeddings
 *   mask [F]       1 for a real frame, 0 for padding
 *   out  [F, dim]  may not alias v
 * Returns 0, or -1 with *cause (out of memory).  Thread-safe: scratch is
 * allocated per call.
 */
int temporal_forward(const temporal *t, const float *v, const float *mask, float *out,
    char **cause);

/*
 * The residual blocks prefix0., prefix1., ... (as many as the file has,
 * at least one), width dim, MLP hidden 4 dim.  *blocks is malloc'd (the
 * caller free()s it); the pointers inside are owned by m.  Shared with the
 * EA cross encoder.
 */
int temporal_load_blocks(model *m, const char *prefix, int dim, ops_block_weights **blocks,
    int *layers, char **cause);

#endif
