/* The IMAP workloads (RFC 9051, RFC 3501):

   imap-login   --count sessions, --conns at a time: LOGIN, SELECT INBOX,
                LOGOUT. Latency: connect to the tagged OK of LOGIN.
   imap-idle    one control session of user --user-first (it APPENDs a
                message if INBOX is empty and takes the UID of message
                1), then --count sessions spread over --users users in
                blocks (sessions 0 .. count/users - 1 are the control
                user's, the next block the next user's, ...), --conns
                logins at a time, each with INBOX selected and in IDLE
                (RFC 2177). Prints "ready conns=N" and waits for standard
                input to end (the caller measures the server's memory);
                then --rounds times the control session sends
                UID STORE uid +FLAGS (\Flagged) (then -FLAGS, alternating)
                and the delay from sending it to the untagged FETCH on
                each of the first IMAP_PUSH_MEASURED sessions is
                recorded; then, with --lmtp-port, a few messages are
                delivered over LMTP and the delay from the final dot to
                the untagged EXISTS is recorded the same way.
   imap-mixed   --conns persistent sessions of users user_first ..
                +users-1 looping a client mix (see mixed_next) until
                --count commands each; commands/s, p50/p99 per command.

   A line ending in a literal "{n}" makes the core skip the n bytes; the
   rest of that response arrives as another line, which is untagged and
   ignored. */

#include "bench.h"
#include "bench-large.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "lib/strnum.h"

/* push delay is taken on this many IDLE sessions (the figure) */
#define IMAP_PUSH_MEASURED 200
/* a push round waits at most this long for its notifications */
#define IMAP_PUSH_ROUND_SECS 5
/* new-mail push rounds (one LMTP delivery each) */
#define IMAP_PUSH_NEW_ROUNDS 5

enum imap_role {
	R_SESSION = 0,	/* login / idle / mixed session */
	R_CONTROL,	/* imap-idle: the session that changes flags */
	R_LMTP,		/* imap-idle: the delivering LMTP connection */
};

enum imap_state {
	I_GREETING = 0,
	I_LOGIN,
	I_SELECT,
	I_LOGOUT,
	I_CAPABILITY,	/* imap-large's probe */
	/* imap-idle sessions */
	I_IDLE_START,
	I_IDLING,
	/* imap-idle control session */
	C_APPEND_CONT,
	C_APPEND,
	C_FETCH_UID,
	C_READY,
	C_STORE,
	/* imap-idle LMTP connection */
	L_GREETING,
	L_LHLO,
	L_READY,
	L_MAIL,
	L_RCPT,
	L_DATA,
	L_DOT,
	/* imap-mixed */
	M_READY,	/* logged in, waiting for the others */
	M_CMD,
	M_APPEND_CONT,
};

static bool
imap_fail(struct client *c, const char *what, const char *line)
{
	fprintf(stderr, "quire-bench: imap connection %u (user %u): %s: "
		"%.200s\n", c->id, c->user, what, line);
	client_close(c, true);
	return false;
}

/* Sends "t<tag> <command>" with a fresh tag. */
static void __attribute__((format(printf, 2, 3)))
imap_cmd(struct client *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list args;

	c->tag++;
	evbuffer_add_printf(out, "t%u ", c->tag);
	va_start(args, fmt);
	evbuffer_add_vprintf(out, fmt, args);
	va_end(args);
	evbuffer_add(out, "\r\n", 2);
}

/* 1: the tagged OK of the last command; -1: its NO or BAD; 0: some
   other line. */
static int
imap_tagged(const struct client *c, const char *line, size_t len)
{
	/* "t<tag> ", the number as imap_cmd() wrote it (no leading
	   zero). Parsed, not formatted and compared: this runs for every
	   line, and a FETCH of 100,000 messages has as many. */
	uint64_t tag = 0;
	size_t i = 1;

	if (len < 4 || line[0] != 't' || line[1] < '1' || line[1] > '9')
		return 0;
	for (; i < len && i < 12 && line[i] >= '0' && line[i] <= '9'; i++)
		tag = tag * 10 + (uint64_t)(line[i] - '0');
	if (i >= len || line[i] != ' ' || tag != c->tag || len < i + 3)
		return 0;
	return memcmp(line + i + 1, "OK", 2) == 0 ? 1 : -1;
}

/* A line ending in "{n}" or "{n+}" announces n literal bytes. */
static void
imap_literal(struct client *c, const char *line, size_t len)
{
	uint64_t n;

	if (bench_imap_literal(line, len, &n))
		client_skip(c, n);
}

static bool
imap_untagged_is(const char *line, size_t len, const char *word,
		 unsigned int *n_r)
{
	return bench_imap_untagged(line, len, word, n_r);
}

static void
imap_login(struct client *c)
{
	char user[128];

	bench_user_name(c->b, c->user, user, sizeof(user));
	imap_cmd(c, "LOGIN %s \"%s\"", user, c->b->opt.password);
	c->state = I_LOGIN;
}

static void
imap_logout(struct client *c)
{
	imap_cmd(c, "LOGOUT");
	c->quitting = true;
	c->state = I_LOGOUT;
}

/* ---- imap-login ------------------------------------------------------ */

/* The g-th session of slot s takes user (s + g * conns) % users, as
   pop3-login does. */
