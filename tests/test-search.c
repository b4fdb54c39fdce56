/*
 * test-search — the library search against the reference ranking: for a
 * fixed random 200-video library (tests/golden/heads.safetensors, made by
 * tools/reference/gen_heads_golden.py), clipgrep's top 10 must equal the
 * PyTorch reference's top 10, in order, for the trained TC-MGC head and
 * for the fused (TC-MGC + EA, z-normalised) training-free ranking.  Also:
 * threads do not change the result, the heap keeps the exact top K, the
 * pre-filter and the tight re-ranker score what they say, removal works;
 * a library written to a cache file and adopted from its mapping searches
 * the same, and changes copy it first (core/cachefile).  The scan runs on
 * the one thread pool (core/parallel): searches start no threads of their
 * own, and the pool's threads use no CPU between searches.
 */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cachefile.h"
#include "ea.h"
#include "model.h"
#include "parallel.h"
#include "safetensors.h"
#include "search.h"
#include "tap.h"
#include "tcmgc.h"
#include "tensor.h"

static st_file *golden;
static char golden_dir[4096];

static float *golden_get(const char *name, size_t numel)
{
	const st_tensor *t = st_find(golden, name);
	float *out;

	if (t == NULL || t->numel != numel) {
		tap_diag("golden tensor %s missing or of the wrong size", name);
		return NULL;
	}
	out = tensor_alloc(numel);
	if (st_read_f32(golden, t, out, NULL) == -1) {
		tensor_free(out);
		return NULL;
	}
	return out;
}

static model *load_model(const char *variant)
{
	char path[4200], *cause = NULL;
	model *m;

	snprintf(path, sizeof path, "%s/heads-%s.safetensors", golden_dir, variant);
	if ((m = model_load_flags(path, MODEL_LOAD_NO_TOWERS, &cause)) == NULL) {
		tap_diag("%s", cause);
		free(cause);
	}
	return m;
}

/* Build a library of the golden videos for the given heads. */
static search_lib *build(const char *name, const tcmgc *tc, const ea *e, int n, int f, int d)
{
	char key[256];
	float *v, *mask, *tcc = NULL, *eac = NULL;
	search_lib *lib = search_lib_new(tc, e, NULL);

	snprintf(key, sizeof key, "%s.v", name);
	v = golden_get(key, (size_t)n * f * d);
	snprintf(key, sizeof key, "%s.mask", name);
	mask = golden_get(key, (size_t)n * f);
	if (tc != NULL)
		tcc = tensor_alloc(tcmgc_video_cache_floats(tc));
	if (e != NULL)
		eac = tensor_alloc(ea_video_cache_floats(e));
	if (lib == NULL || v == NULL || mask == NULL)
		goto fail;
	search_lib_reserve(lib, (size_t)n, NULL);
	for (int j = 0; j < n; j++) {
		if ((tc != NULL && tcmgc_prepare_video(tc, v + (size_t)j * f * d, mask + (size_t)j * f,
		    tcc, NULL) == -1) ||
		    (e != NULL && ea_prepare_video(e, v + (size_t)j * f * d, mask + (size_t)j * f, eac,
		    NULL) == -1) ||
		    search_lib_add(lib, j, tcc, eac, NULL) == -1)
			goto fail;
	}
	tensor_free(v);
	tensor_free(mask);
	tensor_free(tcc);
	tensor_free(eac);
	return lib;
fail:
	tap_diag("cannot build library %s", name);
	search_lib_free(lib);
	tensor_free(v);
	tensor_free(mask);
	tensor_free(tcc);
	tensor_free(eac);
	return NULL;
}

static int same_hits(const search_result *a, const search_result *b)
{
	if (a->nhits != b->nhits)
		return 0;
	for (int i = 0; i < a->nhits; i++)
		if (a->hits[i].id != b->hits[i].id || a->hits[i].score != b->hits[i].score)
			return 0;
	return 1;
}

