/* Unit tests for src/imap: the command parser (table-driven, every input
   also fed split at every offset and a byte at a time), sequence sets and
   dates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap-date.h"
#include "imap/imap-parser.h"
#include "imap/imap-seqset.h"
#include "lib/limits.h"

/* A growable text buffer for traces. */
struct str {
	char *s;
	size_t len, cap;
};

static void
str_add(struct str *s, const void *data, size_t len)
{
	if (s->cap - s->len <= len) {
		s->cap = (s->cap + len + 1) * 2;
		s->s = realloc(s->s, s->cap);
		assert_non_null(s->s);
	}
	memcpy(s->s + s->len, data, len);
	s->len += len;
	s->s[s->len] = '\0';
}

static void
str_addz(struct str *s, const char *z)
{
	str_add(s, z, strlen(z));
}

static void __attribute__((format(printf, 2, 3)))
str_printf(struct str *s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	str_add(s, buf, (size_t)n);
}

static void
str_add_bytes(struct str *s, const uint8_t *data, size_t len)
{
	/* Long runs are summarised so traces stay short. */
	if (len > 40) {
		str_printf(s, "<%zu bytes>", len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (data[i] < 0x20 || data[i] >= 0x7f)
			str_printf(s, "\\x%02x", data[i]);
		else
			str_add(s, &data[i], 1);
	}
}

static void
dump_args(struct str *s, const struct imap_arg *args, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];

		if (i > 0)
			str_addz(s, " ");
		switch (a->type) {
		case IMAP_ARG_ATOM:
			str_addz(s, "A:");
			str_add_bytes(s, a->data, a->len);
			assert_int_equal(a->data[a->len], '\0');
			break;
		case IMAP_ARG_NIL:
			str_addz(s, "NIL");
			break;
		case IMAP_ARG_STRING:
			str_addz(s, "S:");
			str_add_bytes(s, a->data, a->len);
			assert_int_equal(a->data[a->len], '\0');
			break;
		case IMAP_ARG_LITERAL:
			if (a->streamed) {
				str_printf(s, "STREAM%s#%u(%zu)",
					   a->literal8 ? "8" : "",
					   a->stream_index, a->len);
				assert_null(a->data);
				break;
			}
			str_addz(s, a->literal8 ? "L8:" : "L:");
			str_add_bytes(s, a->data, a->len);
			assert_int_equal(a->data[a->len], '\0');
			break;
		case IMAP_ARG_LIST:
			str_addz(s, "(");
			dump_args(s, a->list, a->list_count);
			str_addz(s, ")");
			break;
		}
	}
}

/* A minimal session: buffers what "arrives", feeds the parser, takes
   streamed literals itself, and writes a trace of every non-MORE result. */
struct harness {
	struct imap_parser *parser;
	struct str trace;
	uint8_t *pending;
	size_t pending_len;
	uint64_t stream_left;
	bool stream_active;
	bool dead;
};

static void
harness_init(struct harness *h, bool authed, bool literal_minus,
	     uint64_t max_message_size)
{
	struct imap_parser_settings set = {
		.literal_minus = literal_minus,
		.max_message_size = max_message_size,
	};

	memset(h, 0, sizeof(*h));
	h->parser = imap_parser_create(&set);
	imap_parser_set_authenticated(h->parser, authed);
	str_addz(&h->trace, "");
}

static void
harness_deinit(struct harness *h)
{
	imap_parser_destroy(&h->parser);
	assert_null(h->parser);
	free(h->trace.s);
	free(h->pending);
}

static void
harness_run(struct harness *h)
{
	size_t pos = 0;

	while (!h->dead) {
		if (h->stream_active) {
			size_t n = h->pending_len - pos;
			if (n > h->stream_left)
				n = (size_t)h->stream_left;
			pos += n;
			h->stream_left -= n;
			if (h->stream_left > 0)
				break;
			h->stream_active = false;
			imap_parser_stream_done(h->parser);
		}

		const struct imap_command *cmd;
		const char *error;
		size_t used;
		enum imap_parse_result ret =
			imap_parser_feed(h->parser, h->pending + pos,
					 h->pending_len - pos, &used, &cmd,
					 &error);
		assert_true(used <= h->pending_len - pos);
		pos += used;
		if (ret == IMAP_PARSE_MORE) {
			/* MORE means every byte was used. */
			assert_int_equal(pos, h->pending_len);
			break;
		}
		switch (ret) {
		case IMAP_PARSE_DONE:
			str_printf(&h->trace, "DONE %s %s", cmd->tag,
				   cmd->name);
			if (cmd->args_count > 0)
				str_addz(&h->trace, " ");
			dump_args(&h->trace, cmd->args, cmd->args_count);
			str_addz(&h->trace, "\n");
			assert_true(imap_parser_is_idle(h->parser));
			break;
		case IMAP_PARSE_LITERAL:
			str_addz(&h->trace, "+\n");
			break;
		case IMAP_PARSE_LITERAL_STREAM:
			str_printf(&h->trace, "STREAM%s%s %llu [",
				   cmd->stream_literal8 ? "8" : "",
				   cmd->stream_sync ? " sync" : "",
				   (unsigned long long)cmd->stream_size);
			dump_args(&h->trace, cmd->args, cmd->args_count);
			str_addz(&h->trace, "]\n");
			h->stream_active = true;
			h->stream_left = cmd->stream_size;
			break;
		case IMAP_PARSE_ERROR: {
			const struct imap_parser_error *e =
				imap_parser_get_error(h->parser);
			assert_string_equal(e->text, error);
			str_printf(&h->trace, "ERR[%s]%s%s%s: %s\n",
				   e->tag == NULL ? "*" : e->tag,
				   e->kind == IMAP_PARSER_ERR_TOOBIG ?
				   " TOOBIG" : "",
				   e->nonsync ? " nonsync" : "",
				   e->fatal ? " fatal" : "", e->text);
			if (e->fatal)
				h->dead = true;
			break;
		}
		case IMAP_PARSE_MORE:
			break;
		}
	}
	memmove(h->pending, h->pending + pos, h->pending_len - pos);
	h->pending_len -= pos;
}

