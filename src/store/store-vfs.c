/* An SQLite VFS over the default one that changes how the write-ahead
   log grows, and nothing else.

   Every durable commit ends in fdatasync() of the log. While the log
   grows (a user's first thousand pages after the database was opened,
   before the first checkpoint lets SQLite start over at its head), each
   commit also changes the file's size, and fdatasync() must then write
   the inode too: one more synchronous block write per commit. So when
   a write would take the log past its end, the log is first extended
   with zeros to the next STORE_VFS_WAL_CHUNK boundary. Written zeros,
   not fallocate(): blocks allocated unwritten change the extent tree
   when first written, which costs the same inode write.

   The zeros are safe where SQLite reads the log: recovery stops at the
   first frame whose salt and checksum do not match the log header, and
   a zeroed frame never matches. SQLite itself leaves old frames beyond
   the valid ones after every restart of the log in the same way.

   SQLite writes each frame of the log as two writes, its 24-byte
   header and then the page, and a commit as one frame per page it
   changed: a flag change is four frames, eight write() calls, each a
   trip through the filesystem's write path (its locks, the file's
   times, every page-cache page the bytes touch). So writes that
   continue one another are held back in a buffer and go out as one
   write(). How far depends on the variant the database was opened
   with:

   - STORE_VFS_NAME, for a database other processes may share: a
     frame's header waits for its page and they go out together, so
     nothing is held once SQLite's call returns.
   - STORE_VFS_EXCLUSIVE_NAME, for a connection in exclusive locking
     mode (the only one on the file): the whole run of a commit's
     frames waits for the page of its commit frame (whose header says
     so: a non-zero database size). Frames a transaction spills ahead
     of its commit stay held until the next call on the file, which
     only this connection makes: after a rollback its next write lands
     where they begin and sends them first, as SQLite's own VFS would
     have left them in the file to be overwritten.

   Either way a run also goes out at a write elsewhere in the file,
   when it reaches WAL_RUN_MAX, and before any other call on the file
   (a read, a sync, a lock, the size, a close), so a commit's frames
   are in the file before SQLite syncs them or publishes them. A write
   below the highest offset written since the log last started over
   (its header at offset 0) rewrites frames (SQLite recomputing
   checksums, or a page of the open transaction) and goes straight
   through: a rewritten commit header must not wait for a page that
   never comes. Nothing is held on a device without
   SQLITE_IOCAP_POWERSAFE_OVERWRITE, where SQLite pads a commit with
   copies of its last frame after the sync. The buffer lives only while
   it holds something: a user whose database is open costs no more
   memory.

   Files other than the log are opened by the default VFS itself and
   keep its methods, so they pay nothing for this. */

#include "store/store-vfs.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The most bytes a run held back may reach; a longer run goes out in
   pieces of this size. (SQLite's unix VFS writes at most 128 KiB - 1
   bytes per call: it masks the length, and a longer write comes back
   short, as SQLITE_FULL.) */
#define WAL_RUN_MAX (64 * 1024)
/* The first buffer of a run (enough for a commit of a few frames). */
#define WAL_RUN_FIRST (16 * 1024)
/* A WAL frame header (SQLite's wal.c): page number, then the database
   size in pages after the commit, non-zero only in a commit frame. */
#define WAL_FRAME_HEADER 24

/* Without the whole-run mode a write this short (a frame header) waits
   for the page that follows it. */
#define WAL_HELD_MAX 64

struct wal_file {
	sqlite3_file base;
	sqlite3_int64 end; /* bytes known to exist in the file; -1 unknown */
	sqlite3_file *real;
	/* What may be held: a commit's whole run (exclusive variant), a
	   header until its page, or nothing. */
	enum { HOLD_NONE, HOLD_HEADER, HOLD_RUN } hold;
	/* The end of the highest write since the log started over. */
	sqlite3_int64 high;
	/* A run held back: run_len bytes at run_ofs, in run (NULL when
	   nothing is held). */
	unsigned char *run;
	int run_len, run_alloc;
	sqlite3_int64 run_ofs;
	/* The last write was a commit frame's header: the run ends with
	   the page that follows it. */
	bool commit_next;
};

