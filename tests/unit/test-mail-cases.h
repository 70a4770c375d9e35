/* Test messages shared by the mail unit tests and the split tests. Each
   has the exact ENVELOPE / BODY / BODYSTRUCTURE a server must send,
   worked out from the RFC 9051 7.5.2 grammar. NULL: not checked. */
#ifndef TEST_MAIL_CASES_H
#define TEST_MAIL_CASES_H

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
};

#define MAIL_CASE_COUNT (sizeof(mail_cases) / sizeof(mail_cases[0]))

#endif
