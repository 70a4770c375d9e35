/* The POP3 service over real loopback sockets, in one process: a worker
   pool with one worker runs the service, a store lives in a temporary
   directory, users come from a passwd-file, and the test thread is the
   client. Replies are compared byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "lib/base64.h"
#include "net/listener.h"
#include "net/tls.h"
#include "net/worker.h"
#include "pop3/pop3.h"
#include "store/store.h"

/* ---- fixture ----------------------------------------------------------- */

static struct {
	char dir[64];
	char passwd[128];
	struct store *store;
	struct passdb *passdb;
	struct worker_pool *pool;
	/* main: plaintext from loopback, no expiry; strict: no plaintext
	   at all, 30-day expiry. */
	struct pop3_service *service, *strict_service;
	struct listener *listener, *strict_listener;
	struct tls_server *tls; /* on the strict listener, for STLS */
	unsigned port, strict_port;
} T;

static const struct {
	const char *name;
	const char *scheme;
} users[] = {
	{ "alice", "SHA512-CRYPT" }, { "bob", "PLAIN" },
	{ "carol", "SHA512-CRYPT" }, { "dave", "SHA512-CRYPT" },
	{ "erin", "SHA512-CRYPT" },  { "frank", "SHA512-CRYPT" },
	{ "gina", "SHA512-CRYPT" },  { "hank", "SHA512-CRYPT" },
	{ "ivy", "PLAIN" },	     { "jack", "SCRAM-SHA-256" },
};

