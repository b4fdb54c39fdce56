/*
 * import — torch.save checkpoint to clipgrep model file, mirroring
 * tools/convert/convert.py (see import.h).  Each step names the Python
 * function it follows; keep them in step.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "torchfile.h"
#include "util.h"

typedef struct {
	char *name;
	const char *dtype;        /* safetensors name: F32, F16, I64, I32, U8 */
	int ndim;
	int64_t shape[PICKLE_MAX_DIMS];
	unsigned char *data;      /* C-contiguous, little-endian */
	size_t nbytes;
	size_t seq;               /* position in the file, for "first" lookups */
} im_tensor;

typedef struct {
	im_tensor *t;
	size_t n;
} im_set;

typedef struct {
	char *buf;
	size_t len, cap;
	int oom;
} im_buf;

/* The clipgrep.* metadata of safetensors inputs, in order (convert.py's meta_in). */
typedef struct {
	char **keys, **values;
	size_t n;
} im_meta_in;

static void im_add(im_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->buf, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void im_str(im_buf *b, const char *s)
{
	im_add(b, s, strlen(s));
}

/* json.dumps with ensure_ascii: every code point outside ' '..'~' as \uXXXX. */
static int im_json(im_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[16];

	im_add(b, "\"", 1);
	while (*p != '\0') {
		int n = util_utf8_length(p);
		uint32_t c;
		if (n <= 0)
			return -1;
		c = n == 1 ? p[0] : n == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f) :
		    n == 3 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f) :
		    (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
		    (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
		p += n;
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			im_add(b, esc, 2);
		} else if (c == '\n')
			im_str(b, "\\n");
		else if (c == '\r')
			im_str(b, "\\r");
		else if (c == '\t')
			im_str(b, "\\t");
		else if (c == '\b')
			im_str(b, "\\b");
		else if (c == '\f')
			im_str(b, "\\f");
		else if (c >= 0x20 && c <= 0x7e) {
			esc[0] = (char)c;
			im_add(b, esc, 1);
		} else if (c < 0x10000) {
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
			im_str(b, esc);
		} else {
			c -= 0x10000;
			snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xd800 | c >> 10),
			    (unsigned)(0xdc00 | (c & 0x3ff)));
			im_str(b, esc);
		}
	}
	im_add(b, "\"", 1);
	return 0;
}

/* Python's repr(float) for finite x: the shortest digits that read back. */
static void im_repr(double x, char *out, size_t size)
{
	char e[40], digits[24];
	int p, exp, nd = 0;
	const char *q;

	for (p = 1; p <= 17; p++) {
		snprintf(e, sizeof e, "%.*e", p - 1, x);
		if (strtod(e, NULL) == x)
			break;
	}
	q = e;
	if (*q == '-')
		q++;
	for (; *q != 'e'; q++)
		if (*q != '.')
			digits[nd++] = *q;
	digits[nd] = '\0';
	exp = atoi(q + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
	if (exp >= -4 && exp < 16) {
		char buf[64];
		size_t k = 0;
		if (exp >= 0) {
			for (int i = 0; i <= exp; i++)
				buf[k++] = i < nd ? digits[i] : '0';
			buf[k++] = '.';
			if (nd > exp + 1)
				for (int i = exp + 1; i < nd; i++)
					buf[k++] = digits[i];
			else
				buf[k++] = '0';
		} else {
			buf[k++] = '0', buf[k++] = '.';
			for (int i = 0; i < -exp - 1; i++)
				buf[k++] = '0';
			for (int i = 0; i < nd; i++)
				buf[k++] = digits[i];
		}
		buf[k] = '\0';
		snprintf(out, size, "%s%s", x < 0 ? "-" : "", buf);
	} else
		snprintf(out, size, "%s%c%s%s%se%c%02d", x < 0 ? "-" : "", digits[0], nd > 1 ? "." : "",
		    digits + 1, "", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static int im_cmp(const void *a, const void *b)
{
	const im_tensor *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Later entries win, as in a Python dict: sort them first among equals. */
	return c != 0 ? c : x->seq < y->seq ? 1 : -1;
}

static void im_set_free(im_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->t[i].name);
		free(s->t[i].data);
	}
	free(s->t);
}

static const im_tensor *im_find(const im_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return &s->t[i];
	return NULL;
}

static int im_has_prefix(const im_set *s, const char *prefix)
{
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->t[i].name, prefix, strlen(prefix)) == 0)
			return 1;
	return 0;
}

static int im_grow(im_set *s, size_t more)
{
	im_tensor *t = realloc(s->t, (s->n + more + 1) * sizeof *t);

	if (t == NULL)
		return -1;
	memset(t + s->n, 0, (more + 1) * sizeof *t);
	s->t = t;
	return 0;
}

/*
 * read_torch + to_numpy: the tensors of a torch.save file or a TorchScript
 * archive, "module." gone, bf16/f64 as f32, appended to s.
 */
