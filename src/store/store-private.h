#ifndef QUIRE_STORE_PRIVATE_H
#define QUIRE_STORE_PRIVATE_H

/* Internals shared by the store front (store.c: registry, locking,
   watchers, argument checks) and its backends. A backend is a table of
   functions; the front locks the user around every call, so a backend
   never locks anything itself, and it calls store_notify() after each
   commit. Backends must call store_error() for every -1 they return. */

#include "store/store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

struct store_backend;
struct store_view_shared;

/* Test hooks: the I/O calls the backend makes on message files. Tests
   swap them to simulate ENOSPC and friends. */
struct store_io {
	ssize_t (*write)(int fd, const void *buf, size_t count);
	int (*fsync)(int fd);
};

/* A user marked for the indexer, and since when (CLOCK_MONOTONIC
   seconds; 0: due at once). */
struct store_fts_mark {
	char *name;
	time_t since;
};

struct store {
	char *data_dir;
	const struct store_backend *backend;
	time_t (*clock)(void *context);
	void *clock_context;
	unsigned busy_timeout_msecs;
	bool exclusive; /* store_settings.exclusive */
	bool journal;	/* store_settings.journal */
	unsigned expunge_log_max; /* STORE_EXPUNGE_LOG_MAX; tests lower it */
	/* Shared views kept after their last cursor closed (store-view.c):
	   entries held by them over all users, and the limits (tests lower
	   them). */
	atomic_ulong view_cache_entries;
	unsigned long view_cache_max_entries; /* STORE_VIEW_CACHE_ENTRIES */
	unsigned view_ring_max;		      /* STORE_VIEW_RING_MAX */
	struct store_io io;

	/* Names of users marked for the indexer (store_fts_mark). */
	pthread_mutex_t fts_lock;
	struct store_fts_mark *fts_marked;
	unsigned fts_marked_count, fts_marked_alloc;

	/* Files of removed messages waiting for store_unlinks_run(), when
	   store_unlinks_defer() was called. */
	pthread_mutex_t unlink_lock;
	struct store_unlinks *unlink_head, **unlink_tail;
	unsigned long unlink_queued;
	bool unlink_deferred;

	/* Spare files (store.h "spare files"), under spare_fd (-1: none
	   kept): a ring of spare_count names from spare_head, their
	   disk use in spare_bytes. */
	pthread_mutex_t spare_lock;
	int spare_fd;
	bool spare_off; /* no file leases here: no spares */
	struct store_spare *spares;
	unsigned spare_head, spare_count;
	uint32_t spare_seq;
	uint64_t spare_bytes;
	time_t spare_last_take;

	pthread_mutex_t registry_lock;
	/* Unreferenced users still open, most recently released first. */
	struct store_user *idle_head, *idle_tail;
	unsigned idle_count, idle_max;
	/* Open users, by hash of the name. */
#define STORE_REGISTRY_BUCKETS 256
	struct store_user *buckets[STORE_REGISTRY_BUCKETS];
};

/* Files to unlink, relative to dir (store.h "deferred unlinks"). */
#define STORE_UNLINK_NAME_MAX 24
struct store_unlinks {
	struct store_unlinks *next;
	char *dir;
	unsigned count;
	char names[][STORE_UNLINK_NAME_MAX];
};

/* A batch for count names under dir, names to be filled in. */
struct store_unlinks *store_unlinks_new(const char *dir, unsigned count);
/* Unlinks the batch's files now, or queues them when the store defers
   unlinks; takes the batch either way. */
void store_unlinks_submit(struct store *store, struct store_unlinks *batch);

/* Seconds on CLOCK_MONOTONIC. */
time_t store_monotonic_now(void);

/* A removed message's file kept while a session may still show it
   (store-view.c "ghosts"). */
struct store_ghost {
	uint64_t blob_id;
	time_t since; /* store_monotonic_now() */
	char name[STORE_UNLINK_NAME_MAX];
	/* Its STORE_CACHE_PARTS record, once a FETCH has parsed it (the
	   row went with the message): other sessions' FETCHes reuse it. */
	void *cache;
	size_t cache_size;
};

