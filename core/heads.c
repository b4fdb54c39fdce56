/*
 * heads — model files → heads, per-video records and query encodings.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heads.h"
#include "tensor.h"
#include "textenc.h"
#include "util.h"

struct heads_set {
	heads_file *files;  /* [n]: one per single-model file, one per head of a
	                       multi-head file, in the order given */
	int n, cap;
	int supplier[HEADS_KINDS]; /* HEADS_FOR_SEARCH: file index per head, or -1 */
	int F, S;
};

struct heads_record {
	const heads_file *f;
	float *frames;   /* [F, D] zero-padded */
	float *mask;     /* [F] */
	float *tc_cache; /* [tcmgc_video_cache_floats] or NULL */
	float *ea_cache; /* [ea_video_cache_floats] or NULL */
};

struct heads_text {
	heads_file *f;
	tokenizer *tok;     /* owned by f->m */
	textenc *te;
	heads_encoding enc;
	char *text;         /* the text enc holds, or NULL */
	int32_t *ids;       /* [L] */
	float *sentence;    /* [D] */
	float *words;       /* [L, D] */
};

/* ---- the rules ------------------------------------------------------------ */

int heads_arch_gives(const char *arch, heads_kind k)
{
	if (strcmp(arch, "clip") == 0)
		return 1;
	switch (k) {
	case HEADS_TCMGC:
		return strcmp(arch, "tcmgc") == 0;
	case HEADS_EA:
		return strcmp(arch, "ea") == 0;
	case HEADS_KINDS:
		break;
	}
	return 0;
}

int heads_choose(const char *const *archs, const char *const *names, int n,
    int chosen[HEADS_KINDS], char **cause)
{
	for (int k = 0; k < HEADS_KINDS; k++)
		chosen[k] = -1;
	/* A trained file first; a "clip" file fills whichever head none gave. */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < HEADS_KINDS; k++)
			if (chosen[k] == -1 && strcmp(archs[i], "clip") != 0 &&
			    heads_arch_gives(archs[i], k))
				chosen[k] = i;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < HEADS_KINDS; k++)
			if (chosen[k] == -1 && strcmp(archs[i], "clip") == 0)
				chosen[k] = i;
	for (int k = 0; k < HEADS_KINDS; k++)
		if (chosen[k] != -1)
			return 0;
	util_set_cause(cause, "%s: architecture '%s' gives no search head",
	    UTIL_NAME(n > 0 ? names[0] : ""), n > 0 ? archs[0] : "");
	return -1;
}

/* ---- the set ---------------------------------------------------------------- */

static int heads_load_head(heads_file *f, heads_kind k, char **cause)
{
	if (k == HEADS_TCMGC && f->tc == NULL && (f->tc = tcmgc_load(f->m, cause)) == NULL)
		return -1;
	if (k == HEADS_EA && f->ea == NULL && (f->ea = ea_load(f->m, cause)) == NULL)
		return -1;
	return 0;
}

/* The search rule: choose, load the chosen heads, check they agree. */
static int heads_open_search(heads_set *h, char **cause)
{
	const char **archs = calloc((size_t)h->n, sizeof *archs);
	const char **names = calloc((size_t)h->n, sizeof *names);
	heads_file *tm, *em;
	int rc = -1;

	if (archs == NULL || names == NULL) {
		util_set_cause(cause, "out of memory");
		goto out;
	}
	for (int i = 0; i < h->n; i++) {
		archs[i] = model_get_config(h->files[i].m)->architecture;
		names[i] = h->files[i].path;
	}
	if (heads_choose(archs, names, h->n, h->supplier, cause) == -1)
		goto out;
	for (int k = 0; k < HEADS_KINDS; k++)
		if (h->supplier[k] != -1 &&
		    heads_load_head(&h->files[h->supplier[k]], (heads_kind)k, cause) == -1)
			goto out;
	tm = heads_supplier(h, HEADS_TCMGC);
	em = heads_supplier(h, HEADS_EA);
	if (tm != NULL && em != NULL && (tcmgc_frames(tm->tc) != ea_frames(em->ea) ||
	    tcmgc_dim(tm->tc) != ea_dim(em->ea))) {
		/* The words search_lib_new would use, naming the files. */
		util_set_cause(cause, "search: the TC-MGC and EA heads disagree on frames or width");
		if (tm != em)
			util_prefix_cause(cause, "the TC-MGC head of %s and the EA head of %s",
			    UTIL_NAME(tm->path), UTIL_NAME(em->path));
		goto out;
	}
	rc = 0;
out:
	free(archs);
	free(names);
	return rc;
}

