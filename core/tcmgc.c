/*
 * tcmgc — TC-MGC: the per-video cache, the per-query probes, and the
 * per-pair scores (see tcmgc.h for the algebra and the cache layout).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "scan.h"
#include "tcmgc.h"
#include "temporal.h"
#include "tensor.h"
#include "util.h"
#include "vec.h"

#define TCMGC_MAX_K 64
/* Inner loops run over blocks of this many floats (vectorised by the compiler). */
#define TCMGC_BLK 8
#define TCMGC_PAD(n) (((n) + TCMGC_BLK - 1) / TCMGC_BLK * TCMGC_BLK)

struct tcmgc {
	int frames, words, dim, k;
	bool free_form;
	float lambda, logit_scale;
	char describe[128];
	temporal *seq;                 /* seqTransf, or TEMPORAL_NONE */
	float *owned;                  /* everything below that is not a model tensor */
	const float *g1, *b1;          /* [D] layer_norm1 */
	const float *g2, *b2;          /* [D] layer_norm2 */
	const float *g3, *b3;          /* [D] layer_norm3 */
	float *bt;                     /* [D, D] B~ = C (I + W_proj) diag(γ2) */
	float *c0;                     /* [D] c~0 = C((I + W_proj) β2 + b_proj) */
	float cc0, cg0, cgb, cbb;      /* |c~0|², |γ3 c~0|², (γ3 β3)·c~0, |β3|² */
	float *g3sq_c0, *g3b3;         /* [D] γ3² ⊙ c~0, γ3 ⊙ β3 */
	const float *gmat;             /* [D, D] global_mat_weight, NULL = identity */
	const float *lmat;             /* [D, D] local_mat_weight, NULL = identity */
	const float *a_vw;             /* [k, k] attentive_word_logit_weight */
	const float *a_sf;             /* [k+1, k+1] concat_frame_word_logit_weight */
	const float *c_w, *c_w2;       /* [k, k] attentive_word_mat_weight{,2} */
	const float *c_f, *c_f2;       /* [k, k] attentive_frame_word_mat_weight{,2} */
	const float *p_lsa;            /* [4, 4] logit_weight */
};

struct tcmgc_query {
	int nr;          /* probe rows (distinct vectors) */
	int np;          /* L+1 rounded up to TCMGC_BLK: the padded query-row count */
	int o_off;       /* first column of O the probes fill (1 when s is a word row) */
	int ldo;         /* row stride of the probe products O [F, ldo] */
	int att0_col;    /* O column of the sentence's attention probe */
	int *col_s;      /* [L+1] O column of each out_s probe (Gᵀ s̄, W̄_w) */
	int *col_f;      /* [L+1] O column of each out_f probe (s̄, Glᵀ W̄_w) */
	float *probes_t; /* [D, nr] the probe vectors as columns (B of a plain GEMM) */
	float *probes_p; /* the same packed in 16-wide panels for scan_block */
	float *outs_t;   /* [D, np] trained: the out_s probes, dotted with Kcᵀ a_0
	                    per video instead of riding in the GEMM; NULL otherwise */
	float *sumq;     /* [np] Σ_d q̂_j (zero padding) */
	float *scale_s, *rc0_s, *rb3_s; /* [L+1] per out_s probe */
	float *scale_f, *rc0_f, *rb3_f; /* [L+1] per out_f probe */
	float *sbar;     /* [D] */
	float *mem;
};

static const float tcmgc_identity4[16] = { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 };

static float tcmgc_read_logit_scale(model *m)
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

static int tcmgc_read_settings(model *m, tcmgc *t, char **cause)
{
	const char *s = model_meta(m, "clipgrep.tcmgc.keep_rate");
	double keep = 0.1;
	int k;

	if (s != NULL) {
		char *end;
		keep = strtod(s, &end);
		if (end == s || *end != '\0' || !(keep > 0 && keep <= 1)) {
			util_set_cause(cause, "%s: metadata clipgrep.tcmgc.keep_rate: '%s' is not in (0, 1]",
			    UTIL_NAME(model_path(m)), s);
			return -1;
		}
	}
	/* int(L * keep_rate) in double, as Python computes it; at least 1. */
	k = (int)((double)t->words * keep);
	if (k < 1)
		k = 1;
	if (model_meta_int(m, "clipgrep.tcmgc.k", k, &t->k, cause) == -1 ||
	    model_meta_float(m, "clipgrep.tcmgc.softmax_lambda", 100.0f, &t->lambda, cause) == -1)
		return -1;
	if (t->k < 1 || t->k > t->words || t->k > TCMGC_MAX_K) {
		util_set_cause(cause, "%s: TC-MGC k = %d must be 1..%d", UTIL_NAME(model_path(m)),
		    t->k,
		    t->words < TCMGC_MAX_K ? t->words : TCMGC_MAX_K);
		return -1;
	}
	return 0;
}

/* Derived LVA constants: B~, c~0 and the scalars (see tcmgc.h). */
static void tcmgc_derive(tcmgc *t, const float *wp, const float *bp)
{
	int d = t->dim;

	for (int r = 0; r < d; r++)
		for (int c = 0; c < d; c++) {
			float m = (r == c ? 1.0f : 0.0f) + (wp != NULL ? wp[(size_t)r * d + c] : 0.0f);
			t->bt[(size_t)r * d + c] = m * t->g2[c];
		}
	for (int r = 0; r < d; r++) {
		double s = bp != NULL ? bp[r] : 0;
		for (int c = 0; c < d; c++)
			s += (double)((r == c ? 1.0f : 0.0f) + (wp != NULL ? wp[(size_t)r * d + c] : 0.0f)) *
			    t->b2[c];
		t->c0[r] = (float)s;
	}
	/* Centre B's columns and c0 (C = I - 11ᵀ/D applied on the left). */
	for (int c = 0; c < d; c++) {
		double mean = 0;
		for (int r = 0; r < d; r++)
			mean += t->bt[(size_t)r * d + c];
		mean /= d;
		for (int r = 0; r < d; r++)
			t->bt[(size_t)r * d + c] -= (float)mean;
	}
	double mean = 0, cc0 = 0, cg0 = 0, cgb = 0, cbb = 0;
	for (int r = 0; r < d; r++)
		mean += t->c0[r];
	mean /= d;
	for (int r = 0; r < d; r++) {
		t->c0[r] -= (float)mean;
		cc0 += (double)t->c0[r] * t->c0[r];
		cg0 += (double)t->g3[r] * t->g3[r] * t->c0[r] * t->c0[r];
		cgb += (double)t->g3[r] * t->b3[r] * t->c0[r];
		cbb += (double)t->b3[r] * t->b3[r];
		t->g3sq_c0[r] = t->g3[r] * t->g3[r] * t->c0[r];
		t->g3b3[r] = t->g3[r] * t->b3[r];
	}
	t->cc0 = (float)cc0;
	t->cg0 = (float)cg0;
	t->cgb = (float)cgb;
	t->cbb = (float)cbb;
}

