/*
 * parallel — a fork-join over POSIX threads.  A thread per part per call
 * costs tens of microseconds, which callers amortise by passing min_work;
 * there is no pool to start, stop or leak.
 */
#include "config.h"

#include <pthread.h>

#include "parallel.h"
#include "tensor.h"

typedef struct {
	void (*fn)(void *ctx, int part, int parts);
	void *ctx;
	int part, parts;
} parallel_part;

static void *parallel_thread(void *arg)
{
	parallel_part *p = arg;

	p->fn(p->ctx, p->part, p->parts);
	return NULL;
}

void parallel_run(void (*fn)(void *ctx, int part, int parts), void *ctx, size_t work,
    size_t min_work, int max_parts)
{
	parallel_part parts[PARALLEL_MAX_PARTS];
	pthread_t threads[PARALLEL_MAX_PARTS];
	int started[PARALLEL_MAX_PARTS] = { 0 };
	int n = tensor_threads();

	if (min_work > 0 && (size_t)n > work / min_work)
		n = (int)(work / min_work);
	if (n > max_parts)
		n = max_parts;
	if (n > PARALLEL_MAX_PARTS)
		n = PARALLEL_MAX_PARTS;
	if (n <= 1) {
		fn(ctx, 0, 1);
		return;
	}
	for (int i = 0; i < n; i++)
		parts[i] = (parallel_part){ fn, ctx, i, n };
	for (int i = 1; i < n; i++)
		started[i] = pthread_create(&threads[i], NULL, parallel_thread, &parts[i]) == 0;
	fn(ctx, 0, n);
	for (int i = 1; i < n; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
		else
			fn(ctx, i, n);
	}
}
