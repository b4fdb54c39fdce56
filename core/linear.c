/*
 * linear — few-row products against a repacked weight.
 *
 * Panel layout: output o sits in panel o / 16, lane o % 16; panel p holds
 * in rows of 16 floats, W[16p + lane][k] at p · in · 16 + k · 16 + lane,
 * zero for lanes past out.  A kernel keeps a tile of rows × 32 (AVX-512:
 * 8 rows, two panels) or rows × 16 (AVX2: 6 rows, one panel) outputs in
 * registers and walks k, loading one panel row and broadcasting one x
 * value per row: the weight streams through once per row tile, the x tile
 * stays in L1.  Threads take disjoint ranges of panels.
 *
 * bf16 panels: W[16p + lane][k] at p · kp · 32 + (k / 2) · 32 + lane · 2 +
 * k % 2 (kp = ceil(in / 2) k-pairs, zero past in and past out), so one
 * 64-byte row of a panel is the 16 lanes' pairs vdpbf16ps multiplies with
 * a broadcast pair of x.  The bf16 kernel keeps 8 rows × 2 panels in
 * registers like the fp32 one.  Each part rounds blocks of
 * LINEAR_BF16_BLOCK rows of x to bf16 pairs once and walks its panel pairs
 * over the block, so a panel pair is read from memory once per block and
 * the block's rows stay in L2.
 */
#include "config.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linear.h"
#include "parallel.h"
#include "safetensors.h"
#include "tensor.h"
#include "util.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LINEAR_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define LINEAR_PANEL 16
/* Rows of x one part rounds to bf16 at a time (in = 3072: 384 KB, in L2). */
#define LINEAR_BF16_BLOCK 64
/* Bytes of stack a part rounds rows into: 16 rows of in = 3072 as floats. */
#define LINEAR_BF16_STACK (192 * 1024)

struct linear {
	linear_kernel kernel;
	int out, in, panels;
	int pairs;         /* bf16 kernels: ceil(in / 2) */
	const float *w;    /* [out, in], the caller's (BLAS kernel) */
	float *packed;     /* [panels, in, 16], owned (fp32 SIMD kernels) */
	uint16_t *packed_h; /* [panels, in, 16] IEEE halves, owned (fp32 SIMD kernels, F16 weight) */
	uint16_t *packed16; /* [panels, pairs, 16, 2] bf16, owned (bf16 kernels) */
};

#ifdef LINEAR_X86
/*
 * AVX512_BF16 is CPUID leaf 7, sub-leaf 1, EAX bit 5; checked by hand
 * because not every compiler's __builtin_cpu_supports knows the name.
 * The kernel also uses AVX-512F/BW/VL, whose checks include the OS saving
 * the zmm registers.
 */
/*
 * F16C is CPUID leaf 1, ECX bit 29, read by hand for the same reason
 * (clang 14's __builtin_cpu_supports does not know "f16c"); "avx" checks
 * that the OS saves the ymm registers.
 */
static bool linear_cpu_f16c(void)
{
	unsigned a, b, c, d;

	if (!__builtin_cpu_supports("avx") || !__get_cpuid(1, &a, &b, &c, &d))
		return false;
	return (c >> 29) & 1;
}

static bool linear_cpu_bf16(void)
{
	unsigned a, b, c, d;

	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512vl"))
		return false;
	if (__get_cpuid_max(0, NULL) < 7 || !__get_cpuid_count(7, 1, &a, &b, &c, &d))
		return false;
	return (a >> 5) & 1;
}
#endif

bool linear_kernel_supported(linear_kernel k)
{
	switch (k) {
	case LINEAR_AUTO:
	case LINEAR_BLAS:
	case LINEAR_BF16_REF:
		return true;
#ifdef LINEAR_X86
	case LINEAR_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case LINEAR_AVX512:
		return __builtin_cpu_supports("avx512f");
	case LINEAR_BF16:
		return linear_cpu_bf16();
	case LINEAR_BF16_FMA:
		return __builtin_cpu_supports("avx512f");
#else
	case LINEAR_AVX2:
	case LINEAR_AVX512:
	case LINEAR_BF16:
	case LINEAR_BF16_FMA:
		return false;
#endif
	}
	return false;
}

bool linear_kernel_is_bf16(linear_kernel k)
{
	return k == LINEAR_BF16 || k == LINEAR_BF16_FMA || k == LINEAR_BF16_REF;
}

/*
 * The best kernel this CPU has, unless CLIPGREP_LINEAR_KERNEL (blas, avx2,
 * avx512) names another one the CPU supports: `make check-kernels` runs the
 * whole suite on every path that way, so each kernel and its fallback are
 * tested on one machine.
 */
static linear_kernel linear_best(void)
{
	const char *forced = getenv("CLIPGREP_LINEAR_KERNEL");

	if (forced != NULL) {
		if (strcmp(forced, "blas") == 0)
			return LINEAR_BLAS;
		if (strcmp(forced, "avx2") == 0 && linear_kernel_supported(LINEAR_AVX2))
			return LINEAR_AVX2;
		if (strcmp(forced, "avx512") == 0 && linear_kernel_supported(LINEAR_AVX512))
			return LINEAR_AVX512;
	}
	if (linear_kernel_supported(LINEAR_AVX512))
		return LINEAR_AVX512;
	if (linear_kernel_supported(LINEAR_AVX2))
		return LINEAR_AVX2;
	return LINEAR_BLAS;
}

linear_kernel linear_kernel_resolve(linear_kernel k)
{
	return k == LINEAR_AUTO ? linear_best() : k;
}

const char *linear_kernel_name(linear_kernel k)
{
	k = linear_kernel_resolve(k);
	switch (k) {
	case LINEAR_BF16:
		return "bf16";
	case LINEAR_BF16_FMA:
		return "bf16fma";
	case LINEAR_BF16_REF:
		return "bf16ref";
	case LINEAR_AVX512:
		return "avx512";
	case LINEAR_AVX2:
		return "avx2";
	default:
		return "blas";
	}
}

const char *linear_precision_name(linear_precision p)
{
	return p == LINEAR_PREC_BF16 ? "bf16" : "fp32";
}

int linear_precision_parse(const char *s, linear_precision *out)
{
	if (strcmp(s, "fp32") == 0)
		*out = LINEAR_PREC_FP32;
	else if (strcmp(s, "bf16") == 0)
		*out = LINEAR_PREC_BF16;
	else
		return -1;
	return 0;
}

static linear_kernel linear_bf16_fastest(void);

linear_kernel linear_precision_kernel(linear_precision p)
{
	const char *forced = getenv("CLIPGREP_LINEAR_KERNEL");

	if (p != LINEAR_PREC_BF16)
		return LINEAR_AUTO;
	if (forced != NULL && strcmp(forced, "bf16ref") == 0)
		return LINEAR_BF16_REF;
	if (!linear_kernel_supported(LINEAR_BF16))
		return LINEAR_AUTO;
	if (forced != NULL && strcmp(forced, "bf16") == 0)
		return LINEAR_BF16;
	if (forced != NULL && strcmp(forced, "bf16fma") == 0)
		return LINEAR_BF16_FMA;
	/* An fp32 kernel forced: behave as a CPU without AVX512_BF16 would. */
	if (forced != NULL && *forced != '\0')
		return LINEAR_AUTO;
	return linear_bf16_fastest();
}

