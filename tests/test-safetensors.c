/*
 * test-safetensors — writer/reader round trip, fp16/bf16 widening, and a
 * corpus of malformed images that must each be refused with a message
 * naming the file and the reason.
 */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "tap.h"

#define LABEL "bad.safetensors"

static char tmpdir[4096];

/* An image whose length field says hlen, then header, then data_len bytes. */
static unsigned char *image_raw(uint64_t hlen, const char *header, size_t data_len,
    size_t *len)
{
	size_t n = strlen(header), i;
	unsigned char *buf = malloc(8 + n + data_len + 1);

	for (i = 0; i < 8; i++)
		buf[i] = (unsigned char)(hlen >> (8 * i));
	memcpy(buf + 8, header, n);
	for (i = 0; i < data_len; i++)
		buf[8 + n + i] = (unsigned char)(i * 37 + 11);
	*len = 8 + n + data_len;
	return buf;
}

static unsigned char *image(const char *header, size_t data_len, size_t *len)
{
	return image_raw(strlen(header), header, data_len, len);
}

static int contains(const char *cause, const char *kw)
{
	return kw == NULL || (cause != NULL && strstr(cause, kw) != NULL);
}

/* buf[len] is refused; the message starts with the label and holds kw1, kw2. */
static void reject_buf(const char *what, const void *buf, size_t len, const char *kw1,
    const char *kw2)
{
	char *cause = NULL;
	st_file *f = st_open_memory(buf, len, LABEL, &cause);
	int ok;

	/* A damaged file is "LABEL: why"; a file that is no safetensors at all
	 * "LABEL is not a clipgrep model file (safetensors): why". */
	ok = f == NULL && cause != NULL && (strncmp(cause, LABEL ": ", strlen(LABEL) + 2) == 0 ||
	    strncmp(cause, LABEL " is not a clipgrep model file (safetensors): ",
	    strlen(LABEL) + 45) == 0) &&
	    contains(cause, kw1) && contains(cause, kw2);
	if (!tap_ok(ok, "reject %s", what))
		tap_diag("cause: %s", cause != NULL ? cause : "(none)");
	else
		tap_diag("  %s", cause);
	st_close(f);
	free(cause);
}

static void reject_hdr(const char *what, const char *header, size_t data_len,
    const char *kw1, const char *kw2)
{
	size_t len;
	unsigned char *buf = image(header, data_len, &len);

	reject_buf(what, buf, len, kw1, kw2);
	free(buf);
}

static st_file *accept_hdr(const char *what, const char *header, size_t data_len,
    unsigned char **buf)
{
	char *cause = NULL;
	size_t len;
	st_file *f;

	*buf = image(header, data_len, &len);
	f = st_open_memory(*buf, len, "good.safetensors", &cause);
	if (!tap_ok(f != NULL, "accept %s", what))
		tap_diag("cause: %s", cause);
	free(cause);
	return f;
}

