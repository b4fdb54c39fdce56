/*
 * json — a strict RFC 8259 parser into a read-only tree.  Used for the
 * safetensors header, model metadata, Hugging Face vocab.json and the
 * golden-file tests.  Input is untrusted: depth is bounded, strings are
 * validated as UTF-8, numbers are checked, and every error names the byte
 * offset.
 */
#ifndef CLIPGREP_JSON_H
#define CLIPGREP_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
} json_type;

typedef struct json_value json_value;

/*
 * Parse len bytes of text (need not be NUL-terminated).  Returns a tree the
 * caller frees with json_free, or NULL with *cause set to e.g.
 * "byte 17: expected ':' after object key".  Duplicate object keys are an
 * error (safetensors forbids them and they hide mistakes).
 */
json_value *json_parse(const char *text, size_t len, char **cause);
void json_free(json_value *v);

json_type json_kind(const json_value *v);
/* Elements of an array or members of an object; 0 for scalars. */
size_t json_length(const json_value *v);
/* i-th element of an array, or i-th member value of an object (in file order). */
const json_value *json_at(const json_value *v, size_t i);
/* i-th member key of an object, NUL-terminated; NULL for non-objects. */
const char *json_key_at(const json_value *v, size_t i);
/* Member value by key, or NULL (also NULL when v is not an object). */
const json_value *json_get(const json_value *v, const char *key);
/*
 * A string's bytes, NUL-terminated (the string may itself hold \u0000, so
 * *len, when non-NULL, gives the true length).  NULL for non-strings.
 */
const char *json_string(const json_value *v, size_t *len);
double json_number(const json_value *v);
/*
 * The number as an exact integer: 0 when v is a number written without
 * fraction or exponent that fits in int64_t, else -1.
 */
int json_int64(const json_value *v, int64_t *out);

#endif
