/* The command table: name, handler, flags (state needed, UID prefix,
   sequence numbers). Validation and action live in the cmd-*.c files. */
#include <strings.h>

#include "imap/cmd-sort.h"
#include "imap/imap-commands.h"
#include "imap/imap-notify.h"

#define ANY (IMAP_CMD_NOAUTH | IMAP_CMD_AUTH | IMAP_CMD_SELECTED)
#define AUTHED (IMAP_CMD_AUTH | IMAP_CMD_SELECTED)

static const struct imap_command_def imap_commands[] = {
	{ "CAPABILITY", cmd_capability, ANY },
	{ "NOOP", cmd_noop, ANY },
	{ "LOGOUT", cmd_logout, ANY },
	{ "ID", cmd_id, ANY },
	{ "STARTTLS", cmd_starttls, IMAP_CMD_NOAUTH | IMAP_CMD_ONLY_NOAUTH },
	{ "LOGIN", cmd_login, IMAP_CMD_NOAUTH | IMAP_CMD_ONLY_NOAUTH },
	{ "AUTHENTICATE", cmd_authenticate,
	  IMAP_CMD_NOAUTH | IMAP_CMD_ONLY_NOAUTH },
	{ "ENABLE", cmd_enable, AUTHED },

	{ "SELECT", cmd_select, AUTHED },
	{ "EXAMINE", cmd_examine, AUTHED },
	{ "CREATE", cmd_create, AUTHED },
	{ "DELETE", cmd_delete, AUTHED },
	{ "RENAME", cmd_rename, AUTHED },
	{ "SUBSCRIBE", cmd_subscribe, AUTHED },
	{ "UNSUBSCRIBE", cmd_unsubscribe, AUTHED },
	{ "LIST", cmd_list, AUTHED },
	{ "LSUB", cmd_lsub, AUTHED },
	{ "NAMESPACE", cmd_namespace, AUTHED },
	{ "STATUS", cmd_status, AUTHED },
	{ "APPEND", cmd_append, AUTHED },
	{ "IDLE", cmd_idle, AUTHED },
	{ "GETQUOTAROOT", cmd_getquotaroot, AUTHED },
	{ "GETQUOTA", cmd_getquota, AUTHED },
	{ "SETQUOTA", cmd_setquota, AUTHED },
	{ "GETMETADATA", cmd_getmetadata, AUTHED },
	{ "SETMETADATA", cmd_setmetadata, AUTHED },
	{ "NOTIFY", cmd_notify, AUTHED },
	/* RFC 4978: after login only, so an anonymous peer cannot make us
	   hold compression streams. */
	{ "COMPRESS", cmd_compress, AUTHED },
	{ "UNAUTHENTICATE", cmd_unauthenticate, AUTHED },

	{ "CHECK", cmd_check, IMAP_CMD_SELECTED },
	{ "CLOSE", cmd_close, IMAP_CMD_SELECTED },
	{ "UNSELECT", cmd_unselect, IMAP_CMD_SELECTED },
	{ "EXPUNGE", cmd_expunge, IMAP_CMD_SELECTED | IMAP_CMD_UID },
	{ "SEARCH", cmd_search,
	  IMAP_CMD_SELECTED | IMAP_CMD_UID | IMAP_CMD_USES_SEQS },
	{ "SORT", cmd_sort,
	  IMAP_CMD_SELECTED | IMAP_CMD_UID | IMAP_CMD_USES_SEQS },
	{ "THREAD", cmd_thread,
	  IMAP_CMD_SELECTED | IMAP_CMD_UID | IMAP_CMD_USES_SEQS },
	{ "FETCH", cmd_fetch,
	  IMAP_CMD_SELECTED | IMAP_CMD_UID | IMAP_CMD_USES_SEQS },
	{ "STORE", cmd_store,
	  IMAP_CMD_SELECTED | IMAP_CMD_UID | IMAP_CMD_USES_SEQS },
	/* RFC 9051 7.5.1 names only FETCH, STORE and SEARCH; MOVE must
	   report its own expunges (RFC 6851 3.3). */
	{ "COPY", cmd_copy, IMAP_CMD_SELECTED | IMAP_CMD_UID },
	{ "MOVE", cmd_move, IMAP_CMD_SELECTED | IMAP_CMD_UID },
};

const struct imap_command_def *
imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]);
	     i++) {
		if (strcasecmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	}
	return NULL;
}
