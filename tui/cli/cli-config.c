/*
 * cli-config — the index path, the model files and the user's config file
 * (see cli-config.h for the rules).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli-config.h"
#include "index.h"
#include "util.h"
#include "video.h"

#ifndef CLIPGREP_PKGDATADIR
#define CLIPGREP_PKGDATADIR "/usr/local/share/clipgrep"
#endif

static char *config_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s%s", a, a[0] != '\0' && a[strlen(a) - 1] != '/' ? "/" : "", b);
	return s;
}

/* $NAME if set and non-empty, else $HOME/fallback (NULL without HOME). */
static char *config_xdg(const char *name, const char *fallback)
{
	const char *v = getenv(name), *home;

	if (v != NULL && v[0] == '/')
		return util_strdup(v);
	if ((home = getenv("HOME")) == NULL || home[0] == '\0')
		return NULL;
	return config_join(home, fallback);
}

/* Expand "~/" and make a relative path relative to dir. */
static char *config_expand(const char *value, const char *dir)
{
	const char *home = getenv("HOME");

	if (value[0] == '~' && value[1] == '/' && home != NULL)
		return config_join(home, value + 2);
	if (value[0] == '/' || dir == NULL)
		return util_strdup(value);
	return config_join(dir, value);
}

static int config_push(char ***v, int *n, char *s, int terminate)
{
	char **nv;

	if (s == NULL || (nv = realloc(*v, (size_t)(*n + 1 + terminate) * sizeof *nv)) == NULL) {
		free(s);
		return -1;
	}
	nv[(*n)++] = s;
	if (terminate)
		nv[*n] = NULL;
	*v = nv;
	return 0;
}

static char *config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int cli_parse_window(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !(v >= 0 && v <= 86400))
		return -1;
	if (*end == 's')
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int config_parse_sampling(const char *s, int *out)
{
	if (strcmp(s, "exact") == 0)
		*out = VIDEO_SAMPLING_EXACT;
	else if (strcmp(s, "keyframe") == 0)
		*out = VIDEO_SAMPLING_KEYFRAME;
	else
		return -1;
	return 0;
}

int cli_sampling(const char *opt, const cli_config *c, int *out)
{
	*out = c->sampling >= 0 ? c->sampling : VIDEO_SAMPLING_EXACT;
	if (opt != NULL && config_parse_sampling(opt, out) == -1) {
		cli_error("--sampling: %s is not exact or keyframe", cli_name(opt));
		return -1;
	}
	return 0;
}

