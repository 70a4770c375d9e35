#include "imap/imap-commands.h"

bool
cmd_append(struct imap_cmd *cmd)
{
	imap_cmd_bad(cmd, "not yet");
	return true;
}

void
imap_append_stream_begin(struct imap_session *session,
			 const struct imap_command *pc)
{
	imap_parser_stream_skip(session->parser);
}

bool
imap_append_streaming(struct imap_session *session)
{
	return false;
}

bool
imap_append_stream_input(struct imap_session *session)
{
	return true;
}

void
imap_append_free(struct imap_session *session)
{
}
