/*
 * test-linear — the repacked few-row Linear (core/linear) against a
 * float64 reference, for every kernel this CPU has, on shapes that leave
 * partial panels and partial row tiles, with and without bias, writing and
 * accumulating, on one and two threads.  Tolerance: normalised max error
 * (tap_rel_err) <= 1e-5.
 *
 * The bf16 kernels (AVX512_BF16 where the CPU has it, and the portable
 * reference everywhere) are held to the same 1e-5 against a float64
 * reference on the bf16-rounded x and W: that bound checks the packing and
 * the fp32 sums, since the rounding is then the reference's too.  Against
 * the unrounded fp32 product they must stay within 1e-2: rounding x and W
 * to 8 significant bits costs each product at most 2^-8 relative, and over
 * random signs the sum's error grows like its magnitude (measured: about
 * 3e-3).  The hardware kernel and the reference must agree to 1e-6 (on the
 * CPUs tested they agree bit for bit; the count of differing values is
 * printed).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linear.h"
#include "safetensors.h"
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

/* Whether the reference for kernel k rounds x and W to bf16 first. */
static bool rounded(linear_kernel k)
{
	return linear_kernel_is_bf16(k);
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
	tensor_set_threads(threads);
	linear *l = linear_new(w, out, in, kernel, &cause);
	if (l != NULL)
		linear_forward(l, y, x, use_bias ? bias : NULL, rows, accumulate);
	if (rounded(kernel)) {
		float *want32 = malloc(sizeof(float) * ny);
		reference(want32, y0, x, w, use_bias ? bias : NULL, rows, out, in, accumulate);
		double e32 = l != NULL ? tap_rel_err(y, want32, ny) : INFINITY;
		tap_ok(e32 <= 1e-2, "%s rows %d out %d in %d against fp32: error %.2e",
		    linear_kernel_name(kernel), rows, out, in, e32);
		free(want32);
		for (size_t i = 0; i < (size_t)out * in; i++)
			w[i] = linear_round_bf16(w[i]);
		for (size_t i = 0; i < (size_t)rows * in; i++)
			x[i] = linear_round_bf16(x[i]);
	}
	reference(want, y0, x, w, use_bias ? bias : NULL, rows, out, in, accumulate);
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

/* A bf16 SIMD kernel against the portable reference on the same data. */
static void check_bf16_same(linear_kernel k, int rows, int out, int in)
{
	float *w = malloc(sizeof(float) * (size_t)out * in), *x = malloc(sizeof(float) * (size_t)rows * in);
	float *bias = malloc(sizeof(float) * (size_t)out), *y = calloc((size_t)rows * out, sizeof(float));
	float *yr = calloc((size_t)rows * out, sizeof(float));
	linear *a, *b;
	size_t differ = 0;

	for (size_t i = 0; i < (size_t)out * in; i++)
		w[i] = rnd();
	for (size_t i = 0; i < (size_t)rows * in; i++)
		x[i] = rnd() * 10;
	/* The rounding's corners among the inputs: ties both ways, a denormal, zeros. */
	static const uint32_t corners[] = { 0x3f808000, 0xbf818000, 0x00400000, 0x80000000,
		0x3f807fff, 0x4b3f8000 };
	for (size_t i = 0; i < sizeof corners / sizeof corners[0] && i < (size_t)rows * in; i++)
		memcpy(&x[i * 7 % ((size_t)rows * in)], &corners[i], sizeof(float));
	for (int i = 0; i < out; i++)
		bias[i] = rnd();
	a = linear_new(w, out, in, k, NULL);
	b = linear_new(w, out, in, LINEAR_BF16_REF, NULL);
	if (a != NULL && b != NULL) {
		linear_forward(a, y, x, bias, rows, false);
		linear_forward(b, yr, x, bias, rows, false);
		for (size_t i = 0; i < (size_t)rows * out; i++)
			differ += memcmp(&y[i], &yr[i], sizeof(float)) != 0;
	}
	double err = a != NULL && b != NULL ? tap_rel_err(y, yr, (size_t)rows * out) : INFINITY;
	tap_ok(err <= 1e-6, "%s and bf16ref rows %d out %d in %d agree: error %.2e, %zu of %zu "
	    "values differ in any bit", linear_kernel_name(k), rows, out, in, err, differ,
	    (size_t)rows * out);
	linear_free(a);
	linear_free(b);
	free(w);
	free(x);
	free(bias);
	free(y);
	free(yr);
}

/* linear_round_bf16 of the float with bits u, as bits. */
static uint32_t round_bits(uint32_t u)
{
	float f, r;
	uint32_t out;

	memcpy(&f, &u, sizeof f);
	r = linear_round_bf16(f);
	memcpy(&out, &r, sizeof out);
	return out;
}

static void check_rounding(void)
{
	static const uint32_t cases[][2] = {
		{ 0x3f800000, 0x3f800000 }, /* 1 is exact */
		{ 0x3f808000, 0x3f800000 }, /* a tie rounds to the even 1 */
		{ 0x3f818000, 0x3f820000 }, /* a tie rounds to the even 0x3f82 */
		{ 0x3f808001, 0x3f810000 }, /* above the tie rounds up */
		{ 0xbf807fff, 0xbf800000 }, /* below the tie rounds down, sign kept */
		{ 0x7f7fffff, 0x7f800000 }, /* FLT_MAX rounds to infinity */
		{ 0x00400000, 0x00000000 }, /* a denormal reads as zero */
		{ 0x80000001, 0x80000000 }, /* ... of its sign */
		{ 0x7f800000, 0x7f800000 }, /* infinity stays */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint32_t got = round_bits(cases[i][0]);
		tap_ok(got == cases[i][1], "bf16 rounding of 0x%08x: 0x%08x (want 0x%08x)",
		    (unsigned)cases[i][0], (unsigned)got, (unsigned)cases[i][1]);
	}
	uint32_t nan = round_bits(0x7f800001);
	tap_ok((nan & 0x7f800000) == 0x7f800000 && (nan & 0x007fffff) != 0,
	    "a signalling NaN stays a NaN: 0x%08x", (unsigned)nan);
}

/* Which kernel --precision asks for, under CLIPGREP_LINEAR_KERNEL. */
static void check_precision(void)
{
	linear_precision p;

	tap_ok(linear_precision_parse("bf16", &p) == 0 && p == LINEAR_PREC_BF16 &&
	    linear_precision_parse("fp32", &p) == 0 && p == LINEAR_PREC_FP32 &&
	    linear_precision_parse("fp16", &p) == -1, "precision names parse");
	tap_ok(strcmp(linear_precision_name(LINEAR_PREC_BF16), "bf16") == 0 &&
	    strcmp(linear_precision_name(LINEAR_PREC_FP32), "fp32") == 0, "precision names print");
	setenv("CLIPGREP_LINEAR_KERNEL", "bf16ref", 1);
	tap_ok(linear_precision_kernel(LINEAR_PREC_BF16) == LINEAR_BF16_REF,
	    "CLIPGREP_LINEAR_KERNEL=bf16ref runs bf16 on the reference");
	setenv("CLIPGREP_LINEAR_KERNEL", "avx2", 1);
	tap_ok(linear_precision_kernel(LINEAR_PREC_BF16) == LINEAR_AUTO,
	    "an fp32 kernel forced: bf16 falls back to fp32");
	unsetenv("CLIPGREP_LINEAR_KERNEL");
	linear_kernel k = linear_precision_kernel(LINEAR_PREC_BF16);
	tap_ok(linear_kernel_supported(LINEAR_BF16) ? k == LINEAR_BF16 || k == LINEAR_BF16_FMA :
	    k == LINEAR_AUTO, "bf16 here runs on %s", linear_kernel_name(k));
	setenv("CLIPGREP_LINEAR_KERNEL", "bf16fma", 1);
	k = linear_precision_kernel(LINEAR_PREC_BF16);
	tap_ok(k == (linear_kernel_supported(LINEAR_BF16) ? LINEAR_BF16_FMA : LINEAR_AUTO),
	    "CLIPGREP_LINEAR_KERNEL=bf16fma: %s", linear_kernel_name(k));
	unsetenv("CLIPGREP_LINEAR_KERNEL");
	tap_ok(linear_precision_kernel(LINEAR_PREC_FP32) == LINEAR_AUTO, "fp32 runs on the fp32 kernels");
	tap_ok(linear_kernel_precision(LINEAR_BF16_REF) == LINEAR_PREC_BF16 &&
	    linear_kernel_precision(LINEAR_AVX2) == LINEAR_PREC_FP32, "kernels know their precision");
}


/* ---- packing straight from a file's tensor ------------------------------- */

/* Random bits of a finite-ish weight in dtype d, with denormals and a few specials. */
static void tensor_bits(st_dtype d, unsigned char *dst, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		uint32_t r = seed >> 4, sign = r & 1, pick = (r >> 1) % 64, mant = r >> 7;
		if (d == ST_F32) {
			float f = rnd();
			if (pick == 0)
				f = 1e-41f; /* a denormal */
			memcpy(dst + 4 * i, &f, 4);
			continue;
		}
		/* F16: exponent 10..17 (|w| about 2^-5 .. 2^2), or 0 (denormal or zero);
		 * BF16: 120..127 or 0 */
		uint32_t exp = pick == 0 ? 0 : (d == ST_F16 ? 10 : 120) + pick % 8;
		uint16_t h = d == ST_F16 ? (uint16_t)(sign << 15 | exp << 10 | (mant & 0x3ff)) :
		    (uint16_t)(sign << 15 | exp << 7 | (mant & 0x7f));
		dst[2 * i] = (unsigned char)(h & 0xff);
		dst[2 * i + 1] = (unsigned char)(h >> 8);
	}
	/* An infinity, a quiet and a signalling NaN, away from most outputs. */
	if (d != ST_F32 && n > 64) {
		static const uint16_t f16[3] = { 0x7c00, 0x7e01, 0xfd01 }, bf16[3] = { 0x7f80, 0x7fc1, 0xff81 };
		for (int i = 0; i < 3; i++) {
			uint16_t h = d == ST_F16 ? f16[i] : bf16[i];
			dst[2 * (n - 1 - 7 * (size_t)i)] = (unsigned char)(h & 0xff);
			dst[2 * (n - 1 - 7 * (size_t)i) + 1] = (unsigned char)(h >> 8);
		}
	}
}