static void
password_of(const char *user, char *buf, size_t size)
{
	snprintf(buf, size, "pw-%s", user);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct store_settings sset = { 0 };
	const char *error;
	char *merror;

	snprintf(T.dir, sizeof(T.dir), "/tmp/quire-pop3-test-XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	snprintf(T.passwd, sizeof(T.passwd), "%s/passwd", T.dir);

	sset.data_dir = T.dir;
	if (store_open(&sset, &T.store, &error) < 0) {
		fprintf(stderr, "store_open: %s\n", error);
		return -1;
	}
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		char pw[64], *stored;

		password_of(users[i].name, pw, sizeof(pw));
		if (password_generate(users[i].scheme, pw, &stored,
				      &error) < 0) {
			fprintf(stderr, "password_generate: %s\n", error);
			return -1;
		}
		if (passdb_file_set_password(T.passwd, users[i].name, stored,
					     &merror) < 0) {
			fprintf(stderr, "passdb: %s\n", merror);
			free(merror);
			return -1;
		}
		free(stored);
	}
	T.passdb = passdb_create(T.passwd);

	char cert[128], key[128];
	struct tls_settings tset = { .cert_file = cert, .key_file = key };

	snprintf(cert, sizeof(cert), "%s/cert.pem", T.dir);
	snprintf(key, sizeof(key), "%s/key.pem", T.dir);
	if (tls_generate_self_signed(cert, key, "localhost", &error) < 0 ||
	    tls_server_create(&tset, &T.tls, &error) < 0) {
		fprintf(stderr, "tls: %s\n", error);
		return -1;
	}

	if (worker_pool_create(1, &T.pool, &error) < 0) {
		fprintf(stderr, "worker_pool_create: %s\n", error);
		return -1;
	}
	struct pop3_settings pset = {
		.store = T.store,
		.passdb = T.passdb,
		.allow_plaintext = CONFIG_PLAINTEXT_LOOPBACK,
		.expire_days = -1,
		.implementation = "quire-test",
	};
	T.service = pop3_service_create(&pset);
	pset.allow_plaintext = CONFIG_PLAINTEXT_NEVER;
	pset.expire_days = 30;
	pset.implementation = NULL;
	pset.tls = T.tls;
	T.strict_service = pop3_service_create(&pset);

	struct listener_settings lset = {
		.service = "pop3",
		.address = "127.0.0.1:0",
		.new_connection = pop3_service_new_connection,
		.context = T.service,
	};
	if (listener_create(T.pool, &lset, &T.listener, &error) < 0) {
		fprintf(stderr, "listener_create: %s\n", error);
		return -1;
	}
	lset.context = T.strict_service;
	lset.tls = T.tls;
	if (listener_create(T.pool, &lset, &T.strict_listener, &error) < 0) {
		fprintf(stderr, "listener_create: %s\n", error);
		return -1;
	}
	T.port = listener_get_port(T.listener);
	T.strict_port = listener_get_port(T.strict_listener);
	if (worker_pool_start(T.pool, &error) < 0) {
		fprintf(stderr, "worker_pool_start: %s\n", error);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	worker_pool_stop(T.pool, 2000);
	worker_pool_join(T.pool);
	listener_destroy(&T.listener);
	listener_destroy(&T.strict_listener);
	pop3_service_destroy(&T.service);
	pop3_service_destroy(&T.strict_service);
	worker_pool_destroy(&T.pool);
	tls_server_destroy(&T.tls);
	passdb_destroy(&T.passdb);
	store_close(&T.store);
	nftw(T.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- store helpers ----------------------------------------------------- */

static uint64_t
inbox_of(struct store_user *user, uint32_t *uidvalidity_r)
{
	struct store_mailbox_info info;
	const char *error;
	uint64_t id;

	assert_int_equal(store_mailbox_lookup(user, "INBOX", &info, &error),
			 1);
	id = info.id;
	if (uidvalidity_r != NULL)
		*uidvalidity_r = info.uidvalidity;
	store_mailbox_info_free(&info);
	return id;
}

static uint32_t
deliver(const char *username, const void *data, size_t len)
{
	struct store_user *user;
	struct store_save *save;
	const char *error;
	uint32_t uid;

	assert_int_equal(store_user_get(T.store, username, &user, &error), 0);
	assert_int_equal(store_save_begin(user, inbox_of(user, NULL), &save,
					  &error), 0);
	assert_int_equal(store_save_write(save, data, len, &error), 0);
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	store_user_unref(&user);
	return uid;
}

static void
deliver_str(const char *username, const char *msg)
{
	deliver(username, msg, strlen(msg));
}

/* The messages of a user's INBOX now (caller frees). */
static struct store_message *
inbox_list(const char *username, unsigned *count_r)
{
	struct store_user *user;
	struct store_message *msgs;
	const char *error;

	assert_int_equal(store_user_get(T.store, username, &user, &error), 0);
	assert_int_equal(store_message_list(user, inbox_of(user, NULL), &msgs,
					    count_r, &error), 1);
	store_user_unref(&user);
	return msgs;
}

/* ---- a tiny client ----------------------------------------------------- */

struct client {
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl; /* after STLS */
	char *buf;
	size_t len, cap;
	char greeting[512];
};

static bool
client_fill(struct client *c)
{
	ssize_t n;

	if (c->cap - c->len < 65536) {
		c->cap = c->cap * 2 + 65536;
		c->buf = realloc(c->buf, c->cap);
		assert_non_null(c->buf);
	}
	if (c->ssl != NULL) {
		int r = SSL_read(c->ssl, c->buf + c->len,
				 (int)(c->cap - c->len - 1));

		if (r <= 0) {
			int err = SSL_get_error(c->ssl, r);

			if (err == SSL_ERROR_ZERO_RETURN ||
			    err == SSL_ERROR_SYSCALL)
				return false;
			fail_msg("SSL_read: error %d", err);
		}
		n = r;
	} else {
		do {
			n = recv(c->fd, c->buf + c->len,
				 c->cap - c->len - 1, 0);
		} while (n < 0 && errno == EINTR);
	}
	if (n < 0)
		fail_msg("recv: %s (timeout?)", strerror(errno));
	if (n == 0)
		return false;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return true;
}

static void
client_consume(struct client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* The next line without CRLF (malloc'ed), or NULL at EOF. */
static char *
client_line(struct client *c)
{
	for (;;) {
		char *end = c->len == 0 ? NULL :
			memmem(c->buf, c->len, "\r\n", 2);

		if (end != NULL) {
			size_t n = (size_t)(end - c->buf);
			char *line = strndup(c->buf, n);

			assert_non_null(line);
			client_consume(c, n + 2);
			return line;
		}
		if (!client_fill(c))
			return NULL;
	}
}

/* The bytes of a multi-line reply up to and including its "\r\n.\r\n"
   (the status line included), malloc'ed; *len_r is their length. */
static char *
client_multiline(struct client *c, size_t *len_r)
{
	for (;;) {
		char *end = c->len < 5 ? NULL :
			memmem(c->buf, c->len, "\r\n.\r\n", 5);

		if (end != NULL) {
			size_t n = (size_t)(end - c->buf) + 5;
			char *data = malloc(n + 1);

			assert_non_null(data);
			memcpy(data, c->buf, n);
			data[n] = '\0';
			client_consume(c, n);
			*len_r = n;
			return data;
		}
		if (!client_fill(c))
			fail_msg("EOF inside a multi-line reply");
	}
}

static void
client_send(struct client *c, const char *data, size_t len)
{
	if (c->ssl != NULL) {
		assert_int_equal(SSL_write(c->ssl, data, (int)len), (int)len);
		return;
	}
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
}

static void
client_sendf(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
client_sendf(struct client *c, const char *fmt, ...)
{
	char buf[16384];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	client_send(c, buf, (size_t)n);
}

static void
client_open_port(struct client *c, unsigned port)
{
	struct sockaddr_in sin = { 0 };
	struct timeval tv = { .tv_sec = 10 };
	char *line;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	line = client_line(c);
	assert_non_null(line);
	snprintf(c->greeting, sizeof(c->greeting), "%s", line);
	free(line);
}

static void
client_open(struct client *c)
{
	client_open_port(c, T.port);
}

static void
client_starttls(struct client *c)
{
	assert_int_equal(c->len, 0); /* nothing may come before TLS */
	c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ssl_ctx);
	c->ssl = SSL_new(c->ssl_ctx);
	assert_non_null(c->ssl);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1)
		fail_msg("TLS handshake failed");
}

static void
client_close(struct client *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ssl_ctx != NULL)
		SSL_CTX_free(c->ssl_ctx);
	close(c->fd);
	free(c->buf);
	c->buf = NULL;
}

/* True if the server closes the connection (after any pending bytes,
   which are dropped). */
static bool
client_eof(struct client *c)
{
	char *line;

	while ((line = client_line(c)) != NULL)
		free(line);
	return true;
}

/* Sends cmd (CRLF added; NULL sends nothing) and checks that the reply
   line starts with prefix. Returns the line (malloc'ed). */
static char *
cmd_reply(struct client *c, const char *cmd, const char *prefix)
{
	char *line;

	if (cmd != NULL)
		client_sendf(c, "%s\r\n", cmd);
	line = client_line(c);
	if (line == NULL)
		fail_msg("%s: EOF, expected %s", cmd != NULL ? cmd : "", prefix);
	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("%s: got \"%s\", expected \"%s...\"",
			 cmd != NULL ? cmd : "", line, prefix);
	return line;
}

static void
expect(struct client *c, const char *cmd, const char *prefix)
{
	free(cmd_reply(c, cmd, prefix));
}

/* Sends cmd and checks the whole multi-line reply byte for byte. */
static void
expect_multi(struct client *c, const char *cmd, const char *reply,
	     size_t reply_len)
{
	size_t len;
	char *data;

	if (cmd != NULL)
		client_sendf(c, "%s\r\n", cmd);
	data = client_multiline(c, &len);
	if (len != reply_len || memcmp(data, reply, len) != 0)
		fail_msg("%s: reply of %zu bytes differs from the expected "
			 "%zu bytes; got: %.300s", cmd != NULL ? cmd : "", len,
			 reply_len, data);
	free(data);
}

static void
login(struct client *c, const char *user)
{
	char pw[64];

	password_of(user, pw, sizeof(pw));
	client_sendf(c, "USER %s\r\n", user);
	expect(c, NULL, "+OK");
	client_sendf(c, "PASS %s\r\n", pw);
	expect(c, NULL, "+OK");
}

/* Logs in, retrying while an earlier session of the user still holds the
   maildrop (its server side may not have seen the close yet). */
static void
login_retry(struct client *c, const char *user)
{
	char pw[64], *line;

	password_of(user, pw, sizeof(pw));
	for (unsigned i = 0; i < 100; i++) {
		client_sendf(c, "USER %s\r\n", user);
		expect(c, NULL, "+OK");
		client_sendf(c, "PASS %s\r\n", pw);
		line = client_line(c);
		assert_non_null(line);
		if (strncmp(line, "+OK", 3) == 0) {
			free(line);
			return;
		}
		assert_true(strncmp(line, "-ERR [IN-USE]", 13) == 0);
		free(line);
		usleep(20 * 1000);
	}
	fail_msg("maildrop of %s stayed locked", user);
}

/* ---- reference framing (written independently of lib/dotstuff) ------- */

/* RFC 1939 3 byte-stuffing of msg, cut for TOP after the header and
   top_lines body lines (top_lines < 0: whole), with the terminator. */
static char *
stuff(const char *msg, size_t len, long top_lines, size_t *len_r)
{
	char *out = malloc(len * 2 + 8);
	size_t o = 0, i = 0;
	bool in_body = false;

	assert_non_null(out);
	while (i < len) {
		size_t start = i, end;
		bool blank;

		while (i < len && msg[i] != '\n')
			i++;
		end = i < len ? i + 1 : i; /* past the LF, if any */
		blank = end - start <= 2 &&
			(end - start == 0 || msg[start] == '\r' ||
			 msg[start] == '\n');
		if (in_body && top_lines == 0)
			break;
		if (msg[start] == '.')
			out[o++] = '.';
		memcpy(out + o, msg + start, end - start);
		o += end - start;
		if (in_body && top_lines > 0)
			top_lines--;
		if (!in_body && blank)
			in_body = true;
		i = end;
	}
	if (o > 0 && out[o - 1] != '\n') {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	*len_r = o;
	return out;
}

static void
expect_message(struct client *c, const char *cmd, const char *status,
	       const char *msg, size_t msg_len, long top_lines)
{
	size_t body_len, status_len = strlen(status);
	char *body = stuff(msg, msg_len, top_lines, &body_len);
	char *reply = malloc(status_len + 2 + body_len);

	assert_non_null(reply);
	memcpy(reply, status, status_len);
	memcpy(reply + status_len, "\r\n", 2);
	memcpy(reply + status_len + 2, body, body_len);
	expect_multi(c, cmd, reply, status_len + 2 + body_len);
	free(body);
	free(reply);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_greeting_capa(void **state)
{
	struct client c;
	char *capa;
	size_t len;

	client_open(&c);
	assert_true(strncmp(c.greeting, "+OK quire ready <", 17) == 0);
	assert_non_null(strchr(c.greeting, '@'));
	assert_int_equal(c.greeting[strlen(c.greeting) - 1], '>');

	client_sendf(&c, "CAPA\r\n");
	capa = client_multiline(&c, &len);
	assert_true(strncmp(capa, "+OK", 3) == 0);
	assert_non_null(strstr(capa, "\r\nTOP\r\n"));
	assert_non_null(strstr(capa, "\r\nUSER\r\n"));
	assert_non_null(strstr(capa, "\r\nSASL SCRAM-SHA-256 PLAIN LOGIN\r\n"));
	assert_non_null(strstr(capa, "\r\nRESP-CODES\r\n"));
	assert_non_null(strstr(capa, "\r\nAUTH-RESP-CODE\r\n"));
	assert_non_null(strstr(capa, "\r\nPIPELINING\r\n"));
	assert_non_null(strstr(capa, "\r\nUIDL\r\n"));
	assert_non_null(strstr(capa, "\r\nEXPIRE NEVER\r\n"));
	assert_non_null(strstr(capa, "\r\nLOGIN-DELAY 0\r\n"));
	assert_non_null(strstr(capa, "\r\nIMPLEMENTATION quire-test\r\n"));
	assert_null(strstr(capa, "STLS")); /* no TLS on this listener */
	free(capa);

	expect(&c, "STLS", "-ERR");
	expect(&c, "STAT", "-ERR");
	expect(&c, "NOOP", "-ERR");
	expect(&c, "AUTH", "+OK");
	expect(&c, NULL, "SCRAM-SHA-256");
	expect(&c, NULL, "PLAIN");
	expect(&c, NULL, "LOGIN");
	expect(&c, NULL, ".");
	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);

	/* Greetings differ (APOP timestamps are unique). */
	struct client c2, c3;

	client_open(&c2);
	client_open(&c3);
	assert_string_not_equal(c2.greeting, c3.greeting);
	client_close(&c2);
	client_close(&c3);
}

static void
test_user_pass(void **state)
{
	struct client c;
	char *capa;
	size_t len;

	auth_throttle_reset();
	client_open(&c);
	expect(&c, "PASS x", "-ERR");
	expect(&c, "USER alice", "+OK");
	expect(&c, "PASS wrong password", "-ERR [AUTH]");
	/* USER/PASS is one attempt: PASS again needs USER again. */
	expect(&c, "PASS pw-alice", "-ERR");
	expect(&c, "USER nosuchuser", "+OK");
	expect(&c, "PASS pw-alice", "-ERR [AUTH]");
	auth_throttle_reset();
	login(&c, "alice");
	expect(&c, "USER alice", "-ERR");
	expect(&c, "AUTH PLAIN", "-ERR");
	expect(&c, "NOOP", "+OK");

	/* After login: USER stays, SASL goes. */
	client_sendf(&c, "CAPA\r\n");
	capa = client_multiline(&c, &len);
	assert_non_null(strstr(capa, "\r\nUSER\r\n"));
	assert_null(strstr(capa, "SASL"));
	free(capa);

	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);
}

static void
b64(const void *data, size_t len, char *out)
{
	base64_encode(data, len, out);
}

static void
test_auth_plain(void **state)
{
	static const char resp[] = "\0gina\0pw-gina";
	char ir[64], bad[64];
	struct client c;

	auth_throttle_reset();
	b64(resp, sizeof(resp) - 1, ir);
	b64("\0gina\0nope", 10, bad);

	/* Without an initial response: an empty challenge, "*" cancels. */
	client_open(&c);
	expect(&c, "AUTH NOSUCH", "-ERR");
	expect(&c, "AUTH PLAIN", "+ ");
	expect(&c, "*", "-ERR");
	expect(&c, "AUTH PLAIN !!!!", "-ERR");
	expect(&c, "AUTH PLAIN", "+ ");
	expect(&c, "not base64", "-ERR");
	client_sendf(&c, "AUTH PLAIN %s\r\n", bad);
	expect(&c, NULL, "-ERR [AUTH]");
	expect(&c, "AUTH PLAIN", "+ ");
	client_sendf(&c, "%s\r\n", ir);
	expect(&c, NULL, "+OK");
	expect(&c, "AUTH PLAIN", "-ERR");
	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);

	/* With an initial response (SASL-IR). */
	auth_throttle_reset();
	client_open(&c);
	client_sendf(&c, "AUTH PLAIN %s\r\n", ir);
	expect(&c, NULL, "+OK");
	expect(&c, "STAT", "+OK 0 0");
	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);

	/* LOGIN: "Username:" and "Password:" challenges. */
	client_open(&c);
	expect(&c, "AUTH LOGIN", "+ VXNlcm5hbWU6");
	b64("gina", 4, ir);
	client_sendf(&c, "%s\r\n", ir);
	expect(&c, NULL, "+ UGFzc3dvcmQ6");
	b64("pw-gina", 7, ir);
	client_sendf(&c, "%s\r\n", ir);
	expect(&c, NULL, "+OK");
	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);
}

