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
   are dropped once every cursor's expunge_point has passed them.

   A sync must not cost a scan of the mailbox or a read of the store per
   session, or waking a thousand sessions costs a thousand of each:
   - the store is read once per change: store_notify() marks the view
     stale, the first woken session refreshes it, the others
     (store_view_sync_woken()) answer from memory;
   - a ring of recent flag-change records (batch modseq, UID) tells a
     cursor which entries changed since its `seen`; one that fell behind
     the ring scans the view as before;
   - expunges come from the retained entries' index (ridx), the count
     from a binary search.
   After the last cursor closes, the view stays cached (bounded per user
   and per process) so the next SELECT only checks the mailbox's
   HIGHESTMODSEQ (and the expunge floor) instead of reloading it; every
   open re-validates against the store, so a writer in another process
   is seen.

   Ghosts (RFC 2180 4.1.1): a session learns of an expunge only at its
   next sync, and until then may FETCH the message by its old sequence
   number. Its entry is still in the view (retained), but the file would
   be gone, so the file of a removed message is kept while it may still
   be shown: until no view with cursors is stale (a view not yet
   refreshed may still hold it live) and no retained entry refers to it.
   Every view sync and close looks again. A session that never syncs
   cannot keep files forever: after STORE_GHOST_SECS, or beyond
   STORE_GHOST_MAX per user, they go anyway, and such a FETCH answers
   NO [EXPUNGEISSUED] as RFC 2180 4.1.2 allows. */
#include "store/store-private.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lib/u64sort.h"

struct view_entry {
	struct store_view_entry e;
	uint64_t added_at;
	uint64_t expunged_at;
};

/* One flag change seen by a refresh: `batch` is the view modseq the
   refresh reached (a cursor's `seen` is always such a value). */
struct view_change {
	uint64_t batch;
	uint32_t uid;
};

