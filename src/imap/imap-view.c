/* The selected mailbox as this session sees it: the store's shared view
   with this session's cursor (store.h), the watcher that wakes the session
   when another session or a delivery changes the mailbox, and the untagged
   EXISTS / FETCH / EXPUNGE replies (RFC 9051 7.4.1, 7.5.1). Also the
   helpers that turn wire names, flags and sets into the store's forms. */
#include "imap/imap-session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-commands.h"
#include "imap/imap-notify.h"
#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/mutf7.h"
#include "mail/imap-bodystructure.h"
#include "net/conn.h"
#include "net/worker.h"
#include "store/store.h"
#include "lib/limits.h"

/* ---- flags -------------------------------------------------------------- */

static const char *const system_flags[] = {
	"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
};

/* The user's keyword names, reloaded when a message carries a keyword
   number this session has not seen yet. */
static void
keywords_refresh(struct imap_session *session)
{
	const char *error;

	store_keywords_free(&session->keywords, session->keyword_count);
	session->keyword_count = 0;
	if (store_keywords_get(session->user, &session->keywords,
			       &session->keyword_count, &error) < 0) {
		log_error(&session->log, "reading keywords failed: %s", error);
		session->keywords = NULL;
		session->keyword_count = 0;
	}
}

const char *
imap_keyword_name(struct imap_session *session, unsigned int idx)
{
	if (idx >= session->keyword_count)
		keywords_refresh(session);
	return idx < session->keyword_count ? session->keywords[idx] : NULL;
}

static void
write_flags(struct imap_session *session, struct buf *out, uint8_t flags,
	    uint64_t keywords, bool recent)
{
	bool first = true;

	buf_append_c(out, '(');
	if (recent) {
		buf_append_str(out, "\\Recent");
		first = false;
	}
	for (unsigned i = 0; i < 5; i++) {
		if ((flags & (1u << i)) == 0)
			continue;
		if (!first)
			buf_append_c(out, ' ');
		buf_append_str(out, system_flags[i]);
		first = false;
	}
	for (uint64_t rest = keywords; rest != 0; rest &= rest - 1) {
		unsigned i = (unsigned)__builtin_ctzll(rest);
		const char *name;

		name = imap_keyword_name(session, i);
		if (name == NULL)
			continue;
		if (!first)
			buf_append_c(out, ' ');
		buf_append_str(out, name);
		first = false;
	}
	buf_append_c(out, ')');
}

void
imap_write_flags(struct imap_session *session, struct buf *out,
		 uint8_t flags, uint64_t keywords)
{
	write_flags(session, out, flags, keywords, false);
}

void
imap_write_message_flags(struct imap_session *session, struct buf *out,
			 uint32_t uid, uint8_t flags, uint64_t keywords)
{
	write_flags(session, out, flags, keywords,
		    imap_session_uid_is_recent(session, uid));
}

/* ---- \Recent (RFC 3501 2.3.2) ------------------------------------------ */

bool
imap_session_uid_is_recent(struct imap_session *session, uint32_t uid)
{
	return !session->enabled_rev2 && session->recent_uids != NULL &&
		imap_seqset_contains(session->recent_uids, uid);
}

/* Entries read per lock when counting recent messages. */
#define RECENT_BATCH 64

uint32_t
imap_session_recent_count(struct imap_session *session)
{
	const struct imap_seq_range *r;
	struct store_view_entry batch[RECENT_BATCH];
	unsigned int range_count;
	uint32_t count = 0;

	if (session->recent_uids == NULL || session->view == NULL)
		return 0;
	r = imap_seqset_get_ranges(session->recent_uids, &range_count);
	if (range_count == 0)
		return 0;
	/* Recent messages are the newest ones: walk down from the end, a
	   batch of entries per lock, and stop below the lowest recent UID. */
	uint32_t end = store_view_count(session->view);
	while (end > 0) {
		uint32_t first = end > RECENT_BATCH ?
				 end - RECENT_BATCH + 1 : 1;
		unsigned n = store_view_get_range(session->view, first,
						  end - first + 1, batch);
		for (unsigned i = n; i > 0; i--) {
			uint32_t uid = batch[i - 1].uid;
			if (uid < r[0].first)
				return count;
			if (imap_seqset_contains(session->recent_uids, uid))
				count++;
		}
		if (n == 0)
			break;
		end = first - 1;
	}
	return count;
}

