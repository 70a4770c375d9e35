/* quire-bench: the load generator behind `make bench`. See bench.h for
   the model and bench/run-bench for how it is driven.

   Output: exactly one report line on standard output,
     workload=NAME label=L port=P tls=0 conns=C ok=N errors=E secs=S
     timeout=0 <workload figures as key=value>
   plus, for idle-memory, a line "ready conns=N" once every connection
   is logged in. Diagnostics go to standard error. */

#include "bench.h"
#include "bench-large.h"
#include "bench-msg.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "lib/strnum.h"

static const struct workload *const workloads[] = {
	&workload_lmtp,
	&workload_pop3,
	&workload_pop3_login,
	&workload_idle_memory,
	&workload_imap_mixed,
	&workload_imap_login,
	&workload_imap_idle,
	&workload_imap_large,
};
#define N_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
bench_user_name(const struct bench *b, unsigned int n, char *buf,
		size_t size)
{
	/* the format is checked in main() to hold exactly one %u */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(buf, size, b->opt.user_fmt, n);
#pragma GCC diagnostic pop
}

bool
smtp_reply_final(const char *line, size_t len)
{
	return len == 3 || (len > 3 && line[3] == ' ');
}

unsigned int
smtp_reply_code(const char *line, size_t len)
{
	uint64_t code;

	if (len < 3 || str_to_u64(line, 3, 999, &code) < 0)
		return 0;
	return (unsigned int)code;
}

void
bench_latency(struct bench *b, double secs)
{
	if (b->lat_count == b->lat_size) {
		size_t size = b->lat_size == 0 ? 1024 : b->lat_size * 2;

		b->lat = realloc(b->lat, size * sizeof(*b->lat));
		if (b->lat == NULL)
			abort();
		b->lat_size = size;
	}
	b->lat[b->lat_count++] = secs;
}

static void
client_unlink(struct client *c)
{
	struct bench *b = c->b;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		b->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
}

void
client_close(struct client *c, bool error)
{
	struct bench *b = c->b;

	if (c->closed)
		return;
	c->closed = true;
	client_unlink(c);
	bufferevent_free(c->bev);
	c->bev = NULL;
	b->active--;
	if (b->wl->closed != NULL)
		b->wl->closed(c, error);
	else if (error)
		b->errors++;
	free(c);
	bench_check_done(b);
}

void
client_printf(struct client *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list args;

	va_start(args, fmt);
	evbuffer_add_vprintf(out, fmt, args);
	va_end(args);
	evbuffer_add(out, "\r\n", 2);
}

void
client_send_ref(struct client *c, const void *data, size_t len)
{
	evbuffer_add_reference(bufferevent_get_output(c->bev), data, len,
			       NULL, NULL);
}

void
client_body_begin(struct client *c)
{
	c->body = BODY_LINE_START;
	c->body_bytes = 0;
}

/* Consumes body bytes up to and including the terminating "." line
   (RFC 1939 3), straight from the evbuffer's chunks: lines are never
   copied. Returns true when the body ended. */
static bool
client_body_consume(struct client *c, struct evbuffer *in)
{
	struct evbuffer_iovec v[32];
	int n = evbuffer_peek(in, -1, NULL, v, 32);
	size_t used = 0;
	bool done = false;

	if (n > 32)
		n = 32;
	for (int k = 0; k < n && !done; k++) {
		size_t part;

		done = bench_body_scan(&c->body, v[k].iov_base, v[k].iov_len,
				       &part);
		used += part;
	}
	c->body_bytes += used;
	evbuffer_drain(in, used);
	return done;
}

/* Longest line taken from a server. */
#define LINE_MAX_BYTES (64 * 1024)
/* Where each line is handed to the workload (one process, one thread). */
static char *line_buf;
static size_t line_buf_size;

