/*
 * scan — block products and bf16 dot products for library scans (see
 * scan.h for the contracts).
 *
 * Panel layout (as core/linear's): probe j sits in panel j / 16, lane
 * j % 16; panel p holds d rows of 16 floats.  A block-product kernel keeps
 * a tile of 8 rows x 32 outputs (AVX-512: two panels; AVX2: 4 rows x 16)
 * in registers and walks k, loading one panel row and broadcasting one
 * a value per row, so the probes stream from L1/L2 once per row tile.
 */
#include "config.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SCAN_X86 1
#include <immintrin.h>
#endif

bool scan_kernel_supported(scan_kernel k)
{
	switch (k) {
	case SCAN_AUTO:
	case SCAN_SCALAR:
		return true;
#ifdef SCAN_X86
	case SCAN_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case SCAN_AVX512:
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#else
	case SCAN_AVX2:
	case SCAN_AVX512:
		return false;
#endif
	}
	return false;
}

/*
 * The best kernel this CPU has, unless CLIPGREP_SCAN_KERNEL names another
 * one it supports (so `make check-kernels` can run the suite on each).
 * Resolved once: a scan calls this per block.
 */
static scan_kernel scan_best(void)
{
	static atomic_int best = SCAN_AUTO;
	const char *forced;
	int known = atomic_load_explicit(&best, memory_order_relaxed);

	if (known != SCAN_AUTO)
		return (scan_kernel)known;
	forced = getenv("CLIPGREP_SCAN_KERNEL");
	scan_kernel k = scan_kernel_supported(SCAN_AVX512) ? SCAN_AVX512 :
	    scan_kernel_supported(SCAN_AVX2) ? SCAN_AVX2 : SCAN_SCALAR;
	if (forced != NULL) {
		if (strcmp(forced, "scalar") == 0)
			k = SCAN_SCALAR;
		else if (strcmp(forced, "avx2") == 0 && scan_kernel_supported(SCAN_AVX2))
			k = SCAN_AVX2;
		else if (strcmp(forced, "avx512") == 0 && scan_kernel_supported(SCAN_AVX512))
			k = SCAN_AVX512;
	}
	/* Threads racing here all compute the same value. */
	atomic_store_explicit(&best, (int)k, memory_order_relaxed);
	return k;
}

scan_kernel scan_kernel_resolve(scan_kernel k)
{
	return k == SCAN_AUTO ? scan_best() : k;
}

const char *scan_kernel_name(scan_kernel k)
{
	switch (scan_kernel_resolve(k)) {
	case SCAN_AVX512:
		return "avx512";
	case SCAN_AVX2:
		return "avx2";
	default:
		return "scalar";
	}
}

size_t scan_panel_floats(int d, int n)
{
	return (size_t)((n + SCAN_PANEL - 1) / SCAN_PANEL) * (size_t)d * SCAN_PANEL;
}

void scan_pack(const float *b, int ldb, int d, int n, float *panels)
{
	int np = (n + SCAN_PANEL - 1) / SCAN_PANEL;

	for (int p = 0; p < np; p++)
		for (int k = 0; k < d; k++) {
			float *dst = panels + ((size_t)p * d + k) * SCAN_PANEL;
			for (int l = 0; l < SCAN_PANEL; l++) {
				int j = p * SCAN_PANEL + l;
				dst[l] = j < n ? b[(size_t)k * ldb + j] : 0.0f;
			}
		}
}

/* --- block product: the reference chain -------------------------------- */

/* One row against lanes [0, cols) of one panel, the fma chain of scan.h. */
static void scan_row_scalar(const float *a, int d, const float *panel, int cols, float *c)
{
	for (int l = 0; l < cols; l++) {
		float acc = 0.0f;
		for (int k = 0; k < d; k++)
			acc = fmaf(a[k], panel[(size_t)k * SCAN_PANEL + l], acc);
		c[l] = acc;
	}
}

