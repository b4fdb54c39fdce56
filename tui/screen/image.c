/*
 * image — sixel and half-block pictures, and the registry of sixel images
 * on screen.  The only file that includes libsixel.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libsixel's header defines its own PACKAGE_VERSION. */
#undef PACKAGE_VERSION
#include <sixel.h>

#include "colour.h"
#include "image.h"
#include "util.h"

/* At most this many sixel images on screen (tmux keeps a bounded list too). */
#define IMAGE_MAX_PLACED 32
/* Encoded sixel kept per (picture, size): entries and bytes. */
#define IMAGE_CACHE_ENTRIES 128
#define IMAGE_CACHE_BYTES (48u << 20)
/*
 * Sixel encoding allowed per frame: past it, pictures not yet encoded wait
 * for the next frame, so text shows at once and pictures follow.
 */
#define IMAGE_ENCODE_BUDGET_MS 4.0
/* No picture larger than this many pixels a side is ever encoded. */
#define IMAGE_MAX_SIDE 2048

typedef struct {
	uint64_t key;
	int w, h;          /* pixels */
	char *data;        /* DCS ... ST (sixel), or the APC transmission (kitty) */
	size_t len;
	uint64_t used;     /* LRU clock */
	uint32_t id;       /* kitty: the image id it is sent as */
	int sent;          /* kitty: the terminal holds it */
} image_cached;

typedef struct {
	uint64_t key;
	int y, x, rows, cols; /* cells */
	int w, h;             /* pixels */
} image_placed;

/* kitty: a placement's id, from its cell (an image may be placed at two cells). */
#define IMAGE_KITTY_PLACEMENT(p) ((unsigned)((p)->y * 4096 + (p)->x + 1))

struct image_reg {
	image_mode mode;
	int fd, utf8, colours;
	int cell_w, cell_h;
	image_cached cache[IMAGE_CACHE_ENTRIES];
	size_t cache_bytes;
	uint64_t clock;
	image_placed want[IMAGE_MAX_PLACED], shown[IMAGE_MAX_PLACED];
	int n_want, n_shown;
	int invalid;          /* nothing on screen can be trusted: write every image */
	double encode_spent;  /* ms spent encoding in this frame */
	int deferred;         /* pictures left for the next frame */
	uint32_t next_id;     /* kitty: the next image id */
	cchar_t *prev;        /* [prev_rows, prev_cols] stdscr as last refreshed */
	int prev_rows, prev_cols;
	image_stats stats;
};

static double image_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *image_mode_name(image_mode m)
{
	switch (m) {
	case IMAGE_NONE: return "none";
	case IMAGE_BLOCKS: return "blocks";
	case IMAGE_SIXEL: return "sixel";
	case IMAGE_KITTY: return "kitty";
	}
	return "?";
}

int image_mode_parse(const char *s, image_mode *out)
{
	if (strcmp(s, "none") == 0)
		*out = IMAGE_NONE;
	else if (strcmp(s, "blocks") == 0)
		*out = IMAGE_BLOCKS;
	else if (strcmp(s, "sixel") == 0)
		*out = IMAGE_SIXEL;
	else if (strcmp(s, "kitty") == 0)
		*out = IMAGE_KITTY;
	else
		return -1;
	return 0;
}

image_reg *image_reg_new(image_mode mode, int out_fd, int utf8, int colour_registers)
{
	image_reg *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	r->mode = mode;
	r->fd = out_fd;
	r->utf8 = utf8;
	r->colours = colour_registers > 0 && colour_registers < 256 ? colour_registers : 256;
	if (r->colours < 2)
		r->colours = 2;
	r->cell_w = 10;
	r->cell_h = 20;
	r->invalid = 1;
	r->next_id = 1;
	return r;
}

void image_reg_free(image_reg *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < IMAGE_CACHE_ENTRIES; i++)
		free(r->cache[i].data);
	free(r->prev);
	free(r);
}

image_mode image_reg_mode(const image_reg *r)
{
	return r->mode;
}

void image_reg_set_cell_size(image_reg *r, int width, int height)
{
	if (width > 0 && height > 0 && (width != r->cell_w || height != r->cell_h)) {
		r->cell_w = width;
		r->cell_h = height;
		r->invalid = 1;
	}
}

const image_stats *image_reg_stats(const image_reg *r)
{
	return &r->stats;
}

