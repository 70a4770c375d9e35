/* Unit tests for src/search: program building (every key, RETURN and
   CHARSET, every error text), evaluation against a small in-memory
   mailbox (flags, keywords, sizes, dates with zones, sets and "$", RFC
   2047 headers, base64 / quoted-printable / ISO-8859-1 / HTML bodies,
   case folding beyond ASCII, OR/NOT nesting), the message text fed in
   pieces of every size, the short-circuit that leaves bodies unread, and
   SEARCH through the IMAP service in process (replies, ESEARCH, SAVE and
   "$"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistd.h>
#include <unistr.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "auth/passdb.h"
#include "imap/imap.h"
#include "imap/imap-parser.h"
#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/objectid.h"
#include "net/listener.h"
#include "net/worker.h"
#include "search/search-eval.h"
#include "search/search-program.h"
#include "search/search-text.h"
#include "store/store.h"

/* ---- helpers ------------------------------------------------------------ */

/* Parses "T SEARCH <args>" with the IMAP command parser; the command
   stays valid while *parser_r lives. */
static const struct imap_command *
parse_command_split(const char *args, bool bytewise,
		    struct imap_parser **parser_r)
{
	struct imap_parser *parser = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	struct buf line;
	size_t pos = 0, used;
	const char *error;

	imap_parser_set_authenticated(parser, true);
	buf_init(&line, 0);
	buf_appendf(&line, "T SEARCH %s\r\n", args);
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
		assert_true(r == IMAP_PARSE_LITERAL ||
			    (r == IMAP_PARSE_MORE && pos < line.len));
	}
	buf_free(&line);
	*parser_r = parser;
	return cmd;
}

static const struct imap_command *
parse_command(const char *args, struct imap_parser **parser_r)
{
	return parse_command_split(args, false, parser_r);
}

/* The program of args fed to the command parser a byte at a time,
   dumped. */
static void
dump_bytewise(const char *args, struct buf *out)
{
	struct imap_parser *parser;
	const struct imap_command *cmd = parse_command_split(args, true,
							      &parser);
	struct search_program *prog;
	enum search_error_kind kind;
	const char *error;

	assert_int_equal(search_program_parse(cmd->args, cmd->args_count,
					      &prog, &kind, &error), 0);
	search_program_dump(prog, out);
	search_program_free(&prog);
	imap_parser_destroy(&parser);
}

static struct search_program *
parse_program(const char *args, enum search_error_kind *kind_r,
	      const char **error_r)
{
	struct imap_parser *parser;
	const struct imap_command *cmd = parse_command(args, &parser);
	struct search_program *prog = NULL;
	enum search_error_kind kind;
	const char *error = NULL;

	if (search_program_parse(cmd->args, cmd->args_count, &prog, &kind,
				 &error) < 0) {
		prog = NULL;
		if (kind_r != NULL)
			*kind_r = kind;
		if (error_r != NULL)
			*error_r = error;
	}
	imap_parser_destroy(&parser);
	return prog;
}

/* ---- program building ----------------------------------------------------- */

struct program_case {
	const char *args;
	const char *dump;
};

static const struct program_case program_cases[] = {
	{ "ALL", "(ALL)" },
	{ "all", "(ALL)" },
	{ "ANSWERED", "(FLAG \\Answered)" },
	{ "DELETED", "(FLAG \\Deleted)" },
	{ "DRAFT", "(FLAG \\Draft)" },
	{ "FLAGGED", "(FLAG \\Flagged)" },
	{ "SEEN", "(FLAG \\Seen)" },
	{ "UNANSWERED", "(NOT (FLAG \\Answered))" },
	{ "UNDELETED", "(NOT (FLAG \\Deleted))" },
	{ "UNDRAFT", "(NOT (FLAG \\Draft))" },
	{ "UNFLAGGED", "(NOT (FLAG \\Flagged))" },
	{ "UNSEEN", "(NOT (FLAG \\Seen))" },
	{ "RECENT", "(RECENT)" },
	{ "NEW", "(AND (RECENT) (NOT (FLAG \\Seen)))" },
	{ "OLD", "(NOT (RECENT))" },
	{ "KEYWORD $Label1", "(KEYWORD $Label1)" },
	{ "UNKEYWORD work", "(NOT (KEYWORD work))" },
	{ "LARGER 1000", "(LARGER 1000)" },
	{ "SMALLER 0", "(SMALLER 0)" },
	{ "LARGER 9223372036854775807", "(LARGER 9223372036854775807)" },
	{ "BEFORE 1-Feb-1994", "(BEFORE 8797)" },
	{ "ON \"01-feb-1994\"", "(ON 8797)" },
	{ "SINCE 1-Jan-1970", "(SINCE 0)" },
	{ "SENTBEFORE 2-Feb-2026", "(SENTBEFORE 20486)" },
	{ "SENTON 3-Feb-2026", "(SENTON 20487)" },
	{ "SENTSINCE 1-Jan-2000", "(SENTSINCE 10957)" },
	{ "OLDER 3600", "(OLDER 3600)" },
	{ "YOUNGER 60", "(YOUNGER 60)" },
	{ "SAVEDBEFORE 1-Feb-1994", "(SAVEDBEFORE 8797)" },
	{ "savedon \"01-feb-1994\"", "(SAVEDON 8797)" },
	{ "SAVEDSINCE 1-Jan-1970", "(SAVEDSINCE 0)" },
	{ "SAVEDATESUPPORTED", "(ALL)" },
	{ "EMAILID M6d99ac3275bb4e", "(EMAILID M6d99ac3275bb4e)" },
	{ "emailid \"M_a-Z9\"", "(EMAILID M_a-Z9)" },
	{ "THREADID T64b478a75b7ea9", "(THREADID T64b478a75b7ea9)" },
	{ "MODSEQ 0", "(MODSEQ 0)" },
	{ "MODSEQ 12345", "(MODSEQ 12345)" },
	{ "MODSEQ \"/flags/\\\\Seen\" all 7", "(MODSEQ 7)" },
	{ "MODSEQ \"/flags/$Label1\" priv 7", "(MODSEQ 7)" },
	{ "UID 1:5,7", "(UID 1:5,7)" },
	{ "UID $", "(UID $)" },
	{ "1:3", "(SEQ 1:3)" },
	{ "2:*", "(SEQ <with *>)" },
	{ "$", "(SEQ $)" },
	{ "5,1,2", "(SEQ 1:2,5)" },
	{ "FROM alice", "(HEADER From \"alice\")" },
	{ "TO \"bob smith\"", "(HEADER To \"bob smith\")" },
	{ "CC carol", "(HEADER Cc \"carol\")" },
	{ "BCC dave", "(HEADER Bcc \"dave\")" },
	{ "SUBJECT {5}\r\nhello", "(HEADER Subject \"hello\")" },
	{ "SUBJECT NIL", "(HEADER Subject \"NIL\")" },
	{ "HEADER X-Spam \"\"", "(HEADER X-Spam \"\")" },
	{ "HEADER \"Message-ID\" \"<a@b>\"", "(HEADER Message-ID \"<a@b>\")" },
	{ "BODY \"stra\xc3\x9f" "e\"", "(BODY \"stra\xc3\x9f" "e\")" },
	{ "TEXT \"a\\\"b\"", "(TEXT \"a\\\"b\")" },
	{ "NOT SEEN", "(NOT (FLAG \\Seen))" },
	{ "NOT NOT SEEN", "(NOT (NOT (FLAG \\Seen)))" },
	{ "OR SEEN FLAGGED", "(OR (FLAG \\Seen) (FLAG \\Flagged))" },
	{ "OR (SEEN DRAFT) NOT FLAGGED",
	  "(OR (AND (FLAG \\Seen) (FLAG \\Draft)) (NOT (FLAG \\Flagged)))" },
	{ "OR OR SEEN DRAFT FLAGGED",
	  "(OR (OR (FLAG \\Seen) (FLAG \\Draft)) (FLAG \\Flagged))" },
	{ "SEEN FLAGGED DRAFT",
	  "(AND (FLAG \\Seen) (FLAG \\Flagged) (FLAG \\Draft))" },
	{ "(SEEN)", "(FLAG \\Seen)" },
	{ "((SEEN) (((FLAGGED))))", "(AND (FLAG \\Seen) (FLAG \\Flagged))" },
	{ "NOT (OR SEEN (NOT DRAFT))",
	  "(NOT (OR (FLAG \\Seen) (NOT (FLAG \\Draft))))" },
	{ "RETURN (MIN MAX) SEEN", "(FLAG \\Seen)" },
	{ "RETURN () SEEN", "(FLAG \\Seen)" },
	{ "CHARSET UTF-8 SEEN", "(FLAG \\Seen)" },
	{ "CHARSET us-ascii SEEN", "(FLAG \\Seen)" },
	{ "RETURN (SAVE) CHARSET \"UTF-8\" SEEN", "(FLAG \\Seen)" },
	{ "SEEN UID 3 NOT 4", "(AND (FLAG \\Seen) (UID 3) (NOT (SEQ 4)))" },
};

