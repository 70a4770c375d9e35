#include "lmtp/lmtp.h"
#include "lib/xalloc.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/passdb.h"
#include "lib/dotstuff.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lmtp/deliver.h"
#include "store/store.h"
#include "lmtp/lmtp-parse.h"
#include "net/conn.h"

/* Input bytes handed to the dot reader at once during DATA. */
#define LMTP_DATA_CHUNK (32 * 1024)
/* Input buffered during DATA before reading pauses: big reads, few
   wakeups, still bounded. */
#define LMTP_DATA_INPUT_LIMIT (128 * 1024)

struct lmtp_service {
	struct store *store;
	struct passdb *passdb;
	char *spool_dir;
	char *hostname;
	uint64_t max_message_size;
	struct store_quota quota_defaults;
	unsigned sessions; /* atomic */
};

struct lmtp_rcpt {
	struct lmtp_address address;
	char *user; /* the passdb's name for the recipient */
};

enum lmtp_state {
	LMTP_STATE_COMMAND,
	LMTP_STATE_DATA,	/* reading DATA up to the final dot */
	LMTP_STATE_BDAT,	/* reading the bytes of one BDAT chunk */
};

struct lmtp_session {
	struct lmtp_service *service;
	struct conn *conn;
	struct log_ctx log;

	enum lmtp_state state;
	bool lhlo_done;
	bool shutting_down;   /* shutdown callback came during DATA */
	bool output_blocked;  /* waiting for output_drained */
	unsigned bad_commands;
	unsigned txn_count;   /* finished DATA phases, for queue ids */
	unsigned delivered;   /* copies saved over the session */

	/* the transaction */
	bool have_mail;
	struct lmtp_address mail_from;
	struct lmtp_mail_params mail_params;
	struct lmtp_rcpt *rcpts;
	unsigned rcpt_count, rcpt_alloc;

	/* DATA and BDAT */
	struct dot_reader dot;
	struct spool *spool;	/* non-NULL while a message is received */
	/* Instead of the spool, for a transaction with one recipient: that
	   recipient's copy, written as the message arrives. */
	struct deliver_stream *stream;
	size_t stream_prefix_len;
	/* The last message's spool, emptied and kept for the next one:
	   creating a file per message was a quarter of delivery's CPU. */
	struct spool *idle_spool;
	uint8_t *data_buf; /* 2 * LMTP_DATA_CHUNK + 2 */
	uint64_t data_size;
	bool data_too_big;
	bool data_line_too_long;
	bool spool_failed;
	bool spool_nospace;
	char *spool_error;
	struct timespec data_start;

	/* BDAT (RFC 3030) */
	bool bdat_active;	/* a BDAT started this transaction */
	struct crlf_converter crlf;
	uint64_t bdat_size;	 /* the current chunk's size */
	uint64_t bdat_remaining; /* bytes of it still to read */
	bool bdat_last;
	const char *bdat_error;	/* reply after a refused chunk is read */
};

static long
msecs_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000 +
		(now.tv_nsec - start->tv_nsec) / 1000000;
}

/* ---- service ----------------------------------------------------------- */

struct lmtp_service *
lmtp_service_create(const struct lmtp_settings *set)
{
	struct lmtp_service *service = xmalloc(sizeof(*service));

	service->store = set->store;
	service->passdb = set->passdb;
	service->spool_dir = xstrdup(set->spool_dir);
	service->hostname = xstrdup(set->hostname != NULL ? set->hostname :
				    "localhost");
	service->max_message_size = set->max_message_size != 0 ?
		set->max_message_size : LMTP_DEFAULT_MAX_MESSAGE_SIZE;
	service->quota_defaults.storage = set->quota_storage;
	service->quota_defaults.messages = set->quota_messages;
	service->sessions = 0;
	return service;
}

void
lmtp_service_destroy(struct lmtp_service **_service)
{
	struct lmtp_service *service = *_service;

	if (service == NULL)
		return;
	*_service = NULL;
	free(service->spool_dir);
	free(service->hostname);
	free(service);
}

unsigned
lmtp_service_session_count(struct lmtp_service *service)
{
	return __atomic_load_n(&service->sessions, __ATOMIC_RELAXED);
}

