/* Unit tests for src/lmtp's pure parts: command verbs, MAIL FROM and
   RCPT TO paths and parameters (exact replies), the LF to CRLF converter
   (whole, split anywhere, byte at a time), the spool file and the pipe
   reader with its size limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/limits.h"
#include "lmtp/deliver.h"
#include "lmtp/lmtp-parse.h"

/* ---- verbs --------------------------------------------------------------- */

struct verb_case {
	const char *line;
	enum lmtp_cmd cmd;
	const char *args;
};

static const struct verb_case verb_cases[] = {
	{ "LHLO host", LMTP_CMD_LHLO, "host" },
	{ "lhlo host", LMTP_CMD_LHLO, "host" },
	{ "MAIL FROM:<a@b>", LMTP_CMD_MAIL, "FROM:<a@b>" },
	{ "rcpt TO:<a@b>", LMTP_CMD_RCPT, "TO:<a@b>" },
	{ "DATA", LMTP_CMD_DATA, "" },
	{ "DATA ", LMTP_CMD_DATA, "" },
	{ "QUIT", LMTP_CMD_QUIT, "" },
	{ "RSET", LMTP_CMD_RSET, "" },
	{ "NOOP x", LMTP_CMD_NOOP, "x" },
	{ "VRFY bob", LMTP_CMD_VRFY, "bob" },
	{ "HELP", LMTP_CMD_HELP, "" },
	{ "HELO x", LMTP_CMD_HELO, "x" },
	{ "EHLO x", LMTP_CMD_EHLO, "x" },
	{ "DATAX", LMTP_CMD_UNKNOWN, "" },
	{ "MAIL:FROM", LMTP_CMD_UNKNOWN, "" },
	{ "", LMTP_CMD_UNKNOWN, "" },
	{ "BDAT 10", LMTP_CMD_BDAT, "10" },
	{ "STARTTLS", LMTP_CMD_UNKNOWN, "" },
};

static void
test_verbs(void **state)
{
	for (size_t i = 0; i < sizeof(verb_cases) / sizeof(verb_cases[0]);
	     i++) {
		const struct verb_case *c = &verb_cases[i];
		const uint8_t *args;
		size_t len;
		enum lmtp_cmd cmd;

		cmd = lmtp_parse_verb((const uint8_t *)c->line,
				      strlen(c->line), &args, &len);
		if (cmd != c->cmd || len != strlen(c->args) ||
		    memcmp(args, c->args, len) != 0)
			fail_msg("verb case %zu (%s)", i, c->line);
	}
}

/* ---- MAIL FROM ----------------------------------------------------------- */

struct mail_case {
	const char *args;
	const char *reply; /* NULL: accepted */
	const char *addr;
	uint64_t size;	   /* 0: not given */
	enum lmtp_body body;
};

#define MAX_SIZE 1000