int cli_config_load(cli_config *c)
{
	const char *env = getenv("CLIPGREP_CONFIG");
	char *dir = NULL, *path, *line = NULL, *slash;
	size_t cap = 0;
	FILE *f;
	int lineno = 0, rc = 0;

	memset(c, 0, sizeof *c);
	c->window = -1;
	c->sampling = -1;
	if (env != NULL && env[0] != '\0')
		path = util_strdup(env);
	else {
		char *base = config_xdg("XDG_CONFIG_HOME", ".config");
		path = base != NULL ? config_join(base, "clipgrep/config") : NULL;
		free(base);
	}
	if (path == NULL)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		if (errno != ENOENT || (env != NULL && env[0] != '\0')) {
			cli_error("%s: %s", cli_name(path), strerror(errno));
			free(path);
			return -1;
		}
		free(path);
		return 0;
	}
	c->path = path;
	if ((dir = util_strdup(path)) != NULL && (slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(dir);
		dir = NULL;
	}
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		char *key, *value, *eq;

		lineno++;
		key = config_trim(line);
		if (key[0] == '\0' || key[0] == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			cli_error("%s:%d: expected 'key = value'", cli_name(path), lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = config_trim(key);
		value = config_trim(eq + 1);
		if (value[0] == '\0') {
			cli_error("%s:%d: %s has no value", cli_name(path), lineno, cli_name(key));
			rc = -1;
		} else if (strcmp(key, "model") == 0) {
			rc = config_push(&c->models, &c->n_models, config_expand(value, dir), 0);
		} else if (strcmp(key, "exclude") == 0) {
			rc = config_push(&c->exclude, &c->n_exclude, util_strdup(value), 1);
		} else if (strcmp(key, "db") == 0) {
			free(c->db);
			rc = (c->db = config_expand(value, dir)) == NULL ? -1 : 0;
		} else if (strcmp(key, "mode") == 0) {
			free(c->mode);
			rc = (c->mode = util_strdup(value)) == NULL ? -1 : 0;
		} else if (strcmp(key, "precision") == 0) {
			if (linear_precision_parse(value, &c->precision) == -1) {
				cli_error("%s:%d: precision: %s is not fp32 or bf16", cli_name(path), lineno,
				    cli_name(value));
				rc = -1;
			}
			c->has_precision = 1;
		} else if (strcmp(key, "window") == 0) {
			if (cli_parse_window(value, &c->window) == -1) {
				cli_error("%s:%d: window: %s is not a number of seconds from 0 to 86400",
				    cli_name(path), lineno, cli_name(value));
				rc = -1;
			}
		} else if (strcmp(key, "sampling") == 0) {
			if (config_parse_sampling(value, &c->sampling) == -1) {
				cli_error("%s:%d: sampling: %s is not exact or keyframe", cli_name(path),
				    lineno, cli_name(value));
				rc = -1;
			}
		} else if (strcmp(key, "search_cache") == 0) {
			if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0)
				c->no_search_cache = value[0] == 'n';
			else {
				cli_error("%s:%d: search_cache: %s is not yes or no", cli_name(path),
				    lineno, cli_name(value));
				rc = -1;
			}
		} else if (strcmp(key, "threads") == 0 || strcmp(key, "jobs") == 0) {
			int *dst = key[0] == 't' ? &c->threads : &c->jobs;
			if (cli_parse_int(value, 1, 1024, dst) == -1) {
				cli_error("%s:%d: %s: %s is not a number from 1 to 1024", cli_name(path), lineno,
				    key, cli_name(value));
				rc = -1;
			}
		} else {
			cli_error("%s:%d: unknown key %s (model, exclude, db, mode, threads, jobs, "
			    "precision, window, sampling, search_cache)",
			    cli_name(path), lineno, cli_name(key));
			rc = -1;
		}
	}
	if (ferror(f)) {
		cli_error("%s: %s", cli_name(path), strerror(errno));
		rc = -1;
	}
	fclose(f);
	free(line);
	free(dir);
	return rc;
}

