/*
 * index — the SQLite index.  See index.h for the contract; this comment is
 * the storage design.
 *
 * Schema (version 4, PRAGMA user_version = 4, PRAGMA application_id =
 * INDEX_APP_ID):
 *
 *   videos(id, path BLOB UNIQUE, size, mtime_ns, hash BLOB[16], duration,
 *          frames, status, error, indexed_at, seg_window, seg_shots)
 *          + index on hash; seg_window/seg_shots: how the video was cut
 *          into segments (version 4; 0, 0: whole, as every earlier video)
 *   segments(video_id, idx, start, end, frame0, frames) WITHOUT ROWID: the
 *          segments of a video cut into more than one (version 4); its
 *          frames rows frame0 .. frame0 + frames - 1 and the segment's
 *          slice of every tensor, which holds all segments stacked
 *   models(id, hash BLOB[16] UNIQUE, name, architecture, config, added_at,
 *          path BLOB, precision TEXT)  path: the model file last indexed
 *          with (version 2), so that search defaults to the index's own
 *          models; precision: "fp32" or "bf16", the towers' precision its
 *          vectors were made in (version 3; provenance, like the padding
 *          rule: an index never mixes both for one model)
 *   frames(video_id, idx, time, thumb_width, thumb_height, thumb BLOB)
 *          WITHOUT ROWID, primary key (video_id, idx): a video's frames are
 *          stored together
 *   video_tensors(id, video_id, model_id, kind, dtype, count, data BLOB)
 *          UNIQUE (model_id, kind, video_id)            + index on video_id
 *   tensors_zero_padded(video_id, model_id) WITHOUT ROWID: provenance, the
 *          (video, model) pairs whose tensors were stored under schema 1's
 *          padding rule (a short clip's missing frames as zero embedding
 *          rows); pairs stored since pad as upstream (zero images through
 *          the tower, MODELS.md §1.4).  A table, not a column of
 *          video_tensors, so that listing it never reads the blobs.
 *
 * Paths are BLOBs so SQLite never reinterprets them; a CHECK keeps TEXT out
 * (a TEXT and a BLOB never compare equal).  Blobs sit in the last column so
 * that reading the other columns never touches their overflow pages.
 * video_tensors is a rowid table, not WITHOUT ROWID: 24 KB blobs make
 * WITHOUT ROWID (index-b-tree cells, ~1 KB local payload on 4 KB pages)
 * about twice as slow to scan.
 *
 * Durability: WAL with synchronous=FULL.  The WAL is fsynced at every
 * commit, so a committed video survives a power cut, not just a killed
 * process; the cost, one fsync per video, is small next to decoding and
 * encoding that video.  (NORMAL would survive a killed process as well but
 * could lose the last videos, and only those, on power loss.)
 *
 * Search start-up reads every video's tensor of one (model, kind): a range
 * scan of the (model_id, kind, video_id) index, each blob copied into one
 * array backed by transparent huge pages.  For 10k videos of [12, 512]
 * floats (245 MB) faulting the array in 4 KB pages cost more than the
 * reading; with huge pages the load takes about 120 ms on a 2-core VM.
 * SQLite's mmap (PRAGMA mmap_size) measured no faster, and turns an I/O
 * error into SIGBUS, so it stays off.
 *
 * Why one file of ~2k lines: this is the only file that includes sqlite3.h
 * (STYLE.md: one dependency, one file), so every statement on the index --
 * opening and migrating, the writer lock, writing and reading videos,
 * info, merge and the consistency check -- lives here, in that order, each
 * section behind the same statement and transaction helpers.  Content
 * hashing, which needs no SQL, is in core/hash.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "index.c stores float32 blobs in host order and assumes a little-endian host"
#endif

/* PRAGMA application_id: "CGIX". */
#define INDEX_APP_ID 0x43474958

#define INDEX_BUSY_MS 10000
#define INDEX_MIB (1024 * 1024)

/*
 * Migrations: index_migrations[v] takes a database from schema v to v + 1,
 * run in one transaction with the user_version bump.  Append only: a
 * released entry never changes.
 */
static const char *const index_migrations[INDEX_SCHEMA_VERSION] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE videos ("
	"  id INTEGER PRIMARY KEY,"
	"  path BLOB NOT NULL UNIQUE CHECK (typeof(path) = 'blob' AND length(path) > 0),"
	"  size INTEGER NOT NULL,"
	"  mtime_ns INTEGER NOT NULL,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 16),"
	"  duration REAL NOT NULL,"
	"  frames INTEGER NOT NULL CHECK (frames >= 0),"
	"  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 2),"
	"  error TEXT,"
	"  indexed_at INTEGER NOT NULL"
	");"
	"CREATE INDEX videos_hash ON videos(hash);"
	"CREATE TABLE models ("
	"  id INTEGER PRIMARY KEY,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 16),"
	"  name TEXT NOT NULL,"
	"  architecture TEXT NOT NULL,"
	"  config TEXT NOT NULL,"
	"  added_at INTEGER NOT NULL"
	");"
	"CREATE TABLE frames ("
	"  video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  time REAL NOT NULL,"
	"  thumb_width INTEGER NOT NULL,"
	"  thumb_height INTEGER NOT NULL,"
	"  thumb BLOB,"
	"  PRIMARY KEY (video_id, idx)"
	") WITHOUT ROWID;"
	"CREATE TABLE video_tensors ("
	"  id INTEGER PRIMARY KEY,"
	"  video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,"
	"  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
	"  kind TEXT NOT NULL CHECK (length(kind) > 0),"
	"  dtype INTEGER NOT NULL,"
	"  count INTEGER NOT NULL CHECK (count > 0),"
	"  data BLOB NOT NULL,"
	"  UNIQUE (model_id, kind, video_id)"
	");"
	"CREATE INDEX video_tensors_video ON video_tensors(video_id);",
	/*
	 * 1 -> 2: where each model file is (a reader of version 1 sees NULL),
	 * and padding provenance: every pair stored so far used the zero-row
	 * rule for short clips.
	 */
	"ALTER TABLE models ADD COLUMN path BLOB;"
	"CREATE TABLE tensors_zero_padded ("
	"  video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,"
	"  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
	"  PRIMARY KEY (video_id, model_id)"
	") WITHOUT ROWID;"
	"INSERT INTO tensors_zero_padded(video_id, model_id)"
	"  SELECT DISTINCT video_id, model_id FROM video_tensors;",
	/*
	 * 2 -> 3 (bf16 towers, issue 13): the precision each model's vectors
	 * were made in; everything stored so far was fp32.  A column, not part
	 * of the model's identity (its hash): a model has one set of vectors
	 * per video, and search finds them whatever precision made them.
	 */
	("ALTER TABLE models ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32'"
	"  CHECK (precision IN ('fp32', 'bf16'));"),
	/*
	 * 3 -> 4, segments (long videos): the window and shot rule each video
	 * was cut with (0, 0: whole files, what every earlier video is), and
	 * the segments of videos cut into more than one.  A video without
	 * segment rows is one segment over all its frames.
	 */
	"ALTER TABLE videos ADD COLUMN seg_window REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE videos ADD COLUMN seg_shots INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE segments ("
	"  video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  start REAL NOT NULL,"
	"  end REAL NOT NULL,"
	"  frame0 INTEGER NOT NULL CHECK (frame0 >= 0),"
	"  frames INTEGER NOT NULL CHECK (frames >= 1),"
	"  PRIMARY KEY (video_id, idx)"
	") WITHOUT ROWID;",
	/*
	 * 4 -> 5, keyframe sampling: how each video's frames were chosen
	 * (0: exact, every earlier video; 1: nearest keyframes).  Provenance like
	 * the segment window: a video indexed the other way is decoded anew.
	 */
	"ALTER TABLE videos ADD COLUMN seg_sampling INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 5 -> 6, the change stamp (issue 12, the search cache file): a random
	 * value that every write to what search loads replaces, so that a file
	 * derived from the index at stamp s is known current while the stamp
	 * still reads s.  Random rather than a counter: an index restored from
	 * a backup and written again must not come back to a stamp some cache
	 * file already carries.  IF NOT EXISTS: a file an older clipgrep wrote
	 * after dropping back a schema (tests do) may hold some of these.
	 */
	"CREATE TABLE IF NOT EXISTS change_stamp ("
	"  id INTEGER PRIMARY KEY CHECK (id = 0),"
	"  stamp INTEGER NOT NULL"
	");"
	"INSERT OR REPLACE INTO change_stamp(id, stamp) VALUES (0, random());"
	/*
	 * And per video, the same for its tensors and segments alone, so that
	 * a stale cache file can keep the videos whose stamp it still has and
	 * read only the others (a video without tensors has no row: 0).
	 * A plain INSERT and an UPDATE, not INSERT OR REPLACE: inside a trigger
	 * the outer statement's conflict handling (the indexer's upsert) would
	 * override the REPLACE.
	 */
	"CREATE TABLE IF NOT EXISTS tensor_stamps ("
	"  video_id INTEGER PRIMARY KEY,"
	"  stamp INTEGER NOT NULL"
	");"
	/* Every video stored so far gets one now: a stamp is never shared by
	 * two indexes (a file made for another index at this path keeps
	 * nothing). */
	"INSERT OR IGNORE INTO tensor_stamps(video_id, stamp)"
	"  SELECT video_id, random() FROM (SELECT DISTINCT video_id FROM video_tensors);"
	"CREATE TRIGGER IF NOT EXISTS tensor_stamp_video_tensors_insert AFTER INSERT ON video_tensors"
	"  BEGIN INSERT INTO tensor_stamps(video_id, stamp) SELECT NEW.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = NEW.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = NEW.video_id; END;"
	"CREATE TRIGGER IF NOT EXISTS tensor_stamp_video_tensors_update AFTER UPDATE ON video_tensors"
	"  BEGIN INSERT INTO tensor_stamps(video_id, stamp) SELECT OLD.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = OLD.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = OLD.video_id;"
	"  INSERT INTO tensor_stamps(video_id, stamp) SELECT NEW.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = NEW.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = NEW.video_id; END;"
	"CREATE TRIGGER IF NOT EXISTS tensor_stamp_video_tensors_delete AFTER DELETE ON video_tensors"
	"  BEGIN INSERT INTO tensor_stamps(video_id, stamp) SELECT OLD.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = OLD.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = OLD.video_id; END;"
	"CREATE TRIGGER IF NOT EXISTS tensor_stamp_segments_insert AFTER INSERT ON segments"
	"  BEGIN INSERT INTO tensor_stamps(video_id, stamp) SELECT NEW.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = NEW.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = NEW.video_id; END;"
	"CREATE TRIGGER IF NOT EXISTS tensor_stamp_segments_update AFTER UPDATE ON segments"
	"  BEGIN INSERT INTO tensor_stamps(video_id, stamp) SELECT OLD.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = OLD.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = OLD.video_id;"
	"  INSERT INTO tensor_stamps(video_id, stamp) SELECT NEW.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = NEW.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = NEW.video_id; END;"
	"CREATE TRIGGER IF NOT EXISTS tensor_stamp_segments_delete AFTER DELETE ON segments"
	"  BEGIN INSERT INTO tensor_stamps(video_id, stamp) SELECT OLD.video_id, 0"
	"   WHERE NOT EXISTS (SELECT 1 FROM tensor_stamps WHERE video_id = OLD.video_id);"
	"  UPDATE tensor_stamps SET stamp = random() WHERE video_id = OLD.video_id; END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_videos_insert AFTER INSERT ON videos"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_videos_update AFTER UPDATE ON videos"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_videos_delete AFTER DELETE ON videos"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_video_tensors_insert AFTER INSERT ON video_tensors"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_video_tensors_update AFTER UPDATE ON video_tensors"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_video_tensors_delete AFTER DELETE ON video_tensors"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_segments_insert AFTER INSERT ON segments"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_segments_update AFTER UPDATE ON segments"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_segments_delete AFTER DELETE ON segments"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_models_insert AFTER INSERT ON models"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_models_update AFTER UPDATE ON models"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;"
	"CREATE TRIGGER IF NOT EXISTS change_stamp_models_delete AFTER DELETE ON models"
	"  BEGIN UPDATE change_stamp SET stamp = random(); END;",
};

/* The first schema with models.precision (read-only handles on older ones read "fp32"). */
#define INDEX_SCHEMA_PRECISION 3

/* The first schema with segments and videos.seg_window/seg_shots. */
#define INDEX_SCHEMA_SEGMENTS 4

/* The first schema with videos.seg_sampling. */
#define INDEX_SCHEMA_SAMPLING 5

/* The first schema with the change stamp. */
#define INDEX_SCHEMA_STAMP 6

/*
 * The oldest schema a read-only handle reads as it is (it cannot migrate):
 * every later migration only adds what such a reader does without.
 */
#define INDEX_SCHEMA_READABLE 1

/* Prepared statements, made on first use and kept until index_close. */
enum {
	ST_VIDEO_UPSERT,
	ST_VIDEO_ID_BY_PATH,
	ST_VIDEO_EXISTS,
	ST_FRAMES_DELETE,
	ST_TENSORS_DELETE,
	ST_VIDEO_DELETE,
	ST_VIDEO_DELETE_OTHER,
	ST_FRAME_INSERT,
	ST_TENSOR_PUT,
	ST_VIDEO_MOVE,
	ST_VIDEO_COPY,
	ST_FRAMES_COPY,
	ST_TENSORS_COPY,
	ST_PADDING_COPY,
	ST_PADDING_DELETE,
	ST_PADDING_CLEAR,
	ST_PADDING_LIST,
	ST_ROW_BY_PATH,
	ST_ROW_BY_ID,
	ST_ROW_BY_HASH,
	ST_LIST,
	ST_FRAMES_GET,
	ST_TENSOR_GET,
	ST_MODEL_BY_HASH,
	ST_MODEL_SET_PATH,
	ST_MODEL_INSERT,
	ST_MODEL_PRECISION,
	ST_MODEL_SET_PRECISION,
	ST_MODEL_DROP_TENSORS,
	ST_LOAD_COUNT,
	ST_LOAD_ROWS,
	ST_SEGMENTS_DELETE,
	ST_SEGMENT_INSERT,
	ST_SEGMENTS_COPY,
	ST_SEGMENTS_GET,
	ST_COUNT
};

