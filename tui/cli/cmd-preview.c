/*
 * cmd-preview — the commands other tools call: `clipgrep preview FILE`, a
 * previewer for fzf and yazi (the stored thumbnails of FILE as one picture,
 * the best moment for --query marked, and a text line), and `clipgrep
 * similar FILE`, the library ranked by likeness to FILE from the stored
 * vectors.  Neither decodes a video: everything comes from the index.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli-config.h"
#include "cli-picture.h"
#include "cli.h"
#include "cmd.h"
#include "engine.h"
#include "heads.h"
#include "index.h"
#include "image.h"
#include "tensor.h"
#include "thumb.h"
#include "util.h"

/* The narrowest tile of the strip, in columns, before it wraps into rows. */
#define PREVIEW_TILE_COLS 20

static void preview_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep preview [OPTIONS] FILE\n"
	    "Show FILE's stored frame thumbnails as one picture (sixel or colour half-blocks),\n"
	    "the best moment for --query marked, then a line: path, duration, best moment.\n"
	    "For fzf: fzf --preview 'clipgrep preview {}'; sized to $FZF_PREVIEW_COLUMNS\n"
	    "and $FZF_PREVIEW_LINES when set.\n\n"
	    "      --db FILE          the index (default $CLIPGREP_DB, else\n"
	    "                         $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "  -q, --query TEXT       mark the best moment for TEXT\n"
	    "  -m, --model FILE       a model file for --query (repeatable; default: the\n"
	    "                         index's own)\n"
	    "      --mode MODE        tcmgc, ea, fused (default: fused when both heads exist)\n"
	    "                         or another head of a multi-head model file by name\n"
	    "  -w, --width COLS       the picture's width in columns (default\n"
	    "                         $FZF_PREVIEW_COLUMNS, else the terminal's, else 80)\n"
	    "      --images MODE      auto, kitty, sixel, blocks or none (auto: ask the terminal;\n"
	    "                         under fzf, or without a terminal, half-blocks)\n"
	    "  -h, --help             show this help\n");
}

/* m:ss.s (h:mm:ss.s), "?" when unknown. */
static void preview_time(FILE *out, double t)
{
	int tenths, s;

	if (!isfinite(t) || t < 0) {
		fputs("?", out);
		return;
	}
	tenths = (int)(t * 10 + 0.5);
	s = tenths / 10;
	if (s >= 3600)
		fprintf(out, "%d:%02d:%02d.%d", s / 3600, s / 60 % 60, s % 60, tenths % 10);
	else
		fprintf(out, "%d:%02d.%d", s / 60, s % 60, tenths % 10);
}

/* A positive integer from the environment, else 0. */
static int preview_env_int(const char *name)
{
	const char *s = getenv(name);
	int v;

	return s != NULL && cli_parse_int(s, 1, 100000, &v) == 0 ? v : 0;
}