/* SCRAM-SHA-256 (RFC 5802) from the client's side. */
static void
hmac256(const void *key, size_t key_len, const void *data, size_t len,
	uint8_t out[32])
{
	unsigned out_len = 32;

	assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, data, len, out,
			     &out_len));
}

static void
test_auth_scram(void **state)
{
	const char *first_bare = "n=jack,r=clientnonce123";
	char line_b64[4096], *line, server_first[512], final_wo[600];
	char auth_msg[2048], final[8192], salt_b64[128];
	uint8_t salt[96], salted[32], client_key[32], stored_key[32];
	uint8_t sig[32], proof[32], decoded[768];
	size_t salt_len, dec_len;
	unsigned iter = 0;
	struct client c;
	char *r, *s, *i;

	auth_throttle_reset();
	client_open(&c);
	snprintf(final, sizeof(final), "n,,%s", first_bare);
	b64(final, strlen(final), line_b64);
	client_sendf(&c, "AUTH SCRAM-SHA-256 %s\r\n", line_b64);
	line = cmd_reply(&c, NULL, "+ ");
	assert_int_equal(base64_decode(line + 2, strlen(line + 2), decoded,
				       &dec_len), 0);
	free(line);
	assert_true(dec_len < sizeof(server_first));
	memcpy(server_first, decoded, dec_len);
	server_first[dec_len] = '\0';

	/* r=<nonce>,s=<salt>,i=<iterations> */
	r = strstr(server_first, "r=");
	s = strstr(server_first, ",s=");
	i = strstr(server_first, ",i=");
	assert_true(r == server_first && s != NULL && i != NULL && s < i);
	snprintf(salt_b64, sizeof(salt_b64), "%.*s", (int)(i - s - 3), s + 3);
	assert_int_equal(base64_decode(salt_b64, strlen(salt_b64), salt,
				       &salt_len), 0);
	iter = (unsigned)strtoul(i + 3, NULL, 10);
	assert_true(iter >= 4096);

	assert_int_equal(PKCS5_PBKDF2_HMAC("pw-jack", 7, salt, (int)salt_len,
					   (int)iter, EVP_sha256(), 32,
					   salted), 1);
	hmac256(salted, 32, "Client Key", 10, client_key);
	SHA256(client_key, 32, stored_key);
	snprintf(final_wo, sizeof(final_wo), "c=biws,r=%.*s",
		 (int)(s - r - 2), r + 2);
	snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", first_bare,
		 server_first, final_wo);
	hmac256(stored_key, 32, auth_msg, strlen(auth_msg), sig);
	for (unsigned k = 0; k < 32; k++)
		proof[k] = client_key[k] ^ sig[k];
	b64(proof, 32, line_b64);
	snprintf(final, sizeof(final), "%s,p=%s", final_wo, line_b64);
	b64(final, strlen(final), line_b64);
	client_sendf(&c, "%s\r\n", line_b64);

	/* The server-final "v=..." comes as a last challenge. */
	line = cmd_reply(&c, NULL, "+ ");
	assert_int_equal(base64_decode(line + 2, strlen(line + 2), decoded,
				       &dec_len), 0);
	assert_true(dec_len > 2 && memcmp(decoded, "v=", 2) == 0);
	free(line);
	expect(&c, "", "+OK");
	expect(&c, "STAT", "+OK 0 0");
	expect(&c, "QUIT", "+OK");
	client_close(&c);
}

