/*
 * test-preprocess — core/preprocess against Pillow: decoded video frames
 * resized, centre-cropped, rotated and normalised by the reference
 * pipeline (tools/reference/gen_resize_golden.py wrote tests/golden/resize/).
 *
 * Tolerance: the C code replicates Pillow's fixed-point arithmetic, so the
 * expected difference is 0; a case passes at max |diff| <= 1 of 255 (room
 * for a coefficient that rounds the other way under another libm), and
 * the count of differing values is reported.  Normalised floats: 1e-6.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"
#include "tap.h"
#include "video.h"

#define TOLERANCE 1

static char golden_dir[4096];

static uint8_t *load(const char *name, int *w, int *h)
{
	char path[4400], *cause = NULL;
	uint8_t *rgb;

	snprintf(path, sizeof path, "%s/%s", golden_dir, name);
	rgb = video_read_image(path, w, h, &cause);
	if (rgb == NULL) {
		tap_diag("%s", cause != NULL ? cause : path);
		free(cause);
	}
	return rgb;
}

/* max |a - b| over n bytes; *differ counts the values that are not equal. */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t n, size_t *differ)
{
	int m = 0;

	*differ = 0;
	for (size_t i = 0; i < n; i++) {
		int d = abs((int)a[i] - (int)b[i]);
		if (d > m)
			m = d;
		if (d)
			(*differ)++;
	}
	return m;
}

/* Pillow's Image.transpose methods as view orientations. */
static int orientation(const char *op, int *swap, int *fx, int *fy)
{
	*swap = *fx = *fy = 0;
	if (strcmp(op, "ROTATE_90") == 0) /* counter-clockwise */
		*swap = 1, *fy = 1;
	else if (strcmp(op, "ROTATE_270") == 0) /* clockwise */
		*swap = 1, *fx = 1;
	else if (strcmp(op, "ROTATE_180") == 0)
		*fx = 1, *fy = 1;
	else if (strcmp(op, "TRANSPOSE") == 0)
		*swap = 1;
	else if (strcmp(op, "FLIP_LEFT_RIGHT") == 0)
		*fx = 1;
	else
		return -1;
	return 0;
}

static void run_case(char *line)
{
	char op[16], input[256], a1[64], a2[64], a3[256], a4[256];
	int n = sscanf(line, "%15s %255s %63s %63s %255s %255s", op, input, a1, a2, a3, a4);
	int w, h, ew, eh, S;
	uint8_t *src, *want = NULL, *got = NULL;
	char *cause = NULL;
	const char *expect_name;
	preprocess_view v;

	if (n < 4)
		return;
	src = load(input, &w, &h);
	if (src == NULL) {
		tap_ok(0, "load %s", input);
		return;
	}
	v = preprocess_view_rgb(src, w, h, (size_t)w * 3);
	if (strcmp(op, "clip") == 0 || strcmp(op, "orient") == 0 || strcmp(op, "norm") == 0) {
		int swap = 0, fx = 0, fy = 0;
		if (strcmp(op, "orient") == 0) {
			if (n < 5 || orientation(a1, &swap, &fx, &fy) == -1) {
				tap_ok(0, "unknown case: %s", line);
				goto out;
			}
			v = preprocess_view_oriented(src, w, h, (size_t)w * 3, swap, fx, fy);
			S = atoi(a2);
			expect_name = a3;
		} else {
			S = atoi(a1);
			expect_name = a2;
		}
		got = malloc((size_t)S * S * 3);
		if (preprocess_clip_rgb(&v, v.width, v.height, S, got, &cause) == -1) {
			tap_ok(0, "%s: %s", line, cause);
			goto out;
		}
		if (strcmp(op, "norm") == 0) {
			char path[4400];
			size_t count = (size_t)3 * S * S;
			float *want_f = malloc(count * sizeof *want_f), *got_f = malloc(count * sizeof *got_f);
			FILE *fp;
			double maxd = 0;

			snprintf(path, sizeof path, "%s/%s", golden_dir, expect_name);
			fp = fopen(path, "rb");
			if (fp == NULL || fread(want_f, sizeof *want_f, count, fp) != count) {
				tap_ok(0, "read %s", path);
			} else {
				preprocess_normalize(got, (size_t)S * S, got_f);
				for (size_t i = 0; i < count; i++)
					maxd = fmax(maxd, fabs((double)got_f[i] - want_f[i]));
				tap_ok(maxd <= 1e-6, "CLIP normalisation of %s clip %d: max |diff| %.3g <= 1e-6",
				    input, S, maxd);
			}
			if (fp != NULL)
				fclose(fp);
			free(want_f);
			free(got_f);
			goto out;
		}
		ew = eh = S;
	} else if (strcmp(op, "resize") == 0 && n >= 5) {
		ew = atoi(a1);
		eh = atoi(a2);
		expect_name = a3;
		got = malloc((size_t)ew * eh * 3);
		if (preprocess_resample(&v, ew, eh, 0, 0, ew, eh, got, &cause) == -1) {
			tap_ok(0, "%s: %s", line, cause);
			goto out;
		}
	} else {
		tap_ok(0, "unknown case: %s", line);
		goto out;
	}
	{
		int gw, gh;
		size_t differ;
		int d;

		want = load(expect_name, &gw, &gh);
		if (want == NULL || gw != ew || gh != eh) {
			tap_ok(0, "%s: golden %s is %dx%d, expected %dx%d", op, expect_name, gw, gh, ew, eh);
			goto out;
		}
		d = max_diff(got, want, (size_t)ew * eh * 3, &differ);
		tap_ok(d <= TOLERANCE, "%s %s -> %s (%dx%d): max |diff| %d <= %d, %zu of %d values differ",
		    op, input, expect_name, ew, eh, d, TOLERANCE, differ, ew * eh * 3);
	}
out:
	free(cause);
	free(src);
	free(want);
	free(got);
}

