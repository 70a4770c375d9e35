/* UNAUTHENTICATE (RFC 8437): back to the not-authenticated state on the
   same connection, so the client can log in again, maybe as someone
   else. */
#include "imap/imap-commands.h"

bool
cmd_unauthenticate(struct imap_cmd *cmd)
{
	if (cmd->args_count != 0) {
		imap_cmd_bad(cmd, "UNAUTHENTICATE takes no arguments.");
		return true;
	}
	/* First, so the OK reports nothing of the mailbox being left (the
	   selected mailbox is closed without expunging, as UNSELECT). */
	imap_session_unauthenticate(cmd->session);
	imap_cmd_ok(cmd, "Not authenticated any more.");
	return true;
}
