/* EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, 6.4.9). The untagged EXPUNGE
   replies come from the sync before the tagged OK. */
#include "imap/imap-commands.h"

#include <stdlib.h>

#include "imap/imap-seqset.h"
#include "store/store.h"

bool
cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct store_uid_range *ranges = NULL;
	struct imap_seqset *set = NULL;
	unsigned int count = 0;
	const char *error;
	const uint8_t *data;
	size_t len;

	if (cmd->uid) {
		if (cmd->args_count != 1 ||
		    !imap_arg_get_astring(&cmd->args[0], &data, &len) ||
		    imap_seqset_parse(data, len, &set, &error) < 0) {
			imap_cmd_bad(cmd, "UID EXPUNGE takes a UID set.");
			return true;
		}
	} else if (cmd->args_count != 0) {
		imap_cmd_bad(cmd, "EXPUNGE takes no arguments.");
		return true;
	}
	if (session->read_only) {
		imap_seqset_destroy(&set);
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only.");
		return true;
	}
	store_user_lock(session->user);
	if (set == NULL) {
		imap_view_deleted_uids(session, &ranges, &count);
	} else {
		/* Only the \Deleted messages inside the client's UID set. */
		uint32_t exists = store_view_count(session->view);
		unsigned int alloc = 0;
		struct store_view_entry e;

		imap_seqset_resolve(set, exists > 0 &&
				    store_view_get(session->view, exists, &e) ?
				    e.uid : 0);
		for (uint32_t seq = 1; seq <= exists; seq++) {
			if (!store_view_get(session->view, seq, &e) ||
			    (e.flags & STORE_FLAG_DELETED) == 0 ||
			    !imap_seqset_contains(set, e.uid))
				continue;
			if (count > 0 && ranges[count - 1].last + 1 == e.uid) {
				ranges[count - 1].last = e.uid;
				continue;
			}
			if (count == alloc) {
				alloc = alloc == 0 ? 16 : alloc * 2;
				ranges = realloc(ranges,
						 alloc * sizeof(*ranges));
				if (ranges == NULL)
					abort();
			}
			ranges[count].first = ranges[count].last = e.uid;
			count++;
		}
	}
	if (count > 0 && store_expunge(session->user, session->mailbox_id,
				       ranges, count, NULL, &error) < 0) {
		store_user_unlock(session->user);
		free(ranges);
		imap_seqset_destroy(&set);
		imap_cmd_fail(cmd, "expunging", error);
		return true;
	}
	store_user_unlock(session->user);
	free(ranges);
	imap_seqset_destroy(&set);
	imap_cmd_ok(cmd, "EXPUNGE completed.");
	return true;
}
