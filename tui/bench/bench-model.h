/*
 * bench-model — random ViT-B/32-shaped model files for the benchmarks.
 */
#ifndef CLIPGREP_BENCH_MODEL_H
#define CLIPGREP_BENCH_MODEL_H

/*
 * Write a random ViT-B/32-shaped model (architecture "clip", F = 12,
 * L = 32, a tiny tokenizer) to a new temporary file in $TMPDIR, built by a
 * child process.  f16: store the weights F16 where the upstream checkpoint
 * has fp16.  Returns the path (bench_model_remove removes it), or NULL
 * after printing why.
 */
char *bench_model_make(int f16);
/*
 * Unlink and free a file bench_model_make returned (NULL is ignored).  Until
 * then, a SIGINT, SIGTERM or SIGHUP that ends the benchmark unlinks it
 * first: the file is hundreds of MB.
 */
void bench_model_remove(char *path);

#endif