static void test_geometry(void)
{
	int w, h;

	preprocess_resize_dims(1920, 1080, 224, &w, &h, NULL);
	tap_ok(w == 398 && h == 224, "1920x1080 -> %dx%d (torchvision: 398x224)", w, h);
	preprocess_resize_dims(406, 720, 224, &w, &h, NULL);
	tap_ok(w == 224 && h == 397, "406x720 portrait -> %dx%d (int(224*720/406) = 397)", w, h);
	preprocess_resize_dims(640, 480, 224, &w, &h, NULL);
	tap_ok(w == 298 && h == 224, "640x480 -> %dx%d", w, h);
	preprocess_resize_dims(100, 100, 224, &w, &h, NULL);
	tap_ok(w == 224 && h == 224, "square upscale -> %dx%d", w, h);
}

/* The centre crop rounds half to even, as Python's round() does. */
static void test_crop_rounding(void)
{
	/* 299x224 after resizing: (299 - 224) / 2 = 37.5 -> 38; 297: 36.5 -> 36. */
	static const int widths[] = { 299, 297 }, lefts[] = { 38, 36 };

	for (int c = 0; c < 2; c++) {
		int W = widths[c], H = 224;
		uint8_t *img = malloc((size_t)W * H * 3), out[224 * 224 * 3];
		preprocess_view v = preprocess_view_rgb(img, W, H, (size_t)W * 3);
		int ok = 1;

		/* Column index in the red channel: the crop's first column shows its offset. */
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
				img[((size_t)y * W + x) * 3] = (uint8_t)x, img[((size_t)y * W + x) * 3 + 1] = 0,
				                                          img[((size_t)y * W + x) * 3 + 2] = 0;
		ok = preprocess_clip_rgb(&v, W, H, 224, out, NULL) == 0;
		tap_ok(ok && out[0] == lefts[c], "width %d: crop starts at column %d (got %d)", W,
		    lefts[c], out[0]);
		free(img);
	}
}

/*
 * Extreme display sizes (a 4096x2 clip with a 500000:1 sample aspect is
 * shown 2048000000x2): the long side used to leave int's range, the double
 * to int conversion was undefined and the crop's subtraction overflowed.
 * The resize must stay in [S, PREPROCESS_MAX_SIDE] with the crop inside it.
 */
static void test_extreme_dims(void)
{
	static const int cases[][2] = { { 2048000000, 2 }, { 2, 2048000000 }, { 1, INT_MAX },
		{ INT_MAX, 1 }, { INT_MAX, INT_MAX }, { 1, 1000000 }, { 7, 1 }, { 1, 1 } };
	static const int bad[][3] = { { 0, 10, 32 }, { 10, 0, 32 }, { -5, 10, 32 },
		{ 10, INT_MIN, 32 }, { INT_MIN, INT_MIN, 32 }, { 10, 10, 0 }, { 10, 10, -1 },
		{ 10, 10, INT_MAX } };
	uint8_t px[4 * 2 * 3] = { 0 }, out[32 * 32 * 3];
	preprocess_view v = preprocess_view_rgb(px, 4, 2, 4 * 3);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int W = cases[i][0], H = cases[i][1], w = 0, h = 0, left, top, rc;
		char *cause = NULL;

		rc = preprocess_resize_dims(W, H, 32, &w, &h, &cause);
		tap_ok(rc == 0, "%dx%d to 32 is accepted (%s)", W, H, cause ? cause : "ok");
		free(cause);
		cause = NULL;
		left = (int)nearbyint(((double)w - 32) / 2.0);
		top = (int)nearbyint(((double)h - 32) / 2.0);
		tap_ok(w >= 32 && h >= 32 && w <= PREPROCESS_MAX_SIDE && h <= PREPROCESS_MAX_SIDE &&
		        (w == 32 || h == 32) && left >= 0 && left + 32 <= w && top >= 0 && top + 32 <= h,
		    "%dx%d -> %dx%d, crop at %d,%d: inside [32, %d]", W, H, w, h, left, top,
		    PREPROCESS_MAX_SIDE);
		rc = preprocess_clip_rgb(&v, W, H, 32, out, &cause);
		tap_ok(rc == 0, "a 4x2 image shown %dx%d is cropped to 32x32 (%s)", W, H,
		    cause ? cause : "ok");
		free(cause);
	}
	/* No sensible answer: a clean error, not garbage or UB. */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int w = -1, h = -1, rc;
		char *cause = NULL;

		rc = preprocess_resize_dims(bad[i][0], bad[i][1], bad[i][2], &w, &h, &cause);
		tap_ok(rc == -1 && cause != NULL && w == 0 && h == 0,
		    "%dx%d to %d is refused (%s)", bad[i][0], bad[i][1], bad[i][2],
		    cause ? cause : "accepted");
		free(cause);
	}
}

