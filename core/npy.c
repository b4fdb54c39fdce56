/*
 * npy — float32 .npy reader and writer (layout in npy.h).  The reader
 * accepts only what it can map exactly: '<f4', C order, a shape tuple of
 * non-negative ints whose byte count equals what follows the header.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "util.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* NumPy itself refuses headers past this; so do we (a guard on huge lengths). */
#define NPY_MAX_HEADER (1u << 20)

void npy_array_free(npy_array *a)
{
	if (a == NULL)
		return;
	free(a->data);
	memset(a, 0, sizeof *a);
}

size_t npy_array_numel(const npy_array *a)
{
	size_t n = 1;

	for (int i = 0; i < a->ndim; i++)
		n *= (size_t)a->shape[i];
	return n;
}

static const char *npy_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The value after key 'name': in the dict text [h, end); NULL when missing. */
static const char *npy_find_key(const char *h, const char *end, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = h; p + n + 2 <= end; p++) {
		if ((*p == '\'' || *p == '"') && memcmp(p + 1, name, n) == 0 && p[n + 1] == *p) {
			const char *q = npy_skip_ws(p + n + 2, end);

			if (q < end && *q == ':')
				return npy_skip_ws(q + 1, end);
			return NULL;
		}
	}
	return NULL;
}

static int npy_parse_header(const char *h, size_t hlen, npy_array *out, char **cause)
{
	const char *end = h + hlen, *p;

	p = npy_skip_ws(h, end);
	if (p >= end || *p != '{') {
		util_set_cause(cause, "header is not a dict");
		return -1;
	}
	if (memchr(h, '}', hlen) == NULL) {
		util_set_cause(cause, "header dict is not closed");
		return -1;
	}
	p = npy_find_key(h, end, "descr");
	if (p == NULL) {
		util_set_cause(cause, "header has no 'descr'");
		return -1;
	}
	if (!(end - p >= 5 && (p[0] == '\'' || p[0] == '"') && memcmp(p + 1, "<f4", 3) == 0 &&
	    p[4] == p[0])) {
		const char *q = p;
		int n = 0;

		while (q + n < end && n < 16 && q[n] != ',' && q[n] != '}')
			n++;
		util_set_cause(cause, "dtype %.*s is not float32 ('<f4')", n, q);
		return -1;
	}
	p = npy_find_key(h, end, "fortran_order");
	if (p == NULL || end - p < 5 || memcmp(p, "False", 5) != 0) {
		util_set_cause(cause, "fortran_order is not False (C order needed)");
		return -1;
	}
	p = npy_find_key(h, end, "shape");
	if (p == NULL || p >= end || *p != '(') {
		util_set_cause(cause, "header has no shape tuple");
		return -1;
	}
	p++;
	out->ndim = 0;
	for (;;) {
		int64_t v = 0;
		int digits = 0;

		p = npy_skip_ws(p, end);
		if (p < end && *p == ')')
			break;
		while (p < end && *p >= '0' && *p <= '9') {
			if (v > (INT64_MAX - 9) / 10) {
				util_set_cause(cause, "shape dimension too large");
				return -1;
			}
			v = v * 10 + (*p - '0');
			p++;
			digits++;
		}
		if (digits == 0) {
			util_set_cause(cause, "malformed shape");
			return -1;
		}
		if (out->ndim == NPY_MAX_NDIM) {
			util_set_cause(cause, "shape has more than %d dimensions", NPY_MAX_NDIM);
			return -1;
		}
		out->shape[out->ndim++] = v;
		p = npy_skip_ws(p, end);
		if (p < end && *p == 'L') /* Python 2 longs */
			p = npy_skip_ws(p + 1, end);
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p == ')')
			break;
		else {
			util_set_cause(cause, "malformed shape");
			return -1;
		}
	}
	return 0;
}

