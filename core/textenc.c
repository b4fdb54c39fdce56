/*
 * textenc — the CLIP text tower on tensor.c's GEMMs.
 *
 *   x = tok_emb[ids] + pos[0..L-1]                        [L, width]
 *   x = block_l(x) for every layer l, causal mask for L
 *   H = ln_final(x) · text_projection                     [L, embed]
 *   sentence = H[argmax(ids)]  (EOT = 49407 is the largest id)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "ops.h"
#include "tensor.h"
#include "textenc.h"
#include "util.h"

struct textenc {
	/* config, all from the model file */
	int L, width, layers, heads, hidden; /* hidden = 4 · width, CLIP's MLP ratio */
	int vocab, embed;

	/* weights, owned by the model */
	/* [vocab, width]: the file's tensor, a query's rows widened as they are read
	 * (no 100 MB fp32 copy at ViT-B/32); or, when the file stores it otherwise,
	 * model_tensor's fp32 copy */
	const st_tensor *token_file;
	const float *token_embedding;
	const float *positional_embedding; /* [context_length, width]; rows 0..L-1 used */
	ops_block_weights *blocks;         /* [layers] */
	linear **packed;                   /* [layers, 4]: in_proj, out_proj, c_fc, c_proj; owned */
	linear *projection;                /* text_projectionᵀ repacked, or NULL (BLAS); owned */
	const float *ln_final_weight, *ln_final_bias; /* [width] */
	const float *text_projection;                 /* [width, embed] (BLAS kernel) */

	/* scratch, owned */
	float *x;       /* [L, width], the residual stream */
	float *normed;  /* [L, width] */
	float *scratch; /* ops_block_scratch_floats(1, L, width, hidden) */
};

textenc *textenc_new(model *m, int L, char **cause)
{
	return textenc_new_kernel(m, L, LINEAR_AUTO, cause);
}

/*
 * Kernel k's packed copy of weight `name` [out, in] (or, transposed, of
 * the file's [in, out]).  Read straight from the file when it stores the
 * tensor as one float tensor in upstream layout: no fp32 copy is made
 * (for ViT-B/32 that copy was 151 MB, written and freed again at every
 * start-up), and the file's pages are dropped once packed.  Otherwise
 * (q/k/v parts, another layout) from model_tensor's fp32 copy, released
 * once packed: the packed kernels never read it.  Both give the same bits.
 */
static linear *textenc_pack(model *m, const char *name, int out, int in, bool transposed,
    linear_kernel k, char **cause)
{
	int64_t shape[2] = { transposed ? in : out, transposed ? out : in };
	const st_tensor *t;
	const float *w;
	linear *l;
	int in_file = model_tensor_in_file(m, name, 2, shape, &t, cause);

	if (in_file == -1)
		return NULL;
	if (in_file == 0) {
		l = linear_new_tensor(t, transposed ? LINEAR_TRANSPOSED : 0, k, cause);
		model_tensor_in_file_release(m, t);
		return l;
	}
	if ((w = model_tensor(m, name, 2, shape, cause)) == NULL)
		return NULL;
	if (!transposed)
		l = linear_new(w, out, in, k, cause);
	else {
		float *wt = tensor_alloc((size_t)out * in);
		if (wt == NULL) {
			util_set_cause(cause, "textenc_new: out of memory");
			return NULL;
		}
		for (int i = 0; i < in; i++)
			for (int o = 0; o < out; o++)
				wt[(size_t)o * in + i] = w[(size_t)i * out + o];
		l = linear_new(wt, out, in, k, cause);
		tensor_free(wt);
	}
	model_tensor_release(m, name);
	return l;
}

