/*
 * bench-encode — `clipgrep bench encode`: CLIP tower throughput.  Image
 * tower frames/s at several batch sizes, text tower latency for one query,
 * achieved GFLOP/s and peak RSS, on ViT-B/32-shaped random weights (or on
 * a given model file).  tools/bench_torch.py measures the same with
 * PyTorch, so the two can be compared on one machine.
 *
 * The random model is written to a temporary safetensors file by a child
 * process, so building it does not count towards this process's peak RSS;
 * the file is unlinked as soon as it is mapped.
 *
 * Precisions: fp32 and bf16 (when the CPU has AVX512_BF16) are measured in
 * the same run, one after the other on the same model and frames, and the
 * bf16 tower's output is compared with fp32's (cosine of each frame's and
 * the query's features), so a speed-up is never reported without its cost.
 * The peak RSS is the run's: with both precisions it includes both towers'
 * weight copies; give one --precision to measure one.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench-model.h"
#include "cli.h"
#include "cmd.h"
#include "model.h"
#include "tensor.h"
#include "textenc.h"
#include "util.h"
#include "vit.h"

#define BENCH_MAX_BATCHES 8
/* Queries whose sentence features bf16 and fp32 are compared on. */
#define BENCH_QUERIES 32

typedef struct {
	const char *model_path; /* NULL: random ViT-B/32 */
	int f32;                /* random weights stored F32 instead of the upstream F16 set */
	int batches[BENCH_MAX_BATCHES], nbatches;
	double seconds; /* per measurement */
	int json;
	linear_kernel text_kernel;
	linear_precision precisions[2];
	int nprecisions;
} bench_options;

/* ViT-B/32 (MODELS.md §4.1). */
enum {
	B32_VW = 768, B32_VL = 12, B32_PATCH = 32, B32_IMAGE = 224, B32_EMBED = 512,
	B32_TW = 512, B32_TL = 12, B32_CTX = 77, B32_VOCAB = 49408
};

static void bench_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench encode [--model FILE] [--f32] [--batch N[,N...]] [--seconds S]\n"
	    "                             [--text-kernel K] [--precision P[,P]] [--json]\n"
	    "CLIP image-tower frames/s and text-tower latency (L = max_words) on random\n"
	    "ViT-B/32-shaped weights, or on FILE, in fp32 and bf16 in the same run.\n\n"
	    "  -m, --model FILE     benchmark this model file instead\n"
	    "      --f32            store the random weights as F32 (default: F16 where the\n"
	    "                       upstream checkpoint has fp16, as converted files do)\n"
	    "  -b, --batch LIST     image batch sizes (default 1,12,24)\n"
	    "  -s, --seconds S      time per measurement (default 3)\n"
	    "      --text-kernel K  the fp32 text blocks' projections: auto (default), blas,\n"
	    "                       avx2, avx512\n"
	    "      --precision LIST fp32, bf16 or both (default fp32,bf16; bf16 needs\n"
	    "                       AVX512_BF16 and is skipped with a notice without it)\n"
	    "      --json           print one JSON object\n"
	    "  -h, --help           show this help\n");
}

/* --- measurements ------------------------------------------------------- */

/* Nominal FLOPs of one frame through the image tower (every token, every layer). */
static double bench_image_flops(const model_config *c)
{
	double D = c->vision_width, g = c->image_size / c->vision_patch, T = g * g + 1;
	double P = c->vision_patch, H = 4 * D;
	double layer = 2 * T * (3 * D * D + D * D + 2 * D * H) + 2 * 2 * T * T * D;

	return 2 * g * g * 3 * P * P * D + c->vision_layers * layer + 2 * D * c->embed_dim;
}

/* FLOPs of one query of L tokens through the text tower. */
static double bench_text_flops(const model_config *c, int L)
{
	double D = c->text_width, H = 4 * D;
	double layer = 2 * L * (3 * D * D + D * D + 2 * D * H) + 2 * 2 * (double)L * L * D;

	return c->text_layers * layer + 2.0 * L * D * c->embed_dim;
}