static void check_top10(const char *what, const search_result *res, const float *want)
{
	int ok = res->nhits == 10;

	for (int i = 0; ok && i < 10; i++)
		ok = res->hits[i].id == (int64_t)want[i];
	tap_ok(ok, "%s: top-10 equals the reference's, in order", what);
	if (!ok)
		for (int i = 0; i < res->nhits && i < 10; i++)
			tap_diag("  %d: got %lld (%.6f), want %d", i, (long long)res->hits[i].id,
			    (double)res->hits[i].score, (int)want[i]);
}

static void test_tcmgc_library(int n)
{
	model *m = load_model("tcmgc-k1");
	tcmgc *tc = m != NULL ? tcmgc_load(m, NULL) : NULL;
	int f = tc ? tcmgc_frames(tc) : 0, d = tc ? tcmgc_dim(tc) : 0, l = tc ? tcmgc_words(tc) : 0;
	float *s = golden_get("lib-tcmgc.s", (size_t)d), *w = golden_get("lib-tcmgc.words", (size_t)l * d);
	float *want = golden_get("lib-tcmgc.top10", 10), *ref = golden_get("lib-tcmgc.score", (size_t)n);
	search_lib *lib = tc != NULL ? build("lib-tcmgc", tc, NULL, n, f, d) : NULL;
	tcmgc_query *q = lib != NULL && s && w ? tcmgc_query_new(tc, s, w, NULL) : NULL;
	search_result r1, r2, r3;
	search_opts o;
	char *cause = NULL;

	if (!tap_ok(q != NULL && want != NULL && ref != NULL, "trained TC-MGC library of %d videos", n))
		goto out;
	float *all = tensor_alloc((size_t)n);
	search_score_all(lib, q, NULL, SEARCH_TCMGC, 2, all, NULL);
	double err = tap_rel_err(all, ref, (size_t)n);
	tap_ok(err <= 1e-4, "library scores match the reference (normalised error %.2e)", err);
	tensor_free(all);

	search_opts_init(&o);
	o.threads = 1;
	if (!tap_ok(search_run(lib, q, NULL, &o, &r1, &cause) == 0, "search_run, 1 thread")) {
		tap_diag("%s", cause);
		free(cause);
		goto out;
	}
	check_top10("TC-MGC", &r1, want);
	o.threads = 3;
	search_run(lib, q, NULL, &o, &r2, NULL);
	tap_ok(same_hits(&r1, &r2), "3 threads give the same hits as 1");
	tap_ok(r1.scored == (size_t)n && r1.library == (size_t)n, "every video scored exactly");
	{
		const search_hit *h = &r1.hits[0];
		int ok = h->word_attn != NULL && h->word_best != NULL && h->sent_attn != NULL &&
		    h->best_frame >= 0 && h->best_frame < f && isnan(h->ea) && h->ea_exc == NULL;
		double wsum = 0;
		for (int i = 0; i < f; i++)
			wsum += h->word_attn[i];
		float zo = 0;
		for (int g = 0; g < 4; g++)
			zo += h->z[g] * h->omega[g];
		tap_ok(ok && fabs(wsum - 1) < 1e-5 && fabsf(zo - h->tcmgc) < 1e-4f * fabsf(h->tcmgc) &&
		    h->score == h->tcmgc, "hit breakdown: attention rows sum to 1, Σ ω Z = score");
	}

	/* top_k larger than the library: every video, sorted. */
	o.top_k = n + 5;
	search_run(lib, q, NULL, &o, &r3, NULL);
	int sorted = r3.nhits == n;
	for (int i = 1; sorted && i < r3.nhits; i++)
		sorted = r3.hits[i - 1].score >= r3.hits[i].score;
	tap_ok(sorted, "top_k > N returns all N hits, best first");
	search_result_free(&r3);

	/* The pre-filter scores only M videos; with M >= N it is exact. */
	o.top_k = 10;
	o.prefilter = 50;
	search_run(lib, q, NULL, &o, &r3, NULL);
	tap_ok(r3.scored == 50 && r3.nhits == 10, "pre-filter M = 50 scores 50 videos");
	search_result_free(&r3);
	o.prefilter = n;
	search_run(lib, q, NULL, &o, &r3, NULL);
	tap_ok(same_hits(&r1, &r3), "pre-filter M >= N is exact");
	search_result_free(&r3);

	/* Removing the best video promotes the second. */
	o.prefilter = 0;
	int64_t second = r1.hits[1].id;
	tap_ok(search_lib_remove(lib, r1.hits[0].id) == 0 && search_lib_count(lib) == (size_t)n - 1,
	    "remove a video");
	search_run(lib, q, NULL, &o, &r3, NULL);
	tap_ok(r3.nhits > 0 && r3.hits[0].id == second, "the second hit is now the first");
	tap_ok(search_lib_remove(lib, 99999) == -1, "removing an unknown id fails");
	search_result_free(&r3);
	search_result_free(&r1);
	search_result_free(&r2);
out:
	tcmgc_query_free(q);
	search_lib_free(lib);
	tcmgc_free(tc);
	model_free(m);
	tensor_free(s);
	tensor_free(w);
	tensor_free(want);
	tensor_free(ref);
}

