/*
 * tui — the interactive screen's event loop (htop's model): one poll(2)
 * over the keyboard and the workers' wake-up pipe; key handlers return
 * TUI_* flags; only the loop redraws, once per turn, and then the image
 * registry writes the sixel pictures a repaint touched.
 *
 * The terminal is restored on every way out: a normal quit, a fatal
 * signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT: the loop is woken, cleans up,
 * then the signal is raised again with its default action so the exit
 * status tells), and, when the loop is not running or a second signal
 * comes, from the handler itself (tty_emergency_restore).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "colour.h"
#include "image.h"
#include "provide-curses.h"
#include "query.h"
#include "thumb.h"
#include "tty.h"
#include "tui.h"
#include "worker.h"

/* Key handler results (htop's HandlerResult). */
#define TUI_HANDLED 1u
#define TUI_REDRAW 2u
#define TUI_QUIT 4u
#define TUI_SEARCH 8u   /* the query or the mode changed: search again */
#define TUI_THUMBS 16u  /* the selection changed: ask for its thumbnails */
#define TUI_FULL 32u    /* repaint the whole screen */

#define TUI_TOP_K 50
#define TUI_THUMB_CACHE 48
/* How long a message stays in the status line. */
#define TUI_MESSAGE_SECONDS 6.0
/* Engine refreshes while indexing: at most one per this many seconds. */
#define TUI_REFRESH_SECONDS 1.0

/* Undoes the graphics mode we set; also sent by the signal-time restore. */
#define TUI_SIXEL_BEGIN "\033[?1070s\033[?1070h"
#define TUI_SIXEL_END "\033\\\033[?1070r"

typedef struct {
	const tui_options *opt;
	tui_view v;
	worker *w;
	thumb_cache *thumbs;
	engine_result *res;
	char *res_query;
	uint64_t seq;           /* last search asked for */
	uint64_t inflight;      /* the search the worker is running (0: none) */
	int want_search;        /* the query changed while one was in flight */
	int keep_selection;     /* the next answer keeps the selected video */
	int all_segments;       /* list every matching segment (key s), not each video's best */
	int64_t keep_id;
	double message_until;
	double last_refresh;
	int refresh_wanted;
	int full;               /* the next frame repaints everything */
	int mark;               /* CLIPGREP_TUI_MARK: write APC markers for the benchmark */
	uint64_t marked_seq;
	unsigned long frames;   /* frames drawn (for the markers) */
	int tty_fd;
	tty_caps caps;
	char *open_error;       /* why the index could not be opened: said again after endwin */
} tui;

static int tui_wake[2] = { -1, -1 };
static volatile sig_atomic_t tui_signal;   /* a fatal signal to act on */
static volatile sig_atomic_t tui_resized;
static volatile sig_atomic_t tui_suspend;
static volatile sig_atomic_t tui_continued;
static volatile sig_atomic_t tui_loop_running;

static double tui_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tui_options_init(tui_options *o)
{
	memset(o, 0, sizeof *o);
	o->images = -1;
	o->colours = -1;
	o->top_k = TUI_TOP_K;
}

/* ---- signals ------------------------------------------------------------- */

static void tui_poke(void)
{
	int saved = errno;
	char c = 's';

	if (tui_wake[1] >= 0 && write(tui_wake[1], &c, 1) == -1) {
		/* full pipe: a wake-up is pending anyway */
	}
	errno = saved;
}

static void tui_on_signal(int sig)
{
	switch (sig) {
	case SIGWINCH:
		tui_resized = 1;
		tui_poke();
		return;
	case SIGTSTP:
		tui_suspend = 1;
		tui_poke();
		return;
	case SIGCONT:
		tui_continued = 1;
		tui_poke();
		return;
	default:
		break;
	}
	if (tui_loop_running && tui_signal == 0) {
		tui_signal = sig;
		tui_poke();
		return;
	}
	/* No loop to clean up, or a second signal: restore here and die of it. */
	tty_emergency_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void tui_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP, SIGCONT };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = tui_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void tui_signals_reset(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP, SIGCONT };

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
}

/* ---- messages and searching ------------------------------------------- */

static void tui_message(tui *t, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tui_message(tui *t, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->v.message, sizeof t->v.message, fmt, ap);
	va_end(ap);
	t->v.message_error = error;
	t->message_until = tui_now() + TUI_MESSAGE_SECONDS;
}

static int64_t tui_selected_id(const tui *t)
{
	if (t->res == NULL || t->v.sel < 0 || t->v.sel >= t->res->nhits)
		return -1;
	return engine_segment_key(t->res->hits[t->v.sel].video_id, t->res->hits[t->v.sel].segment);
}

/* What the thumbnails of hit i are cached under: its segment. */
static int64_t tui_hit_key(const tui *t, int i)
{
	return engine_segment_key(t->res->hits[i].video_id, t->res->hits[i].segment);
}

