/* lmtp: --conns connections, each delivering --count messages of the
   generated corpus, one transaction at a time (MAIL, RCPT and DATA sent
   together, as PIPELINING allows, RFC 2920). Message g goes to users
   (g * rcpts + r) % users for r < rcpts. The latency of a delivery is
   the time from the final dot leaving our buffer to the recipient's
   reply (RFC 2033 4.2: one reply per accepted recipient). */

#include "bench.h"
#include "bench-msg.h"

#include <stdio.h>
#include <string.h>

enum lmtp_state {
	L_GREETING = 0,
	L_LHLO,
	L_TXN,		/* replies to MAIL, RCPT..., DATA */
	L_DATA,		/* replies after the final dot */
	L_QUIT,
};

/* c->i: messages finished on this connection; c->pending: replies still
   expected in this state (in L_TXN: an RSET's, before the MAIL reply);
   c->accepted: recipients given a 250 at RCPT; c->n: index of the next
   reply in L_TXN. */

static void
lmtp_next_txn(struct client *c)
{
	struct bench *b = c->b;
	char user[128];
	unsigned int g;

	if (c->i >= b->opt.count || b->stopping) {
		client_printf(c, "QUIT");
		c->quitting = true;
		c->state = L_QUIT;
		return;
	}
	g = c->id * b->opt.count + c->i;
	client_printf(c, "MAIL FROM:<bench%u@example.org> BODY=8BITMIME",
		      g % 97);
	for (unsigned int r = 0; r < b->opt.rcpts; r++) {
		unsigned int u = (unsigned int)(((unsigned long long)g *
						 b->opt.rcpts + r) %
						b->opt.users);

		bench_user_name(b, b->opt.user_first + u, user, sizeof(user));
		client_printf(c, "RCPT TO:<%s@bench.test>", user);
	}
	client_printf(c, "DATA");
	c->state = L_TXN;
	c->n = 0;
	c->accepted = 0;
}

static bool
lmtp_fail(struct client *c, const char *what, const char *line)
{
	fprintf(stderr, "quire-bench: lmtp connection %u: %s: %s\n",
		c->id, what, line);
	client_close(c, true);
	return false;
}

static bool
lmtp_line(struct client *c, const char *line, size_t len)
{
	struct bench *b = c->b;
	unsigned int code = smtp_reply_code(line, len);
	size_t size;
	const uint8_t *msg;

	if (!smtp_reply_final(line, len))
		return true;
	switch ((enum lmtp_state)c->state) {
	case L_GREETING:
		if (code != 220)
			return lmtp_fail(c, "greeting", line);
		client_printf(c, "LHLO bench.test");
		c->state = L_LHLO;
		return true;
	case L_LHLO:
		if (code != 250)
			return lmtp_fail(c, "LHLO", line);
		lmtp_next_txn(c);
		return true;
	case L_TXN:
		if (c->pending > 0) {
			c->pending--;
			if (code != 250)
				return lmtp_fail(c, "RSET", line);
			return true;
		}
		c->n++;
		if (c->n == 1) {
			if (code != 250)
				return lmtp_fail(c, "MAIL", line);
			return true;
		}
		if (c->n <= 1 + b->opt.rcpts) {
			if (code == 250)
				c->accepted++;
			else {
				fprintf(stderr, "quire-bench: RCPT: %s\n",
					line);
				b->errors++;
			}
			return true;
		}
		/* the DATA reply */
		if (code != 354) {
			if (c->accepted > 0)
				return lmtp_fail(c, "DATA", line);
			/* Every recipient refused: the MAIL stays in effect
			   (RFC 5321 4.1.1.4), so the next one needs an RSET. */
			c->i++;
			if (c->i < b->opt.count && !b->stopping)
				client_printf(c, "RSET");
			lmtp_next_txn(c);
			if (c->state == L_TXN)
				c->pending = 1;
			return true;
		}
		client_printf(c, "Message-ID: <bench.%llu.%u.%u@bench.test>",
			      (unsigned long long)b->opt.seed, c->id, c->i);
		msg = msg_pool_get(b->pool, c->id * b->opt.count + c->i,
				   &size);
		client_send_ref(c, msg, size);
		c->t1 = bench_now();
		c->t1_set = false;
		c->pending = c->accepted;
		c->state = L_DATA;
		return true;
	case L_DATA:
		if (!c->t1_set) {
			/* the reply came before the drained callback ran */
			c->t1_set = true;
		}
		bench_latency(b, bench_now() - c->t1);
		if (code == 250) {
			msg_pool_get(b->pool, c->id * b->opt.count + c->i,
				     &size);
			b->ops++;
			b->bytes += size;
		} else {
			fprintf(stderr, "quire-bench: delivery: %s\n", line);
			b->errors++;
		}
		if (--c->pending == 0) {
			c->i++;
			lmtp_next_txn(c);
		}
		return true;
	case L_QUIT:
		client_close(c, code != 221);
		return false;
	}
	return true;
}

/* The final dot has left our buffer: the delivery's clock starts. */
static void
lmtp_drained(struct client *c)
{
	if (c->state == L_DATA && !c->t1_set) {
		c->t1 = bench_now();
		c->t1_set = true;
	}
}

static void
lmtp_closed(struct client *c, bool error)
{
	if (error)
		c->b->errors++;
}

static void
lmtp_start(struct bench *b)
{
	for (unsigned int i = 0; i < b->opt.conns; i++)
		client_open(b, i, 0);
}

static void
lmtp_report(struct bench *b)
{
	bench_report_rate(b, "msgs_per_s");
	bench_report_kv("corpus_mean_bytes", "%llu",
			(unsigned long long)(msg_pool_total(b->pool) /
					     msg_pool_count(b->pool)));
}

const struct workload workload_lmtp = {
	.name = "lmtp",
	.summary = "deliver --count messages on each of --conns LMTP "
		   "connections",
	.start = lmtp_start,
	.line = lmtp_line,
	.drained = lmtp_drained,
	.closed = lmtp_closed,
	.report = lmtp_report,
};
