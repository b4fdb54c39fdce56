/*
 * tty — what the terminal can do, learned before curses starts, and the
 * last-resort restore used on signals.
 *
 * tty_probe puts the terminal in raw mode for a moment and asks its
 * questions in one write: XTSMGRAPHICS (sixel colour registers), the cell
 * size in pixels (CSI 16 t), XTVERSION (CSI > 0 q: the terminal's name),
 * XTGETTCAP for Co and RGB (DCS + q: how many colours, direct colour; one
 * question per DCS, since xterm stops at the first it cannot answer), the
 * kitty graphics protocol's query (APC G ... a=q) and last DA1 (CSI c).
 * Every terminal answers DA1, and answers in order, so the DA1 reply ends
 * the wait; a terminal that answers nothing costs the timeout.  Attribute
 * 4 in the DA1 reply means sixel graphics.  The DCS and APC questions are
 * left out on the Linux console, which would print them.
 */
#ifndef CLIPGREP_TTY_H
#define CLIPGREP_TTY_H

#include <stddef.h>

typedef struct {
	int answered;        /* the terminal answered DA1 */
	int sixel;           /* DA1 listed attribute 4 */
	int color_registers; /* sixel colour registers (XTSMGRAPHICS), 0 when unknown */
	int cell_width;      /* pixels per cell, from TIOCGWINSZ, CSI 16 t, else 10 x 20 */
	int cell_height;
	int cell_size_known; /* 0 when cell_width/height are the fallback */
	int tcap_colours;    /* XTGETTCAP Co/colors: the colours the terminal says it
	                        has (0 unknown, at most 1 << 24) */
	int tcap_rgb;        /* XTGETTCAP RGB answered with a bit count: direct colour */
	int kitty;           /* the kitty graphics query was answered OK */
	char version[64];    /* XTVERSION's answer ("XTerm(379)", "kitty(0.35.2)"),
	                        printable ASCII; "" when unknown */
} tty_caps;

/* The fallback cell size when the terminal does not say. */
#define TTY_CELL_WIDTH 10
#define TTY_CELL_HEIGHT 20

/*
 * Ask the terminal on fd (a tty, before curses starts).  Waits at most
 * timeout_ms for the answers; bytes that arrive later are discarded.  0, or
 * -1 when fd is not a terminal (caps holds the fallbacks).
 */
int tty_probe(int fd, int timeout_ms, tty_caps *caps);

/*
 * Re-read the cell size from TIOCGWINSZ (after SIGWINCH: a font change
 * resizes cells); keeps the previous size when the kernel has no pixels.
 */
void tty_update_cell_size(int fd, tty_caps *caps);

/*
 * Parse terminal replies in buf[0..len) into caps: DA1, XTSMGRAPHICS,
 * CSI 6 ; h ; w t, XTVERSION (DCS > | text ST), XTGETTCAP (DCS 1 + r
 * hex = hex ST) and the kitty graphics reply (APC G i=31 ; OK ST); ST is
 * ESC \ or BEL.  A reply cut short ends the parse.  Returns 1 once a DA1
 * reply was seen.  (Exported for tests and the fuzz target.)
 */
int tty_parse_replies(const char *buf, size_t len, tty_caps *caps);

/*
 * Remember fd's terminal modes (call before curses changes them), then,
 * once curses has started (it reads terminfo), the strings that undo it:
 * leave the alternate screen, show the cursor, reset attributes.  extra is
 * written first (e.g. the end of a sixel sequence and the graphics modes to
 * restore); it is copied.  tty_emergency_restore uses both from a signal
 * handler.
 */
void tty_save_modes(int fd);
void tty_arm_restore(const char *extra);
/* Async-signal-safe: write the strings and reset the modes.  Idempotent. */
void tty_emergency_restore(void);
/* Forget the saved state (after a normal endwin). */
void tty_disarm_restore(void);

#endif
