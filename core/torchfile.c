/*
 * torchfile — torch.save's zip checkpoints (see torchfile.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "torchfile.h"
#include "util.h"

#define TF_MAX_ENTRIES (1u << 20)

struct tf_entry {
	const unsigned char *name; /* into the central directory; not NUL-terminated */
	size_t nlen;
	const unsigned char *data; /* the stored bytes */
	uint64_t size;
	uint64_t method;           /* 0: stored; else compressed, refused when used */
};

struct torchfile {
	char *label;
	void *map;                /* the mapping, when opened from a path */
	size_t maplen;
	const unsigned char *buf;
	size_t len;
	pickle_tensors *p;
	const unsigned char **data; /* per tensor: its storage entry's bytes */
	int torchscript;          /* a torch.jit.save archive (code/, constants.pkl) */
};

static uint64_t tf_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int tf_name_is(const struct tf_entry *e, const char *prefix, size_t plen, const char *rest)
{
	size_t rlen = strlen(rest);

	return e->nlen == plen + rlen && memcmp(e->name, prefix, plen) == 0 &&
	    memcmp(e->name + plen, rest, rlen) == 0;
}

static int tf_ends_with(const struct tf_entry *e, const char *s)
{
	size_t n = strlen(s);

	return e->nlen >= n && memcmp(e->name + e->nlen - n, s, n) == 0;
}

/* An entry's name as a C string, cut to size (for messages). */
static const char *tf_name(const struct tf_entry *e, char *buf, size_t size)
{
	size_t n = e->nlen < size - 1 ? e->nlen : size - 1;

	memcpy(buf, e->name, n);
	buf[n] = '\0';
	return buf;
}

/* The end of central directory: (offset of the directory, entry count). */
static int tf_find_directory(torchfile *f, uint64_t *cd_off, uint64_t *cd_count, char **cause)
{
	const unsigned char *b = f->buf;
	size_t i, lo;

	if (f->len < 22) {
		util_set_cause(cause, "%s: too short for a zip file (%zu bytes)", UTIL_NAME(f->label), f->len);
		return -1;
	}
	lo = f->len > 22 + 65535 ? f->len - 22 - 65535 : 0;
	for (i = f->len - 22 + 1; i-- > lo;) {
		if (memcmp(b + i, "PK\5\6", 4) == 0 && i + 22 + tf_le(b + i + 20, 2) == f->len)
			break;
		if (i == lo) {
			util_set_cause(cause, "%s: no zip end of central directory (truncated?)",
			    UTIL_NAME(f->label));
			return -1;
		}
	}
	*cd_count = tf_le(b + i + 10, 2);
	*cd_off = tf_le(b + i + 16, 4);
	if ((*cd_count == 0xffff || *cd_off == 0xffffffff) && i >= 20 &&
	    memcmp(b + i - 20, "PK\6\7", 4) == 0) {
		uint64_t z = tf_le(b + i - 20 + 8, 8);
		if (z > f->len || f->len - z < 56 || memcmp(b + z, "PK\6\6", 4) != 0) {
			util_set_cause(cause, "%s: bad zip64 end of central directory", UTIL_NAME(f->label));
			return -1;
		}
		*cd_count = tf_le(b + z + 32, 8);
		*cd_off = tf_le(b + z + 48, 8);
	}
	if (*cd_off > f->len || *cd_count > TF_MAX_ENTRIES) {
		util_set_cause(cause, "%s: zip central directory at %llu, %llu entries: outside the file",
		    UTIL_NAME(f->label), (unsigned long long)*cd_off, (unsigned long long)*cd_count);
		return -1;
	}
	return 0;
}

/* A zip64 extended-information extra field's 64-bit sizes and offset, in order. */
static void tf_zip64(const unsigned char *x, size_t xlen, uint64_t *usize, uint64_t *csize,
    uint64_t *off)
{
	while (xlen >= 4) {
		size_t id = (size_t)tf_le(x, 2), n = (size_t)tf_le(x + 2, 2), k = 4;
		if (n > xlen - 4)
			return;
		if (id == 1) {
			uint64_t *want[3] = { usize, csize, off };
			for (int j = 0; j < 3; j++) {
				if (*want[j] != 0xffffffff)
					continue;
				if (k + 8 > n + 4)
					return;
				*want[j] = tf_le(x + k, 8);
				k += 8;
			}
			return;
		}
		x += 4 + n;
		xlen -= 4 + n;
	}
}

