/*
 * engine — the query side of clipgrep, shared by the command line
 * (`clipgrep search`, `clipgrep explain`) and the TUI: open an index, load
 * the selected model files, load every searchable video's per-video caches
 * into memory once, then answer queries (tokenizer → text tower → heads →
 * search_run) and explain each hit: the four granularity scores, the LSA
 * weights ω, the EA score and weights, the word × frame attention with the
 * query's tokens, each word's best frame and the best moment as a time.
 *
 * Models.  Each model file is arch "clip", "ea" or "tcmgc" (core/model.h):
 *   "tcmgc"  gives a TC-MGC head (and its own text tower)
 *   "ea"     gives an EA head (and its own text tower)
 *   "clip"   gives both heads in their training-free form
 * The TC-MGC head is taken from the first "tcmgc" file given, else from the
 * first "clip" file; the EA head from the first "ea" file, else the first
 * "clip" file.  Each head encodes the query with the text tower of the file
 * it came from.  Both heads must agree on F and the embedding width
 * (search_lib_new checks).  A file that gives no head in use is loaded and
 * ignored (engine_info says which files are used).
 *
 * What the index holds, per (video, model file), and which file gives
 * which head: core/heads.h (the rules above are heads_open's
 * HEADS_FOR_SEARCH).  A video is
 * searchable when it has the cache of every head in use; others are
 * counted in engine_info.unindexed (e.g. indexed with other models).
 * A video whose stored record is damaged (a corrupt tensor row, a kind
 * missing) is left out and listed in engine_info.damaged_paths: one bad
 * row never fails engine_open.
 *
 * Threads: an engine is used by one thread at a time (the caller
 * serialises; the TUI's search worker and its refresh must not overlap).
 * search_run itself uses opts.threads worker threads.  Results
 * (engine_result) own all their memory and stay valid after later calls and
 * after engine_close, so a UI may keep showing them while it searches again.
 *
 * Segments.  A long video is stored as consecutive segments (core/index.h,
 * index_segment), each with the caches of a clip; the search library holds
 * one record per segment, and a hit is a segment (engine_hit.segment,
 * seg_start, seg_end; frame_times and the attention are the segment's).
 * engine_search keeps each video's best segment; engine_search_segments
 * can list every one.
 *
 * Cost: engine_open reads the caches once (about 27 KB per segment per head
 * for ViT-B/32, F = 12).  A repeated query text reuses its encoding (the
 * TUI re-runs the same text when switching mode or after a refresh).
 * engine_search allocates only the result (a handful of blocks).
 *
 * Default paths and models (XDG, $CLIPGREP_DB, the config file, the
 * bundled demo model) are the program's policy, not the engine's: see
 * tui/cli/cli-config.h.
 */
#ifndef CLIPGREP_ENGINE_H
#define CLIPGREP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "linear.h"
#include "search.h"

typedef struct engine engine;

typedef struct {
	const char *db_path;            /* the index file */
	const char *const *model_paths; /* [n_models] model files, in priority order */
	int n_models;                   /* >= 1 */
	int threads;                    /* search workers; 0: one per online CPU */
	int create;                     /* 0: the index must exist (opened read-only);
	                                   1: create an empty one when missing (the TUI
	                                   about to index a new folder) */
	const char *head;               /* only this head of multi-head files (NULL:
	                                   all; heads_open_head) */
	linear_precision precision;     /* the text towers' GEMMs (default fp32; bf16
	                                   runs in fp32 on a CPU without AVX512_BF16:
	                                   engine_info.precision says which ran).  A
	                                   bf16 query against fp32 video vectors (or the
	                                   reverse) is allowed: only the index refuses
	                                   to mix */
	int no_cache;                   /* 1: neither read nor write the search cache
	                                   file (always load from the index) */
} engine_options;

/*
 * The search cache file beside the index ("<index>.search-<T>-<E>", core/
 * cachefile): what happened to it when the library was loaded.
 */
typedef enum {
	ENGINE_CACHE_NONE,        /* nothing to cache (no video with these models) */
	ENGINE_CACHE_OFF,         /* engine_options.no_cache */
	ENGINE_CACHE_OLD_INDEX,   /* the index predates change stamps (schema < 6):
	                             `clipgrep index` upgrades it */
	ENGINE_CACHE_USED,        /* current and whole: searched in place */
	ENGINE_CACHE_WRITTEN,     /* missing: loaded from the index and written (by
	                             engine_flush_cache) */
	ENGINE_CACHE_REBUILT,     /* stale or damaged (cache_why says which):
	                             loaded from the index and written anew */
	ENGINE_CACHE_EXTENDED,    /* made at an older state of the index: the videos
	                             unchanged since kept, the others read from the
	                             index (cache_why counts them), and written anew */
	ENGINE_CACHE_UNWRITABLE,  /* loaded from the index; writing failed (cache_why) */
	ENGINE_CACHE_MISSING,     /* (internal: missing, about to be written) */
} engine_cache_state;

