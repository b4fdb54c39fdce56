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
#include <unistd.h>

#include "import.h"
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

/* read_torch + to_numpy: the tensors, "module." gone, bf16/f64 as f32. */
static int im_read(const char *in, im_set *s, char **cause)
{
	torchfile *f = torchfile_open(in, cause);
	size_t n;

	if (f == NULL)
		return -1;
	n = torchfile_count(f);
	if ((s->t = calloc(n + 1, sizeof *s->t)) == NULL)
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
		o->seq = i;
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

/* normalise_names: upstream names; the source kind. */
static const char *im_normalise(const char *in, im_set *s, char **cause)
{
	static const char *const scalars[] = { "input_resolution", "context_length", "vocab_size" };

	if (im_has_prefix(s, "vision_model.")) {
		util_set_cause(cause, "%s: Hugging Face names in a torch.save file are not supported; "
		    "import its model.safetensors instead", UTIL_NAME(in));
		return NULL;
	}
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

int import_torch(const char *in, const char *out, const char *bpe, const char *name,
    const char **arch, int *count, char **cause)
{
	im_set s = { NULL, 0 };
	im_meta meta[8];
	const char *kind, *keys[32], *values[32];
	char cfg[16][96], *merges = NULL, *dflt = NULL;
	int nmeta = 0, nk = 0, rc = -1;
	long frames, vw, tw, patch, pos, ctx, proj, vocab;
	size_t k, mlen;
	const char *base;

	if (im_read(in, &s, cause) < 0)
		goto out;
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
	if ((merges = tokenizer_merges_text(bpe, &mlen, cause)) == NULL)
		goto out;
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
	KV("clipgrep.vision.heads", "%ld", vw / 64);
	KV("clipgrep.vision.patch", "%ld", patch);
	KV("clipgrep.vision.image_size", "%ld", lround(sqrt((double)(pos - 1))) * patch);
	KV("clipgrep.text.width", "%ld", tw);
	KV("clipgrep.text.layers", "%ld", im_count(&s, "clip.transformer.resblocks."));
	KV("clipgrep.text.heads", "%ld", tw / 64);
	KV("clipgrep.text.context_length", "%ld", ctx);
	KV("clipgrep.text.vocab_size", "%ld", vocab);
	KV("clipgrep.frames", "%ld", frames > 0 ? frames : 12);
	KV("clipgrep.max_words", "%ld", ctx < 32 ? ctx : 32);
#undef KV
	keys[nk] = "clipgrep.tokenizer.merges", values[nk++] = merges;
	for (int i = 0; i < nmeta; i++)
		keys[nk] = meta[i].key, values[nk++] = meta[i].value;
	if (im_write(out, &s, keys, values, nk, cause) < 0)
		goto out;
	*count = (int)s.n;
	rc = 0;
out:
	im_set_free(&s);
	free(merges);
	free(dflt);
	return rc;
}
