/* The shared view of a selected mailbox and the per-session cursors on it
   (DESIGN "The selected mailbox"). Backend-independent: it is refreshed
   through the backend's status and changes calls.

   Each entry records the view modseq at which it joined (added_at; 0 for
   the initial load) and at which it was seen expunged (expunged_at; 0 =
   live). Because UIDs only grow, entries are appended in UID order and
   added_at never decreases along the array. A cursor's numbering is
     added_at <= cursor->seen  and  (expunged_at == 0 or
                                     expunged_at > cursor->expunge_point)
   so the first condition selects a prefix (binary search) and the second
   only matters while the view retains expunged entries. Retained entries
   are dropped once every cursor's expunge_point has passed them. */
#include "store/store-private.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct view_entry {
	struct store_view_entry e;
	uint64_t added_at;
	uint64_t expunged_at;
};

struct store_view_shared {
	struct store_view_shared *next;
	struct store_user *user;
	uint64_t mailbox_id;
	uint64_t modseq; /* refreshed up to (the mailbox's HIGHESTMODSEQ) */
	struct view_entry *entries;
	unsigned count, alloc;
	unsigned retained; /* entries with expunged_at != 0 */
	/* Their indexes, ascending (rebuilt when dirty): sequence number
	   lookups skip over them in O(retained), not O(messages). */
	unsigned *ridx;
	unsigned ridx_alloc;
	bool ridx_dirty;
	struct store_view *cursors;
};

struct store_view {
	struct store_view *next;
	struct store_view_shared *shared;
	struct store_user *user; /* referenced */
	uint64_t seen;		 /* modseq reported up to */
	uint64_t expunge_point;	 /* expunges up to here are reported */
};

static void
entry_from_message(struct store_view_entry *e, const struct store_message *m)
{
	e->uid = m->uid;
	e->flags = m->flags;
	e->keywords = m->keywords;
	e->modseq = m->modseq;
	e->size = m->size;
	e->blob_id = m->blob_id;
	e->internal_date = m->internal_date;
	e->save_date = m->save_date;
}

/* Index of uid, or -1; *pos_r is where it would go. */
static long
shared_find(const struct store_view_shared *sh, uint32_t uid, unsigned *pos_r)
{
	unsigned lo = 0, hi = sh->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (sh->entries[mid].e.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos_r != NULL)
		*pos_r = lo;
	return lo < sh->count && sh->entries[lo].e.uid == uid ? (long)lo : -1;
}

/* Pulls changes after sh->modseq from the store. Locked. Returns 1, 0 if
   the mailbox is gone, -1. */
static int
shared_refresh(struct store_view_shared *sh, const char **error_r)
{
	struct store_user *user = sh->user;
	const struct store_backend *be = user->store->backend;
	struct store_message *changed = NULL;
	uint32_t *expunged = NULL;
	unsigned nc = 0, ne = 0;
	uint64_t m = 0;
	int ret;

	/* A primary-key lookup decides whether there is anything to read;
	   every woken session does this, so it must not scan. */
	ret = be->mailbox_modseq(user, sh->mailbox_id, &m, error_r);
	if (ret <= 0 || m == sh->modseq)
		return ret;
	ret = be->mailbox_changes(user, sh->mailbox_id, sh->modseq, &changed,
				  &nc, &expunged, &ne, &m, error_r);
	if (ret <= 0)
		return ret;

	for (unsigned i = 0; i < nc; i++) {
		unsigned pos;
		long idx = shared_find(sh, changed[i].uid, &pos);
		if (idx >= 0) {
			entry_from_message(&sh->entries[idx].e, &changed[i]);
			continue;
		}
		store_array_grow((void **)&sh->entries, sizeof(*sh->entries),
				 &sh->alloc, sh->count);
		/* Always the tail in practice (UIDs grow); memmove keeps
		   the order even if not. */
		memmove(&sh->entries[pos + 1], &sh->entries[pos],
			(sh->count - pos) * sizeof(*sh->entries));
		memset(&sh->entries[pos], 0, sizeof(sh->entries[pos]));
		entry_from_message(&sh->entries[pos].e, &changed[i]);
		sh->entries[pos].added_at = m;
		sh->count++;
		if (pos + 1 != sh->count)
			sh->ridx_dirty = true;
	}
	for (unsigned i = 0; i < ne; i++) {
		long idx = shared_find(sh, expunged[i], NULL);
		if (idx >= 0 && sh->entries[idx].expunged_at == 0) {
			sh->entries[idx].expunged_at = m;
			sh->retained++;
			sh->ridx_dirty = true;
		}
	}
	sh->modseq = m;
	free(changed);
	free(expunged);
	return 1;
}

