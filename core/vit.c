/*
 * vit — the CLIP image tower on tensor.c's GEMMs.
 *
 * Per frame (MODELS.md §1.1):
 *   patches = unfold(frame, patch)              [grid², 3·patch²]
 *   x       = [class; patches · conv1ᵀ] + pos    [tokens, width]
 *   x       = ln_pre(x); x = block_l(x) for every layer l
 *   out     = ln_post(x[0]) · proj               [embed]
 *
 * The convolution has stride = kernel, so it is exactly a GEMM over the
 * unfolded patches.  Only the CLS token leaves the tower, and everything
 * after the last attention is per token, so the last block computes keys
 * and values for every token but queries, the MLP and ln_post for the CLS
 * token alone: the same numbers for about 7% fewer FLOPs at ViT-B/32.
 *
 * Precision: fp32 runs every GEMM per group on the BLAS
 * (tensor_gemm_groups).  bf16 (vit_new_kernel with a bf16 kernel) runs the
 * patch embedding, the blocks' four projections and proj on core/linear's
 * bf16 panels, packed once here; everything else (LayerNorm, attention
 * scores and softmax, QuickGELU, residuals) stays fp32.  linear_forward
 * computes each row from that row alone, so groups stay independent.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "ops.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"

struct vit {
	/* config, all from the model file */
	int width, layers, heads, hidden; /* hidden = 4 · width, CLIP's MLP ratio */
	int patch, image_size, grid;      /* grid = image_size / patch */
	int tokens;                       /* grid² + 1 */
	int embed, max_batch;
	int group;                        /* vit_encode's frames per group: F, at most max_batch */

	linear_kernel kernel; /* LINEAR_BLAS, or a bf16 kernel */

	/* weights, owned by the model */
	const float *conv1;                /* [width, 3 · patch · patch] */
	const float *class_embedding;      /* [width] */
	const float *positional_embedding; /* [tokens, width] */
	const float *ln_pre_weight, *ln_pre_bias;   /* [width] */
	ops_block_weights *blocks;                  /* [layers] */
	const float *ln_post_weight, *ln_post_bias; /* [width] */
	const float *proj;                          /* [width, embed] */

	/* bf16: the GEMM weights packed (core/linear), owned; NULL for fp32 */
	linear *conv1_packed;  /* conv1 as [width, 3 · patch · patch] */
	linear *proj_packed;   /* projᵀ [embed, width] */
	linear **packed;       /* [layers, 4]: in_proj, out_proj, c_fc, c_proj; the last
	                          layer's in_proj is split: [0] q rows, [4] k and v rows */
	linear *last_kv;

	/* scratch, owned */
	float *x;       /* [max_batch · tokens, width], the residual stream */
	float *cls;     /* [max_batch, width], CLS after the last block */
	float *scratch; /* vit_scratch_floats(max_batch) floats */
	int *counts;    /* [max_batch] vit_encode's group sizes */
	int *rows;      /* [max_batch] one GEMM's rows per group */
};

/* The rows of each of n groups of counts[g] frames, mult rows a frame. */
static const int *vit_group_rows(vit *v, const int *counts, int n, int mult)
{
	for (int g = 0; g < n; g++)
		v->rows[g] = counts[g] * mult;
	return v->rows;
}

/*
 * tensor_linear per row group: y = x wᵀ + bias, y [Σ rows, out], x [Σ rows, in], w [out, in];
 * on the packed weight p instead when it is given (bf16).
 */
static void vit_linear(float *y, const float *x, const float *w, const linear *p,
    const float *bias, const int *rows, int n, int in, int out)
{
	float beta = 0;

	if (p != NULL) {
		int total = 0;
		for (int g = 0; g < n; g++)
			total += rows[g];
		linear_forward(p, y, x, bias, total, false);
		return;
	}

	if (bias != NULL) {
		size_t total = 0;
		for (int g = 0; g < n; g++)
			total += (size_t)rows[g];
		for (size_t r = 0; r < total; r++)
			memcpy(y + r * out, bias, sizeof(float) * (size_t)out);
		beta = 1;
	}
	tensor_gemm_groups(true, rows, n, out, in, x, in, w, in, beta, y, out);
}

