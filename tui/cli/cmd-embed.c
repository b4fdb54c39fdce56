/*
 * cmd-embed — `clipgrep embed`: run the model's towers (and heads) on
 * queries, videos or preprocessed frames and write the vectors out, for
 * users who want clipgrep's encoders inside their own pipelines.
 *
 * Everything computed is gathered as named tensors (embed_tensor), then
 * written in one of three formats:
 *   json         one stable JSON document (see clipgrep(1), EMBED OUTPUT)
 *   safetensors  one file, tensors named "<item>.<name>", model hash and
 *                version in __metadata__
 *   npy          --out is a directory: one "<item>.<name>.npy" per tensor
 * Token ids are int32 in safetensors, float32 in .npy (exact below 2^24).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmd.h"
#include "engine.h"
#include "heads.h"
#include "npy.h"
#include "safetensors.h"
#include "video.h"
#include "vit.h"

#define EMBED_MAX_NDIM 4
#define EMBED_BATCH 8

typedef enum { EMBED_JSON, EMBED_NPY, EMBED_SAFETENSORS } embed_format;
typedef enum { EMBED_NONE, EMBED_TEXT, EMBED_VIDEO, EMBED_FRAMES } embed_input;

typedef struct {
	int item;                 /* which input (0-based), -1 for --frames-npy */
	char name[32];            /* "sentence", "words", ... */
	int is_int;               /* token ids: int32 in safetensors, integers in JSON */
	int ndim;
	int64_t shape[EMBED_MAX_NDIM];
	float *data;              /* [prod(shape)] owned */
} embed_tensor;

typedef struct {
	embed_tensor *t;
	int n, cap;
} embed_set;

/* A tensor about to be added (embed_video). */
typedef struct {
	const char *name;
	int ndim;
	int64_t shape[2];
	float *data;
} embed_item;

static void embed_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep embed --model FILE (--text TEXT... | --video FILE... | --frames-npy FILE)\n"
	    "                      [--format json|npy|safetensors] [--out PATH]\n"
	    "Write the model's embeddings of queries, videos or preprocessed frames.\n\n"
	    "  -m, --model FILE      a clipgrep model file (.safetensors)\n"
	    "      --head NAME       a head of a multi-head model file (default: the first)\n"
	    "      --text            the arguments are query texts: token ids, sentence [D]\n"
	    "                        and word [L, D] features (raw tower outputs, and\n"
	    "                        L2-normalised copies *_norm)\n"
	    "      --video           the arguments are video files: the F sampled times,\n"
	    "                        frame embeddings [F, D] and the model's per-video head\n"
	    "                        tensors (EA cache, TC-MGC cache and V')\n"
	    "      --frames-npy FILE encode float32 frames [N, 3, S, S] (CLIP-normalised)\n"
	    "                        with the image tower: frames [N, D]\n"
	    "  -f, --format FMT      json (default), npy or safetensors\n"
	    "  -o, --out PATH        output file (json: default standard output;\n"
	    "                        npy: a directory, created, one file per tensor)\n"
	    "  -h, --help            show this help\n");
}

/* Append a tensor; takes ownership of data (freed on failure too). */
static int embed_add(embed_set *s, int item, const char *name, int is_int, int ndim,
    const int64_t *shape, float *data)
{
	embed_tensor *t;

	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 16;
		embed_tensor *nt = realloc(s->t, (size_t)cap * sizeof *nt);

		if (nt == NULL) {
			free(data);
			cli_error("out of memory");
			return -1;
		}
		s->t = nt;
		s->cap = cap;
	}
	t = &s->t[s->n++];
	memset(t, 0, sizeof *t);
	t->item = item;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->is_int = is_int;
	t->ndim = ndim;
	memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
	t->data = data;
	return 0;
}

static size_t embed_numel(const embed_tensor *t)
{
	size_t n = 1;

	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)t->shape[i];
	return n;
}

