/*
 * model — configuration, name mapping and fp32 tensor access over a
 * safetensors model file.
 */
#include "config.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"
#include "tensor.h"
#include "util.h"

/*
 * What a CLIP file may declare.  Far above every released CLIP (ViT-L/14
 * at 336 px: width 1024, 24 layers, patch 14, vocabulary 49408, context
 * 77), and low enough that every size the towers derive from them
 * (4 * width, grid * grid + 1 tokens, tokens * hidden, ...) fits an int64
 * many times over and the per-tensor ones fit an int.  A file beyond them
 * is refused when it is opened, before any arithmetic on its dimensions.
 */
#define MODEL_MAX_WIDTH 65536     /* vision and text width, embed_dim */
#define MODEL_MAX_LAYERS 1024     /* resblocks per tower */
#define MODEL_MAX_IMAGE 8192      /* patch and image size, pixels */
#define MODEL_MAX_CONTEXT 65536   /* text context length */
#define MODEL_MAX_VOCAB 16777216  /* token embedding rows */
/* Any one dimension of a tower tensor: the vision positional table has
 * (image / patch)^2 + 1 rows at most. */
#define MODEL_MAX_DIM ((int64_t)MODEL_MAX_IMAGE * MODEL_MAX_IMAGE + 1)

/* A tensor as the towers see it: fp32, upstream name, owned by the model. */
typedef struct {
	char *name;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	float *data; /* fp32 in upstream layout, owned */
} model_entry;

struct model {
	char *path;
	char *head;    /* the head this view shows of a multi-head file, or NULL */
	st_file *file;
	model_config config;
	model_entry *entries;
	size_t nentries, cap;
	tokenizer *tok;
	/* Per file tensor (st_tensor_at order): whether a lookup found it, so
	 * `clipgrep model check` can name what no loader reads. */
	unsigned char *used;
	/* model_check_all: report each failed tower expectation here and go on. */
	model_check_fn report;
	void *report_arg;
	int problems;
};

/* How an upstream name was found in the file. */
typedef struct {
	const st_tensor *parts[3]; /* one tensor, or q/k/v to concatenate */
	int nparts;
	int transpose; /* the file stores the 2-D transpose */
	/* A table stored as its non-zero rows: parts[0] [n, W] holds rows
	 * rows[n] (I32 token ids) of the [full_rows, W] table, the others are
	 * zero.  full_rows is clipgrep.text.vocab_size, -1 when the file lacks it. */
	const st_tensor *rows;
	int64_t full_rows;
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

static int model_find_file(const st_file *f, const char *name, model_source *src)
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

/*
 * Resolve an upstream name: in a head's view of a multi-head file its own
 * "head.<name>.X" first, then the shared X.  A "X.weight" with a sibling
 * "X.rows" is a sparse table (model_source.rows).
 */
static int model_find(const model *m, const char *name, model_source *src)
{
	char own[512], rows[512];
	size_t n;

	memset(src, 0, sizeof *src);
	if (m->head != NULL &&
	    (size_t)snprintf(own, sizeof own, "head.%s.%s", m->head, name) < sizeof own &&
	    (src->parts[0] = st_find(m->file, own)) != NULL)
		src->nparts = 1;
	else if (model_find_file(m->file, name, src) == -1)
		return -1;
	n = strlen(src->parts[0]->name);
	if (src->nparts == 1 && n > 7 && n < sizeof rows &&
	    strcmp(src->parts[0]->name + n - 7, ".weight") == 0) {
		snprintf(rows, sizeof rows, "%.*s.rows", (int)(n - 7), src->parts[0]->name);
		if ((src->rows = st_find(m->file, rows)) != NULL) {
			int v = -1;
			if (model_meta_int(m, "clipgrep.text.vocab_size", -1, &v, NULL) == -1)
				v = -1;
			src->full_rows = v;
		}
	}
	return 0;
}

/* Record that a lookup found src's file tensors (see model.used). */
static void model_mark(model *m, const model_source *src)
{
	const st_tensor *first = st_tensor_at(m->file, 0);

	for (int i = 0; m->used != NULL && i < src->nparts; i++)
		m->used[src->parts[i] - first] = 1;
	if (m->used != NULL && src->rows != NULL)
		m->used[src->rows - first] = 1;
}

/* "[a, b, c]"; buf holds ST_MAX_DIMS 19-digit dims with room (>= 200). */
static void model_format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
	size_t used = 0;

	used += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < ndim && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
		    (long long)shape[i]);
	if (used < size)
		snprintf(buf + used, size - used, "]");
}

