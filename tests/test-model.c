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

/*
 * A Hugging Face name for an upstream one (the map core/model.c applies,
 * written out again so that the test checks it); NULL for a q/k/v-packed
 * tensor, which add_clip writes as three parts.
 */
static const char *hf_name(const char *up, char *buf, size_t size)
{
	static const char *const direct[][2] = {
		{ "clip.visual.class_embedding", "vision_model.embeddings.class_embedding" },
		{ "clip.visual.positional_embedding", "vision_model.embeddings.position_embedding.weight" },
		{ "clip.visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight" },
		{ "clip.visual.ln_pre.weight", "vision_model.pre_layrnorm.weight" },
		{ "clip.visual.ln_pre.bias", "vision_model.pre_layrnorm.bias" },
		{ "clip.visual.ln_post.weight", "vision_model.post_layernorm.weight" },
		{ "clip.visual.ln_post.bias", "vision_model.post_layernorm.bias" },
		{ "clip.token_embedding.weight", "text_model.embeddings.token_embedding.weight" },
		{ "clip.positional_embedding", "text_model.embeddings.position_embedding.weight" },
		{ "clip.ln_final.weight", "text_model.final_layer_norm.weight" },
		{ "clip.ln_final.bias", "text_model.final_layer_norm.bias" },
	};
	static const char *const block[][2] = {
		{ "ln_1.", "layer_norm1." }, { "ln_2.", "layer_norm2." },
		{ "attn.out_proj.", "self_attn.out_proj." },
		{ "mlp.c_fc.", "mlp.fc1." }, { "mlp.c_proj.", "mlp.fc2." },
	};
	const char *tower, *rest;
	int layer, used;

	for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++)
		if (strcmp(up, direct[i][0]) == 0)
			return direct[i][1];
	if (strncmp(up, "clip.visual.transformer.resblocks.", 34) == 0) {
		tower = "vision_model";
		rest = up + 34;
	} else {
		tower = "text_model";
		rest = up + 27;
	}
	sscanf(rest, "%d.%n", &layer, &used);
	rest += used;
	for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
		size_t n = strlen(block[i][0]);
		if (strncmp(rest, block[i][0], n) == 0) {
			snprintf(buf, size, "%s.encoder.layers.%d.%s%s", tower, layer, block[i][1], rest + n);
			return buf;
		}
	}
	return NULL;
}

/* One upstream tensor of shape [d0, d1] (d1 = 0: 1-D) under the naming. */
static void put(st_writer *w, enum naming naming, const char *up, int64_t d0, int64_t d1, int k)
{
	char buf[200], part[200];
	int ndim = d1 > 0 ? 2 : 1;

	if (naming == OPENAI) {
		add(w, up + 5, ndim, d0, d1, 0, 0, k);
		return;
	}
	if (naming == UPSTREAM) {
		add(w, up, ndim, d0, d1, 0, 0, k);
		return;
	}
	const char *hf = hf_name(up, buf, sizeof buf);
	if (hf != NULL) {
		add(w, hf, ndim, d0, d1, 0, 0, k);
		return;
	}
	/* attn.in_proj_{weight,bias}: HF keeps q, k and v apart. */
	static const char *const qkv[3] = { "q", "k", "v" };
	const char *tower = strncmp(up, "clip.visual.", 12) == 0 ? "vision_model" : "text_model";
	int layer = atoi(strstr(up, "resblocks.") + 10);
	for (int i = 0; i < 3; i++) {
		snprintf(part, sizeof part, "%s.encoder.layers.%d.self_attn.%s_proj.%s", tower, layer,
		    qkv[i], strstr(up, "_weight") != NULL ? "weight" : "bias");
		add(w, part, ndim, d0 / 3, d1, 0, 0, 10 + i);
	}
}

/* One tower's resblocks at width d (MLP 4d wide), except the tensor named skip. */
static void put_blocks(st_writer *w, enum naming naming, const char *prefix, int layers, int d,
    const char *skip)
{
	static const struct {
		const char *suffix;
		int r0, r1; /* shape in multiples of d */
	} block[] = {
		{ "ln_1.weight", 1, 0 }, { "ln_1.bias", 1, 0 },
		{ "attn.in_proj_weight", 3, 1 }, { "attn.in_proj_bias", 3, 0 },
		{ "attn.out_proj.weight", 1, 1 }, { "attn.out_proj.bias", 1, 0 },
		{ "ln_2.weight", 1, 0 }, { "ln_2.bias", 1, 0 },
		{ "mlp.c_fc.weight", 4, 1 }, { "mlp.c_fc.bias", 4, 0 },
		{ "mlp.c_proj.weight", 1, 4 }, { "mlp.c_proj.bias", 1, 0 },
	};
	char n[200];

	for (int l = 0; l < layers; l++)
		for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
			snprintf(n, sizeof n, "%s%d.%s", prefix, l, block[i].suffix);
			if (skip == NULL || strcmp(n, skip) != 0)
				put(w, naming, n, block[i].r0 * d, block[i].r1 * d, 20 + (int)i);
		}
}