static int tf_read_directory(torchfile *f, struct tf_entry **out, size_t *nout, char **cause)
{
	const unsigned char *b = f->buf;
	uint64_t cd_off, count, pos;
	struct tf_entry *e;
	char q[128];

	if (tf_find_directory(f, &cd_off, &count, cause) < 0)
		return -1;
	if ((e = calloc(count ? count : 1, sizeof *e)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(f->label));
		return -1;
	}
	pos = cd_off;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t method, csize, usize, nlen, xlen, clen, loff, data;
		if (f->len - pos < 46 || memcmp(b + pos, "PK\1\2", 4) != 0)
			goto bad;
		method = tf_le(b + pos + 10, 2);
		csize = tf_le(b + pos + 20, 4);
		usize = tf_le(b + pos + 24, 4);
		nlen = tf_le(b + pos + 28, 2);
		xlen = tf_le(b + pos + 30, 2);
		clen = tf_le(b + pos + 32, 2);
		loff = tf_le(b + pos + 42, 4);
		if (f->len - pos - 46 < nlen + xlen + clen)
			goto bad;
		tf_zip64(b + pos + 46 + nlen, (size_t)xlen, &usize, &csize, &loff);
		e[i].name = b + pos + 46;
		e[i].nlen = (size_t)nlen;
		e[i].method = method != 0 || csize != usize ? (method ? method : 1) : 0;
		/* A compressed entry's bytes are not its content; it is refused when used. */
		if (e[i].method != 0) {
			pos += 46 + nlen + xlen + clen;
			continue;
		}
		/* The local header repeats the name and has its own extra field. */
		if (loff > f->len || f->len - loff < 30 || memcmp(b + loff, "PK\3\4", 4) != 0)
			goto bad_entry;
		data = loff + 30 + tf_le(b + loff + 26, 2) + tf_le(b + loff + 28, 2);
		if (data > f->len || f->len - data < usize)
			goto bad_entry;
		e[i].data = b + data;
		e[i].size = usize;
		pos += 46 + nlen + xlen + clen;
		continue;
bad_entry:
		util_set_cause(cause, "%s: zip entry %s lies outside the file (truncated?)",
		    UTIL_NAME(f->label), UTIL_NAME(tf_name(&e[i], q, sizeof q)));
		free(e);
		return -1;
	}
	*out = e;
	*nout = (size_t)count;
	return 0;
bad:
	util_set_cause(cause, "%s: zip central directory is damaged (truncated?)", UTIL_NAME(f->label));
	free(e);
	return -1;
}

/* Entries must be stored as torch.save and torch.jit.save store data.pkl and storages. */
static int tf_stored(torchfile *f, const struct tf_entry *e, char **cause)
{
	char q[128];

	if (e->method == 0)
		return 0;
	util_set_cause(cause, "%s: zip entry %s is compressed (method %llu); torch.save "
	    "stores entries uncompressed", UTIL_NAME(f->label), UTIL_NAME(tf_name(e, q, sizeof q)),
	    (unsigned long long)e->method);
	return -1;
}

