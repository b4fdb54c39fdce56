/*
 * cmd-index — `clipgrep index DIR...`: bring the index up to date with
 * folders of videos (core/indexer), with a progress bar on a terminal and
 * one log line per file otherwise.  Ctrl-C stops after the video in
 * flight; a second Ctrl-C kills at once (the index stays consistent either
 * way: every video is its own transaction).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "indexer.h"
#include "util.h"

static atomic_int index_stop;

static void index_on_sigint(int sig)
{
	(void)sig;
	atomic_store(&index_stop, 1);
	signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process */
}

typedef struct {
	int tty;          /* draw a progress bar on stderr */
	int verbose;
	double last_draw;
	int bar_shown;
	double walked_at;
	int64_t decoded_at_walk;
} index_view;

static void index_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep index [OPTIONS] DIR...\n"
	    "Index the videos under each DIR (new and changed files are encoded, moved files\n"
	    "recognised by content, deleted files dropped, bad files recorded).\n\n"
	    "      --db FILE        the index (default $CLIPGREP_DB, else\n"
	    "                       $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "  -m, --model FILE     a model file (repeatable; default: the config's, else the\n"
	    "                       bundled demo model)\n"
	    "  -j, --jobs N         decode threads (default: a quarter of the cores, at least 1)\n"
	    "  -x, --exclude GLOB   skip files and folders matching GLOB (repeatable; a GLOB\n"
	    "                       with '/' matches the path below DIR, else the name)\n"
	    "      --include-hidden also index names starting with '.'\n"
	    "      --shard I/N      index only slice I of N (0 <= I < N); join with 'clipgrep merge'\n"
	    "      --wait           wait for another indexer on the same index instead of failing\n"
	    "      --batch N        frames per image-tower call (default 48)\n"
	    "      --precision P    the image tower's precision: fp32 (default) or bf16\n"
	    "                       (needs AVX512_BF16, else fp32 with a notice; vectors\n"
	    "                       within cosine 0.9999 of fp32; the config's precision =\n"
	    "                       sets the default).  An index keeps one per model\n"
	    "      --reencode       the index holds a model's vectors in the other precision:\n"
	    "                       drop them and encode every video again (else refused)\n"
	    "      --window S       index a video longer than S seconds as segments of at most\n"
	    "                       S seconds, each searched as a clip (default 30, or the\n"
	    "                       config's window; 0: whole files).  Another window than a\n"
	    "                       video was indexed with encodes it again\n"
	    "      --shots          move segment boundaries to nearby shot changes\n"
	    "      --sampling M     exact (default): the frame on screen at each sampling time;\n"
	    "                       keyframe: the nearest keyframe, several times faster to\n"
	    "                       decode (the config's sampling = sets the default).  A\n"
	    "                       video indexed in the other mode is encoded again\n"
	    "  -q, --quiet          no progress, only errors and the summary\n"
	    "  -h, --help           show this help\n");
}

static void index_clear_bar(index_view *v)
{
	if (v->bar_shown) {
		fputs("\r\033[K", stderr);
		v->bar_shown = 0;
	}
}

static void index_draw_bar(index_view *v, const indexer_stats *st)
{
	char eta[32] = "--:--";
	int width = 24, filled;
	double frac, fps = st->seconds > 0 ? (double)st->frames / st->seconds : 0;
	int64_t left = st->to_decode - st->decoded;

	frac = st->files_total > 0 ? (double)st->files_done / (double)st->files_total : 0;
	if (st->decoded - v->decoded_at_walk > 0 && left > 0) {
		double per = (st->seconds - v->walked_at) / (double)(st->decoded - v->decoded_at_walk);
		int s = (int)(per * (double)left + 0.5);
		snprintf(eta, sizeof eta, "%d:%02d", s / 60, s % 60);
	} else if (left == 0)
		snprintf(eta, sizeof eta, "0:00");
	filled = (int)(frac * width + 0.5);
	fputs("\r\033[K[", stderr);
	for (int i = 0; i < width; i++)
		fputc(i < filled ? '#' : '-', stderr);
	fprintf(stderr, "] %lld/%lld files  %.1f frames/s  ETA %s", (long long)st->files_done,
	    (long long)st->files_total, fps, eta);
	fflush(stderr);
	v->bar_shown = 1;
}

