/*
 * video — clipgrep's door to FFmpeg for moving pictures (core/picture.h is
 * the one for still pictures).  A path becomes F preprocessed
 * frames, their timestamps and thumbnails, or an error that names the file
 * and the reason.
 *
 * Sampling (MODELS.md, product decisions): F timestamps spread uniformly
 * over the video stream's span [start, start + duration):
 *
 *     t_i = start + (i + 0.5) * duration / F,   i = 0 .. F-1
 *
 * and for each the frame on screen at t_i: the last frame whose
 * presentation timestamp is <= t_i (the first frame when t_i precedes it).
 * Reported times are that frame's own pts, in seconds from the start of
 * the file as a player counts it (so `mpv --start=T` shows that frame).
 * Distinct frames only: when two targets land on the same frame (a video
 * with fewer than F frames, a still, a long-held frame of a variable frame
 * rate recording) it is returned once, and frames->count < F; the model
 * side pads with zero images, as the reference pads short clips (core/heads.h).
 *
 * Each frame is shown upright (display-matrix rotation and flips), at its
 * display aspect (sample aspect ratio), in the right colours (BT.601/709,
 * limited or full range, 8 or 10 bits), then resized and centre-cropped
 * exactly as CLIP's reference preprocessing does (core/preprocess.h).
 *
 * Threads: readers are independent.  Different readers may be used at the
 * same time from different threads (the indexer decodes the next video
 * while the encoder works on this one); one reader must not be used by two
 * threads at once.  Each reader runs FFmpeg's own frame/slice threads
 * (video_options.threads).  video_set_log* are process-wide: call them
 * before starting threads.
 */
#ifndef CLIPGREP_VIDEO_H
#define CLIPGREP_VIDEO_H

#include <stddef.h>
#include <stdint.h>

typedef struct video_reader video_reader;

typedef struct {
	int size;            /* S, the model's input side (224 for ViT-B/32); 0: no model frames */
	int want_rgb;        /* fill video_frames.rgb    [n, S, S, 3] uint8 */
	int want_float;      /* fill video_frames.pixels [n, 3, S, S] CLIP-normalised */
	int thumb_width;     /* thumbnail width in pixels (aspect kept), 0: none */
	int thumb_quality;   /* JPEG quality 2 (best) .. 31 (smallest); 0: 5 */
	int threads;         /* decoder threads; 0: online cores + 1 (at most 16), or 1
	                        with keyframe sampling (each decode is one packet
	                        and a flush, which frame threads only slow down) */
	int64_t max_pixels;  /* refuse frames larger than this; 0: 8192 * 8192 */
	double time_limit;   /* seconds of wall time per open/read; 0: 300 */
	int sampling;        /* VIDEO_SAMPLING_*: which frame stands for a target */
	int no_skip;         /* decode every frame (tests: prove the skips change nothing) */
	int serial_emit;     /* keyframe sampling: convert each frame before decoding the
	                        next, on one thread (tests: prove the overlap changes nothing) */
} video_options;

/*
 * Sampling modes.  EXACT: the frame on screen at each target (above).
 * KEYFRAME: the keyframe nearest each target (from the container's index;
 * without one, the keyframe at or before it), one keyframe decode per
 * target and nothing else decoded; times are the keyframes' own.  Cheaper
 * by the group of pictures' length, at the price of frames up to half a
 * GOP (keyframe index) or a whole GOP (no index) away from the target.
 */
#define VIDEO_SAMPLING_EXACT 0
#define VIDEO_SAMPLING_KEYFRAME 1

