/*
 * model — one clipgrep model file: the weights (a safetensors file, mapped),
 * the configuration in its __metadata__, and the tokenizer.
 *
 * Tensors are looked up by their upstream PyTorch names (MODELS.md):
 * "clip.visual.proj", "transformerClip.resblocks.3.mlp.c_fc.bias", ...  A
 * file may instead carry OpenAI ViT-B-32.pt names (no "clip." prefix) or
 * Hugging Face openai/clip-vit-base-patch32 names; the lookup maps those
 * onto the upstream names, concatenating q/k/v projections and transposing
 * projections where the layouts differ.
 *
 * __metadata__ keys (all values are strings, as safetensors requires):
 *   clipgrep.architecture       "clip" | "ea" | "tcmgc"  (default "clip")
 *   clipgrep.name               a human-readable description
 *   clipgrep.frames             F, frames per video (default 12)
 *   clipgrep.max_words          L, tokens per query (default 32, or the
 *                               context length if shorter)
 *   clipgrep.embed_dim, clipgrep.vision.{width,layers,heads,patch,image_size},
 *   clipgrep.text.{width,layers,heads,context_length,vocab_size}
 *                               optional: inferred from tensor shapes
 *                               (heads = width / 64) and cross-checked
 *   clipgrep.tokenizer.merges   the BPE merges text (bpe_simple_vocab format)
 *   clipgrep.<head>.*           head settings, read by core/ea and core/tcmgc
 *   clipgrep.ea.sim_header      meanP | seqLSTM | seqTransf | tightTransf (core/ea.h)
 *   clipgrep.ea.se_type         none | excitation | aggregation | excitation_aggregation |
 *                               excitation_seq | excitation_seq_aggregation
 *   clipgrep.ea.reduction_ratio r (float; hidden = int(F // r))
 *   clipgrep.ea.aggregation_type unity | squeeze_expand | expand_squeeze
 *   clipgrep.tcmgc.keep_rate    k = max(1, int(L * keep_rate)) (default 0.1; core/tcmgc.h)
 *   clipgrep.tcmgc.k            explicit k (overrides keep_rate)
 *   clipgrep.tcmgc.softmax_lambda  λ of the ISA softmaxes (default 100)
 *   clipgrep.heads              a multi-head file: its heads' names, ','-separated
 *
 * Multi-head files.  One file may hold the CLIP towers once and several
 * heads (doc/models.md, "One file, several heads").  clipgrep.heads lists
 * them ("tcmgc,ea,ea-seq,meanp"); model_load_head(path, name) gives head
 * name's view of the file, a model in its own right: a tensor X resolves
 * to "head.<name>.X" when the file has it, else to the shared X (so a head
 * may carry its own text tower, or a part of it, over the shared towers),
 * and a metadata key "clipgrep.K" to "clipgrep.head.<name>.K" when present,
 * else "clipgrep.K" (each head's architecture, name and settings).  Loaded
 * whole (model_load), the file is what its shared tensors and keys say:
 * writers make that the CLIP stage (architecture "clip"), so a program
 * that knows nothing of heads still reads it as a CLIP model.
 *
 * Sparse tables.  A tensor "X.weight" [n, W] with a sibling "X.rows" (I32
 * [n]) stores only rows rows[i] of the [clipgrep.text.vocab_size, W] table
 * X.weight; the other rows are zero.  Made for the token embedding of a
 * model trained on a small vocabulary (the demo model's 202 of 49408).
 */
#ifndef CLIPGREP_MODEL_H
#define CLIPGREP_MODEL_H

#include <stdint.h>

#include "safetensors.h"
#include "tokenizer.h"

typedef struct {
	char architecture[16]; /* "clip", "ea" or "tcmgc" */
	int embed_dim;         /* joint embedding width (512) */
	int vision_width, vision_layers, vision_heads, vision_patch, image_size;
	int text_width, text_layers, text_heads, context_length, vocab_size;
	int frames;    /* F */
	int max_words; /* L */
} model_config;

typedef struct model model;

/*
 * Map path, read and check its configuration, and check the shape of
 * every tensor both CLIP towers need (no data is read): a file with a
 * missing or mis-shaped tower tensor, or with dimensions no CLIP can have
 * (zero, or beyond the limits in model.c), is refused here.  Errors name
 * the file, the tensor, its shape and the shape expected.  Head tensors
 * (EA, TC-MGC, temporal) are checked when their module loads them.
 */
model *model_load(const char *path, char **cause);
/*
 * model_load with flags.  MODEL_LOAD_NO_TOWERS skips the tower check, for
 * files that carry only the clip.* tensors the configuration is read from
 * plus heads (the head fixtures in tests/golden/heads-*.safetensors,
 * bench-search's model); a tower built on such a file still fails, when
 * model_tensor finds the first missing tensor.
 */