/* Drops expunged entries every cursor has reported. */
static void
shared_gc(struct store_view_shared *sh)
{
	if (sh->retained == 0)
		return;
	uint64_t min_point = UINT64_MAX;
	for (struct store_view *c = sh->cursors; c != NULL; c = c->next) {
		if (c->expunge_point < min_point)
			min_point = c->expunge_point;
	}
	unsigned out = 0;
	for (unsigned i = 0; i < sh->count; i++) {
		const struct view_entry *ve = &sh->entries[i];
		if (ve->expunged_at != 0 && ve->expunged_at <= min_point) {
			sh->retained--;
			continue;
		}
		sh->entries[out++] = *ve;
	}
	if (out != sh->count)
		sh->ridx_dirty = true;
	sh->count = out;
}

static void
shared_ridx_update(struct store_view_shared *sh)
{
	if (!sh->ridx_dirty)
		return;
	unsigned n = 0;
	for (unsigned i = 0; i < sh->count; i++) {
		if (sh->entries[i].expunged_at == 0)
			continue;
		store_array_grow((void **)&sh->ridx, sizeof(*sh->ridx),
				 &sh->ridx_alloc, n);
		sh->ridx[n++] = i;
	}
	assert(n == sh->retained);
	sh->ridx_dirty = false;
}