/* Claims the mailbox's recent messages below until_uid (0: all) for this
   session; true if it got any. A failure is logged: the messages then
   just lack \Recent. */
static bool
recent_claim(struct imap_session *session, uint32_t until_uid)
{
	uint32_t first, until;
	const char *error;

	if (store_mailbox_recent_claim(session->user, session->mailbox_id,
				       until_uid, &first, &until,
				       &error) < 0) {
		log_error(&session->log, "claiming recent messages of %s "
			  "failed: %s", session->mailbox_name, error);
		return false;
	}
	if (first >= until)
		return false;
	imap_seqset_add_range(session->recent_uids, first, until - 1);
	return true;
}

/* The highest UID in the view, 0 if empty. */
static uint32_t
view_last_uid(struct imap_session *session)
{
	struct store_view_entry e;
	uint32_t count = store_view_count(session->view);

	if (count == 0 || !store_view_get(session->view, count, &e))
		return 0;
	return e.uid;
}

bool
imap_session_keywords_unannounced(const struct imap_session *session,
				  uint64_t keywords)
{
	return session->flags_announced < 64 &&
	       (keywords >> session->flags_announced) != 0;
}

bool
imap_session_announce_keywords(struct imap_session *session,
			       uint64_t keywords)
{
	if (!imap_session_keywords_unannounced(session, keywords))
		return false;
	imap_session_write_flags(session);
	/* A number the store has no name for (read failed) is not
	   announced again with every response that carries it. */
	unsigned highest = 64u - (unsigned)__builtin_clzll(keywords);
	if (session->flags_announced < highest)
		session->flags_announced = highest;
	return true;
}

void
imap_session_write_flags(struct imap_session *session)
{
	struct buf b;

	keywords_refresh(session);
	buf_init(&b, 0);
	buf_append_str(&b, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		       "\\Draft");
	for (unsigned i = 0; i < session->keyword_count; i++)
		buf_appendf(&b, " %s", session->keywords[i]);
	buf_append_c(&b, ')');
	imap_session_untagged(session, "%s", buf_cstr(&b));
	/* RFC 9051 7.1: PERMANENTFLAGS lists what this session can change
	   for good, so every keyword the mailbox knows, and \* only while
	   the user may still add keywords. EXAMINE changes nothing, so its
	   list is empty (as RFC 9051 6.3.3's example shows). */
	buf_reset(&b);
	if (!session->read_only) {
		buf_append_str(&b, "\\Answered \\Flagged \\Deleted \\Seen "
			       "\\Draft");
		for (unsigned i = 0; i < session->keyword_count; i++)
			buf_appendf(&b, " %s", session->keywords[i]);
		if (session->keyword_count < STORE_MAX_KEYWORDS)
			buf_append_str(&b, " \\*");
	}
	imap_session_untagged(session, "OK [PERMANENTFLAGS (%s)] %s",
			      buf_cstr(&b), session->read_only ?
			      "Read-only mailbox." : "Flags permitted.");
	session->flags_announced = session->keyword_count;
	buf_free(&b);
}

/* ---- mailbox names ------------------------------------------------------ */

int
imap_mailbox_name_from_client(struct imap_session *session,
			      const uint8_t *data, size_t len, char **name_r,
			      const char **error_r)
{
	char *name;
	size_t name_len;

	if (session->enabled_utf8) {
		if (!utf8_is_valid(data, len) ||
		    memchr(data, '\0', len) != NULL) {
			*error_r = "Mailbox name is not valid UTF-8.";
			return -1;
		}
		name = imap_xstrndup(data, len);
		name_len = len;
	} else if (mutf7_to_utf8(data, len, &name, &name_len, error_r) < 0) {
		*error_r = "Mailbox name is not valid modified UTF-7.";
		return -1;
	}
	/* RFC 9051 5.1: INBOX in any case is INBOX, also as a parent. */
	if (name_len >= 5 && strncasecmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	*name_r = name;
	return 0;
}

/* A quoted string if it can be one (RFC 9051 9: quoted may hold UTF-8
   once UTF8=ACCEPT/IMAP4rev2 is on; names never hold CR, LF or NUL). */
static void
write_name_string(struct buf *out, const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			imap_write_nstring(out, name, len);
			return;
		}
	}
	buf_append_c(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '"' || name[i] == '\\')
			buf_append_c(out, '\\');
		buf_append_c(out, (uint8_t)name[i]);
	}
	buf_append_c(out, '"');
}