static void index_progress(void *arg, const indexer_event *ev)
{
	index_view *v = arg;
	const indexer_stats *st = ev->stats;
	int show;

	switch (ev->kind) {
	case INDEXER_EV_WALKED:
		v->walked_at = st->seconds;
		v->decoded_at_walk = st->decoded;
		if (!v->tty && v->verbose >= 0)
			fprintf(stderr, "clipgrep: %lld files found, %lld to index\n",
			    (long long)st->files_total, (long long)st->to_decode);
		break;
	case INDEXER_EV_WARNING:
		if (v->verbose < 0)
			break;
		index_clear_bar(v);
		fputs("clipgrep: warning: ", stderr);
		if (ev->path != NULL) {
			cli_text_escaped(stderr, ev->path);
			fputs(": ", stderr);
		}
		cli_text_escaped(stderr, ev->message != NULL ? ev->message : "problem");
		fputc('\n', stderr);
		break;
	case INDEXER_EV_FILE:
		show = ev->action != INDEXER_UNCHANGED || v->verbose > 0;
		if (ev->action == INDEXER_FAILED || ev->action == INDEXER_PARTIAL)
			show = v->verbose >= 0;
		else if (v->tty || v->verbose < 0)
			show = show && v->verbose > 0;
		if (show) {
			index_clear_bar(v);
			fprintf(stderr, "%s ", indexer_action_name(ev->action));
			cli_text_escaped(stderr, ev->path);
			if (ev->message != NULL) {
				fputs(": ", stderr);
				cli_text_escaped(stderr, ev->message);
			}
			fputc('\n', stderr);
		}
		if (v->tty && v->verbose >= 0 && (st->seconds - v->last_draw > 0.1 || show)) {
			v->last_draw = st->seconds;
			index_draw_bar(v, st);
		}
		break;
	case INDEXER_EV_DONE:
		index_clear_bar(v);
		break;
	}
}

static int index_parse_shard(const char *s, int *i, int *n)
{
	char buf[64], *slash;

	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (cli_parse_int(slash + 1, 1, 1000000, n) == -1 || cli_parse_int(buf, 0, *n - 1, i) == -1)
		return -1;
	return 0;
}

static void index_summary(const indexer_stats *st)
{
	static const indexer_action order[] = {
		INDEXER_ADDED, INDEXER_UPDATED, INDEXER_EXTENDED, INDEXER_MOVED, INDEXER_COPIED,
		INDEXER_TOUCHED, INDEXER_PARTIAL, INDEXER_FAILED, INDEXER_DELETED, INDEXER_UNCHANGED,
	};
	double fps = st->seconds > 0 ? (double)st->frames / st->seconds : 0;

	fprintf(stderr, "clipgrep: %lld files:", (long long)st->files_total);
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		fprintf(stderr, "%s %lld %s", i ? "," : "", (long long)st->actions[order[i]],
		    indexer_action_name(order[i]));
	if (st->actions[INDEXER_REENCODED] > 0)
		fprintf(stderr, ", %lld re-encoded (damaged record)",
		    (long long)st->actions[INDEXER_REENCODED]);
	fprintf(stderr, "; %lld frames encoded in %.1f s (%.1f frames/s, %s)\n",
	    (long long)st->frames, st->seconds, fps, linear_precision_name(st->precision));
}

