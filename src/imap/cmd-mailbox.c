/* Mailbox commands: SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
   UNSUBSCRIBE, STATUS, NAMESPACE (RFC 9051 6.3) and CLOSE, UNSELECT,
   CHECK (6.4). */
#include "imap/imap-commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/objectid.h"
#include "lib/strnum.h"
#include "mail/imap-bodystructure.h"
#include "store/store.h"

int
imap_cmd_get_mailbox(struct imap_cmd *cmd, const struct imap_arg *arg,
		     char **name_r)
{
	const uint8_t *data;
	size_t len;
	const char *error;

	if (!imap_arg_get_astring(arg, &data, &len)) {
		imap_cmd_bad(cmd, "Mailbox name expected.");
		return -1;
	}
	if (imap_mailbox_name_from_client(cmd->session, data, len, name_r,
					  &error) < 0) {
		imap_cmd_no(cmd, "%s", error);
		return -1;
	}
	return 0;
}

/* Looks a mailbox up; replies NO itself when it does not exist or the
   lookup fails. Returns 1 with *info_r, or 0 (replied). */
static int
mailbox_find(struct imap_cmd *cmd, const char *name,
	     struct store_mailbox_info *info_r, const char *trycreate)
{
	const char *error;
	int ret;

	ret = store_mailbox_lookup(cmd->session->user, name, info_r, &error);
	if (ret < 0 && strlen(name) > 0) {
		/* An invalid name: the client gets the plain answer. */
		imap_cmd_no(cmd, "%sMailbox does not exist.", trycreate);
		return 0;
	}
	if (ret <= 0) {
		imap_cmd_no(cmd, "%sMailbox does not exist.", trycreate);
		return 0;
	}
	return 1;
}

/* ---- SELECT / EXAMINE --------------------------------------------------- */

/* SELECT/EXAMINE parameters (RFC 7162 3.1.8, 3.2.5). */
struct qresync_params {
	bool given;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset *known_uids; /* NULL: all */
};

static int
select_parse_params(struct imap_cmd *cmd, const struct imap_arg *arg,
		    struct qresync_params *qr)
{
	struct imap_session *session = cmd->session;
	const struct imap_arg *params, *q;
	unsigned int count, qcount;
	const char *atom, *error;
	uint64_t n;

	if (!imap_arg_get_list(arg, &params, &count) || count == 0)
		goto bad;
	for (unsigned i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&params[i], "CONDSTORE")) {
			session->enabled_condstore = true;
			continue;
		}
		if (!imap_arg_atom_equals(&params[i], "QRESYNC") ||
		    qr->given || i + 1 >= count ||
		    !imap_arg_get_list(&params[++i], &q, &qcount) ||
		    qcount < 2 || qcount > 4)
			goto bad;
		if (!session->enabled_qresync) {
			imap_cmd_bad(cmd, "ENABLE QRESYNC first.");
			return -1;
		}
		if (!imap_arg_get_atom(&q[0], &atom) ||
		    str_to_u64z(atom, UINT32_MAX, &n) < 0 || n == 0)
			goto bad;
		qr->uidvalidity = (uint32_t)n;
		if (!imap_arg_get_atom(&q[1], &atom) ||
		    str_to_u64z(atom, INT64_MAX, &qr->modseq) < 0 ||
		    qr->modseq == 0)
			goto bad;
		if (qcount >= 3) {
			if (!imap_arg_get_atom(&q[2], &atom) ||
			    imap_seqset_parse((const uint8_t *)atom,
					      strlen(atom), &qr->known_uids,
					      &error) < 0)
				goto bad;
			imap_seqset_resolve(qr->known_uids, UINT32_MAX);
		}
		/* The optional sequence match data only speeds up a
		   server without the expunge log; ours has it. */
		qr->given = true;
		session->enabled_condstore = true;
	}
	return 0;
bad:
	imap_cmd_bad(cmd, "Invalid %s parameters.", cmd->name);
	return -1;
}

