/*
 * test-linear — the repacked few-row Linear (core/linear) against a
 * float64 reference, for every kernel this CPU has, on shapes that leave
 * partial panels and partial row tiles, with and without bias, writing and
 * accumulating, on one and two threads.  Tolerance: normalised max error
 * (tap_rel_err) <= 1e-5.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linear.h"
#include "tap.h"
#include "tensor.h"

static uint32_t seed = 12345;

static float rnd(void)
{
	seed = seed * 1664525u + 1013904223u;
	return (float)(seed >> 8) / 16777216.0f - 0.5f;
}

/* want = (accumulate ? y0 : 0) + x Wᵀ + bias, in double. */
static void reference(float *want, const float *y0, const float *x, const float *w,
    const float *bias, int rows, int out, int in, bool accumulate)
{
	for (int r = 0; r < rows; r++)
		for (int o = 0; o < out; o++) {
			double s = bias != NULL ? bias[o] : 0;
			for (int k = 0; k < in; k++)
				s += (double)x[(size_t)r * in + k] * w[(size_t)o * in + k];
			if (accumulate)
				s += y0[(size_t)r * out + o];
			want[(size_t)r * out + o] = (float)s;
		}
}

static void check(linear_kernel kernel, int rows, int out, int in, bool use_bias,
    bool accumulate, int threads)
{
	size_t ny = (size_t)rows * out;
	float *w = malloc(sizeof(float) * (size_t)out * in), *x = malloc(sizeof(float) * (size_t)rows * in);
	float *bias = malloc(sizeof(float) * (size_t)out), *y = malloc(sizeof(float) * ny);
	float *y0 = malloc(sizeof(float) * ny), *want = malloc(sizeof(float) * ny);
	char *cause = NULL;

	for (size_t i = 0; i < (size_t)out * in; i++)
		w[i] = rnd();
	for (size_t i = 0; i < (size_t)rows * in; i++)
		x[i] = rnd();
	for (int i = 0; i < out; i++)
		bias[i] = rnd();
	for (size_t i = 0; i < ny; i++)
		y0[i] = y[i] = rnd();
	reference(want, y0, x, w, use_bias ? bias : NULL, rows, out, in, accumulate);

	tensor_set_threads(threads);
	linear *l = linear_new(w, out, in, kernel, &cause);
	if (l != NULL)
		linear_forward(l, y, x, use_bias ? bias : NULL, rows, accumulate);
	double err = l != NULL ? tap_rel_err(y, want, ny) : INFINITY;
	tap_ok(err <= 1e-5, "%s rows %d out %d in %d%s%s, %d thread%s: error %.2e%s%s",
	    linear_kernel_name(kernel), rows, out, in, use_bias ? " +bias" : "",
	    accumulate ? " accumulate" : "", threads, threads > 1 ? "s" : "", err,
	    cause ? " " : "", cause ? cause : "");
	linear_free(l);
	free(cause);
	free(w);
	free(x);
	free(bias);
	free(y);
	free(y0);
	free(want);
}

int main(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 3, 17, 5 }, { 12, 72, 24 }, { 7, 33, 100 }, { 9, 48, 31 },
		{ 32, 512, 512 }, { 40, 96, 200 }, { 13, 16, 64 },
	};
	static const linear_kernel kernels[] = { LINEAR_BLAS, LINEAR_AVX2, LINEAR_AVX512 };
	char *cause = NULL;

	for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
		if (!linear_kernel_supported(kernels[k])) {
			tap_skip("this CPU has no such kernel");
			linear *l = linear_new((const float[]){ 1 }, 1, 1, kernels[k], &cause);
			tap_ok(l == NULL && cause != NULL, "asking for it is an error: %s",
			    cause ? cause : "(none)");
			linear_free(l);
			free(cause);
			cause = NULL;
			continue;
		}
		for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
			int rows = shapes[s][0], out = shapes[s][1], in = shapes[s][2];
			check(kernels[k], rows, out, in, false, false, 1);
			check(kernels[k], rows, out, in, true, true, 2);
		}
		check(kernels[k], 32, 1536, 512, true, false, 2);
	}

	linear *l = linear_new((const float[]){ 1 }, 0, 1, LINEAR_AUTO, &cause);
	tap_ok(l == NULL && cause != NULL, "a zero-sized weight is refused: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	l = linear_new((const float[]){ 2, 3 }, 1, 2, LINEAR_BLAS, &cause);
	tap_ok(l != NULL && linear_bytes(l) == 0 && linear_get_kernel(l) == LINEAR_BLAS,
	    "the BLAS kernel keeps no copy");
	linear_free(l);
	l = linear_new((const float[]){ 2, 3 }, 1, 2, LINEAR_AUTO, &cause);
	tap_ok(l != NULL, "LINEAR_AUTO picks %s", l ? linear_kernel_name(linear_get_kernel(l)) : "?");
	tap_ok(l == NULL || linear_get_kernel(l) == LINEAR_BLAS || linear_bytes(l) == 16 * 2 * sizeof(float),
	    "a SIMD kernel keeps one padded panel for 1 output");
	linear_free(l);
	linear_free(NULL);
	return tap_done();
}
