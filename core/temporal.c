/*
 * temporal — seqTransf and seqLSTM over one video's frame embeddings.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "temporal.h"
#include "tensor.h"
#include "util.h"

struct temporal {
	temporal_kind kind;
	int frames, dim, heads, hidden, layers;
	const float *pos;          /* [F.., dim] frame_position_embeddings rows (first F used) */
	ops_block_weights *blocks; /* [layers] */
	const float *w_ih;         /* [4 dim, dim] gates i, f, g, o */
	const float *w_hh;         /* [4 dim, dim] */
	const float *b_ih, *b_hh;  /* [4 dim] */
};

static int temporal_load_block(model *m, const char *prefix, int layer, int dim, int hidden,
    ops_block_weights *b, char **cause)
{
#define T1(field, n, name) \
	if ((b->field = model_tensor_1d(m, n, cause, "%s%d." name, prefix, layer)) == NULL) \
		return -1
#define T2(field, r, c, name) \
	if ((b->field = model_tensor_2d(m, r, c, cause, "%s%d." name, prefix, layer)) == NULL) \
		return -1
	T1(ln_1_weight, dim, "ln_1.weight");
	T1(ln_1_bias, dim, "ln_1.bias");
	T1(ln_2_weight, dim, "ln_2.weight");
	T1(ln_2_bias, dim, "ln_2.bias");
	T2(attn.in_proj_weight, 3 * dim, dim, "attn.in_proj_weight");
	T1(attn.in_proj_bias, 3 * dim, "attn.in_proj_bias");
	T2(attn.out_proj_weight, dim, dim, "attn.out_proj.weight");
	T1(attn.out_proj_bias, dim, "attn.out_proj.bias");
	T2(c_fc_weight, hidden, dim, "mlp.c_fc.weight");
	T1(c_fc_bias, hidden, "mlp.c_fc.bias");
	T2(c_proj_weight, dim, hidden, "mlp.c_proj.weight");
	T1(c_proj_bias, dim, "mlp.c_proj.bias");
#undef T1
#undef T2
	return 0;
}

static int temporal_count_layers(model *m, const char *prefix)
{
	char name[256];
	int n = 0;

	for (;;) {
		snprintf(name, sizeof name, "%s%d.ln_1.weight", prefix, n);
		if (!model_has(m, name))
			return n;
		n++;
	}
}

int temporal_load_blocks(model *m, const char *prefix, int dim, ops_block_weights **out,
    int *layers, char **cause)
{
	int n = temporal_count_layers(m, prefix);
	ops_block_weights *b;

	*out = NULL;
	*layers = 0;
	if (n == 0) {
		util_set_cause(cause, "%s: tensor %s0.ln_1.weight is missing",
		    UTIL_NAME(model_path(m)), prefix);
		return -1;
	}
	if ((b = calloc((size_t)n, sizeof *b)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(model_path(m)));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (temporal_load_block(m, prefix, i, dim, 4 * dim, &b[i], cause) == -1) {
			free(b);
			return -1;
		}
	}
	*out = b;
	*layers = n;
	return 0;
}

temporal *temporal_load(model *m, temporal_kind kind, int frames, int dim, char **cause)
{
	temporal *t = calloc(1, sizeof *t);
	const model_config *c = model_get_config(m);

	if (t == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(model_path(m)));
		return NULL;
	}
	t->kind = kind;
	t->frames = frames;
	t->dim = dim;
	t->hidden = 4 * dim;
	t->heads = c->text_heads;
	if (kind == TEMPORAL_NONE)
		return t;
	if (kind == TEMPORAL_SEQ_TRANSF) {
		/* Only the first F rows are used; the table may be longer (77). */
		if (!model_has(m, "frame_position_embeddings.weight")) {
			util_set_cause(cause, "%s: tensor frame_position_embeddings.weight is missing",
			    UTIL_NAME(model_path(m)));
			goto fail;
		}
		int rows = c->context_length;
		if ((t->pos = model_tensor_2d(m, rows, dim, cause, "frame_position_embeddings.weight")) == NULL)
			goto fail;
		if (rows < frames) {
			util_set_cause(cause, "%s: frame_position_embeddings has %d rows for %d frames",
			    UTIL_NAME(model_path(m)), rows, frames);
			goto fail;
		}
		if (t->heads <= 0 || dim % t->heads != 0) {
			util_set_cause(cause, "%s: %d heads do not divide the temporal width %d",
			    UTIL_NAME(model_path(m)), t->heads, dim);
			goto fail;
		}
		if (temporal_load_blocks(m, "transformerClip.resblocks.", dim, &t->blocks, &t->layers,
		    cause) == -1)
			goto fail;
		return t;
	}
	if ((t->w_ih = model_tensor_2d(m, 4 * dim, dim, cause, "lstm_visual.weight_ih_l0")) == NULL ||
	    (t->w_hh = model_tensor_2d(m, 4 * dim, dim, cause, "lstm_visual.weight_hh_l0")) == NULL ||
	    (t->b_ih = model_tensor_1d(m, 4 * dim, cause, "lstm_visual.bias_ih_l0")) == NULL ||
	    (t->b_hh = model_tensor_1d(m, 4 * dim, cause, "lstm_visual.bias_hh_l0")) == NULL)
		goto fail;
	return t;
