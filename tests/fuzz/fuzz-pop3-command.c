/* libFuzzer target: a POP3 command line (without CRLF) through the pure
   parsers the session runs on every line: pop3_command_parse(), then
   pop3_command_allowed() and pop3_command_check_args() against a
   maildrop whose size and deleted messages the first input byte picks.
   The line itself starts at the second byte. Checks the contract of
   pop3-private.h: arguments lie inside the line, are NUL-terminated in
   place and hold no space (except PASS's rest of line), counts match the
   command's shape, a resolved message number is in range and not
   deleted. pop3_msgnum_parse() is also checked against a plain reference
   on the raw bytes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference for pop3_msgnum_parse: digits only, 1..count. Leading zeros
   are digits too, but str_to_u64() takes at most 20 digits (the longest
   uint64_t) without looking at their value, so "000...01" beyond that
   is refused; no client writes numbers that way. */
static bool
ref_msgnum(const uint8_t *p, size_t len, unsigned count, unsigned *idx_r)
{
	unsigned long long v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
		if (v > count)
			return false;
	}
	if (v == 0)
		return false;
	*idx_r = (unsigned)(v - 1);
	return true;
}

static void
check_args(const char *line, size_t len, const struct pop3_command *cmd)
{
	unsigned shape = cmd->def->flags & POP3_ARGS_MASK;

	assert(cmd->argc <= POP3_MAX_ARGS);
	for (unsigned i = 0; i < cmd->argc; i++) {
		const char *a = cmd->args[i];
		size_t alen = cmd->arg_lens[i];

		assert(a >= line && a + alen <= line + len);
		assert(a[alen] == '\0');
		assert(alen > 0);
		assert(memchr(a, '\0', alen) == NULL);
		if (shape != POP3_ARGS_REST)
			assert(memchr(a, ' ', alen) == NULL);
	}
	switch (shape) {
	case POP3_ARGS_NONE:
		assert(cmd->argc == 0);
		break;
	case POP3_ARGS_ONE:
	case POP3_ARGS_MSG:
	case POP3_ARGS_REST:
		assert(cmd->argc == 1);
		break;
	case POP3_ARGS_TWO:
	case POP3_ARGS_MSG_LINES:
		assert(cmd->argc == 2);
		break;
	case POP3_ARGS_OPT_MSG:
		assert(cmd->argc <= 1);
		break;
	case POP3_ARGS_ZERO_TO_TWO:
		break;
	default:
		assert(!"unknown argument shape");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_command cmd;
	const char *error = NULL;
	unsigned count, idx, ref_idx;
	bool *deleted;

	if (size == 0)
		return 0;
	/* maildrop: 0..31 messages; bits 5-7 pick which are deleted */
	count = data[0] & 0x1f;
	deleted = calloc(count == 0 ? 1 : count, sizeof(*deleted));
	assert(deleted != NULL);
	for (unsigned i = 0; i < count; i++)
		deleted[i] = ((data[0] >> 5) & ((i % 3) + 1)) != 0 && i % 2;
	data++;
	size--;

	/* The session's copy: exactly size bytes and its NUL. */
	char *line = malloc(size + 1);

	assert(line != NULL);
	memcpy(line, data, size);
	line[size] = '\0';

	enum pop3_parse_result res = pop3_command_parse(line, size, &cmd,
							&error);
	if (res == POP3_PARSE_OK) {
		check_args(line, size, &cmd);
		(void)pop3_command_allowed(cmd.def,
					   POP3_STATE_AUTHORIZATION);
		(void)pop3_command_allowed(cmd.def, POP3_STATE_TRANSACTION);
		int ret = pop3_command_check_args(&cmd, count, deleted,
						  &error);
		if (ret > 0 && cmd.has_msg) {
			assert(cmd.msg_idx < count);
			assert(!deleted[cmd.msg_idx]);
		}
		if (ret <= 0)
			assert(error != NULL && error[0] != '\0');
		if (ret > 0 && (cmd.def->flags & POP3_ARGS_MASK) ==
		    POP3_ARGS_MSG)
			assert(cmd.has_msg);
	} else {
		assert(res == POP3_PARSE_UNKNOWN || res == POP3_PARSE_ERROR);
		assert(error != NULL && error[0] != '\0');
	}

	/* The whole line as a message number, against the reference. */
	bool ok = pop3_msgnum_parse((const char *)data, size, count,
				    &idx) == 0;
	bool ref_ok = ref_msgnum(data, size, count, &ref_idx);

	assert(ok == ref_ok);
	if (ok)
		assert(idx == ref_idx);

	/* Command lookup on the raw bytes (not NUL-terminated). */
	const struct pop3_command_def *def =
		pop3_command_find((const char *)data, size);
	if (def != NULL)
		assert(strlen(def->name) == size);

	free(line);
	free(deleted);
	return 0;
}
