/*
 * cmd-model — `clipgrep model ACTION`: everything about model files.  Only
 * `check` exists so far; list, fetch and import (issue 14) slot into
 * model_actions below.
 *
 * `model check FILE` says what a file is and whether clipgrep can use it:
 * architecture, configuration, dtypes, the tower tensors that are missing
 * or mis-shaped (model_check_all, the check model_load does, run to the
 * end), the heads' own tensors (their loaders, through heads_open), the
 * tensors no loader reads, the tokenizer and the content hash by which an
 * index knows the file.  Exit 0: complete and usable; 2: broken, with the
 * reason model_load gives.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "hash.h"
#include "heads.h"
#include "import.h"
#include "model.h"

/*
 * Tensors real files carry that inference has no use for: reported as
 * ignored, not as unexpected -- the contrastive temperature, Hugging Face's
 * position-id buffers, and TC-MGC's LVA cross-attention, which upstream
 * builds but never calls (MODELS.md §3.2: present, unused).
 */
static const char *const model_ignored[] = {
	"clip.logit_scale", "logit_scale",
	"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids",
};
static const char model_ignored_prefix[] = "conditional_transformer.pool_frames.cross_attn.";

/* Problems with the tower tensors, as model_check_all reports them. */
typedef struct {
	char **names, **whys;
	int n, cap;
} model_missing;

typedef struct {
	const char *path;
	int json;
	model *m;           /* the file, loaded without the tower check */
	heads_set *h;       /* the file with its heads, once the towers are complete */
	model_missing miss;
	char *error;        /* why the file is broken, or NULL */
	char hex[2 * HASH_SIZE + 1];
	int has_hash;
} model_report;

static void model_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep model check FILE [--json]\n"
	    "       clipgrep model import CHECKPOINT [-o OUT.safetensors] [--name NAME]\n"
	    "Inspect a clipgrep model file: architecture, configuration, dtypes, tensor\n"
	    "count, missing and unexpected tensors, the tokenizer and the content hash.\n"
	    "Exit status 0 when the file is complete and usable, 2 when it is broken.\n\n"
	    "      --json     print one JSON object\n"
	    "  -h, --help     show this help\n");
}

static void model_on_missing(void *arg, const char *name, const char *why)
{
	model_missing *mm = arg;

	if (mm->n == mm->cap) {
		int cap = mm->cap ? mm->cap * 2 : 16;
		char **n = realloc(mm->names, (size_t)cap * sizeof *n);
		if (n != NULL)
			mm->names = n;
		char **w = realloc(mm->whys, (size_t)cap * sizeof *w);
		if (w != NULL)
			mm->whys = w;
		if (n == NULL || w == NULL)
			return;
		mm->cap = cap;
	}
	mm->names[mm->n] = strdup(name);
	mm->whys[mm->n] = strdup(why);
	if (mm->names[mm->n] == NULL || mm->whys[mm->n] == NULL) {
		free(mm->names[mm->n]);
		free(mm->whys[mm->n]);
		return;
	}
	mm->n++;
}

static int model_is_ignored(const char *name)
{
	/* A head's own tensor in a multi-head file: "head.<name>.X". */
	if (strncmp(name, "head.", 5) == 0 && strchr(name + 5, '.') != NULL)
		name = strchr(name + 5, '.') + 1;
	if (strncmp(name, model_ignored_prefix, sizeof model_ignored_prefix - 1) == 0)
		return 1;
	for (size_t i = 0; i < sizeof model_ignored / sizeof model_ignored[0]; i++)
		if (strcmp(name, model_ignored[i]) == 0)
			return 1;
	return 0;
}

/* The model whose tensors the report lists: with its heads when loaded. */
static model *model_report_model(model_report *r)
{
	return r->h != NULL ? heads_file_at(r->h, 0)->m : r->m;
}

/*
 * Load r->path as far as it goes: the file and its configuration, every
 * tower tensor, then the heads.  r->error is set at the first stage that
 * fails; the stages before it fill the report.
 */
