/*
 * engine — index + models + in-memory library → ranked, explained hits.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachefile.h"
#include "engine.h"
#include "heads.h"
#include "tensor.h"
#include "tokenizer.h"
#include "unicode.h"
#include "util.h"

/* The file giving a head in use, with its text tower. */
typedef struct {
	heads_file *f;      /* owned by the engine's heads_set */
	heads_text *text;   /* built on the helper thread in engine_open; caches the
	                       last query it encoded */
	int64_t model_id;   /* in the index; 0 while the index has never seen it */
} engine_model;

/* What the engine knows about one video of the index. */
typedef struct {
	int64_t id;
	char *path;
	double duration;
	int64_t indexed_at_ns;
	int frames;          /* stored frames */
	int status;
	bool searchable;     /* in lib */
	bool damaged;        /* its stored record is damaged: left out of lib */
	bool seen;           /* refresh mark */
	double *times;       /* [frames], fetched on first use, or NULL */
	int n_segs;          /* segments in lib (1 for a clip) */
	index_segment *segs; /* [n_segs] when more than one, else NULL */
} engine_video;

/*
 * The search library holds one record per segment; its id packs the
 * video's id and the segment's index (INDEXER_MAX_SEGMENTS < 65536).
 */
#define ENGINE_SEG_BITS 16
static int64_t engine_key(int64_t video_id, int seg)
{
	return video_id * ((int64_t)1 << ENGINE_SEG_BITS) + seg;
}
static int64_t engine_key_video(int64_t key)
{
	return key >> ENGINE_SEG_BITS;
}
static int engine_key_seg(int64_t key)
{
	return (int)(key & (((int64_t)1 << ENGINE_SEG_BITS) - 1));
}

struct engine {
	index_db *ix;
	char *db_path;
	heads_set *hs;
	int threads;
	linear_kernel text_kernel; /* linear_precision_kernel(options.precision) */
	atomic_int *cancel;    /* engine_set_cancel's flag, or NULL */
	engine_model tmm, emm; /* the files giving the TC-MGC and EA heads */
	engine_model *tm, *em; /* &tmm / &emm, or NULL without that head; one file
	                          giving both is one engine_model (em == tm) */
	const tcmgc *tc;       /* owned by hs */
	const ea *ea;
	int F, L, D;
	size_t tc_floats, ea_floats;
	search_lib *lib;
	engine_video *videos; /* [n_videos] sorted by id */
	size_t n_videos, cap_videos;
	tcmgc_query *tq;      /* the cached TC-MGC query, for tm->text */
	const char **damaged;   /* [n_damaged] paths of the damaged videos (owned by
	                           videos[]), rebuilt after each load and refresh */
	size_t n_damaged;
	/* The extra heads of multi-head files (heads_extra_at): mode
	 * ENGINE_MODE_EXTRA + j is served by an engine of its own on head j
	 * alone, opened on first use and refreshed with this one. */
	int n_extra;
	heads_file **extra_file;  /* [n_extra] owned by hs */
	const char **extra_names; /* [n_extra] their head names (owned by hs) */
	engine **extra;           /* [n_extra] or NULL until first used */
	/* The search cache file (core/cachefile): */
	bool no_cache;          /* engine_options.no_cache */
	bool have_stamp;        /* the index has change stamps (schema 6) */
	int64_t stamp;          /* the change stamp the library reflects */
	engine_cache_state cache_state;
	char *cache_why;        /* why the cache file was not used, or NULL */
	int64_t *tstamp_ids, *tstamp; /* [n_tstamp] index_tensor_stamps, during a load */
	size_t n_tstamp;
	bool have_tstamps;      /* index_tensor_stamps answered: a stale file may be extended */
	bool cache_pending;     /* the load left the file to write (engine_flush_cache) */
};

/* The result with the memory its hits point into. */
typedef struct {
	engine_result pub;
	search_result sr;   /* owns the attention and weight arrays */
	double *times;      /* [nhits, F] */
	char *strings;      /* paths and tokens */
} engine_result_full;

void engine_options_init(engine_options *opt)
{
	memset(opt, 0, sizeof *opt);
}

const char *engine_cache_state_name(engine_cache_state s)
{
	switch (s) {
	case ENGINE_CACHE_NONE:
		return "none";
	case ENGINE_CACHE_OFF:
		return "off";
	case ENGINE_CACHE_OLD_INDEX:
		return "old-index";
	case ENGINE_CACHE_USED:
		return "used";
	case ENGINE_CACHE_WRITTEN:
	case ENGINE_CACHE_MISSING:
		return "written";
	case ENGINE_CACHE_REBUILT:
		return "rebuilt";
	case ENGINE_CACHE_EXTENDED:
		return "extended";
	case ENGINE_CACHE_UNWRITABLE:
		return "unwritable";
	}
	return "?";
}

const char *engine_mode_name(search_model mode)
{
	switch (mode) {
	case SEARCH_TCMGC:
		return "tcmgc";
	case SEARCH_EA:
		return "ea";
	case SEARCH_FUSED:
		return "fused";
	}
	return "?";
}

int engine_mode_count(const engine *e)
{
	return ENGINE_MODE_EXTRA + e->n_extra;
}

const char *engine_mode_label(const engine *e, search_model mode)
{
	int j = (int)mode - ENGINE_MODE_EXTRA;

	if (j >= 0 && j < e->n_extra)
		return e->extra_names[j];
	return engine_mode_name(mode);
}

int engine_mode_find(const engine *e, const char *name, search_model *out)
{
	/* The built-in names win: with several files, a head named "tcmgc" may
	 * be an extra while another file's TC-MGC head is the mode "tcmgc". */
	if (engine_mode_parse(name, out) == 0)
		return 0;
	for (int j = 0; j < e->n_extra; j++) {
		if (strcmp(name, e->extra_names[j]) == 0) {
			*out = (search_model)(ENGINE_MODE_EXTRA + j);
			return 0;
		}
	}
	return engine_mode_parse(name, out);
}

int engine_mode_parse(const char *name, search_model *out)
{
	static const search_model all[] = { SEARCH_TCMGC, SEARCH_EA, SEARCH_FUSED };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (strcmp(name, engine_mode_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

/* ---- the video table ----------------------------------------------------- */

static engine_video *engine_video_find(engine *e, int64_t id)
{
	size_t lo = 0, hi = e->n_videos;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->videos[mid].id < id)
			lo = mid + 1;
		else if (e->videos[mid].id > id)
			hi = mid;
		else
			return &e->videos[mid];
	}
	return NULL;
}

static void engine_video_clear(engine_video *v)
{
	free(v->path);
	free(v->times);
	free(v->segs);
	memset(v, 0, sizeof *v);
}

/* Insert or update the row; the table stays sorted by id. */
static engine_video *engine_video_put(engine *e, const index_video_row *row, char **cause)
{
	engine_video *v = engine_video_find(e, row->id);
	char *path;

	if ((path = util_strdup(row->path)) == NULL)
		goto nomem;
	if (v == NULL) {
		size_t at = e->n_videos;
		if (e->n_videos == e->cap_videos) {
			size_t cap = e->cap_videos ? 2 * e->cap_videos : 256;
			engine_video *nv = realloc(e->videos, cap * sizeof *nv);
			if (nv == NULL) {
				free(path);
				goto nomem;
			}
			e->videos = nv;
			e->cap_videos = cap;
		}
		while (at > 0 && e->videos[at - 1].id > row->id)
			at--;
		memmove(e->videos + at + 1, e->videos + at, (e->n_videos - at) * sizeof *v);
		v = &e->videos[at];
		memset(v, 0, sizeof *v);
		e->n_videos++;
		v->id = row->id;
	} else {
		free(v->path);
		if (v->indexed_at_ns != row->indexed_at_ns || v->frames != row->frames) {
			free(v->times);
			v->times = NULL;
		}
	}
	v->path = path;
	v->duration = row->duration;
	v->indexed_at_ns = row->indexed_at_ns;
	v->frames = row->frames;
	v->status = (int)row->status;
	v->seen = true;
	return v;
nomem:
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(e->db_path));
	return NULL;
}

static void engine_video_drop(engine *e, engine_video *v)
{
	size_t at = (size_t)(v - e->videos);

	if (v->searchable)
		for (int g = 0; g < v->n_segs; g++)
			search_lib_remove(e->lib, engine_key(v->id, g));
	engine_video_clear(v);
	memmove(e->videos + at, e->videos + at + 1, (e->n_videos - at - 1) * sizeof *v);
	e->n_videos--;
}

