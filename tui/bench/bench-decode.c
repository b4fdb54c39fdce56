/*
 * bench-decode — `clipgrep bench decode`: seconds per video to turn a file
 * into F preprocessed frames (S x S floats, plus thumbnails), the indexer's
 * per-video decoding cost, side by side with the ffmpeg CLI extracting the
 * same F frames (one `ffmpeg -ss T -i FILE -frames:v 1` per frame, scaled
 * and cropped to S x S), in the same run on the same machine.
 *
 * The clips are generated once with the ffmpeg CLI (testsrc2, libx264
 * superfast: CABAC, deblocking and B-frames, as cameras encode) into a
 * cache directory, $TMPDIR/clipgrep-bench by default:
 *   1080p30, 60 s, keyframe every 30 frames (1 s, as phones record)
 *   1080p30, 60 s, keyframe every 250 frames (x264's default: the worst case
 *            for exact sampling, ~GOP/2 frames decoded per target)
 *   720p30, 10 min, keyframe every 60 frames (a 60 s clip looped, stream copy)
 *   1080p30, 60 s, 1 s GOP, x264 ultrafast (the cheapest H.264 to decode)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "util.h"
#include "video.h"

#define BENCH_MAX_RUNS 50

typedef struct {
	const char *name; /* cache file stem */
	const char *what; /* for people */
	const char *preset;
	int width, height, seconds, gop, loops;
} bench_clip;

static const bench_clip bench_clips[] = {
	{ "h264-1080p30-60s-gop30", "1080p30 H.264 60 s, 1 s GOP", "superfast", 1920, 1080, 60, 30, 1 },
	{ "h264-1080p30-60s-gop250", "1080p30 H.264 60 s, 250-frame GOP", "superfast", 1920, 1080,
	    60, 250, 1 },
	{ "h264-720p30-600s-gop60", "720p30 H.264 10 min, 2 s GOP", "superfast", 1280, 720, 60, 60,
	    10 },
	/* No CABAC, no deblocking, no B-frames: the cheapest H.264 to decode. */
	{ "h264uf-1080p30-60s-gop30", "1080p30 ultrafast 60 s, 1 s GOP", "ultrafast", 1920, 1080, 60,
	    30, 1 },
};

typedef struct {
	int frames, size, thumb, threads, runs, json, cli;
	int sampling; /* VIDEO_SAMPLING_* */
	const char *ffmpeg, *dir, *file;
} bench_options;

typedef struct {
	double ours, cli; /* median wall seconds per video; cli < 0: not measured */
	double ours_cpu, cli_cpu; /* median CPU seconds (user + system, all threads) */
	video_frames *f;  /* from the last run */
	video_info info;
} bench_result;

static void bench_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench decode [-F N] [--size S] [--runs N] [--threads N] [--dir DIR]\n"
	    "                             [--file VIDEO] [--sampling M] [--no-cli] [--json]\n"
	    "Seconds per video to sample F frames (S x S CLIP input and thumbnails), against the\n"
	    "ffmpeg CLI extracting the same frames with one '-ss T' run each.  The test clips are\n"
	    "generated once with the ffmpeg CLI into DIR (default $TMPDIR/clipgrep-bench).\n\n"
	    "  -F, --frames N    frames per video (default 12)\n"
	    "  -s, --size S      model input size (default 224)\n"
	    "  -r, --runs N      runs per clip; the median is reported (default 3)\n"
	    "  -t, --threads N   decoder threads (default: cores + 1, as FFmpeg's auto; 1 with\n"
	    "                    keyframe sampling, which converts on a second thread)\n"
	    "  -d, --dir DIR     where the generated clips are kept\n"
	    "  -f, --file VIDEO  benchmark this file instead of the generated clips\n"
	    "      --sampling M  exact (default) or keyframe (the nearest keyframe per target)\n"
	    "      --no-cli      skip the ffmpeg CLI comparison\n"
	    "      --json        print one JSON object\n"
	    "  -h, --help        show this help\n"
	    "The ffmpeg program is $FFMPEG, else 'ffmpeg' on the PATH.\n");
}