/* Floats of scratch for the last, CLS-only block. */
static size_t vit_last_block_floats(const vit *v, int batch)
{
	size_t rows = (size_t)batch * v->tokens, b = (size_t)batch;

	/* normed [rows, w], kv [rows, 2w], q/ctx/t [b, w], mlp [b, hidden], scores [tokens] */
	return rows * 3 * v->width + b * 3 * v->width + b * v->hidden + (size_t)v->tokens;
}

static size_t vit_scratch_floats(const vit *v, int batch)
{
	size_t npatch = (size_t)batch * v->grid * v->grid;
	size_t embed = npatch * (3 * (size_t)v->patch * v->patch + v->width);
	size_t block = ops_block_scratch_floats(batch, v->tokens, v->width, v->hidden);
	size_t last = vit_last_block_floats(v, batch);
	size_t n = embed > block ? embed : block;

	return n > last ? n : last;
}

vit *vit_new(model *m, int max_batch, char **cause)
{
	return vit_new_kernel(m, max_batch, LINEAR_BLAS, cause);
}

/* w [rows, cols] transposed into a new [cols, rows] and packed for k. */
static linear *vit_pack_transposed(const float *w, int rows, int cols, linear_kernel k,
    char **cause)
{
	float *wt = tensor_alloc((size_t)rows * cols);
	linear *l;

	if (wt == NULL) {
		util_set_cause(cause, "vit_new: out of memory");
		return NULL;
	}
	for (int i = 0; i < rows; i++)
		for (int o = 0; o < cols; o++)
			wt[(size_t)o * rows + i] = w[(size_t)i * cols + o];
	l = linear_new(wt, cols, rows, k, cause);
	tensor_free(wt);
	return l;
}

/*
 * bf16: pack the patch embedding and proj for kernel k (vit_pack_block does
 * the blocks, each as soon as it is read).  The model's fp32 copies of
 * packed weights are released at once (model_tensor_release), so the tower
 * is resident once, in bf16, and loading never holds the whole fp32 tower.
 */
static int vit_pack(vit *v, model *m, linear_kernel k, char **cause)
{
	int D = v->width;

	if ((v->packed = calloc((size_t)v->layers * 4, sizeof *v->packed)) == NULL) {
		util_set_cause(cause, "vit_new: out of memory");
		return -1;
	}
	if ((v->conv1_packed = linear_new(v->conv1, D, 3 * v->patch * v->patch, k, cause)) == NULL ||
	    (v->proj_packed = vit_pack_transposed(v->proj, D, v->embed, k, cause)) == NULL)
		return -1;
	model_tensor_release(m, "clip.visual.conv1.weight");
	model_tensor_release(m, "clip.visual.proj");
	v->conv1 = v->proj = NULL;
	return 0;
}

/* bf16: pack block l's four projections and point the block at them. */
static int vit_pack_block(vit *v, model *m, int l, linear_kernel k, char **cause)
{
	static const char *const packed_names[4] = {
		"attn.in_proj_weight", "attn.out_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"
	};
	ops_block_weights *w = &v->blocks[l];
	linear **p = v->packed + (size_t)l * 4;
	bool last = l + 1 == v->layers;
	int D = v->width;
	char name[128];

	/* The last block projects queries for the CLS token alone: q and kv apart. */
	if ((p[0] = linear_new(w->attn.in_proj_weight, last ? D : 3 * D, D, k, cause)) == NULL ||
	    (p[1] = linear_new(w->attn.out_proj_weight, D, D, k, cause)) == NULL ||
	    (p[2] = linear_new(w->c_fc_weight, v->hidden, D, k, cause)) == NULL ||
	    (p[3] = linear_new(w->c_proj_weight, D, v->hidden, k, cause)) == NULL ||
	    (last && (v->last_kv = linear_new(w->attn.in_proj_weight + (size_t)D * D, 2 * D, D,
		k, cause)) == NULL))
		return -1;
	if (!last)
		w->attn.in_proj_packed = p[0];
	w->attn.out_proj_packed = p[1];
	w->c_fc_packed = p[2];
	w->c_proj_packed = p[3];
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "clip.visual.transformer.resblocks.%d.%s", l,
		    packed_names[i]);
		model_tensor_release(m, name);
	}
	w->attn.in_proj_weight = w->attn.out_proj_weight = NULL;
	w->c_fc_weight = w->c_proj_weight = NULL;
	return 0;
}