/* The frame times of v, fetched once. */
static const double *engine_video_times(engine *e, engine_video *v)
{
	index_frames *f;

	if (v->times != NULL || v->frames <= 0)
		return v->times;
	if ((f = index_get_frames(e->ix, v->id, 0, NULL)) == NULL)
		return NULL;
	if (f->n > 0 && (v->times = malloc((size_t)f->n * sizeof *v->times)) != NULL) {
		for (int i = 0; i < f->n; i++)
			v->times[i] = f->frames[i].time;
		v->frames = f->n;
	}
	index_frames_free(f);
	return v->times;
}

/*
 * Give v its n segments (n > 1: read from the index; the records' count
 * must match the stored rows).  0, 2 when they disagree (damaged), -1.
 */
static int engine_video_segments(engine *e, engine_video *v, int n, char **cause)
{
	index_segment *g = NULL;
	int have = 0, r;

	free(v->segs);
	v->segs = NULL;
	v->n_segs = n;
	if (n <= 1)
		return 0;
	if ((r = index_get_segments(e->ix, v->id, &g, &have, cause)) == -1)
		return -1;
	if (r != 0 || have != n) {
		free(g);
		return 2;
	}
	for (int i = 0; i < n; i++)
		if (g[i].frame0 + g[i].frames > v->frames || g[i].frames > e->F) {
			free(g);
			return 2;
		}
	v->segs = g;
	return 0;
}

/* Segment g of v: its start, end and first frame. */
static index_segment engine_video_seg(const engine_video *v, int g)
{
	index_segment one = { 0, v->duration, 0, v->frames };

	return v->segs != NULL && g >= 0 && g < v->n_segs ? v->segs[g] : one;
}

/* ---- models -------------------------------------------------------------- */

/* ---- loading caches ------------------------------------------------------ */

static int engine_list_fn(void *arg, const index_video_row *row)
{
	void **a = arg;
	engine *e = a[0];

	return engine_video_put(e, row, (char **)a[1]) == NULL ? -1 : 0;
}

/* Find the models' ids in the index (they appear once something was indexed). */
static int engine_find_models(engine *e, char **cause)
{
	engine_model *heads[2] = { e->tm, e->em };

	for (int i = 0; i < 2; i++) {
		int64_t id;
		if (heads[i] == NULL || heads[i]->model_id > 0)
			continue;
		if ((id = index_find_model(e->ix, heads[i]->f->hash, cause)) < 0)
			return -1;
		heads[i]->model_id = id;
	}
	return 0;
}

/* Whether every head in use has a model id (something was indexed with it). */
static bool engine_models_known(const engine *e)
{
	return (e->tm == NULL || e->tm->model_id > 0) && (e->em == NULL || e->em->model_id > 0);
}

/*
 * Read one video's caches (every segment's, stacked) into *tc and *ea
 * (free(); NULL without that head), *nseg the segments: 0, 1 when one is
 * missing, 2 when one is damaged (index_get_tensor, or the heads disagree
 * on the segments), -1 on error.
 */
static int engine_read_caches(engine *e, int64_t id, float **tc, float **eac, int *nseg,
    char **cause)
{
	struct {
		engine_model *m;
		const char *kind;
		size_t floats;
		float **dst;
	} want[2] = {
		{ e->tm, HEADS_KIND_TCMGC, e->tc_floats, tc },
		{ e->em, HEADS_KIND_EA, e->ea_floats, eac },
	};

	*tc = *eac = NULL;
	*nseg = 0;
	for (int i = 0; i < 2; i++) {
		float *data;
		int64_t count;
		int r;

		if (want[i].m == NULL)
			continue;
		if (want[i].m->model_id <= 0)
			return 1;
		r = index_get_tensor(e->ix, id, want[i].m->model_id, want[i].kind, &data, &count,
		    cause);
		if (r != 0)
			return r;
		if (count < 1 || (size_t)count % want[i].floats != 0 ||
		    (*nseg != 0 && (size_t)count / want[i].floats != (size_t)*nseg)) {
			util_set_cause(cause, "%s: video %lld: %s cache of %lld floats, expected "
			    "a multiple of %zu", UTIL_NAME(e->db_path), (long long)id, want[i].kind,
			    (long long)count, want[i].floats);
			free(data);
			free(*tc);
			free(*eac);
			*tc = *eac = NULL;
			return 2;
		}
		*nseg = (int)((size_t)count / want[i].floats);
		*want[i].dst = data;
	}
	return 0;
}

/* Rebuild e->damaged from the videos' marks; 0 or -1 (out of memory). */
static int engine_list_damaged(engine *e, char **cause)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n_videos; i++)
		n += e->videos[i].damaged;
	free(e->damaged);
	e->damaged = NULL;
	e->n_damaged = 0;
	if (n == 0)
		return 0;
	if ((e->damaged = malloc(n * sizeof *e->damaged)) == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->n_videos; i++)
		if (e->videos[i].damaged)
			e->damaged[e->n_damaged++] = e->videos[i].path;
	return 0;
}

/* index_list_damaged's callback: mark the videos damaged for a model in use. */
static int engine_damage_fn(void *arg, const index_damage *d)
{
	engine *e = arg;
	engine_video *v;

	if ((e->tm != NULL && d->model_id == e->tm->model_id) ||
	    (e->em != NULL && d->model_id == e->em->model_id))
		if ((v = engine_video_find(e, d->video_id)) != NULL)
			v->damaged = true;
	return 0;
}

static void engine_mark_damaged(engine *e, const index_tensor_set *s)
{
	for (int64_t k = 0; s != NULL && k < s->n_damaged; k++) {
		engine_video *v = engine_video_find(e, s->damaged_ids[k]);
		if (v != NULL)
			v->damaged = true;
	}
}

/* ---- the search cache file ------------------------------------------------ */

static char *engine_cache_path(const engine *e)
{
	return cachefile_path(e->db_path, e->tm != NULL ? e->tm->model_id : 0,
	    e->em != NULL ? e->em->model_id : 0);
}

static cachefile_key engine_cache_key(const engine *e)
{
	cachefile_key key = { e->stamp, { e->tm != NULL ? e->tm->model_id : 0,
		e->em != NULL ? e->em->model_id : 0 } };

	return key;
}

static void engine_cache_reason(engine *e, engine_cache_state state, char *why)
{
	e->cache_state = state;
	free(e->cache_why);
	e->cache_why = why;
}

/* The tensor stamp of video id in e->tstamp (0 when it has none). */
static int64_t engine_tensor_stamp(const engine *e, int64_t id)
{
	size_t lo = 0, hi = e->n_tstamp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->tstamp_ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->n_tstamp && e->tstamp_ids[lo] == id ? e->tstamp[lo] : 0;
}

/*
 * Read video v's caches from the index and add its records to the library;
 * a damaged record marks v damaged instead (its row is named by
 * engine_list_damaged, not here).  0, or -1 with *cause.
 */
static int engine_read_video(engine *e, engine_video *v, char **cause)
{
	float *tc, *eac;
	char *why = NULL;
	int r, nseg;

	r = engine_read_caches(e, v->id, &tc, &eac, &nseg, &why);
	if (r == 0)
		r = engine_video_segments(e, v, nseg, &why);
	if (r == -1) {
		free(tc);
		free(eac);
		if (cause != NULL)
			*cause = why;
		else
			free(why);
		return -1;
	}
	free(why);
	if (r == 2)
		v->damaged = true;
	for (int g = 0; r == 0 && g < nseg; g++) {
		if (search_lib_add(e->lib, engine_key(v->id, g),
		    tc != NULL ? tc + (size_t)g * e->tc_floats : NULL,
		    eac != NULL ? eac + (size_t)g * e->ea_floats : NULL, cause) == -1) {
			r = -1;
			break;
		}
		v->searchable = true;
	}
	free(tc);
	free(eac);
	return r == -1 ? -1 : 0;
}

/*
 * The records of video id in a from at on (a's ids are its keys, ascending):
 * how many, and in *in_order whether their segments run 0, 1, 2, ...
 */
