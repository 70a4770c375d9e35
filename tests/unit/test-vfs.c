/* The store's SQLite VFS (store-vfs.c): the log grows in chunks of
   written zeros, a commit's frames go out in one write before the
   commit returns, and what it writes is a log stock SQLite recovers,
   also when two connections take turns writing it. */

#include "store/store-vfs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "sqlite-query.h"

/* ---- a counting VFS under ours: how the log is really written ------- */

static sqlite3_vfs count_vfs;
static sqlite3_io_methods count_methods;
static unsigned wal_writes, wal_small_writes;

struct count_file {
	sqlite3_file base;
	bool wal;
	sqlite3_file real[];
};

static int
count_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 ofs)
{
	struct count_file *cf = (struct count_file *)file;

	if (cf->wal) {
		wal_writes++;
		if (amt <= 32)
			wal_small_writes++;
	}
	return cf->real->pMethods->xWrite(cf->real, buf, amt, ofs);
}

#define FORWARD(name, type, args, call)                                     \
	static type count_##name args                                       \
	{                                                                   \
		struct count_file *cf = (struct count_file *)file;          \
		return cf->real->pMethods->x##call;                                \
	}
FORWARD(close, int, (sqlite3_file * file), Close(cf->real))
FORWARD(read, int, (sqlite3_file * file, void *b, int n, sqlite3_int64 o),
	Read(cf->real, b, n, o))
FORWARD(truncate, int, (sqlite3_file * file, sqlite3_int64 n),
	Truncate(cf->real, n))
FORWARD(sync, int, (sqlite3_file * file, int f), Sync(cf->real, f))
FORWARD(size, int, (sqlite3_file * file, sqlite3_int64 *n),
	FileSize(cf->real, n))
FORWARD(lock, int, (sqlite3_file * file, int l), Lock(cf->real, l))
FORWARD(unlock, int, (sqlite3_file * file, int l), Unlock(cf->real, l))
FORWARD(reserved, int, (sqlite3_file * file, int *r),
	CheckReservedLock(cf->real, r))
FORWARD(fcntl, int, (sqlite3_file * file, int op, void *a),
	FileControl(cf->real, op, a))
FORWARD(sector, int, (sqlite3_file * file), SectorSize(cf->real))
FORWARD(devchar, int, (sqlite3_file * file), DeviceCharacteristics(cf->real))
FORWARD(shm_map, int,
	(sqlite3_file * file, int i, int n, int e, void volatile **p),
	ShmMap(cf->real, i, n, e, p))
FORWARD(shm_lock, int, (sqlite3_file * file, int o, int n, int f),
	ShmLock(cf->real, o, n, f))
FORWARD(shm_unmap, int, (sqlite3_file * file, int d), ShmUnmap(cf->real, d))

static void
count_shm_barrier(sqlite3_file *file)
{
	struct count_file *cf = (struct count_file *)file;
	cf->real->pMethods->xShmBarrier(cf->real);
}

static int
count_open(sqlite3_vfs *self, const char *name, sqlite3_file *file,
	   int flags, int *out_flags)
{
	sqlite3_vfs *root = self->pAppData;
	struct count_file *cf = (struct count_file *)file;

	memset(cf, 0, sizeof(*cf));
	int rc = root->xOpen(root, name, cf->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
	cf->base.pMethods = &count_methods;
	return SQLITE_OK;
}

/* Registers the counting VFS as the default, then ours over it. */
static int
setup_vfs(void **state)
{
	(void)state;
	sqlite3_vfs *root = sqlite3_vfs_find("unix");

	assert_non_null(root);
	count_methods = (sqlite3_io_methods){
		.iVersion = 2,
		.xClose = count_close,
		.xRead = count_read,
		.xWrite = count_write,
		.xTruncate = count_truncate,
		.xSync = count_sync,
		.xFileSize = count_size,
		.xLock = count_lock,
		.xUnlock = count_unlock,
		.xCheckReservedLock = count_reserved,
		.xFileControl = count_fcntl,
		.xSectorSize = count_sector,
		.xDeviceCharacteristics = count_devchar,
		.xShmMap = count_shm_map,
		.xShmLock = count_shm_lock,
		.xShmBarrier = count_shm_barrier,
		.xShmUnmap = count_shm_unmap,
	};
	count_vfs = *root;
	count_vfs.iVersion = 2;
	count_vfs.zName = "count";
	count_vfs.pAppData = root;
	count_vfs.szOsFile = (int)sizeof(struct count_file) + root->szOsFile;
	count_vfs.xOpen = count_open;
	assert_int_equal(sqlite3_vfs_register(&count_vfs, 1), SQLITE_OK);
	assert_string_equal(store_vfs_register(), STORE_VFS_NAME);
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

static char dir[64];

static int
setup_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/quire-test-vfs.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* Opens name through vfs in WAL mode; with `exclusive`, in exclusive
   locking mode first (as quired opens users). */
static sqlite3 *
open_db_mode(const char *name, const char *vfs, bool exclusive)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(sqlite3_open_v2(path, &db,
					 SQLITE_OPEN_READWRITE |
						 SQLITE_OPEN_CREATE,
					 vfs),
			 SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (exclusive)
		exec_ok(db, "PRAGMA locking_mode = EXCLUSIVE;");
	exec_ok(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		    "PRAGMA wal_autocheckpoint = 0;");
	return db;
}

static sqlite3 *
open_db(const char *name, const char *vfs)
{
	return open_db_mode(name, vfs, false);
}

/* The exclusive variant, on a connection in exclusive locking mode. */
static sqlite3 *
open_db_exclusive(const char *name)
{
	return open_db_mode(name, STORE_VFS_EXCLUSIVE_NAME, true);
}

static void copy_as_crashed(const char *from, const char *to);

/* A crashed copy of name (see copy_as_crashed) holds `rows` rows and
   passes the integrity check. */
static void
assert_copy_holds(const char *name, const char *copy_name, int rows)
{
	copy_as_crashed(name, copy_name);
	sqlite3 *copy = open_db(copy_name, "unix");
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM t"),
			 rows);
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM pragma_"
					 "integrity_check WHERE "
					 "integrity_check != 'ok'"),
			 0);
	sqlite3_close(copy);
}

