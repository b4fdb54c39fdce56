/*
 * cmd-model — `clipgrep model ACTION`: everything about model files: list
 * (installed, bundled, default, downloadable), fetch (download, check,
 * import, optionally make it the default), import (checkpoints to model
 * files, core/import.c) and check.
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

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-config.h"
#include "cli.h"
#include "cmd.h"
#include "hash.h"
#include "heads.h"
#include "fetch.h"
#include "import.h"
#include "model.h"
#include "safetensors.h"
#include "util.h"

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
	    "Usage: clipgrep model list\n"
	    "       clipgrep model fetch NAME [--default] [--url BASE]\n"
	    "       clipgrep model fetch URL --sha256 HEX [--name NAME] [--default]\n"
	    "       clipgrep model check FILE [--json]\n"
	    "       clipgrep model import CHECKPOINT [-o OUT.safetensors] [--name NAME]\n"
	    "                             [--vocab vocab.json] [--merges merges.txt]\n"
	    "list: the installed models ($XDG_DATA_HOME/clipgrep/models), the bundled demo,\n"
	    "the default and the models fetch knows, with their sizes and SHA-256.\n"
	    "fetch: download a known model (vit-b-32: OpenAI's CLIP ViT-B/32), resuming an\n"
	    "interrupted download, check its pinned SHA-256, import it into the models\n"
	    "folder; --default makes it the config's model.  CLIPGREP_MODEL_URL or --url\n"
	    "replaces the server (a mirror).\n"
	    "check: inspect a clipgrep model file: architecture, configuration, dtypes,\n"
	    "tensor count, missing and unexpected tensors, the tokenizer and the content\n"
	    "hash.  Exit status 0 when the file is complete and usable, 2 when it is broken.\n"
	    "import: convert, without Python, a PyTorch checkpoint (torch.save: upstream\n"
	    "TC-MGC or EA-CLIP4Clip pytorch_model_best.bin, CLIP state dicts), OpenAI's\n"
	    "TorchScript ViT-B-32.pt, or Hugging Face CLIP (model.safetensors, or its\n"
	    "folder; vocab.json and merges.txt are taken from beside it) into a clipgrep\n"
	    "model file with its tokenizer; the same bytes tools/convert/convert.py writes.\n\n"
	    "      --json            (check) print one JSON object\n"
	    "  -o, --output FILE     (import) where to write (default: beside the input,\n"
	    "                        CHECKPOINT.safetensors or NAME.clipgrep.safetensors)\n"
	    "      --name NAME       (import) the model's name (clipgrep.name)\n"
	    "      --vocab FILE      (import) Hugging Face vocab.json, checked against the merges\n"
	    "      --merges FILE     (import) Hugging Face merges.txt (default: beside the\n"
	    "                        checkpoint, else the bundled CLIP BPE)\n"
	    "      --default         (fetch) make it the default model (the config's model line)\n"
	    "      --url BASE        (fetch) download from BASE/FILE instead\n"
	    "      --sha256 HEX      (fetch URL) the SHA-256 the file must have\n"
	    "  -h, --help            show this help\n");
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
 * The default output of `model import IN`: IN.safetensors beside it, its
 * extension replaced -- for a folder (a Hugging Face download) FOLDER.safetensors,
 * and for a safetensors input IN.clipgrep.safetensors, never the input itself.
 */
static int model_is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *model_import_default_out(const char *in)
{
	size_t n = strlen(in);
	const char *dot, *slash, *ext = ".safetensors";
	char *out;

	while (n > 1 && in[n - 1] == '/')
		n--;
	dot = slash = NULL;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '.')
			dot = in + i;
		else if (in[i] == '/')
			slash = in + i;
	}
	if (model_is_dir(in))
		dot = NULL;
	else if (dot != NULL && (slash == NULL || dot > slash) && n - (size_t)(dot - in) == 12 &&
	    memcmp(dot, ".safetensors", 12) == 0)
		ext = ".clipgrep.safetensors";
	if (dot != NULL && (slash == NULL || dot > slash))
		n = (size_t)(dot - in);
	if ((out = malloc(n + strlen(ext) + 1)) == NULL)
		return NULL;
	memcpy(out, in, n);
	strcpy(out + n, ext);
	return out;
}

