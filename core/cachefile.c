/*
 * cachefile — the search cache file (see cachefile.h for the layout).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachefile.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cachefile.c stores arrays in host order and assumes a little-endian host"
#endif

#define CACHEFILE_MAGIC "CGSCACHE"
#define CACHEFILE_VERSION 1
#define CACHEFILE_PAGE 4096

enum { ARR_IDS, ARR_DAMAGED, ARR_KC, ARR_TX, ARR_EB, ARR_E16, ARR_STAMPS, ARR_COUNT };
static const char *const cachefile_array_names[ARR_COUNT] = {
	"ids", "damaged", "kc", "tx", "eb", "e16", "stamps"
};

/* The header: fixed-width fields only, checksummed up to header_sum. */
typedef struct {
	char magic[8];
	uint32_t version, header_bytes;
	int64_t stamp;
	int64_t model_ids[2];
	uint64_t n, n_damaged;
	uint64_t widths[4];     /* kc, tx, ea, e16 per record */
	double e16_vmax;
	uint64_t e16_bad;
	uint64_t offset[ARR_COUNT], bytes[ARR_COUNT], sum[ARR_COUNT];
	uint64_t file_bytes;
	uint64_t header_sum;    /* cachefile_sum of everything above */
} cachefile_header;

struct cachefile {
	void *map;
	size_t size;
};

/*
 * The sum, inlined into each kernel below: the same integer arithmetic, so
 * the same value whichever runs.
 */
