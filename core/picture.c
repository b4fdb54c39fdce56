/*
 * picture — still pictures in and out through FFmpeg (see picture.h).
 * libav* lives here (still pictures), in core/video.c (moving
 * pictures) and in core/ffmpeg.c, whose table every call goes through.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffmpeg.h"
#include "picture.h"
#include "util.h"
#include "video.h"

/* The largest side written; the same bound video.c puts on a frame. */
#define PICTURE_MAX_SIDE 32768

static void picture_av_cause(char **cause, const char *path, const char *what, int err)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];

	ffmpeg.av_strerror(err, buf, sizeof buf);
	util_set_cause(cause, "%s: %s (%s)", UTIL_NAME(path), what, buf);
}

int picture_write_png(const char *path, const uint8_t *rgb, int width, int height, char **cause)
{
	const AVCodec *codec;
	AVCodecContext *enc = NULL;
	AVFrame *f = NULL;
	AVPacket *pkt = NULL;
	char *tmp = NULL;
	FILE *fp = NULL;
	int ret, rc = -1;

	if (video_init(cause) == -1) {
		util_prefix_cause(cause, "%s", UTIL_NAME(path));
		return -1;
	}
	if (width <= 0 || height <= 0 || width > PICTURE_MAX_SIDE || height > PICTURE_MAX_SIDE) {
		util_set_cause(cause, "%s: bad image size %dx%d", UTIL_NAME(path), width, height);
		return -1;
	}
	codec = ffmpeg.avcodec_find_encoder(AV_CODEC_ID_PNG);
	if (codec == NULL) {
		util_set_cause(cause, "%s: this FFmpeg has no PNG encoder", UTIL_NAME(path));
		return -1;
	}
	enc = ffmpeg.avcodec_alloc_context3(codec);
	f = ffmpeg.av_frame_alloc();
	pkt = ffmpeg.av_packet_alloc();
	tmp = malloc(strlen(path) + 8);
	if (enc == NULL || f == NULL || pkt == NULL || tmp == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto out;
	}
	enc->width = width;
	enc->height = height;
	enc->pix_fmt = AV_PIX_FMT_RGB24;
	enc->time_base = (AVRational){ 1, 25 };
	ret = ffmpeg.avcodec_open2(enc, codec, NULL);
	if (ret < 0) {
		picture_av_cause(cause, path, "cannot open the PNG encoder", ret);
		goto out;
	}
	f->format = AV_PIX_FMT_RGB24;
	f->width = width;
	f->height = height;
	ret = ffmpeg.av_frame_get_buffer(f, 0);
	if (ret < 0) {
		picture_av_cause(cause, path, "cannot allocate the image", ret);
		goto out;
	}
	for (int y = 0; y < height; y++)
		memcpy(f->data[0] + (size_t)y * f->linesize[0], rgb + (size_t)y * width * 3,
		    (size_t)width * 3);
	ret = ffmpeg.avcodec_send_frame(enc, f);
	if (ret >= 0)
		ret = ffmpeg.avcodec_receive_packet(enc, pkt);
	if (ret < 0) {
		picture_av_cause(cause, path, "cannot encode the PNG", ret);
		goto out;
	}
	/* A temporary name, then rename: readers never see half a file. */
	snprintf(tmp, strlen(path) + 8, "%s.tmp", path);
	fp = fopen(tmp, "wb");
	if (fp == NULL) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(tmp), strerror(errno));
		goto out;
	}
	if (fwrite(pkt->data, 1, (size_t)pkt->size, fp) != (size_t)pkt->size || fflush(fp) != 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(tmp), strerror(errno));
		fclose(fp);
		remove(tmp);
		goto out;
	}
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		remove(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	ffmpeg.av_packet_free(&pkt);
	ffmpeg.av_frame_free(&f);
	ffmpeg.avcodec_free_context(&enc);
	return rc;
}
