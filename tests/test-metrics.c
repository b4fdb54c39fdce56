/*
 * test-metrics — core/metrics: R@K, MdR, MnR as tools/train/metrics.py
 * computes them (values worked out by hand below), numpy's percentile rule,
 * and bootstrap intervals that are reproducible and contain the estimate.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tap.h"

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

int main(void)
{
	static const int ranks[6] = { 1, 2, 3, 4, 10, 20 };
	static const double sorted[4] = { 1, 2, 3, 4 };
	metrics_table t, u;
	char *cause = NULL;
	int *many = malloc(1000 * sizeof *many);
	double won[4] = { 1, 0, 0.5, 1 }, acc, lo, hi;

	tap_ok(metrics_compute(ranks, 6, 0, 1, &t, &cause) == 0 &&
	    near(t.value[METRICS_R1], 100.0 / 6) && near(t.value[METRICS_R5], 400.0 / 6) &&
	    near(t.value[METRICS_R10], 500.0 / 6) && near(t.value[METRICS_MDR], 3.5) &&
	    near(t.value[METRICS_MNR], 40.0 / 6) && t.lo[METRICS_R1] == t.value[METRICS_R1] &&
	    t.hi[METRICS_MNR] == t.value[METRICS_MNR],
	    "R@1 16.7, R@5 66.7, R@10 83.3, MdR 3.5 (even count: the middle two), MnR 6.7");
	tap_ok(metrics_compute(ranks, 5, 0, 1, &t, NULL) == 0 && near(t.value[METRICS_MDR], 3),
	    "odd count: the middle rank");
	tap_ok(near(metrics_percentile(sorted, 4, 50), 2.5) &&
	    near(metrics_percentile(sorted, 4, 2.5), 1.075) &&
	    near(metrics_percentile(sorted, 4, 97.5), 3.925) &&
	    near(metrics_percentile(sorted, 4, 100), 4),
	    "percentiles interpolate linearly between order statistics (numpy's default)");
	for (int i = 0; i < 1000; i++)
		many[i] = 1 + (i * 7919) % 50;
	tap_ok(metrics_compute(many, 1000, 1000, 15, &t, &cause) == 0 &&
	    metrics_compute(many, 1000, 1000, 15, &u, &cause) == 0 &&
	    memcmp(&t, &u, sizeof t) == 0, "the same seed gives the same intervals");
	{
		/* R@1 is a proportion: its interval is about p +- 1.96 sqrt(p (1 - p) / n). */
		double p = t.value[METRICS_R1] / 100, half = 196 * sqrt(p * (1 - p) / 1000);
		int inside = 1;
		for (int k = 0; k < METRICS_N; k++)
			inside = inside && t.lo[k] <= t.value[k] && t.value[k] <= t.hi[k];
		tap_ok(inside && fabs(t.lo[METRICS_R1] - (t.value[METRICS_R1] - half)) < 0.3 &&
		    fabs(t.hi[METRICS_R1] - (t.value[METRICS_R1] + half)) < 0.3,
		    "each interval holds its estimate; R@1's is the binomial one (R@1 %.1f [%.1f, %.1f], "
		    "normal approximation +-%.2f; MnR %.2f [%.2f, %.2f])", t.value[METRICS_R1],
		    t.lo[METRICS_R1], t.hi[METRICS_R1], half, t.value[METRICS_MNR], t.lo[METRICS_MNR],
		    t.hi[METRICS_MNR]);
	}
	tap_ok(metrics_compute(many, 1000, 1000, 16, &u, NULL) == 0 &&
	    memcmp(t.lo, u.lo, sizeof t.lo) != 0, "another seed, other resamples");
	tap_ok(metrics_accuracy(won, 4, 0, 1, &acc, &lo, &hi, NULL) == 0 && near(acc, 62.5) &&
	    lo == acc && hi == acc, "pairwise accuracy: a tie counts half (62.5)");
	{
		int r = metrics_accuracy(won, 4, 200, 1, &acc, &lo, &hi, NULL);
		tap_ok(r == 0 && lo < acc && acc < hi && lo >= 0 && hi <= 100,
		    "its interval [%.1f, %.1f]", lo, hi);
		r = metrics_compute(ranks, 0, 10, 1, &t, &cause);
		tap_ok(r == -1 && cause != NULL && strcmp(cause, "metrics: no queries") == 0,
		    "no queries: refused (%s)", cause != NULL ? cause : "?");
	}
	tap_ok(strcmp(metrics_name(METRICS_MDR), "MdR") == 0 && metrics_name(9) == NULL, "names");
	free(cause);
	free(many);
	return tap_done();
}
