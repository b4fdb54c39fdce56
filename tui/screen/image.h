/*
 * image — pictures on the text screen: the kitty graphics protocol (kitty,
 * Ghostty) or sixel graphics where the terminal has them, colour
 * half-block cells ("▀", foreground the upper pixel, background the lower)
 * where it has neither, nothing with --images=none.
 *
 * Kitty pictures are not text cells: the terminal keeps them by id, above
 * the text, until told to delete them.  So each encoding (picture, pixel
 * size) is sent once with its own id, shown with a placement at its cell,
 * and the placement is deleted when the frame no longer has it; a full
 * repaint deletes every placement and places again.
 *
 * curses knows nothing of sixel.  As in tmux's image.c, the registry keeps
 * a bounded list of the images on screen with their cells; each frame the
 * screen is drawn into stdscr with blanks under every image, and
 * image_frame_end refreshes the screen and then writes each sixel image
 * whose cells a repaint touched (or that is new), at its cell, saving and
 * restoring the cursor around it so curses' idea of the cursor stays true.
 * Images that went away get their lines redrawn (wredrawln), so the text
 * covers them.  Encoded sixel data is cached per (picture, pixel size), so
 * re-emitting an image is one write(2).
 *
 * Placement happens in stdscr coordinates; stdscr is the only window drawn.
 */
#ifndef CLIPGREP_IMAGE_H
#define CLIPGREP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "provide-curses.h"

typedef enum { IMAGE_NONE, IMAGE_BLOCKS, IMAGE_SIXEL, IMAGE_KITTY } image_mode;

/* "none", "blocks", "sixel", "kitty"; image_mode_parse returns -1 for others. */
const char *image_mode_name(image_mode m);
int image_mode_parse(const char *s, image_mode *out);

typedef struct image_reg image_reg;

/* Timings, for `clipgrep bench tui`. */
typedef struct {
	long encodes;        /* sixel encodings (cache misses) */
	double encode_ms;    /* total time encoding */
	double encode_max_ms;
	long emits;          /* sixel images written to the terminal */
	double emit_ms;      /* total time from cache lookup to the last byte written */
	double emit_max_ms;
	size_t emit_bytes;
} image_stats;

/*
 * A registry drawing with mode to the terminal on out_fd (sixel only).
 * utf8: the locale can show "▀" (else blocks use background-coloured
 * spaces at half the vertical resolution).  colour_registers: sixel
 * palette size (0: 256).
 */
image_reg *image_reg_new(image_mode mode, int out_fd, int utf8, int colour_registers);
void image_reg_free(image_reg *r);
image_mode image_reg_mode(const image_reg *r);
void image_reg_set_cell_size(image_reg *r, int width, int height);
const image_stats *image_reg_stats(const image_reg *r);

/* Start a frame: nothing is placed yet. */
void image_frame_begin(image_reg *r);
/*
 * Sixel pictures placed in this frame but left out because the frame's
 * encoding budget was spent: draw another frame soon to show them.
 */
int image_reg_deferred(const image_reg *r);

/*
 * Place the picture rgb [ih, iw, 3] in the cells (y, x, rows, cols) of
 * stdscr, as large as fits with its aspect kept, top-left aligned.  key
 * names the picture (the same key must mean the same pixels).  Draws
 * blocks now, or blanks the cells used and records a sixel placement.
 * *used_rows / *used_cols (may be NULL) get the cells the picture covers
 * (0 in mode none).  rgb need not outlive the call.
 */
void image_place(image_reg *r, uint64_t key, const uint8_t *rgb, int iw, int ih, int y, int x,
    int rows, int cols, int *used_rows, int *used_cols);

/*
 * The cells a picture of iw x ih pixels covers when fitted into rows x
 * cols in this mode (for layout); 0 x 0 in mode none.
 */
void image_fit_cells(const image_reg *r, int iw, int ih, int rows, int cols, int *used_rows,
    int *used_cols);

/*
 * Refresh the screen (stdscr, with the cursor where the caller left it)
 * and write the sixel images that need it.  full: the whole screen is
 * being repainted (after a resize, a suspend, Ctrl-L).  Returns the number
 * of images written.
 */
int image_frame_end(image_reg *r, int full);

/*
 * Forget what is on screen (after endwin: the next frame writes every
 * image again).
 */
void image_reg_invalidate(image_reg *r);

/*
 * Scale rgb [sh, sw, 3] into dst [dh, dw, 3]: an area average when
 * shrinking, bilinear when growing.
 */
void image_scale(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/*
 * Encode rgb [h, w, 3] for the kitty graphics protocol: a transmission
 * (a=t) of 24-bit RGB (f=24) as image id, quiet (q=2), its base64 in APC
 * chunks of at most 4096 bytes (m=1 on all but the last).  id 0: transmit
 * and display at the cursor instead (a=T, no id: inline output, which
 * leaves the cursor after the picture).  Newly allocated, *len bytes
 * (NUL-terminated); NULL with *cause on failure.
 */
char *image_kitty_encode(const uint8_t *rgb, int w, int h, uint32_t id, size_t *len,
    char **cause);

/* What ends kitty pictures on exit (and on a fatal signal): delete them all. */
#define IMAGE_KITTY_END "\033_Ga=d,d=A,q=2\033\\"

/*
 * Encode rgb [h, w, 3] as a sixel sequence (DCS ... ST) with at most
 * colours palette entries.  Newly allocated, *len bytes (NUL-terminated);
 * NULL with *cause on failure.
 */
char *image_sixel_encode(const uint8_t *rgb, int w, int h, int colours, size_t *len,
    char **cause);

#endif