linear_precision linear_kernel_precision(linear_kernel k)
{
	return linear_kernel_is_bf16(k) ? LINEAR_PREC_BF16 : LINEAR_PREC_FP32;
}

/*
 * Round to nearest even by adding 0x7fff plus the lowest kept bit and
 * truncating: a carry out of the mantissa bumps the exponent, up to
 * infinity, as the hardware does.  Denormals read as zero (DAZ), as
 * vcvtne2ps2bf16 and vdpbf16ps read them.
 */
static uint16_t linear_to_bf16(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* quiet the NaN */
	if ((u & 0x7f800000u) == 0)
		return (uint16_t)((u >> 16) & 0x8000);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static float linear_from_bf16(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float x;

	memcpy(&x, &u, sizeof x);
	return x;
}

float linear_round_bf16(float x)
{
	return linear_from_bf16(linear_to_bf16(x));
}

/*
 * Where a weight [out, in] is packed from: the caller's fp32 array, or a
 * model file's float tensor read in place (so that no fp32 copy of it
 * need exist), [out, in] or, transposed, [in, out].
 */
typedef struct {
	const float *f32;   /* [out, in], or NULL */
	const st_tensor *t; /* when f32 is NULL */
	bool transposed;
} linear_source;

/*
 * Columns of 16 weight rows widened at a time while packing: 16 KB, in L1,
 * so that the transposition into panel rows reads from cache.
 */
#define LINEAR_PACK_CHUNK 256

#ifdef LINEAR_X86
/*
 * F16 → fp32 with F16C, 8 at a time; a group holding an infinity or a NaN
 * goes through st_widen, which keeps a NaN's payload as it is where
 * vcvtph2ps would quiet it: the values are st_widen's, bit for bit (every
 * half, denormals included, is exact in fp32).
 *   src: n halves, little-endian, any alignment
 */
__attribute__((target("avx,f16c")))
static void linear_widen_f16c(const st_tensor *t, size_t first, size_t n, float *dst)
{
	const unsigned char *src = (const unsigned char *)t->data + 2 * first;
	const __m128i exp_mask = _mm_set1_epi16(0x7c00);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(src + 2 * i));
		if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask)) != 0)
			st_widen(t, first + i, 8, dst + i);
		else
			_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
	if (i < n)
		st_widen(t, first + i, n - i, dst + i);
}
#endif

/* st_widen of a float tensor (elements [first, first + n)), F16 by F16C where the CPU has it. */
static void linear_widen(const st_tensor *t, size_t first, size_t n, float *dst)
{
#ifdef LINEAR_X86
	static int f16c = -1; /* racing threads store the same answer */
	if (f16c == -1)
		f16c = linear_cpu_f16c();
	if (t->dtype == ST_F16 && f16c) {
		linear_widen_f16c(t, first, n, dst);
		return;
	}
#endif
	st_widen(t, first, n, dst);
}

/*
 * rows [16, LINEAR_PACK_CHUNK] = weight rows o0 .. o0 + 15, columns
 * k0 .. k0 + kc - 1, as fp32; zero for rows past out.
 */
static void linear_source_rows(const linear *l, const linear_source *s, int o0, int k0, int kc,
    float *rows)
{
	int lanes = l->out - o0 < LINEAR_PANEL ? l->out - o0 : LINEAR_PANEL;

	if (s->f32 != NULL)
		for (int lane = 0; lane < lanes; lane++)
			memcpy(rows + lane * LINEAR_PACK_CHUNK, s->f32 + (size_t)(o0 + lane) * l->in + k0,
			    sizeof(float) * (size_t)kc);
	else if (!s->transposed)
		for (int lane = 0; lane < lanes; lane++)
			linear_widen(s->t, (size_t)(o0 + lane) * l->in + k0, (size_t)kc,
			    rows + lane * LINEAR_PACK_CHUNK);
	else
		for (int kk = 0; kk < kc; kk++) {
			float col[LINEAR_PANEL];
			/* element (o, k) of the weight is t[k][o]: 16 outputs lie side by side */
			linear_widen(s->t, (size_t)(k0 + kk) * l->out + o0, (size_t)lanes, col);
			for (int lane = 0; lane < lanes; lane++)
				rows[lane * LINEAR_PACK_CHUNK + kk] = col[lane];
		}
	for (int lane = lanes; lane < LINEAR_PANEL; lane++)
		memset(rows + lane * LINEAR_PACK_CHUNK, 0, sizeof(float) * (size_t)kc);
}

/* The same as the file's raw halves (an F16 tensor); zero past out. */
static void linear_source_halves(const linear *l, const linear_source *s, int o0, int k0, int kc,
    uint16_t *rows)
{
	const unsigned char *data = s->t->data;
	int lanes = l->out - o0 < LINEAR_PANEL ? l->out - o0 : LINEAR_PANEL;

	if (!s->transposed)
		for (int lane = 0; lane < lanes; lane++)
			memcpy(rows + lane * LINEAR_PACK_CHUNK,
			    data + 2 * ((size_t)(o0 + lane) * l->in + k0), 2 * (size_t)kc);
	else
		for (int kk = 0; kk < kc; kk++) {
			uint16_t col[LINEAR_PANEL];
			memcpy(col, data + 2 * ((size_t)(k0 + kk) * l->out + o0), 2 * (size_t)lanes);
			for (int lane = 0; lane < lanes; lane++)
				rows[lane * LINEAR_PACK_CHUNK + kk] = col[lane];
		}
	for (int lane = lanes; lane < LINEAR_PANEL; lane++)
		memset(rows + lane * LINEAR_PACK_CHUNK, 0, 2 * (size_t)kc);
}

#ifdef LINEAR_X86
/*
 * dst [16, 16] = the transpose of 16 rows of 16 halves at src (row stride
 * ld bytes, any alignment): 64 shuffles instead of 256 scalar moves.
 * The unpacks work within 128-bit lanes, so columns 0-7 travel in the low
 * lanes and 8-15 in the high ones until the last step joins them.
 */
__attribute__((target("avx2")))
static void linear_transpose16_avx2(const unsigned char *src, size_t ld, uint16_t *dst)
{
	__m256i r[16], u[16], v[16], w[8][2];

	for (int i = 0; i < 16; i++)
		r[i] = _mm256_loadu_si256((const __m256i *)(src + i * ld));
	for (int i = 0; i < 8; i++) { /* rows 2i, 2i + 1: columns 0-3, then 4-7 */
		u[2 * i] = _mm256_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
		u[2 * i + 1] = _mm256_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
	}
	for (int j = 0; j < 4; j++) { /* rows 4j .. 4j + 3: column pairs 01, 23, 45, 67 */
		v[4 * j] = _mm256_unpacklo_epi32(u[4 * j], u[4 * j + 2]);
		v[4 * j + 1] = _mm256_unpackhi_epi32(u[4 * j], u[4 * j + 2]);
		v[4 * j + 2] = _mm256_unpacklo_epi32(u[4 * j + 1], u[4 * j + 3]);
		v[4 * j + 3] = _mm256_unpackhi_epi32(u[4 * j + 1], u[4 * j + 3]);
	}
	for (int h = 0; h < 2; h++) /* rows 8h .. 8h + 7 of each column */
		for (int q = 0; q < 4; q++) {
			w[2 * q][h] = _mm256_unpacklo_epi64(v[8 * h + q], v[8 * h + 4 + q]);
			w[2 * q + 1][h] = _mm256_unpackhi_epi64(v[8 * h + q], v[8 * h + 4 + q]);
		}
	for (int c = 0; c < 8; c++) {
		_mm256_storeu_si256((__m256i *)(dst + c * 16), _mm256_permute2x128_si256(w[c][0], w[c][1], 0x20));
		_mm256_storeu_si256((__m256i *)(dst + (c + 8) * 16),
		    _mm256_permute2x128_si256(w[c][0], w[c][1], 0x31));
	}
}
#endif