static int im_read(const char *in, im_set *s, char **cause)
{
	torchfile *f = torchfile_open(in, cause);
	size_t n;

	if (f == NULL)
		return -1;
	n = torchfile_count(f);
	if (im_grow(s, n) < 0)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const pickle_tensor *t = torchfile_tensor_at(f, i);
		im_tensor *o = &s->t[s->n];
		size_t numel = (size_t)pickle_tensor_numel(t), es = pickle_dtype_size(t->dtype);
		unsigned char *raw;
		const char *nm = strncmp(t->name, "module.", 7) == 0 ? t->name + 7 : t->name;

		if ((raw = malloc(numel * es + 1)) == NULL)
			goto oom;
		torchfile_read(f, i, raw);
		o->seq = s->n;
		o->ndim = t->ndim;
		memcpy(o->shape, t->shape, sizeof o->shape);
		if ((o->name = util_strdup(nm)) == NULL) {
			free(raw);
			goto oom;
		}
		s->n++;
		switch (t->dtype) {
		case PICKLE_BF16:
		case PICKLE_F64:
			if ((o->data = malloc(numel * 4 + 1)) == NULL) {
				free(raw);
				goto oom;
			}
			for (size_t k = 0; k < numel; k++) {
				float v;
				if (t->dtype == PICKLE_BF16) {
					uint32_t u = (uint32_t)(raw[2 * k] | raw[2 * k + 1] << 8) << 16;
					memcpy(&v, &u, 4);
				} else {
					double d;
					memcpy(&d, raw + 8 * k, 8);
					v = (float)d;
				}
				memcpy(o->data + 4 * k, &v, 4);
			}
			free(raw);
			o->dtype = "F32";
			o->nbytes = numel * 4;
			break;
		default:
			o->data = raw;
			o->nbytes = numel * es;
			o->dtype = t->dtype == PICKLE_F32 ? "F32" : t->dtype == PICKLE_F16 ? "F16" :
			    t->dtype == PICKLE_I64 ? "I64" : t->dtype == PICKLE_I32 ? "I32" : "U8";
		}
	}
	torchfile_close(f);
	return 0;
oom:
	torchfile_close(f);
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
	return -1;
}

/*
 * read_any for a .safetensors file (st.load): its tensors appended to s,
 * BF16 as F32; its metadata's clipgrep.* keys, in file order, into meta_in
 * (a clipgrep model file being re-imported keeps its settings).
 */
static int im_read_safetensors(const char *in, im_set *s, im_meta_in *meta_in, char **cause)
{
	st_file *f = st_open(in, cause);
	size_t n;

	if (f == NULL)
		return -1;
	n = st_count(f);
	if (im_grow(s, n) < 0)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const st_tensor *t = st_tensor_at(f, i);
		im_tensor *o = &s->t[s->n];
		size_t es = st_dtype_size(t->dtype);

		o->seq = s->n;
		o->ndim = t->ndim;
		for (int d = 0; d < t->ndim; d++)
			o->shape[d] = t->shape[d];
		if ((o->name = util_strdup(t->name)) == NULL)
			goto oom;
		s->n++;
		if (t->dtype == ST_BF16) {
			const unsigned char *raw = t->data;
			if ((o->data = malloc(t->numel * 4 + 1)) == NULL)
				goto oom;
			for (size_t k = 0; k < t->numel; k++) {
				uint32_t u = (uint32_t)(raw[2 * k] | raw[2 * k + 1] << 8) << 16;
				memcpy(o->data + 4 * k, &u, 4);
			}
			o->dtype = "F32";
			o->nbytes = t->numel * 4;
			continue;
		}
		o->nbytes = t->numel * es;
		if ((o->data = malloc(o->nbytes + 1)) == NULL)
			goto oom;
		memcpy(o->data, t->data, o->nbytes);
		o->dtype = t->dtype == ST_F32 ? "F32" : t->dtype == ST_F16 ? "F16" :
		    t->dtype == ST_I64 ? "I64" : t->dtype == ST_I32 ? "I32" : "U8";
	}
	for (size_t i = 0; i < st_metadata_count(f); i++) {
		const char *k = st_metadata_key_at(f, i), *v = k != NULL ? st_metadata(f, k) : NULL;
		char **kk, **vv;
		if (k == NULL || v == NULL || strncmp(k, "clipgrep.", 9) != 0)
			continue;
		/* meta_in.update: a later file's value replaces an earlier one's */
		for (size_t j = 0; j < meta_in->n; j++)
			if (strcmp(meta_in->keys[j], k) == 0) {
				char *nv = util_strdup(v);
				if (nv == NULL)
					goto oom;
				free(meta_in->values[j]);
				meta_in->values[j] = nv;
				k = NULL;
				break;
			}
		if (k == NULL)
			continue;
		if ((kk = realloc(meta_in->keys, (meta_in->n + 1) * sizeof *kk)) == NULL)
			goto oom;
		meta_in->keys = kk;
		if ((vv = realloc(meta_in->values, (meta_in->n + 1) * sizeof *vv)) == NULL)
			goto oom;
		meta_in->values = vv;
		kk[meta_in->n] = util_strdup(k);
		vv[meta_in->n] = util_strdup(v);
		if (kk[meta_in->n] == NULL || vv[meta_in->n] == NULL) {
			free(kk[meta_in->n]);
			free(vv[meta_in->n]);
			goto oom;
		}
		meta_in->n++;
	}
	st_close(f);
	return 0;
