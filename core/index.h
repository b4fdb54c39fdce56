/*
 * index — the on-disk index: videos, models, per-(video, model) tensors,
 * per-frame timestamps and thumbnails, in one SQLite database.  The only
 * file that includes sqlite3.h.
 *
 * Guarantees:
 *  - One video is one transaction.  index_put_video writes the video's row,
 *    its frames and its tensors for every model together; a reader sees the
 *    old video or the new one, never a mix, and a writer killed at any
 *    moment loses at most the video in flight (WAL, synchronous=FULL: a
 *    commit is on disk before index_put_video returns, so this holds for a
 *    power cut too).
 *  - Paths are stored as their bytes (BLOB): invalid UTF-8, newlines and
 *    escape sequences come back exactly as they went in.
 *  - The schema carries a version (PRAGMA user_version) and an application
 *    id; an older database is migrated when opened for writing, a newer one
 *    or a foreign file is refused with a message and left untouched.
 *
 * Threads: one index_db per thread.  Several processes and handles may read
 * while one writes (WAL); writes from two handles are serialised by SQLite
 * (busy timeout 10 s), and index_lock_writer keeps two indexers apart.
 *
 * Errors: every function that can fail returns -1 (or NULL) and fills
 * *cause with a message that starts with the database's path, e.g.
 * "/home/a/.local/share/clipgrep/index.db: database is locked by another
 * process".
 */
#ifndef CLIPGREP_INDEX_H
#define CLIPGREP_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

/* The schema version this clipgrep writes (PRAGMA user_version). */
#define INDEX_SCHEMA_VERSION 6

/* index_open flags. */
#define INDEX_READONLY 1u /* never write; works on read-only files and media */
#define INDEX_CREATE 2u   /* create the file and its parent directories if missing */

/* Per-video tensor element types (video_tensors.dtype). */
#define INDEX_DTYPE_F32 0 /* IEEE float32, little-endian */
#define INDEX_DTYPE_F16 1 /* reserved: IEEE float16, half the bytes (future: this
                             version refuses such a blob by name, never misreads it) */

typedef enum {
	INDEX_OK = 0,      /* all frames decoded and encoded */
	INDEX_PARTIAL = 1, /* indexed from the frames that could be decoded */
	INDEX_ERROR = 2    /* not indexed: error says why; no tensors */
} index_status;

/* "ok", "partial", "error" (or "?"). */
const char *index_status_name(index_status s);

typedef struct index_db index_db;

/*
 * Open (or with INDEX_CREATE create) the index at path.  Refuses, with a
 * cause and without changing the file:
 *   "<path> is not a clipgrep index: file is not a database"
 *   "<path> is not a clipgrep index: it belongs to another program"
 *   "<path> was written by a newer clipgrep (schema 3 > 1)"
 *   "<path>: cannot write: read-only file or file system" (when writing;
 *   also "directory D is read-only", "<path>-shm is read-only")
 *   "<path>: no such index" (without INDEX_CREATE)
 * Creating makes missing parent directories with mode 0700 (the index
 * lists the user's files).  A database in a directory we cannot write
 * opens with INDEX_READONLY as immutable (no locks: nobody can be writing
 * it).  Free with index_close.
 */
index_db *index_open(const char *path, unsigned flags, char **cause);
/*
 * Close; NULL is a no-op.  A writable handle first checkpoints the WAL
 * (passively: it never waits for readers) so that a later read-only open
 * finds everything in the main file.
 */
void index_close(index_db *ix);
/* The path given to index_open (owned by ix). */
const char *index_path(const index_db *ix);

/*
 * Take the indexer's lock, a flock(2) on "<path>.lock" (the file stays;
 * only the flock counts) that also records our pid and host.  One indexer per database: with wait == 0 another holder makes
 * this fail at once with "another clipgrep is indexing <path> (pid N)"; with
 * wait != 0 it blocks until the holder is done.  The lock is released by
 * index_close or when the process dies (no stale locks).  Readers need no
 * lock; index_put_video does not require it (SQLite serialises writes),
 * the lock only keeps two indexers from doing the same work twice.
 */
