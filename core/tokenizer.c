/*
 * tokenizer — CLIP's byte-level BPE, written to give the same ids as
 * OpenAI's simple_tokenizer.py for every input:
 *
 *	ids = bpe(findall(PAT, whitespace_clean(basic_clean(text)).lower()))
 *
 * basic_clean is ftfy.fix_text, html.unescape twice and strip().  ftfy is
 * only partly reproduced (see tokenizer_fix_text); everything after it is
 * exact, with the character classes of core/unicode.c.
 *
 * Symbols are token ids throughout: the id of a merged pair comes from a
 * hash of (left id, right id), so encoding never builds strings.  Strings
 * exist only while loading, to resolve each merge line's two halves the
 * way Python's dicts do.
 *
 * Why one file of ~1.3k lines: loading, cleaning (ftfy's fixes and
 * html.unescape, which must match the reference bit for bit) and BPE
 * encoding share the merge table and the code-point buffers, and are only
 * ever used together, through the four tokenizer_* entry points.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "json.h"
#include "tokenizer.h"
#include "unicode.h"
#include "util.h"

#define TOKENIZER_EOW "</w>"
#define TOKENIZER_SOT_TEXT "<|startoftext|>"
#define TOKENIZER_EOT_TEXT "<|endoftext|>"
/* bytes_to_unicode maps bytes to code points below this. */
#define TOKENIZER_ALPHABET 0x144
/* Larger merges files are not CLIP's; refuse them rather than read on. */
#define TOKENIZER_MAX_FILE ((size_t)256 << 20)
/* Words up to this many bytes are merged in stack buffers. */
#define TOKENIZER_WORD_STACK 64

/* One slot of the merge table: (left, right) merges at rank into result. */
struct tokenizer_pair {
	uint32_t left;
	uint32_t right;
	int32_t rank;		/* -1 marks an empty slot */
	uint32_t result;
};

struct tokenizer {
	int vocab_size;			/* 512 + nmerges + 2 */
	int sot, eot;			/* the last two ids */
	struct tokenizer_pair *pairs;	/* [pair_mask + 1], open addressing */
	uint32_t pair_mask;
	char *texts;			/* each token's bytes + NUL, back to back */
	uint32_t *text_at;		/* [vocab_size] offsets into texts */
	uint16_t byte_id[256];		/* byte -> id 0..255 */
};

/* A growable array of code points. */
struct tokenizer_cps {
	uint32_t *v;
	size_t n, cap;
};

/*
 * HTML entities that html.unescape knows, restricted to the HTML 4.01 set
 * (Python's html.entities.name2codepoint, with HTML5's values for lang and
 * rang), &apos; and the upper-case legacy spellings.  Sorted by name;
 * legacy names are also recognised without the ';', as in HTML5.
 */
struct tokenizer_entity {
	const char *name;
	uint32_t cp;
	int legacy;
};

