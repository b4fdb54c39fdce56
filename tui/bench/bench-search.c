/*
 * bench-search — `clipgrep bench search`: per-query latency of scoring a
 * whole library, on synthetic cached tensors at ViT-B/32 shapes (D = 512,
 * F = 12, L = 32, k = 3).  Reports p50/p95 of search_run (full scoring,
 * top K, the hits' breakdowns) for:
 *   tcmgc        a trained-shaped TC-MGC file (random weights; 99 probes)
 *   tcmgc-free   the training-free form on a CLIP-only file (33 probes)
 *   ea           EA loose (one dot product per video; every loose variant
 *                costs the same at query time)
 *   fused        training-free TC-MGC + EA, z-normalised
 *   tcmgc-pre    tcmgc with the coarse pre-filter (M = 1000)
 * the CPU time per query summed over the threads (a steadier figure than
 * wall time on a machine shared with other work: on an idle machine the
 * wall time is about CPU time / threads), and the memory the library keeps
 * per video.  The recall of the
 * pre-filter (fraction of the exact top 10 it keeps) is measured on a
 * library of distinct, clustered synthetic videos.
 *
 * The library of N videos cycles through 512 distinct prepared videos
 * (preparing 100k videos would take minutes and changes no timing); the
 * recall library has distinct videos: the cycling also makes many exact
 * ties, which --verify checks are broken as the exhaustive scan breaks
 * them.  The model files are random and written to a temporary file that
 * is unlinked once mapped.
 *
 * --verify: after timing an exact model, every query is run again through
 * search_verify against the exhaustive fp32 scan; the mismatches (must be
 * 0) and the videos re-scored in fp32 after the bf16 pass are reported.
 *
 * A size whose library would not fit in 80% of the memory available
 * (MemAvailable) is skipped for that model with a note; at 1M videos that
 * is TC-MGC (28.6 GB in fp32) on a 24 GB machine, while EA (3.2 GB with
 * its bf16 copy) runs.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "ea.h"
#include "model.h"
#include "safetensors.h"
#include "scan.h"
#include "search.h"
#include "tcmgc.h"
#include "tensor.h"
#include "util.h"

enum { BS_D = 512, BS_F = 12, BS_L = 32, BS_CTX = 77, BS_BASE = 512, BS_TOPICS = 200 };

typedef struct {
	int sizes[8], nsizes;
	int queries;
	int threads;
	int recall_n;
	double max_seconds; /* per measurement */
	const char *models; /* comma-separated subset, or NULL for all */
	int json;
	int verify;
} bench_search_options;

