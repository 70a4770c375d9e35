/* Unit tests for src/net: a small line-echo service on the worker pool,
   driven by blocking clients over loopback (plain, TLS, STARTTLS, unix). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "lib/limits.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"
#include "net/worker.h"

/* Lines longer than this get "ERR too long". */
#define ECHO_MAX_LINE 64
/* Size of the file streamed by the FILE command. */
#define TEST_FILE_SIZE (5 * 1024 * 1024 + 123)
/* Chunk the FILE command queues per step. */
#define FILE_CHUNK (64 * 1024)
/* The range FILEPART sends: short enough to be read inline. */
#define FILE_PART_OFF 1000
#define FILE_PART_LEN 3000
/* Bytes the BIG command queues at once before closing after flush. */
#define BIG_SIZE (3 * 1024 * 1024)
#define BLOB_COPIES 8
/* Triggers of the wake storm test. */
#define WAKE_STORM 20000

static char tmpdir[64];
static char cert_path[128], key_path[128], cert2_path[128], key2_path[128];
static char file_path[128];
static struct tls_server *tls;
static struct tls_settings tls_set;

static struct worker_pool *pool;
static struct listener *lst;
static unsigned port;

/* What the server side observed; worker threads write, tests read. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned closed;
	char reason[256];
	char tls_desc[128];
	bool peer_local, peer_unix, peer_tls;
	char peer[64];
	unsigned local_port;
	unsigned drained_calls;
	size_t max_pending;
	unsigned wakes;
	unsigned worker_mask;
	bool wake_on_right_thread;
	uint64_t bytes_in, bytes_out, bytes_direct;
	pthread_t threads[16];
	unsigned thread_count;
} st = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

struct echo_session {
	struct conn *conn;
	int file_fd;
	off_t file_off;
	size_t file_left;
	struct worker_wake *wake;
	bool ignore_shutdown;
	/* Waiting for a wake before reading the next line. */
	bool paused;
	/* The wake callback destroys the wake itself. */
	bool wake_once;
	/* Bytes of an "EXACT n" payload still to read. */
	size_t exact_want;
};

static void
st_reset(void)
{
	pthread_mutex_lock(&st.lock);
	st.closed = 0;
	st.reason[0] = '\0';
	st.tls_desc[0] = '\0';
	st.drained_calls = 0;
	st.max_pending = 0;
	st.wakes = 0;
	st.worker_mask = 0;
	st.wake_on_right_thread = false;
	st.thread_count = 0;
	pthread_mutex_unlock(&st.lock);
}

/* Waits until at least n sessions closed (5 s cap). */
static bool
st_wait_closed(unsigned n)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&st.lock);
	while (st.closed < n) {
		if (pthread_cond_timedwait(&st.cond, &st.lock, &ts) != 0)
			break;
	}
	ok = st.closed >= n;
	pthread_mutex_unlock(&st.lock);
	return ok;
}

/* ---- the echo service ---- */

static void
echo_fill(struct echo_session *s)
{
	const char *error;
	size_t pending;

	while (s->file_left > 0 &&
	       conn_output_pending(s->conn) < CONN_OUTPUT_HIGH_WATER) {
		size_t n = s->file_left < FILE_CHUNK ? s->file_left :
			FILE_CHUNK;

		if (conn_write_file(s->conn, s->file_fd, s->file_off, n,
				    &error) < 0) {
			conn_close(s->conn, error);
			return;
		}
		s->file_off += (off_t)n;
		s->file_left -= n;
	}
	pending = conn_output_pending(s->conn);
	pthread_mutex_lock(&st.lock);
	if (pending > st.max_pending)
		st.max_pending = pending;
	pthread_mutex_unlock(&st.lock);
	if (s->file_left == 0 && s->file_fd >= 0) {
		close(s->file_fd);
		s->file_fd = -1;
		conn_close_after_flush(s->conn, "file sent");
	}
}

static void
echo_wake_cb(void *context)
{
	struct echo_session *s = context;

	pthread_mutex_lock(&st.lock);
	st.wakes++;
	st.wake_on_right_thread = worker_current() ==
		conn_get_worker(s->conn);
	pthread_mutex_unlock(&st.lock);
	conn_write_str(s->conn, "WOKEN\r\n");
	if (s->wake_once)
		worker_wake_destroy(&s->wake);
	if (s->paused) {
		/* Resume the lines that were pipelined behind DEFER. */
		s->paused = false;
		conn_input_kick(s->conn);
	}
}

static void *
wake_thread(void *context)
{
	struct worker_wake *wake = context;

	worker_wake_trigger(wake);
	worker_wake_unref(&wake);
	return NULL;
}

static void *
wake_storm_thread(void *context)
{
	struct worker_wake *wake = context;

	for (unsigned i = 0; i < WAKE_STORM; i++)
		worker_wake_trigger(wake);
	worker_wake_unref(&wake);
	return NULL;
}

static void
echo_start_thread(struct echo_session *s, void *(*fn)(void *))
{
	if (s->wake == NULL)
		s->wake = worker_wake_create(conn_get_worker(s->conn),
					     echo_wake_cb, s);
	worker_wake_ref(s->wake);
	pthread_mutex_lock(&st.lock);
	if (st.thread_count == sizeof(st.threads) / sizeof(st.threads[0]) ||
	    pthread_create(&st.threads[st.thread_count++], NULL, fn,
			   s->wake) != 0)
		abort();
	pthread_mutex_unlock(&st.lock);
}

static void
echo_command(struct echo_session *s, const uint8_t *line, size_t len)
{
	const char *error;

#define IS(str) (len == strlen(str) && memcmp(line, str, len) == 0)
	if (IS("QUIT")) {
		conn_write_str(s->conn, "BYE\r\n");
		conn_close_after_flush(s->conn, "quit");
	} else if (IS("STARTTLS")) {
		conn_write_str(s->conn, "OK begin TLS\r\n");
		if (conn_starttls(s->conn, &error) < 0)
			conn_printf(s->conn, "ERR %s\r\n", error);
	} else if (IS("FILE")) {
		s->file_fd = open(file_path, O_RDONLY | O_CLOEXEC);
		if (s->file_fd < 0) {
			conn_close(s->conn, "cannot open test file");
			return;
		}
		s->file_off = 0;
		s->file_left = TEST_FILE_SIZE;
		echo_fill(s);
	} else if (IS("FILEPART") || IS("FILEPAST")) {
		/* a short range (read inline), from inside the file or
		   running past its end */
		int fd = open(file_path, O_RDONLY | O_CLOEXEC);
		off_t off = IS("FILEPART") ? FILE_PART_OFF :
					     TEST_FILE_SIZE - 10;

		if (fd < 0) {
			conn_close(s->conn, "cannot open test file");
			return;
		}
		if (conn_write_file(s->conn, fd, off, FILE_PART_LEN,
				    &error) < 0)
			conn_close(s->conn, error);
		else
			conn_close_after_flush(s->conn, "part sent");
		close(fd);
	} else if (IS("BIG")) {
		char *big = malloc(BIG_SIZE);

		for (size_t i = 0; i < BIG_SIZE; i++)
			big[i] = (char)('a' + i % 26);
		conn_write(s->conn, big, BIG_SIZE);
		free(big);
		conn_close_after_flush(s->conn, "big sent");
	} else if (IS("BLOB")) {
		/* BLOB_COPIES times BIG_SIZE bytes (more than a loopback
		   socket buffers) and a line, and the conn goes on */
		char *big = malloc(BIG_SIZE);

		for (size_t i = 0; i < BIG_SIZE; i++)
			big[i] = (char)('a' + i % 26);
		for (int k = 0; k < BLOB_COPIES; k++)
			conn_write(s->conn, big, BIG_SIZE);
		free(big);
		conn_write_str(s->conn, "END\r\n");
	} else if (IS("TIMEOUT")) {
		conn_set_idle_timeout(s->conn, 1);
		conn_write_str(s->conn, "OK\r\n");
	} else if (IS("IGNORE")) {
		s->ignore_shutdown = true;
		conn_write_str(s->conn, "OK\r\n");
	} else if (IS("WAKE")) {
		echo_start_thread(s, wake_thread);
	} else if (IS("WAKEONCE")) {
		s->wake_once = true;
		echo_start_thread(s, wake_thread);
	} else if (IS("DEFER")) {
		/* Stop reading until another thread wakes us. */
		s->paused = true;
		echo_start_thread(s, wake_thread);
	} else if (len > 6 && memcmp(line, "EXACT ", 6) == 0) {
		s->exact_want = (size_t)atoi((const char *)line + 6);
	} else if (IS("STORM")) {
		echo_start_thread(s, wake_storm_thread);
		conn_write_str(s->conn, "OK\r\n");
	} else if (IS("COMPRESS")) {
		conn_write_str(s->conn, "OK compress\r\n");
		if (conn_compress_start(s->conn, &error) < 0)
			conn_printf(s->conn, "ERR %s\r\n", error);
	} else if (IS("CLOSE")) {
		/* Close from inside the input callback, then keep using
		   the conn: everything must be a harmless no-op. */
		conn_close(s->conn, "closed by command");
		conn_write_str(s->conn, "never sent\r\n");
		conn_close_after_flush(s->conn, "again");
	} else {
		conn_printf(s->conn, "ECHO %.*s\r\n", (int)len,
			    (const char *)line);
	}
#undef IS
}

