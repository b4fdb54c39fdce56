/*
 * heads — the one owner of "what a video's stored record is": which model
 * file supplies each search head, which heads each file contributes to the
 * index, the names and sizes of the per-video tensors, model identity, and
 * the two computations every caller shares: a video's record from its frame
 * embeddings, and a query's encoding by a file's text tower.  The indexer,
 * the engine, `clipgrep embed`, `clipgrep export` and the benchmarks all go
 * through here; adding a head touches this file and the head's own
 * (doc/adding-a-head.md).
 *
 * Entries.  A set has one entry (heads_file) per model file given, except
 * that a multi-head file (clipgrep.heads, core/model.h) gives one entry per
 * head, each a view of the file with its own architecture, text tower and
 * head, and its own identity in the index (a hash of the file's hash and
 * the head's name), so each head stores its own record, caches included,
 * exactly as separate files would.  Views that share the image tower
 * share its frame encoding at index time (heads_vision_hash).
 *
 * Models.  Each entry is arch "clip", "ea" or "tcmgc" (core/model.h):
 *   "tcmgc"  gives a TC-MGC head (and its own text tower)
 *   "ea"     gives an EA head (and its own text tower)
 *   "clip"   gives both heads in their training-free form
 * Search (HEADS_FOR_SEARCH): the TC-MGC head is taken from the first
 * "tcmgc" file given, else the first "clip" file; the EA head from the
 * first "ea" file, else the first "clip" file.  Only those heads are
 * loaded; other files are loaded and ignored.  The two heads must agree on
 * F and the embedding width.
 * Indexing (HEADS_FOR_INDEX): every file contributes every head it gives,
 * and all files must agree on F and the image size.
 *
 * The record, per (video, model file), in the index:
 *   HEADS_KIND_FRAMES  [F, D]  raw CLIP frame embeddings; a video with
 *                              fewer than F frames is padded, as upstream,
 *                              with the embedding of an all-zero image
 *                              (vit_encode_blank), mask 0 (MODELS.md §1.4).
 *                              Indexes of schema 1 padded with zero rows:
 *                              index_list_zero_padded finds those.
 *   HEADS_KIND_TCMGC   [tcmgc_video_cache_floats]  (files giving TC-MGC)
 *   HEADS_KIND_EA      [ea_video_cache_floats]     (files giving EA)
 * A long video (schema 3, core/index.h index_segment) is S segments, each
 * a record as above; its tensors hold them stacked segment by segment:
 * "frames" [S * F, D], each cache [S * floats].  heads_record_prepare
 * makes one segment's record; the indexer stacks them.
 * The strings are stored in existing indexes: never change them.  Models
 * are identified in the index by the content hash of their file
 * (hash_file), so a renamed model file keeps its caches.
 *
 * Threads: a heads_set is used by one thread at a time; model_tensor is not
 * thread-safe, so a text tower may be built on a helper thread only while
 * nothing else touches the set's models (core/engine does so).
 */
#ifndef CLIPGREP_HEADS_H
#define CLIPGREP_HEADS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ea.h"
#include "hash.h"
#include "index.h"
#include "linear.h"
#include "model.h"
#include "tcmgc.h"
#include "tokenizer.h"

/* Per-video tensor kinds in the index (index_tensor.kind). */
#define HEADS_KIND_FRAMES "frames"
#define HEADS_KIND_TCMGC "cache.tcmgc"
#define HEADS_KIND_EA "cache.ea"
/* Tensors one file writes per video at most (frames and one per head). */
#define HEADS_MAX_TENSORS 3

typedef enum { HEADS_TCMGC, HEADS_EA, HEADS_KINDS } heads_kind;

typedef enum {
	HEADS_FILES_ONLY,  /* load and hash the files; no head (export) */
	HEADS_FOR_SEARCH,  /* one file supplies each head (the engine) */
	HEADS_FOR_INDEX    /* every file gives every head it has (the indexer, embed) */
} heads_use;

/* Whether a file of architecture arch gives head k (1) or not (0). */
int heads_arch_gives(const char *arch, heads_kind k);

/*
 * The search rule over the files' architectures (archs[n], in priority
 * order): chosen[k] gets the index of the file supplying head k, or -1.
 * Returns 0, or -1 with "<names[0]>: architecture '<archs[0]>' gives no
 * search head" when no file gives any head.
 */
int heads_choose(const char *const *archs, const char *const *names, int n,
    int chosen[HEADS_KINDS], char **cause);

/* One model file of a set.  Fields are read-only for callers. */
typedef struct {
	model *m;
	char *path;
	char *head;  /* the head of a multi-head file this entry is, or NULL */
	uint8_t hash[HASH_SIZE];      /* hash_file of the file */
	char hex[2 * HASH_SIZE + 1];  /* the same, hex */
	tcmgc *tc;   /* its TC-MGC head when loaded for this use, or NULL */
	ea *ea;      /* its EA head when loaded for this use, or NULL */
	int tower;   /* HEADS_FOR_INDEX with several files: the first file whose
	                image tower is identical (itself when none); else its own index */
	int F, D;    /* frames per video, embedding width */
} heads_file;

typedef struct heads_set heads_set;

