/*
 * ffmpeg — FFmpeg's libraries, opened when clipgrep first reads or
 * writes a video or a picture rather than when it starts.
 *
 * Why: libavformat, libavcodec and the hundred-odd libraries they need
 * (codecs, hardware, network) cost about 30 ms of every process start on
 * the development VM -- an empty program linked against them starts in
 * 29 ms, one linked against nothing in 1.3 ms -- and a `clipgrep search`
 * on an indexed library reads no video.  It also keeps searching working
 * on a machine whose FFmpeg is missing or broken; indexing then says which
 * library could not be opened and why.
 *
 * core/video.c and core/picture.c call FFmpeg only through the table
 * `ffmpeg` (ffmpeg.avcodec_open2(...)), once ffmpeg_load() has succeeded.
 * Each member has the type the FFmpeg headers give the function
 * (__typeof__), so a call through the table is type-checked exactly as a
 * direct call; and since clipgrep is not linked against FFmpeg, a direct
 * call missing from the table fails to link rather than at run time.
 *
 * The libraries are opened by the soname of the major versions the headers
 * describe (libavcodec.so.59 for FFmpeg 5), so the structures the headers
 * lay out are those of the code loaded: the same guarantee linking gives.
 */
#ifndef CLIPGREP_FFMPEG_H
#define CLIPGREP_FFMPEG_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/* Functions that exist only in some of the versions clipgrep builds with. */
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100)
#define FFMPEG_SIDE_DATA(X) X(AVCODEC, av_packet_side_data_get)
#else
#define FFMPEG_SIDE_DATA(X) X(AVFORMAT, av_stream_get_side_data)
#endif

/* Every FFmpeg function clipgrep calls, with the library that exports it. */
#define FFMPEG_FUNCTIONS(X) \
	X(AVUTIL, av_dict_free) \
	X(AVUTIL, av_dict_set) \
	X(AVUTIL, av_display_rotation_get) \
	X(AVUTIL, av_frame_alloc) \
	X(AVUTIL, av_frame_free) \
	X(AVUTIL, av_frame_get_buffer) \
	X(AVUTIL, av_frame_make_writable) \
	X(AVUTIL, av_frame_move_ref) \
	X(AVUTIL, av_frame_unref) \
	X(AVUTIL, av_get_pix_fmt_name) \
	X(AVUTIL, av_log_format_line2) \
	X(AVUTIL, av_log_set_callback) \
	X(AVUTIL, av_log_set_level) \
	X(AVUTIL, av_pix_fmt_desc_get) \
	X(AVUTIL, av_rescale_q) \
	X(AVUTIL, av_rescale_rnd) \
	X(AVUTIL, av_strerror) \
	X(AVCODEC, av_packet_alloc) \
	X(AVCODEC, av_packet_free) \
	X(AVCODEC, av_packet_move_ref) \
	X(AVCODEC, av_packet_unref) \
	X(AVCODEC, avcodec_alloc_context3) \
	X(AVCODEC, avcodec_find_decoder) \
	X(AVCODEC, avcodec_find_encoder) \
	X(AVCODEC, avcodec_flush_buffers) \
	X(AVCODEC, avcodec_free_context) \
	X(AVCODEC, avcodec_get_class) \
	X(AVCODEC, avcodec_get_name) \
	X(AVCODEC, avcodec_open2) \
	X(AVCODEC, avcodec_parameters_to_context) \
	X(AVCODEC, avcodec_receive_frame) \
	X(AVCODEC, avcodec_receive_packet) \
	X(AVCODEC, avcodec_send_frame) \
	X(AVCODEC, avcodec_send_packet) \
	X(AVFORMAT, av_find_best_stream) \
	X(AVFORMAT, av_guess_sample_aspect_ratio) \
	X(AVFORMAT, av_read_frame) \
	X(AVFORMAT, av_seek_frame) \
	X(AVFORMAT, avformat_alloc_context) \
	X(AVFORMAT, avformat_close_input) \
	X(AVFORMAT, avformat_find_stream_info) \
	X(AVFORMAT, avformat_get_class) \
	X(AVFORMAT, avformat_index_get_entries_count) \
	X(AVFORMAT, avformat_index_get_entry) \
	X(AVFORMAT, avformat_open_input) \
	X(AVFORMAT, avformat_seek_file) \
	X(AVFORMAT, avio_size) \
	X(SWSCALE, sws_freeContext) \
	X(SWSCALE, sws_getCoefficients) \
	X(SWSCALE, sws_getContext) \
	X(SWSCALE, sws_scale) \
	X(SWSCALE, sws_setColorspaceDetails) \
	FFMPEG_SIDE_DATA(X)

typedef struct {
#define FFMPEG_MEMBER(lib, name) __typeof__(name) *name;
	FFMPEG_FUNCTIONS(FFMPEG_MEMBER)
#undef FFMPEG_MEMBER
} ffmpeg_table;

/* Filled by the first successful ffmpeg_load; read-only after. */
extern ffmpeg_table ffmpeg;

/*
 * Open the libraries and fill `ffmpeg`, once per process (thread-safe).
 * Returns 0, or -1 with *cause naming the library or function that could
 * not be found and why (the same cause on every later call).
 */
int ffmpeg_load(char **cause);

/* Whether the libraries have been opened (for tests and diagnostics). */
int ffmpeg_loaded(void);

#endif
