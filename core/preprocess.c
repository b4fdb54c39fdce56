/*
 * preprocess — Pillow-exact bicubic resize, centre crop and CLIP
 * normalisation (see preprocess.h for the contract).
 *
 * The resampler follows Pillow's src/libImaging/Resample.c (Pillow 9-11,
 * unchanged in substance since Pillow 4.3): for each output coordinate xx
 * the filter is centred on in0 + (xx + 0.5) * scale in input coordinates;
 * when downscaling (scale > 1) the kernel is stretched by scale, which is
 * what makes the resize antialiased; the taps are normalised to sum 1,
 * rounded to PRECISION_BITS fixed point, and every pass rounds and clips
 * to uint8.  Replicating those steps, not just the filter, is what makes
 * the output equal Pillow's to the last bit.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"
#include "util.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PREPROCESS_X86 1
#endif

const float preprocess_clip_mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
const float preprocess_clip_std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

/* 8 bits of result, 2 bits of headroom for the kernel's negative lobes. */
#define PRECISION_BITS (32 - 8 - 2)

/* Pillow's bicubic_filter: Keys' cubic convolution with a = -0.5. */
static double preprocess_cubic(double x)
{
	const double a = -0.5;

	if (x < 0.0)
		x = -x;
	if (x < 1.0)
		return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
	if (x < 2.0)
		return (((x - 5) * x + 8) * x - 4) * a;
	return 0.0;
}

/*
 * One axis's taps for output coordinates [first, first + count) of a resize
 * from in_size to out_size: bounds [count, 2] (first input index, number of
 * taps) and kk [count, ksize] fixed-point weights.  Pillow's
 * precompute_coeffs + normalize_coeffs_8bpc, windowed.  Returns ksize, or 0
 * on allocation failure.
 */
static int preprocess_coeffs(int in_size, int out_size, int first, int count, int **boundsp,
    int32_t **kkp)
{
	/* Pillow computes the box extent in float and the scale in double. */
	double scale = (double)((float)in_size - 0.0f) / out_size;
	double filterscale = scale < 1.0 ? 1.0 : scale;
	double support = 2.0 * filterscale; /* bicubic support is 2 */
	int ksize = (int)ceil(support) * 2 + 1;
	double *w = malloc((size_t)ksize * sizeof *w);
	int *bounds = malloc((size_t)count * 2 * sizeof *bounds);
	int32_t *kk = calloc((size_t)count * (size_t)ksize, sizeof *kk);

	if (w == NULL || bounds == NULL || kk == NULL) {
		free(w);
		free(bounds);
		free(kk);
		return 0;
	}
	for (int i = 0; i < count; i++) {
		int xx = first + i;
		double center = 0.0 + (xx + 0.5) * scale;
		double ww = 0.0, ss = 1.0 / filterscale;
		int xmin = (int)(center - support + 0.5);
		int xmax = (int)(center + support + 0.5);

		if (xmin < 0)
			xmin = 0;
		if (xmax > in_size)
			xmax = in_size;
		xmax -= xmin;
		for (int x = 0; x < xmax; x++) {
			w[x] = preprocess_cubic((x + xmin - center + 0.5) * ss);
			ww += w[x];
		}
		for (int x = 0; x < xmax; x++) {
			double k = ww != 0.0 ? w[x] / ww : w[x];
			kk[(size_t)i * ksize + x] = k < 0 ? (int32_t)(-0.5 + k * (1 << PRECISION_BITS))
			                                 : (int32_t)(0.5 + k * (1 << PRECISION_BITS));
		}
		bounds[i * 2] = xmin;
		bounds[i * 2 + 1] = xmax;
	}
	free(w);
	*boundsp = bounds;
	*kkp = kk;
	return ksize;
}

/* Pillow's clip8: the accumulator back to a byte, clipped. */
static inline uint8_t preprocess_clip8(int32_t ss)
{
	if (ss < 0)
		return 0;
	ss >>= PRECISION_BITS;
	return ss > 255 ? 255 : (uint8_t)ss;
}

preprocess_view preprocess_view_rgb(const uint8_t *rgb, int width, int height, size_t stride)
{
	preprocess_view v = { rgb, 3, (ptrdiff_t)stride, width, height };
	return v;
}