static void
echo_input(struct conn *conn, void *context)
{
	struct echo_session *s = context;
	const uint8_t *line;
	size_t len;
	enum conn_line_result ret;

	while (!conn_is_closing(conn) && !s->paused) {
		if (s->exact_want > 0) {
			char buf[64];
			size_t n = s->exact_want;

			if (n > sizeof(buf) ||
			    conn_read_exact(conn, buf, n) == 0)
				return;
			s->exact_want = 0;
			conn_printf(conn, "GOT %.*s\r\n", (int)n, buf);
			continue;
		}
		ret = conn_read_line(conn, ECHO_MAX_LINE, &line, &len);
		if (ret == CONN_LINE_NONE)
			break;
		if (ret == CONN_LINE_TOO_LONG)
			conn_write_str(conn, "ERR too long\r\n");
		else
			echo_command(s, line, len);
	}
}

static void
echo_output_drained(struct conn *conn, void *context)
{
	struct echo_session *s = context;

	if (s->file_left == 0)
		return;
	pthread_mutex_lock(&st.lock);
	st.drained_calls++;
	pthread_mutex_unlock(&st.lock);
	echo_fill(s);
}

static void
echo_closed(struct conn *conn, const char *reason, void *context)
{
	struct echo_session *s = context;

	if (s->file_fd >= 0)
		close(s->file_fd);
	worker_wake_destroy(&s->wake);
	pthread_mutex_lock(&st.lock);
	snprintf(st.reason, sizeof(st.reason), "%s", reason);
	st.bytes_in = conn_get_bytes_in(conn);
	st.bytes_out = conn_get_bytes_out(conn);
	st.bytes_direct = conn_get_bytes_direct(conn);
	st.closed++;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
	free(s);
}

static void
echo_shutdown(struct conn *conn, void *context)
{
	struct echo_session *s = context;

	if (s->ignore_shutdown)
		return;
	conn_write_str(conn, "BYE shutting down\r\n");
	conn_close_after_flush(conn, "shutdown");
}

static void
echo_tls_ready(struct conn *conn, void *context)
{
	pthread_mutex_lock(&st.lock);
	snprintf(st.tls_desc, sizeof(st.tls_desc), "%s",
		 conn_tls_describe(conn));
	pthread_mutex_unlock(&st.lock);
}

static const struct conn_callbacks echo_callbacks = {
	.input = echo_input,
	.output_drained = echo_output_drained,
	.closed = echo_closed,
	.shutdown = echo_shutdown,
	.tls_ready = echo_tls_ready,
};

static void
echo_new_connection(struct conn *conn, void *context)
{
	struct echo_session *s = calloc(1, sizeof(*s));

	s->conn = conn;
	s->file_fd = -1;
	conn_set_callbacks(conn, &echo_callbacks, s);
	pthread_mutex_lock(&st.lock);
	st.peer_local = conn_is_local(conn);
	st.peer_unix = conn_is_unix(conn);
	st.peer_tls = conn_is_tls(conn);
	snprintf(st.peer, sizeof(st.peer), "%s", conn_get_peer(conn));
	st.local_port = conn_get_local_port(conn);
	st.worker_mask |= 1u << worker_get_index(conn_get_worker(conn));
	pthread_mutex_unlock(&st.lock);
	conn_printf(conn, "HELLO %s\r\n", conn_get_service(conn));
}

/* ---- server setup ---- */

static void
server_start(const char *address, bool with_tls, bool implicit_tls)
{
	struct listener_settings set = {
		.service = implicit_tls ? "echos" : "echo",
		.address = address,
		.tls = with_tls ? tls : NULL,
		.implicit_tls = implicit_tls,
		.refuse_text = "ERR too many connections\r\n",
		.new_connection = echo_new_connection,
	};
	const char *error = NULL;

	st_reset();
	assert_int_equal(worker_pool_create(2, &pool, &error), 0);
	if (listener_create(pool, &set, &lst, &error) < 0)
		fail_msg("listener_create: %s", error);
	port = listener_get_port(lst);
	assert_int_equal(worker_pool_start(pool, &error), 0);
}

static void
server_stop(void)
{
	worker_pool_stop(pool, 1000);
	worker_pool_join(pool);
	assert_int_equal(worker_pool_connection_count(pool), 0);
	listener_destroy(&lst);
	worker_pool_destroy(&pool);
	assert_null(pool);
	for (unsigned i = 0; i < st.thread_count; i++)
		pthread_join(st.threads[i], NULL);
	st.thread_count = 0;
}

/* ---- blocking test client ---- */

struct client {
	int fd;
	SSL *ssl;
	char buf[8192];
	size_t len;
};

static void
client_set_timeout(int fd)
{
	struct timeval tv = { .tv_sec = 5 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void
client_connect(struct client *c)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	client_set_timeout(c->fd);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin,
				 sizeof(sin)), 0);
}

static void
set_sun_path(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	assert_true(len < sizeof(sun->sun_path));
	memcpy(sun->sun_path, path, len + 1);
}

static void
client_connect_unix(struct client *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	set_sun_path(&sun, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	client_set_timeout(c->fd);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sun,
				 sizeof(sun)), 0);
}

static void
client_tls(struct client *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ret;

	assert_non_null(ctx);
	/* Trust exactly the server's self-signed cert, check its name. */
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, cert_path, NULL),
			 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	c->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	SSL_set1_host(c->ssl, "localhost");
	ret = SSL_connect(c->ssl);
	if (ret != 1)
		fail_msg("SSL_connect: %d %s", SSL_get_error(c->ssl, ret),
			 ERR_reason_error_string(ERR_get_error()));
}

static void
client_close(struct client *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
}

