/*
 * test-import — the refusals of import_model on Hugging Face names
 * (core/import.c's from_hf), each naming the file and the tensor, with
 * nothing written: a q projection without its k and v, q/k/v of different
 * dtypes, an unknown Hugging Face name, a projection that is not a matrix,
 * a folder with no checkpoint.  The successful conversions of all three
 * formats are tests/cli-import.sh's (byte for byte against convert.py);
 * these are the error paths, whose bookkeeping ASan watches.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import.h"
#include "safetensors.h"
#include "tap.h"

static char tmp[] = "/tmp/clipgrep-test-import.XXXXXX";
static const char *bpe = CLIPGREP_SRCDIR "/assets/bpe_simple_vocab_16e6.txt.gz";

/* A file of f32 tensors (names[i], with 1-D or 2-D shapes), plus one F16 tensor when f16 is given. */
static const char *write_hf(const char *file, const char *const *names, int n, const int *ndims,
    const char *f16)
{
	static char path[512];
	st_writer *w = st_writer_new();
	float data[64] = { 0 };
	uint16_t half[64] = { 0 };
	int64_t shape[2] = { 4, 4 };

	snprintf(path, sizeof path, "%s/%s", tmp, file);
	for (int i = 0; i < n; i++)
		st_writer_add_f32(w, names[i], ndims[i], shape, data, NULL);
	if (f16 != NULL)
		st_writer_add(w, f16, ST_F16, 2, shape, half, NULL);
	st_writer_save(w, path, NULL);
	st_writer_free(w);
	return path;
}

/* import_model on path must fail with a cause containing want, and write nothing. */
static void refuse(const char *path, const char *want, const char *what)
{
	char out[600], *cause = NULL;
	import_options o = { path, NULL, NULL, bpe, NULL };
	const char *arch = NULL;
	int count = 0, rc;

	snprintf(out, sizeof out, "%s/out.safetensors", tmp);
	rc = import_model(&o, out, &arch, &count, &cause);
	tap_ok(rc == -1 && cause != NULL && strstr(cause, want) != NULL && access(out, F_OK) != 0,
	    "%s: refused (%s)", what, cause != NULL ? cause : "no cause");
	free(cause);
	unlink(out);
}

int main(void)
{
	static const char *const lone_q[] = {
		"vision_model.embeddings.class_embedding",
		"vision_model.encoder.layers.0.self_attn.q_proj.weight",
		"vision_model.encoder.layers.0.layer_norm1.weight",
	};
	static const char *const mixed[] = {
		"vision_model.encoder.layers.3.self_attn.q_proj.weight",
		"vision_model.encoder.layers.3.self_attn.k_proj.weight",
		"text_model.embeddings.position_ids",
	};
	static const char *const unknown[] = {
		"vision_model.embeddings.class_embedding",
		"text_model.final_layer_norm.weight",
		"vision_model.encoder.layers.1.frobnicate.weight",
	};
	static const char *const flat[] = {
		"vision_model.embeddings.class_embedding",
		"visual_projection.weight",
	};
	static const int two[] = { 1, 2, 1 }, ones[] = { 1, 1, 1 }, mats[] = { 2, 2, 1 };
	char empty[600];

	if (mkdtemp(tmp) == NULL) {
		tap_ok(0, "mkdtemp");
		return tap_done();
	}
	if (access(bpe, R_OK) != 0)
		return tap_skip_all("no bundled BPE (assets/bpe_simple_vocab_16e6.txt.gz)");
	refuse(write_hf("lone.safetensors", lone_q, 3, two, NULL), "incomplete q/k/v",
	    "a q projection without k and v");
	refuse(write_hf("mixed.safetensors", mixed, 3, mats,
	    "vision_model.encoder.layers.3.self_attn.v_proj.weight"), "different shapes or dtypes",
	    "q/k/v projections of different dtypes");
	refuse(write_hf("unknown.safetensors", unknown, 3, ones, NULL),
	    "'vision_model.encoder.layers.1.frobnicate.weight': unknown", "an unknown Hugging Face name");
	refuse(write_hf("flat.safetensors", flat, 2, ones, NULL), "not a matrix",
	    "a projection that is not a matrix");
	snprintf(empty, sizeof empty, "%s/empty", tmp);
	mkdir(empty, 0755);
	refuse(empty, "a folder without model.safetensors", "a folder with no checkpoint");
	rmdir(empty);
	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmp);
	}
	return tap_done();
}
