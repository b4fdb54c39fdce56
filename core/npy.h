/*
 * npy — NumPy .npy files of little-endian float32 ('<f4'), C order: what
 * `clipgrep embed` reads (--frames-npy) and writes (--format npy).
 *
 * Layout (NumPy format 1.0; 2.0 and 3.0 widen the header length):
 *   0   6       magic "\x93NUMPY"
 *   6   1       major version (1, 2 or 3)
 *   7   1       minor version (0)
 *   8   2 | 4   header length H, little-endian (2 bytes in 1.0, 4 in 2.0/3.0)
 *   ..  H       a Python dict literal: {'descr': '<f4', 'fortran_order': False,
 *               'shape': (d0, d1, ...), } padded with spaces and '\n'
 *   ..          prod(shape) * 4 bytes of data
 * Writing uses 1.0 with the data aligned to 64 bytes, as NumPy does.
 */
#ifndef CLIPGREP_NPY_H
#define CLIPGREP_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_NDIM 8

typedef struct {
	int ndim;
	int64_t shape[NPY_MAX_NDIM];
	float *data; /* [prod(shape)] owned; free with npy_array_free */
} npy_array;

/*
 * Read a float32 .npy file.  Returns 0 and fills *out, or -1 with *cause
 * naming path and the reason (bad magic, unsupported version, header
 * length past the file, dtype other than '<f4', Fortran order, malformed
 * shape, data shorter or longer than the shape says).
 */
int npy_read(const char *path, npy_array *out, char **cause);
/* The same on a buffer; label names it in errors. */
int npy_parse(const void *buf, size_t len, const char *label, npy_array *out, char **cause);
/* Free out->data and clear it; safe on a cleared or half-filled array. */
void npy_array_free(npy_array *a);

/* Elements in a (product of the shape). */
size_t npy_array_numel(const npy_array *a);

/*
 * Write data [prod(shape)] as a float32 .npy file (1.0) at path: temporary
 * file beside it, then rename.  Returns 0, or -1 with *cause.
 */
int npy_write(const char *path, int ndim, const int64_t *shape, const float *data,
    char **cause);

#endif