static void
insert_rows(sqlite3 *db, int first, int count, int blob_size)
{
	char sql[160];

	for (int i = first; i < first + count; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO t VALUES (%d, randomblob(%d));", i,
			 blob_size);
		exec_ok(db, sql);
	}
}

static off_t
file_size(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Copies the database and its log as a power cut would leave them
   (the connections still open, nothing checkpointed). */
static void
copy_as_crashed(const char *from, const char *to)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd),
		 "cp %s/%s %s/%s && cp %s/%s-wal %s/%s-wal", dir, from, dir,
		 to, dir, from, dir, to);
	assert_int_equal(system(cmd), 0);
}

/* ---- tests ----------------------------------------------------------- */

/* Commits grow the log a chunk at a time, and no frame header is
   written on its own. */
static void
test_wal_chunks_and_one_write_per_frame(void **state)
{
	(void)state;
	sqlite3 *db = open_db("a.db", STORE_VFS_NAME);

	exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	wal_writes = wal_small_writes = 0;
	insert_rows(db, 1, 50, 100);
	off_t size = file_size("a.db-wal");
	assert_true(size > 0);
	assert_int_equal(size % STORE_VFS_WAL_CHUNK, 0);
	/* Every commit writes at least one frame; none sent its header
	   alone. */
	assert_true(wal_writes >= 50);
	assert_int_equal(wal_small_writes, 0);
	/* Past the first chunk: a second one. */
	insert_rows(db, 51, 300, 4000);
	size = file_size("a.db-wal");
	assert_true(size > STORE_VFS_WAL_CHUNK);
	assert_int_equal(size % STORE_VFS_WAL_CHUNK, 0);
	assert_int_equal(sqlite_query_int(db, "SELECT count(*) FROM t"), 350);
	sqlite3_close(db);
}

/* With the exclusive variant each commit of several frames is one
   write to the log; with the shared one, one write per frame. */
static void
test_one_write_per_commit(void **state)
{
	(void)state;
	sqlite3 *ex = open_db_exclusive("d.db");
	sqlite3 *sh = open_db("d2.db", STORE_VFS_NAME);

	for (int i = 0; i < 2; i++) {
		sqlite3 *db = i == 0 ? ex : sh;

		exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);"
			    "CREATE INDEX t_b ON t (b);");
		/* the first commit grows the log by a chunk (its zeros
		   are writes of their own) */
		insert_rows(db, 1, 1, 100);
		wal_writes = 0;
		/* each: a table page and an index page, at least 2
		   frames (well inside the chunk) */
		insert_rows(db, 2, 40, 100);
		if (i == 0)
			assert_int_equal(wal_writes, 40);
		else /* (a page split makes a third frame) */
			assert_true(wal_writes >= 80);
		assert_int_equal(sqlite_query_int(db, "SELECT count(*) "
						  "FROM t"),
				 41);
	}
	sqlite3_close(ex);
	sqlite3_close(sh);
}

/* A transaction that spills frames ahead of its commit and then
   changes those pages again (SQLite rewrites them in place and, at the
   commit, the checksums of every frame after, the commit frame's
   header last), committed without a sync: a crash right after it
   keeps it. Then one that spills and rolls back, and a commit after
   it: the crash copy has the commit and not the rolled-back rows. */