static const struct mail_case mail_cases[] = {
	{ "FROM:<a@b.example>", NULL, "a@b.example", 0, LMTP_BODY_NONE },
	{ "from:<a@b.example>", NULL, "a@b.example", 0, LMTP_BODY_NONE },
	{ "FROM: <a@b.example>", NULL, "a@b.example", 0, LMTP_BODY_NONE },
	{ "FROM:<>", NULL, "", 0, LMTP_BODY_NONE },
	{ "FROM:<> SIZE=10", NULL, "", 10, LMTP_BODY_NONE },
	{ "FROM:<a@b> SIZE=1000", NULL, "a@b", 1000, LMTP_BODY_NONE },
	{ "FROM:<a@b> size=5 body=8bitmime", NULL, "a@b", 5,
	  LMTP_BODY_8BITMIME },
	{ "FROM:<a@b> BODY=7BIT", NULL, "a@b", 0, LMTP_BODY_7BIT },
	{ "FROM:<a@b>  BODY=7BIT  SIZE=3", NULL, "a@b", 3, LMTP_BODY_7BIT },
	{ "FROM:<@r1,@r2:a@b>", NULL, "a@b", 0, LMTP_BODY_NONE },
	{ "FROM:<\"a b\"@c>", NULL, "\"a b\"@c", 0, LMTP_BODY_NONE },
	{ "FROM:<a@[192.0.2.1]>", NULL, "a@[192.0.2.1]", 0, LMTP_BODY_NONE },
	{ "FROM:<first.last+tag@sub.example.org>", NULL,
	  "first.last+tag@sub.example.org", 0, LMTP_BODY_NONE },
	/* syntax of the command */
	{ "FROM:a@b", "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "TO:<a@b>", "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "", "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "FROM", "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "FROM:", "501 5.5.4 Syntax: MAIL FROM:<address>" },
	/* the address */
	{ "FROM:<a@b", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<postmaster>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<@b>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@.b>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@b.>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@b..c>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a b@c>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@b>x", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<\"a@b>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a\x01@b>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<\xc3\xa9@b>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@[]>", "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<@r1:>", "501 5.1.7 Bad sender address syntax" },
	/* parameters */
	{ "FROM:<a@b> SIZE=1001",
	  "552 5.3.4 Message size exceeds fixed maximum size" },
	{ "FROM:<a@b> SIZE=99999999999999999999999",
	  "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b> SIZE=", "501 5.5.4 Bad parameter syntax" },
	{ "FROM:<a@b> SIZE", "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b> SIZE=-1", "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b> SIZE=1x", "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b> SIZE=1 SIZE=2", "501 5.5.4 Duplicate parameter" },
	{ "FROM:<a@b> BODY=BINARYMIME", "501 5.5.4 Unsupported BODY type" },
	{ "FROM:<a@b> BODY", "501 5.5.4 Unsupported BODY type" },
	{ "FROM:<a@b> BODY=7BIT BODY=7BIT", "501 5.5.4 Duplicate parameter" },
	{ "FROM:<a@b> SMTPUTF8", "555 5.5.4 Unsupported parameter" },
	{ "FROM:<a@b> RET=FULL", "555 5.5.4 Unsupported parameter" },
	{ "FROM:<a@b> =x", "501 5.5.4 Bad parameter syntax" },
	{ "FROM:<a@b> -X=1", "501 5.5.4 Bad parameter syntax" },
	{ "FROM:<a@b> X=a=b", "501 5.5.4 Bad parameter syntax" },
};

static void
test_mail(void **state)
{
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]);
	     i++) {
		const struct mail_case *c = &mail_cases[i];
		struct lmtp_address addr;
		struct lmtp_mail_params params;
		const char *reply = NULL;
		int ret;

		memset(&addr, 0, sizeof(addr));
		ret = lmtp_parse_mail((const uint8_t *)c->args,
				      strlen(c->args), MAX_SIZE, &addr,
				      &params, &reply);
		if (c->reply != NULL) {
			if (ret != -1 || strcmp(reply, c->reply) != 0)
				fail_msg("mail case %zu (%s): got %d %s", i,
					 c->args, ret,
					 reply == NULL ? "" : reply);
			assert_null(addr.addr);
			continue;
		}
		if (ret != 0)
			fail_msg("mail case %zu (%s): %s", i, c->args, reply);
		assert_string_equal(addr.addr, c->addr);
		assert_int_equal(params.size_given, c->size != 0);
		assert_int_equal(params.size, c->size);
		assert_int_equal(params.body, c->body);
		if (c->addr[0] == '\0') {
			assert_null(addr.local);
			assert_null(addr.domain);
		}
		lmtp_address_free(&addr);
	}
}

/* ---- RCPT TO ------------------------------------------------------------- */

struct rcpt_case {
	const char *args;
	const char *reply;
	const char *addr, *local, *domain;
};

