/* The POP3 service and its sessions: connection callbacks, the input
   loop with pipelining, multi-line replies streamed as the output drains,
   login (IN-USE lock, maildrop snapshot) and delayed failure replies. */
#include "pop3/pop3-private.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/throttle.h"
#include "lib/limits.h"
#include "net/conn.h"
#include "net/worker.h"
#include "store/store.h"

/* Bytes of a message read from its file per step; the dot-stuffed output
   of one step is at most twice this. */
#define POP3_STREAM_CHUNK (32 * 1024)
/* The scheme of the unknown-user dummy: config.c's default_scheme. */
#define POP3_DUMMY_SCHEME "SHA512-CRYPT"
/* LIST/UIDL lines written per step before the output level is checked
   again. */
#define POP3_STREAM_LIST_STEP 256

/* ---- service ----------------------------------------------------------- */

struct pop3_service *
pop3_service_create(const struct pop3_settings *set)
{
	struct pop3_service *service = pop3_xcalloc(1, sizeof(*service));
	const char *error;

	assert(set->store != NULL && set->passdb != NULL);
	service->set = *set;
	if (set->implementation != NULL)
		service->implementation = pop3_xstrdup(set->implementation);
	service->set.implementation = service->implementation;
	if (gethostname(service->hostname, sizeof(service->hostname)) < 0 ||
	    service->hostname[0] == '\0')
		memcpy(service->hostname, "localhost", sizeof("localhost"));
	service->hostname[sizeof(service->hostname) - 1] = '\0';
	if (pthread_mutex_init(&service->inuse_lock, NULL) != 0)
		abort();
	if (password_generate(POP3_DUMMY_SCHEME, "no user has this password",
			      &service->dummy_password, &error) < 0) {
		static const struct log_ctx lctx = { .proto = "pop3" };

		log_error(&lctx, "making the dummy password failed: %s",
			  error);
		abort();
	}
	return service;
}

void
pop3_service_destroy(struct pop3_service **_service)
{
	struct pop3_service *service = *_service;

	if (service == NULL)
		return;
	*_service = NULL;
	for (unsigned i = 0; i < POP3_INUSE_BUCKETS; i++) {
		while (service->inuse[i] != NULL) {
			struct pop3_inuse *next = service->inuse[i]->next;

			free(service->inuse[i]);
			service->inuse[i] = next;
		}
	}
	pthread_mutex_destroy(&service->inuse_lock);
	free(service->dummy_password);
	free(service->implementation);
	free(service);
}

static unsigned
inuse_bucket(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % POP3_INUSE_BUCKETS;
}

/* RFC 2449 8.1.1 [IN-USE]: one TRANSACTION-state session per maildrop.
   Returns false if name already has one. */
static bool
inuse_take(struct pop3_service *service, const char *name)
{
	unsigned b = inuse_bucket(name);
	size_t len = strlen(name);
	struct pop3_inuse *e;
	bool taken = true;

	pthread_mutex_lock(&service->inuse_lock);
	for (e = service->inuse[b]; e != NULL; e = e->next) {
		if (strcmp(e->name, name) == 0) {
			taken = false;
			break;
		}
	}
	if (taken) {
		e = pop3_xcalloc(1, sizeof(*e) + len + 1);
		memcpy(e->name, name, len);
		e->next = service->inuse[b];
		service->inuse[b] = e;
	}
	pthread_mutex_unlock(&service->inuse_lock);
	return taken;
}

static void
inuse_release(struct pop3_service *service, const char *name)
{
	struct pop3_inuse **p, *e;

	pthread_mutex_lock(&service->inuse_lock);
	for (p = &service->inuse[inuse_bucket(name)]; *p != NULL;
	     p = &(*p)->next) {
		if (strcmp((*p)->name, name) == 0) {
			e = *p;
			*p = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&service->inuse_lock);
}

/* ---- replies and small helpers ---------------------------------------- */

void
pop3_reply(struct pop3_session *session, const char *fmt, ...)
{
	char buf[512];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, args);
	va_end(args);
	if (n < 0)
		abort();
	/* Our replies are short; a cut one still ends in CRLF. */
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	conn_write(session->conn, buf, (size_t)n);
}