static void scan_block_scalar(const float *a, size_t lda, int rows, int d, const float *panels,
    int n, float *c, size_t ldc)
{
	for (int p = 0; p * SCAN_PANEL < n; p++) {
		int cols = n - p * SCAN_PANEL < SCAN_PANEL ? n - p * SCAN_PANEL : SCAN_PANEL;
		for (int r = 0; r < rows; r++)
			scan_row_scalar(a + (size_t)r * lda, d, panels + (size_t)p * d * SCAN_PANEL,
			    cols, c + (size_t)r * ldc + (size_t)p * SCAN_PANEL);
	}
}

#ifdef SCAN_X86
/* --- AVX-512F ------------------------------------------------------------ */

/*
 * Named locals, not an array: gcc keeps an array of accumulators in
 * memory and stores it on every step (see core/linear.c).
 */
#define SCAN_FMA512_2(r) \
	do { \
		__m512 xb = _mm512_set1_ps(a[(size_t)(r) * lda + k]); \
		a##r##0 = _mm512_fmadd_ps(xb, w0, a##r##0); \
		a##r##1 = _mm512_fmadd_ps(xb, w1, a##r##1); \
	} while (0)
#define SCAN_STORE512_2(r) \
	do { \
		_mm512_mask_storeu_ps(c + (size_t)(r) * ldc, m0, a##r##0); \
		_mm512_mask_storeu_ps(c + (size_t)(r) * ldc + 16, m1, a##r##1); \
	} while (0)

/* 8 rows x two panels (p0, p1 [d, 16]); m0, m1 the columns that exist. */
__attribute__((target("avx512f")))
static void scan_tile8x2_avx512(const float *a, size_t lda, int d, const float *p0,
    const float *p1, float *c, size_t ldc, __mmask16 m0, __mmask16 m1)
{
	__m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;

	a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = _mm512_setzero_ps();
	a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = _mm512_setzero_ps();
	for (int k = 0; k < d; k++) {
		__m512 w0 = _mm512_loadu_ps(p0 + (size_t)k * 16);
		__m512 w1 = _mm512_loadu_ps(p1 + (size_t)k * 16);
		SCAN_FMA512_2(0);
		SCAN_FMA512_2(1);
		SCAN_FMA512_2(2);
		SCAN_FMA512_2(3);
		SCAN_FMA512_2(4);
		SCAN_FMA512_2(5);
		SCAN_FMA512_2(6);
		SCAN_FMA512_2(7);
	}
	SCAN_STORE512_2(0);
	SCAN_STORE512_2(1);
	SCAN_STORE512_2(2);
	SCAN_STORE512_2(3);
	SCAN_STORE512_2(4);
	SCAN_STORE512_2(5);
	SCAN_STORE512_2(6);
	SCAN_STORE512_2(7);
}

#define SCAN_FMA512_1(r) \
	do { \
		a##r = _mm512_fmadd_ps(_mm512_set1_ps(a[(size_t)(r) * lda + k]), w0, a##r); \
	} while (0)

/* 8 rows x one panel: the last, odd panel of a probe set. */
__attribute__((target("avx512f")))
static void scan_tile8x1_avx512(const float *a, size_t lda, int d, const float *p0, float *c,
    size_t ldc, __mmask16 m0)
{
	__m512 a0, a1, a2, a3, a4, a5, a6, a7;

	a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm512_setzero_ps();
	for (int k = 0; k < d; k++) {
		__m512 w0 = _mm512_loadu_ps(p0 + (size_t)k * 16);
		SCAN_FMA512_1(0);
		SCAN_FMA512_1(1);
		SCAN_FMA512_1(2);
		SCAN_FMA512_1(3);
		SCAN_FMA512_1(4);
		SCAN_FMA512_1(5);
		SCAN_FMA512_1(6);
		SCAN_FMA512_1(7);
	}
	_mm512_mask_storeu_ps(c, m0, a0);
	_mm512_mask_storeu_ps(c + ldc, m0, a1);
	_mm512_mask_storeu_ps(c + 2 * ldc, m0, a2);
	_mm512_mask_storeu_ps(c + 3 * ldc, m0, a3);
	_mm512_mask_storeu_ps(c + 4 * ldc, m0, a4);
	_mm512_mask_storeu_ps(c + 5 * ldc, m0, a5);
	_mm512_mask_storeu_ps(c + 6 * ldc, m0, a6);
	_mm512_mask_storeu_ps(c + 7 * ldc, m0, a7);
}

/* The first cols (<= 8) lanes of v to c. */
__attribute__((target("avx2")))
static inline void scan_store8(float *c, __m256 v, int cols)
{
	float tmp[8];

	if (cols >= 8) {
		_mm256_storeu_ps(c, v);
		return;
	}
	_mm256_storeu_ps(tmp, v);
	memcpy(c, tmp, sizeof(float) * (size_t)cols);
}

#define SCAN_FMA256_1(r) \
	do { \
		a##r = _mm256_fmadd_ps(_mm256_set1_ps(a[(size_t)(r) * lda + k]), w0, a##r); \
	} while (0)

/*
 * 8 rows x the low 8 lanes of one panel: a last panel with at most 8
 * probes (65 = 4 x 16 + 1 for a trained TC-MGC query) costs half a
 * 16-lane tile.  Same fma chain per output.
 */
__attribute__((target("avx512f,avx2,fma")))
static void scan_tile8x8_avx512(const float *a, size_t lda, int d, const float *p0, float *c,
    size_t ldc, int cols)
{
	__m256 a0, a1, a2, a3, a4, a5, a6, a7;

	a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm256_setzero_ps();
	for (int k = 0; k < d; k++) {
		__m256 w0 = _mm256_loadu_ps(p0 + (size_t)k * 16);
		SCAN_FMA256_1(0);
		SCAN_FMA256_1(1);
		SCAN_FMA256_1(2);
		SCAN_FMA256_1(3);
		SCAN_FMA256_1(4);
		SCAN_FMA256_1(5);
		SCAN_FMA256_1(6);
		SCAN_FMA256_1(7);
	}
	scan_store8(c, a0, cols);
	scan_store8(c + ldc, a1, cols);
	scan_store8(c + 2 * ldc, a2, cols);
	scan_store8(c + 3 * ldc, a3, cols);
	scan_store8(c + 4 * ldc, a4, cols);
	scan_store8(c + 5 * ldc, a5, cols);
	scan_store8(c + 6 * ldc, a6, cols);
	scan_store8(c + 7 * ldc, a7, cols);
}

/* One row x one panel: the rows past the last full tile of 8. */
__attribute__((target("avx512f")))
static void scan_row_avx512(const float *a, int d, const float *p0, float *c, __mmask16 m0)
{
	__m512 acc = _mm512_setzero_ps();

	for (int k = 0; k < d; k++)
		acc = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_loadu_ps(p0 + (size_t)k * 16),
		    acc);
	_mm512_mask_storeu_ps(c, m0, acc);
}

static __mmask16 scan_mask16(int cols)
{
	return cols >= 16 ? (__mmask16)0xffff : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1);
}