void image_reg_invalidate(image_reg *r)
{
	r->invalid = 1;
	r->n_shown = 0;
	/* kitty: the terminal may have dropped the pictures with the screen: send again. */
	for (int i = 0; i < IMAGE_CACHE_ENTRIES; i++)
		r->cache[i].sent = 0;
}

/* ---- pixels ------------------------------------------------------------- */

void image_scale(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
	for (int y = 0; y < dh; y++) {
		/* The source rows [y0, y1) this output row covers. */
		double fy0 = (double)y * sh / dh, fy1 = (double)(y + 1) * sh / dh;
		for (int x = 0; x < dw; x++) {
			double fx0 = (double)x * sw / dw, fx1 = (double)(x + 1) * sw / dw;
			uint8_t *o = dst + ((size_t)y * dw + x) * 3;

			if (fx1 - fx0 >= 1.0 && fy1 - fy0 >= 1.0) {
				/* Shrinking: average the covered pixels. */
				int x0 = (int)fx0, x1 = (int)fx1, y0 = (int)fy0, y1 = (int)fy1;
				unsigned sum[3] = { 0, 0, 0 }, n = 0;
				if (x1 <= x0)
					x1 = x0 + 1;
				if (y1 <= y0)
					y1 = y0 + 1;
				if (x1 > sw)
					x1 = sw;
				if (y1 > sh)
					y1 = sh;
				for (int yy = y0; yy < y1; yy++)
					for (int xx = x0; xx < x1; xx++) {
						const uint8_t *p = src + ((size_t)yy * sw + xx) * 3;
						sum[0] += p[0];
						sum[1] += p[1];
						sum[2] += p[2];
						n++;
					}
				for (int c = 0; c < 3; c++)
					o[c] = (uint8_t)((sum[c] + n / 2) / n);
			} else {
				/* Growing: bilinear between the four nearest pixel centres. */
				double sx = (fx0 + fx1) / 2 - 0.5, sy = (fy0 + fy1) / 2 - 0.5;
				int ix, iy, ix1, iy1;
				double ax, ay;
				if (sx < 0)
					sx = 0;
				if (sy < 0)
					sy = 0;
				ix = (int)sx;
				iy = (int)sy;
				ax = sx - ix;
				ay = sy - iy;
				ix1 = ix + 1 < sw ? ix + 1 : sw - 1;
				iy1 = iy + 1 < sh ? iy + 1 : sh - 1;
				if (ix >= sw)
					ix = ix1 = sw - 1;
				if (iy >= sh)
					iy = iy1 = sh - 1;
				for (int c = 0; c < 3; c++) {
					double a = src[((size_t)iy * sw + ix) * 3 + c] * (1 - ax) +
					    src[((size_t)iy * sw + ix1) * 3 + c] * ax;
					double b = src[((size_t)iy1 * sw + ix) * 3 + c] * (1 - ax) +
					    src[((size_t)iy1 * sw + ix1) * 3 + c] * ax;
					o[c] = (uint8_t)(a * (1 - ay) + b * ay + 0.5);
				}
			}
		}
	}
}

/* ---- sixel encoding --------------------------------------------------- */

typedef struct {
	char *data;
	size_t len, cap;
	int failed;
} image_buf;