tcmgc *tcmgc_load(model *m, char **cause)
{
	const model_config *c = model_get_config(m);
	tcmgc *t = calloc(1, sizeof *t);
	const float *wp = NULL, *bp = NULL;
	int d, k;
	const char *p = "conditional_transformer.pool_frames.";

	if (t == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(model_path(m)));
		return NULL;
	}
	t->frames = c->frames;
	t->words = c->max_words;
	t->dim = d = c->embed_dim;
	t->logit_scale = tcmgc_read_logit_scale(m);
	if (strcmp(c->architecture, "clip") == 0)
		t->free_form = true;
	else if (strcmp(c->architecture, "tcmgc") != 0) {
		util_set_cause(cause, "%s: architecture '%s' has no TC-MGC head",
		    UTIL_NAME(model_path(m)),
		    c->architecture);
		goto fail;
	}
	if (tcmgc_read_settings(m, t, cause) == -1)
		goto fail;
	k = t->k;
	/* owned: g/b ones and zeros [2D] (free form), bt [D²], c0, g3sq_c0, g3b3 [3D] */
	if ((t->owned = tensor_zalloc((size_t)d * d + (size_t)d * 5)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(model_path(m)));
		goto fail;
	}
	t->bt = t->owned;
	t->c0 = t->bt + (size_t)d * d;
	t->g3sq_c0 = t->c0 + d;
	t->g3b3 = t->g3sq_c0 + d;
	if (t->free_form) {
		float *ones = t->g3b3 + d, *zeros = ones + d;
		for (int i = 0; i < d; i++)
			ones[i] = 1;
		t->g1 = t->g2 = t->g3 = ones;
		t->b1 = t->b2 = t->b3 = zeros;
		t->a_vw = t->c_w = t->c_w2 = t->c_f = t->c_f2 = NULL;
		t->a_sf = NULL;
		t->p_lsa = tcmgc_identity4;
		if ((t->seq = temporal_load(m, TEMPORAL_NONE, t->frames, d, cause)) == NULL)
			goto fail;
		snprintf(t->describe, sizeof t->describe,
		    "training-free (CLIP weights only): identity LVA and interactions, k=%d", k);
	} else {
		if ((t->seq = temporal_load(m, TEMPORAL_SEQ_TRANSF, t->frames, d, cause)) == NULL)
			goto fail;
#define V1(dst, name) if ((dst = model_tensor_1d(m, d, cause, "%s" name, p)) == NULL) goto fail
		V1(t->g1, "layer_norm1.weight");
		V1(t->b1, "layer_norm1.bias");
		V1(t->g2, "layer_norm2.weight");
		V1(t->b2, "layer_norm2.bias");
		V1(t->g3, "layer_norm3.weight");
		V1(t->b3, "layer_norm3.bias");
		V1(bp, "linear_proj.bias");
#undef V1
#define M2(dst, n, name) if ((dst = model_tensor_2d(m, n, n, cause, name)) == NULL) goto fail
		if ((wp = model_tensor_2d(m, d, d, cause, "%slinear_proj.weight", p)) == NULL)
			goto fail;
		M2(t->gmat, d, "global_mat_weight");
		M2(t->lmat, d, "local_mat_weight");
		M2(t->a_vw, k, "attentive_word_logit_weight");
		M2(t->a_sf, k + 1, "concat_frame_word_logit_weight");
		M2(t->c_w, k, "attentive_word_mat_weight");
		M2(t->c_w2, k, "attentive_word_mat_weight2");
		M2(t->c_f, k, "attentive_frame_word_mat_weight");
		M2(t->c_f2, k, "attentive_frame_word_mat_weight2");
		if (model_has(m, "logit_weight")) {
			M2(t->p_lsa, 4, "logit_weight");
		} else
			t->p_lsa = tcmgc_identity4;
#undef M2
		snprintf(t->describe, sizeof t->describe, "seqTransf + LVA, k=%d, lambda=%g%s", k,
		    (double)t->lambda, model_has(m, "logit_weight") ? "" : ", identity LSA");
	}
	tcmgc_derive(t, wp, bp);
	return t;
fail:
	tcmgc_free(t);
	return NULL;
}

void tcmgc_free(tcmgc *t)
{
	if (t == NULL)
		return;
	temporal_free(t->seq);
	tensor_free(t->owned);
	free(t);
}

int tcmgc_frames(const tcmgc *t) { return t->frames; }
int tcmgc_words(const tcmgc *t) { return t->words; }
int tcmgc_dim(const tcmgc *t) { return t->dim; }
int tcmgc_topk(const tcmgc *t) { return t->k; }
bool tcmgc_is_training_free(const tcmgc *t) { return t->free_form; }
const char *tcmgc_describe(const tcmgc *t) { return t->describe; }

size_t tcmgc_cache_extras_offset(const tcmgc *t)
{
	return (size_t)t->frames * t->dim;
}

size_t tcmgc_cache_coarse_offset(const tcmgc *t)
{
	size_t f = (size_t)t->frames;

	return f * t->dim + 5 * f + 3 * f * f;
}

size_t tcmgc_video_cache_floats(const tcmgc *t)
{
	return tcmgc_cache_coarse_offset(t) + (size_t)t->dim;
}

int tcmgc_temporal(const tcmgc *t, const float *v, const float *mask, float *out, char **cause)
{
	return temporal_forward(t->seq, v, mask, out, cause);
}

int tcmgc_prepare_video(const tcmgc *t, const float *v, const float *mask, float *cache,
    char **cause)
{
	int f = t->frames, d = t->dim;
	size_t fd = (size_t)f * d;
	float *vp = tensor_alloc(fd), *y = tensor_alloc(fd), *y3 = tensor_alloc(fd);
	float *kc = cache, *ex = cache + fd;
	float *mk = ex, *msk = ex + f, *kyc = ex + 2 * f, *ky3c = ex + 3 * f, *kyb = ex + 4 * f;
	float *gk = ex + 5 * f, *gy = gk + f * f, *g3 = gy + f * f, *coarse = g3 + f * f;
	int rc = -1;

	if (vp == NULL || y == NULL || y3 == NULL) {
		util_set_cause(cause, "tcmgc: out of memory");
		goto out;
	}
	if (temporal_forward(t->seq, v, mask, vp, cause) == -1)
		goto out;

	/* K = LN1(V'), then centre each row and keep its mean. */
	ops_layer_norm(kc, vp, t->g1, t->b1, f, d, OPS_LN_EPS_CLIP);
	for (int i = 0; i < f; i++) {
		double mean = 0;
		for (int j = 0; j < d; j++)
			mean += kc[(size_t)i * d + j];
		mean /= d;
		mk[i] = (float)mean;
		for (int j = 0; j < d; j++)
			kc[(size_t)i * d + j] -= (float)mean;
	}
	memcpy(msk, mask, sizeof(float) * (size_t)f);

	/* Y = Kc B~ᵀ; Y3 = Y diag(γ3). */
	tensor_gemm(false, true, f, d, d, 1, kc, d, t->bt, d, 0, y, d);
	for (int i = 0; i < f; i++)
		for (int j = 0; j < d; j++)
			y3[(size_t)i * d + j] = y[(size_t)i * d + j] * t->g3[j];
	tensor_gemm(false, true, f, f, d, 1, kc, d, kc, d, 0, gk, f);
	tensor_gemm(false, true, f, f, d, 1, y, d, y, d, 0, gy, f);
	tensor_gemm(false, true, f, f, d, 1, y3, d, y3, d, 0, g3, f);
	for (int i = 0; i < f; i++) {
		kyc[i] = tensor_dot(y + (size_t)i * d, t->c0, d);
		ky3c[i] = tensor_dot(y + (size_t)i * d, t->g3sq_c0, d);
		kyb[i] = tensor_dot(y + (size_t)i * d, t->g3b3, d);
	}

	/* Coarse vector: masked mean of the normalised V' rows, normalised. */
	ops_l2_normalize(vp, f, d);
	memset(coarse, 0, sizeof(float) * (size_t)d);
	for (int i = 0; i < f; i++)
		for (int j = 0; j < d; j++)
			coarse[j] += mask[i] * vp[(size_t)i * d + j];
	ops_l2_normalize(coarse, 1, d);
	rc = 0;
out:
	tensor_free(vp);
	tensor_free(y);
	tensor_free(y3);
	return rc;
}

