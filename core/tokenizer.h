/*
 * tokenizer — the CLIP byte-level BPE tokenizer, exact to OpenAI's
 * simple_tokenizer: text cleaning (HTML unescape twice, whitespace
 * collapse, lower case), the CLIP pre-tokenizer regex, byte-to-unicode,
 * the first 48894 merges, SOT 49406 / EOT 49407, truncation and zero
 * padding to L.
 *
 * Token ids are derived without strings: ids 0..255 are the bytes (in
 * bytes_to_unicode order), 256..511 the same with "</w>", 512 + r the
 * result of merge rank r, then SOT and EOT.  A merge is a hash lookup on
 * the pair of ids, so encoding is linear-ish in the word length.
 */
#ifndef CLIPGREP_TOKENIZER_H
#define CLIPGREP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define TOKENIZER_SOT 49406
#define TOKENIZER_EOT 49407
#define TOKENIZER_MERGES 48894

typedef struct tokenizer tokenizer;

/*
 * Load from the text of a merges file (the bpe_simple_vocab format: a
 * version line, then "a b" per line; only the first 48894 merges are used,
 * as CLIP does).  len bytes, need not be NUL-terminated.
 */
tokenizer *tokenizer_load_merges(const char *text, size_t len, const char *label, char **cause);
/* Load bpe_simple_vocab_16e6.txt.gz (or an uncompressed merges file). */
tokenizer *tokenizer_load_file(const char *path, char **cause);
/*
 * The merges text a clipgrep model file stores (clipgrep.tokenizer.merges),
 * from a bpe_simple_vocab file (.gz or plain): "#version: 0.2\n" and the
 * first TOKENIZER_MERGES non-blank merge lines, each ending "\n" -- what
 * tools/convert/convert.py's merges_text writes.  Caller frees; *len is
 * its length.  NULL with *cause when unreadable or short.
 */
char *tokenizer_merges_text(const char *path, size_t *len, char **cause);
/*
 * Load Hugging Face vocab.json + merges.txt; ids come from vocab.json and
 * must agree with the id scheme above (checked, with a clear error).
 */
tokenizer *tokenizer_load_hf(const char *vocab_json_path, const char *merges_path, char **cause);
/* The same with the merges given as text (mlen bytes, named merges_label in errors). */
tokenizer *tokenizer_load_hf_text(const char *vocab_json_path, const char *merges, size_t mlen,
    const char *merges_label, char **cause);
void tokenizer_free(tokenizer *t);

/* Total vocabulary size (49408 for CLIP). */
int tokenizer_vocab_size(const tokenizer *t);
/*
 * The token's string with the byte-to-unicode mapping undone and a
 * trailing "</w>" kept, as UTF-8 (NUL-terminated, owned by t); NULL for
 * out-of-range ids.  Id 0 is "!".
 */
const char *tokenizer_token_text(const tokenizer *t, int id);

/*
 * BPE ids of text without SOT/EOT, at most max_ids of them written into
 * ids; returns the total count (which may exceed max_ids), or -1 with
 * *cause on allocation failure.
 */
int tokenizer_encode(tokenizer *t, const char *text, int32_t *ids, int max_ids, char **cause);

/*
 * The model input for context length L: SOT, at most L-2 BPE ids, EOT,
 * then zeros up to L.  ids[L] and mask[L] (1 for real tokens; mask may be
 * NULL).  Returns the number of real tokens (SOT..EOT), or -1 with *cause.
 */
int tokenizer_encode_padded(tokenizer *t, const char *text, int L, int32_t *ids,
    int32_t *mask, char **cause);

#endif
