/* The POP3 workloads (RFC 1939):

   pop3         users user_first .. +users-1, all at once; each session:
                USER/PASS and STAT, then (once every session is there)
                RETR and DELE of every message, QUIT (where the server
                applies the deletions). The timed run starts when no
                session is still logging in (each is ready or has
                failed): the figure is the RETR+DELE+QUIT of
                logged-in sessions.
   pop3-login   --count sessions, --conns at a time: USER/PASS, QUIT.
                Latency: connect to the +OK of PASS.
   idle-memory  --count sessions logged in (--conns logins at a time) and
                then left idle until standard input ends or --hold
                passes; then QUIT. Prints "ready conns=N" when all are
                in, so that the caller can measure the server. */

#include "bench.h"

#include <stdio.h>
#include <string.h>

#include "lib/strnum.h"

enum pop3_state {
	P_GREETING = 0,
	P_USER,
	P_PASS,
	P_STAT,
	P_READY,
	P_RETR,
	P_RETR_BODY,
	P_DELE,
	P_IDLE,
	P_QUIT,
};

enum pop3_kind {
	POP3_RETRIEVE,
	POP3_LOGIN,
	POP3_IDLE,
};

static enum pop3_kind
pop3_kind(const struct bench *b)
{
	if (b->wl == &workload_pop3_login)
		return POP3_LOGIN;
	if (b->wl == &workload_idle_memory)
		return POP3_IDLE;
	return POP3_RETRIEVE;
}

/* The retrieve workload's start: the sessions log in and STAT first
   (the logins are measured by pop3-login). */
static struct bench_gate retr_gate;

static bool
pop3_ok(const char *line, size_t len)
{
	return len >= 3 && memcmp(line, "+OK", 3) == 0;
}

static bool
pop3_fail(struct client *c, const char *what, const char *line)
{
	fprintf(stderr, "quire-bench: pop3 connection %u (user %u): %s: "
		"%.200s\n", c->id, c->user, what, line);
	client_close(c, true);
	return false;
}

static void
pop3_quit(struct client *c)
{
	client_printf(c, "QUIT");
	c->quitting = true;
	c->state = P_QUIT;
}

/* Number of messages from "+OK nn mm" (RFC 1939 5: STAT). */
static int
pop3_stat_count(const char *line, size_t len, unsigned int *count_r)
{
	const char *p = line + 4, *end = line + len, *sp;
	uint64_t n;

	if (len < 5)
		return -1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || str_to_u64(p, (size_t)(sp - p), 10000000, &n) < 0)
		return -1;
	*count_r = (unsigned int)n;
	return 0;
}

static void
idle_maybe_ready(struct bench *b, unsigned int slot, unsigned int gen);

static void
pop3_retr_next(struct client *c)
{
	client_printf(c, "RETR %u", c->i);
	c->t1 = bench_now();
	c->state = P_RETR;
}

/* Starts every ready session's RETR loop once none is still logging in;
   the timed run begins here. */
static void
pop3_go(struct bench *b)
{
	struct client *c, *next;

	if (!bench_gate_open(b, &retr_gate, b->opt.users))
		return;
	for (c = b->clients; c != NULL; c = next) {
		next = c->next;
		if (c->state != P_READY)
			continue;
		c->i = 1;
		if (c->n == 0)
			pop3_quit(c);
		else
			pop3_retr_next(c);
	}
}

static bool
pop3_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	char user[128];

	switch ((enum pop3_state)c->state) {
	case P_GREETING:
		if (!pop3_ok(line, len))
			return pop3_fail(c, "greeting", line);
		bench_user_name(b, c->user, user, sizeof(user));
		client_printf(c, "USER %s", user);
		c->state = P_USER;
		return true;
	case P_USER:
		if (!pop3_ok(line, len))
			return pop3_fail(c, "USER", line);
		client_printf(c, "PASS %s", b->opt.password);
		c->state = P_PASS;
		return true;
	case P_PASS:
		if (!pop3_ok(line, len))
			return pop3_fail(c, "PASS", line);
		switch (pop3_kind(b)) {
		case POP3_RETRIEVE:
			client_printf(c, "STAT");
			c->state = P_STAT;
			break;
		case POP3_LOGIN:
			bench_latency(b, bench_now() - c->t0);
			b->ops++;
			pop3_quit(c);
			break;
		case POP3_IDLE:
			bench_latency(b, bench_now() - c->t0);
			b->ops++;
			b->ready++;
			c->state = P_IDLE;
			idle_maybe_ready(b, c->slot, c->gen + 1);
			break;
		}
		return true;
	case P_STAT:
		if (!pop3_ok(line, len) ||
		    pop3_stat_count(line, len, &c->n) < 0)
			return pop3_fail(c, "STAT", line);
		c->state = P_READY;
		retr_gate.ready++;
		pop3_go(b);
		return true;
	case P_RETR:
		if (!pop3_ok(line, len))
			return pop3_fail(c, "RETR", line);
		client_body_begin(c);
		c->state = P_RETR_BODY;
		return true;
	case P_DELE:
		if (!pop3_ok(line, len))
			return pop3_fail(c, "DELE", line);
		if (++c->i > c->n || b->stopping) {
			pop3_quit(c);
			return true;
		}
		pop3_retr_next(c);
		return true;
	case P_QUIT:
		client_close(c, !pop3_ok(line, len));
		return false;
	case P_READY:
	case P_RETR_BODY:
	case P_IDLE:
		break;
	}
	return true;
}

