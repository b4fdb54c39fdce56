/*
 * bench-tui — `clipgrep bench tui`: how long a keystroke takes to show
 * updated results on the interactive screen, measured end to end.  The
 * benchmark runs `clipgrep` on a pseudo-terminal it drives as a sixel
 * terminal would (answering DA1 with attribute 4, 10x20-pixel cells), types
 * a query one key at a time and times each key from the write to the
 * moment the frame showing that key's results has been written (the screen
 * marks it with an APC string when CLIPGREP_TUI_MARK=1).  That covers the
 * event loop, the search worker (text encoding, the search, the
 * explanation), the redraw and the sixel images of the frame.  Moving the
 * selection (j/k: a redraw with new pictures) is timed the same way, and
 * the screen reports its sixel encode and emission times at exit
 * (CLIPGREP_TUI_STATS).
 *
 * Libraries: the demo (when built: its model and clips, indexed into a
 * temporary database) and a synthetic index of --videos videos (default
 * 10,000) made for a ViT-B/32-shaped random model (bench-model.c) or
 * --model: random frame embeddings through the real heads, PNG thumbnails,
 * cached under $TMPDIR/clipgrep-bench-tui.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench-library.h"
#include "bench-model.h"
#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "tui.h"
#include "engine.h"
#include "index.h"
#include "indexer.h"
#include "model.h"
#include "tensor.h"
#include "video.h"

#define BT_COLS 120
#define BT_ROWS 40
#define BT_CELL_W 10
#define BT_CELL_H 20
/* Distinct thumbnails shared by the synthetic videos. */
#define BT_THUMBS 12

typedef struct {
	const char *model_path;
	int videos;
	int json;
	int skip_demo, skip_library;
	const char *query;
	double timeout;
} bt_options;

static double bt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *bt_tmp(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
}

/* ---- the pseudo-terminal ------------------------------------------------ */

typedef struct {
	int master;
	pid_t pid;
	char *buf;
	size_t len, cap, answered;
	int exited, status;
} bt_pty;

