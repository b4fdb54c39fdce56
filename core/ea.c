/*
 * ea — EA-CLIP4Clip heads: the excitation / aggregation blocks, the loose
 * video vector, and the tight cross encoder.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ea.h"
#include "ops.h"
#include "temporal.h"
#include "tensor.h"
#include "util.h"

typedef enum { EA_MEANP, EA_SEQ_LSTM, EA_SEQ_TRANSF, EA_TIGHT } ea_header;
typedef enum {
	EA_SE_NONE,
	EA_SE_EXCITATION,
	EA_SE_AGGREGATION,
	EA_SE_EXC_AGG,
	EA_SE_EXC_SEQ,
	EA_SE_EXC_SEQ_AGG
} ea_se;

/* One squeeze block: Linear F->h, ReLU or ReLU6, Linear h->F. */
typedef struct {
	int hidden;
	bool relu6;
	const float *w0; /* [h, F] */
	const float *b0; /* [h] */
	const float *w2; /* [F, h] */
	const float *b2; /* [F] */
} ea_block;

struct ea {
	int frames, dim, heads;
	bool free_form;
	ea_header header;
	ea_se se;
	float ratio;
	float logit_scale; /* exp(clip.logit_scale) */
	char describe[160];
	ea_block exc, agg;     /* either may be unused (hidden 0) */
	bool has_exc, has_agg;
	const float *intra_w0; /* [D, 2D] */
	const float *intra_b0; /* [D] */
	const float *intra_w2; /* [1, D] */
	const float *intra_b2; /* [1] */
	temporal *seq;
	/* tight */
	const float *cross_pos;       /* [ctx, D] rows 0..F used */
	ops_block_weights *cross;     /* [cross_layers] */
	int cross_layers;
	const float *pool_ln_w, *pool_ln_b; /* [D] */
	const float *pool_dense_w;    /* [D, D] */
	const float *pool_dense_b;    /* [D] */
	const float *sim_w;           /* [1, D] */
	const float *sim_b;           /* [1] */
};

/* Python's float floor division a // b (CPython float_floor_div). */
static double ea_py_floordiv(double a, double b)
{
	double mod = fmod(a, b), div, floordiv;

	div = (a - mod) / b;
	if (mod != 0 && ((b < 0) != (mod < 0)))
		div -= 1.0;
	if (div != 0) {
		floordiv = floor(div);
		if (div - floordiv > 0.5)
			floordiv += 1.0;
	} else
		floordiv = copysign(0.0, a / b);
	return floordiv;
}

static int ea_load_block(model *m, const char *prefix, int frames, double ratio, bool relu6,
    ea_block *b, char **cause)
{
	double h = ea_py_floordiv(frames, ratio);

	if (!(h >= 1 && h <= 1e6)) {
		util_set_cause(cause, "%s: %sfc: hidden size int(%d // %g) is not positive",
		    UTIL_NAME(model_path(m)), prefix, frames, ratio);
		return -1;
	}
	b->hidden = (int)h;
	b->relu6 = relu6;
	if ((b->w0 = model_tensor_2d(m, b->hidden, frames, cause, "%sfc.0.weight", prefix)) == NULL ||
	    (b->b0 = model_tensor_1d(m, b->hidden, cause, "%sfc.0.bias", prefix)) == NULL ||
	    (b->w2 = model_tensor_2d(m, frames, b->hidden, cause, "%sfc.2.weight", prefix)) == NULL ||
	    (b->b2 = model_tensor_1d(m, frames, cause, "%sfc.2.bias", prefix)) == NULL)
		return -1;
	return 0;
}

static float ea_read_logit_scale(model *m)
{
	int64_t one = 1;

	if (model_has(m, "clip.logit_scale")) {
		const float *p = model_tensor(m, "clip.logit_scale", 0, NULL, NULL);
		if (p == NULL)
			p = model_tensor(m, "clip.logit_scale", 1, &one, NULL);
		if (p != NULL)
			return expf(*p);
	}
	return 100.0f;
}