static void
login_open_next(struct bench *b, unsigned int slot, unsigned int gen)
{
	struct client *c;
	unsigned long long u;

	if (b->stopping || b->next >= b->opt.count)
		return;
	u = ((unsigned long long)slot +
	     (unsigned long long)gen * b->opt.conns) % b->opt.users;
	c = client_open(b, b->next, b->opt.user_first + (unsigned int)u);
	c->slot = slot;
	c->gen = gen;
	b->next++;
}

static bool
login_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	int r;

	imap_literal(c, line, len);
	if (c->state == I_GREETING) {
		if (len < 4 || memcmp(line, "* OK", 4) != 0)
			return imap_fail(c, "greeting", line);
		imap_login(c);
		return true;
	}
	r = imap_tagged(c, line, len);
	if (r == 0)
		return true;
	switch ((enum imap_state)c->state) {
	case I_LOGIN:
		if (r < 0)
			return imap_fail(c, "LOGIN", line);
		bench_latency(b, bench_now() - c->t0);
		imap_cmd(c, "SELECT INBOX");
		c->state = I_SELECT;
		return true;
	case I_SELECT:
		if (r < 0)
			return imap_fail(c, "SELECT", line);
		b->ops++;
		imap_logout(c);
		return true;
	case I_LOGOUT:
		client_close(c, r < 0);
		return false;
	default:
		break;
	}
	return true;
}

static void
login_closed(struct client *c, bool error)
{
	if (error)
		c->b->errors++;
	login_open_next(c->b, c->slot, c->gen + 1);
}

static void
login_start(struct bench *b)
{
	for (unsigned int i = 0; i < b->opt.conns; i++)
		login_open_next(b, i, 0);
}

static void
login_report(struct bench *b)
{
	bench_report_rate(b, "logins_per_s");
}

const struct workload workload_imap_login = {
	.name = "imap-login",
	.summary = "--count IMAP LOGIN/SELECT/LOGOUT sessions, --conns at "
		   "once",
	.start = login_start,
	.line = login_line,
	.closed = login_closed,
	.report = login_report,
};

/* ---- imap-mixed ------------------------------------------------------ */

/* One turn of the loop, in order. A step whose preconditions are not
   met (no message yet, too few of our own messages) is skipped. */
enum mixed_cmd {
	MX_SELECT = 0,
	MX_FETCH_FLAGS,	/* FETCH 1:* (FLAGS) */
	MX_FETCH_BODY,	/* UID FETCH of up to three of our messages */
	MX_STORE_SEEN,	/* UID STORE newest +FLAGS (\Seen) */
	MX_APPEND,	/* a ~4 KiB message, LITERAL+ */
	MX_STORE_DEL,	/* UID STORE oldest +FLAGS.SILENT (\Deleted) */
	MX_EXPUNGE,
	MX_LIST,	/* LIST "" * */
	MX_STATUS,	/* STATUS INBOX (MESSAGES UNSEEN) */
	MX_COUNT,
};

static const char *const mixed_names[MX_COUNT] = {
	"select", "fetch_flags", "fetch_body", "store", "append",
	"store_deleted", "expunge", "list", "status",
};

/* UIDs of the messages a session appended, oldest first; the oldest is
   expunged once there are more than MIXED_KEEP. */
#define MIXED_RING 8
#define MIXED_KEEP 5

struct mixed_session {
	unsigned int uids[MIXED_RING];
	unsigned int n_uids;
	unsigned int exists;
	enum mixed_cmd cmd;
	double t_cmd;
	unsigned int done;	/* commands finished */
};

static struct {
	struct mixed_session *s;
	char *msg;
	size_t msg_len;
	double *lat[MX_COUNT];
	size_t lat_n[MX_COUNT];
	/* the figure is the rate of persistent sessions */
	struct bench_gate gate;
} mixed;

static void
mixed_lat(enum mixed_cmd k, double secs)
{
	if (mixed.lat_n[k] % 1024 == 0) {
		mixed.lat[k] = realloc(mixed.lat[k], (mixed.lat_n[k] + 1024) *
				       sizeof(double));
		if (mixed.lat[k] == NULL)
			abort();
	}
	mixed.lat[k][mixed.lat_n[k]++] = secs;
}

/* Sends the command of step k; false when the step is skipped. */
static bool
mixed_send(struct client *c, struct mixed_session *ms, enum mixed_cmd k)
{
	char set[64];
	int off = 0;

	switch (k) {
	case MX_SELECT:
		ms->exists = 0;
		imap_cmd(c, "SELECT INBOX");
		break;
	case MX_FETCH_FLAGS:
		if (ms->exists == 0)
			return false;
		imap_cmd(c, "FETCH 1:* (FLAGS)");
		break;
	case MX_FETCH_BODY:
		if (ms->n_uids == 0)
			return false;
		for (unsigned int i = 0; i < ms->n_uids && i < 3; i++)
			off += snprintf(set + off, sizeof(set) - (size_t)off,
					"%s%u", i == 0 ? "" : ",",
					ms->uids[ms->n_uids - 1 - i]);
		imap_cmd(c, "UID FETCH %s (BODY.PEEK[])", set);
		break;
	case MX_STORE_SEEN:
		if (ms->n_uids == 0)
			return false;
		imap_cmd(c, "UID STORE %u +FLAGS (\\Seen)",
			 ms->uids[ms->n_uids - 1]);
		break;
	case MX_APPEND:
		imap_cmd(c, "APPEND INBOX {%zu+}", mixed.msg_len);
		client_send_ref(c, mixed.msg, mixed.msg_len);
		client_printf(c, "%s", "");
		break;
	case MX_STORE_DEL:
		if (ms->n_uids <= MIXED_KEEP)
			return false;
		imap_cmd(c, "UID STORE %u +FLAGS.SILENT (\\Deleted)",
			 ms->uids[0]);
		break;
	case MX_EXPUNGE:
		if (ms->n_uids <= MIXED_KEEP)
			return false;
		imap_cmd(c, "EXPUNGE");
		break;
	case MX_LIST:
		imap_cmd(c, "LIST \"\" *");
		break;
	case MX_STATUS:
		imap_cmd(c, "STATUS INBOX (MESSAGES UNSEEN)");
		break;
	case MX_COUNT:
		abort();
	}
	ms->cmd = k;
	ms->t_cmd = bench_now();
	return true;
}