/* The last two are schema 3's: index_stmt reads them as 0 from an older file. */
#define INDEX_ROW_COLUMNS \
	"id, path, size, mtime_ns, hash, duration, frames, status, error, indexed_at," \
	" seg_window, seg_shots, seg_sampling"
#define INDEX_SEG_COLUMNS " seg_window, seg_shots"
#define INDEX_SEG_COLUMNS_OLD " 0.0, 0"
#define INDEX_SAMPLING_COLUMN ", seg_sampling"
#define INDEX_SAMPLING_COLUMN_OLD ", 0"

static const char *const index_sql[ST_COUNT] = {
	[ST_VIDEO_UPSERT] =
	    "INSERT INTO videos(path, size, mtime_ns, hash, duration, frames, status,"
	    " error, indexed_at, seg_window, seg_shots, seg_sampling)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
	    " ON CONFLICT(path) DO UPDATE SET size = excluded.size,"
	    " mtime_ns = excluded.mtime_ns, hash = excluded.hash,"
	    " duration = excluded.duration, frames = excluded.frames,"
	    " status = excluded.status, error = excluded.error,"
	    " indexed_at = excluded.indexed_at, seg_window = excluded.seg_window,"
	    " seg_shots = excluded.seg_shots, seg_sampling = excluded.seg_sampling",
	[ST_VIDEO_ID_BY_PATH] = "SELECT id FROM videos WHERE path = ?1",
	[ST_VIDEO_EXISTS] = "SELECT 1 FROM videos WHERE id = ?1",
	[ST_FRAMES_DELETE] = "DELETE FROM frames WHERE video_id = ?1",
	[ST_TENSORS_DELETE] = "DELETE FROM video_tensors WHERE video_id = ?1",
	[ST_VIDEO_DELETE] = "DELETE FROM videos WHERE id = ?1",
	[ST_VIDEO_DELETE_OTHER] = "DELETE FROM videos WHERE path = ?1 AND id <> ?2",
	[ST_FRAME_INSERT] =
	    "INSERT INTO frames(video_id, idx, time, thumb_width, thumb_height, thumb)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_TENSOR_PUT] =
	    "INSERT INTO video_tensors(video_id, model_id, kind, dtype, count, data)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT(model_id, kind, video_id) DO UPDATE SET"
	    " dtype = excluded.dtype, count = excluded.count, data = excluded.data",
	[ST_VIDEO_MOVE] = "UPDATE videos SET path = ?2, mtime_ns = ?3 WHERE id = ?1",
	[ST_VIDEO_COPY] =
	    "INSERT INTO videos(path, size, mtime_ns, hash, duration, frames, status,"
	    " error, indexed_at, seg_window, seg_shots, seg_sampling) SELECT ?2, size, ?3, hash,"
	    " duration, frames, status, error, ?4, seg_window, seg_shots, seg_sampling"
	    " FROM videos WHERE id = ?1",
	[ST_FRAMES_COPY] =
	    "INSERT INTO frames(video_id, idx, time, thumb_width, thumb_height, thumb)"
	    " SELECT ?2, idx, time, thumb_width, thumb_height, thumb FROM frames"
	    " WHERE video_id = ?1",
	[ST_TENSORS_COPY] =
	    "INSERT INTO video_tensors(video_id, model_id, kind, dtype, count, data)"
	    " SELECT ?2, model_id, kind, dtype, count, data FROM video_tensors"
	    " WHERE video_id = ?1 ORDER BY id",
	[ST_PADDING_COPY] =
	    "INSERT INTO tensors_zero_padded(video_id, model_id)"
	    " SELECT ?2, model_id FROM tensors_zero_padded WHERE video_id = ?1",
	[ST_PADDING_DELETE] = "DELETE FROM tensors_zero_padded WHERE video_id = ?1",
	[ST_PADDING_CLEAR] =
	    "DELETE FROM tensors_zero_padded WHERE video_id = ?1 AND model_id = ?2",
	[ST_PADDING_LIST] =
	    "SELECT p.video_id FROM tensors_zero_padded p JOIN videos v ON v.id = p.video_id"
	    " WHERE p.model_id = ?1 AND v.frames < ?2 ORDER BY p.video_id",
	[ST_ROW_BY_PATH] = "SELECT " INDEX_ROW_COLUMNS " FROM videos WHERE path = ?1",
	[ST_ROW_BY_ID] = "SELECT " INDEX_ROW_COLUMNS " FROM videos WHERE id = ?1",
	[ST_ROW_BY_HASH] =
	    "SELECT " INDEX_ROW_COLUMNS " FROM videos WHERE hash = ?1 AND status <> 2"
	    " ORDER BY id LIMIT 1",
	[ST_LIST] =
	    "SELECT " INDEX_ROW_COLUMNS " FROM videos"
	    " WHERE path >= ?1 AND (?2 IS NULL OR path < ?2) ORDER BY path",
	[ST_FRAMES_GET] =
	    "SELECT idx, time, thumb_width, thumb_height,"
	    " CASE WHEN ?2 THEN thumb END FROM frames"
	    " WHERE video_id = ?1 AND idx >= ?3 AND idx < ?4 ORDER BY idx",
	[ST_TENSOR_GET] =
	    "SELECT dtype, count, data FROM video_tensors"
	    " WHERE model_id = ?2 AND kind = ?3 AND video_id = ?1",
	[ST_MODEL_BY_HASH] = "SELECT id FROM models WHERE hash = ?1",
	[ST_MODEL_SET_PATH] = "UPDATE models SET path = ?2 WHERE id = ?1 AND path IS NOT ?2",
	[ST_MODEL_INSERT] =
	    "INSERT INTO models(hash, name, architecture, config, added_at, path, precision)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_MODEL_PRECISION] = "SELECT precision FROM models WHERE id = ?1",
	[ST_MODEL_SET_PRECISION] = "UPDATE models SET precision = ?2 WHERE id = ?1",
	[ST_MODEL_DROP_TENSORS] = "DELETE FROM video_tensors WHERE model_id = ?1",
	[ST_LOAD_COUNT] =
	    "SELECT count(*), sum(length(v.path)), sum(max(t.count, 0)) FROM video_tensors t"
	    " JOIN videos v ON v.id = t.video_id WHERE t.model_id = ?1 AND t.kind = ?2",
	[ST_LOAD_ROWS] =
	    "SELECT t.video_id, v.path, t.dtype, t.count, t.data FROM video_tensors t"
	    " JOIN videos v ON v.id = t.video_id WHERE t.model_id = ?1 AND t.kind = ?2"
	    " ORDER BY t.video_id",
	[ST_SEGMENTS_DELETE] = "DELETE FROM segments WHERE video_id = ?1",
	[ST_SEGMENT_INSERT] =
	    "INSERT INTO segments(video_id, idx, start, end, frame0, frames)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_SEGMENTS_COPY] =
	    "INSERT INTO segments(video_id, idx, start, end, frame0, frames)"
	    " SELECT ?2, idx, start, end, frame0, frames FROM segments WHERE video_id = ?1",
	[ST_SEGMENTS_GET] =
	    "SELECT idx, start, end, frame0, frames FROM segments WHERE video_id = ?1"
	    " ORDER BY idx",
};

struct index_db {
	sqlite3 *db;
	char *path;     /* as given, for messages */
	int readonly;
	int64_t version; /* the file's schema: < INDEX_SCHEMA_VERSION only when read-only */
	int lock_fd;    /* "<path>.lock" while we hold the writer lock, else -1 */
	int batch;      /* inside index_batch_begin */
	int snapshot;   /* inside a transaction of index_snapshot_begin's */
	sqlite3_stmt *st[ST_COUNT];
};

/* A transaction opened by index_tx_begin: a real one, or a savepoint in a batch. */
typedef enum { TX_NONE, TX_BEGIN, TX_SAVEPOINT } index_tx;

const char *index_status_name(index_status s)
{
	switch (s) {
	case INDEX_OK:
		return "ok";
	case INDEX_PARTIAL:
		return "partial";
	case INDEX_ERROR:
		return "error";
	}
	return "?";
}

const char *index_path(const index_db *ix)
{
	return ix->path;
}

/* ---- errors ------------------------------------------------------------ */

/*
 * "<db>: <what>: <sqlite message> (<errno text>)".  The errno text is what
 * tells "read-only file system" from "permission denied".
 */
static void index_sql_error(index_db *ix, char **cause, const char *what)
{
	int code = sqlite3_errcode(ix->db);
	int sys = sqlite3_system_errno(ix->db);
	const char *msg = sqlite3_errmsg(ix->db);
	char extra[128] = "";

	if (sys != 0 && ((code & 0xff) == SQLITE_CANTOPEN || (code & 0xff) == SQLITE_IOERR ||
	    (code & 0xff) == SQLITE_READONLY))
		snprintf(extra, sizeof extra, " (%s)", strerror(sys));
	if ((code & 0xff) == SQLITE_READONLY)
		util_set_cause(cause, "%s: %s%scannot write: read-only file or file system%s",
		    UTIL_NAME(ix->path), what != NULL ? what : "", what != NULL ? ": " : "", extra);
	else if ((code & 0xff) == SQLITE_BUSY)
		util_set_cause(cause, "%s: %s%sdatabase is locked by another process",
		    UTIL_NAME(ix->path), what != NULL ? what : "", what != NULL ? ": " : "");
	else if (what != NULL)
		util_set_cause(cause, "%s: %s: %s%s", UTIL_NAME(ix->path), what, msg, extra);
	else
		util_set_cause(cause, "%s: %s%s", UTIL_NAME(ix->path), msg, extra);
}

/* ---- statements and transactions ---------------------------------------- */

/* The prepared statement `which`, reset and unbound; NULL with a cause. */
static sqlite3_stmt *index_stmt(index_db *ix, int which, char **cause)
{
	sqlite3_stmt *st = ix->st[which];

	if (st == NULL) {
		const char *sql = index_sql[which], *seg = strstr(sql, INDEX_SEG_COLUMNS), *smp;
		char old[1024], older[1024];
		int rc;

		/* A read-only handle on an older file: no segment columns yet. */
		if (ix->version < INDEX_SCHEMA_SEGMENTS && seg != NULL && strlen(sql) < sizeof old) {
			snprintf(old, sizeof old, "%.*s%s%s", (int)(seg - sql), sql,
			    INDEX_SEG_COLUMNS_OLD, seg + strlen(INDEX_SEG_COLUMNS));
			sql = old;
		}
		smp = strstr(sql, INDEX_SAMPLING_COLUMN);
		if (ix->version < INDEX_SCHEMA_SAMPLING && smp != NULL &&
		    strlen(sql) < sizeof older) {
			snprintf(older, sizeof older, "%.*s%s%s", (int)(smp - sql), sql,
			    INDEX_SAMPLING_COLUMN_OLD, smp + strlen(INDEX_SAMPLING_COLUMN));
			sql = older;
		}
		rc = sqlite3_prepare_v3(ix->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK) {
			index_sql_error(ix, cause, "preparing a query");
			return NULL;
		}
		ix->st[which] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int index_exec(index_db *ix, const char *sql, const char *what, char **cause)
{
	if (sqlite3_exec(ix->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		index_sql_error(ix, cause, what);
		return -1;
	}
	return 0;
}

/* Step a statement that returns no rows, then reset it.  0 or -1. */
static int index_step_done(index_db *ix, sqlite3_stmt *st, const char *what, char **cause)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE) {
		index_sql_error(ix, cause, what);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/*
 * Open a write transaction: BEGIN IMMEDIATE takes the write lock up front
 * (waiting up to the busy timeout) so a reader-turned-writer can never fail
 * half-way with SQLITE_BUSY_SNAPSHOT.  Inside a batch, a savepoint makes the
 * operation all-or-nothing within it.
 */
static index_tx index_tx_begin(index_db *ix, char **cause)
{
	if (ix->readonly) {
		util_set_cause(cause, "%s: cannot write: opened read-only", UTIL_NAME(ix->path));
		return TX_NONE;
	}
	if (sqlite3_get_autocommit(ix->db)) {
		if (index_exec(ix, "BEGIN IMMEDIATE", NULL, cause) != 0)
			return TX_NONE;
		return TX_BEGIN;
	}
	if (index_exec(ix, "SAVEPOINT index_op", NULL, cause) != 0)
		return TX_NONE;
	return TX_SAVEPOINT;
}

/* Commit (ok) or roll back tx.  Returns 0 when committed, else -1. */
static int index_tx_end(index_db *ix, index_tx tx, int ok, char **cause)
{
	if (tx == TX_BEGIN) {
		if (ok) {
			if (index_exec(ix, "COMMIT", "commit", cause) == 0)
				return 0;
		}
		/* A failed COMMIT may leave the transaction open. */
		if (!sqlite3_get_autocommit(ix->db))
			sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (tx == TX_SAVEPOINT) {
		if (ok)
			return index_exec(ix, "RELEASE index_op", "commit", cause);
		sqlite3_exec(ix->db, "ROLLBACK TO index_op; RELEASE index_op", NULL, NULL, NULL);
	}
	return -1;
}

int index_batch_begin(index_db *ix, char **cause)
{
	if (ix->batch) {
		util_set_cause(cause, "%s: a batch is already open", UTIL_NAME(ix->path));
		return -1;
	}
	if (index_tx_begin(ix, cause) != TX_BEGIN)
		return -1;
	ix->batch = 1;
	return 0;
}

int index_batch_commit(index_db *ix, char **cause)
{
	if (!ix->batch) {
		util_set_cause(cause, "%s: no batch is open", UTIL_NAME(ix->path));
		return -1;
	}
	ix->batch = 0;
	return index_tx_end(ix, TX_BEGIN, 1, cause);
}

void index_batch_abort(index_db *ix)
{
	if (ix == NULL || !ix->batch)
		return;
	ix->batch = 0;
	index_tx_end(ix, TX_BEGIN, 0, NULL);
}

/* ---- opening ------------------------------------------------------------ */

/* mkdir -p of path's parent directories, mode 0700. */
static int index_make_parents(const char *path, char **cause)
{
	char *dir = util_strdup(path), *p;
	struct stat st;

	if (dir == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		return -1;
	}
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			util_set_cause(cause, "%s: cannot create directory %s: %s",
			    UTIL_NAME(path), UTIL_NAME(dir),
			    strerror(errno));
			free(dir);
			return -1;
		}
		if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
			util_set_cause(cause, "%s: %s is not a directory", UTIL_NAME(path),
			    UTIL_NAME(dir));
			free(dir);
			return -1;
		}
		*p = '/';
	}
	free(dir);
	return 0;
}

/*
 * An SQLite URI for path: "file://" + the absolute path, or "file:" + a
 * relative one, every byte outside [A-Za-z0-9-._~/] percent-encoded, so any
 * file name (even one starting "file:" or holding '?' or '#') means itself.
 */
static char *index_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), o = 0;
	char *uri = malloc(8 + 3 * n + (query != NULL ? strlen(query) + 1 : 0) + 1);

	if (uri == NULL)
		return NULL;
	o += (size_t)sprintf(uri, path[0] == '/' ? "file://" : "file:");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			uri[o++] = (char)c;
		} else {
			uri[o++] = '%';
			uri[o++] = hex[c >> 4];
			uri[o++] = hex[c & 15];
		}
	}
	if (query != NULL)
		o += (size_t)sprintf(uri + o, "?%s", query);
	uri[o] = '\0';
	return uri;
}

