/* The embedded backend: one SQLite database per user for metadata, one
   immutable file per message. See store.h for the layout.

   Durability: the database runs in WAL mode with synchronous=FULL, so
   every COMMIT fsyncs the WAL before returning. (NORMAL would only sync at
   checkpoints, and a power loss could then drop transactions we already
   acknowledged with 250/OK.) A message file is fsynced, renamed into
   blobs/ and its directory fsynced before the transaction that adds its
   row commits; so a committed row always has its file, and a crash can at
   worst leave a file without a row, which store_check() removes.

   The rename into blobs/ happens inside the write transaction (BEGIN
   IMMEDIATE). That is what lets store_check(), holding the same write
   lock, tell a crashed save's file from one another process is about to
   commit. */
#include "store/store-private.h"
#include "store/store-vfs.h"

#include "lib/limits.h"
#include "lib/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct log_ctx sq_log_ctx = { .proto = "store" };

#define SQ_MSG_COLS                                                         \
	"uid, flags, keywords, modseq, size, blob_id, internal_date, "      \
	"save_date, pop3_retrieved"
#define SQ_MB_COLS                                                          \
	"id, name, uidvalidity, uidnext, highestmodseq, special_use, "      \
	"name IN (SELECT name FROM subscriptions)"

enum sq_stmt_id {
	S_BEGIN,
	S_BEGIN_READ,
	S_COMMIT,
	S_ROLLBACK,
	S_MODSEQ_NEXT,
	S_META_GET,
	S_META_SET,
	S_MB_BY_NAME,
	S_MB_BY_ID,
	S_MB_MODSEQ,
	S_MB_LIST,
	S_MB_INSERT,
	S_MB_SET_UIDNEXT,
	S_MB_SET_MODSEQ,
	S_SUB_ADD,
	S_SUB_REMOVE,
	S_SUB_LIST,
	S_MB_SET_SPECIAL,
	S_MB_DELETE,
	S_MB_RENAME,
	S_MB_FAMILY,
	S_STATUS,
	S_MSG_LIST,
	S_MSG_GET,
	S_MSG_RANGE,
	S_MSG_CHANGED,
	S_MSG_INSERT,
	S_MSG_DELETE,
	S_MSG_SET_FLAGS,
	S_MSG_SET_POP3,
	S_MSG_BY_BLOB,
	S_MSG_POP3_EXPIRED,
	S_MSG_UIDS,
	S_EXP_INSERT,
	S_EXP_SINCE,
	S_EXP_DELETE_MB,
	S_EXP_NTH,
	S_EXP_TRIM,
	S_MB_SET_FLOOR,
	S_MB_FLOOR,
	S_MB_RECENT_GET,
	S_MB_RECENT_SET,
	S_BLOB_INSERT,
	S_BLOB_REF,
	S_BLOB_DELETE_LAST,
	S_BLOB_GET,
	S_BLOB_ALL,
	S_BLOB_DELETE,
	S_JOURNAL_PUT,
	S_JOURNAL_DROP,
	S_JOURNAL_ALL,
	S_FTS_DELETE,
	S_FTS_INSERT,
	S_FTS_STATE,
	S_FTS_UNINDEXED,
	S_FTS_PENDING,
	S_FTS_GARBAGE,
	S_FTS_GARBAGE_COUNT,
	S_FTS_ROW_COUNT,
	S_FTS_GARBAGE_CLEAR,
	S_FTS_DROP_ROW,
	S_FTS_DROP_GARBAGE,
	S_FTS_ROW,
	S_KW_ALL,
	S_KW_GET,
	S_KW_COUNT,
	S_KW_INSERT,
	S_USAGE_GET,
	S_USAGE_COUNT,
	S_USAGE_INIT,
	S_USAGE_ADD,
	S_USAGE_CLEAR,
	S_META_LIST,
	S_META_PUT,
	S_META_DEL,
	S_META_COUNT,
	S_META_TOTAL,
	S_META_DELETE_MB,
	S_THREAD_GET,
	S_THREAD_SET,
	S_THREAD_MSGID_GET,
	S_THREAD_MSGID_ADD,
	S_CACHE_GET0,
	S_CACHE_SET0 = S_CACHE_GET0 + STORE_CACHE_FIELD_COUNT,
	S_COUNT = S_CACHE_SET0 + STORE_CACHE_FIELD_COUNT
};

#define SQ_CACHE_GET(col) "SELECT " col " FROM blobs WHERE id = ?"
#define SQ_CACHE_SET(col) "UPDATE blobs SET " col " = ? WHERE id = ?"

static const char *const sq_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	/* a read snapshot (deferred: no write lock) */
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	/* No RETURNING: SQLite runs such a statement into a temporary
	   table first, which cost more than the update (twice the
	   statements, half the time). */
	[S_MODSEQ_NEXT] = "UPDATE meta SET value = value + 1 "
			  "WHERE key = 'modseq'",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?",
	[S_META_SET] = "UPDATE meta SET value = ? WHERE key = ?",
	[S_MB_BY_NAME] = "SELECT " SQ_MB_COLS " FROM mailboxes WHERE name = ?",
	[S_MB_BY_ID] = "SELECT " SQ_MB_COLS " FROM mailboxes WHERE id = ?",
	[S_MB_MODSEQ] = "SELECT highestmodseq FROM mailboxes WHERE id = ?",
	[S_MB_LIST] = "SELECT " SQ_MB_COLS " FROM mailboxes ORDER BY name",
	[S_MB_INSERT] = "INSERT INTO mailboxes (name, uidvalidity, uidnext, "
			"highestmodseq, special_use, subscribed) "
			"VALUES (?, ?, ?, ?, ?, 0)",
	[S_MB_SET_UIDNEXT] = "UPDATE mailboxes SET uidnext = ?, "
			     "highestmodseq = ? WHERE id = ?",
	[S_MB_SET_MODSEQ] = "UPDATE mailboxes SET highestmodseq = ? "
			    "WHERE id = ?",
	[S_SUB_ADD] = "INSERT OR IGNORE INTO subscriptions (name) VALUES (?)",
	[S_SUB_REMOVE] = "DELETE FROM subscriptions WHERE name = ?",
	[S_SUB_LIST] = "SELECT name FROM subscriptions ORDER BY name",
	[S_MB_SET_SPECIAL] = "UPDATE mailboxes SET special_use = ? "
			     "WHERE name = ?",
	[S_MB_DELETE] = "DELETE FROM mailboxes WHERE id = ?",
	[S_MB_RENAME] = "UPDATE mailboxes SET name = ? WHERE id = ?",
	/* The mailbox and all below it; '0' is the byte after '/', and
	   TEXT compares bytewise. */
	[S_MB_FAMILY] = "SELECT id, name FROM mailboxes WHERE name = ?1 OR "
			"(name > ?1 || '/' AND name < ?1 || '0')",
	[S_STATUS] = "SELECT COUNT(*), COALESCE(SUM((flags & 1) = 0), 0), "
		     "COALESCE(SUM((flags & 8) != 0), 0), "
		     "COALESCE(SUM(size), 0), COALESCE(SUM(uid >= max(?2, "
		     "(SELECT first_recent_uid FROM mailboxes WHERE id = ?1)"
		     ")), 0), COALESCE(SUM(CASE WHEN (flags & 8) != 0 THEN "
		     "size END), 0) FROM messages WHERE mailbox_id = ?1",
	[S_MSG_LIST] = "SELECT " SQ_MSG_COLS " FROM messages "
		       "WHERE mailbox_id = ? ORDER BY uid",
	[S_MSG_GET] = "SELECT " SQ_MSG_COLS " FROM messages "
		      "WHERE mailbox_id = ? AND uid = ?",
	[S_MSG_RANGE] = "SELECT " SQ_MSG_COLS " FROM messages "
			"WHERE mailbox_id = ? AND uid BETWEEN ? AND ? "
			"ORDER BY uid",
	/* INDEXED BY: for "ORDER BY uid" the planner would rather walk
	   every message of the mailbox in key order than sort the few
	   changed ones, and this runs after every change a session makes
	   (the same for the expunge log below). */
	[S_MSG_CHANGED] = "SELECT " SQ_MSG_COLS " FROM messages "
			  "INDEXED BY messages_modseq "
			  "WHERE mailbox_id = ? AND modseq > ?",
	[S_MSG_INSERT] = "INSERT INTO messages (mailbox_id, uid, blob_id, "
			 "size, internal_date, save_date, flags, keywords, "
			 "modseq, pop3_retrieved) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
	[S_MSG_DELETE] = "DELETE FROM messages WHERE mailbox_id = ? "
			 "AND uid = ?",
	[S_MSG_SET_FLAGS] = "UPDATE messages SET flags = ?, keywords = ?, "
			    "modseq = ? WHERE mailbox_id = ? AND uid = ?",
	[S_MSG_SET_POP3] = "UPDATE messages SET pop3_retrieved = ?, "
			   "flags = flags | 1, modseq = ? "
			   "WHERE mailbox_id = ? AND uid = ?",
	[S_MSG_BY_BLOB] = "SELECT mailbox_id, uid FROM messages "
			  "WHERE blob_id = ?",
	[S_MSG_POP3_EXPIRED] = "SELECT uid, blob_id, size FROM messages "
			       "WHERE mailbox_id = ? AND pop3_retrieved > 0 "
			       "AND pop3_retrieved < ? ORDER BY uid",
	[S_MSG_UIDS] = "SELECT uid, blob_id, size FROM messages "
		       "WHERE mailbox_id = ? AND uid BETWEEN ? AND ? "
		       "ORDER BY uid",
	[S_EXP_INSERT] = "INSERT OR REPLACE INTO expunged (mailbox_id, uid, "
			 "modseq) VALUES (?, ?, ?)",
	[S_EXP_SINCE] = "SELECT uid FROM expunged INDEXED BY expunged_modseq "
			"WHERE mailbox_id = ? AND modseq > ?",
	[S_EXP_DELETE_MB] = "DELETE FROM expunged WHERE mailbox_id = ?",
	[S_EXP_NTH] = "SELECT modseq FROM expunged WHERE mailbox_id = ? "
		      "ORDER BY modseq DESC LIMIT 1 OFFSET ?",
	[S_EXP_TRIM] = "DELETE FROM expunged WHERE mailbox_id = ? "
		       "AND modseq <= ?",
	[S_MB_SET_FLOOR] = "UPDATE mailboxes SET expunge_floor = "
			   "max(expunge_floor, ?) WHERE id = ?",
	[S_MB_FLOOR] = "SELECT expunge_floor FROM mailboxes WHERE id = ?",
	[S_MB_RECENT_GET] = "SELECT first_recent_uid, uidnext FROM mailboxes "
			    "WHERE id = ?",
	[S_MB_RECENT_SET] = "UPDATE mailboxes SET first_recent_uid = "
			    "max(first_recent_uid, ?) WHERE id = ?",
	[S_BLOB_INSERT] = "INSERT INTO blobs (id, size, refcount, c_envelope, "
			  "c_body, c_bodystructure, c_parts, c_preview) "
			  "VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
	[S_BLOB_REF] = "UPDATE blobs SET refcount = refcount + ? WHERE id = ?",
	/* The last reference going: the blob row goes. */
	[S_BLOB_DELETE_LAST] = "DELETE FROM blobs WHERE id = ? "
			       "AND refcount <= 1",
	[S_BLOB_GET] = "SELECT size FROM blobs WHERE id = ?",
	[S_BLOB_ALL] = "SELECT id FROM blobs",
	[S_BLOB_DELETE] = "DELETE FROM blobs WHERE id = ?",
	[S_JOURNAL_PUT] = "INSERT OR REPLACE INTO blob_journal (id, data) "
			  "VALUES (?, ?)",
	[S_JOURNAL_DROP] = "DELETE FROM blob_journal WHERE id = ?",
	[S_JOURNAL_ALL] = "SELECT id, data FROM blob_journal",
	[S_FTS_DELETE] = "DELETE FROM fts WHERE rowid = ?",
	[S_FTS_INSERT] = "INSERT INTO fts (rowid, root, addr, other, body) "
			 "VALUES (?, ?, ?, ?, ?)",
	[S_FTS_STATE] = "UPDATE blobs SET fts = ? WHERE id = ?",
	/* From the pending blobs (the partial index, usually empty) to
	   their messages in this mailbox; CROSS JOIN keeps that order. */
	[S_FTS_UNINDEXED] = "SELECT m.blob_id FROM blobs b "
			    "CROSS JOIN messages m ON m.blob_id = b.id "
			    "WHERE (b.fts IS NULL OR b.fts = 0) AND "
			    "m.mailbox_id = ?",
	/* The first term is the partial index's own condition, so the
	   index serves the query; incomplete rows (fts = 0) are few. */
	[S_FTS_PENDING] = "SELECT id FROM blobs WHERE (fts IS NULL OR "
			  "fts = 0) AND fts IS NULL LIMIT ?",
	[S_FTS_GARBAGE] = "SELECT id FROM fts_garbage LIMIT ?",
	/* garbage ids, and those of them that have a row */
	[S_FTS_GARBAGE_COUNT] = "SELECT COUNT(*), COALESCE(SUM(EXISTS ("
				"SELECT 1 FROM fts_docsize d "
				"WHERE d.id = g.id)), 0) "
				"FROM fts_garbage g",
	[S_FTS_ROW_COUNT] = "SELECT COUNT(*) FROM fts_docsize",
	[S_FTS_GARBAGE_CLEAR] = "DELETE FROM fts_garbage",
	[S_FTS_DROP_ROW] = "DELETE FROM fts WHERE rowid = ?",
	[S_FTS_DROP_GARBAGE] = "DELETE FROM fts_garbage WHERE id = ?",
	[S_FTS_ROW] = "SELECT root, addr, other, body FROM fts "
		      "WHERE rowid = ?",
	[S_KW_ALL] = "SELECT id, name FROM keywords ORDER BY id",
	[S_KW_GET] = "SELECT id FROM keywords WHERE name = ?",
	[S_KW_COUNT] = "SELECT COUNT(*) FROM keywords",
	[S_KW_INSERT] = "INSERT INTO keywords (id, name) VALUES (?, ?)",
	/* Quota usage counters: two meta rows, absent until first needed
	   (then counted from the messages table), kept in step by every
	   insert and delete of a message row in the same transaction. */
	[S_USAGE_GET] = "SELECT (SELECT value FROM meta WHERE key = "
			"'quota_messages'), (SELECT value FROM meta WHERE "
			"key = 'quota_storage')",
	[S_USAGE_COUNT] = "SELECT COUNT(*), COALESCE(SUM(size), 0) "
			  "FROM messages",
	[S_USAGE_INIT] = "INSERT OR REPLACE INTO meta (key, value) VALUES "
			 "('quota_messages', ?1), ('quota_storage', ?2)",
	[S_USAGE_ADD] = "UPDATE meta SET value = value + CASE key WHEN "
			"'quota_messages' THEN ?1 ELSE ?2 END "
			"WHERE key IN ('quota_messages', 'quota_storage')",
	[S_USAGE_CLEAR] = "DELETE FROM meta WHERE key IN "
			  "('quota_messages', 'quota_storage')",
	/* An entry and every entry below it, as S_MB_FAMILY does for
	   mailbox names. */
	[S_META_LIST] = "SELECT name, value FROM metadata WHERE mailbox_id = ?1"
			" AND (name = ?2 OR (name > ?2 || '/' AND"
			" name < ?2 || '0')) ORDER BY name",
	[S_META_PUT] = "INSERT OR REPLACE INTO metadata (mailbox_id, name, "
		       "value) VALUES (?, ?, ?)",
	[S_META_DEL] = "DELETE FROM metadata WHERE mailbox_id = ? AND "
		       "name = ?",
	[S_META_COUNT] = "SELECT COUNT(*) FROM metadata WHERE mailbox_id = ?",
	[S_META_TOTAL] = "SELECT COALESCE(SUM(length(CAST(name AS BLOB)) + "
			 "length(value)), 0) FROM metadata",
	[S_META_DELETE_MB] = "DELETE FROM metadata WHERE mailbox_id = ?",
	[S_THREAD_GET] = "SELECT thread_id FROM threads_blob "
			 "WHERE blob_id = ?",
	[S_THREAD_SET] = "INSERT OR REPLACE INTO threads_blob "
			 "(blob_id, thread_id) VALUES (?, ?)",
	[S_THREAD_MSGID_GET] = "SELECT thread_id FROM threads_msgid "
			       "WHERE msgid = ?",
	/* An id already known keeps its thread (store.h "threads"). */
	[S_THREAD_MSGID_ADD] = "INSERT OR IGNORE INTO threads_msgid "
			       "(msgid, thread_id) VALUES (?, ?)",
	[S_CACHE_GET0 + STORE_CACHE_ENVELOPE] = SQ_CACHE_GET("c_envelope"),
	[S_CACHE_GET0 + STORE_CACHE_BODY] = SQ_CACHE_GET("c_body"),
	[S_CACHE_GET0 + STORE_CACHE_BODYSTRUCTURE] =
		SQ_CACHE_GET("c_bodystructure"),
	[S_CACHE_GET0 + STORE_CACHE_PARTS] = SQ_CACHE_GET("c_parts"),
	[S_CACHE_GET0 + STORE_CACHE_PREVIEW] = SQ_CACHE_GET("c_preview"),
	[S_CACHE_SET0 + STORE_CACHE_ENVELOPE] = SQ_CACHE_SET("c_envelope"),
	[S_CACHE_SET0 + STORE_CACHE_BODY] = SQ_CACHE_SET("c_body"),
	[S_CACHE_SET0 + STORE_CACHE_BODYSTRUCTURE] =
		SQ_CACHE_SET("c_bodystructure"),
	[S_CACHE_SET0 + STORE_CACHE_PARTS] = SQ_CACHE_SET("c_parts"),
	[S_CACHE_SET0 + STORE_CACHE_PREVIEW] = SQ_CACHE_SET("c_preview"),
};

/* Version 3 of the schema. Cache columns sit on the blob, not the message
   row: COPY/MOVE share the file, so they share its parse too. Keywords
   are a 64-bit mask per message plus a per-user name table.
   first_recent_uid (added in version 2): messages with a UID at or above
   it are still \Recent for the next session that claims them (RFC 3501
   2.3.2); a new mailbox starts at 1, so everything saved into it is.
   subscriptions (added in version 3): the subscribed names, which need
   not be mailboxes (RFC 3501 6.3.6); mailboxes.subscribed is no longer
   read or written. */
static const char sq_schema[] =
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT INTO meta VALUES ('modseq', 0), ('uidvalidity', 0);"
	"CREATE TABLE mailboxes ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL,"
	" highestmodseq INTEGER NOT NULL,"
	" special_use INTEGER NOT NULL DEFAULT 0,"
	" subscribed INTEGER NOT NULL DEFAULT 0,"
	" expunge_floor INTEGER NOT NULL DEFAULT 0,"
	" first_recent_uid INTEGER NOT NULL DEFAULT 1);"
	"CREATE TABLE blobs ("
	" id INTEGER PRIMARY KEY,"
	" size INTEGER NOT NULL,"
	" refcount INTEGER NOT NULL,"
	" c_envelope BLOB, c_body BLOB, c_bodystructure BLOB,"
	" c_parts BLOB, c_preview BLOB);"
	"CREATE TABLE messages ("
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" blob_id INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" internal_date INTEGER NOT NULL,"
	" save_date INTEGER NOT NULL,"
	" flags INTEGER NOT NULL,"
	" keywords INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" pop3_retrieved INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
	"CREATE INDEX messages_blob ON messages (blob_id);"
	"CREATE INDEX messages_pop3 ON messages (mailbox_id, pop3_retrieved)"
	" WHERE pop3_retrieved > 0;"
	"CREATE TABLE expunged ("
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);"
	"CREATE TABLE keywords ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE);"
	"CREATE TABLE subscriptions (name TEXT PRIMARY KEY) WITHOUT ROWID;"
	"PRAGMA user_version = 3;";

