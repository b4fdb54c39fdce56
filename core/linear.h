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
 *
 * linear_new_tensor packs straight from a model file's tensor (F32, F16,
 * BF16), so a tower never holds an fp32 copy of a weight it packs.  An F16
 * weight then stays F16 in the fp32 kernels' panels (with F16C): each panel
 * row is widened by vcvtph2ps, which is exact, before the same FMAs in the
 * same order, so the outputs equal those of fp32 panels bit for bit, from
 * half the bytes.
 *
 * bf16 precision (`--precision bf16`): the weight is rounded to bfloat16
 * once, at linear_new, into panels of k-pairs for AVX512_BF16's vdpbf16ps;
 * each call rounds x to bfloat16 and accumulates the products in fp32.
 * Both roundings are to nearest even with denormals read as zero, as the
 * instructions do.  LINEAR_BF16_FMA computes the same sums with AVX-512F
 * FMAs (faster where vdpbf16ps is slow), and LINEAR_BF16_REF in portable
 * C, both in the instruction's order (the odd element of each pair, then
 * the even): on the CPU tested all three give the same bits, and the
 * reference lets the bf16 path run in tests on any machine.
 */
#ifndef CLIPGREP_LINEAR_H
#define CLIPGREP_LINEAR_H

#include <stdbool.h>
#include <stddef.h>

#include "safetensors.h"

typedef enum {
	LINEAR_AUTO,   /* the best kernel this CPU has */
	LINEAR_BLAS,   /* tensor_linear on the original weight */
	LINEAR_AVX2,   /* AVX2 + FMA */
	LINEAR_AVX512, /* AVX-512F */
	LINEAR_BF16,     /* bf16 weights and inputs, fp32 sums: AVX512_BF16 */
	LINEAR_BF16_FMA, /* the same sums on AVX-512F FMAs (see linear_precision_kernel) */
	LINEAR_BF16_REF, /* the same numbers in portable C (slow; for tests) */
} linear_kernel;

/* Whether k rounds to bfloat16 (LINEAR_BF16, LINEAR_BF16_REF). */
bool linear_kernel_is_bf16(linear_kernel k);

typedef struct linear linear;

/* Whether this CPU (and this build) can run kernel k. */
bool linear_kernel_supported(linear_kernel k);
/*
 * LINEAR_AUTO becomes the best kernel this CPU supports, or the one named by
 * CLIPGREP_LINEAR_KERNEL (blas, avx2, avx512) when the CPU supports it;
 * any other kernel is returned as it is.
 */
linear_kernel linear_kernel_resolve(linear_kernel k);
/* "blas", "avx2", "avx512", "bf16", "bf16ref" ("auto" resolves first). */
const char *linear_kernel_name(linear_kernel k);

/*
 * Prepare w [out, in] for kernel k (LINEAR_AUTO: the best fp32 kernel
 * supported).  The SIMD kernels keep a repacked copy, out · in floats
 * rounded up to 16 outputs (bf16 kernels: half as many bytes, in rounded up
 * to even); the BLAS kernel keeps only the pointer, so w must outlive the
 * result.  NULL with *cause on a bad shape, an unsupported kernel or no
 * memory.
 */
linear *linear_new(const float *w, int out, int in, linear_kernel k, char **cause);
/*
 * linear_new on a model file's float tensor (F32, F16 or BF16) read where
 * it lies, so that no fp32 copy of the weight is ever made: t is the
 * weight [out, in], or with LINEAR_TRANSPOSED its transpose [in, out].
 * The panels hold exactly the values linear_new would get from t widened
 * to fp32 (st_widen), so the two give the same outputs bit for bit.  An
 * F16 weight stays F16 in the fp32 kernels' panels (half the bytes; the
 * kernels widen each panel row with vcvtph2ps, which is exact) unless
 * LINEAR_WIDEN asks for fp32 panels or the CPU lacks F16C.  t need not
 * outlive the result.  Not for the BLAS kernel (it multiplies the caller's
 * fp32 array): an error, as are a bad shape or dtype.
 */
#define LINEAR_TRANSPOSED 0x1
#define LINEAR_WIDEN 0x2
linear *linear_new_tensor(const st_tensor *t, int flags, linear_kernel k, char **cause);
/* Safe on NULL. */
void linear_free(linear *l);

linear_kernel linear_get_kernel(const linear *l);
/* Bytes of weight copy held (0 for the BLAS kernel; F16 panels: 2 a weight). */
size_t linear_bytes(const linear *l);

/*
 * x rounded to bfloat16 (to nearest even; a denormal becomes a zero of its
 * sign; a NaN stays a NaN) and widened back: what the bf16 kernels use in
 * place of each weight and input value.
 */
float linear_round_bf16(float x);

/* ---- precision ----------------------------------------------------------- */

/*
 * The towers' GEMM precision a user asks for (`--precision`, the config's
 * `precision`).  The strings are stored in indexes: never change them.
 */
typedef enum { LINEAR_PREC_FP32, LINEAR_PREC_BF16 } linear_precision;

/* "fp32", "bf16". */
const char *linear_precision_name(linear_precision p);
/* 0 and *out for "fp32" or "bf16", else -1. */
int linear_precision_parse(const char *s, linear_precision *out);
/*
 * The kernel that runs precision p's GEMMs here: LINEAR_AUTO for fp32.
 * For bf16, on a CPU with AVX512_BF16, the faster of LINEAR_BF16 and
 * LINEAR_BF16_FMA (timed once per process; they give the same numbers) or
 * the one CLIPGREP_LINEAR_KERNEL names (bf16, bf16fma);
 * CLIPGREP_LINEAR_KERNEL=bf16ref gives LINEAR_BF16_REF on any CPU (tests).
 * LINEAR_AUTO (fp32: the caller says so in one line) when the CPU lacks
 * AVX512_BF16 or CLIPGREP_LINEAR_KERNEL names an fp32 kernel (blas, avx2,
 * avx512), which is how `make check-kernels` tests the fallback on a
 * machine that has it.
 */
linear_kernel linear_precision_kernel(linear_precision p);
/* The precision kernel k computes in (bf16 kernels: LINEAR_PREC_BF16). */
linear_precision linear_kernel_precision(linear_kernel k);

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