/* RFC 7162 3.2.5.1: what changed since the client's modseq. */
static void
select_qresync(struct imap_session *session, const struct qresync_params *qr)
{
	uint32_t count = store_view_count(session->view);
	struct store_view_entry e;
	uint32_t *uids;
	unsigned int n;
	struct buf b;

	buf_init(&b, 0);
	if (imap_session_expunged_since(session, qr->modseq, qr->known_uids,
					false, &uids, &n) == 0 && n > 0) {
		imap_write_uid_set(&b, uids, n);
		imap_session_untagged(session, "VANISHED (EARLIER) %s",
				      buf_cstr(&b));
	}
	free(uids);
	for (uint32_t seq = 1; seq <= count; seq++) {
		if (!store_view_get(session->view, seq, &e) ||
		    e.modseq <= qr->modseq ||
		    (qr->known_uids != NULL &&
		     !imap_seqset_contains(qr->known_uids, e.uid)))
			continue;
		buf_reset(&b);
		buf_appendf(&b, "%u FETCH (UID %u FLAGS ", seq, e.uid);
		imap_write_message_flags(session, &b, e.uid, e.flags,
					 e.keywords);
		buf_appendf(&b, " MODSEQ (%" PRIu64 "))", e.modseq);
		imap_session_untagged(session, "%s", buf_cstr(&b));
	}
	buf_free(&b);
}

/* SELECT's RECENT (RFC 3501 7.3.2): what this session claimed; EXAMINE
   claims nothing and shows what a SELECT would get now. */
static uint32_t
select_recent(struct imap_session *session)
{
	struct store_mailbox_status st;
	const char *error;

	if (!session->read_only)
		return session->recent_reported;
	if (store_mailbox_status(session->user, session->mailbox_id, &st,
				 &error) <= 0)
		return 0;
	return st.recent;
}

static bool
cmd_select_full(struct imap_cmd *cmd, bool read_only)
{
	struct imap_session *session = cmd->session;
	struct store_mailbox_info info;
	struct store_view_entry e;
	const char *error;
	char *name;
	uint32_t count, first_unseen = 0;
	char mailbox_oid[OBJECTID_SIZE];
	struct qresync_params qr;
	int ret;

	memset(&qr, 0, sizeof(qr));
	if (cmd->args_count == 2) {
		if (select_parse_params(cmd, &cmd->args[1], &qr) < 0) {
			imap_seqset_destroy(&qr.known_uids);
			return true;
		}
	} else if (cmd->args_count != 1) {
		imap_cmd_bad(cmd, "%s takes one mailbox name.", cmd->name);
		return true;
	}
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &name) < 0) {
		imap_seqset_destroy(&qr.known_uids);
		return true;
	}
	if (session->state == IMAP_STATE_SELECTED) {
		/* RFC 9051 6.3.2: the old mailbox is closed first, and
		   [CLOSED] marks where its responses end. */
		imap_session_unselect(session);
		imap_session_untagged(session, "OK [CLOSED] Previous mailbox "
				      "closed.");
	}
	if (mailbox_find(cmd, name, &info, "[NONEXISTENT] ") == 0) {
		imap_seqset_destroy(&qr.known_uids);
		free(name);
		return true;
	}
	ret = imap_session_select(session, info.id, info.name, read_only,
				  &error);
	if (ret <= 0) {
		if (ret < 0)
			imap_cmd_fail(cmd, "opening the mailbox", error);
		else
			imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not "
				    "exist.");
		store_mailbox_info_free(&info);
		imap_seqset_destroy(&qr.known_uids);
		free(name);
		return true;
	}
	session->uidvalidity = info.uidvalidity;
	/* At or before the view's start: VANISHED looks after it. */
	session->expunge_modseq = info.highestmodseq;
	count = store_view_count(session->view);
	imap_session_write_flags(session);
	imap_session_untagged(session, "%u EXISTS", count);
	if (!session->enabled_rev2) {
		imap_session_untagged(session, "%u RECENT",
				      select_recent(session));
		for (uint32_t seq = 1; seq <= count; seq++) {
			if (store_view_get(session->view, seq, &e) &&
			    (e.flags & STORE_FLAG_SEEN) == 0) {
				first_unseen = seq;
				break;
			}
		}
		if (first_unseen != 0)
			imap_session_untagged(session, "OK [UNSEEN %u] First "
					      "unseen.", first_unseen);
	}
	imap_session_untagged(session, "OK [UIDVALIDITY %u] UIDs valid.",
			      info.uidvalidity);
	imap_session_untagged(session, "OK [UIDNEXT %u] Predicted next UID.",
			      info.uidnext);
	imap_session_untagged(session, "OK [HIGHESTMODSEQ %" PRIu64 "] "
			      "Highest", info.highestmodseq);
	/* RFC 8474 4.2 */
	objectid_mailbox(info.id, info.uidvalidity, mailbox_oid);
	imap_session_untagged(session, "OK [MAILBOXID (%s)] Mailbox id.",
			      mailbox_oid);
	if (session->enabled_rev2) {
		struct buf b;

		buf_init(&b, 0);
		buf_append_str(&b, "LIST () \"/\" ");
		imap_write_mailbox_name(session, &b, info.name);
		imap_session_untagged(session, "%s", buf_cstr(&b));
		buf_free(&b);
	}
	if (qr.given && qr.uidvalidity == info.uidvalidity)
		select_qresync(session, &qr);
	imap_seqset_destroy(&qr.known_uids);
	imap_cmd_ok(cmd, "[%s] %s completed.",
		    read_only ? "READ-ONLY" : "READ-WRITE", cmd->name);
	store_mailbox_info_free(&info);
	free(name);
	return true;
}

