/*
 * video — probe, sample, decode and preprocess video frames with FFmpeg
 * (see video.h for the contract).  libav* lives here (moving pictures), in
 * core/picture.c (still pictures) and in core/ffmpeg.c, which opens the
 * libraries on first use: every call goes through its table, `ffmpeg.`.
 *
 * How a read goes:
 *   1. video_open: stat the path (clear errors for directories, loops,
 *      permissions, empty files), open it as "file:" (no other protocol),
 *      refuse absurd frame sizes before FFmpeg reads any frame, pick the
 *      video stream, read the container's keyframe index.
 *   2. video_read_frames: compute the F targets, choose between "seek"
 *      (per target: seek to the keyframe before it unless decoding forward
 *      from where we are is cheaper) and "sequential" (one pass from the
 *      start) by counting the frames each would decode; decode; convert
 *      the frame on screen at each target to RGB24 with swscale (colour
 *      matrix and range from the frame), and hand it to core/preprocess in
 *      display orientation.
 *   3. Every FFmpeg object is released in video_close, which is safe on a
 *      half-built reader.
 *
 * Time is kept in the stream's time base (integers) so that "the last
 * frame with pts <= t" is an exact comparison.
 *
 * Why one file of ~2k lines: every libav* call for moving pictures is here
 * (STYLE.md: one dependency, one file), and the decoder's state -- the
 * reader, its keyframe index, budgets, scaler and thumbnail encoder -- is
 * shared by all four sections below (logging, open and probe, decoding,
 * frames out).  Splitting would mean exporting that state.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ffmpeg.h"
#include "preprocess.h"
#include "util.h"
#include "video.h"

#define VIDEO_DEFAULT_SIZE 224
#define VIDEO_DEFAULT_THUMB 192
#define VIDEO_DEFAULT_QUALITY 5
#define VIDEO_DEFAULT_MAX_PIXELS ((int64_t)8192 * 8192)
#define VIDEO_DEFAULT_TIME_LIMIT 300.0
#define VIDEO_MAX_SIDE 32768
#define VIDEO_MAX_FRAMES 4096
/* Consecutive decoding errors after which a file is given up. */
#define VIDEO_MAX_ERRORS 500
/* Extra seeks when a seek lands after its target (B-frame delay, open GOP). */
#define VIDEO_SEEK_RETRIES 4
/* video_find_cuts: mean change of a 4 x 4 grid's luma and chroma (0..255) that makes a cut. */
#define VIDEO_CUT_THRESHOLD 24.0
/* Look-ahead bounds: past them a packet is simply decoded. */
#define VIDEO_QUEUE_MAX 1024
#define VIDEO_QUEUE_BYTES ((int64_t)64 << 20)
/* Packets remembered after sending: more than any codec's reordering depth. */
#define VIDEO_SENT_MEMORY 64

struct video_reader {
	char *path;
	video_options opt;
	video_info info;

	AVFormatContext *fmt;
	AVCodecContext *dec;
	AVStream *st;
	AVPacket *pkt;
	AVFrame *frame; /* receive buffer */
	AVFrame *cand;  /* the last frame with pts <= the current target */
	AVFrame *ahead; /* a frame past the current target, kept for the next */
	int64_t cand_serial, ahead_serial; /* decode numbers (1, 2, ...); 0: empty */

	/* Frame -> RGB24 at the stored size; parameters of the cached context. */
	struct SwsContext *sws;
	int sws_key[6];
	uint8_t *rgb; /* [h, rgb_stride] */
	size_t rgb_cap;
	int rgb_stride;
	uint8_t *scratch; /* [S, S, 3] when only floats are wanted */

	/* Thumbnails: frame -> small RGB -> upright -> YUVJ420P -> JPEG. */
	struct SwsContext *thumb_sws, *jpeg_sws;
	int thumb_key[6], jpeg_key[6]; /* src w, h, fmt, dst w, h, cs|range */
	uint8_t *thumb_rgb, *thumb_up;
	size_t thumb_cap;
	AVCodecContext *jpeg;
	AVFrame *jpeg_frame;
	AVPacket *jpeg_pkt;
	int64_t jpeg_pts;

	/* How the stored picture is shown (preprocess_view_oriented). */
	int swap, flip_x, flip_y;
	AVRational bad_sar; /* the last absurd sample aspect ignored; 0:0 none */
	int scan_cut;       /* video_scan stopped before the end: the span is short */

	/* Time, in the stream's time base. */
	AVRational tb;
	int64_t origin; /* a player's zero: the file's start time */
	int64_t start;  /* the video stream's first pts */
	int64_t span;   /* its duration */
	double frame_ticks;
	int64_t *kf; /* [n_kf] keyframe timestamps from the index, ascending */
	int n_kf;
	int64_t gop_seen; /* longest keyframe interval seen while reading */
	int64_t last_key;

	/* Packets read ahead of the decoder, in decode order: q[q_head .. +q_len). */
	AVPacket **q;
	int q_cap, q_head, q_len;
	int64_t q_bytes;
	int64_t max_dts;       /* the latest dts read since the seek */
	int pts_unreliable;    /* a packet without pts/dts, or dts going back: no skipping */
	int64_t sent[VIDEO_SENT_MEMORY]; /* pts of the latest packets sent to the decoder (ring) */
	int n_sent;
	const int64_t *targets; /* [n_targets] the pass's targets, for skip decisions */
	int n_targets;
	int64_t drain_at;      /* drain once the frame at this time is decoded; NOPTS: never */
	int flush_sent, drained;

	/* Decoding state. */
	int at_start; /* nothing read since open (or a rewind) */
	int no_timestamps; /* packets carry none: frames are numbered, never seek */
	int demux_eof, dec_eof;
	int64_t pos;    /* pts of the last decoded frame */
	int64_t serial; /* frames decoded since open */
	int errors, consecutive_errors;
	char first_error[128];
	int64_t packets, packet_budget, decoded;
	int seeks;
	double deadline;
	char stop_reason[160]; /* non-empty: a limit stopped decoding */
	int need_key;          /* drop packets until a keyframe (after a seek) */
	int dropped;
	int64_t keys_seen, packets_seen; /* since open: does this stream flag keyframes? */
	int seeked;                      /* a seek happened since open */

	/* Errors FFmpeg logged about this file's demuxer or decoder (any thread). */
	pthread_mutex_t log_lock;
	int log_lock_ready;
	int log_errors;
	char log_first[160];
};

/* ---- logging ------------------------------------------------------------- */

static void video_queue_clear(video_reader *r);

static video_log_fn video_log_cb;
static void *video_log_arg;
static int video_log_verbose;
static pthread_once_t video_once = PTHREAD_ONCE_INIT;

/*
 * The reader a log line is about, when it comes from its demuxer or its
 * decoder (frame-thread copies of the decoder keep its opaque pointer).
 */
static video_reader *video_log_owner(void *avcl)
{
	const AVClass *c = avcl != NULL ? *(const AVClass **)avcl : NULL;

	if (c == NULL)
		return NULL;
	if (c == ffmpeg.avformat_get_class())
		return ((AVFormatContext *)avcl)->opaque;
	if (c == ffmpeg.avcodec_get_class())
		return ((AVCodecContext *)avcl)->opaque;
	return NULL;
}

/*
 * FFmpeg's log callback: errors about a reader's file are counted in the
 * reader (they make a result partial); lines at the chosen level go to the
 * caller's function.  No printing.
 */
static void video_av_log(void *avcl, int level, const char *fmt, va_list vl)
    UTIL_PRINTF(3, 0);
static void video_av_log(void *avcl, int level, const char *fmt, va_list vl)
{
	video_log_fn fn = video_log_cb;
	video_reader *r = level <= AV_LOG_ERROR ? video_log_owner(avcl) : NULL;
	char line[1024];
	int prefix = 1, need = level <= AV_LOG_WARNING ? 1 : level <= AV_LOG_INFO ? 2 : 3;
	size_t n;

	if (level > AV_LOG_DEBUG || (r == NULL && (fn == NULL || need > video_log_verbose)))
		return;
	if (r != NULL) {
		va_list copy;
		char msg[sizeof r->log_first];

		va_copy(copy, vl);
		vsnprintf(msg, sizeof msg, fmt, copy);
		va_end(copy);
		msg[strcspn(msg, "\r\n")] = '\0';
		pthread_mutex_lock(&r->log_lock);
		if (r->log_errors++ == 0)
			snprintf(r->log_first, sizeof r->log_first, "%s", msg);
		pthread_mutex_unlock(&r->log_lock);
	}
	if (fn == NULL || need > video_log_verbose)
		return;
	ffmpeg.av_log_format_line2(avcl, level, fmt, vl, line, (int)sizeof line, &prefix);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n > 0)
		fn(video_log_arg, need, line);
}

/* FFmpeg's own level for video_set_log_level's verbosity. */
static int video_av_level(int verbose)
{
	static const int levels[] = { AV_LOG_QUIET, AV_LOG_WARNING, AV_LOG_INFO, AV_LOG_DEBUG };

	return levels[verbose < 0 ? 0 : verbose > 3 ? 3 : verbose];
}

static void video_init_once(void)
{
	if (ffmpeg_load(NULL) == -1)
		return;
	ffmpeg.av_log_set_level(video_av_level(video_log_verbose));
	ffmpeg.av_log_set_callback(video_av_log);
}

int video_init(char **cause)
{
	pthread_once(&video_once, video_init_once);
	return ffmpeg_load(cause);
}

/* Neither opens FFmpeg: a process that reads no video never loads it. */
void video_set_log(video_log_fn fn, void *arg)
{
	video_log_arg = arg;
	video_log_cb = fn;
}

void video_set_log_level(int verbose)
{
	video_log_verbose = verbose < 0 ? 0 : verbose;
	/* Before the libraries are open, video_init_once applies it. */
	if (ffmpeg_loaded())
		ffmpeg.av_log_set_level(video_av_level(verbose));
}

/* ---- small helpers --------------------------------------------------------- */

void video_options_init(video_options *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->size = VIDEO_DEFAULT_SIZE;
	opt->want_float = 1;
	opt->thumb_width = VIDEO_DEFAULT_THUMB;
	opt->thumb_quality = VIDEO_DEFAULT_QUALITY;
}

static void video_av_cause(char **cause, const char *path, const char *what, int err)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];

	ffmpeg.av_strerror(err, buf, sizeof buf);
	util_set_cause(cause, "%s: %s (%s)", UTIL_NAME(path), what, buf);
}

static int64_t video_frame_duration(const AVFrame *f)
{
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
	return f->duration;
#else
	return f->pkt_duration;
#endif
}

/* The "yuvj" formats are yuv plus full range; swscale wants the pair. */
static enum AVPixelFormat video_unjpeg(enum AVPixelFormat fmt, int *full)
{
	switch (fmt) {
	case AV_PIX_FMT_YUVJ420P:
		*full = 1;
		return AV_PIX_FMT_YUV420P;
	case AV_PIX_FMT_YUVJ422P:
		*full = 1;
		return AV_PIX_FMT_YUV422P;
	case AV_PIX_FMT_YUVJ444P:
		*full = 1;
		return AV_PIX_FMT_YUV444P;
	case AV_PIX_FMT_YUVJ440P:
		*full = 1;
		return AV_PIX_FMT_YUV440P;
	case AV_PIX_FMT_YUVJ411P:
		*full = 1;
		return AV_PIX_FMT_YUV411P;
	default:
		return fmt;
	}
}

/* The YUV->RGB matrix of a frame; unspecified means BT.709 for HD, else BT.601. */
static int video_sws_colorspace(const AVFrame *f)
{
	switch (f->colorspace) {
	case AVCOL_SPC_BT709:
		return SWS_CS_ITU709;
	case AVCOL_SPC_FCC:
		return SWS_CS_FCC;
	case AVCOL_SPC_SMPTE240M:
		return SWS_CS_SMPTE240M;
	case AVCOL_SPC_BT2020_NCL:
	case AVCOL_SPC_BT2020_CL:
		return SWS_CS_BT2020;
	case AVCOL_SPC_BT470BG:
	case AVCOL_SPC_SMPTE170M:
		return SWS_CS_ITU601;
	default:
		return f->height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
	}
}

