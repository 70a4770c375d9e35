#ifndef QUIRE_STORE_H
#define QUIRE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The mailstore: every user's mailboxes and messages, behind one interface.

   Today's backend keeps, per user,
     <data_dir>/users/<2 hex of a hash of the name>/<user>/store.db
     <data_dir>/users/<..>/<user>/blobs/<2 hex>/<16 hex>  one file per message
     <data_dir>/users/<..>/<user>/tmp/                   files being written
   The interface below is all the protocol code sees, so another backend
   (SQL server for metadata, object storage for blobs) can replace it.

   Ownership and threads
   ---------------------
   A struct store is one process's handle on a data_dir; it owns a registry
   of open users. A struct store_user is reference-counted: every
   store_user_get() is paired with one store_user_unref().

   Every function taking a struct store_user locks that user's mutex itself
   for the duration of the call, so single calls are always safe from any
   thread. The mutex is recursive: a caller that needs several calls to be
   atomic (an IMAP command reading a list and then storing flags) wraps them
   in store_user_lock()/store_user_unlock(). Hold it only for the short time
   a command needs, never across network I/O.

   Two processes (quired and `quire deliver` run while it is stopped, or two
   struct store handles in one test) may open the same user: SQLite's own
   locking (BEGIN IMMEDIATE with a busy timeout) keeps them consistent.
   Watchers are only told about changes made through the same struct store.

   Errors
   ------
   Fallible functions return -1 on error with *error_r set, 0 for "no /
   not found" where documented, 1 (or 0 where no "no" case exists) on
   success. *error_r points at text owned by the calling thread; it stays
   valid until that thread's next store call. Messages are for the log:
   they may name server paths, so clients get a generic reply. */

struct store;
struct store_user;
struct store_save;
struct store_watch;

/* System flags, as a bitmask. */
enum store_flag {
	STORE_FLAG_SEEN = 0x01,
	STORE_FLAG_ANSWERED = 0x02,
	STORE_FLAG_FLAGGED = 0x04,
	STORE_FLAG_DELETED = 0x08,
	STORE_FLAG_DRAFT = 0x10,
};
#define STORE_FLAGS_ALL 0x1f

/* RFC 6154 special-use attribute of a mailbox (at most one). */
enum store_special_use {
	STORE_SPECIAL_NONE = 0,
	STORE_SPECIAL_ALL,
	STORE_SPECIAL_ARCHIVE,
	STORE_SPECIAL_DRAFTS,
	STORE_SPECIAL_FLAGGED,
	STORE_SPECIAL_JUNK,
	STORE_SPECIAL_SENT,
	STORE_SPECIAL_TRASH,
};

/* Keywords are per user, numbered 0..STORE_MAX_KEYWORDS-1 in the order
   they were first used; a message's keywords are a bitmask of those
   numbers. A user may have at most this many distinct keywords (IMAP then
   stops advertising \* in PERMANENTFLAGS). */
#define STORE_MAX_KEYWORDS 64

/* Cached results of parsing a message, filled by the MIME module at save
   time or later. The store treats them as opaque bytes. They belong to the
   message's blob, so COPY/MOVE share them. */
enum store_cache_field {
	STORE_CACHE_ENVELOPE = 0,
	STORE_CACHE_BODY,
	STORE_CACHE_BODYSTRUCTURE,
	STORE_CACHE_PARTS, /* part offsets */
	STORE_CACHE_PREVIEW,
	STORE_CACHE_FIELD_COUNT
};

struct store_settings {
	/* Root of all data. Created if missing. Required. */
	const char *data_dir;
	/* Source of "now" (save date, internal date default, POP3 expiry).
	   NULL means time(NULL). Tests inject a clock here. */
	time_t (*clock)(void *context);
	void *clock_context;
	/* Milliseconds SQLite waits for another process's lock before
	   failing a call. 0 = default (5000). */
	unsigned busy_timeout_msecs;
	/* Users kept open after their last release (least recently used
	   closed first), so a POP3 client polling every few minutes does not
	   reopen its database each time. 0 = default (64). */
	unsigned idle_users;
	/* Holds each open user's database for this process alone (SQLite's
	   exclusive locking mode): no file lock is taken or released per
	   transaction, and the WAL's index lives in this process's memory
	   instead of a shared file. Another process that opens the database
	   meanwhile waits busy_timeout_msecs and then fails with "database
	   is locked". For the daemon, which is the only process that uses
	   the store while it runs (the admin command reaches it over the
	   control socket). */
	bool exclusive;
	/* Journals small messages (up to STORE_JOURNAL_MAX bytes) instead
	   of syncing their files: see "message journal" below. For the
	   daemon, whose main thread runs store_journal_run(). */
	bool journal;
};

/* ---- the store and its user registry ---------------------------------- */

/* Opens a handle on settings->data_dir (copied). Returns 0, or -1. */
int store_open(const struct store_settings *settings, struct store **store_r,
	       const char **error_r);
/* Closes the store at shutdown and sets *store to NULL. Call it after
   every session ended and released its users; a user still referenced is
   logged as a warning and closed anyway (its pointers become invalid). */
void store_close(struct store **store);

/* Returns a referenced user object, opening (and on first use creating)
   its store; INBOX always exists afterwards. The name must be 1..255 bytes
   without '/', '\\', control bytes or a leading '.'; it is used as given
   (case-sensitive: the auth layer normalises). Returns 0, or -1 (bad name,
   I/O, database error). */
int store_user_get(struct store *store, const char *username,
		   struct store_user **user_r, const char **error_r);
void store_user_ref(struct store_user *user);
/* Drops a reference and sets *user to NULL. After the last reference the
   user may stay open, idle, until evicted; it must have no watchers or
   views left. */
void store_user_unref(struct store_user **user);
/* Frees the caches (SQLite's page cache) of users unreferenced for at
   least secs seconds. A user released is kept open with its caches, so
   the next delivery or login of a busy user does not read its database
   pages again; the daemon's main thread trims once a second. */
void store_idle_trim(struct store *store, unsigned secs);
/* The name given to store_user_get(). Valid while the user is held. */
const char *store_user_name(const struct store_user *user);