void
imap_write_mailbox_name(struct imap_session *session, struct buf *out,
			const char *name)
{
	char *mutf7;
	size_t len;
	const char *error;

	if (session->enabled_utf8 ||
	    utf8_to_mutf7((const uint8_t *)name, strlen(name), &mutf7, &len,
			  &error) < 0) {
		/* (The store only holds valid UTF-8: the fallback keeps a
		   reply sane whatever happens.) */
		write_name_string(out, name, strlen(name));
		return;
	}
	write_name_string(out, mutf7, len);
	free(mutf7);
}

/* ---- selecting ----------------------------------------------------------- */

/* The store's thread: only wake the session's own worker. */
static void
watch_callback(void *context, uint64_t mailbox_id,
	       enum store_change_type type, uint64_t modseq)
{
	worker_wake_trigger(context);
}

static void session_sync_woken(struct imap_session *session);

/* The session's thread. */
static void
wake_callback(void *context)
{
	struct imap_session *session = context;

	if (session->state != IMAP_STATE_SELECTED)
		return;
	/* NOTIFY decides what goes out, and when. */
	if (imap_notify_selected_changed(session))
		return;
	/* RFC 2177: during IDLE changes go out at once, expunges included;
	   otherwise they wait for the next command's reply. */
	if (session->idling) {
		/* A client that does not read does not make us queue
		   without end: the rest waits for the output to drain. */
		if (conn_output_pending(session->conn) >=
		    CONN_OUTPUT_HIGH_WATER) {
			session->wake_held = true;
			return;
		}
		session->wake_held = false;
		session_sync_woken(session);
		return;
	}
}

int
imap_session_select(struct imap_session *session, uint64_t mailbox_id,
		    const char *name, bool read_only, const char **error_r)
{
	bool claim = !read_only && !session->enabled_rev2;
	int ret;

	/* One step with the claim, so that the view holds every message
	   this process saved before it (one saved by another process
	   meanwhile is in the claimed set and shows up at a sync). */
	store_user_lock(session->user);
	ret = store_view_open(session->user, mailbox_id, &session->view,
			      error_r);
	if (ret <= 0) {
		store_user_unlock(session->user);
		return ret;
	}
	session->mailbox_id = mailbox_id;
	session->mailbox_name = imap_xstrdup(name);
	session->read_only = read_only;
	if (claim) {
		session->recent_uids = imap_seqset_create();
		(void)recent_claim(session, 0);
		session->recent_checked_uid = view_last_uid(session);
	}
	store_user_unlock(session->user);
	session->recent_reported = imap_session_recent_count(session);
	session->exists_reported = store_view_count(session->view);
	session->wake = worker_wake_create(conn_get_worker(session->conn),
					   wake_callback, session);
	session->watch = store_watch_add(session->user, mailbox_id,
					 watch_callback, session->wake);
	session->state = IMAP_STATE_SELECTED;
	return 1;
}

void
imap_session_enable_condstore(struct imap_session *session)
{
	if (session->enabled_condstore)
		return;
	session->enabled_condstore = true;
	/* The modseq this session has reported changes up to (at least):
	   a client resyncing from it misses nothing. */
	if (session->state == IMAP_STATE_SELECTED && session->view != NULL)
		imap_session_untagged(session, "OK [HIGHESTMODSEQ %" PRIu64
				      "] Highest", session->expunge_modseq);
}

