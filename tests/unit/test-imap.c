/* IMAP service: the pure parts table-driven (LIST matching, UID set
   formatting, FETCH item and section parsing), then the whole service in
   process: a worker pool, a listener on port 0, a temp store and passwd
   file, and scripted sessions over a loopback socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "auth/passdb.h"
#include "imap/imap-commands.h"
#include "imap/imap-fetch.h"
#include "imap/imap-list.h"
#include "imap/imap.h"
#include "lib/buf.h"
#include "net/listener.h"
#include "net/worker.h"
#include "store/store.h"

/* ---- LIST matching ----------------------------------------------------- */

static const struct {
	const char *pattern, *name;
	bool match;
} list_cases[] = {
	{ "*", "INBOX", true },
	{ "*", "a/b/c", true },
	{ "%", "a", true },
	{ "%", "a/b", false },
	{ "a/%", "a/b", true },
	{ "a/%", "a/b/c", false },
	{ "a/*", "a/b/c", true },
	{ "a*", "a", true },
	{ "a*", "ab/c", true },
	{ "a%", "ab/c", false },
	{ "%/%", "a/b", true },
	{ "%/%", "a/b/c", false },
	{ "inbox", "INBOX", true },
	{ "InBoX/%", "INBOX/x", true },
	{ "inbox/X", "INBOX/x", false }, /* only INBOX is case-blind */
	{ "Inbox", "Inboxes", false },
	{ "inbo*", "INBOX", true },
	{ "*x*", "abc", false },
	{ "*b*", "abc", true },
	{ "", "", true },
	{ "", "a", false },
	{ "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%x", "aaaaaaaaaaaaaaaaaaaaaaaa", false },
	{ "K\xc3\xa4*", "K\xc3\xa4se", true },
	{ "%*", "a/b", true },   /* a run with a "*" is "*" */
	{ "*%", "a/b", true },
	{ "%%", "a/b", false },  /* a run of "%" is "%" */
	{ "a%%b", "axyb", true },
};

static void
test_list_match(void **state)
{
	for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]);
	     i++) {
		bool got = imap_list_match(list_cases[i].pattern,
					   list_cases[i].name);
		if (got != list_cases[i].match)
			fail_msg("pattern '%s' name '%s': got %d",
				 list_cases[i].pattern, list_cases[i].name,
				 got);
	}
}

static void
test_list_match_long(void **state)
{
	char pat[IMAP_LIST_MAX_PATTERN + 2];

	memset(pat, '*', sizeof(pat) - 1);
	pat[sizeof(pat) - 1] = '\0';
	assert_false(imap_list_match(pat, "a"));
	pat[IMAP_LIST_MAX_PATTERN] = '\0';
	assert_true(imap_list_match(pat, "a"));
}