static void
client_read_cb(struct bufferevent *bev, void *context)
{
	struct client *c = context;
	const struct workload *wl = c->b->wl;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		char *line;
		size_t len;
		bool alive;

		if (c->skip > 0) {
			size_t avail = evbuffer_get_length(in);
			size_t n = avail < c->skip ? avail : (size_t)c->skip;

			evbuffer_drain(in, n);
			c->skip -= n;
			c->body_bytes += n;
			if (c->skip > 0)
				return;
			continue;
		}
		if (c->body != BODY_NONE) {
			if (!client_body_consume(c, in))
				return;
			if (!wl->body_end(c))
				return;
			continue;
		}
		/* The line is copied into one buffer kept for all
		   (evbuffer_readln() would malloc one per line; a FETCH
		   of 100,000 messages has as many lines). */
		size_t eol_len;
		struct evbuffer_ptr eol =
			evbuffer_search_eol(in, NULL, &eol_len,
					    EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > LINE_MAX_BYTES) {
				fprintf(stderr, "quire-bench: line too long "
					"from server\n");
				client_close(c, true);
			}
			return;
		}
		len = (size_t)eol.pos;
		if (len >= line_buf_size) {
			free(line_buf);
			line_buf_size = len + 1 > 4096 ? len + 1 : 4096;
			line_buf = malloc(line_buf_size);
			if (line_buf == NULL)
				abort();
		}
		line = line_buf;
		if (evbuffer_remove(in, line, len) != (int)len)
			abort();
		line[len] = '\0';
		evbuffer_drain(in, eol_len);
		alive = wl->line(c, line, len);
		if (!alive)
			return;
	}
}

static void
client_write_cb(struct bufferevent *bev, void *context)
{
	struct client *c = context;

	if (c->b->wl->drained != NULL)
		c->b->wl->drained(c);
}

static void
client_event_cb(struct bufferevent *bev, short events, void *context)
{
	struct client *c = context;

	if ((events & BEV_EVENT_CONNECTED) != 0)
		return;
	if ((events & (BEV_EVENT_EOF | BEV_EVENT_ERROR |
		       BEV_EVENT_TIMEOUT)) != 0) {
		if (!c->quitting) {
			unsigned long e = bufferevent_get_openssl_error(bev);

			fprintf(stderr, "quire-bench: connection %u: %s%s%s\n",
				c->id,
				(events & BEV_EVENT_EOF) != 0 ? "closed by server" :
				(events & BEV_EVENT_TIMEOUT) != 0 ? "timeout" :
				strerror(EVUTIL_SOCKET_ERROR()),
				e != 0 ? ", TLS: " : "",
				e != 0 ? ERR_reason_error_string(e) : "");
		}
		client_close(c, !c->quitting);
	}
}

static void
client_fail_later_cb(evutil_socket_t fd, short what, void *context)
{
	client_close(context, true);
}

void
client_skip(struct client *c, uint64_t n)
{
	c->skip += n;
}

