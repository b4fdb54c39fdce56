/* test-json — the strict parser: valid documents, every error class, limits. */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tap.h"

/* text[len] made printable for a test name. */
static const char *show(const char *text, size_t len)
{
	static char buf[128];
	size_t o = 0, i;
	unsigned char c;

	for (i = 0; i < len && o + 8 < sizeof buf; i++) {
		c = (unsigned char)text[i];
		if (c >= 0x20 && c < 0x7f && c != '#')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
	}
	if (i < len)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "...");
	buf[o] = '\0';
	return buf;
}

static json_value *parse_ok(const char *text, size_t len)
{
	char *cause = NULL;
	json_value *v = json_parse(text, len, &cause);

	if (!tap_ok(v != NULL, "accept %s", show(text, len)))
		tap_diag("cause: %s", cause != NULL ? cause : "(none)");
	free(cause);
	return v;
}

/* The parse fails with "byte <at>: ..." mentioning keyword. */
static void reject(const char *text, size_t len, size_t at, const char *keyword)
{
	char *cause = NULL, want[32];
	json_value *v = json_parse(text, len, &cause);
	int ok;

	snprintf(want, sizeof want, "byte %zu: ", at);
	ok = v == NULL && cause != NULL && strncmp(cause, want, strlen(want)) == 0 &&
	    strstr(cause, keyword) != NULL;
	if (!tap_ok(ok, "reject %s (%s)", show(text, len), keyword))
		tap_diag("cause: %s", cause != NULL ? cause : "(none)");
	json_free(v);
	free(cause);
}

#define ACCEPT(lit) parse_ok((lit), sizeof(lit) - 1)
#define REJECT(lit, at, kw) reject((lit), sizeof(lit) - 1, (at), (kw))

static void test_scalars(void)
{
	json_value *v;
	int64_t i;

	v = ACCEPT("null");
	TAP_OK(json_kind(v) == JSON_NULL && json_length(v) == 0);
	json_free(v);
	v = ACCEPT(" \t\r\ntrue \n");
	TAP_OK(json_kind(v) == JSON_TRUE);
	json_free(v);
	v = ACCEPT("false");
	TAP_OK(json_kind(v) == JSON_FALSE);
	json_free(v);

	v = ACCEPT("123");
	TAP_OK(json_kind(v) == JSON_NUMBER && json_number(v) == 123.0);
	TAP_OK(json_int64(v, &i) == 0 && i == 123);
	json_free(v);
	v = ACCEPT("-0");
	TAP_OK(json_int64(v, &i) == 0 && i == 0);
	TAP_OK(json_number(v) == 0.0 && signbit(json_number(v)));
	json_free(v);
	v = ACCEPT("-1.25e+2");
	TAP_OK(json_number(v) == -125.0);
	TAP_OK(json_int64(v, &i) == -1);
	json_free(v);
	v = ACCEPT("1.0");
	TAP_OK(json_number(v) == 1.0 && json_int64(v, &i) == -1);
	json_free(v);
	v = ACCEPT("1E2");
	TAP_OK(json_number(v) == 100.0 && json_int64(v, &i) == -1);
	json_free(v);
	v = ACCEPT("0.1");
	TAP_OK(json_number(v) == 0.1);
	json_free(v);
	v = ACCEPT("1e-400");
	TAP_OK(json_number(v) == 0.0);
	json_free(v);
	v = ACCEPT("1.7976931348623157e308");
	TAP_OK(json_number(v) == 1.7976931348623157e308);
	json_free(v);

	v = ACCEPT("9223372036854775807");
	TAP_OK(json_int64(v, &i) == 0 && i == INT64_MAX);
	json_free(v);
	v = ACCEPT("-9223372036854775808");
	TAP_OK(json_int64(v, &i) == 0 && i == INT64_MIN);
	json_free(v);
	v = ACCEPT("9223372036854775808");
	TAP_OK(json_int64(v, &i) == -1);
	TAP_OK(json_number(v) == 9223372036854775808.0);
	json_free(v);
	v = ACCEPT("-9223372036854775809");
	TAP_OK(json_int64(v, &i) == -1);
	json_free(v);
	v = ACCEPT("123456789012345678901234567890");
	TAP_OK(json_int64(v, &i) == -1 && json_number(v) > 1.2e29);
	json_free(v);
	/* 2^53 + 1 is not a double, but json_int64 must stay exact. */
	v = ACCEPT("9007199254740993");
	TAP_OK(json_int64(v, &i) == 0 && i == INT64_C(9007199254740993));
	json_free(v);

	v = ACCEPT("\"\"");
	TAP_OK(json_kind(v) == JSON_STRING && strcmp(json_string(v, NULL), "") == 0);
	json_free(v);
}

