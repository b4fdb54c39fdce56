/*
 * cli — what the clipgrep program's commands share (cli.c): error
 * reporting, inert names, text/JSON output helpers.  The commands' entry
 * points are in cmd.h.  Exit codes follow
 * ARCHITECTURE.md: 0 ok, 1 no results or usage error, 2 error.
 */
#ifndef CLIPGREP_CLI_H
#define CLIPGREP_CLI_H

#include <stdio.h>

#include "engine.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_USAGE 1
#define CLI_EXIT_ERROR 2

/* Global options, set by main before a subcommand runs. */
extern int cli_verbose;

/*
 * "clipgrep: <message>\n" on stderr.  The message is written inert: any
 * control byte or invalid UTF-8 in it (a core cause that names a file,
 * say) comes out as the text \xNN, never as a terminal escape.
 */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Print a core cause (the fallback when *cause is NULL), free it and set
 * *cause to NULL.  Taking the address makes the ownership rule hold by
 * construction: a caller that frees its cause later frees NULL.
 */
void cli_error_cause(char **cause, const char *fallback);

/*
 * Write s as a JSON string literal.  Invalid UTF-8 bytes (a BPE token can
 * hold part of a character) are written as the text \xNN so that the
 * output stays valid JSON and shows what the bytes were.
 */
void cli_json_string(FILE *out, const char *s);
/* Write s for a terminal or TSV: invalid UTF-8 and control bytes as \xNN. */
void cli_text_escaped(FILE *out, const char *s);

/*
 * A file name or other user-given argument as a message shows it: in '...'
 * quotes, so that an empty or space-only name is visible, with control
 * bytes and invalid UTF-8 written as \xNN (cli_text_escaped), so that the
 * name cannot drive the terminal.  Every message that names a file, an
 * argument or an option value passes it through here.  The string is owned
 * here, in one of a few rotating slots: it stays valid for the next 7
 * calls, enough for one message.  Out of memory gives "'?'".
 */
const char *cli_name(const char *s);

/*
 * mkdir -p: make dir and any missing parents, mode 0777 less the umask.
 * 0 when dir is (now) a directory; -1 after a message naming the component
 * that failed and why ("'a/b' is a file, not a directory").
 */
int cli_make_dirs(const char *dir);

/*
 * getopt_long with getopt's own messages off (they print an option raw,
 * escape bytes and all): a bad option is reported here instead, through
 * cli_error and cli_name ("CMD: unknown option '--x'", "CMD: option '-d'
 * needs a value", CMD being argv[0] unless that is the program itself),
 * and comes back as '?', so the caller only prints its usage and exits
 * CLI_EXIT_USAGE.  optstring must start with ':' (after a '+', if any) so a
 * missing value is told apart.
 */
struct option;
int cli_getopt(int argc, char **argv, const char *optstring, const struct option *longopts);
/*
 * The message for the bad option getopt_long just returned c ('?' or ':')
 * for, where c came from a call with opterr 0 and a ':' optstring;
 * cmd (NULL for none) starts the message.
 */
void cli_option_error(const char *cmd, int c, char **argv);

/*
 * argv[first..argc-1] joined with single spaces, newly allocated (free()),
 * "" when there are none; NULL when out of memory.  Queries given as several
 * words (clipgrep search a red car) are one query.
 */
char *cli_join_args(int argc, char **argv, int first);

/* The one warning for a video whose stored vectors were skipped as damaged. */
void cli_warn_damaged(const char *path);

/*
 * Append s (not copied) to the growing array *v of *n strings, keeping it
 * NULL-terminated (repeatable options: --model, --exclude).  -1 when out of
 * memory, with *v and *n unchanged.
 */
int cli_append_arg(char ***v, int *n, char *s);

/*
 * Whether name can be a search mode before the models are open: tcmgc, ea,
 * fused, or a head name of a multi-head file (a-z, 0-9, '-', '_', at most
 * MODEL_HEAD_NAME_MAX); engine_mode_find decides once they are.
 */
int cli_mode_name_ok(const char *name);
/* The extra modes of an open engine, ", "-separated (a static buffer). */
const char *cli_mode_list(const engine_info *info);

/* Parse a whole decimal int in [lo, hi]; -1 on failure. */
int cli_parse_int(const char *s, int lo, int hi, int *out);
/*
 * Parse "N[,N...]" (each in [lo, hi], at most max of them) into out: how
 * many, or -1 for an empty list, a bad number or too many.
 */
int cli_parse_int_list(const char *s, int lo, int hi, int *out, int max);

/*
 * Route core/video's FFmpeg log to stderr at the -v level (quiet without
 * -v).  Every command that opens videos calls it first.
 */
void cli_video_log_setup(void);

#endif