static size_t engine_record_run(const search_lib_arrays *a, size_t at, int64_t id,
    bool *in_order)
{
	size_t run = 0;

	*in_order = true;
	while (at + run < a->n && engine_key_video(a->ids[at + run]) == id) {
		*in_order &= engine_key_seg(a->ids[at + run]) == (int)run;
		run++;
	}
	return run;
}

/*
 * A whole cache file made at an older change stamp: keep the records of
 * every video whose tensor stamp is the one the file has, read the other
 * videos through SQLite as engine_refresh does.  0, or -1 on error.
 */
static int engine_cache_extend(engine *e, const search_lib_arrays *a, const cachefile_extras *x,
    char **cause)
{
	size_t at = 0, kept = 0, read = 0;
	char note[128];

	if (index_list_damaged(e->ix, engine_damage_fn, e, cause) != 0)
		return -1;
	/* Room for every record without regrowing (a regrowth copies them all). */
	if (search_lib_reserve(e->lib, (a->n > e->n_videos ? a->n : e->n_videos) + 64, cause) == -1)
		return -1;
	for (size_t i = 0; i < e->n_videos; i++) {
		engine_video *v = &e->videos[i];
		bool in_order;
		size_t run;
		int r;

		while (at < a->n && engine_key_video(a->ids[at]) < v->id)
			at++;
		run = engine_record_run(a, at, v->id, &in_order);
		if (v->status == INDEX_ERROR || v->damaged) {
			at += run;
			continue;
		}
		if (run > 0 && run <= INT_MAX && in_order &&
		    x->stamps[at] == engine_tensor_stamp(e, v->id)) {
			/* Unchanged since the file was written: its records as they are. */
			if ((r = engine_video_segments(e, v, (int)run, cause)) == -1)
				return -1;
			if (r == 2)
				v->damaged = true;
			for (size_t g = at; r == 0 && g < at + run; g++) {
				if (search_lib_add_split(e->lib, a->ids[g],
				    a->kc != NULL ? a->kc + g * a->kc_width : NULL,
				    a->tx != NULL ? a->tx + g * a->tx_width : NULL,
				    a->eb != NULL ? a->eb + g * a->ea_width : NULL, cause) == -1)
					return -1;
				v->searchable = true;
			}
			kept++;
			at += run;
			continue;
		}
		at += run;
		if (engine_read_video(e, v, cause) == -1)
			return -1;
		read++;
	}
	snprintf(note, sizeof note, "%zu videos kept, %zu read from the index", kept, read);
	engine_cache_reason(e, ENGINE_CACHE_EXTENDED, util_strdup(note));
	return 0;
}

/*
 * Adopt the cache file's library in place when it is current, whole, and
 * agrees with the videos just listed: 1.  A whole file made at an older
 * change stamp extends the library (engine_cache_extend): 2.  0 when it
 * cannot be used (the caller loads from the index); -1 on error.  In
 * every case but 1 the caller writes a new file.
 */
static int engine_cache_adopt(engine *e, char **cause)
{
	search_lib_arrays want, a;
	cachefile_extras x;
	size_t i;
	char *path = engine_cache_path(e), *why = NULL;
	cachefile_key key = engine_cache_key(e);
	cachefile *cf;
	int current;

	if (path == NULL) {
		util_set_cause(cause, "out of memory");
		return -1;
	}
	search_lib_get_arrays(e->lib, &want);
	cf = cachefile_open(path, &key, &want, &a, &x, &current, &why);
	free(path);
	if (cf == NULL) {
		engine_cache_reason(e, why != NULL && strcmp(why, "missing") == 0 ?
		    ENGINE_CACHE_MISSING : ENGINE_CACHE_REBUILT, why);
		return 0;
	}
	if (!current && !e->have_tstamps) {
		cachefile_close(cf);
		engine_cache_reason(e, ENGINE_CACHE_REBUILT, util_strdup("stale"));
		return 0;
	}
	if (!current) {
		/* The library gets memory of its own: the file is read, then closed. */
		int r = engine_cache_extend(e, &a, &x, cause);
		cachefile_close(cf);
		return r == 0 ? 2 : -1;
	}
	/* Records run in (video, segment) order, each video's segments from 0. */
	for (i = 0; i < a.n;) {
		int64_t id = engine_key_video(a.ids[i]);
		engine_video *v = engine_video_find(e, id);
		bool in_order;
		size_t nseg = engine_record_run(&a, i, id, &in_order);
		int r;

		if (!in_order || v == NULL || v->status == INDEX_ERROR || nseg > INT_MAX)
			goto disagree;
		if ((r = engine_video_segments(e, v, (int)nseg, cause)) == -1) {
			cachefile_close(cf);
			return -1;
		}
		if (r != 0)
			goto disagree;
		i += nseg;
	}
	for (i = 0; i < x.n_damaged; i++)
		if (engine_video_find(e, x.damaged[i]) == NULL)
			goto disagree;
	if (search_lib_adopt(e->lib, &a, cachefile_close, cf, cause) == -1) {
		cachefile_close(cf);
		return -1;
	}
	for (i = 0; i < a.n; i++)
		engine_video_find(e, engine_key_video(a.ids[i]))->searchable = true;
	for (i = 0; i < x.n_damaged; i++)
		engine_video_find(e, x.damaged[i])->damaged = true;
	engine_cache_reason(e, ENGINE_CACHE_USED, NULL);
	return 1;
disagree:
	/* Only a forged file gets here: its stamp says it is current. */
	cachefile_close(cf);
	engine_cache_reason(e, ENGINE_CACHE_REBUILT,
	    util_strdup("its records disagree with the index"));
	for (i = 0; i < e->n_videos; i++) {
		free(e->videos[i].segs);
		e->videos[i].segs = NULL;
		e->videos[i].n_segs = 0;
	}
	return 0;
}

static void engine_cache_drop_stamps(engine *e)
{
	free(e->tstamp_ids);
	free(e->tstamp);
	e->tstamp_ids = e->tstamp = NULL;
	e->n_tstamp = 0;
}

/* Write the library just loaded as the cache file (failures only noted). */
static void engine_cache_write(engine *e)
{
	search_lib_arrays a;
	cachefile_extras x = { NULL, 0, NULL };
	int64_t *damaged = malloc((e->n_videos > 0 ? e->n_videos : 1) * sizeof *damaged), *stamps;
	char *path = engine_cache_path(e), *why = NULL;
	cachefile_key key = engine_cache_key(e);

	search_lib_get_arrays(e->lib, &a);
	stamps = malloc((a.n > 0 ? a.n : 1) * sizeof *stamps);
	if (damaged == NULL || stamps == NULL || path == NULL) {
		engine_cache_reason(e, ENGINE_CACHE_UNWRITABLE, util_strdup("out of memory"));
		goto out;
	}
	for (size_t i = 0; i < e->n_videos; i++)
		if (e->videos[i].damaged)
			damaged[x.n_damaged++] = e->videos[i].id;
	for (size_t i = 0; i < a.n; i++)
		stamps[i] = engine_tensor_stamp(e, engine_key_video(a.ids[i]));
	x.damaged = damaged;
	x.stamps = stamps;
	if (cachefile_write(path, &key, &a, &x, &why) != 0)
		engine_cache_reason(e, ENGINE_CACHE_UNWRITABLE, why);
out:
	free(damaged);
	free(stamps);
	free(path);
}

/*
 * The initial load, in one read snapshot: every video; then the search
 * cache file when it is current (mapped), or extended when it is whole but
 * older, else each head's caches in one read each, intersected by id (and
 * the cache file written for the next start).  Videos whose stored record
 * is damaged are left out and listed (e->damaged) instead of failing the
 * whole library.
 */
static int engine_load_indexed(engine *e, char **cause);

static int engine_load(engine *e, char **cause)
{
	int rc;

	e->cache_state = e->no_cache ? ENGINE_CACHE_OFF : ENGINE_CACHE_NONE;
	if (index_snapshot_begin(e->ix, cause) != 0)
		return -1;
	rc = engine_load_indexed(e, cause);
	index_snapshot_end(e->ix);
	/*
	 * Writing takes a while (the file is hundreds of MB at 10k videos): it
	 * is left to engine_flush_cache, so that the caller can show its
	 * results first.  The stamps stay for it.
	 */
	e->cache_pending = rc == 0 && e->cache_state != ENGINE_CACHE_USED && e->have_stamp &&
	    !e->no_cache && engine_models_known(e);
	if (!e->cache_pending)
		engine_cache_drop_stamps(e);
	return rc;
}