/*
 * `model import CHECKPOINT [--vocab FILE] [--merges FILE] [-o OUT] [--name NAME]`:
 * a torch.save checkpoint (an upstream TC-MGC or EA-CLIP4Clip
 * pytorch_model_best.bin, or any CLIP state dict), OpenAI's TorchScript
 * ViT-B-32.pt, or a Hugging Face CLIP model.safetensors (or its folder)
 * with vocab.json and merges.txt, to a clipgrep model file -- the file
 * tools/convert/convert.py writes, byte for byte.
 */
static int model_import(int argc, char **argv)
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "vocab", required_argument, NULL, 'V' },
		{ "merges", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	import_options o = { NULL, NULL, NULL, NULL, NULL };
	const char *out = NULL, *arch = NULL;
	char *cause = NULL, *dflt = NULL;
	int c, count = 0;

	while ((c = cli_getopt(argc, argv, ":o:h", options)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'V':
			o.vocab = optarg;
			break;
		case 'M':
			o.merges = optarg;
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
		cli_error("model import: give one checkpoint FILE or folder");
		return CLI_EXIT_USAGE;
	}
	o.checkpoint = argv[optind];
	if (out == NULL && (out = dflt = model_import_default_out(o.checkpoint)) == NULL) {
		cli_error("model import: out of memory");
		return CLI_EXIT_ERROR;
	}
	if ((o.bpe = cli_bpe_path()) == NULL) {
		cli_error("model import: the bundled BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) is missing");
		free(dflt);
		return CLI_EXIT_ERROR;
	}
	if (import_model(&o, out, &arch, &count, &cause) < 0) {
		cli_error_cause(&cause, "model import: failed");
		free(dflt);
		return CLI_EXIT_ERROR;
	}
	fprintf(stderr, "clipgrep: model import: %s: %d tensors, architecture %s\n", out, count, arch);
	free(dflt);
	return CLI_EXIT_OK;
}

/*
 * The models `clipgrep model fetch NAME` knows.  Every file it downloads
 * carries a SHA-256 pinned here and checked before the file is used; a
 * file without one (sha256 NULL) is listed but not fetched.
 *
 * vit-b-32 is OpenAI's own ViT-B-32.pt: its SHA-256 is the one OpenAI
 * publishes (it is part of the URL, and OpenAI's clip.py checks it); its
 * exact size is not pinned (the server's Content-Length is used).  The
 * Hugging Face copy (openai/clip-vit-base-patch32) holds the same weights,
 * but its files' SHA-256 values could not be confirmed from a trustworthy
 * source when this table was written: they stay NULL -- marked "not pinned"
 * in `model list` -- until someone copies them from the files' pages
 * ("SHA256:" on huggingface.co) into this table.
 */
typedef struct {
	const char *file;     /* its name on the server and on disk */
	const char *base;     /* the URL without "/FILE"; CLIPGREP_MODEL_URL or --url replace it */
	int64_t size;         /* bytes, or -1 when not pinned */
	const char *approx;   /* the size in words when not pinned, or NULL */
	const char *sha256;   /* the pinned SHA-256, or NULL: not pinned, not fetched */
} model_file;

static const struct {
	const char *name;
	const char *title;    /* clipgrep.name of the imported file */
	const char *what;
	model_file files[3];
	int nfiles;
} model_known[] = {
	{ "vit-b-32", "OpenAI CLIP ViT-B/32", "OpenAI's CLIP ViT-B/32 (TorchScript ViT-B-32.pt); the heads "
	    "run in their training-free form",
	  { { "ViT-B-32.pt", "https://openaipublic.azureedge.net/clip/models/"
	      "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", -1, "about 354 MB",
	      "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af" } }, 1 },
	{ "vit-b-32-hf", "OpenAI CLIP ViT-B/32 (Hugging Face)", "the same weights from Hugging Face "
	    "openai/clip-vit-base-patch32 (safetensors + tokenizer files)",
	  { { "model.safetensors", "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main",
	      -1, "about 605 MB", NULL },
	    { "vocab.json", "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main",
	      -1, "about 862 kB", NULL },
	    { "merges.txt", "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main",
	      -1, "about 525 kB", NULL } }, 3 },
};

static void model_size_text(int64_t bytes, char *out, size_t size)
{
	if (bytes >= 1000 * 1000)
		snprintf(out, size, "%.1f MB", (double)bytes / 1e6);
	else if (bytes >= 1000)
		snprintf(out, size, "%.1f kB", (double)bytes / 1e3);
	else
		snprintf(out, size, "%lld bytes", (long long)bytes);
}

/* One line about a model file: its name and architecture from the header alone. */
static void model_list_file(const char *path, const char *mark)
{
	char *cause = NULL, size[32];
	st_file *f = st_open(path, &cause);
	struct stat sb;

	size[0] = '\0';
	if (stat(path, &sb) == 0)
		model_size_text((int64_t)sb.st_size, size, sizeof size);
	if (f == NULL) {
		printf("  %s  (broken: %s)%s\n", path, cause, mark);
		free(cause);
		return;
	}
	/* A multi-head file's own name and architecture are its shared CLIP part's: name the heads. */
	const char *heads = st_metadata(f, "clipgrep.heads");
	if (heads != NULL)
		printf("  %s  heads %s, %s%s\n", path, heads, size, mark);
	else
		printf("  %s  %s, %s, %s%s\n", path,
		    st_metadata(f, "clipgrep.name") ? st_metadata(f, "clipgrep.name") : "(no name)",
		    st_metadata(f, "clipgrep.architecture") ? st_metadata(f, "clipgrep.architecture") :
		    "clip", size, mark);
	st_close(f);
}

/* `model list`: installed, bundled, default, downloadable. */
static int model_list(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cli_config cfg;
	char *dir = cli_models_dir(), **files = NULL, *dflt = NULL;
	const char *demo = cli_demo_dir();
	int c, n;

	while ((c = cli_getopt(argc, argv, ":h", options)) != -1) {
		if (c == 'h') {
			model_usage(stdout);
			free(dir);
			return CLI_EXIT_OK;
		}
		cli_option_error("model list", c, argv);
		free(dir);
		return CLI_EXIT_USAGE;
	}
	if (optind != argc) {
		cli_error("model list: takes no arguments");
		free(dir);
		return CLI_EXIT_USAGE;
	}
	if (cli_config_load(&cfg) < 0) {
		cli_config_free(&cfg);
		free(dir);
		return CLI_EXIT_ERROR;
	}
	if (cfg.n_models > 0)
		dflt = cfg.models[0];
	printf("installed (%s):\n", dir != NULL ? dir : "HOME is not set");
	n = dir != NULL ? cli_models_in(dir, &files) : 0;
	for (int i = 0; i < n; i++)
		model_list_file(files[i], dflt != NULL && strcmp(files[i], dflt) == 0 ? "  [default]" : "");
	if (n <= 0)
		printf("  none yet: clipgrep model fetch vit-b-32 --default\n");
	cli_free_strings(files, n);
	printf("bundled demo (knows only the synthetic demo world):\n");
	n = demo != NULL ? cli_models_in(demo, &files) : 0;
	for (int i = 0; i < n; i++)
		model_list_file(files[i], dflt == NULL ? "  [default]" : "");
	if (n <= 0)
		printf("  none found\n");
	cli_free_strings(files, n);
	printf("default: ");
	if (dflt != NULL)
		printf("%s (model line in %s)\n", dflt, cfg.path);
	else
		printf("the bundled demo model (no model line in the config)\n");
	printf("downloadable (clipgrep model fetch NAME [--default]):\n");
	for (size_t i = 0; i < sizeof model_known / sizeof model_known[0]; i++) {
		printf("  %-12s %s\n", model_known[i].name, model_known[i].what);
		for (int j = 0; j < model_known[i].nfiles; j++) {
			const model_file *f = &model_known[i].files[j];
			char size[32];
			if (f->size >= 0)
				model_size_text(f->size, size, sizeof size);
			printf("    %-18s %-14s sha256 %s\n", f->file, f->size >= 0 ? size : f->approx,
			    f->sha256 != NULL ? f->sha256 : "NOT PINNED (not fetched; see cmd-model.c)");
		}
	}
	cli_config_free(&cfg);
	free(dir);
	return fflush(stdout) == EOF ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* The progress bar on a terminal: one line, redrawn in place. */
typedef struct {
	const char *file;
	int tty;
	int last;             /* the last drawn permille, or -1 */
	int64_t last_have;
} model_progress;

static void model_on_progress(void *arg, int64_t have, int64_t total)
{
	model_progress *p = arg;
	char a[32], b[32], bar[31];
	int permille = total > 0 ? (int)(have * 1000 / total) : -1, fill;

	if (!p->tty)
		return;
	if (permille == p->last && (permille >= 0 || have - p->last_have < (1 << 20)))
		return;
	p->last = permille;
	p->last_have = have;
	model_size_text(have, a, sizeof a);
	if (total <= 0) {
		fprintf(stderr, "\r  %s  %s   ", p->file, a);
		return;
	}
	model_size_text(total, b, sizeof b);
	fill = permille * 30 / 1000;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r  %s  [%s] %3d%%  %s of %s   ", p->file, bar, permille / 10, a, b);
}

static char *model_join(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 2);

	if (s != NULL)
		sprintf(s, "%s/%s", a, b);
	return s;
}

/* Is s 64 lowercase hex digits? */
static int model_is_sha256(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* Download one file into dir (resuming), checked; 0 or -1 after the message. */
static int model_fetch_file(const char *url, const char *dir, const model_file *f)
{
	model_progress p = { f->file, isatty(2), -1, 0 };
	fetch_request r = { url, NULL, f->sha256, f->size, model_on_progress, &p };
	char *dest = model_join(dir, f->file), *cause = NULL;
	int fresh = 0, rc;

	if (dest == NULL) {
		cli_error("model fetch: out of memory");
		return -1;
	}
	r.dest = dest;
	if (!p.tty)
		fprintf(stderr, "clipgrep: model fetch: %s\n", url);
	rc = fetch_file(&r, &fresh, &cause);
	if (p.tty && fresh)
		fputc('\n', stderr);
	if (rc < 0)
		cli_error_cause(&cause, "model fetch: failed");
	else
		fprintf(stderr, "clipgrep: model fetch: %s: SHA-256 ok%s\n", dest,
		    fresh ? "" : " (already downloaded)");
	free(dest);
	return rc;
}

/*
 * `model fetch NAME [--default] [--url BASE]` or `model fetch URL --sha256 HEX
 * [--name NAME] [--default]`: download into MODELS/downloads/NAME, check,
 * import into MODELS/NAME.safetensors, drop the download, and with
 * --default make it the config's model.
 */
static int model_fetch(int argc, char **argv)
{
	static const struct option options[] = {
		{ "default", no_argument, NULL, 'd' },
		{ "url", required_argument, NULL, 'u' },
		{ "sha256", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base = getenv("CLIPGREP_MODEL_URL"), *sha = NULL, *name = NULL, *what, *arch = NULL;
	char *dir = NULL, *dl = NULL, *out = NULL, *cause = NULL, *url = NULL, *src = NULL, *nm = NULL;
	model_file one = { NULL, NULL, -1, NULL, NULL };
	const model_file *files = NULL;
	const char *title = NULL;
	int c, set_default = 0, nfiles = 0, rc = CLI_EXIT_ERROR, count = 0;

	while ((c = cli_getopt(argc, argv, ":h", options)) != -1) {
		switch (c) {
		case 'd':
			set_default = 1;
			break;
		case 'u':
			base = optarg;
			break;
		case 's':
			sha = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			model_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_option_error("model fetch", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("model fetch: give one model NAME (clipgrep model list shows them) or a URL "
		    "with --sha256");
		return CLI_EXIT_USAGE;
	}
	what = argv[optind];
	if (strstr(what, "://") != NULL) {
		const char *slash = strrchr(what, '/'), *dot;
		if (sha == NULL || !model_is_sha256(sha)) {
			cli_error("model fetch: %s: give the file's SHA-256 with --sha256 (64 lowercase "
			    "hex digits); nothing is used unchecked", cli_name(what));
			return CLI_EXIT_USAGE;
		}
		if (slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) {
			cli_error("model fetch: %s: the URL names no file", cli_name(what));
			return CLI_EXIT_USAGE;
		}
		one.file = slash + 1;
		one.sha256 = sha;
		files = &one;
		nfiles = 1;
		if (name == NULL) {
			if ((nm = util_strdup(one.file)) == NULL)
				goto oom;
			if ((dot = strrchr(nm, '.')) != NULL && dot != nm)
				nm[dot - nm] = '\0';
			name = nm;
		}
		title = name;
	} else {
		for (size_t i = 0; i < sizeof model_known / sizeof model_known[0]; i++)
			if (strcmp(what, model_known[i].name) == 0) {
				files = model_known[i].files;
				nfiles = model_known[i].nfiles;
				title = model_known[i].title;
			}
		if (files == NULL) {
			cli_error("model fetch: unknown model %s (clipgrep model list shows the known ones)",
			    cli_name(what));
			return CLI_EXIT_USAGE;
		}
		if (sha != NULL) {
			cli_error("model fetch: --sha256 is for a URL; %s's are pinned", cli_name(what));
			return CLI_EXIT_USAGE;
		}
		for (int i = 0; i < nfiles; i++)
			if (files[i].sha256 == NULL) {
				cli_error("model fetch: %s: no SHA-256 is pinned for %s in this clipgrep, so it "
				    "is not downloaded; use clipgrep model fetch vit-b-32, or download the files "
				    "yourself and run clipgrep model import FOLDER", cli_name(what),
				    cli_name(files[i].file));
				return CLI_EXIT_ERROR;
			}
		if (name == NULL)
			name = what;
	}
	if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0') {
		cli_error("model fetch: %s: not a usable file name (--name)", cli_name(name));
		return CLI_EXIT_USAGE;
	}
	if (!fetch_available()) {
		cli_error("model fetch: this clipgrep was built without libcurl, so it cannot download. "
		    "Fetch the file yourself (%s), check its SHA-256 (sha256sum: %s), then run "
		    "clipgrep model import FILE; or rebuild with libcurl4-openssl-dev installed",
		    strstr(what, "://") ? what : "see clipgrep model list", files[0].sha256);
		goto out;
	}
	if ((dir = cli_models_dir()) == NULL) {
		cli_error("model fetch: HOME is not set, so there is no models folder");
		goto out;
	}
	if ((dl = malloc(strlen(dir) + strlen(name) + 16)) == NULL ||
	    (out = malloc(strlen(dir) + strlen(name) + 16)) == NULL)
		goto oom;
	sprintf(dl, "%s/downloads/%s", dir, name);
	sprintf(out, "%s/%s.safetensors", dir, name);
	/* installed already (say, fetched before without --default): nothing to download */
	if (access(out, F_OK) == 0) {
		fprintf(stderr, "clipgrep: model fetch: %s is installed already (remove it to fetch "
		    "it again)\n", out);
		goto installed;
	}
	if (cli_mkdirs(dl) != 0) {
		cli_error("model fetch: %s: %s", cli_name(dl), strerror(errno));
		goto out;
	}
	for (int i = 0; i < nfiles; i++) {
		const char *b = base != NULL && base[0] != '\0' ? base : files[i].base;
		if (files == &one && (base == NULL || base[0] == '\0'))
			url = util_strdup(what);
		else if ((url = malloc(strlen(b) + strlen(files[i].file) + 2)) != NULL)
			sprintf(url, "%s%s%s", b, b[strlen(b) - 1] == '/' ? "" : "/", files[i].file);
		if (url == NULL)
			goto oom;
		if (model_fetch_file(url, dl, &files[i]) < 0)
			goto out;
		free(url);
		url = NULL;
	}
	/* the first file is the checkpoint; the others (tokenizer) lie beside it */
	if ((src = model_join(dl, files[0].file)) == NULL)
		goto oom;
	{
		import_options o = { src, NULL, NULL, cli_bpe_path(), title };
		if (o.bpe == NULL) {
			cli_error("model fetch: the bundled BPE vocabulary (%s) is missing", CLI_BPE_NAME);
			goto out;
		}
		if (import_model(&o, out, &arch, &count, &cause) < 0) {
			cli_error_cause(&cause, "model fetch: import failed");
			cli_error("model fetch: the verified download is kept in %s", cli_name(dl));
			goto out;
		}
	}
	fprintf(stderr, "clipgrep: model fetch: installed %s (%s, architecture %s, %d tensors)\n",
	    out, title, arch, count);
	/* the verified download has served its purpose */
	for (int i = 0; i < nfiles; i++) {
		char *p = model_join(dl, files[i].file);
		if (p != NULL)
			unlink(p);
		free(p);
	}
	rmdir(dl);
installed:
	if (set_default) {
		if (cli_config_set_model(out) < 0)
			goto out;
		fprintf(stderr, "clipgrep: model fetch: %s is now the default model\n", out);
	} else if (files == &one)
		fprintf(stderr, "clipgrep: use it with --model %s, or make it the default with a "
		    "config line: model = %s\n", out, out);
	else
		fprintf(stderr, "clipgrep: use it with --model %s, or make it the default: clipgrep "
		    "model fetch %s --default\n", out, what);
	rc = CLI_EXIT_OK;
	goto out;
oom:
	cli_error("model fetch: out of memory");
out:
	free(nm);
	free(url);
	free(src);
	free(dl);
	free(out);
	free(dir);
	return rc;
}

/* The actions of `clipgrep model`. */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} model_actions[] = {
	{ "check", model_check },
	{ "import", model_import },
	{ "list", model_list },
	{ "fetch", model_fetch },
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
	cli_error("model: unknown action %s (list, fetch, import, check)", cli_name(argv[1]));
	return CLI_EXIT_USAGE;
}
