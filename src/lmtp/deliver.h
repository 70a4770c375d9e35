#ifndef QUIRE_LMTP_DELIVER_H
#define QUIRE_LMTP_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The one path by which a message enters a user's mailbox from outside:
   LMTP, the daemon's control socket (`quire deliver` while quired runs)
   and `quire deliver` with quired stopped all end in deliver_message().

   A message for several recipients is first spooled (struct spool: an
   unlinked temp file in <data_dir>/tmp, already in CRLF form) and then
   copied into the store once per recipient, each copy with its own
   header prefix; LMTP writes a message for one recipient straight into
   its message file as it arrives (struct deliver_stream). Neither holds
   the message in memory. */

struct passdb;
struct store;
struct store_quota;

/* Delivers size bytes of spool_fd (from offset 0, CRLF form) to user's
   mailbox (NULL = INBOX; a missing mailbox falls back to INBOX), prefixed
   with prefix (e.g. "Return-Path: <...>\r\nDelivered-To: ...\r\n"; may be
   NULL when prefix_len is 0).

   user is looked up in passdb again (it may have been removed since the
   caller checked); the store user is the name as the passdb stores it.
   spool_fd is read with pread, so its position does not matter and is not
   changed.

   Returns 1 delivered (durable: store_save_commit returned 0) with
   *uid_r, 0 no such user, -1 temporary failure (disk full, store or
   passdb error) with *error_r, DELIVER_OVERQUOTA (-2) if the message
   would take the user over its quota (permanent: LMTP 552 5.2.2). On
   0, -1 and -2 nothing was stored. *error_r is text owned by the calling
   thread, valid until its next deliver_* call; deliver_error_is_nospace()
   tells a full disk from other failures.

   The user's quota limits are the [quota] defaults given here (NULL:
   none) overridden by the user's passwd-file fields (auth/quota.h); they
   are set on the store user before saving, and the store checks them in
   the transaction that commits the message. */
#define DELIVER_OVERQUOTA (-2)
int deliver_message_quota(struct store *store, struct passdb *passdb,
			  const struct store_quota *quota_defaults,
			  const char *user, const char *mailbox,
			  const void *prefix, size_t prefix_len, int spool_fd,
			  uint64_t size, uint32_t *uid_r,
			  const char **error_r);
/* The same for a message written as it arrives (LMTP with one
   recipient): no spool, the bytes go to the message file and the parser
   in large writes as they come. deliver_stream_begin() looks the user up,
   checks the quota against size (what is known of the message: SIZE=,
   else 0; the commit checks again, exactly) and writes prefix; it
   returns 1 with *ds_r, or what deliver_message_quota() would (0, -1,
   DELIVER_OVERQUOTA) with nothing begun. deliver_stream_write() never
   fails by itself: a failed write is kept and told by
   deliver_stream_finish(), which commits (1 with *uid_r: durable), or
   returns -1 / DELIVER_OVERQUOTA with *error_r; either way the stream
   is freed and *ds set to NULL. deliver_stream_abort() drops an
   unfinished copy (nothing is stored); safe on NULL. */
struct deliver_stream;
int deliver_stream_begin(struct store *store, struct passdb *passdb,
			 const struct store_quota *quota_defaults,
			 const char *user, const char *mailbox,
			 const void *prefix, size_t prefix_len, uint64_t size,
			 struct deliver_stream **ds_r, const char **error_r);
void deliver_stream_write(struct deliver_stream *ds, const void *data,
			  size_t len);
int deliver_stream_finish(struct deliver_stream **ds, uint32_t *uid_r,
			  const char **error_r);
void deliver_stream_abort(struct deliver_stream **ds);

/* The same with no configured defaults (passwd-file limits still
   apply). */
int deliver_message(struct store *store, struct passdb *passdb,
		    const char *user, const char *mailbox,
		    const void *prefix, size_t prefix_len, int spool_fd,
		    uint64_t size, uint32_t *uid_r, const char **error_r);