void engine_flush_cache(engine *e)
{
	for (int j = 0; j < e->n_extra; j++)
		if (e->extra[j] != NULL)
			engine_flush_cache(e->extra[j]);
	if (!e->cache_pending)
		return;
	engine_cache_write(e);
	if (e->cache_state == ENGINE_CACHE_NONE || e->cache_state == ENGINE_CACHE_MISSING)
		e->cache_state = ENGINE_CACHE_WRITTEN;
	e->cache_pending = false;
	engine_cache_drop_stamps(e);
}

static int engine_load_indexed(engine *e, char **cause)
{
	index_tensor_set *ts = NULL, *es = NULL;
	void *arg[2] = { e, cause };
	int rc = -1, st;
	size_t i, j;

	if ((st = index_change_stamp(e->ix, &e->stamp, cause)) == -1)
		return -1;
	e->have_stamp = st == 0;
	if (index_list_videos(e->ix, NULL, engine_list_fn, arg, cause) != 0)
		return -1;
	if (engine_find_models(e, cause) == -1)
		return -1;
	if (!engine_models_known(e))
		return 0;
	if (e->have_stamp && !e->no_cache) {
		int r;
		/* Each record's video's tensor stamp: to extend a file, and to write one. */
		if ((r = index_tensor_stamps(e->ix, &e->tstamp_ids, &e->tstamp, &e->n_tstamp,
		    cause)) == -1)
			return -1;
		e->have_tstamps = r == 0;
		if ((r = engine_cache_adopt(e, cause)) != 0)
			return r > 0 ? engine_list_damaged(e, cause) : -1;
	} else if (!e->have_stamp && !e->no_cache) {
		engine_cache_reason(e, ENGINE_CACHE_OLD_INDEX, NULL);
	}
	if (index_list_damaged(e->ix, engine_damage_fn, e, cause) != 0)
		return -1;
	if (e->tm != NULL && (ts = index_load_segment_tensors(e->ix, e->tm->model_id,
	    HEADS_KIND_TCMGC, (int64_t)e->tc_floats, cause)) == NULL)
		goto out;
	if (e->em != NULL && (es = index_load_segment_tensors(e->ix, e->em->model_id,
	    HEADS_KIND_EA, (int64_t)e->ea_floats, cause)) == NULL)
		goto out;
	engine_mark_damaged(e, ts);
	engine_mark_damaged(e, es);
	if (search_lib_reserve(e->lib, (size_t)(ts != NULL ? ts->n : es->n), cause) == -1)
		goto out;
	/* Both sets are sorted by (id, segment): walk them together, a video at a time. */
	for (i = 0, j = 0; ts != NULL ? i < (size_t)ts->n : j < (size_t)es->n;) {
		int64_t id = ts != NULL ? ts->ids[i] : es->ids[j];
		size_t ni = 0, nj = 0;
		engine_video *v;

		while (ts != NULL && i + ni < (size_t)ts->n && ts->ids[i + ni] == id)
			ni++;
		if (es != NULL) {
			while (j < (size_t)es->n && es->ids[j] < id)
				j++;
			if (j == (size_t)es->n)
				break;
			if (es->ids[j] != id) {
				if (ts == NULL)
					j++;
				else
					i += ni;
				continue;
			}
			while (j + nj < (size_t)es->n && es->ids[j + nj] == id)
				nj++;
		}
		if ((v = engine_video_find(e, id)) == NULL) {
			/* Indexed after the listing: fetch its row. */
			index_video_row row;
			int r = index_lookup_id(e->ix, id, &row, cause);
			if (r == -1)
				goto out;
			v = r == 0 ? engine_video_put(e, &row, cause) : NULL;
			index_row_clear(&row);
			if (r == 0 && v == NULL)
				goto out;
		}
		if (v != NULL && v->status != INDEX_ERROR && !v->damaged) {
			size_t nseg = ts != NULL ? ni : nj;
			int r = ts != NULL && es != NULL && ni != nj ? 2 :
			    engine_video_segments(e, v, (int)nseg, cause);
			if (r == -1)
				goto out;
			if (r == 2)
				v->damaged = true;
			for (size_t g = 0; r == 0 && g < nseg; g++) {
				if (search_lib_add(e->lib, engine_key(id, (int)g),
				    ts != NULL ? ts->data + (i + g) * (size_t)ts->count : NULL,
				    es != NULL ? es->data + (j + g) * (size_t)es->count : NULL,
				    cause) == -1)
					goto out;
				v->searchable = true;
			}
		}
		if (ts != NULL)
			i += ni;
		if (es != NULL)
			j += nj;
	}
	rc = engine_list_damaged(e, cause);
out:
	index_tensor_set_free(ts);
	index_tensor_set_free(es);
	return rc;
}

/* ---- open and close ------------------------------------------------------ */

typedef struct {
	engine *e;
	char *cause;
	int rc;
} engine_text_job;

static void *engine_text_thread(void *arg)
{
	engine_text_job *job = arg;
	engine *e = job->e;

	/* Each tower reads as many tokens as its file's heads do (heads_text_new). */
	job->rc = 0;
	if (e->tm != NULL && (e->tm->text = heads_text_new_kernel(e->tm->f, 0, e->text_kernel,
	    &job->cause)) == NULL)
		job->rc = -1;
	else if (e->em != NULL && e->em != e->tm &&
	    (e->em->text = heads_text_new_kernel(e->em->f, 0, e->text_kernel, &job->cause)) == NULL)
		job->rc = -1;
	return NULL;
}

engine *engine_open(const engine_options *opt, char **cause)
{
	heads_file *tf, *ef;
	engine *e;

	if ((e = calloc(1, sizeof *e)) == NULL ||
	    (e->db_path = util_strdup(opt->db_path)) == NULL) {
		util_set_cause(cause, "out of memory");
		goto fail;
	}
	e->threads = opt->threads;
	e->no_cache = opt->no_cache != 0;
	e->text_kernel = linear_precision_kernel(opt->precision);
	if ((e->hs = heads_open_head(opt->model_paths, opt->n_models, HEADS_FOR_SEARCH, opt->head,
	    cause)) == NULL)
		goto fail;
	if ((e->n_extra = heads_extra_count(e->hs)) > 0) {
		e->extra_file = calloc((size_t)e->n_extra, sizeof *e->extra_file);
		e->extra_names = calloc((size_t)e->n_extra, sizeof *e->extra_names);
		e->extra = calloc((size_t)e->n_extra, sizeof *e->extra);
		if (e->extra_file == NULL || e->extra_names == NULL || e->extra == NULL) {
			util_set_cause(cause, "out of memory");
			goto fail;
		}
		for (int j = 0; j < e->n_extra; j++) {
			e->extra_file[j] = heads_extra_at(e->hs, j);
			e->extra_names[j] = e->extra_file[j]->head;
		}
	}
	tf = heads_supplier(e->hs, HEADS_TCMGC);
	ef = heads_supplier(e->hs, HEADS_EA);
	if (tf != NULL) {
		e->tm = &e->tmm;
		e->tm->f = tf;
		e->tc = tf->tc;
		e->L = tcmgc_words(e->tc);
		e->F = tcmgc_frames(e->tc);
		e->D = tcmgc_dim(e->tc);
		e->tc_floats = tcmgc_video_cache_floats(e->tc);
	}
	if (ef != NULL) {
		e->em = ef == tf ? e->tm : &e->emm;
		e->em->f = ef;
		e->ea = ef->ea;
		e->F = ea_frames(e->ea);
		e->D = ea_dim(e->ea);
		e->ea_floats = ea_video_cache_floats(e->ea);
	}
	if ((e->lib = search_lib_new(e->tc, e->ea, cause)) == NULL)
		goto fail;

	/*
	 * The text towers (widening their weights takes a while) are built on
	 * a helper thread while this one reads the caches.  Nothing else
	 * touches the models until the join: model_tensor is not thread-safe.
	 */
	{
		engine_text_job job = { e, NULL, -1 };
		pthread_t t;
		bool threaded = pthread_create(&t, NULL, engine_text_thread, &job) == 0;
		int load;

		if (!threaded)
			engine_text_thread(&job);
		e->ix = index_open(e->db_path, opt->create ? INDEX_CREATE : INDEX_READONLY, cause);
		load = e->ix != NULL ? engine_load(e, cause) : -1;
		if (threaded)
			pthread_join(t, NULL);
		if (load == -1) {
			free(job.cause);
			goto fail;
		}
		if (job.rc == -1) {
			if (cause != NULL)
				*cause = job.cause;
			else
				free(job.cause);
			goto fail;
		}
	}
	return e;
fail:
	engine_close(e);
	return NULL;
}

