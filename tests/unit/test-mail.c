/* Unit tests for src/mail: MIME structure, ENVELOPE/BODY/BODYSTRUCTURE
   strings, header field parsing, decoders, preview, cache record, and
   split-anywhere feeding of every test message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "mail/imap-bodystructure.h"
#include "mail/mail-binary.h"
#include "mail/mail-cache.h"
#include "mail/mail-decode.h"
#include "mail/mail-header.h"
#include "mail/mail-parser.h"
#include "mail/mail-text.h"

/* Test messages shared by the mail unit tests and the split tests. Each
   has the exact ENVELOPE / BODY / BODYSTRUCTURE a server must send,
   worked out from the RFC 9051 7.5.2 grammar. NULL: not checked. */

struct mail_case {
	const char *name;
	const char *msg;
	size_t msg_len; /* 0: strlen(msg) */
	const char *envelope;
	const char *body;
	const char *bodystructure;
	const char *preview;
};

#define NUL_MSG \
	"Subject: caf\xc3\xa9 \x00x\r\n" \
	"From: =?x-unknown?q?abc?= <a@b>\r\n" \
	"\r\n" \
	"a\x00" "b\r\n"

#define TEXT_PLAIN_ASCII "\"text\" \"plain\" (\"charset\" \"us-ascii\")"

static const struct mail_case mail_cases[] = {
{
	"simple",
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.org\r\n"
	"Subject: Hello\r\n"
	"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
	"Message-ID: <1@example.com>\r\n"
	"\r\n"
	"Hi Bob.\r\n"
	"Bye.\r\n", 0,
	"(\"Thu, 26 Nov 2026 09:00:00 +0000\" \"Hello\" "
	"((\"Alice\" NIL \"alice\" \"example.com\")) "
	"((\"Alice\" NIL \"alice\" \"example.com\")) "
	"((\"Alice\" NIL \"alice\" \"example.com\")) "
	"((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1@example.com>\")",
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 15 2)",
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 15 2 NIL NIL NIL NIL)",
	"Hi Bob. Bye.",
},
{
	"envelope-all-fields",
	"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
	"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
	"Sender: secretary@example.com\r\n"
	"Reply-To: replies@example.com, \"Other, Person\" <o@example.com>\r\n"
	"Subject: afternoon meeting\r\n"
	"To: mooch@owatagu.siam.edu.example\r\n"
	"Cc: \"a \\\"q\\\" b\" <c@d>\r\n"
	"Bcc: hidden@example.com (Hidden Person)\r\n"
	"In-Reply-To: <parent@example.com>\r\n"
	"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	"\r\n"
	"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n", 0,
	"(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" "
	"((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
	"((NIL NIL \"secretary\" \"example.com\")) "
	"((NIL NIL \"replies\" \"example.com\")"
	"(\"Other, Person\" NIL \"o\" \"example.com\")) "
	"((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) "
	"((\"a \\\"q\\\" b\" NIL \"c\" \"d\")) "
	"((\"Hidden Person\" NIL \"hidden\" \"example.com\")) "
	"\"<parent@example.com>\" \"<B27397-0100000@Blurdybloop.example>\")",
	"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1)",
	NULL,
	"Hello Joe, do you think we can meet at 3:30 tomorrow?",
},
{
	"multipart-mixed",
	"From: a@b.c\r\n"
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--XX\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"caf=C3=A9\r\n"
	"--XX\r\n"
	"Content-Type: application/pdf; name=doc.pdf\r\n"
	"Content-Disposition: attachment; filename=\"doc.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"Content-ID: <pdf@x>\r\n"
	"Content-Description: the doc\r\n"
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	"Content-Language: en, fr\r\n"
	"Content-Location: http://example.com/doc.pdf\r\n"
	"\r\n"
	"JVBERi0=\r\n"
	"--XX--  \r\n"
	"epilogue\r\n", 0,
	"(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
	"((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
	"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	"\"quoted-printable\" 9 0)"
	"(\"application\" \"pdf\" (\"name\" \"doc.pdf\") \"<pdf@x>\" "
	"\"the doc\" \"base64\" 8) \"mixed\")",
	"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	"\"quoted-printable\" 9 0 NIL NIL NIL NIL)"
	"(\"application\" \"pdf\" (\"name\" \"doc.pdf\") \"<pdf@x>\" "
	"\"the doc\" \"base64\" 8 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
	"(\"attachment\" (\"filename\" \"doc.pdf\")) (\"en\" \"fr\") "
	"\"http://example.com/doc.pdf\") "
	"\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)",
	"caf\xc3\xa9",
},
{
	"nested-multipart-and-rfc822",
	"Subject: nested\r\n"
	"Content-Type: multipart/mixed; boundary=outer\r\n"
	"\r\n"
	"--outer\r\n"
	"Content-Type: multipart/alternative; boundary=inner\r\n"
	"\r\n"
	"--inner\r\n"
	"\r\n"
	"plain\r\n"
	"--inner\r\n"
	"Content-Type: text/html; charset=iso-8859-1\r\n"
	"\r\n"
	"<p>caf\xe9 &amp; <b>bar</b></p>\r\n"
	"--inner--\r\n"
	"--outer\r\n"
	"Content-Type: message/rfc822\r\n"
	"Content-Description: fwd\r\n"
	"\r\n"
	"From: \"Joe Q. Public\" <joe@x.y>\r\n"
	"Subject: inner\r\n"
	"To: Friends: a@b.c, (Comment) <@r1,@r2:c@d.e>;, "
	"undisclosed-recipients:;\r\n"
	"\r\n"
	"line1\r\n"
	"line2\r\n"
	"--outer--\r\n", 0,
	"(NIL \"nested\" NIL NIL NIL NIL NIL NIL NIL NIL)",
	"(((" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 5 0)"
	"(\"text\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 28 0)"
	" \"alternative\")"
	"(\"message\" \"rfc822\" NIL NIL \"fwd\" \"7bit\" 137 "
	"(NIL \"inner\" ((\"Joe Q. Public\" NIL \"joe\" \"x.y\")) "
	"((\"Joe Q. Public\" NIL \"joe\" \"x.y\")) "
	"((\"Joe Q. Public\" NIL \"joe\" \"x.y\")) "
	"((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"b.c\")"
	"(\"Comment\" \"@r1,@r2\" \"c\" \"d.e\")(NIL NIL NIL NIL)"
	"(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	"NIL NIL NIL NIL) "
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 12 1) 5) \"mixed\")",
	"(((" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)"
	"(\"text\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 28 0 "
	"NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
	"(\"message\" \"rfc822\" NIL NIL \"fwd\" \"7bit\" 137 "
	"(NIL \"inner\" ((\"Joe Q. Public\" NIL \"joe\" \"x.y\")) "
	"((\"Joe Q. Public\" NIL \"joe\" \"x.y\")) "
	"((\"Joe Q. Public\" NIL \"joe\" \"x.y\")) "
	"((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"b.c\")"
	"(\"Comment\" \"@r1,@r2\" \"c\" \"d.e\")(NIL NIL NIL NIL)"
	"(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	"NIL NIL NIL NIL) "
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL) 5 "
	"NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
	"plain",
},
{
	"rfc2047-rfc2231",
	"Subject: =?UTF-8?B?w6lsw6h2ZQ==?= =?ISO-8859-1?Q?caf=E9?=\r\n"
	"From: =?utf-8?q?Andr=C3=A9?= <andre@example.com>\r\n"
	"Content-Type: multipart/mixed;\r\n"
	"\tboundary=\"=_b 1\" (a comment)\r\n"
	"\r\n"
	"--=_b 1\r\n"
	"Content-Type: application/octet-stream;\r\n"
	" name*0*=utf-8''%E2%82%AC;\r\n"
	" name*1=\".txt\"\r\n"
	"Content-Disposition: attachment;\r\n"
	" filename*=iso-8859-1'en'%E9t%E9.txt\r\n"
	"\r\n"
	"data\r\n"
	"--=_b 1--\r\n", 0,
	"(NIL \"=?UTF-8?B?w6lsw6h2ZQ==?= =?ISO-8859-1?Q?caf=E9?=\" "
	"((\"=?utf-8?q?Andr=C3=A9?=\" NIL \"andre\" \"example.com\")) "
	"((\"=?utf-8?q?Andr=C3=A9?=\" NIL \"andre\" \"example.com\")) "
	"((\"=?utf-8?q?Andr=C3=A9?=\" NIL \"andre\" \"example.com\")) "
	"NIL NIL NIL NIL NIL)",
	"((\"application\" \"octet-stream\" (\"name\" {7}\r\n\xe2\x82\xac.txt) "
	"NIL NIL \"7bit\" 4) \"mixed\")",
	"((\"application\" \"octet-stream\" (\"name\" {7}\r\n\xe2\x82\xac.txt) "
	"NIL NIL \"7bit\" 4 NIL "
	"(\"attachment\" (\"filename\" {9}\r\n\xc3\xa9t\xc3\xa9.txt)) NIL NIL) "
	"\"mixed\" (\"boundary\" \"=_b 1\") NIL NIL NIL)",
	"",
},
{
	"no-boundary-parameter",
	"Content-Type: multipart/mixed\r\n"
	"\r\n"
	"body\r\n", 0,
	"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	"((" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 0 0) \"mixed\")",
	"((" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) "
	"\"mixed\" NIL NIL NIL NIL)",
	"",
},
{
	"unterminated-header",
	"Subject: no end\r\n"
	"From: x", 0,
	"(NIL \"no end\" ((NIL NIL \"x\" \"\")) ((NIL NIL \"x\" \"\")) "
	"((NIL NIL \"x\" \"\")) NIL NIL NIL NIL NIL)",
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 0 0)",
	NULL, "",
},
{
	"bare-lf-digest-missing-end",
	"Subject: bare\n"
	"Content-Type: multipart/digest; boundary=d\n"
	"\n"
	"--d\n"
	"\n"
	"From: a@b\n"
	"Subject: s1\n"
	"\n"
	"m1\n"
	"--d\n"
	"Content-Type: text/plain\n"
	"\n"
	"m2\n"
	"--d", 0,
	NULL,
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 25 "
	"(NIL \"s1\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) "
	"((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL) "
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 2 0) 3)"
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 2 0) \"digest\")",
	NULL, "m1",
},
{
	"nested-missing-close-and-header-cut",
	"Content-Type: multipart/mixed; boundary=a\r\n"
	"\r\n"
	"--a\r\n"
	"Content-Type: multipart/related; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"inner\r\n"
	"--a\r\n"
	"Content-Type: image/png\r\n"
	"--a--\r\n", 0,
	NULL,
	"(((" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 5 0) \"related\")"
	"(\"image\" \"png\" NIL NIL NIL \"7bit\" 0) \"mixed\")",
	NULL, "inner",
},
{
	"nul-and-8bit-header",
	NUL_MSG, sizeof(NUL_MSG) - 1,
	"(NIL {8}\r\ncaf\xc3\xa9 ?x "
	"((\"=?x-unknown?q?abc?=\" NIL \"a\" \"b\")) "
	"((\"=?x-unknown?q?abc?=\" NIL \"a\" \"b\")) "
	"((\"=?x-unknown?q?abc?=\" NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)",
	"(" TEXT_PLAIN_ASCII " NIL NIL \"7bit\" 5 1)",
	NULL, "a b",
},
{
	"quoted-printable-html-preview",
	"Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
	"\r\n"
	"--alt\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"<html><head><style>p {color:red}</style></head><body>\r\n"
	"<p>Hello&nbsp;=E2=82=AC  world</p>=\r\n"
	"<!-- hidden --></body></html>\r\n"
	"--alt--\r\n", 0,
	NULL,
	"((\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL "
	"\"quoted-printable\" 121 2) \"alternative\")",
	NULL, "Hello \xe2\x82\xac world",
},
{
	/* RFC 8970: a preview is readable text; a calendar part is data
	   and is passed over for the plain part after it. */
	"preview-skips-calendar",
	"Content-Type: multipart/mixed; boundary=\"b\"\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/calendar\r\n"
	"\r\n"
	"BEGIN:VCALENDAR\r\n"
	"--b\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"See you  there.\r\n"
	"--b--\r\n", 0,
	NULL, NULL, NULL, "See you there.",
},
};