/* Version 1 -> 2: adds first_recent_uid. Messages saved before the upgrade
   were never tracked; they count as already seen by some session (not
   recent), so an upgrade does not flood clients with \Recent. */
static const char sq_upgrade_1_2[] =
	"ALTER TABLE mailboxes ADD COLUMN"
	" first_recent_uid INTEGER NOT NULL DEFAULT 1;"
	"UPDATE mailboxes SET first_recent_uid = uidnext;"
	"PRAGMA user_version = 2;";

/* Version 2 -> 3: subscriptions move from a flag on the mailbox row to a
   list of names of their own, so DELETE keeps them (RFC 3501 6.3.6). */
static const char sq_upgrade_2_3[] =
	"CREATE TABLE subscriptions (name TEXT PRIMARY KEY) WITHOUT ROWID;"
	"INSERT INTO subscriptions (name)"
	" SELECT name FROM mailboxes WHERE subscribed != 0;"
	"PRAGMA user_version = 3;";

/* Version 3 -> 4: the full-text index. One FTS5 row per blob (rowid =
   blob id) with the columns of enum store_fts_column, content kept so
   a candidate can be checked against its text and short strings found
   without the index. Trigrams serve IMAP's substring match; the text
   arrives case-folded, hence case_sensitive. detail=column: no token
   positions (the biggest part of a trigram index); a query ANDs the
   string's trigrams and the caller checks the text. blobs.fts is the
   row's state: NULL none (saved before this version, or not indexed),
   0 incomplete, 1 complete. The trigger drops the row with its blob
   on every path that deletes blobs. */
#define SQ_FTS_COLUMNS \
	"(root, addr, other, body," \
	" tokenize = 'trigram case_sensitive 1', detail = column)"
static const char sq_upgrade_3_4[] =
	"CREATE VIRTUAL TABLE fts USING fts5" SQ_FTS_COLUMNS ";"
	"ALTER TABLE blobs ADD COLUMN fts INTEGER;"
	"CREATE TRIGGER blobs_fts_delete AFTER DELETE ON blobs"
	" BEGIN DELETE FROM fts WHERE rowid = old.id; END;"
	"PRAGMA user_version = 4;";

/* Version 4 -> 5: METADATA (RFC 5464) entries. mailbox_id 0 holds the
   server's entries; name is the canonical entry name with its
   "/private" or "/shared" prefix, so the private and the shared entry of
   one mailbox are distinct rows. Rows follow the mailbox id: RENAME keeps
   them, DELETE removes them. IF NOT EXISTS: tests (and a downgrade that
   only lowered user_version) may bring an older version number back to a
   database that already has the table. */
static const char sq_upgrade_4_5[] =
	"CREATE TABLE IF NOT EXISTS metadata ("
	" mailbox_id INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" value BLOB NOT NULL,"
	" PRIMARY KEY (mailbox_id, name)) WITHOUT ROWID;"
	"PRAGMA user_version = 5;";

/* Version 5 -> 6: THREADID (RFC 8474 5.2; store.h "threads").
   threads_msgid maps every id a saved message named (its own and its
   references) to a thread id; threads_blob gives each blob its thread.
   A table of its own rather than a column of blobs: the cache columns
   make blob rows long, and FETCH / SEARCH THREADID read only this. Blobs
   saved before this version have no row (FETCH THREADID says NIL for
   them, as RFC 8474 5.2 allows). A blob's row never changes and goes
   with the blob (the trigger, on every path that deletes blobs). IF NOT
   EXISTS: as for version 5, a lowered user_version may bring this step
   back to a database that has the tables. */
static const char sq_upgrade_5_6[] =
	"CREATE TABLE IF NOT EXISTS threads_msgid ("
	" msgid TEXT PRIMARY KEY,"
	" thread_id INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS threads_blob ("
	" blob_id INTEGER PRIMARY KEY,"
	" thread_id INTEGER NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS blobs_thread_delete AFTER DELETE ON blobs"
	" BEGIN DELETE FROM threads_blob WHERE blob_id = old.id; END;"
	"PRAGMA user_version = 6;";

/* Version 6 -> 7: background indexing (store.h). The few blobs without
   a complete full-text row are found through a partial index instead of
   visiting every message: each SEARCH asks which messages of the mailbox
   the index cannot answer for (S_FTS_UNINDEXED), and the indexer which
   blobs wait for their row. A blob that goes no longer deletes its row at
   once (an FTS5 delete re-reads and re-tokenises the text: as dear as
   writing it, on POP3's DELE path): its id goes to fts_garbage for the
   indexer. IF NOT EXISTS and DROP IF EXISTS: as for version 5. */
static const char sq_upgrade_6_7[] =
	"CREATE INDEX IF NOT EXISTS blobs_fts_pending ON blobs (id)"
	" WHERE fts IS NULL OR fts = 0;"
	"CREATE TABLE IF NOT EXISTS fts_garbage (id INTEGER PRIMARY KEY);"
	"DROP TRIGGER IF EXISTS blobs_fts_delete;"
	"CREATE TRIGGER blobs_fts_delete AFTER DELETE ON blobs"
	" BEGIN INSERT OR IGNORE INTO fts_garbage (id) VALUES (old.id); END;"
	"PRAGMA user_version = 7;";

/* Version 7 -> 8: the message journal (store.h). A row holds the whole
   file of a message saved since the last journal pass, while that file
   may not be durable yet; the trigger drops it with its blob on every
   path that deletes blobs. IF NOT EXISTS: as for version 5. */
static const char sq_upgrade_7_8[] =
	"CREATE TABLE IF NOT EXISTS blob_journal ("
	" id INTEGER PRIMARY KEY,"
	" data BLOB NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS blobs_journal_delete AFTER DELETE ON"
	" blobs BEGIN DELETE FROM blob_journal WHERE id = old.id; END;"
	"PRAGMA user_version = 8;";

/* The upgrade from version N to N + 1 is sq_upgrades[N]. A new database
   is made at version 3 by sq_schema and then taken through every later
   step, so a fresh store and an upgraded one always have the same tables.
   Each step ends by setting user_version to N + 1. */
static const char *const sq_upgrades[] = {
	[1] = sq_upgrade_1_2,
	[2] = sq_upgrade_2_3,
	[3] = sq_upgrade_3_4,
	[4] = sq_upgrade_4_5,
	[5] = sq_upgrade_5_6,
	[6] = sq_upgrade_6_7,
	[7] = sq_upgrade_7_8,
};
#define SQ_SCHEMA_BASE 3
#define SQ_SCHEMA_VERSION ((int)(sizeof(sq_upgrades) / sizeof(sq_upgrades[0])))

/* A mailbox's \Recent claims made by this process (see
   sq_mailbox_recent_claim): first is the first UID not yet claimed, at
   least the database's first_recent_uid; uidnext as last read. */
struct sq_recent {
	uint64_t mailbox_id;
	uint32_t first, uidnext;
	bool dirty; /* first is ahead of the database */
};

struct sq_user {
	sqlite3 *db;
	char *dir_path;
	int blobs_fd;
	int tmp_fd;
	sqlite3_stmt *stmts[S_COUNT];
	/* Statements handed out (sq_stmt) since the last sq_reset_busy():
	   the only ones that can be mid-result. */
	uint64_t stmts_used[(S_COUNT + 63) / 64];
	struct sq_recent *recent;
	unsigned recent_count, recent_alloc;
	bool recent_dirty; /* some entry is */
	uint64_t trim_rand; /* sq_expunge_trim()'s draws; 0 until seeded */
	bool exclusive; /* store_settings.exclusive */
	/* The quota counters are known to be absent (no limit so far), so
	   sq_usage_add() has nothing to update. Kept only with exclusive
	   locking, where no other process can add them: they appear
	   through sq_usage_read() alone, which clears this (as does
	   sq_usage_clear()). A transaction that saw them absent and then
	   rolled back leaves them absent: none deletes them and then
	   updates them. */
	bool usage_absent;
	/* The last HIGHESTMODSEQ read (sq_mailbox_modseq) and the
	   connection's change count then: with exclusive locking only
	   this connection writes, so while the count stands the value
	   does too. */
	uint64_t probe_mailbox, probe_modseq;
	int64_t probe_changes;
	/* Message journal (store.h): blobs committed with a journal row
	   whose files are not known durable, oldest first, under the
	   user's lock; journal_count is also read without it. */
	uint64_t *journal_ids;
	unsigned journal_count, journal_alloc;
	unsigned journal_mark; /* how many the running pass covers */
};

struct sq_save {
	int fd;
	/* The file is dir_fd/tmp_name: in the user's tmp/, or a spare
	   written where it is. */
	int dir_fd;
	char tmp_name[64]; /* "" once renamed or removed */
	/* A spare file (store_spare_take): bytes past `written` are an
	   old message's until cut off. */
	bool spare;
	uint64_t written;
	uint64_t writeback; /* bytes whose writeback was started */
	/* Message journal: the whole message while it fits in
	   STORE_JOURNAL_MAX (journal false once it does not, or with the
	   journal off). */
	bool journal;
	unsigned char *jdata;
	size_t jlen, jalloc;
};

/* The page size of new databases. Every commit writes each page it
   changed whole into the WAL, and a flag change touches four (the
   message row, its modseq index entry, the mailbox row, the modseq
   counter): with 2 KiB pages a commit writes half the bytes of
   SQLite's default 4 KiB. Under the bench's IMAP mix that gave about
   11% more commands/s and 10% less CPU per command (seven alternating
   runs of seven); 1 KiB pages gained less (deeper trees, more
   overflow pages for the cached parses). A text search of 100,000
   messages took 27.6 ms in the full bench run that followed (27.2
   with 4 KiB pages in the run before; 37 in one partial run). */
#define SQ_PAGE_SIZE 2048
#define SQ_STR2(x) #x
#define SQ_STR(x) SQ_STR2(x)

/* A large message's pages are sent to the disk in runs of this many
   bytes while it is still being written, so the fsync before its commit
   has only the tail left to wait for. */
#define SQ_WRITEBACK_BYTES (256 * 1024)

/* Blob files to unlink after a commit. */
struct sq_unlinks {
	uint64_t *ids;
	unsigned count, alloc;
};

#define SQ(user) ((struct sq_user *)(user)->backend_data)

/* ---- helpers --------------------------------------------------------- */

static int
sq_fail(struct sq_user *su, const char **error_r, const char *what)
{
	return store_error(error_r, "%s: %s", what, sqlite3_errmsg(su->db));
}

/* A cached statement, reset. NULL (with *error_r set) only if preparing
   fails: out of memory or a damaged database. */
static sqlite3_stmt *
sq_stmt(struct sq_user *su, const char **error_r, enum sq_stmt_id id)
{
	sqlite3_stmt *stmt = su->stmts[id];

	su->stmts_used[id / 64] |= UINT64_C(1) << (id % 64);
	if (stmt == NULL) {
		if (sqlite3_prepare_v3(su->db, sq_sql[id], -1,
				       SQLITE_PREPARE_PERSISTENT, &stmt,
				       NULL) != SQLITE_OK) {
			sq_fail(su, error_r, "preparing SQL failed");
			log_error(&sq_log_ctx, "prepare %s: %s", sq_sql[id],
				  sqlite3_errmsg(su->db));
			return NULL;
		}
		su->stmts[id] = stmt;
	} else {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	}
	return stmt;
}

static void
bind_u64(sqlite3_stmt *stmt, int idx, uint64_t v)
{
	sqlite3_bind_int64(stmt, idx, (sqlite3_int64)v);
}

static uint64_t
col_u64(sqlite3_stmt *stmt, int idx)
{
	return (uint64_t)sqlite3_column_int64(stmt, idx);
}

/* Runs a statement that returns no rows. */
static int
sq_done(struct sq_user *su, sqlite3_stmt *stmt, const char **error_r)
{
	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "SQL statement failed");
	return 0;
}

static int
sq_simple(struct sq_user *su, enum sq_stmt_id id, const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, id);
	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	return sq_done(su, stmt, error_r);
}

/* \Recent claims are kept in memory, per mailbox, and written to the
   database inside the user's next write transaction (sq_begin) or when
   the user is closed: a claim used to be a write transaction of its own
   after every new message a session saw. Only quired runs IMAP
   sessions, so its memory is where claims meet; a claim lost to a crash
   only shows those messages as \Recent again, as a claim lost to a
   power cut always did. */
static struct sq_recent *
sq_recent_find(struct sq_user *su, uint64_t mailbox_id)
{
	for (unsigned i = 0; i < su->recent_count; i++) {
		if (su->recent[i].mailbox_id == mailbox_id)
			return &su->recent[i];
	}
	return NULL;
}

/* Writes the claims ahead of the database (inside a transaction). A
   failure is logged; the claims stay in memory either way. */
static void
sq_recent_write(struct sq_user *su)
{
	const char *error;

	su->recent_dirty = false;
	for (unsigned i = 0; i < su->recent_count; i++) {
		struct sq_recent *r = &su->recent[i];
		sqlite3_stmt *stmt;

		if (!r->dirty)
			continue;
		r->dirty = false;
		if ((stmt = sq_stmt(su, &error, S_MB_RECENT_SET)) != NULL) {
			bind_u64(stmt, 1, r->first);
			bind_u64(stmt, 2, r->mailbox_id);
			if (sq_done(su, stmt, &error) == 0)
				continue;
		}
		log_error(&sq_log_ctx, "saving \\Recent claims of %s failed: "
			  "%s", su->dir_path, error);
	}
}

/* Begins a write transaction. \Recent claims made since the last one go
   into it. */
static int
sq_begin(struct sq_user *su, const char **error_r)
{
	if (sq_simple(su, S_BEGIN, error_r) < 0)
		return -1;
	if (su->recent_dirty)
		sq_recent_write(su);
	return 0;
}

/* Begins a read snapshot: prepared once, as sqlite3_exec() would parse
   "BEGIN" on every call. */
static int
sq_begin_read(struct sq_user *su, const char **error_r)
{
	return sq_simple(su, S_BEGIN_READ, error_r);
}

static int
sq_commit(struct sq_user *su, const char **error_r)
{
	return sq_simple(su, S_COMMIT, error_r);
}

/* Resets the prepared statements still mid-result. (Only those: a
   reset takes the connection's mutex even when there is nothing to
   do.) Only statements handed out since the last call are looked at:
   this runs after every call into the store, and asking each of the
   ~90 was 1% of quired's CPU. */
static void
sq_reset_busy(struct sq_user *su)
{
	for (unsigned w = 0; w < sizeof(su->stmts_used) / 8; w++) {
		uint64_t used = su->stmts_used[w];

		su->stmts_used[w] = 0;
		while (used != 0) {
			unsigned i = w * 64 + (unsigned)__builtin_ctzll(used);

			used &= used - 1;
			if (su->stmts[i] != NULL &&
			    sqlite3_stmt_busy(su->stmts[i]))
				sqlite3_reset(su->stmts[i]);
		}
	}
}

static void
sq_rollback(struct sq_user *su)
{
	if (sqlite3_get_autocommit(su->db))
		return;
	/* Statements still stepping would make ROLLBACK fail. */
	sq_reset_busy(su);
	if (sq_simple(su, S_ROLLBACK, NULL) < 0) {
		log_error(&sq_log_ctx, "ROLLBACK failed: %s",
			  sqlite3_errmsg(su->db));
	}
}

/* Writes that need not survive a power cut (the \Recent claim, parse
   cache entries: losing one only means doing the work again) commit
   with synchronous=NORMAL: in WAL mode that skips the sync but keeps the
   commit atomic, and the next FULL commit syncs the log with them in it
   (the log is written in order). Everything a client is told is durable
   stays FULL. */
static void
sq_set_lazy(struct sq_user *su, bool lazy)
{
	/* inside a caller's transaction its commit decides */
	if (sqlite3_get_autocommit(su->db) == 0)
		return;
	/* (Not a prepared statement kept for reuse: this pragma takes
	   effect when it is prepared, not when it runs.) */
	(void)sqlite3_exec(su->db, lazy ? "PRAGMA synchronous = NORMAL" :
			   "PRAGMA synchronous = FULL", NULL, NULL, NULL);
}

/* Allocates the next per-user modseq (inside a transaction). */
static int
sq_modseq_next(struct sq_user *su, uint64_t *modseq_r, const char **error_r)
{
	/* (Not UPDATE ... RETURNING: SQLite buffers returned rows in a
	   temporary table, which costs more than this second statement.) */
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MODSEQ_NEXT);
	if (stmt == NULL || sq_done(su, stmt, error_r) < 0)
		return -1;
	if ((stmt = sq_stmt(su, error_r, S_META_GET)) == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, "modseq", -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return sq_fail(su, error_r, "modseq query failed");
	}
	*modseq_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

static void
sq_read_mailbox(sqlite3_stmt *stmt, struct store_mailbox_info *info)
{
	info->id = col_u64(stmt, 0);
	info->name = store_strdup((const char *)sqlite3_column_text(stmt, 1));
	info->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 2);
	info->uidnext = (uint32_t)sqlite3_column_int64(stmt, 3);
	info->highestmodseq = col_u64(stmt, 4);
	info->special_use = (enum store_special_use)sqlite3_column_int(stmt, 5);
	info->subscribed = sqlite3_column_int(stmt, 6) != 0;
}

/* Mailbox by id (name == NULL) or by name: 1 found, 0 not, -1 error. */
static int
sq_mailbox_get(struct sq_user *su, uint64_t id, const char *name,
	       struct store_mailbox_info *info_r, const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, name != NULL ? S_MB_BY_NAME :
							S_MB_BY_ID);
	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	if (name != NULL)
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	else
		bind_u64(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		sq_read_mailbox(stmt, info_r);
		sqlite3_reset(stmt);
		return 1;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "mailbox lookup failed");
	return 0;
}

static void
sq_read_message(sqlite3_stmt *stmt, struct store_message *msg)
{
	msg->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
	msg->flags = (uint8_t)sqlite3_column_int(stmt, 1);
	msg->keywords = col_u64(stmt, 2);
	msg->modseq = col_u64(stmt, 3);
	msg->size = col_u64(stmt, 4);
	msg->blob_id = col_u64(stmt, 5);
	msg->internal_date = (time_t)sqlite3_column_int64(stmt, 6);
	msg->save_date = (time_t)sqlite3_column_int64(stmt, 7);
	msg->pop3_retrieved = (time_t)sqlite3_column_int64(stmt, 8);
}

static int
message_uid_cmp(const void *a, const void *b)
{
	return store_u32_cmp(&((const struct store_message *)a)->uid,
			     &((const struct store_message *)b)->uid);
}

/* Steps a bound message SELECT, appending rows to *msgs. */
static int
sq_collect_messages(struct sq_user *su, sqlite3_stmt *stmt,
		    struct store_message **msgs, unsigned *count,
		    unsigned *alloc, const char **error_r)
{
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)msgs, sizeof(**msgs), alloc, *count);
		sq_read_message(stmt, &(*msgs)[*count]);
		(*count)++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "message query failed");
	return 0;
}

/* All messages of the given (normalised) UID ranges. */
static int
sq_messages_in(struct sq_user *su, uint64_t mailbox_id,
	       const struct store_uidset *uids, struct store_message **msgs_r,
	       unsigned *count_r, const char **error_r)
{
	unsigned alloc = 0;

	*msgs_r = NULL;
	*count_r = 0;
	for (unsigned i = 0; i < uids->count; i++) {
		sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MSG_RANGE);
		if (stmt == NULL)
			return sq_fail(su, error_r, "prepare failed");
		bind_u64(stmt, 1, mailbox_id);
		bind_u64(stmt, 2, uids->ranges[i].first);
		bind_u64(stmt, 3, uids->ranges[i].last);
		if (sq_collect_messages(su, stmt, msgs_r, count_r, &alloc,
					error_r) < 0)
			return -1;
	}
	return 0;
}

static void
blob_name(uint64_t blob_id, char dir[3], char file[20])
{
	snprintf(dir, 3, "%02x", (unsigned)(blob_id >> 56));
	snprintf(file, 20, "%02x/%016llx", (unsigned)(blob_id >> 56),
		 (unsigned long long)blob_id);
}

