/*
 * test-scan — the scan kernels (core/scan) against their scalar fallback:
 * every block-product kernel this CPU has must give the scalar fma chain's
 * bits exactly, whatever the row count, width, probe count and position
 * of a row in its block; the bf16 rounding must be round-to-nearest-even;
 * every bf16 dot kernel must stay within scan_bf16_bound of an fp32 dot
 * of the original vectors, including on vectors built to cancel.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "tap.h"
#include "tensor.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float randf(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static const scan_kernel kernels[] = { SCAN_AVX2, SCAN_AVX512 };

/* Every kernel gives the scalar chain's bits; rows alone give the block's. */
static void test_block(void)
{
	static const int shapes[][3] = { /* rows, d, n */
		{ 1, 1, 1 }, { 8, 16, 16 }, { 19, 37, 17 }, { 24, 512, 32 }, { 13, 64, 65 },
		{ 96, 512, 65 }, { 7, 5, 48 }, { 9, 33, 3 },
	};

	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int rows = shapes[s][0], d = shapes[s][1], n = shapes[s][2];
		size_t lda = (size_t)d + 3, ldc = (size_t)n + 5;
		float *a = tensor_alloc((size_t)rows * lda), *b = tensor_alloc((size_t)d * n);
		float *p = tensor_alloc(scan_panel_floats(d, n));
		float *want = tensor_alloc((size_t)rows * ldc), *got = tensor_alloc((size_t)rows * ldc);
		double maxerr = 0;
		int ok = 1;

		for (size_t i = 0; i < (size_t)rows * lda; i++)
			a[i] = randf();
		for (size_t i = 0; i < (size_t)d * n; i++)
			b[i] = randf();
		scan_pack(b, n, d, n, p);
		for (size_t i = 0; i < (size_t)rows * ldc; i++)
			want[i] = -7.0f;
		scan_block(SCAN_SCALAR, a, lda, rows, d, p, n, want, ldc);
		/* The scalar chain against a double-precision product. */
		for (int r = 0; r < rows; r++)
			for (int j = 0; j < n; j++) {
				double ref = 0, mag = 0;
				for (int k = 0; k < d; k++) {
					ref += (double)a[(size_t)r * lda + k] * b[(size_t)k * n + j];
					mag += fabs((double)a[(size_t)r * lda + k] * b[(size_t)k * n + j]);
				}
				double e = fabs(want[(size_t)r * ldc + j] - ref) / (mag > 0 ? mag : 1);
				maxerr = e > maxerr ? e : maxerr;
			}
		for (int r = 0; r < rows; r++)
			for (size_t j = (size_t)n; j < ldc; j++)
				ok &= want[(size_t)r * ldc + j] == -7.0f;
		tap_ok(ok && maxerr <= (double)d * 0x1p-24,
		    "scalar block %dx%d x %d probes: within d u of the exact product (%.2e), "
		    "columns past n untouched", rows, d, n, maxerr);
		for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++) {
			scan_kernel k = kernels[ki];
			if (!scan_kernel_supported(k)) {
				tap_skip("kernel not supported by this CPU");
				continue;
			}
			for (size_t i = 0; i < (size_t)rows * ldc; i++)
				got[i] = -7.0f;
			scan_block(k, a, lda, rows, d, p, n, got, ldc);
			ok = memcmp(got, want, sizeof(float) * (size_t)rows * ldc) == 0;
			/* Each row alone (a one-row block) gives the same bits. */
			for (int r = 0; r < rows && ok; r += 3) {
				float one[128];
				scan_block(k, a + (size_t)r * lda, lda, 1, d, p, n, one, 128);
				ok &= memcmp(one, want + (size_t)r * ldc, sizeof(float) * (size_t)n) == 0;
			}
			tap_ok(ok, "%s block %dx%d x %d probes: the scalar chain's bits, also row by row",
			    scan_kernel_name(k), rows, d, n);
		}
		tensor_free(a);
		tensor_free(b);
		tensor_free(p);
		tensor_free(want);
		tensor_free(got);
	}
}

