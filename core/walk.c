/* walk — the indexer's directory walk; see walk.h for order, links and shards. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"
#include "walk.h"

/* Deeper than any real library; stops a pathological tree, not a loop (see visited). */
#define WALK_MAX_DEPTH 256

static const char *const walk_video_ext[] = {
	"mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg", "mpeg", "wmv", "flv",
	"ts", "mts", "m2ts", "3gp", "ogv",
};

/* Directories already walked, as an open-addressing set of (dev, ino). */
typedef struct {
	dev_t dev;
	ino_t ino;
	int used;
} walk_slot;

typedef struct {
	const walk_options *opt;
	walk_file_fn fn;
	void *arg;
	char *path;         /* the current path, grown as needed */
	size_t cap;
	size_t root_len;    /* rel starts at path + root_len + 1 (or + root_len for "/") */
	walk_slot *seen;    /* [nseen_cap], a power of two */
	size_t nseen, nseen_cap;
	char **links;       /* [nlinks] paths of linked directories, walked last */
	size_t nlinks, links_cap;
	int failed;         /* out of memory */
} walk_state;

void walk_options_init(walk_options *opt)
{
	memset(opt, 0, sizeof *opt);
}

int walk_is_video_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL || dot == name)
		return 0;
	for (size_t i = 0; i < sizeof walk_video_ext / sizeof walk_video_ext[0]; i++) {
		if (strcasecmp(dot + 1, walk_video_ext[i]) == 0)
			return 1;
	}
	return 0;
}

int walk_shard_of(const char *rel, int count)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (count <= 1)
		return 0;
	for (const unsigned char *p = (const unsigned char *)rel; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return (int)(h % (uint64_t)count);
}

static size_t walk_slot_of(const walk_state *w, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h ^ (h >> 29)) & (w->nseen_cap - 1);
}

/* Add (dev, ino): 1 when new, 0 when already there, -1 out of memory. */
static int walk_mark(walk_state *w, dev_t dev, ino_t ino)
{
	size_t i;

	if (2 * (w->nseen + 1) > w->nseen_cap) {
		size_t ncap = w->nseen_cap > 0 ? 2 * w->nseen_cap : 64;
		walk_slot *old = w->seen, *ns = calloc(ncap, sizeof *ns);
		size_t ocap = w->nseen_cap;

		if (ns == NULL)
			return -1;
		w->seen = ns;
		w->nseen_cap = ncap;
		for (size_t j = 0; j < ocap; j++) {
			if (!old[j].used)
				continue;
			for (i = walk_slot_of(w, old[j].dev, old[j].ino); ns[i].used;
			    i = (i + 1) & (ncap - 1))
				;
			ns[i] = old[j];
		}
		free(old);
	}
	for (i = walk_slot_of(w, dev, ino); w->seen[i].used; i = (i + 1) & (w->nseen_cap - 1)) {
		if (w->seen[i].dev == dev && w->seen[i].ino == ino)
			return 0;
	}
	w->seen[i].dev = dev;
	w->seen[i].ino = ino;
	w->seen[i].used = 1;
	w->nseen++;
	return 1;
}

static void walk_report(walk_state *w, const char *path, const char *reason)
{
	if (w->opt->on_error != NULL)
		w->opt->on_error(w->opt->error_arg, path, reason);
}

static int walk_excluded(const walk_options *opt, const char *rel, const char *name)
{
	if (opt->exclude == NULL)
		return 0;
	for (const char *const *p = opt->exclude; *p != NULL; p++) {
		if (strchr(*p, '/') != NULL ? fnmatch(*p, rel, FNM_PATHNAME) == 0 :
		    fnmatch(*p, name, 0) == 0)
			return 1;
	}
	return 0;
}

/* Make room for len bytes plus a NUL in w->path. */
static int walk_reserve(walk_state *w, size_t len)
{
	char *np;
	size_t ncap;

	if (len + 1 <= w->cap)
		return 0;
	ncap = w->cap > 0 ? w->cap : 256;
	while (ncap < len + 1)
		ncap *= 2;
	if ((np = realloc(w->path, ncap)) == NULL)
		return -1;
	w->path = np;
	w->cap = ncap;
	return 0;
}

static int walk_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in the directory w->path (NULL with errno set on failure). */
static char **walk_read_names(const char *path, size_t *n_out)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char **names = NULL, **nn;
	size_t n = 0, cap = 0;
	int err;

	if (d == NULL)
		return NULL;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap > 0 ? 2 * cap : 32;
			if ((nn = realloc(names, cap * sizeof *nn)) == NULL)
				goto fail;
			names = nn;
		}
		if ((names[n] = util_strdup(e->d_name)) == NULL)
			goto fail;
		n++;
		errno = 0;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, walk_cmp);
	*n_out = n;
	return names != NULL ? names : calloc(1, sizeof *names);
fail:
	err = errno != 0 ? errno : ENOMEM;
	while (n > 0)
		free(names[--n]);
	free(names);
	closedir(d);
	errno = err;
	return NULL;
}

/* Remember a linked directory for after the real tree. */
static int walk_defer(walk_state *w, const char *path)
{
	if (w->nlinks == w->links_cap) {
		size_t ncap = w->links_cap > 0 ? 2 * w->links_cap : 16;
		char **nl = realloc(w->links, ncap * sizeof *nl);

		if (nl == NULL)
			return -1;
		w->links = nl;
		w->links_cap = ncap;
	}
	if ((w->links[w->nlinks] = util_strdup(path)) == NULL)
		return -1;
	w->nlinks++;
	return 0;
}