static void
sq_unlinks_add(struct sq_unlinks *u, uint64_t blob_id)
{
	store_array_grow((void **)&u->ids, sizeof(*u->ids), &u->alloc,
			 u->count);
	u->ids[u->count++] = blob_id;
}

/* After the commit: the rows are gone, now the files may go (now or
   queued: store.h "deferred unlinks"), or wait while a session may still
   show them (store-view.c "ghosts"). A crash before they go leaves files
   without rows, which store_check() removes. */
static void
sq_unlinks_run(struct store_user *user, struct sq_unlinks *u)
{
	struct sq_user *su = SQ(user);

	if (u->count > 0) {
		size_t len = strlen(su->dir_path) + 8;
		char *dir = store_malloc0(len);
		struct store_unlinks *batch;

		snprintf(dir, len, "%s/blobs", su->dir_path);
		batch = store_unlinks_new(dir, u->count);
		free(dir);
		for (unsigned i = 0; i < u->count; i++) {
			char sub[3];

			blob_name(u->ids[i], sub, batch->names[i]);
		}
		store_view_unlinks(user, batch, u->ids);
	}
	free(u->ids);
	memset(u, 0, sizeof(*u));
}

/* ---- quota usage counters ------------------------------------------ */

static bool
sq_quota_limited(const struct store_quota *quota)
{
	return quota->storage != 0 || quota->messages != 0;
}

/* Reads the usage counters inside the caller's transaction. Missing ones
   are counted from the messages table (a scan: about 8 ms for 100,000
   messages) and, with init (in a write transaction), stored so later
   reads are one row each. */
static int
sq_usage_read(struct sq_user *su, bool init, struct store_quota_usage *usage_r,
	      const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_USAGE_GET);

	if (stmt == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return sq_fail(su, error_r, "quota usage query failed");
	if (sqlite3_column_type(stmt, 0) != SQLITE_NULL &&
	    sqlite3_column_type(stmt, 1) != SQLITE_NULL) {
		usage_r->messages = col_u64(stmt, 0);
		usage_r->storage = col_u64(stmt, 1);
		sqlite3_reset(stmt);
		return 0;
	}
	sqlite3_reset(stmt);
	if ((stmt = sq_stmt(su, error_r, S_USAGE_COUNT)) == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return sq_fail(su, error_r, "quota usage count failed");
	usage_r->messages = col_u64(stmt, 0);
	usage_r->storage = col_u64(stmt, 1);
	sqlite3_reset(stmt);
	if (!init)
		return 0;
	su->usage_absent = false;
	if ((stmt = sq_stmt(su, error_r, S_USAGE_INIT)) == NULL)
		return -1;
	bind_u64(stmt, 1, usage_r->messages);
	bind_u64(stmt, 2, usage_r->storage);
	return sq_done(su, stmt, error_r);
}

/* Adds the deltas (negative: removed) to the counters, if they exist,
   in the caller's transaction; nothing to do for zero. */
static int
sq_usage_add(struct sq_user *su, int64_t messages, int64_t bytes,
	     const char **error_r)
{
	sqlite3_stmt *stmt;

	if ((messages == 0 && bytes == 0) || su->usage_absent)
		return 0;
	if ((stmt = sq_stmt(su, error_r, S_USAGE_ADD)) == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, messages);
	sqlite3_bind_int64(stmt, 2, bytes);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	/* (An UPDATE that matches no row still searches the meta table:
	   3% of quired's CPU under the bench's IMAP mix.) */
	if (su->exclusive && sqlite3_changes(su->db) == 0)
		su->usage_absent = true;
	return 0;
}

/* Drops the counters (inside the caller's transaction): their next use
   counts them again. */
static int
sq_usage_clear(struct sq_user *su, const char **error_r)
{
	su->usage_absent = false;
	return sq_simple(su, S_USAGE_CLEAR, error_r);
}

/* What sq_remove_message() took away, for the usage counters: the
   caller subtracts it once per transaction. */
struct sq_removed {
	int64_t messages, bytes;
};

/* Removes one message row, of `size` bytes (inside a transaction): logs
   it in the expunge log when modseq != 0, adds it to *removed (the
   caller subtracts that from the usage counters), drops the blob
   reference and queues the file when no row references it any more. */
static int
sq_remove_message(struct sq_user *su, uint64_t mailbox_id, uint32_t uid,
		  uint64_t blob_id, uint64_t size, uint64_t modseq,
		  struct sq_unlinks *unlinks, struct sq_removed *removed,
		  const char **error_r)
{
	sqlite3_stmt *stmt;

	if (modseq != 0) {
		if ((stmt = sq_stmt(su, error_r, S_EXP_INSERT)) == NULL)
			return sq_fail(su, error_r, "prepare failed");
		bind_u64(stmt, 1, mailbox_id);
		bind_u64(stmt, 2, uid);
		bind_u64(stmt, 3, modseq);
		if (sq_done(su, stmt, error_r) < 0)
			return -1;
	}
	if ((stmt = sq_stmt(su, error_r, S_MSG_DELETE)) == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, uid);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	if (sqlite3_changes(su->db) > 0) {
		removed->messages++;
		removed->bytes += (int64_t)size;
	}
	/* Usually the only reference: one statement removes the blob. */
	if ((stmt = sq_stmt(su, error_r, S_BLOB_DELETE_LAST)) == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, blob_id);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	if (sqlite3_changes(su->db) > 0) {
		sq_unlinks_add(unlinks, blob_id);
		return 0;
	}
	if ((stmt = sq_stmt(su, error_r, S_BLOB_REF)) == NULL)
		return sq_fail(su, error_r, "prepare failed");
	sqlite3_bind_int(stmt, 1, -1);
	bind_u64(stmt, 2, blob_id);
	return sq_done(su, stmt, error_r);
}

static int
sq_set_mailbox_modseq(struct sq_user *su, uint64_t mailbox_id,
		      uint64_t modseq, const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_SET_MODSEQ);
	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, modseq);
	bind_u64(stmt, 2, mailbox_id);
	return sq_done(su, stmt, error_r);
}

/* A fresh UIDVALIDITY: the time, but always above the last one given out
   in this user's store, so a recreated name never reuses one. */
static int
sq_uidvalidity_next(struct store_user *user, uint32_t *uidvalidity_r,
		    const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_META_GET);

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	sqlite3_bind_text(stmt, 1, "uidvalidity", -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return sq_fail(su, error_r, "uidvalidity lookup failed");
	uint64_t last = col_u64(stmt, 0);
	sqlite3_reset(stmt);

	uint64_t now = (uint64_t)store_now(user->store);
	uint64_t next = now > last ? now : last + 1;
	if (next > UINT32_MAX || next == 0)
		next = (last + 1) & 0xffffffffu ? (last + 1) & 0xffffffffu : 1;

	if ((stmt = sq_stmt(su, error_r, S_META_SET)) == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, next);
	sqlite3_bind_text(stmt, 2, "uidvalidity", -1, SQLITE_STATIC);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	*uidvalidity_r = (uint32_t)next;
	return 0;
}

static int
sq_mailbox_insert(struct store_user *user, const char *name,
		  enum store_special_use special_use, uint32_t uidnext,
		  uint64_t *id_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	uint32_t uidvalidity = 0;
	uint64_t modseq = 0;

	if (sq_uidvalidity_next(user, &uidvalidity, error_r) < 0 ||
	    sq_modseq_next(su, &modseq, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_INSERT);
	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	bind_u64(stmt, 2, uidvalidity);
	bind_u64(stmt, 3, uidnext);
	bind_u64(stmt, 4, modseq);
	sqlite3_bind_int(stmt, 5, (int)special_use);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	*id_r = (uint64_t)sqlite3_last_insert_rowid(su->db);
	return 0;
}

/* Keyword names to a mask (inside a transaction). With create, unknown
   names get the next free number while there is one. */
static int
sq_keywords_mask(struct sq_user *su, const char *const *names,
		 unsigned count, bool create, uint64_t *mask_r,
		 const char **error_r)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < count; i++) {
		sqlite3_stmt *stmt = sq_stmt(su, error_r, S_KW_GET);
		if (stmt == NULL)
			return sq_fail(su, error_r, "prepare failed");
		sqlite3_bind_text(stmt, 1, names[i], -1, SQLITE_STATIC);
		int rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(stmt, 0);
			sqlite3_reset(stmt);
			if (id >= 0 && id < STORE_MAX_KEYWORDS)
				mask |= 1ULL << id;
			continue;
		}
		sqlite3_reset(stmt);
		if (rc != SQLITE_DONE)
			return sq_fail(su, error_r, "keyword lookup failed");
		if (!create)
			continue;
		if ((stmt = sq_stmt(su, error_r, S_KW_COUNT)) == NULL ||
		    sqlite3_step(stmt) != SQLITE_ROW)
			return sq_fail(su, error_r, "keyword count failed");
		int64_t next = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
		if (next >= STORE_MAX_KEYWORDS)
			continue; /* full: documented as ignored */
		if ((stmt = sq_stmt(su, error_r, S_KW_INSERT)) == NULL)
			return sq_fail(su, error_r, "prepare failed");
		sqlite3_bind_int64(stmt, 1, next);
		sqlite3_bind_text(stmt, 2, names[i], -1, SQLITE_STATIC);
		if (sq_done(su, stmt, error_r) < 0)
			return -1;
		mask |= 1ULL << next;
	}
	*mask_r = mask;
	return 0;
}

/* ---- opening a user ------------------------------------------------- */

/* mkdir that fsyncs the parent when it created something, so the new
   directory survives a crash along with what goes into it. */
static int
mkdir_durable(const char *path, const char **error_r)
{
	if (mkdir(path, 0700) == 0) {
		char *parent = store_strdup(path);
		char *slash = strrchr(parent, '/');
		if (slash != NULL) {
			*slash = '\0';
			int fd = open(slash == parent ? "/" : parent,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0) {
				(void)fsync(fd);
				close(fd);
			}
		}
		free(parent);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return store_error(error_r, "mkdir(%s) failed: %s", path,
			   strerror(errno));
}

static char *
user_dir_path(struct store *store, const char *username)
{
	size_t len = strlen(store->data_dir) + strlen(username) + 16;
	char *path = store_malloc0(len);
	snprintf(path, len, "%s/users/%02x/%s", store->data_dir,
		 store_name_hash(username) & 0xff, username);
	return path;
}

/* The VFS databases are opened with: ours (store-vfs.c), or SQLite's
   default if ours could not be registered. */
static const char *sq_vfs_name;

/* Before SQLite initialises: no allocation statistics (nothing here
   reads them, and keeping them takes a process-wide mutex on every
   allocation of every connection). */
static void
sq_global_init(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sq_vfs_name = store_vfs_register();
}

static int sq_journal_recover(struct store_user *user, const char **error_r);
static void sq_journal_close(struct store_user *user);

static int
sq_open_db(struct store_user *user, const char **error_r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sq_user *su = SQ(user);
	size_t len = strlen(su->dir_path) + 16;
	char *path = store_malloc0(len);
	int ret = -1;

	pthread_once(&once, sq_global_init);
	snprintf(path, len, "%s/store.db", su->dir_path);
	bool created = access(path, F_OK) < 0;
	/* (The VFS's exclusive variant holds a commit's WAL frames back
	   until its last one: safe only for the file's one connection.) */
	int rc = sqlite3_open_v2(path, &su->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 sq_vfs_name != NULL && user->store->exclusive ?
					 STORE_VFS_EXCLUSIVE_NAME :
					 sq_vfs_name);
	if (rc != SQLITE_OK) {
		store_error(error_r, "sqlite3_open(%s) failed: %s", path,
			    su->db != NULL ? sqlite3_errmsg(su->db) :
					     sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(su->db, (int)user->store->busy_timeout_msecs);
	/* Before the first access: set then, SQLite keeps the WAL index in
	   memory and takes the file lock once, at the first read, until
	   the database is closed (store_settings.exclusive). */
	su->exclusive = user->store->exclusive;
	if (su->exclusive &&
	    sqlite3_exec(su->db, "PRAGMA locking_mode = EXCLUSIVE", NULL,
			 NULL, NULL) != SQLITE_OK) {
		sq_fail(su, error_r, "setting up the database failed");
		goto out;
	}
	/* A new database gets pages of SQ_PAGE_SIZE bytes (an existing one
	   keeps its own: only a VACUUM could change it). */
	if (created && sqlite3_exec(su->db, "PRAGMA page_size = "
				    SQ_STR(SQ_PAGE_SIZE), NULL, NULL,
				    NULL) != SQLITE_OK) {
		sq_fail(su, error_r, "setting up the database failed");
		goto out;
	}
	/* WAL: readers never block the writer. FULL: each COMMIT syncs the
	   WAL, which is what makes an acknowledged message durable. */
	if (sqlite3_exec(su->db,
			 "PRAGMA journal_mode = WAL;"
			 "PRAGMA synchronous = FULL;"
			 /* 1 MiB page cache: per-user databases are small
			    and many users are open at once. */
			 "PRAGMA cache_size = -1024;"
			 /* Debian builds with secure_delete on, which
			    writes every freed page zeroed into the WAL:
			    deleted content is cleared only within pages
			    written anyway (the files of expunged messages
			    are unlinked, not shredded, either). */
			 "PRAGMA secure_delete = FAST;"
			 "PRAGMA foreign_keys = OFF;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		sq_fail(su, error_r, "setting up the database failed");
		goto out;
	}
	if (sq_begin(su, error_r) < 0)
		goto out;

	sqlite3_stmt *stmt;
	int version = -1;
	if (sqlite3_prepare_v2(su->db, "PRAGMA user_version", -1, &stmt,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(stmt) == SQLITE_ROW)
			version = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
	}
	if (version < 0) {
		sq_fail(su, error_r, "reading schema version failed");
		goto rollback;
	}
	if (version == 0) {
		if (sqlite3_exec(su->db, sq_schema, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			sq_fail(su, error_r, "creating the schema failed");
			goto rollback;
		}
		version = SQ_SCHEMA_BASE;
	}
	if (version > SQ_SCHEMA_VERSION) {
		store_error(error_r, "%s: unknown schema version %d", path,
			    version);
		goto rollback;
	}
	/* Each step in order, all in this one transaction. */
	for (; version < SQ_SCHEMA_VERSION; version++) {
		assert(sq_upgrades[version] != NULL);
		if (sqlite3_exec(su->db, sq_upgrades[version], NULL, NULL,
				 NULL) != SQLITE_OK) {
			sq_fail(su, error_r, "upgrading the schema failed");
			goto rollback;
		}
	}
	struct store_mailbox_info info;
	int found = sq_mailbox_get(su, 0, "INBOX", &info, error_r);
	if (found < 0)
		goto rollback;
	if (found > 0) {
		store_mailbox_info_free(&info);
	} else {
		uint64_t id;
		if (sq_mailbox_insert(user, "INBOX", STORE_SPECIAL_NONE, 1,
				      &id, error_r) < 0)
			goto rollback;
	}
	if (sq_journal_recover(user, error_r) < 0 ||
	    sq_commit(su, error_r) < 0)
		goto rollback;
	if (created) {
		/* SQLite syncs the directory for its WAL, not for the new
		   database file's own entry. */
		int dfd = open(su->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0) {
			store_error(error_r, "fsync(%s) failed: %s",
				    su->dir_path, strerror(errno));
			if (dfd >= 0)
				close(dfd);
			goto out;
		}
		close(dfd);
	}
	ret = 0;
	goto out;
rollback:
	sq_rollback(su);
out:
	free(path);
	return ret;
}

static void
sq_user_close(struct store_user *user)
{
	struct sq_user *su = SQ(user);

	if (su->db != NULL)
		sq_journal_close(user);
	if (su->db != NULL && su->recent_dirty) {
		/* The claims no write carried yet: lazily, like them. */
		const char *error;

		sq_set_lazy(su, true);
		if (sq_begin(su, &error) < 0 || sq_commit(su, &error) < 0) {
			log_error(&sq_log_ctx, "saving \\Recent claims of %s "
				  "failed: %s", su->dir_path, error);
			sq_rollback(su);
		}
		sq_set_lazy(su, false);
	}
	free(su->recent);
	free(su->journal_ids);
	for (unsigned i = 0; i < S_COUNT; i++)
		sqlite3_finalize(su->stmts[i]);
	if (su->db != NULL && sqlite3_close(su->db) != SQLITE_OK) {
		log_error(&sq_log_ctx, "closing %s/store.db failed: %s",
			  su->dir_path, sqlite3_errmsg(su->db));
	}
	if (su->blobs_fd >= 0)
		close(su->blobs_fd);
	if (su->tmp_fd >= 0)
		close(su->tmp_fd);
	free(su->dir_path);
	free(su);
	user->backend_data = NULL;
}

static int
sq_user_open(struct store_user *user, const char **error_r)
{
	struct store *store = user->store;
	struct sq_user *su = store_malloc0(sizeof(*su));
	char hashdir[16];

	su->blobs_fd = su->tmp_fd = -1;
	su->dir_path = user_dir_path(store, user->name);
	user->backend_data = su;

	size_t len = strlen(store->data_dir) + 32;
	char *path = store_malloc0(len);
	snprintf(hashdir, sizeof(hashdir), "%02x",
		 store_name_hash(user->name) & 0xff);
	snprintf(path, len, "%s/users", store->data_dir);
	int ret = mkdir_durable(path, error_r);
	if (ret == 0) {
		snprintf(path, len, "%s/users/%s", store->data_dir, hashdir);
		ret = mkdir_durable(path, error_r);
	}
	free(path);
	if (ret == 0)
		ret = mkdir_durable(su->dir_path, error_r);

	len = strlen(su->dir_path) + 16;
	path = store_malloc0(len);
	if (ret == 0) {
		snprintf(path, len, "%s/blobs", su->dir_path);
		if ((ret = mkdir_durable(path, error_r)) == 0) {
			su->blobs_fd = open(path, O_RDONLY | O_DIRECTORY |
							  O_CLOEXEC);
			if (su->blobs_fd < 0) {
				ret = store_error(error_r,
						  "open(%s) failed: %s", path,
						  strerror(errno));
			}
		}
	}
	if (ret == 0) {
		snprintf(path, len, "%s/tmp", su->dir_path);
		if ((ret = mkdir_durable(path, error_r)) == 0) {
			su->tmp_fd = open(path, O_RDONLY | O_DIRECTORY |
							O_CLOEXEC);
			if (su->tmp_fd < 0) {
				ret = store_error(error_r,
						  "open(%s) failed: %s", path,
						  strerror(errno));
			}
		}
	}
	free(path);
	if (ret == 0)
		ret = sq_open_db(user, error_r);
	if (ret < 0)
		sq_user_close(user);
	return ret;
}

static void
sq_user_idle(struct store_user *user)
{
	(void)sqlite3_db_release_memory(SQ(user)->db);
}

static void
sq_call_end(struct store_user *user)
{
	struct sq_user *su = SQ(user);

	/* A statement left mid-result would pin an old read snapshot. */
	sq_reset_busy(su);
	if (!sqlite3_get_autocommit(su->db)) {
		log_error(&sq_log_ctx, "user %s: transaction left open",
			  user->name);
		sq_rollback(su);
	}
}

/* Removes the files of a directory, one level down at most. */
static int
remove_dir_files(int parent_fd, const char *name, bool recurse)
{
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return -1;
	}
	struct dirent *d;
	int ret = 0;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, d->d_name, 0) == 0)
			continue;
		/* remove_dir_files() removes the directory itself too */
		if ((errno == EISDIR || errno == EPERM) && recurse &&
		    remove_dir_files(fd, d->d_name, false) == 0)
			continue;
		ret = -1;
	}
	closedir(dir);
	if (ret == 0 && unlinkat(parent_fd, name, AT_REMOVEDIR) < 0)
		ret = -1;
	return ret;
}

/* Removes a user directory already renamed to its .deleted. name. */
static int
sq_remove_trash(const char *trash, const char **error_r)
{
	int dfd = open(trash, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || remove_dir_files(dfd, "blobs", true) < 0 ||
	    remove_dir_files(dfd, "tmp", false) < 0) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		return store_error(error_r, "removing %s failed: %s", trash,
				   strerror(err));
	}
	static const char *const files[] = { "store.db", "store.db-wal",
					     "store.db-shm",
					     "store.db-journal" };
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		(void)unlinkat(dfd, files[i], 0);
	close(dfd);
	if (rmdir(trash) < 0)
		return store_error(error_r, "rmdir(%s) failed: %s", trash,
				   strerror(errno));
	return 0;
}

