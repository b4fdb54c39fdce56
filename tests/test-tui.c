/*
 * test-tui — unit tests of the interactive screen's pieces that need no
 * terminal: parsing the terminal's replies (DA1, XTSMGRAPHICS, cell size),
 * file names made safe to show, picture scaling, sixel encoding and the
 * layout fit.  The screen itself is tested through tmux (tui-screen.sh)
 * and a pseudo-terminal (tui-sixel.sh).
 */
#include "config.h"

#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "image.h"
#include "tap.h"
#include "tty.h"
#include "tui.h"

static void test_replies(void)
{
	tty_caps c;
	static const char sixel[] = "\033[?62;4;6;22c";
	static const char plain[] = "\033[?1;2c";
	static const char all[] = "\033[?1;0;1024S\033[6;18;9t\033[?64;1;2;4;6c";

	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(sixel, sizeof sixel - 1, &c) == 1 && c.sixel && c.answered,
	    "DA1 with attribute 4: sixel");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(plain, sizeof plain - 1, &c) == 1 && !c.sixel,
	    "DA1 without attribute 4 (tmux's ?1;2): no sixel");
	memset(&c, 0, sizeof c);
	/* The class (62, 64) is the first parameter: "?4;..." would be a class, not sixel. */
	tap_ok(tty_parse_replies("\033[?4;2c", 7, &c) == 1 && !c.sixel,
	    "the terminal class is not an attribute");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(all, sizeof all - 1, &c) == 1 && c.sixel &&
	    c.color_registers == 1024 && c.cell_width == 9 && c.cell_height == 18 && c.cell_size_known,
	    "XTSMGRAPHICS and the cell size are read before DA1");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(all, 20, &c) == 0 && !c.answered,
	    "a reply cut short is not a DA1 answer");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies("xyz\033[?62;44c", 12, &c) == 1 && !c.sixel,
	    "attribute 44 is not 4");
}

static void test_safe_text(void)
{
	int w;
	wchar_t *s;

	s = screen_safe_text("evil\033[31mname.mp4", &w);
	tap_ok(s != NULL && wcscmp(s, L"evil\\x1b[31mname.mp4") == 0 && w == 20,
	    "ESC is shown as \\x1b (width %d)", w);
	free(s);
	s = screen_safe_text("a\nb\tc\x7f", &w);
	tap_ok(s != NULL && wcscmp(s, L"a\\x0ab\\x09c\\x7f") == 0, "newline, tab, DEL escaped");
	free(s);
	if (setlocale(LC_ALL, "C.UTF-8") == NULL && setlocale(LC_ALL, "en_US.UTF-8") == NULL) {
		tap_skip("no UTF-8 locale");
		tap_skip("no UTF-8 locale");
		tap_skip("no UTF-8 locale");
		tap_skip("no UTF-8 locale");
	} else {
		s = screen_safe_text("caf\xc3\xa9 \xe6\x97\xa5", &w);
		tap_ok(s != NULL && wcscmp(s, L"caf\u00e9 \u65e5") == 0 && w == 7,
		    "UTF-8 passes, a wide character counts 2 (width %d)", w);
		free(s);
		s = screen_safe_text("bad\xff\xc3", &w);
		tap_ok(s != NULL && wcscmp(s, L"bad\\xff\\xc3") == 0, "invalid bytes escaped");
		free(s);
		s = screen_safe_text("x\xe2\x80\xaey", &w); /* U+202E RIGHT-TO-LEFT OVERRIDE */
		tap_ok(s != NULL && wcscmp(s, L"x\\u{202e}y") == 0, "a bidi override is escaped");
		free(s);
		s = screen_safe_text("\xc2\x9b" "31m", &w); /* U+009B, the C1 CSI */
		tap_ok(s != NULL && wcscmp(s, L"\\xc2\\x9b31m") == 0, "a C1 control is escaped");
		free(s);
		setlocale(LC_ALL, "C");
	}
	s = screen_safe_text("caf\xc3\xa9", &w);
	tap_ok(s != NULL && wcscmp(s, L"caf\\xc3\\xa9") == 0,
	    "the C locale: bytes above ASCII escaped");
	free(s);
}