#define MAIL_CASE_COUNT (sizeof(mail_cases) / sizeof(mail_cases[0]))


static size_t
case_len(const struct mail_case *c)
{
	return c->msg_len != 0 ? c->msg_len : strlen(c->msg);
}

/* Everything the parser produces, as bytes: the cache record (IMAP
   strings, preview, part table) followed by what the text callbacks
   received. Two runs agree iff this agrees. */
struct transcript {
	struct buf *out;
	const struct mail_part *last_part;
	uint64_t last_offset;
};

static void
tr_header(void *context, const struct mail_part *part, const char *name,
	  const char *value)
{
	struct transcript *tr = context;

	buf_appendf(tr->out, "\nH%llu %s: %s",
		    (unsigned long long)part->header_offset, name, value);
	tr->last_part = NULL;
}

static void
tr_body(void *context, const struct mail_part *part, const uint8_t *data,
	size_t len)
{
	struct transcript *tr = context;

	/* chunking differs with the input split; the concatenation not */
	if (tr->last_part != part) {
		buf_appendf(tr->out, "\nB%llu:",
			    (unsigned long long)part->header_offset);
		tr->last_part = part;
	}
	buf_append(tr->out, data, len);
}

static const struct mail_parser_text_callbacks tr_callbacks = {
	.header = tr_header,
	.body = tr_body,
};

/* Parses msg fed in pieces cut at cuts[] (ascending), or one byte at a
   time if bytewise, and writes the fingerprint to out. */
