/*
 * screen — draws a tui_view into stdscr: the query line, the ranked list,
 * the detail pane (best frame, granularity breakdown, word × frame
 * heatmap with its frame strip), the status line and the help overlay.
 * Pure drawing: the event loop decides when (STYLE.md rule 8).
 *
 * Layout (the detail pane only when the screen is wide enough):
 *
 *   row 0        query line                               mode tabs
 *   row 1        list header, range     │ detail header
 *   rows 2..H-2  ranked list            │ best frame   file, rank, moment
 *                                       │ breakdown bars (ω·z, ω; z)
 *                                       │ frame strip, token × frame heatmap
 *   row H-1      status line
 *
 * The detail page (d, F2) draws the detail pane over rows 1..H-2 at the
 * whole width instead of the list: on a narrow screen it is the only way to
 * the picture, the breakdown and the heatmap.  Nothing is drawn over
 * anything else: each part gets its columns and truncates within them.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "colour.h"
#include "provide-curses.h"
#include "tui.h"

/* Below this width the detail pane is left out. */
#define SCREEN_DETAIL_MIN_COLS 96

/* ---- text --------------------------------------------------------------- */

static int screen_is_format_char(wchar_t wc)
{
	/* Bidirectional overrides and invisible formatting: shown escaped. */
	return (wc >= 0x200b && wc <= 0x200f) || (wc >= 0x202a && wc <= 0x202e) ||
	    (wc >= 0x2060 && wc <= 0x206f) || wc == 0xfeff || (wc >= 0xfff9 && wc <= 0xfffb);
}

static size_t screen_push(wchar_t *out, size_t n, const char *ascii)
{
	while (*ascii != '\0')
		out[n++] = (wchar_t)(unsigned char)*ascii++;
	return n;
}

wchar_t *screen_safe_text(const char *s, int *width)
{
	size_t len = strlen(s), n = 0;
	wchar_t *out = malloc(sizeof *out * (len * 10 + 1)); /* at most "\u{XXXXXX}" per byte */
	mbstate_t st;
	int w = 0;

	if (out == NULL) {
		*width = 0;
		return NULL;
	}
	memset(&st, 0, sizeof st);
	for (size_t i = 0; i < len;) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s + i, len - i, &st);
		char esc[16];

		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			memset(&st, 0, sizeof st);
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)s[i]);
			n = screen_push(out, n, esc);
			w += 4;
			i++;
			continue;
		}
		if (wc < 0x20 || wc == 0x7f || (wc >= 0x80 && wc < 0xa0)) {
			for (size_t j = 0; j < k; j++) {
				snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)s[i + j]);
				n = screen_push(out, n, esc);
				w += 4;
			}
		} else if (screen_is_format_char(wc) || wcwidth(wc) < 0) {
			int m = snprintf(esc, sizeof esc, "\\u{%04x}", (unsigned)wc);
			n = screen_push(out, n, esc);
			w += m;
		} else {
			out[n++] = wc;
			w += wcwidth(wc);
		}
		i += k;
	}
	out[n] = L'\0';
	*width = w;
	return out;
}

