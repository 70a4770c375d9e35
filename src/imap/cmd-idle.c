/* IDLE (RFC 2177, RFC 9051 6.3.13): "+ idling", then every change of the
   selected mailbox goes out as it happens (the watcher's wake calls the
   sync), until the client sends DONE. */
#include "imap/imap-commands.h"
#include "imap/imap-notify.h"

#include <string.h>
#include <strings.h>

#include "net/conn.h"

static bool
idle_resume(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const char *line, *error;
	size_t len;
	int ret;

	ret = imap_session_read_line(session, &line, &len, &error);
	if (ret == 0)
		return false;
	session->idling = false;
	conn_compress_idle(session->conn, false);
	if (ret < 0 || len != 4 || strncasecmp(line, "DONE", 4) != 0) {
		imap_cmd_bad(cmd, "Expected DONE.");
		return true;
	}
	imap_cmd_ok(cmd, "IDLE terminated.");
	return true;
}

bool
cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;

	if (cmd->args_count != 0) {
		imap_cmd_bad(cmd, "IDLE takes no arguments.");
		return true;
	}
	/* What happened before IDLE goes out first. */
	imap_session_sync(session, true);
	imap_session_write(session, "+ idling\r\n", 10);
	session->idling = true;
	/* NOTIFY's changes held back while commands ran. */
	imap_notify_resume(session);
	/* Pushes are rare and small: no deflater kept between them. */
	conn_compress_idle(session->conn, true);
	cmd->resume = idle_resume;
	return idle_resume(cmd);
}