static const struct tokenizer_entity tokenizer_entities[] = {
	{"AElig", 0xC6, 1}, {"AMP", 0x26, 1}, {"Aacute", 0xC1, 1},
	{"Acirc", 0xC2, 1}, {"Agrave", 0xC0, 1}, {"Alpha", 0x391, 0},
	{"Aring", 0xC5, 1}, {"Atilde", 0xC3, 1}, {"Auml", 0xC4, 1},
	{"Beta", 0x392, 0}, {"COPY", 0xA9, 1}, {"Ccedil", 0xC7, 1},
	{"Chi", 0x3A7, 0}, {"Dagger", 0x2021, 0}, {"Delta", 0x394, 0},
	{"ETH", 0xD0, 1}, {"Eacute", 0xC9, 1}, {"Ecirc", 0xCA, 1},
	{"Egrave", 0xC8, 1}, {"Epsilon", 0x395, 0}, {"Eta", 0x397, 0},
	{"Euml", 0xCB, 1}, {"GT", 0x3E, 1}, {"Gamma", 0x393, 0},
	{"Iacute", 0xCD, 1}, {"Icirc", 0xCE, 1}, {"Igrave", 0xCC, 1},
	{"Iota", 0x399, 0}, {"Iuml", 0xCF, 1}, {"Kappa", 0x39A, 0},
	{"LT", 0x3C, 1}, {"Lambda", 0x39B, 0}, {"Mu", 0x39C, 0},
	{"Ntilde", 0xD1, 1}, {"Nu", 0x39D, 0}, {"OElig", 0x152, 0},
	{"Oacute", 0xD3, 1}, {"Ocirc", 0xD4, 1}, {"Ograve", 0xD2, 1},
	{"Omega", 0x3A9, 0}, {"Omicron", 0x39F, 0}, {"Oslash", 0xD8, 1},
	{"Otilde", 0xD5, 1}, {"Ouml", 0xD6, 1}, {"Phi", 0x3A6, 0},
	{"Pi", 0x3A0, 0}, {"Prime", 0x2033, 0}, {"Psi", 0x3A8, 0},
	{"QUOT", 0x22, 1}, {"REG", 0xAE, 1}, {"Rho", 0x3A1, 0},
	{"Scaron", 0x160, 0}, {"Sigma", 0x3A3, 0}, {"THORN", 0xDE, 1},
	{"Tau", 0x3A4, 0}, {"Theta", 0x398, 0}, {"Uacute", 0xDA, 1},
	{"Ucirc", 0xDB, 1}, {"Ugrave", 0xD9, 1}, {"Upsilon", 0x3A5, 0},
	{"Uuml", 0xDC, 1}, {"Xi", 0x39E, 0}, {"Yacute", 0xDD, 1},
	{"Yuml", 0x178, 0}, {"Zeta", 0x396, 0}, {"aacute", 0xE1, 1},
	{"acirc", 0xE2, 1}, {"acute", 0xB4, 1}, {"aelig", 0xE6, 1},
	{"agrave", 0xE0, 1}, {"alefsym", 0x2135, 0}, {"alpha", 0x3B1, 0},
	{"amp", 0x26, 1}, {"and", 0x2227, 0}, {"ang", 0x2220, 0},
	{"apos", 0x27, 0}, {"aring", 0xE5, 1}, {"asymp", 0x2248, 0},
	{"atilde", 0xE3, 1}, {"auml", 0xE4, 1}, {"bdquo", 0x201E, 0},
	{"beta", 0x3B2, 0}, {"brvbar", 0xA6, 1}, {"bull", 0x2022, 0},
	{"cap", 0x2229, 0}, {"ccedil", 0xE7, 1}, {"cedil", 0xB8, 1},
	{"cent", 0xA2, 1}, {"chi", 0x3C7, 0}, {"circ", 0x2C6, 0},
	{"clubs", 0x2663, 0}, {"cong", 0x2245, 0}, {"copy", 0xA9, 1},
	{"crarr", 0x21B5, 0}, {"cup", 0x222A, 0}, {"curren", 0xA4, 1},
	{"dArr", 0x21D3, 0}, {"dagger", 0x2020, 0}, {"darr", 0x2193, 0},
	{"deg", 0xB0, 1}, {"delta", 0x3B4, 0}, {"diams", 0x2666, 0},
	{"divide", 0xF7, 1}, {"eacute", 0xE9, 1}, {"ecirc", 0xEA, 1},
	{"egrave", 0xE8, 1}, {"empty", 0x2205, 0}, {"emsp", 0x2003, 0},
	{"ensp", 0x2002, 0}, {"epsilon", 0x3B5, 0}, {"equiv", 0x2261, 0},
	{"eta", 0x3B7, 0}, {"eth", 0xF0, 1}, {"euml", 0xEB, 1},
	{"euro", 0x20AC, 0}, {"exist", 0x2203, 0}, {"fnof", 0x192, 0},
	{"forall", 0x2200, 0}, {"frac12", 0xBD, 1}, {"frac14", 0xBC, 1},
	{"frac34", 0xBE, 1}, {"frasl", 0x2044, 0}, {"gamma", 0x3B3, 0},
	{"ge", 0x2265, 0}, {"gt", 0x3E, 1}, {"hArr", 0x21D4, 0},
	{"harr", 0x2194, 0}, {"hearts", 0x2665, 0}, {"hellip", 0x2026, 0},
	{"iacute", 0xED, 1}, {"icirc", 0xEE, 1}, {"iexcl", 0xA1, 1},
	{"igrave", 0xEC, 1}, {"image", 0x2111, 0}, {"infin", 0x221E, 0},
	{"int", 0x222B, 0}, {"iota", 0x3B9, 0}, {"iquest", 0xBF, 1},
	{"isin", 0x2208, 0}, {"iuml", 0xEF, 1}, {"kappa", 0x3BA, 0},
	{"lArr", 0x21D0, 0}, {"lambda", 0x3BB, 0}, {"lang", 0x27E8, 0},
	{"laquo", 0xAB, 1}, {"larr", 0x2190, 0}, {"lceil", 0x2308, 0},
	{"ldquo", 0x201C, 0}, {"le", 0x2264, 0}, {"lfloor", 0x230A, 0},
	{"lowast", 0x2217, 0}, {"loz", 0x25CA, 0}, {"lrm", 0x200E, 0},
	{"lsaquo", 0x2039, 0}, {"lsquo", 0x2018, 0}, {"lt", 0x3C, 1},
	{"macr", 0xAF, 1}, {"mdash", 0x2014, 0}, {"micro", 0xB5, 1},
	{"middot", 0xB7, 1}, {"minus", 0x2212, 0}, {"mu", 0x3BC, 0},
	{"nabla", 0x2207, 0}, {"nbsp", 0xA0, 1}, {"ndash", 0x2013, 0},
	{"ne", 0x2260, 0}, {"ni", 0x220B, 0}, {"not", 0xAC, 1},
	{"notin", 0x2209, 0}, {"nsub", 0x2284, 0}, {"ntilde", 0xF1, 1},
	{"nu", 0x3BD, 0}, {"oacute", 0xF3, 1}, {"ocirc", 0xF4, 1},
	{"oelig", 0x153, 0}, {"ograve", 0xF2, 1}, {"oline", 0x203E, 0},
	{"omega", 0x3C9, 0}, {"omicron", 0x3BF, 0}, {"oplus", 0x2295, 0},
	{"or", 0x2228, 0}, {"ordf", 0xAA, 1}, {"ordm", 0xBA, 1},
	{"oslash", 0xF8, 1}, {"otilde", 0xF5, 1}, {"otimes", 0x2297, 0},
	{"ouml", 0xF6, 1}, {"para", 0xB6, 1}, {"part", 0x2202, 0},
	{"permil", 0x2030, 0}, {"perp", 0x22A5, 0}, {"phi", 0x3C6, 0},
	{"pi", 0x3C0, 0}, {"piv", 0x3D6, 0}, {"plusmn", 0xB1, 1},
	{"pound", 0xA3, 1}, {"prime", 0x2032, 0}, {"prod", 0x220F, 0},
	{"prop", 0x221D, 0}, {"psi", 0x3C8, 0}, {"quot", 0x22, 1},
	{"rArr", 0x21D2, 0}, {"radic", 0x221A, 0}, {"rang", 0x27E9, 0},
	{"raquo", 0xBB, 1}, {"rarr", 0x2192, 0}, {"rceil", 0x2309, 0},
	{"rdquo", 0x201D, 0}, {"real", 0x211C, 0}, {"reg", 0xAE, 1},
	{"rfloor", 0x230B, 0}, {"rho", 0x3C1, 0}, {"rlm", 0x200F, 0},
	{"rsaquo", 0x203A, 0}, {"rsquo", 0x2019, 0}, {"sbquo", 0x201A, 0},
	{"scaron", 0x161, 0}, {"sdot", 0x22C5, 0}, {"sect", 0xA7, 1},
	{"shy", 0xAD, 1}, {"sigma", 0x3C3, 0}, {"sigmaf", 0x3C2, 0},
	{"sim", 0x223C, 0}, {"spades", 0x2660, 0}, {"sub", 0x2282, 0},
	{"sube", 0x2286, 0}, {"sum", 0x2211, 0}, {"sup", 0x2283, 0},
	{"sup1", 0xB9, 1}, {"sup2", 0xB2, 1}, {"sup3", 0xB3, 1},
	{"supe", 0x2287, 0}, {"szlig", 0xDF, 1}, {"tau", 0x3C4, 0},
	{"there4", 0x2234, 0}, {"theta", 0x3B8, 0}, {"thetasym", 0x3D1, 0},
	{"thinsp", 0x2009, 0}, {"thorn", 0xFE, 1}, {"tilde", 0x2DC, 0},
	{"times", 0xD7, 1}, {"trade", 0x2122, 0}, {"uArr", 0x21D1, 0},
	{"uacute", 0xFA, 1}, {"uarr", 0x2191, 0}, {"ucirc", 0xFB, 1},
	{"ugrave", 0xF9, 1}, {"uml", 0xA8, 1}, {"upsih", 0x3D2, 0},
	{"upsilon", 0x3C5, 0}, {"uuml", 0xFC, 1}, {"weierp", 0x2118, 0},
	{"xi", 0x3BE, 0}, {"yacute", 0xFD, 1}, {"yen", 0xA5, 1},
	{"yuml", 0xFF, 1}, {"zeta", 0x3B6, 0}, {"zwj", 0x200D, 0},
	{"zwnj", 0x200C, 0},
};

