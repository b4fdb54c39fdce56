/*
 * cmd-demo — `clipgrep demo`: the interactive screen over the bundled demo
 * clips and model, indexed on first run into the user's data directory
 * ($XDG_DATA_HOME/clipgrep/demo.db, apart from the user's own index).  When
 * standard output is not a terminal, or with --query and --print, the
 * ranking is printed instead.
 *
 * The bundle is the model files <demo>/NAME.safetensors and <demo>/clips/
 * (the clips, captions.jsonl beside them), where <demo> is
 * $CLIPGREP_DEMO_DIR when set, else cli_demo_dir(): $(pkgdatadir)/demo, or
 * assets/demo when running from the build tree.
 * The suggested query is <demo>/query.txt, else the first caption.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "engine.h"
#include "indexer.h"
#include "json.h"
#include "tui.h"

#define DEMO_FALLBACK_QUERY "a dog playing in the snow"

static void demo_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep demo [--query TEXT] [--print] [--mode MODE] [-n K]\n"
	    "                     [--images MODE] [--colours N] [--db FILE]\n"
	    "Try clipgrep on the bundled demo clips and model: the clips are indexed on\n"
	    "first run (into $XDG_DATA_HOME/clipgrep/demo.db), then the interactive\n"
	    "screen opens with a suggested query.  When standard output is not a\n"
	    "terminal (or with --print) the ranking for the query is printed instead.\n\n"
	    "  -q, --query TEXT   the query (default: a suggested one)\n"
	    "  -p, --print        print the ranking, do not open the screen\n"
	    "      --mode MODE    tcmgc, ea, fused, or another head of the model: ea-seq,\n"
	    "                     meanp\n"
	    "  -n, --top K        clips to list (default 10 printed, 50 on screen)\n"
	    "      --images MODE  auto, kitty, sixel, blocks or none\n"
	    "      --colours N    auto, none, 8, 16, 256 or true\n"
	    "  -d, --db FILE      the demo index (default $XDG_DATA_HOME/clipgrep/demo.db)\n"
	    "  -h, --help         show this help\n");
}

static int demo_is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cmd_demo_dir(void)
{
	const char *dir = getenv("CLIPGREP_DEMO_DIR");

	return dir != NULL && dir[0] != '\0' ? dir : cli_demo_dir();
}

/*
 * The suggested query: the first line of <demo>/query.txt, else the
 * "caption" of the first line of clips/captions.jsonl.  Newly allocated.
 */
static char *demo_suggested_query(const char *dir)
{
	char path[4096], line[4096];
	FILE *f;
	char *q = NULL;

	snprintf(path, sizeof path, "%s/query.txt", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof line, f) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] != '\0')
				q = strdup(line);
		}
		fclose(f);
		if (q != NULL)
			return q;
	}
	snprintf(path, sizeof path, "%s/clips/captions.jsonl", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof line, f) != NULL) {
			json_value *j = json_parse(line, strlen(line), NULL);
			const json_value *cap = j != NULL ? json_get(j, "caption") : NULL;
			if (cap != NULL && json_string(cap, NULL) != NULL)
				q = strdup(json_string(cap, NULL));
			json_free(j);
		}
		fclose(f);
	}
	return q != NULL ? q : strdup(DEMO_FALLBACK_QUERY);
}

static char *demo_db_path(void)
{
	const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char p[4096];

	if (data != NULL && data[0] == '/')
		snprintf(p, sizeof p, "%s/clipgrep/demo.db", data);
	else if (home != NULL && home[0] != '\0')
		snprintf(p, sizeof p, "%s/.local/share/clipgrep/demo.db", home);
	else
		return NULL;
	return strdup(p);
}

static void demo_progress(void *arg, const indexer_event *ev)
{
	(void)arg;
	if (ev->kind == INDEXER_EV_WALKED && ev->stats->to_decode > 0)
		fprintf(stderr, "clipgrep: demo: indexing %lld clips (first run)...\n",
		    (long long)ev->stats->to_decode);
	else if (ev->kind == INDEXER_EV_WARNING && cli_verbose && ev->message != NULL)
		fprintf(stderr, "clipgrep: demo: %s\n", ev->message);
}

