/* Unit tests for SORT and THREAD (src/search/sort.c, thread.c): base
   subject extraction (RFC 5256 2.1), Date: instants, msg-id
   normalisation, header key extraction (every prefix of a header, too),
   the criteria parser, every sort key with REVERSE, and both thread
   algorithms on replies, missing parents, loops in References,
   duplicate Message-IDs, subject grouping and very deep trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "search/sort.h"
#include "search/thread.h"

/* ---- base subject -------------------------------------------------------- */

static void
test_base_subject(void **state)
{
	static const struct {
		const char *in;
		const char *want;
		bool reply;
	} cases[] = {
		{ "subject", "subject", false },
		{ "Re: Re: [list] Fwd: subject (fwd)", "subject", true },
		{ "", "", false },
		{ "   ", "", false },
		{ "Re:", "", true },
		{ "Re: (fwd)", "", true },
		{ "[list] subject", "subject", false },
		{ "[list]", "[list]", false },
		{ "[list]   ", "[list]", false },
		{ "Re: [list] [other] topic", "topic", true },
		{ "[a]Re: hi", "hi", true },
		{ "[fwd: hello]", "hello", true },
		{ "[Fwd: Re: hello (fwd)]", "hello", true },
		{ "[fwd: ]", "", true },
		{ "[fwd:x", "[fwd:x", false },
		{ "re [x]: subj", "subj", true },
		{ "RE:subj", "subj", true },
		{ "FWD : x", "x", true },
		{ "Fw: x", "x", true },
		{ "Reply", "Reply", false },
		{ "Re subject", "Re subject", false },
		{ "hello (fwd) (fwd)", "hello", true },
		{ "hello(fwd)", "hello", true },
		{ "a\tb   c  ", "a b c", false },
		{ "folded\r\n  line", "folded line", false },
		{ "=?UTF-8?Q?Re:_caf=C3=A9?=", "caf\xc3\xa9", true },
		{ "Re: =?ISO-8859-1?Q?caf=E9?= (fwd)", "caf\xc3\xa9", true },
		{ "=?UTF-8?B?W2xpc3RdIGhp?=", "hi", false },
		{ "[unclosed subject", "[unclosed subject", false },
		{ "Re: [a][b]: x", ": x", true },
		{ "[a][b]: x", ": x", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		bool reply = !cases[i].reply;

		buf_init(&out, 0);
		sort_base_subject((const uint8_t *)cases[i].in,
				  strlen(cases[i].in), &out, &reply);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0 ||
		    reply != cases[i].reply)
			fail_msg("\"%s\": got \"%s\" reply=%d", cases[i].in,
				 buf_cstr(&out), reply);
		buf_free(&out);
	}
}

/* ---- dates and msg-ids -------------------------------------------------- */