static int index_pragma_int(index_db *ix, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Report why the first read of the file failed, in the user's terms. */
static void index_open_error(index_db *ix, char **cause)
{
	int code = sqlite3_errcode(ix->db) & 0xff;

	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		util_set_cause(cause, "%s is not a clipgrep index: %s", UTIL_NAME(ix->path),
		    sqlite3_errmsg(ix->db));
	else
		index_sql_error(ix, cause, NULL);
}

/*
 * Open the connection and read the header: application id, schema version
 * and whether the file holds anything.  Nothing is written.  Returns 0, or
 * -1 with the SQLite result code in *code.
 */
static int index_connect(index_db *ix, const char *query, int sqlite_flags,
    int64_t *app_id, int64_t *version, int64_t *objects, char **cause)
{
	char *uri = index_uri(ix->path, query);
	int rc;

	if (uri == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
		return -1;
	}
	rc = sqlite3_open_v2(uri, &ix->db, sqlite_flags | SQLITE_OPEN_URI, NULL);
	free(uri);
	if (ix->db == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
		return -1;
	}
	if (rc != SQLITE_OK) {
		index_sql_error(ix, cause, "cannot open");
		return -1;
	}
	sqlite3_extended_result_codes(ix->db, 1);
	sqlite3_busy_timeout(ix->db, INDEX_BUSY_MS);
	/*
	 * One read transaction, so the three come from one snapshot: read one
	 * by one, they can straddle another connection's creation of the
	 * schema (application_id read as 0 before it commits, the tables
	 * counted after) and a new index look like another program's.  On
	 * failure the transaction stays open for the caller's sqlite3_close,
	 * so that sqlite3_errcode still tells why.
	 */
	if (sqlite3_exec(ix->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    index_pragma_int(ix, "PRAGMA application_id", app_id) != 0 ||
	    index_pragma_int(ix, "PRAGMA user_version", version) != 0 ||
	    index_pragma_int(ix, "SELECT count(*) FROM sqlite_master", objects) != 0) {
		index_open_error(ix, cause);
		return -1;
	}
	if (sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		index_sql_error(ix, cause, "cannot open");
		return -1;
	}
	return 0;
}

/* Bring the schema from *version up to INDEX_SCHEMA_VERSION. */
static int index_migrate(index_db *ix, int64_t version, char **cause)
{
	char sql[96];

	for (int64_t v = version; v < INDEX_SCHEMA_VERSION; v++) {
		int64_t now_v;

		if (index_exec(ix, "BEGIN IMMEDIATE", "upgrading the schema", cause) != 0)
			return -1;
		/* Another process may have upgraded while we waited for the lock. */
		if (index_pragma_int(ix, "PRAGMA user_version", &now_v) != 0) {
			index_sql_error(ix, cause, "upgrading the schema");
			goto fail;
		}
		if (now_v > v) {
			sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
			v = now_v - 1;
			continue;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
		    (int)(v + 1), INDEX_APP_ID);
		if (index_exec(ix, index_migrations[v], "creating the schema", cause) != 0 ||
		    index_exec(ix, sql, "upgrading the schema", cause) != 0 ||
		    index_exec(ix, "COMMIT", "upgrading the schema", cause) != 0)
			goto fail;
	}
	return 0;
fail:
	sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * Why a database cannot be opened for writing, when SQLite's message says
 * only "read-only" or "unable to open database file (No such file or
 * directory)": the index file is read-only, or the file system is; a -wal
 * or -shm left read-only (a read-only open of a read-only database gives
 * them the database's mode, and they outlive a later chmod); or a directory
 * where the index, or its -wal and -shm, cannot be created.
 */
static void index_explain_readonly(const char *path, char **cause)
{
	static const char *const ext[] = { "-wal", "-shm" };
	char side[PATH_MAX + 8], *dir, *slash;
	int exists;

	if (cause == NULL || *cause == NULL || (strstr(*cause, "read-only") == NULL &&
	    strstr(*cause, "unable to open") == NULL))
		return;
	exists = access(path, F_OK) == 0;
	if (exists && access(path, W_OK) != 0) {
		if (errno == EROFS)
			util_set_cause(cause, "%s: cannot write: the index is on a read-only file "
			    "system", UTIL_NAME(path));
		else
			util_set_cause(cause, "%s: cannot write: the index file is read-only (%s)",
			    UTIL_NAME(path), strerror(errno));
		return;
	}
	for (size_t i = 0; exists && i < 2; i++) {
		if ((size_t)snprintf(side, sizeof side, "%s%s", path, ext[i]) < sizeof side &&
		    access(side, F_OK) == 0 && access(side, W_OK) != 0) {
			util_set_cause(cause, "%s: cannot write: %s is read-only (%s); fix its "
			    "permissions (do not delete a -wal: it holds data)", UTIL_NAME(path),
			    UTIL_NAME(side), strerror(errno));
			return;
		}
	}
	if ((dir = util_strdup(path)) == NULL)
		return;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (access(dir, W_OK) != 0) {
		if (errno == EROFS)
			util_set_cause(cause, "%s: cannot %s: the index is on a read-only file system",
			    UTIL_NAME(path), exists ? "write" : "create the index");
		else if (exists)
			util_set_cause(cause, "%s: cannot write: directory %s is read-only (%s), and "
			    "the index's -wal and -shm journal files go there", UTIL_NAME(path), UTIL_NAME(dir),
			    strerror(errno));
		else
			util_set_cause(cause, "%s: cannot create the index: directory %s is read-only "
			    "(%s)", UTIL_NAME(path), UTIL_NAME(dir), strerror(errno));
	}
	free(dir);
}

/*
 * Whether writing will work, found now rather than at the first video:
 * SQLite opens a WAL it cannot write read-only without saying so.  Takes
 * the write lock for an instant; a busy lock (another writer) is fine.
 */
static int index_probe_write(index_db *ix, char **cause)
{
	int rc;

	sqlite3_busy_timeout(ix->db, 0);
	rc = sqlite3_exec(ix->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	sqlite3_busy_timeout(ix->db, INDEX_BUSY_MS);
	if (rc == SQLITE_OK)
		return index_exec(ix, "ROLLBACK", NULL, cause);
	if ((rc & 0xff) == SQLITE_BUSY)
		return 0;
	index_sql_error(ix, cause, NULL);
	return -1;
}

/*
 * PRAGMA journal_mode = WAL.  Switching a new database needs an exclusive
 * lock, and when another connection is switching it too (two threads
 * creating one index) SQLite answers SQLITE_BUSY at once instead of calling
 * the busy handler, which could deadlock there: retry, within the busy
 * timeout.
 */
static int index_set_wal(index_db *ix, char **cause)
{
	const struct timespec pause = { 0, 5 * 1000 * 1000 };

	for (int waited_ms = 0;; waited_ms += 5) {
		int rc = sqlite3_exec(ix->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);

		if (rc == SQLITE_OK)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= INDEX_BUSY_MS) {
			index_sql_error(ix, cause, "cannot use a write-ahead log");
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

static index_db *index_open_try(const char *path, unsigned flags, char **cause)
{
	int readonly = (flags & INDEX_READONLY) != 0;
	int create = (flags & INDEX_CREATE) != 0 && !readonly;
	int64_t app_id = 0, version = 0, objects = 0;
	struct stat st;
	index_db *ix;
	int sqlite_flags;

	if (path == NULL || path[0] == '\0') {
		/* '' names what the user gave, even when it was nothing. */
		util_set_cause(cause, "%s: no index path given", UTIL_NAME(path));
		return NULL;
	}
	if (stat(path, &st) != 0) {
		if (errno != ENOENT || !create) {
			util_set_cause(cause, "%s: %s", UTIL_NAME(path),
			    errno == ENOENT ? "no such index" : strerror(errno));
			return NULL;
		}
		if (index_make_parents(path, cause) != 0)
			return NULL;
	} else if (S_ISDIR(st.st_mode)) {
		util_set_cause(cause, "%s: is a directory", UTIL_NAME(path));
		return NULL;
	}

	ix = calloc(1, sizeof *ix);
	if (ix == NULL || (ix->path = util_strdup(path)) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(path));
		free(ix);
		return NULL;
	}
	ix->lock_fd = -1;
	ix->readonly = readonly;

	sqlite_flags = readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	if (index_connect(ix, NULL, sqlite_flags, &app_id, &version, &objects, cause) != 0) {
		int code = ix->db != NULL ? sqlite3_errcode(ix->db) & 0xff : 0;

		/*
		 * A WAL database read from a directory we cannot write has no
		 * -shm to map: read it as immutable (no locks, no WAL index).
		 * Only for read-only handles, where nobody can be writing.
		 */
		if (!readonly || (code != SQLITE_CANTOPEN && code != SQLITE_READONLY))
			goto fail;
		sqlite3_close(ix->db);
		ix->db = NULL;
		if (index_connect(ix, "immutable=1", sqlite_flags, &app_id, &version, &objects,
		    cause) != 0)
			goto fail;
	}

	if (app_id != INDEX_APP_ID && (app_id != 0 || objects != 0)) {
		util_set_cause(cause, "%s is not a clipgrep index: it belongs to another program",
		    UTIL_NAME(path));
		goto fail;
	}
	if (version > INDEX_SCHEMA_VERSION) {
		util_set_cause(cause, "%s was written by a newer clipgrep (schema %lld > %d)",
		    UTIL_NAME(path),
		    (long long)version, INDEX_SCHEMA_VERSION);
		goto fail;
	}
	ix->version = version;
	if (readonly && (version < INDEX_SCHEMA_READABLE || objects == 0)) {
		if (objects == 0)
			util_set_cause(cause, "%s is not a clipgrep index: it is empty",
			    UTIL_NAME(path));
		else
			util_set_cause(cause, "%s needs an upgrade from schema %lld to %d: "
			    "open it for writing once (clipgrep index)", UTIL_NAME(path),
			    (long long)version,
			    INDEX_SCHEMA_VERSION);
		goto fail;
	}
	if (!readonly) {
		if (sqlite3_db_readonly(ix->db, "main") == 1) {
			util_set_cause(cause, "%s: cannot write: read-only file or file system",
			    UTIL_NAME(path));
			goto fail;
		}
		/* Pages of 4 KB (SQLite's default) unless the file already has some. */
		if (objects == 0 && index_exec(ix, "PRAGMA page_size = 4096", NULL, cause) != 0)
			goto fail;
		if (index_set_wal(ix, cause) != 0 ||
		    index_exec(ix, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
		    " PRAGMA journal_size_limit = 67108864", NULL, cause) != 0)
			goto fail;
		if (index_migrate(ix, version, cause) != 0 || index_probe_write(ix, cause) != 0)
			goto fail;
		ix->version = INDEX_SCHEMA_VERSION;
	}
	return ix;
fail:
	index_close(ix);
	return NULL;
}

index_db *index_open(const char *path, unsigned flags, char **cause)
{
	index_db *ix = index_open_try(path, flags, cause);

	if (ix != NULL || (flags & INDEX_READONLY) != 0)
		return ix;
	/*
	 * A -wal left read-only by a reader (see index_explain_readonly) gets
	 * its mode repaired by SQLite while the first connection fails; a
	 * second connection can write.
	 */
	if (cause != NULL && *cause != NULL && strstr(*cause, "read-only") != NULL &&
	    access(path, W_OK) == 0)
		ix = index_open_try(path, flags, cause);
	if (ix == NULL)
		index_explain_readonly(path, cause);
	return ix;
}

void index_close(index_db *ix)
{
	if (ix == NULL)
		return;
	if (ix->batch)
		index_batch_abort(ix);
	index_snapshot_end(ix);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(ix->st[i]);
	if (ix->db != NULL) {
		if (!ix->readonly)
			sqlite3_wal_checkpoint_v2(ix->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
			    NULL);
		sqlite3_close(ix->db);
	}
	if (ix->lock_fd >= 0)
		close(ix->lock_fd); /* releases the flock */
	free(ix->path);
	free(ix);
}

/* ---- the writer lock ------------------------------------------------------ */

int index_lock_writer(index_db *ix, int wait, char **cause)
{
	char lock_path[PATH_MAX + 8], host[256] = "", text[320], other[320];
	ssize_t got;
	int fd, rc;

	if (ix->lock_fd >= 0)
		return 0;
	if (ix->readonly) {
		util_set_cause(cause, "%s: cannot index: opened read-only", UTIL_NAME(ix->path));
		return -1;
	}
	if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", ix->path) >=
	    sizeof lock_path) {
		util_set_cause(cause, "%s: path too long", UTIL_NAME(ix->path));
		return -1;
	}
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		util_set_cause(cause, "%s: cannot create %s: %s", UTIL_NAME(ix->path),
		    UTIL_NAME(lock_path),
		    strerror(errno));
		return -1;
	}
	while ((rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		int err = errno;
		long pid = 0;
		char ohost[256] = "";

		if (err == EWOULDBLOCK) {
			got = pread(fd, other, sizeof other - 1, 0);
			other[got > 0 ? got : 0] = '\0';
			if (sscanf(other, "%ld %255s", &pid, ohost) >= 1 && pid > 0) {
				gethostname(host, sizeof host - 1);
				if (ohost[0] != '\0' && strcmp(ohost, host) != 0)
					util_set_cause(cause, "another clipgrep is indexing %s "
					    "(pid %ld on %s)", UTIL_NAME(ix->path), pid, ohost);
				else
					util_set_cause(cause, "another clipgrep is indexing %s "
					    "(pid %ld)", UTIL_NAME(ix->path), pid);
			} else {
				util_set_cause(cause, "another clipgrep is indexing %s",
				    UTIL_NAME(ix->path));
			}
		} else {
			util_set_cause(cause, "%s: cannot lock %s: %s", UTIL_NAME(ix->path),
			    UTIL_NAME(lock_path),
			    strerror(err));
		}
		close(fd);
		return -1;
	}
	/* Ours: say who holds it, for the next one's message. */
	gethostname(host, sizeof host - 1);
	snprintf(text, sizeof text, "%ld %s\n", (long)getpid(), host);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, strlen(text), 0) < 0) {
		/* Only the message of a second indexer suffers. */
	}
	ix->lock_fd = fd;
	return 0;
}

/* ---- models --------------------------------------------------------------- */

int64_t index_find_model(index_db *ix, const uint8_t hash[HASH_SIZE], char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_MODEL_BY_HASH, cause);
	int64_t id = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, HASH_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "looking up a model");
		id = -1;
	}
	sqlite3_reset(st);
	return id;
}

