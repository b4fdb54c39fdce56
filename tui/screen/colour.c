/*
 * colour — terminal colour depth and on-demand colour pairs.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "colour.h"
#include "provide-curses.h"
/* setupterm, cur_term: reading a terminfo entry that curses does not run on.
 * Only here, as term.h's capability macros would shadow names elsewhere. */
#if __has_include(<ncursesw/term.h>)
#include <ncursesw/term.h>
#else
#include <term.h>
#endif

static colour_depth colour_depth_now = COLOUR_NONE;

const char *colour_depth_name(colour_depth d)
{
	switch (d) {
	case COLOUR_NONE: return "no colour";
	case COLOUR_8: return "8 colours";
	case COLOUR_16: return "16 colours";
	case COLOUR_256: return "256 colours";
	case COLOUR_DIRECT: return "true colour";
	}
	return "?";
}

/* The depth n colours give (rgb: the RGB flag or answer). */
static colour_depth colour_from_count(long n, int rgb)
{
	if (rgb && n >= 0x1000000)
		return COLOUR_DIRECT;
	if (n >= 256)
		return COLOUR_256;
	if (n >= 16)
		return COLOUR_16;
	if (n >= 8)
		return COLOUR_8;
	return COLOUR_NONE;
}

colour_depth colour_detect(const colour_facts *f)
{
	colour_depth d = colour_from_count(f->terminfo_colours, f->terminfo_rgb), o;

	if (f->colorterm != NULL &&
	    (strcmp(f->colorterm, "truecolor") == 0 || strcmp(f->colorterm, "24bit") == 0))
		d = COLOUR_DIRECT;
	if (f->tcap_rgb)
		d = COLOUR_DIRECT;
	o = colour_from_count(f->tcap_colours, 1);
	if (o > d)
		d = o;
	/* xterm draws 256 colours (and direct ones) whatever TERM says. */
	if (f->version != NULL && strncmp(f->version, "XTerm(", 6) == 0 && d < COLOUR_256)
		d = COLOUR_256;
	return d;
}

int colour_depth_parse(const char *s, int *out)
{
	static const struct { const char *name; int depth; } names[] = {
		{ "auto", -1 }, { "none", COLOUR_NONE }, { "0", COLOUR_NONE }, { "8", COLOUR_8 },
		{ "16", COLOUR_16 }, { "256", COLOUR_256 }, { "true", COLOUR_DIRECT },
		{ "truecolor", COLOUR_DIRECT }, { "24bit", COLOUR_DIRECT },
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].depth;
			return 0;
		}
	return -1;
}

int colour_terminfo_colours(const char *name, int *colours, int *rgb)
{
	TERMINAL *held = cur_term;
	int err = 0, rc = -1;

	*colours = 0;
	*rgb = 0;
	/* setupterm replaces cur_term: read the entry, then put the held one back. */
	if (setupterm(name, -1, &err) == OK) {
		int n = tigetnum("colors");
		*colours = n > 0 ? n : 0;
		*rgb = tigetflag("RGB") > 0;
		del_curterm(cur_term);
		rc = 0;
	}
	set_curterm(held);
	return rc;
}

const char *colour_terminfo_for(const char *term, colour_depth d, char *buf, size_t size)
{
	char base[64];
	const char *families[2];
	int have = 0, rgb = 0;

	if (term == NULL || term[0] == '\0' || d < COLOUR_256 || strlen(term) >= sizeof base)
		return NULL;
	if (colour_terminfo_colours(term, &have, &rgb) == 0 && colour_from_count(have, rgb) >= d)
		return NULL;
	/* The family: "xterm-16color" -> "xterm"; a "vt340" is xterm playing one. */
	snprintf(base, sizeof base, "%s", term);
	base[strcspn(base, "-")] = '\0';
	families[0] = base;
	families[1] = strncmp(base, "vt", 2) == 0 ? "xterm" : NULL;
	for (colour_depth need = d; need >= COLOUR_256; need--) {
		for (int f = 0; f < 2 && families[f] != NULL; f++) {
			snprintf(buf, size, "%s%s", families[f],
			    need == COLOUR_DIRECT ? "-direct" : "-256color");
			if (colour_terminfo_colours(buf, &have, &rgb) == 0 &&
			    colour_from_count(have, rgb) >= need)
				return strcmp(buf, term) != 0 ? buf : NULL; /* term's own: keep it */
		}
	}
	return NULL;
}