bool
cmd_select(struct imap_cmd *cmd)
{
	return cmd_select_full(cmd, false);
}

bool
cmd_examine(struct imap_cmd *cmd)
{
	return cmd_select_full(cmd, true);
}

/* ---- CREATE / DELETE / RENAME ------------------------------------------ */

/* CREATE-SPECIAL-USE (RFC 6154 3): the store keeps one special-use
   attribute per mailbox, so USE names at most one (repeating it is
   harmless). */
static const struct {
	const char *name;
	enum store_special_use use;
} create_uses[] = {
	{ "\\All", STORE_SPECIAL_ALL },
	{ "\\Archive", STORE_SPECIAL_ARCHIVE },
	{ "\\Drafts", STORE_SPECIAL_DRAFTS },
	{ "\\Flagged", STORE_SPECIAL_FLAGGED },
	{ "\\Junk", STORE_SPECIAL_JUNK },
	{ "\\Sent", STORE_SPECIAL_SENT },
	{ "\\Trash", STORE_SPECIAL_TRASH },
};

enum store_special_use
imap_special_use_parse(const uint8_t *data, size_t len)
{
	for (size_t j = 0; j < sizeof(create_uses) / sizeof(create_uses[0]);
	     j++) {
		if (strlen(create_uses[j].name) == len &&
		    strncasecmp((const char *)data, create_uses[j].name,
				len) == 0)
			return create_uses[j].use;
	}
	return STORE_SPECIAL_NONE;
}

const char *
imap_special_use_name(enum store_special_use use)
{
	for (size_t j = 0; j < sizeof(create_uses) / sizeof(create_uses[0]);
	     j++) {
		if (create_uses[j].use == use)
			return create_uses[j].name;
	}
	return NULL;
}

/* Parses CREATE's parameter list (RFC 4466 create-params) into *use_r.
   Returns 1, or 0 after replying (BAD for syntax, NO [USEATTR] for a use
   we cannot give the mailbox). */
static int
create_parse_params(struct imap_cmd *cmd, const struct imap_arg *arg,
		    enum store_special_use *use_r)
{
	const struct imap_arg *params, *uses;
	unsigned int count, use_count;
	const char *atom;
	bool have_use = false;

	if (!imap_arg_get_list(arg, &params, &count) || count == 0) {
		imap_cmd_bad(cmd, "Invalid CREATE parameters.");
		return 0;
	}
	for (unsigned i = 0; i < count; i += 2) {
		if (!imap_arg_atom_equals(&params[i], "USE") || have_use ||
		    i + 1 >= count ||
		    !imap_arg_get_list(&params[i + 1], &uses, &use_count)) {
			imap_cmd_bad(cmd, "Unknown CREATE parameter.");
			return 0;
		}
		have_use = true;
		for (unsigned k = 0; k < use_count; k++) {
			enum store_special_use use;
			/* use-attr is "\" atom (RFC 6154 6). */
			if (!imap_arg_get_atom(&uses[k], &atom) ||
			    atom[0] != '\\' || atom[1] == '\0') {
				imap_cmd_bad(cmd, "Invalid special-use "
					     "attribute.");
				return 0;
			}
			use = imap_special_use_parse((const uint8_t *)atom,
						     strlen(atom));
			/* RFC 6154 3: the USEATTR response code. */
			if (use == STORE_SPECIAL_NONE) {
				imap_cmd_no(cmd, "[USEATTR] Unsupported "
					    "special-use attribute.");
				return 0;
			}
			if (*use_r != STORE_SPECIAL_NONE && *use_r != use) {
				imap_cmd_no(cmd, "[USEATTR] A mailbox has at "
					    "most one special use here.");
				return 0;
			}
			*use_r = use;
		}
	}
	return 1;
}