preprocess_view preprocess_view_oriented(const uint8_t *rgb, int width, int height,
    size_t stride, int swap, int flip_x, int flip_y)
{
	preprocess_view v;
	/* The stored axes: x (3 bytes a step, width long), y (stride, height). */
	ptrdiff_t ax_step = 3, ay_step = (ptrdiff_t)stride;
	int ax_len = width, ay_len = height;

	v.origin = rgb;
	if (swap) {
		v.xstep = ay_step, v.width = ay_len;
		v.ystep = ax_step, v.height = ax_len;
	} else {
		v.xstep = ax_step, v.width = ax_len;
		v.ystep = ay_step, v.height = ay_len;
	}
	if (flip_x) {
		v.origin += (ptrdiff_t)(v.width - 1) * v.xstep;
		v.xstep = -v.xstep;
	}
	if (flip_y) {
		v.origin += (ptrdiff_t)(v.height - 1) * v.ystep;
		v.ystep = -v.ystep;
	}
	return v;
}

int preprocess_display_size(int width, int height, int sar_num, int sar_den, int max_side,
    int *dw, int *dh)
{
	double a = sar_num > 0 && sar_den > 0 ? (double)sar_num / sar_den : 1.0;
	double sw = width, sh = height; /* in double: width * a may be far past INT_MAX */
	int absurd = 0;

	if (a > 1.0)
		sw = width * a;
	else if (a < 1.0)
		sh = height / a;
	if (a > PREPROCESS_MAX_SAR || a < 1.0 / PREPROCESS_MAX_SAR ||
	    (a != 1.0 && (sw > max_side || sh > max_side))) {
		sw = width, sh = height;
		absurd = 1;
	}
	*dw = sw < 1 ? 1 : (int)lrint(sw);
	*dh = sh < 1 ? 1 : (int)lrint(sh);
	return absurd;
}

int preprocess_resize_dims(int width, int height, int size, int *out_width, int *out_height,
    char **cause)
{
	int shorter = width <= height ? width : height;
	int longer = width <= height ? height : width;
	double new_long;

	*out_width = *out_height = 0;
	if (shorter <= 0 || size <= 0 || size > PREPROCESS_MAX_SIDE) {
		util_set_cause(cause, "preprocess_resize_dims: bad sizes (%dx%d to %d)", width, height,
		    size);
		return -1;
	}
	/*
	 * Python: int(size * long / short), a correctly rounded true division;
	 * size * long < 2^51 is exact in a double.  The cap comes before the
	 * conversion so that no out-of-range double ever becomes an int.
	 */
	new_long = (double)((int64_t)size * longer) / (double)shorter;
	if (new_long > PREPROCESS_MAX_SIDE)
		new_long = PREPROCESS_MAX_SIDE;
	if (width <= height)
		*out_width = size, *out_height = (int)new_long;
	else
		*out_width = (int)new_long, *out_height = size;
	return 0;
}

/* One output pixel of the horizontal pass from taps k over p (xstep apart). */
static inline void preprocess_taps(const uint8_t *p, ptrdiff_t xstep, const int32_t *k, int n,
    uint8_t *o)
{
	int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;

	for (int x = 0; x < n; x++, p += xstep) {
		s0 += p[0] * k[x];
		s1 += p[1] * k[x];
		s2 += p[2] * k[x];
	}
	o[0] = preprocess_clip8(s0);
	o[1] = preprocess_clip8(s1);
	o[2] = preprocess_clip8(s2);
}

/*
 * The horizontal pass over rows [row0, row0 + rows) of the source.  Upright
 * images take two rows at a time: the taps are loaded once for both.
 */
