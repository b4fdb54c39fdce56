/*
 * bench-cli — `clipgrep bench cli`: the whole `clipgrep search` command
 * timed as a new process, the way a user or a script runs it, on a
 * synthetic index of ViT-B/32-shaped caches (tui/bench/bench-library) with
 * the page cache warm.
 *
 * Per library size it reports: the first search after indexing (it finds no
 * search cache file, loads every cache through SQLite and writes the file),
 * the median and the fastest of the searches after it (they map the file),
 * the median without the cache file (--no-cache: the old start-up), and the
 * same command on an empty index (the model files and the text tower alone:
 * the floor under every other figure), each process's peak RSS, and the
 * cache file's size.
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

#include "bench-library.h"
#include "bench-model.h"
#include "cachefile.h"
#include "cli.h"
#include "cmd.h"
#include "tensor.h"
#include "util.h"

#define BC_MAX_SIZES 8
#define BC_QUERY "a person walking a dog along the beach at sunset"

typedef struct {
	const char *model_path;
	int runs;
	int json;
} bc_options;

typedef struct {
	double s;      /* wall seconds, fork to reaped */
	double first;  /* fork to the first byte of output (the results), or s */
	long rss_kb;   /* the child's peak RSS */
	int status;    /* its exit status, or -1 */
} bc_run;

static void bc_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench cli [--videos N[,N...]] [--runs R] [--model FILE] [--json]\n"
	    "Time the whole `clipgrep search` command as a new process on a synthetic\n"
	    "index (page cache warm): the first search after indexing (writes the search\n"
	    "cache file), the searches after it (map the file), the same without the file\n"
	    "(--no-cache), and on an empty index (the models alone).\n\n"
	    "  -n, --videos LIST  library sizes (default 10000,100000)\n"
	    "  -r, --runs R       timed searches per figure (default 7; the median is printed)\n"
	    "  -m, --model FILE   model for the index (default: random ViT-B/32, F16 weights)\n"
	    "      --json         one JSON object per size\n"
	    "  -h, --help         show this help\n");
}

/*
 * Run self with argv, its output into a pipe read here (stderr to
 * /dev/null): wall time to the first byte of output and to the end, and
 * the peak RSS.
 */