/* What video_open learned about the file. */
typedef struct {
	char container[32];  /* demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2" -> "mov" */
	char codec[32];      /* decoder, e.g. "h264" */
	char pix_fmt[32];    /* e.g. "yuv420p10le" */
	int streams;         /* streams in the file (all kinds) */
	int video_stream;    /* index of the stream used */
	int has_audio;
	int width, height;   /* coded (stored) frame size */
	int display_width;   /* upright size as shown: sample aspect ratio and */
	int display_height;  /* rotation applied */
	int rotation;        /* clockwise degrees applied for display: 0, 90, 180, 270 */
	int flipped;         /* the display matrix also mirrors the picture */
	int sar_num, sar_den;/* sample (pixel) aspect ratio, 1:1 when unknown or absurd */
	int bit_depth;       /* bits per component, 8 or 10 (or more) */
	int full_range;      /* 1: full (JPEG) range; 0: limited (TV) range */
	double fps;          /* average frame rate, 0 when unknown */
	int vfr;             /* average and nominal frame rates differ */
	double start;        /* first video pts, seconds from the file's start */
	double duration;     /* of the video stream, seconds */
	int64_t frames;      /* frame count: exact from an index, else estimated; 0 unknown */
	int keyframes;       /* keyframes in the container's index, 0 when it has none */
	int truncated;       /* the index points past the end of the file */
} video_info;

/* Per-frame flags. */
#define VIDEO_FRAME_CORRUPT 1u /* the decoder concealed errors in this frame */
#define VIDEO_FRAME_LATE 2u    /* the stream ended before the target: the last frame stands in */

typedef struct {
	int count;           /* n: distinct frames returned, 1 <= n <= requested */
	int requested;       /* F */
	int size;            /* S (0 when no model frames were asked for) */
	double *targets;     /* [F] sampling times t_i, seconds from the file's start */
	int *frame_of;       /* [F] the frame (0 .. n-1) on screen at each target */
	double *times;       /* [n] each frame's pts, seconds from the file's start */
	unsigned *flags;     /* [n] VIDEO_FRAME_* */
	uint8_t *rgb;        /* [n, S, S, 3] or NULL */
	float *pixels;       /* [n, 3, S, S] or NULL */
	uint8_t **thumbs;    /* [n] JPEG bytes, or NULL when not asked for */
	size_t *thumb_sizes; /* [n] */
	int thumb_width, thumb_height;
	int partial;         /* decoding errors, the stream ended early, or metadata */
	char *note;          /* ignored (an absurd aspect ratio): why, or NULL */
	/* How the frames were found (benchmarks and tests). */
	const char *strategy; /* "seek" or "sequential" (static string) */
	int seeks;            /* av_seek_frame calls */
	int64_t decoded;      /* frames out of the decoder */
	int64_t packets;      /* video packets read */
} video_frames;

/*
 * FFmpeg's log goes to fn (one call per line, without the newline; fn may
 * be called from FFmpeg's threads), filtered by video_set_log_level:
 * 0 nothing (the default), 1 errors and warnings, 2 info, 3 and more debug.
 * With no fn nothing is ever printed: core/ never prints.  Neither call
 * opens FFmpeg's libraries; they take effect when video_init does.
 */
typedef void (*video_log_fn)(void *arg, int verbose_level, const char *line);
void video_set_log(video_log_fn fn, void *arg);
void video_set_log_level(int verbose);

/* Defaults: S = 224, float frames, 192-pixel thumbnails, all cores. */
void video_options_init(video_options *opt);
/* The threads a reader with these options gives FFmpeg's decoder
 * (video_options.threads, or what 0 stands for). */
int video_decoder_threads(const video_options *opt);
/* The threads a reader with these options converts frames on beside its
 * decoder: 1 with keyframe sampling on a machine of several cores (the
 * conversion overlaps the next decode), else 0.  For the benchmarks. */
int video_convert_threads(const video_options *opt);

/*
 * Open and probe path.  NULL, with a cause naming the file and the reason
 * ("x.mp4: no video stream (audio only)", "x.mp4: is a directory", ...) when
 * the file cannot be a video.  opt is copied; NULL means the defaults.
 */
video_reader *video_open(const char *path, const video_options *opt, char **cause);
/* Release everything; NULL is a no-op. */
void video_close(video_reader *r);

const video_info *video_get_info(const video_reader *r);
const char *video_path(const video_reader *r);

