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

/* a * b into *out; returns -1 (and leaves *out alone) on overflow. */
int util_mul_size(size_t a, size_t b, size_t *out);

/* strdup that returns NULL on allocation failure (like strdup). */
char *util_strdup(const char *s);

/* Number of online CPUs, at least 1. */
int util_cpu_count(void);

/* Monotonic time in seconds, for benchmarks and progress. */
double util_now(void);

#endif
