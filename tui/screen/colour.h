/*
 * colour — how many colours the terminal has and a colour pair for any
 * (foreground, background) RGB combination, approximated to what the
 * terminal can show: true colour (a terminfo with RGB, e.g. xterm-direct),
 * the 256-colour cube and grey ramp, or the 8/16 ANSI colours.  NO_COLOR
 * (https://no-color.org) or a terminal without colours gives none, and
 * every pair is 0: the screen falls back to characters and attributes.
 * The depth is detected (colour_detect) or given (--colours,
 * $CLIPGREP_COLOURS); when the terminfo entry says less than that, the
 * screen runs on one that says enough (colour_terminfo_for).
 */
#ifndef CLIPGREP_COLOUR_H
#define CLIPGREP_COLOUR_H

#include <stdint.h>

typedef enum { COLOUR_NONE, COLOUR_8, COLOUR_16, COLOUR_256, COLOUR_DIRECT } colour_depth;

/* 0xRRGGBB, or COLOUR_DEFAULT for the terminal's own colour. */
#define COLOUR_DEFAULT 0xff000000u

/*
 * What is known about the terminal's colours before curses starts.  The
 * terminfo entry ($TERM) often says less than the terminal can do (`xterm
 * -ti vt340` runs with TERM=xterm: 8 colours, though xterm draws 256), so
 * the terminal's own answers and COLORTERM count too.
 */
typedef struct {
	int terminfo_colours;  /* the entry's colors (0: none, or no entry) */
	int terminfo_rgb;      /* the entry has the RGB flag (direct colour) */
	const char *colorterm; /* $COLORTERM ("truecolor", "24bit"), or NULL */
	int tcap_colours;      /* XTGETTCAP Co (0: no answer) */
	int tcap_rgb;          /* XTGETTCAP RGB answered */
	const char *version;   /* XTVERSION's answer, or NULL */
} colour_facts;

/*
 * The depth those facts give: the most any of them vouches for
 * (COLORTERM truecolor/24bit or XTGETTCAP RGB: direct colour; XTGETTCAP
 * Co: its count; XTVERSION "XTerm(": 256, as xterm is built), none when the
 * entry has no colours and nothing else says otherwise.  Pure.
 */
colour_depth colour_detect(const colour_facts *f);

/*
 * Parse an override ("none", "8", "16", "256", "true", "truecolor",
 * "24bit"; "auto": -1) into *out.  0, or -1 for anything else.
 */
int colour_depth_parse(const char *s, int *out);

/*
 * The colours and RGB flag of terminfo entry name (NULL: $TERM), read
 * without disturbing the terminal curses or readline hold.  0, or -1 when
 * there is no such entry.
 */
int colour_terminfo_colours(const char *name, int *colours, int *rgb);

/*
 * A terminfo entry that can show depth d for a terminal whose $TERM is
 * term (xterm -> xterm-256color or xterm-direct, screen -> screen-256color,
 * ...), written into buf; NULL when term's own entry is enough or no
 * installed entry fits.  For direct colour a 256-colour entry is the
 * fallback.
 */
const char *colour_terminfo_for(const char *term, colour_depth d, char *buf, size_t size);

/*
 * After curses has started: start colours at depth want (what
 * colour_detect or an override gave; COLOUR_NONE for none), capped at what
 * the terminfo entry curses runs on can express.  Returns the depth used.
 */
colour_depth colour_setup(colour_depth want);
colour_depth colour_get_depth(void);
const char *colour_depth_name(colour_depth d);

/*
 * A pair number for fg on bg (pairs are allocated on demand and recycled
 * least-recently-used when the terminal's pairs run out); 0 without colour.
 * Use it with setcchar(..., 0, &pair) or wattr_set(win, a, 0, &pair).
 */
int colour_pair(uint32_t fg, uint32_t bg);

/* The colour a 0..1 heat value gets (dark blue, through red, to yellow). */
uint32_t colour_heat(float v);

#endif
