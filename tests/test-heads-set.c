/*
 * test-heads-set — core/heads: which file supplies each head (search) and
 * which heads each file writes (index), the names and sizes of a video's
 * record, model identity, and query encoding, on the tiny models in
 * tests/golden (tiny-tcmgc, tiny-ea, tiny-clip: F = 4, D = 16).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "heads.h"
#include "index.h"
#include "safetensors.h"
#include "tap.h"
#include "golden.h"
#include "tensor.h"
#include "vit.h"

static char p_tc[512], p_ea[512], p_clip[512], p_multi[512];

/* heads_choose on architecture names alone. */
static void test_choose(void)
{
	static const struct {
		const char *archs[3];
		int n, tc, ea;
	} cases[] = {
		{ { "tcmgc", "ea" }, 2, 0, 1 },
		{ { "ea", "tcmgc" }, 2, 1, 0 },
		{ { "clip" }, 1, 0, 0 },
		{ { "clip", "ea" }, 2, 0, 1 },
		{ { "ea", "clip" }, 2, 1, 0 },
		{ { "tcmgc", "clip", "ea" }, 3, 0, 2 },
		{ { "tcmgc", "tcmgc" }, 2, 0, -1 },
		{ { "ea" }, 1, -1, 0 },
	};
	const char *names[3] = { "a", "b", "c" };
	const char *bogus[1] = { "bogus" }, *bogus_name[1] = { "m.safetensors" };
	int chosen[HEADS_KINDS];
	char *cause = NULL;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = heads_choose(cases[i].archs, names, cases[i].n, chosen, &cause);
		tap_ok(rc == 0 && chosen[HEADS_TCMGC] == cases[i].tc && chosen[HEADS_EA] == cases[i].ea,
		    "choose %s%s%s%s%s: TC-MGC from %d, EA from %d", cases[i].archs[0],
		    cases[i].n > 1 ? "+" : "", cases[i].n > 1 ? cases[i].archs[1] : "",
		    cases[i].n > 2 ? "+" : "", cases[i].n > 2 ? cases[i].archs[2] : "",
		    cases[i].tc, cases[i].ea);
	}
	int rc = heads_choose(bogus, bogus_name, 1, chosen, &cause);

	tap_ok(rc == -1 && cause != NULL &&
	    strcmp(cause, "'m.safetensors': architecture 'bogus' gives no search head") == 0 &&
	    chosen[HEADS_TCMGC] == -1 && chosen[HEADS_EA] == -1,
	    "a file giving no head: the engine's error (%s)", cause ? cause : "none");
	free(cause);
	tap_ok(heads_arch_gives("clip", HEADS_TCMGC) && heads_arch_gives("clip", HEADS_EA) &&
	    heads_arch_gives("tcmgc", HEADS_TCMGC) && !heads_arch_gives("tcmgc", HEADS_EA) &&
	    heads_arch_gives("ea", HEADS_EA) && !heads_arch_gives("ea", HEADS_TCMGC) &&
	    !heads_arch_gives("bogus", HEADS_EA), "what each architecture gives");
}