static void
test_program_keys(void **state)
{
	for (size_t i = 0; i < sizeof(program_cases) / sizeof(program_cases[0]);
	     i++) {
		const struct program_case *c = &program_cases[i];
		const char *error = NULL;
		struct search_program *prog = parse_program(c->args, NULL,
							    &error);
		struct buf out;

		if (prog == NULL)
			fail_msg("%s: %s", c->args, error);
		buf_init(&out, 0);
		search_program_dump(prog, &out);
		if (strcmp(buf_cstr(&out), c->dump) != 0)
			fail_msg("%s: got %s want %s", c->args, buf_cstr(&out),
				 c->dump);
		/* The same command split at every byte builds the same. */
		buf_reset(&out);
		dump_bytewise(c->args, &out);
		assert_string_equal(buf_cstr(&out), c->dump);
		buf_free(&out);
		search_program_free(&prog);
		assert_null(prog);
	}
}

static void
test_program_summary(void **state)
{
	struct search_program *prog;

	prog = parse_program("RETURN (MIN COUNT save) UID $ MODSEQ 5", NULL,
			     NULL);
	assert_non_null(prog);
	assert_true(prog->has_return);
	assert_int_equal(prog->return_opts, SEARCH_RETURN_MIN |
			 SEARCH_RETURN_COUNT | SEARCH_RETURN_SAVE);
	assert_true(prog->uses_saved);
	assert_true(prog->uses_modseq);
	assert_false(prog->need_header);
	assert_false(prog->need_body);
	search_program_free(&prog);

	prog = parse_program("RETURN () SUBJECT x", NULL, NULL);
	assert_int_equal(prog->return_opts, SEARCH_RETURN_ALL);
	assert_true(prog->need_header);
	assert_false(prog->need_body);
	assert_false(prog->uses_saved);
	search_program_free(&prog);

	prog = parse_program("OR SENTON 1-Jan-2000 TEXT x", NULL, NULL);
	assert_false(prog->has_return);
	assert_true(prog->need_header);
	assert_true(prog->need_body);
	assert_int_equal(prog->max_stack, 2);
	search_program_free(&prog);
	search_program_free(&prog);
}

struct error_case {
	const char *args;
	enum search_error_kind kind;
	const char *error;
};

#define BAD SEARCH_ERROR_BAD

static const struct error_case error_cases[] = {
	{ "FOO", BAD, "Unknown search key." },
	{ "\"SEEN\"", BAD, "Unknown search key." },
	{ "SEEN FOO", BAD, "Unknown search key." },
	{ "RETURN (ALL)", BAD, "SEARCH needs a search key." },
	{ "CHARSET UTF-8", BAD, "SEARCH needs a search key." },
	{ "()", BAD, "Empty search key list." },
	{ "SEEN (FLAGGED ())", BAD, "Empty search key list." },
	{ "NOT", BAD, "NOT needs a search key." },
	{ "(NOT) SEEN", BAD, "NOT needs a search key." },
	{ "OR SEEN", BAD, "OR needs two search keys." },
	{ "OR", BAD, "OR needs two search keys." },
	{ "(OR SEEN) FLAGGED", BAD, "OR needs two search keys." },
	{ "NOT NOT NOT", BAD, "NOT needs a search key." },
	{ "SUBJECT", BAD, "Search key is missing its argument." },
	{ "BEFORE", BAD, "Search key is missing its argument." },
	{ "UID", BAD, "Search key is missing its argument." },
	{ "MODSEQ", BAD, "Search key is missing its argument." },
	{ "HEADER X-Foo", BAD, "Search key is missing its argument." },
	{ "SUBJECT (x)", BAD, "Search key needs a string argument." },
	{ "BODY \"\xc3(\"", BAD, "Search string is not valid UTF-8." },
	{ "TEXT \"\xed\xa0\x80\"", BAD, "Search string is not valid UTF-8." },
	{ "BEFORE 31-Feb-2026", BAD, "Invalid search date." },
	{ "ON 1-Foo-2026", BAD, "Invalid search date." },
	{ "SINCE 2026-02-01", BAD, "Invalid search date." },
	{ "SENTON (1-Feb-2026)", BAD, "Invalid search date." },
	{ "LARGER -1", BAD, "Invalid size in search key." },
	{ "LARGER 9223372036854775808", BAD, "Invalid size in search key." },
	{ "SMALLER \"10\"", BAD, "Invalid size in search key." },
	{ "SMALLER 1k", BAD, "Invalid size in search key." },
	{ "OLDER 0", BAD, "Invalid interval in search key." },
	{ "YOUNGER 4294967296", BAD, "Invalid interval in search key." },
	{ "MODSEQ x", BAD, "Invalid MODSEQ value." },
	{ "EMAILID", BAD, "Search key is missing its argument." },
	{ "EMAILID M.1", BAD, "Invalid object id in search key." },
	{ "EMAILID \"\"", BAD, "Invalid object id in search key." },
	{ "THREADID (T1)", BAD, "Invalid object id in search key." },
	{ "THREADID \"T 1\"", BAD, "Invalid object id in search key." },
	{ "SAVEDON 1-Foo-2026", BAD, "Invalid search date." },
	{ "SAVEDSINCE", BAD, "Search key is missing its argument." },
	{ "MODSEQ -5", BAD, "Invalid MODSEQ value." },
	{ "MODSEQ \"/flags/\\\\Seen\" all", BAD,
	  "Search key is missing its argument." },
	{ "MODSEQ \"/x/y\" all 5", BAD, "Invalid MODSEQ entry." },
	{ "MODSEQ \"/flags/x\" none 5", BAD, "Invalid MODSEQ entry." },
	{ "KEYWORD \\Seen", BAD, "Invalid keyword in search key." },
	{ "KEYWORD \"a b\"", BAD, "Invalid keyword in search key." },
	{ "UNKEYWORD (x)", BAD, "Invalid keyword in search key." },
	{ "HEADER \"\" x", BAD, "Invalid header field name." },
	{ "HEADER \"a:b\" x", BAD, "Invalid header field name." },
	{ "HEADER \"a b\" x", BAD, "Invalid header field name." },
	{ "UID 0", BAD, NULL },	/* the sequence set parser's text */
	{ "1:x", BAD, NULL },
	{ "UID (1)", BAD, "UID needs a sequence set." },
	{ "UID \"1\"", BAD, "UID needs a sequence set." },
	{ "RETURN SEEN", BAD, "RETURN needs a list of options." },
	{ "RETURN", BAD, "RETURN needs a list of options." },
	{ "RETURN (FOO) SEEN", BAD, "Unknown RETURN option." },
	{ "RETURN ((MIN)) SEEN", BAD, "Unknown RETURN option." },
	{ "CHARSET", BAD, "CHARSET needs a charset name." },
	{ "CHARSET (x) SEEN", BAD, "CHARSET needs a charset name." },
	{ "CHARSET ISO-8859-1 SEEN", SEARCH_ERROR_BADCHARSET,
	  "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset." },
	{ "CHARSET UTF-7 SEEN", SEARCH_ERROR_BADCHARSET,
	  "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset." },
	{ "CHARSET UTF-8 RETURN (ALL) SEEN", BAD, "Unknown search key." },
};

