#ifndef QUIRE_BENCH_H
#define QUIRE_BENCH_H

/* quire-bench: a load generator for mail servers. One process, one
   libevent loop, many connections; each connection is a small state
   machine driven by the lines the server sends. A workload (a row of the
   table in quire-bench.c) decides which connections to open and what
   each one says; the core here handles connecting, TLS, line splitting,
   multi-line bodies, counters, latencies, the deadline and the report.

   The program speaks only to the address given on the command line
   (127.0.0.1 by default) and always stops by itself: every workload has a
   bounded number of operations and the run has a deadline. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

struct bench;
struct client;
struct msg_pool;

struct bench_options {
	const char *host;	/* IPv4 literal; default 127.0.0.1 */
	unsigned int port;
	bool tls;		/* implicit TLS from the first byte */
	bool nagle;		/* leave Nagle on (default: TCP_NODELAY) */
	const char *user_fmt;	/* printf format with one %u; "user%u" */
	const char *password;
	unsigned int user_first; /* users user_first .. +users-1 */
	unsigned int users;
	unsigned int conns;	/* connections open at once */
	unsigned int count;	/* per-workload: messages per conn, logins... */
	unsigned int rcpts;	/* LMTP recipients per message */
	unsigned int lmtp_port;	/* imap-idle: where to deliver new mail */
	unsigned int rounds;	/* imap-idle: push rounds */
	unsigned int batch;	/* imap-large: messages per MULTIAPPEND */
	bool fill_only;		/* imap-large: fill, time nothing */
	size_t size;		/* LMTP mean message size in bytes */
	uint64_t seed;
	unsigned int timeout_secs; /* the whole run */
	unsigned int hold_secs;	/* idle-memory: longest hold */
	const char *label;	/* copied into the report line */
};

/* What a workload does. Handlers are called by the core; a handler that
   closes its client (client_close) must return false. */
struct workload {
	const char *name;
	const char *summary;
	/* Opens the first connections. NULL: workload not available yet. */
	void (*start)(struct bench *b);
	/* One complete line from the server, without its CRLF. */
	bool (*line)(struct client *c, const char *line, size_t len);
	/* The end of a multi-line body started by client_body_begin(). */
	bool (*body_end)(struct client *c);
	/* The output buffer emptied (everything handed to the kernel). */
	void (*drained)(struct client *c);
	/* The connection is gone (closed by us or by the server). */
	void (*closed)(struct client *c, bool error);
	/* Appends its figures to the report line. */
	void (*report)(struct bench *b);
};

struct bench {
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	const struct workload *wl;
	struct bench_options opt;
	struct msg_pool *pool;

	/* counters, kept by the workloads */
	uint64_t ops;		/* messages delivered / retrieved, logins */
	uint64_t bytes;		/* body bytes received or sent */
	uint64_t errors;
	uint64_t started;	/* connections started */
	unsigned int active;	/* connections open now */
	unsigned int next;	/* next connection index to start */
	unsigned int ready;	/* idle-memory: connections logged in */
	bool stopping;		/* deadline hit or the script said stop */
	bool timed_out;

	double *lat;		/* latencies in seconds, lat_count used */
	size_t lat_count, lat_size;

	struct client *clients;	/* every open connection */
	struct sockaddr_in *addr;
	double t_start, t_end;
	struct event *deadline_ev;
	struct event *stdin_ev;
	struct event *hold_ev;
	void (*hold_stop)(struct bench *b);
};

/* Body-scanner states (RFC 1939 3 multi-line responses). BODY_NONE: not
   in a body; a body starts at BODY_LINE_START. */
enum body_state {
	BODY_NONE = 0,
	BODY_LINE_START,
	BODY_MID,
	BODY_DOT,
	BODY_DOT_CR,
};

struct client {
	struct bench *b;
	struct client *prev, *next;
	struct bufferevent *bev;
	unsigned int id;	/* connection index */
	unsigned int user;	/* user number */
	unsigned int slot, gen;	/* login workloads: slot, session in it */
	int state;		/* the workload's own */
	enum body_state body;
	bool quitting;		/* we sent QUIT: the close is expected */
	bool closed;
	uint64_t body_bytes;

	/* workload scratch */
	unsigned int n, i, pending, accepted;
	double t0, t1;
	bool t1_set;

	/* IMAP (bench-imap.c): literal bytes still to skip before the next
	   line (the core drains them), the workload's role of this
	   connection and the number of its last tag */
	uint64_t skip;
	int role;
	unsigned int tag;
};