bool
cmd_create(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	enum store_special_use use = STORE_SPECIAL_NONE;
	const char *error;
	char *name;
	struct store_mailbox_status st;
	size_t len;
	uint64_t id;
	int ret;

	if (cmd->args_count != 1 && cmd->args_count != 2) {
		imap_cmd_bad(cmd, "CREATE takes one mailbox name.");
		return true;
	}
	if (cmd->args_count == 2 &&
	    create_parse_params(cmd, &cmd->args[1], &use) == 0)
		return true;
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &name) < 0)
		return true;
	/* RFC 9051 6.3.4: a trailing delimiter only says the client means
	   to create children. */
	len = strlen(name);
	while (len > 0 && name[len - 1] == '/')
		name[--len] = '\0';
	if (len == 0 || strcmp(name, "INBOX") == 0) {
		imap_cmd_no(cmd, "[ALREADYEXISTS] Mailbox exists.");
		free(name);
		return true;
	}
	store_user_lock(session->user);
	/* Missing parents are created too (without the special use). */
	for (char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (p != name && p[-1] != '/' && strcmp(name, "INBOX") != 0)
			(void)store_mailbox_create(session->user, name,
						   STORE_SPECIAL_NONE, NULL,
						   &error);
		*p = '/';
	}
	ret = store_mailbox_create(session->user, name, use,
				   &id, &error);
	/* The MAILBOXID needs the new UIDVALIDITY; read under the same lock
	   so that no DELETE comes between. */
	if (ret > 0 && store_mailbox_status(session->user, id, &st,
					    &error) <= 0)
		st.uidvalidity = 0;
	store_user_unlock(session->user);
	if (ret < 0) {
		imap_cmd_no(cmd, "[CANNOT] Invalid mailbox name.");
	} else if (ret == 0) {
		imap_cmd_no(cmd, "[ALREADYEXISTS] Mailbox exists.");
	} else if (st.uidvalidity == 0) {
		/* The status read failed (logged by the store); the
		   mailbox exists all the same. */
		imap_cmd_ok(cmd, "CREATE completed.");
	} else {
		/* RFC 8474 4.1: every successful CREATE names the id. */
		char oid[OBJECTID_SIZE];

		objectid_mailbox(id, st.uidvalidity, oid);
		imap_cmd_ok(cmd, "[MAILBOXID (%s)] CREATE completed.", oid);
	}
	free(name);
	return true;
}

bool
cmd_delete(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const char *error;
	char *name;
	int ret;

	if (cmd->args_count != 1) {
		imap_cmd_bad(cmd, "DELETE takes one mailbox name.");
		return true;
	}
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &name) < 0)
		return true;
	if (strcmp(name, "INBOX") == 0) {
		imap_cmd_no(cmd, "[CANNOT] INBOX cannot be deleted.");
		free(name);
		return true;
	}
	if (session->state == IMAP_STATE_SELECTED &&
	    strcmp(session->mailbox_name, name) == 0) {
		imap_session_unselect(session);
		imap_session_untagged(session, "OK [CLOSED] Mailbox closed.");
	}
	ret = store_mailbox_delete(session->user, name, &error);
	if (ret < 0)
		imap_cmd_fail(cmd, "deleting the mailbox", error);
	else if (ret == 0)
		imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not exist.");
	else
		imap_cmd_ok(cmd, "DELETE completed.");
	free(name);
	return true;
}

bool
cmd_rename(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct store_mailbox_info info;
	const char *error;
	char *old_name, *new_name;
	int ret;

	if (cmd->args_count != 2) {
		imap_cmd_bad(cmd, "RENAME takes two mailbox names.");
		return true;
	}
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &old_name) < 0)
		return true;
	if (imap_cmd_get_mailbox(cmd, &cmd->args[1], &new_name) < 0) {
		free(old_name);
		return true;
	}
	store_user_lock(session->user);
	ret = store_mailbox_lookup(session->user, new_name, &info, &error);
	if (ret > 0) {
		store_mailbox_info_free(&info);
		imap_cmd_no(cmd, "[ALREADYEXISTS] Target mailbox exists.");
	} else {
		ret = store_mailbox_rename(session->user, old_name, new_name,
					   &error);
		if (ret < 0)
			imap_cmd_no(cmd, "[CANNOT] Cannot rename: %s",
				    "invalid name or a child exists");
		else if (ret == 0)
			imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not "
				    "exist.");
		else
			imap_cmd_ok(cmd, "RENAME completed.");
	}
	store_user_unlock(session->user);
	free(old_name);
	free(new_name);
	return true;
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------- */