/* Sends the next command of the loop, or LOGOUT after --count. */
static void
mixed_next(struct client *c, struct mixed_session *ms)
{
	enum mixed_cmd k = ms->cmd;

	if (ms->done >= c->b->opt.count || c->b->stopping) {
		imap_logout(c);
		return;
	}
	do {
		k = (enum mixed_cmd)((k + 1) % MX_COUNT);
	} while (!mixed_send(c, ms, k));
}

/* "[APPENDUID validity uid]" (RFC 4315) */
static bool
mixed_appenduid(const char *line, size_t len, unsigned int *uid_r)
{
	const char *p = memmem(line, len, "[APPENDUID ", 11), *end = line + len;
	const char *q;
	uint64_t n;

	if (p == NULL)
		return false;
	p += 11;
	p = memchr(p, ' ', (size_t)(end - p));
	if (p == NULL)
		return false;
	p++;
	for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (str_to_u64(p, (size_t)(q - p), UINT32_MAX, &n) < 0)
		return false;
	*uid_r = (unsigned int)n;
	return true;
}

/* Starts every waiting session's loop once none is still logging in;
   the timed run begins here. */
static void
mixed_go(struct bench *b)
{
	struct client *c, *next;

	if (!bench_gate_open(b, &mixed.gate, b->opt.conns))
		return;
	for (c = b->clients; c != NULL; c = next) {
		next = c->next;
		if (c->state != M_READY)
			continue;
		struct mixed_session *ms = &mixed.s[c->id];

		c->state = M_CMD;
		ms->cmd = MX_COUNT - 1;
		mixed_next(c, ms);
	}
}

static bool
mixed_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	struct mixed_session *ms = &mixed.s[c->id];
	unsigned int n, uid;
	double dt;
	int r;

	imap_literal(c, line, len);
	if (c->state == I_GREETING) {
		if (len < 4 || memcmp(line, "* OK", 4) != 0)
			return imap_fail(c, "greeting", line);
		imap_login(c);
		return true;
	}
	if (imap_untagged_is(line, len, "EXISTS", &n)) {
		ms->exists = n;
		return true;
	}
	r = imap_tagged(c, line, len);
	if (r == 0)
		return true;
	switch ((enum imap_state)c->state) {
	case I_LOGIN:
		if (r < 0)
			return imap_fail(c, "LOGIN", line);
		c->state = M_READY;
		mixed.gate.ready++;
		mixed_go(b);
		return true;
	case M_CMD:
		if (r < 0)
			return imap_fail(c, mixed_names[ms->cmd], line);
		dt = bench_now() - ms->t_cmd;
		mixed_lat(ms->cmd, dt);
		bench_latency(b, dt);
		b->ops++;
		b->bytes += c->body_bytes;
		c->body_bytes = 0;
		ms->done++;
		if (ms->cmd == MX_APPEND) {
			if (!mixed_appenduid(line, len, &uid))
				return imap_fail(c, "APPEND without "
						 "APPENDUID", line);
			if (ms->n_uids == MIXED_RING) {
				memmove(ms->uids, ms->uids + 1,
					(MIXED_RING - 1) * sizeof(unsigned int));
				ms->n_uids--;
			}
			ms->uids[ms->n_uids++] = uid;
		} else if (ms->cmd == MX_EXPUNGE) {
			memmove(ms->uids, ms->uids + 1,
				(ms->n_uids - 1) * sizeof(unsigned int));
			ms->n_uids--;
		}
		mixed_next(c, ms);
		return true;
	case I_LOGOUT:
		client_close(c, r < 0);
		return false;
	default:
		break;
	}
	return true;
}

static void
mixed_closed(struct client *c, bool error)
{
	if (error)
		c->b->errors++;
	if (!mixed.gate.open && c->state != M_READY) {
		/* gone before it logged in: not waited for */
		mixed.gate.failed++;
		mixed_go(c->b);
	}
}

static void
mixed_start(struct bench *b)
{
	static const char head[] =
		"From: Bench Sender <bench@example.org>\r\n"
		"To: user@bench.test\r\n"
		"Subject: imap-mixed\r\n"
		"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
		"Message-ID: <mixed@bench.test>\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"\r\n";
	static const char line[] =
		"Lorem ipsum dolor sit amet, consectetur adipiscing elit, "
		"sed do eiusmod.\r\n";
	size_t size = sizeof(head) - 1 + 56 * (sizeof(line) - 1);
	char *p;

	p = mixed.msg = bench_xmalloc(size);
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	for (unsigned int i = 0; i < 56; i++) {
		memcpy(p, line, sizeof(line) - 1);
		p += sizeof(line) - 1;
	}
	mixed.msg_len = size;
	mixed.s = bench_xcalloc(b->opt.conns, sizeof(*mixed.s));
	for (unsigned int i = 0; i < b->opt.conns; i++)
		client_open(b, i, b->opt.user_first + i % b->opt.users);
}

