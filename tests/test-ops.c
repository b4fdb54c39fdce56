/*
 * test-ops — the operators against PyTorch (float64) on random inputs.
 * Golden file: tests/golden/ops.safetensors, made by
 * tools/reference/gen_ops_golden.py.  Tolerance: normalised max error
 * (tap_rel_err) <= 1e-5 for the elementwise ops, 1e-5 for attention and the
 * residual block.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "safetensors.h"
#include "tap.h"
#include "golden.h"
#include "tensor.h"

static st_file *golden;

/* A golden tensor as fp32 (owned by the caller), checked for size. */
static float *golden_get(const char *name, size_t numel)
{
	return golden_read(golden, name, numel);
}

static void check_close(const char *what, const float *got, const char *want_name, size_t n,
    double tol)
{
	float *want = golden_get(want_name, n);
	double err = want != NULL ? tap_rel_err(got, want, n) : INFINITY;

	tap_ok(err <= tol, "%s matches torch (normalised error %.2e <= %.0e)", what, err, tol);
	tensor_free(want);
}

static void test_layer_norm(void)
{
	enum { ROWS = 4, DIM = 16 };
	float *x = golden_get("ln.x", ROWS * DIM), *g = golden_get("ln.gamma", DIM);
	float *b = golden_get("ln.beta", DIM), y[ROWS * DIM];

	ops_layer_norm(y, x, g, b, ROWS, DIM, OPS_LN_EPS_CLIP);
	check_close("layer_norm eps 1e-5", y, "ln.y_eps1e-5", ROWS * DIM, 1e-5);
	ops_layer_norm(y, x, g, b, ROWS, DIM, OPS_LN_EPS_TF);
	check_close("layer_norm eps 1e-12", y, "ln.y_eps1e-12", ROWS * DIM, 1e-5);
	/* In place must give the same answer. */
	ops_layer_norm(x, x, g, b, ROWS, DIM, OPS_LN_EPS_TF);
	check_close("layer_norm in place", x, "ln.y_eps1e-12", ROWS * DIM, 1e-5);

	/* Hand-computed: [1,2,3,4] -> mean 2.5, var 1.25. */
	float h[4] = { 1, 2, 3, 4 }, one[4] = { 1, 1, 1, 1 }, zero[4] = { 0 };
	ops_layer_norm(h, h, one, zero, 1, 4, 0);
	tap_ok(fabsf(h[0] + 1.3416408f) < 1e-6f && fabsf(h[3] - 1.3416408f) < 1e-6f,
	    "layer_norm of [1,2,3,4] is [-1.342 .. 1.342]");
	tensor_free(x);
	tensor_free(g);
	tensor_free(b);
}

static void test_elementwise(void)
{
	float *x = golden_get("gelu.x", 64), *s = golden_get("softmax.x", 28);

	ops_quick_gelu(x, 64);
	check_close("quick_gelu", x, "gelu.y", 64, 1e-6);
	for (int r = 0; r < 4; r++)
		ops_softmax(s + r * 7, 7);
	check_close("softmax with -inf entries", s, "softmax.y", 28, 1e-6);

	float v[3] = { 0, 0, 0 }, inf[2] = { -INFINITY, -INFINITY };
	ops_softmax(v, 3);
	tap_ok(fabsf(v[0] - 1.0f / 3) < 1e-7f, "softmax of equal values is uniform");
	ops_softmax(inf, 2);
	tap_ok(inf[0] == 0 && inf[1] == 0, "softmax of an all -inf row is all zeros");
	float q[2] = { 1.0f, 0.0f };
	ops_quick_gelu(q, 2);
	tap_ok(fabsf(q[0] - 0.8457957f) < 1e-6f && q[1] == 0, "quick_gelu(1) = 1/(1+e^-1.702)");
	float n[6] = { 3, 4, 0, 0, 0, 0 };
	ops_l2_normalize(n, 2, 3);
	tap_ok(fabsf(n[0] - 0.6f) < 1e-7f && fabsf(n[1] - 0.8f) < 1e-7f && n[3] == 0,
	    "l2_normalize: [3,4,0] -> [0.6,0.8,0]; zero row stays zero");
	tensor_free(x);
	tensor_free(s);
}

static void test_attention(void)
{
	enum { DIM = 16, HEADS = 2, T = 5, B = 2, HIDDEN = 64, ROWS = B * T };
	const char *names[] = { "in_proj_weight", "in_proj_bias", "out_proj_weight",
		"out_proj_bias", "ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias",
		"c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias" };
	const size_t sizes[] = { 3 * DIM * DIM, 3 * DIM, DIM * DIM, DIM, DIM, DIM, DIM, DIM,
		HIDDEN * DIM, HIDDEN, DIM * HIDDEN, DIM };
	float *w[12], *x = golden_get("mha.x", ROWS * DIM), *bias = golden_get("mha.key_bias", B * T);
	float y[ROWS * DIM], xb[ROWS * DIM];
	char name[64];

	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof name, "block.%s", names[i]);
		w[i] = golden_get(name, sizes[i]);
	}
	ops_block_weights bw = {
		.ln_1_weight = w[4], .ln_1_bias = w[5],
		.attn = { w[0], w[1], w[2], w[3] },
		.ln_2_weight = w[6], .ln_2_bias = w[7],
		.c_fc_weight = w[8], .c_fc_bias = w[9], .c_proj_weight = w[10], .c_proj_bias = w[11],
	};
	float *scratch = tensor_alloc(ops_block_scratch_floats(B, T, DIM, HIDDEN));

	ops_mha(y, x, B, T, DIM, HEADS, &bw.attn, bias, false, scratch);
	check_close("mha with key mask", y, "mha.y_keymask", ROWS * DIM, 1e-5);
	ops_mha(y, x, B, T, DIM, HEADS, &bw.attn, NULL, true, scratch);
	check_close("mha with causal mask", y, "mha.y_causal", ROWS * DIM, 1e-5);

	memcpy(xb, x, sizeof xb);
	ops_block_forward(xb, B, T, DIM, HEADS, HIDDEN, &bw, OPS_LN_EPS_CLIP, NULL, true, scratch);
	check_close("CLIP block, causal, eps 1e-5", xb, "block.y_clip_causal", ROWS * DIM, 1e-5);
	memcpy(xb, x, sizeof xb);
	ops_block_forward(xb, B, T, DIM, HEADS, HIDDEN, &bw, OPS_LN_EPS_TF, bias, false, scratch);
	check_close("temporal block, key mask, eps 1e-12", xb, "block.y_tf_keymask", ROWS * DIM, 1e-5);

	for (int i = 0; i < 12; i++)
		tensor_free(w[i]);
	tensor_free(x);
	tensor_free(bias);
	tensor_free(scratch);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char path[4096], *cause = NULL;

	snprintf(path, sizeof path, "%s/tests/golden/ops.safetensors", top != NULL ? top : ".");
	if ((golden = st_open(path, &cause)) == NULL) {
		printf("Bail out! %s\n", cause);
		free(cause);
		return 1;
	}
	tensor_set_threads(1);
	test_layer_norm();
	test_elementwise();
	test_attention();
	st_close(golden);
	return tap_done();
}