static const struct rcpt_case rcpt_cases[] = {
	{ "TO:<alice@example.org>", NULL, "alice@example.org", "alice",
	  "example.org" },
	{ "to:<Alice@Example.ORG>", NULL, "Alice@Example.ORG", "Alice",
	  "Example.ORG" },
	{ "TO: <bob+lists@x.y>", NULL, "bob+lists@x.y", "bob+lists", "x.y" },
	{ "TO:<postmaster>", NULL, "postmaster", "postmaster", NULL },
	{ "TO:<PostMaster>", NULL, "PostMaster", "PostMaster", NULL },
	{ "TO:<\"j\\\"q\"@x>", NULL, "\"j\\\"q\"@x", "j\"q", "x" },
	{ "TO:<@relay:carol@x>", NULL, "carol@x", "carol", "x" },
	{ "TO:<a@[IPv6:2001:db8::1]>", NULL, "a@[IPv6:2001:db8::1]", "a",
	  "[IPv6:2001:db8::1]" },
	{ "TO:<a_b@my_host.example>", NULL, "a_b@my_host.example", "a_b",
	  "my_host.example" },
	{ "TO:<a@b>", NULL, "a@b", "a", "b" },
	{ "TO:a@b", "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "FROM:<a@b>", "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "", "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "TO:<>", "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<alice>", NULL, "alice", "alice", NULL },
	{ "TO:<a@b", "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<a@b>>", "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<a@b c>", "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<\"a\r\"@b>", "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<a@b> NOTIFY=NEVER", "555 5.5.4 Unsupported parameter" },
	{ "TO:<a@b> ORCPT=rfc822;a@b", "555 5.5.4 Unsupported parameter" },
	{ "TO:<a@b> =", "501 5.5.4 Bad parameter syntax" },
	{ "TO:<a@b> ", NULL, "a@b", "a", "b" },
};

static void
test_rcpt(void **state)
{
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]);
	     i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct lmtp_address addr;
		const char *reply = NULL;
		int ret;

		memset(&addr, 0, sizeof(addr));
		ret = lmtp_parse_rcpt((const uint8_t *)c->args,
				      strlen(c->args), &addr, &reply);
		if (c->reply != NULL) {
			if (ret != -1 || strcmp(reply, c->reply) != 0)
				fail_msg("rcpt case %zu (%s): got %d %s", i,
					 c->args, ret,
					 reply == NULL ? "" : reply);
			assert_null(addr.addr);
			continue;
		}
		if (ret != 0)
			fail_msg("rcpt case %zu (%s): %s", i, c->args, reply);
		assert_string_equal(addr.addr, c->addr);
		assert_string_equal(addr.local, c->local);
		if (c->domain == NULL)
			assert_null(addr.domain);
		else
			assert_string_equal(addr.domain, c->domain);
		lmtp_address_free(&addr);
	}
}

/* ---- BDAT ---------------------------------------------------------------- */

struct bdat_case {
	const char *args;
	int ret;
	uint64_t size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
	{ "0", 0, 0, false },
	{ "86 LAST", 0, 86, true },
	{ "100000", 0, 100000, false },
	{ "0 last", 0, 0, true },
	{ "18446744073709551615", 0, UINT64_MAX, false },
	{ "18446744073709551616", -1 },
	{ "", -1 },
	{ "LAST", -1 },
	{ "-1", -1 },
	{ "+1", -1 },
	{ "1 LAST x", -1 },
	{ "1  LAST", -1 },
	{ "1 FIRST", -1 },
	{ "1 ", -1 },
	{ "0x10", -1 },
};

static void
test_bdat(void **state)
{
	for (size_t i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]);
	     i++) {
		const struct bdat_case *c = &bdat_cases[i];
		const char *reply = NULL;
		uint64_t size = 0;
		bool last = false;
		int ret;

		ret = lmtp_parse_bdat((const uint8_t *)c->args,
				      strlen(c->args), &size, &last, &reply);
		if (ret != c->ret)
			fail_msg("bdat case %zu (%s): %d", i, c->args, ret);
		if (ret < 0) {
			assert_string_equal(reply, "501 5.5.4 Syntax: BDAT "
					    "chunk-size [LAST]");
			continue;
		}
		assert_int_equal(size, c->size);
		assert_int_equal(last, c->last);
	}
}

/* Addresses up to LMTP_MAX_ADDRESS bytes, no longer. */
static void
test_address_length(void **state)
{
	size_t max = LMTP_MAX_ADDRESS;
	char *args = malloc(max + 16);
	struct lmtp_address addr;
	struct lmtp_mail_params params;
	const char *reply;

	/* "FROM:<" + local "@b" + ">" */
	memcpy(args, "FROM:<", 6);
	memset(args + 6, 'a', max - 2);
	memcpy(args + 6 + max - 2, "@b>", 3);
	assert_int_equal(lmtp_parse_mail((uint8_t *)args, 6 + max + 1, 0,
					 &addr, &params, &reply), 0);
	assert_int_equal(strlen(addr.addr), max);
	lmtp_address_free(&addr);

	memset(args + 6, 'a', max - 1);
	memcpy(args + 6 + max - 1, "@b>", 3);
	assert_int_equal(lmtp_parse_mail((uint8_t *)args, 6 + max + 2, 0,
					 &addr, &params, &reply), -1);
	assert_string_equal(reply, "501 5.1.7 Bad sender address syntax");
	free(args);
}

