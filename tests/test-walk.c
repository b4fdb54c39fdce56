/*
 * test-walk — the indexer's directory walk: order, video recognition,
 * hidden files, excludes, symbolic-link loops and linked-in trees, broken
 * links, unreadable directories, and that shards partition the files.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"
#include "walk.h"

static char tmp[256];

static const char *tp(const char *name)
{
	static char ring[8][512];
	static int at;
	char *p = ring[at++ % 8];

	snprintf(p, sizeof ring[0], "%s/%s", tmp, name);
	return p;
}

static void touch(const char *name)
{
	FILE *f = fopen(tp(name), "w");

	if (f != NULL)
		fclose(f);
}

/* mkdir -p tmp/name, or only its parents when parents_only. */
static void mkdirs_(const char *name, int parents_only)
{
	char buf[512], *p;

	snprintf(buf, sizeof buf, "%s", tp(name));
	for (p = buf + strlen(tmp) + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	if (!parents_only)
		mkdir(buf, 0755);
}

static void mkdirs(const char *name)
{
	mkdirs_(name, 0);
}

/* What a walk reported: "rel" lines joined by '|', and the problems. */
typedef struct {
	char files[8192];
	char errors[2048];
	int n, stop_after;
	char **all; /* optional: every rel, for the shard test */
	int nall;
} seen;

static int on_file(void *arg, const char *path, const char *rel, const struct stat *st)
{
	seen *s = arg;
	size_t used = strlen(s->files);

	(void)st;
	/* path is the root joined with rel. */
	if (strlen(path) < strlen(rel) || strcmp(path + strlen(path) - strlen(rel), rel) != 0)
		snprintf(s->files + used, sizeof s->files - used, "%sBADPATH(%s)", used ? "|" : "",
		    path);
	else
		snprintf(s->files + used, sizeof s->files - used, "%s%s", used ? "|" : "", rel);
	if (s->all != NULL)
		s->all[s->nall++] = util_strdup(rel);
	s->n++;
	return s->stop_after > 0 && s->n >= s->stop_after ? 5 : 0;
}

static void on_error(void *arg, const char *path, const char *reason)
{
	seen *s = arg;
	size_t used = strlen(s->errors);
	const char *rel = strncmp(path, tmp, strlen(tmp)) == 0 ? path + strlen(tmp) + 1 : path;

	snprintf(s->errors + used, sizeof s->errors - used, "%s%s: %s", used ? "|" : "", rel,
	    reason);
}

static int walk(const char *root, walk_options *opt, seen *s)
{
	char *cause = NULL;
	int rc;

	memset(s->files, 0, sizeof s->files);
	memset(s->errors, 0, sizeof s->errors);
	s->n = 0;
	opt->on_error = on_error;
	opt->error_arg = s;
	rc = walk_tree(root, opt, on_file, s, &cause);
	if (rc == -1)
		snprintf(s->errors, sizeof s->errors, "FAIL: %s", cause != NULL ? cause : "?");
	free(cause);
	return rc;
}

static void expect(const char *name, const char *got, const char *want)
{
	if (!tap_ok(strcmp(got, want) == 0, "%s", name)) {
		tap_diag("got:  %s", got);
		tap_diag("want: %s", want);
	}
}

static void build_tree(void)
{
	mkdirs("root/sub");
	mkdirs("root/.hiddendir");
	mkdirs("root/excluded");
	mkdirs("root/tmp");
	mkdirs("root/z/deep/er");
	mkdirs("outside");
	touch("root/a.mp4");
	touch("root/B.MKV");
	touch("root/notes.txt");
	touch("root/.hidden.mp4");
	touch("root/.hiddendir/x.mp4");
	touch("root/sub/c.webm");
	touch("root/sub/d.avi");
	touch("root/excluded/e.mp4");
	touch("root/tmp/f.mp4.part");
	touch("root/z/deep/er/g.ts");
	touch("root/name with\nnewline.mov");
	touch("outside/o.mp4");
	/* Links: a loop, a self-loop, a second way into sub, a tree outside, a dangling one. */
	if (symlink("..", tp("root/sub/loop")) != 0 || symlink(".", tp("root/sub/self")) != 0 ||
	    symlink("sub", tp("root/link-to-sub")) != 0 ||
	    symlink("../outside", tp("root/ext")) != 0 ||
	    symlink("nowhere.mp4", tp("root/broken.mp4")) != 0 ||
	    symlink("a.mp4", tp("root/alias.mp4")) != 0)
		tap_diag("symlink: %s", strerror(errno));
	if (mkfifo(tp("root/fifo.mp4"), 0644) != 0)
		tap_diag("mkfifo: %s", strerror(errno));
}

static void test_names(void)
{
	static const struct {
		const char *name;
		int video;
	} cases[] = {
		{ "a.mp4", 1 }, { "A.MP4", 1 }, { "x.MkV", 1 }, { "x.webm", 1 }, { "x.avi", 1 },
		{ "x.mov", 1 }, { "x.m4v", 1 }, { "x.mpg", 1 }, { "x.mpeg", 1 }, { "x.wmv", 1 },
		{ "x.flv", 1 }, { "x.ts", 1 }, { "x.mts", 1 }, { "x.m2ts", 1 }, { "x.3gp", 1 },
		{ "x.ogv", 1 }, { "x.mp4.part", 0 }, { "mp4", 0 }, { ".mp4", 0 }, { "x.mp3", 0 },
		{ "x.", 0 }, { "x.tsx", 0 }, { "", 0 },
	};
	int ok = 1;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (walk_is_video_name(cases[i].name) != cases[i].video) {
			tap_diag("walk_is_video_name(\"%s\") != %d", cases[i].name, cases[i].video);
			ok = 0;
		}
	}
	tap_ok(ok, "video names by extension, case-insensitive");
}

