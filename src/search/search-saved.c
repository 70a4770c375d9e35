/* A per-thread side table for SEARCHRES results (see search-saved.h). */
#include "search/search-saved.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-seqset.h"
#include "lib/limits.h"

struct saved_entry {
	const void *owner;
	char *session_id;
	uint64_t mailbox_id;
	uint32_t uidvalidity;
	const void *view;
	uint64_t last_used;
	/* ranges of UIDs */
	struct imap_seq_range *ranges;
	unsigned int range_count;
};

struct saved_table {
	struct saved_entry *entries;
	unsigned int count, cap;
	uint64_t clock;
};

static __thread struct saved_table *saved_table;
/* Frees a worker's table when its thread exits. */
static pthread_key_t saved_key;
static pthread_once_t saved_key_once = PTHREAD_ONCE_INIT;

static void table_free(void *table);

static void
saved_key_init(void)
{
	if (pthread_key_create(&saved_key, table_free) != 0)
		abort();
}

static struct saved_table *
table_get(void)
{
	if (saved_table == NULL) {
		saved_table = calloc(1, sizeof(*saved_table));
		if (saved_table == NULL)
			abort();
		(void)pthread_once(&saved_key_once, saved_key_init);
		(void)pthread_setspecific(saved_key, saved_table);
	}
	return saved_table;
}

static void
entry_free(struct saved_entry *entry)
{
	free(entry->session_id);
	free(entry->ranges);
	memset(entry, 0, sizeof(*entry));
}

static void
entry_remove(struct saved_table *t, unsigned int idx)
{
	entry_free(&t->entries[idx]);
	t->entries[idx] = t->entries[--t->count];
}

static bool
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
find_owner(struct saved_table *t, const void *owner)
{
	for (unsigned int i = 0; i < t->count; i++) {
		if (t->entries[i].owner == owner)
			return (int)i;
	}
	return -1;
}

void
search_saved_set(const struct search_saved_key *key, const uint32_t *uids,
		 unsigned int count)
{
	struct saved_table *t = table_get();
	struct saved_entry *entry;
	unsigned int i, n = 0;
	int idx = find_owner(t, key->owner);

	if (idx >= 0) {
		entry_free(&t->entries[idx]);
		entry = &t->entries[idx];
	} else {
		if (t->count >= SEARCH_MAX_SAVED_SESSIONS) {
			unsigned int oldest = 0;

			for (i = 1; i < t->count; i++) {
				if (t->entries[i].last_used <
				    t->entries[oldest].last_used)
					oldest = i;
			}
			entry_remove(t, oldest);
		}
		if (t->count == t->cap) {
			t->cap = t->cap == 0 ? 16 : t->cap * 2;
			t->entries = realloc(t->entries,
					     t->cap * sizeof(*t->entries));
			if (t->entries == NULL)
				abort();
		}
		entry = &t->entries[t->count++];
		memset(entry, 0, sizeof(*entry));
	}
	entry->owner = key->owner;
	entry->session_id = key->session_id == NULL ? NULL :
		strdup(key->session_id);
	if (key->session_id != NULL && entry->session_id == NULL)
		abort();
	entry->mailbox_id = key->mailbox_id;
	entry->uidvalidity = key->uidvalidity;
	entry->view = key->view;
	entry->last_used = ++t->clock;
	/* Compact into ranges: a result of every message is one range. */
	entry->ranges = calloc(count == 0 ? 1 : count,
			       sizeof(*entry->ranges));
	if (entry->ranges == NULL)
		abort();
	for (i = 0; i < count; i++) {
		if (n > 0 && entry->ranges[n - 1].last != UINT32_MAX &&
		    uids[i] == entry->ranges[n - 1].last + 1) {
			entry->ranges[n - 1].last = uids[i];
		} else {
			entry->ranges[n].first = uids[i];
			entry->ranges[n].last = uids[i];
			n++;
		}
	}
	entry->range_count = n;
	if (n < count && n > 0) {
		struct imap_seq_range *r =
			realloc(entry->ranges, n * sizeof(*r));

		if (r != NULL)
			entry->ranges = r;
	}
}

struct imap_seqset *
search_saved_get(const struct search_saved_key *key)
{
	struct saved_table *t = table_get();
	struct saved_entry *entry;
	struct imap_seqset *set;
	int idx = find_owner(t, key->owner);

	if (idx < 0)
		return NULL;
	entry = &t->entries[idx];
	if (!same_str(entry->session_id, key->session_id) ||
	    entry->mailbox_id != key->mailbox_id ||
	    entry->uidvalidity != key->uidvalidity ||
	    entry->view != key->view) {
		/* Another selection (or a new session at a reused
		   address): that result is gone (RFC 5182 2.1). */
		entry_remove(t, (unsigned int)idx);
		return NULL;
	}
	entry->last_used = ++t->clock;
	set = imap_seqset_create();
	for (unsigned int i = 0; i < entry->range_count; i++)
		imap_seqset_add_range(set, entry->ranges[i].first,
				      entry->ranges[i].last);
	return set;
}

void
search_saved_clear(const void *owner)
{
	struct saved_table *t = table_get();
	int idx = find_owner(t, owner);

	if (idx >= 0)
		entry_remove(t, (unsigned int)idx);
}

static void
table_free(void *table)
{
	struct saved_table *t = table;

	for (unsigned int i = 0; i < t->count; i++)
		entry_free(&t->entries[i]);
	free(t->entries);
	free(t);
}

void
search_saved_deinit(void)
{
	if (saved_table == NULL)
		return;
	(void)pthread_setspecific(saved_key, NULL);
	table_free(saved_table);
	saved_table = NULL;
}