/*
 * linear_new_tensor on a tensor of dtype d ([out, in], or [in, out] when
 * transposed; stored at an odd address, as a mapping may give) against
 * linear_new on the same weight widened by st_widen: the outputs must be
 * equal bit for bit.
 */
static void check_tensor(linear_kernel k, st_dtype d, int flags, int rows, int out, int in,
    int threads)
{
	size_t n = (size_t)out * in, esize = st_dtype_size(d);
	unsigned char *raw = malloc(n * esize + 1);
	float *wide = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * n);
	float *x = malloc(sizeof(float) * (size_t)rows * in), *bias = malloc(sizeof(float) * (size_t)out);
	float *y = malloc(sizeof(float) * (size_t)rows * out), *want = malloc(sizeof(float) * (size_t)rows * out);
	bool transposed = (flags & LINEAR_TRANSPOSED) != 0;
	st_tensor t = { .name = "w", .dtype = d, .ndim = 2, .numel = n, .data = raw + 1 };
	char *cause = NULL;
	size_t differ = 0;

	t.shape[0] = transposed ? in : out;
	t.shape[1] = transposed ? out : in;
	tensor_bits(d, raw + 1, n);
	st_widen(&t, 0, n, wide);
	for (int o = 0; o < out; o++)
		for (int i = 0; i < in; i++)
			w[(size_t)o * in + i] = transposed ? wide[(size_t)i * out + o] : wide[(size_t)o * in + i];
	for (size_t i = 0; i < (size_t)rows * in; i++)
		x[i] = rnd();
	for (int i = 0; i < out; i++)
		bias[i] = rnd();
	tensor_set_threads(threads);
	linear *a = linear_new(w, out, in, k, &cause);
	linear *b = a != NULL ? linear_new_tensor(&t, flags, k, &cause) : NULL;
	if (a != NULL && b != NULL) {
		linear_forward(a, want, x, bias, rows, false);
		linear_forward(b, y, x, bias, rows, false);
		for (size_t i = 0; i < (size_t)rows * out; i++)
			differ += memcmp(&y[i], &want[i], sizeof(float)) != 0;
	}
	bool half = d == ST_F16 && !(flags & LINEAR_WIDEN) && !linear_kernel_is_bf16(k);
	tap_ok(a != NULL && b != NULL && differ == 0 &&
	    linear_bytes(b) == (half ? linear_bytes(a) / 2 : linear_bytes(a)),
	    "%s from %s%s%s rows %d out %d in %d, %d thread%s: %zu of %zu outputs differ from "
	    "linear_new's; %zu bytes against %zu%s%s", linear_kernel_name(k), st_dtype_name(d),
	    transposed ? " transposed" : "", flags & LINEAR_WIDEN ? " widened" : "", rows, out, in,
	    threads, threads > 1 ? "s" : "", differ, (size_t)rows * out, b ? linear_bytes(b) : 0,
	    a ? linear_bytes(a) : 0, cause ? " " : "", cause ? cause : "");
	linear_free(a);
	linear_free(b);
	free(cause);
	free(raw);
	free(wide);
	free(w);
	free(x);
	free(bias);
	free(y);
	free(want);
}

