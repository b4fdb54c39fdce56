/*
 * test-textenc — the CLIP text tower against the PyTorch reference on a
 * tiny random CLIP (tests/golden/tiny-clip.safetensors; queries and outputs
 * in tests/golden/tiny-clip-out.safetensors, both made by
 * tools/reference/gen_clip_golden.py).  Tolerance: normalised max error
 * (tap_rel_err) <= 1e-4 against float64 torch, for L = max_words (12) and
 * L = the whole context (16).  Also: the sentence feature is the first
 * argmax position, the errors for ids outside the vocabulary, a bad L and a
 * broken model file, and the cancel flag a superseded search raises.
 *
 * bf16 (the reference kernel on any CPU, the SIMD ones where they run):
 * normalised error <= 3e-2 and every sentence feature's cosine with
 * torch's >= 0.999.  Rounding weights and activations to 8 significant
 * bits costs about 2^-9 relative per GEMM input; through this 2-layer tower
 * that measured below 1e-2 and a cosine above 0.9999, so the bounds leave
 * a margin of 3x and 10x; ViT-B/32 is measured by `clipgrep bench encode`.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "safetensors.h"
#include "tap.h"
#include "golden.h"
#include "tensor.h"
#include "textenc.h"

#define TOL 1e-4
#define TOL_BF16 3e-2
#define COS_BF16 0.999

enum { E = 16, L = 12, CONTEXT = 16, Q = 4, VOCAB = 64 };

static char model_file[4096];
static char dir[] = "/tmp/clipgrep-test-textenc-XXXXXX";
static st_file *golden;

static void *golden_raw(const char *name, st_dtype dtype, size_t numel)
{
	const st_tensor *t = st_find(golden, name);

	if (t == NULL || t->dtype != dtype || t->numel != numel) {
		tap_diag("golden tensor %s missing or of the wrong type or size", name);
		return NULL;
	}
	return (void *)t->data;
}

static float *golden_get(const char *name, size_t numel)
{
	return golden_read(golden, name, numel);
}

static double cosine(const float *a, const float *b, int n)
{
	double ab = 0, aa = 0, bb = 0;

	for (int i = 0; i < n; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return ab / sqrt(aa * bb);
}

static void test_golden(model *m, linear_kernel kernel)
{
	const int32_t *ids = golden_raw("ids", ST_I32, Q * L);
	float *want_s = golden_get("sentence", Q * E), *want_w = golden_get("words", Q * L * E);
	float s[Q * E], w[Q * L * E], s_only[E];
	char *cause = NULL;
	textenc *t = textenc_new_kernel(m, L, kernel, &cause);
	const char *kn = linear_kernel_name(kernel);
	int ok = 1;

	if (!linear_kernel_supported(kernel)) {
		tap_skip("this CPU has no such kernel");
		goto out;
	}
	tap_diag("projection kernel: %s", kn);
	if (!tap_ok(t != NULL && ids != NULL && want_s != NULL && want_w != NULL,
	    "textenc_new on the tiny model, L = %d, %s kernel", L, kn)) {
		tap_diag("%s", cause ? cause : "golden missing");
		goto out;
	}
	tap_ok(textenc_length(t) == L && textenc_embed_dim(t) == E, "L %d, embed %d",
	    textenc_length(t), textenc_embed_dim(t));
	for (int q = 0; q < Q; q++)
		if (textenc_encode(t, ids + q * L, s + q * E, w + q * L * E, &cause) == -1)
			ok = 0;
	tap_ok(ok, "textenc_encode %d queries", Q);
	double es = tap_rel_err(s, want_s, Q * E), ew = tap_rel_err(w, want_w, Q * L * E);
	double tol = linear_kernel_is_bf16(kernel) ? TOL_BF16 : TOL;
	tap_ok(es <= tol, "%s: sentence features match torch (normalised error %.2e <= %.0e)", kn,
	    es, tol);
	tap_ok(ew <= tol, "%s: word features, padding positions included, match torch (error %.2e)",
	    kn, ew);
	if (linear_kernel_is_bf16(kernel)) {
		double cmin = 1;
		for (int q = 0; q < Q; q++)
			cmin = fmin(cmin, cosine(s + q * E, want_s + q * E, E));
		tap_ok(cmin >= COS_BF16, "%s: sentence features' cosine with torch >= %.3f (min %.6f)",
		    kn, COS_BF16, cmin);
	}
	/* Query 3 has no EOT and its largest id twice: position 2 is the first. */
	tap_ok(memcmp(s + 3 * E, w + 3 * L * E + 2 * E, sizeof(float) * E) == 0,
	    "sentence = words[first argmax(ids)]");

	/* Without word features only positions up to EOT are computed. */
	double e1 = 0;
	ok = 1;
	for (int q = 0; q < Q; q++) {
		if (textenc_encode(t, ids + q * L, s_only, NULL, &cause) == -1)
			ok = 0;
		double e = tap_rel_err(s_only, s + q * E, E);
		if (e > e1)
			e1 = e;
	}
	tap_ok(ok, "sentence only, %d queries", Q);
	tap_ok(e1 <= 1e-6, "sentence-only (stops at EOT) equals the full encode (difference %.2e)", e1);
	tap_ok(textenc_encode(t, ids, NULL, NULL, &cause) == 0, "no outputs at all is allowed");

	/*
	 * Repeatable: scratch carries nothing between queries.  Like is
	 * compared with like (sentence-only both times): a full encode runs
	 * the GEMMs on more rows, and BLAS may pick a different kernel for a
	 * different row count (OpenBLAS on Zen 5 does), so only the same
	 * shapes are bit-identical.
	 */
	float s_first[E];
	textenc_encode(t, ids + 0 * L, s_first, NULL, NULL);
	textenc_encode(t, ids + 2 * L, s_only, NULL, NULL);
	textenc_encode(t, ids + 0 * L, s_only, NULL, NULL);
	tap_ok(memcmp(s_only, s_first, sizeof(float) * E) == 0, "encoding is repeatable");
