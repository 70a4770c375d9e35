/* GETMETADATA and SETMETADATA (RFC 5464 METADATA and METADATA-SERVER).

   Entries of a mailbox and the server's own ("" as the mailbox name) live
   in the user's store (store.h, "metadata"), private and shared ones side
   by side: every store belongs to one user, so a mailbox's /shared
   entries are seen by that user alone, but they stay distinct from its
   /private ones. The server's /shared entries would be common to every
   user, which per-user stores cannot hold: they are read-only here, and
   /shared/admin (RFC 5464 3.2.1.1) comes from [server] admin_contact.
   A mailbox's /private/specialuse is its special-use attribute (RFC 6154
   4), read and set here as the store's special_use, never stored as an
   entry. */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/strnum.h"
#include "store/store.h"

/* Longest value sent as a quoted string; longer ones go as literals. */
#define METADATA_QUOTED_MAX 1024

/* The RFC 6154 4 entry that mirrors a mailbox's special use. */
#define METADATA_SPECIALUSE "/private/specialuse"

/* Reads the mailbox argument: "" is the server (*mailbox_id_r 0),
   anything else an existing mailbox. Returns 1 with *name_r (malloc'ed,
   "" for the server) and the mailbox's special use, or 0 after
   replying. */
static int
metadata_mailbox(struct imap_cmd *cmd, const struct imap_arg *arg,
		 uint64_t *mailbox_id_r, char **name_r,
		 enum store_special_use *use_r)
{
	struct store_mailbox_info info;
	const uint8_t *data;
	const char *error;
	size_t len;
	char *name;
	int ret;

	if (!imap_arg_get_astring(arg, &data, &len)) {
		imap_cmd_bad(cmd, "Mailbox name expected.");
		return 0;
	}
	*use_r = STORE_SPECIAL_NONE;
	if (len == 0) {
		*mailbox_id_r = 0;
		*name_r = imap_xstrdup("");
		return 1;
	}
	if (imap_cmd_get_mailbox(cmd, arg, &name) < 0)
		return 0;
	ret = store_mailbox_lookup(cmd->session->user, name, &info, &error);
	if (ret <= 0) {
		imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not exist.");
		free(name);
		return 0;
	}
	*mailbox_id_r = info.id;
	*use_r = info.special_use;
	store_mailbox_info_free(&info);
	*name_r = name;
	return 1;
}

/* Writes an entry name or value as an IMAP string: quoted when it is
   short printable ASCII, else a literal, and a literal8 (RFC 4466) when
   it holds NUL (RFC 5464 4.4.1: value = nstring / literal8). */
static void
metadata_write_string(struct buf *out, const uint8_t *data, size_t len)
{
	bool quotable = len <= METADATA_QUOTED_MAX, nul = false;

	for (size_t i = 0; i < len; i++) {
		if (data[i] < 0x20 || data[i] >= 0x7f)
			quotable = false;
		if (data[i] == 0)
			nul = true;
	}
	if (quotable) {
		buf_append_c(out, '"');
		for (size_t i = 0; i < len; i++) {
			if (data[i] == '"' || data[i] == '\\')
				buf_append_c(out, '\\');
			buf_append_c(out, data[i]);
		}
		buf_append_c(out, '"');
		return;
	}
	buf_appendf(out, "%s{%zu}\r\n", nul ? "~" : "", len);
	buf_append(out, data, len);
}

/* Whether `name` is `entry` or below it within depth levels. */
static bool
metadata_entry_matches(const char *entry, unsigned depth, const char *name)
{
	size_t elen = strlen(entry);
	unsigned levels = 0;

	if (strncmp(name, entry, elen) != 0)
		return false;
	if (name[elen] == '\0')
		return true;
	if (name[elen] != '/')
		return false;
	for (const char *p = name + elen; *p != '\0'; p++) {
		if (*p == '/')
			levels++;
	}
	return levels <= depth;
}

/* ---- GETMETADATA --------------------------------------------------------- */

/* The response being built: entries found, in the order found. */
struct metadata_result {
	struct store_metadata_entry *entries;
	unsigned count, alloc;
};

static void
metadata_result_add(struct metadata_result *res, const char *name,
		    const uint8_t *value, size_t size)
{
	/* Two requested entries may overlap ("/private" DEPTH infinity and
	   "/private/comment"): each entry goes out once. */
	for (unsigned i = 0; i < res->count; i++) {
		if (strcmp(res->entries[i].name, name) == 0)
			return;
	}
	if (res->count == res->alloc) {
		unsigned n = res->alloc == 0 ? 8 : res->alloc * 2;
		struct store_metadata_entry *e =
			realloc(res->entries, sizeof(*e) * n);
		if (e == NULL)
			abort();
		res->entries = e;
		res->alloc = n;
	}
	struct store_metadata_entry *e = &res->entries[res->count++];
	e->name = imap_xstrdup(name);
	e->value = value == NULL ? NULL :
				     (uint8_t *)imap_xstrndup(value, size);
	e->size = size;
}

