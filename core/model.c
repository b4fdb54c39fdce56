/*
 * model — configuration, name mapping and fp32 tensor access over a
 * safetensors model file.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"
#include "tensor.h"
#include "util.h"

/* A tensor as the towers see it: fp32, upstream name, owned by the model. */
typedef struct {
	char *name;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	float *data; /* fp32 in upstream layout, owned */
} model_entry;

struct model {
	char *path;
	st_file *file;
	model_config config;
	model_entry *entries;
	size_t nentries, cap;
	tokenizer *tok;
};

/* How an upstream name was found in the file. */
typedef struct {
	const st_tensor *parts[3]; /* one tensor, or q/k/v to concatenate */
	int nparts;
	int transpose; /* the file stores the 2-D transpose */
} model_source;

/*
 * Hugging Face's CLIPModel names for a layer-local suffix of an upstream
 * resblock, or NULL; *qkv is set for the packed in_proj tensors that HF
 * keeps as three separate projections.
 */
static const char *model_hf_block_suffix(const char *suffix, int *qkv)
{
	static const struct {
		const char *upstream, *hf;
	} map[] = {
		{ "attn.out_proj.weight", "self_attn.out_proj.weight" },
		{ "attn.out_proj.bias", "self_attn.out_proj.bias" },
		{ "ln_1.weight", "layer_norm1.weight" },
		{ "ln_1.bias", "layer_norm1.bias" },
		{ "ln_2.weight", "layer_norm2.weight" },
		{ "ln_2.bias", "layer_norm2.bias" },
		{ "mlp.c_fc.weight", "mlp.fc1.weight" },
		{ "mlp.c_fc.bias", "mlp.fc1.bias" },
		{ "mlp.c_proj.weight", "mlp.fc2.weight" },
		{ "mlp.c_proj.bias", "mlp.fc2.bias" },
		{ "attn.in_proj_weight", "weight" },
		{ "attn.in_proj_bias", "bias" },
	};

	*qkv = strncmp(suffix, "attn.in_proj_", 13) == 0;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(suffix, map[i].upstream) == 0)
			return map[i].hf;
	return NULL;
}

/* Resolve an upstream name against Hugging Face CLIPModel names. */
static int model_find_hf(const st_file *f, const char *name, model_source *src)
{
	static const struct {
		const char *upstream, *hf;
		int transpose;
	} direct[] = {
		{ "clip.visual.class_embedding", "vision_model.embeddings.class_embedding", 0 },
		{ "clip.visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", 0 },
		{ "clip.visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", 0 },
		{ "clip.visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", 0 },
		{ "clip.visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", 0 },
		{ "clip.visual.ln_post.weight", "vision_model.post_layernorm.weight", 0 },
		{ "clip.visual.ln_post.bias", "vision_model.post_layernorm.bias", 0 },
		{ "clip.visual.proj", "visual_projection.weight", 1 },
		{ "clip.token_embedding.weight", "text_model.embeddings.token_embedding.weight", 0 },
		{ "clip.positional_embedding", "text_model.embeddings.position_embedding.weight", 0 },
		{ "clip.ln_final.weight", "text_model.final_layer_norm.weight", 0 },
		{ "clip.ln_final.bias", "text_model.final_layer_norm.bias", 0 },
		{ "clip.text_projection", "text_projection.weight", 1 },
		{ "clip.logit_scale", "logit_scale", 0 },
	};
	const char *tower = NULL, *rest;
	char hf[256];
	int layer, used, qkv;

	for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++) {
		if (strcmp(name, direct[i].upstream) == 0) {
			src->parts[0] = st_find(f, direct[i].hf);
			src->nparts = 1;
			src->transpose = direct[i].transpose;
			return src->parts[0] != NULL ? 0 : -1;
		}
	}
	if (strncmp(name, "clip.visual.transformer.resblocks.", 34) == 0) {
		tower = "vision_model";
		rest = name + 34;
	} else if (strncmp(name, "clip.transformer.resblocks.", 27) == 0) {
		tower = "text_model";
		rest = name + 27;
	} else
		return -1;
	if (sscanf(rest, "%d.%n", &layer, &used) != 1 || layer < 0)
		return -1;
	const char *suffix = model_hf_block_suffix(rest + used, &qkv);
	if (suffix == NULL)
		return -1;
	src->transpose = 0;
	if (!qkv) {
		snprintf(hf, sizeof hf, "%s.encoder.layers.%d.%s", tower, layer, suffix);
		src->parts[0] = st_find(f, hf);
		src->nparts = 1;
		return src->parts[0] != NULL ? 0 : -1;
	}
	static const char *const proj[3] = { "q_proj", "k_proj", "v_proj" };
	for (int i = 0; i < 3; i++) {
		snprintf(hf, sizeof hf, "%s.encoder.layers.%d.self_attn.%s.%s", tower, layer,
		    proj[i], suffix);
		if ((src->parts[i] = st_find(f, hf)) == NULL)
			return -1;
	}
	src->nparts = 3;
	return 0;
}