/*
 * The logical (upstream) shape of a resolved source, or -1 when q/k/v
 * parts do not stack (different ranks or trailing dims, or rows whose sum
 * overflows) or a sparse table is malformed (model_sparse_why says how).  Dims are non-negative: st_open checked them.
 */
static int model_source_shape(const model_source *src, int64_t *shape)
{
	const st_tensor *t = src->parts[0];
	int ndim = t->ndim;

	memcpy(shape, t->shape, sizeof(int64_t) * (size_t)ndim);
	if (src->nparts == 3) {
		if (ndim < 1)
			return -1;
		for (int i = 1; i < 3; i++) {
			const st_tensor *p = src->parts[i];
			if (p->ndim != ndim ||
			    memcmp(p->shape + 1, t->shape + 1, sizeof(int64_t) * (size_t)(ndim - 1)) != 0 ||
			    p->shape[0] > INT64_MAX - shape[0])
				return -1;
			shape[0] += p->shape[0];
		}
	}
	if (src->transpose && ndim == 2) {
		shape[0] = t->shape[1];
		shape[1] = t->shape[0];
	}
	if (src->rows != NULL) {
		if (ndim != 2 || src->rows->ndim != 1 || src->rows->shape[0] != t->shape[0] ||
		    src->rows->dtype != ST_I32 || src->full_rows <= 0)
			return -1;
		shape[0] = src->full_rows;
	}
	return ndim;
}

/* Why model_source_shape refused src (named name), into *cause. */
static void model_source_why(const model *m, const model_source *src, const char *name,
    char **cause)
{
	if (src->rows == NULL)
		util_set_cause(cause, "%s: %s: q/k/v parts do not fit together", UTIL_NAME(m->path),
		    name);
	else if (src->full_rows <= 0)
		util_set_cause(cause, "%s: %s is stored as rows (%s) but clipgrep.text.vocab_size "
		    "does not say how many the table has", UTIL_NAME(m->path), name, src->rows->name);
	else
		util_set_cause(cause, "%s: %s: %s must be I32 [%lld], one token id per row of %s",
		    UTIL_NAME(m->path), name, src->rows->name, (long long)src->parts[0]->shape[0],
		    src->parts[0]->name);
}

/* The product of the dims in *numel; -1 when it overflows a size_t. */
static int model_shape_numel(int ndim, const int64_t *shape, size_t *numel)
{
	size_t n = 1;

	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX)
			return -1;
		if (shape[i] != 0 && n > SIZE_MAX / (size_t)shape[i])
			return -1;
		n *= (size_t)shape[i];
	}
	*numel = n;
	return 0;
}

/*
 * Refuse a tower tensor's shape that no CLIP can have: a zero dimension
 * (no data, so the others are unchecked by st_open and could be anything)
 * or one beyond MODEL_MAX_DIM.  what names it ("clip.visual.proj", or
 * "X (q_proj in the file)").
 */
static int model_shape_sane(const model *m, const char *what, int ndim, const int64_t *shape,
    char **cause)
{
	char s[200];

	int zero = 0, big = 0;

	for (int i = 0; i < ndim; i++) {
		zero |= shape[i] <= 0;
		big |= shape[i] > MODEL_MAX_DIM;
	}
	if (!zero && !big)
		return 0;
	model_format_shape(s, sizeof s, ndim, shape);
	if (zero)
		util_set_cause(cause, "%s: %s has shape %s: a dimension is zero",
		    UTIL_NAME(m->path), what, s);
	else
		util_set_cause(cause, "%s: %s has shape %s: a dimension exceeds %lld",
		    UTIL_NAME(m->path), what, s, (long long)MODEL_MAX_DIM);
	return -1;
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

	if (model_lookup_entry(m, name) != NULL)
		return 1;
	if (model_find(m, name, &src) == -1)
		return 0;
	model_mark(m, &src);
	return 1;
}

/*
 * A sparse table (model_source.rows) into out [full_rows, W] (numel
 * floats, zeroed here): row rows[i] gets stored row i.  Takes out over
 * (freed on failure).  A row id outside the table is an error naming it.
 */