fail:
	temporal_free(t);
	return NULL;
}

void temporal_free(temporal *t)
{
	if (t == NULL)
		return;
	free(t->blocks);
	free(t);
}

temporal_kind temporal_get_kind(const temporal *t)
{
	return t->kind;
}

static float temporal_sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

static int temporal_lstm(const temporal *t, const float *v, const float *mask, float *out,
    char **cause)
{
	int f = t->frames, d = t->dim, n = 0;
	float *gx, *gates, *h, *c;

	for (int i = 0; i < f; i++)
		n += mask[i] > 0.5f;
	gx = tensor_alloc((size_t)f * 4 * d);
	gates = tensor_alloc((size_t)4 * d);
	h = tensor_zalloc((size_t)d);
	c = tensor_zalloc((size_t)d);
	if (gx == NULL || gates == NULL || h == NULL || c == NULL) {
		util_set_cause(cause, "temporal: out of memory");
		tensor_free(gx);
		tensor_free(gates);
		tensor_free(h);
		tensor_free(c);
		return -1;
	}
	/* Input contributions of every real frame in one GEMM. */
	if (n > 0)
		tensor_linear(gx, v, t->w_ih, t->b_ih, n, d, 4 * d);
	memcpy(out, v, sizeof(float) * (size_t)f * d);
	for (int s = 0; s < n; s++) {
		float *g = gx + (size_t)s * 4 * d;

		memcpy(gates, t->b_hh, sizeof(float) * 4 * (size_t)d);
		tensor_gemv(4 * d, d, 1, t->w_hh, h, 1, gates);
		for (int j = 0; j < d; j++) {
			float ig = temporal_sigmoid(g[j] + gates[j]);
			float fg = temporal_sigmoid(g[d + j] + gates[d + j]);
			float gg = tanhf(g[2 * d + j] + gates[2 * d + j]);
			float og = temporal_sigmoid(g[3 * d + j] + gates[3 * d + j]);
			c[j] = fg * c[j] + ig * gg;
			h[j] = og * tanhf(c[j]);
		}
		for (int j = 0; j < d; j++)
			out[(size_t)s * d + j] += h[j];
	}
	tensor_free(gx);
	tensor_free(gates);
	tensor_free(h);
	tensor_free(c);
	return 0;
}

int temporal_forward(const temporal *t, const float *v, const float *mask, float *out,
    char **cause)
{
	int f = t->frames, d = t->dim;
	float *bias, *scratch;

	if (t->kind == TEMPORAL_NONE) {
		memcpy(out, v, sizeof(float) * (size_t)f * d);
		return 0;
	}
	if (t->kind == TEMPORAL_SEQ_LSTM)
		return temporal_lstm(t, v, mask, out, cause);

	bias = tensor_alloc((size_t)f);
	scratch = tensor_alloc(ops_block_scratch_floats(1, f, d, t->hidden));
	if (bias == NULL || scratch == NULL) {
		util_set_cause(cause, "temporal: out of memory");
		tensor_free(bias);
		tensor_free(scratch);
		return -1;
	}
	/* The reference's extended mask: (1 - mask) * -1e6 on every key. */
	for (int i = 0; i < f; i++)
		bias[i] = (1.0f - mask[i]) * -1000000.0f;
	for (size_t i = 0; i < (size_t)f * d; i++)
		out[i] = v[i] + t->pos[i];
	for (int l = 0; l < t->layers; l++)
		ops_block_forward(out, 1, f, d, t->heads, t->hidden, &t->blocks[l], OPS_LN_EPS_TF,
		    bias, false, scratch);
	for (size_t i = 0; i < (size_t)f * d; i++)
		out[i] += v[i];
	tensor_free(bias);
	tensor_free(scratch);
	return 0;
}
