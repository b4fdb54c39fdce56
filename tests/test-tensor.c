/*
 * test-tensor — the BLAS wrappers against naive loops: every transpose
 * combination, strides, bias handling, and the k = 0 edge.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "tap.h"
#include "tensor.h"

static float frand(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Reference C = op(A) op(B), row-major, in double. */
static void naive_gemm(int ta, int tb, int m, int n, int k, const float *a, int lda,
    const float *b, int ldb, float *c, int ldc)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int p = 0; p < k; p++)
				s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
				    (tb ? b[j * ldb + p] : b[p * ldb + j]);
			c[i * ldc + j] = (float)s;
		}
}

int main(void)
{
	enum { M = 7, N = 5, K = 9, LD = 12 };
	float a[LD * LD], b[LD * LD], c[LD * LD], want[LD * LD];
	uint32_t seed = 1;

	tensor_set_threads(2);
	TAP_OK(tensor_threads() == 2);
	for (int i = 0; i < LD * LD; i++) {
		a[i] = frand(&seed);
		b[i] = frand(&seed);
	}
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			naive_gemm(ta, tb, M, N, K, a, LD, b, LD, want, N);
			tensor_gemm(ta, tb, M, N, K, 1, a, LD, b, LD, 0, c, N);
			tap_ok(tap_rel_err(c, want, M * N) < 1e-6, "gemm trans_a=%d trans_b=%d, strided", ta, tb);
		}

	/* linear: y = x Wᵀ + b. */
	float x[3 * 4], w[2 * 4], bias[2] = { 0.5f, -1.0f }, y[3 * 2], ref[3 * 2];
	for (int i = 0; i < 12; i++)
		x[i] = frand(&seed);
	for (int i = 0; i < 8; i++)
		w[i] = frand(&seed);
	naive_gemm(0, 1, 3, 2, 4, x, 4, w, 4, ref, 2);
	for (int i = 0; i < 6; i++)
		ref[i] += bias[i % 2];
	tensor_linear(y, x, w, bias, 3, 4, 2);
	tap_ok(tap_rel_err(y, ref, 6) < 1e-6, "linear with bias");
	naive_gemm(0, 1, 3, 2, 4, x, 4, w, 4, ref, 2);
	tensor_linear(y, x, w, NULL, 3, 4, 2);
	tap_ok(tap_rel_err(y, ref, 6) < 1e-6, "linear without bias");

	/* matmul and gemv. */
	naive_gemm(0, 0, 3, 2, 4, x, 4, w, 2, ref, 2);
	tensor_matmul(y, x, w, 3, 4, 2);
	tap_ok(tap_rel_err(y, ref, 6) < 1e-6, "matmul");
	float v[4] = { 1, 2, 3, 4 }, out[3] = { 1, 1, 1 };
	tensor_gemv(3, 4, 2.0f, x, v, 1.0f, out);
	naive_gemm(0, 0, 3, 1, 4, x, 4, v, 1, ref, 1);
	for (int i = 0; i < 3; i++)
		ref[i] = 2 * ref[i] + 1;
	tap_ok(tap_rel_err(out, ref, 3) < 1e-6, "gemv with alpha and beta");
	tap_ok(fabsf(tensor_dot(v, v, 4) - 30.0f) < 1e-6f, "dot([1,2,3,4], itself) = 30");

	/* k = 0: C = beta C, as BLAS semantics ask. */
	float z[4] = { 1, 2, 3, 4 };
	tensor_gemm(false, false, 2, 2, 0, 1, a, 1, b, 2, 0, z, 2);
	tap_ok(z[0] == 0 && z[3] == 0, "gemm with k = 0 and beta = 0 zeroes C");

	float *p = tensor_zalloc(1000);
	tap_ok(p != NULL && ((uintptr_t)p % 64) == 0 && p[999] == 0, "zalloc is 64-byte aligned and zeroed");
	tensor_free(p);
	tap_ok(tensor_alloc(SIZE_MAX / 2) == NULL, "alloc of an overflowing size fails cleanly");
	return tap_done();
}
