/*
 * linear — few-row products against a repacked weight.
 *
 * Panel layout: output o sits in panel o / 16, lane o % 16; panel p holds
 * in rows of 16 floats, W[16p + lane][k] at p · in · 16 + k · 16 + lane,
 * zero for lanes past out.  A kernel keeps a tile of rows × 32 (AVX-512:
 * 8 rows, two panels) or rows × 16 (AVX2: 6 rows, one panel) outputs in
 * registers and walks k, loading one panel row and broadcasting one x
 * value per row: the weight streams through once per row tile, the x tile
 * stays in L1.  Threads take disjoint ranges of panels.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linear.h"
#include "parallel.h"
#include "tensor.h"
#include "util.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LINEAR_X86 1
#include <immintrin.h>
#endif

#define LINEAR_PANEL 16

struct linear {
	linear_kernel kernel;
	int out, in, panels;
	const float *w; /* [out, in], the caller's (BLAS kernel) */
	float *packed;  /* [panels, in, 16], owned (SIMD kernels) */
};

bool linear_kernel_supported(linear_kernel k)
{
	switch (k) {
	case LINEAR_AUTO:
	case LINEAR_BLAS:
		return true;
#ifdef LINEAR_X86
	case LINEAR_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case LINEAR_AVX512:
		return __builtin_cpu_supports("avx512f");
#else
	case LINEAR_AVX2:
	case LINEAR_AVX512:
		return false;
#endif
	}
	return false;
}

/*
 * The best kernel this CPU has, unless CLIPGREP_LINEAR_KERNEL (blas, avx2,
 * avx512) names another one the CPU supports: `make check-kernels` runs the
 * whole suite on every path that way, so each kernel and its fallback are
 * tested on one machine.
 */
static linear_kernel linear_best(void)
{
	const char *forced = getenv("CLIPGREP_LINEAR_KERNEL");

	if (forced != NULL) {
		if (strcmp(forced, "blas") == 0)
			return LINEAR_BLAS;
		if (strcmp(forced, "avx2") == 0 && linear_kernel_supported(LINEAR_AVX2))
			return LINEAR_AVX2;
		if (strcmp(forced, "avx512") == 0 && linear_kernel_supported(LINEAR_AVX512))
			return LINEAR_AVX512;
	}
	if (linear_kernel_supported(LINEAR_AVX512))
		return LINEAR_AVX512;
	if (linear_kernel_supported(LINEAR_AVX2))
		return LINEAR_AVX2;
	return LINEAR_BLAS;
}

linear_kernel linear_kernel_resolve(linear_kernel k)
{
	return k == LINEAR_AUTO ? linear_best() : k;
}

const char *linear_kernel_name(linear_kernel k)
{
	k = linear_kernel_resolve(k);
	switch (k) {
	case LINEAR_AVX512:
		return "avx512";
	case LINEAR_AVX2:
		return "avx2";
	default:
		return "blas";
	}
}

linear *linear_new(const float *w, int out, int in, linear_kernel k, char **cause)
{
	linear *l;

	if (out <= 0 || in <= 0 || w == NULL) {
		util_set_cause(cause, "linear_new: bad shape [%d,%d]", out, in);
		return NULL;
	}
	if (k == LINEAR_AUTO)
		k = linear_best();
	if (!linear_kernel_supported(k)) {
		util_set_cause(cause, "linear_new: this CPU cannot run the %s kernel",
		    linear_kernel_name(k));
		return NULL;
	}
	if ((l = calloc(1, sizeof *l)) == NULL) {
		util_set_cause(cause, "linear_new: out of memory");
		return NULL;
	}
	l->kernel = k;
	l->out = out;
	l->in = in;
	l->w = w;
	l->panels = (out + LINEAR_PANEL - 1) / LINEAR_PANEL;
	if (k == LINEAR_BLAS)
		return l;

	size_t n = (size_t)l->panels * in * LINEAR_PANEL;
	if ((l->packed = tensor_zalloc(n)) == NULL) {
		util_set_cause(cause, "linear_new: out of memory for a [%d,%d] weight", out, in);
		free(l);
		return NULL;
	}
	for (int o = 0; o < out; o++) {
		float *panel = l->packed + (size_t)(o / LINEAR_PANEL) * in * LINEAR_PANEL + o % LINEAR_PANEL;
		const float *row = w + (size_t)o * in;
		for (int k2 = 0; k2 < in; k2++)
			panel[(size_t)k2 * LINEAR_PANEL] = row[k2];
	}
	return l;
}