static int bs_want(const bench_search_options *o, const char *name)
{
	const char *p = o->models;
	size_t n = strlen(name);

	if (p == NULL)
		return 1;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == o->models || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

static uint64_t bs_rng = 0x2545f4914f6cdd1dull;

static float bs_randn(void)
{
	float s = 0;

	for (int i = 0; i < 4; i++) {
		bs_rng ^= bs_rng << 13;
		bs_rng ^= bs_rng >> 7;
		bs_rng ^= bs_rng << 17;
		s += (float)(bs_rng >> 40) * (1.0f / 16777216.0f);
	}
	return (s - 2.0f) * 1.7320508f;
}

static int bs_add(st_writer *w, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
    int64_t d3, float mean, float std, int eye)
{
	int64_t shape[4] = { d0, d1, d2, d3 };
	size_t n = 1;
	char *cause = NULL;

	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	float *v = malloc((n ? n : 1) * sizeof *v);
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		v[i] = mean + std * bs_randn();
	if (eye)
		for (int64_t i = 0; i < d0; i++)
			v[i * d0 + i] += 1;
	int rc = st_writer_add_f32(w, name, ndim, shape, v, &cause);
	free(v);
	if (rc == -1)
		cli_error_cause(&cause, "writer failed");
	return rc;
}

/* A model file: CLIP-minimal (what model_load needs), plus the TC-MGC head
 * when tcmgc (one temporal layer: search cost does not depend on it). */
static char *bs_write_model(int tcmgc_head)
{
	char *path = strdup("/tmp/clipgrep-bench-search-XXXXXX");
	char *cause = NULL, n[160];
	st_writer *w = st_writer_new();
	int fd, rc = 0, d = BS_D, k = 3;

	if (path == NULL || w == NULL || (fd = mkstemp(path)) == -1) {
		free(path);
		st_writer_free(w);
		return NULL;
	}
	close(fd);
	st_writer_set_metadata(w, "clipgrep.architecture", tcmgc_head ? "tcmgc" : "clip", NULL);
	st_writer_set_metadata(w, "clipgrep.frames", "12", NULL);
	st_writer_set_metadata(w, "clipgrep.max_words", "32", NULL);
	st_writer_set_metadata(w, "clipgrep.vision.heads", "1", NULL);
	rc |= bs_add(w, "clip.visual.class_embedding", 1, 64, 0, 0, 0, 0, 1, 0);
	rc |= bs_add(w, "clip.visual.conv1.weight", 4, 64, 3, 32, 32, 0, 0.02f, 0);
	rc |= bs_add(w, "clip.visual.positional_embedding", 2, 50, 64, 0, 0, 0, 0.1f, 0);
	rc |= bs_add(w, "clip.visual.proj", 2, 64, d, 0, 0, 0, 0.1f, 0);
	rc |= bs_add(w, "clip.visual.transformer.resblocks.0.ln_1.weight", 1, 64, 0, 0, 0, 1, 0, 0);
	rc |= bs_add(w, "clip.ln_final.weight", 1, d, 0, 0, 0, 1, 0, 0);
	rc |= bs_add(w, "clip.positional_embedding", 2, BS_CTX, d, 0, 0, 0, 0.01f, 0);
	rc |= bs_add(w, "clip.token_embedding.weight", 2, 8, d, 0, 0, 0, 0.02f, 0);
	rc |= bs_add(w, "clip.transformer.resblocks.0.ln_1.weight", 1, d, 0, 0, 0, 1, 0, 0);
	rc |= bs_add(w, "clip.logit_scale", 0, 0, 0, 0, 0, 4.6052f, 0, 0);
	if (tcmgc_head) {
		const char *p = "conditional_transformer.pool_frames.";
		float s = 1.0f / sqrtf((float)d);
		rc |= bs_add(w, "frame_position_embeddings.weight", 2, BS_CTX, d, 0, 0, 0, 0.01f, 0);
#define NAME(fmt) (snprintf(n, sizeof n, fmt), n)
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.ln_1.weight"), 1, d, 0, 0, 0, 1, 0.1f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.ln_1.bias"), 1, d, 0, 0, 0, 0, 0.1f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.ln_2.weight"), 1, d, 0, 0, 0, 1, 0.1f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.ln_2.bias"), 1, d, 0, 0, 0, 0, 0.1f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.attn.in_proj_weight"), 2, 3 * d, d, 0, 0, 0, s, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.attn.in_proj_bias"), 1, 3 * d, 0, 0, 0, 0, 0.02f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.attn.out_proj.weight"), 2, d, d, 0, 0, 0, s, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.attn.out_proj.bias"), 1, d, 0, 0, 0, 0, 0.02f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.mlp.c_fc.weight"), 2, 4 * d, d, 0, 0, 0, s, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.mlp.c_fc.bias"), 1, 4 * d, 0, 0, 0, 0, 0.02f, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.mlp.c_proj.weight"), 2, d, 4 * d, 0, 0, 0, s / 2, 0);
		rc |= bs_add(w, NAME("transformerClip.resblocks.0.mlp.c_proj.bias"), 1, d, 0, 0, 0, 0, 0.02f, 0);