#define F32_W "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static void test_malformed(void)
{
	unsigned char small[5] = { 1, 0, 0, 0, 0 }, *buf;
	char hdr[512];
	size_t len;

	/* Length field. */
	reject_buf("empty image", "", 0, "0 bytes", "too short");
	reject_buf("image shorter than 8 bytes", small, sizeof small, "5 bytes", "too short");
	buf = image_raw(100, "{}", 20, &len);
	reject_buf("header length beyond the file", buf, len, "header length 100",
	    "beyond end of file");
	free(buf);
	buf = image_raw(UINT64_C(1) << 63, "{}", 20, &len);
	reject_buf("absurd header length", buf, len, "header length 9223372036854775808",
	    "exceeds the limit");
	free(buf);
	buf = image_raw(100000001, "{}", 0, &len);
	reject_buf("header length just over the cap", buf, len, "exceeds the limit", NULL);
	free(buf);
	buf = image_raw(0, "", 16, &len);
	reject_buf("zero header length", buf, len, "not valid JSON", "end of input");
	free(buf);

	/* The JSON itself. */
	reject_hdr("non-JSON header", "{not json}", 0, "not valid JSON", "byte 1:");
	reject_hdr("header with trailing garbage", "{} x", 0, "not valid JSON", "trailing");
	reject_hdr("header that is an array", "[1, 2]", 0, "not a JSON object", NULL);
	reject_hdr("header that is a string", "\"w\"", 0, "not a JSON object", NULL);
	reject_hdr("non-UTF-8 tensor name", "{\"w\xff\":" F32_W "}", 8, "not valid JSON",
	    "invalid UTF-8");
	reject_hdr("non-UTF-8 metadata", "{\"__metadata__\":{\"a\":\"\xc0\xaf\"}}", 0,
	    "invalid UTF-8", NULL);
	reject_hdr("duplicate tensor", "{\"w\":" F32_W ",\"w\":" F32_W "}", 8,
	    "duplicate key \"w\"", NULL);
	reject_hdr("tensor name holding NUL", "{\"a\\u0000b\":" F32_W "}", 8,
	    "tensor 'a'", "NUL byte");

	/* Entries. */
	reject_hdr("entry not an object", "{\"w\":[0,8]}", 8, "tensor 'w'", "not an object");
	reject_hdr("entry missing dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "missing \"dtype\"");
	reject_hdr("entry missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
	    8, "tensor 'w'", "missing \"shape\"");
	reject_hdr("entry missing data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
	    "tensor 'w'", "missing \"data_offsets\"");
	reject_hdr("dtype not a string",
	    "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w'",
	    "dtype is not a string");
	reject_hdr("F64 dtype",
	    "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "unsupported dtype 'F64'");
	reject_hdr("unknown dtype",
	    "{\"w\":{\"dtype\":\"q4\\n\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "unsupported dtype 'q4\\x0a'");

	/* Shapes. */
	reject_hdr("shape not an array",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "tensor 'w'",
	    "shape is not an array");
	reject_hdr("negative shape",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "shape dim 1 is not a non-negative integer");
	reject_hdr("fractional shape",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "not a non-negative integer");
	reject_hdr("shape 2.0",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "not a non-negative integer");
	reject_hdr("string shape",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
	    "tensor 'w'", "not a non-negative integer");
	reject_hdr("too many dims",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
	    8, "tensor 'w'", "9 dims, more than 8");
	reject_hdr("shape product overflow",
	    "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
	    "\"data_offsets\":[0,8]}}", 8, "tensor 'w'", "shape product overflows");
	reject_hdr("shape bytes overflow",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
	    "\"data_offsets\":[0,8]}}", 8, "tensor 'w'", "overflows in bytes");
	reject_hdr("shape huge integer",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
	    "\"data_offsets\":[0,8]}}", 8, "tensor 'w'", "not a non-negative integer");
	reject_hdr("shape/size mismatch",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16,
	    "tensor 'w'", "size mismatch: 8 bytes, but F32 shape [3] needs 12");
	reject_hdr("zero-size shape with bytes",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,8]}}", 16,
	    "tensor 'w'", "size mismatch");

	/* Offsets. */
	reject_hdr("offsets out of range",
	    "{\"clip.visual.proj\":{\"dtype\":\"F32\",\"shape\":[24],"
	    "\"data_offsets\":[0,96]}}", 64, "tensor 'clip.visual.proj'",
	    "data_offsets [0, 96] end beyond data area of 64 bytes");
	reject_hdr("offsets begin out of range",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[65,65]}}", 64,
	    "tensor 'w'", "end beyond data area");
	reject_hdr("end before begin",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16,
	    "tensor 'w'", "[8, 4] end before begin");
	reject_hdr("offsets not an array",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":8}}", 8, "tensor 'w'",
	    "data_offsets is not two non-negative integers");
	reject_hdr("one offset",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", 8, "tensor 'w'",
	    "not two non-negative integers");
	reject_hdr("three offsets",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8,
	    "tensor 'w'", "not two non-negative integers");
	reject_hdr("negative offset",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
	    "tensor 'w'", "not two non-negative integers");
	reject_hdr("fractional offset",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8,
	    "tensor 'w'", "not two non-negative integers");
	reject_hdr("offset beyond int64",
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551616]}}",
	    8, "tensor 'w'", "not two non-negative integers");
	reject_hdr("overlapping tensors",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16,
	    "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]", NULL);
	reject_hdr("tensor inside another",
	    "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
	    "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,3]},"
	    "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[5,7]}}", 16,
	    "overlap", "'a' [0, 16]");
	reject_hdr("same offsets twice",
	    "{\"a\":" F32_W ",\"b\":" F32_W "}", 8, "overlap", NULL);

	/* Metadata. */
	reject_hdr("metadata not an object", "{\"__metadata__\":[\"a\"]}", 0,
	    "__metadata__ is not an object", NULL);
	reject_hdr("metadata value not a string", "{\"__metadata__\":{\"layers\":12}}", 0,
	    "__metadata__ 'layers'", "value is not a string");
	reject_hdr("metadata value null", "{\"__metadata__\":{\"a\":\"b\",\"c\":null}}", 0,
	    "__metadata__ 'c'", "not a string");
	reject_hdr("metadata value holding NUL", "{\"__metadata__\":{\"a\":\"x\\u0000y\"}}",
	    0, "__metadata__ 'a'", "NUL byte");
	reject_hdr("metadata key holding NUL", "{\"__metadata__\":{\"a\\u0000\":\"x\"}}", 0,
	    "__metadata__ key 'a'", "NUL byte");

	/* A long hostile name is cut and escaped in the message. */
	memset(hdr, 0, sizeof hdr);
	strcpy(hdr, "{\"\\u001b[31m");
	memset(hdr + strlen(hdr), 'x', 300);
	strcat(hdr, "\":5}");
	buf = image(hdr, 0, &len);
	{
		char *cause = NULL;
		st_file *f = st_open_memory(buf, len, LABEL, &cause);

		TAP_OK(f == NULL && contains(cause, "tensor '\\x1b[31mxxx") &&
		    contains(cause, "...'") && strchr(cause, 0x1b) == NULL &&
		    strlen(cause) < 200);
		free(cause);
	}
	free(buf);
}