/* Locks / unlocks the user's recursive mutex, to make several calls one
   atomic step. Every store call also locks it internally. While holding
   it any store call may be made; do not lock a second user at the same
   time (there is no order between users). */
void store_user_lock(struct store_user *user);
void store_user_unlock(struct store_user *user);

/* Removes a user's whole directory (`quire user del`). The user must not
   be referenced in this store (an idle one is closed first); another
   process must not use it either (the CLI asks the daemon when it runs).
   Returns 1 removed, 0 no such user, -1. */
int store_user_delete(struct store *store, const char *username,
		      const char **error_r);

/* ---- mailboxes -------------------------------------------------------- */

/* Names are UTF-8 with '/' as the hierarchy separator; "INBOX" matches in
   any case and is always stored as "INBOX". A name is 1..STORE_MAX_MAILBOX_
   NAME (lib/limits.h) bytes, has no control bytes, and no empty component
   (no leading, trailing or doubled '/'). IMAP's modified UTF-7 is decoded
   by the caller. Mailbox ids are never reused within a user. */
struct store_mailbox_info {
	uint64_t id;
	char *name; /* owned by the struct; see store_mailbox_info_free() */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	enum store_special_use special_use;
	/* Whether the name is in the subscription list (see
	   store_subscription_set()), read in the same snapshot. */
	bool subscribed;
};

struct store_mailbox_status {
	uint32_t messages;
	uint32_t unseen;  /* messages without \Seen */
	uint32_t deleted; /* messages with \Deleted */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint64_t highestmodseq;
	uint64_t size; /* sum of message sizes (RFC 8438 STATUS SIZE) */
	/* Sum of the sizes of messages with \Deleted: what an EXPUNGE
	   would free (RFC 9208 STATUS DELETED-STORAGE). */
	uint64_t deleted_size;
	/* Messages not yet claimed as \Recent by any session (UID at or
	   above the mailbox's first-recent UID); see
	   store_mailbox_recent_claim(). Reading it claims nothing. */
	uint32_t recent;
	/* The expunge log is complete only for modseqs above this (older
	   entries were trimmed); see store_mailbox_changes(). */
	uint64_t expunge_floor;
};

/* Frees info->name and zeroes it. */
void store_mailbox_info_free(struct store_mailbox_info *info);
/* Frees an array from store_mailbox_list() and sets *list to NULL. */
void store_mailbox_list_free(struct store_mailbox_info **list,
			     unsigned count);

/* Finds a mailbox by name. Returns 1 and fills *info_r (free its name),
   0 if there is none, -1 on error (including an invalid name). */
int store_mailbox_lookup(struct store_user *user, const char *name,
			 struct store_mailbox_info *info_r,
			 const char **error_r);
/* Creates a mailbox with a fresh UIDVALIDITY, UIDNEXT 1. Returns 1 and
   *id_r (may be NULL), 0 if the name exists, -1 on error. */
int store_mailbox_create(struct store_user *user, const char *name,
			 enum store_special_use special_use, uint64_t *id_r,
			 const char **error_r);
/* Deletes a mailbox and expunges its messages. Its children (names below
   it) are untouched. INBOX cannot be deleted (-1). Watchers of it are
   called once more and should then be removed. Returns 1, 0 if no such
   mailbox, -1. */
int store_mailbox_delete(struct store_user *user, const char *name,
			 const char **error_r);
/* Renames a mailbox and every mailbox below it ("a" -> "b" also renames
   "a/x" to "b/x"); ids, UIDs and UIDVALIDITY stay. Renaming INBOX moves
   its messages into a new mailbox of that name and leaves INBOX empty
   (RFC 3501 6.3.5). Returns 1, 0 if the old name does not exist, -1 (also
   when the new name or one of the renamed children already exists). */
int store_mailbox_rename(struct store_user *user, const char *old_name,
			 const char *new_name, const char **error_r);
/* Subscriptions (RFC 3501 6.3.6, RFC 9051 6.3.7) are a per-user list of
   names kept apart from the mailboxes: a name may be subscribed whether
   or not a mailbox of that name exists, DELETE leaves the name in the
   list, and RENAME leaves the list as it is (the client subscribes the
   new name itself, as Dovecot expects). Names are checked and
   canonicalised like mailbox names ("inbox" is stored as "INBOX").

   Adds (subscribed) or removes a name. Adding a name already in the list
   or removing one not in it is not an error. Returns 1, or -1 (also for
   an invalid name). */
int store_subscription_set(struct store_user *user, const char *name,
			   bool subscribed, const char **error_r);
/* The subscribed names, sorted bytewise. Returns 0 with a malloc'ed array
   of malloc'ed strings (free with store_subscription_list_free), or -1. */
int store_subscription_list(struct store_user *user, char ***names_r,
			    unsigned *count_r, const char **error_r);
/* Frees an array from store_subscription_list() and sets *names to
   NULL. */
void store_subscription_list_free(char ***names, unsigned count);
/* The same as store_subscription_set(); kept for existing callers. It
   never returns 0 now: the mailbox need not exist. */
int store_mailbox_subscribe(struct store_user *user, const char *name,
			    bool subscribed, const char **error_r);
/* Sets the special-use attribute. Returns 1, 0 if no such mailbox, -1. */
int store_mailbox_set_special_use(struct store_user *user, const char *name,
				  enum store_special_use special_use,
				  const char **error_r);
/* All mailboxes of the user, sorted by name (bytewise). Returns 0 with a
   malloc'ed array (free with store_mailbox_list_free), or -1. */
int store_mailbox_list(struct store_user *user,
		       struct store_mailbox_info **list_r, unsigned *count_r,
		       const char **error_r);
/* Counts for STATUS, SELECT, POP3 STAT. Returns 1, 0 if no such mailbox,
   -1. */
int store_mailbox_status(struct store_user *user, uint64_t mailbox_id,
			 struct store_mailbox_status *status_r,
			 const char **error_r);

