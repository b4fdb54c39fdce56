/*
 * hash — MurmurHash3 x64-128 (Austin Appleby, public domain) and the file
 * hash built on it: the content identity of model files and videos, used
 * to recognise a moved or copied file without decoding it, to match models
 * across merged indexes and to check cached tensors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "util.h"

#define HASH_MIB (1024 * 1024)

typedef struct {
	uint64_t h1, h2;
	uint8_t tail[16];
	size_t ntail;
	uint64_t len;
} hash_mm3;

static const uint64_t mm3_c1 = 0x87c37b91114253d5ULL;
static const uint64_t mm3_c2 = 0x4cf5ad432745937fULL;

static uint64_t mm3_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t mm3_fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static uint64_t mm3_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void mm3_block(hash_mm3 *s, const uint8_t *b)
{
	uint64_t k1 = mm3_le64(b), k2 = mm3_le64(b + 8);

	k1 *= mm3_c1;
	k1 = mm3_rotl(k1, 31);
	k1 *= mm3_c2;
	s->h1 ^= k1;
	s->h1 = mm3_rotl(s->h1, 27);
	s->h1 += s->h2;
	s->h1 = s->h1 * 5 + 0x52dce729;
	k2 *= mm3_c2;
	k2 = mm3_rotl(k2, 33);
	k2 *= mm3_c1;
	s->h2 ^= k2;
	s->h2 = mm3_rotl(s->h2, 31);
	s->h2 += s->h1;
	s->h2 = s->h2 * 5 + 0x38495ab5;
}

static void mm3_init(hash_mm3 *s)
{
	memset(s, 0, sizeof *s); /* seed 0 */
}

/* Streaming: feeding the input in any pieces gives the one-shot hash. */
static void mm3_update(hash_mm3 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->len += len;
	if (s->ntail > 0) {
		size_t take = 16 - s->ntail < len ? 16 - s->ntail : len;

		memcpy(s->tail + s->ntail, p, take);
		s->ntail += take;
		p += take;
		len -= take;
		if (s->ntail < 16)
			return;
		mm3_block(s, s->tail);
		s->ntail = 0;
	}
	for (; len >= 16; p += 16, len -= 16)
		mm3_block(s, p);
	memcpy(s->tail, p, len);
	s->ntail = len;
}

static void mm3_final(hash_mm3 *s, uint8_t out[HASH_SIZE])
{
	uint64_t k1 = 0, k2 = 0, h1 = s->h1, h2 = s->h2;
	const uint8_t *t = s->tail;
	size_t i;

	/* The 0..15 trailing bytes: bytes 8.. go to k2, bytes 0..7 to k1. */
	for (i = s->ntail; i > 8; i--)
		k2 ^= (uint64_t)t[i - 1] << (8 * (i - 9));
	if (s->ntail > 8) {
		k2 *= mm3_c2;
		k2 = mm3_rotl(k2, 33);
		k2 *= mm3_c1;
		h2 ^= k2;
	}
	for (i = s->ntail < 8 ? s->ntail : 8; i > 0; i--)
		k1 ^= (uint64_t)t[i - 1] << (8 * (i - 1));
	if (s->ntail > 0) {
		k1 *= mm3_c1;
		k1 = mm3_rotl(k1, 31);
		k1 *= mm3_c2;
		h1 ^= k1;
	}
	h1 ^= s->len;
	h2 ^= s->len;
	h1 += h2;
	h2 += h1;
	h1 = mm3_fmix(h1);
	h2 = mm3_fmix(h2);
	h1 += h2;
	h2 += h1;
	for (i = 0; i < 8; i++) {
		out[i] = (uint8_t)(h1 >> (8 * i));
		out[8 + i] = (uint8_t)(h2 >> (8 * i));
	}
}

void hash_bytes(const void *data, size_t len, uint8_t hash[HASH_SIZE])
{
	hash_mm3 s;

	mm3_init(&s);
	mm3_update(&s, data, len);
	mm3_final(&s, hash);
}

void hash_hex(const uint8_t hash[HASH_SIZE], char out[2 * HASH_SIZE + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < HASH_SIZE; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[2 * HASH_SIZE] = '\0';
}

/* Hash len bytes of fd from off, through buf [HASH_MIB]. */
static int hash_range(int fd, int64_t off, int64_t len, uint8_t *buf, hash_mm3 *s)
{
	while (len > 0) {
		size_t want = len < HASH_MIB ? (size_t)len : HASH_MIB;
		ssize_t got = pread(fd, buf, want, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0) {
			errno = EIO; /* shrank while we read */
			return -1;
		}
		mm3_update(s, buf, (size_t)got);
		off += got;
		len -= got;
	}
	return 0;
}

int hash_file(const char *path, uint8_t hash[HASH_SIZE], int64_t *size,
    char **cause)
{
	const int64_t sample = HASH_MIB;
	struct stat st;
	hash_mm3 s;
	uint8_t head[8], *buf = NULL;
	int64_t n;
	int fd, rc = -1, i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path),
		    S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		goto out;
	}
	n = (int64_t)st.st_size;
	buf = malloc(HASH_MIB);
	if (buf == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto out;
	}
	mm3_init(&s);
	for (i = 0; i < 8; i++)
		head[i] = (uint8_t)((uint64_t)n >> (8 * i));
	mm3_update(&s, head, sizeof head);
	if (n <= 3 * sample) {
		if (hash_range(fd, 0, n, buf, &s) != 0)
			goto read_error;
	} else {
		if (hash_range(fd, 0, sample, buf, &s) != 0 ||
		    hash_range(fd, n / 2 - sample / 2, sample, buf, &s) != 0 ||
		    hash_range(fd, n - sample, sample, buf, &s) != 0)
			goto read_error;
	}
	mm3_final(&s, hash);
	if (size != NULL)
		*size = n;
	rc = 0;
	goto out;
read_error:
	util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
out:
	free(buf);
	close(fd);
	return rc;
}
