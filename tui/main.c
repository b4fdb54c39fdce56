/*
 * main — the clipgrep program: global options and subcommand dispatch.
 * The commands live in tui/cli (command line), tui/screen (the interactive
 * screen) and tui/bench (benchmarks); cmd.h lists their entry points.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmd.h"
#include "tensor.h"

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *summary;
} cli_command;

static const cli_command cli_commands[] = {
	{ "tokenize", cmd_tokenize, "tokenize [--bpe FILE | --model FILE] [-L N] [TEXT...]",
	  "print the CLIP token ids and tokens of each query" },
	{ "bench", cmd_bench, "bench [NAME [OPTIONS]]",
	  "run the performance benchmarks (all of them with no NAME)" },
	{ "frames", cmd_frames, "frames FILE [-F N] [--size S] [--out DIR] [--thumbs] [--json]",
	  "sample F frames of a video, print their times, write them as PNG" },
	{ "index", cmd_index, "index DIR... [--db FILE] [--model FILE]... [--jobs N] [--exclude GLOB]... "
	  "[--include-hidden] [--window S] [--shots] [--precision fp32|bf16] [--reencode] [--shard I/N] [--wait]",
	  "index new and changed videos under each DIR; drop deleted ones, recognise moved ones" },
	{ "search", cmd_search, "search QUERY [--db FILE] [--model FILE]... [--mode tcmgc|ea|fused|HEAD] [-n K] [--in DIR] "
	  "[--all-segments] [-l | -0 | --json | --preview[=MODE]]",
	  "rank the indexed videos for a text query" },
	{ "explain", cmd_explain, "explain QUERY FILE [--at T] [--db FILE] [--model FILE]... [--mode MODE] [--json]",
	  "show one video's score breakdown and word x frame attention for a query" },
	{ "preview", cmd_preview, "preview FILE [--query TEXT] [--width COLS] [--images MODE] [--db FILE]",
	  "show FILE's stored thumbnails, the best moment for TEXT marked (fzf/yazi previewer)" },
	{ "similar", cmd_similar, "similar FILE [-n K] [-l | -0] [--db FILE] [--model FILE]",
	  "rank the indexed videos by likeness to FILE, from the stored vectors" },
	{ "info", cmd_info, "info [--db FILE] [--quick] [--json]",
	  "summarise the index: videos, models, sizes, bad files, integrity" },
	{ "demo", cmd_demo, "demo [--query TEXT] [--print] [--mode MODE]",
	  "try the interactive search on the bundled demo clips and model" },
	{ "merge", cmd_merge, "merge OUT.db SHARD.db...",
	  "merge shard indexes made with 'index --shard I/N'" },
	{ "embed", cmd_embed, "embed --model FILE (--text TEXT... | --video FILE... | --frames-npy FILE) "
	  "[--format json|npy|safetensors] [--out PATH]",
	  "write a model's text, video or frame embeddings as JSON, .npy or safetensors" },
	{ "export", cmd_export, "export [--db FILE] [--model FILE] --format npy|jsonl --out PATH",
	  "write every indexed video's path, times and vectors for a vector database" },
	{ "model", cmd_model, "model list | fetch NAME [--default] | import CHECKPOINT [-o OUT] | "
	  "check FILE [--json]",
	  "list models, download a real one (vit-b-32), convert a checkpoint, inspect a file" },
};


static void cli_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep [OPTIONS] [DIR]            the interactive search (keys: F1;\n"
	    "                                           d or F2: the selected clip's page)\n"
	    "       clipgrep [OPTIONS] QUERY...         search for QUERY (the screen on a terminal,\n"
	    "                                           else the ranked list, as 'search' prints it)\n"
	    "       clipgrep [OPTIONS] COMMAND [ARGS...]\n"
	    "Search a local folder of videos by what happens in them.\n"
	    "With DIR, its new videos are indexed in the background while you type.\n\n"
	    "The interactive search's options:\n"
	    "  -d, --db FILE        the index (default: $CLIPGREP_DB, the config's db,\n"
	    "                       else $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "  -m, --model FILE     a model file (repeatable; default: the index's own,\n"
	    "                       else the config's, else the bundled demo model)\n"
	    "      --mode MODE      tcmgc, ea, fused (default: fused when both heads exist)\n"
	    "                       or another head of a multi-head model file by name\n"
	    "  -q, --query TEXT     start with this query\n"
	    "      --images MODE    auto, kitty, sixel, blocks or none\n"
	    "      --colours N      auto, none, 8, 16, 256 or true (or $CLIPGREP_COLOURS)\n"
	    "  -n, --top K          list the K best clips (default 50)\n"
	    "      --no-index       do not index DIR, only limit the results to it\n"
	    "  -x, --exclude GLOB   skip matching files while indexing (repeatable)\n"
	    "  -j, --jobs N         decode threads for indexing\n"
	    "      --window S       seconds per segment of a long video (default 30)\n"
	    "      --shots          move segment boundaries to nearby shot changes\n"
	    "      --precision P    the towers' precision, fp32 (default) or bf16\n\n"
	    "Commands:\n");
	for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
		fprintf(out, "  %-60s\n      %s\n", cli_commands[i].usage, cli_commands[i].summary);
	fprintf(out,
	    "\nGlobal options:\n"
	    "  -t, --threads N   compute threads (default: all cores, or $CLIPGREP_THREADS)\n"
	    "  -v, --verbose     say more (FFmpeg's log too)\n"
	    "  -h, --help        show this help and exit\n"
	    "  -V, --version     show the version and exit\n\n"
	    "Run 'clipgrep COMMAND --help' for a command's options; 'man clipgrep' for more.\n"
	    "Exit status: 0 ok, 1 no results or usage error, 2 error.\n");
}

/* The interactive screen with argv[first..] as its arguments. */
static int cli_run_tui(int argc, char **argv, int first)
{
	char **sub = calloc((size_t)(argc - first) + 2, sizeof *sub);
	int n = 0, rc;

	if (sub == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_ERROR;
	}
	sub[n++] = argv[0];
	for (int i = first; i < argc; i++)
		sub[n++] = argv[i];
	optind = 0;
	rc = cmd_tui(n, sub);
	free(sub);
	return rc;
}

