/*
 * cmd-info — `clipgrep info` (what the index holds: videos per status,
 * frames, models, sizes, the search cache files, bad files with their
 * reasons, and a consistency check) and `clipgrep merge OUT.db SHARD.db...` (join shard indexes).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "cachefile.h"
#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "hash.h"
#include "index.h"

static void info_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep info [--db FILE] [--quick] [--json]\n"
	    "Summarise the index: videos per status, frames, models, sizes, the files that\n"
	    "could not be indexed and why, and a consistency check.\n\n"
	    "      --db FILE   the index (default $CLIPGREP_DB, else\n"
	    "                  $XDG_DATA_HOME/clipgrep/index.db)\n"
	    "      --quick     skip the consistency check (SQLite integrity_check and the\n"
	    "                  damaged-record check)\n"
	    "      --json      print one JSON object\n"
	    "  -h, --help      show this help\n");
}

static void info_mb(FILE *out, int64_t bytes)
{
	fprintf(out, "%.1f MB", (double)bytes / 1e6);
}

/*
 * The search cache files beside db (core/cachefile): their paths, sizes,
 * records and whether the index still reads the stamp they were made at,
 * as text lines or a JSON array.
 */
static void info_search_caches(index_db *ix, const char *db, int json)
{
	int64_t stamp = 0;
	int have_stamp = index_change_stamp(ix, &stamp, NULL) == 0, n = 0;
	char **paths = NULL;
	size_t n_paths = 0;

	if (cachefile_list(db, &paths, &n_paths) == -1)
		cli_error("info: out of memory listing the search cache files");
	if (json)
		fputs(",\"search_caches\":[", stdout);
	for (size_t i = 0; i < n_paths; i++) {
		const char *path = paths[i];
		cachefile_key key;
		search_lib_arrays shape;
		struct stat sb;
		char *why = NULL;
		int ok;

		if (stat(path, &sb) != 0)
			continue;
		ok = cachefile_peek(path, &key, &shape, &why) == 0;
		const char *state = !ok ? "unreadable" : have_stamp && key.stamp == stamp ? "current" :
		    "stale";
		if (json) {
			printf("%s{\"path\":", n ? "," : "");
			cli_json_string(stdout, path);
			printf(",\"bytes\":%lld,\"records\":%zu,\"state\":\"%s\"}",
			    (long long)sb.st_size, ok ? shape.n : (size_t)0, state);
		} else {
			fputs(n == 0 ? "search cache: " : "              ", stdout);
			cli_text_escaped(stdout, path);
			printf(" (");
			info_mb(stdout, sb.st_size);
			if (ok)
				printf(", %zu records, %s)\n", shape.n, strcmp(state, "current") == 0 ?
				    "current" : "stale: the next search updates it");
			else
				printf(", %s: the next search rebuilds it)\n", why != NULL ? why : "?");
		}
		free(why);
		n++;
	}
	if (json)
		fputs("]", stdout);
	else if (n == 0)
		printf("search cache: none yet (the next search writes it beside the index)\n");
	cli_free_strings(paths, (int)n_paths);
}

typedef struct {
	int json;
	int64_t shown;
} info_list;

/* The problem files: errors and partial decodes with their reasons. */
static int info_bad_fn(void *arg, const index_video_row *row)
{
	info_list *l = arg;

	if (row->status == INDEX_OK)
		return 0;
	if (l->json) {
		fputs(l->shown ? "," : "", stdout);
		fputs("{\"path\":", stdout);
		cli_json_string(stdout, row->path);
		printf(",\"status\":\"%s\",\"error\":", index_status_name(row->status));
		cli_json_string(stdout, row->error != NULL ? row->error : "");
		fputs("}", stdout);
	} else {
		printf("  %-8s ", index_status_name(row->status));
		cli_text_escaped(stdout, row->path);
		fputs(": ", stdout);
		cli_text_escaped(stdout, row->error != NULL ? row->error : "?");
		putchar('\n');
	}
	l->shown++;
	return 0;
}

/* The videos whose stored record is damaged, one entry per video. */
typedef struct {
	int64_t last_id;
	size_t n, cap;
	char **paths, **reasons; /* [n] */
	int nomem;
} info_damaged;

static int info_damage_fn(void *arg, const index_damage *d)
{
	info_damaged *l = arg;

	if (l->n > 0 && d->video_id == l->last_id)
		return 0; /* another model's row of the same video */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **p = realloc(l->paths, cap * sizeof *p), **r;

		if (p != NULL)
			l->paths = p;
		if (p == NULL || (r = realloc(l->reasons, cap * sizeof *r)) == NULL) {
			l->nomem = 1;
			return 1;
		}
		l->reasons = r;
		l->cap = cap;
	}
	l->paths[l->n] = strdup(d->path);
	l->reasons[l->n] = strdup(d->reason);
	l->last_id = d->video_id;
	l->n++;
	if (l->paths[l->n - 1] == NULL || l->reasons[l->n - 1] == NULL) {
		l->nomem = 1;
		return 1;
	}
	return 0;
}

