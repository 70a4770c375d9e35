#ifndef QUIRE_IMAP_COMMANDS_H
#define QUIRE_IMAP_COMMANDS_H

#include "imap/imap-session.h"
#include "store/store.h"

/* The command table (imap-commands.c) and the handlers, one file per
   command family. See imap-session.h for the handler contract. */

/* Finds a command by name (ASCII case-insensitive), or NULL. */
const struct imap_command_def *imap_command_find(const char *name);

/* cmd-auth.c: any state / before login */
bool cmd_capability(struct imap_cmd *cmd);
bool cmd_noop(struct imap_cmd *cmd);
bool cmd_logout(struct imap_cmd *cmd);
bool cmd_starttls(struct imap_cmd *cmd);
bool cmd_login(struct imap_cmd *cmd);
bool cmd_authenticate(struct imap_cmd *cmd);
bool cmd_enable(struct imap_cmd *cmd);
bool cmd_id(struct imap_cmd *cmd);

/* cmd-mailbox.c */
/* Reads a mailbox-name argument into the store's form (malloc'ed).
   Returns 0, or -1 after replying BAD/NO itself. */
int imap_cmd_get_mailbox(struct imap_cmd *cmd, const struct imap_arg *arg,
			 char **name_r);
/* STATUS items (RFC 9051 6.3.11, RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ). */
enum imap_status_item {
	IMAP_STATUS_MESSAGES = 0x01,
	IMAP_STATUS_UIDNEXT = 0x02,
	IMAP_STATUS_UIDVALIDITY = 0x04,
	IMAP_STATUS_UNSEEN = 0x08,
	IMAP_STATUS_DELETED = 0x10,
	IMAP_STATUS_SIZE = 0x20,
	IMAP_STATUS_RECENT = 0x40,
	IMAP_STATUS_HIGHESTMODSEQ = 0x80,
	IMAP_STATUS_DELETED_STORAGE = 0x100, /* RFC 9208 4.1.4 */
	IMAP_STATUS_APPENDLIMIT = 0x200,     /* RFC 7889 3.1 */
	IMAP_STATUS_MAILBOXID = 0x400, /* RFC 8474 4.3 */
};
/* Parses "(MESSAGES UNSEEN ...)". Returns 0, or -1 with *error_r. */
int imap_status_parse_items(const struct imap_arg *arg, unsigned int *items_r,
			    const char **error_r);
/* Writes "* STATUS name (...)". Returns 1, 0 if no such mailbox, -1. */
int imap_status_write(struct imap_session *session, uint64_t mailbox_id,
		      const char *name, unsigned int items,
		      const char **error_r);
/* UID ranges of the selected view's \Deleted messages (malloc'ed). */
int imap_view_deleted_uids(struct imap_session *session,
			   struct store_uid_range **ranges_r,
			   unsigned int *count_r);

/* RFC 6154 special-use attributes: "\Drafts" (ASCII case ignored) to
   the store's value, STORE_SPECIAL_NONE if unknown; and back (NULL for
   STORE_SPECIAL_NONE). */
enum store_special_use imap_special_use_parse(const uint8_t *data,
					      size_t len);
const char *imap_special_use_name(enum store_special_use use);

bool cmd_select(struct imap_cmd *cmd);
bool cmd_examine(struct imap_cmd *cmd);
bool cmd_create(struct imap_cmd *cmd);
bool cmd_delete(struct imap_cmd *cmd);
bool cmd_rename(struct imap_cmd *cmd);
bool cmd_subscribe(struct imap_cmd *cmd);
bool cmd_unsubscribe(struct imap_cmd *cmd);
bool cmd_status(struct imap_cmd *cmd);
bool cmd_namespace(struct imap_cmd *cmd);
bool cmd_close(struct imap_cmd *cmd);
bool cmd_unselect(struct imap_cmd *cmd);
bool cmd_check(struct imap_cmd *cmd);

/* cmd-list.c */
bool cmd_list(struct imap_cmd *cmd);
bool cmd_lsub(struct imap_cmd *cmd);

/* cmd-quota.c (RFC 9208) */
bool cmd_getquotaroot(struct imap_cmd *cmd);
bool cmd_getquota(struct imap_cmd *cmd);
bool cmd_setquota(struct imap_cmd *cmd);
/* After login: sets the user's quota limits on session->user from the
   configured defaults and the user's passwd-file fields. Never fails
   (errors are logged and leave the defaults). */