static void
mixed_report(struct bench *b)
{
	char key[64];

	bench_report_rate(b, "cmds_per_s");
	bench_gate_report(&mixed.gate);
	for (unsigned int k = 0; k < MX_COUNT; k++) {
		snprintf(key, sizeof(key), "%s", mixed_names[k]);
		bench_report_lat(key, mixed.lat[k], mixed.lat_n[k]);
		free(mixed.lat[k]);
	}
	free(mixed.s);
	free(mixed.msg);
}

const struct workload workload_imap_mixed = {
	.name = "imap-mixed",
	.summary = "--conns sessions looping SELECT, FETCH, STORE, APPEND, "
		   "EXPUNGE, LIST, STATUS; --count commands each",
	.start = mixed_start,
	.line = mixed_line,
	.closed = mixed_closed,
	.report = mixed_report,
};

/* ---- imap-large ------------------------------------------------------ */

/* Fill: --conns sessions APPEND (LITERAL+) what INBOX of user
   --user-first lacks to hold --count messages (bench-large.h: message k,
   internal date BENCH_LARGE_IMAP_DATE). When the probe session's
   CAPABILITY lists MULTIAPPEND (RFC 3502), one command carries --batch
   messages, LARGE_BATCH_WINDOW commands in flight per session; without
   it, one message per APPEND, LARGE_WINDOW in flight. The mailbox keeps
   them, so later runs on the same data fill nothing (run-bench prefills
   Dovecot's Maildir the same way, `quire-bench large-maildir`). Then one
   new session times, LARGE_REPS times: SELECT INBOX, UID FETCH 1:*
   (FLAGS), UID SEARCH TEXT of the word one message in
   BENCH_LARGE_NEEDLE_EVERY holds, and UID STORE +FLAGS (\Flagged) then
   -FLAGS on the middle message (two timed STOREs, so the mailbox is
   left as it was). */
#define LARGE_WINDOW 16
#define LARGE_BATCH_WINDOW 4
#define LARGE_REPS 3
/* fill sessions at most (each has its row of in-flight batch sizes) */
#define LARGE_MAX_FILLERS 64

enum large_cmd {
	LG_SELECT = 0,
	LG_FETCH,
	LG_SEARCH,
	LG_STORE_SET,
	LG_STORE_CLEAR,
	LG_COUNT,
};

/* both STOREs report as one figure */
static const char *const large_names[LG_COUNT] = {
	"select", "fetch_flags", "search_text", "store_flag", "store_flag",
};

static struct {
	unsigned int exists;	/* from the probe session's SELECT */
	unsigned int to_send;	/* messages not yet sent, all sessions */
	unsigned int filled;	/* messages acknowledged */
	unsigned int fillers;	/* fill sessions still open */
	bool multiappend;	/* the server listed MULTIAPPEND */
	unsigned int batch;	/* messages per command in this fill */
	/* messages in the command with tag t of fill session i:
	   inflight[i][t % LARGE_WINDOW] (fewer than LARGE_WINDOW commands
	   are in flight, so the slots do not collide) */
	unsigned int inflight[LARGE_MAX_FILLERS][LARGE_WINDOW];
	double fill_secs;
	double t_fill;
	enum large_cmd cmd;
	unsigned int rep;
	double t_cmd;
	unsigned int search_hits;
	double lat[LG_COUNT][2 * LARGE_REPS];
	size_t lat_n[LG_COUNT];
} large;

enum large_role {
	LR_PROBE = 0,	/* SELECT to learn the count, then the timings */
	LR_FILL,
};

/* One APPEND of up to large.batch messages (RFC 3502 when more than
   one), every literal non-synchronising (RFC 7888). */
static void
large_append(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char msg[BENCH_LARGE_MSG_MAX];
	unsigned int n = large.batch < large.to_send ? large.batch :
			 large.to_send;

	c->tag++;
	evbuffer_add_printf(out, "t%u APPEND INBOX", c->tag);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = c->b->opt.count - large.to_send;
		size_t len = bench_large_msg(k, msg, sizeof(msg));

		large.to_send--;
		evbuffer_add_printf(out, " %s {%zu+}\r\n",
				    BENCH_LARGE_IMAP_DATE, len);
		evbuffer_add(out, msg, len);
	}
	evbuffer_add(out, "\r\n", 2);
	large.inflight[c->id][c->tag % LARGE_WINDOW] = n;
	c->pending++;
}

/* Keeps the window full; LOGOUT when nothing is left. */
static void
large_fill_more(struct client *c)
{
	unsigned int window = large.batch > 1 ? LARGE_BATCH_WINDOW :
			      LARGE_WINDOW;

	while (c->pending < window && large.to_send > 0)
		large_append(c);
	if (c->pending == 0)
		imap_logout(c);
}

/* A fill session's tagged reply: "t<tag> OK ...". 1: an OK, with the
   tag in *tag_r; -1: NO or BAD; 0: not a tagged line. */
