/*
 * test-video — core/video on videos generated at test time with the
 * ffmpeg CLI ($FFMPEG; the whole program skips when it is unset), and on
 * ../shared/data/videos when present (else stand-ins of the same shape).
 *
 * Which frame was decoded is checked from the pixels, not trusted: frame N
 * of a generated clip is a flat grey with luma 20 + 6 * (N mod 30), so the
 * preprocessed output names its own frame index (limited range: RGB =
 * (Y - 16) * 255 / 219; full-range codecs must give the same RGB).  Each
 * sampled frame must be exactly the one on screen at its target (the last
 * with pts <= t), and its reported time must be that frame's pts.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tap.h"
#include "video.h"

#define S 32 /* model input size for the tests: small and fast */

static const char *ffmpeg;
static char dir[256];
static char encoders[65536];

/* ---- helpers -------------------------------------------------------------- */

static const char *tmp_path(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
	return b;
}

/* Run ffmpeg with args (shell syntax) writing dir/out; 0 on success. */
static int gen(const char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gen(const char *out, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "'%s' -nostdin -hide_banner -v error -y %s '%s' </dev/null", ffmpeg,
	    args, tmp_path(out));
	return system(cmd) == 0 ? 0 : -1;
}

static int has_encoder(const char *name)
{
	char needle[64];

	snprintf(needle, sizeof needle, " %s ", name);
	return strstr(encoders, needle) != NULL;
}

static void load_encoders(void)
{
	char cmd[512];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof cmd, "'%s' -hide_banner -encoders 2>/dev/null", ffmpeg);
	p = popen(cmd, "r");
	if (p == NULL)
		return;
	n = fread(encoders, 1, sizeof encoders - 1, p);
	encoders[n] = '\0';
	pclose(p);
}

/* The grey-level frame counter: lavfi source of n frames at rate r. */
static const char *counter_src(int w, int h, const char *rate, double seconds)
{
	static char buf[256];

	snprintf(buf, sizeof buf,
	    "-f lavfi -i \"color=black:s=%dx%d:r=%s:d=%g,format=yuv420p,"
	    "geq=lum='20+6*mod(N\\,30)':cb=128:cr=128\"",
	    w, h, rate, seconds);
	return buf;
}

/* Mean of channel c over an S x S RGB frame. */
static double mean_channel(const uint8_t *rgb, int size, int c)
{
	double sum = 0;

	for (int i = 0; i < size * size; i++)
		sum += rgb[i * 3 + c];
	return sum / (size * size);
}

/* Frame counter (mod 30) shown by a preprocessed frame, -1 if not flat grey. */
static int frame_counter(const uint8_t *rgb, int size)
{
	double r = mean_channel(rgb, size, 0), g = mean_channel(rgb, size, 1);
	double y = r * 219.0 / 255.0 + 16.0;

	if (fabs(r - g) > 4)
		return -1;
	return (int)lrint((y - 20.0) / 6.0);
}

static video_options test_options(void)
{
	video_options o;

	video_options_init(&o);
	o.size = S;
	o.want_rgb = 1;
	o.want_float = 1;
	o.thumb_width = 48;
	o.threads = 2;
	return o;
}

static video_frames *sample(const char *name, int F, char **cause)
{
	video_options o = test_options();
	return video_sample(tmp_path(name), &o, F, cause);
}

/*
 * Every frame of f is the one on screen at its target for a clip whose
 * frame k has pts pts_of(k) seconds and counter k mod 30.
 */
static int check_exact(const video_frames *f, int nframes, double (*pts_of)(int, double),
    double arg, const char *what)
{
	int ok = 1;

	for (int i = 0; i < f->requested && ok; i++) {
		int want = 0, j = f->frame_of[i];
		double t = f->targets[i];

		while (want + 1 < nframes && pts_of(want + 1, arg) <= t + 1e-9)
			want++;
		if (j < 0 || j >= f->count) {
			tap_diag("%s: target %d maps to no frame", what, i);
			ok = 0;
			break;
		}
		if (frame_counter(f->rgb + (size_t)j * S * S * 3, S) != want % 30 ||
		    fabs(f->times[j] - pts_of(want, arg)) > 1e-3) {
			tap_diag("%s: target %d at %.4f s: got counter %d at %.4f s, want frame %d at %.4f s",
			    what, i, t, frame_counter(f->rgb + (size_t)j * S * S * 3, S), f->times[j], want,
			    pts_of(want, arg));
			ok = 0;
		}
	}
	return ok;
}

static double pts_cfr(int k, double fps)
{
	return k / fps;
}

/*
 * The pts of every frame of a file as the ffmpeg CLI decodes it (framemd5,
 * in the demuxer's time base): the reference for variable frame rates.
 */
static double cli_pts[256];

static int cli_pts_table(const char *name)
{
	char cmd[1024], line[512];
	long num = 0, den = 0;
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof cmd,
	    "'%s' -nostdin -v error -i '%s' -fps_mode passthrough -enc_time_base -1 -f framemd5 - "
	    "</dev/null 2>/dev/null",
	    ffmpeg, tmp_path(name));
	p = popen(cmd, "r");
	if (p == NULL)
		return 0;
	while (fgets(line, sizeof line, p) != NULL) {
		long long stream, dts, pts;
		if (sscanf(line, "#tb 0: %ld/%ld", &num, &den) == 2)
			continue;
		if (line[0] != '#' && den > 0 && n < 256 &&
		    sscanf(line, "%lld, %lld, %lld", &stream, &dts, &pts) == 3)
			cli_pts[n++] = (double)pts * num / den;
	}
	pclose(p);
	return n;
}

static double pts_table(int k, double unused)
{
	(void)unused;
	return cli_pts[k];
}

static int contains(const char *s, const char *needle)
{
	return s != NULL && strstr(s, needle) != NULL;
}

/* ---- generated clips: codecs, containers, exact sampling ------------------------- */

typedef struct {
	const char *file;
	const char *encoder; /* must be listed by ffmpeg -encoders */
	const char *args;    /* codec arguments */
} codec_case;

