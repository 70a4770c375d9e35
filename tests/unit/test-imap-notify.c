/* Unit tests for the NOTIFY argument parser (src/imap/imap-notify-parse.c):
   table-driven cases, each command line fed through the command parser
   whole, split at every offset and a byte at a time, all giving the same
   spec or the same error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-fetch.h"
#include "imap/imap-notify.h"
#include "imap/imap-parser.h"
#include "lib/limits.h"

/* The spec as text: "none", or "[status] filter:events[:names] ..." with
   events as hex bits and "+fetch=N" for MessageNew's attributes. */
static void
describe(const struct imap_notify_spec *spec, char *out, size_t size)
{
	size_t len = 0;

#define ADD(...) do { \
		int n_ = snprintf(out + len, size - len, __VA_ARGS__); \
		assert_true(n_ >= 0 && (size_t)n_ < size - len); \
		len += (size_t)n_; \
	} while (0)
	out[0] = '\0';
	if (spec->none) {
		ADD("none");
		return;
	}
	if (spec->status)
		ADD("status ");
	for (unsigned i = 0; i < spec->group_count; i++) {
		const struct imap_notify_group *g = &spec->groups[i];

		ADD("%s%d:%02x", i == 0 ? "" : " ", (int)g->filter, g->events);
		for (unsigned j = 0; j < g->name_count; j++)
			ADD("%s%s", j == 0 ? ":" : ",", g->names[j]);
	}
	if (spec->fetch != NULL)
		ADD(" +fetch=%u", spec->fetch->count);
	ADD(" sel=%d", spec->selected);
#undef ADD
}

/* Parses line (a whole command with CRLF) fed in chunks of `chunk` bytes
   (0 = at once, or split once at `split`), then its NOTIFY arguments.
   Writes "OK <spec>", "BAD <error>" or "BADEVENT <error>" to out. */
static void
run(const char *line, size_t chunk, size_t split, char *out, size_t size)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	const char *error;
	size_t len = strlen(line), pos = 0, used;
	enum imap_parse_result ret = IMAP_PARSE_MORE;

	imap_parser_set_authenticated(p, true);
	while (pos < len) {
		size_t n = len - pos;

		if (chunk > 0 && n > chunk)
			n = chunk;
		if (chunk == 0 && split > 0 && pos < split)
			n = split - pos;
		ret = imap_parser_feed(p, (const uint8_t *)line + pos, n,
				       &used, &cmd, &error);
		pos += used;
		if (ret == IMAP_PARSE_DONE || ret == IMAP_PARSE_ERROR)
			break;
		if (ret == IMAP_PARSE_MORE)
			assert_int_equal(used, n);
	}
	if (ret != IMAP_PARSE_DONE) {
		snprintf(out, size, "PARSER %s", ret == IMAP_PARSE_ERROR ?
			 error : "incomplete");
		imap_parser_destroy(&p);
		return;
	}
	struct imap_notify_spec *spec;
	char desc[8192];

	switch (imap_notify_parse(cmd->args, cmd->args_count, &spec,
				  &error)) {
	case IMAP_NOTIFY_PARSE_OK:
		assert_non_null(spec);
		describe(spec, desc, sizeof(desc));
		snprintf(out, size, "OK %s", desc);
		imap_notify_spec_free(&spec);
		assert_null(spec);
		break;
	case IMAP_NOTIFY_PARSE_BAD:
		assert_null(spec);
		snprintf(out, size, "BAD %s", error);
		break;
	case IMAP_NOTIFY_PARSE_BADEVENT:
		assert_null(spec);
		snprintf(out, size, "BADEVENT %s", error);
		break;
	}
	imap_parser_destroy(&p);
}

