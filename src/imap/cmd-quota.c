/* QUOTA (RFC 9208): GETQUOTAROOT, GETQUOTA, SETQUOTA, with the STORAGE
   and MESSAGE resources. Each user has one quota root, "", over all its
   mailboxes; the limits come from the configuration and the user
   database (auth/quota.h) and are set on the store user at login. The
   store enforces them inside its write transactions (store.h "quota");
   this file only reports them. */
#include "imap/imap-commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passdb.h"
#include "auth/quota.h"
#include "lib/buf.h"
#include "store/store.h"

void
imap_quota_login(struct imap_session *session)
{
	const struct imap_settings *set = &session->service->set;
	struct store_quota defaults = {
		.storage = set->quota_storage,
		.messages = set->quota_messages,
	}, quota = defaults;
	struct passdb_user *pu = NULL;
	const char *error;
	int ret;

	/* The password check looked the user up already, but on another
	   thread and without keeping the line; this lookup is a stat and
	   a hash lookup. If it fails now, the defaults apply. */
	ret = passdb_lookup(set->passdb, session->user_name, &pu, &error);
	if (ret < 0) {
		log_error(&session->log, "quota: user lookup failed, using "
			  "the default limits: %s", error);
	} else if (ret > 0 &&
		   quota_user_limits(pu, &defaults, &quota, &error) < 0) {
		log_error(&session->log, "quota: passwd-file %s; using the "
			  "default limits", error);
	}
	passdb_user_free(&pu);
	store_user_set_quota(session->user, &quota);
}

/* Writes "* QUOTA "" (...)": only limited resources are listed (RFC 9208
   4.2.1: a resource not in the list has no limit). STORAGE is in units
   of 1024 octets, rounded down. Returns 0, or -1 (*error_r). */
static int
quota_write(struct imap_session *session, const char **error_r)
{
	struct store_quota quota;
	struct store_quota_usage usage;
	struct buf b;
	const char *sep = "";

	store_user_get_quota(session->user, &quota);
	if (quota.storage == 0 && quota.messages == 0) {
		/* Nothing limited: an empty list, and no usage to read. */
		imap_session_untagged(session, "QUOTA \"\" ()");
		return 0;
	}
	if (store_quota_usage(session->user, &usage, error_r) < 0)
		return -1;
	buf_init(&b, 0);
	buf_append_str(&b, "QUOTA \"\" (");
	if (quota.storage != 0) {
		buf_appendf(&b, "STORAGE %" PRIu64 " %" PRIu64,
			    usage.storage / 1024, quota.storage / 1024);
		sep = " ";
	}
	if (quota.messages != 0)
		buf_appendf(&b, "%sMESSAGE %" PRIu64 " %" PRIu64, sep,
			    usage.messages, quota.messages);
	buf_append_c(&b, ')');
	imap_session_untagged(session, "%s", buf_cstr(&b));
	buf_free(&b);
	return 0;
}

bool
cmd_getquotaroot(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const char *error;
	struct buf b;
	char *name;

	if (cmd->args_count != 1) {
		imap_cmd_bad(cmd, "GETQUOTAROOT takes a mailbox name.");
		return true;
	}
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &name) < 0)
		return true;
	/* RFC 9208 4.1.2: the mailbox need not exist; every mailbox of
	   the user is under the one root. */
	buf_init(&b, 0);
	buf_append_str(&b, "QUOTAROOT ");
	imap_write_mailbox_name(session, &b, name);
	buf_append_str(&b, " \"\"");
	imap_session_untagged(session, "%s", buf_cstr(&b));
	buf_free(&b);
	free(name);
	if (quota_write(session, &error) < 0) {
		imap_cmd_fail(cmd, "reading quota usage", error);
		return true;
	}
	imap_cmd_ok(cmd, "GETQUOTAROOT completed.");
	return true;
}

bool
cmd_getquota(struct imap_cmd *cmd)
{
	const uint8_t *root;
	const char *error;
	size_t len;

	if (cmd->args_count != 1 ||
	    !imap_arg_get_astring(&cmd->args[0], &root, &len)) {
		imap_cmd_bad(cmd, "GETQUOTA takes a quota root.");
		return true;
	}
	if (len != 0) {
		imap_cmd_no(cmd, "No such quota root.");
		return true;
	}
	if (quota_write(cmd->session, &error) < 0) {
		imap_cmd_fail(cmd, "reading quota usage", error);
		return true;
	}
	imap_cmd_ok(cmd, "GETQUOTA completed.");
	return true;
}

bool
cmd_setquota(struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	const uint8_t *root;
	unsigned int count;
	size_t len;

	if (cmd->args_count != 2 ||
	    !imap_arg_get_astring(&cmd->args[0], &root, &len) ||
	    !imap_arg_get_list(&cmd->args[1], &list, &count)) {
		imap_cmd_bad(cmd, "SETQUOTA takes a quota root and a list.");
		return true;
	}
	/* RFC 9208 4.1.3: QUOTASET is not advertised; limits belong to the
	   administrator (configuration and user database). */
	imap_cmd_no(cmd, "[NOPERM] Quota limits are set by the "
		    "administrator.");
	return true;
}