static int ea_parse_settings(model *m, ea *e, char **cause, char *agg_type, size_t agg_size)
{
	const char *sh = model_meta(m, "clipgrep.ea.sim_header");
	const char *st = model_meta(m, "clipgrep.ea.se_type");
	const char *at = model_meta(m, "clipgrep.ea.aggregation_type");
	const char *path = model_path(m);
	static const char *const se_names[] = { "none", "excitation", "aggregation",
		"excitation_aggregation", "excitation_seq", "excitation_seq_aggregation" };
	int found = 0;

	if (sh == NULL || strcmp(sh, "meanP") == 0)
		e->header = EA_MEANP;
	else if (strcmp(sh, "seqLSTM") == 0)
		e->header = EA_SEQ_LSTM;
	else if (strcmp(sh, "seqTransf") == 0)
		e->header = EA_SEQ_TRANSF;
	else if (strcmp(sh, "tightTransf") == 0)
		e->header = EA_TIGHT;
	else {
		util_set_cause(cause, "%s: metadata clipgrep.ea.sim_header: unknown '%s' "
		    "(expected meanP, seqLSTM, seqTransf or tightTransf)", UTIL_NAME(path), sh);
		return -1;
	}
	if (st == NULL)
		st = "excitation_aggregation";
	for (int i = 0; i < 6; i++)
		if (strcmp(st, se_names[i]) == 0) {
			e->se = (ea_se)i;
			found = 1;
		}
	if (!found) {
		util_set_cause(cause, "%s: metadata clipgrep.ea.se_type: unknown '%s'",
		    UTIL_NAME(path), st);
		return -1;
	}
	if (at == NULL)
		at = "unity";
	if (strcmp(at, "unity") != 0 && strcmp(at, "squeeze_expand") != 0 &&
	    strcmp(at, "expand_squeeze") != 0) {
		util_set_cause(cause, "%s: metadata clipgrep.ea.aggregation_type: unknown '%s' "
		    "(expected unity, squeeze_expand or expand_squeeze)", UTIL_NAME(path), at);
		return -1;
	}
	snprintf(agg_type, agg_size, "%s", at);
	if (model_meta_float(m, "clipgrep.ea.reduction_ratio", 4.0f, &e->ratio, cause) == -1)
		return -1;
	if (!(e->ratio > 0)) {
		util_set_cause(cause, "%s: metadata clipgrep.ea.reduction_ratio must be positive",
		    UTIL_NAME(path));
		return -1;
	}
	if (e->header == EA_TIGHT && e->se != EA_SE_NONE && e->se != EA_SE_EXCITATION) {
		util_set_cause(cause, "%s: tightTransf takes se_type excitation or none, not %s",
		    UTIL_NAME(path), st);
		return -1;
	}
	if (e->header == EA_MEANP && (e->se == EA_SE_EXC_SEQ || e->se == EA_SE_EXC_SEQ_AGG)) {
		util_set_cause(cause, "%s: se_type %s needs sim_header seqLSTM or seqTransf",
		    UTIL_NAME(path), st);
		return -1;
	}
	if (strcmp(at, "squeeze_expand") == 0 && !(e->ratio > 1) &&
	    (e->se == EA_SE_EXC_AGG || e->se == EA_SE_EXC_SEQ_AGG)) {
		util_set_cause(cause, "%s: squeeze_expand needs reduction_ratio > 1",
		    UTIL_NAME(path));
		return -1;
	}
	if (strcmp(at, "expand_squeeze") == 0 && !(e->ratio < 1) &&
	    (e->se == EA_SE_EXC_AGG || e->se == EA_SE_EXC_SEQ_AGG)) {
		util_set_cause(cause, "%s: expand_squeeze needs reduction_ratio < 1",
		    UTIL_NAME(path));
		return -1;
	}
	return 0;
}