void
imap_session_unselect(struct imap_session *session)
{
	/* The watch goes first: after that the store never touches the
	   wake, which can then go. */
	store_watch_remove(&session->watch);
	if (session->wake != NULL)
		worker_wake_destroy(&session->wake);
	store_view_close(&session->view);
	imap_seqset_destroy(&session->search_saved);
	imap_seqset_destroy(&session->recent_uids);
	session->recent_checked_uid = 0;
	session->recent_reported = 0;
	free(session->mailbox_name);
	session->mailbox_name = NULL;
	session->mailbox_id = 0;
	session->exists_reported = 0;
	if (session->state == IMAP_STATE_SELECTED)
		session->state = IMAP_STATE_AUTH;
}

int
imap_session_expunged_since(struct imap_session *session, uint64_t since,
			    const struct imap_seqset *filter,
			    bool visible_only, uint32_t **uids_r,
			    unsigned int *count_r)
{
	struct store_message *changed;
	uint32_t *expunged, *out;
	unsigned int changed_count, expunged_count, n = 0;
	const char *error;
	int ret;

	ret = store_mailbox_changes(session->user, session->mailbox_id, since,
				    &changed, &changed_count, &expunged,
				    &expunged_count, &error);
	if (ret <= 0) {
		if (ret < 0)
			log_error(&session->log, "reading expunges failed: "
				  "%s", error);
		*uids_r = NULL;
		*count_r = 0;
		return ret < 0 ? -1 : 0;
	}
	free(changed);
	out = imap_xcalloc(expunged_count, sizeof(uint32_t));
	for (unsigned i = 0; i < expunged_count; i++) {
		if (filter != NULL && !imap_seqset_contains(filter,
							    expunged[i]))
			continue;
		if (visible_only &&
		    store_view_seq(session->view, expunged[i]) == 0)
			continue;
		out[n++] = expunged[i];
	}
	free(expunged);
	*uids_r = out;
	*count_r = n;
	return 0;
}

/* woken: called for the session's watcher, so the shared view may
   answer from memory (store_view_sync_woken()). */
static void
session_sync(struct imap_session *session, bool allow_expunge, bool woken)
{
	struct store_view_changes ch;
	struct store_view_entry e;
	const char *error;
	struct buf b;
	bool qresync, claimed = false;
	int ret;

	if (session->state != IMAP_STATE_SELECTED || session->view == NULL)
		return;
	qresync = allow_expunge && session->enabled_qresync;
	ret = woken ?
		store_view_sync_woken(session->view, allow_expunge, &ch,
				      &error) :
		store_view_sync(session->view, allow_expunge, &ch, &error);
	if (ret < 0) {
		log_error(&session->log, "syncing %s failed: %s",
			  session->mailbox_name, error);
		return;
	}
	if (ret == 0) {
		/* The mailbox was deleted or renamed away under us. */
		imap_session_unselect(session);
		imap_session_untagged(session, "OK [CLOSED] Mailbox is gone");
		return;
	}
	if (qresync) {
		/* RFC 7162 3.2.10: VANISHED instead of EXPUNGE, for the same
		   messages (the view gives their UIDs: no second read that
		   another writer could make disagree). */
		if (ch.expunged_count > 0) {
			buf_init(&b, 0);
			imap_write_uid_set(&b, ch.expunged_uids,
					   ch.expunged_count);
			imap_session_untagged(session, "VANISHED %s",
					      buf_cstr(&b));
			buf_free(&b);
		}
	} else {
		for (unsigned i = 0; i < ch.expunged_count; i++)
			imap_session_untagged(session, "%u EXPUNGE",
					      ch.expunged_seqs[i]);
	}
	if (allow_expunge)
		session->expunge_modseq = ch.highestmodseq;
	if (session->recent_uids != NULL) {
		/* RFC 3501 2.3.2: new messages are \Recent for the first
		   session to be told of them; the store's claim decides
		   which one that is. */
		uint32_t last = view_last_uid(session);

		if (last > session->recent_checked_uid) {
			/* (Or already ours: saved by another process while
			   this session's SELECT claimed.) */
			claimed = recent_claim(session, last + 1) ||
				imap_seqset_contains(session->recent_uids,
						     last);
			session->recent_checked_uid = last;
		}
	}
	for (unsigned i = 0; i < ch.changed_count; i++) {
		if (store_view_get(session->view, ch.changed_seqs[i], &e))
			imap_session_announce_keywords(session, e.keywords);
	}
	buf_init(&b, 0);
	for (unsigned i = 0; i < ch.changed_count; i++) {
		if (!store_view_get(session->view, ch.changed_seqs[i], &e))
			continue;
		if (session->silent_modseq != 0 &&
		    e.modseq == session->silent_modseq)
			continue;
		buf_reset(&b);
		buf_appendf(&b, "%u FETCH (UID %u FLAGS ", ch.changed_seqs[i],
			    e.uid);
		imap_write_message_flags(session, &b, e.uid, e.flags,
					 e.keywords);
		if (session->enabled_condstore)
			buf_appendf(&b, " MODSEQ (%" PRIu64 ")", e.modseq);
		buf_append_c(&b, ')');
		imap_session_untagged(session, "%s", buf_cstr(&b));
	}
	buf_free(&b);
	if (ch.exists != session->exists_reported || ch.expunged_count > 0) {
		imap_session_untagged(session, "%u EXISTS", ch.exists);
		/* RFC 3501 7.3.2 (not in IMAP4rev2): the count goes with
		   EXISTS when new messages became recent for us. (After an
		   expunge the client counts down itself, as for EXISTS.) */
		uint32_t recent = imap_session_recent_count(session);
		if (claimed && !session->enabled_rev2 &&
		    recent != session->recent_reported)
			imap_session_untagged(session, "%u RECENT", recent);
		session->recent_reported = recent;
	}
	session->exists_reported = ch.exists;
	session->silent_modseq = 0;
	store_view_changes_free(&ch);
}