static sqlite3_vfs vfs, vfs_exclusive;
static sqlite3_io_methods wal_methods;

static sqlite3_file *
real_of(sqlite3_file *file)
{
	return ((struct wal_file *)file)->real;
}

/* Makes the file hold at least upto bytes, extending it with zeros to
   the chunk boundary when it is shorter. The size is read again first:
   SQLite writes the log only under its write lock, which another
   process may have held since, so the file may have grown without us,
   and zeros must never land on frames. */
static int
wal_extend(struct wal_file *wf, sqlite3_int64 upto)
{
	static const char zeros[65536];
	sqlite3_int64 size;
	int rc;

	rc = wf->real->pMethods->xFileSize(wf->real, &size);
	if (rc != SQLITE_OK)
		return rc;
	wf->end = size;
	if (size >= upto)
		return SQLITE_OK;
	sqlite3_int64 target = (upto + STORE_VFS_WAL_CHUNK - 1) /
			       STORE_VFS_WAL_CHUNK * STORE_VFS_WAL_CHUNK;
	while (wf->end < target) {
		sqlite3_int64 n = target - wf->end;
		if (n > (sqlite3_int64)sizeof(zeros))
			n = sizeof(zeros);
		rc = wf->real->pMethods->xWrite(wf->real, zeros, (int)n,
						 wf->end);
		if (rc != SQLITE_OK) {
			/* What was written stays; its size is read again. */
			wf->end = -1;
			return rc;
		}
		wf->end += n;
	}
	return SQLITE_OK;
}

/* Writes [ofs, ofs + amt) through the real file, extending first. */
static int
wal_write_through(struct wal_file *wf, const void *buf, int amt,
		  sqlite3_int64 ofs)
{
	/* (A cached end that is too large only costs the saving: the
	   write then grows the file itself.) */
	if (wf->end < 0 || ofs + amt > wf->end) {
		/* A failed extension is not the write's failure: the
		   write itself still grows the file. */
		(void)wal_extend(wf, ofs + amt);
	}
	return wf->real->pMethods->xWrite(wf->real, buf, amt, ofs);
}

/* Sends the run held back, if any. */
static int
wal_flush(struct wal_file *wf)
{
	if (wf->run_len == 0)
		return SQLITE_OK;
	int rc = wal_write_through(wf, wf->run, wf->run_len, wf->run_ofs);
	sqlite3_free(wf->run);
	wf->run = NULL;
	wf->run_len = wf->run_alloc = 0;
	return rc;
}

/* Adds [ofs, ofs + amt) to the run (starting one when none is held);
   false when it must go out alone (no memory for it). */
