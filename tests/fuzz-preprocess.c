/*
 * fuzz-preprocess — libFuzzer target for core/preprocess.c: a frame of
 * input-given size, orientation and sample aspect ratio (SAR) is turned
 * into CLIP's S x S input as core/video.c does it (preprocess_display_size
 * from the SAR, rotated, then preprocess_clip_rgb and
 * preprocess_normalize), and a window of the full resize is computed with
 * preprocess_resample.  Frame and S are capped small; the SAR and the
 * window are not.  The first 12 bytes are the sizes, the rest the pixels
 * (repeated to fill).
 *
 * Asserted: a refusal carries a cause; an accepted resize writes only its
 * S x S output; normalised values are finite; resize_dims keeps the short
 * side at S.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_SIDE 40
#define FUZZ_MAX_S 24
/* Display sizes past this count as absurd (video.c uses 32768). */
#define FUZZ_MAX_DISPLAY 4096

static int fuzz_byte(const uint8_t *data, size_t size, size_t i)
{
	return i < size ? data[i] : 0;
}

static void fuzz_check_guard(const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < 16; i++)
		if (buf[n + i] != 0x5a)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int w = 1 + fuzz_byte(data, size, 0) % FUZZ_MAX_SIDE;
	int h = 1 + fuzz_byte(data, size, 1) % FUZZ_MAX_SIDE;
	int s = 1 + fuzz_byte(data, size, 2) % FUZZ_MAX_S;
	int orient = fuzz_byte(data, size, 3);
	int num = fuzz_byte(data, size, 4) | fuzz_byte(data, size, 5) << 8;
	int den = fuzz_byte(data, size, 6) | fuzz_byte(data, size, 7) << 8;
	int wx = fuzz_byte(data, size, 8), wy = fuzz_byte(data, size, 9);
	int ww = 1 + fuzz_byte(data, size, 10) % FUZZ_MAX_S;
	int wh = 1 + fuzz_byte(data, size, 11) % FUZZ_MAX_S;
	int swap = orient & 1, stride_pad = (orient >> 3) & 7;
	size_t stride = (size_t)w * 3 + (size_t)stride_pad, npx = stride * (size_t)h;
	size_t nout = (size_t)s * s * 3, nwin = (size_t)ww * wh * 3;
	const uint8_t *pixels = size > 12 ? data + 12 : NULL;
	size_t npixels = size > 12 ? size - 12 : 0;
	uint8_t *rgb = malloc(npx), *out = malloc(nout + 16), *win = malloc(nwin + 16);
	float *norm = malloc((size_t)s * s * 3 * sizeof *norm);
	preprocess_view v;
	char *cause = NULL;
	int dw, dh, ow, oh;

	if (rgb == NULL || out == NULL || win == NULL || norm == NULL)
		abort();
	for (size_t i = 0; i < npx; i++)
		rgb[i] = pixels != NULL ? pixels[i % npixels] : (uint8_t)(i * 7);
	memset(out + nout, 0x5a, 16);
	memset(win + nwin, 0x5a, 16);
	v = preprocess_view_oriented(rgb, w, h, stride, swap, (orient >> 1) & 1, (orient >> 2) & 1);
	if (v.width != (swap ? h : w) || v.height != (swap ? w : h))
		abort();
	/* The SAR applies to the stored picture; the view is already upright. */
	preprocess_display_size(w, h, num, den, FUZZ_MAX_DISPLAY, &dw, &dh);
	if (dw < 1 || dh < 1 || dw > FUZZ_MAX_DISPLAY || dh > FUZZ_MAX_DISPLAY)
		abort();
	if (swap) {
		int t = dw;
		dw = dh;
		dh = t;
	}
	if (preprocess_resize_dims(dw, dh, s, &ow, &oh, &cause) == -1 ||
	    (dw <= dh ? ow : oh) != s)
		abort();
	if (preprocess_clip_rgb(&v, dw, dh, s, out, &cause) == -1) {
		if (cause == NULL)
			abort();
		free(cause);
		cause = NULL;
	} else {
		fuzz_check_guard(out, nout);
		preprocess_normalize(out, (size_t)s * s, norm);
		for (size_t i = 0; i < (size_t)s * s * 3; i++)
			if (!isfinite(norm[i]))
				abort();
	}

	if (preprocess_resample(&v, ow, oh, wx, wy, ww, wh, win, &cause) == -1) {
		if (cause == NULL)
			abort();
		free(cause);
	} else
		fuzz_check_guard(win, nwin);
	free(rgb);
	free(out);
	free(win);
	free(norm);
	return 0;
}