/* The blocks each se_type builds, with the activations the upstream classes pick. */
static int ea_load_blocks(model *m, ea *e, const char *at, char **cause)
{
	double r = e->ratio, agg_r = r;
	bool dflt6 = !(r > 1), exc6 = dflt6, agg6 = dflt6;
	const char *exc_prefix = "se_block.", *agg_prefix = "se_block.";

	if (e->se == EA_SE_EXC_AGG || e->se == EA_SE_EXC_SEQ_AGG) {
		if (strcmp(at, "unity") == 0) {
			/* Excitation_Aggregation_Block hard-codes ReLU; the seq
			 * variant uses the r-dependent default for both. */
			if (e->se == EA_SE_EXC_AGG)
				exc6 = agg6 = false;
		} else if (strcmp(at, "squeeze_expand") == 0) {
			exc6 = false;
			agg6 = true;
			agg_r = 1.0 / r;
		} else {
			exc6 = true;
			agg6 = false;
			agg_r = 1.0 / r;
		}
	}
	switch (e->se) {
	case EA_SE_NONE:
		break;
	case EA_SE_EXCITATION:
		e->has_exc = true;
		break;
	case EA_SE_AGGREGATION:
		e->has_agg = true;
		break;
	case EA_SE_EXC_AGG:
		e->has_exc = e->has_agg = true;
		exc_prefix = "se_block.scale.";
		agg_prefix = "se_block.aggregate.";
		break;
	case EA_SE_EXC_SEQ:
		e->has_exc = true;
		exc_prefix = "se_block_excitation.";
		break;
	case EA_SE_EXC_SEQ_AGG:
		e->has_exc = e->has_agg = true;
		exc_prefix = "se_block_excitation.";
		agg_prefix = "se_block_aggregation.";
		break;
	}
	if (e->has_exc && ea_load_block(m, exc_prefix, e->frames, r, exc6, &e->exc, cause) == -1)
		return -1;
	if (e->has_agg && ea_load_block(m, agg_prefix, e->frames, agg_r, agg6, &e->agg, cause) == -1)
		return -1;
	snprintf(e->describe, sizeof e->describe, "%s, %s", 
	    e->header == EA_MEANP ? "meanP" : e->header == EA_SEQ_LSTM ? "seqLSTM" :
	    e->header == EA_SEQ_TRANSF ? "seqTransf" : "tightTransf",
	    e->se == EA_SE_NONE ? "no block" : e->se == EA_SE_EXCITATION ? "excitation" :
	    e->se == EA_SE_AGGREGATION ? "aggregation" : e->se == EA_SE_EXC_AGG ?
	    "excitation_aggregation" : e->se == EA_SE_EXC_SEQ ? "excitation_seq" :
	    "excitation_seq_aggregation");
	if (e->se != EA_SE_NONE) {
		size_t used = strlen(e->describe);
		snprintf(e->describe + used, sizeof e->describe - used, " r=%g (%s)", (double)r,
		    e->se == EA_SE_EXC_AGG || e->se == EA_SE_EXC_SEQ_AGG ? at : r > 1 ? "squeeze" : "expansion");
	}
	return 0;
}

