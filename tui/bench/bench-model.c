/*
 * bench-model — a random-weight model file with ViT-B/32 shapes for the
 * benchmarks (moved here from bench-encode.c so that `bench index` builds the
 * same model; bench-encode.c can call it too).
 *
 * The model is written to a temporary safetensors file by a child process,
 * so building it does not count towards the benchmark's peak RSS.  It is
 * architecture "clip" (both heads in their training-free form), F = 12,
 * L = 32, and carries a tiny BPE merges list so the text tower runs.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-model.h"
#include "cli.h"
#include "safetensors.h"

/* ViT-B/32 (MODELS.md §4.1). */
enum {
	B32_VW = 768, B32_VL = 12, B32_PATCH = 32, B32_IMAGE = 224, B32_EMBED = 512,
	B32_TW = 512, B32_TL = 12, B32_CTX = 77, B32_VOCAB = 49408
};

/* --- the random model ------------------------------------------------- */

static uint64_t bench_model_rng = 0x9e3779b97f4a7c15ull;

/* Roughly N(0, 1): a centred sum of four uniforms (enough for timing). */
static float bench_model_randn(void)
{
	float s = 0;

	for (int i = 0; i < 4; i++) {
		bench_model_rng ^= bench_model_rng << 13;
		bench_model_rng ^= bench_model_rng >> 7;
		bench_model_rng ^= bench_model_rng << 17;
		s += (float)(bench_model_rng >> 40) * (1.0f / 16777216.0f);
	}
	return (s - 2.0f) * 1.7320508f;
}

