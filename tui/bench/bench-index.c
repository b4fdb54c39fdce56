/*
 * bench-index — `clipgrep bench index`: end-to-end indexing throughput and
 * search start-up.
 *
 *  1. A library of generated clips (default 30 clips of 30 s at 1280x720,
 *     made once with the ffmpeg CLI and cached under $TMPDIR) is indexed
 *     into a fresh database with a ViT-B/32-shaped random model
 *     (bench-model.c) or --model FILE: videos/min, frames/s, hours of
 *     footage per hour and segments.  --long is a library of long files
 *     (4 of 20 min at 720p, 10 frames/s): it also times decoding the
 *     segments' targets alone, which indexing should cost little more than.
 *  2. The pure image-tower rate on the same model at the indexer's batch
 *     size, so the two can be compared (target: end-to-end >= 80%).
 *  3. Search start-up: engine_open on a synthetic index of --library
 *     videos (default 10,000; random frame embeddings through the real
 *     heads, cached under $TMPDIR): the whole open, and the cache load alone.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-library.h"
#include "bench-model.h"
#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "engine.h"
#include "heads.h"
#include "hash.h"
#include "index.h"
#include "indexer.h"
#include "model.h"
#include "tensor.h"
#include "util.h"
#include "video.h"
#include "vit.h"

typedef struct {
	const char *model_path;
	int videos, seconds, width, height;
	int jobs, batch;
	int library;
	int json;
	int skip_index, skip_search;
	linear_precision precision; /* --precision: the towers' */
	int fps;            /* frame rate of the generated clips */
	double window;      /* the indexer's segment window; < 0: its default */
	int shots;
	int decode_only;    /* also time decoding the targets alone */
	int camera;         /* --camera: encoded as a camera does (CABAC, B-frames, 1.5 s GOP) */
	int sampling;       /* --sampling, VIDEO_SAMPLING_* */
} bench_index_options;

static void bench_index_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench index [--model FILE] [--videos N] [--seconds S] [--size WxH]\n"
	    "                            [--jobs N] [--batch N] [--library N] [--no-index]\n"
	    "                            [--no-search] [--precision P] [--fps N] [--window S]\n"
	    "                            [--shots] [--long] [--camera] [--sampling M]\n"
	    "                            [--decode-alone] [--json]\n"
	    "Index a generated library end to end (videos/min, frames/s, against the pure\n"
	    "image-tower frames/s) and time search start-up on a synthetic index.\n\n"
	    "  -m, --model FILE   use this model (default: random ViT-B/32 weights)\n"
	    "      --videos N     clips in the library (default 30)\n"
	    "      --seconds S    length of each clip (default 30)\n"
	    "      --size WxH     frame size (default 1280x720)\n"
	    "      --fps N        frame rate of the generated clips (default 30)\n"
	    "      --window S     the indexer's segment window (default 30; 0: whole files)\n"
	    "      --shots        segment boundaries at shot changes\n"
	    "      --long         long files: 4 of 20 min at 1280x720, 10 frames/s, and the\n"
	    "                     time to decode their segments' targets alone\n"
	    "      --camera       a camera-like library: 8 clips of 60 s at 1920x1080, 30\n"
	    "                     frames/s, H.264 High (CABAC), 3 B-frames, a keyframe every\n"
	    "                     1.5 s (--videos, --seconds, --size still apply after it)\n"
	    "      --sampling M   the indexer's frame sampling: exact (default) or keyframe\n"
	    "      --decode-alone also time decoding the segments' targets without encoding\n"
	    "  -j, --jobs N       decode threads (default: the indexer's)\n"
	    "  -b, --batch N      frames per image-tower call (default: the indexer's, 48)\n"
	    "      --library N    videos in the search start-up index (default 10000)\n"
	    "      --no-index     skip the indexing run\n"
	    "      --no-search    skip the start-up measurement\n"
	    "      --precision P  fp32 (default) or bf16, for indexing and the pure encoder\n"
	    "      --json         print one JSON object\n"
	    "  -h, --help         show this help\n");
}

/* x with 4 decimals into buf, or null when it was not measured (NAN): valid JSON. */
static const char *bench_index_json_num(double x, char buf[32])
{
	if (!isfinite(x))
		return "null";
	snprintf(buf, 32, "%.4f", x);
	return buf;
}