static void embed_set_free(embed_set *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->t[i].data);
	free(s->t);
	memset(s, 0, sizeof *s);
}

static float *embed_copy(const float *src, size_t n)
{
	float *d = malloc((n ? n : 1) * sizeof *d);

	if (d != NULL && n > 0)
		memcpy(d, src, n * sizeof *d);
	return d;
}

/* Rows of x [rows, dim] scaled to unit length (zero rows stay zero). */
static float *embed_normalised(const float *x, int rows, int dim)
{
	float *d = embed_copy(x, (size_t)rows * (size_t)dim);

	for (int r = 0; d != NULL && r < rows; r++) {
		double ss = 0;
		float *row = d + (size_t)r * (size_t)dim;

		for (int j = 0; j < dim; j++)
			ss += (double)row[j] * row[j];
		if (ss > 0)
			for (int j = 0; j < dim; j++)
				row[j] = (float)(row[j] / sqrt(ss));
	}
	return d;
}

static int embed_text(heads_file *hf, char **texts, int n, embed_set *s)
{
	char *cause = NULL;
	heads_text *te = heads_text_new(hf, 0, &cause);
	float *sent = NULL, *words = NULL;
	int L, D, rc = -1;

	if (te == NULL) {
		cli_error_cause(&cause, "cannot load the text tower");
		return -1;
	}
	L = heads_text_get(te)->L;
	D = heads_text_get(te)->D;
	for (int i = 0; i < n; i++) {
		const heads_encoding *enc = heads_text_get(te);
		int64_t sh[2] = { L, D };
		float *fid;

		if (heads_text_encode(te, texts[i], NULL, &cause) == -1) {
			cli_error_cause(&cause, "text encoding failed");
			goto out;
		}
		sent = embed_copy(enc->sentence, (size_t)D);
		words = embed_copy(enc->words, (size_t)L * (size_t)D);
		fid = malloc((size_t)L * sizeof *fid);
		if (sent == NULL || words == NULL || fid == NULL) {
			free(fid);
			cli_error("out of memory");
			goto out;
		}
		for (int j = 0; j < L; j++)
			fid[j] = (float)enc->ids[j];
		{
			int64_t nt = enc->n_tokens;
			float *ntv = malloc(sizeof *ntv);

			if (ntv == NULL) {
				free(fid);
				cli_error("out of memory");
				goto out;
			}
			ntv[0] = (float)nt;
			if (embed_add(s, i, "token_ids", 1, 1, sh, fid) == -1 ||
			    embed_add(s, i, "n_tokens", 1, 0, sh, ntv) == -1)
				goto out;
		}
		if (embed_add(s, i, "sentence_norm", 0, 1, sh + 1, embed_normalised(sent, 1, D)) == -1 ||
		    embed_add(s, i, "words_norm", 0, 2, sh, embed_normalised(words, L, D)) == -1)
			goto out;
		if (s->t[s->n - 1].data == NULL || s->t[s->n - 2].data == NULL) {
			cli_error("out of memory");
			goto out;
		}
		if (embed_add(s, i, "sentence", 0, 1, sh + 1, sent) == -1) {
			sent = NULL;
			goto out;
		}
		sent = NULL;
		if (embed_add(s, i, "words", 0, 2, sh, words) == -1) {
			words = NULL;
			goto out;
		}
		words = NULL;
	}
	rc = 0;
out:
	free(sent);
	free(words);
	heads_text_free(te);
	return rc;
}

/* Encode frames [n, 3, S, S] into a new [n, D] array; NULL on error (printed). */
static float *embed_frames_run(vit *v, const float *frames, int n)
{
	char *cause = NULL;
	float *out = malloc((size_t)(n > 0 ? n : 1) * (size_t)vit_embed_dim(v) * sizeof *out);

	if (out == NULL) {
		cli_error("out of memory");
		return NULL;
	}
	if (vit_encode(v, frames, n, out, &cause) == -1) {
		cli_error_cause(&cause, "image encoding failed");
		free(out);
		return NULL;
	}
	return out;
}