void screen_format_time(double t, char *buf, size_t size)
{
	long s;

	if (!(t >= 0) || isinf(t)) {
		snprintf(buf, size, "-");
		return;
	}
	s = (long)t;
	if (s >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* Tenths of a second: "0.5s" under a minute, "m:ss.d" (or "h:mm:ss.d") above. */
static void screen_format_tenths(double t, char *buf, size_t size)
{
	long d;

	if (!(t >= 0) || isinf(t)) {
		snprintf(buf, size, "-");
		return;
	}
	d = (long)(t * 10 + 0.5);
	if (d < 600)
		snprintf(buf, size, "%ld.%lds", d / 10, d % 10);
	else if (d < 36000)
		snprintf(buf, size, "%ld:%02ld.%ld", d / 600, d / 10 % 60, d % 10);
	else
		snprintf(buf, size, "%ld:%02ld:%02ld.%ld", d / 36000, d / 600 % 60, d / 10 % 60, d % 10);
}

/* Whether labels fit width and no two neighbours read the same. */
static int screen_labels_ok(int F, int width, char (*labels)[16])
{
	/* "-" (padding, no time) may repeat: it reads as "no frame" anyway. */
	for (int f = 0; f < F; f++) {
		if ((int)strlen(labels[f]) > width)
			return 0;
		if (f > 0 && strcmp(labels[f], "-") != 0 && strcmp(labels[f], labels[f - 1]) == 0)
			return 0;
	}
	return 1;
}

int screen_frame_labels(const double *t, int F, int width, char (*labels)[16])
{
	if (t != NULL) {
		for (int f = 0; f < F; f++)
			screen_format_time(t[f], labels[f], sizeof labels[f]);
		if (screen_labels_ok(F, width, labels))
			return 1;
		for (int f = 0; f < F; f++) {
			char tmp[64];
			screen_format_tenths(t[f], tmp, sizeof tmp);
			snprintf(labels[f], sizeof labels[f], "%.15s", tmp);
		}
		if (screen_labels_ok(F, width, labels))
			return 10;
	}
	for (int f = 0; f < F; f++)
		snprintf(labels[f], sizeof labels[f], "%d", f + 1);
	return 0;
}

/* Set the attributes and a colour pair (0: none) for what follows. */
static void screen_style(attr_t a, int pair)
{
	attr_set(a, 0, &pair);
}

/* The pair for a foreground colour on the default background. */
static int screen_fg(uint32_t rgb)
{
	return colour_pair(rgb, COLOUR_DEFAULT);
}

#define SCREEN_ACCENT 0x5fafd7u
#define SCREEN_GOOD 0x87d75fu
#define SCREEN_WARN 0xffaf00u
#define SCREEN_BAD 0xff5f5fu
#define SCREEN_DIM 0x8a8a8au

/*
 * Draw wide text at (y, x) in at most maxw columns; truncate with an
 * ellipsis.  Returns the columns used.
 */
static int screen_put_w(const tui_view *v, int y, int x, int maxw, const wchar_t *ws, int wsw)
{
	int used = 0;

	if (maxw <= 0 || ws == NULL)
		return 0;
	if (wsw <= maxw) {
		mvaddwstr(y, x, ws);
		return wsw;
	}
	move(y, x);
	for (const wchar_t *p = ws; *p != L'\0'; p++) {
		int cw = wcwidth(*p);
		if (cw < 0)
			cw = 1;
		if (used + cw > maxw - 1)
			break;
		addnwstr(p, 1);
		used += cw;
	}
	addstr(v->utf8 ? "\xe2\x80\xa6" : "~");
	return used + 1;
}

/* Draw the bytes s made safe (file names, tokens, messages). */
static int screen_put(const tui_view *v, int y, int x, int maxw, const char *s)
{
	int w, used;
	wchar_t *ws = screen_safe_text(s, &w);

	used = screen_put_w(v, y, x, maxw, ws, w);
	free(ws);
	return used;
}

static int screen_text_width(const char *s)
{
	int w;
	wchar_t *ws = screen_safe_text(s, &w);

	free(ws);
	return w;
}

/* A glyph by locale: the UTF-8 one or an ASCII stand-in. */
static const char *screen_glyph(const tui_view *v, const char *utf8, const char *ascii)
{
	return v->utf8 ? utf8 : ascii;
}

/*
 * A horizontal bar of width cells filled to frac (0..1), in eighths with
 * UTF-8 block elements.
 */
static void screen_bar(const tui_view *v, int y, int x, int width, double frac, uint32_t rgb)
{
	static const char *const eighths[8] = {
		"", "\xe2\x96\x8f", "\xe2\x96\x8e", "\xe2\x96\x8d", "\xe2\x96\x8c",
		"\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89",
	};
	int units, full, part, pair = screen_fg(rgb);

	if (width <= 0)
		return;
	if (!(frac > 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	units = (int)(frac * width * 8 + 0.5);
	full = units / 8;
	part = units % 8;
	move(y, x);
	screen_style(A_NORMAL, pair);
	for (int i = 0; i < full; i++)
		addstr(v->utf8 ? "\xe2\x96\x88" : "#");
	if (part > 0 && full < width) {
		addstr(v->utf8 ? eighths[part] : (part >= 4 ? "+" : "-"));
		full++;
	}
	screen_style(A_DIM, screen_fg(SCREEN_DIM));
	for (int i = full; i < width; i++)
		addstr(v->utf8 ? "\xc2\xb7" : ".");
	screen_style(A_NORMAL, 0);
}

/* ---- query line and header ---------------------------------------------- */

const char *screen_mode_label(const tui_view *v, search_model m)
{
	int j = (int)m - ENGINE_MODE_EXTRA;

	switch (m) {
	case SEARCH_TCMGC: return "TC-MGC";
	case SEARCH_EA: return "EA";
	case SEARCH_FUSED: return "fused";
	}
	return j >= 0 && j < v->info.extra_modes ? v->info.extra_names[j] : "?";
}

int screen_mode_order(const tui_view *v, search_model out[TUI_MODES])
{
	int n = 0;

	out[n++] = SEARCH_TCMGC;
	out[n++] = SEARCH_EA;
	for (int j = 0; j < v->info.extra_modes && n < TUI_MODES - 1; j++)
		out[n++] = (search_model)(ENGINE_MODE_EXTRA + j);
	out[n++] = SEARCH_FUSED;
	return n;
}

/* The mode tabs at the right of row 0; returns their first column. */
static int screen_draw_modes(const tui_view *v)
{
	search_model order[TUI_MODES];
	int n = screen_mode_order(v, order), w = 0, x;

	for (int i = 0; i < n; i++)
		w += (int)strlen(screen_mode_label(v, order[i])) + 3;
	w += 4; /* "Tab " */
	x = COLS - w;
	if (x < COLS / 2)
		return COLS;
	screen_style(A_DIM, 0);
	mvaddstr(0, x, "Tab ");
	x += 4;
	for (int i = 0; i < n; i++) {
		search_model m = order[i];
		const char *l = screen_mode_label(v, m);
		if (m == v->mode) {
			screen_style(A_BOLD | A_REVERSE, screen_fg(SCREEN_ACCENT));
			mvprintw(0, x, "[%s]", l);
		} else {
			screen_style(v->mode_ok[m] ? A_NORMAL : A_DIM, 0);
			mvprintw(0, x, " %s ", l);
		}
		x += (int)strlen(l) + 3;
	}
	screen_style(A_NORMAL, 0);
	return COLS - w;
}

/* Row 0; leaves *cy, *cx at the text cursor. */
static void screen_draw_query(const tui_view *v, int *cy, int *cx)
{
	const char *prompt = v->search_prompt != NULL ? v->search_prompt
	    : screen_glyph(v, " \xe2\x9d\xaf ", " > ");
	int right = screen_draw_modes(v), pw, x, avail, total, curw, start = 0, col;
	char *before;
	wchar_t *ws, *wb;

	screen_style(A_BOLD, v->focus == TUI_FOCUS_QUERY ? screen_fg(SCREEN_ACCENT) : 0);
	pw = screen_put(v, 0, 0, right - 10, prompt);
	screen_style(A_NORMAL, 0);
	x = pw;
	avail = right - 1 - x;
	if (avail < 4)
		avail = 4;
	before = strndup(v->text, (size_t)v->point);
	ws = screen_safe_text(v->text, &total);
	wb = screen_safe_text(before != NULL ? before : "", &curw);
	if (ws != NULL && wb != NULL) {
		/* Scroll horizontally so the cursor stays visible. */
		int skipped = 0;
		while (curw - skipped > avail - 1 && ws[start] != L'\0') {
			int w = wcwidth(ws[start]);
			skipped += w > 0 ? w : 1;
			start++;
		}
		col = x;
		if (v->selected)
			screen_style(A_REVERSE, 0);
		move(0, x);
		for (const wchar_t *p = ws + start; *p != L'\0'; p++) {
			int w = wcwidth(*p);
			if (w < 0)
				w = 1;
			if (col + w > x + avail)
				break;
			addnwstr(p, 1);
			col += w;
		}
		screen_style(A_NORMAL, 0);
		*cy = 0;
		*cx = x + curw - skipped;
	} else {
		*cy = 0;
		*cx = x;
	}
	if (v->text[0] == '\0' && v->search_prompt == NULL) {
		screen_style(A_DIM, 0);
		mvaddnstr(0, x, "type to search your videos", avail);
		screen_style(A_NORMAL, 0);
	}
	free(before);
	free(ws);
	free(wb);
}

/* ---- the list ------------------------------------------------------------ */

static int screen_list_width(void)
{
	int w;

	if (COLS < SCREEN_DETAIL_MIN_COLS)
		return COLS;
	w = COLS * 2 / 5;
	if (w < 44)
		w = 44;
	if (w > 72)
		w = 72;
	return w;
}

int screen_list_rows(void)
{
	int n = LINES - 3;

	return n > 1 ? n : 1;
}

static const char *screen_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

static void screen_draw_list(tui_view *v, int y0, int rows, int width)
{
	const engine_result *r = v->res;
	float lo = 0, hi = 0;
	int barw = width >= 56 ? 8 : (width >= 46 ? 5 : 0);

	int head_end = 17 + (barw > 0 ? barw + 1 : 0); /* "   #  " bar "score  file" */

	screen_style(A_BOLD | A_UNDERLINE, 0);
	mvhline(1, 0, ' ', width);
	mvprintw(1, 0, "   #  %*sscore  file", barw > 0 ? barw + 1 : 0, "");
	mvaddstr(1, width - 14, "  best  length");
	screen_style(A_NORMAL, 0);
	if (r == NULL || r->nhits == 0) {
		const char *msg;
		screen_style(A_DIM, 0);
		if (v->open_failed)
			msg = "the index could not be opened (see below)";
		else if (!v->opened)
			msg = "opening the index...";
		else if (v->text[0] == '\0')
			msg = "type a query: results appear as you type";
		else if (r != NULL && r->library == 0)
			msg = v->index_roots ? "no videos indexed yet: indexing..." : "the index has no videos";
		else if (r == NULL)
			msg = "searching...";
		else
			msg = "no results";
		mvaddnstr(y0 + 1, 3, msg, width - 4);
		screen_style(A_NORMAL, 0);
		return;
	}
	if (v->sel >= r->nhits)
		v->sel = r->nhits - 1;
	if (v->sel < 0)
		v->sel = 0;
	if (v->sel < v->top)
		v->top = v->sel;
	if (v->sel >= v->top + rows)
		v->top = v->sel - rows + 1;
	if (v->top < 0)
		v->top = 0;
	lo = hi = r->hits[0].score;
	for (int i = 0; i < r->nhits; i++) {
		if (r->hits[i].score < lo)
			lo = r->hits[i].score;
		if (r->hits[i].score > hi)
			hi = r->hits[i].score;
	}
	for (int row = 0; row < rows && v->top + row < r->nhits; row++) {
		int i = v->top + row, y = y0 + row, x = 0, namew;
		const engine_hit *h = &r->hits[i];
		char best[16], dur[16];
		int sel = i == v->sel;
		attr_t base = sel ? (v->focus == TUI_FOCUS_LIST ? A_REVERSE : A_REVERSE | A_DIM) : A_NORMAL;
		double frac = hi > lo ? (h->score - lo) / (hi - lo) * 0.85 + 0.15 : 1.0;

		screen_style(base, 0);
		mvhline(y, 0, ' ', width);
		mvprintw(y, 0, "%4d ", h->rank);
		x = 5;
		if (barw > 0) {
			screen_bar(v, y, x, barw, frac, SCREEN_GOOD);
			x += barw + 1;
		}
		screen_style(base | A_BOLD, 0);
		mvprintw(y, x, "%6.2f ", (double)h->score);
		x += 7;
		screen_format_time(h->best_time, best, sizeof best);
		screen_format_time(h->duration > 0 ? h->duration : NAN, dur, sizeof dur);
		namew = width - x - 16;
		screen_style(base, 0);
		if (h->segments > 1) {
			/* A long video's segment: its range after the name. */
			char label[512], a[16], b[16];
			screen_format_time(h->seg_start, a, sizeof a);
			screen_format_time(h->seg_end, b, sizeof b);
			snprintf(label, sizeof label, "%s  %s-%s", screen_basename(h->path), a, b);
			screen_put(v, y, x, namew, label);
		} else {
			screen_put(v, y, x, namew, screen_basename(h->path));
		}
		mvprintw(y, width - 15, " %6s %7s", best, dur);
	}
	screen_style(A_NORMAL, 0);
	if (r->nhits > rows) {
		/* Which hits show: in the header, between "file" and "best" (on a
		 * hit's row it would cover its length), left out when no room. */
		char range[48];
		int n = snprintf(range, sizeof range, " %d-%d/%d ", v->top + 1,
		    v->top + rows < r->nhits ? v->top + rows : r->nhits, r->nhits);
		if (width - 14 - n >= head_end + 1) {
			screen_style(A_BOLD | A_UNDERLINE, 0);
			mvaddstr(1, width - 14 - n, range);
		}
		screen_style(A_NORMAL, 0);
	}
}

/* ---- the detail pane ----------------------------------------------------- */

/* The picture of frame f of the selected hit, or NULL. */
static const uint8_t *screen_frame_rgb(const tui_view *v, int f, int *w, int *h)
{
	const thumb_set *t = v->thumbs;

	if (t == NULL || f < 0 || f >= t->n || t->rgb[f] == NULL)
		return NULL;
	*w = t->w[f];
	*h = t->h[f];
	return t->rgb[f];
}

static uint64_t screen_frame_key(int64_t video_id, int f)
{
	return (uint64_t)video_id << 8 | (uint64_t)(f & 0xff);
}

/* The file block beside the best frame; returns the rows used. */
static int screen_draw_file(const tui_view *v, const engine_hit *h, int y, int x, int w)
{
	char buf[128], t1[16], t2[16];
	char *dir = strdup(h->path);
	int row = 0;

	screen_style(A_BOLD, 0);
	screen_put(v, y + row++, x, w, screen_basename(h->path));
	screen_style(A_DIM, 0);
	if (dir != NULL) {
		char *slash = strrchr(dir, '/');
		if (slash != NULL) {
			*slash = '\0';
			screen_put(v, y + row, x, w, dir[0] != '\0' ? dir : "/");
		}
		row++;
		free(dir);
	}
	screen_style(A_NORMAL, 0);
	snprintf(buf, sizeof buf, "rank %d of %zu", h->rank, v->res->library);
	screen_put(v, y + row++, x, w, buf);
	screen_format_time(h->best_time, t1, sizeof t1);
	if (h->best_time >= 0 && !isinf(h->best_time)) {
		/* To the tenth, as the frame labels may be: frame 2 at 0.5 s is not "0:00". */
		long d = (long)(h->best_time * 10 + 0.5);
		screen_format_time((double)(d / 10), t1, sizeof t1);
		if (d % 10 != 0)
			snprintf(t1 + strlen(t1), sizeof t1 - strlen(t1), ".%ld", d % 10);
	}
	snprintf(buf, sizeof buf, "best moment %s (frame %d of %d)", t1, h->best_frame + 1,
	    h->n_frames);
	screen_put(v, y + row++, x, w, buf);
	if (h->segments > 1) {
		char a[16], b[16];
		screen_format_time(h->seg_start, a, sizeof a);
		screen_format_time(h->seg_end, b, sizeof b);
		snprintf(buf, sizeof buf, "segment %d of %d, %s-%s", h->segment + 1, h->segments,
		    a, b);
		screen_put(v, y + row++, x, w, buf);
	}
	screen_format_time(h->duration > 0 ? h->duration : NAN, t2, sizeof t2);
	snprintf(buf, sizeof buf, "duration %s", t2);
	screen_put(v, y + row++, x, w, buf);
	screen_style(A_BOLD, screen_fg(SCREEN_ACCENT));
	snprintf(buf, sizeof buf, "score %.3f (%s)", (double)h->score, (int)v->mode >= ENGINE_MODE_EXTRA ?
	    v->res->mode_name : screen_mode_label(v, v->res->mode));
	screen_put(v, y + row++, x, w, buf);
	screen_style(A_NORMAL, 0);
	return row;
}

/* Why a head's numbers are missing: the mode leaves it out, or there is no such head. */
static const char *screen_unused(const char *head_file)
{
	return head_file != NULL ? "not used in this mode (Tab switches)" : "this model has no such head";
}

/*
 * A column heading at (y, x) in at most cols columns, none past right:
 * long (UTF-8 or ASCII form) when it fits, else short, else nothing.
 */
static void screen_heading(const tui_view *v, int y, int x, int cols, int right,
    const char *long_utf8, const char *long_ascii, const char *short_utf8, const char *short_ascii)
{
	const char *l = screen_glyph(v, long_utf8, long_ascii);
	const char *sh = screen_glyph(v, short_utf8, short_ascii);

	if (x + cols > right)
		cols = right - x;
	if (screen_text_width(l) <= cols)
		mvaddstr(y, x, l);
	else if (screen_text_width(sh) <= cols)
		mvaddstr(y, x, sh);
}

/*
 * The four granularities: a bar for each one's contribution ω·z to the
 * TC-MGC score and one for its weight ω, with the similarity z as a
 * number (the four z are often nearly equal: what tells them apart is ω).
 * Then the final and EA scores.
 */
static int screen_draw_breakdown(const tui_view *v, const engine_hit *h, int y, int x, int w,
    int max_rows)
{
	int row = 0, spare = w - 15 - 9 - 19, cb, wb; /* name, contribution, weight and z numbers */
	float cmax = 0;
	char buf[160];

	if (max_rows <= 0)
		return 0;
	if (spare < 0)
		spare = 0;
	cb = spare * 2 / 3;
	wb = spare - cb;
	if (cb > 20)
		cb = 20;
	if (wb > 10)
		wb = 10;
	if (isnan(h->tcmgc)) {
		screen_style(A_DIM, 0);
		snprintf(buf, sizeof buf, "TC-MGC breakdown: %s", screen_unused(v->info.tcmgc_model));
		mvaddnstr(y + row++, x, buf, w);
	} else {
		for (int g = 0; g < 4; g++)
			if (fabsf(h->omega[g] * h->z[g]) > cmax)
				cmax = fabsf(h->omega[g] * h->z[g]);
		screen_style(A_DIM | A_UNDERLINE, 0);
		move(y + row, x);
		hline(' ', w);
		mvaddnstr(y + row, x, "granularity", w);
		/* Each heading within its columns: the long name, else the symbol. */
		screen_heading(v, y + row, x + 15, cb + 8, x + w, "contribution \xcf\x89\xc2\xb7z",
		    "contribution w*z", "\xcf\x89\xc2\xb7z", "w*z");
		screen_heading(v, y + row, x + 15 + cb + 9, wb + 6, x + w, "weight \xcf\x89", "weight w",
		    "\xcf\x89", "w");
		screen_heading(v, y + row, x + w - 12, 12, x + w, "similarity z", "similarity z", "z", "z");
		row++;
		screen_style(A_NORMAL, 0);
		for (int g = 0; g < 4 && row < max_rows; g++) {
			float c = h->omega[g] * h->z[g];
			int cx = x + 15;
			mvaddnstr(y + row, x, engine_granularity_name(g), w);
			if (cb > 0)
				screen_bar(v, y + row, cx, cb, cmax > 0 ? fabsf(c) / cmax : 0,
				    c >= 0 ? SCREEN_GOOD : SCREEN_BAD);
			cx += cb;
			snprintf(buf, sizeof buf, " %7.3f ", (double)c);
			mvaddnstr(y + row, cx, buf, x + w - cx);
			cx += 9;
			if (wb > 0 && cx + wb < x + w)
				screen_bar(v, y + row, cx, wb, h->omega[g], SCREEN_ACCENT);
			cx += wb;
			if (cx < x + w) {
				snprintf(buf, sizeof buf, " %5.3f %12.3f", (double)h->omega[g], (double)h->z[g]);
				mvaddnstr(y + row, cx, buf, x + w - cx);
			}
			row++;
		}
		if (row < max_rows) {
			screen_style(A_BOLD, 0);
			snprintf(buf, sizeof buf, "TC-MGC final score (sum of %s) %.3f",
			    v->utf8 ? "\xcf\x89\xc2\xb7z" : "w*z", (double)h->tcmgc);
			mvaddnstr(y + row++, x, buf, w);
			screen_style(A_NORMAL, 0);
		}
	}
	if (row < max_rows) {
		screen_style(isnan(h->ea) ? A_DIM : A_BOLD, 0);
		if (isnan(h->ea))
			snprintf(buf, sizeof buf, "EA score: %s", screen_unused(v->info.ea_model));
		else
			snprintf(buf, sizeof buf, "EA score %.3f", (double)h->ea);
		mvaddnstr(y + row++, x, buf, w);
		screen_style(A_NORMAL, 0);
	}
	return row;
}

/* One heatmap cell for value t in 0..1. */
static void screen_heat_cell(const tui_view *v, int y, int x, int width, float t, const char *mark)
{
	static const char *const shades_utf8[5] = {
		" ", "\xe2\x96\x91", "\xe2\x96\x92", "\xe2\x96\x93", "\xe2\x96\x88",
	};
	static const char *const shades_ascii[5] = { " ", ".", ":", "*", "#" };
	int level;

	if (!(t >= 0))
		t = 0;
	if (t > 1)
		t = 1;
	level = (int)(t * 4 + 0.5f);
	if (colour_get_depth() >= COLOUR_256) {
		uint32_t bg = colour_heat(t);
		/* A mark in black on light cells, white on dark ones. */
		uint32_t fg = t > 0.6f ? 0x000000u : 0xffffffu;
		screen_style(mark != NULL ? A_BOLD : A_NORMAL, colour_pair(fg, bg));
		mvhline(y, x, ' ', width);
		if (mark != NULL)
			mvaddstr(y, x + (width - 1) / 2, mark);
	} else {
		/* Few or no colours: the shade glyph carries the value, the colour helps. */
		int pair = colour_get_depth() != COLOUR_NONE ? colour_pair(colour_heat(t), COLOUR_DEFAULT) : 0;
		screen_style(mark != NULL ? A_BOLD | A_REVERSE : A_NORMAL, pair);
		move(y, x);
		for (int i = 0; i < width; i++)
			addstr(v->utf8 ? shades_utf8[level] : shades_ascii[level]);
		if (mark != NULL)
			mvaddstr(y, x + (width - 1) / 2, mark);
	}
	screen_style(A_NORMAL, 0);
}

/* A row of F per-frame values (normalised by the row's maximum). */
static void screen_heat_row(const tui_view *v, int y, int x, int cw, int F, const float *vals,
    int mark_frame, const char *mark)
{
	float mx = 0;

	for (int f = 0; f < F; f++)
		if (vals[f] > mx)
			mx = vals[f];
	for (int f = 0; f < F; f++)
		screen_heat_cell(v, y, x + f * cw, cw - 1, mx > 0 ? vals[f] / mx : 0,
		    f == mark_frame ? mark : NULL);
}

/*
 * The heatmap's legend on one row: the colour ramp from low to high (each
 * row is scaled to its own maximum) and the marks.  Pieces that do not fit
 * in w are left out whole.
 */
static void screen_draw_legend(const tui_view *v, int y, int x, int w)
{
	const char *pieces[4][2] = {
		{ screen_glyph(v, "\xc2\xb7", "."), " word's best frame" },
		{ screen_glyph(v, "\xe2\x97\x86", "*"), " selected word's" },
		{ screen_glyph(v, "\xe2\x98\x85", "*"), " best moment" },
		{ "reverse", ": selected word" },
	};
	int col = x;

	if (w < 16)
		return;
	screen_style(A_DIM, 0);
	mvaddstr(y, col, "low ");
	col += 4;
	for (int i = 0; i < 5; i++)
		screen_heat_cell(v, y, col + i, 1, (float)i / 4, NULL);
	col += 5;
	screen_style(A_DIM, 0);
	mvaddstr(y, col, " high");
	col += 5;
	for (int i = 0; i < 4; i++) {
		int n = 2 + (int)strlen(pieces[i][1]) + (i == 3 ? 7 : 1);
		if (col + n > x + w)
			break;
		screen_style(i == 3 ? A_REVERSE : A_BOLD, 0);
		mvaddstr(y, col + 2, pieces[i][0]);
		screen_style(A_DIM, 0);
		addstr(pieces[i][1]);
		col += n;
	}
	screen_style(A_NORMAL, 0);
}

/*
 * The heatmap's title row; when the token rows do not all fit, a mark at
 * its right says how many are above and below the ones shown (w/W scroll).
 */
static void screen_draw_heat_title(const tui_view *v, int y, int x, int w, int ntok, int first,
    int shown)
{
	char mark[64] = "";
	int above = first, below = ntok - first - shown, mw;

	if (below < 0)
		below = 0;
	if (ntok > 0 && (above > 0 || below > 0)) {
		int n = 0;
		if (above > 0)
			n += snprintf(mark + n, sizeof mark - (size_t)n, "%s%d ",
			    screen_glyph(v, "\xe2\x86\x91", "^"), above);
		if (below > 0)
			n += snprintf(mark + n, sizeof mark - (size_t)n, "%s%d ",
			    screen_glyph(v, "\xe2\x86\x93", "v"), below);
		snprintf(mark + n, sizeof mark - (size_t)n, "more (w/W)");
	}
	mw = screen_text_width(mark);
	if (mw > w)
		mw = 0;
	screen_style(A_DIM | A_UNDERLINE, 0);
	mvhline(y, x, ' ', w - mw);
	if (w - mw - 1 > 0)
		mvaddnstr(y, x, w - mw >= 42 ? "word x frame attention  (w/W: next word)"
		    : "word x frame attention", w - mw - 1);
	if (mw > 0) {
		screen_style(A_BOLD | A_UNDERLINE, screen_fg(SCREEN_WARN));
		mvaddstr(y, x + w - mw, mark);
	}
	screen_style(A_NORMAL, 0);
}

static void screen_draw_heatmap(tui_view *v, const engine_hit *h, int y, int x, int w, int rows)
{
	const engine_result *r = v->res;
	int F = h->n_frames, lab = 10, cw, strip_rows = 0, row = 0, ntok = r->n_tokens;
	int extra = (h->sent_attn != NULL) + (h->ea_exc != NULL) + (h->ea_agg != NULL);
	int tok_rows, first_tok = 0, word_frame = -1, title_y;
	char buf[96], (*labels)[16];

	if (F <= 0 || rows < 3)
		return;
	for (int t = 0; t < ntok; t++) {
		engine_token_label(r->tokens[t], buf, sizeof buf);
		int tw = screen_text_width(buf) + 1;
		if (tw > lab)
			lab = tw;
	}
	if (lab > 16)
		lab = 16;
	cw = (w - lab) / F;
	if (cw > 10)
		cw = 10;
	if (cw < 2) {
		screen_style(A_DIM, 0);
		mvaddnstr(y, x, "(widen the terminal for the word x frame attention)", w);
		screen_style(A_NORMAL, 0);
		return;
	}
	if (v->word >= ntok)
		v->word = ntok > 0 ? ntok - 1 : 0;
	if (h->word_best != NULL && ntok > 0)
		word_frame = h->word_best[v->word];

	/* The title, once it is known whether all the tokens fit (below). */
	title_y = y + row++;
	if (rows >= 6)
		screen_draw_legend(v, y + row++, x, w);

	/* The frame strip: every frame's thumbnail above its column. */
	if (image_reg_mode(v->images) != IMAGE_NONE && !v->help) {
		int want = rows - row - 2 - extra - (ntok < 3 ? ntok : 3);
		if (want > 5)
			want = 5;
		for (int f = 0; f < F && want > 0; f++) {
			int iw, ih, ur, uc;
			const uint8_t *rgb = screen_frame_rgb(v, f, &iw, &ih);
			if (rgb == NULL)
				continue;
			image_fit_cells(v->images, iw, ih, want, cw - 1, &ur, &uc);
			if (ur > strip_rows)
				strip_rows = ur;
		}
		for (int f = 0; f < F && strip_rows > 0; f++) {
			int iw, ih;
			const uint8_t *rgb = screen_frame_rgb(v, f, &iw, &ih);
			if (rgb != NULL)
				image_place(v->images, screen_frame_key(engine_segment_key(h->video_id,
				    h->segment), f), rgb, iw, ih,
				    y + row, x + lab + f * cw, strip_rows, cw - 1, NULL, NULL);
		}
		row += strip_rows;
	}
	/*
	 * Frame labels: times, as fine as it takes for neighbours to differ
	 * (frames half a second apart would read 0:00 0:00 0:01), else frame
	 * numbers; the best moment and the word's frame marked.
	 */
	labels = malloc(sizeof *labels * (size_t)F);
	if (labels != NULL)
		screen_frame_labels(h->frame_times, F, cw - 1, labels);
	for (int f = 0; f < F && labels != NULL; f++) {
		screen_style((f == h->best_frame ? A_BOLD : A_DIM) | (f == word_frame ? A_REVERSE : 0),
		    f == h->best_frame ? screen_fg(SCREEN_WARN) : 0);
		mvaddnstr(y + row, x + lab + f * cw, labels[f], cw - 1);
	}
	free(labels);
	screen_style(A_DIM, 0);
	mvaddnstr(y + row, x, "frame", lab - 1);
	screen_style(A_NORMAL, 0);
	row++;

	tok_rows = rows - row - extra;
	if (tok_rows < 1)
		tok_rows = 1;
	/* Keep the highlighted word in view; w/W scroll. */
	if (v->word >= tok_rows)
		first_tok = v->word - tok_rows + 1;
	screen_draw_heat_title(v, title_y, x, w, h->word_attn != NULL ? ntok : 0, first_tok,
	    tok_rows);
	if (h->word_attn == NULL || ntok == 0) {
		screen_style(A_DIM, 0);
		snprintf(buf, sizeof buf, "word attention: TC-MGC %s", v->info.tcmgc_model != NULL ?
		    "is not used in this mode (Tab switches)" : "is not in this model");
		mvaddnstr(y + row++, x, buf, w);
		screen_style(A_NORMAL, 0);
	} else {
		for (int t = first_tok; t < ntok && t < first_tok + tok_rows; t++) {
			int selrow = t == v->word;
			engine_token_label(r->tokens[t], buf, sizeof buf);
			screen_style(selrow ? A_REVERSE | A_BOLD : A_NORMAL, 0);
			mvhline(y + row, x, ' ', lab - 1);
			screen_put(v, y + row, x, lab - 1, buf);
			screen_style(A_NORMAL, 0);
			screen_heat_row(v, y + row, x + lab, cw, F, h->word_attn + (size_t)t * F,
			    h->word_best != NULL ? h->word_best[t] : -1,
			    selrow ? screen_glyph(v, "\xe2\x97\x86", "*") : screen_glyph(v, "\xc2\xb7", "."));
			row++;
		}
	}
	if (h->sent_attn != NULL && row < rows) {
		mvaddnstr(y + row, x, "sentence", lab - 1);
		screen_heat_row(v, y + row++, x + lab, cw, F, h->sent_attn, h->best_frame,
		    screen_glyph(v, "\xe2\x98\x85", "*"));
	}
	if (h->ea_exc != NULL && row < rows) {
		mvaddnstr(y + row, x, "EA excite", lab - 1);
		screen_heat_row(v, y + row++, x + lab, cw, F, h->ea_exc, -1, NULL);
	}
	if (h->ea_agg != NULL && row < rows) {
		mvaddnstr(y + row, x, "EA aggr", lab - 1);
		screen_heat_row(v, y + row++, x + lab, cw, F, h->ea_agg, -1, NULL);
	}
}

/*
 * The selected clip in (y, x, rows, w): its best frame beside the file,
 * the breakdown, the heatmap; the heading on row 1.  The same drawing
 * serves the pane beside the list and the detail page.
 */
static void screen_draw_detail(tui_view *v, int y, int x, int w, int rows)
{
	const engine_hit *h;
	int top_rows = 0, used = 0, iw, ih, ur = 0, uc = 0, textx = x;
	const uint8_t *rgb;
	/* Short screens give the blank rows between the parts to the heatmap. */
	int thumb_rows, bd, gap = rows >= 26 ? 1 : 0;

	screen_style(A_BOLD | A_UNDERLINE, 0);
	mvhline(1, x, ' ', w);
	mvaddnstr(1, x, "selected clip", w);
	if (v->page) {
		const char *back = "Enter/Esc: back to the list   j/k: next/previous clip";
		int bw = (int)strlen(back);
		if (bw > w - 15)
			back = "Enter/Esc: back", bw = (int)strlen(back);
		if (bw <= w - 15)
			mvaddstr(1, x + w - bw, back);
	}
	screen_style(A_NORMAL, 0);
	if (v->res == NULL || v->res->nhits == 0 || v->sel < 0 || v->sel >= v->res->nhits)
		return;
	h = &v->res->hits[v->sel];

	/*
	 * The best frame, as large as a third of the pane allows; on short
	 * screens only as tall as the file block beside it, so that the
	 * heatmap keeps some token rows.
	 */
	thumb_rows = rows < 30 ? 6 : rows / 3;
	if (thumb_rows > 12)
		thumb_rows = 12;
	if (thumb_rows < 6)
		thumb_rows = 6;
	rgb = screen_frame_rgb(v, h->best_frame, &iw, &ih);
	if (image_reg_mode(v->images) != IMAGE_NONE && !v->help) {
		int tw = w * 2 / 5;
		if (rgb != NULL) {
			image_place(v->images, screen_frame_key(engine_segment_key(h->video_id,
			    h->segment), h->best_frame), rgb, iw, ih,
			    y, x, thumb_rows, tw, &ur, &uc);
		} else {
			screen_style(A_DIM, 0);
			mvaddnstr(y + 1, x + 1, v->thumbs == NULL ? "loading..." : "no thumbnail", tw - 1);
			screen_style(A_NORMAL, 0);
			uc = tw < 14 ? tw : 14;
			ur = 3;
		}
		textx = x + uc + 2;
	}
	used = screen_draw_file(v, h, y, textx, x + w - textx);
	top_rows = ur > used ? ur : used;
	y += top_rows + gap;
	rows -= top_rows + gap;
	bd = screen_draw_breakdown(v, h, y, x, w, rows);
	y += bd + gap;
	rows -= bd + gap;
	if (rows > 2)
		screen_draw_heatmap(v, h, y, x, w, rows);
}

/* ---- status line and help ----------------------------------------------- */

/*
 * The status line's right part: the hit count, the key for the detail page
 * (the only way to the picture, breakdown and heatmap when the screen is
 * too narrow for the pane beside the list: d in the list, F2 from the
 * query line; on the page, the way back) and F1.  Pieces are dropped,
 * timing first, until it takes at most max columns.
 */
static void screen_status_right(const tui_view *v, char *right, size_t size, int max)
{
	const char *key = v->page ? "Enter/Esc back | "
	    : v->res != NULL && v->res->nhits > 0
	    ? (v->focus == TUI_FOCUS_LIST ? "d detail | " : "F2 detail | ") : "";
	char hits[64] = "";

	if (v->searching)
		snprintf(hits, sizeof hits, "searching... | ");
	else if (v->res != NULL)
		snprintf(hits, sizeof hits, "%d hits %.1f ms | ", v->res->nhits, v->last_ms);
	snprintf(right, size, " %s%sF1 help ", hits, key);
	if ((int)strlen(right) > max && v->res != NULL && !v->searching) {
		snprintf(hits, sizeof hits, "%d hits | ", v->res->nhits);
		snprintf(right, size, " %s%sF1 help ", hits, key);
	}
	if ((int)strlen(right) > max)
		snprintf(right, size, " %sF1 help ", key);
	if ((int)strlen(right) > max)
		snprintf(right, size, " F1 help ");
	if ((int)strlen(right) > max)
		right[0] = '\0';
}

static void screen_draw_status(tui_view *v)
{
	char left[512], right[160];
	int y = LINES - 1, x = 0, end;

	/* The right part first: what is left of the line is the left part's. */
	screen_status_right(v, right, sizeof right, COLS * 3 / 5);
	end = COLS - (int)strlen(right);
	screen_style(A_REVERSE, 0);
	mvhline(y, 0, ' ', COLS);
	if (v->message[0] != '\0') {
		screen_style(A_REVERSE | A_BOLD, v->message_error ? colour_pair(0xffffffu, 0xaf0000u) : 0);
		x += screen_put(v, y, 1, end - 2, v->message) + 2;
		screen_style(A_REVERSE, 0);
	}
	if (v->open_failed)
		snprintf(left, sizeof left, "no index");
	else if (!v->opened)
		snprintf(left, sizeof left, "opening the index...");
	else {
		/* "1 video", "36 videos", "2 videos, 260 segments" (long videos are cut) */
		char count[64];
		int n = snprintf(count, sizeof count, "%zu video%s", v->info.videos,
		    v->info.videos == 1 ? "" : "s");
		if (v->info.segments > v->info.videos && n > 0 && (size_t)n < sizeof count)
			snprintf(count + n, sizeof count - (size_t)n, ", %zu segments", v->info.segments);
		if (v->info.damaged > 0)
			snprintf(left, sizeof left, "%s (%zu damaged, skipped: run 'clipgrep index')",
			    count, v->info.damaged);
		else if (v->info.unindexed > 0)
			snprintf(left, sizeof left, "%s (%zu not searchable)", count, v->info.unindexed);
		else
			snprintf(left, sizeof left, "%s", count);
	}
	/* which form the heads run in: a CLIP-only model gives the training-free ones */
	if (v->opened && (v->info.tcmgc_training_free || v->info.ea_training_free))
		snprintf(left + strlen(left), sizeof left - strlen(left), " | %s: training-free",
		    !v->info.ea_training_free ? "TC-MGC" : !v->info.tcmgc_training_free ? "EA" : "heads");
	if (v->progress.indexing) {
		size_t n = strlen(left);
		if (!v->progress.walked)
			snprintf(left + n, sizeof left - n, " | indexing: scanning...");
		else
			snprintf(left + n, sizeof left - n, " | indexing %lld/%lld",
			    (long long)v->progress.files_done, (long long)v->progress.files_total);
	} else if (v->progress.done && v->index_roots) {
		size_t n = strlen(left);
		snprintf(left + n, sizeof left - n, " | indexed%s%s",
		    v->progress.failed > 0 ? ", some files failed" : "",
		    v->progress.stopped ? " (stopped)" : "");
	}
	if ((v->message[0] == '\0' || x < COLS / 2) && end - x - 2 > 0) {
		int lw;
		if (v->title != NULL) {
			screen_style(A_REVERSE | A_BOLD, 0);
			x += screen_put(v, y, x + 1, COLS / 3, v->title) + 2;
			screen_style(A_REVERSE, 0);
		}
		lw = end - x - 2 > 0 ? screen_put(v, y, x + 1, end - x - 2, left) : 0;
		/* An indexing bar and the file in hand. */
		if (v->progress.indexing && v->progress.walked && v->progress.files_total > 0) {
			int bx = x + 2 + lw, bw = 12;
			if (bx + bw + 20 < end - 2) {
				screen_bar(v, y, bx, bw,
				    (double)v->progress.files_done / (double)v->progress.files_total,
				    SCREEN_ACCENT);
				screen_style(A_REVERSE | A_DIM, 0);
				screen_put(v, y, bx + bw + 1, end - 2 - (bx + bw + 1),
				    screen_basename(v->progress.current));
			}
		}
	}
	screen_style(A_REVERSE, 0);
	if (right[0] != '\0')
		mvaddstr(y, end, right);
	screen_style(A_NORMAL, 0);
}

static const char *const screen_help_lines[] = {
	"clipgrep - keys",
	"",
	"Up/Down, j/k      move in the results (Up/Down also while typing)",
	"PgUp/PgDn, g/G    page, first, last",
	"Enter             in the query: search and go to the list;",
	"                  in the list: play the clip at its best moment",
	"                  (mpv --start=..., else xdg-open; $CLIPGREP_PLAYER)",
	"Tab, Shift-Tab    switch model: TC-MGC / EA / fused",
	"d, F2             the selected clip on the whole screen: picture,",
	"                  breakdown, heatmap (the only way to them on a",
	"                  narrow terminal); Enter/Esc/d go back, j/k change clip",
	"w, W              next / previous word in the attention heatmap",
	"                  (scrolls it: a mark says how many rows are hidden)",
	"s                 long videos: every matching segment / each video's best",
	"/                 edit the query;  Esc leaves it",
	"Ctrl-R            search the query history (readline keys work)",
	"Ctrl-L            redraw the screen",
	"F1 (anywhere), ?  this help (? in the list or an empty query line)",
	"q, Ctrl-C         quit",
	"",
	"Breakdown: for each granularity, its contribution w*z to the TC-MGC",
	"score (bar), its weight w (bar) and its similarity z; the score is",
	"the sum of the contributions.",
	"Heatmap rows are the query's tokens (<start>, the words, <end>); each",
	"cell is how much the word attends to that frame, scaled to the row's",
	"maximum: darker/blank low, brighter/full high.",
	"  .  each word's best frame     <>  the selected word's best frame",
	"  *  the best moment (sentence row; also the bold frame label)",
	"  reverse video: the selected word's row and its frame's label",
	"j/k or Up/Down scroll this help; any other key closes it.",
};

/*
 * The help box, centred; on a screen too short for all of it, the lines
 * from v->help_top (clamped here) with marks on the frame saying there is
 * more above or below (j/k, arrows scroll it).
 */
static void screen_draw_help(tui_view *v)
{
	enum { fixed = sizeof screen_help_lines / sizeof screen_help_lines[0] };
	const char *lines[fixed + 3];
	char terminal[sizeof v->terminal], *nl;
	int n = 0, w = 0, h, y0, x0, body;

	for (int i = 0; i < fixed; i++)
		lines[n++] = screen_help_lines[i];
	if (v->terminal[0] != '\0') {
		memcpy(terminal, v->terminal, sizeof terminal);
		lines[n++] = "";
		lines[n++] = terminal;
		if ((nl = strchr(terminal, '\n')) != NULL) {
			*nl = '\0';
			lines[n++] = nl + 1;
		}
	}
	for (int i = 0; i < n; i++)
		if ((int)strlen(lines[i]) > w)
			w = (int)strlen(lines[i]);
	w += 4;
	h = n + 2;
	if (w > COLS)
		w = COLS;
	if (h > LINES)
		h = LINES;
	body = h - 2;
	if (v->help_top > n - body)
		v->help_top = n - body;
	if (v->help_top < 0)
		v->help_top = 0;
	y0 = (LINES - h) / 2;
	x0 = (COLS - w) / 2;
	screen_style(A_NORMAL, 0);
	for (int y = 0; y < h; y++)
		mvhline(y0 + y, x0, ' ', w);
	mvhline(y0, x0, ACS_HLINE, w);
	mvhline(y0 + h - 1, x0, ACS_HLINE, w);
	mvvline(y0, x0, ACS_VLINE, h);
	mvvline(y0, x0 + w - 1, ACS_VLINE, h);
	mvaddch(y0, x0, ACS_ULCORNER);
	mvaddch(y0, x0 + w - 1, ACS_URCORNER);
	mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
	mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
	for (int i = 0; i < body; i++) {
		int k = v->help_top + i;
		screen_style(k == 0 ? A_BOLD : A_NORMAL, 0);
		screen_put(v, y0 + 1 + i, x0 + 2, w - 4, lines[k]);
	}
	screen_style(A_BOLD, screen_fg(SCREEN_WARN));
	if (v->help_top > 0 && w > 24)
		mvaddstr(y0, x0 + w - 22, screen_glyph(v, " \xe2\x86\x91 more (k, Up) ", " ^ more (k, Up) "));
	if (v->help_top + body < n && w > 24)
		mvaddstr(y0 + h - 1, x0 + w - 22,
		    screen_glyph(v, " \xe2\x86\x93 more (j, Down) ", " v more (j, Down) "));
	screen_style(A_NORMAL, 0);
}

void screen_draw(tui_view *v)
{
	int cy = 0, cx = 0, lw;

	erase();
	if (COLS < SCREEN_MIN_COLS || LINES < SCREEN_MIN_ROWS) {
		const char *msg = "terminal too small";
		char need[64];
		int y = LINES / 2 - 1;
		snprintf(need, sizeof need, "need %dx%d", SCREEN_MIN_COLS, SCREEN_MIN_ROWS);
		if (y < 0)
			y = 0;
		mvaddnstr(y, COLS > (int)strlen(msg) ? (COLS - (int)strlen(msg)) / 2 : 0, msg, COLS);
		if (LINES > 1)
			mvaddnstr(y + 1, COLS > (int)strlen(need) ? (COLS - (int)strlen(need)) / 2 : 0,
			    need, COLS);
		curs_set(0);
		return;
	}
	screen_draw_query(v, &cy, &cx);
	if (v->page && (v->res == NULL || v->res->nhits == 0))
		v->page = 0; /* nothing selected any more */
	lw = screen_list_width();
	if (v->page) {
		/* The detail page: the selected clip on the whole screen. */
		screen_draw_detail(v, 2, 1, COLS - 2, LINES - 3);
	} else {
		screen_draw_list(v, 2, screen_list_rows(), lw);
	}
	if (lw < COLS && !v->page) {
		screen_style(A_DIM, 0);
		mvvline(1, lw, ACS_VLINE, LINES - 2);
		screen_style(A_NORMAL, 0);
		screen_draw_detail(v, 2, lw + 2, COLS - lw - 3, LINES - 3);
	}
	screen_draw_status(v);
	if (v->help)
		screen_draw_help(v);
	if (v->focus == TUI_FOCUS_QUERY && !v->help) {
		move(cy, cx);
		curs_set(1);
	} else {
		move(LINES - 1, 0);
		curs_set(0);
	}
}