/* Length of the prefix with added_at <= seen. */
static unsigned
cursor_prefix(const struct store_view *c)
{
	const struct store_view_shared *sh = c->shared;
	unsigned lo = 0, hi = sh->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (sh->entries[mid].added_at <= c->seen)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
cursor_visible(const struct store_view *c, const struct view_entry *ve)
{
	return ve->added_at <= c->seen &&
	       (ve->expunged_at == 0 || ve->expunged_at > c->expunge_point);
}

/* Hidden from this cursor although still in the shared view. */
static bool
cursor_hidden(const struct store_view *c, unsigned idx)
{
	const struct view_entry *ve = &c->shared->entries[idx];
	return ve->expunged_at != 0 && ve->expunged_at <= c->expunge_point;
}

/* Retained entries before index `end` that this cursor does not count. */
static unsigned
cursor_hidden_before(const struct store_view *c, unsigned end)
{
	const struct store_view_shared *sh = c->shared;
	unsigned n = 0;

	for (unsigned k = 0; k < sh->retained && sh->ridx[k] < end; k++)
		n += cursor_hidden(c, sh->ridx[k]) ? 1 : 0;
	return n;
}

static uint32_t
cursor_count(const struct store_view *c)
{
	unsigned prefix = cursor_prefix(c);
	return prefix - cursor_hidden_before(c, prefix);
}

int
store_view_open(struct store_user *user, uint64_t mailbox_id,
		struct store_view **view_r, const char **error_r)
{
	struct store_view_shared *sh;
	int ret;

	*view_r = NULL;
	store_user_lock(user);
	for (sh = user->views; sh != NULL; sh = sh->next) {
		if (sh->mailbox_id == mailbox_id)
			break;
	}
	bool created = sh == NULL;
	if (created) {
		sh = store_malloc0(sizeof(*sh));
		sh->user = user;
		sh->mailbox_id = mailbox_id;
	}
	ret = shared_refresh(sh, error_r);
	user->store->backend->call_end(user);
	if (ret <= 0) {
		if (created) {
			free(sh->entries);
			free(sh->ridx);
			free(sh);
		}
		store_user_unlock(user);
		return ret;
	}
	if (created) {
		/* The initial load: visible to everyone from the start. */
		for (unsigned i = 0; i < sh->count; i++)
			sh->entries[i].added_at = 0;
		sh->next = user->views;
		user->views = sh;
	}
	struct store_view *c = store_malloc0(sizeof(*c));
	c->shared = sh;
	c->user = user;
	c->seen = sh->modseq;
	c->expunge_point = sh->modseq;
	c->next = sh->cursors;
	sh->cursors = c;
	store_user_ref(user);
	store_user_unlock(user);
	*view_r = c;
	return 1;
}

void
store_view_close(struct store_view **_view)
{
	struct store_view *c = *_view;

	if (c == NULL)
		return;
	*_view = NULL;

	struct store_user *user = c->user;
	struct store_view_shared *sh = c->shared;
	store_user_lock(user);
	struct store_view **p = &sh->cursors;
	while (*p != c)
		p = &(*p)->next;
	*p = c->next;
	if (sh->cursors == NULL) {
		struct store_view_shared **sp = &user->views;
		while (*sp != sh)
			sp = &(*sp)->next;
		*sp = sh->next;
		free(sh->entries);
		free(sh->ridx);
		free(sh);
	} else {
		shared_gc(sh);
	}
	store_user_unlock(user);
	free(c);
	store_user_unref(&user);
}

uint32_t
store_view_count(struct store_view *view)
{
	store_user_lock(view->user);
	shared_ridx_update(view->shared);
	uint32_t n = cursor_count(view);
	store_user_unlock(view->user);
	return n;
}

bool
store_view_get(struct store_view *view, uint32_t seq,
	       struct store_view_entry *entry_r)
{
	struct store_view_shared *sh = view->shared;
	bool found = false;

	if (seq == 0)
		return false;
	store_user_lock(view->user);
	shared_ridx_update(sh);
	unsigned prefix = cursor_prefix(view);
	/* Start at seq-1 and step over each hidden entry at or before the
	   candidate (they are sorted, so one pass does it). */
	uint64_t idx = seq - 1;
	for (unsigned k = 0; k < sh->retained && sh->ridx[k] <= idx; k++) {
		if (cursor_hidden(view, sh->ridx[k]))
			idx++;
	}
	if (idx < prefix) {
		*entry_r = sh->entries[idx].e;
		found = true;
	}
	store_user_unlock(view->user);
	return found;
}

uint32_t
store_view_seq(struct store_view *view, uint32_t uid)
{
	struct store_view_shared *sh = view->shared;
	uint32_t seq = 0;

	store_user_lock(view->user);
	shared_ridx_update(sh);
	long idx = shared_find(sh, uid, NULL);
	if (idx >= 0 && cursor_visible(view, &sh->entries[idx])) {
		seq = (uint32_t)idx + 1 -
		      cursor_hidden_before(view, (unsigned)idx);
	}
	store_user_unlock(view->user);
	return seq;
}

static void
u32_push(uint32_t **arr, unsigned *count, unsigned *alloc, uint32_t v)
{
	store_array_grow((void **)arr, sizeof(**arr), alloc, *count);
	(*arr)[(*count)++] = v;
}

int
store_view_sync(struct store_view *view, bool allow_expunge,
		struct store_view_changes *changes_r, const char **error_r)
{
	struct store_view_shared *sh = view->shared;
	struct store_user *user = view->user;
	unsigned alloc = 0;
	int ret;

	memset(changes_r, 0, sizeof(*changes_r));
	store_user_lock(user);
	ret = shared_refresh(sh, error_r);
	user->store->backend->call_end(user);
	if (ret <= 0)
		goto out;

	uint64_t old_seen = view->seen;
	if (allow_expunge) {
		/* Sequence numbers in the old numbering, collected in
		   ascending order and then reversed: sent highest first,
		   each stays valid. */
		uint32_t seq = 0;
		for (unsigned i = 0; i < sh->count; i++) {
			const struct view_entry *ve = &sh->entries[i];
			if (!cursor_visible(view, ve))
				continue;
			seq++;
			if (ve->expunged_at != 0) {
				u32_push(&changes_r->expunged_seqs,
					 &changes_r->expunged_count, &alloc,
					 seq);
			}
		}
		for (unsigned i = 0, j = changes_r->expunged_count;
		     i < j / 2; i++) {
			uint32_t t = changes_r->expunged_seqs[i];
			changes_r->expunged_seqs[i] =
				changes_r->expunged_seqs[j - 1 - i];
			changes_r->expunged_seqs[j - 1 - i] = t;
		}
		view->expunge_point = sh->modseq;
	}
	view->seen = sh->modseq;

	/* Flag changes of messages the session already knew, numbered in
	   the new numbering. */
	alloc = 0;
	uint32_t seq = 0;
	for (unsigned i = 0; i < sh->count; i++) {
		const struct view_entry *ve = &sh->entries[i];
		if (!cursor_visible(view, ve))
			continue;
		seq++;
		if (ve->added_at <= old_seen && ve->expunged_at == 0 &&
		    ve->e.modseq > old_seen) {
			u32_push(&changes_r->changed_seqs,
				 &changes_r->changed_count, &alloc, seq);
		}
	}
	changes_r->exists = seq;
	changes_r->highestmodseq = sh->modseq;
	shared_gc(sh);
	ret = 1;
out:
	store_user_unlock(user);
	return ret;
}

void
store_view_changes_free(struct store_view_changes *changes)
{
	free(changes->expunged_seqs);
	free(changes->changed_seqs);
	memset(changes, 0, sizeof(*changes));
}