static int embed_frames_npy(heads_file *hf, const char *path, embed_set *s)
{
	char *cause = NULL;
	npy_array a;
	vit *v;
	float *out;
	int S;

	if (npy_read(path, &a, &cause) == -1) {
		cli_error_cause(&cause, "cannot read the frames");
		return -1;
	}
	if ((v = vit_new(hf->m, EMBED_BATCH, &cause)) == NULL) {
		npy_array_free(&a);
		cli_error_cause(&cause, "cannot load the image tower");
		return -1;
	}
	S = vit_image_size(v);
	if (a.ndim != 4 || a.shape[1] != 3 || a.shape[2] != S || a.shape[3] != S ||
	    a.shape[0] < 1 || a.shape[0] > 100000) {
		cli_error("%s: frames must be float32 [N, 3, %d, %d] with 1 <= N <= 100000 "
		    "(got %d dimensions)", cli_name(path), S, S, a.ndim);
		npy_array_free(&a);
		vit_free(v);
		return -1;
	}
	out = embed_frames_run(v, a.data, (int)a.shape[0]);
	if (out != NULL) {
		int64_t sh[2] = { a.shape[0], vit_embed_dim(v) };

		npy_array_free(&a);
		vit_free(v);
		return embed_add(s, -1, "frames", 0, 2, sh, out);
	}
	npy_array_free(&a);
	vit_free(v);
	return -1;
}

/*
 * Each video as the indexer records it (heads_record: the distinct frames,
 * then the embedding of a zero image, as upstream pads; each head's cache),
 * plus its times and TC-MGC's V'.
 */
