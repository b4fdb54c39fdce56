/*
 * fuzz-npy — libFuzzer target for the .npy reader (core/npy.c npy_parse),
 * fed the input as a whole file.  A refusal must carry a cause; an accepted
 * array must have 0..NPY_MAX_NDIM non-negative dimensions whose product
 * fits in the input as float32 data, and every element must be readable.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	npy_array a = { 0 };
	volatile float sink = 0;
	char *cause = NULL;
	size_t n, prod = 1;

	if (npy_parse(data, size, "fuzz.npy", &a, &cause) == -1) {
		if (cause == NULL)
			abort();
		free(cause);
		npy_array_free(&a);
		return 0;
	}
	if (a.ndim < 0 || a.ndim > NPY_MAX_NDIM)
		abort();
	for (int i = 0; i < a.ndim; i++) {
		if (a.shape[i] < 0)
			abort();
		prod *= (size_t)a.shape[i];
	}
	n = npy_array_numel(&a);
	if (n != prod || n > size / 4 || (n > 0 && a.data == NULL))
		abort();
	for (size_t i = 0; i < n; i++)
		sink += a.data[i];
	(void)sink;
	npy_array_free(&a);
	npy_array_free(&a); /* a freed array stays safe to free */
	free(cause);
	return 0;
}