/* A message with dot lines (RFC 1939 3), and a long one with many. */
static const char msg1[] =
	"From: a@example.org\r\n"
	"Subject: dots\r\n"
	"\r\n"
	".starts with a dot\r\n"
	"second line\r\n"
	"..two dots\r\n"
	".\r\n"
	"last\r\n";
static const char msg3[] =
	"Subject: no final newline\r\n\r\nbody\r\n.tail";

static char *
make_big(size_t *len_r)
{
	size_t cap = 700 * 1024, len = 0;
	char *big = malloc(cap);
	unsigned n = 0;

	assert_non_null(big);
	len += (size_t)snprintf(big, cap, "Subject: big\r\n\r\n");
	while (len < cap - 200) {
		len += (size_t)snprintf(big + len, cap - len,
					n % 3 == 0 ? ".line %u ......\r\n" :
					"line %u of a big message\r\n", n);
		n++;
	}
	*len_r = len;
	return big;
}

static void
test_retr_top_list(void **state)
{
	struct store_message *msgs;
	char uidl[STORE_UIDL_SIZE], status[128], list[512], *uidls;
	size_t big_len, msg1_len = sizeof(msg1) - 1,
	       msg3_len = sizeof(msg3) - 1;
	char *big = make_big(&big_len);
	uint32_t uidvalidity;
	struct store_user *user;
	const char *error;
	unsigned count;
	struct client c;

	deliver_str("alice", msg1);
	deliver("alice", big, big_len);
	deliver_str("alice", msg3);
	assert_int_equal(store_user_get(T.store, "alice", &user, &error), 0);
	inbox_of(user, &uidvalidity);
	store_user_unref(&user);
	msgs = inbox_list("alice", &count);
	assert_int_equal(count, 3);

	client_open(&c);
	login(&c, "alice");
	snprintf(status, sizeof(status), "+OK 3 %zu",
		 msg1_len + big_len + msg3_len);
	expect(&c, "STAT", status);

	snprintf(list, sizeof(list), "+OK 3 messages (%zu octets)\r\n"
		 "1 %zu\r\n2 %zu\r\n3 %zu\r\n.\r\n",
		 msg1_len + big_len + msg3_len, msg1_len, big_len, msg3_len);
	expect_multi(&c, "LIST", list, strlen(list));
	snprintf(status, sizeof(status), "+OK 2 %zu", big_len);
	expect(&c, "LIST 2", status);

	uidls = malloc(256);
	assert_non_null(uidls);
	size_t ul = (size_t)snprintf(uidls, 256, "+OK\r\n");
	for (unsigned k = 0; k < 3; k++) {
		store_uidl(uidvalidity, msgs[k].uid, uidl);
		ul += (size_t)snprintf(uidls + ul, 256 - ul, "%u %s\r\n",
				       k + 1, uidl);
	}
	ul += (size_t)snprintf(uidls + ul, 256 - ul, ".\r\n");
	expect_multi(&c, "UIDL", uidls, ul);
	store_uidl(uidvalidity, msgs[2].uid, uidl);
	snprintf(status, sizeof(status), "+OK 3 %s", uidl);
	expect(&c, "UIDL 3", status);
	free(uidls);

	snprintf(status, sizeof(status), "+OK %zu octets", msg1_len);
	expect_message(&c, "RETR 1", status, msg1, msg1_len, -1);
	snprintf(status, sizeof(status), "+OK %zu octets", big_len);
	expect_message(&c, "RETR 2", status, big, big_len, -1);
	expect_message(&c, "TOP 1 0", "+OK", msg1, msg1_len, 0);
	expect_message(&c, "TOP 1 1", "+OK", msg1, msg1_len, 1);
	expect_message(&c, "TOP 1 4", "+OK", msg1, msg1_len, 4);
	expect_message(&c, "TOP 1 100", "+OK", msg1, msg1_len, 100);
	expect_message(&c, "TOP 2 5", "+OK", big, big_len, 5);
	expect_message(&c, "TOP 3 10", "+OK", msg3, msg3_len, 10);

	/* Pipelining: one write, replies in order, a streamed RETR in the
	   middle. */
	client_sendf(&c, "RETR 2\r\nLIST 1\r\nRETR 1\r\nNOOP\r\n");
	snprintf(status, sizeof(status), "+OK %zu octets", big_len);
	expect_message(&c, NULL, status, big, big_len, -1);
	snprintf(status, sizeof(status), "+OK 1 %zu", msg1_len);
	expect(&c, NULL, status);
	snprintf(status, sizeof(status), "+OK %zu octets", msg1_len);
	expect_message(&c, NULL, status, msg1, msg1_len, -1);
	expect(&c, NULL, "+OK");

	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);
	free(msgs);

	/* RETR marked 1 and 2 retrieved (and \Seen); TOP did not mark 3;
	   nothing was removed. */
	msgs = inbox_list("alice", &count);
	assert_int_equal(count, 3);
	assert_true((msgs[0].flags & STORE_FLAG_SEEN) != 0);
	assert_true(msgs[0].pop3_retrieved != 0);
	assert_true((msgs[1].flags & STORE_FLAG_SEEN) != 0);
	assert_true((msgs[2].flags & STORE_FLAG_SEEN) == 0);
	assert_true(msgs[2].pop3_retrieved == 0);
	free(msgs);
	free(big);
}