/* The search rule on real files: only the chosen heads are loaded. */
static void test_search_sets(void)
{
	const char *two[2] = { p_tc, p_ea }, *clip[1] = { p_clip }, *clip_ea[2] = { p_clip, p_ea };
	char *cause = NULL;
	heads_set *h;

	h = heads_open(two, 2, HEADS_FOR_SEARCH, &cause);
	tap_ok(h != NULL && heads_supplier(h, HEADS_TCMGC) == heads_file_at(h, 0) &&
	    heads_supplier(h, HEADS_EA) == heads_file_at(h, 1) &&
	    heads_file_at(h, 0)->tc != NULL && heads_file_at(h, 0)->ea == NULL &&
	    heads_file_at(h, 1)->ea != NULL && heads_file_at(h, 1)->tc == NULL,
	    "search tcmgc+ea: each head from its own file (%s)", cause ? cause : "ok");
	heads_free(h);

	h = heads_open(clip, 1, HEADS_FOR_SEARCH, &cause);
	tap_ok(h != NULL && heads_supplier(h, HEADS_TCMGC) == heads_file_at(h, 0) &&
	    heads_supplier(h, HEADS_EA) == heads_file_at(h, 0) && heads_file_at(h, 0)->tc != NULL &&
	    heads_file_at(h, 0)->ea != NULL && tcmgc_is_training_free(heads_file_at(h, 0)->tc) &&
	    ea_is_training_free(heads_file_at(h, 0)->ea),
	    "search clip: both heads, training-free, from the one file");
	heads_free(h);

	h = heads_open(clip_ea, 2, HEADS_FOR_SEARCH, &cause);
	tap_ok(h != NULL && heads_supplier(h, HEADS_TCMGC) == heads_file_at(h, 0) &&
	    heads_supplier(h, HEADS_EA) == heads_file_at(h, 1) && heads_file_at(h, 0)->ea == NULL,
	    "search clip+ea: TC-MGC from clip, EA from the trained file");
	heads_free(h);

	h = heads_open(NULL, 0, HEADS_FOR_SEARCH, &cause);
	tap_ok(h == NULL && cause != NULL && strcmp(cause, "no model file given") == 0,
	    "no file: refused");
	free(cause);
	cause = NULL;
	{
		const char *missing[1] = { "/nonexistent/m.safetensors" };
		h = heads_open(missing, 1, HEADS_FOR_SEARCH, &cause);
		tap_ok(h == NULL && cause != NULL && strstr(cause, "/nonexistent/m.safetensors") != NULL,
		    "a missing file is named (%s)", cause ? cause : "none");
		free(cause);
	}
}

/* Identity: the hash is hash_file's; the models-table row. */
static void test_identity(void)
{
	const char *one[1] = { p_tc };
	uint8_t want[HASH_SIZE];
	char hex[2 * HASH_SIZE + 1], json[1024];
	index_model_info info;
	char *cause = NULL;
	heads_set *h = heads_open(one, 1, HEADS_FILES_ONLY, &cause);
	heads_file *f = h != NULL ? heads_file_at(h, 0) : NULL;

	if (!tap_ok(f != NULL && hash_file(p_tc, want, NULL, &cause) == 0,
	    "open files only (%s)", cause ? cause : "ok")) {
		free(cause);
		heads_free(h);
		return;
	}
	hash_hex(want, hex);
	tap_ok(memcmp(f->hash, want, sizeof want) == 0 && strcmp(f->hex, hex) == 0,
	    "identity is hash_file's content hash (%s)", hex);
	tap_ok(f->tc == NULL && f->ea == NULL, "files only: no head loaded");
	heads_model_info(f, &info, json, sizeof json);
	const char *want_json = "{\"architecture\":\"tcmgc\",\"embed_dim\":16,\"frames\":4,"
	    "\"max_words\":12,\"vision\":{\"width\":24,";
	tap_ok(memcmp(info.hash, want, sizeof want) == 0 && strcmp(info.architecture, "tcmgc") == 0 &&
	    strstr(info.name, "tiny TC-MGC") != NULL &&
	    strncmp(json, want_json, strlen(want_json)) == 0, "models-table row: %s", json);
	heads_free(h);
}