static int
sq_user_delete(struct store *store, const char *username,
	       const char **error_r)
{
	char *path = user_dir_path(store, username);
	size_t len = strlen(path) + 64;
	char *trash = store_malloc0(len);
	uint64_t rnd = 0;
	int ret = 1;

	/* First move it out of the way in one step, so a crash never leaves
	   half a user that store_user_get() would open; store_check()
	   finishes a removal a crash interrupted. */
	(void)getrandom(&rnd, sizeof(rnd), 0);
	char *slash = strrchr(path, '/');
	snprintf(trash, len, "%.*s/.deleted.%016llx", (int)(slash - path), path,
		 (unsigned long long)rnd);
	if (rename(path, trash) < 0) {
		if (errno == ENOENT)
			ret = 0;
		else
			ret = store_error(error_r, "rename(%s) failed: %s",
					  path, strerror(errno));
	} else if (sq_remove_trash(trash, error_r) < 0) {
		ret = -1;
	}
	free(path);
	free(trash);
	return ret;
}

/* ---- mailboxes --------------------------------------------------------- */

static int
sq_mailbox_lookup(struct store_user *user, const char *name,
		  struct store_mailbox_info *info_r, const char **error_r)
{
	return sq_mailbox_get(SQ(user), 0, name, info_r, error_r);
}

static int
sq_mailbox_create(struct store_user *user, const char *name,
		  enum store_special_use special_use, uint64_t *id_r,
		  const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;

	if (sq_begin(su, error_r) < 0)
		return -1;
	int ret = sq_mailbox_get(su, 0, name, &info, error_r);
	if (ret != 0) {
		if (ret > 0)
			store_mailbox_info_free(&info);
		sq_rollback(su);
		return ret < 0 ? -1 : 0;
	}
	if (sq_mailbox_insert(user, name, special_use, 1, id_r, error_r) < 0 ||
	    sq_commit(su, error_r) < 0) {
		sq_rollback(su);
		return -1;
	}
	return 1;
}

/* Collects (uid, blob_id, size) of a UID range. */
struct sq_uid_blob {
	uint32_t uid;
	uint64_t blob_id;
	uint64_t size;
};

static int
sq_uid_blobs(struct sq_user *su, enum sq_stmt_id id, uint64_t mailbox_id,
	     uint64_t a, uint64_t b, struct sq_uid_blob **arr,
	     unsigned *count, unsigned *alloc, const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, id);
	int rc;

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, a);
	if (id == S_MSG_UIDS)
		bind_u64(stmt, 3, b);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)arr, sizeof(**arr), alloc, *count);
		(*arr)[*count].uid = (uint32_t)sqlite3_column_int64(stmt, 0);
		(*arr)[*count].blob_id = col_u64(stmt, 1);
		(*arr)[*count].size = col_u64(stmt, 2);
		(*count)++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "message query failed");
	return 0;
}

static int
sq_mailbox_delete(struct store_user *user, const char *name,
		  const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	struct sq_unlinks unlinks = { 0 };
	struct sq_uid_blob *msgs = NULL;
	unsigned count = 0, alloc = 0;
	int ret;

	if (sq_begin(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, 0, name, &info, error_r)) <= 0) {
		sq_rollback(su);
		return ret;
	}
	ret = -1;
	if (sq_uid_blobs(su, S_MSG_UIDS, info.id, 1, UINT32_MAX, &msgs,
			 &count, &alloc, error_r) < 0)
		goto fail;
	struct sq_removed removed = { 0, 0 };
	for (unsigned i = 0; i < count; i++) {
		if (sq_remove_message(su, info.id, msgs[i].uid,
				      msgs[i].blob_id, msgs[i].size, 0,
				      &unlinks, &removed, error_r) < 0)
			goto fail;
	}
	if (sq_usage_add(su, -removed.messages, -removed.bytes, error_r) < 0)
		goto fail;
	sqlite3_stmt *stmt;
	if ((stmt = sq_stmt(su, error_r, S_EXP_DELETE_MB)) == NULL)
		goto fail;
	bind_u64(stmt, 1, info.id);
	if (sq_done(su, stmt, error_r) < 0)
		goto fail;
	/* RFC 5464 3.2: a deleted mailbox's entries go with it. */
	if ((stmt = sq_stmt(su, error_r, S_META_DELETE_MB)) == NULL)
		goto fail;
	bind_u64(stmt, 1, info.id);
	if (sq_done(su, stmt, error_r) < 0)
		goto fail;
	if ((stmt = sq_stmt(su, error_r, S_MB_DELETE)) == NULL)
		goto fail;
	bind_u64(stmt, 1, info.id);
	if (sq_done(su, stmt, error_r) < 0 || sq_commit(su, error_r) < 0)
		goto fail;
	sq_unlinks_run(user, &unlinks);
	store_notify(user, info.id, STORE_CHANGE_MAILBOX, info.highestmodseq);
	ret = 1;
	goto out;
fail:
	sq_rollback(su);
	free(unlinks.ids);
out:
	free(msgs);
	store_mailbox_info_free(&info);
	return ret;
}

/* RFC 3501 6.3.5: renaming INBOX moves its messages to a new mailbox and
   leaves INBOX empty; for INBOX's sessions that is an expunge. */
static int
sq_rename_inbox(struct store_user *user, const struct store_mailbox_info *inbox,
		const char *new_name, const char **error_r)
{
	struct sq_user *su = SQ(user);
	uint64_t new_id, modseq;
	sqlite3_stmt *stmt = NULL;
	int ret = -1;

	if (sq_mailbox_insert(user, new_name, STORE_SPECIAL_NONE,
			      inbox->uidnext, &new_id, error_r) < 0 ||
	    sq_modseq_next(su, &modseq, error_r) < 0)
		return -1;
	static const char sql[] =
		"INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) "
		"SELECT ?1, uid, ?3 FROM messages WHERE mailbox_id = ?1;"
		"UPDATE messages SET mailbox_id = ?2 WHERE mailbox_id = ?1;"
		"UPDATE mailboxes SET highestmodseq = ?3 WHERE id IN (?1, ?2);";
	const char *tail = sql;
	while (*tail != '\0') {
		if (sqlite3_prepare_v2(su->db, tail, -1, &stmt, &tail) !=
		    SQLITE_OK) {
			sq_fail(su, error_r, "prepare failed");
			goto out;
		}
		if (stmt == NULL)
			break;
		bind_u64(stmt, 1, inbox->id);
		bind_u64(stmt, 2, new_id);
		bind_u64(stmt, 3, modseq);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			sq_fail(su, error_r, "renaming INBOX failed");
			goto out;
		}
		sqlite3_finalize(stmt);
		stmt = NULL;
	}
	if (sq_commit(su, error_r) < 0)
		goto out;
	store_notify(user, inbox->id, STORE_CHANGE_EXPUNGE, modseq);
	ret = 1;
out:
	sqlite3_finalize(stmt);
	return ret;
}

struct sq_id_name {
	uint64_t id;
	char *name;
};

static int
sq_mailbox_rename(struct store_user *user, const char *old_name,
		  const char *new_name, const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	struct sq_id_name *family = NULL;
	unsigned count = 0, alloc = 0;
	size_t old_len = strlen(old_name);
	int ret;

	if (strncmp(new_name, old_name, old_len) == 0 &&
	    (new_name[old_len] == '\0' || new_name[old_len] == '/'))
		return store_error(error_r,
				   "Cannot rename a mailbox into itself");
	if (sq_begin(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, 0, old_name, &info, error_r)) <= 0) {
		sq_rollback(su);
		return ret;
	}
	struct store_mailbox_info other;
	if ((ret = sq_mailbox_get(su, 0, new_name, &other, error_r)) != 0) {
		if (ret > 0) {
			store_mailbox_info_free(&other);
			store_error(error_r, "Mailbox %s already exists",
				    new_name);
		}
		ret = -1;
		goto out;
	}
	if (strcmp(old_name, "INBOX") == 0) {
		ret = sq_rename_inbox(user, &info, new_name, error_r);
		goto out;
	}

	ret = -1;
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_FAMILY);
	int rc;
	if (stmt == NULL)
		goto out;
	sqlite3_bind_text(stmt, 1, old_name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)&family, sizeof(*family), &alloc,
				 count);
		family[count].id = col_u64(stmt, 0);
		const char *name = (const char *)sqlite3_column_text(stmt, 1);
		size_t len = strlen(new_name) + strlen(name) - old_len + 1;
		family[count].name = store_malloc0(len);
		snprintf(family[count].name, len, "%s%s", new_name,
			 name + old_len);
		count++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		sq_fail(su, error_r, "mailbox query failed");
		goto out;
	}
	for (unsigned i = 0; i < count; i++) {
		if (strlen(family[i].name) > STORE_MAX_MAILBOX_NAME) {
			store_error(error_r, "New mailbox name too long");
			goto out;
		}
		if ((stmt = sq_stmt(su, error_r, S_MB_RENAME)) == NULL)
			goto out;
		sqlite3_bind_text(stmt, 1, family[i].name, -1, SQLITE_STATIC);
		bind_u64(stmt, 2, family[i].id);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			/* UNIQUE: a child's new name exists already */
			store_error(error_r, "Mailbox %s already exists",
				    family[i].name);
			sqlite3_reset(stmt);
			goto out;
		}
		sqlite3_reset(stmt);
	}
	if (sq_commit(su, error_r) < 0)
		goto out;
	for (unsigned i = 0; i < count; i++) {
		store_notify(user, family[i].id, STORE_CHANGE_MAILBOX,
			     info.highestmodseq);
	}
	ret = 1;
out:
	if (ret < 0)
		sq_rollback(su);
	for (unsigned i = 0; i < count; i++)
		free(family[i].name);
	free(family);
	store_mailbox_info_free(&info);
	return ret;
}

static int
sq_subscription_set(struct store_user *user, const char *name,
		    bool subscribed, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, subscribed ? S_SUB_ADD :
							       S_SUB_REMOVE);
	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	return 1;
}

static int
sq_subscription_list(struct store_user *user, char ***names_r,
		     unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_SUB_LIST);
	unsigned alloc = 0;
	int rc;

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)names_r, sizeof(**names_r), &alloc,
				 *count_r);
		(*names_r)[*count_r] = store_strdup(
			(const char *)sqlite3_column_text(stmt, 0));
		(*count_r)++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_subscription_list_free(names_r, *count_r);
		*count_r = 0;
		return sq_fail(su, error_r, "listing subscriptions failed");
	}
	return 0;
}

static int
sq_mailbox_set(struct store_user *user, const char *name, int what,
	       int value, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt;

	assert(what == 1);
	stmt = sq_stmt(su, error_r, S_MB_SET_SPECIAL);
	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	sqlite3_bind_int(stmt, 1, value);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	return sqlite3_changes(su->db) > 0 ? 1 : 0;
}

static int
sq_mailbox_list(struct store_user *user, struct store_mailbox_info **list_r,
		unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_LIST);
	unsigned alloc = 0;
	int rc;

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)list_r, sizeof(**list_r), &alloc,
				 *count_r);
		sq_read_mailbox(stmt, &(*list_r)[*count_r]);
		(*count_r)++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_mailbox_list_free(list_r, *count_r);
		*count_r = 0;
		return sq_fail(su, error_r, "mailbox list failed");
	}
	return 0;
}

static int
sq_mailbox_status(struct store_user *user, uint64_t mailbox_id,
		  struct store_mailbox_status *status_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	int ret;

	/* One read snapshot for both queries. */
	if (sq_begin_read(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, mailbox_id, NULL, &info, error_r)) <= 0)
		goto out;
	status_r->uidnext = info.uidnext;
	status_r->uidvalidity = info.uidvalidity;
	status_r->highestmodseq = info.highestmodseq;
	store_mailbox_info_free(&info);

	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_STATUS);
	if (stmt == NULL) {
		ret = sq_fail(su, error_r, "prepare failed");
		goto out;
	}
	bind_u64(stmt, 1, mailbox_id);
	const struct sq_recent *recent = sq_recent_find(su, mailbox_id);
	bind_u64(stmt, 2, recent != NULL ? recent->first : 0);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		ret = sq_fail(su, error_r, "status query failed");
		goto out;
	}
	status_r->messages = (uint32_t)sqlite3_column_int64(stmt, 0);
	status_r->unseen = (uint32_t)sqlite3_column_int64(stmt, 1);
	status_r->deleted = (uint32_t)sqlite3_column_int64(stmt, 2);
	status_r->size = col_u64(stmt, 3);
	status_r->recent = (uint32_t)sqlite3_column_int64(stmt, 4);
	status_r->deleted_size = col_u64(stmt, 5);
	sqlite3_reset(stmt);
	if ((stmt = sq_stmt(su, error_r, S_MB_FLOOR)) == NULL) {
		ret = -1;
		goto out;
	}
	bind_u64(stmt, 1, mailbox_id);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		ret = sq_fail(su, error_r, "status query failed");
		goto out;
	}
	status_r->expunge_floor = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	ret = 1;
out:
	sq_rollback(su);
	return ret;
}

static int
sq_quota_usage(struct store_user *user, struct store_quota_usage *usage_r,
	       const char **error_r)
{
	struct sq_user *su = SQ(user);
	int ret;

	/* A read snapshot: both counters (or the count) from one state. */
	if (sq_begin_read(su, error_r) < 0)
		return -1;
	ret = sq_usage_read(su, false, usage_r, error_r);
	sq_rollback(su);
	return ret;
}

/* After a commit of this connection that left mailbox_id at modseq:
   the next probe of it needs no read (exclusive locking only, as in
   sq_mailbox_modseq()). */
static void
sq_probe_note(struct sq_user *su, uint64_t mailbox_id, uint64_t modseq)
{
	if (!su->exclusive)
		return;
	su->probe_mailbox = mailbox_id;
	su->probe_modseq = modseq;
	su->probe_changes = sqlite3_total_changes64(su->db);
}

static int
sq_mailbox_modseq(struct store_user *user, uint64_t mailbox_id,
		  uint64_t *modseq_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	int64_t changes = sqlite3_total_changes64(su->db);

	/* Every change to a mailbox row is an UPDATE or DELETE, which the
	   count includes (rolled back ones too: that only costs a read). */
	if (su->exclusive && su->probe_mailbox == mailbox_id &&
	    su->probe_changes == changes) {
		*modseq_r = su->probe_modseq;
		return 1;
	}

	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_MODSEQ);

	if (stmt == NULL)
		return -1;
	user->modseq_reads++;
	bind_u64(stmt, 1, mailbox_id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*modseq_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc == SQLITE_ROW) {
		su->probe_mailbox = mailbox_id;
		su->probe_modseq = *modseq_r;
		su->probe_changes = changes;
		return 1;
	}
	return rc == SQLITE_DONE ? 0 :
				   sq_fail(su, error_r, "modseq query failed");
}

static int
sq_mailbox_recent_claim(struct store_user *user, uint64_t mailbox_id,
			uint32_t until_uid, uint32_t *first_r,
			uint32_t *until_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct sq_recent *r = sq_recent_find(su, mailbox_id);

	/* The database is read for a mailbox this process has not claimed
	   in yet, and for UIDNEXT when the claim may reach it. */
	if (r == NULL || until_uid == 0 || until_uid > r->uidnext) {
		sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_RECENT_GET);
		if (stmt == NULL)
			return -1;
		bind_u64(stmt, 1, mailbox_id);
		int rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(stmt);
			return rc == SQLITE_DONE ? 0 :
				sq_fail(su, error_r, "recent query failed");
		}
		uint32_t first = (uint32_t)sqlite3_column_int64(stmt, 0);
		uint32_t uidnext = (uint32_t)sqlite3_column_int64(stmt, 1);
		sqlite3_reset(stmt);
		if (r == NULL) {
			store_array_grow((void **)&su->recent,
					 sizeof(*su->recent), &su->recent_alloc,
					 su->recent_count);
			r = &su->recent[su->recent_count++];
			*r = (struct sq_recent){ .mailbox_id = mailbox_id,
						 .first = first };
		} else if (first > r->first) {
			r->first = first;
		}
		r->uidnext = uidnext;
	}
	/* Never past UIDNEXT: UIDs not yet given out belong to no one. */
	if (until_uid == 0 || until_uid > r->uidnext)
		until_uid = r->uidnext;
	*first_r = r->first;
	if (r->first >= until_uid) {
		*until_r = r->first;
		return 1;
	}
	*until_r = until_uid;
	r->first = until_uid;
	r->dirty = su->recent_dirty = true;
	return 1;
}

static int
sq_mailbox_changes(struct store_user *user, uint64_t mailbox_id,
		   uint64_t since, struct store_message **changed_r,
		   unsigned *changed_count_r, uint32_t **expunged_r,
		   unsigned *expunged_count_r, uint64_t *highestmodseq_r,
		   uint64_t *expunge_floor_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	unsigned alloc = 0;
	int ret, rc;

	if (sq_begin_read(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, mailbox_id, NULL, &info, error_r)) <= 0)
		goto out;
	*highestmodseq_r = info.highestmodseq;
	store_mailbox_info_free(&info);
	ret = -1;
	/* The floor in the same snapshot: a reader whose `since` is below
	   it knows the expunged list may be incomplete. */
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_FLOOR);
	if (stmt == NULL)
		goto out;
	bind_u64(stmt, 1, mailbox_id);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sq_fail(su, error_r, "expunge floor query failed");
		goto out;
	}
	*expunge_floor_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	if ((stmt = sq_stmt(su, error_r, S_MSG_CHANGED)) == NULL)
		goto out;
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, since);
	if (sq_collect_messages(su, stmt, changed_r, changed_count_r, &alloc,
				error_r) < 0)
		goto out;
	if ((stmt = sq_stmt(su, error_r, S_EXP_SINCE)) == NULL)
		goto out;
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, since);
	alloc = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)expunged_r, sizeof(**expunged_r),
				 &alloc, *expunged_count_r);
		(*expunged_r)[(*expunged_count_r)++] =
			(uint32_t)sqlite3_column_int64(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		sq_fail(su, error_r, "expunge log query failed");
		goto out;
	}
	/* In UID order, sorted here: the rows come in modseq order from
	   the index, and an ORDER BY made SQLite set up a sorter (memory
	   allocated and freed) on every sync. */
	if (*changed_count_r > 1)
		qsort(*changed_r, *changed_count_r, sizeof(**changed_r),
		      message_uid_cmp);
	if (*expunged_count_r > 1)
		qsort(*expunged_r, *expunged_count_r, sizeof(**expunged_r),
		      store_u32_cmp);
	ret = 1;
out:
	sq_rollback(su);
	if (ret < 0) {
		free(*changed_r);
		free(*expunged_r);
		*changed_r = NULL;
		*expunged_r = NULL;
		*changed_count_r = *expunged_count_r = 0;
	}
	return ret;
}

/* ---- reading ------------------------------------------------------------ */

static int
sq_message_list(struct store_user *user, uint64_t mailbox_id,
		struct store_message **msgs_r, unsigned *count_r,
		const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	unsigned alloc = 0;
	int ret;

	if (sq_begin_read(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, mailbox_id, NULL, &info, error_r)) <= 0)
		goto out;
	store_mailbox_info_free(&info);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MSG_LIST);
	if (stmt == NULL) {
		ret = sq_fail(su, error_r, "prepare failed");
		goto out;
	}
	bind_u64(stmt, 1, mailbox_id);
	if (sq_collect_messages(su, stmt, msgs_r, count_r, &alloc,
				error_r) < 0) {
		free(*msgs_r);
		*msgs_r = NULL;
		*count_r = 0;
		ret = -1;
	}