static int
large_fill_reply(const char *line, size_t len, unsigned int *tag_r)
{
	const char *sp;
	uint64_t tag;

	if (len < 2 || line[0] != 't')
		return 0;
	sp = memchr(line, ' ', len);
	if (sp == NULL || str_to_u64(line + 1, (size_t)(sp - line - 1),
				     UINT32_MAX, &tag) < 0)
		return 0;
	*tag_r = (unsigned int)tag;
	return (size_t)(line + len - sp) >= 3 && memcmp(sp, " OK", 3) == 0 ?
	       1 : -1;
}

static void
large_probe_send(struct client *c)
{
	switch (large.cmd) {
	case LG_SELECT:
		imap_cmd(c, "SELECT INBOX");
		break;
	case LG_FETCH:
		imap_cmd(c, "UID FETCH 1:* (FLAGS)");
		break;
	case LG_SEARCH:
		large.search_hits = 0;
		imap_cmd(c, "UID SEARCH TEXT " BENCH_LARGE_NEEDLE);
		break;
	case LG_STORE_SET:
	case LG_STORE_CLEAR:
		/* UIDs run 1..n in both servers' filled mailboxes */
		imap_cmd(c, "UID STORE %u %cFLAGS (\\Flagged)",
			 large.exists / 2 > 0 ? large.exists / 2 : 1,
			 large.cmd == LG_STORE_SET ? '+' : '-');
		break;
	case LG_COUNT:
		abort();
	}
	large.t_cmd = bench_now();
}

static void large_measure(struct bench *b);

static bool
large_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	unsigned int n;
	int r;

	imap_literal(c, line, len);
	if (c->state == I_GREETING) {
		if (len < 4 || memcmp(line, "* OK", 4) != 0)
			return imap_fail(c, "greeting", line);
		imap_login(c);
		return true;
	}
	if (c->role == LR_FILL && c->state == M_CMD) {
		unsigned int tag;

		/* pipelined: any tagged reply ends one APPEND */
		r = large_fill_reply(line, len, &tag);
		if (r == 0)
			return true;
		if (r < 0)
			return imap_fail(c, "APPEND", line);
		c->pending--;
		large.filled += large.inflight[c->id][tag % LARGE_WINDOW];
		large_fill_more(c);
		return true;
	}
	if (bench_imap_capability(line, len, "MULTIAPPEND")) {
		large.multiappend = true;
		return true;
	}
	if (imap_untagged_is(line, len, "EXISTS", &n)) {
		large.exists = n;
		return true;
	}
	if (len > 8 && memcmp(line, "* SEARCH", 8) == 0) {
		for (size_t i = 8; i < len; i++)
			large.search_hits += line[i] == ' ';
		return true;
	}
	r = imap_tagged(c, line, len);
	if (r == 0)
		return true;
	if (r < 0)
		return imap_fail(c, c->state == I_LOGIN ? "LOGIN" :
				 large_names[large.cmd], line);
	switch ((enum imap_state)c->state) {
	case I_LOGIN:
		if (c->role == LR_FILL) {
			c->state = M_CMD;
			large_fill_more(c);
			return true;
		}
		if (c->gen == 0) {
			/* the probe asks (untimed) whether it may batch */
			imap_cmd(c, "CAPABILITY");
			c->state = I_CAPABILITY;
			return true;
		}
		__attribute__((fallthrough));
	case I_CAPABILITY:
		large.cmd = LG_SELECT;
		large_probe_send(c);
		c->state = I_SELECT;
		return true;
	case I_SELECT:
		if (c->gen == 0) {
			/* the probe: fill, then measure in a new session */
			if (large.exists < b->opt.count)
				large.to_send = b->opt.count - large.exists;
			c->gen = 1;
			imap_logout(c);
			return true;
		}
		/* the measuring session's SELECT is a timed command */
		__attribute__((fallthrough));
	case M_CMD:
		large.lat[large.cmd][large.lat_n[large.cmd]++] =
			bench_now() - large.t_cmd;
		b->ops++;
		if (large.cmd == LG_STORE_CLEAR &&
		    ++large.rep == LARGE_REPS) {
			imap_logout(c);
			return true;
		}
		large.cmd = (enum large_cmd)((large.cmd + 1) % LG_COUNT);
		c->state = M_CMD;
		large_probe_send(c);
		return true;
	case I_LOGOUT:
		client_close(c, false);
		return false;
	default:
		break;
	}
	return true;
}

static void
large_measure(struct bench *b)
{
	struct client *c;

	if (b->stopping || b->opt.fill_only)
		return;
	large.exists = 0;
	c = client_open(b, b->opt.conns + 1, b->opt.user_first);
	c->role = LR_PROBE;
	c->gen = 2;
}

static void
large_closed(struct client *c, bool error)
{
	struct bench *b = c->b;

	if (error) {
		b->errors++;
		b->stopping = true;
		return;
	}
	if (c->role == LR_PROBE && c->gen == 1) {
		/* probe done: fill if needed */
		if (large.to_send == 0) {
			large_measure(b);
			return;
		}
		large.batch = large.multiappend ? b->opt.batch : 1;
		large.t_fill = bench_now();
		large.fillers = b->opt.conns < LARGE_MAX_FILLERS ?
				b->opt.conns : LARGE_MAX_FILLERS;
		for (unsigned int i = 0; i < large.fillers; i++) {
			struct client *f = client_open(b, i,
						       b->opt.user_first);

			f->role = LR_FILL;
		}
		return;
	}
	if (c->role == LR_FILL && --large.fillers == 0) {
		large.fill_secs = bench_now() - large.t_fill;
		large_measure(b);
	}
}

