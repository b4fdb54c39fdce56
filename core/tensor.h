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

/*
 * C = A · op(B) + beta C over consecutive row groups: group g is rows[g]
 * rows of A and C (n_groups groups, back to back), op(B) [k, n] is B or Bᵀ
 * (trans_b).  Every element of C is a function of its own row of A, B, C's
 * old value and its group's row count only: each group is cut into
 * TENSOR_TILE-column tiles and each tile is one single-threaded BLAS call
 * of that shape; the calls are shared out over parallel_run.  So a group's
 * rows come out bit-identical whatever other groups share the call and
 * whatever the thread count or the BLAS kernel's blocking choices, which a
 * whole-batch or multi-threaded BLAS call does not give (its blocking
 * depends on M and the thread count).  The BLAS threads are set to 1 for
 * the call and restored after: a BLAS call on another thread meanwhile
 * also runs single-threaded.  128 columns: ViT-B/32's 768- and 3072-wide
 * outputs cut into 6 and 24 tiles, enough to keep two or more threads
 * busy on one 12-frame video (256 left one video 15 % slower than the
 * whole-batch call; 128 is within 5 %, see doc/performance.md).
 */
#define TENSOR_TILE 128
void tensor_gemm_groups(bool trans_b, const int *rows, int n_groups, int n, int k,
    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/*
 * Run the BLAS single-threaded until tensor_blas_serial_end(the returned
 * value); pairs nest.  For callers that share out small BLAS calls over
 * their own threads (parallel_run) and need each call's result not to
 * depend on the thread count.
 */
int tensor_blas_serial_begin(void);
void tensor_blas_serial_end(int saved);

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

/*
 * The BLAS kernel in use (OpenBLAS's core name, e.g. "Haswell",
 * "SkylakeX", "Cooperlake"; it follows OPENBLAS_CORETYPE when that is
 * set), for benchmarks to say what they ran.  A static string.
 */
const char *tensor_blas_core(void);

/* 64-byte aligned float buffers (n may be 0); NULL on failure or overflow. */
float *tensor_alloc(size_t n);
float *tensor_zalloc(size_t n);
void tensor_free(float *p);

#endif
