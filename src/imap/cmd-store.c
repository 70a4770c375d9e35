/* STORE / UID STORE (RFC 9051 6.4.6): FLAGS, +FLAGS, -FLAGS and .SILENT,
   with system flags and keywords. The untagged FETCH replies come from
   the sync before the tagged OK (UID included, as UID STORE needs). */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-seqset.h"
#include "lib/limits.h"
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
		if (atom[0] == '\\') {
			for (j = 0; j < 5; j++) {
				if (strcasecmp(atom, flag_names[j].name) == 0)
					break;
			}
			if (j == 5) {
				/* \Recent cannot be stored; others are
				   unknown system flags. */
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
	bool silent;
	int ret;

	if (cmd->args_count < 3 ||
	    !imap_arg_get_atom(&cmd->args[0], &setstr) ||
	    !imap_arg_get_atom(&cmd->args[1], &item)) {
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
	if (cmd->args_count == 3 && cmd->args[2].type == IMAP_ARG_LIST) {
		(void)imap_arg_get_list(&cmd->args[2], &flag_args,
					&flag_count);
	} else {
		flag_args = &cmd->args[2];
		flag_count = cmd->args_count - 2;
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
	ret = count == 0 ? 1 :
		store_flags_update(session->user, session->mailbox_id, ranges,
				   count, op, flags, keywords, kw_count, 0,
				   &modseq, &error);
	free(ranges);
	free(keywords);
	if (ret < 0) {
		imap_cmd_fail(cmd, "storing flags", error);
		return true;
	}
	if (silent && count > 0)
		session->silent_modseq = modseq;
	imap_cmd_ok(cmd, "STORE completed.");
	return true;
}
