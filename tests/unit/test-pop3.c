/* Unit tests for the pure parts of src/pop3: the command table, command
   line parsing, message numbers and their checks against the maildrop,
   and the CAPA text. The protocol over sockets is in test-pop3-session.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3-private.h"

/* ---- command lookup ---------------------------------------------------- */

static void
test_command_find(void **state)
{
	static const struct {
		const char *name;
		const char *found; /* NULL: unknown */
	} cases[] = {
		{ "CAPA", "CAPA" }, { "capa", "CAPA" }, { "Retr", "RETR" },
		{ "TOP", "TOP" },   { "top", "TOP" },	{ "TOPX", NULL },
		{ "TO", NULL },	    { "", NULL },	{ "XTND", NULL },
		{ "STLS", "STLS" }, { "uidl", "UIDL" }, { "APOP", "APOP" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pop3_command_def *def =
			pop3_command_find(cases[i].name,
					  strlen(cases[i].name));

		if (cases[i].found == NULL) {
			assert_null(def);
		} else {
			assert_non_null(def);
			assert_string_equal(def->name, cases[i].found);
		}
	}
	/* Every table entry is found by its own name and has a handler. */
	for (unsigned i = 0; i < pop3_commands_count; i++) {
		const char *name = pop3_commands[i].name;

		assert_ptr_equal(pop3_command_find(name, strlen(name)),
				 &pop3_commands[i]);
		assert_non_null(pop3_commands[i].handler);
	}
}

/* ---- command line parsing --------------------------------------------- */

struct parse_case {
	const char *line;
	size_t len; /* 0: strlen(line) */
	enum pop3_parse_result result;
	const char *name;
	unsigned argc;
	const char *arg0, *arg1;
	const char *error;
};

static const struct parse_case parse_cases[] = {
	{ "QUIT", 0, POP3_PARSE_OK, "QUIT", 0, NULL, NULL, NULL },
	{ "quit", 0, POP3_PARSE_OK, "QUIT", 0, NULL, NULL, NULL },
	{ "QUIT ", 0, POP3_PARSE_OK, "QUIT", 0, NULL, NULL, NULL },
	{ "QUIT now", 0, POP3_PARSE_ERROR, "QUIT", 0, NULL, NULL,
	  "No arguments allowed" },
	{ "", 0, POP3_PARSE_UNKNOWN, NULL, 0, NULL, NULL, "Unknown command" },
	{ " QUIT", 0, POP3_PARSE_UNKNOWN, NULL, 0, NULL, NULL,
	  "Unknown command" },
	{ "FOO bar", 0, POP3_PARSE_UNKNOWN, NULL, 0, NULL, NULL,
	  "Unknown command" },
	{ "QUITX", 0, POP3_PARSE_UNKNOWN, NULL, 0, NULL, NULL,
	  "Unknown command" },
	{ "NO\0OP", 5, POP3_PARSE_UNKNOWN, NULL, 0, NULL, NULL,
	  "Invalid command" },
	{ "LIST", 0, POP3_PARSE_OK, "LIST", 0, NULL, NULL, NULL },
	{ "LIST 1", 0, POP3_PARSE_OK, "LIST", 1, "1", NULL, NULL },
	{ "list  12 ", 0, POP3_PARSE_OK, "LIST", 1, "12", NULL, NULL },
	{ "LIST 1 2", 0, POP3_PARSE_ERROR, "LIST", 0, NULL, NULL,
	  "Too many arguments" },
	{ "RETR", 0, POP3_PARSE_ERROR, "RETR", 0, NULL, NULL,
	  "Missing argument" },
	{ "RETR 3", 0, POP3_PARSE_OK, "RETR", 1, "3", NULL, NULL },
	{ "RETR 1 2 3", 0, POP3_PARSE_ERROR, "RETR", 0, NULL, NULL,
	  "Too many arguments" },
	{ "TOP 1 10", 0, POP3_PARSE_OK, "TOP", 2, "1", "10", NULL },
	{ "TOP 1", 0, POP3_PARSE_ERROR, "TOP", 0, NULL, NULL,
	  "Missing argument" },
	{ "PASS secret with spaces", 0, POP3_PARSE_OK, "PASS", 1,
	  "secret with spaces", NULL, NULL },
	{ "PASS  lead", 0, POP3_PARSE_OK, "PASS", 1, " lead", NULL, NULL },
	{ "PASS ", 0, POP3_PARSE_ERROR, "PASS", 0, NULL, NULL,
	  "Missing argument" },
	{ "PASS", 0, POP3_PARSE_ERROR, "PASS", 0, NULL, NULL,
	  "Missing argument" },
	{ "USER alice", 0, POP3_PARSE_OK, "USER", 1, "alice", NULL, NULL },
	{ "USER  alice", 0, POP3_PARSE_OK, "USER", 1, "alice", NULL, NULL },
	{ "USER a b", 0, POP3_PARSE_ERROR, "USER", 0, NULL, NULL,
	  "Too many arguments" },
	{ "AUTH", 0, POP3_PARSE_OK, "AUTH", 0, NULL, NULL, NULL },
	{ "AUTH PLAIN", 0, POP3_PARSE_OK, "AUTH", 1, "PLAIN", NULL, NULL },
	{ "AUTH PLAIN =", 0, POP3_PARSE_OK, "AUTH", 2, "PLAIN", "=", NULL },
	{ "AUTH PLAIN a b", 0, POP3_PARSE_ERROR, "AUTH", 0, NULL, NULL,
	  "Too many arguments" },
	{ "APOP bob 0123", 0, POP3_PARSE_OK, "APOP", 2, "bob", "0123", NULL },
	{ "APOP bob", 0, POP3_PARSE_ERROR, "APOP", 0, NULL, NULL,
	  "Missing argument" },
};

static void
test_command_parse(void **state)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->line);
		char *line = malloc(len + 1);
		struct pop3_command cmd;
		const char *error = NULL;
		enum pop3_parse_result ret;

		assert_non_null(line);
		memcpy(line, c->line, len);
		line[len] = '\0';
		ret = pop3_command_parse(line, len, &cmd, &error);
		if (ret != c->result)
			fail_msg("case %zu \"%s\": result %d, expected %d", i,
				 c->line, ret, c->result);
		if (c->result != POP3_PARSE_OK) {
			assert_non_null(error);
			assert_string_equal(error, c->error);
		}
		if (c->name != NULL && c->result != POP3_PARSE_UNKNOWN) {
			assert_non_null(cmd.def);
			assert_string_equal(cmd.def->name, c->name);
		}
		if (c->result == POP3_PARSE_OK) {
			assert_int_equal(cmd.argc, c->argc);
			if (c->argc > 0) {
				assert_string_equal(cmd.args[0], c->arg0);
				assert_int_equal(cmd.arg_lens[0],
						 strlen(c->arg0));
			}
			if (c->argc > 1) {
				assert_string_equal(cmd.args[1], c->arg1);
				assert_int_equal(cmd.arg_lens[1],
						 strlen(c->arg1));
			}
		}
		free(line);
	}
}