static void
test_program_errors(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	     i++) {
		const struct error_case *c = &error_cases[i];
		enum search_error_kind kind = (enum search_error_kind)-1;
		const char *error = NULL;
		struct search_program *prog = parse_program(c->args, &kind,
							    &error);

		if (prog != NULL)
			fail_msg("%s: parsed", c->args);
		if (kind != c->kind)
			fail_msg("%s: kind %d", c->args, kind);
		assert_non_null(error);
		if (c->error != NULL && strcmp(error, c->error) != 0)
			fail_msg("%s: got \"%s\" want \"%s\"", c->args, error,
				 c->error);
	}
}

/* A long NOT chain and the deepest list nesting the command parser
   accepts build and evaluate without recursion. */
static void
test_program_deep(void **state)
{
	struct search_eval_settings set;
	struct search_message msg;
	struct search_program *prog;
	struct search_eval *eval;
	struct buf args;
	unsigned int i;

	buf_init(&args, 0);
	for (i = 0; i < 12001; i++)
		buf_append_str(&args, "NOT ");
	buf_append_str(&args, "SEEN");
	prog = parse_program(buf_cstr(&args), NULL, NULL);
	assert_non_null(prog);
	assert_int_equal(prog->count, 12002);
	memset(&set, 0, sizeof(set));
	memset(&msg, 0, sizeof(msg));
	msg.flags = STORE_FLAG_SEEN;
	eval = search_eval_create(prog, &set);
	/* an odd number of NOTs */
	assert_int_equal(search_eval_record(eval, &msg), 0);
	search_eval_destroy(&eval);
	search_program_free(&prog);

	buf_reset(&args);
	for (i = 0; i < IMAP_MAX_LIST_DEPTH - 1; i++)
		buf_append_str(&args, "(OR SEEN ");
	buf_append_str(&args, "FLAGGED");
	for (i = 0; i < IMAP_MAX_LIST_DEPTH - 1; i++)
		buf_append_c(&args, ')');
	prog = parse_program(buf_cstr(&args), NULL, NULL);
	assert_non_null(prog);
	msg.flags = STORE_FLAG_FLAGGED;
	eval = search_eval_create(prog, &set);
	assert_int_equal(search_eval_record(eval, &msg), 1);
	search_eval_destroy(&eval);
	search_program_free(&prog);
	buf_free(&args);
}

/* ---- evaluation ------------------------------------------------------------ */

/* 2026-02-01 12:00 UTC etc. */
#define T_FEB1 ((time_t)20485 * 86400 + 12 * 3600)
#define T_FEB2 ((time_t)20486 * 86400 + 23 * 3600)
#define T_FEB3 ((time_t)20487 * 86400 + 1)
#define T_MAR1 ((time_t)20513 * 86400 + 6 * 3600)

struct test_msg {
	struct search_message rec;
	const char *text;
};

static const struct test_msg test_msgs[] = {
{
	{ 1, 10, STORE_FLAG_SEEN, 0x1, 5, 100, T_FEB1, T_MAR1, 0x1001, 0x77 },
	"From: Alice <alice@example.org>\r\n"
	"To: Bob <bob@example.org>\r\n"
	"Subject: Hello world\r\n"
	/* Feb 2 in its own zone, Feb 3 in UTC */
	"Date: Mon, 2 Feb 2026 23:30:00 -0800\r\n"
	"\r\n"
	"The quick brown fox\r\n"
	"jumps over the lazy dog.\r\n",
}, {
	{ 2, 20, STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED, 0, 7, 5000,
	  T_FEB3, T_FEB3, 0x1002, 0x77 },
	"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\n"
	"To: alice@example.org\r\n"
	/* "Grüße aus München" */
	"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n"
	"Date: Tue, 3 Feb 26 08:00:00 +0100 (CET)\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	/* "Wir wohnen in der Hauptstraße 5.\n" */
	"V2lyIHdvaG5lbiBpbiBkZXIgSGF1cHRzdHJhw59lIDUuCg==\r\n",
}, {
	{ 3, 30, STORE_FLAG_DELETED | STORE_FLAG_DRAFT, 0x2, 9, 20000,
	  T_MAR1, T_MAR1, 0x1003, 0x88 },
	/* Comments and spaces inside the addr-spec (RFC 5322 CFWS). */
	"From: <pierre (Pierre)@ (France) example.fr>\r\n"
	"Subject: =?ISO-8859-1?Q?Re=3A_caf=E9?=\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Un caf=E9 cr=E8me, s'il vous pla=EEt, avec une tr=\r\n"
	"=E8s longue ligne.\r\n",
}, {
	/* a copy of message 2: the same blob, so the same EMAILID */
	{ 4, 40, 0, 0, 3, 300, T_FEB2, T_FEB1, 0x1002 },
	"From: carol@example.net\r\n"
	"Cc: Carol <carol@example.net>\r\n"
	"Subject: report\r\n"
	"X-Custom: Foo Bar\r\n"
	"Date: 2 Feb 2026 10:00 +0000\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"preamble words\r\n"
	"--b1\r\n"
	"Content-Type: text/html; charset=us-ascii\r\n"
	"\r\n"
	"<p>Hello <b>HTML</b> world &amp; more</p>\r\n"
	"--b1\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"c2VjcmV0IHBheWxvYWQ=\r\n"
	"--b1--\r\n",
},
};
#define TEST_MSG_COUNT (sizeof(test_msgs) / sizeof(test_msgs[0]))

static const char *const test_keywords[] = { "$Label1", "work", NULL,
					     "other" };

struct mem_reader {
	const uint8_t *data;
	size_t len, pos;
	size_t piece; /* largest piece returned */
	unsigned int calls;
	bool fail;
};

