/*
 * sha256 — SHA-256 (FIPS 180-4), to check a downloaded model file against
 * the digest pinned in the source before anything uses it.  Unlike hash.h's
 * content hash this one resists deliberate collisions; it is slower and
 * reads the whole file.
 */
#ifndef CLIPGREP_SHA256_H
#define CLIPGREP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32

typedef struct {
	uint32_t h[8];
	uint64_t bytes;          /* total fed so far */
	unsigned char block[64]; /* a partial block */
	size_t fill;             /* bytes in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* The digest; c must be initialised again before reuse. */
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_SIZE]);
/* One call over len bytes. */
void sha256_bytes(const void *data, size_t len, uint8_t out[SHA256_SIZE]);
/* The digest of the file at path; -1 with *cause naming it and the reason. */
int sha256_file(const char *path, uint8_t out[SHA256_SIZE], char **cause);
/* 64 lowercase hex digits and a NUL. */
void sha256_hex(const uint8_t d[SHA256_SIZE], char out[2 * SHA256_SIZE + 1]);

#endif
