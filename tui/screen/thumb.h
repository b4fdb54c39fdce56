/*
 * thumb — a video's stored frame thumbnails (JPEG bytes in the index)
 * decoded to RGB for the screen, and a small cache of them per video.
 * Thumbnails always come from the index, never from decoding the video.
 */
#ifndef CLIPGREP_THUMB_H
#define CLIPGREP_THUMB_H

#include <stddef.h>
#include <stdint.h>

#include "index.h"

typedef struct {
	int64_t video_id;
	int n;          /* stored frames */
	double *times;  /* [n] seconds */
	uint8_t **rgb;  /* [n] each [h, w, 3], NULL where a thumbnail is missing or bad */
	int *w, *h;     /* [n] */
} thumb_set;

/*
 * Decode one stored thumbnail (JPEG or PNG bytes) to rgb [h, w, 3]
 * (free()).  Uses core/video's still-image decoder through an anonymous
 * in-memory file.  NULL with *cause on failure.
 */
uint8_t *thumb_decode(const uint8_t *bytes, size_t n, int *w, int *h, char **cause);

/*
 * An empty set of n frames (no pictures yet); thumb_set_decode fills frame
 * i from a stored frame (index_get_frames / engine_get_frames).
 */
thumb_set *thumb_set_new(int64_t video_id, int n);
void thumb_set_decode(thumb_set *s, int i, const index_frame *fr);
void thumb_set_free(thumb_set *s);

/* A least-recently-used cache of decoded sets, owning them. */
typedef struct thumb_cache thumb_cache;
thumb_cache *thumb_cache_new(int capacity);
void thumb_cache_free(thumb_cache *c);
/* The set of video_id, or NULL; marks it used. */
const thumb_set *thumb_cache_get(thumb_cache *c, int64_t video_id);
/* Take ownership of s (replacing an older set of the same video). */
void thumb_cache_put(thumb_cache *c, thumb_set *s);
/* Drop everything (the index changed under us). */
void thumb_cache_clear(thumb_cache *c);

#endif