static void test_time(void)
{
	char b[32];

	screen_format_time(75.9, b, sizeof b);
	tap_ok(strcmp(b, "1:15") == 0, "75.9 s is 1:15 (%s)", b);
	screen_format_time(3725, b, sizeof b);
	tap_ok(strcmp(b, "1:02:05") == 0, "3725 s is 1:02:05 (%s)", b);
	screen_format_time(-1, b, sizeof b);
	tap_ok(strcmp(b, "-") == 0, "an unknown time is -");
}

static void test_scale(void)
{
	uint8_t src[4 * 2 * 3], dst[2 * 1 * 3], up[8 * 4 * 3];
	int exact = 1;

	/* Left half 0, right half 200: shrinking averages each half. */
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 4; x++)
			for (int c = 0; c < 3; c++)
				src[(y * 4 + x) * 3 + c] = x < 2 ? 0 : 200;
	image_scale(src, 4, 2, dst, 2, 1);
	tap_ok(dst[0] == 0 && dst[3] == 200, "shrinking averages (%d, %d)", dst[0], dst[3]);
	/* A flat picture stays flat when grown. */
	memset(src, 77, sizeof src);
	image_scale(src, 4, 2, up, 8, 4);
	for (size_t i = 0; i < sizeof up; i++)
		exact &= up[i] == 77;
	tap_ok(exact, "growing a flat picture keeps it flat");
}

static void test_sixel(void)
{
	enum { W = 30, H = 20 };
	uint8_t *rgb = malloc(W * H * 3);
	char *cause = NULL, *six;
	size_t len = 0;
	int w = 0, h = 0;

	for (int i = 0; i < W * H; i++) {
		rgb[i * 3] = (uint8_t)(i * 7);
		rgb[i * 3 + 1] = (uint8_t)(i * 3);
		rgb[i * 3 + 2] = (uint8_t)(255 - i);
	}
	six = image_sixel_encode(rgb, W, H, 256, &len, &cause);
	tap_ok(six != NULL && len > 10, "a picture encodes (%zu bytes)", len);
	if (six != NULL) {
		const char *q = strchr(six, 'q'), *ra = q != NULL ? strchr(q, '"') : NULL;
		tap_ok(strncmp(six, "\033P", 2) == 0 && q != NULL &&
		    strcmp(six + len - 2, "\033\\") == 0, "DCS ... q ... ST");
		if (ra != NULL)
			sscanf(ra + 1, "%*d;%*d;%d;%d", &w, &h);
		tap_ok(w == W && h == H, "raster attributes give the size (%dx%d)", w, h);
	}
	free(six);
	free(cause);
	free(rgb);
}

static void test_modes(void)
{
	image_mode m;
	image_reg *r;
	int ur, uc;

	tap_ok(image_mode_parse("sixel", &m) == 0 && m == IMAGE_SIXEL &&
	    image_mode_parse("blocks", &m) == 0 && m == IMAGE_BLOCKS &&
	    image_mode_parse("none", &m) == 0 && m == IMAGE_NONE &&
	    image_mode_parse("kitty", &m) == -1, "--images values");
	r = image_reg_new(IMAGE_SIXEL, -1, 1, 0);
	image_reg_set_cell_size(r, 10, 20);
	/* 192x108 into 27x12 cells of 10x20 px: width-bound, 270x152 px = 27x8 cells. */
	image_fit_cells(r, 192, 108, 12, 27, &ur, &uc);
	tap_ok(uc == 27 && ur == 8, "a 16:9 thumbnail fits 27x8 cells (%dx%d)", uc, ur);
	/* A tall picture is bound by the rows. */
	image_fit_cells(r, 100, 400, 10, 40, &ur, &uc);
	tap_ok(ur == 10 && uc == 5, "a tall picture fits 5x10 cells (%dx%d)", uc, ur);
	image_reg_free(r);
	r = image_reg_new(IMAGE_NONE, -1, 1, 0);
	image_fit_cells(r, 192, 108, 12, 27, &ur, &uc);
	tap_ok(ur == 0 && uc == 0, "--images=none takes no cells");
	image_reg_free(r);
}

int main(void)
{
	test_replies();
	test_safe_text();
	test_time();
	test_scale();
	test_sixel();
	test_modes();
	return tap_done();
}