typedef struct {
	linear *l;
	const linear_source *s;
} linear_pack_job;

/*
 * Pack one part's range of panels into whichever layout l holds (see the
 * top of the file); every element, padding included, is written once, so
 * the buffers need no clearing first.
 */
static void linear_pack_part(void *ctx, int part, int parts)
{
	const linear_pack_job *j = ctx;
	linear *l = j->l;
	const linear_source *s = j->s;
	int p0 = (int)((int64_t)l->panels * part / parts);
	int p1 = (int)((int64_t)l->panels * (part + 1) / parts);
	union {
		float f[LINEAR_PANEL * LINEAR_PACK_CHUNK];
		uint16_t h[LINEAR_PANEL * LINEAR_PACK_CHUNK];
	} buf;
	float *rows = buf.f;
	uint16_t *halves = buf.h;

	for (int p = p0; p < p1; p++)
		for (int k0 = 0; k0 < l->in; k0 += LINEAR_PACK_CHUNK) {
			int kc = l->in - k0 < LINEAR_PACK_CHUNK ? l->in - k0 : LINEAR_PACK_CHUNK;

			if (l->packed_h != NULL) {
				uint16_t *panel = l->packed_h + ((size_t)p * l->in + k0) * LINEAR_PANEL;
				int kk = 0;
#ifdef LINEAR_X86
				/* Whole 16 × 16 blocks of an upright tensor: straight from the file. */
				if (!s->transposed && (p + 1) * LINEAR_PANEL <= l->out)
					for (; kk + 16 <= kc; kk += 16)
						linear_transpose16_avx2((const unsigned char *)s->t->data +
						    2 * ((size_t)p * LINEAR_PANEL * l->in + k0 + kk),
						    2 * (size_t)l->in, panel + kk * LINEAR_PANEL);
				if (kk == kc)
					continue;
#endif
				linear_source_halves(l, s, p * LINEAR_PANEL, k0, kc, halves);
				for (; kk < kc; kk++)
					for (int lane = 0; lane < LINEAR_PANEL; lane++)
						panel[kk * LINEAR_PANEL + lane] = halves[lane * LINEAR_PACK_CHUNK + kk];
				continue;
			}
			linear_source_rows(l, s, p * LINEAR_PANEL, k0, kc, rows);
			if (l->packed != NULL) {
				float *panel = l->packed + ((size_t)p * l->in + k0) * LINEAR_PANEL;
				for (int kk = 0; kk < kc; kk++)
					for (int lane = 0; lane < LINEAR_PANEL; lane++)
						panel[kk * LINEAR_PANEL + lane] = rows[lane * LINEAR_PACK_CHUNK + kk];
				continue;
			}
			/* bf16 pairs; LINEAR_PACK_CHUNK is even, so k0 starts a pair */
			uint16_t *panel = l->packed16 + ((size_t)p * l->pairs + k0 / 2) * 32;
			for (int kk = 0; kk < kc; kk++)
				for (int lane = 0; lane < LINEAR_PANEL; lane++)
					panel[(kk / 2) * 32 + lane * 2 + kk % 2] =
					    linear_to_bf16(rows[lane * LINEAR_PACK_CHUNK + kk]);
			if (k0 + kc == l->in && l->in % 2 != 0) /* the odd input's pair partner */
				for (int lane = 0; lane < LINEAR_PANEL; lane++)
					panel[(kc / 2) * 32 + lane * 2 + 1] = 0;
		}
}

/* Whether this CPU can run the fp32 kernels on F16 panels (vcvtph2ps). */
static bool linear_half_panels_supported(linear_kernel k)
{
#ifdef LINEAR_X86
	/* _mm512_cvtph_ps is AVX-512F; the AVX2 kernel needs F16C beside it. */
	/* Packing them uses AVX2 (linear_transpose16_avx2). */
	return (k == LINEAR_AVX512 && __builtin_cpu_supports("avx2")) ||
	    (k == LINEAR_AVX2 && linear_cpu_f16c());
#else
	(void)k;
	return false;
#endif
}

/* The shared part of the constructors: l for out, in and kernel k, packed from s. */
static linear *linear_build(const linear_source *s, int out, int in, linear_kernel k,
    bool halves, char **cause)
{
	linear *l;

	if (k == LINEAR_AUTO)
		k = linear_best();
	if (!linear_kernel_supported(k)) {
		util_set_cause(cause, "linear_new: this CPU cannot run the %s kernel",
		    linear_kernel_name(k));
		return NULL;
	}
	if ((l = calloc(1, sizeof *l)) == NULL) {
		util_set_cause(cause, "linear_new: out of memory");
		return NULL;
	}
	l->kernel = k;
	l->out = out;
	l->in = in;
	l->w = s->f32;
	l->panels = (out + LINEAR_PANEL - 1) / LINEAR_PANEL;
	l->pairs = (in + 1) / 2;
	if (k == LINEAR_BLAS)
		return l;
	if (linear_kernel_is_bf16(k) &&
	    (size_t)l->pairs * 2 * sizeof(uint32_t) > LINEAR_BF16_STACK) {
		util_set_cause(cause, "linear_new: %d inputs is too wide for the %s kernel",
		    in, linear_kernel_name(k));
		free(l);
		return NULL;
	}
	size_t n = (size_t)l->panels * in * LINEAR_PANEL;
	if (linear_kernel_is_bf16(k)) {
		n = (size_t)l->panels * l->pairs * LINEAR_PANEL * 2;
		l->packed16 = aligned_alloc(64, ((n * sizeof(uint16_t)) + 63) & ~(size_t)63);
	} else if (halves)
		l->packed_h = aligned_alloc(64, ((n * sizeof(uint16_t)) + 63) & ~(size_t)63);
	else
		l->packed = tensor_alloc(n);
	if (l->packed16 == NULL && l->packed_h == NULL && l->packed == NULL) {
		util_set_cause(cause, "linear_new: out of memory for a [%d,%d] weight", out, in);
		free(l);
		return NULL;
	}
	/*
	 * On one thread: packing is bound by memory (page faults, a first write of
	 * every panel byte), and on the 2-core development VM splitting it over
	 * tensor_threads() made the ViT-B/32 text tower slower to build (56-61 ms
	 * against 45-50), while it runs beside the index load anyway.
	 */
	linear_pack_job j = { l, s };
	linear_pack_part(&j, 0, 1);
	return l;
}