/* \Recent (RFC 3501 2.3.2; IMAP4rev1 only). Each mailbox keeps a
   persistent "first recent UID": messages with a UID at or above it have
   not yet been shown to any session. A session that SELECTs (not
   EXAMINEs) the mailbox claims them with until_uid 0, which atomically
   (across threads and processes) moves the first recent UID to UIDNEXT
   and returns the claimed range [*first_r, *until_r): those messages are
   \Recent for that session only. A session whose view later learns of
   new messages claims them with until_uid = the highest new UID + 1; the
   first session to do so gets them, a later claimer an empty range
   (*first_r == *until_r). until_uid is capped at UIDNEXT and the first
   recent UID never moves backwards. A new mailbox starts at UID 1; the
   range can include UIDs already expunged. Returns 1, 0 if no such
   mailbox, -1. */
int store_mailbox_recent_claim(struct store_user *user, uint64_t mailbox_id,
			       uint32_t until_uid, uint32_t *first_r,
			       uint32_t *until_r, const char **error_r);

/* ---- reading messages -------------------------------------------------- */

struct store_message {
	uint32_t uid;
	uint8_t flags;	   /* enum store_flag bits */
	uint64_t keywords; /* bit i = keyword number i */
	uint64_t modseq;   /* last change of this message's flags */
	uint64_t size;	   /* bytes stored (CRLF form) = RFC822.SIZE */
	uint64_t blob_id;  /* for store_blob_open() / store_cache_get() */
	time_t internal_date;
	time_t save_date;
	time_t pop3_retrieved; /* 0 = never retrieved over POP3 */
};

/* A snapshot of a mailbox's messages in UID order. Returns 1 with a
   malloc'ed array (free(); NULL when *count_r is 0), 0 if no such mailbox,
   -1. */
int store_message_list(struct store_user *user, uint64_t mailbox_id,
		       struct store_message **msgs_r, unsigned *count_r,
		       const char **error_r);
/* One message. Returns 1, 0 if no such message, -1. */
int store_message_get(struct store_user *user, uint64_t mailbox_id,
		      uint32_t uid, struct store_message *msg_r,
		      const char **error_r);

/* Opens a message's file read-only (O_CLOEXEC); the caller closes *fd_r.
   Blobs are immutable, and an open fd keeps working after an expunge.
   Returns 1, 0 if the blob is gone (expunged meanwhile), -1. */
int store_blob_open(struct store_user *user, uint64_t blob_id, int *fd_r,
		    uint64_t *size_r, const char **error_r);
/* The same by mailbox and UID. Returns 1, 0 if no such message, -1. */
int store_message_open(struct store_user *user, uint64_t mailbox_id,
		       uint32_t uid, int *fd_r, uint64_t *size_r,
		       const char **error_r);

/* Reads a cache field. Returns 1 with *data_r malloc'ed (caller frees),
   0 if not set (or no such blob), -1. */
int store_cache_get(struct store_user *user, uint64_t blob_id,
		    enum store_cache_field field, void **data_r,
		    size_t *size_r, const char **error_r);
/* Sets a cache field of an existing blob (later parse). Returns 1, 0 if no
   such blob, -1. */
int store_cache_set(struct store_user *user, uint64_t blob_id,
		    enum store_cache_field field, const void *data,
		    size_t size, const char **error_r);

/* Keyword names: (*names_r)[i] is keyword number i. Returns 0 and a
   malloc'ed array of malloc'ed strings (free with store_keywords_free),
   or -1. */
int store_keywords_get(struct store_user *user, char ***names_r,
		       unsigned *count_r, const char **error_r);
void store_keywords_free(char ***names, unsigned count);

/* Stable POP3 UIDL (RFC 1939 7) of a message: 16 lowercase hex digits from
   the mailbox's UIDVALIDITY and the UID. The same across restarts, IMAP and
   POP3 use, as long as the mailbox is not deleted and recreated. */
#define STORE_UIDL_SIZE 17 /* with the NUL */
void store_uidl(uint32_t uidvalidity, uint32_t uid,
		char out[STORE_UIDL_SIZE]);

/* RFC 8474 object ids of messages and mailboxes: see lib/objectid.h.
   EMAILID is made from struct store_message's blob_id (shared by COPY
   and MOVE), MAILBOXID from struct store_mailbox_info's id (kept by
   RENAME, never reused) and uidvalidity. */

/* ---- threads (RFC 8474 5.2 THREADID) ---------------------------------- */

/* Each blob saved gets a thread id at commit, in the save's transaction,
   and keeps it for good (RFC 8474: a message's THREADID never changes;
   COPY and MOVE share the blob, so they share it too). The store keeps a
   per-user table msg-id -> thread id. At commit the keys given to
   store_save_set_thread() are looked up in order, nearest parent first,
   then the message's own Message-ID (a parent arriving after its reply
   finds the id the reply recorded); the first one known gives the
   thread. When none is known the message starts a new thread, whose id
   is its own blob id (never 0). Then its own id and every reference not
   yet in the table are recorded with that thread; ids already there keep
   their thread.

   So when a message refers to two threads, it joins the one of its
   nearest known parent, and the two threads stay apart: no other
   message's id is rewritten. Messages are only linked by these headers
   (no subject matching), and only within one user.

   Rows of the msg-id table stay when the messages go (a late reply to
   an expunged message still joins the thread of its siblings). The
   table only grows with saves: at most 1 + THREADID_MAX_REFERENCES rows
   of at most THREADID_MAX_MSGID bytes per message ever saved.

   Blobs saved before the store kept threads (schema version 6) have no
   thread id. */

/* The thread id of blob_id. Returns 1 with *thread_id_r (never 0), 0 if
   the blob has none (saved before threads were kept, or gone), -1. */
int store_thread_get(struct store_user *user, uint64_t blob_id,
		     uint64_t *thread_id_r, const char **error_r);

/* ---- saving ------------------------------------------------------------ */

