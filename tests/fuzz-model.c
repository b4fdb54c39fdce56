/*
 * fuzz-model — libFuzzer target for the model loader (core/model.c over
 * core/safetensors.c), fed the input as a model file: model_load needs a
 * path, so the bytes go to a memfd opened as /proc/self/fd/N.  Both tensor
 * naming schemes reach the loader (upstream/OpenAI names and the Hugging
 * Face names core/model.c maps), and the seeds carry the EA and TC-MGC
 * heads' tensors and settings.
 *
 * Asserted: a refusal carries a cause (from model_load, a head, a tower or
 * the tokenizer); an accepted model has a sane configuration.  After a
 * load, the cheap readers run: the EA or TC-MGC head (or both for a plain
 * CLIP file) and, when the configuration is small (capped below), both
 * towers built and one frame and one query encoded.
 */
#define _GNU_SOURCE
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ea.h"
#include "model.h"
#include "tcmgc.h"
#include "textenc.h"
#include "vit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Towers run only on models this small (a few thousand flops per input). */
#define FUZZ_MAX_WIDTH 64
#define FUZZ_MAX_LAYERS 2
#define FUZZ_MAX_IMAGE 32
#define FUZZ_MAX_CONTEXT 16
#define FUZZ_MAX_VOCAB 1024
#define FUZZ_MAX_EMBED 64

static int fuzz_fd = -1;
static char fuzz_path[64];

/* A refusal must explain itself; frees the cause. */
static void fuzz_refused(char **cause)
{
	if (*cause == NULL)
		abort();
	free(*cause);
	*cause = NULL;
}

static int fuzz_small(const model_config *c)
{
	return c->vision_width <= FUZZ_MAX_WIDTH && c->text_width <= FUZZ_MAX_WIDTH &&
	    c->vision_layers <= FUZZ_MAX_LAYERS && c->text_layers <= FUZZ_MAX_LAYERS &&
	    c->image_size <= FUZZ_MAX_IMAGE && c->context_length <= FUZZ_MAX_CONTEXT &&
	    c->vocab_size <= FUZZ_MAX_VOCAB && c->embed_dim <= FUZZ_MAX_EMBED &&
	    c->frames <= 16;
}

static void fuzz_towers(model *m, const model_config *c)
{
	float frame[3 * FUZZ_MAX_IMAGE * FUZZ_MAX_IMAGE], out[FUZZ_MAX_EMBED];
	int32_t ids[FUZZ_MAX_CONTEXT];
	char *cause = NULL;
	textenc *t;
	vit *v;

	if ((v = vit_new(m, 1, &cause)) == NULL)
		fuzz_refused(&cause);
	else {
		if (vit_image_size(v) != c->image_size || vit_embed_dim(v) > FUZZ_MAX_EMBED)
			abort();
		for (size_t i = 0; i < sizeof frame / sizeof frame[0]; i++)
			frame[i] = (float)(i % 7) - 3.0f;
		if (vit_encode(v, frame, 1, out, &cause) == -1)
			fuzz_refused(&cause);
		vit_free(v);
	}
	if ((t = textenc_new(m, c->max_words, &cause)) == NULL)
		fuzz_refused(&cause);
	else {
		if (textenc_length(t) != c->max_words || textenc_embed_dim(t) > FUZZ_MAX_EMBED)
			abort();
		memset(ids, 0, sizeof ids);
		ids[0] = c->vocab_size - 2 >= 0 ? c->vocab_size - 2 : 0;
		ids[1] = c->vocab_size - 1;
		if (textenc_encode(t, ids, out, NULL, &cause) == -1)
			fuzz_refused(&cause);
		textenc_free(t);
	}
}

static void fuzz_heads(model *m, const model_config *c)
{
	char *cause = NULL;
	tcmgc *tc;
	ea *e;

	if (strcmp(c->architecture, "tcmgc") != 0) {
		if ((e = ea_load(m, &cause)) == NULL)
			fuzz_refused(&cause);
		else {
			if (ea_frames(e) != c->frames || ea_describe(e) == NULL ||
			    ea_video_cache_floats(e) == 0)
				abort();
			ea_free(e);
		}
	}
	if (strcmp(c->architecture, "ea") != 0) {
		if ((tc = tcmgc_load(m, &cause)) == NULL)
			fuzz_refused(&cause);
		else {
			if (tcmgc_frames(tc) != c->frames || tcmgc_topk(tc) < 1 ||
			    tcmgc_describe(tc) == NULL || tcmgc_video_cache_floats(tc) == 0)
				abort();
			tcmgc_free(tc);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const model_config *c;
	char *cause = NULL;
	model *m;

	if (fuzz_fd == -1) {
		if ((fuzz_fd = memfd_create("fuzz-model", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
	}
	if (ftruncate(fuzz_fd, 0) == -1 ||
	    (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
		abort();
	if ((m = model_load(fuzz_path, &cause)) == NULL) {
		fuzz_refused(&cause);
		return 0;
	}
	c = model_get_config(m);
	if (c->vision_width <= 0 || c->text_width <= 0 || c->vision_heads <= 0 ||
	    c->text_heads <= 0 || c->frames < 1 || c->frames > 1024 || c->max_words < 2 ||
	    c->max_words > c->context_length || c->vision_patch <= 0 ||
	    c->image_size % c->vision_patch != 0)
		abort();
	if (model_tokenizer(m, &cause) == NULL)
		fuzz_refused(&cause);
	fuzz_heads(m, c);
	if (fuzz_small(c))
		fuzz_towers(m, c);
	model_free(m);
	return 0;
}