static const char *bench_index_tmp(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
}

/* mkdir -p for one level below an existing directory. */
static int bench_index_mkdir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	cli_error("%s: %s", path, strerror(errno));
	return -1;
}

/* Run argv, quietly; 0 when it exited 0. */
static int bench_index_spawn(char *const argv[])
{
	pid_t pid;
	int status;

	fflush(NULL);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int bench_index_id_fn(void *arg, const index_video_row *row)
{
	void **a = arg;
	int64_t **ids = a[0];
	size_t *n = a[1], *cap = a[2];

	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		int64_t *g = realloc(*ids, nc * sizeof *g);
		if (g == NULL)
			return -1;
		*ids = g, *cap = nc;
	}
	(*ids)[(*n)++] = row->id;
	return 0;
}

/* The cached library directory (generating missing clips); NULL on failure. */
static char *bench_index_library(const bench_index_options *o)
{
	const char *ffmpeg = getenv("FFMPEG");
	char *dir = malloc(4096), path[4200], tmp[4300], src[256], vf[128], gop[16], *argv[40];
	struct stat st;

	if (dir == NULL)
		return NULL;
	if (ffmpeg == NULL || ffmpeg[0] == '\0')
		ffmpeg = "ffmpeg";
	snprintf(dir, 4096, "%s/clipgrep-bench-index", bench_index_tmp());
	if (bench_index_mkdir(dir) == -1)
		goto fail;
	if (o->fps == 30)
		snprintf(dir + strlen(dir), 4096 - strlen(dir), "/lib-%dx%ds-%dx%d%s", o->videos,
		    o->seconds, o->width, o->height, o->camera ? "-camera" : "");
	else
		snprintf(dir + strlen(dir), 4096 - strlen(dir), "/lib-%dx%ds-%dx%d-%dfps%s", o->videos,
		    o->seconds, o->width, o->height, o->fps, o->camera ? "-camera" : "");
	if (bench_index_mkdir(dir) == -1)
		goto fail;
	for (int i = 0; i < o->videos; i++) {
		int n = 0;

		snprintf(path, sizeof path, "%s/clip-%03d.mp4", dir, i);
		if (stat(path, &st) == 0 && st.st_size > 0)
			continue;
		if (i == 0 || (i + 1) % 10 == 0)
			fprintf(stderr, "clipgrep: bench index: generating clip %d of %d in %s\n", i + 1,
			    o->videos, dir);
		snprintf(tmp, sizeof tmp, "%s.part.mp4", path);
		snprintf(src, sizeof src, "testsrc2=size=%dx%d:rate=%d:duration=%d", o->width,
		    o->height, o->fps, o->seconds);
		snprintf(vf, sizeof vf, "hue=h=%d:s=%.2f", (i * 37) % 360, 0.5 + (i % 3) * 0.4);
		argv[n++] = (char *)ffmpeg;
		argv[n++] = "-nostdin";
		argv[n++] = "-v";
		argv[n++] = "error";
		argv[n++] = "-y";
		argv[n++] = "-f";
		argv[n++] = "lavfi";
		argv[n++] = "-i";
		argv[n++] = src;
		argv[n++] = "-vf";
		argv[n++] = vf;
		argv[n++] = "-c:v";
		argv[n++] = "libx264";
		argv[n++] = "-preset";
		argv[n++] = "veryfast";
		if (o->camera) {
			/* What phones and cameras write: High profile (CABAC), B-frames,
			 * a short fixed GOP. */
			snprintf(gop, sizeof gop, "%d", o->fps * 3 / 2 > 1 ? o->fps * 3 / 2 : 1);
			argv[n++] = "-profile:v";
			argv[n++] = "high";
			argv[n++] = "-bf";
			argv[n++] = "3";
			argv[n++] = "-sc_threshold";
			argv[n++] = "0";
			argv[n++] = "-g";
			argv[n++] = gop;
		} else {
			argv[n++] = "-g";
			argv[n++] = o->fps == 30 ? "60" : "20";
		}
		argv[n++] = "-pix_fmt";
		argv[n++] = "yuv420p";
		argv[n++] = tmp;
		argv[n] = NULL;
		if (bench_index_spawn(argv) == -1 || rename(tmp, path) == -1) {
			cli_error("bench index: could not generate %s with %s (set FFMPEG)", path, ffmpeg);
			unlink(tmp);
			goto fail;
		}
	}
	return dir;
fail:
	free(dir);
	return NULL;
}