/* Windows-1252 for 0x80..0x9F; its five holes stay as they are. */
static const uint16_t tokenizer_cp1252[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* ---------------------------------------------------------------- bytes */

/* CLIP's bytes_to_unicode keeps these bytes as their own code points. */
static int tokenizer_byte_printable(unsigned b)
{
	return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

/*
 * Fill byte_id (byte -> id) and the code point each id stands for: the
 * printable bytes first in increasing order, then the others, which
 * bytes_to_unicode moves to 256, 257, ...
 */
static void tokenizer_bytes_init(uint16_t byte_id[256], uint32_t id_cp[256])
{
	unsigned id = 0, extra = 0;

	for (unsigned b = 0; b < 256; b++) {
		if (tokenizer_byte_printable(b)) {
			byte_id[b] = (uint16_t)id;
			id_cp[id++] = b;
		}
	}
	for (unsigned b = 0; b < 256; b++) {
		if (!tokenizer_byte_printable(b)) {
			byte_id[b] = (uint16_t)id;
			id_cp[id++] = 256 + extra++;
		}
	}
}

/* ---------------------------------------------------------------- loading */

static uint32_t tokenizer_pair_hash(uint32_t left, uint32_t right)
{
	uint64_t k = ((uint64_t)left << 32 | right) * UINT64_C(0x9E3779B97F4A7C15);

	return (uint32_t)(k >> 32);
}

static const struct tokenizer_pair *tokenizer_find_pair(const tokenizer *t, uint32_t left,
    uint32_t right)
{
	uint32_t h = tokenizer_pair_hash(left, right) & t->pair_mask;

	for (;;) {
		const struct tokenizer_pair *p = &t->pairs[h];

		if (p->rank < 0)
			return NULL;
		if (p->left == left && p->right == right)
			return p;
		h = (h + 1) & t->pair_mask;
	}
}

/* Insert or, like a Python dict, overwrite. */
static void tokenizer_put_pair(tokenizer *t, uint32_t left, uint32_t right, int32_t rank,
    uint32_t result)
{
	uint32_t h = tokenizer_pair_hash(left, right) & t->pair_mask;
	struct tokenizer_pair *p;

	for (;;) {
		p = &t->pairs[h];
		if (p->rank < 0 || (p->left == left && p->right == right))
			break;
		h = (h + 1) & t->pair_mask;
	}
	p->left = left;
	p->right = right;
	p->rank = rank;
	p->result = result;
}

/*
 * Load-time state: every vocabulary string in CLIP's byte-to-unicode
 * form, and a string -> id hash that, like the Python encoder dict, keeps
 * the last id of a repeated string.
 */
struct tokenizer_vocab {
	char *strs;		/* NUL-terminated strings back to back */
	size_t strs_len, strs_cap;
	size_t *str_at;		/* [n] offsets into strs */
	size_t *str_len;	/* [n] */
	int32_t *slots;		/* [mask + 1] ids, -1 empty */
	uint32_t mask;
	int n;
};

static uint32_t tokenizer_str_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* Append the next id's string, made of up to two pieces. */
static int tokenizer_vocab_add(struct tokenizer_vocab *v, const char *a, size_t alen,
    const char *b, size_t blen)
{
	size_t need = v->strs_len + alen + blen + 1;

	if (need > v->strs_cap) {
		size_t cap = v->strs_cap ? v->strs_cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(v->strs, cap)) == NULL)
			return -1;
		v->strs = p;
		v->strs_cap = cap;
	}
	memcpy(v->strs + v->strs_len, a, alen);
	if (blen)
		memcpy(v->strs + v->strs_len + alen, b, blen);
	v->strs[v->strs_len + alen + blen] = '\0';
	v->str_at[v->n] = v->strs_len;
	v->str_len[v->n] = alen + blen;
	v->strs_len = need;
	v->n++;
	return 0;
}

/* The slot holding s, or the empty slot where it would go. */
static int32_t *tokenizer_vocab_slot(struct tokenizer_vocab *v, const char *s, size_t len)
{
	uint32_t h = tokenizer_str_hash(s, len) & v->mask;

	for (;;) {
		int32_t id = v->slots[h];

		if (id < 0 || (v->str_len[id] == len &&
		    memcmp(v->strs + v->str_at[id], s, len) == 0))
			return &v->slots[h];
		h = (h + 1) & v->mask;
	}
}

static int tokenizer_vocab_find(struct tokenizer_vocab *v, const char *s, size_t len)
{
	return *tokenizer_vocab_slot(v, s, len);
}

static void tokenizer_vocab_free(struct tokenizer_vocab *v)
{
	free(v->strs);
	free(v->str_at);
	free(v->str_len);
	free(v->slots);
}

/* One merge line's two halves, as offsets into the merges text. */
struct tokenizer_line {
	size_t a, alen, b, blen;
};