static void check_tensors(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 5, 17, 5 }, { 8, 33, 300 }, { 13, 48, 31 }, { 3, 100, 513 },
		{ 9, 16, 64 },
	};
	static const linear_kernel kernels[] = { LINEAR_AVX2, LINEAR_AVX512, LINEAR_BF16,
		LINEAR_BF16_FMA, LINEAR_BF16_REF };
	static const st_dtype dtypes[] = { ST_F16, ST_BF16, ST_F32 };
	char *cause = NULL;

	for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
		if (!linear_kernel_supported(kernels[k])) {
			tap_skip("this CPU has no such kernel");
			continue;
		}
		for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
			for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
				for (int flags = 0; flags < 4; flags++)
					check_tensor(kernels[k], dtypes[d], flags, shapes[s][0], shapes[s][1],
					    shapes[s][2], 1 + flags % 2);
		/* Big enough to be packed on two threads. */
		check_tensor(kernels[k], ST_F16, 0, 7, 1100, 1000, 2);
		check_tensor(kernels[k], ST_F16, LINEAR_TRANSPOSED | LINEAR_WIDEN, 7, 1100, 1000, 2);
	}
	uint16_t one = 0x3c00;
	st_tensor t = { .name = "w", .dtype = ST_F16, .ndim = 2, .shape = { 1, 1 }, .numel = 1,
		.data = &one };
	linear *l = linear_new_tensor(&t, 0, LINEAR_BLAS, &cause);
	tap_ok(l == NULL && cause != NULL, "the BLAS kernel is refused: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	t.dtype = ST_I32;
	l = linear_new_tensor(&t, 0, LINEAR_AUTO, &cause);
	tap_ok(l == NULL && cause != NULL, "an integer tensor is refused: %s", cause ? cause : "(none)");
	free(cause);
	linear_free(l);
}

int main(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 3, 17, 5 }, { 12, 72, 24 }, { 7, 33, 100 }, { 9, 48, 31 },
		{ 32, 512, 512 }, { 40, 96, 200 }, { 13, 16, 64 },
	};
	static const linear_kernel kernels[] = { LINEAR_BLAS, LINEAR_AVX2, LINEAR_AVX512, LINEAR_BF16,
		LINEAR_BF16_FMA, LINEAR_BF16_REF };
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

	check_tensors();
	check_rounding();
	check_precision();
	for (int i = 0; i < 2; i++) {
		linear_kernel k = i == 0 ? LINEAR_BF16 : LINEAR_BF16_FMA;
		if (!linear_kernel_supported(k)) {
			tap_skip(k == LINEAR_BF16 ? "this CPU has no AVX512_BF16" : "this CPU has no AVX-512F");
			continue;
		}
		check_bf16_same(k, 37, 100, 77);
		check_bf16_same(k, 100, 96, 768);
		check_bf16_same(k, 40, 64, 3072);
		check(k, 200, 96, 768, true, true, 2); /* several row blocks */
	}
	check(LINEAR_BF16_REF, 70, 40, 96, true, false, 2);
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
