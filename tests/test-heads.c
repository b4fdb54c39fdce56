/*
 * test-heads — the EA and TC-MGC heads (and the temporal encoders) against
 * the PyTorch reference, every variant in MODELS.md.  Golden files:
 * tests/golden/heads.safetensors and tests/golden/heads-*.safetensors, made
 * by tools/reference/gen_heads_golden.py.  Tolerance: normalised max error
 * (tap_rel_err) <= 1e-4 on the final scores and on every intermediate the
 * heads expose (V', Z, ω, the word and sentence attention, EA's v̂ and
 * per-frame weights).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ea.h"
#include "model.h"
#include "safetensors.h"
#include "tap.h"
#include "golden.h"
#include "tcmgc.h"
#include "temporal.h"
#include "tensor.h"

#define TOL 1e-4

static st_file *golden;
static char golden_dir[4096];
static int nvideos, nqueries;

static float *golden_get(const char *name, size_t numel)
{
	return golden_read(golden, name, numel);
}

static void check(const char *what, const float *got, const float *want, size_t n)
{
	double err = want != NULL ? tap_rel_err(got, want, n) : INFINITY;

	tap_ok(err <= TOL, "%s (normalised error %.2e <= %.0e)", what, err, TOL);
}

static void check_named(const char *what, const float *got, const char *want_name, size_t n)
{
	float *want = golden_get(want_name, n);

	check(what, got, want, n);
	tensor_free(want);
}

static model *load_model(const char *variant)
{
	char path[4200], *cause = NULL;
	model *m;

	snprintf(path, sizeof path, "%s/heads-%s.safetensors", golden_dir, variant);
	if ((m = model_load_flags(path, MODEL_LOAD_NO_TOWERS, &cause)) == NULL) {
		tap_diag("%s", cause);
		free(cause);
	}
	return m;
}

static void test_ea(const char *variant, temporal_kind seq)
{
	char name[256], *cause = NULL;
	model *m = load_model(variant);
	ea *e = m != NULL ? ea_load(m, &cause) : NULL;

	if (!tap_ok(e != NULL, "%s: ea_load", variant)) {
		tap_diag("%s", cause ? cause : "");
		free(cause);
		model_free(m);
		return;
	}
	int f = ea_frames(e), d = ea_dim(e);
	size_t cf = ea_video_cache_floats(e);
	snprintf(name, sizeof name, "%s.v", variant);
	float *v = golden_get(name, (size_t)nvideos * f * d);
	snprintf(name, sizeof name, "%s.mask", variant);
	float *mask = golden_get(name, (size_t)nvideos * f);
	snprintf(name, sizeof name, "%s.s", variant);
	float *s = golden_get(name, (size_t)nqueries * d);
	float *caches = tensor_alloc(cf * nvideos), *scores = tensor_alloc((size_t)nqueries * nvideos);
	float *vp = tensor_alloc((size_t)f * d);
	temporal *tm = seq != TEMPORAL_NONE ? temporal_load(m, seq, f, d, &cause) : NULL;

	if (v == NULL || mask == NULL || s == NULL)
		goto out;
	for (int j = 0; j < nvideos; j++) {
		const float *vj = v + (size_t)j * f * d, *mj = mask + (size_t)j * f;
		float *cj = caches + cf * j;
		char what[300];

		if (!tap_ok(ea_prepare_video(e, vj, mj, cj, &cause) == 0, "%s: prepare video %d", variant, j)) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
			continue;
		}
		if (tm != NULL && temporal_forward(tm, vj, mj, vp, NULL) == 0) {
			snprintf(what, sizeof what, "%s: V' of video %d (%d real frames)", variant, j,
			    (int)(mj[0] + mj[1] + mj[2] + mj[3] + mj[4] + mj[5]));
			snprintf(name, sizeof name, "%s.vprime.%d", variant, j);
			check_named(what, vp, name, (size_t)f * d);
		}
		snprintf(what, sizeof what, "%s: excitation weights, video %d", variant, j);
		snprintf(name, sizeof name, "%s.exc.%d", variant, j);
		check_named(what, ea_cache_excitation(e, cj), name, (size_t)f);
		if (ea_is_tight(e))
			continue;
		snprintf(what, sizeof what, "%s: v̂, video %d", variant, j);
		snprintf(name, sizeof name, "%s.vhat.%d", variant, j);
		check_named(what, cj, name, (size_t)d);
		snprintf(what, sizeof what, "%s: aggregation weights, video %d", variant, j);
		snprintf(name, sizeof name, "%s.agg.%d", variant, j);
		check_named(what, ea_cache_aggregation(e, cj), name, (size_t)f);
		snprintf(what, sizeof what, "%s: intra_mlp weights, video %d", variant, j);
		snprintf(name, sizeof name, "%s.intra.%d", variant, j);
		check_named(what, ea_cache_intra(e, cj), name, (size_t)f);
	}
	for (int q = 0; q < nqueries; q++) {
		const float *ptrs[16];
		for (int j = 0; j < nvideos; j++)
			ptrs[j] = caches + cf * j;
		if (ea_score_many(e, s + (size_t)q * d, ptrs, nvideos, scores + (size_t)q * nvideos,
		    &cause) == -1) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
		}
	}
	snprintf(name, sizeof name, "%s.score", variant);
	char what[300];
	snprintf(what, sizeof what, "%s (%s): scores", variant, ea_describe(e));
	check_named(what, scores, name, (size_t)nqueries * nvideos);
out:
	temporal_free(tm);
	tensor_free(v);
	tensor_free(mask);
	tensor_free(s);
	tensor_free(caches);
	tensor_free(scores);
	tensor_free(vp);
	ea_free(e);
	model_free(m);
}

static void test_tcmgc(const char *variant)
{
	char name[256], what[300], *cause = NULL;
	model *m = load_model(variant);
	tcmgc *t = m != NULL ? tcmgc_load(m, &cause) : NULL;

	if (!tap_ok(t != NULL, "%s: tcmgc_load", variant)) {
		tap_diag("%s", cause ? cause : "");
		free(cause);
		model_free(m);
		return;
	}
	int f = tcmgc_frames(t), d = tcmgc_dim(t), l = tcmgc_words(t);
	size_t cf = tcmgc_video_cache_floats(t), nqv = (size_t)nqueries * nvideos;
	snprintf(name, sizeof name, "%s.v", variant);
	float *v = golden_get(name, (size_t)nvideos * f * d);
	snprintf(name, sizeof name, "%s.mask", variant);
	float *mask = golden_get(name, (size_t)nvideos * f);
	snprintf(name, sizeof name, "%s.s", variant);
	float *s = golden_get(name, (size_t)nqueries * d);
	snprintf(name, sizeof name, "%s.words", variant);
	float *words = golden_get(name, (size_t)nqueries * l * d);
	float *caches = tensor_alloc(cf * nvideos), *vp = tensor_alloc((size_t)f * d);
	float *score = tensor_alloc(nqv), *batch = tensor_alloc(nqv), *z = tensor_alloc(nqv * 4);
	float *omega = tensor_alloc(nqv * 4), *wattn = tensor_alloc(nqv * l * f);
	float *sattn = tensor_alloc(nqv * f);
	float *kc = tensor_alloc((size_t)nvideos * f * d);
	int *best = calloc((size_t)l, sizeof *best);
	int prepared = 1;

	if (v == NULL || mask == NULL || s == NULL || words == NULL)
		goto out;
	tap_diag("%s: %s", variant, tcmgc_describe(t));
	for (int j = 0; j < nvideos; j++) {
		const float *vj = v + (size_t)j * f * d, *mj = mask + (size_t)j * f;
		if (tcmgc_prepare_video(t, vj, mj, caches + cf * j, &cause) == -1) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
			prepared = 0;
		}
		if (!tcmgc_is_training_free(t) && tcmgc_temporal(t, vj, mj, vp, NULL) == 0) {
			snprintf(what, sizeof what, "%s: seqTransf V' of video %d", variant, j);
			snprintf(name, sizeof name, "%s.vprime.%d", variant, j);
			check_named(what, vp, name, (size_t)f * d);
		}
		memcpy(kc + (size_t)j * f * d, caches + cf * j, sizeof(float) * (size_t)f * d);
	}
	tap_ok(prepared, "%s: every video prepared", variant);
	for (int q = 0; q < nqueries; q++) {
		tcmgc_query *tq = tcmgc_query_new(t, s + (size_t)q * d, words + (size_t)q * l * d, &cause);
		if (tq == NULL) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
			continue;
		}
		for (int j = 0; j < nvideos; j++) {
			size_t i = (size_t)q * nvideos + j;
			tcmgc_detail det = { .word_attn = wattn + i * l * f, .sent_attn = sattn + i * f,
				.word_best = best };
			tcmgc_score(t, tq, caches + cf * j, &score[i], &det, NULL);
			memcpy(z + i * 4, det.z, sizeof det.z);
			memcpy(omega + i * 4, det.omega, sizeof det.omega);
			if (q == 0 && j == 0) {
				int okb = det.best_frame >= 0 && det.best_frame < f;
				for (int w = 0; w < l; w++) {
					const float *aw = det.word_attn + (size_t)w * f;
					okb = okb && best[w] >= 0 && best[w] < f;
					for (int k = 0; k < f; k++)
						okb = okb && aw[k] <= aw[best[w]];
				}
				tap_ok(okb && det.score == score[i],
				    "%s: best frames are the attention argmaxes; detail score = score", variant);
			}
		}
		/* The batched path (one GEMM over every video) gives the same. */
		float *scratch = tensor_zalloc(tcmgc_batch_scratch_floats(t, tq, nvideos));
		tcmgc_score_batch(t, tq, kc, caches + tcmgc_cache_extras_offset(t), cf, nvideos,
		    batch + (size_t)q * nvideos, scratch);
		tensor_free(scratch);
		tcmgc_query_free(tq);
	}
	snprintf(what, sizeof what, "%s: final scores", variant);
	snprintf(name, sizeof name, "%s.score", variant);
	check_named(what, score, name, nqv);
	snprintf(what, sizeof what, "%s: batched final scores", variant);
	check_named(what, batch, name, nqv);
	snprintf(what, sizeof what, "%s: Z = (S_vs, S_vw, S_sf, S_fw)", variant);
	snprintf(name, sizeof name, "%s.z", variant);
	check_named(what, z, name, nqv * 4);
	snprintf(what, sizeof what, "%s: LSA weights ω", variant);
	snprintf(name, sizeof name, "%s.omega", variant);
	check_named(what, omega, name, nqv * 4);
	snprintf(what, sizeof what, "%s: word-frame attention [L, F]", variant);
	snprintf(name, sizeof name, "%s.word_attn", variant);
	check_named(what, wattn, name, nqv * l * f);
	snprintf(what, sizeof what, "%s: sentence-frame attention [F]", variant);
	snprintf(name, sizeof name, "%s.sent_attn", variant);
	check_named(what, sattn, name, nqv * f);
	if (tcmgc_is_training_free(t)) {
		/* The same file runs EA's training-free form too. */
		ea *e = ea_load(m, &cause);
		if (tap_ok(e != NULL, "clip: EA training-free form loads")) {
			size_t ecf = ea_video_cache_floats(e);
			float *ec = tensor_alloc(ecf * nvideos), *es = tensor_alloc(nqv);
			const float *ptrs[16];
			for (int j = 0; j < nvideos; j++) {
				ea_prepare_video(e, v + (size_t)j * f * d, mask + (size_t)j * f, ec + ecf * j, NULL);
				ptrs[j] = ec + ecf * j;
				snprintf(name, sizeof name, "clip.ea.vhat.%d", j);
				snprintf(what, sizeof what, "clip: EA training-free v̂, video %d", j);
				check_named(what, ec + ecf * j, name, (size_t)d);
			}
			for (int q = 0; q < nqueries; q++)
				ea_score_many(e, s + (size_t)q * d, ptrs, nvideos, es + (size_t)q * nvideos, NULL);
			check_named("clip: EA training-free scores", es, "clip.ea.score", nqv);
			tensor_free(ec);
			tensor_free(es);
		} else {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
		}
		ea_free(e);
	}
