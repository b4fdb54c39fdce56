/*
 * tensor — BLAS wrappers.  The only file that includes cblas.h (STYLE.md
 * rule 3), so the choice of BLAS stays in one place.
 */
#include "config.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
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

int tensor_blas_serial_begin(void)
{
	int saved = openblas_get_num_threads();

	/* parallel_run sizes its parts by tensor_threads(): keep that the BLAS's count. */
	if (tensor_thread_count == 0)
		tensor_thread_count = saved;
	if (saved != 1)
		openblas_set_num_threads(1);
	return saved;
}

void tensor_blas_serial_end(int saved)
{
	if (saved != 1)
		openblas_set_num_threads(saved);
}

typedef struct {
	bool trans_b;
	const int *rows;
	int n_groups, n, k, lda, ldb, ldc, tiles; /* tiles per group */
	const float *a, *b;
	float beta, *c;
} tensor_groups_job;

/* Part's share of the (group, tile) calls; which thread runs one does not matter. */
static void tensor_groups_part(void *ctx, int part, int parts)
{
	const tensor_groups_job *j = ctx;
	int calls = j->n_groups * j->tiles, c0 = (int)((int64_t)calls * part / parts);
	int c1 = (int)((int64_t)calls * (part + 1) / parts), g = 0;
	size_t row = 0;

	for (int call = c0; call < c1; call++) {
		int tile = call % j->tiles, col = tile * TENSOR_TILE, w;
		/* Groups in call order: advance to this call's group. */
		for (; g < call / j->tiles; g++)
			row += (size_t)j->rows[g];
		if (j->rows[g] <= 0)
			continue;
		w = j->n - col < TENSOR_TILE ? j->n - col : TENSOR_TILE;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans,
		    j->rows[g], w, j->k, 1, j->a + row * (size_t)j->lda, j->lda,
		    j->b + (j->trans_b ? (size_t)col * j->ldb : (size_t)col), j->ldb, j->beta,
		    j->c + row * (size_t)j->ldc + col, j->ldc);
	}
}

void tensor_gemm_groups(bool trans_b, const int *rows, int n_groups, int n, int k,
    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	tensor_groups_job j = { trans_b, rows, n_groups, n, k, lda, ldb, ldc,
		(n + TENSOR_TILE - 1) / TENSOR_TILE, a, b, beta, c };
	size_t flops = 0;
	int saved;

	if (n_groups <= 0 || n <= 0)
		return;
	if (k <= 0) {
		size_t r = 0;
		for (int g = 0; g < n_groups; g++)
			r += (size_t)(rows[g] > 0 ? rows[g] : 0);
		tensor_gemm(false, trans_b, (int)r, n, 0, 1, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	for (int g = 0; g < n_groups; g++)
		flops += (size_t)(rows[g] > 0 ? rows[g] : 0) * (size_t)n * (size_t)k;
	saved = tensor_blas_serial_begin();
	/* A tile call is ~10 us of work at 1M multiply-adds: a thread for each below that
	 * would cost more than it gives. */
	parallel_run(tensor_groups_part, &j, flops, (size_t)1 << 20, n_groups * j.tiles);
	tensor_blas_serial_end(saved);
}

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

const char *tensor_blas_core(void)
{
	const char *name = openblas_get_corename();

	return name != NULL ? name : "unknown";
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
