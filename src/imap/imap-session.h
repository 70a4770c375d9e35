#ifndef QUIRE_IMAP_SESSION_H
#define QUIRE_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap-parser.h"
#include "imap/imap.h"
#include "lib/log.h"

/* One IMAP connection's state, shared by the command files (cmd-*.c) of
   the IMAP service. Not a public API outside src/imap/: the daemon sees
   only imap.h.

   Threads: a session lives on the worker thread that accepted its conn;
   every function here must be called on that thread.

   Commands
   --------
   A command is an entry of the static table in imap-commands.c:

	{ "SEARCH", cmd_search, IMAP_CMD_SELECTED | IMAP_CMD_UID |
				IMAP_CMD_USES_SEQS },

   The session checks the state the flags ask for (replying BAD itself
   otherwise), strips a "UID" prefix (allowed only with IMAP_CMD_UID:
   cmd->uid is then true and cmd->name is the verb after it), and calls
   the handler with the arguments after the verb.

	bool cmd_search(struct imap_cmd *cmd);

   A handler validates its arguments first (imap_cmd_bad() and return
   true on any error), then acts. It returns true once it has written its
   tagged reply with imap_cmd_ok()/imap_cmd_no()/imap_cmd_bad(). It may
   instead return false to go on later (FETCH streaming a large body,
   APPEND reading a literal, IDLE): it then sets cmd->resume, which the
   session calls from the event loop when output has drained or input
   arrived (and the session reads no further commands meanwhile) until
   it returns true. cmd->args are valid only during the first call: a
   command that goes on later copies what it needs into cmd->context
   (freed by cmd->free_context when the command ends or the session
   closes).

   Replies
   -------
   Untagged replies (imap_session_untagged) go out at once. The tagged
   reply is written by imap_cmd_ok/no (which first report pending
   changes of the selected mailbox: EXISTS, FETCH FLAGS, and EXPUNGE
   unless the command is marked IMAP_CMD_USES_SEQS and was not a UID
   command: RFC 9051 7.4.1, RFC 3501 7.4.1) or imap_cmd_bad (which
   reports nothing). So a handler rarely calls the sync itself (MOVE
   does, to send its own EXPUNGEs).

   Capabilities: the list is built in imap_session_capabilities()
   (imap-session.c); a command family that adds an extension adds its
   name there.

   The selected mailbox
   --------------------
   In the SELECTED state session->view is this session's cursor on the
   store's shared view of the mailbox (store.h, "the selected mailbox"):
   store_view_count(view) is EXISTS as this session last reported it,
   store_view_get(view, seq, &entry) gives UID, flags, keywords, modseq,
   size, blob and internal date of a sequence number, store_view_seq()
   maps a UID back. Sequence numbers do not move while a command runs.
   session->user is the logged-in user's store handle (hold
   store_user_lock() around several store calls that must agree),
   session->mailbox_id the selected mailbox's id. */

struct conn;
struct event;
struct imap_cmd;
struct imap_service;
struct imap_session;
struct imap_seqset;
struct sasl_server;
struct store_user;
struct store_uid_range;
struct store_view;
struct store_watch;
struct buf;
struct worker_wake;

enum imap_state {
	IMAP_STATE_NOT_AUTH,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

enum imap_cmd_flags {
	/* Allowed before login (CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN,
	   AUTHENTICATE, ID). */
	IMAP_CMD_NOAUTH = 0x01,
	/* Allowed after login, whether or not a mailbox is selected. */
	IMAP_CMD_AUTH = 0x02,
	/* Only with a mailbox selected. */
	IMAP_CMD_SELECTED = 0x04,
	/* Only before login (LOGIN, AUTHENTICATE, STARTTLS). */
	IMAP_CMD_ONLY_NOAUTH = 0x08,
	/* May be prefixed with UID. */
	IMAP_CMD_UID = 0x10,
	/* Uses sequence numbers (FETCH, STORE, SEARCH, COPY, MOVE without
	   UID): no EXPUNGE may be sent while it runs or with its reply. */
	IMAP_CMD_USES_SEQS = 0x20,
};

typedef bool imap_command_func_t(struct imap_cmd *cmd);

struct imap_command_def {
	const char *name;
	imap_command_func_t *func;
	unsigned int flags; /* enum imap_cmd_flags */
};

struct imap_service {
	struct imap_settings set;
	char *implementation;
	char *admin_contact; /* NULL if not configured */
};

struct imap_append;
struct imap_notify;

struct imap_cmd {
	struct imap_session *session;
	const struct imap_command_def *def;
	/* Owned copies, valid for the whole command. */
	char *tag;
	char *name; /* upper-cased verb, without "UID " */
	/* The command had the UID prefix. */
	bool uid;
	/* Arguments after the verb (and after UID's verb); first call
	   only. */
	const struct imap_arg *args;
	unsigned int args_count;