static bool
wal_run_add(struct wal_file *wf, const void *buf, int amt, sqlite3_int64 ofs)
{
	int need = wf->run_len + amt;

	if (need > wf->run_alloc) {
		int size = wf->run_alloc > 0 ? wf->run_alloc : WAL_RUN_FIRST;

		while (size < need)
			size *= 2;
		if (size > WAL_RUN_MAX)
			size = WAL_RUN_MAX;
		unsigned char *p = sqlite3_realloc(wf->run, size);
		if (p == NULL)
			return false;
		wf->run = p;
		wf->run_alloc = size;
	}
	if (wf->run_len == 0)
		wf->run_ofs = ofs;
	memcpy(wf->run + wf->run_len, buf, (size_t)amt);
	wf->run_len = need;
	return true;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int
wal_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 ofs)
{
	struct wal_file *wf = (struct wal_file *)file;
	bool ends_commit = wf->commit_next;
	int rc;

	if (ofs == 0)
		wf->high = 0; /* the log starts over with its header */
	if (ofs < wf->high || wf->hold == HOLD_NONE) {
		/* a rewrite, or nothing may wait: in order, at once */
		wf->commit_next = false;
		if ((rc = wal_flush(wf)) != SQLITE_OK)
			return rc;
		return wal_write_through(wf, buf, amt, ofs);
	}
	wf->high = ofs + amt;
	wf->commit_next = amt == WAL_FRAME_HEADER &&
			  get_be32((const unsigned char *)buf + 4) != 0;
	/* a write that does not continue the run, or would overfill it,
	   sends the run first */
	if (wf->run_len > 0 &&
	    (ofs != wf->run_ofs + wf->run_len ||
	     amt > WAL_RUN_MAX - wf->run_len) &&
	    (rc = wal_flush(wf)) != SQLITE_OK)
		return rc;
	if ((wf->hold == HOLD_HEADER && wf->run_len == 0 &&
	     amt > WAL_HELD_MAX) ||
	    amt > WAL_RUN_MAX || !wal_run_add(wf, buf, amt, ofs)) {
		/* alone, in order after what is held */
		if ((rc = wal_flush(wf)) != SQLITE_OK)
			return rc;
		return wal_write_through(wf, buf, amt, ofs);
	}
	/* the run ends with a commit's page; without the whole-run mode,
	   with any write longer than a header */
	if (ends_commit || (wf->hold == HOLD_HEADER && amt > WAL_HELD_MAX))
		return wal_flush(wf);
	return SQLITE_OK;
}

static int
wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wal_file *wf = (struct wal_file *)file;
	int rc = wal_flush(wf);

	if (rc != SQLITE_OK)
		return rc;
	wf->end = -1;
	return wf->real->pMethods->xTruncate(wf->real, size);
}

static int
wal_close(sqlite3_file *file)
{
	struct wal_file *wf = (struct wal_file *)file;
	int rc = wal_flush(wf);
	int rc2 = wf->real->pMethods->xClose(wf->real);

	return rc != SQLITE_OK ? rc : rc2;
}

/* Every other call sends the run first. */
#define WAL_FLUSHED(file)                                                   \
	do {                                                                \
		int flush_rc = wal_flush((struct wal_file *)(file));        \
		if (flush_rc != SQLITE_OK)                                  \
			return flush_rc;                                    \
	} while (0)

static int
wal_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 ofs)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xRead(real_of(file), buf, amt, ofs);
}

static int
wal_sync(sqlite3_file *file, int flags)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xSync(real_of(file), flags);
}

static int
wal_file_size(sqlite3_file *file, sqlite3_int64 *size_r)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xFileSize(real_of(file), size_r);
}

static int
wal_lock(sqlite3_file *file, int level)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xLock(real_of(file), level);
}

static int
wal_unlock(sqlite3_file *file, int level)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xUnlock(real_of(file), level);
}

static int
wal_check_reserved(sqlite3_file *file, int *out)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xCheckReservedLock(real_of(file), out);
}

static int
wal_file_control(sqlite3_file *file, int op, void *arg)
{
	WAL_FLUSHED(file);
	return real_of(file)->pMethods->xFileControl(real_of(file), op, arg);
}

static int
wal_sector_size(sqlite3_file *file)
{
	return real_of(file)->pMethods->xSectorSize(real_of(file));
}

static int
wal_device_characteristics(sqlite3_file *file)
{
	return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}

static int
wal_open(sqlite3_vfs *self, const char *name, sqlite3_file *file, int flags,
	 int *out_flags)
{
	sqlite3_vfs *root = self->pAppData;

	if ((flags & SQLITE_OPEN_WAL) == 0)
		return root->xOpen(root, name, file, flags, out_flags);

	struct wal_file *wf = (struct wal_file *)file;
	memset(wf, 0, sizeof(*wf));
	wf->real = (sqlite3_file *)(wf + 1);
	wf->end = -1;
	int rc = root->xOpen(root, name, wf->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* xClose is called on a failed open only if pMethods
		   is set: the real file closed itself. */
		return rc;
	}
	wf->base.pMethods = &wal_methods;
	if ((wf->real->pMethods->xDeviceCharacteristics(wf->real) &
	     SQLITE_IOCAP_POWERSAFE_OVERWRITE) == 0)
		wf->hold = HOLD_NONE;
	else
		wf->hold = self == &vfs_exclusive ? HOLD_RUN : HOLD_HEADER;
	return SQLITE_OK;
}