vit *vit_new_kernel(model *m, int max_batch, linear_kernel kernel, char **cause)
{
	const model_config *c = model_get_config(m);
	const char *path = model_path(m);
	vit *v = calloc(1, sizeof *v);
	char prefix[96];
	int64_t conv_shape[4];

	if (v == NULL) {
		util_set_cause(cause, "vit_new: out of memory");
		return NULL;
	}
	v->width = c->vision_width;
	v->layers = c->vision_layers;
	v->heads = c->vision_heads;
	v->hidden = 4 * c->vision_width;
	v->patch = c->vision_patch;
	v->image_size = c->image_size;
	v->grid = c->image_size / c->vision_patch;
	v->tokens = v->grid * v->grid + 1;
	v->embed = c->embed_dim;
	v->max_batch = max_batch;
	v->kernel = linear_kernel_is_bf16(kernel) ? kernel : LINEAR_BLAS;
	v->group = c->frames < 1 ? 1 : c->frames > max_batch ? max_batch : c->frames;
	/* ops_* index rows with int: keep batch · tokens · hidden far from overflow. */
	if (max_batch < 1 || (int64_t)max_batch * v->tokens * v->hidden > INT_MAX / 4) {
		util_set_cause(cause, "vit_new: %s: batch of %d frames is out of range",
		    UTIL_NAME(path), max_batch);
		goto fail;
	}

	conv_shape[0] = v->width;
	conv_shape[1] = 3;
	conv_shape[2] = conv_shape[3] = v->patch;
	if ((v->conv1 = model_tensor(m, "clip.visual.conv1.weight", 4, conv_shape, cause)) == NULL ||
	    (v->class_embedding = model_tensor_1d(m, v->width, cause,
		"clip.visual.class_embedding")) == NULL ||
	    (v->positional_embedding = model_tensor_2d(m, v->tokens, v->width, cause,
		"clip.visual.positional_embedding")) == NULL ||
	    (v->ln_pre_weight = model_tensor_1d(m, v->width, cause, "clip.visual.ln_pre.weight")) == NULL ||
	    (v->ln_pre_bias = model_tensor_1d(m, v->width, cause, "clip.visual.ln_pre.bias")) == NULL ||
	    (v->ln_post_weight = model_tensor_1d(m, v->width, cause, "clip.visual.ln_post.weight")) == NULL ||
	    (v->ln_post_bias = model_tensor_1d(m, v->width, cause, "clip.visual.ln_post.bias")) == NULL ||
	    (v->proj = model_tensor_2d(m, v->width, v->embed, cause, "clip.visual.proj")) == NULL)
		goto fail;
	if ((v->blocks = calloc((size_t)v->layers, sizeof *v->blocks)) == NULL) {
		util_set_cause(cause, "vit_new: out of memory");
		goto fail;
	}
	if (v->kernel != LINEAR_BLAS && vit_pack(v, m, v->kernel, cause) == -1) {
		util_prefix_cause(cause, "%s", UTIL_NAME(path));
		goto fail;
	}
	for (int l = 0; l < v->layers; l++) {
		snprintf(prefix, sizeof prefix, "clip.visual.transformer.resblocks.%d.", l);
		if (block_load(m, prefix, v->width, v->hidden, &v->blocks[l], cause) == -1)
			goto fail;
		if (v->kernel != LINEAR_BLAS && vit_pack_block(v, m, l, v->kernel, cause) == -1) {
			util_prefix_cause(cause, "%s", UTIL_NAME(path));
			goto fail;
		}
	}

	v->x = tensor_alloc((size_t)max_batch * v->tokens * v->width);
	v->cls = tensor_alloc((size_t)max_batch * v->width);
	v->scratch = tensor_alloc(vit_scratch_floats(v, max_batch));
	v->counts = calloc((size_t)max_batch, sizeof *v->counts);
	v->rows = calloc((size_t)max_batch, sizeof *v->rows);
	if (v->x == NULL || v->cls == NULL || v->scratch == NULL || v->counts == NULL ||
	    v->rows == NULL) {
		util_set_cause(cause, "vit_new: out of memory for %d frames of scratch", max_batch);
		goto fail;
	}
	return v;
fail:
	vit_free(v);
	return NULL;
}

