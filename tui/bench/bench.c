/*
 * bench — `clipgrep bench [NAME...]`: the performance benchmarks.
 * Each prints human-readable figures and, with --json, one JSON object,
 * so targets are tracked by benchmarks rather than timed tests.  With no
 * NAME every benchmark runs (this is what `make bench` does).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	int alone;  /* not in a plain `clipgrep bench`: it needs inputs */
} bench_entry;

/* One line per benchmark; each lives in its own tui/bench/bench-*.c file. */
static const bench_entry bench_entries[] = {
	{ "encode", bench_encode, "CLIP image tower frames/s and text tower latency", 0 },
	{ "decode", bench_decode, "seconds per video to sample F frames, against the ffmpeg CLI", 0 },
	{ "search", bench_search, "per-query latency of EA / TC-MGC / fused scoring over 1k-100k videos", 0 },
	{ "index", bench_index, "end-to-end indexing videos/min and frames/s; search start-up at 10k videos", 0 },
	{ "cli", bench_cli, "the whole `clipgrep search` command as a new process at 10k-100k videos", 0 },
	{ "tui", bench_tui, "keystroke-to-results latency of the interactive screen through a pty; sixel emission", 0 },
	{ "eval", bench_eval, "retrieval quality of every mode on a labelled test set (make eval)", 1 },
	{ NULL, NULL, NULL, 0 }
};

static void bench_usage(FILE *out)
{
	fprintf(out, "Usage: clipgrep bench [NAME [OPTIONS]]\n"
	    "Run a benchmark (all of them with no NAME; 'clipgrep bench NAME --help' for its options):\n");
	for (const bench_entry *b = bench_entries; b->name != NULL; b++)
		fprintf(out, "  %-10s %s\n", b->name, b->summary);
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 2) {
		int rc = CLI_EXIT_OK;
		for (const bench_entry *b = bench_entries; b->name != NULL; b++) {
			char *sub_argv[] = { (char *)b->name, NULL };
			if (b->alone)
				continue;
			int r = b->run(1, sub_argv);
			if (r != CLI_EXIT_OK)
				rc = r;
		}
		return rc;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		bench_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (const bench_entry *b = bench_entries; b->name != NULL; b++)
		if (strcmp(argv[1], b->name) == 0)
			return b->run(argc - 1, argv + 1);
	cli_error("bench: unknown benchmark %s", cli_name(argv[1]));
	bench_usage(stderr);
	return CLI_EXIT_USAGE;
}