out:
	sq_rollback(su);
	return ret;
}

static int
sq_message_get(struct store_user *user, uint64_t mailbox_id, uint32_t uid,
	       struct store_message *msg_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MSG_GET);

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, uid);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		sq_read_message(stmt, msg_r);
		sqlite3_reset(stmt);
		return 1;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "message lookup failed");
	return 0;
}

static int
sq_blob_open(struct store_user *user, uint64_t blob_id, int *fd_r,
	     uint64_t *size_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	char dir[3], file[20];
	struct stat st;

	blob_name(blob_id, dir, file);
	int fd = openat(su->blobs_fd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return store_error(error_r, "open(%s/blobs/%s) failed: %s",
				   su->dir_path, file, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return store_error(error_r, "fstat(%s/blobs/%s) failed: %s",
				   su->dir_path, file, strerror(err));
	}
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	return 1;
}

static int
sq_cache_get(struct store_user *user, uint64_t blob_id,
	     enum store_cache_field field, void **data_r, size_t *size_r,
	     const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_CACHE_GET0 + field);

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	bind_u64(stmt, 1, blob_id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return sq_fail(su, error_r, "cache query failed");
	if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
		return 0;
	const void *data = sqlite3_column_blob(stmt, 0);
	int size = sqlite3_column_bytes(stmt, 0);
	*data_r = store_malloc0((size_t)size);
	if (size > 0)
		memcpy(*data_r, data, (size_t)size);
	*size_r = (size_t)size;
	return 1;
}

static int
sq_cache_set(struct store_user *user, uint64_t blob_id,
	     enum store_cache_field field, const void *data, size_t size,
	     const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_CACHE_SET0 + field);

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	sqlite3_bind_blob64(stmt, 1, size > 0 ? data : "", size,
			    SQLITE_STATIC);
	bind_u64(stmt, 2, blob_id);
	/* A cache entry lost to a power cut is parsed again. */
	sq_set_lazy(su, true);
	int ret = sq_done(su, stmt, error_r);
	sq_set_lazy(su, false);
	if (ret < 0)
		return -1;
	return sqlite3_changes(su->db) > 0 ? 1 : 0;
}

static int
sq_keywords_get(struct store_user *user, char ***names_r, unsigned *count_r,
		const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_KW_ALL);
	char **names = store_malloc0(sizeof(char *) * STORE_MAX_KEYWORDS);
	unsigned count = 0;
	int rc;

	if (stmt == NULL) {
		free(names);
		return sq_fail(su, error_r, "prepare failed");
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(stmt, 0);
		if (id < 0 || id >= STORE_MAX_KEYWORDS || names[id] != NULL)
			continue;
		names[id] = store_strdup(
			(const char *)sqlite3_column_text(stmt, 1));
		if ((unsigned)id + 1 > count)
			count = (unsigned)id + 1;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_keywords_free(&names, STORE_MAX_KEYWORDS);
		return sq_fail(su, error_r, "keyword query failed");
	}
	/* Ids are dense, but never hand out a NULL slot. */
	for (unsigned i = 0; i < count; i++) {
		if (names[i] == NULL)
			names[i] = store_strdup("");
	}
	*names_r = names;
	*count_r = count;
	return 0;
}

/* ---- saving ------------------------------------------------------------ */

static int
sq_save_begin(struct store_save *save, const char **error_r)
{
	struct store_user *user = save->user;
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	uint64_t rnd;
	int ret;

	if ((ret = sq_mailbox_get(su, save->mailbox_id, NULL, &info,
				  error_r)) <= 0) {
		return ret < 0 ? -1 :
				 store_error(error_r, "No such mailbox");
	}
	store_mailbox_info_free(&info);

	struct sq_save *ss = store_malloc0(sizeof(*ss));
	ss->journal = user->store->journal;
	/* A spare is written where it is and renamed into blobs/ from
	   there: one rename, not two. */
	ss->fd = store_spare_take(user->store, ss->tmp_name, &ss->dir_fd);
	if (ss->fd >= 0) {
		ss->spare = true;
		save->backend_data = ss;
		return 0;
	}
	ss->dir_fd = su->tmp_fd;
	for (int tries = 0;; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			free(ss);
			return store_error(error_r, "getrandom() failed: %s",
					   strerror(errno));
		}
		/* The pid lets store_check() tell a live writer's file from
		   a crashed one's. */
		snprintf(ss->tmp_name, sizeof(ss->tmp_name), "%ld.%016llx",
			 (long)getpid(), (unsigned long long)rnd);
		ss->fd = openat(su->tmp_fd, ss->tmp_name,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (ss->fd >= 0)
			break;
		if (errno != EEXIST || tries > 8) {
			int err = errno;
			free(ss);
			return store_error(error_r,
					   "creating temp file in %s/tmp "
					   "failed: %s", su->dir_path,
					   strerror(err));
		}
	}
	save->backend_data = ss;
	return 0;
}

static int
sq_save_write(struct store_save *save, const void *data, size_t size,
	      const char **error_r)
{
	struct sq_save *ss = save->backend_data;
	const unsigned char *p = data;

	if (ss->journal) {
		if (ss->jlen + size > STORE_JOURNAL_MAX) {
			/* too big for the journal: synced before commit */
			free(ss->jdata);
			ss->jdata = NULL;
			ss->jlen = ss->jalloc = 0;
			ss->journal = false;
		} else if (size > 0) {
			if (ss->jlen + size > ss->jalloc) {
				/* doubling, within the journal's limit */
				size_t want = ss->jalloc * 2;

				if (want < ss->jlen + size)
					want = ss->jlen + size;
				if (want < 8192)
					want = 8192;
				if (want > STORE_JOURNAL_MAX)
					want = STORE_JOURNAL_MAX;
				ss->jdata = store_realloc(ss->jdata, want);
				ss->jalloc = want;
			}
			memcpy(ss->jdata + ss->jlen, data, size);
			ss->jlen += size;
		}
	}
	while (size > 0) {
		ssize_t n = save->user->store->io.write(ss->fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			return store_error(error_r,
					   "write() to temp file failed: %s",
					   n < 0 ? strerror(errno) :
						   "wrote nothing");
		}
		p += n;
		size -= (size_t)n;
		ss->written += (uint64_t)n;
	}
	if (ss->written - ss->writeback >= SQ_WRITEBACK_BYTES) {
		/* Only a start (no wait, no durability): an error here
		   shows again in the fsync. */
		(void)sync_file_range(ss->fd, (off_t)ss->writeback,
				      (off_t)(ss->written - ss->writeback),
				      SYNC_FILE_RANGE_WRITE);
		ss->writeback = ss->written;
	}
	return 0;
}

/* Cuts a spare file to what this save wrote. */
static int
sq_save_cut(struct sq_save *ss, const char **error_r)
{
	if (!ss->spare || ss->fd < 0)
		return 0;
	if (ftruncate(ss->fd, (off_t)ss->written) < 0) {
		return store_error(error_r, "ftruncate() of temp file failed: "
				   "%s", strerror(errno));
	}
	ss->spare = false;
	return 0;
}

static int
sq_save_open_read(struct store_save *save, int *fd_r, const char **error_r)
{
	struct sq_save *ss = save->backend_data;
	int fd;

	if (ss->tmp_name[0] == '\0')
		return store_error(error_r, "Save file already gone");
	if (sq_save_cut(ss, error_r) < 0)
		return -1;
	fd = openat(ss->dir_fd, ss->tmp_name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return store_error(error_r, "open() of temp file failed: %s",
				   strerror(errno));
	}
	*fd_r = fd;
	return 0;
}

static int
sq_save_finish(struct store_save *save, const char **error_r)
{
	struct sq_save *ss = save->backend_data;

	if (sq_save_cut(ss, error_r) < 0)
		return -1;
	/* A journalled message is made durable by its commit. */
	if (!ss->journal && save->user->store->io.fsync(ss->fd) < 0) {
		return store_error(error_r, "fsync() of temp file failed: %s",
				   strerror(errno));
	}
	int ret = close(ss->fd);
	ss->fd = -1;
	if (ret < 0) {
		return store_error(error_r, "close() of temp file failed: %s",
				   strerror(errno));
	}
	return 0;
}

/* Makes blobs/<dir> if missing, durably. */
static int
blobs_subdir_make(struct store_user *user, const char *dir,
		  const char **error_r)
{
	struct sq_user *su = SQ(user);

	if (mkdirat(su->blobs_fd, dir, 0700) == 0) {
		if (user->store->io.fsync(su->blobs_fd) < 0)
			return store_error(error_r,
					   "fsync() of blobs/ failed: %s",
					   strerror(errno));
	} else if (errno != EEXIST) {
		return store_error(error_r, "mkdir(blobs/%s) failed: %s", dir,
				   strerror(errno));
	}
	return 0;
}

/* Makes the entries of blobs/<dir> durable. */
static int
blobs_subdir_sync(struct store_user *user, const char *dir,
		  const char **error_r)
{
	int dfd = openat(SQ(user)->blobs_fd, dir,
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || user->store->io.fsync(dfd) < 0) {
		int err = errno;

		if (dfd >= 0)
			close(dfd);
		return store_error(error_r, "fsync() of blobs/%s failed: %s",
				   dir, strerror(err));
	}
	close(dfd);
	return 0;
}

/* How many of the 256 blobs/<xx> directories a new message may go to:
   the smallest power of two giving at most STORE_BLOB_DIR_FILES files
   each, were every change so far (the user's modseq, which every save
   raises) a message. A new user's messages all go to blobs/00, and the
   directories come one by one as the mailbox grows: each is an inode
   and a block made (and on ext4 without a journal, every new inode is
   found by scanning the ones freed recently), and a user with a hundred
   messages should not own 256 of them. Readers take the directory from
   the id, so any choice made before stays readable. */
static unsigned
blob_dir_count(uint64_t modseq)
{
	uint64_t want = modseq / STORE_BLOB_DIR_FILES + 1;
	unsigned count = 1;

	while (count < 256 && count < want)
		count <<= 1;
	return count;
}

/* Moves the temp file to blobs/<xx>/<id> under a fresh random id, never
   replacing an existing file, and makes the rename durable. xx is one
   of the first blob_dir_count(modseq) directories. */
static int
sq_save_place(struct store_save *save, uint64_t modseq, uint64_t *blob_id_r,
	      const char **error_r)
{
	struct sq_user *su = SQ(save->user);
	struct sq_save *ss = save->backend_data;
	char dir[3], file[20];
	uint64_t id;

	for (int tries = 0;; tries++) {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			return store_error(error_r, "getrandom() failed: %s",
					   strerror(errno));
		id &= ((uint64_t)(blob_dir_count(modseq) - 1) << 56) |
		      ((UINT64_C(1) << 56) - 1);
		if (id == 0)
			continue;
		blob_name(id, dir, file);
		if (renameat2(ss->dir_fd, ss->tmp_name, su->blobs_fd, file,
			      RENAME_NOREPLACE) == 0)
			break;
		if (errno == ENOENT) {
			/* blobs/<xx> not there yet: made with the first
			   message that goes there (made all at once with the
			   store, the empty directories of a user with few
			   messages would take a megabyte of disk) */
			if (blobs_subdir_make(save->user, dir, error_r) < 0)
				return -1;
			if (renameat2(ss->dir_fd, ss->tmp_name, su->blobs_fd,
				      file, RENAME_NOREPLACE) == 0)
				break;
		}
		if (errno == EINVAL || errno == ENOSYS) {
			/* The filesystem lacks RENAME_NOREPLACE: link()
			   refuses to replace too. */
			if (blobs_subdir_make(save->user, dir, error_r) < 0)
				return -1;
			if (linkat(ss->dir_fd, ss->tmp_name, su->blobs_fd,
				   file, 0) == 0) {
				(void)unlinkat(ss->dir_fd, ss->tmp_name, 0);
				break;
			}
		}
		if (errno != EEXIST || tries > 8)
			return store_error(error_r,
					   "rename into blobs/ failed: %s",
					   strerror(errno));
	}
	ss->tmp_name[0] = '\0';
	*blob_id_r = id;
	if (ss->journal)
		return 0; /* its commit holds it, and the pass syncs it */

	if (blobs_subdir_sync(save->user, dir, error_r) < 0) {
		(void)unlinkat(su->blobs_fd, file, 0);
		return -1;
	}
	return 0;
}

/* Replaces blob_id's index row and records its state (inside a
   transaction). */
static int
sq_fts_write(struct sq_user *su, uint64_t blob_id,
	     const struct store_fts_doc *doc, const char **error_r)
{
	sqlite3_stmt *stmt;

	if ((stmt = sq_stmt(su, error_r, S_FTS_DELETE)) == NULL)
		return -1;
	bind_u64(stmt, 1, blob_id);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	if ((stmt = sq_stmt(su, error_r, S_FTS_INSERT)) == NULL)
		return -1;
	bind_u64(stmt, 1, blob_id);
	for (unsigned i = 0; i < STORE_FTS_COLUMN_COUNT; i++) {
		sqlite3_bind_text64(stmt, 2 + (int)i,
				    doc->len[i] > 0 ? doc->text[i] : "",
				    doc->len[i], SQLITE_STATIC, SQLITE_UTF8);
	}
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	if ((stmt = sq_stmt(su, error_r, S_FTS_STATE)) == NULL)
		return -1;
	sqlite3_bind_int(stmt, 1, doc->complete ? 1 : 0);
	bind_u64(stmt, 2, blob_id);
	return sq_done(su, stmt, error_r);
}

/* The thread of msgid, or 0 when it is not known. */
static int
sq_thread_lookup(struct sq_user *su, const char *msgid, uint64_t *thread_r,
		 const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_THREAD_MSGID_GET);
	int rc;

	*thread_r = 0;
	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, msgid, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*thread_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(su, error_r, "thread lookup failed");
	return 0;
}

static int
sq_thread_record(struct sq_user *su, const char *msgid, uint64_t thread_id,
		 const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_THREAD_MSGID_ADD);

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, msgid, -1, SQLITE_STATIC);
	bind_u64(stmt, 2, thread_id);
	return sq_done(su, stmt, error_r);
}

/* Gives the new blob its thread (store.h "threads"), inside the save's
   transaction: a reply saved in the same group commit as its parent
   sees the parent's rows. At most 1 + THREADID_MAX_REFERENCES lookups
   and inserts (the front capped the keys). */
static int
sq_thread_assign(struct store_save *save, uint64_t blob_id,
		 const char **error_r)
{
	struct sq_user *su = SQ(save->user);
	uint64_t thread_id = 0;
	sqlite3_stmt *stmt;

	/* Nearest known parent first, then the message's own id. */
	for (unsigned i = 0; i < save->thread_ref_count && thread_id == 0;
	     i++) {
		if (sq_thread_lookup(su, save->thread_refs[i], &thread_id,
				     error_r) < 0)
			return -1;
	}
	if (thread_id == 0 && save->thread_msgid != NULL &&
	    sq_thread_lookup(su, save->thread_msgid, &thread_id,
			     error_r) < 0)
		return -1;
	if (thread_id == 0)
		thread_id = blob_id; /* a new thread; blob ids are never 0 */
	if (save->thread_msgid != NULL &&
	    sq_thread_record(su, save->thread_msgid, thread_id, error_r) < 0)
		return -1;
	for (unsigned i = 0; i < save->thread_ref_count; i++) {
		if (sq_thread_record(su, save->thread_refs[i], thread_id,
				     error_r) < 0)
			return -1;
	}
	if ((stmt = sq_stmt(su, error_r, S_THREAD_SET)) == NULL)
		return -1;
	bind_u64(stmt, 1, blob_id);
	bind_u64(stmt, 2, thread_id);
	return sq_done(su, stmt, error_r);
}

static int
sq_thread_get(struct store_user *user, uint64_t blob_id,
	      uint64_t *thread_id_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_THREAD_GET);
	int rc;

	if (stmt == NULL)
		return -1;
	bind_u64(stmt, 1, blob_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*thread_id_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(su, error_r, "thread lookup failed");
	return rc == SQLITE_ROW && *thread_id_r != 0 ? 1 : 0;
}

/* ---- message journal (store.h) ------------------------------------------ */

/* A committed blob whose file waits for the next pass; the user's lock
   is held. */
static void
sq_journal_add(struct sq_user *su, uint64_t blob_id)
{
	store_array_grow((void **)&su->journal_ids, sizeof(uint64_t),
			 &su->journal_alloc, su->journal_count);
	su->journal_ids[su->journal_count] = blob_id;
	__atomic_store_n(&su->journal_count, su->journal_count + 1,
			 __ATOMIC_RELAXED);
}

static bool
sq_journal_pending(struct store_user *user)
{
	return __atomic_load_n(&SQ(user)->journal_count, __ATOMIC_RELAXED) >
	       0;
}

/* Drops the rows of the first su->journal_mark blobs of the list, whose
   files are durable now, in a commit without a sync: a row that a power
   cut brings back is rewritten with the same bytes. The user's lock is
   held. Returns how many. */
static unsigned
sq_journal_drop(struct store_user *user)
{
	struct sq_user *su = SQ(user);
	unsigned mark = su->journal_mark;
	const char *error = NULL;
	bool ok;

	if (mark == 0)
		return 0;
	sq_set_lazy(su, true);
	ok = sq_begin(su, &error) == 0;
	for (unsigned i = 0; ok && i < mark; i++) {
		sqlite3_stmt *stmt = sq_stmt(su, &error, S_JOURNAL_DROP);

		ok = stmt != NULL;
		if (ok) {
			bind_u64(stmt, 1, su->journal_ids[i]);
			ok = sq_done(su, stmt, &error) == 0;
		}
	}
	if (ok)
		ok = sq_commit(su, &error) == 0;
	if (!ok)
		sq_rollback(su);
	sq_set_lazy(su, false);
	/* The files are durable either way: rows left behind only cost a
	   rewrite of the same bytes at the next open. */
	if (!ok) {
		log_warn(&sq_log_ctx, "%s: dropping journal rows failed: %s",
			 su->dir_path, error != NULL ? error : "?");
	}
	memmove(su->journal_ids, su->journal_ids + mark,
		(su->journal_count - mark) * sizeof(uint64_t));
	__atomic_store_n(&su->journal_count, su->journal_count - mark,
			 __ATOMIC_RELAXED);
	su->journal_mark = 0;
	return mark;
}

/* Makes durable every file written on the filesystem of fd: syncfs()
   writes them all back, with their inodes and directories, and the
   fsync() after it flushes the disk's cache once more, so that nothing
   it wrote is left only there. */
static int
sq_journal_syncfs(struct store *store, int fd, const char **error_r)
{
	if (syncfs(fd) < 0 || store->io.fsync(fd) < 0)
		return store_error(error_r, "syncing the message files "
				   "failed: %s", strerror(errno));
	return 0;
}

/* After a failed sync (a write-back error is reported once, and the
   next sync would not see it again): every file the journal holds is
   written again and synced one by one, and the rows go only if all of
   that succeeds. The user's lock is held. Returns how many. */
static unsigned
sq_journal_rewrite(struct store_user *user)
{
	struct sq_user *su = SQ(user);
	unsigned count = su->journal_count;
	const char *error = NULL;

	su->journal_mark = 0;
	if (sq_begin(su, &error) < 0 ||
	    sq_journal_recover(user, &error) < 0 ||
	    sq_commit(su, &error) < 0) {
		sq_rollback(su);
		log_error(&sq_log_ctx, "%s: rewriting the journal's files "
			  "failed: %s; its rows stay", su->dir_path, error);
		return 0;
	}
	__atomic_store_n(&su->journal_count, 0, __ATOMIC_RELAXED);
	return count;
}

