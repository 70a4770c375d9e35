#ifndef QUIRE_POP3_PRIVATE_H
#define QUIRE_POP3_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lib/dotstuff.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "pop3/pop3.h"

/* Internals shared by pop3-session.c (service, session life, input loop,
   streaming, login), pop3-commands.c (the command table, the pure
   parsers, the maildrop commands) and pop3-auth.c (USER, PASS, APOP,
   AUTH). The parsers below do no I/O and are unit-tested directly. */

struct event;
struct pop3_auth_job;
struct pop3_sasl;
struct store_message;
struct store_user;

/* Allocation that aborts on out of memory (STYLE.md: no recovery paths
   for it). calloc checks n * size for overflow. */
static inline void *
pop3_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

static inline char *
pop3_xstrdup(const char *str)
{
	char *p = strdup(str);

	if (p == NULL)
		abort();
	return p;
}

/* ---- the pure part: command lines, message numbers, CAPA -------------- */

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
};

/* Command flags: where a command is allowed, and the shape of its
   arguments. The dispatcher checks all of these (and resolves message
   numbers) before a handler runs, so handlers only act. */
enum pop3_command_flags {
	POP3_CMD_AUTHORIZATION = 0x01, /* allowed before login */
	POP3_CMD_TRANSACTION = 0x02,   /* allowed after login */

	POP3_ARGS_MASK = 0xf0,
	POP3_ARGS_NONE = 0x00,	   /* no argument */
	POP3_ARGS_ONE = 0x10,	   /* exactly one (USER name) */
	POP3_ARGS_REST = 0x20,	   /* the rest of the line, spaces and all
				      (PASS: passwords may hold spaces) */
	POP3_ARGS_TWO = 0x30,	   /* exactly two (APOP name digest) */
	POP3_ARGS_ZERO_TO_TWO = 0x40, /* AUTH [mech [initial-response]] */
	POP3_ARGS_MSG = 0x50,	   /* one message number (RETR, DELE) */
	POP3_ARGS_OPT_MSG = 0x60,  /* an optional message number (LIST) */
	POP3_ARGS_MSG_LINES = 0x70, /* message number and line count (TOP) */
};

struct pop3_session;
struct pop3_command;

typedef void pop3_command_func_t(struct pop3_session *session,
				 const struct pop3_command *cmd);

struct pop3_command_def {
	const char *name;
	pop3_command_func_t *handler;
	unsigned flags;
};

/* Most arguments any command takes. */
#define POP3_MAX_ARGS 2

/* A parsed command line. args[] point into the line the parser was given
   (which it NUL-terminates in place) and are valid as long as it is. */
struct pop3_command {
	const struct pop3_command_def *def;
	unsigned argc;
	const char *args[POP3_MAX_ARGS];
	size_t arg_lens[POP3_MAX_ARGS];
	/* Filled by pop3_command_check_args() for message-number shapes:
	   the message's index (0-based) and TOP's line count. has_msg is
	   false for a LIST/UIDL without argument. */
	bool has_msg;
	unsigned msg_idx;
	uint64_t lines;
};

/* Results of pop3_command_parse(). */
enum pop3_parse_result {
	POP3_PARSE_OK = 1,
	POP3_PARSE_UNKNOWN = 0,	/* no such command */
	POP3_PARSE_ERROR = -1,	/* known command, bad argument syntax */
};

/* Looks a command name up (case-insensitive, len bytes, not necessarily
   NUL-terminated). NULL if unknown. */
const struct pop3_command_def *pop3_command_find(const char *name,
						 size_t len);

/* Splits a command line (without its CRLF) into the command and its
   arguments, following the def's argument shape. line must be writable
   and have a NUL at line[len]; the parser writes NULs between arguments.
   A line holding a NUL byte is an error. Arguments are separated by one
   or more spaces (RFC 2449 4 says one; some clients send more), except
   for POP3_ARGS_REST, which takes everything after the first space as it
   is. On POP3_PARSE_ERROR or _UNKNOWN, *error_r is static text for a
   "-ERR" reply. */
enum pop3_parse_result pop3_command_parse(char *line, size_t len,
					  struct pop3_command *cmd_r,
					  const char **error_r);

/* True if the command may be given in state. */
bool pop3_command_allowed(const struct pop3_command_def *def,
			  enum pop3_state state);