static int ea_load_tight(model *m, ea *e, char **cause)
{
	const model_config *c = model_get_config(m);
	int d = e->dim;

	if (c->context_length < e->frames + 1) {
		util_set_cause(cause, "%s: cross position table too short for %d frames",
		    UTIL_NAME(model_path(m)), e->frames);
		return -1;
	}
	if (e->heads <= 0 || d % e->heads != 0) {
		util_set_cause(cause, "%s: %d heads do not divide the cross width %d",
		    UTIL_NAME(model_path(m)),
		    e->heads, d);
		return -1;
	}
	if ((e->cross_pos = model_tensor_2d(m, c->context_length, d, cause,
	    "cross.embeddings.position_embeddings.weight")) == NULL ||
	    temporal_load_blocks(m, "cross.transformer.resblocks.", d, &e->cross, &e->cross_layers,
	    cause) == -1 ||
	    (e->pool_ln_w = model_tensor_1d(m, d, cause, "cross.pooler.ln_pool.weight")) == NULL ||
	    (e->pool_ln_b = model_tensor_1d(m, d, cause, "cross.pooler.ln_pool.bias")) == NULL ||
	    (e->pool_dense_w = model_tensor_2d(m, d, d, cause, "cross.pooler.dense.weight")) == NULL ||
	    (e->pool_dense_b = model_tensor_1d(m, d, cause, "cross.pooler.dense.bias")) == NULL ||
	    (e->sim_w = model_tensor_2d(m, 1, d, cause, "similarity_dense.weight")) == NULL ||
	    (e->sim_b = model_tensor_1d(m, 1, cause, "similarity_dense.bias")) == NULL)
		return -1;
	return 0;
}

ea *ea_load(model *m, char **cause)
{
	const model_config *c = model_get_config(m);
	ea *e = calloc(1, sizeof *e);
	char at[32];
	int d;

	if (e == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(model_path(m)));
		return NULL;
	}
	e->frames = c->frames;
	e->dim = d = c->embed_dim;
	e->heads = c->text_heads;
	e->logit_scale = ea_read_logit_scale(m);
	if (strcmp(c->architecture, "clip") == 0) {
		e->free_form = true;
		e->header = EA_MEANP;
		e->se = EA_SE_NONE;
		snprintf(e->describe, sizeof e->describe,
		    "training-free: mean of normalised frames (CLIP weights only)");
		return e;
	}
	if (strcmp(c->architecture, "ea") != 0) {
		util_set_cause(cause, "%s: architecture '%s' has no EA head",
		    UTIL_NAME(model_path(m)),
		    c->architecture);
		goto fail;
	}
	if (ea_parse_settings(m, e, cause, at, sizeof at) == -1 || ea_load_blocks(m, e, at, cause) == -1)
		goto fail;
	if (e->header == EA_TIGHT) {
		if (ea_load_tight(m, e, cause) == -1)
			goto fail;
		return e;
	}
	if (model_has(m, "intra_mlp.0.weight") && e->se != EA_SE_EXC_SEQ_AGG) {
		if ((e->intra_w0 = model_tensor_2d(m, d, 2 * d, cause, "intra_mlp.0.weight")) == NULL ||
		    (e->intra_b0 = model_tensor_1d(m, d, cause, "intra_mlp.0.bias")) == NULL ||
		    (e->intra_w2 = model_tensor_2d(m, 1, d, cause, "intra_mlp.2.weight")) == NULL ||
		    (e->intra_b2 = model_tensor_1d(m, 1, cause, "intra_mlp.2.bias")) == NULL)
			goto fail;
		size_t used = strlen(e->describe);
		snprintf(e->describe + used, sizeof e->describe - used, ", intra_mlp");
	}
	if (e->header == EA_SEQ_TRANSF || e->header == EA_SEQ_LSTM) {
		e->seq = temporal_load(m, e->header == EA_SEQ_TRANSF ? TEMPORAL_SEQ_TRANSF :
		    TEMPORAL_SEQ_LSTM, e->frames, d, cause);
		if (e->seq == NULL)
			goto fail;
	}
	return e;
fail:
	ea_free(e);
	return NULL;
}

void ea_free(ea *e)
{
	if (e == NULL)
		return;
	temporal_free(e->seq);
	free(e->cross);
	free(e);
}

int ea_frames(const ea *e)
{
	return e->frames;
}

int ea_dim(const ea *e)
{
	return e->dim;
}

bool ea_is_tight(const ea *e)
{
	return e->header == EA_TIGHT;
}

bool ea_is_training_free(const ea *e)
{
	return e->free_form;
}

const char *ea_describe(const ea *e)
{
	return e->describe;
}