static void test_bad_sizes(void)
{
	uint8_t px[3] = { 1, 2, 3 }, out[4 * 4 * 3];
	preprocess_view v = preprocess_view_rgb(px, 1, 1, 3);
	char *cause = NULL;
	int rc = preprocess_resample(&v, 4, 4, 2, 2, 4, 4, out, &cause);

	tap_ok(rc == -1 && cause != NULL, "a window outside the output is refused (%s)",
	    cause ? cause : "");
	free(cause);
	tap_ok(preprocess_clip_rgb(&v, 1, 1, 4, out, NULL) == 0 && out[0] == 1 && out[1] == 2,
	    "a 1x1 image upscales to a flat 4x4");
}

/*
 * The AVX2 passes (where the CPU has AVX2) give the portable passes' bytes
 * exactly: random and 0/255 checkerboard images (the cubic's negative lobes
 * at their largest, so the clipping is exercised), down- and upscales,
 * windows, one-pixel images.  Sources are allocated to their last byte, so
 * a SIMD over-read past a row's end shows under ASan.
 */
static void test_simd_matches_portable(void)
{
	static const int cases[][8] = {
		/* src w, h, out w, h, window x0, y0, w, h */
		{ 1280, 720, 398, 224, 87, 0, 224, 224 },
		{ 1920, 1080, 398, 224, 87, 0, 224, 224 },
		{ 406, 720, 224, 397, 0, 86, 224, 224 },
		{ 640, 480, 298, 224, 0, 0, 298, 224 },
		{ 100, 100, 224, 224, 0, 0, 224, 224 },
		{ 7, 5, 3, 2, 0, 0, 3, 2 },
		{ 1, 1, 4, 4, 0, 0, 4, 4 },
		{ 3, 300, 2, 17, 1, 3, 1, 11 },
		{ 301, 2, 13, 1, 0, 0, 13, 1 },
		{ 33, 33, 32, 32, 5, 7, 20, 9 },
		{ 192, 108, 192, 108, 0, 0, 192, 108 },
		{ 250, 140, 250, 70, 10, 0, 200, 70 },
	};
	uint32_t seed = 12345;
	int avx2 = 0;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	avx2 = __builtin_cpu_supports("avx2");
#endif
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const int *k = cases[c];
		size_t bytes = (size_t)k[0] * k[1] * 3, out = (size_t)k[6] * k[7] * 3;
		for (int pattern = 0; pattern < 2; pattern++) {
			uint8_t *img = malloc(bytes), *fast = malloc(out), *slow = malloc(out);
			size_t differ = 0;
			int rc_fast, rc_slow, m;

			for (size_t i = 0; img != NULL && i < bytes; i++) {
				seed = seed * 1664525u + 1013904223u;
				img[i] = pattern == 0 ? (uint8_t)(seed >> 24)
				                      : (((i / 3) % (size_t)k[0] + (i / 3) / (size_t)k[0]) & 1) * 255;
			}
			preprocess_view v = preprocess_view_rgb(img, k[0], k[1], (size_t)k[0] * 3);
			preprocess_set_portable(0);
			rc_fast = img && fast ? preprocess_resample(&v, k[2], k[3], k[4], k[5], k[6], k[7],
			    fast, NULL) : -1;
			preprocess_set_portable(1);
			rc_slow = img && slow ? preprocess_resample(&v, k[2], k[3], k[4], k[5], k[6], k[7],
			    slow, NULL) : -1;
			preprocess_set_portable(0);
			m = rc_fast == 0 && rc_slow == 0 ? max_diff(fast, slow, out, &differ) : -1;
			tap_ok(m == 0, "%dx%d -> %dx%d window %dx%d+%d+%d, %s: %s gives the portable "
			    "bytes (max diff %d, %zu differ)", k[0], k[1], k[2], k[3], k[6], k[7], k[4],
			    k[5], pattern == 0 ? "random" : "checkerboard", avx2 ? "AVX2" : "this CPU",
			    m, differ);
			free(img);
			free(fast);
			free(slow);
		}
	}
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char path[4400], line[1024];
	FILE *fp;

	snprintf(golden_dir, sizeof golden_dir, "%s/tests/golden/resize", top ? top : ".");
	test_geometry();
	test_crop_rounding();
	test_bad_sizes();
	test_extreme_dims();
	test_simd_matches_portable();
	snprintf(path, sizeof path, "%s/manifest.txt", golden_dir);
	fp = fopen(path, "r");
	if (!tap_ok(fp != NULL, "open %s", path))
		return tap_done();
	while (fgets(line, sizeof line, fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '#' && line[0] != '\0')
			run_case(line);
	}
	fclose(fp);
	return tap_done();
}
