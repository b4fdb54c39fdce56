/*
 * cmd-frames — `clipgrep frames FILE`: the frames the indexer would feed
 * the image tower, as the user can inspect them.  One line per sampled
 * frame (index, time in seconds, flags); --out writes the preprocessed
 * S x S frames as PNG (and --thumbs the JPEG thumbnails) with their times
 * in the file names.  All decoding and encoding happens in core/video.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "picture.h"
#include "video.h"

#define FRAMES_DEFAULT_F 12

static void frames_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep frames FILE [-F N] [--size S] [--out DIR] [--thumbs] [--json]\n"
	    "Sample N timestamps uniformly over FILE's duration, t_i = (i + 0.5) * duration / N,\n"
	    "decode the frame on screen at each and preprocess it as CLIP does (upright, short side\n"
	    "to S with Pillow's bicubic, centre crop S x S).  Prints one line per distinct frame:\n"
	    "its index, its time in seconds, and its flags (ok, corrupt, late).  A video with fewer\n"
	    "frames than N gives fewer lines.\n\n"
	    "  -F, --frames N   frames to sample (default %d)\n"
	    "  -s, --size S     model input size in pixels (default 224)\n"
	    "  -o, --out DIR    write frame-II-T.TTTs.png (S x S RGB) into DIR (created if needed)\n"
	    "      --thumbs     with --out, also write thumb-II-T.TTTs.jpg (192 pixels wide)\n"
	    "      --info       first print what the file is, as a line starting with '#'\n"
	    "      --json       one JSON object: the file, targets, frames, strategy\n"
	    "      --window S   sample as 'clipgrep index --window S' does: a file longer than S\n"
	    "                   seconds is cut into segments, N frames each; prints a '# segment'\n"
	    "                   line before each segment's frames (not with --out or --json)\n"
	    "      --shots      with --window, boundaries at shot changes, as 'index --shots'\n"
	    "  -h, --help       show this help\n"
	    "Exit status: 0 frames were decoded (a partial result says why on stderr), 1 usage,\n"
	    "2 the file is not a readable video (the message names the file and the reason).\n",
	    FRAMES_DEFAULT_F);
}

static void frames_flags(FILE *out, unsigned flags, int json)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { VIDEO_FRAME_CORRUPT, "corrupt" }, { VIDEO_FRAME_LATE, "late" } };
	int n = 0;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(flags & names[i].bit))
			continue;
		if (json)
			fprintf(out, "%s\"%s\"", n ? "," : "", names[i].name);
		else
			fprintf(out, "%s%s", n ? "," : "", names[i].name);
		n++;
	}
	if (n == 0 && !json)
		fputs("ok", out);
}

static void frames_print_info(const char *path, const video_info *in)
{
	printf("# ");
	cli_text_escaped(stdout, path);
	printf(": %s, %s %dx%d", in->container, in->codec, in->width, in->height);
	if (in->display_width != in->width || in->display_height != in->height)
		printf(" (shown %dx%d)", in->display_width, in->display_height);
	if (in->rotation)
		printf(", rotated %d", in->rotation);
	if (in->sar_num != in->sar_den)
		printf(", pixel aspect %d:%d", in->sar_num, in->sar_den);
	printf(", %s %d-bit %s range, %.3f fps%s, %.3f s, %lld frames%s\n", in->pix_fmt,
	    in->bit_depth, in->full_range ? "full" : "limited", in->fps, in->vfr ? " (variable)" : "",
	    in->duration, (long long)in->frames, in->truncated ? ", truncated" : "");
}

static void frames_print_json(const char *path, const video_info *in, const video_frames *f)
{
	printf("{\"file\":");
	cli_json_string(stdout, path);
	printf(",\"container\":\"%s\",\"codec\":\"%s\",\"pix_fmt\":\"%s\",\"width\":%d,"
	       "\"height\":%d,\"display_width\":%d,\"display_height\":%d,\"rotation\":%d,"
	       "\"fps\":%.6g,\"vfr\":%s,\"duration\":%.6f,",
	    in->container, in->codec, in->pix_fmt, in->width, in->height, in->display_width,
	    in->display_height, in->rotation, in->fps, in->vfr ? "true" : "false", in->duration);
	printf("\"requested\":%d,\"count\":%d,\"size\":%d,\"partial\":%s,\"note\":", f->requested,
	    f->count, f->size, f->partial ? "true" : "false");
	if (f->note != NULL)
		cli_json_string(stdout, f->note);
	else
		printf("null");
	printf(",\"strategy\":\"%s\",\"seeks\":%d,\"decoded\":%lld,\"targets\":[", f->strategy,
	    f->seeks, (long long)f->decoded);
	for (int i = 0; i < f->requested; i++)
		printf("%s%.6f", i ? "," : "", f->targets[i]);
	printf("],\"frame_of\":[");
	for (int i = 0; i < f->requested; i++)
		printf("%s%d", i ? "," : "", f->frame_of[i]);
	printf("],\"frames\":[");
	for (int i = 0; i < f->count; i++) {
		printf("%s{\"index\":%d,\"time\":%.6f,\"flags\":[", i ? "," : "", i, f->times[i]);
		frames_flags(stdout, f->flags[i], 1);
		printf("]");
		if (f->thumbs != NULL)
			printf(",\"thumb_bytes\":%zu", f->thumb_sizes[i]);
		printf("}");
	}
	printf("]}\n");
}

/* Write frame i (and its thumbnail) into dir; -1 after printing why. */
static int frames_write(const char *dir, const video_frames *f, int i)
{
	size_t n = strlen(dir) + 64;
	char *path = malloc(n), *cause = NULL;
	int rc = 0;

	if (path == NULL) {
		cli_error("out of memory");
		return -1;
	}
	if (f->rgb != NULL) {
		snprintf(path, n, "%s/frame-%02d-%.3fs.png", dir, i, f->times[i]);
		if (picture_write_png(path, f->rgb + (size_t)i * f->size * f->size * 3, f->size,
		        f->size, &cause) == -1) {
			cli_error_cause(&cause, "cannot write a frame");
			rc = -1;
		}
	}
	if (rc == 0 && f->thumbs != NULL) {
		FILE *fp;
		snprintf(path, n, "%s/thumb-%02d-%.3fs.jpg", dir, i, f->times[i]);
		fp = fopen(path, "wb");
		if (fp == NULL || fwrite(f->thumbs[i], 1, f->thumb_sizes[i], fp) != f->thumb_sizes[i] ||
		    fclose(fp) != 0) {
			cli_error("%s: %s", cli_name(path), strerror(errno));
			if (fp != NULL)
				fclose(fp);
			rc = -1;
		}
	}
	free(path);
	return rc;
}

