/*
 * ops — neural-network operators on fp32 row-major arrays.  The heavy
 * lifting is delegated to tensor.c's GEMMs (or core/linear's, when a block
 * carries repacked weights); what is here is the glue whose exact
 * semantics the reference fixes (eps, masks, head layout).  That glue is
 * SIMD and shared out over core/parallel's threads, so that at ViT-B/32
 * sizes it costs a few percent of the GEMMs rather than a quarter.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops.h"
#include "parallel.h"
#include "tensor.h"

/*
 * Short SIMD vectors in GCC/clang's generic vector extension: four floats,
 * which every x86-64 (SSE2) and arm64 (NEON) register holds, so the
 * compiler emits straight SIMD code without -m flags.  Every elementwise
 * loop below runs 4 floats at a time; a tail goes through the same code
 * padded into one vector, so a value's result does not depend on where it
 * sits in the array.
 */
typedef float ops_v4f __attribute__((vector_size(16)));
typedef int32_t ops_v4i __attribute__((vector_size(16)));
typedef double ops_v2d __attribute__((vector_size(16)));
typedef float ops_v2f __attribute__((vector_size(8)));

#define OPS_SPLAT4(c) ((ops_v4f){ (c), (c), (c), (c) })

static inline ops_v4f ops_load4(const float *p)
{
	ops_v4f v;

	memcpy(&v, p, sizeof v);
	return v;
}

static inline void ops_store4(float *p, ops_v4f v)
{
	memcpy(p, &v, sizeof v);
}

/* Two floats widened to double. */
static inline ops_v2d ops_load2d(const float *p)
{
	ops_v2f v;

	memcpy(&v, p, sizeof v);
	return __builtin_convertvector(v, ops_v2d);
}

/* mask ? a : b per lane, mask from a vector comparison (all ones or zero). */
static inline ops_v4f ops_select(ops_v4i mask, ops_v4f a, ops_v4f b)
{
	return (ops_v4f)(((ops_v4i)a & mask) | ((ops_v4i)b & ~mask));
}

/*
 * e^x, 4 lanes: x = n ln2 + r with |r| <= ln2/2, e^r by Cephes' expf
 * polynomial, 2^n by building the exponent bits.  Within 2 ulp of expf
 * over the range; results below FLT_MIN (x < -87.3) are 0, so -INFINITY
 * gives 0 as softmax needs; x above 88.3 saturates near FLT_MAX.
 */
static inline ops_v4f ops_exp4(ops_v4f x)
{
	const ops_v4f lo = OPS_SPLAT4(-87.3f), hi = OPS_SPLAT4(88.3f);
	const ops_v4f magic = OPS_SPLAT4(12582912.0f); /* 1.5 * 2^23: round to integer */
	ops_v4i under = x < lo;

	x = ops_select(x > hi, hi, x);
	x = ops_select(under, lo, x);
	ops_v4f fx = x * 1.44269504088896341f + magic;
	ops_v4i n = (ops_v4i)fx - (ops_v4i)magic; /* round(x / ln2) as an integer */
	fx = fx - magic;
	ops_v4f r = x - fx * 0.693359375f;
	r = r - fx * -2.12194440e-4f;
	ops_v4f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * (r * r) + r + 1.0f;
	ops_v4f scale = (ops_v4f)((n + 127) << 23);
	return ops_select(under, OPS_SPLAT4(0.0f), p * scale);
}

typedef struct {
	float *y;
	const float *x, *gamma, *beta;
	int rows, dim;
	float eps;
} ops_layer_norm_job;

static void ops_layer_norm_part(void *ctx, int part, int parts)
{
	const ops_layer_norm_job *j = ctx;
	const float *x = j->x, *gamma = j->gamma, *beta = j->beta;
	float *y = j->y, eps = j->eps;
	int dim = j->dim;
	int r0 = (int)((int64_t)j->rows * part / parts), r1 = (int)((int64_t)j->rows * (part + 1) / parts);

	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * dim;
		float *yr = y + (size_t)r * dim;
		/* Two passes in double: the mean must be exact before the
		 * variance, or rows with a large offset lose precision.  Double
		 * lanes keep it about as fast as the float work around it. */
		ops_v2d a0 = { 0, 0 }, a1 = { 0, 0 };
		double mean, var;
		int i;

		for (i = 0; i + 4 <= dim; i += 4) {
			a0 += ops_load2d(xr + i);
			a1 += ops_load2d(xr + i + 2);
		}
		a0 += a1;
		mean = a0[0] + a0[1];
		for (; i < dim; i++)
			mean += xr[i];
		mean /= dim;
		a0 = a1 = (ops_v2d){ 0, 0 };
		for (i = 0; i + 4 <= dim; i += 4) {
			ops_v2d d0 = ops_load2d(xr + i) - mean, d1 = ops_load2d(xr + i + 2) - mean;
			a0 += d0 * d0;
			a1 += d1 * d1;
		}
		a0 += a1;
		var = a0[0] + a0[1];
		for (; i < dim; i++) {
			double d = xr[i] - mean;
			var += d * d;
		}
		var /= dim;
		float inv = (float)(1.0 / sqrt(var + (double)eps));
		float m = (float)mean;
		for (i = 0; i + 4 <= dim; i += 4)
			ops_store4(yr + i, (ops_load4(xr + i) - m) * inv * ops_load4(gamma + i) +
			    ops_load4(beta + i));
		for (; i < dim; i++)
			yr[i] = (xr[i] - m) * inv * gamma[i] + beta[i];
	}
}