static void bt_write(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Start argv on a new pty as a 120x40 sixel terminal; env is "K=V" pairs added. */
static int bt_pty_spawn(bt_pty *p, char *const argv[], char *const env[])
{
	struct winsize ws = { .ws_row = BT_ROWS, .ws_col = BT_COLS,
		.ws_xpixel = BT_COLS * BT_CELL_W, .ws_ypixel = BT_ROWS * BT_CELL_H };

	memset(p, 0, sizeof *p);
	p->master = posix_openpt(O_RDWR | O_NOCTTY);
	if (p->master < 0 || grantpt(p->master) == -1 || unlockpt(p->master) == -1) {
		cli_error("bench tui: no pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	p->cap = 1 << 20;
	p->buf = malloc(p->cap);
	if (p->buf == NULL)
		return -1;
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		const char *name = ptsname(p->master);
		int s;
		setsid();
		s = name != NULL ? open(name, O_RDWR) : -1;
		if (s < 0)
			_exit(126);
		ioctl(s, TIOCSCTTY, 0);
		ioctl(s, TIOCSWINSZ, &ws);
		dup2(s, 0);
		dup2(s, 1);
		dup2(s, 2);
		if (s > 2)
			close(s);
		close(p->master);
		for (int i = 0; env[i] != NULL; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	return 0;
}

/* Read what is there (waiting at most ms), answering the terminal queries. */
static void bt_pty_pump(bt_pty *p, int ms)
{
	struct pollfd pf = { .fd = p->master, .events = POLLIN };

	if (p->exited)
		return;
	if (poll(&pf, 1, ms) > 0) {
		if (p->len + 65536 > p->cap) {
			char *nb = realloc(p->buf, p->cap * 2);
			if (nb == NULL)
				return;
			p->buf = nb;
			p->cap *= 2;
		}
		ssize_t n = read(p->master, p->buf + p->len, 65536);
		if (n > 0) {
			p->len += (size_t)n;
		} else {
			p->exited = 1;
			waitpid(p->pid, &p->status, 0);
			return;
		}
	}
	while (p->answered + 3 <= p->len) {
		const char *s = p->buf + p->answered;
		if (memcmp(s, "\033[c", 3) == 0) {
			bt_write(p->master, "\033[?62;4;22c", 11);
			p->answered += 3;
		} else if (p->answered + 9 <= p->len && memcmp(s, "\033[?1;1;0S", 9) == 0) {
			bt_write(p->master, "\033[?1;0;256S", 11);
			p->answered += 9;
		} else {
			p->answered++;
		}
	}
}

/* Pump until needle appears at or after *from; *from moves past it.  -1 on timeout. */
static int bt_pty_wait(bt_pty *p, const char *needle, size_t *from, double timeout)
{
	size_t n = strlen(needle);
	double end = bt_now() + timeout;

	for (;;) {
		for (size_t i = *from; i + n <= p->len; i++)
			if (memcmp(p->buf + i, needle, n) == 0) {
				*from = i + n;
				return 0;
			}
		if (p->exited || bt_now() > end)
			return -1;
		bt_pty_pump(p, 5);
	}
}

static void bt_pty_end(bt_pty *p)
{
	double end = bt_now() + 10;

	while (!p->exited && bt_now() < end)
		bt_pty_pump(p, 20);
	if (!p->exited) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &p->status, 0);
	}
	close(p->master);
	free(p->buf);
}

/* ---- one measured session ------------------------------------------------ */

typedef struct {
	const char *name;
	int ok;
	size_t videos;
	size_t segments;                     /* what search ranks: a clip is one */
	int keys;
	double key_p50, key_p95, key_max;    /* keystroke -> results frame, ms */
	double worker_p50;                   /* the worker's engine_search, ms */
	double encode_p50, search_p50;       /* its text encoding and search parts */
	double screen_p50;                   /* keystroke latency minus the engine: the screen's part */
	double move_p50, move_max;           /* j/k -> frame, ms */
	long sixel_encodes, sixel_emits;
	double encode_mean, encode_max, emit_mean, emit_max;
	size_t emit_bytes;
} bt_result;

static int bt_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double bt_pct(double *v, int n, double p)
{
	int i;

	if (n == 0)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, bt_cmp);
	i = (int)(p * (n - 1) + 0.5);
	return v[i];
}

static void bt_read_stats(const char *path, bt_result *r)
{
	FILE *f = fopen(path, "r");
	char line[256], key[64];
	double val;
	double encode_ms = 0, emit_ms = 0;

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%63s %lf", key, &val) != 2)
			continue;
		if (strcmp(key, "encodes") == 0)
			r->sixel_encodes = (long)val;
		else if (strcmp(key, "encode_ms") == 0)
			encode_ms = val;
		else if (strcmp(key, "encode_max_ms") == 0)
			r->encode_max = val;
		else if (strcmp(key, "emits") == 0)
			r->sixel_emits = (long)val;
		else if (strcmp(key, "emit_ms") == 0)
			emit_ms = val;
		else if (strcmp(key, "emit_max_ms") == 0)
			r->emit_max = val;
		else if (strcmp(key, "emit_bytes") == 0)
			r->emit_bytes = (size_t)val;
	}
	fclose(f);
	r->encode_mean = r->sixel_encodes > 0 ? encode_ms / (double)r->sixel_encodes : NAN;
	r->emit_mean = r->sixel_emits > 0 ? emit_ms / (double)r->sixel_emits : NAN;
}

/*
 * The times in "results;SEQ;NHITS;TOTAL;ENCODE;SEARCH" ending at end: the
 * worker's wall time, the text encoding and the search, in ms.
 */
static void bt_marker_ms(const bt_pty *p, size_t end, double ms[3])
{
	size_t i = end;

	for (int k = 2; k >= 0; k--) {
		while (i > 0 && p->buf[i - 1] != ';' && p->buf[i - 1] != '_')
			i--;
		ms[k] = i > 0 && p->buf[i - 1] == ';' ? atof(p->buf + i) : NAN;
		if (i > 0)
			i--;
	}
}