static ssize_t
mem_read(void *context, uint8_t *buf, size_t size, const char **error_r)
{
	struct mem_reader *r = context;
	size_t n = r->len - r->pos;

	r->calls++;
	if (r->fail) {
		*error_r = "read failed";
		return -1;
	}
	if (n > size)
		n = size;
	if (n > r->piece)
		n = r->piece;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

struct eval_case {
	const char *args;
	unsigned int expect; /* bit i: test_msgs[i] matches */
};

static const struct eval_case eval_cases[] = {
	{ "ALL", 0xf },
	{ "SEEN", 0x1 },
	{ "UNSEEN", 0xe },
	{ "ANSWERED", 0x2 },
	{ "UNANSWERED", 0xd },
	{ "FLAGGED", 0x2 },
	{ "UNFLAGGED", 0xd },
	{ "DELETED", 0x4 },
	{ "UNDELETED", 0xb },
	{ "DRAFT", 0x4 },
	{ "UNDRAFT", 0xb },
	/* The session's \Recent set is UIDs 10 and 30 (eval_recent). */
	{ "RECENT", 0x5 },
	{ "NEW", 0x4 },
	{ "OLD", 0xa },
	{ "NOT NEW", 0xb },
	{ "KEYWORD $Label1", 0x1 },
	{ "KEYWORD $LABEL1", 0x1 },
	{ "KEYWORD work", 0x4 },
	{ "UNKEYWORD work", 0xb },
	{ "KEYWORD nosuch", 0x0 },
	{ "UNKEYWORD nosuch", 0xf },
	{ "KEYWORD other", 0x0 },
	{ "LARGER 1000", 0x6 },
	{ "LARGER 5000", 0x4 },
	{ "SMALLER 300", 0x1 },
	{ "SMALLER 301", 0x9 },
	{ "BEFORE 2-Feb-2026", 0x1 },
	{ "ON 2-Feb-2026", 0x8 },
	{ "ON 3-Feb-2026", 0x2 },
	{ "SINCE 3-Feb-2026", 0x6 },
	{ "SINCE 1-Feb-2026", 0xf },
	{ "SENTON 2-Feb-2026", 0x9 },
	{ "SENTON 3-Feb-2026", 0x2 },
	{ "SENTBEFORE 3-Feb-2026", 0x9 },
	{ "SENTSINCE 3-Feb-2026", 0x2 },
	{ "SENTSINCE 1-Jan-2000", 0xb },
	{ "NOT SENTSINCE 1-Jan-2000", 0x4 },
	{ "YOUNGER 172800", 0x4 },
	{ "OLDER 172800", 0xb },
	{ "MODSEQ 7", 0x6 },
	{ "MODSEQ \"/flags/\\\\Seen\" all 8", 0x4 },
	{ "1:2", 0x3 },
	{ "2,4", 0xa },
	{ "*", 0x8 },
	{ "3:*", 0xc },
	{ "5:*", 0x8 },
	{ "7", 0x0 },
	{ "UID 20:30", 0x6 },
	{ "UID *", 0x8 },
	{ "UID 15", 0x0 },
	{ "UID 1:15,35:*", 0x9 },
	{ "$", 0xa },
	{ "UID $", 0xa },
	{ "NOT $", 0x5 },
	{ "SUBJECT hello", 0x1 },
	{ "SUBJECT \"WORLD\"", 0x1 },
	{ "SUBJECT \"gr\xc3\xbc\xc3\x9f" "e\"", 0x2 },
	{ "SUBJECT \"GR\xc3\x9c\xc3\x9f" "E AUS\"", 0x2 },
	/* RFC 5051 maps sharp s to no "SS" (no simple titlecase) */
	{ "SUBJECT \"GR\xc3\x9cSSE AUS\"", 0x0 },
	/* and decomposes: "cafe" is a substring of "caf" + e + U+0301 */
	{ "SUBJECT \"cafe\"", 0x4 },
	{ "SUBJECT \"caf\xc3\xa9\"", 0x4 },
	{ "SUBJECT \"re: CAF\xc3\x89\"", 0x4 },
	{ "SUBJECT \"\"", 0xf },
	{ "SUBJECT xyz", 0x0 },
	{ "FROM alice", 0x1 },
	{ "FROM \"J\xc3\xbcrgen\"", 0x2 },
	{ "FROM example", 0xf },
	/* RFC 9051 6.4.4: the envelope's addresses count too. */
	{ "FROM pierre@example.fr", 0x4 },
	{ "FROM \"<pierre@example.fr>\"", 0x4 },
	{ "FROM France", 0x4 },
	{ "FROM \"pierre@example.frx\"", 0x0 },
	{ "CC \"Carol <carol@example.net>\"", 0x8 },
	{ "HEADER Subject pierre@example.fr", 0x0 },
	{ "TO alice", 0x2 },
	{ "TO bob", 0x1 },
	{ "CC carol", 0x8 },
	{ "BCC carol", 0x0 },
	{ "HEADER X-Custom \"foo b\"", 0x8 },
	{ "HEADER x-custom \"\"", 0x8 },
	{ "HEADER Content-Type plain", 0x6 },
	{ "HEADER Content-Type html", 0x0 },
	{ "BODY quick", 0x1 },
	{ "BODY \"LAZY DOG\"", 0x1 },
	{ "BODY \"hauptstrasse\"", 0x0 }, /* sharp s is not "ss" */
	{ "BODY \"HAUPTSTRA\xc3\x9f" "E 5\"", 0x2 },
	{ "BODY \"Hauptstra\xc3\x9f" "e\"", 0x2 },
	{ "BODY \"caf\xc3\xa9 cr\xc3\xa8me\"", 0x4 },
	{ "BODY \"tr\xc3\xa8s longue\"", 0x4 },
	{ "BODY \"cafe\"", 0x4 }, /* decomposed: e + U+0301 (RFC 5051) */
	{ "BODY \"hello html world\"", 0x8 },
	{ "BODY \"& more\"", 0x8 },
	{ "BODY secret", 0x0 },
	{ "BODY \"\"", 0xf },
	{ "BODY alice", 0x0 },
	{ "TEXT alice", 0x3 },
	{ "TEXT quick", 0x1 },
	{ "TEXT x-custom", 0x8 },
	{ "TEXT application/octet", 0x8 },
	{ "TEXT secret", 0x0 },
	{ "OR SEEN FLAGGED", 0x3 },
	{ "NOT (OR SEEN FLAGGED)", 0xc },
	{ "OR (NOT SEEN) (BODY quick)", 0xf },
	{ "OR BODY quick BODY \"hauptstra\xc3\x9f" "e\"", 0x3 },
	{ "NOT BODY quick", 0xe },
	{ "NOT NOT SEEN", 0x1 },
	{ "(SEEN)", 0x1 },
	{ "((SEEN FLAGGED))", 0x0 },
	{ "OR (SEEN SUBJECT hello) (DRAFT BODY creme)", 0x1 },
	{ "OR (SEEN SUBJECT hello) (DRAFT NOT BODY creme)", 0x5 },
	{ "UNSEEN NOT FROM carol SMALLER 10000", 0x2 },
	{ "OR OR SUBJECT report SUBJECT hello TEXT \"hauptstra\xc3\x9f" "e\"", 0xb },
	{ "CHARSET UTF-8 TEXT \"STRA\xc3\x9f" "E\"", 0x2 },
	/* RFC 8514: save dates are Mar 1, Feb 3, Mar 1, Feb 1. */
	{ "SAVEDBEFORE 3-Feb-2026", 0x8 },
	{ "SAVEDBEFORE 4-Feb-2026", 0xa },
	{ "SAVEDON 3-Feb-2026", 0x2 },
	{ "SAVEDON 1-Mar-2026", 0x5 },
	{ "SAVEDSINCE 2-Feb-2026", 0x7 },
	{ "NOT SAVEDSINCE 2-Feb-2026", 0x8 },
	{ "SAVEDATESUPPORTED", 0xf },
	{ "OR SAVEDON 1-Feb-2026 SEEN", 0x9 },
	/* RFC 8474 5.2: messages 1 and 2 are in thread 0x77, 3 in 0x88,
	   4 in none (saved before threads were kept). */
	{ "THREADID T1da2605ca3460553", 0x3 },
	{ "THREADID Tdce232ce686e53ce", 0x4 },
	{ "NOT THREADID T1da2605ca3460553", 0xc },
	{ "OR THREADID Tdce232ce686e53ce SEEN", 0x5 },
	{ "THREADID T1DA2605CA3460553", 0x0 }, /* case matters */
	{ "THREADID M1da2605ca3460553", 0x0 },
	{ "THREADID T0123456789abcdef", 0x0 },
	{ "NOT THREADID T1", 0xf },
	{ "EMAILID M0", 0x0 },
	{ "EMAILID M-_x", 0x0 },
};

/* Evaluates c against every test message with text pieces of `piece`
   bytes; returns the match mask. */
static const struct imap_seqset *eval_recent;

static unsigned int
eval_mask(const char *args, size_t piece, const struct imap_seqset *saved)
{
	struct search_eval_settings set;
	struct search_program *prog;
	struct search_eval *eval;
	const char *error = NULL;
	unsigned int mask = 0;

	prog = parse_program(args, NULL, &error);
	if (prog == NULL)
		fail_msg("%s: %s", args, error);
	memset(&set, 0, sizeof(set));
	set.keywords = test_keywords;
	set.keyword_count = sizeof(test_keywords) / sizeof(test_keywords[0]);
	set.now = T_MAR1 + 86400;
	set.max_seq = TEST_MSG_COUNT;
	set.max_uid = 40;
	set.saved_uids = saved;
	set.recent_uids = eval_recent;
	eval = search_eval_create(prog, &set);
	for (unsigned int i = 0; i < TEST_MSG_COUNT; i++) {
		struct mem_reader r = {
			(const uint8_t *)test_msgs[i].text,
			strlen(test_msgs[i].text), 0, piece, 0, false,
		};
		int ret = search_eval_message(eval, &test_msgs[i].rec,
					      mem_read, &r, &error);

		assert_true(ret >= 0);
		if (ret > 0)
			mask |= 1u << i;
	}
	search_eval_destroy(&eval);
	search_program_free(&prog);
	return mask;
}

static void
test_eval_cases(void **state)
{
	static const size_t pieces[] = { 65536, 1, 2, 3, 7, 64 };
	struct imap_seqset *saved = imap_seqset_create();
	struct imap_seqset *recent = imap_seqset_create();

	imap_seqset_add_range(saved, 20, 20);
	imap_seqset_add_range(saved, 40, 40);
	imap_seqset_add_range(recent, 10, 10);
	imap_seqset_add_range(recent, 30, 30);
	eval_recent = recent;
	for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		for (size_t i = 0;
		     i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
			const struct eval_case *c = &eval_cases[i];
			unsigned int got = eval_mask(c->args, pieces[p],
						     saved);

			if (got != c->expect)
				fail_msg("%s (pieces of %zu): got 0x%x want "
					 "0x%x", c->args, pieces[p], got,
					 c->expect);
		}
	}
	imap_seqset_destroy(&saved);
	/* No recent set (IMAP4rev2, EXAMINE): nothing is recent. */
	eval_recent = NULL;
	imap_seqset_destroy(&recent);
	assert_int_equal(eval_mask("RECENT", 65536, NULL), 0);
	assert_int_equal(eval_mask("NEW", 65536, NULL), 0);
	assert_int_equal(eval_mask("OLD", 65536, NULL), 0xf);
	/* No saved result: "$" is the empty set. */
	assert_int_equal(eval_mask("$", 65536, NULL), 0);
	assert_int_equal(eval_mask("NOT UID $", 65536, NULL), 0xf);
}