/* The index row of file (its real path, else as given): 0, or exit code after a message. */
static int preview_lookup(index_db *ix, const char *cmd, const char *file, const char *db,
    index_video_row *row)
{
	char *real = realpath(file, NULL), *cause = NULL;
	int k = index_lookup_path(ix, real != NULL ? real : file, row, &cause);

	free(real);
	if (k == -1) {
		cli_error_cause(&cause, "cannot read the index");
		return CLI_EXIT_ERROR;
	}
	if (k == 1) {
		cli_error("%s: %s is not in the index %s (index its folder with 'clipgrep index DIR')",
		    cmd, cli_name(file), cli_name(db));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/*
 * The best frame of the video for query, from the engine on the index's
 * models: the frame index within the best segment (*segment; a clip has
 * one, 0), or -1 after a warning (the strip is still shown).
 */
static int preview_best(const char *db, char **models_opt, int n_models_opt, const cli_config *cfg,
    const char *mode_name, const char *path, const char *query, int *segment)
{
	engine_options eo;
	engine *e = NULL;
	engine_result *r = NULL;
	search_model mode;
	char **models = NULL, *cause = NULL;
	int64_t id;
	int n, best = -1;

	if ((n = cli_model_paths(models_opt, n_models_opt, cfg, db, &models)) < 0)
		return -1;
	engine_options_init(&eo);
	eo.db_path = db;
	eo.model_paths = (const char *const *)models;
	eo.n_models = n;
	eo.threads = cfg->threads;
	if ((e = engine_open(&eo, &cause)) == NULL) {
		cli_error_cause(&cause, "preview: cannot open the index for --query");
		goto out;
	}
	if (mode_name == NULL)
		mode = engine_default_mode(e);
	else if (engine_mode_find(e, mode_name, &mode) == -1 || !engine_has_mode(e, mode)) {
		cli_error("preview: --mode %s cannot run with these models", cli_name(mode_name));
		goto out;
	}
	tensor_set_threads(1);
	if (engine_find_video(e, path, &id, &cause) != 0) {
		cli_error("warning: preview: %s is not searchable with the models given; no best "
		    "moment marked", cli_name(path));
		goto out;
	}
	if (engine_explain(e, query, mode, id, &r, &cause) != 0) {
		cli_error_cause(&cause, "preview: cannot score the query");
		goto out;
	}
	best = r->hits[0].best_frame;
	*segment = r->hits[0].segment;
out:
	free(cause);
	engine_result_free(r);
	engine_close(e);
	cli_free_strings(models, n);
	return best;
}

/*
 * The frames as one picture: tiles of the same size, k to a row, the best
 * one (best >= 0) framed in yellow and the others dimmed.  Pixels per cell
 * cw x ch.  Newly allocated rgb [*h, *w, 3]; NULL when no thumbnail decodes.
 */
static uint8_t *preview_strip(const index_frames *f, int best, int cols, int rows, int cw, int ch,
    int *out_w, int *out_h, int *out_cols)
{
	uint8_t **rgb = calloc((size_t)(f->n > 0 ? f->n : 1), sizeof *rgb), *canvas = NULL;
	int *w = calloc((size_t)(f->n > 0 ? f->n : 1), sizeof *w);
	int *h = calloc((size_t)(f->n > 0 ? f->n : 1), sizeof *h);
	int tw = 0, th = 0, k, tile_c = 0, tile_w = 0, tile_h = 0, lines = 0;

	if (rgb == NULL || w == NULL || h == NULL)
		goto out;
	for (int i = 0; i < f->n; i++) {
		char *cause = NULL;
		if (f->frames[i].thumb != NULL &&
		    (rgb[i] = thumb_decode(f->frames[i].thumb, f->frames[i].thumb_size, &w[i], &h[i],
		    &cause)) != NULL && tw == 0) {
			tw = w[i];
			th = h[i];
		}
		free(cause);
	}
	if (tw == 0)
		goto out;
	/* The widest tiles whose rows fit the lines there are. */
	k = cols / PREVIEW_TILE_COLS;
	k = k < 1 ? 1 : k > f->n ? f->n : k;
	for (;; k++) {
		tile_c = cols / k;
		tile_w = tile_c * cw;
		tile_h = (int)((double)tile_w * th / tw + 0.5);
		tile_h = (tile_h + ch - 1) / ch * ch;
		lines = (f->n + k - 1) / k;
		if (rows <= 0 || lines * tile_h / ch <= rows || k >= f->n || tile_c <= 1)
			break;
	}
	if (rows > 0 && lines * tile_h / ch > rows) /* still too high: shrink the tiles */
		tile_h = rows / lines * ch > ch ? rows / lines * ch : ch;
	*out_w = k * tile_w;
	*out_h = lines * tile_h;
	*out_cols = k * tile_c;
	if ((canvas = calloc((size_t)*out_w * (size_t)*out_h, 3)) == NULL)
		goto out;
	for (int i = 0; i < f->n; i++) {
		int x0 = i % k * tile_w, y0 = i / k * tile_h;
		int gap = tile_w > 4 ? 1 : 0, pw = tile_w - gap, ph = tile_h - (tile_h > 4 ? 1 : 0);
		uint8_t *tile;

		if (rgb[i] == NULL || pw < 1 || ph < 1 || (tile = malloc((size_t)pw * ph * 3)) == NULL)
			continue;
		image_scale(rgb[i], w[i], h[i], tile, pw, ph);
		for (int y = 0; y < ph; y++) {
			for (int x = 0; x < pw; x++) {
				uint8_t *d = canvas + ((size_t)(y0 + y) * *out_w + x0 + x) * 3;
				const uint8_t *s = tile + ((size_t)y * pw + x) * 3;
				/* The frame: one cell's worth of pixels is too thick for sixel. */
				int b = cw > 1 ? 3 : 1;
				int edge = x < b || x >= pw - b || y < b || y >= ph - b;
				if (i == best && edge) {
					d[0] = 255, d[1] = 215, d[2] = 0;
				} else if (best >= 0 && i != best) {
					d[0] = (uint8_t)(s[0] * 2 / 5), d[1] = (uint8_t)(s[1] * 2 / 5),
					d[2] = (uint8_t)(s[2] * 2 / 5);
				} else
					memcpy(d, s, 3);
			}
		}
		free(tile);
	}
out:
	for (int i = 0; rgb != NULL && i < f->n; i++)
		free(rgb[i]);
	free(rgb);
	free(w);
	free(h);
	return canvas;
}

int cmd_preview(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "query", required_argument, NULL, 'q' },
		{ "model", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' },
		{ "width", required_argument, NULL, 'w' },
		{ "images", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *opt_db = NULL, *query = NULL, *mode = NULL, *file;
	char **models = NULL, *db = NULL, *cause = NULL;
	int n_models = 0, width = 0, want = -1, c, rc = CLI_EXIT_ERROR;
	int cols, rows, best = -1, pw = 0, ph = 0, pcols = 0;
	cli_config cfg;
	cli_picture_caps caps;
	index_db *ix = NULL;
	index_video_row row = { 0 };
	index_frames *f = NULL;
	uint8_t *strip = NULL;
	struct winsize ws;
	int in_fzf = getenv("FZF_PREVIEW_COLUMNS") != NULL;

	memset(&cfg, 0, sizeof cfg);
	while ((c = cli_getopt(argc, argv, ":d:q:m:w:h", options)) != -1) {
		switch (c) {
		case 'd':
			opt_db = optarg;
			break;
		case 'q':
			query = optarg;
			break;
		case 'm':
			if (cli_append_arg(&models, &n_models, optarg) == -1) {
				cli_error("out of memory");
				goto out;
			}
			break;
		case 'M':
			mode = optarg;
			break;
		case 'w':
			if (cli_parse_int(optarg, 1, 10000, &width) == -1) {
				cli_error("preview: --width: %s is not a number from 1 to 10000",
				    cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'i':
			if (cli_picture_parse(optarg, &want) == -1) {
				cli_error("preview: --images: %s is not auto, kitty, sixel, blocks or none",
				    cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'h':
			preview_usage(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			preview_usage(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (argc - optind != 1) {
		cli_error("preview: give one FILE");
		preview_usage(stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	file = argv[optind];
	if (query != NULL && engine_query_is_empty(query)) {
		cli_error("preview: the query is empty");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (cli_config_load(&cfg) == -1 || (db = cli_db_path(opt_db, &cfg)) == NULL ||
	    cli_db_exists(db) == -1)
		goto out;
	if ((ix = index_open(db, INDEX_READONLY, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot open the index");
		goto out;
	}
	if ((rc = preview_lookup(ix, "preview", file, db, &row)) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if ((f = index_get_frames(ix, row.id, 1, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot read the stored frames");
		goto out;
	}
	if (query != NULL) {
		int seg = 0, n_segs = 0;
		index_segment *segs = NULL;

		best = preview_best(db, models, n_models, &cfg, mode, row.path, query, &seg);
		/* A long video: the strip is the best segment's frames. */
		if (best >= 0 && index_get_segments(ix, row.id, &segs, &n_segs, NULL) == 0 &&
		    n_segs > 1 && seg < n_segs && segs[seg].frame0 + segs[seg].frames <= f->n) {
			int first = segs[seg].frame0, n = segs[seg].frames;
			for (int i = 0; i < f->n; i++)
				if (i < first || i >= first + n)
					free((void *)f->frames[i].thumb);
			memmove(f->frames, f->frames + first, (size_t)n * sizeof *f->frames);
			f->n = n;
		}
		free(segs);
	}

	/* The size: fzf's preview window, else the terminal's, else 80 columns. */
	cols = width > 0 ? width : preview_env_int("FZF_PREVIEW_COLUMNS");
	rows = preview_env_int("FZF_PREVIEW_LINES");
	if ((cols == 0 || rows == 0) && !in_fzf && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0) {
		cols = cols > 0 ? cols : ws.ws_col;
		rows = rows > 0 ? rows : ws.ws_row;
	}
	if (cols <= 0)
		cols = 80;
	rows = rows > 2 ? rows - 2 : rows > 0 ? 1 : 0; /* the text line, and the shell's prompt */
	/* Under fzf the terminal is fzf's: asking it would feed fzf our answer. */
	cli_picture_detect(want, !in_fzf && (isatty(STDIN_FILENO) || isatty(STDOUT_FILENO)),
	    CLI_PICTURE_BLOCKS, &caps);
	if (caps.mode != CLI_PICTURE_NONE) {
		int pixels = caps.mode == CLI_PICTURE_SIXEL || caps.mode == CLI_PICTURE_KITTY;
		int cw = pixels ? caps.cell_width : 1;
		int ch = pixels ? caps.cell_height : 2;
		strip = preview_strip(f, best, cols, rows, cw, ch, &pw, &ph, &pcols);
		if (strip == NULL)
			cli_error("warning: preview: %s has no stored thumbnails", cli_name(file));
		else if (cli_picture_write(stdout, &caps, strip, pw, ph, pcols, rows, &cause) == -1) {
			cli_error_cause(&cause, "preview: cannot draw the picture");
			goto out;
		}
	}
	cli_text_escaped(stdout, row.path);
	fputs("  ", stdout);
	preview_time(stdout, row.duration > 0 ? row.duration : NAN);
	if (best >= 0 && best < f->n) {
		fputs("  best ", stdout);
		preview_time(stdout, f->frames[best].time);
		printf(" (frame %d of %d)", best + 1, f->n);
	} else
		printf("  %d frames", f->n);
	putchar('\n');
	rc = CLI_EXIT_OK;
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("preview: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	free(strip);
	index_frames_free(f);
	index_row_clear(&row);
	index_close(ix);
	free(db);
	free(models);
	cli_config_free(&cfg);
	return rc;
}

/* ---- similar ------------------------------------------------------------- */

static void similar_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep similar [OPTIONS] FILE\n"
	    "Rank the indexed videos by how much they look like FILE, from the stored frame\n"
	    "vectors (nothing is decoded or encoded): the cosine of the videos' mean\n"
	    "L2-normalised CLIP frame embeddings (real frames only).  FILE is left out.\n\n"
	    "      --db FILE          the index (default $CLIPGREP_DB, else\n"
	    "                         $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "  -m, --model FILE       whose stored vectors to use (default: the index's model\n"
	    "                         with the most videos that holds FILE's)\n"
	    "  -n, --count K          show the K most similar (default 10)\n"
	    "  -l, --files            print only the paths, one per line\n"
	    "  -0                     print only the paths, each ended by a NUL\n"
	    "  -h, --help             show this help\n");
}

typedef struct {
	int64_t id;
	int frames;
	int long_video; /* cut into segments: frames counts all of theirs */
} similar_row;

static int similar_list_fn(void *arg, const index_video_row *row)
{
	void **a = arg;
	similar_row **v = a[0];
	size_t *n = a[1], *cap = a[2];

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		similar_row *g = realloc(*v, nc * sizeof *g);
		if (g == NULL)
			return -1;
		*v = g;
		*cap = nc;
	}
	(*v)[(*n)++] = (similar_row){ row->id, row->frames,
	    row->window > 0 && row->duration > row->window };
	return 0;
}

static int similar_row_cmp(const void *a, const void *b)
{
	const similar_row *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* v [F, D] → dst [D]: the normalised mean of the first n normalised rows. */
static void similar_vector(const float *v, int F, int D, int n, float *dst)
{
	double norm = 0;

	if (n <= 0 || n > F)
		n = F;
	memset(dst, 0, (size_t)D * sizeof *dst);
	for (int i = 0; i < n; i++) {
		const float *r = v + (size_t)i * D;
		double s = 0;
		for (int d = 0; d < D; d++)
			s += (double)r[d] * r[d];
		s = s > 0 ? 1 / sqrt(s) : 0;
		for (int d = 0; d < D; d++)
			dst[d] += (float)(r[d] * s);
	}
	for (int d = 0; d < D; d++)
		norm += (double)dst[d] * dst[d];
	norm = norm > 0 ? 1 / sqrt(norm) : 0;
	for (int d = 0; d < D; d++)
		dst[d] = (float)(dst[d] * norm);
}

typedef struct {
	float score;
	int64_t at; /* in the tensor set */
} similar_hit;

static int similar_hit_cmp(const void *a, const void *b)
{
	const similar_hit *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * The model whose stored frames to use: the --model files' (in order), else
 * the index's models by most videos; the first holding FILE's frames.
 * > 0, 0 when none does, -1 after a message.
 */
static int64_t similar_model(index_db *ix, char **models, int n_models, int64_t video_id)
{
	index_stats st = { 0 };
	heads_set *hs = NULL;
	int64_t *ids = NULL, found = 0;
	int n = 0;
	char *cause = NULL;

	if (n_models > 0) {
		/* One entry per file, or per head of a multi-head file. */
		if ((hs = heads_open((const char *const *)models, n_models, HEADS_FILES_ONLY,
		    &cause)) == NULL || (ids = calloc((size_t)heads_count(hs), sizeof *ids)) == NULL) {
			cli_error_cause(&cause, "cannot open the model");
			found = -1;
			goto out;
		}
		for (int i = 0; i < heads_count(hs); i++)
			if ((ids[n] = index_find_model(ix, heads_file_at(hs, i)->hash, NULL)) > 0)
				n++;
	} else {
		if (index_get_stats(ix, &st, &cause) == -1 ||
		    (ids = calloc((size_t)(st.n_models > 0 ? st.n_models : 1), sizeof *ids)) == NULL) {
			cli_error_cause(&cause, "cannot read the index");
			found = -1;
			goto out;
		}
		/* Most videos first: the vectors most of the library has. */
		for (int i = 0; i < st.n_models; i++) {
			int at = n++;
			while (at > 0 && st.models[ids[at - 1]].videos < st.models[i].videos) {
				ids[at] = ids[at - 1];
				at--;
			}
			ids[at] = i;
		}
		for (int i = 0; i < n; i++)
			ids[i] = st.models[ids[i]].id;
	}
	for (int i = 0; i < n && found == 0; i++) {
		float *v = NULL;
		int64_t count;
		if (index_get_tensor(ix, video_id, ids[i], HEADS_KIND_FRAMES, &v, &count, NULL) == 0)
			found = ids[i];
		free(v);
	}
out:
	free(cause);
	free(ids);
	index_stats_clear(&st);
	heads_free(hs);
	return found;
}

int cmd_similar(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'n' },
		{ "files", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *opt_db = NULL, *file;
	char **models = NULL, *db = NULL, *cause = NULL, files_end = '\n';
	int n_models = 0, top_k = 10, files = 0, c, rc = CLI_EXIT_ERROR, shown = 0;
	cli_config cfg;
	index_db *ix = NULL;
	index_video_row row = { 0 };
	index_tensor_set *set = NULL;
	similar_row *rows = NULL;
	similar_hit *hits = NULL;
	size_t n_rows = 0, cap_rows = 0;
	float *target = NULL, *vec = NULL, *mine = NULL, *whole = NULL;
	int64_t model_id, count, n_hits = 0;
	index_segment *segs = NULL;
	int n_segs = 0;

	memset(&cfg, 0, sizeof cfg);
	while ((c = cli_getopt(argc, argv, ":d:m:n:l0h", options)) != -1) {
		switch (c) {
		case 'd':
			opt_db = optarg;
			break;
		case 'm':
			if (cli_append_arg(&models, &n_models, optarg) == -1) {
				cli_error("out of memory");
				goto out;
			}
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 100000, &top_k) == -1) {
				cli_error("similar: -n: %s is not a number from 1 to 100000", cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'l':
		case '0':
			files = 1;
			files_end = c == '0' ? '\0' : '\n';
			break;
		case 'h':
			similar_usage(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			similar_usage(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (argc - optind != 1) {
		cli_error("similar: give one FILE");
		similar_usage(stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	file = argv[optind];
	if (cli_config_load(&cfg) == -1 || (db = cli_db_path(opt_db, &cfg)) == NULL ||
	    cli_db_exists(db) == -1)
		goto out;
	if ((ix = index_open(db, INDEX_READONLY, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot open the index");
		goto out;
	}
	if ((rc = preview_lookup(ix, "similar", file, db, &row)) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if ((model_id = similar_model(ix, models, n_models, row.id)) <= 0) {
		if (model_id == 0)
			cli_error("similar: %s has no stored frame vectors%s (run 'clipgrep index' on "
			    "its folder)", cli_name(file), n_models > 0 ? " for the models given" : "");
		goto out;
	}
	if (index_get_tensor(ix, row.id, model_id, HEADS_KIND_FRAMES, &mine, &count, &cause) != 0 ||
	    index_get_segments(ix, row.id, &segs, &n_segs, &cause) != 0) {
		cli_error_cause(&cause, "similar: cannot read the stored vectors");
		goto out;
	}
	{
		void *a[3] = { &rows, &n_rows, &cap_rows };
		if (index_list_videos(ix, NULL, similar_list_fn, a, &cause) == -1) {
			cli_error_cause(&cause, "cannot read the index");
			goto out;
		}
	}
	qsort(rows, n_rows, sizeof *rows, similar_row_cmp);
	{
		/* The tensor is [S * F, D]: S segments (one for a clip) of F frames, the
		 * model's, which the index does not store apart: every segment has at
		 * most F frames and most have F, so F is the smallest divisor of a
		 * segment's floats not below the most frames a clip or segment has. */
		int64_t unit = count / n_segs;
		int F = 1, D;
		for (size_t i = 0; i < n_rows; i++)
			if (rows[i].frames > F && !rows[i].long_video)
				F = rows[i].frames;
		for (int k = 0; k < n_segs; k++)
			if (segs[k].frames > F)
				F = segs[k].frames;
		while (F < unit && unit % F != 0)
			F++;
		D = (int)(unit / F);
		if ((set = index_load_segment_tensors(ix, model_id, HEADS_KIND_FRAMES, unit,
		    &cause)) == NULL) {
			cli_error_cause(&cause, "similar: cannot read the stored vectors");
			goto out;
		}
		if ((target = calloc((size_t)D, sizeof *target)) == NULL ||
		    (whole = malloc((size_t)D * sizeof *whole)) == NULL ||
		    (vec = malloc((size_t)D * sizeof *vec)) == NULL ||
		    (hits = malloc((size_t)(set->n > 0 ? set->n : 1) * sizeof *hits)) == NULL) {
			cli_error("out of memory");
			goto out;
		}
		/* FILE: the mean of its segments' vectors. */
		for (int k = 0; k < n_segs; k++) {
			similar_vector(mine + (size_t)k * (size_t)unit, F, D, segs[k].frames, vec);
			for (int d = 0; d < D; d++)
				target[d] += vec[d];
		}
		similar_vector(target, 1, D, 1, vec);
		memcpy(target, vec, (size_t)D * sizeof *target);
		/* Each other video by its segment most like FILE. */
		for (int64_t i = 0; i < set->n;) {
			similar_row key = { set->ids[i], 0, 0 }, *r;
			index_segment *g = NULL;
			int64_t k = i, best_at = i;
			double best = -2;
			int ng = 0;
			while (k < set->n && set->ids[k] == set->ids[i])
				k++;
			r = bsearch(&key, rows, n_rows, sizeof *rows, similar_row_cmp);
			if (k - i > 1 && index_get_segments(ix, set->ids[i], &g, &ng, NULL) != 0)
				ng = 0;
			memset(whole, 0, (size_t)D * sizeof *whole);
			for (int64_t q = i; q < k; q++) {
				double sc = 0;
				int n = k - i > 1 ? (q - i < ng ? g[q - i].frames : F) :
				    r != NULL ? r->frames : F;
				similar_vector(set->data + (size_t)q * (size_t)unit, F, D, n, vec);
				for (int d = 0; d < D; d++) {
					sc += (double)vec[d] * target[d];
					whole[d] += vec[d];
				}
				if (sc > best)
					best = sc, best_at = q;
			}
			/* The whole video as FILE is taken, so that a copy comes first. */
			if (k - i > 1) {
				double sc = 0;
				similar_vector(whole, 1, D, 1, vec);
				for (int d = 0; d < D; d++)
					sc += (double)vec[d] * target[d];
				if (sc > best)
					best = sc, best_at = i;
			}
			free(g);
			hits[n_hits++] = (similar_hit){ (float)best, best_at };
			i = k;
		}
	}
	qsort(hits, (size_t)n_hits, sizeof *hits, similar_hit_cmp);
	for (int64_t i = 0; i < n_hits && shown < top_k; i++) {
		const char *p = set->paths[hits[i].at];
		if (set->ids[hits[i].at] == row.id)
			continue;
		shown++;
		if (files) {
			fputs(p, stdout);
			putchar(files_end);
			continue;
		}
		printf("%3d  %7.4f  ", shown, hits[i].score);
		cli_text_escaped(stdout, p);
		putchar('\n');
	}
	rc = shown > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (shown == 0)
		cli_error("similar: no other video in %s has vectors of the same model", cli_name(db));
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("similar: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	free(target);
	free(vec);
	free(whole);
	free(mine);
	free(segs);
	free(hits);
	free(rows);
	index_tensor_set_free(set);
	index_row_clear(&row);
	index_close(ix);
	free(db);
	free(models);
	cli_config_free(&cfg);
	return rc;
}