/* fp32 -> IEEE half, round to nearest even (values here are small and finite). */
static uint16_t bench_model_half(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
	int exp = (int)((x >> 23) & 0xff) - 127 + 15;

	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		if (exp < -10)
			return (uint16_t)sign;
		mant |= 0x800000;
		int shift = 14 - exp;
		uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
		if (rest > mid || (rest == mid && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13), rest = mant & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
		half++;
	return (uint16_t)half;
}

/* Add a random tensor, std `std` (mean `mean`), F16 when f16. */
static int bench_model_add(st_writer *w, const char *name, int ndim, int64_t d0, int64_t d1,
    int64_t d2, int64_t d3, float mean, float std, int f16)
{
	int64_t shape[4] = { d0, d1, d2, d3 };
	size_t n = 1;
	char *cause = NULL;
	int rc;

	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	float *v = malloc(n * sizeof *v);
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		v[i] = mean + std * bench_model_randn();
	if (f16) {
		uint16_t *h = (uint16_t *)v; /* in place: h[i] is written after v[i] is read */
		for (size_t i = 0; i < n; i++)
			h[i] = bench_model_half(v[i]);
		rc = st_writer_add(w, name, ST_F16, ndim, shape, h, &cause);
	} else
		rc = st_writer_add_f32(w, name, ndim, shape, v, &cause);
	free(v);
	if (rc == -1)
		cli_error_cause(&cause, "writer failed");
	return rc;
}

static int bench_model_blocks(st_writer *w, const char *prefix, int d, int layers, int f16)
{
	char n[128];
	float s = 1.0f / sqrtf((float)d), sp = s / sqrtf(2.0f * (float)layers);
	int rc = 0;

	for (int l = 0; l < layers && rc == 0; l++) {
#define NAME(suffix) (snprintf(n, sizeof n, "%s%d.%s", prefix, l, suffix), n)
		rc |= bench_model_add(w, NAME("ln_1.weight"), 1, d, 0, 0, 0, 1, 0.1f, 0);
		rc |= bench_model_add(w, NAME("ln_1.bias"), 1, d, 0, 0, 0, 0, 0.1f, 0);
		rc |= bench_model_add(w, NAME("ln_2.weight"), 1, d, 0, 0, 0, 1, 0.1f, 0);
		rc |= bench_model_add(w, NAME("ln_2.bias"), 1, d, 0, 0, 0, 0, 0.1f, 0);
		rc |= bench_model_add(w, NAME("attn.in_proj_weight"), 2, 3 * d, d, 0, 0, 0, s, f16);
		rc |= bench_model_add(w, NAME("attn.in_proj_bias"), 1, 3 * d, 0, 0, 0, 0, 0.02f, f16);
		rc |= bench_model_add(w, NAME("attn.out_proj.weight"), 2, d, d, 0, 0, 0, sp, f16);
		rc |= bench_model_add(w, NAME("attn.out_proj.bias"), 1, d, 0, 0, 0, 0, 0.02f, f16);
		rc |= bench_model_add(w, NAME("mlp.c_fc.weight"), 2, 4 * d, d, 0, 0, 0, s / sqrtf(2), f16);
		rc |= bench_model_add(w, NAME("mlp.c_fc.bias"), 1, 4 * d, 0, 0, 0, 0, 0.02f, f16);
		rc |= bench_model_add(w, NAME("mlp.c_proj.weight"), 2, d, 4 * d, 0, 0, 0, sp, f16);
		rc |= bench_model_add(w, NAME("mlp.c_proj.bias"), 1, d, 0, 0, 0, 0, 0.02f, f16);
#undef NAME
	}
	return rc;
}

/* Write random ViT-B/32 weights to path; runs in the child. */
static int bench_model_write(const char *path, int f16)
{
	st_writer *w = st_writer_new();
	char *cause = NULL;
	int g = B32_IMAGE / B32_PATCH, rc = w == NULL ? -1 : 0;

	if (rc == 0)
		rc |= st_writer_set_metadata(w, "clipgrep.name", "random ViT-B/32 (clipgrep bench)", &cause);
	/* A few merges: enough for the text tower to run on real words. */
	if (rc == 0)
		rc |= st_writer_set_metadata(w, "clipgrep.tokenizer.merges",
		    "#version: 0.2\nt h\nth e</w>\nd o\ndo g</w>\na n\nan d</w>\ni n\n", &cause);
	if (rc == 0) {
		rc |= bench_model_add(w, "clip.visual.conv1.weight", 4, B32_VW, 3, B32_PATCH, B32_PATCH, 0,
		    1.0f / sqrtf(3.0f * B32_PATCH * B32_PATCH), f16);
		rc |= bench_model_add(w, "clip.visual.class_embedding", 1, B32_VW, 0, 0, 0, 0, 0.036f, 0);
		rc |= bench_model_add(w, "clip.visual.positional_embedding", 2, g * g + 1, B32_VW, 0, 0, 0, 0.036f, 0);
		rc |= bench_model_add(w, "clip.visual.ln_pre.weight", 1, B32_VW, 0, 0, 0, 1, 0.1f, 0);
		rc |= bench_model_add(w, "clip.visual.ln_pre.bias", 1, B32_VW, 0, 0, 0, 0, 0.1f, 0);
		rc |= bench_model_blocks(w, "clip.visual.transformer.resblocks.", B32_VW, B32_VL, f16);
		rc |= bench_model_add(w, "clip.visual.ln_post.weight", 1, B32_VW, 0, 0, 0, 1, 0.1f, 0);
		rc |= bench_model_add(w, "clip.visual.ln_post.bias", 1, B32_VW, 0, 0, 0, 0, 0.1f, 0);
		rc |= bench_model_add(w, "clip.visual.proj", 2, B32_VW, B32_EMBED, 0, 0, 0, 0.036f, f16);
		rc |= bench_model_add(w, "clip.token_embedding.weight", 2, B32_VOCAB, B32_TW, 0, 0, 0, 0.5f, 0);
		rc |= bench_model_add(w, "clip.positional_embedding", 2, B32_CTX, B32_TW, 0, 0, 0, 0.1f, 0);
		rc |= bench_model_blocks(w, "clip.transformer.resblocks.", B32_TW, B32_TL, f16);
		rc |= bench_model_add(w, "clip.ln_final.weight", 1, B32_TW, 0, 0, 0, 1, 0.1f, 0);
		rc |= bench_model_add(w, "clip.ln_final.bias", 1, B32_TW, 0, 0, 0, 0, 0.1f, 0);
		rc |= bench_model_add(w, "clip.text_projection", 2, B32_TW, B32_EMBED, 0, 0, 0, 0.044f, f16);
	}
	if (rc == 0 && st_writer_save(w, path, &cause) == -1) {
		cli_error_cause(&cause, "cannot write the random model");
		rc = -1;
	}
	free(cause);
	st_writer_free(w);
	return rc == 0 ? 0 : -1;
}

/*
 * The model files made and not yet removed, for the signal handler: a
 * benchmark stopped with Ctrl-C would otherwise leave one behind in $TMPDIR.
 */
#define BENCH_MODEL_SLOTS 4
static char *volatile bench_model_slots[BENCH_MODEL_SLOTS];
/* The child writing one, while it runs: stopped and reaped before the
 * unlink, or it could create the file again after it. */
static volatile pid_t bench_model_writer;

static void bench_model_on_signal(int sig)
{
	pid_t writer = bench_model_writer;

	if (writer > 0) {
		kill(writer, SIGKILL);
		waitpid(writer, NULL, 0);
	}
	for (int i = 0; i < BENCH_MODEL_SLOTS; i++)
		if (bench_model_slots[i] != NULL)
			unlink(bench_model_slots[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void bench_model_track(char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	static int installed;

	if (!installed) {
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
			struct sigaction sa, old;
			memset(&sa, 0, sizeof sa);
			sa.sa_handler = bench_model_on_signal;
			sigemptyset(&sa.sa_mask);
			/* Leave a signal the caller ignores (nohup) ignored. */
			if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
				sigaction(sigs[i], &sa, NULL);
		}
		installed = 1;
	}
	for (int i = 0; i < BENCH_MODEL_SLOTS; i++)
		if (bench_model_slots[i] == NULL) {
			bench_model_slots[i] = path;
			return;
		}
}

void bench_model_remove(char *path)
{
	if (path == NULL)
		return;
	for (int i = 0; i < BENCH_MODEL_SLOTS; i++)
		if (bench_model_slots[i] == path)
			bench_model_slots[i] = NULL;
	unlink(path);
	free(path);
}

/*
 * A random ViT-B/32 model file in $TMPDIR, made by a child process so that
 * its memory is not ours.  Returns the path (give it to bench_model_remove).
 */
char *bench_model_make(int f16)
{
	const char *tmp = getenv("TMPDIR");
	char *path;
	size_t n;
	int fd, status;
	pid_t pid, rc;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = strlen(tmp) + 64;
	if ((path = malloc(n)) == NULL)
		return NULL;
	snprintf(path, n, "%s/clipgrep-bench-XXXXXX", tmp);
	if ((fd = mkstemp(path)) == -1) {
		cli_error("%s: cannot create a temporary file", path);
		free(path);
		return NULL;
	}
	close(fd);
	bench_model_track(path);
	fflush(NULL);
	if ((pid = fork()) == -1) {
		cli_error("fork failed");
		bench_model_remove(path);
		return NULL;
	}
	if (pid == 0) {
		/* The parent's handler removes the file; the child just stops. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		_exit(bench_model_write(path, f16) == 0 ? 0 : 1);
	}
	bench_model_writer = pid;
	while ((rc = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	bench_model_writer = 0;
	if (rc == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cli_error("could not build the random model in %s", path);
		bench_model_remove(path);
		return NULL;
	}
	/*
	 * Hidden, for measuring other commands on the same model (doc/performance.md):
	 * CLIPGREP_BENCH_KEEP_MODEL=FILE links the file there too, so it survives the
	 * caller's unlink.
	 */
	const char *keep = getenv("CLIPGREP_BENCH_KEEP_MODEL");
	if (keep != NULL && *keep != '\0' && link(path, keep) == -1)
		cli_error("%s: cannot link the random model there", keep);
	return path;
}