static int image_buf_write(char *data, int size, void *priv)
{
	image_buf *b = priv;

	if (b->failed || size <= 0)
		return size;
	if (b->len + (size_t)size + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16384;
		char *p;
		while (cap < b->len + (size_t)size + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL) {
			b->failed = 1;
			return size;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, (size_t)size);
	b->len += (size_t)size;
	b->data[b->len] = '\0';
	return size;
}

char *image_sixel_encode(const uint8_t *rgb, int w, int h, int colours, size_t *len,
    char **cause)
{
	sixel_output_t *out = NULL;
	sixel_dither_t *dither = NULL;
	image_buf buf = { 0 };
	unsigned char *pixels;
	SIXELSTATUS st;
	const char *what = "";

	/* libsixel takes non-const pixels; it does not write them, but copy to be sure. */
	pixels = malloc((size_t)w * h * 3);
	if (pixels == NULL) {
		what = "out of memory";
		goto fail;
	}
	memcpy(pixels, rgb, (size_t)w * h * 3);
	st = sixel_output_new(&out, image_buf_write, &buf, NULL);
	if (SIXEL_FAILED(st)) {
		what = "sixel_output_new";
		goto fail;
	}
	sixel_output_set_8bit_availability(out, 0);
	st = sixel_dither_new(&dither, colours, NULL);
	if (SIXEL_FAILED(st)) {
		what = "sixel_dither_new";
		goto fail;
	}
	st = sixel_dither_initialize(dither, pixels, w, h, SIXEL_PIXELFORMAT_RGB888,
	    SIXEL_LARGE_AUTO, SIXEL_REP_AUTO, SIXEL_QUALITY_AUTO);
	if (SIXEL_FAILED(st)) {
		what = "sixel_dither_initialize";
		goto fail;
	}
	sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_ATKINSON);
	st = sixel_encode(pixels, w, h, 3, dither, out);
	if (SIXEL_FAILED(st) || buf.failed || buf.len == 0) {
		what = buf.failed ? "out of memory" : "sixel_encode";
		goto fail;
	}
	sixel_dither_unref(dither);
	sixel_output_unref(out);
	free(pixels);
	*len = buf.len;
	return buf.data;
fail:
	util_set_cause(cause, "sixel: %s failed for a %dx%d picture", what, w, h);
	if (dither != NULL)
		sixel_dither_unref(dither);
	if (out != NULL)
		sixel_output_unref(out);
	free(pixels);
	free(buf.data);
	return NULL;
}

/* ---- kitty encoding --------------------------------------------------- */

/* Base64 payload bytes per APC chunk (the protocol's limit). */
#define IMAGE_KITTY_CHUNK 4096

char *image_kitty_encode(const uint8_t *rgb, int w, int h, uint32_t id, size_t *len,
    char **cause)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t raw = (size_t)w * h * 3, enc = (raw + 2) / 3 * 4;
	size_t chunks = (enc + IMAGE_KITTY_CHUNK - 1) / IMAGE_KITTY_CHUNK;
	/* The first chunk's keys, then per chunk "ESC _ G m=1 ; ... ESC \". */
	size_t cap = enc + 128 + chunks * 16 + 1, n = 0, done = 0;
	char *out, *payload;

	if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
		util_set_cause(cause, "kitty: a %dx%d picture cannot be sent", w, h);
		return NULL;
	}
	out = malloc(cap);
	payload = malloc(enc + 1);
	if (out == NULL || payload == NULL) {
		free(out);
		free(payload);
		util_set_cause(cause, "kitty: out of memory for a %dx%d picture", w, h);
		return NULL;
	}
	for (size_t i = 0, k = 0; i < raw; i += 3) {
		uint32_t v = (uint32_t)rgb[i] << 16;
		size_t have = raw - i;
		if (have > 1)
			v |= (uint32_t)rgb[i + 1] << 8;
		if (have > 2)
			v |= rgb[i + 2];
		payload[k++] = b64[v >> 18 & 63];
		payload[k++] = b64[v >> 12 & 63];
		payload[k++] = have > 1 ? b64[v >> 6 & 63] : '=';
		payload[k++] = have > 2 ? b64[v & 63] : '=';
	}
	while (done < enc) {
		size_t part = enc - done < IMAGE_KITTY_CHUNK ? enc - done : IMAGE_KITTY_CHUNK;
		int more = done + part < enc;
		if (done == 0 && id == 0)
			n += (size_t)snprintf(out + n, cap - n, "\033_Ga=T,f=24,s=%d,v=%d,q=2,m=%d;",
			    w, h, more);
		else if (done == 0)
			n += (size_t)snprintf(out + n, cap - n, "\033_Ga=t,i=%u,f=24,s=%d,v=%d,q=2,m=%d;",
			    id, w, h, more);
		else
			n += (size_t)snprintf(out + n, cap - n, "\033_Gm=%d;", more);
		memcpy(out + n, payload + done, part);
		n += part;
		memcpy(out + n, "\033\\", 2);
		n += 2;
		done += part;
	}
	out[n] = '\0';
	free(payload);
	*len = n;
	return out;
}

/* kitty: tell the terminal to forget image id (its data and placements). */
static void image_kitty_forget(image_reg *r, uint32_t id)
{
	char cmd[64];
	int n = snprintf(cmd, sizeof cmd, "\033_Ga=d,d=I,i=%u,q=2\033\\", id);

	(void)util_write_all(r->fd, cmd, (size_t)n);
}

