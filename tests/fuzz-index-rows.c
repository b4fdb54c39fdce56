/*
 * fuzz-index-rows — libFuzzer target for the index's row readers
 * (core/index.c) on rows that break the schema's rules.  Only core/index.c
 * may include sqlite3.h, so the rows are broken below SQL: a small valid
 * index is built once with the API (two videos, frames with thumbnails,
 * "frames" and "cache" tensors of two models), and each input either edits
 * that file's bytes (4-byte records: a 16-bit offset into the file, an
 * operation and a value — set, xor, add, or set a 32-bit big-endian word,
 * which is how SQLite stores counts, lengths and record headers) or, when
 * it starts with SQLite's magic, is the whole database file itself.
 * The result is opened read-only and every reader runs on it: stats,
 * listing, lookups, frames with thumbnails, single tensors, the start-up
 * tensor load, the consistency check, and a merge into a fresh index.
 *
 * Asserted: every refusal carries a cause; whatever is returned is safe to
 * walk (every path, thumbnail byte and float read).  The scratch folder is
 * under $TMPDIR (default /dev/shm when writable, else /tmp), removed at exit.
 */
#define _GNU_SOURCE
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_IDS 8

static char fuzz_dir[256], fuzz_db[300], fuzz_out[300];
static uint8_t *fuzz_seed;
static size_t fuzz_seed_size;

static void fuzz_unlink_db(const char *path)
{
	char buf[320];

	unlink(path);
	snprintf(buf, sizeof buf, "%s-wal", path);
	unlink(buf);
	snprintf(buf, sizeof buf, "%s-shm", path);
	unlink(buf);
	snprintf(buf, sizeof buf, "%s-journal", path);
	unlink(buf);
	snprintf(buf, sizeof buf, "%s.lock", path);
	unlink(buf);
}

static void fuzz_cleanup(void)
{
	char seed[300];

	snprintf(seed, sizeof seed, "%s/seed.db", fuzz_dir);
	fuzz_unlink_db(seed);
	fuzz_unlink_db(fuzz_db);
	fuzz_unlink_db(fuzz_out);
	rmdir(fuzz_dir);
}

static void fuzz_die(const char *what, char *cause) __attribute__((noreturn));
static void fuzz_die(const char *what, char *cause)
{
	fprintf(stderr, "fuzz-index-rows: %s: %s\n", what, cause != NULL ? cause : "?");
	abort();
}

