/*
 * bench-library — the synthetic index every benchmark that needs a large
 * library opens: n videos of random frame embeddings (frames share a
 * per-video offset, as CLIP features do) recorded through core/heads, so
 * they hold exactly what the indexer would store for the model.
 */
#ifndef CLIPGREP_BENCH_LIBRARY_H
#define CLIPGREP_BENCH_LIBRARY_H

#include <stdint.h>

typedef struct {
	const char *model_path;
	int videos;              /* n */
	const char *dir;         /* under $TMPDIR: "clipgrep-bench-index" */
	const char *file;        /* the database: "<dir>/<file>-<n>.db" */
	const char *who;         /* "bench index", for messages */
	const char *video_dir;   /* the stored paths: "<video_dir>/video-%06d.mp4" */
	uint64_t seed;           /* of the xorshift embeddings */
	double frame_step, frame_first; /* frame f's time: first + step * f */
	uint8_t hash_tag;        /* byte 3 of each video's content hash */
	int frames_tensor;       /* store HEADS_KIND_FRAMES too (not only the caches) */
	int thumbs;              /* PNG thumbnails (a dozen small pictures, shared) */
} bench_library_options;

/*
 * The database's path (free it), built when missing or when it lacks the
 * model or holds another number of videos; NULL after printing why.
 */
char *bench_library_db(const bench_library_options *o);

/* $TMPDIR, or /tmp. */
const char *bench_library_tmp(void);

#endif