oom:
	st_close(f);
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
	return -1;
}

static void im_meta_in_free(im_meta_in *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
}

/* meta_in.get(key), "" (falsy in Python) as absent. */
static const char *im_meta_get(const im_meta_in *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->keys[i], key) == 0)
			return m->values[i][0] != '\0' ? m->values[i] : NULL;
	return NULL;
}

static int im_rename(im_tensor *t, const char *name)
{
	char *n = util_strdup(name);

	if (n == NULL)
		return -1;
	free(t->name);
	t->name = n;
	return 0;
}

/* v.T of a matrix, made contiguous. */
static int im_transpose(im_tensor *t)
{
	size_t es = t->nbytes / (size_t)(t->shape[0] * t->shape[1] > 0 ? t->shape[0] * t->shape[1] : 1);
	size_t r = (size_t)t->shape[0], c = (size_t)t->shape[1];
	unsigned char *o = malloc(t->nbytes + 1);

	if (o == NULL)
		return -1;
	for (size_t i = 0; i < r; i++)
		for (size_t j = 0; j < c; j++)
			memcpy(o + (j * r + i) * es, t->data + (i * c + j) * es, es);
	free(t->data);
	t->data = o;
	t->shape[0] = (int64_t)c;
	t->shape[1] = (int64_t)r;
	return 0;
}

/*
 * from_hf: Hugging Face CLIPModel names to upstream clip.* names -- q, k, v
 * projections packed into in_proj (concatenated along the rows), the two
 * projections transposed, position_ids buffers dropped.
 */