struct prefix_case {
	const char *sender, *rcpt, *out; /* out NULL: refused */
};

static const struct prefix_case prefix_cases[] = {
	{ "a@b", "c@d", "Return-Path: <a@b>\r\nDelivered-To: c@d\r\n" },
	{ "", NULL, "Return-Path: <>\r\n" },
	{ NULL, "c@d", "Delivered-To: c@d\r\n" },
	{ NULL, NULL, "" },
	{ "\"a b\"@c", "x@y", "Return-Path: <\"a b\"@c>\r\n"
	  "Delivered-To: x@y\r\n" },
	{ "a@b\r\nX-Evil: 1", NULL, NULL },
	{ NULL, "c@d\n", NULL },
	{ "\xc3\xa9@b", NULL, NULL },
	{ "a\tb@c", NULL, NULL },
};

static void
test_prefix(void **state)
{
	for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]);
	     i++) {
		const struct prefix_case *c = &prefix_cases[i];
		size_t len = 12345;
		char *p = deliver_prefix(c->sender, c->rcpt, &len);

		if (c->out == NULL) {
			if (p != NULL)
				fail_msg("prefix case %zu accepted", i);
			continue;
		}
		if (p == NULL)
			fail_msg("prefix case %zu refused", i);
		assert_int_equal(len, strlen(c->out));
		assert_memory_equal(p, c->out, len);
		free(p);
	}

	/* LMTP_MAX_ADDRESS bytes fit, one more does not */
	{
		char *addr = malloc(LMTP_MAX_ADDRESS + 2);
		size_t len;
		char *p;

		memset(addr, 'a', LMTP_MAX_ADDRESS + 1);
		addr[LMTP_MAX_ADDRESS] = '\0';
		p = deliver_prefix(addr, addr, &len);
		assert_non_null(p);
		assert_int_equal(len, 2 * LMTP_MAX_ADDRESS + 33);
		free(p);
		addr[LMTP_MAX_ADDRESS] = 'a';
		addr[LMTP_MAX_ADDRESS + 1] = '\0';
		assert_null(deliver_prefix(addr, NULL, &len));
		free(addr);
	}
}

/* Arguments are not NUL-terminated: a parse must not read past len. */
static void
test_parse_unterminated(void **state)
{
	static const char *const inputs[] = {
		"FROM:<a@b> SIZE=10", "TO:<a@b>", "FROM:<\"x",
		"FROM:<a@[1", "TO:<@r", "123 LAST",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = strlen(inputs[i]);

		/* every prefix, copied to an exact-size heap block so ASan
		   catches an over-read */
		for (size_t n = 0; n <= len; n++) {
			uint8_t *buf = malloc(n + 1);
			struct lmtp_address addr;
			struct lmtp_mail_params params;
			const char *reply;

			memcpy(buf, inputs[i], n);
			if (lmtp_parse_mail(buf, n, 0, &addr, &params,
					    &reply) == 0)
				lmtp_address_free(&addr);
			if (lmtp_parse_rcpt(buf, n, &addr, &reply) == 0)
				lmtp_address_free(&addr);
			{
				uint64_t size;
				bool last;

				(void)lmtp_parse_bdat(buf, n, &size, &last,
						      &reply);
			}
			free(buf);
		}
	}
}

/* ---- LF to CRLF ---------------------------------------------------------- */

struct crlf_case {
	const char *in, *out;
};

