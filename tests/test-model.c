/*
 * test-model — model files: configuration inferred from shapes and read
 * from metadata, the OpenAI and Hugging Face name maps (q/k/v packing and
 * transposed projections), fp16 widening, and the errors a user sees for
 * missing tensors, wrong shapes and bad metadata.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "safetensors.h"
#include "tap.h"
#include "tensor.h"

enum { VW = 8, VL = 2, PATCH = 4, IMAGE = 8, EMBED = 6, TW = 8, TL = 1, CTX = 6, VOCAB = 10 };

enum naming { UPSTREAM, OPENAI, HF };

static char dir[] = "/tmp/clipgrep-test-model-XXXXXX";

/* Deterministic values: tensor k, element i -> k + i / 1000. */
static float *values(size_t n, int k)
{
	float *v = malloc(n * sizeof *v);

	for (size_t i = 0; i < n; i++)
		v[i] = (float)k + (float)i / 1000.0f;
	return v;
}

static void add(st_writer *w, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
    int64_t d3, int k)
{
	int64_t shape[4] = { d0, d1, d2, d3 };
	size_t n = 1;
	char *cause = NULL;

	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	float *v = values(n, k);
	if (st_writer_add_f32(w, name, ndim, shape, v, &cause) == -1)
		tap_diag("writer: %s", cause);
	free(cause);
	free(v);
}

/* Upstream-layout CLIP tensors under the chosen naming. */
static void add_clip(st_writer *w, enum naming naming)
{
	const char *p = naming == OPENAI ? "" : "clip.";
	char n[160];
	int k = 1;

	if (naming == HF) {
		add(w, "vision_model.embeddings.class_embedding", 1, VW, 0, 0, 0, k++);
		add(w, "vision_model.embeddings.position_embedding.weight", 2, 5, VW, 0, 0, k++);
		add(w, "vision_model.embeddings.patch_embedding.weight", 4, VW, 3, PATCH, PATCH, k++);
		add(w, "vision_model.pre_layrnorm.weight", 1, VW, 0, 0, 0, k++);
		add(w, "visual_projection.weight", 2, EMBED, VW, 0, 0, 50);
		add(w, "text_model.final_layer_norm.weight", 1, TW, 0, 0, 0, k++);
		add(w, "text_model.embeddings.position_embedding.weight", 2, CTX, TW, 0, 0, k++);
		add(w, "text_model.embeddings.token_embedding.weight", 2, VOCAB, TW, 0, 0, k++);
		for (int l = 0; l < VL; l++) {
			snprintf(n, sizeof n, "vision_model.encoder.layers.%d.layer_norm1.weight", l);
			add(w, n, 1, VW, 0, 0, 0, k++);
			static const char *qkv[3] = { "q", "k", "v" };
			for (int i = 0; i < 3; i++) {
				snprintf(n, sizeof n, "vision_model.encoder.layers.%d.self_attn.%s_proj.weight", l, qkv[i]);
				add(w, n, 2, VW, VW, 0, 0, 10 + i);
			}
		}
		for (int l = 0; l < TL; l++) {
			snprintf(n, sizeof n, "text_model.encoder.layers.%d.layer_norm1.weight", l);
			add(w, n, 1, TW, 0, 0, 0, k++);
		}
		return;
	}
	snprintf(n, sizeof n, "%svisual.class_embedding", p);
	add(w, n, 1, VW, 0, 0, 0, k++);
	snprintf(n, sizeof n, "%svisual.positional_embedding", p);
	add(w, n, 2, 5, VW, 0, 0, k++);
	snprintf(n, sizeof n, "%svisual.conv1.weight", p);
	add(w, n, 4, VW, 3, PATCH, PATCH, k++);
	snprintf(n, sizeof n, "%svisual.ln_pre.weight", p);
	add(w, n, 1, VW, 0, 0, 0, k++);
	snprintf(n, sizeof n, "%svisual.proj", p);
	add(w, n, 2, VW, EMBED, 0, 0, k++);
	snprintf(n, sizeof n, "%sln_final.weight", p);
	add(w, n, 1, TW, 0, 0, 0, k++);
	snprintf(n, sizeof n, "%spositional_embedding", p);
	add(w, n, 2, CTX, TW, 0, 0, k++);
	snprintf(n, sizeof n, "%stoken_embedding.weight", p);
	add(w, n, 2, VOCAB, TW, 0, 0, k++);
	for (int l = 0; l < VL; l++) {
		snprintf(n, sizeof n, "%svisual.transformer.resblocks.%d.ln_1.weight", p, l);
		add(w, n, 1, VW, 0, 0, 0, k++);
	}
	for (int l = 0; l < TL; l++) {
		snprintf(n, sizeof n, "%stransformer.resblocks.%d.ln_1.weight", p, l);
		add(w, n, 1, TW, 0, 0, 0, k++);
	}
}