#define MODEL_LOAD_NO_TOWERS 0x1
model *model_load_flags(const char *path, int flags, char **cause);
/*
 * Head head's view of a multi-head file (head NULL: model_load_flags):
 * refused with "<path>: no head 'x' (the file's heads: a,b)" when the file
 * does not list it.  The view is checked as model_load_flags checks a file.
 */
model *model_load_head(const char *path, const char *head, int flags, char **cause);
/* The clipgrep.heads list of m's file, or NULL for a single model. */
const char *model_heads(const model *m);
/* The head m is a view of, or NULL. */
const char *model_head(const model *m);
/* Longest head name. */
#define MODEL_HEAD_NAME_MAX 31
/*
 * Walk a clipgrep.heads list: the next name into name[size] and *list past
 * it; 1, 0 at the end, -1 for a malformed name (characters outside a-z,
 * 0-9, '-', '_', empty, or longer than MODEL_HEAD_NAME_MAX).
 */
int model_heads_next(const char **list, char *name, size_t size);
void model_free(model *m);

const char *model_path(const model *m);
const model_config *model_get_config(const model *m);

/* Whether a tensor exists under its upstream name (after name mapping). */
int model_has(model *m, const char *name);

/*
 * The tensor with upstream name `name`, widened to fp32, checked to have
 * the given shape (ndim dims).  The pointer is owned by m and stays valid
 * until model_free.  Errors name the file and the tensor, e.g.
 * "model.safetensors: clip.visual.proj: expected [768,512], file has [512,768]".
 */
const float *model_tensor(model *m, const char *name, int ndim, const int64_t *shape,
    char **cause);
/*
 * The file's own tensor for upstream name, shape-checked as model_tensor
 * does, when the file stores it as one float tensor in upstream layout:
 * 0 and *out (owned by m, valid until model_free; read it with st_widen).
 * 1 when the file stores it otherwise (q/k/v parts, transposed, a sparse table, not a
 * float): use model_tensor.  -1 with *cause when missing or mis-shaped.
 * For tensors read a few rows at a time (the token embedding), which then
 * need no fp32 copy; reading *out needs no lock on m.
 */
int model_tensor_in_file(model *m, const char *name, int ndim, const int64_t *shape,
    const st_tensor **out, char **cause);
/*
 * t (from model_tensor_in_file) is not needed for now: drop its pages from
 * the resident set (st_release); they come back from the file if read
 * again.  For a tower that packed t into its own layout.
 */
void model_tensor_in_file_release(model *m, const st_tensor *t);

/*
 * Free model_tensor's fp32 copy of name: every pointer to it becomes
 * invalid, and a later model_tensor reads it from the file again.  For
 * weights that a tower has packed into its own layout (core/linear), so
 * that a model is not resident twice; the caller must know that nothing
 * else holds the pointer (towers built on m one at a time, or reading
 * other tensors).  Unknown or never-read names are a no-op.
 */
void model_tensor_release(model *m, const char *name);

/* Shorthands; name is a printf format. */
const float *model_tensor_1d(model *m, int64_t d0, char **cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const float *model_tensor_2d(model *m, int64_t d0, int64_t d1, char **cause,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A metadata value, or NULL. */
const char *model_meta(const model *m, const char *key);
/*
 * Integer / float metadata with a default for a missing key.  A present
 * but malformed value is an error naming the file and the key.
 */
int model_meta_int(const model *m, const char *key, int fallback, int *out, char **cause);
int model_meta_float(const model *m, const char *key, float fallback, float *out, char **cause);

/*
 * The tokenizer stored in the file (clipgrep.tokenizer.merges), built on
 * first use and owned by m; NULL with *cause when the file carries none.
 */
tokenizer *model_tokenizer(model *m, char **cause);

/* ---- inspection (`clipgrep model check`) --------------------------------- */

typedef void (*model_check_fn)(void *arg, const char *name, const char *why);
/*
 * The tower check model_load does, run to the end instead of stopping at
 * the first problem: for each tower tensor that is missing or mis-shaped,
 * fn gets its upstream name and the message model_load would give.  Meant
 * for a model loaded with MODEL_LOAD_NO_TOWERS.  Returns the count (0: the
 * towers are complete).
 */
int model_check_all(model *m, model_check_fn fn, void *arg);
/*
 * The file's own tensors (0 <= i < model_file_count), by their names in the
 * file: the name (owned by m), its dtype name ("F32", ...) and whether any
 * lookup so far (the load-time checks, model_has, model_tensor: i.e. every
 * loader run on m) found it.  NULL past the end.
 */
size_t model_file_count(const model *m);
const char *model_file_tensor(const model *m, size_t i, const char **dtype, int *used);

#endif
