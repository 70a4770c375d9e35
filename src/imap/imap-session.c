/* The IMAP session: connection callbacks, the input loop that feeds the
   command parser, dispatch through the command table, replies, login and
   logout. Commands live in cmd-*.c. */
#include "imap/imap-session.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "auth/sasl.h"
#include "auth/throttle.h"
#include "imap/imap-commands.h"
#include "imap/imap-notify.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "net/conn.h"
#include "net/worker.h"
#include "store/store.h"

/* ---- helpers ----------------------------------------------------------- */

__thread struct imap_session *imap_session_running;

void *
imap_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

char *
imap_xstrdup(const char *str)
{
	char *p = strdup(str);

	if (p == NULL)
		abort();
	return p;
}

char *
imap_xstrndup(const void *data, size_t len)
{
	char *p = imap_xcalloc(len + 1, 1);

	if (len > 0)
		memcpy(p, data, len);
	return p;
}

/* ---- service ------------------------------------------------------------ */

struct imap_service *
imap_service_create(const struct imap_settings *set)
{
	struct imap_service *service = imap_xcalloc(1, sizeof(*service));

	service->set = *set;
	service->implementation = imap_xstrdup(set->implementation != NULL ?
					       set->implementation : "quire");
	service->set.implementation = service->implementation;
	service->admin_contact = set->admin_contact == NULL ? NULL :
				 imap_xstrdup(set->admin_contact);
	service->set.admin_contact = service->admin_contact;
	return service;
}

void
imap_service_destroy(struct imap_service **_service)
{
	struct imap_service *service = *_service;

	if (service == NULL)
		return;
	*_service = NULL;
	free(service->implementation);
	free(service->admin_contact);
	free(service);
}

/* ---- output ------------------------------------------------------------- */

void
imap_session_write(struct imap_session *session, const void *data, size_t len)
{
	conn_write(session->conn, data, len);
}

static void __attribute__((format(printf, 3, 0)))
session_vprintf(struct imap_session *session, const char *prefix,
		const char *fmt, va_list args)
{
	struct buf b;

	buf_init(&b, 0);
	if (prefix != NULL)
		buf_append_str(&b, prefix);
	buf_vappendf(&b, fmt, args);
	conn_write(session->conn, b.data, b.len);
	buf_free(&b);
}

void
imap_session_printf(struct imap_session *session, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	session_vprintf(session, NULL, fmt, args);
	va_end(args);
}

void
imap_session_untagged(struct imap_session *session, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	if (session->cork != NULL) {
		buf_append_str(session->cork, "* ");
		buf_vappendf(session->cork, fmt, args);
		buf_append(session->cork, "\r\n", 2);
		va_end(args);
		return;
	}
	session_vprintf(session, "* ", fmt, args);
	va_end(args);
	conn_write(session->conn, "\r\n", 2);
}

static void __attribute__((format(printf, 4, 0)))
cmd_vreply(struct imap_cmd *cmd, const char *status, bool sync,
	   const char *fmt, va_list args)
{
	struct imap_session *session = cmd->session;

	if (sync && session->state == IMAP_STATE_SELECTED) {
		/* RFC 9051 7.5.1: no EXPUNGE while answering FETCH, STORE or
		   SEARCH by sequence number. */
		bool allow = cmd->uid || cmd->def == NULL ||
			(cmd->def->flags & IMAP_CMD_USES_SEQS) == 0;
		imap_session_sync(session, allow);
	}
	conn_write_str(session->conn, cmd->tag);
	conn_write(session->conn, " ", 1);
	conn_write_str(session->conn, status);
	conn_write(session->conn, " ", 1);
	session_vprintf(session, NULL, fmt, args);
	conn_write(session->conn, "\r\n", 2);
}

void
imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	cmd_vreply(cmd, "OK", true, fmt, args);
	va_end(args);
	/* The limit is on bad commands in a row: a client that probes an
	   extension now and then is not a broken one. */
	cmd->session->bad_count = 0;
}

void
imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	cmd_vreply(cmd, "NO", true, fmt, args);
	va_end(args);
}