/* "none", "off", "old-index", "used", "written", "rebuilt", "extended", "unwritable". */
const char *engine_cache_state_name(engine_cache_state s);

/* Zeroes, threads 0, create 0. */
void engine_options_init(engine_options *opt);

/*
 * Open the index, load the model files, their towers and heads, and the
 * caches of every searchable video.  NULL with a cause naming the file and
 * the reason: "<db>: no such index", "<model>: architecture 'x' ...",
 * "<model>: no tokenizer (clipgrep.tokenizer.merges)", "the TC-MGC head of A
 * and the EA head of B disagree on frames or width", ...  An index with no
 * video (or none indexed with these models) is not an error: searches then
 * return no hits.  Free with engine_close.
 */
engine *engine_open(const engine_options *opt, char **cause);
/*
 * Write the search cache file when the load left it to write (the first
 * load after the index changed, or when the file was missing or damaged):
 * engine_open does not, so that a caller can show its first results
 * before paying for hundreds of megabytes of writing.  A no-op otherwise,
 * and after an engine_refresh that changed the library (the file then
 * waits for the next engine).  Not while a search runs on e.
 */
void engine_flush_cache(engine *e);

/* Release everything; NULL is a no-op.  Results already returned stay valid. */
void engine_close(engine *e);

/* What the engine loaded, for status lines, `clipgrep info` and JSON. */
typedef struct {
	const char *db_path;
	const char *tcmgc_model;    /* path of the file giving the TC-MGC head, or NULL */
	const char *ea_model;       /* path of the file giving the EA head, or NULL */
	char tcmgc_hash[33];        /* its content hash, hex ("" when NULL) */
	char ea_hash[33];
	const char *tcmgc_describe; /* tcmgc_describe / ea_describe, or NULL */
	const char *ea_describe;
	int tcmgc_training_free;    /* the head runs in the training-free form */
	int ea_training_free;
	int frames;                 /* F */
	int words;                  /* L of the TC-MGC head (rows of word_attn), 0 without it */
	int dim;                    /* D */
	size_t videos;              /* searchable videos */
	size_t segments;            /* their segments: the records search ranks (a
	                               clip is one; a long video one per window) */
	size_t unindexed;           /* videos in the index without these models' caches
	                               (error status, or indexed with other models) */
	size_t damaged;             /* videos left out because their stored record is
	                               damaged (index_list_damaged, or a row the load
	                               could not use); `clipgrep index` re-encodes them */
	const char *const *damaged_paths; /* [damaged] their paths (raw bytes), by id */
	int extra_modes;            /* modes past SEARCH_FUSED: ENGINE_MODE_EXTRA + j */
	const char *const *extra_names; /* [extra_modes] their names, the heads' names */
	linear_precision precision; /* what the text towers run in */
	engine_cache_state cache;   /* the search cache file at the last load */
	const char *cache_why;      /* why it was rebuilt or not written, or NULL */
} engine_info;

/*
 * Strings point into e and live until engine_close or the next
 * engine_refresh (damaged_paths).
 */
void engine_get_info(const engine *e, engine_info *out);

/*
 * Whether mode can run: SEARCH_TCMGC needs a TC-MGC head, SEARCH_EA an EA
 * head, SEARCH_FUSED both with a loose EA head.  The best default mode is
 * engine_default_mode: fused when possible, else whichever head exists.
 */
int engine_has_mode(const engine *e, search_model mode);
search_model engine_default_mode(const engine *e);
/* "tcmgc", "ea", "fused"; and back (-1 for an unknown name). */
const char *engine_mode_name(search_model mode);
int engine_mode_parse(const char *name, search_model *out);

/*
 * Modes past the three built-in ones.  A multi-head file (core/model.h)
 * gives the engine's TC-MGC and EA heads from its first heads of those
 * kinds; each further head (e.g. the demo's "ea-seq" and "meanp") is a
 * mode of its own, ENGINE_MODE_EXTRA + j in the file's order, named by the
 * head.  engine_search and engine_explain serve such a mode with an engine
 * opened on that head alone (its default mode), on first use; the result's
 * mode is then that engine's (how to read the hit: SEARCH_EA or
 * SEARCH_TCMGC) and its mode_name the head's name.
 */
#define ENGINE_MODE_EXTRA ((int)SEARCH_FUSED + 1)
/* Modes there are: ENGINE_MODE_EXTRA + the extra heads. */
int engine_mode_count(const engine *e);
/* The name of any mode of e: engine_mode_name's, or the head's name. */
const char *engine_mode_label(const engine *e, search_model mode);
/* engine_mode_parse, and the extra heads' names; -1 for an unknown name. */
int engine_mode_find(const engine *e, const char *name, search_model *out);

