/*
 * bench-eval — `clipgrep bench eval`: text-to-video retrieval quality of
 * every search mode on a labelled test set, computed by the engine (what
 * `make eval` reports; tools/train/eval_c.sh prepares the inputs).
 *
 *   clipgrep bench eval --db DB --model FILE... --queries TSV [--pairs TSV]
 *                       [--modes LIST] [--bootstrap B] [--seed S] [--json OUT]
 *
 * queries.tsv: "id <TAB> path <TAB> caption" per line; the caption is the
 * query, and the video whose file name (without its extension) is id is
 * its answer.  Every video of the index is ranked for every query
 * (metrics.h: rank = 1 + videos scored strictly higher), per mode.
 * pairs.tsv: "kind <TAB> query_id <TAB> right_id <TAB> wrong_id": with
 * query_id's caption, does right_id score above wrong_id (a tie counts
 * half)?  The synthetic test set's hard negatives: a clip and its copy
 * with one thing changed (the direction of a motion, the order of two
 * events, a colour, a count, a size, a shape, a texture), both ways.
 *
 * Prints, per mode, R@1/5/10, MdR and MnR with 95 % bootstrap intervals
 * over the queries, and each kind's pairwise accuracy with its interval
 * over the pairs (core/metrics: fixed seed, so reruns agree bit for bit).
 * --json writes the same and every query's rank, for comparison with the
 * PyTorch reference (tools/train/eval_ref.py).  Not part of a plain
 * `clipgrep bench`: it needs a test set.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "engine.h"
#include "metrics.h"
#include "tensor.h"
#include "util.h"

#define BE_KINDS_MAX 16

typedef struct {
	char *id, *caption;
} be_query;

typedef struct {
	int kind;       /* index into be_state.kinds */
	int q, right, wrong; /* query index, and the answer columns (query indices) */
} be_pair;

typedef struct {
	be_query *q;
	size_t nq;
	be_pair *p;
	size_t np;
	char *kinds[BE_KINDS_MAX];
	int nkinds;
} be_state;

static void be_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep bench eval --db DB --model FILE... --queries TSV [--pairs TSV]\n"
	    "           [--modes LIST] [--bootstrap B] [--seed S] [--json OUT]\n"
	    "Retrieval quality of every search mode on a labelled test set (make eval).\n"
	    "  --queries TSV   id<TAB>path<TAB>caption: the caption finds the video named id\n"
	    "  --pairs TSV     kind<TAB>query<TAB>right<TAB>wrong: hard-negative pairs\n"
	    "  --modes LIST    comma-separated modes (default: every mode of the models)\n"
	    "  --bootstrap B   resamples for the 95 %% intervals (default 1000; 0: none)\n"
	    "  --seed S        the resampling seed (default 15)\n"
	    "  --json OUT      also write the results and every rank as JSON\n");
}

/* Split a TSV line in place into at most n fields; returns the count. */
static int be_fields(char *line, char **f, int n)
{
	int k = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (k < n) {
		f[k++] = line;
		if ((line = strchr(line, '\t')) == NULL)
			break;
		*line++ = '\0';
	}
	return k;
}

static int be_find(const be_state *s, const char *id)
{
	for (size_t i = 0; i < s->nq; i++)
		if (strcmp(s->q[i].id, id) == 0)
			return (int)i;
	return -1;
}

static int be_read_queries(be_state *s, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192], *fld[3];
	size_t cap = 0;

	if (f == NULL) {
		cli_error("bench eval: %s: cannot open", cli_name(path));
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (be_fields(line, fld, 3) != 3)
			continue;
		if (s->nq == cap) {
			be_query *g = realloc(s->q, (cap = cap ? 2 * cap : 256) * sizeof *g);
			if (g == NULL)
				goto nomem;
			s->q = g;
		}
		s->q[s->nq].id = util_strdup(fld[0]);
		s->q[s->nq].caption = util_strdup(fld[2]);
		if (s->q[s->nq].id == NULL || s->q[s->nq].caption == NULL)
			goto nomem;
		s->nq++;
	}
	fclose(f);
	if (s->nq == 0) {
		cli_error("bench eval: %s: no query lines (id<TAB>path<TAB>caption)", cli_name(path));
		return -1;
	}
	return 0;
nomem:
	fclose(f);
	cli_error("bench eval: out of memory");
	return -1;
}