void ops_layer_norm(float *y, const float *x, const float *gamma, const float *beta,
    int rows, int dim, float eps)
{
	ops_layer_norm_job j = { y, x, gamma, beta, rows, dim, eps };

	/* Rows are independent; worth a thread above ~8K values. */
	parallel_run(ops_layer_norm_part, &j, (size_t)rows * dim, 8192, PARALLEL_MAX_PARTS);
}

/* x / (1 + e^(-1.702 x)) */
static inline ops_v4f ops_quick_gelu4(ops_v4f x)
{
	return x / (ops_exp4(x * -1.702f) + 1.0f);
}

void ops_quick_gelu(float *x, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4)
		ops_store4(x + i, ops_quick_gelu4(ops_load4(x + i)));
	if (i < n) {
		float tail[4] = { 0 };
		memcpy(tail, x + i, sizeof(float) * (n - i));
		ops_store4(tail, ops_quick_gelu4(ops_load4(tail)));
		memcpy(x + i, tail, sizeof(float) * (n - i));
	}
}

void ops_softmax(float *x, int n)
{
	float max = -INFINITY;
	ops_v4f sum4 = { 0, 0, 0, 0 };
	int i;

	for (i = 0; i < n; i++)
		if (x[i] > max)
			max = x[i];
	if (max == -INFINITY) {
		memset(x, 0, sizeof(float) * (size_t)n);
		return;
	}
	for (i = 0; i + 4 <= n; i += 4) {
		ops_v4f e = ops_exp4(ops_load4(x + i) - max);
		sum4 += e;
		ops_store4(x + i, e);
	}
	if (i < n) {
		/* Padding lanes are -inf, so they add 0 to the sum. */
		float tail[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
		memcpy(tail, x + i, sizeof(float) * (size_t)(n - i));
		ops_v4f e = ops_exp4(ops_load4(tail) - max);
		sum4 += e;
		ops_store4(tail, e);
		memcpy(x + i, tail, sizeof(float) * (size_t)(n - i));
	}
	float inv = (float)(1.0 / (((double)sum4[0] + sum4[1]) + ((double)sum4[2] + sum4[3])));
	for (i = 0; i < n; i++)
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

	/* qkv [rows, 3 dim], context [rows, dim], scores [PARALLEL_MAX_PARTS, tokens, tokens] */
	return rows * 3 * dim + rows * dim + (size_t)PARALLEL_MAX_PARTS * tokens * tokens;
}

typedef struct {
	float *context;
	const float *qkv;
	int batch, tokens, dim, heads;
	const float *key_bias;
	bool causal;
	float *scores; /* [PARALLEL_MAX_PARTS, tokens, tokens] */
} ops_attention_job;

/* One part's share of the (sequence, head) pairs. */
static void ops_attention_part(void *ctx, int part, int parts)
{
	const ops_attention_job *j = ctx;
	int tokens = j->tokens, dim = j->dim, heads = j->heads;
	int head_dim = dim / heads, qkv_stride = 3 * dim;
	int pairs = j->batch * heads, p0 = (int)((int64_t)pairs * part / parts);
	int p1 = (int)((int64_t)pairs * (part + 1) / parts);
	float *scores = j->scores + (size_t)part * tokens * tokens; /* [tokens, tokens] */
	float scale = 1.0f / sqrtf((float)head_dim);

	for (int p = p0; p < p1; p++) {
		int b = p / heads, h = p % heads;
		const float *bias = j->key_bias != NULL ? j->key_bias + (size_t)b * tokens : NULL;
		const float *base = j->qkv + (size_t)b * tokens * qkv_stride;
		const float *q = base + h * head_dim;           /* [tokens, head_dim], stride 3 dim */
		const float *k = base + dim + h * head_dim;     /* same layout */
		const float *v = base + 2 * dim + h * head_dim; /* same layout */
		float *out = j->context + (size_t)b * tokens * dim + h * head_dim;

		/* scores = (q / sqrt(d)) kᵀ; torch scales q before the product. */
		tensor_gemm(false, true, tokens, tokens, head_dim, scale, q, qkv_stride,
		    k, qkv_stride, 0, scores, tokens);
		for (int i = 0; i < tokens; i++) {
			float *row = scores + (size_t)i * tokens;
			if (bias != NULL)
				for (int c = 0; c < tokens; c++)
					row[c] += bias[c];
			if (j->causal)
				for (int c = i + 1; c < tokens; c++)
					row[c] = -INFINITY;
			ops_softmax(row, tokens);
		}
		tensor_gemm(false, false, tokens, head_dim, tokens, 1, scores, tokens,
		    v, qkv_stride, 0, out, dim);
	}
}

/*
 * Attention proper, from the packed projections to the heads' outputs:
 *   context [batch * tokens, dim]
 *   qkv     [batch * tokens, 3 dim]  rows q | k | v, biases included
 *   scores  [PARALLEL_MAX_PARTS, tokens, tokens] scratch
 * The (sequence, head) pairs are independent and each is too small for the
 * BLAS to thread, so they are shared out between threads here.
 */
static void ops_attention(float *context, const float *qkv, int batch, int tokens, int dim,
    int heads, const float *key_bias, bool causal, float *scores)
{
	ops_attention_job j = { context, qkv, batch, tokens, dim, heads, key_bias, causal, scores };

	/* Two products of tokens² · dim multiply-adds per sequence: worth a
	 * thread above ~64K. */
	parallel_run(ops_attention_part, &j, (size_t)batch * tokens * tokens * dim, (size_t)1 << 16,
	    batch * heads);
}

void ops_mha(float *out, const float *x, int batch, int tokens, int dim, int heads,
    const ops_mha_weights *w, const float *key_bias, bool causal, float *scratch)
{
	int rows = batch * tokens;
	float *qkv = scratch;                          /* [rows, 3 dim] */
	float *context = qkv + (size_t)rows * 3 * dim; /* [rows, dim] */
	float *scores = context + (size_t)rows * dim;  /* [PARALLEL_MAX_PARTS, tokens, tokens] */

	if (w->in_proj_packed != NULL)
		linear_forward(w->in_proj_packed, qkv, x, w->in_proj_bias, rows, false);
	else
		tensor_linear(qkv, x, w->in_proj_weight, w->in_proj_bias, rows, dim, 3 * dim);
	ops_attention(context, qkv, batch, tokens, dim, heads, key_bias, causal, scores);
	if (w->out_proj_packed != NULL)
		linear_forward(w->out_proj_packed, out, context, w->out_proj_bias, rows, false);
	else
		tensor_linear(out, context, w->out_proj_weight, w->out_proj_bias, rows, dim, dim);
}

/* x[r] += bias for each of rows rows of n values. */
static void ops_add_rows(float *x, const float *bias, size_t rows, int n)
{
	for (size_t r = 0; r < rows; r++) {
		float *xr = x + r * n;
		int i;
		for (i = 0; i + 4 <= n; i += 4)
			ops_store4(xr + i, ops_load4(xr + i) + ops_load4(bias + i));
		for (; i < n; i++)
			xr[i] += bias[i];
	}
}

/* x[r] = bias for each of rows rows of n values. */
static void ops_copy_rows(float *x, const float *bias, size_t rows, int n)
{
	for (size_t r = 0; r < rows; r++)
		memcpy(x + r * n, bias, sizeof(float) * (size_t)n);
}

typedef struct {
	float *x;
	const float *bias;
	size_t rows;
	int n;
} ops_rows_job;

static void ops_bias_quick_gelu_part(void *ctx, int part, int parts)
{
	ops_rows_job *j = ctx;
	float *x = j->x;
	const float *bias = j->bias;
	int n = j->n;
	size_t r0 = j->rows * part / parts, r1 = j->rows * (part + 1) / parts;

	for (size_t r = r0; r < r1; r++) {
		float *xr = x + r * n;
		int i;
		for (i = 0; i + 4 <= n; i += 4)
			ops_store4(xr + i, ops_quick_gelu4(ops_load4(xr + i) + ops_load4(bias + i)));
		for (; i < n; i++) {
			float tail[4] = { xr[i] + bias[i], 0, 0, 0 };
			ops_store4(tail, ops_quick_gelu4(ops_load4(tail)));
			xr[i] = tail[0];
		}
	}
}

/* x = QuickGELU(x + bias) over rows rows of n values: c_fc's bias and activation in one pass. */
static void ops_bias_quick_gelu(float *x, const float *bias, size_t rows, int n)
{
	ops_rows_job j = { x, bias, rows, n };

	/* Worth a thread above ~8K activations. */
	parallel_run(ops_bias_quick_gelu_part, &j, rows * n, 8192, PARALLEL_MAX_PARTS);
}

size_t ops_block_scratch_floats(int batch, int tokens, int dim, int hidden)
{
	size_t rows = (size_t)batch * tokens;

	/* normed [rows, dim], mlp [rows, hidden], then MHA's */
	return rows * dim + rows * hidden + ops_mha_scratch_floats(batch, tokens, dim);
}

/*
 * The two residual branches end in a Linear whose output is added to x:
 * x += bias first, then the GEMM accumulates into x (beta = 1), so neither
 * branch makes an extra pass over memory.  The sum is the same up to the
 * order of two float additions.
 */
void ops_block_forward(float *x, int batch, int tokens, int dim, int heads, int hidden,
    const ops_block_weights *w, float ln_eps, const float *key_bias, bool causal,
    float *scratch)
{
	ops_block_forward_groups(x, batch, tokens, dim, heads, hidden, w, ln_eps, key_bias, causal,
	    NULL, 0, scratch);
}

void ops_block_forward_groups(float *x, int batch, int tokens, int dim, int heads, int hidden,
    const ops_block_weights *w, float ln_eps, const float *key_bias, bool causal,
    const int *group_rows, int n_groups, float *scratch)
{
	size_t rows = (size_t)batch * tokens;
	float *normed = scratch;                       /* [rows, dim] */
	float *mlp = normed + rows * dim;              /* [rows, hidden] */
	float *qkv = mlp + rows * hidden;              /* [rows, 3 dim] */
	float *context = qkv + rows * 3 * dim;         /* [rows, dim] */
	float *scores = context + rows * dim;          /* [PARALLEL_MAX_PARTS, tokens, tokens] */
	int r = (int)rows;

	ops_layer_norm(normed, x, w->ln_1_weight, w->ln_1_bias, r, dim, ln_eps);
	/* Packed weights first: linear_forward's rows are independent, as groups want. */
	if (w->attn.in_proj_packed != NULL)
		linear_forward(w->attn.in_proj_packed, qkv, normed, w->attn.in_proj_bias, r, false);
	else if (group_rows != NULL) {
		ops_copy_rows(qkv, w->attn.in_proj_bias, rows, 3 * dim);
		tensor_gemm_groups(true, group_rows, n_groups, 3 * dim, dim, normed, dim,
		    w->attn.in_proj_weight, dim, 1, qkv, 3 * dim);
	} else
		tensor_linear(qkv, normed, w->attn.in_proj_weight, w->attn.in_proj_bias, r, dim,
		    3 * dim);
	ops_attention(context, qkv, batch, tokens, dim, heads, key_bias, causal, scores);
	if (w->attn.out_proj_packed != NULL) {
		linear_forward(w->attn.out_proj_packed, x, context, w->attn.out_proj_bias, r, true);
	} else if (group_rows != NULL) {
		ops_add_rows(x, w->attn.out_proj_bias, rows, dim);
		tensor_gemm_groups(true, group_rows, n_groups, dim, dim, context, dim,
		    w->attn.out_proj_weight, dim, 1, x, dim);
	} else {
		ops_add_rows(x, w->attn.out_proj_bias, rows, dim);
		tensor_gemm(false, true, r, dim, dim, 1, context, dim, w->attn.out_proj_weight, dim,
		    1, x, dim);
	}

	ops_layer_norm(normed, x, w->ln_2_weight, w->ln_2_bias, r, dim, ln_eps);
	if (w->c_fc_packed != NULL)
		linear_forward(w->c_fc_packed, mlp, normed, NULL, r, false);
	else if (group_rows != NULL)
		tensor_gemm_groups(true, group_rows, n_groups, hidden, dim, normed, dim,
		    w->c_fc_weight, dim, 0, mlp, hidden);
	else
		tensor_gemm(false, true, r, hidden, dim, 1, normed, dim, w->c_fc_weight, dim, 0,
		    mlp, hidden);
	ops_bias_quick_gelu(mlp, w->c_fc_bias, rows, hidden);
	if (w->c_proj_packed != NULL) {
		linear_forward(w->c_proj_packed, x, mlp, w->c_proj_bias, r, true);
	} else if (group_rows != NULL) {
		ops_add_rows(x, w->c_proj_bias, rows, dim);
		tensor_gemm_groups(true, group_rows, n_groups, dim, hidden, mlp, hidden,
		    w->c_proj_weight, hidden, 1, x, dim);
	} else {
		ops_add_rows(x, w->c_proj_bias, rows, dim);
		tensor_gemm(false, true, r, dim, hidden, 1, mlp, hidden, w->c_proj_weight, hidden,
		    1, x, dim);
	}
}
