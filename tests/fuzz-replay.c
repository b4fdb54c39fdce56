/*
 * fuzz-replay — runs a libFuzzer target without libFuzzer, for make check:
 * LLVMFuzzerTestOneInput on every file of the target's seeds/ and
 * regressions/ folders, one TAP line per input.
 *
 * Linked with one tests/fuzz-NAME.c into tests/fuzz-replay-NAME; NAME comes
 * from the program's own name, the folders from $top_srcdir/tests/fuzz/NAME
 * (run-test.sh's environment), or from the command line:
 *   tests/fuzz-replay-npy [DIR|FILE]...
 * Each input runs in a child process so that a crash (abort, sanitizer
 * report) is a "not ok" naming the file rather than the end of the run.
 * Files whose names start with '.' or "README" are not inputs.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	char **v;
	size_t n, cap;
} replay_list;

static void replay_push(replay_list *l, const char *path)
{
	char *s = strdup(path);

	if (s == NULL || (l->n == l->cap && (l->v = realloc(l->v, (l->cap = l->cap * 2 + 16) *
	    sizeof *l->v)) == NULL)) {
		fprintf(stderr, "fuzz-replay: out of memory\n");
		exit(99);
	}
	l->v[l->n++] = s;
}

static int replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add path (a file) or the inputs in it (a folder); a missing folder adds nothing. */
static void replay_collect(replay_list *l, const char *path)
{
	struct stat st;
	struct dirent *e;
	char buf[4096];
	DIR *d;

	if (stat(path, &st) == -1)
		return;
	if (!S_ISDIR(st.st_mode)) {
		replay_push(l, path);
		return;
	}
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		snprintf(buf, sizeof buf, "%s/%s", path, e->d_name);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			replay_push(l, buf);
	}
	closedir(d);
}

/* Read path whole; NULL on failure (a zero-length file is a valid input). */
static uint8_t *replay_read(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			uint8_t *p = realloc(buf, (cap = cap * 2 + 4096));

			if (p == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		if ((got = fread(buf + n, 1, cap - n, f)) == 0)
			break;
		n += got;
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*size = n;
	return buf;
}

/* 0 when the input ran cleanly in a child, else a description in why. */
static int replay_one(const char *path, char *why, size_t whylen)
{
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		size_t size = 0;
		uint8_t *data = replay_read(path, &size);

		if (data == NULL)
			_exit(98);
		LLVMFuzzerTestOneInput(data, size);
		free(data);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(why, whylen, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 98)
		snprintf(why, whylen, "cannot read the file");
	else if (WIFEXITED(status))
		snprintf(why, whylen, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(why, whylen, "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/'), *srcdir = getenv("top_srcdir");
	char name[256], dir[4096], why[128], *dot;
	replay_list l = { NULL, 0, 0 };
	int failed = 0;

	base = base != NULL ? base + 1 : argv[0];
	if (strncmp(base, "fuzz-replay-", 12) == 0)
		base += 12;
	snprintf(name, sizeof name, "%s", base);
	if ((dot = strchr(name, '.')) != NULL)
		*dot = '\0'; /* $(EXEEXT) */
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay_collect(&l, argv[i]);
	} else {
		if (srcdir == NULL || *srcdir == '\0')
			srcdir = ".";
		snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/seeds", srcdir, name);
		replay_collect(&l, dir);
		snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/regressions", srcdir, name);
		replay_collect(&l, dir);
		if (l.n == 0) {
			printf("1..0 # SKIP no inputs under %s/tests/fuzz/%s\n", srcdir, name);
			return 77;
		}
	}
	qsort(l.v, l.n, sizeof *l.v, replay_cmp);
	printf("1..%zu\n", l.n);
	for (size_t i = 0; i < l.n; i++) {
		if (replay_one(l.v[i], why, sizeof why) == 0)
			printf("ok %zu - fuzz-%s %s\n", i + 1, name, l.v[i]);
		else {
			printf("not ok %zu - fuzz-%s %s: %s\n", i + 1, name, l.v[i], why);
			failed = 1;
		}
		free(l.v[i]);
	}
	free(l.v);
	return failed;
}
