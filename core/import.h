/*
 * import — turn a PyTorch checkpoint into a clipgrep model file, in C,
 * byte for byte what tools/convert/convert.py writes for the same input
 * with default options: upstream tensor names (a "module." prefix dropped,
 * OpenAI's names given "clip."), dtypes kept (bfloat16 and float64 become
 * float32), the head detected from its tensors, the configuration and the
 * tokenizer in __metadata__, tensors in name order, the header JSON as
 * Python's json.dumps writes it (ASCII, "," and ":" separators).
 */
#ifndef CLIPGREP_IMPORT_H
#define CLIPGREP_IMPORT_H

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