/* Pack block l's projections for kernel k and point the block at them. */
static int textenc_pack_block(textenc *t, model *m, int l, linear_kernel k, char **cause)
{
	static const char *const names[4] = {
		"attn.in_proj_weight", "attn.out_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"
	};
	const int D = t->width, shapes[4][2] = {
		{ 3 * D, D }, { D, D }, { t->hidden, D }, { D, t->hidden }
	};
	ops_block_weights *w = &t->blocks[l];
	linear **p = t->packed + (size_t)l * 4;
	char name[128];

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "clip.transformer.resblocks.%d.%s", l, names[i]);
		if ((p[i] = textenc_pack(m, name, shapes[i][0], shapes[i][1], false, k, cause)) == NULL)
			return -1;
	}
	w->attn.in_proj_packed = p[0];
	w->attn.out_proj_packed = p[1];
	w->c_fc_packed = p[2];
	w->c_proj_packed = p[3];
	w->attn.in_proj_weight = w->attn.out_proj_weight = NULL;
	w->c_fc_weight = w->c_proj_weight = NULL;
	return 0;
}

/*
 * text_projection [width, embed] as the Linear weight [embed, width].
 * The text tower then makes no multi-threaded BLAS call at all, so the
 * BLAS's worker threads, which spin for a while after each such call, do
 * not compete with ours.
 */
static int textenc_pack_projection(textenc *t, model *m, linear_kernel k, char **cause)
{
	t->projection = textenc_pack(m, "clip.text_projection", t->embed, t->width, true, k, cause);
	return t->projection != NULL ? 0 : -1;
}

textenc *textenc_new_kernel(model *m, int L, linear_kernel kernel, char **cause)
{
	const model_config *c = model_get_config(m);
	textenc *t = calloc(1, sizeof *t);
	char prefix[96];

	if (t == NULL) {
		util_set_cause(cause, "textenc_new: out of memory");
		return NULL;
	}
	t->L = L;
	t->width = c->text_width;
	t->layers = c->text_layers;
	t->heads = c->text_heads;
	t->hidden = 4 * c->text_width;
	t->vocab = c->vocab_size;
	t->embed = c->embed_dim;
	if (L < 1 || L > c->context_length) {
		util_set_cause(cause, "textenc_new: %s: %d tokens per query is outside 1..%d "
		    "(the context length)", UTIL_NAME(model_path(m)), L, c->context_length);
		goto fail;
	}
	int64_t tok_shape[2] = { t->vocab, t->width };
	int in_file = model_tensor_in_file(m, "clip.token_embedding.weight", 2, tok_shape,
	    &t->token_file, cause);
	if (in_file == -1 || (in_file == 1 && (t->token_embedding = model_tensor_2d(m, t->vocab,
		t->width, cause, "clip.token_embedding.weight")) == NULL) ||
	    (t->positional_embedding = model_tensor_2d(m, c->context_length, t->width, cause,
		"clip.positional_embedding")) == NULL ||
	    (t->ln_final_weight = model_tensor_1d(m, t->width, cause, "clip.ln_final.weight")) == NULL ||
	    (t->ln_final_bias = model_tensor_1d(m, t->width, cause, "clip.ln_final.bias")) == NULL)
		goto fail;
	kernel = linear_kernel_resolve(kernel);
	/* The BLAS multiplies the model's fp32 copies; the other kernels pack their own. */
	if (kernel == LINEAR_BLAS && (t->text_projection = model_tensor_2d(m, t->width, t->embed,
	    cause, "clip.text_projection")) == NULL)
		goto fail;
	if ((t->blocks = calloc((size_t)t->layers, sizeof *t->blocks)) == NULL ||
	    (t->packed = calloc((size_t)t->layers * 4, sizeof *t->packed)) == NULL) {
		util_set_cause(cause, "textenc_new: out of memory");
		goto fail;
	}
	for (int l = 0; l < t->layers; l++) {
		snprintf(prefix, sizeof prefix, "clip.transformer.resblocks.%d.", l);
		if (kernel == LINEAR_BLAS ?
		    block_load(m, prefix, t->width, t->hidden, &t->blocks[l], cause) == -1 :
		    (block_load_vectors(m, prefix, t->width, t->hidden, &t->blocks[l], cause) == -1 ||
		    textenc_pack_block(t, m, l, kernel, cause) == -1))
			goto fail;
	}
	if (kernel != LINEAR_BLAS && textenc_pack_projection(t, m, kernel, cause) == -1)
		goto fail;

	t->x = tensor_alloc((size_t)L * t->width);
	t->normed = tensor_alloc((size_t)L * t->width);
	t->scratch = tensor_alloc(ops_block_scratch_floats(1, L, t->width, t->hidden));
	if (t->x == NULL || t->normed == NULL || t->scratch == NULL) {
		util_set_cause(cause, "textenc_new: out of memory");
		goto fail;
	}
	return t;
fail:
	textenc_free(t);
	return NULL;
}