	/* Set by a handler that returned false: called again until it
	   returns true. */
	imap_command_func_t *resume;
	void *context;
	void (*free_context)(void *context);
};

/* The session. Fields are read by command handlers; they change them only
   through the functions below (or where a field's comment says so). */
struct imap_session {
	struct imap_service *service;
	struct conn *conn;
	struct imap_parser *parser;
	struct log_ctx log;
	enum imap_state state;

	/* The command running now (NULL between commands). */
	struct imap_cmd *cmd;

	/* Logged in. */
	char *user_name;
	struct store_user *user;

	/* ENABLE'd (RFC 5161): IMAP4rev2 changes some responses (no
	   RECENT, ESEARCH instead of SEARCH, LIST in SELECT); UTF8=ACCEPT
	   (or IMAP4rev2) means mailbox names go as UTF-8, not modified
	   UTF-7. */
	bool enabled_rev2;
	bool enabled_utf8;
	/* CONDSTORE (RFC 7162 3.1) is on: by ENABLE, SELECT (CONDSTORE),
	   FETCH MODSEQ / CHANGEDSINCE, STORE UNCHANGEDSINCE or SEARCH
	   MODSEQ. Flag updates then carry MODSEQ. */
	bool enabled_condstore;
	/* QRESYNC (RFC 7162 3.2): expunges are reported as VANISHED. */
	bool enabled_qresync;

	/* SELECTED state. */
	uint64_t mailbox_id;
	char *mailbox_name; /* UTF-8 as stored */
	bool read_only;	    /* EXAMINE */
	uint32_t uidvalidity;
	struct store_view *view;
	struct store_watch *watch;
	struct worker_wake *wake;
	/* EXISTS as last reported. */
	uint32_t exists_reported;
	/* Modseq up to which expunges were reported (or, after SELECT, a
	   point at or before the view's start): VANISHED looks for
	   expunges after it. */
	uint64_t expunge_modseq;
	/* A STORE .SILENT (or a FETCH that reported FLAGS itself) made this
	   modseq: the next sync does not echo those messages' flags. */
	uint64_t silent_modseq;

	/* \Recent (RFC 3501 2.3.2, IMAP4rev1 only): the UIDs this session
	   claimed from the store (store_mailbox_recent_claim()), at SELECT
	   and for new messages its view learnt of first. NULL when it
	   claims nothing: EXAMINE, or IMAP4rev2 enabled before SELECT. */
	struct imap_seqset *recent_uids;
	/* The highest UID a claim was made up to (new messages above it
	   are claimed at the next sync), and the RECENT count last sent. */
	uint32_t recent_checked_uid;
	uint32_t recent_reported;

	/* SEARCHRES (RFC 5182): the saved result "$" as a resolved set of
	   UIDs, or NULL (the empty set). Dropped at SELECT/EXAMINE/close. */
	struct imap_seqset *search_saved;

	/* The user's keyword names (index = keyword number), loaded on
	   demand. */
	char **keywords;
	unsigned int keyword_count;
	/* Keywords listed in the last untagged FLAGS. */
	unsigned int flags_announced;

	/* Counters for the logout line. */
	unsigned int command_count;
	unsigned int bad_count;
	unsigned int auth_failures;

	/* APPEND streaming its literals (cmd-append.c). */
	struct imap_append *append;
	/* NOTIFY (imap-notify.c); NULL unless the client used it. */
	struct imap_notify *notify;