static float *model_sparse_read(model *m, const model_source *src, const char *name,
    float *out, size_t numel, char **cause)
{
	const st_tensor *t = src->parts[0];
	const unsigned char *ids = src->rows->data; /* [n] I32 little-endian */
	size_t W = (size_t)t->shape[1], n = (size_t)t->shape[0];
	float *part = tensor_alloc(t->numel > 0 ? t->numel : 1);

	if (part == NULL) {
		util_set_cause(cause, "%s: %s: out of memory", UTIL_NAME(m->path), name);
		goto fail;
	}
	if (st_read_f32(m->file, t, part, cause) == -1) {
		util_prefix_cause(cause, "%s", UTIL_NAME(m->path));
		goto fail;
	}
	memset(out, 0, numel * sizeof *out);
	for (size_t i = 0; i < n; i++) {
		const unsigned char *b = ids + 4 * i;
		int32_t id = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		    (uint32_t)b[3] << 24);
		if (id < 0 || (int64_t)id >= src->full_rows) {
			util_set_cause(cause, "%s: %s: row %zu is token id %d, outside the table of "
			    "%lld", UTIL_NAME(m->path), src->rows->name, i, (int)id,
			    (long long)src->full_rows);
			goto fail;
		}
		memcpy(out + (size_t)id * W, part + i * W, W * sizeof *out);
	}
	tensor_free(part);
	return out;
fail:
	tensor_free(part);
	tensor_free(out);
	return NULL;
}

/* Materialise a resolved source as fp32 in upstream layout. */
static float *model_source_read(model *m, const model_source *src, const char *name,
    size_t numel, char **cause)
{
	float *out = tensor_alloc(numel), *part = NULL;
	size_t done = 0;

	if (out == NULL) {
		util_set_cause(cause, "%s: %s: out of memory", UTIL_NAME(m->path), name);
		return NULL;
	}
	if (src->rows != NULL)
		return model_sparse_read(m, src, name, out, numel, cause);
	for (int i = 0; i < src->nparts; i++) {
		const st_tensor *t = src->parts[i];
		if (t->numel > numel - done ||
		    (src->nparts > 1 && t->ndim != src->parts[0]->ndim)) {
			util_set_cause(cause, "%s: %s: q/k/v parts do not fit together",
			    UTIL_NAME(m->path), name);
			goto fail;
		}
		if (st_read_f32(m->file, t, out + done, cause) == -1) {
			util_prefix_cause(cause, "%s", UTIL_NAME(m->path));
			goto fail;
		}
		done += t->numel;
	}
	if (done != numel) {
		util_set_cause(cause, "%s: %s: q/k/v parts do not fit together",
		    UTIL_NAME(m->path), name);
		goto fail;
	}
	if (src->transpose && src->parts[0]->ndim == 2) {
		int64_t rows = src->parts[0]->shape[0], cols = src->parts[0]->shape[1];
		if ((part = tensor_alloc(numel)) == NULL) {
			util_set_cause(cause, "%s: %s: out of memory", UTIL_NAME(m->path), name);
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
	char want_s[200], have_s[200];

	if (e == NULL) {
		if (model_find(m, name, &src) == -1) {
			util_set_cause(cause, "%s: tensor %s is missing", UTIL_NAME(m->path), name);
			return NULL;
		}
		model_mark(m, &src);
		size_t numel;
		if ((have_ndim = model_source_shape(&src, have)) == -1 ||
		    model_shape_numel(have_ndim, have, &numel) == -1) {
			model_source_why(m, &src, name, cause);
			return NULL;
		}
		if (m->nentries == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 64;
			model_entry *grown = realloc(m->entries, cap * sizeof *grown);
			if (grown == NULL) {
				util_set_cause(cause, "%s: out of memory", UTIL_NAME(m->path));
				return NULL;
			}
			m->entries = grown;
			m->cap = cap;
		}
		e = &m->entries[m->nentries];
		memset(e, 0, sizeof *e);
		if ((e->name = util_strdup(name)) == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(m->path));
			return NULL;
		}
		e->ndim = have_ndim;
		memcpy(e->shape, have, sizeof(int64_t) * (size_t)have_ndim);
		if ((e->data = model_source_read(m, &src, name, numel, cause)) == NULL) {
			free(e->name);
			return NULL;
		}
		m->nentries++;
		/* The fp32 copy is what is used from now on: the file's pages need not stay. */
		for (int i = 0; i < src.nparts; i++)
			st_release(m->file, src.parts[i]);
	}
	int same = e->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = e->shape[i] == shape[i];
	if (!same) {
		model_format_shape(want_s, sizeof want_s, ndim, shape);
		model_format_shape(have_s, sizeof have_s, e->ndim, e->shape);
		util_set_cause(cause, "%s: %s: expected %s, file has %s", UTIL_NAME(m->path), name,
		    want_s, have_s);
		return NULL;
	}
	return e->data;
}

int model_tensor_in_file(model *m, const char *name, int ndim, const int64_t *shape,
    const st_tensor **out, char **cause)
{
	model_source src;
	const st_tensor *t;
	int same;

	if (model_find(m, name, &src) == -1) {
		util_set_cause(cause, "%s: tensor %s is missing", UTIL_NAME(m->path), name);
		return -1;
	}
	model_mark(m, &src);
	t = src.parts[0];
	/* q/k/v parts, a transpose and a sparse table all need the dense copy */
	if (src.nparts != 1 || src.transpose || src.rows != NULL ||
	    (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16))
		return 1;
	same = t->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same) {
		char want_s[200], have_s[200];
		model_format_shape(want_s, sizeof want_s, ndim, shape);
		model_format_shape(have_s, sizeof have_s, t->ndim, t->shape);
		util_set_cause(cause, "%s: %s: expected %s, file has %s", UTIL_NAME(m->path), name,
		    want_s, have_s);
		return -1;
	}
	*out = t;
	return 0;
}