static void test_codecs(void)
{
	/* 30 frames at 10 fps, a keyframe every 8: several GOPs, B-frames where the codec has them. */
	static const codec_case cases[] = {
		{ "h264.mp4", "libx264", "-c:v libx264 -preset veryfast -qp 0 -g 8 -bf 2" },
		{ "h264.mkv", "libx264", "-c:v libx264 -preset veryfast -qp 0 -g 8 -bf 2" },
		{ "h264.mov", "libx264", "-c:v libx264 -preset veryfast -qp 0 -g 8" },
		{ "hevc.mkv", "libx265", "-c:v libx265 -preset ultrafast -x265-params log-level=none:lossless=1:keyint=8" },
		{ "hevc.mp4", "libx265", "-c:v libx265 -preset ultrafast -x265-params log-level=none:lossless=1:keyint=8 -tag:v hvc1" },
		{ "vp9.webm", "libvpx-vp9", "-c:v libvpx-vp9 -lossless 1 -deadline realtime -cpu-used 8 -g 8" },
		{ "av1-aom.mkv", "libaom-av1", "-c:v libaom-av1 -aom-params lossless=1 -cpu-used 8 -usage realtime -g 8" },
		{ "av1-svt.mkv", "libsvtav1", "-c:v libsvtav1 -preset 12 -crf 1 -g 8" },
		{ "mpeg4.avi", "mpeg4", "-c:v mpeg4 -q:v 1 -g 8" },
		{ "mpeg4.mp4", "mpeg4", "-c:v mpeg4 -q:v 1 -g 8 -bf 2" },
		{ "mjpeg.mov", "mjpeg", "-c:v mjpeg -q:v 1 -pix_fmt yuvj420p" },
		{ "mjpeg.avi", "mjpeg", "-c:v mjpeg -q:v 1 -pix_fmt yuvj420p" },
		/* MPEG-TS starts at 1.4 s: times count from the file's start. */
		{ "h264.ts", "libx264", "-c:v libx264 -preset veryfast -qp 0 -g 8 -bf 2" },
		/* A raw elementary stream has no timestamps at all: frames are numbered. */
		{ "raw.h264", "libx264", "-c:v libx264 -preset veryfast -qp 0 -g 8 -bf 2 -f h264" },
	};
	int av1_done = 0;

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const codec_case *k = &cases[c];
		video_frames *f;
		char *cause = NULL;

		if (strncmp(k->file, "av1", 3) == 0 && av1_done)
			continue;
		if (!has_encoder(k->encoder)) {
			char why[128];
			snprintf(why, sizeof why, "%s: no %s encoder in this ffmpeg", k->file, k->encoder);
			tap_skip(why);
			continue;
		}
		if (gen(k->file, "%s %s", counter_src(128, 96, "10", 3.0), k->args) == -1) {
			tap_ok(0, "%s: ffmpeg could not generate it", k->file);
			continue;
		}
		if (strncmp(k->file, "av1", 3) == 0)
			av1_done = 1;
		f = sample(k->file, 12, &cause);
		if (!tap_ok(f != NULL, "%s: sampled (%s)", k->file, cause ? cause : "ok")) {
			free(cause);
			continue;
		}
		tap_ok(f->count == 12 && !f->partial, "%s: 12 distinct frames, not partial (%d, %s)",
		    k->file, f->count, f->note ? f->note : "");
		tap_ok(check_exact(f, 30, pts_cfr, 10.0, k->file),
		    "%s: each frame is the one on screen at its target, with its own pts [%s, %d seeks, %lld decoded]",
		    k->file, f->strategy, f->seeks, (long long)f->decoded);
		video_frames_free(f);
	}
}

/*
 * Long videos (issue 19): segments planned from the duration and the
 * window, snapped to cuts; a file read in chunks of segments with cont
 * gives each target the frame on screen and decodes a one-GOP file once.
 */
static void test_segments(void)
{
	video_segment g[64];
	double cuts[] = { 5.0, 70.0, 200.0 };
	int n, ok;

	n = video_plan_segments(0, 600, 30, NULL, 0, g, 64);
	ok = n == 20;
	for (int i = 0; i < n && ok; i++)
		ok = fabs(g[i].start - 30.0 * i) < 1e-9 && fabs(g[i].end - 30.0 * (i + 1)) < 1e-9;
	tap_ok(ok, "600 s at a 30 s window: 20 segments of 30 s (%d)", n);
	tap_ok(video_plan_segments(0, 31, 30, NULL, 0, g, 64) == 1 &&
	    video_plan_segments(0, 40, 0, NULL, 0, g, 64) == 1 &&
	    video_plan_segments(0, 32, 30, NULL, 0, g, 64) == 2,
	    "31 s at 30 s and any span at window 0: one segment; 32 s: two");
	tap_ok(video_plan_segments(0, 7200, 1, NULL, 0, g, 64) == 64 && fabs(g[63].end - 7200) < 1e-6,
	    "at most max segments, covering the span");
	n = video_plan_segments(0, 120, 30, cuts, 3, g, 64);
	tap_ok(n == 4 && g[1].end == 70 && g[2].start == 70 && g[0].end == 30 && g[3].start == 90,
	    "a cut at 70 s moves the boundary at 60 s there; boundaries far from cuts stay");

	for (int gop = 0; gop < 2; gop++) {
		const char *name = gop ? "seg-gop30.mp4" : "seg-one-gop.mp4";
		video_options o = test_options();
		video_reader *r;
		char *cause = NULL;
		int64_t decoded = 0;
		int seeks = 0, exact = 1;

		if (gen(name, "%s -c:v libx264 -preset ultrafast -qp 0 -g %d -keyint_min %d "
		    "-sc_threshold 0", counter_src(64, 48, "30", 40.0), gop ? 30 : 2000,
		    gop ? 30 : 2000) != 0 || (r = video_open(tmp_path(name), &o,
		    &cause)) == NULL) {
			tap_ok(0, "%s (%s)", name, cause ? cause : "ffmpeg failed");
			free(cause);
			continue;
		}
		n = video_plan_segments(video_get_info(r)->start, video_get_info(r)->duration, 5,
		    NULL, 0, g, 64);
		for (int s = 0; s < n; s += 3) {
			int k = n - s < 3 ? n - s : 3;
			video_frames *f = video_read_segments(r, 6, g + s, k, s > 0,
			    s + k < n ? g[s + k].start : NAN, &cause);
			if (f == NULL) {
				exact = 0;
				tap_diag("%s: chunk at segment %d: %s", name, s, cause ? cause : "?");
				free(cause);
				cause = NULL;
				break;
			}
			exact = exact && check_exact(f, 1200, pts_cfr, 30.0, name);
			decoded += f->decoded;
			seeks += f->seeks;
			video_frames_free(f);
		}
		video_close(r);
		tap_ok(n == 8 && exact, "%s: 8 segments of 5 s read in chunks of 3: every frame exact",
		    name);
		if (!gop)
			tap_ok(seeks == 0 && decoded <= 1200, "%s: one pass, no seek, no frame decoded "
			    "twice (%d seeks, %lld decoded)", name, seeks, (long long)decoded);
		else
			tap_ok(decoded <= 1200, "%s: no more frames decoded than the file has "
			    "(%d seeks, %lld decoded)", name, seeks, (long long)decoded);
	}
}

/*
 * Keyframe sampling: a 10 s clip at 30 fps with a keyframe every second
 * and B-frames; the 4 targets (1.25, 3.75, 6.25, 8.75 s) take the nearest
 * keyframes (1, 4, 6, 9 s: counter 0), at their own times, one keyframe
 * decoded each.  Then segments, and the exact mode's frame skipping:
 * bit-identical frames with and without it.
 */