int index_lock_writer(index_db *ix, int wait, char **cause);

/* ---- models ---------------------------------------------------------- */

typedef struct {
	uint8_t hash[HASH_SIZE]; /* hash_file of the model file */
	const char *name;              /* human-readable, "" when none */
	const char *architecture;      /* "clip", "ea", "tcmgc" */
	const char *config_json;       /* the model's configuration as JSON, "{}" when none */
	const char *path;              /* the model file, absolute; NULL: not known */
	const char *precision;         /* the towers' precision its vectors are made in,
	                                  "fp32" or "bf16" (linear_precision_name); NULL:
	                                  "fp32".  Stored on insert only */
} index_model_info;

/*
 * The id (> 0) of the model with info->hash, inserting it if absent (the
 * other fields are stored on insert only, except path: a non-NULL path
 * replaces the stored one, so the index remembers where its model file
 * was last seen and search can find it again).  -1 on error.
 */
int64_t index_model_id(index_db *ix, const index_model_info *info, char **cause);
/* The id of the model with this hash; 0 when absent; -1 on error. */
int64_t index_find_model(index_db *ix, const uint8_t hash[HASH_SIZE], char **cause);

/*
 * Precision provenance: the precision ("fp32", "bf16") of the tower that
 * made model_id's stored vectors.  One per model, so that no index mixes
 * vectors of both (a bf16 video vector is within about 1e-3 of its fp32
 * one: close, but a ranking should not depend on which run stored which
 * video).  Rows from before schema 3 are fp32.  0 and out filled, -1 on
 * error.
 */
int index_model_precision(index_db *ix, int64_t model_id, char out[8], char **cause);
/*
 * Record precision for model_id; with drop_tensors, first delete every
 * stored tensor of the model (its videos then count as not yet encoded for
 * it, and the indexer encodes them again), in one transaction.  The caller
 * checks that the model has no tensors of another precision left
 * otherwise.  0 or -1.
 */
int index_set_model_precision(index_db *ix, int64_t model_id, const char *precision,
    int drop_tensors, char **cause);

/* ---- writing videos -------------------------------------------------- */

/* One sampled frame.  In index_put_video the pointers are borrowed. */
typedef struct {
	double time;            /* seconds from the file's start (mpv --start=) */
	const uint8_t *thumb;   /* [thumb_size] JPEG or PNG bytes; NULL: none */
	size_t thumb_size;
	int thumb_width, thumb_height; /* 0 .. INDEX_THUMB_MAX */
} index_frame;
/* The largest thumbnail side stored or read back; a larger one is corrupt. */
#define INDEX_THUMB_MAX 65535

/*
 * One named per-video tensor of one model.  The layout is the head's
 * business; the index stores count float32 values, e.g. kind "frames" is
 * the frame embeddings [F, D] and kind "cache" the head's per-video cache.
 */
typedef struct {
	int64_t model_id;  /* from index_model_id */
	const char *kind;  /* non-empty name, unique per (video, model) */
	const float *data; /* [count] */
	int64_t count;     /* >= 1 */
} index_tensor;

/*
 * One segment of a long video (schema 3): [start, end) in seconds, sampled
 * as frames [frame0, frame0 + frames) of the video's stored frames.  A
 * video's per-model tensors hold its segments' records stacked, segment
 * by segment (kind "frames" [S * F, D], each cache [S * floats]).  A video
 * with no segment rows (every video of an older index, every short clip)
 * is one segment over all its frames.
 */
typedef struct {
	double start, end;
	int frame0, frames;
} index_segment;

