/*
 * test-tokenizer — the CLIP BPE tokenizer against OpenAI's simple_tokenizer,
 * on the vocabulary bundled in assets/ (or ../shared/data's twin): the shared
 * golden file when present (optional), plus cases whose ids were produced by the Python
 * reference (text cleaning, the pre-tokenizer pattern, final sigma,
 * invalid UTF-8 read as Python's "replace" decoding does), the padded model
 * input, token texts, small merges files and Hugging Face's vocab.json.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "tap.h"
#include "tokenizer.h"
#include "unicode.h"

#define CASE_MAX 48

struct expect {
	const char *what;
	const char *text;
	int n;			/* BPE ids, without SOT/EOT */
	int32_t ids[CASE_MAX];
};

/* Ids from the Python reference (simple_tokenizer.py less ftfy). */
static const struct expect expects[] = {
	{"plain caption", "a dog catching a frisbee", 5, {320, 1929, 8617, 320, 45768}},
	{"upper case", "A DOG CATCHING A FRISBEE", 5, {320, 1929, 8617, 320, 45768}},
	{"apostrophes",
	    "don't stop, it's fine; they'll say we're late and I'M sure you'd agree", 21,
	    {847, 713, 1691, 267, 585, 568, 3797, 282, 889, 1342, 1451, 649, 982, 2325,
	    537, 328, 880, 1650, 592, 1896, 5953}},
	{"HTML entities",
	    "fish &amp; chips &lt;b&gt; caf&eacute; &amp;amp; &#39;s &#x41; &ampx &#150;", 13,
	    {2759, 261, 8855, 283, 321, 285, 15304, 261, 568, 320, 261, 343, 1224}},
	{"double unescape", "&amp;amp;", 1, {261}},
	{"accents", "na\xc3\xafve caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9", 7,
	    {1097, 35689, 563, 15304, 29106, 7054, 4166}},
	{"CJK, Hangul and emoji",
	    "\xe4\xb8\xad\xe6\x96\x87 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
	    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xf0\x9f\x99\x82\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
	    16, {19759, 255, 29032, 485, 39121, 44353, 34002, 508, 15197, 250, 31871, 255,
	    31625, 368, 32006, 43722}},
	{"final sigma", "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3 \xce\xa3\xce\x91", 14,
	    {138, 123, 138, 112, 138, 123, 139, 480, 139, 481, 139, 225, 138, 365}},
	{"dotted I and sharp s", "\xc4\xb0stanbul stra\xc3\x9f" "e", 7,
	    {328, 16384, 11231, 1894, 127, 253, 324}},
	{"one token per digit", "route 2024 in 3.5 hours", 10,
	    {5261, 273, 271, 273, 275, 530, 274, 269, 276, 2382}},
	{"whitespace collapse", "  a \t\n  b \xe3\x80\x80 c\xc2\xa0 ", 3, {320, 321, 322}},
	{"special tokens in text",
	    "<|startoftext|>hello<|endoftext|> <|\xc5\xbftartoftext|>", 12,
	    {49406, 3306, 49407, 27, 91, 129, 123, 2002, 6659, 18169, 91, 285}},
	{"U+0345 matches no alternative", "\xcd\x85x", 1, {343}},
	{"invalid bytes", "\xff\xfe" "abc", 3, {47356, 39802, 5334}},
	{"truncated sequence is one U+FFFD", "a\xe2\x82" "b", 3, {320, 39802, 321}},
	/* Lines of the shared golden-tokens.jsonl, so a bare clone checks them too. */
	{"golden: shouting", "A man is playing GUITAR on stage!", 8,
	    {320, 786, 533, 1629, 5084, 525, 2170, 256}},
	{"golden: possessives", "it's a lion's tree-climbing adventure", 9,
	    {585, 568, 320, 5567, 568, 2677, 268, 9877, 4377}},
	{"golden: tabs", "  multiple   spaces\tand\ttabs ", 4, {6470, 9006, 537, 29163}},
	{"golden: numbers", "numbers 1234 and 3.14159", 13,
	    {6121, 272, 273, 274, 275, 537, 274, 269, 272, 275, 272, 276, 280}},
	{"golden: emoji and markup", "emoji \xf0\x9f\x99\x82 and symbols &amp; <b>bold</b>", 12,
	    {16327, 14860, 537, 25476, 261, 283, 321, 285, 8911, 34308, 321, 285}},
	{"golden: contractions", "don't won't can't I'm you're", 10,
	    {847, 713, 1749, 713, 753, 713, 328, 880, 592, 982}},
	{"golden: long word", "supercalifragilisticexpialidocious", 9,
	    {1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466}},
	{"empty", "", 0, {0}},
	{"only spaces", " \t\n ", 0, {0}},
};