static void
fingerprint(const uint8_t *msg, size_t len, const size_t *cuts,
	    size_t ncuts, bool bytewise, struct buf *out)
{
	struct buf text;
	struct transcript tr = { .out = &text };
	struct mail_parser *parser;
	struct mail_parse_result *result;

	buf_init(&text, 0);
	parser = mail_parser_create(&tr_callbacks, &tr);
	if (bytewise) {
		for (size_t i = 0; i < len; i++)
			mail_parser_feed(parser, msg + i, 1);
	} else {
		size_t pos = 0;
		for (size_t i = 0; i <= ncuts; i++) {
			size_t end = i < ncuts ? cuts[i] : len;
			mail_parser_feed(parser, msg + pos, end - pos);
			pos = end;
		}
	}
	result = mail_parser_finish(&parser);
	assert_null(parser);
	assert_int_equal(mail_cache_record_write(result, out), 0);
	buf_append(out, text.data, text.len);
	mail_parse_result_free(&result);
	assert_null(result);
	buf_free(&text);
}

static void
test_mail_cases(void **state)
{
	for (size_t i = 0; i < MAIL_CASE_COUNT; i++) {
		const struct mail_case *c = &mail_cases[i];
		struct mail_parse_result *r =
			mail_parse((const uint8_t *)c->msg, case_len(c));
		const struct mail_part *root = mail_parse_result_root(r);
		struct buf b;

		print_message("case %s\n", c->name);
		buf_init(&b, 0);
		assert_int_equal(mail_parse_result_size(r), case_len(c));
		assert_int_equal(root->header_offset, 0);
		assert_int_equal(root->body_end, case_len(c));
		if (c->envelope != NULL) {
			imap_write_envelope(&b, root);
			assert_string_equal(buf_cstr(&b), c->envelope);
			buf_reset(&b);
		}
		if (c->body != NULL) {
			imap_write_body(&b, root, false);
			assert_string_equal(buf_cstr(&b), c->body);
			buf_reset(&b);
		}
		if (c->bodystructure != NULL) {
			imap_write_body(&b, root, true);
			assert_string_equal(buf_cstr(&b), c->bodystructure);
			buf_reset(&b);
		}
		if (c->preview != NULL)
			assert_string_equal(mail_parse_result_preview(r),
					    c->preview);
		buf_free(&b);
		mail_parse_result_free(&r);
	}
}

static void
test_mail_split_anywhere(void **state)
{
	for (size_t i = 0; i < MAIL_CASE_COUNT; i++) {
		const struct mail_case *c = &mail_cases[i];
		const uint8_t *msg = (const uint8_t *)c->msg;
		size_t len = case_len(c);
		struct buf whole, part;

		buf_init(&whole, 0);
		buf_init(&part, 0);
		fingerprint(msg, len, NULL, 0, false, &whole);
		for (size_t cut = 0; cut <= len; cut++) {
			buf_reset(&part);
			fingerprint(msg, len, &cut, 1, false, &part);
			if (part.len != whole.len ||
			    memcmp(part.data, whole.data, part.len) != 0)
				fail_msg("case %s differs when cut at %zu",
					 c->name, cut);
		}
		/* two cuts, at a stride, to cover cuts inside lines that
		   are not at the first position */
		for (size_t a = 0; a <= len; a += 7) {
			for (size_t b2 = a; b2 <= len; b2 += 13) {
				size_t cuts[2] = { a, b2 };
				buf_reset(&part);
				fingerprint(msg, len, cuts, 2, false, &part);
				if (part.len != whole.len ||
				    memcmp(part.data, whole.data, part.len) != 0)
					fail_msg("case %s differs cut at "
						 "%zu,%zu", c->name, a, b2);
			}
		}
		buf_reset(&part);
		fingerprint(msg, len, NULL, 0, true, &part);
		if (part.len != whole.len ||
		    memcmp(part.data, whole.data, part.len) != 0)
			fail_msg("case %s differs byte at a time", c->name);
		buf_free(&whole);
		buf_free(&part);
	}
}

static void
test_mail_text_callbacks(void **state)
{
	static const struct {
		const char *msg, *text;
	} cases[] = {
		{ "Subject: =?utf-8?q?caf=C3=A9?=\n\na\n\n\nb\n",
		  "\nH0 Subject: caf\xc3\xa9\nB0:a\n\n\nb\n" },
		{ "Subject: x\r\n\r\n\r\na\r\n\r\n",
		  "\nH0 Subject: x\nB0:\r\na\r\n\r\n" },
		{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		  "--b\r\n\r\n\r\n\r\n--b\r\n"
		  "Content-Type: text/plain; charset=utf-16be\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\n"
		  "AGEgrA==\r\n--b\r\n"
		  "Content-Type: image/gif\r\n\r\nGIF89a\r\n--b--\r\n",
		  "\nH0 Content-Type: multipart/mixed; boundary=b"
		  "\nB50:\r\n"
		  "\nH61 Content-Type: text/plain; charset=utf-16be"
		  "\nH61 Content-Transfer-Encoding: base64"
		  "\nB61:a\xe2\x82\xac"
		  "\nH157 Content-Type: image/gif" },
		{ "Content-Type: text/plain; charset=iso-8859-1\r\n"
		  "Content-Transfer-Encoding: x-unknown\r\n\r\nraw\r\n",
		  "\nH0 Content-Type: text/plain; charset=iso-8859-1"
		  "\nH0 Content-Transfer-Encoding: x-unknown" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *msg = (const uint8_t *)cases[i].msg;
		size_t len = strlen(cases[i].msg);
		for (size_t cut = 0; cut <= len + 1; cut++) {
			struct buf text;
			struct transcript tr = { .out = &text };
			struct mail_parser *parser;
			struct mail_parse_result *r;

			buf_init(&text, 0);
			parser = mail_parser_create(&tr_callbacks, &tr);
			if (cut <= len) {
				mail_parser_feed(parser, msg, cut);
				mail_parser_feed(parser, msg + cut, len - cut);
			} else {
				for (size_t j = 0; j < len; j++)
					mail_parser_feed(parser, msg + j, 1);
			}
			r = mail_parser_finish(&parser);
			assert_string_equal(buf_cstr(&text), cases[i].text);
			mail_parse_result_free(&r);
			buf_free(&text);
		}
	}
}

static void
test_mail_rfc2047(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text", "plain text" },
		{ "=?UTF-8?B?w6lsw6h2ZQ==?= =?ISO-8859-1?Q?caf=E9?=",
		  "\xc3\xa9l\xc3\xa8ve" "caf\xc3\xa9" },
		{ "Hello =?utf-8?q?w=C3=B6rld?= !", "Hello w\xc3\xb6rld !" },
		/* one character split over two words */
		{ "=?utf-8?b?4oI=?=\r\n =?utf-8?b?rA==?=", "\xe2\x82\xac" },
		{ "=?x-foo?q?abc?= def", "=?x-foo?q?abc?= def" },
		{ "=?iso-8859-1?q?a_b?=", "a b" },
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
		{ "=?utf-8*en?q?hi?=", "hi" },
		{ "a\xff" "b", "a\xef\xbf\xbd" "b" },
		{ "x=?utf-8?q?y?=z", "xyz" },
		{ "=?utf-8?q?a?= \t =?iso-8859-1?q?b?=", "ab" },
		{ "=?utf-8?q?a?= b", "a b" },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },
		{ "=?", "=?" },
		{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
		{ "=?utf-8?B?4oKs?= =?utf-8?B?4oKs?=",
		  "\xe2\x82\xac\xe2\x82\xac" },
		{ "", "" },
	};
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		mail_header_decode_2047((const uint8_t *)cases[i].in,
					strlen(cases[i].in), &out);
		assert_string_equal(buf_cstr(&out), cases[i].out);
	}
	buf_free(&out);
}