static void
session_bad_count(struct imap_session *session)
{
	if (++session->bad_count < PROTO_MAX_BAD_COMMANDS)
		return;
	log_info(&session->log, "too many bad commands, disconnecting");
	conn_write_str(session->conn, "* BYE Too many invalid commands\r\n");
	conn_close_after_flush(session->conn, "too many bad commands");
}

void
imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	cmd_vreply(cmd, "BAD", false, fmt, args);
	va_end(args);
	session_bad_count(cmd->session);
}

void
imap_cmd_fail(struct imap_cmd *cmd, const char *what, const char *error)
{
	log_error(&cmd->session->log, "%s %s: %s failed: %s", cmd->tag,
		  cmd->name, what, error);
	imap_cmd_no(cmd, "[SERVERBUG] Internal error occurred. Refer to "
		    "server log for more information.");
}

/* ---- capabilities ------------------------------------------------------ */

bool
imap_session_plaintext_ok(struct imap_session *session)
{
	switch (session->service->set.allow_plaintext) {
	case CONFIG_PLAINTEXT_ALWAYS:
		return true;
	case CONFIG_PLAINTEXT_LOOPBACK:
		return conn_is_tls(session->conn) ||
			conn_is_local(session->conn);
	case CONFIG_PLAINTEXT_NEVER:
		break;
	}
	return conn_is_tls(session->conn);
}

void
imap_session_capabilities(struct imap_session *session, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE "
		       "IDLE UNSELECT UIDPLUS MOVE CHILDREN NAMESPACE "
		       "SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE "
		       "UTF8=ACCEPT MULTIAPPEND BINARY CONDSTORE QRESYNC "
		       "ESEARCH SEARCHRES WITHIN");
	buf_append_str(out, " SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT "
		       "THREAD=REFERENCES");
	/* RFC 9208 quota, RFC 7889 APPENDLIMIT (the parser's literal cap) */
	buf_appendf(out, " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE "
		    "APPENDLIMIT=%llu", IMAP_DEFAULT_MAX_MESSAGE_SIZE);
	/* RFC 8474 object ids, RFC 8970 previews, RFC 8514 save dates. */
	buf_append_str(out, " OBJECTID PREVIEW SAVEDATE");
	/* RFC 5464 (cmd-metadata.c), RFC 6154 3 (cmd_create). */
	buf_append_str(out, " METADATA METADATA-SERVER CREATE-SPECIAL-USE");
	/* RFC 5465 (imap-notify.c). */
	buf_append_str(out, " NOTIFY");
	/* RFC 4978, RFC 8437: both only once logged in. */
	buf_append_str(out, session->state == IMAP_STATE_NOT_AUTH ? "" :
		       " COMPRESS=DEFLATE UNAUTHENTICATE");
	bool plain = imap_session_plaintext_ok(session);
	const char *const *mechs;

	if (session->state != IMAP_STATE_NOT_AUTH)
		return;
	mechs = sasl_mechanisms(plain, plain);

	for (unsigned i = 0; mechs[i] != NULL; i++)
		buf_appendf(out, " AUTH=%s", mechs[i]);
	if (conn_can_starttls(session->conn))
		buf_append_str(out, " STARTTLS");
	if (!plain)
		buf_append_str(out, " LOGINDISABLED");
}

/* ---- commands ----------------------------------------------------------- */

static void
cmd_free(struct imap_cmd **_cmd)
{
	struct imap_cmd *cmd = *_cmd;

	if (cmd == NULL)
		return;
	*_cmd = NULL;
	if (cmd->free_context != NULL && cmd->context != NULL)
		cmd->free_context(cmd->context);
	free(cmd->tag);
	free(cmd->name);
	free(cmd);
}

static void
session_bye_shutdown(struct imap_session *session)
{
	/* RFC 9051 7.1.5: BYE tells the client why the server closes. */
	conn_write_str(session->conn, "* BYE Server shutting down\r\n");
	conn_close_after_flush(session->conn, "server shutting down");
}

void
imap_session_cmd_finished(struct imap_session *session)
{
	cmd_free(&session->cmd);
	session->mid_reply = false;
	if (session->bye_pending) {
		session_bye_shutdown(session);
		return;
	}
	if (session->state == IMAP_STATE_LOGOUT) {
		conn_close_after_flush(session->conn, "logout");
	} else if (!conn_is_closing(session->conn)) {
		/* NOTIFY's changes held back while the command ran. */
		imap_notify_resume(session);
		conn_input_kick(session->conn);
	}
}

