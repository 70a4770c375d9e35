/* The IMAP workloads (RFC 9051, RFC 3501):

   imap-login   --count sessions, --conns at a time: LOGIN, SELECT INBOX,
                LOGOUT. Latency: connect to the tagged OK of LOGIN.
   imap-idle    one control session of user --user-first (it APPENDs a
                message if INBOX is empty and takes the UID of message
                1), then --count sessions of the same user, --conns
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
	char tag[24];
	int n = snprintf(tag, sizeof(tag), "t%u ", c->tag);

	if (n < 0 || len < (size_t)n + 2 || memcmp(line, tag, (size_t)n) != 0)
		return 0;
	return memcmp(line + n, "OK", 2) == 0 ? 1 : -1;
}

/* A line ending in "{n}" or "{n+}" announces n literal bytes. */
static void
imap_literal(struct client *c, const char *line, size_t len)
{
	const char *open;
	size_t end;
	uint64_t n;

	if (len < 3 || line[len - 1] != '}')
		return;
	end = len - 1;
	if (line[end - 1] == '+')
		end--;
	open = memrchr(line, '{', end);
	if (open == NULL)
		return;
	if (str_to_u64(open + 1, (size_t)(line + end - (open + 1)),
		       UINT32_MAX, &n) < 0)
		return;
	client_skip(c, n);
}

/* "* N WORD" with WORD at its end (EXISTS) or after it (FETCH). */
static bool __attribute__((unused))
imap_untagged_is(const char *line, size_t len, const char *word,
		 unsigned int *n_r)
{
	const char *p = line + 2, *end = line + len, *sp;
	size_t wlen = strlen(word);
	uint64_t n;

	if (len < 4 || line[0] != '*' || line[1] != ' ')
		return false;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || str_to_u64(p, (size_t)(sp - p), UINT32_MAX, &n) < 0)
		return false;
	sp++;
	if ((size_t)(end - sp) < wlen || memcmp(sp, word, wlen) != 0)
		return false;
	if (n_r != NULL)
		*n_r = (unsigned int)n;
	return true;
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

/* ---- imap-mixed, imap-large: not yet -------------------------------- */

const struct workload workload_imap_mixed = {
	.name = "imap-mixed",
	.summary = "IMAP client mix: SELECT, FETCH, STORE, APPEND, EXPUNGE "
		   "(not yet)",
};

const struct workload workload_imap_large = {
	.name = "imap-large",
	.summary = "SELECT and FETCH on a 100k-message mailbox (not yet)",
};

const struct workload workload_imap_idle = {
	.name = "imap-idle",
	.summary = "N sessions in IDLE, push delay of a delivery (not yet)",
};