void textenc_free(textenc *t)
{
	if (t == NULL)
		return;
	for (int i = 0; t->packed != NULL && i < t->layers * 4; i++)
		linear_free(t->packed[i]);
	free(t->packed);
	linear_free(t->projection);
	free(t->blocks);
	tensor_free(t->x);
	tensor_free(t->normed);
	tensor_free(t->scratch);
	free(t);
}

int textenc_length(const textenc *t)
{
	return t->L;
}

int textenc_embed_dim(const textenc *t)
{
	return t->embed;
}

int textenc_encode(textenc *t, const int32_t *ids, float *sentence, float *words, char **cause)
{
	return textenc_encode_cancellable(t, ids, sentence, words, NULL, cause);
}

int textenc_encode_cancellable(textenc *t, const int32_t *ids, float *sentence, float *words,
    atomic_int *cancel, char **cause)
{
	int L = t->L, D = t->width, eot = 0;

	if (ids == NULL) {
		util_set_cause(cause, "textenc_encode: no token ids");
		return -1;
	}
	for (int i = 0; i < L; i++) {
		if (ids[i] < 0 || ids[i] >= t->vocab) {
			util_set_cause(cause, "textenc_encode: token id %d at position %d is outside "
			    "the vocabulary of %d", (int)ids[i], i, t->vocab);
			return -1;
		}
		/* torch.argmax: the first position holding the largest id. */
		if (ids[i] > ids[eot])
			eot = i;
	}

	/* The mask is causal, so positions after EOT never reach it: without
	 * word features, the first eot + 1 positions give the same sentence. */
	int n = words != NULL ? L : eot + 1;

	for (int i = 0; i < n; i++) {
		const float *pos = t->positional_embedding + (size_t)i * D;
		float *xi = t->x + (size_t)i * D;
		if (t->token_file != NULL)
			st_widen(t->token_file, (size_t)ids[i] * D, (size_t)D, xi); /* a float dtype */
		else
			memcpy(xi, t->token_embedding + (size_t)ids[i] * D, sizeof(float) * (size_t)D);
		for (int j = 0; j < D; j++)
			xi[j] += pos[j];
	}
	for (int l = 0; l < t->layers; l++) {
		if (cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed))
			return 1;
		ops_block_forward(t->x, 1, n, D, t->heads, t->hidden, &t->blocks[l],
		    OPS_LN_EPS_CLIP, NULL, true, t->scratch);
	}

	if (words != NULL) {
		ops_layer_norm(t->normed, t->x, t->ln_final_weight, t->ln_final_bias, L, D,
		    OPS_LN_EPS_CLIP);
		if (t->projection != NULL)
			linear_forward(t->projection, words, t->normed, NULL, L, false);
		else
			tensor_matmul(words, t->normed, t->text_projection, L, D, t->embed);
		if (sentence != NULL)
			memcpy(sentence, words + (size_t)eot * t->embed, sizeof(float) * (size_t)t->embed);
	} else if (sentence != NULL) {
		ops_layer_norm(t->normed, t->x + (size_t)eot * D, t->ln_final_weight,
		    t->ln_final_bias, 1, D, OPS_LN_EPS_CLIP);
		if (t->projection != NULL)
			linear_forward(t->projection, sentence, t->normed, NULL, 1, false);
		else
			tensor_matmul(sentence, t->normed, t->text_projection, 1, D, t->embed);
	}
	return 0;
}