static bool
state_allows(const struct imap_session *session, unsigned int flags,
	     const char **error_r)
{
	switch (session->state) {
	case IMAP_STATE_NOT_AUTH:
		if ((flags & IMAP_CMD_NOAUTH) != 0)
			return true;
		*error_r = "Not authenticated.";
		return false;
	case IMAP_STATE_AUTH:
		if ((flags & IMAP_CMD_ONLY_NOAUTH) != 0) {
			*error_r = "Already authenticated.";
			return false;
		}
		if ((flags & (IMAP_CMD_AUTH | IMAP_CMD_NOAUTH)) != 0)
			return true;
		*error_r = "No mailbox selected.";
		return false;
	case IMAP_STATE_SELECTED:
		if ((flags & IMAP_CMD_ONLY_NOAUTH) != 0) {
			*error_r = "Already authenticated.";
			return false;
		}
		return true;
	case IMAP_STATE_LOGOUT:
		break;
	}
	*error_r = "Logging out.";
	return false;
}

/* Runs one parsed command (RFC 9051 6: "tag SP command"). */
static void
session_dispatch(struct imap_session *session, const struct imap_command *pc)
{
	const struct imap_command_def *def;
	struct imap_cmd *cmd = imap_xcalloc(1, sizeof(*cmd));
	const struct imap_arg *args = pc->args;
	unsigned int args_count = pc->args_count;
	const char *name = pc->name, *error;

	cmd->session = session;
	cmd->tag = imap_xstrdup(pc->tag);
	session->cmd = cmd;
	session->command_count++;

	if (strcasecmp(name, "UID") == 0) {
		if (args_count == 0 || !imap_arg_get_atom(&args[0], &name)) {
			cmd->name = imap_xstrdup("UID");
			imap_cmd_bad(cmd, "Missing command after UID.");
			goto finished;
		}
		cmd->uid = true;
		args++;
		args_count--;
	}
	cmd->name = imap_xstrdup(name);
	for (char *p = cmd->name; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	}
	def = imap_command_find(cmd->name);
	if (def == NULL || (cmd->uid && (def->flags & IMAP_CMD_UID) == 0)) {
		imap_cmd_bad(cmd, "Unknown command.");
		goto finished;
	}
	if (!state_allows(session, def->flags, &error)) {
		imap_cmd_bad(cmd, "%s", error);
		goto finished;
	}
	cmd->def = def;
	cmd->args = args;
	cmd->args_count = args_count;
	imap_session_running = session;
	bool done = def->func(cmd);
	imap_session_running = NULL;
	if (!done) {
		/* Goes on from resume / a timer; the args die with the next
		   feed. */
		cmd->args = NULL;
		cmd->args_count = 0;
		return;
	}
finished:
	imap_session_cmd_finished(session);
}

static void
session_parse_error(struct imap_session *session)
{
	const struct imap_parser_error *err =
		imap_parser_get_error(session->parser);
	const char *tag = err->tag != NULL ? err->tag : "*";

	/* An APPEND that broke after a literal saves nothing. */
	imap_append_abort(session);
	if (err->fatal) {
		conn_printf(session->conn, "* BYE %s\r\n", err->text);
		conn_close_after_flush(session->conn, "fatal command error");
		return;
	}
	if (err->kind == IMAP_PARSER_ERR_TOOBIG) {
		conn_printf(session->conn, "%s %s [TOOBIG] %s\r\n", tag,
			    err->nonsync ? "BAD" : "NO", err->text);
	} else {
		conn_printf(session->conn, "%s BAD %s\r\n", tag, err->text);
	}
	session_bad_count(session);
}

int
imap_session_read_line(struct imap_session *session, const char **line_r,
		       size_t *len_r, const char **error_r)
{
	struct evbuffer *input = conn_get_input(session->conn);
	struct evbuffer_iovec vec;
	size_t used;
	int ret;

	if (input == NULL)
		return 0;
	for (;;) {
		if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1) {
			vec.iov_base = NULL;
			vec.iov_len = 0;
		}
		ret = imap_parser_read_line(session->parser, vec.iov_base,
					    vec.iov_len, &used, line_r, len_r,
					    error_r);
		evbuffer_drain(input, used);
		if (ret != 0 || vec.iov_len == 0)
			return ret;
	}
}