void
pop3_session_bad_command(struct pop3_session *session)
{
	if (++session->bad_commands < PROTO_MAX_BAD_COMMANDS)
		return;
	log_info(&session->log, "too many bad commands, disconnecting");
	conn_close_after_flush(session->conn, "too many bad commands");
}

bool
pop3_session_plaintext_ok(struct pop3_session *session)
{
	if (conn_is_tls(session->conn))
		return true;
	switch (session->service->set.allow_plaintext) {
	case CONFIG_PLAINTEXT_NEVER:
		return false;
	case CONFIG_PLAINTEXT_LOOPBACK:
		return conn_is_local(session->conn);
	case CONFIG_PLAINTEXT_ALWAYS:
		return true;
	}
	return false;
}

const char *const *
pop3_session_mechanisms(struct pop3_session *session)
{
	return sasl_mechanisms(conn_is_tls(session->conn),
			       pop3_session_plaintext_ok(session));
}

void
pop3_session_sasl_end(struct pop3_session *session)
{
	pop3_sasl_free(&session->sasl);
	session->sasl_final = false;
}

/* ---- streaming multi-line replies ------------------------------------- */

static void
stream_free(struct pop3_session *session)
{
	struct pop3_stream *stream = session->stream;

	if (stream == NULL)
		return;
	session->stream = NULL;
	if (stream->fd >= 0)
		close(stream->fd);
	free(stream->inbuf);
	free(stream->outbuf);
	free(stream);
}

/* Writes the next LIST/UIDL lines. Returns true when the "." is queued. */
static bool
stream_list_more(struct pop3_session *session)
{
	struct pop3_stream *stream = session->stream;
	char uidl[STORE_UIDL_SIZE];

	for (unsigned n = 0; n < POP3_STREAM_LIST_STEP; ) {
		unsigned i = stream->msg_idx;
		const struct store_message *msg;

		if (i >= session->count) {
			conn_write(session->conn, ".\r\n", 3);
			return true;
		}
		stream->msg_idx++;
		if (session->deleted[i])
			continue;
		msg = &session->msgs[i];
		if (stream->kind == POP3_STREAM_LIST) {
			conn_printf(session->conn, "%u %" PRIu64 "\r\n", i + 1,
				    msg->size);
		} else {
			store_uidl(session->uidvalidity, msg->uid, uidl);
			conn_printf(session->conn, "%u %s\r\n", i + 1, uidl);
		}
		n++;
	}
	return false;
}

/* Reads, dot-stuffs and queues the next chunk of a RETR/TOP. Returns 1
   when the terminating "." is queued, 0 for more, -1 on a read error. */
static int
stream_message_more(struct pop3_session *session)
{
	struct pop3_stream *stream = session->stream;
	size_t want, out_len;
	ssize_t ret;

	if (stream->writer.stopped || stream->offset >= stream->size) {
		out_len = dot_writer_finish(&stream->writer, stream->outbuf);
		conn_write(session->conn, stream->outbuf, out_len);
		return 1;
	}
	want = stream->size - stream->offset < POP3_STREAM_CHUNK ?
		(size_t)(stream->size - stream->offset) : POP3_STREAM_CHUNK;
	do {
		ret = pread(stream->fd, stream->inbuf, want,
			    (off_t)stream->offset);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0) {
		log_error(&session->log, "reading message %u failed: %m",
			  stream->msg_idx + 1);
		return -1;
	}
	if (ret == 0) {
		log_error(&session->log, "reading message %u failed: the "
			  "file is shorter than its size", stream->msg_idx + 1);
		return -1;
	}
	stream->offset += (uint64_t)ret;
	out_len = dot_writer_feed(&stream->writer, stream->inbuf, (size_t)ret,
				  stream->outbuf);
	conn_write(session->conn, stream->outbuf, out_len);
	return 0;
}