/* The cached encoding of (key, w, h), encoding rgb on a miss; NULL on failure. */
static image_cached *image_cache_get(image_reg *r, uint64_t key, int w, int h,
    const uint8_t *rgb, int iw, int ih)
{
	image_cached *slot = NULL, *c;
	uint8_t *scaled;
	double t0;

	for (int i = 0; i < IMAGE_CACHE_ENTRIES; i++) {
		c = &r->cache[i];
		if (c->data != NULL && c->key == key && c->w == w && c->h == h) {
			c->used = ++r->clock;
			return c;
		}
	}
	if (rgb == NULL)
		return NULL;
	/* Evict least recently used entries until one slot and the byte budget are free. */
	for (;;) {
		image_cached *lru = NULL;
		int free_slot = 0;
		for (int i = 0; i < IMAGE_CACHE_ENTRIES; i++) {
			c = &r->cache[i];
			if (c->data == NULL) {
				if (slot == NULL)
					slot = c;
				free_slot = 1;
			} else if (lru == NULL || c->used < lru->used) {
				lru = c;
			}
		}
		if (free_slot && r->cache_bytes < IMAGE_CACHE_BYTES)
			break;
		if (lru == NULL)
			break;
		r->cache_bytes -= lru->len;
		if (lru->sent)
			image_kitty_forget(r, lru->id);
		free(lru->data);
		lru->data = NULL;
		lru->sent = 0;
		slot = lru;
	}
	if (slot == NULL)
		return NULL;
	t0 = image_now_ms();
	scaled = malloc((size_t)w * h * 3);
	if (scaled == NULL)
		return NULL;
	image_scale(rgb, iw, ih, scaled, w, h);
	if (r->mode == IMAGE_KITTY) {
		slot->id = r->next_id++;
		if (r->next_id == 0) /* ids are 1 .. 2^32 - 1 */
			r->next_id = 1;
		slot->data = image_kitty_encode(scaled, w, h, slot->id, &slot->len, NULL);
	} else {
		slot->data = image_sixel_encode(scaled, w, h, r->colours, &slot->len, NULL);
	}
	slot->sent = 0;
	free(scaled);
	if (slot->data == NULL)
		return NULL;
	slot->key = key;
	slot->w = w;
	slot->h = h;
	slot->used = ++r->clock;
	r->cache_bytes += slot->len;
	{
		double ms = image_now_ms() - t0;
		r->stats.encodes++;
		r->stats.encode_ms += ms;
		if (ms > r->stats.encode_max_ms)
			r->stats.encode_max_ms = ms;
	}
	return slot;
}

/* ---- placing ------------------------------------------------------------ */

void image_fit_cells(const image_reg *r, int iw, int ih, int rows, int cols, int *used_rows,
    int *used_cols)
{
	double pw, ph; /* the picture's size in cell units */

	*used_rows = *used_cols = 0;
	if (r->mode == IMAGE_NONE || iw <= 0 || ih <= 0 || rows <= 0 || cols <= 0)
		return;
	/* Scale so that it fits both ways, in pixels of the cell size. */
	pw = (double)cols * r->cell_w;
	ph = (double)ih * pw / iw;
	if (ph > (double)rows * r->cell_h) {
		ph = (double)rows * r->cell_h;
		pw = (double)iw * ph / ih;
	}
	*used_cols = (int)(pw / r->cell_w + 0.5);
	*used_rows = (int)(ph / r->cell_h + 0.5);
	if (*used_cols < 1)
		*used_cols = 1;
	if (*used_rows < 1)
		*used_rows = 1;
	if (*used_cols > cols)
		*used_cols = cols;
	if (*used_rows > rows)
		*used_rows = rows;
}

