/*
 * walk — find the video files under a directory for the indexer.
 *
 * The order is deterministic: depth first, each directory's entries sorted
 * by their bytes (strcmp, not the locale), files and subdirectories
 * interleaved in that order.  Symbolic links are followed: a link to a file
 * is reported like the file; directories reached through links are walked
 * after the real tree, in the order their links were met.  A directory is
 * walked once however many paths lead to it (a set of device/inode pairs),
 * so link loops end, a linked-in tree is not listed twice, and a file
 * inside the root is reported under its real path, not through a link.
 * Only regular files are reported; unreadable directories and broken links
 * are passed to the error callback and skipped.
 *
 * Sharding (clipgrep index --shard I/N): a file belongs to shard
 *     splitmix64(fnv1a64(rel)) mod N
 * where rel is its path relative to the walked root (no leading "./" or
 * "/", components joined by '/'), fnv1a64 is 64-bit FNV-1a over rel's
 * bytes and splitmix64 is the SplitMix64 finaliser (to spread FNV's low
 * bits).  The slice depends only on rel and N, so N machines that mount the
 * same tree in different places each take a disjoint slice and together
 * every file exactly once.
 */
#ifndef CLIPGREP_WALK_H
#define CLIPGREP_WALK_H

#include <stdint.h>
#include <sys/stat.h>

/* A problem with one path (unreadable directory, broken link); the walk goes on. */
typedef void (*walk_error_fn)(void *arg, const char *path, const char *reason);

/*
 * One file: path is the root joined with rel; st is stat(2) of the file
 * (links followed).  Both strings are valid during the call only.  Return 0
 * to go on; anything else stops the walk and is returned by walk_tree.
 */
typedef int (*walk_file_fn)(void *arg, const char *path, const char *rel,
    const struct stat *st);

typedef struct {
	int hidden;                  /* also names starting with '.' (the root always counts) */
	int all_files;               /* every regular file, not only video extensions */
	const char *const *exclude;  /* NULL-terminated fnmatch(3) patterns, or NULL: a
	                                pattern with a '/' is matched against rel, one
	                                without against the name; a matching directory
	                                is not entered */
	int shard_index;             /* I, 0 <= I < N */
	int shard_count;             /* N; 0 or 1: no sharding */
	walk_error_fn on_error;      /* NULL: problems are skipped silently */
	void *error_arg;
} walk_options;

/* Defaults: videos only, no hidden files, no excludes, no sharding. */
void walk_options_init(walk_options *opt);

/*
 * Walk root (a directory, or one file, which is reported whatever its
 * extension, with rel = its name).  Returns 0 when done, fn's non-zero
 * value when it stopped the walk, or -1 with a cause naming root when root
 * itself cannot be read.
 */
int walk_tree(const char *root, const walk_options *opt, walk_file_fn fn, void *arg,
    char **cause);

/*
 * Whether name ends in a video extension (case-insensitive): mp4 mkv webm
 * avi mov m4v mpg mpeg wmv flv ts mts m2ts 3gp ogv.
 */
int walk_is_video_name(const char *name);

/* The shard (0 .. count-1) of a relative path; 0 when count <= 1. */
int walk_shard_of(const char *rel, int count);

#endif