/* SEARCH EMAILID matches the id FETCH EMAILID gives: every message of
   the blob (a copy shares it) and no other; ids are case-sensitive
   (RFC 8474 7). */
static void
test_eval_emailid(void **state)
{
	char id[OBJECTID_SIZE], args[64];

	objectid_email(0x1002, id);
	snprintf(args, sizeof(args), "EMAILID %s", id);
	assert_int_equal(eval_mask(args, 65536, NULL), 0xa);
	snprintf(args, sizeof(args), "NOT EMAILID %s", id);
	assert_int_equal(eval_mask(args, 65536, NULL), 0x5);
	objectid_email(0x1001, id);
	snprintf(args, sizeof(args), "EMAILID %s", id);
	assert_int_equal(eval_mask(args, 65536, NULL), 0x1);
	for (char *c = id; *c != '\0'; c++) {
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	}
	snprintf(args, sizeof(args), "EMAILID %s", id);
	assert_int_equal(eval_mask(args, 65536, NULL), 0x0);
	(void)state;
}

/* Keys on the record never open the text; header keys stop reading after
   the top-level header; a body key found early stops there; a read
   error is reported. */
static void
test_eval_short_circuit(void **state)
{
	struct search_eval_settings set;
	struct search_message rec;
	struct search_program *prog;
	struct search_eval *eval;
	struct buf msg;
	struct mem_reader r;
	const char *error = NULL;

	buf_init(&msg, 0);
	buf_append_str(&msg, "Subject: big one\r\n"
		       "Date: 1 Jan 2026 00:00 +0000\r\n\r\nneedle early\r\n");
	for (unsigned int i = 0; i < 40000; i++)
		buf_append_str(&msg, "filler line of the long body text\r\n");
	buf_append_str(&msg, "needle late\r\n");
	memset(&set, 0, sizeof(set));
	memset(&rec, 0, sizeof(rec));
	rec.seq = 1;
	rec.uid = 1;
	rec.size = msg.len;

	/* Record-only program: the reader is never called. */
	prog = parse_program("OR SEEN LARGER 10", NULL, NULL);
	eval = search_eval_create(prog, &set);
	memset(&r, 0, sizeof(r));
	r.data = msg.data;
	r.len = msg.len;
	r.piece = SIZE_MAX;
	r.fail = true;
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), 1);
	assert_int_equal(r.calls, 0);
	/* The record decides even with text keys: SEEN is false. */
	search_eval_destroy(&eval);
	search_program_free(&prog);
	prog = parse_program("SEEN BODY needle", NULL, NULL);
	eval = search_eval_create(prog, &set);
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), 0);
	assert_int_equal(r.calls, 0);
	search_eval_destroy(&eval);
	search_program_free(&prog);

	/* Header keys: one chunk read of a 1.4 MB message. */
	r.fail = false;
	prog = parse_program("NOT SUBJECT big", NULL, NULL);
	eval = search_eval_create(prog, &set);
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), 0);
	assert_true(search_eval_bytes_read(eval) <= 65536);
	search_eval_destroy(&eval);
	search_program_free(&prog);

	prog = parse_program("SENTON 1-Jan-2026 NOT FROM x", NULL, NULL);
	eval = search_eval_create(prog, &set);
	r.pos = 0;
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), 1);
	assert_true(search_eval_bytes_read(eval) <= 65536);
	search_eval_destroy(&eval);
	search_program_free(&prog);

	/* A body match early in the text stops the reading. */
	prog = parse_program("BODY \"NEEDLE EARLY\"", NULL, NULL);
	eval = search_eval_create(prog, &set);
	r.pos = 0;
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), 1);
	assert_true(search_eval_bytes_read(eval) <= 65536);
	search_eval_destroy(&eval);
	search_program_free(&prog);

	/* One at the end needs all of it. */
	prog = parse_program("BODY \"needle late\"", NULL, NULL);
	eval = search_eval_create(prog, &set);
	r.pos = 0;
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), 1);
	assert_int_equal(search_eval_bytes_read(eval), msg.len);
	/* Read errors come back as -1 with the reader's text. */
	r.pos = 0;
	r.fail = true;
	error = NULL;
	assert_int_equal(search_eval_message(eval, &rec, mem_read, &r,
					     &error), -1);
	assert_string_equal(error, "read failed");
	search_eval_destroy(&eval);
	search_program_free(&prog);
	buf_free(&msg);
}

/* Messages with odd shapes: no body at all, bare LF line ends, an empty
   header, a message/rfc822 attachment. */