/* --- queries ------------------------------------------------------------ */

void tcmgc_query_free(tcmgc_query *q)
{
	if (q == NULL)
		return;
	tensor_free(q->mem);
	tensor_free(q->probes_t);
	tensor_free(q->probes_p);
	tensor_free(q->outs_t);
	free(q->col_s);
	free(q);
}

const float *tcmgc_query_sentence(const tcmgc_query *q)
{
	return q->sbar;
}

/* LN1 of one query vector into out; returns σ = sqrt(var + eps). */
static double tcmgc_ln1(const tcmgc *t, const float *x, float *out)
{
	int d = t->dim;
	double mean = 0, var = 0;

	for (int j = 0; j < d; j++)
		mean += x[j];
	mean /= d;
	for (int j = 0; j < d; j++)
		var += (x[j] - mean) * (x[j] - mean);
	var /= d;
	double sigma = sqrt(var + (double)OPS_LN_EPS_CLIP);
	ops_layer_norm(out, x, t->g1, t->b1, 1, d, OPS_LN_EPS_CLIP);
	return sigma;
}

static double tcmgc_norm(const float *x, int d)
{
	double s = 0;

	for (int j = 0; j < d; j++)
		s += (double)x[j] * x[j];
	return sqrt(s);
}

/* row (as a row vector) times a [D, D] matrix, or a copy when it is NULL (identity). */
static void tcmgc_vecmat(const float *x, const float *mat, int d, float *out)
{
	if (mat == NULL) {
		memcpy(out, x, sizeof(float) * (size_t)d);
		return;
	}
	tensor_gemm(false, false, 1, d, d, 1, x, d, mat, d, 0, out, d);
}

tcmgc_query *tcmgc_query_new(const tcmgc *t, const float *s, const float *words, char **cause)
{
	int d = t->dim, l = t->words, n1 = l + 1, nlog = t->free_form ? n1 : 3 * n1, dup = -1;
	tcmgc_query *q = calloc(1, sizeof *q);
	float *lg = NULL;
	double *sig = NULL;
	int *phys = NULL;

	if (q == NULL)
		goto oom;
	/* The text tower's sentence feature is its EOT word row, bit for bit:
	 * then the sentence's probes are that word's and are not repeated. */
	for (int w = 0; w < l && dup < 0; w++)
		if (memcmp(s, words + (size_t)w * d, sizeof(float) * (size_t)d) == 0)
			dup = w;
	q->np = TCMGC_PAD(n1);
	if ((lg = tensor_alloc((size_t)nlog * d)) == NULL ||
	    (sig = calloc((size_t)n1, sizeof *sig)) == NULL ||
	    (phys = calloc((size_t)nlog, sizeof *phys)) == NULL ||
	    (q->col_s = calloc((size_t)n1 * 2, sizeof *q->col_s)) == NULL ||
	    (q->mem = tensor_zalloc((size_t)nlog * d + (size_t)q->np + (size_t)n1 * 6 + (size_t)d)) == NULL)
		goto oom;
	q->col_f = q->col_s + n1;
	q->sumq = q->mem + (size_t)nlog * d;
	q->scale_s = q->sumq + q->np;
	q->rc0_s = q->scale_s + n1;
	q->rb3_s = q->rc0_s + n1;
	q->scale_f = q->rb3_s + n1;
	q->rc0_f = q->scale_f + n1;
	q->rb3_f = q->rc0_f + n1;
	q->sbar = q->rb3_f + n1;

	/* Logical rows: attention probes q̂ = LN1(s), LN1(W_w), then (trained)
	 * the out_s block (Gᵀ s̄, W̄_w) and the out_f block (s̄, Glᵀ W̄_w), each
	 * output probe mapped through (γ3 ⊙ r)ᵀ B~. */
	for (int j = 0; j < n1; j++) {
		const float *x = j == 0 ? s : words + (size_t)(j - 1) * d;
		float *row = lg + (size_t)j * d;
		double sum = 0;
		sig[j] = tcmgc_ln1(t, x, row);
		for (int e = 0; e < d; e++)
			sum += row[e];
		q->sumq[j] = (float)sum;
	}
	double sn = tcmgc_norm(s, d);
	for (int e = 0; e < d; e++)
		q->sbar[e] = sn > 0 ? (float)(s[e] / sn) : 0;
	if (t->free_form) {
		/* Every output probe C r is a multiple of an attention probe. */
		for (int j = 0; j < n1; j++) {
			const float *x = j == 0 ? s : words + (size_t)(j - 1) * d;
			double nx = tcmgc_norm(x, d);
			q->scale_s[j] = q->scale_f[j] = nx > 0 ? (float)(sig[j] / nx) : 0;
		}
	} else {
		float *rs = lg + (size_t)n1 * d, *r = NULL;
		for (int j = 0; j < n1; j++) {
			float *a = rs + (size_t)j * d, *b = rs + (size_t)(n1 + j) * d;
			if (j == 0) {
				tcmgc_vecmat(q->sbar, t->gmat, d, a);
				memcpy(b, q->sbar, sizeof(float) * (size_t)d);
			} else {
				const float *w = words + (size_t)(j - 1) * d;
				double nw = tcmgc_norm(w, d);
				for (int e = 0; e < d; e++)
					a[e] = nw > 0 ? (float)(w[e] / nw) : 0;
				tcmgc_vecmat(a, t->lmat, d, b);
			}
		}
		for (int j = 0; j < 2 * n1; j++) {
			float *rr = rs + (size_t)j * d;
			double c0 = 0, b3 = 0;
			for (int e = 0; e < d; e++) {
				c0 += (double)t->g3[e] * rr[e] * t->c0[e];
				b3 += (double)t->b3[e] * rr[e];
			}
			(j < n1 ? q->scale_s : q->scale_f)[j % n1] = 1;
			(j < n1 ? q->rc0_s : q->rc0_f)[j % n1] = (float)c0;
			(j < n1 ? q->rb3_s : q->rb3_f)[j % n1] = (float)b3;
			for (int e = 0; e < d; e++)
				rr[e] *= t->g3[e];
		}
		if ((r = tensor_alloc((size_t)2 * n1 * d)) == NULL)
			goto oom;
		tensor_gemm(false, false, 2 * n1, d, d, 1, rs, d, t->bt, d, 0, r, d);
		memcpy(rs, r, sizeof(float) * 2 * (size_t)n1 * d);
		tensor_free(r);
	}

	/* Physical rows: each distinct logical row once (built in place in
	 * q->mem, then stored transposed). */
	float *rows = q->mem;
	q->o_off = dup >= 0 ? 1 : 0;
	for (int i = 0; i < nlog; i++) {
		if (dup >= 0 && i == 0)
			continue;                        /* q̂_s = q̂ of the EOT word */
		if (!t->free_form && i >= n1 && i < 2 * n1)
			continue;                        /* out_s: see outs_t */
		phys[i] = q->nr++;
		memcpy(rows + (size_t)phys[i] * d, lg + (size_t)i * d, sizeof(float) * (size_t)d);
	}
	if (dup >= 0)
		phys[0] = phys[1 + dup];
	if (!t->free_form) {
		/* The out_s probes meet only the sentence's attention row, so a
		 * video pools Kcᵀ a_0 once and dots it with them: D (L+1) MACs
		 * instead of F D (L+1) in the GEMM. */
		if ((q->outs_t = tensor_zalloc((size_t)d * q->np)) == NULL)
			goto oom;
		for (int c = 0; c < n1; c++)
			for (int e = 0; e < d; e++)
				q->outs_t[(size_t)e * q->np + c] = lg[(size_t)(n1 + c) * d + e];
	}
	if ((q->probes_t = tensor_alloc((size_t)q->nr * d)) == NULL)
		goto oom;
	for (int r = 0; r < q->nr; r++)
		for (int e = 0; e < d; e++)
			q->probes_t[(size_t)e * q->nr + r] = rows[(size_t)r * d + e];
	if ((q->probes_p = tensor_alloc(scan_panel_floats(d, q->nr))) == NULL)
		goto oom;
	scan_pack(q->probes_t, q->nr, d, q->nr, q->probes_p);
	q->ldo = TCMGC_PAD(q->o_off + q->nr > q->np ? q->o_off + q->nr : q->np);
	q->att0_col = q->o_off + phys[0];
	for (int c = 0; c < n1; c++) {
		q->col_s[c] = t->free_form ? q->o_off + phys[c] : -1;
		q->col_f[c] = q->o_off + phys[t->free_form ? c : 2 * n1 + c];
	}
	tensor_free(lg);
	free(sig);
	free(phys);
	return q;
oom:
	util_set_cause(cause, "tcmgc: out of memory");
	tensor_free(lg);
	free(sig);
	free(phys);
	tcmgc_query_free(q);
	return NULL;
}