static const struct crlf_case crlf_cases[] = {
	{ "", "" },
	{ "a\nb\n", "a\r\nb\r\n" },
	{ "a\r\nb\r\n", "a\r\nb\r\n" },
	{ "no end", "no end\r\n" },
	{ "x\ny", "x\r\ny\r\n" },
	{ "cr\ronly\r", "cr\r\nonly\r\n" },
	{ "\n\n", "\r\n\r\n" },
	{ "\r\r\n", "\r\n\r\n" },
	{ "mix\r\nlf\nend", "mix\r\nlf\r\nend\r\n" },
	{ ".\n..\n", ".\r\n..\r\n" },
	{ "\r", "\r\n" },
};

static size_t
crlf_run(const char *in, size_t len, size_t step, char *out)
{
	struct crlf_converter c;
	size_t pos = 0, o = 0;

	crlf_converter_init(&c);
	while (pos < len) {
		size_t n = len - pos < step ? len - pos : step;

		o += crlf_converter_feed(&c, (const uint8_t *)in + pos, n,
					 (uint8_t *)out + o);
		pos += n;
	}
	o += crlf_converter_finish(&c, (uint8_t *)out + o);
	return o;
}

static void
test_crlf(void **state)
{
	char out[256];

	for (size_t i = 0; i < sizeof(crlf_cases) / sizeof(crlf_cases[0]);
	     i++) {
		const struct crlf_case *c = &crlf_cases[i];
		size_t len = strlen(c->in), olen;

		/* whole, then every step size down to a byte at a time */
		for (size_t step = len == 0 ? 1 : len; step >= 1; step--) {
			olen = crlf_run(c->in, len, step, out);
			if (olen != strlen(c->out) ||
			    memcmp(out, c->out, olen) != 0)
				fail_msg("crlf case %zu step %zu", i, step);
		}
		/* split in two at every offset */
		for (size_t cut = 0; cut <= len; cut++) {
			struct crlf_converter conv;

			crlf_converter_init(&conv);
			olen = crlf_converter_feed(&conv,
						   (const uint8_t *)c->in,
						   cut, (uint8_t *)out);
			olen += crlf_converter_feed(&conv,
				(const uint8_t *)c->in + cut, len - cut,
				(uint8_t *)out + olen);
			olen += crlf_converter_finish(&conv,
						      (uint8_t *)out + olen);
			if (olen != strlen(c->out) ||
			    memcmp(out, c->out, olen) != 0)
				fail_msg("crlf case %zu cut %zu", i, cut);
		}
	}
}

/* The worst case the header promises: 2 * in_len + 1 per feed. */
static void
test_crlf_bound(void **state)
{
	struct crlf_converter c;
	uint8_t out[2 * 3 + 1];

	crlf_converter_init(&c);
	assert_int_equal(crlf_converter_feed(&c, (const uint8_t *)"\r", 1,
					     out), 0);
	assert_int_equal(crlf_converter_feed(&c, (const uint8_t *)"x\n\n", 3,
					     out), 7);
	assert_memory_equal(out, "\r\nx\r\n\r\n", 7);
}

/* ---- spool --------------------------------------------------------------- */

static char tmp_root[64];

static int
setup_tmpdir(void **state)
{
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/quire-lmtp-spool.XXXXXX");
	if (mkdtemp(tmp_root) == NULL)
		return -1;
	return 0;
}

static int
teardown_tmpdir(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/tmp", tmp_root);
	(void)rmdir(path);
	return rmdir(tmp_root);
}

static void
read_all(int fd, uint64_t size, char *out)
{
	assert_int_equal(pread(fd, out, size, 0), (ssize_t)size);
}

static void
test_spool(void **state)
{
	struct spool *spool;
	const char *error;
	char dir[128], *big, *back;
	size_t big_len = 200 * 1024;

	/* the directory does not exist yet: it is created */
	snprintf(dir, sizeof(dir), "%s/tmp", tmp_root);
	assert_int_equal(spool_create(dir, &spool, &error), 0);
	assert_int_equal(spool_get_size(spool), 0);

	big = malloc(big_len);
	back = malloc(big_len + 10);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(spool_append(spool, "hello", 5, &error), 0);
	assert_int_equal(spool_append(spool, big, big_len, &error), 0);
	assert_int_equal(spool_get_size(spool), big_len + 5);
	assert_int_equal(spool_finish(spool, &error), 0);
	read_all(spool_get_fd(spool), big_len + 5, back);
	assert_memory_equal(back, "hello", 5);
	assert_memory_equal(back + 5, big, big_len);

	/* nothing visible in the directory: the file is unlinked */
	{
		struct stat st;

		assert_int_equal(stat(dir, &st), 0);
		assert_int_equal(st.st_nlink, 2);
	}
	spool_destroy(&spool);
	assert_null(spool);
	spool_destroy(&spool);
	free(big);
	free(back);
}