/* Saving a message (LMTP, `quire deliver`, IMAP APPEND):
     store_save_begin()                 temp file in the user's tmp/
     store_save_write() / _write_fd()   any number of times, streamed
     store_save_set_*()                 optional, any time before commit
     store_save_commit()                fsync, rename into blobs/, fsync the
                                        directory, then one transaction adds
                                        the row and bumps UIDNEXT / modseq
   or store_save_abort(), which removes the temp file.
   The bytes must already be in CRLF form; the store does not convert.
   LMTP writes its per-recipient Return-Path/Delivered-To lines with
   store_save_write() and then copies the spooled body with
   store_save_write_fd().
   The user is NOT locked between these calls (writes may follow the
   network's pace); only begin and commit lock it briefly. A save context
   is used by one thread at a time. After a failed write the context only
   accepts abort (commit fails too). */

/* Starts a save into mailbox_id (checked at commit). Returns 0, or -1. */
int store_save_begin(struct store_user *user, uint64_t mailbox_id,
		     struct store_save **save_r, const char **error_r);
/* Appends bytes. Returns 0, or -1 (e.g. ENOSPC: "No space left on
   device"). */
int store_save_write(struct store_save *save, const void *data, size_t size,
		     const char **error_r);
/* Appends bytes, turning each LF not preceded by CR into CRLF (state is
   kept across calls, so any split works). For `quire deliver`, whose
   input from the MTA has bare LF line ends. Returns 0, or -1. */
int store_save_write_crlf(struct store_save *save, const void *data,
			  size_t size, const char **error_r);
/* Appends size bytes of fd read from offset (pread; fd's position is not
   used or changed). Returns 0, or -1 (also if fd ends before size bytes). */
int store_save_write_fd(struct store_save *save, int fd, off_t offset,
			uint64_t size, const char **error_r);
/* IMAP APPEND date-time; default: now. */
void store_save_set_internal_date(struct store_save *save, time_t date);
/* Initial flags and keywords (names are copied; invalid names are
   dropped, unknown ones are added to the user's keyword table at commit,
   ignored past STORE_MAX_KEYWORDS). */
void store_save_set_flags(struct store_save *save, uint8_t flags,
			  const char *const *keywords, unsigned keyword_count);
/* Cache data to store with the message (copied). */
void store_save_set_cache(struct store_save *save,
			  enum store_cache_field field, const void *data,
			  size_t size);
/* Threading keys of the message (RFC 8474 5.2 THREADID; see "threads"
   below), copied: its own Message-ID and the ids it refers to, nearest
   parent first (In-Reply-To, then References from the last), all
   normalised msg-ids without angle brackets. NULL / "" message_id = none.
   Ids past THREADID_MAX_REFERENCES and ids longer than THREADID_MAX_MSGID
   (lib/limits.h) are dropped. Without this call the message starts a
   thread of its own. */
void store_save_set_thread(struct store_save *save, const char *message_id,
			   const char *const *references,
			   unsigned reference_count);
/* Bytes written so far. */
uint64_t store_save_get_size(const struct store_save *save);
/* Opens the bytes written so far for reading (pread), e.g. to write a
   converted form into another save before aborting this one. The caller
   closes *fd_r; it reads the data even after the save is aborted.
   Returns 0, or -1 (also after a failed write). */
int store_save_open_read(struct store_save *save, int *fd_r,
			 const char **error_r);
/* Gives dst the flags, keywords and internal date set on src. */
void store_save_copy_options(struct store_save *dst,
			     const struct store_save *src);
/* Makes the message durable, then returns its UID in *uid_r (may be NULL)
   and fires the mailbox's watchers. Only after 0 is returned may the
   message be acknowledged. On -1 nothing remains: no file, no row.
   Frees the context and sets *save to NULL either way.
   Saves of one user committing at the same time are grouped into one
   transaction (group commit); the watchers may then be called from the
   thread that led the group. Call it without holding store_user_lock()
   so it can join a group (holding it works, but commits alone). */
int store_save_commit(struct store_save **save, uint32_t *uid_r,
		      const char **error_r);
/* Discards the message. Sets *save to NULL. Safe on NULL. */
void store_save_abort(struct store_save **save);

/* ---- changing messages ------------------------------------------------- */

/* A set of UIDs: inclusive ranges, in any order, may overlap. UIDs that
   do not exist are skipped silently (IMAP UID STORE semantics). */
struct store_uid_range {
	uint32_t first, last;
};

enum store_flags_op {
	STORE_FLAGS_REPLACE, /* FLAGS */
	STORE_FLAGS_ADD,     /* +FLAGS */
	STORE_FLAGS_REMOVE,  /* -FLAGS */
};

/* Changes flags and keywords of the given messages in one transaction.
   Each message whose flags actually change gets the operation's new
   modseq; with unchangedsince != 0 (RFC 7162 UNCHANGEDSINCE) messages
   whose modseq is greater are left alone. *modseq_r (may be NULL) is the
   new modseq, or 0 if nothing changed. Unknown keywords are added (past
   STORE_MAX_KEYWORDS they are ignored, REMOVE never adds). For the
   MODIFIED response code: afterwards, every message of the set whose
   modseq is above unchangedsince and differs from *modseq_r was refused.
   Returns 1, 0 if no such mailbox, -1. */
int store_flags_update(struct store_user *user, uint64_t mailbox_id,
		       const struct store_uid_range *uids, unsigned uid_count,
		       enum store_flags_op op, uint8_t flags,
		       const char *const *keywords, unsigned keyword_count,
		       uint64_t unchangedsince, uint64_t *modseq_r,
		       const char **error_r);

/* POP3 RETR/TOP-to-the-end: records "first retrieved at `when`" (kept if
   already set) and sets \Seen, bumping modseq where something changed.
   Returns 1, 0 if no such mailbox, -1. */
int store_pop3_mark_retrieved(struct store_user *user, uint64_t mailbox_id,
			      const struct store_uid_range *uids,
			      unsigned uid_count, time_t when,
			      const char **error_r);

/* Expunges messages in one transaction: their rows move to the expunge log
   (for QRESYNC VANISHED) under one new modseq, blob references drop, and
   blobs no longer referenced are unlinked after the commit. *expunged_r
   (may be NULL) counts removed messages. Returns 1, 0 if no such mailbox,
   -1. */
int store_expunge(struct store_user *user, uint64_t mailbox_id,
		  const struct store_uid_range *uids, unsigned uid_count,
		  unsigned *expunged_r, const char **error_r);