void vit_free(vit *v)
{
	if (v == NULL)
		return;
	for (int i = 0; v->packed != NULL && i < v->layers * 4; i++)
		linear_free(v->packed[i]);
	free(v->packed);
	linear_free(v->last_kv);
	linear_free(v->conv1_packed);
	linear_free(v->proj_packed);
	free(v->blocks);
	tensor_free(v->x);
	tensor_free(v->cls);
	tensor_free(v->scratch);
	free(v->counts);
	free(v->rows);
	free(v);
}

int vit_image_size(const vit *v)
{
	return v->image_size;
}

int vit_embed_dim(const vit *v)
{
	return v->embed;
}

int vit_max_batch(const vit *v)
{
	return v->max_batch;
}

linear_kernel vit_kernel(const vit *v)
{
	return v->kernel;
}

/*
 * Patch embedding: v->x = [class; unfold(frames) · conv1ᵀ] + pos.
 *   frames [batch, 3, S, S]
 */
static void vit_embed(vit *v, const float *frames, int batch, const int *counts, int ng)
{
	int P = v->patch, S = v->image_size, G = v->grid, T = v->tokens, D = v->width;
	int cols = 3 * P * P, npatch = batch * G * G;
	float *patches = v->scratch;                       /* [npatch, 3 · P · P] */
	float *emb = patches + (size_t)npatch * cols;      /* [npatch, width] */

	/* Column c · P² + py · P + px of patch (gy, gx) is pixel (c, gy·P+py, gx·P+px),
	 * the order of the flattened conv1 kernel [width, 3, P, P]. */
	for (int b = 0; b < batch; b++)
		for (int c = 0; c < 3; c++)
			for (int y = 0; y < S; y++) {
				const float *src = frames + (((size_t)b * 3 + c) * S + y) * S;
				int gy = y / P, py = y % P;
				for (int gx = 0; gx < G; gx++) {
					size_t row = (size_t)b * G * G + (size_t)gy * G + gx;
					memcpy(patches + row * cols + (size_t)c * P * P + (size_t)py * P,
					    src + (size_t)gx * P, sizeof(float) * (size_t)P);
				}
			}
	vit_linear(emb, patches, v->conv1, v->conv1_packed, NULL, vit_group_rows(v, counts, ng, G * G),
	    ng, cols, D);

	for (int b = 0; b < batch; b++) {
		float *xb = v->x + (size_t)b * T * D;
		for (int i = 0; i < D; i++)
			xb[i] = v->class_embedding[i] + v->positional_embedding[i];
		for (int t = 1; t < T; t++) {
			const float *e = emb + ((size_t)b * G * G + (size_t)(t - 1)) * D;
			const float *pos = v->positional_embedding + (size_t)t * D;
			float *xt = xb + (size_t)t * D;
			for (int i = 0; i < D; i++)
				xt[i] = e[i] + pos[i];
		}
	}
}

/*
 * The last residual block, for the CLS token of each frame only:
 *   v->cls[b] = block(v->x[b])[0]
 * Keys and values still come from every token.
 */