out:
	free(cause);
	textenc_free(t);
	tensor_free(want_s);
	tensor_free(want_w);
}

static void test_full_context(model *m)
{
	const int32_t *ids = golden_raw("ids_context", ST_I32, CONTEXT);
	float *want_s = golden_get("sentence_context", E);
	float *want_w = golden_get("words_context", CONTEXT * E);
	float s[E], w[CONTEXT * E];
	char *cause = NULL;
	textenc *t = textenc_new(m, CONTEXT, &cause);

	if (!tap_ok(t != NULL && ids != NULL && want_s != NULL && want_w != NULL &&
	    textenc_encode(t, ids, s, w, &cause) == 0, "L = %d (the whole context)", CONTEXT)) {
		tap_diag("%s", cause ? cause : "golden missing");
	} else {
		double es = tap_rel_err(s, want_s, E), ew = tap_rel_err(w, want_w, CONTEXT * E);
		tap_ok(es <= TOL && ew <= TOL, "L = %d matches torch (errors %.2e, %.2e)", CONTEXT, es, ew);
	}
	free(cause);
	textenc_free(t);
	tensor_free(want_s);
	tensor_free(want_w);
}

/* textenc_new on a copy of the model with one tensor's shape changed. */
static char *textenc_new_cause(const char *name, int ndim, const int64_t *shape)
{
	char path[4200], *cause = NULL;
	st_file *f = st_open(model_file, &cause);
	st_writer *wr = st_writer_new();
	model *m = NULL;
	textenc *t = NULL;

	snprintf(path, sizeof path, "%s/variant.safetensors", dir);
	for (size_t i = 0; f != NULL && i < st_metadata_count(f); i++) {
		const char *k = st_metadata_key_at(f, i);
		st_writer_set_metadata(wr, k, st_metadata(f, k), NULL);
	}
	for (size_t i = 0; f != NULL && i < st_count(f); i++) {
		const st_tensor *x = st_tensor_at(f, i);
		if (strcmp(x->name, name) != 0) {
			st_writer_add(wr, x->name, x->dtype, x->ndim, x->shape, x->data, NULL);
		} else {
			size_t n = 1;
			for (int d = 0; d < ndim; d++)
				n *= (size_t)shape[d];
			float *zeros = calloc(n, sizeof *zeros);
			st_writer_add_f32(wr, name, ndim, shape, zeros, NULL);
			free(zeros);
		}
	}
	if (f != NULL && st_writer_save(wr, path, &cause) == 0 &&
	    (m = model_load(path, &cause)) != NULL && (t = textenc_new(m, L, &cause)) != NULL) {
		free(cause);
		cause = NULL;
	}
	textenc_free(t);
	model_free(m);
	st_writer_free(wr);
	st_close(f);
	unlink(path);
	return cause;
}