static struct client *
client_open_addr(struct bench *b, unsigned int id, unsigned int user,
		 const struct sockaddr_in *addr, bool tls)
{
	struct client *c = bench_xcalloc(1, sizeof(*c));
	struct bufferevent *bev;

	c->b = b;
	c->id = id;
	c->user = user;
	if (tls) {
		SSL *ssl = SSL_new(b->ssl_ctx);

		if (ssl == NULL)
			abort();
		bev = bufferevent_openssl_socket_new(b->base, -1, ssl,
			BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(b->base, -1,
					     BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL)
		abort();
	c->bev = bev;
	bufferevent_setcb(bev, client_read_cb, client_write_cb,
			  client_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	c->next = b->clients;
	if (b->clients != NULL)
		b->clients->prev = c;
	b->clients = c;
	b->active++;
	b->started++;
	c->t0 = bench_now();
	if (bufferevent_socket_connect(bev, (const struct sockaddr *)addr,
				       sizeof(*addr)) < 0) {
		/* reported from the loop, so that a workload that opens the
		   next connection from `closed` does not recurse */
		fprintf(stderr, "quire-bench: connect: %s\n",
			strerror(errno));
		event_base_once(b->base, -1, EV_TIMEOUT, client_fail_later_cb,
				c, NULL);
	} else if (!b->opt.nagle) {
		/* a client that writes a whole command or message at once
		   gains nothing from Nagle; with it, the tail of a message
		   can wait for the server's delayed ACK and the benchmark
		   would measure the ACK timer */
		int one = 1;

		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
				 TCP_NODELAY, &one, sizeof(one));
	}
	return c;
}

struct client *
client_open(struct bench *b, unsigned int id, unsigned int user)
{
	return client_open_addr(b, id, user, b->addr, b->opt.tls);
}

struct client *
client_open_port(struct bench *b, unsigned int id, unsigned int user,
		 unsigned int port)
{
	struct sockaddr_in addr = *b->addr;

	addr.sin_port = htons((uint16_t)port);
	return client_open_addr(b, id, user, &addr, false);
}

void
bench_check_done(struct bench *b)
{
	if (b->active > 0)
		return;
	if (b->t_end == 0)
		b->t_end = bench_now();
	event_base_loopexit(b->base, NULL);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *context)
{
	struct bench *b = context;

	fprintf(stderr, "quire-bench: deadline reached with %u connections "
		"open\n", b->active);
	b->stopping = true;
	b->timed_out = true;
	b->t_end = bench_now();
	while (b->clients != NULL)
		client_close(b->clients, false);
	event_base_loopexit(b->base, NULL);
}

static void
hold_end(struct bench *b)
{
	if (b->hold_stop == NULL)
		return;
	if (b->stdin_ev != NULL)
		event_del(b->stdin_ev);
	if (b->hold_ev != NULL)
		event_del(b->hold_ev);
	b->stopping = true;
	b->hold_stop(b);
	b->hold_stop = NULL;
}

static void
stdin_cb(evutil_socket_t fd, short what, void *context)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0 || memchr(buf, '\n', (size_t)n) != NULL)
		hold_end(context);
}

static void
hold_timeout_cb(evutil_socket_t fd, short what, void *context)
{
	fprintf(stderr, "quire-bench: hold time over\n");
	hold_end(context);
}

void
bench_hold(struct bench *b, void (*stop)(struct bench *b))
{
	struct timeval tv = { .tv_sec = b->opt.hold_secs };

	b->hold_stop = stop;
	b->stdin_ev = event_new(b->base, STDIN_FILENO, EV_READ | EV_PERSIST,
				stdin_cb, b);
	event_add(b->stdin_ev, NULL);
	b->hold_ev = evtimer_new(b->base, hold_timeout_cb, b);
	evtimer_add(b->hold_ev, &tv);
}

bool
bench_gate_open(struct bench *b, struct bench_gate *gate, unsigned int n)
{
	if (gate->open || b->stopping || gate->ready + gate->failed < n)
		return false;
	gate->open = true;
	gate->login_secs = bench_now() - b->t_start;
	b->t_start += gate->login_secs;
	return true;
}

void
bench_gate_report(const struct bench_gate *gate)
{
	if (gate->open)
		bench_report_kv("login_secs", "%.3f", gate->login_secs);
}

void
bench_report_kv(const char *key, const char *fmt, ...)
{
	va_list args;

	printf(" %s=", key);
	va_start(args, fmt);
	vprintf(fmt, args);
	va_end(args);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static double
percentile(const double *sorted, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p * (double)n);
	if (k == 0)
		k = 1;
	return sorted[k - 1];
}

void
bench_report_rate(struct bench *b, const char *rate_key)
{
	double secs = b->t_end - b->t_start;

	if (secs <= 0)
		secs = 1e-9;
	bench_report_kv(rate_key, "%.1f", (double)b->ops / secs);
	if (b->bytes > 0)
		bench_report_kv("mb_per_s", "%.2f",
				(double)b->bytes / secs / 1e6);
	if (b->lat_count > 0) {
		qsort(b->lat, b->lat_count, sizeof(*b->lat), cmp_double);
		bench_report_kv("p50_ms", "%.2f",
				percentile(b->lat, b->lat_count, 0.50) * 1e3);
		bench_report_kv("p99_ms", "%.2f",
				percentile(b->lat, b->lat_count, 0.99) * 1e3);
	}
}