static void
test_dele_quit(void **state)
{
	struct store_message *msgs;
	unsigned count;
	struct client c;
	char status[64];

	deliver_str("carol", "Subject: 1\r\n\r\none\r\n");
	deliver_str("carol", "Subject: 2\r\n\r\ntwo\r\n");
	deliver_str("carol", "Subject: 3\r\n\r\nthree\r\n");
	deliver_str("carol", "Subject: 4\r\n\r\nfour\r\n");

	client_open(&c);
	login(&c, "carol");
	expect(&c, "DELE 2", "+OK");
	expect(&c, "DELE 2", "-ERR");
	expect(&c, "RETR 2", "-ERR");
	expect(&c, "TOP 2 0", "-ERR");
	expect(&c, "LIST 2", "-ERR");
	expect(&c, "UIDL 2", "-ERR");
	expect(&c, "DELE 3", "+OK");
	snprintf(status, sizeof(status), "+OK 2 %zu",
		 strlen("Subject: 1\r\n\r\none\r\n") +
		 strlen("Subject: 4\r\n\r\nfour\r\n"));
	expect(&c, "STAT", status);
	expect_multi(&c, "LIST", "+OK 2 messages (39 octets)\r\n"
		     "1 19\r\n4 20\r\n.\r\n", strlen("+OK 2 messages (39 "
		     "octets)\r\n1 19\r\n4 20\r\n.\r\n"));
	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);

	msgs = inbox_list("carol", &count);
	assert_int_equal(count, 2);
	assert_int_equal(msgs[0].size, 19);
	free(msgs);

	/* The next session numbers what is left from 1. */
	client_open(&c);
	login_retry(&c, "carol");
	expect(&c, "STAT", "+OK 2 39");
	expect_message(&c, "RETR 2", "+OK 20 octets",
		       "Subject: 4\r\n\r\nfour\r\n", 20, -1);
	expect(&c, "QUIT", "+OK");
	client_close(&c);
}