linear *linear_new(const float *w, int out, int in, linear_kernel k, char **cause)
{
	linear_source s = { w, NULL, false };

	if (out <= 0 || in <= 0 || w == NULL) {
		util_set_cause(cause, "linear_new: bad shape [%d,%d]", out, in);
		return NULL;
	}
	return linear_build(&s, out, in, k, false, cause);
}

linear *linear_new_tensor(const st_tensor *t, int flags, linear_kernel k, char **cause)
{
	linear_source s = { NULL, t, (flags & LINEAR_TRANSPOSED) != 0 };
	int out, in;

	if (t == NULL || t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 ||
	    t->shape[0] > INT_MAX || t->shape[1] > INT_MAX ||
	    (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)) {
		util_set_cause(cause, "linear_new_tensor: %s is not a 2-D float tensor",
		    t != NULL && t->name != NULL ? t->name : "the weight");
		return NULL;
	}
	out = (int)t->shape[s.transposed ? 1 : 0];
	in = (int)t->shape[s.transposed ? 0 : 1];
	if (linear_kernel_resolve(k) == LINEAR_BLAS) {
		util_set_cause(cause, "linear_new_tensor: the BLAS kernel needs an fp32 weight "
		    "(linear_new)");
		return NULL;
	}
	k = linear_kernel_resolve(k);
	return linear_build(&s, out, in, k, t->dtype == ST_F16 && !(flags & LINEAR_WIDEN) &&
	    linear_half_panels_supported(k), cause);
}

void linear_free(linear *l)
{
	if (l == NULL)
		return;
	tensor_free(l->packed);
	free(l->packed_h);
	free(l->packed16);
	free(l);
}

linear_kernel linear_get_kernel(const linear *l)
{
	return l->kernel;
}

size_t linear_bytes(const linear *l)
{
	if (l->packed16 != NULL)
		return sizeof(uint16_t) * (size_t)l->panels * l->pairs * LINEAR_PANEL * 2;
	if (l->packed_h != NULL)
		return sizeof(uint16_t) * (size_t)l->panels * l->in * LINEAR_PANEL;
	return l->packed != NULL ? sizeof(float) * (size_t)l->panels * l->in * LINEAR_PANEL : 0;
}

/*
 * Write a tile's sums: y[r][0..cols) (+)= acc[r][0..cols) + bias, for the
 * columns that exist (cols <= 32).
 *   acc [rows, 32]
 */
static void linear_store(float *y, int ldy, const float *acc, int rows, int cols,
    const float *bias, bool accumulate)
{
	for (int r = 0; r < rows; r++) {
		float *yr = y + (size_t)r * ldy;
		const float *ar = acc + r * 32;
		for (int c = 0; c < cols; c++) {
			float v = ar[c] + (bias != NULL ? bias[c] : 0.0f);
			yr[c] = accumulate ? yr[c] + v : v;
		}
	}
}

#ifdef LINEAR_X86
/*
 * The full tiles keep their sums in named locals, not in an array shared
 * with the partial-tile loop: gcc otherwise keeps the array in memory and
 * stores every accumulator on every step.
 */
#define LINEAR_FMA512(r) \
	do { \
		__m512 xb = _mm512_set1_ps(x[(size_t)(r) * ldx + k]); \
		a##r##0 = _mm512_fmadd_ps(xb, w0, a##r##0); \
		a##r##1 = _mm512_fmadd_ps(xb, w1, a##r##1); \
	} while (0)
#define LINEAR_STORE512(r) \
	do { \
		_mm512_storeu_ps(acc + (r) * 32, a##r##0); \
		_mm512_storeu_ps(acc + (r) * 32 + 16, a##r##1); \
	} while (0)

/*
 * Row k of a panel as 16 (AVX2: 8 + 8) fp32 lanes: fp32 panels are loaded,
 * F16 panels widened by vcvtph2ps, which is exact, so both give the FMAs
 * the same operands in the same order and the sums agree bit for bit.
 * The tiles are written once, always inlined into one copy per layout with
 * `half` a constant.
 */
#define LINEAR_INLINE512 __attribute__((target("avx512f"), always_inline)) static inline
#define LINEAR_INLINE256 __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

LINEAR_INLINE512 __m512 linear_row512(const void *panel, int k, bool half)
{
	if (half)
		return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const uint16_t *)panel +
		    (size_t)k * 16)));
	return _mm512_load_ps((const float *)panel + (size_t)k * 16);
}

/*
 * acc[r][0..32) = Σ_k x[r][k] · (panel p0 | panel p1)[k] for 8 rows.
 *   x [8, in] with row stride ldx; p0, p1 [in, 16]; acc [8, 32]
 */
LINEAR_INLINE512 void linear_tile8_avx512(const float *x, int ldx, const void *p0, const void *p1,
    int in, float *acc, bool half)
{
	__m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;

	a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = _mm512_setzero_ps();
	a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = _mm512_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m512 w0 = linear_row512(p0, k, half);
		__m512 w1 = linear_row512(p1, k, half);
		LINEAR_FMA512(0);
		LINEAR_FMA512(1);
		LINEAR_FMA512(2);
		LINEAR_FMA512(3);
		LINEAR_FMA512(4);
		LINEAR_FMA512(5);
		LINEAR_FMA512(6);
		LINEAR_FMA512(7);
	}
	LINEAR_STORE512(0);
	LINEAR_STORE512(1);
	LINEAR_STORE512(2);
	LINEAR_STORE512(3);
	LINEAR_STORE512(4);
	LINEAR_STORE512(5);
	LINEAR_STORE512(6);
	LINEAR_STORE512(7);
}

/* linear_store for AVX-512: masked 16-lane halves instead of a scalar loop. */
__attribute__((target("avx512f")))
static void linear_store_avx512(float *y, int ldy, const float *acc, int rows, int cols,
    const float *bias, bool accumulate)
{
	for (int h = 0; h < 2 && h * 16 < cols; h++) {
		int n = cols - h * 16 < 16 ? cols - h * 16 : 16;
		__mmask16 m = (__mmask16)((1u << n) - 1);
		__m512 b = bias != NULL ? _mm512_maskz_loadu_ps(m, bias + h * 16) : _mm512_setzero_ps();
		for (int r = 0; r < rows; r++) {
			float *yr = y + (size_t)r * ldy + h * 16;
			__m512 v = _mm512_add_ps(_mm512_loadu_ps(acc + r * 32 + h * 16), b);
			if (accumulate)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yr));
			_mm512_mask_storeu_ps(yr, m, v);
		}
	}
}

