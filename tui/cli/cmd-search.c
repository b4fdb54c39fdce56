/*
 * cmd-search — `clipgrep search QUERY` (ranked hits as text or JSON) and
 * `clipgrep explain QUERY FILE` (one video's full breakdown and its
 * word × frame attention table), both on core/engine.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-config.h"
#include "cli-picture.h"
#include "cli.h"
#include "cmd.h"
#include "engine.h"
#include "tensor.h"
#include "thumb.h"
#include "util.h"

/* A search --in DIR first looks this deep, then (when too few hits fall
 * inside DIR) through the whole library: exact either way. */
#define SEARCH_IN_DEPTH 500
/* The cells of one --preview picture. */
#define SEARCH_PREVIEW_COLS 32
#define SEARCH_PREVIEW_ROWS 8

typedef struct {
	const char *db_opt;
	char **models_opt;
	int n_models_opt;
	const char *mode;
	int top_k;
	int json;
	const char *in;   /* --in DIR, as given */
	int files;        /* -l: paths only; '\0' or '\n' ends each (files_end) */
	char files_end;
	int preview;      /* --preview given */
	int preview_want; /* its CLI_PICTURE_* value, -1 auto */
	const char *precision; /* --precision, as given; NULL: the config's */
	int all_segments; /* --all-segments: every matching segment, not each video's best */
	double at;        /* explain --at T: the segment holding T; NAN: the best */
	int no_cache;     /* --no-cache */
} search_cli;

static const char *const search_granularity[4] = {
	"video_sentence", "video_word", "sentence_frame", "frame_word"
};