static void
stream_finished(struct pop3_session *session)
{
	struct pop3_stream *stream = session->stream;
	switch (stream->kind) {
	case POP3_STREAM_RETR:
		session->retr_count++;
		session->retr_bytes += stream->size;
		/* Recorded at QUIT (see pop3_session_commit_retrieved). */
		if (!session->retrieved[stream->msg_idx]) {
			session->retrieved[stream->msg_idx] = true;
			session->retrieved_count++;
		}
		break;
	case POP3_STREAM_TOP:
		session->top_count++;
		break;
	case POP3_STREAM_LIST:
	case POP3_STREAM_UIDL:
		break;
	}
	stream_free(session);
}

/* Produces output until the stream is done or the output buffer is full
   (then output_drained calls again). */
static void
stream_continue(struct pop3_session *session, bool from_drained)
{
	struct conn *conn = session->conn;
	bool done = false;

	while (!done && !conn_is_closing(conn) &&
	       conn_output_pending(conn) < CONN_OUTPUT_HIGH_WATER) {
		switch (session->stream->kind) {
		case POP3_STREAM_LIST:
		case POP3_STREAM_UIDL:
			done = stream_list_more(session);
			break;
		case POP3_STREAM_RETR:
		case POP3_STREAM_TOP:
			switch (stream_message_more(session)) {
			case 1:
				done = true;
				break;
			case 0:
				break;
			default:
				/* Mid-reply: no -ERR possible any more. */
				conn_close(conn, "message read failed");
				return;
			}
			break;
		}
	}
	if (!done)
		return;
	stream_finished(session);
	session->pause &= ~POP3_PAUSE_STREAM;
	/* Pipelined commands may be buffered already: resume them. Called
	   from the input loop itself, that loop simply goes on. */
	if (from_drained)
		conn_input_kick(conn);
}

void
pop3_session_stream_start(struct pop3_session *session,
			  enum pop3_stream_kind kind, unsigned msg_idx,
			  int fd, uint64_t size, int64_t top_lines)
{
	struct pop3_stream *stream = pop3_xcalloc(1, sizeof(*stream));

	stream->kind = kind;
	stream->msg_idx = msg_idx;
	stream->fd = fd;
	stream->size = size;
	if (kind == POP3_STREAM_RETR || kind == POP3_STREAM_TOP) {
		dot_writer_init(&stream->writer, top_lines);
		stream->inbuf = pop3_xcalloc(POP3_STREAM_CHUNK, 1);
		/* dot_writer_feed writes at most twice its input. */
		stream->outbuf = pop3_xcalloc(2 * POP3_STREAM_CHUNK, 1);
	}
	session->stream = stream;
	session->pause |= POP3_PAUSE_STREAM;
	stream_continue(session, false);
}

/* ---- login ------------------------------------------------------------- */

static int
maildrop_open(struct pop3_session *session, const char **error_r)
{
	struct pop3_service *service = session->service;
	struct store_mailbox_info info;
	unsigned expunged;
	int ret;

	if (store_user_get(service->set.store, session->user_name,
			   &session->user, error_r) < 0)
		return -1;
	if (service->set.expire_days >= 0) {
		if (store_pop3_expire(session->user,
				      (unsigned)service->set.expire_days,
				      &expunged, error_r) < 0) {
			/* Expiry is housekeeping: the session goes on. */
			log_error(&session->log, "POP3 expiry failed: %s",
				  *error_r);
		} else if (expunged > 0) {
			log_info(&session->log, "expired %u messages",
				 expunged);
		}
	}

	/* INBOX and its messages as one snapshot. */
	store_user_lock(session->user);
	ret = store_mailbox_lookup(session->user, "INBOX", &info, error_r);
	if (ret > 0) {
		session->mailbox_id = info.id;
		session->uidvalidity = info.uidvalidity;
		store_mailbox_info_free(&info);
		ret = store_message_list(session->user, session->mailbox_id,
					 &session->msgs, &session->count,
					 error_r);
	}
	store_user_unlock(session->user);
	if (ret == 0)
		*error_r = "INBOX does not exist";
	if (ret <= 0)
		return -1;

	session->deleted = pop3_xcalloc(session->count, sizeof(bool));
	session->retrieved = pop3_xcalloc(session->count, sizeof(bool));
	for (unsigned i = 0; i < session->count; i++)
		session->total_size += session->msgs[i].size;
	return 0;
}