static int tf_load(torchfile *f, char **cause)
{
	struct tf_entry *e = NULL, *pkl = NULL;
	size_t n = 0, plen = 0, i, j;
	const char *prefix = NULL;

	if (f->len >= 2 && f->buf[0] == 0x80 && f->buf[1] <= 5) {
		util_set_cause(cause, "%s: the legacy (pre-zip) torch.save format is not supported; "
		    "load and save it again with PyTorch 1.6 or later", UTIL_NAME(f->label));
		return -1;
	}
	if (f->len < 4 || memcmp(f->buf, "PK\3\4", 4) != 0) {
		util_set_cause(cause, "%s: not a PyTorch zip checkpoint (no zip signature)",
		    UTIL_NAME(f->label));
		return -1;
	}
	if (tf_read_directory(f, &e, &n, cause) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const unsigned char *slash = memchr(e[i].name, '/', e[i].nlen);
		if (tf_ends_with(&e[i], "constants.pkl") || (slash != NULL &&
		    e[i].nlen - (size_t)(slash - e[i].name) > 6 && memcmp(slash, "/code/", 6) == 0))
			f->torchscript = 1;
		if (slash != NULL && tf_name_is(&e[i], (const char *)e[i].name,
		    (size_t)(slash - e[i].name), "/data.pkl") && pkl == NULL) {
			pkl = &e[i];
			prefix = (const char *)e[i].name;
			plen = (size_t)(slash - e[i].name);
		}
	}
	if (pkl == NULL) {
		util_set_cause(cause, "%s: no data.pkl in the zip: not a torch.save checkpoint",
		    UTIL_NAME(f->label));
		goto fail;
	}
	if (tf_stored(f, pkl, cause) < 0)
		goto fail;
	f->p = f->torchscript ? pickle_read_module(pkl->data, (size_t)pkl->size, f->label, cause) :
	    pickle_read_tensors(pkl->data, (size_t)pkl->size, f->label, cause);
	if (f->p == NULL)
		goto fail;
	if ((f->data = calloc(pickle_tensors_count(f->p) + 1, sizeof *f->data)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(f->label));
		goto fail;
	}
	for (j = 0; j < pickle_tensors_count(f->p); j++) {
		const pickle_tensor *t = pickle_tensors_at(f->p, j);
		const struct tf_entry *st = NULL;
		uint64_t need, esize = pickle_dtype_size(t->dtype), ext;
		char rest[80];

		snprintf(rest, sizeof rest, "/data/%s", t->key);
		for (i = 0; i < n && st == NULL; i++)
			if (tf_name_is(&e[i], prefix, plen, rest))
				st = &e[i];
		if (st == NULL) {
			util_set_cause(cause, "%s: tensor %s: storage %s is not in the zip",
			    UTIL_NAME(f->label), UTIL_NAME(t->name), UTIL_NAME(t->key));
			goto fail;
		}
		if (tf_stored(f, st, cause) < 0)
			goto fail;
		/* pickle.c bounds offset + extent by the pickled numel (<= 2^62 / esize) */
		ext = (uint64_t)pickle_tensor_extent(t);
		need = ext == 0 ? 0 : ((uint64_t)t->offset + ext) * esize;
		if (ext != 0 && (t->offset > INT64_MAX / 16 || (uint64_t)t->offset + ext >
		    UINT64_MAX / 16 || need > st->size)) {
			util_set_cause(cause, "%s: tensor %s reaches past its storage %s (%llu bytes)",
			    UTIL_NAME(f->label), UTIL_NAME(t->name), UTIL_NAME(t->key),
			    (unsigned long long)st->size);
			goto fail;
		}
		f->data[j] = st->data;
	}
	free(e);
	return 0;
fail:
	free(e);
	return -1;
}

torchfile *torchfile_open_memory(const void *buf, size_t len, const char *label, char **cause)
{
	torchfile *f = calloc(1, sizeof *f);

	if (f == NULL || (f->label = util_strdup(label)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(label));
		free(f);
		return NULL;
	}
	f->buf = buf;
	f->len = len;
	if (tf_load(f, cause) < 0) {
		torchfile_close(f);
		return NULL;
	}
	return f;
}

torchfile *torchfile_open(const char *path, char **cause)
{
	struct stat sb;
	torchfile *f;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path),
		    !S_ISREG(sb.st_mode) ? "not a regular file" : sb.st_size == 0 ? "empty file" :
		    strerror(errno));
		close(fd);
		return NULL;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		util_set_cause(cause, "%s: mmap: %s", UTIL_NAME(path), strerror(errno));
		return NULL;
	}
	if ((f = torchfile_open_memory(map, (size_t)sb.st_size, path, cause)) == NULL) {
		munmap(map, (size_t)sb.st_size);
		return NULL;
	}
	f->map = map;
	f->maplen = (size_t)sb.st_size;
	return f;
}

void torchfile_close(torchfile *f)
{
	if (f == NULL)
		return;
	pickle_tensors_free(f->p);
	free(f->data);
	free(f->label);
	if (f->map != NULL)
		munmap(f->map, f->maplen);
	free(f);
}

int torchfile_is_torchscript(const torchfile *f)
{
	return f->torchscript;
}

size_t torchfile_count(const torchfile *f)
{
	return pickle_tensors_count(f->p);
}

const pickle_tensor *torchfile_tensor_at(const torchfile *f, size_t i)
{
	return pickle_tensors_at(f->p, i);
}

void torchfile_read(const torchfile *f, size_t i, void *dst)
{
	const pickle_tensor *t = pickle_tensors_at(f->p, i);
	size_t esize = pickle_dtype_size(t->dtype);
	int64_t idx[PICKLE_MAX_DIMS] = { 0 }, numel = pickle_tensor_numel(t);
	const unsigned char *src = f->data[i] + (size_t)t->offset * esize;
	unsigned char *out = dst;

	/* Walk the view in C order, an odometer over the dimensions. */
	for (int64_t k = 0; k < numel; k++) {
		int64_t at = 0;
		for (int d = 0; d < t->ndim; d++)
			at += idx[d] * t->stride[d];
		memcpy(out + (size_t)k * esize, src + (size_t)at * esize, esize);
		for (int d = t->ndim - 1; d >= 0; d--) {
			if (++idx[d] < t->shape[d])
				break;
			idx[d] = 0;
		}
	}
}
