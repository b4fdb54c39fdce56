/*
 * tap.h — a minimal TAP producer for clipgrep's C tests.  Each check
 * prints "ok N - name" or "not ok N - name" with the failing expression;
 * tap_done() prints the plan and returns the exit status.
 */
#ifndef CLIPGREP_TAP_H
#define CLIPGREP_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count;
static int tap_failed;

static void tap_vresult(int ok, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void tap_vresult(int ok, const char *fmt, va_list ap)
{
	tap_count++;
	if (!ok)
		tap_failed++;
	printf("%sok %d - ", ok ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

static inline int tap_ok(int ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int tap_ok(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(ok, fmt, ap);
	va_end(ap);
	return ok;
}

static inline void tap_diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline void tap_skip(const char *why)
{
	tap_count++;
	printf("ok %d # SKIP %s\n", tap_count, why);
}

/* Skip the whole program (automake reads "1..0 # SKIP" as a skip). */
static inline int tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	return 77;
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

/*
 * Normalised error of got against want: max |got - want| / max(|want|_inf,
 * tiny).  The tolerance every parity test states is on this quantity.
 */
static inline double tap_rel_err(const float *got, const float *want, size_t n)
{
	double maxdiff = 0, maxref = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - (double)want[i]);
		if (isnan(d))
			return INFINITY;
		if (d > maxdiff)
			maxdiff = d;
		if (fabs(want[i]) > maxref)
			maxref = fabs(want[i]);
	}
	return maxdiff / (maxref > 1e-30 ? maxref : 1e-30);
}

#define TAP_OK(expr) tap_ok((expr), "%s", #expr)

#endif