static int main_run(int argc, char **argv)
{
	static const struct option options[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, threads = 0, prev_optind = 1;

	tensor_init_threads();
	/*
	 * "+": stop at the subcommand so its options are its own.  An option
	 * that is not a global one belongs to the interactive screen
	 * (`clipgrep --images=none DIR`): hand the rest over to it.
	 */
	opterr = 0;
	while (prev_optind = optind, (c = getopt_long(argc, argv, "+:t:vhV", options, NULL)) != -1) {
		switch (c) {
		case 't':
			if (cli_parse_int(optarg, 1, 1024, &threads) == -1) {
				cli_error("--threads: %s is not a number from 1 to 1024", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			tensor_set_threads(threads);
			break;
		case 'v':
			cli_verbose++;
			break;
		case 'h':
			cli_usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("clipgrep %s\n", PACKAGE_VERSION);
			return CLI_EXIT_OK;
		case '?':
			return cli_run_tui(argc, argv, prev_optind);
		default:
			cli_option_error(NULL, c, argv);
			cli_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_run_tui(argc, argv, optind);
	for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) {
		if (strcmp(argv[optind], cli_commands[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 0; /* a fresh getopt scan for the subcommand */
			return cli_commands[i].run(sub_argc, sub_argv);
		}
	}
	/* A folder, or a query (`clipgrep "a dog"`): the screen sorts them out. */
	return cli_run_tui(argc, argv, optind);
}

int main(int argc, char **argv)
{
	int rc = main_run(argc, argv);

	/*
	 * The last word on output a command thought it wrote (--help, --version,
	 * a listing): a full disk or a closed stdout is an error, not a success.
	 */
	if ((fflush(stdout) == EOF || ferror(stdout)) && rc == CLI_EXIT_OK) {
		cli_error("cannot write the output: %s", strerror(errno));
		rc = CLI_EXIT_ERROR;
	}
	return rc;
}