void
pop3_session_commit_retrieved(struct pop3_session *session)
{
	struct store_uid_range *ranges;
	unsigned n = 0;
	const char *error;

	if (session->retrieved_count == 0)
		return;
	ranges = pop3_xcalloc(session->retrieved_count, sizeof(*ranges));
	for (unsigned i = 0; i < session->count; i++) {
		uint32_t uid = session->msgs[i].uid;

		/* Messages about to be expunged need no mark. */
		if (!session->retrieved[i] || session->deleted[i])
			continue;
		if (n > 0 && ranges[n - 1].last + 1 == uid)
			ranges[n - 1].last = uid;
		else
			ranges[n++] = (struct store_uid_range){ uid, uid };
	}
	if (n > 0 &&
	    store_pop3_mark_retrieved(session->user, session->mailbox_id,
				      ranges, n, time(NULL), &error) < 0)
		log_error(&session->log, "marking retrieved messages seen "
			  "failed: %s", error);
	free(ranges);
}

static void
maildrop_close(struct pop3_session *session)
{
	if (session->inuse_held) {
		inuse_release(session->service, session->user_name);
		session->inuse_held = false;
	}
	store_user_unref(&session->user);
	free(session->msgs);
	session->msgs = NULL;
	free(session->deleted);
	session->deleted = NULL;
	free(session->retrieved);
	session->retrieved = NULL;
	session->retrieved_count = 0;
	session->count = session->deleted_count = 0;
	session->total_size = session->deleted_size = 0;
}

void
pop3_session_release_maildrop(struct pop3_session *session)
{
	maildrop_close(session);
}

void
pop3_session_login(struct pop3_session *session, const char *user_name,
		   const char *method)
{
	struct pop3_service *service = session->service;
	struct log_ctx lctx = session->log;
	const char *error;

	lctx.user = user_name;
	if (!inuse_take(service, user_name)) {
		log_info(&lctx, "login refused (%s): another POP3 session "
			 "holds the maildrop", method);
		pop3_reply(session, "-ERR [IN-USE] Mailbox is locked by "
			   "another POP3 session");
		return;
	}
	session->inuse_held = true;
	session->user_name = pop3_xstrdup(user_name);
	session->log.user = session->user_name;

	if (maildrop_open(session, &error) < 0) {
		log_error(&session->log, "login (%s): opening the maildrop "
			  "failed: %s", method, error);
		pop3_reply(session, "-ERR [SYS/TEMP] Cannot open the "
			   "mailbox, try again later");
		maildrop_close(session);
		session->log.user = NULL;
		free(session->user_name);
		session->user_name = NULL;
		return;
	}

	auth_throttle_success(session->user_name);
	free(session->pending_user);
	session->pending_user = NULL;
	session->state = POP3_STATE_TRANSACTION;
	conn_set_idle_timeout(session->conn, POP3_IDLE_TIMEOUT_SECS);
	log_info(&session->log, "login: method=%s, %s, %u messages "
		 "(%" PRIu64 " octets)", method,
		 conn_tls_describe(session->conn), session->count,
		 session->total_size);
	pop3_reply(session, "+OK Logged in.");
}

static void
login_failed_reply(struct pop3_session *session)
{
	/* RFC 3206 4: [AUTH] for bad credentials. */
	pop3_reply(session, "-ERR [AUTH] Authentication failed.");
	if (session->fail_close) {
		log_info(&session->log, "too many authentication failures, "
			 "disconnecting");
		conn_close_after_flush(session->conn,
				       "too many authentication failures");
	}
}

static void
fail_timer_callback(evutil_socket_t fd, short what, void *context)
{
	struct pop3_session *session = context;

	session->pause &= ~POP3_PAUSE_THROTTLE;
	login_failed_reply(session);
	conn_input_kick(session->conn);
}