static void
client_send(struct client *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (c->ssl != NULL)
			n = SSL_write(c->ssl, data, (int)len);
		else
			n = send(c->fd, data, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void
client_send_str(struct client *c, const char *str)
{
	client_send(c, str, strlen(str));
}

/* Raw read: >0 bytes, 0 EOF, -1 error/timeout. */
static ssize_t
client_recv(struct client *c, void *buf, size_t size)
{
	if (c->ssl != NULL) {
		int n = SSL_read(c->ssl, buf, (int)size);
		if (n > 0)
			return n;
		return SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ||
			SSL_get_error(c->ssl, n) == SSL_ERROR_SYSCALL ? 0 : -1;
	}
	return recv(c->fd, buf, size, 0);
}

/* Reads one line (without CRLF) into out; returns its length, or -1 on
   EOF/error before a full line. */
static int
client_line(struct client *c, char *out, size_t size)
{
	for (;;) {
		char *lf = memchr(c->buf, '\n', c->len);
		ssize_t n;

		if (lf != NULL) {
			size_t len = (size_t)(lf - c->buf);
			size_t take = len > 0 && c->buf[len - 1] == '\r' ?
				len - 1 : len;

			assert_true(take < size);
			memcpy(out, c->buf, take);
			out[take] = '\0';
			memmove(c->buf, lf + 1, c->len - len - 1);
			c->len -= len + 1;
			return (int)take;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		n = client_recv(c, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

static void
client_expect(struct client *c, const char *expected)
{
	char line[1024];

	if (client_line(c, line, sizeof(line)) < 0)
		fail_msg("expected '%s', got EOF", expected);
	assert_string_equal(line, expected);
}

/* Reads until EOF; returns the byte count, checking bytes against check
   (if not NULL) at the running offset. */
static size_t
client_drain(struct client *c, bool (*check)(const char *, size_t, size_t))
{
	char buf[65536];
	size_t total = c->len;
	ssize_t n;

	c->len = 0;
	while ((n = client_recv(c, buf, sizeof(buf))) > 0) {
		if (check != NULL && !check(buf, (size_t)n, total))
			fail_msg("content mismatch near offset %zu", total);
		total += (size_t)n;
	}
	return total;
}

/* QUIT, its BYE, then nothing more before EOF; the server's side is
   closed once this returns. */
static void
client_quit(struct client *c)
{
	client_send_str(c, "QUIT\r\n");
	client_expect(c, "BYE");
	assert_int_equal(client_drain(c, NULL), 0);
	client_close(c);
	assert_true(st_wait_closed(1));
}

/* ---- tests ---- */

static void
test_listen_addr_parse(void **state)
{
	static const struct {
		const char *in;
		int ret;
		int family;
		unsigned port;
	} cases[] = {
		{ "127.0.0.1:1110", 0, AF_INET, 1110 },
		{ "0.0.0.0:110", 0, AF_INET, 110 },
		{ "[::1]:1110", 0, AF_INET6, 1110 },
		{ "[::]:143", 0, AF_INET6, 143 },
		{ "unix:/tmp/x.sock", 0, AF_UNIX, 0 },
		{ "unix:rel/x.sock", 0, AF_UNIX, 0 },
		{ "127.0.0.1:0", 0, AF_INET, 0 },
		{ "127.0.0.1:65535", 0, AF_INET, 65535 },
		{ "127.0.0.1:65536", -1, 0, 0 },
		{ "127.0.0.1:", -1, 0, 0 },
		{ "127.0.0.1:-1", -1, 0, 0 },
		{ "127.0.0.1:+1", -1, 0, 0 },
		{ "127.0.0.1:1x", -1, 0, 0 },
		{ "127.0.0.1", -1, 0, 0 },
		{ ":110", -1, 0, 0 },
		{ "::1:110", -1, 0, 0 },
		{ "[::1]110", -1, 0, 0 },
		{ "[::1:110", -1, 0, 0 },
		{ "[127.0.0.1]:110", -1, 0, 0 },
		{ "localhost:110", -1, 0, 0 },
		{ "256.0.0.1:110", -1, 0, 0 },
		{ "unix:", -1, 0, 0 },
	};
	char longpath[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct listen_addr addr;
		const char *error = NULL;
		int ret = listen_addr_parse(cases[i].in, &addr, &error);

		if (ret != cases[i].ret)
			fail_msg("%s: got %d", cases[i].in, ret);
		if (ret < 0) {
			assert_non_null(error);
			assert_non_null(strstr(error, cases[i].in));
			continue;
		}
		assert_int_equal(addr.sa.ss_family, cases[i].family);
		if (cases[i].family == AF_INET)
			assert_int_equal(ntohs(((struct sockaddr_in *)
						&addr.sa)->sin_port),
					 cases[i].port);
		else if (cases[i].family == AF_INET6)
			assert_int_equal(ntohs(((struct sockaddr_in6 *)
						&addr.sa)->sin6_port),
					 cases[i].port);
		else
			assert_int_equal(addr.type, LISTEN_ADDR_UNIX);
	}
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	{
		struct listen_addr addr;
		const char *error;

		assert_int_equal(listen_addr_parse(longpath, &addr, &error),
				 -1);
	}
}

static void
test_echo_plain(void **state)
{
	struct client c;

	server_start("127.0.0.1:0", false, false);
	assert_true(port > 0);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "hello\r\n");
	client_expect(&c, "ECHO hello");
	/* A bare LF ends a line too; an empty line is a line. */
	client_send_str(&c, "bare\n\r\n");
	client_expect(&c, "ECHO bare");
	client_expect(&c, "ECHO ");
	/* Exactly the maximum fits. */
	{
		char line[ECHO_MAX_LINE + 3], want[ECHO_MAX_LINE + 8];

		memset(line, 'x', ECHO_MAX_LINE);
		memcpy(line + ECHO_MAX_LINE, "\r\n", 3);
		client_send_str(&c, line);
		line[ECHO_MAX_LINE] = '\0';
		snprintf(want, sizeof(want), "ECHO %s", line);
		client_expect(&c, want);
	}
	client_quit(&c);
	assert_string_equal(st.reason, "quit");
	assert_true(st.peer_local);
	assert_false(st.peer_unix);
	assert_false(st.peer_tls);
	assert_string_equal(st.peer, "127.0.0.1");
	assert_int_equal(st.local_port, port);
	assert_int_equal(st.bytes_in, strlen("hello\r\nbare\n\r\nQUIT\r\n") +
			 ECHO_MAX_LINE + 2);
	assert_true(st.bytes_out > 0);
	/* small replies on a plain conn: all written directly */
	assert_int_equal(st.bytes_direct, st.bytes_out);
	server_stop();
}

static void
test_long_line(void **state)
{
	static const size_t sizes[] = {
		ECHO_MAX_LINE + 1, ECHO_MAX_LINE + 2, ECHO_MAX_LINE + 3,
		1000, CONN_INPUT_HIGH_WATER * 3 + 7,
	};
	struct client c;

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *line = malloc(sizes[i] + 2);

		memset(line, 'y', sizes[i]);
		memcpy(line + sizes[i], "\r\n", 2);
		client_send(&c, line, sizes[i] + 2);
		client_send_str(&c, "next\r\n");
		free(line);
		/* One error per over-long line, and the stream stays in
		   step. */
		client_expect(&c, "ERR too long");
		client_expect(&c, "ECHO next");
	}
	/* A long line split over several writes. */
	{
		char part[40];

		memset(part, 'z', sizeof(part));
		for (int i = 0; i < 5; i++) {
			client_send(&c, part, sizeof(part));
			usleep(10000);
		}
		client_send_str(&c, "\r\nafter\r\n");
		client_expect(&c, "ERR too long");
		client_expect(&c, "ECHO after");
	}
	client_close(&c);
	assert_true(st_wait_closed(1));
	server_stop();
}

static void
test_pipelined(void **state)
{
	struct client c;
	const char *msg = "a\r\nb\r\nCLOSE\r\nc\r\n";

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "one\r\ntwo\r\nthree\r\n");
	client_expect(&c, "ECHO one");
	client_expect(&c, "ECHO two");
	client_expect(&c, "ECHO three");
	/* Byte at a time. */
	for (const char *p = "slow\r\n"; *p != '\0'; p++) {
		client_send(&c, p, 1);
		usleep(2000);
	}
	client_expect(&c, "ECHO slow");
	/* A close from inside the input callback drops what is queued
	   (the echoes of a and b), the lines after it are not processed,
	   and writes after it go nowhere. */
	client_send_str(&c, msg);
	assert_int_equal(client_drain(&c, NULL), 0);
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_string_equal(st.reason, "closed by command");
	server_stop();
}

static void
test_implicit_tls(void **state)
{
	struct client c;

	server_start("127.0.0.1:0", true, true);
	client_connect(&c);
	client_tls(&c);
	client_expect(&c, "HELLO echos");
	client_send_str(&c, "secret\r\n");
	client_expect(&c, "ECHO secret");
	client_quit(&c);
	assert_true(st.peer_tls);
	assert_non_null(strstr(st.tls_desc, "TLSv1."));
	assert_string_equal(st.reason, "quit");

	/* A plaintext client on the TLS port fails the handshake. */
	client_connect(&c);
	client_send_str(&c, "HELLO plain\r\n");
	assert_int_equal(client_drain(&c, NULL), 0);
	client_close(&c);
	assert_true(st_wait_closed(2));
	assert_non_null(strstr(st.reason, "TLS handshake failed"));
	server_stop();
}

static void
test_starttls(void **state)
{
	struct client c;

	server_start("127.0.0.1:0", true, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	/* The command and injected commands in one packet: the injected
	   ones must be dropped, not run after the handshake. */
	client_send_str(&c, "STARTTLS\r\nINJECTED\r\nQUIT\r\n");
	client_expect(&c, "OK begin TLS");
	assert_int_equal(c.len, 0);
	client_tls(&c);
	client_send_str(&c, "after\r\n");
	client_expect(&c, "ECHO after");
	/* No second STARTTLS once TLS is on. */
	client_send_str(&c, "STARTTLS\r\n");
	client_expect(&c, "OK begin TLS");
	client_expect(&c, "ERR TLS is already active");
	client_send_str(&c, "QUIT\r\n");
	client_expect(&c, "BYE");
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_true(st.tls_desc[0] != '\0');
	assert_string_equal(st.reason, "quit");

	/* Without TLS configured, STARTTLS fails cleanly. */
	server_stop();
	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "STARTTLS\r\nnext\r\n");
	client_expect(&c, "OK begin TLS");
	client_expect(&c, "ERR TLS is not configured");
	client_expect(&c, "ECHO next");
	client_close(&c);
	server_stop();
}

static bool
check_file_bytes(const char *buf, size_t len, size_t offset)
{
	for (size_t i = 0; i < len; i++) {
		if ((uint8_t)buf[i] != (uint8_t)((offset + i) * 7 % 251))
			return false;
	}
	return true;
}

static void
run_file_stream(bool use_tls)
{
	struct client c;
	size_t total;

	client_connect(&c);
	if (use_tls)
		client_tls(&c);
	client_expect(&c, use_tls ? "HELLO echos" : "HELLO echo");
	client_send_str(&c, "FILE\r\n");
	total = client_drain(&c, check_file_bytes);
	assert_int_equal(total, TEST_FILE_SIZE);
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_string_equal(st.reason, "file sent");
	/* Streamed in steps, never buffered whole. */
	assert_true(st.drained_calls > 4);
	assert_true(st.max_pending < CONN_OUTPUT_HIGH_WATER + FILE_CHUNK);
	assert_int_equal(st.bytes_out, strlen("HELLO echo\r\n") +
			 (use_tls ? 1 : 0) + TEST_FILE_SIZE);
}

static bool
check_part_bytes(const char *buf, size_t len, size_t offset)
{
	return check_file_bytes(buf, len, offset + FILE_PART_OFF);
}

/* Sends cmd on a new connection and drains the reply to EOF (checked
   by check, if not NULL); returns the byte count once the server side
   closed, with st.reason set. */
static size_t
run_file_cmd(bool use_tls, const char *cmd,
	     bool (*check)(const char *, size_t, size_t))
{
	struct client c;
	size_t total;

	st_reset();
	client_connect(&c);
	if (use_tls)
		client_tls(&c);
	client_expect(&c, use_tls ? "HELLO echos" : "HELLO echo");
	client_send_str(&c, cmd);
	total = client_drain(&c, check);
	client_close(&c);
	assert_true(st_wait_closed(1));
	return total;
}

/* A short range goes out whole and right; one past the file's end is an
   error at once, with nothing sent. */
static void
run_file_part(bool use_tls)
{
	assert_true(FILE_PART_LEN <= CONN_FILE_INLINE_MAX);
	assert_int_equal(run_file_cmd(use_tls, "FILEPART\r\n",
				      check_part_bytes),
			 FILE_PART_LEN);
	assert_string_equal(st.reason, "part sent");
	assert_int_equal(run_file_cmd(use_tls, "FILEPAST\r\n", NULL), 0);
	assert_non_null(strstr(st.reason, "file ends"));
}

static void
test_write_file(void **state)
{
	server_start("127.0.0.1:0", false, false);
	run_file_stream(false);
	run_file_part(false);
	server_stop();
	server_start("127.0.0.1:0", true, true);
	run_file_stream(true);
	run_file_part(true);
	server_stop();
}

/* ---- COMPRESS=DEFLATE through the conn ---- */

/* The client's side: zlib streams and the inflated bytes not yet read. */
struct zclient {
	z_stream def, inf;
	uint8_t plain[65536];
	size_t plain_len;
	uint8_t raw[8192]; /* as received; inf.next_in points into it */
};

static void
zclient_init(struct zclient *z)
{
	memset(z, 0, sizeof(*z));
	assert_int_equal(deflateInit2(&z->def, 6, Z_DEFLATED, -15, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	assert_int_equal(inflateInit2(&z->inf, -15), Z_OK);
}

static void
zclient_free(struct zclient *z)
{
	deflateEnd(&z->def);
	inflateEnd(&z->inf);
}

/* Compresses str with a sync flush and sends it `piece` bytes per
   send() (0: all at once). */
static void
zclient_send(struct client *c, struct zclient *z, const char *str,
	     size_t piece)
{
	uint8_t out[65536];
	size_t len;

	z->def.next_in = (Bytef *)str;
	z->def.avail_in = (uInt)strlen(str);
	z->def.next_out = out;
	z->def.avail_out = sizeof(out);
	assert_int_equal(deflate(&z->def, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(z->def.avail_in, 0);
	len = sizeof(out) - z->def.avail_out;
	for (size_t off = 0; off < len;) {
		size_t n = piece == 0 || piece > len - off ? len - off : piece;

		client_send(c, (const char *)out + off, n);
		off += n;
	}
}

/* Inflates more of what arrived (reading from the socket when all of
   it is used), as much as the plaintext buffer takes; false on EOF. */
static bool
zclient_fill(struct client *c, struct zclient *z)
{
	ssize_t n;
	int ret;

	if (z->inf.avail_in == 0) {
		if (c->len > 0) {
			/* Bytes that came with the plain OK: compressed. */
			memcpy(z->raw, c->buf, c->len);
			n = (ssize_t)c->len;
			c->len = 0;
		} else {
			n = client_recv(c, z->raw, sizeof(z->raw));
			if (n <= 0)
				return false;
		}
		z->inf.next_in = z->raw;
		z->inf.avail_in = (uInt)n;
	}
	assert_true(z->plain_len < sizeof(z->plain));
	z->inf.next_out = z->plain + z->plain_len;
	z->inf.avail_out = (uInt)(sizeof(z->plain) - z->plain_len);
	ret = inflate(&z->inf, Z_SYNC_FLUSH);
	assert_true(ret == Z_OK || ret == Z_BUF_ERROR);
	z->plain_len = sizeof(z->plain) - z->inf.avail_out;
	return true;
}

static void
zclient_expect(struct client *c, struct zclient *z, const char *expected)
{
	size_t elen = strlen(expected);
	uint8_t *lf;

	while ((lf = memchr(z->plain, '\n', z->plain_len)) == NULL) {
		if (!zclient_fill(c, z))
			fail_msg("expected '%s', got EOF", expected);
	}
	if ((size_t)(lf - z->plain) != elen + 1 ||
	    memcmp(z->plain, expected, elen) != 0 || lf[-1] != '\r')
		fail_msg("expected '%s', got '%.*s'", expected,
			 (int)(lf - z->plain), (const char *)z->plain);
	z->plain_len -= elen + 2;
	memmove(z->plain, lf + 1, z->plain_len);
}

static void
test_compress(void **state)
{
	struct client c;
	struct zclient z;
	char many[2048], line[32];
	size_t total, n;

	server_start("127.0.0.1:0", true, false);
	client_connect(&c);
	zclient_init(&z);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "COMPRESS\r\n");
	client_expect(&c, "OK compress");
	/* A line in one-byte pieces: split input; the reply must come
	   without more input (flushed at the end of the burst). */
	zclient_send(&c, &z, "hello\r\n", 1);
	zclient_expect(&c, &z, "ECHO hello");
	/* Many lines in one piece, answered in one burst. */
	n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n,
				      "line %d\r\n", i);
	zclient_send(&c, &z, many, 0);
	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "ECHO line %d", i);
		zclient_expect(&c, &z, line);
	}
	/* Neither STARTTLS nor a second COMPRESS once compressed. */
	zclient_send(&c, &z, "STARTTLS\r\nCOMPRESS\r\nafter\r\n", 3);
	zclient_expect(&c, &z, "OK begin TLS");
	zclient_expect(&c, &z, "ERR compression is active");
	zclient_expect(&c, &z, "OK compress");
	zclient_expect(&c, &z, "ERR compression is already active");
	zclient_expect(&c, &z, "ECHO after");
	/* A file streamed from output_drained, then close after flush. */
	zclient_send(&c, &z, "FILE\r\n", 0);
	total = 0;
	for (;;) {
		if (z.plain_len > 0) {
			if (!check_file_bytes((const char *)z.plain,
					      z.plain_len, total))
				fail_msg("content mismatch near %zu", total);
			total += z.plain_len;
			z.plain_len = 0;
		}
		if (!zclient_fill(&c, &z))
			break;
	}
	assert_int_equal(total, TEST_FILE_SIZE);
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_string_equal(st.reason, "file sent");
	assert_true(st.drained_calls > 4);
	/* Compressed: far fewer bytes on the wire than the file's. */
	assert_true(st.bytes_out < TEST_FILE_SIZE / 2);
	zclient_free(&z);

	/* Corrupt compressed input closes the conn with a reason. */
	st_reset();
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "COMPRESS\r\n");
	client_expect(&c, "OK compress");
	client_send_str(&c, "\xff\xff\xff garbage\r\n");
	n = client_drain(&c, NULL);
	assert_true(n < 64);
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_true(strncmp(st.reason, "compressed input: ", 18) == 0);
	server_stop();
}

/* A reply larger than the socket takes, to a client that reads late:
   the rest goes out as the socket drains, and the replies after it are
   written straight away again. */
static void
test_output_slow_reader(void **state)
{
	struct client c;
	const size_t total = (size_t)BLOB_COPIES * BIG_SIZE;
	char *buf = malloc(total);
	size_t got = 0;

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	for (int round = 0; round < 2; round++) {
		client_send_str(&c, "BLOB\r\n");
		usleep(200 * 1000);
		got = c.len;
		memcpy(buf, c.buf, c.len);
		c.len = 0;
		while (got < total) {
			ssize_t n = client_recv(&c, buf + got, total - got);
			assert_true(n > 0);
			got += (size_t)n;
		}
		for (size_t i = 0; i < total; i++) {
			if (buf[i] != (char)('a' + i % BIG_SIZE % 26))
				fail_msg("byte %zu differs", i);
		}
		client_expect(&c, "END");
		client_send_str(&c, "hello\r\n");
		client_expect(&c, "ECHO hello");
	}
	client_quit(&c);
	assert_string_equal(st.reason, "quit");
	assert_int_equal(st.bytes_out, strlen("HELLO echo\r\n") +
			 2 * (total + strlen("END\r\nECHO hello\r\n")) +
			 strlen("BYE\r\n"));
	/* the replies after each BLOB went out directly again */
	assert_true(st.bytes_direct < st.bytes_out);
	assert_true(st.bytes_direct >= strlen("ECHO hello\r\nBYE\r\n"));
	free(buf);
	server_stop();
}

static void
test_idle_timeout(void **state)
{
	struct client c;
	struct timespec t0, t1;
	double secs;

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "TIMEOUT\r\n");
	client_expect(&c, "OK");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(client_drain(&c, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs > 0.8 && secs < 3.0);
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_string_equal(st.reason, "idle timeout");
	server_stop();
}

static bool
check_big_bytes(const char *buf, size_t len, size_t offset)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != (char)('a' + (offset + i) % 26))
			return false;
	}
	return true;
}