static void model_check_file(model_report *r)
{
	char *cause = NULL;
	uint8_t hash[HASH_SIZE];

	if ((r->m = model_load_flags(r->path, MODEL_LOAD_NO_TOWERS, &cause)) == NULL) {
		r->error = cause;
		return;
	}
	if (model_check_all(r->m, model_on_missing, &r->miss) > 0) {
		r->error = strdup(r->miss.n > 0 ? r->miss.whys[0] : "a tower tensor is missing");
		if (hash_file(r->path, hash, NULL, &cause) == 0) {
			hash_hex(hash, r->hex);
			r->has_hash = 1;
		}
		free(cause);
		return;
	}
	if ((r->h = heads_open(&r->path, 1, HEADS_FOR_INDEX, &cause)) == NULL) {
		r->error = cause;
		return;
	}
	memcpy(r->hex, heads_file_at(r->h, 0)->hex, sizeof r->hex);
	r->has_hash = 1;
	/* A multi-head file: the file's hash, not its first head's identity. */
	if (heads_file_at(r->h, 0)->head != NULL) {
		if (hash_file(r->path, hash, NULL, &cause) == -1) {
			r->error = cause;
			return;
		}
		hash_hex(hash, r->hex);
	}
	/* A stored tokenizer must parse; a file without one still encodes video. */
	if (model_meta(r->m, "clipgrep.tokenizer.merges") != NULL &&
	    model_tokenizer(model_report_model(r), &cause) == NULL)
		r->error = cause;
}

/*
 * File tensor i and whether any loader read it: in a multi-head file each
 * head is its own view of the file (core/model.h), so a tensor is used when
 * one of the views read it.
 */
static const char *model_report_tensor(model_report *r, size_t i, int *used)
{
	const char *name = model_file_tensor(model_report_model(r), i, NULL, used);

	for (int k = 1; r->h != NULL && k < heads_count(r->h) && !*used; k++)
		model_file_tensor(heads_file_at(r->h, k)->m, i, NULL, used);
	return name;
}

static const char *model_heads_text(const char *arch)
{
	if (strcmp(arch, "clip") == 0)
		return "TC-MGC and EA, training-free";
	if (strcmp(arch, "tcmgc") == 0)
		return "TC-MGC";
	return "EA";
}

static void model_print_text(model_report *r)
{
	model *m = model_report_model(r);
	const model_config *c = model_get_config(m);
	size_t n = model_file_count(m);
	const char *dtypes[8];
	int counts[8], nd = 0, unexpected = 0, ignored = 0;

	printf("file           %s\n", cli_name(r->path));
	if (r->h != NULL && heads_file_at(r->h, 0)->head != NULL) {
		printf("heads          %d in one file:", heads_count(r->h));
		for (int k = 0; k < heads_count(r->h); k++) {
			heads_file *f = heads_file_at(r->h, k);
			printf("%s %s (%s)", k ? "," : "", f->head,
			    model_heads_text(model_get_config(f->m)->architecture));
		}
		printf("\n");
	} else {
		printf("architecture   %s (heads: %s)\n", c->architecture,
		    model_heads_text(c->architecture));
	}
	printf("vision         width %d, %d layers, %d heads, patch %d, image %d\n", c->vision_width,
	    c->vision_layers, c->vision_heads, c->vision_patch, c->image_size);
	printf("text           width %d, %d layers, %d heads, context %d, vocabulary %d\n",
	    c->text_width, c->text_layers, c->text_heads, c->context_length, c->vocab_size);
	printf("embedding      %d\n", c->embed_dim);
	printf("frames F       %d\n", c->frames);
	printf("words L        %d\n", c->max_words);
	for (size_t i = 0; i < n; i++) {
		const char *dt;
		int k;
		model_file_tensor(m, i, &dt, NULL);
		for (k = 0; k < nd && strcmp(dtypes[k], dt) != 0; k++)
			;
		if (k == nd && nd < 8) {
			dtypes[nd] = dt;
			counts[nd++] = 0;
		}
		if (k < nd)
			counts[k]++;
	}
	printf("tensors        %zu (", n);
	for (int k = 0; k < nd; k++)
		printf("%s%s %d", k ? ", " : "", dtypes[k], counts[k]);
	printf(")\n");
	printf("missing        %d\n", r->miss.n);
	for (int i = 0; i < r->miss.n; i++)
		printf("  %s: %s\n", r->miss.names[i], r->miss.whys[i]);
	/* Which tensors no loader reads is known only once every loader ran. */
	if (r->h != NULL) {
		for (size_t i = 0; i < n; i++) {
			int used;
			const char *name = model_report_tensor(r, i, &used);
			if (!used && model_is_ignored(name))
				ignored++;
			else if (!used)
				unexpected++;
		}
		printf("unexpected     %d\n", unexpected);
		for (size_t i = 0; i < n; i++) {
			int used;
			const char *name = model_report_tensor(r, i, &used);
			if (!used && !model_is_ignored(name))
				printf("  %s\n", cli_name(name));
		}
		if (ignored > 0)
			printf("ignored        %d (kept by upstream, unused at search)\n", ignored);
	}
	printf("tokenizer      %s\n", model_meta(m, "clipgrep.tokenizer.merges") != NULL ?
	    "stored (clipgrep.tokenizer.merges)" : "none: text queries need a model that has one");
	if (r->has_hash)
		printf("hash           %s\n", r->hex);
	printf("status         %s\n", r->error == NULL ? "ok" : "broken");
}