static void search_usage(FILE *out, int explain)
{
	if (explain)
		fprintf(out,
		    "Usage: clipgrep explain [OPTIONS] QUERY FILE\n"
		    "Show how FILE scores for QUERY: its rank, each granularity's similarity z,\n"
		    "weight and contribution to the TC-MGC score, the EA score and frame weights,\n"
		    "and the word x frame attention.  A long video is explained by its best\n"
		    "segment for QUERY, or with --at by the segment holding a moment.\n\n");
	else
		fprintf(out,
		    "Usage: clipgrep search [OPTIONS] QUERY...\n"
		    "Rank the indexed videos for QUERY (the words are joined with spaces).  A long\n"
		    "video is ranked by its best segment, shown as its time range.\n\n");
	fprintf(out,
	    "      --db FILE          the index (default $CLIPGREP_DB, else\n"
	    "                         $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "  -m, --model FILE       a model file (repeatable; default: the config's, else the\n"
	    "                         bundled demo model)\n"
	    "      --mode MODE        tcmgc, ea, fused (default: fused when both heads exist)\n"
	    "                         or the name of another head of a multi-head model file\n"
	    "      --precision P      the text tower's precision: fp32 (default) or bf16\n"
	    "                         (AVX512_BF16; the config's precision = sets the default)\n"
	    "      --no-cache         load the videos from the index alone, neither reading nor\n"
	    "                         writing the search cache file beside it\n");
	if (!explain)
		fprintf(out,
		    "  -n, --count K          show the K best (default 10)\n"
		    "      --all-segments     rank every segment of a long video on its own (a\n"
		    "                         video may then appear several times)\n"
		    "      --in DIR           only videos under the folder DIR (ranks count within\n"
		    "                         it); without it the whole index, wherever you are\n"
		    "  -l, --files            print only the paths, best first, one per line\n"
		    "  -0                     print only the paths, each ended by a NUL (xargs -0)\n"
		    "      --preview[=MODE]   the best frame under each hit: auto (kitty, sixel\n"
		    "                         or half-blocks on a terminal, nothing into a pipe),\n"
		    "                         kitty, sixel, blocks or none\n");
	if (explain)
		fprintf(out,
		    "      --at T             explain the segment holding the moment T (seconds,\n"
		    "                         mm:ss or h:mm:ss) instead of the best one\n");
	fprintf(out,
	    "      --json             %s\n"
	    "  -h, --help             show this help\n",
	    explain ? "print one JSON object" : "print one JSON object per hit (JSON Lines)");
}

/* mm:ss.s (or h:mm:ss.s), "-" when unknown, into buf. */
static void search_time_text(double t, char buf[24])
{
	if (!isfinite(t) || t < 0 || t > 1e8) {
		snprintf(buf, 24, "    -  ");
		return;
	}
	int tenths = (int)(t * 10 + 0.5), s = tenths / 10, h = s / 3600;
	if (h > 0)
		snprintf(buf, 24, "%d:%02d:%02d.%d", h, s / 60 % 60, s % 60, tenths % 10);
	else
		snprintf(buf, 24, "%02d:%02d.%d", s / 60, s % 60, tenths % 10);
}

static void search_time(FILE *out, double t)
{
	char buf[24];

	search_time_text(t, buf);
	fputs(buf, out);
}

/* Columns the widest segment range of r takes, with its two spaces. */
static int search_range_width(const engine_result *r)
{
	int w = 0;

	for (int i = 0; i < r->nhits; i++) {
		char a[24], b[24];
		int n;
		if (r->hits[i].segments <= 1)
			continue;
		search_time_text(r->hits[i].seg_start, a);
		search_time_text(r->hits[i].seg_end, b);
		n = (int)(strlen(a) + strlen(b)) + 3;
		w = n > w ? n : w;
	}
	return w;
}

static void search_json_num(FILE *out, double v)
{
	if (isfinite(v))
		fprintf(out, "%.6g", v);
	else
		fputs("null", out);
}

/* Word positions: the tokens between SOT and EOT. */
static void search_json_words(FILE *out, const engine_result *r, const engine_hit *h)
{
	fputs("[", out);
	for (int t = 1; t + 1 < r->n_tokens; t++) {
		int best = h->word_best != NULL && t < r->words ? h->word_best[t] : -1;
		char label[256];
		fprintf(out, "%s{\"position\":%d,\"token\":", t > 1 ? "," : "", t);
		cli_json_string(out, r->tokens[t]);
		engine_token_label(r->tokens[t], label, sizeof label);
		fputs(",\"text\":", out);
		cli_json_string(out, label);
		fputs(",\"best_frame\":", out);
		if (best >= 0) {
			fprintf(out, "%d,\"best_time\":", best);
			search_json_num(out, h->frame_times[best]);
		} else
			fputs("null,\"best_time\":null", out);
		fputs("}", out);
	}
	fputs("]", out);
}

static void search_json_floats(FILE *out, const float *v, int n)
{
	fputs("[", out);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		search_json_num(out, v[i]);
	}
	fputs("]", out);
}