/* store-view.c: takes the files of removed messages (batch, with their
   blob ids) after the commit that removed their last rows. While a
   session of the user has a mailbox selected, they are kept as ghosts
   until no view can still show them; otherwise they go to
   store_unlinks_submit() at once. Locked. */
void store_view_unlinks(struct store_user *user, struct store_unlinks *batch,
			const uint64_t *blob_ids);
/* The cached record of a ghost: 1 with a malloc'ed copy, 0 if the blob
   is no ghost or has none yet. */
int store_view_ghost_cache_get(struct store_user *user, uint64_t blob_id,
			       void **data_r, size_t *size_r);
/* Keeps a copy of the record with the ghost, if blob_id is one. */
void store_view_ghost_cache_set(struct store_user *user, uint64_t blob_id,
				const void *data, size_t size);
/* Submits every ghost of the user and frees the list (the user is
   being freed). */
void store_view_ghosts_release(struct store_user *user);

/* qsort() order of uint32_t values (UIDs). */
int store_u32_cmp(const void *a, const void *b);

/* A spare file: data_dir/spare/<name>, bytes on disk. */
struct store_spare {
	uint32_t name;
	uint32_t bytes;
};

/* Takes a spare file out of the ring and opens it for writing where it
   is: *dir_fd_r/name_r (the spare directory, open while the store is).
   It still holds an old message, which the caller overwrites from
   offset 0, cuts to the length it wrote, and renames away (or unlinks);
   nothing else touches a taken spare, and a crash leaves it to the
   next start's emptying of the directory. Returns the fd, or -1 when
   no spare is free (the caller creates a file). */
int store_spare_take(struct store *store, char name_r[16], int *dir_fd_r);

struct store_watch {
	struct store_watch *next;
	struct store_user *user;
	uint64_t mailbox_id;
	store_watch_callback_t *callback;
	/* Set instead of callback for a user watch (all mailboxes). */
	store_user_watch_callback_t *user_callback;
	void *context;
	bool removed; /* removed during a notification; freed after it */
};

struct store_user {
	struct store_user *bucket_next;
	struct store *store;
	char *name;
	uint32_t name_hash;
	unsigned refcount; /* under store->registry_lock */
	bool idle;	   /* refcount 0, in the idle list */
	bool idle_trimmed; /* its caches freed since (store_idle_trim) */
	time_t idle_since; /* CLOCK_MONOTONIC seconds */
	struct store_user *idle_prev, *idle_next;

	pthread_mutex_t lock; /* recursive */
	pthread_t lock_owner; /* valid while lock_depth > 0 */
	unsigned lock_depth;

	/* Group commit: saves waiting for the next batch, and whether a
	   thread is committing one now. */
	pthread_mutex_t commit_lock;
	pthread_cond_t commit_cond;
	struct store_save *commit_head, *commit_tail;
	bool committing;
	unsigned long commit_batches; /* for tests */
	unsigned long view_reads; /* views' change reads, for tests */
	unsigned long modseq_reads; /* HIGHESTMODSEQ queries, for tests */
	struct store_watch *watches;
	struct store_view_shared *views; /* store-view.c */
	/* Ghosts (store-view.c), oldest first, under lock; ghost_dir is
	   where their names are (the user's blobs directory). */
	struct store_ghost *ghosts;
	unsigned ghost_count, ghost_alloc;
	char *ghost_dir;
	struct store_quota quota;	 /* under lock */
	uint64_t view_close_counter;	 /* orders cached views by age */
	unsigned notify_depth;
	bool watch_removed;

	void *backend_data; /* owned by the backend */
};

struct store_save {
	struct store_user *user;
	uint64_t mailbox_id;
	uint64_t size;
	bool failed;
	bool last_was_cr; /* store_save_write_crlf() state */
	bool have_internal_date;
	time_t internal_date;
	uint8_t flags;
	char **keywords;
	unsigned keyword_count;
	void *cache[STORE_CACHE_FIELD_COUNT];
	size_t cache_size[STORE_CACHE_FIELD_COUNT];
	/* store_save_set_fts(): owned copies; have_fts false = no row. */
	bool have_fts;
	struct store_fts_doc fts;
	/* store_save_set_thread(): owned copies; NULL / 0 = none. */
	char *thread_msgid;
	char **thread_refs;
	unsigned thread_ref_count;