#undef NAME
		for (int i = 1; i <= 3; i++) {
			snprintf(n, sizeof n, "%slayer_norm%d.weight", p, i);
			rc |= bs_add(w, n, 1, d, 0, 0, 0, 1, 0.1f, 0);
			snprintf(n, sizeof n, "%slayer_norm%d.bias", p, i);
			rc |= bs_add(w, n, 1, d, 0, 0, 0, 0, 0.1f, 0);
		}
		snprintf(n, sizeof n, "%slinear_proj.weight", p);
		rc |= bs_add(w, n, 2, d, d, 0, 0, 0, 0.3f * s, 1);
		snprintf(n, sizeof n, "%slinear_proj.bias", p);
		rc |= bs_add(w, n, 1, d, 0, 0, 0, 0, 0.01f, 0);
		rc |= bs_add(w, "global_mat_weight", 2, d, d, 0, 0, 0, 0.1f * s, 1);
		rc |= bs_add(w, "local_mat_weight", 2, d, d, 0, 0, 0, 0.1f * s, 1);
		rc |= bs_add(w, "attentive_word_logit_weight", 2, k, k, 0, 0, 0, 0.1f, 1);
		rc |= bs_add(w, "concat_frame_word_logit_weight", 2, k + 1, k + 1, 0, 0, 0, 0.1f, 1);
		rc |= bs_add(w, "attentive_word_mat_weight", 2, k, k, 0, 0, 0, 0.1f, 1);
		rc |= bs_add(w, "attentive_word_mat_weight2", 2, k, k, 0, 0, 0, 0.1f, 1);
		rc |= bs_add(w, "attentive_frame_word_mat_weight", 2, k, k, 0, 0, 0, 0.1f, 1);
		rc |= bs_add(w, "attentive_frame_word_mat_weight2", 2, k, k, 0, 0, 0, 0.1f, 1);
		rc |= bs_add(w, "logit_weight", 2, 4, 4, 0, 0, 0, 0.1f, 1);
	}
	if (rc != 0 || st_writer_save(w, path, &cause) == -1) {
		cli_error_cause(&cause, "cannot write the benchmark model");
		unlink(path);
		free(path);
		path = NULL;
	}
	st_writer_free(w);
	return path;
}

static model *bs_model(int tcmgc_head)
{
	char *path = bs_write_model(tcmgc_head), *cause = NULL;
	model *m = NULL;

	if (path == NULL)
		return NULL;
	if ((m = model_load_flags(path, MODEL_LOAD_NO_TOWERS, &cause)) == NULL)
		cli_error_cause(&cause, "cannot load the benchmark model");
	unlink(path); /* the mapping keeps it */
	free(path);
	return m;
}

/* Clustered synthetic embeddings: topic centres, frames and words near one. */
static float *bs_topics;

/* A video near a topic's centre, or (topic < 0) unstructured noise. */
static void bs_video(float *v, float *mask, int topic)
{
	int real = BS_F - (int)((bs_rng >> 20) % 4); /* 9..12 real frames */

	for (int i = 0; i < BS_F; i++) {
		for (int j = 0; j < BS_D; j++)
			v[i * BS_D + j] = (topic >= 0 ? bs_topics[topic * BS_D + j] : 0.3f) + 0.8f * bs_randn();
		mask[i] = i < real;
	}
}

/* Word rows: SOT, 10 words and EOT near the topic, then padding; the
 * sentence feature is the EOT row, as the text tower gives it. */
static void bs_query(float *s, float *words, int topic)
{
	for (int w = 0; w < BS_L; w++)
		for (int j = 0; j < BS_D; j++)
			words[w * BS_D + j] = (w < 12 ? bs_topics[topic * BS_D + j] : 0.3f) +
			    (w == 11 ? 0.5f : 1.0f) * bs_randn();
	memcpy(s, words + 11 * BS_D, sizeof(float) * BS_D);
}

typedef struct {
	const char *name;
	int n;
	double p50, p95;
	size_t bytes;
	int queries;
	double cpu50; /* CPU time per query, all threads (robust on a busy machine) */
	double rss_mb; /* the process's resident memory with this library loaded */
	int verified, mismatches; /* --verify: queries checked, and how many differed */
	double rescored;          /* mean videos re-scored in fp32 per query */
	int skipped;              /* the library would not fit in memory */
} bs_row;