static const struct {
	const char *args;
	const char *want;
} cases[] = {
	{ "NONE", "OK none" },
	{ "none", "OK none" },
	{ "SET (SELECTED (MessageNew MessageExpunge))", "OK 0:03 sel=0" },
	{ "SET STATUS (INBOXES (MessageNew MessageExpunge)) "
	  "(PERSONAL (MailboxName SubscriptionChange))",
	  "OK status 2:03 3:30 sel=-1" },
	{ "set (selected-delayed (messagenew (uid flags envelope) "
	  "messageexpunge flagchange annotationchange))",
	  "OK 1:0f +fetch=3 sel=0" },
	{ "SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS "
	  "(Subject)]) MessageExpunge)) (SUBTREE Lists (MessageNew "
	  "MessageExpunge))", "OK 0:03 5:03:Lists +fetch=2 sel=0" },
	{ "SET (MAILBOXES (INBOX \"a b\" {1+}\r\nc) (MessageNew "
	  "MessageExpunge))", "OK 6:03:INBOX,a b,c sel=-1" },
	{ "SET (SUBSCRIBED NONE) (SELECTED NONE)", "OK 4:00 0:00 sel=1" },
	/* Errors. */
	{ "", "BAD NOTIFY takes SET or NONE." },
	{ "FOO", "BAD NOTIFY takes SET or NONE." },
	{ "NONE x", "BAD NOTIFY NONE takes no arguments." },
	{ "SET", "BAD NOTIFY SET needs at least one event group." },
	{ "SET STATUS", "BAD NOTIFY SET needs at least one event group." },
	{ "SET PERSONAL", "BAD Invalid event group." },
	{ "SET ()", "BAD Invalid event group." },
	{ "SET (PERSONAL)", "BAD Invalid event group." },
	{ "SET (PERSONAL (MailboxName) x)", "BAD Invalid event group." },
	{ "SET (ELSEWHERE (MailboxName))", "BAD Unknown mailbox specifier." },
	{ "SET (SUBTREE (MailboxName))", "BAD Invalid event group." },
	{ "SET (SUBTREE () (MailboxName))", "BAD Empty mailbox list." },
	{ "SET (MAILBOXES \"\" (MailboxName))", "BAD Invalid mailbox name." },
	{ "SET (PERSONAL ())", "BAD Invalid event list." },
	{ "SET (PERSONAL NIL)", "BAD Invalid event list." },
	{ "SET (PERSONAL (\"MailboxName\"))", "BAD Invalid event." },
	/* Any set of events, though RFC 5465 5 asks for pairs: its own
	   example in section 3 does not. */
	{ "SET (PERSONAL (MessageNew))", "OK 3:01 sel=-1" },
	{ "SET (PERSONAL (MessageExpunge))", "OK 3:02 sel=-1" },
	{ "SET (PERSONAL (FlagChange MailboxName))", "OK 3:14 sel=-1" },
	{ "SET (SELECTED (MessageNew MessageExpunge MailboxName))",
	  "BAD SELECTED takes only message events." },
	{ "SET (SELECTED NONE) (SELECTED-DELAYED NONE)",
	  "BAD Only one of SELECTED and SELECTED-DELAYED." },
	{ "SET (PERSONAL (MessageNew (UID) MessageExpunge))",
	  "BAD FETCH attributes are allowed only with SELECTED." },
	{ "SET (SELECTED (MessageNew () MessageExpunge))",
	  "BAD Invalid MessageNew attributes." },
	{ "SET (SELECTED (MessageNew (UID) MessageNew (UID) "
	  "MessageExpunge))", "BAD Invalid MessageNew attributes." },
	{ "SET (SELECTED (MessageNew (BODY[]) MessageExpunge))",
	  "BAD MessageNew attributes must not set \\Seen (use BODY.PEEK)." },
	{ "SET (SELECTED (MessageNew (NOSUCHITEM) MessageExpunge))",
	  "BAD Unknown FETCH item." },
	{ "SET (PERSONAL (Bogus))", "BADEVENT Unsupported event." },
	{ "SET (PERSONAL (MailboxMetadataChange ServerMetadataChange))",
	  "BADEVENT Unsupported event." },
	/* A malformed group anywhere makes it BAD, not BADEVENT. */
	{ "SET (PERSONAL (Bogus)) (PERSONAL)", "BAD Invalid event group." },
	{ "SET (PERSONAL (Bogus MessageNew))",
	  "BADEVENT Unsupported event." },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[1024], whole[1024], got[1024];
		size_t len;

		snprintf(line, sizeof(line), "a NOTIFY%s%s\r\n",
			 cases[i].args[0] != '\0' ? " " : "", cases[i].args);
		len = strlen(line);
		run(line, 0, 0, whole, sizeof(whole));
		if (strncmp(whole, cases[i].want, strlen(cases[i].want)) != 0) {
			print_error("case %zu: %s\n got  %s\n want %s\n", i,
				    line, whole, cases[i].want);
			fail();
		}
		/* Split anywhere, and a byte at a time: the same. */
		for (size_t split = 1; split < len; split++) {
			run(line, 0, split, got, sizeof(got));
			assert_string_equal(got, whole);
		}
		run(line, 1, 0, got, sizeof(got));
		assert_string_equal(got, whole);
	}
}

static void
test_limits(void **state)
{
	char *line = malloc(64 * 1024);
	char got[8192];
	size_t len = 0;

	(void)state;
	assert_non_null(line);
	/* IMAP_NOTIFY_MAX_GROUPS groups are fine, one more is not. */
	for (int extra = 0; extra <= 1; extra++) {
		len = (size_t)snprintf(line, 64, "a NOTIFY SET");
		for (int i = 0; i < IMAP_NOTIFY_MAX_GROUPS + extra; i++)
			len += (size_t)snprintf(line + len, 64,
						" (PERSONAL NONE)");
		snprintf(line + len, 8, "\r\n");
		run(line, 0, 0, got, sizeof(got));
		assert_string_equal(got, extra == 0 ?
				    "OK 3:00 3:00 3:00 3:00 3:00 3:00 3:00 "
				    "3:00 3:00 3:00 3:00 3:00 3:00 3:00 3:00 "
				    "3:00 3:00 3:00 3:00 3:00 3:00 3:00 3:00 "
				    "3:00 3:00 3:00 3:00 3:00 3:00 3:00 3:00 "
				    "3:00 sel=-1" :
				    "BAD Too many event groups.");
	}
	/* IMAP_NOTIFY_MAX_NAMES names over all groups. */
	for (int extra = 0; extra <= 1; extra++) {
		len = (size_t)snprintf(line, 64, "a NOTIFY SET (MAILBOXES (");
		for (int i = 0; i < IMAP_NOTIFY_MAX_NAMES - 2; i++)
			len += (size_t)snprintf(line + len, 64, "m%d ", i);
		len += (size_t)snprintf(line + len, 64,
					"last) NONE) (SUBTREE (x%s) NONE)\r\n",
					extra ? " y" : "");
		run(line, 0, 0, got, sizeof(got));
		if (extra)
			assert_string_equal(got, "BAD Too many mailbox names.");
		else if (strncmp(got, "OK 6:00:m0,m1,", 14) != 0)
			fail_msg("%s", got);
	}
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