	/* Group commit: the batch's leader fills these in for each save. */
	struct store_save *commit_next;
	bool commit_done;
	int commit_ret;
	bool commit_overquota; /* commit_ret -1 because of the quota */
	uint32_t commit_uid;
	char commit_error[256];

	void *backend_data; /* owned by the backend */
};

/* A sorted, merged, non-empty UID set (the front normalises callers'
   sets). */
struct store_uidset {
	const struct store_uid_range *ranges;
	unsigned count;
};

struct store_backend {
	const char *name;

	/* Opens (creating if needed) user->name's store into
	   user->backend_data; INBOX exists afterwards. */
	int (*user_open)(struct store_user *user, const char **error_r);
	void (*user_close)(struct store_user *user);
	/* The user has been idle a while (store_idle_trim): drop caches.
	   Called with the registry locked and refcount 0, so nothing else
	   uses it. */
	void (*user_idle)(struct store_user *user);
	/* Called by the front after every locked call, to drop per-call
	   state (the SQLite backend resets its statements here). */
	void (*call_end)(struct store_user *user);
	int (*user_delete)(struct store *store, const char *username,
			   const char **error_r);

	int (*mailbox_lookup)(struct store_user *user, const char *name,
			      struct store_mailbox_info *info_r,
			      const char **error_r);
	int (*mailbox_create)(struct store_user *user, const char *name,
			      enum store_special_use special_use,
			      uint64_t *id_r, const char **error_r);
	int (*mailbox_delete)(struct store_user *user, const char *name,
			      const char **error_r);
	int (*mailbox_rename)(struct store_user *user, const char *old_name,
			      const char *new_name, const char **error_r);
	/* Sets special_use (what == 1; 0 was the old subscribed flag). */
	int (*mailbox_set)(struct store_user *user, const char *name, int what,
			   int value, const char **error_r);
	/* name is canonical. Adding a present name or removing an absent
	   one is not an error. Returns 1 or -1. */
	int (*subscription_set)(struct store_user *user, const char *name,
				bool subscribed, const char **error_r);
	/* *names_r starts NULL and *count_r 0; sorted bytewise. */
	int (*subscription_list)(struct store_user *user, char ***names_r,
				 unsigned *count_r, const char **error_r);
	int (*mailbox_list)(struct store_user *user,
			    struct store_mailbox_info **list_r,
			    unsigned *count_r, const char **error_r);
	int (*mailbox_status)(struct store_user *user, uint64_t mailbox_id,
			      struct store_mailbox_status *status_r,
			      const char **error_r);
	/* As store_mailbox_changes(), plus the mailbox's HIGHESTMODSEQ
	   and expunge floor read in the same snapshot. */
	int (*mailbox_changes)(struct store_user *user, uint64_t mailbox_id,
			       uint64_t since, struct store_message **changed_r,
			       unsigned *changed_count_r,
			       uint32_t **expunged_r,
			       unsigned *expunged_count_r,
			       uint64_t *highestmodseq_r,
			       uint64_t *expunge_floor_r,
			       const char **error_r);
	/* HIGHESTMODSEQ alone: cheap, for "anything new?". */
	int (*mailbox_modseq)(struct store_user *user, uint64_t mailbox_id,
			      uint64_t *modseq_r, const char **error_r);

	/* store_mailbox_recent_claim(); until_uid 0 = UIDNEXT. */
	int (*mailbox_recent_claim)(struct store_user *user,
				    uint64_t mailbox_id, uint32_t until_uid,
				    uint32_t *first_r, uint32_t *until_r,
				    const char **error_r);
	int (*message_list)(struct store_user *user, uint64_t mailbox_id,
			    struct store_message **msgs_r, unsigned *count_r,
			    const char **error_r);
	int (*message_get)(struct store_user *user, uint64_t mailbox_id,
			   uint32_t uid, struct store_message *msg_r,
			   const char **error_r);
	int (*blob_open)(struct store_user *user, uint64_t blob_id, int *fd_r,
			 uint64_t *size_r, const char **error_r);
	int (*cache_get)(struct store_user *user, uint64_t blob_id,
			 enum store_cache_field field, void **data_r,
			 size_t *size_r, const char **error_r);
	int (*cache_set)(struct store_user *user, uint64_t blob_id,
			 enum store_cache_field field, const void *data,
			 size_t size, const char **error_r);
	int (*keywords_get)(struct store_user *user, char ***names_r,
			    unsigned *count_r, const char **error_r);