static int64_t index_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t index_model_id(index_db *ix, const index_model_info *info, char **cause)
{
	sqlite3_stmt *st;
	index_tx tx;
	int64_t id;

	id = index_find_model(ix, info->hash, cause);
	if (id != 0 && (id < 0 || info->path == NULL))
		return id;
	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;
	/* Look again under the write lock: another process may have added it. */
	id = index_find_model(ix, info->hash, cause);
	if (id > 0 && info->path != NULL) {
		if ((st = index_stmt(ix, ST_MODEL_SET_PATH, cause)) == NULL ||
		    (sqlite3_bind_int64(st, 1, id),
		    sqlite3_bind_blob(st, 2, info->path, (int)strlen(info->path), SQLITE_STATIC),
		    index_step_done(ix, st, "recording a model's path", cause)) != 0)
			id = -1;
	} else if (id == 0 && (st = index_stmt(ix, ST_MODEL_INSERT, cause)) != NULL) {
		sqlite3_bind_blob(st, 1, info->hash, HASH_SIZE, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, info->name != NULL ? info->name : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, info->architecture != NULL ? info->architecture : "",
		    -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, info->config_json != NULL ? info->config_json : "{}",
		    -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, index_now_ns());
		if (info->path != NULL)
			sqlite3_bind_blob(st, 6, info->path, (int)strlen(info->path), SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_text(st, 7, info->precision != NULL ? info->precision : "fp32", -1,
		    SQLITE_STATIC);
		if (index_step_done(ix, st, "adding a model", cause) == 0)
			id = sqlite3_last_insert_rowid(ix->db);
		else
			id = -1;
	} else if (id == 0) {
		id = -1;
	}
	if (index_tx_end(ix, tx, id > 0, cause) != 0)
		return -1;
	return id;
}

int index_model_precision(index_db *ix, int64_t model_id, char out[8], char **cause)
{
	sqlite3_stmt *st;
	int rc;

	snprintf(out, 8, "fp32");
	if (ix->version < INDEX_SCHEMA_PRECISION)
		return 0;
	if ((st = index_stmt(ix, ST_MODEL_PRECISION, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, model_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(out, 8, "%s", (const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		index_sql_error(ix, cause, "reading a model's precision");
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int index_set_model_precision(index_db *ix, int64_t model_id, const char *precision,
    int drop_tensors, char **cause)
{
	sqlite3_stmt *st;
	index_tx tx;
	int rc = -1;

	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;
	if (drop_tensors) {
		if ((st = index_stmt(ix, ST_MODEL_DROP_TENSORS, cause)) == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, model_id);
		if (index_step_done(ix, st, "dropping a model's vectors", cause) != 0)
			goto out;
	}
	if ((st = index_stmt(ix, ST_MODEL_SET_PRECISION, cause)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_text(st, 2, precision, -1, SQLITE_STATIC);
	if (index_step_done(ix, st, "recording a model's precision", cause) != 0)
		goto out;
	rc = 0;
out:
	if (index_tx_end(ix, tx, rc == 0, cause) != 0)
		return -1;
	return rc;
}

/* ---- writing videos --------------------------------------------------------- */

/* Frames and tensors of video id (replacing tensors with the same name). */
static int index_write_children(index_db *ix, int64_t id, const index_video *v, int n_tensors,
    const index_tensor *tensors, const char *label, char **cause)
{
	sqlite3_stmt *st;
	char what[64];

	for (int i = 0; v != NULL && i < v->n_frames; i++) {
		const index_frame *f = &v->frames[i];

		if ((st = index_stmt(ix, ST_FRAME_INSERT, cause)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_double(st, 3, f->time);
		sqlite3_bind_int(st, 4, f->thumb != NULL ? f->thumb_width : 0);
		sqlite3_bind_int(st, 5, f->thumb != NULL ? f->thumb_height : 0);
		if (f->thumb != NULL)
			sqlite3_bind_blob64(st, 6, f->thumb, f->thumb_size, SQLITE_STATIC);
		snprintf(what, sizeof what, "storing frame %d", i);
		if (index_step_done(ix, st, what, cause) != 0) {
			util_prefix_cause(cause, "%s", label);
			return -1;
		}
	}
	/* One segment needs no rows: it is the whole video. */
	for (int i = 0; v != NULL && v->n_segments > 1 && i < v->n_segments; i++) {
		const index_segment *g = &v->segments[i];

		if ((st = index_stmt(ix, ST_SEGMENT_INSERT, cause)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_double(st, 3, g->start);
		sqlite3_bind_double(st, 4, g->end);
		sqlite3_bind_int(st, 5, g->frame0);
		sqlite3_bind_int(st, 6, g->frames);
		if (index_step_done(ix, st, "storing segments", cause) != 0) {
			util_prefix_cause(cause, "%s", label);
			return -1;
		}
	}
	for (int i = 0; i < n_tensors; i++) {
		const index_tensor *t = &tensors[i];

		if ((st = index_stmt(ix, ST_TENSOR_PUT, cause)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, t->model_id);
		sqlite3_bind_text(st, 3, t->kind, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, INDEX_DTYPE_F32);
		sqlite3_bind_int64(st, 5, t->count);
		sqlite3_bind_blob64(st, 6, t->data, (sqlite3_uint64)t->count * sizeof(float),
		    SQLITE_STATIC);
		snprintf(what, sizeof what, "storing tensor \"%.20s\" of model %lld", t->kind,
		    (long long)t->model_id);
		if (index_step_done(ix, st, what, cause) != 0) {
			if ((sqlite3_extended_errcode(ix->db)) == SQLITE_CONSTRAINT_FOREIGNKEY)
				util_set_cause(cause, "%s: %s: no model %lld in the index",
				    UTIL_NAME(ix->path),
				    label, (long long)t->model_id);
			return -1;
		}
		/* Written now: padded as upstream. */
		if ((st = index_stmt(ix, ST_PADDING_CLEAR, cause)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, t->model_id);
		if (index_step_done(ix, st, "storing padding provenance", cause) != 0)
			return -1;
	}
	return 0;
}

/* The arguments' own checks, before any transaction. */
static int index_check_tensors(index_db *ix, int n, const index_tensor *t, const char *label,
    char **cause)
{
	if (n < 0 || (n > 0 && t == NULL)) {
		util_set_cause(cause, "%s: %s: bad tensor list", UTIL_NAME(ix->path), label);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (t[i].kind == NULL || t[i].kind[0] == '\0' || t[i].data == NULL ||
		    t[i].count < 1 || t[i].model_id < 1 ||
		    (uint64_t)t[i].count > (uint64_t)INT_MAX / sizeof(float)) {
			util_set_cause(cause, "%s: %s: tensor %d: needs a model, a kind and "
			    "1 .. %d floats", UTIL_NAME(ix->path), label, i,
			    (int)(INT_MAX / sizeof(float)));
			return -1;
		}
		for (int j = 0; j < i; j++) {
			if (t[j].model_id == t[i].model_id && strcmp(t[j].kind, t[i].kind) == 0) {
				util_set_cause(cause, "%s: %s: tensor \"%s\" of model %lld given twice",
				    UTIL_NAME(ix->path), label, t[i].kind,
				    (long long)t[i].model_id);
				return -1;
			}
		}
	}
	return 0;
}

static int index_delete_children(index_db *ix, int64_t id, char **cause)
{
	sqlite3_stmt *st;

	if ((st = index_stmt(ix, ST_FRAMES_DELETE, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (index_step_done(ix, st, "deleting frames", cause) != 0)
		return -1;
	if ((st = index_stmt(ix, ST_TENSORS_DELETE, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (index_step_done(ix, st, "deleting tensors", cause) != 0 ||
	    (st = index_stmt(ix, ST_PADDING_DELETE, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (index_step_done(ix, st, "deleting tensors", cause) != 0 ||
	    (st = index_stmt(ix, ST_SEGMENTS_DELETE, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return index_step_done(ix, st, "deleting segments", cause);
}

/* The id of the video at path: > 0, 0 when none, -1 on error. */
static int64_t index_id_by_path(index_db *ix, const char *path, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_VIDEO_ID_BY_PATH, cause);
	int64_t id = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, path, (int)strlen(path), SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "looking up a video");
		id = -1;
	}
	sqlite3_reset(st);
	return id;
}

static int index_check_path(index_db *ix, const char *path, char **cause)
{
	if (path == NULL || path[0] == '\0' || strlen(path) > INT_MAX / 2) {
		util_set_cause(cause, "%s: a video needs a path", UTIL_NAME(ix->path));
		return -1;
	}
	return 0;
}

int64_t index_put_video(index_db *ix, const index_video *v, char **cause)
{
	sqlite3_stmt *st;
	index_tx tx;
	int64_t id = -1;

	if (index_check_path(ix, v->path, cause) != 0)
		return -1;
	if ((unsigned)v->status > INDEX_ERROR || v->n_frames < 0 ||
	    (v->n_frames > 0 && v->frames == NULL)) {
		util_set_cause(cause, "%s: %s: bad status or frame list", UTIL_NAME(ix->path),
		    UTIL_NAME(v->path));
		return -1;
	}
	for (int i = 0; i < v->n_frames; i++) {
		const index_frame *f = &v->frames[i];

		if (f->thumb != NULL && (f->thumb_size > INT_MAX || f->thumb_width < 0 ||
		    f->thumb_height < 0 || f->thumb_width > INDEX_THUMB_MAX ||
		    f->thumb_height > INDEX_THUMB_MAX)) {
			util_set_cause(cause, "%s: %s: thumbnail %d too large",
			    UTIL_NAME(ix->path), UTIL_NAME(v->path),
			    i);
			return -1;
		}
	}
	if (index_check_tensors(ix, v->n_tensors, v->tensors, v->path, cause) != 0)
		return -1;
	for (int i = 0; i < v->n_segments; i++) {
		const index_segment *g = &v->segments[i];
		if (g->frame0 < 0 || g->frames < 1 || g->frame0 > v->n_frames - g->frames ||
		    !(g->end >= g->start)) {
			util_set_cause(cause, "%s: %s: segment %d is out of range",
			    UTIL_NAME(ix->path), UTIL_NAME(v->path), i);
			return -1;
		}
	}
	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;

	if ((st = index_stmt(ix, ST_VIDEO_UPSERT, cause)) == NULL)
		goto out;
	sqlite3_bind_blob(st, 1, v->path, (int)strlen(v->path), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v->size);
	sqlite3_bind_int64(st, 3, v->mtime_ns);
	sqlite3_bind_blob(st, 4, v->hash, HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, v->duration);
	sqlite3_bind_int(st, 6, v->n_frames);
	sqlite3_bind_int(st, 7, (int)v->status);
	if (v->error != NULL)
		sqlite3_bind_text(st, 8, v->error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, v->indexed_at_ns != 0 ? v->indexed_at_ns : index_now_ns());
	sqlite3_bind_double(st, 10, v->window > 0 ? v->window : 0);
	sqlite3_bind_int(st, 11, v->shots != 0);
	sqlite3_bind_int(st, 12, v->sampling);
	if (index_step_done(ix, st, "storing a video", cause) != 0)
		goto out;
	if ((id = index_id_by_path(ix, v->path, cause)) <= 0) {
		if (id == 0)
			util_set_cause(cause, "%s: %s: stored row vanished", UTIL_NAME(ix->path),
			    UTIL_NAME(v->path));
		id = -1;
		goto out;
	}
	if (index_delete_children(ix, id, cause) != 0 ||
	    index_write_children(ix, id, v, v->n_tensors, v->tensors, v->path, cause) != 0)
		id = -1;
out:
	if (index_tx_end(ix, tx, id > 0, cause) != 0)
		return -1;
	return id;
}

static int index_video_exists(index_db *ix, int64_t id, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_VIDEO_EXISTS, cause);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		util_set_cause(cause, "%s: no video %lld", UTIL_NAME(ix->path), (long long)id);
		return 0;
	}
	index_sql_error(ix, cause, "looking up a video");
	return -1;
}

int index_put_tensors(index_db *ix, int64_t video_id, int n, const index_tensor *tensors,
    char **cause)
{
	char label[32];
	index_tx tx;
	int ok;

	snprintf(label, sizeof label, "video %lld", (long long)video_id);
	if (index_check_tensors(ix, n, tensors, label, cause) != 0)
		return -1;
	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;
	ok = index_video_exists(ix, video_id, cause) == 1 &&
	    index_write_children(ix, video_id, NULL, n, tensors, label, cause) == 0;
	return index_tx_end(ix, tx, ok, cause);
}

/* Drop whatever row other than id sits at path (its file is gone). */
static int index_clear_path(index_db *ix, const char *path, int64_t keep_id, char **cause)
{
	sqlite3_stmt *st;
	int64_t other = index_id_by_path(ix, path, cause);

	if (other < 0)
		return -1;
	if (other == 0 || other == keep_id)
		return 0;
	if (index_delete_children(ix, other, cause) != 0 ||
	    (st = index_stmt(ix, ST_VIDEO_DELETE_OTHER, cause)) == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, path, (int)strlen(path), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, keep_id);
	return index_step_done(ix, st, "replacing a video", cause);
}

int index_move_video(index_db *ix, int64_t id, const char *new_path, int64_t mtime_ns,
    char **cause)
{
	sqlite3_stmt *st;
	index_tx tx;
	int ok = 0;

	if (index_check_path(ix, new_path, cause) != 0)
		return -1;
	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;
	if (index_video_exists(ix, id, cause) == 1 &&
	    index_clear_path(ix, new_path, id, cause) == 0 &&
	    (st = index_stmt(ix, ST_VIDEO_MOVE, cause)) != NULL) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_blob(st, 2, new_path, (int)strlen(new_path), SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, mtime_ns);
		ok = index_step_done(ix, st, "moving a video", cause) == 0;
	}
	return index_tx_end(ix, tx, ok, cause);
}

int64_t index_copy_video(index_db *ix, int64_t src_id, const char *new_path, int64_t mtime_ns,
    char **cause)
{
	sqlite3_stmt *st;
	index_tx tx;
	int64_t id = -1;

	if (index_check_path(ix, new_path, cause) != 0)
		return -1;
	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;
	if (index_video_exists(ix, src_id, cause) != 1 ||
	    index_clear_path(ix, new_path, src_id, cause) != 0)
		goto out;
	if (index_id_by_path(ix, new_path, NULL) == src_id) {
		util_set_cause(cause, "%s: %s: cannot copy a video onto itself",
		    UTIL_NAME(ix->path),
		    new_path);
		goto out;
	}
	if ((st = index_stmt(ix, ST_VIDEO_COPY, cause)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, src_id);
	sqlite3_bind_blob(st, 2, new_path, (int)strlen(new_path), SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, mtime_ns);
	sqlite3_bind_int64(st, 4, index_now_ns());
	if (index_step_done(ix, st, "copying a video", cause) != 0)
		goto out;
	id = sqlite3_last_insert_rowid(ix->db);
	/* Everything stored per video, copied from src_id to id. */
	static const int copies[] = { ST_FRAMES_COPY, ST_TENSORS_COPY, ST_PADDING_COPY,
		ST_SEGMENTS_COPY };
	for (size_t k = 0; k < sizeof copies / sizeof copies[0]; k++) {
		if ((st = index_stmt(ix, copies[k], cause)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, src_id);
		sqlite3_bind_int64(st, 2, id);
		if (index_step_done(ix, st, "copying a video", cause) != 0)
			goto fail;
	}
	goto out;
fail:
	id = -1;
out:
	if (index_tx_end(ix, tx, id > 0, cause) != 0)
		return -1;
	return id;
}

int index_delete_video(index_db *ix, int64_t id, char **cause)
{
	sqlite3_stmt *st;
	index_tx tx;
	int ok = 0;

	if ((tx = index_tx_begin(ix, cause)) == TX_NONE)
		return -1;
	if (index_delete_children(ix, id, cause) == 0 &&
	    (st = index_stmt(ix, ST_VIDEO_DELETE, cause)) != NULL) {
		sqlite3_bind_int64(st, 1, id);
		ok = index_step_done(ix, st, "deleting a video", cause) == 0;
	}
	return index_tx_end(ix, tx, ok, cause);
}

/* ---- reading videos ---------------------------------------------------------- */

void index_row_clear(index_video_row *row)
{
	if (row == NULL)
		return;
	free(row->path);
	free(row->error);
	memset(row, 0, sizeof *row);
}

/* Copy a BLOB or TEXT column into a new NUL-terminated string. */
static char *index_column_string(sqlite3_stmt *st, int col)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	char *s;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s != NULL) {
		if (n > 0)
			memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

/*
 * Fill row from the INDEX_ROW_COLUMNS of st.  The strings are new
 * allocations.  0, or -1 when out of memory.
 */
static int index_row_read(sqlite3_stmt *st, index_video_row *row)
{
	const void *hash = sqlite3_column_blob(st, 4);

	memset(row, 0, sizeof *row);
	row->id = sqlite3_column_int64(st, 0);
	row->path = index_column_string(st, 1);
	row->size = sqlite3_column_int64(st, 2);
	row->mtime_ns = sqlite3_column_int64(st, 3);
	if (hash != NULL && sqlite3_column_bytes(st, 4) == HASH_SIZE)
		memcpy(row->hash, hash, HASH_SIZE);
	row->duration = sqlite3_column_double(st, 5);
	row->frames = sqlite3_column_int(st, 6);
	row->status = (index_status)sqlite3_column_int(st, 7);
	row->error = index_column_string(st, 8);
	row->indexed_at_ns = sqlite3_column_int64(st, 9);
	row->window = sqlite3_column_double(st, 10);
	row->shots = sqlite3_column_int(st, 11);
	row->sampling = sqlite3_column_int(st, 12);
	if (row->path == NULL || (row->error == NULL && sqlite3_column_type(st, 8) != SQLITE_NULL)) {
		index_row_clear(row);
		return -1;
	}
	return 0;
}

/* One row from a bound statement: 0 found, 1 none, -1 error. */
static int index_row_lookup(index_db *ix, sqlite3_stmt *st, index_video_row *out, char **cause)
{
	int rc = sqlite3_step(st), ret;

	if (rc == SQLITE_ROW) {
		ret = index_row_read(st, out);
		if (ret != 0)
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		index_sql_error(ix, cause, "looking up a video");
		ret = -1;
	}
	sqlite3_reset(st);
	return ret;
}

int index_lookup_path(index_db *ix, const char *path, index_video_row *out, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_ROW_BY_PATH, cause);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, path, (int)strlen(path), SQLITE_STATIC);
	return index_row_lookup(ix, st, out, cause);
}

int index_lookup_id(index_db *ix, int64_t id, index_video_row *out, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_ROW_BY_ID, cause);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return index_row_lookup(ix, st, out, cause);
}

int index_lookup_hash(index_db *ix, const uint8_t hash[HASH_SIZE],
    index_video_row *out, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_ROW_BY_HASH, cause);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, HASH_SIZE, SQLITE_STATIC);
	return index_row_lookup(ix, st, out, cause);
}

int index_list_zero_padded(index_db *ix, int64_t model_id, int frames,
    int (*fn)(void *arg, int64_t video_id), void *arg, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_PADDING_LIST, cause);
	int rc, ret = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_int(st, 2, frames);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((ret = fn(arg, sqlite3_column_int64(st, 0))) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "listing zero-padded videos");
		ret = -1;
	}
	sqlite3_reset(st);
	return ret;
}

int index_list_videos(index_db *ix, const char *prefix, index_video_fn fn, void *arg,
    char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_LIST, cause);
	char *upper = NULL;
	size_t n = prefix != NULL ? strlen(prefix) : 0;
	int rc, ret = 0;

	if (st == NULL)
		return -1;
	/*
	 * Paths starting with prefix are [prefix, upper): upper is prefix with
	 * its last byte below 0xff incremented (none when all are 0xff).
	 */
	sqlite3_bind_blob(st, 1, n > 0 ? prefix : "", (int)n, SQLITE_STATIC);
	if (n > 0) {
		upper = malloc(n);
		if (upper == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
			return -1;
		}
		memcpy(upper, prefix, n);
		while (n > 0 && (unsigned char)upper[n - 1] == 0xff)
			n--;
		if (n > 0) {
			upper[n - 1] = (char)((unsigned char)upper[n - 1] + 1);
			sqlite3_bind_blob(st, 2, upper, (int)n, SQLITE_STATIC);
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		index_video_row row;

		if (index_row_read(st, &row) != 0) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
			ret = -1;
			break;
		}
		ret = fn(arg, &row);
		index_row_clear(&row);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "listing videos");
		ret = -1;
	}
	sqlite3_reset(st);
	free(upper);
	return ret;
}

void index_frames_free(index_frames *f)
{
	if (f == NULL)
		return;
	for (int i = 0; i < f->n; i++)
		free((void *)f->frames[i].thumb);
	free(f->frames);
	free(f);
}

index_frames *index_get_frames(index_db *ix, int64_t video_id, int with_thumbs, char **cause)
{
	return index_get_frame_range(ix, video_id, 0, INT_MAX, with_thumbs, cause);
}

index_frames *index_get_frame_range(index_db *ix, int64_t video_id, int first, int count,
    int with_thumbs, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_FRAMES_GET, cause);
	index_frames *f;
	int rc, cap = 0;

	if (st == NULL)
		return NULL;
	if ((f = calloc(1, sizeof *f)) == NULL)
		goto nomem;
	sqlite3_bind_int64(st, 1, video_id);
	sqlite3_bind_int(st, 2, with_thumbs != 0);
	/* A range of the primary key (video_id, idx): only those rows are read. */
	sqlite3_bind_int64(st, 3, first);
	sqlite3_bind_int64(st, 4, (int64_t)first + (count > 0 ? count : 0));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);
		int64_t tw = sqlite3_column_int64(st, 2), th = sqlite3_column_int64(st, 3);
		index_frame *fr;
		const void *thumb;
		int bytes;

		/* No writer stores such a size: refusing it here spares every caller. */
		if (tw < 0 || th < 0 || tw > INDEX_THUMB_MAX || th > INDEX_THUMB_MAX) {
			util_set_cause(cause, "%s: video %lld: frame %lld is corrupt (thumbnail "
			    "%lld x %lld)", UTIL_NAME(ix->path), (long long)video_id,
			    (long long)idx,
			    (long long)tw, (long long)th);
			goto fail;
		}
		if (f->n == cap) {
			int ncap = cap > 0 ? 2 * cap : 16;
			index_frame *nf;

			if (cap > INT_MAX / 2 || (nf = realloc(f->frames,
			    (size_t)ncap * sizeof *nf)) == NULL)
				goto nomem;
			f->frames = nf;
			cap = ncap;
		}
		fr = &f->frames[f->n];
		memset(fr, 0, sizeof *fr);
		fr->time = sqlite3_column_double(st, 1);
		fr->thumb_width = (int)tw;
		fr->thumb_height = (int)th;
		thumb = sqlite3_column_blob(st, 4);
		bytes = sqlite3_column_bytes(st, 4);
		if (thumb != NULL && bytes > 0) {
			uint8_t *copy = malloc((size_t)bytes);

			if (copy == NULL)
				goto nomem;
			memcpy(copy, thumb, (size_t)bytes);
			fr->thumb = copy;
			fr->thumb_size = (size_t)bytes;
		}
		f->n++;
	}
	if (rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "reading frames");
		sqlite3_reset(st);
		index_frames_free(f);
		return NULL;
	}
	sqlite3_reset(st);
	return f;
nomem:
	util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
fail:
	sqlite3_reset(st);
	index_frames_free(f);
	return NULL;
}

/*
 * Check a stored tensor's header against its blob, before anything is
 * sized from count.  A blob holds fewer than 2^31 bytes, so a count above
 * INT_MAX / 4 is corrupt whatever the blob; bounding it first also keeps
 * count * 4 from wrapping onto the blob's length (2^62 + 6 floats "in"
 * 24 bytes).
 */
static int index_check_blob(index_db *ix, int64_t video_id, const char *kind, int64_t dtype,
    int64_t count, int bytes, char **cause)
{
	if (dtype != INDEX_DTYPE_F32) {
		util_set_cause(cause, "%s: video %lld: tensor \"%s\" has dtype %lld%s, which this "
		    "clipgrep cannot read", UTIL_NAME(ix->path), (long long)video_id, kind,
		    (long long)dtype,
		    dtype == INDEX_DTYPE_F16 ? " (float16)" : "");
		return -1;
	}
	if (count < 1 || count > INT_MAX / (int64_t)sizeof(float) ||
	    (uint64_t)count * sizeof(float) != (uint64_t)bytes) {
		util_set_cause(cause, "%s: video %lld: tensor \"%s\" is corrupt (%lld floats "
		    "in %d bytes)", UTIL_NAME(ix->path), (long long)video_id, kind,
		    (long long)count, bytes);
		return -1;
	}
	return 0;
}

int index_get_tensor(index_db *ix, int64_t video_id, int64_t model_id, const char *kind,
    float **out, int64_t *count, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_TENSOR_GET, cause);
	int rc, ret = -1;

	*out = NULL;
	*count = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, video_id);
	sqlite3_bind_int64(st, 2, model_id);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *data = sqlite3_column_blob(st, 2);
		int bytes = sqlite3_column_bytes(st, 2);
		int64_t n = sqlite3_column_int64(st, 1);

		if (index_check_blob(ix, video_id, kind, sqlite3_column_int64(st, 0), n, bytes,
		    cause) != 0) {
			ret = 2;
		} else if ((*out = malloc((size_t)bytes)) == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
		} else {
			memcpy(*out, data, (size_t)bytes);
			*count = n;
			ret = 0;
		}
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		index_sql_error(ix, cause, "reading a tensor");
	}
	sqlite3_reset(st);
	return ret;
}

/*
 * A large array for the tensor set: anonymous memory with transparent huge
 * pages where the kernel offers them (a 250 MB array faults in 512 times
 * fewer pages), else malloc.
 */
static void *index_big_alloc(size_t bytes, size_t *mapped_len)
{
	*mapped_len = 0;
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE)
	if (bytes >= 4 * (size_t)INDEX_MIB) {
		size_t len = (bytes + 2 * (size_t)INDEX_MIB - 1) & ~(2 * (size_t)INDEX_MIB - 1);
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);

		if (p != MAP_FAILED) {
			madvise(p, len, MADV_HUGEPAGE);
			*mapped_len = len;
			return p;
		}
	}
#endif
	return malloc(bytes > 0 ? bytes : 1);
}

/* An index_tensor_set with what freeing it needs. */
typedef struct {
	index_tensor_set pub;
	char *path_block; /* the paths, NUL-separated */
	size_t mapped;    /* bytes mapped for pub.data, 0 when malloc'd */
} index_tensor_block;

void index_tensor_set_free(index_tensor_set *set)
{
	index_tensor_block *s = (index_tensor_block *)set;

	if (s == NULL)
		return;
	if (s->mapped > 0)
		munmap(s->pub.data, s->mapped);
	else
		free(s->pub.data);
	free(s->pub.ids);
	free(s->pub.segment);
	free(s->pub.damaged_ids);
	free(s->pub.paths);
	free(s->path_block);
	free(s);
}

/* The [n, count] float array of b; 0 or -1 (too large or out of memory). */
static int index_tensor_alloc(index_tensor_block *b, int64_t n, int64_t count)
{
	uint64_t cells = (uint64_t)(n > 0 ? n : 1) * (uint64_t)count;

	if (count < 1 || (uint64_t)count > SIZE_MAX / sizeof(float) ||
	    cells / (uint64_t)count != (uint64_t)(n > 0 ? n : 1) ||
	    cells > SIZE_MAX / sizeof(float))
		return -1;
	b->pub.count = count;
	b->pub.data = index_big_alloc((size_t)cells * sizeof(float), &b->mapped);
	return b->pub.data != NULL ? 0 : -1;
}

/*
 * Fill b from the rows of ST_LOAD_ROWS; the transaction is the caller's.
 * A damaged row is listed in damaged_ids and skipped: its video is
 * re-indexed by the next `clipgrep index`, the others stay searchable.
 */
static int index_load_rows(index_db *ix, index_tensor_block *b, int64_t model_id,
    const char *kind, size_t path_bytes, int per_segment, int64_t cap, char **cause)
{
	sqlite3_stmt *st = index_stmt(ix, ST_LOAD_ROWS, cause);
	index_tensor_set *s = &b->pub;
	size_t po = 0;
	int64_t i = 0;
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 3);
		const void *path = sqlite3_column_blob(st, 1);
		size_t plen = (size_t)sqlite3_column_bytes(st, 1);
		const void *data;
		int bytes;

		int64_t k = 1;

		/* Cannot happen within one snapshot; guards the buffers anyway. */
		if (i + s->n_damaged == cap || po + plen + 1 > path_bytes) {
			util_set_cause(cause, "%s: the index changed while loading",
			    UTIL_NAME(ix->path));
			goto out;
		}
		/* The row is checked before the first one sizes the [n, count] array. */
		data = sqlite3_column_blob(st, 4);
		bytes = sqlite3_column_bytes(st, 4);
		if (per_segment && s->data != NULL && count > s->count && count % s->count == 0)
			k = count / s->count;
		if (index_check_blob(ix, id, kind, sqlite3_column_int64(st, 2), count, bytes,
		    NULL) != 0 || (s->data != NULL && count != k * s->count) || i + k > cap) {
			s->damaged_ids[s->n_damaged++] = id;
			continue;
		}
		if (s->data == NULL && index_tensor_alloc(b, cap, count) != 0) {
			util_set_cause(cause, "%s: video %lld: tensor \"%s\": cannot hold %lld x %lld "
			    "floats", UTIL_NAME(ix->path), (long long)id, kind, (long long)cap,
			    (long long)count);
			goto out;
		}
		memcpy(s->data + (size_t)i * (size_t)s->count, data, (size_t)bytes);
		if (plen > 0)
			memcpy(b->path_block + po, path, plen);
		b->path_block[po + plen] = '\0';
		for (int64_t r = 0; r < k; r++, i++) {
			s->ids[i] = id;
			s->segment[i] = (int)r;
			s->paths[i] = b->path_block + po;
		}
		po += plen + 1;
	}
	if (rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "loading tensors");
		goto out;
	}
	s->n = i;
	ret = 0;
out:
	sqlite3_reset(st);
	return ret;
}

static index_tensor_set *index_load(index_db *ix, int64_t model_id, const char *kind,
    int64_t count, int per_segment, char **cause)
{
	index_tensor_block *b = NULL;
	sqlite3_stmt *st;
	int own_tx = sqlite3_get_autocommit(ix->db);
	int64_t n = 0, path_bytes = 0, floats = 0, cap;
	int rc, ok = 0;

	if (count < 0) {
		util_set_cause(cause, "%s: bad tensor size %lld", UTIL_NAME(ix->path),
		    (long long)count);
		return NULL;
	}
	/* One read transaction: the count and the rows see the same snapshot. */
	if (own_tx && index_exec(ix, "BEGIN", "loading tensors", cause) != 0)
		return NULL;
	if ((st = index_stmt(ix, ST_LOAD_COUNT, cause)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		path_bytes = sqlite3_column_int64(st, 1);
		floats = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		index_sql_error(ix, cause, "loading tensors");
		goto out;
	}
	/* Records: one per row, or per segment (at most the floats over count). */
	cap = per_segment && count > 0 && floats / count > n ? floats / count : n;
	if (cap > INT_MAX) {
		util_set_cause(cause, "%s: too many tensors to load", UTIL_NAME(ix->path));
		goto out;
	}
	if ((b = calloc(1, sizeof *b)) == NULL)
		goto nomem;
	b->pub.n = cap;
	b->pub.count = count;
	b->pub.ids = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *b->pub.ids);
	b->pub.segment = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *b->pub.segment);
	b->pub.damaged_ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *b->pub.damaged_ids);
	b->pub.paths = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *b->pub.paths);
	b->path_block = malloc((size_t)(path_bytes + n + 1));
	if (b->pub.ids == NULL || b->pub.damaged_ids == NULL || b->pub.paths == NULL ||
	    b->pub.segment == NULL || b->path_block == NULL)
		goto nomem;
	if (count > 0 && index_tensor_alloc(b, cap, count) != 0)
		goto nomem;
	ok = n == 0 || index_load_rows(ix, b, model_id, kind, (size_t)(path_bytes + n + 1),
	    per_segment, cap, cause) == 0;
	if (n == 0)
		b->pub.n = 0;
	goto out;