/* ftfy repairs the tokenizer does: each pair must tokenize alike. */
static const char *const same[][2] = {
	{"don\xe2\x80\x99t \xe2\x80\x9cquote\xe2\x80\x9d", "don't \"quote\""},
	{"\xef\xac\x81sh \xef\xac\x82ow", "fish flow"},
	{"\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3\xef\xbc\x91\xef\xbc\x92", "ABC12"},
	{"\x1b[1;31mred\x1b[0m", "red"},
	{"a\x01\x7f" "b", "ab"},
	{"it\xc2\x92s", "it's"},
};

/* UTF-8 decoding as Python's errors="replace" does it, and the tables. */
static void test_unicode(void)
{
	static const struct {
		const char *bytes;
		size_t n;
		uint32_t want[6];
	} utf8[] = {
		{"\xc0\xaf", 2, {0xFFFD, 0xFFFD}},
		{"\xed\xa0\x80", 3, {0xFFFD, 0xFFFD, 0xFFFD}},
		{"\xf4\x90\x80\x80", 4, {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}},
		{"\xf0\x9f\x98", 1, {0xFFFD}},
		{"\xe2\x82\xac", 1, {0x20AC}},
		{"\xf0\x9f\x98\x80x\x80", 3, {0x1F600, 'x', 0xFFFD}},
	};
	uint32_t out[8], low[3];
	char enc[4];

	for (size_t i = 0; i < sizeof utf8 / sizeof utf8[0]; i++) {
		size_t n = unicode_utf8_decode(utf8[i].bytes, strlen(utf8[i].bytes), out);
		int ok = n == utf8[i].n;

		for (size_t k = 0; ok && k < n; k++)
			ok = out[k] == utf8[i].want[k];
		tap_ok(ok, "utf8 decode case %zu", i);
	}
	TAP_OK(unicode_utf8_encode(0x1F600, enc) == 4 && memcmp(enc, "\xf0\x9f\x98\x80", 4) == 0);
	TAP_OK(unicode_utf8_encode(0xD800, enc) == 3 && memcmp(enc, "\xef\xbf\xbd", 3) == 0);
	TAP_OK(unicode_lower(0x130, low) == 2 && low[0] == 'i' && low[1] == 0x307);
	TAP_OK(unicode_lower(0x3A3, low) == 1 && low[0] == 0x3C3);
	TAP_OK(unicode_lower(0x1E9E, low) == 1 && low[0] == 0xDF);
	TAP_OK(unicode_lower(0x10400, low) == 1 && low[0] == 0x10428);
	TAP_OK(unicode_lower(0x2C8, low) == 1 && low[0] == 0x2C8);
	TAP_OK(unicode_is_letter(0x4E2D) && unicode_is_letter(0x2B0) && !unicode_is_letter(0x345));
	TAP_OK(unicode_is_number(0x661) && unicode_is_number(0x2167) && !unicode_is_number('x'));
	TAP_OK(unicode_is_space(0x3000) && unicode_is_space(0x85) && !unicode_is_space(0x1C) &&
	    !unicode_is_space(0x200B));
}

/*
 * A file of ../shared/data/clip-bpe (CLIPGREP_SHARED_DATA) when there, else
 * the vocabulary bundled in assets/ (a user's clone has no shared data); the
 * shared golden file has no bundled twin and is then reported missing.
 */
static char *data_path(const char *name)
{
	const char *dir = getenv("CLIPGREP_SHARED_DATA"), *top = getenv("top_srcdir");
	char buf[4096];

	if (dir != NULL && *dir != '\0')
		snprintf(buf, sizeof buf, "%s/clip-bpe/%s", dir, name);
	else if (top != NULL && *top != '\0')
		snprintf(buf, sizeof buf, "%s/../shared/data/clip-bpe/%s", top, name);
	else
		snprintf(buf, sizeof buf, "../shared/data/clip-bpe/%s", name);
	if (access(buf, R_OK) != 0 && strcmp(name, "golden-tokens.jsonl") != 0)
		snprintf(buf, sizeof buf, "%s/assets/%s", top != NULL && *top != '\0' ? top : ".",
		    name);
	return strdup(buf);
}