/* Forwarders for the rest of the VFS. */
static int
vfs_delete(sqlite3_vfs *self, const char *name, int sync_dir)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xDelete(root, name, sync_dir);
}

static int
vfs_access(sqlite3_vfs *self, const char *name, int flags, int *out)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xAccess(root, name, flags, out);
}

static int
vfs_full_pathname(sqlite3_vfs *self, const char *name, int n, char *out)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xFullPathname(root, name, n, out);
}

static void *
vfs_dlopen(sqlite3_vfs *self, const char *name)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xDlOpen(root, name);
}

static void
vfs_dlerror(sqlite3_vfs *self, int n, char *out)
{
	sqlite3_vfs *root = self->pAppData;
	root->xDlError(root, n, out);
}

static void (*vfs_dlsym(sqlite3_vfs *self, void *handle, const char *sym))(void)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xDlSym(root, handle, sym);
}

static void
vfs_dlclose(sqlite3_vfs *self, void *handle)
{
	sqlite3_vfs *root = self->pAppData;
	root->xDlClose(root, handle);
}

static int
vfs_randomness(sqlite3_vfs *self, int n, char *out)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xRandomness(root, n, out);
}

static int
vfs_sleep(sqlite3_vfs *self, int usecs)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xSleep(root, usecs);
}

static int
vfs_current_time(sqlite3_vfs *self, double *out)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xCurrentTime(root, out);
}

static int
vfs_last_error(sqlite3_vfs *self, int n, char *out)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xGetLastError(root, n, out);
}

static int
vfs_current_time_int64(sqlite3_vfs *self, sqlite3_int64 *out)
{
	sqlite3_vfs *root = self->pAppData;
	return root->xCurrentTimeInt64(root, out);
}

const char *
store_vfs_register(void)
{
	sqlite3_vfs *root = sqlite3_vfs_find(NULL);

	if (root == NULL || root->iVersion < 2)
		return NULL;
	wal_methods = (sqlite3_io_methods){
		.iVersion = 1,
		.xClose = wal_close,
		.xRead = wal_read,
		.xWrite = wal_write,
		.xTruncate = wal_truncate,
		.xSync = wal_sync,
		.xFileSize = wal_file_size,
		.xLock = wal_lock,
		.xUnlock = wal_unlock,
		.xCheckReservedLock = wal_check_reserved,
		.xFileControl = wal_file_control,
		.xSectorSize = wal_sector_size,
		.xDeviceCharacteristics = wal_device_characteristics,
	};
	vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct wal_file) + root->szOsFile,
		.mxPathname = root->mxPathname,
		.zName = STORE_VFS_NAME,
		.pAppData = root,
		.xOpen = wal_open,
		.xDelete = vfs_delete,
		.xAccess = vfs_access,
		.xFullPathname = vfs_full_pathname,
		.xDlOpen = vfs_dlopen,
		.xDlError = vfs_dlerror,
		.xDlSym = vfs_dlsym,
		.xDlClose = vfs_dlclose,
		.xRandomness = vfs_randomness,
		.xSleep = vfs_sleep,
		.xCurrentTime = vfs_current_time,
		.xGetLastError = vfs_last_error,
		.xCurrentTimeInt64 = vfs_current_time_int64,
	};
	vfs_exclusive = vfs;
	vfs_exclusive.zName = STORE_VFS_EXCLUSIVE_NAME;
	if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK ||
	    sqlite3_vfs_register(&vfs_exclusive, 0) != SQLITE_OK)
		return NULL;
	return STORE_VFS_NAME;
}