out:
	tensor_free(v);
	tensor_free(mask);
	tensor_free(s);
	tensor_free(words);
	tensor_free(caches);
	tensor_free(vp);
	tensor_free(score);
	tensor_free(batch);
	tensor_free(z);
	tensor_free(omega);
	tensor_free(wattn);
	tensor_free(sattn);
	tensor_free(kc);
	free(best);
	tcmgc_free(t);
	model_free(m);
}

/* Settings a model may not combine, and a head on the wrong architecture. */
static void test_errors(void)
{
	char *cause = NULL;
	model *m = load_model("ea-meanp-exc");
	tcmgc *t = m != NULL ? tcmgc_load(m, &cause) : NULL;

	tap_ok(t == NULL && cause != NULL && strstr(cause, "architecture") != NULL,
	    "tcmgc_load on an EA file fails naming the architecture");
	free(cause);
	cause = NULL;
	model_free(m);
	m = load_model("tcmgc-k1");
	ea *e = m != NULL ? ea_load(m, &cause) : NULL;
	tap_ok(e == NULL && cause != NULL, "ea_load on a TC-MGC file fails");
	free(cause);
	model_free(m);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char path[4200], *cause = NULL;
	static const struct {
		const char *name;
		temporal_kind seq;
	} ea_variants[] = {
		{ "ea-meanp-ea-unity", TEMPORAL_NONE },
		{ "ea-meanp-exc", TEMPORAL_NONE },
		{ "ea-meanp-agg-expand", TEMPORAL_NONE },
		{ "ea-meanp-ea-sqexp", TEMPORAL_NONE },
		{ "ea-meanp-ea-expsq", TEMPORAL_NONE },
		{ "ea-meanp-none", TEMPORAL_NONE },
		{ "ea-lstm-agg", TEMPORAL_SEQ_LSTM },
		{ "ea-transf-agg", TEMPORAL_SEQ_TRANSF },
		{ "ea-transf-excseq", TEMPORAL_NONE },
		{ "ea-transf-excseqagg", TEMPORAL_NONE },
		{ "ea-lstm-excseqagg-sqexp", TEMPORAL_NONE },
		{ "ea-tight", TEMPORAL_NONE },
	};

	snprintf(golden_dir, sizeof golden_dir, "%s/tests/golden", top != NULL ? top : ".");
	snprintf(path, sizeof path, "%s/heads.safetensors", golden_dir);
	if ((golden = st_open(path, &cause)) == NULL) {
		printf("# %s\n", cause);
		free(cause);
		return tap_skip_all("no golden file");
	}
	nvideos = atoi(st_metadata(golden, "videos") ? st_metadata(golden, "videos") : "0");
	nqueries = atoi(st_metadata(golden, "queries") ? st_metadata(golden, "queries") : "0");
	if (nvideos < 1 || nvideos > 16 || nqueries < 1) {
		tap_ok(0, "golden metadata videos/queries");
		return tap_done();
	}
	tensor_set_threads(1);
	for (size_t i = 0; i < sizeof ea_variants / sizeof ea_variants[0]; i++)
		test_ea(ea_variants[i].name, ea_variants[i].seq);
	test_tcmgc("tcmgc-k1");
	test_tcmgc("tcmgc-k4");
	test_tcmgc("clip");
	test_errors();
	st_close(golden);
	return tap_done();
}