/* The same for any rows <= 8 (fewer: the last tile, and short queries). */
LINEAR_INLINE512 void linear_tile_any_avx512(const float *x, int ldx, int rows, const void *p0,
    const void *p1, int in, float *acc, bool half)
{
	__m512 a[8][2];

	if (rows == 8) {
		linear_tile8_avx512(x, ldx, p0, p1, in, acc, half);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm512_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m512 w0 = linear_row512(p0, k, half);
		__m512 w1 = linear_row512(p1, k, half);
		for (int r = 0; r < rows; r++) {
			__m512 xb = _mm512_set1_ps(x[(size_t)r * ldx + k]);
			a[r][0] = _mm512_fmadd_ps(xb, w0, a[r][0]);
			a[r][1] = _mm512_fmadd_ps(xb, w1, a[r][1]);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm512_storeu_ps(acc + r * 32, a[r][0]);
		_mm512_storeu_ps(acc + r * 32 + 16, a[r][1]);
	}
}

__attribute__((target("avx512f")))
static void linear_tile_avx512(const float *x, int ldx, int rows, const float *p0,
    const float *p1, int in, float *acc)
{
	linear_tile_any_avx512(x, ldx, rows, p0, p1, in, acc, false);
}

__attribute__((target("avx512f")))
static void linear_tile_avx512_f16(const float *x, int ldx, int rows, const uint16_t *p0,
    const uint16_t *p1, int in, float *acc)
{
	linear_tile_any_avx512(x, ldx, rows, p0, p1, in, acc, true);
}

#define LINEAR_FMA256(r) \
	do { \
		__m256 xb = _mm256_broadcast_ss(x + (size_t)(r) * ldx + k); \
		a##r##0 = _mm256_fmadd_ps(xb, w0, a##r##0); \
		a##r##1 = _mm256_fmadd_ps(xb, w1, a##r##1); \
	} while (0)
#define LINEAR_STORE256(r) \
	do { \
		_mm256_storeu_ps(acc + (r) * 32, a##r##0); \
		_mm256_storeu_ps(acc + (r) * 32 + 8, a##r##1); \
	} while (0)

/* Lanes 8 · h .. 8 · h + 7 of panel row k (see linear_row512). */
LINEAR_INLINE256 __m256 linear_row256(const void *panel, int k, int h, bool half)
{
	if (half)
		return _mm256_cvtph_ps(_mm_load_si128((const __m128i *)((const uint16_t *)panel +
		    (size_t)k * 16 + 8 * h)));
	return _mm256_load_ps((const float *)panel + (size_t)k * 16 + 8 * h);
}

/*
 * acc[r][0..16) = Σ_k x[r][k] · panel[k] for 6 rows.
 *   x [6, in] with row stride ldx; panel [in, 16]; acc [6, 32]
 */
LINEAR_INLINE256 void linear_tile6_avx2(const float *x, int ldx, const void *panel, int in,
    float *acc, bool half)
{
	__m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;

	a00 = a01 = a10 = a11 = a20 = a21 = _mm256_setzero_ps();
	a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m256 w0 = linear_row256(panel, k, 0, half);
		__m256 w1 = linear_row256(panel, k, 1, half);
		LINEAR_FMA256(0);
		LINEAR_FMA256(1);
		LINEAR_FMA256(2);
		LINEAR_FMA256(3);
		LINEAR_FMA256(4);
		LINEAR_FMA256(5);
	}
	LINEAR_STORE256(0);
	LINEAR_STORE256(1);
	LINEAR_STORE256(2);
	LINEAR_STORE256(3);
	LINEAR_STORE256(4);
	LINEAR_STORE256(5);
}

/* acc[r][0..16) = Σ_k x[r][k] · panel[k], r < rows <= 6. */
LINEAR_INLINE256 void linear_tile_any_avx2(const float *x, int ldx, int rows, const void *panel,
    int in, float *acc, bool half)
{
	__m256 a[6][2];

	if (rows == 6) {
		linear_tile6_avx2(x, ldx, panel, in, acc, half);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm256_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m256 w0 = linear_row256(panel, k, 0, half);
		__m256 w1 = linear_row256(panel, k, 1, half);
		for (int r = 0; r < rows; r++) {
			__m256 xb = _mm256_broadcast_ss(x + (size_t)r * ldx + k);
			a[r][0] = _mm256_fmadd_ps(xb, w0, a[r][0]);
			a[r][1] = _mm256_fmadd_ps(xb, w1, a[r][1]);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm256_storeu_ps(acc + r * 32, a[r][0]);
		_mm256_storeu_ps(acc + r * 32 + 8, a[r][1]);
	}
}

/* fp32 panels need no F16C: this one is built for AVX2 and FMA alone. */
__attribute__((target("avx2,fma")))
static void linear_tile_avx2(const float *x, int ldx, int rows, const float *panel, int in,
    float *acc)
{
	__m256 a[6][2];

	if (rows == 6) {
		__m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;

		a00 = a01 = a10 = a11 = a20 = a21 = _mm256_setzero_ps();
		a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
		for (int k = 0; k < in; k++) {
			__m256 w0 = _mm256_load_ps(panel + (size_t)k * 16);
			__m256 w1 = _mm256_load_ps(panel + (size_t)k * 16 + 8);
			LINEAR_FMA256(0);
			LINEAR_FMA256(1);
			LINEAR_FMA256(2);
			LINEAR_FMA256(3);
			LINEAR_FMA256(4);
			LINEAR_FMA256(5);
		}
		LINEAR_STORE256(0);
		LINEAR_STORE256(1);
		LINEAR_STORE256(2);
		LINEAR_STORE256(3);
		LINEAR_STORE256(4);
		LINEAR_STORE256(5);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm256_setzero_ps();
	for (int k = 0; k < in; k++) {
		__m256 w0 = _mm256_load_ps(panel + (size_t)k * 16);
		__m256 w1 = _mm256_load_ps(panel + (size_t)k * 16 + 8);
		for (int r = 0; r < rows; r++) {
			__m256 xb = _mm256_broadcast_ss(x + (size_t)r * ldx + k);
			a[r][0] = _mm256_fmadd_ps(xb, w0, a[r][0]);
			a[r][1] = _mm256_fmadd_ps(xb, w1, a[r][1]);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm256_storeu_ps(acc + r * 32, a[r][0]);
		_mm256_storeu_ps(acc + r * 32 + 8, a[r][1]);
	}
}

/* The F16 panels' copy: F16C widens each panel row. */
__attribute__((target("avx2,fma,f16c")))
static void linear_tile_avx2_f16(const float *x, int ldx, int rows, const uint16_t *panel, int in,
    float *acc)
{
	linear_tile_any_avx2(x, ldx, rows, panel, in, acc, true);
}
#endif

/*
 * The bf16 tiles: acc[r][0..32) = Σ_j x[r] pair j · (panel p0 | panel p1)
 * pair j, summed in fp32 pair by pair, the odd element first.
 *   x [rows, pairs] bf16 pairs with row stride ldx; p0, p1 [pairs, 16, 2];
 *   acc [rows, 32]
 */
static float linear_ftz(float v)
{
	/* vdpbf16ps flushes a denormal sum to zero (and reads one as zero). */
	return fabsf(v) < FLT_MIN ? copysignf(0.0f, v) : v;
}

static void linear_tile_bf16_ref(const uint32_t *x, int ldx, int rows, const uint16_t *p0,
    const uint16_t *p1, int pairs, float *acc)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < 32; c++) {
			const uint16_t *w = (c < 16 ? p0 : p1) + (c % 16) * 2;
			const uint32_t *xr = x + (size_t)r * ldx;
			float a = 0;

			for (int j = 0; j < pairs; j++) {
				float x0 = linear_from_bf16((uint16_t)(xr[j] & 0xffff));
				float x1 = linear_from_bf16((uint16_t)(xr[j] >> 16));
				a = linear_ftz(a + x1 * linear_from_bf16(w[(size_t)j * 32 + 1]));
				a = linear_ftz(a + x0 * linear_from_bf16(w[(size_t)j * 32]));
			}
			acc[r * 32 + c] = a;
		}
}

/* xb [n, pairs] = x [n, in] as bf16 pairs, zero past in. */
static void linear_round_rows_ref(uint32_t *xb, int pairs, const float *x, int in, int n)
{
	for (int r = 0; r < n; r++) {
		const float *xr = x + (size_t)r * in;
		uint32_t *br = xb + (size_t)r * pairs;
		for (int j = 0; j < pairs; j++) {
			uint32_t lo = linear_to_bf16(xr[2 * j]);
			uint32_t hi = 2 * j + 1 < in ? linear_to_bf16(xr[2 * j + 1]) : 0;
			br[j] = lo | hi << 16;
		}
	}
}

#ifdef LINEAR_X86
#define LINEAR_BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

/* linear_round_rows_ref with vcvtne2ps2bf16, 32 values at a time. */
LINEAR_BF16_TARGET
static void linear_round_rows_bf16(uint32_t *xb, int pairs, const float *x, int in, int n)
{
	for (int r = 0; r < n; r++) {
		const float *xr = x + (size_t)r * in;
		uint16_t *br = (uint16_t *)(xb + (size_t)r * pairs);
		int k = 0;

		for (; k + 32 <= in; k += 32) {
			__m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + k + 16),
			    _mm512_loadu_ps(xr + k));
			_mm512_storeu_si512(br + k, (__m512i)h);
		}
		if (k < 2 * pairs) {
			int left = in - k, store = 2 * pairs - k; /* store = left rounded up to even */
			__mmask16 lo = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
			__mmask16 hi = (__mmask16)(left <= 16 ? 0 : (1u << (left - 16)) - 1);
			__m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, xr + k + 16),
			    _mm512_maskz_loadu_ps(lo, xr + k));
			_mm512_mask_storeu_epi16(br + k, (__mmask32)(((uint64_t)1 << store) - 1),
			    (__m512i)h);
		}
	}
}