static void preprocess_horizontal(const preprocess_view *src, int row0, int rows, int dst_width,
    int ksize, const int *bounds, const int32_t *kk, uint8_t *out)
{
	int y = 0;

	if (src->xstep == 3) {
		for (; y + 1 < rows; y += 2) {
			const uint8_t *l0 = src->origin + (ptrdiff_t)(row0 + y) * src->ystep;
			const uint8_t *l1 = l0 + src->ystep;
			uint8_t *o0 = out + (size_t)y * dst_width * 3, *o1 = o0 + (size_t)dst_width * 3;

			for (int xx = 0; xx < dst_width; xx++) {
				int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
				const int32_t *k = kk + (size_t)xx * ksize;
				const uint8_t *p = l0 + (ptrdiff_t)xmin * 3, *q = l1 + (ptrdiff_t)xmin * 3;
				int32_t a0 = 1 << (PRECISION_BITS - 1), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;

				for (int x = 0; x < xmax; x++, p += 3, q += 3) {
					int32_t kx = k[x];
					a0 += p[0] * kx;
					a1 += p[1] * kx;
					a2 += p[2] * kx;
					b0 += q[0] * kx;
					b1 += q[1] * kx;
					b2 += q[2] * kx;
				}
				o0[xx * 3] = preprocess_clip8(a0);
				o0[xx * 3 + 1] = preprocess_clip8(a1);
				o0[xx * 3 + 2] = preprocess_clip8(a2);
				o1[xx * 3] = preprocess_clip8(b0);
				o1[xx * 3 + 1] = preprocess_clip8(b1);
				o1[xx * 3 + 2] = preprocess_clip8(b2);
			}
		}
	}
	for (; y < rows; y++) {
		const uint8_t *line = src->origin + (ptrdiff_t)(row0 + y) * src->ystep;
		uint8_t *o = out + (size_t)y * dst_width * 3;

		for (int xx = 0; xx < dst_width; xx++)
			preprocess_taps(line + (ptrdiff_t)bounds[xx * 2] * src->xstep, src->xstep,
			    kk + (size_t)xx * ksize, bounds[xx * 2 + 1], o + xx * 3);
	}
}

/* The vertical pass: tmp [rows, line] -> dst [dst_height, line].  0, or -1 without memory. */
static int preprocess_vertical(const uint8_t *tmp, size_t line, int dst_height, int kv,
    const int *vb, const int32_t *vk, uint8_t *dst)
{
	int32_t *acc = malloc(line * sizeof *acc);

	if (acc == NULL)
		return -1;
	for (int yy = 0; yy < dst_height; yy++) {
		int ymin = vb[yy * 2], ymax = vb[yy * 2 + 1];
		const int32_t *k = vk + (size_t)yy * kv;
		uint8_t *o = dst + (size_t)yy * line;

		/* Row by row so the inner loop runs over contiguous bytes. */
		for (size_t i = 0; i < line; i++)
			acc[i] = 1 << (PRECISION_BITS - 1);
		for (int y = 0; y < ymax; y++) {
			const uint8_t *p = tmp + (size_t)(ymin + y) * line;
			int32_t ky = k[y];
			for (size_t i = 0; i < line; i++)
				acc[i] += p[i] * ky;
		}
		for (size_t i = 0; i < line; i++)
			o[i] = preprocess_clip8(acc[i]);
	}
	free(acc);
	return 0;
}

static int preprocess_portable_only;

void preprocess_set_portable(int on)
{
	preprocess_portable_only = on != 0;
}

#ifdef PREPROCESS_X86
/*
 * The same integer sums with AVX2 (bit for bit: integer additions in any
 * order give the same total, and no partial sum can overflow: each is at
 * most 255 times the sum of the taps' magnitudes, below 2^31).
 *
 * Horizontal: an output pixel's taps two at a time.  Eight source bytes at
 * tap x are R G B of x and R G B of x + 1 (and two more), widened to eight
 * 32-bit lanes and multiplied by [k_x k_x k_x k_x+1 k_x+1 k_x+1 0 0]; lanes
 * 0-2 and 3-5 are added at the end.  An output whose last pair would read
 * past the end of its source row takes the scalar taps instead.
 */
__attribute__((target("avx2")))
static int preprocess_horizontal_avx2(const preprocess_view *src, int row0, int rows,
    int dst_width, int ksize, const int *bounds, const int32_t *kk, uint8_t *out)
{
	int pairs = (ksize + 1) / 2;
	size_t row_bytes = (size_t)src->width * 3;
	int32_t *ek = aligned_alloc(32, (size_t)dst_width * pairs * 8 * sizeof *ek);
	const __m256i fold = _mm256_setr_epi32(3, 4, 5, 6, 7, 7, 7, 7);

	if (ek == NULL)
		return -1;
	for (int xx = 0; xx < dst_width; xx++)
		for (int g = 0; g < pairs; g++) {
			const int32_t *k = kk + (size_t)xx * ksize;
			int32_t a = k[2 * g], b = 2 * g + 1 < ksize ? k[2 * g + 1] : 0;
			int32_t *e = ek + ((size_t)xx * pairs + g) * 8;
			e[0] = e[1] = e[2] = a;
			e[3] = e[4] = e[5] = b;
			e[6] = e[7] = 0;
		}
	for (int y = 0; y < rows; y++) {
		const uint8_t *line = src->origin + (ptrdiff_t)(row0 + y) * src->ystep;
		uint8_t *o = out + (size_t)y * dst_width * 3;

		for (int xx = 0; xx < dst_width; xx++) {
			int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], n = (xmax + 1) / 2;
			const uint8_t *p = line + (size_t)xmin * 3;
			const __m256i *e = (const __m256i *)(const void *)(ek + (size_t)xx * pairs * 8);
			__m256i acc = _mm256_setzero_si256();

			if ((size_t)(xmin + 2 * n) * 3 + 2 > row_bytes) {
				preprocess_taps(p, 3, kk + (size_t)xx * ksize, xmax, o + xx * 3);
				continue;
			}
			for (int g = 0; g < n; g++, p += 6) {
				__m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
				acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_load_si256(e + g)));
			}
			acc = _mm256_add_epi32(acc, _mm256_permutevar8x32_epi32(acc, fold));
			__m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc),
			    _mm_set1_epi32(1 << (PRECISION_BITS - 1)));
			o[xx * 3] = preprocess_clip8(_mm_cvtsi128_si32(sum));
			o[xx * 3 + 1] = preprocess_clip8(_mm_extract_epi32(sum, 1));
			o[xx * 3 + 2] = preprocess_clip8(_mm_extract_epi32(sum, 2));
		}
	}
	free(ek);
	return 0;
}