/* Resident memory (VmRSS) in MB, or -1. */
static double bs_rss_mb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atof(line + 6);
	fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

/* Whether bytes fit in 80% of MemAvailable (true when unknown). */
static int bs_fits(double bytes)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	double kb = -1;

	if (f == NULL)
		return 1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "MemAvailable:", 13) == 0)
			kb = atof(line + 13);
	fclose(f);
	return kb < 0 || bytes <= 0.8 * kb * 1024;
}

static double bs_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bs_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Time search_run over queries until q queries or max_seconds. */
static void bs_time(bs_row *row, const search_lib *lib, tcmgc *tc, search_opts *o,
    const bench_search_options *opt)
{
	double *t = calloc((size_t)opt->queries * 2, sizeof *t), start = util_now();
	double *cpu = t != NULL ? t + opt->queries : NULL;
	float *s = malloc(sizeof(float) * BS_D), *w = malloc(sizeof(float) * BS_L * BS_D);
	int done = 0;
	uint64_t seed = bs_rng;

	for (; done < opt->queries && t != NULL && s != NULL && w != NULL; done++) {
		search_result r;
		tcmgc_query *q;

		bs_query(s, w, (int)((bs_rng >> 33) % BS_TOPICS));
		q = tc != NULL ? tcmgc_query_new(tc, s, w, NULL) : NULL;
		double t0 = util_now(), c0 = bs_cpu();
		if (search_run(lib, q, s, o, &r, NULL) == 0)
			search_result_free(&r);
		t[done] = util_now() - t0;
		cpu[done] = bs_cpu() - c0;
		tcmgc_query_free(q);
		if (done >= 2 && util_now() - start > opt->max_seconds) {
			done++;
			break;
		}
	}
	if (done > 0 && t != NULL) {
		qsort(t, (size_t)done, sizeof *t, bs_cmp_double);
		qsort(cpu, (size_t)done, sizeof *cpu, bs_cmp_double);
		row->cpu50 = cpu[done / 2] * 1e3;
		row->p50 = t[done / 2] * 1e3;
		row->p95 = t[(done * 19) / 20 < done ? (done * 19) / 20 : done - 1] * 1e3;
	}
	row->queries = done;
	row->rss_mb = bs_rss_mb();
	if (opt->verify && o->prefilter == 0) {
		/* The same query stream again, each checked against the exhaustive scan. */
		uint64_t saved = bs_rng;
		bs_rng = seed;
		for (int i = 0; i < done && s != NULL && w != NULL; i++) {
			tcmgc_query *q;
			int mm = 1;
			size_t rs = 0;
			char why[256] = "", *cause = NULL;
			bs_query(s, w, (int)((bs_rng >> 33) % BS_TOPICS));
			q = tc != NULL ? tcmgc_query_new(tc, s, w, NULL) : NULL;
			if (search_verify(lib, q, s, o, &mm, &rs, why, sizeof why, &cause) == -1) {
				snprintf(why, sizeof why, "%s", cause != NULL ? cause : "failed");
				free(cause);
				mm = 1;
			}
			if (mm)
				cli_error("bench search: %s N=%d query %d differs from the exhaustive fp32 "
				    "scan: %s", row->name, row->n, i + 1, why);
			row->mismatches += mm;
			row->rescored += (double)rs / done;
			row->verified++;
			tcmgc_query_free(q);
		}
		bs_rng = saved;
	}
	free(t);
	free(s);
	free(w);
}