/* The index rule for file i: agree with file 0, load every head it gives. */
static int heads_open_index(heads_set *h, int i, char **cause)
{
	heads_file *f = &h->files[i];
	const model_config *c = model_get_config(f->m);

	if (i > 0 && (c->frames != h->F || c->image_size != h->S)) {
		util_set_cause(cause, "%s: %d frames of %d pixels, but %s has %d of %d: models "
		    "indexed together must agree (index them into separate databases)",
		    UTIL_NAME(f->path), c->frames, c->image_size, UTIL_NAME(h->files[0].path), h->F,
		    h->S);
		return -1;
	}
	for (int k = 0; k < HEADS_KINDS; k++)
		if (heads_arch_gives(c->architecture, (heads_kind)k) &&
		    heads_load_head(f, (heads_kind)k, cause) == -1)
			return -1;
	if (f->tc == NULL && f->ea == NULL) {
		util_set_cause(cause, "%s: architecture '%s' has no search head", UTIL_NAME(f->path),
		    c->architecture);
		return -1;
	}
	return 0;
}

/* Files with identical image towers share the first one's (HEADS_FOR_INDEX). */
static int heads_share_towers(heads_set *h, char **cause)
{
	uint8_t (*vh)[HASH_SIZE] = calloc((size_t)h->n, sizeof *vh);
	int rc = -1;

	if (vh == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	for (int i = 0; i < h->n; i++) {
		if (heads_vision_hash(h->files[i].m, vh[i], cause) == -1)
			goto out;
		for (int k = 0; k < i; k++) {
			if (memcmp(vh[k], vh[i], HASH_SIZE) == 0) {
				h->files[i].tower = h->files[k].tower;
				break;
			}
		}
	}
	rc = 0;
out:
	free(vh);
	return rc;
}

/*
 * Load one entry: f->path, f->head (NULL: the whole file) and f->m, f->hash
 * (the file's hash, or for a head of a multi-head file a hash of the file's
 * hash and the head's name, so each head is a model of its own in the index).
 */
static int heads_load_entry(heads_set *h, int i, const char *path, const char *head,
    const uint8_t fhash[HASH_SIZE], heads_use use, char **cause)
{
	heads_file *f = &h->files[i];
	const model_config *c;

	f->tower = i;
	if ((f->path = util_strdup(path)) == NULL ||
	    (head != NULL && (f->head = util_strdup(head)) == NULL)) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	if ((f->m = model_load_head(f->path, head, 0, cause)) == NULL)
		return -1;
	if (head == NULL) {
		memcpy(f->hash, fhash, HASH_SIZE);
	} else {
		uint8_t buf[HASH_SIZE + 6 + MODEL_HEAD_NAME_MAX];
		size_t len = strlen(head);
		memcpy(buf, fhash, HASH_SIZE);
		memcpy(buf + HASH_SIZE, "head:", 5);
		memcpy(buf + HASH_SIZE + 5, head, len);
		hash_bytes(buf, HASH_SIZE + 5 + len, f->hash);
	}
	hash_hex(f->hash, f->hex);
	c = model_get_config(f->m);
	f->F = c->frames;
	f->D = c->embed_dim;
	if (i == 0) {
		h->F = c->frames;
		h->S = c->image_size;
	}
	if (use == HEADS_FOR_INDEX && heads_open_index(h, i, cause) == -1)
		return -1;
	return 0;
}

/* Grow h->files to hold n entries (zeroed). */
static int heads_grow(heads_set *h, int n, char **cause)
{
	heads_file *nf;

	if (n <= h->cap)
		return 0;
	if ((nf = realloc(h->files, (size_t)n * sizeof *nf)) == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	memset(nf + h->cap, 0, (size_t)(n - h->cap) * sizeof *nf);
	h->files = nf;
	h->cap = n;
	return 0;
}

/* Path i: one entry, or one per head of a multi-head file (only: that head). */
static int heads_add_path(heads_set *h, const char *path, const char *only, heads_use use,
    char **cause)
{
	uint8_t fhash[HASH_SIZE];
	model *whole;
	const char *list, *p;
	char name[MODEL_HEAD_NAME_MAX + 1];
	int r, rc = -1, before = h->n;

	if ((whole = model_load_flags(path, MODEL_LOAD_NO_TOWERS, cause)) == NULL ||
	    hash_file(path, fhash, NULL, cause) == -1)
		goto out;
	if ((list = model_heads(whole)) == NULL) {
		if (heads_grow(h, h->n + 1, cause) == -1)
			goto out;
		h->n++;
		rc = heads_load_entry(h, h->n - 1, path, NULL, fhash, use, cause);
		goto out;
	}
	for (p = list; (r = model_heads_next(&p, name, sizeof name)) != 0;) {
		if (r == -1) {
			util_set_cause(cause, "%s: metadata clipgrep.heads: '%s' is not a list of head "
			    "names", UTIL_NAME(path), list);
			goto out;
		}
		if (only != NULL && strcmp(only, name) != 0)
			continue;
		if (heads_grow(h, h->n + 1, cause) == -1)
			goto out;
		h->n++;
		if (heads_load_entry(h, h->n - 1, path, name, fhash, use, cause) == -1)
			goto out;
	}
	if (h->n == before && only != NULL) {
		util_set_cause(cause, "%s: no head '%s' (the file's heads: %s)", UTIL_NAME(path), only,
		    list);
		goto out;
	}
	rc = 0;
out:
	model_free(whole);
	return rc;
}

heads_set *heads_open(const char *const *paths, int n, heads_use use, char **cause)
{
	return heads_open_head(paths, n, use, NULL, cause);
}

heads_set *heads_open_head(const char *const *paths, int n, heads_use use, const char *only,
    char **cause)
{
	heads_set *h;

	if (n < 1) {
		util_set_cause(cause, "no model file given");
		return NULL;
	}
	if ((h = calloc(1, sizeof *h)) == NULL) {
		util_set_cause(cause, "out of memory");
		return NULL;
	}
	for (int k = 0; k < HEADS_KINDS; k++)
		h->supplier[k] = -1;
	for (int i = 0; i < n; i++)
		if (heads_add_path(h, paths[i], only, use, cause) == -1)
			goto fail;
	if (use == HEADS_FOR_SEARCH && heads_open_search(h, cause) == -1)
		goto fail;
	if (use == HEADS_FOR_INDEX && h->n > 1 && heads_share_towers(h, cause) == -1)
		goto fail;
	return h;
fail:
	heads_free(h);
	return NULL;
}

void heads_free(heads_set *h)
{
	if (h == NULL)
		return;
	for (int i = 0; h->files != NULL && i < h->n; i++) {
		heads_file *f = &h->files[i];
		tcmgc_free(f->tc);
		ea_free(f->ea);
		model_free(f->m);
		free(f->path);
		free(f->head);
	}
	free(h->files);
	free(h);
}

/* HEADS_FOR_SEARCH: entry i is a head of a multi-head file not chosen to
 * supply the engine's TC-MGC or EA head, yet one that gives a head. */
static int heads_is_extra(const heads_set *h, int i)
{
	const char *arch = model_get_config(h->files[i].m)->architecture;
	int gives = 0;

	if (h->files[i].head == NULL)
		return 0;
	for (int k = 0; k < HEADS_KINDS; k++) {
		if (h->supplier[k] == i)
			return 0;
		gives |= heads_arch_gives(arch, (heads_kind)k);
	}
	return gives;
}

int heads_count(const heads_set *h)
{
	return h->n;
}

heads_file *heads_file_at(heads_set *h, int i)
{
	return &h->files[i];
}

int heads_extra_count(const heads_set *h)
{
	int n = 0;

	for (int i = 0; i < h->n; i++)
		n += heads_is_extra(h, i);
	return n;
}

heads_file *heads_extra_at(heads_set *h, int j)
{
	for (int i = 0; i < h->n; i++)
		if (heads_is_extra(h, i) && j-- == 0)
			return &h->files[i];
	return NULL;
}

heads_file *heads_supplier(heads_set *h, heads_kind k)
{
	return h->supplier[k] >= 0 ? &h->files[h->supplier[k]] : NULL;
}

int heads_frames(const heads_set *h)
{
	return h->F;
}

int heads_image_size(const heads_set *h)
{
	return h->S;
}

/* ---- identity --------------------------------------------------------------- */

void heads_model_info(const heads_file *f, index_model_info *info, char *json, size_t size)
{
	const model_config *c = model_get_config(f->m);
	const char *name = model_meta(f->m, "clipgrep.name");

	memset(info, 0, sizeof *info);
	info->name = name != NULL ? name : "";
	info->architecture = c->architecture;
	info->config_json = json;
	memcpy(info->hash, f->hash, sizeof info->hash);
	snprintf(json, size,
	    "{\"architecture\":\"%s\",\"embed_dim\":%d,\"frames\":%d,\"max_words\":%d,"
	    "\"vision\":{\"width\":%d,\"layers\":%d,\"heads\":%d,\"patch\":%d,\"image_size\":%d},"
	    "\"text\":{\"width\":%d,\"layers\":%d,\"heads\":%d,\"context_length\":%d,"
	    "\"vocab_size\":%d}}",
	    c->architecture, c->embed_dim, c->frames, c->max_words, c->vision_width,
	    c->vision_layers, c->vision_heads, c->vision_patch, c->image_size, c->text_width,
	    c->text_layers, c->text_heads, c->context_length, c->vocab_size);
}

int heads_vision_hash(model *m, uint8_t out[HASH_SIZE], char **cause)
{
	static const char *const block[] = {
		"ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias",
		"attn.out_proj.weight", "attn.out_proj.bias", "ln_2.weight", "ln_2.bias",
		"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
	};
	const model_config *c = model_get_config(m);
	int64_t W = c->vision_width, P = c->vision_patch, G = c->image_size / c->vision_patch;
	int64_t cfg[] = { c->vision_width, c->vision_layers, c->vision_heads, c->vision_patch,
		c->image_size, c->embed_dim };
	size_t n_hashes = 8 + 12 * (size_t)c->vision_layers, h = 0;
	uint8_t *hashes = calloc(n_hashes, HASH_SIZE);
	int rc = -1;

	if (hashes == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
#define HASH_TENSOR(ndim, shape, ...) do { \
		char name_[160]; const float *p_; size_t n_ = 1; \
		snprintf(name_, sizeof name_, __VA_ARGS__); \
		for (int d_ = 0; d_ < (ndim); d_++) n_ *= (size_t)(shape)[d_]; \
		if ((p_ = model_tensor(m, name_, (ndim), (shape), cause)) == NULL) goto out; \
		hash_bytes(p_, n_ * sizeof(float), hashes + HASH_SIZE * h++); \
	} while (0)
	{
		int64_t conv[4] = { W, 3, P, P }, w1[1] = { W }, pos[2] = { G * G + 1, W },
			proj[2] = { W, c->embed_dim };
		HASH_TENSOR(4, conv, "clip.visual.conv1.weight");
		HASH_TENSOR(1, w1, "clip.visual.class_embedding");
		HASH_TENSOR(2, pos, "clip.visual.positional_embedding");
		HASH_TENSOR(1, w1, "clip.visual.ln_pre.weight");
		HASH_TENSOR(1, w1, "clip.visual.ln_pre.bias");
		HASH_TENSOR(1, w1, "clip.visual.ln_post.weight");
		HASH_TENSOR(1, w1, "clip.visual.ln_post.bias");
		HASH_TENSOR(2, proj, "clip.visual.proj");
		for (int l = 0; l < c->vision_layers; l++) {
			int64_t shapes[12][2] = { { W }, { W }, { 3 * W, W }, { 3 * W }, { W, W }, { W },
				{ W }, { W }, { 4 * W, W }, { 4 * W }, { W, 4 * W }, { W } };
			for (int b = 0; b < 12; b++)
				HASH_TENSOR(shapes[b][1] ? 2 : 1, shapes[b],
				    "clip.visual.transformer.resblocks.%d.%s", l, block[b]);
		}
	}
#undef HASH_TENSOR
	{
		size_t total = h * HASH_SIZE + sizeof cfg;
		uint8_t *all = malloc(total);
		if (all == NULL) {
			util_set_cause(cause, "out of memory");
			goto out;
		}
		memcpy(all, hashes, h * HASH_SIZE);
		memcpy(all + h * HASH_SIZE, cfg, sizeof cfg);
		hash_bytes(all, total, out);
		free(all);
	}
	rc = 0;
out:
	free(hashes);
	return rc;
}

/* ---- a video's record --------------------------------------------------------- */

heads_record *heads_record_new(const heads_file *f, char **cause)
{
	heads_record *r = calloc(1, sizeof *r);

	if (r == NULL)
		goto nomem;
	r->f = f;
	if ((r->frames = tensor_alloc((size_t)f->F * (size_t)f->D)) == NULL ||
	    (r->mask = tensor_alloc((size_t)f->F)) == NULL ||
	    (f->tc != NULL && (r->tc_cache = tensor_alloc(tcmgc_video_cache_floats(f->tc))) == NULL) ||
	    (f->ea != NULL && (r->ea_cache = tensor_alloc(ea_video_cache_floats(f->ea))) == NULL))
		goto nomem;
	return r;
nomem:
	util_set_cause(cause, "out of memory");
	heads_record_free(r);
	return NULL;
}

void heads_record_free(heads_record *r)
{
	if (r == NULL)
		return;
	tensor_free(r->frames);
	tensor_free(r->mask);
	tensor_free(r->tc_cache);
	tensor_free(r->ea_cache);
	free(r);
}

int heads_record_prepare(heads_record *r, const float *rows, int n, const float *pad,
    char **cause)
{
	const heads_file *f = r->f;

	if (n > f->F)
		n = f->F;
	if (n < f->F && pad == NULL) {
		util_set_cause(cause, "%s: %d frames of %d and no padding frame", f->path, n, f->F);
		return -1;
	}
	memcpy(r->frames, rows, sizeof(float) * (size_t)n * (size_t)f->D);
	for (int i = n; i < f->F; i++)
		memcpy(r->frames + (size_t)i * f->D, pad, sizeof(float) * (size_t)f->D);
	for (int i = 0; i < f->F; i++)
		r->mask[i] = i < n ? 1.0f : 0.0f;
	if (f->tc != NULL && tcmgc_prepare_video(f->tc, r->frames, r->mask, r->tc_cache, cause) == -1)
		return -1;
	if (f->ea != NULL && ea_prepare_video(f->ea, r->frames, r->mask, r->ea_cache, cause) == -1)
		return -1;
	return 0;
}

int heads_record_tensors(const heads_record *r, int64_t model_id, index_tensor *out)
{
	const heads_file *f = r->f;
	int n = 0;

	out[n++] = (index_tensor){ model_id, HEADS_KIND_FRAMES, r->frames, (int64_t)f->F * f->D };
	if (f->tc != NULL)
		out[n++] = (index_tensor){ model_id, HEADS_KIND_TCMGC, r->tc_cache,
			(int64_t)tcmgc_video_cache_floats(f->tc) };
	if (f->ea != NULL)
		out[n++] = (index_tensor){ model_id, HEADS_KIND_EA, r->ea_cache,
			(int64_t)ea_video_cache_floats(f->ea) };
	return n;
}

const float *heads_record_frames(const heads_record *r)
{
	return r->frames;
}

const float *heads_record_mask(const heads_record *r)
{
	return r->mask;
}

/* ---- a query's encoding ------------------------------------------------------- */

heads_text *heads_text_new(heads_file *f, int L, char **cause)
{
	return heads_text_new_kernel(f, L, LINEAR_AUTO, cause);
}

heads_text *heads_text_new_kernel(heads_file *f, int L, linear_kernel kernel, char **cause)
{
	const model_config *c = model_get_config(f->m);
	heads_text *t = calloc(1, sizeof *t);

	if (L <= 0)
		L = f->tc != NULL ? tcmgc_words(f->tc) :
		    c->max_words > 0 ? c->max_words : c->context_length;
	if (t == NULL) {
		util_set_cause(cause, "out of memory");
		return NULL;
	}
	t->f = f;
	if ((t->tok = model_tokenizer(f->m, cause)) == NULL ||
	    (t->te = textenc_new_kernel(f->m, L, kernel, cause)) == NULL)
		goto fail;
	t->enc.L = L;
	t->enc.D = textenc_embed_dim(t->te);
	t->ids = calloc((size_t)L, sizeof *t->ids);
	t->sentence = tensor_alloc((size_t)t->enc.D);
	t->words = tensor_alloc((size_t)L * (size_t)t->enc.D);
	if (t->ids == NULL || t->sentence == NULL || t->words == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(f->path));
		goto fail;
	}
	t->enc.ids = t->ids;
	t->enc.sentence = t->sentence;
	t->enc.words = t->words;
	return t;
fail:
	heads_text_free(t);
	return NULL;
}

void heads_text_free(heads_text *t)
{
	if (t == NULL)
		return;
	textenc_free(t->te);
	free(t->text);
	free(t->ids);
	tensor_free(t->sentence);
	tensor_free(t->words);
	free(t);
}

int heads_text_encode(heads_text *t, const char *query, int *fresh, char **cause)
{
	return heads_text_encode_cancellable(t, query, fresh, NULL, cause);
}

int heads_text_encode_cancellable(heads_text *t, const char *query, int *fresh,
    atomic_int *cancel, char **cause)
{
	int L = t->enc.L, n, total, rc;
	char *copy;

	if (fresh != NULL)
		*fresh = 0;
	if (t->text != NULL && strcmp(t->text, query) == 0)
		return 0;
	free(t->text);
	t->text = NULL;
	if ((total = tokenizer_encode(t->tok, query, NULL, 0, cause)) < 0 ||
	    (n = tokenizer_encode_padded(t->tok, query, L, t->ids, NULL, cause)) < 0)
		return -1;
	if ((rc = textenc_encode_cancellable(t->te, t->ids, t->sentence, t->words, cancel,
	    cause)) != 0)
		return rc; /* -1, or 1: cancelled, t->text still NULL */
	if ((copy = util_strdup(query)) == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	t->enc.n_tokens = n;
	t->enc.truncated = total > L - 2;
	t->text = copy;
	if (fresh != NULL)
		*fresh = 1;
	return 0;
}

const heads_encoding *heads_text_get(const heads_text *t)
{
	return &t->enc;
}

tokenizer *heads_text_tokenizer(const heads_text *t)
{
	return t->tok;
}