size_t ea_video_cache_floats(const ea *e)
{
	size_t f = (size_t)e->frames, d = (size_t)e->dim;

	return e->header == EA_TIGHT ? f * d + 2 * f + d : d + 3 * f;
}

/*
 * The squeeze block's F logits for frames x [F, D]: W2 δ(W1 z + b1) + b2
 * with z the per-frame channel mean (padded frames included).
 */
static void ea_block_logits(const ea_block *b, const float *x, int f, int d, float *out,
    float *hidden)
{
	float *z = out; /* out doubles as z until the last step */
	float zcopy[1024];

	for (int i = 0; i < f; i++) {
		double s = 0;
		for (int j = 0; j < d; j++)
			s += x[(size_t)i * d + j];
		z[i] = (float)(s / d);
	}
	memcpy(zcopy, z, sizeof(float) * (size_t)f);
	for (int h = 0; h < b->hidden; h++) {
		double s = b->b0[h];
		for (int i = 0; i < f; i++)
			s += (double)b->w0[(size_t)h * f + i] * zcopy[i];
		float v = s > 0 ? (float)s : 0;
		if (b->relu6 && v > 6)
			v = 6;
		hidden[h] = v;
	}
	for (int i = 0; i < f; i++) {
		double s = b->b2[i];
		for (int h = 0; h < b->hidden; h++)
			s += (double)b->w2[(size_t)i * b->hidden + h] * hidden[h];
		out[i] = (float)s;
	}
}

/* x ← e_i x_i with e = sigmoid(logits); e [F] out. */
static void ea_excite(const ea *e, float *x, float *weights, float *hidden)
{
	int f = e->frames, d = e->dim;

	ea_block_logits(&e->exc, x, f, d, weights, hidden);
	for (int i = 0; i < f; i++) {
		weights[i] = 1.0f / (1.0f + expf(-weights[i]));
		for (int j = 0; j < d; j++)
			x[(size_t)i * d + j] *= weights[i];
	}
}

/* v = Σ g_i x_i with g = softmax(logits); g [F] out. */
static void ea_aggregate(const ea *e, const float *x, float *v, float *weights, float *hidden)
{
	int f = e->frames, d = e->dim;

	ea_block_logits(&e->agg, x, f, d, weights, hidden);
	ops_softmax(weights, f);
	memset(v, 0, sizeof(float) * (size_t)d);
	for (int i = 0; i < f; i++)
		for (int j = 0; j < d; j++)
			v[j] += weights[i] * x[(size_t)i * d + j];
}

static void ea_masked_mean(const float *x, const float *mask, int f, int d, float *v, float *g)
{
	double n = 0;

	for (int i = 0; i < f; i++)
		n += mask[i];
	if (n == 0)
		n = 1;
	memset(v, 0, sizeof(float) * (size_t)d);
	for (int i = 0; i < f; i++) {
		g[i] = (float)(mask[i] / n);
		for (int j = 0; j < d; j++)
			v[j] += g[i] * x[(size_t)i * d + j];
	}
}

/* intra_attn: w_i = intra_mlp([x_i ; mean_j x_j]); x_i ← w_i x_i. */
static void ea_intra(const ea *e, float *x, float *weights, float *cat, float *hid)
{
	int f = e->frames, d = e->dim;
	float *mean = cat + (size_t)f * 2 * d; /* [d] after the [F, 2D] block */

	for (int j = 0; j < d; j++) {
		double s = 0;
		for (int i = 0; i < f; i++)
			s += x[(size_t)i * d + j];
		mean[j] = (float)(s / f);
	}
	for (int i = 0; i < f; i++) {
		memcpy(cat + (size_t)i * 2 * d, x + (size_t)i * d, sizeof(float) * (size_t)d);
		memcpy(cat + (size_t)i * 2 * d + d, mean, sizeof(float) * (size_t)d);
	}
	tensor_linear(hid, cat, e->intra_w0, e->intra_b0, f, 2 * d, d);
	for (size_t k = 0; k < (size_t)f * d; k++)
		if (hid[k] < 0)
			hid[k] = 0;
	for (int i = 0; i < f; i++) {
		weights[i] = tensor_dot(hid + (size_t)i * d, e->intra_w2, d) + e->intra_b2[0];
		for (int j = 0; j < d; j++)
			x[(size_t)i * d + j] *= weights[i];
	}
}