/* --- per-pair scores ------------------------------------------------------ */

/* In-place softmax of a few values (n <= TCMGC_MAX_K + 1). */
static void tcmgc_softmax_small(float *x, int n)
{
	float m = x[0], sum = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > m)
			m = x[i];
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - m);
		sum += x[i];
	}
	for (int i = 0; i < n; i++)
		x[i] /= sum;
}

/* ISA_A(x): p = softmax(λx), u = pA, w = softmax(λu), Σ w x.  A NULL = identity. */
static float tcmgc_isa(const float *x, int n, const float *a, float lambda)
{
	float p[TCMGC_MAX_K + 1], u[TCMGC_MAX_K + 1];
	double sum = 0;

	for (int i = 0; i < n; i++)
		p[i] = lambda * x[i];
	tcmgc_softmax_small(p, n);
	for (int j = 0; j < n; j++) {
		double s = 0;
		if (a == NULL)
			s = p[j];
		else
			for (int i = 0; i < n; i++)
				s += (double)p[i] * a[i * n + j];
		u[j] = (float)(lambda * s);
	}
	tcmgc_softmax_small(u, n);
	for (int j = 0; j < n; j++)
		sum += (double)u[j] * x[j];
	return (float)sum;
}

/* The k largest of x[n], descending, into top[k]. */
static void tcmgc_topk_desc(const float *x, int n, int k, float *top)
{
	int have = 0;

	for (int i = 0; i < n; i++) {
		float v = x[i];
		if (have == k && v <= top[k - 1])
			continue;
		int pos = have < k ? have++ : k - 1;
		while (pos > 0 && top[pos - 1] < v) {
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos] = v;
	}
}

/*
 * The per-pair work is laid out so that every inner loop runs over the
 * L+1 query rows (padded to np, a multiple of TCMGC_BLK) in fixed-size
 * blocks, which compilers vectorise at -O2 with whatever SIMD the target
 * has: attention and its softmax column-wise, the quadratic forms as
 * F x F x np updates, the out·probe values as F x (L+1) x np updates, and
 * the frame-word column top-k as a branch-free max/min network.
 */

typedef float tcmgc_v8 __attribute__((vector_size(32)));
typedef int tcmgc_v8i __attribute__((vector_size(32)));

/*
 * On x86-64 Linux the finishing step is also compiled for AVX2 and picked
 * at run time (GCC/clang function multi-versioning); the arithmetic is the
 * same, only the vector width differs (no FMA contraction is enabled).
 * Vectors are only ever loaded and stored through memory (never passed by
 * value), so the generic build needs no AVX calling convention.
 */
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define TCMGC_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef TCMGC_CLONES
#define TCMGC_CLONES
#endif

#define TCMGC_SPLAT(v) { v, v, v, v, v, v, v, v }

/* Attention logits of one frame for every query row. */
static inline void tcmgc_logits(float *restrict a, const float *restrict o,
    const float *restrict sumq, float m, float isd, int np)
{
	for (int j = 0; j < np; j += TCMGC_BLK)
		for (int u = 0; u < TCMGC_BLK; u++)
			a[j + u] = (o[j + u] + m * sumq[j + u]) * isd;
}

/*
 * y = 1/sqrt(x) on eight lanes, x > 0: the bit-trick estimate and three
 * Newton steps (relative error at float rounding, ~1e-7).  A macro: 32-byte
 * vectors are never passed by value (see above).
 */
#define TCMGC_RSQRT8(y, x) do { \
	const tcmgc_v8i rs_magic_ = TCMGC_SPLAT(0x5f3759df); \
	tcmgc_v8 rs_h_ = (x) * 0.5f; \
	(y) = (tcmgc_v8)(rs_magic_ - ((tcmgc_v8i)(x) >> 1)); \
	(y) = (y) * (1.5f - rs_h_ * (y) * (y)); \
	(y) = (y) * (1.5f - rs_h_ * (y) * (y)); \
	(y) = (y) * (1.5f - rs_h_ * (y) * (y)); \
} while (0)

/*
 * The per-row normalisers from the quadratic and linear forms (see
 * tcmgc.h): 1/σ2, 1/s3 and 1/|out|, eight rows at a time.
 */