static char *save(st_writer *w, const char *name)
{
	static char path[256];
	char *cause = NULL;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (st_writer_save(w, path, &cause) == -1)
		tap_diag("save %s: %s", path, cause);
	free(cause);
	st_writer_free(w);
	return path;
}

static void check_config(model *m, const char *label)
{
	const model_config *c = model_get_config(m);

	tap_ok(c->vision_width == VW && c->vision_layers == VL && c->vision_patch == PATCH &&
	    c->image_size == IMAGE && c->embed_dim == EMBED && c->text_width == TW &&
	    c->text_layers == TL && c->context_length == CTX && c->vocab_size == VOCAB,
	    "%s: config inferred from shapes (vision %d/%d/%d/%d, text %d/%d/%d/%d, embed %d)",
	    label, c->vision_width, c->vision_layers, c->vision_patch, c->image_size,
	    c->text_width, c->text_layers, c->context_length, c->vocab_size, c->embed_dim);
}

static int has_text(const char *cause, const char *a, const char *b)
{
	return cause != NULL && strstr(cause, a) != NULL && (b == NULL || strstr(cause, b) != NULL);
}

/* model_load(path) must fail with a message holding a and b. */
static void expect_load_error(const char *path, const char *a, const char *b, const char *what)
{
	char *cause = NULL;
	model *m = model_load(path, &cause);

	tap_ok(m == NULL && has_text(cause, a, b), "%s: %s", what, cause != NULL ? cause : "(no message)");
	model_free(m);
	free(cause);
}