static void test_valid_edges(void)
{
	unsigned char *buf, *odd;
	const st_tensor *t;
	st_file *f;
	float out[4];
	char *cause = NULL;
	size_t len;
	uint16_t h[2] = { 0x3c00, 0xc000 };
	float v[2] = { 1.5f, -2.25f };

	f = accept_hdr("empty header", "{}", 0, &buf);
	TAP_OK(f != NULL && st_count(f) == 0 && st_find(f, "x") == NULL &&
	    st_metadata_count(f) == 0 && st_metadata(f, "a") == NULL &&
	    st_tensor_at(f, 0) == NULL);
	TAP_OK(f != NULL && strcmp(st_path(f), "good.safetensors") == 0);
	st_close(f);
	free(buf);

	f = accept_hdr("padded header, extra fields, gaps, empty tensors",
	    "{\"__metadata__\":{},\"s\":{\"dtype\":\"F32\",\"shape\":[],"
	    "\"data_offsets\":[4,8],\"extra\":{\"x\":[1]}},"
	    "\"e1\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[6,6]},"
	    "\"e2\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[6,6]},"
	    "\"e3\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,16]}}      ", 16, &buf);
	if (f != NULL) {
		TAP_OK(st_count(f) == 4 && st_metadata_count(f) == 0);
		t = st_find(f, "s");
		TAP_OK(t != NULL && t->ndim == 0 && t->numel == 1 && t == st_tensor_at(f, 0));
		t = st_find(f, "e2");
		TAP_OK(t != NULL && t->ndim == 2 && t->numel == 0 && t->shape[0] == 3 &&
		    t->dtype == ST_I64);
		TAP_OK(st_find(f, "e3") != NULL && st_find(f, "e") == NULL);
	}
	st_close(f);
	free(buf);

	/*
	 * A data area at an odd address: F32 must be read without an
	 * unaligned load (UBSan would catch one).
	 */
	buf = image("{\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
	    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[9,13]}}", 13, &len);
	odd = malloc(len + 1);
	memcpy(odd + 1, buf, len);
	memcpy(odd + 1 + len - 13 + 1, v, sizeof v);
	memcpy(odd + 1 + len - 13 + 9, h, sizeof h);
	f = st_open_memory(odd + 1, len, "odd", &cause);
	TAP_OK(f != NULL);
	if (f != NULL) {
		t = st_find(f, "f");
		TAP_OK(st_read_f32(f, t, out, &cause) == 0 && out[0] == 1.5f && out[1] == -2.25f);
		t = st_find(f, "h");
		TAP_OK(st_read_f32(f, t, out, &cause) == 0 && out[0] == 1.0f && out[1] == -2.0f);
	}
	st_close(f);
	free(cause);
	free(odd);
	free(buf);
}