/*
 * --window: the segments `clipgrep index --window` makes of the file and
 * each one's frames, read as the indexer reads them (chunks, one pass).
 * Closes r; returns the exit status.
 */
static int frames_segments(const char *path, video_reader *r, int F, double window, int shots,
    int info)
{
	enum { MAX_SEGS = 4096, CHUNK = 4 };
	video_segment *segs = calloc(MAX_SEGS, sizeof *segs);
	const video_info *vi = video_get_info(r);
	double *cuts = NULL;
	char *cause = NULL;
	int n, n_cuts = 0, rc = CLI_EXIT_OK;

	if (segs == NULL || (shots && video_find_cuts(r, &cuts, &n_cuts, &cause) == -1)) {
		cli_error_cause(&cause, "cannot read the video");
		free(segs);
		video_close(r);
		return CLI_EXIT_ERROR;
	}
	if (info)
		frames_print_info(path, vi);
	n = video_plan_segments(vi->start, vi->duration, window, cuts, n_cuts, segs, MAX_SEGS);
	for (int s = 0; s < n && rc == CLI_EXIT_OK; s += CHUNK) {
		int k = n - s < CHUNK ? n - s : CHUNK;
		video_frames *f = video_read_segments(r, F, segs + s, k, s > 0,
		    s + k < n ? segs[s + k].start : NAN, &cause);

		if (f == NULL) {
			cli_error_cause(&cause, "cannot decode the video");
			rc = CLI_EXIT_ERROR;
			break;
		}
		for (int g = 0; g < k; g++) {
			int first = f->frame_of[g * F], last = f->frame_of[g * F + F - 1];
			printf("# segment %d of %d: %.3f-%.3f s\n", s + g, n, segs[s + g].start,
			    segs[s + g].end);
			for (int i = first; i <= last; i++) {
				printf("%d\t%.3f\t", i - first, f->times[i]);
				frames_flags(stdout, f->flags[i], 0);
				putchar('\n');
			}
		}
		if (f->partial) {
			fputs("clipgrep: ", stderr);
			cli_text_escaped(stderr, path);
			fprintf(stderr, ": partial: %s\n", f->note != NULL ? f->note : "");
		}
		video_frames_free(f);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("frames: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	free(cuts);
	free(segs);
	video_close(r);
	return rc;
}

int cmd_frames(int argc, char **argv)
{
	enum { OPT_THUMBS = 256, OPT_JSON, OPT_INFO };
	static const struct option options[] = {
		{ "frames", required_argument, NULL, 'F' },
		{ "size", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "thumbs", no_argument, NULL, OPT_THUMBS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "info", no_argument, NULL, OPT_INFO },
		{ "window", required_argument, NULL, 'W' },
		{ "shots", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	video_options opt;
	video_reader *r;
	video_frames *f;
	const char *out_dir = NULL, *path;
	char *cause = NULL;
	int c, nframes = FRAMES_DEFAULT_F, thumbs = 0, json = 0, info = 0, rc = CLI_EXIT_OK;
	int shots = 0;
	double window = 0;

	video_options_init(&opt);
	while ((c = cli_getopt(argc, argv, ":F:s:o:h", options)) != -1) {
		switch (c) {
		case 'F':
			if (cli_parse_int(optarg, 1, 4096, &nframes) == -1) {
				cli_error("frames: -F: %s is not a number from 1 to 4096", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 's':
			if (cli_parse_int(optarg, 1, 4096, &opt.size) == -1) {
				cli_error("frames: --size: %s is not a size from 1 to 4096", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'o':
			out_dir = optarg;
			break;
		case OPT_THUMBS:
			thumbs = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_INFO:
			info = 1;
			break;
		case 'W':
			if (cli_parse_window(optarg, &window) == -1) {
				cli_error("frames: --window: %s is not a number of seconds from 0 to 86400",
				    cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'T':
			shots = 1;
			break;
		case 'h':
			frames_usage(stdout);
			return CLI_EXIT_OK;
		default:
			frames_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_error("frames: give exactly one FILE (see 'clipgrep frames --help')");
		return CLI_EXIT_USAGE;
	}
	if (window > 0 && (out_dir != NULL || json)) {
		cli_error("frames: --window lists the segments' frames; --out and --json take "
		    "whole files");
		return CLI_EXIT_USAGE;
	}
	if (thumbs && out_dir == NULL) {
		cli_error("frames: --thumbs writes files: give --out DIR too");
		return CLI_EXIT_USAGE;
	}
	path = argv[optind];
	cli_video_log_setup();
	opt.want_float = 0;
	opt.want_rgb = out_dir != NULL;
	opt.thumb_width = thumbs ? opt.thumb_width : 0;
	if (out_dir != NULL && cli_make_dirs(out_dir) == -1)
		return CLI_EXIT_ERROR;

	r = video_open(path, &opt, &cause);
	if (r == NULL) {
		cli_error_cause(&cause, "cannot open the video");
		return CLI_EXIT_ERROR;
	}
	if (window > 0)
		return frames_segments(path, r, nframes, window, shots, info);
	f = video_read_frames(r, nframes, &cause);
	if (f == NULL) {
		cli_error_cause(&cause, "cannot decode the video");
		video_close(r);
		return CLI_EXIT_ERROR;
	}
	if (json) {
		frames_print_json(path, video_get_info(r), f);
	} else {
		if (info)
			frames_print_info(path, video_get_info(r));
		for (int i = 0; i < f->count; i++) {
			printf("%d\t%.3f\t", i, f->times[i]);
			frames_flags(stdout, f->flags[i], 0);
			putchar('\n');
		}
	}
	if (f->partial) {
		fputs("clipgrep: ", stderr);
		cli_text_escaped(stderr, path);
		fprintf(stderr, ": partial: %s\n", f->note != NULL ? f->note : "");
	}
	if (cli_verbose)
		fprintf(stderr, "clipgrep: %d of %d frames, strategy %s, %d seeks, %lld frames decoded\n",
		    f->count, f->requested, f->strategy, f->seeks, (long long)f->decoded);
	for (int i = 0; out_dir != NULL && i < f->count && rc == CLI_EXIT_OK; i++)
		if (frames_write(out_dir, f, i) == -1)
			rc = CLI_EXIT_ERROR;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("frames: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	video_frames_free(f);
	video_close(r);
	return rc;
}