/* A library of n videos cycling through prepared base caches. */
static search_lib *bs_library(const tcmgc *tc, const ea *e, const float *tcb, const float *eab,
    int n)
{
	search_lib *lib = search_lib_new(tc, e, NULL);
	size_t tf = tc ? tcmgc_video_cache_floats(tc) : 0, ef = e ? ea_video_cache_floats(e) : 0;

	if (lib == NULL || search_lib_reserve(lib, (size_t)n, NULL) == -1) {
		search_lib_free(lib);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		search_lib_add(lib, i, tc ? tcb + tf * (i % BS_BASE) : NULL,
		    e ? eab + ef * (i % BS_BASE) : NULL, NULL);
	return lib;
}

static float *bs_prepare_base(const tcmgc *tc, const ea *e)
{
	size_t per = tc ? tcmgc_video_cache_floats(tc) : ea_video_cache_floats(e);
	float *base = tensor_alloc(per * BS_BASE), *v = tensor_alloc(BS_F * BS_D), mask[BS_F];

	for (int i = 0; base != NULL && i < BS_BASE; i++) {
		bs_video(v, mask, i % BS_TOPICS);
		if (tc != NULL)
			tcmgc_prepare_video(tc, v, mask, base + per * i, NULL);
		else
			ea_prepare_video(e, v, mask, base + per * i, NULL);
	}
	tensor_free(v);
	return base;
}

/* Recall of the exact top 10 kept by the pre-filter at M candidates. */
static void bs_recall(const tcmgc *tc, int n, const int *ms, int nm, double *recall, int queries,
    int threads, int clustered)
{
	size_t per = tcmgc_video_cache_floats(tc);
	float *c = tensor_alloc(per), *v = tensor_alloc(BS_F * BS_D), mask[BS_F];
	float *s = tensor_alloc(BS_D), *w = tensor_alloc(BS_L * BS_D);
	search_lib *lib = search_lib_new(tc, NULL, NULL);

	for (int i = 0; i < nm; i++)
		recall[i] = 0;
	if (lib == NULL || c == NULL || v == NULL || s == NULL || w == NULL)
		goto out;
	search_lib_reserve(lib, (size_t)n, NULL);
	for (int i = 0; i < n; i++) {
		bs_video(v, mask, clustered ? (int)((bs_rng >> 30) % BS_TOPICS) : -1);
		tcmgc_prepare_video(tc, v, mask, c, NULL);
		search_lib_add(lib, i, c, NULL, NULL);
	}
	for (int qi = 0; qi < queries; qi++) {
		search_opts o;
		search_result exact, pre;
		bs_query(s, w, (int)((bs_rng >> 33) % BS_TOPICS));
		tcmgc_query *q = tcmgc_query_new(tc, s, w, NULL);
		search_opts_init(&o);
		o.threads = threads;
		if (q == NULL || search_run(lib, q, NULL, &o, &exact, NULL) == -1) {
			tcmgc_query_free(q);
			continue;
		}
		for (int i = 0; i < nm; i++) {
			o.prefilter = ms[i];
			if (search_run(lib, q, NULL, &o, &pre, NULL) == -1)
				continue;
			int kept = 0;
			for (int a = 0; a < exact.nhits; a++)
				for (int b = 0; b < pre.nhits; b++)
					kept += exact.hits[a].id == pre.hits[b].id;
			recall[i] += (double)kept / (exact.nhits ? exact.nhits : 1) / queries;
			search_result_free(&pre);
		}
		search_result_free(&exact);
		tcmgc_query_free(q);
	}
out:
	search_lib_free(lib);
	tensor_free(c);
	tensor_free(v);
	tensor_free(s);
	tensor_free(w);
}

static void bs_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench search [--sizes N[,N...]] [--queries Q] [--threads T]\n"
	    "                             [--recall-videos N] [--seconds S] [--models LIST]\n"
	    "                             [--verify] [--json]\n"
	    "Per-query latency of scoring a whole library (EA, TC-MGC, fused) on synthetic\n"
	    "cached tensors at ViT-B/32 shapes (D=512, F=12, L=32, k=3).\n\n"
	    "  -n, --sizes LIST       library sizes (default 1000,10000,100000)\n"
	    "  -q, --queries Q        queries per measurement (default 20)\n"
	    "  -t, --threads T        search threads (default: online CPUs)\n"
	    "  -r, --recall-videos N  distinct videos for the pre-filter recall (default 10000; 0 skips)\n"
	    "  -s, --seconds S        stop a measurement after S seconds (default 10, at least 3 queries)\n"
	    "  -m, --models LIST      a subset of tcmgc,tcmgc-pre1000,tcmgc-free,ea,fused\n"
	    "      --verify           check every query against the exhaustive fp32 scan (the\n"
	    "                         same top K, order and scores; reports mismatches, which\n"
	    "                         must be 0, and the videos re-scored after the bf16 pass)\n"
	    "      --json             print one JSON object\n"
	    "  -h, --help             show this help\n");
}