/* Ask for a search of the current text (now if the worker is free). */
static void tui_search(tui *t)
{
	const char *text = query_text();

	if (!t->v.opened)
		return;
	if (engine_query_is_empty(text)) {
		engine_result_free(t->res);
		t->res = NULL;
		free(t->res_query);
		t->res_query = NULL;
		t->v.res = NULL;
		t->want_search = 0;
		t->v.searching = 0;
		return;
	}
	if (t->inflight != 0) {
		t->want_search = 1;
		return;
	}
	t->want_search = 0;
	t->inflight = ++t->seq;
	t->v.searching = 1;
	worker_search(t->w, text, t->v.mode, t->opt->top_k > 0 ? t->opt->top_k : TUI_TOP_K,
	    t->inflight);
}

/* The selected video first, then the next hits shown, for the thumbnail worker. */
static void tui_want_thumbs(tui *t)
{
	int64_t ids[12];
	int n = 0;

	if (t->res == NULL || image_reg_mode(t->v.images) == IMAGE_NONE)
		return;
	if (t->v.sel >= 0 && t->v.sel < t->res->nhits)
		ids[n++] = tui_hit_key(t, t->v.sel);
	for (int i = t->v.sel + 1; i < t->res->nhits && n < 6; i++)
		ids[n++] = tui_hit_key(t, i);
	for (int i = t->v.sel - 1; i >= 0 && n < 8; i--)
		ids[n++] = tui_hit_key(t, i);
	/* Only those not already decoded. */
	{
		int m = 0;
		for (int i = 0; i < n; i++)
			if (thumb_cache_get(t->thumbs, ids[i]) == NULL)
				ids[m++] = ids[i];
		n = m;
	}
	worker_want_thumbs(t->w, ids, n);
}

/* The first word token (after <|startoftext|>) is the default highlighted row. */
static int tui_first_word(const engine_result *r)
{
	return r != NULL && r->n_tokens > 2 ? 1 : 0;
}

static unsigned tui_take(tui *t)
{
	worker_out out;
	unsigned flags = 0;

	worker_take(t->w, &out);
	if (out.opened) {
		t->v.opened = 1;
		t->v.info = out.info;
		for (int m = 0; m < TUI_MODES; m++)
			t->v.mode_ok[m] = 0;
		t->v.mode_ok[SEARCH_TCMGC] = out.info.tcmgc_model != NULL;
		t->v.mode_ok[SEARCH_EA] = out.info.ea_model != NULL;
		t->v.mode_ok[SEARCH_FUSED] = t->v.mode_ok[SEARCH_TCMGC] && t->v.mode_ok[SEARCH_EA];
		for (int j = 0; j < out.info.extra_modes && ENGINE_MODE_EXTRA + j < TUI_MODES; j++) {
			search_model builtin;
			t->v.mode_ok[ENGINE_MODE_EXTRA + j] = 1;
			/* --mode naming an extra head: known only now (a built-in name wins). */
			if (t->opt->mode != NULL && strcmp(t->opt->mode, out.info.extra_names[j]) == 0 &&
			    engine_mode_parse(t->opt->mode, &builtin) == -1)
				t->v.mode = (search_model)(ENGINE_MODE_EXTRA + j);
		}
		if ((int)t->v.mode >= TUI_MODES || !t->v.mode_ok[t->v.mode]) {
			t->v.mode = t->v.mode_ok[SEARCH_FUSED] ? SEARCH_FUSED
			    : t->v.mode_ok[SEARCH_TCMGC] ? SEARCH_TCMGC : SEARCH_EA;
		}
		if (out.info.tcmgc_training_free || out.info.ea_training_free)
			tui_message(t, 0, "model runs training-free (CLIP weights only)");
		flags |= TUI_REDRAW | TUI_SEARCH;
	} else if (t->v.opened) {
		t->v.info = out.info; /* counts change with refreshes */
	}
	if (out.open_failed) {
		t->v.open_failed = 1;
		free(t->open_error);
		t->open_error = out.error != NULL ? strdup(out.error) : NULL;
		tui_message(t, 1, "%s", out.error != NULL ? out.error : "cannot open the index");
		flags |= TUI_REDRAW;
	} else if (out.error != NULL) {
		if (out.error_seq != 0 && out.error_seq == t->inflight) {
			t->inflight = 0;
			t->v.searching = 0;
			if (t->want_search)
				flags |= TUI_SEARCH;
		}
		tui_message(t, 1, "%s", out.error);
		flags |= TUI_REDRAW;
	}
	if (out.result != NULL) {
		int64_t keep = t->keep_selection ? t->keep_id : -1;
		engine_result_free(t->res);
		free(t->res_query);
		t->res = out.result;
		t->res_query = out.result_query;
		out.result = NULL;
		out.result_query = NULL;
		t->v.res = t->res;
		t->v.res_query = t->res_query;
		t->v.last_ms = out.result_ms;
		t->v.sel = 0;
		t->v.top = 0;
		for (int i = 0; keep >= 0 && i < t->res->nhits; i++)
			if (tui_hit_key(t, i) == keep)
				t->v.sel = i;
		t->keep_selection = 0;
		if (t->v.word < 1 || t->v.word >= t->res->n_tokens)
			t->v.word = tui_first_word(t->res);
		if (out.result_seq == t->inflight) {
			t->inflight = 0;
			t->v.searching = 0;
		}
		if (t->want_search)
			flags |= TUI_SEARCH;
		flags |= TUI_REDRAW | TUI_THUMBS;
	}
	for (int i = 0; i < out.n_thumbs; i++) {
		if (out.thumbs[i]->video_id == tui_selected_id(t))
			flags |= TUI_REDRAW;
		thumb_cache_put(t->thumbs, out.thumbs[i]);
		out.thumbs[i] = NULL;
	}
	if (out.refreshed > 0) {
		thumb_cache_clear(t->thumbs);
		/* New videos must not move the user's selection; the top stays the top. */
		t->keep_selection = t->v.sel > 0;
		t->keep_id = tui_selected_id(t);
		flags |= TUI_SEARCH | TUI_REDRAW;
	}
	if (out.progress_changed) {
		int was_indexing = t->v.progress.indexing;
		int64_t added_before = t->v.progress.added;
		t->v.progress = out.progress;
		if (out.progress.added > added_before || (was_indexing && !out.progress.indexing))
			t->refresh_wanted = 1;
		flags |= TUI_REDRAW;
	}
	if (out.index_error != NULL) {
		tui_message(t, 1, "indexing: %s", out.index_error);
		flags |= TUI_REDRAW;
	}
	worker_out_clear(&out);
	return flags;
}

