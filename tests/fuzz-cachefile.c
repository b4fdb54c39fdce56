/*
 * fuzz-cachefile — libFuzzer target for the search cache file reader
 * (core/cachefile.c cachefile_peek, cachefile_open), fed the input as a
 * whole file after cachefile_seal has made its checksums agree (so that
 * mutations reach the size and order checks behind them).  A refusal must
 * give a reason; an accepted file must hand out arrays that lie inside it,
 * with ascending ids, every element of which is read here (a read past the
 * mapping would fault).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double read_floats(const float *p, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char path[512];
	unsigned char *image = malloc(size > 0 ? size : 1);
	search_lib_arrays shape, a;
	cachefile_key key;
	cachefile_extras x;
	cachefile *f;
	int current;
	char *why = NULL;
	volatile double sink = 0;
	FILE *fp;
	int fd;

	if (image == NULL)
		return 0;
	memcpy(image, data, size);
	cachefile_seal(image, size);
	snprintf(path, sizeof path, "%s/fuzz-cachefile-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "wb")) == NULL) {
		free(image);
		return 0;
	}
	if (fwrite(image, 1, size, fp) != size) {
		fclose(fp);
		unlink(path);
		free(image);
		return 0;
	}
	fclose(fp);
	free(image);
	if (cachefile_peek(path, &key, &shape, &why) != 0) {
		if (why == NULL)
			abort();
		free(why);
		unlink(path);
		return 0;
	}
	f = cachefile_open(path, &key, &shape, &a, &x, &current, &why);
	unlink(path);
	if (f == NULL) {
		if (why == NULL)
			abort();
		free(why);
		return 0;
	}
	if (a.n != shape.n || a.kc_width != shape.kc_width || a.e16_width != shape.e16_width ||
	    (a.n > 0 && a.ids == NULL))
		abort();
	for (size_t i = 0; i < a.n; i++) {
		if (i > 0 && a.ids[i] <= a.ids[i - 1])
			abort();
		if (a.kc != NULL)
			sink += read_floats(a.kc + i * a.kc_width, a.kc_width);
		if (a.tx != NULL)
			sink += read_floats(a.tx + i * a.tx_width, a.tx_width);
		if (a.eb != NULL)
			sink += read_floats(a.eb + i * a.ea_width, a.ea_width);
		for (size_t j = 0; a.e16 != NULL && j < a.e16_width; j++)
			sink += a.e16[i * a.e16_width + j];
	}
	for (size_t i = 0; i < x.n_damaged; i++)
		sink += (double)x.damaged[i];
	for (size_t i = 0; i < a.n; i++)
		sink += (double)x.stamps[i];
	if (current != 1) /* the key is the file's own */
		abort();
	(void)sink;
	cachefile_close(f);
	return 0;
}