void linear_free(linear *l)
{
	if (l == NULL)
		return;
	tensor_free(l->packed);
	free(l);
}

linear_kernel linear_get_kernel(const linear *l)
{
	return l->kernel;
}

size_t linear_bytes(const linear *l)
{
	return l->packed != NULL ? sizeof(float) * (size_t)l->panels * l->in * LINEAR_PANEL : 0;
}

/*
 * Write a tile's sums: y[r][0..cols) (+)= acc[r][0..cols) + bias, for the
 * columns that exist (cols <= 32).
 *   acc [rows, 32]
 */
static void linear_store(float *y, int ldy, const float *acc, int rows, int cols,
    const float *bias, bool accumulate)
{
	for (int r = 0; r < rows; r++) {
		float *yr = y + (size_t)r * ldy;
		const float *ar = acc + r * 32;
		for (int c = 0; c < cols; c++) {
			float v = ar[c] + (bias != NULL ? bias[c] : 0.0f);
			yr[c] = accumulate ? yr[c] + v : v;
		}
	}
}

#ifdef LINEAR_X86
/*
 * The full tiles keep their sums in named locals, not in an array shared
 * with the partial-tile loop: gcc otherwise keeps the array in memory and
 * stores every accumulator on every step.
 */
#define LINEAR_FMA512(r) \
	do { \
		__m512 xb = _mm512_set1_ps(x[(size_t)(r) * ldx + k]); \
		a##r##0 = _mm512_fmadd_ps(xb, w0, a##r##0); \
		a##r##1 = _mm512_fmadd_ps(xb, w1, a##r##1); \
	} while (0)
#define LINEAR_STORE512(r) \
	do { \
		_mm512_storeu_ps(acc + (r) * 32, a##r##0); \
		_mm512_storeu_ps(acc + (r) * 32 + 16, a##r##1); \
	} while (0)

/*
 * acc[r][0..32) = Σ_k x[r][k] · (panel p0 | panel p1)[k] for 8 rows.
 *   x [8, in] with row stride ldx; p0, p1 [in, 16]; acc [8, 32]
 */
__attribute__((target("avx512f")))
static void linear_tile8_avx512(const float *x, int ldx, const float *p0, const float *p1,
    int in, float *acc)
{
	__m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;

	a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = _mm512_setzero_ps();
	a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = _mm512_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m512 w0 = _mm512_load_ps(p0 + (size_t)k * 16);
		__m512 w1 = _mm512_load_ps(p1 + (size_t)k * 16);
		LINEAR_FMA512(0);
		LINEAR_FMA512(1);
		LINEAR_FMA512(2);
		LINEAR_FMA512(3);
		LINEAR_FMA512(4);
		LINEAR_FMA512(5);
		LINEAR_FMA512(6);
		LINEAR_FMA512(7);
	}
	LINEAR_STORE512(0);
	LINEAR_STORE512(1);
	LINEAR_STORE512(2);
	LINEAR_STORE512(3);
	LINEAR_STORE512(4);
	LINEAR_STORE512(5);
	LINEAR_STORE512(6);
	LINEAR_STORE512(7);
}

/* linear_store for AVX-512: masked 16-lane halves instead of a scalar loop. */
__attribute__((target("avx512f")))
static void linear_store_avx512(float *y, int ldy, const float *acc, int rows, int cols,
    const float *bias, bool accumulate)
{
	for (int h = 0; h < 2 && h * 16 < cols; h++) {
		int n = cols - h * 16 < 16 ? cols - h * 16 : 16;
		__mmask16 m = (__mmask16)((1u << n) - 1);
		__m512 b = bias != NULL ? _mm512_maskz_loadu_ps(m, bias + h * 16) : _mm512_setzero_ps();
		for (int r = 0; r < rows; r++) {
			float *yr = y + (size_t)r * ldy + h * 16;
			__m512 v = _mm512_add_ps(_mm512_loadu_ps(acc + r * 32 + h * 16), b);
			if (accumulate)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yr));
			_mm512_mask_storeu_ps(yr, m, v);
		}
	}
}

