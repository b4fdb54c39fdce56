/*
 * parallel — run a function on the cores the BLAS uses, for the work the
 * BLAS does not thread: elementwise operators, the many tiny per-head
 * attention products, and the few-row products of core/linear.
 */
#ifndef CLIPGREP_PARALLEL_H
#define CLIPGREP_PARALLEL_H

#include <stddef.h>

/* The most parts parallel_run splits work into. */
#define PARALLEL_MAX_PARTS 16

/*
 * Call fn(ctx, part, parts) for part = 0 .. parts-1 and return when all
 * have finished; part 0 runs on the calling thread.  parts is
 * tensor_threads(), lowered so that each part gets at least min_work of
 * `work` (in whatever unit the caller counts), and at most max_parts.  fn
 * must only write what its part owns.  When a thread cannot be started,
 * its part runs on the caller: the result never depends on the count.
 */
void parallel_run(void (*fn)(void *ctx, int part, int parts), void *ctx, size_t work,
    size_t min_work, int max_parts);

/*
 * parallel_run with exactly `parts` parts (1 .. PARALLEL_MAX_PARTS; more
 * are clamped), whatever tensor_threads() says: for work that has a
 * thread count of its own, such as a search's (core/search), so that it
 * too runs on the pool's threads rather than starting its own.
 */
void parallel_run_parts(void (*fn)(void *ctx, int part, int parts), void *ctx, int parts);

#endif