/* Bytes arrive from the network. */
static void
harness_recv(struct harness *h, const uint8_t *data, size_t len)
{
	h->pending = realloc(h->pending, h->pending_len + len + 1);
	assert_non_null(h->pending);
	memcpy(h->pending + h->pending_len, data, len);
	h->pending_len += len;
	harness_run(h);
}

/* A string literal with NULs: its bytes and length. */
#define BIN(s) s, sizeof(s) - 1

struct parser_case {
	const char *in;
	size_t in_len; /* 0: strlen(in) */
	const char *expect;
	bool authed;
	bool literal_minus;
	uint64_t max_message_size;
};

/* Feeds the input whole, split at every offset, and a byte at a time;
   all must give the expected trace. */
static void
check_case(const struct parser_case *c)
{
	size_t len = c->in_len != 0 ? c->in_len : strlen(c->in);
	const uint8_t *in = (const uint8_t *)c->in;
	struct harness h;

	for (size_t split = 0; split <= len; split++) {
		/* Long generated inputs: every offset near either end and
		   near the limits, a sample in between, to stay fast. */
		if (len > 2048 && split > 300 && len - split > 300 &&
		    split % 211 != 0 && (split < 4000 || split > 4200) &&
		    (split < 16300 || split > 16500))
			continue;
		harness_init(&h, c->authed, c->literal_minus,
			     c->max_message_size);
		harness_recv(&h, in, split);
		harness_recv(&h, in + split, len - split);
		if (strcmp(h.trace.s, c->expect) != 0) {
			print_error("input %.60s split at %zu:\n%s\n"
				    "expected:\n%s\n", c->in, split,
				    h.trace.s, c->expect);
			fail();
		}
		harness_deinit(&h);
	}
	harness_init(&h, c->authed, c->literal_minus, c->max_message_size);
	for (size_t i = 0; i < len; i++)
		harness_recv(&h, in + i, 1);
	if (strcmp(h.trace.s, c->expect) != 0) {
		print_error("input %.60s byte at a time:\n%s\nexpected:\n%s\n",
			    c->in, h.trace.s, c->expect);
		fail();
	}
	harness_deinit(&h);
}