/*
 * A scaler from frame f (w x h, its pixel format) to dst_fmt at dw x dh with
 * f's colour matrix and range, reusing *ctx when key[] (the parameters it
 * was made for) matches.  NULL when swscale cannot convert the format.
 */
static struct SwsContext *video_scaler(struct SwsContext **ctx, int key[6], const AVFrame *f,
    int dw, int dh, enum AVPixelFormat dst_fmt, int dst_full)
{
	int full = f->color_range == AVCOL_RANGE_JPEG;
	enum AVPixelFormat src_fmt = video_unjpeg((enum AVPixelFormat)f->format, &full);
	int cs = video_sws_colorspace(f);
	int want[6] = { f->width, f->height, src_fmt, dw, dh, cs * 2 + full };

	if (*ctx != NULL && memcmp(key, want, sizeof want) == 0)
		return *ctx;
	ffmpeg.sws_freeContext(*ctx);
	*ctx = ffmpeg.sws_getContext(f->width, f->height, src_fmt, dw, dh, dst_fmt, SWS_BICUBIC, NULL,
	    NULL, NULL);
	if (*ctx == NULL)
		return NULL;
	/* Fails harmlessly (and changes nothing) for RGB sources. */
	ffmpeg.sws_setColorspaceDetails(*ctx, ffmpeg.sws_getCoefficients(cs), full,
	    ffmpeg.sws_getCoefficients(SWS_CS_DEFAULT), dst_full, 0, 1 << 16, 1 << 16);
	memcpy(key, want, sizeof want);
	return *ctx;
}

/* ---- open and probe ------------------------------------------------------- */

static int video_interrupt(void *opaque)
{
	video_reader *r = opaque;

	return r->deadline > 0 && util_now() > r->deadline;
}

/* Clear errors for what FFmpeg would report vaguely. */
static int video_check_path(const char *path, char **cause)
{
	struct stat sb;
	int fd;

	if (stat(path, &sb) == -1) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		return -1;
	}
	if (S_ISDIR(sb.st_mode)) {
		util_set_cause(cause, "%s: is a directory, not a video file", UTIL_NAME(path));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		util_set_cause(cause, "%s: not a regular file", UTIL_NAME(path));
		return -1;
	}
	if (sb.st_size == 0) {
		util_set_cause(cause, "%s: empty file", UTIL_NAME(path));
		return -1;
	}
	fd = open(path, O_RDONLY);
	if (fd == -1) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(path), strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* The best video stream that is not a cover picture, or -1 with a cause. */
static int video_pick_stream(video_reader *r, char **cause)
{
	AVFormatContext *fmt = r->fmt;
	int best = ffmpeg.av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	int audio = 0, covers = 0;
	int64_t best_area = -1;

	if (best >= 0 && (fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC))
		best = -1;
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		AVStream *st = fmt->streams[i];
		AVCodecParameters *par = st->codecpar;

		if (par->codec_type == AVMEDIA_TYPE_AUDIO)
			audio = 1;
		if (par->codec_type != AVMEDIA_TYPE_VIDEO)
			continue;
		if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) {
			covers = 1;
			continue;
		}
		if (r->fmt->streams[i]->codecpar->codec_id == AV_CODEC_ID_NONE)
			continue;
		if (best < 0 && (int64_t)par->width * par->height > best_area) {
			best_area = (int64_t)par->width * par->height;
			best = (int)i;
		}
	}
	if (best >= 0)
		return best;
	if (audio)
		util_set_cause(cause, "%s: no video stream (audio only%s)", UTIL_NAME(r->path),
		    covers ? ", with cover art" : "");
	else
		util_set_cause(cause, "%s: no video stream", UTIL_NAME(r->path));
	return -1;
}

static int video_size_ok(const video_reader *r, int w, int h)
{
	return w > 0 && h > 0 && w <= VIDEO_MAX_SIDE && h <= VIDEO_MAX_SIDE &&
	    (int64_t)w * h <= r->opt.max_pixels;
}

/* The cause for a frame size video_size_ok refuses, naming the limit it passes. */
static void video_size_cause(const video_reader *r, long long w, long long h, char **cause)
{
	if (w > VIDEO_MAX_SIDE || h > VIDEO_MAX_SIDE)
		util_set_cause(cause, "%s: frame size %lldx%lld is beyond the limit of %d pixels "
		    "a side", UTIL_NAME(r->path), w, h, VIDEO_MAX_SIDE);
	else
		util_set_cause(cause, "%s: frame size %lldx%lld is beyond the limit of %lld pixels",
		    UTIL_NAME(r->path), w, h, (long long)r->opt.max_pixels);
}

/*
 * A YUV4MPEG2 header's W and H, checked before FFmpeg reads it: its demuxer
 * refuses an absurd size with an unrelated error ("Device or resource
 * busy").  0 when the file is not y4m or its size is fine.
 */
static int video_check_y4m(const video_reader *r, char **cause)
{
	char head[256], *p, *end;
	long long w = 0, h = 0;
	ssize_t n;
	int fd = open(r->path, O_RDONLY);

	if (fd == -1)
		return 0;
	n = read(fd, head, sizeof head - 1);
	close(fd);
	if (n < 10 || memcmp(head, "YUV4MPEG2 ", 10) != 0)
		return 0;
	head[n] = '\0';
	head[strcspn(head, "\n")] = '\0';
	for (p = head + 9; *p != '\0'; p = end) {
		long long v;

		p += strspn(p, " ");
		end = p + strcspn(p, " ");
		if ((*p != 'W' && *p != 'H') || !isdigit((unsigned char)p[1]))
			continue;
		v = strtoll(p + 1, NULL, 10);
		if (*p == 'W')
			w = v;
		else
			h = v;
	}
	if (w <= 0 || h <= 0 || (w <= INT_MAX && h <= INT_MAX && video_size_ok(r, (int)w, (int)h)))
		return 0;
	video_size_cause(r, w, h, cause);
	return -1;
}