/* Index the clips now, and print the ranking for query. */
static int demo_print(const char *db, char **models, int n_models, const char *clips,
    const char *query, const char *mode_name, int top_k)
{
	indexer_options io;
	engine_options eo;
	engine *e = NULL;
	engine_result *r = NULL;
	search_model mode;
	char *cause = NULL;
	const char *roots[1] = { clips };
	int rc = CLI_EXIT_ERROR;

	cli_video_log_setup();
	indexer_options_init(&io);
	io.roots = roots;
	io.n_roots = 1;
	io.models = (const char *const *)models;
	io.n_models = n_models;
	io.wait_lock = 1;
	io.progress = demo_progress;
	if (indexer_run(db, &io, NULL, &cause) == -1) {
		cli_error_cause(&cause, "demo: indexing failed");
		return CLI_EXIT_ERROR;
	}
	engine_options_init(&eo);
	eo.db_path = db;
	eo.model_paths = (const char *const *)models;
	eo.n_models = n_models;
	if ((e = engine_open(&eo, &cause)) == NULL) {
		cli_error_cause(&cause, "demo: cannot open the demo index");
		return CLI_EXIT_ERROR;
	}
	mode = engine_default_mode(e);
	if (mode_name != NULL && engine_mode_find(e, mode_name, &mode) == -1) {
		engine_info info;
		engine_get_info(e, &info);
		cli_error("demo: --mode: %s is not tcmgc, ea, fused%s%s", cli_name(mode_name),
		    info.extra_modes > 0 ? " or " : "", cli_mode_list(&info));
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (engine_search(e, query, mode, top_k, &r, &cause) == -1) {
		cli_error_cause(&cause, "demo: search failed");
		goto out;
	}
	printf("# query: ");
	cli_text_escaped(stdout, query);
	printf("  (mode %s, %zu clips)\n", r->mode_name, r->library);
	for (int i = 0; i < r->nhits; i++) {
		const engine_hit *h = &r->hits[i];
		char best[32];
		const char *base = strrchr(h->path, '/');
		screen_format_time(h->best_time, best, sizeof best);
		printf("%2d  %9.4f  %6s  ", h->rank, (double)h->score, best);
		cli_text_escaped(stdout, base != NULL ? base + 1 : h->path);
		putchar('\n');
	}
	rc = r->nhits > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
out:
	engine_result_free(r);
	engine_close(e);
	return rc;
}

int cmd_demo(int argc, char **argv)
{
	static const struct option options[] = {
		{ "query", required_argument, NULL, 'q' },
		{ "print", no_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'M' },
		{ "top", required_argument, NULL, 'n' },
		{ "images", required_argument, NULL, 'I' },
		{ "colours", required_argument, NULL, 'C' },
		{ "colors", required_argument, NULL, 'C' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	tui_options o;
	const char *dir, *query = NULL, *mode = NULL, *opt_db = NULL;
	char clips[4096], *db = NULL, **models = NULL, *suggested = NULL;
	int n_models = 0, print = 0, top_k = 0, c, rc = CLI_EXIT_ERROR;

	tui_options_init(&o);
	while ((c = cli_getopt(argc, argv, ":q:pn:d:h", options)) != -1) {
		switch (c) {
		case 'q':
			query = optarg;
			break;
		case 'p':
			print = 1;
			break;
		case 'M':
			if (!cli_mode_name_ok(optarg)) {
				cli_error("demo: --mode: %s is not tcmgc, ea, fused or a head's name",
				    cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			mode = optarg;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 10000, &top_k) == -1) {
				cli_error("demo: --top: %s is not a number from 1 to 10000", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'I':
			if (cmd_tui_parse_images(optarg, &o.images) == -1) {
				cli_error("demo: --images: %s is not auto, kitty, sixel, blocks or none", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'C':
			if (cmd_tui_parse_colours(optarg, &o.colours) == -1) {
				cli_error("demo: --colours: %s is not auto, none, 8, 16, 256 or true", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'd':
			opt_db = optarg;
			break;
		case 'h':
			demo_usage(stdout);
			return CLI_EXIT_OK;
		default:
			demo_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("demo: unexpected argument %s (the query goes after --query)", cli_name(argv[optind]));
		return CLI_EXIT_USAGE;
	}
	dir = cmd_demo_dir();
	if (dir == NULL) {
		cli_error("demo not built yet: no demo folder (assets/demo in the source tree, "
		    "%s/demo once installed)", CLIPGREP_PKGDATADIR);
		return CLI_EXIT_ERROR;
	}
	snprintf(clips, sizeof clips, "%s/clips", dir);
	n_models = cli_models_in(dir, &models);
	if (n_models < 0) {
		cli_error("demo: out of memory");
		return CLI_EXIT_ERROR;
	}
	if (n_models == 0 || !demo_is_dir(clips)) {
		cli_error("demo not built yet: %s has no %s", cli_name(dir),
		    n_models == 0 ? "model file (*.safetensors)" : "clips/ folder");
		cli_free_strings(models, n_models);
		return CLI_EXIT_ERROR;
	}
	db = opt_db != NULL ? strdup(opt_db) : demo_db_path();
	if (db == NULL) {
		cli_error("demo: neither XDG_DATA_HOME nor HOME is set: pass --db FILE");
		goto out;
	}
	if (query == NULL)
		query = suggested = demo_suggested_query(dir);
	if (print || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		rc = demo_print(db, models, n_models, clips, query, mode, top_k > 0 ? top_k : 10);
		goto out;
	}
	{
		const char *roots[1] = { clips };
		o.db_path = db;
		o.models = (const char *const *)models;
		o.n_models = n_models;
		o.roots = roots;
		o.n_roots = 1;
		o.create = 1;
		o.query = query;
		o.mode = mode;
		o.title = "demo";
		o.select_query = 1;
		if (top_k > 0)
			o.top_k = top_k;
		rc = tui_run(&o);
	}
out:
	cli_free_strings(models, n_models);
	free(db);
	free(suggested);
	return rc;
}