int bench_search(int argc, char **argv)
{
	static const struct option options[] = {
		{ "sizes", required_argument, NULL, 'n' },
		{ "queries", required_argument, NULL, 'q' },
		{ "threads", required_argument, NULL, 't' },
		{ "recall-videos", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "models", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bench_search_options o = { .sizes = { 1000, 10000, 100000 }, .nsizes = 3, .queries = 20,
		.threads = util_cpu_count(), .recall_n = 10000, .max_seconds = 10 };
	int c, rc = CLI_EXIT_ERROR;
	bs_row rows[64];
	int nrows = 0;
	model *mt = NULL, *mf = NULL;
	tcmgc *tct = NULL, *tcf = NULL;
	ea *eaf = NULL;
	float *base_t = NULL, *base_f = NULL, *base_e = NULL;
	static const int recall_m[] = { 100, 300, 1000 };
	double recall[3] = { -1, -1, -1 }, recall_u[3] = { -1, -1, -1 };

	optind = 1;
	while ((c = cli_getopt(argc, argv, ":n:q:t:r:s:m:h", options)) != -1) {
		switch (c) {
		case 'n':
			if ((o.nsizes = cli_parse_int_list(optarg, 1, 10000000, o.sizes, 8)) < 0) {
				cli_error("bench search: --sizes: '%s' is not a list of at most 8 sizes",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'q':
			if (cli_parse_int(optarg, 1, 100000, &o.queries) == -1)
				goto usage;
			break;
		case 't':
			if (cli_parse_int(optarg, 1, 256, &o.threads) == -1)
				goto usage;
			break;
		case 'r':
			if (cli_parse_int(optarg, 0, 10000000, &o.recall_n) == -1)
				goto usage;
			break;
		case 's':
			o.max_seconds = atof(optarg);
			break;
		case 'm':
			o.models = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'V':
			o.verify = 1;
			break;
		case 'h':
			bs_usage(stdout);
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;

	/* The search parallelises across videos; keep the BLAS single-threaded. */
	tensor_set_threads(1);
	if ((bs_topics = malloc(sizeof(float) * BS_TOPICS * BS_D)) == NULL)
		goto out;
	for (int i = 0; i < BS_TOPICS * BS_D; i++)
		bs_topics[i] = bs_randn();
	if ((mt = bs_model(1)) == NULL || (mf = bs_model(0)) == NULL)
		goto out;
	char *cause = NULL;
	if ((tct = tcmgc_load(mt, &cause)) == NULL || (tcf = tcmgc_load(mf, &cause)) == NULL ||
	    (eaf = ea_load(mf, &cause)) == NULL) {
		cli_error_cause(&cause, "bench search: cannot load the heads");
		goto out;
	}
	if (!o.json)
		printf("bench search: D=%d F=%d L=%d k=%d, %d threads, synthetic caches, scan kernel %s;\n"
		    "N counts segments (a clip is one; 1,000 files of 10 min are 20,000 at the default "
		    "30 s window)\n", BS_D, BS_F, BS_L, tcmgc_topk(tct), o.threads,
		    scan_kernel_name(SCAN_AUTO));
	base_t = bs_prepare_base(tct, NULL);
	base_f = bs_prepare_base(tcf, NULL);
	base_e = bs_prepare_base(NULL, eaf);
	if (base_t == NULL || base_f == NULL || base_e == NULL)
		goto out;

	for (int si = 0; si < o.nsizes; si++) {
		int n = o.sizes[si];
		search_opts so;
		search_lib *lib = NULL;
		size_t tc_bytes = sizeof(float) * tcmgc_video_cache_floats(tct) + sizeof(int64_t);
		size_t ea_bytes = sizeof(float) * ea_video_cache_floats(eaf) + sizeof(int64_t) +
		    sizeof(uint16_t) * BS_D; /* with the bf16 copy */
		int first = nrows;

		search_opts_init(&so);
		so.threads = o.threads;
		/* Trained-shaped TC-MGC, exact and with the pre-filter. */
		int want_t = bs_want(&o, "tcmgc"), want_p = n > 1000 && bs_want(&o, "tcmgc-pre1000");
		if ((want_t || want_p) && !bs_fits((double)n * tc_bytes)) {
			rows[nrows++] = (bs_row){ .name = "tcmgc", .n = n, .bytes = tc_bytes, .skipped = 1 };
			want_t = want_p = 0;
		}
		if ((want_t || want_p) && (lib = bs_library(tct, NULL, base_t, NULL, n)) == NULL) {
			cli_error("bench search: out of memory for %d videos", n);
			goto out;
		}
		if (want_t) {
			rows[nrows] = (bs_row){ .name = "tcmgc", .n = n,
				.bytes = search_lib_bytes_per_video(lib) };
			bs_time(&rows[nrows++], lib, tct, &so, &o);
		}
		if (want_p) {
			so.prefilter = 1000;
			rows[nrows] = (bs_row){ .name = "tcmgc-pre1000", .n = n,
				.bytes = search_lib_bytes_per_video(lib) };
			bs_time(&rows[nrows++], lib, tct, &so, &o);
			so.prefilter = 0;
		}
		search_lib_free(lib);
		lib = NULL;
		/* Training-free TC-MGC, EA and fused on one library (EA alone when
		 * only it fits). */
		int want_f = bs_want(&o, "tcmgc-free"), want_fu = bs_want(&o, "fused");
		int want_e = bs_want(&o, "ea");
		if ((want_f || want_fu) && !bs_fits((double)n * (tc_bytes + ea_bytes))) {
			if (want_f)
				rows[nrows++] = (bs_row){ .name = "tcmgc-free", .n = n, .bytes = tc_bytes,
					.skipped = 1 };
			if (want_fu)
				rows[nrows++] = (bs_row){ .name = "fused", .n = n,
					.bytes = tc_bytes + ea_bytes, .skipped = 1 };
			want_f = want_fu = 0;
		}
		if (want_e && !bs_fits((double)n * ea_bytes)) {
			rows[nrows++] = (bs_row){ .name = "ea", .n = n, .bytes = ea_bytes, .skipped = 1 };
			want_e = 0;
		}
		if (want_f || want_fu || want_e) {
			int both = want_f || want_fu;
			if ((lib = bs_library(both ? tcf : NULL, eaf, both ? base_f : NULL, base_e, n)) == NULL) {
				cli_error("bench search: out of memory for %d videos", n);
				goto out;
			}
		}
		so.model = SEARCH_TCMGC;
		if (want_f) {
			rows[nrows] = (bs_row){ .name = "tcmgc-free", .n = n, .bytes = tc_bytes };
			bs_time(&rows[nrows++], lib, tcf, &so, &o);
		}
		so.model = SEARCH_EA;
		if (want_e) {
			rows[nrows] = (bs_row){ .name = "ea", .n = n, .bytes = ea_bytes };
			bs_time(&rows[nrows++], lib, NULL, &so, &o);
		}
		so.model = SEARCH_FUSED;
		if (want_fu) {
			rows[nrows] = (bs_row){ .name = "fused", .n = n, .bytes = tc_bytes + ea_bytes };
			bs_time(&rows[nrows++], lib, tcf, &so, &o);
		}
		search_lib_free(lib);
		if (!o.json)
			for (int i = first; i < nrows; i++) {
				if (rows[i].skipped) {
					printf("  %-14s N=%-7d skipped: its library needs %.1f GB, more than 80%% "
					    "of the memory available\n", rows[i].name, rows[i].n,
					    (double)rows[i].n * rows[i].bytes / 1e9);
					continue;
				}
				printf("  %-14s N=%-7d p50 %9.2f ms  p95 %9.2f ms  cpu %9.2f ms  %6zu bytes/video"
				    "  RSS %6.0f MB  (%d queries)\n", rows[i].name, rows[i].n, rows[i].p50,
				    rows[i].p95, rows[i].cpu50, rows[i].bytes, rows[i].rss_mb, rows[i].queries);
				if (rows[i].verified > 0)
					printf("  %-14s   verify: %d queries, %d mismatches with the exhaustive fp32 "
					    "scan, %.1f videos scored in full per query\n", "", rows[i].verified,
					    rows[i].mismatches, rows[i].rescored);
			}
	}
	if (o.recall_n > 0) {
		bs_recall(tcf, o.recall_n, recall_m, 3, recall, 20, o.threads, 1);
		bs_recall(tcf, o.recall_n, recall_m, 3, recall_u, 20, o.threads, 0);
		if (!o.json)
			printf("  pre-filter recall of the exact top 10 (training-free, %d distinct videos, "
			    "20 queries):\n    clustered:    M=100 %.3f, M=300 %.3f, M=1000 %.3f\n"
			    "    unstructured: M=100 %.3f, M=300 %.3f, M=1000 %.3f\n", o.recall_n,
			    recall[0], recall[1], recall[2], recall_u[0], recall_u[1], recall_u[2]);
	}
	if (o.json) {
		printf("{\"bench\":\"search\",\"dim\":%d,\"frames\":%d,\"words\":%d,\"k\":%d,"
		    "\"threads\":%d,\"scan_kernel\":\"%s\",\"results\":[", BS_D, BS_F, BS_L,
		    tcmgc_topk(tct), o.threads, scan_kernel_name(SCAN_AUTO));
		for (int i = 0; i < nrows; i++) {
			if (rows[i].skipped) {
				printf("%s{\"model\":\"%s\",\"n\":%d,\"skipped\":\"not enough memory\","
				    "\"bytes_per_video\":%zu}", i ? "," : "", rows[i].name, rows[i].n,
				    rows[i].bytes);
				continue;
			}
			printf("%s{\"model\":\"%s\",\"n\":%d,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
			    "\"cpu_p50_ms\":%.3f,\"bytes_per_video\":%zu,\"rss_mb\":%.1f,\"queries\":%d",
			    i ? "," : "", rows[i].name, rows[i].n, rows[i].p50, rows[i].p95, rows[i].cpu50,
			    rows[i].bytes, rows[i].rss_mb, rows[i].queries);
			if (rows[i].verified > 0)
				printf(",\"verify\":{\"queries\":%d,\"mismatches\":%d,"
				    "\"scored_in_full_per_query\":%.2f}", rows[i].verified, rows[i].mismatches,
				    rows[i].rescored);
			printf("}");
		}
		printf("],\"prefilter_recall\":{\"videos\":%d,\"clustered\":{\"m100\":%.4f,\"m300\":%.4f,"
		    "\"m1000\":%.4f},\"unstructured\":{\"m100\":%.4f,\"m300\":%.4f,\"m1000\":%.4f}}}\n",
		    o.recall_n, recall[0], recall[1], recall[2], recall_u[0], recall_u[1], recall_u[2]);
	}
	rc = CLI_EXIT_OK;
out:
	tensor_free(base_t);
	tensor_free(base_f);
	tensor_free(base_e);
	tcmgc_free(tct);
	tcmgc_free(tcf);
	ea_free(eaf);
	model_free(mt);
	model_free(mf);
	free(bs_topics);
	bs_topics = NULL;
	return rc;
usage:
	bs_usage(stderr);
	return CLI_EXIT_USAGE;
}