static inline void tcmgc_norms(const tcmgc *t, int np, const float *restrict qk,
    const float *restrict qy, const float *restrict q3, const float *restrict u1,
    const float *restrict u3, const float *restrict ub, float *restrict inv2,
    float *restrict inv3, float *restrict invn)
{
	const float invd = 1.0f / (float)t->dim;

	for (int b = 0; b < np; b += 8) {
		tcmgc_v8 vqk, vqy, vq3, vu1, vu3, vub;
		memcpy(&vqk, qk + b, sizeof vqk);
		memcpy(&vqy, qy + b, sizeof vqy);
		memcpy(&vq3, q3 + b, sizeof vq3);
		memcpy(&vu1, u1 + b, sizeof vu1);
		memcpy(&vu3, u3 + b, sizeof vu3);
		memcpy(&vub, ub + b, sizeof vub);
		tcmgc_v8 i2, i3, in, a2 = vqk * invd + OPS_LN_EPS_CLIP;
		TCMGC_RSQRT8(i2, a2);
		tcmgc_v8 ny = vqy * i2 * i2 + 2.0f * vu1 * i2 + t->cc0;
		tcmgc_v8 a3 = ny * invd + OPS_LN_EPS_CLIP;
		TCMGC_RSQRT8(i3, a3);
		tcmgc_v8 ng = vq3 * i2 * i2 + 2.0f * vu3 * i2 + t->cg0;
		tcmgc_v8 gb = vub * i2 + t->cgb;
		tcmgc_v8 nout = ng * i3 * i3 + 2.0f * gb * i3 + t->cbb;
		tcmgc_v8i pos = nout > 0.0f;
		const tcmgc_v8 tiny = TCMGC_SPLAT(1e-30f);
		tcmgc_v8 safe = (tcmgc_v8)(((tcmgc_v8i)nout & pos) | ((tcmgc_v8i)tiny & ~pos));
		TCMGC_RSQRT8(in, safe);
		in = (tcmgc_v8)((tcmgc_v8i)in & pos);
		memcpy(inv2 + b, &i2, sizeof i2);
		memcpy(inv3 + b, &i3, sizeof i3);
		memcpy(invn + b, &in, sizeof in);
	}
}

/* v = ((v sc i2 + r0) i3 + r3) in: normalised out · probe values. */
static inline void tcmgc_scale(float *restrict v, const float *restrict i2,
    const float *restrict i3, const float *restrict in, float sc, float r0, float r3, int np)
{
	for (int j = 0; j < np; j += TCMGC_BLK)
		for (int u = 0; u < TCMGC_BLK; u++)
			v[j + u] = ((v[j + u] * sc * i2[j + u] + r0) * i3[j + u] + r3) * in[j + u];
}

/*
 * out[j] = Σ_i w_i x[i][j] over rows i < f of x (row stride np), with the
 * weights w_i = o[i * ldo + col]: one 8-lane accumulator per block.
 */
static inline void tcmgc_combine(float *restrict out, const float *restrict x, int f, int np,
    const float *restrict o, int ldo, int col)
{
	for (int b = 0; b < np; b += 8) {
		tcmgc_v8 acc = TCMGC_SPLAT(0.0f);
		for (int i = 0; i < f; i++) {
			tcmgc_v8 v;
			memcpy(&v, x + (size_t)i * np + b, sizeof v);
			acc += o[(size_t)i * ldo + col] * v;
		}
		memcpy(out + b, &acc, sizeof acc);
	}
}

/*
 * tcmgc_combine for four columns at once: four independent accumulators
 * share each load of x, so the loop is not bound by the add latency.
 */
static inline void tcmgc_combine4(float *restrict out, int out_stride, const float *restrict x,
    int f, int np, const float *restrict o, int ldo, const int *cols)
{
	for (int b = 0; b < np; b += 8) {
		tcmgc_v8 a0 = TCMGC_SPLAT(0.0f), a1 = a0, a2 = a0, a3 = a0;
		for (int i = 0; i < f; i++) {
			tcmgc_v8 v;
			const float *oi = o + (size_t)i * ldo;
			memcpy(&v, x + (size_t)i * np + b, sizeof v);
			a0 += oi[cols[0]] * v;
			a1 += oi[cols[1]] * v;
			a2 += oi[cols[2]] * v;
			a3 += oi[cols[3]] * v;
		}
		memcpy(out + b, &a0, sizeof a0);
		memcpy(out + (size_t)out_stride + b, &a1, sizeof a1);
		memcpy(out + 2 * (size_t)out_stride + b, &a2, sizeof a2);
		memcpy(out + 3 * (size_t)out_stride + b, &a3, sizeof a3);
	}
}

/* out[j] = a_jᵀ G a_j for the columns a_j of at [F, np]; G symmetric [F, F]. */
static inline void tcmgc_quad(float *restrict out, const float *restrict g,
    const float *restrict at, int f, int np)
{
	for (int b = 0; b < np; b += 8) {
		tcmgc_v8 acc = TCMGC_SPLAT(0.0f);
		for (int r = 0; r < f; r++) {
			tcmgc_v8 ar, s;
			memcpy(&ar, at + (size_t)r * np + b, sizeof ar);
			s = g[r * f + r] * ar;
			for (int c = r + 1; c < f; c++) {
				tcmgc_v8 ac;
				memcpy(&ac, at + (size_t)c * np + b, sizeof ac);
				s += (2.0f * g[r * f + c]) * ac;
			}
			acc += ar * s;
		}
		memcpy(out + b, &acc, sizeof acc);
	}
}

/*
 * pool[e] = Σ_i a_i kc[i][e] over the f frames, a_i = at[i * np] (the
 * sentence's attention), summed in frame order from 0 with a multiply and
 * an add per term.  The sums stay in registers across the frames (the
 * compiler cannot keep them there itself: pool might alias kc).
 */
static inline void tcmgc_pool(float *restrict pool, const float *restrict at, int np,
    const float *restrict kc, int f, int d)
{
	int e = 0;

	for (; e + 8 <= d; e += 8) {
		tcmgc_v8 acc = TCMGC_SPLAT(0.0f);
		for (int i = 0; i < f; i++) {
			tcmgc_v8 k;
			memcpy(&k, kc + (size_t)i * d + e, sizeof k);
			acc += at[(size_t)i * np] * k;
		}
		memcpy(pool + e, &acc, sizeof acc);
	}
	for (; e < d; e++) {
		float acc = 0.0f;
		for (int i = 0; i < f; i++)
			acc += at[(size_t)i * np] * kc[(size_t)i * d + e];
		pool[e] = acc;
	}
}

/*
 * vacc[j] = Σ_e pool[e] outs_t[e][j] for j < np, in order of e from 0 (as
 * a vec_axpy per e would), 32 lanes at a time held in registers.
 */
static inline void tcmgc_pool_dot(float *restrict vacc, const float *restrict pool, int d,
    const float *restrict outs_t, int np)
{
	int b = 0;

	for (; b + 32 <= np; b += 32) {
		tcmgc_v8 a0 = TCMGC_SPLAT(0.0f), a1 = a0, a2 = a0, a3 = a0;
		for (int e = 0; e < d; e++) {
			const float *row = outs_t + (size_t)e * np + b;
			tcmgc_v8 x0, x1, x2, x3;
			memcpy(&x0, row, sizeof x0);
			memcpy(&x1, row + 8, sizeof x1);
			memcpy(&x2, row + 16, sizeof x2);
			memcpy(&x3, row + 24, sizeof x3);
			a0 += pool[e] * x0;
			a1 += pool[e] * x1;
			a2 += pool[e] * x2;
			a3 += pool[e] * x3;
		}
		memcpy(vacc + b, &a0, sizeof a0);
		memcpy(vacc + b + 8, &a1, sizeof a1);
		memcpy(vacc + b + 16, &a2, sizeof a2);
		memcpy(vacc + b + 24, &a3, sizeof a3);
	}
	for (; b < np; b += 8) {
		tcmgc_v8 acc = TCMGC_SPLAT(0.0f);
		for (int e = 0; e < d; e++) {
			tcmgc_v8 x;
			memcpy(&x, outs_t + (size_t)e * np + b, sizeof x);
			acc += pool[e] * x;
		}
		memcpy(vacc + b, &acc, sizeof acc);
	}
}