static void vit_last_block(vit *v, const ops_block_weights *w, int batch, const int *counts,
    int ng)
{
	int D = v->width, T = v->tokens, H = v->heads, hd = D / H, hidden = v->hidden;
	int rows = batch * T;
	float *normed = v->scratch;                    /* [rows, D] */
	float *kv = normed + (size_t)rows * D;         /* [rows, 2D]: k then v */
	float *q = kv + (size_t)rows * 2 * D;          /* [batch, D] */
	float *ctx = q + (size_t)batch * D;            /* [batch, D] */
	float *t = ctx + (size_t)batch * D;            /* [batch, D] */
	float *mlp = t + (size_t)batch * D;            /* [batch, hidden] */
	float *scores = mlp + (size_t)batch * hidden;  /* [T] */
	float scale = 1.0f / sqrtf((float)hd);

	ops_layer_norm(normed, v->x, w->ln_1_weight, w->ln_1_bias, rows, D, OPS_LN_EPS_CLIP);
	/* Rows D..3D of the packed in_proj are the key and value projections. */
	vit_linear(kv, normed, w->attn.in_proj_weight + (size_t)D * D, v->last_kv,
	    w->attn.in_proj_bias + D, vit_group_rows(v, counts, ng, T), ng, D, 2 * D);
	for (int b = 0; b < batch; b++)
		memcpy(t + (size_t)b * D, normed + (size_t)b * T * D, sizeof(float) * (size_t)D);
	vit_linear(q, t, w->attn.in_proj_weight, v->packed != NULL ? v->packed[(size_t)(v->layers - 1) * 4] :
	    NULL, w->attn.in_proj_bias, counts, ng, D, D);
	/* torch scales q before the product with k, and so do we. */
	for (size_t i = 0; i < (size_t)batch * D; i++)
		q[i] *= scale;

	for (int b = 0; b < batch; b++) {
		for (int h = 0; h < H; h++) {
			const float *qh = q + (size_t)b * D + (size_t)h * hd;
			const float *kb = kv + (size_t)b * T * 2 * D + (size_t)h * hd;
			const float *vb = kb + D;
			float *ch = ctx + (size_t)b * D + (size_t)h * hd;

			for (int j = 0; j < T; j++) {
				const float *kj = kb + (size_t)j * 2 * D;
				float s = 0;
				for (int i = 0; i < hd; i++)
					s += qh[i] * kj[i];
				scores[j] = s;
			}
			ops_softmax(scores, T);
			memset(ch, 0, sizeof(float) * (size_t)hd);
			for (int j = 0; j < T; j++) {
				const float *vj = vb + (size_t)j * 2 * D;
				for (int i = 0; i < hd; i++)
					ch[i] += scores[j] * vj[i];
			}
		}
	}
	vit_linear(t, ctx, w->attn.out_proj_weight, w->attn.out_proj_packed, w->attn.out_proj_bias,
	    counts, ng, D, D);
	for (int b = 0; b < batch; b++) {
		const float *x0 = v->x + (size_t)b * T * D;
		float *c = v->cls + (size_t)b * D;
		for (int i = 0; i < D; i++)
			c[i] = x0[i] + t[(size_t)b * D + i];
	}

	ops_layer_norm(t, v->cls, w->ln_2_weight, w->ln_2_bias, batch, D, OPS_LN_EPS_CLIP);
	vit_linear(mlp, t, w->c_fc_weight, w->c_fc_packed, w->c_fc_bias, counts, ng, D, hidden);
	ops_quick_gelu(mlp, (size_t)batch * hidden);
	vit_linear(t, mlp, w->c_proj_weight, w->c_proj_packed, w->c_proj_bias, counts, ng, hidden, D);
	for (size_t i = 0; i < (size_t)batch * D; i++)
		v->cls[i] += t[i];
}