int ea_prepare_video(const ea *e, const float *v, const float *mask, float *cache,
    char **cause)
{
	int f = e->frames, d = e->dim;
	size_t fd = (size_t)f * d;
	float *x = tensor_alloc(fd), *work = tensor_alloc(fd * 4 + (size_t)d + 2048);
	float *hidden = NULL;
	int rc = -1;

	if (x == NULL || work == NULL || f > 1024) {
		util_set_cause(cause, "ea: out of memory");
		goto out;
	}
	hidden = work + fd * 4 + (size_t)d; /* [max(h)] ≤ 2048 */
	if ((e->has_exc && e->exc.hidden > 2048) || (e->has_agg && e->agg.hidden > 2048)) {
		util_set_cause(cause, "ea: block hidden size too large");
		goto out;
	}
	memcpy(x, v, sizeof(float) * fd);

	if (e->header == EA_TIGHT) {
		float *exc = cache + fd + f, *coarse = cache + fd + 2 * f;

		for (int i = 0; i < f; i++)
			exc[i] = 1;
		if (e->has_exc)
			ea_excite(e, x, exc, hidden);
		memcpy(cache + fd, mask, sizeof(float) * (size_t)f);
		/* Coarse vector from the excited frames before the positions. */
		memcpy(work, x, sizeof(float) * fd);
		ops_l2_normalize(work, f, d);
		ea_masked_mean(work, mask, f, d, coarse, work + fd);
		ops_l2_normalize(coarse, 1, d);
		for (size_t k = 0; k < fd; k++)
			cache[k] = x[k] + e->cross_pos[(size_t)d + k]; /* rows 1..F */
		rc = 0;
		goto out;
	}

	float *vhat = cache, *exc = cache + d, *agg = cache + d + f, *intra = cache + d + 2 * f;
	bool aggregated = false;

	for (int i = 0; i < f; i++)
		exc[i] = intra[i] = 1;
	if (e->free_form)
		ops_l2_normalize(x, f, d);
	if (e->seq != NULL) {
		if (e->se == EA_SE_EXC_SEQ || e->se == EA_SE_EXC_SEQ_AGG)
			ea_excite(e, x, exc, hidden);
		if (temporal_forward(e->seq, x, mask, work, cause) == -1)
			goto out;
		memcpy(x, work, sizeof(float) * fd);
	}
	if (e->se == EA_SE_EXC_SEQ_AGG) {
		ea_aggregate(e, x, vhat, agg, hidden);
		aggregated = true;
	} else {
		if (e->intra_w0 != NULL)
			ea_intra(e, x, intra, work, work + fd * 2 + d);
		if (e->se == EA_SE_EXCITATION || e->se == EA_SE_EXC_AGG)
			ea_excite(e, x, exc, hidden);
		if (e->se == EA_SE_AGGREGATION || e->se == EA_SE_EXC_AGG) {
			ea_aggregate(e, x, vhat, agg, hidden);
			aggregated = true;
		}
	}
	if (!aggregated)
		ea_masked_mean(x, mask, f, d, vhat, agg);
	ops_l2_normalize(vhat, 1, d);
	rc = 0;
out:
	tensor_free(x);
	tensor_free(work);
	return rc;
}

const float *ea_cache_excitation(const ea *e, const float *cache)
{
	size_t f = (size_t)e->frames, d = (size_t)e->dim;

	return e->header == EA_TIGHT ? cache + f * d + f : cache + d;
}

