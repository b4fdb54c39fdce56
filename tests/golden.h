/*
 * golden.h — reading golden tensors (written by tools/reference) in the C
 * tests.  Include after tap.h.
 */
#ifndef CLIPGREP_GOLDEN_H
#define CLIPGREP_GOLDEN_H

#include <stdlib.h>

#include "safetensors.h"
#include "tensor.h"

/*
 * Tensor name of f as fp32, checked to hold numel values; the caller frees
 * it with tensor_free.  NULL (with a TAP diagnostic) when it is missing,
 * of the wrong size or unreadable, so the check using it fails.
 */
static inline float *golden_read(const st_file *f, const char *name, size_t numel)
{
	const st_tensor *t = st_find(f, name);
	char *cause = NULL;
	float *out;

	if (t == NULL || t->numel != numel) {
		tap_diag("golden tensor %s missing or of the wrong size", name);
		return NULL;
	}
	out = tensor_alloc(numel);
	if (out == NULL || st_read_f32(f, t, out, &cause) == -1) {
		tap_diag("%s: %s", name, cause != NULL ? cause : "out of memory");
		free(cause);
		tensor_free(out);
		return NULL;
	}
	return out;
}

#endif