static void search_json_hit(FILE *out, const engine_info *info, const engine_result *r,
    const engine_hit *h, const char *query, int full)
{
	fprintf(out, "{\"rank\":%d,\"path\":", h->rank);
	cli_json_string(out, h->path);
	fputs(",\"score\":", out);
	search_json_num(out, h->score);
	fputs(",\"best_moment\":", out);
	search_json_num(out, h->best_time);
	fprintf(out, ",\"segment\":%d,\"segments\":%d,\"segment_start\":", h->segment,
	    h->segments);
	search_json_num(out, h->seg_start);
	fputs(",\"segment_end\":", out);
	search_json_num(out, h->seg_end);
	fprintf(out, ",\"best_frame\":%d,\"duration\":", h->best_frame);
	search_json_num(out, h->duration);
	fprintf(out, ",\"mode\":\"%s\",\"tcmgc_score\":", r->mode_name);
	search_json_num(out, h->tcmgc);
	fputs(",\"granularity\":{", out);
	for (int g = 0; g < 4; g++) {
		fprintf(out, "%s\"%s\":", g ? "," : "", search_granularity[g]);
		search_json_num(out, h->z[g]);
	}
	fputs("},\"lsa_weights\":{", out);
	for (int g = 0; g < 4; g++) {
		fprintf(out, "%s\"%s\":", g ? "," : "", search_granularity[g]);
		search_json_num(out, h->omega[g]);
	}
	/* The shared vocabulary's names (lsa_weights stays for older readers). */
	fputs("},\"weights\":{", out);
	for (int g = 0; g < 4; g++) {
		fprintf(out, "%s\"%s\":", g ? "," : "", search_granularity[g]);
		search_json_num(out, h->omega[g]);
	}
	fputs("},\"contributions\":{", out);
	for (int g = 0; g < 4; g++) {
		fprintf(out, "%s\"%s\":", g ? "," : "", search_granularity[g]);
		search_json_num(out, h->omega[g] * h->z[g]);
	}
	fputs("},\"ea_score\":", out);
	search_json_num(out, h->ea);
	fputs(",\"words\":", out);
	search_json_words(out, r, h);
	if (full) {
		fputs(",\"frame_times\":[", out);
		for (int i = 0; i < r->frames; i++) {
			if (i)
				fputc(',', out);
			search_json_num(out, h->frame_times[i]);
		}
		fputs("],\"tokens\":[", out);
		for (int t = 0; t < r->n_tokens; t++) {
			if (t)
				fputc(',', out);
			cli_json_string(out, r->tokens[t]);
		}
		fputs("],\"token_texts\":[", out);
		for (int t = 0; t < r->n_tokens; t++) {
			char label[256];
			engine_token_label(r->tokens[t], label, sizeof label);
			if (t)
				fputc(',', out);
			cli_json_string(out, label);
		}
		fputs("],\"attention\":", out);
		if (h->word_attn != NULL) {
			fputs("[", out);
			for (int t = 0; t < r->n_tokens && t < r->words; t++) {
				if (t)
					fputc(',', out);
				search_json_floats(out, h->word_attn + (size_t)t * r->frames, r->frames);
			}
			fputs("]", out);
		} else
			fputs("null", out);
		fputs(",\"sentence_attention\":", out);
		if (h->sent_attn != NULL)
			search_json_floats(out, h->sent_attn, r->frames);
		else
			fputs("null", out);
		fputs(",\"ea_excitation\":", out);
		if (h->ea_exc != NULL)
			search_json_floats(out, h->ea_exc, r->frames);
		else
			fputs("null", out);
		fputs(",\"ea_aggregation\":", out);
		if (h->ea_agg != NULL)
			search_json_floats(out, h->ea_agg, r->frames);
		else
			fputs("null", out);
		fprintf(out, ",\"library\":%zu", r->library);
	}
	fputs(",\"query\":", out);
	cli_json_string(out, query);
	fputs(",\"model\":{\"tcmgc\":", out);
	if (info->tcmgc_model != NULL)
		fprintf(out, "\"%s\"", info->tcmgc_hash);
	else
		fputs("null", out);
	fputs(",\"ea\":", out);
	if (info->ea_model != NULL)
		fprintf(out, "\"%s\"", info->ea_hash);
	else
		fputs("null", out);
	fprintf(out, "},\"clipgrep\":\"%s\"}\n", PACKAGE_VERSION);
}

/* Seconds, mm:ss(.s) or h:mm:ss(.s), into *out; 0 or -1. */
static int search_parse_time(const char *s, double *out)
{
	double t = 0;
	int parts = 0;

	for (;;) {
		char *end;
		double v;

		if (*s < '0' || *s > '9')
			return -1;
		v = strtod(s, &end);
		if (!(v >= 0) || !isfinite(v) || (parts > 0 && v >= 60 && *end != ':'))
			return -1;
		t = t * 60 + v;
		parts++;
		if (*end == '\0')
			break;
		if (*end != ':' || parts == 3 || v != floor(v))
			return -1;
		s = end + 1;
	}
	*out = t;
	return 0;
}