/* Leave-on-server expiry: expunges from INBOX every message first
   retrieved over POP3 more than `days` days before the store's clock.
   Returns 0 with *expunged_r, or -1. */
int store_pop3_expire(struct store_user *user, unsigned days,
		      unsigned *expunged_r, const char **error_r);

/* COPY (move = false) or MOVE (RFC 6851) in one transaction; the new rows
   share the blobs. Keeps flags, keywords and internal date. On success
   *src_uids_r / *dst_uids_r (malloc'ed, free(); may be NULL if count is 0)
   hold the UID mapping for COPYUID, in source UID order. Returns 1, 0 if
   either mailbox is missing, -1. */
int store_messages_copy(struct store_user *user, uint64_t src_mailbox_id,
			const struct store_uid_range *uids,
			unsigned uid_count, uint64_t dst_mailbox_id,
			bool move, uint32_t **src_uids_r,
			uint32_t **dst_uids_r, unsigned *count_r,
			const char **error_r);
/* The same, all or nothing: if a UID of the set is no longer in the
   source mailbox (another session expunged it), nothing is copied or
   moved, and -1 is returned with store_error_is_expunged() true. For a
   COPY or MOVE by sequence numbers, whose every UID the session still
   shows (RFC 2180 4.4.1). */
int store_messages_copy_all(struct store_user *user, uint64_t src_mailbox_id,
			    const struct store_uid_range *uids,
			    unsigned uid_count, uint64_t dst_mailbox_id,
			    bool move, uint32_t **src_uids_r,
			    uint32_t **dst_uids_r, unsigned *count_r,
			    const char **error_r);

/* What changed in a mailbox after modseq `since` (CONDSTORE/QRESYNC, and
   what a woken session reads): messages whose modseq > since (including
   new ones), in UID order, and UIDs expunged with modseq > since, sorted.
   If since < the mailbox's expunge_floor (store_mailbox_status()) the
   expunged list may miss old entries: the IMAP layer then reports as
   VANISHED every UID the client knows that no longer exists (RFC 7162
   3.2.5.1 allows reporting too many). Arrays are malloc'ed (free()).
   Returns 1, 0 if no such mailbox, -1. */
int store_mailbox_changes(struct store_user *user, uint64_t mailbox_id,
			  uint64_t since, struct store_message **changed_r,
			  unsigned *changed_count_r, uint32_t **expunged_r,
			  unsigned *expunged_count_r, const char **error_r);

/* ---- change notification ---------------------------------------------- */

enum store_change_type {
	STORE_CHANGE_SAVE,    /* new messages (save, copy, move target) */
	STORE_CHANGE_FLAGS,   /* flags/keywords/POP3 retrieval */
	STORE_CHANGE_EXPUNGE, /* expunge, move source, expiry */
	STORE_CHANGE_MAILBOX, /* mailbox deleted or renamed */
	/* Only for user watchers (store_user_watch_add()): */
	STORE_CHANGE_CREATE,	   /* a mailbox was created */
	STORE_CHANGE_DELETE,	   /* a mailbox was deleted */
	STORE_CHANGE_RENAME,	   /* a mailbox (and its children) renamed */
	STORE_CHANGE_SUBSCRIPTION, /* a name was (un)subscribed */
};

/* Called after a change to the watched mailbox has been committed, from
   the thread that committed it (for grouped saves, the group's leader),
   with the user's lock held. It must be quick
   and must not block: the daemon calls event_active() on the session's
   event and the session reads store_mailbox_changes() from its own
   worker. It may call store_watch_remove() on any watch. `modseq` is the
   mailbox's HIGHESTMODSEQ after the change. */
typedef void store_watch_callback_t(void *context, uint64_t mailbox_id,
				    enum store_change_type type,
				    uint64_t modseq);

/* Registers a watcher. The user keeps no reference to context. Never
   fails. */
struct store_watch *store_watch_add(struct store_user *user,
				    uint64_t mailbox_id,
				    store_watch_callback_t *callback,
				    void *context);
/* Unregisters; after it returns the callback is not called again. Sets
   *watch to NULL. Safe on NULL. Also removes user watches. */
void store_watch_remove(struct store_watch **watch);

/* User watches (IMAP NOTIFY, RFC 5465): one callback for every change of
   any of the user's mailboxes made through this struct store, by any
   session, POP3, LMTP or `quire deliver` through the daemon. A session
   that does not ask for them costs nothing: store_notify() walks the
   same list as for mailbox watchers.

   The change, valid only during the callback:
     SAVE, FLAGS, EXPUNGE  mailbox_id and modseq (HIGHESTMODSEQ after it);
                           name is NULL (the callee looks it up if needed)
     CREATE, DELETE        mailbox_id (0 for DELETE) and name
     RENAME                old_name and name (the new one); one change
                           for the mailbox, none for renamed children
     SUBSCRIPTION          name and subscribed (the state after it; sent
                           even when the list already had it so)
   STORE_CHANGE_MAILBOX is never sent to user watches (DELETE/RENAME say
   more). The callback runs as store_watch_callback_t does: on the
   committing thread, with the user locked, and must be quick. */
struct store_user_change {
	enum store_change_type type;
	uint64_t mailbox_id;
	uint64_t modseq;
	const char *name;
	const char *old_name;
	bool subscribed;
};
typedef void store_user_watch_callback_t(void *context,
					 const struct store_user_change *ch);
/* Registers a user watch; remove it with store_watch_remove(). Never
   fails. */
struct store_watch *store_user_watch_add(struct store_user *user,
					 store_user_watch_callback_t *callback,
					 void *context);

/* ---- the selected mailbox: one shared view, a cursor per session ------ */

/* DESIGN "The selected mailbox": every session that has a mailbox open in
   this process shares one in-memory view of it (UIDs in order, flags,
   modseqs); a session holds only a cursor: the modseq it has reported up
   to and the point up to which it has reported expunges. Expunged entries
   stay in the shared view until every cursor has reported them, so each
   session's sequence numbers only move when it is allowed to say EXPUNGE
   (RFC 9051 7.5.1: not during FETCH, STORE, SEARCH).

   All functions lock the user. The view is refreshed from the store by
   store_view_sync(), typically from the session's own worker after its
   watcher fired; changes by other processes are picked up the same way. */