/* Rotation and flips from the display matrix, as ffmpeg's autorotate reads it. */
static void video_orientation(video_reader *r)
{
	const int32_t *m = NULL;
	double theta;

#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100)
	const AVPacketSideData *sd = ffmpeg.av_packet_side_data_get(r->st->codecpar->coded_side_data,
	    r->st->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
	if (sd != NULL && sd->size >= 9 * sizeof(int32_t))
		m = (const int32_t *)sd->data;
#else
	size_t size = 0;
	m = (const int32_t *)ffmpeg.av_stream_get_side_data(r->st, AV_PKT_DATA_DISPLAYMATRIX, &size);
	if (size < 9 * sizeof(int32_t))
		m = NULL;
#endif
	if (m == NULL)
		return;
	theta = -round(ffmpeg.av_display_rotation_get(m));
	theta -= 360 * floor(theta / 360 + 0.9 / 360);
	if (fabs(theta - 90) < 1.0) {
		/* transpose=clock, or cclock_flip (a plain transpose) when mirrored */
		r->swap = 1;
		r->flip_x = m[3] <= 0;
		r->info.rotation = 90;
		r->info.flipped = m[3] > 0;
	} else if (fabs(theta - 180) < 1.0) {
		r->flip_x = m[0] < 0;
		r->flip_y = m[4] < 0;
		r->info.rotation = 180;
		r->info.flipped = r->flip_x != r->flip_y;
	} else if (fabs(theta - 270) < 1.0) {
		/* transpose=cclock, or clock_flip when mirrored */
		r->swap = 1;
		r->flip_y = 1;
		r->flip_x = m[3] < 0;
		r->info.rotation = 270;
		r->info.flipped = m[3] < 0;
	} else if (fabs(theta) < 1.0) {
		r->flip_y = m[4] < 0;
		r->info.flipped = r->flip_y;
	}
	/* Other angles are rare and not 90-degree steps: shown unrotated. */
}

/* Display size of a w x h picture (preprocess_display_size), then rotated. */
static int video_display_size(const video_reader *r, int w, int h, AVRational sar, int *dw,
    int *dh)
{
	int absurd = preprocess_display_size(w, h, sar.num, sar.den, VIDEO_MAX_SIDE, dw, dh);

	if (r->swap) {
		int t = *dw;
		*dw = *dh;
		*dh = t;
	}
	return absurd;
}

/* Keyframes from the container's index; flags a truncated file. */
static int video_read_index(video_reader *r)
{
	int n = ffmpeg.avformat_index_get_entries_count(r->st);
	int64_t fsize = ffmpeg.avio_size(r->fmt->pb), avail_end = INT64_MIN;
	int beyond = 0;

	if (n <= 0)
		return 0;
	r->kf = malloc((size_t)n * sizeof *r->kf);
	if (r->kf == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		const AVIndexEntry *e = ffmpeg.avformat_index_get_entry(r->st, i);
		if (e == NULL)
			break;
		if (fsize > 0 && e->pos + e->size > fsize) {
			beyond = 1;
			continue;
		}
		if (e->timestamp > avail_end)
			avail_end = e->timestamp;
		if ((e->flags & AVINDEX_KEYFRAME) &&
		    (r->n_kf == 0 || e->timestamp > r->kf[r->n_kf - 1]))
			r->kf[r->n_kf++] = e->timestamp;
	}
	/*
	 * An index of every sample (mov, avi) that stops well before the end is
	 * a fragmented file's first fragment: plan without it.  Keyframe-only
	 * indexes (Matroska cues) may legitimately end a GOP early.
	 */
	if (n > r->n_kf && !beyond && r->span > 0 &&
	    (double)avail_end + 2 * r->frame_ticks + 1.0 / av_q2d(r->tb) <
	        (double)(r->start + r->span)) {
		r->n_kf = 0;
		return 0;
	}
	r->info.keyframes = r->n_kf;
	/* mov, avi: every sample is in the index, so it counts frames. */
	if (n > r->n_kf && !beyond)
		r->info.frames = n;
	if (beyond && avail_end != INT64_MIN && avail_end < r->start + r->span) {
		r->info.truncated = 1;
		r->span = avail_end + (int64_t)r->frame_ticks - r->start;
		if (r->span < 0)
			r->span = 0;
	}
	return 0;
}

/*
 * No usable duration: read the packets (no decoding) to find the span and
 * the keyframes, then go back to the start.
 */
static int video_scan(video_reader *r, char **cause)
{
	int64_t first = INT64_MAX, end = INT64_MIN, count = 0, durations = 0;
	int cap = 0;

	for (;;) {
		int ret = ffmpeg.av_read_frame(r->fmt, r->pkt);
		int64_t ts;

		if (ret == AVERROR(EAGAIN))
			continue;
		if (ret < 0)
			break;
		if (r->pkt->stream_index != r->st->index) {
			ffmpeg.av_packet_unref(r->pkt);
			continue;
		}
		ts = r->pkt->pts != AV_NOPTS_VALUE ? r->pkt->pts : r->pkt->dts;
		if (r->pkt->duration > 0)
			durations += r->pkt->duration;
		if (ts != AV_NOPTS_VALUE) {
			if (ts < first)
				first = ts;
			if (ts + r->pkt->duration > end)
				end = ts + (r->pkt->duration > 0 ? r->pkt->duration : 0);
			if ((r->pkt->flags & AV_PKT_FLAG_KEY) &&
			    (r->n_kf == 0 || ts > r->kf[r->n_kf - 1])) {
				if (r->n_kf == cap) {
					int ncap = cap ? cap * 2 : 64;
					int64_t *k = realloc(r->kf, (size_t)ncap * sizeof *k);
					if (k == NULL) {
						ffmpeg.av_packet_unref(r->pkt);
						util_set_cause(cause, "%s: out of memory",
						    UTIL_NAME(r->path));
						return -1;
					}
					r->kf = k, cap = ncap;
				}
				r->kf[r->n_kf++] = ts;
			}
		}
		ffmpeg.av_packet_unref(r->pkt);
		if (++count > 50000000 || video_interrupt(r)) {
			r->scan_cut = 1;
			break;
		}
	}
	if (first != INT64_MAX) {
		r->start = first;
		if (r->origin > first)
			r->origin = first;
		r->span = end > first ? end - first : 0;
		r->info.keyframes = r->n_kf;
	} else if (count > 0) {
		/* A raw stream without timestamps: frames are numbered, one pass reads them. */
		r->no_timestamps = 1;
		r->start = r->origin = 0;
		r->span = durations > 0 ? durations : (int64_t)(count * r->frame_ticks);
	}
	r->info.frames = count;
	if (ffmpeg.av_seek_frame(r->fmt, r->st->index, first != INT64_MAX ? first : 0,
	        AVSEEK_FLAG_BACKWARD) < 0 &&
	    ffmpeg.av_seek_frame(r->fmt, -1, 0, AVSEEK_FLAG_BYTE) < 0) {
		util_set_cause(cause, "%s: cannot go back to the start after reading it",
		    UTIL_NAME(r->path));
		return -1;
	}
	return 0;
}

int video_decoder_threads(const video_options *opt)
{
	/*
	 * FFmpeg's own "auto": one thread more than cores keeps the frame
	 * pipeline full.  Keyframe sampling decodes one packet and flushes:
	 * frame threads have nothing to overlap there, and handing each frame
	 * to a worker and back made a 1080p clip's 12 keyframes 3-40 % slower
	 * (0.19-0.26 s against 0.18 s on one thread, 2 cores).
	 */
	int threads = opt->threads > 0 ? opt->threads :
	    opt->sampling == VIDEO_SAMPLING_KEYFRAME ? 1 : util_cpu_count() + 1;

	return threads > 16 ? 16 : threads;
}

static int video_open_decoder(video_reader *r, char **cause)
{
	AVCodecParameters *par = r->st->codecpar;
	const AVCodec *codec = ffmpeg.avcodec_find_decoder(par->codec_id);
	int threads = video_decoder_threads(&r->opt);
	int ret;

	if (codec == NULL) {
		util_set_cause(cause, "%s: no decoder for the %s video codec", UTIL_NAME(r->path),
		    ffmpeg.avcodec_get_name(par->codec_id));
		return -1;
	}
	r->dec = ffmpeg.avcodec_alloc_context3(codec);
	if (r->dec == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
		return -1;
	}
	ret = ffmpeg.avcodec_parameters_to_context(r->dec, par);
	if (ret < 0) {
		video_av_cause(cause, r->path, "cannot set up the decoder", ret);
		return -1;
	}
	r->dec->opaque = r;
	r->dec->pkt_timebase = r->st->time_base;
	r->dec->thread_count = threads;
	r->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
	r->dec->max_pixels = r->opt.max_pixels;
	ret = ffmpeg.avcodec_open2(r->dec, codec, NULL);
	if (ret < 0) {
		video_av_cause(cause, r->path, "cannot open the decoder", ret);
		return -1;
	}
	return 0;
}

/* Fill r->info and the timing from the opened stream. */
static int video_probe(video_reader *r, char **cause)
{
	AVStream *st = r->st;
	AVCodecParameters *par = st->codecpar;
	const AVPixFmtDescriptor *desc = ffmpeg.av_pix_fmt_desc_get((enum AVPixelFormat)par->format);
	video_info *in = &r->info;
	AVRational avg = st->avg_frame_rate, nominal = st->r_frame_rate;
	AVRational sar = ffmpeg.av_guess_sample_aspect_ratio(r->fmt, st, NULL);
	double fps = 0;
	int full = par->color_range == AVCOL_RANGE_JPEG;
	int guessed = r->fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE;
	const char *name = r->fmt->iformat->name;

	snprintf(in->container, sizeof in->container, "%.*s", (int)strcspn(name, ","), name);
	snprintf(in->codec, sizeof in->codec, "%s", ffmpeg.avcodec_get_name(par->codec_id));
	video_unjpeg((enum AVPixelFormat)par->format, &full);
	snprintf(in->pix_fmt, sizeof in->pix_fmt, "%s",
	    desc != NULL ? desc->name : "unknown");
	in->streams = (int)r->fmt->nb_streams;
	in->video_stream = st->index;
	for (unsigned i = 0; i < r->fmt->nb_streams; i++)
		if (r->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
			in->has_audio = 1;
	in->width = par->width;
	in->height = par->height;
	in->bit_depth = desc != NULL ? desc->comp[0].depth : 8;
	in->full_range = full;
	video_orientation(r);
	if (video_display_size(r, par->width, par->height, sar, &in->display_width,
	        &in->display_height)) {
		r->bad_sar = sar;
		sar = (AVRational){ 1, 1 };
	}
	in->sar_num = sar.num > 0 && sar.den > 0 ? sar.num : 1;
	in->sar_den = sar.num > 0 && sar.den > 0 ? sar.den : 1;

	if (avg.num > 0 && avg.den > 0)
		fps = av_q2d(avg);
	else if (nominal.num > 0 && nominal.den > 0)
		fps = av_q2d(nominal);
	if (fps > 1000 || fps < 0.01)
		fps = 0;
	in->fps = fps;
	in->vfr = avg.num > 0 && avg.den > 0 && nominal.num > 0 && nominal.den > 0 &&
	    fabs(av_q2d(avg) - av_q2d(nominal)) > 0.01 * av_q2d(nominal);

	r->tb = st->time_base;
	if (r->tb.num <= 0 || r->tb.den <= 0) {
		util_set_cause(cause, "%s: the video stream has no time base", UTIL_NAME(r->path));
		return -1;
	}
	r->frame_ticks = 1.0 / ((fps > 0 ? fps : 30.0) * av_q2d(r->tb));
	if (r->frame_ticks < 1)
		r->frame_ticks = 1;
	if (st->start_time != AV_NOPTS_VALUE)
		r->start = st->start_time;
	else if (r->fmt->start_time != AV_NOPTS_VALUE)
		r->start = ffmpeg.av_rescale_q(r->fmt->start_time, AV_TIME_BASE_Q, r->tb);
	r->origin = r->fmt->start_time != AV_NOPTS_VALUE ?
	    ffmpeg.av_rescale_q(r->fmt->start_time, AV_TIME_BASE_Q, r->tb) : r->start;
	if (r->origin > r->start)
		r->origin = r->start;

	/*
	 * A duration guessed from the bit rate is no duration: FFmpeg gives a
	 * raw MPEG-1 stream (.mpv) of 4 s 0.013 s, on the stream too.  Those,
	 * like raw .h264, .m2v and .m4v with none at all, are measured by
	 * video_scan.
	 */
	r->span = -1;
	if (!guessed && st->duration != AV_NOPTS_VALUE && st->duration > 0)
		r->span = st->duration;
	else if (!guessed && r->fmt->duration != AV_NOPTS_VALUE && r->fmt->duration > 0)
		r->span = ffmpeg.av_rescale_q(r->fmt->duration, AV_TIME_BASE_Q, r->tb) -
		    (r->start - r->origin);
	if (r->span < 0) {
		if (video_scan(r, cause) == -1)
			return -1;
		if (r->span < 0)
			r->span = 0;
	} else if (video_read_index(r) == -1) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
		return -1;
	}
	if (in->frames == 0 && st->nb_frames > 0)
		in->frames = st->nb_frames;
	if (in->frames == 0 && fps > 0)
		in->frames = (int64_t)(r->span / r->frame_ticks + 0.5);
	if (in->frames == 0)
		in->frames = 1;
	in->start = (r->start - r->origin) * av_q2d(r->tb);
	in->duration = r->span * av_q2d(r->tb);
	return 0;
}

/*
 * avformat_find_stream_info decodes a few frames with decoders of its own:
 * they get the pixel limit too, or a PNG claiming 16000x16000 costs 768 MB
 * before clipgrep sees its size.
 */
static int video_find_stream_info(video_reader *r)
{
	unsigned n = r->fmt->nb_streams;
	AVDictionary **opts = n > 0 ? calloc(n, sizeof *opts) : NULL;
	char limit[32];
	int ret;

	if (n > 0 && opts == NULL)
		return AVERROR(ENOMEM);
	snprintf(limit, sizeof limit, "%lld", (long long)r->opt.max_pixels);
	for (unsigned i = 0; i < n; i++) {
		ffmpeg.av_dict_set(&opts[i], "max_pixels", limit, 0);
		ffmpeg.av_dict_set(&opts[i], "threads", "1", 0);
	}
	ret = ffmpeg.avformat_find_stream_info(r->fmt, opts);
	for (unsigned i = 0; i < n; i++)
		ffmpeg.av_dict_free(&opts[i]);
	free(opts);
	return ret;
}

video_reader *video_open(const char *path, const video_options *opt, char **cause)
{
	video_reader *r;
	AVDictionary *dict = NULL;
	char *url;
	int ret, si;

	if (video_check_path(path, cause) == -1)
		return NULL;
	/* After the path's own checks: a missing file is named as such. */
	if (video_init(cause) == -1) {
		util_prefix_cause(cause, "%s", UTIL_NAME(path));
		return NULL;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL || (r->path = util_strdup(path)) == NULL) {
		free(r);
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		return NULL;
	}
	if (opt != NULL)
		r->opt = *opt;
	else
		video_options_init(&r->opt);
	if (r->opt.max_pixels <= 0)
		r->opt.max_pixels = VIDEO_DEFAULT_MAX_PIXELS;
	if (r->opt.time_limit <= 0)
		r->opt.time_limit = VIDEO_DEFAULT_TIME_LIMIT;
	if (r->opt.thumb_quality <= 0)
		r->opt.thumb_quality = VIDEO_DEFAULT_QUALITY;
	if (r->opt.size < 0 || r->opt.size > 4096 || r->opt.thumb_width < 0 ||
	    r->opt.thumb_width > 4096) {
		util_set_cause(cause, "%s: bad options (size %d, thumbnail width %d)",
		    UTIL_NAME(path),
		    r->opt.size, r->opt.thumb_width);
		goto error;
	}
	r->pos = AV_NOPTS_VALUE;
	r->last_key = AV_NOPTS_VALUE;
	r->max_dts = AV_NOPTS_VALUE;
	r->drain_at = AV_NOPTS_VALUE;
	r->at_start = 1;
	r->pkt = ffmpeg.av_packet_alloc();
	r->frame = ffmpeg.av_frame_alloc();
	r->cand = ffmpeg.av_frame_alloc();
	r->ahead = ffmpeg.av_frame_alloc();
	r->fmt = ffmpeg.avformat_alloc_context();
	if (r->pkt == NULL || r->frame == NULL || r->cand == NULL || r->ahead == NULL ||
	    r->fmt == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto error;
	}
	if (pthread_mutex_init(&r->log_lock, NULL) != 0) {
		util_set_cause(cause, "%s: cannot create a lock", UTIL_NAME(path));
		goto error;
	}
	r->log_lock_ready = 1;
	r->fmt->opaque = r;
	r->fmt->interrupt_callback.callback = video_interrupt;
	r->fmt->interrupt_callback.opaque = r;
	r->deadline = util_now() + r->opt.time_limit;

	/*
	 * "file:" so that a colon in a name is not a protocol; only the file
	 * protocol, so a playlist cannot reach the network; no image-sequence
	 * patterns, so "%d" in a name is literal.
	 */
	url = malloc(strlen(path) + 6);
	if (url == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto error;
	}
	memcpy(url, "file:", 5);
	memcpy(url + 5, path, strlen(path) + 1);
	if (video_check_y4m(r, cause) == -1) {
		free(url);
		goto error;
	}
	ffmpeg.av_dict_set(&dict, "protocol_whitelist", "file", 0);
	ffmpeg.av_dict_set(&dict, "pattern_type", "none", 0);
	ret = ffmpeg.avformat_open_input(&r->fmt, url, NULL, &dict);
	ffmpeg.av_dict_free(&dict);
	free(url);
	if (ret < 0) {
		/* avformat_open_input frees the context on failure. */
		video_av_cause(cause, path, "not a video file FFmpeg can read", ret);
		goto error;
	}
	/* ANSI art: FFmpeg "plays" any text file; not a video for us. */
	if (strcmp(r->fmt->iformat->name, "tty") == 0) {
		util_set_cause(cause, "%s: not a video file (text)", UTIL_NAME(path));
		goto error;
	}
	/* Absurd sizes are refused before FFmpeg reads a single frame. */
	for (unsigned i = 0; i < r->fmt->nb_streams; i++) {
		AVCodecParameters *par = r->fmt->streams[i]->codecpar;
		if (par->codec_type == AVMEDIA_TYPE_VIDEO && (par->width != 0 || par->height != 0) &&
		    !video_size_ok(r, par->width, par->height)) {
			video_size_cause(r, par->width, par->height, cause);
			goto error;
		}
	}
	ret = video_find_stream_info(r);
	if (ret < 0) {
		video_av_cause(cause, path, "cannot read the stream parameters", ret);
		goto error;
	}
	si = video_pick_stream(r, cause);
	if (si < 0)
		goto error;
	r->st = r->fmt->streams[si];
	for (unsigned i = 0; i < r->fmt->nb_streams; i++)
		if ((int)i != si)
			r->fmt->streams[i]->discard = AVDISCARD_ALL;
	if ((r->st->codecpar->width != 0 || r->st->codecpar->height != 0) &&
	    !video_size_ok(r, r->st->codecpar->width, r->st->codecpar->height)) {
		video_size_cause(r, r->st->codecpar->width, r->st->codecpar->height, cause);
		goto error;
	}
	if (video_open_decoder(r, cause) == -1 || video_probe(r, cause) == -1)
		goto error;
	r->deadline = 0;
	return r;
error:
	video_close(r);
	return NULL;
}

void video_close(video_reader *r)
{
	if (r == NULL)
		return;
	ffmpeg.avcodec_free_context(&r->dec);
	ffmpeg.avformat_close_input(&r->fmt);
	if (r->q != NULL)
		video_queue_clear(r);
	free(r->q);
	ffmpeg.av_packet_free(&r->pkt);
	ffmpeg.av_frame_free(&r->frame);
	ffmpeg.av_frame_free(&r->cand);
	ffmpeg.av_frame_free(&r->ahead);
	ffmpeg.sws_freeContext(r->sws);
	ffmpeg.sws_freeContext(r->thumb_sws);
	ffmpeg.sws_freeContext(r->jpeg_sws);
	ffmpeg.avcodec_free_context(&r->jpeg);
	ffmpeg.av_frame_free(&r->jpeg_frame);
	ffmpeg.av_packet_free(&r->jpeg_pkt);
	free(r->rgb);
	free(r->scratch);
	free(r->thumb_rgb);
	free(r->thumb_up);
	free(r->kf);
	free(r->path);
	if (r->log_lock_ready)
		pthread_mutex_destroy(&r->log_lock);
	free(r);
}

const video_info *video_get_info(const video_reader *r)
{
	return &r->info;
}

const char *video_path(const video_reader *r)
{
	return r->path;
}

/* ---- decoding ---------------------------------------------------------------- */

static void video_stop(video_reader *r, const char *fmt, ...) UTIL_PRINTF(2, 3);
static void video_stop(video_reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->stop_reason[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->stop_reason, sizeof r->stop_reason, fmt, ap);
	va_end(ap);
}

/* Count a decoding error; 1 when it is one too many. */
static int video_count_error(video_reader *r, int err)
{
	r->errors++;
	r->consecutive_errors++;
	if (r->first_error[0] == '\0')
		ffmpeg.av_strerror(err, r->first_error, sizeof r->first_error);
	if (err == AVERROR(ENOMEM)) {
		video_stop(r, "out of memory while decoding");
		return 1;
	}
	if (r->consecutive_errors > VIDEO_MAX_ERRORS) {
		video_stop(r, "gave up after %d decoding errors in a row", r->consecutive_errors);
		return 1;
	}
	return 0;
}

/* Forget the packets read ahead (after a seek). */
static void video_queue_clear(video_reader *r)
{
	for (int i = 0; i < r->q_len; i++)
		ffmpeg.av_packet_free(&r->q[r->q_head + i]);
	r->q_head = r->q_len = 0;
	r->q_bytes = 0;
	r->n_sent = 0;
	r->pts_unreliable = 0;
	r->max_dts = AV_NOPTS_VALUE;
	r->flush_sent = r->drained = 0;
}

/*
 * Read one packet of the video stream into the look-ahead queue.  1: a
 * packet; 0: the end of the file; -1: a limit stopped reading.
 */
static int video_read_packet(video_reader *r)
{
	for (;;) {
		AVPacket *p;
		int ret;

		if (r->packets >= r->packet_budget) {
			video_stop(r, "gave up after reading %lld packets", (long long)r->packets);
			return -1;
		}
		if (r->deadline > 0 && util_now() > r->deadline) {
			video_stop(r, "time limit of %.0f s reached", r->opt.time_limit);
			return -1;
		}
		ret = ffmpeg.av_read_frame(r->fmt, r->pkt);
		if (ret == AVERROR(EAGAIN))
			continue;
		if (ret < 0) {
			if (ret == AVERROR_EXIT) {
				video_stop(r, "time limit of %.0f s reached", r->opt.time_limit);
				return -1;
			}
			if (ret != AVERROR_EOF)
				video_count_error(r, ret);
			r->demux_eof = 1;
			return 0;
		}
		if (r->pkt->stream_index != r->st->index) {
			ffmpeg.av_packet_unref(r->pkt);
			continue;
		}
		r->packets++;
		r->packets_seen++;
		r->at_start = 0;
		/*
		 * After a seek, start at a keyframe: what precedes it cannot decode.
		 * Only in streams seen to flag keyframes, and never for long.
		 */
		if (r->need_key && !(r->pkt->flags & AV_PKT_FLAG_KEY) &&
		    !(r->packets_seen >= 600 && r->keys_seen <= 1) && r->dropped++ < 1000) {
			ffmpeg.av_packet_unref(r->pkt);
			continue;
		}
		r->need_key = 0;
		if (r->pkt->flags & AV_PKT_FLAG_KEY)
			r->keys_seen++;
		if ((r->pkt->flags & AV_PKT_FLAG_KEY) && r->pkt->pts != AV_NOPTS_VALUE) {
			if (r->last_key != AV_NOPTS_VALUE && r->pkt->pts - r->last_key > r->gop_seen)
				r->gop_seen = r->pkt->pts - r->last_key;
			r->last_key = r->pkt->pts;
		}
		if (r->pkt->pts == AV_NOPTS_VALUE || r->pkt->dts == AV_NOPTS_VALUE ||
		    r->pkt->pts < r->pkt->dts ||
		    (r->max_dts != AV_NOPTS_VALUE && r->pkt->dts < r->max_dts))
			r->pts_unreliable = 1;
		else
			r->max_dts = r->pkt->dts;
		if (r->q_head + r->q_len == r->q_cap) {
			if (r->q_head > 0) {
				memmove(r->q, r->q + r->q_head, (size_t)r->q_len * sizeof *r->q);
				r->q_head = 0;
			} else {
				int cap = r->q_cap ? r->q_cap * 2 : 64;
				AVPacket **q = realloc(r->q, (size_t)cap * sizeof *q);
				if (q == NULL) {
					ffmpeg.av_packet_unref(r->pkt);
					video_stop(r, "out of memory while reading");
					return -1;
				}
				r->q = q, r->q_cap = cap;
			}
		}
		p = ffmpeg.av_packet_alloc();
		if (p == NULL) {
			ffmpeg.av_packet_unref(r->pkt);
			video_stop(r, "out of memory while reading");
			return -1;
		}
		ffmpeg.av_packet_move_ref(p, r->pkt);
		r->q[r->q_head + r->q_len++] = p;
		r->q_bytes += p->size;
		return 1;
	}
}

/*
 * Whether the queue already shows everything that can be on screen at t:
 * packets come in decode order with non-decreasing dts and pts >= dts, so
 * once a dts passes t (with a margin for guessed dts) no later packet can
 * have pts <= t.
 */
static int video_seen_past(const video_reader *r, int64_t t)
{
	return r->demux_eof ||
	    (r->max_dts != AV_NOPTS_VALUE && (double)r->max_dts > (double)t + 2 * r->frame_ticks);
}

/* A packet since the seek with pts in (lo, hi]: 1 yes, 0 no. */
static int video_pts_between(const video_reader *r, int64_t lo, int64_t hi)
{
	int n = r->n_sent < VIDEO_SENT_MEMORY ? r->n_sent : VIDEO_SENT_MEMORY;

	for (int i = 0; i < n; i++) {
		int64_t s = r->sent[i];
		if (s > lo && s <= hi)
			return 1;
	}
	for (int i = 0; i < r->q_len; i++) {
		int64_t s = r->q[r->q_head + i]->pts;
		if (s > lo && s <= hi)
			return 1;
	}
	return 0;
}

/*
 * Whether packet p (just taken off the queue) may be skipped if it is not
 * a reference frame: it is no target's frame because another packet since
 * the seek is shown later and still at or before the first target at or
 * after p.  Reads ahead as far as that takes.  When in doubt: no.
 */
static int video_skippable(video_reader *r, const AVPacket *p)
{
	int lo = 0, hi = r->n_targets;
	int64_t t;

	if (r->n_targets == 0 || r->pts_unreliable || p->pts == AV_NOPTS_VALUE ||
	    (p->flags & AV_PKT_FLAG_KEY))
		return 0;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (r->targets[mid] < p->pts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == r->n_targets)
		return 0; /* past the last target: decoding stops soon anyway */
	t = r->targets[lo];
	for (;;) {
		if (r->pts_unreliable)
			return 0;
		if (video_pts_between(r, p->pts, t))
			return 1;
		if (video_seen_past(r, t) || r->q_len >= VIDEO_QUEUE_MAX ||
		    r->q_bytes >= VIDEO_QUEUE_BYTES || video_read_packet(r) <= 0)
			return 0;
	}
}

/*
 * Whether everything needed to show the frame at t has gone to the
 * decoder: the queue shows what follows t, and the latest packet at or
 * before t was sent.  Then the decoder can be drained instead of fed more.
 */
static int video_target_sent(const video_reader *r, int64_t t)
{
	int64_t best_sent = INT64_MIN, best_queued = INT64_MIN;
	int n = r->n_sent < VIDEO_SENT_MEMORY ? r->n_sent : VIDEO_SENT_MEMORY;

	if (r->pts_unreliable || !video_seen_past(r, t))
		return 0;
	for (int i = 0; i < n; i++)
		if (r->sent[i] <= t && r->sent[i] > best_sent)
			best_sent = r->sent[i];
	for (int i = 0; i < r->q_len; i++) {
		int64_t s = r->q[r->q_head + i]->pts;
		if (s <= t && s > best_queued)
			best_queued = s;
	}
	return best_sent != INT64_MIN && best_sent >= best_queued;
}

/*
 * The next decoded frame, into r->frame with its pts (stream time base)
 * in r->frame->pts.  1: a frame; 0: the end of the stream, or of a drain
 * (r->drained); -1: a limit stopped decoding (r->stop_reason says which).
 */
static int video_next_frame(video_reader *r)
{
	for (;;) {
		int ret = ffmpeg.avcodec_receive_frame(r->dec, r->frame);
		AVPacket *p;

		if (ret >= 0) {
			AVFrame *f = r->frame;
			int64_t pts = f->best_effort_timestamp;

			if (!video_size_ok(r, f->width, f->height)) {
				ffmpeg.av_frame_unref(f);
				if (video_count_error(r, AVERROR_INVALIDDATA))
					return -1;
				continue;
			}
			if (pts == AV_NOPTS_VALUE)
				pts = f->pts;
			if (pts == AV_NOPTS_VALUE) {
				/* Number it after the last frame, or from the start of a fresh pass. */
				if (r->pos != AV_NOPTS_VALUE)
					pts = r->pos + (int64_t)(r->frame_ticks + 0.5);
				else if (!r->seeked || r->no_timestamps)
					pts = r->start;
				else {
					ffmpeg.av_frame_unref(f); /* after a seek, no way to place it */
					continue;
				}
			}
			f->pts = pts;
			r->pos = pts;
			r->consecutive_errors = 0;
			r->serial++;
			r->decoded++;
			return 1;
		}
		if (ret == AVERROR_EOF) {
			r->dec_eof = 1;
			return 0;
		}
		if (ret != AVERROR(EAGAIN)) {
			if (video_count_error(r, ret))
				return -1;
			continue;
		}
		if (r->flush_sent)
			return 0; /* cannot happen: a drained decoder ends with EOF */
		if (r->q_len == 0 && !r->demux_eof) {
			if (video_read_packet(r) < 0)
				return -1;
			continue;
		}
		if (r->q_len == 0 ||
		    (r->drain_at != AV_NOPTS_VALUE && video_target_sent(r, r->drain_at))) {
			/* The end, or nothing more is needed before the next seek. */
			r->drained = r->q_len > 0 || !r->demux_eof;
			r->flush_sent = 1;
			ffmpeg.avcodec_send_packet(r->dec, NULL);
			continue;
		}
		p = r->q[r->q_head];
		r->q_head++, r->q_len--;
		r->q_bytes -= p->size;
		/*
		 * Only non-reference frames no target shows are skipped: no other
		 * frame's pixels depend on them.  skip_loop_filter is never used
		 * here: it changes the pixels of every frame it applies to, and of
		 * the frames that reference them.
		 */
		r->dec->skip_frame = !r->opt.no_skip && video_skippable(r, p) ? AVDISCARD_NONREF :
		    AVDISCARD_DEFAULT;
		if (p->pts != AV_NOPTS_VALUE)
			r->sent[r->n_sent++ % VIDEO_SENT_MEMORY] = p->pts;
		ret = ffmpeg.avcodec_send_packet(r->dec, p);
		ffmpeg.av_packet_free(&p);
		if (ret < 0 && ret != AVERROR(EAGAIN) && video_count_error(r, ret))
			return -1;
	}
}

static void video_drop_frames(video_reader *r)
{
	ffmpeg.av_frame_unref(r->cand);
	ffmpeg.av_frame_unref(r->ahead);
	r->cand_serial = r->ahead_serial = 0;
}

/* Seek to the keyframe at or before ts and reset the decoder; 0 or -1. */
static int video_seek(video_reader *r, int64_t ts)
{
	int ret = ffmpeg.av_seek_frame(r->fmt, r->st->index, ts, AVSEEK_FLAG_BACKWARD);

	if (ret < 0)
		ret = ffmpeg.avformat_seek_file(r->fmt, r->st->index, INT64_MIN, ts, ts, 0);
	r->seeks++;
	if (ret < 0)
		return -1;
	ffmpeg.avcodec_flush_buffers(r->dec);
	video_drop_frames(r);
	video_queue_clear(r);
	r->seeked = 1;
	r->need_key = 1;
	r->dropped = 0;
	r->demux_eof = r->dec_eof = 0;
	r->at_start = 0;
	r->pos = AV_NOPTS_VALUE;
	r->last_key = AV_NOPTS_VALUE;
	return 0;
}

/* The last index keyframe at or before t, or INT64_MIN. */
static int64_t video_keyframe_before(const video_reader *r, int64_t t)
{
	int lo = 0, hi = r->n_kf;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (r->kf[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? r->kf[lo - 1] : INT64_MIN;
}

/* Frames a seek costs beyond the ones it decodes: flush, thread refill. */
static double video_seek_penalty(const video_reader *r)
{
	return r->dec->thread_count + 2.0;
}

/* Keyframe interval to assume without an index: what was seen, else 2 s. */
static double video_gop_guess(const video_reader *r)
{
	double two_s = 2.0 / av_q2d(r->tb);

	return r->gop_seen > 0 ? (double)r->gop_seen : two_s;
}

/* Whether reaching t from the current position is cheaper by seeking. */
static int video_should_seek(const video_reader *r, int64_t t)
{
	/* Fresh from open, everything from the first frame on is reachable. */
	int64_t pos = r->at_start ? r->start : r->pos;

	if (pos == AV_NOPTS_VALUE || (pos >= t && !r->at_start))
		return 1;
	if (r->n_kf > 0)
		return video_keyframe_before(r, t) > pos;
	return (double)(t - pos) >
	    video_gop_guess(r) / 2 + video_seek_penalty(r) * r->frame_ticks;
}

/* Whether, positioned at `from`, reaching `to` will take a seek. */
static int video_will_seek(const video_reader *r, int64_t from, int64_t to)
{
	if (r->n_kf > 0)
		return video_keyframe_before(r, to) > from;
	return (double)(to - from) >
	    video_gop_guess(r) / 2 + video_seek_penalty(r) * r->frame_ticks;
}

/*
 * Decoded frames each strategy costs for targets t[0..n-1]; 1 when one
 * sequential pass is no dearer than seeking.
 */
static int video_plan_sequential_from(const video_reader *r, int64_t from, const int64_t *t,
    int n)
{
	double ft = r->frame_ticks, penalty = video_seek_penalty(r);
	double seq = (double)(t[n - 1] - from) / ft + 1, seek = 0;

	if (r->no_timestamps)
		return 1;

	if (r->n_kf > 0) {
		int64_t pos = from;
		int seeks = 0;
		for (int i = 0; i < n; i++) {
			int64_t k = video_keyframe_before(r, t[i]);
			if (k <= pos) {
				seek += (double)(t[i] - pos) / ft;
			} else {
				seek += (double)(t[i] - k) / ft + penalty;
				seeks++;
			}
			pos = t[i];
		}
		if (seeks == 0)
			return 1; /* seeking would never seek: that is one pass */
	} else {
		seek = n * (video_gop_guess(r) / 2 / ft + penalty);
	}
	return seq <= seek;
}

static int video_plan_sequential(const video_reader *r, const int64_t *t, int n)
{
	return video_plan_sequential_from(r, r->start, t, n);
}

/* ---- frames out ------------------------------------------------------------------ */

/* r->rgb [h, rgb_stride]: frame f as RGB24 at its stored size. */
static int video_to_rgb(video_reader *r, const AVFrame *f, char **cause)
{
	size_t need;
	int stride = (f->width * 3 + 63) & ~63;

	if (video_scaler(&r->sws, r->sws_key, f, f->width, f->height, AV_PIX_FMT_RGB24, 1) ==
	    NULL) {
		util_set_cause(cause, "%s: cannot convert %s frames to RGB", UTIL_NAME(r->path),
		    ffmpeg.av_get_pix_fmt_name((enum AVPixelFormat)f->format));
		return -1;
	}
	/* A little slack: SIMD converters may write past the last pixel. */
	need = (size_t)stride * f->height + 64;
	if (need > r->rgb_cap) {
		free(r->rgb);
		r->rgb = malloc(need);
		r->rgb_cap = r->rgb != NULL ? need : 0;
		if (r->rgb == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
			return -1;
		}
	}
	r->rgb_stride = stride;
	ffmpeg.sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, &r->rgb,
	    &r->rgb_stride);
	return 0;
}

static AVRational video_frame_sar(const video_reader *r, const AVFrame *f)
{
	if (f->sample_aspect_ratio.num > 0 && f->sample_aspect_ratio.den > 0)
		return f->sample_aspect_ratio;
	return (AVRational){ r->info.sar_num, r->info.sar_den };
}

static int video_jpeg_open(video_reader *r, int w, int h, char **cause)
{
	const AVCodec *codec = ffmpeg.avcodec_find_encoder(AV_CODEC_ID_MJPEG);
	int ret;

	ffmpeg.avcodec_free_context(&r->jpeg);
	ffmpeg.av_frame_free(&r->jpeg_frame);
	if (codec == NULL) {
		util_set_cause(cause, "%s: this FFmpeg has no JPEG encoder for thumbnails",
		    UTIL_NAME(r->path));
		return -1;
	}
	r->jpeg = ffmpeg.avcodec_alloc_context3(codec);
	r->jpeg_frame = ffmpeg.av_frame_alloc();
	if (r->jpeg_pkt == NULL)
		r->jpeg_pkt = ffmpeg.av_packet_alloc();
	if (r->jpeg == NULL || r->jpeg_frame == NULL || r->jpeg_pkt == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
		return -1;
	}
	r->jpeg->width = w;
	r->jpeg->height = h;
	r->jpeg->pix_fmt = AV_PIX_FMT_YUVJ420P;
	r->jpeg->color_range = AVCOL_RANGE_JPEG;
	r->jpeg->time_base = (AVRational){ 1, 25 };
	r->jpeg->flags |= AV_CODEC_FLAG_QSCALE;
	r->jpeg->global_quality = FF_QP2LAMBDA * r->opt.thumb_quality;
	r->jpeg->thread_count = 1;
	ret = ffmpeg.avcodec_open2(r->jpeg, codec, NULL);
	if (ret < 0) {
		video_av_cause(cause, r->path, "cannot open the JPEG encoder", ret);
		return -1;
	}
	r->jpeg_frame->format = AV_PIX_FMT_YUVJ420P;
	r->jpeg_frame->width = w;
	r->jpeg_frame->height = h;
	r->jpeg_frame->color_range = AVCOL_RANGE_JPEG;
	ret = ffmpeg.av_frame_get_buffer(r->jpeg_frame, 0);
	if (ret < 0) {
		video_av_cause(cause, r->path, "cannot allocate a thumbnail", ret);
		return -1;
	}
	return 0;
}

/* A JPEG thumbnail tw x th (display orientation) of frame f. */
static int video_thumbnail(video_reader *r, const AVFrame *f, int tw, int th, uint8_t **data,
    size_t *size, char **cause)
{
	int sw = r->swap ? th : tw, sh = r->swap ? tw : th; /* stored orientation */
	size_t need = (size_t)tw * th * 3 + 64;
	uint8_t *dst[4];
	int dst_stride[4] = { sw * 3, 0, 0, 0 };
	const uint8_t *src[4];
	int src_stride[4] = { tw * 3, 0, 0, 0 };
	int ret;

	if (need > r->thumb_cap) {
		free(r->thumb_rgb);
		free(r->thumb_up);
		r->thumb_rgb = malloc(need);
		r->thumb_up = malloc(need);
		r->thumb_cap = r->thumb_rgb != NULL && r->thumb_up != NULL ? need : 0;
		if (r->thumb_cap == 0) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
			return -1;
		}
	}
	if (video_scaler(&r->thumb_sws, r->thumb_key, f, sw, sh, AV_PIX_FMT_RGB24, 1) == NULL) {
		util_set_cause(cause, "%s: cannot scale %s frames", UTIL_NAME(r->path),
		    ffmpeg.av_get_pix_fmt_name((enum AVPixelFormat)f->format));
		return -1;
	}
	dst[0] = r->thumb_rgb;
	ffmpeg.sws_scale(r->thumb_sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
	    dst_stride);

	/* Upright copy. */
	{
		preprocess_view v = preprocess_view_oriented(r->thumb_rgb, sw, sh, (size_t)sw * 3,
		    r->swap, r->flip_x, r->flip_y);
		for (int y = 0; y < th; y++) {
			uint8_t *o = r->thumb_up + (size_t)y * tw * 3;
			for (int x = 0; x < tw; x++) {
				const uint8_t *p = v.origin + x * v.xstep + y * v.ystep;
				o[x * 3] = p[0], o[x * 3 + 1] = p[1], o[x * 3 + 2] = p[2];
			}
		}
	}

	if (r->jpeg == NULL || r->jpeg->width != tw || r->jpeg->height != th)
		if (video_jpeg_open(r, tw, th, cause) == -1)
			return -1;
	ret = ffmpeg.av_frame_make_writable(r->jpeg_frame);
	if (ret < 0) {
		video_av_cause(cause, r->path, "cannot write a thumbnail", ret);
		return -1;
	}
	/* RGB -> full-range YUV 4:2:0 through a tiny RGB "frame". */
	{
		AVFrame tmp = { 0 };
		tmp.format = AV_PIX_FMT_RGB24;
		tmp.width = tw;
		tmp.height = th;
		tmp.colorspace = AVCOL_SPC_BT470BG;
		tmp.color_range = AVCOL_RANGE_JPEG;
		tmp.data[0] = r->thumb_up;
		tmp.linesize[0] = tw * 3;
		if (video_scaler(&r->jpeg_sws, r->jpeg_key, &tmp, tw, th, AV_PIX_FMT_YUV420P, 1) ==
		    NULL) {
			util_set_cause(cause, "%s: cannot convert a thumbnail to YUV",
			    UTIL_NAME(r->path));
			return -1;
		}
		src[0] = r->thumb_up;
		src[1] = src[2] = src[3] = NULL;
		ffmpeg.sws_scale(r->jpeg_sws, src, src_stride, 0, th, r->jpeg_frame->data,
		    r->jpeg_frame->linesize);
	}
	r->jpeg_frame->pts = r->jpeg_pts++;
	r->jpeg_frame->quality = r->jpeg->global_quality;
	ret = ffmpeg.avcodec_send_frame(r->jpeg, r->jpeg_frame);
	if (ret >= 0)
		ret = ffmpeg.avcodec_receive_packet(r->jpeg, r->jpeg_pkt);
	if (ret < 0) {
		video_av_cause(cause, r->path, "cannot encode a thumbnail", ret);
		return -1;
	}
	*data = malloc((size_t)r->jpeg_pkt->size);
	if (*data == NULL) {
		ffmpeg.av_packet_unref(r->jpeg_pkt);
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
		return -1;
	}
	memcpy(*data, r->jpeg_pkt->data, (size_t)r->jpeg_pkt->size);
	*size = (size_t)r->jpeg_pkt->size;
	ffmpeg.av_packet_unref(r->jpeg_pkt);
	return 0;
}

/* Preprocess frame f into slot i of out. */
static int video_emit(video_reader *r, const AVFrame *f, video_frames *out, int i, char **cause)
{
	int S = out->size, dw, dh;
	AVRational sar = video_frame_sar(r, f);

	if (video_display_size(r, f->width, f->height, sar, &dw, &dh))
		r->bad_sar = sar;
	out->times[i] = (f->pts - r->origin) * av_q2d(r->tb);
	if ((f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags != 0)
		out->flags[i] |= VIDEO_FRAME_CORRUPT;
	if (S > 0 && (out->rgb != NULL || out->pixels != NULL)) {
		size_t plane = (size_t)S * S;
		uint8_t *dst = out->rgb != NULL ? out->rgb + (size_t)i * plane * 3 : r->scratch;
		preprocess_view v;

		if (video_to_rgb(r, f, cause) == -1)
			return -1;
		v = preprocess_view_oriented(r->rgb, f->width, f->height, (size_t)r->rgb_stride,
		    r->swap, r->flip_x, r->flip_y);
		if (preprocess_clip_rgb(&v, dw, dh, S, dst, cause) == -1) {
			util_prefix_cause(cause, "%s", UTIL_NAME(r->path));
			return -1;
		}
		if (out->pixels != NULL)
			preprocess_normalize(dst, plane, out->pixels + (size_t)i * plane * 3);
	}
	if (out->thumbs != NULL) {
		int tw = out->thumb_width;
		int th = (int)lrint((double)tw * dh / dw);
		th = th < 2 ? 2 : th > 8 * tw ? 8 * tw : th;
		th += th & 1;
		out->thumb_height = th;
		if (video_thumbnail(r, f, tw, th, &out->thumbs[i], &out->thumb_sizes[i], cause) == -1)
			return -1;
	}
	return 0;
}

void video_frames_free(video_frames *f)
{
	if (f == NULL)
		return;
	if (f->thumbs != NULL)
		for (int i = 0; i < f->requested; i++)
			free(f->thumbs[i]);
	free(f->thumbs);
	free(f->thumb_sizes);
	free(f->targets);
	free(f->frame_of);
	free(f->times);
	free(f->flags);
	free(f->rgb);
	free(f->pixels);
	free(f->note);
	free(f);
}

static video_frames *video_frames_new(const video_reader *r, int n)
{
	video_frames *f = calloc(1, sizeof *f);
	int S = r->opt.size;
	size_t plane = (size_t)S * S, bytes;

	if (f == NULL)
		return NULL;
	f->requested = n;
	f->size = S;
	f->strategy = "seek";
	f->targets = calloc((size_t)n, sizeof *f->targets);
	f->frame_of = calloc((size_t)n, sizeof *f->frame_of);
	f->times = calloc((size_t)n, sizeof *f->times);
	f->flags = calloc((size_t)n, sizeof *f->flags);
	if (f->targets == NULL || f->frame_of == NULL || f->times == NULL || f->flags == NULL)
		goto fail;
	if (S > 0 && r->opt.want_rgb) {
		if (util_mul_size(plane * 3, (size_t)n, &bytes) == -1 ||
		    (f->rgb = malloc(bytes)) == NULL)
			goto fail;
	}
	if (S > 0 && r->opt.want_float) {
		if (util_mul_size(plane * 3 * sizeof(float), (size_t)n, &bytes) == -1 ||
		    (f->pixels = malloc(bytes)) == NULL)
			goto fail;
	}
	if (r->opt.thumb_width > 0) {
		f->thumb_width = r->opt.thumb_width;
		f->thumbs = calloc((size_t)n, sizeof *f->thumbs);
		f->thumb_sizes = calloc((size_t)n, sizeof *f->thumb_sizes);
		if (f->thumbs == NULL || f->thumb_sizes == NULL)
			goto fail;
	}
	return f;
fail:
	video_frames_free(f);
	return NULL;
}

static void video_note(video_frames *out, const char *fmt, ...) UTIL_PRINTF(2, 3);
static void video_note(video_frames *out, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	size_t old = out->note != NULL ? strlen(out->note) : 0;
	char *n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	n = realloc(out->note, old + (old ? 2 : 0) + strlen(buf) + 1);
	if (n == NULL)
		return;
	if (old)
		memcpy(n + old, "; ", 2), old += 2;
	memcpy(n + old, buf, strlen(buf) + 1);
	out->note = n;
	out->partial = 1;
}

/*
 * One sampling pass over targets t[0..F-1] (stream time base).  Fills out;
 * returns the number of frames, or -1 with a cause on a hard error.  *late
 * is set when the stream ended well before a target.
 */
static int video_sample_pass(video_reader *r, const int64_t *t, int F, int group,
    int sequential, int cont, int64_t next, video_frames *out, int *late, char **cause)
{
	int count = 0, eof = 0, stopped = 0;
	int64_t emitted = 0, cand_pts = 0, ahead_pts = 0;
	int positioned = r->at_start;
	double tol = fmax(2 * r->frame_ticks, 0.5 / av_q2d(r->tb));

	if (cont) {
		/* Go on from the previous pass: its held frames may be shown at our targets. */
		positioned = !r->flush_sent && r->pos != AV_NOPTS_VALUE;
		cand_pts = r->cand_serial != 0 ? r->cand->pts : 0;
		ahead_pts = r->ahead_serial != 0 ? r->ahead->pts : 0;
	} else {
		video_drop_frames(r);
	}
	r->targets = t;
	r->n_targets = F;
	if (sequential && !r->at_start && !cont) {
		if (video_seek(r, r->start) == -1 && video_seek(r, INT64_MIN) == -1) {
			util_set_cause(cause, "%s: cannot go back to the start",
			    UTIL_NAME(r->path));
			return -1;
		}
		positioned = 1;
	}
	for (int i = 0; i < F; i++) {
		/* Each group (segment) gets its own frames, even one shown across its start. */
		if (i % group == 0)
			emitted = 0;
		/* A frame decoded past the previous target may be this one's. */
		if (r->ahead_serial != 0 && ahead_pts <= t[i]) {
			ffmpeg.av_frame_unref(r->cand);
			ffmpeg.av_frame_move_ref(r->cand, r->ahead);
			r->cand_serial = r->ahead_serial, cand_pts = ahead_pts;
			r->ahead_serial = 0;
		}
		if (r->ahead_serial == 0 && !eof && !stopped) {
			int need_seek = !sequential && (!positioned || video_should_seek(r, t[i]));
			int64_t seek_ts = t[i];

			/* When the next target needs a seek, drain rather than decode past this one. */
			int64_t after = i < F - 1 ? t[i + 1] : next;
			r->drain_at = after == AV_NOPTS_VALUE ||
			    (!sequential && video_will_seek(r, t[i], after)) ? t[i] : AV_NOPTS_VALUE;

			for (int attempt = 0;; attempt++) {
				if (need_seek) {
					if (video_seek(r, seek_ts) == 0) {
						positioned = 1;
					} else if (!positioned) {
						util_set_cause(cause,
						    "%s: cannot seek in this file", UTIL_NAME(r->path));
						return -1;
					}
				}
				for (;;) {
					int got = video_next_frame(r);
					if (got == 0 && r->drained) {
						positioned = 0; /* the next target seeks */
						break;
					}
					if (got <= 0) {
						eof = got == 0;
						stopped = got < 0;
						break;
					}
					if (r->frame->pts <= t[i]) {
						ffmpeg.av_frame_unref(r->cand);
						ffmpeg.av_frame_move_ref(r->cand, r->frame);
						r->cand_serial = r->serial, cand_pts = r->cand->pts;
						continue;
					}
					ffmpeg.av_frame_move_ref(r->ahead, r->frame);
					r->ahead_serial = r->serial, ahead_pts = r->ahead->pts;
					break;
				}
				if (r->cand_serial != 0 || r->ahead_serial == 0 || !need_seek ||
				    attempt >= VIDEO_SEEK_RETRIES ||
				    ahead_pts <= r->start + (int64_t)(r->frame_ticks / 2))
					break;
				/* Landed after the target: the frame on screen is further back. */
				seek_ts = (seek_ts < ahead_pts ? seek_ts : ahead_pts) -
				    (int64_t)(video_gop_guess(r) * (1 << attempt));
				if (attempt + 1 == VIDEO_SEEK_RETRIES || seek_ts <= r->start)
					seek_ts = r->start;
				ffmpeg.av_frame_unref(r->ahead);
				r->ahead_serial = 0;
			}
			/* Before the first frame: the first frame is what is shown. */
			if (r->cand_serial == 0 && r->ahead_serial != 0) {
				ffmpeg.av_frame_move_ref(r->cand, r->ahead);
				r->cand_serial = r->ahead_serial, cand_pts = ahead_pts;
				r->ahead_serial = 0;
			}
		}
		if (r->cand_serial == 0) {
			out->frame_of[i] = -1;
			continue;
		}
		if (r->cand_serial != emitted) {
			if (video_emit(r, r->cand, out, count, cause) == -1)
				return -1;
			emitted = r->cand_serial;
			count++;
		}
		out->frame_of[i] = count - 1;
		if ((eof || stopped) && r->ahead_serial == 0) {
			int64_t dur = video_frame_duration(r->cand);
			if ((double)(t[i] - cand_pts) > fmax((double)dur, r->frame_ticks) + tol) {
				out->flags[count - 1] |= VIDEO_FRAME_LATE;
				*late = 1;
			}
		}
	}
	/* Targets before any decodable frame take the first frame found. */
	for (int i = 0; i < F && count > 0; i++)
		if (out->frame_of[i] < 0)
			out->frame_of[i] = 0;
	return count;
}

/*
 * What every read starts with: *out for total frames, *t for their target
 * timestamps, the scratch picture, and the error counters, packet counts
 * and deadline of this read (with reset_log, the decoder-message log too).
 * 0, or -1 with *cause (whatever was allocated is in *out and *t).
 */
static int video_read_begin(video_reader *r, int total, int reset_log, video_frames **out,
    int64_t **t, char **cause)
{
	*out = video_frames_new(r, total);
	*t = malloc((size_t)total * sizeof **t);
	if (*out == NULL || *t == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
		return -1;
	}
	if ((*out)->size > 0 && (*out)->rgb == NULL && r->scratch == NULL) {
		r->scratch = malloc((size_t)(*out)->size * (*out)->size * 3);
		if (r->scratch == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->path));
			return -1;
		}
	}
	r->errors = r->consecutive_errors = 0;
	r->first_error[0] = r->stop_reason[0] = '\0';
	if (reset_log) {
		pthread_mutex_lock(&r->log_lock);
		r->log_errors = 0;
		r->log_first[0] = '\0';
		pthread_mutex_unlock(&r->log_lock);
	}
	r->packets = r->decoded = 0;
	r->seeks = 0;
	r->deadline = util_now() + r->opt.time_limit;
	return 0;
}

