/*
 * textenc — the CLIP text tower (MODELS.md §1.2): a query's L token ids in,
 * its sentence feature and per-position word features out.
 *
 * The sequence is L tokens (max_words, e.g. 32), not CLIP's 77: only the
 * first L positional embeddings are used and the causal mask is built for
 * length L.  All shapes come from the model's configuration.
 */
#ifndef CLIPGREP_TEXTENC_H
#define CLIPGREP_TEXTENC_H

#include <stdatomic.h>
#include <stdint.h>

#include "linear.h"
#include "model.h"

typedef struct textenc textenc;

/*
 * Read and shape-check every text-tower weight of m (errors name the file
 * and the tensor) and allocate scratch for sequences of L tokens,
 * 1 <= L <= the model's context length.  m must outlive the result.
 */
textenc *textenc_new(model *m, int L, char **cause);
/*
 * The same with the kernel for the blocks' projections chosen: with 32
 * rows the repacked kernels of core/linear run about twice as fast as the
 * BLAS, for a copy of the block weights (151 MB at ViT-B/32).
 * textenc_new uses LINEAR_AUTO; LINEAR_BLAS keeps no copy.  A bf16 kernel
 * (LINEAR_BF16, LINEAR_BF16_FMA, LINEAR_BF16_REF) runs the tower in bf16
 * (half the copy).  The repacking kernels release m's fp32 copies of the
 * weights they packed (model_tensor_release): build no BLAS text tower on
 * m while such a tower exists.
 */
textenc *textenc_new_kernel(model *m, int L, linear_kernel kernel, char **cause);
/* Safe on NULL and on a half-built tower. */
void textenc_free(textenc *t);

/*
 * Encode one query.
 *   ids      [L]         token ids, each in [0, vocab): SOT, words, EOT, zero padding
 *   sentence [embed]     H[argmax(ids)], the EOT position's feature; may be NULL
 *   words    [L, embed]  H, every position including SOT, EOT and padding
 *                        (the reference keeps them all); may be NULL
 * where H = ln_final(blocks(tok_emb[ids] + pos[0..L-1])) · text_projection.
 * Neither output is L2-normalised.  Without words only the positions up
 * to EOT are computed (the mask is causal, so the sentence is the same),
 * which is what a sentence-level model (EA) needs.  Returns 0, or -1 with
 * *cause (an id outside the vocabulary is named with its position).
 */
int textenc_encode(textenc *t, const int32_t *ids, float *sentence, float *words, char **cause);
/*
 * textenc_encode that gives up when *cancel (may be NULL) is nonzero
 * before a block: it then returns 1, and sentence and words are not
 * written.  A block of ViT-B/32's text tower is about a millisecond of
 * one core, so a search superseded while its text is encoded stops within
 * about that (core/engine: engine_set_cancel).
 */
int textenc_encode_cancellable(textenc *t, const int32_t *ids, float *sentence, float *words,
    atomic_int *cancel, char **cause);

int textenc_length(const textenc *t); /* L */
int textenc_embed_dim(const textenc *t);

#endif