static void
test_date(void **state)
{
	static const struct {
		const char *in;
		int ret;
		time_t want;
	} cases[] = {
		{ "Thu, 1 Jan 1970 00:00:00 +0000", 0, 0 },
		{ "1 Jan 1970 01:00 +0100", 0, 0 },
		{ "01 Jan 1970 00:00:00 EST", 0, 5 * 3600 },
		{ "01 Jan 1970 00:00:00 pdt", 0, 7 * 3600 },
		{ "2 Jan 70 00:00:00 GMT", 0, 86400 },
		{ "Thu, 1 Jan 1970 00:00:60 +0000", 0, 60 },
		{ " 1 Jan 1970 00:00 (comment) -0030", 0, 1800 },
		{ "Sun, 1 Feb 2026 23:30:00 -0800", 0, 1770017400 },
		{ "29 Feb 2024 12:00:00 +0000", 0, 1709208000 },
		{ "1 Jan 1970 00:00:00 +9999", 0, 0 },
		{ "", -1, 0 },
		{ "garbage", -1, 0 },
		{ "32 Jan 2026 10:00", -1, 0 },
		{ "29 Feb 2026 10:00", -1, 0 },
		{ "1 Foo 2026 10:00", -1, 0 },
		{ "1 Jan 2026", -1, 0 },
		{ "1 Jan 2026 24:00", -1, 0 },
		{ "Thu 1 Jan 1970 00:00 +0000", -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 12345;
		int ret = sort_date_parse(cases[i].in, &t);

		if (ret != cases[i].ret ||
		    (ret == 0 && t != cases[i].want))
			fail_msg("\"%s\": ret %d t %lld", cases[i].in, ret,
				 (long long)t);
	}
}

static void
test_msgid(void **state)
{
	static const struct {
		const char *in;
		const char *want; /* ids joined by spaces */
	} cases[] = {
		{ "<a@b>", "a@b" },
		{ "<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>",
		  "01KF8JCEOCBS0045PS@xxx.yyy.com" },
		{ "<\"a\\\"b\"@c>", "a\"b@c" },
		{ " junk <a@b>\r\n <c@d>", "a@b c@d" },
		{ "<nope> <@b> <a@> <x@y>", "x@y" },
		{ "<a <b@c>", "b@c" },
		{ "<a (comment) @ b>", "a@b" },
		{ "(<in@comment>) <a@b>", "in@comment a@b" },
		{ "<a@b", "" },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *in = (const uint8_t *)cases[i].in;
		size_t len = strlen(cases[i].in), pos = 0;
		struct buf all, id;

		buf_init(&all, 0);
		buf_init(&id, 0);
		while (sort_msgid_next(in, len, &pos, &id) > 0) {
			if (all.len > 0)
				buf_append_c(&all, ' ');
			buf_append(&all, id.data, id.len);
			buf_reset(&id);
			assert_true(pos <= len);
		}
		assert_int_equal(pos, len);
		if (strcmp(buf_cstr(&all), cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\"", cases[i].in,
				 buf_cstr(&all));
		buf_free(&all);
		buf_free(&id);
	}
}

/* ---- header keys -------------------------------------------------------- */

static const char header1[] =
	"Received: from somewhere\r\n"
	"Subject: Re: [list]\r\n"
	" =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
	"From: =?UTF-8?Q?J=C3=BCrgen?= <Juergen@Example.DE>, other@x\r\n"
	"To: group: ;, \"Zed\" <ZED@x>\r\n"
	"subject: not this one\r\n"
	"Date: Thu, 1 Jan 1970 01:00:00 +0100\r\n"
	"Message-ID: < id1@host >\r\n"
	"In-Reply-To: <irt@host> <irt2@host>\r\n"
	"References: <r1@host>\r\n"
	"\t<r2@host>\r\n"
	"\r\n"
	"Cc: body@x\r\n";

static void
test_header_keys(void **state)
{
	struct sort_message msg;

	(void)state;
	sort_message_init(&msg, 3, 30, 100, 777);
	sort_message_parse_header(&msg, (const uint8_t *)header1,
				  strlen(header1));
	assert_int_equal(msg.seq, 3);
	assert_int_equal(msg.num, 30);
	/* titlecased and decomposed (RFC 5051): U+00DC becomes U + U+0308;
	   U+00DF has no simple titlecase mapping */
	assert_string_equal(msg.subject, "GRU\xcc\x88\xc3\x9f" "E");
	assert_true(msg.subject_reply);
	assert_string_equal(msg.from, "JUERGEN");
	assert_string_equal(msg.display_from, "JU\xcc\x88RGEN");
	assert_string_equal(msg.to, "GROUP"); /* the group comes first */
	assert_string_equal(msg.display_to, "GROUP");
	assert_string_equal(msg.cc, "");
	assert_int_equal(msg.date, 0);
	assert_int_equal(msg.arrival, 777);
	assert_string_equal(msg.message_id, "id1@host");
	assert_int_equal(msg.reference_count, 2);
	assert_string_equal(msg.references[0], "r1@host");
	assert_string_equal(msg.references[1], "r2@host");
	sort_message_free(&msg);

	/* no References: the first In-Reply-To id; no Date: arrival;
	   no display name: the address */
	static const char h2[] = "In-Reply-To: junk <irt@host> <irt2@host>\n"
				 "Date: not a date\n"
				 "To: bob@Example.org\n";
	sort_message_init(&msg, 1, 1, 10, 555);
	sort_message_parse_header(&msg, (const uint8_t *)h2, strlen(h2));
	assert_int_equal(msg.reference_count, 1);
	assert_string_equal(msg.references[0], "irt@host");
	assert_int_equal(msg.date, 555);
	assert_string_equal(msg.display_to, "BOB@EXAMPLE.ORG");
	assert_string_equal(msg.subject, "");
	assert_false(msg.subject_reply);
	sort_message_free(&msg);

	/* a group: its name is the first address's mailbox and display
	   (what ENVELOPE shows first); an empty group counts too. Titlecase
	   puts letters before "[" and "_" */
	static const char h3[] = "To: Team: xx@xx.org, yy@yy.org;\n"
				 "Cc: empty:;\n"
				 "Subject: [xyz]\n";
	sort_message_init(&msg, 1, 1, 10, 555);
	sort_message_parse_header(&msg, (const uint8_t *)h3, strlen(h3));
	assert_string_equal(msg.to, "TEAM");
	assert_string_equal(msg.display_to, "TEAM");
	assert_string_equal(msg.cc, "EMPTY");
	assert_string_equal(msg.subject, "[XYZ]");
	assert_true(strcmp("A", msg.subject) < 0);
	sort_message_free(&msg);
}

/* Every prefix of a header parses (what a header cut at
   SORT_MAX_HEADER looks like) and gives a prefix of the keys. */
static void
test_header_prefixes(void **state)
{
	size_t len = strlen(header1);

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		struct sort_message msg;
		uint8_t *copy = malloc(n + 1);

		memcpy(copy, header1, n);
		sort_message_init(&msg, 1, 1, n, 0);
		sort_message_parse_header(&msg, copy, n);
		assert_non_null(msg.subject);
		assert_true(msg.reference_count <= 2);
		sort_message_free(&msg);
		free(copy);
	}
}

static void
test_many_references(void **state)
{
	struct buf hdr;
	struct sort_message msg;

	(void)state;
	buf_init(&hdr, 0);
	buf_append_str(&hdr, "References:");
	for (unsigned int i = 0; i < 3000; i++)
		buf_appendf(&hdr, " <r%u@x>", i);
	buf_append_str(&hdr, "\r\n\r\n");
	sort_message_init(&msg, 1, 1, hdr.len, 0);
	sort_message_parse_header(&msg, hdr.data, hdr.len);
	assert_int_equal(msg.reference_count, THREAD_MAX_REFERENCES);
	assert_string_equal(msg.references[THREAD_MAX_REFERENCES - 1],
			    "r2999@x");
	assert_string_equal(msg.references[0], "r2744@x");
	sort_message_free(&msg);
	buf_free(&hdr);
}

/* ---- criteria ------------------------------------------------------------ */

static void
test_criteria(void **state)
{
	static const struct {
		const char *words;
		const char *want; /* keys, "-" = reversed; NULL = error */
	} cases[] = {
		{ "ARRIVAL", "0" },
		{ "cc date FROM size subject to", "1 2 3 4 5 6" },
		{ "REVERSE DATE SUBJECT", "-2 5" },
		{ "reverse displayfrom REVERSE DISPLAYTO", "-7 -8" },
		{ "", NULL },
		{ "REVERSE", NULL },
		{ "DATE REVERSE", NULL },
		{ "REVERSE REVERSE DATE", NULL },
		{ "DATE FOO", NULL },
		{ "X-DATE", NULL },
		{ "DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
		  "DATE DATE DATE DATE DATE",
		  "2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2" },
		{ "DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
		  "DATE DATE DATE DATE DATE DATE",
		  NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = strdup(cases[i].words), *save = NULL, *w;
		const char *words[64];
		unsigned int n = 0;
		struct sort_criteria crit;
		const char *error = NULL;
		struct buf got;
		int ret;

		for (w = strtok_r(copy, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save))
			words[n++] = w;
		ret = sort_criteria_parse_words(words, n, &crit, &error);
		if (cases[i].want == NULL) {
			if (ret != -1 || error == NULL)
				fail_msg("\"%s\" accepted", cases[i].words);
			free(copy);
			continue;
		}
		assert_int_equal(ret, 0);
		buf_init(&got, 0);
		for (unsigned int k = 0; k < crit.count; k++)
			buf_appendf(&got, "%s%s%u", k > 0 ? " " : "",
				    crit.keys[k].reverse ? "-" : "",
				    (unsigned int)crit.keys[k].key);
		if (strcmp(buf_cstr(&got), cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\"", cases[i].words,
				 buf_cstr(&got));
		buf_free(&got);
		free(copy);
	}

	/* need_header */
	struct sort_criteria crit;
	const char *error;
	const char *w1[] = { "ARRIVAL", "REVERSE", "SIZE" };
	const char *w2[] = { "SIZE", "CC" };
	const char *w3[] = { "SIZE", NULL };

	assert_int_equal(sort_criteria_parse_words(w1, 3, &crit, &error), 0);
	assert_false(crit.need_header);
	assert_int_equal(sort_criteria_parse_words(w2, 2, &crit, &error), 0);
	assert_true(crit.need_header);
	assert_int_equal(sort_criteria_parse_words(w3, 2, &crit, &error), -1);
}

/* ---- sorting ------------------------------------------------------------- */

struct corpus {
	struct sort_message **msgs;
	unsigned int count;
};

static void
corpus_init(struct corpus *c, const char *const *headers, unsigned int count)
{
	c->msgs = calloc(count, sizeof(*c->msgs));
	c->count = count;
	for (unsigned int i = 0; i < count; i++) {
		c->msgs[i] = malloc(sizeof(*c->msgs[i]));
		/* arrival: the reverse of sequence order; size: by length */
		sort_message_init(c->msgs[i], i + 1, i + 1,
				  strlen(headers[i]), 100000 - i);
		sort_message_parse_header(c->msgs[i],
					  (const uint8_t *)headers[i],
					  strlen(headers[i]));
	}
}

static void
corpus_free(struct corpus *c)
{
	for (unsigned int i = 0; i < c->count; i++) {
		sort_message_free(c->msgs[i]);
		free(c->msgs[i]);
	}
	free(c->msgs);
}

static const char *const sort_headers[] = {
	/* 1 */ "Subject: b\nFrom: Carl <c@x>\nTo: b@x\n"
		"Date: 2 Jan 2026 00:00 +0000\n",
	/* 2 */ "Subject: Re: A\nFrom: \"Bea\" <B@x>\n"
		"Date: 1 Jan 2026 00:00 +0000\nCc: z@x\n",
	/* 3 */ "Subject: a\nFrom: a@x\nTo: \"Adam\" <d@x>\n"
		"Date: 1 Jan 2026 00:00 +0000\nX: padding padding\n",
	/* 4 */ "From: a@x\nTo: a@x\nDate: broken\n",
	/* 5 */ "Subject: [x] B (fwd)\nCc: a@x\n"
		"Date: 1 Jan 2026 01:00 +0200\n",
};

static void
test_sort(void **state)
{
	static const struct {
		const char *crit;
		const char *want;
	} cases[] = {
		/* 4 has no subject: the empty string first */
		{ "SUBJECT", "4 2 3 1 5" },
		{ "REVERSE SUBJECT", "1 5 2 3 4" },
		/* 4 has no valid Date: its arrival (1970) */
		{ "DATE", "4 5 2 3 1" },
		{ "REVERSE DATE", "1 2 3 5 4" },
		{ "SUBJECT DATE", "4 2 3 5 1" },
		{ "SUBJECT REVERSE DATE", "4 2 3 1 5" },
		{ "ARRIVAL", "5 4 3 2 1" },
		{ "REVERSE ARRIVAL", "1 2 3 4 5" },
		{ "FROM", "5 3 4 2 1" },
		{ "REVERSE FROM", "1 2 3 4 5" },
		{ "FROM REVERSE SIZE", "5 3 4 2 1" },
		{ "TO", "2 5 4 1 3" },
		{ "CC", "1 3 4 5 2" },
		{ "REVERSE CC", "2 5 1 3 4" },
		{ "DISPLAYFROM", "5 3 4 2 1" },
		{ "DISPLAYTO", "2 5 4 3 1" },
		{ "SIZE", NULL },
		{ "REVERSE SIZE", NULL },
	};
	struct corpus c;

	(void)state;
	corpus_init(&c, sort_headers, 5);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = strdup(cases[i].crit), *save = NULL, *w;
		const char *words[8];
		unsigned int n = 0;
		struct sort_criteria crit;
		struct sort_message *msgs[5];
		const char *error;
		struct buf got, want;

		for (w = strtok_r(copy, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save))
			words[n++] = w;
		assert_int_equal(sort_criteria_parse_words(words, n, &crit,
							   &error),
				 0);
		memcpy(msgs, c.msgs, sizeof(msgs));
		sort_messages(msgs, 5, &crit);
		buf_init(&got, 0);
		for (unsigned int k = 0; k < 5; k++)
			buf_appendf(&got, "%s%u", k > 0 ? " " : "",
				    msgs[k]->num);
		buf_init(&want, 0);
		if (cases[i].want != NULL)
			buf_append_str(&want, cases[i].want);
		else {
			/* SIZE: check the order against the lengths */
			bool rev = crit.keys[0].reverse;

			for (unsigned int k = 1; k < 5; k++) {
				uint64_t a = msgs[k - 1]->size,
					 b = msgs[k]->size;

				assert_true(rev ? a >= b : a <= b);
				if (a == b)
					assert_true(msgs[k - 1]->seq <
						    msgs[k]->seq);
			}
			buf_append_str(&want, buf_cstr(&got));
		}
		if (strcmp(buf_cstr(&got), buf_cstr(&want)) != 0)
			fail_msg("(%s): got \"%s\" want \"%s\"", cases[i].crit,
				 buf_cstr(&got), buf_cstr(&want));
		buf_free(&got);
		buf_free(&want);
		free(copy);
	}
	corpus_free(&c);
}

/* Equal keys keep sequence order, in any criteria and at any size (the
   merge sort's odd-sized runs). */
static void
test_sort_stable(void **state)
{
	const char *words[] = { "REVERSE", "SUBJECT" };
	struct sort_criteria crit;
	const char *error;

	(void)state;
	assert_int_equal(sort_criteria_parse_words(words, 2, &crit, &error),
			 0);
	for (unsigned int count = 1; count < 40; count++) {
		struct sort_message *m = calloc(count, sizeof(*m));
		struct sort_message **p = calloc(count, sizeof(*p));

		for (unsigned int i = 0; i < count; i++) {
			char hdr[32];

			snprintf(hdr, sizeof(hdr), "Subject: %c\n",
				 'a' + (int)(i % 3));
			sort_message_init(&m[i], i + 1, i + 1, 0, 0);
			sort_message_parse_header(&m[i], (const uint8_t *)hdr,
						  strlen(hdr));
			p[i] = &m[i];
		}
		sort_messages(p, count, &crit);
		for (unsigned int i = 1; i < count; i++) {
			int r = strcmp(p[i - 1]->subject, p[i]->subject);

			assert_true(r > 0 || (r == 0 && p[i - 1]->seq <
							    p[i]->seq));
		}
		for (unsigned int i = 0; i < count; i++)
			sort_message_free(&m[i]);
		free(m);
		free(p);
	}
}

/* ---- threads ------------------------------------------------------------- */

struct thread_case {
	const char *name;
	enum thread_algorithm alg;
	const char *headers[8];
	const char *want;
};

static const struct thread_case thread_cases[] = {
	{ "replies", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nSubject: one\nDate: 1 Jan 2026 00:00 +0000\n",
	    "Message-ID: <2@x>\nIn-Reply-To: <1@x>\nSubject: Re: one\n"
	    "Date: 2 Jan 2026 00:00 +0000\n",
	    "Message-ID: <3@x>\nReferences: <1@x> <2@x>\nSubject: two\n"
	    "Date: 3 Jan 2026 00:00 +0000\n",
	    "Message-ID: <4@x>\nIn-Reply-To: <1@x>\nSubject: Re: one\n"
	    "Date: 4 Jan 2026 00:00 +0000\n",
	    NULL },
	  "(1 (2 3)(4))" },
	{ "siblings by date", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nSubject: s\nDate: 1 Jan 2026 00:00 +0000\n",
	    "Message-ID: <2@x>\nIn-Reply-To: <1@x>\n"
	    "Date: 5 Jan 2026 00:00 +0000\n",
	    "Message-ID: <3@x>\nIn-Reply-To: <1@x>\n"
	    "Date: 3 Jan 2026 00:00 +0000\n",
	    "Message-ID: <4@x>\nSubject: t\nDate: 2 Dec 2025 00:00 +0000\n",
	    NULL },
	  "(4)(1 (3)(2))" },
	{ "missing parent, one child", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nReferences: <gone@x>\nSubject: a\n", NULL },
	  "(1)" },
	{ "missing parent, two children", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nReferences: <gone@x>\nSubject: a\n",
	    "Message-ID: <2@x>\nReferences: <gone@x>\nSubject: b\n",
	    "Message-ID: <3@x>\nSubject: c\n", NULL },
	  "((1)(2))(3)" },
	{ "missing middle", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nSubject: a\n",
	    "Message-ID: <3@x>\nReferences: <1@x> <gone@x>\nSubject: b\n",
	    NULL },
	  "(1 2)" },
	{ "truncated References", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nSubject: a\n",
	    "Message-ID: <2@x>\nReferences: <1@x>\nSubject: b\n",
	    "Message-ID: <3@x>\nReferences: <1@x> <2@x>\nSubject: c\n",
	    "Message-ID: <4@x>\nReferences: <3@x>\nSubject: d\n", NULL },
	  "(1 2 3 4)" },
	{ "loop between two", THREAD_REFERENCES,
	  { "Message-ID: <a@x>\nReferences: <b@x>\nSubject: p\n",
	    "Message-ID: <b@x>\nReferences: <a@x>\nSubject: q\n", NULL },
	  "(2 1)" },
	{ "loop inside References", THREAD_REFERENCES,
	  { "Message-ID: <c@x>\nReferences: <a@x> <b@x> <a@x>\nSubject: p\n",
	    NULL },
	  "(1)" },
	{ "self reference", THREAD_REFERENCES,
	  { "Message-ID: <a@x>\nReferences: <a@x>\nSubject: p\n",
	    "Message-ID: <b@x>\nIn-Reply-To: <a@x>\nSubject: q\n", NULL },
	  "(1 2)" },
	{ "duplicate Message-ID", THREAD_REFERENCES,
	  { "Message-ID: <a@x>\nSubject: p\n",
	    "Message-ID: <a@x>\nSubject: q\n",
	    "Message-ID: <c@x>\nIn-Reply-To: <a@x>\nSubject: r\n", NULL },
	  "(1 3)(2)" },
	{ "no Message-ID", THREAD_REFERENCES,
	  { "Subject: p\n", "Subject: q\n", NULL },
	  "(1)(2)" },
	{ "subject grouping", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nSubject: hello\n",
	    "Message-ID: <2@x>\nSubject: Re: hello\n",
	    "Message-ID: <3@x>\nSubject: topic\n",
	    "Message-ID: <4@x>\nSubject: [list] TOPIC\n",
	    "Message-ID: <5@x>\nSubject: Re: only a reply\n",
	    "Message-ID: <6@x>\nSubject:\n",
	    "Message-ID: <7@x>\nSubject: Re:\n", NULL },
	  "(1 2)((3)(4))(5)(6)(7)" },
	{ "reply first, original later", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nSubject: Re: hi\n"
	    "Date: 1 Jan 2026 00:00 +0000\n",
	    "Message-ID: <2@x>\nSubject: hi\nDate: 2 Jan 2026 00:00 +0000\n",
	    NULL },
	  "(2 1)" },
	{ "dummy roots merge", THREAD_REFERENCES,
	  { "Message-ID: <1@x>\nReferences: <g1@x>\nSubject: s\n",
	    "Message-ID: <2@x>\nReferences: <g1@x>\nSubject: Re: s\n",
	    "Message-ID: <3@x>\nReferences: <g2@x>\nSubject: s\n",
	    "Message-ID: <4@x>\nReferences: <g2@x>\nSubject: s\n", NULL },
	  "((1)(2)(3)(4))" },
	{ "dummy takes a message", THREAD_REFERENCES,
	  { "Message-ID: <0@x>\nSubject: s\n"
	    "Date: 1 Jan 2025 00:00 +0000\n",
	    "Message-ID: <1@x>\nReferences: <g1@x>\nSubject: s\n",
	    "Message-ID: <2@x>\nReferences: <g1@x>\nSubject: Re: s\n", NULL },
	  /* 2 and 3 (no Date:) are older than 1 */
	  "((2)(3)(1))" },
	{ "ordered subject", THREAD_ORDEREDSUBJECT,
	  { "Subject: b\nDate: 5 Jan 2026 00:00 +0000\n",
	    "Subject: Re: a\nDate: 2 Jan 2026 00:00 +0000\n",
	    "Subject: B\nDate: 1 Jan 2026 00:00 +0000\n",
	    "Subject: a\nDate: 3 Jan 2026 00:00 +0000\n",
	    "Subject: Fwd: b\nDate: 1 Jan 2026 00:00 +0000\n",
	    "Subject: c\nDate: 9 Jan 2026 00:00 +0000\n", NULL },
	  "(3 (5)(1))(2 4)(6)" },
	{ "one message", THREAD_ORDEREDSUBJECT, { "Subject: x\n", NULL }, "(1)" },
	{ "empty", THREAD_REFERENCES, { NULL }, "" },
};

