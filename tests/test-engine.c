/*
 * test-engine — core/indexer and core/engine on a generated library with the
 * tiny complete models (tests/golden/tiny-{tcmgc,ea}.safetensors):
 * indexing, re-indexing (add, change, delete, move without re-encoding),
 * the stop flag, the writer lock, searching, explaining, cached query
 * encodings, results that outlive the engine, engine_refresh while an
 * indexer runs in another thread, and the search cache file (written,
 * adopted, refused when stale, corrupt, truncated, forged or unwritable).
 *
 * Helper modes for the shell tests (no TAP):
 *   test-engine --json-lines        check that every line of stdin is a JSON
 *                                   object with the search keys
 *   test-engine --compare A B       compare two `search --json` outputs: the
 *                                   same paths in the same order, numbers
 *                                   within 1e-4 (relative)
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachefile.h"
#include "engine.h"
#include "index.h"
#include "indexer.h"
#include "json.h"
#include "tap.h"
#include "util.h"

static char tmpdir[256];
static char libdir[320];
static char dbpath[320];
static const char *models[2];

/* ---- helper modes ------------------------------------------------------- */

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	while (buf != NULL) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	*len = n;
	return buf;
}

static int json_lines_check(void)
{
	static const char *const keys[] = { "rank", "path", "score", "best_moment", "granularity",
		"lsa_weights", "ea_score", "words", "model", "clipgrep" };
	size_t len;
	char *text = read_all(stdin, &len), *line, *save = NULL;
	int lines = 0, bad = 0;

	if (text == NULL)
		return 2;
	text = realloc(text, len + 1);
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *cause = NULL;
		json_value *v = json_parse(line, strlen(line), &cause);
		lines++;
		if (v == NULL || json_kind(v) != JSON_OBJECT) {
			fprintf(stderr, "line %d: %s\n", lines, cause != NULL ? cause : "not an object");
			bad++;
		} else {
			const json_value *g = json_get(v, "granularity");
			for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
				if (json_get(v, keys[k]) == NULL) {
					fprintf(stderr, "line %d: no \"%s\"\n", lines, keys[k]);
					bad++;
				}
			if (g == NULL || json_get(g, "video_sentence") == NULL ||
			    json_get(g, "video_word") == NULL || json_get(g, "sentence_frame") == NULL ||
			    json_get(g, "frame_word") == NULL) {
				fprintf(stderr, "line %d: granularity lacks a score\n", lines);
				bad++;
			}
		}
		free(cause);
		json_free(v);
	}
	free(text);
	printf("%d lines, %d problems\n", lines, bad);
	return lines > 0 && bad == 0 ? 0 : 1;
}