void model_tensor_in_file_release(model *m, const st_tensor *t)
{
	st_release(m->file, t);
}

void model_tensor_release(model *m, const char *name)
{
	model_entry *e = model_lookup_entry(m, name);

	if (e == NULL)
		return;
	tensor_free(e->data);
	free(e->name);
	/* Entries are found by name, never held: the last one can take this slot. */
	*e = m->entries[--m->nentries];
#ifdef __GLIBC__
	/*
	 * glibc serves blocks below its mmap threshold, which rises to the size of
	 * the last large block freed, from the heap, and keeps a freed one there:
	 * without a trim the copies a tower packed stay resident after all.
	 */
	malloc_trim(0);
#endif
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
	char own[512];
	const char *v;

	/* A head's view: "clipgrep.head.<name>.K" overrides "clipgrep.K". */
	if (m->head != NULL && strncmp(key, "clipgrep.", 9) == 0 &&
	    (size_t)snprintf(own, sizeof own, "clipgrep.head.%s.%s", m->head, key + 9) < sizeof own &&
	    (v = st_metadata(m->file, own)) != NULL)
		return v;
	return st_metadata(m->file, key);
}

const char *model_heads(const model *m)
{
	return st_metadata(m->file, "clipgrep.heads");
}

const char *model_head(const model *m)
{
	return m->head;
}

int model_heads_next(const char **list, char *name, size_t size)
{
	const char *p = *list, *end;
	size_t n;

	while (*p == ',' || *p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	for (end = p; *end != '\0' && *end != ','; end++)
		;
	*list = end;
	for (n = (size_t)(end - p); n > 0 && p[n - 1] == ' '; n--)
		;
	if (n == 0 || n >= size || n > MODEL_HEAD_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		    p[i] == '_'))
			return -1;
	memcpy(name, p, n);
	name[n] = '\0';
	return 1;
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
		util_set_cause(cause, "%s: metadata %s: '%s' is not an integer",
		    UTIL_NAME(m->path), key, s);
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
		util_set_cause(cause, "%s: metadata %s: '%s' is not a number", UTIL_NAME(m->path),
		    key, s);
		return -1;
	}
	*out = (float)v;
	return 0;
}

/*
 * Shape of an upstream tower tensor without reading it: its rank, -1 if
 * absent (no cause), -2 with *cause when a dimension is zero or beyond
 * MODEL_MAX_DIM, or when q/k/v parts do not stack.  Every shape the
 * configuration is inferred from comes through here, so what follows can
 * compute with the dims as ints.
 */