static void
large_start(struct bench *b)
{
	struct client *c = client_open(b, b->opt.conns, b->opt.user_first);

	c->role = LR_PROBE;
}

static void
large_report(struct bench *b)
{
	char key[64];

	bench_report_kv("messages", "%u", large.exists);
	bench_report_kv("filled", "%u", large.filled);
	if (large.filled > 0) {
		bench_report_kv("fill_batch", "%u", large.batch);
		bench_report_kv("fill_secs", "%.1f", large.fill_secs);
		bench_report_kv("fill_per_s", "%.1f",
				(double)large.filled / large.fill_secs);
	}
	bench_report_kv("search_hits", "%u", large.search_hits);
	/* the two STOREs' times as one list */
	for (size_t i = 0; i < large.lat_n[LG_STORE_CLEAR]; i++) {
		large.lat[LG_STORE_SET][large.lat_n[LG_STORE_SET]++] =
			large.lat[LG_STORE_CLEAR][i];
	}
	for (unsigned int k = 0; k < LG_STORE_CLEAR; k++) {
		snprintf(key, sizeof(key), "%s", large_names[k]);
		bench_report_lat(key, large.lat[k], large.lat_n[k]);
	}
}

const struct workload workload_imap_large = {
	.name = "imap-large",
	.summary = "fill INBOX to --count messages, then time SELECT, "
		   "UID FETCH 1:* (FLAGS), UID SEARCH TEXT, UID STORE",
	.start = large_start,
	.line = large_line,
	.closed = large_closed,
	.report = large_report,
};

/* ---- imap-idle ------------------------------------------------------- */

/* The message the control session appends and LMTP delivers: small, so
   that the figure is the notification, not the transfer. */
static const char idle_msg[] =
	"From: bench@example.org\r\n"
	"To: user@bench.test\r\n"
	"Subject: push\r\n"
	"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
	"Message-ID: <push@bench.test>\r\n"
	"\r\n"
	"A message to wake the IDLE sessions.\r\n";

enum idle_phase {
	PH_LOGIN = 0,	/* control session, then the IDLE sessions log in */
	PH_HOLD,	/* all in IDLE: the caller measures memory */
	PH_FLAGS,	/* UID STORE rounds */
	PH_NEW,		/* LMTP delivery rounds */
	PH_DONE,
};

static struct {
	struct client *ctl, *lmtp;
	bool lmtp_ready;
	unsigned int uid;	/* the control session's message */
	unsigned int measured;	/* sessions id < measured are timed */
	enum idle_phase phase;
	unsigned int round;	/* global round number, from 1 */
	unsigned int rounds_left;
	double t_send;
	unsigned int waiting;	/* timed sessions yet to be notified */
	bool sender_done;	/* the STORE's OK or the delivery's 250 */
	bool finishing;		/* idle_finish is scheduled */
	struct event *timer;
	double *lat[2];		/* [0] flag changes, [1] new mail */
	size_t lat_n[2];
	unsigned int missed[2];
} idle;

static void idle_round_start(struct bench *b);

static void
idle_finish_cb(evutil_socket_t fd, short what, void *context)
{
	struct bench *b = context;

	idle.phase = PH_DONE;
	b->stopping = true;
	if (idle.timer != NULL) {
		event_free(idle.timer);
		idle.timer = NULL;
	}
	if (b->t_end == 0)
		b->t_end = bench_now();
	/* sessions in IDLE just go; nothing else is pending */
	while (b->clients != NULL) {
		b->clients->quitting = true;
		client_close(b->clients, false);
	}
}

/* Ends the run from the loop: the caller may be a handler of one of the
   connections that are closed. */
static void
idle_finish(struct bench *b)
{
	struct timeval zero = { 0, 0 };

	if (idle.finishing)
		return;
	idle.finishing = true;
	if (idle.timer != NULL)
		evtimer_del(idle.timer);
	event_base_once(b->base, -1, EV_TIMEOUT, idle_finish_cb, b, &zero);
}

static void
idle_round_end(struct bench *b)
{
	int k = idle.phase == PH_NEW ? 1 : 0;

	if (idle.finishing)
		return;
	evtimer_del(idle.timer);
	idle.missed[k] += idle.waiting;
	idle.waiting = 0;
	if (idle.rounds_left > 0) {
		idle.rounds_left--;
		idle_round_start(b);
		return;
	}
	if (idle.phase == PH_FLAGS && idle.lmtp != NULL && idle.lmtp_ready &&
	    b->opt.lmtp_port != 0) {
		idle.phase = PH_NEW;
		idle.rounds_left = IMAP_PUSH_NEW_ROUNDS - 1;
		idle_round_start(b);
		return;
	}
	idle_finish(b);
}

static void
idle_check_round(struct bench *b)
{
	if (idle.waiting == 0 && idle.sender_done)
		idle_round_end(b);
}

static void
idle_timer_cb(evutil_socket_t fd, short what, void *context)
{
	struct bench *b = context;

	fprintf(stderr, "quire-bench: push round %u: %u sessions not "
		"notified within %d s\n", idle.round, idle.waiting,
		IMAP_PUSH_ROUND_SECS);
	if (!idle.sender_done) {
		idle_finish(b);
		return;
	}
	idle_round_end(b);
}

