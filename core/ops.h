/*
 * ops — the neural-network operators every encoder in clipgrep is built
 * from: LayerNorm, QuickGELU, softmax, multi-head attention with PyTorch's
 * packed in_proj layout, and the CLIP residual block.  All fp32, row-major.
 */
#ifndef CLIPGREP_OPS_H
#define CLIPGREP_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "linear.h"

/* LayerNorm eps values fixed by the reference (MODELS.md). */
#define OPS_LN_EPS_CLIP 1e-5f /* CLIP towers and LVA */
#define OPS_LN_EPS_TF 1e-12f  /* transformerClip and cross encoder */

/*
 * y = (x - mean) / sqrt(var + eps) * gamma + beta over each row of dim
 * values (biased variance, as torch).  y may equal x.
 */
void ops_layer_norm(float *y, const float *x, const float *gamma, const float *beta,
    int rows, int dim, float eps);

/* x = x * sigmoid(1.702 x), in place. */
void ops_quick_gelu(float *x, size_t n);

/*
 * In-place softmax over n values.  Values of -INFINITY get weight 0; a row
 * that is all -INFINITY becomes all zeros (torch would give NaN; no
 * clipgrep caller builds one).
 */
void ops_softmax(float *x, int n);

/* Scale each of rows rows of dim values to unit L2 norm (zero rows stay zero). */
void ops_l2_normalize(float *x, int rows, int dim);

/*
 * Multi-head self-attention, PyTorch nn.MultiheadAttention semantics with
 * packed weights (q, k, v rows in that order; q scaled by 1/sqrt(head dim)).
 */
typedef struct {
	const float *in_proj_weight;  /* [3 * dim, dim] */
	const float *in_proj_bias;    /* [3 * dim] */
	const float *out_proj_weight; /* [dim, dim] */
	const float *out_proj_bias;   /* [dim] */
	/*
	 * Optional: the same projections repacked (core/linear) for products
	 * with few rows; when set they replace the BLAS.  NULL otherwise.
	 */
	const linear *in_proj_packed, *out_proj_packed;
} ops_mha_weights;

/* Floats of scratch ops_mha needs. */
size_t ops_mha_scratch_floats(int batch, int tokens, int dim);

/*
 * out = MHA(x) for batch independent sequences of tokens tokens each.
 *   out      [batch * tokens, dim]  (must not alias x)
 *   x        [batch * tokens, dim]
 *   key_bias [batch, tokens] additive bias per key (e.g. -1e6 for padded
 *            frames, the reference's mask), or NULL
 *   causal   when true, key j > query i is excluded (CLIP's text mask)
 *   scratch  ops_mha_scratch_floats(batch, tokens, dim) floats
 * dim must be a multiple of heads.
 */
void ops_mha(float *out, const float *x, int batch, int tokens, int dim, int heads,
    const ops_mha_weights *w, const float *key_bias, bool causal, float *scratch);

/* One pre-LN CLIP residual attention block. */
typedef struct {
	const float *ln_1_weight, *ln_1_bias; /* [dim] */
	ops_mha_weights attn;
	const float *ln_2_weight, *ln_2_bias; /* [dim] */
	const float *c_fc_weight;             /* [hidden, dim] */
	const float *c_fc_bias;               /* [hidden] */
	const float *c_proj_weight;           /* [dim, hidden] */
	const float *c_proj_bias;             /* [dim] */
	const linear *c_fc_packed, *c_proj_packed; /* optional, as in ops_mha_weights */
} ops_block_weights;

size_t ops_block_scratch_floats(int batch, int tokens, int dim, int hidden);

/*
 * x += attn(ln_1(x)); x += c_proj(QuickGELU(c_fc(ln_2(x)))), in place.
 *   x [batch * tokens, dim]
 * ln_eps is OPS_LN_EPS_CLIP for the CLIP towers and OPS_LN_EPS_TF for the
 * temporal and cross encoders; key_bias and causal as in ops_mha.
 */
void ops_block_forward(float *x, int batch, int tokens, int dim, int heads, int hidden,
    const ops_block_weights *w, float ln_eps, const float *key_bias, bool causal,
    float *scratch);

/*
 * ops_block_forward with its four projections run per row group
 * (tensor_gemm_groups): group g is group_rows[g] consecutive rows of x (a
 * whole number of sequences; the groups cover all batch · tokens rows), so
 * a sequence's result depends only on its own group, not on the rest of
 * the batch or the thread count.  Packed projections, when set, are used
 * instead (linear_forward computes each row from that row alone).
 */
void ops_block_forward_groups(float *x, int batch, int tokens, int dim, int heads, int hidden,
    const ops_block_weights *w, float ln_eps, const float *key_bias, bool causal,
    const int *group_rows, int n_groups, float *scratch);

#endif