static inline __attribute__((always_inline)) uint64_t cachefile_sum_body(const void *data,
    size_t bytes)
{
	const unsigned char *p = data;
	uint64_t a[8] = { 0 }, b[8] = { 0 }, h;
	size_t words = bytes / 4, i = 0;

	/* Eight independent lanes: the loop runs at memory speed. */
	for (; i + 8 <= words; i += 8)
		for (int l = 0; l < 8; l++) {
			uint32_t w;
			memcpy(&w, p + (i + (size_t)l) * 4, 4);
			a[l] += w;
			b[l] += a[l];
		}
	for (int l = 0; i < words; i++, l++) {
		uint32_t w;
		memcpy(&w, p + i * 4, 4);
		a[l] += w;
		b[l] += a[l];
	}
	for (size_t k = words * 4; k < bytes; k++) {
		a[7] += p[k];
		b[7] += a[7];
	}
	/* Fold the lanes, each sum multiplied in, with the length. */
	h = 0x9e3779b97f4a7c15ull ^ bytes;
	for (int l = 0; l < 8; l++) {
		h = (h ^ a[l]) * 0x100000001b3ull;
		h = (h ^ b[l]) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

uint64_t cachefile_sum_portable(const void *data, size_t bytes)
{
	return cachefile_sum_body(data, bytes);
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
/* The compiler vectorises the eight lanes with AVX2: memory speed (the
 * SSE2 baseline reaches about half of it). */
__attribute__((target("avx2")))
static uint64_t cachefile_sum_avx2(const void *data, size_t bytes)
{
	return cachefile_sum_body(data, bytes);
}

uint64_t cachefile_sum(const void *data, size_t bytes)
{
	if (__builtin_cpu_supports("avx2"))
		return cachefile_sum_avx2(data, bytes);
	return cachefile_sum_body(data, bytes);
}
#else
uint64_t cachefile_sum(const void *data, size_t bytes)
{
	return cachefile_sum_body(data, bytes);
}
#endif

void cachefile_close(void *arg)
{
	cachefile *f = arg;

	if (f == NULL)
		return;
	if (f->map != NULL)
		munmap(f->map, f->size);
	free(f);
}

static uint64_t cachefile_round_page(uint64_t n)
{
	return (n + CACHEFILE_PAGE - 1) & ~(uint64_t)(CACHEFILE_PAGE - 1);
}

/* Each array's size in bytes, from the header's counts; -1 on overflow. */
static int cachefile_array_bytes(uint64_t n, uint64_t n_damaged, const uint64_t widths[4],
    uint64_t out[ARR_COUNT])
{
	uint64_t per[ARR_COUNT] = { 8, 8, 4 * widths[0], 4 * widths[1], 4 * widths[2],
		2 * widths[3], 8 };
	uint64_t count[ARR_COUNT] = { n, n_damaged, n, n, n, n, n };

	for (int k = 0; k < ARR_COUNT; k++) {
		if ((k >= ARR_KC && k <= ARR_E16 && widths[k - ARR_KC] > UINT64_MAX / 8) ||
		    (per[k] != 0 && count[k] > (UINT64_MAX / 2) / per[k]))
			return -1;
		out[k] = count[k] * per[k];
	}
	return 0;
}

int cachefile_peek(const char *path, cachefile_key *key, search_lib_arrays *shape, char **why)
{
	cachefile_header h;
	ssize_t got;
	int fd;

	memset(shape, 0, sizeof *shape);
	memset(key, 0, sizeof *key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		util_set_cause(why, "%s", errno == ENOENT ? "missing" : strerror(errno));
		return -1;
	}
	got = read(fd, &h, sizeof h);
	close(fd);
	if (got != (ssize_t)sizeof h) {
		util_set_cause(why, "truncated");
		return -1;
	}
	if (memcmp(h.magic, CACHEFILE_MAGIC, 8) != 0 || h.version != CACHEFILE_VERSION ||
	    cachefile_sum(&h, offsetof(cachefile_header, header_sum)) != h.header_sum) {
		util_set_cause(why, "not a cache file of this version");
		return -1;
	}
	key->stamp = h.stamp;
	key->model_ids[0] = h.model_ids[0];
	key->model_ids[1] = h.model_ids[1];
	shape->n = (size_t)h.n;
	shape->kc_width = (size_t)h.widths[0];
	shape->tx_width = (size_t)h.widths[1];
	shape->ea_width = (size_t)h.widths[2];
	shape->e16_width = (size_t)h.widths[3];
	return 0;
}

cachefile *cachefile_open(const char *path, const cachefile_key *key,
    const search_lib_arrays *want, search_lib_arrays *out, cachefile_extras *extras,
    int *current, char **why)
{
	cachefile_header h;
	cachefile *f = NULL;
	const unsigned char *base;
	const char *reason = NULL;
	uint64_t bytes[ARR_COUNT], end = CACHEFILE_PAGE;
	struct stat sb;
	int fd;

	memset(out, 0, sizeof *out);
	memset(extras, 0, sizeof *extras);
	*current = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		util_set_cause(why, "%s", errno == ENOENT ? "missing" : strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		reason = "not a regular file";
		goto fail;
	}
	if ((uint64_t)sb.st_size < CACHEFILE_PAGE) {
		reason = "truncated";
		goto fail;
	}
	if ((f = calloc(1, sizeof *f)) == NULL) {
		reason = "out of memory";
		goto fail;
	}
	f->size = (size_t)sb.st_size;
	/* Every page is read at once: the checksums below touch all of them. */
	f->map = mmap(NULL, f->size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (f->map == MAP_FAILED) {
		f->map = NULL;
		reason = "cannot be mapped";
		goto fail;
	}
	close(fd);
	fd = -1;
	base = f->map;
	memcpy(&h, base, sizeof h);
	if (memcmp(h.magic, CACHEFILE_MAGIC, 8) != 0 || h.version != CACHEFILE_VERSION ||
	    h.header_bytes != CACHEFILE_PAGE) {
		reason = "not a cache file of this version";
		goto fail;
	}
	if (cachefile_sum(&h, offsetof(cachefile_header, header_sum)) != h.header_sum) {
		reason = "checksum mismatch in the header";
		goto fail;
	}
	if (h.file_bytes != (uint64_t)sb.st_size) {
		reason = h.file_bytes > (uint64_t)sb.st_size ? "truncated" : "longer than recorded";
		goto fail;
	}
	if (h.model_ids[0] != key->model_ids[0] ||
	    h.model_ids[1] != key->model_ids[1] || h.widths[0] != want->kc_width ||
	    h.widths[1] != want->tx_width || h.widths[2] != want->ea_width ||
	    h.widths[3] != want->e16_width) {
		reason = "stale";
		goto fail;
	}
	if (cachefile_array_bytes(h.n, h.n_damaged, h.widths, bytes) != 0 || h.n > SIZE_MAX / 8) {
		reason = "impossible sizes";
		goto fail;
	}
	for (int k = 0; k < ARR_COUNT; k++) {
		if (h.bytes[k] != bytes[k] || h.offset[k] != end || h.offset[k] > h.file_bytes ||
		    h.bytes[k] > h.file_bytes - h.offset[k]) {
			reason = "impossible sizes";
			goto fail;
		}
		end = cachefile_round_page(h.offset[k] + h.bytes[k]);
	}
	for (int k = 0; k < ARR_COUNT; k++) {
		if (cachefile_sum(base + h.offset[k], (size_t)h.bytes[k]) != h.sum[k]) {
			if (why != NULL)
				util_set_cause(why, "checksum mismatch in %s", cachefile_array_names[k]);
			goto fail_quiet;
		}
	}
	/* Ids must ascend, as the library built from the index has them. */
	{
		const int64_t *ids = (const int64_t *)(const void *)(base + h.offset[ARR_IDS]);
		for (uint64_t i = 1; i < h.n; i++)
			if (ids[i] <= ids[i - 1]) {
				reason = "ids out of order";
				goto fail;
			}
	}
	*out = *want;
	out->n = (size_t)h.n;
	out->ids = (const int64_t *)(const void *)(base + h.offset[ARR_IDS]);
	out->kc = h.widths[0] ? (const float *)(const void *)(base + h.offset[ARR_KC]) : NULL;
	out->tx = h.widths[1] ? (const float *)(const void *)(base + h.offset[ARR_TX]) : NULL;
	out->eb = h.widths[2] ? (const float *)(const void *)(base + h.offset[ARR_EB]) : NULL;
	out->e16 = h.widths[3] ? (const uint16_t *)(const void *)(base + h.offset[ARR_E16]) : NULL;
	out->e16_vmax = h.e16_vmax;
	out->e16_bad = h.e16_bad != 0;
	extras->damaged = (const int64_t *)(const void *)(base + h.offset[ARR_DAMAGED]);
	extras->n_damaged = (size_t)h.n_damaged;
	extras->stamps = (const int64_t *)(const void *)(base + h.offset[ARR_STAMPS]);
	*current = h.stamp == key->stamp;
	return f;
fail:
	util_set_cause(why, "%s", reason);
fail_quiet:
	if (fd != -1)
		close(fd);
	cachefile_close(f);
	memset(out, 0, sizeof *out);
	return NULL;
}

void cachefile_seal(unsigned char *image, size_t size)
{
	cachefile_header h;

	if (size < CACHEFILE_PAGE)
		return;
	memcpy(&h, image, sizeof h);
	for (int k = 0; k < ARR_COUNT; k++)
		if (h.offset[k] <= size && h.bytes[k] <= size - h.offset[k])
			h.sum[k] = cachefile_sum(image + h.offset[k], (size_t)h.bytes[k]);
	h.header_sum = cachefile_sum(&h, offsetof(cachefile_header, header_sum));
	memcpy(image, &h, sizeof h);
}

/* Write n bytes, then zeros up to the next page. */
static int cachefile_put(FILE *fp, const void *data, uint64_t n)
{
	static const char zeros[CACHEFILE_PAGE];
	uint64_t pad = cachefile_round_page(n) - n;

	if (n > 0 && fwrite(data, 1, (size_t)n, fp) != (size_t)n)
		return -1;
	return pad > 0 && fwrite(zeros, 1, (size_t)pad, fp) != (size_t)pad ? -1 : 0;
}

#define CACHEFILE_SUFFIX ".search-"
#define CACHEFILE_TMP ".tmp-"

char *cachefile_path(const char *index_path, int64_t tcmgc_model, int64_t ea_model)
{
	size_t n = strlen(index_path) + 64;
	char *path = malloc(n);

	if (path != NULL)
		snprintf(path, n, "%s" CACHEFILE_SUFFIX "%lld-%lld", index_path,
		    (long long)tcmgc_model, (long long)ea_model);
	return path;
}

/*
 * glob(3) over path (taken literally: its *, ?, [ and \ escaped) followed
 * by the pattern tail; 0 and *g (globfree it), -1 without memory or match.
 */
static int cachefile_glob(const char *path, const char *tail, glob_t *g)
{
	char *pattern = malloc(2 * strlen(path) + strlen(tail) + 1), *p;
	int r;

	memset(g, 0, sizeof *g);
	if ((p = pattern) == NULL)
		return -1;
	for (const char *s = path; *s != '\0'; s++) {
		if (strchr("*?[\\", *s) != NULL)
			*p++ = '\\';
		*p++ = *s;
	}
	strcpy(p, tail);
	r = glob(pattern, 0, NULL, g);
	free(pattern);
	if (r != 0) {
		globfree(g);
		memset(g, 0, sizeof *g);
		return -1;
	}
	return 0;
}

int cachefile_list(const char *index_path, char ***paths, size_t *n)
{
	glob_t g;
	char **out;

	*paths = NULL;
	*n = 0;
	if (cachefile_glob(index_path, CACHEFILE_SUFFIX "*", &g) != 0)
		return 0; /* none (or no memory to look: nothing to list either way) */
	if ((out = calloc(g.gl_pathc + 1, sizeof *out)) == NULL) {
		globfree(&g);
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat sb;
		if (strstr(g.gl_pathv[i] + strlen(index_path), CACHEFILE_TMP) != NULL ||
		    stat(g.gl_pathv[i], &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if ((out[*n] = util_strdup(g.gl_pathv[i])) == NULL) {
			for (size_t k = 0; k < *n; k++)
				free(out[k]);
			free(out);
			*n = 0;
			globfree(&g);
			return -1;
		}
		(*n)++;
	}
	globfree(&g);
	*paths = out;
	return 0;
}

/*
 * Remove "<path>.tmp-PID" files whose writer is gone (a search killed
 * while writing): each can be as large as the cache file itself.
 */
static void cachefile_remove_orphans(const char *path)
{
	size_t n = strlen(path) + strlen(CACHEFILE_TMP);
	glob_t g;

	if (cachefile_glob(path, CACHEFILE_TMP "*", &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			char *end;
			long pid = strtol(g.gl_pathv[i] + n, &end, 10);
			if (*end == '\0' && pid > 0 && pid != (long)getpid() &&
			    kill((pid_t)pid, 0) == -1 && errno == ESRCH)
				unlink(g.gl_pathv[i]);
		}
		globfree(&g);
	}
}

int cachefile_write(const char *path, const cachefile_key *key, const search_lib_arrays *a,
    const cachefile_extras *extras, char **cause)
{
	const void *data[ARR_COUNT] = { a->ids, extras->damaged, a->kc, a->tx, a->eb, a->e16,
		extras->stamps };
	unsigned char page[CACHEFILE_PAGE];
	cachefile_header h;
	uint64_t end = CACHEFILE_PAGE;
	size_t tmp_len = strlen(path) + 32;
	char *tmp = malloc(tmp_len);
	FILE *fp = NULL;
	int saved;

	if (tmp == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		return -1;
	}
	memset(&h, 0, sizeof h);
	memcpy(h.magic, CACHEFILE_MAGIC, 8);
	h.version = CACHEFILE_VERSION;
	h.header_bytes = CACHEFILE_PAGE;
	h.stamp = key->stamp;
	h.model_ids[0] = key->model_ids[0];
	h.model_ids[1] = key->model_ids[1];
	h.n = a->n;
	h.n_damaged = extras->n_damaged;
	h.widths[0] = a->kc_width;
	h.widths[1] = a->tx_width;
	h.widths[2] = a->ea_width;
	h.widths[3] = a->e16_width;
	h.e16_vmax = a->e16_vmax;
	h.e16_bad = (uint64_t)(a->e16_bad != 0);
	if (cachefile_array_bytes(h.n, h.n_damaged, h.widths, h.bytes) != 0) {
		util_set_cause(cause, "%s: impossible sizes", UTIL_NAME(path));
		free(tmp);
		return -1;
	}
	for (int k = 0; k < ARR_COUNT; k++) {
		if (h.bytes[k] > 0 && data[k] == NULL) {
			util_set_cause(cause, "%s: the %s array is missing", UTIL_NAME(path),
			    cachefile_array_names[k]);
			free(tmp);
			return -1;
		}
		h.offset[k] = end;
		h.sum[k] = h.bytes[k] > 0 ? cachefile_sum(data[k], (size_t)h.bytes[k]) :
		    cachefile_sum("", 0);
		end = cachefile_round_page(end + h.bytes[k]);
	}
	h.file_bytes = end;
	h.header_sum = cachefile_sum(&h, offsetof(cachefile_header, header_sum));
	memset(page, 0, sizeof page);
	memcpy(page, &h, sizeof h);

	cachefile_remove_orphans(path);
	snprintf(tmp, tmp_len, "%s" CACHEFILE_TMP "%ld", path, (long)getpid());
	if ((fp = fopen(tmp, "wbe")) == NULL)
		goto fail;
	if (fwrite(page, 1, sizeof page, fp) != sizeof page)
		goto fail;
	for (int k = 0; k < ARR_COUNT; k++)
		if (cachefile_put(fp, data[k], h.bytes[k]) != 0)
			goto fail;
	/*
	 * No fsync: the file is derived, and a file torn by a crash fails its
	 * checksums and is rebuilt; syncing hundreds of megabytes would cost
	 * more than the search it speeds up.
	 */
	if (fclose(fp) != 0) {
		fp = NULL;
		goto fail;
	}
	fp = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	free(tmp);
	return 0;
fail:
	saved = errno;
	if (fp != NULL)
		fclose(fp);
	unlink(tmp);
	util_set_cause(cause, "%s: cannot write: %s", UTIL_NAME(tmp), strerror(saved));
	free(tmp);
	return -1;
}