static int embed_video(heads_file *hf, char **paths, int n, embed_set *s)
{
	char *cause = NULL;
	video_options vopt;
	vit *v = NULL;
	heads_record *rec = NULL;
	embed_item add[HEADS_MAX_TENSORS + 3]; /* times, mask, V' and the record */
	int F = hf->F, D, na = 0, rc = -1;
	float *pad = NULL;

	if (F < 1) {
		cli_error("%s: the model gives no frame count", cli_name(hf->path));
		return -1;
	}
	if ((v = vit_new(hf->m, EMBED_BATCH, &cause)) == NULL ||
	    (rec = heads_record_new(hf, &cause)) == NULL)
		goto fail;
	D = vit_embed_dim(v);
	if ((pad = malloc((size_t)D * sizeof *pad)) == NULL) {
		cli_error("out of memory");
		goto out;
	}
	/* Once per tower: the same zero image pads every short clip. */
	if (vit_encode_blank(v, pad, &cause) == -1)
		goto fail;
	cli_video_log_setup();
	video_options_init(&vopt);
	vopt.size = vit_image_size(v);
	vopt.want_float = 1;
	vopt.thumb_width = 0;
	for (int i = 0; i < n; i++) {
		video_frames *vf = video_sample(paths[i], &vopt, F, &cause);
		index_tensor t[HEADS_MAX_TENSORS];
		float *emb, *times = NULL, *vp = NULL;
		int cnt, nt;

		if (vf == NULL)
			goto fail;
		cnt = vf->count < F ? vf->count : F;
		emb = embed_frames_run(v, vf->pixels, cnt);
		times = malloc((size_t)F * sizeof *times);
		if (emb == NULL || times == NULL) {
			free(emb);
			free(times);
			video_frames_free(vf);
			if (emb != NULL)
				cli_error("out of memory");
			goto out;
		}
		for (int f = 0; f < F; f++)
			times[f] = f < cnt ? (float)vf->times[f] : NAN;
		video_frames_free(vf);
		if (heads_record_prepare(rec, emb, cnt, pad, &cause) == -1) {
			free(emb);
			free(times);
			goto fail;
		}
		free(emb);
		nt = heads_record_tensors(rec, 0, t);
		/* The document's order: times, mask, EA cache, TC-MGC cache, V', frames. */
		na = 0;
		add[na++] = (embed_item){ "times", 1, { F }, times };
		add[na++] = (embed_item){ "mask", 1, { F },
			embed_copy(heads_record_mask(rec), (size_t)F) };
		for (int k = 0; k < nt; k++)
			if (strcmp(t[k].kind, HEADS_KIND_EA) == 0)
				add[na++] = (embed_item){ "ea_cache", 1, { t[k].count },
					embed_copy(t[k].data, (size_t)t[k].count) };
		for (int k = 0; k < nt; k++)
			if (strcmp(t[k].kind, HEADS_KIND_TCMGC) == 0) {
				add[na++] = (embed_item){ "tcmgc_cache", 1, { t[k].count },
					embed_copy(t[k].data, (size_t)t[k].count) };
				add[na++] = (embed_item){ "temporal", 2, { F, D }, vp =
					malloc((size_t)F * (size_t)D * sizeof *vp) };
			}
		add[na++] = (embed_item){ "frames", 2, { F, D },
			embed_copy(heads_record_frames(rec), (size_t)F * (size_t)D) };
		for (int k = 0; k < na; k++)
			if (add[k].data == NULL) {
				cli_error("out of memory");
				goto drop;
			}
		if (vp != NULL && tcmgc_temporal(hf->tc, heads_record_frames(rec),
		    heads_record_mask(rec), vp, &cause) == -1) {
			cli_error_cause(&cause, "video embedding failed");
			goto drop;
		}
		for (int k = 0; k < na; k++) {
			/* embed_add frees what it is given when it fails. */
			if (embed_add(s, i, add[k].name, 0, add[k].ndim, add[k].shape,
			    add[k].data) == -1) {
				for (int j = k + 1; j < na; j++)
					free(add[j].data);
				goto out;
			}
		}
	}
	rc = 0;
	goto out;
drop:
	for (int k = 0; k < na; k++)
		free(add[k].data);
	goto out;
fail:
	cli_error_cause(&cause, "video embedding failed");
out:
	free(pad);
	heads_record_free(rec);
	vit_free(v);
	return rc;
}

static void embed_json_number(FILE *out, float x, int is_int)
{
	if (!isfinite(x))
		fputs("null", out);
	else if (is_int)
		fprintf(out, "%lld", (long long)x);
	else
		fprintf(out, "%.9g", (double)x);
}

static void embed_write_json(FILE *out, const embed_set *s, const char *model_file,
    const char *hash, const char *arch, embed_input in, char **inputs, int n_inputs)
{
	fprintf(out, "{\"format\":\"clipgrep-embed\",\"format_version\":1,\"clipgrep\":\"%s\",",
	    PACKAGE_VERSION);
	fputs("\"model\":{\"path\":", out);
	cli_json_string(out, model_file);
	fprintf(out, ",\"hash\":\"%s\",\"architecture\":", hash);
	cli_json_string(out, arch);
	fprintf(out, "},\"input\":\"%s\",\"normalised\":\"tensors named *_norm are L2-normalised; "
	    "all others are raw tower or head outputs\",\"items\":[",
	    in == EMBED_TEXT ? "text" : in == EMBED_VIDEO ? "video" : "frames-npy");
	for (int it = in == EMBED_FRAMES ? -1 : 0; it < (in == EMBED_FRAMES ? 0 : n_inputs); it++) {
		int first = 1;

		fprintf(out, "%s{\"input\":", it > 0 ? "," : "");
		cli_json_string(out, it >= 0 ? inputs[it] : inputs[0]);
		fputs(",\"tensors\":{", out);
		for (int k = 0; k < s->n; k++) {
			const embed_tensor *t = &s->t[k];
			size_t numel = embed_numel(t);

			if (t->item != it)
				continue;
			fprintf(out, "%s\"%s\":{\"shape\":[", first ? "" : ",", t->name);
			first = 0;
			for (int d = 0; d < t->ndim; d++)
				fprintf(out, "%s%lld", d ? "," : "", (long long)t->shape[d]);
			fputs("],\"data\":[", out);
			for (size_t j = 0; j < numel; j++) {
				if (j)
					fputc(',', out);
				embed_json_number(out, t->data[j], t->is_int);
			}
			fputs("]}", out);
		}
		fputs("}}", out);
	}
	fputs("]}\n", out);
}

