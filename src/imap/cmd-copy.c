/* COPY / UID COPY (RFC 9051 6.4.7) and MOVE / UID MOVE (RFC 6851, RFC
   9051 6.4.8), with UIDPLUS COPYUID (RFC 4315). The store shares the
   message files; nothing is copied byte by byte. */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "store/store.h"

void
imap_write_uid_set(struct buf *out, const uint32_t *uids, unsigned int count)
{
	unsigned int i = 0;

	while (i < count) {
		unsigned int j = i;

		while (j + 1 < count && uids[j] != UINT32_MAX &&
		       uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0)
			buf_append_c(out, ',');
		if (j == i)
			buf_appendf(out, "%u", uids[i]);
		else
			buf_appendf(out, "%u:%u", uids[i], uids[j]);
		i = j + 1;
	}
}

static bool
cmd_copy_full(struct imap_cmd *cmd, bool move)
{
	struct imap_session *session = cmd->session;
	struct store_uid_range *ranges = NULL;
	struct store_mailbox_info info;
	struct imap_seqset *set;
	uint32_t *src_uids = NULL, *dst_uids = NULL;
	unsigned int range_count, count = 0;
	const char *setstr, *error;
	char *name;
	struct buf code;
	int ret;

	if (cmd->args_count != 2 ||
	    !imap_arg_get_atom(&cmd->args[0], &setstr)) {
		imap_cmd_bad(cmd, "%s takes a set and a mailbox.", cmd->name);
		return true;
	}
	if (imap_seqset_parse((const uint8_t *)setstr, strlen(setstr), &set,
			      &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	if (imap_session_seqset_to_uids(session, set, cmd->uid, &ranges,
					&range_count, &error) < 0) {
		imap_seqset_destroy(&set);
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	imap_seqset_destroy(&set);
	if (imap_cmd_get_mailbox(cmd, &cmd->args[1], &name) < 0) {
		free(ranges);
		return true;
	}
	if (move && session->read_only) {
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only.");
		goto out;
	}
	ret = store_mailbox_lookup(session->user, name, &info, &error);
	if (ret <= 0) {
		/* RFC 9051 6.4.7: TRYCREATE tells the client CREATE would
		   help. */
		imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist.");
		goto out;
	}
	if (range_count == 0) {
		store_mailbox_info_free(&info);
		imap_cmd_ok(cmd, "No messages.");
		goto out;
	}
	/* RFC 6851 does not forbid MOVE into the selected mailbox: the
	   messages get new UIDs there. The store moves only between two
	   mailboxes, so that case is a copy and an expunge of the sources,
	   under the user lock so no other session sees both copies. */
	bool same = move && info.id == session->mailbox_id;
	if (same)
		store_user_lock(session->user);
	ret = store_messages_copy(session->user, session->mailbox_id, ranges,
				  range_count, info.id, move && !same,
				  &src_uids, &dst_uids, &count, &error);
	if (same && ret > 0 && count > 0 &&
	    store_expunge(session->user, session->mailbox_id, ranges,
			  range_count, NULL, &error) < 0)
		ret = -1;
	if (same)
		store_user_unlock(session->user);
	if (ret <= 0) {
		store_mailbox_info_free(&info);
		if (ret < 0)
			imap_cmd_fail(cmd, "copying", error);
		else
			imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not "
				    "exist.");
		goto out;
	}
	buf_init(&code, 0);
	if (count > 0) {
		buf_appendf(&code, "[COPYUID %u ", info.uidvalidity);
		imap_write_uid_set(&code, src_uids, count);
		buf_append_c(&code, ' ');
		imap_write_uid_set(&code, dst_uids, count);
		buf_append_str(&code, "] ");
	}
	store_mailbox_info_free(&info);
	if (move) {
		/* RFC 6851 4.3: COPYUID goes untagged before the
		   expunges. */
		if (count > 0)
			imap_session_untagged(session, "OK %sMoved.",
					      buf_cstr(&code));
		imap_session_sync(session, true);
		imap_cmd_ok(cmd, "MOVE completed.");
	} else {
		imap_cmd_ok(cmd, "%sCOPY completed.", buf_cstr(&code));
	}
	buf_free(&code);
out:
	free(src_uids);
	free(dst_uids);
	free(ranges);
	free(name);
	return true;
}

bool
cmd_copy(struct imap_cmd *cmd)
{
	return cmd_copy_full(cmd, false);
}

bool
cmd_move(struct imap_cmd *cmd)
{
	return cmd_copy_full(cmd, true);
}