/* Parse the shared options; returns the index of the first operand, or -1 (rc set). */
static int search_parse(int argc, char **argv, search_cli *o, int explain, int *rc)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "in", required_argument, NULL, 'I' },
		{ "files", no_argument, NULL, 'l' },
		{ "preview", optional_argument, NULL, 'P' },
		{ "precision", required_argument, NULL, 'p' },
		{ "all-segments", no_argument, NULL, 'A' },
		{ "no-cache", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	/* explain shares the table but not the search-only options. */
	static const struct option explain_options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "precision", required_argument, NULL, 'p' },
		{ "at", required_argument, NULL, 'a' },
		{ "no-cache", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->preview_want = -1;
	o->at = NAN;
	while ((c = cli_getopt(argc, argv, explain ? ":d:m:h" : ":d:m:n:l0h",
	    explain ? explain_options : options)) != -1) {
		switch (c) {
		case 'd':
			o->db_opt = optarg;
			break;
		case 'm':
			if (cli_append_arg(&o->models_opt, &o->n_models_opt, optarg) == -1) {
				cli_error("out of memory");
				*rc = CLI_EXIT_ERROR;
				return -1;
			}
			break;
		case 'M':
			o->mode = optarg;
			break;
		case 'p':
			o->precision = optarg;
			break;
		case 'n':
			if (explain || cli_parse_int(optarg, 1, 100000, &o->top_k) == -1) {
				cli_error("search: -n: %s is not a number from 1 to 100000", cli_name(optarg));
				*rc = CLI_EXIT_USAGE;
				return -1;
			}
			break;
		case 'j':
			o->json = 1;
			break;
		case 'A':
			o->all_segments = 1;
			break;
		case 'C':
			o->no_cache = 1;
			break;
		case 'a':
			if (search_parse_time(optarg, &o->at) == -1) {
				cli_error("explain: --at: %s is not a time (seconds, mm:ss or h:mm:ss)",
				    cli_name(optarg));
				*rc = CLI_EXIT_USAGE;
				return -1;
			}
			break;
		case 'I':
			o->in = optarg;
			break;
		case 'l':
		case '0':
			o->files = 1;
			o->files_end = c == '0' ? '\0' : '\n';
			break;
		case 'P':
			o->preview = 1;
			if (optarg != NULL && cli_picture_parse(optarg, &o->preview_want) == -1) {
				cli_error("search: --preview: %s is not auto, kitty, sixel, blocks or none",
				    cli_name(optarg));
				*rc = CLI_EXIT_USAGE;
				return -1;
			}
			break;
		case 'h':
			search_usage(stdout, explain);
			*rc = CLI_EXIT_OK;
			return -1;
		default:
			search_usage(stderr, explain);
			*rc = CLI_EXIT_USAGE;
			return -1;
		}
	}
	if (o->files && (o->json || o->preview)) {
		cli_error("search: -l/-0 print only paths; they do not go with %s",
		    o->json ? "--json" : "--preview");
		*rc = CLI_EXIT_USAGE;
		return -1;
	}
	return optind;
}

/*
 * Open the engine for the options; NULL after printing why (rc set).
 * *demo: whether the models are the bundled demo model on an index other
 * than the demo's own (the caller notes it once it knows what was ranked).
 */