static int
metadata_entry_cmp(const void *a, const void *b)
{
	const struct store_metadata_entry *ea = a, *eb = b;
	return strcmp(ea->name, eb->name);
}

/* GETMETADATA options (RFC 5464 4.2): "(MAXSIZE n DEPTH d)". */
static int
metadata_parse_options(struct imap_cmd *cmd, const struct imap_arg *arg,
		       uint64_t *maxsize_r, bool *have_maxsize_r,
		       unsigned *depth_r)
{
	const struct imap_arg *list;
	unsigned int count;
	const char *atom;
	bool have_depth = false;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0 ||
	    count % 2 != 0) {
		imap_cmd_bad(cmd, "Invalid GETMETADATA options.");
		return -1;
	}
	for (unsigned i = 0; i < count; i += 2) {
		if (imap_arg_atom_equals(&list[i], "MAXSIZE") &&
		    !*have_maxsize_r) {
			if (!imap_arg_get_atom(&list[i + 1], &atom) ||
			    str_to_u64z(atom, UINT32_MAX, maxsize_r) < 0) {
				imap_cmd_bad(cmd, "Invalid MAXSIZE.");
				return -1;
			}
			*have_maxsize_r = true;
		} else if (imap_arg_atom_equals(&list[i], "DEPTH") &&
			   !have_depth) {
			if (imap_arg_atom_equals(&list[i + 1], "0"))
				*depth_r = 0;
			else if (imap_arg_atom_equals(&list[i + 1], "1"))
				*depth_r = 1;
			else if (imap_arg_atom_equals(&list[i + 1],
						      "infinity"))
				*depth_r = STORE_METADATA_DEPTH_INFINITY;
			else {
				imap_cmd_bad(cmd, "Invalid DEPTH.");
				return -1;
			}
			have_depth = true;
		} else {
			imap_cmd_bad(cmd, "Unknown or repeated GETMETADATA "
				     "option.");
			return -1;
		}
	}
	return 0;
}

/* The entries argument: one entry name or a list of them. Returns the
   canonical names (malloc'ed array of malloc'ed strings), or NULL after
   replying BAD. */