/*
 * The same sums on AVX-512F FMAs, for CPUs whose vdpbf16ps is slow: on the
 * Xeon (Emerald Rapids) development VM it retires a third as often as an
 * FMA, so two FMAs per pair beat it.  A product of two bf16 values is exact
 * in fp32, so fma(x1, w1, acc) then fma(x0, w0, acc) round exactly as
 * vdpbf16ps's two steps do; the results differ only where vdpbf16ps
 * flushes a denormal (a product or partial sum below FLT_MIN).  x comes
 * rounded to bf16 and widened back to fp32 (linear_round_rows_f32_avx512), w is
 * widened in registers: the odd element is the pair's high half, the even
 * one the low half shifted up.
 *   x [rows, 2 · pairs] with row stride ldx (floats)
 */
#define LINEAR_FMA_BF16(r) \
	do { \
		const float *xr = x + (size_t)(r) * ldx + 2 * j; \
		__m512 x1 = _mm512_set1_ps(xr[1]), x0 = _mm512_set1_ps(xr[0]); \
		a##r##0 = _mm512_fmadd_ps(x0, w0e, _mm512_fmadd_ps(x1, w0o, a##r##0)); \
		a##r##1 = _mm512_fmadd_ps(x0, w1e, _mm512_fmadd_ps(x1, w1o, a##r##1)); \
	} while (0)

__attribute__((target("avx512f")))
static void linear_tile8_bf16fma(const float *x, int ldx, const uint16_t *p0, const uint16_t *p1,
    int pairs, float *acc)
{
	__m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;
	const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);

	a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = _mm512_setzero_ps();
	a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = _mm512_setzero_ps();
	for (int j = 0; j < pairs; j++) {
		__m512i v0 = _mm512_load_si512(p0 + (size_t)j * 32);
		__m512i v1 = _mm512_load_si512(p1 + (size_t)j * 32);
		__m512 w0o = _mm512_castsi512_ps(_mm512_and_si512(v0, hi));
		__m512 w0e = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16));
		__m512 w1o = _mm512_castsi512_ps(_mm512_and_si512(v1, hi));
		__m512 w1e = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16));
		LINEAR_FMA_BF16(0);
		LINEAR_FMA_BF16(1);
		LINEAR_FMA_BF16(2);
		LINEAR_FMA_BF16(3);
		LINEAR_FMA_BF16(4);
		LINEAR_FMA_BF16(5);
		LINEAR_FMA_BF16(6);
		LINEAR_FMA_BF16(7);
	}
	LINEAR_STORE512(0);
	LINEAR_STORE512(1);
	LINEAR_STORE512(2);
	LINEAR_STORE512(3);
	LINEAR_STORE512(4);
	LINEAR_STORE512(5);
	LINEAR_STORE512(6);
	LINEAR_STORE512(7);
}

__attribute__((target("avx512f")))
static void linear_tile_bf16fma(const float *x, int ldx, int rows, const uint16_t *p0,
    const uint16_t *p1, int pairs, float *acc)
{
	const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
	__m512 a[8][2];

	if (rows == 8) {
		linear_tile8_bf16fma(x, ldx, p0, p1, pairs, acc);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm512_setzero_ps();
	for (int j = 0; j < pairs; j++) {
		__m512i v0 = _mm512_load_si512(p0 + (size_t)j * 32);
		__m512i v1 = _mm512_load_si512(p1 + (size_t)j * 32);
		__m512 w0o = _mm512_castsi512_ps(_mm512_and_si512(v0, hi));
		__m512 w0e = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16));
		__m512 w1o = _mm512_castsi512_ps(_mm512_and_si512(v1, hi));
		__m512 w1e = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16));
		for (int r = 0; r < rows; r++) {
			const float *xr = x + (size_t)r * ldx + 2 * j;
			__m512 x1 = _mm512_set1_ps(xr[1]), x0 = _mm512_set1_ps(xr[0]);
			a[r][0] = _mm512_fmadd_ps(x0, w0e, _mm512_fmadd_ps(x1, w0o, a[r][0]));
			a[r][1] = _mm512_fmadd_ps(x0, w1e, _mm512_fmadd_ps(x1, w1o, a[r][1]));
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm512_storeu_ps(acc + r * 32, a[r][0]);
		_mm512_storeu_ps(acc + r * 32 + 16, a[r][1]);
	}
}

/*
 * xf [n, 2 · pairs] = x [n, in] rounded to bf16 and widened back, zero past
 * in: 16 values at a time, the same integer steps as
 * linear_to_bf16 (NaNs quieted, denormals to signed zero, round to nearest
 * even), then widened back by keeping the high half.  In C it cost a few
 * ms per query of the text tower and about 7 % of the image tower.
 */
