/* The LMTP service over real loopback sockets: one worker, a listener on
   127.0.0.1 port 0, a store in a temp dir and a passwd-file. The test
   thread is the client and checks replies line by line and the stored
   messages byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lmtp/deliver.h"
#include "mail/mail-cache.h"
#include "lmtp/lmtp.h"
#include "net/listener.h"
#include "net/worker.h"
#include "store/store.h"
#include "store/store-private.h" /* store_set_io */

#define TEST_HOST "test.example"
#define TEST_MAX_SIZE 4096

static char root[64];
static char passwd_path[128];
static char spool_dir[128];
static struct store *store;
static struct passdb *passdb;
static struct lmtp_service *service;
static struct worker_pool *pool;
static struct listener *listener;
static unsigned port;
static bool pool_stopped;

/* ---- client ------------------------------------------------------------- */

struct client {
	int fd;
	char buf[8192];
	size_t len;
};

static void
client_connect(struct client *c)
{
	struct sockaddr_in sin;
	struct timeval tv = { .tv_sec = 10 };

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	/* a bug must fail the test, not hang it */
	assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin,
				 sizeof(sin)), 0);
}

static void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
client_send(struct client *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void
client_sends(struct client *c, const char *str)
{
	client_send(c, str, strlen(str));
}

/* Reads one line without CRLF into out. Returns false at EOF. */
static bool
client_read_line(struct client *c, char *out, size_t outsize)
{
	for (;;) {
		char *lf = memchr(c->buf, '\n', c->len);

		if (lf != NULL) {
			size_t n = (size_t)(lf - c->buf);

			assert_true(n >= 1 && c->buf[n - 1] == '\r');
			assert_true(n - 1 < outsize);
			memcpy(out, c->buf, n - 1);
			out[n - 1] = '\0';
			memmove(c->buf, lf + 1, c->len - n - 1);
			c->len -= n + 1;
			return true;
		}
		assert_true(c->len < sizeof(c->buf));
		ssize_t ret = recv(c->fd, c->buf + c->len,
				   sizeof(c->buf) - c->len, 0);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			fail_msg("recv: %s", strerror(errno));
		if (ret == 0) {
			assert_int_equal(c->len, 0);
			return false;
		}
		c->len += (size_t)ret;
	}
}

static void
client_expect(struct client *c, const char *want)
{
	char line[1024];

	if (!client_read_line(c, line, sizeof(line)))
		fail_msg("EOF, wanted: %s", want);
	if (strcmp(line, want) != 0)
		fail_msg("got: %s\nwanted: %s", line, want);
}

/* Expects a line starting with prefix; returns what follows in out. */
static void
client_expect_prefix(struct client *c, const char *prefix, char *rest,
		     size_t restsize)
{
	char line[1024];

	if (!client_read_line(c, line, sizeof(line)))
		fail_msg("EOF, wanted: %s...", prefix);
	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("got: %s\nwanted: %s...", line, prefix);
	if (rest != NULL)
		snprintf(rest, restsize, "%s", line + strlen(prefix));
}

static void
client_expect_eof(struct client *c)
{
	char line[1024];

	if (client_read_line(c, line, sizeof(line)))
		fail_msg("got %s, wanted EOF", line);
}

/* Connects and says LHLO. */
static void
client_start(struct client *c)
{
	client_connect(c);
	client_expect(c, "220 " TEST_HOST " quire LMTP ready");
	client_sends(c, "LHLO client.example\r\n");
	client_expect(c, "250-" TEST_HOST);
	client_expect(c, "250-PIPELINING");
	client_expect(c, "250-ENHANCEDSTATUSCODES");
	client_expect(c, "250-8BITMIME");
	client_expect(c, "250-CHUNKING");
	client_expect(c, "250 SIZE 4096");
}

/* MAIL FROM:<from>, RCPT TO:<to>, DATA, with their three replies: the
   client is then sending the message. */
static void
client_begin_data(struct client *c, const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
		 "DATA\r\n", from, to);
	client_sends(c, cmd);
	client_expect(c, "250 2.1.0 Sender OK");
	client_expect_prefix(c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(c, "354 ", NULL, 0);
}

/* Reads "250 2.0.0 <addr> Saved as uid N" and returns N. */
static uint32_t
client_expect_saved(struct client *c, const char *addr)
{
	char prefix[256], rest[64];
	unsigned long uid;

	snprintf(prefix, sizeof(prefix), "250 2.0.0 <%s> Saved as uid ", addr);
	client_expect_prefix(c, prefix, rest, sizeof(rest));
	uid = strtoul(rest, NULL, 10);
	assert_true(uid > 0);
	return (uint32_t)uid;
}

/* ---- store checks ------------------------------------------------------ */

static uint64_t
inbox_id(struct store_user *user)
{
	struct store_mailbox_info info;
	const char *error;
	uint64_t id;

	assert_int_equal(store_mailbox_lookup(user, "INBOX", &info, &error),
			 1);
	id = info.id;
	store_mailbox_info_free(&info);
	return id;
}

static unsigned
inbox_count(const char *username)
{
	struct store_user *user;
	struct store_mailbox_status status;
	const char *error;

	assert_int_equal(store_user_get(store, username, &user, &error), 0);
	assert_int_equal(store_mailbox_status(user, inbox_id(user), &status,
					      &error), 1);
	store_user_unref(&user);
	return status.messages;
}

static void
check_message(const char *username, uint32_t uid, const char *want)
{
	struct store_user *user;
	const char *error;
	uint64_t size;
	char *buf;
	int fd;

	assert_int_equal(store_user_get(store, username, &user, &error), 0);
	assert_int_equal(store_message_open(user, inbox_id(user), uid, &fd,
					    &size, &error), 1);
	if (size != strlen(want))
		fail_msg("%s uid %u: size %llu, wanted %zu", username, uid,
			 (unsigned long long)size, strlen(want));
	buf = malloc(size + 1);
	assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
	assert_memory_equal(buf, want, size);
	free(buf);
	close(fd);
	store_user_unref(&user);
}

/* Entries in the spool directory (the spool is unlinked, so always 0). */
/* Entries `ls -A` lists for pattern (a shell glob). */
static unsigned
ls_count(const char *pattern)
{
	char cmd[512];
	FILE *f;
	unsigned n = 0;
	int ch;

	snprintf(cmd, sizeof(cmd), "ls -A %s 2>/dev/null", pattern);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	pclose(f);
	return n;
}

static unsigned
spool_entries(void)
{
	return ls_count(spool_dir);
}

static void
wait_sessions_gone(void)
{
	/* bounded: 5 s */
	for (int i = 0; i < 500 && lmtp_service_session_count(service) > 0;
	     i++)
		usleep(10000);
	assert_int_equal(lmtp_service_session_count(service), 0);
}

/* ---- setup -------------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
group_setup(void **state)
{
	static const char *const users[] = {
		"alice", "bob@example.org", "carol",
	};
	struct store_settings sset = { 0 };
	struct lmtp_settings lset = { 0 };
	struct listener_settings listen_set = { 0 };
	const char *error;
	char *perror;

	log_set_level(getenv("TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
	snprintf(root, sizeof(root), "/tmp/quire-test-lmtp.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(passwd_path, sizeof(passwd_path), "%s/passwd", root);
	snprintf(spool_dir, sizeof(spool_dir), "%s/tmp", root);
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		if (passdb_file_set_password(passwd_path, users[i],
					     "{PLAIN}secret", &perror) < 0) {
			fprintf(stderr, "%s\n", perror);
			free(perror);
			return -1;
		}
	}
	passdb = passdb_create(passwd_path);

	sset.data_dir = root;
	if (store_open(&sset, &store, &error) < 0) {
		fprintf(stderr, "store_open: %s\n", error);
		return -1;
	}

	lset.store = store;
	lset.passdb = passdb;
	lset.spool_dir = spool_dir;
	lset.hostname = TEST_HOST;
	lset.max_message_size = TEST_MAX_SIZE;
	service = lmtp_service_create(&lset);

	if (worker_pool_create(1, &pool, &error) < 0) {
		fprintf(stderr, "worker_pool_create: %s\n", error);
		return -1;
	}
	listen_set.service = "lmtp";
	listen_set.address = "127.0.0.1:0";
	listen_set.new_connection = lmtp_service_new_connection;
	listen_set.context = service;
	if (listener_create(pool, &listen_set, &listener, &error) < 0) {
		fprintf(stderr, "listener_create: %s\n", error);
		return -1;
	}
	port = listener_get_port(listener);
	if (worker_pool_start(pool, &error) < 0) {
		fprintf(stderr, "worker_pool_start: %s\n", error);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	if (!pool_stopped)
		worker_pool_stop(pool, 2000);
	worker_pool_join(pool);
	listener_destroy(&listener);
	worker_pool_destroy(&pool);
	lmtp_service_destroy(&service);
	store_close(&store);
	passdb_destroy(&passdb);
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_greeting_and_lhlo(void **state)
{
	struct client c;

	client_connect(&c);
	client_expect(&c, "220 " TEST_HOST " quire LMTP ready");
	client_sends(&c, "MAIL FROM:<a@b>\r\n");
	client_expect(&c, "503 5.5.1 Send LHLO first");
	client_sends(&c, "HELO x\r\nEHLO x\r\nLHLO\r\n");
	client_expect(&c, "500 5.5.1 This is LMTP: use LHLO");
	client_expect(&c, "500 5.5.1 This is LMTP: use LHLO");
	client_expect(&c, "501 5.5.4 Syntax: LHLO hostname");
	client_sends(&c, "LHLO client.example\r\n");
	client_expect(&c, "250-" TEST_HOST);
	client_expect(&c, "250-PIPELINING");
	client_expect(&c, "250-ENHANCEDSTATUSCODES");
	client_expect(&c, "250-8BITMIME");
	client_expect(&c, "250-CHUNKING");
	client_expect(&c, "250 SIZE 4096");
	client_sends(&c, "NOOP\r\nVRFY alice\r\nHELP\r\nFOO\r\n");
	client_expect(&c, "250 2.0.0 OK");
	client_expect_prefix(&c, "252 2.0.0 ", NULL, 0);
	client_expect_prefix(&c, "214 2.0.0 ", NULL, 0);
	client_expect(&c, "500 5.5.1 Unknown command");
	client_sends(&c, "QUIT\r\n");
	client_expect(&c, "221 2.0.0 " TEST_HOST " closing connection");
	client_expect_eof(&c);
	client_close(&c);
}

static void
test_deliver_recipients(void **state)
{
	struct client c;
	unsigned alice0 = inbox_count("alice");
	unsigned bob0 = inbox_count("bob@example.org");
	uint32_t uid_alice, uid_bob, uid_tag;

	client_start(&c);
	client_sends(&c, "MAIL FROM:<sender@remote.example> BODY=8BITMIME\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	/* local part names alice; the full address names bob */
	client_sends(&c, "RCPT TO:<alice@example.org>\r\n");
	client_expect(&c, "250 2.1.5 <alice@example.org> Recipient OK");
	client_sends(&c, "RCPT TO:<nobody@example.org>\r\n");
	client_expect(&c, "550 5.1.1 <nobody@example.org> User unknown");
	client_sends(&c, "RCPT TO:<bob@example.org>\r\n");
	client_expect(&c, "250 2.1.5 <bob@example.org> Recipient OK");
	client_sends(&c, "RCPT TO:<Alice+lists@example.org>\r\n");
	client_expect(&c, "250 2.1.5 <Alice+lists@example.org> Recipient OK");
	client_sends(&c, "RCPT TO:<bob>\r\n");
	client_expect(&c, "550 5.1.1 <bob> User unknown");
	client_sends(&c, "DATA\r\n");
	client_expect_prefix(&c, "354 ", NULL, 0);
	client_sends(&c, "Subject: test\r\n\r\n..leading dot\nbare lf\r\n"
		     ".\r\n");
	/* one reply per accepted recipient, in RCPT order */
	uid_alice = client_expect_saved(&c, "alice@example.org");
	uid_bob = client_expect_saved(&c, "bob@example.org");
	uid_tag = client_expect_saved(&c, "Alice+lists@example.org");
	client_sends(&c, "QUIT\r\n");
	client_expect_prefix(&c, "221 ", NULL, 0);
	client_close(&c);

	assert_int_equal(inbox_count("alice"), alice0 + 2);
	assert_int_equal(inbox_count("bob@example.org"), bob0 + 1);
	check_message("alice", uid_alice,
		      "Return-Path: <sender@remote.example>\r\n"
		      "Delivered-To: alice@example.org\r\n"
		      "Subject: test\r\n\r\n.leading dot\r\nbare lf\r\n");
	check_message("bob@example.org", uid_bob,
		      "Return-Path: <sender@remote.example>\r\n"
		      "Delivered-To: bob@example.org\r\n"
		      "Subject: test\r\n\r\n.leading dot\r\nbare lf\r\n");
	check_message("alice", uid_tag,
		      "Return-Path: <sender@remote.example>\r\n"
		      "Delivered-To: Alice+lists@example.org\r\n"
		      "Subject: test\r\n\r\n.leading dot\r\nbare lf\r\n");
}