nomem:
	util_set_cause(cause, "%s: out of memory loading %lld tensors", UTIL_NAME(ix->path),
	    (long long)n);
out:
	if (own_tx)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	if (!ok) {
		index_tensor_set_free(b != NULL ? &b->pub : NULL);
		return NULL;
	}
	return &b->pub;
}

index_tensor_set *index_load_tensors(index_db *ix, int64_t model_id, const char *kind,
    int64_t count, char **cause)
{
	return index_load(ix, model_id, kind, count, 0, cause);
}

index_tensor_set *index_load_segment_tensors(index_db *ix, int64_t model_id, const char *kind,
    int64_t count, char **cause)
{
	if (count < 1) {
		util_set_cause(cause, "%s: bad tensor size %lld", UTIL_NAME(ix->path),
		    (long long)count);
		return NULL;
	}
	return index_load(ix, model_id, kind, count, 1, cause);
}

int index_get_segments(index_db *ix, int64_t video_id, index_segment **out, int *n,
    char **cause)
{
	index_video_row row;
	index_segment *g = NULL;
	sqlite3_stmt *st;
	int r, count = 0, cap = 0, rc;

	*out = NULL;
	*n = 0;
	if ((r = index_lookup_id(ix, video_id, &row, cause)) != 0)
		return r;
	if (ix->version >= INDEX_SCHEMA_SEGMENTS) {
		if ((st = index_stmt(ix, ST_SEGMENTS_GET, cause)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, video_id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (count == cap) {
				int nc = cap ? 2 * cap : 16;
				index_segment *ng = realloc(g, (size_t)nc * sizeof *ng);
				if (ng == NULL) {
					sqlite3_reset(st);
					util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
					goto fail;
				}
				g = ng, cap = nc;
			}
			g[count].start = sqlite3_column_double(st, 1);
			g[count].end = sqlite3_column_double(st, 2);
			g[count].frame0 = sqlite3_column_int(st, 3);
			g[count].frames = sqlite3_column_int(st, 4);
			count++;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			index_sql_error(ix, cause, "reading segments");
			goto fail;
		}
	}
	if (count == 0) {
		if ((g = malloc(sizeof *g)) == NULL) {
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
			goto fail;
		}
		g->start = 0;
		g->end = row.duration;
		g->frame0 = 0;
		g->frames = row.frames;
		count = 1;
	}
	index_row_clear(&row);
	*out = g;
	*n = count;
	return 0;
fail:
	index_row_clear(&row);
	free(g);
	return -1;
}

/* ---- derived files -------------------------------------------------------------- */

int index_snapshot_begin(index_db *ix, char **cause)
{
	if (!sqlite3_get_autocommit(ix->db))
		return 0;
	if (index_exec(ix, "BEGIN", "reading", cause) != 0)
		return -1;
	ix->snapshot = 1;
	return 0;
}

void index_snapshot_end(index_db *ix)
{
	if (!ix->snapshot)
		return;
	sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	ix->snapshot = 0;
}

int index_tensor_stamps(index_db *ix, int64_t **ids, int64_t **stamps, size_t *n,
    char **cause)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0, k = 0;
	int64_t *vi = NULL, *vs = NULL;
	int rc;

	*ids = *stamps = NULL;
	*n = 0;
	if (ix->version < INDEX_SCHEMA_STAMP)
		return 1;
	if (sqlite3_prepare_v2(ix->db, "SELECT video_id, stamp FROM tensor_stamps ORDER BY video_id",
	    -1, &st, NULL) != SQLITE_OK) {
		/* Without the table (a file from a build before it was added):
		 * no stamps, as before schema 6. */
		if (strstr(sqlite3_errmsg(ix->db), "no such table") != NULL)
			return 1;
		goto sql;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			size_t nc = cap ? 2 * cap : 1024;
			int64_t *a = realloc(vi, nc * sizeof *a), *b;
			if (a != NULL)
				vi = a;
			b = a != NULL ? realloc(vs, nc * sizeof *b) : NULL;
			if (b == NULL) {
				util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
				goto fail;
			}
			vs = b;
			cap = nc;
		}
		vi[k] = sqlite3_column_int64(st, 0);
		vs[k] = sqlite3_column_int64(st, 1);
		k++;
	}
	if (rc != SQLITE_DONE)
		goto sql;
	sqlite3_finalize(st);
	*ids = vi;
	*stamps = vs;
	*n = k;
	return 0;