static void
test_parser_table(void **state)
{
	static const struct parser_case cases[] = {
		/* Well-formed commands. */
		{ "a1 NOOP\r\n", 0, "DONE a1 NOOP\n" },
		{ "a2 LOGIN user pass\r\n", 0,
		  "DONE a2 LOGIN A:user A:pass\n" },
		{ "a3 LOGIN \"us\\\"er\" \"p\\\\ss\"\r\n", 0,
		  "DONE a3 LOGIN S:us\"er S:p\\ss\n" },
		{ "a4 STORE 1:* +FLAGS (\\Seen (a b) ())\r\n", 0,
		  "DONE a4 STORE A:1:* A:+FLAGS (A:\\Seen (A:a A:b) ())\n" },
		{ "a5 X NIL nil \"NIL\" NILS\r\n", 0,
		  "DONE a5 X NIL NIL S:NIL A:NILS\n" },
		{ "a6 LOGIN {4}\r\nuser {4}\r\npass\r\n", 0,
		  "+\n+\nDONE a6 LOGIN L:user L:pass\n" },
		{ "a7 LOGIN {4+}\r\nuser {0+}\r\n\r\n", 0,
		  "DONE a7 LOGIN L:user L:\n" },
		{ BIN("a8 X ~{3}\r\na\0b\r\n"),
		  "+\nDONE a8 X L8:a\\x00b\n" },
		{ "a9 FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>)"
		  "\r\n", 0,
		  "DONE a9 FETCH A:1 (A:FLAGS "
		  "A:BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>)\n" },
		{ "b1 NOOP\n", 0, "DONE b1 NOOP\n" },
		{ "\r\n\n\r\nb2 NOOP\r\n", 0, "DONE b2 NOOP\n" },
		{ "c1 NOOP\r\nc2 select \"INBOX\"\r\n", 0,
		  "DONE c1 NOOP\nDONE c2 select S:INBOX\n" },
		{ "c3 LIST \"\" %\r\nc4 LIST \"\" *\r\n", 0,
		  "DONE c3 LIST S: A:%\nDONE c4 LIST S: A:*\n" },
		{ "c5 X ~abc ~\r\n", 0, "DONE c5 X A:~abc A:~\n" },
		{ "c6   X  a  (b)  \r\n", 0, "DONE c6 X A:a (A:b)\n" },
		{ "c7 X [a b] ]x\r\n", 0, "DONE c7 X A:[a b] A:]x\n" },
		{ "c8 X \"\xc3\xa4\"\r\n", 0, "DONE c8 X S:\\xc3\\xa4\n" },
		{ "c9 ID (\"name\" \"x\" \"version\" NIL)\r\n", 0,
		  "DONE c9 ID (S:name S:x S:version NIL)\n" },

		/* Errors, each followed by a good command that must parse. */
		{ "\"x\r\nb NOOP\r\n", 0,
		  "ERR[*]: Invalid tag\nDONE b NOOP\n" },
		{ "a+ NOOP\r\nb NOOP\r\n", 0,
		  "ERR[*]: Invalid tag\nDONE b NOOP\n" },
		{ " a NOOP\r\nb NOOP\r\n", 0,
		  "ERR[*]: Invalid tag\nDONE b NOOP\n" },
		{ "a\r\nb NOOP\r\n", 0,
		  "ERR[a]: Missing command name\nDONE b NOOP\n" },
		{ "a\nb NOOP\r\n", 0,
		  "ERR[a]: Missing command name\nDONE b NOOP\n" },
		{ "a  \r\nb NOOP\r\n", 0,
		  "ERR[a]: Missing command name\nDONE b NOOP\n" },
		{ "a NO!OP\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid command name\nDONE b NOOP\n" },
		{ "a X (b\r\nb NOOP\r\n", 0,
		  "ERR[a]: Missing ')'\nDONE b NOOP\n" },
		{ "a X b)\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nDONE b NOOP\n" },
		{ "a X \"abc\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unterminated quoted string\nDONE b NOOP\n" },
		{ "a X \"abc\nb NOOP\r\n", 0,
		  "ERR[a]: Unterminated quoted string\nDONE b NOOP\n" },
		{ "a X \"a\\b\"\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid escape in quoted string\nDONE b NOOP\n" },
		{ BIN("a X \"a\0\"\r\nb NOOP\r\n"),
		  "ERR[a]: NUL in quoted string\nDONE b NOOP\n" },
		{ "a X \"a\"b\r\nb NOOP\r\n", 0,
		  "ERR[a]: Missing space after argument\nDONE b NOOP\n" },
		{ "a X (a)(b)\r\nb NOOP\r\n", 0,
		  "ERR[a]: Missing space after argument\nDONE b NOOP\n" },
		{ "a X {x}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid literal size\nDONE b NOOP\n" },
		{ "a X {}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid literal size\nDONE b NOOP\n" },
		{ "a X {1+x}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid literal size\nDONE b NOOP\n" },
		{ "a X {9223372036854775808}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid literal size\nDONE b NOOP\n" },
		{ "a X {3}x\r\nb NOOP\r\n", 0,
		  "ERR[a]: Missing CRLF after literal\nDONE b NOOP\n" },
		{ BIN("a X {2}\r\n\0b\r\nb NOOP\r\n"),
		  "+\nERR[a]: NUL in literal\nDONE b NOOP\n" },
		{ BIN("a X {3+}\r\na\0b c\r\nb NOOP\r\n"),
		  "ERR[a]: NUL in literal\nDONE b NOOP\n" },
		{ "a X \rx\r\nb NOOP\r\n", 0,
		  "ERR[a]: CR without LF\nDONE b NOOP\n" },
		{ "\rx\r\nb NOOP\r\n", 0,
		  "ERR[*]: CR without LF\nDONE b NOOP\n" },
		{ "a X fo\x80o\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid characters in atom\nDONE b NOOP\n" },
		{ "a X foo{3}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid characters in atom\nDONE b NOOP\n" },
		{ "a X foo{3+}\r\nabc\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid characters in atom\nDONE b NOOP\n" },
		{ "{3+}\r\nabc\r\nb NOOP\r\n", 0,
		  "ERR[*]: Invalid tag\nDONE b NOOP\n" },
		{ "a X foo\"\r\nb NOOP\r\n", 0,
		  "ERR[a]: Invalid characters in atom\nDONE b NOOP\n" },

		/* Resynchronisation skips announced non-synchronising
		   literals of the bad line, and nothing of synchronising
		   ones (the client waits for "+" that never comes). */
		{ "a X ) {3+}\r\nabc\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nDONE b NOOP\n" },
		{ "a X ) {3+}\r\nabc {2+}\r\nxy\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nDONE b NOOP\n" },
		{ "a X ) {3+}\r\n\r\n\r\n b NOOP\r\nc NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nERR[*]: Invalid tag\n"
		  "DONE c NOOP\n" },
		{ "a X ) {3}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nDONE b NOOP\n" },
		{ "a X ) {3+}x\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nDONE b NOOP\n" },
		{ "a X {2+}\r\nab) {2+}\r\nxy\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\nDONE b NOOP\n" },
		/* A skipped line whose literal is too large to skip ends
		   the connection, with an error text of its own. */
		{ "a X ) {99999999999+}\r\nb NOOP\r\n", 0,
		  "ERR[a]: Unexpected ')'\n"
		  "ERR[a] TOOBIG fatal: Literal too large to skip\n" },

		/* Literal limits before login: refused, the line (and a
		   non-synchronising literal) skipped. */
		{ "a LOGIN {4097}\r\nb NOOP\r\n", 0,
		  "ERR[a] TOOBIG: Literal too large\nDONE b NOOP\n" },
		{ "a LOGIN {4096}\r\nb NOOP\r\n", 0, "+\n" },
		{ "a LOGIN {65537+}\r\nb NOOP\r\n", 0,
		  "ERR[a] TOOBIG nonsync fatal: Literal too large\n" },
		{ "a LOGIN {1}\r\nx (((((a)))))\r\nb NOOP\r\n", 0,
		  "+\nERR[a]: Too deeply nested lists\nDONE b NOOP\n" },
		{ "a X ((((a))))\r\n", 0, "DONE a X ((((A:a))))\n" },
		{ "a X ((((a))))\r\n", 0, "DONE a X ((((A:a))))\n", true },

		/* LITERAL- (RFC 7888 5). */
		{ "a X {4097+}\r\nb NOOP\r\n", 0,
		  "ERR[a] TOOBIG nonsync: "
		  "Non-synchronizing literal too large\n", true, true },
		{ "a X {4097}\r\nb NOOP\r\n", 0, "+\n", true, true },

		/* APPEND streams its message literals once logged in. */
		{ "a APPEND INBOX (\\Seen) {5}\r\nhello\r\n", 0,
		  "STREAM sync 5 [A:INBOX (A:\\Seen) STREAM#0(5)]\n"
		  "DONE a APPEND A:INBOX (A:\\Seen) STREAM#0(5)\n", true },
		{ "a APPEND INBOX \"01-Feb-1994 21:52:25 -0800\" {3+}\r\nabc"
		  " {2+}\r\nde\r\n", 0,
		  "STREAM 3 [A:INBOX S:01-Feb-1994 21:52:25 -0800 "
		  "STREAM#0(3)]\n"
		  "STREAM 2 [A:INBOX S:01-Feb-1994 21:52:25 -0800 "
		  "STREAM#0(3) STREAM#1(2)]\n"
		  "DONE a APPEND A:INBOX S:01-Feb-1994 21:52:25 -0800 "
		  "STREAM#0(3) STREAM#1(2)\n", true },
		{ "a append {5}\r\nINBOX {3}\r\nabc\r\n", 0,
		  "+\nSTREAM sync 3 [L:INBOX STREAM#0(3)]\n"
		  "DONE a append L:INBOX STREAM#0(3)\n", true },
		{ BIN("a APPEND INBOX ~{3+}\r\na\0c\r\n"),
		  "STREAM8 3 [A:INBOX STREAM8#0(3)]\nDONE a APPEND A:INBOX STREAM8#0(3)\n",
		  true },
		{ "a APPEND INBOX CATENATE (URL \"/x\" TEXT {2+}\r\nab)\r\n",
		  0,
		  "STREAM 2 [A:INBOX A:CATENATE "
		  "(A:URL S:/x A:TEXT STREAM#0(2))]\n"
		  "DONE a APPEND A:INBOX A:CATENATE "
		  "(A:URL S:/x A:TEXT STREAM#0(2))\n", true },
		{ "a APPEND INBOX {11}\r\nb NOOP\r\n", 0,
		  "ERR[a] TOOBIG: Message too large\nDONE b NOOP\n",
		  true, false, 10 },
		{ "a APPEND INBOX {11+}\r\nhello world\r\nb NOOP\r\n", 0,
		  "ERR[a] TOOBIG nonsync: Message too large\nDONE b NOOP\n",
		  true, false, 10 },
		{ "a APPEND INBOX {3}\r\nabc\r\n", 0,
		  "+\nDONE a APPEND A:INBOX L:abc\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

static char *
make_input(const char *prefix, size_t fill, char fill_char,
	   const char *suffix, size_t *len_r)
{
	size_t plen = strlen(prefix), slen = strlen(suffix);
	char *s = malloc(plen + fill + slen + 1);

	assert_non_null(s);
	memcpy(s, prefix, plen);
	memset(s + plen, fill_char, fill);
	memcpy(s + plen + fill, suffix, slen + 1);
	*len_r = plen + fill + slen;
	return s;
}

static void
check_generated(const char *prefix, size_t fill, const char *suffix,
		const char *expect, bool authed)
{
	struct parser_case c = { .expect = expect, .authed = authed };

	c.in = make_input(prefix, fill, 'x', suffix, &c.in_len);
	check_case(&c);
	free((char *)c.in);
}

static void
test_parser_limits(void **state)
{
	/* A non-synchronising literal over the limit is skipped whole. */
	check_generated("a LOGIN {5000+}\r\n", 5000, " foo\r\nb NOOP\r\n",
			"ERR[a] TOOBIG nonsync: Literal too large\n"
			"DONE b NOOP\n", false);
	check_generated("a LOGIN {4096+}\r\n", 4096, "\r\n",
			"DONE a LOGIN L:<4096 bytes>\n", false);
	char expect[128];

	/* Line length before and after login. */
	snprintf(expect, sizeof(expect), "DONE a X A:<%d bytes>\n"
		 "DONE b NOOP\n", IMAP_MAX_LINE_PREAUTH - 6);
	check_generated("a X ", IMAP_MAX_LINE_PREAUTH - 6, "\r\nb NOOP\r\n",
			expect, false);
	check_generated("a X ", IMAP_MAX_LINE_PREAUTH - 5, "\r\nb NOOP\r\n",
			"ERR[a]: Command line too long\nDONE b NOOP\n", false);
	snprintf(expect, sizeof(expect), "DONE a X A:<%d bytes>\n"
		 "DONE b NOOP\n", IMAP_MAX_LINE_PREAUTH);
	check_generated("a X ", IMAP_MAX_LINE_PREAUTH, "\r\nb NOOP\r\n",
			expect, true);
	/* The line limit restarts after a literal. */
	snprintf(expect, sizeof(expect), "DONE a X L:x A:<%d bytes>\n",
		 IMAP_MAX_LINE_PREAUTH - 4);
	check_generated("a X {1+}\r\nx ", IMAP_MAX_LINE_PREAUTH - 4,
			"\r\n", expect, false);
}

static void
test_parser_nesting_and_args(void **state)
{
	char buf[256];
	size_t n = 0;

	/* IMAP_MAX_LIST_DEPTH levels are fine, one more is not. */
	n += (size_t)snprintf(buf, sizeof(buf), "a X ");
	for (int i = 0; i < IMAP_MAX_LIST_DEPTH + 1; i++)
		buf[n++] = '(';
	for (int i = 0; i < IMAP_MAX_LIST_DEPTH + 1; i++)
		buf[n++] = ')';
	memcpy(buf + n, "\r\nb NOOP\r\n", 11);
	struct parser_case c = {
		.in = buf,
		.expect = "ERR[a]: Too deeply nested lists\nDONE b NOOP\n",
		.authed = true,
	};
	check_case(&c);

	/* Too many arguments before login. */
	char *many = malloc(IMAP_MAX_ARGS_PREAUTH * 2 + 32);
	assert_non_null(many);
	memcpy(many, "a X", 3);
	n = 3;
	for (int i = 0; i < IMAP_MAX_ARGS_PREAUTH + 1; i++) {
		many[n++] = ' ';
		many[n++] = 'y';
	}
	memcpy(many + n, "\r\nb NOOP\r\n", 11);
	c.in = many;
	c.authed = false;
	c.expect = "ERR[a]: Too many arguments\nDONE b NOOP\n";
	check_case(&c);
	free(many);

	/* The total command size before login counts every literal. */
	struct str s = { 0 };
	str_addz(&s, "a X");
	for (int i = 0; i < IMAP_MAX_COMMAND_SIZE_PREAUTH / 4000 + 1; i++) {
		str_addz(&s, " {4000+}\r\n");
		for (int k = 0; k < 4000; k++)
			str_addz(&s, "z");
	}
	str_addz(&s, "\r\nb NOOP\r\n");
	c.in = s.s;
	c.expect = "ERR[a] TOOBIG nonsync: Command too large\nDONE b NOOP\n";
	struct harness h;
	harness_init(&h, false, false, 0);
	harness_recv(&h, (const uint8_t *)s.s, s.len);
	assert_string_equal(h.trace.s, c.expect);
	harness_deinit(&h);
	free(s.s);
}

/* A literal over the limit is refused at its announcement: the parser
   uses no byte past the LF, so the caller knows nothing was read. */
static void
test_parser_refuse_before_bytes(void **state)
{
	static const char in[] = "a LOGIN {5000}\r\nxyz NOOP\r\n";
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_command *cmd;
	const char *error;
	size_t used;

	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in,
					  sizeof(in) - 1, &used, &cmd, &error),
			 IMAP_PARSE_ERROR);
	assert_int_equal(used, strlen("a LOGIN {5000}\r\n"));
	assert_string_equal(error, "Literal too large");
	const struct imap_parser_error *e = imap_parser_get_error(p);
	assert_string_equal(e->tag, "a");
	assert_int_equal(e->kind, IMAP_PARSER_ERR_TOOBIG);
	assert_false(e->fatal);
	/* The partial command is given too. */
	assert_non_null(cmd);
	assert_string_equal(cmd->name, "LOGIN");

	size_t off = used;
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in + off,
					  sizeof(in) - 1 - off, &used, &cmd,
					  &error), IMAP_PARSE_DONE);
	assert_string_equal(cmd->tag, "xyz");

	/* An accepted synchronising literal: LITERAL right after its LF,
	   before any of its bytes. */
	static const char in2[] = "b LOGIN {3}\r\nabc def\r\n";
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in2,
					  sizeof(in2) - 1, &used, &cmd,
					  &error), IMAP_PARSE_LITERAL);
	assert_int_equal(used, strlen("b LOGIN {3}\r\n"));
	off = used;
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in2 + off,
					  sizeof(in2) - 1 - off, &used, &cmd,
					  &error), IMAP_PARSE_DONE);
	assert_int_equal(cmd->args_count, 2);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_LITERAL);
	assert_true(imap_parser_is_idle(p));
	imap_parser_destroy(&p);
	assert_null(p);
}