void engine_close(engine *e)
{
	if (e == NULL)
		return;
	for (int j = 0; e->extra != NULL && j < e->n_extra; j++)
		engine_close(e->extra[j]);
	free(e->extra);
	free(e->extra_file);
	free(e->extra_names);
	tcmgc_query_free(e->tq);
	search_lib_free(e->lib);
	heads_text_free(e->tmm.text);
	heads_text_free(e->emm.text);
	heads_free(e->hs);
	for (size_t i = 0; i < e->n_videos; i++)
		engine_video_clear(&e->videos[i]);
	free(e->videos);
	index_close(e->ix);
	free(e->damaged);
	free(e->db_path);
	free(e->cache_why);
	engine_cache_drop_stamps(e);
	free(e);
}

void engine_get_info(const engine *e, engine_info *out)
{
	memset(out, 0, sizeof *out);
	out->db_path = e->db_path;
	if (e->tm != NULL) {
		out->tcmgc_model = e->tm->f->path;
		memcpy(out->tcmgc_hash, e->tm->f->hex, sizeof out->tcmgc_hash);
		out->tcmgc_describe = tcmgc_describe(e->tc);
		out->tcmgc_training_free = tcmgc_is_training_free(e->tc);
	}
	if (e->em != NULL) {
		out->ea_model = e->em->f->path;
		memcpy(out->ea_hash, e->em->f->hex, sizeof out->ea_hash);
		out->ea_describe = ea_describe(e->ea);
		out->ea_training_free = ea_is_training_free(e->ea);
	}
	out->frames = e->F;
	out->words = e->tc != NULL ? e->L : 0;
	out->dim = e->D;
	out->precision = linear_kernel_precision(e->text_kernel);
	out->cache = e->cache_state;
	out->cache_why = e->cache_why;
	out->segments = search_lib_count(e->lib);
	for (size_t i = 0; i < e->n_videos; i++)
		out->videos += e->videos[i].searchable;
	out->damaged = e->n_damaged;
	out->damaged_paths = e->damaged;
	out->unindexed = e->n_videos - out->videos - out->damaged;
	out->extra_modes = e->n_extra;
	out->extra_names = e->extra_names;
}

int engine_has_mode(const engine *e, search_model mode)
{
	if ((int)mode >= ENGINE_MODE_EXTRA)
		return (int)mode - ENGINE_MODE_EXTRA < e->n_extra;
	switch (mode) {
	case SEARCH_TCMGC:
		return e->tc != NULL;
	case SEARCH_EA:
		return e->ea != NULL;
	case SEARCH_FUSED:
		return e->tc != NULL && e->ea != NULL && !ea_is_tight(e->ea);
	}
	return 0;
}

search_model engine_default_mode(const engine *e)
{
	if (engine_has_mode(e, SEARCH_FUSED))
		return SEARCH_FUSED;
	return e->tc != NULL ? SEARCH_TCMGC : SEARCH_EA;
}

/* ---- queries --------------------------------------------------------------- */

/*
 * Encode query for the heads mode uses (cached per text tower).
 * *encode_seconds gets the time spent (0 when all was cached).
 */
int engine_query_is_empty(const char *query)
{
	size_t len = strlen(query), n;
	uint32_t *cp = malloc((len + 1) * sizeof *cp); /* [len] code points at most */
	bool empty = true;

	/* Out of memory: "not empty", and the encoder reports the failure. */
	if (cp == NULL)
		return len == 0;
	n = unicode_utf8_decode(query, len, cp);
	for (size_t i = 0; i < n && empty; i++)
		empty = unicode_is_space(cp[i]) || (cp[i] >= 0x1c && cp[i] <= 0x1f);
	free(cp);
	return empty;
}

/* 0, -1 with *cause, or 1 when *cancel (may be NULL) stopped the text tower. */
static int engine_encode(engine *e, const char *query, search_model mode, atomic_int *cancel,
    double *seconds, char **cause)
{
	double t0 = util_now();
	int fresh = 0, rc;

	*seconds = 0;
	if (!engine_has_mode(e, mode)) {
		util_set_cause(cause, "mode '%s' needs %s", engine_mode_name(mode),
		    mode == SEARCH_TCMGC ? "a TC-MGC model (architecture tcmgc or clip)" :
		    mode == SEARCH_EA ? "an EA model (architecture ea or clip)" :
		    "both a TC-MGC and a loose EA model");
		return -1;
	}
	if (engine_query_is_empty(query)) {
		util_set_cause(cause, "the query is empty");
		return -1;
	}
	if (mode != SEARCH_EA) {
		if ((rc = heads_text_encode_cancellable(e->tm->text, query, &fresh, cancel,
		    cause)) != 0)
			return rc;
		if (fresh || e->tq == NULL) {
			tcmgc_query_free(e->tq);
			e->tq = tcmgc_query_new(e->tc, heads_text_get(e->tm->text)->sentence,
			    heads_text_get(e->tm->text)->words, cause);
			if (e->tq == NULL)
				return -1;
			fresh = 1;
		}
	}
	if (mode != SEARCH_TCMGC) {
		int f2 = 0;
		if ((rc = heads_text_encode_cancellable(e->em->text, query, &f2, cancel, cause)) != 0)
			return rc;
		fresh = fresh || f2;
	}
	if (fresh)
		*seconds = util_now() - t0;
	return 0;
}

/* The text tower whose tokens label the rows: TC-MGC's when in use. */
static engine_model *engine_token_model(engine *e, search_model mode)
{
	return mode != SEARCH_EA ? e->tm : e->em;
}

const char *engine_granularity_name(int g)
{
	static const char *const names[4] = {
		"video-sentence", "video-word", "sentence-frame", "frame-word",
	};

	return g >= 0 && g < 4 ? names[g] : NULL;
}

void engine_token_label(const char *token, char *out, size_t size)
{
	size_t n;

	if (size == 0)
		return;
	if (strcmp(token, "<|startoftext|>") == 0)
		token = "<start>";
	else if (strcmp(token, "<|endoftext|>") == 0)
		token = "<end>";
	n = strlen(token);
	if (n >= 4 && strcmp(token + n - 4, "</w>") == 0)
		n -= 4;
	if (n >= size)
		n = size - 1;
	memcpy(out, token, n);
	out[n] = '\0';
}

void engine_result_free(engine_result *r)
{
	engine_result_full *f = (engine_result_full *)r;

	if (f == NULL)
		return;
	search_result_free(&f->sr);
	free(f->pub.hits);
	free(f->pub.tokens);
	free(f->pub.token_ids);
	free(f->times);
	free(f->strings);
	free(f);
}

int engine_result_keep_under(engine_result *r, const char *dir, int keep)
{
	size_t n = strlen(dir);
	int kept = 0;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		n = 0; /* the root: every absolute path */
	for (int i = 0; i < r->nhits; i++) {
		const char *p = r->hits[i].path;
		if (strncmp(p, dir, n) != 0 || p[n] != '/' || (keep > 0 && kept >= keep))
			continue;
		if (kept != i)
			r->hits[kept] = r->hits[i];
		kept++;
	}
	r->nhits = kept;
	return kept;
}

/*
 * The query-dependent best moment of an EA or fused hit (doc/models.md,
 * "best moment").  EA's loose types pool v = sum_i g_i e_i f_i over the
 * frames (g aggregation, e excitation weights, MODELS.md 2) and score
 * q . v/|v|, so frame i's share of the EA score is w_i (s . f_i) with
 * w_i = g_i e_i and f_i the stored CLIP frame embedding (before the
 * sequential header and intra_mlp, which the index does not keep per
 * frame).  EA mode takes the real frame with the largest share; fused mode
 * averages the two heads' per-frame evidence as it averages their scores:
 * the TC-MGC sentence's attention and the positive EA shares, each
 * normalised to sum 1 over the real frames.  Leaves hit->best_frame alone
 * when the video has no stored frames for the EA file (an older index).
 */
