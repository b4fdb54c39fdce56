/*
 * query — the query line: GNU readline driven through its callback
 * interface, with its input fed from the TUI's event loop and its display
 * drawn by the screen inside curses (readline never touches the terminal).
 * Editing keys, history (kept in $XDG_STATE_HOME/clipgrep/history) and
 * Ctrl-R reverse search are readline's.  Readline is global state, so there
 * is one query line per process.
 */
#ifndef CLIPGREP_QUERY_H
#define CLIPGREP_QUERY_H

#include <stddef.h>

/* query_feed results. */
#define QUERY_CHANGED 1u  /* the text changed */
#define QUERY_ACCEPTED 2u /* Enter: the text was committed (and added to the history) */
#define QUERY_REDRAW 4u   /* something shown changed (cursor, prompt) */
#define QUERY_EOF 8u      /* Ctrl-D on an empty line */

/*
 * Start readline in callback mode.  history_path: the history file (NULL:
 * none), read now and written by query_end.  text: the initial text (may be
 * NULL).  0, or -1 when readline could not start.
 */
int query_begin(const char *history_path, const char *text);
/* Save the history and stop readline; safe when query_begin failed. */
void query_end(void);

/* Feed the bytes of one key (or of a key sequence); QUERY_* flags. */
unsigned query_feed(const char *bytes, size_t n);

/* The text (owned by readline: valid until the next feed). */
const char *query_text(void);
/* The cursor as a byte offset into query_text(). */
int query_point(void);
/* Readline's prompt while it searches the history (Ctrl-R), else NULL. */
const char *query_search_prompt(void);
/* Readline is in the middle of a multi-key command or an incremental search. */
int query_busy(void);

/* Replace the text, cursor at the end. */
void query_set_text(const char *text);
/* Add text to the history unless empty or equal to the last entry. */
void query_history_add(const char *text);

/* The default history file: $XDG_STATE_HOME/clipgrep/history (newly allocated). */
char *query_default_history_path(void);

#endif