	/* Save: begin and commit are called locked, write/abort unlocked. */
	int (*save_begin)(struct store_save *save, const char **error_r);
	int (*save_write)(struct store_save *save, const void *data,
			  size_t size, const char **error_r);
	/* A new read-only fd of the file being written (unlocked). */
	int (*save_open_read)(struct store_save *save, int *fd_r,
			      const char **error_r);
	/* Makes the file durable; called unlocked before save_commit. */
	int (*save_finish)(struct store_save *save, const char **error_r);
	/* Message journal (store.h): whether the user has messages whose
	   files are not known durable (read without its lock: a miss
	   waits for the next pass), and the pass over several users:
	   makes their files durable and drops their journal rows. */
	bool (*journal_pending)(struct store_user *user);
	unsigned long (*journal_sync)(struct store_user *const *users,
				      unsigned count);
	/* Commits several saves of one user in one transaction (group
	   commit): sets each save's commit_ret (0 or -1), commit_uid and
	   commit_error. A failing save does not fail the others unless the
	   transaction itself fails. Notifies after the commit. */
	void (*save_commit_batch)(struct store_save *const *saves,
				  unsigned count);
	void (*save_abort)(struct store_save *save);

	int (*flags_update)(struct store_user *user, uint64_t mailbox_id,
			    const struct store_uidset *uids,
			    enum store_flags_op op, uint8_t flags,
			    const char *const *keywords,
			    unsigned keyword_count, uint64_t unchangedsince,
			    uint64_t *modseq_r, const char **error_r);
	int (*pop3_mark_retrieved)(struct store_user *user, uint64_t mailbox_id,
				   const struct store_uidset *uids,
				   time_t when, const char **error_r);
	int (*expunge)(struct store_user *user, uint64_t mailbox_id,
		       const struct store_uidset *uids, unsigned *expunged_r,
		       const char **error_r);
	int (*pop3_expire)(struct store_user *user, time_t before,
			   unsigned *expunged_r, const char **error_r);
	/* all: store_messages_copy_all(). */
	int (*messages_copy)(struct store_user *user, uint64_t src_mailbox_id,
			     const struct store_uidset *uids,
			     uint64_t dst_mailbox_id, bool move, bool all,
			     uint32_t **src_uids_r, uint32_t **dst_uids_r,
			     unsigned *count_r, const char **error_r);

	/* store_quota_usage(). */
	int (*quota_usage)(struct store_user *user,
			   struct store_quota_usage *usage_r,
			   const char **error_r);
	/* store_metadata_get(): entry is canonical, *entries_r starts
	   NULL and *count_r 0. */
	int (*metadata_get)(struct store_user *user, uint64_t mailbox_id,
			    const char *entry, unsigned depth,
			    struct store_metadata_entry **entries_r,
			    unsigned *count_r, const char **error_r);
	/* store_metadata_set(): names canonical, values within
	   METADATA_MAX_VALUE_SIZE; the backend checks the mailbox and the
	   entry count and total size limits in its transaction. */
	int (*metadata_set)(struct store_user *user, uint64_t mailbox_id,
			    const struct store_metadata_change *changes,
			    unsigned count,
			    enum store_metadata_refusal *refusal_r,
			    const char **error_r);
	/* store_thread_get(). */
	int (*thread_get)(struct store_user *user, uint64_t blob_id,
			  uint64_t *thread_id_r, const char **error_r);
	/* The full-text index (store.h); the front checks arguments. */
	int (*fts_set)(struct store_user *user,
		       const struct store_fts_entry *entries, unsigned count,
		       const char **error_r);
	int (*fts_blob_list)(struct store_user *user, uint64_t **ids_r,
			     unsigned *count_r, const char **error_r);
	int (*fts_pending)(struct store_user *user, unsigned max,
			   uint64_t **ids_r, unsigned *count_r,
			   const char **error_r);
	int (*fts_collect_garbage)(struct store_user *user, unsigned max,
				   unsigned *count_r, const char **error_r);
	int (*fts_unindexed)(struct store_user *user, uint64_t mailbox_id,
			     uint64_t **ids_r, unsigned *count_r,
			     const char **error_r);
	int (*fts_query)(struct store_user *user, uint64_t mailbox_id,
			 unsigned column_mask, const char *const *terms,
			 unsigned term_count,
			 const struct store_fts_callbacks *callbacks,
			 void *context, const char **error_r);

