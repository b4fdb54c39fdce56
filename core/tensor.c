/*
 * tensor — BLAS wrappers.  The only file that includes cblas.h (STYLE.md
 * rule 3), so the choice of BLAS stays in one place.
 */
#include "config.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "util.h"

void tensor_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		/* BLAS leaves C untouched when k = 0; keep beta semantics. */
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++)
				c[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * c[(size_t)i * ldc + j];
		return;
	}
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
	    trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
	    beta, c, ldc);
}

void tensor_linear(float *y, const float *x, const float *w, const float *bias,
    int rows, int in, int out)
{
	float beta = 0;

	if (bias != NULL) {
		for (int r = 0; r < rows; r++)
			memcpy(y + (size_t)r * out, bias, sizeof(float) * (size_t)out);
		beta = 1;
	}
	tensor_gemm(false, true, rows, out, in, 1, x, in, w, in, beta, y, out);
}

void tensor_matmul(float *y, const float *x, const float *m, int rows, int k, int n)
{
	tensor_gemm(false, false, rows, n, k, 1, x, k, m, n, 0, y, n);
}

void tensor_gemv(int m, int n, float alpha, const float *a, const float *x, float beta, float *y)
{
	if (m <= 0)
		return;
	if (n <= 0) {
		for (int i = 0; i < m; i++)
			y[i] = beta == 0 ? 0 : beta * y[i];
		return;
	}
	cblas_sgemv(CblasRowMajor, CblasNoTrans, m, n, alpha, a, n, x, 1, beta, y, 1);
}

float tensor_dot(const float *a, const float *b, int n)
{
	return n > 0 ? cblas_sdot(n, a, 1, b, 1) : 0;
}

static int tensor_thread_count = 0;

void tensor_set_threads(int n)
{
	if (n < 1)
		n = 1;
	tensor_thread_count = n;
	openblas_set_num_threads(n);
}

void tensor_init_threads(void)
{
	const char *env = getenv("CLIPGREP_THREADS");
	int n = util_cpu_count();

	if (env != NULL && *env != '\0') {
		char *end;
		long v = strtol(env, &end, 10);
		if (*end == '\0' && v >= 1 && v <= 1024)
			n = (int)v;
	}
	tensor_set_threads(n);
}

int tensor_threads(void)
{
	return tensor_thread_count > 0 ? tensor_thread_count : openblas_get_num_threads();
}

float *tensor_alloc(size_t n)
{
	size_t bytes;
	void *p;

	if (util_mul_size(n == 0 ? 1 : n, sizeof(float), &bytes) == -1)
		return NULL;
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	if (bytes > SIZE_MAX - 63)
		return NULL;
	bytes = (bytes + 63) & ~(size_t)63;
	p = aligned_alloc(64, bytes);
	return p;
}

float *tensor_zalloc(size_t n)
{
	float *p = tensor_alloc(n);

	if (p != NULL)
		memset(p, 0, sizeof(float) * (n == 0 ? 1 : n));
	return p;
}

void tensor_free(float *p)
{
	free(p);
}