static void
test_spool_bad_dir(void **state)
{
	struct spool *spool = NULL;
	const char *error = NULL;

	assert_int_equal(spool_create("/nonexistent-quire/a/b", &spool,
				      &error), -1);
	assert_non_null(error);
	assert_null(spool);
	assert_true(deliver_error_is_nospace(strerror(ENOSPC)));
	assert_true(deliver_error_is_nospace("save failed: No space left on "
					     "device"));
	assert_false(deliver_error_is_nospace("database is locked"));
	assert_false(deliver_error_is_nospace(NULL));
}

/* ---- reading a message from a pipe --------------------------------------- */

struct writer_arg {
	int fd;
	const char *data;
	size_t len;
};

static void *
writer_thread(void *context)
{
	struct writer_arg *w = context;
	size_t pos = 0;

	/* small writes, so the reader sees many short reads */
	while (pos < w->len) {
		size_t n = w->len - pos < 7 ? w->len - pos : 7;
		ssize_t ret = write(w->fd, w->data + pos, n);

		if (ret <= 0)
			break;
		pos += (size_t)ret;
	}
	close(w->fd);
	return NULL;
}

static int
spool_from_pipe(const char *data, uint64_t max_size, struct spool **spool_r)
{
	struct writer_arg w;
	pthread_t thread;
	const char *error;
	char dir[128];
	int fds[2], ret;

	snprintf(dir, sizeof(dir), "%s/tmp", tmp_root);
	assert_int_equal(pipe(fds), 0);
	w.fd = fds[1];
	w.data = data;
	w.len = strlen(data);
	assert_int_equal(pthread_create(&thread, NULL, writer_thread, &w), 0);
	assert_int_equal(spool_create(dir, spool_r, &error), 0);
	ret = deliver_spool_read_fd(fds[0], *spool_r, max_size, &error);
	close(fds[0]);
	pthread_join(thread, NULL);
	return ret;
}

static void
test_read_fd(void **state)
{
	const char *msg = "From: a@b\nSubject: hi\n\nline 1\r\n.line 2\nlast";
	const char *want =
		"From: a@b\r\nSubject: hi\r\n\r\nline 1\r\n.line 2\r\nlast\r\n";
	struct spool *spool;
	char back[256];

	assert_int_equal(spool_from_pipe(msg, 0, &spool), 1);
	assert_int_equal(spool_get_size(spool), strlen(want));
	read_all(spool_get_fd(spool), strlen(want), back);
	assert_memory_equal(back, want, strlen(want));
	spool_destroy(&spool);

	/* exactly at the limit is fine, one byte over is not */
	assert_int_equal(spool_from_pipe(msg, strlen(want), &spool), 1);
	spool_destroy(&spool);
	assert_int_equal(spool_from_pipe(msg, strlen(want) - 1, &spool), 0);
	spool_destroy(&spool);

	/* an empty message stays empty */
	assert_int_equal(spool_from_pipe("", 10, &spool), 1);
	assert_int_equal(spool_get_size(spool), 0);
	spool_destroy(&spool);
}

static void
test_read_fd_error(void **state)
{
	struct spool *spool;
	const char *error = NULL;
	char dir[128];
	int fd;

	snprintf(dir, sizeof(dir), "%s/tmp", tmp_root);
	assert_int_equal(spool_create(dir, &spool, &error), 0);
	/* a directory cannot be read(2): EISDIR */
	fd = open(tmp_root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(deliver_spool_read_fd(fd, spool, 0, &error), -1);
	assert_non_null(strstr(error, "reading message failed"));
	close(fd);
	spool_destroy(&spool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_address_length),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_parse_unterminated),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_crlf_bound),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_spool_bad_dir),
		cmocka_unit_test(test_read_fd),
		cmocka_unit_test(test_read_fd_error),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
