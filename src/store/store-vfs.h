#ifndef QUIRE_STORE_VFS_H
#define QUIRE_STORE_VFS_H

/* The store's SQLite VFS: the default one, except that the write-ahead
   log grows in chunks of written zeros (store-vfs.c says why). */

#define STORE_VFS_NAME "quire"
#define STORE_VFS_WAL_CHUNK (1024 * 1024)

/* Registers the VFS (not as the default) and returns its name, or NULL
   if it could not be registered. Call once, before opening databases. */
const char *store_vfs_register(void);

#endif