static void
test_eval_shapes(void **state)
{
	static const struct {
		const char *msg;
		const char *args;
		int expect;
	} cases[] = {
		{ "Subject: only a header\r\n", "SUBJECT header", 1 },
		{ "Subject: only a header\r\n", "BODY header", 0 },
		{ "Subject: only a header", "SUBJECT header", 1 },
		{ "Subject: lf\nX-A: b\n\nbody text\n", "HEADER X-A b", 1 },
		{ "Subject: lf\nX-A: b\n\nbody text\n", "BODY \"y te\"", 1 },
		{ "Subject: lf\nX-A: b\n\nX-B: c\n", "HEADER X-B c", 0 },
		{ "Subject: lf\nX-A: b\n\nX-B: c\n", "BODY \"x-b: c\"", 1 },
		{ "\r\nSubject: not a header\r\n", "SUBJECT not", 0 },
		{ "\r\nSubject: not a header\r\n", "BODY \"not a\"", 1 },
		{ "", "NOT SUBJECT x", 1 },
		{ "", "BODY \"\"", 1 },
		{ "Subject: outer\r\n"
		  "Content-Type: message/rfc822\r\n\r\n"
		  "Subject: inner\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		  "inn=C3=A9r text\r\n", "SUBJECT inner", 0 },
		{ "Subject: outer\r\n"
		  "Content-Type: message/rfc822\r\n\r\n"
		  "Subject: inner\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		  "inn=C3=A9r text\r\n", "TEXT inner", 1 },
		{ "Subject: outer\r\n"
		  "Content-Type: message/rfc822\r\n\r\n"
		  "Subject: inner\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		  "inn=C3=A9r text\r\n", "BODY \"INN\xc3\x89R\"", 1 },
	};
	struct search_eval_settings set;
	struct search_message rec;

	memset(&set, 0, sizeof(set));
	memset(&rec, 0, sizeof(rec));
	rec.seq = rec.uid = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t piece = 1; piece <= 65536; piece *= 4) {
			struct search_program *prog =
				parse_program(cases[i].args, NULL, NULL);
			struct search_eval *eval =
				search_eval_create(prog, &set);
			struct mem_reader r = {
				(const uint8_t *)cases[i].msg,
				strlen(cases[i].msg), 0, piece, 0, false,
			};
			const char *error;
			int ret = search_eval_message(eval, &rec, mem_read, &r,
						      &error);

			if (ret != cases[i].expect)
				fail_msg("case %zu (%s), pieces of %zu: %d", i,
					 cases[i].args, piece, ret);
			search_eval_destroy(&eval);
			search_program_free(&prog);
		}
	}
}

/* ---- text helpers ---------------------------------------------------------- */

/* RFC 5051 the long way, on the whole string: the reference for the
   fold's shortcuts (ASCII runs, the table of two-byte characters, CJK
   ideographs). */
static void
fold_reference(const uint8_t *in, size_t len, struct buf *out)
{
	size_t n32, nn, n8;
	uint32_t *u32 = u8_to_u32(in, len, NULL, &n32), *norm;
	uint8_t *u8;

	assert_non_null(u32);
	for (size_t i = 0; i < n32; i++)
		u32[i] = uc_totitle(u32[i]);
	norm = u32_normalize(UNINORM_NFKD, u32, n32, NULL, &nn);
	assert_non_null(norm);
	for (size_t i = 0; i < nn; i++)
		norm[i] = uc_totitle(norm[i]);
	u8 = u32_to_u8(norm, nn, NULL, &n8);
	assert_non_null(u8);
	buf_append(out, u8, n8);
	free(u32);
	free(norm);
	free(u8);
}

static size_t
put_utf8(uint8_t *p, uint32_t cp)
{
	int n = u8_uctomb(p, cp, 4);

	assert_true(n > 0);
	return (size_t)n;
}

/* Every two-byte character, alone and next to combining marks (which
   canonical ordering moves across a character's own marks), Greek,
   Cyrillic, CJK and kana with a voicing mark (class 8): the fold equals
   the reference's. */
static void
test_fold_table(void **state)
{
	static const uint32_t next[] = {
		0, 'a', 0x0301, 0x0323, 0x0345, 0x05b0, 0x00e9, 0x03ac,
		0x0439, 0x4e2d, 0x304b, 0x3099, 0xfb01, 0x1e9e,
	};
	struct buf got, want;

	(void)state;
	buf_init(&got, 0);
	buf_init(&want, 0);
	for (uint32_t cp = 0x80; cp < 0x800; cp++) {
		for (size_t k = 0; k < sizeof(next) / sizeof(next[0]); k++) {
			uint8_t in[16];
			size_t len = 0;

			in[len++] = 'x';
			len += put_utf8(in + len, cp);
			if (next[k] != 0)
				len += put_utf8(in + len, next[k]);
			len += put_utf8(in + len, 0x0323);
			len += put_utf8(in + len, cp);
			buf_reset(&got);
			buf_reset(&want);
			search_text_fold(in, len, &got);
			fold_reference(in, len, &want);
			if (got.len != want.len ||
			    memcmp(got.data, want.data, got.len) != 0)
				fail_msg("U+%04X then U+%04X", cp, next[k]);
		}
	}
	buf_free(&got);
	buf_free(&want);
}

static void
test_fold(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "Hello World", "HELLO WORLD" },
		/* sharp s has no simple titlecase: it stays */
		{ "Stra\xc3\x9f" "e", "STRA\xc3\x9f" "E" },
		{ "STRASSE", "STRASSE" },
		/* decomposed: "CAFE" + U+0301, so "cafe" is a substring */
		{ "caf\xc3\xa9", "CAFE\xcc\x81" },
		{ "\xef\xac\x81" "le", "FILE" },      /* U+FB01 ligature */
		/* sigma, final sigma and capital sigma are one */
		{ "\xcf\x83\xce\xb9\xcf\x82", "\xce\xa3\xce\x99\xce\xa3" },
		{ "a\xff" "b", "A\xef\xbf\xbd" "B" }, /* invalid: U+FFFD */
		{ "a\xc3" "b", "A\xef\xbf\xbd" "B" }, /* cut sequence */
		/* ASCII and other runs folded apart give the whole's fold:
		   marks after an ASCII letter are still put in canonical
		   order (dot below, class 220, before dot above, 230) */
		{ "e\xcc\x87\xcc\xa3", "E\xcc\xa3\xcc\x87" },
		{ "x caf\xc3\xa9 y \xef\xac\x81 z\xc3\xa9\xc3\xa9!",
		  "X CAFE\xcc\x81 Y FI ZE\xcc\x81" "E\xcc\x81!" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;

		buf_init(&out, 0);
		search_text_fold((const uint8_t *)cases[i].in,
				 strlen(cases[i].in), &out);
		assert_string_equal(buf_cstr(&out), cases[i].out);
		buf_free(&out);
	}
	assert_int_equal(search_text_complete_prefix(
		(const uint8_t *)"ab\xc3", 3), 2);
	assert_int_equal(search_text_complete_prefix(
		(const uint8_t *)"ab\xc3\xa9", 4), 4);
	assert_int_equal(search_text_complete_prefix(
		(const uint8_t *)"\xf0\x9f\x98", 3), 0);
	assert_int_equal(search_text_complete_prefix(
		(const uint8_t *)"\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(search_text_complete_prefix(
		(const uint8_t *)"", 0), 0);
}