static void
test_command_allowed(void **state)
{
	static const struct {
		const char *name;
		bool authorization, transaction;
	} cases[] = {
		{ "CAPA", true, true },	  { "QUIT", true, true },
		{ "USER", true, false },  { "PASS", true, false },
		{ "APOP", true, false },  { "AUTH", true, false },
		{ "STLS", true, false },  { "NOOP", false, true },
		{ "STAT", false, true },  { "LIST", false, true },
		{ "UIDL", false, true },  { "RETR", false, true },
		{ "TOP", false, true },	  { "DELE", false, true },
		{ "RSET", false, true },
	};

	assert_int_equal(pop3_commands_count,
			 sizeof(cases) / sizeof(cases[0]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pop3_command_def *def =
			pop3_command_find(cases[i].name,
					  strlen(cases[i].name));

		assert_non_null(def);
		assert_int_equal(pop3_command_allowed(
				 def, POP3_STATE_AUTHORIZATION),
				 cases[i].authorization);
		assert_int_equal(pop3_command_allowed(
				 def, POP3_STATE_TRANSACTION),
				 cases[i].transaction);
	}
}

/* ---- message numbers --------------------------------------------------- */

static void
test_msgnum_parse(void **state)
{
	static const struct {
		const char *arg;
		unsigned count;
		int ret;
		unsigned idx;
	} cases[] = {
		{ "1", 5, 0, 0 },
		{ "5", 5, 0, 4 },
		{ "01", 5, 0, 0 },
		{ "6", 5, -1, 0 },
		{ "0", 5, -1, 0 },
		{ "+1", 5, -1, 0 },
		{ "-1", 5, -1, 0 },
		{ "1x", 5, -1, 0 },
		{ " 1", 5, -1, 0 },
		{ "1 ", 5, -1, 0 },
		{ "", 5, -1, 0 },
		{ "0x1", 5, -1, 0 },
		{ "1", 0, -1, 0 },
		{ "0", 0, -1, 0 },
		{ "4294967295", 4294967295u, 0, 4294967294u },
		{ "4294967296", 4294967295u, -1, 0 },
		{ "9", 5, -1, 0 },
		{ "19", 5, -1, 0 },
		{ "10", 9, -1, 0 },
		{ "99999999999999999999999", 5, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned idx = 12345;
		int ret = pop3_msgnum_parse(cases[i].arg,
					    strlen(cases[i].arg),
					    cases[i].count, &idx);

		if (ret != cases[i].ret)
			fail_msg("case \"%s\" count %u: %d", cases[i].arg,
				 cases[i].count, ret);
		assert_int_equal(idx, ret == 0 ? cases[i].idx : 12345);
	}
}

static void
test_check_args(void **state)
{
	static const bool deleted[3] = { false, true, false };
	static const struct {
		const char *line;
		int ret;
		bool has_msg;
		unsigned idx;
		uint64_t lines;
		const char *error;
	} cases[] = {
		{ "STAT", 1, false, 0, 0, NULL },
		{ "LIST", 1, false, 0, 0, NULL },
		{ "LIST 1", 1, true, 0, 0, NULL },
		{ "LIST 2", 0, false, 0, 0, "Message is deleted" },
		{ "LIST 4", -1, false, 0, 0, "No such message" },
		{ "UIDL 3", 1, true, 2, 0, NULL },
		{ "RETR 0", -1, false, 0, 0, "No such message" },
		{ "RETR +1", -1, false, 0, 0, "No such message" },
		{ "RETR 1x", -1, false, 0, 0, "No such message" },
		{ "RETR 3", 1, true, 2, 0, NULL },
		{ "DELE 2", 0, false, 0, 0, "Message is deleted" },
		{ "TOP 1 0", 1, true, 0, 0, NULL },
		{ "TOP 3 25", 1, true, 2, 25, NULL },
		{ "TOP 1 -1", -1, false, 0, 0, "Invalid number of lines" },
		{ "TOP 1 x", -1, false, 0, 0, "Invalid number of lines" },
		{ "TOP 2 5", 0, false, 0, 0, "Message is deleted" },
		{ "TOP 9 5", -1, false, 0, 0, "No such message" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[64];
		struct pop3_command cmd;
		const char *error = NULL;
		int ret;

		snprintf(line, sizeof(line), "%s", cases[i].line);
		assert_int_equal(pop3_command_parse(line, strlen(line), &cmd,
						    &error), POP3_PARSE_OK);
		ret = pop3_command_check_args(&cmd, 3, deleted, &error);
		if (ret != cases[i].ret)
			fail_msg("case \"%s\": %d", cases[i].line, ret);
		if (ret <= 0) {
			assert_string_equal(error, cases[i].error);
			continue;
		}
		assert_int_equal(cmd.has_msg, cases[i].has_msg);
		if (cmd.has_msg)
			assert_int_equal(cmd.msg_idx, cases[i].idx);
		assert_int_equal(cmd.lines, cases[i].lines);
	}
}

/* ---- CAPA -------------------------------------------------------------- */

static void
test_capa(void **state)
{
	static const char *const mechs[] = { "SCRAM-SHA-256", "PLAIN",
					     "LOGIN", NULL };
	static const char *const no_mechs[] = { NULL };
	static const struct {
		struct pop3_capa_params params;
		const char *text;
	} cases[] = {
		{ { false, true, true, mechs, -1, "quire 0.1" },
		  "+OK Capability list follows\r\n"
		  "TOP\r\nUSER\r\nSASL SCRAM-SHA-256 PLAIN LOGIN\r\n"
		  "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n"
		  "STLS\r\nEXPIRE NEVER\r\nLOGIN-DELAY 0\r\n"
		  "IMPLEMENTATION quire 0.1\r\n.\r\n" },
		/* Not secure, plaintext refused: no USER, no STLS. */
		{ { false, false, false, mechs + 2, 30, NULL },
		  "+OK Capability list follows\r\n"
		  "TOP\r\nSASL LOGIN\r\n"
		  "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n"
		  "EXPIRE 30\r\nLOGIN-DELAY 0\r\n.\r\n" },
		{ { false, false, false, no_mechs, 0, NULL },
		  "+OK Capability list follows\r\n"
		  "TOP\r\n"
		  "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n"
		  "EXPIRE 0\r\nLOGIN-DELAY 0\r\n.\r\n" },
		/* After login: USER stays, SASL and STLS go. */
		{ { true, false, true, mechs, 7, "quire 0.1" },
		  "+OK Capability list follows\r\n"
		  "TOP\r\nUSER\r\n"
		  "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n"
		  "EXPIRE 7\r\nLOGIN-DELAY 0\r\n"
		  "IMPLEMENTATION quire 0.1\r\n.\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = pop3_capa_format(&cases[i].params);

		assert_string_equal(text, cases[i].text);
		free(text);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_find),
		cmocka_unit_test(test_command_parse),
		cmocka_unit_test(test_command_allowed),
		cmocka_unit_test(test_msgnum_parse),
		cmocka_unit_test(test_check_args),
		cmocka_unit_test(test_capa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
