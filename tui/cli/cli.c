/*
 * cli — what the clipgrep program's commands share: error reporting with
 * inert names, text and JSON escaping, number parsing and the FFmpeg log.
 * Everything here depends only on core/ and the C library, so every part
 * of the program (command line, screen, benchmarks) may use it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "model.h"
#include "util.h"
#include "video.h"

int cli_verbose;

void cli_error(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n >= 0 && (msg = malloc((size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	fputs("clipgrep: ", stderr);
	cli_text_escaped(stderr, msg != NULL ? msg : "out of memory");
	fputc('\n', stderr);
	free(msg);
}

void cli_error_cause(char **cause, const char *fallback)
{
	cli_error("%s", *cause != NULL ? *cause : fallback);
	free(*cause);
	*cause = NULL;
}

void cli_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', out);
	while (*p != '\0') {
		int n = util_utf8_length(p);
		if (n == 0) {
			fprintf(out, "\\\\x%02x", *p++);
			continue;
		}
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fwrite(p, 1, (size_t)n, out);
		p += n;
	}
	fputc('"', out);
}

void cli_text_escaped(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int n = util_utf8_length(p);
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\x%02x", *p++);
			continue;
		}
		fwrite(p, 1, (size_t)n, out);
		p += n;
	}
}

const char *cli_name(const char *s)
{
	static char *slot[8];
	static unsigned next;
	char **p = &slot[next++ % 8];
	size_t size = util_quote_name_size(s);

	free(*p);
	if ((*p = malloc(size)) == NULL)
		return "'?'";
	return util_quote_name(s, *p, size);
}

void cli_option_error(const char *cmd, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *sep = cmd != NULL ? ": " : "";
	char *eq;

	if (cmd == NULL)
		cmd = "";

	/*
	 * A long option leaves itself at argv[optind - 1] (optopt 0 when it is
	 * unknown); a short one is named by optopt, because inside a cluster
	 * ("-qz") optind has not moved past it.
	 */
	if (arg != NULL && strncmp(arg, "--", 2) == 0 &&
	    (optopt == 0 || c == ':' || strchr(arg, '=') != NULL)) {
		char *name = util_strdup(arg);
		if (name != NULL && (eq = strchr(name, '=')) != NULL)
			*eq = '\0';
		if (optopt == 0)
			cli_error("%s%sunknown option %s", cmd, sep, cli_name(name != NULL ? name : arg));
		else if (c == ':')
			cli_error("%s%soption %s needs a value", cmd, sep, cli_name(name != NULL ? name : arg));
		else
			cli_error("%s%soption %s takes no value", cmd, sep, cli_name(name != NULL ? name : arg));
		free(name);
		return;
	}
	if (c == ':')
		cli_error("%s%soption %s needs a value", cmd, sep, cli_name(shortopt));
	else
		cli_error("%s%sunknown option %s", cmd, sep, cli_name(shortopt));
}

int cli_getopt(int argc, char **argv, const char *optstring, const struct option *longopts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, optstring, longopts, NULL);
	if (c == '?' || c == ':') {
		/* The screen's argv[0] is the program itself: "clipgrep: " says it. */
		const char *cmd = argv[0];
		if (cmd != NULL && (strchr(cmd, '/') != NULL || strcmp(cmd, PACKAGE) == 0))
			cmd = NULL;
		cli_option_error(cmd, c, argv);
		return '?';
	}
	return c;
}

int cli_parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	/* strtol would skip leading white space: " 3" is not a number here. */
	if (!(isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]))))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int cli_parse_int_list(const char *s, int lo, int hi, int *out, int max)
{
	char *copy = util_strdup(s), *save = NULL;
	int n = 0;

	if (copy == NULL)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		if (n == max || cli_parse_int(tok, lo, hi, &out[n++]) == -1) {
			n = -1;
			break;
		}
	free(copy);
	return n > 0 ? n : -1;
}

static void cli_video_log(void *arg, int level, const char *line)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "clipgrep: ffmpeg: %s\n", line);
}

void cli_video_log_setup(void)
{
	video_set_log(cli_video_log, NULL);
	video_set_log_level(cli_verbose);
}

int cli_make_dirs(const char *dir)
{
	char *path = strdup(dir), *p;
	struct stat st;
	int rc = -1;

	if (path == NULL || path[0] == '\0') {
		cli_error("%s: %s", cli_name(dir), path == NULL ? "out of memory" :
		    "an empty directory name");
		free(path);
		return -1;
	}
	/* Each prefix ending at a '/', then the whole path; "a//b" and "a/" are fine. */
	for (p = path + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		if (p[-1] == '/') {
			if (c == '\0')
				break;
			continue;
		}
		*p = '\0';
		if (mkdir(path, 0777) == -1 && errno != EEXIST) {
			cli_error("%s: cannot create the directory: %s", cli_name(path),
			    strerror(errno));
			goto out;
		}
		/* EEXIST also for a file: say which component is in the way. */
		if (stat(path, &st) == -1) {
			cli_error("%s: %s", cli_name(path), strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			cli_error("%s is a file, not a directory (making %s)", cli_name(path),
			    cli_name(dir));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

char *cli_join_args(int argc, char **argv, int first)
{
	size_t n = 1;
	char *q;

	for (int i = first; i < argc; i++)
		n += strlen(argv[i]) + 1;
	if ((q = malloc(n)) == NULL)
		return NULL;
	q[0] = '\0';
	for (int i = first; i < argc; i++) {
		if (i > first)
			strcat(q, " ");
		strcat(q, argv[i]);
	}
	return q;
}

void cli_warn_damaged(const char *path)
{
	cli_error("warning: %s: stored vectors are damaged; skipped (run 'clipgrep index' to "
	    "re-encode)", cli_name(path));
}

int cli_append_arg(char ***v, int *n, char *s)
{
	char **grown = realloc(*v, (size_t)(*n + 2) * sizeof *grown);

	if (grown == NULL)
		return -1;
	*v = grown;
	grown[(*n)++] = s;
	grown[*n] = NULL;
	return 0;
}

int cli_mode_name_ok(const char *name)
{
	search_model m;
	size_t n = strlen(name);

	if (engine_mode_parse(name, &m) == 0)
		return 1;
	if (n == 0 || n > MODEL_HEAD_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '_'))
			return 0;
	return 1;
}

const char *cli_mode_list(const engine_info *info)
{
	static char buf[512];
	size_t used = 0;

	buf[0] = '\0';
	for (int j = 0; j < info->extra_modes && used < sizeof buf; j++)
		used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", j ? ", " : "",
		    info->extra_names[j]);
	return buf;
}