static void model_print_json(model_report *r)
{
	model *m = r->m != NULL ? model_report_model(r) : NULL;

	printf("{\"file\":");
	cli_json_string(stdout, r->path);
	printf(",\"ok\":%s", r->error == NULL ? "true" : "false");
	if (r->error != NULL) {
		printf(",\"error\":");
		cli_json_string(stdout, r->error);
	}
	if (m != NULL) {
		const model_config *c = model_get_config(m);
		size_t n = model_file_count(m);
		int first = 1;

		printf(",\"architecture\":");
		cli_json_string(stdout, c->architecture);
		if (r->h != NULL && heads_file_at(r->h, 0)->head != NULL) {
			/* A multi-head file: architecture is its first head's; each head here. */
			printf(",\"heads\":[");
			for (int k = 0; k < heads_count(r->h); k++) {
				heads_file *f = heads_file_at(r->h, k);
				printf("%s{\"name\":", k ? "," : "");
				cli_json_string(stdout, f->head);
				printf(",\"architecture\":");
				cli_json_string(stdout, model_get_config(f->m)->architecture);
				printf(",\"hash\":\"%s\"}", f->hex);
			}
			printf("]");
		}
		printf(",\"config\":{\"vision_width\":%d,\"vision_layers\":%d,\"vision_heads\":%d,"
		    "\"vision_patch\":%d,\"image_size\":%d,\"text_width\":%d,\"text_layers\":%d,"
		    "\"text_heads\":%d,\"context_length\":%d,\"vocab_size\":%d,\"embed_dim\":%d,"
		    "\"frames\":%d,\"max_words\":%d}",
		    c->vision_width, c->vision_layers, c->vision_heads, c->vision_patch, c->image_size,
		    c->text_width, c->text_layers, c->text_heads, c->context_length, c->vocab_size,
		    c->embed_dim, c->frames, c->max_words);
		printf(",\"tensors\":%zu,\"dtypes\":{", n);
		for (size_t i = 0; i < n; i++) {
			const char *dt, *seen;
			int count = 0, earlier = 0;
			model_file_tensor(m, i, &dt, NULL);
			for (size_t k = 0; k < i && !earlier; k++) {
				model_file_tensor(m, k, &seen, NULL);
				earlier = strcmp(seen, dt) == 0;
			}
			if (earlier)
				continue;
			for (size_t k = i; k < n; k++) {
				model_file_tensor(m, k, &seen, NULL);
				count += strcmp(seen, dt) == 0;
			}
			printf("%s\"%s\":%d", first ? "" : ",", dt, count);
			first = 0;
		}
		printf("},\"missing\":[");
		for (int i = 0; i < r->miss.n; i++) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(stdout, r->miss.names[i]);
			printf(",\"why\":");
			cli_json_string(stdout, r->miss.whys[i]);
			printf("}");
		}
		printf("]");
		if (r->h != NULL) {
			for (int pass = 0; pass < 2; pass++) {
				printf(pass == 0 ? ",\"unexpected\":[" : ",\"ignored\":[");
				first = 1;
				for (size_t i = 0; i < n; i++) {
					int used;
					const char *name = model_report_tensor(r, i, &used);
					if (used || model_is_ignored(name) != pass)
						continue;
					printf("%s", first ? "" : ",");
					cli_json_string(stdout, name);
					first = 0;
				}
				printf("]");
			}
		}
		printf(",\"tokenizer\":%s",
		    model_meta(m, "clipgrep.tokenizer.merges") != NULL ? "true" : "false");
	}
	if (r->has_hash)
		printf(",\"hash\":\"%s\"", r->hex);
	printf("}\n");
}