static void test_walks(void)
{
	const char *root = tp("root");
	char rootbuf[512];
	const char *ex1[] = { "excluded", "*.webm", NULL };
	const char *ex2[] = { "z/deep", NULL };
	walk_options opt;
	seen s;
	int rc;

	snprintf(rootbuf, sizeof rootbuf, "%s", root);
	root = rootbuf;
	memset(&s, 0, sizeof s);
	walk_options_init(&opt);
	rc = walk(root, &opt, &s);
	tap_ok(rc == 0, "walk the tree");
	expect("videos in byte order, real paths first, linked-in trees after, loops once",
	    s.files, "B.MKV|a.mp4|alias.mp4|excluded/e.mp4|name with\nnewline.mov|sub/c.webm|"
	    "sub/d.avi|z/deep/er/g.ts|ext/o.mp4");
	expect("a broken link to a video is reported; the fifo is skipped", s.errors,
	    "root/broken.mp4: broken symbolic link");

	opt.hidden = 1;
	walk(root, &opt, &s);
	expect("hidden files on request", s.files,
	    ".hidden.mp4|.hiddendir/x.mp4|B.MKV|a.mp4|alias.mp4|excluded/e.mp4|"
	    "name with\nnewline.mov|sub/c.webm|sub/d.avi|z/deep/er/g.ts|ext/o.mp4");
	opt.hidden = 0;

	opt.exclude = ex1;
	walk(root, &opt, &s);
	expect("excludes by name: a directory and a pattern", s.files,
	    "B.MKV|a.mp4|alias.mp4|name with\nnewline.mov|sub/d.avi|z/deep/er/g.ts|ext/o.mp4");
	opt.exclude = ex2;
	walk(root, &opt, &s);
	expect("an exclude with a slash matches the relative path", s.files,
	    "B.MKV|a.mp4|alias.mp4|excluded/e.mp4|name with\nnewline.mov|sub/c.webm|"
	    "sub/d.avi|ext/o.mp4");
	opt.exclude = NULL;

	opt.all_files = 1;
	walk(root, &opt, &s);
	expect("all files on request", s.files,
	    "B.MKV|a.mp4|alias.mp4|excluded/e.mp4|name with\nnewline.mov|notes.txt|sub/c.webm|"
	    "sub/d.avi|tmp/f.mp4.part|z/deep/er/g.ts|ext/o.mp4");
	opt.all_files = 0;

	snprintf(rootbuf, sizeof rootbuf, "%s//", tp("root"));
	walk(root, &opt, &s);
	tap_ok(s.n == 9 && strstr(s.files, "BADPATH") == NULL,
	    "a root with trailing slashes gives the same files");
	snprintf(rootbuf, sizeof rootbuf, "%s", tp("root"));

	s.stop_after = 2;
	rc = walk(root, &opt, &s);
	tap_ok(rc == 5 && s.n == 2, "the callback's non-zero value stops the walk");
	s.stop_after = 0;

	rc = walk(tp("root/notes.txt"), &opt, &s);
	expect("a file root is reported whatever its extension", s.files, "notes.txt");
	rc = walk(tp("missing"), &opt, &s);
	tap_ok(rc == -1 && strstr(s.errors, "missing': No such file or directory") != NULL,
	    "a missing root fails with its name");
	opt.shard_count = 3;
	opt.shard_index = 3;
	rc = walk(root, &opt, &s);
	tap_ok(rc == -1 && strstr(s.errors, "0 .. 2") != NULL, "shard 3/3 is refused");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_shards(void)
{
	const int N = 5, files = 400;
	char name[128], rootbuf[512];
	char *all[512], *got[512];
	walk_options opt;
	seen s;
	int n_all, n_got = 0, ok = 1, sizes[5];

	/*
	 * The shard function is a contract: shards made by different versions
	 * must agree.  454 is FNV-1a 64 + SplitMix64 of the path, mod 1000, as
	 * computed by an independent few lines of Python.
	 */
	tap_ok(walk_shard_of("a/b.mp4", 7) == walk_shard_of("a/b.mp4", 7) &&
	    walk_shard_of("x.mp4", 1) == 0, "walk_shard_of is a function of the path");
	tap_ok(walk_shard_of("2023/06/clip.mp4", 1000) == 454,
	    "walk_shard_of matches the definition in walk.h (computed independently)");

	for (int i = 0; i < files; i++) {
		snprintf(name, sizeof name, "many/d%d/e%d/clip-%03d.mp4", i % 7, i % 3, i);
		mkdirs_(name, 1);
		touch(name);
	}
	snprintf(rootbuf, sizeof rootbuf, "%s", tp("many"));
	memset(&s, 0, sizeof s);
	walk_options_init(&opt);
	s.all = all;
	walk(rootbuf, &opt, &s);
	n_all = s.nall;
	tap_ok(n_all == files, "the unsharded walk finds all %d files", files);

	for (int i = 0; i < N; i++) {
		opt.shard_index = i;
		opt.shard_count = N;
		s.all = got + n_got;
		s.nall = 0;
		walk(rootbuf, &opt, &s);
		sizes[i] = s.nall;
		n_got += s.nall;
	}
	qsort(got, (size_t)n_got, sizeof got[0], cmp_str);
	qsort(all, (size_t)n_all, sizeof all[0], cmp_str);
	ok = n_got == n_all;
	for (int i = 0; ok && i < n_all; i++)
		ok = strcmp(all[i], got[i]) == 0;
	tap_ok(ok, "%d shards together list every file exactly once", N);
	ok = 1;
	for (int i = 0; i < N; i++)
		ok = ok && sizes[i] > files / N / 2 && sizes[i] < files * 2 / N;
	tap_ok(ok, "shard sizes are balanced: %d %d %d %d %d", sizes[0], sizes[1], sizes[2],
	    sizes[3], sizes[4]);
	for (int i = 0; i < n_all; i++)
		free(all[i]);
	for (int i = 0; i < n_got; i++)
		free(got[i]);
}

static void test_permissions(void)
{
	walk_options opt;
	seen s;

	if (geteuid() == 0) {
		/* root reads every directory whatever its mode bits. */
		tap_skip("running as root: permission bits do not stop root (unreadable "
		    "directories are tested as an ordinary user)");
		tap_skip("running as root: the walk goes on after an unreadable directory");
		tap_skip("running as root: an unreadable root");
		return;
	}
	mkdirs("perm/locked");
	touch("perm/locked/h.mp4");
	touch("perm/ok.mp4");
	chmod(tp("perm/locked"), 0);
	memset(&s, 0, sizeof s);
	walk_options_init(&opt);
	walk(tp("perm"), &opt, &s);
	chmod(tp("perm/locked"), 0755);
	expect("an unreadable directory is reported", s.errors,
	    "perm/locked: Permission denied");
	expect("and skipped, the walk goes on", s.files, "ok.mp4");
	chmod(tp("perm/locked"), 0);
	tap_ok(walk(tp("perm/locked"), &opt, &s) == -1 &&
	    strstr(s.errors, "locked: Permission denied") != NULL,
	    "an unreadable root fails with its name");
	chmod(tp("perm/locked"), 0755);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	char cmd[600];

	snprintf(tmp, sizeof tmp, "%s/clipgrep-walk-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmp) == NULL)
		return tap_skip_all("cannot make a temporary directory");
	build_tree();
	test_names();
	test_walks();
	test_shards();
	test_permissions();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmp);
	return tap_done();
}
