/*
 * import — turn a CLIP checkpoint into a clipgrep model file, in C,
 * byte for byte what tools/convert/convert.py writes for the same input
 * with default options: upstream tensor names (a "module." prefix dropped,
 * OpenAI's names given "clip."), dtypes kept (bfloat16 and float64 become
 * float32), the head detected from its tensors, the configuration and the
 * tokenizer in __metadata__, tensors in name order, the header JSON as
 * Python's json.dumps writes it (ASCII, "," and ":" separators).
 */
#ifndef CLIPGREP_IMPORT_H
#define CLIPGREP_IMPORT_H

/* What to import: convert.py's inputs. */
typedef struct {
	/*
	 * A torch.save checkpoint (.bin/.pt/.pth), a TorchScript archive
	 * (OpenAI's ViT-B-32.pt), a safetensors file (Hugging Face CLIPModel
	 * names, or upstream/OpenAI names), or a folder holding
	 * model.safetensors and/or pytorch_model.bin.  A folder, or a file
	 * named model.safetensors, brings vocab.json and merges.txt from beside
	 * it.
	 */
	const char *checkpoint;
	const char *vocab;   /* Hugging Face vocab.json, checked against the merges; or NULL */
	const char *merges;  /* Hugging Face merges.txt (or a bpe_simple_vocab file); or NULL */
	const char *bpe;     /* the merges when none is given or found (the bundled BPE), or NULL */
	const char *name;    /* clipgrep.name, or NULL for "BASE (KIND, ARCH)" */
} import_options;

/*
 * Convert o's checkpoint into out (a temporary file renamed into place),
 * byte for byte what convert.py writes for the same inputs.  The tokenizer
 * is, in order: o->merges, a merges.txt found beside the checkpoint, the
 * input's own clipgrep.tokenizer.merges, o->bpe; a vocab.json (o->vocab or
 * found beside) must agree with it.  On success *arch is the architecture
 * and *count the tensor count; -1 with *cause naming the file and the
 * reason.
 */
int import_model(const import_options *o, const char *out, const char **arch, int *count,
    char **cause);

/*
 * Convert the torch.save checkpoint at in into out (written to a
 * temporary file and renamed), with the BPE merges file bpe as the
 * tokenizer and name as clipgrep.name (NULL: convert.py's default, "BASE
 * (KIND, ARCH)").  On success *arch is the architecture ("clip", "ea",
 * "tcmgc") and *count the tensor count.  Returns -1 with *cause naming the
 * file and the reason.
 */
int import_torch(const char *in, const char *out, const char *bpe, const char *name,
    const char **arch, int *count, char **cause);

#endif
