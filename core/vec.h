/*
 * vec — small hand-written float kernels over arrays whose length is a
 * multiple of VEC_LANES (8), written as fixed-size blocks or GCC vector
 * extensions so that compilers vectorise them at -O2 for whatever SIMD the
 * target has.  Header-only (static inline) so that they inline into their
 * callers, including target_clones copies (core/tcmgc.c's AVX2 finishing
 * step): a call across files would stop at the default target.
 *
 * Vectors are only ever loaded and stored through memory (never passed by
 * value), so a generic build needs no AVX calling convention.  No FMA
 * contraction is asked for: results are the same on every target.
 */
#ifndef CLIPGREP_VEC_H
#define CLIPGREP_VEC_H

#include <stddef.h>
#include <string.h>

/* Lanes per block; every n below is a multiple of it. */
#define VEC_LANES 8

typedef float vec_f8 __attribute__((vector_size(32)));
typedef int vec_i8 __attribute__((vector_size(32)));

#define VEC_SPLAT(v) { v, v, v, v, v, v, v, v }

/*
 * y[0..8) = e^(a - b) lane-wise (Cody-Waite reduction, degree-7 Taylor
 * polynomial): relative error below 1.1e-7 for arguments in [-87, 0];
 * below -87 (and -inf) gives e^-87 rather than 0.  Used for the attention
 * softmax (core/tcmgc.c), whose arguments are finite and at most 0.
 */
static inline void vec_exp8(float *y, const float *a, const float *b)
{
	const vec_f8 lo = VEC_SPLAT(-87.0f), magic = VEC_SPLAT(12582912.0f);
	vec_f8 x, bb;

	memcpy(&x, a, sizeof x);
	memcpy(&bb, b, sizeof bb);
	x = x - bb;
	vec_i8 m = x < lo;
	x = (vec_f8)(((vec_i8)lo & m) | ((vec_i8)x & ~m));
	vec_f8 kf = x * 1.44269504088896341f + magic;
	vec_i8 n = (vec_i8)kf - (vec_i8)magic; /* round(x / ln 2) */
	kf = kf - magic;
	vec_f8 r = x - kf * 0.693145751953125f - kf * 1.428606765330187e-06f;
	vec_f8 p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
	p = p * r + 1.0f / 120.0f;
	p = p * r + 1.0f / 24.0f;
	p = p * r + 1.0f / 6.0f;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	p = (vec_f8)((vec_i8)p + (n << 23));
	memcpy(y, &p, sizeof p);
}

/* y[0..n) += a x[0..n) */
static inline void vec_axpy(float *restrict y, float a, const float *restrict x, int n)
{
	for (int j = 0; j < n; j += VEC_LANES)
		for (int u = 0; u < VEC_LANES; u++)
			y[j + u] += a * x[j + u];
}

/* y[j] *= a[j] */
static inline void vec_mul(float *restrict y, const float *restrict a, int n)
{
	for (int j = 0; j < n; j += VEC_LANES)
		for (int u = 0; u < VEC_LANES; u++)
			y[j + u] *= a[j + u];
}

/* y[j] += a[j] */
static inline void vec_add(float *restrict y, const float *restrict a, int n)
{
	for (int j = 0; j < n; j += VEC_LANES)
		for (int u = 0; u < VEC_LANES; u++)
			y[j + u] += a[j + u];
}

/* Lane-wise maximum: y = max(y, a). */
static inline void vec_max(float *restrict y, const float *restrict a, int n)
{
	for (int j = 0; j < n; j += 8) {
		vec_f8 p, v;
		memcpy(&p, y + j, sizeof p);
		memcpy(&v, a + j, sizeof v);
		vec_i8 m = v > p;
		p = (vec_f8)(((vec_i8)v & m) | ((vec_i8)p & ~m));
		memcpy(y + j, &p, sizeof p);
	}
}

/* Insert x [n] into the per-lane descending lists t[0..k) (each [n]). */
static inline void vec_insert_desc(float *t, int k, int n, float *restrict x)
{
	for (int b = 0; b < n; b += 8) {
		vec_f8 v;
		memcpy(&v, x + b, sizeof v);
		for (int j = 0; j < k; j++) {
			vec_f8 a;
			memcpy(&a, t + (size_t)j * n + b, sizeof a);
			vec_i8 m = a > v; /* lanes where the list keeps its value */
			vec_f8 hi = (vec_f8)(((vec_i8)a & m) | ((vec_i8)v & ~m));
			v = (vec_f8)(((vec_i8)v & m) | ((vec_i8)a & ~m));
			memcpy(t + (size_t)j * n + b, &hi, sizeof hi);
		}
	}
}

#endif
