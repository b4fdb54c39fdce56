/*
 * cmd-tui — `clipgrep [OPTIONS] [DIR]`: the interactive screen.  With DIR,
 * what is new there is indexed in the background while you type, and the
 * results are limited to videos under DIR.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "colour.h"
#include "image.h"
#include "tui.h"

#define CMD_TUI_MAX_MODELS 16
#define CMD_TUI_MAX_EXCLUDE 64

static void cmd_tui_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep [OPTIONS] [DIR]\n"
	    "Search your videos interactively: type a query, see ranked clips with\n"
	    "thumbnails, the per-granularity scores and the word x frame attention.\n"
	    "With DIR, new and changed videos under it are indexed in the background\n"
	    "and only videos under DIR are listed.\n\n"
	    "  -d, --db FILE        the index (default: $CLIPGREP_DB, the config's db,\n"
	    "                       else $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "  -m, --model FILE     a model file (repeatable; default: the index's own, else\n"
	    "                       the config's, else the bundled demo model)\n"
	    "      --mode MODE      tcmgc, ea, fused (default: fused when both heads exist)\n"
	    "                       or another head of a multi-head model file by name\n"
	    "  -q, --query TEXT     start with this query\n"
	    "      --images MODE    auto, kitty, sixel, blocks or none (default auto: the kitty\n"
	    "                       graphics protocol or sixel when the terminal answers that\n"
	    "                       it has them, else colour half-blocks)\n"
	    "      --colours N      auto, none, 8, 16, 256 or true (default auto: the most that\n"
	    "                       terminfo, COLORTERM or the terminal's answers vouch for;\n"
	    "                       $CLIPGREP_COLOURS too; either wins over NO_COLOR)\n"
	    "  -n, --top K          list the K best clips (default 50)\n"
	    "      --no-index       do not index DIR, only limit the results to it\n"
	    "  -x, --exclude GLOB   skip matching files while indexing (repeatable)\n"
	    "  -j, --jobs N         decode threads for indexing\n"
	    "      --precision P    the towers' precision, fp32 (default) or bf16 (see\n"
	    "                       'clipgrep index --help')\n"
	    "      --window S       index videos longer than S seconds as segments of at most\n"
	    "                       S seconds (default 30, or the config's window; 0: whole files)\n"
	    "      --shots          move segment boundaries to nearby shot changes\n"
	    "      --sampling M     exact (default) or keyframe: the nearest keyframe to each\n"
	    "                       sampling time, faster to index (see 'clipgrep index --help')\n"
	    "  -h, --help           show this help\n\n"
	    "Keys: type to search; Up/Down move; Enter plays the clip at its best moment;\n"
	    "Tab switches model; w cycles the heatmap word; s lists every matching segment of\n"
	    "long videos (again: each video's best); d (list) or F2 (anywhere) shows the\n"
	    "selected clip on the whole screen, Enter/Esc back; / edits the query; F1\n"
	    "(anywhere, or ? in the list) shows the keys and the heatmap legend; q quits.\n");
}

int cmd_tui_parse_images(const char *s, int *out)
{
	image_mode m;

	if (strcmp(s, "auto") == 0) {
		*out = -1;
		return 0;
	}
	if (image_mode_parse(s, &m) == -1)
		return -1;
	*out = (int)m;
	return 0;
}

int cmd_tui_parse_colours(const char *s, int *out)
{
	return colour_depth_parse(s, out);
}

/*
 * Whether a missing argument was meant as a folder, not a query: it holds
 * a '/' or starts with '.' or '~' ("a dog in the snow" does none of these).
 */
static int cmd_tui_looks_like_path(const char *s)
{
	return strchr(s, '/') != NULL || s[0] == '.' || s[0] == '~';
}

/*
 * `clipgrep QUERY` with stdout not a terminal: what `clipgrep search QUERY`
 * prints, with the screen's --db, --model, --mode, --top and --precision passed on.
 */