void imap_quota_login(struct imap_session *session);

/* cmd-append.c */
bool cmd_append(struct imap_cmd *cmd);
/* The parser returned IMAP_PARSE_LITERAL_STREAM for an APPEND: pc is the
   command so far. Prepares the save of the literal (or answers and skips
   it). */
void imap_append_stream_begin(struct imap_session *session,
			      const struct imap_command *pc);
/* True while a streamed literal's bytes are still to be read. */
bool imap_append_streaming(struct imap_session *session);
/* Reads buffered literal bytes into the save. Returns true when the input
   loop may go on (literal complete, or more to parse), false to wait for
   more input. */
bool imap_append_stream_input(struct imap_session *session);
/* The command failed to parse after some of its messages were saved:
   undoes them (all or nothing) and forgets the command. */
void imap_append_abort(struct imap_session *session);
/* Aborts any unfinished saves; at session end. */
void imap_append_free(struct imap_session *session);

/* cmd-fetch.c */
bool cmd_fetch(struct imap_cmd *cmd);
struct imap_fetch_items;
/* Writes "* seq FETCH (UID n items)" for message seq of the selected
   view at once, literals included (NOTIFY's MessageNew push). Returns 0,
   or -1 (logged; the session is closed if a reply was half written). */
int imap_fetch_write_unsolicited(struct imap_session *session,
				 struct imap_fetch_items *items,
				 uint32_t seq);
/* Parses size bytes of a message file and appends its mail cache record
   (mail-cache.h) to record. Returns 0, or -1 with *error_r. */
int imap_message_parse_fd(int fd, uint64_t size, struct buf *record,
			  const char **error_r);

/* cmd-store.c */
bool cmd_store(struct imap_cmd *cmd);
/* Parses flag atoms (system flags and keywords; \Recent dropped). The
   keyword array (malloc'ed, free()) points into the args. Returns 0, or -1
   with *error_r (BAD text). */
int imap_flags_parse(const struct imap_arg *args, unsigned int count,
		     uint8_t *flags_r, const char ***keywords_r,
		     unsigned int *keyword_count_r, const char **error_r);

/* cmd-copy.c */
/* Writes a UID list as a compact sequence set ("1:3,7") to out, in the
   order given (COPYUID's source and destination sets pair up by
   position). */
void imap_write_uid_set(struct buf *out, const uint32_t *uids,
			unsigned int count);
bool cmd_copy(struct imap_cmd *cmd);
bool cmd_move(struct imap_cmd *cmd);

/* cmd-expunge.c */
bool cmd_expunge(struct imap_cmd *cmd);

/* cmd-idle.c */
bool cmd_idle(struct imap_cmd *cmd);

/* cmd-metadata.c (RFC 5464) */
bool cmd_getmetadata(struct imap_cmd *cmd);
bool cmd_setmetadata(struct imap_cmd *cmd);

/* cmd-compress.c */
bool cmd_compress(struct imap_cmd *cmd);

/* cmd-unauthenticate.c */
bool cmd_unauthenticate(struct imap_cmd *cmd);

/* cmd-search.c (the search module's) */
bool cmd_search(struct imap_cmd *cmd);

struct search_program;
struct search_eval;
struct search_message;
struct search_fts_lookup;
struct store_view_entry;
/* One message of a SEARCH/SORT/THREAD run: fills *msg from the view entry
   (and its thread id if prog uses THREADID), applies the full-text
   index's verdicts (fts may be NULL; verdicts holds prog->count),
   evaluates, and reads the message itself when the outcome still depends
   on it. Returns 1 match, 0 no match (also a message expunged meanwhile,
   which RFC 9051 7.5.1 lets us leave out), -1 a store or read error
   (*error_r). */
int imap_search_judge(struct imap_session *session,
		      const struct search_program *prog,
		      struct search_eval *eval,
		      const struct search_fts_lookup *fts, int8_t *verdicts,
		      uint32_t seq, const struct store_view_entry *entry,
		      struct search_message *msg, const char **error_r);
/* read(2) of the int fd at context for search_eval_read(), retrying
   EINTR; -1 with *error_r. */
ssize_t imap_fd_read(void *context, uint8_t *buf, size_t size,
		     const char **error_r);

#endif