__attribute__((target("avx512f")))
static void scan_block_avx512(const float *a, size_t lda, int rows, int d, const float *panels,
    int n, float *c, size_t ldc)
{
	int np = (n + SCAN_PANEL - 1) / SCAN_PANEL;
	size_t pstride = (size_t)d * SCAN_PANEL;
	int r = 0;

	for (; r + 8 <= rows; r += 8) {
		const float *ar = a + (size_t)r * lda;
		float *cr = c + (size_t)r * ldc;
		int p = 0;
		for (; p + 2 <= np; p += 2)
			scan_tile8x2_avx512(ar, lda, d, panels + p * pstride,
			    panels + (p + 1) * pstride, cr + p * SCAN_PANEL, ldc, scan_mask16(n - p * SCAN_PANEL),
			    scan_mask16(n - (p + 1) * SCAN_PANEL));
		if (p < np && n - p * SCAN_PANEL <= 8)
			scan_tile8x8_avx512(ar, lda, d, panels + p * pstride, cr + p * SCAN_PANEL, ldc,
			    n - p * SCAN_PANEL);
		else if (p < np)
			scan_tile8x1_avx512(ar, lda, d, panels + p * pstride, cr + p * SCAN_PANEL, ldc,
			    scan_mask16(n - p * SCAN_PANEL));
	}
	for (; r < rows; r++)
		for (int p = 0; p < np; p++)
			scan_row_avx512(a + (size_t)r * lda, d, panels + p * pstride,
			    c + (size_t)r * ldc + p * SCAN_PANEL, scan_mask16(n - p * SCAN_PANEL));
}