	/* Private to imap-session.c / cmd-auth.c. */
	struct sasl_server *sasl;
	/* A password check running on a blocking-job thread (cmd-auth.c);
	   the SASL exchange is in the job meanwhile. */
	struct imap_auth_job *auth_job;
	char *sasl_tag;
	struct event *fail_timer;
	bool fail_close;
	bool input_paused;
	/* A command's response is half written (FETCH waiting for the
	   output to drain): nothing else may be written until it ends. */
	bool mid_reply;
	/* The server is stopping: BYE once mid_reply clears. */
	bool bye_pending;
	bool idling;
	/* A wake found the output over its high water mark: the sync waits
	   for the output to drain (imap_session_sync_held()). */
	bool wake_held;
	/* While set, untagged replies collect here, to go out as one write
	   (a woken sync: see imap-view.c). */
	struct buf *cork;
	bool streaming_literal;
	bool destroyed;
};

/* The session whose command handler runs on this thread now (NULL
   between commands): a store change made meanwhile is its own (NOTIFY
   does not report a session's own changes to it, RFC 5465 5). */
extern __thread struct imap_session *imap_session_running;

/* ---- replies ----------------------------------------------------------- */

/* Writes "* " + formatted text + CRLF. */
void imap_session_untagged(struct imap_session *session, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes raw bytes (a literal's data, a partial reply line); the caller
   writes the CRLF. */
void imap_session_write(struct imap_session *session, const void *data,
			size_t len);
void imap_session_printf(struct imap_session *session, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Tagged replies: report pending mailbox changes as the command allows
   (see above), then "<tag> OK|NO|BAD " + text + CRLF. text may start with
   a response code ("[TRYCREATE] Mailbox does not exist"). Call exactly
   one of them, once, per command. */
void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* BAD also counts towards the bad-command limit that ends the session. */
void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The user's request is over a server error: logs why (with the session's
   context) and replies "NO [SERVERBUG] Internal error" style text. */
void imap_cmd_fail(struct imap_cmd *cmd, const char *what, const char *error);

/* ---- the selected mailbox (imap-view.c) ------------------------------- */

/* Reports changes of the selected mailbox now: EXPUNGE (only when
   allow_expunge), then FETCH (FLAGS UID) for changed messages, then
   EXISTS. Called by imap_cmd_ok/no/bad, NOOP, CHECK and IDLE; a handler
   does not usually need it. */
void imap_session_sync(struct imap_session *session, bool allow_expunge);
/* The output drained: runs the sync a wake held back (wake_held), if
   any, as the wake would have. */
void imap_session_sync_held(struct imap_session *session);

/* QRESYNC: appends to *uids_r (malloc'ed, sorted) the UIDs expunged after
   modseq `since` that are in `filter` (NULL: any) and, if visible_only,
   still in this session's numbering. Returns 0, or -1 (logged). */
int imap_session_expunged_since(struct imap_session *session, uint64_t since,
				const struct imap_seqset *filter,
				bool visible_only, uint32_t **uids_r,
				unsigned int *count_r);

/* Turns a sequence set (cmd->uid false) or UID set (true) of the selected
   mailbox into UID ranges for the store; "*" is resolved against the
   view, "$" stands for the saved search result (by UID, whatever
   cmd->uid says). Sequence numbers past EXISTS are an error (*error_r, BAD);
   UIDs that do not exist are dropped silently (RFC 9051 6.4.9). Returns
   0 with a malloc'ed array (free(); may be NULL when *count_r is 0), or
   -1. */
int imap_session_seqset_to_uids(struct imap_session *session,
				struct imap_seqset *set, bool uid,
				struct store_uid_range **ranges_r,
				unsigned int *count_r, const char **error_r);

/* The same as ascending sequence numbers of this session's view
   (malloc'ed, free(); NULL when *count_r is 0). */
int imap_session_seqset_to_seqs(struct imap_session *session,
				struct imap_seqset *set, bool uid,
				uint32_t **seqs_r, unsigned int *count_r,
				const char **error_r);

/* SEARCH ... SAVE: replaces the saved result with uids (ascending). */
void imap_session_set_saved_uids(struct imap_session *session,
				 const uint32_t *uids, unsigned int count);
/* "$": a new resolved UID set (imap_seqset_destroy() it), empty if nothing
   was saved. */
struct imap_seqset *imap_session_saved_set(struct imap_session *session);

/* RFC 9051 7.3.5 (RFC 3501 7.2.6): a keyword new to this session is
   announced with FLAGS (and PERMANENTFLAGS) before any response shows
   it. Writes them if keywords holds one not announced yet; true then.
   Call before the response that shows the keywords is started. */
bool imap_session_announce_keywords(struct imap_session *session,
				    uint64_t keywords);
/* True if keywords holds one this session has not announced yet. */
bool imap_session_keywords_unannounced(const struct imap_session *session,
				       uint64_t keywords);
/* Writes the FLAGS list of a message: "(\Seen \Flagged $Label1)". */
void imap_write_flags(struct imap_session *session, struct buf *out,
		      uint8_t flags, uint64_t keywords);
/* The same for message uid of the selected mailbox, with \Recent if it
   is recent for this session (and IMAP4rev2 is not enabled). */
void imap_write_message_flags(struct imap_session *session, struct buf *out,
			      uint32_t uid, uint8_t flags, uint64_t keywords);
/* True if uid is \Recent for this session (IMAP4rev1 only). */
bool imap_session_uid_is_recent(struct imap_session *session, uint32_t uid);
/* The number of messages in this session's view that are \Recent for
   it: the RECENT response (RFC 3501 7.3.2). */
uint32_t imap_session_recent_count(struct imap_session *session);

/* Turns CONDSTORE on for a CONDSTORE-enabling command (RFC 7162 3.1). The
   first time, with a mailbox selected, it sends the untagged
   OK [HIGHESTMODSEQ] the RFC requires, before the command's own replies. */
void imap_session_enable_condstore(struct imap_session *session);

/* Mailbox names on the wire: from the client's form (modified UTF-7, or
   UTF-8 once UTF8=ACCEPT/IMAP4rev2 is enabled) to the store's UTF-8
   (malloc'ed; "inbox" in any case becomes "INBOX"), and back (written
   as an IMAP astring/string to out). Returns 0, or -1 with *error_r
   (BAD text). */
int imap_mailbox_name_from_client(struct imap_session *session,
				  const uint8_t *data, size_t len,
				  char **name_r, const char **error_r);
void imap_write_mailbox_name(struct imap_session *session, struct buf *out,
			     const char *name);

/* ---- helpers ----------------------------------------------------------- */

/* Allocation that aborts on out of memory. */
void *imap_xcalloc(size_t n, size_t size);
char *imap_xstrdup(const char *str);
char *imap_xstrndup(const void *data, size_t len);

/* Reads one raw line in line mode (AUTHENTICATE continuations, IDLE's
   DONE) from the conn's input through the parser. Returns 1 with the line
   (valid until the next call), 0 if none is complete yet, -1 if it was too
   long (*error_r). */
int imap_session_read_line(struct imap_session *session, const char **line_r,
			   size_t *len_r, const char **error_r);

/* Ends the running command (after its tagged reply): frees it and lets
   the session read the next command. For commands that returned false
   and finish from a timer or wake rather than from cmd->resume. */
void imap_session_cmd_finished(struct imap_session *session);

/* Selects mailbox_id (name as stored): opens the view and the watcher
   and enters the SELECTED state; the caller writes the replies. An
   IMAP4rev1 SELECT (not read_only) also claims the mailbox's \Recent
   messages for this session (RFC 3501 2.3.2). Returns
   1, 0 if the mailbox is gone, -1 (*error_r). */
int imap_session_select(struct imap_session *session, uint64_t mailbox_id,
			const char *name, bool read_only,
			const char **error_r);
/* Writes untagged FLAGS and PERMANENTFLAGS with the user's keywords. */
void imap_session_write_flags(struct imap_session *session);
/* Keyword number idx's name, or NULL. */
const char *imap_keyword_name(struct imap_session *session, unsigned int idx);

/* Drops the selected mailbox (watch, wake, view) and goes back to the
   AUTH state. */
void imap_session_unselect(struct imap_session *session);

/* Capability list for CAPABILITY and the greeting, without the leading
   "CAPABILITY ". */
void imap_session_capabilities(struct imap_session *session, struct buf *out);

/* After a successful LOGIN/AUTHENTICATE: opens the user's store, creates
   the default folders, switches state and timeouts, logs. Returns true,
   or false after replying NO itself. */
bool imap_session_login(struct imap_cmd *cmd, const char *user_name,
			const char *method);
/* A failed login: logs, replies NO after the throttle delay, BYE after
   too many. Returns true if the reply went out now, false if it comes
   from a timer (the handler then returns false with no resume). */
bool imap_session_login_failed(struct imap_cmd *cmd, const char *user,
			       const char *method, const char *reason,
			       bool temporary);
/* UNAUTHENTICATE (RFC 8437): closes the selected mailbox without
   expunging, drops the user (store reference, watch, keywords, ENABLEd
   extensions) and returns to the not-authenticated state with its
   limits and timeout. The connection's TLS and COMPRESS layers stay.
   The caller writes the reply. */
void imap_session_unauthenticate(struct imap_session *session);
/* The session is closing: a password check still running for it must
   not come back to it (cmd-auth.c). */
void imap_auth_session_closed(struct imap_session *session);

/* True if plaintext passwords are allowed on this connection. */
bool imap_session_plaintext_ok(struct imap_session *session);

#endif