static void
test_close_after_flush(void **state)
{
	struct client c;

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	/* Trailing input after BIG must not turn the close into a reset
	   that loses output. */
	client_send_str(&c, "BIG\r\nmore\r\nand more\r\n");
	/* Let the server fill the socket before we start reading. */
	usleep(100000);
	assert_int_equal(client_drain(&c, check_big_bytes), BIG_SIZE);
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_string_equal(st.reason, "big sent");

	/* The client half-closes right after its last command: its EOF
	   must not cut off the reply still being sent. */
	for (int i = 0; i < 2; i++) {
		client_connect(&c);
		client_expect(&c, "HELLO echo");
		client_send_str(&c, i == 0 ? "BIG\r\n" : "x\r\nQUIT\r\n");
		shutdown(c.fd, SHUT_WR);
		if (i == 0) {
			usleep(100000);
			assert_int_equal(client_drain(&c, check_big_bytes),
					 BIG_SIZE);
		} else {
			client_expect(&c, "ECHO x");
			client_expect(&c, "BYE");
			assert_int_equal(client_drain(&c, NULL), 0);
		}
		client_close(&c);
		assert_true(st_wait_closed(2 + (unsigned)i));
	}
	server_stop();
}

static void
test_unix_socket(void **state)
{
	char path[128], addr[160];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat stbuf;
	struct client c;
	int fd;

	snprintf(path, sizeof(path), "%s/echo.sock", tmpdir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	/* Leave a stale socket file behind: listener_create removes it. */
	set_sun_path(&sun, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);

	server_start(addr, false, false);
	assert_int_equal(port, 0);
	assert_int_equal(stat(path, &stbuf), 0);
	assert_int_equal(stbuf.st_mode & 0777, 0666);
	/* A second listener on a live socket is refused, the file kept. */
	{
		struct listener_settings set = {
			.service = "echo", .address = addr,
			.new_connection = echo_new_connection,
		};
		struct listener *l2 = NULL;
		struct worker_pool *p2;
		const char *error;

		assert_int_equal(worker_pool_create(1, &p2, &error), 0);
		assert_int_equal(listener_create(p2, &set, &l2, &error), -1);
		assert_non_null(strstr(error, "in use"));
		worker_pool_destroy(&p2);
	}
	for (int i = 0; i < 3; i++) {
		client_connect_unix(&c, path);
		client_expect(&c, "HELLO echo");
		client_send_str(&c, "over unix\r\n");
		client_expect(&c, "ECHO over unix");
		client_close(&c);
	}
	assert_true(st_wait_closed(3));
	assert_true(st.peer_unix);
	assert_true(st.peer_local);
	assert_string_equal(st.peer, "unix");
	server_stop();
	/* The listener removes its socket file. */
	assert_int_equal(access(path, F_OK), -1);

	/* Not a socket: refused, never deleted. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	{
		struct listener_settings set = {
			.service = "echo", .address = addr,
			.new_connection = echo_new_connection,
		};
		struct listener *l2 = NULL;
		struct worker_pool *p2;
		const char *error;

		assert_int_equal(worker_pool_create(1, &p2, &error), 0);
		assert_int_equal(listener_create(p2, &set, &l2, &error), -1);
		assert_non_null(strstr(error, "not a socket"));
		worker_pool_destroy(&p2);
	}
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

/* A unix client that connects and closes before the greeting is
   written: the write fails (EPIPE) in the same loop pass that reads EOF.
   The session must close at once, not wait for output that can never
   leave until the idle timeout. */
static void
test_unix_client_gone_before_greeting(void **state)
{
	char path[128], addr[160];
	struct client c;

	snprintf(path, sizeof(path), "%s/gone.sock", tmpdir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	server_start(addr, false, false);
	for (unsigned i = 0; i < 3; i++) {
		client_connect_unix(&c, path);
		client_close(&c);
	}
	assert_true(st_wait_closed(3));
	pthread_mutex_lock(&st.lock);
	assert_non_null(strstr(st.reason, "error"));
	pthread_mutex_unlock(&st.lock);
	server_stop();
}

static void
test_wake(void **state)
{
	struct client c;

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	client_send_str(&c, "WAKE\r\n");
	client_expect(&c, "WOKEN");
	assert_true(st.wake_on_right_thread);
	assert_int_equal(st.wakes, 1);
	/* Destroyed from inside its own callback, then a new one. */
	client_send_str(&c, "WAKEONCE\r\n");
	client_expect(&c, "WOKEN");
	client_send_str(&c, "WAKE\r\n");
	client_expect(&c, "WOKEN");
	assert_int_equal(st.wakes, 3);

	/* Another thread triggers in a loop while the session closes:
	   the wake must stay safe (checked by the sanitizer build). */
	client_send_str(&c, "STORM\r\nQUIT\r\n");
	client_expect(&c, "OK");
	client_close(&c);
	assert_true(st_wait_closed(1));
	server_stop();
	assert_true(st.wakes >= 1);
}

struct run_probe {
	struct worker *expected;
	atomic_int ran;
	atomic_bool right_thread;
};

static void
run_probe_cb(void *context)
{
	struct run_probe *probe = context;

	atomic_store(&probe->right_thread, worker_current() ==
		     probe->expected);
	atomic_fetch_add(&probe->ran, 1);
}

static void
test_kick_and_exact(void **state)
{
	struct client c;

	server_start("127.0.0.1:0", false, false);
	client_connect(&c);
	client_expect(&c, "HELLO echo");
	/* Lines behind DEFER wait in the buffer until the wake resumes the
	   session, which then gets `input` again without new bytes. */
	client_send_str(&c, "DEFER\r\nx\r\ny\r\n");
	client_expect(&c, "WOKEN");
	client_expect(&c, "ECHO x");
	client_expect(&c, "ECHO y");
	/* A counted payload (like an IMAP literal) read with
	   conn_read_exact, arriving in pieces, CRLF inside it. */
	client_send_str(&c, "EXACT 10\r\nab\r\n");
	usleep(20000);
	client_send_str(&c, "cdefghij\r\n");
	client_expect(&c, "GOT ab");
	client_expect(&c, "cdefgh");
	client_expect(&c, "ECHO ij");
	client_close(&c);
	assert_true(st_wait_closed(1));
	server_stop();
}

static void
test_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct client c;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	/* Skip quietly on hosts without IPv6 loopback. */
	sin6.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	close(fd);
	server_start("[::1]:0", false, false);
	memset(&c, 0, sizeof(c));
	c.fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	client_set_timeout(c.fd);
	sin6.sin6_port = htons((uint16_t)port);
	assert_int_equal(connect(c.fd, (struct sockaddr *)&sin6,
				 sizeof(sin6)), 0);
	client_expect(&c, "HELLO echo");
	client_close(&c);
	assert_true(st_wait_closed(1));
	assert_string_equal(st.peer, "::1");
	assert_true(st.peer_local);
	server_stop();
}

static void
test_spread(void **state)
{
	struct client c[24];

	/* One socket per worker with SO_REUSEPORT: the kernel spreads new
	   connections by address hash; with 24 of them both of the two
	   workers get some (all on one: p = 2^-23). */
	server_start("127.0.0.1:0", false, false);
	for (int i = 0; i < 24; i++) {
		client_connect(&c[i]);
		client_expect(&c[i], "HELLO echo");
	}
	assert_int_equal(st.worker_mask, 3);
	assert_int_equal(worker_pool_connection_count(pool), 24);
	for (int i = 0; i < 24; i++)
		client_close(&c[i]);
	assert_true(st_wait_closed(24));
	server_stop();
}

static void
test_worker_run(void **state)
{
	struct run_probe probe = { .ran = 0 };
	const char *error;

	assert_int_equal(worker_pool_create(0, &pool, &error), 0);
	assert_true(worker_pool_count(pool) >= 1);
	assert_null(worker_current());
	probe.expected = worker_pool_get(pool, worker_pool_count(pool) - 1);
	assert_int_equal(worker_get_index(probe.expected),
			 worker_pool_count(pool) - 1);
	/* Queued before the start: runs once the loop does. */
	worker_run(probe.expected, run_probe_cb, &probe);
	assert_int_equal(worker_pool_start(pool, &error), 0);
	for (int i = 0; i < 500 && atomic_load(&probe.ran) == 0; i++)
		usleep(2000);
	assert_int_equal(atomic_load(&probe.ran), 1);
	assert_true(atomic_load(&probe.right_thread));
	worker_pool_stop(pool, 100);
	worker_pool_stop(pool, 100);
	worker_pool_join(pool);
	/* Queued after the loop ended: runs in destroy. */
	worker_run(probe.expected, run_probe_cb, &probe);
	worker_pool_destroy(&pool);
	assert_int_equal(atomic_load(&probe.ran), 2);
}

/* ---- blocking jobs (worker_pool_offload) ------------------------------ */

#define OFFLOAD_JOBS 2000

struct offload_rec {
	unsigned seq;
	struct worker *worker;	/* where done must run */
	unsigned sleep_ms;	/* work sleeps this long */
	atomic_bool worked;
	atomic_bool work_off_loop; /* work saw worker_current() == NULL */
	atomic_bool worked_before_done;
	struct worker *done_on;	/* worker_current() in done */
	atomic_bool done;
};

static struct {
	pthread_mutex_t lock;
	unsigned work_order[OFFLOAD_JOBS], done_order[OFFLOAD_JOBS];
	unsigned work_n, done_n;
	atomic_uint works, dones;
	struct offload_rec recs[OFFLOAD_JOBS];
} ot = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
ot_reset(void)
{
	pthread_mutex_lock(&ot.lock);
	ot.work_n = ot.done_n = 0;
	atomic_store(&ot.works, 0);
	atomic_store(&ot.dones, 0);
	for (unsigned i = 0; i < OFFLOAD_JOBS; i++) {
		struct offload_rec *r = &ot.recs[i];

		r->seq = i;
		r->worker = NULL;
		r->sleep_ms = 0;
		atomic_store(&r->worked, false);
		atomic_store(&r->work_off_loop, false);
		atomic_store(&r->worked_before_done, false);
		r->done_on = NULL;
		atomic_store(&r->done, false);
	}
	pthread_mutex_unlock(&ot.lock);
}

static void
ot_work(void *context)
{
	struct offload_rec *r = context;

	atomic_store(&r->work_off_loop, worker_current() == NULL);
	if (r->sleep_ms > 0)
		usleep(r->sleep_ms * 1000);
	pthread_mutex_lock(&ot.lock);
	ot.work_order[ot.work_n++] = r->seq;
	pthread_mutex_unlock(&ot.lock);
	atomic_store(&r->worked, true);
	atomic_fetch_add(&ot.works, 1);
}

static void
ot_done(void *context)
{
	struct offload_rec *r = context;

	r->done_on = worker_current();
	atomic_store(&r->worked_before_done, atomic_load(&r->worked));
	pthread_mutex_lock(&ot.lock);
	ot.done_order[ot.done_n++] = r->seq;
	pthread_mutex_unlock(&ot.lock);
	atomic_store(&r->done, true);
	atomic_fetch_add(&ot.dones, 1);
}

static void
ot_queue(struct worker_pool *p, unsigned idx, struct worker *worker)
{
	ot.recs[idx].worker = worker;
	worker_pool_offload(p, worker, ot_work, ot_done, &ot.recs[idx]);
}

/* Waits (bounded) until n dones ran. */
static bool
ot_wait_dones(unsigned n)
{
	for (int i = 0; i < 2500 && atomic_load(&ot.dones) < n; i++)
		usleep(2000);
	return atomic_load(&ot.dones) >= n;
}

/* Every job in [0, n) ran its work off the loop, then done on its
   worker. */
static void
ot_check_normal(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct offload_rec *r = &ot.recs[i];

		assert_true(atomic_load(&r->worked));
		assert_true(atomic_load(&r->work_off_loop));
		assert_true(atomic_load(&r->worked_before_done));
		assert_true(atomic_load(&r->done));
		assert_ptr_equal(r->done_on, r->worker);
	}
}

static void
test_offload_order(void **state)
{
	struct worker_pool *p;
	struct worker *w;
	const char *error;
	unsigned n = 200;

	ot_reset();
	assert_int_equal(worker_pool_create(1, &p, &error), 0);
	assert_int_equal(worker_pool_start(p, &error), 0);
	w = worker_pool_get(p, 0);
	/* The first job is slow, so the rest queue up behind it. */
	ot.recs[0].sleep_ms = 30;
	for (unsigned i = 0; i < n; i++)
		ot_queue(p, i, w);
	assert_true(ot_wait_dones(n));
	ot_check_normal(n);
	/* One worker, one blocking-job thread: strictly FIFO. */
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(ot.work_order[i], i);
		assert_int_equal(ot.done_order[i], i);
	}
	worker_pool_stop(p, 100);
	worker_pool_join(p);
	worker_pool_destroy(&p);
	assert_int_equal(atomic_load(&ot.dones), n);
}