static void
test_thread_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(thread_cases) / sizeof(thread_cases[0]);
	     i++) {
		const struct thread_case *tc = &thread_cases[i];
		unsigned int n = 0;
		struct corpus c;
		struct buf out;

		while (n < 8 && tc->headers[n] != NULL)
			n++;
		corpus_init(&c, tc->headers, n);
		/* same Date: everywhere unless given: sequence order */
		for (unsigned int k = 0; k < n; k++) {
			if (strstr(tc->headers[k], "Date:") == NULL)
				c.msgs[k]->date = 1000 + k;
		}
		buf_init(&out, 0);
		thread_build(tc->alg, c.msgs, n, &out);
		if (strcmp(buf_cstr(&out), tc->want) != 0)
			fail_msg("%s: got \"%s\" want \"%s\"", tc->name,
				 buf_cstr(&out), tc->want);
		buf_free(&out);
		corpus_free(&c);
	}
}

static void
test_thread_algorithm(void **state)
{
	enum thread_algorithm alg;

	(void)state;
	assert_int_equal(thread_algorithm_parse("references", &alg), 0);
	assert_int_equal(alg, THREAD_REFERENCES);
	assert_int_equal(thread_algorithm_parse("OrderedSubject", &alg), 0);
	assert_int_equal(alg, THREAD_ORDEREDSUBJECT);
	assert_int_equal(thread_algorithm_parse("JWZ", &alg), -1);
}