static int same_ids(const int32_t *a, const int32_t *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (a[i] != b[i])
			return 0;
	}
	return 1;
}

static void show_ids(const char *label, const int32_t *ids, int n)
{
	char buf[1024];
	size_t o = 0;

	for (int i = 0; i < n && o + 16 < sizeof buf; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, " %d", ids[i]);
	buf[o] = '\0';
	tap_diag("%s:%s", label, buf);
}

/* encode gives exactly want[n], and the padded input at L wraps it. */
static void check_encode(tokenizer *t, const char *what, const char *text, const int32_t *want,
    int n, int L)
{
	int32_t got[256], padded[80], mask[80], full[80];
	char *cause = NULL;
	int c = tokenizer_encode(t, text, got, 256, &cause), p, keep = n < L - 2 ? n : L - 2;
	int ok;

	if (!tap_ok(c == n && same_ids(got, want, n), "%s: BPE ids", what)) {
		show_ids("want", want, n);
		show_ids("got", got, c > 0 ? (c < 256 ? c : 256) : 0);
	}
	full[0] = TOKENIZER_SOT;
	memcpy(full + 1, want, (size_t)keep * sizeof *want);
	full[keep + 1] = TOKENIZER_EOT;
	for (int i = keep + 2; i < L; i++)
		full[i] = 0;
	p = tokenizer_encode_padded(t, text, L, padded, mask, &cause);
	ok = p == keep + 2 && same_ids(padded, full, L);
	for (int i = 0; i < L && ok; i++)
		ok = mask[i] == (i < keep + 2);
	if (!tap_ok(ok, "%s: padded to L = %d", what, L))
		show_ids("got", padded, L);
	free(cause);
}

/* Every line of golden-tokens.jsonl: bpe and ids32. */
static void test_golden(tokenizer *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[65536];
	int lines = 0, bad = 0;

	if (f == NULL) {
		tap_skip("optional shared golden-tokens.jsonl is absent (the cases below carry its ids)");
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char *cause = NULL;
		json_value *v = json_parse(line, strlen(line), &cause);
		const json_value *bpe = json_get(v, "bpe"), *ids32 = json_get(v, "ids32");
		const char *text = json_string(json_get(v, "text"), NULL);
		int32_t want[128], want32[32], got[128], got32[32];
		size_t n = json_length(bpe), n32 = json_length(ids32);
		int c, p, ok;

		if (v == NULL || text == NULL || n > 128 || n32 > 32) {
			tap_ok(0, "golden line %d parses (%s)", lines + 1, cause ? cause : "shape");
			free(cause);
			json_free(v);
			bad++;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			want[i] = (int32_t)json_number(json_at(bpe, i));
		for (size_t i = 0; i < 32; i++)
			want32[i] = i < n32 ? (int32_t)json_number(json_at(ids32, i)) : 0;
		c = tokenizer_encode(t, text, got, 128, &cause);
		p = tokenizer_encode_padded(t, text, 32, got32, NULL, &cause);
		ok = c == (int)n && same_ids(got, want, (int)n) && p == (int)n32 &&
		    same_ids(got32, want32, 32);
		if (!ok) {
			bad++;
			tap_diag("golden mismatch: %s", text);
			show_ids("got", got, c > 0 && c <= 128 ? c : 0);
		}
		lines++;
		free(cause);
		json_free(v);
	}
	fclose(f);
	tap_ok(lines > 0 && bad == 0, "golden: %d of %d lines match bpe and ids32", lines - bad,
	    lines);
}

static void test_cases(tokenizer *t)
{
	for (size_t i = 0; i < sizeof expects / sizeof expects[0]; i++)
		check_encode(t, expects[i].what, expects[i].text, expects[i].ids, expects[i].n, 32);
}

static void test_truncation(tokenizer *t)
{
	char text[200] = "";
	int32_t want[40], ids[77];
	char *cause = NULL;

	for (int i = 0; i < 40; i++) {
		strcat(text, "a ");
		want[i] = 320;
	}
	check_encode(t, "40 words", text, want, 40, 32);
	check_encode(t, "40 words", text, want, 40, 77);
	TAP_OK(tokenizer_encode(t, text, NULL, 0, &cause) == 40);
	TAP_OK(tokenizer_encode(t, text, ids, 3, &cause) == 40 && ids[2] == 320);
	TAP_OK(tokenizer_encode_padded(t, text, 2, ids, NULL, &cause) == 2 &&
	    ids[0] == TOKENIZER_SOT && ids[1] == TOKENIZER_EOT);
	tap_ok(tokenizer_encode_padded(t, text, 1, ids, NULL, &cause) < 0 && cause != NULL,
	    "L = 1 is refused");
	free(cause);
}

static void test_same(tokenizer *t)
{
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		int32_t a[64], b[64];
		int na = tokenizer_encode(t, same[i][0], a, 64, NULL);
		int nb = tokenizer_encode(t, same[i][1], b, 64, NULL);

		tap_ok(na > 0 && na == nb && same_ids(a, b, na), "ftfy subset %zu: like \"%s\"", i,
		    same[i][1]);
	}
}