/* Scratch floats for one pair's finishing step. */
static size_t tcmgc_finish_floats(const tcmgc *t)
{
	size_t f = (size_t)t->frames, n1 = (size_t)t->words + 1, np = TCMGC_PAD(n1);
	size_t k = (size_t)t->k, l = (size_t)t->words;

	/* AT [F, np]; 9 stats [np]; valT [n1, np]; x [np]; tk [k, np];
	 * vs, b, rest, restw [n1 each]; m1 [k, L]; m2 [k, k]; pool [D]; vacc [np];
	 * the bound's four rows [4, np] */
	return f * np + 9 * np + n1 * np + np + k * np + 4 * n1 + k * l + k * k + (size_t)t->dim +
	    np + 4 * np + 16;
}

/* The most frames the bound's slack (below) is proved for. */
#define TCMGC_BOUND_MAX_F 64

/*
 * An upper bound of the score tcmgc_finish computes in fp32, from what it
 * has before the out · probe values: the products o [F, ldo], the
 * normalisers inv2, inv3, invn [np] of every query row j, and (trained)
 * the exact out_s values vs [n1].  +inf when nothing can be said.
 *
 * Proof.  (1) The score is Σ ω_g z_g with ω = softmax(Z P) >= 0 summing
 * to 1, so it is at most max_g z_g.  Each z_g is ls (> 0) times a convex
 * combination of out · probe values: z_0 = ls vs[0]; z_1 an ISA (a softmax
 * -weighted mean) of the top k of vs[1..L]; z_2 an ISA of the top k of
 * valt[0][1..L] and of rest_c, itself a softmax-weighted mean of the
 * others (0 when L = k); z_3 the mean of two ISAs of ISAs of entries of
 * valt[1..L][1..L] (k <= L: no -inf fill reaches them).  So
 * score <= ls V, with V the largest of vs[0..L] and valt[c][j] over
 * c = 0..L, j = 1..L (and 0 when L = k).  In fp32 the weights of each mean sum to 1 within
 * (n + 2) u (u = 2^-24, n <= L + 1 terms), so each level adds at most
 * (L + 3) u max |x|; five levels, the ls product and the final rounding
 * stay below 1e-4 of ls T, T a bound of every |value| involved.
 * (2) valt[c][j] = ((x sc_c i2_j + r0_c) i3_j + r3_c) in_j (tcmgc_scale)
 * with x = Σ_i a_ji o[i][col_f(c)] summed in fp32, the attention
 * a_j >= 0 summing to 1 within (F + 3) u (an fp32 sum of F exponentials
 * and a rounded reciprocal); so x <= M_c + ((F + 3) u + γ_F (1 + (F + 3)
 * u)) A_c <= M_c + 1e-5 A_c for F <= 64 (the float sum M_c + 1e-5 A_c
 * rounds by less than the margin), with M_c, A_c the largest value and the
 * largest magnitude of column col_f(c).  sc_c, i2, i3, in >= 0, so the
 * chain is non-decreasing in x, in exact arithmetic and in fp32 (each
 * step multiplies by a non-negative number or adds a constant; rounding
 * to nearest is monotone): evaluating tcmgc_scale at M_c + 1e-5 A_c gives
 * an upper bound of valt[c][j]; evaluated on magnitudes (A_c (1 + 1e-5),
 * |sc|, |r0|, |r3|) it gives T.  Where a compiler contracts the chain into
 * fused multiply-adds differently at the two call sites, the results
 * differ by a few u T, inside the 1e-4 slack.  The training-free vs is
 * the out_f chain of row j = 0 (same probes and constants), so it is
 * covered by taking j from 0.
 */
TCMGC_CLONES
static float tcmgc_bound(const tcmgc *t, const tcmgc_query *q, const float *o,
    const float *inv2, const float *inv3, const float *invn, const float *vs, float *rows)
{
	const int f = t->frames, n1 = t->words + 1, np = q->np, ldo = q->ldo;
	float *mc = rows, *ac = rows + np; /* [n1] column maxima and magnitudes, widened */
	float best = -INFINITY, mag = 0;

	if (f > TCMGC_BOUND_MAX_F || n1 > np)
		return INFINITY;
	for (int c = 0; c < n1; c++) {
		const int col = q->col_f[c];
		float m = -INFINITY, a = 0;
		for (int i = 0; i < f; i++) {
			float x = o[(size_t)i * ldo + col];
			m = x > m ? x : m;
			a = fabsf(x) > a ? fabsf(x) : a;
		}
		if (!isfinite(m) || !isfinite(a))
			return INFINITY;
		mc[c] = m + 1e-5f * a;
		ac[c] = a * (1 + 1e-5f);
	}
	/* Eight query rows j at a time, the maxima over c kept in registers:
	 * the same chain as tcmgc_scale, at the column bound and on magnitudes. */
	for (int b = 0; b < np; b += 8) {
		tcmgc_v8 i2, i3, in, vmax = TCMGC_SPLAT(-INFINITY), tmax = TCMGC_SPLAT(0.0f);
		tcmgc_v8i bad = TCMGC_SPLAT(0);
		memcpy(&i2, inv2 + b, sizeof i2);
		memcpy(&i3, inv3 + b, sizeof i3);
		memcpy(&in, invn + b, sizeof in);
		for (int c = 0; c < n1; c++) {
			const float sc = q->scale_f[c], r0 = q->rc0_f[c], r3 = q->rb3_f[c];
			tcmgc_v8 ub = ((mc[c] * sc * i2 + r0) * i3 + r3) * in;
			tcmgc_v8 ab = ((ac[c] * fabsf(sc) * i2 + fabsf(r0)) * i3 + fabsf(r3)) * in;
			tcmgc_v8i up = ub > vmax, ap = ab > tmax;
			vmax = (tcmgc_v8)(((tcmgc_v8i)ub & up) | ((tcmgc_v8i)vmax & ~up));
			tmax = (tcmgc_v8)(((tcmgc_v8i)ab & ap) | ((tcmgc_v8i)tmax & ~ap));
			bad |= (ub != ub) | (ab != ab); /* NaN: the max would drop it */
		}
		float vm[8], tm[8];
		int nan[8];
		memcpy(vm, &vmax, sizeof vm);
		memcpy(tm, &tmax, sizeof tm);
		memcpy(nan, &bad, sizeof nan);
		for (int u = 0; u < 8; u++) {
			int j = b + u;
			if (j >= n1 || (vs != NULL && j == 0))
				continue;
			if (nan[u])
				return INFINITY;
			best = vm[u] > best ? vm[u] : best;
			mag = tm[u] > mag ? tm[u] : mag;
		}
	}
	for (int c = 0; vs != NULL && c < n1; c++) {
		best = vs[c] > best ? vs[c] : best;
		mag = fabsf(vs[c]) > mag ? fabsf(vs[c]) : mag;
	}
	if (t->words <= t->k && best < 0)
		best = 0; /* z_2's rest_c */
	if (!isfinite(best) || !isfinite(mag) || !(t->logit_scale > 0))
		return INFINITY;
	return t->logit_scale * best + 1e-4f * t->logit_scale * mag;
}