/* Feeds what is buffered to the parser until a command, an error, or the
   end of the input. Returns false when nothing more can be done now. */
static bool
session_parse_one(struct imap_session *session)
{
	struct evbuffer *input = conn_get_input(session->conn);
	struct evbuffer_iovec vec;
	const struct imap_command *pc;
	const char *error;
	size_t used;
	enum imap_parse_result ret;

	if (input == NULL)
		return false;
	if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1) {
		vec.iov_base = NULL;
		vec.iov_len = 0;
	}
	ret = imap_parser_feed(session->parser, vec.iov_base, vec.iov_len,
			       &used, &pc, &error);
	evbuffer_drain(input, used);
	switch (ret) {
	case IMAP_PARSE_MORE:
		/* More chunks may be buffered. */
		return evbuffer_get_length(input) > 0;
	case IMAP_PARSE_ERROR:
		session_parse_error(session);
		return true;
	case IMAP_PARSE_LITERAL:
		conn_write_str(session->conn, "+ Ready for literal data\r\n");
		return true;
	case IMAP_PARSE_LITERAL_STREAM:
		imap_append_stream_begin(session, pc);
		return true;
	case IMAP_PARSE_DONE:
		session_dispatch(session, pc);
		return true;
	}
	return false;
}

static void
session_input(struct conn *conn, void *context)
{
	struct imap_session *session = context;

	while (!conn_is_closing(conn) && !session->input_paused) {
		if (session->append != NULL &&
		    imap_append_streaming(session)) {
			imap_session_running = session;
			bool more = imap_append_stream_input(session);
			imap_session_running = NULL;
			if (!more)
				break;
			continue;
		}
		if (session->cmd != NULL) {
			struct imap_cmd *cmd = session->cmd;

			imap_session_running = session;
			bool done = cmd->resume != NULL && cmd->resume(cmd);
			imap_session_running = NULL;
			if (!done)
				break;
			imap_session_cmd_finished(session);
			continue;
		}
		if (!session_parse_one(session))
			break;
	}
}

static void
session_output_drained(struct conn *conn, void *context)
{
	struct imap_session *session = context;
	struct imap_cmd *cmd = session->cmd;

	if (session->notify != NULL && !conn_is_closing(conn))
		imap_notify_resume(session);
	if (session->idling && !conn_is_closing(conn)) {
		/* Updates held back while the output was full. */
		imap_session_sync_held(session);
	}
	if (cmd != NULL && cmd->resume != NULL && !session->input_paused &&
	    !conn_is_closing(conn)) {
		if (cmd->resume(cmd)) {
			imap_session_cmd_finished(session);
		}
	}
}

/* ---- login -------------------------------------------------------------- */

static const struct {
	const char *name;
	enum store_special_use use;
} default_folders[] = {
	{ "Drafts", STORE_SPECIAL_DRAFTS },
	{ "Sent", STORE_SPECIAL_SENT },
	{ "Trash", STORE_SPECIAL_TRASH },
	{ "Junk", STORE_SPECIAL_JUNK },
	{ "Archive", STORE_SPECIAL_ARCHIVE },
};

/* At a user's first login: the RFC 6154 folders clients look for. */
static int
create_default_folders(struct imap_session *session, const char **error_r)
{
	struct store_mailbox_info info;
	bool created = false;
	int ret;

	for (size_t i = 0;
	     i < sizeof(default_folders) / sizeof(default_folders[0]); i++) {
		ret = store_mailbox_lookup(session->user,
					   default_folders[i].name, &info,
					   error_r);
		if (ret < 0)
			return -1;
		if (ret > 0) {
			store_mailbox_info_free(&info);
			continue;
		}
		if (store_mailbox_create(session->user,
					 default_folders[i].name,
					 default_folders[i].use, NULL,
					 error_r) < 0)
			return -1;
		(void)store_mailbox_subscribe(session->user,
					      default_folders[i].name, true,
					      error_r);
		created = true;
	}
	/* Once, with the folders: later logins write nothing. */
	if (created)
		(void)store_mailbox_subscribe(session->user, "INBOX", true,
					      error_r);
	return 0;
}