/* Run argv (argv[0] looked up on the PATH) quietly; its exit status or -1. */
static int bench_spawn(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid == -1)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The clip's path in the cache, generated first when missing. */
static char *bench_clip_path(const bench_options *o, const bench_clip *c)
{
	size_t n = strlen(o->dir) + strlen(c->name) + 32;
	char *path = malloc(n), *tmp = malloc(n), *seg = malloc(n);
	char size[32], src[96], gop[16], loops[16];
	struct stat sb;
	int rc;

	if (path == NULL || tmp == NULL || seg == NULL)
		goto fail;
	snprintf(path, n, "%s/%s.mp4", o->dir, c->name);
	if (stat(path, &sb) == 0 && sb.st_size > 0) {
		free(tmp);
		free(seg);
		return path;
	}
	if (mkdir(o->dir, 0777) == -1 && errno != EEXIST) {
		cli_error("bench decode: %s: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (!o->json)
		printf("generating %s (%s) with %s...\n", path, c->what, o->ffmpeg);
	fflush(stdout);
	snprintf(tmp, n, "%s/%s.tmp.mp4", o->dir, c->name);
	snprintf(seg, n, "%s/%s.seg.mp4", o->dir, c->name);
	snprintf(size, sizeof size, "%dx%d", c->width, c->height);
	snprintf(src, sizeof src, "testsrc2=size=%s:rate=30:duration=%d", size, c->seconds);
	snprintf(gop, sizeof gop, "%d", c->gop);
	snprintf(loops, sizeof loops, "%d", c->loops - 1);
	{
		char *gen[] = { (char *)o->ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
			src, "-c:v", "libx264", "-preset", (char *)c->preset, "-g", gop, "-pix_fmt", "yuv420p",
			c->loops > 1 ? seg : tmp, NULL };
		rc = bench_spawn(gen);
	}
	if (rc == 0 && c->loops > 1) {
		char *loop[] = { (char *)o->ffmpeg, "-nostdin", "-v", "error", "-y", "-stream_loop",
			loops, "-i", seg, "-c", "copy", tmp, NULL };
		rc = bench_spawn(loop);
		remove(seg);
	}
	if (rc != 0 || rename(tmp, path) != 0) {
		cli_error("bench decode: could not generate %s with %s (exit %d)", path, o->ffmpeg, rc);
		remove(tmp);
		goto fail;
	}
	free(tmp);
	free(seg);
	return path;
fail:
	free(path);
	free(tmp);
	free(seg);
	return NULL;
}

/* The 1-minute load average (Linux), or -1: figures on a busy machine say so. */
static double bench_load(void)
{
	FILE *fp = fopen("/proc/loadavg", "r");
	double load = -1;

	if (fp != NULL) {
		if (fscanf(fp, "%lf", &load) != 1)
			load = -1;
		fclose(fp);
	}
	return load;
}

/* CPU seconds used so far by this process (who = RUSAGE_SELF) or its waited-for children. */
static double bench_cpu(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) == -1)
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
	    ru.ru_stime.tv_usec * 1e-6;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The ffmpeg CLI extracting the same frames: one process per frame. */
static double bench_ffmpeg_cli(const bench_options *o, const char *path, const video_frames *f)
{
	char vf[96], ts[32];
	double t0 = util_now();

	snprintf(vf, sizeof vf, "scale=-2:%d:flags=bicubic,crop=%d:%d", o->size, o->size, o->size);
	for (int i = 0; i < f->requested; i++) {
		char *argv[] = { (char *)o->ffmpeg, "-nostdin", "-v", "error", "-ss", ts, "-i",
			(char *)path, "-frames:v", "1", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24",
			"-y", "/dev/null", NULL };
		snprintf(ts, sizeof ts, "%.6f", f->targets[i]);
		if (bench_spawn(argv) != 0)
			return -1;
	}
	return util_now() - t0;
}

static int bench_one(const bench_options *o, const char *path, bench_result *res)
{
	video_options opt;
	double ours[BENCH_MAX_RUNS], cli[BENCH_MAX_RUNS];
	double ours_cpu[BENCH_MAX_RUNS], cli_cpu[BENCH_MAX_RUNS];
	char *cause = NULL;

	video_options_init(&opt);
	opt.size = o->size;
	opt.threads = o->threads;
	opt.thumb_width = o->thumb;
	opt.sampling = o->sampling;
	res->f = NULL;
	res->cli = -1;
	for (int run = 0; run < o->runs; run++) {
		double t0 = util_now(), c0 = bench_cpu(RUSAGE_SELF);
		video_reader *r = video_open(path, &opt, &cause);
		video_frames *f = r != NULL ? video_read_frames(r, o->frames, &cause) : NULL;

		ours[run] = util_now() - t0;
		ours_cpu[run] = bench_cpu(RUSAGE_SELF) - c0;
		if (f == NULL) {
			cli_error_cause(&cause, "bench decode: cannot decode");
			video_close(r);
			video_frames_free(res->f);
			return -1;
		}
		res->info = *video_get_info(r);
		video_close(r);
		video_frames_free(res->f);
		res->f = f;
	}
	res->ours = bench_median(ours, o->runs);
	res->ours_cpu = bench_median(ours_cpu, o->runs);
	if (o->cli) {
		int ok = 1;
		for (int run = 0; run < o->runs && ok; run++) {
			double c0 = bench_cpu(RUSAGE_CHILDREN);
			ok = (cli[run] = bench_ffmpeg_cli(o, path, res->f)) >= 0;
			cli_cpu[run] = bench_cpu(RUSAGE_CHILDREN) - c0;
		}
		if (ok) {
			res->cli = bench_median(cli, o->runs);
			res->cli_cpu = bench_median(cli_cpu, o->runs);
		}
		else
			cli_error("bench decode: the ffmpeg CLI (%s) failed on %s", o->ffmpeg, path);
	}
	return 0;
}

int bench_decode(int argc, char **argv)
{
	static const struct option options[] = {
		{ "frames", required_argument, NULL, 'F' },
		{ "size", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "dir", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "no-cli", no_argument, NULL, 'n' },
		{ "sampling", required_argument, NULL, 'K' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bench_options o = { .frames = 12, .size = 224, .thumb = 192, .runs = 3, .cli = 1 };
	const char *tmpdir = getenv("TMPDIR");
	char dir[4096];
	int c, nclips, rc = CLI_EXIT_OK, first = 1;

	optind = 0;
	while ((c = cli_getopt(argc, argv, ":F:s:r:t:d:f:h", options)) != -1) {
		int *target = NULL, lo = 1, hi = 4096;
		switch (c) {
		case 'F':
			target = &o.frames;
			break;
		case 's':
			target = &o.size;
			break;
		case 'r':
			target = &o.runs, hi = BENCH_MAX_RUNS;
			break;
		case 't':
			target = &o.threads, hi = 64;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'n':
			o.cli = 0;
			break;
		case 'K':
			if (strcmp(optarg, "exact") == 0)
				o.sampling = VIDEO_SAMPLING_EXACT;
			else if (strcmp(optarg, "keyframe") == 0)
				o.sampling = VIDEO_SAMPLING_KEYFRAME;
			else {
				cli_error("bench decode: --sampling: %s is not exact or keyframe",
				    cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'j':
			o.json = 1;
			break;
		case 'h':
			bench_usage(stdout);
			return CLI_EXIT_OK;
		default:
			bench_usage(stderr);
			return CLI_EXIT_USAGE;
		}
		if (target != NULL && cli_parse_int(optarg, lo, hi, target) == -1) {
			cli_error("bench decode: -%c: '%s' is not a number from %d to %d", c, optarg, lo, hi);
			return CLI_EXIT_USAGE;
		}
	}
	cli_video_log_setup();
	o.ffmpeg = getenv("FFMPEG");
	if (o.ffmpeg == NULL || o.ffmpeg[0] == '\0')
		o.ffmpeg = "ffmpeg";
	if (o.dir == NULL) {
		snprintf(dir, sizeof dir, "%s/clipgrep-bench",
		    tmpdir != NULL && tmpdir[0] != '\0' ? tmpdir : "/tmp");
		o.dir = dir;
	}
	nclips = o.file != NULL ? 1 : (int)(sizeof bench_clips / sizeof bench_clips[0]);

	/* What the reader runs (video_options.threads), so that runs compare like with like. */
	video_options run = { .threads = o.threads, .sampling = o.sampling };
	int keyframe = o.sampling == VIDEO_SAMPLING_KEYFRAME;
	int decoders = video_decoder_threads(&run), converters = video_convert_threads(&run);
	if (o.json)
		printf("{\"bench\":\"decode\",\"frames\":%d,\"size\":%d,\"thumb_width\":%d,"
		       "\"threads\":%d,\"convert_threads\":%d,\"cpus\":%d,\"runs\":%d,"
		       "\"sampling\":\"%s\",\"clips\":[",
		    o.frames, o.size, o.thumb, decoders, converters, util_cpu_count(), o.runs,
		    keyframe ? "keyframe" : "exact");
	else
		printf("decode: F=%d frames of %dx%d (+ %d-px JPEG thumbnails) per video, %s sampling, "
		       "%d decoder thread%s%s, %d CPUs, median of %d runs\n",
		    o.frames, o.size, o.size, o.thumb, keyframe ? "keyframe" : "exact",
		    decoders, decoders == 1 ? "" : "s", converters ? " (+1 converting)" : "",
		    util_cpu_count(), o.runs);
	if (!o.json && bench_load() >= 0)
		printf("load average at the start: %.2f\n", bench_load());
	for (int i = 0; i < nclips; i++) {
		char *path = o.file != NULL ? util_strdup(o.file) : bench_clip_path(&o, &bench_clips[i]);
		const char *what = o.file != NULL ? o.file : bench_clips[i].what;
		bench_result res = { 0 };

		if (path == NULL || bench_one(&o, path, &res) == -1) {
			free(path);
			rc = CLI_EXIT_ERROR;
			continue;
		}
		if (o.json) {
			printf("%s{\"clip\":", first ? "" : ",");
			cli_json_string(stdout, what);
			printf(",\"file\":");
			cli_json_string(stdout, path);
			printf(",\"width\":%d,\"height\":%d,\"duration\":%.3f,\"clipgrep_s\":%.4f,"
			       "\"clipgrep_cpu_s\":%.4f,",
			    res.info.width, res.info.height, res.info.duration, res.ours, res.ours_cpu);
			if (res.cli >= 0)
				printf("\"ffmpeg_cli_s\":%.4f,\"ffmpeg_cli_cpu_s\":%.4f,\"speedup\":%.2f,",
				    res.cli, res.cli_cpu, res.cli / res.ours);
			else
				printf("\"ffmpeg_cli_s\":null,\"ffmpeg_cli_cpu_s\":null,\"speedup\":null,");
			printf("\"strategy\":\"%s\",\"seeks\":%d,\"decoded\":%lld,\"count\":%d}",
			    res.f->strategy, res.f->seeks, (long long)res.f->decoded, res.f->count);
		} else {
			printf("  %-34s clipgrep %6.3f s/video (CPU %5.2f s)", what, res.ours, res.ours_cpu);
			if (res.cli >= 0)
				printf("   ffmpeg CLI %6.3f s (CPU %5.2f s): %.1fx", res.cli, res.cli_cpu,
				    res.cli / res.ours);
			printf("   [%s, %d seeks, %lld frames decoded]\n", res.f->strategy, res.f->seeks,
			    (long long)res.f->decoded);
		}
		fflush(stdout);
		first = 0;
		video_frames_free(res.f);
		free(path);
	}
	if (o.json)
		printf("],\"load_average\":%.2f}\n", bench_load());
	else if (bench_load() >= 0)
		printf("load average at the end: %.2f (other work on the machine slows both columns)\n",
		    bench_load());
	return rc;
}