static bool
cmd_subscribe_full(struct imap_cmd *cmd, bool subscribe)
{
	const char *error;
	char *name;
	int ret;

	if (cmd->args_count != 1) {
		imap_cmd_bad(cmd, "%s takes one mailbox name.", cmd->name);
		return true;
	}
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &name) < 0)
		return true;
	/* The name need not be a mailbox (RFC 3501 6.3.6; RFC 9051 6.3.7
	   allows NO, but like Dovecot we accept it), and UNSUBSCRIBE of a
	   name not subscribed is OK too. Only an invalid name fails. */
	ret = store_subscription_set(cmd->session->user, name, subscribe,
				     &error);
	if (ret < 0)
		imap_cmd_no(cmd, "[CANNOT] Invalid mailbox name.");
	else
		imap_cmd_ok(cmd, "%s completed.", cmd->name);
	free(name);
	return true;
}

bool
cmd_subscribe(struct imap_cmd *cmd)
{
	return cmd_subscribe_full(cmd, true);
}

bool
cmd_unsubscribe(struct imap_cmd *cmd)
{
	return cmd_subscribe_full(cmd, false);
}

/* ---- STATUS ------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned int bit;
} status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "DELETED", IMAP_STATUS_DELETED },
	{ "SIZE", IMAP_STATUS_SIZE },
	{ "RECENT", IMAP_STATUS_RECENT },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	{ "DELETED-STORAGE", IMAP_STATUS_DELETED_STORAGE },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
	{ "MAILBOXID", IMAP_STATUS_MAILBOXID },
};

int
imap_status_parse_items(const struct imap_arg *arg, unsigned int *items_r,
			const char **error_r)
{
	const struct imap_arg *list;
	unsigned int count, items = 0;
	const char *atom;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		*error_r = "STATUS items must be a non-empty list.";
		return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		size_t j;

		if (!imap_arg_get_atom(&list[i], &atom)) {
			*error_r = "Invalid STATUS item.";
			return -1;
		}
		for (j = 0; j < sizeof(status_items) / sizeof(status_items[0]);
		     j++) {
			if (strcasecmp(atom, status_items[j].name) == 0)
				break;
		}
		if (j == sizeof(status_items) / sizeof(status_items[0])) {
			*error_r = "Unknown STATUS item.";
			return -1;
		}
		items |= status_items[j].bit;
	}
	*items_r = items;
	return 0;
}

int
imap_status_write(struct imap_session *session, uint64_t mailbox_id,
		  const char *name, unsigned int items, const char **error_r)
{
	struct store_mailbox_status st;
	struct buf b;
	bool first = true;
	int ret;

	ret = store_mailbox_status(session->user, mailbox_id, &st, error_r);
	if (ret <= 0)
		return ret;
	buf_init(&b, 0);
	buf_append_str(&b, "STATUS ");
	imap_write_mailbox_name(session, &b, name);
	buf_append_str(&b, " (");
	for (size_t j = 0; j < sizeof(status_items) / sizeof(status_items[0]);
	     j++) {
		uint64_t v = 0;

		if ((items & status_items[j].bit) == 0)
			continue;
		if (status_items[j].bit == IMAP_STATUS_MAILBOXID) {
			char id[OBJECTID_SIZE];

			objectid_mailbox(mailbox_id, st.uidvalidity, id);
			buf_appendf(&b, "%sMAILBOXID (%s)", first ? "" : " ",
				    id);
			first = false;
			continue;
		}
		switch (status_items[j].bit) {
		case IMAP_STATUS_MESSAGES: v = st.messages; break;
		case IMAP_STATUS_UIDNEXT: v = st.uidnext; break;
		case IMAP_STATUS_UIDVALIDITY: v = st.uidvalidity; break;
		case IMAP_STATUS_UNSEEN: v = st.unseen; break;
		case IMAP_STATUS_DELETED: v = st.deleted; break;
		case IMAP_STATUS_SIZE: v = st.size; break;
		case IMAP_STATUS_RECENT: v = st.recent; break;
		case IMAP_STATUS_HIGHESTMODSEQ: v = st.highestmodseq; break;
		/* In octets: RFC 9208 4.1.4 allows the sum of RFC822.SIZE,
		   which is exactly what an EXPUNGE frees from the quota. */
		case IMAP_STATUS_DELETED_STORAGE: v = st.deleted_size; break;
		/* The same for every mailbox: the CAPABILITY value. */
		case IMAP_STATUS_APPENDLIMIT:
			v = IMAP_DEFAULT_MAX_MESSAGE_SIZE;
			break;
		}
		buf_appendf(&b, "%s%s %" PRIu64, first ? "" : " ",
			    status_items[j].name, v);
		first = false;
	}
	buf_append_c(&b, ')');
	imap_session_untagged(session, "%s", buf_cstr(&b));
	buf_free(&b);
	return 1;
}