static void
test_parser_stream_skip(void **state)
{
	struct imap_parser_settings set = { .literal_minus = false };
	struct imap_parser *p = imap_parser_create(&set);
	const struct imap_command *cmd;
	const char *error;
	size_t used;

	imap_parser_set_authenticated(p, true);
	/* Synchronising: refusing means the client never sends it. */
	static const char in[] = "a APPEND nobox {10}\r\nb NOOP\r\n";
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in,
					  sizeof(in) - 1, &used, &cmd, &error),
			 IMAP_PARSE_LITERAL_STREAM);
	assert_true(cmd->stream_sync);
	assert_int_equal(cmd->stream_size, 10);
	imap_parser_stream_skip(p);
	size_t off = used;
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in + off,
					  sizeof(in) - 1 - off, &used, &cmd,
					  &error), IMAP_PARSE_DONE);
	assert_string_equal(cmd->tag, "b");

	/* Non-synchronising: its bytes and the rest of the line go. */
	static const char in2[] =
		"c APPEND nobox {5+}\r\nhello {2+}\r\nxy\r\nd NOOP\r\n";
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in2,
					  sizeof(in2) - 1, &used, &cmd,
					  &error), IMAP_PARSE_LITERAL_STREAM);
	assert_false(cmd->stream_sync);
	imap_parser_stream_skip(p);
	off = used;
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in2 + off,
					  sizeof(in2) - 1 - off, &used, &cmd,
					  &error), IMAP_PARSE_DONE);
	assert_string_equal(cmd->tag, "d");
	imap_parser_destroy(&p);
}

