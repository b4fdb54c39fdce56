/*
 * cli-picture — pictures in the command line's output (`search --preview`,
 * `clipgrep preview`): written inline to a stream, not placed on a curses
 * screen.  Sixel and the kitty graphics protocol through
 * tui/screen/image.c's encoders; colour half-blocks
 * ("▀": foreground the upper pixel, background the lower) as SGR escapes,
 * 24-bit when $COLORTERM says truecolor/24bit, else the xterm 256-colour
 * cube.  Which one is the caller's policy, decided once with
 * cli_picture_detect.
 */
#ifndef CLIPGREP_CLI_PICTURE_H
#define CLIPGREP_CLI_PICTURE_H

#include <stdint.h>
#include <stdio.h>

typedef enum { CLI_PICTURE_NONE, CLI_PICTURE_BLOCKS, CLI_PICTURE_SIXEL, CLI_PICTURE_KITTY } cli_picture_mode;

/* "none", "blocks", "sixel", "kitty" (and "auto" gives -1 in *out); -1 for other names. */
int cli_picture_parse(const char *s, int *out);

typedef struct {
	cli_picture_mode mode;
	int cell_width, cell_height; /* pixels per cell (sixel sizing), 10 x 20 when unknown */
	int colour_registers;        /* sixel palette size, 0: 256 */
} cli_picture_caps;

/*
 * The mode for want (a CLI_PICTURE_* value, or -1 for auto) with the
 * terminal's cell size.  With probe, the terminal (stdin when it is one,
 * else /dev/tty) is asked whether it has sixel and its cell size
 * (tui/screen/tty.c's probe): auto is kitty when the terminal answers the
 * kitty graphics query, else sixel if it has that, else half-blocks.
 * Without probe (or with no terminal to ask) auto gives fallback.  Never
 * probe while another program reads the terminal (fzf): the answer would
 * reach it as keystrokes.
 */
void cli_picture_detect(int want, int probe, cli_picture_mode fallback, cli_picture_caps *caps);

/*
 * Write rgb [h, w, 3] to out, fitted into cols x rows cells (aspect kept;
 * rows <= 0: no limit), starting at the left of the current line and
 * ending with a newline.  Nothing in mode none.  0, or -1 with *cause.
 */
int cli_picture_write(FILE *out, const cli_picture_caps *caps, const uint8_t *rgb, int w, int h,
    int cols, int rows, char **cause);

#endif