static void
test_list_join(void **state)
{
	static const struct {
		const char *ref, *pat, *want;
	} cases[] = {
		{ "", "*", "*" },
		{ "a/", "%", "a/%" },
		{ "a", "b", "ab" },
		{ "a/", "/x", "/x" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = imap_list_join(cases[i].ref, cases[i].pat);

		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

/* ---- UID set formatting ------------------------------------------------- */

static void
test_uid_set_format(void **state)
{
	static const struct {
		uint32_t uids[8];
		unsigned count;
		const char *want;
	} cases[] = {
		{ { 0 }, 0, "" },
		{ { 5 }, 1, "5" },
		{ { 1, 2, 3 }, 3, "1:3" },
		{ { 1, 2, 4, 5, 7 }, 5, "1:2,4:5,7" },
		{ { 9, 3, 4 }, 3, "9,3:4" }, /* order kept: COPYUID pairs */
		{ { 4294967294u, 4294967295u }, 2, "4294967294:4294967295" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 0);
		imap_write_uid_set(&b, cases[i].uids, cases[i].count);
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_free(&b);
	}
}

/* ---- FETCH items ------------------------------------------------------- */

static const struct {
	const char *text;
	const char *error; /* NULL: parses */
	enum imap_fetch_kind kind;
	bool peek;
	unsigned depth;
	uint32_t path0;
	enum imap_section_text section;
	unsigned fields;
	bool partial;
	uint64_t offset, length;
	const char *reply;
} fetch_cases[] = {
	{ "FLAGS", NULL, IMAP_FETCH_FLAGS, false, 0, 0, 0, 0, false, 0, 0,
	  "FLAGS" },
	{ "rfc822.size", NULL, IMAP_FETCH_RFC822_SIZE, false, 0, 0, 0, 0,
	  false, 0, 0, "RFC822.SIZE" },
	{ "BODY", NULL, IMAP_FETCH_BODY, false, 0, 0, 0, 0, false, 0, 0,
	  "BODY" },
	{ "modseq", NULL, IMAP_FETCH_MODSEQ, false, 0, 0, 0, 0, false, 0, 0,
	  "MODSEQ" },
	{ "BODY[]", NULL, IMAP_FETCH_SECTION, false, 0, 0, IMAP_SECTION_ALL,
	  0, false, 0, 0, "BODY[]" },
	{ "BODY.PEEK[]<0.100>", NULL, IMAP_FETCH_SECTION, true, 0, 0,
	  IMAP_SECTION_ALL, 0, true, 0, 100, "BODY[]<0>" },
	{ "body.peek[header]", NULL, IMAP_FETCH_SECTION, true, 0, 0,
	  IMAP_SECTION_HEADER, 0, false, 0, 0, "BODY[HEADER]" },
	{ "BODY[1.2.TEXT]", NULL, IMAP_FETCH_SECTION, false, 2, 1,
	  IMAP_SECTION_TEXT, 0, false, 0, 0, "BODY[1.2.TEXT]" },
	{ "BODY[3.MIME]", NULL, IMAP_FETCH_SECTION, false, 1, 3,
	  IMAP_SECTION_MIME, 0, false, 0, 0, "BODY[3.MIME]" },
	{ "BODY[HEADER.FIELDS (From To)]<5.7>", NULL, IMAP_FETCH_SECTION,
	  false, 0, 0, IMAP_SECTION_HEADER_FIELDS, 2, true, 5, 7,
	  "BODY[HEADER.FIELDS (From To)]<5>" },
	{ "BODY[2.HEADER.FIELDS.NOT (X-A)]", NULL, IMAP_FETCH_SECTION, false,
	  1, 2, IMAP_SECTION_HEADER_FIELDS_NOT, 1, false, 0, 0,
	  "BODY[2.HEADER.FIELDS.NOT (X-A)]" },
	{ "RFC822", NULL, IMAP_FETCH_SECTION, false, 0, 0, IMAP_SECTION_ALL,
	  0, false, 0, 0, "RFC822" },
	{ "RFC822.HEADER", NULL, IMAP_FETCH_SECTION, true, 0, 0,
	  IMAP_SECTION_HEADER, 0, false, 0, 0, "RFC822.HEADER" },
	{ "RFC822.TEXT", NULL, IMAP_FETCH_SECTION, false, 0, 0,
	  IMAP_SECTION_TEXT, 0, false, 0, 0, "RFC822.TEXT" },
	{ "BINARY[1]", NULL, IMAP_FETCH_BINARY, false, 1, 1, IMAP_SECTION_ALL,
	  0, false, 0, 0, "BINARY[1]" },
	{ "BINARY.PEEK[1]<1.2>", NULL, IMAP_FETCH_BINARY, true, 1, 1,
	  IMAP_SECTION_ALL, 0, true, 1, 2, "BINARY[1]<1>" },
	{ "BINARY.SIZE[2]", NULL, IMAP_FETCH_BINARY_SIZE, true, 1, 2,
	  IMAP_SECTION_ALL, 0, false, 0, 0, "BINARY.SIZE[2]" },
	{ "BODY[MIME]", "Invalid section.", 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
	{ "BODY[0]", "Invalid section number.", 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  NULL },
	{ "BODY[1.]", "Invalid section.", 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
	{ "BODY[HEADER.FIELDS]", "Invalid section.", 0, 0, 0, 0, 0, 0, 0,
	  0, 0, NULL },
	{ "BODY[HEADER.FIELDS ()]", "Invalid header field list.", 0, 0, 0,
	  0, 0, 0, 0, 0, 0, NULL },
	{ "BODY[]<1>", "Invalid partial.", 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
	{ "BODY[]<1.0>", "Invalid partial.", 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  NULL },
	{ "BODY[]<-1.5>", "Invalid partial.", 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  NULL },
	{ "BODY[", "Missing ] in section.", 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
	{ "BINARY[TEXT]", "BINARY takes only a part number.", 0, 0, 0, 0, 0,
	  0, 0, 0, 0, NULL },
	{ "BINARY.SIZE[1]<0.1>", "BINARY.SIZE takes no partial.", 0, 0, 0,
	  0, 0, 0, 0, 0, 0, NULL },
	{ "XYZZY", "Unknown FETCH item.", 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
	{ "BODY[99999999999]", "Invalid section number.", 0, 0, 0, 0, 0, 0,
	  0, 0, 0, NULL },
	{ "EMAILID", NULL, IMAP_FETCH_EMAILID, false, 0, 0, 0, 0, false, 0,
	  0, "EMAILID" },
	{ "threadid", NULL, IMAP_FETCH_THREADID, false, 0, 0, 0, 0, false,
	  0, 0, "THREADID" },
	{ "SaveDate", NULL, IMAP_FETCH_SAVEDATE, false, 0, 0, 0, 0, false, 0,
	  0, "SAVEDATE" },
	{ "preview", NULL, IMAP_FETCH_PREVIEW, false, 0, 0, 0, 0, false, 0,
	  0, "PREVIEW" },
	{ "PREVIEW[]", "Unknown FETCH item.", 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  NULL },
	{ "EMAILIDS", "Unknown FETCH item.", 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  NULL },
};

static void
test_fetch_item_parse(void **state)
{
	for (size_t i = 0; i < sizeof(fetch_cases) / sizeof(fetch_cases[0]);
	     i++) {
		struct imap_fetch_item item;
		const char *error = NULL;
		int ret = imap_fetch_item_parse(fetch_cases[i].text, &item,
						&error);

		if (fetch_cases[i].error != NULL) {
			if (ret != -1 ||
			    strcmp(error, fetch_cases[i].error) != 0)
				fail_msg("%s: want error '%s', got %d '%s'",
					 fetch_cases[i].text,
					 fetch_cases[i].error, ret,
					 error == NULL ? "" : error);
			continue;
		}
		if (ret != 0)
			fail_msg("%s: %s", fetch_cases[i].text, error);
		assert_int_equal(item.kind, fetch_cases[i].kind);
		assert_int_equal(item.peek, fetch_cases[i].peek);
		assert_int_equal(item.depth, fetch_cases[i].depth);
		if (item.depth > 0)
			assert_int_equal(item.path[0], fetch_cases[i].path0);
		assert_int_equal(item.text, fetch_cases[i].section);
		assert_int_equal(item.field_count, fetch_cases[i].fields);
		assert_int_equal(item.partial, fetch_cases[i].partial);
		assert_int_equal(item.offset, fetch_cases[i].offset);
		assert_int_equal(item.length, fetch_cases[i].length);
		assert_string_equal(item.reply_name, fetch_cases[i].reply);
		imap_fetch_item_clear(&item);
	}
}

/* FETCH's arguments after the set, through the command parser (whole
   and a byte at a time), then imap_fetch_items_parse_args(). */
static const struct {
	const char *args;
	const char *error; /* NULL: parses */
	unsigned used;
	/* "KIND[L]" per item: E EMAILID, T THREADID, S SAVEDATE, P PREVIEW,
	   F FLAGS, U UID, M MODSEQ; L marks LAZY. */
	const char *kinds;
	bool needs_cache;
} fetch_args_cases[] = {
	{ "(EMAILID THREADID SAVEDATE)", NULL, 1, "ETS", false },
	{ "PREVIEW", NULL, 1, "P", true },
	{ "(PREVIEW)", NULL, 1, "P", true },
	{ "PREVIEW (LAZY)", NULL, 2, "PL", false },
	{ "PREVIEW (lazy LAZY)", NULL, 2, "PL", false },
	{ "(UID PREVIEW (LAZY) FLAGS)", NULL, 1, "UPLF", false },
	{ "(PREVIEW (LAZY) PREVIEW)", NULL, 1, "PLP", true },
	/* Not LAZY first: the command's own modifiers. */
	{ "PREVIEW (CHANGEDSINCE 1)", NULL, 1, "P", true },
	{ "(FLAGS) (CHANGEDSINCE 1)", NULL, 1, "F", false },
	/* Only PREVIEW takes "(LAZY)"; after any other item it is the
	   command's modifier list, which FETCH then refuses. */
	{ "EMAILID (LAZY)", NULL, 1, "E", false },
	{ "(FLAGS (LAZY))", "Invalid FETCH item.", 0, NULL, false },
	{ "(PREVIEW (FAST))", "Unknown PREVIEW modifier.", 0, NULL, false },
	{ "(PREVIEW ())", "Invalid PREVIEW modifiers.", 0, NULL, false },
	{ "(PREVIEW (LAZY (LAZY)))", "Unknown PREVIEW modifier.", 0, NULL,
	  false },
	{ "((LAZY))", "Invalid FETCH item.", 0, NULL, false },
};

static const struct imap_command *
fetch_command(const char *args, bool bytewise, struct imap_parser **parser_r)
{
	struct imap_parser *parser = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	struct buf line;
	size_t pos = 0, used;
	const char *error;

	imap_parser_set_authenticated(parser, true);
	buf_init(&line, 0);
	buf_appendf(&line, "T FETCH 1 %s\r\n", args);
	for (;;) {
		size_t n = bytewise ? 1 : line.len - pos;
		enum imap_parse_result r =
			imap_parser_feed(parser, line.data + pos, n, &used,
					 &cmd, &error);

		pos += used;
		if (r == IMAP_PARSE_DONE)
			break;
		if (r == IMAP_PARSE_ERROR)
			fail_msg("parser: %s for %s", error, args);
		assert_true(r == IMAP_PARSE_MORE && pos < line.len);
	}
	buf_free(&line);
	*parser_r = parser;
	return cmd;
}

static void
test_fetch_items_args(void **state)
{
	for (size_t i = 0;
	     i < sizeof(fetch_args_cases) / sizeof(fetch_args_cases[0]); i++) {
		for (int bytewise = 0; bytewise <= 1; bytewise++) {
			struct imap_parser *parser;
			const struct imap_command *cmd =
				fetch_command(fetch_args_cases[i].args,
					      bytewise != 0, &parser);
			struct imap_fetch_items *items = NULL;
			const char *error = NULL;
			unsigned used = 0;
			struct buf kinds;
			int ret;

			ret = imap_fetch_items_parse_args(&cmd->args[1],
				cmd->args_count - 1, &used, &items, &error);
			if (fetch_args_cases[i].error != NULL) {
				if (ret != -1 ||
				    strcmp(error, fetch_args_cases[i].error) != 0)
					fail_msg("%s: want error '%s', got %d "
						 "'%s'", fetch_args_cases[i].args,
						 fetch_args_cases[i].error, ret,
						 error == NULL ? "" : error);
				assert_null(items);
				imap_parser_destroy(&parser);
				continue;
			}
			if (ret != 0)
				fail_msg("%s: %s", fetch_args_cases[i].args,
					 error);
			assert_int_equal(used, fetch_args_cases[i].used);
			buf_init(&kinds, 0);
			for (unsigned j = 0; j < items->count; j++) {
				const struct imap_fetch_item *it =
					&items->items[j];
				char k = '?';

				switch (it->kind) {
				case IMAP_FETCH_EMAILID: k = 'E'; break;
				case IMAP_FETCH_THREADID: k = 'T'; break;
				case IMAP_FETCH_SAVEDATE: k = 'S'; break;
				case IMAP_FETCH_PREVIEW: k = 'P'; break;
				case IMAP_FETCH_FLAGS: k = 'F'; break;
				case IMAP_FETCH_UID: k = 'U'; break;
				case IMAP_FETCH_MODSEQ: k = 'M'; break;
				default: break;
				}
				buf_append_c(&kinds, k);
				if (it->lazy)
					buf_append_c(&kinds, 'L');
			}
			assert_string_equal(buf_cstr(&kinds),
					    fetch_args_cases[i].kinds);
			assert_int_equal(items->needs_cache,
					 fetch_args_cases[i].needs_cache);
			assert_false(items->needs_body);
			assert_false(items->sets_seen);
			buf_free(&kinds);
			imap_fetch_items_free(&items);
			imap_parser_destroy(&parser);
		}
	}
	(void)state;
}

static void
test_fetch_section_too_deep(void **state)
{
	struct buf b;
	struct imap_fetch_item item;
	const char *error;

	buf_init(&b, 0);
	buf_append_str(&b, "BODY[");
	for (unsigned i = 0; i <= IMAP_FETCH_MAX_PATH; i++)
		buf_append_str(&b, i == 0 ? "1" : ".1");
	buf_append_str(&b, "]");
	assert_int_equal(imap_fetch_item_parse(buf_cstr(&b), &item, &error),
			 -1);
	assert_string_equal(error, "Section is nested too deep.");
	buf_free(&b);
}

static void
test_fetch_field_wanted(void **state)
{
	struct imap_fetch_item item;
	const char *error;

	assert_int_equal(imap_fetch_item_parse(
		"BODY[HEADER.FIELDS (subject \"X-Y\")]", &item, &error), 0);
	assert_true(imap_fetch_field_wanted(&item, "Subject", 7));
	assert_true(imap_fetch_field_wanted(&item, "x-y", 3));
	assert_false(imap_fetch_field_wanted(&item, "Subj", 4));
	imap_fetch_item_clear(&item);
}

/* ---- the service in process --------------------------------------------- */

static char tmpdir[64];
static struct store *store;
static struct passdb *passdb;
static struct worker_pool *pool;
static struct listener *lst;
static struct imap_service *service;
static unsigned port;

static int
setup_service(void **state)
{
	struct store_settings sset = { 0 };
	struct imap_settings iset = { 0 };
	struct listener_settings lset = { 0 };
	char path[128];
	const char *error;
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-imap-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/passwd", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "alice:{PLAIN}secret\n");
	fclose(f);
	passdb = passdb_create(path);
	snprintf(path, sizeof(path), "%s/data", tmpdir);
	sset.data_dir = path;
	assert_int_equal(store_open(&sset, &store, &error), 0);

	iset.store = store;
	iset.passdb = passdb;
	iset.allow_plaintext = CONFIG_PLAINTEXT_LOOPBACK;
	iset.implementation = "quire test";
	service = imap_service_create(&iset);

	assert_int_equal(worker_pool_create(1, &pool, &error), 0);
	lset.service = "imap";
	lset.address = "127.0.0.1:0";
	lset.new_connection = imap_service_new_connection;
	lset.context = service;
	assert_int_equal(listener_create(pool, &lset, &lst, &error), 0);
	port = listener_get_port(lst);
	assert_int_equal(worker_pool_start(pool, &error), 0);
	return 0;
}

static int
teardown_service(void **state)
{
	char cmd[128];

	worker_pool_stop(pool, 2000);
	worker_pool_join(pool);
	listener_destroy(&lst);
	worker_pool_destroy(&pool);
	imap_service_destroy(&service);
	store_close(&store);
	passdb_destroy(&passdb);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

struct client {
	int fd;
	char buf[65536];
	size_t len;
};

static void
client_connect(struct client *c)
{
	struct sockaddr_in sin = { 0 };
	struct timeval tv = { .tv_sec = 5 };

	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)),
			 0);
}

static void
client_send(struct client *c, const char *data)
{
	size_t len = strlen(data);

	assert_int_equal(write(c->fd, data, len), (ssize_t)len);
}

/* Reads one line (with its CRLF) into line; "" at EOF. */
static void
client_line(struct client *c, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf) + 1;

			assert_true(n < size);
			memcpy(line, c->buf, n);
			line[n] = '\0';
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return;
		}
		ssize_t r = read(c->fd, c->buf + c->len,
				 sizeof(c->buf) - c->len);
		if (r <= 0) {
			line[0] = '\0';
			return;
		}
		c->len += (size_t)r;
	}
}

/* Expects the next line to start with prefix. */
static void
expect(struct client *c, const char *prefix)
{
	char line[4096];

	client_line(c, line, sizeof(line));
	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("want '%s', got '%s'", prefix, line);
}

static void
test_session_script(void **state)
{
	struct client c;

	client_connect(&c);
	expect(&c, "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ");
	client_send(&c, "a1 LOGIN alice secret\r\n");
	expect(&c, "a1 OK [CAPABILITY ");
	client_send(&c, "a2 APPEND INBOX (\\Seen) {28}\r\n");
	expect(&c, "+ Ready for literal data");
	client_send(&c, "Subject: hi\r\n\r\nhello world\r\n\r\n");
	expect(&c, "a2 OK [APPENDUID ");
	/* LITERAL+: no continuation. */
	client_send(&c, "a3 APPEND INBOX {8+}\r\nX: y\r\n\r\n\r\n");
	expect(&c, "a3 OK [APPENDUID ");
	client_send(&c, "a4 SELECT INBOX\r\n");
	expect(&c, "* FLAGS ");
	expect(&c, "* OK [PERMANENTFLAGS ");
	expect(&c, "* 2 EXISTS");
	expect(&c, "* 2 RECENT");
	expect(&c, "* OK [UNSEEN 2]");
	expect(&c, "* OK [UIDVALIDITY ");
	expect(&c, "* OK [UIDNEXT 3]");
	expect(&c, "* OK [HIGHESTMODSEQ ");
	expect(&c, "* OK [MAILBOXID (F");
	expect(&c, "a4 OK [READ-WRITE] SELECT completed.");
	client_send(&c, "a5 FETCH 1 (FLAGS BODY.PEEK[TEXT])\r\n");
	expect(&c, "* 1 FETCH (FLAGS (\\Recent \\Seen) BODY[TEXT] {13}");
	expect(&c, "hello world");
	expect(&c, ")");
	expect(&c, "a5 OK FETCH completed.");
	client_send(&c, "a6 UID FETCH 2 BODY[HEADER.FIELDS (X)]\r\n");
	expect(&c, "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (X)] {8}");
	expect(&c, "X: y");
	expect(&c, "");
	expect(&c, " FLAGS (\\Recent \\Seen))");
	expect(&c, "a6 OK FETCH completed.");
	client_send(&c, "a7 SEARCH ALL\r\n");
	expect(&c, "* SEARCH 1 2");
	expect(&c, "a7 OK");
	/* RFC 8970: the APPENDed message's record is cached, so LAZY has
	   its preview; one with no text gets "" (not NIL). */
	client_send(&c, "a7a FETCH 1:2 (PREVIEW (LAZY) THREADID)\r\n");
	expect(&c, "* 1 FETCH (PREVIEW \"hello world\" THREADID (T");
	expect(&c, "* 2 FETCH (PREVIEW \"\" THREADID (T");
	expect(&c, "a7a OK FETCH completed.");
	client_send(&c, "a7b FETCH 1 PREVIEW (LAZY)\r\n");
	expect(&c, "* 1 FETCH (PREVIEW \"hello world\")");
	expect(&c, "a7b OK FETCH completed.");
	client_send(&c, "a7c FETCH 1 (EMAILID SAVEDATE)\r\n");
	expect(&c, "* 1 FETCH (EMAILID (M");
	expect(&c, "a7c OK FETCH completed.");
	client_send(&c, "a7d SEARCH SAVEDATESUPPORTED THREADID T1\r\n");
	expect(&c, "* SEARCH\r\n");
	expect(&c, "a7d OK");
	client_send(&c, "a7e CREATE Box\r\n");
	expect(&c, "a7e OK [MAILBOXID (F");
	client_send(&c, "a7f STATUS Box (MESSAGES MAILBOXID)\r\n");
	expect(&c, "* STATUS \"Box\" (MESSAGES 0 MAILBOXID (F");
	expect(&c, "a7f OK");
	client_send(&c, "a8 LOGOUT\r\n");
	expect(&c, "* BYE");
	expect(&c, "a8 OK");
	close(c.fd);
}

/* APPEND edge cases: MULTIAPPEND, refusals before "+", skipped
   non-synchronising literals, a size over the limit. */
static void
test_session_append(void **state)
{
	struct client c;

	client_connect(&c);
	expect(&c, "* OK");
	client_send(&c, "a1 LOGIN alice secret\r\n");
	expect(&c, "a1 OK");
	client_send(&c, "a2 CREATE multi\r\n");
	expect(&c, "a2 OK");
	client_send(&c, "a3 APPEND multi (\\Flagged) {5}\r\n");
	expect(&c, "+ ");
	client_send(&c, "A: b\r {5+}\r\nC: d\r \"01-Jan-2020 00:00:00 "
		    "+0000\" {5}\r\n");
	expect(&c, "+ ");
	client_send(&c, "E: f\r\r\n");
	expect(&c, "a3 OK [APPENDUID ");
	client_send(&c, "a4 STATUS multi (MESSAGES)\r\n");
	expect(&c, "* STATUS \"multi\" (MESSAGES 3)");
	expect(&c, "a4 OK");
	/* Missing mailbox: the client never gets "+". */
	client_send(&c, "a5 APPEND nobox {5}\r\n");
	expect(&c, "a5 NO [TRYCREATE]");
	/* The same with LITERAL+: the bytes are skipped. */
	client_send(&c, "a6 APPEND nobox {5+}\r\nX: y\r\r\n");
	expect(&c, "a6 NO [TRYCREATE]");
	/* Bad flags in the second message undo the first. */
	client_send(&c, "a7 APPEND multi {5+}\r\nA: b\r (\\Bogus) {5+}\r\n"
		    "C: d\r\r\n");
	expect(&c, "a7 BAD");
	client_send(&c, "a8 STATUS multi (MESSAGES)\r\n");
	expect(&c, "* STATUS \"multi\" (MESSAGES 3)");
	expect(&c, "a8 OK");
	/* A syntax error after a saved literal undoes it. */
	client_send(&c, "b2 APPEND multi {5+}\r\nA: b\r (\r\n");
	expect(&c, "b2 BAD");
	client_send(&c, "b3 STATUS multi (MESSAGES)\r\n");
	expect(&c, "* STATUS \"multi\" (MESSAGES 3)");
	expect(&c, "b3 OK");
	/* Over the message size limit: refused before "+". */
	client_send(&c, "a9 APPEND multi {999999999999}\r\n");
	expect(&c, "a9 NO [TOOBIG]");
	client_send(&c, "b1 NOOP\r\n");
	expect(&c, "b1 OK");
	/* A MULTIAPPEND cut off by a disconnect leaves nothing. */
	client_send(&c, "b4 APPEND multi {5+}\r\nA: b\r {5}\r\n");
	expect(&c, "+ ");
	close(c.fd);

	struct client d;
	char line[4096];
	bool ok = false;

	client_connect(&d);
	expect(&d, "* OK");
	client_send(&d, "c1 LOGIN alice secret\r\n");
	expect(&d, "c1 OK");
	for (int i = 0; i < 50 && !ok; i++) {
		client_send(&d, "c2 STATUS multi (MESSAGES)\r\n");
		client_line(&d, line, sizeof(line));
		ok = strcmp(line, "* STATUS \"multi\" (MESSAGES 3)\r\n") == 0;
		expect(&d, "c2 OK");
		if (!ok)
			usleep(20000);
	}
	assert_true(ok);
	close(d.fd);
}

/* RFC 8970 4.1: a message saved without its parse record (by an older
   version, or a path that does not parse) has PREVIEW (LAZY) NIL; a plain
   PREVIEW parses it, caches the record, and LAZY then has it too. Its
   8-bit text goes out as a literal. */
static void
test_session_preview_lazy(void **state)
{
	static const char msg[] =
		"Content-Type: text/plain; charset=utf-8\r\n\r\n"
		"caf\xc3\xa9  au\r\nlait\r\n";
	struct store_user *user;
	struct store_save *save;
	const char *error;
	uint64_t id;
	struct client c;

	assert_int_equal(store_user_get(store, "alice", &user, &error), 0);
	assert_int_equal(store_mailbox_create(user, "Lazy", STORE_SPECIAL_NONE,
					      &id, &error), 1);
	assert_int_equal(store_save_begin(user, id, &save, &error), 0);
	assert_int_equal(store_save_write(save, msg, sizeof(msg) - 1,
					  &error), 0);
	assert_int_equal(store_save_commit(&save, NULL, &error), 0);
	store_user_unref(&user);

	client_connect(&c);
	expect(&c, "* OK");
	client_send(&c, "a1 LOGIN alice secret\r\n");
	expect(&c, "a1 OK");
	client_send(&c, "a2 EXAMINE Lazy\r\n");
	expect(&c, "* FLAGS");
	for (;;) {
		char line[4096];

		client_line(&c, line, sizeof(line));
		if (strncmp(line, "a2 ", 3) == 0)
			break;
		assert_true(line[0] == '*');
	}
	client_send(&c, "a3 FETCH 1 (PREVIEW (LAZY))\r\n");
	expect(&c, "* 1 FETCH (PREVIEW NIL)");
	expect(&c, "a3 OK");
	client_send(&c, "a4 FETCH 1 PREVIEW\r\n");
	expect(&c, "* 1 FETCH (PREVIEW {13}");
	expect(&c, "caf\xc3\xa9 au lait)");
	expect(&c, "a4 OK");
	client_send(&c, "a5 FETCH 1 PREVIEW (LAZY)\r\n");
	expect(&c, "* 1 FETCH (PREVIEW {13}");
	expect(&c, "caf\xc3\xa9 au lait)");
	expect(&c, "a5 OK");
	client_send(&c, "a6 LOGOUT\r\n");
	expect(&c, "* BYE");
	close(c.fd);
	(void)state;
}

static void
test_session_errors(void **state)
{
	struct client c;
	char line[4096];

	client_connect(&c);
	expect(&c, "* OK");
	client_send(&c, "a1 SELECT INBOX\r\n");
	expect(&c, "a1 BAD Not authenticated.");
	client_send(&c, "a2 UID NOOP\r\n");
	expect(&c, "a2 BAD Unknown command.");
	client_send(&c, "a3 LOGIN alice\r\n");
	expect(&c, "a3 BAD");
	client_send(&c, "a4 AUTHENTICATE PLAIN\r\n");
	expect(&c, "+ ");
	client_send(&c, "*\r\n");
	expect(&c, "a4 BAD Authentication canceled.");
	/* A literal over the pre-login limit is refused before "+". */
	client_send(&c, "a5 LOGIN {100000}\r\n");
	expect(&c, "a5 NO [TOOBIG]");
	client_send(&c, "a6 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	expect(&c, "a6 OK");
	client_send(&c, "a7 LOGIN alice secret\r\n");
	expect(&c, "a7 BAD Already authenticated.");
	client_send(&c, "a8 FETCH 1 FLAGS\r\n");
	expect(&c, "a8 BAD No mailbox selected.");
	client_send(&c, "a9 IDLE\r\n");
	expect(&c, "+ idling");
	client_send(&c, "DONE\r\n");
	expect(&c, "a9 OK IDLE terminated.");
	for (int i = 0; i < 30; i++)
		client_send(&c, "x BOGUS\r\n");
	for (int i = 0; i < 40; i++) {
		client_line(&c, line, sizeof(line));
		if (strncmp(line, "* BYE", 5) == 0)
			break;
	}
	assert_string_equal(line, "* BYE Too many invalid commands\r\n");
	close(c.fd);
}

/* METADATA (RFC 5464) and CREATE-SPECIAL-USE (RFC 6154) over a
   session: exact response bytes, a command fed one byte at a time, a
   literal8 value. */
static void
test_session_metadata(void **state)
{
	static const char set_cmd[] =
		"m3 SETMETADATA meta (/private/comment \"a \\\"b\\\"\" "
		"/shared/comment {3+}\r\nx\0y)\r\n";
	struct client c;

	client_connect(&c);
	expect(&c, "* OK");
	client_send(&c, "m1 LOGIN alice secret\r\n");
	expect(&c, "m1 OK");
	client_send(&c, "m2 CREATE meta (USE (\\Drafts))\r\n");
	expect(&c, "m2 OK [MAILBOXID (F");
	/* A NUL in a plain literal is refused by the parser. */
	for (size_t i = 0; i < sizeof(set_cmd) - 1; i++)
		assert_int_equal(write(c.fd, set_cmd + i, 1), 1);
	expect(&c, "m3 BAD");
	client_send(&c, "m4 SETMETADATA meta (/private/comment \"a \\\"b\\\"\" "
		    "/shared/comment ~{3+}\r\nx");
	assert_int_equal(write(c.fd, "\0", 1), 1);
	client_send(&c, "y)\r\n");
	expect(&c, "m4 OK SETMETADATA completed.");
	client_send(&c, "m5 GETMETADATA (DEPTH 1) meta (/private /shared)\r\n");
	expect(&c, "* METADATA \"meta\" (\"/private/comment\" \"a \\\"b\\\"\" "
	       "\"/private/specialuse\" \"\\\\Drafts\" \"/shared/comment\" "
	       "~{3}");
	char line[64];
	client_line(&c, line, sizeof(line));
	assert_memory_equal(line, "x\0y)\r\n", 6);
	expect(&c, "m5 OK GETMETADATA completed.");
	client_send(&c, "m6 GETMETADATA meta (MAXSIZE 2) /shared/comment\r\n");
	expect(&c, "m6 OK [METADATA LONGENTRIES 3] GETMETADATA completed.");
	client_send(&c, "m7 GETMETADATA \"\" /shared/admin\r\n");
	expect(&c, "* METADATA \"\" (\"/shared/admin\" NIL)");
	expect(&c, "m7 OK");
	client_send(&c, "m8 SETMETADATA meta (/private/a* \"x\")\r\n");
	expect(&c, "m8 BAD Entry name must not contain * or %.");
	client_send(&c, "m9 CREATE other (USE (\\Imaginary))\r\n");
	expect(&c, "m9 NO [USEATTR]");
	client_send(&c, "m10 DELETE meta\r\n");
	expect(&c, "m10 OK");
	client_send(&c, "m11 CREATE meta\r\n");
	expect(&c, "m11 OK");
	client_send(&c, "m12 GETMETADATA meta /shared/comment\r\n");
	expect(&c, "* METADATA \"meta\" (\"/shared/comment\" NIL)");
	expect(&c, "m12 OK");
	client_send(&c, "m13 LOGOUT\r\n");
	expect(&c, "* BYE");
	close(c.fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_match),
		cmocka_unit_test(test_list_match_long),
		cmocka_unit_test(test_list_join),
		cmocka_unit_test(test_uid_set_format),
		cmocka_unit_test(test_fetch_item_parse),
		cmocka_unit_test(test_fetch_items_args),
		cmocka_unit_test(test_fetch_section_too_deep),
		cmocka_unit_test(test_fetch_field_wanted),
		cmocka_unit_test(test_session_script),
		cmocka_unit_test(test_session_append),
		cmocka_unit_test(test_session_errors),
		cmocka_unit_test(test_session_preview_lazy),
		cmocka_unit_test(test_session_metadata),
	};

	return cmocka_run_group_tests(tests, setup_service, teardown_service);
}