static unsigned long
sq_journal_sync(struct store_user *const *users, unsigned count)
{
	dev_t *devs = store_malloc0(sizeof(dev_t) * count);
	unsigned dev_count = 0;
	unsigned long done = 0;
	const char *error;
	bool ok = true;

	/* The blobs each pass covers: those committed before its sync
	   starts, so their files were written before it too. */
	for (unsigned i = 0; i < count; i++) {
		struct sq_user *su = SQ(users[i]);

		store_user_lock(users[i]);
		su->journal_mark = su->journal_count;
		store_user_unlock(users[i]);
	}
	/* One sync per filesystem, whatever the number of users on it. */
	for (unsigned i = 0; i < count && ok; i++) {
		struct sq_user *su = SQ(users[i]);
		struct stat st;
		unsigned k;

		if (fstat(su->blobs_fd, &st) < 0) {
			store_error(&error, "fstat(%s/blobs) failed: %s",
				    su->dir_path, strerror(errno));
			ok = false;
			break;
		}
		for (k = 0; k < dev_count && devs[k] != st.st_dev; k++)
			;
		if (k < dev_count)
			continue;
		devs[dev_count++] = st.st_dev;
		ok = sq_journal_syncfs(users[i]->store, su->blobs_fd,
				       &error) == 0;
	}
	free(devs);
	if (!ok)
		log_error(&sq_log_ctx, "message journal: %s", error);
	for (unsigned i = 0; i < count; i++) {
		store_user_lock(users[i]);
		if (ok)
			done += sq_journal_drop(users[i]);
		else
			done += sq_journal_rewrite(users[i]);
		store_user_unlock(users[i]);
	}
	return done;
}

/* At close: the user's own files, the same way. */
static void
sq_journal_close(struct store_user *user)
{
	struct sq_user *su = SQ(user);
	const char *error;

	if (su->journal_count == 0)
		return;
	if (sq_journal_syncfs(user->store, su->blobs_fd, &error) < 0) {
		log_error(&sq_log_ctx, "%s: %s", su->dir_path, error);
		(void)sq_journal_rewrite(user);
		return;
	}
	su->journal_mark = su->journal_count;
	(void)sq_journal_drop(user);
}

/* Writes one journalled message's file again: into tmp/, synced, then
   renamed over whatever blobs/ has under its name (a reader holding the
   old file keeps it), and its directory synced. */
static int
sq_journal_restore(struct store_user *user, uint64_t blob_id,
		   const void *data, size_t size, const char **error_r)
{
	struct sq_user *su = SQ(user);
	char tmp[64], dir[3], file[20];
	const unsigned char *p = data;
	int fd;

	blob_name(blob_id, dir, file);
	/* named as a save's temp file (store_check() removes it if this
	   process dies here) */
	snprintf(tmp, sizeof(tmp), "%ld.j%016llx", (long)getpid(),
		 (unsigned long long)blob_id);
	fd = openat(su->tmp_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return store_error(error_r, "creating %s/tmp/%s failed: %s",
				   su->dir_path, tmp, strerror(errno));
	while (size > 0) {
		ssize_t n = user->store->io.write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		size -= (size_t)n;
	}
	if (user->store->io.fsync(fd) < 0)
		goto fail;
	close(fd);
	fd = -1;
	if (blobs_subdir_make(user, dir, error_r) < 0) {
		(void)unlinkat(su->tmp_fd, tmp, 0);
		return -1;
	}
	if (renameat(su->tmp_fd, tmp, su->blobs_fd, file) < 0)
		goto fail;
	return blobs_subdir_sync(user, dir, error_r);
fail:;
	int err = errno;
	if (fd >= 0)
		close(fd);
	(void)unlinkat(su->tmp_fd, tmp, 0);
	return store_error(error_r, "rewriting blobs/%s from the journal "
			   "failed: %s", file, strerror(err));
}

/* Rewrites every file the journal holds and drops its rows (inside the
   open's write transaction, before anything reads them). */
static int
sq_journal_recover(struct store_user *user, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt;
	unsigned restored = 0;
	int rc;

	if ((stmt = sq_stmt(su, error_r, S_JOURNAL_ALL)) == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(stmt, 0);
		const void *data = sqlite3_column_blob(stmt, 1);
		size_t size = (size_t)sqlite3_column_bytes(stmt, 1);

		if (sq_journal_restore(user, id, data != NULL ? data : "", size,
				       error_r) < 0) {
			sqlite3_reset(stmt);
			return -1;
		}
		restored++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "reading the message journal "
			       "failed");
	if (restored == 0)
		return 0;
	if (sqlite3_exec(su->db, "DELETE FROM blob_journal", NULL, NULL,
			 NULL) != SQLITE_OK)
		return sq_fail(su, error_r, "clearing the message journal "
			       "failed");
	log_info(&sq_log_ctx, "%s: rewrote %u message files from the "
		 "journal", su->dir_path, restored);
	return 0;
}

/* One save inside the batch transaction, under savepoint "save": places
   the file and adds the rows. On failure the blob is already unlinked. */
static int
sq_save_one(struct store_save *save, struct store_message *msg_r,
	    uint64_t *before_r, const char **error_r)
{
	struct store_user *user = save->user;
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	uint64_t blob_id = 0, modseq, keywords = 0;
	sqlite3_stmt *stmt;
	int ret;

	if ((ret = sq_mailbox_get(su, save->mailbox_id, NULL, &info,
				  error_r)) <= 0) {
		if (ret == 0)
			store_error(error_r, "Mailbox no longer exists");
		return -1;
	}
	uint32_t uid = info.uidnext;
	*before_r = info.highestmodseq;
	store_mailbox_info_free(&info);
	if (uid == 0 || uid == UINT32_MAX)
		return store_error(error_r, "Mailbox has run out of UIDs");
	if (sq_modseq_next(su, &modseq, error_r) < 0 ||
	    sq_save_place(save, modseq, &blob_id, error_r) < 0)
		return -1;
	if (sq_keywords_mask(su, (const char *const *)save->keywords,
			     save->keyword_count, true, &keywords,
			     error_r) < 0)
		goto fail;

	if ((stmt = sq_stmt(su, error_r, S_BLOB_INSERT)) == NULL)
		goto fail;
	bind_u64(stmt, 1, blob_id);
	bind_u64(stmt, 2, save->size);
	for (unsigned i = 0; i < STORE_CACHE_FIELD_COUNT; i++) {
		if (save->cache[i] != NULL) {
			sqlite3_bind_blob64(stmt, 3 + (int)i, save->cache[i],
					    save->cache_size[i],
					    SQLITE_STATIC);
		}
	}
	if (sq_done(su, stmt, error_r) < 0)
		goto fail;
	struct sq_save *ss = save->backend_data;
	if (ss->journal) {
		if ((stmt = sq_stmt(su, error_r, S_JOURNAL_PUT)) == NULL)
			goto fail;
		bind_u64(stmt, 1, blob_id);
		sqlite3_bind_blob64(stmt, 2,
				    ss->jlen > 0 ? (const void *)ss->jdata : "",
				    ss->jlen, SQLITE_STATIC);
		if (sq_done(su, stmt, error_r) < 0)
			goto fail;
	}
	if (save->have_fts &&
	    sq_fts_write(su, blob_id, &save->fts, error_r) < 0)
		goto fail;
	if (sq_thread_assign(save, blob_id, error_r) < 0)
		goto fail;

	time_t now = store_now(user->store);
	*msg_r = (struct store_message){
		.uid = uid,
		.flags = save->flags,
		.keywords = keywords,
		.modseq = modseq,
		.size = save->size,
		.blob_id = blob_id,
		.internal_date = save->have_internal_date ?
					 save->internal_date : now,
		.save_date = now,
	};
	if ((stmt = sq_stmt(su, error_r, S_MSG_INSERT)) == NULL)
		goto fail;
	bind_u64(stmt, 1, save->mailbox_id);
	bind_u64(stmt, 2, uid);
	bind_u64(stmt, 3, blob_id);
	bind_u64(stmt, 4, save->size);
	sqlite3_bind_int64(stmt, 5, msg_r->internal_date);
	sqlite3_bind_int64(stmt, 6, now);
	sqlite3_bind_int(stmt, 7, save->flags);
	bind_u64(stmt, 8, keywords);
	bind_u64(stmt, 9, modseq);
	if (sq_done(su, stmt, error_r) < 0 ||
	    sq_usage_add(su, 1, save->size, error_r) < 0)
		goto fail;

	if ((stmt = sq_stmt(su, error_r, S_MB_SET_UIDNEXT)) == NULL)
		goto fail;
	bind_u64(stmt, 1, (uint64_t)uid + 1);
	bind_u64(stmt, 2, modseq);
	bind_u64(stmt, 3, save->mailbox_id);
	if (sq_done(su, stmt, error_r) < 0)
		goto fail;
	return 0;
fail:;
	char dir[3], file[20];
	blob_name(blob_id, dir, file);
	(void)unlinkat(su->blobs_fd, file, 0);
	return -1;
}

static void
save_failed(struct store_save *save, const char *error)
{
	save->commit_ret = -1;
	snprintf(save->commit_error, sizeof(save->commit_error), "%s", error);
}

/* Group commit: one transaction and one WAL sync for every save queued
   while the previous batch was committing. Each save runs under a
   savepoint, so one failing (its mailbox was deleted, a constraint)
   leaves the others in. If the transaction itself is lost (COMMIT
   fails, or SQLite rolled it back after an I/O error) every save of the
   batch fails and its file is removed. */
static void
sq_save_commit_batch(struct store_save *const *saves, unsigned count)
{
	struct store_user *user = saves[0]->user;
	struct sq_user *su = SQ(user);
	struct store_message *msgs = store_malloc0(sizeof(*msgs) * count);
	uint64_t *befores = store_malloc0(sizeof(uint64_t) * count);
	const char *error = NULL;
	struct store_quota_usage usage = { 0, 0 };
	bool lost = false, limited = sq_quota_limited(&user->quota);

	for (unsigned i = 0; i < count; i++) {
		saves[i]->commit_ret = 0;
		saves[i]->commit_overquota = false;
	}
	/* The quota is checked inside the write transaction, against
	   counters only writers change: exact across sessions and
	   processes. */
	if (sq_begin(su, &error) < 0 ||
	    (limited && sq_usage_read(su, true, &usage, &error) < 0)) {
		sq_rollback(su);
		for (unsigned i = 0; i < count; i++)
			save_failed(saves[i], error);
		goto out;
	}
	for (unsigned i = 0; i < count && !lost; i++) {
		struct store_save *save = saves[i];
		if (limited &&
		    !store_quota_allows(&user->quota, &usage, 1, save->size)) {
			save_failed(save, STORE_ERROR_OVERQUOTA);
			save->commit_overquota = true;
			continue;
		}
		/* A batch of one needs no savepoint (a journal of the
		   pages it changes, kept in memory): if it fails, the
		   whole transaction goes. */
		if (count == 1) {
			if (sq_save_one(save, &msgs[i], &befores[i],
					&error) < 0) {
				save_failed(save, error);
				lost = true;
			}
			break;
		}
		if (sqlite3_exec(su->db, "SAVEPOINT save", NULL, NULL, NULL) !=
		    SQLITE_OK) {
			sq_fail(su, &error, "SAVEPOINT failed");
			save_failed(save, error);
			lost = sqlite3_get_autocommit(su->db) != 0;
			continue;
		}
		if (sq_save_one(save, &msgs[i], &befores[i], &error) == 0) {
			(void)sqlite3_exec(su->db, "RELEASE save", NULL, NULL,
					   NULL);
			usage.messages++;
			usage.storage += save->size;
			continue;
		}
		save_failed(save, error);
		if (sqlite3_get_autocommit(su->db)) {
			/* SQLite gave up the whole transaction. */
			lost = true;
			break;
		}
		for (unsigned k = 0; k < S_COUNT; k++) {
			if (su->stmts[k] != NULL)
				sqlite3_reset(su->stmts[k]);
		}
		if (sqlite3_exec(su->db, "ROLLBACK TO save; RELEASE save",
				 NULL, NULL, NULL) != SQLITE_OK)
			lost = true;
	}
	if (!lost && sq_commit(su, &error) < 0)
		lost = true;
	if (lost) {
		char why[256];
		snprintf(why, sizeof(why), "%s",
			 error != NULL ? error : "transaction failed");
		sq_rollback(su);
		for (unsigned i = 0; i < count; i++) {
			if (saves[i]->commit_ret < 0)
				continue;
			char dir[3], file[20];
			blob_name(msgs[i].blob_id, dir, file);
			(void)unlinkat(su->blobs_fd, file, 0);
			save_failed(saves[i], why);
		}
		goto out;
	}
	for (unsigned i = 0; i < count; i++) {
		if (saves[i]->commit_ret == 0) {
			struct sq_save *ss = saves[i]->backend_data;
			if (ss->journal)
				sq_journal_add(su, msgs[i].blob_id);
			sq_probe_note(su, saves[i]->mailbox_id,
				      msgs[i].modseq);
			saves[i]->commit_uid = msgs[i].uid;
			store_view_apply(user, saves[i]->mailbox_id,
					 befores[i], msgs[i].modseq, &msgs[i],
					 1, NULL, 0);
			store_notify(user, saves[i]->mailbox_id,
				     STORE_CHANGE_SAVE, msgs[i].modseq);
		}
	}
out:
	free(msgs);
	free(befores);
}

static void
sq_save_abort(struct store_save *save)
{
	struct sq_save *ss = save->backend_data;

	if (ss == NULL)
		return;
	if (ss->fd >= 0)
		close(ss->fd);
	if (ss->tmp_name[0] != '\0')
		(void)unlinkat(ss->dir_fd, ss->tmp_name, 0);
	free(ss->jdata);
	free(ss);
	save->backend_data = NULL;
}

/* ---- changing ----------------------------------------------------------- */

/* Starts a write transaction on an existing mailbox, whose HIGHESTMODSEQ
   as the transaction found it goes to *before_r (store_view_apply()).
   Returns 1 inside the transaction, or 0 (no such mailbox) / -1 with it
   rolled back. */
static int
sq_begin_on_mailbox(struct sq_user *su, uint64_t mailbox_id,
		    uint64_t *before_r, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sq_begin(su, error_r) < 0)
		return -1;
	/* the one column needed, not the whole row (its name copied, its
	   subscription looked up) */
	if ((stmt = sq_stmt(su, error_r, S_MB_MODSEQ)) == NULL) {
		sq_rollback(su);
		return -1;
	}
	bind_u64(stmt, 1, mailbox_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*before_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			sq_fail(su, error_r, "mailbox query failed");
		sq_rollback(su);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	return 1;
}

static int
sq_flags_update(struct store_user *user, uint64_t mailbox_id,
		const struct store_uidset *uids, enum store_flags_op op,
		uint8_t flags, const char *const *keywords,
		unsigned keyword_count, uint64_t unchangedsince,
		uint64_t *modseq_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_message *msgs = NULL;
	unsigned count = 0, changed = 0;
	uint64_t kw = 0, modseq = 0, before;
	int ret;

	if ((ret = sq_begin_on_mailbox(su, mailbox_id, &before, error_r)) <= 0)
		return ret;
	ret = -1;
	if (sq_keywords_mask(su, keywords, keyword_count,
			     op != STORE_FLAGS_REMOVE, &kw, error_r) < 0 ||
	    sq_messages_in(su, mailbox_id, uids, &msgs, &count, error_r) < 0)
		goto out;
	for (unsigned i = 0; i < count; i++) {
		uint8_t nf = msgs[i].flags;
		uint64_t nk = msgs[i].keywords;
		switch (op) {
		case STORE_FLAGS_REPLACE:
			nf = flags;
			nk = kw;
			break;
		case STORE_FLAGS_ADD:
			nf |= flags;
			nk |= kw;
			break;
		case STORE_FLAGS_REMOVE:
			nf &= (uint8_t)~flags;
			nk &= ~kw;
			break;
		}
		if (nf == msgs[i].flags && nk == msgs[i].keywords)
			continue;
		if (unchangedsince != 0 && msgs[i].modseq > unchangedsince)
			continue;
		/* Allocated at the first real change: a no-op spends none. */
		if (changed == 0 && sq_modseq_next(su, &modseq, error_r) < 0)
			goto out;
		sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MSG_SET_FLAGS);
		if (stmt == NULL)
			goto out;
		sqlite3_bind_int(stmt, 1, nf);
		bind_u64(stmt, 2, nk);
		bind_u64(stmt, 3, modseq);
		bind_u64(stmt, 4, mailbox_id);
		bind_u64(stmt, 5, msgs[i].uid);
		if (sq_done(su, stmt, error_r) < 0)
			goto out;
		/* the changed ones, as they now are, for the views */
		msgs[changed] = msgs[i];
		msgs[changed].flags = nf;
		msgs[changed].keywords = nk;
		msgs[changed].modseq = modseq;
		changed++;
	}
	if (changed == 0) {
		/* Nothing changed: do not spend a modseq. New keyword names
		   are kept (harmless, and ADD may have created them). */
		if (sq_commit(su, error_r) < 0)
			goto out;
		*modseq_r = 0;
		ret = 1;
		goto out;
	}
	if (sq_set_mailbox_modseq(su, mailbox_id, modseq, error_r) < 0 ||
	    sq_commit(su, error_r) < 0)
		goto out;
	sq_probe_note(su, mailbox_id, modseq);
	*modseq_r = modseq;
	store_view_apply(user, mailbox_id, before, modseq, msgs, changed,
			 NULL, 0);
	store_notify(user, mailbox_id, STORE_CHANGE_FLAGS, modseq);
	ret = 1;
out:
	if (ret < 0)
		sq_rollback(su);
	free(msgs);
	return ret;
}

static int
sq_pop3_mark_retrieved(struct store_user *user, uint64_t mailbox_id,
		       const struct store_uidset *uids, time_t when,
		       const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_message *msgs = NULL;
	unsigned count = 0, changed = 0;
	uint64_t modseq, before;
	int ret;

	if ((ret = sq_begin_on_mailbox(su, mailbox_id, &before, error_r)) <= 0)
		return ret;
	ret = -1;
	if (sq_messages_in(su, mailbox_id, uids, &msgs, &count, error_r) < 0 ||
	    sq_modseq_next(su, &modseq, error_r) < 0)
		goto out;
	for (unsigned i = 0; i < count; i++) {
		if (msgs[i].pop3_retrieved != 0 &&
		    (msgs[i].flags & STORE_FLAG_SEEN) != 0)
			continue;
		sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MSG_SET_POP3);
		if (stmt == NULL)
			goto out;
		sqlite3_bind_int64(stmt, 1, msgs[i].pop3_retrieved != 0 ?
						    msgs[i].pop3_retrieved :
						    when);
		bind_u64(stmt, 2, modseq);
		bind_u64(stmt, 3, mailbox_id);
		bind_u64(stmt, 4, msgs[i].uid);
		if (sq_done(su, stmt, error_r) < 0)
			goto out;
		/* as S_MSG_SET_POP3 left it, for the views */
		msgs[changed] = msgs[i];
		msgs[changed].flags |= STORE_FLAG_SEEN;
		msgs[changed].modseq = modseq;
		changed++;
	}
	if (changed == 0) {
		sq_rollback(su);
		ret = 1;
		goto out;
	}
	if (sq_set_mailbox_modseq(su, mailbox_id, modseq, error_r) < 0 ||
	    sq_commit(su, error_r) < 0)
		goto out;
	store_view_apply(user, mailbox_id, before, modseq, msgs, changed,
			 NULL, 0);
	store_notify(user, mailbox_id, STORE_CHANGE_FLAGS, modseq);
	ret = 1;
out:
	if (ret < 0)
		sq_rollback(su);
	free(msgs);
	return ret;
}

/* Whether this expunge operation looks at the log's length: one in
   max / SQ_TRIM_STEPS on average, drawn at random (a counter could keep
   missing one mailbox while its user alternates between two). */