/* The same for rows < 8 (the last tile). */
__attribute__((target("avx512f")))
static void linear_tile_avx512(const float *x, int ldx, int rows, const float *p0,
    const float *p1, int in, float *acc)
{
	__m512 a[8][2];

	if (rows == 8) {
		linear_tile8_avx512(x, ldx, p0, p1, in, acc);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm512_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m512 w0 = _mm512_load_ps(p0 + (size_t)k * 16);
		__m512 w1 = _mm512_load_ps(p1 + (size_t)k * 16);
		for (int r = 0; r < rows; r++) {
			__m512 xb = _mm512_set1_ps(x[(size_t)r * ldx + k]);
			a[r][0] = _mm512_fmadd_ps(xb, w0, a[r][0]);
			a[r][1] = _mm512_fmadd_ps(xb, w1, a[r][1]);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm512_storeu_ps(acc + r * 32, a[r][0]);
		_mm512_storeu_ps(acc + r * 32 + 16, a[r][1]);
	}
}

#define LINEAR_FMA256(r) \
	do { \
		__m256 xb = _mm256_broadcast_ss(x + (size_t)(r) * ldx + k); \
		a##r##0 = _mm256_fmadd_ps(xb, w0, a##r##0); \
		a##r##1 = _mm256_fmadd_ps(xb, w1, a##r##1); \
	} while (0)
#define LINEAR_STORE256(r) \
	do { \
		_mm256_storeu_ps(acc + (r) * 32, a##r##0); \
		_mm256_storeu_ps(acc + (r) * 32 + 8, a##r##1); \
	} while (0)

/*
 * acc[r][0..16) = Σ_k x[r][k] · panel[k] for 6 rows.
 *   x [6, in] with row stride ldx; panel [in, 16]; acc [6, 32]
 */
__attribute__((target("avx2,fma")))
static void linear_tile6_avx2(const float *x, int ldx, const float *panel, int in, float *acc)
{
	__m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;

	a00 = a01 = a10 = a11 = a20 = a21 = _mm256_setzero_ps();
	a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m256 w0 = _mm256_load_ps(panel + (size_t)k * 16);
		__m256 w1 = _mm256_load_ps(panel + (size_t)k * 16 + 8);
		LINEAR_FMA256(0);
		LINEAR_FMA256(1);
		LINEAR_FMA256(2);
		LINEAR_FMA256(3);
		LINEAR_FMA256(4);
		LINEAR_FMA256(5);
	}
	LINEAR_STORE256(0);
	LINEAR_STORE256(1);
	LINEAR_STORE256(2);
	LINEAR_STORE256(3);
	LINEAR_STORE256(4);
	LINEAR_STORE256(5);
}

/* acc[r][0..16) = Σ_k x[r][k] · panel[k], r < rows <= 6. */
__attribute__((target("avx2,fma")))
static void linear_tile_avx2(const float *x, int ldx, int rows, const float *panel, int in,
    float *acc)
{
	__m256 a[6][2];

	if (rows == 6) {
		linear_tile6_avx2(x, ldx, panel, in, acc);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm256_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m256 w0 = _mm256_load_ps(panel + (size_t)k * 16);
		__m256 w1 = _mm256_load_ps(panel + (size_t)k * 16 + 8);
		for (int r = 0; r < rows; r++) {
			__m256 xb = _mm256_broadcast_ss(x + (size_t)r * ldx + k);
			a[r][0] = _mm256_fmadd_ps(xb, w0, a[r][0]);
			a[r][1] = _mm256_fmadd_ps(xb, w1, a[r][1]);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm256_storeu_ps(acc + r * 32, a[r][0]);
		_mm256_storeu_ps(acc + r * 32 + 8, a[r][1]);
	}
}
#endif

typedef struct {
	const linear *l;
	float *y;
	const float *x, *bias;
	int rows;
	bool accumulate;
} linear_job;

/*
 * One part: a range of column groups (AVX-512: panel pairs, AVX2: single
 * panels), every row tile of each.
 */
static void linear_part(void *ctx, int part, int parts)
{
	const linear_job *j = ctx;
	const linear *l = j->l;
	int per = l->kernel == LINEAR_AVX512 ? 2 : 1; /* panels per group */
	int tile = l->kernel == LINEAR_AVX512 ? 8 : 6; /* rows per tile */
	int groups = (l->panels + per - 1) / per;
	int g0 = (int)((int64_t)groups * part / parts), g1 = (int)((int64_t)groups * (part + 1) / parts);
	float acc[8 * 32];

	for (int g = g0; g < g1; g++) {
		int p = g * per, col = p * LINEAR_PANEL;
		int cols = l->out - col < per * LINEAR_PANEL ? l->out - col : per * LINEAR_PANEL;
		const float *p0 = l->packed + (size_t)p * l->in * LINEAR_PANEL;
		/* An odd last panel pairs with itself; its second half is dropped. */
		const float *p1 = p + 1 < l->panels ? p0 + (size_t)l->in * LINEAR_PANEL : p0;

		for (int r = 0; r < j->rows; r += tile) {
			int nr = j->rows - r < tile ? j->rows - r : tile;
			const float *x = j->x + (size_t)r * l->in;
#ifdef LINEAR_X86
			if (l->kernel == LINEAR_AVX512)
				linear_tile_avx512(x, l->in, nr, p0, p1, l->in, acc);
			else
				linear_tile_avx2(x, l->in, nr, p0, l->in, acc);
#else
			(void)x;
			(void)p1;
#endif
#ifdef LINEAR_X86
			if (l->kernel == LINEAR_AVX512) {
				linear_store_avx512(j->y + (size_t)r * l->out + col, l->out, acc, nr, cols,
				    j->bias != NULL ? j->bias + col : NULL, j->accumulate);
				continue;
			}
#endif
			linear_store(j->y + (size_t)r * l->out + col, l->out, acc, nr, cols,
			    j->bias != NULL ? j->bias + col : NULL, j->accumulate);
		}
	}
}

void linear_forward(const linear *l, float *y, const float *x, const float *bias, int rows,
    bool accumulate)
{
	if (rows <= 0)
		return;
	if (l->kernel == LINEAR_BLAS) {
		if (!accumulate) {
			tensor_linear(y, x, l->w, bias, rows, l->in, l->out);
			return;
		}
		if (bias != NULL)
			for (int r = 0; r < rows; r++)
				for (int o = 0; o < l->out; o++)
					y[(size_t)r * l->out + o] += bias[o];
		tensor_gemm(false, true, rows, l->out, l->in, 1, x, l->in, l->w, l->in, 1, y, l->out);
		return;
	}
	linear_job j = { l, y, x, bias, rows, accumulate };
	int per = l->kernel == LINEAR_AVX512 ? 2 : 1;
	/* A thread is worth it above about a quarter million multiply-adds. */
	parallel_run(linear_part, &j, (size_t)rows * l->out * l->in, (size_t)1 << 18,
	    (l->panels + per - 1) / per);
}