sql:
	index_sql_error(ix, cause, "reading the tensor stamps");
fail:
	sqlite3_finalize(st);
	free(vi);
	free(vs);
	return -1;
}

int index_change_stamp(index_db *ix, int64_t *stamp, char **cause)
{
	*stamp = 0;
	if (ix->version < INDEX_SCHEMA_STAMP)
		return 1;
	if (index_pragma_int(ix, "SELECT stamp FROM change_stamp WHERE id = 0", stamp) != 0) {
		index_sql_error(ix, cause, "reading the change stamp");
		return -1;
	}
	return 0;
}

/* ---- clipgrep info ------------------------------------------------------------- */

void index_stats_clear(index_stats *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n_models; i++) {
		free(s->models[i].name);
		free(s->models[i].architecture);
		free(s->models[i].path);
	}
	free(s->models);
	memset(s, 0, sizeof *s);
}

static int index_stats_read(index_db *ix, index_stats *out, char **cause)
{
	static const char *const sql[] = {
		"SELECT status, count(*) FROM videos GROUP BY status",
		"SELECT count(*), coalesce(sum(length(thumb)), 0) FROM frames",
		"SELECT m.id, m.hash, m.name, m.architecture, m.added_at,"
		" (SELECT count(DISTINCT t.video_id) FROM video_tensors t WHERE t.model_id = m.id),"
		" (SELECT coalesce(sum(length(t.data)), 0) FROM video_tensors t"
		"  WHERE t.model_id = m.id), m.path, m.precision"
		" FROM models m ORDER BY m.id",
		"SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
		/* Segments of the indexed videos: a video without rows is one. */
		"SELECT (SELECT count(*) FROM videos WHERE status <> 2)"
		" - (SELECT count(DISTINCT video_id) FROM segments)"
		" + (SELECT count(*) FROM segments)",
	};
	static const char models_v1[] =
	    "SELECT m.id, m.hash, m.name, m.architecture, m.added_at,"
	    " (SELECT count(DISTINCT t.video_id) FROM video_tensors t WHERE t.model_id = m.id),"
	    " (SELECT coalesce(sum(length(t.data)), 0) FROM video_tensors t"
	    "  WHERE t.model_id = m.id), NULL, 'fp32'"
	    " FROM models m ORDER BY m.id";
	static const char models_v2[] =
	    "SELECT m.id, m.hash, m.name, m.architecture, m.added_at,"
	    " (SELECT count(DISTINCT t.video_id) FROM video_tensors t WHERE t.model_id = m.id),"
	    " (SELECT coalesce(sum(length(t.data)), 0) FROM video_tensors t"
	    "  WHERE t.model_id = m.id), m.path, 'fp32'"
	    " FROM models m ORDER BY m.id";
	int cap = 0;

	for (size_t q = 0; q < sizeof sql / sizeof sql[0]; q++) {
		sqlite3_stmt *st;
		const char *text = sql[q];
		int rc;

		/* models.path is there from schema 2 on; a read-only v1 has none. */
		if (q == 2 && ix->version < 2)
			text = models_v1;
		else if (q == 2 && ix->version < INDEX_SCHEMA_PRECISION)
			text = models_v2;
		else if (q == 4 && ix->version < INDEX_SCHEMA_SEGMENTS)
			text = "SELECT count(*) FROM videos WHERE status <> 2";
		if (sqlite3_prepare_v2(ix->db, text, -1, &st, NULL) != SQLITE_OK) {
			index_sql_error(ix, cause, "reading statistics");
			return -1;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (q == 0) {
				int status = sqlite3_column_int(st, 0);
				int64_t n = sqlite3_column_int64(st, 1);

				if (status >= 0 && status <= INDEX_ERROR)
					out->by_status[status] = n;
				out->videos += n;
			} else if (q == 1) {
				out->frames = sqlite3_column_int64(st, 0);
				out->thumb_bytes = sqlite3_column_int64(st, 1);
			} else if (q == 2) {
				index_model_stats *m;
				const void *hash = sqlite3_column_blob(st, 1);

				if (out->n_models == cap) {
					int ncap = cap > 0 ? 2 * cap : 4;
					index_model_stats *nm = realloc(out->models,
					    (size_t)ncap * sizeof *nm);

					if (nm == NULL)
						break;
					out->models = nm;
					cap = ncap;
				}
				m = &out->models[out->n_models];
				memset(m, 0, sizeof *m);
				m->id = sqlite3_column_int64(st, 0);
				if (hash != NULL && sqlite3_column_bytes(st, 1) == HASH_SIZE)
					memcpy(m->hash, hash, HASH_SIZE);
				m->name = index_column_string(st, 2);
				m->architecture = index_column_string(st, 3);
				m->added_at_ns = sqlite3_column_int64(st, 4);
				m->videos = sqlite3_column_int64(st, 5);
				m->tensor_bytes = sqlite3_column_int64(st, 6);
				m->path = index_column_string(st, 7);
				snprintf(m->precision, sizeof m->precision, "%s",
				    sqlite3_column_text(st, 8) != NULL ?
				    (const char *)sqlite3_column_text(st, 8) : "fp32");
				out->n_models++;
				if (m->name == NULL || m->architecture == NULL)
					break;
			} else if (q == 3) {
				out->db_bytes = sqlite3_column_int64(st, 0);
			} else {
				out->segments = sqlite3_column_int64(st, 0);
			}
		}
		if (rc == SQLITE_ROW) {
			sqlite3_finalize(st);
			util_set_cause(cause, "%s: out of memory", UTIL_NAME(ix->path));
			return -1;
		}
		if (rc != SQLITE_DONE) {
			index_sql_error(ix, cause, "reading statistics");
			sqlite3_finalize(st);
			return -1;
		}
		sqlite3_finalize(st);
	}
	return 0;
}

