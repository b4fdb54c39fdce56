/*
 * linear — a Linear layer (y = x Wᵀ + b) whose weight is repacked once so
 * that products with few rows run at the machine's speed.
 *
 * OpenBLAS packs the weight on every call; with the text tower's 32 rows
 * each weight element is used only 32 times, so that packing (a cold read
 * of the whole weight from memory) takes as long as the arithmetic.  Here
 * the weight is laid out once as 16-output panels, [ceil(out/16), in, 16],
 * which the kernels stream from memory exactly once per call.  Kernels:
 * AVX-512F and AVX2+FMA on x86-64 (chosen at run time); elsewhere, or when
 * asked, the BLAS on the original weight (no copy).
 */
#ifndef CLIPGREP_LINEAR_H
#define CLIPGREP_LINEAR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	LINEAR_AUTO,   /* the best kernel this CPU has */
	LINEAR_BLAS,   /* tensor_linear on the original weight */
	LINEAR_AVX2,   /* AVX2 + FMA */
	LINEAR_AVX512, /* AVX-512F */
} linear_kernel;

typedef struct linear linear;

/* Whether this CPU (and this build) can run kernel k. */
bool linear_kernel_supported(linear_kernel k);
/*
 * LINEAR_AUTO becomes the best kernel this CPU supports, or the one named by
 * CLIPGREP_LINEAR_KERNEL (blas, avx2, avx512) when the CPU supports it;
 * any other kernel is returned as it is.
 */
linear_kernel linear_kernel_resolve(linear_kernel k);
/* "blas", "avx2", "avx512" ("auto" resolves first). */
const char *linear_kernel_name(linear_kernel k);

/*
 * Prepare w [out, in] for kernel k (LINEAR_AUTO: the best supported).  The
 * SIMD kernels keep a repacked copy, out · in floats rounded up to 16
 * outputs; the BLAS kernel keeps only the pointer, so w must outlive the
 * result.  NULL with *cause on a bad shape, an unsupported kernel or no
 * memory.
 */
linear *linear_new(const float *w, int out, int in, linear_kernel k, char **cause);
/* Safe on NULL. */
void linear_free(linear *l);

linear_kernel linear_get_kernel(const linear *l);
/* Bytes of weight copy held (0 for the BLAS kernel). */
size_t linear_bytes(const linear *l);

/*
 * y = x Wᵀ + bias, or y += x Wᵀ + bias when accumulate:
 *   y    [rows, out]   must not alias x
 *   x    [rows, in]
 *   bias [out] or NULL
 * Output panels are shared out over tensor_threads() threads when the
 * product is big enough.  Any rows count works; the kernels pay off for
 * up to about a hundred rows (beyond that the BLAS's blocking wins).
 */
void linear_forward(const linear *l, float *y, const float *x, const float *bias, int rows,
    bool accumulate);

#endif