static void embed_tensor_name(const embed_tensor *t, char *buf, size_t len)
{
	if (t->item < 0)
		snprintf(buf, len, "%s", t->name);
	else
		snprintf(buf, len, "%d.%s", t->item, t->name);
}

static int embed_write_safetensors(const char *path, const embed_set *s, const char *hash,
    const char *arch)
{
	st_writer *w = st_writer_new();
	char *cause = NULL;
	char name[64];

	if (w == NULL) {
		cli_error("out of memory");
		return -1;
	}
	if (st_writer_set_metadata(w, "clipgrep.version", PACKAGE_VERSION, &cause) == -1 ||
	    st_writer_set_metadata(w, "clipgrep.model_hash", hash, &cause) == -1 ||
	    st_writer_set_metadata(w, "clipgrep.model_architecture", arch, &cause) == -1)
		goto fail;
	for (int k = 0; k < s->n; k++) {
		const embed_tensor *t = &s->t[k];
		size_t numel = embed_numel(t);

		embed_tensor_name(t, name, sizeof name);
		if (t->is_int) {
			int32_t *iv = malloc((numel ? numel : 1) * sizeof *iv);
			int rc;

			if (iv == NULL) {
				cli_error("out of memory");
				st_writer_free(w);
				return -1;
			}
			for (size_t j = 0; j < numel; j++)
				iv[j] = (int32_t)t->data[j];
			rc = st_writer_add(w, name, ST_I32, t->ndim, t->shape, iv, &cause);
			free(iv);
			if (rc == -1)
				goto fail;
		} else if (st_writer_add_f32(w, name, t->ndim, t->shape, t->data, &cause) == -1)
			goto fail;
	}
	if (st_writer_save(w, path, &cause) == -1)
		goto fail;
	st_writer_free(w);
	return 0;
fail:
	cli_error_cause(&cause, "cannot write the safetensors file");
	st_writer_free(w);
	return -1;
}

static int embed_write_npy(const char *dir, const embed_set *s)
{
	char name[64], *path;
	char *cause = NULL;

	if (cli_make_dirs(dir) == -1)
		return -1;
	path = malloc(strlen(dir) + sizeof name + 8);
	if (path == NULL) {
		cli_error("out of memory");
		return -1;
	}
	for (int k = 0; k < s->n; k++) {
		embed_tensor_name(&s->t[k], name, sizeof name);
		sprintf(path, "%s/%s.npy", dir, name);
		if (npy_write(path, s->t[k].ndim, s->t[k].shape, s->t[k].data, &cause) == -1) {
			cli_error_cause(&cause, "cannot write a .npy file");
			free(path);
			return -1;
		}
	}
	free(path);
	return 0;
}