/* Everything about one video, written by index_put_video in one go. */
typedef struct {
	const char *path;              /* as the walk found it; stored as bytes */
	int64_t size;                  /* bytes */
	int64_t mtime_ns;              /* st_mtim in ns since the epoch */
	uint8_t hash[HASH_SIZE]; /* hash_file */
	double duration;               /* seconds; 0 when unknown */
	index_status status;
	const char *error;             /* why PARTIAL or ERROR; NULL for OK */
	int64_t indexed_at_ns;         /* wall clock; 0: now */
	int n_frames;
	const index_frame *frames;     /* [n_frames] in time order */
	int n_tensors;
	const index_tensor *tensors;   /* [n_tensors]: every model's kinds */
	double window;                 /* seconds of the segment window it was cut with,
	                                  0: whole file (provenance: a new window re-cuts) */
	int shots;                     /* boundaries were snapped to shot changes */
	int sampling;                  /* VIDEO_SAMPLING_*: how its frames were chosen */
	int n_segments;                /* 0 or 1: the whole video, no segment rows */
	const index_segment *segments; /* [n_segments] in time order */
} index_video;

/*
 * Store v in one transaction, replacing everything stored before for
 * v->path (its frames and its tensors for every model; the id stays).
 * Returns the video's id (> 0), or -1 with a cause and nothing changed.
 */
int64_t index_put_video(index_db *ix, const index_video *v, char **cause);

/*
 * Add or replace tensors of an existing video (a model added to an index
 * whose videos have not changed), in one transaction.  0 or -1.
 */
int index_put_tensors(index_db *ix, int64_t video_id, int n, const index_tensor *tensors,
    char **cause);

/*
 * The file of video id moved to new_path (found by index_lookup_hash, the
 * old path gone): rename it, keeping frames and tensors.  A row already at
 * new_path (a file deleted since it was indexed) is replaced.  0 or -1.
 */
int index_move_video(index_db *ix, int64_t id, const char *new_path, int64_t mtime_ns,
    char **cause);
/*
 * A copy of the file of video src_id appeared at new_path: a new video
 * with the same frames and tensors.  Returns the new id, or -1.
 */
int64_t index_copy_video(index_db *ix, int64_t src_id, const char *new_path,
    int64_t mtime_ns, char **cause);
/* Delete a video with its frames and tensors (absent: no error).  0 or -1. */
int index_delete_video(index_db *ix, int64_t id, char **cause);

/*
 * Batches: between index_batch_begin and index_batch_commit every write
 * above joins one transaction (each still all-or-nothing on its own
 * failure).  For bulk work such as dropping many deleted files; a crash
 * loses the whole batch.  index_batch_abort rolls it back; 0 or -1.
 */
int index_batch_begin(index_db *ix, char **cause);
int index_batch_commit(index_db *ix, char **cause);
void index_batch_abort(index_db *ix);

/* ---- reading videos -------------------------------------------------- */

typedef struct {
	int64_t id;
	char *path;            /* NUL-terminated bytes */
	int64_t size, mtime_ns;
	uint8_t hash[HASH_SIZE];
	double duration;
	int frames;            /* stored frames */
	index_status status;
	char *error;           /* NULL when none */
	int64_t indexed_at_ns;
	double window;         /* segment window it was cut with (0 before schema 3) */
	int shots;             /* boundaries snapped to shot changes */
	int sampling;          /* VIDEO_SAMPLING_* (0, exact, before schema 5) */
} index_video_row;

/* Free a row's strings (rows filled by index_lookup_*); NULL-safe. */
void index_row_clear(index_video_row *row);

/* 0 and *out filled (clear it with index_row_clear), 1 not found, -1 error. */
int index_lookup_path(index_db *ix, const char *path, index_video_row *out, char **cause);
int index_lookup_id(index_db *ix, int64_t id, index_video_row *out, char **cause);
/*
 * A video with this content hash that was indexed (status OK or PARTIAL;
 * the lowest id when several), for recognising a moved or copied file.
 * 0 found, 1 none, -1 error.
 */
int index_lookup_hash(index_db *ix, const uint8_t hash[HASH_SIZE],
    index_video_row *out, char **cause);

/*
 * Call fn for every video whose path starts with prefix (all when NULL),
 * in path byte order.  The row is valid during the call only.  fn returns
 * 0 to go on; anything else stops the listing and is returned.  fn must not
 * write to ix (collect ids, then delete).  -1 on error.
 */