/* Files in a user's store tmp directory: a save in progress has one. */
static unsigned
user_tmp_files(const char *username)
{
	char pattern[256];

	snprintf(pattern, sizeof(pattern), "%s/users/*/%s/tmp", root,
		 username);
	return ls_count(pattern);
}

static int fail_writes; /* faulty_write: fail with ENOSPC while set */

static ssize_t
faulty_write(int fd, const void *buf, size_t len)
{
	if (fail_writes) {
		errno = ENOSPC;
		return -1;
	}
	return write(fd, buf, len);
}

static int
plain_fsync(int fd)
{
	return fsync(fd);
}

/* A transaction with one recipient writes the copy while DATA (or BDAT)
   arrives, with no spool; the copy is the same as through the spool,
   and a failed write, a refused message or a dropped connection leaves
   nothing behind. */
static void
test_stream_one_recipient(void **state)
{
	const struct store_io io = { faulty_write, plain_fsync };
	struct client c;
	unsigned alice0 = inbox_count("alice");
	unsigned carol0 = inbox_count("carol");
	uint32_t uid;
	char *big;

	client_start(&c);
	client_begin_data(&c, "s@x.example", "alice@x.example");
	client_sends(&c, "Subject: s\r\n\r\n..dot\nbare lf\r\n");
	/* the copy exists before the final dot: a NOOP would be message
	   text now, so wait for the file itself (bounded: 5 s) */
	for (int i = 0; i < 500 && user_tmp_files("alice") == 0; i++)
		usleep(10000);
	assert_int_equal(user_tmp_files("alice"), 1);
	client_sends(&c, "bare\rcr\r\n.\r\n");
	uid = client_expect_saved(&c, "alice@x.example");
	check_message("alice", uid, "Return-Path: <s@x.example>\r\n"
		      "Delivered-To: alice@x.example\r\n"
		      "Subject: s\r\n\r\n.dot\r\nbare lf\r\nbare\r\n"
		      "cr\r\n");
	assert_int_equal(user_tmp_files("alice"), 0);

	/* two recipients: spooled, no copy before the dot */
	client_sends(&c, "MAIL FROM:<s@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\n"
		     "RCPT TO:<carol@x.example>\r\nDATA\r\n"
		     "Subject: two\r\n\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&c, "354 ", NULL, 0);
	usleep(50000);
	assert_int_equal(user_tmp_files("alice"), 0);
	client_sends(&c, ".\r\n");
	client_expect_saved(&c, "alice@x.example");
	client_expect_saved(&c, "carol@x.example");

	/* a full disk while writing: 452, nothing stored, no file left */
	store_set_io(store, &io);
	fail_writes = 1;
	client_begin_data(&c, "s@x.example", "alice@x.example");
	client_sends(&c, "Subject: full\r\n\r\nbody\r\n.\r\n");
	client_expect(&c, "452 4.3.1 <alice@x.example> Insufficient system "
		      "storage");
	fail_writes = 0;
	store_set_io(store, NULL);
	assert_int_equal(user_tmp_files("alice"), 0);

	/* too big: the copy begun is dropped */
	big = malloc(TEST_MAX_SIZE);
	memset(big, 'q', TEST_MAX_SIZE);
	client_sends(&c, "MAIL FROM:<s@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\n"
		     "BDAT 4096\r\n");
	client_send(&c, big, TEST_MAX_SIZE);
	client_sends(&c, "RCPT TO:<carol@x.example>\r\n"
		     "BDAT 4096 LAST\r\n");
	client_send(&c, big, TEST_MAX_SIZE);
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect(&c, "250 2.0.0 4096 octets received");
	/* RFC 3030 2: the recipients come before the chunks */
	client_expect(&c, "503 5.5.1 RCPT not allowed after BDAT");
	client_expect(&c, "552 5.3.4 <alice@x.example> Message too big for "
		      "system");
	free(big);
	assert_int_equal(user_tmp_files("alice"), 0);

	/* the connection drops during DATA */
	client_begin_data(&c, "s@x.example", "alice@x.example");
	client_sends(&c, "Subject: lost\r\n\r\nhalf");
	client_close(&c);
	wait_sessions_gone();
	assert_int_equal(user_tmp_files("alice"), 0);

	assert_int_equal(inbox_count("alice"), alice0 + 2);
	assert_int_equal(inbox_count("carol"), carol0 + 1);
}

static void
test_pipelining(void **state)
{
	struct client c;
	unsigned carol0 = inbox_count("carol");
	uint32_t uid1, uid2;

	client_start(&c);
	client_sends(&c, "MAIL FROM:<>\r\nRCPT TO:<carol@x.example>\r\n"
		     "RCPT TO:<nobody@x.example>\r\nDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect(&c, "250 2.1.5 <carol@x.example> Recipient OK");
	client_expect(&c, "550 5.1.1 <nobody@x.example> User unknown");
	client_expect_prefix(&c, "354 ", NULL, 0);
	/* body, final dot and the next transaction in one packet */
	client_sends(&c, "one\r\n.\r\n"
		     "MAIL FROM:<s@x.example>\r\nRCPT TO:<carol@x.example>\r\n"
		     "DATA\r\ntwo\r\n.\r\nNOOP\r\n");
	uid1 = client_expect_saved(&c, "carol@x.example");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect(&c, "250 2.1.5 <carol@x.example> Recipient OK");
	client_expect_prefix(&c, "354 ", NULL, 0);
	uid2 = client_expect_saved(&c, "carol@x.example");
	client_expect(&c, "250 2.0.0 OK");
	client_close(&c);

	assert_int_equal(inbox_count("carol"), carol0 + 2);
	check_message("carol", uid1, "Return-Path: <>\r\n"
		      "Delivered-To: carol@x.example\r\none\r\n");
	check_message("carol", uid2, "Return-Path: <s@x.example>\r\n"
		      "Delivered-To: carol@x.example\r\ntwo\r\n");
}

static void
test_size_param(void **state)
{
	struct client c;

	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example> SIZE=4097\r\n");
	client_expect(&c, "552 5.3.4 Message size exceeds fixed maximum "
		      "size");
	client_sends(&c, "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n");
	client_expect(&c, "501 5.5.4 Unsupported BODY type");
	client_sends(&c, "MAIL FROM:<a@b.example> FOO=1\r\n");
	client_expect(&c, "555 5.5.4 Unsupported parameter");
	client_sends(&c, "MAIL FROM:<a@b.example> SIZE=4096\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n");
	client_expect(&c, "503 5.5.1 Sender already given");
	client_close(&c);
}

static void
test_oversize_body(void **state)
{
	struct client c;
	unsigned alice0 = inbox_count("alice");
	unsigned carol0 = inbox_count("carol");
	char line[101];

	memset(line, 'x', 98);
	line[98] = '\r';
	line[99] = '\n';
	line[100] = '\0';

	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\n"
		     "RCPT TO:<carol@x.example>\r\nDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&c, "354 ", NULL, 0);
	/* 6000 bytes: over the 4096 limit; all of it is still read */
	for (int i = 0; i < 60; i++)
		client_sends(&c, line);
	client_sends(&c, ".\r\n");
	client_expect(&c, "552 5.3.4 <alice@x.example> Message too big for "
		      "system");
	client_expect(&c, "552 5.3.4 <carol@x.example> Message too big for "
		      "system");
	/* the session goes on; the transaction is over */
	client_sends(&c, "NOOP\r\nRCPT TO:<alice@x.example>\r\n");
	client_expect(&c, "250 2.0.0 OK");
	client_expect(&c, "503 5.5.1 Send MAIL first");
	client_close(&c);

	assert_int_equal(inbox_count("alice"), alice0);
	assert_int_equal(inbox_count("carol"), carol0);
}

static void
test_rset(void **state)
{
	struct client c;

	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nRSET\r\nDATA\r\n"
		     "RCPT TO:<alice@x.example>\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect(&c, "250 2.0.0 OK");
	client_expect(&c, "503 5.5.1 Send MAIL first");
	client_expect(&c, "503 5.5.1 Send MAIL first");
	/* DATA with only unknown recipients */
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n"
		     "RCPT TO:<nobody@x.example>\r\nDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "550 5.1.1 ", NULL, 0);
	client_expect(&c, "503 5.5.1 No valid recipients");
	client_close(&c);
}

static void
test_drop_mid_data(void **state)
{
	struct client c;
	unsigned alice0 = inbox_count("alice");

	wait_sessions_gone();
	client_start(&c);
	client_begin_data(&c, "a@b.example", "alice@x.example");
	client_sends(&c, "Subject: half\r\n\r\nthis never ends");
	client_close(&c);
	wait_sessions_gone();

	assert_int_equal(inbox_count("alice"), alice0);
	assert_int_equal(spool_entries(), 0);
}

static void
test_overlong_line(void **state)
{
	struct client c;
	size_t len = LMTP_MAX_LINE + 100;
	char *big = malloc(len + 3);

	memcpy(big, "NOOP ", 5);
	memset(big + 5, 'x', len - 5);
	memcpy(big + len, "\r\n", 3);

	client_start(&c);
	/* the line's end after the reply */
	client_send(&c, big, len);
	client_expect(&c, "500 5.5.2 Line too long");
	client_sends(&c, "xx\r\nNOOP\r\n");
	client_expect(&c, "250 2.0.0 OK");
	/* the whole line and the next command in one packet */
	client_send(&c, big, len + 2);
	client_sends(&c, "NOOP\r\n");
	client_expect(&c, "500 5.5.2 Line too long");
	client_expect(&c, "250 2.0.0 OK");
	/* just at the cap is fine */
	memset(big + 5, 'x', LMTP_MAX_LINE - 5);
	memcpy(big + LMTP_MAX_LINE, "\r\n", 2);
	client_send(&c, big, LMTP_MAX_LINE + 2);
	client_expect(&c, "250 2.0.0 OK");
	client_close(&c);
	free(big);
}

static void
test_bad_command_limit(void **state)
{
	struct client c;

	client_start(&c);
	for (int i = 0; i < PROTO_MAX_BAD_COMMANDS; i++)
		client_sends(&c, "BOGUS\r\n");
	for (int i = 0; i < PROTO_MAX_BAD_COMMANDS; i++)
		client_expect(&c, "500 5.5.1 Unknown command");
	client_expect(&c, "421 4.7.0 " TEST_HOST " Too many errors, "
		      "closing connection");
	client_expect_eof(&c);
	client_close(&c);
}

static void
test_size_boundary(void **state)
{
	struct client c;
	unsigned alice0 = inbox_count("alice");
	char *body = malloc(TEST_MAX_SIZE + 1);
	uint32_t uid;

	/* exactly max_message_size bytes of (unstuffed) body is accepted;
	   the prefix lines do not count */
	for (size_t i = 0; i < TEST_MAX_SIZE; i += 64) {
		memset(body + i, 'y', 62);
		memcpy(body + i + 62, "\r\n", 2);
	}
	body[TEST_MAX_SIZE] = '\0';
	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example> SIZE=4096\r\n"
		     "RCPT TO:<alice@x.example>\r\nDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&c, "354 ", NULL, 0);
	client_sends(&c, body);
	client_sends(&c, ".\r\n");
	uid = client_expect_saved(&c, "alice@x.example");
	assert_int_equal(inbox_count("alice"), alice0 + 1);
	{
		struct store_user *user;
		struct store_message msg;
		const char *error;

		assert_int_equal(store_user_get(store, "alice", &user,
						&error), 0);
		assert_int_equal(store_message_get(user, inbox_id(user), uid,
						   &msg, &error), 1);
		assert_int_equal(msg.size, TEST_MAX_SIZE +
				 strlen("Return-Path: <a@b.example>\r\n"
					"Delivered-To: alice@x.example\r\n"));
		store_user_unref(&user);
	}

	/* one byte more is refused, for every recipient */
	client_begin_data(&c, "a@b.example", "alice@x.example");
	client_sends(&c, "z");
	client_sends(&c, body);
	client_sends(&c, ".\r\n");
	client_expect(&c, "552 5.3.4 <alice@x.example> Message too big for "
		      "system");
	assert_int_equal(inbox_count("alice"), alice0 + 1);

	/* an empty message is a message */
	client_begin_data(&c, "a@b.example", "alice@x.example");
	client_sends(&c, ".\r\n");
	uid = client_expect_saved(&c, "alice@x.example");
	check_message("alice", uid, "Return-Path: <a@b.example>\r\n"
		      "Delivered-To: alice@x.example\r\n");
	client_close(&c);
	free(body);
}

/* A user removed between RCPT and the final dot gets 550 then; the
   others are delivered. */
static void
test_user_vanished(void **state)
{
	struct client c;
	char *perror;
	unsigned alice0 = inbox_count("alice");

	assert_int_equal(passdb_file_set_password(passwd_path, "dave",
						  "{PLAIN}x", &perror), 1);
	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<dave@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect(&c, "250 2.1.5 <dave@x.example> Recipient OK");
	client_expect(&c, "250 2.1.5 <alice@x.example> Recipient OK");
	client_expect_prefix(&c, "354 ", NULL, 0);
	assert_int_equal(passdb_file_delete(passwd_path, "dave", &perror), 1);
	client_sends(&c, "hi\r\n.\r\n");
	client_expect(&c, "550 5.1.1 <dave@x.example> User unknown");
	(void)client_expect_saved(&c, "alice@x.example");
	client_close(&c);
	assert_int_equal(inbox_count("alice"), alice0 + 1);
}

static void
test_too_many_recipients(void **state)
{
	struct client c;
	const char *rcpt = "RCPT TO:<carol@x.example>\r\n";
	size_t rlen = strlen(rcpt);
	char *batch = malloc(rlen * 100);

	for (int i = 0; i < 100; i++)
		memcpy(batch + (size_t)i * rlen, rcpt, rlen);
	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	for (int i = 0; i < LMTP_MAX_RECIPIENTS / 100; i++) {
		client_send(&c, batch, rlen * 100);
		for (int j = 0; j < 100; j++)
			client_expect(&c, "250 2.1.5 <carol@x.example> "
				      "Recipient OK");
	}
	client_sends(&c, rcpt);
	client_expect(&c, "452 4.5.3 Too many recipients");
	client_sends(&c, "RSET\r\n");
	client_expect(&c, "250 2.0.0 OK");
	client_close(&c);
	free(batch);
}

/* deliver_message() directly: a named mailbox, a missing one (INBOX),
   an unknown user. */
static void
test_deliver_message(void **state)
{
	struct store_user *user;
	struct store_mailbox_info info;
	struct store_mailbox_status status;
	struct spool *spool;
	const char *error;
	uint32_t uid;
	unsigned inbox0 = inbox_count("carol");

	assert_int_equal(store_user_get(store, "carol", &user, &error), 0);
	assert_true(store_mailbox_create(user, "Lists", STORE_SPECIAL_NONE,
					 NULL, &error) >= 0);
	assert_int_equal(spool_create(spool_dir, &spool, &error), 0);
	assert_int_equal(spool_append(spool, "body\r\n", 6, &error), 0);
	assert_int_equal(spool_finish(spool, &error), 0);

	assert_int_equal(deliver_message(store, passdb, "carol", "Lists",
					 "X: y\r\n", 6, spool_get_fd(spool),
					 spool_get_size(spool), &uid, &error),
			 1);
	assert_int_equal(store_mailbox_lookup(user, "Lists", &info, &error),
			 1);
	assert_int_equal(store_mailbox_status(user, info.id, &status, &error),
			 1);
	assert_int_equal(status.messages, 1);
	/* Parsed at delivery: the cache record IMAP reads is there, and it
	   describes the stored bytes (prefix included). */
	{
		struct store_message msg;
		struct mail_cache_record *rec;
		void *data;
		size_t size;

		assert_int_equal(store_message_get(user, info.id, uid, &msg,
						   &error), 1);
		assert_int_equal(store_cache_get(user, msg.blob_id,
						 STORE_CACHE_PARTS, &data,
						 &size, &error), 1);
		assert_int_equal(mail_cache_record_read(data, size, &rec,
							&error), 0);
		assert_true(rec->size == msg.size);
		mail_cache_record_free(&rec);
		free(data);
	}
	store_mailbox_info_free(&info);

	assert_int_equal(deliver_message(store, passdb, "carol", "No/Such",
					 NULL, 0, spool_get_fd(spool),
					 spool_get_size(spool), &uid, &error),
			 1);
	assert_int_equal(inbox_count("carol"), inbox0 + 1);
	assert_int_equal(deliver_message(store, passdb, "nobody", NULL,
					 NULL, 0, spool_get_fd(spool),
					 spool_get_size(spool), &uid, &error),
			 0);
	/* the spool is shorter than claimed: a failure, nothing stored */
	assert_int_equal(deliver_message(store, passdb, "carol", NULL, NULL,
					 0, spool_get_fd(spool), 100, &uid,
					 &error), -1);
	assert_int_equal(inbox_count("carol"), inbox0 + 1);
	spool_destroy(&spool);
	store_user_unref(&user);
}

static void
test_bdat(void **state)
{
	struct client c;
	unsigned alice0 = inbox_count("alice");
	unsigned carol0 = inbox_count("carol");
	uint32_t uid_a, uid_c;
	char *big;

	client_start(&c);
	/* everything in one packet: chunks hold "." lines and bare LFs,
	   which BDAT does not unstuff but does canonicalise */
	client_sends(&c, "MAIL FROM:<s@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\n"
		     "RCPT TO:<carol@x.example>\r\n"
		     "BDAT 15\r\nSubject: b\n\n.\r\n"
		     "BDAT 8 LAST\r\n..x\r\nend"
		     "NOOP\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect(&c, "250 2.0.0 15 octets received");
	uid_a = client_expect_saved(&c, "alice@x.example");
	uid_c = client_expect_saved(&c, "carol@x.example");
	client_expect(&c, "250 2.0.0 OK");
	check_message("alice", uid_a, "Return-Path: <s@x.example>\r\n"
		      "Delivered-To: alice@x.example\r\n"
		      "Subject: b\r\n\r\n.\r\n..x\r\nend\r\n");
	check_message("carol", uid_c, "Return-Path: <s@x.example>\r\n"
		      "Delivered-To: carol@x.example\r\n"
		      "Subject: b\r\n\r\n.\r\n..x\r\nend\r\n");

	/* a refused chunk is still read: its bytes are not commands */
	client_sends(&c, "BDAT 6\r\nRSET\r\nNOOP\r\n");
	client_expect(&c, "503 5.5.1 Send MAIL first");
	client_expect(&c, "250 2.0.0 OK");

	/* DATA after BDAT in one transaction */
	client_sends(&c, "MAIL FROM:<s@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nBDAT 3\r\nabcDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect(&c, "250 2.0.0 3 octets received");
	client_expect(&c, "503 5.5.1 DATA not allowed after BDAT");
	/* too big over several chunks: per-recipient 552 at LAST */
	big = malloc(3000);
	memset(big, 'q', 3000);
	client_sends(&c, "BDAT 3000\r\n");
	client_send(&c, big, 3000);
	client_sends(&c, "BDAT 3000 LAST\r\n");
	client_send(&c, big, 3000);
	client_expect(&c, "250 2.0.0 3000 octets received");
	client_expect(&c, "552 5.3.4 <alice@x.example> Message too big for "
		      "system");
	free(big);

	/* BDAT 0 LAST alone ends a message; RSET drops a started one */
	client_sends(&c, "MAIL FROM:<s@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nBDAT 2\r\nxyRSET\r\n"
		     "MAIL FROM:<s@x.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nBDAT 0 LAST\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect(&c, "250 2.0.0 2 octets received");
	client_expect(&c, "250 2.0.0 OK");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	uid_a = client_expect_saved(&c, "alice@x.example");
	check_message("alice", uid_a, "Return-Path: <s@x.example>\r\n"
		      "Delivered-To: alice@x.example\r\n");

	/* a BDAT without a size closes the connection */
	client_sends(&c, "BDAT x\r\n");
	client_expect(&c, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	client_expect_eof(&c);
	client_close(&c);

	assert_int_equal(inbox_count("alice"), alice0 + 2);
	assert_int_equal(inbox_count("carol"), carol0 + 1);
}

static void
test_drop_mid_bdat(void **state)
{
	struct client c;
	unsigned alice0 = inbox_count("alice");

	wait_sessions_gone();
	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nBDAT 4\r\nabcd"
		     "BDAT 100 LAST\r\nonly part");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect_prefix(&c, "250 2.1.5 ", NULL, 0);
	client_expect(&c, "250 2.0.0 4 octets received");
	client_close(&c);
	wait_sessions_gone();
	assert_int_equal(inbox_count("alice"), alice0);
}

/* The body arrives a byte per packet: the final dot and stuffed dots are
   found across reads. */
static void
test_data_byte_at_a_time(void **state)
{
	static const char body[] = "A: b\r\n\r\n..x\r\n.\r\n";
	struct client c;
	uint32_t uid;
	int one = 1;

	client_start(&c);
	assert_int_equal(setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one)), 0);
	client_begin_data(&c, "a@b.example", "carol@x.example");
	for (size_t i = 0; i < sizeof(body) - 1; i++) {
		client_send(&c, body + i, 1);
		usleep(1000);
	}
	uid = client_expect_saved(&c, "carol@x.example");
	check_message("carol", uid, "Return-Path: <a@b.example>\r\n"
		      "Delivered-To: carol@x.example\r\nA: b\r\n\r\n"
		      ".x\r\n");
	client_close(&c);
}

/* The passwd-file cannot be read: RCPT gets a temporary failure. */
static void
test_passdb_error(void **state)
{
	struct client c;
	char saved[160];

	snprintf(saved, sizeof(saved), "%s.saved", passwd_path);
	assert_int_equal(rename(passwd_path, saved), 0);
	assert_int_equal(mkdir(passwd_path, 0700), 0);
	client_start(&c);
	client_sends(&c, "MAIL FROM:<a@b.example>\r\n"
		     "RCPT TO:<alice@x.example>\r\nDATA\r\n");
	client_expect(&c, "250 2.1.0 Sender OK");
	client_expect(&c, "451 4.3.0 <alice@x.example> Temporary user "
		      "lookup failure");
	client_expect(&c, "503 5.5.1 No valid recipients");
	client_close(&c);
	assert_int_equal(rmdir(passwd_path), 0);
	assert_int_equal(rename(saved, passwd_path), 0);
}

/* Last: stops the pool. A client between transactions gets 421 at once;
   one in the middle of DATA may finish its message first. */
static void
test_shutdown(void **state)
{
	struct client c, d;
	unsigned carol0 = inbox_count("carol");

	client_start(&c);
	client_start(&d);
	client_sends(&d, "MAIL FROM:<a@b.example>\r\n"
		     "RCPT TO:<carol@x.example>\r\nDATA\r\n");
	client_expect(&d, "250 2.1.0 Sender OK");
	client_expect_prefix(&d, "250 2.1.5 ", NULL, 0);
	client_expect_prefix(&d, "354 ", NULL, 0);
	client_sends(&d, "first half\r\n");

	worker_pool_stop(pool, 5000);
	pool_stopped = true;
	client_expect(&c, "421 4.3.2 " TEST_HOST " shutting down");
	client_expect_eof(&c);
	client_close(&c);

	client_sends(&d, "second half\r\n.\r\n");
	(void)client_expect_saved(&d, "carol@x.example");
	client_expect(&d, "421 4.3.2 " TEST_HOST " shutting down");
	client_expect_eof(&d);
	client_close(&d);
	assert_int_equal(inbox_count("carol"), carol0 + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_lhlo),
		cmocka_unit_test(test_deliver_recipients),
		cmocka_unit_test(test_stream_one_recipient),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_size_param),
		cmocka_unit_test(test_oversize_body),
		cmocka_unit_test(test_rset),
		cmocka_unit_test(test_drop_mid_data),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_bad_command_limit),
		cmocka_unit_test(test_size_boundary),
		cmocka_unit_test(test_user_vanished),
		cmocka_unit_test(test_too_many_recipients),
		cmocka_unit_test(test_deliver_message),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_drop_mid_bdat),
		cmocka_unit_test(test_data_byte_at_a_time),
		cmocka_unit_test(test_passdb_error),
		cmocka_unit_test(test_shutdown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
