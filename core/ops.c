/*
 * ops — neural-network operators on fp32 row-major arrays.  The heavy
 * lifting is delegated to tensor.c's GEMMs; what is here is the glue whose
 * exact semantics the reference fixes (eps, masks, head layout).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "tensor.h"

void ops_layer_norm(float *y, const float *x, const float *gamma, const float *beta,
    int rows, int dim, float eps)
{
	for (int r = 0; r < rows; r++) {
		const float *xr = x + (size_t)r * dim;
		float *yr = y + (size_t)r * dim;
		/* Two passes in double: the mean must be exact before the
		 * variance, or rows with a large offset lose precision. */
		double mean = 0, var = 0;

		for (int i = 0; i < dim; i++)
			mean += xr[i];
		mean /= dim;
		for (int i = 0; i < dim; i++) {
			double d = xr[i] - mean;
			var += d * d;
		}
		var /= dim;
		float inv = (float)(1.0 / sqrt(var + (double)eps));
		float m = (float)mean;
		for (int i = 0; i < dim; i++)
			yr[i] = (xr[i] - m) * inv * gamma[i] + beta[i];
	}
}

void ops_quick_gelu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void ops_softmax(float *x, int n)
{
	float max = -INFINITY;
	double sum = 0;

	for (int i = 0; i < n; i++)
		if (x[i] > max)
			max = x[i];
	if (max == -INFINITY) {
		memset(x, 0, sizeof(float) * (size_t)n);
		return;
	}
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	float inv = (float)(1.0 / sum);
	for (int i = 0; i < n; i++)
		x[i] *= inv;
}

void ops_l2_normalize(float *x, int rows, int dim)
{
	for (int r = 0; r < rows; r++) {
		float *xr = x + (size_t)r * dim;
		double ss = 0;

		for (int i = 0; i < dim; i++)
			ss += (double)xr[i] * xr[i];
		if (ss > 0) {
			float inv = (float)(1.0 / sqrt(ss));
			for (int i = 0; i < dim; i++)
				xr[i] *= inv;
		}
	}
}

size_t ops_mha_scratch_floats(int batch, int tokens, int dim)
{
	size_t rows = (size_t)batch * tokens;

	/* qkv [rows, 3 dim], context [rows, dim], scores [tokens, tokens] */
	return rows * 3 * dim + rows * dim + (size_t)tokens * tokens;
}

void ops_mha(float *out, const float *x, int batch, int tokens, int dim, int heads,
    const ops_mha_weights *w, const float *key_bias, bool causal, float *scratch)
{
	int rows = batch * tokens, head_dim = dim / heads, qkv_stride = 3 * dim;
	float *qkv = scratch;                          /* [rows, 3 dim] */
	float *context = qkv + (size_t)rows * 3 * dim; /* [rows, dim] */
	float *scores = context + (size_t)rows * dim;  /* [tokens, tokens] */
	float scale = 1.0f / sqrtf((float)head_dim);

	tensor_linear(qkv, x, w->in_proj_weight, w->in_proj_bias, rows, dim, 3 * dim);
	for (int b = 0; b < batch; b++) {
		const float *bias = key_bias != NULL ? key_bias + (size_t)b * tokens : NULL;
		const float *base = qkv + (size_t)b * tokens * qkv_stride;

		for (int h = 0; h < heads; h++) {
			const float *q = base + h * head_dim;           /* [tokens, head_dim], stride 3 dim */
			const float *k = base + dim + h * head_dim;     /* same layout */
			const float *v = base + 2 * dim + h * head_dim; /* same layout */
			float *ctx = context + (size_t)b * tokens * dim + h * head_dim;

			/* scores = (q / sqrt(d)) kᵀ; torch scales q before the product. */
			tensor_gemm(false, true, tokens, tokens, head_dim, scale, q, qkv_stride,
			    k, qkv_stride, 0, scores, tokens);
			for (int i = 0; i < tokens; i++) {
				float *row = scores + (size_t)i * tokens;
				if (bias != NULL)
					for (int j = 0; j < tokens; j++)
						row[j] += bias[j];
				if (causal)
					for (int j = i + 1; j < tokens; j++)
						row[j] = -INFINITY;
				ops_softmax(row, tokens);
			}
			tensor_gemm(false, false, tokens, head_dim, tokens, 1, scores, tokens,
			    v, qkv_stride, 0, ctx, dim);
		}
	}
	tensor_linear(out, context, w->out_proj_weight, w->out_proj_bias, rows, dim, dim);
}

size_t ops_block_scratch_floats(int batch, int tokens, int dim, int hidden)
{
	size_t rows = (size_t)batch * tokens;

	/* normed [rows, dim], branch [rows, dim], mlp [rows, hidden], then MHA's */
	return rows * dim * 2 + rows * hidden + ops_mha_scratch_floats(batch, tokens, dim);
}

void ops_block_forward(float *x, int batch, int tokens, int dim, int heads, int hidden,
    const ops_block_weights *w, float ln_eps, const float *key_bias, bool causal,
    float *scratch)
{
	size_t rows = (size_t)batch * tokens, n = rows * dim;
	float *normed = scratch;              /* [rows, dim] */
	float *branch = normed + n;           /* [rows, dim] */
	float *mlp = branch + n;              /* [rows, hidden] */
	float *mha_scratch = mlp + rows * hidden;

	ops_layer_norm(normed, x, w->ln_1_weight, w->ln_1_bias, (int)rows, dim, ln_eps);
	ops_mha(branch, normed, batch, tokens, dim, heads, &w->attn, key_bias, causal, mha_scratch);
	for (size_t i = 0; i < n; i++)
		x[i] += branch[i];

	ops_layer_norm(normed, x, w->ln_2_weight, w->ln_2_bias, (int)rows, dim, ln_eps);
	tensor_linear(mlp, normed, w->c_fc_weight, w->c_fc_bias, (int)rows, dim, hidden);
	ops_quick_gelu(mlp, rows * hidden);
	tensor_linear(branch, mlp, w->c_proj_weight, w->c_proj_bias, (int)rows, hidden, dim);
	for (size_t i = 0; i < n; i++)
		x[i] += branch[i];
}