/* Vertical: eight bytes of a row at a time, all the taps summed in a register. */
__attribute__((target("avx2")))
static void preprocess_vertical_avx2(const uint8_t *tmp, size_t line, int dst_height, int kv,
    const int *vb, const int32_t *vk, uint8_t *dst)
{
	for (int yy = 0; yy < dst_height; yy++) {
		const int32_t *k = vk + (size_t)yy * kv;
		const uint8_t *p = tmp + (size_t)vb[yy * 2] * line;
		int taps = vb[yy * 2 + 1];
		uint8_t *o = dst + (size_t)yy * line;
		size_t i = 0;

		for (; i + 8 <= line; i += 8) {
			__m256i acc = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
			for (int y = 0; y < taps; y++) {
				__m256i px = _mm256_cvtepu8_epi32(
				    _mm_loadl_epi64((const __m128i *)(const void *)(p + (size_t)y * line + i)));
				acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_set1_epi32(k[y])));
			}
			/* clip8: negative sums to 0 (the unsigned pack), large ones to 255. */
			acc = _mm256_srai_epi32(acc, PRECISION_BITS);
			__m128i w = _mm_packs_epi32(_mm256_castsi256_si128(acc),
			    _mm256_extracti128_si256(acc, 1));
			_mm_storel_epi64((__m128i *)(void *)(o + i), _mm_packus_epi16(w, w));
		}
		for (; i < line; i++) {
			int32_t acc = 1 << (PRECISION_BITS - 1);
			for (int y = 0; y < taps; y++)
				acc += p[(size_t)y * line + i] * k[y];
			o[i] = preprocess_clip8(acc);
		}
	}
}

static int preprocess_avx2(void)
{
	return !preprocess_portable_only && __builtin_cpu_supports("avx2");
}
#endif

/* Each pass with AVX2 where it runs (upright views only, horizontally), else in C. */
static void preprocess_horizontal_pass(const preprocess_view *src, int row0, int rows,
    int dst_width, int ksize, const int *bounds, const int32_t *kk, uint8_t *out)
{
#ifdef PREPROCESS_X86
	if (src->xstep == 3 && preprocess_avx2() &&
	    preprocess_horizontal_avx2(src, row0, rows, dst_width, ksize, bounds, kk, out) == 0)
		return;
#endif
	preprocess_horizontal(src, row0, rows, dst_width, ksize, bounds, kk, out);
}

static int preprocess_vertical_pass(const uint8_t *tmp, size_t line, int dst_height, int kv,
    const int *vb, const int32_t *vk, uint8_t *dst)
{
#ifdef PREPROCESS_X86
	if (preprocess_avx2()) {
		preprocess_vertical_avx2(tmp, line, dst_height, kv, vb, vk, dst);
		return 0;
	}
#endif
	return preprocess_vertical(tmp, line, dst_height, kv, vb, vk, dst);
}