static void
params_cb(void *context, const char *name, const char *value)
{
	buf_appendf(context, "|%s=%s", name, value);
}

static void
test_mail_content_params(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "text/plain; charset=us-ascii",
		  "text/plain|charset=us-ascii" },
		{ "text/plain (comment (nested)) ; charset = \"utf-8\" (c2)",
		  "text/plain|charset=utf-8" },
		{ " multipart/mixed; boundary=\"a;b\\\"c\"",
		  "multipart/mixed|boundary=a;b\"c" },
		{ "text", "ERR" },
		{ "text/; a=b", "ERR" },
		{ "", "ERR" },
		{ "application/x; name*0=\"foo\"; name*1=\"bar\"; name=plain",
		  "application/x|name=foobar" },
		/* RFC 2231 section 4's example */
		{ "a/b; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
		  "a/b|title=This is ***fun***" },
		{ "a/b; x*0*=utf-8''%C3; x*1*=%A9", "a/b|x=\xc3\xa9" },
		{ "a/b; x*1=b; x*0=a", "a/b|x=ab" },
		{ "a/b; x*0=a; x*2=c", "a/b|x=a" },
		{ "a/b; x*00=a", "a/b|x*00=a" },
		{ "a/b; dup=1; DUP=2", "a/b|dup=1" },
		{ "a/b; junk; k=v", "a/b|k=v" },
		{ "a/b; k=v/w@x", "a/b|k=v/w@x" },
		{ "a/b; k=\"unterminated", "a/b|k=unterminated" },
		{ "a/b;;; k=v;", "a/b|k=v" },
		{ "a/b; x*=unknown-cs''%41", "a/b|x=A" },
		{ "a/b; x*=iso-8859-1''%E9", "a/b|x=\xc3\xa9" },
		{ "a/b; x*0*=%41; x*1*=%42", "a/b|x=AB" },
	};
	struct buf out, type, subtype;

	buf_init(&out, 0);
	buf_init(&type, 0);
	buf_init(&subtype, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		buf_reset(&type);
		buf_reset(&subtype);
		int ret = mail_header_parse_content(
			(const uint8_t *)cases[i].in, strlen(cases[i].in),
			true, &type, &subtype, params_cb, &out);
		if (ret < 0) {
			assert_string_equal("ERR", cases[i].out);
			assert_int_equal(out.len, 0);
			continue;
		}
		char got[512];
		snprintf(got, sizeof(got), "%s/%s%s", buf_cstr(&type),
			 buf_cstr(&subtype), buf_cstr(&out));
		assert_string_equal(got, cases[i].out);
	}
	/* Content-Disposition form: no subtype */
	buf_reset(&out);
	buf_reset(&type);
	assert_int_equal(mail_header_parse_content(
				 (const uint8_t *)"inline; size=3", 14, false,
				 &type, NULL, params_cb, &out), 0);
	assert_string_equal(buf_cstr(&type), "inline");
	assert_string_equal(buf_cstr(&out), "|size=3");
	buf_free(&out);
	buf_free(&type);
	buf_free(&subtype);
}

static void
addr_cb(void *context, const char *name, const char *route,
	const char *mailbox, const char *host)
{
	buf_appendf(context, "(%s|%s|%s|%s)", name ? name : "NIL",
		    route ? route : "NIL", mailbox ? mailbox : "NIL",
		    host ? host : "NIL");
}

static void
test_mail_addresses(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a@b", "(NIL|NIL|a|b)" },
		{ "John Doe <john@example.com>",
		  "(John Doe|NIL|john|example.com)" },
		{ "\"Doe, John\" <john@example.com>, x@y",
		  "(Doe, John|NIL|john|example.com)(NIL|NIL|x|y)" },
		{ "john@example.com (John Doe)",
		  "(John Doe|NIL|john|example.com)" },
		{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
		  "(Pete|NIL|pete|silly.test)" },
		{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
		  "(NIL|NIL|A Group|NIL)(Ed Jones|NIL|c|a.test)"
		  "(NIL|NIL|joe|where.test)(John|NIL|jdoe|one.test)"
		  "(NIL|NIL|NIL|NIL)" },
		{ "Undisclosed recipients:;",
		  "(NIL|NIL|Undisclosed recipients|NIL)(NIL|NIL|NIL|NIL)" },
		{ "open group: a@b", "(NIL|NIL|open group|NIL)(NIL|NIL|a|b)"
		  "(NIL|NIL|NIL|NIL)" },
		{ "<@route1,@route2:user@host>",
		  "(NIL|@route1,@route2|user|host)" },
		{ ",, a@b ,,", "(NIL|NIL|a|b)" },
		{ "Mary Smith <mary@x.test>, jdoe@example.org, "
		  "Who? <one@y.test>",
		  "(Mary Smith|NIL|mary|x.test)(NIL|NIL|jdoe|example.org)"
		  "(Who?|NIL|one|y.test)" },
		{ "\"Joe Q. Public\" <john.q.public@example.com>",
		  "(Joe Q. Public|NIL|john.q.public|example.com)" },
		{ "Joe Q. Public <john . q . public @ example . com>",
		  "(Joe Q. Public|NIL|john.q.public|example.com)" },
		{ "user", "(NIL|NIL|user|)" },
		{ "Name <>", "(Name|NIL||)" },
		{ "a@[1.2.3.4]", "(NIL|NIL|a|[1.2.3.4])" },
		{ "=?utf-8?q?J=C3=B6?= <j@x>", "(=?utf-8?q?J=C3=B6?=|NIL|j|x)" },
		{ "\"quoted\"@example.com", "(NIL|NIL|quoted|example.com)" },
		{ "<a@b> junk, c@d", "(NIL|NIL|a|b)(NIL|NIL|c|d)" },
		{ "(only a comment)", "" },
		{ "", "" },
		{ "\"unterminated", "(NIL|NIL|unterminated|)" },
		{ "a@b@c", "(NIL|NIL|a|b@c)" },
	};
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		mail_header_parse_addresses((const uint8_t *)cases[i].in,
					    strlen(cases[i].in), addr_cb,
					    &out);
		assert_string_equal(buf_cstr(&out), cases[i].out);
	}
	buf_free(&out);
}

static void
test_mail_unfold(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ " hello\r\n world\r\n", "hello world" },
		{ "\ta\n\tb", "a\tb" },
		{ "x\ry", "x\ry" },
		{ "  ", "" },
	};
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		mail_header_unfold((const uint8_t *)cases[i].in,
				   strlen(cases[i].in), &out);
		assert_string_equal(buf_cstr(&out), cases[i].out);
	}
	buf_free(&out);
}

/* Runs a decoder over in whole, at every single cut, and byte by byte;
   all must give expected. */