#define SQ_TRIM_STEPS 512
static bool
sq_trim_due(struct sq_user *su, unsigned long max)
{
	unsigned long every = max / SQ_TRIM_STEPS;

	if (every <= 1)
		return true;
	/* xorshift64, from a seed that is never 0 */
	if (su->trim_rand == 0 &&
	    (getrandom(&su->trim_rand, sizeof(su->trim_rand), 0) !=
	     sizeof(su->trim_rand) || su->trim_rand == 0))
		su->trim_rand = (uint64_t)(uintptr_t)su | 1;
	su->trim_rand ^= su->trim_rand << 13;
	su->trim_rand ^= su->trim_rand >> 7;
	su->trim_rand ^= su->trim_rand << 17;
	return su->trim_rand % every == 0;
}

/* Keeps the expunge log of a mailbox near store->expunge_log_max entries
   (whole operations: everything at or below the cut modseq goes) and
   raises the mailbox's expunge_floor to match. Inside a transaction.
   Finding the cut walks max index entries (OFFSET), which every EXPUNGE
   of a busy mailbox paid (6% of the server's CPU under 50 sessions of
   one mailbox), so only one operation in max / SQ_TRIM_STEPS looks: the
   log may pass the limit by that many operations' entries. */
static int
sq_expunge_trim(struct store_user *user, uint64_t mailbox_id,
		const char **error_r)
{
	struct sq_user *su = SQ(user);

	if (!sq_trim_due(su, user->store->expunge_log_max))
		return 0;
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_EXP_NTH);
	if (stmt == NULL)
		return -1;
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, user->store->expunge_log_max);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return sq_fail(su, error_r, "expunge log query failed");
	}
	uint64_t cut = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	if ((stmt = sq_stmt(su, error_r, S_EXP_TRIM)) == NULL)
		return -1;
	bind_u64(stmt, 1, mailbox_id);
	bind_u64(stmt, 2, cut);
	if (sq_done(su, stmt, error_r) < 0)
		return -1;
	if ((stmt = sq_stmt(su, error_r, S_MB_SET_FLOOR)) == NULL)
		return -1;
	bind_u64(stmt, 1, cut);
	bind_u64(stmt, 2, mailbox_id);
	return sq_done(su, stmt, error_r);
}

/* Expunges the listed messages of one mailbox under one new modseq, in the
   caller's transaction (begun at the mailbox's HIGHESTMODSEQ before);
   commits and notifies. */
static int
sq_expunge_list(struct store_user *user, uint64_t mailbox_id, uint64_t before,
		const struct sq_uid_blob *msgs, unsigned count,
		const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct sq_unlinks unlinks = { 0 };
	struct sq_removed removed = { 0, 0 };
	uint64_t modseq;

	if (count == 0) {
		sq_rollback(su);
		return 0;
	}
	if (sq_modseq_next(su, &modseq, error_r) < 0)
		goto fail;
	for (unsigned i = 0; i < count; i++) {
		if (sq_remove_message(su, mailbox_id, msgs[i].uid,
				      msgs[i].blob_id, msgs[i].size, modseq,
				      &unlinks, &removed, error_r) < 0)
			goto fail;
	}
	if (sq_usage_add(su, -removed.messages, -removed.bytes,
			 error_r) < 0 ||
	    sq_set_mailbox_modseq(su, mailbox_id, modseq, error_r) < 0 ||
	    sq_expunge_trim(user, mailbox_id, error_r) < 0 ||
	    sq_commit(su, error_r) < 0)
		goto fail;
	sq_probe_note(su, mailbox_id, modseq);
	uint32_t *uids = store_malloc0(sizeof(*uids) * count);
	for (unsigned i = 0; i < count; i++)
		uids[i] = (uint32_t)msgs[i].uid;
	store_view_apply(user, mailbox_id, before, modseq, NULL, 0, uids,
			 count);
	free(uids);
	sq_unlinks_run(user, &unlinks);
	store_notify(user, mailbox_id, STORE_CHANGE_EXPUNGE, modseq);
	return 0;
fail:
	sq_rollback(su);
	free(unlinks.ids);
	return -1;
}

static int
sq_expunge(struct store_user *user, uint64_t mailbox_id,
	   const struct store_uidset *uids, unsigned *expunged_r,
	   const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct sq_uid_blob *msgs = NULL;
	unsigned count = 0, alloc = 0;
	uint64_t before;
	int ret;

	if ((ret = sq_begin_on_mailbox(su, mailbox_id, &before, error_r)) <= 0)
		return ret;
	for (unsigned i = 0; i < uids->count; i++) {
		if (sq_uid_blobs(su, S_MSG_UIDS, mailbox_id,
				 uids->ranges[i].first, uids->ranges[i].last,
				 &msgs, &count, &alloc, error_r) < 0) {
			sq_rollback(su);
			free(msgs);
			return -1;
		}
	}
	ret = sq_expunge_list(user, mailbox_id, before, msgs, count, error_r);
	free(msgs);
	if (ret < 0)
		return -1;
	*expunged_r = count;
	return 1;
}

static int
sq_pop3_expire(struct store_user *user, time_t before, unsigned *expunged_r,
	       const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info info;
	struct sq_uid_blob *msgs = NULL;
	unsigned count = 0, alloc = 0;
	int ret;

	if (sq_begin(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, 0, "INBOX", &info, error_r)) <= 0) {
		sq_rollback(su);
		return ret < 0 ? -1 : 0;
	}
	uint64_t inbox_id = info.id, was = info.highestmodseq;
	store_mailbox_info_free(&info);
	if (sq_uid_blobs(su, S_MSG_POP3_EXPIRED, inbox_id, (uint64_t)before,
			 0, &msgs, &count, &alloc, error_r) < 0) {
		sq_rollback(su);
		free(msgs);
		return -1;
	}
	ret = sq_expunge_list(user, inbox_id, was, msgs, count, error_r);
	free(msgs);
	if (ret < 0)
		return -1;
	*expunged_r = count;
	return 0;
}

static int
sq_messages_copy(struct store_user *user, uint64_t src_mailbox_id,
		 const struct store_uidset *uids, uint64_t dst_mailbox_id,
		 bool move, bool all, uint32_t **src_uids_r,
		 uint32_t **dst_uids_r, unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_mailbox_info src, dst;
	struct store_message *msgs = NULL;
	struct sq_unlinks unlinks = { 0 };
	struct sq_removed removed = { 0, 0 };
	unsigned count = 0;
	uint64_t modseq;
	int ret;

	if (sq_begin(su, error_r) < 0)
		return -1;
	if ((ret = sq_mailbox_get(su, src_mailbox_id, NULL, &src,
				  error_r)) <= 0) {
		sq_rollback(su);
		return ret;
	}
	store_mailbox_info_free(&src);
	if ((ret = sq_mailbox_get(su, dst_mailbox_id, NULL, &dst,
				  error_r)) <= 0) {
		sq_rollback(su);
		return ret;
	}
	uint32_t uidnext = dst.uidnext;
	store_mailbox_info_free(&dst);
	ret = -1;
	if (sq_messages_in(su, src_mailbox_id, uids, &msgs, &count,
			   error_r) < 0)
		goto out;
	if (all) {
		/* The set holds only UIDs the caller knows exist: one row
		   short means one was expunged meanwhile. */
		uint64_t want = 0;
		for (unsigned i = 0; i < uids->count; i++)
			want += (uint64_t)uids->ranges[i].last -
				uids->ranges[i].first + 1;
		if (count != want) {
			store_error_expunged(error_r);
			goto out;
		}
	}
	if (count == 0) {
		sq_rollback(su);
		ret = 1;
		goto out;
	}
	if (count > UINT32_MAX - 1 - uidnext) {
		store_error(error_r, "Target mailbox has run out of UIDs");
		goto out;
	}
	/* Sizes come from rows, so no sum of them can overflow 64 bits. */
	uint64_t total = 0;
	for (unsigned i = 0; i < count; i++)
		total += msgs[i].size;
	/* RFC 9208 4.3.1: COPY over quota fails whole; a MOVE stays in the
	   same quota root and changes no usage. */
	if (!move && sq_quota_limited(&user->quota)) {
		struct store_quota_usage usage;

		if (sq_usage_read(su, true, &usage, error_r) < 0)
			goto out;
		if (!store_quota_allows(&user->quota, &usage, count, total)) {
			store_error_overquota(error_r);
			goto out;
		}
	}
	if (sq_modseq_next(su, &modseq, error_r) < 0)
		goto out;
	uint32_t *src_uids = store_malloc0(sizeof(uint32_t) * count);
	uint32_t *dst_uids = store_malloc0(sizeof(uint32_t) * count);
	*src_uids_r = src_uids;
	*dst_uids_r = dst_uids;
	time_t now = store_now(user->store);
	for (unsigned i = 0; i < count; i++) {
		sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MSG_INSERT);
		if (stmt == NULL)
			goto out;
		src_uids[i] = msgs[i].uid;
		dst_uids[i] = uidnext++;
		bind_u64(stmt, 1, dst_mailbox_id);
		bind_u64(stmt, 2, dst_uids[i]);
		bind_u64(stmt, 3, msgs[i].blob_id);
		bind_u64(stmt, 4, msgs[i].size);
		sqlite3_bind_int64(stmt, 5, msgs[i].internal_date);
		sqlite3_bind_int64(stmt, 6, now);
		sqlite3_bind_int(stmt, 7, msgs[i].flags);
		bind_u64(stmt, 8, msgs[i].keywords);
		bind_u64(stmt, 9, modseq);
		if (sq_done(su, stmt, error_r) < 0)
			goto out;
		if ((stmt = sq_stmt(su, error_r, S_BLOB_REF)) == NULL)
			goto out;
		sqlite3_bind_int(stmt, 1, 1);
		bind_u64(stmt, 2, msgs[i].blob_id);
		if (sq_done(su, stmt, error_r) < 0)
			goto out;
		if (move && sq_remove_message(su, src_mailbox_id, msgs[i].uid,
					      msgs[i].blob_id, msgs[i].size,
					      modseq, &unlinks, &removed,
					      error_r) < 0)
			goto out;
	}
	/* What came in, less what a MOVE's removals above took away. */
	if (sq_usage_add(su, (int64_t)count - removed.messages,
			 (int64_t)total - removed.bytes, error_r) < 0)
		goto out;
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_MB_SET_UIDNEXT);
	if (stmt == NULL)
		goto out;
	bind_u64(stmt, 1, uidnext);
	bind_u64(stmt, 2, modseq);
	bind_u64(stmt, 3, dst_mailbox_id);
	if (sq_done(su, stmt, error_r) < 0)
		goto out;
	if (move && (sq_set_mailbox_modseq(su, src_mailbox_id, modseq,
					   error_r) < 0 ||
		     sq_expunge_trim(user, src_mailbox_id, error_r) < 0))
		goto out;
	if (sq_commit(su, error_r) < 0)
		goto out;
	/* The new rows hold references, so nothing is unlinked here. */
	sq_unlinks_run(user, &unlinks);
	*count_r = count;
	store_notify(user, dst_mailbox_id, STORE_CHANGE_SAVE, modseq);
	if (move)
		store_notify(user, src_mailbox_id, STORE_CHANGE_EXPUNGE,
			     modseq);
	ret = 1;
out:
	if (ret < 0) {
		sq_rollback(su);
		free(unlinks.ids);
		free(*src_uids_r);
		free(*dst_uids_r);
		*src_uids_r = *dst_uids_r = NULL;
	}
	free(msgs);
	return ret;
}

/* ---- startup check ------------------------------------------------------ */

static bool
parse_hex64(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;

	if (len != 16)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = (v << 4) | d;
	}
	*v_r = v;
	return true;
}

static void
sq_check_tmp(struct store_user *user, struct store_check_result *result)
{
	struct sq_user *su = SQ(user);
	int fd = dup(su->tmp_fd);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);

	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(dir);
	struct dirent *d;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		char *end;
		long pid = strtol(d->d_name, &end, 10);
		/* A file of another process still running is a save in
		   progress (e.g. `quire deliver`): leave it. */
		if (end != d->d_name && *end == '.' && pid > 0 &&
		    pid != (long)getpid() &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		if (unlinkat(su->tmp_fd, d->d_name, 0) == 0)
			result->tmp_removed++;
	}
	closedir(dir);
}

/* Blob files without a row. Called inside the write transaction, so no
   other process is between its rename and its commit. */
static int
sq_check_orphans(struct store_user *user, struct store_check_result *result,
		 const char **error_r)
{
	struct sq_user *su = SQ(user);
	int fd = dup(su->blobs_fd);
	DIR *top = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *d1;

	if (top == NULL) {
		if (fd >= 0)
			close(fd);
		return store_error(error_r, "reading blobs/ failed: %s",
				   strerror(errno));
	}
	rewinddir(top);
	while ((d1 = readdir(top)) != NULL) {
		if (d1->d_name[0] == '.')
			continue;
		int sfd = openat(su->blobs_fd, d1->d_name,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *sub = sfd < 0 ? NULL : fdopendir(sfd);
		if (sub == NULL) {
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		struct dirent *d2;
		while ((d2 = readdir(sub)) != NULL) {
			uint64_t id;
			if (d2->d_name[0] == '.')
				continue;
			if (!parse_hex64(d2->d_name, strlen(d2->d_name), &id)) {
				log_warn(&sq_log_ctx,
					 "check: %s/blobs/%s/%s: unknown file",
					 su->dir_path, d1->d_name, d2->d_name);
				continue;
			}
			sqlite3_stmt *stmt = sq_stmt(su, error_r, S_BLOB_GET);
			if (stmt == NULL) {
				closedir(sub);
				closedir(top);
				return sq_fail(su, error_r, "prepare failed");
			}
			bind_u64(stmt, 1, id);
			int rc = sqlite3_step(stmt);
			sqlite3_reset(stmt);
			if (rc == SQLITE_ROW)
				continue;
			if (rc != SQLITE_DONE) {
				closedir(sub);
				closedir(top);
				return sq_fail(su, error_r,
					       "blob lookup failed");
			}
			if (unlinkat(sfd, d2->d_name, 0) == 0)
				result->orphan_blobs++;
		}
		closedir(sub);
	}
	closedir(top);
	return 0;
}

/* Rows whose file is gone: lost data. Expunge them so clients stop
   seeing messages they cannot fetch. */
static int
sq_check_missing(struct store_user *user, struct store_check_result *result,
		 const char **error_r)
{
	struct sq_user *su = SQ(user);
	uint64_t *ids = NULL, modseq = 0;
	unsigned count = 0, alloc = 0;
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_BLOB_ALL);
	int rc, ret = -1;

	if (stmt == NULL)
		return sq_fail(su, error_r, "prepare failed");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		uint64_t id = col_u64(stmt, 0);
		char dir[3], file[20];
		struct stat st;
		blob_name(id, dir, file);
		if (fstatat(su->blobs_fd, file, &st, 0) == 0 || errno != ENOENT)
			continue;
		store_array_grow((void **)&ids, sizeof(*ids), &alloc, count);
		ids[count++] = id;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(ids);
		return sq_fail(su, error_r, "blob list failed");
	}

	struct { uint64_t mailbox_id; uint32_t uid; } *rows = NULL;
	unsigned nrows = 0, rows_alloc = 0;
	for (unsigned i = 0; i < count; i++) {
		if ((stmt = sq_stmt(su, error_r, S_MSG_BY_BLOB)) == NULL)
			goto out;
		bind_u64(stmt, 1, ids[i]);
		unsigned first = nrows;
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			store_array_grow((void **)&rows, sizeof(*rows),
					 &rows_alloc, nrows);
			rows[nrows].mailbox_id = col_u64(stmt, 0);
			rows[nrows].uid = (uint32_t)sqlite3_column_int64(stmt,
									1);
			nrows++;
		}
		sqlite3_reset(stmt);
		if (rc != SQLITE_DONE) {
			sq_fail(su, error_r, "message query failed");
			goto out;
		}
		if (modseq == 0 && sq_modseq_next(su, &modseq, error_r) < 0)
			goto out;
		for (unsigned j = first; j < nrows; j++) {
			log_error(&sq_log_ctx,
				  "check: user %s: file of message uid=%u "
				  "(mailbox id %llu) is missing; expunged",
				  user->name, rows[j].uid,
				  (unsigned long long)rows[j].mailbox_id);
			if ((stmt = sq_stmt(su, error_r, S_EXP_INSERT)) == NULL)
				goto out;
			bind_u64(stmt, 1, rows[j].mailbox_id);
			bind_u64(stmt, 2, rows[j].uid);
			bind_u64(stmt, 3, modseq);
			if (sq_done(su, stmt, error_r) < 0)
				goto out;
			if ((stmt = sq_stmt(su, error_r, S_MSG_DELETE)) == NULL)
				goto out;
			bind_u64(stmt, 1, rows[j].mailbox_id);
			bind_u64(stmt, 2, rows[j].uid);
			if (sq_done(su, stmt, error_r) < 0)
				goto out;
			if (sq_set_mailbox_modseq(su, rows[j].mailbox_id,
						  modseq, error_r) < 0)
				goto out;
			result->missing_blobs++;
		}
		if ((stmt = sq_stmt(su, error_r, S_BLOB_DELETE)) == NULL)
			goto out;
		bind_u64(stmt, 1, ids[i]);
		if (sq_done(su, stmt, error_r) < 0)
			goto out;
	}
	ret = 0;
out:
	free(ids);
	free(rows);
	return ret;
}

static int
sq_check_user(struct store_user *user, struct store_check_result *result,
	      const char **error_r)
{
	struct sq_user *su = SQ(user);
	struct store_check_result r = { 0 };

	sq_check_tmp(user, &r);
	if (sq_begin(su, error_r) < 0)
		return -1;
	/* The quota counters are recounted at their next use: whatever an
	   older version or a lost row did to them is gone. */
	if (sq_check_orphans(user, &r, error_r) < 0 ||
	    sq_check_missing(user, &r, error_r) < 0 ||
	    sq_usage_clear(su, error_r) < 0 ||
	    sq_commit(su, error_r) < 0) {
		sq_rollback(su);
		result->tmp_removed += r.tmp_removed;
		return -1;
	}
	result->tmp_removed += r.tmp_removed;
	result->orphan_blobs += r.orphan_blobs;
	result->missing_blobs += r.missing_blobs;
	return 0;
}

/* Walks users/<xx>/<user>/. */
static int
sq_check(struct store *store, struct store_check_result *result,
	 const char **error_r)
{
	size_t len = strlen(store->data_dir) + 16;
	char *path = store_malloc0(len);
	DIR *top;

	snprintf(path, len, "%s/users", store->data_dir);
	top = opendir(path);
	if (top == NULL) {
		int err = errno;
		free(path);
		if (err == ENOENT)
			return 0;
		return store_error(error_r, "opendir(%s/users) failed: %s",
				   store->data_dir, strerror(err));
	}
	struct dirent *d1;
	while ((d1 = readdir(top)) != NULL) {
		if (d1->d_name[0] == '.')
			continue;
		size_t sublen = len + strlen(d1->d_name) + 2;
		char *sub = store_malloc0(sublen);
		snprintf(sub, sublen, "%s/%s", path, d1->d_name);
		DIR *dir = opendir(sub);
		struct dirent *d2;
		while (dir != NULL && (d2 = readdir(dir)) != NULL) {
			const char *name = d2->d_name, *error;
			char hex[3];
			if (strncmp(name, ".deleted.", 9) == 0) {
				size_t tlen = sublen + strlen(name) + 2;
				char *trash = store_malloc0(tlen);
				snprintf(trash, tlen, "%s/%s", sub, name);
				if (sq_remove_trash(trash, &error) < 0) {
					log_error(&sq_log_ctx, "check: %s",
						  error);
				}
				free(trash);
				continue;
			}
			if (name[0] == '.' ||
			    !store_username_valid(name, &error))
				continue;
			snprintf(hex, sizeof(hex), "%02x",
				 store_name_hash(name) & 0xff);
			if (strcmp(hex, d1->d_name) != 0) {
				log_warn(&sq_log_ctx,
					 "check: users/%s/%s is in the wrong "
					 "directory; skipped",
					 d1->d_name, name);
				continue;
			}
			struct store_user *user;
			if (store_user_get(store, name, &user, &error) < 0) {
				log_error(&sq_log_ctx, "check: user %s: %s",
					  name, error);
				result->errors++;
				continue;
			}
			result->users++;
			store_user_lock(user);
			if (sq_check_user(user, result, &error) < 0) {
				log_error(&sq_log_ctx, "check: user %s: %s",
					  name, error);
				result->errors++;
			}
			sq_call_end(user);
			store_user_unlock(user);
			store_user_unref(&user);
		}
		if (dir != NULL)
			closedir(dir);
		free(sub);
	}
	closedir(top);
	free(path);
	return 0;
}