/* The same ranking from a and b in every mode (hits, scores, best frames). */
static int same_everywhere(search_lib *a, search_lib *b, const tcmgc_query *q, const float *s)
{
	static const search_model modes[3] = { SEARCH_TCMGC, SEARCH_EA, SEARCH_FUSED };
	int ok = 1;

	for (int m = 0; m < 3; m++) {
		search_result ra, rb;
		search_opts o;
		search_opts_init(&o);
		o.model = modes[m];
		if (search_run(a, q, s, &o, &ra, NULL) != 0)
			return 0;
		if (search_run(b, q, s, &o, &rb, NULL) != 0) {
			search_result_free(&ra);
			return 0;
		}
		ok &= same_hits(&ra, &rb);
		for (int h = 0; ok && h < ra.nhits; h++)
			ok = ra.hits[h].best_frame == rb.hits[h].best_frame;
		search_result_free(&ra);
		search_result_free(&rb);
	}
	return ok;
}

/*
 * A library written to a cache file and adopted in place from its mapping:
 * the same rankings; adding and removing copy the arrays first (the
 * mapping is read-only: a write would fault) and give the same rankings as
 * the same changes to the original.
 */
static void test_cache_adopt(search_lib *lib, const tcmgc *tc, const ea *e,
    const tcmgc_query *q, const float *s)
{
	const char *tmp = getenv("TMPDIR");
	char path[4200];
	cachefile_key key = { 42, { 7, 7 } }, other = { 43, { 7, 7 } };
	search_lib_arrays a, want, got;
	search_lib *copy = search_lib_new(tc, e, NULL);
	int64_t dmg[2] = { 3, 9 };
	cachefile_extras x = { dmg, 2, NULL }, got_x;
	int current = -1;
	cachefile *f;
	char *why = NULL;
	float *tcc = tensor_alloc(tcmgc_video_cache_floats(tc));
	float *eac = tensor_alloc(ea_video_cache_floats(e));

	snprintf(path, sizeof path, "%s/test-search-cache-%d", tmp != NULL && *tmp ? tmp : "/tmp",
	    (int)getpid());
	search_lib_get_arrays(lib, &a);
	int64_t *stamps = calloc(a.n, sizeof *stamps);
	for (size_t i = 0; stamps != NULL && i < a.n; i++)
		stamps[i] = (int64_t)i * 7 - 3;
	x.stamps = stamps;
	tap_ok(a.e16_width > 0 && stamps != NULL && cachefile_write(path, &key, &a, &x, NULL) == 0,
	    "a library with a bf16 first pass is written to a cache file");
	search_lib_get_arrays(copy, &want);
	f = cachefile_open(path, &other, &want, &got, &got_x, &current, &why);
	tap_ok(f != NULL && current == 0 && got_x.stamps[5] == 32,
	    "at another change stamp it is whole but not current, its records' stamps kept");
	cachefile_close(f);
	cachefile_key models = { 42, { 7, 8 } };
	tap_ok(cachefile_open(path, &models, &want, &got, &got_x, &current, &why) == NULL &&
	    why != NULL && strcmp(why, "stale") == 0, "made for other models: stale (%s)",
	    why != NULL ? why : "-");
	free(why);
	why = NULL;
	f = cachefile_open(path, &key, &want, &got, &got_x, &current, &why);
	tap_ok(f != NULL && current == 1 && got.n == a.n && got_x.n_damaged == 2 &&
	    got_x.damaged[1] == 9 && search_lib_adopt(copy, &got, cachefile_close, f, NULL) == 0,
	    "the file is opened and adopted in place: %s", why != NULL ? why : "ok");
	free(stamps);
	free(why);
	unlink(path); /* the mapping stays valid */
	tap_ok(same_everywhere(lib, copy, q, s), "the adopted library ranks as the original in "
	    "every mode, bit for bit");
	/* The same changes to both: an added copy of record 5, then a removal. */
	search_lib_get_arrays(lib, &a);
	memcpy(tcc, a.kc + 5 * a.kc_width, sizeof(float) * a.kc_width);
	memcpy(tcc + a.kc_width, a.tx + 5 * a.tx_width, sizeof(float) * a.tx_width);
	memcpy(eac, a.eb + 5 * a.ea_width, sizeof(float) * a.ea_width);
	tap_ok(search_lib_add(lib, 100000, tcc, eac, NULL) == 0 &&
	    search_lib_add(copy, 100000, tcc, eac, NULL) == 0 && search_lib_remove(lib, 3) == 0 &&
	    search_lib_remove(copy, 3) == 0 && search_lib_count(copy) == search_lib_count(lib) &&
	    same_everywhere(lib, copy, q, s), "after an add and a remove (copied first) the two "
	    "still rank alike");
	search_lib_free(copy);
	tensor_free(tcc);
	tensor_free(eac);
}

