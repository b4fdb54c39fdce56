/*
 * tui — the interactive screen (`clipgrep [DIR]`, `clipgrep demo`): what
 * its files share.  tui.c runs the event loop and the key handlers,
 * screen.c draws a tui_view, query.c is the readline query line, image.c
 * the pictures, worker.c the background threads.
 */
#ifndef CLIPGREP_TUI_H
#define CLIPGREP_TUI_H

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include "engine.h"
#include "image.h"
#include "thumb.h"
#include "worker.h"

/* How the TUI is started (cmd_tui, cmd_demo). */
/* Search modes the screen offers: tcmgc, ea, fused and up to 13 extra heads. */
#define TUI_MODES 16

typedef struct {
	const char *db_path;
	const char *const *models; /* [n_models] */
	int n_models;
	const char *const *roots;  /* [n_roots] folders to index in the background */
	int n_roots;
	const char *const *exclude;/* NULL-terminated or NULL */
	const char *filter_prefix; /* only hits under this path prefix, or NULL */
	int create;                /* create the index when missing */
	int threads, jobs;
	linear_precision precision; /* the towers' (--precision, the config's) */
	int no_cache;              /* the config's search_cache = no */
	int window_set;            /* window holds the indexer's segment window */
	double window;             /* seconds (0: whole files); else INDEXER_DEFAULT_WINDOW */
	int shots;                 /* segment boundaries at shot changes */
	int sampling;              /* VIDEO_SAMPLING_* for indexing */
	const char *query;         /* initial query, or NULL */
	const char *mode;          /* initial mode name, or NULL: the engine's default */
	int images;                /* -1: detect, else an image_mode */
	int colours;               /* -1: $CLIPGREP_COLOURS, else detect; else the
	                              colour_depth to use (wins over NO_COLOR) */
	int top_k;                 /* hits to list (0: 50) */
	const char *title;         /* shown in the status line, e.g. "demo" */
	int select_query;          /* open with query selected: the first key typed
	                              replaces it (the demo's suggestion) */
	const char *history_path;  /* NULL: the default; "" for none */
} tui_options;

void tui_options_init(tui_options *o);

/* Run the screen until the user quits.  A CLI_EXIT_* code. */
int tui_run(const tui_options *o);

/* Which part has the keyboard. */
typedef enum { TUI_FOCUS_QUERY, TUI_FOCUS_LIST } tui_focus;

/* Everything the screen draws, kept by the event loop. */
typedef struct {
	int utf8;                  /* the locale is UTF-8 */
	image_reg *images;

	/* query line */
	const char *text;          /* the query being edited */
	int point;                 /* cursor, a byte offset into text */
	const char *search_prompt; /* readline's Ctrl-R prompt, or NULL */
	int selected;              /* text is selected (drawn reversed): a character
	                              typed replaces it, moving the cursor keeps it */
	tui_focus focus;

	/* results */
	const engine_result *res;  /* NULL before the first answer */
	const char *res_query;     /* the query res answers */
	int sel, top;              /* selected hit, first hit shown */
	search_model mode;
	int mode_ok[TUI_MODES];    /* engine_has_mode per mode (extra heads past
	                              SEARCH_FUSED, engine.h) */
	int word;                  /* highlighted token row in the heatmap */
	const thumb_set *thumbs;   /* the selected hit's frames, or NULL (loading) */

	/* state */
	int opened, open_failed;
	engine_info info;
	const char *title;
	double last_ms;            /* the last search's time */
	int searching;
	worker_progress progress;
	int index_roots;           /* there are folders being indexed */
	char message[256];         /* a transient message (errors, "opened in mpv") */
	int message_error;
	int help;                  /* the help overlay is open */
	int help_top;              /* its first line shown (when it does not fit) */
	char terminal[192];        /* what the screen found the terminal can do (help;
	                              two lines, split at '\n') */
	int page;                  /* the detail page (the selected clip's picture,
	                              breakdown and heatmap on the whole screen) is open */
} tui_view;

/*
 * The modes in the order Tab visits them and the header lists them:
 * TC-MGC, EA, the extra heads (v->info.extra_names), fused; returns the count.
 */
int screen_mode_order(const tui_view *v, search_model out[TUI_MODES]);
/* A mode's name on screen: "TC-MGC", "EA", "fused", or the head's name. */
const char *screen_mode_label(const tui_view *v, search_model m);

/* Rows the result list shows at the current size (for paging). */
int screen_list_rows(void);
/* Draw everything into stdscr and place the images (between image_frame_begin/end). */
void screen_draw(tui_view *v);
/* The smallest usable screen. */
#define SCREEN_MIN_COLS 40
#define SCREEN_MIN_ROWS 10

/*
 * Write s for the screen: invalid or unprintable bytes, control and
 * bidirectional-override characters as \xNN / \u{NNNN}, so that a file
 * name can never send the terminal an escape sequence.  Newly allocated
 * wide string; *width gets its display width.
 */
wchar_t *screen_safe_text(const char *s, int *width);

/* "m:ss" or "h:mm:ss"; "-" for NAN/negative. */
void screen_format_time(double seconds, char *buf, size_t size);

/*
 * Labels for the F frame times t[F] (NAN: padding, labelled "-"; t may be
 * NULL), each at most width columns, into labels[F][16]: "m:ss" when no
 * two neighbours would read the same, else tenths ("0.5s" under a minute,
 * "m:ss.d" above), else the frame numbers 1..F.  Returns the resolution used: 1 (seconds), 10
 * (tenths) or 0 (numbers).
 */
int screen_frame_labels(const double *t, int F, int width, char (*labels)[16]);

#endif