bool
imap_session_login(struct imap_cmd *cmd, const char *user_name,
		   const char *method)
{
	struct imap_session *session = cmd->session;
	const char *error;
	struct buf caps;

	session->user_name = imap_xstrdup(user_name);
	session->log.user = session->user_name;
	if (store_user_get(session->service->set.store, user_name,
			   &session->user, &error) < 0 ||
	    create_default_folders(session, &error) < 0) {
		log_error(&session->log, "login (%s): opening the mailstore "
			  "failed: %s", method, error);
		imap_cmd_no(cmd, "[UNAVAILABLE] Cannot open the mailbox, try "
			    "again later");
		store_user_unref(&session->user);
		session->log.user = NULL;
		free(session->user_name);
		session->user_name = NULL;
		return false;
	}
	imap_quota_login(session);
	auth_throttle_success(session->user_name);
	session->state = IMAP_STATE_AUTH;
	imap_parser_set_authenticated(session->parser, true);
	conn_set_idle_timeout(session->conn, IMAP_IDLE_TIMEOUT_SECS);
	log_info(&session->log, "login: method=%s, %s", method,
		 conn_tls_describe(session->conn));
	buf_init(&caps, 0);
	imap_session_capabilities(session, &caps);
	imap_cmd_ok(cmd, "[CAPABILITY %s] Logged in", buf_cstr(&caps));
	buf_free(&caps);
	return true;
}

static void
login_failed_reply(struct imap_session *session, struct imap_cmd *cmd)
{
	imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] Authentication failed.");
	if (session->fail_close) {
		log_info(&session->log, "too many authentication failures, "
			 "disconnecting");
		conn_write_str(session->conn, "* BYE Too many authentication "
			       "failures\r\n");
		conn_close_after_flush(session->conn,
				       "too many authentication failures");
	}
}

static void
fail_timer_callback(evutil_socket_t fd, short what, void *context)
{
	struct imap_session *session = context;

	session->input_paused = false;
	if (session->cmd != NULL) {
		login_failed_reply(session, session->cmd);
		imap_session_cmd_finished(session);
	}
}

bool
imap_session_login_failed(struct imap_cmd *cmd, const char *user,
			  const char *method, const char *reason,
			  bool temporary)
{
	struct imap_session *session = cmd->session;
	char safe_user[AUTH_MAX_USERNAME + 4];
	struct timeval tv;
	unsigned delay;

	if (user != NULL)
		log_sanitize(user, strlen(user), safe_user, sizeof(safe_user));
	else
		memcpy(safe_user, "-", 2);
	if (temporary) {
		log_warn(&session->log, "login failed: method=%s, user=%s: "
			 "%s (temporary)", method, safe_user, reason);
		imap_cmd_no(cmd, "[UNAVAILABLE] Temporary authentication "
			    "failure, try again later");
		return true;
	}
	session->auth_failures++;
	log_info(&session->log, "login failed: method=%s, user=%s: %s "
		 "(failure %u)", method, safe_user, reason,
		 session->auth_failures);
	session->fail_close =
		session->auth_failures >= AUTH_MAX_FAILURES_PER_CONN;
	delay = auth_throttle_delay_ms(conn_get_peer(session->conn), user);
	if (delay == 0) {
		login_failed_reply(session, cmd);
		return true;
	}
	/* The reply waits, and so does whatever the client pipelined after
	   it: guessing stays slow. */
	if (session->fail_timer == NULL) {
		struct worker *worker = conn_get_worker(session->conn);

		session->fail_timer = evtimer_new(worker_get_base(worker),
						  fail_timer_callback,
						  session);
		if (session->fail_timer == NULL)
			abort();
	}
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	session->input_paused = true;
	evtimer_add(session->fail_timer, &tv);
	return false;
}