static int be_read_pairs(be_state *s, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], *fld[4];
	size_t cap = 0;

	if (f == NULL) {
		cli_error("bench eval: %s: cannot open", cli_name(path));
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		be_pair p;
		int k;

		if (be_fields(line, fld, 4) != 4)
			continue;
		p.q = be_find(s, fld[1]);
		p.right = be_find(s, fld[2]);
		p.wrong = be_find(s, fld[3]);
		if (p.q < 0 || p.right < 0 || p.wrong < 0)
			continue; /* a pair outside the queries (--limit) */
		for (k = 0; k < s->nkinds && strcmp(s->kinds[k], fld[0]) != 0; k++)
			;
		if (k == s->nkinds) {
			if (k == BE_KINDS_MAX || (s->kinds[k] = util_strdup(fld[0])) == NULL) {
				fclose(f);
				cli_error("bench eval: %s: more than %d kinds, or out of memory",
				    cli_name(path), BE_KINDS_MAX);
				return -1;
			}
			s->nkinds++;
		}
		p.kind = k;
		if (s->np == cap) {
			be_pair *g = realloc(s->p, (cap = cap ? 2 * cap : 256) * sizeof *g);
			if (g == NULL) {
				fclose(f);
				cli_error("bench eval: out of memory");
				return -1;
			}
			s->p = g;
		}
		s->p[s->np++] = p;
	}
	fclose(f);
	return 0;
}

/* The file name of path without folder and extension, into buf. */
static const char *be_stem(const char *path, char *buf, size_t size)
{
	const char *b = strrchr(path, '/'), *dot;
	size_t n;

	b = b != NULL ? b + 1 : path;
	dot = strrchr(b, '.');
	n = dot != NULL ? (size_t)(dot - b) : strlen(b);
	if (n >= size)
		n = size - 1;
	memcpy(buf, b, n);
	buf[n] = '\0';
	return buf;
}

/*
 * One mode: scores[q, v] of every query against every query's video (NAN
 * where the index lacks the video), then the ranks.
 */