struct store_view_shared {
	struct store_view_shared *next;
	struct store_user *user;
	uint64_t mailbox_id;
	uint64_t modseq; /* refreshed up to (the mailbox's HIGHESTMODSEQ) */
	/* This process committed a change the view has not read yet
	   (store_view_notify()). */
	bool stale;
	/* Flag-change ring, oldest first from ring_head. Records of every
	   batch above ring_floor are all there. */
	struct view_change *ring;
	unsigned ring_head, ring_len, ring_alloc;
	uint64_t ring_floor;
	/* No cursors: kept for the next open; closed_at orders them. */
	uint64_t closed_at;
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

static void
ring_push(struct store_view_shared *sh, uint64_t batch, uint32_t uid)
{
	unsigned max = sh->user->store->view_ring_max;

	if (max == 0) {
		sh->ring_floor = batch;
		return;
	}
	if (sh->ring_len == sh->ring_alloc && sh->ring_alloc < max) {
		/* Grow (doubling up to max), unwrapping into the new array. */
		unsigned n = sh->ring_alloc == 0 ? 16 : sh->ring_alloc * 2;
		if (n > max)
			n = max;
		struct view_change *ring = store_malloc0(n * sizeof(*ring));
		for (unsigned i = 0; i < sh->ring_len; i++) {
			ring[i] = sh->ring[(sh->ring_head + i) %
					   sh->ring_alloc];
		}
		free(sh->ring);
		sh->ring = ring;
		sh->ring_alloc = n;
		sh->ring_head = 0;
	}
	if (sh->ring_len == sh->ring_alloc) {
		/* Full: the oldest record goes, and with it the promise that
		   its batch is complete. */
		const struct view_change *old = &sh->ring[sh->ring_head];
		if (old->batch > sh->ring_floor)
			sh->ring_floor = old->batch;
		sh->ring_head = (sh->ring_head + 1) % sh->ring_alloc;
		sh->ring_len--;
	}
	struct view_change *rec =
		&sh->ring[(sh->ring_head + sh->ring_len) % sh->ring_alloc];
	rec->batch = batch;
	rec->uid = uid;
	sh->ring_len++;
}

/* Forgets every record: cursors behind `floor` scan. */
static void
ring_reset(struct store_view_shared *sh, uint64_t floor)
{
	sh->ring_head = 0;
	sh->ring_len = 0;
	if (floor > sh->ring_floor)
		sh->ring_floor = floor;
}

static void
shared_insert(struct store_view_shared *sh, const struct store_message *msg,
	      uint64_t added_at)
{
	unsigned pos = sh->count;

	/* UIDs grow, so a new message is the tail; the search is for the
	   odd case. */
	if (sh->count > 0 && sh->entries[sh->count - 1].e.uid >= msg->uid)
		(void)shared_find(sh, msg->uid, &pos);
	store_array_grow((void **)&sh->entries, sizeof(*sh->entries),
			 &sh->alloc, sh->count);
	memmove(&sh->entries[pos + 1], &sh->entries[pos],
		(sh->count - pos) * sizeof(*sh->entries));
	memset(&sh->entries[pos], 0, sizeof(sh->entries[pos]));
	entry_from_message(&sh->entries[pos].e, msg);
	sh->entries[pos].added_at = added_at;
	sh->count++;
	if (pos + 1 != sh->count)
		sh->ridx_dirty = true;
}

/* Marks live entries missing from `all` (every message of the mailbox,
   in UID order) as expunged at m: for a view whose expunge log reading
   may be incomplete. */
static void
shared_expunge_missing(struct store_view_shared *sh,
		       const struct store_message *all, unsigned count,
		       uint64_t m)
{
	unsigned j = 0;

	for (unsigned i = 0; i < sh->count; i++) {
		struct view_entry *ve = &sh->entries[i];
		while (j < count && all[j].uid < ve->e.uid)
			j++;
		if (j < count && all[j].uid == ve->e.uid)
			continue;
		if (ve->expunged_at == 0) {
			ve->expunged_at = m;
			sh->retained++;
			sh->ridx_dirty = true;
		}
	}
}

/* Takes the changes that bring the view to modseq m (read from the
   store, or a writer's own) into the entries: changed messages (UID
   order) updated or added, expunged UIDs retained as expunged at m. ring: record the flag changes for
   cursors (a full comparison resets the ring instead). Locked. */
static void
shared_apply(struct store_view_shared *sh, const struct store_message *changed,
	     unsigned nc, const uint32_t *expunged, unsigned ne, uint64_t m,
	     bool ring)
{
	for (unsigned i = 0; i < nc; i++) {
		long idx = -1;

		if (sh->count > 0 &&
		    sh->entries[sh->count - 1].e.uid >= changed[i].uid)
			idx = shared_find(sh, changed[i].uid, NULL);
		if (idx >= 0) {
			struct view_entry *ve = &sh->entries[idx];
			bool moved = ve->e.modseq != changed[i].modseq;
			entry_from_message(&ve->e, &changed[i]);
			if (moved && ring)
				ring_push(sh, m, changed[i].uid);
			continue;
		}
		shared_insert(sh, &changed[i], m);
	}
	for (unsigned i = 0; i < ne; i++) {
		long idx = shared_find(sh, expunged[i], NULL);
		if (idx >= 0 && sh->entries[idx].expunged_at == 0) {
			sh->entries[idx].expunged_at = m;
			sh->retained++;
			sh->ridx_dirty = true;
		}
	}
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
	uint64_t m = 0, floor = 0;
	bool full = false;
	int ret;

	/* A primary-key lookup decides whether there is anything to read.
	   The mailbox's HIGHESTMODSEQ moves with every change to it, by any
	   process, so an unchanged one proves the view current. A view this
	   process told of a change (stale) has something to read: it goes
	   straight to the changes, which also say if the mailbox went. */
	if (!sh->stale) {
		ret = be->mailbox_modseq(user, sh->mailbox_id, &m, error_r);
		if (ret <= 0)
			return ret;
		if (m == sh->modseq)
			return 1;
	}
	user->view_reads++;
	ret = be->mailbox_changes(user, sh->mailbox_id, sh->modseq, &changed,
				  &nc, &expunged, &ne, &m, &floor, error_r);
	if (ret > 0 && sh->modseq != 0 && floor > sh->modseq) {
		/* The expunge log was trimmed past our point (a long-lived
		   or cached view, another process expunging much): compare
		   against every message instead. */
		free(changed);
		free(expunged);
		changed = NULL;
		expunged = NULL;
		nc = ne = 0;
		full = true;
		ret = be->mailbox_changes(user, sh->mailbox_id, 0, &changed,
					  &nc, &expunged, &ne, &m, &floor,
					  error_r);
	}
	if (ret <= 0)
		return ret;

	if (full) {
		shared_expunge_missing(sh, changed, nc, m);
		/* Every message came back as "changed": no ring records;
		   cursors scan and compare modseqs. */
		ring_reset(sh, m);
	}
	shared_apply(sh, changed, nc, expunged, ne, m, !full);
	sh->modseq = m;
	sh->stale = false;
	free(changed);
	free(expunged);
	return 1;
}

static void shared_ridx_update(struct store_view_shared *sh);

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
	/* Most syncs after an expunge are not the last cursor to pass it:
	   look at the retained entries before compacting everything. */
	shared_ridx_update(sh);
	bool any = false;
	for (unsigned k = 0; k < sh->retained && !any; k++)
		any = sh->entries[sh->ridx[k]].expunged_at <= min_point;
	if (!any)
		return;
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

static void
shared_free(struct store_view_shared *sh)
{
	free(sh->entries);
	free(sh->ridx);
	free(sh->ring);
	free(sh);
}

static void
shared_unlink(struct store_view_shared *sh)
{
	struct store_view_shared **sp = &sh->user->views;

	while (*sp != sh)
		sp = &(*sp)->next;
	*sp = sh->next;
}

/* Takes a cached view out of the cache (it gets a cursor again, or
   goes). */
static void
cache_release(struct store_view_shared *sh)
{
	struct store *store = sh->user->store;

	assert(sh->cursors == NULL && sh->closed_at != 0);
	atomic_fetch_sub(&store->view_cache_entries, sh->count);
	sh->closed_at = 0;
}

/* The last cursor closed: keeps the view for the next open if the
   budgets allow, else frees it. Locked. */
static void
cache_keep_or_free(struct store_view_shared *sh)
{
	struct store_user *user = sh->user;
	struct store *store = user->store;

	/* Nothing needs the retained entries any more. */
	shared_gc(sh);
	unsigned long count = sh->count;
	unsigned long used = atomic_fetch_add(&store->view_cache_entries,
					      count);
	if (used > store->view_cache_max_entries ||
	    count > store->view_cache_max_entries - used) {
		atomic_fetch_sub(&store->view_cache_entries, count);
		shared_unlink(sh);
		shared_free(sh);
		return;
	}
	sh->closed_at = ++user->view_close_counter;
	/* The next cursor starts at sh->modseq or later: no record it
	   could need is older, so the ring's memory goes now. */
	free(sh->ring);
	sh->ring = NULL;
	sh->ring_alloc = sh->ring_len = sh->ring_head = 0;
	sh->ring_floor = sh->modseq;
	/* At most STORE_VIEW_CACHE_PER_USER: the oldest goes. */
	for (;;) {
		struct store_view_shared *oldest = NULL;
		unsigned cached = 0;
		for (struct store_view_shared *v = user->views; v != NULL;
		     v = v->next) {
			if (v->cursors != NULL)
				continue;
			cached++;
			if (oldest == NULL || v->closed_at < oldest->closed_at)
				oldest = v;
		}
		if (cached <= STORE_VIEW_CACHE_PER_USER)
			break;
		cache_release(oldest);
		shared_unlink(oldest);
		shared_free(oldest);
	}
}

void
store_view_cache_drop(struct store_user *user)
{
	store_user_lock(user);
	struct store_view_shared **sp = &user->views;
	while (*sp != NULL) {
		struct store_view_shared *sh = *sp;
		if (sh->cursors != NULL) {
			sp = &sh->next;
			continue;
		}
		*sp = sh->next;
		cache_release(sh);
		shared_free(sh);
	}
	store_user_unlock(user);
}

unsigned
store_view_cached_count(struct store_user *user)
{
	unsigned n = 0;

	store_user_lock(user);
	for (struct store_view_shared *sh = user->views; sh != NULL;
	     sh = sh->next)
		n += sh->cursors == NULL ? 1 : 0;
	store_user_unlock(user);
	return n;
}

void
store_view_notify(struct store_user *user, uint64_t mailbox_id,
		  enum store_change_type type, uint64_t modseq)
{
	for (struct store_view_shared *sh = user->views; sh != NULL;
	     sh = sh->next) {
		if (sh->mailbox_id != mailbox_id)
			continue;
		/* (A deleted or renamed mailbox: the next sync must ask the
		   store, whatever the modseq says.) */
		if (type == STORE_CHANGE_MAILBOX || modseq != sh->modseq)
			sh->stale = true;
	}
}

void
store_view_apply(struct store_user *user, uint64_t mailbox_id,
		 uint64_t before, uint64_t modseq,
		 const struct store_message *changed, unsigned nc,
		 const uint32_t *expunged, unsigned ne)
{
	/* (A cached view, without cursors, is left stale: its entry
	   count is the cache's budget until it is opened again.) */
	for (struct store_view_shared *sh = user->views; sh != NULL;
	     sh = sh->next) {
		if (sh->mailbox_id != mailbox_id || sh->cursors == NULL ||
		    sh->stale || sh->modseq != before)
			continue;
		shared_apply(sh, changed, nc, expunged, ne, modseq, true);
		sh->modseq = modseq;
	}
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
	bool was_cached = !created && sh->cursors == NULL;
	if (created) {
		sh = store_malloc0(sizeof(*sh));
		sh->user = user;
		sh->mailbox_id = mailbox_id;
	} else if (was_cached) {
		cache_release(sh);
	}
	/* A cached view is checked against the store like any other: only
	   what changed since it was last current is read. */
	ret = shared_refresh(sh, error_r);
	user->store->backend->call_end(user);
	if (ret <= 0) {
		if (created) {
			shared_free(sh);
		} else if (was_cached) {
			shared_unlink(sh);
			shared_free(sh);
		}
		store_user_unlock(user);
		return ret;
	}
	if (created) {
		/* The initial load: visible to everyone from the start. */
		for (unsigned i = 0; i < sh->count; i++)
			sh->entries[i].added_at = 0;
		sh->ring_floor = sh->modseq;
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

/* ---- ghosts ------------------------------------------------------------ */

static bool
user_has_cursors(const struct store_user *user)
{
	for (const struct store_view_shared *sh = user->views; sh != NULL;
	     sh = sh->next) {
		if (sh->cursors != NULL)
			return true;
	}
	return false;
}

enum ghosts_mode {
	GHOSTS_LOOK,	/* release those no view can show any more */
	GHOSTS_EXCESS,	/* release only beyond STORE_GHOST_MAX */
	GHOSTS_ALL,
};

/* Submits the ghosts `mode` releases, keeps the rest. Locked. */
static void
ghosts_check(struct store_user *user, enum ghosts_mode mode)
{
	if (user->ghost_count == 0)
		return;
	time_t now = store_monotonic_now();
	bool over = user->ghost_count > STORE_GHOST_MAX ||
		    now - user->ghosts[0].since >= STORE_GHOST_SECS;
	bool stale = mode == GHOSTS_EXCESS;
	for (struct store_view_shared *sh = user->views;
	     sh != NULL && !stale && mode == GHOSTS_LOOK; sh = sh->next)
		stale = sh->cursors != NULL && sh->stale;
	/* A stale view may hold any of them as a live entry: all wait. */
	if (stale && !over)
		return;
	uint64_t *keep = NULL;
	unsigned nkeep = 0, keep_alloc = 0;
	for (struct store_view_shared *sh = user->views;
	     sh != NULL && !stale && mode == GHOSTS_LOOK; sh = sh->next) {
		if (sh->cursors == NULL)
			continue;
		shared_ridx_update(sh);
		for (unsigned k = 0; k < sh->retained; k++) {
			store_array_grow((void **)&keep, sizeof(*keep),
					 &keep_alloc, nkeep);
			keep[nkeep++] = sh->entries[sh->ridx[k]].e.blob_id;
		}
	}
	u64_sort(keep, nkeep);

	unsigned excess = user->ghost_count > STORE_GHOST_MAX ?
			  user->ghost_count - STORE_GHOST_MAX : 0;
	struct store_unlinks *batch = NULL;
	unsigned out = 0;
	for (unsigned i = 0; i < user->ghost_count; i++) {
		struct store_ghost *g = &user->ghosts[i];
		bool hold = mode != GHOSTS_ALL && i >= excess &&
			    now - g->since < STORE_GHOST_SECS &&
			    (stale || u64_sorted_has(keep, nkeep, g->blob_id));
		if (hold) {
			user->ghosts[out++] = *g;
			continue;
		}
		if (batch == NULL) {
			batch = store_unlinks_new(user->ghost_dir,
						  user->ghost_count - i);
			batch->count = 0;
		}
		memcpy(batch->names[batch->count++], g->name,
		       STORE_UNLINK_NAME_MAX);
		free(g->cache);
	}
	user->ghost_count = out;
	free(keep);
	if (batch != NULL)
		store_unlinks_submit(user->store, batch);
}

static struct store_ghost *
ghost_find(struct store_user *user, uint64_t blob_id)
{
	for (unsigned i = 0; i < user->ghost_count; i++) {
		if (user->ghosts[i].blob_id == blob_id)
			return &user->ghosts[i];
	}
	return NULL;
}

int
store_view_ghost_cache_get(struct store_user *user, uint64_t blob_id,
			   void **data_r, size_t *size_r)
{
	int ret = 0;

	store_user_lock(user);
	struct store_ghost *g = ghost_find(user, blob_id);
	if (g != NULL && g->cache != NULL) {
		*data_r = store_malloc0(g->cache_size + 1);
		memcpy(*data_r, g->cache, g->cache_size);
		*size_r = g->cache_size;
		ret = 1;
	}
	store_user_unlock(user);
	return ret;
}

void
store_view_ghost_cache_set(struct store_user *user, uint64_t blob_id,
			   const void *data, size_t size)
{
	store_user_lock(user);
	struct store_ghost *g = ghost_find(user, blob_id);
	if (g != NULL && g->cache == NULL) {
		g->cache = store_malloc0(size + 1);
		memcpy(g->cache, data, size);
		g->cache_size = size;
	}
	store_user_unlock(user);
}

void
store_view_unlinks(struct store_user *user, struct store_unlinks *batch,
		   const uint64_t *blob_ids)
{
	store_user_lock(user);
	if (!user_has_cursors(user)) {
		store_user_unlock(user);
		store_unlinks_submit(user->store, batch);
		return;
	}
	if (user->ghost_dir == NULL)
		user->ghost_dir = store_strdup(batch->dir);
	time_t now = store_monotonic_now();
	for (unsigned i = 0; i < batch->count; i++) {
		store_array_grow((void **)&user->ghosts,
				 sizeof(*user->ghosts), &user->ghost_alloc,
				 user->ghost_count);
		struct store_ghost *g = &user->ghosts[user->ghost_count++];
		g->blob_id = blob_ids[i];
		g->since = now;
		g->cache = NULL;
		g->cache_size = 0;
		memcpy(g->name, batch->names[i], STORE_UNLINK_NAME_MAX);
	}
	free(batch->dir);
	free(batch);
	/* The views still hold these messages as live entries: only the
	   removing call's store_notify(), under the same lock, marks them
	   stale, so nothing but the limit may release ghosts here. */
	if (user->ghost_count > STORE_GHOST_MAX)
		ghosts_check(user, GHOSTS_EXCESS);
	store_user_unlock(user);
}

void
store_view_ghosts_release(struct store_user *user)
{
	store_user_lock(user);
	ghosts_check(user, GHOSTS_ALL);
	free(user->ghosts);
	user->ghosts = NULL;
	user->ghost_count = user->ghost_alloc = 0;
	free(user->ghost_dir);
	user->ghost_dir = NULL;
	store_user_unlock(user);
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
	if (sh->cursors == NULL)
		cache_keep_or_free(sh);
	else
		shared_gc(sh);
	ghosts_check(user, GHOSTS_LOOK);
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

unsigned
store_view_get_range(struct store_view *view, uint32_t first_seq,
		     unsigned n, struct store_view_entry *entries)
{
	struct store_view_shared *sh = view->shared;
	unsigned got = 0;

	if (first_seq == 0 || n == 0)
		return 0;
	store_user_lock(view->user);
	shared_ridx_update(sh);
	unsigned prefix = cursor_prefix(view);
	/* The index of first_seq, as store_view_get() finds it; then walk
	   on, stepping over entries this cursor no longer counts. */
	uint64_t idx = first_seq - 1;
	for (unsigned k = 0; k < sh->retained && sh->ridx[k] <= idx; k++) {
		if (cursor_hidden(view, sh->ridx[k]))
			idx++;
	}
	for (; got < n && idx < prefix; idx++) {
		/* (with nothing expunged kept, no entry to step over) */
		if (sh->retained > 0 && cursor_hidden(view, (unsigned)idx))
			continue;
		entries[got++] = sh->entries[idx].e;
	}
	store_user_unlock(view->user);
	return got;
}

void
store_view_iter_init(struct store_view_iter *it, struct store_view *view)
{
	it->view = view;
	it->seq = 0;
	it->count = it->pos = 0;
}

bool
store_view_iter_next(struct store_view_iter *it,
		     struct store_view_entry *entry_r)
{
	if (it->pos == it->count) {
		it->count = store_view_get_range(it->view, it->seq + 1,
						 STORE_VIEW_ITER_BATCH,
						 it->batch);
		it->pos = 0;
		if (it->count == 0)
			return false;
	}
	*entry_r = it->batch[it->pos++];
	it->seq++;
	return true;
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

/* Expunges this cursor has not reported, as sequence numbers in its old
   numbering, highest first. Only retained entries can be such, so one
   pass over their index does it. */
static void
sync_expunges(struct store_view *view, struct store_view_changes *changes)
{
	struct store_view_shared *sh = view->shared;
	unsigned alloc = 0, ualloc = 0, hidden = 0;

	for (unsigned k = 0; k < sh->retained; k++) {
		unsigned idx = sh->ridx[k];
		const struct view_entry *ve = &sh->entries[idx];
		if (ve->expunged_at <= view->expunge_point) {
			hidden++;
			continue;
		}
		/* Entries after the cursor's prefix are not numbered. */
		if (ve->added_at > view->seen)
			break;
		unsigned n = changes->expunged_count;
		u32_push(&changes->expunged_seqs, &changes->expunged_count,
			 &alloc, idx + 1 - hidden);
		u32_push(&changes->expunged_uids, &n, &ualloc, ve->e.uid);
	}
	for (unsigned i = 0, j = changes->expunged_count; i < j / 2; i++) {
		uint32_t t = changes->expunged_seqs[i];
		changes->expunged_seqs[i] = changes->expunged_seqs[j - 1 - i];
		changes->expunged_seqs[j - 1 - i] = t;
	}
}

/* Whether the entry is a flag change to report to a cursor that had
   seen up to old_seen. */
static bool
sync_is_changed(const struct view_entry *ve, uint64_t old_seen)
{
	return ve->added_at <= old_seen && ve->expunged_at == 0 &&
		ve->e.modseq > old_seen;
}

/* Flag changes since old_seen in the cursor's (new) numbering, from the
   ring. Returns false if the cursor is behind the ring. */
static bool
sync_changes_ring(struct store_view *view, uint64_t old_seen,
		  struct store_view_changes *changes)
{
	struct store_view_shared *sh = view->shared;
	unsigned alloc = 0, n = 0;

	if (old_seen < sh->ring_floor)
		return false;
	/* The batches above old_seen are the ring's newest records. */
	while (n < sh->ring_len) {
		const struct view_change *rec =
			&sh->ring[(sh->ring_head + sh->ring_len - 1 - n) %
				  sh->ring_alloc];
		if (rec->batch <= old_seen)
			break;
		n++;
	}
	if (n == 0)
		return true;
	uint32_t *uids = store_malloc0(n * sizeof(*uids));
	for (unsigned i = 0; i < n; i++) {
		uids[i] = sh->ring[(sh->ring_head + sh->ring_len - n + i) %
				   sh->ring_alloc].uid;
	}
	qsort(uids, n, sizeof(*uids), store_u32_cmp);
	for (unsigned i = 0; i < n; i++) {
		if (i > 0 && uids[i] == uids[i - 1])
			continue;
		long idx = shared_find(sh, uids[i], NULL);
		if (idx < 0 || !sync_is_changed(&sh->entries[idx], old_seen))
			continue;
		/* Ascending UIDs give ascending sequence numbers. */
		u32_push(&changes->changed_seqs, &changes->changed_count,
			 &alloc, (uint32_t)idx + 1 -
			 cursor_hidden_before(view, (unsigned)idx));
	}
	free(uids);
	return true;
}

/* The same by scanning the view: for a cursor behind the ring. */
static void
sync_changes_scan(struct store_view *view, uint64_t old_seen,
		  struct store_view_changes *changes)
{
	struct store_view_shared *sh = view->shared;
	unsigned alloc = 0;
	uint32_t seq = 0;

	for (unsigned i = 0; i < sh->count; i++) {
		const struct view_entry *ve = &sh->entries[i];
		if (!cursor_visible(view, ve))
			continue;
		seq++;
		if (sync_is_changed(ve, old_seen)) {
			u32_push(&changes->changed_seqs,
				 &changes->changed_count, &alloc, seq);
		}
	}
}

static int
view_sync(struct store_view *view, bool allow_expunge, bool woken,
	  struct store_view_changes *changes_r, const char **error_r)
{
	struct store_view_shared *sh = view->shared;
	struct store_user *user = view->user;
	int ret = 1;

	memset(changes_r, 0, sizeof(*changes_r));
	store_user_lock(user);
	/* A woken session trusts a view that has read every change this
	   process made; the first one woken reads the store for all. */
	if (!woken || sh->stale) {
		ret = shared_refresh(sh, error_r);
		user->store->backend->call_end(user);
		if (ret <= 0)
			goto out;
	}
	shared_ridx_update(sh);

	uint64_t old_seen = view->seen;
	if (allow_expunge) {
		sync_expunges(view, changes_r);
		view->expunge_point = sh->modseq;
	}
	view->seen = sh->modseq;
	if (!sync_changes_ring(view, old_seen, changes_r))
		sync_changes_scan(view, old_seen, changes_r);
	changes_r->exists = cursor_count(view);
	changes_r->highestmodseq = sh->modseq;
	shared_gc(sh);
	ghosts_check(user, GHOSTS_LOOK);
	ret = 1;
out:
	store_user_unlock(user);
	return ret;
}

int
store_view_sync(struct store_view *view, bool allow_expunge,
		struct store_view_changes *changes_r, const char **error_r)
{
	return view_sync(view, allow_expunge, false, changes_r, error_r);
}

int
store_view_sync_woken(struct store_view *view, bool allow_expunge,
		      struct store_view_changes *changes_r,
		      const char **error_r)
{
	return view_sync(view, allow_expunge, true, changes_r, error_r);
}

void
store_view_changes_free(struct store_view_changes *changes)
{
	free(changes->expunged_seqs);
	free(changes->expunged_uids);
	free(changes->changed_seqs);
	memset(changes, 0, sizeof(*changes));
}