const float *ea_cache_aggregation(const ea *e, const float *cache)
{
	return e->header == EA_TIGHT ? NULL : cache + e->dim + e->frames;
}

const float *ea_cache_intra(const ea *e, const float *cache)
{
	return e->header == EA_TIGHT ? NULL : cache + e->dim + 2 * e->frames;
}

size_t ea_cache_coarse_offset(const ea *e)
{
	size_t f = (size_t)e->frames, d = (size_t)e->dim;

	return e->header == EA_TIGHT ? f * d + 2 * f : 0;
}

const float *ea_cache_coarse(const ea *e, const float *cache)
{
	return cache + ea_cache_coarse_offset(e);
}

void ea_query_vector(const ea *e, const float *s, float *q)
{
	double ss = 0;

	for (int j = 0; j < e->dim; j++)
		ss += (double)s[j] * s[j];
	float scale = ss > 0 ? (float)(e->logit_scale / sqrt(ss)) : 0;
	for (int j = 0; j < e->dim; j++)
		q[j] = s[j] * scale;
}

/* The cross encoder on n (query, video) pairs; scores [n]. */
static int ea_score_tight(const ea *e, const float *s, const float *const *caches, int n,
    float *scores, char **cause)
{
	int f = e->frames, d = e->dim, t = f + 1;
	size_t fd = (size_t)f * d, rows = (size_t)n * t;
	float *x = tensor_alloc(rows * d), *bias = tensor_alloc(rows);
	float *scratch = tensor_alloc(ops_block_scratch_floats(n, t, d, 4 * d));
	float *h = tensor_alloc((size_t)d * 2);

	if (x == NULL || bias == NULL || scratch == NULL || h == NULL) {
		util_set_cause(cause, "ea: out of memory");
		tensor_free(x);
		tensor_free(bias);
		tensor_free(scratch);
		tensor_free(h);
		return -1;
	}
	for (int b = 0; b < n; b++) {
		float *xb = x + (size_t)b * t * d;
		const float *mask = caches[b] + fd;

		for (int j = 0; j < d; j++)
			xb[j] = s[j] + e->cross_pos[j];
		memcpy(xb + d, caches[b], sizeof(float) * fd);
		bias[(size_t)b * t] = 0; /* the text token's mask is 1 */
		for (int i = 0; i < f; i++)
			bias[(size_t)b * t + 1 + i] = (1.0f - mask[i]) * -1000000.0f;
	}
	for (int l = 0; l < e->cross_layers; l++)
		ops_block_forward(x, n, t, d, e->heads, 4 * d, &e->cross[l], OPS_LN_EPS_TF, bias, false,
		    scratch);
	for (int b = 0; b < n; b++) {
		/* Pooler: ln_pool on token 0, dense, QuickGELU; then similarity_dense. */
		ops_layer_norm(h, x + (size_t)b * t * d, e->pool_ln_w, e->pool_ln_b, 1, d, OPS_LN_EPS_TF);
		tensor_linear(h + d, h, e->pool_dense_w, e->pool_dense_b, 1, d, d);
		ops_quick_gelu(h + d, (size_t)d);
		scores[b] = tensor_dot(h + d, e->sim_w, d) + e->sim_b[0];
	}
	tensor_free(x);
	tensor_free(bias);
	tensor_free(scratch);
	tensor_free(h);
	return 0;
}

int ea_score_many(const ea *e, const float *s, const float *const *caches, int n,
    float *scores, char **cause)
{
	if (n <= 0)
		return 0;
	if (e->header == EA_TIGHT)
		return ea_score_tight(e, s, caches, n, scores, cause);

	float *q = tensor_alloc((size_t)e->dim);
	if (q == NULL) {
		util_set_cause(cause, "ea: out of memory");
		return -1;
	}
	ea_query_vector(e, s, q);
	for (int i = 0; i < n; i++)
		scores[i] = tensor_dot(q, caches[i], e->dim);
	tensor_free(q);
	return 0;
}
