/* COMPRESS (RFC 4978): turns on raw DEFLATE both ways after the tagged
   OK. The conn does the compressing (conn_compress_start). */
#include "imap/imap-commands.h"

#include <strings.h>

#include "net/conn.h"

bool
cmd_compress(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const char *mech, *error;

	if (cmd->args_count != 1 ||
	    !imap_arg_get_atom(&cmd->args[0], &mech)) {
		imap_cmd_bad(cmd, "COMPRESS takes one mechanism name.");
		return true;
	}
	if (strcasecmp(mech, "DEFLATE") != 0) {
		imap_cmd_bad(cmd, "Unknown compression mechanism.");
		return true;
	}
	if (conn_is_compressed(session->conn)) {
		/* RFC 4978 3: the code says why; a repeat is this case. */
		imap_cmd_no(cmd, "[COMPRESSIONACTIVE] DEFLATE is already "
			    "active.");
		return true;
	}
	/* The OK goes out plain; compression starts right after its CRLF
	   (RFC 4978 3). */
	imap_cmd_ok(cmd, "DEFLATE active.");
	if (conn_compress_start(session->conn, &error) < 0) {
		/* Only a closing conn gets here: the OK is dropped too. */
		log_error(&session->log, "COMPRESS failed: %s", error);
		conn_close_after_flush(session->conn, "COMPRESS failed");
		return true;
	}
	log_debug(&session->log, "COMPRESS=DEFLATE active");
	return true;
}