static int model_find(const st_file *f, const char *name, model_source *src)
{
	memset(src, 0, sizeof *src);
	if ((src->parts[0] = st_find(f, name)) != NULL) {
		src->nparts = 1;
		return 0;
	}
	/* OpenAI's ViT-B-32.pt state dict: the same names without "clip.". */
	if (strncmp(name, "clip.", 5) == 0 && (src->parts[0] = st_find(f, name + 5)) != NULL) {
		src->nparts = 1;
		return 0;
	}
	return model_find_hf(f, name, src);
}

static void model_format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
	size_t used = 0;

	used += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < ndim && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "",
		    (long long)shape[i]);
	if (used < size)
		snprintf(buf + used, size - used, "]");
}

/* The logical (upstream) shape of a resolved source. */
static int model_source_shape(const model_source *src, int64_t *shape)
{
	const st_tensor *t = src->parts[0];
	int ndim = t->ndim;

	memcpy(shape, t->shape, sizeof(int64_t) * (size_t)ndim);
	if (src->nparts == 3)
		shape[0] = t->shape[0] + src->parts[1]->shape[0] + src->parts[2]->shape[0];
	if (src->transpose && ndim == 2) {
		shape[0] = t->shape[1];
		shape[1] = t->shape[0];
	}
	return ndim;
}

static model_entry *model_lookup_entry(model *m, const char *name)
{
	for (size_t i = 0; i < m->nentries; i++)
		if (strcmp(m->entries[i].name, name) == 0)
			return &m->entries[i];
	return NULL;
}

int model_has(model *m, const char *name)
{
	model_source src;

	return model_lookup_entry(m, name) != NULL || model_find(m->file, name, &src) == 0;
}

/* Materialise a resolved source as fp32 in upstream layout. */
static float *model_source_read(model *m, const model_source *src, const char *name,
    size_t numel, char **cause)
{
	float *out = tensor_alloc(numel), *part = NULL;
	size_t done = 0;

	if (out == NULL) {
		util_set_cause(cause, "%s: %s: out of memory", m->path, name);
		return NULL;
	}
	for (int i = 0; i < src->nparts; i++) {
		const st_tensor *t = src->parts[i];
		if (t->numel > numel - done ||
		    (src->nparts > 1 && t->ndim != src->parts[0]->ndim)) {
			util_set_cause(cause, "%s: %s: q/k/v parts do not fit together", m->path, name);
			goto fail;
		}
		if (st_read_f32(m->file, t, out + done, cause) == -1) {
			util_prefix_cause(cause, "%s", m->path);
			goto fail;
		}
		done += t->numel;
	}
	if (done != numel) {
		util_set_cause(cause, "%s: %s: q/k/v parts do not fit together", m->path, name);
		goto fail;
	}
	if (src->transpose && src->parts[0]->ndim == 2) {
		int64_t rows = src->parts[0]->shape[0], cols = src->parts[0]->shape[1];
		if ((part = tensor_alloc(numel)) == NULL) {
			util_set_cause(cause, "%s: %s: out of memory", m->path, name);
			goto fail;
		}
		for (int64_t r = 0; r < rows; r++)
			for (int64_t c = 0; c < cols; c++)
				part[c * rows + r] = out[r * cols + c];
		tensor_free(out);
		out = part;
	}
	return out;
fail:
	tensor_free(out);
	return NULL;
}