/* The checksum: the AVX2 build and the portable one agree at every length
 * and alignment, and a changed word changes it. */
static void test_cache_sum(void)
{
	unsigned char buf[1100];
	int ok = 1;

	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= 1090; len += 1 + len / 16)
			ok &= cachefile_sum(buf + off, len) == cachefile_sum_portable(buf + off, len);
	tap_ok(ok, "cachefile_sum: the dispatched and the portable sum agree");
	uint64_t h = cachefile_sum(buf, 1024);
	buf[500] ^= 1;
	uint64_t h2 = cachefile_sum(buf, 1024);
	buf[500] ^= 1;
	/* Swap two words of different lanes: the order counts. */
	unsigned char t[4];
	memcpy(t, buf + 16, 4);
	memcpy(buf + 16, buf + 20, 4);
	memcpy(buf + 20, t, 4);
	tap_ok(h2 != h && cachefile_sum(buf, 1024) != h, "a flipped bit or two swapped words "
	    "change it");
}

static void test_fused_library(int n)
{
	model *m = load_model("clip");
	tcmgc *tc = m != NULL ? tcmgc_load(m, NULL) : NULL;
	ea *e = m != NULL ? ea_load(m, NULL) : NULL;
	int f = tc ? tcmgc_frames(tc) : 0, d = tc ? tcmgc_dim(tc) : 0, l = tc ? tcmgc_words(tc) : 0;
	float *s = golden_get("lib-clip.s", (size_t)d), *w = golden_get("lib-clip.words", (size_t)l * d);
	float *want = golden_get("lib-clip.top10", 10), *ref = golden_get("lib-clip.score", (size_t)n);
	search_lib *lib = tc != NULL && e != NULL ? build("lib-clip", tc, e, n, f, d) : NULL;
	tcmgc_query *q = lib != NULL && s && w ? tcmgc_query_new(tc, s, w, NULL) : NULL;
	search_result r;
	search_opts o;

	if (!tap_ok(q != NULL && want != NULL && ref != NULL, "training-free fused library of %d", n))
		goto out;
	float *all = tensor_alloc((size_t)n);
	search_score_all(lib, q, s, SEARCH_FUSED, 2, all, NULL);
	double err = tap_rel_err(all, ref, (size_t)n);
	tap_ok(err <= 1e-4, "fused scores match the reference (normalised error %.2e)", err);
	tensor_free(all);
	search_opts_init(&o);
	o.model = SEARCH_FUSED;
	if (search_run(lib, q, s, &o, &r, NULL) == 0) {
		check_top10("fused training-free", &r, want);
		tap_ok(!isnan(r.hits[0].ea) && !isnan(r.hits[0].tcmgc) && r.hits[0].ea_exc != NULL &&
		    r.hits[0].ea_agg != NULL, "fused hits carry both scores and EA's weights");
		search_result_free(&r);
	} else
		tap_ok(0, "fused search_run");

	/* EA alone: the top 10 of a brute-force sort of EA scores. */
	o.model = SEARCH_EA;
	float *eas = tensor_alloc((size_t)n);
	search_score_all(lib, NULL, s, SEARCH_EA, 1, eas, NULL);
	if (search_run(lib, NULL, s, &o, &r, NULL) == 0) {
		int ok = r.nhits == 10;
		for (int i = 0; ok && i < 10; i++) {
			int better = 0;
			for (int j = 0; j < n; j++)
				better += eas[j] > r.hits[i].score;
			ok = better == i && r.hits[i].word_attn == NULL;
		}
		tap_ok(ok, "EA search returns the exact top 10");
		search_result_free(&r);
	} else
		tap_ok(0, "EA search_run");
	tensor_free(eas);
	test_cache_adopt(lib, tc, e, q, s);
out:
	tcmgc_query_free(q);
	search_lib_free(lib);
	tcmgc_free(tc);
	ea_free(e);
	model_free(m);
	tensor_free(s);
	tensor_free(w);
	tensor_free(want);
	tensor_free(ref);
}