/* --- AVX2 + FMA ------------------------------------------------------------ */

#define SCAN_FMA256(r) \
	do { \
		__m256 xb = _mm256_set1_ps(a[(size_t)(r) * lda + k]); \
		a##r##0 = _mm256_fmadd_ps(xb, w0, a##r##0); \
		a##r##1 = _mm256_fmadd_ps(xb, w1, a##r##1); \
	} while (0)

/* Store 16 lanes (two halves) of a row, only the first cols of them. */
__attribute__((target("avx2,fma")))
static void scan_store256(float *c, __m256 lo, __m256 hi, int cols)
{
	float tmp[16];

	if (cols >= 16) {
		_mm256_storeu_ps(c, lo);
		_mm256_storeu_ps(c + 8, hi);
		return;
	}
	_mm256_storeu_ps(tmp, lo);
	_mm256_storeu_ps(tmp + 8, hi);
	memcpy(c, tmp, sizeof(float) * (size_t)cols);
}

/* 4 rows x one panel (two 8-lane halves). */
__attribute__((target("avx2,fma")))
static void scan_tile4_avx2(const float *a, size_t lda, int d, const float *p0, float *c,
    size_t ldc, int cols)
{
	__m256 a00, a01, a10, a11, a20, a21, a30, a31;

	a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = _mm256_setzero_ps();
	for (int k = 0; k < d; k++) {
		__m256 w0 = _mm256_loadu_ps(p0 + (size_t)k * 16);
		__m256 w1 = _mm256_loadu_ps(p0 + (size_t)k * 16 + 8);
		SCAN_FMA256(0);
		SCAN_FMA256(1);
		SCAN_FMA256(2);
		SCAN_FMA256(3);
	}
	scan_store256(c, a00, a01, cols);
	scan_store256(c + ldc, a10, a11, cols);
	scan_store256(c + 2 * ldc, a20, a21, cols);
	scan_store256(c + 3 * ldc, a30, a31, cols);
}

__attribute__((target("avx2,fma")))
static void scan_row_avx2(const float *a, int d, const float *p0, float *c, int cols)
{
	__m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();

	for (int k = 0; k < d; k++) {
		__m256 xb = _mm256_set1_ps(a[k]);
		lo = _mm256_fmadd_ps(xb, _mm256_loadu_ps(p0 + (size_t)k * 16), lo);
		hi = _mm256_fmadd_ps(xb, _mm256_loadu_ps(p0 + (size_t)k * 16 + 8), hi);
	}
	scan_store256(c, lo, hi, cols);
}

__attribute__((target("avx2,fma")))
static void scan_block_avx2(const float *a, size_t lda, int rows, int d, const float *panels,
    int n, float *c, size_t ldc)
{
	int np = (n + SCAN_PANEL - 1) / SCAN_PANEL;
	size_t pstride = (size_t)d * SCAN_PANEL;

	for (int p = 0; p < np; p++) {
		int cols = n - p * SCAN_PANEL < SCAN_PANEL ? n - p * SCAN_PANEL : SCAN_PANEL;
		int r = 0;
		for (; r + 4 <= rows; r += 4)
			scan_tile4_avx2(a + (size_t)r * lda, lda, d, panels + p * pstride,
			    c + (size_t)r * ldc + p * SCAN_PANEL, ldc, cols);
		for (; r < rows; r++)
			scan_row_avx2(a + (size_t)r * lda, d, panels + p * pstride,
			    c + (size_t)r * ldc + p * SCAN_PANEL, cols);
	}
}
#endif

void scan_block(scan_kernel k, const float *a, size_t lda, int rows, int d,
    const float *panels, int n, float *c, size_t ldc)
{
	switch (scan_kernel_resolve(k)) {
#ifdef SCAN_X86
	case SCAN_AVX512:
		scan_block_avx512(a, lda, rows, d, panels, n, c, ldc);
		return;
	case SCAN_AVX2:
		scan_block_avx2(a, lda, rows, d, panels, n, c, ldc);
		return;
#endif
	default:
		scan_block_scalar(a, lda, rows, d, panels, n, c, ldc);
		return;
	}
}