static void
test_parser_reset_and_auth(void **state)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_command *cmd;
	const char *error;
	size_t used;

	/* A partial command is dropped by reset (STARTTLS). */
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)"a STARTTLS x",
					  12, &used, &cmd, &error),
			 IMAP_PARSE_MORE);
	assert_false(imap_parser_is_idle(p));
	imap_parser_reset(p);
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)"b NOOP\r\n",
					  8, &used, &cmd, &error),
			 IMAP_PARSE_DONE);
	assert_string_equal(cmd->tag, "b");

	/* Authentication lifts the limits from the next command. */
	imap_parser_set_authenticated(p, true);
	static const char in[] = "c X {5000}\r\n";
	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in,
					  sizeof(in) - 1, &used, &cmd, &error),
			 IMAP_PARSE_LITERAL);
	imap_parser_destroy(&p);
}

static void
test_parser_arg_helpers(void **state)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_command *cmd;
	const char *error, *atom;
	const uint8_t *data;
	size_t used, len;
	const struct imap_arg *list;
	unsigned int count;
	static const char in[] = "a X NIL atom \"str\" {3+}\r\nlit (x)\r\n";

	assert_int_equal(imap_parser_feed(p, (const uint8_t *)in,
					  sizeof(in) - 1, &used, &cmd, &error),
			 IMAP_PARSE_DONE);
	assert_int_equal(cmd->args_count, 5);
	const struct imap_arg *a = cmd->args;
	assert_true(imap_arg_get_astring(&a[0], &data, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(data, "NIL", 3);
	assert_true(imap_arg_get_nstring(&a[0], &data, &len));
	assert_null(data);
	assert_false(imap_arg_get_string(&a[0], &data, &len));
	assert_true(imap_arg_get_atom(&a[1], &atom));
	assert_string_equal(atom, "atom");
	assert_true(imap_arg_atom_equals(&a[1], "ATOM"));
	assert_false(imap_arg_atom_equals(&a[2], "str"));
	assert_true(imap_arg_get_string(&a[2], &data, &len));
	assert_int_equal(len, 3);
	assert_true(imap_arg_get_astring(&a[3], &data, &len));
	assert_memory_equal(data, "lit", 3);
	assert_false(imap_arg_get_atom(&a[3], &atom));
	assert_true(imap_arg_get_list(&a[4], &list, &count));
	assert_int_equal(count, 1);
	assert_false(imap_arg_get_list(&a[3], &list, &count));
	imap_parser_destroy(&p);
}

/* Line mode: the trace of imap_parser_read_line over an input. */
static char *
run_lines(const uint8_t *in, size_t len, size_t chunk)
{
	struct imap_parser *p = imap_parser_create(NULL);
	struct str s = { 0 };
	uint8_t *pending = malloc(len + 1);
	size_t pending_len = 0, fed = 0;

	str_addz(&s, "");
	while (fed < len) {
		size_t n = len - fed < chunk ? len - fed : chunk;
		memcpy(pending + pending_len, in + fed, n);
		pending_len += n;
		fed += n;
		size_t pos = 0;
		for (;;) {
			const char *line, *error;
			size_t used, line_len;
			int ret = imap_parser_read_line(p, pending + pos,
							pending_len - pos,
							&used, &line,
							&line_len, &error);
			pos += used;
			if (ret == 0) {
				assert_int_equal(pos, pending_len);
				break;
			}
			if (ret < 0) {
				str_printf(&s, "ERR %s\n", error);
			} else {
				assert_int_equal(strlen(line), line_len);
				str_add_bytes(&s, (const uint8_t *)line,
					      line_len);
				str_addz(&s, "\n");
			}
		}
		memmove(pending, pending + pos, pending_len - pos);
		pending_len -= pos;
	}
	free(pending);
	imap_parser_destroy(&p);
	return s.s;
}

static void
test_parser_read_line(void **state)
{
	size_t len;
	char *big = make_input("", IMAP_MAX_LINE_PREAUTH + 1, 'q',
			       "\r\nDONE\r\n", &len);
	const struct {
		const char *in;
		size_t len;
		const char *expect;
	} cases[] = {
		{ "DONE\r\n", 6, "DONE\n" },
		{ "dXNlcgB1c2VyAHBhc3M=\r\n\r\n*\n", 26,
		  "dXNlcgB1c2VyAHBhc3M=\n\n*\n" },
		{ big, len, "ERR Line too long\nDONE\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t chunks[] = { cases[i].len, 1, 2, 7, 4096 };
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			char *got = run_lines((const uint8_t *)cases[i].in,
					      cases[i].len, chunks[k]);
			assert_string_equal(got, cases[i].expect);
			free(got);
		}
	}
	free(big);
}

/* ---- sequence sets ---- */

static char *
seqset_str(struct imap_seqset *set)
{
	struct str s = { 0 };
	unsigned int count;
	const struct imap_seq_range *r = imap_seqset_get_ranges(set, &count);

	str_addz(&s, "");
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			str_addz(&s, ",");
		if (r[i].first == r[i].last)
			str_printf(&s, "%u", r[i].first);
		else
			str_printf(&s, "%u:%u", r[i].first, r[i].last);
	}
	return s.s;
}