/*
 * A complete CLIP (both towers) in upstream layout under the chosen
 * naming, without the tensor whose upstream name is skip (NULL: none).
 */
static void add_clip_skip(st_writer *w, enum naming naming, const char *skip)
{
	static const struct {
		const char *name;
		int64_t d0, d1;
		int k;
	} plain[] = {
		{ "clip.visual.class_embedding", VW, 0, 1 },
		{ "clip.visual.positional_embedding", (IMAGE / PATCH) * (IMAGE / PATCH) + 1, VW, 2 },
		{ "clip.visual.ln_pre.weight", VW, 0, 4 },
		{ "clip.visual.ln_pre.bias", VW, 0, 6 },
		{ "clip.visual.ln_post.weight", VW, 0, 7 },
		{ "clip.visual.ln_post.bias", VW, 0, 8 },
		{ "clip.ln_final.weight", TW, 0, 9 },
		{ "clip.ln_final.bias", TW, 0, 10 },
		{ "clip.positional_embedding", CTX, TW, 11 },
		{ "clip.token_embedding.weight", VOCAB, TW, 12 },
	};

	if (naming == HF) {
		add(w, "vision_model.embeddings.patch_embedding.weight", 4, VW, 3, PATCH, PATCH, 3);
		add(w, "visual_projection.weight", 2, EMBED, VW, 0, 0, 50);
		add(w, "text_projection.weight", 2, EMBED, TW, 0, 0, 51);
	} else {
		if (skip == NULL || strcmp(skip, "clip.visual.conv1.weight") != 0)
			add(w, naming == OPENAI ? "visual.conv1.weight" : "clip.visual.conv1.weight", 4,
			    VW, 3, PATCH, PATCH, 3);
		if (skip == NULL || strcmp(skip, "clip.visual.proj") != 0)
			put(w, naming, "clip.visual.proj", VW, EMBED, 5);
		put(w, naming, "clip.text_projection", TW, EMBED, 51);
	}
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (skip == NULL || strcmp(skip, plain[i].name) != 0)
			put(w, naming, plain[i].name, plain[i].d0, plain[i].d1, plain[i].k);
	put_blocks(w, naming, "clip.visual.transformer.resblocks.", VL, VW, skip);
	put_blocks(w, naming, "clip.transformer.resblocks.", TL, TW, skip);
}

/* A CLIP with small heads (the tiny widths cannot have 64-wide ones). */
static st_writer *clip_writer(enum naming naming, const char *skip)
{
	st_writer *w = st_writer_new();

	add_clip_skip(w, naming, skip);
	st_writer_set_metadata(w, "clipgrep.vision.heads", "2", NULL);
	st_writer_set_metadata(w, "clipgrep.text.heads", "2", NULL);
	return w;
}

