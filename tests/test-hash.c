/*
 * test-hash — MurmurHash3 x64-128 against known digests, and the sampled
 * file hash (size + first, middle and last MiB) against its definition in
 * hash.h.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "tap.h"

static char tmp[256];

/* tmp/name in a static ring of buffers (several paths live at once). */
static const char *tp(const char *name)
{
	static char ring[8][512];
	static int at;
	char *p = ring[at++ % 8];

	snprintf(p, sizeof ring[0], "%s/%s", tmp, name);
	return p;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void test_hash(void)
{
	static const struct {
		const char *text, *hex;
	} known[] = {
		{ "", "00000000000000000000000000000000" },
		{ "The quick brown fox jumps over the lazy dog", "6c1b07bc7bbc4be347939ac4a93c437a" },
		{ "The quick brown fox jumps over the lazy cog", "9a2685ff70a98c653e5c8ea6eae3fe43" },
	};
	const size_t big = 5 * 1024 * 1024 + 123, mib = 1024 * 1024;
	uint8_t h[HASH_SIZE], want[HASH_SIZE], *data, *sample;
	char hex[2 * HASH_SIZE + 1], *cause = NULL;
	int64_t size = 0;
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		hash_bytes(known[i].text, strlen(known[i].text), h);
		hash_hex(h, hex);
		if (!tap_ok(strcmp(hex, known[i].hex) == 0, "MurmurHash3 x64-128 of \"%.20s\"",
		    known[i].text))
			tap_diag("got %s want %s", hex, known[i].hex);
	}

	/* A file hash is the hash of size + samples, by the definition in hash.h. */
	data = malloc(big);
	sample = malloc(8 + 3 * mib);
	for (size_t i = 0; i < big; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (uint8_t)(x >> 16);
	}
	write_file(tp("big.bin"), data, big);
	for (int i = 0; i < 8; i++)
		sample[i] = (uint8_t)((uint64_t)big >> (8 * i));
	memcpy(sample + 8, data, mib);
	memcpy(sample + 8 + mib, data + big / 2 - mib / 2, mib);
	memcpy(sample + 8 + 2 * mib, data + big - mib, mib);
	hash_bytes(sample, 8 + 3 * mib, want);
	tap_ok(hash_file(tp("big.bin"), h, &size, &cause) == 0 &&
	    memcmp(h, want, sizeof h) == 0 && size == (int64_t)big,
	    "file hash of 5 MiB = size + first, middle, last MiB");

	/* Bytes outside the samples do not count; bytes inside do. */
	data[2 * mib] ^= 1;
	write_file(tp("big2.bin"), data, big);
	hash_file(tp("big2.bin"), want, NULL, &cause);
	tap_ok(memcmp(h, want, sizeof h) == 0, "a change outside the samples keeps the hash");
	data[big / 2] ^= 1;
	write_file(tp("big2.bin"), data, big);
	hash_file(tp("big2.bin"), want, NULL, &cause);
	tap_ok(memcmp(h, want, sizeof h) != 0, "a change in the middle sample changes it");

	/* Small files are hashed whole. */
	write_file(tp("small.bin"), data, 1000);
	memcpy(sample + 8, data, 1000);
	for (int i = 0; i < 8; i++)
		sample[i] = (uint8_t)((uint64_t)1000 >> (8 * i));
	hash_bytes(sample, 8 + 1000, want);
	tap_ok(hash_file(tp("small.bin"), h, NULL, &cause) == 0 &&
	    memcmp(h, want, sizeof h) == 0, "file hash of 1000 bytes = size + whole file");
	tap_ok(hash_file(tp("no-such-file"), h, NULL, &cause) == -1 && cause != NULL &&
	    strstr(cause, "no-such-file") != NULL, "hashing a missing file names it");
	free(cause);
	free(data);
	free(sample);
	unlink(tp("big.bin"));
	unlink(tp("big2.bin"));
	unlink(tp("small.bin"));
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof tmp, "%s/clipgrep-hash-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmp) == NULL)
		return tap_skip_all("cannot make a temporary directory");
	test_hash();
	rmdir(tmp);
	return tap_done();
}