bool
cmd_status(struct imap_cmd *cmd)
{
	struct store_mailbox_info info;
	unsigned int items;
	const char *error;
	char *name;
	int ret;

	if (cmd->args_count != 2) {
		imap_cmd_bad(cmd, "STATUS takes a mailbox and a list.");
		return true;
	}
	if (imap_status_parse_items(&cmd->args[1], &items, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	if (imap_cmd_get_mailbox(cmd, &cmd->args[0], &name) < 0)
		return true;
	if (mailbox_find(cmd, name, &info, "[NONEXISTENT] ") > 0) {
		ret = imap_status_write(cmd->session, info.id, info.name,
					items, &error);
		if (ret < 0)
			imap_cmd_fail(cmd, "reading the status", error);
		else if (ret == 0)
			imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not "
				    "exist.");
		else
			imap_cmd_ok(cmd, "STATUS completed.");
		store_mailbox_info_free(&info);
	}
	free(name);
	return true;
}

bool
cmd_namespace(struct imap_cmd *cmd)
{
	/* RFC 2342: one personal namespace, no prefix, "/" delimiter. */
	imap_session_untagged(cmd->session, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_cmd_ok(cmd, "NAMESPACE completed.");
	return true;
}

/* ---- CLOSE / UNSELECT / CHECK ------------------------------------------ */

/* UIDs of the view's messages flagged \Deleted. */
int
imap_view_deleted_uids(struct imap_session *session,
		       struct store_uid_range **ranges_r,
		       unsigned int *count_r)
{
	uint32_t count = store_view_count(session->view);
	struct store_uid_range *ranges = NULL;
	unsigned int n = 0, alloc = 0;
	struct store_view_entry e;

	for (uint32_t seq = 1; seq <= count; seq++) {
		if (!store_view_get(session->view, seq, &e) ||
		    (e.flags & STORE_FLAG_DELETED) == 0)
			continue;
		if (n > 0 && ranges[n - 1].last + 1 == e.uid) {
			ranges[n - 1].last = e.uid;
			continue;
		}
		if (n == alloc) {
			alloc = alloc == 0 ? 16 : alloc * 2;
			ranges = realloc(ranges, alloc * sizeof(*ranges));
			if (ranges == NULL)
				abort();
		}
		ranges[n].first = ranges[n].last = e.uid;
		n++;
	}
	*ranges_r = ranges;
	*count_r = n;
	return 0;
}

bool
cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct store_uid_range *ranges;
	unsigned int count;
	const char *error;

	if (!session->read_only) {
		/* RFC 9051 6.4.1: expunge silently, then deselect. */
		imap_view_deleted_uids(session, &ranges, &count);
		if (count > 0 &&
		    store_expunge(session->user, session->mailbox_id, ranges,
				  count, NULL, &error) < 0)
			log_error(&session->log, "CLOSE expunge failed: %s",
				  error);
		free(ranges);
	}
	imap_session_unselect(session);
	imap_cmd_ok(cmd, "CLOSE completed.");
	return true;
}

bool
cmd_unselect(struct imap_cmd *cmd)
{
	imap_session_unselect(cmd->session);
	imap_cmd_ok(cmd, "UNSELECT completed.");
	return true;
}

bool
cmd_check(struct imap_cmd *cmd)
{
	imap_cmd_ok(cmd, "CHECK completed.");
	return true;
}