/* ---- the player ------------------------------------------------------------ */

/* Whether prog is an executable in $PATH (or a path to one). */
static int tui_have_program(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0;
	if (path == NULL)
		path = "/usr/bin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");
		if (n > 0 && n + strlen(prog) + 2 < sizeof buf) {
			memcpy(buf, path, n);
			buf[n] = '/';
			strcpy(buf + n + 1, prog);
			if (access(buf, X_OK) == 0)
				return 1;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return 0;
}

/*
 * Start argv detached: its own session, no terminal (stdio on /dev/null),
 * not our child (double fork), so it neither draws over the screen nor
 * dies with us.  0, or -1.
 */
static int tui_spawn_detached(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		pid_t pid2;
		int fd;

		setsid();
		pid2 = fork();
		if (pid2 != 0)
			_exit(pid2 < 0 ? 1 : 0);
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static unsigned tui_open_selected(tui *t)
{
	const engine_hit *h;
	const char *player = getenv("CLIPGREP_PLAYER");
	char start[64], when[16];
	double at;
	int rc;

	if (t->res == NULL || t->v.sel < 0 || t->v.sel >= t->res->nhits)
		return TUI_HANDLED;
	h = &t->res->hits[t->v.sel];
	at = isnan(h->best_time) || h->best_time < 0 ? 0 : h->best_time;
	snprintf(start, sizeof start, "--start=%.3f", at);
	screen_format_time(at, when, sizeof when);
	query_history_add(query_text());
	/* Leave curses while another program starts, then come back whole. */
	def_prog_mode();
	endwin();
	if (player != NULL && player[0] != '\0') {
		char *argv[] = { (char *)player, start, (char *)"--", (char *)h->path, NULL };
		rc = tui_spawn_detached(argv);
		reset_prog_mode();
		if (rc == 0)
			tui_message(t, 0, "playing at %s with %s", when, player);
		else
			tui_message(t, 1, "could not start %s", player);
	} else if (tui_have_program("mpv")) {
		char *argv[] = { (char *)"mpv", start, (char *)"--", (char *)h->path, NULL };
		rc = tui_spawn_detached(argv);
		reset_prog_mode();
		if (rc == 0)
			tui_message(t, 0, "playing in mpv from %s", when);
		else
			tui_message(t, 1, "could not start mpv");
	} else if (tui_have_program("xdg-open")) {
		char *argv[] = { (char *)"xdg-open", (char *)h->path, NULL };
		rc = tui_spawn_detached(argv);
		reset_prog_mode();
		if (rc == 0)
			tui_message(t, 0, "opened with xdg-open (from the start: the best moment is %s)",
			    when);
		else
			tui_message(t, 1, "could not start xdg-open");
	} else {
		reset_prog_mode();
		tui_message(t, 1, "no player: install mpv (or set CLIPGREP_PLAYER); best moment %s", when);
	}
	image_reg_invalidate(t->v.images);
	return TUI_REDRAW | TUI_FULL;
}

/* ---- keys -------------------------------------------------------------------- */

static unsigned tui_move(tui *t, int delta, int absolute)
{
	int n = t->res != NULL ? t->res->nhits : 0, sel = t->v.sel;

	if (n == 0)
		return TUI_HANDLED;
	if (absolute)
		sel = delta < 0 ? 0 : n - 1;
	else
		sel += delta;
	if (sel < 0)
		sel = 0;
	if (sel >= n)
		sel = n - 1;
	if (sel == t->v.sel)
		return TUI_HANDLED;
	t->v.sel = sel;
	return TUI_REDRAW | TUI_THUMBS;
}

static unsigned tui_cycle_mode(tui *t, int dir)
{
	search_model order[TUI_MODES], m = t->v.mode;
	int n = screen_mode_order(&t->v, order), at = 0;

	for (int i = 0; i < n; i++)
		if (order[i] == m)
			at = i;
	for (int i = 0; i < n; i++) {
		at = (at + dir + n) % n;
		m = order[at];
		if (t->v.mode_ok[m])
			break;
	}
	if (m == t->v.mode) {
		tui_message(t, 0, "this model offers only %s", screen_mode_label(&t->v, m));
		return TUI_REDRAW;
	}
	t->v.mode = m;
	t->keep_selection = 1;
	t->keep_id = tui_selected_id(t);
	return TUI_REDRAW | TUI_SEARCH;
}

static unsigned tui_cycle_word(tui *t, int dir)
{
	int n = t->res != NULL ? t->res->n_tokens : 0;

	if (n == 0)
		return TUI_HANDLED;
	t->v.word = (t->v.word + dir + n) % n;
	return TUI_REDRAW;
}

/*
 * Open or close the detail page (the selected clip on the whole screen);
 * the list keeps the keyboard, so j/k change the clip shown.
 */
static unsigned tui_toggle_page(tui *t)
{
	if (!t->v.page && (t->res == NULL || t->res->nhits == 0)) {
		tui_message(t, 0, "no clip to show: type a query first");
		return TUI_REDRAW;
	}
	t->v.page = !t->v.page;
	t->v.focus = TUI_FOCUS_LIST;
	return TUI_REDRAW;
}

/* Keys of the detail page; 0 for those it leaves to the list's handlers. */
static unsigned tui_key_page(tui *t, int is_key, wint_t c)
{
	if (is_key) {
		switch (c) {
		case KEY_ENTER:
		case KEY_LEFT:
		case KEY_BACKSPACE: return tui_toggle_page(t);
		default: return 0;
		}
	}
	switch (c) {
	case '\r':
	case '\n':
	case 27:
	case 'q':
	case 'd':
	case 'h':
	case 0x7f: return tui_toggle_page(t);
	case '/':
	case 'i':
		t->v.page = 0;
		t->v.focus = TUI_FOCUS_QUERY;
		return TUI_REDRAW;
	default: return 0;
	}
}

/* Keys that do the same whichever part has the focus; 0 when not one of them. */
static unsigned tui_key_global(tui *t, int is_key, wint_t c)
{
	if (is_key) {
		switch (c) {
		case KEY_UP: return tui_move(t, -1, 0);
		case KEY_DOWN: return tui_move(t, 1, 0);
		case KEY_PPAGE: return tui_move(t, -screen_list_rows(), 0);
		case KEY_NPAGE: return tui_move(t, screen_list_rows(), 0);
		case KEY_BTAB: return tui_cycle_mode(t, -1);
		case KEY_F(1):
			t->v.help = !t->v.help;
			t->v.help_top = 0;
			return TUI_REDRAW;
		case KEY_F(2): return tui_toggle_page(t);
		case KEY_RESIZE: return TUI_HANDLED; /* SIGWINCH is ours */
		default: return 0;
		}
	}
	switch (c) {
	case '\t': return tui_cycle_mode(t, 1);
	case 3: return TUI_QUIT; /* Ctrl-C (the terminal is raw) */
	case 12: return TUI_REDRAW | TUI_FULL; /* Ctrl-L */
	case 26: tui_suspend = 1; return TUI_HANDLED; /* Ctrl-Z */
	default: return 0;
	}
}

static unsigned tui_key_list(tui *t, int is_key, wint_t c)
{
	if (is_key) {
		switch (c) {
		case KEY_HOME: return tui_move(t, -1, 1);
		case KEY_END: return tui_move(t, 1, 1);
		case KEY_ENTER: return tui_open_selected(t);
		default: return TUI_HANDLED;
		}
	}
	switch (c) {
	case 'j': return tui_move(t, 1, 0);
	case 'k': return tui_move(t, -1, 0);
	case 'g': return tui_move(t, -1, 1);
	case 'G': return tui_move(t, 1, 1);
	case 4: return tui_move(t, screen_list_rows() / 2, 0);  /* Ctrl-D */
	case 21: return tui_move(t, -screen_list_rows() / 2, 0); /* Ctrl-U */
	case '\r':
	case '\n': return tui_open_selected(t);
	case 'w': return tui_cycle_word(t, 1);
	case 'W': return tui_cycle_word(t, -1);
	case 'd': return tui_toggle_page(t);
	case 's':
		/* Long videos: every matching segment, or each video's best. */
		t->all_segments = !t->all_segments;
		worker_set_all_segments(t->w, t->all_segments);
		tui_message(t, 0, t->all_segments ? "every matching segment" :
		    "each video's best segment");
		return TUI_REDRAW | TUI_SEARCH;
	case '/':
	case 'i':
		t->v.focus = TUI_FOCUS_QUERY;
		return TUI_REDRAW;
	case '?':
		t->v.help = 1;
		t->v.help_top = 0;
		return TUI_REDRAW;
	case 'q':
	case 'Q': return TUI_QUIT;
	case 27: return TUI_HANDLED;
	default: return TUI_HANDLED;
	}
}

/* The bytes readline expects for a curses function key (its emacs bindings). */
static const char *tui_key_bytes(wint_t key)
{
	switch (key) {
	case KEY_LEFT: return "\033[D";
	case KEY_RIGHT: return "\033[C";
	case KEY_HOME: return "\033[H";
	case KEY_END: return "\033[F";
	case KEY_DC: return "\033[3~";
	case KEY_BACKSPACE: return "\177";
	case KEY_ENTER: return "\r";
	default: return NULL;
	}
}

static unsigned tui_feed(tui *t, const char *bytes, size_t n)
{
	unsigned q = query_feed(bytes, n), flags = TUI_HANDLED;

	if (q & QUERY_REDRAW)
		flags |= TUI_REDRAW;
	if (q & QUERY_CHANGED) {
		t->keep_selection = 0;
		flags |= TUI_SEARCH;
	}
	if (q & QUERY_ACCEPTED) {
		t->v.focus = TUI_FOCUS_LIST;
		flags |= TUI_REDRAW | TUI_SEARCH;
	}
	if (q & QUERY_EOF)
		flags |= TUI_QUIT;
	return flags;
}

static unsigned tui_key_query(tui *t, int is_key, wint_t c, int alt)
{
	char buf[MB_LEN_MAX + 2];
	size_t n = 0;

	if (t->v.selected) {
		/* The suggested query: a character replaces it, Backspace and
		 * Delete clear it, any other key (arrows, Home, End) keeps it. */
		t->v.selected = 0;
		if ((is_key && (c == KEY_BACKSPACE || c == KEY_DC)) ||
		    (!is_key && !alt && (c == 0x7f || c == 8))) {
			query_set_text("");
			t->keep_selection = 0;
			return TUI_REDRAW | TUI_SEARCH;
		}
		if (!is_key && !alt && c >= 0x20 && c != 0x7f)
			query_set_text("");
		if (is_key || alt || c < 0x20)
			return tui_key_query(t, is_key, c, alt) | TUI_REDRAW;
	}
	if (is_key) {
		const char *b = tui_key_bytes(c);
		return b != NULL ? tui_feed(t, b, strlen(b)) : TUI_HANDLED;
	}
	/* Help from the query line: ? when there is nothing to type it into. */
	if (c == '?' && !alt && query_text()[0] == '\0' && !query_busy()) {
		t->v.help = 1;
		t->v.help_top = 0;
		return TUI_REDRAW;
	}
	if (c == 27 && !alt && !query_busy()) {
		t->v.focus = TUI_FOCUS_LIST;
		return TUI_REDRAW;
	}
	if (alt)
		buf[n++] = '\033';
	if (c < 0x80) {
		buf[n++] = (char)c;
	} else {
		mbstate_t st;
		size_t k;
		memset(&st, 0, sizeof st);
		k = wcrtomb(buf + n, (wchar_t)c, &st);
		if (k == (size_t)-1)
			return TUI_HANDLED;
		n += k;
	}
	return tui_feed(t, buf, n);
}

static unsigned tui_key(tui *t, int is_key, wint_t c, int alt)
{
	unsigned f;

	if (t->v.help) {
		/* Any key closes the help; Ctrl-C still quits. */
		if (!is_key && c == 3)
			return TUI_QUIT;
		if (is_key && c == KEY_RESIZE)
			return TUI_HANDLED;
		/* A help taller than the screen scrolls; any other key closes it. */
		if ((is_key && (c == KEY_DOWN || c == KEY_NPAGE)) || (!is_key && !alt && c == 'j')) {
			t->v.help_top += is_key && c == KEY_NPAGE ? LINES / 2 : 1;
			return TUI_REDRAW;
		}
		if ((is_key && (c == KEY_UP || c == KEY_PPAGE)) || (!is_key && !alt && c == 'k')) {
			t->v.help_top -= is_key && c == KEY_PPAGE ? LINES / 2 : 1;
			return TUI_REDRAW;
		}
		t->v.help = 0;
		return TUI_REDRAW;
	}
	if (t->v.page && !alt) {
		f = tui_key_page(t, is_key, c);
		if (f != 0)
			return f;
	}
	if (!alt && (t->v.focus == TUI_FOCUS_LIST || !query_busy())) {
		f = tui_key_global(t, is_key, c);
		if (f != 0)
			return f;
	}
	if (t->v.focus == TUI_FOCUS_LIST)
		return alt ? TUI_HANDLED : tui_key_list(t, is_key, c);
	return tui_key_query(t, is_key, c, alt);
}

/* Read every key curses has; OR of the handlers' flags. */
static unsigned tui_read_keys(tui *t)
{
	unsigned flags = 0;
	wint_t c;
	int r;

	while ((r = get_wch(&c)) != ERR) {
		int alt = 0;
		if (r == OK && c == 27) {
			/* Esc alone, or Alt+key (the key follows at once)? */
			wint_t c2;
			int r2 = get_wch(&c2);
			if (r2 == OK) {
				alt = 1;
				c = c2;
			} else if (r2 == KEY_CODE_YES) {
				flags |= tui_key(t, 0, 27, 0);
				c = c2;
				r = r2;
			}
		}
		flags |= tui_key(t, r == KEY_CODE_YES, c, alt);
		if (flags & TUI_QUIT)
			break;
	}
	return flags;
}

/* ---- the loop ---------------------------------------------------------------- */

static void tui_resize(tui *t)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	tty_update_cell_size(STDOUT_FILENO, &t->caps);
	image_reg_set_cell_size(t->v.images, t->caps.cell_width, t->caps.cell_height);
	image_reg_invalidate(t->v.images);
}