static int be_run_mode(engine *e, be_state *s, search_model mode, float *scores, int *ranks)
{
	char *cause = NULL, stem[256];
	size_t n = s->nq, got, cap = n + 1024;
	int64_t *ids = malloc(cap * sizeof *ids);
	float *row = malloc(cap * sizeof *row);
	int *col = NULL; /* [got] the query index of each library video, or -1 */
	int rc = -1;

	if (ids == NULL || row == NULL) {
		cli_error("bench eval: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n * n; i++)
		scores[i] = NAN;
	for (size_t q = 0; q < n; q++) {
		float *dst = scores + q * n;
		int rank = 1;

		if (engine_score_all(e, s->q[q].caption, mode, ids, row, cap, &got, &cause) == -1) {
			util_prefix_cause(&cause, "query %s", s->q[q].id);
			cli_error_cause(&cause, "bench eval");
			goto out;
		}
		if (col == NULL) {
			/* The library's order does not change between queries: map it once. */
			if ((col = malloc((got > 0 ? got : 1) * sizeof *col)) == NULL) {
				cli_error("bench eval: out of memory");
				goto out;
			}
			for (size_t v = 0; v < got; v++) {
				const char *p = engine_video_path(e, ids[v]);
				col[v] = p != NULL ? be_find(s, be_stem(p, stem, sizeof stem)) : -1;
			}
		}
		for (size_t v = 0; v < got; v++)
			if (col[v] >= 0)
				dst[col[v]] = row[v];
		if (isnan(dst[q])) {
			rank = (int)n + 1; /* not in the index: ranked last */
		} else {
			for (size_t v = 0; v < got; v++)
				rank += row[v] > dst[q];
		}
		ranks[q] = rank;
	}
	rc = 0;
out:
	free(ids);
	free(row);
	free(col);
	return rc;
}

static void be_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int bench_eval(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "queries", required_argument, NULL, 'q' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "modes", required_argument, NULL, 'M' },
		{ "bootstrap", required_argument, NULL, 'B' },
		{ "seed", required_argument, NULL, 's' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *queries = NULL, *pairs = NULL, *modes = NULL, *json = NULL;
	char **models = NULL, *cause = NULL;
	int n_models = 0, B = 1000, seed = 15, c, rc = CLI_EXIT_ERROR, n_modes = 0;
	search_model mode_list[64];
	be_state s = { 0 };
	engine_options eo;
	engine *e = NULL;
	float *scores = NULL;
	int *ranks = NULL;
	double *won = NULL;
	FILE *jf = NULL;

	optind = 1;
	while ((c = cli_getopt(argc, argv, ":d:m:h", options)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'm':
			if (cli_append_arg(&models, &n_models, optarg) == -1) {
				cli_error("out of memory");
				return CLI_EXIT_ERROR;
			}
			break;
		case 'q': queries = optarg; break;
		case 'p': pairs = optarg; break;
		case 'M': modes = optarg; break;
		case 'j': json = optarg; break;
		case 'B':
			if (cli_parse_int(optarg, 0, 1000000, &B) == -1) {
				cli_error("bench eval: --bootstrap: %s is not 0..1000000", cli_name(optarg));
				goto usage;
			}
			break;
		case 's':
			if (cli_parse_int(optarg, 0, 2147483647, &seed) == -1) {
				cli_error("bench eval: --seed: %s is not a non-negative integer",
				    cli_name(optarg));
				goto usage;
			}
			break;
		case 'h':
			be_usage(stdout);
			free(models);
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (db == NULL || n_models == 0 || queries == NULL) {
		cli_error("bench eval: give --db, --model and --queries");
		goto usage;
	}
	if (be_read_queries(&s, queries) == -1 || (pairs != NULL && be_read_pairs(&s, pairs) == -1))
		goto out;
	engine_options_init(&eo);
	eo.db_path = db;
	eo.model_paths = (const char *const *)models;
	eo.n_models = n_models;
	if ((e = engine_open(&eo, &cause)) == NULL) {
		cli_error_cause(&cause, "bench eval: cannot open the index");
		goto out;
	}
	tensor_set_threads(1);
	if (modes != NULL) {
		char *copy = util_strdup(modes), *tok, *save = NULL;
		for (tok = copy != NULL ? strtok_r(copy, ",", &save) : NULL; tok != NULL && n_modes < 64;
		    tok = strtok_r(NULL, ",", &save)) {
			if (engine_mode_find(e, tok, &mode_list[n_modes]) == -1 ||
			    !engine_has_mode(e, mode_list[n_modes])) {
				cli_error("bench eval: --modes: the models have no mode %s", cli_name(tok));
				free(copy);
				goto out;
			}
			n_modes++;
		}
		free(copy);
	} else {
		for (int m = 0; m < engine_mode_count(e) && n_modes < 64; m++)
			if (engine_has_mode(e, (search_model)m))
				mode_list[n_modes++] = (search_model)m;
	}
	scores = malloc(s.nq * s.nq * sizeof *scores);
	ranks = malloc(s.nq * sizeof *ranks);
	won = malloc((s.np > 0 ? s.np : 1) * sizeof *won);
	if (scores == NULL || ranks == NULL || won == NULL) {
		cli_error("bench eval: out of memory (%zu queries)", s.nq);
		goto out;
	}
	if (json != NULL && (jf = fopen(json, "w")) == NULL) {
		cli_error("bench eval: %s: cannot write", cli_name(json));
		goto out;
	}
	printf("Text-to-video retrieval, %zu queries, C engine; 95 %% bootstrap intervals "
	    "(%d resamples, seed %d) in brackets\n\n", s.nq, B, seed);
	printf("| mode | R@1 | R@5 | R@10 | MdR | MnR |\n|---|---|---|---|---|---|\n");
	if (jf != NULL) {
		fprintf(jf, "{\"queries\":[");
		for (size_t q = 0; q < s.nq; q++) {
			fputs(q ? "," : "", jf);
			be_json_string(jf, s.q[q].id);
		}
		fprintf(jf, "],\"bootstrap\":%d,\"seed\":%d,\"modes\":{", B, seed);
	}
	{
		/* The per-kind accuracies print after the table: keep them. */
		double acc[64][BE_KINDS_MAX][3];
		size_t cnt[BE_KINDS_MAX];

		for (int mi = 0; mi < n_modes; mi++) {
			search_model m = mode_list[mi];
			const char *name = engine_mode_label(e, m);
			metrics_table t;

			if (be_run_mode(e, &s, m, scores, ranks) == -1 ||
			    metrics_compute(ranks, s.nq, B, (uint64_t)seed, &t, &cause) == -1) {
				if (cause != NULL)
					cli_error_cause(&cause, "bench eval");
				goto out;
			}
			printf("| %s |", name);
			for (int k = 0; k < METRICS_N; k++)
				printf(" %.1f [%.1f, %.1f] |", t.value[k], t.lo[k], t.hi[k]);
			printf("\n");
			for (int k = 0; k < s.nkinds; k++) {
				size_t n = 0;
				for (size_t i = 0; i < s.np; i++) {
					const be_pair *p = &s.p[i];
					float a = scores[(size_t)p->q * s.nq + (size_t)p->right];
					float b = scores[(size_t)p->q * s.nq + (size_t)p->wrong];
					if (p->kind != k || isnan(a) || isnan(b))
						continue;
					won[n++] = a > b ? 1.0 : a == b ? 0.5 : 0.0;
				}
				cnt[k] = n;
				acc[mi][k][0] = acc[mi][k][1] = acc[mi][k][2] = NAN;
				if (n > 0 && metrics_accuracy(won, n, B, (uint64_t)seed, &acc[mi][k][0],
				    &acc[mi][k][1], &acc[mi][k][2], &cause) == -1) {
					cli_error_cause(&cause, "bench eval");
					goto out;
				}
			}
			if (jf != NULL) {
				fputs(mi ? "," : "", jf);
				be_json_string(jf, name);
				fprintf(jf, ":{\"metrics\":{");
				for (int k = 0; k < METRICS_N; k++)
					fprintf(jf, "%s\"%s\":%.6f", k ? "," : "", metrics_name(k), t.value[k]);
				fprintf(jf, "},\"ci\":{");
				for (int k = 0; k < METRICS_N; k++)
					fprintf(jf, "%s\"%s\":[%.6f,%.6f]", k ? "," : "", metrics_name(k),
					    t.lo[k], t.hi[k]);
				fprintf(jf, "},\"pairs\":{");
				for (int k = 0; k < s.nkinds; k++) {
					fputs(k ? "," : "", jf);
					be_json_string(jf, s.kinds[k]);
					if (cnt[k] == 0)
						fprintf(jf, ":{\"n\":0}");
					else
						fprintf(jf, ":{\"n\":%zu,\"accuracy\":%.6f,\"ci\":[%.6f,%.6f]}",
						    cnt[k], acc[mi][k][0], acc[mi][k][1], acc[mi][k][2]);
				}
				fprintf(jf, "},\"ranks\":[");
				for (size_t q = 0; q < s.nq; q++)
					fprintf(jf, "%s%d", q ? "," : "", ranks[q]);
				fprintf(jf, "]}");
			}
		}
		if (s.nkinds > 0) {
			printf("\nHard negatives: how often the query's own clip scores above its copy with "
			    "one change (%%, 95 %% interval; pairs per kind)\n\n| mode |");
			for (int k = 0; k < s.nkinds; k++)
				printf(" %s (%zu) |", s.kinds[k], cnt[k]);
			printf("\n|---|");
			for (int k = 0; k < s.nkinds; k++)
				printf("---|");
			printf("\n");
			for (int mi = 0; mi < n_modes; mi++) {
				printf("| %s |", engine_mode_label(e, mode_list[mi]));
				for (int k = 0; k < s.nkinds; k++)
					printf(" %.1f [%.1f, %.1f] |", acc[mi][k][0], acc[mi][k][1],
					    acc[mi][k][2]);
				printf("\n");
			}
		}
	}
	if (jf != NULL)
		fprintf(jf, "}}\n");
	rc = CLI_EXIT_OK;
	goto out;
usage:
	be_usage(stderr);
	rc = CLI_EXIT_USAGE;
out:
	if (jf != NULL && fclose(jf) != 0 && rc == CLI_EXIT_OK) {
		cli_error("bench eval: %s: write failed", cli_name(json));
		rc = CLI_EXIT_ERROR;
	}
	engine_close(e);
	for (size_t i = 0; i < s.nq; i++) {
		free(s.q[i].id);
		free(s.q[i].caption);
	}
	for (int k = 0; k < s.nkinds; k++)
		free(s.kinds[k]);
	free(s.q);
	free(s.p);
	free(scores);
	free(ranks);
	free(won);
	free(models);
	return rc;
}