static void
test_spill_rewrite_and_rollback(void **state)
{
	(void)state;
	sqlite3 *db = open_db_exclusive("g.db");

	exec_ok(db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = 8;"
		    "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	exec_ok(db, "BEGIN;");
	insert_rows(db, 1, 300, 1500);
	exec_ok(db, "UPDATE t SET b = randomblob(1400) WHERE id <= 150;");
	exec_ok(db, "COMMIT;");
	assert_copy_holds("g.db", "g2.db", 300);

	exec_ok(db, "BEGIN;");
	insert_rows(db, 301, 300, 1500);
	exec_ok(db, "ROLLBACK;");
	insert_rows(db, 1001, 5, 100);
	assert_int_equal(sqlite_query_int(db, "SELECT count(*) FROM t"), 305);
	assert_copy_holds("g.db", "g3.db", 305);
	sqlite3_close(db);
}

/* A commit larger than one held run (and than one write SQLite's own
   VFS takes) goes out in pieces, and a copy as a crash leaves it reads
   back whole. */
static void
test_large_commit(void **state)
{
	(void)state;
	sqlite3 *db = open_db_exclusive("f.db");

	exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	exec_ok(db, "BEGIN;");
	insert_rows(db, 1, 200, 3000); /* about 600 KiB */
	exec_ok(db, "INSERT INTO t VALUES (1000, zeroblob(400000));");
	exec_ok(db, "COMMIT;");
	assert_int_equal(sqlite_query_int(db, "SELECT count(*) FROM t"), 201);
	copy_as_crashed("f.db", "f2.db");
	sqlite3_close(db);

	sqlite3 *copy = open_db("f2.db", "unix");
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM t"), 201);
	assert_int_equal(sqlite_query_int(copy, "SELECT sum(length(b)) "
					 "FROM t"),
			 200 * 3000 + 400000);
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM pragma_"
					 "integrity_check WHERE "
					 "integrity_check != 'ok'"),
			 0);
	sqlite3_close(copy);
}

/* A commit that is not synced (synchronous=NORMAL) is in the file when
   it returns: another connection reads it at once, and a copy as a
   crash leaves it holds it. */
static void
test_unsynced_commit_is_written(void **state)
{
	(void)state;
	sqlite3 *a = open_db("e.db", STORE_VFS_NAME);
	sqlite3 *b = open_db("e.db", STORE_VFS_NAME);

	exec_ok(a, "PRAGMA synchronous = NORMAL;"
		   "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	for (int i = 1; i <= 30; i++) {
		insert_rows(a, i, 1, 1500);
		assert_int_equal(sqlite_query_int(b, "SELECT count(*) FROM t"),
				 i);
	}
	assert_int_equal(sqlite_query_int(b, "SELECT count(*) FROM pragma_"
					 "integrity_check WHERE "
					 "integrity_check != 'ok'"),
			 0);
	sqlite3_close(a);
	sqlite3_close(b);

	/* the exclusive variant: no other connection can look, but a
	   crash right after the commit must find it in the file */
	sqlite3 *ex = open_db_exclusive("e2.db");
	exec_ok(ex, "PRAGMA synchronous = NORMAL;"
		    "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	insert_rows(ex, 1, 3, 1500);
	assert_copy_holds("e2.db", "e3.db", 3);
	sqlite3_close(ex);
}

/* The zeros past the last frame do not confuse recovery: SQLite's own
   VFS reads every committed row back from a crashed copy. */
static void
test_crashed_copy_recovers(void **state)
{
	(void)state;
	sqlite3 *db = open_db("b.db", STORE_VFS_NAME);

	exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	insert_rows(db, 1, 200, 3000);
	copy_as_crashed("b.db", "b2.db");
	sqlite3_close(db);

	sqlite3 *copy = open_db("b2.db", "unix");
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM t"), 200);
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM pragma_"
					 "integrity_check WHERE "
					 "integrity_check != 'ok'"),
			 0);
	sqlite3_close(copy);
}

/* Two connections take turns writing one log, each growing it past the
   chunk the other last saw: no zeros land on the other's frames. */
static void
test_two_writers_keep_each_others_frames(void **state)
{
	(void)state;
	sqlite3 *a = open_db("c.db", STORE_VFS_NAME);
	sqlite3 *b = open_db("c.db", STORE_VFS_NAME);

	exec_ok(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
	int next = 1;
	for (int round = 0; round < 6; round++) {
		/* about 0.6 MiB each turn */
		insert_rows(round % 2 == 0 ? a : b, next, 150, 4000);
		next += 150;
	}
	assert_true(file_size("c.db-wal") > 3 * STORE_VFS_WAL_CHUNK);
	copy_as_crashed("c.db", "c2.db");
	sqlite3_close(a);
	sqlite3_close(b);

	sqlite3 *copy = open_db("c2.db", "unix");
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM t"), next - 1);
	assert_int_equal(sqlite_query_int(copy, "SELECT count(*) FROM pragma_"
					 "integrity_check WHERE "
					 "integrity_check != 'ok'"),
			 0);
	sqlite3_close(copy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_wal_chunks_and_one_write_per_frame, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(test_one_write_per_commit,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_unsynced_commit_is_written, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(test_large_commit, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_spill_rewrite_and_rollback, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(test_crashed_copy_recovers,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_two_writers_keep_each_others_frames, setup_dir,
			teardown_dir),
	};
	return cmocka_run_group_tests(tests, setup_vfs, NULL);
}
