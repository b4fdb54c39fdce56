/*
 * scan — the kernels of a library scan: a block product of many videos'
 * rows against a query's probe vectors, and 16-bit (bfloat16) copies of
 * cached vectors with dot products whose error has a proven bound.
 *
 * Block product.  scan_block computes c = a bᵀ for a [rows, d] (the rows
 * of a block of videos, e.g. B videos x F frames) against n probe vectors
 * packed once per query into 16-wide panels (scan_pack).  Every output is
 * the same chain of fused multiply-adds, acc = fma(a[r][k], b[j][k], acc)
 * for k = 0 .. d-1 from acc = 0, whatever the kernel (AVX-512F, AVX2+FMA,
 * or the scalar fallback with fmaf) and wherever the row sits in the
 * block: the kernels agree bit for bit, and a video's products, so its
 * score, never depend on which videos share its block.
 *
 * bf16 copies.  scan_to_bf16 rounds to nearest even; scan_dot_bf16 dots
 * an fp32 query with many bf16 vectors, widening each element exactly to
 * fp32 and accumulating in fp32.  scan_bf16_bound gives the bound
 * (proved in scan.c) on how far such a dot can be from an fp32 dot of the
 * original vectors computed in any order, which is what lets a search
 * rank on the 16-bit copies first and re-score in fp32 only the videos
 * that can still reach the top K.
 *
 * Kernels are chosen at run time by CPU (scan_kernel_best), unless
 * CLIPGREP_SCAN_KERNEL (scalar, avx2, avx512) names one the CPU has.
 */
#ifndef CLIPGREP_SCAN_H
#define CLIPGREP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	SCAN_AUTO,    /* the best this CPU has (or CLIPGREP_SCAN_KERNEL) */
	SCAN_SCALAR,  /* portable C, fmaf */
	SCAN_AVX2,    /* AVX2 + FMA */
	SCAN_AVX512,  /* AVX-512F */
} scan_kernel;

/* Lanes per probe panel. */
#define SCAN_PANEL 16

/* Whether this CPU and build can run kernel k (SCAN_AUTO, SCAN_SCALAR: always). */
bool scan_kernel_supported(scan_kernel k);
/* SCAN_AUTO becomes the kernel to use; any other is returned as it is. */
scan_kernel scan_kernel_resolve(scan_kernel k);
/* "scalar", "avx2", "avx512" (SCAN_AUTO is resolved first). */
const char *scan_kernel_name(scan_kernel k);

/* Floats of the packed form of n probes of width d: ceil(n / 16) * d * 16. */
size_t scan_panel_floats(int d, int n);
/*
 * Pack n probe vectors into panels: probe j, element k comes from
 * b[k * ldb + j] (b [d, ldb], probes as columns, the layout of a GEMM's
 * right operand) and lands at panels[(j / 16) * d * 16 + k * 16 + j % 16];
 * lanes past n are zero.  panels [scan_panel_floats(d, n)], 64-byte
 * aligned (tensor_alloc).
 */
void scan_pack(const float *b, int ldb, int d, int n, float *panels);

/*
 * c[r * ldc + j] = Σ_k a[r * lda + k] · probe_j[k] for r < rows, j < n,
 * with the fma chain described above; columns j >= n of c are not
 * written.  a [rows, lda], panels from scan_pack(., ., d, n, .).
 */
void scan_block(scan_kernel k, const float *a, size_t lda, int rows, int d,
    const float *panels, int n, float *c, size_t ldc);

typedef uint16_t scan_bf16;

/* out[i] = x[i] rounded to the nearest bfloat16 (ties to even; NaN stays NaN). */
void scan_to_bf16(const float *x, size_t n, scan_bf16 *out);
/* The exact fp32 value of a bfloat16. */
float scan_bf16_to_float(scan_bf16 h);

/*
 * out[i] = q · v_i for n vectors v_i = v + i * stride (d bf16 values
 * each), in fp32.  The summation order is the kernel's own (see
 * scan_bf16_bound for what that costs).
 */
void scan_dot_bf16(scan_kernel k, const float *q, const scan_bf16 *v, size_t stride, int d,
    size_t n, float *out);

/*
 * The certificate: for vectors q, v of width d (fp32, finite) and
 * vb = scan_to_bf16(v),
 *     |scan_dot_bf16(q, vb) - fp32 dot of q and v in any order|
 *         <= scan_bf16_bound(d, |q|, |v|, max |q_k|)
 * with |.| the Euclidean norms (upper bounds of them are fine).  +inf
 * when an argument is not finite.  Proof in scan.c.
 */
double scan_bf16_bound(int d, double qnorm, double vnorm, double qmax);

#endif