/* Parses a message number strictly (RFC 1939 5): digits only, 1..count,
   no sign, no leading or trailing junk. Returns 0 with *idx_r = number-1,
   or -1. */
int pop3_msgnum_parse(const char *arg, size_t len, unsigned count,
		      unsigned *idx_r);

/* Checks the message-number arguments of a parsed command against a
   maildrop of count messages, of which deleted[i] marks the deleted ones
   (may be NULL when count is 0), and fills cmd->has_msg, msg_idx and
   lines. Returns 0, or -1 with *error_r static text for "-ERR". */
int pop3_command_check_args(struct pop3_command *cmd, unsigned count,
			    const bool *deleted, const char **error_r);

/* What CAPA shows (RFC 2449 5 and 6). */
struct pop3_capa_params {
	bool transaction;  /* after login */
	bool stls;	   /* STLS may be given now */
	bool user;	   /* USER/PASS allowed on this connection now */
	const char *const *mechs; /* SASL mechanisms (NULL-terminated);
				     shown before login only */
	int expire_days;   /* -1: NEVER */
	const char *implementation; /* NULL: not shown */
};

/* The whole CAPA response, "+OK ...\r\n" to ".\r\n", malloc'ed and
   NUL-terminated; the caller frees it. */
char *pop3_capa_format(const struct pop3_capa_params *params);

/* The command table, for tests. */
extern const struct pop3_command_def pop3_commands[];
extern const unsigned pop3_commands_count;

/* ---- service and session ---------------------------------------------- */

#define POP3_INUSE_BUCKETS 256

struct pop3_inuse {
	struct pop3_inuse *next;
	char name[];
};

struct pop3_service {
	struct pop3_settings set;
	char *implementation;
	char hostname[256];

	/* Users with a session in TRANSACTION state. */
	pthread_mutex_t inuse_lock;
	struct pop3_inuse *inuse[POP3_INUSE_BUCKETS];

	/* A stored value no password matches, checked against for unknown
	   users so PASS takes as long for them as for real ones (the
	   default scheme's cost). */
	char *dummy_password;

	/* Makes APOP timestamps unique within the process. */
	unsigned long long greeting_counter;
};

/* What a running stream (a multi-line reply produced as the output
   drains) is sending. */
enum pop3_stream_kind {
	POP3_STREAM_RETR,
	POP3_STREAM_TOP,
	POP3_STREAM_LIST,
	POP3_STREAM_UIDL,
};

struct pop3_stream {
	enum pop3_stream_kind kind;
	unsigned msg_idx;	/* RETR/TOP: the message; LIST/UIDL: cursor */
	int fd;			/* RETR/TOP: the blob, else -1 */
	uint64_t offset, size;	/* RETR/TOP: read position and blob size */
	struct dot_writer writer;
	uint8_t *inbuf, *outbuf;
};

/* Reasons the input loop is paused (bits). */
enum pop3_pause {
	POP3_PAUSE_STREAM = 0x01,   /* a multi-line reply is being sent */
	POP3_PAUSE_THROTTLE = 0x02, /* a failed login's reply is delayed */
	POP3_PAUSE_AUTH = 0x04,	    /* credentials are being checked on a
				       blocking-job thread */
};

/* Longest line during an AUTH exchange: the base64 form of the longest
   SASL message we decode (RFC 5034 4: responses are not bound by the
   command line limit). */
#define POP3_SASL_MAX_LINE ((SASL_MAX_INPUT + 2) / 3 * 4)

struct pop3_session {
	struct pop3_service *service;
	struct conn *conn;
	struct log_ctx log;
	enum pop3_state state;

	/* The greeting's "<...@host>", kept for APOP (RFC 1939 7). */
	char apop_timestamp[320];

	/* AUTHORIZATION state */
	char *pending_user;	   /* from USER, waiting for PASS */
	unsigned auth_failures;
	struct event *fail_timer;  /* delayed failure reply */
	bool fail_close;	   /* close after the delayed reply */
	struct pop3_sasl *sasl;	   /* an AUTH exchange is running (NULL
				      while one of its steps is in
				      auth_job) */
	bool sasl_final;	   /* SCRAM server-final sent, wait for "" */
	/* A PASS or SASL step being checked off the event loop; input is
	   paused (POP3_PAUSE_AUTH) until its completion runs here. The job
	   points back at the session until session_closed detaches it. */
	struct pop3_auth_job *auth_job;