static void
idle_round_start(struct bench *b)
{
	struct timeval tv = { .tv_sec = IMAP_PUSH_ROUND_SECS };

	idle.round++;
	idle.waiting = idle.measured;
	idle.sender_done = false;
	if (idle.phase == PH_FLAGS) {
		imap_cmd(idle.ctl, "UID STORE %u %cFLAGS (\\Flagged)",
			 idle.uid, idle.round % 2 == 1 ? '+' : '-');
		idle.ctl->state = C_STORE;
	} else {
		client_printf(idle.lmtp, "MAIL FROM:<bench@example.org>");
		idle.lmtp->state = L_MAIL;
	}
	/* the flag change leaves with the STORE; for new mail t_send is
	   reset when the final dot goes */
	idle.t_send = bench_now();
	evtimer_add(idle.timer, &tv);
}

static void
idle_push_begin(struct bench *b)
{
	/* the hold sets stopping; here it only means no new logins */
	if (idle.ctl == NULL) {
		idle_finish(b);
		return;
	}
	idle.phase = PH_FLAGS;
	idle.rounds_left = b->opt.rounds > 0 ? b->opt.rounds - 1 : 0;
	idle.timer = evtimer_new(b->base, idle_timer_cb, b);
	idle_round_start(b);
}

/* Session k belongs to user user_first + k / block, block being
   count / users rounded up: the measured sessions (the first
   IMAP_PUSH_MEASURED) are the control user's as long as a block holds
   at least that many, and a change wakes only its user's block. */
static void
idle_open_next(struct bench *b)
{
	unsigned int users = b->opt.users > 0 ? b->opt.users : 1;
	unsigned int block = (b->opt.count + users - 1) / users;

	if (b->next >= b->opt.count || idle.phase != PH_LOGIN)
		return;
	client_open(b, b->next, b->opt.user_first + b->next / block);
	b->next++;
}

/* Opens the next login, and once every session is in IDLE (or no more
   can be started) announces it and waits for the caller. */
static void
idle_next_or_ready(struct bench *b)
{
	if (b->next < b->opt.count && idle.phase == PH_LOGIN) {
		idle_open_next(b);
		return;
	}
	if (idle.phase != PH_LOGIN)
		return;
	for (struct client *c = b->clients; c != NULL; c = c->next) {
		if (c->role == R_SESSION && c->state != I_IDLING)
			return;
	}
	idle.phase = PH_HOLD;
	b->t_end = bench_now();
	printf("ready conns=%u\n", b->ready);
	fflush(stdout);
	bench_hold(b, idle_push_begin);
}

static void
idle_notified(struct client *c, int k)
{
	struct bench *b = c->b;
	int want = idle.phase == PH_NEW ? 1 : 0;

	if (idle.phase != PH_FLAGS && idle.phase != PH_NEW)
		return;
	if (k != want || c->id >= idle.measured || c->i >= idle.round)
		return;
	c->i = idle.round;
	if (idle.lat_n[k] % 1024 == 0) {
		idle.lat[k] = realloc(idle.lat[k], (idle.lat_n[k] + 1024) *
				      sizeof(double));
		if (idle.lat[k] == NULL)
			abort();
	}
	idle.lat[k][idle.lat_n[k]++] = bench_now() - idle.t_send;
	if (idle.waiting > 0)
		idle.waiting--;
	idle_check_round(b);
}

static bool
idle_session_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	int r;

	if (c->state == I_GREETING) {
		if (len < 4 || memcmp(line, "* OK", 4) != 0)
			return imap_fail(c, "greeting", line);
		imap_login(c);
		return true;
	}
	if (c->state == I_IDLING) {
		if (imap_untagged_is(line, len, "FETCH", NULL))
			idle_notified(c, 0);
		else if (imap_untagged_is(line, len, "EXISTS", NULL))
			idle_notified(c, 1);
		return true;
	}
	if (c->state == I_IDLE_START) {
		if (len >= 1 && line[0] == '+') {
			c->state = I_IDLING;
			bench_latency(b, bench_now() - c->t0);
			b->ops++;
			b->ready++;
			idle_next_or_ready(b);
			return true;
		}
		if (imap_tagged(c, line, len) != 0)
			return imap_fail(c, "IDLE", line);
		return true;
	}
	r = imap_tagged(c, line, len);
	if (r == 0)
		return true;
	if (r < 0)
		return imap_fail(c, c->state == I_LOGIN ? "LOGIN" : "SELECT",
				 line);
	if (c->state == I_LOGIN) {
		imap_cmd(c, "SELECT INBOX");
		c->state = I_SELECT;
	} else {
		imap_cmd(c, "IDLE");
		c->state = I_IDLE_START;
	}
	return true;
}

/* "* n FETCH (UID u ...)" */
static bool
idle_parse_uid(const char *line, size_t len, unsigned int *uid_r)
{
	const char *p = memmem(line, len, "UID ", 4), *end = line + len, *q;
	uint64_t n;

	if (p == NULL)
		return false;
	p += 4;
	for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (str_to_u64(p, (size_t)(q - p), UINT32_MAX, &n) < 0)
		return false;
	*uid_r = (unsigned int)n;
	return true;
}