static int tokenizer_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Split the merges text as CLIP does: drop the first (version) line, take
 * up to TOKENIZER_MERGES lines, each "left right".  An empty last line
 * (the text's final newline) is not a merge.
 */
static int tokenizer_split_lines(const char *text, size_t len, const char *label,
    struct tokenizer_line **out, int *count, char **cause)
{
	struct tokenizer_line *lines;
	const char *nl = memchr(text, '\n', len);
	size_t pos;
	int n = 0;

	size_t cap = 1;

	*out = NULL;
	*count = 0;
	pos = nl == NULL ? len : (size_t)(nl - text) + 1;
	for (const char *p = text + pos; cap < TOKENIZER_MERGES &&
	    (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL; p++)
		cap++;
	if ((lines = malloc(cap * sizeof *lines)) == NULL) {
		util_set_cause(cause, "%s: out of memory", label);
		return -1;
	}
	while (pos < len && (size_t)n < cap) {
		const char *end = memchr(text + pos, '\n', len - pos);
		size_t stop = end == NULL ? len : (size_t)(end - text);
		size_t span[4], k = 0, i = pos;

		while (i < stop && k < 4) {
			while (i < stop && tokenizer_is_blank(text[i]))
				i++;
			if (i == stop)
				break;
			span[k] = i;
			while (i < stop && !tokenizer_is_blank(text[i]) && text[i] != '\0')
				i++;
			span[k + 1] = i;
			k += 2;
		}
		while (i < stop && tokenizer_is_blank(text[i]))
			i++;
		if (k != 4 || i != stop) {
			util_set_cause(cause, "%s: line %d: expected two symbols separated by a "
			    "space", label, n + 2);
			free(lines);
			return -1;
		}
		lines[n].a = span[0];
		lines[n].alen = span[1] - span[0];
		lines[n].b = span[2];
		lines[n].blen = span[3] - span[2];
		n++;
		pos = stop + 1;
	}
	*out = lines;
	*count = n;
	return 0;
}

/*
 * Decode a vocabulary string back to bytes: every UTF-8 character must be
 * one of bytes_to_unicode's 256 code points.  "</w>" needs no special
 * case: its characters are printable ASCII, which map to themselves.
 */
static int tokenizer_decode_string(const char *s, size_t len, const int16_t *cp_byte,
    char *out, size_t *outlen)
{
	uint32_t cp;
	size_t n = 0, i = 0;

	while (i < len) {
		const unsigned char *u = (const unsigned char *)s + i;

		if (u[0] < 0x80) {
			cp = u[0];
			i++;
		} else if ((u[0] & 0xE0) == 0xC0 && i + 1 < len && (u[1] & 0xC0) == 0x80) {
			cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
			i += 2;
		} else
			return -1;
		if (cp >= TOKENIZER_ALPHABET || cp_byte[cp] < 0)
			return -1;
		out[n++] = (char)cp_byte[cp];
	}
	*outlen = n;
	return 0;
}

/*
 * Check Hugging Face's vocab.json against the ids this tokenizer derives:
 * same size, and every string at the same id.
 */
static int tokenizer_check_vocab(struct tokenizer_vocab *v, const json_value *vocab,
    const char *label, char **cause)
{
	size_t n = json_length(vocab);

	if (json_kind(vocab) != JSON_OBJECT) {
		util_set_cause(cause, "%s: not a JSON object", label);
		return -1;
	}
	if (n != (size_t)v->n) {
		util_set_cause(cause, "%s: %zu tokens, but the merges give %d", label, n, v->n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *key = json_key_at(vocab, i);
		int64_t want;
		int got;

		if (json_int64(json_at(vocab, i), &want) < 0) {
			util_set_cause(cause, "%s: the id of \"%s\" is not an integer", label, key);
			return -1;
		}
		got = tokenizer_vocab_find(v, key, strlen(key));
		if (got != want) {
			if (got < 0)
				util_set_cause(cause, "%s: \"%s\" (id %lld) is not a token of the "
				    "merges", label, key, (long long)want);
			else
				util_set_cause(cause, "%s: \"%s\" has id %lld, but CLIP's id "
				    "scheme gives %d", label, key, (long long)want, got);
			return -1;
		}
	}
	return 0;
}

/* Build the token texts (decoded bytes) from the vocabulary strings. */
static int tokenizer_build_texts(tokenizer *t, struct tokenizer_vocab *v,
    const int16_t *cp_byte, const char *label, char **cause)
{
	size_t off = 0;

	/* Decoding never lengthens a string. */
	t->texts = malloc(v->strs_len ? v->strs_len : 1);
	t->text_at = malloc((size_t)v->n * sizeof *t->text_at);
	if (t->texts == NULL || t->text_at == NULL) {
		util_set_cause(cause, "%s: out of memory", label);
		return -1;
	}
	for (int id = 0; id < v->n; id++) {
		size_t len;

		if (tokenizer_decode_string(v->strs + v->str_at[id], v->str_len[id], cp_byte,
		    t->texts + off, &len) < 0) {
			util_set_cause(cause, "%s: line %d: \"%s\" has a character outside "
			    "CLIP's byte alphabet", label, id - 510, v->strs + v->str_at[id]);
			return -1;
		}
		t->text_at[id] = (uint32_t)off;
		t->texts[off + len] = '\0';
		off += len + 1;
	}
	return 0;
}

/*
 * Build from merges text (named label in errors); with vocab_json, also
 * check Hugging Face's vocab.json (named vocab_label) against the ids.
 */
static tokenizer *tokenizer_build(const char *text, size_t len, const char *label,
    const json_value *vocab_json, const char *vocab_label, char **cause)
{
	struct tokenizer_vocab v = {0};
	struct tokenizer_line *lines = NULL;
	tokenizer *t = NULL;
	uint32_t id_cp[256];
	int16_t cp_byte[TOKENIZER_ALPHABET];
	int nmerges, total;
	uint32_t slots;

	if (label == NULL)
		label = "merges";
	if (tokenizer_split_lines(text, len, label, &lines, &nmerges, cause) < 0)
		return NULL;
	if ((t = calloc(1, sizeof *t)) == NULL)
		goto nomem;
	t->vocab_size = total = 512 + nmerges + 2;
	t->sot = total - 2;
	t->eot = total - 1;
	tokenizer_bytes_init(t->byte_id, id_cp);
	memset(cp_byte, -1, sizeof cp_byte);
	for (unsigned b = 0; b < 256; b++)
		cp_byte[id_cp[t->byte_id[b]]] = (int16_t)b;

	for (slots = 16; slots < 2u * (uint32_t)total; slots *= 2)
		;
	v.mask = slots - 1;
	v.str_at = malloc((size_t)total * sizeof *v.str_at);
	v.str_len = malloc((size_t)total * sizeof *v.str_len);
	v.slots = malloc(slots * sizeof *v.slots);
	t->pair_mask = slots - 1;
	t->pairs = malloc(slots * sizeof *t->pairs);
	if (v.str_at == NULL || v.str_len == NULL || v.slots == NULL || t->pairs == NULL)
		goto nomem;
	memset(v.slots, -1, slots * sizeof *v.slots);
	for (uint32_t i = 0; i < slots; i++)
		t->pairs[i].rank = -1;

	/* The vocabulary, in CLIP's order. */
	for (int eow = 0; eow < 2; eow++) {
		for (int id = 0; id < 256; id++) {
			char u[4];
			size_t n = unicode_utf8_encode(id_cp[id], u);

			if (tokenizer_vocab_add(&v, u, n, TOKENIZER_EOW, eow ? 4 : 0) < 0)
				goto nomem;
		}
	}
	for (int r = 0; r < nmerges; r++) {
		if (tokenizer_vocab_add(&v, text + lines[r].a, lines[r].alen,
		    text + lines[r].b, lines[r].blen) < 0)
			goto nomem;
	}
	if (tokenizer_vocab_add(&v, TOKENIZER_SOT_TEXT, strlen(TOKENIZER_SOT_TEXT), "", 0) < 0 ||
	    tokenizer_vocab_add(&v, TOKENIZER_EOT_TEXT, strlen(TOKENIZER_EOT_TEXT), "", 0) < 0)
		goto nomem;
	for (int id = 0; id < total; id++)
		*tokenizer_vocab_slot(&v, v.strs + v.str_at[id], v.str_len[id]) = id;

	/*
	 * The merge table.  Halves are looked up in the whole vocabulary, as
	 * Python's string-keyed bpe_ranks effectively does; a half that is no
	 * token could never match, and means the file is not a merges file.
	 */
	for (int r = 0; r < nmerges; r++) {
		int left = tokenizer_vocab_find(&v, text + lines[r].a, lines[r].alen);
		int right = tokenizer_vocab_find(&v, text + lines[r].b, lines[r].blen);
		int result = tokenizer_vocab_find(&v, v.strs + v.str_at[512 + r],
		    v.str_len[512 + r]);

		if (left < 0 || right < 0) {
			util_set_cause(cause, "%s: line %d: \"%.*s\" is not a token", label, r + 2,
			    left < 0 ? (int)lines[r].alen : (int)lines[r].blen,
			    text + (left < 0 ? lines[r].a : lines[r].b));
			goto fail;
		}
		tokenizer_put_pair(t, (uint32_t)left, (uint32_t)right, r, (uint32_t)result);
	}
	if (tokenizer_build_texts(t, &v, cp_byte, label, cause) < 0)
		goto fail;
	if (vocab_json != NULL &&
	    tokenizer_check_vocab(&v, vocab_json, vocab_label, cause) < 0)
		goto fail;
	free(lines);
	tokenizer_vocab_free(&v);
	return t;

nomem:
	util_set_cause(cause, "%s: out of memory", label);
fail:
	free(lines);
	tokenizer_vocab_free(&v);
	tokenizer_free(t);
	return NULL;
}

tokenizer *tokenizer_load_merges(const char *text, size_t len, const char *label, char **cause)
{
	return tokenizer_build(text, len, label, NULL, NULL, cause);
}

/* Read a whole file, gunzipping it when it is gzip (gzread passes plain files through). */
static char *tokenizer_read_file(const char *path, size_t *len, char **cause)
{
	gzFile f = gzopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path),
		    errno ? strerror(errno) : "cannot open");
		return NULL;
	}
	for (;;) {
		int got;

		if (cap - n < 65536) {
			char *p;

			cap = cap ? cap * 2 : 1 << 20;
			if (cap > TOKENIZER_MAX_FILE) {
				util_set_cause(cause, "%s: larger than %zu MiB; not a merges file",
				    UTIL_NAME(path), TOKENIZER_MAX_FILE >> 20);
				goto fail;
			}
			if ((p = realloc(buf, cap)) == NULL) {
				util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
				goto fail;
			}
			buf = p;
		}
		got = gzread(f, buf + n, (unsigned)(cap - n < INT_MAX ? cap - n : INT_MAX));
		if (got < 0) {
			int zerr;
			const char *msg = gzerror(f, &zerr);

			util_set_cause(cause, "%s: %s", UTIL_NAME(path),
			    zerr == Z_ERRNO ? strerror(errno) : msg);
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	gzclose(f);
	*len = n;
	return buf;

fail:
	gzclose(f);
	free(buf);
	return NULL;
}

tokenizer *tokenizer_load_file(const char *path, char **cause)
{
	size_t len;
	char *text = tokenizer_read_file(path, &len, cause);
	tokenizer *t;

	if (text == NULL)
		return NULL;
	/* No merges at all would tokenize byte by byte, silently wrong. */
	if (len == 0) {
		util_set_cause(cause, "%s: empty file; not a merges file", UTIL_NAME(path));
		free(text);
		return NULL;
	}
	t = tokenizer_build(text, len, UTIL_NAME(path), NULL, NULL, cause);
	free(text);
	return t;
}

tokenizer *tokenizer_load_hf_text(const char *vocab_json_path, const char *merges, size_t mlen,
    const char *merges_label, char **cause)
{
	size_t vlen;
	char *vtext;
	json_value *vocab;
	tokenizer *t;

	if ((vtext = tokenizer_read_file(vocab_json_path, &vlen, cause)) == NULL)
		return NULL;
	vocab = json_parse(vtext, vlen, cause);
	free(vtext);
	if (vocab == NULL) {
		util_prefix_cause(cause, "%s", UTIL_NAME(vocab_json_path));
		return NULL;
	}
	t = tokenizer_build(merges, mlen, merges_label, vocab, UTIL_NAME(vocab_json_path), cause);
	json_free(vocab);
	return t;
}

tokenizer *tokenizer_load_hf(const char *vocab_json_path, const char *merges_path, char **cause)
{
	size_t mlen;
	char *mtext;
	tokenizer *t;

	if ((mtext = tokenizer_read_file(merges_path, &mlen, cause)) == NULL)
		return NULL;
	/* Hugging Face's merges.txt has the same layout, "#version" first. */
	t = tokenizer_load_hf_text(vocab_json_path, mtext, mlen, UTIL_NAME(merges_path), cause);
	free(mtext);
	return t;
}

void tokenizer_free(tokenizer *t)
{
	if (t == NULL)
		return;
	free(t->pairs);
	free(t->texts);
	free(t->text_at);
	free(t);
}

int tokenizer_vocab_size(const tokenizer *t)
{
	return t->vocab_size;
}

const char *tokenizer_token_text(const tokenizer *t, int id)
{
	if (id < 0 || id >= t->vocab_size)
		return NULL;
	return t->texts + t->text_at[id];
}

/* ---------------------------------------------------------------- cleaning */

static int tokenizer_cps_reserve(struct tokenizer_cps *c, size_t extra)
{
	size_t cap;
	uint32_t *p;

	if (c->cap - c->n >= extra)
		return 0;
	cap = c->cap ? c->cap : 64;
	while (cap - c->n < extra) {
		if (cap > SIZE_MAX / 2 / sizeof *p)
			return -1;
		cap *= 2;
	}
	if ((p = realloc(c->v, cap * sizeof *p)) == NULL)
		return -1;
	c->v = p;
	c->cap = cap;
	return 0;
}

/* Callers reserve first; pushes never fail. */
static void tokenizer_cps_push(struct tokenizer_cps *c, uint32_t cp)
{
	c->v[c->n++] = cp;
}

static void tokenizer_cps_swap(struct tokenizer_cps *a, struct tokenizer_cps *b)
{
	struct tokenizer_cps tmp = *a;

	*a = *b;
	*b = tmp;
}

/* The characters ftfy's remove_control_chars deletes. */
static int tokenizer_is_junk_control(uint32_t cp)
{
	return cp <= 0x08 || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F ||
	    (cp >= 0x206A && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFC);
}

/* ftfy's fix_latin_ligatures, the ligatures every ftfy since 4.0 splits. */
static size_t tokenizer_unligature(uint32_t cp, uint32_t out[3])
{
	switch (cp) {
	case 0x132: out[0] = 'I'; out[1] = 'J'; return 2;
	case 0x133: out[0] = 'i'; out[1] = 'j'; return 2;
	case 0xFB00: out[0] = 'f'; out[1] = 'f'; return 2;
	case 0xFB01: out[0] = 'f'; out[1] = 'i'; return 2;
	case 0xFB02: out[0] = 'f'; out[1] = 'l'; return 2;
	case 0xFB03: out[0] = 'f'; out[1] = 'f'; out[2] = 'i'; return 3;
	case 0xFB04: out[0] = 'f'; out[1] = 'f'; out[2] = 'l'; return 3;
	case 0xFB05: out[0] = 0x17F; out[1] = 't'; return 2;
	case 0xFB06: out[0] = 's'; out[1] = 't'; return 2;
	default: out[0] = cp; return 1;
	}
}

/*
 * The part of ftfy.fix_text that does not guess: C1 controls read as
 * Windows-1252, Latin ligatures split, halfwidth/fullwidth forms
 * narrowed, curly quotes straightened (in that order, as ftfy runs them),
 * then ANSI terminal escapes and stray control characters removed.  Not
 * done: mojibake repair (fix_encoding), ftfy's own HTML unescaping, and
 * NFC normalisation, so decomposed accents or "Ã©" stay as they are.
 * Each step is idempotent and none feeds an earlier one, so ftfy's
 * repeat-until-unchanged loop needs just this one pass.
 */
static int tokenizer_fix_text(struct tokenizer_cps *s, struct tokenizer_cps *tmp)
{
	tmp->n = 0;
	if (tokenizer_cps_reserve(tmp, s->n * 3) < 0)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		uint32_t cp = s->v[i], lig[3], wide[2];
		size_t nl;

		if (cp >= 0x80 && cp <= 0x9F)
			cp = tokenizer_cp1252[cp - 0x80];
		nl = tokenizer_unligature(cp, lig);
		for (size_t k = 0; k < nl; k++) {
			size_t nw = unicode_narrow(lig[k], wide);

			for (size_t m = 0; m < nw; m++) {
				cp = wide[m];
				if (cp >= 0x2018 && cp <= 0x201B)
					cp = '\'';
				else if (cp >= 0x201C && cp <= 0x201F)
					cp = '"';
				tokenizer_cps_push(tmp, cp);
			}
		}
	}
	/* ESC [ (digit | ;)* letter, then the controls themselves. */
	s->n = 0;
	for (size_t i = 0; i < tmp->n; i++) {
		uint32_t cp = tmp->v[i];

		if (cp == 0x1B && i + 1 < tmp->n && tmp->v[i + 1] == '[') {
			size_t j = i + 2;

			while (j < tmp->n && ((tmp->v[j] >= '0' && tmp->v[j] <= '9') ||
			    tmp->v[j] == ';'))
				j++;
			if (j < tmp->n && ((tmp->v[j] | 0x20) >= 'a' && (tmp->v[j] | 0x20) <= 'z')) {
				i = j;
				continue;
			}
		}
		if (!tokenizer_is_junk_control(cp))
			tokenizer_cps_push(s, cp);
	}
	return 0;
}

/* Compare an entity name (code points) with a table name. */
static int tokenizer_entity_cmp(const uint32_t *s, size_t len, const char *name)
{
	size_t i;

	for (i = 0; i < len && name[i] != '\0'; i++) {
		if (s[i] != (unsigned char)name[i])
			return s[i] < (unsigned char)name[i] ? -1 : 1;
	}
	if (i < len)
		return 1;
	return name[i] == '\0' ? 0 : -1;
}

static const struct tokenizer_entity *tokenizer_find_entity(const uint32_t *s, size_t len)
{
	size_t lo = 0, hi = sizeof tokenizer_entities / sizeof tokenizer_entities[0];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = tokenizer_entity_cmp(s, len, tokenizer_entities[mid].name);

		if (c == 0)
			return &tokenizer_entities[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* What html.unescape makes of &#num; (0 or 1 code points). */
static size_t tokenizer_charref(uint32_t num, uint32_t *out)
{
	if (num == 0) {
		*out = UNICODE_REPLACEMENT;
		return 1;
	}
	if (num == 0x0D) {
		*out = '\r';
		return 1;
	}
	if (num >= 0x80 && num <= 0x9F) {
		*out = tokenizer_cp1252[num - 0x80];
		return 1;
	}
	if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
		*out = UNICODE_REPLACEMENT;
		return 1;
	}
	if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
	    num == 0x7F || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
		return 0;
	*out = num;
	return 1;
}

static int tokenizer_hex_value(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (int)((c | 0x20) - 'a' + 10);
	return -1;
}

/*
 * One html.unescape: the regex &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|
 * [^\t\n\f <&#;]{1,32};?) with Python's replacement rules, including the
 * longest-legacy-prefix rule ("&ampx" is "&x").  The result is never
 * longer than the input.
 */
static int tokenizer_unescape(struct tokenizer_cps *s, struct tokenizer_cps *out)
{
	const uint32_t *v = s->v;
	size_t n = s->n, i = 0;

	out->n = 0;
	if (tokenizer_cps_reserve(out, n) < 0)
		return -1;
	while (i < n) {
		size_t j, len;
		int semi;

		if (v[i] != '&') {
			tokenizer_cps_push(out, v[i++]);
			continue;
		}
		if (i + 1 < n && v[i + 1] == '#') {
			uint32_t num = 0, cp;
			int hex = i + 2 < n && (v[i + 2] | 0x20) == 'x';
			int base = hex ? 16 : 10, d;

			j = i + 2 + (size_t)hex;
			if (j < n && (hex ? tokenizer_hex_value(v[j]) >= 0 :
			    (v[j] >= '0' && v[j] <= '9'))) {
				for (; j < n; j++) {
					d = tokenizer_hex_value(v[j]);
					if (d < 0 || d >= base)
						break;
					/* Saturate: anything past U+10FFFF is U+FFFD. */
					num = num > 0x10FFFF ? 0x110000 : num * (uint32_t)base +
					    (uint32_t)d;
				}
				if (j < n && v[j] == ';')
					j++;
				if (tokenizer_charref(num, &cp))
					tokenizer_cps_push(out, cp);
				i = j;
				continue;
			}
			/* "&#" alone, or "&#x" without digits: not a reference. */
			tokenizer_cps_push(out, v[i++]);
			continue;
		}
		for (j = i + 1; j < n && j - i - 1 < 32; j++) {
			uint32_t c = v[j];

			if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' ||
			    c == '&' || c == '#' || c == ';')
				break;
		}
		len = j - i - 1;
		semi = j < n && v[j] == ';';
		if (len > 0) {
			const struct tokenizer_entity *e = tokenizer_find_entity(v + i + 1, len);

			if (e != NULL && (semi || e->legacy)) {
				tokenizer_cps_push(out, e->cp);
				i = j + (size_t)semi;
				continue;
			}
			/* Python tries prefixes of the match (';' included) from the
			 * longest down to two characters; only legacy names can
			 * match without their ';'. */
			for (size_t x = semi ? len : len - 1; x >= 2; x--) {
				e = tokenizer_find_entity(v + i + 1, x);
				if (e != NULL && e->legacy)
					break;
				e = NULL;
			}
			if (e != NULL) {
				size_t x = strlen(e->name);

				tokenizer_cps_push(out, e->cp);
				i += 1 + x;
				continue;
			}
		}
		tokenizer_cps_push(out, v[i++]);
	}
	return 0;
}

/* str.isspace(), which strip() uses: \s plus U+001C..U+001F. */
static int tokenizer_is_pyspace(uint32_t cp)
{
	return unicode_is_space(cp) || (cp >= 0x1C && cp <= 0x1F);
}

/*
 * basic_clean's strip(), then whitespace_clean: runs of \s become one
 * space, and strip() again (which, after the first, has nothing to do).
 */
static void tokenizer_collapse(struct tokenizer_cps *s)
{
	size_t lo = 0, hi = s->n, n = 0;
	int in_space = 0;

	while (lo < hi && tokenizer_is_pyspace(s->v[lo]))
		lo++;
	while (hi > lo && tokenizer_is_pyspace(s->v[hi - 1]))
		hi--;
	for (size_t i = lo; i < hi; i++) {
		uint32_t cp = s->v[i];

		if (unicode_is_space(cp)) {
			if (!in_space)
				s->v[n++] = ' ';
			in_space = 1;
		} else {
			s->v[n++] = cp;
			in_space = 0;
		}
	}
	s->n = n;
}

/* str.lower(), final sigma included. */
static int tokenizer_lower(struct tokenizer_cps *s, struct tokenizer_cps *out)
{
	out->n = 0;
	if (tokenizer_cps_reserve(out, s->n * 3) < 0)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		uint32_t low[3];
		size_t k;

		if (s->v[i] == 0x3A3) {
			tokenizer_cps_push(out, unicode_is_final_sigma(s->v, s->n, i) ? 0x3C2 : 0x3C3);
			continue;
		}
		k = unicode_lower(s->v[i], low);
		for (size_t m = 0; m < k; m++)
			tokenizer_cps_push(out, low[m]);
	}
	return 0;
}