static double bench_peak_rss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

typedef struct {
	int batch;
	double fps, best_fps;
	double cpu_ms; /* process CPU time per frame: steadier than fps on a busy machine */
} bench_image_result;

/* User + system CPU seconds of the process so far. */
static double bench_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One precision's figures. */
typedef struct {
	linear_precision precision;
	linear_kernel image_kernel, text_kernel; /* what ran: LINEAR_BLAS or bf16 */
	double load_s;
	double text_build_ms; /* textenc_new_kernel alone */
	bench_image_result image[BENCH_MAX_BATCHES];
	double text_ms, text_min_ms;
	int queries;
	/* bf16 against fp32 (the first run): cosines of the frames' and the
	 * query's features; -1 when not compared */
	double cos_image_min, cos_image_median, cos_text_min, cos_text_median;
} bench_run;

/* --precision: a comma-separated list of fp32 and bf16. */
static int bench_parse_precisions(const char *s, bench_options *o)
{
	char *copy = util_strdup(s), *save = NULL;
	int rc = 0;

	if (copy == NULL)
		return -1;
	o->nprecisions = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (o->nprecisions == 2 ||
		    linear_precision_parse(tok, &o->precisions[o->nprecisions]) == -1) {
			rc = -1;
			break;
		}
		o->nprecisions++;
	}
	free(copy);
	return rc == 0 && o->nprecisions > 0 ? 0 : -1;
}