static engine *search_open(search_cli *o, cli_config *cfg, search_model *mode, int *demo,
    int *rc)
{
	engine_options eo;
	engine *e = NULL;
	char **models = NULL, *db = NULL, *cause = NULL;
	const char *mode_name = o->mode != NULL ? o->mode : cfg->mode;
	int n_models;

	*rc = CLI_EXIT_ERROR;
	if ((db = cli_db_path(o->db_opt, cfg)) == NULL)
		return NULL;
	if (cli_db_exists(db) == -1) {
		free(db);
		return NULL;
	}
	if ((n_models = cli_model_paths(o->models_opt, o->n_models_opt, cfg, db, &models)) < 0) {
		free(db);
		return NULL;
	}
	*demo = cli_models_are_demo(models, n_models) && !cli_is_demo_db(db);
	engine_options_init(&eo);
	eo.db_path = db;
	eo.model_paths = (const char *const *)models;
	eo.n_models = n_models;
	eo.threads = cfg->threads;
	eo.no_cache = o->no_cache || cfg->no_search_cache;
	if (cli_precision(o->precision, cfg, &eo.precision) == -1) {
		*rc = CLI_EXIT_USAGE;
		cli_free_strings(models, n_models);
		free(db);
		return NULL;
	}
	cli_precision_notice(eo.precision, "the text tower");
	/* Scoring threads do the parallel work: keep the BLAS from competing. */
	if ((e = engine_open(&eo, &cause)) == NULL)
		cli_error_cause(&cause, "cannot open the index");
	if (e != NULL && cli_verbose) {
		engine_info info;
		engine_get_info(e, &info);
		cli_error("search cache: %s%s%s%s", engine_cache_state_name(info.cache),
		    info.cache_why != NULL ? " (" : "", info.cache_why != NULL ? info.cache_why : "",
		    info.cache_why != NULL ? ")" : "");
	}
	if (e == NULL)
		;
	else if (mode_name != NULL && engine_mode_find(e, mode_name, mode) == -1) {
		engine_info info;
		engine_get_info(e, &info);
		cli_error("--mode: %s is not tcmgc, ea, fused%s%s", cli_name(mode_name),
		    info.extra_modes > 0 ? " or a head of the model file: " : "",
		    info.extra_modes > 0 ? cli_mode_list(&info) : "");
		*rc = CLI_EXIT_USAGE;
		engine_close(e);
		e = NULL;
	} else if (mode_name == NULL)
		*mode = engine_default_mode(e);
	if (e != NULL && !engine_has_mode(e, *mode)) {
		engine_info info;
		engine_get_info(e, &info);
		cli_error("mode '%s' needs %s; the models given provide %s%s%s",
		    engine_mode_name(*mode),
		    *mode == SEARCH_TCMGC ? "a TC-MGC model" : *mode == SEARCH_EA ? "an EA model" :
		    "a TC-MGC model and a loose EA model",
		    info.tcmgc_model != NULL ? "TC-MGC" : "",
		    info.tcmgc_model != NULL && info.ea_model != NULL ? " and " : "",
		    info.ea_model != NULL ? "EA" : "");
		*rc = CLI_EXIT_USAGE;
		engine_close(e);
		e = NULL;
	}
	cli_free_strings(models, n_models);
	free(db);
	return e;
}

/*
 * One warning per video left out because its stored record is damaged
 * (skip: a path not to warn about, the one explain reports itself).
 */
static void search_warn_damaged(const engine *e, const char *skip)
{
	engine_info info;

	engine_get_info(e, &info);
	for (size_t i = 0; i < info.damaged; i++)
		if (skip == NULL || strcmp(info.damaged_paths[i], skip) != 0)
			cli_warn_damaged(info.damaged_paths[i]);
}

/*
 * --in DIR as the real path of a folder, newly allocated; NULL after a
 * message naming DIR (rc set).
 */
static char *search_in_dir(const char *dir, int *rc)
{
	struct stat st;
	char *real = realpath(dir, NULL);

	*rc = CLI_EXIT_ERROR;
	if (real == NULL) {
		cli_error("search: --in: no such folder %s", cli_name(dir));
		return NULL;
	}
	if (stat(real, &st) == -1 || !S_ISDIR(st.st_mode)) {
		cli_error("search: --in: %s is not a folder", cli_name(dir));
		free(real);
		return NULL;
	}
	return real;
}

/*
 * Search, scoped to the folder in (NULL: the whole index): the top_k best
 * under it, ranks counted within it.  A shallow search first; the whole
 * library only when too few of its hits fall inside, so the answer is the
 * exact top_k under the folder.
 */
static int search_scoped(engine *e, const char *query, search_model mode, int top_k,
    int all_segments, const char *in, engine_result **out, char **cause)
{
	int depth = top_k > SEARCH_IN_DEPTH ? top_k : SEARCH_IN_DEPTH;

	if (in == NULL)
		return engine_search_segments(e, query, mode, top_k, all_segments, out, cause);
	for (;;) {
		engine_result *r = NULL;
		int more;

		if (engine_search_segments(e, query, mode, depth, all_segments, &r, cause) == -1)
			return -1;
		more = r->nhits == depth && (size_t)depth < r->library;
		if (engine_result_keep_under(r, in, top_k) >= top_k || !more) {
			for (int i = 0; i < r->nhits; i++)
				r->hits[i].rank = i + 1;
			*out = r;
			return 0;
		}
		depth = r->library < (size_t)INT_MAX ? (int)r->library : INT_MAX;
		engine_result_free(r);
	}
}