static void tui_draw(tui *t)
{
	int64_t id = tui_selected_id(t);

	t->v.text = query_text();
	t->v.point = query_point();
	t->v.search_prompt = query_search_prompt();
	t->v.thumbs = id >= 0 ? thumb_cache_get(t->thumbs, id) : NULL;
	image_frame_begin(t->v.images);
	screen_draw(&t->v);
	image_frame_end(t->v.images, t->full);
	t->full = 0;
	if (t->mark) {
		/*
		 * APC strings: terminals ignore them; `clipgrep bench tui` and the
		 * tests wait for them.  One per frame, and one when a frame first
		 * shows the answer to the latest search.
		 */
		char m[160];
		int n = snprintf(m, sizeof m, "\033_clipgrep;frame;%lu\033\\", ++t->frames);
		if (t->res != NULL && t->inflight == 0 && t->seq != t->marked_seq) {
			n += snprintf(m + n, sizeof m - (size_t)n,
			    "\033_clipgrep;results;%llu;%d;%.3f;%.3f;%.3f\033\\",
			    (unsigned long long)t->seq, t->res->nhits, t->v.last_ms,
			    t->res->encode_seconds * 1e3, t->res->search_seconds * 1e3);
			t->marked_seq = t->seq;
		}
		if (write(STDOUT_FILENO, m, (size_t)n) < 0) {
			/* the benchmark is gone */
		}
	}
}

