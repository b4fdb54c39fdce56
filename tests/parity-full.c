/*
 * parity-full — run clipgrep's CLIP towers on the inputs that
 * tools/reference/parity_full.py prepared and write what they give, for
 * that script to compare with PyTorch at full ViT-B/32 size (`make
 * parity-full`; not part of make check).
 *
 *   tests/parity-full MODEL INPUTS OUTPUTS
 *
 * INPUTS holds "frames" [N, 3, S, S] and "ids" [Q, L] (I32); OUTPUTS gets
 * "image_embeds" [N, embed], and for the text tower with its default
 * kernel and with the BLAS: "sentence", "words", "sentence_only" (the
 * sentence computed without word features), "sentence_blas", "words_blas".
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "safetensors.h"
#include "tensor.h"
#include "textenc.h"
#include "vit.h"

static int fail(char *cause)
{
	fprintf(stderr, "parity-full: %s\n", cause != NULL ? cause : "failed");
	free(cause);
	return 1;
}

/* Encode every query with kernel k into s [Q, E], w [Q, L, E] (and s_only when not NULL). */
static int encode_text(model *m, linear_kernel k, const int32_t *ids, int Q, int L, int E,
    float *s, float *w, float *s_only, char **cause)
{
	textenc *t = textenc_new_kernel(m, L, k, cause);
	int rc = t != NULL ? 0 : -1;

	for (int q = 0; rc == 0 && q < Q; q++) {
		rc = textenc_encode(t, ids + (size_t)q * L, s + (size_t)q * E, w + (size_t)q * L * E, cause);
		if (rc == 0 && s_only != NULL)
			rc = textenc_encode(t, ids + (size_t)q * L, s_only + (size_t)q * E, NULL, cause);
	}
	textenc_free(t);
	return rc;
}

int main(int argc, char **argv)
{
	char *cause = NULL;
	model *m;
	st_file *in;
	st_writer *out;

	if (argc != 4) {
		fprintf(stderr, "usage: parity-full MODEL INPUTS OUTPUTS\n");
		return 2;
	}
	tensor_init_threads();
	if ((m = model_load(argv[1], &cause)) == NULL || (in = st_open(argv[2], &cause)) == NULL)
		return fail(cause);
	const model_config *c = model_get_config(m);
	const st_tensor *tf = st_find(in, "frames"), *ti = st_find(in, "ids");
	int S = c->image_size, E = c->embed_dim;
	if (tf == NULL || ti == NULL || tf->ndim != 4 || tf->shape[1] != 3 || tf->shape[2] != S ||
	    tf->shape[3] != S || ti->dtype != ST_I32 || ti->ndim != 2)
		return fail(NULL);
	int N = (int)tf->shape[0], Q = (int)ti->shape[0], L = (int)ti->shape[1];
	const int32_t *ids = ti->data;
	float *frames = tensor_alloc(tf->numel), *emb = tensor_alloc((size_t)N * E);
	float *s = tensor_alloc((size_t)Q * E), *w = tensor_alloc((size_t)Q * L * E);
	float *s_only = tensor_alloc((size_t)Q * E), *sb = tensor_alloc((size_t)Q * E);
	float *wb = tensor_alloc((size_t)Q * L * E);

	/* max_batch 4: the frames go through in chunks, as video ingest sends them. */
	vit *v = vit_new(m, 4, &cause);
	if (v == NULL || st_read_f32(in, tf, frames, &cause) == -1 ||
	    vit_encode(v, frames, N, emb, &cause) == -1 ||
	    encode_text(m, LINEAR_AUTO, ids, Q, L, E, s, w, s_only, &cause) == -1 ||
	    encode_text(m, LINEAR_BLAS, ids, Q, L, E, sb, wb, NULL, &cause) == -1)
		return fail(cause);
	fprintf(stderr, "parity-full: %d frames, %d queries of %d tokens; text kernel %s\n", N, Q,
	    L, linear_kernel_name(LINEAR_AUTO));

	out = st_writer_new();
	int64_t se[2] = { N, E }, sq[2] = { Q, E }, sw[3] = { Q, L, E };
	if (st_writer_add_f32(out, "image_embeds", 2, se, emb, &cause) == -1 ||
	    st_writer_add_f32(out, "sentence", 2, sq, s, &cause) == -1 ||
	    st_writer_add_f32(out, "words", 3, sw, w, &cause) == -1 ||
	    st_writer_add_f32(out, "sentence_only", 2, sq, s_only, &cause) == -1 ||
	    st_writer_add_f32(out, "sentence_blas", 2, sq, sb, &cause) == -1 ||
	    st_writer_add_f32(out, "words_blas", 3, sw, wb, &cause) == -1 ||
	    st_writer_set_metadata(out, "text_kernel", linear_kernel_name(LINEAR_AUTO), &cause) == -1 ||
	    st_writer_save(out, argv[3], &cause) == -1)
		return fail(cause);
	st_writer_free(out);
	vit_free(v);
	st_close(in);
	model_free(m);
	tensor_free(frames);
	tensor_free(emb);
	tensor_free(s);
	tensor_free(w);
	tensor_free(s_only);
	tensor_free(sb);
	tensor_free(wb);
	return 0;
}
