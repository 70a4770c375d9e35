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

/* Copies (or moves) the selected mailbox's messages of ranges; `all`:
   all or nothing (store_messages_copy_all()). */
static int
messages_copy(struct imap_session *session,
	      const struct store_uid_range *ranges, unsigned int range_count,
	      uint64_t dst_mailbox_id, bool move, bool all,
	      uint32_t **src_uids_r, uint32_t **dst_uids_r,
	      unsigned int *count_r, const char **error_r)
{
	return (all ? store_messages_copy_all : store_messages_copy)(
		session->user, session->mailbox_id, ranges, range_count,
		dst_mailbox_id, move, src_uids_r, dst_uids_r, count_r,
		error_r);
}

/* MOVE into the selected mailbox itself (a client that trashes the
   \Deleted messages of its Trash folder does this): RFC 6851 3.3 lets
   a MOVE be a COPY followed by expunging the originals, which is what
   the store's same-mailbox rule leaves. The originals go only once the
   copies exist; under the user lock both steps are one. */
static int
copy_then_expunge(struct imap_session *session,
		  const struct store_uid_range *ranges,
		  unsigned int range_count, bool all, uint32_t **src_uids_r,
		  uint32_t **dst_uids_r, unsigned int *count_r,
		  const char **error_r)
{
	struct store_uid_range *done;
	int ret;

	store_user_lock(session->user);
	ret = messages_copy(session, ranges, range_count,
			    session->mailbox_id, false, all, src_uids_r,
			    dst_uids_r, count_r, error_r);
	if (ret > 0 && *count_r > 0) {
		done = calloc(*count_r, sizeof(*done));
		if (done == NULL)
			abort();
		for (unsigned int i = 0; i < *count_r; i++)
			done[i].first = done[i].last = (*src_uids_r)[i];
		if (store_expunge(session->user, session->mailbox_id, done,
				  *count_r, NULL, error_r) < 0)
			ret = -1;
		free(done);
	}
	store_user_unlock(session->user);
	return ret;
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
	/* By sequence number every message is one the client was shown:
	   if another session expunged one meanwhile, nothing is copied
	   and the client is told, with the pending EXPUNGE before the
	   tagged reply (RFC 2180 4.4.1). A UID set may name UIDs that are
	   gone; those are skipped (RFC 9051 6.4.9). */
	bool all = !cmd->uid;
	if (move && info.id == session->mailbox_id)
		ret = copy_then_expunge(session, ranges, range_count, all,
					&src_uids, &dst_uids, &count, &error);
	else
		ret = messages_copy(session, ranges, range_count, info.id,
				    move, all, &src_uids, &dst_uids, &count,
				    &error);
	if (ret <= 0) {
		store_mailbox_info_free(&info);
		if (ret < 0 && store_error_is_overquota())
			imap_cmd_no(cmd, "[OVERQUOTA] Quota exceeded.");
		else if (ret < 0 && store_error_is_expunged())
			imap_cmd_no(cmd, "[EXPUNGEISSUED] Some of the "
				    "requested messages no longer exist.");
		else if (ret < 0)
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