__attribute__((target("avx512f")))
static void linear_round_rows_f32_avx512(float *xf, int pairs, const float *x, int in, int n)
{
	const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
	const __m512i hi = _mm512_set1_epi32((int)0xffff0000u), one = _mm512_set1_epi32(1);
	const __m512i bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x00400000);
	const __m512i sign = _mm512_set1_epi32((int)0x80000000u);

	for (int r = 0; r < n; r++) {
		const float *xr = x + (size_t)r * in;
		float *fr = xf + (size_t)r * 2 * pairs;

		for (int k = 0; k < 2 * pairs; k += 16) {
			int left = in - k;
			__mmask16 m = (__mmask16)(left >= 16 ? 0xffff : left > 0 ? (1u << left) - 1 : 0);
			int store = 2 * pairs - k < 16 ? 2 * pairs - k : 16;
			__m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, xr + k));
			__mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs_mask), inf);
			__mmask16 den = _mm512_testn_epi32_mask(u, inf);
			__m512i rnd = _mm512_add_epi32(u, _mm512_add_epi32(bias,
			    _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
			rnd = _mm512_and_si512(rnd, hi);
			rnd = _mm512_mask_mov_epi32(rnd, nan, _mm512_or_si512(_mm512_and_si512(u, hi), quiet));
			rnd = _mm512_mask_mov_epi32(rnd, den, _mm512_and_si512(u, sign));
			_mm512_mask_storeu_ps(fr + k, (__mmask16)((1u << store) - 1),
			    _mm512_castsi512_ps(rnd));
		}
	}
}

#define LINEAR_DP(r) \
	do { \
		__m512bh xb = (__m512bh)_mm512_set1_epi32((int)x[(size_t)(r) * ldx + j]); \
		a##r##0 = _mm512_dpbf16_ps(a##r##0, xb, w0); \
		a##r##1 = _mm512_dpbf16_ps(a##r##1, xb, w1); \
	} while (0)

LINEAR_BF16_TARGET
static void linear_tile8_bf16(const uint32_t *x, int ldx, const uint16_t *p0, const uint16_t *p1,
    int pairs, float *acc)
{
	__m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;

	a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = _mm512_setzero_ps();
	a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = _mm512_setzero_ps();
	for (int j = 0; j < pairs; j++) {
		__m512bh w0 = (__m512bh)_mm512_load_si512(p0 + (size_t)j * 32);
		__m512bh w1 = (__m512bh)_mm512_load_si512(p1 + (size_t)j * 32);
		LINEAR_DP(0);
		LINEAR_DP(1);
		LINEAR_DP(2);
		LINEAR_DP(3);
		LINEAR_DP(4);
		LINEAR_DP(5);
		LINEAR_DP(6);
		LINEAR_DP(7);
	}
	LINEAR_STORE512(0);
	LINEAR_STORE512(1);
	LINEAR_STORE512(2);
	LINEAR_STORE512(3);
	LINEAR_STORE512(4);
	LINEAR_STORE512(5);
	LINEAR_STORE512(6);
	LINEAR_STORE512(7);
}