void cli_free_strings(char **v, int n)
{
	for (int i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

int cli_precision(const char *opt, const cli_config *c, linear_precision *out)
{
	*out = c->has_precision ? c->precision : LINEAR_PREC_FP32;
	if (opt != NULL && linear_precision_parse(opt, out) == -1) {
		cli_error("--precision: %s is not fp32 or bf16", cli_name(opt));
		return -1;
	}
	return 0;
}

void cli_precision_notice(linear_precision asked, const char *what)
{
	if (asked == LINEAR_PREC_BF16 &&
	    !linear_kernel_is_bf16(linear_precision_kernel(LINEAR_PREC_BF16)))
		cli_error("notice: this CPU has no AVX512_BF16: %s runs in fp32, not bf16", what);
}

void cli_config_free(cli_config *c)
{
	free(c->path);
	free(c->db);
	cli_free_strings(c->models, c->n_models);
	cli_free_strings(c->exclude, c->n_exclude);
	free(c->mode);
	memset(c, 0, sizeof *c);
}

char *cli_db_path(const char *opt_db, const cli_config *c)
{
	const char *env = getenv("CLIPGREP_DB");
	char *base, *path;

	if (opt_db != NULL)
		return util_strdup(opt_db);
	if (env != NULL && env[0] != '\0')
		return util_strdup(env);
	if (c != NULL && c->db != NULL)
		return util_strdup(c->db);
	if ((base = config_xdg("XDG_DATA_HOME", ".local/share")) == NULL) {
		cli_error("no index: HOME is not set; pass --db FILE or set CLIPGREP_DB");
		return NULL;
	}
	path = config_join(base, "clipgrep/index.db");
	free(base);
	return path;
}

static int config_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Whether this program runs from its build tree: the executable sits in
 * CLIPGREP_BUILDDIR (so `./clipgrep` finds assets/demo before `make install`).
 */
static int config_in_build_tree(void)
{
#if defined(CLIPGREP_BUILDDIR) && defined(__linux__)
	char exe[PATH_MAX], *real_build;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int in = 0;

	if (n <= 0)
		return 0;
	exe[n] = '\0';
	if (strrchr(exe, '/') != NULL)
		*strrchr(exe, '/') = '\0';
	if ((real_build = realpath(CLIPGREP_BUILDDIR, NULL)) != NULL) {
		in = strcmp(real_build, exe) == 0;
		free(real_build);
	}
	return in;
#else
	return 0;
#endif
}

static int config_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int config_demo_models(const char *dir, char ***out);

/* Whether dir holds at least one model file. */
static int config_has_models(const char *dir)
{
	char **v = NULL;
	int n;

	if (!config_is_dir(dir))
		return 0;
	n = config_demo_models(dir, &v);
	cli_free_strings(v, n > 0 ? n : 0);
	return n > 0;
}

const char *cli_demo_dir(void)
{
#ifdef CLIPGREP_SRCDIR
	if (config_in_build_tree() && config_has_models(CLIPGREP_SRCDIR "/assets/demo"))
		return CLIPGREP_SRCDIR "/assets/demo";
#endif
	if (config_has_models(CLIPGREP_PKGDATADIR "/demo"))
		return CLIPGREP_PKGDATADIR "/demo";
	return NULL;
}

const char *cli_bpe_path(void)
{
#ifdef CLIPGREP_SRCDIR
	if (config_in_build_tree() && access(CLIPGREP_SRCDIR "/assets/" CLI_BPE_NAME, R_OK) == 0)
		return CLIPGREP_SRCDIR "/assets/" CLI_BPE_NAME;
#endif
	if (access(CLIPGREP_PKGDATADIR "/" CLI_BPE_NAME, R_OK) == 0)
		return CLIPGREP_PKGDATADIR "/" CLI_BPE_NAME;
	return NULL;
}

/* Every *.safetensors in dir, sorted; the count, or -1. */
static int config_demo_models(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	*out = NULL;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len <= 12 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 12, ".safetensors") != 0)
			continue;
		if (config_push(out, &n, config_join(dir, de->d_name), 0) == -1) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	if (n > 1)
		qsort(*out, (size_t)n, sizeof **out, config_cmp);
	return n;
}

int cli_db_exists(const char *db)
{
	if (access(db, F_OK) == 0 || errno != ENOENT)
		return 0; /* a file that is there but unreadable: index_open says why */
	cli_error("no index yet at %s: run 'clipgrep index DIR' (or 'clipgrep DIR') to index "
	    "a folder of videos first, or try 'clipgrep demo'", cli_name(db));
	return -1;
}

/* The index's stored statistics; -1 (quietly) when there is no readable index. */
static int config_index_stats(const char *db, index_stats *st)
{
	index_db *ix;
	char *cause = NULL;
	int rc = -1;

	memset(st, 0, sizeof *st);
	if (db == NULL || access(db, F_OK) != 0)
		return -1;
	if ((ix = index_open(db, INDEX_READONLY, &cause)) != NULL)
		rc = index_get_stats(ix, st, &cause);
	index_close(ix);
	free(cause);
	return rc;
}

char *cli_index_models_text(const char *db)
{
	index_stats st;
	char *text = NULL;

	if (config_index_stats(db, &st) == -1)
		return NULL;
	for (int i = 0; i < st.n_models; i++) {
		const index_model_stats *m = &st.models[i];
		char *more = NULL;

		util_set_cause(&more, "%s%s%s (%lld video%s)", text != NULL ? text : "",
		    text != NULL ? ", " : "",
		    cli_name(m->path != NULL ? m->path : m->name != NULL ? m->name : ""),
		    (long long)m->videos, m->videos == 1 ? "" : "s");
		free(text);
		if ((text = more) == NULL)
			break;
	}
	index_stats_clear(&st);
	return text;
}