/* The best frame of h as a picture under its line; a message when it cannot be. */
static void search_preview(engine *e, const cli_picture_caps *caps, const engine_hit *h)
{
	index_frames *f;
	char *cause = NULL;
	uint8_t *rgb = NULL;
	int w = 0, hh = 0, at = h->best_frame;

	f = engine_get_segment_frames(e, engine_segment_key(h->video_id, h->segment), 1, &cause);
	if (f == NULL) {
		cli_error_cause(&cause, "cannot read the stored frames");
		return;
	}
	if (at < 0 || at >= f->n)
		at = 0;
	if (f->n > 0 && f->frames[at].thumb != NULL)
		rgb = thumb_decode(f->frames[at].thumb, f->frames[at].thumb_size, &w, &hh, &cause);
	if (rgb == NULL)
		cli_error("warning: %s: no stored thumbnail to preview%s%s", cli_name(h->path),
		    cause != NULL ? ": " : "", cause != NULL ? cause : "");
	else if (cli_picture_write(stdout, caps, rgb, w, hh, SEARCH_PREVIEW_COLS,
	    SEARCH_PREVIEW_ROWS, &cause) == -1)
		cli_error_cause(&cause, "cannot draw the preview");
	free(cause);
	free(rgb);
	index_frames_free(f);
}