struct store_view;

struct store_view_entry {
	uint32_t uid;
	uint8_t flags;
	uint64_t keywords;
	uint64_t modseq;
	uint64_t size;
	uint64_t blob_id;
	time_t internal_date;
	time_t save_date; /* RFC 8514 SAVEDATE: when this row was made */
};

/* What store_view_sync() found for this session, to report in this
   order: expunged_seqs (sequence numbers valid when sent in the given
   order, i.e. highest first), then changed_seqs (flags/modseq changed,
   numbered after the expunges), then `exists` if it grew or expunges
   were reported. Arrays are malloc'ed; free with
   store_view_changes_free(). */
struct store_view_changes {
	uint32_t *expunged_seqs;
	/* The UIDs of those messages, ascending (for QRESYNC VANISHED). */
	uint32_t *expunged_uids;
	unsigned expunged_count;
	uint32_t *changed_seqs;
	unsigned changed_count;
	uint32_t exists;
	uint64_t highestmodseq;
};

/* Opens a cursor on mailbox_id's shared view (loading it on first use).
   The session's numbering starts with every message present now. Returns
   1, 0 if no such mailbox, -1. */
int store_view_open(struct store_user *user, uint64_t mailbox_id,
		    struct store_view **view_r, const char **error_r);
/* Closes the cursor. After the last one the shared view may stay in
   memory for a later store_view_open() (a few per user, a bounded number
   of entries per process; freed when the user is closed); that open
   checks it against the store (HIGHESTMODSEQ, expunge log floor) first,
   so changes by any process are seen. Sets *view to NULL. Safe on
   NULL. */
void store_view_close(struct store_view **view);
/* Messages in this session's numbering (what it last said EXISTS). */
uint32_t store_view_count(struct store_view *view);
/* Copies the entry with 1-based sequence number seq. Returns true, or
   false if seq is out of range. */
bool store_view_get(struct store_view *view, uint32_t seq,
		    struct store_view_entry *entry_r);
/* Copies up to n entries starting at sequence number first_seq, in
   order, into entries (the caller's array of n), taking the user's lock
   once. Returns how many were copied: fewer than n at the end of the
   view, 0 if first_seq is 0 or out of range. */
unsigned store_view_get_range(struct store_view *view, uint32_t first_seq,
			      unsigned n, struct store_view_entry *entries);
/* Walks a view from sequence number 1 in order, copying entries out
   STORE_VIEW_ITER_BATCH at a time with store_view_get_range(): the
   user's lock once per batch, not per message. 48 bytes an entry, so
   about 12 KiB on the caller's stack. */
#define STORE_VIEW_ITER_BATCH 256
struct store_view_iter {
	struct store_view *view;
	uint32_t seq; /* of the entry last returned; 0 before the first */
	unsigned count, pos;
	struct store_view_entry batch[STORE_VIEW_ITER_BATCH];
};
void store_view_iter_init(struct store_view_iter *it,
			  struct store_view *view);
/* The next entry (its sequence number is it->seq); false at the end. */
bool store_view_iter_next(struct store_view_iter *it,
			  struct store_view_entry *entry_r);
/* Sequence number of uid in this session's numbering, 0 if not there. */
uint32_t store_view_seq(struct store_view *view, uint32_t uid);
/* Refreshes the shared view and moves this session's cursor forward,
   filling *changes_r (see above). With allow_expunge false, expunged
   messages keep their sequence numbers and are reported by a later call.
   Returns 1, 0 if the mailbox was deleted (the session should close it),
   -1. */
int store_view_sync(struct store_view *view, bool allow_expunge,
		    struct store_view_changes *changes_r,
		    const char **error_r);
/* The same for a session woken by its watcher (store_watch_add()): when
   the shared view has already read every change this process made to
   the mailbox (another woken session refreshed it), it answers from
   memory without asking the store, so waking N sessions reads the store
   once, not N times. A change by another process is then reported by
   the next store_view_sync(). Returns as store_view_sync(). */
int store_view_sync_woken(struct store_view *view, bool allow_expunge,
			  struct store_view_changes *changes_r,
			  const char **error_r);
void store_view_changes_free(struct store_view_changes *changes);

/* ---- quota (RFC 9208) ------------------------------------------------- */

/* One quota root per user covering all its mailboxes. Usage counts every
   message row: STORAGE is the sum of RFC822.SIZE (a COPY counts again
   though it shares the file, as the client sees two messages), MESSAGE
   the number of messages. The backend keeps both as counters updated in
   the same transactions as saves, copies and expunges, so a check made
   inside the write transaction is exact under concurrent sessions and
   processes; store_check() recounts them.

   Limits are not stored: the caller (IMAP login, delivery) sets them on
   the user object from the configuration and the user database, and they
   apply to every later save and copy through this struct store until set
   again. A save or copy that would take usage above a limit fails with
   nothing changed, and store_error_is_overquota() is then true. MOVE
   never changes usage, so it is never refused. */
struct store_quota {
	uint64_t storage;  /* bytes; 0 = no limit */
	uint64_t messages; /* 0 = no limit */
};

struct store_quota_usage {
	uint64_t storage;  /* bytes */
	uint64_t messages;
};

/* Sets / reads the user's limits (copied; locks the user). A new user
   object has none. */
void store_user_set_quota(struct store_user *user,
			  const struct store_quota *quota);
void store_user_get_quota(struct store_user *user,
			  struct store_quota *quota_r);
/* Current usage, read in one snapshot. Returns 0, or -1. */
int store_quota_usage(struct store_user *user,
		      struct store_quota_usage *usage_r, const char **error_r);
/* Pure check: true if adding add_messages messages of add_bytes bytes in
   all to usage stays within quota (a limit may be reached, not passed).
   No overflow: huge additions are simply refused. */
bool store_quota_allows(const struct store_quota *quota,
			const struct store_quota_usage *usage,
			uint64_t add_messages, uint64_t add_bytes);
