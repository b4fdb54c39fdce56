/*
 * parallel — a fork-join over a small pool of POSIX threads.
 *
 * The text tower makes about a hundred parallel calls per query, a few
 * hundred microseconds apart, so starting threads per call (~20 us each)
 * would cost a millisecond.  Instead the pool's workers are started on
 * first use and kept: after a job each spins briefly on the job counter
 * (the next call usually comes within microseconds) and then sleeps on a
 * condition variable.  Every worker acknowledges every job, so a job's
 * description is never overwritten while a worker may still read it.
 *
 * The pool serves one caller at a time.  A second, concurrent caller (two
 * threads encoding at once, or a part that itself calls parallel_run)
 * starts its own threads for that call instead of waiting.  After fork()
 * the child starts with an empty pool.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "parallel.h"
#include "tensor.h"
#include "util.h"

/* How long a worker, or the caller, spins before it sleeps. */
#define PARALLEL_SPIN_SECONDS 50e-6

typedef struct {
	void (*fn)(void *ctx, int part, int parts);
	void *ctx;
	int part, parts;
} parallel_part;

static pthread_mutex_t parallel_owner = PTHREAD_MUTEX_INITIALIZER; /* one caller at a time */
static pthread_mutex_t parallel_mutex = PTHREAD_MUTEX_INITIALIZER; /* guards the sleeps */
static pthread_cond_t parallel_go = PTHREAD_COND_INITIALIZER;
static pthread_cond_t parallel_done = PTHREAD_COND_INITIALIZER;
static atomic_uint parallel_job;     /* incremented once per job */
static atomic_int parallel_pending;  /* workers yet to finish (or skip) the current job */
static int parallel_workers;         /* started; worker i runs part i (1-based) */
static void (*parallel_fn)(void *, int, int);
static void *parallel_ctx;
static int parallel_parts;
static unsigned parallel_start_job; /* the job counter when the newest workers started */
static pthread_once_t parallel_once = PTHREAD_ONCE_INIT;

static inline void parallel_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Spin until *v != old or PARALLEL_SPIN_SECONDS pass; returns the last value read. */
static unsigned parallel_spin_job(unsigned old)
{
	unsigned v = atomic_load_explicit(&parallel_job, memory_order_acquire);
	double until = 0;

	for (int i = 0; v == old; i++) {
		if ((i & 63) == 0) {
			double now = util_now();
			if (until == 0)
				until = now + PARALLEL_SPIN_SECONDS;
			else if (now > until)
				break;
		}
		parallel_relax();
		v = atomic_load_explicit(&parallel_job, memory_order_acquire);
	}
	return v;
}

static void *parallel_worker(void *arg)
{
	int index = (int)(intptr_t)arg;
	/* Started before the job it is for was published: wait for the next one. */
	unsigned seen = parallel_start_job;

	for (;;) {
		unsigned job = parallel_spin_job(seen);
		if (job == seen) {
			pthread_mutex_lock(&parallel_mutex);
			while ((job = atomic_load(&parallel_job)) == seen)
				pthread_cond_wait(&parallel_go, &parallel_mutex);
			pthread_mutex_unlock(&parallel_mutex);
		}
		seen = job;
		if (index < parallel_parts)
			parallel_fn(parallel_ctx, index, parallel_parts);
		if (atomic_fetch_sub_explicit(&parallel_pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&parallel_mutex);
			pthread_cond_signal(&parallel_done);
			pthread_mutex_unlock(&parallel_mutex);
		}
	}
	return NULL;
}

/* In a fork()ed child the workers do not exist: start again from none. */
static void parallel_after_fork(void)
{
	pthread_mutex_init(&parallel_owner, NULL);
	pthread_mutex_init(&parallel_mutex, NULL);
	pthread_cond_init(&parallel_go, NULL);
	pthread_cond_init(&parallel_done, NULL);
	parallel_workers = 0;
}

static void parallel_init(void)
{
	pthread_atfork(NULL, NULL, parallel_after_fork);
}

static void *parallel_thread(void *arg)
{
	parallel_part *p = arg;

	p->fn(p->ctx, p->part, p->parts);
	return NULL;
}

/* The pool is busy: threads for this call only. */
static void parallel_run_unpooled(void (*fn)(void *, int, int), void *ctx, int n)
{
	parallel_part parts[PARALLEL_MAX_PARTS];
	pthread_t threads[PARALLEL_MAX_PARTS];
	int started[PARALLEL_MAX_PARTS] = { 0 };

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

void parallel_run(void (*fn)(void *ctx, int part, int parts), void *ctx, size_t work,
    size_t min_work, int max_parts)
{
	int n = tensor_threads();

	if (min_work > 0 && (size_t)n > work / min_work)
		n = (int)(work / min_work);
	if (n > max_parts)
		n = max_parts;
	parallel_run_parts(fn, ctx, n);
}

void parallel_run_parts(void (*fn)(void *ctx, int part, int parts), void *ctx, int n)
{
	if (n > PARALLEL_MAX_PARTS)
		n = PARALLEL_MAX_PARTS;
	if (n <= 1) {
		fn(ctx, 0, 1);
		return;
	}
	pthread_once(&parallel_once, parallel_init);
	if (pthread_mutex_trylock(&parallel_owner) != 0) {
		parallel_run_unpooled(fn, ctx, n);
		return;
	}
	parallel_start_job = atomic_load(&parallel_job);
	while (parallel_workers < n - 1) {
		pthread_t t;
		pthread_attr_t attr;
		int ok;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&t, &attr, parallel_worker,
		    (void *)(intptr_t)(parallel_workers + 1)) == 0;
		pthread_attr_destroy(&attr);
		if (!ok)
			break;
		parallel_workers++;
	}
	if (parallel_workers < n - 1)
		n = parallel_workers + 1; /* could not start more: fewer, larger parts */
	if (n <= 1) {
		pthread_mutex_unlock(&parallel_owner);
		fn(ctx, 0, 1);
		return;
	}

	/* Publish the job, then bump the counter the workers watch. */
	parallel_fn = fn;
	parallel_ctx = ctx;
	parallel_parts = n;
	atomic_store(&parallel_pending, parallel_workers);
	pthread_mutex_lock(&parallel_mutex);
	atomic_fetch_add_explicit(&parallel_job, 1, memory_order_release);
	pthread_cond_broadcast(&parallel_go);
	pthread_mutex_unlock(&parallel_mutex);

	fn(ctx, 0, n);

	for (int i = 0; atomic_load(&parallel_pending) > 0 && i < 4096; i++)
		parallel_relax();
	if (atomic_load(&parallel_pending) > 0) {
		pthread_mutex_lock(&parallel_mutex);
		while (atomic_load(&parallel_pending) > 0)
			pthread_cond_wait(&parallel_done, &parallel_mutex);
		pthread_mutex_unlock(&parallel_mutex);
	}
	pthread_mutex_unlock(&parallel_owner);
}
