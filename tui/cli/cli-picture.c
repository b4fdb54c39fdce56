/*
 * cli-picture — pictures inline in the command line's output.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-picture.h"
#include "image.h"
#include "tty.h"
#include "util.h"

int cli_picture_parse(const char *s, int *out)
{
	static const char *const names[] = { "none", "blocks", "sixel", "kitty" };

	if (strcmp(s, "auto") == 0) {
		*out = -1;
		return 0;
	}
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

void cli_picture_detect(int want, int probe, cli_picture_mode fallback, cli_picture_caps *caps)
{
	tty_caps tc;
	int fd = -1, opened = 0, asked = 0;

	memset(caps, 0, sizeof *caps);
	caps->cell_width = TTY_CELL_WIDTH;
	caps->cell_height = TTY_CELL_HEIGHT;
	caps->mode = want >= 0 ? (cli_picture_mode)want : fallback;
	if (!probe)
		return;
	if (isatty(STDIN_FILENO))
		fd = STDIN_FILENO;
	else if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) >= 0)
		opened = 1;
	/* The probe also learns the cell size, which forced sixel needs too. */
	if (fd >= 0 && tty_probe(fd, 400, &tc) == 0) {
		asked = 1;
		caps->cell_width = tc.cell_width;
		caps->cell_height = tc.cell_height;
		caps->colour_registers = tc.color_registers;
	}
	if (opened)
		close(fd);
	if (want < 0 && asked)
		caps->mode = tc.kitty ? CLI_PICTURE_KITTY : tc.sixel ? CLI_PICTURE_SIXEL : CLI_PICTURE_BLOCKS;
}

/* The xterm 256-colour cube (16 + 36r + 6g + b) or grey ramp nearest to p. */
static int cli_picture_256(const uint8_t *p)
{
	int r = p[0], g = p[1], b = p[2];

	if (r == g && g == b) {
		if (r < 8)
			return 16;
		if (r > 238)
			return 231;
		return 232 + (r - 8) / 10;
	}
	return 16 + 36 * ((r * 5 + 127) / 255) + 6 * ((g * 5 + 127) / 255) + (b * 5 + 127) / 255;
}

static void cli_picture_sgr(FILE *out, int fg, const uint8_t *p, int truecolour)
{
	if (truecolour)
		fprintf(out, "\033[%d;2;%d;%d;%dm", fg ? 38 : 48, p[0], p[1], p[2]);
	else
		fprintf(out, "\033[%d;5;%dm", fg ? 38 : 48, cli_picture_256(p));
}

int cli_picture_write(FILE *out, const cli_picture_caps *caps, const uint8_t *rgb, int w, int h,
    int cols, int rows, char **cause)
{
	const char *ct = getenv("COLORTERM");
	int truecolour = ct != NULL && (strcmp(ct, "truecolor") == 0 || strcmp(ct, "24bit") == 0);
	int pixels = caps->mode == CLI_PICTURE_SIXEL || caps->mode == CLI_PICTURE_KITTY;
	int cw = pixels ? caps->cell_width : 1;
	int ch = pixels ? caps->cell_height : 2;
	int dw, dh;
	uint8_t *px;

	if (caps->mode == CLI_PICTURE_NONE || w <= 0 || h <= 0 || cols <= 0)
		return 0;
	/* Fit: as wide as the columns allow, then as high as the rows allow. */
	dw = cols * cw;
	dh = (int)((double)dw * h / w + 0.5);
	if (rows > 0 && dh > rows * ch) {
		dh = rows * ch;
		dw = (int)((double)dh * w / h + 0.5);
	}
	if (dw < 1)
		dw = 1;
	if (dh < 1)
		dh = 1;
	if (caps->mode == CLI_PICTURE_BLOCKS && dh % 2 != 0)
		dh++; /* whole cells; the last row repeats the picture's edge */
	if ((px = malloc((size_t)dw * (size_t)dh * 3)) == NULL) {
		util_set_cause(cause, "out of memory for a %dx%d picture", dw, dh);
		return -1;
	}
	image_scale(rgb, w, h, px, dw, dh);
	if (caps->mode == CLI_PICTURE_KITTY) {
		size_t len;
		char *k = image_kitty_encode(px, dw, dh, 0, &len, cause);
		free(px);
		if (k == NULL)
			return -1;
		fwrite(k, 1, len, out);
		free(k);
		fputc('\n', out);
		return 0;
	}
	if (caps->mode == CLI_PICTURE_SIXEL) {
		size_t len;
		char *six = image_sixel_encode(px, dw, dh,
		    caps->colour_registers > 0 ? caps->colour_registers : 256, &len, cause);
		free(px);
		if (six == NULL)
			return -1;
		fwrite(six, 1, len, out);
		free(six);
		fputc('\n', out);
		return 0;
	}
	for (int y = 0; y < dh; y += 2) {
		for (int x = 0; x < dw; x++) {
			cli_picture_sgr(out, 1, px + ((size_t)y * dw + x) * 3, truecolour);
			cli_picture_sgr(out, 0, px + ((size_t)(y + 1) * dw + x) * 3, truecolour);
			fputs("\342\226\200", out);
		}
		fputs("\033[0m\n", out);
	}
	free(px);
	return 0;
}
