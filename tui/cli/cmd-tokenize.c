/*
 * cmd-tokenize — `clipgrep tokenize`: show how the CLIP tokenizer splits a
 * query.  Word-frame attention is reported per token position, so users
 * need this view to read it; tests and golden checks use it too.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli-config.h"
#include "cmd.h"
#include "model.h"
#include "tokenizer.h"

/* CLIP's text context when no model says otherwise. */
#define TOKENIZE_DEFAULT_LENGTH 77

typedef struct {
	int length; /* L */
	int json, ids_only, pad;
	int queries;
} tokenize_options;

static void tokenize_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep tokenize [--bpe FILE | --model FILE] [-L N] [--json | --ids] [--pad] [TEXT...]\n"
	    "Print the CLIP token ids of each TEXT (or of each line of standard input),\n"
	    "one query per line: the ids, a tab, then the tokens (\"</w>\" ends a word).\n\n"
	    "  -b, --bpe FILE     BPE merges: bpe_simple_vocab_16e6.txt(.gz)\n"
	    "  -m, --model FILE   use the tokenizer stored in a clipgrep model file\n"
	    "                     (with neither: the CLIP vocabulary installed with\n"
	    "                     clipgrep, " CLIPGREP_PKGDATADIR "/" CLI_BPE_NAME ")\n"
	    "  -L, --length N     context length L: at most L-2 word tokens are kept\n"
	    "                     (default: the model's max_words, else 77)\n"
	    "      --pad          print the zero padding up to L\n"
	    "      --ids          print only the ids\n"
	    "      --json         one JSON object per query\n"
	    "  -h, --help         show this help\n");
}

/* Tokenize and print one query; -1 on error (message already printed). */
static int tokenize_one(tokenizer *tok, const char *text, const tokenize_options *o)
{
	int32_t *ids = calloc((size_t)o->length, sizeof *ids);
	char *cause = NULL;
	int n, total, shown;

	if (ids == NULL) {
		cli_error("out of memory");
		return -1;
	}
	/* The full count tells the user when truncation dropped words. */
	total = tokenizer_encode(tok, text, NULL, 0, &cause);
	n = total < 0 ? -1 : tokenizer_encode_padded(tok, text, o->length, ids, NULL, &cause);
	if (n < 0) {
		cli_error_cause(&cause, "tokenizer failed");
		free(ids);
		return -1;
	}
	if (total > o->length - 2)
		cli_error("query %d: %d word tokens, truncated to %d (L = %d)", o->queries,
		    total, o->length - 2, o->length);
	shown = o->pad ? o->length : n;
	if (o->json) {
		printf("{\"text\":");
		cli_json_string(stdout, text);
		printf(",\"length\":%d,\"truncated\":%s,\"ids\":[", n,
		    total > o->length - 2 ? "true" : "false");
		for (int i = 0; i < shown; i++)
			printf("%s%d", i ? "," : "", ids[i]);
		printf("],\"tokens\":[");
		for (int i = 0; i < shown; i++) {
			if (i)
				putchar(',');
			cli_json_string(stdout, tokenizer_token_text(tok, ids[i]));
		}
		printf("]}\n");
	} else {
		for (int i = 0; i < shown; i++)
			printf("%s%d", i ? " " : "", ids[i]);
		if (!o->ids_only) {
			putchar('\t');
			for (int i = 0; i < shown; i++) {
				if (i)
					putchar(' ');
				cli_text_escaped(stdout, tokenizer_token_text(tok, ids[i]));
			}
		}
		putchar('\n');
	}
	free(ids);
	return 0;
}

int cmd_tokenize(int argc, char **argv)
{
	static const struct option options[] = {
		{ "bpe", required_argument, NULL, 'b' },
		{ "model", required_argument, NULL, 'm' },
		{ "length", required_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "ids", no_argument, NULL, 'i' },
		{ "pad", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	tokenize_options o = { 0 };
	const char *bpe = NULL, *model_file = NULL;
	tokenizer *tok = NULL;
	model *m = NULL;
	char *cause = NULL;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(argc, argv, ":b:m:L:h", options)) != -1) {
		switch (c) {
		case 'b':
			bpe = optarg;
			break;
		case 'm':
			model_file = optarg;
			break;
		case 'L':
			if (cli_parse_int(optarg, 2, 4096, &o.length) == -1) {
				cli_error("tokenize: -L: %s is not a length from 2 to 4096", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'j':
			o.json = 1;
			break;
		case 'i':
			o.ids_only = 1;
			break;
		case 'p':
			o.pad = 1;
			break;
		case 'h':
			tokenize_usage(stdout);
			return CLI_EXIT_OK;
		default:
			tokenize_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (bpe != NULL && model_file != NULL) {
		cli_error("tokenize: give one of --bpe FILE or --model FILE, not both");
		return CLI_EXIT_USAGE;
	}
	/* Neither: the vocabulary bundled with clipgrep, which every CLIP shares. */
	if (bpe == NULL && model_file == NULL && (bpe = cli_bpe_path()) == NULL) {
		cli_error("tokenize: the bundled CLIP vocabulary '%s/%s' is missing; give --bpe FILE "
		    "or --model FILE", CLIPGREP_PKGDATADIR, CLI_BPE_NAME);
		return CLI_EXIT_ERROR;
	}
	if (bpe != NULL) {
		tok = tokenizer_load_file(bpe, &cause);
		if (o.length == 0)
			o.length = TOKENIZE_DEFAULT_LENGTH;
	} else if ((m = model_load(model_file, &cause)) != NULL) {
		tok = model_tokenizer(m, &cause);
		if (o.length == 0)
			o.length = model_get_config(m)->max_words;
	}
	if (tok == NULL) {
		cli_error_cause(&cause, "cannot load the tokenizer");
		model_free(m);
		return CLI_EXIT_ERROR;
	}

	if (optind < argc) {
		for (int i = optind; i < argc && rc == CLI_EXIT_OK; i++) {
			o.queries++;
			if (tokenize_one(tok, argv[i], &o) == -1)
				rc = CLI_EXIT_ERROR;
		}
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while (rc == CLI_EXIT_OK && (len = getline(&line, &cap, stdin)) != -1) {
			if (len > 0 && line[len - 1] == '\n')
				line[len - 1] = '\0';
			o.queries++;
			if (tokenize_one(tok, line, &o) == -1)
				rc = CLI_EXIT_ERROR;
		}
		free(line);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("tokenize: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	if (m != NULL)
		model_free(m); /* owns tok */
	else
		tokenizer_free(tok);
	return rc;
}