/* Compare two JSON values: strings exactly, numbers within tolerance. */
static int json_same(const json_value *a, const json_value *b, const char *where)
{
	if (json_kind(a) != json_kind(b)) {
		fprintf(stderr, "%s: kinds differ\n", where);
		return 0;
	}
	switch (json_kind(a)) {
	case JSON_NUMBER: {
		double x = json_number(a), y = json_number(b);
		if (fabs(x - y) > 1e-4 * fmax(1.0, fmax(fabs(x), fabs(y)))) {
			fprintf(stderr, "%s: %.9g != %.9g\n", where, x, y);
			return 0;
		}
		return 1;
	}
	case JSON_STRING:
		if (strcmp(json_string(a, NULL), json_string(b, NULL)) != 0) {
			fprintf(stderr, "%s: \"%s\" != \"%s\"\n", where, json_string(a, NULL),
			    json_string(b, NULL));
			return 0;
		}
		return 1;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (json_length(a) != json_length(b)) {
			fprintf(stderr, "%s: lengths differ\n", where);
			return 0;
		}
		for (size_t i = 0; i < json_length(a); i++) {
			char sub[512];
			snprintf(sub, sizeof sub, "%s.%s", where,
			    json_kind(a) == JSON_OBJECT ? json_key_at(a, i) : "[]");
			if (json_kind(a) == JSON_OBJECT && strcmp(json_key_at(a, i), json_key_at(b, i)) != 0)
				return 0;
			if (!json_same(json_at(a, i), json_at(b, i), sub))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

typedef struct {
	char *key;      /* mode, path: equal scores may come in either order */
	json_value *v;
} json_line;

static int json_line_cmp(const void *a, const void *b)
{
	return strcmp(((const json_line *)a)->key, ((const json_line *)b)->key);
}

/* The lines of a file, parsed and sorted by (mode, path); NULL on error. */
static json_line *json_lines_load(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	json_line *lines = NULL;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;

	*n = 0;
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return NULL;
	}
	while ((len = getline(&buf, &cap, f)) > 0) {
		json_line *nl = realloc(lines, (*n + 1) * sizeof *nl);
		json_value *v = json_parse(buf, (size_t)len, NULL);
		const json_value *mode = json_get(v, "mode"), *p = json_get(v, "path");
		char key[4096];

		if (nl == NULL || v == NULL) {
			fprintf(stderr, "%s: line %zu is not JSON\n", path, *n + 1);
			json_free(v);
			free(nl != NULL ? nl : lines);
			lines = NULL;
			break;
		}
		lines = nl;
		snprintf(key, sizeof key, "%s\n%s", mode != NULL ? json_string(mode, NULL) : "",
		    p != NULL ? json_string(p, NULL) : "");
		lines[*n].key = strdup(key);
		lines[*n].v = v;
		(*n)++;
	}
	free(buf);
	fclose(f);
	if (lines != NULL)
		qsort(lines, *n, sizeof *lines, json_line_cmp);
	return lines;
}

static int json_compare(const char *pa, const char *pb)
{
	size_t na, nb;
	json_line *a = json_lines_load(pa, &na), *b = json_lines_load(pb, &nb);
	int ok = a != NULL && b != NULL && na == nb;

	if (a != NULL && b != NULL && na != nb)
		fprintf(stderr, "%zu lines against %zu\n", na, nb);
	for (size_t i = 0; ok && i < na; i++) {
		char where[64];
		snprintf(where, sizeof where, "entry %zu", i);
		/* Ranks of equal scores may swap; everything else must agree. */
		ok = strcmp(a[i].key, b[i].key) == 0;
		if (!ok)
			fprintf(stderr, "%s: %s against %s\n", where, a[i].key, b[i].key);
		for (size_t k = 0; ok && k < json_length(a[i].v); k++) {
			const char *key = json_key_at(a[i].v, k);
			const json_value *vb = json_get(b[i].v, key);
			char sub[128];
			if (strcmp(key, "rank") == 0)
				continue;
			snprintf(sub, sizeof sub, "%s.%s", where, key);
			ok = vb != NULL && json_same(json_at(a[i].v, k), vb, sub);
		}
	}
	for (size_t i = 0; a != NULL && i < na; i++) {
		free(a[i].key);
		json_free(a[i].v);
	}
	for (size_t i = 0; b != NULL && i < nb; i++) {
		free(b[i].key);
		json_free(b[i].v);
	}
	free(a);
	free(b);
	return ok ? 0 : 1;
}

/* ---- fixtures --------------------------------------------------------------- */

static int make_clip(const char *name, const char *source, int seconds, const char *vf)
{
	const char *ffmpeg = getenv("FFMPEG");
	char cmd[2048];

	snprintf(cmd, sizeof cmd,
	    "'%s' -nostdin -v error -y -f lavfi -i '%s=size=96x64:rate=10:duration=%d' -vf '%s' "
	    "-c:v libx264 -preset ultrafast -pix_fmt yuv420p '%s/%s'", ffmpeg, source, seconds, vf,
	    libdir, name);
	return system(cmd) == 0 ? 0 : -1;
}

static int run_index(indexer_stats *st, atomic_int *stop)
{
	indexer_options o;
	const char *roots[1] = { libdir };
	char *cause = NULL;
	int r;

	indexer_options_init(&o);
	o.roots = roots;
	o.n_roots = 1;
	o.models = models;
	o.n_models = 2;
	o.jobs = 2;
	o.batch = 8;
	o.stop = stop;
	r = indexer_run(dbpath, &o, st, &cause);
	if (r == -1)
		tap_diag("indexer_run: %s", cause != NULL ? cause : "?");
	free(cause);
	return r;
}

static engine *open_engine_cached(int no_cache, engine_info *info);

static engine *open_engine(void)
{
	engine_info info;

	return open_engine_cached(0, &info);
}

static void path_in_lib(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", libdir, name);
}

/* ---- the tests ----------------------------------------------------------- */

/* The search cache file beside dbpath ("index.db.search-T-E"): 0 and its path. */
static int find_cache_file(char *out, size_t n)
{
	const char *base = strrchr(dbpath, '/') + 1;
	size_t len = strlen(base);
	struct dirent *d;
	DIR *dir = opendir(tmpdir);
	int found = -1;

	while (dir != NULL && (d = readdir(dir)) != NULL)
		if (strncmp(d->d_name, base, len) == 0 && strncmp(d->d_name + len, ".search-", 8) == 0 &&
		    strstr(d->d_name, ".tmp-") == NULL) {
			if ((size_t)snprintf(out, n, "%s/%.200s", tmpdir, d->d_name) < n)
				found = 0;
		}
	if (dir != NULL)
		closedir(dir);
	return found;
}

/* The ranking of a query in every mode, ids and exact scores, as text. */
static void ranking(engine *e, char *out, size_t n)
{
	static const search_model modes[3] = { SEARCH_TCMGC, SEARCH_EA, SEARCH_FUSED };
	size_t used = 0;

	out[0] = '\0';
	for (int m = 0; m < 3; m++) {
		engine_result *res = NULL;
		if (engine_search(e, "red bars", modes[m], 10, &res, NULL) != 0) {
			snprintf(out + used, n - used, "error;");
			used = strlen(out);
			continue;
		}
		for (int h = 0; h < res->nhits && used + 64 < n; h++) {
			snprintf(out + used, n - used, "%" PRId64 ":%a:%d,", res->hits[h].video_id,
			    (double)res->hits[h].score, res->hits[h].best_frame);
			used = strlen(out);
		}
		snprintf(out + used, n - used, ";");
		used = strlen(out);
		engine_result_free(res);
	}
}

static engine *open_engine_cached(int no_cache, engine_info *info)
{
	engine_options eo;
	char *cause = NULL;
	engine *e;

	engine_options_init(&eo);
	eo.db_path = dbpath;
	eo.model_paths = models;
	eo.n_models = 2;
	eo.threads = 2;
	eo.no_cache = no_cache;
	if ((e = engine_open(&eo, &cause)) == NULL)
		tap_diag("engine_open: %s", cause != NULL ? cause : "?");
	else {
		engine_flush_cache(e);
		engine_get_info(e, info);
	}
	free(cause);
	return e;
}

/* Overwrite the byte at off (from the end when negative) with its complement. */
static int flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c, r = -1;

	if (f == NULL)
		return -1;
	if (fseek(f, off, off < 0 ? SEEK_END : SEEK_SET) == 0 && (c = fgetc(f)) != EOF &&
	    fseek(f, -1, SEEK_CUR) == 0 && fputc(~c & 0xff, f) != EOF)
		r = 0;
	return fclose(f) == 0 ? r : -1;
}

/* The offset of the last non-zero byte of path (inside the last array). */
static long last_data_byte(const char *path)
{
	FILE *f = fopen(path, "rb");
	long at = -1, i = 0;
	int c;

	while (f != NULL && (c = fgetc(f)) != EOF) {
		if (c != 0 && i >= 4096)
			at = i;
		i++;
	}
	if (f != NULL)
		fclose(f);
	return at;
}

/*
 * The search cache file (issue 12): first's load wrote it; later opens
 * search it in place with the same results, and rebuild it from the index
 * whenever it is damaged, truncated, forged or cannot be written.
 */
static void test_cache_file(engine *first, engine **adopted)
{
	char path[400], want[4096], got[4096];
	engine_info info;
	struct stat sb, sb2;
	engine *e;
	int changed = -1;

	engine_get_info(first, &info);
	tap_ok(info.cache == ENGINE_CACHE_WRITTEN && find_cache_file(path, sizeof path) == 0,
	    "the first open after indexing writes the cache file (%s)",
	    engine_cache_state_name(info.cache));
	ranking(first, want, sizeof want);

	e = open_engine_cached(0, &info);
	if (e != NULL)
		ranking(e, got, sizeof got);
	tap_ok(e != NULL && info.cache == ENGINE_CACHE_USED && info.videos == 4 &&
	    strcmp(want, got) == 0, "the next open searches it in place: the same hits, scores "
	    "and moments in every mode (%s)", e != NULL ? engine_cache_state_name(info.cache) : "-");
	tap_ok(e != NULL && engine_refresh(e, &changed, NULL) == 0 && changed == 0,
	    "a refresh with the change stamp unchanged changes nothing");
	engine_close(e);

	/* Damage, each time rebuilt from the index with the same results. */
	for (int k = 0; k < 4; k++) {
		const char *what = NULL, *why = NULL;
		int r = -1;
		switch (k) {
		case 0:
			what = "a flipped id";
			why = "checksum mismatch in ids";
			r = flip_byte(path, 4096);
			break;
		case 1:
			what = "a flipped byte of the last array";
			why = "checksum mismatch in ";
			r = flip_byte(path, last_data_byte(path));
			break;
		case 2:
			what = "a file cut in half";
			why = "truncated";
			r = stat(path, &sb) == 0 ? truncate(path, sb.st_size / 2) : -1;
			break;
		case 3:
			what = "a file cut to 100 bytes";
			why = "truncated";
			r = truncate(path, 100);
			break;
		}
		e = r == 0 ? open_engine_cached(0, &info) : NULL;
		if (e != NULL)
			ranking(e, got, sizeof got);
		tap_ok(e != NULL && info.cache == ENGINE_CACHE_REBUILT && info.cache_why != NULL &&
		    strncmp(info.cache_why, why, strlen(why)) == 0 && info.videos == 4 &&
		    strcmp(want, got) == 0, "%s: rebuilt from the index (%s), the same results",
		    what, e != NULL && info.cache_why != NULL ? info.cache_why : "-");
		engine_close(e);
		e = open_engine_cached(0, &info);
		tap_ok(e != NULL && info.cache == ENGINE_CACHE_USED, "and the rebuilt file is used");
		engine_close(e);
	}

	/* A file whose stamp says current but whose records name no such video. */
	{
		search_lib_arrays shape, a;
		cachefile_key key;
		cachefile_extras x;
		cachefile *cf = NULL;
		int64_t *ids = NULL;
		int r = -1, current;

		if (cachefile_peek(path, &key, &shape, NULL) == 0 &&
		    (cf = cachefile_open(path, &key, &shape, &a, &x, &current, NULL)) != NULL &&
		    a.n > 0 && (ids = malloc(a.n * sizeof *ids)) != NULL) {
			memcpy(ids, a.ids, a.n * sizeof *ids);
			ids[a.n - 1] = (int64_t)1000000 << 16; /* no such video, still ascending */
			a.ids = ids;
			r = cachefile_write(path, &key, &a, &x, NULL);
		}
		cachefile_close(cf);
		free(ids);
		e = r == 0 ? open_engine_cached(0, &info) : NULL;
		if (e != NULL)
			ranking(e, got, sizeof got);
		tap_ok(e != NULL && info.cache == ENGINE_CACHE_REBUILT && info.cache_why != NULL &&
		    strstr(info.cache_why, "disagree") != NULL && strcmp(want, got) == 0,
		    "a current-looking file naming a video the index lacks is rebuilt (%s)",
		    e != NULL && info.cache_why != NULL ? info.cache_why : "-");
		engine_close(e);
	}

	/* Off: neither read nor written. */
	stat(path, &sb);
	e = open_engine_cached(1, &info);
	stat(path, &sb2);
	tap_ok(e != NULL && info.cache == ENGINE_CACHE_OFF && sb.st_ino == sb2.st_ino &&
	    sb.st_mtime == sb2.st_mtime, "no_cache leaves the file alone");
	engine_close(e);

	/* Unwritable: the cache path is a directory. */
	unlink(path);
	mkdir(path, 0700);
	e = open_engine_cached(0, &info);
	if (e != NULL)
		ranking(e, got, sizeof got);
	tap_ok(e != NULL && info.cache == ENGINE_CACHE_UNWRITABLE && strcmp(want, got) == 0,
	    "a cache path that cannot be written: searched from the index all the same (%s)",
	    e != NULL && info.cache_why != NULL ? info.cache_why : "-");
	engine_close(e);
	rmdir(path);
	/* Leave a current file for the stale case after the next index run:
	 * written by engine_flush_cache, not by engine_open. */
	{
		engine_options eo;
		engine_options_init(&eo);
		eo.db_path = dbpath;
		eo.model_paths = models;
		eo.n_models = 2;
		e = engine_open(&eo, NULL);
		int before = access(path, F_OK);
		if (e != NULL)
			engine_flush_cache(e);
		if (e != NULL)
			engine_get_info(e, &info);
		tap_ok(e != NULL && before == -1 && access(path, F_OK) == 0 &&
		    info.cache == ENGINE_CACHE_WRITTEN,
		    "a missing file is written again, by engine_flush_cache after the open");
		engine_close(e);
	}
	/* (Kept open past the next index run: nothing here writes the file in
	 * place again, which a live mapping would see.) */
	*adopted = open_engine_cached(0, &info);
	tap_ok(*adopted != NULL && info.cache == ENGINE_CACHE_USED, "and used by the next open");
}

static void test_search(engine *e, size_t videos)
{
	engine_result *r = NULL, *r2 = NULL, *ex = NULL;
	engine_info info;
	char *cause = NULL;
	int ok;

	engine_get_info(e, &info);
	tap_ok(info.videos == videos, "engine sees %zu searchable videos (want %zu)", info.videos,
	    videos);
	tap_ok(info.tcmgc_model != NULL && info.ea_model != NULL && info.frames == 4 &&
	    info.words == 12, "heads from both files, F = 4, L = 12");
	TAP_OK(engine_has_mode(e, SEARCH_FUSED) && engine_default_mode(e) == SEARCH_FUSED);

	ok = engine_search(e, "the red ball", SEARCH_TCMGC, 3, &r, &cause) == 0;
	tap_ok(ok, "search (tcmgc) %s", cause != NULL ? cause : "");
	if (!ok)
		return;
	tap_ok(r->nhits == 3 && r->n_tokens == 5 && strcmp(r->tokens[1], "the</w>") == 0 &&
	    strcmp(r->tokens[3], "ball</w>") == 0, "3 hits, tokens SOT the red ball EOT");
	tap_ok(r->encode_seconds > 0, "the first search encodes the query");
	ok = 1;
	for (int h = 0; h < r->nhits; h++) {
		const engine_hit *hit = &r->hits[h];
		double sum = 0;
		for (int f = 0; f < r->frames; f++)
			sum += hit->word_attn[(size_t)1 * r->frames + f];
		ok &= fabs(sum - 1) < 1e-4;
		ok &= h == 0 || hit->score <= r->hits[h - 1].score;
		ok &= isfinite(hit->best_time) && hit->best_time == hit->frame_times[hit->best_frame];
		ok &= hit->word_best != NULL && hit->path[0] == '/' && hit->rank == h + 1;
		ok &= isfinite(hit->z[0]) && isfinite(hit->omega[3]) && isnan(hit->ea);
	}
	tap_ok(ok, "hits ranked, attention rows sum to 1, best moment is a frame time");

	ok = engine_search(e, "the red ball", SEARCH_TCMGC, 3, &r2, &cause) == 0;
	tap_ok(ok && r2->encode_seconds == 0 && r2->hits[0].score == r->hits[0].score,
	    "the same text reuses its encoding");
	engine_result_free(r2);
	r2 = NULL;

	ok = engine_explain(e, "the red ball", SEARCH_TCMGC, r->hits[1].video_id, &ex, &cause) == 0;
	tap_ok(ok && ex->nhits == 1 && ex->hits[0].rank == 2 &&
	    fabsf(ex->hits[0].score - r->hits[1].score) < 1e-4f * fmaxf(1, fabsf(r->hits[1].score)),
	    "explain ranks the second hit 2nd with the same score");
	engine_result_free(ex);
	ex = NULL;

	ok = engine_search(e, "blue bars", SEARCH_FUSED, 100, &r2, &cause) == 0;
	tap_ok(ok && (size_t)r2->nhits == videos && isfinite(r2->hits[0].ea) &&
	    isfinite(r2->hits[0].tcmgc) && r2->hits[0].ea_exc != NULL, "fused search scores both heads");
	if (ok) {
		int64_t id = r2->hits[videos - 1].video_id;
		ok = engine_explain(e, "blue bars", SEARCH_FUSED, id, &ex, &cause) == 0;
		tap_ok(ok && ex->hits[0].rank == (int)videos &&
		    fabsf(ex->hits[0].score - r2->hits[videos - 1].score) < 1e-4f,
		    "explain (fused) ranks the last hit last, score normalised over the library");
	}
	engine_result_free(r2);
	r2 = NULL;
	engine_result_free(ex);
	ex = NULL;
	/* A superseded search (the TUI's keystroke): status 1, nothing built. */
	{
		atomic_int flag = 1;
		engine_set_cancel(e, &flag);
		ok = engine_search(e, "a new query", SEARCH_FUSED, 3, &r2, &cause) == 1 && r2 == NULL &&
		    cause == NULL;
		atomic_store(&flag, 0);
		ok = ok && engine_search(e, "a new query", SEARCH_FUSED, 3, &r2, &cause) == 0 &&
		    r2 != NULL && r2->nhits == 3;
		engine_set_cancel(e, NULL);
		tap_ok(ok, "a cancelled search returns 1 and no result; cleared, it runs");
		/* The text tower stopped before its first block, so nothing was kept:
		 * the cleared search encoded the text itself. */
		tap_ok(ok && r2->encode_seconds > 0,
		    "the cancelled search stopped in the text tower: the next one encoded the query "
		    "(%.3f ms)", ok ? r2->encode_seconds * 1e3 : 0.0);
		engine_result_free(r2);
		r2 = NULL;
	}
	ok = engine_search(e, "", SEARCH_EA, 3, &r2, &cause) == -1 && r2 == NULL;
	tap_ok(ok && cause != NULL, "an empty query is an error");
	free(cause);
	cause = NULL;

	index_frames *fr = engine_get_frames(e, r->hits[0].video_id, 1, &cause);
	tap_ok(fr != NULL && fr->n >= 1 && fr->frames[0].thumb_size > 2 &&
	    fr->frames[0].thumb[0] == 0xff && fr->frames[0].thumb[1] == 0xd8,
	    "engine_get_frames returns JPEG thumbnails");
	index_frames_free(fr);

	/* Results stay valid after the engine is gone (checked again by the caller). */
	engine_result_free(ex);
	engine_result_free(r2);
	engine_result_free(r);
	free(cause);
}

typedef struct {
	int rc;
	indexer_stats st;
} bg_index;

static void *bg_index_fn(void *arg)
{
	bg_index *b = arg;

	b->rc = run_index(&b->st, NULL);
	return NULL;
}

static atomic_int stop_flag;

static void stop_after_first(void *arg, const indexer_event *ev)
{
	(void)arg;
	if (ev->kind == INDEXER_EV_FILE && ev->action == INDEXER_ADDED)
		atomic_store(&stop_flag, 1);
}

/*
 * The best moment depends on the query in every mode: on one video, some
 * two of a handful of queries pick different frames (EA's aggregation
 * weights alone would give every query the same frame).
 */
static void test_best_moment(engine *e, const char *name)
{
	static const char *const queries[] = {
		"a red ball", "blue sky", "green circle", "the colour bars", "noise", "a dog",
		"white text", "moving square", "black and white", "yellow", "a clock", "the sea",
	};
	static const search_model modes[] = { SEARCH_EA, SEARCH_FUSED };
	char path[400];
	int64_t id;

	path_in_lib(path, sizeof path, name);
	if (engine_find_video(e, path, &id, NULL) != 0) {
		tap_ok(0, "%s is searchable", name);
		return;
	}
	for (int m = 0; m < 2; m++) {
		int first = -1, differ = 0, sane = 1;
		for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
			engine_result *r = NULL;
			if (engine_explain(e, queries[q], modes[m], id, &r, NULL) != 0 || r->nhits != 1) {
				sane = 0;
				engine_result_free(r);
				continue;
			}
			const engine_hit *h = &r->hits[0];
			sane &= h->best_frame >= 0 && h->best_frame < h->n_frames &&
			    isfinite(h->best_time) && h->best_time == h->frame_times[h->best_frame];
			if (first < 0)
				first = h->best_frame;
			else if (h->best_frame != first)
				differ = 1;
			engine_result_free(r);
		}
		tap_ok(sane && differ, "%s: the best moment of %s depends on the query",
		    engine_mode_name(modes[m]), name);
	}
}

