/* STORE / UID STORE (RFC 9051 6.4.6): FLAGS, +FLAGS, -FLAGS and .SILENT,
   with system flags and keywords. The untagged FETCH replies come from
   the sync before the tagged OK (UID included, as UID STORE needs). */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/strnum.h"
#include "store/store.h"

static const struct {
	const char *name;
	uint8_t flag;
} flag_names[] = {
	{ "\\Seen", STORE_FLAG_SEEN },
	{ "\\Answered", STORE_FLAG_ANSWERED },
	{ "\\Flagged", STORE_FLAG_FLAGGED },
	{ "\\Deleted", STORE_FLAG_DELETED },
	{ "\\Draft", STORE_FLAG_DRAFT },
};

/* A keyword is an atom without '\' (RFC 9051 9 flag-keyword). */
static bool
keyword_valid(const char *kw)
{
	size_t len = strlen(kw);

	if (len == 0 || len > STORE_MAX_KEYWORD_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

int
imap_flags_parse(const struct imap_arg *args, unsigned int count,
		 uint8_t *flags_r, const char ***keywords_r,
		 unsigned int *keyword_count_r, const char **error_r)
{
	const char **keywords = imap_xcalloc(count, sizeof(char *));
	unsigned int kw_count = 0;
	uint8_t flags = 0;
	const char *atom;

	for (unsigned i = 0; i < count; i++) {
		size_t j;

		if (!imap_arg_get_atom(&args[i], &atom)) {
			*error_r = "Flags must be atoms.";
			goto fail;
		}
		if (strcasecmp(atom, "\\Recent") == 0) {
			/* RFC 3501 2.3.2: the client cannot change it;
			   STORE and APPEND ignore it. */
			continue;
		}
		if (atom[0] == '\\') {
			for (j = 0; j < 5; j++) {
				if (strcasecmp(atom, flag_names[j].name) == 0)
					break;
			}
			if (j == 5) {
				/* Unknown system flags. */
				*error_r = "Invalid system flag.";
				goto fail;
			}
			flags |= flag_names[j].flag;
		} else if (keyword_valid(atom)) {
			keywords[kw_count++] = atom;
		} else {
			*error_r = "Invalid keyword.";
			goto fail;
		}
	}
	*flags_r = flags;
	*keywords_r = keywords;
	*keyword_count_r = kw_count;
	return 0;
fail:
	free(keywords);
	return -1;
}

/* RFC 7162 3.1.3: the messages UNCHANGEDSINCE refused are those whose
   modseq is above it and is not the one this STORE gave. Written as
   sequence numbers or UIDs, as the command used. */
static void
store_modified_set(struct imap_session *session, bool by_uid,
		   const struct store_uid_range *ranges, unsigned int count,
		   uint64_t unchangedsince, uint64_t modseq, struct buf *out)
{
	struct {
		uint32_t *nums;
		unsigned int n, alloc;
	} m = { NULL, 0, 0 };
	struct store_message msg;
	const char *error;

	for (unsigned i = 0; i < count; i++) {
		for (uint32_t uid = ranges[i].first;; uid++) {
			if (store_message_get(session->user,
					      session->mailbox_id, uid, &msg,
					      &error) > 0 &&
			    msg.modseq > unchangedsince &&
			    (modseq == 0 || msg.modseq != modseq)) {
				uint32_t num = by_uid ? uid :
					store_view_seq(session->view, uid);

				if (m.n == m.alloc) {
					m.alloc = m.alloc == 0 ? 16 :
						m.alloc * 2;
					m.nums = realloc(m.nums, m.alloc *
							 sizeof(uint32_t));
					if (m.nums == NULL)
						abort();
				}
				if (num != 0)
					m.nums[m.n++] = num;
			}
			if (uid == ranges[i].last)
				break;
		}
	}
	imap_write_uid_set(out, m.nums, m.n);
	free(m.nums);
}

bool
cmd_store(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct store_uid_range *ranges = NULL;
	struct imap_seqset *set;
	const struct imap_arg *flag_args;
	unsigned int flag_count, count;
	const char **keywords = NULL, *item, *error, *setstr;
	unsigned int kw_count = 0;
	enum store_flags_op op;
	uint8_t flags;
	uint64_t modseq;
	bool silent, unchanged_given = false;
	const struct imap_arg *args;
	unsigned int args_count;
	uint64_t unchangedsince = 0;
	int ret;

	args = cmd->args;
	args_count = cmd->args_count;
	if (args_count >= 2 && args[1].type == IMAP_ARG_LIST) {
		/* RFC 7162 3.1.3: (UNCHANGEDSINCE modseq). */
		const struct imap_arg *mods;
		unsigned int mod_count;
		const char *num;

		(void)imap_arg_get_list(&args[1], &mods, &mod_count);
		if (mod_count != 2 ||
		    !imap_arg_atom_equals(&mods[0], "UNCHANGEDSINCE") ||
		    !imap_arg_get_atom(&mods[1], &num) ||
		    str_to_u64z(num, INT64_MAX, &unchangedsince) < 0) {
			imap_cmd_bad(cmd, "Invalid STORE modifier.");
			return true;
		}
		imap_session_enable_condstore(session);
		/* UNCHANGEDSINCE 0 is valid: it fails for every message. */
		unchanged_given = true;
		args = cmd->args + 2;
		args_count = cmd->args_count - 2;
	} else {
		args = cmd->args_count > 0 ? cmd->args + 1 : NULL;
		args_count = cmd->args_count > 0 ? cmd->args_count - 1 : 0;
	}
	if (cmd->args_count < 3 || args_count < 2 ||
	    !imap_arg_get_atom(&cmd->args[0], &setstr) ||
	    !imap_arg_get_atom(&args[0], &item)) {
		imap_cmd_bad(cmd, "STORE takes a set, an item and flags.");
		return true;
	}
	if (imap_seqset_parse((const uint8_t *)setstr, strlen(setstr), &set,
			      &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	if (item[0] == '+') {
		op = STORE_FLAGS_ADD;
		item++;
	} else if (item[0] == '-') {
		op = STORE_FLAGS_REMOVE;
		item++;
	} else {
		op = STORE_FLAGS_REPLACE;
	}
	if (strcasecmp(item, "FLAGS") == 0) {
		silent = false;
	} else if (strcasecmp(item, "FLAGS.SILENT") == 0) {
		silent = true;
	} else {
		imap_seqset_destroy(&set);
		imap_cmd_bad(cmd, "Unknown STORE item.");
		return true;
	}
	if (args_count == 2 && args[1].type == IMAP_ARG_LIST) {
		(void)imap_arg_get_list(&args[1], &flag_args, &flag_count);
	} else {
		flag_args = &args[1];
		flag_count = args_count - 1;
	}
	if (imap_flags_parse(flag_args, flag_count, &flags, &keywords,
			     &kw_count, &error) < 0) {
		imap_seqset_destroy(&set);
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	if (imap_session_seqset_to_uids(session, set, cmd->uid, &ranges,
					&count, &error) < 0) {
		imap_seqset_destroy(&set);
		free(keywords);
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	imap_seqset_destroy(&set);
	if (session->read_only) {
		free(ranges);
		free(keywords);
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only.");
		return true;
	}
	modseq = 0;
	if (unchanged_given && unchangedsince == 0) {
		/* Every message has a modseq above 0: all refused. */
		ret = 1;
	} else {
		ret = count == 0 ? 1 :
			store_flags_update(session->user, session->mailbox_id,
					   ranges, count, op, flags, keywords,
					   kw_count, unchangedsince, &modseq,
					   &error);
	}
	free(keywords);
	if (ret < 0) {
		free(ranges);
		imap_cmd_fail(cmd, "storing flags", error);
		return true;
	}
	if (silent && modseq != 0)
		session->silent_modseq = modseq;
	if (unchanged_given) {
		struct buf modified;

		buf_init(&modified, 0);
		store_modified_set(session, cmd->uid, ranges, count,
				   unchangedsince,
				   modseq, &modified);
		free(ranges);
		if (modified.len > 0) {
			imap_cmd_ok(cmd, "[MODIFIED %s] Conditional STORE "
				    "failed.", buf_cstr(&modified));
			buf_free(&modified);
			return true;
		}
		buf_free(&modified);
	} else {
		free(ranges);
	}
	imap_cmd_ok(cmd, "STORE completed.");
	return true;
}
