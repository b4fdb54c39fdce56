/*
 * bench-library — one synthetic index builder for `clipgrep bench index`
 * and `clipgrep bench tui`.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-library.h"
#include "cli.h"
#include "hash.h"
#include "heads.h"
#include "index.h"
#include "picture.h"
#include "tensor.h"
#include "video.h"

/* Distinct thumbnails shared by the synthetic videos. */
#define BL_THUMBS 12
#define BL_THUMB_W 96
#define BL_THUMB_H 54

const char *bench_library_tmp(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
}

/* BL_THUMBS small PNG pictures (colour gradients with a bar), as bytes. */
static int bench_library_thumbs(const char *who, uint8_t *png[BL_THUMBS],
    size_t sizes[BL_THUMBS])
{
	/* Small and smooth, like the indexer's JPEG thumbnails (a few KiB each). */
	const int w = BL_THUMB_W, h = BL_THUMB_H;
	uint8_t *rgb = malloc((size_t)w * h * 3);
	char path[4200];
	int rc = 0;

	if (rgb == NULL)
		return -1;
	for (int k = 0; k < BL_THUMBS && rc == 0; k++) {
		char *cause = NULL;
		FILE *f;
		long n;
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				uint8_t *o = rgb + ((size_t)y * w + x) * 3;
				int bar = x / 8 == k;
				o[0] = (uint8_t)(bar ? 255 : x * 200 / w + k * 4);
				o[1] = (uint8_t)(bar ? 255 : y * 200 / h + k * 4);
				o[2] = (uint8_t)(bar ? 255 : 160 - k * 10);
			}
		snprintf(path, sizeof path, "%s/clipgrep-bench-tui-%d-%d.png", bench_library_tmp(),
		    (int)getpid(), k);
		if (picture_write_png(path, rgb, w, h, &cause) == -1) {
			char what[128];
			snprintf(what, sizeof what, "%s: cannot write a thumbnail", who);
			cli_error_cause(&cause, what);
			rc = -1;
			break;
		}
		f = fopen(path, "rb");
		png[k] = NULL;
		if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
		    fseek(f, 0, SEEK_SET) == 0 && (png[k] = malloc((size_t)n)) != NULL &&
		    fread(png[k], 1, (size_t)n, f) == (size_t)n)
			sizes[k] = (size_t)n;
		else
			rc = -1;
		if (f != NULL)
			fclose(f);
		unlink(path);
	}
	free(rgb);
	return rc;
}

/* Whether db already holds o->videos videos for the model with hash. */
static int bench_library_fresh(const char *db, const uint8_t hash[HASH_SIZE], int n)
{
	index_db *ix = index_open(db, INDEX_READONLY, NULL);
	index_stats st;
	int ok = 0;

	if (ix == NULL)
		return 0;
	if (index_find_model(ix, hash, NULL) > 0 && index_get_stats(ix, &st, NULL) == 0) {
		ok = st.videos == n;
		index_stats_clear(&st);
	}
	index_close(ix);
	return ok;
}

char *bench_library_db(const bench_library_options *o)
{
	char *db = malloc(4096), *cause = NULL;
	uint8_t hash[HASH_SIZE], *png[BL_THUMBS] = { 0 };
	size_t png_size[BL_THUMBS] = { 0 };
	heads_set *hs = NULL;
	heads_record *rec = NULL;
	index_db *ix = NULL;
	float *v = NULL;
	int ok = 0, n = o->videos;

	if (db == NULL)
		return NULL;
	snprintf(db, 4096, "%s/%s", bench_library_tmp(), o->dir);
	if (mkdir(db, 0700) == -1 && errno != EEXIST) {
		cli_error("%s: %s", db, strerror(errno));
		goto out;
	}
	snprintf(db + strlen(db), 4096 - strlen(db), "/%s-%d.db", o->file, n);
	if (hash_file(o->model_path, hash, NULL, &cause) == -1)
		goto fail;
	if (bench_library_fresh(db, hash, n)) {
		ok = 1;
		goto out;
	}
	fprintf(stderr, "clipgrep: %s: building a %d-video index in %s\n", o->who, n, db);
	{
		char side[4200];
		unlink(db);
		snprintf(side, sizeof side, "%s-wal", db);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", db);
		unlink(side);
	}
	if (o->thumbs && bench_library_thumbs(o->who, png, png_size) == -1)
		goto out;
	if ((hs = heads_open(&o->model_path, 1, HEADS_FOR_INDEX, &cause)) == NULL)
		goto fail;
	{
		heads_file *f = heads_file_at(hs, 0);
		int F = f->F, D = f->D;
		index_model_info info;
		char json[1024];
		index_frame frames[64];
		uint64_t x = o->seed;
		int64_t model_id;

		heads_model_info(f, &info, json, sizeof json);
		v = tensor_alloc((size_t)F * D);
		if (v == NULL || F > 64 || (rec = heads_record_new(f, &cause)) == NULL)
			goto fail;
		if ((ix = index_open(db, INDEX_CREATE, &cause)) == NULL ||
		    (model_id = index_model_id(ix, &info, &cause)) < 0 ||
		    index_batch_begin(ix, &cause) == -1)
			goto fail;
		for (int i = 0; i < n; i++) {
			index_tensor all[HEADS_MAX_TENSORS], t[HEADS_MAX_TENSORS];
			char path[4200];
			int na, nt = 0;

			for (int k = 0; k < F * D; k++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				v[k] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5) +
				    (float)((i * 31 + k % D) % 17) * 0.05f;
			}
			for (int fr = 0; fr < F; fr++) {
				int k = (i + fr) % BL_THUMBS;
				frames[fr] = (index_frame){ .time = o->frame_first + o->frame_step * fr };
				if (o->thumbs) {
					frames[fr].thumb = png[k];
					frames[fr].thumb_size = png_size[k];
					frames[fr].thumb_width = BL_THUMB_W;
					frames[fr].thumb_height = BL_THUMB_H;
				}
			}
			if (heads_record_prepare(rec, v, F, NULL, &cause) == -1)
				goto fail;
			na = heads_record_tensors(rec, model_id, all);
			for (int k = 0; k < na; k++)
				if (o->frames_tensor || strcmp(all[k].kind, HEADS_KIND_FRAMES) != 0)
					t[nt++] = all[k];
			index_video vid = { .path = path, .size = 1000 + i, .mtime_ns = i,
				.duration = o->frame_step * F, .status = INDEX_OK, .n_frames = F,
				.frames = frames, .n_tensors = nt, .tensors = t };
			snprintf(path, sizeof path, "%s/video-%06d.mp4", o->video_dir, i);
			vid.hash[0] = (uint8_t)i;
			vid.hash[1] = (uint8_t)(i >> 8);
			vid.hash[2] = (uint8_t)(i >> 16);
			vid.hash[3] = o->hash_tag;
			if (index_put_video(ix, &vid, &cause) < 0)
				goto fail;
		}
		if (index_batch_commit(ix, &cause) == -1)
			goto fail;
	}
	ok = 1;
	goto out;
fail:
	{
		char what[128];
		snprintf(what, sizeof what, "%s: cannot build the synthetic index", o->who);
		cli_error_cause(&cause, what);
	}
	ok = 0;
out:
	index_close(ix);
	tensor_free(v);
	heads_record_free(rec);
	heads_free(hs);
	free(cause);
	for (int k = 0; k < BL_THUMBS; k++)
		free(png[k]);
	if (!ok) {
		free(db);
		return NULL;
	}
	return db;
}
