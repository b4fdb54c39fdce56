/*
 * util — small helpers shared by every core file: error causes and
 * checked allocation arithmetic.
 */
#ifndef CLIPGREP_UTIL_H
#define CLIPGREP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define UTIL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define UTIL_PRINTF(f, a)
#endif

/*
 * Fill *cause with a newly allocated message built from fmt; the caller
 * frees it.  A NULL cause means the caller does not want the message.  An
 * existing *cause is freed first, so the innermost layer can set a message
 * and an outer layer can replace it with one that adds context.
 */
void util_set_cause(char **cause, const char *fmt, ...) UTIL_PRINTF(2, 3);

/*
 * Prefix an existing *cause with "prefix: " (e.g. the file name), so a
 * message made deep down names the file the user gave.
 */
void util_prefix_cause(char **cause, const char *fmt, ...) UTIL_PRINTF(2, 3);

/*
 * Write s into buf (size bytes) in the form every message shows
 * a name in: between '...' quotes, with control bytes, DEL and bytes that
 * are not valid UTF-8 written as \xNN, so an empty or space-only name
 * stays visible and a name cannot drive the terminal.  NULL shows as ''.
 * A name whose form does not fit is cut at a character boundary and ends
 * in "...'".  Returns buf, so a call can be a printf argument.
 * util_quote_name_size gives the size (with the NUL) that never cuts.
 */
const char *util_quote_name(const char *s, char *buf, size_t size);
size_t util_quote_name_size(const char *s);

/* Size of the buffer UTIL_NAME gives a name; longer names are cut. */
#define UTIL_NAME_SIZE 1024

/*
 * UTIL_NAME(s): the quoted form of s in a buffer that lives until the end
 * of the enclosing block, for a cause's arguments:
 *     util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
 * Each use has its own buffer, so it is safe in any thread.
 */
#define UTIL_NAME(s) util_quote_name((s), (char[UTIL_NAME_SIZE]){ 0 }, UTIL_NAME_SIZE)

/*
 * Length of the valid UTF-8 sequence starting at s (1 to 4), or 0 when it is
 * not one: a stray or truncated byte, an overlong form, a surrogate or a
 * value past U+10FFFF.  Reads at most up to the first invalid byte, so a
 * NUL-terminated s is never read past its end.
 */
int util_utf8_length(const unsigned char *s);

/* a * b into *out; returns -1 (and leaves *out alone) on overflow. */
int util_mul_size(size_t a, size_t b, size_t *out);

/* strdup that returns NULL on allocation failure (like strdup). */
char *util_strdup(const char *s);

/* Number of online CPUs, at least 1. */
int util_cpu_count(void);

/* Monotonic time in seconds, for benchmarks and progress. */
double util_now(void);

/*
 * write(2) all n bytes of buf to fd, retrying after EINTR and short writes.
 * 0, or -1 with errno set (EIO when write returned 0).
 */
int util_write_all(int fd, const void *buf, size_t n);

#endif
