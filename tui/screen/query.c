/*
 * query — readline in callback mode, drawn by the screen.  The only file
 * that includes readline.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "query.h"

#define QUERY_HISTORY_MAX 1000

static struct {
	int active;
	char *history_path;
	const unsigned char *in; /* the bytes being fed */
	size_t in_len;
	int accepted, eof;
	char *accepted_text;
	FILE *null_out;
} query;

/* readline asks for a byte: hand it the next one being fed. */
static int query_getc(FILE *f)
{
	(void)f;
	if (query.in_len == 0)
		return EOF;
	query.in_len--;
	return *query.in++;
}

static int query_input_available(void)
{
	return query.in_len > 0;
}

/* The screen draws the line; readline only tells us something changed. */
static void query_redisplay(void)
{
}

static void query_line_done(char *line)
{
	if (line == NULL) {
		query.eof = 1;
		return;
	}
	query.accepted = 1;
	free(query.accepted_text);
	query.accepted_text = line;
}

char *query_default_history_path(void)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char path[4096];

	/* XDG: a relative $XDG_STATE_HOME is invalid and ignored. */
	if (state != NULL && state[0] == '/')
		snprintf(path, sizeof path, "%s/clipgrep/history", state);
	else if (home != NULL && home[0] != '\0')
		snprintf(path, sizeof path, "%s/.local/state/clipgrep/history", home);
	else
		return NULL;
	return strdup(path);
}

/* mkdir -p the directory holding path, mode 0700 (history is private). */
static void query_make_parent(const char *path)
{
	char *dir = strdup(path);

	if (dir == NULL)
		return;
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			break;
		*p = '/';
	}
	free(dir);
}

int query_begin(const char *history_path, const char *text)
{
	memset(&query, 0, sizeof query);
	query.null_out = fopen("/dev/null", "w");
	rl_readline_name = "clipgrep";
	/* Readline must leave the terminal, the signals and the environment alone. */
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_prep_term_function = NULL;
	rl_deprep_term_function = NULL;
	rl_getc_function = query_getc;
	rl_input_available_hook = query_input_available;
	rl_redisplay_function = query_redisplay;
	rl_instream = stdin;
	rl_outstream = query.null_out != NULL ? query.null_out : stderr;
	rl_inhibit_completion = 1;
	using_history();
	stifle_history(QUERY_HISTORY_MAX);
	if (history_path != NULL) {
		query.history_path = strdup(history_path);
		read_history(history_path);
		using_history();
	}
	rl_callback_handler_install("", query_line_done);
	rl_variable_bind("bell-style", "none");
	rl_variable_bind("enable-bracketed-paste", "off");
	rl_variable_bind("input-meta", "on");
	rl_variable_bind("output-meta", "on");
	rl_variable_bind("convert-meta", "off");
	if (text != NULL)
		query_set_text(text);
	query.active = 1;
	return 0;
}

void query_end(void)
{
	if (!query.active)
		return;
	rl_callback_handler_remove();
	if (query.history_path != NULL) {
		query_make_parent(query.history_path);
		if (write_history(query.history_path) == 0)
			history_truncate_file(query.history_path, QUERY_HISTORY_MAX);
		chmod(query.history_path, 0600);
	}
	clear_history();
	free(query.history_path);
	free(query.accepted_text);
	if (query.null_out != NULL)
		fclose(query.null_out);
	rl_outstream = stdout;
	query.active = 0;
}

unsigned query_feed(const char *bytes, size_t n)
{
	char *before;
	int point = rl_point;
	const char *prompt_before = rl_display_prompt;
	unsigned flags = 0;

	if (!query.active)
		return 0;
	before = strdup(rl_line_buffer != NULL ? rl_line_buffer : "");
	query.in = (const unsigned char *)bytes;
	query.in_len = n;
	query.accepted = query.eof = 0;
	/* A key readline pushed back (the Enter that ends a Ctrl-R search) runs too. */
	while (query.in_len > 0 || rl_pending_input != 0)
		rl_callback_read_char();
	if (query.accepted) {
		/* Readline starts a fresh line after accept-line; keep the query shown. */
		query_history_add(query.accepted_text);
		query_set_text(query.accepted_text);
		flags |= QUERY_ACCEPTED | QUERY_REDRAW;
	}
	if (query.eof)
		flags |= QUERY_EOF;
	if (before == NULL || strcmp(before, rl_line_buffer) != 0)
		flags |= QUERY_CHANGED | QUERY_REDRAW;
	if (rl_point != point || rl_display_prompt != prompt_before || query_busy())
		flags |= QUERY_REDRAW;
	free(before);
	return flags;
}

const char *query_text(void)
{
	return rl_line_buffer != NULL ? rl_line_buffer : "";
}

int query_point(void)
{
	return rl_point;
}

const char *query_search_prompt(void)
{
	if (RL_ISSTATE(RL_STATE_ISEARCH | RL_STATE_NSEARCH) && rl_display_prompt != NULL)
		return rl_display_prompt;
	return NULL;
}

int query_busy(void)
{
	return RL_ISSTATE(RL_STATE_ISEARCH | RL_STATE_NSEARCH | RL_STATE_MULTIKEY |
	    RL_STATE_NUMERICARG | RL_STATE_METANEXT | RL_STATE_MOREINPUT) != 0;
}

void query_set_text(const char *text)
{
	rl_replace_line(text != NULL ? text : "", 1);
	rl_point = rl_end;
}

void query_history_add(const char *text)
{
	HIST_ENTRY *last;

	if (text == NULL || text[0] == '\0')
		return;
	last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
	if (last != NULL && last->line != NULL && strcmp(last->line, text) == 0)
		return;
	add_history(text);
	/* Searches and Up start from the newest entry again. */
	using_history();
}
