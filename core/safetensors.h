/*
 * safetensors — memory-mapped reader and a writer for the safetensors
 * format, clipgrep's model and golden-file container.
 *
 * File layout (all integers little-endian):
 *   bytes 0..7     u64 N, the length of the JSON header
 *   bytes 8..8+N   JSON object: { "__metadata__": {str: str, ...},
 *                    "name": {"dtype": "F32"|"F16"|"BF16"|..., "shape": [d0, ...],
 *                             "data_offsets": [begin, end]}, ... }
 *   bytes 8+N..    the data area; offsets are relative to its start
 *
 * The reader trusts nothing: the header length, every offset, every shape
 * and the dtype are checked against the file size before any tensor byte is
 * touched, tensors may not overlap, and every error names the file and the
 * tensor.
 */
#ifndef CLIPGREP_SAFETENSORS_H
#define CLIPGREP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum {
	ST_F32,
	ST_F16,
	ST_BF16,
	ST_I32,
	ST_I64,
	ST_U8
} st_dtype;

typedef struct st_file st_file;

typedef struct {
	const char *name;
	st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	size_t numel;
	const void *data; /* points into the mapping; numel * st_dtype_size bytes */
} st_tensor;

/*
 * Map path and validate its header.  Returns NULL with *cause naming the
 * file and the reason ("model.safetensors: tensor 'x': data_offsets [0,
 * 99] end beyond data area of 64 bytes").
 */
st_file *st_open(const char *path, char **cause);
/* Parse an in-memory image (used by fuzzing and tests); buf must outlive the result. */
st_file *st_open_memory(const void *buf, size_t len, const char *label, char **cause);
void st_close(st_file *f);

const char *st_path(const st_file *f);
size_t st_count(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, size_t i);
const st_tensor *st_find(const st_file *f, const char *name);
/* A __metadata__ value, or NULL. */
const char *st_metadata(const st_file *f, const char *key);
size_t st_metadata_count(const st_file *f);
const char *st_metadata_key_at(const st_file *f, size_t i);

size_t st_dtype_size(st_dtype t);
const char *st_dtype_name(st_dtype t);

/*
 * Widen a float tensor (F32, F16 or BF16) into dst[numel] as fp32.
 * Returns -1 with *cause for non-float dtypes.
 */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, char **cause);

/*
 * Elements [first, first + n) of a float tensor (F32, F16 or BF16), widened
 * into dst[n]; first + n <= t->numel.  -1 for other dtypes.  For reading a
 * few rows of a large tensor straight from the mapping.
 */
int st_widen(const st_tensor *t, size_t first, size_t n, float *dst);

/*
 * t's bytes are not needed for now: drop the mapping's pages that lie
 * wholly inside them from memory (madvise MADV_DONTNEED on the read-only
 * private mapping).  They leave the resident set and come back from the
 * file on the next access; t->data stays valid.  A no-op for memory
 * images.  For callers that keep their own copy (core/model widens every
 * tensor), so that a model is not resident twice.
 */
void st_release(const st_file *f, const st_tensor *t);

/* --- writer ---------------------------------------------------------- */

typedef struct st_writer st_writer;

st_writer *st_writer_new(void);
void st_writer_free(st_writer *w);
int st_writer_set_metadata(st_writer *w, const char *key, const char *value, char **cause);
/* Copies data (numel * st_dtype_size(dtype) bytes). */
int st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
    const int64_t *shape, const void *data, char **cause);
/* Convenience: add an fp32 tensor. */
int st_writer_add_f32(st_writer *w, const char *name, int ndim,
    const int64_t *shape, const float *data, char **cause);
/*
 * Write the file atomically: a temporary file beside path, fsync, rename,
 * fsync of the directory.
 */
int st_writer_save(st_writer *w, const char *path, char **cause);

#endif