static void
test_dele_drop(void **state)
{
	struct store_message *msgs;
	unsigned count;
	struct client c;

	deliver_str("dave", "Subject: 1\r\n\r\none\r\n");
	deliver_str("dave", "Subject: 2\r\n\r\ntwo\r\n");

	client_open(&c);
	login(&c, "dave");
	expect(&c, "DELE 1", "+OK");
	expect(&c, "DELE 2", "+OK");
	expect(&c, "STAT", "+OK 0 0");
	client_close(&c); /* no QUIT */

	/* Logging in again proves the old session ended. */
	client_open(&c);
	login_retry(&c, "dave");
	expect(&c, "STAT", "+OK 2 38");
	expect(&c, "QUIT", "+OK");
	client_close(&c);
	msgs = inbox_list("dave", &count);
	assert_int_equal(count, 2);
	free(msgs);
}

static void
test_rset(void **state)
{
	struct store_message *msgs;
	unsigned count;
	struct client c;

	deliver_str("erin", "Subject: 1\r\n\r\none\r\n");
	deliver_str("erin", "Subject: 2\r\n\r\ntwo\r\n");

	client_open(&c);
	login(&c, "erin");
	expect(&c, "DELE 1", "+OK");
	expect(&c, "STAT", "+OK 1 19");
	expect(&c, "RSET", "+OK");
	expect(&c, "STAT", "+OK 2 38");
	expect(&c, "RETR 1", "+OK 19 octets");
	free(client_multiline(&c, &(size_t){ 0 }));
	expect(&c, "QUIT", "+OK");
	assert_true(client_eof(&c));
	client_close(&c);
	msgs = inbox_list("erin", &count);
	assert_int_equal(count, 2);
	free(msgs);
}