struct offload_queuer {
	struct worker_pool *pool;
	unsigned first, count;
};

static void *
offload_queuer_main(void *context)
{
	struct offload_queuer *q = context;

	unsigned n = worker_pool_count(q->pool);

	for (unsigned i = q->first; i < q->first + q->count; i++)
		ot_queue(q->pool, i, worker_pool_get(q->pool, i % n));
	return NULL;
}

static void
test_offload_many(void **state)
{
	struct offload_queuer q[4];
	pthread_t threads[4];
	struct worker_pool *p;
	const char *error;
	unsigned per = OFFLOAD_JOBS / 4;

	ot_reset();
	assert_int_equal(worker_pool_create(2, &p, &error), 0);
	assert_int_equal(worker_pool_start(p, &error), 0);
	/* Four threads queue at once, for both workers. */
	for (unsigned t = 0; t < 4; t++) {
		q[t] = (struct offload_queuer){ p, t * per, per };
		assert_int_equal(pthread_create(&threads[t], NULL,
						offload_queuer_main, &q[t]), 0);
	}
	for (unsigned t = 0; t < 4; t++)
		pthread_join(threads[t], NULL);
	assert_true(ot_wait_dones(OFFLOAD_JOBS));
	ot_check_normal(OFFLOAD_JOBS);
	assert_int_equal(atomic_load(&ot.works), OFFLOAD_JOBS);
	worker_pool_stop(p, 100);
	worker_pool_join(p);
	worker_pool_destroy(&p);
	assert_int_equal(atomic_load(&ot.dones), OFFLOAD_JOBS);
}

