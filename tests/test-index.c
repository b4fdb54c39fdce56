/*
 * test-index — the SQLite index: schema, exact round trips of awkward paths,
 * replace / move / copy / delete, refusals (newer schema, foreign and
 * corrupt files, read-only files and directories, a second writer), crash
 * safety under SIGKILL, shard merging, and the search start-up load time.
 *
 * Database headers are patched by byte offset (SQLite file format: the
 * user_version is the big-endian u32 at offset 60, the application id at 68)
 * so the test needs no sqlite3.h: only core/index.c includes it.  Rows are
 * edited with the sqlite3 program where there is one (else those tests skip).
 */
/* unshare(2) for the read-only bind mount. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/fs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#endif

#include "hash.h"
#include "index.h"
#include "tap.h"
#include "util.h"

static char tmp[256];

/* tmp/name in a static ring of buffers (several paths live at once). */
static const char *tp(const char *name)
{
	static char ring[8][512];
	static int at;
	char *p = ring[at++ % 8];

	snprintf(p, sizeof ring[0], "%s/%s", tmp, name);
	return p;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n)
			*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Patch the big-endian u32 at off of the file. */
static int patch_u32(const char *path, long off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	FILE *f = fopen(path, "r+b");
	int ok;

	if (f == NULL)
		return -1;
	ok = fseek(f, off, SEEK_SET) == 0 && fwrite(b, 1, 4, f) == 4;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void diag_cause(const char *what, char *cause)
{
	tap_diag("%s: %s", what, cause != NULL ? cause : "(no cause)");
}

/* ---- deterministic fake videos ---------------------------------------------- */

#define FAKE_MAXF 16
#define FAKE_MAXT 8
#define FAKE_KINDS 2
static const char *const fake_kinds[FAKE_KINDS] = { "frames", "cache" };

typedef struct {
	index_video v;
	index_frame frames[FAKE_MAXF];
	uint8_t *thumbs[FAKE_MAXF];
	index_tensor tensors[FAKE_MAXT];
	float *data[FAKE_MAXT];
	char path[4200];
} fake;

static float fake_value(int seq, int version, int64_t model_hash_tag, int kind, int64_t j)
{
	return (float)(seq * 1000 + version * 500 + model_hash_tag * 100 + kind * 10) +
	    (float)j * 0.001f;
}

/*
 * Video seq, version: nframes frames with thumbnails of varying size (some
 * spill into overflow pages), and kinds "frames" and "cache" of `count`
 * floats for each model.  tags[m] names model m in the values, so a merge
 * that mixed up model ids shows.
 */
static void fake_make(fake *f, const char *path, int seq, int version, int nframes,
    int nmodels, const int64_t *model_ids, const int *tags, int64_t count)
{
	char key[64];

	memset(f, 0, sizeof *f);
	snprintf(f->path, sizeof f->path, "%s", path);
	f->v.path = f->path;
	f->v.size = 1000000 + seq;
	f->v.mtime_ns = 1700000000000000000LL + seq;
	snprintf(key, sizeof key, "content %d %d", seq, version);
	hash_bytes(key, strlen(key), f->v.hash);
	f->v.duration = version;
	f->v.status = INDEX_OK;
	f->v.n_frames = nframes;
	f->v.frames = f->frames;
	for (int i = 0; i < nframes; i++) {
		size_t n = 500 + (size_t)((seq * 13 + i * 1013 + version * 7) % 9000);

		f->thumbs[i] = malloc(n);
		for (size_t j = 0; j < n; j++)
			f->thumbs[i][j] = (uint8_t)(seq * 31 + i * 7 + (int)j + version);
		f->frames[i].time = seq + i * 0.5 + version * 0.25;
		f->frames[i].thumb = f->thumbs[i];
		f->frames[i].thumb_size = n;
		f->frames[i].thumb_width = 192;
		f->frames[i].thumb_height = 108 + i;
	}
	for (int m = 0; m < nmodels; m++) {
		for (int k = 0; k < FAKE_KINDS; k++) {
			int t = f->v.n_tensors++;

			f->data[t] = malloc((size_t)count * sizeof(float));
			for (int64_t j = 0; j < count; j++)
				f->data[t][j] = fake_value(seq, version, tags[m], k, j);
			f->tensors[t].model_id = model_ids[m];
			f->tensors[t].kind = fake_kinds[k];
			f->tensors[t].data = f->data[t];
			f->tensors[t].count = count;
		}
	}
	f->v.tensors = f->tensors;
}

static void fake_free(fake *f)
{
	for (int i = 0; i < FAKE_MAXF; i++)
		free(f->thumbs[i]);
	for (int i = 0; i < FAKE_MAXT; i++)
		free(f->data[i]);
}

/*
 * Everything stored for id equals f: row, frames with thumbnails, and every
 * tensor (model ids as stored in this index: ids[m]).  Returns 1 when equal;
 * else 0 and *why says what differs.
 */
static int fake_matches(index_db *ix, int64_t id, const fake *f, int nmodels,
    const int64_t *ids, const char **why)
{
	index_video_row row;
	index_frames *fr;
	char *cause = NULL;
	int ok = 1;

	*why = "";
	if (index_lookup_id(ix, id, &row, &cause) != 0) {
		*why = "no row";
		free(cause);
		return 0;
	}
	if (strcmp(row.path, f->v.path) != 0 || row.size != f->v.size ||
	    row.mtime_ns != f->v.mtime_ns || memcmp(row.hash, f->v.hash, HASH_SIZE) != 0 ||
	    row.duration != f->v.duration || row.frames != f->v.n_frames ||
	    row.status != f->v.status) {
		*why = "row differs";
		ok = 0;
	}
	index_row_clear(&row);
	fr = index_get_frames(ix, id, 1, &cause);
	if (fr == NULL || fr->n != f->v.n_frames) {
		*why = "frame count differs";
		ok = 0;
	}
	for (int i = 0; ok && i < fr->n; i++) {
		const index_frame *a = &fr->frames[i], *b = &f->frames[i];

		if (a->time != b->time || a->thumb_size != b->thumb_size ||
		    a->thumb_width != b->thumb_width || a->thumb_height != b->thumb_height ||
		    memcmp(a->thumb, b->thumb, b->thumb_size) != 0) {
			*why = "frame differs";
			ok = 0;
		}
	}
	index_frames_free(fr);
	/* A range of frames is exactly those frames (a segment's, in the engine). */
	if (ok && f->v.n_frames >= 3) {
		fr = index_get_frame_range(ix, id, 1, 2, 1, &cause);
		if (fr == NULL || fr->n != 2 || fr->frames[0].time != f->frames[1].time ||
		    fr->frames[1].time != f->frames[2].time ||
		    fr->frames[1].thumb_size != f->frames[2].thumb_size ||
		    memcmp(fr->frames[1].thumb, f->frames[2].thumb, f->frames[2].thumb_size) != 0) {
			*why = "frame range differs";
			ok = 0;
		}
		index_frames_free(fr);
	}
	for (int m = 0; ok && m < nmodels; m++) {
		for (int k = 0; ok && k < FAKE_KINDS; k++) {
			const index_tensor *t = &f->tensors[m * FAKE_KINDS + k];
			float *data = NULL;
			int64_t count = 0;

			if (index_get_tensor(ix, id, ids[m], fake_kinds[k], &data, &count,
			    &cause) != 0) {
				*why = "tensor missing";
				ok = 0;
			} else if (count != t->count ||
			    memcmp(data, t->data, (size_t)count * sizeof(float)) != 0) {
				*why = "tensor differs";
				ok = 0;
			}
			free(data);
		}
	}
	free(cause);
	return ok;
}

static int64_t add_model(index_db *ix, const char *name, char **cause)
{
	index_model_info mi;

	memset(&mi, 0, sizeof mi);
	hash_bytes(name, strlen(name), mi.hash);
	mi.name = name;
	mi.architecture = "ea";
	mi.config_json = "{\"frames\": 12}";
	return index_model_id(ix, &mi, cause);
}

/* ---- schema ------------------------------------------------------------------- */

static void test_create(void)
{
	const char *db = tp("new/deeper/index.db");
	char *cause = NULL;
	index_stats s;
	index_db *ix;
	uint8_t *hdr;
	size_t len;
	struct stat st;

	ix = index_open(db, 0, &cause);
	tap_ok(ix == NULL && cause != NULL && strstr(cause, "no such index") != NULL,
	    "opening a missing index without INDEX_CREATE fails");
	ix = index_open(db, INDEX_CREATE, &cause);
	if (!tap_ok(ix != NULL, "create an index in directories that do not exist yet"))
		diag_cause("open", cause);
	tap_ok(stat(tp("new/deeper"), &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "parent directories made with mode 0700");
	tap_ok(ix != NULL && index_get_stats(ix, &s, &cause) == 0 &&
	    s.schema_version == INDEX_SCHEMA_VERSION && s.videos == 0 && s.n_models == 0 &&
	    s.db_bytes > 0, "a new index is empty, schema %d", INDEX_SCHEMA_VERSION);
	index_stats_clear(&s);
	tap_ok(ix != NULL && index_check(ix, &cause) == 0, "a new index passes index_check");
	index_close(ix);

	hdr = read_file(db, &len);
	tap_ok(hdr != NULL && len >= 100 && memcmp(hdr, "SQLite format 3", 16) == 0 &&
	    hdr[18] == 2 && hdr[19] == 2, "the file is SQLite in WAL mode");
	tap_ok(hdr != NULL && len >= 100 && hdr[60] == 0 && hdr[63] == INDEX_SCHEMA_VERSION &&
	    memcmp(hdr + 68, "CGIX", 4) == 0, "user_version %d and application id \"CGIX\"",
	    INDEX_SCHEMA_VERSION);
	free(hdr);
	tap_ok(!exists(tp("new/deeper/index.db-wal")), "a clean close leaves no WAL behind");

	ix = index_open(db, 0, &cause);
	tap_ok(ix != NULL, "reopen an existing index");
	index_close(ix);

	/* A zero-length file is an empty database: created when writing. */
	write_file(tp("zero.db"), "", 0);
	ix = index_open(tp("zero.db"), INDEX_READONLY, &cause);
	tap_ok(ix == NULL && cause != NULL && strstr(cause, "is not a clipgrep index: it is empty"),
	    "an empty file is refused read-only");
	ix = index_open(tp("zero.db"), 0, &cause);
	tap_ok(ix != NULL, "an empty file gets the schema when opened for writing");
	index_close(ix);
	index_close(NULL);
	free(cause);
}

/* ---- round trips ----------------------------------------------------------------- */

static const char *const awkward[] = {
	"/videos/dir with spaces/a b.mp4",
	"/videos/new\nline.mp4",
	"/videos/\xff\xfe invalid \xc3\x28 utf8.mkv",
	"/videos/\x1b[31mred\x1b[0m\x07.webm",
	"/videos/tab\there/caf\xc3\xa9 \xe2\x80\xae rtl.mov",
	"relative/path.mp4",
};
#define N_AWKWARD (int)(sizeof awkward / sizeof awkward[0])

typedef struct {
	int n;
	char *paths[64];
} listing;

static int collect(void *arg, const index_video_row *row)
{
	listing *l = arg;

	if (l->n < 64)
		l->paths[l->n++] = util_strdup(row->path);
	return 0;
}

static int bytes_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void listing_clear(listing *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->paths[i]);
	l->n = 0;
}

static void test_roundtrip(void)
{
	const char *db = tp("rt.db");
	char *cause = NULL, longpath[4100];
	int64_t models[2], ids[N_AWKWARD + 1], id;
	int tags[2] = { 1, 2 };
	const char *why;
	index_video_row row;
	index_video bad;
	index_db *ix;
	listing l = { 0 };
	fake f;
	int ok = 1, n;

	ix = index_open(db, INDEX_CREATE, &cause);
	models[0] = add_model(ix, "model-a", &cause);
	models[1] = add_model(ix, "model-b", &cause);
	tap_ok(models[0] > 0 && models[1] > 0 && models[0] != models[1], "two models get ids");
	tap_ok(add_model(ix, "model-a", &cause) == models[0], "a known model hash gets its id back");

	for (int i = 0; i < N_AWKWARD; i++) {
		fake_make(&f, awkward[i], i, 0, 12, 2, models, tags, 12 * 16);
		ids[i] = index_put_video(ix, &f.v, &cause);
		if (ids[i] <= 0) {
			diag_cause("put", cause);
			ok = 0;
		} else if (!fake_matches(ix, ids[i], &f, 2, models, &why)) {
			tap_diag("%s: %s", awkward[i], why);
			ok = 0;
		}
		if (index_lookup_path(ix, awkward[i], &row, &cause) != 0 || row.id != ids[i] ||
		    strcmp(row.path, awkward[i]) != 0)
			ok = 0;
		index_row_clear(&row);
		fake_free(&f);
	}
	tap_ok(ok, "paths with spaces, newlines, invalid UTF-8 and escapes round-trip exactly");

	memset(longpath, 'x', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	fake_make(&f, longpath, 99, 0, 1, 2, models, tags, 7);
	ids[N_AWKWARD] = index_put_video(ix, &f.v, &cause);
	tap_ok(ids[N_AWKWARD] > 0 && fake_matches(ix, ids[N_AWKWARD], &f, 2, models, &why),
	    "a 4 KB path round-trips");
	fake_free(&f);

	tap_ok(index_lookup_path(ix, "/videos/new", &row, &cause) == 1,
	    "a prefix of a stored path is not found");
	tap_ok(index_lookup_path(ix, "/videos/\xff\xfe invalid \xc3\x28 utf8.mkv.", &row,
	    &cause) == 1, "a longer path is not found");

	n = index_list_videos(ix, NULL, collect, &l, &cause);
	ok = n == 0 && l.n == N_AWKWARD + 1;
	for (int i = 1; ok && i < l.n; i++)
		ok = strcmp(l.paths[i - 1], l.paths[i]) < 0;
	tap_ok(ok, "index_list_videos lists every video once, in byte order");
	listing_clear(&l);
	n = index_list_videos(ix, "/videos/", collect, &l, &cause);
	tap_ok(n == 0 && l.n == 5, "listing under \"/videos/\" finds the 5 there");
	qsort(l.paths, (size_t)l.n, sizeof l.paths[0], bytes_cmp);
	listing_clear(&l);
	n = index_list_videos(ix, "/videos/\xff", collect, &l, &cause);
	tap_ok(n == 0 && l.n == 1 && strcmp(l.paths[0], awkward[2]) == 0,
	    "a prefix ending in byte 0xff lists its one video");
	listing_clear(&l);

	/* An error video: no frames, no tensors, its message kept. */
	memset(&bad, 0, sizeof bad);
	bad.path = "/videos/broken.mp4";
	bad.status = INDEX_ERROR;
	bad.error = "/videos/broken.mp4: moov atom not found";
	id = index_put_video(ix, &bad, &cause);
	tap_ok(id > 0 && index_lookup_id(ix, id, &row, &cause) == 0 &&
	    row.status == INDEX_ERROR && row.error != NULL &&
	    strcmp(row.error, bad.error) == 0 && row.frames == 0,
	    "an error video is stored with its message");
	index_row_clear(&row);

	/* Bad arguments change nothing. */
	fake_make(&f, "/videos/dup.mp4", 5, 0, 2, 2, models, tags, 4);
	f.tensors[1].kind = "frames";
	tap_ok(index_put_video(ix, &f.v, &cause) == -1 && strstr(cause, "given twice") != NULL &&
	    index_lookup_path(ix, "/videos/dup.mp4", &row, &cause) == 1,
	    "a tensor given twice is refused before writing");
	f.tensors[1].kind = "cache";
	f.tensors[1].model_id = 999;
	tap_ok(index_put_video(ix, &f.v, &cause) == -1 && strstr(cause, "no model 999") != NULL &&
	    index_lookup_path(ix, "/videos/dup.mp4", &row, &cause) == 1,
	    "an unknown model id rolls the whole video back");
	fake_free(&f);
	tap_ok(index_check(ix, &cause) == 0, "index_check after the round trips");
	index_close(ix);
	free(cause);
}

static void test_replace_move_delete(void)
{
	const char *db = tp("rmd.db");
	char *cause = NULL;
	int64_t models[2], id, id2, id3, count;
	int tags[2] = { 1, 2 };
	const char *why;
	index_video_row row;
	index_frames *fr;
	index_db *ix;
	float *data;
	fake a, b;

	ix = index_open(db, INDEX_CREATE, &cause);
	models[0] = add_model(ix, "model-a", &cause);
	models[1] = add_model(ix, "model-b", &cause);

	fake_make(&a, "/v/a.mp4", 1, 0, 12, 2, models, tags, 64);
	id = index_put_video(ix, &a.v, &cause);
	fake_make(&b, "/v/a.mp4", 2, 1, 5, 1, models, tags, 32);
	id2 = index_put_video(ix, &b.v, &cause);
	tap_ok(id > 0 && id2 == id, "replacing a path keeps its id");
	if (!tap_ok(fake_matches(ix, id, &b, 1, models, &why), "the replacement is stored"))
		tap_diag("%s", why);
	tap_ok(index_get_tensor(ix, id, models[1], "frames", &data, &count, &cause) == 1 &&
	    data == NULL, "tensors of a model the replacement lacks are gone");
	fr = index_get_frames(ix, id, 0, &cause);
	tap_ok(fr != NULL && fr->n == 5 && fr->frames[0].thumb == NULL,
	    "old frames are gone; frames without thumbnails on request");
	index_frames_free(fr);

	/* A model added later: its tensors join the existing video. */
	tap_ok(index_put_tensors(ix, id, 2, &a.tensors[2], &cause) == 0 &&
	    index_get_tensor(ix, id, models[1], "cache", &data, &count, &cause) == 0 &&
	    count == 64 && data[3] == a.data[3][3], "index_put_tensors adds a model's tensors");
	free(data);
	tap_ok(index_put_tensors(ix, 12345, 2, &a.tensors[2], &cause) == -1 &&
	    strstr(cause, "no video 12345") != NULL, "index_put_tensors on a missing video fails");

	/* Moved: found by hash, renamed without touching tensors. */
	tap_ok(index_lookup_hash(ix, b.v.hash, &row, &cause) == 0 && row.id == id,
	    "index_lookup_hash finds the video by content");
	index_row_clear(&row);
	tap_ok(index_move_video(ix, id, "/w/moved.mp4", 42, &cause) == 0, "move a video");
	tap_ok(index_lookup_path(ix, "/v/a.mp4", &row, &cause) == 1 &&
	    index_lookup_path(ix, "/w/moved.mp4", &row, &cause) == 0 && row.id == id &&
	    row.mtime_ns == 42 && row.frames == 5, "the old path is gone, the new one has it");
	index_row_clear(&row);
	tap_ok(index_get_tensor(ix, id, models[1], "cache", &data, &count, &cause) == 0 &&
	    count == 64, "tensors move with the video");
	free(data);

	/* Moving onto a stale row replaces it. */
	fake_free(&a);
	fake_make(&a, "/w/stale.mp4", 3, 0, 3, 2, models, tags, 8);
	id3 = index_put_video(ix, &a.v, &cause);
	tap_ok(id3 > 0 && index_move_video(ix, id, "/w/stale.mp4", 43, &cause) == 0 &&
	    index_lookup_path(ix, "/w/stale.mp4", &row, &cause) == 0 && row.id == id &&
	    index_lookup_id(ix, id3, &row, &cause) == 1, "a move onto a stale row replaces it");
	index_row_clear(&row);
	tap_ok(index_get_tensor(ix, id3, models[0], "frames", &data, &count, &cause) == 1,
	    "the stale row's tensors are gone");
	tap_ok(index_move_video(ix, 9999, "/w/x.mp4", 0, &cause) == -1 &&
	    strstr(cause, "no video 9999") != NULL, "moving a missing video fails");

	/* Copied: a new id with the same frames and tensors. */
	id2 = index_copy_video(ix, id, "/w/copy.mp4", 44, &cause);
	tap_ok(id2 > 0 && id2 != id && index_lookup_id(ix, id2, &row, &cause) == 0 &&
	    strcmp(row.path, "/w/copy.mp4") == 0 && row.frames == 5 && row.mtime_ns == 44,
	    "copy a video");
	index_row_clear(&row);
	tap_ok(index_get_tensor(ix, id2, models[1], "cache", &data, &count, &cause) == 0 &&
	    count == 64, "the copy has the tensors");
	free(data);
	tap_ok(index_copy_video(ix, id, "/w/stale.mp4", 0, &cause) == -1,
	    "copying a video onto its own path fails");

	tap_ok(index_delete_video(ix, id, &cause) == 0 &&
	    index_lookup_id(ix, id, &row, &cause) == 1 &&
	    index_get_tensor(ix, id, models[1], "cache", &data, &count, &cause) == 1,
	    "delete a video with its tensors");
	fr = index_get_frames(ix, id, 1, &cause);
	tap_ok(fr != NULL && fr->n == 0, "and its frames");
	index_frames_free(fr);
	tap_ok(index_delete_video(ix, id, &cause) == 0, "deleting again is not an error");
	tap_ok(index_check(ix, &cause) == 0, "index_check after replace, move, copy, delete");

	/* A batch: all or nothing. */
	tap_ok(index_batch_begin(ix, &cause) == 0 && index_delete_video(ix, id2, &cause) == 0,
	    "delete inside a batch");
	index_batch_abort(ix);
	tap_ok(index_lookup_id(ix, id2, &row, &cause) == 0, "an aborted batch changes nothing");
	index_row_clear(&row);
	tap_ok(index_batch_begin(ix, &cause) == 0 && index_delete_video(ix, id2, &cause) == 0 &&
	    index_batch_commit(ix, &cause) == 0 && index_lookup_id(ix, id2, &row, &cause) == 1,
	    "a committed batch applies");
	fake_free(&a);
	fake_free(&b);
	index_close(ix);
	free(cause);
}

static void test_load(void)
{
	const char *db = tp("load.db");
	char *cause = NULL;
	int64_t models[2];
	int tags[2] = { 1, 2 };
	index_tensor_set *s;
	index_stats st;
	index_db *ix;
	int ok = 1;
	fake f;

	ix = index_open(db, INDEX_CREATE, &cause);
	models[0] = add_model(ix, "model-a", &cause);
	models[1] = add_model(ix, "model-b", &cause);
	for (int i = 0; i < 20; i++) {
		char path[64];

		snprintf(path, sizeof path, "/v/%02d.mp4", 19 - i);
		fake_make(&f, path, i, 0, 3, i % 4 == 3 ? 1 : 2, models, tags, 48);
		if (index_put_video(ix, &f.v, &cause) <= 0)
			ok = 0;
		fake_free(&f);
	}
	tap_ok(ok, "store 20 videos, 5 of them without model b");
	s = index_load_tensors(ix, models[1], "cache", 48, &cause);
	ok = s != NULL && s->n == 15 && s->count == 48;
	for (int64_t i = 0; ok && i < s->n; i++) {
		int seq = (int)(s->ids[i] - 1);
		char want[64];

		snprintf(want, sizeof want, "/v/%02d.mp4", 19 - seq);
		ok = (i == 0 || s->ids[i] > s->ids[i - 1]) && strcmp(s->paths[i], want) == 0 &&
		    s->data[i * 48 + 7] == fake_value(seq, 0, 2, 1, 7);
	}
	tap_ok(ok, "index_load_tensors: ids ascending, paths and rows match");
	index_tensor_set_free(s);
	s = index_load_tensors(ix, models[0], "frames", 0, &cause);
	tap_ok(s != NULL && s->n == 20 && s->count == 48, "count 0 takes the stored size");
	index_tensor_set_free(s);
	s = index_load_tensors(ix, models[0], "frames", 12, &cause);
	tap_ok(s != NULL && s->n == 0 && s->n_damaged == 20 && s->damaged_ids[0] == 1 &&
	    s->damaged_ids[19] == 20, "a size mismatch skips the videos and lists them as damaged");
	index_tensor_set_free(s);
	s = index_load_tensors(ix, models[0], "nothing", 0, &cause);
	tap_ok(s != NULL && s->n == 0, "an unknown kind loads nothing");
	index_tensor_set_free(s);
	index_tensor_set_free(NULL);

	tap_ok(index_get_stats(ix, &st, &cause) == 0 && st.videos == 20 &&
	    st.by_status[INDEX_OK] == 20 && st.frames == 60 && st.thumb_bytes > 0 &&
	    st.n_models == 2 && st.models[0].videos == 20 && st.models[1].videos == 15 &&
	    st.models[1].tensor_bytes == 15 * 2 * 48 * 4 &&
	    strcmp(st.models[0].name, "model-a") == 0, "index_get_stats counts videos and models");
	index_stats_clear(&st);
	index_close(ix);
	free(cause);
}

/* ---- refusals ------------------------------------------------------------------------ */

static void make_small_index(const char *db)
{
	char *cause = NULL;
	int64_t model;
	int tag = 1;
	index_db *ix = index_open(db, INDEX_CREATE, &cause);
	fake f;

	model = add_model(ix, "model-a", &cause);
	fake_make(&f, "/v/one.mp4", 1, 0, 4, 1, &model, &tag, 16);
	index_put_video(ix, &f.v, &cause);
	fake_free(&f);
	index_close(ix);
	free(cause);
}

static void test_refusals(void)
{
	const char *db = tp("refuse.db");
	char *cause = NULL, want[600];
	uint8_t *before, *after, junk[8192];
	size_t n1, n2;
	index_db *ix;
	uint32_t x = 99;

	make_small_index(db);
	patch_u32(db, 60, INDEX_SCHEMA_VERSION + 1);
	before = read_file(db, &n1);
	ix = index_open(db, 0, &cause);
	snprintf(want, sizeof want, "'%s' was written by a newer clipgrep (schema %d > %d)", db,
	    INDEX_SCHEMA_VERSION + 1, INDEX_SCHEMA_VERSION);
	if (!tap_ok(ix == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "a newer schema is refused"))
		diag_cause("got", cause);
	index_close(ix);
	ix = index_open(db, INDEX_READONLY, &cause);
	tap_ok(ix == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "a newer schema is refused read-only too");
	index_close(ix);
	after = read_file(db, &n2);
	tap_ok(n1 == n2 && memcmp(before, after, n1) == 0, "the newer file is left untouched");
	free(before);
	free(after);

	patch_u32(db, 60, 1);
	patch_u32(db, 68, 0x12345678);
	ix = index_open(db, 0, &cause);
	tap_ok(ix == NULL && cause != NULL && strstr(cause, "belongs to another program") != NULL,
	    "another program's SQLite file is refused");
	index_close(ix);

	for (size_t i = 0; i < sizeof junk; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	write_file(tp("junk.db"), junk, sizeof junk);
	ix = index_open(tp("junk.db"), INDEX_CREATE, &cause);
	snprintf(want, sizeof want, "'%s' is not a clipgrep index: file is not a database",
	    tp("junk.db"));
	if (!tap_ok(ix == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "random bytes are refused with a clear message"))
		diag_cause("got", cause);
	index_close(ix);
	after = read_file(tp("junk.db"), &n2);
	tap_ok(n2 == sizeof junk && memcmp(after, junk, n2) == 0 && !exists(tp("junk.db-wal")),
	    "the junk file is not overwritten and no WAL is made");
	free(after);
	ix = index_open(tp("junk.db"), INDEX_READONLY, &cause);
	tap_ok(ix == NULL && cause != NULL && strstr(cause, "file is not a database") != NULL,
	    "random bytes are refused read-only too");

	/* Corrupt pages behind a good header: errors name the file, nothing crashes. */
	make_small_index(tp("pages.db"));
	before = read_file(tp("pages.db"), &n1);
	if (n1 > 4096 * 3) {
		memcpy(before + 4096, junk, n1 - 4096 < sizeof junk ? n1 - 4096 : sizeof junk);
		write_file(tp("pages.db"), before, n1);
	}
	free(before);
	ix = index_open(tp("pages.db"), 0, &cause);
	if (ix == NULL) {
		tap_ok(cause != NULL && strstr(cause, tp("pages.db")) != NULL,
		    "corrupt pages: open fails naming the file");
	} else {
		index_video_row row;
		int r1 = index_lookup_path(ix, "/v/one.mp4", &row, &cause);

		if (r1 == 0)
			index_row_clear(&row);
		tap_ok(index_check(ix, &cause) == -1 && cause != NULL &&
		    strstr(cause, tp("pages.db")) != NULL,
		    "corrupt pages: index_check reports them, naming the file");
		diag_cause("index_check", cause);
	}
	index_close(ix);
	free(cause);
}

#if defined(__linux__) && defined(FS_IOC_SETFLAGS)
/* Set or clear the immutable attribute (chattr +i); -1 when not allowed. */
static int set_immutable(const char *path, int on)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK), flags, rc = -1;

	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return rc;
}
#else
static int set_immutable(const char *path, int on)
{
	(void)path;
	(void)on;
	return -1;
}
#endif

/*
 * Make path read-only for us: permission bits for an ordinary user, the
 * immutable attribute for root (which ignores permission bits).
 */
static int make_readonly(const char *path, int dir, int on)
{
	if (geteuid() != 0)
		return chmod(path, on ? (dir ? 0555 : 0444) : (dir ? 0755 : 0644));
	return set_immutable(path, on);
}

static void test_readonly(void)
{
	const char *db = tp("ro/index.db");
	char *cause = NULL;
	index_video_row row;
	index_db *ix;
	fake f;
	int tag = 1;
	int64_t model = 1;

	mkdir(tp("ro"), 0755);
	make_small_index(db);
	ix = index_open(db, INDEX_READONLY, &cause);
	tap_ok(ix != NULL && index_lookup_path(ix, "/v/one.mp4", &row, &cause) == 0,
	    "INDEX_READONLY reads");
	if (ix != NULL)
		index_row_clear(&row);
	fake_make(&f, "/v/two.mp4", 2, 0, 1, 1, &model, &tag, 4);
	tap_ok(ix != NULL && index_put_video(ix, &f.v, &cause) == -1 && cause != NULL &&
	    strstr(cause, "opened read-only") != NULL, "INDEX_READONLY refuses to write");
	tap_ok(ix != NULL && index_lock_writer(ix, 0, &cause) == -1, "and to take the writer lock");
	index_close(ix);

	if (make_readonly(db, 0, 1) != 0) {
		tap_skip("cannot make the file read-only here (root without CAP_LINUX_IMMUTABLE)");
		tap_skip("read-only file: reading");
	} else {
		ix = index_open(db, 0, &cause);
		if (!tap_ok(ix == NULL && cause != NULL &&
		    strstr(cause, "cannot write: the index file is read-only") != NULL,
		    "a read-only file is refused for writing with a clear message"))
			diag_cause("got", cause);
		index_close(ix);
		ix = index_open(db, INDEX_READONLY, &cause);
		tap_ok(ix != NULL && index_lookup_path(ix, "/v/one.mp4", &row, &cause) == 0,
		    "a read-only file opens read-only");
		if (ix != NULL)
			index_row_clear(&row);
		index_close(ix);
		make_readonly(db, 0, 0);
		if (geteuid() != 0 && exists(tp("ro/index.db-wal"))) {
			/*
			 * SQLite gave the reader's -wal and -shm the database's
			 * mode 0444; they outlive the chmod back.
			 */
			ix = index_open(db, 0, &cause);
			if (!tap_ok(ix != NULL || (cause != NULL &&
			    (strstr(cause, "-wal is read-only") != NULL ||
			    strstr(cause, "-shm is read-only") != NULL)),
			    "after a reader's read-only -wal, writing works or names the file"))
				diag_cause("got", cause);
			index_close(ix);
			chmod(tp("ro/index.db-wal"), 0644);
			chmod(tp("ro/index.db-shm"), 0644);
		} else {
			tap_skip("no read-only -wal left by a reader (root ignores modes)");
		}
	}

	/* The last writer to close removes -wal and -shm; a read-only directory can't hold new ones. */
	index_close(index_open(db, 0, &cause));
	tap_ok(!exists(tp("ro/index.db-wal")) && !exists(tp("ro/index.db-shm")),
	    "no -wal or -shm after the last writer closes");
	if (make_readonly(tp("ro"), 1, 1) != 0) {
		tap_skip("cannot make the directory read-only here");
		tap_skip("read-only directory: reading");
	} else {
		ix = index_open(db, 0, &cause);
		if (!tap_ok(ix == NULL && cause != NULL && strstr(cause, db) != NULL &&
		    strstr(cause, "is read-only") != NULL,
		    "a read-only directory is refused for writing"))
			diag_cause("got", cause);
		else
			diag_cause("message", cause);
		index_close(ix);
		ix = index_open(db, INDEX_READONLY, &cause);
		if (!tap_ok(ix != NULL && index_lookup_path(ix, "/v/one.mp4", &row, &cause) == 0,
		    "an index in a read-only directory opens read-only"))
			diag_cause("got", cause);
		if (ix != NULL)
			index_row_clear(&row);
		index_close(ix);
		make_readonly(tp("ro"), 1, 0);
	}
	fake_free(&f);
	free(cause);
}

/*
 * Read-only places SQLite reported as "unable to open database file (No
 * such file or directory)": a new index in a read-only directory, and an
 * index on a read-only file system (a read-only bind mount, made in a child
 * with a mount namespace of its own: root ignores permission bits).
 */
static void test_readonly_places(void)
{
	const char *db = tp("ro2/index.db"), *fsdir = tp("rofs");
	char *cause = NULL, got[2][1024];
	int fds[2];
	pid_t pid;
	index_db *ix;

	mkdir(tp("ro2"), 0755);
	if (make_readonly(tp("ro2"), 1, 1) != 0) {
		tap_skip("cannot make a directory read-only here (root without CAP_LINUX_IMMUTABLE)");
	} else {
		ix = index_open(db, INDEX_CREATE, &cause);
		if (!tap_ok(ix == NULL && cause != NULL && strstr(cause, db) != NULL &&
		    strstr(cause, "directory") != NULL && strstr(cause, "is read-only") != NULL,
		    "a new index in a read-only directory: the message says the directory is read-only"))
			diag_cause("got", cause);
		index_close(ix);
		make_readonly(tp("ro2"), 1, 0);
	}

	mkdir(fsdir, 0755);
	make_small_index(tp("rofs/index.db"));
	memset(got, 0, sizeof got);
	if (pipe(fds) != 0) {
		tap_skip("read-only file system: pipe failed");
		tap_skip("read-only file system: pipe failed");
		free(cause);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *what[2] = { tp("rofs/index.db"), tp("rofs/new.db") };
		char msg[2048];
		int ok = 0;

		close(fds[0]);
#if defined(__linux__)
		ok = (unshare(CLONE_NEWNS) == 0 ||
		         (geteuid() != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0)) &&
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		    mount(fsdir, fsdir, NULL, MS_BIND, NULL) == 0 &&
		    mount(NULL, fsdir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0;
#endif
		if (!ok) {
			snprintf(msg, sizeof msg, "SKIP cannot make a read-only bind mount here (%s)",
			    strerror(errno));
			if (write(fds[1], msg, strlen(msg) + 1) < 0)
				_exit(1);
			_exit(0);
		}
		for (int i = 0; i < 2; i++) {
			char *c = NULL;
			index_db *w = index_open(what[i], INDEX_CREATE, &c);

			snprintf(msg, sizeof msg, "%s", w != NULL ? "opened for writing" :
			    c != NULL ? c : "(no cause)");
			index_close(w);
			free(c);
			if (write(fds[1], msg, strlen(msg) + 1) < 0)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	{
		char buf[sizeof got], *p = buf;
		size_t n = 0;
		ssize_t k;

		while (pid > 0 && n < sizeof buf - 1 &&
		    (k = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
			n += (size_t)k;
		buf[n] = '\0';
		for (int i = 0; i < 2 && p < buf + n; i++) {
			size_t len = strnlen(p, sizeof got[i] - 1);

			memcpy(got[i], p, len);
			got[i][len] = '\0';
			p += strlen(p) + 1;
		}
	}
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (pid <= 0 || strncmp(got[0], "SKIP ", 5) == 0) {
		tap_skip(pid <= 0 ? "read-only file system: fork failed" : got[0] + 5);
		tap_skip("read-only file system: a new index");
	} else {
		if (!tap_ok(strstr(got[0], tp("rofs/index.db")) != NULL &&
		    strstr(got[0], "read-only file system") != NULL,
		    "an index on a read-only file system: the message says so"))
			tap_diag("got: %s", got[0]);
		if (!tap_ok(strstr(got[1], tp("rofs/new.db")) != NULL &&
		    strstr(got[1], "read-only file system") != NULL,
		    "a new index on a read-only file system: the message says so"))
			tap_diag("got: %s", got[1]);
	}
	free(cause);
}

static void test_lock(void)
{
	const char *db = tp("lock.db");
	char *cause = NULL, want[600], c;
	int to_parent[2], to_child[2];
	index_db *a, *b;
	double t0;
	pid_t pid;
	int ok;

	make_small_index(db);
	a = index_open(db, 0, &cause);
	b = index_open(db, 0, &cause);
	tap_ok(a != NULL && index_lock_writer(a, 0, &cause) == 0, "the first writer takes the lock");
	snprintf(want, sizeof want, "another clipgrep is indexing '%s' (pid %ld)", db,
	    (long)getpid());
	if (!tap_ok(b != NULL && index_lock_writer(b, 0, &cause) == -1 && cause != NULL &&
	    strcmp(cause, want) == 0, "a second writer is refused with the holder's pid"))
		diag_cause("got", cause);
	index_close(a);
	tap_ok(index_lock_writer(b, 0, &cause) == 0, "closing the holder releases the lock");
	index_close(b);

	/* Another process holds it; then waiting works. */
	if (pipe(to_parent) != 0 || pipe(to_child) != 0) {
		tap_skip("pipe failed");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		index_db *h = index_open(db, 0, NULL);

		if (h == NULL || index_lock_writer(h, 0, NULL) != 0)
			_exit(1);
		if (write(to_parent[1], "x", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(1);
		usleep(300 * 1000);
		_exit(0); /* the kernel drops the lock with the process */
	}
	close(to_parent[1]);
	close(to_child[0]);
	a = index_open(db, 0, &cause);
	if (read(to_parent[0], &c, 1) != 1)
		c = 0;
	snprintf(want, sizeof want, "another clipgrep is indexing '%s' (pid %ld)", db, (long)pid);
	if (!tap_ok(c == 'x' && a != NULL && index_lock_writer(a, 0, &cause) == -1 &&
	    cause != NULL && strcmp(cause, want) == 0, "another process's lock names its pid"))
		diag_cause("got", cause);
	t0 = util_now();
	if (write(to_child[1], "g", 1) != 1)
		tap_diag("write to child failed");
	ok = a != NULL && index_lock_writer(a, 1, &cause) == 0;
	t0 = util_now() - t0;
	tap_ok(ok && t0 > 0.2, "a waiting writer gets the lock when the holder exits (%.2f s)", t0);
	index_close(a);
	waitpid(pid, NULL, 0);
	close(to_parent[0]);
	close(to_child[1]);
	free(cause);
}

/* ---- crash safety ----------------------------------------------------------------------- */

#define CRASH_ROUNDS 20
#define CRASH_F 12
#define CRASH_COUNT (12 * 64)

/* The child: write videos (new ones and replacements) until killed. */
static void crash_writer(const char *db, int round, const int64_t *models)
{
	int tags[2] = { 1, 2 };
	char *cause = NULL, path[64];
	index_db *ix = index_open(db, 0, &cause);
	fake f;

	if (ix == NULL || index_lock_writer(ix, 1, &cause) != 0)
		_exit(3);
	for (int k = 0;; k++) {
		int seq = round * 1000 + k, version = 0;

		/* Every third write replaces an earlier video of this round. */
		if (k % 3 == 2) {
			seq = round * 1000 + k / 3;
			version = k;
		}
		snprintf(path, sizeof path, "/crash/%06d.mp4", seq);
		fake_make(&f, path, seq, version, CRASH_F - seq % 3, 2, models, tags, CRASH_COUNT);
		if (index_put_video(ix, &f.v, &cause) <= 0)
			_exit(4);
		fake_free(&f);
	}
}

typedef struct {
	index_db *ix;
	const int64_t *models;
	int n, bad;
} crash_check;

static int crash_verify(void *arg, const index_video_row *row)
{
	int tags[2] = { 1, 2 };
	crash_check *c = arg;
	const char *why;
	int seq;
	fake f;

	c->n++;
	if (sscanf(row->path, "/crash/%d.mp4", &seq) != 1) {
		c->bad++;
		return 0;
	}
	fake_make(&f, row->path, seq, (int)row->duration, CRASH_F - seq % 3, 2, c->models, tags,
	    CRASH_COUNT);
	if (!fake_matches(c->ix, row->id, &f, 2, c->models, &why)) {
		if (c->bad++ < 3)
			tap_diag("%s: %s", row->path, why);
	}
	fake_free(&f);
	return 0;
}

static void test_crash(void)
{
	const char *db = tp("crash.db");
	char *cause = NULL;
	int64_t models[2];
	crash_check c;
	index_db *ix;
	int killed = 0, early = 0, last = 0, grew = 0;
	unsigned seed = 20240607;

	if (getenv("CLIPGREP_CRASH_SEED") != NULL)
		seed = (unsigned)strtoul(getenv("CLIPGREP_CRASH_SEED"), NULL, 10);
	srand(seed);
	ix = index_open(db, INDEX_CREATE, &cause);
	models[0] = add_model(ix, "model-a", &cause);
	models[1] = add_model(ix, "model-b", &cause);
	index_close(ix);

	for (int r = 0; r < CRASH_ROUNDS; r++) {
		int status = 0;
		index_stats s;
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0)
			crash_writer(db, r, models);
		usleep((useconds_t)(20000 + rand() % 100000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed++;
		else
			early++;
		ix = index_open(db, INDEX_READONLY, &cause);
		if (ix != NULL && index_get_stats(ix, &s, &cause) == 0) {
			grew += s.videos > last;
			last = (int)s.videos;
			index_stats_clear(&s);
		}
		index_close(ix);
	}
	tap_ok(killed == CRASH_ROUNDS, "%d writers killed mid-write (%d ended early)", killed,
	    early);

	ix = index_open(db, 0, &cause);
	if (!tap_ok(ix != NULL && index_check(ix, &cause) == 0,
	    "after %d kills: integrity_check, foreign keys, frame counts ok", CRASH_ROUNDS))
		diag_cause("check", cause);
	memset(&c, 0, sizeof c);
	c.ix = ix;
	c.models = models;
	if (ix != NULL)
		index_list_videos(ix, "/crash/", crash_verify, &c, &cause);
	tap_ok(c.n > 0 && c.bad == 0, "every stored video is complete and exact (%d videos, "
	    "%d rounds added some)", c.n, grew);
	tap_ok(grew >= 1, "writers made progress between kills (%d of %d rounds)", grew,
	    CRASH_ROUNDS);
	index_close(ix);
	free(cause);
}

/* ---- merge ---------------------------------------------------------------------------- */

static int64_t put_with(index_db *ix, const char *path, int seq, int64_t indexed_at,
    int nmodels, const int64_t *models, const int *tags)
{
	char *cause = NULL;
	int64_t id;
	fake f;

	fake_make(&f, path, seq, 0, 3, nmodels, models, tags, 24);
	f.v.indexed_at_ns = indexed_at;
	id = index_put_video(ix, &f.v, &cause);
	if (id <= 0)
		diag_cause("put", cause);
	fake_free(&f);
	free(cause);
	return id;
}

static int merged_matches(index_db *ix, const char *path, int seq, int nmodels,
    const char *const *names, const int *tags)
{
	char *cause = NULL;
	int64_t ids[2];
	index_video_row row;
	const char *why = "";
	int ok;
	fake f;

	for (int m = 0; m < nmodels; m++) {
		uint8_t h[HASH_SIZE];

		hash_bytes(names[m], strlen(names[m]), h);
		ids[m] = index_find_model(ix, h, &cause);
	}
	if (index_lookup_path(ix, path, &row, &cause) != 0)
		return 0;
	fake_make(&f, path, seq, 0, 3, nmodels, ids, tags, 24);
	f.v.indexed_at_ns = row.indexed_at_ns;
	ok = fake_matches(ix, row.id, &f, nmodels, ids, &why);
	if (!ok)
		tap_diag("%s: %s", path, why);
	index_row_clear(&row);
	fake_free(&f);
	free(cause);
	return ok;
}

static void test_merge(void)
{
	const char *a_db = tp("shard-a.db"), *b_db = tp("shard-b.db"), *out = tp("merged.db");
	const char *shards[2] = { a_db, b_db }, *bad[2] = { a_db, tp("junk.db") };
	const char *names_x[1] = { "model-x" }, *names_yx[2] = { "model-y", "model-x" };
	char *cause = NULL;
	int64_t m[2];
	int tag_x = 7, tags_yx[2] = { 8, 7 };
	index_stats s1, s2;
	index_db *ix;

	ix = index_open(a_db, INDEX_CREATE, &cause);
	m[0] = add_model(ix, "model-x", &cause);
	put_with(ix, "/lib/1.mp4", 1, 100, 1, m, &tag_x);
	put_with(ix, "/lib/2.mp4", 2, 100, 1, m, &tag_x);
	index_close(ix);
	/* Shard b knows model y first, so its model ids differ from a's. */
	ix = index_open(b_db, INDEX_CREATE, &cause);
	m[0] = add_model(ix, "model-y", &cause);
	m[1] = add_model(ix, "model-x", &cause);
	put_with(ix, "/lib/2.mp4", 22, 200, 2, m, tags_yx);
	put_with(ix, "/lib/3.mp4", 3, 50, 2, m, tags_yx);
	index_close(ix);

	if (!tap_ok(index_merge(out, shards, 2, &cause) == 0, "merge two shards"))
		diag_cause("merge", cause);
	ix = index_open(out, INDEX_READONLY, &cause);
	tap_ok(ix != NULL && index_get_stats(ix, &s1, &cause) == 0 && s1.videos == 3 &&
	    s1.n_models == 2, "the merge has 3 videos and 2 models");
	tap_ok(ix != NULL && merged_matches(ix, "/lib/1.mp4", 1, 1, names_x, &tag_x),
	    "a video only in shard a is copied whole");
	tap_ok(ix != NULL && merged_matches(ix, "/lib/2.mp4", 22, 2, names_yx, tags_yx),
	    "a path in both shards keeps the newer (shard b's), models matched by hash");
	tap_ok(ix != NULL && merged_matches(ix, "/lib/3.mp4", 3, 2, names_yx, tags_yx),
	    "a video only in shard b is copied with its model ids remapped");
	tap_ok(ix != NULL && index_check(ix, &cause) == 0, "the merge passes index_check");
	index_close(ix);

	tap_ok(index_merge(out, shards, 2, &cause) == 0, "merging again succeeds");
	ix = index_open(out, INDEX_READONLY, &cause);
	tap_ok(ix != NULL && index_get_stats(ix, &s2, &cause) == 0 && s2.videos == 3 &&
	    s2.frames == s1.frames && s2.models[0].tensor_bytes == s1.models[0].tensor_bytes &&
	    s2.models[1].tensor_bytes == s1.models[1].tensor_bytes, "and changes nothing");
	index_stats_clear(&s2);
	index_close(ix);

	tap_ok(index_merge(out, bad, 2, &cause) == -1 && cause != NULL &&
	    strstr(cause, tp("junk.db")) != NULL && strstr(cause, "not a clipgrep index") != NULL,
	    "a corrupt shard is refused by name");
	ix = index_open(out, INDEX_READONLY, &cause);
	tap_ok(ix != NULL && index_get_stats(ix, &s2, &cause) == 0 && s2.videos == 3,
	    "and the output is untouched");
	index_stats_clear(&s2);
	index_close(ix);
	tap_ok(index_merge(out, &out, 1, &cause) == -1 && strstr(cause, "into itself") != NULL,
	    "merging an index into itself is refused");
	index_stats_clear(&s1);
	free(cause);
}

/* ---- stored columns that lie (a foreign or hand-edited index) ----------------------------- */

/*
 * Run SQL on db with the sqlite3 program: the test cannot include sqlite3.h
 * (only core/index.c does), and patching a record's count by byte offset
 * would mean re-encoding SQLite's record header.  0, or -1 when it failed.
 */
static int sqlite_cli(const char *db, const char *sql)
{
	char cmd[1536];

	if ((size_t)snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"%s\" >/dev/null 2>&1", db, sql) >=
	    sizeof cmd)
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

/* Whether cause refuses tensor kind of video id as corrupt, naming db. */
/* A load that skipped video id, its only row, as damaged instead of failing. */
static int skipped_as_damaged(const index_tensor_set *s, int64_t id)
{
	return s != NULL && s->n == 0 && s->n_damaged == 1 && s->damaged_ids[0] == id;
}

/* index_list_damaged's callback: keep the first record. */
static int first_damage_fn(void *arg, const index_damage *d)
{
	char *buf = arg;

	if (buf[0] == '\0')
		snprintf(buf, 256, "video %lld %s: %s", (long long)d->video_id, d->path, d->reason);
	return 0;
}

static int refused_as_corrupt(const char *cause, const char *db, int64_t id, const char *kind)
{
	char video[64], tensor[64];

	snprintf(video, sizeof video, "video %lld", (long long)id);
	snprintf(tensor, sizeof tensor, "tensor \"%s\"", kind);
	return cause != NULL && strstr(cause, db) != NULL && strstr(cause, video) != NULL &&
	    strstr(cause, tensor) != NULL && strstr(cause, "corrupt") != NULL;
}

static void test_corrupt_rows(void)
{
	const char *db = tp("lying.db"), *out = tp("lying-merged.db");
	const int64_t huge = (int64_t)1 << 60;
	int64_t m[1], id, count = 0;
	int tag = 5;
	char *cause = NULL, sql[256];
	index_tensor_set *s;
	index_db *ix;
	float *data = NULL;

	if (system("sqlite3 -version >/dev/null 2>&1") != 0) {
		tap_skip("stored columns that lie: no sqlite3 program to edit the index with");
		return;
	}
	ix = index_open(db, INDEX_CREATE, &cause);
	m[0] = ix != NULL ? add_model(ix, "model-x", &cause) : -1;
	id = ix != NULL ? put_with(ix, "/lib/lying.mp4", 1, 100, 1, m, &tag) : -1;
	index_close(ix);

	/*
	 * A count of 2^60 with the blob unchanged: the load must compare the
	 * count with the blob before it sizes the [n, count] array from it.
	 */
	snprintf(sql, sizeof sql, "UPDATE video_tensors SET count = %lld WHERE kind = 'frames'",
	    (long long)huge);
	if (!tap_ok(id > 0 && sqlite_cli(db, sql) == 0, "set a stored tensor's count to 2^60")) {
		free(cause);
		return;
	}
	ix = index_open(db, INDEX_READONLY, &cause);
	s = ix != NULL ? index_load_tensors(ix, m[0], "frames", 0, &cause) : NULL;
	if (!tap_ok(ix != NULL && skipped_as_damaged(s, id),
	    "loading a count of 2^60 skips the video as damaged, before any allocation"))
		diag_cause("load", cause);
	index_tensor_set_free(s);
	s = ix != NULL ? index_load_tensors(ix, m[0], "frames", 24, &cause) : NULL;
	tap_ok(ix != NULL && skipped_as_damaged(s, id),
	    "and so does loading it with the expected count given");
	index_tensor_set_free(s);
	tap_ok(ix != NULL && index_get_tensor(ix, id, m[0], "frames", &data, &count, &cause) ==
	    2 && data == NULL && count == 0 && refused_as_corrupt(cause, db, id, "frames"),
	    "index_get_tensor says it is damaged (2), naming the video and the tensor");
	{
		char first[256] = "";

		tap_ok(ix != NULL && index_list_damaged(ix, first_damage_fn, first, &cause) == 0 &&
		    strstr(first, "/lib/lying.mp4: tensor \"frames\" is corrupt") != NULL,
		    "index_list_damaged names the video and the tensor");
		tap_diag("%s", first);
	}
	free(data);
	data = NULL;
	index_close(ix);

	/*
	 * 2^62 + 6 floats "fit" in the 24 bytes of 6 floats when the product
	 * wraps: a caller would read 2^62 floats past a 24-byte buffer.
	 */
	snprintf(sql, sizeof sql, "UPDATE video_tensors SET count = %lld WHERE kind = 'cache'",
	    (long long)(((int64_t)1 << 62) + 6));
	tap_ok(sqlite_cli(db, "UPDATE video_tensors SET data = zeroblob(24), count = 6"
	    " WHERE kind = 'cache'") == 0 && sqlite_cli(db, sql) == 0,
	    "set a 6-float tensor's count to 2^62 + 6");
	ix = index_open(db, INDEX_READONLY, &cause);
	if (!tap_ok(ix != NULL && index_get_tensor(ix, id, m[0], "cache", &data, &count, &cause) ==
	    2 && count == 0 && refused_as_corrupt(cause, db, id, "cache"),
	    "a count whose byte size wraps to the blob's is refused as corrupt"))
		tap_diag("got count %lld: %s", (long long)count, cause != NULL ? cause : "");
	free(data);
	data = NULL;
	s = ix != NULL ? index_load_tensors(ix, m[0], "cache", 0, &cause) : NULL;
	tap_ok(ix != NULL && skipped_as_damaged(s, id),
	    "and loading it skips the video as damaged");
	index_tensor_set_free(s);
	index_close(ix);

	/* A negative count, in an index whose CHECK does not hold (a foreign writer's). */
	tap_ok(sqlite_cli(db, "PRAGMA ignore_check_constraints = 1; UPDATE video_tensors"
	    " SET count = -1 WHERE kind = 'frames'") == 0, "set a stored count to -1");
	ix = index_open(db, INDEX_READONLY, &cause);
	s = ix != NULL ? index_load_tensors(ix, m[0], "frames", 0, &cause) : NULL;
	if (!tap_ok(ix != NULL && skipped_as_damaged(s, id),
	    "a negative count skips the video as damaged"))
		diag_cause("load", cause);
	index_tensor_set_free(s);
	index_close(ix);

	/* A shard carrying such a row is refused by name; the output stays as it was. */
	snprintf(sql, sizeof sql, "UPDATE video_tensors SET count = %lld WHERE kind = 'frames'",
	    (long long)huge);
	sqlite_cli(db, sql);
	sqlite_cli(db, "UPDATE video_tensors SET count = 6 WHERE kind = 'cache'");
	if (!tap_ok(index_merge(out, &db, 1, &cause) == -1 && refused_as_corrupt(cause, db, id,
	    "frames"), "a shard with a count of 2^60 is refused, naming it, the video and the "
	    "tensor"))
		diag_cause("merge", cause);
	ix = index_open(out, INDEX_READONLY, &cause);
	s = ix != NULL ? index_load_tensors(ix, 1, "frames", 0, &cause) : NULL;
	tap_ok(s != NULL && s->n == 0, "and nothing of it reaches the output");
	index_tensor_set_free(s);
	index_close(ix);

	/* Frame rows: a thumbnail size no writer stores. */
	tap_ok(sqlite_cli(db, "PRAGMA ignore_check_constraints = 1; UPDATE frames"
	    " SET thumb_width = -7 WHERE idx = 1") == 0, "set a stored thumbnail width to -7");
	ix = index_open(db, INDEX_READONLY, &cause);
	{
		index_frames *f = ix != NULL ? index_get_frames(ix, id, 1, &cause) : NULL;

		if (!tap_ok(ix != NULL && f == NULL && cause != NULL && strstr(cause, db) != NULL &&
		    strstr(cause, "frame 1") != NULL && strstr(cause, "corrupt") != NULL,
		    "a negative thumbnail width is refused as corrupt, naming the frame"))
			diag_cause("frames", cause);
		index_frames_free(f);
	}
	index_close(ix);
	free(cause);
}

/* ---- two threads creating one index ------------------------------------------------------ */

#define RACE_THREADS 8
#define RACE_ROUNDS 50

typedef struct {
	const char *path;
	pthread_barrier_t *start;
	index_db *ix;
	char *cause;
} race_arg;

static void *race_open(void *arg)
{
	race_arg *a = arg;

	pthread_barrier_wait(a->start);
	a->ix = index_open(a->path, INDEX_CREATE, &a->cause);
	return NULL;
}

/*
 * RACE_THREADS threads call index_open(INDEX_CREATE) on one new path at
 * once: each must get a handle on one valid schema (the TUI's index and
 * search threads do this on a first run).
 */
static void test_create_race(void)
{
	pthread_barrier_t start;
	pthread_t th[RACE_THREADS];
	race_arg args[RACE_THREADS];
	int failed_rounds = 0, bad_schema = 0;
	char *first = NULL, *cause = NULL;

	for (int round = 0; round < RACE_ROUNDS; round++) {
		char name[64];
		const char *path;
		int failed = 0;
		index_db *ix;
		index_stats st;

		snprintf(name, sizeof name, "race/%d/index.db", round);
		path = tp(name);
		pthread_barrier_init(&start, NULL, RACE_THREADS);
		for (int i = 0; i < RACE_THREADS; i++) {
			args[i] = (race_arg){ .path = path, .start = &start };
			if (pthread_create(&th[i], NULL, race_open, &args[i]) != 0)
				race_open(&args[i]); /* never reached on a sane system */
		}
		for (int i = 0; i < RACE_THREADS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		for (int i = 0; i < RACE_THREADS; i++) {
			if (args[i].ix == NULL) {
				failed = 1;
				if (first == NULL)
					first = args[i].cause != NULL ? util_strdup(args[i].cause) :
					    util_strdup("(no cause)");
			}
			index_close(args[i].ix);
			free(args[i].cause);
		}
		failed_rounds += failed;
		ix = index_open(path, INDEX_READONLY, &cause);
		if (ix == NULL || index_check(ix, &cause) != 0 ||
		    index_get_stats(ix, &st, &cause) != 0)
			bad_schema++;
		else
			index_stats_clear(&st);
		index_close(ix);
	}
	if (!tap_ok(failed_rounds == 0, "%d threads creating one index at once all succeed "
	    "(%d rounds)", RACE_THREADS, RACE_ROUNDS))
		tap_diag("%d of %d rounds had a failed open; first: %s", failed_rounds,
		    RACE_ROUNDS, first);
	tap_ok(bad_schema == 0, "and every round leaves a valid schema");
	free(first);
	free(cause);
}

/* ---- search start-up load time (diagnostic, not a timed assertion) ----------------------- */

static void bench_load(void)
{
	const char *db = tp("bench.db");
	const char *env = getenv("CLIPGREP_INDEX_BENCH_N");
	int n = env != NULL ? atoi(env) : 2000, f = 12, d = 512;
	char *cause = NULL, path[64];
	double t0, t_write, first = 0, best = 1e9;
	index_tensor_set *s;
	index_tensor t;
	index_video v;
	int64_t model;
	float *data = malloc((size_t)f * d * sizeof(float));
	index_db *ix;
	int ok = 1;

	ix = index_open(db, INDEX_CREATE, &cause);
	model = add_model(ix, "bench", &cause);
	t0 = util_now();
	for (int i = 0; i < n && ok; i++) {
		if (i % 500 == 0)
			ok = index_batch_begin(ix, &cause) == 0;
		memset(&v, 0, sizeof v);
		snprintf(path, sizeof path, "/library/2023/clip-%06d.mp4", i);
		for (int j = 0; j < f * d; j++)
			data[j] = (float)i + (float)j * 1e-4f;
		t.model_id = model;
		t.kind = "frames";
		t.data = data;
		t.count = f * d;
		v.path = path;
		v.n_tensors = 1;
		v.tensors = &t;
		ok = ok && index_put_video(ix, &v, &cause) > 0;
		if (ok && (i % 500 == 499 || i == n - 1))
			ok = index_batch_commit(ix, &cause) == 0;
	}
	t_write = util_now() - t0;
	index_close(ix);
	ix = index_open(db, INDEX_READONLY, &cause);
	for (int rep = 0; rep < 3 && ok; rep++) {
		t0 = util_now();
		s = index_load_tensors(ix, model, "frames", f * d, &cause);
		t0 = util_now() - t0;
		ok = s != NULL && s->n == n && s->data[(size_t)(n - 1) * f * d + 5] ==
		    (float)(n - 1) + (float)5 * 1e-4f;
		index_tensor_set_free(s);
		if (rep == 0)
			first = t0;
		if (t0 < best)
			best = t0;
	}
	index_close(ix);
	if (!tap_ok(ok, "bench: load %d videos x [%d, %d] floats", n, f, d))
		diag_cause("bench", cause);
	tap_diag("write %d videos (%.1f MB of tensors, batches of 500): %.2f s", n,
	    (double)n * f * d * 4 / 1e6, t_write);
	tap_diag("load: first %.1f ms, best of 3 %.1f ms; scaled to 10000 videos: %.0f ms "
	    "(set CLIPGREP_INDEX_BENCH_N=10000 to measure it)", first * 1e3, best * 1e3,
	    best * 1e3 * 10000 / (n > 0 ? n : 1));
	free(data);
	free(cause);
	unlink(db);
}

/* ---- cleanup ------------------------------------------------------------------------------ */

static void remove_tree(const char *dir)
{
	char cmd[600];

	make_readonly(tp("ro"), 1, 0);
	make_readonly(tp("ro/index.db"), 0, 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof tmp, "%s/clipgrep-index-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmp) == NULL)
		return tap_skip_all("cannot make a temporary directory");
	test_create();
	test_roundtrip();
	test_replace_move_delete();
	test_load();
	test_refusals();
	test_readonly();
	test_readonly_places();
	test_lock();
	test_crash();
	test_merge();
	test_corrupt_rows();
	test_create_race();
	bench_load();
	remove_tree(tmp);
	return tap_done();
}
