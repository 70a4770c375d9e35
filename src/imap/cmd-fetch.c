#include "imap/imap-commands.h"

bool
cmd_fetch(struct imap_cmd *cmd)
{
	imap_cmd_bad(cmd, "not yet");
	return true;
}