static void
test_in_use(void **state)
{
	struct client a, b;

	client_open(&a);
	login(&a, "frank");
	client_open(&b);
	expect(&b, "USER frank", "+OK");
	expect(&b, "PASS pw-frank", "-ERR [IN-USE]");
	/* Still in AUTHORIZATION: may try again once a is gone. */
	expect(&b, "STAT", "-ERR");
	expect(&a, "QUIT", "+OK");
	/* QUIT freed the maildrop before its reply: no waiting. */
	login(&b, "frank");
	assert_true(client_eof(&a));
	client_close(&a);
	expect(&b, "STAT", "+OK");
	expect(&b, "QUIT", "+OK");
	client_close(&b);
}

static void
test_long_line(void **state)
{
	char *big = malloc(POP3_MAX_LINE + 100);
	struct client c;

	assert_non_null(big);
	memset(big, 'A', POP3_MAX_LINE + 100);
	client_open(&c);
	client_send(&c, big, POP3_MAX_LINE + 100);
	client_send(&c, "\r\nCAPA\r\n", 8);
	expect(&c, NULL, "-ERR Line too long");
	free(client_multiline(&c, &(size_t){ 0 }));
	login(&c, "hank");
	client_send(&c, "NOOP ", 5);
	client_send(&c, big, POP3_MAX_LINE + 100);
	client_send(&c, "\r\nNOOP\r\n", 8);
	expect(&c, NULL, "-ERR Line too long");
	expect(&c, NULL, "+OK");
	/* Just at the limit is still a line. */
	memcpy(big, "NOOP ", 5);
	client_send(&c, big, POP3_MAX_LINE);
	client_send(&c, "\r\n", 2);
	expect(&c, NULL, "-ERR No arguments allowed");
	expect(&c, "QUIT", "+OK");
	client_close(&c);
	free(big);
}

static void
test_bad_numbers(void **state)
{
	static const char *const bad[] = {
		"RETR 0", "RETR +1", "RETR 1x", "RETR -1", "RETR 3",
		"RETR 99999999999999999999", "LIST 0", "TOP 1", "TOP 1 x",
		"TOP 1 -1", "DELE", "UIDL 9", "RETR  ", "LIST 1 2",
	};
	struct client c;

	deliver_str("hank", "Subject: 1\r\n\r\none\r\n");
	deliver_str("hank", "Subject: 2\r\n\r\ntwo\r\n");
	client_open(&c);
	login_retry(&c, "hank");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(&c, bad[i], "-ERR");
	expect(&c, "RETR 2", "+OK 19 octets");
	free(client_multiline(&c, &(size_t){ 0 }));
	expect(&c, "retr 1", "+OK 19 octets");
	free(client_multiline(&c, &(size_t){ 0 }));
	expect(&c, "QUIT", "+OK");
	client_close(&c);
}

static void
test_bad_command_limit(void **state)
{
	struct client c;

	client_open(&c);
	for (unsigned i = 0; i < 19; i++)
		expect(&c, "XYZZY", "-ERR");
	expect(&c, "CAPA", "+OK");
	free(client_multiline(&c, &(size_t){ 0 }) );
	client_sendf(&c, "XYZZY\r\nCAPA\r\n");
	expect(&c, NULL, "-ERR");
	assert_null(client_line(&c)); /* closed */
	client_close(&c);
}

static void
test_auth_failure_limit(void **state)
{
	struct client c;
	struct timespec t0, t1;

	auth_throttle_reset();
	client_open(&c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < 3; i++) {
		expect(&c, "USER gina", "+OK");
		expect(&c, "PASS bad", "-ERR [AUTH]");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_null(client_line(&c)); /* closed after the third */
	client_close(&c);
	/* The second and third replies were delayed (250 + 500 ms). */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 700);
	auth_throttle_reset();
}

