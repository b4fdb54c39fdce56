/*
 * test-embed — `clipgrep embed` end to end: the golden frames written with
 * core/npy and encoded with --frames-npy reproduce the golden image-tower
 * outputs; the JSON, safetensors and .npy outputs of one input hold the
 * same numbers (headers parsed here by core/json, core/safetensors and
 * core/npy); a malformed --frames-npy gives an error naming the file; with
 * $FFMPEG, a generated clip's video outputs agree across formats too.
 * Runs the program named by $CLIPGREP (make check sets it).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "npy.h"
#include "safetensors.h"
#include "tap.h"

static char dir[] = "/tmp/clipgrep-test-embed-XXXXXX";
static const char *prog, *top;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = 0;
	}
	fclose(f);
	return buf;
}

/* tensor name of item (or -1) from a JSON output: [numel] floats, NULL if missing. */
static float *json_tensor(const json_value *doc, int item, const char *name, size_t *numel)
{
	const json_value *items = json_get(doc, "items"), *t, *data;
	float *out;

	if (items == NULL || json_length(items) <= (size_t)(item < 0 ? 0 : item))
		return NULL;
	t = json_get(json_get(json_at(items, (size_t)(item < 0 ? 0 : item)), "tensors"), name);
	data = t ? json_get(t, "data") : NULL;
	if (data == NULL)
		return NULL;
	*numel = json_length(data);
	out = malloc((*numel + 1) * sizeof *out);
	for (size_t i = 0; out != NULL && i < *numel; i++)
		out[i] = json_kind(json_at(data, i)) == JSON_NULL ? NAN :
		    (float)json_number(json_at(data, i));
	return out;
}

static float *st_tensor_f32(st_file *f, const char *name, size_t *numel)
{
	const st_tensor *t = f ? st_find(f, name) : NULL;
	float *out;
	char *cause = NULL;

	if (t == NULL)
		return NULL;
	*numel = 1;
	for (int i = 0; i < t->ndim; i++)
		*numel *= (size_t)t->shape[i];
	out = malloc((*numel + 1) * sizeof *out);
	if (t->dtype == ST_I32) {
		const int32_t *p = (const int32_t *)t->data;

		for (size_t i = 0; out && i < *numel; i++)
			out[i] = (float)p[i];
		return out;
	}
	if (out != NULL && st_read_f32(f, t, out, &cause) == -1) {
		free(cause);
		free(out);
		return NULL;
	}
	return out;
}

static int same(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
			return 0;
	return 1;
}

/* One tensor in the three outputs under base (base.json, base.st, base.npyd/). */
static void check_formats(const char *base, int item, const char *name)
{
	char path[2048], stname[64];
	size_t len, nj = 0, ns = 0;
	char *text, *cause = NULL;
	json_value *doc;
	st_file *st;
	npy_array a;
	float *vj, *vs;
	int npy_ok;

	snprintf(path, sizeof path, "%s.json", base);
	text = slurp(path, &len);
	doc = text ? json_parse(text, len, &cause) : NULL;
	vj = doc ? json_tensor(doc, item, name, &nj) : NULL;
	snprintf(path, sizeof path, "%s.st", base);
	st = st_open(path, &cause);
	if (item < 0)
		snprintf(stname, sizeof stname, "%s", name);
	else
		snprintf(stname, sizeof stname, "%d.%s", item, name);
	vs = st_tensor_f32(st, stname, &ns);
	snprintf(path, sizeof path, "%s.npyd/%s.npy", base, stname);
	npy_ok = npy_read(path, &a, &cause) == 0;
	tap_ok(vj != NULL && vs != NULL && npy_ok && nj == ns && ns == npy_array_numel(&a) &&
	    same(vj, vs, ns) && same(vs, a.data, ns),
	    "%s %s: JSON, safetensors and .npy agree (%zu values)", base + strlen(dir) + 1,
	    stname, ns);
	if (st != NULL)
		tap_ok(st_metadata(st, "clipgrep.version") != NULL &&
		    strcmp(st_metadata(st, "clipgrep.version"), PACKAGE_VERSION) == 0 &&
		    st_metadata(st, "clipgrep.model_hash") != NULL &&
		    doc != NULL && json_get(json_get(doc, "model"), "hash") != NULL &&
		    strcmp(json_string(json_get(json_get(doc, "model"), "hash"), NULL),
		    st_metadata(st, "clipgrep.model_hash")) == 0,
		    "%s: version and model hash recorded", stname);
	free(cause);
	npy_array_free(&a);
	free(vj);
	free(vs);
	st_close(st);
	json_free(doc);
	free(text);
}

/* Run embed ARGS once per format into base.{json,st,npyd}. */
static int embed3(const char *base, const char *args)
{
	return sh("%s embed %s --out %s.json && %s embed %s --format safetensors --out %s.st && "
	    "%s embed %s --format npy --out %s.npyd", prog, args, base, prog, args, base,
	    prog, args, base);
}

