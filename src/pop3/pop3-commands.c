/* POP3 commands: the dispatch table, the pure command-line and
   message-number parsers, CAPA, and the maildrop commands of the
   TRANSACTION state (RFC 1939 5). USER, PASS, APOP and AUTH are in
   pop3-auth.c. */
#include "pop3/pop3-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "lib/limits.h"
#include "lib/strnum.h"
#include "net/conn.h"
#include "store/store.h"

static pop3_command_func_t cmd_capa, cmd_quit, cmd_stls, cmd_noop,
	cmd_stat, cmd_list, cmd_uidl, cmd_retr, cmd_top, cmd_dele, cmd_rset;

#define AUTHZ POP3_CMD_AUTHORIZATION
#define TRANS POP3_CMD_TRANSACTION

const struct pop3_command_def pop3_commands[] = {
	{ "CAPA", cmd_capa, AUTHZ | TRANS | POP3_ARGS_NONE },
	{ "QUIT", cmd_quit, AUTHZ | TRANS | POP3_ARGS_NONE },
	{ "USER", pop3_cmd_user, AUTHZ | POP3_ARGS_ONE },
	{ "PASS", pop3_cmd_pass, AUTHZ | POP3_ARGS_REST },
	{ "APOP", pop3_cmd_apop, AUTHZ | POP3_ARGS_TWO },
	{ "AUTH", pop3_cmd_auth, AUTHZ | POP3_ARGS_ZERO_TO_TWO },
	{ "STLS", cmd_stls, AUTHZ | POP3_ARGS_NONE },
	{ "NOOP", cmd_noop, TRANS | POP3_ARGS_NONE },
	{ "STAT", cmd_stat, TRANS | POP3_ARGS_NONE },
	{ "LIST", cmd_list, TRANS | POP3_ARGS_OPT_MSG },
	{ "UIDL", cmd_uidl, TRANS | POP3_ARGS_OPT_MSG },
	{ "RETR", cmd_retr, TRANS | POP3_ARGS_MSG },
	{ "TOP", cmd_top, TRANS | POP3_ARGS_MSG_LINES },
	{ "DELE", cmd_dele, TRANS | POP3_ARGS_MSG },
	{ "RSET", cmd_rset, TRANS | POP3_ARGS_NONE },
};
const unsigned pop3_commands_count =
	sizeof(pop3_commands) / sizeof(pop3_commands[0]);

/* ---- pure parsing ------------------------------------------------------ */