static void engine_best_moment(engine *e, search_model mode, engine_hit *hit)
{
	const float *s = heads_text_get(e->em->text)->sentence; /* [D] */
	float *fr = NULL;   /* [F, D] */
	double *share = NULL; /* [F] */
	int64_t count = 0;
	int F = hit->n_frames, best = -1;
	bool fused = mode == SEARCH_FUSED && hit->sent_attn != NULL;
	double sum_ea = 0, sum_tc = 0;

	if (hit->ea_exc == NULL || F <= 0 ||
	    index_get_tensor(e->ix, hit->video_id, e->em->model_id, HEADS_KIND_FRAMES, &fr, &count,
	    NULL) != 0)
		return;
	/* The stacked [S * F, D] rows: this segment's F. */
	if (count < (int64_t)(hit->segment + 1) * F * e->D ||
	    (share = calloc((size_t)F, sizeof *share)) == NULL) {
		free(fr);
		return;
	}
	for (int i = 0; i < F; i++) {
		double w = (double)hit->ea_exc[i] * (hit->ea_agg != NULL ? hit->ea_agg[i] : 1.0);
		if (isnan(hit->frame_times[i]))
			continue;
		share[i] = w * tensor_dot(s,
		    fr + ((size_t)hit->segment * (size_t)F + (size_t)i) * e->D, e->D);
		sum_ea += share[i] > 0 ? share[i] : 0;
		sum_tc += fused ? hit->sent_attn[i] : 0;
	}
	for (int i = 0; i < F && fused; i++)
		share[i] = ((share[i] > 0 && sum_ea > 0 ? share[i] / sum_ea : 0) +
		    (sum_tc > 0 ? hit->sent_attn[i] / sum_tc : 0)) / 2;
	for (int i = 0; i < F; i++)
		if (!isnan(hit->frame_times[i]) && (best < 0 || share[i] > share[best]))
			best = i;
	if (best >= 0) {
		hit->best_frame = best;
		hit->best_time = hit->frame_times[best];
	}
	free(share);
	free(fr);
}

/*
 * Turn sr (taken over) into an engine_result: copy paths, tokens and frame
 * times so the result outlives the engine.
 */
static engine_result *engine_result_build(engine *e, search_model mode, search_result *sr,
    char **cause)
{
	engine_result_full *f = calloc(1, sizeof *f);
	heads_text *tt = engine_token_model(e, mode)->text;
	const heads_encoding *tm = heads_text_get(tt);
	tokenizer *tok = heads_text_tokenizer(tt);
	size_t bytes = 1, off = 0;
	int F = e->F, n = sr->nhits;

	if (f == NULL)
		goto nomem;
	f->sr = *sr;
	memset(sr, 0, sizeof *sr);
	f->pub.mode = mode;
	f->pub.nhits = n;
	f->pub.frames = F;
	f->pub.words = mode != SEARCH_EA ? e->L : 0;
	f->pub.scored = f->sr.scored;
	f->pub.library = f->sr.library;
	f->pub.search_seconds = f->sr.seconds;
	f->pub.n_tokens = tm->n_tokens;
	f->pub.truncated = tm->truncated;

	for (int h = 0; h < n; h++) {
		engine_video *v = engine_video_find(e, engine_key_video(f->sr.hits[h].id));
		bytes += (v != NULL ? strlen(v->path) : 0) + 1;
	}
	for (int t = 0; t < tm->n_tokens; t++) {
		const char *s = tokenizer_token_text(tok, tm->ids[t]);
		bytes += (s != NULL ? strlen(s) : 0) + 1;
	}
	f->strings = malloc(bytes);
	f->pub.hits = calloc((size_t)(n > 0 ? n : 1), sizeof *f->pub.hits);
	f->times = malloc((size_t)(n > 0 ? n : 1) * (size_t)(F > 0 ? F : 1) * sizeof *f->times);
	f->pub.tokens = calloc((size_t)(tm->n_tokens > 0 ? tm->n_tokens : 1), sizeof *f->pub.tokens);
	f->pub.token_ids = calloc((size_t)(tm->n_tokens > 0 ? tm->n_tokens : 1),
	    sizeof *f->pub.token_ids);
	if (f->strings == NULL || f->pub.hits == NULL || f->times == NULL ||
	    f->pub.tokens == NULL || f->pub.token_ids == NULL)
		goto nomem;

	for (int t = 0; t < tm->n_tokens; t++) {
		const char *s = tokenizer_token_text(tok, tm->ids[t]);
		size_t len = s != NULL ? strlen(s) : 0;
		f->pub.tokens[t] = f->strings + off;
		f->pub.token_ids[t] = tm->ids[t];
		memcpy(f->strings + off, s != NULL ? s : "", len + 1);
		off += len + 1;
	}
	for (int h = 0; h < n; h++) {
		const search_hit *sh = &f->sr.hits[h];
		engine_hit *hit = &f->pub.hits[h];
		engine_video *v = engine_video_find(e, engine_key_video(sh->id));
		const double *times = v != NULL ? engine_video_times(e, v) : NULL;
		double *dst = f->times + (size_t)h * (size_t)F;
		size_t len = v != NULL ? strlen(v->path) : 0;
		int g = engine_key_seg(sh->id);
		index_segment seg = v != NULL ? engine_video_seg(v, g) :
		    (index_segment){ 0, 0, 0, 0 };

		hit->video_id = engine_key_video(sh->id);
		hit->segment = g;
		hit->segments = v != NULL ? v->n_segs : 1;
		hit->seg_start = seg.start;
		hit->seg_end = seg.end;
		hit->path = f->strings + off;
		memcpy(f->strings + off, v != NULL ? v->path : "", len + 1);
		off += len + 1;
		hit->duration = v != NULL ? v->duration : 0;
		hit->rank = h + 1;
		hit->score = sh->score;
		hit->tcmgc = sh->tcmgc;
		memcpy(hit->z, sh->z, sizeof hit->z);
		memcpy(hit->omega, sh->omega, sizeof hit->omega);
		hit->ea = sh->ea;
		hit->n_frames = F;
		for (int i = 0; i < F; i++)
			dst[i] = times != NULL && i < seg.frames && seg.frame0 + i < v->frames ?
			    times[seg.frame0 + i] : NAN;
		hit->frame_times = dst;
		hit->best_frame = sh->best_frame;
		hit->best_time = sh->best_frame >= 0 && sh->best_frame < F ? dst[sh->best_frame] : NAN;
		hit->word_attn = sh->word_attn;
		hit->word_best = sh->word_best;
		hit->sent_attn = sh->sent_attn;
		hit->ea_exc = sh->ea_exc;
		hit->ea_agg = sh->ea_agg;
		if (mode != SEARCH_TCMGC)
			engine_best_moment(e, mode, hit);
	}
	return &f->pub;
nomem:
	util_set_cause(cause, "out of memory");
	if (f != NULL)
		engine_result_free(&f->pub);
	else
		search_result_free(sr);
	return NULL;
}

/*
 * The engine serving extra mode `mode` (opened now on first use), and in
 * *inner the mode to ask it for: its default (the one head it has, or
 * fused for a "clip" head).  NULL with *cause.
 */
static engine *engine_extra(engine *e, search_model mode, search_model *inner, char **cause)
{
	int j = (int)mode - ENGINE_MODE_EXTRA;

	if (j < 0 || j >= e->n_extra) {
		util_set_cause(cause, "no search mode %d", (int)mode);
		return NULL;
	}
	if (e->extra[j] == NULL) {
		engine_options o;
		const char *path = e->extra_file[j]->path;

		engine_options_init(&o);
		o.db_path = e->db_path;
		o.model_paths = &path;
		o.n_models = 1;
		o.threads = e->threads;
		o.head = e->extra_file[j]->head;
		o.no_cache = e->no_cache;
		if ((e->extra[j] = engine_open(&o, cause)) == NULL)
			return NULL;
	}
	e->extra[j]->cancel = e->cancel; /* a newer keystroke stops its scan too */
	*inner = engine_default_mode(e->extra[j]);
	return e->extra[j];
}

/* The mode asked for, by name, into the result. */
static void engine_result_name(const engine *e, engine_result *r, search_model mode)
{
	snprintf(r->mode_name, sizeof r->mode_name, "%s", engine_mode_label(e, mode));
}

/*
 * Keep each video's first (best) hit of sr, at most want of them; the
 * hits' arrays stay in sr's memory.  Returns the videos kept, -1 out of
 * memory.
 */
