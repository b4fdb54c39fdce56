/* util — error causes and small portable helpers shared by core/. */
#include "config.h"

#include <errno.h>
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

int util_utf8_length(const unsigned char *s)
{
	int n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * The quoted form of s into buf when buf is not NULL, stopping before a
 * character that would leave fewer than room bytes free (setting *cut); returns the
 * length written (or, with buf NULL, the whole form's length).
 */
static size_t util_quote_into(const char *s, char *buf, size_t size, size_t room,
    int *cut)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t at = 0;

	*cut = 0;
	if (buf != NULL)
		buf[at] = '\'';
	at++;
	while (*p != '\0') {
		int n = util_utf8_length(p);
		int escape = n == 0 || *p < 0x20 || *p == 0x7f;
		size_t w = escape ? 4 : (size_t)n;

		if (buf != NULL) {
			if (at + w + room > size) {
				*cut = 1;
				return at;
			}
			if (escape)
				snprintf(buf + at, 5, "\\x%02x", *p);
			else
				memcpy(buf + at, p, w);
		}
		at += w;
		p += escape ? 1 : n;
	}
	if (buf != NULL)
		buf[at] = '\'';
	return at + 1;
}

size_t util_quote_name_size(const char *s)
{
	int cut;

	return util_quote_into(s, NULL, 0, 0, &cut) + 1;
}

const char *util_quote_name(const char *s, char *buf, size_t size)
{
	int fits = util_quote_name_size(s) <= size;
	size_t at;
	int cut;

	if (!fits && size < 8) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	/* Room for the closing quote and NUL, or for "...'" and NUL if cut. */
	at = util_quote_into(s, buf, size, fits ? 2 : 5, &cut);
	if (cut) {
		memcpy(buf + at, "...'", 5);
		return buf;
	}
	buf[at] = '\0';
	return buf;
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

int util_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