static char *path_in_tmp(const char *name)
{
	char *p = malloc(strlen(tmpdir) + strlen(name) + 2);

	sprintf(p, "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL)
		return;
	if (len > 0)
		fwrite(buf, 1, len, fp);
	fclose(fp);
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long n;

	*len = 0;
	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, fp);
	fclose(fp);
	return buf;
}

/* st_open on path fails with a message starting with path and holding kw. */
static void reject_file(const char *what, const char *path, const char *kw1, const char *kw2)
{
	char *cause = NULL;
	st_file *f = st_open(path, &cause);
	int ok;

	/* The cause starts with the file's name in quotes. */
	ok = f == NULL && cause != NULL && cause[0] == '\'' &&
	    strncmp(cause + 1, path, strlen(path)) == 0 && strncmp(cause + 1 + strlen(path), "':", 2) == 0 &&
	    contains(cause, kw1) && contains(cause, kw2);
	if (!tap_ok(ok, "reject file: %s", what))
		tap_diag("cause: %s", cause != NULL ? cause : "(none)");
	else
		tap_diag("  %s", cause);
	st_close(f);
	free(cause);
}

static void test_files(void)
{
	char *p;
	unsigned char *buf;
	size_t len;

	p = path_in_tmp("empty.safetensors");
	write_file(p, "", 0);
	reject_file("zero-byte file", p, "0 bytes", "too short");
	unlink(p);
	free(p);

	p = path_in_tmp("short.safetensors");
	write_file(p, "\x10\0\0", 3);
	reject_file("three-byte file", p, "3 bytes", NULL);
	unlink(p);
	free(p);

	p = path_in_tmp("trunc.safetensors");
	buf = image_raw(4096, "{\"w\":" F32_W "}", 8, &len);
	write_file(p, buf, len);
	reject_file("header longer than file", p, "header length 4096", "beyond end of file");
	unlink(p);
	free(p);
	free(buf);

	p = path_in_tmp("model.safetensors");
	buf = image("{\"clip.visual.proj\":{\"dtype\":\"F32\",\"shape\":[24],"
	    "\"data_offsets\":[0,96]}}", 64, &len);
	write_file(p, buf, len);
	reject_file("offsets beyond data", p, "tensor 'clip.visual.proj': data_offsets [0, 96]",
	    "end beyond data area of 64 bytes");
	unlink(p);
	free(p);
	free(buf);

	p = path_in_tmp("missing.safetensors");
	reject_file("nonexistent path", p, "No such file", NULL);
	free(p);

	reject_file("a directory", tmpdir, "not a regular file", NULL);
}

/* Half-precision bit patterns and what they must widen to. */
static const uint16_t f16_bits[] = { 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000,
	0x7c00, 0xfc00, 0x7e00, 0x3555, 0x8001 };
static const float f16_want[] = { 1.0f, -2.0f, 65504.0f, 0x1p-24f, 0x1.ff8p-15f, 0x1p-14f,
	-0.0f, INFINITY, -INFINITY, NAN, 0x1.554p-2f, -0x1p-24f };
static const uint16_t bf16_bits[] = { 0x3f80, 0xc040, 0x7f80, 0xff80, 0x0001, 0x7fc0,
	0x4049, 0x8000 };
static const float bf16_want[] = { 1.0f, -3.0f, INFINITY, -INFINITY, 0x1p-133f, NAN,
	3.140625f, -0.0f };