/* ---- metadata (RFC 5464) ---------------------------------------------- */

/* Whether a mailbox id names something that can hold entries: 0 is the
   server, anything else must be an existing mailbox. */
static int
sq_metadata_owner(struct sq_user *su, uint64_t mailbox_id,
		  const char **error_r)
{
	struct store_mailbox_info info;
	int ret;

	if (mailbox_id == 0)
		return 1;
	ret = sq_mailbox_get(su, mailbox_id, NULL, &info, error_r);
	if (ret > 0)
		store_mailbox_info_free(&info);
	return ret;
}

/* Slashes in name after its first prefix_len bytes: the depth of an
   entry below the one asked for. */
static unsigned
sq_metadata_depth(const char *name, size_t prefix_len)
{
	unsigned depth = 0;

	for (const char *p = name + prefix_len; *p != '\0'; p++) {
		if (*p == '/')
			depth++;
	}
	return depth;
}

static int
sq_metadata_get(struct store_user *user, uint64_t mailbox_id,
		const char *entry, unsigned depth,
		struct store_metadata_entry **entries_r, unsigned *count_r,
		const char **error_r)
{
	struct sq_user *su = SQ(user);
	size_t entry_len = strlen(entry);
	unsigned alloc = 0;
	int ret, rc;

	if ((ret = sq_metadata_owner(su, mailbox_id, error_r)) <= 0)
		return ret;
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_META_LIST);
	if (stmt == NULL)
		return -1;
	bind_u64(stmt, 1, mailbox_id);
	sqlite3_bind_text(stmt, 2, entry, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		if (name == NULL ||
		    sq_metadata_depth(name, entry_len) > depth)
			continue;
		const void *value = sqlite3_column_blob(stmt, 1);
		size_t size = (size_t)sqlite3_column_bytes(stmt, 1);
		store_array_grow((void **)entries_r, sizeof(**entries_r),
				 &alloc, *count_r);
		struct store_metadata_entry *e = &(*entries_r)[*count_r];
		e->name = store_strdup(name);
		/* One more byte: a NUL that is not counted. */
		e->value = store_malloc0(size + 1);
		if (size > 0)
			memcpy(e->value, value, size);
		e->size = size;
		(*count_r)++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_metadata_entries_free(entries_r, *count_r);
		*count_r = 0;
		return sq_fail(su, error_r, "reading metadata failed");
	}
	return 1;
}

/* A single-number query: COUNT or SUM. */
static int
sq_metadata_number(struct sq_user *su, enum sq_stmt_id id,
		   uint64_t mailbox_id, uint64_t *value_r,
		   const char **error_r)
{
	sqlite3_stmt *stmt = sq_stmt(su, error_r, id);

	if (stmt == NULL)
		return -1;
	if (id == S_META_COUNT)
		bind_u64(stmt, 1, mailbox_id);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return sq_fail(su, error_r, "counting metadata failed");
	}
	*value_r = col_u64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

static int
sq_metadata_set(struct store_user *user, uint64_t mailbox_id,
		const struct store_metadata_change *changes, unsigned count,
		enum store_metadata_refusal *refusal_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	uint64_t count_before, count_after, total_before, total_after;
	sqlite3_stmt *stmt;
	int ret;

	if (sq_begin(su, error_r) < 0)
		return -1;
	if ((ret = sq_metadata_owner(su, mailbox_id, error_r)) <= 0) {
		if (ret == 0)
			*refusal_r = STORE_METADATA_NO_MAILBOX;
		goto out;
	}
	ret = -1;
	if (sq_metadata_number(su, S_META_COUNT, mailbox_id, &count_before,
			       error_r) < 0 ||
	    sq_metadata_number(su, S_META_TOTAL, 0, &total_before,
			       error_r) < 0)
		goto out;
	for (unsigned i = 0; i < count; i++) {
		const struct store_metadata_change *c = &changes[i];
		stmt = sq_stmt(su, error_r, c->value != NULL ? S_META_PUT :
							       S_META_DEL);
		if (stmt == NULL)
			goto out;
		bind_u64(stmt, 1, mailbox_id);
		sqlite3_bind_text(stmt, 2, c->name, -1, SQLITE_STATIC);
		if (c->value != NULL) {
			sqlite3_bind_blob64(stmt, 3, c->value, c->size,
					    SQLITE_STATIC);
		}
		if (sq_done(su, stmt, error_r) < 0)
			goto out;
	}
	if (sq_metadata_number(su, S_META_COUNT, mailbox_id, &count_after,
			       error_r) < 0 ||
	    sq_metadata_number(su, S_META_TOTAL, 0, &total_after,
			       error_r) < 0)
		goto out;
	/* Only growth is refused: a user already over a limit (lowered
	   since) can still remove or shrink entries. */
	if ((count_after > METADATA_MAX_ENTRIES &&
	     count_after > count_before) ||
	    (total_after > METADATA_MAX_USER_SIZE &&
	     total_after > total_before)) {
		*refusal_r = STORE_METADATA_TOO_MANY;
		ret = 0;
		goto out;
	}
	if (sq_commit(su, error_r) < 0)
		goto out;
	return 1;
out:
	sq_rollback(su);
	return ret;
}

/* ---- full-text index ------------------------------------------------- */

static int
sq_fts_set(struct store_user *user, const struct store_fts_entry *entries,
	   unsigned count, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt;

	/* A row lost to a power cut is pending again (blobs.fts with
	   it). */
	sq_set_lazy(su, true);
	if (sq_begin(su, error_r) < 0) {
		sq_set_lazy(su, false);
		return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		if ((stmt = sq_stmt(su, error_r, S_BLOB_GET)) == NULL)
			goto fail;
		bind_u64(stmt, 1, entries[i].blob_id);
		int rc = sqlite3_step(stmt);
		sqlite3_reset(stmt);
		if (rc == SQLITE_DONE)
			continue; /* expunged meanwhile */
		if (rc != SQLITE_ROW) {
			sq_fail(su, error_r, "blob lookup failed");
			goto fail;
		}
		if (sq_fts_write(su, entries[i].blob_id, &entries[i].doc,
				 error_r) < 0)
			goto fail;
	}
	if (sq_commit(su, error_r) < 0)
		goto fail;
	sq_set_lazy(su, false);
	return 0;
fail:
	sq_rollback(su);
	sq_set_lazy(su, false);
	return -1;
}

/* Collects column 0 of every row of stmt (already bound). */
static int
sq_collect_ids(struct sq_user *su, sqlite3_stmt *stmt, uint64_t **ids_r,
	       unsigned *count_r, const char **error_r)
{
	unsigned alloc = 0;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_array_grow((void **)ids_r, sizeof(**ids_r), &alloc,
				 *count_r);
		(*ids_r)[(*count_r)++] = col_u64(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(*ids_r);
		*ids_r = NULL;
		*count_r = 0;
		return sq_fail(su, error_r, "listing blobs failed");
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
sq_fts_blob_list(struct store_user *user, uint64_t **ids_r,
		 unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_BLOB_ALL);

	if (stmt == NULL)
		return -1;
	return sq_collect_ids(su, stmt, ids_r, count_r, error_r);
}

static int
sq_fts_unindexed(struct store_user *user, uint64_t mailbox_id,
		 uint64_t **ids_r, unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_FTS_UNINDEXED);

	if (stmt == NULL)
		return -1;
	bind_u64(stmt, 1, mailbox_id);
	if (sq_collect_ids(su, stmt, ids_r, count_r, error_r) < 0)
		return -1;
	if (*count_r > 1)
		qsort(*ids_r, *count_r, sizeof(**ids_r), cmp_u64);
	return 0;
}

static const char *const sq_fts_columns[STORE_FTS_COLUMN_COUNT] = {
	[STORE_FTS_ROOT] = "root",
	[STORE_FTS_ADDR] = "addr",
	[STORE_FTS_OTHER] = "other",
	[STORE_FTS_BODY] = "body",
};

/* Grows a NUL-terminated string. */
static void
sq_str_add(char **str, size_t *len, size_t *alloc, const char *add,
	   size_t add_len)
{
	if (*len + add_len + 1 > *alloc) {
		size_t n = *alloc == 0 ? 256 : *alloc;

		while (n < *len + add_len + 1)
			n *= 2;
		*str = store_realloc(*str, n);
		*alloc = n;
	}
	memcpy(*str + *len, add, add_len);
	*len += add_len;
	(*str)[*len] = '\0';
}

/* Hands one row's wanted columns (statement columns first..) to row(). */
static void
sq_fts_emit(sqlite3_stmt *stmt, int first, unsigned column_mask,
	    uint64_t blob_id, const struct store_fts_callbacks *callbacks,
	    void *context)
{
	struct store_fts_doc doc;

	memset(&doc, 0, sizeof(doc));
	for (unsigned c = 0; c < STORE_FTS_COLUMN_COUNT; c++) {
		if ((column_mask & (1U << c)) == 0)
			continue;
		doc.text[c] = (const char *)sqlite3_column_text(stmt,
							       first + (int)c);
		doc.len[c] = (size_t)sqlite3_column_bytes(stmt,
							  first + (int)c);
	}
	callbacks->row(context, blob_id, &doc);
}

/* Every row of the mailbox's messages, with their text. */
static int
sq_fts_scan(struct sq_user *su, uint64_t mailbox_id, unsigned column_mask,
	    const struct store_fts_callbacks *callbacks, void *context,
	    const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(su->db,
			       "SELECT f.rowid, f.root, f.addr, f.other, "
			       "f.body FROM messages m JOIN fts f "
			       "ON f.rowid = m.blob_id WHERE m.mailbox_id = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return sq_fail(su, error_r, "preparing index scan failed");
	bind_u64(stmt, 1, mailbox_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		uint64_t blob_id = col_u64(stmt, 0);

		if (callbacks->want(context, blob_id)) {
			sq_fts_emit(stmt, 1, column_mask, blob_id, callbacks,
				    context);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(su, error_r, "index scan failed");
	return 0;
}

static int
sq_fts_query(struct store_user *user, uint64_t mailbox_id,
	     unsigned column_mask, const char *const *terms,
	     unsigned term_count, const struct store_fts_callbacks *callbacks,
	     void *context, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = NULL, *row;
	uint64_t *ids = NULL;
	unsigned count = 0, alloc = 0;
	char *match = NULL;
	size_t len = 0, match_alloc = 0;
	int rc, ret = -1;

	if (term_count == 0) {
		return sq_fts_scan(su, mailbox_id, column_mask, callbacks,
				   context, error_r);
	}
	/* "{root addr} : ("abc" "bcd")": every trigram in one of the
	   columns; a string's quotes are doubled. */
	sq_str_add(&match, &len, &match_alloc, "{", 1);
	for (unsigned c = 0; c < STORE_FTS_COLUMN_COUNT; c++) {
		if ((column_mask & (1U << c)) != 0) {
			sq_str_add(&match, &len, &match_alloc, " ", 1);
			sq_str_add(&match, &len, &match_alloc,
				   sq_fts_columns[c],
				   strlen(sq_fts_columns[c]));
		}
	}
	sq_str_add(&match, &len, &match_alloc, "} : (", 5);
	for (unsigned i = 0; i < term_count; i++) {
		const char *t = terms[i];

		sq_str_add(&match, &len, &match_alloc, i == 0 ? "\"" : " \"",
			   i == 0 ? 1 : 2);
		for (; *t != '\0'; t++) {
			sq_str_add(&match, &len, &match_alloc, t, 1);
			if (*t == '"')
				sq_str_add(&match, &len, &match_alloc, t, 1);
		}
		sq_str_add(&match, &len, &match_alloc, "\"", 1);
	}
	sq_str_add(&match, &len, &match_alloc, ")", 1);

	/* Ids first, text after: a result column is computed for every
	   row, and most candidates may be in other mailboxes. */
	if (sqlite3_prepare_v2(su->db,
			       "SELECT rowid FROM fts WHERE fts MATCH ?", -1,
			       &stmt, NULL) != SQLITE_OK) {
		sq_fail(su, error_r, "preparing index query failed");
		goto out;
	}
	sqlite3_bind_text(stmt, 1, match, (int)len, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		uint64_t blob_id = col_u64(stmt, 0);

		if (!callbacks->want(context, blob_id))
			continue;
		store_array_grow((void **)&ids, sizeof(*ids), &alloc, count);
		ids[count++] = blob_id;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(su, error_r, "index query failed");
		goto out;
	}
	for (unsigned i = 0; i < count; i++) {
		if ((row = sq_stmt(su, error_r, S_FTS_ROW)) == NULL)
			goto out;
		bind_u64(row, 1, ids[i]);
		rc = sqlite3_step(row);
		if (rc == SQLITE_ROW) {
			sq_fts_emit(row, 0, column_mask, ids[i], callbacks,
				    context);
		}
		sqlite3_reset(row);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			sq_fail(su, error_r, "index row read failed");
			goto out;
		}
	}
	ret = 0;
out:
	sqlite3_finalize(stmt);
	free(ids);
	free(match);
	return ret;
}

static int
sq_fts_pending(struct store_user *user, unsigned max, uint64_t **ids_r,
	       unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt = sq_stmt(su, error_r, S_FTS_PENDING);

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)max);
	return sq_collect_ids(su, stmt, ids_r, count_r, error_r);
}

/* Two counts from one row of stmt (already bound). */
static int
sq_count2(struct sq_user *su, sqlite3_stmt *stmt, uint64_t *a_r,
	  uint64_t *b_r, const char **error_r)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW) {
		*a_r = col_u64(stmt, 0);
		if (b_r != NULL)
			*b_r = col_u64(stmt, 1);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW)
		return sq_fail(su, error_r, "counting failed");
	return 0;
}

/* The index without its garbage, in one go (limits.h FTS_GC_COPY_ROWS):
   the live rows are copied into a new table, which replaces the old.
   Every row not in fts_garbage is live: a blob that goes puts its id
   there (the trigger). Cached statements naming the table are prepared
   again by SQLite at their next step (schema change). */
static int
sq_fts_rebuild(struct sq_user *su, const char **error_r)
{
	static const char sql[] =
		"CREATE VIRTUAL TABLE fts_new USING fts5" SQ_FTS_COLUMNS ";"
		"INSERT INTO fts_new (rowid, root, addr, other, body)"
		" SELECT rowid, root, addr, other, body FROM fts"
		" WHERE rowid NOT IN (SELECT id FROM fts_garbage);"
		"DROP TABLE fts;"
		"ALTER TABLE fts_new RENAME TO fts;"
		"DELETE FROM fts_garbage;";

	if (sqlite3_exec(su->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(su, error_r, "rebuilding the index failed");
	return 0;
}

static int
sq_fts_collect_garbage(struct store_user *user, unsigned max,
		       unsigned *count_r, const char **error_r)
{
	struct sq_user *su = SQ(user);
	sqlite3_stmt *stmt;
	uint64_t *ids = NULL, garbage = 0, garbage_rows = 0, rows = 0;
	unsigned count = 0;

	/* Lost to a power cut, the ids are simply collected again. */
	sq_set_lazy(su, true);
	if (sq_begin(su, error_r) < 0) {
		sq_set_lazy(su, false);
		return -1;
	}
	if ((stmt = sq_stmt(su, error_r, S_FTS_GARBAGE_COUNT)) == NULL ||
	    sq_count2(su, stmt, &garbage, &garbage_rows, error_r) < 0 ||
	    (stmt = sq_stmt(su, error_r, S_FTS_ROW_COUNT)) == NULL ||
	    sq_count2(su, stmt, &rows, NULL, error_r) < 0)
		goto fail;
	uint64_t live = rows > garbage_rows ? rows - garbage_rows : 0;
	if (garbage > 0 && (garbage_rows == 0 || live == 0 ||
			    (live <= FTS_GC_COPY_ROWS &&
			     garbage_rows >= FTS_GC_COPY_MIN_GARBAGE))) {
		/* ids of messages never indexed, or few live rows: all the
		   garbage goes at once */
		if ((garbage_rows > 0 && sq_fts_rebuild(su, error_r) < 0) ||
		    sq_simple(su, S_FTS_GARBAGE_CLEAR, error_r) < 0 ||
		    sq_commit(su, error_r) < 0)
			goto fail;
		sq_set_lazy(su, false);
		*count_r = garbage > UINT_MAX ? UINT_MAX : (unsigned)garbage;
		return 0;
	}
	if ((stmt = sq_stmt(su, error_r, S_FTS_GARBAGE)) == NULL)
		goto fail;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)max);
	if (sq_collect_ids(su, stmt, &ids, &count, error_r) < 0)
		goto fail;
	for (unsigned i = 0; i < count; i++) {
		if ((stmt = sq_stmt(su, error_r, S_FTS_DROP_ROW)) == NULL)
			goto fail;
		bind_u64(stmt, 1, ids[i]);
		if (sq_done(su, stmt, error_r) < 0)
			goto fail;
		if ((stmt = sq_stmt(su, error_r, S_FTS_DROP_GARBAGE)) == NULL)
			goto fail;
		bind_u64(stmt, 1, ids[i]);
		if (sq_done(su, stmt, error_r) < 0)
			goto fail;
	}
	if (sq_commit(su, error_r) < 0)
		goto fail;
	sq_set_lazy(su, false);
	free(ids);
	*count_r = count;
	return 0;
fail:
	sq_rollback(su);
	sq_set_lazy(su, false);
	free(ids);
	return -1;
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.user_open = sq_user_open,
	.user_close = sq_user_close,
	.user_idle = sq_user_idle,
	.call_end = sq_call_end,
	.user_delete = sq_user_delete,
	.mailbox_lookup = sq_mailbox_lookup,
	.mailbox_create = sq_mailbox_create,
	.mailbox_delete = sq_mailbox_delete,
	.mailbox_rename = sq_mailbox_rename,
	.mailbox_set = sq_mailbox_set,
	.subscription_set = sq_subscription_set,
	.subscription_list = sq_subscription_list,
	.mailbox_list = sq_mailbox_list,
	.mailbox_status = sq_mailbox_status,
	.mailbox_changes = sq_mailbox_changes,
	.mailbox_modseq = sq_mailbox_modseq,
	.mailbox_recent_claim = sq_mailbox_recent_claim,
	.message_list = sq_message_list,
	.message_get = sq_message_get,
	.blob_open = sq_blob_open,
	.cache_get = sq_cache_get,
	.cache_set = sq_cache_set,
	.keywords_get = sq_keywords_get,
	.save_begin = sq_save_begin,
	.save_write = sq_save_write,
	.save_open_read = sq_save_open_read,
	.save_finish = sq_save_finish,
	.save_commit_batch = sq_save_commit_batch,
	.save_abort = sq_save_abort,
	.journal_pending = sq_journal_pending,
	.journal_sync = sq_journal_sync,
	.flags_update = sq_flags_update,
	.pop3_mark_retrieved = sq_pop3_mark_retrieved,
	.expunge = sq_expunge,
	.pop3_expire = sq_pop3_expire,
	.messages_copy = sq_messages_copy,
	.quota_usage = sq_quota_usage,
	.metadata_get = sq_metadata_get,
	.metadata_set = sq_metadata_set,
	.check = sq_check,
	.thread_get = sq_thread_get,
	.fts_set = sq_fts_set,
	.fts_blob_list = sq_fts_blob_list,
	.fts_unindexed = sq_fts_unindexed,
	.fts_pending = sq_fts_pending,
	.fts_collect_garbage = sq_fts_collect_garbage,
	.fts_query = sq_fts_query,
};