static int npy_parse_inner(const unsigned char *b, size_t len, npy_array *out, char **cause)
{
	size_t hlen, off, numel = 1, bytes;

	if (len < NPY_MAGIC_LEN + 2 || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
		util_set_cause(cause, "not a .npy file (bad magic)");
		return -1;
	}
	if (b[6] == 1 && b[7] == 0) {
		if (len < 10) {
			util_set_cause(cause, "truncated header");
			return -1;
		}
		hlen = (size_t)b[8] | (size_t)b[9] << 8;
		off = 10;
	} else if ((b[6] == 2 || b[6] == 3) && b[7] == 0) {
		if (len < 12) {
			util_set_cause(cause, "truncated header");
			return -1;
		}
		hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
		off = 12;
	} else {
		util_set_cause(cause, "unsupported .npy version %d.%d", b[6], b[7]);
		return -1;
	}
	if (hlen > NPY_MAX_HEADER || hlen > len - off) {
		util_set_cause(cause, "header length %zu runs past the file (%zu bytes: truncated?)", hlen, len);
		return -1;
	}
	if (npy_parse_header((const char *)b + off, hlen, out, cause) == -1)
		return -1;
	off += hlen;
	for (int i = 0; i < out->ndim; i++)
		if (util_mul_size(numel, (size_t)out->shape[i], &numel) == -1) {
			util_set_cause(cause, "shape too large");
			return -1;
		}
	if (util_mul_size(numel, 4, &bytes) == -1 || bytes != len - off) {
		util_set_cause(cause, "data is %zu bytes, shape needs %zu%s", len - off,
		    numel * 4, len - off < numel * 4 ? " (truncated)" : "");
		return -1;
	}
	out->data = malloc(bytes > 0 ? bytes : 1);
	if (out->data == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	/* '<f4' is little-endian; convert bytewise so big-endian hosts work too. */
	for (size_t i = 0; i < numel; i++) {
		const unsigned char *q = b + off + 4 * i;
		uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
		    (uint32_t)q[3] << 24;

		memcpy(&out->data[i], &u, 4);
	}
	return 0;
}

int npy_parse(const void *buf, size_t len, const char *label, npy_array *out, char **cause)
{
	memset(out, 0, sizeof *out);
	if (npy_parse_inner(buf, len, out, cause) == -1) {
		util_prefix_cause(cause, "%s", label);
		npy_array_free(out);
		return -1;
	}
	return 0;
}

int npy_read(const char *path, npy_array *out, char **cause)
{
	FILE *f;
	unsigned char *buf = NULL;
	long size;
	int rc;

	memset(out, 0, sizeof *out);
	f = fopen(path, "rb");
	if (f == NULL) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		util_set_cause(cause, "%s: cannot seek", UTIL_NAME(path));
		fclose(f);
		return -1;
	}
	buf = malloc(size > 0 ? (size_t)size : 1);
	if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path),
		    buf == NULL ? "out of memory" : "read failed");
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	rc = npy_parse(buf, (size_t)size, path, out, cause);
	free(buf);
	return rc;
}

int npy_write(const char *path, int ndim, const int64_t *shape, const float *data,
    char **cause)
{
	char dict[64 + 24 * NPY_MAX_NDIM], head[16 + sizeof dict + 64];
	size_t n = 0, numel = 1, total;
	char *tmp;
	FILE *f;
	int ok;

	if (ndim < 0 || ndim > NPY_MAX_NDIM) {
		util_set_cause(cause, "%s: %d dimensions", UTIL_NAME(path), ndim);
		return -1;
	}
	n += (size_t)snprintf(dict + n, sizeof dict - n,
	    "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	for (int i = 0; i < ndim; i++) {
		n += (size_t)snprintf(dict + n, sizeof dict - n, "%lld,%s", (long long)shape[i],
		    i + 1 < ndim ? " " : "");
		numel *= (size_t)shape[i];
	}
	if (ndim > 1) /* "(3,)" for one dimension, "(2, 3)" otherwise */
		n--;
	n += (size_t)snprintf(dict + n, sizeof dict - n, "), }");
	/* Pad with spaces and a final newline so the data starts at a multiple of 64. */
	total = (10 + n + 1 + 63) / 64 * 64;
	memcpy(head, NPY_MAGIC, NPY_MAGIC_LEN);
	head[6] = 1;
	head[7] = 0;
	head[8] = (char)((total - 10) & 0xff);
	head[9] = (char)((total - 10) >> 8);
	memcpy(head + 10, dict, n);
	memset(head + 10 + n, ' ', total - 10 - n - 1);
	head[total - 1] = '\n';

	tmp = malloc(strlen(path) + 8);
	if (tmp == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		return -1;
	}
	sprintf(tmp, "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (f == NULL) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(tmp), strerror(errno));
		free(tmp);
		return -1;
	}
	ok = fwrite(head, 1, total, f) == total;
	for (size_t i = 0; ok && i < numel; i++) {
		uint32_t u;
		unsigned char q[4];

		memcpy(&u, &data[i], 4);
		q[0] = (unsigned char)u;
		q[1] = (unsigned char)(u >> 8);
		q[2] = (unsigned char)(u >> 16);
		q[3] = (unsigned char)(u >> 24);
		ok = fwrite(q, 1, 4, f) == 4;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		util_set_cause(cause, "%s: write failed: %s", UTIL_NAME(path), strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}