static int same_float(float a, float b)
{
	if (isnan(b))
		return isnan(a);
	return a == b && signbit(a) == signbit(b);
}

#define N_F16 (sizeof f16_bits / sizeof f16_bits[0])
#define N_BF16 (sizeof bf16_bits / sizeof bf16_bits[0])

static const char *odd_name = "we\"ird\\name\x01\n\xc3\xa9";

static void check_model(st_file *f, const char *what)
{
	const float f32[6] = { 1, -2, 3.5f, 0, -0.0f, 1e-30f };
	const int32_t i32[3] = { -1, 0, 2147483647 };
	const int64_t i64[2] = { INT64_MIN, 42 };
	const unsigned char u8[5] = { 0, 1, 2, 254, 255 };
	const st_tensor *t;
	float out[16];
	char *cause = NULL;
	size_t i;
	int ok;

	tap_diag("%s", what);
	TAP_OK(st_count(f) == 9);
	t = st_find(f, "w.f32");
	TAP_OK(t != NULL && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 &&
	    t->shape[1] == 3 && t->numel == 6 && memcmp(t->data, f32, sizeof f32) == 0);
	TAP_OK(t != NULL && st_read_f32(f, t, out, &cause) == 0 &&
	    memcmp(out, f32, sizeof f32) == 0);

	t = st_find(f, "w.f16");
	TAP_OK(t != NULL && t->dtype == ST_F16 && t->numel == N_F16 &&
	    memcmp(t->data, f16_bits, sizeof f16_bits) == 0);
	ok = t != NULL && st_read_f32(f, t, out, &cause) == 0;
	for (i = 0; ok && i < N_F16; i++) {
		if (!same_float(out[i], f16_want[i])) {
			tap_diag("f16 0x%04x -> %a, want %a", f16_bits[i], out[i], f16_want[i]);
			ok = 0;
		}
	}
	tap_ok(ok, "F16 widening: normals, subnormals, signed zero, inf, nan");

	t = st_find(f, "w.bf16");
	ok = t != NULL && t->dtype == ST_BF16 && st_read_f32(f, t, out, &cause) == 0;
	for (i = 0; ok && i < N_BF16; i++) {
		if (!same_float(out[i], bf16_want[i])) {
			tap_diag("bf16 0x%04x -> %a, want %a", bf16_bits[i], out[i], bf16_want[i]);
			ok = 0;
		}
	}
	tap_ok(ok, "BF16 widening");

	t = st_find(f, "ids");
	TAP_OK(t != NULL && t->dtype == ST_I32 && t->numel == 3 &&
	    memcmp(t->data, i32, sizeof i32) == 0);
	TAP_OK(t != NULL && st_read_f32(f, t, out, &cause) == -1 &&
	    contains(cause, st_path(f)) && contains(cause, "tensor 'ids'") &&
	    contains(cause, "not a float"));
	t = st_find(f, "big");
	TAP_OK(t != NULL && t->dtype == ST_I64 && memcmp(t->data, i64, sizeof i64) == 0);
	t = st_find(f, "bytes");
	TAP_OK(t != NULL && t->dtype == ST_U8 && memcmp(t->data, u8, sizeof u8) == 0);
	t = st_find(f, "scalar");
	TAP_OK(t != NULL && t->ndim == 0 && t->numel == 1 &&
	    st_read_f32(f, t, out, &cause) == 0 && out[0] == 7.0f);
	t = st_find(f, "empty");
	TAP_OK(t != NULL && t->ndim == 2 && t->numel == 0 && t->shape[1] == 4 &&
	    st_read_f32(f, t, NULL, &cause) == 0);
	t = st_find(f, odd_name);
	TAP_OK(t != NULL && strcmp(t->name, odd_name) == 0 && t->numel == 1);
	TAP_OK(st_find(f, "w.f3") == NULL && st_find(f, "") == NULL);

	/* Every tensor starts aligned to its element size. */
	ok = 1;
	for (i = 0; i < st_count(f); i++) {
		t = st_tensor_at(f, i);
		if ((uintptr_t)t->data % st_dtype_size(t->dtype) != 0)
			ok = 0;
	}
	tap_ok(ok, "tensor data aligned to element size");

	TAP_OK(st_metadata_count(f) == 3);
	TAP_OK(st_metadata(f, "arch") != NULL && strcmp(st_metadata(f, "arch"), "clip-vit") == 0);
	TAP_OK(st_metadata(f, "q\"k") != NULL &&
	    strcmp(st_metadata(f, "q\"k"), "line\nbreak\ttab \\ \x01 \xc3\xa9 \xf0\x9f\x98\x80") == 0);
	TAP_OK(st_metadata(f, "empty") != NULL && strcmp(st_metadata(f, "empty"), "") == 0);
	TAP_OK(st_metadata(f, "missing") == NULL);
	ok = 1;
	for (i = 0; i < st_metadata_count(f); i++) {
		if (st_metadata(f, st_metadata_key_at(f, i)) == NULL)
			ok = 0;
	}
	TAP_OK(ok && st_metadata_key_at(f, 3) == NULL);
	free(cause);
}

