/* THREAD / UID THREAD (RFC 5256 3): "THREAD algorithm charset keys". */
#include "imap/cmd-sort.h"

#include "imap/imap-commands.h"
#include "lib/buf.h"
#include "search/search-program.h"
#include "search/thread.h"

bool
cmd_thread(struct imap_cmd *cmd)
{
	enum thread_algorithm alg;
	struct search_program *prog;
	struct sort_message **msgs;
	unsigned int count;
	const char *name, *error;
	struct buf out;

	if (cmd->args_count < 1 || !imap_arg_get_atom(&cmd->args[0], &name)) {
		imap_cmd_bad(cmd, "Missing threading algorithm.");
		return true;
	}
	if (thread_algorithm_parse(name, &alg) < 0) {
		imap_cmd_bad(cmd, "Unknown threading algorithm.");
		return true;
	}
	if (imap_sort_parse_search(cmd, cmd->args + 1, cmd->args_count - 1,
				   &prog) < 0)
		return true;
	if (imap_sort_collect(cmd, prog, true, &msgs, &count, &error) < 0) {
		search_program_free(&prog);
		imap_cmd_fail(cmd, "thread", error);
		return true;
	}
	buf_init(&out, 0);
	buf_append_str(&out, "* THREAD");
	if (count > 0)
		buf_append_c(&out, ' ');
	thread_build(alg, msgs, count, &out);
	buf_append_str(&out, "\r\n");
	imap_session_write(cmd->session, out.data, out.len);
	buf_free(&out);
	imap_sort_messages_free(&msgs, count);
	search_program_free(&prog);
	imap_cmd_ok(cmd, "THREAD completed.");
	return true;
}
