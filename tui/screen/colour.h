/*
 * colour — how many colours the terminal has and a colour pair for any
 * (foreground, background) RGB combination, approximated to what the
 * terminal can show: true colour (a terminfo with RGB, e.g. xterm-direct),
 * the 256-colour cube and grey ramp, or the 8/16 ANSI colours.  NO_COLOR
 * (https://no-color.org) or a terminal without colours gives none, and
 * every pair is 0: the screen falls back to characters and attributes.
 */
#ifndef CLIPGREP_COLOUR_H
#define CLIPGREP_COLOUR_H

#include <stdint.h>

typedef enum { COLOUR_NONE, COLOUR_8, COLOUR_16, COLOUR_256, COLOUR_DIRECT } colour_depth;

/* 0xRRGGBB, or COLOUR_DEFAULT for the terminal's own colour. */
#define COLOUR_DEFAULT 0xff000000u

/*
 * After initscr: decide the depth (force: -1 to detect, else a
 * colour_depth to cap it at) and start colours.
 */
colour_depth colour_setup(int force);
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
