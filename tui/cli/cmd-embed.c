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
#include "ea.h"
#include "engine.h"
#include "hash.h"
#include "index.h"
#include "model.h"
#include "npy.h"
#include "safetensors.h"
#include "tcmgc.h"
#include "textenc.h"
#include "tokenizer.h"
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

static void embed_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipgrep embed --model FILE (--text TEXT... | --video FILE... | --frames-npy FILE)\n"
	    "                      [--format json|npy|safetensors] [--out PATH]\n"
	    "Write the model's embeddings of queries, videos or preprocessed frames.\n\n"
	    "  -m, --model FILE      a clipgrep model file (.safetensors)\n"
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

static int embed_text(model *m, char **texts, int n, embed_set *s)
{
	const model_config *cfg = model_get_config(m);
	int L = cfg->max_words > 0 ? cfg->max_words : cfg->context_length;
	char *cause = NULL;
	tokenizer *tok = model_tokenizer(m, &cause);
	textenc *te = NULL;
	int32_t *ids = NULL;
	float *sent = NULL, *words = NULL;
	int D, rc = -1;

	if (tok == NULL || (te = textenc_new(m, L, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot load the text tower");
		return -1;
	}
	D = textenc_embed_dim(te);
	ids = calloc((size_t)L, sizeof *ids);
	if (ids == NULL) {
		cli_error("out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int64_t sh[2] = { L, D };
		float *fid;
		int ntok = tokenizer_encode_padded(tok, texts[i], L, ids, NULL, &cause);

		sent = malloc((size_t)D * sizeof *sent);
		words = malloc((size_t)L * (size_t)D * sizeof *words);
		fid = malloc((size_t)L * sizeof *fid);
		if (sent == NULL || words == NULL || fid == NULL) {
			free(fid);
			cli_error("out of memory");
			goto out;
		}
		if (ntok < 0 || textenc_encode(te, ids, sent, words, &cause) == -1) {
			free(fid);
			cli_error_cause(&cause, "text encoding failed");
			goto out;
		}
		for (int j = 0; j < L; j++)
			fid[j] = (float)ids[j];
		{
			int64_t nt = ntok;
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
	free(ids);
	textenc_free(te);
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

static int embed_frames_npy(model *m, const char *path, embed_set *s)
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
	if ((v = vit_new(m, EMBED_BATCH, &cause)) == NULL) {
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

static int embed_video(model *m, char **paths, int n, embed_set *s)
{
	const model_config *cfg = model_get_config(m);
	const char *arch = cfg->architecture;
	char *cause = NULL;
	video_options vopt;
	vit *v = NULL;
	ea *e = NULL;
	tcmgc *tc = NULL;
	int F = cfg->frames, D, rc = -1;

	if (F < 1) {
		cli_error("%s: the model gives no frame count", cli_name(model_path(m)));
		return -1;
	}
	if ((v = vit_new(m, EMBED_BATCH, &cause)) == NULL)
		goto fail;
	if ((strcmp(arch, "ea") == 0 || strcmp(arch, "clip") == 0) &&
	    (e = ea_load(m, &cause)) == NULL)
		goto fail;
	if ((strcmp(arch, "tcmgc") == 0 || strcmp(arch, "clip") == 0) &&
	    (tc = tcmgc_load(m, &cause)) == NULL)
		goto fail;
	D = vit_embed_dim(v);
	cli_video_log_setup();
	video_options_init(&vopt);
	vopt.size = vit_image_size(v);
	vopt.want_float = 1;
	vopt.thumb_width = 0;
	for (int i = 0; i < n; i++) {
		video_frames *vf = video_sample(paths[i], &vopt, F, &cause);
		float *emb, *V = NULL, *mask = NULL, *times = NULL;
		int64_t sh[2] = { F, D };
		int cnt;

		if (vf == NULL)
			goto fail;
		cnt = vf->count < F ? vf->count : F;
		emb = embed_frames_run(v, vf->pixels, cnt);
		V = calloc((size_t)F * (size_t)D, sizeof *V);
		mask = calloc((size_t)F, sizeof *mask);
		times = malloc((size_t)F * sizeof *times);
		if (emb == NULL || V == NULL || mask == NULL || times == NULL) {
			free(emb);
			free(V);
			free(mask);
			free(times);
			video_frames_free(vf);
			if (emb != NULL)
				cli_error("out of memory");
			goto out;
		}
		/* As the indexer stores them: the distinct frames, then zero rows. */
		memcpy(V, emb, (size_t)cnt * (size_t)D * sizeof *V);
		free(emb);
		for (int f = 0; f < F; f++) {
			mask[f] = f < cnt ? 1.0f : 0.0f;
			times[f] = f < cnt ? (float)vf->times[f] : NAN;
		}
		video_frames_free(vf);
		if (embed_add(s, i, "times", 0, 1, sh, times) == -1 ||
		    embed_add(s, i, "mask", 0, 1, sh, mask) == -1) {
			free(V);
			goto out;
		}
		if (e != NULL) {
			int64_t c = (int64_t)ea_video_cache_floats(e);
			float *cache = malloc((size_t)c * sizeof *cache);

			if (cache == NULL || ea_prepare_video(e, V, mask, cache, &cause) == -1) {
				free(cache);
				free(V);
				goto fail;
			}
			if (embed_add(s, i, "ea_cache", 0, 1, &c, cache) == -1) {
				free(V);
				goto out;
			}
		}
		if (tc != NULL) {
			int64_t c = (int64_t)tcmgc_video_cache_floats(tc);
			float *cache = malloc((size_t)c * sizeof *cache);
			float *vp = malloc((size_t)F * (size_t)D * sizeof *vp);

			if (cache == NULL || vp == NULL ||
			    tcmgc_prepare_video(tc, V, mask, cache, &cause) == -1 ||
			    tcmgc_temporal(tc, V, mask, vp, &cause) == -1) {
				free(cache);
				free(vp);
				free(V);
				goto fail;
			}
			if (embed_add(s, i, "tcmgc_cache", 0, 1, &c, cache) == -1 ||
			    embed_add(s, i, "temporal", 0, 2, sh, vp) == -1) {
				free(V);
				goto out;
			}
		}
		if (embed_add(s, i, "frames", 0, 2, sh, V) == -1)
			goto out;
	}
	rc = 0;
	goto out;
fail:
	cli_error_cause(&cause, "video embedding failed");
out:
	tcmgc_free(tc);
	ea_free(e);
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

	if (mkdir(dir, 0777) == -1 && errno != EEXIST) {
		cli_error("%s: %s", cli_name(dir), strerror(errno));
		return -1;
	}
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
		{ "text", no_argument, NULL, 'T' },
		{ "video", no_argument, NULL, 'V' },
		{ "frames-npy", required_argument, NULL, 'N' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *model_file = NULL, *out_path = NULL, *npy_in = NULL;
	embed_format fmt = EMBED_JSON;
	embed_input in = EMBED_NONE;
	embed_set set = { 0 };
	uint8_t h[HASH_SIZE];
	char hash[2 * HASH_SIZE + 1];
	char *cause = NULL;
	model *m = NULL;
	int c, rc = CLI_EXIT_ERROR, n_inputs;
	char **inputs;

	while ((c = getopt_long(argc, argv, "m:f:o:h", options, NULL)) != -1) {
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
	if (hash_file(model_file, h, NULL, &cause) == -1 ||
	    (m = model_load(model_file, &cause)) == NULL) {
		cli_error_cause(&cause, "cannot load the model");
		return CLI_EXIT_ERROR;
	}
	hash_hex(h, hash);
	if ((in == EMBED_TEXT && embed_text(m, inputs, n_inputs, &set) == -1) ||
	    (in == EMBED_VIDEO && embed_video(m, inputs, n_inputs, &set) == -1) ||
	    (in == EMBED_FRAMES && embed_frames_npy(m, npy_in, &set) == -1))
		goto out;
	if (fmt == EMBED_JSON) {
		FILE *f = out_path == NULL ? stdout : fopen(out_path, "w");

		if (f == NULL) {
			cli_error("%s: %s", cli_name(out_path), strerror(errno));
			goto out;
		}
		embed_write_json(f, &set, model_file, hash, model_get_config(m)->architecture, in,
		    inputs, n_inputs);
		if (ferror(f) || (f != stdout ? fclose(f) : fflush(f)) != 0) {
			cli_error("%s: write failed", cli_name(out_path ? out_path : "standard output"));
			goto out;
		}
	} else if (fmt == EMBED_SAFETENSORS) {
		if (embed_write_safetensors(out_path, &set, hash,
		    model_get_config(m)->architecture) == -1)
			goto out;
	} else if (embed_write_npy(out_path, &set) == -1)
		goto out;
	rc = CLI_EXIT_OK;
out:
	embed_set_free(&set);
	model_free(m);
	return rc;
}