static int model_check(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	model_report r = { 0 };
	int c, rc;

	while ((c = cli_getopt(argc, argv, ":h", options)) != -1) {
		switch (c) {
		case 'j':
			r.json = 1;
			break;
		case 'h':
			model_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_option_error("model check", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("model check: give one model FILE");
		return CLI_EXIT_USAGE;
	}
	r.path = argv[optind];
	model_check_file(&r);
	if (r.json)
		model_print_json(&r);
	else if (r.m != NULL)
		model_print_text(&r);
	rc = r.error == NULL ? CLI_EXIT_OK : CLI_EXIT_ERROR;
	if (r.error != NULL)
		cli_error_cause(&r.error, "model check: the file is broken");
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_error("model check: cannot write the output");
		rc = CLI_EXIT_ERROR;
	}
	for (int i = 0; i < r.miss.n; i++) {
		free(r.miss.names[i]);
		free(r.miss.whys[i]);
	}
	free(r.miss.names);
	free(r.miss.whys);
	free(r.error);
	heads_free(r.h);
	model_free(r.m);
	return rc;
}

/*
 * `model import FILE [-o OUT] [--name NAME]`: a torch.save checkpoint (an
 * upstream TC-MGC or EA-CLIP4Clip pytorch_model_best.bin, or any CLIP
 * state dict) to a clipgrep model file, the bundled BPE as its tokenizer --
 * the file tools/convert/convert.py writes, byte for byte.
 */
static int model_import(int argc, char **argv)
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *name = NULL, *arch = NULL, *bpe;
	char *cause = NULL, *dflt = NULL;
	int c, count = 0;

	while ((c = cli_getopt(argc, argv, ":o:h", options)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			model_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_option_error("model import", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("model import: give one checkpoint FILE");
		return CLI_EXIT_USAGE;
	}
	if (out == NULL) {
		/* FILE.safetensors beside it, its extension replaced */
		const char *in = argv[optind], *dot = strrchr(in, '.'), *slash = strrchr(in, '/');
		size_t n = dot != NULL && (slash == NULL || dot > slash) ? (size_t)(dot - in) : strlen(in);
		if ((dflt = malloc(n + sizeof ".safetensors")) == NULL) {
			cli_error("model import: out of memory");
			return CLI_EXIT_ERROR;
		}
		memcpy(dflt, in, n);
		strcpy(dflt + n, ".safetensors");
		out = dflt;
	}
	if ((bpe = cli_bpe_path()) == NULL) {
		cli_error("model import: the bundled BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) is missing");
		free(dflt);
		return CLI_EXIT_ERROR;
	}
	if (import_torch(argv[optind], out, bpe, name, &arch, &count, &cause) < 0) {
		cli_error_cause(&cause, "model import: failed");
		free(dflt);
		return CLI_EXIT_ERROR;
	}
	fprintf(stderr, "clipgrep: model import: %s: %d tensors, architecture %s\n", out, count, arch);
	free(dflt);
	return CLI_EXIT_OK;
}

/* The actions of `clipgrep model`; list and fetch join here. */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} model_actions[] = {
	{ "check", model_check },
	{ "import", model_import },
};

int cmd_model(int argc, char **argv)
{
	if (argc < 2) {
		model_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		model_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof model_actions / sizeof model_actions[0]; i++)
		if (strcmp(argv[1], model_actions[i].name) == 0)
			return model_actions[i].run(argc - 1, argv + 1);
	cli_error("model: unknown action %s (try: clipgrep model check FILE)", cli_name(argv[1]));
	return CLI_EXIT_USAGE;
}