static void tui_suspend_now(tui *t)
{
	tui_suspend = 0;
	def_prog_mode();
	endwin();
	tui_signals_reset();
	kill(getpid(), SIGSTOP);
	tui_signals_install();
	reset_prog_mode();
	tui_resize(t);
	t->full = 1;
}

static int tui_loop(tui *t)
{
	unsigned flags = TUI_REDRAW;

	tui_loop_running = 1;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = tui_wake[0], .events = POLLIN },
		};
		double now = tui_now();
		int timeout = -1;

		if (tui_suspend) {
			/* Ctrl-Z (a key: the terminal is raw) or SIGTSTP. */
			tui_suspend_now(t);
			flags |= TUI_REDRAW | TUI_FULL;
		}
		if (flags & TUI_SEARCH)
			tui_search(t);
		if (flags & TUI_THUMBS)
			tui_want_thumbs(t);
		if (t->refresh_wanted && t->v.opened && now - t->last_refresh >= TUI_REFRESH_SECONDS) {
			worker_refresh(t->w);
			t->refresh_wanted = 0;
			t->last_refresh = now;
		}
		if (t->v.message[0] != '\0' && now >= t->message_until) {
			t->v.message[0] = '\0';
			flags |= TUI_REDRAW;
		}
		if (flags & TUI_FULL)
			t->full = 1;
		if (flags & (TUI_REDRAW | TUI_FULL))
			tui_draw(t);
		flags = 0;
		/* Pictures still to encode: another frame as soon as input allows. */
		if (image_reg_deferred(t->v.images) > 0) {
			flags |= TUI_REDRAW;
			timeout = 0;
		}

		if (t->v.message[0] != '\0' && timeout != 0)
			timeout = (int)((t->message_until - now) * 1000) + 10;
		if (t->refresh_wanted && timeout != 0) {
			int r = (int)((t->last_refresh + TUI_REFRESH_SECONDS - now) * 1000) + 10;
			if (timeout < 0 || r < timeout)
				timeout = r < 0 ? 0 : r;
		}
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			break;
		if (tui_signal != 0)
			break;
		if (tui_resized) {
			tui_resized = 0;
			tui_resize(t);
			flags |= TUI_REDRAW | TUI_FULL;
		}
		if (tui_continued) {
			tui_continued = 0;
			tui_resize(t);
			flags |= TUI_REDRAW | TUI_FULL;
		}
		if (p[1].revents & POLLIN) {
			char drain[256];
			while (read(tui_wake[0], drain, sizeof drain) > 0)
				;
			flags |= tui_take(t);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((p[0].revents & (POLLHUP | POLLERR)) && !(p[0].revents & POLLIN))
				break; /* the terminal went away */
			flags |= tui_read_keys(t);
		}
		if (flags & TUI_QUIT)
			break;
	}
	tui_loop_running = 0;
	return 0;
}