static void add_clip(st_writer *w, enum naming naming)
{
	add_clip_skip(w, naming, NULL);
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
	/* Released (a tower packed it): read again from the file, the other tensors untouched. */
	const float *pre = model_tensor_1d(m, VW, NULL, "clip.visual.ln_pre.weight");
	float pre0 = pre != NULL ? pre[0] : -1;
	model_tensor_release(m, "clip.visual.proj");
	model_tensor_release(m, "clip.visual.proj"); /* twice: a no-op */
	model_tensor_release(m, "no.such.tensor");
	t = model_tensor_2d(m, VW, EMBED, &cause, "clip.visual.proj");
	tap_ok(t != NULL && t[0] == 5.0f && t[1] == 5.001f && pre != NULL &&
	    model_tensor_1d(m, VW, NULL, "clip.visual.ln_pre.weight") == pre && pre[0] == pre0,
	    "a released tensor is read from the file again, the others stay as they were");
	t = model_tensor_2d(m, EMBED, VW, &cause, "clip.visual.proj");
	tap_ok(t == NULL && has_text(cause, path, "clip.visual.proj: expected [6, 8], file has [8, 6]"),
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
	expect_load_error(path, "clipgrep.vision.width is 16",
	    "but clip.visual.class_embedding has shape [8]", "metadata contradicting the tensors is an error");

	w = st_writer_new();
	add_clip(w, UPSTREAM);
	path = save(w, "noheads.safetensors");
	expect_load_error(path, path, "head count", "width 8 without clipgrep.*.heads cannot use 64-wide heads");

	/*
	 * Shapes are checked when the file is opened.  A zero dimension
	 * leaves the others free (no data to back them), so they could
	 * overflow the configuration arithmetic: conv1 [0, 1, 70000, 1] with
	 * a 40000 x 40000 grid would make image = grid * patch wrap an int.
	 */
	w = clip_writer(UPSTREAM, "clip.visual.conv1.weight");
	add(w, "clip.visual.conv1.weight", 4, 0, 1, 70000, 1, 3);
	path = save(w, "conv-zero.safetensors");
	expect_load_error(path, path, "clip.visual.conv1.weight has shape [0, 1, 70000, 1]: a dimension is zero",
	    "a zero dimension in conv1 is refused");

	w = clip_writer(UPSTREAM, "clip.visual.positional_embedding");
	add(w, "clip.visual.positional_embedding", 2, (int64_t)40000 * 40000 + 1, 0, 0, 0, 2);
	path = save(w, "pos-zero.safetensors");
	expect_load_error(path, "clip.visual.positional_embedding has shape [1600000001, 0]",
	    "a dimension is zero", "a zero-width positional embedding is refused");

	/* q/k/v parts of 2^62 rows each would overflow int64 when added. */
	w = clip_writer(HF, "clip.visual.transformer.resblocks.0.attn.in_proj_weight");
	static const char *const qkv[3] = { "q", "k", "v" };
	for (int i = 0; i < 3; i++) {
		char n[160];
		snprintf(n, sizeof n, "vision_model.encoder.layers.0.self_attn.%s_proj.weight", qkv[i]);
		add(w, n, 2, (int64_t)1 << 62, 0, 0, 0, 1);
	}
	path = save(w, "qkv-huge.safetensors");
	expect_load_error(path, "clip.visual.transformer.resblocks.0.attn.in_proj_weight",
	    "[4611686018427387904, 0]", "q/k/v parts of 2^62 rows are refused");

	/* The whole model is checked at open, not when a tower is built. */
	w = clip_writer(UPSTREAM, "clip.visual.transformer.resblocks.0.mlp.c_fc.weight");
	path = save(w, "no-cfc.safetensors");
	expect_load_error(path, path, "clip.visual.transformer.resblocks.0.mlp.c_fc.weight is missing",
	    "a missing image-tower tensor is refused at load");

	w = clip_writer(HF, "clip.visual.ln_post.bias");
	path = save(w, "hf-no-ln-post.safetensors");
	expect_load_error(path, path, "clip.visual.ln_post.bias is missing",
	    "a missing tensor in a Hugging Face file is refused at load");

	w = clip_writer(OPENAI, "clip.transformer.resblocks.0.attn.out_proj.bias");
	path = save(w, "openai-no-outproj.safetensors");
	expect_load_error(path, path, "clip.transformer.resblocks.0.attn.out_proj.bias is missing",
	    "a missing text-tower tensor in an OpenAI file is refused at load");

	w = clip_writer(UPSTREAM, "clip.visual.transformer.resblocks.1.mlp.c_proj.weight");
	add(w, "clip.visual.transformer.resblocks.1.mlp.c_proj.weight", 2, 4 * VW, VW, 0, 0, 1);
	path = save(w, "cproj-transposed.safetensors");
	expect_load_error(path, "resblocks.1.mlp.c_proj.weight has shape [32, 8]", "expected [8, 32]",
	    "a transposed resblock weight names both shapes");

	/* Messages name the tensor, its shape and the shape expected. */
	w = clip_writer(UPSTREAM, "clip.visual.proj");
	add(w, "clip.visual.proj", 2, EMBED, VW, 0, 0, 5);
	path = save(w, "proj-transposed.safetensors");
	expect_load_error(path, "clip.visual.proj has shape [6, 8]", "expected [8, 6]",
	    "a transposed clip.visual.proj names both shapes");

	w = clip_writer(UPSTREAM, "clip.visual.proj");
	add(w, "clip.visual.proj", 2, EMBED, VW, 0, 0, 5);
	st_writer_set_metadata(w, "clipgrep.embed_dim", "6", NULL);
	path = save(w, "proj-transposed-meta.safetensors");
	expect_load_error(path, "clip.visual.proj has shape [6, 8]", "expected [8, 6]",
	    "a transposed clip.visual.proj with clipgrep.embed_dim names both shapes");

	w = clip_writer(UPSTREAM, "clip.token_embedding.weight");
	add(w, "clip.token_embedding.weight", 2, VOCAB, TW - 1, 0, 0, 12);
	path = save(w, "short-tokens.safetensors");
	expect_load_error(path, "clip.token_embedding.weight has shape [10, 7]", "expected [10, 8]",
	    "a narrow clip.token_embedding.weight names both shapes");

	w = clip_writer(UPSTREAM, "clip.token_embedding.weight");
	add(w, "clip.token_embedding.weight", 2, VOCAB - 1, TW, 0, 0, 12);
	st_writer_set_metadata(w, "clipgrep.text.vocab_size", "10", NULL);
	path = save(w, "short-vocab.safetensors");
	expect_load_error(path, "metadata clipgrep.text.vocab_size is 10",
	    "clip.token_embedding.weight has shape [9, 8]",
	    "a vocabulary shorter than the metadata names the tensor and its shape");

	/* Issue 15: a token table stored as its non-zero rows (core/model.h). */
	{
		int64_t rshape[2] = { 2, TW }, ishape[1] = { 2 };
		float part[2 * TW];
		int32_t rows_ok[2] = { 7, 3 }, bad[2] = { 7, 10 };
		const float *full;
		int zero = 1;

		free(cause);
		cause = NULL;
		for (int i = 0; i < 2 * TW; i++)
			part[i] = 0.5f + (float)i;
		w = clip_writer(UPSTREAM, "clip.token_embedding.weight");
		st_writer_add_f32(w, "clip.token_embedding.weight", 2, rshape, part, NULL);
		st_writer_add(w, "clip.token_embedding.rows", ST_I32, 1, ishape, rows_ok, NULL);
		st_writer_set_metadata(w, "clipgrep.text.vocab_size", "10", NULL);
		path = save(w, "sparse.safetensors");
		m = model_load(path, &cause);
		full = m != NULL ? model_tensor_2d(m, VOCAB, TW, &cause, "clip.token_embedding.weight")
		    : NULL;
		for (int r = 0; full != NULL && r < VOCAB; r++)
			for (int i = 0; i < TW && r != 7 && r != 3; i++)
				zero = zero && full[r * TW + i] == 0;
		tap_ok(full != NULL && model_get_config(m)->vocab_size == VOCAB && zero &&
		    memcmp(full + 7 * TW, part, sizeof(float) * TW) == 0 &&
		    memcmp(full + 3 * TW, part + TW, sizeof(float) * TW) == 0,
		    "a sparse token table reads as the [10, 8] table, zero but for its rows (%s)",
		    cause != NULL ? cause : "ok");
		model_free(m);
		free(cause);
		cause = NULL;

		w = clip_writer(UPSTREAM, "clip.token_embedding.weight");
		st_writer_add_f32(w, "clip.token_embedding.weight", 2, rshape, part, NULL);
		st_writer_add(w, "clip.token_embedding.rows", ST_I32, 1, ishape, rows_ok, NULL);
		path = save(w, "sparse-novocab.safetensors");
		expect_load_error(path, "clip.token_embedding.weight is stored as rows",
		    "clipgrep.text.vocab_size does not say",
		    "a sparse table without the vocabulary size is refused");

		w = clip_writer(UPSTREAM, "clip.token_embedding.weight");
		st_writer_add_f32(w, "clip.token_embedding.weight", 2, rshape, part, NULL);
		st_writer_add(w, "clip.token_embedding.rows", ST_I32, 1, ishape, bad, NULL);
		st_writer_set_metadata(w, "clipgrep.text.vocab_size", "10", NULL);
		path = save(w, "sparse-bad.safetensors");
		m = model_load(path, &cause);
		full = m != NULL ? model_tensor_2d(m, VOCAB, TW, &cause, "clip.token_embedding.weight")
		    : NULL;
		tap_ok(m != NULL && full == NULL && has_text(cause, "clip.token_embedding.rows",
		    "row 1 is token id 10, outside the table of 10"),
		    "a row id outside the table is named: %s", cause != NULL ? cause : "(none)");
		model_free(m);
		free(cause);
		cause = NULL;
	}

	w = clip_writer(UPSTREAM, NULL);
	st_writer_set_metadata(w, "clipgrep.vision.layers", "3", NULL);
	path = save(w, "layers.safetensors");
	expect_load_error(path, "metadata clipgrep.vision.layers is 3", "2 resblocks",
	    "a layer count the file does not have is named");

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