/* One pass of ng groups (counts[g] frames each, batch in all, at most max_batch). */
static void vit_encode_chunk(vit *v, const float *frames, int batch, const int *counts, int ng,
    float *out)
{
	int D = v->width, T = v->tokens;
	float *normed = v->scratch; /* [batch, D] */

	vit_embed(v, frames, batch, counts, ng);
	ops_layer_norm(v->x, v->x, v->ln_pre_weight, v->ln_pre_bias, batch * T, D, OPS_LN_EPS_CLIP);
	for (int l = 0; l + 1 < v->layers; l++)
		ops_block_forward_groups(v->x, batch, T, D, v->heads, v->hidden, &v->blocks[l],
		    OPS_LN_EPS_CLIP, NULL, false, vit_group_rows(v, counts, ng, T), ng, v->scratch);
	if (v->layers > 0)
		vit_last_block(v, &v->blocks[v->layers - 1], batch, counts, ng);
	else
		for (int b = 0; b < batch; b++)
			memcpy(v->cls + (size_t)b * D, v->x + (size_t)b * T * D, sizeof(float) * (size_t)D);

	/* ln_post is per token: on the CLS rows alone it is exact. */
	ops_layer_norm(normed, v->cls, v->ln_post_weight, v->ln_post_bias, batch, D, OPS_LN_EPS_CLIP);
	if (v->proj_packed != NULL)
		linear_forward(v->proj_packed, out, normed, NULL, batch, false);
	else
		tensor_gemm_groups(false, counts, ng, v->embed, D, normed, D, v->proj, v->embed, 0,
		    out, v->embed);
}

int vit_encode_groups(vit *v, const float *frames, const int *counts, int n, float *out,
    char **cause)
{
	size_t frame = 3 * (size_t)v->image_size * v->image_size, done = 0;
	int saved;

	if (n < 0 || (n > 0 && (frames == NULL || out == NULL || counts == NULL))) {
		util_set_cause(cause, "vit_encode: bad arguments (%d groups)", n);
		return -1;
	}
	for (int g = 0; g < n; g++) {
		if (counts[g] < 1 || counts[g] > v->max_batch) {
			util_set_cause(cause, "vit_encode: a group of %d frames (1 to %d fit)", counts[g],
			    v->max_batch);
			return -1;
		}
	}
	/* Every BLAS call single-threaded, so each is the same computation whatever the
	 * thread count (the attention's per-head products included). */
	saved = tensor_blas_serial_begin();
	for (int g = 0; g < n;) {
		int ng = 0, batch = 0;
		while (g + ng < n && batch + counts[g + ng] <= v->max_batch)
			batch += counts[g + ng++];
		vit_encode_chunk(v, frames + done * frame, batch, counts + g, ng,
		    out + done * (size_t)v->embed);
		done += (size_t)batch;
		g += ng;
	}
	tensor_blas_serial_end(saved);
	return 0;
}

int vit_encode(vit *v, const float *frames, int batch, float *out, char **cause)
{
	int n = 0;

	if (batch < 0 || (batch > 0 && (frames == NULL || out == NULL))) {
		util_set_cause(cause, "vit_encode: bad arguments (batch %d)", batch);
		return -1;
	}
	/* Groups of F frames in chunks of at most max_batch; counts holds one chunk's. */
	for (int done = 0; done < batch; done += v->max_batch) {
		int m = batch - done < v->max_batch ? batch - done : v->max_batch;
		n = 0;
		for (int f = 0; f < m; f += v->group)
			v->counts[n++] = m - f < v->group ? m - f : v->group;
		if (vit_encode_groups(v, frames + (size_t)done * 3 * v->image_size * v->image_size,
		    v->counts, n, out + (size_t)done * v->embed, cause) == -1)
			return -1;
	}
	return 0;
}

int vit_encode_blank(vit *v, float *out, char **cause)
{
	float *zero = tensor_zalloc(3 * (size_t)v->image_size * v->image_size);
	int one = 1, rc;

	if (zero == NULL) {
		util_set_cause(cause, "vit_encode: out of memory");
		return -1;
	}
	rc = vit_encode_groups(v, zero, &one, 1, out, cause);
	tensor_free(zero);
	return rc;
}

int vit_group(const vit *v)
{
	return v->group;
}
