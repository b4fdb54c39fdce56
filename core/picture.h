/*
 * picture — still pictures: writing an RGB image as a PNG file through
 * FFmpeg's encoder.  (Reading a still image stays video_read_image: it is
 * the first frame of a one-frame video, decoded by video.c's reader with
 * its path checks, size and time limits and colour conversion.)
 *
 * Threads: safe to call from any thread.
 */
#ifndef CLIPGREP_PICTURE_H
#define CLIPGREP_PICTURE_H

#include <stdint.h>

/*
 * Write rgb [height, width, 3] as a PNG file (via FFmpeg's PNG encoder;
 * written to a temporary name, then renamed).  0, or -1 and a cause.
 */
int picture_write_png(const char *path, const uint8_t *rgb, int width, int height, char **cause);

#endif