int cmd_search(int argc, char **argv)
{
	search_cli o = { 0 };
	cli_config cfg;
	cli_picture_caps caps = { 0 };
	engine *e = NULL;
	engine_result *r = NULL;
	engine_info info;
	search_model mode = SEARCH_TCMGC;
	char *query = NULL, *cause = NULL, *in = NULL;
	int first, rc = CLI_EXIT_ERROR, ranges = 0, demo = 0;

	if (cli_config_load(&cfg) == -1)
		goto out;
	if ((first = search_parse(argc, argv, &o, 0, &rc)) < 0)
		goto out;
	if (first >= argc) {
		cli_error("search: no query given");
		search_usage(stderr, 0);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if ((query = cli_join_args(argc, argv, first)) == NULL) {
		cli_error("out of memory");
		goto out;
	}
	if (engine_query_is_empty(query)) {
		cli_error("search: the query is empty");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (o.in != NULL && (in = search_in_dir(o.in, &rc)) == NULL)
		goto out;
	if ((e = search_open(&o, &cfg, &mode, &demo, &rc)) == NULL)
		goto out;
	search_warn_damaged(e, NULL);
	tensor_set_threads(1);
	rc = CLI_EXIT_ERROR;
	if (search_scoped(e, query, mode, o.top_k > 0 ? o.top_k : 10, o.all_segments, in, &r,
	    &cause) == -1) {
		cli_error_cause(&cause, "search failed");
		goto out;
	}
	engine_get_info(e, &info);
	if (r->truncated)
		cli_error("search: the query has more than %d word tokens; the rest were ignored",
		    (r->words > 0 ? r->words : 32) - 2);
	if (r->nhits == 0) {
		if (info.videos == 0) {
			char *held = cli_index_models_text(info.db_path);

			if (held != NULL && info.unindexed > 0)
				cli_error("no searchable video in %s for the models given; it holds "
				    "videos for %s (give --model FILE)", cli_name(info.db_path), held);
			else
				cli_error("no searchable video in %s (index a folder with "
				    "'clipgrep index DIR'%s)", cli_name(info.db_path),
				    info.unindexed > 0 ? ", with these models" : "");
			free(held);
		} else if (in != NULL)
			cli_error("search: no searchable video under %s in %s", cli_name(in),
			    cli_name(info.db_path));
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	/* Pictures only for a terminal unless forced: a pipe gets the plain list. */
	if (o.preview && (o.preview_want >= 0 || isatty(STDOUT_FILENO)))
		cli_picture_detect(o.preview_want, isatty(STDOUT_FILENO), CLI_PICTURE_BLOCKS, &caps);
	for (int i = 0; i < r->nhits; i++)
		ranges = ranges || r->hits[i].segments > 1;
	for (int i = 0; i < r->nhits; i++) {
		const engine_hit *h = &r->hits[i];
		if (o.json) {
			search_json_hit(stdout, &info, r, h, query, 0);
			continue;
		}
		if (o.files) {
			/* The raw bytes: these paths go to xargs and mpv, not to a reader. */
			fputs(h->path, stdout);
			putchar(o.files_end);
			continue;
		}
		printf("%3d  %9.4f  ", h->rank, h->score);
		search_time(stdout, h->best_time);
		fputs("  ", stdout);
		/* The segment's range, when some hit is a segment of a long video. */
		if (ranges && h->segments > 1) {
			char a[24], b[24];
			int w;
			search_time_text(h->seg_start, a);
			search_time_text(h->seg_end, b);
			w = printf("%s-%s  ", a, b);
			printf("%*s", search_range_width(r) - w, "");
		} else if (ranges) {
			printf("%*s", search_range_width(r), "");
		}
		cli_text_escaped(stdout, h->path);
		putchar('\n');
		if (caps.mode != CLI_PICTURE_NONE)
			search_preview(e, &caps, h);
	}
	/* The demo model ranking one's own footage: say what the ranking is worth. */
	for (int i = 0; demo && i < r->nhits; i++)
		if (!cli_is_demo_clip(r->hits[i].path)) {
			cli_demo_notice();
			break;
		}
	rc = CLI_EXIT_OK;
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("search: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	/* The results are out: now the search cache file, when it needs writing. */
	if (e != NULL)
		engine_flush_cache(e);
	engine_result_free(r);
	engine_close(e);
	free(query);
	free(in);
	free(o.models_opt);
	cli_config_free(&cfg);
	return rc;
}

/* One row of the attention table: label, then F values as percentages. */
static void explain_row(const char *label, const float *v, int F, int mark, double scale)
{
	int w = 0;
	const unsigned char *p = (const unsigned char *)label;

	/* The label, escaped, padded to 16 columns (display width ~ characters). */
	cli_text_escaped(stdout, label);
	for (; *p != '\0'; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	for (; w < 16; w++)
		putchar(' ');
	for (int i = 0; i < F; i++) {
		if (isfinite(v[i]))
			printf(" %6.1f%c", v[i] * scale, i == mark ? '*' : ' ');
		else
			printf(" %6s ", "-");
	}
	putchar('\n');
}

int cmd_explain(int argc, char **argv)
{
	search_cli o = { 0 };
	cli_config cfg;
	engine *e = NULL;
	engine_result *r = NULL;
	engine_info info;
	search_model mode = SEARCH_TCMGC;
	char *cause = NULL, *real = NULL;
	const char *file;
	int64_t id;
	int first, rc = CLI_EXIT_ERROR, k, demo = 0;

	if (cli_config_load(&cfg) == -1)
		goto out;
	if ((first = search_parse(argc, argv, &o, 1, &rc)) < 0)
		goto out;
	if (argc - first != 2) {
		cli_error("explain: give a QUERY and a FILE");
		search_usage(stderr, 1);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	file = argv[first + 1];
	if (engine_query_is_empty(argv[first])) {
		cli_error("explain: the query is empty");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if ((e = search_open(&o, &cfg, &mode, &demo, &rc)) == NULL)
		goto out;
	tensor_set_threads(1);
	rc = CLI_EXIT_ERROR;
	/* The index stores real paths; a file that is gone is looked up as given. */
	real = realpath(file, NULL);
	if (demo && !cli_is_demo_clip(real != NULL ? real : file))
		cli_demo_notice();
	k = engine_find_video(e, real != NULL ? real : file, &id, &cause);
	search_warn_damaged(e, real != NULL ? real : file);
	if (k == 2) {
		cli_error("explain: %s: its record in the index is damaged (stored vectors "
		    "unreadable); run 'clipgrep index' on its folder to re-encode it", cli_name(file));
		goto out;
	}
	if (k == 1) {
		cli_error("explain: %s is not a searchable video in the index (index it first)", cli_name(file));
		goto out;
	}
	k = engine_explain_at(e, argv[first], mode, id, o.at, &r, &cause);
	if (k != 0) {
		if (k == 1)
			cli_error("explain: %s is not a searchable video in the index", cli_name(file));
		else
			cli_error_cause(&cause, "explain failed");
		goto out;
	}
	engine_get_info(e, &info);
	const engine_hit *h = &r->hits[0];
	if (o.json) {
		search_json_hit(stdout, &info, r, h, argv[first], 1);
		rc = CLI_EXIT_OK;
		goto out;
	}
	fputs("file:        ", stdout);
	cli_text_escaped(stdout, h->path);
	printf("\nquery:       ");
	cli_text_escaped(stdout, argv[first]);
	printf("\nmode:        %s\n", r->mode_name);
	if (h->rank > 0 && info.segments > info.videos)
		printf("rank:        %d of %zu videos (%zu segments)\n", h->rank, info.videos,
		    info.segments);
	else if (h->rank > 0)
		printf("rank:        %d of %zu\n", h->rank, r->library);
	printf("score:       %.4f\n", h->score);
	if (h->segments > 1) {
		printf("segment:     %d of %d, ", h->segment + 1, h->segments);
		search_time(stdout, h->seg_start);
		fputs(" - ", stdout);
		search_time(stdout, h->seg_end);
		printf("%s\n", isnan(o.at) ? " (the best for this query)" : "");
	}
	printf("best moment: ");
	search_time(stdout, h->best_time);
	printf(" (frame %d)\n", h->best_frame);
	if (isfinite(h->tcmgc)) {
		printf("TC-MGC:      %.4f  (%s)\n", h->tcmgc, info.tcmgc_describe);
		/* ω in UTF-8 takes two bytes for one column: pad by hand. */
		printf("  %-16s %12s   weight \xcf\x89   contribution \xcf\x89\xc2\xb7z\n",
		    "granularity", "similarity z");
		for (int g = 0; g < 4; g++)
			printf("  %-16s %12.4f %10.4f %18.4f\n", engine_granularity_name(g), h->z[g],
			    h->omega[g], h->omega[g] * h->z[g]);
	}
	if (isfinite(h->ea))
		printf("EA:          %.4f  (%s)\n", h->ea, info.ea_describe);

	/* The table: frame times as columns. */
	printf("\n%-16s", "frame time (s)");
	for (int i = 0; i < r->frames; i++) {
		if (isfinite(h->frame_times[i]))
			printf(" %7.2f", h->frame_times[i]);
		else
			printf(" %7s", "-");
	}
	putchar('\n');
	if (h->word_attn != NULL) {
		printf("word x frame attention, %% (* = the word's best frame):\n");
		for (int t = 0; t < r->n_tokens && t < r->words; t++)
		{
			char label[256];
			engine_token_label(r->tokens[t], label, sizeof label);
			explain_row(label, h->word_attn + (size_t)t * r->frames, r->frames,
			    h->word_best != NULL ? h->word_best[t] : -1, 100);
		}
		if (h->sent_attn != NULL)
			explain_row("[sentence]", h->sent_attn, r->frames, h->best_frame, 100);
	}
	if (h->ea_exc != NULL || h->ea_agg != NULL)
		printf("EA frame weights x 100:\n");
	if (h->ea_exc != NULL)
		explain_row("[excitation]", h->ea_exc, r->frames, -1, 100);
	if (h->ea_agg != NULL)
		explain_row("[aggregation]", h->ea_agg, r->frames, -1, 100);
	rc = CLI_EXIT_OK;
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("explain: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	if (e != NULL)
		engine_flush_cache(e);
	free(real);
	free(cause);
	engine_result_free(r);
	engine_close(e);
	free(o.models_opt);
	cli_config_free(&cfg);
	return rc;
}