/* After a store call on this thread returned -1: true if it failed only
   because it would exceed the user's quota (nothing was changed). The
   error text is then STORE_ERROR_OVERQUOTA. */
#define STORE_ERROR_OVERQUOTA "Quota exceeded"
bool store_error_is_overquota(void);
/* After a store call on this thread returned -1: true if it failed only
   because messages it was given no longer exist (nothing was changed).
   The error text is then STORE_ERROR_EXPUNGED. */
#define STORE_ERROR_EXPUNGED "Some of the messages no longer exist"
bool store_error_is_expunged(void);

/* ---- metadata (RFC 5464 METADATA / METADATA-SERVER) -------------------- */

/* Entries ("annotations") belong to a mailbox (by id, so RENAME keeps
   them and DELETE removes them) or, with mailbox_id 0, to the server as
   this user sees it. An entry name is canonical: it starts with
   "/private" or "/shared", is in lower case (ASCII letters folded: names
   are case-insensitive) and passed store_metadata_entry_canon(). Private
   and shared entries of one mailbox are distinct entries. A value is
   0..METADATA_MAX_VALUE_SIZE bytes of anything, NUL included (an empty
   value is a value, not a removal). Limits (lib/limits.h):
   METADATA_MAX_ENTRIES per mailbox (the server counts as one) and
   METADATA_MAX_USER_SIZE for the names and values of all the user's
   entries together. */

/* DEPTH infinity (RFC 5464 4.2.2). */
#define STORE_METADATA_DEPTH_INFINITY UINT32_MAX

struct store_metadata_entry {
	char *name;	/* canonical entry name, malloc'ed */
	uint8_t *value; /* size bytes plus an uncounted NUL, malloc'ed */
	size_t size;
};

/* One change of store_metadata_set(). */
struct store_metadata_change {
	const char *name;     /* canonical */
	const uint8_t *value; /* NULL removes the entry */
	size_t size;
};

/* Why store_metadata_set() returned 0. */
enum store_metadata_refusal {
	STORE_METADATA_REFUSED_NONE = 0,
	/* mailbox_id is not (any longer) a mailbox. */
	STORE_METADATA_NO_MAILBOX,
	/* A value is over METADATA_MAX_VALUE_SIZE ([METADATA MAXSIZE]). */
	STORE_METADATA_TOO_LARGE,
	/* The change would put the mailbox over METADATA_MAX_ENTRIES or the
	   user over METADATA_MAX_USER_SIZE ([METADATA TOOMANY]). */
	STORE_METADATA_TOO_MANY,
};

/* Checks an entry name as sent by a client (RFC 5464 3.2: "/"-separated,
   no "*" or "%", no empty component, no trailing "/", valid UTF-8 without
   NUL; control characters refused too) and writes its canonical form to
   a malloc'ed *canon_r. It must begin with "/private" or "/shared". The
   bare "/private" or "/shared" is accepted only when for_set is false (a
   GETMETADATA of a whole tree); for_set also wants a vendor-token after
   a "vendor" component ("/shared/vendor/<token>...", RFC 5464 3.2.1.3).
   Returns true, or false with *error_r (static text fit for BAD). */
bool store_metadata_entry_canon(const uint8_t *name, size_t len,
				bool for_set, char **canon_r,
				const char **error_r);

/* The entry `entry` (canonical) and the entries below it down to `depth`
   levels (0: the entry alone, 1: also its children,
   STORE_METADATA_DEPTH_INFINITY: everything below), sorted bytewise by
   name; an entry without a value is simply absent. Returns 1 with a
   malloc'ed array (free with store_metadata_entries_free(); NULL when
   *count_r is 0), 0 if no such mailbox, -1. */
int store_metadata_get(struct store_user *user, uint64_t mailbox_id,
		       const char *entry, unsigned depth,
		       struct store_metadata_entry **entries_r,
		       unsigned *count_r, const char **error_r);
void store_metadata_entries_free(struct store_metadata_entry **entries,
				 unsigned count);

/* Applies all changes in one transaction, in order (a later change of
   the same name wins), or none of them. Returns 1 done, 0 refused with
   *refusal_r saying why (nothing changed), -1 error (also for a
   non-canonical name). */
int store_metadata_set(struct store_user *user, uint64_t mailbox_id,
		       const struct store_metadata_change *changes,
		       unsigned count, enum store_metadata_refusal *refusal_r,
		       const char **error_r);

/* ---- startup check ---------------------------------------------------- */

struct store_check_result {
	unsigned users;		/* user stores looked at */
	unsigned tmp_removed;	/* temp files left by a crash */
	unsigned orphan_blobs;	/* blob files without a row, removed */
	unsigned missing_blobs; /* rows whose file was missing, expunged */
	unsigned errors;	/* users that could not be checked (logged) */
};

/* Walks every user under the data_dir: removes temp files whose writer is
   gone (those of a process still alive, other than this one, are kept),
   removes blob files that no row references (crash between rename and
   commit; safe against a concurrent save in another process because a
   save renames only inside its write transaction), and expunges rows whose
   file is missing (logged as errors: it means lost data), and finishes
   user removals a crash interrupted. Run it at
   startup before this process begins any save. Returns 0, or -1 if the
   data_dir cannot be read at all. */
int store_check(struct store *store, struct store_check_result *result_r,
		const char **error_r);

/* ---- full-text index ---------------------------------------------------- */

/* Each blob may have one index row: text in a few columns, which the
   store keeps and searches without knowing what it means (the search
   module fills it: src/search/search-fts.h). A row is written with the
   blob at save time or later (`quire reindex`) and goes when the blob
   goes. Columns are searched with SQLite FTS5's trigram tokenizer, case
   sensitive: the text is expected to be case-folded already. */
enum store_fts_column {
	STORE_FTS_ROOT = 0, /* top-level header fields */
	STORE_FTS_ADDR,	    /* address forms of the address fields */
	STORE_FTS_OTHER,    /* header fields of the MIME parts */
	STORE_FTS_BODY,	    /* text of the text parts */
	STORE_FTS_COLUMN_COUNT
};

/* One row's text: text[c] is len[c] bytes of valid UTF-8 without NUL
   (NULL for an empty column). complete says the row holds everything
   the message has (false: cut at a limit or partly unindexable). */