int main(void)
{
	char *cause = NULL;
	model *m;
	st_writer *w;
	const char *path;
	const float *t;

	if (mkdtemp(dir) == NULL)
		return tap_skip_all("cannot make a temporary directory");

	/* Upstream names, metadata for the parts shapes cannot tell. */
	w = st_writer_new();
	add_clip(w, UPSTREAM);
	st_writer_set_metadata(w, "clipgrep.architecture", "tcmgc", NULL);
	st_writer_set_metadata(w, "clipgrep.vision.heads", "2", NULL);
	st_writer_set_metadata(w, "clipgrep.text.heads", "2", NULL);
	st_writer_set_metadata(w, "clipgrep.frames", "4", NULL);
	st_writer_set_metadata(w, "clipgrep.max_words", "5", NULL);
	st_writer_set_metadata(w, "clipgrep.tokenizer.merges", "#version: 0.2\nd o\ndo g</w>\n", NULL);
	path = save(w, "upstream.safetensors");
	m = model_load(path, &cause);
	if (!tap_ok(m != NULL, "upstream-named model loads")) {
		tap_diag("%s", cause);
		return tap_done();
	}
	check_config(m, "upstream");
	const model_config *c = model_get_config(m);
	tap_ok(strcmp(c->architecture, "tcmgc") == 0 && c->vision_heads == 2 && c->frames == 4 &&
	    c->max_words == 5, "metadata gives architecture, heads, F and L");
	t = model_tensor_2d(m, VW, EMBED, &cause, "clip.visual.proj");
	tap_ok(t != NULL && t[0] == 5.0f && t[1] == 5.001f, "tensor read by upstream name");
	tap_ok(model_tensor_2d(m, VW, EMBED, NULL, "clip.visual.proj") == t,
	    "a second lookup returns the same cached tensor");
	t = model_tensor_2d(m, EMBED, VW, &cause, "clip.visual.proj");
	tap_ok(t == NULL && has_text(cause, path, "clip.visual.proj: expected [6,8], file has [8,6]"),
	    "shape mismatch names file, tensor and both shapes: %s", cause);
	t = model_tensor_1d(m, 3, &cause, "clip.visual.transformer.resblocks.%d.attn.in_proj_bias", 7);
	tap_ok(t == NULL && has_text(cause, path, "resblocks.7.attn.in_proj_bias is missing"),
	    "a missing tensor is named: %s", cause);
	tap_ok(model_has(m, "clip.visual.ln_pre.weight") && !model_has(m, "logit_weight"),
	    "model_has");
	tokenizer *tok = model_tokenizer(m, &cause);
	int32_t ids[8];
	tap_ok(tok != NULL && tokenizer_encode(tok, "dog", ids, 8, NULL) == 1 &&
	    strcmp(tokenizer_token_text(tok, ids[0]), "dog</w>") == 0,
	    "tokenizer comes from the metadata merges");
	model_free(m);

	/* OpenAI names, fp32; metadata only for the head counts (real CLIP
	 * widths give 64-wide heads, these tiny ones cannot). */
	w = st_writer_new();
	add_clip(w, OPENAI);
	st_writer_set_metadata(w, "clipgrep.vision.heads", "2", NULL);
	st_writer_set_metadata(w, "clipgrep.text.heads", "2", NULL);
	path = save(w, "openai.safetensors");
	m = model_load(path, &cause);
	if (!tap_ok(m != NULL, "OpenAI-named model loads"))
		tap_diag("%s", cause);
	if (m != NULL) {
		check_config(m, "openai");
		tap_ok(model_get_config(m)->frames == 12 && model_get_config(m)->max_words == CTX,
		    "defaults: F = 12, L = 32 capped at the context length");
		t = model_tensor_1d(m, VW, &cause, "clip.visual.ln_pre.weight");
		tap_ok(t != NULL && t[0] == 4.0f, "clip. prefix maps onto OpenAI names");
		tokenizer *none = model_tokenizer(m, &cause);
		tap_ok(none == NULL && has_text(cause, "no tokenizer", "--bpe"),
		    "a model without merges says how to give a tokenizer: %s", cause);
		model_free(m);
	}

	/* Hugging Face names: q/k/v packed into in_proj, projection transposed. */
	w = st_writer_new();
	add_clip(w, HF);
	st_writer_set_metadata(w, "clipgrep.vision.heads", "2", NULL);
	st_writer_set_metadata(w, "clipgrep.text.heads", "2", NULL);
	path = save(w, "hf.safetensors");
	m = model_load(path, &cause);
	if (!tap_ok(m != NULL, "Hugging Face-named model loads"))
		tap_diag("%s", cause);
	if (m != NULL) {
		check_config(m, "hf");
		t = model_tensor_2d(m, 3 * VW, VW, &cause, "clip.visual.transformer.resblocks.1.attn.in_proj_weight");
		tap_ok(t != NULL && t[0] == 10.0f && t[VW * VW] == 11.0f && t[2 * VW * VW + 1] == 12.001f,
		    "HF q/k/v projections are packed in q, k, v order");
		t = model_tensor_2d(m, VW, EMBED, &cause, "clip.visual.proj");
		/* HF stores [EMBED, VW]; element (r=1, c=0) of upstream is HF (0, 1). */
		tap_ok(t != NULL && t[0] == 50.0f && t[EMBED] == 50.001f && t[1] == 50.0f + VW / 1000.0f,
		    "HF visual_projection is transposed into visual.proj");
		model_free(m);
	}

	/* Bad metadata and non-models. */
	w = st_writer_new();
	add_clip(w, UPSTREAM);
	st_writer_set_metadata(w, "clipgrep.frames", "twelve", NULL);
	path = save(w, "badmeta.safetensors");
	expect_load_error(path, path, "clipgrep.frames: 'twelve' is not an integer", "malformed metadata is named");

	w = st_writer_new();
	add_clip(w, UPSTREAM);
	st_writer_set_metadata(w, "clipgrep.vision.width", "16", NULL);
	path = save(w, "conflict.safetensors");
	expect_load_error(path, "clipgrep.vision.width is 16", "tensors say 8", "metadata contradicting the tensors is an error");

	w = st_writer_new();
	add_clip(w, UPSTREAM);
	path = save(w, "noheads.safetensors");
	expect_load_error(path, path, "head count", "width 8 without clipgrep.*.heads cannot use 64-wide heads");

	w = st_writer_new();
	add(w, "something.else", 1, 4, 0, 0, 0, 1);
	path = save(w, "notclip.safetensors");
	expect_load_error(path, path, "not a CLIP model", "a file without CLIP tensors");

	expect_load_error("/nonexistent/model.safetensors", "/nonexistent/model.safetensors",
	    "No such file", "a missing file is named");
	model_free(NULL);
	free(cause);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
