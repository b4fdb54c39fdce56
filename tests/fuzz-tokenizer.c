/*
 * fuzz-tokenizer — libFuzzer target for the CLIP tokenizer.  Any bytes,
 * valid UTF-8 or not, must encode: the padded input at L = 32 and 77 must
 * be SOT, in-vocabulary ids, EOT, zeros, and agree with the unpadded
 * encoding.  The input is also tried as a merges file, which must load
 * or explain why not.
 *
 * CLIPGREP_BPE names the merges file to use (e.g. CLIP's
 * bpe_simple_vocab_16e6.txt.gz); without it a small built-in one is used.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_merges[] =
	"#version: 0.2\n"
	"t h\n" "th e</w>\n" "a n\n" "an d</w>\n" "i n\n" "in g</w>\n" "o n</w>\n"
	"e r</w>\n" "Ã ©\n" "ð Ł\n" "ðŁ ĺ\n" "ðŁĺ Ģ</w>\n" "' s</w>\n" "! !</w>\n" "1 1</w>\n";

static tokenizer *fuzz_tokenizer(void)
{
	static tokenizer *t;
	const char *path;
	char *cause = NULL;

	if (t != NULL)
		return t;
	path = getenv("CLIPGREP_BPE");
	if (path != NULL && *path != '\0')
		t = tokenizer_load_file(path, &cause);
	else
		t = tokenizer_load_merges(fuzz_merges, strlen(fuzz_merges), "built-in", &cause);
	if (t == NULL) {
		fprintf(stderr, "fuzz-tokenizer: %s\n", cause);
		abort();
	}
	return t;
}

static void fuzz_check(tokenizer *t, const char *text, int L)
{
	int32_t ids[77], mask[77], plain[77];
	int n = tokenizer_encode_padded(t, text, L, ids, mask, NULL);
	int total = tokenizer_encode(t, text, plain, L - 2, NULL);
	int vocab = tokenizer_vocab_size(t);

	if (n < 2 || n > L || total < n - 2 || (total < L - 2 && total != n - 2))
		abort();
	if (ids[0] != vocab - 2 || ids[n - 1] != vocab - 1)
		abort();
	for (int i = 0; i < L; i++) {
		if (mask[i] != (i < n) || (i >= n && ids[i] != 0))
			abort();
		if (ids[i] < 0 || ids[i] >= vocab || tokenizer_token_text(t, ids[i]) == NULL)
			abort();
	}
	/* Stopping early for the padded input must not change its ids. */
	if (memcmp(ids + 1, plain, (size_t)(n - 2) * sizeof *ids) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tokenizer *t = fuzz_tokenizer(), *m;
	char *text = malloc(size + 1), *cause = NULL;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_check(t, text, 32);
	fuzz_check(t, text, 77);

	m = tokenizer_load_merges((const char *)data, size, "fuzz", &cause);
	if (m == NULL) {
		if (cause == NULL)
			abort();
	} else
		fuzz_check(m, "the thing's 1!", 32);
	tokenizer_free(m);
	free(cause);
	free(text);
	return 0;
}
