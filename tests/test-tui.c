/*
 * test-tui — unit tests of the interactive screen's pieces that need no
 * terminal: parsing the terminal's replies (DA1, XTSMGRAPHICS, cell size,
 * XTVERSION, XTGETTCAP, the kitty graphics reply), the colour depth they
 * give, file names made safe to show, frame labels, picture scaling, sixel
 * and kitty encoding and the layout fit.  The screen itself is tested through tmux (tui-screen.sh)
 * and a pseudo-terminal (tui-sixel.sh).
 */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "colour.h"
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

static void test_replies_more(void)
{
	tty_caps c;
	/* xterm with allowTcapOps, then DA1: what `xterm -ti vt340` can say. */
	static const char xterm[] = "\033P>|XTerm(379)\033\\\033P1+r436f=323536\033\\"
	    "\033P1+r524742=38\033\\\033[?63;1;2;4;6;9;15;16;22;28c";
	static const char kitty[] = "\033_Gi=31;OK\033\\\033[?62;c";
	static const char refused[] = "\033P0+r436f\033\\\033_Gi=31;ENOTSUPPORTED:no\033\\\033[?1;2c";
	static const char absurd[] = "\033P1+r436f=3939393939393939393939\033\\\033[?1c";
	static const char bel[] = "\033P>|WezTerm 2024\007\033P1+r636f6c6f7273=3136\007\033[?65;4c";

	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(xterm, sizeof xterm - 1, &c) == 1 &&
	    strcmp(c.version, "XTerm(379)") == 0 && c.tcap_colours == 256 && c.tcap_rgb && c.sixel,
	    "XTVERSION, XTGETTCAP Co and RGB before DA1 (%s, %d)", c.version, c.tcap_colours);
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(kitty, sizeof kitty - 1, &c) == 1 && c.kitty && !c.sixel,
	    "the kitty graphics reply OK");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(refused, sizeof refused - 1, &c) == 1 && !c.kitty &&
	    c.tcap_colours == 0, "refusals: no colours, no kitty");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(bel, sizeof bel - 1, &c) == 1 && strcmp(c.version, "WezTerm 2024") == 0 &&
	    c.tcap_colours == 16, "BEL ends a string too; 'colors' is Co's long name");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(xterm, 10, &c) == 0 && c.version[0] == '\0',
	    "a DCS cut short waits for the rest");
	memset(&c, 0, sizeof c);
	tap_ok(tty_parse_replies(absurd, sizeof absurd - 1, &c) == 1 &&
	    c.tcap_colours == 0, "an absurd colour count is ignored (%d)", c.tcap_colours);
}

static void test_colour_detect(void)
{
	colour_facts f;
	int d = 0;

	memset(&f, 0, sizeof f);
	f.terminfo_colours = 8;
	tap_ok(colour_detect(&f) == COLOUR_8, "TERM=xterm alone: 8 colours");
	f.version = "XTerm(379)";
	tap_ok(colour_detect(&f) == COLOUR_256, "TERM=xterm, XTVERSION XTerm: 256 colours");
	f.version = "tmux 3.3a";
	tap_ok(colour_detect(&f) == COLOUR_8, "another XTVERSION says nothing of colours");
	f.tcap_colours = 256;
	tap_ok(colour_detect(&f) == COLOUR_256, "XTGETTCAP Co=256: 256 colours");
	f.tcap_rgb = 1;
	tap_ok(colour_detect(&f) == COLOUR_DIRECT, "XTGETTCAP RGB: direct colour");
	memset(&f, 0, sizeof f);
	f.terminfo_colours = 256;
	f.colorterm = "truecolor";
	tap_ok(colour_detect(&f) == COLOUR_DIRECT, "COLORTERM=truecolor: direct colour");
	f.colorterm = "yes";
	tap_ok(colour_detect(&f) == COLOUR_256, "another COLORTERM: terminfo's");
	memset(&f, 0, sizeof f);
	f.terminfo_colours = 0x1000000;
	f.terminfo_rgb = 1;
	tap_ok(colour_detect(&f) == COLOUR_DIRECT, "xterm-direct's entry: direct colour");
	memset(&f, 0, sizeof f);
	tap_ok(colour_detect(&f) == COLOUR_NONE, "no colours anywhere: none");
	{
		char buf[80];
		const char *t;
		int n = 0, rgb = 0;
		if (colour_terminfo_colours("xterm-256color", &n, &rgb) == 0 && n >= 256 &&
		    colour_terminfo_colours("xterm", &n, &rgb) == 0 && n == 8) {
			t = colour_terminfo_for("xterm", COLOUR_256, buf, sizeof buf);
			tap_ok(t != NULL && strcmp(t, "xterm-256color") == 0,
			    "TERM=xterm drawn in 256 colours: xterm-256color (%s)", t != NULL ? t : "none");
			tap_ok(colour_terminfo_for("xterm-256color", COLOUR_256, buf, sizeof buf) == NULL &&
			    colour_terminfo_for("xterm", COLOUR_8, buf, sizeof buf) == NULL,
			    "an entry that is enough is kept");
			t = colour_terminfo_for("vt340", COLOUR_256, buf, sizeof buf);
			tap_ok(t != NULL && strcmp(t, "xterm-256color") == 0,
			    "TERM=vt340 (xterm playing one): xterm's entry (%s)", t != NULL ? t : "none");
			tap_ok(colour_terminfo_for("no-such-terminal", COLOUR_256, buf, sizeof buf) == NULL,
			    "an unknown family gets no entry");
		} else {
			for (int i = 0; i < 4; i++)
				tap_skip("no xterm / xterm-256color terminfo");
		}
	}
	tap_ok(colour_depth_parse("truecolor", &d) == 0 && d == COLOUR_DIRECT &&
	    colour_depth_parse("256", &d) == 0 && d == COLOUR_256 &&
	    colour_depth_parse("auto", &d) == 0 && d == -1 &&
	    colour_depth_parse("lots", &d) == -1, "override values");
}