/* One hit.  Pointers are owned by the engine_result holding the hit. */
typedef struct {
	int64_t video_id;         /* index row id */
	int segment;              /* the segment of the video this hit is (0-based) */
	int segments;             /* the video's segments (1 for a clip) */
	double seg_start, seg_end;/* the segment's span in seconds from the file's start */
	const char *path;         /* the file, as stored (raw bytes: print escaped) */
	double duration;          /* seconds, 0 when unknown */
	int rank;                 /* 1-based rank in the whole library */
	float score;              /* what the hits are ranked by (mode's score, or fused) */
	float tcmgc;              /* TC-MGC final score, NAN without TC-MGC */
	float z[4];               /* S_vs, S_vw, S_sf, S_fw (video-sentence, video-word,
	                             sentence-frame, frame-word); NAN without TC-MGC */
	float omega[4];           /* LSA weights; NAN without TC-MGC */
	float ea;                 /* EA score, NAN without EA */
	int n_frames;             /* F (rows of frame_times; frames past the video's
	                             real ones are padding, time NAN) */
	const double *frame_times;/* [F] each sampled frame's time in seconds */
	int best_frame;           /* the best moment: a real frame index (0 .. F-1) of the
	                             segment, chosen for this query in every mode
	                             (doc/models.md) */
	double best_time;         /* its time in seconds (mpv --start=), NAN if unknown */
	const float *word_attn;   /* [L, F] attention of each token position over the
	                             frames (rows >= n_tokens are padding), or NULL */
	const int *word_best;     /* [L] each position's most attended frame, or NULL */
	const float *sent_attn;   /* [F] the sentence's attention, or NULL */
	const float *ea_exc;      /* [F] EA excitation weights, or NULL */
	const float *ea_agg;      /* [F] EA aggregation weights, or NULL */
} engine_hit;

typedef struct {
	search_model mode;        /* how to read the hits (SEARCH_TCMGC, _EA, _FUSED) */
	char mode_name[32];       /* the mode asked for, by name ("ea-seq", "fused") */
	int nhits;
	engine_hit *hits;         /* [nhits] best first */
	int frames;               /* F */
	int words;                /* L: rows of word_attn / word_best */
	int n_tokens;             /* real tokens: SOT, the words, EOT (<= L); 0 without TC-MGC */
	char **tokens;            /* [n_tokens] token texts ("</w>" ends a word; may hold
	                             partial UTF-8: print with an escaping printer) */
	int32_t *token_ids;       /* [n_tokens] */
	int truncated;            /* the query had more than L - 2 word tokens */
	size_t scored;            /* segments scored by the full model(s) */
	size_t library;           /* searchable segments (a clip is one) */
	double encode_seconds;    /* text encoding (0 when the cached encoding was reused) */
	double search_seconds;    /* search_run, explanation included */
} engine_result;

/*
 * 1 when query holds nothing to search for: no characters, or only
 * whitespace (Unicode White_Space, which takes in tabs, newlines, U+00A0
 * and U+3000, and U+001C..U+001F as Python's str.isspace does).  The one
 * test of "the query is empty" for the engine, the command line and the
 * interactive screen, so that "   " never ranks where "" is refused.
 */
int engine_query_is_empty(const char *query);

/*
 * Search the library for query in mode, keeping the top_k best (top_k <= 0:
 * 10).  *out gets a result (free with engine_result_free) also when there
 * are no hits.  Returns 0, or -1 with *cause ("mode 'ea' needs an EA model",
 * an empty query, ...); 1, with *out NULL, when the cancel flag
 * (engine_set_cancel) was nonzero or became so while the text was encoded
 * (checked before each block of the text tower) or during the scan.  The query's encoding is kept for the next call with
 * the same text.
 */
int engine_search(engine *e, const char *query, search_model mode, int top_k,
    engine_result **out, char **cause);
/*
 * The same over segments: all_segments == 0 keeps each video's best
 * segment (engine_search: top_k videos, exact), else the top_k segments,
 * several of one video when they rank so.
 */
int engine_search_segments(engine *e, const char *query, search_model mode, int top_k,
    int all_segments, engine_result **out, char **cause);
/*
 * A flag engine_search watches (NULL: none), owned by the caller and
 * living as long as the engine uses it.  The TUI's search thread sets it
 * when a newer keystroke supersedes the search in flight: the text tower
 * stops between its blocks and the scan between blocks of videos, each
 * about a millisecond of work.  Explaining and engine_score_all do not
 * watch it.
 */
