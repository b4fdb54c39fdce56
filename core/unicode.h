/*
 * unicode — the character classes, case mapping and UTF-8 coding the CLIP
 * tokenizer needs, agreeing with Python (str.lower, str.isspace and the
 * regex module's \p{L}, \p{N}, \s).  The tables in unicode.c are generated
 * by tools/gen_unicode_tables.py from the Unicode version of the Python
 * that ran it (the version is in unicode.c's first line).
 */
#ifndef CLIPGREP_UNICODE_H
#define CLIPGREP_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define UNICODE_REPLACEMENT 0xFFFD

/* General category L* (Lu, Ll, Lt, Lm, Lo). */
int unicode_is_letter(uint32_t cp);
/* General category N* (Nd, Nl, No). */
int unicode_is_number(uint32_t cp);
/*
 * White_Space, which is what the regex module's \s matches.  Python's
 * str.isspace() and str.strip() also count U+001C..U+001F; callers that
 * mimic strip() add those themselves.
 */
int unicode_is_space(uint32_t cp);

/*
 * What str.lower() makes of cp on its own: writes 1 to 3 code points to
 * out and returns how many (cp itself when it has no lower case).  U+03A3
 * gives U+03C3 here; str.lower() gives U+03C2 instead where
 * unicode_is_final_sigma says so.
 */
size_t unicode_lower(uint32_t cp, uint32_t out[3]);
/*
 * Whether the capital sigma at s[i] (of s[0..n)) is word-final by
 * CPython's rule (Final_Sigma: a cased letter before it, case-ignorable
 * characters between, and no cased letter after).
 */
int unicode_is_final_sigma(const uint32_t *s, size_t n, size_t i);

/*
 * The NFKC form of a halfwidth/fullwidth form (U+FF01..U+FFEF) or of the
 * ideographic space U+3000, which is what ftfy's fix_character_width
 * substitutes; 1 or 2 code points into out, cp itself for anything else.
 */
size_t unicode_narrow(uint32_t cp, uint32_t out[2]);

/*
 * Decode len bytes of UTF-8 into out, which must have room for len code
 * points; returns the number written.  Ill-formed input is not an error:
 * each maximal ill-formed subpart (a bad byte, or a truncated sequence up
 * to the byte that breaks it) becomes one U+FFFD, exactly as Python's
 * bytes.decode("utf-8", "replace") does, so the result is deterministic.
 * Surrogates and code points past U+10FFFF are ill-formed.
 */
size_t unicode_utf8_decode(const char *s, size_t len, uint32_t *out);
/*
 * Encode cp as 1 to 4 bytes of UTF-8 into out and return the count; a
 * surrogate or a value past U+10FFFF is encoded as U+FFFD.
 */
size_t unicode_utf8_encode(uint32_t cp, char out[4]);

#endif