/* Walk the directory at w->path[0 .. len). */
static int walk_dir(walk_state *w, size_t len, int depth)
{
	char **names;
	size_t n = 0, i;
	int ret = 0;

	if (depth > WALK_MAX_DEPTH) {
		walk_report(w, w->path, "too deeply nested (skipped)");
		return 0;
	}
	names = walk_read_names(w->path, &n);
	if (names == NULL) {
		if (errno == ENOMEM) {
			w->failed = 1;
			return -1;
		}
		walk_report(w, w->path, strerror(errno));
		return 0;
	}
	for (i = 0; i < n && ret == 0; i++) {
		const char *name = names[i], *rel;
		size_t nlen = strlen(name), sub = len + (len > 0 && w->path[len - 1] == '/' ? 0 : 1);
		struct stat st;
		int is_link;

		if (name[0] == '.' && !w->opt->hidden)
			continue;
		if (walk_reserve(w, sub + nlen) != 0) {
			w->failed = 1;
			ret = -1;
			break;
		}
		w->path[len] = '/';
		memcpy(w->path + sub, name, nlen + 1);
		rel = w->path + w->root_len + (w->path[w->root_len] == '/' ? 1 : 0);
		if (walk_excluded(w->opt, rel, name))
			continue;
		if (lstat(w->path, &st) != 0) {
			if (errno != ENOENT) /* ENOENT: deleted since readdir */
				walk_report(w, w->path, strerror(errno));
			continue;
		}
		is_link = S_ISLNK(st.st_mode);
		if (is_link && stat(w->path, &st) != 0) {
			int err = errno;

			/* A broken link only matters where a video was meant. */
			if (err == ELOOP || walk_is_video_name(name) || w->opt->all_files)
				walk_report(w, w->path, err == ENOENT ?
				    "broken symbolic link" : strerror(err));
			continue;
		}
		if (S_ISDIR(st.st_mode) && is_link) {
			if (walk_defer(w, w->path) != 0) {
				w->failed = 1;
				ret = -1;
			}
		} else if (S_ISDIR(st.st_mode)) {
			int fresh = walk_mark(w, st.st_dev, st.st_ino);

			if (fresh < 0) {
				w->failed = 1;
				ret = -1;
			} else if (fresh) {
				ret = walk_dir(w, sub + nlen, depth + 1);
			}
		} else if (S_ISREG(st.st_mode) && (w->opt->all_files || walk_is_video_name(name))) {
			if (w->opt->shard_count > 1 &&
			    walk_shard_of(rel, w->opt->shard_count) != w->opt->shard_index)
				continue;
			ret = w->fn(w->arg, w->path, rel, &st);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	w->path[len] = '\0';
	return ret;
}

static void walk_state_free(walk_state *w)
{
	for (size_t i = 0; i < w->nlinks; i++)
		free(w->links[i]);
	free(w->links);
	free(w->path);
	free(w->seen);
}

int walk_tree(const char *root, const walk_options *opt, walk_file_fn fn, void *arg,
    char **cause)
{
	walk_state w;
	struct stat st;
	size_t len = strlen(root);
	DIR *dir;
	int ret;

	if (opt->shard_count > 1 && (opt->shard_index < 0 || opt->shard_index >= opt->shard_count)) {
		util_set_cause(cause, "shard %d/%d: the index must be in 0 .. %d", opt->shard_index,
		    opt->shard_count, opt->shard_count - 1);
		return -1;
	}
	if (len == 0 || stat(root, &st) != 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(root),
		    len == 0 ? "empty path" : strerror(errno));
		return -1;
	}
	memset(&w, 0, sizeof w);
	w.opt = opt;
	w.fn = fn;
	w.arg = arg;
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (walk_reserve(&w, len) != 0)
		goto nomem;
	memcpy(w.path, root, len);
	w.path[len] = '\0';
	w.root_len = len;

	if (S_ISREG(st.st_mode)) {
		const char *name = strrchr(w.path, '/');

		name = name != NULL ? name + 1 : w.path;
		ret = 0;
		if (opt->shard_count <= 1 || walk_shard_of(name, opt->shard_count) == opt->shard_index)
			ret = fn(arg, w.path, name, &st);
		free(w.path);
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		util_set_cause(cause, "%s: not a directory or a regular file", UTIL_NAME(root));
		free(w.path);
		return -1;
	}
	if ((dir = opendir(w.path)) == NULL) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(root), strerror(errno));
		walk_state_free(&w);
		return -1;
	}
	closedir(dir);
	if (walk_mark(&w, st.st_dev, st.st_ino) < 0)
		goto nomem;
	ret = walk_dir(&w, len, 0);
	/*
	 * Then the directories met through links, in the order met (walking
	 * one may add more).  Each is walked only if no real path reached it,
	 * so a file inside the tree is reported under its real path.
	 */
	for (size_t i = 0; i < w.nlinks && ret == 0 && !w.failed; i++) {
		size_t plen = strlen(w.links[i]);
		int fresh;

		if (stat(w.links[i], &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if ((fresh = walk_mark(&w, st.st_dev, st.st_ino)) < 0)
			goto nomem;
		if (!fresh)
			continue;
		if (walk_reserve(&w, plen) != 0)
			goto nomem;
		memcpy(w.path, w.links[i], plen + 1);
		ret = walk_dir(&w, plen, 1);
	}
	if (w.failed)
		goto nomem;
	walk_state_free(&w);
	return ret;
nomem:
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(root));
	walk_state_free(&w);
	return -1;
}