/*
 * The certificate at 2000 videos: the golden videos, exact copies (ties
 * broken by library order) and perturbed copies; for several queries the
 * bf16 first pass plus fp32 re-scoring (EA) and the block scan (TC-MGC,
 * fused) give exactly the exhaustive fp32 scan's top 10.  Then a scan
 * asked to cancel returns 1 and no hits.
 */
/* A thread's user + system CPU ticks, or -1 when /proc cannot tell. */
static long thread_ticks(long tid)
{
	char path[64], buf[1024];
	FILE *fp;
	size_t got;
	unsigned long ut, st;

	snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	got = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[got] = 0;
	/* Fields 14 and 15 (utime, stime) follow the ")" that ends field 2. */
	char *p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

static int thread_count(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (dir == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

static void record_tid(void *ctx, int part, int parts)
{
	(void)parts;
	((long *)ctx)[part] = (long)syscall(SYS_gettid);
}

/* The pool's workers' ticks in all (they are tids[1 .. n-1]), -1 if unknown. */
static long pool_ticks(const long *tids, int n)
{
	long sum = 0;

	for (int i = 1; i < n; i++) {
		long t = thread_ticks(tids[i]);
		if (t < 0)
			return -1;
		sum += t;
	}
	return sum;
}

/*
 * Searches run on the pool's threads: the pool's workers (found by a job
 * that records who runs each part) do the scan's work, no thread is left
 * behind, and between searches the workers sleep: one left spinning would
 * use about 30 ticks in 0.3 s.
 */
static void test_pool(search_lib *lib, const tcmgc_query *q, const float *s)
{
	enum { WORKERS = 3 };
	long tids[WORKERS] = { 0 }, busy0, busy1, idle0, idle1;
	search_opts o;
	search_result res;
	int ok = 1, threads0, threads1;

	parallel_run_parts(record_tid, tids, WORKERS);
	if ((busy0 = pool_ticks(tids, WORKERS)) < 0 || tids[1] == tids[0] ||
	    (threads0 = thread_count()) < 0) {
		tap_skip("no /proc/self/task or no pool: the pool's threads cannot be watched");
		tap_skip("no /proc/self/task or no pool");
		return;
	}
	search_opts_init(&o);
	o.threads = WORKERS;
	for (int i = 0; i < 40 && ok; i++) {
		ok = search_run(lib, q, s, &o, &res, NULL) == 0 && res.nhits == 10;
		search_result_free(&res);
	}
	busy1 = pool_ticks(tids, WORKERS);
	threads1 = thread_count();
	tap_ok(ok && busy1 - busy0 >= 2 && threads1 == threads0,
	    "40 searches on %d workers ran on the pool's threads: %ld ticks of CPU there, %d threads "
	    "before and %d after", WORKERS, busy1 - busy0, threads0, threads1);
	usleep(20000); /* past the workers' spin after their last job */
	idle0 = pool_ticks(tids, WORKERS);
	usleep(300000);
	idle1 = pool_ticks(tids, WORKERS);
	tap_ok(idle0 >= 0 && idle1 - idle0 <= 3,
	    "the pool's threads sleep between searches: %ld ticks of CPU in 0.3 s", idle1 - idle0);
}

static void test_verify(const char *variant, const char *lib_name, int n0, int n)
{
	model *m = load_model(variant);
	tcmgc *tc = m != NULL ? tcmgc_load(m, NULL) : NULL;
	ea *e = m != NULL && strcmp(variant, "clip") == 0 ? ea_load(m, NULL) : NULL;
	int f = tc ? tcmgc_frames(tc) : 0, d = tc ? tcmgc_dim(tc) : 0, l = tc ? tcmgc_words(tc) : 0;
	char key[256];
	float *v, *mask, *tcc = NULL, *eac = NULL, *s = NULL, *w = NULL, *vj = NULL;
	search_lib *lib = tc != NULL ? search_lib_new(tc, e, NULL) : NULL;
	uint64_t r = 0x12345678abcdefull;
	int mismatches = 0, checks = 0;
	size_t rescored = 0, ea_queries = 0, tc_scored = 0, tc_queries = 0;

	snprintf(key, sizeof key, "%s.v", lib_name);
	v = golden_get(key, (size_t)n0 * f * d);
	snprintf(key, sizeof key, "%s.mask", lib_name);
	mask = golden_get(key, (size_t)n0 * f);
	snprintf(key, sizeof key, "%s.s", lib_name);
	s = golden_get(key, (size_t)d);
	snprintf(key, sizeof key, "%s.words", lib_name);
	w = golden_get(key, (size_t)l * d);
	if (tc != NULL) {
		tcc = tensor_alloc(tcmgc_video_cache_floats(tc));
		vj = tensor_alloc((size_t)f * d);
	}
	if (e != NULL)
		eac = tensor_alloc(ea_video_cache_floats(e));
	if (!tap_ok(lib != NULL && v != NULL && mask != NULL && s != NULL && w != NULL && vj != NULL,
	    "%s: library of %d videos for the verification", variant, n))
		goto out;
	search_lib_reserve(lib, (size_t)n, NULL);
	/* The bound never skips a video at its own score: a video asked to
	 * reach exactly its score is always finished, with that score. */
	tcmgc_query *gq = tcmgc_query_new(tc, s, w, NULL);
	float *bscratch = gq != NULL ? tensor_zalloc(tcmgc_batch_scratch_floats(tc, gq, 1)) : NULL;
	int bound_ok = gq != NULL && bscratch != NULL, skipped_high = 0;
	for (int j = 0; j < n; j++) {
		const float *src = v + (size_t)(j % n0) * f * d;
		/* Every third copy exact (ties), the others perturbed. */
		for (size_t i = 0; i < (size_t)f * d; i++) {
			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			float noise = (float)((double)(r >> 11) / 9007199254740992.0 - 0.5);
			vj[i] = src[i] + (j >= n0 && j % 3 != 0 ? 0.2f * noise : 0.0f);
		}
		if (tcmgc_prepare_video(tc, vj, mask + (size_t)(j % n0) * f, tcc, NULL) == -1 ||
		    (e != NULL && ea_prepare_video(e, vj, mask + (size_t)(j % n0) * f, eac, NULL) == -1) ||
		    search_lib_add(lib, j, tcc, eac, NULL) == -1) {
			tap_ok(0, "prepare video %d", j);
			goto out;
		}
		if (bound_ok) {
			const float *ex = tcc + tcmgc_cache_extras_offset(tc);
			float exact, got, high;
			tcmgc_score_batch(tc, gq, tcc, ex, 0, 1, &exact, bscratch);
			bound_ok &= tcmgc_score_batch_above(tc, gq, tcc, ex, 0, 1, exact, &got,
			    bscratch) == 1 && got == exact;
			tcmgc_score_batch_above(tc, gq, tcc, ex, 0, 1, exact + 1000, &high, bscratch);
			skipped_high += isnan(high);
		}
	}
	tap_ok(bound_ok && skipped_high > 0, "%s: the TC-MGC bound holds for all %d videos (and "
	    "skips %d asked for 1000 more than their score)", variant, n, skipped_high);
	/* A video's score does not depend on the videos sharing its block. */
	if (gq != NULL) {
		float *all = tensor_alloc((size_t)n), *one = tensor_alloc(tcmgc_video_cache_floats(tc));
		int same = all != NULL && one != NULL &&
		    search_score_all(lib, gq, NULL, SEARCH_TCMGC, 2, all, NULL) == 0;
		for (int j = 0; same && j < n; j += 7) {
			float sc;
			same = tcmgc_prepare_video(tc, v + (size_t)(j % n0) * f * d,
			    mask + (size_t)(j % n0) * f, one, NULL) == 0 &&
			    tcmgc_score(tc, gq, one, &sc, NULL, NULL) == 0 &&
			    (j >= n0 && j % 3 != 0 ? 1 : sc == all[j]);
		}
		tap_ok(same, "%s: a video alone scores the same bits as in the library's blocks", variant);
		tensor_free(all);
		tensor_free(one);
	}
	tcmgc_query_free(gq);
	tensor_free(bscratch);
	for (int qi = 0; qi < 6; qi++) {
		/* The golden query, then word rows mixed into the sentence. */
		float *qs = tensor_alloc((size_t)d);
		for (int i = 0; i < d; i++)
			qs[i] = qi == 0 ? s[i] : s[i] + 0.3f * (float)qi * w[(size_t)(qi % l) * d + i];
		tcmgc_query *q = tcmgc_query_new(tc, qs, w, NULL);
		for (int mode = 0; mode < 3 && q != NULL; mode++) {
			search_opts o;
			int mm = 0;
			size_t rs = 0;
			char why[256], *cause = NULL;
			if (mode != SEARCH_TCMGC && e == NULL)
				continue;
			search_opts_init(&o);
			o.model = (search_model)mode;
			o.threads = 2;
			o.top_k = qi % 2 ? 10 : 25;
			if (search_verify(lib, q, qs, &o, &mm, &rs, why, sizeof why, &cause) == -1) {
				tap_diag("search_verify: %s", cause);
				free(cause);
				mm = 1;
			}
			if (mm)
				tap_diag("query %d mode %d: %s", qi, mode, why);
			mismatches += mm;
			checks++;
			if (mode == SEARCH_EA) {
				rescored += rs;
				ea_queries++;
			}
			if (mode == SEARCH_TCMGC) {
				tc_scored += rs;
				tc_queries++;
			}
		}
		tcmgc_query_free(q);
		tensor_free(qs);
	}
	tap_ok(checks > 0 && mismatches == 0, "%s, %d videos: %d searches, %d mismatches with the "
	    "exhaustive fp32 scan", variant, n, checks, mismatches);
	tap_ok(tc_queries > 0 && tc_scored < tc_queries * (size_t)n,
	    "TC-MGC: the bound left %.1f of %d videos to finish per query",
	    (double)tc_scored / (double)(tc_queries ? tc_queries : 1), n);
	if (e != NULL)
		tap_ok(ea_queries > 0 && rescored > 0 && rescored < ea_queries * (size_t)n,
		    "EA: the bf16 pass left %.1f of %d videos to re-score per query",
		    (double)rescored / (double)ea_queries, n);

	/* Cancelled before the scan: status 1, no hits escape. */
	{
		atomic_int flag = 1;
		search_opts o;
		search_result res;
		tcmgc_query *q = tcmgc_query_new(tc, s, w, NULL);
		int ok = q != NULL;
		for (int mode = 0; mode < 3 && ok; mode++) {
			if (mode != SEARCH_TCMGC && e == NULL)
				continue;
			search_opts_init(&o);
			o.model = (search_model)mode;
			o.cancel = &flag;
			res.nhits = 7;
			ok = search_run(lib, q, s, &o, &res, NULL) == 1 && res.nhits == 0 &&
			    res.hits == NULL;
			atomic_store(&flag, 0);
			ok = ok && search_run(lib, q, s, &o, &res, NULL) == 0 && res.nhits == 10;
			search_result_free(&res);
			atomic_store(&flag, 1);
		}
		tap_ok(ok, "%s: a cancelled scan returns 1 and no hits; cleared, it runs", variant);
		if (q != NULL && e != NULL)
			test_pool(lib, q, s);
		tcmgc_query_free(q);
	}
out:
	search_lib_free(lib);
	tcmgc_free(tc);
	ea_free(e);
	model_free(m);
	tensor_free(v);
	tensor_free(mask);
	tensor_free(s);
	tensor_free(w);
	tensor_free(vj);
	tensor_free(tcc);
	tensor_free(eac);
}

/* The tight type re-ranks a short list with the cross encoder. */
static void test_tight(void)
{
	model *m = load_model("ea-tight");
	ea *e = m != NULL ? ea_load(m, NULL) : NULL;
	int f = e ? ea_frames(e) : 0, d = e ? ea_dim(e) : 0;
	int nq = atoi(st_metadata(golden, "queries") ? st_metadata(golden, "queries") : "0");
	float *s = golden_get("ea-tight.s", (size_t)nq * d), *ref = golden_get("ea-tight.score", (size_t)nq * 3);
	search_lib *lib = e != NULL ? build("ea-tight", NULL, e, 3, f, d) : NULL;
	search_result r;
	search_opts o;

	if (!tap_ok(lib != NULL && s != NULL && ref != NULL, "tight EA library"))
		goto out;
	search_opts_init(&o);
	o.model = SEARCH_EA;
	o.tight_rerank = 2;
	if (search_run(lib, NULL, s, &o, &r, NULL) == 0) {
		int ok = r.scored == 2 && r.nhits == 2;
		for (int i = 0; ok && i < r.nhits; i++)
			ok = fabsf(r.hits[i].score - ref[r.hits[i].id]) <= 1e-4f * fabsf(ref[r.hits[i].id]) + 1e-6f;
		tap_ok(ok, "tight re-rank scores 2 of 3 videos with the reference's cross-encoder scores");
		search_result_free(&r);
	} else
		tap_ok(0, "tight search_run");
	o.model = SEARCH_FUSED;
	tap_ok(search_run(lib, NULL, s, &o, &r, NULL) == -1, "fused refuses a missing TC-MGC query");
out:
	search_lib_free(lib);
	ea_free(e);
	model_free(m);
	tensor_free(s);
	tensor_free(ref);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char path[4200], *cause = NULL;

	snprintf(golden_dir, sizeof golden_dir, "%s/tests/golden", top != NULL ? top : ".");
	snprintf(path, sizeof path, "%s/heads.safetensors", golden_dir);
	if ((golden = st_open(path, &cause)) == NULL) {
		printf("# %s\n", cause);
		free(cause);
		return tap_skip_all("no golden file");
	}
	int n = atoi(st_metadata(golden, "library") ? st_metadata(golden, "library") : "0");
	tensor_set_threads(1);
	if (tap_ok(n >= 20, "golden library of %d videos", n)) {
		test_tcmgc_library(n);
		test_fused_library(n);
		test_verify("clip", "lib-clip", n, 2000);
		test_verify("tcmgc-k1", "lib-tcmgc", n, 2000);
	}
	test_tight();
	test_cache_sum();
	st_close(golden);
	return tap_done();
}