/*
 * Everything after the probe products: o [F, ldo] holds Kc_i · probe_r for
 * this video, ex its cache extras.  Returns the final score; or NAN, when
 * at_least > -inf and the score is proved below at_least (tcmgc_bound) before
 * the rest of the work.
 */
TCMGC_CLONES
static float tcmgc_finish(const tcmgc *t, const tcmgc_query *q, const float *o,
    const float *kc, const float *ex, tcmgc_detail *detail, float at_least, float *scratch)
{
	const int f = t->frames, l = t->words, n1 = l + 1, np = q->np, ldo = q->ldo, k = t->k;
	const float *mk = ex, *msk = ex + f, *kyc = ex + 2 * f, *ky3c = ex + 3 * f, *kyb = ex + 4 * f;
	const float *gk = ex + 5 * f, *gy = gk + f * f, *g3 = gy + f * f;
	float *at = scratch;                        /* [F, np] attention, frames x query rows */
	float *qk = at + (size_t)f * np;            /* [np] each of the nine statistics */
	float *qy = qk + np, *q3 = qy + np, *u1 = q3 + np, *u3 = u1 + np, *ub = u3 + np;
	float *inv2 = ub + np, *inv3 = inv2 + np, *invn = inv3 + np;
	float *valt = invn + np;                    /* [n1, np] out_j · r_c, row c, lane j */
	float *x = valt + (size_t)n1 * np;          /* [np] */
	float *tk = x + np;                         /* [k, np] column top-k lists */
	float *vs = tk + (size_t)k * np;            /* [n1] out_s · r_c */
	float *b = vs + n1, *restv = b + n1, *restw = restv + n1; /* [L] each (n1 room) */
	float *m1 = restw + n1;                     /* [k, L] */
	float *m2 = m1 + (size_t)k * l;             /* [k, k] */
	float *pool = m2 + (size_t)k * k;           /* [D] Kcᵀ a_0 (trained) */
	float *vacc = pool + t->dim;                /* [np] pool · out_s probes */
	float *brows = vacc + np;                   /* [4, np] tcmgc_bound's */
	const float isd = 1.0f / sqrtf((float)t->dim), ls = t->logit_scale, lam = t->lambda;
	float top[TCMGC_MAX_K + 1], z[4];

	/* Attention logits of every query row over the frames, softmax per row. */
	for (int i = 0; i < f; i++) {
		const float *oi = o + (size_t)i * ldo;
		float *ai = at + (size_t)i * np, m = mk[i];
		tcmgc_logits(ai, oi, q->sumq, m, isd, np);
		if (q->att0_col != 0)
			ai[0] = (oi[q->att0_col] + m * q->sumq[0]) * isd;
	}
	for (int j = 0; j < np; j++)
		x[j] = -INFINITY;
	for (int i = 0; i < f; i++)
		vec_max(x, at + (size_t)i * np, np);
	for (int j = 0; j < np; j++)
		qk[j] = 0;
	for (int i = 0; i < f; i++) {
		float *ai = at + (size_t)i * np;
		for (int j = 0; j < np; j += 8)
			vec_exp8(ai + j, ai + j, x + j);
		vec_add(qk, ai, np);
	}
	for (int j = 0; j < np; j++)
		qk[j] = 1.0f / qk[j];
	for (int i = 0; i < f; i++)
		vec_mul(at + (size_t)i * np, qk, np);

	/* Quadratic forms aᵀ G a and linear forms a·v for every query row. */
	const float *grams[3] = { gk, gy, g3 };
	float *quads[3] = { qk, qy, q3 };
	int ngram = t->free_form ? 1 : 3; /* training-free: GY = G3 = GK exactly */
	for (int g = 0; g < ngram; g++)
		tcmgc_quad(quads[g], grams[g], at, f, np);
	memset(u1, 0, sizeof(float) * 3 * (size_t)np);
	if (!t->free_form)
		for (int r = 0; r < f; r++) {
			vec_axpy(u1, kyc[r], at + (size_t)r * np, np);
			vec_axpy(u3, ky3c[r], at + (size_t)r * np, np);
			vec_axpy(ub, kyb[r], at + (size_t)r * np, np);
		}
	if (t->free_form)
		tcmgc_norms(t, np, qk, qk, qk, u1, u3, ub, inv2, inv3, invn);
	else
		tcmgc_norms(t, np, qk, qy, q3, u1, u3, ub, inv2, inv3, invn);
	for (int j = n1; j < np; j++)
		inv2[j] = inv3[j] = invn[j] = 0;

	/* out_s · r_c (row 0 against the out_s probes), trained: pooled. */
	if (q->outs_t != NULL) {
		const int d = t->dim;
		tcmgc_pool(pool, at, np, kc, f, d);
		tcmgc_pool_dot(vacc, pool, d, q->outs_t, np);
		for (int c = 0; c < n1; c++)
			vs[c] = ((vacc[c] * q->scale_s[c] * inv2[0] + q->rc0_s[c]) * inv3[0] +
			    q->rb3_s[c]) * invn[0];
	}
	/* A video that cannot reach at_least stops here. */
	if (at_least > -INFINITY && tcmgc_bound(t, q, o, inv2, inv3, invn,
	    q->outs_t != NULL ? vs : NULL, brows) < at_least)
		return NAN;

	/* out_j · r_c for the out_f probes (all rows j), normalised. */
	int c0 = 0;
	for (; c0 + 4 <= n1; c0 += 4)
		tcmgc_combine4(valt + (size_t)c0 * np, np, at, f, np, o, ldo, q->col_f + c0);
	for (; c0 < n1; c0++)
		tcmgc_combine(valt + (size_t)c0 * np, at, f, np, o, ldo, q->col_f[c0]);
	if (q->outs_t == NULL) {
		/* Training-free: the out_s probes are the out_f probes. */
		for (int c = 0; c < n1; c++)
			vacc[c] = valt[(size_t)c * np];
		for (int c = 0; c < n1; c++)
			vs[c] = ((vacc[c] * q->scale_s[c] * inv2[0] + q->rc0_s[c]) * inv3[0] +
			    q->rb3_s[c]) * invn[0];
	}
	for (int c = 0; c < n1; c++) {
		tcmgc_scale(valt + (size_t)c * np, inv2, inv3, invn, q->scale_f[c], q->rc0_f[c],
		    q->rb3_f[c], np);
	}

	/* 1) video-sentence: s̄ᵀ G v̄. */
	z[0] = ls * vs[0];

	/* 2) video-word: top-k of W̄_w · v̄, ISA. */
	tcmgc_topk_desc(vs + 1, l, k, top);
	z[1] = ls * tcmgc_isa(top, k, t->a_vw, lam);

	/* 3) sentence-frame: b_f = s̄ · f̄_f; the top-k plus the fused rest. */
	float rest_c = 0;
	for (int fi = 0; fi < l; fi++)
		b[fi] = valt[1 + fi];
	tcmgc_topk_desc(b, l, k, top);
	if (l > k) {
		/* The bottom L-k values: all but one copy of each top-k value. */
		int nrest = 0, used[TCMGC_MAX_K] = { 0 };
		for (int fi = 0; fi < l; fi++) {
			int skip = 0;
			for (int j = 0; j < k && !skip; j++)
				if (!used[j] && b[fi] == top[j]) {
					used[j] = 1;
					skip = 1;
				}
			if (!skip)
				restv[nrest++] = b[fi];
		}
		memcpy(restw, restv, sizeof(float) * (size_t)nrest);
		ops_softmax(restw, nrest);
		double c = 0;
		for (int j = 0; j < nrest; j++)
			c += (double)restw[j] * restv[j];
		rest_c = (float)c;
	}
	top[k] = rest_c;
	z[2] = ls * tcmgc_isa(top, k + 1, t->a_sf, lam);

	/* 4) frame-word: M[w, f] = valt[1+w][1+f].  Per column f the top-k over
	 * the words (M1 [k, L], all columns at once), then per row of M1 the
	 * top-k over f (M2 [k, k]). */
	for (int j = 0; j < k * np; j++)
		tk[j] = -INFINITY;
	for (int w = 0; w < l; w++) {
		memcpy(x, valt + (size_t)(1 + w) * np, sizeof(float) * (size_t)np);
		vec_insert_desc(tk, k, np, x);
	}
	for (int j = 0; j < k; j++) {
		memcpy(m1 + (size_t)j * l, tk + (size_t)j * np + 1, sizeof(float) * (size_t)l);
		tcmgc_topk_desc(m1 + (size_t)j * l, l, k, m2 + (size_t)j * k);
	}
	float word_level[TCMGC_MAX_K], frame_level[TCMGC_MAX_K], col[TCMGC_MAX_K];
	for (int i = 0; i < k; i++) {
		for (int j = 0; j < k; j++)
			col[j] = m2[j * k + i];
		word_level[i] = tcmgc_isa(col, k, t->c_w, lam);
		frame_level[i] = tcmgc_isa(m2 + (size_t)i * k, k, t->c_f, lam);
	}
	float s2f = tcmgc_isa(word_level, k, t->c_f2, lam);
	float v2w = tcmgc_isa(frame_level, k, t->c_w2, lam);
	z[3] = ls * (s2f + v2w) / 2;

	/* LSA: ω = softmax(Z P), score = Σ ω Z. */
	float omega[4];
	for (int j = 0; j < 4; j++) {
		double s = 0;
		for (int i = 0; i < 4; i++)
			s += (double)z[i] * t->p_lsa[i * 4 + j];
		omega[j] = (float)s;
	}
	ops_softmax(omega, 4);
	double score = 0;
	for (int j = 0; j < 4; j++)
		score += (double)omega[j] * z[j];

	if (detail != NULL) {
		detail->score = (float)score;
		memcpy(detail->z, z, sizeof z);
		memcpy(detail->omega, omega, sizeof omega);
		for (int w = 0; w < l; w++) {
			int best = 0;
			for (int i = 0; i < f; i++) {
				float a = at[(size_t)i * np + 1 + w];
				if (detail->word_attn != NULL)
					detail->word_attn[(size_t)w * f + i] = a;
				if (a > at[(size_t)best * np + 1 + w])
					best = i;
			}
			if (detail->word_best != NULL)
				detail->word_best[w] = best;
		}
		int best = -1;
		for (int i = 0; i < f; i++) {
			if (detail->sent_attn != NULL)
				detail->sent_attn[i] = at[(size_t)i * np];
			if (msk[i] > 0.5f && (best < 0 || at[(size_t)i * np] > at[(size_t)best * np]))
				best = i;
		}
		detail->best_frame = best < 0 ? 0 : best;
	}
	return (float)score;
}