struct store_fts_doc {
	const char *text[STORE_FTS_COLUMN_COUNT];
	size_t len[STORE_FTS_COLUMN_COUNT];
	bool complete;
};

/* The row to write with the message (copied), in the same transaction
   as its other rows. */
void store_save_set_fts(struct store_save *save,
			const struct store_fts_doc *doc);

struct store_fts_entry {
	uint64_t blob_id;
	struct store_fts_doc doc;
};

/* Writes (replaces) the rows of existing blobs in one transaction;
   entries whose blob is gone are skipped. Returns 0, or -1. */
int store_fts_set(struct store_user *user,
		  const struct store_fts_entry *entries, unsigned count,
		  const char **error_r);

/* Every blob id of the user (for reindexing). Returns 0 with a malloc'ed
   array (free(); NULL when the count is 0), or -1. */
int store_fts_blob_list(struct store_user *user, uint64_t **ids_r,
			unsigned *count_r, const char **error_r);

/* The blobs of mailbox_id's messages that have no complete row (none at
   all, or one marked incomplete), sorted. Returns 0 with a malloc'ed
   array (free(); NULL when the count is 0), or -1. */
int store_fts_unindexed(struct store_user *user, uint64_t mailbox_id,
			uint64_t **ids_r, unsigned *count_r,
			const char **error_r);

/* Deferred unlinks. The file of a removed message goes once the commit
   that removed its last row is done: by default inside the call that
   removed it. After store_unlinks_defer() those calls queue the files
   and store_unlinks_run() unlinks them (the daemon's main thread, at a
   low priority), so a POP3 QUIT or an EXPUNGE of many messages answers
   without waiting for the filesystem. A file whose unlink a crash loses
   has no row, and store_check() removes it at the next start; beyond
   STORE_UNLINK_QUEUE_MAX queued files, calls unlink their own again.
   store_close() unlinks what is still queued. Both thread-safe.

   Spare files: once unlinks are deferred, the file of a removed message
   (small enough, while there is room: limits.h STORE_SPARE_*) is moved
   to data_dir/spare instead of unlinked, and a later save overwrites it
   instead of creating a file: creating and freeing inodes is much of
   the filesystem's cost of a save (on ext4 without a journal, each new
   inode is looked for past every one freed in the last 30 seconds). A
   spare that any process still holds open (a FETCH of the expunged
   message) is never reused: a write lease, granted only on a file no
   one else has open, is the test. Spares unused for a while, and all
   of them at store_close() or the next start, are removed. */
void store_unlinks_defer(struct store *store);
/* Unlinks every queued file; returns how many. */
unsigned long store_unlinks_run(struct store *store);

/* Message journal (store_settings.journal). A save normally makes its
   file durable before its row commits: an fsync of the file and one of
   its directory after the rename into blobs/, each a flush of the
   disk's cache, on top of the commit's own. With the journal on, a
   message of up to STORE_JOURNAL_MAX bytes is instead written in full
   into the commit (one row of its own), so that one sync of the
   database's log makes it durable: its file is written and renamed as
   before but not synced. store_journal_run() later makes the files of
   every such message durable at once (one syncfs() and one fsync() per
   filesystem, whatever their number) and then drops their rows in a
   commit that needs no sync of its own (a row a power cut brings back
   only means rewriting a file). A user's files are made durable the
   same way when it is closed. Opening a user whose journal has rows
   (the process stopped before they were dropped) rewrites each
   message's file from its row, through tmp/ and a rename, before
   anything reads it. A message removed before the pass takes its row
   with it. Thread-safe; returns how many messages it made durable. */
unsigned long store_journal_run(struct store *store);

/* Background indexing. A message is saved without its row (indexing is
   CPU work that would hold up delivery); it is then "pending" (no row:
   SEARCH reads it) until the daemon's indexer writes the row. A blob that
   goes leaves its row as garbage, removed by the indexer too (removing a
   row costs as much as writing one). Both commit without a sync: a row
   lost to a power cut is simply pending again.

   Up to max pending blob ids. Returns 0 with a malloc'ed array, or -1. */
int store_fts_pending(struct store_user *user, unsigned max,
		      uint64_t **ids_r, unsigned *count_r,
		      const char **error_r);
/* Removes the rows of up to max blobs that are gone, in one transaction;
   all of them at once when few live rows remain (limits.h
   FTS_GC_COPY_ROWS). Returns 0 with *count_r removed (at least max:
   there may be more), or -1. */
int store_fts_collect_garbage(struct store_user *user, unsigned max,
			      unsigned *count_r, const char **error_r);
/* Users whose index may have work: every save, expunge, copy, move or
   mailbox delete marks its user (a user already marked keeps the time
   of its first mark); store_fts_mark_due() marks it due at once (the
   indexer's "more to do"). The indexer takes the names one by one
   (*name_r malloc'ed), only of marks at least min_age_secs old. False
   when there is none. Thread-safe. */
void store_fts_mark(struct store_user *user);
void store_fts_mark_due(struct store_user *user);
bool store_fts_next_marked(struct store *store, unsigned min_age_secs,
			   char **name_r);

/* A query's rows go to these, called with the user locked: want() first
   (cheap: say whether the row matters, e.g. whether the blob is in the
   mailbox), then row() with the columns asked for (others NULL/0), valid
   during the call. */
struct store_fts_callbacks {
	bool (*want)(void *context, uint64_t blob_id);
	void (*row)(void *context, uint64_t blob_id,
		    const struct store_fts_doc *doc);
};

/* Rows that may hold every one of the `term_count` terms (each a string
   of 3 characters: a trigram) in one of the columns of column_mask
   (bit 1 << enum store_fts_column). With term_count 0 it gives every
   row of mailbox_id's messages instead. A row found may not contain the
   whole search string: the caller checks the text. Returns 0, or -1. */
int store_fts_query(struct store_user *user, uint64_t mailbox_id,
		    unsigned column_mask, const char *const *terms,
		    unsigned term_count,
		    const struct store_fts_callbacks *callbacks,
		    void *context, const char **error_r);

#endif
