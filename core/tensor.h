/*
 * tensor — clipgrep's only door to BLAS.  Row-major matrix products, the
 * thread count, and aligned float buffers.  Every GEMM in the encoders goes
 * through here, so swapping the BLAS or adding a backend touches one file.
 */
#ifndef CLIPGREP_TENSOR_H
#define CLIPGREP_TENSOR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * C = alpha * op(A) * op(B) + beta * C, all row-major; op(X) is X or Xᵀ.
 * op(A) is [m, k], op(B) is [k, n], C is [m, n]; lda/ldb/ldc are row strides
 * of the matrices as stored.
 */
void tensor_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/*
 * A PyTorch Linear layer over rows: y = x Wᵀ + bias.
 *   y    [rows, out]
 *   x    [rows, in]
 *   w    [out, in]
 *   bias [out] or NULL
 * y must not alias x.
 */
void tensor_linear(float *y, const float *x, const float *w, const float *bias,
    int rows, int in, int out);

/* y = x M: x [rows, k], m [k, n], y [rows, n] (e.g. the CLIP projections). */
void tensor_matmul(float *y, const float *x, const float *m, int rows, int k, int n);

/* y = alpha * A x + beta * y with A [m, n] row-major, x [n], y [m]. */
void tensor_gemv(int m, int n, float alpha, const float *a, const float *x, float beta, float *y);

/* Dot product of n floats. */
float tensor_dot(const float *a, const float *b, int n);

/*
 * BLAS threads.  tensor_init_threads applies CLIPGREP_THREADS from the
 * environment (default: all online cores); tensor_set_threads overrides.
 */
void tensor_init_threads(void);
void tensor_set_threads(int n);
int tensor_threads(void);

/* 64-byte aligned float buffers (n may be 0); NULL on failure or overflow. */
float *tensor_alloc(size_t n);
float *tensor_zalloc(size_t n);
void tensor_free(float *p);

#endif
