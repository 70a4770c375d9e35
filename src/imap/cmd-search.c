/* SEARCH / UID SEARCH (RFC 9051 6.4.4). A placeholder until the search
   module lands its own. */
#include "imap/imap-commands.h"

bool
cmd_search(struct imap_cmd *cmd)
{
	imap_cmd_bad(cmd, "not yet");
	return true;
}