static int model_peek(model *m, const char *name, int64_t *shape, char **cause)
{
	model_source src;
	char what[400], s[3][200];
	int ndim;

	if (model_find(m, name, &src) == -1)
		return -1;
	model_mark(m, &src);
	for (int i = 0; i < src.nparts; i++) {
		const st_tensor *t = src.parts[i];
		if (strcmp(t->name, name) == 0)
			snprintf(what, sizeof what, "%s", name);
		else
			snprintf(what, sizeof what, "%s (%s in the file)", name, t->name);
		if (model_shape_sane(m, what, t->ndim, t->shape, cause) == -1)
			return -2;
	}
	if ((ndim = model_source_shape(&src, shape)) == -1 && src.rows != NULL) {
		model_source_why(m, &src, name, cause);
		return -2;
	}
	if (ndim == -1) {
		for (int i = 0; i < 3; i++)
			model_format_shape(s[i], sizeof s[i], src.parts[i]->ndim, src.parts[i]->shape);
		util_set_cause(cause, "%s: %s: q/k/v parts %s, %s and %s do not stack",
		    UTIL_NAME(m->path), name,
		    s[0], s[1], s[2]);
		return -2;
	}
	if (model_shape_sane(m, name, ndim, shape, cause) == -1)
		return -2;
	return ndim;
}

/* Resblocks in a tower, counted up to one past the limit. */
static int model_count_layers(model *m, const char *prefix)
{
	char name[256];
	int n = 0;

	while (n <= MODEL_MAX_LAYERS) {
		snprintf(name, sizeof name, "%s%d.ln_1.weight", prefix, n);
		if (!model_has(m, name))
			break;
		n++;
	}
	return n;
}

/*
 * One config field: inferred from shapes (inferred >= 0; why says from
 * what, e.g. "clip.visual.proj has shape [768, 512]"), overridden or
 * supplied by metadata, and an error when both exist and disagree or the
 * value is outside 1..max.
 */