static void test_labels(void)
{
	double half[4] = { 0.0, 0.5, 1.0, 1.5 }, secs[3] = { 0, 2, 4 }, minute[2] = { 61.0, 61.5 };
	double pad[4] = { 0.25, 0.75, NAN, NAN };
	char l[4][16];

	tap_ok(screen_frame_labels(secs, 3, 5, l) == 1 && strcmp(l[1], "0:02") == 0,
	    "frames seconds apart: m:ss (%s)", l[1]);
	tap_ok(screen_frame_labels(half, 4, 5, l) == 10 && strcmp(l[0], "0.0s") == 0 &&
	    strcmp(l[3], "1.5s") == 0, "half a second apart: tenths, not 0:00 0:00 0:01 (%s %s %s %s)",
	    l[0], l[1], l[2], l[3]);
	tap_ok(screen_frame_labels(minute, 2, 6, l) == 10 && strcmp(l[1], "1:01.5") == 0,
	    "past a minute: m:ss.d (%s)", l[1]);
	tap_ok(screen_frame_labels(half, 4, 3, l) == 0 && strcmp(l[3], "4") == 0,
	    "too narrow for tenths: frame numbers");
	tap_ok(screen_frame_labels(pad, 4, 5, l) == 10 && strcmp(l[2], "-") == 0 && strcmp(l[3], "-") == 0,
	    "padding frames are '-', and may repeat");
}

/* The kitty transmission of a picture, decoded back. */
static void test_kitty(void)
{
	enum { W = 50, H = 40 };
	static const char inline_head[] = "\033_Ga=T,f=24,s=50,v=40,q=2,m=1;";
	uint8_t *rgb = malloc(W * H * 3), *back = malloc(W * H * 3 + 4);
	char *cause = NULL, *k;
	size_t len = 0, got = 0;
	int chunks = 0, ok_chunks = 1, last_m = -1;
	unsigned id = 0;
	int w = 0, h = 0;

	for (int i = 0; i < W * H * 3; i++)
		rgb[i] = (uint8_t)(i * 13 + 5);
	k = image_kitty_encode(rgb, W, H, 7, &len, &cause);
	tap_ok(k != NULL && len == strlen(k), "a picture encodes for kitty (%zu bytes)", len);
	tap_ok(k != NULL && sscanf(k, "\033_Ga=t,i=%u,f=24,s=%d,v=%d,q=2,", &id, &w, &h) == 3 &&
	    id == 7 && w == W && h == H, "its first chunk: a=t, the id, f=24, the size, quiet");
	for (const char *p = k; p != NULL && *p != '\0';) {
		const char *semi = strchr(p, ';'), *st = strstr(p, "\033\\");
		const char *m = strstr(p, "m=");
		if (strncmp(p, "\033_G", 3) != 0 || semi == NULL || st == NULL || m == NULL || m > semi) {
			ok_chunks = 0;
			break;
		}
		last_m = m[2] - '0';
		if (st - semi - 1 > 4096 || (chunks > 0 && strncmp(p, "\033_Gm=", 5) != 0))
			ok_chunks = 0;
		for (const char *q = semi + 1; q + 3 < st; q += 4) {
			static const char b64[] =
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
			uint32_t v = 0;
			int pad = 0;
			for (int j = 0; j < 4; j++) {
				const char *x = q[j] == '=' ? NULL : strchr(b64, q[j]);
				pad += x == NULL;
				v = v << 6 | (x != NULL ? (uint32_t)(x - b64) : 0);
			}
			for (int j = 0; j < 3 - pad && got < (size_t)W * H * 3 + 4; j++)
				back[got++] = (uint8_t)(v >> (16 - 8 * j));
		}
		chunks++;
		p = st + 2;
	}
	tap_ok(ok_chunks && chunks == (W * H * 3 * 4 / 3 + 4095) / 4096 && last_m == 0,
	    "chunks of at most 4096 base64 bytes, m=1 until the last (%d)", chunks);
	tap_ok(got == (size_t)W * H * 3 && memcmp(back, rgb, got) == 0, "the base64 decodes to the pixels");
	free(k);
	free(cause);
	cause = NULL;
	k = image_kitty_encode(rgb, W, H, 0, &len, &cause);
	tap_ok(k != NULL && strncmp(k, inline_head, strlen(inline_head)) == 0,
	    "id 0: transmit and display at the cursor (a=T), no id");
	free(k);
	tap_ok(image_kitty_encode(rgb, 0, H, 1, &len, &cause) == NULL && cause != NULL,
	    "an empty picture is refused with a cause");
	free(cause);
	free(rgb);
	free(back);
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
	    image_mode_parse("kitty", &m) == 0 && m == IMAGE_KITTY &&
	    image_mode_parse("iterm", &m) == -1, "--images values");
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
	test_replies_more();
	test_colour_detect();
	test_labels();
	test_kitty();
	test_safe_text();
	test_time();
	test_scale();
	test_sixel();
	test_modes();
	return tap_done();
}