static int cmd_tui_search(const char *db, char **models, int n_models, const char *mode,
    int top_k, const char *precision, const char *query)
{
	char *sub[10 + 2 * CMD_TUI_MAX_MODELS], top[16];
	int n = 0, rc;

	sub[n++] = "search";
	if (db != NULL) {
		sub[n++] = "--db";
		sub[n++] = (char *)db;
	}
	for (int i = 0; i < n_models; i++) {
		sub[n++] = "--model";
		sub[n++] = models[i];
	}
	if (mode != NULL) {
		sub[n++] = "--mode";
		sub[n++] = (char *)mode;
	}
	if (top_k > 0) {
		snprintf(top, sizeof top, "%d", top_k);
		sub[n++] = "-n";
		sub[n++] = top;
	}
	if (precision != NULL) {
		sub[n++] = "--precision";
		sub[n++] = (char *)precision;
	}
	sub[n++] = "--";
	sub[n++] = (char *)query;
	sub[n] = NULL;
	optind = 0;
	rc = cmd_search(n, sub);
	return rc;
}

int cmd_tui(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' },
		{ "query", required_argument, NULL, 'q' },
		{ "images", required_argument, NULL, 'I' },
		{ "colours", required_argument, NULL, 'C' },
		{ "colors", required_argument, NULL, 'C' },
		{ "top", required_argument, NULL, 'n' },
		{ "no-index", no_argument, NULL, 'N' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "precision", required_argument, NULL, 'p' },
		{ "window", required_argument, NULL, 'W' },
		{ "shots", no_argument, NULL, 'T' },
		{ "sampling", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	tui_options o;
	cli_config cfg;
	char *opt_models[CMD_TUI_MAX_MODELS];
	const char *exclude[CMD_TUI_MAX_EXCLUDE + 1];
	int n_opt_models = 0, n_exclude = 0, no_index = 0, c, rc = CLI_EXIT_ERROR;
	const char *opt_db = NULL, *dir = NULL, *precision_opt = NULL, *sampling_opt = NULL;
	char *db = NULL, **models = NULL, *root = NULL, *prefix = NULL;
	const char *roots[1];
	char *query_arg = NULL;
	int n_models = 0, top_given = 0;

	tui_options_init(&o);
	memset(&cfg, 0, sizeof cfg);
	while ((c = cli_getopt(argc, argv, ":d:m:q:n:x:j:h", options)) != -1) {
		switch (c) {
		case 'd':
			opt_db = optarg;
			break;
		case 'm':
			if (n_opt_models == CMD_TUI_MAX_MODELS) {
				cli_error("too many --model options (at most %d)", CMD_TUI_MAX_MODELS);
				return CLI_EXIT_USAGE;
			}
			opt_models[n_opt_models++] = optarg;
			break;
		case 'M':
			if (!cli_mode_name_ok(optarg)) {
				cli_error("--mode: %s is not tcmgc, ea, fused or a head's name",
				    cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			o.mode = optarg;
			break;
		case 'q':
			o.query = optarg;
			break;
		case 'I':
			if (cmd_tui_parse_images(optarg, &o.images) == -1) {
				cli_error("--images: %s is not auto, kitty, sixel, blocks or none", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'C':
			if (cmd_tui_parse_colours(optarg, &o.colours) == -1) {
				cli_error("--colours: %s is not auto, none, 8, 16, 256 or true", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 10000, &o.top_k) == -1) {
				cli_error("--top: %s is not a number from 1 to 10000", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			top_given = 1;
			break;
		case 'N':
			no_index = 1;
			break;
		case 'x':
			if (n_exclude == CMD_TUI_MAX_EXCLUDE) {
				cli_error("too many --exclude options (at most %d)", CMD_TUI_MAX_EXCLUDE);
				return CLI_EXIT_USAGE;
			}
			exclude[n_exclude++] = optarg;
			break;
		case 'j':
			if (cli_parse_int(optarg, 1, 256, &o.jobs) == -1) {
				cli_error("--jobs: %s is not a number from 1 to 256", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'p':
			precision_opt = optarg;
			break;
		case 'W':
			if (cli_parse_window(optarg, &o.window) == -1) {
				cli_error("--window: %s is not a number of seconds from 0 to 86400",
				    cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			o.window_set = 1;
			break;
		case 'T':
			o.shots = 1;
			break;
		case 'K':
			sampling_opt = optarg;
			break;
		case 'h':
			cmd_tui_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cmd_tui_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	/*
	 * The operand: an existing path is the folder; a missing one that
	 * looks like a path is a mistyped folder; anything else is a query
	 * (`clipgrep "a dog in the snow"`, as rclip users type it).
	 */
	if (optind < argc) {
		struct stat st;

		if (stat(argv[optind], &st) == 0) {
			if (argc - optind > 1) {
				cli_error("give at most one folder (see 'clipgrep --help')");
				return CLI_EXIT_USAGE;
			}
			dir = argv[optind];
		} else if (engine_query_is_empty(argv[optind]) && argc - optind == 1) {
			cli_error("%s is neither a command, a folder nor a query (see 'clipgrep --help')",
			    cli_name(argv[optind]));
			return CLI_EXIT_USAGE;
		} else if (cmd_tui_looks_like_path(argv[optind])) {
			cli_error("no such folder %s", cli_name(argv[optind]));
			return CLI_EXIT_ERROR;
		} else if (o.query != NULL) {
			cli_error("give the query once: with -q or as the argument, not both");
			return CLI_EXIT_USAGE;
		} else if ((query_arg = cli_join_args(argc, argv, optind)) == NULL) {
			cli_error("out of memory");
			return CLI_EXIT_ERROR;
		} else {
			o.query = query_arg;
		}
	}
	if (query_arg != NULL && !isatty(STDOUT_FILENO)) {
		rc = cmd_tui_search(opt_db, opt_models, n_opt_models, o.mode,
		    top_given ? o.top_k : 0, precision_opt, query_arg);
		free(query_arg);
		return rc;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		cli_error("the interactive screen needs a terminal (in scripts use "
		    "'clipgrep search QUERY'; see 'clipgrep --help')");
		return CLI_EXIT_USAGE;
	}

	if (cli_config_load(&cfg) == -1)
		goto out;
	if ((db = cli_db_path(opt_db, &cfg)) == NULL)
		goto out;
	if ((n_models = cli_model_paths(opt_models, n_opt_models, &cfg, db, &models)) < 0)
		goto out;
	if (cli_precision(precision_opt, &cfg, &o.precision) == -1 ||
	    cli_sampling(sampling_opt, &cfg, &o.sampling) == -1) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	cli_precision_notice(o.precision, "the towers");
	o.no_cache = cfg.no_search_cache;
	if (o.mode == NULL && cfg.mode != NULL)
		o.mode = cfg.mode;
	o.threads = cfg.threads;
	if (o.jobs == 0)
		o.jobs = cfg.jobs;
	if (!o.window_set && cfg.window >= 0) {
		o.window = cfg.window;
		o.window_set = 1;
	}
	for (int i = 0; i < cfg.n_exclude && n_exclude < CMD_TUI_MAX_EXCLUDE; i++)
		exclude[n_exclude++] = cfg.exclude[i];
	exclude[n_exclude] = NULL;
	o.exclude = exclude;
	o.db_path = db;
	o.models = (const char *const *)models;
	o.n_models = n_models;

	if (dir != NULL) {
		struct stat st;
		size_t n;
		if ((root = realpath(dir, NULL)) == NULL || stat(root, &st) == -1 ||
		    !S_ISDIR(st.st_mode)) {
			cli_error("%s: not a folder", cli_name(dir));
			goto out;
		}
		n = strlen(root);
		prefix = malloc(n + 2);
		if (prefix == NULL)
			goto out;
		memcpy(prefix, root, n);
		if (n == 0 || root[n - 1] != '/')
			prefix[n++] = '/';
		prefix[n] = '\0';
		o.filter_prefix = prefix;
		if (!no_index) {
			roots[0] = root;
			o.roots = roots;
			o.n_roots = 1;
			o.create = 1;
		}
	} else if (cli_db_exists(db) == -1) {
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	/* the demo model on the user's own footage: the status line says so, and stderr after */
	if (cli_models_are_demo(models, n_models) && !cli_is_demo_db(db))
		o.title = "synthetic-only demo model";
	rc = tui_run(&o);
	if (o.title != NULL)
		cli_demo_notice();
out:
	cli_free_strings(models, n_models > 0 ? n_models : 0);
	cli_config_free(&cfg);
	free(db);
	free(root);
	free(prefix);
	free(query_arg);
	return rc;
}