typedef int (*index_video_fn)(void *arg, const index_video_row *row);
int index_list_videos(index_db *ix, const char *prefix, index_video_fn fn, void *arg,
    char **cause);

/*
 * Padding provenance: fn(arg, id) for each video with fewer than frames
 * stored frames whose tensors of model_id were written under schema 1,
 * which padded a short clip with zero embedding rows rather than zero
 * images run through the tower (MODELS.md §1.4), in id order.  Writing a
 * video's tensors for a model (index_put_video, index_put_tensors) marks
 * them as padded as upstream.  fn returns nonzero to stop (that value is
 * returned); fn must not write to ix.  -1 on error.
 */
int index_list_zero_padded(index_db *ix, int64_t model_id, int frames,
    int (*fn)(void *arg, int64_t video_id), void *arg, char **cause);

/*
 * A video's segments: 0 and *out (free()) with *n >= 1 of them; a video
 * with no segment rows (a short clip, an older index) gets one segment
 * [0, duration) over all its frames.  1 when there is no such video, -1 on
 * error.
 */
int index_get_segments(index_db *ix, int64_t video_id, index_segment **out, int *n,
    char **cause);

/* A video's frames in time order; thumbnails only when with_thumbs. */
typedef struct {
	int n;
	index_frame *frames; /* [n]; thumb bytes owned by this struct */
} index_frames;
index_frames *index_get_frames(index_db *ix, int64_t video_id, int with_thumbs, char **cause);
/*
 * The frames first .. first + count - 1 (stored frame numbers, as a
 * segment's frame0 and frames give them) and nothing else: a segment of a
 * two-hour video reads its own rows, not the video's thousands.
 */
index_frames *index_get_frame_range(index_db *ix, int64_t video_id, int first, int count,
    int with_thumbs, char **cause);
void index_frames_free(index_frames *f);

/*
 * One tensor: 0 and *out (free()) with *count floats, 1 when the video has
 * no tensor of that model and kind, 2 when its stored row is damaged (an
 * unknown dtype, a count out of range or not matching the blob: *cause
 * names the video and the tensor; re-indexing the video repairs it), -1 on
 * error.
 */
int index_get_tensor(index_db *ix, int64_t video_id, int64_t model_id, const char *kind,
    float **out, int64_t *count, char **cause);

/*
 * Everything search needs at start-up, loaded in one read transaction: the
 * videos holding tensor (model_id, kind), by ascending id.  count is the
 * expected floats per video (0: whatever the first sound row has).  A
 * damaged row (what index_get_tensor returns 2 for, or another count) does
 * not fail the load: the video is left out of ids and listed in
 * damaged_ids, so one bad row never takes the library down.  NULL with a
 * cause only for SQL errors and memory.  Free with index_tensor_set_free.
 */
typedef struct {
	int64_t n;     /* videos */
	int64_t count; /* floats per video */
	int64_t *ids;  /* [n] */
	char **paths;  /* [n], NUL-terminated, in one block */
	float *data;   /* [n, count] */
	int64_t n_damaged;    /* videos skipped because their row is damaged */
	int64_t *damaged_ids; /* [n_damaged] ascending */
	int *segment;         /* [n] the record's segment within its video (0 in
	                         index_load_tensors, one record per video) */
} index_tensor_set;
index_tensor_set *index_load_tensors(index_db *ix, int64_t model_id, const char *kind,
    int64_t count, char **cause);
/*
 * The same, one record per segment (count >= 1 floats each: a video whose
 * row holds k * count floats gives k records, ids repeated, segment 0 ..
 * k-1; paths shared): what search loads.  n counts records.
 */
index_tensor_set *index_load_segment_tensors(index_db *ix, int64_t model_id, const char *kind,
    int64_t count, char **cause);
void index_tensor_set_free(index_tensor_set *s);

/* ---- clipgrep info ----------------------------------------------------- */

