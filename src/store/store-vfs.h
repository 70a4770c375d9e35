#ifndef QUIRE_STORE_VFS_H
#define QUIRE_STORE_VFS_H

/* The store's SQLite VFS: the default one, except that the write-ahead
   log grows in chunks of written zeros (store-vfs.c says why). */

#define STORE_VFS_NAME "quire"
/* The same for a connection in exclusive locking mode: a commit's WAL
   frames go out in one write(). */
#define STORE_VFS_EXCLUSIVE_NAME "quire-exclusive"
#define STORE_VFS_WAL_CHUNK (1024 * 1024)

/* Registers both variants (not as the default) and returns the name of
   the shared one, or NULL if they could not be registered. Call once,
   before opening databases. */
const char *store_vfs_register(void);

#endif