int cmd_index(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "include-hidden", no_argument, NULL, 'H' },
		{ "shard", required_argument, NULL, 'S' },
		{ "wait", no_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ "precision", required_argument, NULL, 'p' },
		{ "reencode", no_argument, NULL, 'R' },
		{ "window", required_argument, NULL, 'W' },
		{ "shots", no_argument, NULL, 'T' },
		{ "sampling", required_argument, NULL, 'K' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cli_config cfg;
	indexer_options opt;
	indexer_stats st;
	index_view view = { 0 };
	const char *db_opt = NULL, *precision_opt = NULL, *sampling_opt = NULL;
	char **models_opt = NULL, **models = NULL, **exclude = NULL, *db = NULL, *cause = NULL;
	int n_models_opt = 0, n_models = 0, n_exclude = 0, c, rc = CLI_EXIT_ERROR, r;
	struct sigaction sa, old_sa;

	indexer_options_init(&opt);
	if (cli_config_load(&cfg) == -1) {
		cli_config_free(&cfg);
		return CLI_EXIT_ERROR;
	}
	opt.jobs = cfg.jobs;
	if (cfg.window >= 0)
		opt.window = cfg.window;
	while ((c = cli_getopt(argc, argv, ":d:m:j:x:qh", options)) != -1) {
		switch (c) {
		case 'd':
			db_opt = optarg;
			break;
		case 'm':
			if (cli_append_arg(&models_opt, &n_models_opt, optarg) == -1)
				goto nomem;
			break;
		case 'x':
			if (cli_append_arg(&exclude, &n_exclude, optarg) == -1)
				goto nomem;
			break;
		case 'j':
			if (cli_parse_int(optarg, 1, 256, &opt.jobs) == -1) {
				cli_error("index: --jobs: %s is not a number from 1 to 256", cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'b':
			if (cli_parse_int(optarg, 1, 1024, &opt.batch) == -1) {
				cli_error("index: --batch: %s is not a number from 1 to 1024", cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'W':
			if (cli_parse_window(optarg, &opt.window) == -1) {
				cli_error("index: --window: %s is not a number of seconds from 0 to 86400",
				    cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'T':
			opt.shots = 1;
			break;
		case 'K':
			sampling_opt = optarg;
			break;
		case 'H':
			opt.include_hidden = 1;
			break;
		case 'p':
			precision_opt = optarg;
			break;
		case 'R':
			opt.reencode = 1;
			break;
		case 'S':
			if (index_parse_shard(optarg, &opt.shard_index, &opt.shard_count) == -1) {
				cli_error("index: --shard: %s is not I/N with 0 <= I < N", cli_name(optarg));
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case 'w':
			opt.wait_lock = 1;
			break;
		case 'q':
			view.verbose = -1;
			break;
		case 'h':
			index_usage(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			index_usage(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		cli_error("index: no folder given");
		index_usage(stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (cli_precision(precision_opt, &cfg, &opt.precision) == -1 ||
	    cli_sampling(sampling_opt, &cfg, &opt.sampling) == -1) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (view.verbose == 0)
		view.verbose = cli_verbose;
	view.tty = isatty(STDERR_FILENO);
	/* Patterns from the config come first, then --exclude. */
	for (int i = 0; i < cfg.n_exclude; i++) {
		if (cli_append_arg(&exclude, &n_exclude, cfg.exclude[i]) == -1)
			goto nomem;
	}
	if ((db = cli_db_path(db_opt, &cfg)) == NULL)
		goto out;
	if ((n_models = cli_model_paths(models_opt, n_models_opt, &cfg, db, &models)) < 0)
		goto out;
	if (cli_models_are_demo(models, n_models))
		for (int i = optind; i < argc; i++)
			if (!cli_is_demo_clip(argv[i])) {
				cli_demo_notice();
				break;
			}
	cli_video_log_setup();

	opt.roots = (const char *const *)(argv + optind);
	opt.n_roots = argc - optind;
	opt.models = (const char *const *)models;
	opt.n_models = n_models;
	opt.exclude = (const char *const *)exclude;
	opt.stop = &index_stop;
	opt.progress = index_progress;
	opt.progress_arg = &view;

	atomic_store(&index_stop, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = index_on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_sa);
	r = indexer_run(db, &opt, &st, &cause);
	sigaction(SIGINT, &old_sa, NULL);

	if (r == -1) {
		cli_error_cause(&cause, "indexing failed");
		if (st.files_done > 0)
			index_summary(&st);
		goto out;
	}
	if (view.verbose >= 0 || r == 1)
		index_summary(&st);
	if (r == 1) {
		cli_error("interrupted: %lld of %lld files done; run the same command again to finish",
		    (long long)st.files_done, (long long)st.files_total);
		goto out;
	}
	/* Nothing named could be indexed: a script must not take that for success. */
	if (st.files_total > 0 && st.actions[INDEXER_FAILED] == st.files_total) {
		cli_error("no video could be indexed: %s failed (reasons above)",
		    st.files_total == 1 ? "the one file" : "every file");
		goto out;
	}
	rc = CLI_EXIT_OK;
	goto out;
nomem:
	cli_error("out of memory");
out:
	free(cause);
	free(db);
	free(models_opt);
	free(exclude);
	cli_free_strings(models, n_models);
	cli_config_free(&cfg);
	return rc;
}