static void
test_offload_before_start(void **state)
{
	struct worker_pool *p;
	struct worker *w;
	const char *error;

	ot_reset();
	assert_int_equal(worker_pool_create(1, &p, &error), 0);
	w = worker_pool_get(p, 0);
	for (unsigned i = 0; i < 10; i++)
		ot_queue(p, i, w);
	/* Nothing runs before the start. */
	usleep(30 * 1000);
	assert_int_equal(atomic_load(&ot.works), 0);
	assert_int_equal(atomic_load(&ot.dones), 0);
	assert_int_equal(worker_pool_start(p, &error), 0);
	assert_true(ot_wait_dones(10));
	ot_check_normal(10);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(ot.work_order[i], i);
	worker_pool_stop(p, 100);
	worker_pool_join(p);
	worker_pool_destroy(&p);

	/* A pool destroyed without ever starting: no work, done only (on
	   the destroying thread), so contexts still get freed. */
	ot_reset();
	assert_int_equal(worker_pool_create(1, &p, &error), 0);
	w = worker_pool_get(p, 0);
	for (unsigned i = 0; i < 3; i++)
		ot_queue(p, i, w);
	worker_pool_destroy(&p);
	assert_int_equal(atomic_load(&ot.works), 0);
	assert_int_equal(atomic_load(&ot.dones), 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_false(atomic_load(&ot.recs[i].worked_before_done));
		assert_null(ot.recs[i].done_on);
	}
}