static void
test_date(void **state)
{
	static const struct {
		const char *in;
		int64_t day; /* -1: invalid */
	} cases[] = {
		{ "Mon, 2 Feb 2026 23:30:00 -0800", 20486 },
		{ "2 Feb 2026 10:00 +0000", 20486 },
		{ "  Tue,  3 Feb 26 08:00:00 +0100 (CET)", 20487 },
		{ "(comment) Tue (x) , 03 (y) feb (z) 2026 (w) 1:2", 20487 },
		{ "1 Jan 99 00:00 GMT", 10592 },
		{ "1 Jan 100 00:00 GMT", 10957 },
		{ "1 Jan 1970 00:00 GMT", 0 },
		{ "29 Feb 2024 00:00 GMT", 19782 },
		{ "31 Dec 1969 23:59 +0000", -1 - 0 },
		{ "29 Feb 2023 00:00 GMT", -2 },
		{ "32 Jan 2026", -2 },
		{ "Mon 2 Feb 2026", -2 },
		{ "2 February 2026", -2 },
		{ "2 Feb", -2 },
		{ "", -2 },
		{ "garbage", -2 },
		{ "123 Feb 2026", -2 },
		{ "2 Feb 20266", -2 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t day = 12345;
		int ret = search_date_parse_day(cases[i].in, &day);

		if (cases[i].day == -2) {
			if (ret != -1)
				fail_msg("%s: parsed", cases[i].in);
		} else {
			if (ret != 0 || day != cases[i].day)
				fail_msg("%s: ret %d day %lld", cases[i].in,
					 ret, (long long)day);
		}
	}
	assert_int_equal(search_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(search_days_from_civil(1, 1, 1), -719162);
}

/* ---- SEARCH through the IMAP service, in process ------------------------- */

static char tmpdir[64];
static struct store *store;
static struct passdb *passdb;
static struct worker_pool *pool;
static struct listener *lst;
static struct imap_service *service;
static unsigned int port;

static int
setup_service(void **state)
{
	struct store_settings sset = { 0 };
	struct imap_settings iset = { 0 };
	struct listener_settings lset = { 0 };
	char path[128];
	const char *error;
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-search-XXXXXX");
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
	return system(cmd) == 0 ? 0 : -1;
}

struct client {
	int fd;
	char buf[65536];
	size_t len;
	unsigned int tag;
};

static void
client_connect(struct client *c)
{
	struct sockaddr_in sin = { 0 };
	struct timeval tv = { .tv_sec = 10 };

	c->len = 0;
	c->tag = 0;
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
client_send(struct client *c, const void *data, size_t len)
{
	assert_int_equal(write(c->fd, data, len), (ssize_t)len);
}

/* One line without its CRLF; "" at EOF. */
static void
client_line(struct client *c, struct buf *line)
{
	buf_reset(line);
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf) + 1;

			buf_append(line, c->buf, n > 1 && nl[-1] == '\r' ?
				   n - 2 : n - 1);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return;
		}
		ssize_t r = read(c->fd, c->buf + c->len,
				 sizeof(c->buf) - c->len);
		if (r <= 0)
			return;
		c->len += (size_t)r;
	}
}

/* Sends "<tag> <command>" and returns the untagged lines joined by '|'
   and then the tagged line without its tag, e.g.
   "* SEARCH 1 2|OK SEARCH completed.". */
static const char *
client_cmd(struct client *c, const char *command, struct buf *out)
{
	char tag[16];
	struct buf line, req;

	snprintf(tag, sizeof(tag), "c%u", ++c->tag);
	buf_init(&line, 0);
	buf_init(&req, 0);
	buf_appendf(&req, "%s %s\r\n", tag, command);
	client_send(c, req.data, req.len);
	buf_free(&req);
	buf_reset(out);
	for (;;) {
		client_line(c, &line);
		if (line.len == 0)
			fail_msg("%s: connection closed", command);
		if (strncmp(buf_cstr(&line), tag, strlen(tag)) == 0 &&
		    line.data[strlen(tag)] == ' ') {
			buf_append_str(out, buf_cstr(&line) + strlen(tag) + 1);
			break;
		}
		/* Literal continuations and what the sync reports besides
		   SEARCH are of no interest here. */
		if (line.data[0] == '+' ||
		    strstr(buf_cstr(&line), " EXISTS") != NULL ||
		    strstr(buf_cstr(&line), " FETCH ") != NULL)
			continue;
		buf_append(out, line.data, line.len);
		buf_append_c(out, '|');
	}
	buf_free(&line);
	return buf_cstr(out);
}

static void
client_append(struct client *c, const char *flags, const char *date,
	      const char *msg)
{
	struct buf cmd, out;

	buf_init(&cmd, 0);
	buf_init(&out, 0);
	buf_appendf(&cmd, "APPEND INBOX (%s) \"%s\" {%zu+}\r\n%s", flags,
		    date, strlen(msg), msg);
	client_cmd(c, buf_cstr(&cmd), &out);
	if (strncmp(buf_cstr(&out), "OK", 2) != 0)
		fail_msg("APPEND: %s", buf_cstr(&out));
	buf_free(&cmd);
	buf_free(&out);
}

struct session_case {
	const char *command;
	const char *reply; /* untagged lines + '|' + tagged reply */
};