void
pop3_session_login_failed(struct pop3_session *session, const char *user,
			  const char *method, const char *reason,
			  bool temporary)
{
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
		pop3_reply(session, "-ERR [SYS/TEMP] Temporary authentication "
			   "failure, try again later");
		return;
	}
	session->auth_failures++;
	log_info(&session->log, "login failed: method=%s, user=%s: %s "
		 "(failure %u)", method, safe_user, reason,
		 session->auth_failures);
	session->fail_close =
		session->auth_failures >= AUTH_MAX_FAILURES_PER_CONN;

	delay = auth_throttle_delay_ms(conn_get_peer(session->conn), user);
	if (delay == 0) {
		login_failed_reply(session);
		return;
	}
	/* The reply waits; so does everything the client sent after it
	   (input is not processed meanwhile), so guessing stays slow even
	   when pipelined. */
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
	session->pause |= POP3_PAUSE_THROTTLE;
	evtimer_add(session->fail_timer, &tv);
}

/* ---- connection callbacks ---------------------------------------------- */

static void
session_input(struct conn *conn, void *context)
{
	struct pop3_session *session = context;
	const uint8_t *line;
	size_t len, max_len;

	/* Pipelining (RFC 2449 6.6): buffered commands run in order, but
	   never while a reply is still being produced or delayed. */
	while (session->pause == 0 && !conn_is_closing(conn)) {
		max_len = session->sasl != NULL ? POP3_SASL_MAX_LINE :
			POP3_MAX_LINE;
		switch (conn_read_line(conn, max_len, &line, &len)) {
		case CONN_LINE_NONE:
			return;
		case CONN_LINE_TOO_LONG:
			if (session->sasl != NULL) {
				pop3_session_sasl_end(session);
				pop3_reply(session, "-ERR Authentication "
					   "response too long");
			} else {
				pop3_reply(session, "-ERR Line too long");
			}
			pop3_session_bad_command(session);
			break;
		case CONN_LINE_OK:
			if (session->sasl != NULL)
				pop3_auth_continue(session, line, len);
			else
				pop3_command_run(session, line, len);
			break;
		}
	}
}

static void
session_output_drained(struct conn *conn, void *context)
{
	struct pop3_session *session = context;

	if (session->stream != NULL)
		stream_continue(session, true);
}

static void
session_free(struct pop3_session *session)
{
	stream_free(session);
	if (session->fail_timer != NULL)
		event_free(session->fail_timer);
	pop3_session_sasl_end(session);
	maildrop_close(session);
	free(session->pending_user);
	free(session->user_name);
	free(session);
}

static void
session_closed(struct conn *conn, const char *reason, void *context)
{
	struct pop3_session *session = context;

	pop3_auth_session_closed(session);
	if (session->state == POP3_STATE_TRANSACTION) {
		log_info(&session->log, "logout: retr=%u/%" PRIu64 " dele=%u "
			 "top=%u, in=%" PRIu64 " out=%" PRIu64 " (%s)",
			 session->retr_count, session->retr_bytes,
			 session->expunged_count, session->top_count,
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
	/* POP3 has no way to say "bye" unasked; closing without QUIT
	   removes nothing (RFC 1939 6). */
	conn_close(conn, "server shutting down");
}

static void
session_tls_ready(struct conn *conn, void *context)
{
	struct pop3_session *session = context;

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
pop3_service_new_connection(struct conn *conn, void *context)
{
	struct pop3_service *service = context;
	struct pop3_session *session = pop3_xcalloc(1, sizeof(*session));
	unsigned long long seq;

	session->service = service;
	session->conn = conn;
	session->state = POP3_STATE_AUTHORIZATION;
	session->log.proto = "pop3";
	session->log.session = conn_get_id(conn);
	session->log.ip = conn_get_peer(conn);

	/* RFC 1939 7: the APOP timestamp must differ on every greeting. */
	seq = __atomic_add_fetch(&service->greeting_counter, 1,
				 __ATOMIC_RELAXED);
	snprintf(session->apop_timestamp, sizeof(session->apop_timestamp),
		 "<%ld.%llu.%lld@%.200s>", (long)getpid(), seq,
		 (long long)time(NULL), service->hostname);

	conn_set_callbacks(conn, &session_callbacks, session);
	conn_set_idle_timeout(conn, POP3_PREAUTH_TIMEOUT_SECS);
	log_debug(&session->log, "connect on %s", conn_get_service(conn));
	pop3_reply(session, "+OK quire ready %s", session->apop_timestamp);
}