static void test_keyframe(void)
{
	static const double want[4] = { 1, 4, 6, 9 };
	video_options o = test_options();
	video_frames *f, *g;
	video_reader *r;
	video_segment seg[2] = { { 0, 5 }, { 5, 10 } };
	char *cause = NULL;
	int ok;

	if (gen("key.mp4", "%s -c:v libx264 -preset veryfast -qp 0 -bf 2 -g 30 -keyint_min 30 "
	    "-sc_threshold 0", counter_src(64, 48, "30", 10.0)) != 0) {
		tap_ok(0, "key.mp4: ffmpeg failed");
		return;
	}
	o.sampling = VIDEO_SAMPLING_KEYFRAME;
	f = video_sample(tmp_path("key.mp4"), &o, 4, &cause);
	ok = f != NULL && f->count == 4 && strcmp(f->strategy, "keyframe") == 0;
	for (int i = 0; ok && i < 4; i++) {
		ok = f->frame_of[i] == i && fabs(f->times[i] - want[i]) < 1e-3 &&
		    frame_counter(f->rgb + (size_t)i * S * S * 3, S) == 0;
		if (!ok)
			tap_diag("target %d: frame %d at %.4f s, counter %d", i, f->frame_of[i],
			    f->times[i], frame_counter(f->rgb + (size_t)i * S * S * 3, S));
	}
	tap_ok(ok, "keyframe sampling: the nearest keyframes (1, 4, 6, 9 s) at their own times (%s)",
	    cause ? cause : "ok");
	tap_ok(f != NULL && f->decoded == 4, "keyframe sampling: one decode per target (%lld)",
	    f ? (long long)f->decoded : -1LL);
	video_frames_free(f);
	free(cause);
	cause = NULL;

	/* Segments of 5 s, 3 targets each: 0.83 1 s, 2.5 -> 2 s, 4.17 -> 4 s; 5.83 -> 6, 7.5 -> 7, 9.17 -> 9. */
	r = video_open(tmp_path("key.mp4"), &o, &cause);
	f = r ? video_read_segments(r, 3, seg, 2, 0, NAN, &cause) : NULL;
	ok = f != NULL && f->count == 6;
	for (int i = 0; ok && i < 6; i++) {
		static const double ws[6] = { 1, 2, 4, 6, 7, 9 };
		ok = fabs(f->times[f->frame_of[i]] - ws[i]) < 1e-3;
		if (!ok)
			tap_diag("segment target %d at %.3f s: frame at %.4f s", i, f->targets[i],
			    f->times[f->frame_of[i]]);
	}
	tap_ok(ok, "keyframe sampling with segments: each segment's nearest keyframes (%s)",
	    cause ? cause : "ok");
	video_frames_free(f);
	video_close(r);
	free(cause);
	cause = NULL;

	/*
	 * Keyframe sampling converts each frame on a second thread while the
	 * next one decodes: the same frames, times, pixels and thumbnails as
	 * converting them one after another.
	 */
	o = test_options();
	o.sampling = VIDEO_SAMPLING_KEYFRAME;
	f = video_sample(tmp_path("key.mp4"), &o, 12, &cause);
	o.serial_emit = 1;
	g = video_sample(tmp_path("key.mp4"), &o, 12, &cause);
	ok = f != NULL && g != NULL && f->count == g->count && f->count >= 9 &&
	    memcmp(f->frame_of, g->frame_of, 12 * sizeof *f->frame_of) == 0 &&
	    memcmp(f->times, g->times, (size_t)f->count * sizeof *f->times) == 0 &&
	    memcmp(f->rgb, g->rgb, (size_t)f->count * S * S * 3) == 0 &&
	    memcmp(f->pixels, g->pixels, (size_t)f->count * 3 * S * S * sizeof *f->pixels) == 0 &&
	    f->thumb_height == g->thumb_height;
	for (int i = 0; ok && i < f->count; i++)
		ok = f->thumb_sizes[i] == g->thumb_sizes[i] && f->thumb_sizes[i] > 0 &&
		    memcmp(f->thumbs[i], g->thumbs[i], f->thumb_sizes[i]) == 0;
	tap_ok(ok, "keyframe sampling: converting on a second thread gives the frames, times, "
	    "pixels and thumbnails of one thread (%d frames; %s)", f ? f->count : -1,
	    cause ? cause : "ok");
	video_frames_free(f);
	video_frames_free(g);
	free(cause);
	cause = NULL;

	/* Exact mode: skipping non-reference frames no target shows changes no pixel. */
	o = test_options();
	f = video_sample(tmp_path("key.mp4"), &o, 12, &cause);
	o.no_skip = 1;
	g = video_sample(tmp_path("key.mp4"), &o, 12, &cause);
	ok = f != NULL && g != NULL && f->count == g->count &&
	    memcmp(f->rgb, g->rgb, (size_t)f->count * S * S * 3) == 0 &&
	    memcmp(f->times, g->times, (size_t)f->count * sizeof *f->times) == 0 &&
	    check_exact(f, 300, pts_cfr, 30.0, "key.mp4 exact");
	tap_ok(ok, "exact mode: frames bit-identical with and without skipping (%lld vs %lld decoded)",
	    f ? (long long)f->decoded : -1LL, g ? (long long)g->decoded : -1LL);
	video_frames_free(f);
	video_frames_free(g);
	free(cause);
}