const float *model_tensor(model *m, const char *name, int ndim, const int64_t *shape,
    char **cause)
{
	model_entry *e = model_lookup_entry(m, name);
	model_source src;
	int64_t have[ST_MAX_DIMS];
	int have_ndim;
	char want_s[128], have_s[128];

	if (e == NULL) {
		if (model_find(m->file, name, &src) == -1) {
			util_set_cause(cause, "%s: tensor %s is missing", m->path, name);
			return NULL;
		}
		have_ndim = model_source_shape(&src, have);
		size_t numel = 1;
		for (int i = 0; i < have_ndim; i++)
			numel *= (size_t)have[i]; /* st_open checked the products */
		if (numel == 0)
			numel = have_ndim == 0 ? 1 : 0;
		if (m->nentries == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 64;
			model_entry *grown = realloc(m->entries, cap * sizeof *grown);
			if (grown == NULL) {
				util_set_cause(cause, "%s: out of memory", m->path);
				return NULL;
			}
			m->entries = grown;
			m->cap = cap;
		}
		e = &m->entries[m->nentries];
		memset(e, 0, sizeof *e);
		if ((e->name = util_strdup(name)) == NULL) {
			util_set_cause(cause, "%s: out of memory", m->path);
			return NULL;
		}
		e->ndim = have_ndim;
		memcpy(e->shape, have, sizeof(int64_t) * (size_t)have_ndim);
		if ((e->data = model_source_read(m, &src, name, numel, cause)) == NULL) {
			free(e->name);
			return NULL;
		}
		m->nentries++;
	}
	int same = e->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = e->shape[i] == shape[i];
	if (!same) {
		model_format_shape(want_s, sizeof want_s, ndim, shape);
		model_format_shape(have_s, sizeof have_s, e->ndim, e->shape);
		util_set_cause(cause, "%s: %s: expected %s, file has %s", m->path, name, want_s, have_s);
		return NULL;
	}
	return e->data;
}