/* The index keyframe nearest t (ties: the earlier), or INT64_MIN without an index. */
static int64_t video_keyframe_nearest(const video_reader *r, int64_t t)
{
	int64_t before = video_keyframe_before(r, t), after = INT64_MIN;
	int lo = 0, hi = r->n_kf;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (r->kf[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->n_kf)
		after = r->kf[lo];
	if (before == INT64_MIN)
		return after;
	if (after != INT64_MIN && after - t < t - before)
		return after;
	return before;
}

/*
 * Decode the keyframe at (or, without an index entry, the first one after
 * a seek to) ts into r->frame: seek, send the first keyframe packet of the
 * stream and drain.  1: a frame; 0: none (end of stream); -1: a limit.
 */
static int video_decode_keyframe(video_reader *r, int64_t ts)
{
	int ret, sent = 0;

	if (video_seek(r, ts) == -1 && video_seek(r, INT64_MIN) == -1)
		return 0;
	r->dec->skip_frame = AVDISCARD_NONKEY;
	for (int budget = 0; !sent; budget++) {
		if (util_now() > r->deadline || r->packets >= r->packet_budget) {
			video_stop(r, "stopped after %.0f s or %lld packets", r->opt.time_limit,
			    (long long)r->packets);
			return -1;
		}
		if ((ret = ffmpeg.av_read_frame(r->fmt, r->pkt)) < 0)
			break;
		if (r->pkt->stream_index == r->st->index) {
			r->packets++;
			/*
			 * A stream that flags no keyframes: after a while take what
			 * comes, decoded as it is.
			 */
			if (!(r->pkt->flags & AV_PKT_FLAG_KEY) && budget > VIDEO_QUEUE_MAX)
				r->dec->skip_frame = AVDISCARD_DEFAULT;
			if ((r->pkt->flags & AV_PKT_FLAG_KEY) || budget > VIDEO_QUEUE_MAX) {
				ret = ffmpeg.avcodec_send_packet(r->dec, r->pkt);
				sent = ret >= 0;
				if (ret < 0)
					video_count_error(r, ret);
			}
		}
		ffmpeg.av_packet_unref(r->pkt);
	}
	ffmpeg.avcodec_send_packet(r->dec, NULL);
	r->flush_sent = 1;
	for (;;) {
		ret = ffmpeg.avcodec_receive_frame(r->dec, r->frame);
		if (ret >= 0) {
			int64_t pts = r->frame->best_effort_timestamp;
			if (pts == AV_NOPTS_VALUE)
				pts = r->frame->pts;
			if (pts == AV_NOPTS_VALUE)
				pts = ts > r->start ? ts : r->start;
			r->frame->pts = pts;
			r->pos = pts;
			r->serial++;
			r->decoded++;
			break;
		}
		if (ret == AVERROR_EOF)
			break;
		if (ret != AVERROR(EAGAIN) && video_count_error(r, ret))
			break;
	}
	r->dec->skip_frame = AVDISCARD_DEFAULT;
	ffmpeg.avcodec_flush_buffers(r->dec);
	r->flush_sent = 0;
	return ret >= 0 ? 1 : 0;
}

/*
 * Keyframe sampling's second stage, on a thread of its own: while the
 * reader decodes the next keyframe, the emitter turns the previous one into
 * the model's pixels and its thumbnail (video_emit).  The two touch
 * disjoint parts of the reader: decoding its demuxer, decoder and counters;
 * emitting its scalers, RGB buffers, JPEG encoder and out's slots.  Frames
 * are handed over one at a time, in two AVFrames used in turn: the one
 * being emitted and the one handed next.
 */
typedef struct {
	video_reader *r;
	video_frames *out;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	AVFrame *frames[2];
	int next;        /* frames[next] is the one to fill next */
	AVFrame *handed; /* handed over and not yet taken, or NULL */
	int index;       /* its slot in out */
	int closing, failed;
	char *cause;     /* the first emit's failure */
} video_emitter;

static void *video_emitter_main(void *arg)
{
	video_emitter *e = arg;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		AVFrame *f;
		char *why = NULL;
		int i, rc = 0;

		while (e->handed == NULL && !e->closing)
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->handed == NULL)
			break;
		f = e->handed;
		i = e->index;
		e->handed = NULL;
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		if (!e->failed)
			rc = video_emit(e->r, f, e->out, i, &why);
		ffmpeg.av_frame_unref(f);
		pthread_mutex_lock(&e->mu);
		if (rc == -1 && !e->failed) {
			e->failed = 1;
			e->cause = why;
		} else {
			free(why);
		}
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* 0 with the emitter running, or -1 (then emit on the caller's thread). */
static int video_emitter_start(video_emitter *e, video_reader *r, video_frames *out)
{
	memset(e, 0, sizeof *e);
	e->r = r;
	e->out = out;
	e->frames[0] = ffmpeg.av_frame_alloc();
	e->frames[1] = ffmpeg.av_frame_alloc();
	if (e->frames[0] == NULL || e->frames[1] == NULL)
		goto fail;
	if (pthread_mutex_init(&e->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&e->cv, NULL) != 0) {
		pthread_mutex_destroy(&e->mu);
		goto fail;
	}
	if (pthread_create(&e->thread, NULL, video_emitter_main, e) != 0) {
		pthread_cond_destroy(&e->cv);
		pthread_mutex_destroy(&e->mu);
		goto fail;
	}
	return 0;
fail:
	ffmpeg.av_frame_free(&e->frames[0]);
	ffmpeg.av_frame_free(&e->frames[1]);
	return -1;
}

/* Hand frame (moved out of it) over for slot index; waits while the previous
 * one is not yet taken.  -1 once an emit has failed (frame unreferenced). */
static int video_emitter_hand(video_emitter *e, AVFrame *frame, int index)
{
	int failed;

	pthread_mutex_lock(&e->mu);
	while (e->handed != NULL && !e->failed)
		pthread_cond_wait(&e->cv, &e->mu);
	if (!(failed = e->failed)) {
		/* The emitter holds the other frame, or none: this one is free. */
		ffmpeg.av_frame_move_ref(e->frames[e->next], frame);
		e->handed = e->frames[e->next];
		e->next ^= 1;
		e->index = index;
		pthread_cond_broadcast(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	if (failed)
		ffmpeg.av_frame_unref(frame);
	return failed ? -1 : 0;
}

/* Emit what was handed over, stop the thread: 0, or -1 with the first failure's cause. */
static int video_emitter_finish(video_emitter *e, char **cause)
{
	pthread_mutex_lock(&e->mu);
	e->closing = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	pthread_join(e->thread, NULL);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	ffmpeg.av_frame_free(&e->frames[0]);
	ffmpeg.av_frame_free(&e->frames[1]);
	if (!e->failed)
		return 0;
	if (cause != NULL)
		*cause = e->cause;
	else
		free(e->cause);
	return -1;
}

int video_convert_threads(const video_options *opt)
{
	return opt->sampling == VIDEO_SAMPLING_KEYFRAME && !opt->serial_emit &&
	    util_cpu_count() > 1 ? 1 : 0;
}

/*
 * Keyframe sampling of targets t[0..F-1] in groups of `group` (segments):
 * for each, the keyframe nearest it; a keyframe nearest several targets of
 * one group is returned once for the group.  Returns the frame count, or
 * -1 with a cause.
 */
static int video_keyframe_pass(video_reader *r, const int64_t *t, int F, int group,
    video_frames *out, char **cause)
{
	int count = 0, failed = 0;
	int64_t prev_key = INT64_MIN, prev_pts = INT64_MIN;
	video_emitter emitter, *em = NULL;

	video_drop_frames(r);
	/* Decoding a keyframe and converting the one before take about 2:1 at
	 * 1080p: overlapped on a second core, 12 of them take the decoding's time. */
	if (F > 1 && video_convert_threads(&r->opt) > 0 &&
	    video_emitter_start(&emitter, r, out) == 0)
		em = &emitter;
	for (int i = 0; i < F; i++) {
		int64_t k = r->n_kf > 0 ? video_keyframe_nearest(r, t[i]) : t[i];
		int got;

		if (i % group != 0 && count > 0 && r->n_kf > 0 && k == prev_key) {
			/* Same keyframe as the previous target of this group. */
			out->frame_of[i] = out->frame_of[i - 1];
			continue;
		}
		got = video_decode_keyframe(r, k);
		if (got < 0)
			break;
		if (got == 0) {
			out->frame_of[i] = count > 0 ? count - 1 : -1;
			continue;
		}
		if (i % group != 0 && count > 0 && r->frame->pts == prev_pts) {
			ffmpeg.av_frame_unref(r->frame);
			out->frame_of[i] = count - 1;
			continue;
		}
		prev_key = k;
		prev_pts = r->frame->pts;
		if (em != NULL) {
			if (video_emitter_hand(em, r->frame, count) == -1) {
				failed = 1;
				break;
			}
		} else if (video_emit(r, r->frame, out, count, cause) == -1) {
			ffmpeg.av_frame_unref(r->frame);
			return -1;
		}
		ffmpeg.av_frame_unref(r->frame);
		out->frame_of[i] = count++;
	}
	if (em != NULL && video_emitter_finish(em, cause) == -1)
		failed = 1;
	if (failed)
		return -1;
	for (int i = 0; i < F && count > 0; i++)
		if (out->frame_of[i] < 0)
			out->frame_of[i] = 0;
	r->at_start = 0;
	return count;
}

video_frames *video_read_frames(video_reader *r, int nframes, char **cause)
{
	video_frames *out;
	int64_t *t = NULL, end_pts = AV_NOPTS_VALUE;
	int count = -1, sequential = 0;

	if (nframes < 1 || nframes > VIDEO_MAX_FRAMES) {
		util_set_cause(cause, "%s: frames must be 1 to %d, not %d", UTIL_NAME(r->path),
		    VIDEO_MAX_FRAMES, nframes);
		return NULL;
	}
	if (video_read_begin(r, nframes, 1, &out, &t, cause) == -1)
		goto error;
	{
		int64_t frames = r->info.frames < 50000000 ? r->info.frames : 50000000;
		r->packet_budget = 3 * frames + 10000;
	}

	/* Two passes at most: the second when the stream ends far before its header says. */
	for (int pass = 0; pass < 2; pass++) {
		int late = 0;

		for (int i = 0; i < nframes; i++) {
			/* t_i = start + (i + 0.5) * span / F, rounded down to a tick. */
			t[i] = r->start + ffmpeg.av_rescale_rnd(2 * i + 1, r->span, 2 * (int64_t)nframes,
			    AV_ROUND_DOWN);
			out->targets[i] = (t[i] - r->origin) * av_q2d(r->tb);
			out->flags[i] = 0;
		}
		if (r->opt.sampling == VIDEO_SAMPLING_KEYFRAME && !r->no_timestamps) {
			out->strategy = "keyframe";
			count = video_keyframe_pass(r, t, nframes, nframes, out, cause);
		} else {
			sequential = video_plan_sequential(r, t, nframes);
			out->strategy = sequential ? "sequential" : "seek";
			count = video_sample_pass(r, t, nframes, nframes, sequential, 0,
			    AV_NOPTS_VALUE, out, &late, cause);
		}
		r->n_targets = 0; /* t is freed below: no dangling skip decisions */
		r->drain_at = AV_NOPTS_VALUE;
		if (count < 0)
			goto error;
		end_pts = r->pos;
		if (!late || pass > 0 || count == 0 || r->stop_reason[0] != '\0' ||
		    end_pts == AV_NOPTS_VALUE || end_pts <= r->start)
			break;
		/* Resample over what the stream really holds. */
		video_note(out, "the stream ends at %.3f s, not %.3f s as its header says",
		    (end_pts - r->origin) * av_q2d(r->tb), r->info.start + r->info.duration);
		for (int i = 0; i < count; i++)
			if (out->thumbs != NULL) {
				free(out->thumbs[i]);
				out->thumbs[i] = NULL;
			}
		r->span = end_pts + (int64_t)r->frame_ticks - r->start;
		r->info.duration = r->span * av_q2d(r->tb);
	}
	if (count == 0) {
		if (r->stop_reason[0] != '\0')
			util_set_cause(cause, "%s: no frame could be decoded (%s)",
			    UTIL_NAME(r->path),
			    r->stop_reason);
		else if (r->first_error[0] != '\0')
			util_set_cause(cause, "%s: no frame could be decoded (%s)",
			    UTIL_NAME(r->path),
			    r->first_error);
		else
			util_set_cause(cause, "%s: no frame could be decoded", UTIL_NAME(r->path));
		goto error;
	}
	out->count = count;
	out->seeks = r->seeks;
	out->decoded = r->decoded;
	out->packets = r->packets;
	for (int i = 0; i < count; i++)
		if (out->flags[i] & VIDEO_FRAME_LATE) {
			video_note(out, "the stream ends at %.3f s, before %.3f s",
			    out->times[count - 1], out->targets[nframes - 1]);
			break;
		}
	if (r->info.truncated)
		video_note(out, "the file is truncated: its index goes past its end");
	if (r->scan_cut)
		video_note(out, "the file has no usable duration and reading it to find one "
		                "stopped at %.3f s (time or packet limit)", r->info.duration);
	if (r->bad_sar.num > 0)
		video_note(out, "sample aspect ratio %d:%d ignored (beyond %d:1, or a side past %d "
		                "pixels): shown with square pixels",
		    r->bad_sar.num, r->bad_sar.den, PREPROCESS_MAX_SAR, VIDEO_MAX_SIDE);
	if (r->stop_reason[0] != '\0')
		video_note(out, "%s", r->stop_reason);
	pthread_mutex_lock(&r->log_lock);
	if (r->errors > 0 || r->log_errors > 0) {
		int n = r->errors > r->log_errors ? r->errors : r->log_errors;
		video_note(out, "%d error%s while decoding (first: %s)", n, n == 1 ? "" : "s",
		    r->log_first[0] != '\0' ? r->log_first : r->first_error);
	}
	pthread_mutex_unlock(&r->log_lock);
	free(t);
	return out;
error:
	free(t);
	video_frames_free(out);
	return NULL;
}

int video_plan_segments(double start, double duration, double window, const double *cuts,
    int n_cuts, video_segment *out, int max)
{
	int n = 1;

	if (!(duration > 0) || !isfinite(duration))
		duration = 0;
	if (max < 1)
		return 0;
	if (window > 0 && duration > window * VIDEO_SEGMENT_SLACK) {
		/* A span a little longer than n windows stays n segments. */
		double want = ceil(duration / window - (VIDEO_SEGMENT_SLACK - 1));
		n = want > max ? max : (int)want;
	}
	for (int s = 0; s < n; s++) {
		out[s].start = start + duration * s / n;
		out[s].end = start + duration * (s + 1) / n;
	}
	/*
	 * Snap each inner boundary to the nearest cut within a third of a
	 * segment, keeping every segment at least a quarter of one long: a
	 * boundary in the middle of a shot splits it; one at a cut does not.
	 */
	for (int s = 1; s < n && cuts != NULL; s++) {
		double len = duration / n, b = out[s].start, best = b, lo, hi;
		lo = out[s - 1].start + len / 4;
		hi = out[s].end - len / 4;
		for (int c = 0; c < n_cuts; c++) {
			if (cuts[c] < lo || cuts[c] > hi || fabs(cuts[c] - b) > len / 3)
				continue;
			if (best == b || fabs(cuts[c] - b) < fabs(best - b))
				best = cuts[c];
		}
		out[s - 1].end = out[s].start = best;
	}
	return n;
}

video_frames *video_read_segments(video_reader *r, int nframes, const video_segment *segs,
    int n, int cont, double next_start, char **cause)
{
	video_frames *out = NULL;
	int64_t *t = NULL, next = AV_NOPTS_VALUE;
	int count, late = 0, sequential, total;

	if (nframes < 1 || n < 1 || nframes > VIDEO_MAX_FRAMES || n > VIDEO_MAX_FRAMES / nframes) {
		util_set_cause(cause, "%s: %d segments of %d frames: too many at once",
		    UTIL_NAME(r->path), n, nframes);
		return NULL;
	}
	total = n * nframes;
	/* A chunk of a long file goes on with the file's decoder messages. */
	if (video_read_begin(r, total, 0, &out, &t, cause) == -1)
		goto error;
	r->packet_budget = 3 * (int64_t)(r->info.fps > 0 ? r->info.fps : 60) *
	    (int64_t)ceil(segs[n - 1].end - segs[0].start + 1) + 10000;
	for (int s = 0; s < n; s++) {
		double span = segs[s].end - segs[s].start;
		for (int i = 0; i < nframes; i++) {
			double ts = segs[s].start + (i + 0.5) * span / nframes;
			int k = s * nframes + i;
			t[k] = r->origin + (int64_t)floor(ts / av_q2d(r->tb));
			if (t[k] < r->start)
				t[k] = r->start;
			if (k > 0 && t[k] < t[k - 1])
				t[k] = t[k - 1];
			out->targets[k] = (t[k] - r->origin) * av_q2d(r->tb);
		}
	}
	if (isfinite(next_start))
		next = r->origin + (int64_t)floor(next_start / av_q2d(r->tb));
	cont = cont && !r->at_start && r->pos != AV_NOPTS_VALUE && r->pos <= t[0];
	if (r->opt.sampling == VIDEO_SAMPLING_KEYFRAME && !r->no_timestamps) {
		/* Each target seeks on its own: nothing is carried between chunks. */
		out->strategy = "keyframe";
		count = video_keyframe_pass(r, t, total, nframes, out, cause);
	} else {
		sequential = cont ?
		    !r->flush_sent && video_plan_sequential_from(r, r->pos, t, total) :
		    video_plan_sequential(r, t, total);
		out->strategy = sequential ? "sequential" : "seek";
		count = video_sample_pass(r, t, total, nframes, sequential, cont, next, out,
		    &late, cause);
	}
	r->n_targets = 0; /* t is freed below */
	r->drain_at = AV_NOPTS_VALUE;
	if (count < 0)
		goto error;
	if (count == 0) {
		util_set_cause(cause, "%s: no frame could be decoded%s%s%s", UTIL_NAME(r->path),
		    r->stop_reason[0] || r->first_error[0] ? " (" : "",
		    r->stop_reason[0] ? r->stop_reason : r->first_error,
		    r->stop_reason[0] || r->first_error[0] ? ")" : "");
		goto error;
	}
	out->count = count;
	out->seeks = r->seeks;
	out->decoded = r->decoded;
	out->packets = r->packets;
	if (late)
		video_note(out, "the stream ends at %.3f s, before %.3f s",
		    out->times[count - 1], out->targets[total - 1]);
	if (r->stop_reason[0] != '\0')
		video_note(out, "%s", r->stop_reason);
	if (r->errors > 0)
		video_note(out, "%d error%s while decoding (first: %s)", r->errors,
		    r->errors == 1 ? "" : "s", r->first_error);
	free(t);
	return out;
error:
	free(t);
	video_frames_free(out);
	return NULL;
}

/* A picture's coarse look: mean luma and chroma over a 4 x 4 grid. */
#define VIDEO_LOOK 48
static void video_look(const AVFrame *f, float look[VIDEO_LOOK])
{
	const AVPixFmtDescriptor *d = ffmpeg.av_pix_fmt_desc_get(f->format);
	int planes = d != NULL && !(d->flags & AV_PIX_FMT_FLAG_RGB) &&
	    (d->flags & AV_PIX_FMT_FLAG_PLANAR) && d->nb_components >= 3 &&
	    d->comp[1].plane != d->comp[2].plane ? 3 : 1;
	int wide = d != NULL && d->comp[0].depth > 8;

	memset(look, 0, VIDEO_LOOK * sizeof *look);
	for (int p = 0; p < planes; p++) {
		int w = p == 0 ? f->width : AV_CEIL_RSHIFT(f->width, d->log2_chroma_w);
		int h = p == 0 ? f->height : AV_CEIL_RSHIFT(f->height, d->log2_chroma_h);
		for (int gy = 0; gy < 4; gy++)
			for (int gx = 0; gx < 4; gx++) {
				double sum = 0;
				int n = 0;
				/* Every other row and column of the cell is enough. */
				for (int y = gy * h / 4; y < (gy + 1) * h / 4; y += 2) {
					const uint8_t *row = f->data[p] + (ptrdiff_t)y * f->linesize[p];
					for (int x = gx * w / 4; x < (gx + 1) * w / 4; x += 2, n++)
						sum += wide ? ((const uint16_t *)row)[x] >>
						    (d->comp[0].depth - 8) : row[x];
				}
				look[p * 16 + gy * 4 + gx] = n > 0 ? (float)(sum / n) : 0;
			}
	}
}

int video_find_cuts(video_reader *r, double **cuts, int *n_cuts, char **cause)
{
	float prev[VIDEO_LOOK], cur[VIDEO_LOOK];
	int have_prev = 0, cap = 0, n = 0, ret;
	double *c = NULL, min_gap = 0.5 / av_q2d(r->tb);
	int64_t last_sent = INT64_MIN;

	*cuts = NULL;
	*n_cuts = 0;
	if (!r->at_start && video_seek(r, r->start) == -1 && video_seek(r, INT64_MIN) == -1) {
		util_set_cause(cause, "%s: cannot go back to the start", UTIL_NAME(r->path));
		return -1;
	}
	r->deadline = util_now() + r->opt.time_limit;
	r->dec->skip_frame = AVDISCARD_NONKEY;
	for (int eof = 0; !eof;) {
		if ((ret = ffmpeg.av_read_frame(r->fmt, r->pkt)) < 0) {
			eof = 1;
			ffmpeg.avcodec_send_packet(r->dec, NULL);
		} else if (r->pkt->stream_index != r->st->index ||
		    !(r->pkt->flags & AV_PKT_FLAG_KEY) || r->pkt->pts == AV_NOPTS_VALUE ||
		    (last_sent != INT64_MIN && r->pkt->pts - last_sent < min_gap)) {
			ffmpeg.av_packet_unref(r->pkt);
			continue;
		} else {
			last_sent = r->pkt->pts;
			ffmpeg.avcodec_send_packet(r->dec, r->pkt);
			ffmpeg.av_packet_unref(r->pkt);
		}
		if (util_now() > r->deadline)
			break; /* what was found so far still helps */
		while (ffmpeg.avcodec_receive_frame(r->dec, r->frame) >= 0) {
			int64_t pts = r->frame->best_effort_timestamp;
			video_look(r->frame, cur);
			if (have_prev && pts != AV_NOPTS_VALUE) {
				double diff = 0;
				for (int i = 0; i < VIDEO_LOOK; i++)
					diff += fabsf(cur[i] - prev[i]);
				/* Mean difference per cell over 0..255: a new shot moves it far. */
				if (diff / VIDEO_LOOK > VIDEO_CUT_THRESHOLD) {
					if (n == cap) {
						int nc = cap ? 2 * cap : 64;
						double *g = realloc(c, (size_t)nc * sizeof *g);
						if (g == NULL) {
							ffmpeg.av_frame_unref(r->frame);
							free(c);
							util_set_cause(cause, "%s: out of memory",
							    UTIL_NAME(r->path));
							return -1;
						}
						c = g, cap = nc;
					}
					c[n++] = (pts - r->origin) * av_q2d(r->tb);
				}
			}
			memcpy(prev, cur, sizeof prev);
			have_prev = 1;
			ffmpeg.av_frame_unref(r->frame);
		}
	}
	r->dec->skip_frame = AVDISCARD_DEFAULT;
	ffmpeg.avcodec_flush_buffers(r->dec);
	if (video_seek(r, r->start) == -1 && video_seek(r, INT64_MIN) == -1) {
		free(c);
		util_set_cause(cause, "%s: cannot go back to the start", UTIL_NAME(r->path));
		return -1;
	}
	*cuts = c;
	*n_cuts = n;
	return 0;
}

video_frames *video_sample(const char *path, const video_options *opt, int frames, char **cause)
{
	video_reader *r = video_open(path, opt, cause);
	video_frames *f;

	if (r == NULL)
		return NULL;
	f = video_read_frames(r, frames, cause);
	video_close(r);
	return f;
}

/* ---- still images in ------------------------------------------------------------ */

uint8_t *video_read_image(const char *path, int *width, int *height, char **cause)
{
	video_options opt;
	video_reader *r;
	uint8_t *out = NULL;
	int got;

	video_options_init(&opt);
	opt.size = 0;
	opt.thumb_width = 0;
	opt.threads = 1;
	r = video_open(path, &opt, cause);
	if (r == NULL)
		return NULL;
	r->packet_budget = 10000;
	r->deadline = util_now() + r->opt.time_limit;
	got = video_next_frame(r);
	if (got <= 0) {
		util_set_cause(cause, "%s: no image could be decoded%s%s", UTIL_NAME(path),
		    r->first_error[0] ? ": " : "", r->first_error);
		goto out;
	}
	if (video_to_rgb(r, r->frame, cause) == -1)
		goto out;
	out = malloc((size_t)r->frame->width * r->frame->height * 3);
	if (out == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		goto out;
	}
	for (int y = 0; y < r->frame->height; y++)
		memcpy(out + (size_t)y * r->frame->width * 3, r->rgb + (size_t)y * r->rgb_stride,
		    (size_t)r->frame->width * 3);
	*width = r->frame->width;
	*height = r->frame->height;
out:
	video_close(r);
	return out;
}