static void test_texts(tokenizer *t)
{
	const char *s;

	TAP_OK(tokenizer_vocab_size(t) == 49408);
	TAP_OK(strcmp(tokenizer_token_text(t, 0), "!") == 0);
	TAP_OK(strcmp(tokenizer_token_text(t, 320), "a</w>") == 0);
	TAP_OK(strcmp(tokenizer_token_text(t, 1929), "dog</w>") == 0);
	/* Byte 0x20 is the 33rd byte bytes_to_unicode moves: id 188 + 32. */
	TAP_OK(strcmp(tokenizer_token_text(t, 220), " ") == 0);
	TAP_OK(strcmp(tokenizer_token_text(t, 476), " </w>") == 0);
	s = tokenizer_token_text(t, 255);
	TAP_OK(s != NULL && (unsigned char)s[0] == 0xAD && s[1] == '\0');
	TAP_OK(strcmp(tokenizer_token_text(t, TOKENIZER_SOT), "<|startoftext|>") == 0);
	TAP_OK(strcmp(tokenizer_token_text(t, TOKENIZER_EOT), "<|endoftext|>") == 0);
	TAP_OK(tokenizer_token_text(t, 49408) == NULL);
	TAP_OK(tokenizer_token_text(t, -1) == NULL);
}

/* A three-merge file: ids, SOT/EOT after the merges, and bad files. */
static void test_small(void)
{
	static const char merges[] = "#version: 0.2\na b\nab c\n";
	static const char *const bad[][2] = {
		{"#v\na\n", "line 2"},
		{"#v\na b c\n", "line 2"},
		{"#v\na b\nxy q\n", "\"xy\" is not a token"},
		{"#v\n\xe2\x82\xac b\n", "is not a token"},
		{"#v\nc </w>\n", "\"</w>\" is not a token"},
	};
	char *cause = NULL;
	tokenizer *t = tokenizer_load_merges(merges, strlen(merges), "small", &cause);
	int32_t ids[8], want[] = {512, 66 + 256};

	if (!tap_ok(t != NULL, "small merges load")) {
		tap_diag("%s", cause);
		free(cause);
		return;
	}
	TAP_OK(tokenizer_vocab_size(t) == 512 + 2 + 2);
	TAP_OK(tokenizer_encode(t, "abc", ids, 8, &cause) == 2 && same_ids(ids, want, 2));
	TAP_OK(strcmp(tokenizer_token_text(t, 513), "abc") == 0);
	TAP_OK(tokenizer_encode_padded(t, "abc", 5, ids, NULL, &cause) == 4 &&
	    ids[0] == 514 && ids[1] == 512 && ids[3] == 515 && ids[4] == 0);
	tokenizer_free(t);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t = tokenizer_load_merges(bad[i][0], strlen(bad[i][0]), "bad", &cause);
		if (!tap_ok(t == NULL && cause != NULL && strstr(cause, bad[i][1]) != NULL &&
		    strncmp(cause, "bad: ", 5) == 0, "bad merges file %zu: %s", i, bad[i][1]))
			tap_diag("cause: %s", cause ? cause : "(none)");
		tokenizer_free(t);
	}
	tokenizer_free(NULL);
	free(cause);
}