/* Whether a and b name the same file. */
static int config_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino;
}

/*
 * The model files of the index at db that still exist, into *out (k of
 * them); the config's model lines choose among them when they name any.
 * A stored file that is gone is named.  The count, 0 when the index
 * offers none, -1 out of memory.
 */
static int config_index_models(const char *db, const cli_config *c, char ***out)
{
	index_stats st;
	int k = 0;

	*out = NULL;
	if (config_index_stats(db, &st) == -1)
		return 0;
	for (int pass = 0; pass < 2 && k == 0; pass++) {
		for (int i = 0; i < st.n_models; i++) {
			const char *path = st.models[i].path;
			int in_config = 0;

			int seen = 0;

			if (path == NULL || st.models[i].videos == 0)
				continue;
			/* The heads of one multi-head file are models of their own
			 * with one path: the file once gives them all. */
			for (int j = 0; j < i; j++)
				seen |= st.models[j].path != NULL && st.models[j].videos > 0 &&
				    strcmp(st.models[j].path, path) == 0;
			if (seen)
				continue;
			if (access(path, R_OK) != 0) {
				if (pass == 0)
					cli_error("the index %s was built with the model file %s, "
					    "which is missing now", cli_name(db), cli_name(path));
				continue;
			}
			for (int j = 0; c != NULL && j < c->n_models; j++)
				in_config |= config_same_file(c->models[j], path);
			/* Pass 0 takes the config's choice; pass 1, when it chose none, all. */
			if (pass == 0 && (c == NULL || c->n_models == 0 || in_config) &&
			    config_push(out, &k, util_strdup(path), 0) == -1)
				goto oom;
			if (pass == 1 && config_push(out, &k, util_strdup(path), 0) == -1)
				goto oom;
		}
	}
	index_stats_clear(&st);
	return k;
oom:
	index_stats_clear(&st);
	cli_free_strings(*out, k);
	*out = NULL;
	cli_error("out of memory");
	return -1;
}

int cli_model_paths(char *const *opt_models, int n_opt, const cli_config *c, const char *db,
    char ***out)
{
	char *const *src = opt_models;
	int n = n_opt;
	const char *demo;

	*out = NULL;
	if (n == 0 && (n = config_index_models(db, c, out)) != 0)
		return n;
	if (n == 0 && c != NULL) {
		src = c->models;
		n = c->n_models;
	}
	if (n > 0) {
		int k = 0;
		for (int i = 0; i < n; i++) {
			if (config_push(out, &k, util_strdup(src[i]), 0) == -1) {
				cli_free_strings(*out, k);
				*out = NULL;
				cli_error("out of memory");
				return -1;
			}
		}
		return k;
	}
	if ((demo = cli_demo_dir()) != NULL && (n = config_demo_models(demo, out)) > 0)
		return n;
	cli_free_strings(*out, n > 0 ? n : 0);
	*out = NULL;
	cli_error("no model: pass --model FILE (a clipgrep model file, e.g. one converted with "
	    "tools/convert), or add 'model = FILE' to %s",
	    c != NULL && c->path != NULL ? c->path : "~/.config/clipgrep/config");
	return -1;
}

char *cli_config_path(void)
{
	const char *env = getenv("CLIPGREP_CONFIG");
	char *base, *path;

	if (env != NULL && env[0] != '\0')
		return util_strdup(env);
	if ((base = config_xdg("XDG_CONFIG_HOME", ".config")) == NULL)
		return NULL;
	path = config_join(base, "clipgrep/config");
	free(base);
	return path;
}

char *cli_models_dir(void)
{
	char *base = config_xdg("XDG_DATA_HOME", ".local/share"), *dir;

	if (base == NULL)
		return NULL;
	dir = config_join(base, "clipgrep/models");
	free(base);
	return dir;
}