/* Segments stored in the index at db (a clip counts one); -1 on error. */
static int64_t bench_index_segments(const char *db)
{
	index_db *ix = index_open(db, INDEX_READONLY, NULL);
	int64_t total = 0;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;

	if (ix == NULL)
		return -1;
	{
		void *a[3] = { &ids, &n, &cap };
		if (index_list_videos(ix, NULL, bench_index_id_fn, a, NULL) != 0)
			total = -1;
	}
	for (size_t i = 0; i < n && total >= 0; i++) {
		index_segment *g = NULL;
		int k = 0;
		if (index_get_segments(ix, ids[i], &g, &k, NULL) == 0)
			total += k;
		free(g);
	}
	free(ids);
	index_close(ix);
	return total;
}

/* Decode every library file's segment targets as the indexer does, without encoding. */
static double bench_index_decode(const bench_index_options *o, const char *dir,
    const char *model_path, int batch)
{
	char *cause = NULL;
	model *m = model_load(model_path, &cause);
	video_options vo;
	double t0 = util_now();
	int F;

	if (m == NULL) {
		cli_error_cause(&cause, "cannot load the model");
		return NAN;
	}
	F = model_get_config(m)->frames;
	video_options_init(&vo);
	vo.size = model_get_config(m)->image_size;
	vo.want_float = 1;
	vo.thumb_width = 192;
	model_free(m);
	for (int i = 0; i < o->videos; i++) {
		char path[4200];
		video_reader *r;
		video_segment *segs = calloc(4096, sizeof *segs);
		double *cuts = NULL;
		int n_cuts = 0, n, per = batch / F > 0 ? batch / F : 1;

		snprintf(path, sizeof path, "%s/clip-%03d.mp4", dir, i);
		if (segs == NULL || (r = video_open(path, &vo, &cause)) == NULL) {
			free(segs);
			cli_error_cause(&cause, "cannot open a clip");
			return NAN;
		}
		if (o->shots)
			video_find_cuts(r, &cuts, &n_cuts, NULL);
		n = video_plan_segments(video_get_info(r)->start, video_get_info(r)->duration,
		    o->window >= 0 ? o->window : INDEXER_DEFAULT_WINDOW, cuts, n_cuts, segs, 4096);
		for (int s = 0; s < n; s += per) {
			int k = n - s < per ? n - s : per;
			video_frames *f = video_read_segments(r, F, segs + s, k, s > 0,
			    s + k < n ? segs[s + k].start : NAN, NULL);
			video_frames_free(f);
		}
		free(cuts);
		free(segs);
		video_close(r);
	}
	return util_now() - t0;
}