static int im_from_hf(const char *in, im_set *s, char **cause)
{
	static const char *const simple[][2] = {
		{ "vision_model.embeddings.class_embedding", "clip.visual.class_embedding" },
		{ "vision_model.embeddings.patch_embedding.weight", "clip.visual.conv1.weight" },
		{ "vision_model.embeddings.position_embedding.weight", "clip.visual.positional_embedding" },
		{ "vision_model.pre_layrnorm.weight", "clip.visual.ln_pre.weight" },
		{ "vision_model.pre_layrnorm.bias", "clip.visual.ln_pre.bias" },
		{ "vision_model.post_layernorm.weight", "clip.visual.ln_post.weight" },
		{ "vision_model.post_layernorm.bias", "clip.visual.ln_post.bias" },
		{ "text_model.embeddings.token_embedding.weight", "clip.token_embedding.weight" },
		{ "text_model.embeddings.position_embedding.weight", "clip.positional_embedding" },
		{ "text_model.final_layer_norm.weight", "clip.ln_final.weight" },
		{ "text_model.final_layer_norm.bias", "clip.ln_final.bias" },
		{ "logit_scale", "clip.logit_scale" },
	};
	static const char *const layer[][2] = {
		{ "layer_norm1", "ln_1" }, { "layer_norm2", "ln_2" }, { "mlp.fc1", "mlp.c_fc" },
		{ "mlp.fc2", "mlp.c_proj" }, { "self_attn.out_proj", "attn.out_proj" },
	};
	char name[512];
	size_t k = 0, i;

	for (i = 0; i < s->n; i++) {
		im_tensor *t = &s->t[i];
		const char *nm = t->name, *rest = NULL, *base = NULL, *p;
		size_t len = strlen(nm), j;
		int done = 0;

		if (len >= 12 && strcmp(nm + len - 12, "position_ids") == 0) {
			free(t->name);
			free(t->data);
			continue;
		}
		if (strncmp(nm, "vision_model.encoder.layers.", 28) == 0)
			rest = nm + 28, base = "clip.visual.transformer.resblocks.";
		else if (strncmp(nm, "text_model.encoder.layers.", 26) == 0)
			rest = nm + 26, base = "clip.transformer.resblocks.";
		if (rest != NULL) {
			for (p = rest; *p >= '0' && *p <= '9'; p++)
				;
			if (p == rest || *p != '.' || p - rest > 9)
				goto unknown;
			/* self_attn.{q,k,v}_proj.{weight,bias}: kept under a marker name for packing */
			if (strncmp(p + 1, "self_attn.", 10) == 0 && strchr("qkv", p[11]) != NULL &&
			    p[11] != '\0' && strncmp(p + 12, "_proj.", 6) == 0 &&
			    (strcmp(p + 18, "weight") == 0 || strcmp(p + 18, "bias") == 0)) {
				snprintf(name, sizeof name, "\x01%s%.*s.attn.in_proj_%s\x01%c", base,
				    (int)(p - rest), rest, p + 18, p[11]);
				done = 1;
			}
			for (j = 0; !done && j < sizeof layer / sizeof layer[0]; j++) {
				size_t a = strlen(layer[j][0]);
				if (strncmp(p + 1, layer[j][0], a) == 0 && p[1 + a] == '.') {
					snprintf(name, sizeof name, "%s%.*s.%s%s", base, (int)(p - rest), rest,
					    layer[j][1], p + 1 + a);
					done = 1;
				}
			}
			if (!done)
				goto unknown;
		}
		for (j = 0; !done && j < sizeof simple / sizeof simple[0]; j++)
			if (strcmp(nm, simple[j][0]) == 0) {
				snprintf(name, sizeof name, "%s", simple[j][1]);
				done = 1;
			}
		if (!done && (strcmp(nm, "visual_projection.weight") == 0 ||
		    strcmp(nm, "text_projection.weight") == 0)) {
			if (t->ndim != 2) {
				util_set_cause(cause, "%s: Hugging Face tensor %s: not a matrix", UTIL_NAME(in),
				    UTIL_NAME(nm));
				goto fail_renaming;
			}
			if (im_transpose(t) < 0)
				goto oom_renaming;
			snprintf(name, sizeof name, "%s", nm[0] == 'v' ? "clip.visual.proj" : "clip.text_projection");
			done = 1;
		}
		if (!done)
			goto unknown;
		if (im_rename(t, name) < 0)
			goto oom_renaming;
		s->t[k++] = *t;
		continue;
unknown:
		util_set_cause(cause, "%s: Hugging Face tensor %s: unknown", UTIL_NAME(in), UTIL_NAME(nm));
		goto fail_renaming;
	}
	s->n = k;
	/* Pack each q, k, v triple (marked "\1NAME\1q") into NAME. */
	for (i = 0; i < s->n; i++) {
		im_tensor *q = &s->t[i], *part[3] = { NULL, NULL, NULL };
		char *end;
		size_t blen, total = 0, row;
		unsigned char *data;

		if (q->name[0] != '\x01')
			continue;
		end = strchr(q->name + 1, '\x01');
		blen = (size_t)(end - q->name);
		for (size_t j = 0; j < s->n; j++)
			if (s->t[j].name[0] == '\x01' && strncmp(s->t[j].name, q->name, blen + 1) == 0 &&
			    strlen(s->t[j].name) == blen + 2) {
				char c = s->t[j].name[blen + 1];
				part[c == 'q' ? 0 : c == 'k' ? 1 : 2] = &s->t[j];
			}
		for (int j = 0; j < 3; j++)
			if (part[j] == NULL) {
				util_set_cause(cause, "%s: %.*s: incomplete q/k/v projections", UTIL_NAME(in),
				    (int)(blen - 1), q->name + 1);
				goto fail;
			}
		for (int j = 0; j < 3; j++) {
			int same = part[j]->ndim == part[0]->ndim && part[j]->ndim >= 1 &&
			    strcmp(part[j]->dtype, part[0]->dtype) == 0;
			for (int d = 1; same && d < part[0]->ndim; d++)
				same = part[j]->shape[d] == part[0]->shape[d];
			if (!same) {
				util_set_cause(cause, "%s: %.*s: q/k/v projections of different shapes or "
				    "dtypes", UTIL_NAME(in), (int)(blen - 1), q->name + 1);
				goto fail;
			}
			total += part[j]->nbytes;
		}
		if ((data = malloc(total + 1)) == NULL)
			goto oom;
		row = 0;
		for (int j = 0; j < 3; j++) {
			memcpy(data + row, part[j]->data, part[j]->nbytes);
			row += part[j]->nbytes;
		}
		/* part[0] (q) becomes the packed tensor; k and v go */
		free(part[0]->data);
		part[0]->data = data;
		part[0]->nbytes = total;
		part[0]->shape[0] = part[0]->shape[0] + part[1]->shape[0] + part[2]->shape[0];
		part[0]->name[blen] = '\0';
		memmove(part[0]->name, part[0]->name + 1, blen);
		for (int j = 1; j < 3; j++) {
			free(part[j]->name);
			free(part[j]->data);
			part[j]->name = NULL;
			part[j]->data = NULL;
		}
		for (size_t j = k = 0; j < s->n; j++)
			if (s->t[j].name != NULL)
				s->t[k++] = s->t[j];
		s->n = k;
		i = (size_t)-1; /* the array moved; start over (few tensors, few triples) */
	}
	return 0;
oom_renaming:
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
fail_renaming:
	/* [0, k) are renamed, [k, i) stale copies, [i, n) untouched: close the gap */
	for (size_t j = i; j < s->n; j++)
		s->t[k++] = s->t[j];
	s->n = k;
	return -1;
oom:
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
fail:
	return -1;
}