int preprocess_resample(const preprocess_view *src, int out_width, int out_height, int x0,
    int y0, int dst_width, int dst_height, uint8_t *dst, char **cause)
{
	int need_h = out_width != src->width, need_v = out_height != src->height;
	int *hb = NULL, *vb = NULL, kh = 0, kv = 0;
	int32_t *hk = NULL, *vk = NULL;
	uint8_t *tmp = NULL;
	int row0, rows, rc = -1;

	if (src->width <= 0 || src->height <= 0 || out_width <= 0 || out_height <= 0 ||
	    src->width > PREPROCESS_MAX_SIDE || src->height > PREPROCESS_MAX_SIDE ||
	    out_width > PREPROCESS_MAX_SIDE || out_height > PREPROCESS_MAX_SIDE || x0 < 0 ||
	    y0 < 0 || dst_width <= 0 || dst_height <= 0 || x0 + dst_width > out_width ||
	    y0 + dst_height > out_height) {
		util_set_cause(cause, "preprocess_resample: bad sizes (%dx%d to %dx%d, window %dx%d+%d+%d)",
		    src->width, src->height, out_width, out_height, dst_width, dst_height, x0, y0);
		return -1;
	}
	/* The source rows the vertical pass reads (all of them when it is skipped). */
	if (need_v) {
		kv = preprocess_coeffs(src->height, out_height, y0, dst_height, &vb, &vk);
		if (kv == 0)
			goto nomem;
		row0 = vb[0];
		rows = vb[(dst_height - 1) * 2] + vb[(dst_height - 1) * 2 + 1] - row0;
		for (int i = 0; i < dst_height; i++)
			vb[i * 2] -= row0;
	} else {
		row0 = y0;
		rows = dst_height;
	}

	/* Horizontal pass into tmp [rows, dst_width, 3] (or straight to dst). */
	tmp = need_v ? malloc((size_t)rows * dst_width * 3) : dst;
	if (tmp == NULL)
		goto nomem;
	if (need_h) {
		kh = preprocess_coeffs(src->width, out_width, x0, dst_width, &hb, &hk);
		if (kh == 0)
			goto nomem;
		preprocess_horizontal_pass(src, row0, rows, dst_width, kh, hb, hk, tmp);
	} else {
		for (int y = 0; y < rows; y++) {
			const uint8_t *line = src->origin + (ptrdiff_t)(row0 + y) * src->ystep;
			uint8_t *o = tmp + (size_t)y * dst_width * 3;
			for (int x = 0; x < dst_width; x++) {
				const uint8_t *p = line + (ptrdiff_t)(x0 + x) * src->xstep;
				o[x * 3] = p[0], o[x * 3 + 1] = p[1], o[x * 3 + 2] = p[2];
			}
		}
	}

	/* Vertical pass: tmp -> dst. */
	if (need_v &&
	    preprocess_vertical_pass(tmp, (size_t)dst_width * 3, dst_height, kv, vb, vk, dst) != 0)
		goto nomem;
	rc = 0;
	goto out;
nomem:
	util_set_cause(cause, "preprocess_resample: out of memory");
out:
	if (tmp != dst)
		free(tmp);
	free(hb);
	free(hk);
	free(vb);
	free(vk);
	return rc;
}

int preprocess_clip_rgb(const preprocess_view *src, int display_width, int display_height,
    int size, uint8_t *dst, char **cause)
{
	int ow, oh, left, top;

	if (display_width <= 0 || display_height <= 0 || size <= 0) {
		util_set_cause(cause, "preprocess_clip_rgb: bad sizes (%dx%d to %d)", display_width,
		    display_height, size);
		return -1;
	}
	if (preprocess_resize_dims(display_width, display_height, size, &ow, &oh, cause) == -1)
		return -1;
	/* torchvision CenterCrop: int(round((h - S) / 2.0)), round half to even. */
	left = (int)nearbyint((ow - size) / 2.0);
	top = (int)nearbyint((oh - size) / 2.0);
	return preprocess_resample(src, ow, oh, left, top, size, size, dst, cause);
}

void preprocess_normalize(const uint8_t *rgb, size_t pixels, float *out)
{
	float lut[3][256];

	/* ToTensor divides by 255 in float; Normalize subtracts, then divides. */
	for (int c = 0; c < 3; c++)
		for (int v = 0; v < 256; v++)
			lut[c][v] = ((float)v / 255.0f - preprocess_clip_mean[c]) / preprocess_clip_std[c];
	for (size_t i = 0; i < pixels; i++) {
		out[i] = lut[0][rgb[i * 3]];
		out[pixels + i] = lut[1][rgb[i * 3 + 1]];
		out[2 * pixels + i] = lut[2][rgb[i * 3 + 2]];
	}
}
