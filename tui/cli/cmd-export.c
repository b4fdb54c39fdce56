/*
 * cmd-export — `clipgrep export`: every indexed video's path, frame times
 * and vectors of one model, for loading into a vector database or a
 * distributed engine.  Read-only on the index.
 *
 * --format npy: --out is a directory holding
 *   videos.jsonl       one line per video: id, path, duration, times, and
 *                      its row in each array below (null when absent); a
 *                      long video one line per segment, with segment,
 *                      segments, segment_start, segment_end
 *   frames.npy         [n_frames, F, D] raw CLIP frame embeddings
 *   cache.ea.npy       [n_ea, C_ea]     EA per-video cache (v̂ first)
 *   cache.tcmgc.npy    [n_tc, C_tc]     TC-MGC per-video cache
 * (an array is written only when some video has that tensor).
 * --format jsonl: --out is one file, one line per video with the vectors
 * inline.  Parquet is not offered: no maintained C Parquet library is
 * packaged in Debian 12.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "heads.h"
#include "index.h"
#include "npy.h"

#define EXPORT_KINDS 3

static const char *const export_kinds[EXPORT_KINDS] = {
	HEADS_KIND_FRAMES, HEADS_KIND_EA, HEADS_KIND_TCMGC
};

typedef struct {
	index_db *ix;
	index_tensor_set *set[EXPORT_KINDS];
	FILE *out;
	int jsonl;   /* vectors inline */
	int F, D;
	int64_t n;   /* videos written */
	int failed;
} export_state;

static void export_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep export [--db FILE] [--model FILE] --format npy|jsonl --out PATH\n"
	    "Write every indexed video's path, frame times and vectors of one model:\n"
	    "  npy    PATH is a directory: videos.jsonl, frames.npy [n, F, D],\n"
	    "         cache.ea.npy, cache.tcmgc.npy (rows named in videos.jsonl)\n"
	    "  jsonl  PATH is a file: one JSON object per video, vectors inline\n"
	    "(Parquet: no maintained C library for it is packaged in Debian.)\n\n"
	    "  -d, --db FILE      the index (default: as for search)\n"
	    "  -m, --model FILE   the model file the videos were indexed with (default: the\n"
	    "                     index's model, the first in the config's order when it\n"
	    "                     holds several: a note names the others)\n"
	    "      --head NAME    a head of a multi-head model file (default: the first)\n"
	    "  -f, --format FMT   npy or jsonl\n"
	    "  -o, --out PATH     where to write\n"
	    "  -h, --help         show this help\n");
}