/*
 * Sample `frames` (F >= 1) timestamps as described at the top and decode
 * the frame shown at each.  The cheapest exact strategy is chosen from the
 * container's keyframe index: seek to the keyframe before each target and
 * decode forward (no new seek when the next target is reachable within the
 * current group of pictures), or one sequential pass.  Work is bounded
 * (packets, errors, pixels, opt.time_limit).  Returns the frames (free with
 * video_frames_free), possibly partial; NULL with a cause when no frame
 * could be decoded.  May be called again on the same reader.
 */
video_frames *video_read_frames(video_reader *r, int frames, char **cause);
void video_frames_free(video_frames *f);

/* ---- long videos: segments ------------------------------------------------ */

/* One segment of a video, in seconds from the file's start: [start, end). */
typedef struct {
	double start, end;
} video_segment;

/*
 * Segments run to this much over the window, so that a clip of 30.03 s is
 * not cut in two by a 30 s window.
 */
#define VIDEO_SEGMENT_SLACK 1.05

/*
 * Cut the span [start, start + duration) into n segments of one length,
 * n = ceil(duration / window - (VIDEO_SEGMENT_SLACK - 1)): a 600 s span in
 * 20 of 30 s, a 31 s span in one (window <= 0 or a span no longer than
 * window * VIDEO_SEGMENT_SLACK: one segment), at most max of them (a
 * longer span gets longer segments).  With cuts (shot changes in seconds, from
 * video_find_cuts; may be NULL), each inner boundary moves to the nearest
 * cut within a third of a segment's length, no segment shorter than a
 * quarter of one.  Fills out[max]; returns the count (>= 1 when max >= 1).
 */
int video_plan_segments(double start, double duration, double window, const double *cuts,
    int n_cuts, video_segment *out, int max);

/*
 * Sample F frames from each of segments segs[0..n-1] (in time order), the
 * targets spread over each segment as video_read_frames spreads them over
 * a whole file, in one pass: frames of segment s are out->frame_of[s * F ..
 * s * F + F - 1] (distinct within the segment; a frame shown across a
 * boundary is returned for each segment).  cont != 0 goes on from the
 * previous call on r (the following segments of the same file: no seek
 * back, frames held over are reused), so a long file is read once in
 * chunks of segments, each chunk's frames freed before the next is read;
 * next_start is where the following chunk starts (NAN: none), which lets
 * the decoder keep its state between chunks.  Budgets (packets, time
 * limit) apply per call.  NULL with a cause when no frame decoded.
 */
video_frames *video_read_segments(video_reader *r, int frames, const video_segment *segs,
    int n, int cont, double next_start, char **cause);

/*
 * Shot changes: decode only keyframes (at most two a second), compare each
 * with the previous one by a 4 x 4 grid of mean luma and chroma, and call
 * a large change a cut.  *cuts (free()) gets their times in seconds,
 * ascending.  Cheap because encoders put keyframes at scene changes (and
 * every few seconds): a cut is found at the keyframe that follows it.
 * Leaves r at the start.  0, or -1 with a cause.
 */
int video_find_cuts(video_reader *r, double **cuts, int *n_cuts, char **cause);

/*
 * Open FFmpeg's libraries (core/ffmpeg), route their log through
 * video_set_log's function and quiet their own printing.  Idempotent and
 * thread-safe; video_open calls it first, and so does core/picture.c.
 * Returns 0, or -1 with *cause saying which library could not be opened.
 */
int video_init(char **cause);

/* Open, read F frames, close. */
video_frames *video_sample(const char *path, const video_options *opt, int frames, char **cause);

/*
 * Decode a still image (PNG, JPEG, PPM, ...: the first frame of anything
 * FFmpeg opens) to rgb [height, width, 3] at its stored size, without
 * rotation or scaling.  Free with free().  NULL and a cause on error.
 */
uint8_t *video_read_image(const char *path, int *width, int *height, char **cause);

#endif