/* The index rule and a video's record. */
static void test_records(void)
{
	const char *clip[1] = { p_clip }, *two[3] = { p_tc, p_ea, p_tc };
	char *cause = NULL;
	heads_set *h = heads_open(clip, 1, HEADS_FOR_INDEX, &cause);
	heads_file *f = h != NULL ? heads_file_at(h, 0) : NULL;
	heads_record *r = f != NULL ? heads_record_new(f, &cause) : NULL;
	index_tensor t[HEADS_MAX_TENSORS];
	float rows[2 * 16], pad[16], *direct = NULL;
	int n, padded = 1;

	if (!tap_ok(r != NULL && f->F == 4 && f->D == 16 && heads_frames(h) == 4 &&
	    heads_image_size(h) == 32, "index clip: record buffers (%s)", cause ? cause : "ok")) {
		free(cause);
		heads_free(h);
		return;
	}
	for (int i = 0; i < 2 * 16; i++)
		rows[i] = sinf((float)i * 0.7f);
	for (int i = 0; i < 16; i++)
		pad[i] = cosf((float)i * 0.3f);
	n = heads_record_prepare(r, rows, 2, NULL, &cause);
	tap_ok(n == -1 && cause != NULL, "2 frames of 4 and no padding frame is refused: %s",
	    cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	tap_ok(heads_record_prepare(r, rows, 2, pad, &cause) == 0, "prepare 2 real frames of 4");
	n = heads_record_tensors(r, 7, t);
	tap_ok(n == 3 && strcmp(t[0].kind, "frames") == 0 && strcmp(t[1].kind, "cache.tcmgc") == 0 &&
	    strcmp(t[2].kind, "cache.ea") == 0 && t[0].model_id == 7 && t[2].model_id == 7 &&
	    t[0].count == 4 * 16 &&
	    t[1].count == (int64_t)tcmgc_video_cache_floats(f->tc) &&
	    t[2].count == (int64_t)ea_video_cache_floats(f->ea),
	    "clip record: frames [4, 16], cache.tcmgc, cache.ea with the heads' sizes");
	tap_ok(strcmp(HEADS_KIND_FRAMES, "frames") == 0 && strcmp(HEADS_KIND_TCMGC, "cache.tcmgc") == 0 &&
	    strcmp(HEADS_KIND_EA, "cache.ea") == 0, "stored kind strings unchanged");
	/* Upstream pads with zero images run through the tower, not zero rows. */
	for (int i = 2; i < 4; i++)
		padded = padded && memcmp(heads_record_frames(r) + i * 16, pad, sizeof pad) == 0;
	tap_ok(memcmp(heads_record_frames(r), rows, sizeof rows) == 0 && padded &&
	    heads_record_mask(r)[0] == 1 && heads_record_mask(r)[1] == 1 &&
	    heads_record_mask(r)[2] == 0 && heads_record_mask(r)[3] == 0,
	    "frames: the real rows, then the zero image's embedding; mask 1 1 0 0");
	direct = malloc(tcmgc_video_cache_floats(f->tc) * sizeof *direct);
	tap_ok(direct != NULL && tcmgc_prepare_video(f->tc, heads_record_frames(r),
	    heads_record_mask(r), direct, NULL) == 0 &&
	    memcmp(direct, t[1].data, tcmgc_video_cache_floats(f->tc) * sizeof *direct) == 0,
	    "the TC-MGC cache is tcmgc_prepare_video's");
	free(direct);
	heads_record_free(r);
	heads_free(h);

	h = heads_open(two, 3, HEADS_FOR_INDEX, &cause);
	if (tap_ok(h != NULL, "index tcmgc+ea+tcmgc (%s)", cause ? cause : "ok")) {
		heads_file *a = heads_file_at(h, 0), *b = heads_file_at(h, 1), *c = heads_file_at(h, 2);
		heads_record *ra = heads_record_new(a, NULL), *rb = heads_record_new(b, NULL);
		int na = 0, nb = 0;

		if (ra != NULL && rb != NULL && heads_record_prepare(ra, rows, 2, pad, NULL) == 0 &&
		    heads_record_prepare(rb, rows, 2, pad, NULL) == 0) {
			na = heads_record_tensors(ra, 1, t);
			na = na == 2 && strcmp(t[1].kind, "cache.tcmgc") == 0 ? na : -1;
			nb = heads_record_tensors(rb, 2, t);
			nb = nb == 2 && strcmp(t[1].kind, "cache.ea") == 0 ? nb : -1;
		}
		tap_ok(a->tc != NULL && a->ea == NULL && b->ea != NULL && b->tc == NULL && na == 2 &&
		    nb == 2, "index: a tcmgc file writes frames + cache.tcmgc, an ea file frames + "
		    "cache.ea");
		tap_ok(a->tower == 0 && c->tower == 0 && (b->tower == 0 || b->tower == 1),
		    "the same file given twice shares one image tower");
		heads_record_free(ra);
		heads_record_free(rb);
	} else {
		free(cause);
		cause = NULL;
	}
	heads_free(h);
}

/* Encoding a query with a head's file. */
static void test_text(void)
{
	const char *one[1] = { p_tc };
	char *cause = NULL;
	heads_set *h = heads_open(one, 1, HEADS_FOR_SEARCH, &cause);
	heads_text *t = h != NULL ? heads_text_new(heads_supplier(h, HEADS_TCMGC), 0, &cause) : NULL;
	const heads_encoding *e;
	int fresh = -1, ok;

	if (!tap_ok(t != NULL, "text tower of the TC-MGC file (%s)", cause ? cause : "ok")) {
		free(cause);
		heads_free(h);
		return;
	}
	e = heads_text_get(t);
	tap_ok(e->L == tcmgc_words(heads_supplier(h, HEADS_TCMGC)->tc) && e->D == 16,
	    "L is the head's word count (%d), D 16", e->L);
	ok = heads_text_encode(t, "a red car", &fresh, &cause) == 0 && fresh == 1;
	tap_ok(ok && e->n_tokens >= 3 && e->n_tokens <= e->L && !e->truncated && e->ids[0] != 0 &&
	    isfinite(e->sentence[0]) && isfinite(e->words[0]),
	    "encode: %d tokens, finite features (%s)", e->n_tokens, cause ? cause : "ok");
	tap_ok(heads_text_encode(t, "a red car", &fresh, &cause) == 0 && fresh == 0,
	    "the same text again reuses the encoding");
	heads_text_free(t);
	heads_free(h);
	free(cause);
}

/*
 * Issue 17.1: a clip with fewer frames than F is padded as upstream.  The
 * reference golden (tools/reference/gen_clip_golden.py) holds torch's
 * encode_image of 3 frames and one all-zero frame: exactly a 3-frame clip
 * padded to F = 4.  The record built the indexer's way (the real frames as
 * one group, the tower's zero-image embedding once) must match it; the
 * heads then compute from the same frames and mask as their own parity
 * tests (test-heads against heads_ref.py).
 */
static void test_padded_clip(void)
{
	const char *srcdir = getenv("top_srcdir");
	char path[600], *cause = NULL;
	heads_set *h = heads_open((const char *const[]){ p_clip }, 1, HEADS_FOR_INDEX, &cause);
	heads_file *f = h != NULL ? heads_file_at(h, 0) : NULL;
	heads_record *r = f != NULL ? heads_record_new(f, &cause) : NULL;
	vit *v = f != NULL ? vit_new(f->m, 8, &cause) : NULL;
	st_file *g;
	float *px = NULL, *want = NULL, emb[3 * 16], pad[16];
	int three = 3;
	double err;

	snprintf(path, sizeof path, "%s/tests/golden/tiny-clip-out.safetensors", srcdir ? srcdir : ".");
	g = st_open(path, &cause);
	if (g != NULL) {
		px = golden_read(g, "frames", 4 * 3 * 32 * 32);
		want = golden_read(g, "image_embeds", 4 * 16);
	}
	if (!tap_ok(r != NULL && v != NULL && px != NULL && want != NULL && f->F == 4,
	    "padded clip: model and golden (%s)", cause ? cause : "ok"))
		goto out;
	tap_ok(vit_encode_groups(v, px, &three, 1, emb, &cause) == 0 &&
	    vit_encode_blank(v, pad, &cause) == 0 &&
	    heads_record_prepare(r, emb, 3, pad, &cause) == 0, "a 3-frame clip's record (%s)",
	    cause ? cause : "ok");
	err = tap_rel_err(heads_record_frames(r), want, 4 * 16);
	tap_ok(err <= 1e-4, "a 3-frame clip padded to 4 matches torch on 3 frames + a zero image "
	    "(normalised error %.2e <= 1e-4)", err);
	err = tap_rel_err(heads_record_frames(r) + 3 * 16, want + 3 * 16, 16);
	tap_ok(err <= 1e-4 && heads_record_mask(r)[3] == 0 && heads_record_mask(r)[2] == 1,
	    "the padding row is the zero image's embedding (error %.2e), mask 1 1 1 0", err);
out:
	free(cause);
	tensor_free(px);
	tensor_free(want);
	st_close(g);
	vit_free(v);
	heads_record_free(r);
	heads_free(h);
}

/*
 * Issue 15: one file, several heads.  tests/golden/tiny-multi.safetensors
 * (tools/reference/gen_multi_golden.py) joins tiny-tcmgc and tiny-ea (one
 * image tower, a text tower each) and adds "meanp" (EA meanP, no block):
 * each head is an entry of its own that computes exactly what its single
 * file does, with its own identity.
 */
static int same_record(heads_file *a, heads_file *b, const float *rows, const float *pad)
{
	heads_record *ra = heads_record_new(a, NULL), *rb = heads_record_new(b, NULL);
	index_tensor ta[HEADS_MAX_TENSORS], tb[HEADS_MAX_TENSORS];
	int na, nb, same = 0;

	if (ra != NULL && rb != NULL && heads_record_prepare(ra, rows, 2, pad, NULL) == 0 &&
	    heads_record_prepare(rb, rows, 2, pad, NULL) == 0) {
		na = heads_record_tensors(ra, 1, ta);
		nb = heads_record_tensors(rb, 1, tb);
		same = na == nb;
		for (int i = 0; same && i < na; i++)
			same = strcmp(ta[i].kind, tb[i].kind) == 0 && ta[i].count == tb[i].count &&
			    memcmp(ta[i].data, tb[i].data, sizeof(float) * (size_t)ta[i].count) == 0;
	}
	heads_record_free(ra);
	heads_record_free(rb);
	return same;
}

static int same_text(heads_file *a, heads_file *b, const char *query)
{
	heads_text *x = heads_text_new(a, 0, NULL), *y = heads_text_new(b, 0, NULL);
	int same = 0;

	if (x != NULL && y != NULL && heads_text_encode(x, query, NULL, NULL) == 0 &&
	    heads_text_encode(y, query, NULL, NULL) == 0) {
		const heads_encoding *ex = heads_text_get(x), *ey = heads_text_get(y);
		same = ex->L == ey->L && ex->D == ey->D && ex->n_tokens == ey->n_tokens &&
		    memcmp(ex->sentence, ey->sentence, sizeof(float) * (size_t)ex->D) == 0 &&
		    memcmp(ex->words, ey->words, sizeof(float) * (size_t)ex->L * (size_t)ex->D) == 0;
	}
	heads_text_free(x);
	heads_text_free(y);
	return same;
}

static void test_multi(void)
{
	const char *multi[1] = { p_multi }, *two[2] = { p_tc, p_ea };
	float rows[2 * 16], pad[16];
	uint8_t fh[HASH_SIZE];
	char *cause = NULL;
	heads_set *m = heads_open(multi, 1, HEADS_FOR_INDEX, &cause), *s = NULL;
	heads_file *f0, *f1, *f2;

	if (!tap_ok(m != NULL && heads_count(m) == 3, "a multi-head file gives one entry per head "
	    "(%s)", cause ? cause : "ok")) {
		free(cause);
		heads_free(m);
		return;
	}
	f0 = heads_file_at(m, 0);
	f1 = heads_file_at(m, 1);
	f2 = heads_file_at(m, 2);
	tap_ok(strcmp(f0->head, "tcmgc") == 0 && strcmp(f1->head, "ea") == 0 &&
	    strcmp(f2->head, "meanp") == 0 && strcmp(f0->path, p_multi) == 0 &&
	    strcmp(model_get_config(f0->m)->architecture, "tcmgc") == 0 &&
	    strcmp(model_get_config(f2->m)->architecture, "ea") == 0 &&
	    f0->tc != NULL && f0->ea == NULL && f1->ea != NULL && f2->ea != NULL,
	    "heads tcmgc, ea, meanp in file order, each with its architecture and head");
	tap_ok(hash_file(p_multi, fh, NULL, NULL) == 0 && memcmp(f0->hash, fh, HASH_SIZE) != 0 &&
	    memcmp(f0->hash, f1->hash, HASH_SIZE) != 0 && memcmp(f1->hash, f2->hash, HASH_SIZE) != 0,
	    "each head has an identity of its own (not the file's hash)");
	tap_ok(f1->tower == 0 && f2->tower == 0, "the heads share the file's image tower");
	tap_ok(strstr(ea_describe(f2->ea), "no block") != NULL, "meanp: %s", ea_describe(f2->ea));

	for (int i = 0; i < 2 * 16; i++)
		rows[i] = sinf((float)i * 0.7f);
	for (int i = 0; i < 16; i++)
		pad[i] = cosf((float)i * 0.3f);
	s = heads_open(two, 2, HEADS_FOR_INDEX, &cause);
	if (tap_ok(s != NULL, "the single files (%s)", cause ? cause : "ok")) {
		tap_ok(same_record(f0, heads_file_at(s, 0), rows, pad) &&
		    same_record(f1, heads_file_at(s, 1), rows, pad),
		    "each head's record is bit for bit its single file's");
		tap_ok(same_text(f0, heads_file_at(s, 0), "a red car") &&
		    same_text(f1, heads_file_at(s, 1), "a red car") &&
		    same_text(f2, heads_file_at(s, 1), "blue"),
		    "each head encodes queries with its own text tower (sparse token table included)");
	}
	heads_free(s);
	heads_free(m);

	m = heads_open(multi, 1, HEADS_FOR_SEARCH, &cause);
	tap_ok(m != NULL && heads_supplier(m, HEADS_TCMGC) == heads_file_at(m, 0) &&
	    heads_supplier(m, HEADS_EA) == heads_file_at(m, 1) && heads_extra_count(m) == 1 &&
	    heads_extra_at(m, 0) == heads_file_at(m, 2) && heads_extra_at(m, 1) == NULL &&
	    heads_file_at(m, 2)->ea == NULL,
	    "search: TC-MGC and EA from the first heads of their kinds, meanp an extra mode");
	heads_free(m);
	m = heads_open_head(multi, 1, HEADS_FOR_SEARCH, "meanp", &cause);
	tap_ok(m != NULL && heads_count(m) == 1 && heads_supplier(m, HEADS_EA) == heads_file_at(m, 0) &&
	    heads_supplier(m, HEADS_TCMGC) == NULL && heads_extra_count(m) == 0,
	    "one head of the file alone (%s)", cause ? cause : "ok");
	heads_free(m);
	m = heads_open_head(multi, 1, HEADS_FOR_SEARCH, "nope", &cause);
	tap_ok(m == NULL && cause != NULL && strstr(cause, "tiny-multi.safetensors") != NULL &&
	    strstr(cause, "no head 'nope' (the file's heads: tcmgc,ea,meanp)") != NULL,
	    "an unknown head is refused: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	{
		model *v = model_load_head(p_tc, "tcmgc", 0, &cause);
		tap_ok(v == NULL && cause != NULL && strstr(cause, "no head 'tcmgc' (the file's heads: "
		    "none, it is a single model)") != NULL, "a head of a single model file: %s",
		    cause ? cause : "(none)");
		model_free(v);
		free(cause);
	}
}

int main(void)
{
	const char *srcdir = getenv("top_srcdir");

	snprintf(p_tc, sizeof p_tc, "%s/tests/golden/tiny-tcmgc.safetensors", srcdir ? srcdir : ".");
	snprintf(p_ea, sizeof p_ea, "%s/tests/golden/tiny-ea.safetensors", srcdir ? srcdir : ".");
	snprintf(p_clip, sizeof p_clip, "%s/tests/golden/tiny-clip.safetensors", srcdir ? srcdir : ".");
	snprintf(p_multi, sizeof p_multi, "%s/tests/golden/tiny-multi.safetensors",
	    srcdir ? srcdir : ".");
	test_choose();
	test_search_sets();
	test_identity();
	test_records();
	test_text();
	test_padded_clip();
	test_multi();
	return tap_done();
}