static void test_bf16_rounding(void)
{
	float x[] = { 1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, 0x1p-130f + 0x1p-140f, 3.4e38f, NAN,
		1.0f + 0x1p-8f + 0x1p-20f };
	scan_bf16 h[8];
	int ok;

	scan_to_bf16(x, 8, h);
	ok = h[0] == 0x3f80 && h[1] == 0x3f80 /* tie: to even */ && h[2] == 0x3f82 &&
	    h[3] == 0xc020 && scan_bf16_to_float(h[4]) == 0x1p-130f && isinf(scan_bf16_to_float(h[5])) &&
	    isnan(scan_bf16_to_float(h[6])) && h[7] == 0x3f81;
	tap_ok(ok, "bf16 rounding: nearest, ties to even, subnormals, overflow, NaN");
	/* Relative error of the rounding never exceeds 2^-8 on normal values. */
	double worst = 0;
	for (int i = 0; i < 100000; i++) {
		float v = randf() * ldexpf(1.0f, (int)(randf() * 60));
		scan_bf16 b;
		scan_to_bf16(&v, 1, &b);
		double e = fabs((double)scan_bf16_to_float(b) - v) / fabs((double)v);
		worst = e > worst ? e : worst;
	}
	tap_ok(worst <= 0x1p-8, "bf16 rounding error at most 2^-8 relative (worst %.3e)", worst);
}

/* The certificate: every kernel's bf16 dot is within the bound of fp32 dots. */
static void test_bf16_dot(void)
{
	static const int dims[] = { 1, 15, 37, 64, 512, 1000 };
	const int nvec = 23;

	for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
		int d = dims[di];
		size_t stride = (size_t)d + 1;
		float *q = tensor_alloc((size_t)d), *v = tensor_alloc(stride * nvec);
		scan_bf16 *h = malloc(sizeof *h * stride * nvec);
		float want[23], got[23];
		double qn = 0, qmax = 0, worst = 0;
		int ok = 1;

		for (int k = 0; k < d; k++) {
			q[k] = randf() * 100;
			qn += (double)q[k] * q[k];
			qmax = fmax(qmax, fabs(q[k]));
		}
		for (int i = 0; i < nvec; i++) {
			float *vi = v + i * stride;
			for (int k = 0; k < d; k++)
				vi[k] = randf();
			/* Some vectors nearly orthogonal to q: the dot cancels, the
			 * bound (relative to |q||v|) must still hold. */
			if (i % 3 == 0 && d > 1) {
				double dot = 0;
				for (int k = 0; k < d; k++)
					dot += (double)q[k] * vi[k];
				for (int k = 0; k < d; k++)
					vi[k] -= (float)(dot / qn * q[k]);
			}
			vi[d] = 0;
			scan_to_bf16(vi, stride, h + i * stride);
		}
		scan_dot_bf16(SCAN_SCALAR, q, h, stride, d, (size_t)nvec, want);
		for (size_t ki = 0; ki < 3; ki++) {
			scan_kernel k = ki == 0 ? SCAN_SCALAR : kernels[ki - 1];
			if (!scan_kernel_supported(k)) {
				tap_skip("kernel not supported by this CPU");
				continue;
			}
			scan_dot_bf16(k, q, h, stride, d, (size_t)nvec, got);
			for (int i = 0; i < nvec; i++) {
				const float *vi = v + i * stride;
				double vn = 0;
				float f32 = 0, f32r = 0;
				for (int kk = 0; kk < d; kk++) {
					vn += (double)vi[kk] * vi[kk];
					f32 += q[kk] * vi[kk];                 /* fp32, forward */
					f32r += q[d - 1 - kk] * vi[d - 1 - kk]; /* fp32, backward */
				}
				double b = scan_bf16_bound(d, sqrt(qn), sqrt(vn), qmax);
				double e = fmax(fabs((double)got[i] - f32), fabs((double)got[i] - f32r));
				ok &= e <= b && fabs((double)got[i] - want[i]) <= b;
				worst = fmax(worst, e / b);
			}
			tap_ok(ok, "%s bf16 dot, d = %d: within the bound of fp32 dots (worst %.2f of it)",
			    scan_kernel_name(k), d, worst);
		}
		tensor_free(q);
		tensor_free(v);
		free(h);
	}
	tap_ok(isinf(scan_bf16_bound(512, INFINITY, 1, 1)), "the bound is infinite for a non-finite norm");
}

int main(void)
{
	tap_diag("scan kernel: %s", scan_kernel_name(SCAN_AUTO));
	test_block();
	test_bf16_rounding();
	test_bf16_dot();
	return tap_done();
}