const struct pop3_command_def *
pop3_command_find(const char *name, size_t len)
{
	for (unsigned i = 0; i < pop3_commands_count; i++) {
		const char *cname = pop3_commands[i].name;

		if (strlen(cname) == len && strncasecmp(cname, name, len) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

enum pop3_parse_result
pop3_command_parse(char *line, size_t len, struct pop3_command *cmd_r,
		   const char **error_r)
{
	const struct pop3_command_def *def;
	size_t name_len = 0, pos;
	unsigned shape, min_args, max_args;

	memset(cmd_r, 0, sizeof(*cmd_r));
	if (memchr(line, '\0', len) != NULL) {
		*error_r = "Invalid command";
		return POP3_PARSE_UNKNOWN;
	}
	while (name_len < len && line[name_len] != ' ')
		name_len++;
	def = pop3_command_find(line, name_len);
	if (def == NULL) {
		*error_r = "Unknown command";
		return POP3_PARSE_UNKNOWN;
	}
	cmd_r->def = def;
	shape = def->flags & POP3_ARGS_MASK;

	if (shape == POP3_ARGS_REST) {
		if (name_len + 1 >= len) {
			*error_r = "Missing argument";
			return POP3_PARSE_ERROR;
		}
		cmd_r->args[0] = line + name_len + 1;
		cmd_r->arg_lens[0] = len - name_len - 1;
		cmd_r->argc = 1;
		return POP3_PARSE_OK;
	}

	pos = name_len;
	while (pos < len) {
		size_t start;

		while (pos < len && line[pos] == ' ')
			pos++;
		if (pos == len)
			break;
		start = pos;
		while (pos < len && line[pos] != ' ')
			pos++;
		if (cmd_r->argc == POP3_MAX_ARGS) {
			*error_r = "Too many arguments";
			return POP3_PARSE_ERROR;
		}
		cmd_r->args[cmd_r->argc] = line + start;
		cmd_r->arg_lens[cmd_r->argc] = pos - start;
		cmd_r->argc++;
		/* Safe: line[len] is the caller's NUL. */
		line[pos] = '\0';
		if (pos < len)
			pos++;
	}

	switch (shape) {
	case POP3_ARGS_NONE:
		min_args = 0, max_args = 0;
		break;
	case POP3_ARGS_ONE:
	case POP3_ARGS_MSG:
		min_args = 1, max_args = 1;
		break;
	case POP3_ARGS_TWO:
	case POP3_ARGS_MSG_LINES:
		min_args = 2, max_args = 2;
		break;
	case POP3_ARGS_ZERO_TO_TWO:
		min_args = 0, max_args = 2;
		break;
	case POP3_ARGS_OPT_MSG:
		min_args = 0, max_args = 1;
		break;
	default:
		abort();
	}
	if (cmd_r->argc < min_args) {
		*error_r = "Missing argument";
		return POP3_PARSE_ERROR;
	}
	if (cmd_r->argc > max_args) {
		*error_r = max_args == 0 ? "No arguments allowed" :
			"Too many arguments";
		return POP3_PARSE_ERROR;
	}
	return POP3_PARSE_OK;
}

bool
pop3_command_allowed(const struct pop3_command_def *def,
		     enum pop3_state state)
{
	switch (state) {
	case POP3_STATE_AUTHORIZATION:
		return (def->flags & POP3_CMD_AUTHORIZATION) != 0;
	case POP3_STATE_TRANSACTION:
		return (def->flags & POP3_CMD_TRANSACTION) != 0;
	}
	return false;
}

int
pop3_msgnum_parse(const char *arg, size_t len, unsigned count,
		  unsigned *idx_r)
{
	uint64_t num;

	/* The explicit num > count check guards against str_to_u64()
	   accepting a digit larger than a small max (its "max - d" can
	   wrap); it costs nothing. */
	if (str_to_u64(arg, len, count, &num) < 0 || num == 0 || num > count)
		return -1;
	*idx_r = (unsigned)(num - 1);
	return 0;
}

int
pop3_command_check_args(struct pop3_command *cmd, unsigned count,
			const bool *deleted, const char **error_r)
{
	unsigned shape = cmd->def->flags & POP3_ARGS_MASK;

	cmd->has_msg = false;
	if (shape != POP3_ARGS_MSG && shape != POP3_ARGS_OPT_MSG &&
	    shape != POP3_ARGS_MSG_LINES)
		return 1;
	if (cmd->argc == 0)
		return 1; /* LIST or UIDL of the whole maildrop */
	if (pop3_msgnum_parse(cmd->args[0], cmd->arg_lens[0], count,
			      &cmd->msg_idx) < 0) {
		*error_r = "No such message";
		return -1;
	}
	if (shape == POP3_ARGS_MSG_LINES &&
	    str_to_u64(cmd->args[1], cmd->arg_lens[1], INT64_MAX,
		       &cmd->lines) < 0) {
		*error_r = "Invalid number of lines";
		return -1;
	}
	/* RFC 1939 5: a command may not refer to a deleted message. */
	if (deleted[cmd->msg_idx]) {
		*error_r = "Message is deleted";
		return 0;
	}
	cmd->has_msg = true;
	return 1;
}

char *
pop3_capa_format(const struct pop3_capa_params *p)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (f == NULL)
		abort();
	fputs("+OK Capability list follows\r\n", f);
	fputs("TOP\r\n", f);
	if (p->user)
		fputs("USER\r\n", f);
	if (!p->transaction && p->mechs != NULL && p->mechs[0] != NULL) {
		fputs("SASL", f);
		for (unsigned i = 0; p->mechs[i] != NULL; i++)
			fprintf(f, " %s", p->mechs[i]);
		fputs("\r\n", f);
	}
	fputs("RESP-CODES\r\n", f);
	fputs("AUTH-RESP-CODE\r\n", f);
	fputs("PIPELINING\r\n", f);
	fputs("UIDL\r\n", f);
	if (p->stls)
		fputs("STLS\r\n", f);
	/* RFC 2449 6.7: one policy for every user, so the same value
	   before and after login (no "USER" suffix needed). */
	if (p->expire_days < 0)
		fputs("EXPIRE NEVER\r\n", f);
	else
		fprintf(f, "EXPIRE %d\r\n", p->expire_days);
	fputs("LOGIN-DELAY 0\r\n", f);
	if (p->implementation != NULL)
		fprintf(f, "IMPLEMENTATION %s\r\n", p->implementation);
	fputs(".\r\n", f);
	if (fclose(f) != 0 || buf == NULL)
		abort();
	return buf;
}

/* ---- dispatch ---------------------------------------------------------- */

void
pop3_command_run(struct pop3_session *session, const uint8_t *line,
		 size_t len)
{
	struct pop3_command cmd;
	const char *error;
	char *copy;
	int ret;

	/* A private NUL-terminated copy: the conn's line is only valid until
	   the next conn call, and the parser splits in place. */
	copy = pop3_xcalloc(len + 1, 1);
	memcpy(copy, line, len);

	switch (pop3_command_parse(copy, len, &cmd, &error)) {
	case POP3_PARSE_OK:
		break;
	case POP3_PARSE_UNKNOWN:
	case POP3_PARSE_ERROR:
		pop3_reply(session, "-ERR %s", error);
		pop3_session_bad_command(session);
		goto out;
	}
	if (!pop3_command_allowed(cmd.def, session->state)) {
		pop3_reply(session, "-ERR %s", session->state ==
			   POP3_STATE_AUTHORIZATION ?
			   "Not logged in" : "Already logged in");
		pop3_session_bad_command(session);
		goto out;
	}
	ret = pop3_command_check_args(&cmd, session->count, session->deleted,
				      &error);
	if (ret <= 0) {
		pop3_reply(session, "-ERR %s", error);
		if (ret < 0)
			pop3_session_bad_command(session);
		goto out;
	}
	cmd.def->handler(session, &cmd);
out:
	/* The line may have held a password (PASS, AUTH's initial
	   response). */
	explicit_bzero(copy, len);
	free(copy);
}

/* ---- commands of both states ------------------------------------------ */

static void
cmd_capa(struct pop3_session *session, const struct pop3_command *cmd)
{
	struct pop3_service *service = session->service;
	bool authz = session->state == POP3_STATE_AUTHORIZATION;
	struct pop3_capa_params params = {
		.transaction = !authz,
		.stls = authz && conn_can_starttls(session->conn),
		.user = !authz || pop3_session_plaintext_ok(session),
		.mechs = pop3_session_mechanisms(session),
		.expire_days = service->set.expire_days,
		.implementation = service->implementation,
	};
	char *text = pop3_capa_format(&params);

	conn_write_str(session->conn, text);
	free(text);
}

static void
expunge_marked(struct pop3_session *session)
{
	struct store_uid_range *ranges;
	unsigned n = 0, expunged = 0;
	const char *error;
	int ret;

	ranges = pop3_xcalloc(session->deleted_count,
			      sizeof(struct store_uid_range));
	/* The snapshot is in UID order, so neighbours merge into ranges. */
	for (unsigned i = 0; i < session->count; i++) {
		uint32_t uid = session->msgs[i].uid;

		if (!session->deleted[i])
			continue;
		if (n > 0 && ranges[n - 1].last + 1 == uid)
			ranges[n - 1].last = uid;
		else
			ranges[n++] = (struct store_uid_range){ uid, uid };
	}
	ret = store_expunge(session->user, session->mailbox_id, ranges, n,
			    &expunged, &error);
	free(ranges);
	if (ret <= 0) {
		log_error(&session->log, "QUIT: expunge failed: %s",
			  ret < 0 ? error : "INBOX is gone");
		/* RFC 1939 6: the -ERR says the removal did not happen;
		   the store's single transaction makes that true. */
		pop3_reply(session, "-ERR [SYS/TEMP] Deleting messages "
			   "failed, none were removed");
		conn_close_after_flush(session->conn, "QUIT, expunge failed");
		return;
	}
	session->expunged_count = expunged;
	/* Unlocked before the reply, so a client that reconnects as soon
	   as it reads it never meets its own [IN-USE]. */
	pop3_session_release_maildrop(session);
	pop3_reply(session, "+OK Logging out, %u messages deleted.",
		   expunged);
	conn_close_after_flush(session->conn, "QUIT");
}

static void
cmd_quit(struct pop3_session *session, const struct pop3_command *cmd)
{
	session->quit = true;
	if (session->state == POP3_STATE_TRANSACTION)
		pop3_session_commit_retrieved(session);
	if (session->state == POP3_STATE_TRANSACTION &&
	    session->deleted_count > 0) {
		/* RFC 1939 6: the UPDATE state. */
		expunge_marked(session);
		return;
	}
	pop3_session_release_maildrop(session);
	pop3_reply(session, "+OK Logging out.");
	conn_close_after_flush(session->conn, "QUIT");
}

static void
cmd_stls(struct pop3_session *session, const struct pop3_command *cmd)
{
	const char *error;

	if (conn_is_tls(session->conn)) {
		pop3_reply(session, "-ERR TLS is already active");
		return;
	}
	if (!conn_can_starttls(session->conn)) {
		pop3_reply(session, "-ERR STLS is not available");
		return;
	}
	pop3_reply(session, "+OK Begin TLS negotiation now.");
	if (conn_starttls(session->conn, &error) < 0) {
		log_error(&session->log, "STLS failed: %s", error);
		conn_close(session->conn, "STLS failed");
		return;
	}
	/* RFC 2595 4: forget what the client said before TLS. */
	free(session->pending_user);
	session->pending_user = NULL;
}

/* ---- TRANSACTION state ------------------------------------------------- */

static void
cmd_noop(struct pop3_session *session, const struct pop3_command *cmd)
{
	pop3_reply(session, "+OK");
}

static void
cmd_stat(struct pop3_session *session, const struct pop3_command *cmd)
{
	pop3_reply(session, "+OK %u %" PRIu64,
		   session->count - session->deleted_count,
		   session->total_size - session->deleted_size);
}

static void
cmd_list(struct pop3_session *session, const struct pop3_command *cmd)
{
	if (cmd->has_msg) {
		pop3_reply(session, "+OK %u %" PRIu64, cmd->msg_idx + 1,
			   session->msgs[cmd->msg_idx].size);
		return;
	}
	pop3_reply(session, "+OK %u messages (%" PRIu64 " octets)",
		   session->count - session->deleted_count,
		   session->total_size - session->deleted_size);
	pop3_session_stream_start(session, POP3_STREAM_LIST, 0, -1, 0, -1);
}

static void
cmd_uidl(struct pop3_session *session, const struct pop3_command *cmd)
{
	char uidl[STORE_UIDL_SIZE];

	if (cmd->has_msg) {
		store_uidl(session->uidvalidity,
			   session->msgs[cmd->msg_idx].uid, uidl);
		pop3_reply(session, "+OK %u %s", cmd->msg_idx + 1, uidl);
		return;
	}
	pop3_reply(session, "+OK");
	pop3_session_stream_start(session, POP3_STREAM_UIDL, 0, -1, 0, -1);
}

static void
send_message(struct pop3_session *session, unsigned idx, int64_t top_lines)
{
	const struct store_message *msg = &session->msgs[idx];
	const char *error;
	uint64_t size;
	int fd, ret;

	ret = store_blob_open(session->user, msg->blob_id, &fd, &size, &error);
	if (ret < 0) {
		log_error(&session->log, "opening message %u (uid %" PRIu32
			  ") failed: %s", idx + 1, msg->uid, error);
		pop3_reply(session, "-ERR [SYS/TEMP] Cannot read the message");
		return;
	}
	if (ret == 0) {
		/* Expunged meanwhile (IMAP, expiry); blobs are immutable,
		   so an open one would have stayed readable. */
		pop3_reply(session, "-ERR Message was removed meanwhile");
		return;
	}
	if (top_lines < 0) {
		pop3_reply(session, "+OK %" PRIu64 " octets", msg->size);
		pop3_session_stream_start(session, POP3_STREAM_RETR, idx, fd,
					  size, -1);
	} else {
		pop3_reply(session, "+OK");
		pop3_session_stream_start(session, POP3_STREAM_TOP, idx, fd,
					  size, top_lines);
	}
}

static void
cmd_retr(struct pop3_session *session, const struct pop3_command *cmd)
{
	send_message(session, cmd->msg_idx, -1);
}

static void
cmd_top(struct pop3_session *session, const struct pop3_command *cmd)
{
	send_message(session, cmd->msg_idx, (int64_t)cmd->lines);
}

static void
cmd_dele(struct pop3_session *session, const struct pop3_command *cmd)
{
	session->deleted[cmd->msg_idx] = true;
	session->deleted_count++;
	session->deleted_size += session->msgs[cmd->msg_idx].size;
	pop3_reply(session, "+OK Message %u deleted", cmd->msg_idx + 1);
}

static void
cmd_rset(struct pop3_session *session, const struct pop3_command *cmd)
{
	for (unsigned i = 0; i < session->count; i++)
		session->deleted[i] = false;
	session->deleted_count = 0;
	session->deleted_size = 0;
	pop3_reply(session, "+OK %u messages (%" PRIu64 " octets)",
		   session->count, session->total_size);
}