/* Builds the lines every delivered copy starts with, so LMTP and
   `quire deliver` write the same: "Return-Path: <sender>\r\n" (sender ""
   gives "<>"; NULL leaves the line out) then "Delivered-To: recipient\r\n"
   (NULL leaves it out). Returns a malloc'ed string (caller frees) with
   *len_r, or NULL if a value holds a byte that cannot be in a header
   (control bytes, non-ASCII) or is longer than LMTP_MAX_ADDRESS. */
char *deliver_prefix(const char *sender, const char *recipient,
		     size_t *len_r);

/* True if error (from deliver_message or the spool) says the disk or a
   quota is full, so LMTP answers 452 4.3.1 instead of 451 4.3.0. */
bool deliver_error_is_nospace(const char *error);

/* ---- the spool file ---------------------------------------------------- */

struct spool;

/* Creates an unlinked temp file in dir (O_TMPFILE where the filesystem
   has it, else mkstemp + unlink), mode 0600. dir is created (0700) if it
   is missing, but not its parents. Nothing of it remains on disk once the
   spool is destroyed or the process dies. Returns 0, or -1 with *error_r
   (thread-owned text, as above). */
int spool_create(const char *dir, struct spool **spool_r,
		 const char **error_r);
/* Closes the file (its space is freed) and sets *spool to NULL. Safe on
   NULL. */
void spool_destroy(struct spool **spool);
/* Empties the spool for the next message (keeps the file). Returns 0, or
   -1 with *error_r. */
int spool_reset(struct spool *spool, const char **error_r);

/* Appends bytes. Writes are buffered (a few tens of KiB); a write error
   (ENOSPC) may show here or in spool_finish(). After an error every later
   call fails with the same error. Returns 0, or -1 with *error_r. */
int spool_append(struct spool *spool, const void *data, size_t len,
		 const char **error_r);
/* Writes out the buffer, so the file holds all appended bytes and
   spool_get_fd() may be read. Returns 0, or -1 with *error_r. */
int spool_finish(struct spool *spool, const char **error_r);
/* Bytes appended so far (buffered ones included). */
uint64_t spool_get_size(const struct spool *spool);
/* The file, for pread (deliver_message). Owned by the spool. */
int spool_get_fd(const struct spool *spool);

/* ---- reading a message from a pipe ------------------------------------ */

/* Line-end canonicalisation for a message that arrives as it is, not in
   SMTP framing (`quire deliver` reads Postfix's pipe, which gives LF
   lines): CRLF stays, a bare LF or a bare CR becomes CRLF, and a last
   line without a line end gets CRLF. No dot handling. A byte-at-a-time
   state machine: any split of the input gives the same output. */
struct crlf_converter {
	bool cr_pending;  /* the last byte seen was a CR */
	bool mid_line;	  /* bytes of an unterminated line were output */
};

void crlf_converter_init(struct crlf_converter *c);
/* Converts in_len bytes into out, which must have room for
   2 * in_len + 1 bytes. Returns the bytes written. */
size_t crlf_converter_feed(struct crlf_converter *c, const uint8_t *in,
			   size_t in_len, uint8_t *out);
/* At end of input: writes the CRLF that ends an unterminated last line
   (at most 2 bytes) and returns its length. */
size_t crlf_converter_finish(struct crlf_converter *c, uint8_t *out);

/* Reads fd to its end (EINTR-safe, blocking) into spool, converting with
   a crlf_converter. Stops reading once the converted message would exceed
   max_size bytes (0 = no limit). Returns 1 when the whole message is in
   the spool (spool_finish done), 0 if it was larger than max_size (the
   spool holds a partial message: destroy it), -1 on a read or spool
   error with *error_r. */
int deliver_spool_read_fd(int fd, struct spool *spool, uint64_t max_size,
			  const char **error_r);

#endif