static void
test_offload_stop_pending(void **state)
{
	struct worker_pool *p;
	struct worker *w;
	const char *error;
	unsigned n = 10;

	ot_reset();
	assert_int_equal(worker_pool_create(1, &p, &error), 0);
	assert_int_equal(worker_pool_start(p, &error), 0);
	w = worker_pool_get(p, 0);
	ot.recs[0].sleep_ms = 150;
	for (unsigned i = 0; i < n; i++)
		ot_queue(p, i, w);
	/* Stop while the first job still sleeps and nine wait behind it:
	   join waits for all of their work. The worker has no connection,
	   so its loop ends at once; the dones that missed it run in
	   destroy. */
	worker_pool_stop(p, 100);
	worker_pool_join(p);
	assert_int_equal(atomic_load(&ot.works), n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(ot.work_order[i], i);

	/* Queued after join: work is skipped, done still runs. */
	ot_queue(p, n, w);
	assert_false(atomic_load(&ot.recs[n].worked));
	worker_pool_destroy(&p);
	assert_int_equal(atomic_load(&ot.works), n);
	assert_int_equal(atomic_load(&ot.dones), n + 1);
	for (unsigned i = 0; i < n; i++) {
		assert_true(atomic_load(&ot.recs[i].worked_before_done));
		/* On the worker while its loop ran, else in destroy. */
		assert_true(ot.recs[i].done_on == w ||
			    ot.recs[i].done_on == NULL);
	}
	assert_false(atomic_load(&ot.recs[n].worked_before_done));
	assert_true(atomic_load(&ot.recs[n].done));
}

static void
test_stop_with_connections(void **state)
{
	struct client c[3];
	struct timespec t0, t1;
	double secs;

	server_start("127.0.0.1:0", false, false);
	for (int i = 0; i < 3; i++) {
		client_connect(&c[i]);
		client_expect(&c[i], "HELLO echo");
	}
	/* This one ignores the shutdown notice: closed at the deadline. */
	client_send_str(&c[2], "IGNORE\r\n");
	client_expect(&c[2], "OK");
	assert_int_equal(worker_pool_connection_count(pool), 3);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	worker_pool_stop(pool, 500);
	client_expect(&c[0], "BYE shutting down");
	client_expect(&c[1], "BYE shutting down");
	for (int i = 0; i < 3; i++)
		assert_int_equal(client_drain(&c[i], NULL), 0);
	worker_pool_join(pool);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 0.4 && secs < 3.0);
	assert_int_equal(st.closed, 3);
	assert_string_equal(st.reason, "server shutting down");
	assert_int_equal(worker_pool_connection_count(pool), 0);
	for (int i = 0; i < 3; i++)
		client_close(&c[i]);
	/* New connections are no longer accepted once stopped. */
	listener_destroy(&lst);
	worker_pool_destroy(&pool);
}

