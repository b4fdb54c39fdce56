/*
 * fuzz-json — libFuzzer target for the JSON parser (core/json.c), fed the
 * input as a document.  A refusal must carry a cause; an accepted tree must
 * be safe to walk fully: every element and member reachable with its key,
 * strings NUL-terminated at their stated length, numbers finite and their
 * int64 reading (when there is one) equal to them.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_walk(const json_value *v, int depth)
{
	const json_value *child;
	const char *s, *key;
	int64_t i64;
	size_t len, n;

	if (v == NULL || depth > 10000)
		abort();
	n = json_length(v);
	switch (json_kind(v)) {
	case JSON_NULL:
	case JSON_FALSE:
	case JSON_TRUE:
		if (n != 0 || json_string(v, NULL) != NULL)
			abort();
		break;
	case JSON_NUMBER:
		if (!isfinite(json_number(v)))
			abort();
		if (json_int64(v, &i64) == 0 && (double)i64 != json_number(v) &&
		    fabs((double)i64 - json_number(v)) > fabs(json_number(v)) * 1e-15)
			abort();
		break;
	case JSON_STRING:
		if ((s = json_string(v, &len)) == NULL || s[len] != '\0')
			abort();
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < n; i++)
			fuzz_walk(json_at(v, i), depth + 1);
		if (json_key_at(v, 0) != NULL || json_get(v, "a") != NULL)
			abort();
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < n; i++) {
			child = json_at(v, i);
			if ((key = json_key_at(v, i)) == NULL)
				abort();
			/*
			 * Keys are unique, but one holding \u0000 reads as its
			 * prefix here, so json_get may find another member or none.
			 */
			(void)json_get(v, key);
			fuzz_walk(child, depth + 1);
		}
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	json_value *v = json_parse((const char *)data, size, &cause);

	if (v == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return 0;
	}
	fuzz_walk(v, 0);
	json_free(v);
	free(cause);
	return 0;
}