/*
 * Videos per probe product inside a batch: their products, F ldo floats
 * each (3.5 kB at ViT-B/32 shapes, trained), stay in L1 for the finishing
 * step right after.  The product is scan_block's (core/scan): the probes
 * are packed once per query, so a small block costs no re-packing, and a
 * video's products are the same bits whichever videos share its block --
 * search and explain (tcmgc_score) give one video the same score.
 */
#define TCMGC_SUB_MAX 8

size_t tcmgc_batch_scratch_floats(const tcmgc *t, const tcmgc_query *q, int n)
{
	(void)n;
	return (size_t)TCMGC_SUB_MAX * t->frames * q->ldo + tcmgc_finish_floats(t);
}

void tcmgc_score_batch(const tcmgc *t, const tcmgc_query *q, const float *kc,
    const float *extras, size_t extras_stride, int n, float *scores, float *scratch)
{
	tcmgc_score_batch_above(t, q, kc, extras, extras_stride, n, -INFINITY, scores, scratch);
}

int tcmgc_score_batch_above(const tcmgc *t, const tcmgc_query *q, const float *kc,
    const float *extras, size_t extras_stride, int n, float at_least, float *scores,
    float *scratch)
{
	int full = 0;

	size_t per = (size_t)t->frames * q->ldo, fd = (size_t)t->frames * t->dim;
	float *o = scratch, *fin = scratch + TCMGC_SUB_MAX * per;
	const int sub = TCMGC_SUB_MAX;

	for (int v0 = 0; v0 < n; v0 += sub) {
		int m = n - v0 < sub ? n - v0 : sub;
		scan_block(SCAN_AUTO, kc + (size_t)v0 * fd, (size_t)t->dim, m * t->frames, t->dim,
		    q->probes_p, q->nr, o + q->o_off, (size_t)q->ldo);
		for (int v = 0; v < m; v++) {
			scores[v0 + v] = tcmgc_finish(t, q, o + (size_t)v * per,
			    kc + (size_t)(v0 + v) * fd, extras + (size_t)(v0 + v) * extras_stride, NULL,
			    at_least, fin);
			full += !isnan(scores[v0 + v]) || at_least == -INFINITY;
		}
	}
	return full;
}

int tcmgc_score(const tcmgc *t, const tcmgc_query *q, const float *cache, float *score,
    tcmgc_detail *detail, char **cause)
{
	/* Zeroed: the padding columns of O are read (into unused lanes). */
	float *scratch = tensor_zalloc(tcmgc_batch_scratch_floats(t, q, 1));
	float s;

	if (scratch == NULL) {
		util_set_cause(cause, "tcmgc: out of memory");
		return -1;
	}
	scan_block(SCAN_AUTO, cache, (size_t)t->dim, t->frames, t->dim, q->probes_p, q->nr,
	    scratch + q->o_off, (size_t)q->ldo);
	s = tcmgc_finish(t, q, scratch, cache, cache + tcmgc_cache_extras_offset(t), detail,
	    -INFINITY, scratch + (size_t)TCMGC_SUB_MAX * t->frames * q->ldo);
	tensor_free(scratch);
	if (score != NULL)
		*score = s;
	return 0;
}