/*
 * Issue 15: the same library indexed with tiny-multi.safetensors (the two
 * tiny models joined in one file, plus a "meanp" head) searches exactly as
 * with the two files, and the extra head is a mode of its own.
 */
static void test_multi(engine *e, const char *multi)
{
	static const search_model modes[] = { SEARCH_TCMGC, SEARCH_EA, SEARCH_FUSED };
	char db[400], *cause = NULL;
	const char *roots[1] = { libdir }, *paths[1] = { multi };
	indexer_options o;
	engine_options eo;
	engine_info info;
	engine_result *r1 = NULL, *r2 = NULL;
	search_model m;
	engine *em;
	int64_t id;
	int same;

	snprintf(db, sizeof db, "%s/multi.db", tmpdir);
	indexer_options_init(&o);
	o.roots = roots;
	o.n_roots = 1;
	o.models = paths;
	o.n_models = 1;
	o.batch = 8;
	indexer_run(db, &o, NULL, NULL);
	engine_options_init(&eo);
	eo.db_path = db;
	eo.model_paths = paths;
	eo.n_models = 1;
	eo.threads = 2;
	em = engine_open(&eo, &cause);
	if (em != NULL)
		engine_get_info(em, &info);
	if (!tap_ok(em != NULL && info.videos == 4 && info.extra_modes == 1 &&
	    strcmp(info.extra_names[0], "meanp") == 0 && engine_mode_count(em) == 4,
	    "a multi-head file: 4 videos, modes tcmgc, ea, fused and meanp (%s)",
	    cause != NULL ? cause : "ok")) {
		free(cause);
		engine_close(em);
		return;
	}
	for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
		same = engine_search(e, "red", modes[k], 10, &r1, NULL) == 0 &&
		    engine_search(em, "red", modes[k], 10, &r2, NULL) == 0 && r1->nhits == r2->nhits &&
		    strcmp(r2->mode_name, engine_mode_name(modes[k])) == 0;
		for (int h = 0; same && h < r1->nhits; h++)
			same = strcmp(r1->hits[h].path, r2->hits[h].path) == 0 &&
			    r1->hits[h].score == r2->hits[h].score;
		tap_ok(same, "mode %s: the same hits and scores as the two files",
		    engine_mode_name(modes[k]));
		engine_result_free(r1);
		engine_result_free(r2);
		r1 = r2 = NULL;
	}
	tap_ok(engine_mode_find(em, "meanp", &m) == 0 && (int)m == ENGINE_MODE_EXTRA &&
	    engine_has_mode(em, m) && strcmp(engine_mode_label(em, m), "meanp") == 0 &&
	    engine_mode_find(em, "ea", &m) == 0 && m == SEARCH_EA &&
	    engine_mode_find(em, "nope", &m) == -1 && !engine_has_mode(e, ENGINE_MODE_EXTRA),
	    "mode names: the head's, the built-in ones, none other");
	m = (search_model)ENGINE_MODE_EXTRA;
	same = engine_search(em, "red", m, 10, &r1, &cause) == 0;
	tap_ok(same && r1->nhits == 4 && r1->mode == SEARCH_EA && strcmp(r1->mode_name, "meanp") == 0 &&
	    isfinite(r1->hits[0].ea) && r1->hits[0].best_frame >= 0,
	    "mode meanp searches with its head: EA hits, named meanp (%s)",
	    cause != NULL ? cause : "ok");
	if (same && engine_find_video(em, r1->hits[1].path, &id, NULL) == 0) {
		tap_ok(engine_explain(em, "red", m, id, &r2, &cause) == 0 && r2->nhits == 1 &&
		    r2->hits[0].rank == 2 && r2->hits[0].score == r1->hits[1].score &&
		    strcmp(r2->mode_name, "meanp") == 0,
		    "explain in mode meanp: rank 2 and the same score (%s)",
		    cause != NULL ? cause : "ok");
	} else {
		tap_ok(0, "explain in mode meanp: no second hit");
	}
	{
		/* engine_score_all: the scores engine_search ranks by, for every video. */
		static const search_model all[] = { SEARCH_TCMGC, SEARCH_EA, SEARCH_FUSED,
			(search_model)ENGINE_MODE_EXTRA };
		int64_t ids[16];
		float sc[16];
		size_t n = 0;
		int agree = 1;

		for (size_t k = 0; k < sizeof all / sizeof all[0] && agree; k++) {
			engine_result *r = NULL;
			agree = engine_score_all(em, "red", all[k], ids, sc, 16, &n, &cause) == 0 && n == 4 &&
			    engine_search(em, "red", all[k], 10, &r, &cause) == 0 && r->nhits == 4;
			for (int h = 0; agree && h < r->nhits; h++) {
				int found = 0;
				for (size_t i = 0; i < n; i++)
					found |= ids[i] == r->hits[h].video_id && sc[i] == r->hits[h].score &&
					    strcmp(engine_video_path(em, ids[i]), r->hits[h].path) == 0;
				agree = found;
			}
			engine_result_free(r);
		}
		tap_ok(agree, "engine_score_all gives every hit's score, in every mode (%s)",
		    cause != NULL ? cause : "ok");
		agree = engine_score_all(em, "red", SEARCH_EA, ids, sc, 2, &n, &cause) == -1;
		tap_ok(agree && cause != NULL && strstr(cause, "4 videos, room for 2") != NULL,
		    "engine_score_all refuses too small arrays: %s", cause != NULL ? cause : "?");
		free(cause);
		cause = NULL;
	}
	tap_ok(engine_refresh(em, NULL, &cause) == 0, "refresh with the extra mode open (%s)",
	    cause != NULL ? cause : "ok");
	engine_result_free(r1);
	engine_result_free(r2);
	engine_close(em);
	free(cause);
}