static void info_damaged_clear(info_damaged *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->paths[i]);
		free(l->reasons[i]);
	}
	free(l->paths);
	free(l->reasons);
	memset(l, 0, sizeof *l);
}

int cmd_info(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cli_config cfg;
	index_stats st;
	index_db *ix = NULL;
	info_list bad = { 0 };
	info_damaged damaged = { 0 };
	char summary[64] = "";
	const char *db_opt = NULL;
	char *db = NULL, *cause = NULL, *check_cause = NULL;
	int c, quick = 0, json = 0, rc = CLI_EXIT_ERROR, check = 0;

	memset(&st, 0, sizeof st);
	if (cli_config_load(&cfg) == -1)
		goto out;
	while ((c = cli_getopt(argc, argv, ":d:qh", options)) != -1) {
		switch (c) {
		case 'd':
			db_opt = optarg;
			break;
		case 'q':
			quick = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			info_usage(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			info_usage(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc) {
		info_usage(stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	bad.json = json;
	if ((db = cli_db_path(db_opt, &cfg)) == NULL || cli_db_exists(db) == -1)
		goto out;
	if ((ix = index_open(db, INDEX_READONLY, &cause)) == NULL ||
	    index_get_stats(ix, &st, &cause) == -1) {
		cli_error_cause(&cause, "cannot read the index");
		goto out;
	}
	if (!quick) {
		check = index_check(ix, &check_cause) == 0 ? 1 : -1;
		if (index_list_damaged(ix, info_damage_fn, &damaged, &cause) == -1 ||
		    damaged.nomem) {
			if (damaged.nomem)
				cli_error("info: out of memory listing the damaged records");
			else
				cli_error_cause(&cause, "cannot check the stored records");
			goto out;
		}
		snprintf(summary, sizeof summary, "%zu damaged record(s)", damaged.n);
	}

	if (json) {
		fputs("{\"db\":", stdout);
		cli_json_string(stdout, db);
		printf(",\"schema\":%d,\"videos\":%lld,\"ok\":%lld,\"partial\":%lld,\"error\":%lld,"
		    "\"frames\":%lld,\"segments\":%lld,\"thumb_bytes\":%lld,\"db_bytes\":%lld,"
		    "\"wal_bytes\":%lld,\"integrity\":", st.schema_version, (long long)st.videos,
		    (long long)st.by_status[INDEX_OK], (long long)st.by_status[INDEX_PARTIAL],
		    (long long)st.by_status[INDEX_ERROR], (long long)st.frames,
		    (long long)st.segments,
		    (long long)st.thumb_bytes, (long long)st.db_bytes, (long long)st.wal_bytes);
		if (check == 0)
			fputs("null", stdout);
		else
			cli_json_string(stdout, check == -1 ? check_cause :
			    damaged.n > 0 ? summary : "ok");
		fputs(",\"damaged\":", stdout);
		if (check == 0)
			fputs("null", stdout);
		else {
			fputs("[", stdout);
			for (size_t i = 0; i < damaged.n; i++) {
				fputs(i ? ",{\"path\":" : "{\"path\":", stdout);
				cli_json_string(stdout, damaged.paths[i]);
				fputs(",\"reason\":", stdout);
				cli_json_string(stdout, damaged.reasons[i]);
				fputs("}", stdout);
			}
			fputs("]", stdout);
		}
		fputs(",\"models\":[", stdout);
		for (int i = 0; i < st.n_models; i++) {
			char hex[2 * HASH_SIZE + 1];
			hash_hex(st.models[i].hash, hex);
			printf("%s{\"id\":%lld,\"hash\":\"%s\",\"name\":", i ? "," : "",
			    (long long)st.models[i].id, hex);
			cli_json_string(stdout, st.models[i].name != NULL ? st.models[i].name : "");
			fputs(",\"architecture\":", stdout);
			cli_json_string(stdout, st.models[i].architecture != NULL ?
			    st.models[i].architecture : "");
			printf(",\"videos\":%lld,\"tensor_bytes\":%lld,\"precision\":\"%s\"}",
			    (long long)st.models[i].videos, (long long)st.models[i].tensor_bytes,
			    st.models[i].precision);
		}
		fputs("]", stdout);
		info_search_caches(ix, db, 1);
		fputs(",\"problems\":[", stdout);
	} else {
		fputs("index:      ", stdout);
		cli_text_escaped(stdout, db);
		printf(" (schema %d)\n", st.schema_version);
		printf("videos:     %lld (%lld ok, %lld partial, %lld error)\n", (long long)st.videos,
		    (long long)st.by_status[INDEX_OK], (long long)st.by_status[INDEX_PARTIAL],
		    (long long)st.by_status[INDEX_ERROR]);
		if (st.segments > st.by_status[INDEX_OK] + st.by_status[INDEX_PARTIAL])
			printf("segments:   %lld (long videos are searched as segments)\n",
			    (long long)st.segments);
		printf("frames:     %lld (thumbnails ", (long long)st.frames);
		info_mb(stdout, st.thumb_bytes);
		printf(")\nsize:       ");
		info_mb(stdout, st.db_bytes);
		if (st.wal_bytes > 0) {
			printf(" + ");
			info_mb(stdout, st.wal_bytes);
			printf(" write-ahead log");
		}
		printf("\nintegrity:  ");
		if (check == 0)
			printf("not checked (--quick: no integrity or damaged-record check)\n");
		else if (check == 1 && damaged.n == 0)
			printf("ok\n");
		else if (check == -1) {
			printf("PROBLEMS: ");
			cli_text_escaped(stdout, check_cause != NULL ? check_cause : "?");
			putchar('\n');
		}
		if (damaged.n > 0) {
			if (check == -1)
				printf("            ");
			printf("%s (run 'clipgrep index' to re-encode):\n", summary);
			for (size_t i = 0; i < damaged.n; i++) {
				printf("  damaged  ");
				cli_text_escaped(stdout, damaged.paths[i]);
				fputs(": ", stdout);
				cli_text_escaped(stdout, damaged.reasons[i]);
				putchar('\n');
			}
		}
		printf("models:     %d\n", st.n_models);
		for (int i = 0; i < st.n_models; i++) {
			char hex[2 * HASH_SIZE + 1], when[32] = "?";
			time_t t = (time_t)(st.models[i].added_at_ns / 1000000000);
			struct tm tm;
			hash_hex(st.models[i].hash, hex);
			if (localtime_r(&t, &tm) != NULL)
				strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
			printf("  #%lld %-6s %.12s  %lld videos, ", (long long)st.models[i].id,
			    st.models[i].architecture != NULL ? st.models[i].architecture : "?", hex,
			    (long long)st.models[i].videos);
			info_mb(stdout, st.models[i].tensor_bytes);
			printf(" %s, added %s  ", st.models[i].precision, when);
			cli_text_escaped(stdout, st.models[i].name != NULL ? st.models[i].name : "");
			putchar('\n');
		}
		info_search_caches(ix, db, 0);
		if (st.by_status[INDEX_PARTIAL] + st.by_status[INDEX_ERROR] > 0)
			printf("problems:\n");
	}
	if (index_list_videos(ix, NULL, info_bad_fn, &bad, &cause) != 0) {
		if (json)
			fputs("]}\n", stdout);
		cli_error_cause(&cause, "cannot list the videos");
		goto out;
	}
	if (json)
		fputs("]}\n", stdout);
	/* Damaged records are integrity problems too, reported the same way. */
	rc = check == -1 || damaged.n > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
	if (check == -1)
		cli_error("%s: the consistency check found problems", cli_name(db));
	if (damaged.n > 0)
		cli_error("%s: %s; run 'clipgrep index' to re-encode them", cli_name(db), summary);
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("info: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	index_stats_clear(&st);
	info_damaged_clear(&damaged);
	index_close(ix);
	free(check_cause);
	free(cause);
	free(db);
	cli_config_free(&cfg);
	return rc;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *cause = NULL;
	index_db *ix;
	index_stats st;
	int c;

	/* No options but --help; anything else starting with '-' is a mistake, not a file. */
	while ((c = cli_getopt(argc, argv, ":h", options)) != -1) {
		if (c != 'h')
			return CLI_EXIT_USAGE;
		printf("Usage: clipgrep merge OUT.db SHARD.db...\n"
		    "Merge shard indexes (from 'clipgrep index --shard I/N') into OUT.db, creating it\n"
		    "if needed.  A file in several shards keeps its newest copy.  Interrupted merges\n"
		    "are simply run again.\n");
		return CLI_EXIT_OK;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3) {
		cli_error("merge: give OUT.db and at least one SHARD.db");
		return CLI_EXIT_USAGE;
	}
	if (index_merge(argv[1], (const char *const *)(argv + 2), argc - 2, &cause) == -1) {
		cli_error_cause(&cause, "merge failed");
		return CLI_EXIT_ERROR;
	}
	if ((ix = index_open(argv[1], INDEX_READONLY, &cause)) == NULL ||
	    index_get_stats(ix, &st, &cause) == -1) {
		cli_error_cause(&cause, "cannot read the merged index");
		index_close(ix);
		return CLI_EXIT_ERROR;
	}
	fprintf(stderr, "clipgrep: merged %d shard%s into ", argc - 2, argc - 2 == 1 ? "" : "s");
	fputs(cli_name(argv[1]), stderr);
	fprintf(stderr, ": %lld videos, %d models\n", (long long)st.videos, st.n_models);
	index_stats_clear(&st);
	index_close(ix);
	return CLI_EXIT_OK;
}