/* ---------------------------------------------------------------- encoding */

/* Where the ids go: the first max of them are kept, all are counted. */
struct tokenizer_sink {
	int32_t *ids;
	int max;
	int count;
};

static void tokenizer_emit(struct tokenizer_sink *k, uint32_t id)
{
	if (k->count < k->max)
		k->ids[k->count] = (int32_t)id;
	if (k->count < INT_MAX)
		k->count++;
}

/*
 * bpe() of one pre-token, as simple_tokenizer.py runs it: find the
 * lowest-ranked adjacent pair, merge every occurrence of that pair left to
 * right without overlap, repeat.  w holds the symbol ids (the last with
 * "</w>"); rank[i] caches the rank of pair (i, i+1) so a pass only looks
 * up the pairs next to what it merged.
 */
static size_t tokenizer_bpe(const tokenizer *t, uint32_t *w, int32_t *rank, uint8_t *fresh,
    size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		const struct tokenizer_pair *p = tokenizer_find_pair(t, w[i], w[i + 1]);

		rank[i] = p != NULL ? p->rank : INT32_MAX;
	}
	while (n > 1) {
		const struct tokenizer_pair *p;
		size_t best = 0, j = 0, i = 0;
		uint32_t a, b, c;

		for (size_t k = 1; k + 1 < n; k++) {
			if (rank[k] < rank[best])
				best = k;
		}
		if (rank[best] == INT32_MAX)
			break;
		p = tokenizer_find_pair(t, w[best], w[best + 1]);
		a = p->left;
		b = p->right;
		c = p->result;
		while (i < n) {
			if (i + 1 < n && w[i] == a && w[i + 1] == b) {
				w[j] = c;
				fresh[j] = 1;
				i += 2;
			} else {
				w[j] = w[i];
				rank[j] = i + 1 < n ? rank[i] : INT32_MAX;
				fresh[j] = 0;
				i++;
			}
			j++;
		}
		n = j;
		for (size_t k = 0; k + 1 < n; k++) {
			if (fresh[k] || fresh[k + 1]) {
				p = tokenizer_find_pair(t, w[k], w[k + 1]);
				rank[k] = p != NULL ? p->rank : INT32_MAX;
			}
		}
	}
	return n;
}

