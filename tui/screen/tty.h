/*
 * tty — what the terminal can do, learned before curses starts, and the
 * last-resort restore used on signals.
 *
 * tty_probe puts the terminal in raw mode for a moment and asks three
 * questions in one write: XTSMGRAPHICS (sixel colour registers), the cell
 * size in pixels (CSI 16 t) and DA1 (CSI c).  Every terminal answers DA1,
 * and answers in order, so the DA1 reply ends the wait; a terminal that
 * answers nothing costs the timeout.  Attribute 4 in the DA1 reply means
 * sixel graphics.
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
 * Parse terminal replies in buf[0..len) into caps: DA1, XTSMGRAPHICS and
 * CSI 6 ; h ; w t.  Returns 1 once a DA1 reply was seen.  (Exported for
 * tests.)
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