/* The first row of id in set (ids ascending; a long video has one per segment), -1 when absent. */
static int64_t export_row(const index_tensor_set *s, int64_t id)
{
	int64_t lo = 0, hi = s ? s->n : 0;

	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;

		if (s->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return s != NULL && lo < s->n && s->ids[lo] == id ? lo : -1;
}

static void export_floats(FILE *out, const float *x, int64_t n)
{
	fputc('[', out);
	for (int64_t i = 0; i < n; i++)
		fprintf(out, i ? ",%.9g" : "%.9g", (double)x[i]);
	fputc(']', out);
}

/* Records of id in set starting at its first row r (0 when r < 0). */
static int64_t export_records(const index_tensor_set *s, int64_t r, int64_t id)
{
	int64_t n = 0;

	while (r >= 0 && r + n < s->n && s->ids[r + n] == id)
		n++;
	return n;
}

/*
 * One line per record: a clip as before; each segment of a long video on
 * its own line with its span and its frames' times.
 */
static int export_video(void *arg, const index_video_row *row)
{
	export_state *st = arg;
	int64_t r[EXPORT_KINDS], nseg = 1;
	int any = 0, n_segs = 1;
	index_frames *fr;
	index_segment *segs = NULL;
	char *cause = NULL;

	for (int k = 0; k < EXPORT_KINDS; k++) {
		r[k] = export_row(st->set[k], row->id);
		any |= r[k] >= 0;
		if (r[k] >= 0 && export_records(st->set[k], r[k], row->id) > nseg)
			nseg = export_records(st->set[k], r[k], row->id);
	}
	if (!any)
		return 0;
	fr = index_get_frames(st->ix, row->id, 0, &cause);
	if (fr == NULL || (nseg > 1 &&
	    index_get_segments(st->ix, row->id, &segs, &n_segs, &cause) != 0)) {
		cli_error_cause(&cause, "cannot read the frames");
		index_frames_free(fr);
		st->failed = 1;
		return 1;
	}
	for (int g = 0; g < nseg && g < n_segs; g++) {
		int f0 = segs != NULL ? segs[g].frame0 : 0;
		int nf = segs != NULL ? segs[g].frames : fr->n;

		fprintf(st->out, "{\"id\":%lld,\"path\":", (long long)row->id);
		cli_json_string(st->out, row->path);
		if (isfinite(row->duration))
			fprintf(st->out, ",\"duration\":%.6f", row->duration);
		if (segs != NULL)
			fprintf(st->out, ",\"segment\":%d,\"segments\":%d,\"segment_start\":%.6f,"
			    "\"segment_end\":%.6f", g, n_segs, segs[g].start, segs[g].end);
		fputs(",\"times\":[", st->out);
		for (int i = f0; i < f0 + nf && i < fr->n; i++)
			fprintf(st->out, i > f0 ? ",%.6f" : "%.6f", fr->frames[i].time);
		fputc(']', st->out);
		for (int k = 0; k < EXPORT_KINDS; k++) {
			int64_t at = r[k] >= 0 && g < export_records(st->set[k], r[k], row->id) ?
			    r[k] + g : -1;
			if (!st->jsonl) {
				if (at >= 0)
					fprintf(st->out, ",\"%s_row\":%lld", export_kinds[k], (long long)at);
				else
					fprintf(st->out, ",\"%s_row\":null", export_kinds[k]);
			} else if (at >= 0) {
				fprintf(st->out, ",\"%s\":", export_kinds[k]);
				export_floats(st->out, st->set[k]->data + at * st->set[k]->count,
				    st->set[k]->count);
			}
		}
		fputs("}\n", st->out);
	}
	index_frames_free(fr);
	free(segs);
	st->n++;
	return 0;
}

/*
 * Rows the loads skipped as damaged are left out of the export: say which,
 * once per video (a video may be damaged in several kinds), as search does.
 */
static void export_warn_damaged(index_db *ix, index_tensor_set *const *sets, int n_sets)
{
	for (int k = 0; k < n_sets; k++)
		for (int64_t i = 0; i < sets[k]->n_damaged; i++) {
			int64_t id = sets[k]->damaged_ids[i];
			index_video_row row;
			int seen = 0;

			for (int j = 0; j < k && !seen; j++)
				for (int64_t m = 0; m < sets[j]->n_damaged && !seen; m++)
					seen = sets[j]->damaged_ids[m] == id;
			if (seen || index_lookup_id(ix, id, &row, NULL) != 0)
				continue;
			cli_warn_damaged(row.path);
			index_row_clear(&row);
		}
}

int cmd_export(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "head", required_argument, NULL, 'H' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *opt_db = NULL, *model_file = NULL, *fmt = NULL, *out_path = NULL, *head = NULL;
	export_state st = { 0 };
	cli_config cfg;
	char *db = NULL, *cause = NULL, *path = NULL;
	heads_set *hs = NULL;
	heads_file *hf;
	int64_t model_id;
	int c, rc = CLI_EXIT_ERROR, n_models = 0;
	char **models = NULL;

	while ((c = cli_getopt(argc, argv, ":d:m:f:o:h", options)) != -1) {
		switch (c) {
		case 'd': opt_db = optarg; break;
		case 'm': model_file = optarg; break;
		case 'H': head = optarg; break;
		case 'f': fmt = optarg; break;
		case 'o': out_path = optarg; break;
		case 'h': export_usage(stdout); return CLI_EXIT_OK;
		default: export_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || fmt == NULL || out_path == NULL ||
	    (strcmp(fmt, "npy") != 0 && strcmp(fmt, "jsonl") != 0)) {
		if (fmt != NULL && strcmp(fmt, "parquet") == 0)
			cli_error("export: parquet is not available (no maintained C library in "
			    "Debian); use npy or jsonl");
		export_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	st.jsonl = strcmp(fmt, "jsonl") == 0;
	if (cli_config_load(&cfg) == -1) {
		cli_config_free(&cfg);
		return CLI_EXIT_ERROR;
	}
	db = cli_db_path(opt_db, &cfg);
	if (db == NULL) {
		cli_config_free(&cfg);
		cli_error("export: no index path (give --db)");
		return CLI_EXIT_USAGE;
	}
	if (model_file == NULL) {
		/* As search does: the models the index was built with (the config chooses). */
		n_models = cli_model_paths(NULL, 0, &cfg, db, &models);
		if (n_models <= 0) {
			cli_config_free(&cfg);
			free(db);
			return CLI_EXIT_USAGE;
		}
		model_file = models[0];
		for (int i = 1; i < n_models; i++)
			cli_error("export: exporting the vectors of %s; the index also holds %s "
			    "(--model chooses)", cli_name(model_file), cli_name(models[i]));
	}
	cli_config_free(&cfg);
	/* A multi-head file: each head is a model of its own in the index. */
	if ((hs = heads_open_head((const char *const *)&model_file, 1, HEADS_FILES_ONLY, head,
	    &cause)) == NULL ||
	    (st.ix = index_open(db, INDEX_READONLY, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot open the model or the index");
		goto out;
	}
	hf = heads_file_at(hs, 0);
	st.F = hf->F;
	st.D = hf->D;
	model_id = index_find_model(st.ix, hf->hash, &cause);
	if (model_id <= 0) {
		if (model_id < 0)
			cli_error_cause(&cause, "cannot read the index");
		else
			cli_error("%s: no video in %s was indexed with this model", cli_name(model_file), cli_name(db));
		goto out;
	}
	/*
	 * One row per segment (a clip is one): the frames by the model's [F, D],
	 * each cache by its size per segment, read off the first video.
	 */
	for (int k = 0; k < EXPORT_KINDS; k++) {
		int64_t unit = (int64_t)st.F * st.D;
		if (k > 0 && st.set[0]->n > 0) {
			int64_t id = st.set[0]->ids[0], count = 0;
			int64_t nseg = export_records(st.set[0], 0, id);
			float *data = NULL;
			unit = 0;
			if (index_get_tensor(st.ix, id, model_id, export_kinds[k], &data, &count,
			    NULL) == 0 && count % nseg == 0)
				unit = count / nseg;
			free(data);
		}
		st.set[k] = unit > 0 ?
		    index_load_segment_tensors(st.ix, model_id, export_kinds[k], unit, &cause) :
		    index_load_tensors(st.ix, model_id, export_kinds[k], 0, &cause);
		if (st.set[k] == NULL) {
			cli_error_cause(&cause, "cannot read the index");
			goto out;
		}
	}
	export_warn_damaged(st.ix, st.set, EXPORT_KINDS);
	if (st.jsonl) {
		st.out = fopen(out_path, "w");
	} else {
		if (cli_make_dirs(out_path) == -1)
			goto out;
		path = malloc(strlen(out_path) + 32);
		if (path == NULL)
			goto out;
		for (int k = 0; k < EXPORT_KINDS; k++) {
			index_tensor_set *s = st.set[k];
			int64_t shape[3] = { s->n, s->count, 0 };
			int ndim = 2;

			if (s->n == 0)
				continue;
			if (k == 0 && s->count == (int64_t)st.F * st.D) {
				shape[1] = st.F;
				shape[2] = st.D;
				ndim = 3;
			}
			sprintf(path, "%s/%s.npy", out_path, export_kinds[k]);
			if (npy_write(path, ndim, shape, s->data, &cause) == -1) {
				cli_error_cause(&cause, "cannot write a .npy file");
				goto out;
			}
		}
		sprintf(path, "%s/videos.jsonl", out_path);
		st.out = fopen(path, "w");
	}
	if (st.out == NULL) {
		cli_error("%s: %s", cli_name(st.jsonl ? out_path : path), strerror(errno));
		goto out;
	}
	if (index_list_videos(st.ix, NULL, export_video, &st, &cause) == -1) {
		cli_error_cause(&cause, "cannot list the videos");
		goto out;
	}
	if (st.failed)
		goto out;
	if (ferror(st.out) || fclose(st.out) != 0) {
		st.out = NULL;
		cli_error("%s: write failed", cli_name(out_path));
		goto out;
	}
	st.out = NULL;
	if (cli_verbose)
		fprintf(stderr, "clipgrep: exported %lld videos\n", (long long)st.n);
	rc = CLI_EXIT_OK;
out:
	if (st.out != NULL)
		fclose(st.out);
	for (int k = 0; k < EXPORT_KINDS; k++)
		index_tensor_set_free(st.set[k]);
	index_close(st.ix);
	heads_free(hs);
	free(path);
	free(db);
	cli_free_strings(models, n_models);
	return rc;
}