/*
 * Load and hash the model files (paths[n], n >= 1, in priority order) and
 * their heads for use.  NULL with a cause naming the file and the reason
 * ("<model>: architecture 'x' gives no search head", "<model>: 12 frames
 * of 224 pixels, but <other> has ...: models indexed together must agree",
 * "the TC-MGC head of A and the EA head of B: ... disagree on frames or
 * width", ...).  Free with heads_free.
 */
heads_set *heads_open(const char *const *paths, int n, heads_use use, char **cause);
/*
 * heads_open, where a multi-head file gives only its head named only (NULL:
 * every head): "<path>: no head 'x' (the file's heads: ...)" when a file
 * given lists heads but not that one.  The engine opens one head of a file
 * this way for a mode that names it.
 */
heads_set *heads_open_head(const char *const *paths, int n, heads_use use, const char *only,
    char **cause);
/* NULL is a no-op; safe on a half-built set. */
void heads_free(heads_set *h);

int heads_count(const heads_set *h);
/* File i (0 <= i < heads_count); owned by h. */
heads_file *heads_file_at(heads_set *h, int i);
/* HEADS_FOR_SEARCH: the file supplying head k, or NULL. */
heads_file *heads_supplier(heads_set *h, heads_kind k);
/*
 * HEADS_FOR_SEARCH: the heads of multi-head files that supply neither
 * engine head (the second EA variant, the meanP baseline, ...), in file
 * order: each is a search mode of its own, named by its head (core/engine).
 * Their heads are not loaded here (heads_open_head loads one).
 */
int heads_extra_count(const heads_set *h);
heads_file *heads_extra_at(heads_set *h, int j);
/* F and the image size every file agrees on (HEADS_FOR_INDEX), else file 0's. */
int heads_frames(const heads_set *h);
int heads_image_size(const heads_set *h);

/* ---- identity ----------------------------------------------------------- */

/*
 * The models-table row of f: info's strings point into f and json (a
 * caller buffer of size bytes, 1024 is enough), which must outlive info.
 */
void heads_model_info(const heads_file *f, index_model_info *info, char *json, size_t size);
/*
 * A hash of m's image tower (config and every vision tensor), equal for
 * files whose towers compute the same function, so they can share one.
 */
int heads_vision_hash(model *m, uint8_t out[HASH_SIZE], char **cause);

/* ---- a video's record ----------------------------------------------------- */

typedef struct heads_record heads_record;

/* Buffers for f's record (f stays owned by its set and must outlive r). */
heads_record *heads_record_new(const heads_file *f, char **cause);
void heads_record_free(heads_record *r);
/*
 * Fill the record from frame embeddings rows [n, D] (n <= F) of f's tower:
 * the frames padded to F with copies of pad [D] (the tower's
 * vit_encode_blank: zero images, as upstream), the mask (1 for the n real
 * frames), each head's cache.  pad may be NULL only when n >= F.  -1 with
 * *cause when a head fails or pad is missing.
 */
int heads_record_prepare(heads_record *r, const float *rows, int n, const float *pad,
    char **cause);
/*
 * The record as index tensors for model_id into out[HEADS_MAX_TENSORS]
 * (pointers into r, valid until the next prepare); returns the count.
 */
int heads_record_tensors(const heads_record *r, int64_t model_id, index_tensor *out);
const float *heads_record_frames(const heads_record *r);  /* [F, D] */
const float *heads_record_mask(const heads_record *r);    /* [F] 1 real, 0 padding */

/* ---- a query's encoding --------------------------------------------------- */

typedef struct heads_text heads_text;

/* The text side of a query, as the last heads_text_encode left it. */
typedef struct {
	int L, D;
	int n_tokens;           /* real tokens: SOT, the words, EOT (<= L) */
	int truncated;          /* the query had more than L - 2 word tokens */
	const int32_t *ids;     /* [L] token ids, zero-padded */
	const float *sentence;  /* [D] raw text-tower sentence feature */
	const float *words;     /* [L, D] raw per-token features */
} heads_encoding;

/*
 * f's tokenizer and text tower for sequences of L tokens (L <= 0: the
 * length f's heads read: tcmgc_words of its TC-MGC head when loaded, else
 * max_words, else the context length).
 */
heads_text *heads_text_new(heads_file *f, int L, char **cause);
/* The same with the text tower's kernel chosen (textenc_new_kernel; a bf16 kernel: bf16). */
heads_text *heads_text_new_kernel(heads_file *f, int L, linear_kernel kernel, char **cause);
void heads_text_free(heads_text *t);
/*
 * Encode query unless it is the text encoded last; *fresh (may be NULL)
 * says whether it was encoded now.  -1 with *cause.
 */
int heads_text_encode(heads_text *t, const char *query, int *fresh, char **cause);
/*
 * The same, giving up when *cancel (may be NULL) becomes nonzero during
 * the encoding (textenc_encode_cancellable): then 1, and no text is held,
 * so the next call encodes afresh.
 */
int heads_text_encode_cancellable(heads_text *t, const char *query, int *fresh,
    atomic_int *cancel, char **cause);
const heads_encoding *heads_text_get(const heads_text *t);
tokenizer *heads_text_tokenizer(const heads_text *t);

#endif
