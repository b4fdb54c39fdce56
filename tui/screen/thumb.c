/*
 * thumb — stored thumbnails decoded to RGB, and their cache.
 */
#define _GNU_SOURCE /* memfd_create */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "thumb.h"
#include "util.h"
#include "video.h"

uint8_t *thumb_decode(const uint8_t *bytes, size_t n, int *w, int *h, char **cause)
{
	char path[64];
	uint8_t *rgb;
	int fd;
	int unlink_after = 0;

	/*
	 * core/video decodes files by name; an anonymous memory file has one
	 * (/proc/self/fd/N) and never touches the disk.
	 */
#ifdef MFD_CLOEXEC
	fd = memfd_create("clipgrep-thumb", MFD_CLOEXEC);
	if (fd >= 0)
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	else
#endif
	{
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof path, "%s/clipgrep-thumb-XXXXXX",
		    tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
		fd = mkstemp(path);
		unlink_after = 1;
	}
	if (fd < 0) {
		util_set_cause(cause, "thumbnail: cannot make a temporary file: %s", strerror(errno));
		return NULL;
	}
	if (util_write_all(fd, bytes, n) == -1) {
		util_set_cause(cause, "thumbnail: %s", strerror(errno));
		rgb = NULL;
	} else {
		rgb = video_read_image(path, w, h, cause);
	}
	if (unlink_after)
		unlink(path);
	close(fd);
	return rgb;
}

void thumb_set_free(thumb_set *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n && s->rgb != NULL; i++)
		free(s->rgb[i]);
	free(s->rgb);
	free(s->times);
	free(s->w);
	free(s->h);
	free(s);
}

thumb_set *thumb_set_new(int64_t video_id, int n)
{
	thumb_set *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->video_id = video_id;
	s->n = n;
	s->times = calloc((size_t)n + 1, sizeof *s->times);
	s->rgb = calloc((size_t)n + 1, sizeof *s->rgb);
	s->w = calloc((size_t)n + 1, sizeof *s->w);
	s->h = calloc((size_t)n + 1, sizeof *s->h);
	if (s->times == NULL || s->rgb == NULL || s->w == NULL || s->h == NULL) {
		thumb_set_free(s);
		return NULL;
	}
	return s;
}

void thumb_set_decode(thumb_set *s, int i, const index_frame *fr)
{
	if (i < 0 || i >= s->n)
		return;
	s->times[i] = fr->time;
	free(s->rgb[i]);
	s->rgb[i] = NULL;
	if (fr->thumb != NULL && fr->thumb_size > 0) {
		char *cause = NULL;
		s->rgb[i] = thumb_decode(fr->thumb, fr->thumb_size, &s->w[i], &s->h[i], &cause);
		free(cause); /* a bad thumbnail is drawn as a gap */
	}
}

struct thumb_cache {
	int capacity;
	thumb_set **sets; /* [capacity] */
	uint64_t *used;   /* [capacity] LRU clock */
	uint64_t clock;
};

thumb_cache *thumb_cache_new(int capacity)
{
	thumb_cache *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->capacity = capacity > 0 ? capacity : 1;
	c->sets = calloc((size_t)c->capacity, sizeof *c->sets);
	c->used = calloc((size_t)c->capacity, sizeof *c->used);
	if (c->sets == NULL || c->used == NULL) {
		thumb_cache_free(c);
		return NULL;
	}
	return c;
}

void thumb_cache_clear(thumb_cache *c)
{
	for (int i = 0; i < c->capacity; i++) {
		thumb_set_free(c->sets[i]);
		c->sets[i] = NULL;
	}
}

void thumb_cache_free(thumb_cache *c)
{
	if (c == NULL)
		return;
	if (c->sets != NULL)
		thumb_cache_clear(c);
	free(c->sets);
	free(c->used);
	free(c);
}

const thumb_set *thumb_cache_get(thumb_cache *c, int64_t video_id)
{
	for (int i = 0; i < c->capacity; i++)
		if (c->sets[i] != NULL && c->sets[i]->video_id == video_id) {
			c->used[i] = ++c->clock;
			return c->sets[i];
		}
	return NULL;
}

void thumb_cache_put(thumb_cache *c, thumb_set *s)
{
	int slot = -1;

	for (int i = 0; i < c->capacity; i++)
		if (c->sets[i] != NULL && c->sets[i]->video_id == s->video_id) {
			slot = i;
			break;
		}
	if (slot < 0)
		for (int i = 0; i < c->capacity; i++)
			if (c->sets[i] == NULL) {
				slot = i;
				break;
			}
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < c->capacity; i++)
			if (c->used[i] < c->used[slot])
				slot = i;
	}
	thumb_set_free(c->sets[slot]);
	c->sets[slot] = s;
	c->used[slot] = ++c->clock;
}