static const struct session_case session_cases[] = {
	{ "SEARCH ALL", "* SEARCH 1 2 3 4|OK SEARCH completed." },
	{ "UID SEARCH ALL", "* SEARCH 1 2 3 4|OK SEARCH completed." },
	{ "SEARCH SEEN", "* SEARCH 1|OK SEARCH completed." },
	{ "SEARCH UNSEEN NOT DELETED", "* SEARCH 2 4|OK SEARCH completed." },
	{ "SEARCH KEYWORD $work", "* SEARCH 2|OK SEARCH completed." },
	{ "SEARCH KEYWORD $nothing", "* SEARCH|OK SEARCH completed." },
	{ "SEARCH SUBJECT hello", "* SEARCH 1|OK SEARCH completed." },
	{ "SEARCH SUBJECT \"GR\xc3\x9c\xc3\x9f" "E\"", "* SEARCH 2|OK SEARCH completed." },
	{ "SEARCH BODY \"stra\xc3\x9f" "e\"", "* SEARCH 2|OK SEARCH completed." },
	{ "SEARCH BODY strasse", "* SEARCH|OK SEARCH completed." },
	{ "SEARCH CHARSET UTF-8 BODY {6+}\r\ncr\xc3\xa8me",
	  "* SEARCH 3|OK SEARCH completed." },
	{ "SEARCH TEXT example.org", "* SEARCH 1 2|OK SEARCH completed." },
	{ "SEARCH ON 2-Feb-2026", "* SEARCH 2|OK SEARCH completed." },
	{ "SEARCH SINCE 2-Feb-2026 BEFORE 1-Mar-2026",
	  "* SEARCH 2 4|OK SEARCH completed." },
	{ "SEARCH SENTON 1-Feb-2026", "* SEARCH 1|OK SEARCH completed." },
	{ "SEARCH LARGER 200", "* SEARCH 4|OK SEARCH completed." },
	{ "SEARCH OR FLAGGED SEEN", "* SEARCH 1 3|OK SEARCH completed." },
	{ "SEARCH 2:*", "* SEARCH 2 3 4|OK SEARCH completed." },
	{ "UID SEARCH UID 3:*", "* SEARCH 3 4|OK SEARCH completed." },
	{ "SEARCH NOT 1:2", "* SEARCH 3 4|OK SEARCH completed." },
	{ "SEARCH RETURN () ALL",
	  "* ESEARCH (TAG #) ALL 1:4|OK SEARCH completed." },
	{ "UID SEARCH RETURN (MIN MAX COUNT ALL) NOT 3",
	  "* ESEARCH (TAG #) UID MIN 1 MAX 4 ALL 1:2,4 COUNT 3|"
	  "OK SEARCH completed." },
	{ "SEARCH RETURN (COUNT) SUBJECT nosuch",
	  "* ESEARCH (TAG #) COUNT 0|OK SEARCH completed." },
	{ "SEARCH RETURN (MIN) SUBJECT nosuch",
	  "* ESEARCH (TAG #)|OK SEARCH completed." },
	/* SEARCHRES */
	{ "SEARCH RETURN (SAVE) UNSEEN", "OK SEARCH completed." },
	{ "SEARCH $", "* SEARCH 2 3 4|OK SEARCH completed." },
	{ "UID SEARCH UID $ LARGER 200", "* SEARCH 4|OK SEARCH completed." },
	{ "SEARCH RETURN (SAVE MIN MAX) $", "* ESEARCH (TAG #) MIN 2 "
	  "MAX 4|OK SEARCH completed." },
	{ "SEARCH $", "* SEARCH 2 4|OK SEARCH completed." },
	{ "SEARCH RETURN (SAVE COUNT MIN) ALL", "* ESEARCH (TAG #) "
	  "MIN 1 COUNT 4|OK SEARCH completed." },
	{ "SEARCH NOT $", "* SEARCH|OK SEARCH completed." },
	/* MODSEQ adds the highest modseq of the matches. (CONDSTORE is
	   enabled first: its first enabling command also gets an untagged
	   OK [HIGHESTMODSEQ].) */
	{ "FETCH 1 (MODSEQ)", NULL },
	{ "SEARCH MODSEQ 1 1", "* SEARCH 1 (MODSEQ *|OK SEARCH completed." },
	/* errors */
	{ "SEARCH CHARSET KOI8-R ALL",
	  "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset." },
	{ "SEARCH FOO", "BAD Unknown search key." },
	{ "SEARCH", "BAD SEARCH needs a search key." },
	{ "SEARCH OR SEEN", "BAD OR needs two search keys." },
	{ "SEARCH RETURN (FOO) ALL", "BAD Unknown RETURN option." },
	{ "SEARCH BEFORE 30-Feb-2026", "BAD Invalid search date." },
	/* a failed parse leaves "$" alone */
	{ "SEARCH $", "* SEARCH 1 2 3 4|OK SEARCH completed." },
	/* a NO to a SEARCH with SAVE empties it */
	{ "SEARCH RETURN (SAVE) CHARSET KOI8-R ALL",
	  "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset." },
	{ "SEARCH $", "* SEARCH|OK SEARCH completed." },
	/* IMAP4rev2: ESEARCH without RETURN */
	{ "ENABLE IMAP4rev2", NULL },
	{ "SEARCH SEEN", "* ESEARCH (TAG #) ALL 1|OK SEARCH completed." },
	{ "UID SEARCH SUBJECT nosuch",
	  "* ESEARCH (TAG #) UID|OK SEARCH completed." },
	/* any SELECT empties "$" (RFC 5182 2.1) */
	{ "SEARCH RETURN (SAVE) ALL", "OK SEARCH completed." },
	{ "SELECT INBOX", NULL },
	{ "SEARCH $", "* ESEARCH (TAG #)|OK SEARCH completed." },
	{ "SEARCH RETURN (SAVE) ALL", "OK SEARCH completed." },
	{ "CREATE Other", NULL },
	{ "SELECT Other", NULL },
	{ "SEARCH $", "* ESEARCH (TAG #)|OK SEARCH completed." },
	{ "UNSELECT", NULL },
	{ "SEARCH ALL", "BAD No mailbox selected." },
};

static void
test_session_search(void **state)
{
	struct client c;
	struct buf out, line;

	buf_init(&out, 0);
	buf_init(&line, 0);
	client_connect(&c);
	client_line(&c, &line);
	assert_true(strncmp(buf_cstr(&line), "* OK", 4) == 0);
	client_cmd(&c, "LOGIN alice secret", &out);
	assert_true(strncmp(buf_cstr(&out), "OK", 2) == 0);
	client_append(&c, "\\Seen", "01-Feb-2026 12:00:00 +0000",
		      "From: Alice <alice@example.org>\r\n"
		      "Subject: Hello world\r\n"
		      "Date: Sun, 1 Feb 2026 23:30:00 -0800\r\n"
		      "\r\n"
		      "The quick brown fox\r\n");
	client_append(&c, "$work", "02-Feb-2026 12:00:00 +0000",
		      "From: j@example.org\r\n"
		      "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n"
		      "Content-Type: text/plain; charset=utf-8\r\n"
		      "Content-Transfer-Encoding: base64\r\n"
		      "\r\n"
		      "V2lyIHdvaG5lbiBpbiBkZXIgSGF1cHRzdHJhw59lIDUuCg==\r\n");
	client_append(&c, "\\Flagged \\Deleted", "01-Mar-2026 12:00:00 +0000",
		      "Subject: caf\r\n"
		      "Content-Type: text/plain; charset=iso-8859-1\r\n"
		      "Content-Transfer-Encoding: quoted-printable\r\n"
		      "\r\n"
		      "Un caf=E9 cr=E8me.\r\n");
	client_append(&c, "", "20-Feb-2026 12:00:00 +0000",
		      "Subject: long\r\n\r\n"
		      "0123456789012345678901234567890123456789012345678\r\n"
		      "0123456789012345678901234567890123456789012345678\r\n"
		      "0123456789012345678901234567890123456789012345678\r\n"
		      "0123456789012345678901234567890123456789012345678\r\n");
	client_cmd(&c, "SELECT INBOX", &out);
	c.tag = 0;
	for (size_t i = 0; i < sizeof(session_cases) / sizeof(session_cases[0]);
	     i++) {
		const struct session_case *sc = &session_cases[i];
		const char *got = client_cmd(&c, sc->command, &out);
		const char *star;

		if (sc->reply == NULL) {
			if (strncmp(got, "OK", 2) != 0 &&
			    strstr(got, "|OK") == NULL)
				fail_msg("%s: %s", sc->command, got);
			continue;
		}
		/* A '*' after "(MODSEQ " stands for any number. */
		star = strstr(sc->reply, "(MODSEQ *");
		if (star != NULL) {
			size_t pre = (size_t)(star - sc->reply) + 8;

			if (strncmp(got, sc->reply, pre) != 0 ||
			    strstr(got, ")|OK SEARCH completed.") == NULL)
				fail_msg("%s: got %s", sc->command, got);
			continue;
		}
		/* "(TAG #)" stands for this command's tag. */
		buf_reset(&line);
		star = strstr(sc->reply, "(TAG #)");
		if (star != NULL) {
			buf_append(&line, sc->reply,
				   (size_t)(star - sc->reply));
			buf_appendf(&line, "(TAG \"c%u\")%s", c.tag, star + 7);
		} else {
			buf_append_str(&line, sc->reply);
		}
		if (strcmp(got, buf_cstr(&line)) != 0)
			fail_msg("%s: got '%s' want '%s'", sc->command, got,
				 buf_cstr(&line));
	}
	client_cmd(&c, "LOGOUT", &out);
	close(c.fd);
	buf_free(&out);
	buf_free(&line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_program_keys),
		cmocka_unit_test(test_program_summary),
		cmocka_unit_test(test_program_errors),
		cmocka_unit_test(test_program_deep),
		cmocka_unit_test(test_eval_cases),
		cmocka_unit_test(test_eval_emailid),
		cmocka_unit_test(test_eval_short_circuit),
		cmocka_unit_test(test_eval_shapes),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_table),
		cmocka_unit_test(test_date),
		cmocka_unit_test_setup_teardown(test_session_search,
						setup_service,
						teardown_service),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