LINEAR_BF16_TARGET
static void linear_tile_bf16(const uint32_t *x, int ldx, int rows, const uint16_t *p0,
    const uint16_t *p1, int pairs, float *acc)
{
	__m512 a[8][2];

	if (rows == 8) {
		linear_tile8_bf16(x, ldx, p0, p1, pairs, acc);
		return;
	}
	for (int r = 0; r < rows; r++)
		a[r][0] = a[r][1] = _mm512_setzero_ps();
	for (int j = 0; j < pairs; j++) {
		__m512bh w0 = (__m512bh)_mm512_load_si512(p0 + (size_t)j * 32);
		__m512bh w1 = (__m512bh)_mm512_load_si512(p1 + (size_t)j * 32);
		for (int r = 0; r < rows; r++) {
			__m512bh xb = (__m512bh)_mm512_set1_epi32((int)x[(size_t)r * ldx + j]);
			a[r][0] = _mm512_dpbf16_ps(a[r][0], xb, w0);
			a[r][1] = _mm512_dpbf16_ps(a[r][1], xb, w1);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm512_storeu_ps(acc + r * 32, a[r][0]);
		_mm512_storeu_ps(acc + r * 32 + 16, a[r][1]);
	}
}
#endif

typedef struct {
	const linear *l;
	float *y;
	const float *x, *bias;
	int rows;
	bool accumulate;
} linear_job;

/*
 * One part: a range of column groups (AVX-512: panel pairs, AVX2: single
 * panels), every row tile of each.
 */
static void linear_part(void *ctx, int part, int parts)
{
	const linear_job *j = ctx;
	const linear *l = j->l;
	int per = l->kernel == LINEAR_AVX512 ? 2 : 1; /* panels per group */
	int tile = l->kernel == LINEAR_AVX512 ? 8 : 6; /* rows per tile */
	int groups = (l->panels + per - 1) / per;
	int g0 = (int)((int64_t)groups * part / parts), g1 = (int)((int64_t)groups * (part + 1) / parts);
	float acc[8 * 32];

	for (int g = g0; g < g1; g++) {
		int p = g * per, col = p * LINEAR_PANEL;
		int cols = l->out - col < per * LINEAR_PANEL ? l->out - col : per * LINEAR_PANEL;
		size_t at = (size_t)p * l->in * LINEAR_PANEL;
		/* An odd last panel pairs with itself; its second half is dropped. */
		size_t next = p + 1 < l->panels ? (size_t)l->in * LINEAR_PANEL : 0;
		const float *p0 = NULL, *p1 = NULL;
		const uint16_t *h0 = NULL, *h1 = NULL;

		if (l->packed_h != NULL) {
			h0 = l->packed_h + at;
			h1 = h0 + next;
		} else {
			p0 = l->packed + at;
			p1 = p0 + next;
		}

		for (int r = 0; r < j->rows; r += tile) {
			int nr = j->rows - r < tile ? j->rows - r : tile;
			const float *x = j->x + (size_t)r * l->in;
#ifdef LINEAR_X86
			if (l->kernel == LINEAR_AVX512 && h0 != NULL)
				linear_tile_avx512_f16(x, l->in, nr, h0, h1, l->in, acc);
			else if (l->kernel == LINEAR_AVX512)
				linear_tile_avx512(x, l->in, nr, p0, p1, l->in, acc);
			else if (h0 != NULL)
				linear_tile_avx2_f16(x, l->in, nr, h0, l->in, acc);
			else
				linear_tile_avx2(x, l->in, nr, p0, l->in, acc);
#else
			(void)x;
			(void)p1;
			(void)h1;
#endif
#ifdef LINEAR_X86
			if (l->kernel == LINEAR_AVX512) {
				linear_store_avx512(j->y + (size_t)r * l->out + col, l->out, acc, nr, cols,
				    j->bias != NULL ? j->bias + col : NULL, j->accumulate);
				continue;
			}
#endif
			linear_store(j->y + (size_t)r * l->out + col, l->out, acc, nr, cols,
			    j->bias != NULL ? j->bias + col : NULL, j->accumulate);
		}
	}
}

/*
 * One bf16 part: its range of panel pairs, over blocks of rows rounded to
 * bf16 into a stack buffer of LINEAR_BF16_STACK bytes (a thread's stack
 * has megabytes; linear_new keeps pairs small enough for a row to fit).
 */
static void linear_part_bf16(void *ctx, int part, int parts)
{
	const linear_job *j = ctx;
	const linear *l = j->l;
	int groups = (l->panels + 1) / 2;
	int g0 = (int)((int64_t)groups * part / parts), g1 = (int)((int64_t)groups * (part + 1) / parts);
	union {
		uint32_t pairs[LINEAR_BF16_STACK / sizeof(uint32_t)];
		float f32[LINEAR_BF16_STACK / sizeof(float)];
	} buf;
	uint32_t *xb = buf.pairs;
	float *xf = buf.f32;
	bool ref = l->kernel == LINEAR_BF16_REF, fma = l->kernel == LINEAR_BF16_FMA;
	/* The FMA kernel takes x widened back to fp32: two words a pair. */
	int block = (int)(LINEAR_BF16_STACK / sizeof(uint32_t) / (size_t)l->pairs / (fma ? 2 : 1));
	float acc[8 * 32];

#ifndef LINEAR_X86
	(void)ref; /* only the reference runs here */
	(void)xf;
#endif
	if (block > LINEAR_BF16_BLOCK)
		block = LINEAR_BF16_BLOCK;
	else if (block > 8)
		block -= block % 8; /* whole 8-row tiles */
	if (g0 >= g1)
		return;
	for (int r0 = 0; r0 < j->rows; r0 += block) {
		int nb = j->rows - r0 < block ? j->rows - r0 : block;
		const float *x = j->x + (size_t)r0 * l->in;

#ifdef LINEAR_X86
		if (fma)
			linear_round_rows_f32_avx512(xf, l->pairs, x, l->in, nb);
		else if (!ref)
			linear_round_rows_bf16(xb, l->pairs, x, l->in, nb);
		else
#endif
			linear_round_rows_ref(xb, l->pairs, x, l->in, nb);
		for (int g = g0; g < g1; g++) {
			int p = 2 * g, col = p * LINEAR_PANEL;
			int cols = l->out - col < 2 * LINEAR_PANEL ? l->out - col : 2 * LINEAR_PANEL;
			const uint16_t *p0 = l->packed16 + (size_t)p * l->pairs * 32;
			const uint16_t *p1 = p + 1 < l->panels ? p0 + (size_t)l->pairs * 32 : p0;

			for (int r = 0; r < nb; r += 8) {
				int nr = nb - r < 8 ? nb - r : 8;
				float *y = j->y + (size_t)(r0 + r) * l->out + col;
				const float *bias = j->bias != NULL ? j->bias + col : NULL;
#ifdef LINEAR_X86
				if (fma) {
					linear_tile_bf16fma(xf + (size_t)r * 2 * l->pairs,
					    2 * l->pairs, nr, p0, p1, l->pairs, acc);
					linear_store_avx512(y, l->out, acc, nr, cols, bias, j->accumulate);
					continue;
				}
				if (!ref) {
					linear_tile_bf16(xb + (size_t)r * l->pairs, l->pairs, nr, p0, p1,
					    l->pairs, acc);
					linear_store_avx512(y, l->out, acc, nr, cols, bias, j->accumulate);
					continue;
				}
#endif
				linear_tile_bf16_ref(xb + (size_t)r * l->pairs, l->pairs, nr, p0, p1,
				    l->pairs, acc);
				linear_store(y, l->out, acc, nr, cols, bias, j->accumulate);
			}
		}
	}
}

/*
 * Which bf16 kernel is faster here, timed once per process on a small
 * product (about 10 ms): vdpbf16ps does a pair per lane at the
 * FMA's rate on AMD Zen 4 (twice the FMA kernel's speed) but at a third of
 * it on Intel's Sapphire and Emerald Rapids (measured: the FMA kernel is
 * about 2.3x faster there).  Both give the same numbers (see
 * linear_tile8_bf16fma), so the choice never changes a result.  Racing
 * threads may both time it; they store the same kind of answer.
 */
static linear_kernel linear_bf16_fastest(void)
{
	static _Atomic int chosen; /* 0: not timed yet, else a linear_kernel + 1 */
	static const linear_kernel ks[2] = { LINEAR_BF16, LINEAR_BF16_FMA };
	enum { ROWS = 64, IN = 768, OUT = 256 };
	double best[2] = { INFINITY, INFINITY };
	float *w, *x, *y;
	int c = chosen;

	if (c != 0)
		return (linear_kernel)(c - 1);
	w = tensor_zalloc((size_t)OUT * IN);
	x = tensor_zalloc((size_t)ROWS * IN);
	y = tensor_alloc((size_t)ROWS * OUT);
	linear *l[2] = { NULL, NULL };
	if (w != NULL && x != NULL && y != NULL) {
		l[0] = linear_new(w, OUT, IN, ks[0], NULL);
		l[1] = linear_new(w, OUT, IN, ks[1], NULL);
	}
	/* Alternating, best of several: a busy machine slows both alike. */
	for (int rep = 0; l[0] != NULL && l[1] != NULL && rep < 2 * 12; rep++) {
		linear_job j = { l[rep % 2], y, x, NULL, ROWS, false };
		double t0 = util_now();
		linear_part_bf16(&j, 0, 1); /* one thread: the kernels, not the sharing */
		double dt = util_now() - t0;
		if (rep >= 2 && dt < best[rep % 2]) /* the first of each is a warm-up */
			best[rep % 2] = dt;
	}
	linear_free(l[0]);
	linear_free(l[1]);
	tensor_free(w);
	tensor_free(x);
	tensor_free(y);
	/* vdpbf16ps only when clearly faster: a time slice lost to another process can
	 * make one kernel look slower in every try on a busy 2-core machine. */
	c = (best[0] * 1.25 < best[1] ? LINEAR_BF16 : LINEAR_BF16_FMA) + 1;
	chosen = c;
	return (linear_kernel)(c - 1);
}

void linear_forward(const linear *l, float *y, const float *x, const float *bias, int rows,
    bool accumulate)
{
	if (rows <= 0)
		return;
	if (l->kernel == LINEAR_BLAS) {
		if (!accumulate) {
			tensor_linear(y, x, l->w, bias, rows, l->in, l->out);
			return;
		}
		if (bias != NULL)
			for (int r = 0; r < rows; r++)
				for (int o = 0; o < l->out; o++)
					y[(size_t)r * l->out + o] += bias[o];
		tensor_gemm(false, true, rows, l->out, l->in, 1, x, l->in, l->w, l->in, 1, y, l->out);
		return;
	}
	linear_job j = { l, y, x, bias, rows, accumulate };
	int per = l->kernel == LINEAR_AVX2 ? 1 : 2;

	if (linear_kernel_is_bf16(l->kernel)) {
		parallel_run(linear_part_bf16, &j, (size_t)rows * l->out * l->in, (size_t)1 << 18,
		    (l->panels + 1) / 2);
		return;
	}
	/* A thread is worth it above about a quarter million multiply-adds. */
	parallel_run(linear_part, &j, (size_t)rows * l->out * l->in, (size_t)1 << 18,
	    (l->panels + per - 1) / per);
}