static void
test_connection_limit(void **state)
{
	struct client a, b;

	server_start("127.0.0.1:0", false, false);
	worker_pool_set_max_connections(pool, 1);
	client_connect(&a);
	client_expect(&a, "HELLO echo");
	client_connect(&b);
	client_expect(&b, "ERR too many connections");
	assert_int_equal(client_drain(&b, NULL), 0);
	client_close(&b);
	client_send_str(&a, "still\r\n");
	client_expect(&a, "ECHO still");
	client_close(&a);
	assert_true(st_wait_closed(1));
	/* The slot is free again. */
	for (int i = 0; i < 200 && worker_pool_connection_count(pool) > 0; i++)
		usleep(5000);
	client_connect(&b);
	client_expect(&b, "HELLO echo");
	client_close(&b);
	server_stop();
}

static char *
peer_cert_cn(struct client *c, char *buf, size_t size)
{
	X509 *cert = SSL_get1_peer_certificate(c->ssl);

	assert_non_null(cert);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
				  NID_commonName, buf, (int)size);
	X509_free(cert);
	return buf;
}

static void
test_tls_reload(void **state)
{
	struct tls_settings set2 = {
		.cert_file = cert2_path, .key_file = key2_path,
	};
	struct tls_settings bad = {
		.cert_file = cert_path, .key_file = key2_path,
	};
	struct client old, fresh;
	const char *error;
	char cn[256];

	server_start("127.0.0.1:0", true, true);
	client_connect(&old);
	client_tls(&old);
	client_expect(&old, "HELLO echos");
	assert_string_equal(peer_cert_cn(&old, cn, sizeof(cn)), "localhost");

	/* A mismatched pair is rejected and the old context stays. */
	assert_int_equal(tls_server_reload(tls, &bad, &error), -1);
	assert_non_null(strstr(error, key2_path));

	assert_int_equal(tls_server_reload(tls, &set2, &error), 0);
	/* The old connection keeps working on its context. */
	client_send_str(&old, "still here\r\n");
	client_expect(&old, "ECHO still here");
	/* A new connection gets the new certificate. */
	client_connect(&fresh);
	memset(&fresh.buf, 0, sizeof(fresh.buf));
	{
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

		fresh.ssl = SSL_new(ctx);
		SSL_CTX_free(ctx);
		SSL_set_fd(fresh.ssl, fresh.fd);
		assert_int_equal(SSL_connect(fresh.ssl), 1);
	}
	assert_string_equal(peer_cert_cn(&fresh, cn, sizeof(cn)),
			    "reloaded.example");
	client_expect(&fresh, "HELLO echos");
	client_close(&fresh);
	client_close(&old);
	assert_true(st_wait_closed(2));
	server_stop();
	assert_int_equal(tls_server_reload(tls, &tls_set, &error), 0);
}

static void
test_tls_errors(void **state)
{
	struct tls_settings set = {
		.cert_file = "/nonexistent/cert.pem", .key_file = key_path,
	};
	struct tls_server *srv = NULL;
	char path[160], path2[160];
	struct stat stbuf;
	const char *error;

	assert_int_equal(tls_server_create(&set, &srv, &error), -1);
	assert_null(srv);
	assert_non_null(strstr(error, "/nonexistent/cert.pem"));

	set.cert_file = cert_path;
	set.min_version = "1.1";
	assert_int_equal(tls_server_create(&set, &srv, &error), -1);
	assert_non_null(strstr(error, "1.1"));
	set.min_version = "1.3";
	assert_int_equal(tls_server_create(&set, &srv, &error), 0);
	tls_server_destroy(&srv);
	assert_null(srv);

	/* A key file that is not PEM. */
	set.min_version = NULL;
	set.key_file = file_path;
	assert_int_equal(tls_server_create(&set, &srv, &error), -1);
	assert_non_null(strstr(error, file_path));

	/* The generated key is private. */
	assert_int_equal(stat(key_path, &stbuf), 0);
	assert_int_equal(stbuf.st_mode & 0777, 0600);
	assert_int_equal(tls_generate_self_signed(cert_path, key_path,
						  "bad,name", &error), -1);

	/* ensure: generates once, then leaves the pair alone; refuses a
	   half pair. */
	snprintf(path, sizeof(path), "%s/sub/c.pem", tmpdir);
	snprintf(path2, sizeof(path2), "%s/sub/k.pem", tmpdir);
	assert_int_equal(tls_ensure_self_signed(path, path2, "localhost",
						&error), 1);
	assert_int_equal(tls_ensure_self_signed(path, path2, "localhost",
						&error), 0);
	unlink(path2);
	assert_int_equal(tls_ensure_self_signed(path, path2, "localhost",
						&error), -1);
	assert_non_null(strstr(error, path2));
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	rmdir(path);
}

/* ---- fixtures ---- */

static int
group_setup(void **state)
{
	const char *error;
	int fd;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/quire-test-net.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	snprintf(cert2_path, sizeof(cert2_path), "%s/cert2.pem", tmpdir);
	snprintf(key2_path, sizeof(key2_path), "%s/key2.pem", tmpdir);
	snprintf(file_path, sizeof(file_path), "%s/file", tmpdir);
	if (tls_generate_self_signed(cert_path, key_path, "localhost",
				     &error) < 0 ||
	    tls_generate_self_signed(cert2_path, key2_path,
				     "reloaded.example", &error) < 0) {
		fprintf(stderr, "generate: %s\n", error);
		return -1;
	}
	tls_set.cert_file = cert_path;
	tls_set.key_file = key_path;
	if (tls_server_create(&tls_set, &tls, &error) < 0) {
		fprintf(stderr, "tls: %s\n", error);
		return -1;
	}
	fd = open(file_path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	{
		char *data = malloc(TEST_FILE_SIZE);

		for (size_t i = 0; i < TEST_FILE_SIZE; i++)
			data[i] = (char)(uint8_t)(i * 7 % 251);
		if (write(fd, data, TEST_FILE_SIZE) != TEST_FILE_SIZE)
			return -1;
		free(data);
	}
	close(fd);
	return 0;
}

static int
group_teardown(void **state)
{
	tls_server_destroy(&tls);
	unlink(cert_path);
	unlink(key_path);
	unlink(cert2_path);
	unlink(key2_path);
	unlink(file_path);
	rmdir(tmpdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_addr_parse),
		cmocka_unit_test(test_echo_plain),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_write_file),
		cmocka_unit_test(test_output_slow_reader),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_close_after_flush),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_unix_client_gone_before_greeting),
		cmocka_unit_test(test_wake),
		cmocka_unit_test(test_kick_and_exact),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_worker_run),
		cmocka_unit_test(test_offload_order),
		cmocka_unit_test(test_offload_many),
		cmocka_unit_test(test_offload_before_start),
		cmocka_unit_test(test_offload_stop_pending),
		cmocka_unit_test(test_stop_with_connections),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_tls_reload),
		cmocka_unit_test(test_tls_errors),
		cmocka_unit_test(test_compress),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