/* " .:-=+*#%@" by luminance, for blocks without colour. */
static char image_ramp(const uint8_t *p)
{
	static const char ramp[] = " .:-=+*#%@";
	int lum = (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000;

	return ramp[lum * 10 / 256];
}

static void image_draw_blocks(image_reg *r, const uint8_t *rgb, int iw, int ih, int y, int x,
    int rows, int cols)
{
	int sub = r->utf8 && colour_get_depth() != COLOUR_NONE ? 2 : 1;
	uint8_t *px = malloc((size_t)cols * rows * sub * 3);

	if (px == NULL)
		return;
	image_scale(rgb, iw, ih, px, cols, rows * sub);
	for (int row = 0; row < rows; row++) {
		for (int col = 0; col < cols; col++) {
			const uint8_t *top = px + ((size_t)(row * sub) * cols + col) * 3;
			const uint8_t *bot = px + ((size_t)(row * sub + sub - 1) * cols + col) * 3;
			uint32_t ct = (uint32_t)top[0] << 16 | (uint32_t)top[1] << 8 | top[2];
			uint32_t cb = (uint32_t)bot[0] << 16 | (uint32_t)bot[1] << 8 | bot[2];
			cchar_t cc;
			wchar_t wc[2] = { L' ', L'\0' };
			int pair;

			if (colour_get_depth() == COLOUR_NONE) {
				wc[0] = (wchar_t)image_ramp(top);
				pair = 0;
			} else if (sub == 2) {
				wc[0] = 0x2580; /* ▀ upper half block */
				pair = colour_pair(ct, cb);
			} else {
				pair = colour_pair(COLOUR_DEFAULT, ct);
			}
			setcchar(&cc, wc, A_NORMAL, 0, &pair);
			mvadd_wch(y + row, x + col, &cc);
		}
	}
	free(px);
}

void image_frame_begin(image_reg *r)
{
	r->n_want = 0;
	r->encode_spent = 0;
	r->deferred = 0;
}

int image_reg_deferred(const image_reg *r)
{
	return r->deferred;
}

void image_place(image_reg *r, uint64_t key, const uint8_t *rgb, int iw, int ih, int y, int x,
    int rows, int cols, int *used_rows, int *used_cols)
{
	int ur, uc;

	image_fit_cells(r, iw, ih, rows, cols, &ur, &uc);
	if (used_rows != NULL)
		*used_rows = ur;
	if (used_cols != NULL)
		*used_cols = uc;
	if (ur == 0 || uc == 0 || rgb == NULL)
		return;
	if (r->mode == IMAGE_BLOCKS) {
		image_draw_blocks(r, rgb, iw, ih, y, x, ur, uc);
		return;
	}
	/* Sixel, kitty: blank the cells, so curses never has text under the picture. */
	for (int row = 0; row < ur; row++)
		mvhline(y + row, x, ' ', uc);
	if (r->n_want < IMAGE_MAX_PLACED) {
		image_placed *p = &r->want[r->n_want];
		double pw = (double)uc * r->cell_w, ph = (double)ih * pw / iw;
		if (ph > (double)ur * r->cell_h) {
			ph = (double)ur * r->cell_h;
			pw = (double)iw * ph / ih;
		}
		p->key = key;
		p->y = y;
		p->x = x;
		p->rows = ur;
		p->cols = uc;
		p->w = (int)pw;
		p->h = (int)ph;
		if (p->w < 1)
			p->w = 1;
		if (p->h < 1)
			p->h = 1;
		if (p->w > IMAGE_MAX_SIDE)
			p->w = IMAGE_MAX_SIDE;
		if (p->h > IMAGE_MAX_SIDE)
			p->h = IMAGE_MAX_SIDE;
		/* Encode now while rgb is at hand (emission finds it cached), within the budget. */
		if (image_cache_get(r, key, p->w, p->h, NULL, 0, 0) == NULL &&
		    r->encode_spent >= IMAGE_ENCODE_BUDGET_MS) {
			r->deferred++;
		} else {
			double t0 = image_now_ms();
			if (image_cache_get(r, key, p->w, p->h, rgb, iw, ih) != NULL)
				r->n_want++;
			r->encode_spent += image_now_ms() - t0;
		}
	}
}

/* ---- refreshing --------------------------------------------------------- */

static int image_same_cell(const cchar_t *a, const cchar_t *b)
{
	wchar_t wa[CCHARW_MAX + 1], wb[CCHARW_MAX + 1];
	attr_t aa, ab;
	short sa, sb;
	int pa = 0, pb = 0;

	if (getcchar(a, wa, &aa, &sa, &pa) == ERR || getcchar(b, wb, &ab, &sb, &pb) == ERR)
		return 0;
	return aa == ab && pa == pb && wcscmp(wa, wb) == 0;
}

static int image_same_place(const image_placed *a, const image_placed *b)
{
	return a->key == b->key && a->y == b->y && a->x == b->x && a->rows == b->rows &&
	    a->cols == b->cols && a->w == b->w && a->h == b->h;
}

/* A cell curses treats as blank: a space without attributes or colour. */
static int image_blank_cell(const cchar_t *c)
{
	wchar_t w[CCHARW_MAX + 1];
	attr_t a;
	short s;
	int pair = 0;

	return getcchar(c, w, &a, &s, &pair) != ERR && w[0] == L' ' && w[1] == L'\0' &&
	    (a & ~A_CHARTEXT) == 0 && pair == 0;
}

/*
 * What curses may rewrite on a row, from the last frame to this one: it
 * writes from the first changed cell through the last, and may clear from
 * the first change to the end of the line when the new line is blank from
 * `tail` on.  So an image is damaged when a row's change starts left of
 * its right edge and either reaches its left edge or the row is blank
 * from inside the image to the end.
 */
typedef struct {
	int first, last; /* changed cells, -1 when none */
	int tail;        /* the new row is blank from here to the end */
} image_row;

static int image_row_damages(const image_row *row, int x, int right)
{
	return row->first >= 0 && row->first <= right && (row->last >= x || row->tail <= right);
}

/*
 * kitty: after curses has drawn the frame, delete the placements that went
 * away or moved, then send (once) and place the new ones.  Text never
 * erases a kitty picture, so nothing else needs rewriting; a full repaint
 * deletes every placement first (the terminal may have dropped them with
 * the screen).
 */
static int image_frame_end_kitty(image_reg *r, int full)
{
	int written = 0;
	char cmd[160];

	if (full || r->prev_rows != LINES || r->prev_cols != COLS)
		r->invalid = 1;
	if (full)
		clearok(curscr, TRUE);
	wnoutrefresh(stdscr);
	doupdate();
	if (r->invalid) {
		static const char all[] = "\033_Ga=d,d=a,q=2\033\\";
		(void)util_write_all(r->fd, all, sizeof all - 1);
		r->n_shown = 0;
	}
	for (int i = 0; i < r->n_shown; i++) {
		const image_placed *s = &r->shown[i];
		image_cached *c;
		int kept = 0;
		for (int j = 0; j < r->n_want && !kept; j++)
			kept = image_same_place(s, &r->want[j]);
		if (kept || (c = image_cache_get(r, s->key, s->w, s->h, NULL, 0, 0)) == NULL || !c->sent)
			continue;
		snprintf(cmd, sizeof cmd, "\033_Ga=d,d=i,i=%u,p=%u,q=2\033\\", c->id,
		    IMAGE_KITTY_PLACEMENT(s));
		(void)util_write_all(r->fd, cmd, strlen(cmd));
	}
	for (int i = 0; i < r->n_want; i++) {
		const image_placed *p = &r->want[i];
		image_cached *c;
		int found = 0;
		double t0 = image_now_ms();
		size_t bytes = 0;

		for (int j = 0; j < r->n_shown && !found; j++)
			found = image_same_place(p, &r->shown[j]);
		if (found || (c = image_cache_get(r, p->key, p->w, p->h, NULL, 0, 0)) == NULL)
			continue;
		if (!c->sent) {
			if (util_write_all(r->fd, c->data, c->len) != 0)
				continue;
			c->sent = 1;
			bytes += c->len;
		}
		/* At its cell, the cursor saved and restored around it (C=1: not moved). */
		snprintf(cmd, sizeof cmd, "\0337\033[%d;%dH\033_Ga=p,i=%u,p=%u,C=1,q=2\033\\\0338",
		    p->y + 1, p->x + 1, c->id, IMAGE_KITTY_PLACEMENT(p));
		if (util_write_all(r->fd, cmd, strlen(cmd)) == 0) {
			double ms = image_now_ms() - t0;
			written++;
			r->stats.emits++;
			r->stats.emit_ms += ms;
			r->stats.emit_bytes += bytes + strlen(cmd);
			if (ms > r->stats.emit_max_ms)
				r->stats.emit_max_ms = ms;
		}
	}
	memcpy(r->shown, r->want, sizeof r->want[0] * (size_t)r->n_want);
	r->n_shown = r->n_want;
	r->prev_rows = LINES;
	r->prev_cols = COLS;
	r->invalid = 0;
	return written;
}

int image_frame_end(image_reg *r, int full)
{
	int rows = LINES, cols = COLS, cy, cx, written = 0;
	image_row *dmg = NULL; /* [rows] */
	cchar_t *now = NULL;

	if (r->mode == IMAGE_KITTY)
		return image_frame_end_kitty(r, full);
	if (r->mode != IMAGE_SIXEL) {
		if (full)
			clearok(curscr, TRUE);
		wnoutrefresh(stdscr);
		doupdate();
		return 0;
	}
	if (full || r->prev == NULL || r->prev_rows != rows || r->prev_cols != cols)
		r->invalid = 1;
	getyx(stdscr, cy, cx);
	dmg = malloc(sizeof *dmg * (size_t)(rows > 0 ? rows : 1));
	now = calloc((size_t)rows * cols + 1, sizeof *now);
	if (dmg == NULL || now == NULL)
		r->invalid = 1;
	for (int y = 0; y < rows && now != NULL && dmg != NULL; y++) {
		const cchar_t *nr = now + (size_t)y * cols;
		mvwin_wchnstr(stdscr, y, 0, now + (size_t)y * cols, cols);
		dmg[y].first = dmg[y].last = -1;
		dmg[y].tail = cols;
		while (dmg[y].tail > 0 && image_blank_cell(&nr[dmg[y].tail - 1]))
			dmg[y].tail--;
		if (r->invalid)
			continue;
		for (int x = 0; x < cols; x++)
			if (!image_same_cell(&nr[x], &r->prev[(size_t)y * cols + x])) {
				if (dmg[y].first < 0)
					dmg[y].first = x;
				dmg[y].last = x;
			}
	}
	/* Images that went away or moved: have curses rewrite their lines. */
	if (!r->invalid && dmg != NULL) {
		for (int i = 0; i < r->n_shown; i++) {
			const image_placed *s = &r->shown[i];
			int kept = 0;
			for (int j = 0; j < r->n_want && !kept; j++)
				kept = image_same_place(s, &r->want[j]);
			if (kept)
				continue;
			for (int y = s->y; y < s->y + s->rows && y < rows; y++) {
				dmg[y].first = 0;
				dmg[y].last = cols - 1;
			}
			wredrawln(stdscr, s->y, s->rows);
		}
	}
	wmove(stdscr, cy, cx);
	if (r->invalid)
		clearok(curscr, full ? TRUE : FALSE);
	wnoutrefresh(stdscr);
	doupdate();

	/* Write every placed image that is new or whose cells were rewritten. */
	for (int i = 0; i < r->n_want; i++) {
		const image_placed *p = &r->want[i];
		int need = r->invalid || dmg == NULL, found = 0;
		image_cached *c;
		char pos[48];
		double t0;

		for (int j = 0; j < r->n_shown && !found; j++)
			found = image_same_place(p, &r->shown[j]);
		if (!found)
			need = 1;
		for (int y = p->y; y < p->y + p->rows && y < rows && !need; y++)
			need = image_row_damages(&dmg[y], p->x, p->x + p->cols - 1);
		if (!need)
			continue;
		t0 = image_now_ms();
		c = image_cache_get(r, p->key, p->w, p->h, NULL, 0, 0);
		if (c == NULL)
			continue;
		/* Save the cursor (DECSC), go to the cell, draw, restore (DECRC). */
		snprintf(pos, sizeof pos, "\0337\033[%d;%dH", p->y + 1, p->x + 1);
		if (util_write_all(r->fd, pos, strlen(pos)) == 0 &&
		    util_write_all(r->fd, c->data, c->len) == 0 &&
		    util_write_all(r->fd, "\0338", 2) == 0) {
			double ms = image_now_ms() - t0;
			written++;
			r->stats.emits++;
			r->stats.emit_ms += ms;
			r->stats.emit_bytes += c->len + strlen(pos) + 2;
			if (ms > r->stats.emit_max_ms)
				r->stats.emit_max_ms = ms;
		}
	}
	memcpy(r->shown, r->want, sizeof r->want[0] * (size_t)r->n_want);
	r->n_shown = r->n_want;
	if (now != NULL) {
		free(r->prev);
		r->prev = now;
		r->prev_rows = rows;
		r->prev_cols = cols;
		now = NULL;
		r->invalid = 0;
	}
	free(now);
	free(dmg);
	return written;
}