static void
apop_digest(const char *greeting, const char *pw, char out[33])
{
	const char *ts = strchr(greeting, '<');
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ts);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_md5(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, ts, strlen(ts)), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, pw, strlen(pw)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &md_len), 1);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + i * 2, 3, "%02x", md[i]);
}

static void
test_apop(void **state)
{
	char digest[33];
	struct client c;

	auth_throttle_reset();
	client_open(&c);
	/* alice's password is hashed: APOP cannot work for her. */
	apop_digest(c.greeting, "pw-alice", digest);
	client_sendf(&c, "APOP alice %s\r\n", digest);
	expect(&c, NULL, "-ERR [AUTH]");
	apop_digest(c.greeting, "pw-wrong", digest);
	client_sendf(&c, "APOP bob %s\r\n", digest);
	expect(&c, NULL, "-ERR [AUTH]");
	auth_throttle_reset();
	apop_digest(c.greeting, "pw-bob", digest);
	client_sendf(&c, "APOP bob %s\r\n", digest);
	expect(&c, NULL, "+OK");
	expect(&c, "STAT", "+OK 0 0");
	expect(&c, "QUIT", "+OK");
	client_close(&c);
}

static void
test_strict_service(void **state)
{
	struct store_message *msgs;
	struct store_uid_range range;
	struct store_user *user;
	const char *error;
	unsigned count;
	char digest[33], *capa;
	struct client c;
	size_t len;

	/* Two messages for ivy, the first retrieved 31 days ago. */
	deliver_str("ivy", "Subject: old\r\n\r\nold\r\n");
	deliver_str("ivy", "Subject: new\r\n\r\nnew\r\n");
	assert_int_equal(store_user_get(T.store, "ivy", &user, &error), 0);
	msgs = inbox_list("ivy", &count);
	assert_int_equal(count, 2);
	range.first = range.last = msgs[0].uid;
	assert_int_equal(store_pop3_mark_retrieved(user, inbox_of(user, NULL),
						   &range, 1,
						   time(NULL) - 31 * 86400,
						   &error), 1);
	store_user_unref(&user);
	free(msgs);

	auth_throttle_reset();
	client_open_port(&c, T.strict_port);
	client_sendf(&c, "CAPA\r\n");
	capa = client_multiline(&c, &len);
	assert_null(strstr(capa, "USER"));
	assert_non_null(strstr(capa, "\r\nSASL SCRAM-SHA-256\r\n"));
	assert_non_null(strstr(capa, "\r\nEXPIRE 30\r\n"));
	assert_null(strstr(capa, "IMPLEMENTATION"));
	free(capa);
	expect(&c, "USER ivy", "-ERR [AUTH]");
	expect(&c, "AUTH PLAIN", "-ERR [AUTH] Plaintext");
	expect(&c, "AUTH LOGIN", "-ERR [AUTH] Plaintext");
	expect(&c, "AUTH CRAM-MD5", "-ERR Unsupported");

	/* APOP does not reveal the password: allowed. Login expires the
	   old message. */
	apop_digest(c.greeting, "pw-ivy", digest);
	client_sendf(&c, "APOP ivy %s\r\n", digest);
	expect(&c, NULL, "+OK");
	expect(&c, "STAT", "+OK 1 21");
	expect(&c, "QUIT", "+OK");
	client_close(&c);
	msgs = inbox_list("ivy", &count);
	assert_int_equal(count, 1);
	free(msgs);
}

static void
test_stls(void **state)
{
	struct client c;
	char *capa;
	size_t len;

	auth_throttle_reset();
	client_open_port(&c, T.strict_port);
	client_sendf(&c, "CAPA\r\n");
	capa = client_multiline(&c, &len);
	assert_non_null(strstr(capa, "\r\nSTLS\r\n"));
	free(capa);

	/* What the client pipelines after STLS is dropped (RFC 2595 4):
	   the USER below never counts. */
	client_sendf(&c, "STLS\r\nUSER gina\r\n");
	expect(&c, NULL, "+OK");
	client_starttls(&c);

	client_sendf(&c, "CAPA\r\n");
	capa = client_multiline(&c, &len);
	assert_null(strstr(capa, "STLS"));
	assert_non_null(strstr(capa, "\r\nUSER\r\n"));
	assert_non_null(strstr(capa, "\r\nSASL SCRAM-SHA-256 PLAIN LOGIN\r\n"));
	free(capa);
	expect(&c, "STLS", "-ERR");
	expect(&c, "PASS pw-gina", "-ERR No user name");
	/* Over TLS, plaintext logins are fine even on this service. */
	login_retry(&c, "gina");
	expect(&c, "STAT", "+OK 0 0");
	expect(&c, "STLS", "-ERR");
	expect(&c, "QUIT", "+OK");
	client_close(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_capa),
		cmocka_unit_test(test_user_pass),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_scram),
		cmocka_unit_test(test_retr_top_list),
		cmocka_unit_test(test_dele_quit),
		cmocka_unit_test(test_dele_drop),
		cmocka_unit_test(test_rset),
		cmocka_unit_test(test_in_use),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_bad_command_limit),
		cmocka_unit_test(test_auth_failure_limit),
		cmocka_unit_test(test_apop),
		cmocka_unit_test(test_strict_service),
		cmocka_unit_test(test_stls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