static void test_golden_frames(void)
{
	enum { N = 4, S = 32, E = 16 };
	char path[2048], base[1024], args[4096], *cause = NULL;
	st_file *g;
	float *frames, *want;
	size_t n1 = 0, n2 = 0;
	int64_t shape[4] = { N, 3, S, S };
	npy_array a;
	double err = 0, scale = 0;

	snprintf(path, sizeof path, "%s/tests/golden/tiny-clip-out.safetensors", top);
	g = st_open(path, &cause);
	frames = st_tensor_f32(g, "frames", &n1);
	want = st_tensor_f32(g, "image_embeds", &n2);
	if (!tap_ok(frames && want && n1 == (size_t)N * 3 * S * S && n2 == (size_t)N * E,
	    "golden frames and image_embeds")) {
		free(cause);
		st_close(g);
		return;
	}
	snprintf(path, sizeof path, "%s/frames.npy", dir);
	tap_ok(npy_write(path, 4, shape, frames, &cause) == 0, "golden frames written as .npy");
	snprintf(base, sizeof base, "%s/golden", dir);
	snprintf(args, sizeof args, "--model %s/tests/golden/tiny-clip.safetensors --frames-npy %s",
	    top, path);
	tap_ok(embed3(base, args) == 0, "embed --frames-npy in three formats");
	snprintf(path, sizeof path, "%s.npyd/frames.npy", base);
	if (tap_ok(npy_read(path, &a, &cause) == 0 && a.ndim == 2 && a.shape[0] == N &&
	    a.shape[1] == E, "frames output [4, 16]")) {
		for (size_t i = 0; i < n2; i++) {
			err = fmax(err, fabs((double)a.data[i] - want[i]));
			scale = fmax(scale, fabs((double)want[i]));
		}
		tap_ok(err <= 1e-4 * scale, "--frames-npy reproduces the golden tower output "
		    "(max error %.2e, relative %.2e)", err, err / scale);
	}
	npy_array_free(&a);
	check_formats(base, -1, "frames");

	/* Malformed inputs: the error names the file. */
	snprintf(path, sizeof path, "%s/bad.npy", dir);
	shape[0] = 3; /* same element count as the golden frames */
	shape[1] = 4;
	npy_write(path, 4, shape, frames, &cause);
	tap_ok(sh("%s embed --model %s/tests/golden/tiny-clip.safetensors --frames-npy %s "
	    "2>%s/err >/dev/null", prog, top, path, dir) == 2, "wrong frame shape: exit 2");
	snprintf(base, sizeof base, "%s/err", dir);
	{
		size_t len;
		char *e = slurp(base, &len);

		tap_ok(e != NULL && strstr(e, "bad.npy") && strstr(e, "[N, 3, 32, 32]"),
		    "and says so: %s", e ? e : "");
		free(e);
		sh("head -c 1000 %s/frames.npy > %s/trunc.npy", dir, dir);
		sh("%s embed --model %s/tests/golden/tiny-clip.safetensors --frames-npy %s/trunc.npy "
		    "2>%s/err >/dev/null", prog, top, dir, dir);
		e = slurp(base, &len);
		tap_ok(e != NULL && strstr(e, "trunc.npy") && strstr(e, "truncated"),
		    "truncated .npy named: %s", e ? e : "");
		free(e);
	}
	free(cause);
	free(frames);
	free(want);
	st_close(g);
}

static void test_text(void)
{
	char base[1024], args[3072];

	snprintf(base, sizeof base, "%s/text", dir);
	snprintf(args, sizeof args, "--model %s/tests/golden/tiny-tcmgc.safetensors "
	    "--text 'a dog runs' 'cat'", top);
	tap_ok(embed3(base, args) == 0, "embed --text in three formats");
	check_formats(base, 0, "token_ids");
	check_formats(base, 0, "sentence");
	check_formats(base, 1, "words");
	check_formats(base, 1, "words_norm");
}

static void test_video(void)
{
	const char *ff = getenv("FFMPEG");
	char base[1024], args[3072];

	if (ff == NULL || *ff == 0 || sh("'%s' -nostdin -v error -y -f lavfi -i "
	    "testsrc2=size=96x64:rate=10:duration=2 -pix_fmt yuv420p %s/v.mp4", ff, dir) != 0) {
		printf("ok %d - # SKIP no ffmpeg\n", ++tap_count);
		return;
	}
	snprintf(base, sizeof base, "%s/vt", dir);
	snprintf(args, sizeof args, "--model %s/tests/golden/tiny-tcmgc.safetensors --video %s/v.mp4",
	    top, dir);
	tap_ok(embed3(base, args) == 0, "embed --video (TC-MGC) in three formats");
	check_formats(base, 0, "times");
	check_formats(base, 0, "frames");
	check_formats(base, 0, "tcmgc_cache");
	check_formats(base, 0, "temporal");
	snprintf(base, sizeof base, "%s/ve", dir);
	snprintf(args, sizeof args, "--model %s/tests/golden/tiny-ea.safetensors --video %s/v.mp4",
	    top, dir);
	tap_ok(embed3(base, args) == 0, "embed --video (EA) in three formats");
	check_formats(base, 0, "ea_cache");
}

int main(void)
{
	prog = getenv("CLIPGREP");
	top = getenv("top_srcdir");
	if (prog == NULL || top == NULL) {
		printf("1..0 # SKIP run through make check\n");
		return 77;
	}
	if (mkdtemp(dir) == NULL)
		return 99;
	test_golden_frames();
	test_text();
	test_video();
	sh("rm -rf %s", dir);
	return tap_done();
}
