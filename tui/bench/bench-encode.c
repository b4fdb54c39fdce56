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

typedef struct {
	const char *model_path; /* NULL: random ViT-B/32 */
	int f32;                /* random weights stored F32 instead of the upstream F16 set */
	int batches[BENCH_MAX_BATCHES], nbatches;
	double seconds; /* per measurement */
	int json;
	linear_kernel text_kernel;
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
	    "                             [--text-kernel K] [--json]\n"
	    "CLIP image-tower frames/s and text-tower latency (L = max_words) on random\n"
	    "ViT-B/32-shaped weights, or on FILE.\n\n"
	    "  -m, --model FILE     benchmark this model file instead\n"
	    "      --f32            store the random weights as F32 (default: F16 where the\n"
	    "                       upstream checkpoint has fp16, as converted files do)\n"
	    "  -b, --batch LIST     image batch sizes (default 1,12,24)\n"
	    "  -s, --seconds S      time per measurement (default 3)\n"
	    "      --text-kernel K  the text blocks' projections: auto (default), blas,\n"
	    "                       avx2, avx512\n"
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
} bench_image_result;

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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bench_options o = { .batches = { 1, 12, 24 }, .nbatches = 3, .seconds = 3 };
	bench_image_result results[BENCH_MAX_BATCHES];
	char *tmp_path = NULL, *cause = NULL, *end;
	model *m = NULL;
	vit *v = NULL;
	textenc *t = NULL;
	const model_config *cfg;
	float *frames = NULL, *emb = NULL, *words = NULL;
	int32_t *ids = NULL;
	double *lat = NULL, load_s, t0;
	size_t frame;
	int c, rc = CLI_EXIT_ERROR, maxb = 0, L, nlat = 0;

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
	if (tmp_path != NULL)
		unlink(tmp_path); /* the mapping keeps it alive */
	if (m == NULL)
		goto fail;
	t0 = util_now();
	cfg = model_get_config(m);
	L = cfg->max_words;
	if ((v = vit_new(m, maxb, &cause)) == NULL ||
	    (t = textenc_new_kernel(m, L, o.text_kernel, &cause)) == NULL)
		goto fail;
	load_s = util_now() - t0;

	frame = 3 * (size_t)cfg->image_size * cfg->image_size;
	frames = tensor_alloc((size_t)maxb * frame);
	emb = tensor_alloc((size_t)maxb * cfg->embed_dim);
	words = tensor_alloc((size_t)L * cfg->embed_dim);
	ids = calloc((size_t)L, sizeof *ids);
	lat = malloc(sizeof *lat * 100000);
	if (frames == NULL || emb == NULL || words == NULL || ids == NULL || lat == NULL) {
		cli_error("out of memory");
		goto out;
	}
	/* Any values in the normalised range do: the cost does not depend on them. */
	for (size_t i = 0; i < (size_t)maxb * frame; i++)
		frames[i] = (float)((i * 2654435761u) % 4001u) / 1000.0f - 2.0f;

	double image_flops = bench_image_flops(cfg);
	for (int i = 0; i < o.nbatches; i++) {
		int b = o.batches[i], calls = 0;
		double start, now, best = INFINITY;

		if (vit_encode(v, frames, b, emb, &cause) == -1) /* warm-up */
			goto fail;
		start = now = util_now();
		while (calls < 2 || now - start < o.seconds) {
			double c0 = now;
			vit_encode(v, frames, b, emb, NULL);
			now = util_now();
			if (now - c0 < best)
				best = now - c0;
			calls++;
		}
		results[i].batch = b;
		results[i].fps = b * calls / (now - start);
		results[i].best_fps = b / best;
		if (!o.json)
			printf("image tower  batch %-3d %7.2f frames/s (best call %.2f)  %6.1f GFLOP/s\n",
			    b, results[i].fps, results[i].best_fps, results[i].fps * image_flops / 1e9);
	}

	/* A query: SOT, ten words, EOT, zero padding (ids need only be in range). */
	int sot = cfg->vocab_size - 2, eot = cfg->vocab_size - 1;
	ids[0] = sot;
	for (int i = 1; i < L - 1 && i <= 10; i++)
		ids[i] = (int32_t)((uint32_t)(i * 2654435761u) % (uint32_t)(cfg->vocab_size - 2));
	ids[L - 1 < 11 ? L - 1 : 11] = eot;
	if (textenc_encode(t, ids, NULL, words, &cause) == -1) /* warm-up */
		goto fail;
	double text_start = util_now();
	while (nlat < 100000 && (nlat < 20 || util_now() - text_start < o.seconds)) {
		double c0 = util_now();
		textenc_encode(t, ids, NULL, words, NULL);
		lat[nlat++] = util_now() - c0;
	}
	qsort(lat, (size_t)nlat, sizeof *lat, bench_cmp_double);
	double text_ms = lat[nlat / 2] * 1e3, text_min_ms = lat[0] * 1e3;
	double text_flops = bench_text_flops(cfg, L), rss = bench_peak_rss_mb();

	if (o.json) {
		printf("{\"benchmark\":\"encode\",\"model\":");
		cli_json_string(stdout, o.model_path != NULL ? o.model_path :
		    o.f32 ? "random ViT-B/32, F32" : "random ViT-B/32, F16 as upstream");
		printf(",\"threads\":%d,\"cores\":%d,\"load_s\":%.3f,"
		    "\"image\":{\"gflop_per_frame\":%.4f,\"batches\":[",
		    tensor_threads(), util_cpu_count(), load_s, image_flops / 1e9);
		for (int i = 0; i < o.nbatches; i++)
			printf("%s{\"batch\":%d,\"frames_per_s\":%.3f,\"best_frames_per_s\":%.3f,"
			    "\"gflops\":%.2f}", i ? "," : "", results[i].batch, results[i].fps,
			    results[i].best_fps, results[i].fps * image_flops / 1e9);
		printf("]},\"text\":{\"kernel\":\"%s\",\"L\":%d,\"gflop\":%.4f,\"median_ms\":%.3f,\"min_ms\":%.3f,"
		    "\"gflops\":%.2f,\"queries\":%d},\"peak_rss_mb\":%.1f}\n",
		    linear_kernel_name(o.text_kernel), L, text_flops / 1e9,
		    text_ms, text_min_ms, text_flops / 1e9 / (text_ms / 1e3), nlat, rss);
	} else {
		printf("text tower   L = %-3d   %7.2f ms median (min %.2f) %6.1f GFLOP/s  [%s kernel]\n",
		    L, text_ms, text_min_ms, text_flops / 1e9 / (text_ms / 1e3),
		    linear_kernel_name(o.text_kernel));
		printf("peak RSS %.0f MB; %d threads on %d cores; %.3f GFLOP per frame, %.3f per query;"
		    " towers built in %.2f s\n", rss, tensor_threads(), util_cpu_count(),
		    image_flops / 1e9, text_flops / 1e9, load_s);
	}
	rc = CLI_EXIT_OK;
	goto out;
fail:
	cli_error_cause(&cause, "bench encode failed");
out:
	textenc_free(t);
	vit_free(v);
	model_free(m);
	tensor_free(frames);
	tensor_free(emb);
	tensor_free(words);
	free(ids);
	free(lat);
	free(tmp_path);
	return rc;
}