/* ---- replies ----------------------------------------------------------- */

static void
__attribute__((format(printf, 2, 3)))
session_reply(struct lmtp_session *s, const char *fmt, ...)
{
	char buf[LMTP_MAX_LINE + 512];
	va_list args;
	int len;

	va_start(args, fmt);
	len = vsnprintf(buf, sizeof(buf) - 2, fmt, args);
	va_end(args);
	if (len < 0)
		len = 0;
	if ((size_t)len > sizeof(buf) - 3)
		len = (int)(sizeof(buf) - 3);
	buf[len++] = '\r';
	buf[len++] = '\n';
	conn_write(s->conn, buf, (size_t)len);
}

/* Counts a bad command; past the limit the client is told and dropped.
   Returns false if the session is closing. */
static bool
session_bad_command(struct lmtp_session *s)
{
	if (++s->bad_commands < PROTO_MAX_BAD_COMMANDS)
		return true;
	session_reply(s, "421 4.7.0 %s Too many errors, closing connection",
		      s->service->hostname);
	conn_close_after_flush(s->conn, "too many bad commands");
	return false;
}

/* ---- transaction ------------------------------------------------------- */

static void
session_data_free(struct lmtp_session *s)
{
	const char *error;

	if (s->spool != NULL && s->idle_spool == NULL &&
	    spool_reset(s->spool, &error) == 0) {
		s->idle_spool = s->spool;
		s->spool = NULL;
	}
	spool_destroy(&s->spool);
	deliver_stream_abort(&s->stream);
	free(s->data_buf);
	s->data_buf = NULL;
	free(s->spool_error);
	s->spool_error = NULL;
	s->data_size = 0;
	s->data_too_big = false;
	s->data_line_too_long = false;
	s->spool_failed = false;
	s->spool_nospace = false;
	s->bdat_active = false;
	s->bdat_remaining = 0;
	s->bdat_last = false;
	s->bdat_error = NULL;
}