	/* store_check(): *result is zeroed by the caller. */
	int (*check)(struct store *store, struct store_check_result *result,
		     const char **error_r);
};

extern const struct store_backend store_backend_sqlite;

/* Sets *error_r (if not NULL) to thread-local formatted text and returns
   -1, so backends can write `return store_error(error_r, ...);`. */
int store_error(const char **error_r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The same with STORE_ERROR_OVERQUOTA as the text, and marks the
   thread's error as over quota (store_error_is_overquota()). */
int store_error_overquota(const char **error_r);
/* The same for store_error_is_expunged(). */
int store_error_expunged(const char **error_r);

/* Calls the watchers of mailbox_id. Called by backends after a commit,
   with the user locked. */
void store_notify(struct store_user *user, uint64_t mailbox_id,
		  enum store_change_type type, uint64_t modseq);

/* Calls the user watches with a change that has no mailbox watcher
   form (create, delete, rename, subscription). With the user locked. */
void store_notify_user(struct store_user *user,
		       const struct store_user_change *change);
/* store-view.c: called by store_notify() with the user locked, before
   the watchers: marks the mailbox's shared view as behind the store, so
   the next store_view_sync_woken() reads the change (once, for every
   session). */
void store_view_notify(struct store_user *user, uint64_t mailbox_id,
		       enum store_change_type type, uint64_t modseq);
/* store-view.c: a writer of this process, with the user locked, after
   its commit and before store_notify(): takes its own change into the
   mailbox's views, so that they need not read it back. before is the
   mailbox's HIGHESTMODSEQ the writer's transaction began from, modseq
   the one it committed; a view not current at before (stale, or behind
   another process's change), or one kept in the cache without cursors,
   is left to read the store as before.
   changed: the messages changed or added, expunged: UIDs removed, both
   in UID order. */
void store_view_apply(struct store_user *user, uint64_t mailbox_id,
		      uint64_t before, uint64_t modseq,
		      const struct store_message *changed, unsigned nc,
		      const uint32_t *expunged, unsigned ne);
/* store-view.c: frees the user's cached views (those without cursors);
   called when the user is closed. */
void store_view_cache_drop(struct store_user *user);
/* Test hook: the user's cached views. */
unsigned store_view_cached_count(struct store_user *user);

/* The store's clock. */
time_t store_now(const struct store *store);

/* 32-bit FNV-1a of the user name; its low byte names the users/xx/
   directory. Stable forever: it is part of the on-disk layout. */
uint32_t store_name_hash(const char *name);

/* Allocation that aborts on failure. */
void *store_malloc0(size_t size);
void *store_realloc(void *ptr, size_t size);
char *store_strdup(const char *str);
/* Grows *arr (element size elsize) so index `need` fits; *alloc is the
   current capacity in elements. */
void store_array_grow(void **arr, size_t elsize, unsigned *alloc,
		      unsigned need);

/* Name checks (1 valid, 0 invalid with *error_r set). */
bool store_username_valid(const char *name, const char **error_r);
/* Validates a mailbox name and writes its canonical form (INBOX in upper
   case) to a malloc'ed *canon_r. */
bool store_mailbox_name_canon(const char *name, char **canon_r,
			      const char **error_r);
bool store_keyword_valid(const char *name);

/* Test hook: replaces the file I/O functions (NULL members restore the
   defaults). */
void store_set_io(struct store *store, const struct store_io *io);

#endif
