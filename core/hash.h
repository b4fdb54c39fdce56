/*
 * hash — content hashes: MurmurHash3 x64-128 of bytes, and the sampled
 * file hash that is the identity of a model file or a video (model caches,
 * moved/copied-file detection, index merge).  Not cryptographic: it tells
 * files apart, it does not resist someone making two collide.
 *
 * Threads: every function is safe to call from any thread.
 */
#ifndef CLIPGREP_HASH_H
#define CLIPGREP_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Bytes in a content hash (hash_file, hash_bytes). */
#define HASH_SIZE 16

/*
 * Content hash, used to recognise a moved or copied file without decoding
 * it: MurmurHash3 x64-128 (seed 0) over
 *     the size as 8 little-endian bytes,
 *     then the whole file if it is at most 3 MiB, else three 1 MiB
 *     samples: [0, 1 MiB), [size/2 - 512 KiB, size/2 + 512 KiB),
 *     [size - 1 MiB, size).
 * Stored as h1 then h2, each little-endian (16 bytes).  Reads at most
 * 3 MiB whatever the size.  Two files that agree in size and in all three
 * samples get the same hash; for video and model files that differ in
 * content this is vanishingly rare in practice.  *size (may be NULL) gets
 * the file's size.  Returns 0, or -1 with *cause naming path and the reason.
 */
int hash_file(const char *path, uint8_t hash[HASH_SIZE], int64_t *size, char **cause);
/* MurmurHash3 x64-128 of len bytes, in the same byte order as hash_file. */
void hash_bytes(const void *data, size_t len, uint8_t hash[HASH_SIZE]);
/* 32 lowercase hex digits and a NUL. */
void hash_hex(const uint8_t hash[HASH_SIZE], char out[2 * HASH_SIZE + 1]);

#endif