static char **
metadata_parse_entries(struct imap_cmd *cmd, const struct imap_arg *arg,
		       bool for_set, unsigned *count_r)
{
	const struct imap_arg *list = arg;
	unsigned int count = 1;
	const uint8_t *data;
	const char *error;
	size_t len;

	if (arg->type == IMAP_ARG_LIST) {
		(void)imap_arg_get_list(arg, &list, &count);
		if (count == 0) {
			imap_cmd_bad(cmd, "Entry name expected.");
			return NULL;
		}
	}
	if (count > METADATA_MAX_COMMAND_ENTRIES) {
		imap_cmd_bad(cmd, "Too many entries in one command.");
		return NULL;
	}
	char **names = imap_xcalloc(count, sizeof(*names));
	for (unsigned i = 0; i < count; i++) {
		if (!imap_arg_get_astring(&list[i], &data, &len)) {
			error = "Entry name expected";
			goto bad;
		}
		if (!store_metadata_entry_canon(data, len, for_set, &names[i],
						&error))
			goto bad;
	}
	*count_r = count;
	return names;
bad:
	imap_cmd_bad(cmd, "%s.", error);
	for (unsigned i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return NULL;
}

/* Values the server supplies itself (not stored): RFC 5464 3.2.1.1. */
static void
metadata_add_server_entries(struct imap_cmd *cmd, const char *entry,
			    unsigned depth, struct metadata_result *res)
{
	const char *admin = cmd->session->service->set.admin_contact;

	if (admin != NULL && admin[0] != '\0' &&
	    metadata_entry_matches(entry, depth, "/shared/admin"))
		metadata_result_add(res, "/shared/admin",
				    (const uint8_t *)admin, strlen(admin));
}

/* A mailbox's /private/specialuse (RFC 6154 4). */
static void
metadata_add_mailbox_entries(const char *entry, unsigned depth,
			     enum store_special_use use,
			     struct metadata_result *res)
{
	const char *name = imap_special_use_name(use);

	if (name != NULL &&
	    metadata_entry_matches(entry, depth, METADATA_SPECIALUSE))
		metadata_result_add(res, METADATA_SPECIALUSE,
				    (const uint8_t *)name, strlen(name));
}

bool
cmd_getmetadata(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const struct imap_arg *opts = NULL, *mbox_arg, *entries_arg;
	struct metadata_result res = { 0 };
	uint64_t maxsize = 0, mailbox_id, longest = 0;
	enum store_special_use use;
	bool have_maxsize = false;
	unsigned depth = 0, entry_count = 0;
	char **entries = NULL, *mailbox = NULL;
	const char *error;

	/* RFC 5464 4.2 puts the options before the mailbox in its syntax
	   and after it in its examples; both forms are in use. */
	if (cmd->args_count == 3 && cmd->args[0].type == IMAP_ARG_LIST) {
		opts = &cmd->args[0];
		mbox_arg = &cmd->args[1];
		entries_arg = &cmd->args[2];
	} else if (cmd->args_count == 3) {
		mbox_arg = &cmd->args[0];
		opts = &cmd->args[1];
		entries_arg = &cmd->args[2];
	} else if (cmd->args_count == 2) {
		mbox_arg = &cmd->args[0];
		entries_arg = &cmd->args[1];
	} else {
		imap_cmd_bad(cmd, "GETMETADATA takes [options] mailbox "
			     "entries.");
		return true;
	}
	if (opts != NULL && metadata_parse_options(cmd, opts, &maxsize,
						   &have_maxsize, &depth) < 0)
		return true;
	entries = metadata_parse_entries(cmd, entries_arg, false,
					 &entry_count);
	if (entries == NULL)
		return true;
	if (!metadata_mailbox(cmd, mbox_arg, &mailbox_id, &mailbox, &use))
		goto out;

	for (unsigned i = 0; i < entry_count; i++) {
		struct store_metadata_entry *found;
		unsigned found_count;
		bool self = false;
		int ret;

		ret = store_metadata_get(session->user, mailbox_id, entries[i],
					 depth, &found, &found_count, &error);
		if (ret < 0) {
			imap_cmd_fail(cmd, "reading metadata", error);
			goto out;
		}
		if (ret == 0) {
			imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not "
				    "exist.");
			goto out;
		}
		for (unsigned k = 0; k < found_count; k++) {
			metadata_result_add(&res, found[k].name,
					    found[k].value, found[k].size);
			if (strcmp(found[k].name, entries[i]) == 0)
				self = true;
		}
		store_metadata_entries_free(&found, found_count);
		if (mailbox_id == 0)
			metadata_add_server_entries(cmd, entries[i], depth,
						    &res);
		else
			metadata_add_mailbox_entries(entries[i], depth, use,
						     &res);
		/* An entry asked for by name that has no value is reported
		   as NIL; "/private" and "/shared" themselves never hold
		   one. */
		if (!self && strchr(entries[i] + 1, '/') != NULL)
			metadata_result_add(&res, entries[i], NULL, 0);
	}
	/* One response, its entries sorted by name. */
	qsort(res.entries, res.count, sizeof(*res.entries),
	      metadata_entry_cmp);

	struct buf b;
	bool any = false;
	buf_init(&b, 0);
	buf_append_str(&b, "* METADATA ");
	if (mailbox_id == 0)
		buf_append_str(&b, "\"\"");
	else
		imap_write_mailbox_name(session, &b, mailbox);
	buf_append_str(&b, " (");
	for (unsigned i = 0; i < res.count; i++) {
		const struct store_metadata_entry *e = &res.entries[i];
		/* RFC 5464 4.2.1: values over MAXSIZE are left out and the
		   largest of them is named in LONGENTRIES. */
		if (have_maxsize && e->value != NULL && e->size > maxsize) {
			if (e->size > longest)
				longest = e->size;
			continue;
		}
		if (any)
			buf_append_c(&b, ' ');
		any = true;
		metadata_write_string(&b, (const uint8_t *)e->name,
				      strlen(e->name));
		buf_append_c(&b, ' ');
		if (e->value == NULL)
			buf_append_str(&b, "NIL");
		else
			metadata_write_string(&b, e->value, e->size);
	}
	buf_append_str(&b, ")\r\n");
	if (any)
		imap_session_write(session, b.data, b.len);
	buf_free(&b);
	if (longest > 0) {
		imap_cmd_ok(cmd, "[METADATA LONGENTRIES %llu] GETMETADATA "
			    "completed.", (unsigned long long)longest);
	} else {
		imap_cmd_ok(cmd, "GETMETADATA completed.");
	}
out:
	store_metadata_entries_free(&res.entries, res.count);
	for (unsigned i = 0; i < entry_count; i++)
		free(entries[i]);
	free(entries);
	free(mailbox);
	return true;
}

/* ---- SETMETADATA --------------------------------------------------------- */

/* A /private/specialuse value: NIL or empty for none, else a
   space-separated list of attributes, all the same one since the store
   keeps one per mailbox (RFC 6154 4 asks for the checks CREATE makes).
   Returns true with *use_r. */
static bool
metadata_parse_specialuse(const uint8_t *value, size_t size,
			  enum store_special_use *use_r)
{
	size_t i = 0;