const float *model_tensor_1d(model *m, int64_t d0, char **cause, const char *fmt, ...)
{
	char name[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	return model_tensor(m, name, 1, &d0, cause);
}

const float *model_tensor_2d(model *m, int64_t d0, int64_t d1, char **cause,
    const char *fmt, ...)
{
	char name[256];
	int64_t shape[2] = { d0, d1 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	return model_tensor(m, name, 2, shape, cause);
}

const char *model_meta(const model *m, const char *key)
{
	return st_metadata(m->file, key);
}

int model_meta_int(const model *m, const char *key, int fallback, int *out, char **cause)
{
	const char *s = model_meta(m, key);
	char *end;
	long v;

	if (s == NULL) {
		*out = fallback;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < -1000000000L || v > 1000000000L) {
		util_set_cause(cause, "%s: metadata %s: '%s' is not an integer", m->path, key, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int model_meta_float(const model *m, const char *key, float fallback, float *out, char **cause)
{
	const char *s = model_meta(m, key);
	char *end;
	double v;

	if (s == NULL) {
		*out = fallback;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v)) {
		util_set_cause(cause, "%s: metadata %s: '%s' is not a number", m->path, key, s);
		return -1;
	}
	*out = (float)v;
	return 0;
}

/* Shape of an upstream tensor without reading it: -1 if absent. */
static int model_peek_shape(model *m, const char *name, int64_t *shape)
{
	model_source src;

	if (model_find(m->file, name, &src) == -1)
		return -1;
	return model_source_shape(&src, shape);
}

static int model_count_layers(model *m, const char *prefix)
{
	char name[256];
	int n = 0;

	for (;;) {
		snprintf(name, sizeof name, "%s%d.ln_1.weight", prefix, n);
		if (!model_has(m, name))
			return n;
		n++;
	}
}

/*
 * One config field: inferred from shapes (inferred >= 0), overridden or
 * supplied by metadata, and an error when both exist and disagree.
 */
static int model_config_field(model *m, const char *key, int inferred, int *out, char **cause)
{
	int v;

	if (model_meta_int(m, key, inferred, &v, cause) == -1)
		return -1;
	if (inferred >= 0 && v != inferred) {
		util_set_cause(cause, "%s: metadata %s is %d but the tensors say %d",
		    m->path, key, v, inferred);
		return -1;
	}
	if (v <= 0) {
		util_set_cause(cause, "%s: cannot tell %s: set it in the metadata", m->path, key);
		return -1;
	}
	*out = v;
	return 0;
}

static int model_read_config(model *m, char **cause)
{
	model_config *c = &m->config;
	int64_t s[ST_MAX_DIMS];
	int vw = -1, patch = -1, image = -1, embed = -1, tw = -1, ctx = -1, vocab = -1;
	int n;
	const char *arch = model_meta(m, "clipgrep.architecture");

	if (arch == NULL)
		arch = "clip";
	if (strcmp(arch, "clip") != 0 && strcmp(arch, "ea") != 0 && strcmp(arch, "tcmgc") != 0) {
		util_set_cause(cause, "%s: unknown architecture '%s' (expected clip, ea or tcmgc)",
		    m->path, arch);
		return -1;
	}
	snprintf(c->architecture, sizeof c->architecture, "%s", arch);

	if (model_peek_shape(m, "clip.visual.class_embedding", s) == 1)
		vw = (int)s[0];
	if ((n = model_peek_shape(m, "clip.visual.conv1.weight", s)) == 4)
		patch = (int)s[2];
	if ((n = model_peek_shape(m, "clip.visual.positional_embedding", s)) == 2 && patch > 0) {
		int grid = (int)lround(sqrt((double)(s[0] - 1)));
		if ((int64_t)grid * grid + 1 == s[0])
			image = grid * patch;
	}
	if (model_peek_shape(m, "clip.visual.proj", s) == 2)
		embed = (int)s[1];
	if (model_peek_shape(m, "clip.ln_final.weight", s) == 1)
		tw = (int)s[0];
	if (model_peek_shape(m, "clip.positional_embedding", s) == 2)
		ctx = (int)s[0];
	if (model_peek_shape(m, "clip.token_embedding.weight", s) == 2)
		vocab = (int)s[0];
	if (vw < 0 || tw < 0) {
		util_set_cause(cause, "%s: not a CLIP model: %s is missing", m->path,
		    vw < 0 ? "clip.visual.class_embedding" : "clip.ln_final.weight");
		return -1;
	}

	if (model_config_field(m, "clipgrep.embed_dim", embed, &c->embed_dim, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.width", vw, &c->vision_width, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.layers",
		model_count_layers(m, "clip.visual.transformer.resblocks."), &c->vision_layers, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.patch", patch, &c->vision_patch, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.image_size", image, &c->image_size, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.width", tw, &c->text_width, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.layers",
		model_count_layers(m, "clip.transformer.resblocks."), &c->text_layers, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.context_length", ctx, &c->context_length, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.vocab_size", vocab, &c->vocab_size, cause) == -1)
		return -1;
	/* CLIP's convention is 64-wide heads; small models say otherwise. */
	if (model_meta_int(m, "clipgrep.vision.heads", c->vision_width / 64, &c->vision_heads, cause) == -1 ||
	    model_meta_int(m, "clipgrep.text.heads", c->text_width / 64, &c->text_heads, cause) == -1 ||
	    model_meta_int(m, "clipgrep.frames", 12, &c->frames, cause) == -1 ||
	    model_meta_int(m, "clipgrep.max_words", c->context_length < 32 ? c->context_length : 32,
		&c->max_words, cause) == -1)
		return -1;
	if (c->vision_heads <= 0 || c->vision_width % c->vision_heads != 0) {
		util_set_cause(cause, "%s: vision head count %d does not divide the width %d "
		    "(set clipgrep.vision.heads)", m->path, c->vision_heads, c->vision_width);
		return -1;
	}
	if (c->text_heads <= 0 || c->text_width % c->text_heads != 0) {
		util_set_cause(cause, "%s: text head count %d does not divide the width %d "
		    "(set clipgrep.text.heads)", m->path, c->text_heads, c->text_width);
		return -1;
	}
	if (c->frames <= 0 || c->frames > 1024) {
		util_set_cause(cause, "%s: clipgrep.frames must be 1..1024", m->path);
		return -1;
	}
	if (c->max_words < 2 || c->max_words > c->context_length) {
		util_set_cause(cause, "%s: clipgrep.max_words must be 2..%d (the context length)",
		    m->path, c->context_length);
		return -1;
	}
	if (c->image_size % c->vision_patch != 0) {
		util_set_cause(cause, "%s: image size %d is not a multiple of the patch %d",
		    m->path, c->image_size, c->vision_patch);
		return -1;
	}
	return 0;
}

model *model_load(const char *path, char **cause)
{
	model *m = calloc(1, sizeof *m);

	if (m == NULL || (m->path = util_strdup(path)) == NULL) {
		util_set_cause(cause, "%s: out of memory", path);
		free(m);
		return NULL;
	}
	if ((m->file = st_open(path, cause)) == NULL || model_read_config(m, cause) == -1) {
		model_free(m);
		return NULL;
	}
	return m;
}

void model_free(model *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nentries; i++) {
		free(m->entries[i].name);
		tensor_free(m->entries[i].data);
	}
	free(m->entries);
	tokenizer_free(m->tok);
	st_close(m->file);
	free(m->path);
	free(m);
}

const char *model_path(const model *m)
{
	return m->path;
}

const model_config *model_get_config(const model *m)
{
	return &m->config;
}

tokenizer *model_tokenizer(model *m, char **cause)
{
	const char *merges;

	if (m->tok != NULL)
		return m->tok;
	merges = model_meta(m, "clipgrep.tokenizer.merges");
	if (merges == NULL) {
		util_set_cause(cause, "%s: the model carries no tokenizer "
		    "(clipgrep.tokenizer.merges); give one with --bpe FILE", m->path);
		return NULL;
	}
	m->tok = tokenizer_load_merges(merges, strlen(merges), m->path, cause);
	return m->tok;
}
