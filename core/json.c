/*
 * json — a strict RFC 8259 parser into a read-only tree.
 *
 * The whole tree lives in an arena owned by the root, so a document with
 * tens of thousands of members costs a handful of allocations and one
 * json_free.  Children are collected on two scratch stacks while their
 * container is open and copied into the arena, exactly sized, when it
 * closes; nested containers always close before their parent continues, so
 * the stacks stay LIFO.  Each object also gets an index of its members
 * sorted by key, which finds duplicates at parse time and makes json_get a
 * binary search (vocab.json has 49408 keys; safetensors headers are looked
 * up once per tensor).
 */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* Deeper documents are rejected; this also bounds the parser's recursion. */
#define JSON_MAX_DEPTH 64
#define JSON_BLOCK_SIZE 65536
/* Integers up to 2^53 convert to double exactly, so they skip strtod. */
#define JSON_EXACT_DOUBLE (UINT64_C(1) << 53)

typedef struct json_member json_member;

struct json_value {
	json_type type;
	union {
		struct {
			double d;
			int64_t i;
			int exact; /* written without fraction or exponent and fits int64_t */
		} num;
		struct {
			const char *s; /* NUL-terminated, may itself hold NULs */
			size_t len;
		} str;
		struct {
			json_value *items; /* [n] */
			size_t n;
		} arr;
		struct {
			json_member *members; /* [n], file order */
			json_member **sorted; /* [n], by key bytes; NULL when n < 2 */
			size_t n;
		} obj;
	} u;
};

struct json_member {
	const char *key; /* NUL-terminated, may itself hold NULs */
	size_t keylen;
	size_t at; /* byte offset of the key, for the duplicate-key message */
	json_value value;
};

struct json_block {
	struct json_block *next;
	size_t used;
	size_t cap;
	max_align_t mem[];
};

/* The root comes first so that json_free can get back to the document. */
struct json_doc {
	json_value root;
	struct json_block *blocks;
};

struct json_parser {
	const unsigned char *text;
	size_t len;
	size_t pos;
	int depth;
	char **cause;
	struct json_block *blocks;

	json_value *vals; /* scratch: elements of the open arrays */
	size_t nvals;
	size_t capvals;
	json_member *mems; /* scratch: members of the open objects */
	size_t nmems;
	size_t capmems;
};

static void json_fail(struct json_parser *p, size_t at, const char *fmt, ...)
    UTIL_PRINTF(3, 4);

static void json_fail(struct json_parser *p, size_t at, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	util_set_cause(p->cause, "byte %zu: %s", at, msg);
}

static void *json_arena_alloc(struct json_parser *p, size_t size)
{
	const size_t align = sizeof(max_align_t);
	struct json_block *b = p->blocks;
	size_t cap;
	void *mem;

	if (size > SIZE_MAX - align)
		return NULL;
	size = (size + align - 1) / align * align;
	if (b == NULL || b->cap - b->used < size) {
		cap = size > JSON_BLOCK_SIZE ? size : JSON_BLOCK_SIZE;
		if (cap > SIZE_MAX - sizeof *b)
			return NULL;
		b = malloc(sizeof *b + cap);
		if (b == NULL)
			return NULL;
		b->next = p->blocks;
		b->used = 0;
		b->cap = cap;
		p->blocks = b;
	}
	mem = (char *)b->mem + b->used;
	b->used += size;
	return mem;
}

static void json_blocks_free(struct json_block *b)
{
	struct json_block *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
}

/* Grow a scratch stack so that it holds at least one more entry. */
static int json_stack_grow(void **stack, size_t *cap, size_t n, size_t size)
{
	size_t ncap, bytes;
	void *grown;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if (util_mul_size(ncap, size, &bytes) < 0)
		return -1;
	grown = realloc(*stack, bytes);
	if (grown == NULL)
		return -1;
	*stack = grown;
	*cap = ncap;
	return 0;
}

/*
 * Write s[len] into buf for an error message: control bytes escaped, long
 * keys cut on a UTF-8 boundary so the message stays short and printable.
 */