static void
session_txn_reset(struct lmtp_session *s)
{
	unsigned i;

	for (i = 0; i < s->rcpt_count; i++) {
		lmtp_address_free(&s->rcpts[i].address);
		free(s->rcpts[i].user);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->rcpt_count = s->rcpt_alloc = 0;
	lmtp_address_free(&s->mail_from);
	memset(&s->mail_params, 0, sizeof(s->mail_params));
	s->have_mail = false;
	session_data_free(s);
	if (s->state != LMTP_STATE_COMMAND) {
		s->state = LMTP_STATE_COMMAND;
		conn_set_input_limit(s->conn, CONN_INPUT_HIGH_WATER);
	}
}

/* Looks name up; 1 with *user_r (malloc'ed, the passdb's spelling), 0 not
   found, -1 passdb error. */
static int
rcpt_try_user(struct lmtp_session *s, const char *name, char **user_r,
	      const char **error_r)
{
	struct passdb_user *pu;
	int ret;

	ret = passdb_lookup(s->service->passdb, name, &pu, error_r);
	if (ret <= 0)
		return ret;
	*user_r = xstrdup(pu->name);
	passdb_user_free(&pu);
	return 1;
}

/* Finds the user a recipient names: the whole address first (virtual
   users named user@domain), then the local part; with a "+detail" the
   same two without it (the mail goes to INBOX). */
static int
rcpt_find_user(struct lmtp_session *s, const struct lmtp_address *addr,
	       char **user_r, const char **error_r)
{
	const char *local = addr->local;
	const char *plus = strchr(local, '+');
	size_t base_len = plus != NULL ? (size_t)(plus - local) : 0;
	char *name;
	size_t size;
	int ret, pass;

	for (pass = 0; pass < 2; pass++) {
		size_t local_len = pass == 0 ? strlen(local) : base_len;

		if (pass == 1 && base_len == 0)
			break;
		if (addr->domain != NULL) {
			size = local_len + 1 + strlen(addr->domain) + 1;
			name = xmalloc(size);
			snprintf(name, size, "%.*s@%s", (int)local_len, local,
				 addr->domain);
			ret = rcpt_try_user(s, name, user_r, error_r);
			free(name);
			if (ret != 0)
				return ret;
		}
		name = xmalloc(local_len + 1);
		memcpy(name, local, local_len);
		name[local_len] = '\0';
		ret = rcpt_try_user(s, name, user_r, error_r);
		free(name);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* ---- commands ---------------------------------------------------------- */

static void
cmd_lhlo(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	if (len == 0) {
		session_reply(s, "501 5.5.4 Syntax: LHLO hostname");
		(void)session_bad_command(s);
		return;
	}
	/* LHLO resets the transaction like EHLO (RFC 5321 4.1.4) */
	session_txn_reset(s);
	s->lhlo_done = true;
	session_reply(s, "250-%s", s->service->hostname);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-ENHANCEDSTATUSCODES");
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-CHUNKING");
	session_reply(s, "250 SIZE %llu",
		      (unsigned long long)s->service->max_message_size);
}

static void
cmd_mail(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	const char *reply;

	if (!s->lhlo_done) {
		session_reply(s, "503 5.5.1 Send LHLO first");
		(void)session_bad_command(s);
		return;
	}
	if (s->have_mail) {
		session_reply(s, "503 5.5.1 Sender already given");
		(void)session_bad_command(s);
		return;
	}
	if (lmtp_parse_mail(args, len, s->service->max_message_size,
			    &s->mail_from, &s->mail_params, &reply) < 0) {
		session_reply(s, "%s", reply);
		(void)session_bad_command(s);
		return;
	}
	s->have_mail = true;
	session_reply(s, "250 2.1.0 Sender OK");
}

static void
cmd_rcpt(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	struct lmtp_address addr;
	struct lmtp_rcpt *rcpt;
	const char *reply, *error;
	char *user = NULL;
	int ret;

	if (!s->have_mail) {
		session_reply(s, "503 5.5.1 Send MAIL first");
		(void)session_bad_command(s);
		return;
	}
	if (s->bdat_active) {
		/* RFC 3030 2: the chunks come after all MAIL and RCPT
		   replies; the message being received has its
		   recipients. */
		session_reply(s, "503 5.5.1 RCPT not allowed after BDAT");
		(void)session_bad_command(s);
		return;
	}
	if (lmtp_parse_rcpt(args, len, &addr, &reply) < 0) {
		session_reply(s, "%s", reply);
		(void)session_bad_command(s);
		return;
	}
	if (s->rcpt_count >= LMTP_MAX_RECIPIENTS) {
		session_reply(s, "452 4.5.3 Too many recipients");
		lmtp_address_free(&addr);
		return;
	}
	ret = rcpt_find_user(s, &addr, &user, &error);
	if (ret < 0) {
		log_error(&s->log, "recipient <%s>: %s", addr.addr, error);
		session_reply(s, "451 4.3.0 <%s> Temporary user lookup failure",
			      addr.addr);
		lmtp_address_free(&addr);
		return;
	}
	if (ret == 0) {
		session_reply(s, "550 5.1.1 <%s> User unknown", addr.addr);
		lmtp_address_free(&addr);
		return;
	}
	if (s->rcpt_count == s->rcpt_alloc) {
		unsigned n = s->rcpt_alloc == 0 ? 4 : s->rcpt_alloc * 2;
		void *p = realloc(s->rcpts, n * sizeof(*s->rcpts));

		if (p == NULL)
			abort();
		s->rcpts = p;
		s->rcpt_alloc = n;
	}
	rcpt = &s->rcpts[s->rcpt_count++];
	rcpt->address = addr;
	rcpt->user = user;
	session_reply(s, "250 2.1.5 <%s> Recipient OK", addr.addr);
}

/* The header lines the recipient's copy starts with. The path parser
   let only printable ASCII through, and the line cap bounds its length,
   so this cannot fail. */
static char *
session_prefix(struct lmtp_session *s, const struct lmtp_rcpt *rcpt,
	       size_t *len_r)
{
	char *prefix = deliver_prefix(s->mail_from.addr, rcpt->address.addr,
				      len_r);

	if (prefix == NULL)
		abort();
	return prefix;
}

/* Begins the only recipient's copy. False when it cannot begin now (the
   user went, a store error, over quota): then the message is spooled
   and the delivery after the final dot gives the answer, as for several
   recipients. */
static bool
session_stream_begin(struct lmtp_session *s)
{
	struct lmtp_service *service = s->service;
	const char *error;
	char *prefix;
	int ret;

	prefix = session_prefix(s, &s->rcpts[0], &s->stream_prefix_len);
	ret = deliver_stream_begin(service->store, service->passdb,
				   &service->quota_defaults, s->rcpts[0].user,
				   NULL, prefix, s->stream_prefix_len,
				   s->mail_params.size_given ?
					   s->mail_params.size : 0,
				   &s->stream, &error);
	free(prefix);
	return ret == 1;
}

/* Sets up receiving a message (DATA or the first BDAT): the spool and
   the buffers. Returns false with *error_r (logged) if the spool cannot
   be created. */
static bool
session_message_begin(struct lmtp_session *s, const char **error_r)
{
	if (s->rcpt_count == 1 && session_stream_begin(s)) {
		/* no spool: the copy is written as it arrives */
	} else if (s->idle_spool != NULL) {
		s->spool = s->idle_spool;
		s->idle_spool = NULL;
	} else if (spool_create(s->service->spool_dir, &s->spool,
				error_r) < 0) {
		log_error(&s->log, "%s", *error_r);
		return false;
	}
	s->data_buf = xmalloc(LMTP_DATA_CHUNK * 2 + 2);
	dot_reader_init(&s->dot);
	crlf_converter_init(&s->crlf);
	clock_gettime(CLOCK_MONOTONIC, &s->data_start);
	return true;
}

static void
cmd_data(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	const char *error;

	if (len != 0) {
		session_reply(s, "501 5.5.4 Syntax: DATA");
		(void)session_bad_command(s);
		return;
	}
	if (!s->have_mail) {
		session_reply(s, "503 5.5.1 Send MAIL first");
		(void)session_bad_command(s);
		return;
	}
	if (s->rcpt_count == 0) {
		session_reply(s, "503 5.5.1 No valid recipients");
		(void)session_bad_command(s);
		return;
	}
	if (s->bdat_active) {
		/* RFC 3030 2: not both in one transaction */
		session_reply(s, "503 5.5.1 DATA not allowed after BDAT");
		(void)session_bad_command(s);
		return;
	}
	if (!session_message_begin(s, &error)) {
		session_reply(s, "%s Temporary failure, try again later",
			      deliver_error_is_nospace(error) ?
			      "452 4.3.1" : "451 4.3.0");
		session_txn_reset(s);
		return;
	}
	s->state = LMTP_STATE_DATA;
	conn_set_input_limit(s->conn, LMTP_DATA_INPUT_LIMIT);
	session_reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

static void
cmd_bdat(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	const char *reply, *error;
	uint64_t size;
	bool last;

	if (lmtp_parse_bdat(args, len, &size, &last, &reply) < 0) {
		/* Without a size the chunk's bytes cannot be told from
		   commands: reading them as commands would be worse. */
		session_reply(s, "%s", reply);
		conn_close_after_flush(s->conn, "BDAT syntax error");
		return;
	}
	s->bdat_size = size;
	s->bdat_remaining = size;
	s->bdat_last = last;
	s->bdat_error = NULL;
	/* A refused chunk is still read and dropped (RFC 3030 2), so its
	   bytes are not taken for commands. */
	if (!s->have_mail) {
		s->bdat_error = "503 5.5.1 Send MAIL first";
	} else if (s->rcpt_count == 0) {
		s->bdat_error = "503 5.5.1 No valid recipients";
	} else if (!s->bdat_active) {
		if (!session_message_begin(s, &error)) {
			s->bdat_error = deliver_error_is_nospace(error) ?
				"452 4.3.1 Temporary failure, try again later" :
				"451 4.3.0 Temporary failure, try again later";
		} else {
			s->bdat_active = true;
		}
	}
	if (s->bdat_error == NULL && s->data_buf == NULL)
		s->data_buf = xmalloc(LMTP_DATA_CHUNK * 2 + 2);
	s->state = LMTP_STATE_BDAT;
	conn_set_input_limit(s->conn, LMTP_DATA_INPUT_LIMIT);
}

static void
cmd_rset(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	session_txn_reset(s);
	session_reply(s, "250 2.0.0 OK");
}

static void
cmd_noop(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	session_reply(s, "250 2.0.0 OK");
}

static void
cmd_quit(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	session_reply(s, "221 2.0.0 %s closing connection",
		      s->service->hostname);
	conn_close_after_flush(s->conn, "QUIT");
}

static void
cmd_vrfy(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	/* RFC 5321 3.5.3: 252 when we will not verify */
	session_reply(s, "252 2.0.0 Cannot VRFY user, but will accept "
		      "message and attempt delivery");
}

static void
cmd_help(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	session_reply(s, "214 2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET "
		      "NOOP QUIT VRFY HELP");
}

static void
cmd_helo(struct lmtp_session *s, const uint8_t *args, size_t len)
{
	/* RFC 2033 4.1: HELO and EHLO are not LMTP */
	session_reply(s, "500 5.5.1 This is LMTP: use LHLO");
	(void)session_bad_command(s);
}

static const struct {
	enum lmtp_cmd cmd;
	void (*handler)(struct lmtp_session *s, const uint8_t *args,
			size_t len);
} lmtp_commands[] = {
	{ LMTP_CMD_LHLO, cmd_lhlo },
	{ LMTP_CMD_HELO, cmd_helo },
	{ LMTP_CMD_EHLO, cmd_helo },
	{ LMTP_CMD_MAIL, cmd_mail },
	{ LMTP_CMD_RCPT, cmd_rcpt },
	{ LMTP_CMD_DATA, cmd_data },
	{ LMTP_CMD_RSET, cmd_rset },
	{ LMTP_CMD_NOOP, cmd_noop },
	{ LMTP_CMD_QUIT, cmd_quit },
	{ LMTP_CMD_VRFY, cmd_vrfy },
	{ LMTP_CMD_HELP, cmd_help },
	{ LMTP_CMD_BDAT, cmd_bdat },
};

static void
session_command(struct lmtp_session *s, const uint8_t *line, size_t len)
{
	const uint8_t *args;
	size_t args_len, i;
	enum lmtp_cmd cmd;

	cmd = lmtp_parse_verb(line, len, &args, &args_len);
	for (i = 0; i < sizeof(lmtp_commands) / sizeof(lmtp_commands[0]);
	     i++) {
		if (lmtp_commands[i].cmd == cmd) {
			lmtp_commands[i].handler(s, args, args_len);
			return;
		}
	}
	session_reply(s, "500 5.5.1 Unknown command");
	(void)session_bad_command(s);
}

/* ---- DATA -------------------------------------------------------------- */

static void
session_spool_failed(struct lmtp_session *s, const char *error)
{
	log_error(&s->log, "%s", error);
	s->spool_failed = true;
	s->spool_nospace = deliver_error_is_nospace(error);
	s->spool_error = xstrdup(error);
	spool_destroy(&s->spool);
}

/* Handles what the dot reader produced: into the spool, or counted and
   dropped once the message is refused anyway. */
static void
session_data_output(struct lmtp_session *s, const uint8_t *data, size_t len)
{
	const char *error;
	uint64_t max = s->service->max_message_size;

	if (len > max || s->data_size > max - len) {
		if (!s->data_too_big) {
			spool_destroy(&s->spool);
			deliver_stream_abort(&s->stream);
		}
		s->data_too_big = true;
	}
	if (s->data_size <= UINT64_MAX - len)
		s->data_size += len;
	if (!s->data_line_too_long &&
	    (s->dot.line_len > LMTP_MAX_DATA_LINE ||
	     s->dot.max_line > LMTP_MAX_DATA_LINE)) {
		s->data_line_too_long = true;
		spool_destroy(&s->spool);
		deliver_stream_abort(&s->stream);
	}
	if (s->stream != NULL) {
		deliver_stream_write(s->stream, data, len);
		return;
	}
	if (s->spool == NULL)
		return;
	if (spool_append(s->spool, data, len, &error) < 0)
		session_spool_failed(s, error);
}

/* Sends the reply for one recipient whose copy was not stored. */
static void
rcpt_reply_failure(struct lmtp_session *s, const struct lmtp_rcpt *rcpt,
		   bool nospace)
{
	if (nospace) {
		session_reply(s, "452 4.3.1 <%s> Insufficient system storage",
			      rcpt->address.addr);
	} else {
		session_reply(s, "451 4.3.0 <%s> Temporary failure, try "
			      "again later", rcpt->address.addr);
	}
}

/* Answers for one recipient: ret is deliver_message_quota()'s. */
static void
session_deliver_reply(struct lmtp_session *s, const struct lmtp_rcpt *rcpt,
		      const char *qid, uint64_t size, size_t prefix_len,
		      int ret, uint32_t uid, const char *error,
		      const struct timespec *start)
{
	if (ret > 0) {
		/* durable: store_save_commit returned 0 */
		s->delivered++;
		log_info(&s->log, "qid=%s from=<%s> to=<%s> user=%s "
			 "size=%llu uid=%u ms=%ld: saved", qid,
			 s->mail_from.addr, rcpt->address.addr, rcpt->user,
			 (unsigned long long)(size + prefix_len), uid,
			 msecs_since(start));
		session_reply(s, "250 2.0.0 <%s> Saved as uid %u",
			      rcpt->address.addr, uid);
	} else if (ret == 0) {
		log_info(&s->log, "qid=%s from=<%s> to=<%s>: user %s "
			 "vanished", qid, s->mail_from.addr,
			 rcpt->address.addr, rcpt->user);
		session_reply(s, "550 5.1.1 <%s> User unknown",
			      rcpt->address.addr);
	} else if (ret == DELIVER_OVERQUOTA) {
		/* Permanent (RFC 3463 5.2.2): the MTA bounces rather than
		   retrying into a full mailbox. Other recipients of the
		   same message are unaffected. */
		log_info(&s->log, "qid=%s from=<%s> to=<%s> user=%s "
			 "size=%llu: refused, over quota", qid,
			 s->mail_from.addr, rcpt->address.addr, rcpt->user,
			 (unsigned long long)size);
		session_reply(s, "552 5.2.2 <%s> Mailbox full",
			      rcpt->address.addr);
	} else {
		log_error(&s->log, "qid=%s from=<%s> to=<%s> user=%s "
			  "size=%llu ms=%ld: %s", qid, s->mail_from.addr,
			  rcpt->address.addr, rcpt->user,
			  (unsigned long long)size, msecs_since(start),
			  error);
		rcpt_reply_failure(s, rcpt, deliver_error_is_nospace(error));
	}
}

/* Copies the spool into one recipient's mailbox and answers. */
static void
session_deliver_one(struct lmtp_session *s, const struct lmtp_rcpt *rcpt,
		    const char *qid, uint64_t size)
{
	struct lmtp_service *service = s->service;
	struct timespec start;
	const char *error = NULL;
	char *prefix;
	size_t prefix_len;
	uint32_t uid = 0;
	int ret;

	prefix = session_prefix(s, rcpt, &prefix_len);
	clock_gettime(CLOCK_MONOTONIC, &start);
	ret = deliver_message_quota(service->store, service->passdb,
				    &service->quota_defaults, rcpt->user,
				    NULL, prefix, prefix_len,
				    spool_get_fd(s->spool), size, &uid,
				    &error);
	free(prefix);
	session_deliver_reply(s, rcpt, qid, size, prefix_len, ret, uid, error,
			      &start);
}

/* Commits the copy written as the message arrived and answers. */
static void
session_stream_finish(struct lmtp_session *s, const char *qid)
{
	struct timespec start;
	const char *error = NULL;
	uint32_t uid = 0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	ret = deliver_stream_finish(&s->stream, &uid, &error);
	session_deliver_reply(s, &s->rcpts[0], qid, s->data_size,
			      s->stream_prefix_len, ret, uid, error, &start);
}

/* The final dot arrived: one reply per accepted recipient, in RCPT order
   (RFC 2033 4.2). */
static void
session_data_finish(struct lmtp_session *s)
{
	const char *error;
	char qid[64];
	unsigned i;

	s->txn_count++;
	snprintf(qid, sizeof(qid), "%s-%u", s->log.session, s->txn_count);

	if (!s->data_too_big && !s->data_line_too_long && !s->spool_failed &&
	    s->stream == NULL && spool_finish(s->spool, &error) < 0)
		session_spool_failed(s, error);

	if (s->data_too_big || s->data_line_too_long) {
		log_info(&s->log, "qid=%s from=<%s> size=%llu: refused, %s",
			 qid, s->mail_from.addr,
			 (unsigned long long)s->data_size,
			 s->data_too_big ? "too big" : "line too long");
		for (i = 0; i < s->rcpt_count; i++) {
			session_reply(s, "552 5.3.4 <%s> %s",
				      s->rcpts[i].address.addr,
				      s->data_too_big ?
				      "Message too big for system" :
				      "Message has a line too long");
		}
	} else if (s->spool_failed) {
		for (i = 0; i < s->rcpt_count; i++)
			rcpt_reply_failure(s, &s->rcpts[i], s->spool_nospace);
	} else if (s->stream != NULL) {
		session_stream_finish(s, qid);
	} else {
		for (i = 0; i < s->rcpt_count; i++) {
			session_deliver_one(s, &s->rcpts[i], qid,
					    spool_get_size(s->spool));
		}
	}
	session_txn_reset(s);
	if (s->shutting_down) {
		session_reply(s, "421 4.3.2 %s shutting down",
			      s->service->hostname);
		conn_close_after_flush(s->conn, "server shutting down");
	}
}

/* Streams buffered DATA input through the dot reader. Returns true once
   the final dot was handled, false if more input is needed. */
static bool
session_data_input(struct lmtp_session *s)
{
	struct evbuffer *input = conn_get_input(s->conn);
	struct evbuffer_iovec vec;
	size_t n, used, out_len;

	if (input == NULL)
		return false;
	while (!s->dot.done && evbuffer_get_length(input) > 0) {
		if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1)
			break;
		n = vec.iov_len < LMTP_DATA_CHUNK ? vec.iov_len :
			LMTP_DATA_CHUNK;
		used = dot_reader_feed(&s->dot, vec.iov_base, n, s->data_buf,
				       &out_len);
		session_data_output(s, s->data_buf, out_len);
		evbuffer_drain(input, used);
	}
	if (!s->dot.done)
		return false;
	session_data_finish(s);
	return true;
}

/* Reads the bytes of the current BDAT chunk. Returns true once the chunk
   was read and answered, false if more input is needed. */
static bool
session_bdat_input(struct lmtp_session *s)
{
	struct evbuffer *input = conn_get_input(s->conn);
	struct evbuffer_iovec vec;
	size_t n, out_len;

	if (input == NULL)
		return false;
	while (s->bdat_remaining > 0 && evbuffer_get_length(input) > 0) {
		if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1)
			break;
		n = vec.iov_len < LMTP_DATA_CHUNK ? vec.iov_len :
			LMTP_DATA_CHUNK;
		if (n > s->bdat_remaining)
			n = (size_t)s->bdat_remaining;
		if (s->bdat_error == NULL) {
			/* text must be CRLF (RFC 3030 3); the store relies
			   on it, so bare line ends are fixed, not trusted */
			out_len = crlf_converter_feed(&s->crlf, vec.iov_base,
						      n, s->data_buf);
			session_data_output(s, s->data_buf, out_len);
		}
		evbuffer_drain(input, n);
		s->bdat_remaining -= n;
	}
	if (s->bdat_remaining > 0)
		return false;

	s->state = LMTP_STATE_COMMAND;
	conn_set_input_limit(s->conn, CONN_INPUT_HIGH_WATER);
	if (s->bdat_error != NULL) {
		session_reply(s, "%s", s->bdat_error);
		s->bdat_error = NULL;
		(void)session_bad_command(s);
		return true;
	}
	if (s->bdat_last) {
		out_len = crlf_converter_finish(&s->crlf, s->data_buf);
		session_data_output(s, s->data_buf, out_len);
		session_data_finish(s);
		return true;
	}
	session_reply(s, "250 2.0.0 %llu octets received",
		      (unsigned long long)s->bdat_size);
	if (s->shutting_down) {
		session_reply(s, "421 4.3.2 %s shutting down",
			      s->service->hostname);
		conn_close_after_flush(s->conn, "server shutting down");
	}
	return true;
}

/* ---- connection callbacks ---------------------------------------------- */

static void
session_input(struct conn *conn, void *context)
{
	struct lmtp_session *s = context;
	const uint8_t *line;
	size_t len;
	enum conn_line_result ret;

	while (!conn_is_closing(conn)) {
		/* a client that pipelines without reading its replies waits
		   until they drain */
		if (conn_output_pending(conn) > CONN_OUTPUT_HIGH_WATER) {
			s->output_blocked = true;
			return;
		}
		if (s->state == LMTP_STATE_DATA) {
			if (!session_data_input(s))
				return;
			continue;
		}
		if (s->state == LMTP_STATE_BDAT) {
			if (!session_bdat_input(s))
				return;
			continue;
		}
		ret = conn_read_line(conn, LMTP_MAX_LINE, &line, &len);
		if (ret == CONN_LINE_NONE)
			return;
		if (ret == CONN_LINE_TOO_LONG) {
			session_reply(s, "500 5.5.2 Line too long");
			(void)session_bad_command(s);
			continue;
		}
		session_command(s, line, len);
	}
}

static void
session_output_drained(struct conn *conn, void *context)
{
	struct lmtp_session *s = context;

	if (s->output_blocked) {
		s->output_blocked = false;
		conn_input_kick(conn);
	}
}

static void
session_closed(struct conn *conn, const char *reason, void *context)
{
	struct lmtp_session *s = context;

	if (s->spool != NULL || s->stream != NULL) {
		log_info(&s->log, "connection lost during DATA after %llu "
			 "bytes: nothing delivered",
			 (unsigned long long)s->data_size);
	}
	log_info(&s->log, "disconnect: %s (transactions=%u delivered=%u "
		 "in=%llu out=%llu)", reason, s->txn_count, s->delivered,
		 (unsigned long long)conn_get_bytes_in(conn),
		 (unsigned long long)conn_get_bytes_out(conn));
	/* an unfinished DATA's spool goes with the session */
	session_txn_reset(s);
	spool_destroy(&s->idle_spool);
	__atomic_sub_fetch(&s->service->sessions, 1, __ATOMIC_RELAXED);
	free(s);
}

static void
session_shutdown(struct conn *conn, void *context)
{
	struct lmtp_session *s = context;

	/* A message being received is finished and delivered first; the
	   net layer's deadline bounds how long that may take. */
	if (s->state != LMTP_STATE_COMMAND) {
		s->shutting_down = true;
		return;
	}
	session_reply(s, "421 4.3.2 %s shutting down", s->service->hostname);
	conn_close_after_flush(conn, "server shutting down");
}

static const struct conn_callbacks lmtp_conn_callbacks = {
	.input = session_input,
	.output_drained = session_output_drained,
	.closed = session_closed,
	.shutdown = session_shutdown,
};

void
lmtp_service_new_connection(struct conn *conn, void *context)
{
	struct lmtp_service *service = context;
	struct lmtp_session *s = xmalloc(sizeof(*s));

	memset(s, 0, sizeof(*s));
	s->service = service;
	s->conn = conn;
	s->log.proto = "lmtp";
	s->log.session = conn_get_id(conn);
	s->log.ip = conn_get_peer(conn);
	s->state = LMTP_STATE_COMMAND;
	__atomic_add_fetch(&service->sessions, 1, __ATOMIC_RELAXED);

	conn_set_callbacks(conn, &lmtp_conn_callbacks, s);
	conn_set_idle_timeout(conn, LMTP_IDLE_TIMEOUT_SECS);
	log_info(&s->log, "connect from %s", conn_get_peer(conn));
	session_reply(s, "220 %s quire LMTP ready", service->hostname);
}