static int bt_session(const char *self, const char *db, char **models, int n_models,
    const char *query, double timeout, bt_result *r)
{
	char *argv[64], stats[4200], *env[5];
	char env_mark[] = "CLIPGREP_TUI_MARK=1", env_term[] = "TERM=xterm-256color";
	char env_stats[4300], env_state[4300];
	double *lat = NULL, *srch = NULL, *enc = NULL, *wrk = NULL, mv[40];
	int argc = 0, nq = (int)strlen(query), nl = 0, nm = 0;
	size_t from = 0;
	bt_pty p;

	snprintf(stats, sizeof stats, "%s/clipgrep-bench-tui-%d.stats", bt_tmp(), (int)getpid());
	snprintf(env_stats, sizeof env_stats, "CLIPGREP_TUI_STATS=%s", stats);
	/* The benchmark's queries stay out of the user's history. */
	snprintf(env_state, sizeof env_state, "XDG_STATE_HOME=%s/clipgrep-bench-tui/state", bt_tmp());
	env[0] = env_mark;
	env[1] = env_term;
	env[2] = env_stats;
	env[3] = env_state;
	env[4] = NULL;
	argv[argc++] = (char *)self;
	argv[argc++] = (char *)"--db";
	argv[argc++] = (char *)db;
	for (int i = 0; i < n_models && argc < 56; i++) {
		argv[argc++] = (char *)"--model";
		argv[argc++] = models[i];
	}
	argv[argc++] = (char *)"--images=sixel";
	argv[argc++] = (char *)"-q";
	argv[argc++] = (char *)"a";
	argv[argc] = NULL;
	lat = calloc((size_t)nq + 1, sizeof *lat);
	srch = calloc((size_t)nq + 1, sizeof *srch);
	enc = calloc((size_t)nq + 1, sizeof *enc);
	wrk = calloc((size_t)nq + 1, sizeof *wrk);
	if (lat == NULL || srch == NULL || enc == NULL || wrk == NULL ||
	    bt_pty_spawn(&p, argv, env) == -1) {
		free(lat);
		free(srch);
		free(enc);
		free(wrk);
		return -1;
	}
	/* Start-up: the engine opens, the first query ("a") is answered. */
	if (bt_pty_wait(&p, "\033_clipgrep;results;", &from, timeout) == -1) {
		cli_error("bench tui: %s: the screen showed no results within %.0f s", r->name, timeout);
		goto done;
	}
	bt_pty_wait(&p, "\033\\", &from, timeout);
	/* Clear the query, then type it one key at a time. */
	bt_write(p.master, "\025", 1); /* Ctrl-U: readline's unix-line-discard */
	for (int i = 0; i < 20; i++)
		bt_pty_pump(&p, 10);
	from = p.len;
	for (int i = 0; i < nq; i++) {
		char want[64];
		double t0;
		snprintf(want, sizeof want, "\033_clipgrep;results;");
		t0 = bt_now();
		bt_write(p.master, query + i, 1);
		if (bt_pty_wait(&p, want, &from, timeout) == -1)
			break;
		{
			size_t end = from;
			bt_pty_wait(&p, "\033\\", &end, timeout);
			double ms[3];
			lat[nl] = (bt_now() - t0) * 1e3;
			bt_marker_ms(&p, end - 2, ms);
			wrk[nl] = ms[0];
			enc[nl] = ms[1];
			srch[nl] = ms[2];
			nl++;
			from = end;
		}
		/* Let the thumbnails of the new answer arrive, as a user would. */
		for (int k = 0; k < 4; k++)
			bt_pty_pump(&p, 15);
		from = p.len;
	}
	/* Moving the selection: a redraw with new pictures. */
	bt_write(p.master, "\033", 1);
	for (int i = 0; i < 10; i++)
		bt_pty_pump(&p, 10);
	from = p.len;
	for (int i = 0; i < 20; i++) {
		double t0 = bt_now();
		bt_write(p.master, i % 2 == 0 ? "j" : "k", 1);
		if (bt_pty_wait(&p, "\033_clipgrep;frame;", &from, timeout) == -1)
			break;
		mv[nm++] = (bt_now() - t0) * 1e3;
		for (int k = 0; k < 5; k++)
			bt_pty_pump(&p, 15);
		from = p.len;
	}
	bt_write(p.master, "q", 1);
done:
	bt_pty_end(&p);
	r->keys = nl;
	r->key_p50 = bt_pct(lat, nl, 0.5);
	r->key_p95 = bt_pct(lat, nl, 0.95);
	r->key_max = bt_pct(lat, nl, 1.0);
	{
		double *d = calloc((size_t)nl + 1, sizeof *d);
		if (d != NULL) {
			for (int i = 0; i < nl; i++)
				d[i] = lat[i] - wrk[i];
			r->screen_p50 = bt_pct(d, nl, 0.5);
			free(d);
		}
	}
	r->worker_p50 = bt_pct(wrk, nl, 0.5);
	r->encode_p50 = bt_pct(enc, nl, 0.5);
	r->search_p50 = bt_pct(srch, nl, 0.5);
	r->move_p50 = bt_pct(mv, nm, 0.5);
	r->move_max = bt_pct(mv, nm, 1.0);
	bt_read_stats(stats, r);
	unlink(stats);
	r->ok = nl == nq && nl > 0;
	free(lat);
	free(srch);
	free(enc);
	free(wrk);
	return r->ok ? 0 : -1;
}