/* normalise_names: upstream names; the source kind. */
static const char *im_normalise(const char *in, im_set *s, char **cause)
{
	static const char *const scalars[] = { "input_resolution", "context_length", "vocab_size" };

	if (im_has_prefix(s, "vision_model."))
		return im_from_hf(in, s, cause) < 0 ? NULL : "huggingface";
	if (im_find(s, "visual.class_embedding") != NULL) {
		size_t k = 0;
		for (size_t i = 0; i < s->n; i++) {
			int drop = 0;
			char *nm;
			for (size_t j = 0; j < 3; j++)
				drop |= strcmp(s->t[i].name, scalars[j]) == 0;
			if (drop || (nm = malloc(strlen(s->t[i].name) + 6)) == NULL) {
				free(s->t[i].name);
				free(s->t[i].data);
				if (!drop) {
					util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
					for (size_t j = i + 1; j < s->n; j++)
						s->t[k++] = s->t[j];
					s->n = k;
					return NULL;
				}
				continue;
			}
			sprintf(nm, "clip.%s", s->t[i].name);
			free(s->t[i].name);
			s->t[i].name = nm;
			s->t[k++] = s->t[i];
		}
		s->n = k;
		return "openai";
	}
	if (im_find(s, "clip.visual.class_embedding") != NULL)
		return "upstream";
	util_set_cause(cause, "%s: no CLIP image tower found (clip.visual.class_embedding, "
	    "visual.class_embedding or vision_model.*)", UTIL_NAME(in));
	return NULL;
}

typedef struct {
	const char *key;
	char value[64];
} im_meta;

/* The first tensor in file order whose name starts with prefix and ends with suffix. */
static const im_tensor *im_first(const im_set *s, const char *prefix, const char *suffix)
{
	const im_tensor *best = NULL;

	for (size_t i = 0; i < s->n; i++) {
		size_t n = strlen(s->t[i].name), m = strlen(suffix);
		if (strncmp(s->t[i].name, prefix, strlen(prefix)) == 0 && n >= m &&
		    strcmp(s->t[i].name + n - m, suffix) == 0 && (best == NULL || s->t[i].seq < best->seq))
			best = &s->t[i];
	}
	return best;
}

/* detect_head with default options; meta gets the head's keys in order, *frames F. */
static const char *im_detect(const char *in, const im_set *s, im_meta *meta, int *nmeta,
    long *frames, char **cause)
{
	static const char *const ea_keys[] = { "se_block.", "se_block_excitation.", "cross.",
		"lstm_visual.", "intra_mlp." };
	const im_tensor *t;
	const char *sh, *se;
	long h_exc = -1, h_agg = -1, h;
	int ea = 0;

	*nmeta = 0;
	*frames = -1;
	if (im_find(s, "conditional_transformer.pool_frames.linear_proj.weight") != NULL) {
		if ((t = im_find(s, "attentive_word_logit_weight")) == NULL || t->ndim < 1) {
			util_set_cause(cause, "%s: TC-MGC without attentive_word_logit_weight", UTIL_NAME(in));
			return NULL;
		}
		meta[0].key = "clipgrep.tcmgc.k";
		snprintf(meta[0].value, sizeof meta[0].value, "%lld", (long long)t->shape[0]);
		meta[1].key = "clipgrep.tcmgc.softmax_lambda";
		snprintf(meta[1].value, sizeof meta[1].value, "100.0");
		*nmeta = 2;
		return "tcmgc";
	}
	for (size_t i = 0; i < sizeof ea_keys / sizeof ea_keys[0]; i++)
		ea |= im_has_prefix(s, ea_keys[i]);
	if (!ea)
		return "clip";
	sh = im_find(s, "cross.transformer.resblocks.0.ln_1.weight") ? "tightTransf" :
	    im_find(s, "lstm_visual.weight_ih_l0") ? "seqLSTM" :
	    im_find(s, "transformerClip.resblocks.0.ln_1.weight") ? "seqTransf" : "meanP";
#define ROWS(n) ((t = im_find(s, n)) != NULL && t->ndim >= 1 ? (long)t->shape[0] : -1)
	if (im_find(s, "se_block.scale.fc.0.weight")) {
		se = "excitation_aggregation";
		h_exc = ROWS("se_block.scale.fc.0.weight");
		h_agg = ROWS("se_block.aggregate.fc.0.weight");
	} else if (im_find(s, "se_block_aggregation.fc.0.weight")) {
		se = "excitation_seq_aggregation";
		h_exc = ROWS("se_block_excitation.fc.0.weight");
		h_agg = ROWS("se_block_aggregation.fc.0.weight");
	} else if (im_find(s, "se_block_excitation.fc.0.weight")) {
		se = "excitation_seq";
		h_exc = ROWS("se_block_excitation.fc.0.weight");
	} else if (im_find(s, "se_block.fc.0.weight")) {
		if (strcmp(sh, "tightTransf") != 0) {
			util_set_cause(cause, "%s: se_block.fc.* is either excitation or aggregation; "
			    "convert it with tools/convert/convert.py --se-type", UTIL_NAME(in));
			return NULL;
		}
		se = "excitation";
		h_exc = ROWS("se_block.fc.0.weight");
	} else
		se = "none";
#undef ROWS
	if ((strcmp(se, "excitation_aggregation") == 0 || strcmp(se, "excitation_seq_aggregation") == 0) &&
	    (h_exc < 0 || h_agg < 0)) {
		util_set_cause(cause, "%s: incomplete EA blocks", UTIL_NAME(in));
		return NULL;
	}
	h = h_exc >= 0 ? h_exc : h_agg;
	if (h > 0) {
		if ((t = im_first(s, "se_block", "fc.0.weight")) == NULL || t->ndim < 2) {
			util_set_cause(cause, "%s: EA block weights are not matrices", UTIL_NAME(in));
			return NULL;
		}
		*frames = (long)t->shape[1];
	}
	meta[0].key = "clipgrep.ea.sim_header";
	snprintf(meta[0].value, sizeof meta[0].value, "%s", sh);
	meta[1].key = "clipgrep.ea.se_type";
	snprintf(meta[1].value, sizeof meta[1].value, "%s", se);
	*nmeta = 2;
	if (h > 0) {
		meta[*nmeta].key = "clipgrep.ea.reduction_ratio";
		im_repr((double)*frames / (double)h, meta[*nmeta].value, sizeof meta[*nmeta].value);
		(*nmeta)++;
	}
	if (h_exc > 0 && h_agg > 0) {
		meta[*nmeta].key = "clipgrep.ea.aggregation_type";
		snprintf(meta[*nmeta].value, sizeof meta[*nmeta].value, "%s", h_exc == h_agg ? "unity" :
		    h_exc < h_agg ? "squeeze_expand" : "expand_squeeze");
		(*nmeta)++;
	}
	return "ea";
}