/* A reply chain of 5000 messages: one thread, in order, no recursion. */
static void
test_thread_deep_chain(void **state)
{
	enum { N = 5000 };
	const char **headers = calloc(N, sizeof(*headers));
	struct corpus c;
	struct buf out, want;

	(void)state;
	for (unsigned int i = 0; i < N; i++) {
		char *h = malloc(128);

		if (i == 0)
			snprintf(h, 128, "Message-ID: <m0@x>\nSubject: x\n");
		else
			snprintf(h, 128,
				 "Message-ID: <m%u@x>\nIn-Reply-To: <m%u@x>\n"
				 "Subject: Re: x\n",
				 i, i - 1);
		headers[i] = h;
	}
	/* the last message first in the mailbox: its parents arrive later
	   and fill dummies */
	const char *t = headers[0];
	headers[0] = headers[N - 1];
	headers[N - 1] = t;
	corpus_init(&c, headers, N);
	for (unsigned int k = 0; k < N; k++)
		c.msgs[k]->date = 1000;
	buf_init(&out, 0);
	thread_build(THREAD_REFERENCES, c.msgs, N, &out);
	buf_init(&want, 0);
	buf_appendf(&want, "(%u", N);
	for (unsigned int i = 2; i < N; i++)
		buf_appendf(&want, " %u", i);
	buf_appendf(&want, " 1)");
	assert_string_equal(buf_cstr(&out), buf_cstr(&want));
	buf_free(&out);
	buf_free(&want);
	corpus_free(&c);
	for (unsigned int i = 0; i < N; i++)
		free((char *)headers[i]);
	free(headers);
}

