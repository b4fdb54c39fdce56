/*
 * metrics — R@K, MdR, MnR and bootstrap intervals.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

const char *metrics_name(int k)
{
	static const char *const names[METRICS_N] = { "R@1", "R@5", "R@10", "MdR", "MnR" };

	return k >= 0 && k < METRICS_N ? names[k] : NULL;
}

/* splitmix64: a fixed, portable stream (the same intervals everywhere). */
static uint64_t metrics_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n): the multiply-shift map, whose bias is below 2^-32 for n < 2^32. */
static size_t metrics_pick(uint64_t *state, size_t n)
{
	return (size_t)(((metrics_next(state) >> 32) * (uint64_t)n) >> 32);
}

static int metrics_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int metrics_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

double metrics_percentile(const double *sorted, size_t n, double q)
{
	double pos = q / 100.0 * (double)(n - 1);
	size_t i = (size_t)pos;

	if (n == 0)
		return 0;
	if (i + 1 >= n)
		return sorted[n - 1];
	return sorted[i] + (pos - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* The five values of ranks[n]; scratch[n] gets them sorted. */
static void metrics_point(const int *ranks, size_t n, int *scratch, double *v)
{
	double r1 = 0, r5 = 0, r10 = 0, sum = 0;

	for (size_t i = 0; i < n; i++) {
		r1 += ranks[i] <= 1;
		r5 += ranks[i] <= 5;
		r10 += ranks[i] <= 10;
		sum += ranks[i];
		scratch[i] = ranks[i];
	}
	qsort(scratch, n, sizeof *scratch, metrics_cmp_int);
	v[METRICS_R1] = 100.0 * r1 / (double)n;
	v[METRICS_R5] = 100.0 * r5 / (double)n;
	v[METRICS_R10] = 100.0 * r10 / (double)n;
	v[METRICS_MDR] = n % 2 ? scratch[n / 2] : (scratch[n / 2 - 1] + scratch[n / 2]) / 2.0;
	v[METRICS_MNR] = sum / (double)n;
}

int metrics_compute(const int *ranks, size_t n, int B, uint64_t seed, metrics_table *out,
    char **cause)
{
	int *sample = NULL, *scratch = NULL;
	double *boot = NULL;
	uint64_t state = seed;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (n < 1) {
		util_set_cause(cause, "metrics: no queries");
		return -1;
	}
	if (B < 0)
		B = 0;
	sample = malloc(n * sizeof *sample);
	scratch = malloc(n * sizeof *scratch);
	boot = malloc((size_t)(B > 0 ? B : 1) * METRICS_N * sizeof *boot); /* [METRICS_N, B] */
	if (sample == NULL || scratch == NULL || boot == NULL) {
		util_set_cause(cause, "metrics: out of memory");
		goto out;
	}
	metrics_point(ranks, n, scratch, out->value);
	for (int b = 0; b < B; b++) {
		double v[METRICS_N];
		for (size_t i = 0; i < n; i++)
			sample[i] = ranks[metrics_pick(&state, n)];
		metrics_point(sample, n, scratch, v);
		for (int k = 0; k < METRICS_N; k++)
			boot[(size_t)k * (size_t)B + (size_t)b] = v[k];
	}
	for (int k = 0; k < METRICS_N; k++) {
		double *col = boot + (size_t)k * (size_t)B;
		if (B == 0) {
			out->lo[k] = out->hi[k] = out->value[k];
			continue;
		}
		qsort(col, (size_t)B, sizeof *col, metrics_cmp_double);
		out->lo[k] = metrics_percentile(col, (size_t)B, 2.5);
		out->hi[k] = metrics_percentile(col, (size_t)B, 97.5);
	}
	rc = 0;
out:
	free(sample);
	free(scratch);
	free(boot);
	return rc;
}

int metrics_accuracy(const double *won, size_t n, int B, uint64_t seed, double *acc, double *lo,
    double *hi, char **cause)
{
	double *boot, sum = 0;
	uint64_t state = seed;

	if (n < 1) {
		util_set_cause(cause, "metrics: no pairs");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		sum += won[i];
	*acc = *lo = *hi = 100.0 * sum / (double)n;
	if (B <= 0)
		return 0;
	if ((boot = malloc((size_t)B * sizeof *boot)) == NULL) {
		util_set_cause(cause, "metrics: out of memory");
		return -1;
	}
	for (int b = 0; b < B; b++) {
		double s = 0;
		for (size_t i = 0; i < n; i++)
			s += won[metrics_pick(&state, n)];
		boot[b] = 100.0 * s / (double)n;
	}
	qsort(boot, (size_t)B, sizeof *boot, metrics_cmp_double);
	*lo = metrics_percentile(boot, (size_t)B, 2.5);
	*hi = metrics_percentile(boot, (size_t)B, 97.5);
	free(boot);
	return 0;
}