void
imap_session_sync(struct imap_session *session, bool allow_expunge)
{
	session_sync(session, allow_expunge, false);
}

/* A push: the untagged replies of the sync go out in one write, sent at
   once when nothing else is queued (conn_write_now()). */
static void
session_sync_woken(struct imap_session *session)
{
	struct buf out;

	buf_init(&out, 0);
	/* One hold of the user's lock for the whole sync instead of one per
	   view call: the workers waking sessions of one mailbox at once
	   would otherwise hand it back and forth several times a session.
	   The send comes after. */
	store_user_lock(session->user);
	session->cork = &out;
	session_sync(session, true, true);
	session->cork = NULL;
	store_user_unlock(session->user);
	conn_write_now(session->conn, out.data, out.len);
	buf_free(&out);
}

void
imap_session_sync_held(struct imap_session *session)
{
	/* Every drain of every IDLE session's output comes here; only a
	   held wake needs work (a full sync each time would read the store
	   once per session per push). */
	if (!session->wake_held)
		return;
	session->wake_held = false;
	session_sync_woken(session);
}

/* ---- sets --------------------------------------------------------------- */

void
imap_session_set_saved_uids(struct imap_session *session,
			    const uint32_t *uids, unsigned int count)
{
	imap_seqset_destroy(&session->search_saved);
	session->search_saved = imap_seqset_create();
	for (unsigned i = 0; i < count; i++) {
		unsigned j = i;

		while (j + 1 < count && uids[j + 1] == uids[j] + 1)
			j++;
		imap_seqset_add_range(session->search_saved, uids[i],
				      uids[j]);
		i = j;
	}
}

struct imap_seqset *
imap_session_saved_set(struct imap_session *session)
{
	struct imap_seqset *set = imap_seqset_create();
	const struct imap_seq_range *r;
	unsigned int count = 0;

	if (session->search_saved != NULL) {
		r = imap_seqset_get_ranges(session->search_saved, &count);
		for (unsigned i = 0; i < count; i++)
			imap_seqset_add_range(set, r[i].first, r[i].last);
	}
	return set;
}

struct range_builder {
	struct store_uid_range *ranges;
	unsigned int count, alloc;
};

static void
range_add(struct range_builder *rb, uint32_t uid)
{
	if (rb->count > 0 && rb->ranges[rb->count - 1].last + 1 == uid) {
		rb->ranges[rb->count - 1].last = uid;
		return;
	}
	if (rb->count == rb->alloc) {
		rb->alloc = rb->alloc == 0 ? 16 : rb->alloc * 2;
		rb->ranges = realloc(rb->ranges,
				     rb->alloc * sizeof(*rb->ranges));
		if (rb->ranges == NULL)
			abort();
	}
	rb->ranges[rb->count].first = uid;
	rb->ranges[rb->count].last = uid;
	rb->count++;
}

