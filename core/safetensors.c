/*
 * safetensors — memory-mapped reader and an atomic writer.
 *
 * The reader keeps the parsed header tree alive: tensor names and metadata
 * strings point into it, and the tensor data pointers point into the
 * mapping (or the caller's buffer), so opening a model copies no weights.
 * Every length and offset is checked against the image size before any
 * tensor byte is touched; see safetensors.h for the layout.
 *
 * Data is little-endian on disk and is handed out raw through
 * st_tensor.data, so clipgrep supports little-endian hosts only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

/* Same cap as the reference implementation: a header is metadata, not data. */
#define ST_MAX_HEADER 100000000ULL
#define ST_METADATA_KEY "__metadata__"

struct st_file {
	char *label;			/* the path, or the caller's label */
	void *map;			/* mmap of the whole file; NULL for memory images */
	size_t map_len;
	const unsigned char *data;	/* the data area, after the header */
	size_t data_len;
	json_value *header;		/* owns names and metadata strings */
	const json_value *meta;		/* the __metadata__ object, or NULL */
	st_tensor *tensors;		/* [n], header order */
	size_t n;
	const st_tensor **by_name;	/* [n], sorted by name for st_find */
};

static const struct {
	const char *name;
	size_t size;
} st_dtypes[] = {
	[ST_F32] = { "F32", 4 },
	[ST_F16] = { "F16", 2 },
	[ST_BF16] = { "BF16", 2 },
	[ST_I32] = { "I32", 4 },
	[ST_I64] = { "I64", 8 },
	[ST_U8] = { "U8", 1 },
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

size_t st_dtype_size(st_dtype t)
{
	if ((unsigned)t >= ST_NDTYPES)
		return 0;
	return st_dtypes[t].size;
}

const char *st_dtype_name(st_dtype t)
{
	if ((unsigned)t >= ST_NDTYPES)
		return "?";
	return st_dtypes[t].name;
}

static int st_dtype_parse(const char *s, st_dtype *out)
{
	size_t i;

	for (i = 0; i < ST_NDTYPES; i++) {
		if (strcmp(s, st_dtypes[i].name) == 0) {
			*out = (st_dtype)i;
			return 0;
		}
	}
	return -1;
}

/*
 * A name from the file, fit for an error message: control bytes escaped
 * (names are untrusted and messages reach the terminal) and long names cut
 * on a UTF-8 boundary.
 */
static const char *st_quote(char *buf, size_t size, const char *s)
{
	const size_t limit = 80;
	size_t o = 0, i;
	unsigned char c;

	for (i = 0; s[i] != '\0' && o + 8 < size; i++) {
		c = (unsigned char)s[i];
		if (i >= limit && (c & 0xc0) != 0x80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static void st_shape_format(char *buf, size_t size, const int64_t *shape, int ndim)
{
	size_t o;
	int i;

	o = (size_t)snprintf(buf, size, "[");
	for (i = 0; i < ndim && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%lld", i ? ", " : "",
		    (long long)shape[i]);
	if (o < size)
		snprintf(buf + o, size - o, "]");
}

static uint64_t st_le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The tree cannot say how long a key is, so a key holding \u0000 is found
 * by looking it up as a C string: the lookup misses or finds another
 * member.  Such names could not be passed back through st_find.
 */
static int st_key_has_nul(const json_value *obj, size_t i)
{
	return json_get(obj, json_key_at(obj, i)) != json_at(obj, i);
}

static int st_parse_metadata(st_file *f, const json_value *meta, char **cause)
{
	const json_value *v;
	const char *s;
	char q[256];
	size_t i, len;

	if (json_kind(meta) != JSON_OBJECT) {
		util_set_cause(cause, "__metadata__ is not an object");
		return -1;
	}
	for (i = 0; i < json_length(meta); i++) {
		st_quote(q, sizeof q, json_key_at(meta, i));
		if (st_key_has_nul(meta, i)) {
			util_set_cause(cause, "__metadata__ key '%s' holds a NUL byte", q);
			return -1;
		}
		v = json_at(meta, i);
		s = json_string(v, &len);
		if (s == NULL) {
			util_set_cause(cause, "__metadata__ '%s': value is not a string", q);
			return -1;
		}
		if (strlen(s) != len) {
			util_set_cause(cause, "__metadata__ '%s': value holds a NUL byte", q);
			return -1;
		}
	}
	f->meta = meta;
	return 0;
}

/* Fill t from one header entry; the message names the field, not the file. */
static int st_parse_entry(st_file *f, st_tensor *t, const json_value *e, char **cause)
{
	const json_value *dtype, *shape, *offs;
	int64_t dim, b, en;
	uint64_t begin, end;
	size_t nbytes, i;
	char sh[256];

	if (json_kind(e) != JSON_OBJECT) {
		util_set_cause(cause, "entry is not an object");
		return -1;
	}
	dtype = json_get(e, "dtype");
	shape = json_get(e, "shape");
	offs = json_get(e, "data_offsets");
	if (dtype == NULL || shape == NULL || offs == NULL) {
		util_set_cause(cause, "missing \"%s\"", dtype == NULL ? "dtype" :
		    shape == NULL ? "shape" : "data_offsets");
		return -1;
	}

	if (json_string(dtype, NULL) == NULL) {
		util_set_cause(cause, "dtype is not a string");
		return -1;
	}
	if (st_dtype_parse(json_string(dtype, NULL), &t->dtype) < 0) {
		st_quote(sh, sizeof sh, json_string(dtype, NULL));
		util_set_cause(cause, "unsupported dtype '%s'", sh);
		return -1;
	}

	if (json_kind(shape) != JSON_ARRAY) {
		util_set_cause(cause, "shape is not an array");
		return -1;
	}
	if (json_length(shape) > ST_MAX_DIMS) {
		util_set_cause(cause, "shape has %zu dims, more than %d", json_length(shape),
		    ST_MAX_DIMS);
		return -1;
	}
	t->ndim = (int)json_length(shape);
	t->numel = 1;
	for (i = 0; i < json_length(shape); i++) {
		if (json_int64(json_at(shape, i), &dim) < 0 || dim < 0) {
			util_set_cause(cause, "shape dim %zu is not a non-negative integer", i);
			return -1;
		}
		t->shape[i] = dim;
		if ((uint64_t)dim > SIZE_MAX ||
		    util_mul_size(t->numel, (size_t)dim, &t->numel) < 0) {
			util_set_cause(cause, "shape product overflows");
			return -1;
		}
	}
	st_shape_format(sh, sizeof sh, t->shape, t->ndim);
	if (util_mul_size(t->numel, st_dtype_size(t->dtype), &nbytes) < 0) {
		util_set_cause(cause, "shape %s product overflows in bytes", sh);
		return -1;
	}

	if (json_kind(offs) != JSON_ARRAY || json_length(offs) != 2 ||
	    json_int64(json_at(offs, 0), &b) < 0 || b < 0 ||
	    json_int64(json_at(offs, 1), &en) < 0 || en < 0) {
		util_set_cause(cause, "data_offsets is not two non-negative integers");
		return -1;
	}
	begin = (uint64_t)b;
	end = (uint64_t)en;
	if (end < begin) {
		util_set_cause(cause, "data_offsets [%llu, %llu] end before begin",
		    (unsigned long long)begin, (unsigned long long)end);
		return -1;
	}
	if (end > f->data_len) {
		util_set_cause(cause, "data_offsets [%llu, %llu] end beyond data area of %zu bytes",
		    (unsigned long long)begin, (unsigned long long)end, f->data_len);
		return -1;
	}
	if (end - begin != nbytes) {
		util_set_cause(cause, "data_offsets [%llu, %llu] size mismatch: %llu bytes, "
		    "but %s shape %s needs %zu", (unsigned long long)begin,
		    (unsigned long long)end, (unsigned long long)(end - begin),
		    st_dtype_name(t->dtype), sh, nbytes);
		return -1;
	}
	t->data = f->data + begin;
	return 0;
}

static int st_cmp_data(const void *a, const void *b)
{
	const st_tensor *x = *(const st_tensor *const *)a;
	const st_tensor *y = *(const st_tensor *const *)b;
	const unsigned char *px = x->data, *py = y->data;

	return (px > py) - (px < py);
}

static int st_cmp_name(const void *a, const void *b)
{
	const st_tensor *x = *(const st_tensor *const *)a;
	const st_tensor *y = *(const st_tensor *const *)b;

	return strcmp(x->name, y->name);
}

static size_t st_nbytes(const st_tensor *t)
{
	return t->numel * st_dtype_size(t->dtype);
}

/* Tensors sharing bytes would let one write show up in another. */
static int st_check_overlap(st_file *f, char **cause)
{
	const st_tensor **order;
	const st_tensor *a, *b;
	size_t i, n = 0;
	char qa[256], qb[256];
	int rc = 0;

	order = calloc(f->n ? f->n : 1, sizeof *order);
	if (order == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	/* Empty tensors occupy no bytes, so they overlap nothing. */
	for (i = 0; i < f->n; i++) {
		if (st_nbytes(&f->tensors[i]) > 0)
			order[n++] = &f->tensors[i];
	}
	qsort(order, n, sizeof *order, st_cmp_data);
	for (i = 1; i < n; i++) {
		a = order[i - 1];
		b = order[i];
		if ((const unsigned char *)a->data + st_nbytes(a) <=
		    (const unsigned char *)b->data)
			continue;
		util_set_cause(cause, "tensor '%s': data_offsets [%zu, %zu] overlap tensor "
		    "'%s' [%zu, %zu]", st_quote(qb, sizeof qb, b->name),
		    (size_t)((const unsigned char *)b->data - f->data),
		    (size_t)((const unsigned char *)b->data - f->data) + st_nbytes(b),
		    st_quote(qa, sizeof qa, a->name),
		    (size_t)((const unsigned char *)a->data - f->data),
		    (size_t)((const unsigned char *)a->data - f->data) + st_nbytes(a));
		rc = -1;
		break;
	}
	free(order);
	return rc;
}

/*
 * Validate the image at buf[size] into f; the message does not name the
 * file.  -2 when the bytes are not a safetensors file at all (a video or a
 * text file given as --model: its first 8 bytes make an absurd header
 * length, or the header does not open a JSON object), so the caller can
 * say that rather than report a broken header; -1 for a damaged one.
 */
static int st_parse(st_file *f, const unsigned char *buf, size_t size, char **cause)
{
	const json_value *h, *e;
	const char *name;
	uint64_t hlen;
	size_t i, j;
	char q[256];

	if (size < 8) {
		util_set_cause(cause, "file is %zu bytes, too short for the 8-byte header length",
		    size);
		return -1;
	}
	hlen = st_le64(buf);
	if (hlen > ST_MAX_HEADER) {
		util_set_cause(cause, "header length %llu exceeds the limit of %llu bytes",
		    (unsigned long long)hlen, ST_MAX_HEADER);
		return -2;
	}
	if (hlen > size - 8) {
		util_set_cause(cause, "header length %llu extends beyond end of file "
		    "(%zu bytes follow the length)", (unsigned long long)hlen, size - 8);
		/* A cut-off model still opens its header with '{'. */
		return size > 8 && buf[8] != '{' ? -2 : -1;
	}
	f->data = buf + 8 + hlen;
	f->data_len = size - 8 - (size_t)hlen;

	f->header = json_parse((const char *)buf + 8, (size_t)hlen, cause);
	if (f->header == NULL) {
		util_prefix_cause(cause, "header is not valid JSON");
		return -1;
	}
	h = f->header;
	if (json_kind(h) != JSON_OBJECT) {
		util_set_cause(cause, "header is not a JSON object");
		return -1;
	}

	f->n = json_length(h) - (json_get(h, ST_METADATA_KEY) != NULL);
	f->tensors = calloc(f->n ? f->n : 1, sizeof *f->tensors);
	f->by_name = calloc(f->n ? f->n : 1, sizeof *f->by_name);
	if (f->tensors == NULL || f->by_name == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	for (i = 0, j = 0; i < json_length(h); i++) {
		name = json_key_at(h, i);
		e = json_at(h, i);
		st_quote(q, sizeof q, name);
		if (st_key_has_nul(h, i)) {
			util_set_cause(cause, "tensor '%s': name holds a NUL byte", q);
			return -1;
		}
		if (strcmp(name, ST_METADATA_KEY) == 0) {
			if (st_parse_metadata(f, e, cause) < 0)
				return -1;
			continue;
		}
		f->tensors[j].name = name;
		if (st_parse_entry(f, &f->tensors[j], e, cause) < 0) {
			util_prefix_cause(cause, "tensor '%s'", q);
			return -1;
		}
		f->by_name[j] = &f->tensors[j];
		j++;
	}
	if (st_check_overlap(f, cause) < 0)
		return -1;
	qsort(f->by_name, f->n, sizeof *f->by_name, st_cmp_name);
	return 0;
}

st_file *st_open_memory(const void *buf, size_t len, const char *label, char **cause)
{
	st_file *f;
	int rc;

	if (label == NULL)
		label = "<memory>";
	f = calloc(1, sizeof *f);
	if (f == NULL || (f->label = util_strdup(label)) == NULL) {
		util_set_cause(cause, "%s: out of memory", label);
		free(f);
		return NULL;
	}
	if (buf == NULL)
		buf = "";
	if ((rc = st_parse(f, buf, len, cause)) < 0) {
		if (rc == -2)
			util_prefix_cause(cause, "%s is not a clipgrep model file (safetensors)", label);
		else
			util_prefix_cause(cause, "%s", label);
		st_close(f);
		return NULL;
	}
	return f;
}

st_file *st_open(const char *path, char **cause)
{
	struct stat sb;
	st_file *f;
	int rc;
	void *map = NULL;
	size_t size;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		util_set_cause(cause, "%s: not a regular file", UTIL_NAME(path));
		close(fd);
		return NULL;
	}
	if ((uintmax_t)sb.st_size > SIZE_MAX) {
		util_set_cause(cause, "%s: file too large to map", UTIL_NAME(path));
		close(fd);
		return NULL;
	}
	size = (size_t)sb.st_size;
	/* mmap refuses length 0; an empty file fails validation anyway. */
	if (size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			util_set_cause(cause, "%s: mmap: %s", UTIL_NAME(path), strerror(errno));
			close(fd);
			return NULL;
		}
	}
	close(fd);

	f = calloc(1, sizeof *f);
	if (f == NULL || (f->label = util_strdup(path)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		if (map != NULL)
			munmap(map, size);
		free(f);
		return NULL;
	}
	f->map = map;
	f->map_len = size;
	if ((rc = st_parse(f, map != NULL ? map : (const void *)"", size, cause)) < 0) {
		if (rc == -2)
			util_prefix_cause(cause, "%s is not a clipgrep model file (safetensors)",
			    UTIL_NAME(path));
		else
			util_prefix_cause(cause, "%s", UTIL_NAME(path));
		st_close(f);
		return NULL;
	}
	return f;
}

void st_release(const st_file *f, const st_tensor *t)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a, b;

	if (f->map == NULL || page <= 0 || t->numel == 0)
		return;
	a = (uintptr_t)t->data;
	b = a + t->numel * st_dtype_size(t->dtype);
	a = (a + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	b &= ~((uintptr_t)page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

void st_close(st_file *f)
{
	if (f == NULL)
		return;
	if (f->map != NULL)
		munmap(f->map, f->map_len);
	json_free(f->header);
	free(f->tensors);
	free(f->by_name);
	free(f->label);
	free(f);
}

const char *st_path(const st_file *f)
{
	return f->label;
}

size_t st_count(const st_file *f)
{
	return f->n;
}

const st_tensor *st_tensor_at(const st_file *f, size_t i)
{
	return i < f->n ? &f->tensors[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
	size_t lo = 0, hi = f->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, f->by_name[mid]->name);
		if (c == 0)
			return f->by_name[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *st_metadata(const st_file *f, const char *key)
{
	return json_string(json_get(f->meta, key), NULL);
}

size_t st_metadata_count(const st_file *f)
{
	return json_length(f->meta);
}

const char *st_metadata_key_at(const st_file *f, size_t i)
{
	return json_key_at(f->meta, i);
}

/* IEEE binary16 to binary32; every half is exactly representable. */
static float st_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = h >> 10 & 0x1f, mant = h & 0x3ff, bits;
	float f;

	if (exp == 0) {
		/* Zero or subnormal: mant * 2^-24, exact in float. */
		f = (float)mant * 0x1p-24f;
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | mant << 13; /* inf, or NaN keeping its payload */
	else
		bits = sign | (exp + 127 - 15) << 23 | mant << 13;
	memcpy(&f, &bits, sizeof f);
	return f;
}

static float st_bf16_to_float(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, sizeof f);
	return f;
}

int st_widen(const st_tensor *t, size_t first, size_t n, float *dst)
{
	const unsigned char *src = (const unsigned char *)t->data + first * st_dtype_size(t->dtype);
	size_t i;

	switch (t->dtype) {
	case ST_F32:
		/* The mapping gives no alignment promise; memcpy needs none. */
		if (n > 0)
			memcpy(dst, src, n * sizeof *dst);
		return 0;
	case ST_F16:
		for (i = 0; i < n; i++)
			dst[i] = st_half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
		return 0;
	case ST_BF16:
		for (i = 0; i < n; i++)
			dst[i] = st_bf16_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
		return 0;
	default:
		return -1;
	}
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, char **cause)
{
	char q[256];

	if (st_widen(t, 0, t->numel, dst) == -1) {
		util_set_cause(cause, "%s: tensor '%s': dtype %s is not a float type",
		    f != NULL ? f->label : "?", st_quote(q, sizeof q, t->name),
		    st_dtype_name(t->dtype));
		return -1;
	}
	return 0;
}

/* --- writer ---------------------------------------------------------- */

struct st_wtensor {
	char *name;
	st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	size_t nbytes;
	void *data; /* [nbytes], owned */
};

struct st_wmeta {
	char *key;
	char *value;
};

struct st_writer {
	struct st_wtensor *t; /* [n], in the order added */
	size_t n;
	size_t cap;
	struct st_wmeta *m; /* [nm] */
	size_t nm;
	size_t capm;
};

struct st_buf {
	char *p;
	size_t len;
	size_t cap;
	int oom; /* sticky, so building needs one check at the end */
};

st_writer *st_writer_new(void)
{
	return calloc(1, sizeof(st_writer));
}

void st_writer_free(st_writer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++) {
		free(w->t[i].name);
		free(w->t[i].data);
	}
	for (i = 0; i < w->nm; i++) {
		free(w->m[i].key);
		free(w->m[i].value);
	}
	free(w->t);
	free(w->m);
	free(w);
}

/* Names and metadata go into JSON, which cannot carry invalid UTF-8. */
static int st_utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c, lo, hi;
	size_t need, k;

	while (*s != '\0') {
		c = *s;
		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 3;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 4;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else
			return 0;
		if (s[1] < lo || s[1] > hi)
			return 0;
		for (k = 2; k < need; k++) {
			if (s[k] < 0x80 || s[k] > 0xbf)
				return 0;
		}
		s += need;
	}
	return 1;
}

int st_writer_set_metadata(st_writer *w, const char *key, const char *value, char **cause)
{
	struct st_wmeta *grown;
	char *k, *v, q[256];
	size_t i;

	if (!st_utf8_valid(key) || !st_utf8_valid(value)) {
		util_set_cause(cause, "metadata '%s': key or value is not valid UTF-8",
		    st_quote(q, sizeof q, key));
		return -1;
	}
	v = util_strdup(value);
	if (v == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	for (i = 0; i < w->nm; i++) {
		if (strcmp(w->m[i].key, key) == 0) {
			free(w->m[i].value);
			w->m[i].value = v;
			return 0;
		}
	}
	if (w->nm == w->capm) {
		grown = realloc(w->m, (w->capm ? w->capm * 2 : 8) * sizeof *grown);
		if (grown == NULL) {
			free(v);
			util_set_cause(cause, "out of memory");
			return -1;
		}
		w->m = grown;
		w->capm = w->capm ? w->capm * 2 : 8;
	}
	k = util_strdup(key);
	if (k == NULL) {
		free(v);
		util_set_cause(cause, "out of memory");
		return -1;
	}
	w->m[w->nm].key = k;
	w->m[w->nm].value = v;
	w->nm++;
	return 0;
}

int st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
    const int64_t *shape, const void *data, char **cause)
{
	struct st_wtensor *t, *grown;
	size_t numel = 1, nbytes, i;
	char q[256];

	st_quote(q, sizeof q, name);
	if ((unsigned)dtype >= ST_NDTYPES) {
		util_set_cause(cause, "tensor '%s': unknown dtype %d", q, (int)dtype);
		return -1;
	}
	if (ndim < 0 || ndim > ST_MAX_DIMS) {
		util_set_cause(cause, "tensor '%s': %d dims, want 0 to %d", q, ndim, ST_MAX_DIMS);
		return -1;
	}
	if (strcmp(name, ST_METADATA_KEY) == 0 || !st_utf8_valid(name)) {
		util_set_cause(cause, "tensor '%s': name is reserved or not valid UTF-8", q);
		return -1;
	}
	for (i = 0; i < (size_t)ndim; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
		    util_mul_size(numel, (size_t)shape[i], &numel) < 0) {
			util_set_cause(cause, "tensor '%s': shape dim %zu is negative or overflows",
			    q, i);
			return -1;
		}
	}
	if (util_mul_size(numel, st_dtype_size(dtype), &nbytes) < 0) {
		util_set_cause(cause, "tensor '%s': size overflows", q);
		return -1;
	}
	if (nbytes > 0 && data == NULL) {
		util_set_cause(cause, "tensor '%s': no data", q);
		return -1;
	}
	for (i = 0; i < w->n; i++) {
		if (strcmp(w->t[i].name, name) == 0) {
			util_set_cause(cause, "tensor '%s': added twice", q);
			return -1;
		}
	}

	if (w->n == w->cap) {
		grown = realloc(w->t, (w->cap ? w->cap * 2 : 16) * sizeof *grown);
		if (grown == NULL) {
			util_set_cause(cause, "out of memory");
			return -1;
		}
		w->t = grown;
		w->cap = w->cap ? w->cap * 2 : 16;
	}
	t = &w->t[w->n];
	memset(t, 0, sizeof *t);
	t->name = util_strdup(name);
	t->data = malloc(nbytes ? nbytes : 1);
	if (t->name == NULL || t->data == NULL) {
		free(t->name);
		free(t->data);
		util_set_cause(cause, "out of memory");
		return -1;
	}
	if (nbytes > 0)
		memcpy(t->data, data, nbytes);
	t->dtype = dtype;
	t->ndim = ndim;
	for (i = 0; i < (size_t)ndim; i++)
		t->shape[i] = shape[i];
	t->nbytes = nbytes;
	w->n++;
	return 0;
}

int st_writer_add_f32(st_writer *w, const char *name, int ndim,
    const int64_t *shape, const float *data, char **cause)
{
	return st_writer_add(w, name, ST_F32, ndim, shape, data, cause);
}

static void st_buf_add(struct st_buf *b, const char *s, size_t n)
{
	size_t ncap;
	char *grown;

	if (b->oom || n == 0)
		return;
	if (n > b->cap - b->len) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap - b->len < n) {
			if (ncap > SIZE_MAX / 2) {
				b->oom = 1;
				return;
			}
			ncap *= 2;
		}
		grown = realloc(b->p, ncap);
		if (grown == NULL) {
			b->oom = 1;
			return;
		}
		b->p = grown;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void st_buf_str(struct st_buf *b, const char *s)
{
	st_buf_add(b, s, strlen(s));
}

static void st_buf_json(struct st_buf *b, const char *s)
{
	char esc[8];
	unsigned char c;

	st_buf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			st_buf_add(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			st_buf_add(b, esc, 6);
		} else
			st_buf_add(b, s, 1);
	}
	st_buf_add(b, "\"", 1);
}

static int st_cmp_meta(const void *a, const void *b)
{
	return strcmp(((const struct st_wmeta *)a)->key, ((const struct st_wmeta *)b)->key);
}

/*
 * Wider dtypes first, then by name: with the data area 8-aligned and no
 * gaps between tensors (the reference reader forbids gaps), this order
 * keeps every tensor aligned to its element size.
 */
static int st_cmp_write(const void *a, const void *b)
{
	const struct st_wtensor *x = *(const struct st_wtensor *const *)a;
	const struct st_wtensor *y = *(const struct st_wtensor *const *)b;
	size_t sx = st_dtype_size(x->dtype), sy = st_dtype_size(y->dtype);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Header JSON padded with spaces so that the data area starts 8-aligned. */
static int st_writer_header(st_writer *w, struct st_wtensor **order, struct st_buf *b)
{
	char num[64];
	size_t i, off = 0;
	int d;

	if (w->nm > 1)
		qsort(w->m, w->nm, sizeof *w->m, st_cmp_meta);
	st_buf_add(b, "\0\0\0\0\0\0\0\0{", 9);
	if (w->nm > 0) {
		st_buf_str(b, "\"" ST_METADATA_KEY "\":{");
		for (i = 0; i < w->nm; i++) {
			if (i > 0)
				st_buf_add(b, ",", 1);
			st_buf_json(b, w->m[i].key);
			st_buf_add(b, ":", 1);
			st_buf_json(b, w->m[i].value);
		}
		st_buf_add(b, "}", 1);
	}
	for (i = 0; i < w->n; i++) {
		if (i > 0 || w->nm > 0)
			st_buf_add(b, ",", 1);
		st_buf_json(b, order[i]->name);
		st_buf_str(b, ":{\"dtype\":\"");
		st_buf_str(b, st_dtype_name(order[i]->dtype));
		st_buf_str(b, "\",\"shape\":[");
		for (d = 0; d < order[i]->ndim; d++) {
			snprintf(num, sizeof num, "%s%lld", d ? "," : "",
			    (long long)order[i]->shape[d]);
			st_buf_str(b, num);
		}
		snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off,
		    off + order[i]->nbytes);
		st_buf_str(b, num);
		off += order[i]->nbytes;
	}
	st_buf_add(b, "}", 1);
	while (b->len % 8 != 0)
		st_buf_add(b, " ", 1);
	if (b->oom)
		return -1;
	for (i = 0; i < 8; i++)
		b->p[i] = (char)((uint64_t)(b->len - 8) >> (8 * i) & 0xff);
	return 0;
}

/* fsync the directory holding path, so the rename itself is durable. */
static int st_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = 0;

	if (slash == NULL)
		dir = util_strdup(".");
	else if (slash == path)
		dir = util_strdup("/");
	else {
		dir = malloc((size_t)(slash - path) + 1);
		if (dir != NULL) {
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
		}
	}
	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	/* Some filesystems cannot sync a directory; that is not our failure. */
	if (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP)
		rc = -1;
	close(fd);
	return rc;
}

int st_writer_save(st_writer *w, const char *path, char **cause)
{
	static unsigned counter;
	struct st_buf b = { NULL, 0, 0, 0 };
	struct st_wtensor **order;
	const char *step = "write";
	char *tmp = NULL;
	size_t i, tmplen;
	int fd = -1, created = 0, attempt, saved;

	order = calloc(w->n ? w->n : 1, sizeof *order);
	if (order == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		return -1;
	}
	for (i = 0; i < w->n; i++)
		order[i] = &w->t[i];
	qsort(order, w->n, sizeof *order, st_cmp_write);
	if (st_writer_header(w, order, &b) < 0) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto fail;
	}

	/*
	 * O_EXCL with a per-process name rather than mkstemp, so the file
	 * gets the usual umask-derived mode instead of 0600.
	 */
	tmplen = strlen(path) + 64;
	tmp = malloc(tmplen);
	if (tmp == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto fail;
	}
	for (attempt = 0; attempt < 100 && fd < 0; attempt++) {
		snprintf(tmp, tmplen, "%s.tmp.%ld.%u", path, (long)getpid(),
		    __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		util_set_cause(cause, "%s: create %s: %s", UTIL_NAME(path), UTIL_NAME(tmp),
		    strerror(errno));
		goto fail;
	}
	created = 1;

	if (util_write_all(fd, b.p, b.len) < 0)
		goto fail_io;
	for (i = 0; i < w->n; i++) {
		if (util_write_all(fd, order[i]->data, order[i]->nbytes) < 0)
			goto fail_io;
	}
	step = "fsync";
	if (fsync(fd) < 0)
		goto fail_io;
	step = "close";
	saved = close(fd);
	fd = -1;
	if (saved < 0)
		goto fail_io;
	step = "rename";
	if (rename(tmp, path) < 0)
		goto fail_io;
	created = 0;
	step = "fsync directory";
	if (st_sync_dir(path) < 0)
		goto fail_io;

	free(tmp);
	free(order);
	free(b.p);
	return 0;

fail_io:
	util_set_cause(cause, "%s: %s: %s", UTIL_NAME(path), step, strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp);
	free(tmp);
	free(order);
	free(b.p);
	return -1;
}