colour_depth colour_setup(colour_depth want)
{
	colour_depth d;

	colour_depth_now = COLOUR_NONE;
	if (want == COLOUR_NONE || !has_colors())
		return COLOUR_NONE;
	if (start_color() == ERR)
		return COLOUR_NONE;
	use_default_colors();
	/* A terminfo entry with the RGB flag (xterm-direct) takes 0xRRGGBB colour numbers. */
	d = colour_from_count(COLORS, tigetflag("RGB") > 0);
	if (want < d)
		d = want;
	colour_depth_now = d;
	return d;
}

colour_depth colour_get_depth(void)
{
	return colour_depth_now;
}

/* The xterm 256-colour palette: 16 system colours, a 6x6x6 cube, 24 greys. */
static const int colour_cube_level[6] = { 0, 95, 135, 175, 215, 255 };

static int colour_cube_index(int v)
{
	if (v < 48)
		return 0;
	if (v < 115)
		return 1;
	return (v - 35) / 40;
}

static int colour_dist(int r1, int g1, int b1, int r2, int g2, int b2)
{
	/* Weighted for the eye: green counts most. */
	return 3 * (r1 - r2) * (r1 - r2) + 4 * (g1 - g2) * (g1 - g2) + 2 * (b1 - b2) * (b1 - b2);
}

static int colour_to_256(int r, int g, int b)
{
	int ri = colour_cube_index(r), gi = colour_cube_index(g), bi = colour_cube_index(b);
	int cube = 16 + 36 * ri + 6 * gi + bi;
	int cd = colour_dist(r, g, b, colour_cube_level[ri], colour_cube_level[gi],
	    colour_cube_level[bi]);
	int avg = (r + g + b) / 3;
	int gi2 = avg > 238 ? 23 : (avg < 8 ? 0 : (avg - 8) / 10);
	int gl = 8 + 10 * gi2;
	int gd = colour_dist(r, g, b, gl, gl, gl);

	return gd < cd ? 232 + gi2 : cube;
}

/* The ANSI colours as xterm draws them by default. */
static const unsigned char colour_ansi[16][3] = {
	{ 0, 0, 0 }, { 205, 0, 0 }, { 0, 205, 0 }, { 205, 205, 0 },
	{ 0, 0, 238 }, { 205, 0, 205 }, { 0, 205, 205 }, { 229, 229, 229 },
	{ 127, 127, 127 }, { 255, 0, 0 }, { 0, 255, 0 }, { 255, 255, 0 },
	{ 92, 92, 255 }, { 255, 0, 255 }, { 0, 255, 255 }, { 255, 255, 255 },
};

static int colour_to_ansi(int r, int g, int b, int n)
{
	int best = 0, bestd = -1;

	for (int i = 0; i < n; i++) {
		int d = colour_dist(r, g, b, colour_ansi[i][0], colour_ansi[i][1], colour_ansi[i][2]);
		if (bestd < 0 || d < bestd) {
			bestd = d;
			best = i;
		}
	}
	return best;
}

static int colour_number(uint32_t rgb)
{
	int r = (int)(rgb >> 16) & 255, g = (int)(rgb >> 8) & 255, b = (int)rgb & 255;

	if (rgb == COLOUR_DEFAULT)
		return -1;
	switch (colour_depth_now) {
	case COLOUR_DIRECT: return (int)(rgb & 0xffffff);
	case COLOUR_256: return colour_to_256(r, g, b);
	case COLOUR_16: return colour_to_ansi(r, g, b, 16);
	case COLOUR_8: return colour_to_ansi(r, g, b, 8);
	case COLOUR_NONE: break;
	}
	return -1;
}

int colour_pair(uint32_t fg, uint32_t bg)
{
	int p;

	if (colour_depth_now == COLOUR_NONE)
		return 0;
	p = alloc_pair(colour_number(fg), colour_number(bg));
	return p < 0 ? 0 : p;
}

uint32_t colour_heat(float v)
{
	/* A short piecewise-linear ramp: navy, purple, red, orange, yellow. */
	static const unsigned char stops[5][3] = {
		{ 16, 20, 60 }, { 90, 30, 120 }, { 190, 40, 60 }, { 240, 130, 30 }, { 250, 230, 80 },
	};
	float t;
	int i;
	unsigned c[3];

	if (!(v > 0))
		v = 0;
	if (v > 1)
		v = 1;
	t = v * 4;
	i = (int)t;
	if (i > 3)
		i = 3;
	t -= (float)i;
	for (int k = 0; k < 3; k++)
		c[k] = (unsigned)((float)stops[i][k] + t * (float)(stops[i + 1][k] - stops[i][k]) + 0.5f);
	return (c[0] << 16) | (c[1] << 8) | c[2];
}