static void
check_decoder(enum mail_encoding enc, const char *in, size_t in_len,
	      const char *expected, size_t expected_len)
{
	struct buf out;

	buf_init(&out, 0);
	for (size_t cut = 0; cut <= in_len + 1; cut++) {
		struct mail_decoder *dec = mail_decoder_create(enc);
		assert_non_null(dec);
		buf_reset(&out);
		if (cut <= in_len) {
			mail_decoder_feed(dec, (const uint8_t *)in, cut, &out);
			mail_decoder_feed(dec, (const uint8_t *)in + cut,
					  in_len - cut, &out);
		} else {
			for (size_t i = 0; i < in_len; i++)
				mail_decoder_feed(dec, (const uint8_t *)in + i,
						  1, &out);
		}
		mail_decoder_finish(dec, &out);
		mail_decoder_destroy(&dec);
		assert_null(dec);
		assert_int_equal(out.len, expected_len);
		assert_memory_equal(out.data, expected, expected_len);
	}
	buf_free(&out);
}

static void
test_mail_decoders(void **state)
{
	static const struct {
		enum mail_encoding enc;
		const char *in, *out;
	} cases[] = {
		{ MAIL_ENCODING_BASE64, "aGVsbG8gd29ybGQ=", "hello world" },
		{ MAIL_ENCODING_BASE64, "aGVs\r\nbG8=\r\n", "hello" },
		{ MAIL_ENCODING_BASE64, "aGVsbA", "hell" },
		{ MAIL_ENCODING_BASE64, "a G!V*s", "hel" },
		{ MAIL_ENCODING_BASE64, "YQ==Yg==", "ab" },
		{ MAIL_ENCODING_BASE64, "", "" },
		{ MAIL_ENCODING_QP, "a=3Db  \r\nc=\r\nd=XY=4", "a=b\r\ncd=XY=4" },
		{ MAIL_ENCODING_QP, "soft =  \r\nbreak", "soft break" },
		{ MAIL_ENCODING_QP, "caf=C3=a9\n", "caf\xc3\xa9\n" },
		{ MAIL_ENCODING_QP, "end=", "end" },
		{ MAIL_ENCODING_QP, "x\ry", "x\ry" },
		{ MAIL_ENCODING_QP, "t\t\r\n", "t\r\n" },
		{ MAIL_ENCODING_7BIT, "as is=41\r\n", "as is=41\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_decoder(cases[i].enc, cases[i].in, strlen(cases[i].in),
			      cases[i].out, strlen(cases[i].out));
	}
	assert_null(mail_decoder_create(MAIL_ENCODING_UNKNOWN));
	assert_int_equal(mail_encoding_from_name("BASE64"),
			 MAIL_ENCODING_BASE64);
	assert_int_equal(mail_encoding_from_name("Quoted-Printable"),
			 MAIL_ENCODING_QP);
	assert_int_equal(mail_encoding_from_name(NULL), MAIL_ENCODING_7BIT);
	assert_int_equal(mail_encoding_from_name("x-uuencode"),
			 MAIL_ENCODING_UNKNOWN);
}

static void
test_mail_charset(void **state)
{
	static const struct {
		const char *charset;
		const char *in;
		size_t in_len;
		const char *out;
	} cases[] = {
		{ "iso-8859-1", "caf\xe9", 4, "caf\xc3\xa9" },
		{ "utf-8", "\xe2\x82\xac!", 4, "\xe2\x82\xac!" },
		{ "utf-8", "a\xc3" "A\xff", 4, "a\xef\xbf\xbd" "A\xef\xbf\xbd" },
		{ "us-ascii", "x\xe2\x82\xac", 4, "x\xe2\x82\xac" },
		{ "UTF-16LE", "a\0\xac\x20", 4, "a\xe2\x82\xac" },
		{ "no-such-charset", "ok\xe9", 3, "ok\xef\xbf\xbd" },
		{ "utf-8", "trunc\xe2\x82", 7, "trunc\xef\xbf\xbd\xef\xbf\xbd" },
	};
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *in = (const uint8_t *)cases[i].in;
		size_t len = cases[i].in_len;
		for (size_t cut = 0; cut <= len + 1; cut++) {
			struct mail_charset_conv *conv =
				mail_charset_conv_create(cases[i].charset);
			buf_reset(&out);
			if (cut <= len) {
				mail_charset_conv_feed(conv, in, cut, &out);
				mail_charset_conv_feed(conv, in + cut,
						       len - cut, &out);
			} else {
				for (size_t j = 0; j < len; j++)
					mail_charset_conv_feed(conv, in + j,
							       1, &out);
			}
			mail_charset_conv_finish(conv, &out);
			mail_charset_conv_destroy(&conv);
			assert_string_equal(buf_cstr(&out), cases[i].out);
		}
	}
	buf_reset(&out);
	assert_int_equal(mail_charset_to_utf8("no-such-charset",
					      (const uint8_t *)"x", 1, &out),
			 -1);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void
test_mail_html(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "<p>a &lt; b</p>", "\na < b\n" },
		{ "x<script>var a = '<p>';</script>y", "xy" },
		{ "<STYLE>p{}</STYLE>z", "z" },
		{ "c&#233;&#x20AC;&bogus; &amp", "c\xc3\xa9\xe2\x82\xac&bogus; &amp" },
		{ "1 < 2 and 3 > 2", "1 < 2 and 3 > 2" },
		{ "<!-- <p> -->t<!doctype html>", "t" },
		{ "<a href=\"x>y\">link</a>", "link" },
		{ "<br/>line<BR>", "\nline\n" },
		{ "&#0;&#xD800;&#99999999;", "\xef\xbf\xbd\xef\xbf\xbd&#99999999;" },
		{ "open <b", "open " },
	};
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		for (size_t cut = 0; cut <= len; cut++) {
			struct mail_html_text *h = mail_html_text_create();
			buf_reset(&out);
			mail_html_text_feed(h, (const uint8_t *)cases[i].in,
					    cut, &out);
			mail_html_text_feed(h,
					    (const uint8_t *)cases[i].in + cut,
					    len - cut, &out);
			mail_html_text_finish(h, &out);
			mail_html_text_destroy(&h);
			assert_string_equal(buf_cstr(&out), cases[i].out);
		}
	}
	buf_free(&out);
}

static void
test_mail_preview(void **state)
{
	struct mail_preview pv;
	char big[1024];

	mail_preview_init(&pv);
	mail_preview_add(&pv, (const uint8_t *)"  hello \r\n\t world  ", 19);
	assert_string_equal(mail_preview_get(&pv), "hello world");
	mail_preview_deinit(&pv);

	/* 200 characters, not bytes; split multi-byte characters */
	mail_preview_init(&pv);
	for (int i = 0; i < 300; i++) {
		mail_preview_add(&pv, (const uint8_t *)"\xc3", 1);
		mail_preview_add(&pv, (const uint8_t *)"\xa9", 1);
	}
	assert_true(pv.full);
	assert_int_equal(strlen(mail_preview_get(&pv)), 400);
	mail_preview_deinit(&pv);

	/* no trailing space at the cut */
	mail_preview_init(&pv);
	memset(big, 'x', 199);
	big[199] = ' ';
	big[200] = 'y';
	mail_preview_add(&pv, (const uint8_t *)big, 201);
	assert_int_equal(strlen(mail_preview_get(&pv)), 199);
	mail_preview_deinit(&pv);

	/* invalid UTF-8 dropped, same whatever the split */
	mail_preview_init(&pv);
	mail_preview_add(&pv, (const uint8_t *)"a\xc3", 2);
	mail_preview_add(&pv, (const uint8_t *)"b\xff" "c", 3);
	assert_string_equal(mail_preview_get(&pv), "abc");
	mail_preview_deinit(&pv);
}