int cli_mkdirs(const char *path)
{
	char *p = util_strdup(path);

	if (p == NULL)
		return -1;
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST) {
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

int cli_config_set_model(const char *model_path)
{
	char *path = cli_config_path(), *tmp = NULL, *line = NULL, *slash;
	size_t cap = 0;
	FILE *in, *out = NULL;
	int rc = -1, ok;

	if (path == NULL) {
		cli_error("cannot set the default model: HOME is not set (set CLIPGREP_CONFIG)");
		return -1;
	}
	if ((slash = strrchr(path, '/')) != NULL && slash != path) {
		*slash = '\0';
		ok = cli_mkdirs(path) == 0;
		*slash = '/';
		if (!ok) {
			cli_error("%s: %s", cli_name(path), strerror(errno));
			goto out;
		}
	}
	if ((tmp = malloc(strlen(path) + 5)) == NULL) {
		cli_error("out of memory");
		goto out;
	}
	sprintf(tmp, "%s.tmp", path);
	if ((out = fopen(tmp, "w")) == NULL) {
		cli_error("%s: %s", cli_name(tmp), strerror(errno));
		goto out;
	}
	/* every line but the model lines, kept as written; then the one model */
	if ((in = fopen(path, "r")) != NULL) {
		while (getline(&line, &cap, in) != -1) {
			char *k = line, *eq;
			while (isspace((unsigned char)*k))
				k++;
			eq = strchr(k, '=');
			if (k[0] != '#' && eq != NULL) {
				char *e = eq;
				while (e > k && isspace((unsigned char)e[-1]))
					e--;
				if (e - k == 5 && memcmp(k, "model", 5) == 0)
					continue;
			}
			fputs(line, out);
			if (line[0] != '\0' && line[strlen(line) - 1] != '\n')
				fputc('\n', out);
		}
		fclose(in);
	} else if (errno != ENOENT) {
		cli_error("%s: %s", cli_name(path), strerror(errno));
		goto out;
	}
	fprintf(out, "model = %s\n", model_path);
	ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
	ok &= fclose(out) == 0;
	out = NULL;
	if (!ok || rename(tmp, path) != 0) {
		cli_error("%s: %s", cli_name(path), strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	if (out != NULL) {
		fclose(out);
		unlink(tmp);
	}
	free(line);
	free(tmp);
	free(path);
	return rc;
}

int cli_models_in(const char *dir, char ***out)
{
	return config_demo_models(dir, out);
}

/* Is path (resolved) inside dir (resolved)? */
static int config_is_under(const char *path, const char *dir)
{
	char *p = realpath(path, NULL), *d = realpath(dir, NULL);
	size_t n = d != NULL ? strlen(d) : 0;
	int in = p != NULL && d != NULL && strncmp(p, d, n) == 0 && (p[n] == '/' || p[n] == '\0');

	free(p);
	free(d);
	return in;
}

int cli_models_are_demo(char *const *models, int n)
{
	const char *demo = cli_demo_dir();

	for (int i = 0; demo != NULL && i < n; i++)
		if (config_is_under(models[i], demo))
			return 1;
	return 0;
}

int cli_is_demo_clip(const char *path)
{
	const char *demo = cli_demo_dir();
	char *clips = demo != NULL ? config_join(demo, "clips") : NULL;
	int in = clips != NULL && config_is_under(path, clips);

	free(clips);
	return in;
}

void cli_demo_notice(void)
{
	static int said;

	if (said++)
		return;
	cli_error("note: the bundled demo model only knows the synthetic demo shapes, so its rankings of "
	    "real footage mean little; get a real model with: clipgrep model fetch vit-b-32 --default");
}

int cli_is_demo_db(const char *db)
{
	char *base = config_xdg("XDG_DATA_HOME", ".local/share"), *demo;
	int same;

	if (base == NULL)
		return 0;
	demo = config_join(base, "clipgrep/demo.db");
	free(base);
	same = demo != NULL && (strcmp(db, demo) == 0 || config_same_file(db, demo));
	free(demo);
	return same;
}