/* ---- setup and teardown ----------------------------------------------------- */

/* $CLIPGREP_TUI_STATS: where `clipgrep bench tui` wants the image timings. */
static void tui_write_stats(const tui *t)
{
	const char *path = getenv("CLIPGREP_TUI_STATS");
	const image_stats *s;
	FILE *f;

	if (path == NULL || path[0] == '\0' || t->v.images == NULL)
		return;
	s = image_reg_stats(t->v.images);
	if ((f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "mode %s\nencodes %ld\nencode_ms %.3f\nencode_max_ms %.3f\n"
	    "emits %ld\nemit_ms %.3f\nemit_max_ms %.3f\nemit_bytes %zu\nframes %lu\n",
	    image_mode_name(image_reg_mode(t->v.images)), s->encodes, s->encode_ms,
	    s->encode_max_ms, s->emits, s->emit_ms, s->emit_max_ms, s->emit_bytes, t->frames);
	fclose(f);
}

/*
 * Whether the environment names a terminal with the kitty graphics
 * protocol (kitty, Ghostty) when it did not answer the query itself; not
 * under tmux or screen, which pass the variables on but not the pictures.
 */
static int tui_kitty_by_name(void)
{
	const char *term = getenv("TERM"), *tmux = getenv("TMUX"), *sty = getenv("STY");
	const char *kitty = getenv("KITTY_WINDOW_ID"), *prog = getenv("TERM_PROGRAM");

	if ((tmux != NULL && tmux[0] != '\0') || (sty != NULL && sty[0] != '\0'))
		return 0;
	return (term != NULL && (strcmp(term, "xterm-kitty") == 0 || strcmp(term, "xterm-ghostty") == 0)) ||
	    (kitty != NULL && kitty[0] != '\0') || (prog != NULL && strcmp(prog, "ghostty") == 0);
}

static int tui_pipe_nonblock(int fds[2])
{
	if (pipe(fds) == -1)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

int tui_run(const tui_options *o)
{
	tui t;
	worker_options wo;
	image_mode mode;
	char *history = NULL;
	int utf8, sig, rc = CLI_EXIT_OK, want_colours;
	const char *env_mark = getenv("CLIPGREP_TUI_MARK");
	const char *env_colours = getenv("CLIPGREP_COLOURS"), *no_color = getenv("NO_COLOR");
	const char *term_name;
	char term_buf[80];
	SCREEN *scr;

	memset(&t, 0, sizeof t);
	t.opt = o;
	t.mark = env_mark != NULL && env_mark[0] == '1';
	setlocale(LC_ALL, "");
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		cli_error("the interactive screen needs a terminal (try 'clipgrep search QUERY')");
		return CLI_EXIT_USAGE;
	}
	utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	if (tui_pipe_nonblock(tui_wake) == -1) {
		cli_error("pipe: %s", strerror(errno));
		return CLI_EXIT_ERROR;
	}

	/* The colour depth: --colours, else $CLIPGREP_COLOURS, else detected (NO_COLOR: none). */
	want_colours = o->colours;
	if (want_colours < 0 && env_colours != NULL && env_colours[0] != '\0' &&
	    colour_depth_parse(env_colours, &want_colours) == -1) {
		cli_error("CLIPGREP_COLOURS: %s is not auto, none, 8, 16, 256 or truecolor",
		    cli_name(env_colours));
		return CLI_EXIT_USAGE;
	}
	if (want_colours < 0 && no_color != NULL && no_color[0] != '\0')
		want_colours = COLOUR_NONE;

	/* What the terminal can show, asked before curses owns it. */
	mode = o->images >= 0 ? (image_mode)o->images : IMAGE_BLOCKS;
	t.tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if ((mode != IMAGE_NONE && (o->images < 0 || mode == IMAGE_SIXEL)) || want_colours < 0) {
		tty_probe(t.tty_fd >= 0 ? t.tty_fd : STDIN_FILENO, 400, &t.caps);
		if (o->images < 0 && mode != IMAGE_NONE) {
			if (t.caps.kitty || tui_kitty_by_name())
				mode = IMAGE_KITTY;
			else if (t.caps.sixel)
				mode = IMAGE_SIXEL;
		}
	} else {
		memset(&t.caps, 0, sizeof t.caps);
		t.caps.cell_width = TTY_CELL_WIDTH;
		t.caps.cell_height = TTY_CELL_HEIGHT;
		tty_update_cell_size(STDOUT_FILENO, &t.caps);
	}
	if (t.tty_fd >= 0)
		close(t.tty_fd);
	tty_save_modes(STDIN_FILENO);
	if (want_colours < 0) {
		colour_facts facts;
		memset(&facts, 0, sizeof facts);
		colour_terminfo_colours(NULL, &facts.terminfo_colours, &facts.terminfo_rgb);
		facts.colorterm = getenv("COLORTERM");
		facts.tcap_colours = t.caps.tcap_colours;
		facts.tcap_rgb = t.caps.tcap_rgb;
		facts.version = t.caps.version;
		want_colours = (int)colour_detect(&facts);
	}
	/* A terminfo entry that can express those colours when $TERM's cannot. */
	term_name = colour_terminfo_for(getenv("TERM"), (colour_depth)want_colours, term_buf,
	    sizeof term_buf);

	if (o->history_path == NULL)
		history = query_default_history_path();
	else if (o->history_path[0] != '\0')
		history = strdup(o->history_path);
	/* Readline first: its terminfo lookup must not replace curses' terminal. */
	query_begin(history, o->query);

	tui_signals_install();
	scr = newterm(term_name, stdout, stdin);
	if (scr == NULL) {
		query_end();
		free(history);
		cli_error("cannot start the screen on terminal type %s (is TERM set?)",
		    cli_name(term_name != NULL ? term_name : getenv("TERM") != NULL ? getenv("TERM") : ""));
		return CLI_EXIT_ERROR;
	}
	set_term(scr);
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	idlok(stdscr, FALSE);
	idcok(stdscr, FALSE);
	colour_setup((colour_depth)want_colours);
	if (o->images < 0 && mode == IMAGE_BLOCKS && colour_get_depth() == COLOUR_NONE)
		mode = IMAGE_NONE; /* without colours, pictures would be noise */
	if (mode == IMAGE_SIXEL) {
		fputs(TUI_SIXEL_BEGIN, stdout);
		fflush(stdout);
	}
	tty_arm_restore(mode == IMAGE_SIXEL ? TUI_SIXEL_END : mode == IMAGE_KITTY ? IMAGE_KITTY_END : NULL);

	/* Said in the help, for anyone wondering why there are no pictures or colours. */
	snprintf(t.v.terminal, sizeof t.v.terminal,
	    "This terminal: %s pictures, %s\n(TERM=%s%s%s; --images, --colours override).",
	    image_mode_name(mode), colour_depth_name(colour_get_depth()),
	    getenv("TERM") != NULL ? getenv("TERM") : "", term_name != NULL ? ", drawn as " : "",
	    term_name != NULL ? term_name : "");
	t.v.utf8 = utf8;
	t.v.images = image_reg_new(mode, STDOUT_FILENO, utf8, t.caps.color_registers);
	t.thumbs = thumb_cache_new(TUI_THUMB_CACHE);
	t.v.focus = TUI_FOCUS_QUERY;
	t.v.selected = o->select_query && o->query != NULL && o->query[0] != '\0';
	t.v.title = o->title;
	t.v.index_roots = o->n_roots > 0;
	t.v.mode = SEARCH_FUSED;
	if (o->mode != NULL && engine_mode_parse(o->mode, &t.v.mode) == -1)
		t.v.mode = SEARCH_FUSED;
	if (t.v.images == NULL || t.thumbs == NULL) {
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	image_reg_set_cell_size(t.v.images, t.caps.cell_width, t.caps.cell_height);

	memset(&wo, 0, sizeof wo);
	wo.db_path = o->db_path;
	wo.models = o->models;
	wo.n_models = o->n_models;
	wo.threads = o->threads;
	wo.create = o->create;
	wo.roots = o->roots;
	wo.n_roots = o->n_roots;
	wo.exclude = o->exclude;
	wo.jobs = o->jobs;
	wo.precision = o->precision;
	wo.no_cache = o->no_cache;
	wo.window_set = o->window_set;
	wo.window = o->window;
	wo.shots = o->shots;
	wo.sampling = o->sampling;
	wo.filter_prefix = o->filter_prefix;
	wo.wake_fd = tui_wake[1];
	t.w = worker_new(&wo);
	if (t.w == NULL) {
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	tui_loop(&t);

out:
	if (t.w != NULL && t.v.progress.indexing) {
		tui_message(&t, 0, "stopping the indexer after the current video...");
		tui_draw(&t);
	}
	worker_free(t.w, 3000);
	tui_write_stats(&t);
	if (mode == IMAGE_SIXEL) {
		fputs("\033[?1070r", stdout);
		fflush(stdout);
	} else if (mode == IMAGE_KITTY) {
		fputs(IMAGE_KITTY_END, stdout);
		fflush(stdout);
	}
	erase();
	refresh();
	endwin();
	delscreen(scr);
	tty_disarm_restore();
	query_history_add(query_text());
	query_end();
	engine_result_free(t.res);
	free(t.res_query);
	thumb_cache_free(t.thumbs);
	image_reg_free(t.v.images);
	free(history);
	close(tui_wake[0]);
	close(tui_wake[1]);
	tui_wake[0] = tui_wake[1] = -1;
	sig = tui_signal;
	tui_signals_reset();
	if (sig != 0)
		raise(sig);
	if (t.v.open_failed) {
		cli_error("%s", t.open_error != NULL ? t.open_error : "cannot open the index");
		rc = CLI_EXIT_ERROR;
	}
	free(t.open_error);
	return rc;
}