static int model_config_field(model *m, const char *key, int64_t inferred, const char *why,
    int max, int *out, char **cause)
{
	int v;

	if (inferred > max) {
		util_set_cause(cause, "%s: %s, so %s would be %lld, beyond the limit %d",
		    UTIL_NAME(m->path), why, key, (long long)inferred, max);
		return -1;
	}
	if (model_meta_int(m, key, (int)inferred, &v, cause) == -1)
		return -1;
	if (inferred >= 0 && v != inferred) {
		util_set_cause(cause, "%s: metadata %s is %d but %s", UTIL_NAME(m->path), key, v,
		    why);
		return -1;
	}
	if (v <= 0) {
		util_set_cause(cause, "%s: cannot tell %s: set it in the metadata",
		    UTIL_NAME(m->path), key);
		return -1;
	}
	if (v > max) {
		util_set_cause(cause, "%s: metadata %s is %d, beyond the limit %d",
		    UTIL_NAME(m->path), key, v, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* "NAME has shape [..]" into buf, for config messages. */
static void model_why_shape(char *buf, size_t size, const char *name, int ndim,
    const int64_t *shape)
{
	char s[200];

	model_format_shape(s, sizeof s, ndim, shape);
	snprintf(buf, size, "%s has shape %s", name, s);
}

static int model_expect_one(model *m, const char *name, int ndim, int64_t d0, int64_t d1,
    int64_t d2, int64_t d3, char **cause);

/*
 * One tensor the architecture needs, with the shape it needs.  Under
 * model_check_all a failure is reported and counted and the check goes on.
 */
static int model_expect(model *m, const char *name, int ndim, int64_t d0, int64_t d1,
    int64_t d2, int64_t d3, char **cause)
{
	char *why = NULL;

	if (m->report == NULL)
		return model_expect_one(m, name, ndim, d0, d1, d2, d3, cause);
	if (model_expect_one(m, name, ndim, d0, d1, d2, d3, &why) == -1) {
		m->report(m->report_arg, name, why != NULL ? why : "out of memory");
		m->problems++;
	}
	free(why);
	return 0;
}

static int model_expect_one(model *m, const char *name, int ndim, int64_t d0, int64_t d1,
    int64_t d2, int64_t d3, char **cause)
{
	const int64_t want[4] = { d0, d1, d2, d3 };
	int64_t have[ST_MAX_DIMS];
	char want_s[200], have_s[200];
	int n = model_peek(m, name, have, cause);

	if (n == -1) {
		util_set_cause(cause, "%s: tensor %s is missing", UTIL_NAME(m->path), name);
		return -1;
	}
	if (n == -2)
		return -1;
	if (n != ndim || memcmp(have, want, sizeof(int64_t) * (size_t)ndim) != 0) {
		model_format_shape(want_s, sizeof want_s, ndim, want);
		model_format_shape(have_s, sizeof have_s, n, have);
		util_set_cause(cause, "%s: %s has shape %s, expected %s", UTIL_NAME(m->path), name,
		    have_s, want_s);
		return -1;
	}
	return 0;
}

/* A tower's resblocks: the tensors core/block.c reads, by shape only. */
static int model_expect_blocks(model *m, const char *prefix, int layers, int64_t d,
    char **cause)
{
	static const struct {
		const char *suffix;
		int r0, r1; /* dims as multiples of the width; r1 = 0: 1-D */
	} block[] = {
		{ "ln_1.weight", 1, 0 }, { "ln_1.bias", 1, 0 },
		{ "attn.in_proj_weight", 3, 1 }, { "attn.in_proj_bias", 3, 0 },
		{ "attn.out_proj.weight", 1, 1 }, { "attn.out_proj.bias", 1, 0 },
		{ "ln_2.weight", 1, 0 }, { "ln_2.bias", 1, 0 },
		{ "mlp.c_fc.weight", 4, 1 }, { "mlp.c_fc.bias", 4, 0 },
		{ "mlp.c_proj.weight", 1, 4 }, { "mlp.c_proj.bias", 1, 0 },
	};
	char name[256];

	for (int l = 0; l < layers; l++)
		for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
			snprintf(name, sizeof name, "%s%d.%s", prefix, l, block[i].suffix);
			if (model_expect(m, name, block[i].r1 ? 2 : 1, block[i].r0 * d,
			    block[i].r1 * d, 0, 0, cause) == -1)
				return -1;
		}
	return 0;
}

/*
 * Every tensor of both CLIP towers, by shape, against the configuration:
 * a broken file is refused when it is opened rather than when a tower is
 * first built (after an index was started with it).  Reads no data.  The
 * heads (EA, TC-MGC, the temporal transformer) are left to their modules,
 * which check their tensors when they load: their layout depends on
 * settings those modules own.
 */
static int model_check_towers(model *m, char **cause)
{
	const model_config *c = &m->config;
	int64_t vw = c->vision_width, tw = c->text_width, e = c->embed_dim;
	int64_t grid = c->image_size / c->vision_patch;

	if (model_expect(m, "clip.visual.conv1.weight", 4, vw, 3, c->vision_patch,
		c->vision_patch, cause) == -1 ||
	    model_expect(m, "clip.visual.class_embedding", 1, vw, 0, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.visual.positional_embedding", 2, grid * grid + 1, vw, 0, 0,
		cause) == -1 ||
	    model_expect(m, "clip.visual.ln_pre.weight", 1, vw, 0, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.visual.ln_pre.bias", 1, vw, 0, 0, 0, cause) == -1 ||
	    model_expect_blocks(m, "clip.visual.transformer.resblocks.", c->vision_layers, vw,
		cause) == -1 ||
	    model_expect(m, "clip.visual.ln_post.weight", 1, vw, 0, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.visual.ln_post.bias", 1, vw, 0, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.visual.proj", 2, vw, e, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.token_embedding.weight", 2, c->vocab_size, tw, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.positional_embedding", 2, c->context_length, tw, 0, 0,
		cause) == -1 ||
	    model_expect_blocks(m, "clip.transformer.resblocks.", c->text_layers, tw, cause) == -1 ||
	    model_expect(m, "clip.ln_final.weight", 1, tw, 0, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.ln_final.bias", 1, tw, 0, 0, 0, cause) == -1 ||
	    model_expect(m, "clip.text_projection", 2, tw, e, 0, 0, cause) == -1)
		return -1;
	return 0;
}

static int model_read_config(model *m, char **cause)
{
	model_config *c = &m->config;
	int64_t s[ST_MAX_DIMS], ps[ST_MAX_DIMS];
	int64_t vw = -1, patch = -1, image = -1, embed = -1, tw = -1, ctx = -1, vocab = -1;
	int64_t vlayers, tlayers;
	char w_vw[300] = "", w_patch[300] = "", w_image[300] = "", w_embed[300] = "";
	char w_tw[300] = "", w_ctx[300] = "", w_vocab[300] = "", w_vl[300], w_tl[300];
	int n, pn;
	const char *arch = model_meta(m, "clipgrep.architecture");

	if (arch == NULL)
		arch = "clip";
	if (strcmp(arch, "clip") != 0 && strcmp(arch, "ea") != 0 && strcmp(arch, "tcmgc") != 0) {
		util_set_cause(cause, "%s: unknown architecture '%s' (expected clip, ea or tcmgc)",
		    UTIL_NAME(m->path), arch);
		return -1;
	}
	snprintf(c->architecture, sizeof c->architecture, "%s", arch);

	/* model_peek bounds every dim (1..MODEL_MAX_DIM): the casts and the
	 * products below cannot overflow. */
#define PEEK(name, dims) \
	if ((n = model_peek(m, name, s, cause)) == -2) \
		return -1; \
	if (n == (dims))
	PEEK("clip.visual.class_embedding", 1) {
		vw = s[0];
		model_why_shape(w_vw, sizeof w_vw, "clip.visual.class_embedding", n, s);
	}
	PEEK("clip.visual.conv1.weight", 4) {
		patch = s[2];
		model_why_shape(w_patch, sizeof w_patch, "clip.visual.conv1.weight", n, s);
	}
	PEEK("clip.visual.positional_embedding", 2) {
		if (patch > 0) {
			int64_t grid = lround(sqrt((double)(s[0] - 1)));
			if (grid * grid + 1 == s[0]) {
				image = grid * patch;
				snprintf(w_image, sizeof w_image, "%s and ", w_patch);
				model_why_shape(w_image + strlen(w_image), sizeof w_image - strlen(w_image),
				    "clip.visual.positional_embedding", n, s);
			}
		}
	}
	PEEK("clip.ln_final.weight", 1) {
		tw = s[0];
		model_why_shape(w_tw, sizeof w_tw, "clip.ln_final.weight", n, s);
	}
	/* The joint width from whichever projection has the right rows, so
	 * that a transposed one is reported by the shape check as such. */
	PEEK("clip.text_projection", 2) {
		if (s[0] == tw) {
			embed = s[1];
			model_why_shape(w_embed, sizeof w_embed, "clip.text_projection", n, s);
		}
	}
	if ((pn = model_peek(m, "clip.visual.proj", ps, cause)) == -2)
		return -1;
	if (pn == 2 && (ps[0] == vw || embed < 0)) {
		embed = ps[1];
		model_why_shape(w_embed, sizeof w_embed, "clip.visual.proj", pn, ps);
	}
	PEEK("clip.positional_embedding", 2) {
		ctx = s[0];
		model_why_shape(w_ctx, sizeof w_ctx, "clip.positional_embedding", n, s);
	}
	PEEK("clip.token_embedding.weight", 2) {
		vocab = s[0];
		model_why_shape(w_vocab, sizeof w_vocab, "clip.token_embedding.weight", n, s);
	}
#undef PEEK
	if (vw < 0 || tw < 0) {
		util_set_cause(cause, "%s: not a CLIP model: %s is missing", UTIL_NAME(m->path),
		    vw < 0 ? "clip.visual.class_embedding" : "clip.ln_final.weight");
		return -1;
	}
	vlayers = model_count_layers(m, "clip.visual.transformer.resblocks.");
	tlayers = model_count_layers(m, "clip.transformer.resblocks.");
	snprintf(w_vl, sizeof w_vl, "the file has %lld resblocks (clip.visual.transformer.resblocks.N)",
	    (long long)vlayers);
	snprintf(w_tl, sizeof w_tl, "the file has %lld resblocks (clip.transformer.resblocks.N)",
	    (long long)tlayers);

	if (model_config_field(m, "clipgrep.embed_dim", embed, w_embed, MODEL_MAX_WIDTH,
		&c->embed_dim, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.width", vw, w_vw, MODEL_MAX_WIDTH,
		&c->vision_width, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.layers", vlayers, w_vl, MODEL_MAX_LAYERS,
		&c->vision_layers, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.patch", patch, w_patch, MODEL_MAX_IMAGE,
		&c->vision_patch, cause) == -1 ||
	    model_config_field(m, "clipgrep.vision.image_size", image, w_image, MODEL_MAX_IMAGE,
		&c->image_size, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.width", tw, w_tw, MODEL_MAX_WIDTH,
		&c->text_width, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.layers", tlayers, w_tl, MODEL_MAX_LAYERS,
		&c->text_layers, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.context_length", ctx, w_ctx, MODEL_MAX_CONTEXT,
		&c->context_length, cause) == -1 ||
	    model_config_field(m, "clipgrep.text.vocab_size", vocab, w_vocab, MODEL_MAX_VOCAB,
		&c->vocab_size, cause) == -1)
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
		    "(set clipgrep.vision.heads)", UTIL_NAME(m->path), c->vision_heads,
		    c->vision_width);
		return -1;
	}
	if (c->text_heads <= 0 || c->text_width % c->text_heads != 0) {
		util_set_cause(cause, "%s: text head count %d does not divide the width %d "
		    "(set clipgrep.text.heads)", UTIL_NAME(m->path), c->text_heads, c->text_width);
		return -1;
	}
	if (c->frames <= 0 || c->frames > 1024) {
		util_set_cause(cause, "%s: clipgrep.frames must be 1..1024", UTIL_NAME(m->path));
		return -1;
	}
	if (c->max_words < 2 || c->max_words > c->context_length) {
		util_set_cause(cause, "%s: clipgrep.max_words must be 2..%d (the context length)",
		    UTIL_NAME(m->path), c->context_length);
		return -1;
	}
	if (c->image_size % c->vision_patch != 0) {
		util_set_cause(cause, "%s: image size %d is not a multiple of the patch %d",
		    UTIL_NAME(m->path), c->image_size, c->vision_patch);
		return -1;
	}
	return 0;
}

model *model_load(const char *path, char **cause)
{
	return model_load_flags(path, 0, cause);
}

model *model_load_flags(const char *path, int flags, char **cause)
{
	return model_load_head(path, NULL, flags, cause);
}

/* Whether head is one of the names in m's clipgrep.heads; -1 with *cause if not. */
static int model_check_head(const model *m, const char *head, char **cause)
{
	const char *list = model_heads(m), *p = list;
	char name[MODEL_HEAD_NAME_MAX + 1];
	int r;

	while (list != NULL && (r = model_heads_next(&p, name, sizeof name)) != 0) {
		if (r == -1) {
			util_set_cause(cause, "%s: metadata clipgrep.heads: '%s' is not a list of head "
			    "names (a-z, 0-9, '-', '_', at most %d characters each, separated by ',')",
			    UTIL_NAME(m->path), list, MODEL_HEAD_NAME_MAX);
			return -1;
		}
		if (strcmp(name, head) == 0)
			return 0;
	}
	util_set_cause(cause, "%s: no head '%s' (the file's heads: %s)", UTIL_NAME(m->path), head,
	    list != NULL ? list : "none, it is a single model");
	return -1;
}

model *model_load_head(const char *path, const char *head, int flags, char **cause)
{
	model *m = calloc(1, sizeof *m);

	if (m == NULL || (m->path = util_strdup(path)) == NULL ||
	    (head != NULL && (m->head = util_strdup(head)) == NULL)) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		if (m != NULL)
			free(m->path);
		free(m);
		return NULL;
	}
	if ((m->file = st_open(path, cause)) == NULL ||
	    (head != NULL && model_check_head(m, head, cause) == -1) ||
	    (m->used = calloc(st_count(m->file) + 1, 1)) == NULL ||
	    model_read_config(m, cause) == -1 ||
	    (!(flags & MODEL_LOAD_NO_TOWERS) && model_check_towers(m, cause) == -1)) {
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
	free(m->used);
	tokenizer_free(m->tok);
	st_close(m->file);
	free(m->path);
	free(m->head);
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
		    "(clipgrep.tokenizer.merges); give one with --bpe FILE", UTIL_NAME(m->path));
		return NULL;
	}
	m->tok = tokenizer_load_merges(merges, strlen(merges), m->path, cause);
	return m->tok;
}

int model_check_all(model *m, model_check_fn fn, void *arg)
{
	int n;

	m->report = fn;
	m->report_arg = arg;
	m->problems = 0;
	model_check_towers(m, NULL);
	n = m->problems;
	m->report = NULL;
	m->report_arg = NULL;
	return n;
}

size_t model_file_count(const model *m)
{
	return st_count(m->file);
}

const char *model_file_tensor(const model *m, size_t i, const char **dtype, int *used)
{
	const st_tensor *t = st_tensor_at(m->file, i);

	if (t == NULL)
		return NULL;
	if (dtype != NULL)
		*dtype = st_dtype_name(t->dtype);
	if (used != NULL)
		*used = m->used[i];
	return t->name;
}