static void
test_seqset_parse(void **state)
{
	static const struct {
		const char *in;
		uint32_t max;
		const char *expect; /* NULL: error */
	} cases[] = {
		{ "1", 10, "1" },
		{ "1,3:5,7:*", 10, "1,3:5,7:10" },
		{ "5:3", 10, "3:5" },
		{ "*", 10, "10" },
		{ "*:5", 3, "3:5" },
		{ "5:*", 3, "3:5" },
		{ "1:*", 0, "1" },
		{ "*", 0, "" },
		{ "*:*", 7, "7" },
		{ "1:3,4:6,2,10,8:9", 0, "1:6,8:10" },
		{ "9,7,5,3,1,2,4,6,8", 0, "1:9" },
		{ "4294967295", 0, "4294967295" },
		{ "1:4294967295,5", 0, "1:4294967295" },
		{ "4294967294,4294967295,1", 0, "1,4294967294:4294967295" },
		{ "4294967296", 0, NULL },
		{ "0", 0, NULL },
		{ "01", 0, NULL },
		{ "1:0", 0, NULL },
		{ "+1", 0, NULL },
		{ "-1", 0, NULL },
		{ "1,", 0, NULL },
		{ ",1", 0, NULL },
		{ "1:", 0, NULL },
		{ ":1", 0, NULL },
		{ "1::2", 0, NULL },
		{ "1:2:3", 0, NULL },
		{ "", 0, NULL },
		{ "1,$", 0, NULL },
		{ "$$", 0, NULL },
		{ "a", 0, NULL },
		{ "1 2", 0, NULL },
		{ "**", 0, NULL },
		{ "99999999999999999999", 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_seqset *set = NULL;
		const char *error = NULL;
		int ret = imap_seqset_parse((const uint8_t *)cases[i].in,
					    strlen(cases[i].in), &set, &error);
		if (cases[i].expect == NULL) {
			if (ret != -1)
				fail_msg("%s: parsed", cases[i].in);
			assert_string_equal(error,
					    cases[i].in[0] == '\0' ?
					    "Empty sequence set" :
					    "Invalid sequence set");
			continue;
		}
		assert_int_equal(ret, 0);
		assert_false(imap_seqset_is_saved(set));
		imap_seqset_resolve(set, cases[i].max);
		assert_false(imap_seqset_has_star(set));
		char *got = seqset_str(set);
		if (strcmp(got, cases[i].expect) != 0)
			fail_msg("%s: got %s, want %s", cases[i].in, got,
				 cases[i].expect);
		free(got);
		imap_seqset_destroy(&set);
		assert_null(set);
	}

	struct imap_seqset *set;
	const char *error;
	assert_int_equal(imap_seqset_parse((const uint8_t *)"$", 1, &set,
					   &error), 0);
	assert_true(imap_seqset_is_saved(set));
	imap_seqset_destroy(&set);

	assert_int_equal(imap_seqset_parse((const uint8_t *)"2:4,*", 5, &set,
					   &error), 0);
	assert_true(imap_seqset_has_star(set));
	imap_seqset_destroy(&set);
}

static void
test_seqset_query(void **state)
{
	struct imap_seqset *set;
	const char *error;
	static const char in[] = "1:3,7,4294967294:*";

	assert_int_equal(imap_seqset_parse((const uint8_t *)in,
					   sizeof(in) - 1, &set, &error), 0);
	imap_seqset_resolve(set, UINT32_MAX);
	assert_int_equal(imap_seqset_count(set), 6);
	assert_true(imap_seqset_contains(set, 1));
	assert_true(imap_seqset_contains(set, 3));
	assert_false(imap_seqset_contains(set, 4));
	assert_true(imap_seqset_contains(set, 7));
	assert_false(imap_seqset_contains(set, 0));
	assert_true(imap_seqset_contains(set, UINT32_MAX));
	assert_int_equal(imap_seqset_last(set), UINT32_MAX);

	/* Iteration ends at UINT32_MAX without wrapping. */
	struct imap_seqset_iter it;
	uint32_t n, seen[8];
	unsigned int k = 0;
	imap_seqset_iter_init(&it, set);
	while (imap_seqset_iter_next(&it, &n)) {
		assert_true(k < 8);
		seen[k++] = n;
	}
	assert_int_equal(k, 6);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[3], 7);
	assert_int_equal(seen[5], UINT32_MAX);
	imap_seqset_destroy(&set);

	/* The whole range is one range. */
	assert_int_equal(imap_seqset_parse((const uint8_t *)"1:*", 3, &set,
					   &error), 0);
	imap_seqset_resolve(set, UINT32_MAX);
	assert_int_equal(imap_seqset_count(set), UINT32_MAX);
	unsigned int count;
	(void)imap_seqset_get_ranges(set, &count);
	assert_int_equal(count, 1);
	imap_seqset_destroy(&set);

	/* Empty set. */
	set = imap_seqset_create();
	assert_int_equal(imap_seqset_count(set), 0);
	assert_int_equal(imap_seqset_last(set), 0);
	imap_seqset_iter_init(&it, set);
	assert_false(imap_seqset_iter_next(&it, &n));
	imap_seqset_destroy(&set);
}