static void
test_mail_imap_string(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
		size_t out_len;
	} cases[] = {
		{ "abc", 3, "\"abc\"", 5 },
		{ "a\"b\\", 4, "\"a\\\"b\\\\\"", 8 },
		{ "", 0, "\"\"", 2 },
		{ "a\r\nb", 4, "{4}\r\na\r\nb", 9 },
		{ "\xc3\xa9", 2, "{2}\r\n\xc3\xa9", 7 },
		{ "a\0b", 3, "{3}\r\na?b", 8 },
		{ NULL, 0, "NIL", 3 },
	};
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		imap_write_nstring(&out, cases[i].in, cases[i].len);
		assert_int_equal(out.len, cases[i].out_len);
		assert_memory_equal(out.data, cases[i].out, out.len);
	}
	/* long values go as literals */
	char *lng = malloc(IMAP_MAX_QUOTED_LEN + 1);
	memset(lng, 'a', IMAP_MAX_QUOTED_LEN + 1);
	buf_reset(&out);
	imap_write_nstring(&out, lng, IMAP_MAX_QUOTED_LEN + 1);
	assert_true(out.data[0] == '{');
	free(lng);
	buf_free(&out);
}

static void
test_mail_buf(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_append(&b, "12345678", 8), 0);
	assert_int_equal(buf_append(&b, "abc", 3), -1);
	assert_true(b.overflow);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_append_c(&b, 'x'), -1); /* sticky */
	buf_reset(&b);
	assert_false(b.overflow);
	assert_int_equal(buf_appendf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(buf_cstr(&b), "42-x");
	assert_int_equal(buf_appendf(&b, "%s", "0123456789"), -1);
	buf_free(&b);

	buf_init(&b, 0);
	char big[600];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_appendf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, sizeof(big) + 1);
	buf_truncate(&b, 1);
	assert_string_equal(buf_cstr(&b), "<");
	size_t len;
	uint8_t *p = buf_steal(&b, &len);
	assert_int_equal(len, 1);
	assert_int_equal(b.len, 0);
	free(p);
	buf_free(&b);
}

static void
test_mail_cache_record(void **state)
{
	for (size_t i = 0; i < MAIL_CASE_COUNT; i++) {
		const struct mail_case *c = &mail_cases[i];
		struct mail_parse_result *r =
			mail_parse((const uint8_t *)c->msg, case_len(c));
		struct mail_cache_record *rec;
		const char *error;
		struct buf rb, s;

		buf_init(&rb, 0);
		buf_init(&s, 0);
		assert_int_equal(mail_cache_record_write(r, &rb), 0);
		assert_int_equal(mail_cache_record_read(rb.data, rb.len, &rec,
							&error), 0);
		imap_write_body(&s, mail_parse_result_root(r), true);
		assert_int_equal(rec->bodystructure_len, s.len);
		assert_memory_equal(rec->bodystructure, s.data, s.len);
		buf_reset(&s);
		imap_write_envelope(&s, mail_parse_result_root(r));
		assert_int_equal(rec->envelope_len, s.len);
		assert_memory_equal(rec->envelope, s.data, s.len);
		assert_string_equal(rec->preview,
				    mail_parse_result_preview(r));
		assert_int_equal(rec->size, case_len(c));
		assert_int_equal(rec->parts[0].body_end, case_len(c));
		mail_cache_record_free(&rec);
		assert_null(rec);

		/* every truncation and a trailing byte are rejected */
		for (size_t cut = 0; cut < rb.len; cut++) {
			assert_int_equal(mail_cache_record_read(
						 rb.data, cut, &rec, &error), -1);
		}
		buf_append_c(&rb, 0);
		assert_int_equal(mail_cache_record_read(rb.data, rb.len, &rec,
							&error), -1);
		buf_free(&rb);
		buf_free(&s);
		mail_parse_result_free(&r);
	}
}

static const char *
case_by_name(const char *name, size_t *len_r)
{
	for (size_t i = 0; i < MAIL_CASE_COUNT; i++) {
		if (strcmp(mail_cases[i].name, name) == 0) {
			*len_r = case_len(&mail_cases[i]);
			return mail_cases[i].msg;
		}
	}
	fail();
	return NULL;
}