static bc_run bc_spawn(const char *self, char *const argv[])
{
	bc_run r = { 0, 0, 0, -1 };
	struct rusage ru;
	double t0 = util_now();
	char buf[4096];
	int status, out[2];
	pid_t pid;
	ssize_t got;

	fflush(NULL);
	if (pipe(out) != 0)
		return r;
	if ((pid = fork()) == -1) {
		close(out[0]);
		close(out[1]);
		return r;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		close(out[0]);
		dup2(out[1], 1);
		close(out[1]);
		if (fd != -1) {
			dup2(fd, 2);
			close(fd);
		}
		execv(self, argv);
		_exit(127);
	}
	close(out[1]);
	r.first = -1;
	while ((got = read(out[0], buf, sizeof buf)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		if (r.first < 0)
			r.first = util_now() - t0;
	}
	close(out[0]);
	while (wait4(pid, &status, 0, &ru) == -1 && errno == EINTR)
		;
	r.s = util_now() - t0;
	if (r.first < 0)
		r.first = r.s;
	r.rss_kb = ru.ru_maxrss;
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r;
}

static int bc_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* runs searches: their median and minimum seconds, the median RSS; -1 when one failed. */
static int bc_repeat(const char *self, char *const argv[], int runs, double *median,
    double *fastest, long *rss_kb)
{
	double *t = calloc((size_t)runs, sizeof *t), *m = calloc((size_t)runs, sizeof *m);
	int rc = 0;

	if (t == NULL || m == NULL) {
		free(t);
		free(m);
		return -1;
	}
	for (int i = 0; i < runs; i++) {
		bc_run r = bc_spawn(self, argv);
		if (r.status != 0) {
			cli_error("bench cli: `clipgrep %s ...` failed (exit %d)", argv[1], r.status);
			rc = -1;
			break;
		}
		t[i] = r.s;
		m[i] = (double)r.rss_kb;
	}
	if (rc == 0) {
		qsort(t, (size_t)runs, sizeof *t, bc_cmp_double);
		qsort(m, (size_t)runs, sizeof *m, bc_cmp_double);
		*median = t[runs / 2];
		*fastest = t[0];
		*rss_kb = (long)m[runs / 2];
	}
	free(t);
	free(m);
	return rc;
}

/* The cache files beside db (core/cachefile): removed, or their bytes summed. */
static long long bc_cache_files(const char *db, int remove)
{
	char **paths;
	size_t n;
	long long bytes = 0;

	if (cachefile_list(db, &paths, &n) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		if (remove)
			unlink(paths[i]);
		else if (stat(paths[i], &sb) == 0)
			bytes += (long long)sb.st_size;
		free(paths[i]);
	}
	free(paths);
	return bytes;
}

int bench_cli(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "videos", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bc_options o = { NULL, 7, 0 };
	int sizes[BC_MAX_SIZES] = { 10000, 100000 }, nsizes = 2, c, rc = CLI_EXIT_OK;
	char self[4096], *made_model = NULL, *empty_db = NULL;
	ssize_t sn;

	optind = 1;
	while ((c = cli_getopt(argc, argv, ":n:r:m:h", longopts)) != -1) {
		switch (c) {
		case 'n':
			if ((nsizes = cli_parse_int_list(optarg, 1, 10000000, sizes, BC_MAX_SIZES)) < 0) {
				cli_error("bench cli: --videos wants sizes from 1 to 10000000, "
				    "separated by commas");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'r':
			if (cli_parse_int(optarg, 1, 1000, &o.runs) == -1) {
				cli_error("bench cli: --runs wants 1 to 1000");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'm':
			o.model_path = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'h':
			bc_usage(stdout);
			return CLI_EXIT_OK;
		default:
			bc_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		bc_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if ((sn = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0) {
		cli_error("bench cli: cannot find the clipgrep program (/proc/self/exe)");
		return CLI_EXIT_ERROR;
	}
	self[sn] = '\0';
	if (o.model_path == NULL && (o.model_path = made_model = bench_model_make(1)) == NULL)
		return CLI_EXIT_ERROR;

	/* The floor: the same command on an index without videos. */
	double empty_s = 0, empty_min = 0;
	long empty_rss = 0;
	{
		size_t n = strlen(bench_library_tmp()) + 64;
		char dir[4200];
		if ((empty_db = malloc(n)) == NULL)
			goto fail;
		snprintf(empty_db, n, "%s/clipgrep-bench-cli-%d.db", bench_library_tmp(), (int)getpid());
		snprintf(dir, sizeof dir, "%s/clipgrep-bench-cli-%d.d", bench_library_tmp(),
		    (int)getpid());
		mkdir(dir, 0700);
		char *index_argv[] = { "clipgrep", "index", "--db", empty_db, "--model",
			(char *)o.model_path, dir, NULL };
		bc_run r = bc_spawn(self, index_argv);
		rmdir(dir);
		/* An index without videos: search says so and exits 1 once the
		 * models are loaded, which is the figure wanted here. */
		char *search_argv[] = { "clipgrep", "search", "--db", empty_db, "--model",
			(char *)o.model_path, "-n", "10", BC_QUERY, NULL };
		if (r.status != 0) {
			cli_error("bench cli: cannot make an empty index");
			goto fail;
		}
		double *t = calloc((size_t)o.runs, sizeof *t);
		if (t == NULL)
			goto fail;
		for (int i = 0; i < o.runs; i++) {
			bc_run s = bc_spawn(self, search_argv);
			t[i] = s.s;
			empty_rss = s.rss_kb;
		}
		qsort(t, (size_t)o.runs, sizeof *t, bc_cmp_double);
		empty_s = t[o.runs / 2];
		empty_min = t[0];
		free(t);
	}

	if (!o.json)
		printf("bench cli (clipgrep search as a new process, %d threads, OpenBLAS kernel %s, "
		    "median of %d)\n", tensor_threads(), tensor_blas_core(), o.runs);
	for (int si = 0; si < nsizes; si++) {
		char *db = bench_library_db(&(bench_library_options){
		    .model_path = o.model_path, .videos = sizes[si], .dir = "clipgrep-bench-cli",
		    .file = "lib", .who = "bench cli", .video_dir = "/bench/cli",
		    .seed = 0x9e3779b97f4a7c15ull, .frame_step = 2.5, .frame_first = 1.25,
		    .hash_tag = 0x5c, .frames_tensor = 1 });
		double first_s, first_results_s, p50 = 0, best = 0, nc50 = 0, ncbest = 0;
		long rss = 0, nc_rss = 0, first_rss;
		long long cache_bytes;

		if (db == NULL) {
			rc = CLI_EXIT_ERROR;
			continue;
		}
		char *argv_cached[] = { "clipgrep", "search", "--db", db, "--model",
			(char *)o.model_path, "-n", "10", BC_QUERY, NULL };
		char *argv_none[] = { "clipgrep", "search", "--db", db, "--model",
			(char *)o.model_path, "-n", "10", "--no-cache", BC_QUERY, NULL };
		/* Warm the page cache for the index, then the first search. */
		bc_cache_files(db, 1);
		if (bc_repeat(self, argv_none, 1, &first_s, &best, &first_rss) != 0)
			goto next;
		{
			bc_run r = bc_spawn(self, argv_cached);
			first_s = r.s;
			first_results_s = r.first;
			first_rss = r.rss_kb;
			if (r.status != 0) {
				cli_error("bench cli: the first search failed (exit %d)", r.status);
				goto next;
			}
		}
		cache_bytes = bc_cache_files(db, 0);
		if (bc_repeat(self, argv_cached, o.runs, &p50, &best, &rss) != 0 ||
		    bc_repeat(self, argv_none, o.runs, &nc50, &ncbest, &nc_rss) != 0)
			goto next;
		if (o.json) {
			printf("{\"benchmark\":\"cli\",\"videos\":%d,\"runs\":%d,\"first_s\":%.4f,"
			    "\"first_results_s\":%.4f,"
			    "\"p50_s\":%.4f,\"min_s\":%.4f,\"no_cache_p50_s\":%.4f,"
			    "\"no_cache_min_s\":%.4f,\"empty_index_p50_s\":%.4f,"
			    "\"empty_index_min_s\":%.4f,\"cache_bytes\":%lld,\"rss_kb\":%ld,"
			    "\"first_rss_kb\":%ld,\"no_cache_rss_kb\":%ld,\"empty_index_rss_kb\":%ld,"
			    "\"threads\":%d,\"blas_core\":\"%s\"}\n",
			    sizes[si], o.runs, first_s, first_results_s, p50, best, nc50, ncbest, empty_s,
			    empty_min,
			    cache_bytes, rss, first_rss, nc_rss, empty_rss, tensor_threads(),
			    tensor_blas_core());
		} else {
			printf("  %d videos: %.0f ms median, %.0f ms fastest (cache file %.0f MB);\n"
			    "    first search after indexing: results at %.0f ms, done at %.0f ms (it "
			    "writes the file);\n    without the file (--no-cache) %.0f ms;\n"
			    "    the models alone (empty index) %.0f ms; peak RSS %.0f MB (%.0f MB "
			    "without the file)\n",
			    sizes[si], p50 * 1e3, best * 1e3, (double)cache_bytes / 1e6,
			    first_results_s * 1e3, first_s * 1e3, nc50 * 1e3, empty_s * 1e3, (double)rss / 1024, (double)nc_rss / 1024);
		}
		free(db);
		continue;
next:
		rc = CLI_EXIT_ERROR;
		free(db);
	}
	goto out;
fail:
	rc = CLI_EXIT_ERROR;
out:
	if (empty_db != NULL) {
		char side[4300];
		bc_cache_files(empty_db, 1);
		unlink(empty_db);
		static const char *const ext[] = { "-wal", "-shm", ".lock" };
		for (int i = 0; i < 3; i++) {
			snprintf(side, sizeof side, "%s%s", empty_db, ext[i]);
			unlink(side);
		}
		free(empty_db);
	}
	bench_model_remove(made_model);
	return rc;
}