static bool
pop3_body_end(struct client *c)
{
	struct bench *b = c->b;

	b->ops++;
	b->bytes += c->body_bytes;
	bench_latency(b, bench_now() - c->t1);
	client_printf(c, "DELE %u", c->i);
	c->state = P_DELE;
	return true;
}

/* Starts the next connection. For the login workloads, connections run
   in --conns slots; the g-th session of slot s takes user
   (s + g * conns) % users. With users a multiple of conns, two sessions
   open at once never share a user (a POP3 server may lock the maildrop
   for the whole session, RFC 1939 8, and a moment after its QUIT reply),
   and with users >= 2 * conns a slot changes user every session.
   idle-memory sessions never end, so it needs users >= count. */
static void
pop3_open_next(struct bench *b, unsigned int slot, unsigned int gen)
{
	struct client *c;
	unsigned long long u;

	if (b->stopping)
		return;
	switch (pop3_kind(b)) {
	case POP3_RETRIEVE:
		if (b->next >= b->opt.users)
			return;
		client_open(b, b->next, b->opt.user_first + b->next);
		break;
	case POP3_IDLE:
		/* sessions stay open: session k takes user k % users */
		if (b->next >= b->opt.count)
			return;
		client_open(b, b->next,
			    b->opt.user_first + b->next % b->opt.users);
		break;
	case POP3_LOGIN:
		if (b->next >= b->opt.count)
			return;
		u = ((unsigned long long)slot +
		     (unsigned long long)gen * b->opt.conns) % b->opt.users;
		c = client_open(b, b->next,
				b->opt.user_first + (unsigned int)u);
		c->slot = slot;
		c->gen = gen;
		break;
	}
	b->next++;
}

static void
pop3_closed(struct client *c, bool error)
{
	struct bench *b = c->b;

	if (error)
		b->errors++;
	if (pop3_kind(b) == POP3_IDLE) {
		if (c->state == P_IDLE || c->state == P_QUIT) {
			/* an idle session lost before the end */
			if (!c->quitting)
				b->ready--;
			return;
		}
		/* a failed login: try the next one so that the count of
		   ready sessions can still be reached or the loop ends */
		idle_maybe_ready(b, c->slot, c->gen + 1);
		return;
	}
	if (pop3_kind(b) == POP3_RETRIEVE) {
		if (!retr_gate.open && c->state != P_READY) {
			/* gone before it was ready: not waited for */
			retr_gate.failed++;
			pop3_go(b);
		}
		return;
	}
	pop3_open_next(b, c->slot, c->gen + 1);
}

static void
pop3_start(struct bench *b)
{
	unsigned int n = b->opt.conns;

	if (pop3_kind(b) == POP3_RETRIEVE)
		n = b->opt.conns = b->opt.users;
	for (unsigned int i = 0; i < n; i++)
		pop3_open_next(b, i, 0);
}

static void
idle_stop(struct bench *b)
{
	for (struct client *c = b->clients; c != NULL; c = c->next) {
		if (c->state == P_IDLE)
			pop3_quit(c);
	}
}

/* Opens the next login, and once every session is in (or no more can be
   started) announces it and waits for the caller. */
static void
idle_maybe_ready(struct bench *b, unsigned int slot, unsigned int gen)
{
	if (b->next < b->opt.count && !b->stopping) {
		pop3_open_next(b, slot, gen);
		return;
	}
	if (b->hold_stop != NULL || b->stopping)
		return;
	/* every login has been started; wait for the last ones */
	for (struct client *c = b->clients; c != NULL; c = c->next) {
		if (c->state != P_IDLE)
			return;
	}
	printf("ready conns=%u\n", b->ready);
	fflush(stdout);
	b->t_end = bench_now();
	bench_hold(b, idle_stop);
}

static void
pop3_report(struct bench *b)
{
	bench_report_rate(b, "msgs_per_s");
	bench_gate_report(&retr_gate);
}

static void
login_report(struct bench *b)
{
	bench_report_rate(b, "logins_per_s");
}

static void
idle_report(struct bench *b)
{
	bench_report_kv("ready", "%u", b->ready);
	bench_report_rate(b, "logins_per_s");
}

const struct workload workload_pop3 = {
	.name = "pop3",
	.summary = "--users sessions at once: USER/PASS, STAT; then "
		   "together RETR+DELE all, QUIT",
	.start = pop3_start,
	.line = pop3_line,
	.body_end = pop3_body_end,
	.closed = pop3_closed,
	.report = pop3_report,
};

const struct workload workload_pop3_login = {
	.name = "pop3-login",
	.summary = "--count POP3 USER/PASS/QUIT sessions, --conns at once",
	.start = pop3_start,
	.line = pop3_line,
	.closed = pop3_closed,
	.report = login_report,
};

const struct workload workload_idle_memory = {
	.name = "idle-memory",
	.summary = "hold --count logged-in idle POP3 sessions until stdin "
		   "ends",
	.start = pop3_start,
	.line = pop3_line,
	.closed = pop3_closed,
	.report = idle_report,
};