static void
test_mail_sections(void **state)
{
	static const struct {
		const char *msgname;
		uint32_t path[4];
		unsigned int depth;
		int ret;
		const char *body; /* BODY[section] contents */
	} cases[] = {
		{ "simple", { 0 }, 0, 1, "Hi Bob.\r\nBye.\r\n" },
		{ "simple", { 1 }, 1, 1, "Hi Bob.\r\nBye.\r\n" },
		{ "simple", { 2 }, 1, 0, NULL },
		{ "simple", { 1, 1 }, 2, 0, NULL },
		{ "multipart-mixed", { 1 }, 1, 1, "caf=C3=A9" },
		{ "multipart-mixed", { 2 }, 1, 1, "JVBERi0=" },
		{ "multipart-mixed", { 3 }, 1, 0, NULL },
		{ "multipart-mixed", { 0 }, 1, 0, NULL },
		{ "nested-multipart-and-rfc822", { 1, 1 }, 2, 1, "plain" },
		{ "nested-multipart-and-rfc822", { 1, 2 }, 2, 1,
		  "<p>caf\xe9 &amp; <b>bar</b></p>" },
		{ "nested-multipart-and-rfc822", { 2, 1 }, 2, 1,
		  "line1\r\nline2" },
		{ "nested-multipart-and-rfc822", { 2, 2 }, 2, 0, NULL },
		{ "nested-multipart-and-rfc822", { 2, 1, 1 }, 3, 0, NULL },
		{ "bare-lf-digest-missing-end", { 1, 1 }, 2, 1, "m1" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		const char *msg = case_by_name(cases[i].msgname, &len);
		struct mail_parse_result *r =
			mail_parse((const uint8_t *)msg, len);
		struct mail_cache_record *rec;
		const char *error;
		struct buf rb;
		unsigned int idx;

		buf_init(&rb, 0);
		mail_cache_record_write(r, &rb);
		assert_int_equal(mail_cache_record_read(rb.data, rb.len, &rec,
							&error), 0);
		assert_int_equal(mail_cache_find_part(rec, cases[i].path,
						      cases[i].depth, &idx),
				 cases[i].ret);
		if (cases[i].ret == 1) {
			const struct mail_cache_part *p = &rec->parts[idx];
			assert_int_equal(p->body_end - p->body_offset,
					 strlen(cases[i].body));
			assert_memory_equal(msg + p->body_offset,
					    cases[i].body,
					    strlen(cases[i].body));
		}
		mail_cache_record_free(&rec);
		buf_free(&rb);
		mail_parse_result_free(&r);
	}

	/* HEADER of a message/rfc822 part is the encapsulated header */
	size_t len;
	const char *msg = case_by_name("nested-multipart-and-rfc822", &len);
	struct mail_parse_result *r = mail_parse((const uint8_t *)msg, len);
	struct mail_cache_record *rec;
	const char *error;
	struct buf rb;
	unsigned int idx, midx;
	uint32_t path[1] = { 2 };

	buf_init(&rb, 0);
	mail_cache_record_write(r, &rb);
	assert_int_equal(mail_cache_record_read(rb.data, rb.len, &rec, &error),
			 0);
	assert_int_equal(mail_cache_find_part(rec, path, 1, &idx), 1);
	assert_int_equal(mail_cache_part_message(rec, idx, &midx), 1);
	assert_true(strncmp(msg + rec->parts[midx].header_offset,
			    "From: \"Joe", 10) == 0);
	assert_int_equal(mail_cache_part_message(rec, 0, &midx), 1);
	assert_int_equal(midx, 0);
	assert_int_equal(mail_cache_part_message(rec, idx + 2, &midx), 0);
	mail_cache_record_free(&rec);
	buf_free(&rb);
	mail_parse_result_free(&r);
}

static struct mail_parse_result *
parse_buf(const struct buf *b)
{
	return mail_parse(b->data, b->len);
}

static unsigned int
count_parts(const struct mail_part *root, unsigned int *depth_r)
{
	const struct mail_part *cur = root;
	unsigned int n = 0, d = 0, maxd = 0;

	for (;;) {
		n++;
		if (d > maxd)
			maxd = d;
		if (cur->children != NULL) {
			cur = cur->children;
			d++;
			continue;
		}
		while (cur != root && cur->next == NULL) {
			cur = cur->parent;
			d--;
		}
		if (cur == root)
			break;
		cur = cur->next;
	}
	*depth_r = maxd;
	return n;
}

static void
test_mail_limits(void **state)
{
	struct buf msg, out;
	struct mail_parse_result *r;
	unsigned int depth;

	buf_init(&msg, 0);
	buf_init(&out, 0);

	/* multiparts nested past the cap: no recursion, deep ones opaque */
	for (int i = 0; i < 300; i++) {
		buf_appendf(&msg, "Content-Type: multipart/mixed; "
			    "boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	}
	buf_append_str(&msg, "\r\ndeep\r\n");
	r = parse_buf(&msg);
	count_parts(mail_parse_result_root(r), &depth);
	assert_true(depth < MAIL_MAX_DEPTH);
	imap_write_body(&out, mail_parse_result_root(r), true);
	assert_non_null(strstr(buf_cstr(&out),
			       "\"application\" \"octet-stream\""));
	mail_parse_result_free(&r);

	/* message/rfc822 nested past the cap */
	buf_reset(&msg);
	for (int i = 0; i < 300; i++)
		buf_append_str(&msg, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&msg, "Subject: deep\r\n\r\nbody\r\n");
	r = parse_buf(&msg);
	count_parts(mail_parse_result_root(r), &depth);
	assert_true(depth < MAIL_MAX_DEPTH);
	buf_reset(&out);
	imap_write_body(&out, mail_parse_result_root(r), false);
	assert_true(out.len > 0);
	mail_parse_result_free(&r);

	/* too many parts: the rest is epilogue */
	buf_reset(&msg);
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < MAIL_MAX_PARTS + 100; i++)
		buf_append_str(&msg, "--x\r\n\r\np\r\n");
	buf_append_str(&msg, "--x--\r\n");
	r = parse_buf(&msg);
	assert_int_equal(count_parts(mail_parse_result_root(r), &depth),
			 MAIL_MAX_PARTS);
	struct buf rec;
	buf_init(&rec, 0);
	assert_int_equal(mail_cache_record_write(r, &rec), 0);
	struct mail_cache_record *cr;
	const char *error;
	assert_int_equal(mail_cache_record_read(rec.data, rec.len, &cr, &error),
			 0);
	assert_int_equal(cr->part_count, MAIL_MAX_PARTS);
	mail_cache_record_free(&cr);
	buf_free(&rec);
	mail_parse_result_free(&r);

	/* a header past the cap: truncated, the body still found */
	buf_reset(&msg);
	buf_append_str(&msg, "Subject: big\r\nX-Big: ");
	for (int i = 0; i < MAIL_MAX_HEADER_SIZE / 10 + 10; i++)
		buf_append_str(&msg, "0123456789");
	buf_append_str(&msg, "\r\n\r\nthe body\r\n");
	r = parse_buf(&msg);
	const struct mail_part *root = mail_parse_result_root(r);
	assert_true((root->flags & MAIL_PART_FLAG_HEADER_TRUNCATED) != 0);
	assert_int_equal(root->body_end - root->body_offset, 10);
	assert_string_equal(root->envelope->subject, "big");
	assert_string_equal(mail_parse_result_preview(r), "the body");
	mail_parse_result_free(&r);

	/* a body line longer than the line prefix, starting like a
	   boundary */
	buf_reset(&msg);
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=q\r\n\r\n"
			     "--q\r\n\r\n--");
	for (int i = 0; i < 1000; i++)
		buf_append_c(&msg, 'z');
	buf_append_str(&msg, "\r\n--q--\r\n");
	r = parse_buf(&msg);
	root = mail_parse_result_root(r);
	assert_int_equal(root->child_count, 1);
	assert_int_equal(root->children->body_end - root->children->body_offset,
			 1002);
	mail_parse_result_free(&r);

	buf_free(&msg);
	buf_free(&out);
}

/* mail_cache_range_has_nul: which byte ranges of a message may hold a
   NUL, from the parse flags; mail_nul_mask: the FETCH fallback. */
static void
test_mail_nul_ranges(void **state)
{
	static const uint8_t msg[] =
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"\r\n"
		"clean text\r\n"
		"--b\r\n"
		"Content-Type: application/octet-stream\r\n"
		"\r\n"
		"a\0b\r\n"
		"--b--\r\n";
	const size_t len = sizeof(msg) - 1;
	struct mail_parse_result *r = mail_parse(msg, len);
	struct mail_cache_record *rec;
	const char *error;
	struct buf rb;
	unsigned int idx;
	uint32_t path[1];

	(void)state;
	buf_init(&rb, 0);
	assert_int_equal(mail_cache_record_write(r, &rb), 0);
	assert_int_equal(mail_cache_record_read(rb.data, rb.len, &rec,
						&error), 0);
	const struct {
		uint32_t part; /* 0: whole message */
		bool nul;
	} cases[] = { { 0, true }, { 1, false }, { 2, true } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t off = 0, n = len;

		if (cases[i].part != 0) {
			path[0] = cases[i].part;
			assert_int_equal(mail_cache_find_part(rec, path, 1,
							      &idx), 1);
			off = rec->parts[idx].body_offset;
			n = rec->parts[idx].body_end - off;
		}
		assert_int_equal(mail_cache_range_has_nul(rec, off, n),
				 cases[i].nul);
	}
	/* the header of the whole message holds no NUL, nor does an
	   empty range; an unknown record may hold anything */
	assert_false(mail_cache_range_has_nul(rec, 0, 10));
	assert_false(mail_cache_range_has_nul(rec, 0, 0));
	assert_true(mail_cache_range_has_nul(NULL, 0, 1));
	mail_cache_record_free(&rec);
	buf_free(&rb);
	mail_parse_result_free(&r);

	const struct {
		const char *in, *out;
		size_t len, count;
	} masks[] = {
		{ "", "", 0, 0 },
		{ "abc", "abc", 3, 0 },
		{ "\0", "\x80", 1, 1 },
		{ "a\0\0b\0", "a\x80\x80" "b\x80", 5, 3 },
	};
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		uint8_t data[8];

		memcpy(data, masks[i].in, masks[i].len);
		assert_int_equal(mail_nul_mask(data, masks[i].len),
				 masks[i].count);
		assert_memory_equal(data, masks[i].out, masks[i].len);
	}
}