int main(int argc, char **argv)
{
	indexer_stats st;
	engine *e, *adopted = NULL;
	engine_result *kept = NULL;
	char *cause = NULL, a[400], b[400];
	const char *ffmpeg = getenv("FFMPEG"), *srcdir = getenv("top_srcdir");
	static char m1[512], m2[512];
	int changed, r;

	if (argc >= 2 && strcmp(argv[1], "--json-lines") == 0)
		return json_lines_check();
	if (argc >= 4 && strcmp(argv[1], "--compare") == 0)
		return json_compare(argv[2], argv[3]);
	if (ffmpeg == NULL || ffmpeg[0] == '\0' || access(ffmpeg, X_OK) != 0)
		return tap_skip_all("no ffmpeg program ($FFMPEG)");
	snprintf(m1, sizeof m1, "%s/tests/golden/tiny-tcmgc.safetensors", srcdir ? srcdir : ".");
	snprintf(m2, sizeof m2, "%s/tests/golden/tiny-ea.safetensors", srcdir ? srcdir : ".");
	models[0] = m1;
	models[1] = m2;

	snprintf(tmpdir, sizeof tmpdir, "%s/clipgrep-test-engine-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return tap_skip_all("cannot make a temporary directory");
	snprintf(libdir, sizeof libdir, "%s/lib", tmpdir);
	snprintf(dbpath, sizeof dbpath, "%s/index.db", tmpdir);
	mkdir(libdir, 0700);
	r = make_clip("a-red.mp4", "testsrc2", 2, "hue=h=0") |
	    make_clip("b-blue.mp4", "testsrc2", 2, "hue=h=180") |
	    make_clip("c-bars.mp4", "smptebars", 2, "null") |
	    make_clip("d-noise.mp4", "testsrc", 3, "negate");
	if (r != 0)
		return tap_skip_all("ffmpeg could not make the test clips");
	path_in_lib(a, sizeof a, "broken.mp4");
	FILE *f = fopen(a, "w");
	if (f != NULL) {
		fputs("not a video", f);
		fclose(f);
	}

	/* An engine on an index that does not exist yet (the TUI on a new folder). */
	engine *early;
	{
		engine_options eo;
		engine_options_init(&eo);
		eo.db_path = dbpath;
		eo.model_paths = models;
		eo.n_models = 2;
		eo.create = 1;
		early = engine_open(&eo, &cause);
		engine_info info;
		if (early != NULL)
			engine_get_info(early, &info);
		tap_ok(early != NULL && info.videos == 0, "engine_open creates an empty index: %s",
		    cause != NULL ? cause : "ok");
		free(cause);
		cause = NULL;
	}

	/* The stop flag: stop after the first added video, then finish. */
	{
		indexer_options o;
		const char *roots[1] = { libdir };
		indexer_options_init(&o);
		o.roots = roots;
		o.n_roots = 1;
		o.models = models;
		o.n_models = 2;
		o.jobs = 1;
		o.batch = 4; /* one video per batch, so the stop lands between videos */
		o.stop = &stop_flag;
		o.progress = stop_after_first;
		r = indexer_run(dbpath, &o, &st, &cause);
		tap_ok(r == 1 && st.stopped && st.actions[INDEXER_ADDED] == 1,
		    "the stop flag ends the run after the video in flight (rc %d, %lld added)", r,
		    (long long)st.actions[INDEXER_ADDED]);
		free(cause);
		cause = NULL;
	}
	if (early != NULL) {
		engine_info info;
		r = engine_refresh(early, &changed, &cause);
		engine_get_info(early, &info);
		tap_ok(r == 0 && changed == 1 && info.videos == 1,
		    "refresh finds the models and the first video (%d changed)", changed);
		engine_close(early);
	}
	r = run_index(&st, NULL);
	tap_ok(st.towers == 1, "the two tiny models share one image tower (%d)", st.towers);
	tap_ok(r == 0 && st.files_total == 5 && st.actions[INDEXER_ADDED] == 3 &&
	    st.actions[INDEXER_FAILED] == 1 && st.actions[INDEXER_UNCHANGED] == 1,
	    "a rerun finishes: 3 added, 1 failed, 1 unchanged (rc %d)", r);

	/* The writer lock. */
	{
		index_db *holder = index_open(dbpath, 0, NULL);
		int locked = holder != NULL && index_lock_writer(holder, 0, NULL) == 0;
		indexer_options o;
		const char *roots[1] = { libdir };
		indexer_options_init(&o);
		o.roots = roots;
		o.n_roots = 1;
		o.models = models;
		o.n_models = 2;
		r = indexer_run(dbpath, &o, NULL, &cause);
		tap_ok(locked && r == -1 && cause != NULL && strstr(cause, "another clipgrep") != NULL,
		    "a second indexer is refused: %s", cause != NULL ? cause : "?");
		free(cause);
		cause = NULL;
		index_close(holder);
	}

	if ((e = open_engine()) == NULL)
		return tap_done();
	test_cache_file(e, &adopted);
	test_search(e, 4);
	test_best_moment(e, "d-noise.mp4");
	test_best_moment(e, "a-red.mp4");
	{
		static char m4[512];
		snprintf(m4, sizeof m4, "%s/tests/golden/tiny-multi.safetensors", srcdir ? srcdir : ".");
		test_multi(e, m4);
	}
	engine_search(e, "green circle", SEARCH_EA, 2, &kept, NULL);

	/* Re-index: a move (no re-encode), a change, a deletion, an addition. */
	path_in_lib(a, sizeof a, "a-red.mp4");
	path_in_lib(b, sizeof b, "moved-red.mp4");
	rename(a, b);
	r = run_index(&st, NULL);
	tap_ok(r == 0 && st.actions[INDEXER_MOVED] == 1 && st.frames == 0,
	    "a moved file is recognised without encoding (%lld moved, %lld frames)",
	    (long long)st.actions[INDEXER_MOVED], (long long)st.frames);
	path_in_lib(a, sizeof a, "b-blue.mp4");
	unlink(a);
	make_clip("c-bars.mp4", "smptebars", 3, "negate");
	make_clip("e-new.mp4", "testsrc2", 2, "hue=h=90");
	r = run_index(&st, NULL);
	tap_ok(r == 0 && st.actions[INDEXER_DELETED] == 1 && st.actions[INDEXER_UPDATED] == 1 &&
	    st.actions[INDEXER_ADDED] == 1, "a deletion, a change and an addition");
	r = engine_refresh(e, &changed, &cause);
	tap_ok(r == 0 && changed == 4, "engine_refresh sees 4 changes (got %d)", changed);
	{
		int64_t id;
		engine_info info;
		engine_get_info(e, &info);
		tap_ok(info.videos == 4 && engine_find_video(e, b, &id, NULL) == 0 &&
		    engine_find_video(e, a, &id, NULL) == 1, "the moved path is found, the deleted not");
	}
	r = engine_refresh(e, &changed, &cause);
	tap_ok(r == 0 && changed == 0, "a second refresh changes nothing");
	if (adopted != NULL) {
		char want[4096], got[4096];
		engine_info info;
		r = engine_refresh(adopted, &changed, &cause);
		ranking(e, want, sizeof want);
		ranking(adopted, got, sizeof got);
		tap_ok(r == 0 && changed == 4 && strcmp(want, got) == 0,
		    "an engine on the cache file follows the same changes (%d)", changed);
		if (strcmp(want, got) != 0) {
			char fresh[4096];
			engine *fr = open_engine_cached(1, &info);
			ranking(fr, fresh, sizeof fresh);
			tap_diag("refreshed: %s\nadopted:   %s\nfresh:     %s", want, got, fresh);
			engine_close(fr);
		}
		engine_close(adopted);
		adopted = open_engine_cached(0, &info);
		if (adopted != NULL)
			ranking(adopted, got, sizeof got);
		/* Moved and unchanged videos keep their tensor stamps; the changed
		 * and the added one are read from the index. */
		tap_ok(adopted != NULL && info.cache == ENGINE_CACHE_EXTENDED && info.cache_why != NULL &&
		    strcmp(info.cache_why, "2 videos kept, 2 read from the index") == 0 &&
		    strcmp(want, got) == 0, "after indexing, the next open extends the older file: "
		    "the same results (%s)", adopted != NULL && info.cache_why != NULL ?
		    info.cache_why : "-");
		engine_close(adopted);
		adopted = open_engine_cached(0, &info);
		if (adopted != NULL)
			ranking(adopted, got, sizeof got);
		tap_ok(adopted != NULL && info.cache == ENGINE_CACHE_USED && strcmp(want, got) == 0,
		    "and the file it wrote is used by the next open");
		engine_close(adopted);
	}

	/* A damaged row (issue 17.5): the rest opens and searches; index repairs it. */
	if (system("sqlite3 -version >/dev/null 2>&1") != 0) {
		tap_skip("a damaged row: no sqlite3 program to damage it with");
	} else {
		char sql[1200];
		engine_options eo;
		engine_info info;
		engine_result *res = NULL;
		engine *d;
		int64_t id;

		snprintf(sql, sizeof sql, "sqlite3 '%s' \"UPDATE video_tensors SET data ="
		    " substr(data, 1, 10) WHERE video_id = (SELECT id FROM videos"
		    " WHERE path = CAST('%s' AS BLOB))\"", dbpath, b);
		tap_ok(system(sql) == 0, "damage the rows of one video with sqlite3");
		engine_options_init(&eo);
		eo.db_path = dbpath;
		eo.model_paths = models;
		eo.n_models = 2;
		d = engine_open(&eo, &cause);
		if (d != NULL) {
			engine_flush_cache(d);
			engine_get_info(d, &info);
		}
		tap_ok(d != NULL && info.videos == 3 && info.damaged == 1 &&
		    strcmp(info.damaged_paths[0], b) == 0 && engine_find_video(d, b, &id, NULL) == 2,
		    "engine_open skips the damaged video and names it: %s",
		    cause != NULL ? cause : "ok");
		tap_ok(d != NULL && engine_search(d, "red", SEARCH_FUSED, 10, &res, &cause) == 0 &&
		    res->nhits == 3, "the other videos are searchable");
		engine_result_free(res);
		{
			engine *c = open_engine_cached(0, &info);
			tap_ok(c != NULL && info.cache == ENGINE_CACHE_USED && info.videos == 3 &&
			    info.damaged == 1 && strcmp(info.damaged_paths[0], b) == 0,
			    "the cache file keeps the damaged video out and named");
			engine_close(c);
		}
		r = run_index(&st, NULL);
		tap_ok(r == 0 && st.actions[INDEXER_REENCODED] == 1 && st.actions[INDEXER_FAILED] == 0,
		    "the next index run re-encodes it (%lld)", (long long)st.actions[INDEXER_REENCODED]);
		r = d != NULL ? engine_refresh(d, NULL, &cause) : -1;
		if (d != NULL)
			engine_get_info(d, &info);
		tap_ok(r == 0 && info.videos == 4 && info.damaged == 0 &&
		    engine_find_video(d, b, &id, NULL) == 0, "a refresh picks up the repaired video");
		engine_close(d);
		free(cause);
		cause = NULL;
	}

	/* Search while an indexer runs in another thread. */
	{
		pthread_t t;
		bg_index bg = { 0 };
		int searches = 0, bad = 0;
		for (int i = 0; i < 4; i++) {
			char name[32];
			snprintf(name, sizeof name, "f-%d.mp4", i);
			make_clip(name, i % 2 ? "testsrc" : "smptebars", 2, "hue=h=45");
		}
		pthread_create(&t, NULL, bg_index_fn, &bg);
		for (int i = 0; i < 200; i++) {
			engine_result *res = NULL;
			if (engine_refresh(e, NULL, &cause) == -1 ||
			    engine_search(e, "red bars", SEARCH_FUSED, 10, &res, &cause) == -1) {
				bad++;
				tap_diag("%s", cause != NULL ? cause : "?");
				free(cause);
				cause = NULL;
			} else {
				for (int h = 0; h < res->nhits; h++)
					if (res->hits[h].path[0] != '/' || !isfinite(res->hits[h].score))
						bad++;
				searches++;
			}
			engine_result_free(res);
			usleep(2000);
		}
		pthread_join(t, NULL);
		engine_refresh(e, NULL, NULL);
		engine_info info;
		engine_get_info(e, &info);
		tap_ok(bg.rc == 0 && bad == 0 && searches == 200 && info.videos == 8,
		    "200 searches during indexing are consistent; 8 videos after");
	}
	engine_close(e);
	if (kept != NULL)
		tap_diag("kept: %d hits, %d tokens, %s", kept->nhits, kept->n_tokens,
		    kept->nhits > 0 ? kept->hits[0].path : "-");
	tap_ok(kept != NULL && kept->nhits == 2 && strncmp(kept->hits[0].path, libdir,
	    strlen(libdir)) == 0 && kept->n_tokens == 4, "a result outlives its engine");
	engine_result_free(kept);

	/* Different image towers are run separately. */
	{
		static char m3[512];
		indexer_options o;
		const char *roots[1] = { libdir }, *two[2] = { m1, m3 };
		snprintf(m3, sizeof m3, "%s/tests/golden/tiny-clip.safetensors", srcdir ? srcdir : ".");
		snprintf(dbpath, sizeof dbpath, "%s/two-towers.db", tmpdir);
		indexer_options_init(&o);
		o.roots = roots;
		o.n_roots = 1;
		o.models = two;
		o.n_models = 2;
		r = indexer_run(dbpath, &o, &st, &cause);
		/* The library holds two files with the same content: the second is
		 * "copied" when the first is already committed, else encoded too
		 * ("added"); the decode thread's pace decides, so count both. */
		int stored = (int)(st.actions[INDEXER_ADDED] + st.actions[INDEXER_COPIED]);
		tap_ok(r == 0 && st.towers == 2 && stored == 8,
		    "models with different image towers each encode the frames (rc %d, %d towers, %d stored): %s",
		    r, st.towers, stored, cause != NULL ? cause : "ok");
		free(cause);
		cause = NULL;
	}

	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
