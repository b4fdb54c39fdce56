/*
 * fuzz-image — libFuzzer target for the picture code in tui/screen/image.c:
 * image_scale, image_sixel_encode, image_fit_cells and the sixel path of
 * image_place (curses is never started: with no stdscr its blanking is a
 * no-op, and the placement still sizes and encodes the picture).  The
 * first 16 input bytes give picture sizes, target sizes, cell sizes, cells
 * and the palette; the rest are the pixels (repeated to fill).  Sizes are
 * capped so that one input stays well under a millisecond.
 *
 * Asserted: a fit never covers more cells than offered nor fewer than one
 * each way (none in mode none), the scale writes only its destination,
 * and the encoder's sequence is a DCS ... ST of the length it says, or a
 * refusal with a cause.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pixels sides for scaling and encoding. */
#define FUZZ_MAX_SIDE 48

static int fuzz_byte(const uint8_t *data, size_t size, size_t i)
{
	return i < size ? data[i] : 0;
}

static void fuzz_fit(image_reg *r, int iw, int ih, int rows, int cols)
{
	int ur = -1, uc = -1;

	image_fit_cells(r, iw, ih, rows, cols, &ur, &uc);
	if (image_reg_mode(r) == IMAGE_NONE || iw <= 0 || ih <= 0 || rows <= 0 || cols <= 0) {
		if (ur != 0 || uc != 0)
			abort();
	} else if (ur < 1 || uc < 1 || ur > rows || uc > cols)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sw = 1 + fuzz_byte(data, size, 0) % FUZZ_MAX_SIDE;
	int sh = 1 + fuzz_byte(data, size, 1) % FUZZ_MAX_SIDE;
	int dw = 1 + fuzz_byte(data, size, 2) % FUZZ_MAX_SIDE;
	int dh = 1 + fuzz_byte(data, size, 3) % FUZZ_MAX_SIDE;
	int cw = fuzz_byte(data, size, 4) % 17, ch = fuzz_byte(data, size, 5) % 33;
	int rows = fuzz_byte(data, size, 6) % 7, cols = fuzz_byte(data, size, 7) % 7;
	int colours = fuzz_byte(data, size, 8) | fuzz_byte(data, size, 9) << 8;
	/* Layout-only sizes: any 16-bit picture, any cells (no pixels made). */
	int bw = fuzz_byte(data, size, 10) | fuzz_byte(data, size, 11) << 8;
	int bh = fuzz_byte(data, size, 12) | fuzz_byte(data, size, 13) << 8;
	int brows = fuzz_byte(data, size, 14) * 4, bcols = fuzz_byte(data, size, 15) * 4;
	size_t npx = (size_t)sw * sh * 3, dpx = (size_t)dw * dh * 3, len = 0;
	uint8_t *src = malloc(npx), *dst = malloc(dpx + 16);
	const uint8_t *pixels = size > 16 ? data + 16 : NULL;
	size_t npixels = size > 16 ? size - 16 : 0;
	char *six, *cause = NULL;
	image_reg *r;
	int ur, uc;

	if (src == NULL || dst == NULL)
		abort();
	for (size_t i = 0; i < npx; i++)
		src[i] = pixels != NULL ? pixels[i % npixels] : (uint8_t)i;
	memset(dst + dpx, 0xa5, 16);
	image_scale(src, sw, sh, dst, dw, dh);
	for (int i = 0; i < 16; i++)
		if (dst[dpx + i] != 0xa5)
			abort();

	/*
	 * The registry clamps palettes to 2..256 (image_reg_new); outside that
	 * sixel_dither_new fails and leaks its allocator inside libsixel.
	 */
	six = image_sixel_encode(dst, dw, dh, 2 + colours % 255, &len, &cause);
	if (six == NULL) {
		if (cause == NULL)
			abort();
	} else if (len < 4 || strlen(six) != len || six[0] != '\033' || six[1] != 'P' ||
	    six[len - 2] != '\033' || six[len - 1] != '\\')
		abort();
	free(six);
	free(cause);

	for (image_mode m = IMAGE_NONE; m <= IMAGE_SIXEL; m++) {
		r = image_reg_new(m, -1, 1, colours);
		if (r == NULL)
			abort();
		image_reg_set_cell_size(r, cw, ch);
		fuzz_fit(r, sw, sh, rows, cols);
		fuzz_fit(r, bw, bh, brows, bcols);
		fuzz_fit(r, bw - 32768, bh, brows - 512, bcols);
		if (m == IMAGE_SIXEL) {
			image_frame_begin(r);
			image_place(r, 1, src, sw, sh, 0, 0, rows, cols, &ur, &uc);
			if (ur > rows || uc > cols)
				abort();
		}
		image_reg_free(r);
	}
	free(src);
	free(dst);
	return 0;
}