void
imap_session_unauthenticate(struct imap_session *session)
{
	/* RFC 8437 3: the mailbox closes without expunging (the watch and
	   the wake go with it), and all that belongs to the user goes:
	   keywords, ENABLEd extensions, the store reference. What belongs
	   to the connection stays: TLS, COMPRESS, the failure count.
	   NOTIFY watches the user's mailboxes: it goes first. */
	imap_notify_destroy(session);
	imap_session_unselect(session);
	store_keywords_free(&session->keywords, session->keyword_count);
	session->keyword_count = 0;
	session->flags_announced = 0;
	session->enabled_rev2 = false;
	session->enabled_utf8 = false;
	session->enabled_condstore = false;
	session->enabled_qresync = false;
	session->expunge_modseq = 0;
	session->silent_modseq = 0;
	sasl_server_destroy(&session->sasl);
	free(session->sasl_tag);
	session->sasl_tag = NULL;
	log_info(&session->log, "unauthenticate: commands=%u",
		 session->command_count);
	store_user_unref(&session->user);
	session->log.user = NULL;
	free(session->user_name);
	session->user_name = NULL;
	session->state = IMAP_STATE_NOT_AUTH;
	imap_parser_set_authenticated(session->parser, false);
	conn_set_idle_timeout(session->conn, IMAP_PREAUTH_TIMEOUT_SECS);
}

/* ---- connection callbacks ---------------------------------------------- */

static void
session_free(struct imap_session *session)
{
	/* A MULTIAPPEND cut off by a disconnect is undone too. */
	imap_append_abort(session);
	cmd_free(&session->cmd);
	if (session->fail_timer != NULL)
		event_free(session->fail_timer);
	imap_auth_session_closed(session);
	sasl_server_destroy(&session->sasl);
	free(session->sasl_tag);
	imap_notify_destroy(session);
	imap_session_unselect(session);
	store_keywords_free(&session->keywords, session->keyword_count);
	store_user_unref(&session->user);
	imap_parser_destroy(&session->parser);
	free(session->user_name);
	free(session);
}

static void
session_closed(struct conn *conn, const char *reason, void *context)
{
	struct imap_session *session = context;

	if (session->user != NULL) {
		log_info(&session->log, "logout: commands=%u, in=%" PRIu64
			 " out=%" PRIu64 " (%s)", session->command_count,
			 conn_get_bytes_in(conn), conn_get_bytes_out(conn),
			 reason);
	} else {
		log_info(&session->log, "disconnected before login: in=%"
			 PRIu64 " out=%" PRIu64 " (%s)",
			 conn_get_bytes_in(conn), conn_get_bytes_out(conn),
			 reason);
	}
	session_free(session);
}

static void
session_shutdown(struct conn *conn, void *context)
{
	struct imap_session *session = context;

	/* A response being streamed is finished first, so the BYE does not
	   land inside a literal. */
	if (session->mid_reply)
		session->bye_pending = true;
	else
		session_bye_shutdown(session);
}

static void
session_tls_ready(struct conn *conn, void *context)
{
	struct imap_session *session = context;

	log_debug(&session->log, "TLS: %s", conn_tls_describe(conn));
}

static const struct conn_callbacks session_callbacks = {
	.input = session_input,
	.output_drained = session_output_drained,
	.closed = session_closed,
	.shutdown = session_shutdown,
	.tls_ready = session_tls_ready,
};

void
imap_service_new_connection(struct conn *conn, void *context)
{
	struct imap_service *service = context;
	struct imap_session *session = imap_xcalloc(1, sizeof(*session));
	struct buf caps;

	session->service = service;
	session->conn = conn;
	session->state = IMAP_STATE_NOT_AUTH;
	session->parser = imap_parser_create(NULL);
	session->log.proto = "imap";
	session->log.session = conn_get_id(conn);
	session->log.ip = conn_get_peer(conn);

	conn_set_callbacks(conn, &session_callbacks, session);
	conn_set_idle_timeout(conn, IMAP_PREAUTH_TIMEOUT_SECS);
	log_debug(&session->log, "connect on %s", conn_get_service(conn));
	buf_init(&caps, 0);
	imap_session_capabilities(session, &caps);
	conn_printf(conn, "* OK [CAPABILITY %s] quire ready\r\n",
		    buf_cstr(&caps));
	buf_free(&caps);
}