static int engine_best_per_video(search_result *sr, int want)
{
	size_t slots = 16;
	int64_t *seen;
	int kept = 0;

	while (slots < 2 * (size_t)sr->nhits)
		slots *= 2;
	/* A set of the videos kept (ids are > 0; 0 marks a free slot). */
	if ((seen = calloc(slots, sizeof *seen)) == NULL)
		return -1;
	for (int h = 0; h < sr->nhits && kept < want; h++) {
		int64_t vid = engine_key_video(sr->hits[h].id);
		size_t i = (size_t)((uint64_t)vid * 0x9e3779b97f4a7c15ull >> 7) & (slots - 1);
		while (seen[i] != 0 && seen[i] != vid)
			i = (i + 1) & (slots - 1);
		if (seen[i] == vid)
			continue;
		seen[i] = vid;
		sr->hits[kept++] = sr->hits[h];
	}
	free(seen);
	sr->nhits = kept;
	return kept;
}

void engine_set_cancel(engine *e, atomic_int *flag)
{
	e->cancel = flag;
}

int engine_search_segments(engine *e, const char *query, search_model mode, int top_k,
    int all_segments, engine_result **out, char **cause)
{
	search_opts opts;
	search_result sr;
	size_t records = search_lib_count(e->lib);
	double enc;
	int want = top_k > 0 ? top_k : 10;

	*out = NULL;
	if ((int)mode >= ENGINE_MODE_EXTRA) {
		search_model inner;
		engine *x = engine_extra(e, mode, &inner, cause);
		int rc = x == NULL ? -1 :
		    engine_search_segments(x, query, inner, top_k, all_segments, out, cause);
		if (rc != 0)
			return rc;
		engine_result_name(e, *out, mode);
		return 0;
	}
	/* A newer keystroke may supersede the query while the text tower runs. */
	int encoded = engine_encode(e, query, mode, e->cancel, &enc, cause);
	if (encoded != 0)
		return encoded; /* -1, or 1: cancelled */
	search_opts_init(&opts);
	opts.model = mode;
	opts.top_k = want;
	opts.threads = e->threads;
	opts.cancel = e->cancel;
	if (e->cancel != NULL && atomic_load(e->cancel))
		return 1; /* superseded while the text was encoded */
	/*
	 * Best segment per video: the top segments deduplicated by video are
	 * exact as long as want videos remain; else ask for more and rerun.
	 * Videos of one segment (every clip) never need the rerun.
	 */
	if (!all_segments && records > e->n_videos)
		opts.top_k = want * 2;
	for (;;) {
		int rc = search_run(e->lib, mode != SEARCH_EA ? e->tq : NULL,
		    mode != SEARCH_TCMGC ? heads_text_get(e->em->text)->sentence : NULL, &opts, &sr,
		    cause);
		if (rc != 0)
			return rc; /* -1, or 1: cancelled */
		int kept = all_segments ? want : engine_best_per_video(&sr, want);
		if (kept < 0) {
			search_result_free(&sr);
			util_set_cause(cause, "out of memory");
			return -1;
		}
		if (kept >= want || (size_t)opts.top_k >= records)
			break;
		search_result_free(&sr);
		opts.top_k = (size_t)opts.top_k * 4 < records ? opts.top_k * 4 : (int)records;
	}
	if ((*out = engine_result_build(e, mode, &sr, cause)) == NULL)
		return -1;
	(*out)->encode_seconds = enc;
	engine_result_name(e, *out, mode);
	return 0;
}

int engine_score_all(engine *e, const char *query, search_model mode, int64_t *ids,
    float *scores, size_t cap, size_t *n, char **cause)
{
	size_t count;
	double enc;

	*n = 0;
	if ((int)mode >= ENGINE_MODE_EXTRA) {
		search_model inner;
		engine *x = engine_extra(e, mode, &inner, cause);
		return x == NULL ? -1 : engine_score_all(x, query, inner, ids, scores, cap, n, cause);
	}
	if (engine_encode(e, query, mode, NULL, &enc, cause) == -1)
		return -1;
	if (mode != SEARCH_TCMGC && ea_is_tight(e->ea)) {
		util_set_cause(cause, "mode '%s': the tight EA type ranks only its pre-selection",
		    engine_mode_name(mode));
		return -1;
	}
	count = search_lib_count(e->lib);
	if (count > cap) {
		util_set_cause(cause, "%zu videos, room for %zu", count, cap);
		return -1;
	}
	if (search_score_all(e->lib, mode != SEARCH_EA ? e->tq : NULL,
	    mode != SEARCH_TCMGC ? heads_text_get(e->em->text)->sentence : NULL, mode, e->threads,
	    scores, cause) == -1)
		return -1;
	for (size_t i = 0; i < count; i++)
		ids[i] = engine_key_video(search_lib_id(e->lib, i));
	*n = count;
	return 0;
}

const char *engine_video_path(engine *e, int64_t id)
{
	engine_video *v = engine_video_find(e, id);

	return v != NULL ? v->path : NULL;
}

int engine_search(engine *e, const char *query, search_model mode, int top_k,
    engine_result **out, char **cause)
{
	return engine_search_segments(e, query, mode, top_k, 0, out, cause);
}

int engine_find_video(engine *e, const char *path, int64_t *id, char **cause)
{
	(void)cause;
	for (size_t i = 0; i < e->n_videos; i++) {
		if ((e->videos[i].searchable || e->videos[i].damaged) &&
		    strcmp(e->videos[i].path, path) == 0) {
			*id = e->videos[i].id;
			return e->videos[i].searchable ? 0 : 2;
		}
	}
	return 1;
}

/* A record's score, for ranking videos by their best segment. */
typedef struct {
	int64_t video;
	float score;
	size_t at;
} engine_scored;