/* Encode one pre-token (code points) into the sink. */
static int tokenizer_word(const tokenizer *t, const uint32_t *cps, size_t n,
    struct tokenizer_sink *k)
{
	char bbuf[4 * 16], *bytes = bbuf;
	uint32_t wbuf[TOKENIZER_WORD_STACK], *w = wbuf;
	int32_t rbuf[TOKENIZER_WORD_STACK], *rank = rbuf;
	uint8_t fbuf[TOKENIZER_WORD_STACK], *fresh = fbuf;
	size_t nb = 0;
	int rc = -1;

	if (n > sizeof bbuf / 4 && (bytes = malloc(n * 4)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		nb += unicode_utf8_encode(cps[i], bytes + nb);
	/* CLIP's bpe cache is seeded with the special tokens, so they are
	 * never merged. */
	if (nb == strlen(TOKENIZER_SOT_TEXT) && memcmp(bytes, TOKENIZER_SOT_TEXT, nb) == 0) {
		tokenizer_emit(k, (uint32_t)t->sot);
		rc = 0;
		goto out;
	}
	if (nb == strlen(TOKENIZER_EOT_TEXT) && memcmp(bytes, TOKENIZER_EOT_TEXT, nb) == 0) {
		tokenizer_emit(k, (uint32_t)t->eot);
		rc = 0;
		goto out;
	}
	if (nb > TOKENIZER_WORD_STACK) {
		w = malloc(nb * sizeof *w);
		rank = malloc(nb * sizeof *rank);
		fresh = malloc(nb);
		if (w == NULL || rank == NULL || fresh == NULL)
			goto out;
	}
	for (size_t i = 0; i < nb; i++)
		w[i] = t->byte_id[(unsigned char)bytes[i]];
	w[nb - 1] += 256;
	nb = tokenizer_bpe(t, w, rank, fresh, nb);
	for (size_t i = 0; i < nb; i++)
		tokenizer_emit(k, w[i]);
	rc = 0;
out:
	if (bytes != bbuf)
		free(bytes);
	if (w != wbuf) {
		free(w);
		free(rank);
		free(fresh);
	}
	return rc;
}

/*
 * Length of the literal lit at s[i..n) under re.IGNORECASE, or 0.  After
 * lower() the only other spelling left is U+017F (long s) for 's'.
 */
static size_t tokenizer_match(const uint32_t *s, size_t n, size_t i, const char *lit)
{
	size_t k;

	for (k = 0; lit[k] != '\0'; k++) {
		if (i + k >= n)
			return 0;
		if (s[i + k] != (unsigned char)lit[k] && !(lit[k] == 's' && s[i + k] == 0x17F))
			return 0;
	}
	return k;
}

/*
 * U+0345 folds to a letter, so under re.IGNORECASE it is excluded from
 * [^\s\p{L}\p{N}] while [\p{L}] still does not take it: no alternative
 * matches it and findall skips it like a space.
 */
static int tokenizer_is_other(uint32_t cp)
{
	return !unicode_is_space(cp) && !unicode_is_letter(cp) && !unicode_is_number(cp) &&
	    cp != 0x345;
}

/*
 * findall of CLIP's pattern, tried at each position in this order:
 * <|startoftext|> <|endoftext|> 's 't 're 've 'm 'll 'd [\p{L}]+ [\p{N}]
 * [^\s\p{L}\p{N}]+; where none matches, findall moves on one character.
 * Stops early once the sink is full when stop is set.
 */
static int tokenizer_pretokenize(const tokenizer *t, const uint32_t *s, size_t n,
    struct tokenizer_sink *k, int stop)
{
	static const char *const specials[] = {
		TOKENIZER_SOT_TEXT, TOKENIZER_EOT_TEXT,
		"'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
	};
	size_t i = 0;

	while (i < n) {
		size_t len = 0;

		if (stop && k->count >= k->max)
			break;
		if (s[i] == '<' || s[i] == '\'') {
			for (size_t q = 0; q < sizeof specials / sizeof specials[0]; q++) {
				if ((len = tokenizer_match(s, n, i, specials[q])) > 0)
					break;
			}
		}
		if (len == 0) {
			if (unicode_is_letter(s[i])) {
				for (len = 1; i + len < n && unicode_is_letter(s[i + len]); len++)
					;
			} else if (unicode_is_number(s[i]))
				len = 1;
			else if (tokenizer_is_other(s[i])) {
				for (len = 1; i + len < n && tokenizer_is_other(s[i + len]); len++)
					;
			} else {
				i++;
				continue;
			}
		}
		if (tokenizer_word(t, s + i, len, k) < 0)
			return -1;
		i += len;
	}
	return 0;
}

static int tokenizer_run(tokenizer *t, const char *text, struct tokenizer_sink *k, int stop,
    char **cause)
{
	struct tokenizer_cps a = {0}, b = {0};
	size_t len;
	int rc = -1;

	if (text == NULL) {
		util_set_cause(cause, "tokenizer: no text");
		return -1;
	}
	len = strlen(text);
	if (tokenizer_cps_reserve(&a, len + 1) < 0)
		goto out;
	a.n = unicode_utf8_decode(text, len, a.v);
	if (tokenizer_fix_text(&a, &b) < 0)
		goto out;
	/* html.unescape twice; a no-op without '&'. */
	for (int pass = 0; pass < 2; pass++) {
		int amp = 0;

		for (size_t i = 0; i < a.n && !amp; i++)
			amp = a.v[i] == '&';
		if (!amp)
			break;
		if (tokenizer_unescape(&a, &b) < 0)
			goto out;
		tokenizer_cps_swap(&a, &b);
	}
	tokenizer_collapse(&a);
	if (tokenizer_lower(&a, &b) < 0)
		goto out;
	if (tokenizer_pretokenize(t, b.v, b.n, k, stop) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		util_set_cause(cause, "tokenizer: out of memory");
	free(a.v);
	free(b.v);
	return rc;
}

int tokenizer_encode(tokenizer *t, const char *text, int32_t *ids, int max_ids, char **cause)
{
	struct tokenizer_sink k = {ids, ids != NULL && max_ids > 0 ? max_ids : 0, 0};

	if (tokenizer_run(t, text, &k, 0, cause) < 0)
		return -1;
	return k.count;
}

int tokenizer_encode_padded(tokenizer *t, const char *text, int L, int32_t *ids,
    int32_t *mask, char **cause)
{
	struct tokenizer_sink k = {ids + 1, L - 2, 0};
	int n;

	if (L < 2) {
		util_set_cause(cause, "tokenizer: context length %d leaves no room for "
		    "SOT and EOT", L);
		return -1;
	}
	if (tokenizer_run(t, text, &k, 1, cause) < 0)
		return -1;
	n = k.count < L - 2 ? k.count : L - 2;
	ids[0] = t->sot;
	ids[n + 1] = t->eot;
	for (int i = n + 2; i < L; i++)
		ids[i] = 0;
	if (mask != NULL) {
		for (int i = 0; i < L; i++)
			mask[i] = i < n + 2;
	}
	return n + 2;
}

char *tokenizer_merges_text(const char *path, size_t *len, char **cause)
{
	size_t n, cap, kept = 0;
	char *text = tokenizer_read_file(path, &n, cause), *out, *p, *end, *line;

	if (text == NULL)
		return NULL;
	if ((out = malloc(n + 32)) == NULL) {
		free(text);
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		return NULL;
	}
	memcpy(out, "#version: 0.2\n", 14);
	cap = 14;
	p = text;
	end = text + n;
	/* The version line goes when it looks like one, as convert.py's merges_text does. */
	if (p < end && (*p == '#' || *p == '"')) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl != NULL ? nl + 1 : end;
	}
	for (; p < end && kept < TOKENIZER_MERGES; p = line + 1) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *q;
		int blank = 1;
		line = nl != NULL ? nl : end;
		for (q = p; q < line; q++)
			if (!strchr(" \t\r\v\f", *q))
				blank = 0;
		if (blank)
			continue;
		memcpy(out + cap, p, (size_t)(line - p));
		cap += (size_t)(line - p);
		out[cap++] = '\n';
		kept++;
	}
	free(text);
	if (kept < TOKENIZER_MERGES) {
		free(out);
		util_set_cause(cause, "%s: %zu merges, CLIP needs %d", UTIL_NAME(path), kept, TOKENIZER_MERGES);
		return NULL;
	}
	out[cap] = '\0';
	*len = cap;
	return out;
}