static void json_quote(char *buf, size_t size, const char *s, size_t len)
{
	const size_t limit = 60;
	size_t o = 0, i;
	unsigned char c;

	for (i = 0; i < len && o + 8 < size; i++) {
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
}

static void json_skip_space(struct json_parser *p)
{
	unsigned char c;

	while (p->pos < p->len) {
		c = p->text[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static void json_fail_unexpected(struct json_parser *p, const char *what)
{
	unsigned char c;

	if (p->pos >= p->len) {
		json_fail(p, p->pos, "unexpected end of input, expected %s", what);
		return;
	}
	c = p->text[p->pos];
	if (c > 0x20 && c < 0x7f)
		json_fail(p, p->pos, "unexpected character '%c', expected %s", c, what);
	else
		json_fail(p, p->pos, "unexpected byte 0x%02x, expected %s", c, what);
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0.
 * Follows Unicode table 3-7: no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return need;
}

static size_t json_utf8_put(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The four hex digits of a \u escape at text[at], which must end by end. */
static int json_hex4(const unsigned char *text, size_t at, size_t end, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;
	unsigned char c;

	if (end - at < 4)
		return -1;
	for (i = at; i < at + 4; i++) {
		c = text[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Decode one escape at text[*i] (the backslash) into out; advances *i. */
static int json_parse_escape(struct json_parser *p, size_t *i, size_t end,
    unsigned char *out, size_t *o)
{
	const unsigned char *t = p->text;
	size_t at = *i;
	uint32_t cp, lo;
	unsigned char c = t[at + 1];

	switch (c) {
	case '"':
	case '\\':
	case '/':
		out[(*o)++] = c;
		*i += 2;
		return 0;
	case 'b':
		out[(*o)++] = '\b';
		*i += 2;
		return 0;
	case 'f':
		out[(*o)++] = '\f';
		*i += 2;
		return 0;
	case 'n':
		out[(*o)++] = '\n';
		*i += 2;
		return 0;
	case 'r':
		out[(*o)++] = '\r';
		*i += 2;
		return 0;
	case 't':
		out[(*o)++] = '\t';
		*i += 2;
		return 0;
	case 'u':
		break;
	default:
		if (c > 0x20 && c < 0x7f)
			json_fail(p, at, "invalid escape '\\%c' in string", c);
		else
			json_fail(p, at, "invalid escape (byte 0x%02x after '\\') in string", c);
		return -1;
	}

	if (json_hex4(t, at + 2, end, &cp) < 0) {
		json_fail(p, at, "invalid \\u escape in string (need four hex digits)");
		return -1;
	}
	*i = at + 6;
	if (cp >= 0xdc00 && cp <= 0xdfff) {
		json_fail(p, at, "lone low surrogate \\u%04X in string", (unsigned)cp);
		return -1;
	}
	if (cp >= 0xd800 && cp <= 0xdbff) {
		/* UTF-16 in JSON: a high surrogate must be followed by a low one. */
		if (end - *i < 2 || t[*i] != '\\' || t[*i + 1] != 'u') {
			json_fail(p, at, "lone high surrogate \\u%04X in string", (unsigned)cp);
			return -1;
		}
		if (json_hex4(t, *i + 2, end, &lo) < 0) {
			json_fail(p, *i, "invalid \\u escape in string (need four hex digits)");
			return -1;
		}
		if (lo < 0xdc00 || lo > 0xdfff) {
			json_fail(p, at, "lone high surrogate \\u%04X in string", (unsigned)cp);
			return -1;
		}
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		*i += 6;
	}
	*o += json_utf8_put(out + *o, cp);
	return 0;
}

/* The string at p->pos (its opening quote) into the arena. */
static int json_parse_string(struct json_parser *p, const char **out, size_t *outlen)
{
	const unsigned char *t = p->text;
	size_t open = p->pos, i, end, o = 0, n;
	unsigned char *dst, c;

	/*
	 * Find the closing quote first so the copy is sized once; decoding
	 * never grows a string (\uXXXX is 6 bytes for at most 3 of UTF-8, a
	 * surrogate pair 12 bytes for 4).
	 */
	for (i = open + 1;;) {
		if (i >= p->len) {
			json_fail(p, open, "unterminated string");
			return -1;
		}
		c = t[i];
		if (c == '"')
			break;
		i += c == '\\' ? 2 : 1;
	}
	end = i;
	dst = json_arena_alloc(p, end - open);
	if (dst == NULL) {
		json_fail(p, open, "out of memory");
		return -1;
	}

	for (i = open + 1; i < end;) {
		c = t[i];
		if (c >= 0x20 && c < 0x80 && c != '\\') {
			dst[o++] = c;
			i++;
		} else if (c == '\\') {
			if (json_parse_escape(p, &i, end, dst, &o) < 0)
				return -1;
		} else if (c < 0x20) {
			json_fail(p, i, "unescaped control character 0x%02x in string", c);
			return -1;
		} else {
			n = json_utf8_len(t + i, end - i);
			if (n == 0) {
				json_fail(p, i, "invalid UTF-8 in string");
				return -1;
			}
			memcpy(dst + o, t + i, n);
			o += n;
			i += n;
		}
	}
	dst[o] = '\0';
	p->pos = end + 1;
	*out = (const char *)dst;
	*outlen = o;
	return 0;
}

/*
 * strtod for an RFC 8259 number of n bytes.  strtod follows LC_NUMERIC,
 * which the program may have set from the environment (curses wants
 * setlocale), so the '.' is swapped for the locale's decimal point.
 */
static int json_strtod(const unsigned char *s, size_t n, double *out)
{
	const char *dp = localeconv()->decimal_point;
	size_t dplen = strlen(dp), need, o = 0, i;
	char small[128], *buf = small, *end;

	if (dplen == 0) {
		dp = ".";
		dplen = 1;
	}
	need = n + dplen + 1;
	if (need > sizeof small) {
		buf = malloc(need);
		if (buf == NULL)
			return -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			memcpy(buf + o, dp, dplen);
			o += dplen;
		} else
			buf[o++] = (char)s[i];
	}
	buf[o] = '\0';
	*out = strtod(buf, &end);
	if (end != buf + o)
		*out = NAN;
	if (buf != small)
		free(buf);
	return 0;
}

static int json_is_digit(const struct json_parser *p)
{
	return p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9';
}

static int json_parse_number(struct json_parser *p, json_value *v)
{
	const unsigned char *t = p->text;
	size_t start = p->pos;
	uint64_t mag = 0, limit;
	int neg = 0, fits = 1, exact = 1;
	double d;

	if (t[p->pos] == '-') {
		neg = 1;
		p->pos++;
	}
	if (!json_is_digit(p)) {
		json_fail(p, p->pos, "digit expected in number");
		return -1;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (t[p->pos] == '0') {
		p->pos++;
		if (json_is_digit(p)) {
			json_fail(p, start, "leading zero in number");
			return -1;
		}
	} else {
		while (json_is_digit(p)) {
			unsigned dig = (unsigned)(t[p->pos] - '0');

			if (fits && mag > (limit - dig) / 10)
				fits = 0;
			else if (fits)
				mag = mag * 10 + dig;
			p->pos++;
		}
	}
	if (p->pos < p->len && t[p->pos] == '.') {
		exact = 0;
		p->pos++;
		if (!json_is_digit(p)) {
			json_fail(p, p->pos, "digit expected after '.' in number");
			return -1;
		}
		while (json_is_digit(p))
			p->pos++;
	}
	if (p->pos < p->len && (t[p->pos] == 'e' || t[p->pos] == 'E')) {
		exact = 0;
		p->pos++;
		if (p->pos < p->len && (t[p->pos] == '+' || t[p->pos] == '-'))
			p->pos++;
		if (!json_is_digit(p)) {
			json_fail(p, p->pos, "digit expected in exponent");
			return -1;
		}
		while (json_is_digit(p))
			p->pos++;
	}

	v->type = JSON_NUMBER;
	v->u.num.exact = exact && fits;
	v->u.num.i = 0;
	if (v->u.num.exact) {
		if (!neg)
			v->u.num.i = (int64_t)mag;
		else if (mag == (uint64_t)INT64_MAX + 1)
			v->u.num.i = INT64_MIN; /* -(int64_t)mag would overflow */
		else
			v->u.num.i = -(int64_t)mag;
	}
	if (v->u.num.exact && mag <= JSON_EXACT_DOUBLE) {
		d = (double)mag;
		v->u.num.d = neg ? -d : d;
		return 0;
	}
	if (json_strtod(t + start, p->pos - start, &d) < 0) {
		json_fail(p, start, "out of memory");
		return -1;
	}
	if (isnan(d)) {
		json_fail(p, start, "unreadable number");
		return -1;
	}
	if (isinf(d)) {
		json_fail(p, start, "number out of range");
		return -1;
	}
	v->u.num.d = d;
	return 0;
}

static int json_parse_literal(struct json_parser *p, json_value *v)
{
	static const struct {
		const char *word;
		size_t len;
		json_type type;
	} lits[] = {
		{ "true", 4, JSON_TRUE },
		{ "false", 5, JSON_FALSE },
		{ "null", 4, JSON_NULL },
	};
	size_t i;

	for (i = 0; i < sizeof lits / sizeof lits[0]; i++) {
		if (p->len - p->pos >= lits[i].len &&
		    memcmp(p->text + p->pos, lits[i].word, lits[i].len) == 0) {
			v->type = lits[i].type;
			p->pos += lits[i].len;
			return 0;
		}
	}
	json_fail(p, p->pos, "invalid literal (expected true, false or null)");
	return -1;
}

static int json_parse_value(struct json_parser *p, json_value *v);

static int json_enter(struct json_parser *p)
{
	if (p->depth >= JSON_MAX_DEPTH) {
		json_fail(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
		return -1;
	}
	p->depth++;
	p->pos++;
	return 0;
}

static int json_parse_array(struct json_parser *p, json_value *v)
{
	size_t base = p->nvals, n;
	json_value elem;

	if (json_enter(p) < 0)
		return -1;
	json_skip_space(p);
	if (p->pos < p->len && p->text[p->pos] == ']')
		p->pos++;
	else {
		for (;;) {
			if (json_parse_value(p, &elem) < 0)
				return -1;
			if (json_stack_grow((void **)&p->vals, &p->capvals, p->nvals,
			    sizeof *p->vals) < 0) {
				json_fail(p, p->pos, "out of memory");
				return -1;
			}
			p->vals[p->nvals++] = elem;
			json_skip_space(p);
			if (p->pos < p->len && p->text[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->text[p->pos] == ']') {
				p->pos++;
				break;
			}
			json_fail_unexpected(p, "',' or ']' in array");
			return -1;
		}
	}

	n = p->nvals - base;
	v->type = JSON_ARRAY;
	v->u.arr.n = n;
	v->u.arr.items = NULL;
	if (n > 0) {
		v->u.arr.items = json_arena_alloc(p, n * sizeof *v->u.arr.items);
		if (v->u.arr.items == NULL) {
			json_fail(p, p->pos, "out of memory");
			return -1;
		}
		memcpy(v->u.arr.items, p->vals + base, n * sizeof *v->u.arr.items);
	}
	p->nvals = base;
	p->depth--;
	return 0;
}

static int json_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int json_member_cmp(const void *a, const void *b)
{
	const json_member *x = *(json_member *const *)a;
	const json_member *y = *(json_member *const *)b;

	return json_key_cmp(x->key, x->keylen, y->key, y->keylen);
}

/* Sort the index of a just-closed object and reject duplicate keys. */
static int json_index_object(struct json_parser *p, json_value *v)
{
	json_member **sorted, *dup = NULL;
	size_t n = v->u.obj.n, i, at;
	char quoted[256];

	sorted = json_arena_alloc(p, n * sizeof *sorted);
	if (sorted == NULL) {
		json_fail(p, p->pos, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		sorted[i] = &v->u.obj.members[i];
	qsort(sorted, n, sizeof *sorted, json_member_cmp);

	/* Of all repeated keys, report the one that repeats first in the file. */
	for (i = 1; i < n; i++) {
		if (json_member_cmp(&sorted[i - 1], &sorted[i]) != 0)
			continue;
		at = sorted[i]->at > sorted[i - 1]->at ? i : i - 1;
		if (dup == NULL || sorted[at]->at < dup->at)
			dup = sorted[at];
	}
	if (dup != NULL) {
		json_quote(quoted, sizeof quoted, dup->key, dup->keylen);
		json_fail(p, dup->at, "duplicate key \"%s\"", quoted);
		return -1;
	}
	v->u.obj.sorted = sorted;
	return 0;
}

static int json_parse_object(struct json_parser *p, json_value *v)
{
	size_t base = p->nmems, n;
	json_member m;

	if (json_enter(p) < 0)
		return -1;
	json_skip_space(p);
	if (p->pos < p->len && p->text[p->pos] == '}')
		p->pos++;
	else {
		for (;;) {
			json_skip_space(p);
			if (p->pos >= p->len || p->text[p->pos] != '"') {
				json_fail_unexpected(p, "string key in object");
				return -1;
			}
			m.at = p->pos;
			if (json_parse_string(p, &m.key, &m.keylen) < 0)
				return -1;
			json_skip_space(p);
			if (p->pos >= p->len || p->text[p->pos] != ':') {
				json_fail_unexpected(p, "':' after object key");
				return -1;
			}
			p->pos++;
			if (json_parse_value(p, &m.value) < 0)
				return -1;
			if (json_stack_grow((void **)&p->mems, &p->capmems, p->nmems,
			    sizeof *p->mems) < 0) {
				json_fail(p, p->pos, "out of memory");
				return -1;
			}
			p->mems[p->nmems++] = m;
			json_skip_space(p);
			if (p->pos < p->len && p->text[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->text[p->pos] == '}') {
				p->pos++;
				break;
			}
			json_fail_unexpected(p, "',' or '}' in object");
			return -1;
		}
	}

	n = p->nmems - base;
	v->type = JSON_OBJECT;
	v->u.obj.n = n;
	v->u.obj.members = NULL;
	v->u.obj.sorted = NULL;
	if (n > 0) {
		v->u.obj.members = json_arena_alloc(p, n * sizeof *v->u.obj.members);
		if (v->u.obj.members == NULL) {
			json_fail(p, p->pos, "out of memory");
			return -1;
		}
		memcpy(v->u.obj.members, p->mems + base, n * sizeof *v->u.obj.members);
	}
	if (n > 1 && json_index_object(p, v) < 0)
		return -1;
	p->nmems = base;
	p->depth--;
	return 0;
}

static int json_parse_value(struct json_parser *p, json_value *v)
{
	unsigned char c;

	json_skip_space(p);
	if (p->pos >= p->len) {
		json_fail_unexpected(p, "a value");
		return -1;
	}
	c = p->text[p->pos];
	switch (c) {
	case '{':
		return json_parse_object(p, v);
	case '[':
		return json_parse_array(p, v);
	case '"':
		v->type = JSON_STRING;
		return json_parse_string(p, &v->u.str.s, &v->u.str.len);
	case 't':
	case 'f':
	case 'n':
		return json_parse_literal(p, v);
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return json_parse_number(p, v);
		json_fail_unexpected(p, "a value");
		return -1;
	}
}

json_value *json_parse(const char *text, size_t len, char **cause)
{
	struct json_parser p;
	struct json_doc *doc;
	int rc;

	memset(&p, 0, sizeof p);
	p.text = (const unsigned char *)(text != NULL ? text : "");
	p.len = text != NULL ? len : 0;
	p.cause = cause;

	doc = malloc(sizeof *doc);
	if (doc == NULL) {
		util_set_cause(cause, "out of memory");
		return NULL;
	}
	rc = json_parse_value(&p, &doc->root);
	if (rc == 0) {
		json_skip_space(&p);
		if (p.pos != p.len) {
			json_fail(&p, p.pos, "trailing data after the JSON value");
			rc = -1;
		}
	}
	free(p.vals);
	free(p.mems);
	if (rc < 0) {
		json_blocks_free(p.blocks);
		free(doc);
		return NULL;
	}
	doc->blocks = p.blocks;
	return &doc->root;
}

/* v must be a tree returned by json_parse, never a value inside one. */
void json_free(json_value *v)
{
	struct json_doc *doc = (struct json_doc *)v;

	if (doc == NULL)
		return;
	json_blocks_free(doc->blocks);
	free(doc);
}

json_type json_kind(const json_value *v)
{
	return v != NULL ? v->type : JSON_NULL;
}

size_t json_length(const json_value *v)
{
	if (v == NULL)
		return 0;
	if (v->type == JSON_ARRAY)
		return v->u.arr.n;
	if (v->type == JSON_OBJECT)
		return v->u.obj.n;
	return 0;
}

const json_value *json_at(const json_value *v, size_t i)
{
	if (v == NULL)
		return NULL;
	if (v->type == JSON_ARRAY && i < v->u.arr.n)
		return &v->u.arr.items[i];
	if (v->type == JSON_OBJECT && i < v->u.obj.n)
		return &v->u.obj.members[i].value;
	return NULL;
}

const char *json_key_at(const json_value *v, size_t i)
{
	if (v == NULL || v->type != JSON_OBJECT || i >= v->u.obj.n)
		return NULL;
	return v->u.obj.members[i].key;
}

const json_value *json_get(const json_value *v, const char *key)
{
	size_t keylen, lo, hi, mid;
	const json_member *m;
	int c;

	if (v == NULL || v->type != JSON_OBJECT || key == NULL || v->u.obj.n == 0)
		return NULL;
	keylen = strlen(key);
	if (v->u.obj.n == 1) {
		m = &v->u.obj.members[0];
		if (json_key_cmp(key, keylen, m->key, m->keylen) == 0)
			return &m->value;
		return NULL;
	}
	lo = 0;
	hi = v->u.obj.n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		m = v->u.obj.sorted[mid];
		c = json_key_cmp(key, keylen, m->key, m->keylen);
		if (c == 0)
			return &m->value;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *json_string(const json_value *v, size_t *len)
{
	if (v == NULL || v->type != JSON_STRING)
		return NULL;
	if (len != NULL)
		*len = v->u.str.len;
	return v->u.str.s;
}

/* NaN for non-numbers, so a missing check shows up rather than reading 0. */
double json_number(const json_value *v)
{
	if (v == NULL || v->type != JSON_NUMBER)
		return NAN;
	return v->u.num.d;
}

int json_int64(const json_value *v, int64_t *out)
{
	if (v == NULL || v->type != JSON_NUMBER || !v->u.num.exact)
		return -1;
	*out = v->u.num.i;
	return 0;
}