	*use_r = STORE_SPECIAL_NONE;
	if (value == NULL)
		return true;
	while (i < size) {
		size_t start = i;
		while (i < size && value[i] != ' ')
			i++;
		if (i == start)
			return false;
		enum store_special_use use =
			imap_special_use_parse(value + start, i - start);
		if (use == STORE_SPECIAL_NONE ||
		    (*use_r != STORE_SPECIAL_NONE && *use_r != use))
			return false;
		*use_r = use;
		if (i < size)
			i++; /* the space */
		if (i == size && value[size - 1] == ' ')
			return false;
	}
	return true;
}

bool
cmd_setmetadata(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const struct imap_arg *list;
	struct store_metadata_change *changes = NULL, *stored = NULL;
	enum store_metadata_refusal refusal;
	enum store_special_use use, new_use = STORE_SPECIAL_NONE;
	unsigned int count, change_count = 0, stored_count = 0;
	bool set_use = false;
	uint64_t mailbox_id;
	char *mailbox = NULL;
	const char *error;
	int ret;

	if (cmd->args_count != 2 ||
	    !imap_arg_get_list(&cmd->args[1], &list, &count) || count == 0 ||
	    count % 2 != 0) {
		imap_cmd_bad(cmd, "SETMETADATA takes a mailbox and a list of "
			     "entries and values.");
		return true;
	}
	change_count = count / 2;
	changes = imap_xcalloc(change_count, sizeof(*changes));
	for (unsigned i = 0; i < change_count; i++) {
		const struct imap_arg *name = &list[2 * i];
		const struct imap_arg *value = &list[2 * i + 1];
		const uint8_t *data;
		size_t len;
		char *canon;

		if (!imap_arg_get_astring(name, &data, &len)) {
			imap_cmd_bad(cmd, "Entry name expected.");
			goto out;
		}
		if (!store_metadata_entry_canon(data, len, true, &canon,
						&error)) {
			imap_cmd_bad(cmd, "%s.", error);
			goto out;
		}
		changes[i].name = canon;
		/* value = nstring / literal8; an atom is not a value. */
		if (!imap_arg_get_nstring(value, &changes[i].value,
					  &changes[i].size)) {
			imap_cmd_bad(cmd, "Entry value must be a string or "
				     "NIL.");
			goto out;
		}
	}
	if (change_count > METADATA_MAX_COMMAND_ENTRIES) {
		imap_cmd_no(cmd, "[METADATA TOOMANY] Too many entries.");
		goto out;
	}
	if (!metadata_mailbox(cmd, &cmd->args[0], &mailbox_id, &mailbox,
			      &use))
		goto out;
	stored = imap_xcalloc(change_count, sizeof(*stored));
	for (unsigned i = 0; i < change_count; i++) {
		if (mailbox_id == 0 &&
		    strncmp(changes[i].name, "/shared/", 8) == 0) {
			imap_cmd_no(cmd, "[NOPERM] Server /shared entries are "
				    "read-only.");
			goto out;
		}
		if (mailbox_id == 0 ||
		    strcmp(changes[i].name, METADATA_SPECIALUSE) != 0) {
			stored[stored_count++] = changes[i];
			continue;
		}
		/* The last one wins, as for stored entries. */
		if (!metadata_parse_specialuse(changes[i].value,
					       changes[i].size, &new_use)) {
			imap_cmd_no(cmd, "[USEATTR] Unsupported special-use "
				    "value.");
			goto out;
		}
		set_use = true;
	}
	/* Under the user's lock so that the special use and the entries
	   change together for other sessions. */
	store_user_lock(session->user);
	ret = store_metadata_set(session->user, mailbox_id, stored,
				 stored_count, &refusal, &error);
	if (ret > 0 && set_use && new_use != use) {
		ret = store_mailbox_set_special_use(session->user, mailbox,
						    new_use, &error);
		if (ret == 0)
			refusal = STORE_METADATA_NO_MAILBOX;
	}
	store_user_unlock(session->user);
	if (ret < 0) {
		imap_cmd_fail(cmd, "setting metadata", error);
	} else if (ret > 0) {
		imap_cmd_ok(cmd, "SETMETADATA completed.");
	} else if (refusal == STORE_METADATA_TOO_LARGE) {
		imap_cmd_no(cmd, "[METADATA MAXSIZE %u] Value too large.",
			    (unsigned)METADATA_MAX_VALUE_SIZE);
	} else if (refusal == STORE_METADATA_TOO_MANY) {
		imap_cmd_no(cmd, "[METADATA TOOMANY] Too many entries.");
	} else {
		imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not exist.");
	}
out:
	for (unsigned i = 0; i < change_count; i++)
		free((char *)changes[i].name);
	free(changes);
	free(stored);
	free(mailbox);
	return true;
}
