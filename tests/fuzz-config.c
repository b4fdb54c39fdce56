/*
 * fuzz-config — libFuzzer target for the config-file parser
 * (tui/cli/cli-config.c cli_config_load), fed the input as the whole file
 * named by $CLIPGREP_CONFIG.  A refusal must print a message (through
 * cli_error, to a scratch stderr); an accepted config must be safe to walk: every
 * model and exclude string present, exclude NULL-terminated, threads and
 * jobs 0 or 1..1024, and cli_db_path / cli_model_paths usable on it.
 *
 * cli-config.c and cli.c are linked in directly.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Bytes the program wrote to stderr while fn ran: fd 2 points at a scratch
 * file meanwhile, so a refusal is seen to print its message (cli_error in
 * tui/cli/cli.c, the program's own) without filling the fuzzer's log.
 */
static long fuzz_stderr_bytes(int (*fn)(cli_config *), cli_config *c, int *rc)
{
	static FILE *scratch;
	int saved;
	long n;

	if (scratch == NULL && (scratch = tmpfile()) == NULL)
		abort();
	fflush(stderr);
	if ((saved = dup(2)) == -1 || dup2(fileno(scratch), 2) == -1)
		abort();
	if (ftruncate(fileno(scratch), 0) == -1 || lseek(fileno(scratch), 0, SEEK_SET) == -1)
		abort();
	*rc = fn(c);
	fflush(stderr);
	n = (long)lseek(fileno(scratch), 0, SEEK_CUR);
	if (dup2(saved, 2) == -1)
		abort();
	close(saved);
	return n;
}

/* The file the input is written to: made for each input and removed after
 * it, because the replay driver ends each input's child with _exit and
 * nothing at process exit would remove it. */
static void fuzz_config_make(char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/fuzz-config-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		abort();
	close(fd);
	setenv("CLIPGREP_CONFIG", path, 1);
	setenv("HOME", "/nonexistent-fuzz-home", 1);
	unsetenv("CLIPGREP_DB");
	unsetenv("XDG_DATA_HOME");
}

static void fuzz_config_one(const char *path, const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];

	fuzz_config_make(path, sizeof path);
	fuzz_config_one(path, data, size);
	unlink(path);
	return 0;
}

static void fuzz_config_one(const char *path, const uint8_t *data, size_t size)
{
	cli_config c;
	char **models = NULL, *db;
	FILE *f;
	int n, rc;

	if ((f = fopen(path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	if (fuzz_stderr_bytes(cli_config_load, &c, &rc) <= 0 && rc == -1)
		abort();
	if (rc == -1) {
		cli_config_free(&c);
		return;
	}
	if (c.path == NULL || strcmp(c.path, path) != 0 || c.n_models < 0 || c.n_exclude < 0)
		abort();
	for (int i = 0; i < c.n_models; i++)
		if (c.models[i] == NULL || c.models[i][0] == '\0')
			abort();
	if (c.n_exclude > 0 && c.exclude[c.n_exclude] != NULL)
		abort();
	for (int i = 0; i < c.n_exclude; i++)
		if (c.exclude[i] == NULL)
			abort();
	if (c.threads < 0 || c.threads > 1024 || c.jobs < 0 || c.jobs > 1024)
		abort();
	if ((db = cli_db_path(NULL, &c)) == NULL || (c.db != NULL && strcmp(db, c.db) != 0))
		abort();
	free(db);
	if (c.n_models > 0) {
		if ((n = cli_model_paths(NULL, 0, &c, NULL, &models)) != c.n_models)
			abort();
		for (int i = 0; i < n; i++)
			if (strcmp(models[i], c.models[i]) != 0)
				abort();
		cli_free_strings(models, n);
	}
	cli_config_free(&c);
}