void
bench_report_lat(const char *prefix, double *lat, size_t n)
{
	char key[64];

	if (n == 0)
		return;
	qsort(lat, n, sizeof(*lat), cmp_double);
	snprintf(key, sizeof(key), "%s_p50_ms", prefix);
	bench_report_kv(key, "%.2f", percentile(lat, n, 0.50) * 1e3);
	snprintf(key, sizeof(key), "%s_p99_ms", prefix);
	bench_report_kv(key, "%.2f", percentile(lat, n, 0.99) * 1e3);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: quire-bench WORKLOAD [options]\n"
"  --host ADDR        IPv4 address (default 127.0.0.1)\n"
"  --port N           server port (required)\n"
"  --tls              implicit TLS\n"
"  --users N          number of users (default 10)\n"
"  --user-first N     first user number (default 0)\n"
"  --user-fmt FMT     user name format with one %%u (default user%%u)\n"
"  --password PW      password of every user (default bench)\n"
"  --conns N          connections at once (default 4)\n"
"  --count N          lmtp: messages per connection; pop3-login: logins;\n"
"                     idle-memory: connections to hold (default 100)\n"
"  --rcpts N          lmtp: recipients per message (default 1)\n"
"  --lmtp-port N      imap-idle: LMTP port for the new-mail push test\n"
"  --rounds N         imap-idle: flag-push rounds (default 10)\n"
"  --batch N          imap-large: messages per MULTIAPPEND when the server\n"
"                     has it (default 100; 1: one APPEND per message)\n"
"  --fill-only        imap-large: fill the mailbox, time nothing\n"
"  --size BYTES       lmtp: mean message size (default 16384; sizes\n"
"                     log-uniform from a tenth of it to four times it)\n"
"  --size-max BYTES   lmtp: sizes log-uniform from --size to this\n"
"  --pool N           lmtp: distinct generated messages (default 64)\n"
"  --seed N           corpus seed (default 1)\n"
"  --timeout SECS     end the run after this long (default 300)\n"
"  --hold SECS        idle-memory: longest hold (default 60)\n"
"  --label TEXT       copied to the report line\n"
"  --nagle            keep Nagle's algorithm on (default: TCP_NODELAY)\n"
"       quire-bench large-msg K\n"
"                     print imap-large's message K (CRLF)\n"
"       quire-bench large-maildir DIR COUNT\n"
"                     write imap-large's messages 0..COUNT-1 into the\n"
"                     Maildir DIR (what the other server gets by APPEND)\n"
"workloads:\n");
	for (size_t i = 0; i < N_WORKLOADS; i++)
		fprintf(f, "  %-12s %s\n", workloads[i]->name,
			workloads[i]->summary);
}

static unsigned int
opt_uint(const char *name, const char *value, uint64_t max)
{
	uint64_t n;

	if (str_to_u64z(value, max, &n) < 0) {
		fprintf(stderr, "quire-bench: bad --%s: %s\n", name, value);
		exit(2);
	}
	return (unsigned int)n;
}

/* The user format goes to snprintf: allow exactly one %u and no other
   conversion. */
static bool
user_fmt_valid(const char *fmt)
{
	unsigned int n = 0;

	for (const char *p = fmt; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		if (p[1] != 'u')
			return false;
		n++;
	}
	return n == 1;
}

/* The subcommands that write imap-large's messages instead of sending
   them; 0, 1 on a failure, 2 on bad arguments, -1 when argv names none. */