static long im_dim(const im_set *s, const char *name, int d)
{
	const im_tensor *t = im_find(s, name);

	return t != NULL && t->ndim > d ? (long)t->shape[d] : -1;
}

static long im_count(const im_set *s, const char *prefix)
{
	long n = 0;

	for (size_t i = 0; i < s->n; i++) {
		size_t len = strlen(s->t[i].name);
		if (strncmp(s->t[i].name, prefix, strlen(prefix)) == 0 && len >= 12 &&
		    strcmp(s->t[i].name + len - 12, ".ln_1.weight") == 0)
			n++;
	}
	return n;
}

/* The header of st.save: metadata in insertion order, tensors by name. */
static int im_write(const char *out, const im_set *s, const char *const *keys,
    const char *const *values, int nkeys, char **cause)
{
	im_buf b = { NULL, 0, 0, 0 };
	char num[96], *tmp;
	size_t off = 0, hlen;
	unsigned char len8[8];
	FILE *fp;
	int bad = 0;

	im_str(&b, "{\"__metadata__\":{");
	for (int i = 0; i < nkeys; i++) {
		if (i > 0)
			im_str(&b, ",");
		bad |= im_json(&b, keys[i]);
		im_str(&b, ":");
		bad |= im_json(&b, values[i]);
	}
	im_str(&b, "}");
	for (size_t i = 0; i < s->n; i++) {
		im_str(&b, ",");
		bad |= im_json(&b, s->t[i].name);
		im_str(&b, ":{\"dtype\":\"");
		im_str(&b, s->t[i].dtype);
		im_str(&b, "\",\"shape\":[");
		for (int d = 0; d < s->t[i].ndim; d++) {
			snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)s->t[i].shape[d]);
			im_str(&b, num);
		}
		snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + s->t[i].nbytes);
		im_str(&b, num);
		off += s->t[i].nbytes;
	}
	im_str(&b, "}");
	while (b.len % 8 != 0)
		im_str(&b, " ");
	if (b.oom || bad) {
		free(b.buf);
		util_set_cause(cause, "%s: %s", UTIL_NAME(out), b.oom ? "out of memory" :
		    "a tensor name or metadata value is not UTF-8");
		return -1;
	}
	hlen = b.len;
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	if ((tmp = malloc(strlen(out) + 8)) == NULL) {
		free(b.buf);
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(out));
		return -1;
	}
	sprintf(tmp, "%s.tmp", out);
	if ((fp = fopen(tmp, "wb")) == NULL) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(tmp), strerror(errno));
		free(tmp);
		free(b.buf);
		return -1;
	}
	bad = fwrite(len8, 1, 8, fp) != 8 || fwrite(b.buf, 1, hlen, fp) != hlen;
	for (size_t i = 0; i < s->n && !bad; i++)
		bad = fwrite(s->t[i].data, 1, s->t[i].nbytes, fp) != s->t[i].nbytes;
	bad |= fflush(fp) != 0 || fsync(fileno(fp)) != 0;
	bad |= fclose(fp) != 0;
	if (bad || rename(tmp, out) != 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(out), strerror(errno));
		unlink(tmp);
		free(tmp);
		free(b.buf);
		return -1;
	}
	free(tmp);
	free(b.buf);
	return 0;
}