int cmd_embed(int argc, char **argv)
{
	static const struct option options[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "head", required_argument, NULL, 'H' },
		{ "text", no_argument, NULL, 'T' },
		{ "video", no_argument, NULL, 'V' },
		{ "frames-npy", required_argument, NULL, 'N' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *model_file = NULL, *out_path = NULL, *npy_in = NULL, *head = NULL;
	embed_format fmt = EMBED_JSON;
	embed_input in = EMBED_NONE;
	embed_set set = { 0 };
	char *cause = NULL;
	heads_set *hs = NULL;
	heads_file *hf;
	int c, rc = CLI_EXIT_ERROR, n_inputs;
	char **inputs;

	while ((c = cli_getopt(argc, argv, ":m:f:o:h", options)) != -1) {
		embed_input want = c == 'T' ? EMBED_TEXT : c == 'V' ? EMBED_VIDEO :
		    c == 'N' ? EMBED_FRAMES : EMBED_NONE;

		if (want != EMBED_NONE) {
			if (in != EMBED_NONE && in != want) {
				cli_error("embed: give one of --text, --video, --frames-npy");
				return CLI_EXIT_USAGE;
			}
			in = want;
			if (c == 'N')
				npy_in = optarg;
			continue;
		}
		switch (c) {
		case 'm':
			model_file = optarg;
			break;
		case 'H':
			head = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				fmt = EMBED_JSON;
			else if (strcmp(optarg, "npy") == 0)
				fmt = EMBED_NPY;
			else if (strcmp(optarg, "safetensors") == 0)
				fmt = EMBED_SAFETENSORS;
			else {
				cli_error("embed: unknown format %s (json, npy, safetensors)", cli_name(optarg));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			embed_usage(stdout);
			return CLI_EXIT_OK;
		default:
			embed_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	inputs = argv + optind;
	n_inputs = argc - optind;
	if (model_file == NULL || in == EMBED_NONE ||
	    (in == EMBED_FRAMES ? n_inputs != 0 : n_inputs < 1)) {
		cli_error("embed: need --model FILE and --text TEXT..., --video FILE... or "
		    "--frames-npy FILE");
		embed_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (fmt != EMBED_JSON && out_path == NULL) {
		cli_error("embed: --format npy and safetensors need --out");
		return CLI_EXIT_USAGE;
	}
	for (int i = 0; in == EMBED_TEXT && i < n_inputs; i++) {
		if (engine_query_is_empty(inputs[i])) {
			cli_error("embed: the query is empty (text %d of %d)", i + 1, n_inputs);
			return CLI_EXIT_USAGE;
		}
	}
	if (in == EMBED_FRAMES) {
		inputs = (char **)&npy_in;
		n_inputs = 1;
	}
	/* A video's record holds every head the file gives, as the indexer's. */
	if ((hs = heads_open_head((const char *const *)&model_file, 1,
	    in == EMBED_VIDEO ? HEADS_FOR_INDEX : HEADS_FILES_ONLY, head, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot load the model");
		return CLI_EXIT_ERROR;
	}
	hf = heads_file_at(hs, 0);
	if ((in == EMBED_TEXT && embed_text(hf, inputs, n_inputs, &set) == -1) ||
	    (in == EMBED_VIDEO && embed_video(hf, inputs, n_inputs, &set) == -1) ||
	    (in == EMBED_FRAMES && embed_frames_npy(hf, npy_in, &set) == -1))
		goto out;
	if (fmt == EMBED_JSON) {
		FILE *f = out_path == NULL ? stdout : fopen(out_path, "w");

		if (f == NULL) {
			cli_error("%s: %s", cli_name(out_path), strerror(errno));
			goto out;
		}
		embed_write_json(f, &set, model_file, hf->hex, model_get_config(hf->m)->architecture, in,
		    inputs, n_inputs);
		if (ferror(f) || (f != stdout ? fclose(f) : fflush(f)) != 0) {
			cli_error("%s: write failed", cli_name(out_path ? out_path : "standard output"));
			goto out;
		}
	} else if (fmt == EMBED_SAFETENSORS) {
		if (embed_write_safetensors(out_path, &set, hf->hex,
		    model_get_config(hf->m)->architecture) == -1)
			goto out;
	} else if (embed_write_npy(out_path, &set) == -1)
		goto out;
	rc = CLI_EXIT_OK;
out:
	embed_set_free(&set);
	heads_free(hs);
	return rc;
}