static int
binary_out(void *context, const void *data, size_t len, const char **error_r)
{
	struct buf *out = context;

	if (out == NULL) {
		*error_r = "refused";
		return -1;
	}
	buf_append(out, data, len);
	return 0;
}

/* Rewrites msg through a temp file; returns needs_rewrite's answer. */
static bool
binary_rewrite(const uint8_t *msg, size_t len, struct buf *out)
{
	struct mail_parse_result *r = mail_parse(msg, len);
	FILE *f = tmpfile();
	const char *error;
	bool need;

	assert_non_null(f);
	assert_int_equal(fwrite(msg, 1, len, f), len);
	assert_int_equal(fflush(f), 0);
	need = mail_binary_needs_rewrite(r);
	assert_int_equal(mail_binary_rewrite(r, fileno(f), binary_out, out,
					     &error), 0);
	/* a failing writer stops it with its error */
	if (len > 0) {
		assert_int_equal(mail_binary_rewrite(r, fileno(f), binary_out,
						     NULL, &error), -1);
		assert_string_equal(error, "refused");
	}
	fclose(f);
	mail_parse_result_free(&r);
	return need;
}

#define BIN(s) (const uint8_t *)(s), sizeof(s) - 1

static void
test_mail_binary_rewrite(void **state)
{
	static const struct {
		const uint8_t *in;
		size_t in_len;
		const uint8_t *out;
		size_t out_len;
		bool need;
	} cases[] = {
		/* a binary attachment: folded CTE dropped, base64 added */
		{ BIN("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		      "--b\r\n\r\nclean\r\n"
		      "--b\r\nContent-Type: application/octet-stream\r\n"
		      "Content-Transfer-Encoding:\r\n binary\r\nX-A: 1\r\n"
		      "\r\na\0b\r\n--b--\r\n"),
		  BIN("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		      "--b\r\n\r\nclean\r\n"
		      "--b\r\nContent-Type: application/octet-stream\r\n"
		      "X-A: 1\r\nContent-Transfer-Encoding: base64\r\n"
		      "\r\nYQBi\r\n--b--\r\n"), true },
		/* a single-part message; its final line break is kept */
		{ BIN("Subject: x\r\n\r\n\0\0\0\r\n"),
		  BIN("Subject: x\r\nContent-Transfer-Encoding: base64\r\n"
		      "\r\nAAAADQo=\r\n"), true },
		/* nothing to do: no NUL, or an encoding that is not ours to
		   touch, or a NUL only in a header */
		{ BIN("Subject: x\r\n\r\nbody\r\n"),
		  BIN("Subject: x\r\n\r\nbody\r\n"), false },
		{ BIN("Content-Transfer-Encoding: base64\r\n\r\nA\0B\r\n"),
		  BIN("Content-Transfer-Encoding: base64\r\n\r\nA\0B\r\n"),
		  false },
		{ BIN("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		      "--b\r\nX: \0\r\n\r\n--b--\r\n"),
		  BIN("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		      "--b\r\nX: \0\r\n\r\n--b--\r\n"), false },
		{ BIN(""), BIN(""), false },
	};
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		assert_int_equal(binary_rewrite(cases[i].in, cases[i].in_len,
						&out), cases[i].need);
		assert_int_equal(out.len, cases[i].out_len);
		assert_memory_equal(out.data, cases[i].out, out.len);
	}

	/* long bodies: 76-character lines, and a round trip through the
	   parser shows no NUL and decodes to the original */
	static const size_t sizes[] = { 56, 57, 58, 114, 100000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct buf msg, body;
		size_t n = sizes[i];

		buf_init(&msg, 0);
		buf_init(&body, 0);
		buf_append_str(&msg, "Content-Type: application/x\r\n\r\n");
		size_t hlen = msg.len;
		for (size_t k = 0; k < n; k++)
			buf_append_c(&msg, (uint8_t)(k * 7));
		buf_reset(&out);
		assert_true(binary_rewrite(msg.data, msg.len, &out));
		assert_null(memchr(out.data, '\0', out.len));
		struct mail_parse_result *r = mail_parse(out.data, out.len);
		const struct mail_part *root = mail_parse_result_root(r);
		assert_int_equal(root->encoding, MAIL_ENCODING_BASE64);
		const uint8_t *b = out.data + root->body_offset;
		size_t blen = root->body_end - root->body_offset, pos = 0;
		while (pos < blen) {
			const uint8_t *nl = memchr(b + pos, '\r', blen - pos);
			size_t end = nl == NULL ? blen : (size_t)(nl - b);
			assert_true(end - pos <= 76);
			buf_append(&body, b + pos, end - pos);
			pos = nl == NULL ? blen : end + 2;
		}
		uint8_t *dec = malloc(base64_decoded_max_len(body.len));
		size_t dlen;
		assert_int_equal(base64_decode(body.data, body.len, dec, &dlen),
				 0);
		assert_int_equal(dlen, n);
		assert_memory_equal(dec, msg.data + hlen, n);
		free(dec);
		mail_parse_result_free(&r);
		buf_free(&msg);
		buf_free(&body);
	}
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail_cases),
		cmocka_unit_test(test_mail_nul_ranges),
		cmocka_unit_test(test_mail_binary_rewrite),
		cmocka_unit_test(test_mail_split_anywhere),
		cmocka_unit_test(test_mail_text_callbacks),
		cmocka_unit_test(test_mail_rfc2047),
		cmocka_unit_test(test_mail_content_params),
		cmocka_unit_test(test_mail_addresses),
		cmocka_unit_test(test_mail_unfold),
		cmocka_unit_test(test_mail_decoders),
		cmocka_unit_test(test_mail_charset),
		cmocka_unit_test(test_mail_html),
		cmocka_unit_test(test_mail_preview),
		cmocka_unit_test(test_mail_imap_string),
		cmocka_unit_test(test_mail_buf),
		cmocka_unit_test(test_mail_cache_record),
		cmocka_unit_test(test_mail_sections),
		cmocka_unit_test(test_mail_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