static int im_is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int im_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int im_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A checkpoint file: safetensors by its name (as convert.py's read_any), else PyTorch's zip. */
static int im_read_any(const char *path, im_set *s, im_meta_in *meta_in, char **cause)
{
	if (im_ends_with(path, ".safetensors"))
		return im_read_safetensors(path, s, meta_in, cause);
	return im_read(path, s, cause);
}

/* dir/name, or NULL when it does not exist (or memory is short). */
static char *im_beside(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	if (p == NULL)
		return NULL;
	sprintf(p, "%s/%s", dir, name);
	if (!im_exists(p)) {
		free(p);
		return NULL;
	}
	return p;
}

/*
 * convert(): the inputs as convert.py gathers them -- a folder gives its
 * model.safetensors, pytorch_model.bin, vocab.json and merges.txt; a file
 * named model.safetensors brings the tokenizer files beside it; the
 * options' vocab and merges come last and so win.
 */
int import_model(const import_options *o, const char *out, const char **arch, int *count,
    char **cause)
{
	im_set s = { NULL, 0 };
	im_meta_in meta_in = { NULL, NULL, 0 };
	im_meta meta[8];
	const char *kind, *keys[32], *values[32], *in = o->checkpoint, *name = o->name;
	const char *vocab_path = o->vocab, *merges_label = NULL;
	char cfg[16][96], *merges = NULL, *dflt = NULL, *found[4] = { NULL, NULL, NULL, NULL };
	char *xdir = NULL;
	int nmeta = 0, nk = 0, rc = -1, nfound = 0;
	long frames, vw, tw, patch, pos, ctx, proj, vocab;
	size_t k, mlen = 0;
	const char *base, *v;

	if (im_is_dir(in)) {
		static const char *const names[] = { "model.safetensors", "pytorch_model.bin" };
		for (int i = 0; i < 2; i++)
			if ((found[nfound] = im_beside(in, names[i])) != NULL)
				nfound++;
		if (nfound == 0) {
			util_set_cause(cause, "%s: a folder without model.safetensors or pytorch_model.bin",
			    UTIL_NAME(in));
			goto out;
		}
		xdir = util_strdup(in);
	} else {
		found[nfound++] = util_strdup(in);
		if (strcmp(strrchr(in, '/') ? strrchr(in, '/') + 1 : in, "model.safetensors") == 0) {
			const char *slash = strrchr(in, '/');
			if ((xdir = malloc(strlen(in) + 2)) != NULL) {
				if (slash != NULL)
					sprintf(xdir, "%.*s", (int)(slash - in), in);
				else
					strcpy(xdir, ".");
			}
		}
	}
	for (int i = 0; i < nfound; i++) {
		if (found[i] == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
			goto out;
		}
		if (im_read_any(found[i], &s, &meta_in, cause) < 0)
			goto out;
	}
	/* the tokenizer files in the folder, unless the options name others */
	if (xdir != NULL) {
		char *pv = vocab_path == NULL ? im_beside(xdir, "vocab.json") : NULL;
		char *pm = o->merges == NULL ? im_beside(xdir, "merges.txt") : NULL;
		found[2] = pv;
		found[3] = pm;
		if (pv != NULL)
			vocab_path = pv;
		if (pm != NULL) {
			if ((merges = tokenizer_merges_text(pm, &mlen, cause)) == NULL)
				goto out;
			merges_label = pm;
		}
	}
	if (o->merges != NULL) {
		if ((merges = tokenizer_merges_text(o->merges, &mlen, cause)) == NULL)
			goto out;
		merges_label = o->merges;
	}
	if (s.n > 1)
		qsort(s.t, s.n, sizeof *s.t, im_cmp);
	/* keep the last of equal names (sorted first) */
	for (size_t i = k = 0; i < s.n; i++) {
		if (k > 0 && strcmp(s.t[k - 1].name, s.t[i].name) == 0) {
			free(s.t[i].name);
			free(s.t[i].data);
			continue;
		}
		s.t[k++] = s.t[i];
	}
	s.n = k;
	if ((kind = im_normalise(in, &s, cause)) == NULL)
		goto out;
	/* st.save writes tensors in name order; Hugging Face's were renamed */
	if (s.n > 1)
		qsort(s.t, s.n, sizeof *s.t, im_cmp);
	if ((*arch = im_detect(in, &s, meta, &nmeta, &frames, cause)) == NULL)
		goto out;
	vw = im_dim(&s, "clip.visual.class_embedding", 0);
	tw = im_dim(&s, "clip.ln_final.weight", 0);
	patch = im_dim(&s, "clip.visual.conv1.weight", 2);
	pos = im_dim(&s, "clip.visual.positional_embedding", 0);
	ctx = im_dim(&s, "clip.positional_embedding", 0);
	proj = im_dim(&s, "clip.visual.proj", 1);
	vocab = im_dim(&s, "clip.token_embedding.weight", 0);
	if (vw < 0 || tw < 0 || patch < 0 || pos < 1 || ctx < 0 || proj < 0 || vocab < 0) {
		util_set_cause(cause, "%s: the CLIP towers are incomplete (class embedding, ln_final, "
		    "conv1, positional embeddings, visual.proj, token embedding)", UTIL_NAME(in));
		goto out;
	}
	if (merges == NULL && (v = im_meta_get(&meta_in, "clipgrep.tokenizer.merges")) != NULL) {
		if ((merges = util_strdup(v)) == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
			goto out;
		}
		mlen = strlen(merges);
		merges_label = in;
	}
	if (merges == NULL) {
		if (o->bpe == NULL) {
			util_set_cause(cause, "%s: no tokenizer: give merges.txt (no CLIP BPE file is "
			    "known)", UTIL_NAME(in));
			goto out;
		}
		if ((merges = tokenizer_merges_text(o->bpe, &mlen, cause)) == NULL)
			goto out;
		merges_label = o->bpe;
	}
	if (vocab_path != NULL) {
		tokenizer *t = tokenizer_load_hf_text(vocab_path, merges, mlen, UTIL_NAME(merges_label),
		    cause);
		if (t == NULL)
			goto out;
		tokenizer_free(t);
	}
	base = strrchr(in, '/') != NULL ? strrchr(in, '/') + 1 : in;
	if (name == NULL) {
		if ((dflt = malloc(strlen(base) + 64)) == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(in));
			goto out;
		}
		sprintf(dflt, "%s (%s, %s)", base, kind, *arch);
		name = dflt;
	}
#define KV(key, ...) do { snprintf(cfg[nk], sizeof cfg[nk], __VA_ARGS__); keys[nk] = key; \
	values[nk] = cfg[nk]; nk++; } while (0)
	keys[nk] = "clipgrep.architecture", values[nk++] = *arch;
	keys[nk] = "clipgrep.name", values[nk++] = name;
	keys[nk] = "clipgrep.converted_from", values[nk++] = kind;
	KV("clipgrep.embed_dim", "%ld", proj);
	KV("clipgrep.vision.width", "%ld", vw);
	KV("clipgrep.vision.layers", "%ld", im_count(&s, "clip.visual.transformer.resblocks."));
	/* CLIP's 64-wide heads; at least one for a narrower (tiny) tower */
	if ((v = im_meta_get(&meta_in, "clipgrep.vision.heads")) != NULL)
		KV("clipgrep.vision.heads", "%s", v);
	else
		KV("clipgrep.vision.heads", "%ld", vw / 64 > 1 ? vw / 64 : 1);
	KV("clipgrep.vision.patch", "%ld", patch);
	KV("clipgrep.vision.image_size", "%ld", lround(sqrt((double)(pos - 1))) * patch);
	KV("clipgrep.text.width", "%ld", tw);
	KV("clipgrep.text.layers", "%ld", im_count(&s, "clip.transformer.resblocks."));
	if ((v = im_meta_get(&meta_in, "clipgrep.text.heads")) != NULL)
		KV("clipgrep.text.heads", "%s", v);
	else
		KV("clipgrep.text.heads", "%ld", tw / 64 > 1 ? tw / 64 : 1);
	KV("clipgrep.text.context_length", "%ld", ctx);
	KV("clipgrep.text.vocab_size", "%ld", vocab);
	if (frames > 0)
		KV("clipgrep.frames", "%ld", frames);
	else if ((v = im_meta_get(&meta_in, "clipgrep.frames")) != NULL)
		KV("clipgrep.frames", "%s", v);
	else
		KV("clipgrep.frames", "%d", 12);
	if ((v = im_meta_get(&meta_in, "clipgrep.max_words")) != NULL)
		KV("clipgrep.max_words", "%s", v);
	else
		KV("clipgrep.max_words", "%ld", ctx < 32 ? ctx : 32);