static void
seq_push(uint32_t **seqs, unsigned int *count, unsigned int *alloc,
	 uint32_t seq)
{
	if (*count == *alloc) {
		*alloc = *alloc == 0 ? 64 : *alloc * 2;
		*seqs = realloc(*seqs, *alloc * sizeof(**seqs));
		if (*seqs == NULL)
			abort();
	}
	(*seqs)[(*count)++] = seq;
}

int
imap_session_seqset_to_seqs(struct imap_session *session,
			    struct imap_seqset *set, bool uid,
			    uint32_t **seqs_r, unsigned int *count_r,
			    const char **error_r)
{
	uint32_t count = store_view_count(session->view);
	struct imap_seqset *saved = NULL;
	struct store_view_entry e;
	struct imap_seqset_iter it;
	uint32_t *seqs = NULL, n;
	unsigned int seq_count = 0, alloc = 0;

	if (imap_seqset_is_saved(set)) {
		/* RFC 5182 2.1: "$" names the same messages by sequence
		   number and by UID; it is kept as UIDs. */
		saved = imap_session_saved_set(session);
		set = saved;
		uid = true;
	}
	if (!uid) {
		imap_seqset_resolve(set, count);
		if (imap_seqset_last(set) > count) {
			*error_r = "Invalid messageset: sequence number "
				   "out of range.";
			return -1;
		}
		imap_seqset_iter_init(&it, set);
		while (imap_seqset_iter_next(&it, &n))
			seq_push(&seqs, &seq_count, &alloc, n);
	} else {
		uint32_t max_uid = 0, min_uid = 0;
		unsigned int nranges;
		const struct imap_seq_range *ranges;

		if (count > 0 && store_view_get(session->view, count, &e))
			max_uid = e.uid;
		if (count > 0 && store_view_get(session->view, 1, &e))
			min_uid = e.uid;
		imap_seqset_resolve(set, max_uid);
		ranges = imap_seqset_get_ranges(set, &nranges);
		if (count > 0 && nranges == 1 && ranges[0].first <= min_uid &&
		    ranges[0].last >= max_uid) {
			/* One range over every UID ("1:*"): every message,
			   in order, without looking at them. */
			seqs = malloc(count * sizeof(*seqs));
			if (seqs == NULL)
				abort();
			for (uint32_t s = 0; s < count; s++)
				seqs[s] = s + 1;
			seq_count = count;
		} else if (imap_seqset_count(set) <= count / 8) {
			/* A few UIDs: look each up. */
			imap_seqset_iter_init(&it, set);
			while (imap_seqset_iter_next(&it, &n)) {
				uint32_t seq = store_view_seq(session->view, n);

				if (seq != 0)
					seq_push(&seqs, &seq_count, &alloc,
						 seq);
			}
		} else {
			/* Many: walk the messages this session knows
			   (reported EXISTS), a run of entries at a time. */
			struct store_view_iter vi;

			store_view_iter_init(&vi, session->view);
			while (store_view_iter_next(&vi, &e) &&
			       vi.seq <= count) {
				if (imap_seqset_contains(set, e.uid))
					seq_push(&seqs, &seq_count, &alloc,
						 vi.seq);
			}
		}
	}
	imap_seqset_destroy(&saved);
	*seqs_r = seqs;
	*count_r = seq_count;
	return 0;
}

int
imap_session_seqset_to_uids(struct imap_session *session,
			    struct imap_seqset *set, bool uid,
			    struct store_uid_range **ranges_r,
			    unsigned int *count_r, const char **error_r)
{
	struct range_builder rb = { NULL, 0, 0 };
	struct store_view_entry e;
	uint32_t *seqs;
	unsigned int count;

	if (imap_session_seqset_to_seqs(session, set, uid, &seqs, &count,
					error_r) < 0)
		return -1;
	for (unsigned int i = 0; i < count; i++) {
		if (store_view_get(session->view, seqs[i], &e))
			range_add(&rb, e.uid);
	}
	free(seqs);
	*ranges_r = rb.ranges;
	*count_r = rb.count;
	return 0;
}