static double bench_cosine(const float *a, const float *b, int n)
{
	double ab = 0, aa = 0, bb = 0;

	for (int i = 0; i < n; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* The frames and query every run encodes, and fp32's features of them. */
typedef struct {
	const model_config *cfg;
	const float *frames; /* [maxb, 3, S, S] */
	const int32_t *ids;  /* [L] the timed query */
	const int32_t *qids; /* [BENCH_QUERIES, L] the compared queries */
	int maxb, L;
	float *ref_emb;      /* [maxb, embed] the first run's, for the comparison */
	float *ref_sent;     /* [BENCH_QUERIES, embed] */
	int have_ref;
} bench_inputs;

/*
 * Build precision p's towers on m, time them as o asks, compare with the
 * first run's features (or record them) and free the towers.  -1 with
 * *cause.
 */
static int bench_measure(model *m, const bench_options *o, linear_precision p, bench_inputs *in,
    bench_run *run, char **cause)
{
	const model_config *cfg = in->cfg;
	linear_kernel k = linear_precision_kernel(p);
	double t0 = util_now(), image_flops = bench_image_flops(cfg), *lat = NULL;
	float *emb = tensor_alloc((size_t)in->maxb * cfg->embed_dim);
	/* [L, embed] for the timing, then [BENCH_QUERIES, embed] sentences */
	float *words = tensor_alloc((size_t)(in->L > BENCH_QUERIES ? in->L : BENCH_QUERIES) *
	    cfg->embed_dim);
	vit *v = NULL;
	textenc *t = NULL;
	int rc = -1, nlat = 0, L = in->L;

	memset(run, 0, sizeof *run);
	run->precision = p;
	run->cos_image_min = run->cos_image_median = -1;
	run->cos_text_min = run->cos_text_median = -1;
	if (emb == NULL || words == NULL || (lat = malloc(sizeof *lat * 100000)) == NULL) {
		util_set_cause(cause, "out of memory");
		goto out;
	}
	if ((v = vit_new_kernel(m, in->maxb, k, cause)) == NULL)
		goto out;
	double text_t0 = util_now();
	if ((t = textenc_new_kernel(m, L, linear_kernel_is_bf16(k) ? k : o->text_kernel,
	    cause)) == NULL)
		goto out;
	run->text_build_ms = (util_now() - text_t0) * 1e3;
	run->load_s = util_now() - t0;
	run->image_kernel = vit_kernel(v);
	run->text_kernel = linear_kernel_is_bf16(k) ? k : linear_kernel_resolve(o->text_kernel);

	for (int i = 0; i < o->nbatches; i++) {
		int b = o->batches[i], calls = 0;
		double start, now, best = INFINITY;

		if (vit_encode(v, in->frames, b, emb, cause) == -1) /* warm-up */
			goto out;
		double cpu0 = bench_cpu_s();
		start = now = util_now();
		while (calls < 2 || now - start < o->seconds) {
			double c0 = now;
			vit_encode(v, in->frames, b, emb, NULL);
			now = util_now();
			if (now - c0 < best)
				best = now - c0;
			calls++;
		}
		run->image[i].batch = b;
		run->image[i].fps = b * calls / (now - start);
		run->image[i].best_fps = b / best;
		run->image[i].cpu_ms = (bench_cpu_s() - cpu0) * 1e3 / ((double)b * calls);
		if (!o->json)
			printf("%s image tower  batch %-3d %7.2f frames/s (best call %.2f, %.0f ms CPU a "
			    "frame)  %6.1f GFLOP/s  [%s]\n", linear_precision_name(p), b, run->image[i].fps,
			    run->image[i].best_fps, run->image[i].cpu_ms, run->image[i].fps * image_flops / 1e9,
			    run->image_kernel == LINEAR_BLAS ? "OpenBLAS" : linear_kernel_name(run->image_kernel));
	}

	if (textenc_encode(t, in->ids, NULL, words, cause) == -1) /* warm-up */
		goto out;
	double text_start = util_now();
	while (nlat < 100000 && (nlat < 20 || util_now() - text_start < o->seconds)) {
		double c0 = util_now();
		textenc_encode(t, in->ids, NULL, words, NULL);
		lat[nlat++] = util_now() - c0;
	}
	qsort(lat, (size_t)nlat, sizeof *lat, bench_cmp_double);
	run->text_ms = lat[nlat / 2] * 1e3;
	run->text_min_ms = lat[0] * 1e3;
	run->queries = nlat;

	/* Features of the whole largest batch and of the queries, against the first run's. */
	if (vit_encode(v, in->frames, in->maxb, emb, cause) == -1)
		goto out;
	for (int q = 0; q < BENCH_QUERIES; q++)
		if (textenc_encode(t, in->qids + (size_t)q * L, words + (size_t)q * cfg->embed_dim, NULL,
		    cause) == -1)
			goto out;
	if (!in->have_ref) {
		memcpy(in->ref_emb, emb, sizeof(float) * (size_t)in->maxb * cfg->embed_dim);
		memcpy(in->ref_sent, words, sizeof(float) * BENCH_QUERIES * cfg->embed_dim);
		in->have_ref = 1;
	} else {
		double *c = (double *)lat; /* the latencies are read: reuse */
		for (int i = 0; i < in->maxb; i++)
			c[i] = bench_cosine(emb + (size_t)i * cfg->embed_dim,
			    in->ref_emb + (size_t)i * cfg->embed_dim, cfg->embed_dim);
		qsort(c, (size_t)in->maxb, sizeof *c, bench_cmp_double);
		run->cos_image_min = c[0];
		run->cos_image_median = c[in->maxb / 2];
		for (int q = 0; q < BENCH_QUERIES; q++)
			c[q] = bench_cosine(words + (size_t)q * cfg->embed_dim,
			    in->ref_sent + (size_t)q * cfg->embed_dim, cfg->embed_dim);
		qsort(c, BENCH_QUERIES, sizeof *c, bench_cmp_double);
		run->cos_text_min = c[0];
		run->cos_text_median = c[BENCH_QUERIES / 2];
	}
	if (!o->json) {
		double text_flops = bench_text_flops(cfg, L);
		printf("%s text tower   L = %-3d   %7.2f ms median (min %.2f) %6.1f GFLOP/s  [%s kernel]\n",
		    linear_precision_name(p), L, run->text_ms, run->text_min_ms,
		    text_flops / 1e9 / (run->text_ms / 1e3), linear_kernel_name(run->text_kernel));
		printf("%s text tower   built in %.1f ms\n", linear_precision_name(p), run->text_build_ms);
		if (run->cos_image_min >= 0)
			printf("%s against %s: cosine of %d frames' features min %.6f median %.6f;"
			    " of %d sentence features min %.6f median %.6f\n", linear_precision_name(p),
			    linear_precision_name(o->precisions[0]), in->maxb, run->cos_image_min,
			    run->cos_image_median, BENCH_QUERIES, run->cos_text_min, run->cos_text_median);
	}
	rc = 0;
out:
	textenc_free(t);
	vit_free(v);
	tensor_free(emb);
	tensor_free(words);
	free(lat);
	return rc;
}

static int bench_parse_batches(const char *s, bench_options *o)
{
	char *copy = util_strdup(s), *save = NULL;
	int rc = 0;

	if (copy == NULL)
		return -1;
	o->nbatches = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (o->nbatches == BENCH_MAX_BATCHES ||
		    cli_parse_int(tok, 1, 1024, &o->batches[o->nbatches]) == -1) {
			rc = -1;
			break;
		}
		o->nbatches++;
	}
	free(copy);
	return rc == 0 && o->nbatches > 0 ? 0 : -1;
}

int bench_encode(int argc, char **argv)
{
	static const struct option options[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "f32", no_argument, NULL, 'F' },
		{ "batch", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "text-kernel", required_argument, NULL, 'k' },
		{ "precision", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bench_options o = { .batches = { 1, 12, 24 }, .nbatches = 3, .seconds = 3,
		.precisions = { LINEAR_PREC_FP32, LINEAR_PREC_BF16 }, .nprecisions = 2 };
	bench_run runs[2];
	bench_inputs in;
	char *tmp_path = NULL, *cause = NULL, *end;
	const char *skipped = NULL;
	model *m = NULL;
	const model_config *cfg;
	float *frames = NULL;
	int32_t *ids = NULL, *qids = NULL;
	size_t frame;
	int c, rc = CLI_EXIT_ERROR, maxb = 0, L, nruns = 0;

	memset(&in, 0, sizeof in);
	while ((c = cli_getopt(argc, argv, ":m:b:s:h", options)) != -1) {
		switch (c) {
		case 'm':
			o.model_path = optarg;
			break;
		case 'F':
			o.f32 = 1;
			break;
		case 'b':
			if (bench_parse_batches(optarg, &o) == -1) {
				cli_error("bench encode: --batch wants up to %d sizes 1..1024, comma-separated",
				    BENCH_MAX_BATCHES);
				return CLI_EXIT_USAGE;
			}
			break;
		case 's':
			o.seconds = strtod(optarg, &end);
			if (*end != '\0' || !(o.seconds > 0 && o.seconds <= 3600)) {
				cli_error("bench encode: --seconds wants a number of seconds");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'j':
			o.json = 1;
			break;
		case 'k':
			if (strcmp(optarg, "auto") == 0)
				o.text_kernel = LINEAR_AUTO;
			else if (strcmp(optarg, "blas") == 0)
				o.text_kernel = LINEAR_BLAS;
			else if (strcmp(optarg, "avx2") == 0)
				o.text_kernel = LINEAR_AVX2;
			else if (strcmp(optarg, "avx512") == 0)
				o.text_kernel = LINEAR_AVX512;
			else {
				cli_error("bench encode: --text-kernel wants auto, blas, avx2 or avx512");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'P':
			if (bench_parse_precisions(optarg, &o) == -1) {
				cli_error("bench encode: --precision wants fp32, bf16 or fp32,bf16");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			bench_usage(stdout);
			return CLI_EXIT_OK;
		default:
			bench_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	for (int i = 0; i < o.nbatches; i++)
		if (o.batches[i] > maxb)
			maxb = o.batches[i];

	if (o.model_path == NULL) {
		if (!o.json)
			fprintf(stderr, "bench encode: building random ViT-B/32 weights (%s)...\n",
			    o.f32 ? "F32" : "F16 where upstream has fp16");
		if ((tmp_path = bench_model_make(!o.f32)) == NULL)
			goto out;
	}
	m = model_load(tmp_path != NULL ? tmp_path : o.model_path, &cause);
	/* The mapping keeps it alive. */
	bench_model_remove(tmp_path);
	tmp_path = NULL;
	if (m == NULL)
		goto fail;
	cfg = model_get_config(m);
	L = cfg->max_words;

	frame = 3 * (size_t)cfg->image_size * cfg->image_size;
	frames = tensor_alloc((size_t)maxb * frame);
	ids = calloc((size_t)L, sizeof *ids);
	in.ref_emb = tensor_alloc((size_t)maxb * cfg->embed_dim);
	in.ref_sent = tensor_alloc((size_t)BENCH_QUERIES * cfg->embed_dim);
	qids = calloc((size_t)BENCH_QUERIES * L, sizeof *qids);
	if (frames == NULL || ids == NULL || in.ref_emb == NULL || in.ref_sent == NULL ||
	    qids == NULL) {
		cli_error("out of memory");
		goto out;
	}
	/*
	 * Frames: a smooth pattern in the normalised range plus a little noise, so
	 * that the features differ from frame to frame as real ones do (the cost
	 * does not depend on the values; the bf16 comparison does).
	 */
	for (size_t i = 0; i < (size_t)maxb * frame; i++) {
		size_t f = i / frame, px = i % frame;
		frames[i] = 1.5f * sinf((float)px * 0.001f * (float)(f + 1)) +
		    (float)((i * 2654435761u) % 4001u) / 4000.0f - 0.5f;
	}

	/* A query: SOT, ten words, EOT, zero padding (ids need only be in range). */
	int sot = cfg->vocab_size - 2, eot = cfg->vocab_size - 1;
	ids[0] = sot;
	for (int i = 1; i < L - 1 && i <= 10; i++)
		ids[i] = (int32_t)((uint32_t)(i * 2654435761u) % (uint32_t)(cfg->vocab_size - 2));
	ids[L - 1 < 11 ? L - 1 : 11] = eot;
	/* Compared queries: SOT, 1 to L - 2 pseudo-random words, EOT. */
	for (int q = 0; q < BENCH_QUERIES; q++) {
		int32_t *qi = qids + (size_t)q * L;
		int n = 1 + (int)((uint32_t)(q * 2654435761u) % (uint32_t)(L - 2 > 1 ? L - 2 : 1));
		qi[0] = sot;
		for (int i = 1; i <= n && i < L - 1; i++)
			qi[i] = (int32_t)((uint32_t)((q * 97 + i) * 2654435761u) %
			    (uint32_t)(cfg->vocab_size - 2));
		qi[n + 1 < L ? n + 1 : L - 1] = eot;
	}
	in.cfg = cfg;
	in.frames = frames;
	in.ids = ids;
	in.qids = qids;
	in.maxb = maxb;
	in.L = L;

	for (int i = 0; i < o.nprecisions; i++) {
		linear_precision p = o.precisions[i];

		if (p == LINEAR_PREC_BF16 && !linear_kernel_is_bf16(linear_precision_kernel(p))) {
			skipped = "this CPU has no AVX512_BF16 (or CLIPGREP_LINEAR_KERNEL forces an fp32 "
			    "kernel): bf16 not measured";
			if (!o.json)
				fprintf(stderr, "bench encode: %s\n", skipped);
			continue;
		}
		if (bench_measure(m, &o, p, &in, &runs[nruns], &cause) == -1)
			goto fail;
		nruns++;
	}

	double image_flops = bench_image_flops(cfg), text_flops = bench_text_flops(cfg, L);
	double rss = bench_peak_rss_mb();
	const bench_run *r0 = nruns > 0 ? &runs[0] : NULL;
	if (o.json) {
		printf("{\"benchmark\":\"encode\",\"model\":");
		cli_json_string(stdout, o.model_path != NULL ? o.model_path :
		    o.f32 ? "random ViT-B/32, F32" : "random ViT-B/32, F16 as upstream");
		printf(",\"threads\":%d,\"cores\":%d,\"blas_core\":", tensor_threads(), util_cpu_count());
		cli_json_string(stdout, tensor_blas_core());
		printf(",\"openblas_coretype\":");
		if (getenv("OPENBLAS_CORETYPE") != NULL)
			cli_json_string(stdout, getenv("OPENBLAS_CORETYPE"));
		else
			printf("null");
		printf(",\"bf16_skipped\":");
		if (skipped != NULL)
			cli_json_string(stdout, skipped);
		else
			printf("null");
		printf(",\"image_gflop_per_frame\":%.4f,\"text_gflop\":%.4f,\"runs\":[",
		    image_flops / 1e9, text_flops / 1e9);
		for (int k = 0; k < nruns; k++) {
			const bench_run *r = &runs[k];
			printf("%s{\"precision\":\"%s\",\"image_kernel\":\"%s\",\"load_s\":%.3f,"
			    "\"image\":{\"batches\":[", k ? "," : "", linear_precision_name(r->precision),
			    linear_kernel_name(r->image_kernel), r->load_s);
			for (int i = 0; i < o.nbatches; i++)
				printf("%s{\"batch\":%d,\"frames_per_s\":%.3f,\"best_frames_per_s\":%.3f,"
				    "\"cpu_ms_per_frame\":%.2f,\"gflops\":%.2f}", i ? "," : "",
				    r->image[i].batch, r->image[i].fps, r->image[i].best_fps,
				    r->image[i].cpu_ms, r->image[i].fps * image_flops / 1e9);
			printf("]},\"text\":{\"kernel\":\"%s\",\"L\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,"
			    "\"gflops\":%.2f,\"queries\":%d,\"build_ms\":%.1f}", linear_kernel_name(r->text_kernel),
			    L, r->text_ms, r->text_min_ms, text_flops / 1e9 / (r->text_ms / 1e3), r->queries,
			    r->text_build_ms);
			if (r->cos_image_min >= 0)
				printf(",\"against\":\"%s\",\"cosine_image_min\":%.6f,"
				    "\"cosine_image_median\":%.6f,\"cosine_sentence_min\":%.6f,"
				    "\"cosine_sentence_median\":%.6f,\"frames_compared\":%d,"
				    "\"queries_compared\":%d", linear_precision_name(runs[0].precision),
				    r->cos_image_min, r->cos_image_median, r->cos_text_min,
				    r->cos_text_median, maxb, BENCH_QUERIES);
			if (k > 0)
				for (int i = 0; i < o.nbatches; i++)
					printf("%s%.3f%s", i ? "," : ",\"speedup\":[",
					    r->image[i].fps / runs[0].image[i].fps, i + 1 == o.nbatches ? "]" : "");
			printf("}");
		}
		printf("],\"peak_rss_mb\":%.1f}\n", rss);
	} else {
		for (int k = 1; k < nruns; k++)
			for (int i = 0; i < o.nbatches; i++)
				printf("%s / %s, batch %-3d %5.2fx frames/s\n",
				    linear_precision_name(runs[k].precision),
				    linear_precision_name(runs[0].precision), runs[k].image[i].batch,
				    runs[k].image[i].fps / runs[0].image[i].fps);
		printf("peak RSS %.0f MB; %d threads on %d cores; OpenBLAS kernel %s%s; %.3f GFLOP per"
		    " frame, %.3f per query; towers built in %.2f s\n", rss, tensor_threads(),
		    util_cpu_count(), tensor_blas_core(),
		    getenv("OPENBLAS_CORETYPE") != NULL ? " (OPENBLAS_CORETYPE)" : "",
		    image_flops / 1e9, text_flops / 1e9, r0 != NULL ? r0->load_s : 0);
	}
	rc = CLI_EXIT_OK;
	goto out;
fail:
	cli_error_cause(&cause, "bench encode failed");
out:
	model_free(m);
	tensor_free(frames);
	tensor_free(in.ref_emb);
	tensor_free(in.ref_sent);
	free(qids);
	free(ids);
	return rc;
}