/* --- bfloat16 ------------------------------------------------------------ */

void scan_to_bf16(const float *x, size_t n, scan_bf16 *out)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], sizeof u);
		if ((u & 0x7fffffffu) > 0x7f800000u) {
			out[i] = (scan_bf16)((u >> 16) | 0x40); /* a quiet NaN of the same sign */
			continue;
		}
		/* Round to nearest, ties to even, on the bit pattern: exact for
		 * normal and subnormal values; overflow lands on infinity. */
		u += 0x7fffu + ((u >> 16) & 1u);
		out[i] = (scan_bf16)(u >> 16);
	}
}

float scan_bf16_to_float(scan_bf16 h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static void scan_dot_bf16_scalar(const float *q, const scan_bf16 *v, size_t stride, int d,
    size_t n, float *out)
{
	for (size_t i = 0; i < n; i++) {
		const scan_bf16 *vi = v + i * stride;
		float acc = 0.0f;
		for (int k = 0; k < d; k++)
			acc = fmaf(q[k], scan_bf16_to_float(vi[k]), acc);
		out[i] = acc;
	}
}

#ifdef SCAN_X86
/* 16 bf16 at p widened exactly to fp32 (a shift into the high half). */
__attribute__((target("avx512f")))
static inline __m512 scan_load16_bf16(const scan_bf16 *p)
{
	__m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx512f")))
static void scan_dot_bf16_avx512(const float *q, const scan_bf16 *v, size_t stride, int d,
    size_t n, float *out)
{
	int d16 = d / 16 * 16;
	size_t i = 0;

	/* Four videos at a time: four independent accumulator chains. */
	for (; i + 4 <= n; i += 4) {
		const scan_bf16 *v0 = v + i * stride, *v1 = v0 + stride, *v2 = v1 + stride,
		    *v3 = v2 + stride;
		__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
		for (int k = 0; k < d16; k += 16) {
			__m512 qk = _mm512_loadu_ps(q + k);
			s0 = _mm512_fmadd_ps(qk, scan_load16_bf16(v0 + k), s0);
			s1 = _mm512_fmadd_ps(qk, scan_load16_bf16(v1 + k), s1);
			s2 = _mm512_fmadd_ps(qk, scan_load16_bf16(v2 + k), s2);
			s3 = _mm512_fmadd_ps(qk, scan_load16_bf16(v3 + k), s3);
		}
		float r0 = _mm512_reduce_add_ps(s0), r1 = _mm512_reduce_add_ps(s1);
		float r2 = _mm512_reduce_add_ps(s2), r3 = _mm512_reduce_add_ps(s3);
		for (int k = d16; k < d; k++) {
			r0 = fmaf(q[k], scan_bf16_to_float(v0[k]), r0);
			r1 = fmaf(q[k], scan_bf16_to_float(v1[k]), r1);
			r2 = fmaf(q[k], scan_bf16_to_float(v2[k]), r2);
			r3 = fmaf(q[k], scan_bf16_to_float(v3[k]), r3);
		}
		out[i] = r0;
		out[i + 1] = r1;
		out[i + 2] = r2;
		out[i + 3] = r3;
	}
	for (; i < n; i++) {
		const scan_bf16 *vi = v + i * stride;
		__m512 s = _mm512_setzero_ps();
		for (int k = 0; k < d16; k += 16)
			s = _mm512_fmadd_ps(_mm512_loadu_ps(q + k), scan_load16_bf16(vi + k), s);
		float r = _mm512_reduce_add_ps(s);
		for (int k = d16; k < d; k++)
			r = fmaf(q[k], scan_bf16_to_float(vi[k]), r);
		out[i] = r;
	}
}

__attribute__((target("avx2,fma")))
static inline __m256 scan_load8_bf16(const scan_bf16 *p)
{
	__m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma")))
static float scan_hsum256(__m256 s)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma")))
static void scan_dot_bf16_avx2(const float *q, const scan_bf16 *v, size_t stride, int d,
    size_t n, float *out)
{
	int d8 = d / 8 * 8;

	for (size_t i = 0; i < n; i++) {
		const scan_bf16 *vi = v + i * stride;
		__m256 s0 = _mm256_setzero_ps(), s1 = s0;
		int k = 0;
		for (; k + 16 <= d8; k += 16) {
			s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), scan_load8_bf16(vi + k), s0);
			s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k + 8), scan_load8_bf16(vi + k + 8),
			    s1);
		}
		for (; k < d8; k += 8)
			s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), scan_load8_bf16(vi + k), s0);
		float r = scan_hsum256(_mm256_add_ps(s0, s1));
		for (; k < d; k++)
			r = fmaf(q[k], scan_bf16_to_float(vi[k]), r);
		out[i] = r;
	}
}
#endif