/* Pure image-tower frames/s at batch b for about `seconds`. */
static double bench_index_encoder_fps(const char *model_path, int b, double seconds,
    linear_precision p)
{
	char *cause = NULL;
	model *m = model_load(model_path, &cause);
	vit *v = m != NULL ? vit_new_kernel(m, b, linear_precision_kernel(p), &cause) : NULL;
	float *frames = NULL, *out = NULL;
	double fps = 0, t0;
	int S, runs = 0;

	if (v == NULL) {
		cli_error_cause(&cause, "cannot load the image tower");
		goto out;
	}
	S = vit_image_size(v);
	frames = tensor_alloc((size_t)b * 3 * (size_t)S * (size_t)S);
	out = tensor_alloc((size_t)b * (size_t)vit_embed_dim(v));
	if (frames == NULL || out == NULL)
		goto out;
	for (size_t i = 0; i < (size_t)b * 3 * (size_t)S * (size_t)S; i++)
		frames[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
	if (vit_encode(v, frames, b, out, &cause) == -1) { /* warm-up */
		cli_error_cause(&cause, "encode failed");
		goto out;
	}
	t0 = util_now();
	do {
		if (vit_encode(v, frames, b, out, &cause) == -1) {
			cli_error_cause(&cause, "encode failed");
			goto out;
		}
		runs++;
	} while (util_now() - t0 < seconds);
	fps = (double)runs * b / (util_now() - t0);
out:
	tensor_free(frames);
	tensor_free(out);
	vit_free(v);
	model_free(m);
	return fps;
}

int bench_index(int argc, char **argv)
{
	static const struct option options[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "videos", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'S' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "batch", required_argument, NULL, 'b' },
		{ "library", required_argument, NULL, 'l' },
		{ "no-index", no_argument, NULL, 'I' },
		{ "no-search", no_argument, NULL, 'Q' },
		{ "json", no_argument, NULL, 'J' },
		{ "precision", required_argument, NULL, 'P' },
		{ "fps", required_argument, NULL, 'F' },
		{ "window", required_argument, NULL, 'W' },
		{ "shots", no_argument, NULL, 'T' },
		{ "long", no_argument, NULL, 'L' },
		{ "decode-alone", no_argument, NULL, 'D' },
		{ "camera", no_argument, NULL, 'C' },
		{ "sampling", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bench_index_options o = { .videos = 30, .seconds = 30, .width = 1280, .height = 720,
		.library = 10000, .fps = 30, .window = -1 };
	double decode_s = NAN;
	int64_t segments = 0;
	char *tmp_model = NULL, *libdir = NULL, *db = NULL, *search_db = NULL, *cause = NULL;
	const char *model_path;
	indexer_stats st = { 0 };
	double enc_fps = 0, wall = 0, open_s = NAN, load_s = NAN, model_s = NAN;
	int c, rc = CLI_EXIT_ERROR, batch;

	while ((c = cli_getopt(argc, argv, ":m:j:b:h", options)) != -1) {
		switch (c) {
		case 'm':
			o.model_path = optarg;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 100000, &o.videos) == -1)
				goto usage;
			break;
		case 's':
			if (cli_parse_int(optarg, 1, 36000, &o.seconds) == -1)
				goto usage;
			break;
		case 'S':
			if (sscanf(optarg, "%dx%d", &o.width, &o.height) != 2 || o.width < 16 ||
			    o.height < 16 || o.width > 8192 || o.height > 8192)
				goto usage;
			break;
		case 'j':
			if (cli_parse_int(optarg, 1, 256, &o.jobs) == -1)
				goto usage;
			break;
		case 'b':
			if (cli_parse_int(optarg, 1, 1024, &o.batch) == -1)
				goto usage;
			break;
		case 'l':
			if (cli_parse_int(optarg, 1, 10000000, &o.library) == -1)
				goto usage;
			break;
		case 'I':
			o.skip_index = 1;
			break;
		case 'Q':
			o.skip_search = 1;
			break;
		case 'P':
			if (linear_precision_parse(optarg, &o.precision) == -1) {
				cli_error("bench index: --precision wants fp32 or bf16");
				goto usage;
			}
			break;
		case 'J':
			o.json = 1;
			break;
		case 'F':
			if (cli_parse_int(optarg, 1, 240, &o.fps) == -1)
				goto usage;
			break;
		case 'W':
			if (cli_parse_window(optarg, &o.window) == -1)
				goto usage;
			break;
		case 'T':
			o.shots = 1;
			break;
		case 'D':
			o.decode_only = 1;
			break;
		case 'L':
			o.videos = 4, o.seconds = 1200, o.width = 1280, o.height = 720, o.fps = 10;
			o.decode_only = 1;
			break;
		case 'C':
			o.camera = 1;
			o.videos = 8, o.seconds = 60, o.width = 1920, o.height = 1080, o.fps = 30;
			break;
		case 'M': {
			cli_config none = { .sampling = -1 };
			if (cli_sampling(optarg, &none, &o.sampling) == -1)
				goto usage;
			break;
		}
		case 'h':
			bench_index_usage(stdout);
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	batch = o.batch > 0 ? o.batch : 48;
	if ((model_path = o.model_path) == NULL) {
		if ((tmp_model = bench_model_make(1)) == NULL)
			return CLI_EXIT_ERROR;
		model_path = tmp_model;
	}
	cli_video_log_setup();

	if (!o.skip_index) {
		indexer_options io;
		const char *roots[1];

		if ((libdir = bench_index_library(&o)) == NULL)
			goto out;
		if ((db = malloc(4200)) == NULL)
			goto out;
		snprintf(db, 4200, "%s/clipgrep-bench-index/run-%d.db", bench_index_tmp(), (int)getpid());
		roots[0] = libdir;
		indexer_options_init(&io);
		io.roots = roots;
		io.n_roots = 1;
		io.models = &model_path;
		io.n_models = 1;
		io.jobs = o.jobs;
		io.batch = batch;
		io.precision = o.precision;
		if (o.window >= 0)
			io.window = o.window;
		io.shots = o.shots;
		io.sampling = o.sampling;
		double t0 = util_now();
		if (indexer_run(db, &io, &st, &cause) != 0) {
			cli_error_cause(&cause, "bench index: indexing failed");
			goto out;
		}
		wall = util_now() - t0;
		enc_fps = bench_index_encoder_fps(model_path, batch, 5, o.precision);
		segments = bench_index_segments(db);
		if (o.decode_only)
			decode_s = bench_index_decode(&o, libdir, model_path, batch);
	}
	if (!o.skip_search) {
		engine_options eo;
		engine *e;
		index_db *ix;
		const char *models[1] = { model_path };

		if ((search_db = bench_library_db(&(bench_library_options){
		    .model_path = model_path, .videos = o.library, .dir = "clipgrep-bench-index",
		    .file = "search", .who = "bench index", .video_dir = "/bench",
		    .seed = 0x243f6a8885a308d3ull, .frame_step = 1, .frame_first = 0.5,
		    .frames_tensor = 1 })) == NULL)
			goto out;
		/* Warm the page cache once, as a user's second start would be. */
		for (int pass = 0; pass < 2; pass++) {
			double t0 = util_now();
			engine_options_init(&eo);
			eo.db_path = search_db;
			eo.model_paths = models;
			eo.n_models = 1;
			if ((e = engine_open(&eo, &cause)) == NULL) {
				cli_error_cause(&cause, "bench index: engine_open failed");
				goto out;
			}
			open_s = util_now() - t0;
			engine_close(e);
		}
		/* The models' share: the same open on an empty index. */
		{
			char empty[4300];
			double t0;
			snprintf(empty, sizeof empty, "%s.empty-%d.db", search_db, (int)getpid());
			engine_options_init(&eo);
			eo.db_path = empty;
			eo.model_paths = models;
			eo.n_models = 1;
			eo.create = 1;
			t0 = util_now();
			e = engine_open(&eo, NULL);
			model_s = util_now() - t0;
			engine_close(e);
			unlink(empty);
			snprintf(empty + strlen(empty), 16, "-wal");
			unlink(empty);
			empty[strlen(empty) - 4] = '\0';
			snprintf(empty + strlen(empty), 16, "-shm");
			unlink(empty);
		}
		{
			double t0 = util_now();
			index_tensor_set *a = NULL, *b = NULL;
			if ((ix = index_open(search_db, INDEX_READONLY, &cause)) != NULL) {
				uint8_t hash[HASH_SIZE];
				int64_t id = hash_file(model_path, hash, NULL, NULL) == 0 ?
				    index_find_model(ix, hash, NULL) : -1;
				a = index_load_tensors(ix, id, HEADS_KIND_TCMGC, 0, &cause);
				b = a != NULL ? index_load_tensors(ix, id, HEADS_KIND_EA, 0, &cause) : NULL;
			}
			load_s = util_now() - t0;
			if (b == NULL)
				cli_error_cause(&cause, "bench index: cannot load the caches");
			index_tensor_set_free(a);
			index_tensor_set_free(b);
			index_close(ix);
		}
	}

	double vpm = wall > 0 ? (double)(st.files_total) / (wall / 60) : 0;
	double fps = wall > 0 ? (double)st.frames / wall : 0;
	/* Hours of footage indexed per hour of wall time. */
	double hph = wall > 0 ? (double)st.files_total * o.seconds / wall : 0;
	if (o.json) {
		char j[4][32];
		printf("{\"benchmark\":\"index\",\"videos\":%lld,\"clip_seconds\":%d,\"size\":\"%dx%d\","
		    "\"batch\":%d,\"wall_s\":%.3f,\"videos_per_min\":%.2f,\"frames\":%lld,"
		    "\"frames_per_s\":%.2f,\"encode_s\":%.3f,\"encoder_frames_per_s\":%.2f,"
		    "\"ratio\":%.3f,\"library\":%d,\"search_open_s\":%s,\"cache_load_s\":%s,"
		    "\"empty_open_s\":%s,\"precision\":\"%s\",\"blas_core\":\"%s\","
		    "\"fps\":%d,\"segments\":%lld,"
		    "\"footage_hours_per_hour\":%.2f,\"decode_targets_s\":%s,"
		    "\"threads\":%d,\"decode_threads\":%d,\"codec_threads\":%d,"
		    "\"convert_threads\":%d,\"compute_threads\":%d,\"sampling\":\"%s\","
		    "\"camera\":%s}\n",
		    (long long)st.files_total, o.seconds, o.width, o.height, batch, wall, vpm,
		    (long long)st.frames, fps, st.encode_seconds, enc_fps,
		    enc_fps > 0 ? fps / enc_fps : 0, o.library, bench_index_json_num(open_s, j[0]),
		    bench_index_json_num(load_s, j[1]), bench_index_json_num(model_s, j[2]),
		    linear_precision_name(o.skip_index ? o.precision : st.precision), tensor_blas_core(),
		    o.fps, (long long)segments, hph, bench_index_json_num(decode_s, j[3]),
		    tensor_threads(), st.decode_threads,
		    st.codec_threads, st.convert_threads, st.compute_threads,
		    o.sampling == VIDEO_SAMPLING_KEYFRAME ? "keyframe" : "exact",
		    o.camera ? "true" : "false");
	} else {
		printf("bench index (%d threads, %s, %s, OpenBLAS kernel %s)\n", tensor_threads(),
		    o.model_path != NULL ? o.model_path : "random ViT-B/32 weights",
		    linear_precision_name(o.skip_index ? o.precision : st.precision),
		    tensor_blas_core());
		if (!o.skip_index) {
			printf("  library          %lld clips of %d s at %dx%d, %d frames/s%s; %s sampling\n",
			    (long long)st.files_total, o.seconds, o.width, o.height, o.fps,
			    o.camera ? " (camera-like H.264)" : "",
			    o.sampling == VIDEO_SAMPLING_KEYFRAME ? "keyframe" : "exact");
			printf("  end to end       %.1f s: %.2f videos/min, %.1f frames/s "
			    "(%lld frames, %.1f s in the encoder)\n", wall, vpm, fps,
			    (long long)st.frames, st.encode_seconds);
			printf("  footage          %.2f hours indexed per hour, %lld segments\n", hph,
			    (long long)segments);
			printf("  threads          %d decoding (%d FFmpeg thread%s and %d converting each), "
			    "%d computing (OpenBLAS and clipgrep's pool) on %ld cores\n",
			    st.decode_threads, st.codec_threads, st.codec_threads == 1 ? "" : "s",
			    st.convert_threads, st.compute_threads, sysconf(_SC_NPROCESSORS_ONLN));
			if (!isnan(decode_s))
				printf("  decoding alone   %.1f s for the same targets: indexing costs "
				    "%.2fx that\n", decode_s, wall / decode_s);
			printf("  pure encoder     %.1f frames/s at batch %d\n", enc_fps, batch);
			printf("  ratio            %.0f%% of the pure encoder rate (target >= 80%%)\n",
			    enc_fps > 0 ? 100 * fps / enc_fps : 0);
		}
		if (!o.skip_search)
			printf("  search start-up  %.0f ms for %d videos (engine_open, target <= 200 ms);\n"
			    "                   on an empty index %.0f ms (models, text tower); reading the\n"
			    "                   caches alone %.0f ms\n", open_s * 1e3, o.library, model_s * 1e3,
			    load_s * 1e3);
	}
	rc = CLI_EXIT_OK;
	goto out;
usage:
	bench_index_usage(stderr);
	return CLI_EXIT_USAGE;
out:
	if (db != NULL) {
		char side[4300];
		unlink(db);
		snprintf(side, sizeof side, "%s-wal", db);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", db);
		unlink(side);
		snprintf(side, sizeof side, "%s.lock", db);
		unlink(side);
	}
	bench_model_remove(tmp_model);
	free(libdir);
	free(db);
	free(search_db);
	free(cause);
	return rc;
}