static bool
idle_control_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	int r;

	if (c->state == I_GREETING) {
		if (len < 4 || memcmp(line, "* OK", 4) != 0)
			return imap_fail(c, "greeting", line);
		imap_login(c);
		return true;
	}
	if (c->state == C_APPEND_CONT && len >= 1 && line[0] == '+') {
		client_send_ref(c, idle_msg, sizeof(idle_msg) - 1);
		client_printf(c, "%s", "");
		c->state = C_APPEND;
		return true;
	}
	if (c->state == C_FETCH_UID &&
	    imap_untagged_is(line, len, "FETCH", NULL) &&
	    idle_parse_uid(line, len, &idle.uid))
		return true;
	r = imap_tagged(c, line, len);
	if (r == 0)
		return true;
	if (r < 0)
		return imap_fail(c, "control command", line);
	switch ((enum imap_state)c->state) {
	case I_LOGIN:
		/* a fresh message without flags, the last of INBOX */
		imap_cmd(c, "APPEND INBOX {%zu}", sizeof(idle_msg) - 1);
		c->state = C_APPEND_CONT;
		break;
	case C_APPEND:
		imap_cmd(c, "SELECT INBOX");
		c->state = I_SELECT;
		break;
	case I_SELECT:
		imap_cmd(c, "FETCH * (UID)");
		c->state = C_FETCH_UID;
		break;
	case C_FETCH_UID:
		if (idle.uid == 0)
			return imap_fail(c, "FETCH * (UID)", line);
		c->state = C_READY;
		for (unsigned int i = 0; i < b->opt.conns; i++)
			idle_open_next(b);
		if (b->opt.count == 0)
			idle_next_or_ready(b);
		break;
	case C_STORE:
		c->state = C_READY;
		idle.sender_done = true;
		idle_check_round(b);
		return true;
	default:
		break;
	}
	return true;
}

static bool
idle_lmtp_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	unsigned int code = smtp_reply_code(line, len);
	char user[128];

	if (!smtp_reply_final(line, len))
		return true;
	switch ((enum imap_state)c->state) {
	case L_GREETING:
		if (code != 220)
			break;
		client_printf(c, "LHLO bench.test");
		c->state = L_LHLO;
		return true;
	case L_LHLO:
		if (code != 250)
			break;
		c->state = L_READY;
		idle.lmtp_ready = true;
		return true;
	case L_MAIL:
		if (code != 250)
			break;
		bench_user_name(b, b->opt.user_first, user, sizeof(user));
		client_printf(c, "RCPT TO:<%s@bench.test>", user);
		c->state = L_RCPT;
		return true;
	case L_RCPT:
		if (code != 250)
			break;
		client_printf(c, "DATA");
		c->state = L_DATA;
		return true;
	case L_DATA:
		if (code != 354)
			break;
		client_send_ref(c, idle_msg, sizeof(idle_msg) - 1);
		client_printf(c, ".");
		idle.t_send = bench_now();
		c->state = L_DOT;
		return true;
	case L_DOT:
		if (code != 250)
			break;
		c->state = L_READY;
		idle.sender_done = true;
		idle_check_round(b);
		return true;
	default:
		return true;
	}
	return imap_fail(c, "LMTP", line);
}

static bool
idle_line(struct client *c, const char *line, size_t len)
{
	switch ((enum imap_role)c->role) {
	case R_CONTROL:
		imap_literal(c, line, len);
		return idle_control_line(c, line, len);
	case R_LMTP:
		return idle_lmtp_line(c, line, len);
	case R_SESSION:
		break;
	}
	imap_literal(c, line, len);
	return idle_session_line(c, line, len);
}

static void
idle_closed(struct client *c, bool error)
{
	struct bench *b = c->b;

	if (error)
		b->errors++;
	switch ((enum imap_role)c->role) {
	case R_CONTROL:
		idle.ctl = NULL;
		if (idle.phase != PH_DONE)
			idle_finish(b);
		return;
	case R_LMTP:
		idle.lmtp = NULL;
		idle.lmtp_ready = false;
		return;
	case R_SESSION:
		break;
	}
	if (c->state == I_IDLING) {
		if (!c->quitting)
			b->ready--;
		return;
	}
	/* a failed login: go on with the next */
	idle_next_or_ready(b);
}

static void
idle_start(struct bench *b)
{
	idle.measured = b->opt.count < IMAP_PUSH_MEASURED ?
		b->opt.count : IMAP_PUSH_MEASURED;
	/* ids count..count+1 are the control and LMTP connections, outside
	   the timed range */
	idle.ctl = client_open(b, b->opt.count, b->opt.user_first);
	idle.ctl->role = R_CONTROL;
	if (b->opt.lmtp_port != 0) {
		idle.lmtp = client_open_port(b, b->opt.count + 1,
					     b->opt.user_first,
					     b->opt.lmtp_port);
		idle.lmtp->role = R_LMTP;
		idle.lmtp->state = L_GREETING;
	}
}

static void
idle_report(struct bench *b)
{
	bench_report_kv("ready", "%u", b->ready);
	bench_report_kv("measured", "%u", idle.measured);
	bench_report_rate(b, "logins_per_s");
	bench_report_lat("push_flag", idle.lat[0], idle.lat_n[0]);
	bench_report_kv("push_flag_missed", "%u", idle.missed[0]);
	bench_report_lat("push_new", idle.lat[1], idle.lat_n[1]);
	bench_report_kv("push_new_missed", "%u", idle.missed[1]);
	free(idle.lat[0]);
	free(idle.lat[1]);
}

const struct workload workload_imap_idle = {
	.name = "imap-idle",
	.summary = "--count sessions of --users users (in blocks) in IDLE; "
		   "push delay of UID STORE and of an LMTP delivery",
	.start = idle_start,
	.line = idle_line,
	.closed = idle_closed,
	.report = idle_report,
};