static int
large_subcommand(int argc, char **argv)
{
	char msg[BENCH_LARGE_MSG_MAX];
	const char *error;
	uint64_t n;
	size_t len;

	if (argc == 3 && strcmp(argv[1], "large-msg") == 0) {
		if (str_to_u64z(argv[2], UINT32_MAX, &n) < 0) {
			fprintf(stderr, "quire-bench: bad K: %s\n", argv[2]);
			return 2;
		}
		len = bench_large_msg((unsigned int)n, msg, sizeof(msg));
		if (fwrite(msg, 1, len, stdout) != len || fflush(stdout) != 0)
			return 1;
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "large-maildir") == 0) {
		if (str_to_u64z(argv[3], 10000000, &n) < 0) {
			fprintf(stderr, "quire-bench: bad COUNT: %s\n",
				argv[3]);
			return 2;
		}
		if (bench_large_maildir(argv[2], 0, (unsigned int)n,
					&error) < 0) {
			fprintf(stderr, "quire-bench: %s\n", error);
			return 1;
		}
		/* one sync of that file system for all the files, so that
		   their writeback does not run into the timed commands */
		int fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || syncfs(fd) < 0) {
			fprintf(stderr, "quire-bench: syncfs(%s): %s\n",
				argv[2], strerror(errno));
			if (fd >= 0)
				(void)close(fd);
			return 1;
		}
		(void)close(fd);
		return 0;
	}
	if (argc > 1 && (strcmp(argv[1], "large-msg") == 0 ||
			 strcmp(argv[1], "large-maildir") == 0)) {
		usage(stderr);
		return 2;
	}
	return -1;
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "tls", no_argument, NULL, 'T' },
		{ "users", required_argument, NULL, 'u' },
		{ "user-first", required_argument, NULL, 'f' },
		{ "user-fmt", required_argument, NULL, 'F' },
		{ "password", required_argument, NULL, 'P' },
		{ "conns", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "rcpts", required_argument, NULL, 'r' },
		{ "lmtp-port", required_argument, NULL, 'L' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "batch", required_argument, NULL, 'B' },
		{ "fill-only", no_argument, NULL, 'I' },
		{ "size", required_argument, NULL, 's' },
		{ "size-max", required_argument, NULL, 'X' },
		{ "pool", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ "hold", required_argument, NULL, 'h' },
		{ "label", required_argument, NULL, 'l' },
		{ "nagle", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, '?' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench bench, *b = &bench;
	struct sockaddr_in addr;
	unsigned int pool_size = 64;
	size_t size_max = 0;
	struct timeval tv;
	int ch;

	memset(b, 0, sizeof(*b));
	b->opt.host = "127.0.0.1";
	b->opt.user_fmt = "user%u";
	b->opt.password = "bench";
	b->opt.users = 10;
	b->opt.conns = 4;
	b->opt.count = 100;
	b->opt.rcpts = 1;
	b->opt.rounds = 10;
	b->opt.batch = 100;
	b->opt.size = 16384;
	b->opt.seed = 1;
	b->opt.timeout_secs = 300;
	b->opt.hold_secs = 60;
	b->opt.label = "-";

	ch = large_subcommand(argc, argv);
	if (ch >= 0)
		return ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': b->opt.host = optarg; break;
		case 'p': b->opt.port = opt_uint("port", optarg, 65535); break;
		case 'T': b->opt.tls = true; break;
		case 'u': b->opt.users = opt_uint("users", optarg, 1000000);
			break;
		case 'f': b->opt.user_first = opt_uint("user-first", optarg,
						       1000000); break;
		case 'F': b->opt.user_fmt = optarg; break;
		case 'P': b->opt.password = optarg; break;
		case 'c': b->opt.conns = opt_uint("conns", optarg, 100000);
			break;
		case 'n': b->opt.count = opt_uint("count", optarg, 10000000);
			break;
		case 'r': b->opt.rcpts = opt_uint("rcpts", optarg, 100);
			break;
		case 'L': b->opt.lmtp_port = opt_uint("lmtp-port", optarg,
						      65535); break;
		case 'R': b->opt.rounds = opt_uint("rounds", optarg, 10000);
			break;
		case 'B': b->opt.batch = opt_uint("batch", optarg, 10000);
			break;
		case 'I': b->opt.fill_only = true; break;
		case 's': b->opt.size = opt_uint("size", optarg,
						 64 * 1024 * 1024); break;
		case 'X': size_max = opt_uint("size-max", optarg,
					      64 * 1024 * 1024); break;
		case 'o': pool_size = opt_uint("pool", optarg, 10000); break;
		case 'S': b->opt.seed = opt_uint("seed", optarg, UINT32_MAX);
			break;
		case 't': b->opt.timeout_secs = opt_uint("timeout", optarg,
							 86400); break;
		case 'h': b->opt.hold_secs = opt_uint("hold", optarg, 86400);
			break;
		case 'l': b->opt.label = optarg; break;
		case 'N': b->opt.nagle = true; break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < N_WORKLOADS; i++) {
		if (strcmp(workloads[i]->name, argv[optind]) == 0)
			b->wl = workloads[i];
	}
	if (b->wl == NULL) {
		fprintf(stderr, "quire-bench: unknown workload %s\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (b->wl->start == NULL) {
		fprintf(stderr, "quire-bench: workload %s is not available "
			"yet\n", b->wl->name);
		return 3;
	}
	if (b->opt.port == 0 || b->opt.users == 0 || b->opt.conns == 0 ||
	    b->opt.rcpts == 0 || b->opt.batch == 0 ||
	    !user_fmt_valid(b->opt.user_fmt)) {
		fprintf(stderr, "quire-bench: need --port, and non-zero "
			"--users, --conns, --rcpts, --batch; --user-fmt "
			"with one %%u\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)b->opt.port);
	if (inet_pton(AF_INET, b->opt.host, &addr.sin_addr) != 1) {
		fprintf(stderr, "quire-bench: bad --host %s\n", b->opt.host);
		return 2;
	}
	b->addr = &addr;

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	b->base = event_base_new();
	if (b->base == NULL)
		abort();
	if (b->opt.tls) {
		b->ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (b->ssl_ctx == NULL)
			abort();
		/* a benchmark of full handshakes: no verification (the
		   servers use a throwaway self-signed certificate) and no
		   session resumption */
		SSL_CTX_set_verify(b->ssl_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(b->ssl_ctx,
					       SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(b->ssl_ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_min_proto_version(b->ssl_ctx, TLS1_2_VERSION);
	}
	if (strcmp(b->wl->name, "lmtp") == 0) {
		/* --size alone: log-uniform on [size/10, 4*size], a mean
		   of about 1.06 * size; with --size-max: on [size, max] */
		if (size_max > 0)
			b->pool = msg_pool_create(b->opt.seed, b->opt.size,
						  size_max, pool_size);
		else
			b->pool = msg_pool_create(b->opt.seed,
						  b->opt.size / 10,
						  b->opt.size * 4, pool_size);
	}

	tv.tv_sec = b->opt.timeout_secs;
	tv.tv_usec = 0;
	b->deadline_ev = evtimer_new(b->base, deadline_cb, b);
	evtimer_add(b->deadline_ev, &tv);

	b->t_start = bench_now();
	b->wl->start(b);
	if (b->active > 0)
		event_base_dispatch(b->base);
	if (b->t_end == 0)
		b->t_end = bench_now();

	printf("workload=%s label=%s port=%u tls=%d conns=%u ok=%llu "
	       "errors=%llu secs=%.3f timeout=%d", b->wl->name, b->opt.label,
	       b->opt.port, b->opt.tls ? 1 : 0, b->opt.conns,
	       (unsigned long long)b->ops, (unsigned long long)b->errors,
	       b->t_end - b->t_start, b->timed_out ? 1 : 0);
	if (b->wl->report != NULL)
		b->wl->report(b);
	printf("\n");
	fflush(stdout);

	while (b->clients != NULL)
		client_close(b->clients, false);
	if (b->stdin_ev != NULL)
		event_free(b->stdin_ev);
	if (b->hold_ev != NULL)
		event_free(b->hold_ev);
	event_free(b->deadline_ev);
	msg_pool_destroy(&b->pool);
	free(b->lat);
	if (b->ssl_ctx != NULL)
		SSL_CTX_free(b->ssl_ctx);
	event_base_free(b->base);
	return b->errors > 0 || b->timed_out ? 1 : 0;
}