static void test_errors(model *m)
{
	char *cause = NULL;
	textenc *t = textenc_new(m, L, &cause);
	int32_t ids[L] = { 62, 5, 63 };
	float s[E];

	int r;

	ids[1] = VOCAB;
	r = t != NULL ? textenc_encode(t, ids, s, NULL, &cause) : 0;
	tap_ok(r == -1 && cause != NULL && strstr(cause, "64") && strstr(cause, "position 1"),
	    "id = vocab size is refused, naming it and its position: %s", cause ? cause : "(none)");
	ids[1] = -3;
	r = t != NULL ? textenc_encode(t, ids, s, NULL, &cause) : 0;
	tap_ok(r == -1 && cause != NULL && strstr(cause, "-3"), "negative id is refused: %s",
	    cause ? cause : "(none)");
	ids[1] = 5;
	ids[L - 1] = 1 << 20;
	r = t != NULL ? textenc_encode(t, ids, s, NULL, &cause) : 0;
	tap_ok(r == -1 && cause != NULL && strstr(cause, "position 11"),
	    "id past the vocabulary in the padding is refused: %s", cause ? cause : "(none)");
	textenc_free(t);

	free(cause);
	cause = NULL;
	t = textenc_new(m, CONTEXT + 1, &cause);
	tap_ok(t == NULL && cause != NULL && strstr(cause, "1..16"),
	    "L longer than the context is refused: %s", cause ? cause : "(none)");
	textenc_free(t);
	t = textenc_new(m, 0, &cause);
	tap_ok(t == NULL, "L = 0 is refused");
	textenc_free(t);
	free(cause);

	const char *proj = "clip.transformer.resblocks.0.attn.out_proj.weight";
	int64_t wrong[2] = { 24, 12 };
	cause = textenc_new_cause(proj, 2, wrong);
	tap_ok(cause != NULL && strstr(cause, proj) && strstr(cause, "expected [24, 24]") &&
	    strstr(cause, "[24, 12]"), "wrong-shape text weight: the error names the tensor: %s",
	    cause ? cause : "(none)");
	free(cause);
	int64_t pos[1] = { 24 };
	cause = textenc_new_cause("clip.ln_final.bias", 1, pos);
	tap_ok(cause == NULL, "a same-shape replacement loads (the helper itself works)");
	free(cause);
	textenc_free(NULL);
	tap_ok(1, "textenc_free(NULL) is a no-op");
}

/* A raised cancel flag stops the tower before it writes anything; a
 * lowered one changes nothing. */
static void test_cancel(model *m)
{
	char *cause = NULL;
	textenc *t = textenc_new(m, L, &cause);
	int32_t ids[L] = { 62, 5, 7, 63 };
	float s[E], want[E];
	atomic_int flag = 1;
	int r, untouched = 1;

	for (int i = 0; i < E; i++)
		s[i] = 12345.0f;
	r = t != NULL ? textenc_encode_cancellable(t, ids, s, NULL, &flag, &cause) : -1;
	for (int i = 0; i < E; i++)
		untouched = untouched && s[i] == 12345.0f;
	tap_ok(r == 1 && untouched && cause == NULL,
	    "a raised cancel flag: 1, and the sentence is not written (%d)", r);
	atomic_store(&flag, 0);
	r = t != NULL ? textenc_encode_cancellable(t, ids, s, NULL, &flag, &cause) : -1;
	int same = r == 0 && textenc_encode(t, ids, want, NULL, &cause) == 0 &&
	    memcmp(s, want, sizeof s) == 0;
	tap_ok(same, "a lowered flag: the same sentence as textenc_encode, bit for bit");
	textenc_free(t);
	free(cause);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char path[4096], *cause = NULL;
	model *m;

	if (top == NULL)
		top = ".";
	snprintf(model_file, sizeof model_file, "%s/tests/golden/tiny-clip.safetensors", top);
	snprintf(path, sizeof path, "%s/tests/golden/tiny-clip-out.safetensors", top);
	if ((golden = st_open(path, &cause)) == NULL || (m = model_load(model_file, &cause)) == NULL) {
		printf("Bail out! %s\n", cause);
		free(cause);
		return 1;
	}
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	tensor_set_threads(1);
	test_golden(m, LINEAR_AUTO);
	test_golden(m, LINEAR_BLAS);
	test_golden(m, LINEAR_AVX2);
	tensor_set_threads(2);
	test_golden(m, LINEAR_AVX512);
	test_golden(m, LINEAR_BF16);
	test_golden(m, LINEAR_BF16_FMA);
	tensor_set_threads(1);
	test_golden(m, LINEAR_BF16_REF);
	test_full_context(m);
	test_errors(m);
	test_cancel(m);
	model_free(m);
	st_close(golden);
	rmdir(dir);
	return tap_done();
}
