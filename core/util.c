/* util — error causes and small portable helpers shared by core/. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static char *util_vformat(const char *fmt, va_list ap) UTIL_PRINTF(1, 0);
static char *util_vformat(const char *fmt, va_list ap)
{
	va_list copy;
	int n;
	char *s;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s != NULL)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

void util_set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	free(*cause);
	va_start(ap, fmt);
	*cause = util_vformat(fmt, ap);
	va_end(ap);
}

void util_prefix_cause(char **cause, const char *fmt, ...)
{
	va_list ap;
	char *prefix, *joined;
	size_t n;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	prefix = util_vformat(fmt, ap);
	va_end(ap);
	if (prefix == NULL)
		return;
	if (*cause == NULL) {
		*cause = prefix;
		return;
	}
	n = strlen(prefix) + 2 + strlen(*cause) + 1;
	joined = malloc(n);
	if (joined != NULL) {
		snprintf(joined, n, "%s: %s", prefix, *cause);
		free(*cause);
		*cause = joined;
	}
	free(prefix);
}

int util_mul_size(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

char *util_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

int util_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

double util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