/* Random ranges over a small universe, checked against a bitmap. */
static void
test_seqset_random(void **state)
{
	srand(1234);
	for (int round = 0; round < 500; round++) {
		struct imap_seqset *set = imap_seqset_create();
		bool bits[66] = { false };

		int nr = rand() % 10;
		for (int i = 0; i < nr; i++) {
			uint32_t a = 1 + (uint32_t)(rand() % 64);
			uint32_t b = 1 + (uint32_t)(rand() % 64);
			imap_seqset_add_range(set, a, b);
			for (uint32_t x = a < b ? a : b; x <= (a < b ? b : a);
			     x++)
				bits[x] = true;
		}
		uint64_t total = 0;
		for (uint32_t x = 0; x < 66; x++) {
			assert_int_equal(imap_seqset_contains(set, x), bits[x]);
			total += bits[x];
		}
		assert_int_equal(imap_seqset_count(set), total);
		unsigned int count;
		const struct imap_seq_range *r =
			imap_seqset_get_ranges(set, &count);
		for (unsigned int i = 1; i < count; i++) {
			/* Sorted, disjoint and not adjacent. */
			assert_true(r[i].first > r[i - 1].last + 1);
		}
		imap_seqset_destroy(&set);
	}
}

/* ---- dates ---- */

static void
test_date_parse(void **state)
{
	static const struct {
		const char *in;
		int ret;
		time_t t;
	} cases[] = {
		{ "1-Feb-1994", 0, 760060800 },
		{ "01-feb-1994", 0, 760060800 },
		{ "01-FEB-1994", 0, 760060800 },
		{ "29-Feb-1996", 0, 825552000 },
		{ "1-Jan-0001", 0, -62135596800 },
		{ "29-Feb-1995", -1, 0 },
		{ "31-Apr-2000", -1, 0 },
		{ "0-Feb-1994", -1, 0 },
		{ "32-Jan-1994", -1, 0 },
		{ "1-Foo-1994", -1, 0 },
		{ "001-Feb-1994", -1, 0 },
		{ "1-Feb-94", -1, 0 },
		{ "1-Feb-0000", -1, 0 },
		{ "1 Feb 1994", -1, 0 },
		{ "", -1, 0 },
		{ "+1-Feb-1994", -1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 0;
		int ret = imap_date_parse((const uint8_t *)cases[i].in,
					  strlen(cases[i].in), &t);
		if (ret != cases[i].ret)
			fail_msg("%s: ret %d", cases[i].in, ret);
		if (ret == 0)
			assert_true(t == cases[i].t);
	}
}

static void
test_datetime(void **state)
{
	static const struct {
		const char *in;
		int ret;
		time_t t;
		int tz;
	} cases[] = {
		{ "01-Feb-1994 21:52:25 -0800", 0, 760168345, -480 },
		{ " 1-Feb-1994 21:52:25 -0800", 0, 760168345, -480 },
		{ "02-Feb-1994 05:52:25 +0000", 0, 760168345, 0 },
		{ "02-Feb-1994 11:22:25 +0530", 0, 760168345, 330 },
		{ "1-Feb-1994 21:52:25 -0800", -1, 0, 0 },
		{ "01-Feb-1994 24:00:00 +0000", -1, 0, 0 },
		{ "01-Feb-1994 21:60:00 +0000", -1, 0, 0 },
		{ "01-Feb-1994 21:52:25 0800", -1, 0, 0 },
		{ "01-Feb-1994 21:52:25 +0860", -1, 0, 0 },
		{ "01-Feb-1994 21:52:25 +08000", -1, 0, 0 },
		{ "30-Feb-1994 21:52:25 +0000", -1, 0, 0 },
		{ "01-Feb-1994T21:52:25 +0000", -1, 0, 0 },
		{ "01-Feb-1994 21-52-25 +0000", -1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 0;
		int tz = 12345;
		int ret = imap_datetime_parse((const uint8_t *)cases[i].in,
					      strlen(cases[i].in), &t, &tz);
		if (ret != cases[i].ret)
			fail_msg("%s: ret %d", cases[i].in, ret);
		if (ret == 0) {
			assert_true(t == cases[i].t);
			assert_int_equal(tz, cases[i].tz);
			/* Formatting gives it back (zero-padded day). */
			char buf[IMAP_DATETIME_BUFSIZE];
			imap_datetime_format(t, tz, buf);
			if (cases[i].in[0] == ' ') {
				assert_string_equal(buf + 1, cases[i].in + 1);
				assert_int_equal(buf[0], '0');
			} else {
				assert_string_equal(buf, cases[i].in);
			}
		}
	}

	char buf[IMAP_DATETIME_BUFSIZE];
	imap_datetime_format(0, 0, buf);
	assert_string_equal(buf, "01-Jan-1970 00:00:00 +0000");
	imap_datetime_format(-1, 0, buf);
	assert_string_equal(buf, "31-Dec-1969 23:59:59 +0000");
	imap_datetime_format(0, -60, buf);
	assert_string_equal(buf, "31-Dec-1969 23:00:00 -0100");
	imap_datetime_format((time_t)253402300799 + 10, 0, buf);
	assert_string_equal(buf, "31-Dec-9999 23:59:59 +0000");
	assert_int_equal(strlen(buf), IMAP_DATETIME_BUFSIZE - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_table),
		cmocka_unit_test(test_parser_limits),
		cmocka_unit_test(test_parser_nesting_and_args),
		cmocka_unit_test(test_parser_refuse_before_bytes),
		cmocka_unit_test(test_parser_stream_skip),
		cmocka_unit_test(test_parser_reset_and_auth),
		cmocka_unit_test(test_parser_arg_helpers),
		cmocka_unit_test(test_parser_read_line),
		cmocka_unit_test(test_seqset_parse),
		cmocka_unit_test(test_seqset_query),
		cmocka_unit_test(test_seqset_random),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_datetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