/* Build the valid index every edit starts from, and keep its bytes. */
static void fuzz_make_seed(void)
{
	static const uint8_t thumb[] = { 0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9 };
	const char *tmp = getenv("TMPDIR");
	float frames[2][8], cache[4] = { 1, 2, 3, 4 };
	index_model_info mi[2] = { { { 1 }, "fuzz-a", "tcmgc", "{}", NULL, NULL },
				   { { 2 }, "fuzz-b", "ea", "{\"frames\":2}", NULL, NULL } };
	index_frame fr[2] = { { 0.5, thumb, sizeof thumb, 2, 1 }, { 1.5, NULL, 0, 0, 0 } };
	index_tensor t[4];
	index_video v;
	char *cause = NULL, seed[300];
	int64_t ids[2];
	index_db *ix;
	FILE *f;
	long n;

	if (tmp == NULL || *tmp == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz-index-XXXXXX", tmp);
	if (mkdtemp(fuzz_dir) == NULL)
		fuzz_die("mkdtemp", fuzz_dir);
	atexit(fuzz_cleanup);
	snprintf(seed, sizeof seed, "%s/seed.db", fuzz_dir);
	snprintf(fuzz_db, sizeof fuzz_db, "%s/work.db", fuzz_dir);
	snprintf(fuzz_out, sizeof fuzz_out, "%s/out.db", fuzz_dir);
	for (int i = 0; i < 16; i++)
		frames[i / 8][i % 8] = (float)i * 0.25f;
	if ((ix = index_open(seed, INDEX_CREATE, &cause)) == NULL)
		fuzz_die("index_open", cause);
	for (int i = 0; i < 2; i++)
		if ((ids[i] = index_model_id(ix, &mi[i], &cause)) <= 0)
			fuzz_die("index_model_id", cause);
	for (int i = 0; i < 2; i++) {
		t[0] = (index_tensor){ ids[0], "frames", frames[i], 8 };
		t[1] = (index_tensor){ ids[0], "cache", cache, 4 };
		t[2] = (index_tensor){ ids[1], "frames", frames[1 - i], 8 };
		t[3] = (index_tensor){ ids[1], "cache", cache, 1 + i };
		memset(&v, 0, sizeof v);
		v.path = i == 0 ? "/videos/a.mp4" : "/videos/b\nc.mkv";
		v.size = 1000 + i;
		v.mtime_ns = 42;
		v.hash[0] = (uint8_t)(10 + i);
		v.duration = 2.0;
		v.status = i == 0 ? INDEX_OK : INDEX_PARTIAL;
		v.error = i == 0 ? NULL : "frame 2: decode error";
		v.n_frames = 2;
		v.frames = fr;
		v.n_tensors = 4;
		v.tensors = t;
		if (index_put_video(ix, &v, &cause) <= 0)
			fuzz_die("index_put_video", cause);
	}
	index_close(ix);
	if ((f = fopen(seed, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (fuzz_seed = malloc((size_t)n)) == NULL ||
	    fread(fuzz_seed, 1, (size_t)n, f) != (size_t)n)
		fuzz_die("reading the seed index", seed);
	fclose(f);
	fuzz_seed_size = (size_t)n;
}

/* The database image for this input: the input itself, or the seed edited by it. */
static uint8_t *fuzz_image(const uint8_t *data, size_t size, size_t *len)
{
	uint8_t *img;

	if (size >= 16 && memcmp(data, "SQLite format 3", 16) == 0) {
		if ((img = malloc(size)) == NULL)
			abort();
		memcpy(img, data, size);
		*len = size;
		return img;
	}
	if ((img = malloc(fuzz_seed_size)) == NULL)
		abort();
	memcpy(img, fuzz_seed, fuzz_seed_size);
	*len = fuzz_seed_size;
	for (size_t i = 0; i + 4 <= size; i += 4) {
		size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8) % fuzz_seed_size;
		uint8_t val = data[i + 3];

		switch (data[i + 2] & 3) {
		case 0: img[off] = val; break;
		case 1: img[off] ^= val; break;
		case 2: img[off] = (uint8_t)(img[off] + val); break;
		default:
			/* A big-endian 32-bit word: val spread as a small or huge number. */
			for (int k = 0; k < 4 && off + (size_t)k < fuzz_seed_size; k++)
				img[off + (size_t)k] = (data[i + 2] & 4) ? 0xff : (k == 3 ? val : 0);
			break;
		}
	}
	return img;
}

static int fuzz_collect(void *arg, const index_video_row *row)
{
	int64_t *ids = arg;

	if (row->path == NULL)
		abort();
	(void)strlen(row->path);
	if (row->error != NULL)
		(void)strlen(row->error);
	for (int i = 0; i < FUZZ_MAX_IDS; i++)
		if (ids[i] == 0) {
			ids[i] = row->id;
			return 0;
		}
	return 1; /* enough */
}

static void fuzz_refused(char **cause)
{
	if (*cause == NULL)
		abort();
	free(*cause);
	*cause = NULL;
}

static void fuzz_read(index_db *ix)
{
	static const char *const kinds[] = { "frames", "cache" };
	int64_t ids[FUZZ_MAX_IDS] = { 0 }, count;
	volatile float sink = 0;
	index_video_row row;
	index_tensor_set *set;
	index_frames *fr;
	index_stats st;
	char *cause = NULL;
	float *t;
	int rc;

	if (index_get_stats(ix, &st, &cause) == -1)
		fuzz_refused(&cause);
	else {
		for (int i = 0; i < st.n_models; i++)
			if (st.models[i].name == NULL || st.models[i].architecture == NULL)
				abort();
		index_stats_clear(&st);
	}
	rc = index_list_videos(ix, NULL, fuzz_collect, ids, &cause);
	if (rc == -1)
		fuzz_refused(&cause);
	for (int i = 0; i < FUZZ_MAX_IDS && ids[i] != 0; i++) {
		if ((rc = index_lookup_id(ix, ids[i], &row, &cause)) == -1)
			fuzz_refused(&cause);
		else if (rc == 0)
			index_row_clear(&row);
		if ((fr = index_get_frames(ix, ids[i], 1, &cause)) == NULL)
			fuzz_refused(&cause);
		else {
			if (fr->n < 0 || (fr->n > 0 && fr->frames == NULL))
				abort();
			for (int k = 0; k < fr->n; k++)
				for (size_t b = 0; b < fr->frames[k].thumb_size; b++)
					sink += fr->frames[k].thumb[b];
			index_frames_free(fr);
		}
		{
			index_segment *g = NULL;
			int ng = 0;
			if ((rc = index_get_segments(ix, ids[i], &g, &ng, &cause)) == -1)
				fuzz_refused(&cause);
			else if (rc == 0 && (ng < 1 || g == NULL))
				abort();
			for (int k = 0; k < ng; k++)
				sink += (float)(g[k].start + g[k].end + g[k].frame0 + g[k].frames);
			free(g);
		}
		for (int64_t model = 1; model <= 2; model++)
			for (int k = 0; k < 2; k++) {
				rc = index_get_tensor(ix, ids[i], model, kinds[k], &t, &count, &cause);
				if (rc == -1 || rc == 2)
					fuzz_refused(&cause);
				else if (rc == 0) {
					if (count < 1)
						abort();
					for (int64_t j = 0; j < count; j++)
						sink += t[j];
					free(t);
				}
			}
	}
	/* Per segment: rows of several times 4 floats give several records. */
	for (int64_t model = 1; model <= 2; model++)
		for (int k = 0; k < 2; k++) {
			if ((set = index_load_segment_tensors(ix, model, kinds[k], 4, &cause)) == NULL) {
				fuzz_refused(&cause);
				continue;
			}
			if (set->n < 0 || (set->n > 0 && set->count != 4))
				abort();
			for (int64_t j = 0; j < set->n; j++) {
				(void)strlen(set->paths[j]);
				sink += (float)(set->ids[j] + set->segment[j]);
			}
			for (int64_t j = 0; j < set->n * set->count; j++)
				sink += set->data[j];
			index_tensor_set_free(set);
		}
	for (int64_t model = 1; model <= 2; model++)
		for (int k = 0; k < 2; k++)
			for (int64_t want = 0; want <= 8; want += 8) {
				if ((set = index_load_tensors(ix, model, kinds[k], want, &cause)) == NULL) {
					fuzz_refused(&cause);
					continue;
				}
				if (set->n < 0 || set->count < 0 || (want != 0 && set->n > 0 &&
				    set->count != want))
					abort();
				for (int64_t j = 0; j < set->n; j++) {
					(void)strlen(set->paths[j]);
					sink += (float)set->ids[j];
				}
				for (int64_t j = 0; j < set->n * set->count; j++)
					sink += set->data[j];
				for (int64_t j = 0; j < set->n_damaged; j++)
					sink += (float)set->damaged_ids[j];
				index_tensor_set_free(set);
			}
	if (index_check(ix, &cause) == -1)
		fuzz_refused(&cause);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *shards[1] = { fuzz_db };
	char *cause = NULL;
	size_t len;
	uint8_t *img;
	index_db *ix;
	FILE *f;

	if (fuzz_seed == NULL)
		fuzz_make_seed();
	img = fuzz_image(data, size, &len);
	fuzz_unlink_db(fuzz_db);
	if ((f = fopen(fuzz_db, "wb")) == NULL || fwrite(img, 1, len, f) != len || fclose(f) != 0)
		abort();
	free(img);
	if ((ix = index_open(fuzz_db, INDEX_READONLY, &cause)) == NULL) {
		fuzz_refused(&cause);
		return 0;
	}
	fuzz_read(ix);
	index_close(ix);
	fuzz_unlink_db(fuzz_out);
	if (index_merge(fuzz_out, shards, 1, &cause) == -1)
		fuzz_refused(&cause);
	return 0;
}