static void test_strings(void)
{
	json_value *v;
	const char *s;
	size_t len;

	v = ACCEPT("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"");
	s = json_string(v, &len);
	TAP_OK(s != NULL && len == 17 && memcmp(s, "a\"b\\c/d\be\ff\ng\rh\ti", 18) == 0);
	json_free(v);

	v = ACCEPT("\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\"");
	s = json_string(v, &len);
	TAP_OK(s != NULL && len == 10 &&
	    strcmp(s, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
	json_free(v);

	/* The highest pair, U+10FFFF. */
	v = ACCEPT("\"\\uDBFF\\uDFFF\"");
	s = json_string(v, &len);
	TAP_OK(s != NULL && len == 4 && memcmp(s, "\xf4\x8f\xbf\xbf", 4) == 0);
	json_free(v);

	v = ACCEPT("\"a\\u0000b\"");
	s = json_string(v, &len);
	TAP_OK(s != NULL && len == 3 && memcmp(s, "a\0b", 4) == 0);
	json_free(v);

	v = ACCEPT("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf\"");
	s = json_string(v, &len);
	TAP_OK(s != NULL && len == 18);
	json_free(v);

	/* DEL is not a control character for JSON. */
	v = ACCEPT("\"\x7f\"");
	json_free(v);

	/* A key holding NUL is kept whole; a C-string lookup cannot reach it. */
	v = ACCEPT("{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}");
	TAP_OK(json_length(v) == 3 && strcmp(json_key_at(v, 0), "a") == 0);
	TAP_OK(json_number(json_get(v, "a")) == 3.0);
	json_free(v);
}

static void test_structures(void)
{
	json_value *v;
	const json_value *a, *o;
	int64_t i;

	v = ACCEPT("[]");
	TAP_OK(json_kind(v) == JSON_ARRAY && json_length(v) == 0 && json_at(v, 0) == NULL);
	json_free(v);
	v = ACCEPT("{ }");
	TAP_OK(json_kind(v) == JSON_OBJECT && json_length(v) == 0 && json_get(v, "a") == NULL);
	json_free(v);

	v = ACCEPT(" { \"b\" : [1, 2.5, \"x\", null, true, false, [], {}],\n"
	    "  \"a\" : {\"z\": 1, \"y\": {\"deep\": [7]}}, \"\": 0 } ");
	TAP_OK(json_kind(v) == JSON_OBJECT && json_length(v) == 3);
	TAP_OK(strcmp(json_key_at(v, 0), "b") == 0 && strcmp(json_key_at(v, 1), "a") == 0 &&
	    strcmp(json_key_at(v, 2), "") == 0 && json_key_at(v, 3) == NULL);
	a = json_get(v, "b");
	TAP_OK(a == json_at(v, 0) && json_length(a) == 8);
	TAP_OK(json_number(json_at(a, 1)) == 2.5);
	TAP_OK(strcmp(json_string(json_at(a, 2), NULL), "x") == 0);
	TAP_OK(json_kind(json_at(a, 3)) == JSON_NULL && json_kind(json_at(a, 4)) == JSON_TRUE &&
	    json_kind(json_at(a, 5)) == JSON_FALSE);
	TAP_OK(json_kind(json_at(a, 6)) == JSON_ARRAY && json_kind(json_at(a, 7)) == JSON_OBJECT);
	TAP_OK(json_at(a, 8) == NULL);
	o = json_get(json_get(json_get(v, "a"), "y"), "deep");
	TAP_OK(json_int64(json_at(o, 0), &i) == 0 && i == 7);
	TAP_OK(json_int64(json_get(v, ""), &i) == 0 && i == 0);
	TAP_OK(json_get(v, "c") == NULL && json_get(v, "bb") == NULL);

	/* Accessors on the wrong kind answer "nothing" rather than crash. */
	TAP_OK(json_get(a, "b") == NULL && json_key_at(a, 0) == NULL);
	TAP_OK(json_string(a, NULL) == NULL && isnan(json_number(a)));
	TAP_OK(json_int64(json_at(a, 2), &i) == -1 && json_length(json_at(a, 2)) == 0);
	TAP_OK(json_get(NULL, "a") == NULL && json_length(NULL) == 0 && json_at(NULL, 0) == NULL);
	json_free(v);
	json_free(NULL);

	/* The length bounds the input: no NUL terminator needed. */
	v = parse_ok("123456", 3);
	TAP_OK(json_number(v) == 123.0);
	json_free(v);
	v = parse_ok("[1]garbage", 3);
	TAP_OK(json_length(v) == 1);
	json_free(v);
}

/* n nested arrays (or objects) around a 0. */
static char *nested(int n, int objects, size_t *len)
{
	char *s = malloc((size_t)n * 6 + 2), *p = s;
	int i;

	for (i = 0; i < n; i++) {
		if (objects) {
			memcpy(p, "{\"a\":", 5);
			p += 5;
		} else
			*p++ = '[';
	}
	*p++ = '0';
	for (i = 0; i < n; i++)
		*p++ = objects ? '}' : ']';
	*len = (size_t)(p - s);
	return s;
}

static void test_depth(void)
{
	json_value *v;
	char *s;
	size_t len;

	s = nested(64, 0, &len);
	v = parse_ok(s, len);
	TAP_OK(v != NULL);
	json_free(v);
	free(s);
	s = nested(65, 0, &len);
	reject(s, len, 64, "nesting deeper than 64");
	free(s);
	s = nested(64, 1, &len);
	v = parse_ok(s, len);
	json_free(v);
	free(s);
	s = nested(65, 1, &len);
	reject(s, len, 64 * 5, "nesting");
	free(s);
	/* Far deeper than the bound: rejected without deep recursion. */
	s = nested(100000, 0, &len);
	reject(s, len, 64, "nesting");
	free(s);
}

static void test_errors(void)
{
	reject(NULL, 0, 0, "end of input");
	REJECT("", 0, "end of input");
	REJECT("   ", 3, "end of input");
	REJECT("[1,2", 4, "end of input");
	REJECT("{\"a\":1", 6, "end of input");
	REJECT("{\"a\"", 4, "end of input");

	/* Structure. */
	REJECT("[1 2]", 3, "expected ',' or ']'");
	REJECT("[1,]", 3, "unexpected character ']'");
	REJECT("[,1]", 1, "unexpected character ','");
	REJECT("{\"a\" 1}", 5, "expected ':'");
	REJECT("{\"a\":1,}", 7, "string key");
	REJECT("{1:2}", 1, "string key");
	REJECT("{'a':2}", 1, "string key");
	REJECT("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
	REJECT("{\"a\":}", 5, "expected a value");
	REJECT("]", 0, "unexpected character ']'");

	/* Trailing garbage. */
	REJECT("1 2", 2, "trailing data");
	REJECT("{} x", 3, "trailing data");
	REJECT("[]]", 2, "trailing data");
	REJECT("0x10", 1, "trailing data");
	REJECT("\"a\"\"b\"", 3, "trailing data");
	REJECT("null\0", 4, "trailing data");

	/* Bytes outside strings. */
	REJECT("\xef\xbb\xbf{}", 0, "unexpected byte 0xef");
	REJECT("[1,\0 2]", 3, "unexpected byte 0x00");
	REJECT("[\x0c]", 1, "unexpected byte 0x0c");

	/* Numbers. */
	REJECT("01", 0, "leading zero");
	REJECT("-01", 0, "leading zero");
	REJECT("[00]", 1, "leading zero");
	REJECT("-", 1, "digit expected");
	REJECT("-a", 1, "digit expected");
	REJECT("1.", 2, "after '.'");
	REJECT("1.e5", 2, "after '.'");
	REJECT(".5", 0, "unexpected character '.'");
	REJECT("+1", 0, "unexpected character '+'");
	REJECT("1e", 2, "exponent");
	REJECT("1e+", 3, "exponent");
	REJECT("1E-x", 3, "exponent");
	REJECT("NaN", 0, "unexpected character 'N'");
	REJECT("Infinity", 0, "unexpected character 'I'");
	REJECT("-Infinity", 1, "digit expected");
	REJECT("1e400", 0, "out of range");
	REJECT("[-1e400]", 1, "out of range");

	/* Literals. */
	REJECT("tru", 0, "invalid literal");
	REJECT("nul", 0, "invalid literal");
	REJECT("[fals]", 1, "invalid literal");
	REJECT("True", 0, "unexpected character 'T'");
	REJECT("nulll", 4, "trailing data");

	/* Strings. */
	REJECT("\"abc", 0, "unterminated string");
	REJECT("[\"abc\\\"]", 1, "unterminated string");
	REJECT("\"a\nb\"", 2, "control character 0x0a");
	REJECT("\"a\tb\"", 2, "control character 0x09");
	REJECT("\"\x1f\"", 1, "control character 0x1f");
	REJECT("\"a\0b\"", 2, "control character 0x00");
	REJECT("\"\\x\"", 1, "invalid escape '\\x'");
	REJECT("\"\\U0041\"", 1, "invalid escape");
	REJECT("\"\\\x01\"", 1, "invalid escape");
	REJECT("\"\\u12\"", 1, "invalid \\u escape");
	REJECT("\"\\u12G4\"", 1, "invalid \\u escape");
	REJECT("\"\\u\"", 1, "invalid \\u escape");

	/* Surrogates. */
	REJECT("\"\\uD800\"", 1, "lone high surrogate \\uD800");
	REJECT("\"x\\uDBFFx\"", 2, "lone high surrogate");
	REJECT("\"\\uD800\\u0041\"", 1, "lone high surrogate");
	REJECT("\"\\uD800\\uD800\"", 1, "lone high surrogate");
	REJECT("\"\\uD800\\n\"", 1, "lone high surrogate");
	REJECT("\"\\uD800\\uZZZZ\"", 7, "invalid \\u escape");
	REJECT("\"\\uDC00\"", 1, "lone low surrogate \\uDC00");
	REJECT("\"\\uDE00\\uD83D\"", 1, "lone low surrogate");

	/* Raw UTF-8. */
	REJECT("\"\xff\"", 1, "invalid UTF-8");
	REJECT("\"ab\x80\"", 3, "invalid UTF-8");
	REJECT("\"\xc0\xaf\"", 1, "invalid UTF-8");
	REJECT("\"\xc1\xbf\"", 1, "invalid UTF-8");
	REJECT("\"\xe0\x80\xaf\"", 1, "invalid UTF-8");
	REJECT("\"\xf0\x80\x80\xaf\"", 1, "invalid UTF-8");
	REJECT("\"\xed\xa0\x80\"", 1, "invalid UTF-8");
	REJECT("\"\xed\xbf\xbf\"", 1, "invalid UTF-8");
	REJECT("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8");
	REJECT("\"\xf5\x80\x80\x80\"", 1, "invalid UTF-8");
	REJECT("\"\xe2\x82\"", 1, "invalid UTF-8");
	REJECT("\"\xc3\"", 1, "invalid UTF-8");
	REJECT("\"\xe2\x28\xa1\"", 1, "invalid UTF-8");
	REJECT("{\"k\xfe\":1}", 3, "invalid UTF-8");

	/* Duplicate keys, reported where the repeat starts. */
	REJECT("{\"a\":1,\"b\":2,\"a\":3}", 13, "duplicate key \"a\"");
	REJECT("{\"a\":1,\"\\u0061\":2}", 7, "duplicate key \"a\"");
	REJECT("{\"x\":{\"k\":1,\"k\":2}}", 12, "duplicate key \"k\"");
	REJECT("{\"b\":1,\"a\":1,\"a\":2,\"b\":3}", 13, "duplicate key \"a\"");
	REJECT("{\"\\n\":1,\"\\n\":2}", 8, "duplicate key \"\\x0a\"");
	REJECT("[{\"a\":1},{\"a\":1,\"a\":1}]", 16, "duplicate key");
}

/* A vocab.json-sized object: every key found, file order kept. */
static void test_big_object(void)
{
	const int n = 49408;
	size_t cap = (size_t)n * 32, len = 0;
	char *s = malloc(cap), key[32];
	json_value *v;
	int64_t id;
	int i, bad = 0;

	len += (size_t)snprintf(s + len, cap - len, "{");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s\"tok%d</w>\": %d",
		    i ? ", " : "", (i * 7919) % n, i);
	len += (size_t)snprintf(s + len, cap - len, "}");
	v = parse_ok(s, len);
	TAP_OK(json_length(v) == (size_t)n);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "tok%d</w>", (i * 7919) % n);
		if (json_int64(json_get(v, key), &id) < 0 || id != i ||
		    strcmp(json_key_at(v, (size_t)i), key) != 0)
			bad++;
	}
	tap_ok(bad == 0, "all %d keys found by json_get, in file order", n);
	TAP_OK(json_get(v, "tok</w>") == NULL && json_get(v, "tok1") == NULL);
	json_free(v);

	/* The same object with one repeat at the very end. */
	len--;
	len += (size_t)snprintf(s + len, cap - len, ", \"tok5</w>\": 1}");
	v = json_parse(s, len, NULL);
	TAP_OK(v == NULL);
	free(s);
}

/* Decimal points must not follow LC_NUMERIC, which curses programs set. */
static void test_locale(void)
{
	static const char *names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
		"fr_FR.utf8", "ru_RU.UTF-8", "nl_NL.UTF-8" };
	json_value *v;
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (setlocale(LC_NUMERIC, names[i]) != NULL &&
		    strcmp(localeconv()->decimal_point, ".") != 0)
			break;
	}
	if (i == sizeof names / sizeof names[0]) {
		setlocale(LC_NUMERIC, "C");
		tap_skip("no locale with a decimal comma installed");
		return;
	}
	v = ACCEPT("[1.5, -2.25e1, 0.1]");
	TAP_OK(json_number(json_at(v, 0)) == 1.5 && json_number(json_at(v, 1)) == -22.5 &&
	    json_number(json_at(v, 2)) == 0.1);
	json_free(v);
	REJECT("1,5", 1, "trailing data");
	setlocale(LC_NUMERIC, "C");
}

int main(void)
{
	test_scalars();
	test_strings();
	test_structures();
	test_depth();
	test_errors();
	test_big_object();
	test_locale();
	return tap_done();
}