int index_get_stats(index_db *ix, index_stats *out, char **cause)
{
	int own_tx = sqlite3_get_autocommit(ix->db);
	char wal[PATH_MAX + 8];
	struct stat st;
	int rc;

	memset(out, 0, sizeof *out);
	out->schema_version = INDEX_SCHEMA_VERSION;
	if (own_tx && index_exec(ix, "BEGIN", "reading statistics", cause) != 0)
		return -1;
	rc = index_stats_read(ix, out, cause);
	if (own_tx)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	if (rc != 0) {
		index_stats_clear(out);
		return -1;
	}
	if ((size_t)snprintf(wal, sizeof wal, "%s-wal", ix->path) < sizeof wal &&
	    stat(wal, &st) == 0)
		out->wal_bytes = (int64_t)st.st_size;
	return 0;
}

/* ---- clipgrep merge ------------------------------------------------------------- */

/*
 * One attached shard into main, inside the caller's transaction.  temp
 * tables map the shard's model and video ids to ours; a shard video is
 * taken when main has no video at its path or an older one.
 */
static const char index_merge_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS merge_models(src INTEGER PRIMARY KEY,"
	" dst INTEGER NOT NULL);"
	"CREATE TEMP TABLE IF NOT EXISTS merge_videos(src INTEGER PRIMARY KEY, dst INTEGER,"
	" path BLOB NOT NULL);"
	"DELETE FROM temp.merge_models;"
	"DELETE FROM temp.merge_videos;"
	"INSERT INTO main.models(hash, name, architecture, config, added_at)"
	" SELECT hash, name, architecture, config, added_at FROM shard.models"
	" WHERE hash NOT IN (SELECT hash FROM main.models) ORDER BY id;"
	"INSERT INTO temp.merge_models(src, dst)"
	" SELECT s.id, m.id FROM shard.models s JOIN main.models m ON m.hash = s.hash;"
	"INSERT INTO temp.merge_videos(src, dst, path)"
	" SELECT s.id, m.id, s.path FROM shard.videos s"
	" LEFT JOIN main.videos m ON m.path = s.path"
	" WHERE m.id IS NULL OR m.indexed_at < s.indexed_at;"
	"DELETE FROM main.frames WHERE video_id IN"
	" (SELECT dst FROM temp.merge_videos WHERE dst IS NOT NULL);"
	"DELETE FROM main.video_tensors WHERE video_id IN"
	" (SELECT dst FROM temp.merge_videos WHERE dst IS NOT NULL);"
	"DELETE FROM main.tensors_zero_padded WHERE video_id IN"
	" (SELECT dst FROM temp.merge_videos WHERE dst IS NOT NULL);"
	"DELETE FROM main.segments WHERE video_id IN"
	" (SELECT dst FROM temp.merge_videos WHERE dst IS NOT NULL);"
	"UPDATE main.videos SET (size, mtime_ns, hash, duration, frames, status, error,"
	" indexed_at, seg_window, seg_shots, seg_sampling) = (SELECT s.size, s.mtime_ns,"
	" s.hash, s.duration, s.frames, s.status, s.error, s.indexed_at, s.seg_window,"
	" s.seg_shots, s.seg_sampling"
	" FROM temp.merge_videos mv JOIN shard.videos s ON s.id = mv.src"
	" WHERE mv.dst = videos.id)"
	" WHERE id IN (SELECT dst FROM temp.merge_videos WHERE dst IS NOT NULL);"
	"INSERT INTO main.videos(path, size, mtime_ns, hash, duration, frames, status, error,"
	" indexed_at, seg_window, seg_shots, seg_sampling) SELECT s.path, s.size, s.mtime_ns,"
	" s.hash, s.duration, s.frames, s.status, s.error, s.indexed_at, s.seg_window,"
	" s.seg_shots, s.seg_sampling"
	" FROM temp.merge_videos mv"
	" JOIN shard.videos s ON s.id = mv.src WHERE mv.dst IS NULL ORDER BY s.id;"
	"UPDATE temp.merge_videos SET dst = (SELECT v.id FROM main.videos v"
	" WHERE v.path = merge_videos.path) WHERE dst IS NULL;"
	"INSERT INTO main.frames(video_id, idx, time, thumb_width, thumb_height, thumb)"
	" SELECT mv.dst, f.idx, f.time, f.thumb_width, f.thumb_height, f.thumb"
	" FROM temp.merge_videos mv JOIN shard.frames f ON f.video_id = mv.src;"
	"INSERT INTO main.segments(video_id, idx, start, end, frame0, frames)"
	" SELECT mv.dst, g.idx, g.start, g.end, g.frame0, g.frames"
	" FROM temp.merge_videos mv JOIN shard.segments g ON g.video_id = mv.src;"
	"INSERT INTO main.video_tensors(video_id, model_id, kind, dtype, count, data)"
	" SELECT mv.dst, mm.dst, t.kind, t.dtype, t.count, t.data FROM temp.merge_videos mv"
	" JOIN shard.video_tensors t ON t.video_id = mv.src"
	" JOIN temp.merge_models mm ON mm.src = t.model_id ORDER BY mv.dst, t.id;"
	"INSERT INTO main.tensors_zero_padded(video_id, model_id)"
	" SELECT mv.dst, mm.dst FROM temp.merge_videos mv"
	" JOIN shard.tensors_zero_padded p ON p.video_id = mv.src"
	" JOIN temp.merge_models mm ON mm.src = p.model_id;";

static int index_attach(index_db *ix, const char *path, const char *query)
{
	char *uri = index_uri(path, query);
	sqlite3_stmt *st;
	int rc = SQLITE_NOMEM;

	if (uri == NULL)
		return rc;
	if ((rc = sqlite3_prepare_v2(ix->db, "ATTACH DATABASE ?1 AS shard", -1, &st,
	    NULL)) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	free(uri);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Refuse a shard whose rows would be corrupt in the output: the merge
 * copies rows with SQL, so nothing else looks at them before a later load
 * trusts them.  The checks are index_check_blob's and index_get_frames'.
 */
static int index_merge_check(index_db *out, const char *shard, char **cause)
{
	static const char sql[] =
	    "SELECT 0, t.video_id, v.path, t.kind, t.count, length(CAST(t.data AS BLOB)), 0"
	    " FROM shard.video_tensors t LEFT JOIN shard.videos v ON v.id = t.video_id"
	    " WHERE typeof(t.count) <> 'integer' OR t.count < 1 OR t.count > ?1"
	    " OR (t.dtype = ?2 AND t.count * 4 <> length(CAST(t.data AS BLOB)))"
	    " UNION ALL SELECT 1, f.video_id, v.path, f.idx, f.thumb_width, f.thumb_height, 0"
	    " FROM shard.frames f LEFT JOIN shard.videos v ON v.id = f.video_id"
	    " WHERE f.thumb_width NOT BETWEEN 0 AND ?3 OR f.thumb_height NOT BETWEEN 0 AND ?3"
	    " LIMIT 1";
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(out->db, sql, -1, &st, NULL) != SQLITE_OK) {
		util_set_cause(cause, "%s: cannot read: %s", UTIL_NAME(shard),
		    sqlite3_errmsg(out->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, INT_MAX / (int64_t)sizeof(float));
	sqlite3_bind_int(st, 2, INDEX_DTYPE_F32);
	sqlite3_bind_int(st, 3, INDEX_THUMB_MAX);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 2);
		const char *kind = (const char *)sqlite3_column_text(st, 3);
		long long video = sqlite3_column_int64(st, 1);

		if (sqlite3_column_int(st, 0) == 0)
			util_set_cause(cause, "%s: video %lld (%s): tensor \"%s\" is corrupt "
			    "(%s floats in %lld bytes)", UTIL_NAME(shard), video,
			    path != NULL ? path : "?",
			    kind != NULL ? kind : "?", sqlite3_column_text(st, 4) != NULL ?
			    (const char *)sqlite3_column_text(st, 4) : "NULL",
			    (long long)sqlite3_column_int64(st, 5));
		else
			util_set_cause(cause, "%s: video %lld (%s): frame %lld is corrupt "
			    "(thumbnail %lld x %lld)", UTIL_NAME(shard), video,
			    path != NULL ? path : "?",
			    (long long)sqlite3_column_int64(st, 3),
			    (long long)sqlite3_column_int64(st, 4),
			    (long long)sqlite3_column_int64(st, 5));
	} else if (rc != SQLITE_DONE) {
		util_set_cause(cause, "%s: cannot read: %s", UTIL_NAME(shard),
		    sqlite3_errmsg(out->db));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Precision provenance across a merge: refuse a shard whose vectors of a
 * model were made in another precision than out's vectors of it (before
 * anything is copied); with fix set (after the copy), record the shard's
 * precision for every model it brought vectors of.  A shard older than
 * schema 3 is fp32.
 */
static int index_merge_precision(index_db *out, const char *shard, int fix, char **cause)
{
	sqlite3_stmt *st;
	char sql[1024];
	const char *sp = "'fp32'";
	int rc;

	if (sqlite3_prepare_v2(out->db, "SELECT precision FROM shard.models LIMIT 0", -1, &st,
	    NULL) == SQLITE_OK)
		sp = "(SELECT s2.precision FROM shard.models s2 WHERE s2.hash = s.hash)";
	sqlite3_finalize(st);
	if (fix)
		snprintf(sql, sizeof sql,
		    "UPDATE main.models SET precision = (SELECT %s FROM shard.models s"
		    " WHERE s.hash = models.hash) WHERE hash IN (SELECT s.hash FROM shard.models s"
		    " WHERE EXISTS (SELECT 1 FROM shard.video_tensors t WHERE t.model_id = s.id))", sp);
	else
		snprintf(sql, sizeof sql,
		    "SELECT m.name, m.precision, %s FROM shard.models s"
		    " JOIN main.models m ON m.hash = s.hash WHERE m.precision <> %s"
		    " AND EXISTS (SELECT 1 FROM main.video_tensors t WHERE t.model_id = m.id)"
		    " AND EXISTS (SELECT 1 FROM shard.video_tensors t WHERE t.model_id = s.id)"
		    " LIMIT 1", sp, sp);
	if (sqlite3_prepare_v2(out->db, sql, -1, &st, NULL) != SQLITE_OK) {
		util_set_cause(cause, "%s: cannot read: %s", UTIL_NAME(shard),
		    sqlite3_errmsg(out->db));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		util_set_cause(cause, "%s: its vectors of model '%s' were made in %s, those of %s in %s: "
		    "an index holds one precision per model; index the shard again with "
		    "--precision %s (or %s with --precision %s --reencode)", UTIL_NAME(shard),
		    name != NULL && *name ? name : "?", (const char *)sqlite3_column_text(st, 2),
		    UTIL_NAME(out->path), (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 1), UTIL_NAME(out->path),
		    (const char *)sqlite3_column_text(st, 2));
	} else if (rc != SQLITE_DONE) {
		util_set_cause(cause, "%s: merging %s: %s", UTIL_NAME(out->path), UTIL_NAME(shard),
		    sqlite3_errmsg(out->db));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 when the attached shard's table has column col (a probe: prepare only). */
static int index_shard_has_column(index_db *out, const char *table, const char *col)
{
	char sql[128];
	sqlite3_stmt *st;
	int ok;

	snprintf(sql, sizeof sql, "SELECT %s FROM shard.%s LIMIT 0", col, table);
	ok = sqlite3_prepare_v2(out->db, sql, -1, &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	return ok;
}

/*
 * index_merge_sql for the attached shard, which may be an older clipgrep's
 * (read-only here, so not migrated): before schema 4 it has no segments
 * (its videos are whole: window 0, no shots, no segment rows to copy),
 * before schema 5 no sampling column (exact).  *sql is NULL when the shard
 * is current (use index_merge_sql), else newly allocated.  0, or -1 out
 * of memory.
 */
static int index_merge_sql_for_shard(index_db *out, char **sql)
{
	static const char *const cols[] = { "s.seg_window", "s.seg_shots", "s.seg_sampling" };
	int missing[3], segments = index_shard_has_column(out, "segments", "idx");
	const char *seg = strstr(index_merge_sql, "INSERT INTO main.segments");
	const char *seg_end = seg != NULL ? strchr(seg, ';') : NULL;
	size_t n = 0;

	*sql = NULL;
	missing[0] = missing[1] = !index_shard_has_column(out, "videos", "seg_window");
	missing[2] = !index_shard_has_column(out, "videos", "seg_sampling");
	if (segments && !missing[0] && !missing[2])
		return 0;
	if (seg_end == NULL || (*sql = malloc(sizeof index_merge_sql)) == NULL)
		return -1;
	/* Copy, with the shard's missing columns as 0 and, without segments, no segments' copy. */
	for (const char *p = index_merge_sql; *p != '\0';) {
		int c = 0;

		if (p == seg && !segments) {
			p = seg_end + 1;
			continue;
		}
		while (c < 3 && !(missing[c] && strncmp(p, cols[c], strlen(cols[c])) == 0))
			c++;
		if (c < 3) {
			(*sql)[n++] = '0';
			p += strlen(cols[c]);
		} else {
			(*sql)[n++] = *p++;
		}
	}
	(*sql)[n] = '\0';
	return 0;
}

static int index_merge_one(index_db *out, const char *shard, char **cause)
{
	char *old_sql = NULL;
	int rc;

	rc = index_attach(out, shard, "mode=ro");
	if (rc != SQLITE_OK)
		rc = index_attach(out, shard, "mode=ro&immutable=1");
	if (rc != SQLITE_OK) {
		util_set_cause(cause, "%s: cannot read: %s", UTIL_NAME(shard),
		    sqlite3_errmsg(out->db));
		return -1;
	}
	if (index_merge_sql_for_shard(out, &old_sql) == -1) {
		util_set_cause(cause, "%s: merging %s: out of memory", UTIL_NAME(out->path),
		    UTIL_NAME(shard));
		sqlite3_exec(out->db, "DETACH DATABASE shard", NULL, NULL, NULL);
		return -1;
	}
	rc = index_exec(out, "BEGIN IMMEDIATE", NULL, cause);
	if (rc == 0 && (index_merge_check(out, shard, cause) != 0 ||
	    index_merge_precision(out, shard, 0, cause) != 0)) {
		sqlite3_exec(out->db, "ROLLBACK", NULL, NULL, NULL);
		rc = -1;
	} else if (rc == 0) {
		if (sqlite3_exec(out->db, old_sql != NULL ? old_sql : index_merge_sql, NULL, NULL,
		    NULL) != SQLITE_OK) {
			util_set_cause(cause, "%s: merging %s: %s", UTIL_NAME(out->path),
			    UTIL_NAME(shard),
			    sqlite3_errmsg(out->db));
			sqlite3_exec(out->db, "ROLLBACK", NULL, NULL, NULL);
			rc = -1;
		} else if (index_merge_precision(out, shard, 1, cause) != 0) {
			sqlite3_exec(out->db, "ROLLBACK", NULL, NULL, NULL);
			rc = -1;
		} else {
			rc = index_exec(out, "COMMIT", "merging", cause);
		}
	}
	sqlite3_exec(out->db, "DETACH DATABASE shard", NULL, NULL, NULL);
	free(old_sql);
	return rc;
}

int index_merge(const char *out_path, const char *const *shard_paths, int n, char **cause)
{
	struct stat so, ss;
	index_db *out;
	int rc = 0;

	/* Open each shard on its own first: its refusal names it. */
	for (int i = 0; i < n; i++) {
		index_db *probe = index_open(shard_paths[i], INDEX_READONLY, cause);

		if (probe == NULL)
			return -1;
		index_close(probe);
	}
	out = index_open(out_path, INDEX_CREATE, cause);
	if (out == NULL)
		return -1;
	if (index_lock_writer(out, 0, cause) != 0) {
		index_close(out);
		return -1;
	}
	if (stat(out_path, &so) != 0)
		memset(&so, 0, sizeof so);
	for (int i = 0; i < n && rc == 0; i++) {
		if (stat(shard_paths[i], &ss) == 0 && ss.st_dev == so.st_dev &&
		    ss.st_ino == so.st_ino) {
			util_set_cause(cause, "%s: cannot merge an index into itself",
			    UTIL_NAME(shard_paths[i]));
			rc = -1;
			break;
		}
		rc = index_merge_one(out, shard_paths[i], cause);
	}
	index_close(out);
	return rc;
}

/* ---- consistency check ------------------------------------------------------------ */

int index_check(index_db *ix, char **cause)
{
	static const char *const sql[] = {
		"PRAGMA integrity_check(5)",
		"SELECT 'foreign key: ' || \"table\" || ' row ' || rowid || ' has no '"
		" || parent FROM pragma_foreign_key_check LIMIT 5",
		"SELECT 'video ' || id || ': ' || frames || ' frames recorded, '"
		" || (SELECT count(*) FROM frames f WHERE f.video_id = v.id) || ' stored'"
		" FROM videos v WHERE frames <> (SELECT count(*) FROM frames f"
		" WHERE f.video_id = v.id) LIMIT 5",
		"SELECT 'video ' || g.video_id || ': segment ' || g.idx || ' past its '"
		" || v.frames || ' frames' FROM segments g JOIN videos v ON v.id = g.video_id"
		" WHERE g.frame0 + g.frames > v.frames LIMIT 5",
	};
	char problems[1024] = "";
	size_t used = 0;
	int own_tx = sqlite3_get_autocommit(ix->db);

	if (own_tx && index_exec(ix, "BEGIN", "checking", cause) != 0)
		return -1;
	for (size_t q = 0; q < sizeof sql / sizeof sql[0]; q++) {
		sqlite3_stmt *st;
		int rc;

		if (q == 3 && ix->version < INDEX_SCHEMA_SEGMENTS)
			continue; /* a read-only older index has no segments */
		if (sqlite3_prepare_v2(ix->db, sql[q], -1, &st, NULL) != SQLITE_OK) {
			index_sql_error(ix, cause, "checking");
			goto fail;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *line = (const char *)sqlite3_column_text(st, 0);

			if (line == NULL || (q == 0 && strcmp(line, "ok") == 0))
				continue;
			if (used < sizeof problems - 1)
				used += (size_t)snprintf(problems + used, sizeof problems - used,
				    "%s%s", used > 0 ? "; " : "", line);
			if (used > sizeof problems - 1)
				used = sizeof problems - 1;
		}
		if (rc != SQLITE_DONE) {
			index_sql_error(ix, cause, "checking");
			sqlite3_finalize(st);
			goto fail;
		}
		sqlite3_finalize(st);
	}
	if (own_tx)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	if (used > 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(ix->path), problems);
		return -1;
	}
	return 0;
fail:
	if (own_tx)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	return -1;
}

/* ---- damaged records ------------------------------------------------------------ */

/*
 * Kind 0: a tensor row index_check_blob would refuse, from the header and
 * length() alone (SQLite reads no overflow page for either).  Kind 1: a
 * (video, model) with fewer kinds than the model's fullest video: a row
 * lost.  Videos of status error hold no tensors and are not indexed again.
 * Both are damage in every schema (index_damaged_sql).
 */
#define INDEX_DAMAGED_ROWS \
	"SELECT 0, t.video_id, v.path, t.model_id, t.kind, t.dtype, t.count, length(t.data)" \
	" FROM video_tensors t JOIN videos v ON v.id = t.video_id" \
	" WHERE v.status <> 2 AND (t.dtype IS NOT ?2 OR typeof(t.count) <> 'integer'" \
	" OR t.count < 1 OR t.count > ?1 OR typeof(t.data) <> 'blob'" \
	" OR t.count * 4 <> length(t.data))" \
	" UNION ALL SELECT 1, p.video_id, v.path, p.model_id, NULL, p.k, w.k, 0" \
	" FROM (SELECT video_id, model_id, count(*) AS k FROM video_tensors" \
	"  GROUP BY video_id, model_id) p" \
	" JOIN (SELECT model_id, max(k) AS k FROM (SELECT model_id, count(*) AS k" \
	"  FROM video_tensors GROUP BY video_id, model_id) GROUP BY model_id) w" \
	"  ON w.model_id = p.model_id" \
	" JOIN videos v ON v.id = p.video_id WHERE v.status <> 2 AND p.k < w.k"

static const char index_damaged_sql[] = INDEX_DAMAGED_ROWS " ORDER BY 2, 4, 1";

/*
 * Kind 2, from schema 4 on: a long video's tensor that does not
 * divide into its segments: every segment stores the same shapes, so such
 * a row was written for another cut and search cannot split it.
 */
static const char index_damaged_segments_sql[] = INDEX_DAMAGED_ROWS
	" UNION ALL SELECT 2, t.video_id, v.path, t.model_id, t.kind, s.n, t.count, 0"
	" FROM video_tensors t JOIN videos v ON v.id = t.video_id"
	" JOIN (SELECT video_id, count(*) AS n FROM segments GROUP BY video_id) s"
	"  ON s.video_id = t.video_id"
	" WHERE v.status <> 2 AND typeof(t.count) = 'integer' AND t.count % s.n <> 0"
	" ORDER BY 2, 4, 1";

int index_list_damaged(index_db *ix, index_damage_fn fn, void *arg, char **cause)
{
	int own_tx = sqlite3_get_autocommit(ix->db);
	int64_t last_video = -1, last_model = -1;
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (own_tx && index_exec(ix, "BEGIN", "checking tensors", cause) != 0)
		return -1;
	if (sqlite3_prepare_v2(ix->db, ix->version >= INDEX_SCHEMA_SEGMENTS ?
	    index_damaged_segments_sql : index_damaged_sql, -1, &st, NULL) != SQLITE_OK) {
		index_sql_error(ix, cause, "checking tensors");
		ret = -1;
		goto out;
	}
	sqlite3_bind_int64(st, 1, INT_MAX / (int64_t)sizeof(float));
	sqlite3_bind_int(st, 2, INDEX_DTYPE_F32);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		index_damage d;
		char reason[256];
		const char *kind = (const char *)sqlite3_column_text(st, 4);
		const char *count = (const char *)sqlite3_column_text(st, 6);
		int64_t dtype = sqlite3_column_int64(st, 5);
		char *path = index_column_string(st, 2);

		d.video_id = sqlite3_column_int64(st, 1);
		d.model_id = sqlite3_column_int64(st, 3);
		if (d.video_id == last_video && d.model_id == last_model) {
			free(path);
			continue; /* one report per (video, model): its first problem */
		}
		last_video = d.video_id;
		last_model = d.model_id;
		if (sqlite3_column_int(st, 0) == 2)
			snprintf(reason, sizeof reason, "tensor \"%s\" (%s floats) does not divide into "
			    "the video's %lld segments", kind != NULL ? kind : "?",
			    count != NULL ? count : "NULL", (long long)dtype);
		else if (sqlite3_column_int(st, 0) == 1)
			snprintf(reason, sizeof reason, "%lld of the model's %lld tensors are missing",
			    (long long)(sqlite3_column_int64(st, 6) - dtype),
			    (long long)sqlite3_column_int64(st, 6));
		else if (sqlite3_column_type(st, 5) != SQLITE_INTEGER || dtype != INDEX_DTYPE_F32)
			snprintf(reason, sizeof reason, "tensor \"%s\" has dtype %s, which this "
			    "clipgrep cannot read", kind != NULL ? kind : "?",
			    sqlite3_column_text(st, 5) != NULL ?
			    (const char *)sqlite3_column_text(st, 5) : "NULL");
		else
			snprintf(reason, sizeof reason, "tensor \"%s\" is corrupt (%s floats in %lld "
			    "bytes)", kind != NULL ? kind : "?", count != NULL ? count : "NULL",
			    (long long)sqlite3_column_int64(st, 7));
		d.path = path != NULL ? path : "?";
		d.reason = reason;
		ret = fn(arg, &d);
		free(path);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		index_sql_error(ix, cause, "checking tensors");
		ret = -1;
	}
	sqlite3_finalize(st);
out:
	if (own_tx)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	return ret;
}
