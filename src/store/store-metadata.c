/* The store front for METADATA (RFC 5464): entry name rules, argument
   checks and locking around the backend's metadata calls. */
#include "store/store-private.h"

#include "lib/limits.h"
#include "lib/mutf7.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* True if the len bytes at p are the component `word` (ASCII case
   ignored). */
static bool
component_is(const uint8_t *p, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp((const char *)p, word,
						  len) == 0;
}

bool
store_metadata_entry_canon(const uint8_t *name, size_t len, bool for_set,
			   char **canon_r, const char **error_r)
{
	/* Component boundaries of the first three components. */
	size_t comp_start[3] = { 0 }, comp_len[3] = { 0 };
	unsigned comps = 0;

	*canon_r = NULL;
	if (len == 0 || name[0] != '/') {
		*error_r = "Entry name must begin with /private or /shared";
		return false;
	}
	if (len > METADATA_MAX_ENTRY_NAME) {
		*error_r = "Entry name too long";
		return false;
	}
	if (name[len - 1] == '/') {
		*error_r = "Entry name must not end with /";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];
		/* RFC 5464 3.2: "*" and "%" would be LIST-style
		   wildcards. */
		if (c == '*' || c == '%') {
			*error_r = "Entry name must not contain * or %";
			return false;
		}
		/* RFC 5464 3.2 discourages control characters; a name is
		   shown to people and written to logs, so refuse them. */
		if (c < 0x20 || c == 0x7f) {
			*error_r = "Entry name must not contain control "
				   "characters";
			return false;
		}
		if (c != '/')
			continue;
		if (i + 1 < len && name[i + 1] == '/') {
			*error_r = "Entry name must not contain //";
			return false;
		}
		if (comps < 3) {
			comp_start[comps] = i + 1;
			size_t end = i + 1;
			while (end < len && name[end] != '/')
				end++;
			comp_len[comps] = end - (i + 1);
		}
		comps++;
	}
	if (!utf8_is_valid(name, len)) {
		*error_r = "Entry name is not valid UTF-8";
		return false;
	}
	if (!component_is(name + comp_start[0], comp_len[0], "private") &&
	    !component_is(name + comp_start[0], comp_len[0], "shared")) {
		*error_r = "Entry name must begin with /private or /shared";
		return false;
	}
	if (for_set && comps == 1) {
		*error_r = "Entry name must name an entry below /private or "
			   "/shared";
		return false;
	}
	/* RFC 5464 3.2.1.3: the vendor tree is divided by vendor-token;
	   an entry in it names one. */
	if (for_set && comps == 2 &&
	    component_is(name + comp_start[1], comp_len[1], "vendor")) {
		*error_r = "Vendor entry names need a vendor-token";
		return false;
	}

	/* RFC 5464 3.2: entry names are case-insensitive. Only ASCII is
	   folded: bytes of UTF-8 sequences are left as they are. */
	char *canon = store_malloc0(len + 1);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];
		canon[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	*canon_r = canon;
	return true;
}

/* A canonical name is its own canonical form. */
static bool
entry_is_canonical(const char *name, bool for_set)
{
	char *canon;
	const char *error;
	bool ok;

	if (!store_metadata_entry_canon((const uint8_t *)name, strlen(name),
					for_set, &canon, &error))
		return false;
	ok = strcmp(canon, name) == 0;
	free(canon);
	return ok;
}

void
store_metadata_entries_free(struct store_metadata_entry **_entries,
			    unsigned count)
{
	struct store_metadata_entry *entries = *_entries;

	if (entries == NULL)
		return;
	for (unsigned i = 0; i < count; i++) {
		free(entries[i].name);
		free(entries[i].value);
	}
	free(entries);
	*_entries = NULL;
}

int
store_metadata_get(struct store_user *user, uint64_t mailbox_id,
		   const char *entry, unsigned depth,
		   struct store_metadata_entry **entries_r, unsigned *count_r,
		   const char **error_r)
{
	int ret;

	*entries_r = NULL;
	*count_r = 0;
	if (!entry_is_canonical(entry, false))
		return store_error(error_r, "Invalid metadata entry name");
	store_user_lock(user);
	ret = user->store->backend->metadata_get(user, mailbox_id, entry,
						 depth, entries_r, count_r,
						 error_r);
	user->store->backend->call_end(user);
	store_user_unlock(user);
	return ret;
}

int
store_metadata_set(struct store_user *user, uint64_t mailbox_id,
		   const struct store_metadata_change *changes, unsigned count,
		   enum store_metadata_refusal *refusal_r,
		   const char **error_r)
{
	int ret;

	*refusal_r = STORE_METADATA_REFUSED_NONE;
	for (unsigned i = 0; i < count; i++) {
		if (!entry_is_canonical(changes[i].name, true)) {
			return store_error(error_r,
					   "Invalid metadata entry name");
		}
		if (changes[i].value != NULL &&
		    changes[i].size > METADATA_MAX_VALUE_SIZE) {
			*refusal_r = STORE_METADATA_TOO_LARGE;
			return 0;
		}
	}
	if (count == 0)
		return 1;
	store_user_lock(user);
	ret = user->store->backend->metadata_set(user, mailbox_id, changes,
						 count, refusal_r, error_r);
	user->store->backend->call_end(user);
	store_user_unlock(user);
	return ret;
}
