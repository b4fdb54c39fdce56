/*
 * metrics — text-to-video retrieval metrics over per-query ranks, with
 * bootstrap confidence intervals: what `make eval` reports
 * (`clipgrep bench eval`, tools/train/eval_c.sh).
 *
 * A rank is 1-based: 1 + the videos scored strictly higher than the
 * query's own (ties resolved in the query's favour, as
 * tools/train/metrics.py and CLIP4Clip's compute_metrics).  R@K is the
 * percentage of queries with rank <= K; MdR the median rank (the mean of
 * the two middle ones for an even count, as numpy.median); MnR the mean.
 *
 * The bootstrap resamples the queries with replacement B times with a
 * fixed-seed generator (splitmix64), so a run is reproducible bit for bit
 * on every machine; an interval is the 2.5th and 97.5th percentiles of the
 * B resampled values (linear interpolation between order statistics, as
 * numpy.percentile's default).  Pairwise accuracies (hard negatives) are
 * resampled the same way over their pairs.
 */
#ifndef CLIPGREP_METRICS_H
#define CLIPGREP_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum { METRICS_R1, METRICS_R5, METRICS_R10, METRICS_MDR, METRICS_MNR, METRICS_N };

typedef struct {
	double value[METRICS_N]; /* R@1, R@5, R@10 (%), MdR, MnR */
	double lo[METRICS_N];    /* the 95 % interval (bootstrap), or value when B = 0 */
	double hi[METRICS_N];
} metrics_table;

/* The names: "R@1", "R@5", "R@10", "MdR", "MnR". */
const char *metrics_name(int k);

/*
 * Metrics of ranks[n] (n >= 1) and, with B > 0 resamples from seed, their
 * 95 % intervals.  -1 with *cause when out of memory or n < 1.
 */
int metrics_compute(const int *ranks, size_t n, int B, uint64_t seed, metrics_table *out,
    char **cause);

/*
 * The share (%) of pairs won (won[i]: 1, a tie 0.5, lost 0) over n >= 1
 * pairs and, with B > 0, its 95 % interval in *lo, *hi.  -1 with *cause.
 */
int metrics_accuracy(const double *won, size_t n, int B, uint64_t seed, double *acc, double *lo,
    double *hi, char **cause);

/* The q-th percentile (0..100) of sorted v[n], numpy's linear rule. */
double metrics_percentile(const double *sorted, size_t n, double q);

#endif