typedef struct {
	int64_t id;
	uint8_t hash[HASH_SIZE];
	char *name, *architecture;
	char *path;           /* the model file when last indexed with; NULL: not known */
	int64_t added_at_ns;
	int64_t videos;       /* videos with at least one tensor of this model */
	int64_t tensor_bytes; /* bytes of those tensors */
	char precision[8];    /* index_model_precision's */
} index_model_stats;

typedef struct {
	int schema_version;
	int64_t videos;
	int64_t by_status[3];  /* [index_status] */
	int64_t frames;
	int64_t segments;      /* of the indexed videos (status ok or partial): what search
	                          ranks; a clip is one, a long video one per window */
	int64_t thumb_bytes;
	int64_t db_bytes;      /* the main file */
	int64_t wal_bytes;     /* the write-ahead log, 0 when none */
	int n_models;
	index_model_stats *models; /* [n_models], by id */
} index_stats;

int index_get_stats(index_db *ix, index_stats *out, char **cause);
void index_stats_clear(index_stats *s);

/*
 * A full consistency check for `clipgrep info` and the tests: SQLite's
 * integrity_check and foreign_key_check, and every video's frame count
 * against its stored frames.  0 when all is well, else -1 with the first
 * problems in *cause.  Damaged tensor rows, which the program repairs by
 * re-indexing, are index_list_damaged's.
 */
int index_check(index_db *ix, char **cause);

/*
 * One damaged stored record: a video (not of status error) whose tensor
 * row of model_id has an unknown dtype, a count out of range or not
 * matching its blob's length, that lacks a kind the model stores for
 * its other videos, or (a video cut into segments) whose count does not
 * divide into its segments.  Valid during the callback only.
 */
typedef struct {
	int64_t video_id;
	const char *path;   /* the video's path (raw bytes) */
	int64_t model_id;
	const char *reason; /* "tensor \"cache.ea\" is corrupt (148 floats in 10 bytes)" */
} index_damage;
typedef int (*index_damage_fn)(void *arg, const index_damage *d);

/*
 * Call fn once per damaged (video, model), by ascending video id then
 * model id.  It reads the rows' headers and blob lengths, not the blobs
 * (cheap: no overflow page is read).  fn returns 0 to go on; anything else
 * stops and is returned.  0, or -1 on error.
 */
int index_list_damaged(index_db *ix, index_damage_fn fn, void *arg, char **cause);

/* ---- derived files (the search cache) ---------------------------------- */

/*
 * A read snapshot: every read until index_snapshot_end sees the index as
 * one moment (a deferred transaction; nested inside an open one, a no-op).
 * 0, or -1 with *cause.
 */
int index_snapshot_begin(index_db *ix, char **cause);
void index_snapshot_end(index_db *ix);

/*
 * The change stamp: a random value that every write to the videos,
 * tensors, segments or models replaces (schema 6), so that a file derived
 * from the index at stamp s is current exactly while the stamp reads s.
 * 0 and *stamp; 1 for an index older than schema 6 (read-only: no stamp,
 * so nothing can be known current); -1 with *cause.
 */
int index_change_stamp(index_db *ix, int64_t *stamp, char **cause);

/*
 * Per video, the same for its tensors and segments alone: every write to
 * them gives the video a new random tensor stamp (schema 6; the upgrade
 * gives one to every video with tensors; a video without has none, 0).  *ids and *stamps (free() both) hold
 * the *n videos that have one, by ascending id.  0; 1 for an index older
 * than schema 6; -1 with *cause.
 */
int index_tensor_stamps(index_db *ix, int64_t **ids, int64_t **stamps, size_t *n,
    char **cause);

/* ---- clipgrep merge ---------------------------------------------------- */

/*
 * Merge the shard indexes into out_path (created if missing; an existing
 * index is merged into).  Models are matched by content hash.  A path held
 * by several sources keeps the copy with the newest indexed_at (on a tie,
 * the one already in out_path, then the earlier shard).  Each shard is one
 * transaction and merging is idempotent, so an interrupted merge is simply
 * run again.  Takes out_path's writer lock (without waiting).  0 or -1;
 * errors name the shard.
 */
int index_merge(const char *out_path, const char *const *shard_paths, int n, char **cause);

#endif