/* Monotonic time in seconds. */
double bench_now(void);

/* Starts a connection to opt.host:opt.port (TLS when opt.tls). The
   client is owned by the core and freed after workload->closed. */
struct client *client_open(struct bench *b, unsigned int id,
			   unsigned int user);
/* The same to another port of opt.host, without TLS (imap-idle's LMTP
   delivery). */
struct client *client_open_port(struct bench *b, unsigned int id,
				unsigned int user, unsigned int port);
/* The next n bytes from the server are skipped (an IMAP literal); lines
   resume after them. They count in c->body_bytes. */
void client_skip(struct client *c, uint64_t n);
/* Closes the connection; calls workload->closed once. */
void client_close(struct client *c, bool error);
/* Queues a formatted line; CRLF is added. */
void client_printf(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Queues bytes that stay valid for the whole run (no copy). */
void client_send_ref(struct client *c, const void *data, size_t len);
/* The next bytes are a dot-terminated body; workload->body_end follows. */
void client_body_begin(struct client *c);
/* Formats user number n with opt.user_fmt into buf. */
void bench_user_name(const struct bench *b, unsigned int n, char *buf,
		     size_t size);

/* Watches standard input: at its end (or after opt.hold_secs) `stop` is
   called once. */
void bench_hold(struct bench *b, void (*stop)(struct bench *b));

/* A start gate for workloads of persistent sessions: the sessions log
   in first, and their timed loops start together once none is still
   logging in (each is ready or has failed), so that connects and
   password checks (a fixed cost that weighs more against the faster
   server) stay out of the time. */
struct bench_gate {
	unsigned int ready, failed;
	bool open;
	double login_secs; /* from the start of the run to the opening */
};
/* True once, when ready + failed has reached n and the run is not
   stopping (the deadline closes every connection): the timed run starts
   now (b->t_start moves here). */
bool bench_gate_open(struct bench *b, struct bench_gate *gate,
		     unsigned int n);
/* Appends login_secs, if the gate opened. */
void bench_gate_report(const struct bench_gate *gate);

/* Records one latency sample (seconds). */
void bench_latency(struct bench *b, double secs);
/* Stops the loop once no connection is left. */
void bench_check_done(struct bench *b);
/* Prints a figure to the report line (" key=value"). */
void bench_report_kv(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends count, rate and p50/p99 of the latencies. */
void bench_report_rate(struct bench *b, const char *rate_key);
/* Sorts lat[0..n) and appends PREFIX_p50_ms and PREFIX_p99_ms. */
void bench_report_lat(const char *prefix, double *lat, size_t n);

/* True when a reply line of an SMTP-like protocol is the last one of its
   reply ("250 ..." rather than "250-..."). */
bool smtp_reply_final(const char *line, size_t len);
/* Its three-digit code, or 0. */
unsigned int smtp_reply_code(const char *line, size_t len);

/* Scans len bytes of a dot-terminated multi-line body (RFC 1939 3) with
   the scanner state in *state, which carries over between calls, so the
   body may be fed in pieces of any size. Returns true when the
   terminating "." line ended within these bytes (then *state is
   BODY_NONE and *used_r counts the bytes up to and including its LF);
   false when all len bytes belong to the body (*used_r = len). Pure: no
   I/O, no allocation. */
bool bench_body_scan(enum body_state *state, const uint8_t *p, size_t len,
		     size_t *used_r);

/* IMAP lines (RFC 9051 4.3, 7): true when the line ends in a literal
   announcement "{n}" or "{n+}"; *n_r is n. */
bool bench_imap_literal(const char *line, size_t len, uint64_t *n_r);
/* True when the line is "* N WORD" or "* N WORD ..." (EXISTS, FETCH);
   *n_r (may be NULL) is N. */
bool bench_imap_untagged(const char *line, size_t len, const char *word,
			 unsigned int *n_r);

/* True when the line is an untagged CAPABILITY response (RFC 9051
   7.2.2) that lists cap (compared without case, whole words only). */
bool bench_imap_capability(const char *line, size_t len, const char *cap);

/* Out of memory aborts. */
void *bench_xmalloc(size_t size);
void *bench_xcalloc(size_t n, size_t size);

extern const struct workload workload_lmtp;
extern const struct workload workload_pop3;
extern const struct workload workload_pop3_login;
extern const struct workload workload_idle_memory;
extern const struct workload workload_imap_login;
extern const struct workload workload_imap_idle;
extern const struct workload workload_imap_mixed;
extern const struct workload workload_imap_large;

#endif