	unsigned bad_commands;
	unsigned pause;		   /* enum pop3_pause bits */

	/* TRANSACTION state: the maildrop as it was at login. */
	char *user_name;	   /* as stored in the passdb */
	bool inuse_held;
	struct store_user *user;
	uint64_t mailbox_id;
	uint32_t uidvalidity;
	struct store_message *msgs;
	bool *deleted;
	/* RETR'd this session: \Seen and the first-retrieval time are
	   written at QUIT, in one transaction, not one per RETR. */
	bool *retrieved;
	unsigned retrieved_count;
	unsigned count, deleted_count;
	uint64_t total_size, deleted_size;

	struct pop3_stream *stream;

	/* for the logout line */
	unsigned retr_count, top_count, expunged_count;
	uint64_t retr_bytes;
	bool quit;
};

/* Queues a reply line; "\r\n" is added. */
void pop3_reply(struct pop3_session *session, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Counts a bad command; closes the connection after too many. */
void pop3_session_bad_command(struct pop3_session *session);

/* True if USER/PASS and the plaintext SASL mechanisms are allowed now. */
bool pop3_session_plaintext_ok(struct pop3_session *session);

/* The SASL mechanisms this connection may use now (NULL-terminated). */
const char *const *pop3_session_mechanisms(struct pop3_session *session);

/* QUIT: records \Seen and the first-retrieval time (RFC 2449 EXPIRE
   counts from it) of the messages RETR'd this session that are not being
   deleted, in one store transaction. A session that ends without QUIT
   records nothing, as it deletes nothing (RFC 1939 6). */
void pop3_session_commit_retrieved(struct pop3_session *session);

/* QUIT: closes the maildrop and frees its IN-USE lock now, before the
   connection is gone. Harmless when not logged in. */
void pop3_session_release_maildrop(struct pop3_session *session);

/* Called after credentials were verified for user_name (as stored):
   takes the IN-USE lock, opens the maildrop, replies and enters the
   TRANSACTION state, or replies -ERR and stays in AUTHORIZATION. method
   is for the log ("PASS", "APOP", "AUTH PLAIN"). */
void pop3_session_login(struct pop3_session *session, const char *user_name,
			const char *method);

/* A failed login: logs it (user may be NULL, reason is for the log
   only), then replies "-ERR [AUTH]" after the throttle's delay, during
   which input is not processed; after AUTH_MAX_FAILURES_PER_CONN the
   connection is closed after that reply. With temporary set, replies
   "-ERR [SYS/TEMP]" at once and counts nothing. */
void pop3_session_login_failed(struct pop3_session *session,
			       const char *user, const char *method,
			       const char *reason, bool temporary);

/* Starts a multi-line reply stream (the "+OK" line already queued).
   Sends what fits now; the rest follows from output_drained, with input
   paused meanwhile. For RETR/TOP the stream owns fd. */
void pop3_session_stream_start(struct pop3_session *session,
			       enum pop3_stream_kind kind, unsigned msg_idx,
			       int fd, uint64_t size, int64_t top_lines);

/* Ends a running SASL exchange without a reply. */
void pop3_session_sasl_end(struct pop3_session *session);

/* pop3-auth.c: frees an AUTH exchange (its SASL server and the copies its
   lookup logs with). *sasl is set to NULL; safe on NULL. */
void pop3_sasl_free(struct pop3_sasl **sasl);

/* pop3-auth.c: the session is about to be freed. A credential check still
   running is orphaned: it finishes on its own thread, and its completion
   frees it without touching the session. */
void pop3_auth_session_closed(struct pop3_session *session);

/* pop3-auth.c: a line while an AUTH exchange runs. */
void pop3_auth_continue(struct pop3_session *session, const uint8_t *line,
			size_t len);

/* pop3-commands.c: runs one command line (not NUL-terminated; copied). */
void pop3_command_run(struct pop3_session *session, const uint8_t *line,
		      size_t len);

/* Handlers in pop3-auth.c. */
pop3_command_func_t pop3_cmd_user, pop3_cmd_pass, pop3_cmd_apop,
	pop3_cmd_auth;

#endif