static int engine_scored_cmp(const void *a, const void *b)
{
	const engine_scored *x = a, *y = b;

	if (x->video != y->video)
		return x->video < y->video ? -1 : 1;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * The rank the list would give video_id were record `at` its best: 1 +
 * the other videos whose best record beats it (a tie goes to the earlier
 * record).  O(n log n) over the library's records; -1 out of memory.
 */
static int engine_rank_videos(const search_lib *lib, const float *scores, size_t n,
    int64_t video_id, size_t at)
{
	engine_scored *v = malloc((n > 0 ? n : 1) * sizeof *v);
	int rank = 1;

	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		v[i] = (engine_scored){ engine_key_video(search_lib_id(lib, i)), scores[i], i };
	qsort(v, n, sizeof *v, engine_scored_cmp);
	for (size_t i = 0; i < n; i++) {
		/* The first record of each video is its best. */
		if ((i > 0 && v[i].video == v[i - 1].video) || v[i].video == video_id)
			continue;
		if (v[i].score > scores[at] || (v[i].score == scores[at] && v[i].at < at))
			rank++;
	}
	free(v);
	return rank;
}

int engine_explain(engine *e, const char *query, search_model mode, int64_t video_id,
    engine_result **out, char **cause)
{
	return engine_explain_at(e, query, mode, video_id, NAN, out, cause);
}

int engine_explain_at(engine *e, const char *query, search_model mode, int64_t video_id,
    double at_time, engine_result **out, char **cause)
{
	engine_video *v = engine_video_find(e, video_id);
	search_lib *one = NULL;
	search_opts opts;
	search_result sr;
	float *scores = NULL, mine = NAN, *tc = NULL, *eac = NULL;
	size_t n = search_lib_count(e->lib), at = n;
	double enc, t0;
	int rank = 0, rc = -1, r, seg = -1, nseg = 0;

	*out = NULL;
	if ((int)mode >= ENGINE_MODE_EXTRA) {
		search_model inner;
		engine *x = engine_extra(e, mode, &inner, cause);
		if (x == NULL || (r = engine_explain(x, query, inner, video_id, out, cause)) == -1)
			return -1;
		if (r == 0)
			engine_result_name(e, *out, mode);
		return r;
	}
	if (v == NULL || !v->searchable)
		return 1;
	if (engine_encode(e, query, mode, NULL, &enc, cause) == -1)
		return -1;
	t0 = util_now();
	/* The segment asked for: the one holding at_time (the last one past the end). */
	if (!isnan(at_time)) {
		seg = 0;
		for (int g = 1; g < v->n_segs; g++)
			if (at_time >= engine_video_seg(v, g).start)
				seg = g;
	}
	/* The rank against the whole library (the tight EA type is not scored
	 * for every video: its rank stays 0, unknown). */
	if (!(mode != SEARCH_TCMGC && ea_is_tight(e->ea))) {
		if ((scores = tensor_alloc(n)) == NULL) {
			util_set_cause(cause, "out of memory");
			return -1;
		}
		if (search_score_all(e->lib, mode != SEARCH_EA ? e->tq : NULL,
		    mode != SEARCH_TCMGC ? heads_text_get(e->em->text)->sentence : NULL, mode, e->threads, scores,
		    cause) == -1)
			goto out;
		for (size_t i = 0; i < n; i++) {
			int64_t key = search_lib_id(e->lib, i);
			if (engine_key_video(key) != video_id)
				continue;
			if (seg >= 0 ? engine_key_seg(key) == seg : (at == n || scores[i] > scores[at]))
				at = i;
		}
		if (at == n)
			goto gone;
		mine = scores[at];
		if ((rank = engine_rank_videos(e->lib, scores, n, video_id, at)) < 0) {
			util_set_cause(cause, "out of memory");
			goto out;
		}
		seg = engine_key_seg(search_lib_id(e->lib, at));
	} else if (seg < 0) {
		seg = 0; /* tight EA: without every score, the first segment */
	}
	/* The breakdown: the segment alone in a library. */
	if ((r = engine_read_caches(e, video_id, &tc, &eac, &nseg, cause)) != 0) {
		if (r == 1)
			util_set_cause(cause, "%s: video %lld lost its caches",
			    UTIL_NAME(e->db_path),
			    (long long)video_id);
		goto out;
	}
	if (seg >= nseg)
		goto gone;
	if ((one = search_lib_new(e->tc, e->ea, cause)) == NULL ||
	    search_lib_add(one, engine_key(video_id, seg),
	    tc != NULL ? tc + (size_t)seg * e->tc_floats : NULL,
	    eac != NULL ? eac + (size_t)seg * e->ea_floats : NULL, cause) == -1)
		goto out;
	search_opts_init(&opts);
	opts.model = mode;
	opts.top_k = 1;
	opts.threads = 1;
	if (search_run(one, mode != SEARCH_EA ? e->tq : NULL,
	    mode != SEARCH_TCMGC ? heads_text_get(e->em->text)->sentence : NULL, &opts, &sr, cause) == -1)
		goto out;
	if (sr.nhits == 1 && rank > 0)
		sr.hits[0].score = mine; /* fused: normalised over the whole library */
	if ((*out = engine_result_build(e, mode, &sr, cause)) == NULL)
		goto out;
	(*out)->encode_seconds = enc;
	engine_result_name(e, *out, mode);
	(*out)->search_seconds = util_now() - t0;
	(*out)->library = n;
	(*out)->scored = rank > 0 ? n : 1;
	if ((*out)->nhits == 1)
		(*out)->hits[0].rank = rank;
	rc = 0;
	goto out;
gone:
	rc = 1;
out:
	tensor_free(scores);
	free(tc);
	free(eac);
	search_lib_free(one);
	return rc;
}

index_frames *engine_get_frames(engine *e, int64_t video_id, int with_thumbs, char **cause)
{
	index_frames *f = index_get_frames(e->ix, video_id, with_thumbs, cause);

	if (f != NULL && f->n == 0 && engine_video_find(e, video_id) == NULL) {
		index_frames_free(f);
		util_set_cause(cause, "%s: video %lld is not in the index", UTIL_NAME(e->db_path),
		    (long long)video_id);
		return NULL;
	}
	return f;
}

int64_t engine_segment_key(int64_t video_id, int segment)
{
	return engine_key(video_id, segment);
}

index_frames *engine_get_segment_frames(engine *e, int64_t segment_key, int with_thumbs,
    char **cause)
{
	int64_t id = engine_key_video(segment_key);
	engine_video *v = engine_video_find(e, id);
	index_segment seg;

	if (v == NULL || v->n_segs <= 1)
		return engine_get_frames(e, id, with_thumbs, cause);
	seg = engine_video_seg(v, engine_key_seg(segment_key));
	return index_get_frame_range(e->ix, id, seg.frame0, seg.frames, with_thumbs, cause);
}

/* ---- refresh --------------------------------------------------------------- */

typedef struct {
	engine *e;
	int64_t *ids;   /* videos whose caches must be (re)loaded */
	size_t n, cap;
	int renamed;    /* videos whose path or frames changed without new caches */
	char **cause;
} engine_refresh_state;

static int engine_refresh_fn(void *arg, const index_video_row *row)
{
	engine_refresh_state *st = arg;
	engine *e = st->e;
	engine_video *v = engine_video_find(e, row->id);
	bool reload = v == NULL || v->indexed_at_ns != row->indexed_at_ns ||
	    v->status != (int)row->status || (!v->searchable && row->status != INDEX_ERROR);

	if (v != NULL && !reload && strcmp(v->path, row->path) == 0 && v->frames == row->frames) {
		v->seen = true;
		return 0;
	}
	if (engine_video_put(e, row, st->cause) == NULL)
		return -1;
	if (!reload)
		st->renamed++;
	if (reload) {
		if (st->n == st->cap) {
			size_t cap = st->cap ? 2 * st->cap : 64;
			int64_t *ids = realloc(st->ids, cap * sizeof *ids);
			if (ids == NULL) {
				util_set_cause(st->cause, "out of memory");
				return -1;
			}
			st->ids = ids;
			st->cap = cap;
		}
		st->ids[st->n++] = row->id;
	}
	return 0;
}

int engine_refresh(engine *e, int *changed, char **cause)
{
	engine_refresh_state st = { .e = e, .cause = cause };
	bool had_models = engine_models_known(e);
	int64_t stamp = e->stamp;
	int count = 0, rc = -1;

	if (changed != NULL)
		*changed = 0;
	for (int j = 0; j < e->n_extra; j++)
		if (e->extra[j] != NULL && engine_refresh(e->extra[j], NULL, cause) == -1)
			return -1;
	/* The same change stamp: nothing search loads has changed.  (Read
	 * before the listing: a write in between makes the next refresh look.) */
	if (e->have_stamp) {
		if (index_change_stamp(e->ix, &stamp, cause) != 0)
			return -1;
		if (stamp == e->stamp)
			return 0;
	}
	/* The library is about to change: the load's file is no longer its picture. */
	if (e->cache_pending) {
		e->cache_pending = false;
		engine_cache_drop_stamps(e);
	}
	for (size_t i = 0; i < e->n_videos; i++)
		e->videos[i].seen = false;
	if (index_list_videos(e->ix, NULL, engine_refresh_fn, &st, cause) != 0)
		goto out;
	if (!had_models && (engine_find_models(e, cause) == -1))
		goto out;
	if (!had_models && engine_models_known(e)) {
		/* The models appeared: every video is a candidate. */
		st.n = 0;
		for (size_t i = 0; i < e->n_videos; i++) {
			engine_refresh_state *s = &st;
			if (s->n == s->cap) {
				size_t cap = s->cap ? 2 * s->cap : 64;
				int64_t *ids = realloc(s->ids, cap * sizeof *ids);
				if (ids == NULL) {
					util_set_cause(cause, "out of memory");
					goto out;
				}
				s->ids = ids;
				s->cap = cap;
			}
			s->ids[s->n++] = e->videos[i].id;
		}
	}
	/* Gone from the index. */
	for (size_t i = e->n_videos; i-- > 0;) {
		if (!e->videos[i].seen) {
			engine_video_drop(e, &e->videos[i]);
			count++;
		}
	}
	for (size_t k = 0; k < st.n; k++) {
		engine_video *v = engine_video_find(e, st.ids[k]);

		if (v == NULL)
			continue;
		if (v->searchable) {
			for (int g = 0; g < v->n_segs; g++)
				search_lib_remove(e->lib, engine_key(v->id, g));
			v->searchable = false;
		}
		v->damaged = false;
		count++;
		if (v->status == INDEX_ERROR || !engine_models_known(e))
			continue;
		if (engine_read_video(e, v, cause) == -1)
			goto out;
	}
	e->stamp = stamp;
	rc = 0;
out:
	/* Also after a failure: videos dropped or renamed freed their paths. */
	if (engine_list_damaged(e, rc == 0 ? cause : NULL) == -1)
		rc = -1;
	free(st.ids);
	if (changed != NULL)
		*changed = count + st.renamed;
	return rc;
}