static int count_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_roundtrip(void)
{
	const float f32[6] = { 1, -2, 3.5f, 0, -0.0f, 1e-30f };
	const int32_t i32[3] = { -1, 0, 2147483647 };
	const int64_t i64[2] = { INT64_MIN, 42 };
	const unsigned char u8[5] = { 0, 1, 2, 254, 255 };
	const float seven = 7.0f, one = 1.0f;
	int64_t s23[2] = { 2, 3 }, s[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, n;
	int64_t sf16 = N_F16, sbf16 = N_BF16, s3 = 3, s2 = 2, s5 = 5, s04[2] = { 0, 4 };
	st_writer *w = st_writer_new();
	char *cause = NULL, *path, *bad;
	unsigned char *buf;
	st_file *f;
	size_t len;
	uint64_t hlen = 0;
	int i;

	TAP_OK(st_writer_set_metadata(w, "arch", "resnet", &cause) == 0);
	TAP_OK(st_writer_set_metadata(w, "q\"k",
	    "line\nbreak\ttab \\ \x01 \xc3\xa9 \xf0\x9f\x98\x80", &cause) == 0);
	TAP_OK(st_writer_set_metadata(w, "arch", "clip-vit", &cause) == 0);
	TAP_OK(st_writer_set_metadata(w, "empty", "", &cause) == 0);

	/* Added narrowest first so the writer must reorder for alignment. */
	TAP_OK(st_writer_add(w, "bytes", ST_U8, 1, &s5, u8, &cause) == 0);
	TAP_OK(st_writer_add(w, "w.f16", ST_F16, 1, &sf16, f16_bits, &cause) == 0);
	TAP_OK(st_writer_add(w, "w.bf16", ST_BF16, 1, &sbf16, bf16_bits, &cause) == 0);
	TAP_OK(st_writer_add_f32(w, "w.f32", 2, s23, f32, &cause) == 0);
	TAP_OK(st_writer_add(w, "ids", ST_I32, 1, &s3, i32, &cause) == 0);
	TAP_OK(st_writer_add(w, "big", ST_I64, 1, &s2, i64, &cause) == 0);
	TAP_OK(st_writer_add_f32(w, "scalar", 0, NULL, &seven, &cause) == 0);
	TAP_OK(st_writer_add_f32(w, "empty", 2, s04, NULL, &cause) == 0);
	TAP_OK(st_writer_add_f32(w, odd_name, 1, s, &one, &cause) == 0);

	/* Refusals leave the writer as it was. */
	TAP_OK(st_writer_add_f32(w, "w.f32", 1, s, &one, &cause) == -1 &&
	    contains(cause, "tensor 'w.f32'") && contains(cause, "added twice"));
	TAP_OK(st_writer_add_f32(w, "__metadata__", 1, s, &one, &cause) == -1 &&
	    contains(cause, "reserved"));
	TAP_OK(st_writer_add_f32(w, "deep", 9, s, &one, &cause) == -1 &&
	    contains(cause, "9 dims"));
	n = -1;
	TAP_OK(st_writer_add_f32(w, "neg", 1, &n, &one, &cause) == -1 &&
	    contains(cause, "negative"));
	n = INT64_MAX;
	TAP_OK(st_writer_add_f32(w, "huge", 1, &n, &one, &cause) == -1 &&
	    contains(cause, "overflows"));
	TAP_OK(st_writer_add_f32(w, "nodata", 1, &s3, NULL, &cause) == -1 &&
	    contains(cause, "no data"));
	TAP_OK(st_writer_add(w, "dt", (st_dtype)42, 1, &s3, i32, &cause) == -1 &&
	    contains(cause, "unknown dtype"));
	TAP_OK(st_writer_add_f32(w, "bad\xff", 1, s, &one, &cause) == -1 &&
	    contains(cause, "UTF-8"));
	TAP_OK(st_writer_set_metadata(w, "k", "\xed\xa0\x80", &cause) == -1 &&
	    contains(cause, "UTF-8"));

	path = path_in_tmp("model.safetensors");
	TAP_OK(st_writer_save(w, path, &cause) == 0);
	/* Saving over an existing file goes through a fresh temp file too. */
	TAP_OK(st_writer_save(w, path, &cause) == 0);
	tap_ok(count_dir_entries(tmpdir) == 1, "no temp file left beside the model");
	bad = path_in_tmp("no/such/dir/model.safetensors");
	TAP_OK(st_writer_save(w, bad, &cause) == -1 && contains(cause, bad));
	free(bad);
	st_writer_free(w);

	buf = read_file(path, &len);
	for (i = 0; buf != NULL && len >= 8 && i < 8; i++)
		hlen |= (uint64_t)buf[i] << (8 * i);
	TAP_OK(buf != NULL && (8 + hlen) % 8 == 0 && 8 + hlen <= len && buf[8] == '{');

	f = st_open(path, &cause);
	if (!TAP_OK(f != NULL))
		tap_diag("cause: %s", cause);
	if (f != NULL) {
		TAP_OK(strcmp(st_path(f), path) == 0);
		check_model(f, "mapped file");
	}
	st_close(f);

	f = st_open_memory(buf, len, "in memory", &cause);
	TAP_OK(f != NULL);
	if (f != NULL)
		check_model(f, "memory image");
	st_close(f);
	free(buf);
	unlink(path);
	free(path);
	free(cause);
}

/* Many tensors: every name found, and an empty writer gives a valid file. */
static void test_many(void)
{
	st_writer *w = st_writer_new();
	const int n = 600;
	char name[64], *cause = NULL, *path = path_in_tmp("many.safetensors");
	const st_tensor *t;
	float v;
	int64_t one = 1;
	st_file *f;
	int i, bad = 0;

	f = NULL;
	TAP_OK(st_writer_save(w, path, &cause) == 0);
	f = st_open(path, &cause);
	TAP_OK(f != NULL && st_count(f) == 0 && st_metadata_count(f) == 0);
	st_close(f);

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "layer.%d.weight", (i * 7) % n);
		v = (float)i;
		if (st_writer_add_f32(w, name, 1, &one, &v, &cause) < 0)
			bad++;
	}
	TAP_OK(bad == 0 && st_writer_save(w, path, &cause) == 0);
	st_writer_free(w);
	f = st_open(path, &cause);
	TAP_OK(f != NULL && st_count(f) == (size_t)n);
	for (i = 0; f != NULL && i < n; i++) {
		snprintf(name, sizeof name, "layer.%d.weight", (i * 7) % n);
		t = st_find(f, name);
		if (t == NULL || st_read_f32(f, t, &v, &cause) < 0 || v != (float)i)
			bad++;
	}
	tap_ok(f != NULL && bad == 0, "all %d tensors found by name with their values", n);
	st_close(f);
	unlink(path);
	free(path);
	free(cause);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/test-safetensors.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return tap_skip_all("cannot create a temporary directory");

	test_malformed();
	test_valid_edges();
	test_files();
	test_roundtrip();
	test_many();

	rmdir(tmpdir);
	return tap_done();
}