#undef KV
	keys[nk] = "clipgrep.tokenizer.merges", values[nk++] = merges;
	for (int i = 0; i < nmeta; i++)
		keys[nk] = meta[i].key, values[nk++] = meta[i].value;
	/* a clipgrep file being re-imported keeps its other settings */
	for (size_t i = 0; i < meta_in.n; i++) {
		int dup = 0;
		for (int j = 0; j < nk && !dup; j++)
			dup = strcmp(keys[j], meta_in.keys[i]) == 0;
		if (dup)
			continue;
		if (nk == (int)(sizeof keys / sizeof keys[0])) {
			util_set_cause(cause, "%s: more than %d clipgrep.* settings", UTIL_NAME(in), nk);
			goto out;
		}
		keys[nk] = meta_in.keys[i], values[nk++] = meta_in.values[i];
	}
	if (im_write(out, &s, keys, values, nk, cause) < 0)
		goto out;
	*count = (int)s.n;
	rc = 0;
out:
	im_set_free(&s);
	im_meta_in_free(&meta_in);
	for (int i = 0; i < 4; i++)
		free(found[i]);
	free(xdir);
	free(merges);
	free(dflt);
	return rc;
}

int import_torch(const char *in, const char *out, const char *bpe, const char *name,
    const char **arch, int *count, char **cause)
{
	import_options o = { in, NULL, NULL, bpe, name };

	return import_model(&o, out, arch, count, cause);
}