/* Longer clips: the seek strategy, forward decoding within a GOP, the sequential choice. */
static void test_strategies(void)
{
	video_frames *f;
	char *cause = NULL;

	/* 40 s at 30 fps, a keyframe each second: seeking wins. */
	if (gen("long-gop30.mp4", "%s -c:v libx264 -preset ultrafast -qp 0 -g 30",
	        counter_src(64, 48, "30", 40.0)) == 0 &&
	    (f = sample("long-gop30.mp4", 12, &cause)) != NULL) {
		tap_ok(strcmp(f->strategy, "seek") == 0 && f->seeks >= 1 && f->seeks <= 12,
		    "1 s GOPs, 1200 frames: seeks (%s, %d seeks)", f->strategy, f->seeks);
		tap_ok(f->decoded < 12 * 30 + 12 * 4, "and decodes at most about a GOP per target (%lld)",
		    (long long)f->decoded);
		tap_ok(check_exact(f, 1200, pts_cfr, 30.0, "long-gop30.mp4"), "and every frame is exact");
		video_frames_free(f);
	} else {
		tap_ok(0, "long-gop30.mp4 (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
	cause = NULL;

	/* No index (MPEG-TS): seeks found by timestamp search, GOP length learnt while reading. */
	if (gen("long.ts", "%s -c:v libx264 -preset ultrafast -qp 0 -g 30",
	        counter_src(64, 48, "30", 40.0)) == 0 &&
	    (f = sample("long.ts", 12, &cause)) != NULL) {
		tap_ok(check_exact(f, 1200, pts_cfr, 30.0, "long.ts"),
		    "MPEG-TS without an index: every frame exact [%s, %d seeks, %lld decoded]", f->strategy,
		    f->seeks, (long long)f->decoded);
		video_frames_free(f);
	} else {
		tap_ok(0, "long.ts (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
	cause = NULL;

	/* 10 s GOPs, targets 5 s apart: one seek per GOP, the second target reached by decoding on. */
	if (gen("gop300.mp4", "%s -c:v libx264 -preset ultrafast -qp 0 -g 300 -keyint_min 300",
	        counter_src(64, 48, "30", 40.0)) == 0 &&
	    (f = sample("gop300.mp4", 8, &cause)) != NULL) {
		tap_ok(strcmp(f->strategy, "seek") == 0 && f->seeks == 3,
		    "two targets per 10 s GOP: one seek per later GOP, none within a GOP (%s, %d seeks)",
		    f->strategy, f->seeks);
		tap_ok(check_exact(f, 1200, pts_cfr, 30.0, "gop300.mp4"), "and every frame is exact");
		video_frames_free(f);
	} else {
		tap_ok(0, "gop300.mp4 (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
	cause = NULL;

	/* Dense targets in 100-frame GOPs: no new seek while the next target is in reach. */
	if (gen("dense-gop100.mkv", "%s -c:v libx264 -preset ultrafast -qp 0 -g 100 -keyint_min 100",
	        counter_src(64, 48, "30", 20.0)) == 0 &&
	    (f = sample("dense-gop100.mkv", 48, &cause)) != NULL) {
		tap_ok(f->seeks <= 6, "48 targets over 6 GOPs: at most one seek per GOP (%s, %d seeks)",
		    f->strategy, f->seeks);
		tap_ok(f->decoded <= 600 + 8, "and no frame decoded twice (%lld of 600)",
		    (long long)f->decoded);
		tap_ok(check_exact(f, 600, pts_cfr, 30.0, "dense-gop100.mkv"), "and every frame is exact");
		video_frames_free(f);
	} else {
		tap_ok(0, "dense-gop100.mkv (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
	cause = NULL;

	/* One GOP: F x GOP/2 exceeds the frame count, so one sequential pass. */
	if (gen("one-gop.mp4", "%s -c:v libx264 -preset ultrafast -qp 0 -g 1000",
	        counter_src(64, 48, "30", 10.0)) == 0 &&
	    (f = sample("one-gop.mp4", 12, &cause)) != NULL) {
		tap_ok(strcmp(f->strategy, "sequential") == 0 && f->seeks == 0,
		    "a single 300-frame GOP: one sequential pass (%s, %d seeks)", f->strategy, f->seeks);
		tap_ok(check_exact(f, 300, pts_cfr, 30.0, "one-gop.mp4"), "and every frame is exact");
		video_frames_free(f);
	} else {
		tap_ok(0, "one-gop.mp4 (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
}

static void test_vfr(void)
{
	static const char *files[] = { "vfr.mkv", "vfr.mp4" };

	for (int i = 0; i < 2; i++) {
		video_frames *f;
		char *cause = NULL;
		int n, uneven = 0;

		/* Frame times 0.1 s apart, then 0.3 s apart (as the muxer rounds them). */
		if (gen(files[i], "%s -vf \"setpts='if(lt(N,20),N*0.1,2.0+(N-20)*0.3)/TB'\" "
		              "-fps_mode passthrough -c:v libx264 -preset veryfast -qp 0 -g 5",
		        counter_src(64, 48, "10", 3.0)) == -1) {
			tap_ok(0, "%s: ffmpeg could not generate it", files[i]);
			continue;
		}
		n = cli_pts_table(files[i]);
		for (int k = 1; k < n; k++)
			uneven |= fabs((cli_pts[k] - cli_pts[k - 1]) - (cli_pts[1] - cli_pts[0])) > 1e-3;
		if (!tap_ok(n == 30 && uneven, "%s: the ffmpeg CLI decodes 30 unevenly spaced frames (%d)",
		        files[i], n))
			continue;
		f = sample(files[i], 12, &cause);
		if (!tap_ok(f != NULL, "%s: variable frame rate sampled (%s)", files[i],
		        cause ? cause : "ok")) {
			free(cause);
			continue;
		}
		tap_ok(check_exact(f, n, pts_table, 0, files[i]),
		    "%s: each frame is the one on screen at its target (times from the ffmpeg CLI)",
		    files[i]);
		video_frames_free(f);
	}
}

/* A white quadrant at the stored top-left tells where the picture went. */
static int bright_corner(const uint8_t *rgb, int w, int h, size_t stride)
{
	int corner = -1, best = -1;

	for (int c = 0; c < 4; c++) {
		int x = (c & 1) ? w - 1 - w / 8 : w / 8, y = (c & 2) ? h - 1 - h / 8 : h / 8;
		int v = rgb[(size_t)y * stride + (size_t)x * 3];
		if (v > best)
			best = v, corner = c;
	}
	return corner; /* 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right */
}

static void test_rotation(void)
{
	static const int angles[] = { 90, 180, 270 };

	if (gen("quadrant.mp4", "-f lavfi -i \"color=black:s=128x96:r=10:d=1,"
	                        "drawbox=x=0:y=0:w=64:h=48:color=white:t=fill\" "
	                        "-c:v libx264 -preset veryfast -pix_fmt yuv420p") == -1) {
		tap_ok(0, "quadrant.mp4: ffmpeg could not generate it");
		return;
	}
	for (int a = 0; a < 3; a++) {
		char name[64], ppm[64], args[512], *cause = NULL;
		video_options o = test_options();
		video_reader *r;
		video_frames *f;
		int cli_w = 0, cli_h = 0, ours = -1, cli = -1, thumb_w = 0, thumb_h = 0;
		uint8_t *img;

		snprintf(name, sizeof name, "rot%d.mp4", angles[a]);
		snprintf(ppm, sizeof ppm, "rot%d-cli.ppm", angles[a]);
		snprintf(args, sizeof args, "-i '%s' -c copy -metadata:s:v rotate=%d",
		    tmp_path("quadrant.mp4"), angles[a]);
		if (gen(name, "%s", args) == -1 ||
		    gen(ppm, "-i '%s' -frames:v 1 -pix_fmt rgb24", tmp_path(name)) == -1) {
			tap_ok(0, "%s: ffmpeg could not generate it", name);
			continue;
		}
		/* The ffmpeg CLI rotates by the display matrix (autorotate): the reference. */
		img = video_read_image(tmp_path(ppm), &cli_w, &cli_h, NULL);
		if (img != NULL)
			cli = bright_corner(img, cli_w, cli_h, (size_t)cli_w * 3);
		free(img);

		o.size = 0; /* full frame: compare the picture, not a crop */
		r = video_open(tmp_path(name), &o, &cause);
		if (!tap_ok(r != NULL, "%s opens (%s)", name, cause ? cause : "ok")) {
			free(cause);
			continue;
		}
		tap_ok(video_get_info(r)->display_width == cli_w &&
		        video_get_info(r)->display_height == cli_h,
		    "%s: shown %dx%d like the ffmpeg CLI (%dx%d), rotation %d", name,
		    video_get_info(r)->display_width, video_get_info(r)->display_height, cli_w, cli_h,
		    video_get_info(r)->rotation);
		video_close(r);

		o.size = 64;
		o.thumb_width = 48;
		f = video_sample(tmp_path(name), &o, 1, &cause);
		if (f != NULL) {
			/* At S = 64 the 96x128 portrait becomes 64x85, cropped: corners keep their side. */
			ours = bright_corner(f->rgb, 64, 64, 64 * 3);
			if (f->thumbs != NULL && f->thumbs[0] != NULL) {
				FILE *fp = fopen(tmp_path("thumb.jpg"), "wb");
				fwrite(f->thumbs[0], 1, f->thumb_sizes[0], fp);
				fclose(fp);
				free(video_read_image(tmp_path("thumb.jpg"), &thumb_w, &thumb_h, NULL));
			}
		}
		tap_ok(f != NULL && ours == cli && cli >= 0,
		    "%s: the picture is turned as the ffmpeg CLI turns it (corner %d, CLI %d)", name, ours,
		    cli);
		tap_ok(thumb_w == 48 && thumb_h == (cli_h > cli_w ? 64 : 36),
		    "%s: thumbnail is an upright %dx%d JPEG", name, thumb_w, thumb_h);
		video_frames_free(f);
		free(cause);
	}
}

static void test_aspect_and_colour(void)
{
	video_options o = test_options();
	video_frames *f;
	char *cause = NULL;

	/* Anamorphic: 64x96 stored, pixels twice as wide: shown 128x96. */
	if (gen("anamorphic.mkv", "-f lavfi -i \"color=black:s=64x96:r=10:d=1,"
	                          "drawbox=x=0:y=0:w=16:h=96:color=white:t=fill,setsar=2\" "
	                          "-c:v libx264 -preset veryfast -qp 0") == 0) {
		video_reader *r = video_open(tmp_path("anamorphic.mkv"), &o, &cause);
		if (tap_ok(r != NULL, "anamorphic.mkv opens (%s)", cause ? cause : "ok")) {
			const video_info *in = video_get_info(r);
			tap_ok(in->display_width == 128 && in->display_height == 96 && in->sar_num == 2 &&
			        in->sar_den == 1,
			    "sample aspect 2:1: shown %dx%d (SAR %d:%d)", in->display_width,
			    in->display_height, in->sar_num, in->sar_den);
			video_close(r);
		}
		free(cause);
		cause = NULL;
		o.size = 96;
		f = video_sample(tmp_path("anamorphic.mkv"), &o, 1, &cause);
		if (f != NULL) {
			/*
			 * Shown 128x96 -> (S=96) 128x96, crop from column 16: the white
			 * band (display columns 0-31) covers output columns 0-15.  Ignoring
			 * the SAR would give 96x144 and a 24-column band.
			 */
			int white = 0;
			for (int x = 0; x < 96; x++)
				white += f->rgb[(48 * 96 + x) * 3] > 128;
			tap_ok(white >= 15 && white <= 17, "the crop is taken from the display aspect (%d white columns, want 16)", white);
		} else {
			tap_ok(0, "anamorphic.mkv sampled (%s)", cause);
		}
		video_frames_free(f);
		free(cause);
		cause = NULL;
	} else {
		tap_ok(0, "anamorphic.mkv: ffmpeg could not generate it");
	}

	/* 10-bit. */
	o = test_options();
	if (gen("10bit.mkv", "%s -c:v libx264 -preset veryfast -qp 0 -pix_fmt yuv420p10le -g 8",
	        counter_src(64, 48, "10", 3.0)) == 0 ||
	    (has_encoder("libx265") &&
	        gen("10bit.mkv", "%s -c:v libx265 -x265-params log-level=none:lossless=1 -pix_fmt yuv420p10le",
	            counter_src(64, 48, "10", 3.0)) == 0)) {
		video_reader *r = video_open(tmp_path("10bit.mkv"), &o, &cause);
		if (tap_ok(r != NULL, "10-bit opens (%s)", cause ? cause : "ok")) {
			tap_ok(video_get_info(r)->bit_depth == 10, "10-bit: bit depth %d (%s)",
			    video_get_info(r)->bit_depth, video_get_info(r)->pix_fmt);
			f = video_read_frames(r, 12, &cause);
			tap_ok(f != NULL && check_exact(f, 30, pts_cfr, 10.0, "10bit.mkv"),
			    "10-bit: every frame exact and at the right grey level");
			video_frames_free(f);
			video_close(r);
		}
		free(cause);
		cause = NULL;
	} else {
		tap_skip("no 10-bit H.264 or HEVC encoder");
	}

	/* Full range (JPEG) was covered by the MJPEG cases; BT.709 colours: */
	if (gen("red709.mp4", "-f lavfi -i color=red:s=128x96:r=10:d=1 "
	                      "-vf scale=out_color_matrix=bt709:out_range=tv,format=yuv420p "
	                      "-colorspace bt709 -color_primaries bt709 -color_trc bt709 "
	                      "-c:v libx264 -preset veryfast -qp 0") == 0 &&
	    (f = sample("red709.mp4", 1, &cause)) != NULL) {
		double r = mean_channel(f->rgb, S, 0), g = mean_channel(f->rgb, S, 1),
		       b = mean_channel(f->rgb, S, 2);
		tap_ok(r > 249 && g < 6 && b < 6, "BT.709 red decodes to red (%.1f, %.1f, %.1f)", r, g, b);
		video_frames_free(f);
	} else {
		tap_ok(0, "red709.mp4 (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
}

static void test_short(void)
{
	video_frames *f;
	char *cause = NULL;

	if (gen("one-frame.mp4", "%s -frames:v 1 -c:v libx264 -preset veryfast -qp 0",
	        counter_src(64, 48, "10", 1.0)) == 0 &&
	    (f = sample("one-frame.mp4", 12, &cause)) != NULL) {
		int all0 = 1;
		for (int i = 0; i < 12; i++)
			all0 &= f->frame_of[i] == 0;
		tap_ok(f->count == 1 && f->times[0] == 0 && all0 && !f->partial,
		    "a single-frame video: one frame at 0 s, every target on it (%d)", f->count);
		video_frames_free(f);
	} else {
		tap_ok(0, "one-frame.mp4 (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
	cause = NULL;

	if (gen("five.mkv", "%s -c:v libx264 -preset veryfast -qp 0", counter_src(64, 48, "10", 0.5)) ==
	        0 &&
	    (f = sample("five.mkv", 12, &cause)) != NULL) {
		int mono = 1;
		for (int i = 1; i < 12; i++)
			mono &= f->frame_of[i] >= f->frame_of[i - 1];
		tap_ok(f->count == 5 && mono && f->frame_of[11] == 4,
		    "5 frames, F = 12: the 5 frames, each once, targets mapped in order (%d)", f->count);
		tap_ok(check_exact(f, 5, pts_cfr, 10.0, "five.mkv"), "and each is the right one");
		video_frames_free(f);
	} else {
		tap_ok(0, "five.mkv (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
	cause = NULL;

	/* A still image is a one-frame video. */
	if (gen("still.png", "%s -frames:v 1", counter_src(64, 48, "10", 1.0)) == 0 &&
	    (f = sample("still.png", 12, &cause)) != NULL) {
		tap_ok(f->count == 1 && frame_counter(f->rgb, S) == 0, "a PNG gives one frame");
		video_frames_free(f);
	} else {
		tap_ok(0, "still.png (%s)", cause ? cause : "ffmpeg failed");
	}
	free(cause);
}

/*
 * Raw elementary streams carry no duration; for MPEG-1/2 video FFmpeg
 * guesses one from the bit rate (13 ms for a 4 s clip), which sampled one
 * frame.  Tried here: .mpv (mpeg1video, the bit-rate guess), .m2v
 * (mpeg2video), .m4v (mpeg4) and .h264 (no duration at all).
 */
static void test_raw_streams(void)
{
	static const struct {
		const char *file, *encoder, *args;
	} cases[] = {
		{ "raw.mpv", "mpeg1video", "-c:v mpeg1video -f mpeg1video" },
		{ "raw.m2v", "mpeg2video", "-c:v mpeg2video -f mpeg2video" },
		{ "raw.m4v", "mpeg4", "-c:v mpeg4 -f m4v" },
		{ "raw4s.h264", "libx264", "-c:v libx264 -preset veryfast -f h264" },
	};

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		video_options o = test_options();
		const char *file = cases[c].file;
		char *cause = NULL;
		video_reader *r;
		video_frames *f;
		int mono = 1;

		if (!has_encoder(cases[c].encoder)) {
			char why[128];
			snprintf(why, sizeof why, "%s: no %s encoder in this ffmpeg", file,
			    cases[c].encoder);
			tap_skip(why);
			tap_skip(why);
			continue;
		}
		if (gen(file, "-f lavfi -i testsrc2=size=128x96:rate=25 -t 4 %s", cases[c].args) == -1) {
			tap_ok(0, "%s: ffmpeg could not generate it", file);
			tap_skip("no clip to sample");
			continue;
		}
		r = video_open(tmp_path(file), &o, &cause);
		if (!tap_ok(r != NULL && fabs(video_get_info(r)->duration - 4.0) < 0.2,
		    "%s: the duration is found, about 4 s (%.3f s)", file,
		    r != NULL ? video_get_info(r)->duration : -1.0))
			tap_diag("%s", cause != NULL ? cause : "opened");
		f = r != NULL ? video_read_frames(r, 12, &cause) : NULL;
		for (int i = 1; f != NULL && i < f->count; i++)
			mono &= f->times[i] > f->times[i - 1];
		tap_ok(f != NULL && f->count == 12 && mono && f->times[11] >= 3.0 && !f->partial,
		    "%s: 12 frames spread over the 4 s, in order (%d, last at %.3f s)", file,
		    f != NULL ? f->count : 0, f != NULL && f->count > 0 ? f->times[f->count - 1] : -1.0);
		video_frames_free(f);
		video_close(r);
		free(cause);
	}
}

/*
 * A 4096x2 clip whose sample aspect is 500000:1 would be shown
 * 2048000000x2: the resize overflowed int and the frames were refused.  An
 * absurd aspect is ignored (square pixels) and the note says so.
 */
static void test_absurd_aspect(void)
{
	video_options o = test_options();
	video_reader *r;
	video_frames *f;
	char *cause = NULL;
	const char *path = tmp_path("absurd-sar.nut");

	if (gen("absurd-sar.nut", "-f lavfi -i testsrc=size=4096x2:rate=5:d=1 "
	                          "-vf \"setsar=r=500000/1:max=100000000\" -c:v ffv1") != 0) {
		tap_skip("ffmpeg could not make a 500000:1 FFV1/NUT clip");
		return;
	}
	r = video_open(path, &o, &cause);
	if (tap_ok(r != NULL, "absurd-sar.nut opens (%s)", cause ? cause : "ok")) {
		const video_info *in = video_get_info(r);
		tap_ok(in->display_width == 4096 && in->display_height == 2 && in->sar_num == 1 &&
		        in->sar_den == 1,
		    "absurd-sar.nut: shown as stored, %dx%d (SAR %d:%d)", in->display_width,
		    in->display_height, in->sar_num, in->sar_den);
		video_close(r);
	}
	free(cause);
	cause = NULL;
	f = video_sample(path, &o, 4, &cause);
	if (tap_ok(f != NULL, "absurd-sar.nut: SAR 500000:1 decodes (%s)", cause ? cause : "ok")) {
		int finite = 1;

		for (size_t i = 0; i < (size_t)f->count * 3 * S * S; i++)
			finite &= isfinite(f->pixels[i]) != 0;
		tap_ok(f->count == 4 && finite, "absurd-sar.nut: 4 frames of finite pixels (%d)",
		    f->count);
		/* Like every note, it leaves naming the file to the caller. */
		tap_ok(contains(f->note, "500000:1") && contains(f->note, "aspect"),
		    "absurd-sar.nut: a note says the aspect was ignored (%s)",
		    f->note ? f->note : "no note");
	}
	video_frames_free(f);
	free(cause);
}

/* ---- bad input: an error naming the file, or frames marked partial ---------------- */

static void write_file(const char *name, const void *data, size_t n)
{
	FILE *fp = fopen(tmp_path(name), "wb");

	if (fp != NULL) {
		fwrite(data, 1, n, fp);
		fclose(fp);
	}
}

static uint8_t *read_file(const char *name, size_t *n)
{
	FILE *fp = fopen(tmp_path(name), "rb");
	uint8_t *d;
	long len;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	d = malloc((size_t)len + 1);
	*n = fread(d, 1, (size_t)len, fp);
	fclose(fp);
	return d;
}

static size_t png_chunk(uint8_t *out, const char *type, const uint8_t *data, size_t len)
{
	uLong crc;

	out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16), out[2] = (uint8_t)(len >> 8),
	out[3] = (uint8_t)len;
	memcpy(out + 4, type, 4);
	if (len > 0)
		memcpy(out + 8, data, len);
	crc = crc32(0, out + 4, (uInt)(len + 4));
	out[8 + len] = (uint8_t)(crc >> 24), out[9 + len] = (uint8_t)(crc >> 16),
	out[10 + len] = (uint8_t)(crc >> 8), out[11 + len] = (uint8_t)crc;
	return len + 12;
}

/* A PNG with the given header size and a tiny IDAT; returns its length. */
static size_t make_png(uint8_t *out, uint32_t w, uint32_t h)
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	uint8_t ihdr[13] = { 0 }, zero[64] = { 0 }, idat[128];
	uLongf idat_len = sizeof idat;
	size_t n = 0;

	memcpy(out, sig, 8);
	n = 8;
	ihdr[0] = (uint8_t)(w >> 24), ihdr[1] = (uint8_t)(w >> 16), ihdr[2] = (uint8_t)(w >> 8),
	ihdr[3] = (uint8_t)w;
	ihdr[4] = (uint8_t)(h >> 24), ihdr[5] = (uint8_t)(h >> 16), ihdr[6] = (uint8_t)(h >> 8),
	ihdr[7] = (uint8_t)h;
	ihdr[8] = 8; /* depth */
	ihdr[9] = 2; /* RGB */
	compress(idat, &idat_len, zero, sizeof zero);
	n += png_chunk(out + n, "IHDR", ihdr, sizeof ihdr);
	n += png_chunk(out + n, "IDAT", idat, idat_len);
	n += png_chunk(out + n, "IEND", NULL, 0);
	return n;
}

/* Opening and sampling must fail with a cause naming the file and containing why. */
static void expect_error(const char *name, const char *why, const char *what)
{
	char *cause = NULL;
	video_frames *f = sample(name, 12, &cause);

	tap_ok(f == NULL && contains(cause, tmp_path(name)) && contains(cause, why),
	    "%s: an error naming the file and saying '%s' (%s)", what, why, cause ? cause : "no error");
	video_frames_free(f);
	free(cause);
}

/* Frames (marked partial) or an error naming the file; never a crash. */
static void expect_frames_or_error(const char *name, const char *what, int want_partial)
{
	char *cause = NULL;
	video_frames *f = sample(name, 12, &cause);

	if (f != NULL)
		tap_ok(f->count >= 1 && (!want_partial || f->partial),
		    "%s: %d frames%s (%s)", what, f->count, f->partial ? ", partial" : "",
		    f->note ? f->note : "no note");
	else
		tap_ok(contains(cause, tmp_path(name)), "%s: error naming the file (%s)", what,
		    cause ? cause : "none");
	video_frames_free(f);
	free(cause);
}

static void test_bad_input(void)
{
	uint8_t *d;
	size_t n;

	write_file("empty.mp4", "", 0);
	expect_error("empty.mp4", "empty file", "zero-byte file");

	{
		uint8_t junk[65536];
		uint32_t x = 12345;
		for (size_t i = 0; i < sizeof junk; i++) {
			x = x * 1103515245 + 12345;
			junk[i] = (uint8_t)(x >> 16);
		}
		write_file("random.mp4", junk, sizeof junk);
		expect_error("random.mp4", "random.mp4': ", "random bytes named .mp4");
	}
	{
		static const char text[] = "This is not a video.\nIt is a text file with a .mp4 name.\n";
		write_file("text.mp4", text, sizeof text - 1);
		expect_error("text.mp4", "text.mp4': ", "a text file named .mp4");
		write_file("notes.txt", text, sizeof text - 1);
		expect_error("notes.txt", "not a video", "a text file named .txt");
	}

	if (gen("audio.m4a", "-f lavfi -i sine=frequency=440:duration=1 -c:a aac") == 0)
		expect_error("audio.m4a", "no video stream (audio only", "audio-only file");
	if (gen("audio.mp4", "-f lavfi -i sine=frequency=440:duration=1 -c:a aac") == 0)
		expect_error("audio.mp4", "no video stream (audio only", "audio-only .mp4");

	/* Truncated: moov at the end (ffmpeg's default) is lost with the tail. */
	gen("whole.mp4", "%s -c:v libx264 -preset veryfast -qp 0 -g 8", counter_src(64, 48, "10", 3.0));
	if ((d = read_file("whole.mp4", &n)) != NULL) {
		write_file("truncated.mp4", d, n / 2);
		expect_error("truncated.mp4", "truncated.mp4': ", "truncated mp4 (index at the end)");
		free(d);
	}
	/* moov first: the index outlives the data. */
	gen("fast.mp4", "-f lavfi -i testsrc2=size=160x120:rate=10:duration=3 "
	                "-c:v libx264 -preset veryfast -g 8 -movflags +faststart");
	if ((d = read_file("fast.mp4", &n)) != NULL) {
		char *cause = NULL;
		video_frames *f;
		write_file("truncated-fast.mp4", d, n * 6 / 10);
		f = sample("truncated-fast.mp4", 12, &cause);
		tap_ok(f != NULL && f->partial && f->count >= 4 && contains(f->note, "truncated"),
		    "truncated faststart mp4: the frames that are there, partial (%d, %s)",
		    f ? f->count : 0, f ? f->note : cause);
		video_frames_free(f);
		free(cause);
		free(d);
	}
	gen("whole.mkv", "-f lavfi -i testsrc2=size=160x120:rate=10:duration=3 "
	                 "-c:v libx264 -preset veryfast -g 8");
	if ((d = read_file("whole.mkv", &n)) != NULL) {
		char *cause = NULL;
		video_frames *f;
		write_file("truncated.mkv", d, n / 2);
		f = sample("truncated.mkv", 12, &cause);
		tap_ok(f != NULL && f->partial && f->count >= 6 && f->times[f->count - 1] < 2.0 &&
		        contains(f->note, "stream ends"),
		    "truncated mkv: resampled over the part that is there, partial (%d, %s)",
		    f ? f->count : 0, f ? f->note : cause);
		video_frames_free(f);
		free(cause);
		/* Garbage over the middle third: packets that fail to decode. */
		for (size_t i = n / 3; i < n / 3 + n / 10; i++)
			d[i] = (uint8_t)(i * 7919 >> 3);
		write_file("corrupt.mkv", d, n);
		expect_frames_or_error("corrupt.mkv", "corrupt packets mid-stream (mkv)", 1);
		free(d);
	}
	if ((d = read_file("whole.mp4", &n)) != NULL) {
		for (size_t i = n / 3; i < n / 3 + n / 10; i++)
			d[i] = (uint8_t)(i * 7919 >> 3);
		write_file("corrupt.mp4", d, n);
		expect_frames_or_error("corrupt.mp4", "corrupt packets mid-stream (mp4)", 1);
		free(d);
	}

	/* Absurd sizes in a header: refused before any frame is decoded. */
	{
		static const char y4m[] = "YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n"
		                          "0123456789abcdef";
		write_file("huge.y4m", y4m, sizeof y4m - 1);
		expect_error("huge.y4m", "huge.y4m': frame size 100000x100000 is beyond the limit",
		    "y4m header claiming 100000x100000");
	}
	{
		/* FFmpeg refused this one with "Device or resource busy". */
		static const char y4m[] = "YUV4MPEG2 W60000 H60000 F25:1 Ip A1:1 C420jpeg\nFRAME\n"
		                          "0123456789abcdef";
		write_file("huge2.y4m", y4m, sizeof y4m - 1);
		expect_error("huge2.y4m", "frame size 60000x60000 is beyond the limit of",
		    "y4m header claiming 60000x60000");
	}
	/* Matroska PixelWidth/PixelHeight (2-byte values for 256x256) patched to 65535. */
	gen("square.mkv", "-f lavfi -i testsrc2=size=256x256:rate=10:duration=1 -c:v libx264 -preset ultrafast");
	if ((d = read_file("square.mkv", &n)) != NULL) {
		int patched = 0;
		for (size_t i = 0; i + 4 < n; i++)
			if ((d[i] == 0xb0 || d[i] == 0xba) && d[i + 1] == 0x82 && d[i + 2] == 0x01 &&
			    d[i + 3] == 0x00) {
				d[i + 2] = d[i + 3] = 0xff;
				patched++;
			}
		write_file("huge.mkv", d, n);
		if (patched >= 2)
			expect_error("huge.mkv", "frame size 65535x65535 is beyond the limit",
			    "mkv header patched to 65535x65535");
		free(d);
	}
	/* The sample description of an mp4 (after "stsd", not the brand in "ftyp"). */
	if ((d = read_file("whole.mp4", &n)) != NULL) {
		uint8_t *p = NULL;
		for (size_t i = 0; i + 4 < n && p == NULL; i++)
			if (memcmp(d + i, "stsd", 4) == 0)
				for (size_t j = i; j + 40 < n && p == NULL; j++)
					if (memcmp(d + j, "avc1", 4) == 0)
						p = d + j;
		if (p != NULL) {
			/* avc1 sample entry: width and height are big-endian u16 at +28 and +30. */
			p[28] = p[29] = p[30] = p[31] = 0xff;
			write_file("patched-size.mp4", d, n);
			expect_frames_or_error("patched-size.mp4", "mp4 with its stsd size patched to 65535x65535", 0);
		}
		free(d);
	}
	/* A PNG whose header claims 16000x16000: FFmpeg would allocate 768 MB to probe it. */
	{
		uint8_t png[256];
		size_t len = make_png(png, 16000, 16000);
		struct rusage before, after;

		write_file("huge.png", png, len);
		getrusage(RUSAGE_SELF, &before);
		expect_error("huge.png", "huge.png': ", "PNG header claiming 16000x16000");
		getrusage(RUSAGE_SELF, &after);
		tap_ok(after.ru_maxrss - before.ru_maxrss < 200 * 1024,
		    "and probing it did not allocate the picture (peak RSS +%ld KB)",
		    after.ru_maxrss - before.ru_maxrss);
	}

	/* Unreadable. */
	write_file("secret.mp4", "x", 1);
	chmod(tmp_path("secret.mp4"), 0);
	if (geteuid() == 0)
		tap_skip("unreadable file: running as root, which reads it anyway (chmod 000 is no test)");
	else
		expect_error("secret.mp4", "Permission denied", "unreadable file");

	mkdir(tmp_path("folder.mp4"), 0755);
	expect_error("folder.mp4", "is a directory", "a directory named like a video");

	symlink(tmp_path("loop-b.mp4"), tmp_path("loop-a.mp4"));
	symlink(tmp_path("loop-a.mp4"), tmp_path("loop-b.mp4"));
	expect_error("loop-a.mp4", "Too many levels of symbolic links", "a symlink loop");

	expect_error("missing.mp4", "No such file", "a missing file");

	if (mkfifo(tmp_path("pipe.mp4"), 0600) == 0)
		expect_error("pipe.mp4", "not a regular file", "a FIFO (would block forever)");
}

/* ---- threads, reuse, logging --------------------------------------------------------- */

typedef struct {
	const char *file;
	video_frames *f;
} thread_job;

static void *thread_main(void *arg)
{
	thread_job *j = arg;

	j->f = sample(j->file, 12, NULL);
	return NULL;
}

static int same_frames(const video_frames *a, const video_frames *b)
{
	if (a == NULL || b == NULL || a->count != b->count)
		return 0;
	for (int i = 0; i < a->count; i++)
		if (a->times[i] != b->times[i])
			return 0;
	return memcmp(a->rgb, b->rgb, (size_t)a->count * S * S * 3) == 0 &&
	    memcmp(a->pixels, b->pixels, (size_t)a->count * S * S * 3 * sizeof(float)) == 0;
}

static void test_threads(void)
{
	thread_job jobs[2] = { { "h264.mkv", NULL }, { "long-gop30.mp4", NULL } };
	pthread_t t[2];
	video_frames *seq[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_main, &jobs[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++)
		seq[i] = sample(jobs[i].file, 12, NULL);
	tap_ok(same_frames(jobs[0].f, seq[0]) && same_frames(jobs[1].f, seq[1]),
	    "two readers on two threads give what they give alone");
	for (int i = 0; i < 2; i++) {
		video_frames_free(jobs[i].f);
		video_frames_free(seq[i]);
	}

	/* One reader, read twice (and with another F in between). */
	{
		video_options o = test_options();
		video_reader *r = video_open(tmp_path("long-gop30.mp4"), &o, NULL);
		video_frames *a = r ? video_read_frames(r, 12, NULL) : NULL;
		video_frames *mid = r ? video_read_frames(r, 5, NULL) : NULL;
		video_frames *b = r ? video_read_frames(r, 12, NULL) : NULL;
		tap_ok(same_frames(a, b) && mid != NULL && mid->count == 5,
		    "a reader reads again from the start, with any F");
		video_frames_free(a);
		video_frames_free(mid);
		video_frames_free(b);
		video_close(r);
	}
}

static int log_lines;
static void count_log(void *arg, int level, const char *line)
{
	(void)arg;
	(void)level;
	(void)line;
	log_lines++;
}

static void test_logging(void)
{
	char *cause = NULL;
	int saved = dup(2), fd = open(tmp_path("stderr.txt"), O_CREAT | O_TRUNC | O_WRONLY, 0600);
	struct stat sb;

	/* Quiet by default: nothing reaches stderr, nothing reaches the callback. */
	video_set_log(count_log, NULL);
	dup2(fd, 2);
	video_frames_free(sample("corrupt.mkv", 12, NULL));
	video_frames_free(sample("random.mp4", 12, &cause));
	fflush(stderr);
	dup2(saved, 2);
	close(fd);
	close(saved);
	free(cause);
	cause = NULL;
	if (stat(tmp_path("stderr.txt"), &sb) != 0)
		sb.st_size = -1;
	tap_ok(sb.st_size == 0 && log_lines == 0,
	    "FFmpeg prints nothing by default (%lld bytes on stderr, %d lines)", (long long)sb.st_size,
	    log_lines);
	video_set_log_level(3);
	video_frames_free(sample("corrupt.mkv", 12, NULL));
	tap_ok(log_lines > 0, "with a log level its lines go to the callback (%d)", log_lines);
	video_set_log_level(0);
	video_set_log(NULL, NULL);
}

/* ---- real videos ------------------------------------------------------------------- */

/*
 * The two shared videos, or stand-ins made here with their container, codec,
 * size and frame rate when ../shared/data is absent (a user's clone), so the
 * checks below run on every clone.  Fills parakeet and dog; 0, or -1 when
 * ffmpeg cannot make the stand-ins.
 */
static int shared_videos(char *parakeet, char *dog, size_t n)
{
	const char *base = getenv("CLIPGREP_SHARED_DATA");

	if (base != NULL && base[0] != '\0') {
		snprintf(parakeet, n, "%s/videos/parakeet-ladder.mp4", base);
		snprintf(dog, n, "%s/videos/dog-owner-snow.mp4", base);
		if (access(parakeet, R_OK) == 0 && access(dog, R_OK) == 0)
			return 0;
	}
	tap_diag("no shared videos: made stand-ins with ffmpeg");
	snprintf(parakeet, n, "%s", tmp_path("parakeet-ladder.mp4"));
	snprintf(dog, n, "%s", tmp_path("dog-owner-snow.mp4"));
	if (gen("parakeet-ladder.mp4", "-f lavfi -i testsrc2=size=406x720:rate=30:duration=8.2 "
	        "-c:v libx264 -preset ultrafast -pix_fmt yuv420p") != 0 || !has_encoder("mpeg4") ||
	    gen("dog-owner-snow.mp4", "-f lavfi -i testsrc2=size=640x480:rate=5:duration=8 "
	        "-c:v mpeg4 -q:v 5") != 0)
		return -1;
	return 0;
}

static void test_shared(void)
{
	char path[1024], dog[1024], *cause = NULL;
	video_options o = test_options();
	video_reader *r;
	video_frames *f;

	if (shared_videos(path, dog, sizeof path) != 0) {
		tap_skip("ffmpeg cannot make the stand-in videos (libx264, mpeg4)");
		return;
	}
	o.size = 224;
	r = video_open(path, &o, &cause);
	if (tap_ok(r != NULL, "parakeet-ladder.mp4 opens (%s)", cause ? cause : "ok")) {
		const video_info *in = video_get_info(r);
		tap_ok(in->display_width == 406 && in->display_height == 720 && in->rotation == 0,
		    "parakeet-ladder.mp4: portrait 406x720 as stored, no rotation (%dx%d, %d)",
		    in->display_width, in->display_height, in->rotation);
		f = video_read_frames(r, 12, &cause);
		if (tap_ok(f != NULL && f->count == 12 && !f->partial, "parakeet-ladder.mp4: 12 frames")) {
			int ok = 1;
			for (int i = 0; i < 12; i++) {
				/* 30 fps: the frame on screen at t has pts floor(t * 30) / 30. */
				double want = floor(f->targets[i] * 30 + 1e-6) / 30;
				ok &= fabs(f->times[f->frame_of[i]] - want) < 1e-3;
			}
			tap_ok(ok, "parakeet-ladder.mp4: each frame is the one on screen at its target");
		}
		video_frames_free(f);
		video_close(r);
	}
	free(cause);
	cause = NULL;

	f = video_sample(dog, &o, 12, &cause);
	if (tap_ok(f != NULL, "dog-owner-snow.mp4 (MPEG-4 Part 2) decodes (%s)",
	        cause ? cause : "ok")) {
		int ok = f->count == 12;
		for (int i = 0; i < 12 && ok; i++)
			ok = fabs(f->times[f->frame_of[i]] - floor(f->targets[i] * 5 + 1e-6) / 5) < 1e-3;
		tap_ok(ok, "dog-owner-snow.mp4: 5 fps, every frame the one on screen");
	}
	video_frames_free(f);
	free(cause);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[600];

	ffmpeg = getenv("FFMPEG");
	if (ffmpeg == NULL || ffmpeg[0] == '\0')
		return tap_skip_all("no ffmpeg program ($FFMPEG is empty)");
	snprintf(dir, sizeof dir, "%s/clipgrep-test-video-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	load_encoders();
	if (!has_encoder("libx264")) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", dir);
		return tap_skip_all("this ffmpeg has no libx264 encoder");
	}
	test_codecs();
	test_strategies();
	test_segments();
	test_keyframe();
	test_vfr();
	test_rotation();
	test_aspect_and_colour();
	test_absurd_aspect();
	test_short();
	test_raw_streams();
	test_bad_input();
	test_threads();
	test_logging();
	test_shared();
	snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", dir, dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