void scan_dot_bf16(scan_kernel k, const float *q, const scan_bf16 *v, size_t stride, int d,
    size_t n, float *out)
{
	switch (scan_kernel_resolve(k)) {
#ifdef SCAN_X86
	case SCAN_AVX512:
		scan_dot_bf16_avx512(q, v, stride, d, n, out);
		return;
	case SCAN_AVX2:
		scan_dot_bf16_avx2(q, v, stride, d, n, out);
		return;
#endif
	default:
		scan_dot_bf16_scalar(q, v, stride, d, n, out);
		return;
	}
}

/*
 * The bound of scan.h, proved.  Notation: u = 2^-24 (fp32 unit roundoff),
 * γ_n = n u / (1 - n u), ṽ = bf16(v), S = Σ_k |q_k| |v_k| <= |q| |v|
 * (Cauchy-Schwarz).
 *
 * 1. Storage.  bfloat16 keeps 8 significant bits, so rounding to nearest
 *    moves a value in the normal range by at most 2^-8 of itself; below
 *    2^-126 the bf16 spacing is 2^-133 and the move is at most 2^-134.
 *    (A finite v_k can round to infinity only above 3.39e38; the dot is
 *    then not finite and the caller re-scores, see search.c.)  Hence
 *        |Σ q_k ṽ_k - Σ q_k v_k| <= 2^-8 S + d qmax 2^-134.
 * 2. The bf16 dot.  Widening ṽ_k to fp32 is exact; the kernels form
 *    Σ q_k ṽ_k with fused multiply-adds in lanes and add the lanes in a
 *    tree.  Each term passes through at most d roundings, so (Higham,
 *    Accuracy and Stability, §3.1, any order) the computed value is within
 *    γ_d Σ |q_k ṽ_k| <= γ_d ((1 + 2^-8) S + d qmax 2^-134) of the exact
 *    sum, plus d 2^-150 for results that underflow (an fma or addition
 *    with a subnormal result errs by at most half the spacing 2^-149).
 * 3. The fp32 reference.  Any fp32 dot of q and v (the exhaustive scan's,
 *    BLAS's sdot, in whatever order, with or without fma) is within
 *    γ_d S + d 2^-150 of Σ q_k v_k by the same theorem.
 * Adding 1-3:
 *    |bf16 dot - fp32 dot| <= (2^-8 + γ_d (2 + 2^-8)) S
 *                             + d qmax 2^-134 (1 + γ_d) + d 2^-149.
 * The bound is evaluated in double (a few operations, relative error
 * below 2^-49) and then enlarged by 2^-30 of itself, which also covers
 * norms the caller computed in double; S is replaced by |q| |v|.
 */
double scan_bf16_bound(int d, double qnorm, double vnorm, double qmax)
{
	const double u = 0x1p-24;
	double nu = (double)d * u, gamma, b;

	if (!isfinite(qnorm) || !isfinite(vnorm) || !isfinite(qmax) || nu >= 0.5)
		return INFINITY;
	gamma = nu / (1 - nu);
	b = (0x1p-8 + gamma * (2 + 0x1p-8)) * qnorm * vnorm +
	    (double)d * qmax * 0x1p-134 * (1 + gamma) + (double)d * 0x1p-149;
	return b * (1 + 0x1p-30);
}
