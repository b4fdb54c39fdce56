/*
 * fuzz-safetensors — libFuzzer target for the safetensors reader (and the
 * JSON parser under it).  Whatever st_open_memory accepts must be safe to
 * walk: every tensor found by name, float tensors widened, every metadata
 * value read.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Big enough for real-looking tensors, small enough to keep runs fast. */
#define FUZZ_MAX_NUMEL 65536

static float fuzz_buf[FUZZ_MAX_NUMEL];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const st_tensor *t;
	const char *key, *value;
	volatile float sink = 0;
	char *cause = NULL;
	st_file *f;
	size_t i, j, n;

	f = st_open_memory(data, size, "fuzz", &cause);
	if (f == NULL) {
		/* A refusal must always explain itself. */
		if (cause == NULL)
			abort();
		free(cause);
		return 0;
	}
	for (i = 0; i < st_count(f); i++) {
		t = st_tensor_at(f, i);
		if (t == NULL || st_find(f, t->name) != t)
			abort();
		if (t->numel > FUZZ_MAX_NUMEL)
			continue;
		if (st_read_f32(f, t, fuzz_buf, &cause) == 0) {
			for (j = 0; j < t->numel; j++)
				sink += fuzz_buf[j];
		} else if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16)
			abort();
	}
	n = st_metadata_count(f);
	for (i = 0; i < n; i++) {
		key = st_metadata_key_at(f, i);
		value = key != NULL ? st_metadata(f, key) : NULL;
		if (value == NULL)
			abort();
		sink += (float)strlen(value);
	}
	(void)sink;
	free(cause);
	st_close(f);
	return 0;
}