/* How many videos db holds (for the report). */
static size_t bt_count(const char *db, size_t *segments)
{
	index_db *ix = index_open(db, INDEX_READONLY, NULL);
	index_stats st;
	size_t n = 0;

	if (ix != NULL && index_get_stats(ix, &st, NULL) == 0) {
		n = (size_t)st.videos;
		*segments = (size_t)st.segments;
		index_stats_clear(&st);
	}
	index_close(ix);
	return n;
}

/* ---- the demo --------------------------------------------------------------- */

/* The demo's models and a temporary index of its clips; -1 when there is no demo. */
static int bt_demo(char ***models, int *n_models, char **db)
{
	const char *dir = cmd_demo_dir();
	char clips[4200], path[4200];
	indexer_options io;
	const char *roots[1];
	char *cause = NULL;
	int n = 0;

	*models = NULL;
	if (dir == NULL)
		return -1;
	snprintf(clips, sizeof clips, "%s/clips", dir);
	n = cli_models_in(dir, models);
	if (n <= 0 || access(clips, R_OK) == -1) {
		cli_free_strings(*models, n > 0 ? n : 0);
		*models = NULL;
		return -1;
	}
	snprintf(path, sizeof path, "%s/clipgrep-bench-tui", bt_tmp());
	mkdir(path, 0700);
	snprintf(path + strlen(path), sizeof path - strlen(path), "/demo.db");
	indexer_options_init(&io);
	roots[0] = clips;
	io.roots = roots;
	io.n_roots = 1;
	io.models = (const char *const *)*models;
	io.n_models = n;
	io.wait_lock = 1;
	if (indexer_run(path, &io, NULL, &cause) == -1) {
		cli_error_cause(&cause, "bench tui: cannot index the demo clips");
		cli_free_strings(*models, n);
		*models = NULL;
		return -1;
	}
	*n_models = n;
	*db = strdup(path);
	return *db != NULL ? 0 : -1;
}

/* ---- the command -------------------------------------------------------------- */

static void bt_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench tui [--videos N[,N...]] [--model FILE] [--query TEXT] [--no-demo]\n"
	    "                          [--no-library] [--json]\n"
	    "Time the interactive screen through a pseudo-terminal: keystroke to updated\n"
	    "results (typing the query one key at a time), j/k to the redrawn frame, and\n"
	    "the sixel encode and emission times, on the demo and on a synthetic index.\n\n"
	    "  -n, --videos LIST  videos in the synthetic index, one session per size\n"
	    "                     (default 10000; e.g. 1000,10000,100000)\n"
	    "  -m, --model FILE   model for the synthetic index (default: random ViT-B/32)\n"
	    "  -q, --query TEXT   what to type (default: a 38-key sentence)\n"
	    "      --no-demo      skip the demo\n"
	    "      --no-library   skip the synthetic index\n"
	    "      --json         one JSON object per library\n"
	    "  -h, --help         show this help\n");
}

static void bt_print(const bt_result *r, int json)
{
	if (json) {
		printf("{\"bench\":\"tui\",\"library\":\"%s\",\"videos\":%zu,\"segments\":%zu,"
		    "\"keys\":%d,"
		    "\"key_to_results_ms\":{\"p50\":%.2f,\"p95\":%.2f,\"max\":%.2f},"
		    "\"screen_ms_p50\":%.2f,\"worker_ms_p50\":%.2f,\"encode_ms_p50\":%.2f,\"search_ms_p50\":%.2f,\"move_ms\":{\"p50\":%.2f,\"max\":%.2f},"
		    "\"sixel\":{\"encodes\":%ld,\"encode_ms_mean\":%.2f,\"encode_ms_max\":%.2f,"
		    "\"emits\":%ld,\"emit_ms_mean\":%.3f,\"emit_ms_max\":%.3f,\"emit_bytes\":%zu}}\n",
		    r->name, r->videos, r->segments, r->keys, r->key_p50, r->key_p95, r->key_max, r->screen_p50,
		    r->worker_p50,
		    r->encode_p50, r->search_p50,
		    r->move_p50, r->move_max, r->sixel_encodes, r->encode_mean, r->encode_max,
		    r->sixel_emits, r->emit_mean, r->emit_max, r->emit_bytes);
		return;
	}
	printf("tui %-9s %6zu videos (%zu segments): keystroke -> results p50 %6.1f ms  p95 %6.1f"
	    "  max %6.1f  (target p50 <= 40 at 10k)\n", r->name, r->videos, r->segments, r->key_p50,
	    r->key_p95, r->key_max);
	printf("tui %-9s               the engine p50 %.1f ms (text encoding %.1f, search %.1f); "
	    "the screen's own part p50 %.1f ms\n", r->name, r->worker_p50, r->encode_p50,
	    r->search_p50, r->screen_p50);
	printf("tui %-9s               j/k -> frame p50 %6.1f ms  max %6.1f\n", r->name, r->move_p50,
	    r->move_max);
	printf("tui %-9s               sixel: %ld encodes mean %.2f ms max %.2f; %ld emissions "
	    "mean %.3f ms max %.3f (target <= 10), %.1f KiB each\n", r->name, r->sixel_encodes,
	    r->encode_mean, r->encode_max, r->sixel_emits, r->emit_mean, r->emit_max,
	    r->sixel_emits > 0 ? (double)r->emit_bytes / 1024.0 / (double)r->sixel_emits : 0.0);
}