void engine_set_cancel(engine *e, atomic_int *flag);

/*
 * Explain one video for query: *out gets a result with exactly one hit,
 * the video, ranked (hit.rank) against the whole library; fused scores are
 * normalised over the whole library, as in engine_search.  Returns 0, 1
 * when the video is not searchable (not in the index, an error status, or
 * not indexed with these models: *out is NULL), or -1 with *cause.
 */
int engine_explain(engine *e, const char *query, search_model mode, int64_t video_id,
    engine_result **out, char **cause);
/*
 * The same for one segment: the one holding at_time (seconds from the
 * file's start; past the end: the last), or with at_time NAN the video's
 * best segment for the query (what engine_explain explains).  The rank is
 * the video's place in the list were this segment its best.
 */
int engine_explain_at(engine *e, const char *query, search_model mode, int64_t video_id,
    double at_time, engine_result **out, char **cause);

void engine_result_free(engine_result *r);

/*
 * The one vocabulary the screen, `clipgrep explain` and the man page use
 * for what a hit's breakdown shows (clipgrep(1), VOCABULARY):
 * granularity g (0..3, the order of engine_hit.z and .omega) is
 * "video-sentence", "video-word", "sentence-frame" or "frame-word"
 * (JSON keys spell them with '_'); z is its "similarity", omega its
 * "weight" and omega * z its "contribution" to the TC-MGC score.  NULL for
 * another g.
 */
const char *engine_granularity_name(int g);

/*
 * A query token as the screen and `clipgrep explain` show it: the
 * tokenizer's text without the end-of-word "</w>", and "<start>" / "<end>"
 * for the start and end of text.  Writes at most size bytes to out
 * (truncated, always terminated); the bytes may still need escaping.
 */
void engine_token_label(const char *token, char *out, size_t size);

/*
 * Keep only the hits whose path lies under the folder dir (a real path;
 * whole components: "/a/b" keeps "/a/b/x.mp4", not "/a/bc/x.mp4"; a
 * trailing '/' is fine), at most keep of them (keep <= 0: all), in their
 * order; their rank stays the library rank.  Returns the hits kept.  For
 * searches scoped to a folder: search deep enough, then keep.
 */
int engine_result_keep_under(engine_result *r, const char *dir, int keep);

/*
 * Every searchable segment's score for query in mode, the score
 * engine_search ranks by (fused: normalised over the whole library),
 * without building hits or their breakdowns: ids[i] (the segment's video,
 * repeated for each segment of a long video), scores[i] for i < *n, in
 * library order.
 * For evaluations (`clipgrep bench eval`), where breakdowns of every video
 * would cost more than the scores.  cap: room in ids and scores (at least
 * engine_info.segments).  0, or -1 with *cause (also for the tight EA type,
 * which scores only a pre-selection).
 */
int engine_score_all(engine *e, const char *query, search_model mode, int64_t *ids,
    float *scores, size_t cap, size_t *n, char **cause);
/* The stored path of video id (raw bytes; owned by e, valid until the next refresh), or NULL. */
const char *engine_video_path(engine *e, int64_t id);

/*
 * The searchable video stored at path (bytes compared exactly): 0 and *id,
 * 2 and *id when the video at path was left out because its stored record
 * is damaged, 1 when no searchable video has that path, -1 on error.
 */
int engine_find_video(engine *e, const char *path, int64_t *id, char **cause);

/*
 * A video's stored frames in time order (times; JPEG thumbnails too when
 * with_thumbs) straight from the index: what the TUI draws the heatmap
 * strip and the best frame from.  Free with index_frames_free.  NULL with
 * *cause on error (a video deleted since: "video N is not in the index").
 */
index_frames *engine_get_frames(engine *e, int64_t video_id, int with_thumbs, char **cause);

/*
 * One segment of one video as a single key (e.g. for a cache of what the
 * screen shows per hit), and that segment's stored frames in time order,
 * frames[0] being the hit's frame 0 (engine_hit.frame_times).  A clip has
 * one segment, 0, holding all its frames.  NULL with *cause on error.
 */
int64_t engine_segment_key(int64_t video_id, int segment);
index_frames *engine_get_segment_frames(engine *e, int64_t segment_key, int with_thumbs,
    char **cause);

/*
 * Pick up what changed in the index since open or the last refresh (an
 * indexer running in another thread or process): videos added or
 * re-indexed are (re)loaded, deleted ones dropped, moved ones renamed.
 * Cheap when nothing changed (one query on the video table).  *changed
 * (may be NULL) gets the number of videos added, updated or dropped.
 * Returns 0, or -1 with *cause (the engine keeps its previous state).
 */
int engine_refresh(engine *e, int *changed, char **cause);

#endif