/* bytes_to_unicode of one byte, as UTF-8 JSON text. */
static void put_b2u(FILE *f, unsigned char b)
{
	int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
	unsigned cp = b;

	if (!printable) {
		unsigned k = 0;

		for (unsigned x = 0; x < b; x++)
			k += !((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE);
		cp = 256 + k;
	}
	if (cp == '"' || cp == '\\')
		fprintf(f, "\\%c", cp);
	else if (cp < 0x80)
		fputc((int)cp, f);
	else
		fprintf(f, "\\u%04x", cp);
}

/* vocab.json written from the token texts, with ids a and b swapped. */
static int write_vocab(tokenizer *t, const char *path, int a, int b)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputc('{', f);
	for (int id = 0; id < tokenizer_vocab_size(t); id++) {
		const unsigned char *s = (const unsigned char *)tokenizer_token_text(t, id);

		fputs(id ? ",\n\"" : "\"", f);
		/* Byte 0's tokens read as "" through the NUL-terminated API. */
		if (*s == '\0') {
			put_b2u(f, 0);
			if (id >= 256)
				fputs("</w>", f);
		}
		for (; *s != '\0'; s++)
			put_b2u(f, *s);
		fprintf(f, "\": %d", id == a ? b : id == b ? a : id);
	}
	fputs("}\n", f);
	return fclose(f);
}

static void test_hf(tokenizer *t, const char *bpe)
{
	const char *base = getenv("TMPDIR");
	char path[4096];
	char *cause = NULL;
	tokenizer *h;
	int32_t a[64], b[64];
	int na, nb;

	snprintf(path, sizeof path, "%s/test-tokenizer-%ld.json",
	    base != NULL && *base != '\0' ? base : "/tmp", (long)getpid());
	if (write_vocab(t, path, -1, -1) < 0) {
		tap_skip("cannot write a vocab.json");
		return;
	}
	/* merges.txt has bpe_simple_vocab's layout; the .gz reads the same. */
	h = tokenizer_load_hf(path, bpe, &cause);
	if (!tap_ok(h != NULL, "Hugging Face vocab.json + merges load"))
		tap_diag("cause: %s", cause);
	if (h != NULL) {
		const char *text = "A man is playing GUITAR on stage! \xe4\xb8\xad\xe6\x96\x87";

		na = tokenizer_encode(t, text, a, 64, NULL);
		nb = tokenizer_encode(h, text, b, 64, NULL);
		TAP_OK(na > 0 && na == nb && same_ids(a, b, na));
		TAP_OK(tokenizer_vocab_size(h) == 49408);
		tokenizer_free(h);
	}
	if (write_vocab(t, path, 320, 321) == 0) {
		h = tokenizer_load_hf(path, bpe, &cause);
		if (!tap_ok(h == NULL && cause != NULL && strstr(cause, "\"a</w>\" has id 321"),
		    "vocab.json with swapped ids is refused"))
			tap_diag("cause: %s", cause ? cause : "(none)");
		tokenizer_free(h);
	}
	unlink(path);
	h = tokenizer_load_hf(path, bpe, &cause);
	TAP_OK(h == NULL && cause != NULL && strstr(cause, path) != NULL);
	free(cause);
}

int main(void)
{
	char *bpe = data_path("bpe_simple_vocab_16e6.txt.gz");
	char *golden = data_path("golden-tokens.jsonl");
	char *cause = NULL;
	tokenizer *t;

	if (bpe == NULL || golden == NULL || access(bpe, R_OK) != 0) {
		free(bpe);
		free(golden);
		return tap_skip_all("no CLIP vocabulary: neither shared data nor assets/ has "
		    "bpe_simple_vocab_16e6.txt.gz");
	}
	test_unicode();
	t = tokenizer_load_file(bpe, &cause);
	if (!tap_ok(t != NULL, "load %s", bpe)) {
		tap_diag("cause: %s", cause);
		free(cause);
		free(bpe);
		free(golden);
		return tap_done();
	}
	test_golden(t, golden);
	test_cases(t);
	test_truncation(t);
	test_same(t);
	test_texts(t);
	test_small();
	test_hf(t, bpe);
	tokenizer_free(t);
	TAP_OK(tokenizer_load_file("/nonexistent/bpe.txt.gz", &cause) == NULL && cause != NULL);
	free(cause);
	free(bpe);
	free(golden);
	return tap_done();
}
