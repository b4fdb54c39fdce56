/*
 * cachefile — the search cache file: a search library's arrays (core/search)
 * as one checksummed file that a later process maps and searches in place,
 * instead of reading every video's blobs through SQLite and copying them.
 *
 * The index stays the source of truth.  A cache file is derived from it at
 * one change stamp (index_change_stamp) for one pair of models, and is used
 * only while the index still reads that stamp and the file is whole: its
 * size, a header checksum and one checksum per array are checked on every
 * open, so a truncated, torn or altered file is refused (and rebuilt by the
 * caller) rather than searched.  Files are written under a temporary name
 * and renamed over the old one, so a reader maps either the old file or the
 * new one, never half of each; a process that has the old one mapped keeps
 * it (its inode) until it closes it.  (A file altered in place while mapped
 * would change under a running search: clipgrep never writes one in place.)
 *
 * A file made at another change stamp is still whole: its records whose
 * video's tensor stamp (index_tensor_stamps) has not changed can be kept,
 * so that a few changed videos cost a few reads, not the whole library.
 *
 * Layout (host order, little-endian; every array starts on a 4 KB page):
 *   header (4096 bytes) | ids [n] int64 | damaged [n_damaged] int64 |
 *   kc [n, kc_width] f32 | tx [n, tx_width] f32 | eb [n, ea_width] f32 |
 *   e16 [n, e16_width] bf16 | stamps [n] int64
 */
#ifndef CLIPGREP_CACHEFILE_H
#define CLIPGREP_CACHEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "search.h"

/* What a file must have been made for to be used. */
typedef struct {
	int64_t stamp;        /* the index's change stamp */
	int64_t model_ids[2]; /* the TC-MGC and EA heads' models in the index (0: none) */
} cachefile_key;

typedef struct cachefile cachefile;

/*
 * The cache file of index_path for the pair of models (their ids in the
 * index, 0 for none): "<index>.search-T-E" (free it), or NULL without memory.
 */
char *cachefile_path(const char *index_path, int64_t tcmgc_model, int64_t ea_model);
/*
 * The cache files beside index_path, whatever their models (regular files
 * only; writers' temporary files left out), sorted: *n paths in *paths
 * (free each and the array).  0, or -1 without memory.
 */
int cachefile_list(const char *index_path, char ***paths, size_t *n);

/* What a file keeps beside the library's arrays. */
typedef struct {
	const int64_t *damaged;  /* [n_damaged] videos left out as damaged, ascending */
	size_t n_damaged;
	const int64_t *stamps;   /* [n] each record's video's tensor stamp */
} cachefile_extras;

/*
 * Map path and check it against key's models and the library's widths
 * (taken from want: its n and pointers are ignored).  The file's arrays go
 * to *out and *extras, pointing into the mapping, valid until
 * cachefile_close; *current says whether it was made at key's change stamp.
 * NULL when the file is missing, made for other models or shapes
 * ("stale") or damaged ("truncated", "checksum mismatch in kc", ...),
 * with *why saying which when why is not NULL: the caller then rebuilds it.
 */
cachefile *cachefile_open(const char *path, const cachefile_key *key,
    const search_lib_arrays *want, search_lib_arrays *out, cachefile_extras *extras,
    int *current, char **why);
/*
 * What a file was made for, read from its header alone (checked, but not
 * the arrays): *key, and in *shape its record count and widths (no
 * pointers).  0, or -1 with *why as cachefile_open gives.
 */
int cachefile_peek(const char *path, cachefile_key *key, search_lib_arrays *shape,
    char **why);
/* Unmap (a search_lib_adopt release function); safe on NULL. */
void cachefile_close(void *f);

/*
 * Write a's arrays and the extras for key to path, through
 * "<path>.tmp-<pid>" and a rename.  0, or -1 with *cause (nothing is left
 * behind).  Temporary files of writers that died are removed first.
 */
int cachefile_write(const char *path, const cachefile_key *key, const search_lib_arrays *a,
    const cachefile_extras *extras, char **cause);

/*
 * Recompute the checksums of a file image in memory as the writer would,
 * for the arrays whose header offsets lie inside it, and the header's: for
 * the fuzz target, so that its mutations reach the checks behind them.
 */
void cachefile_seal(unsigned char *image, size_t size);

/*
 * The checksum the file keeps of each array: a Fletcher-style sum of the
 * 32-bit words in eight lanes (order-sensitive, at memory speed).  Exposed
 * for the tests.
 */
uint64_t cachefile_sum(const void *data, size_t bytes);
/* The same without SIMD (what a CPU without AVX2 runs; for the tests). */
uint64_t cachefile_sum_portable(const void *data, size_t bytes);

#endif