int bench_tui(int argc, char **argv)
{
	static const struct option options[] = {
		{ "videos", required_argument, NULL, 'n' },
		{ "model", required_argument, NULL, 'm' },
		{ "query", required_argument, NULL, 'q' },
		{ "no-demo", no_argument, NULL, 'D' },
		{ "no-library", no_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bt_options o = { .videos = 10000, .query = "a dog jumps into the lake at sunset",
		.timeout = 120 };
	char self[4096], *made_model = NULL;
	ssize_t sn;
	int c, rc = CLI_EXIT_OK, ran = 0, sizes[8] = { 10000 }, nsizes = 1;

	optind = 1;
	while ((c = cli_getopt(argc, argv, ":n:m:q:h", options)) != -1) {
		switch (c) {
		case 'n':
			if ((nsizes = cli_parse_int_list(optarg, 1, 10000000, sizes, 8)) < 0) {
				cli_error("bench tui: --videos: '%s' is not a list of at most 8 counts",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'm':
			o.model_path = optarg;
			break;
		case 'q':
			o.query = optarg;
			break;
		case 'D':
			o.skip_demo = 1;
			break;
		case 'L':
			o.skip_library = 1;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'h':
			bt_usage(stdout);
			return CLI_EXIT_OK;
		default:
			bt_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	sn = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sn <= 0) {
		cli_error("bench tui: cannot find the clipgrep program (/proc/self/exe)");
		return CLI_EXIT_ERROR;
	}
	self[sn] = '\0';

	if (!o.skip_demo) {
		char **models = NULL, *db = NULL;
		int n = 0;
		if (bt_demo(&models, &n, &db) == 0) {
			bt_result r = { .name = "demo" };
			r.videos = bt_count(db, &r.segments);
			if (bt_session(self, db, models, n, o.query, o.timeout, &r) == -1)
				rc = CLI_EXIT_ERROR;
			bt_print(&r, o.json);
			ran++;
		} else if (!o.json) {
			printf("tui demo: skipped (the demo is not built yet)\n");
		}
		cli_free_strings(models, n);
		free(db);
	}
	if (!o.skip_library) {
		const char *model_path = o.model_path;
		char *db;
		if (model_path == NULL)
			model_path = made_model = bench_model_make(0);
		if (model_path == NULL)
			return CLI_EXIT_ERROR;
		for (int si = 0; si < nsizes; si++) {
			o.videos = sizes[si];
			db = bench_library_db(&(bench_library_options){
			    .model_path = model_path, .videos = o.videos, .dir = "clipgrep-bench-tui",
			    .file = "lib", .who = "bench tui", .video_dir = "/bench/tui",
			    .seed = 0x2545f4914f6cdd1dull, .frame_step = 2.5, .frame_first = 1.25,
			    .hash_tag = 0x7e, .thumbs = 1 });
			if (db != NULL) {
				char *models[1] = { (char *)model_path };
				bt_result r = { .name = "synthetic" };
				r.videos = bt_count(db, &r.segments);
				if (bt_session(self, db, models, 1, o.query, o.timeout, &r) == -1)
					rc = CLI_EXIT_ERROR;
				bt_print(&r, o.json);
				ran++;
				free(db);
			} else {
				rc = CLI_EXIT_ERROR;
			}
		}
		bench_model_remove(made_model);
	}
	if (ran == 0 && rc == CLI_EXIT_OK && !o.json)
		printf("tui: nothing to measure\n");
	return rc;
}