/* A chain where every message also has a leaf reply: the output nests
   as deep as the chain is long. */
static void
test_thread_deep_nesting(void **state)
{
	enum { N = 3000 };
	const char **headers = calloc(2 * N, sizeof(*headers));
	struct corpus c;
	struct buf out;
	unsigned int open = 0, maxdepth = 0, numbers = 0;

	(void)state;
	for (unsigned int i = 0; i < N; i++) {
		char *h = malloc(128), *leaf = malloc(128);

		if (i == 0)
			snprintf(h, 128, "Message-ID: <c0@x>\nSubject: x\n");
		else
			snprintf(h, 128,
				 "Message-ID: <c%u@x>\nReferences: <c%u@x>\n"
				 "Subject: x\n",
				 i, i - 1);
		snprintf(leaf, 128,
			 "Message-ID: <l%u@x>\nReferences: <c%u@x>\n"
			 "Subject: x\n",
			 i, i);
		headers[2 * i] = h;
		headers[2 * i + 1] = leaf;
	}
	corpus_init(&c, headers, 2 * N);
	for (unsigned int k = 0; k < 2 * N; k++)
		c.msgs[k]->date = 1000;
	buf_init(&out, 0);
	thread_build(THREAD_REFERENCES, c.msgs, 2 * N, &out);
	for (size_t i = 0; i < out.len; i++) {
		if (out.data[i] == '(') {
			open++;
			if (open > maxdepth)
				maxdepth = open;
		} else if (out.data[i] == ')') {
			assert_true(open > 0);
			open--;
		} else if (out.data[i] >= '0' && out.data[i] <= '9' &&
			   (i == 0 || out.data[i - 1] < '0' ||
			    out.data[i - 1] > '9'))
			numbers++;
	}
	assert_int_equal(open, 0);
	assert_int_equal(numbers, 2 * N);
	assert_true(maxdepth >= N);
	assert_memory_equal(out.data, "(1 (2)(3 (4)(5 ", 15);
	buf_free(&out);
	corpus_free(&c);
	for (unsigned int i = 0; i < 2 * N; i++)
		free((char *)headers[i]);
	free(headers);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test(test_header_keys),
		cmocka_unit_test(test_header_prefixes),
		cmocka_unit_test(test_many_references),
		cmocka_unit_test(test_criteria),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_sort_stable),
		cmocka_unit_test(test_thread_cases),
		cmocka_unit_test(test_thread_algorithm),
		cmocka_unit_test(test_thread_deep_chain),
		cmocka_unit_test(test_thread_deep_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
