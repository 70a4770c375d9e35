/* NOTIFY (RFC 5465): the command, and the pushing of changes of the
   user's other mailboxes (STATUS), of the mailbox list (LIST) and of the
   selected mailbox (EXISTS, EXPUNGE, FETCH) while the client is idle
   between commands or in IDLE.

   How a change gets here: the session registers a user watch
   (store_user_watch_add()), so every change of any of the user's
   mailboxes, from any session, POP3, LMTP or delivery, calls
   notify_watch_cb() on the committing thread with the user locked. That
   callback only appends to this session's queue (guarded by the same
   user lock) and triggers the session's wake; the session's own worker
   then writes the responses. Changes of one mailbox share one queue
   entry, so a burst of deliveries gives one STATUS. The queue is bounded
   (IMAP_NOTIFY_QUEUE_MAX): past it the session gets NOTIFICATIONOVERFLOW
   and NOTIFY is off (RFC 5465 5.8). Sessions that never say NOTIFY
   register nothing and are never woken by other mailboxes. */
#include "imap/imap-notify.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-fetch.h"
#include "imap/imap-session.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "net/conn.h"
#include "net/worker.h"
#include "store/store.h"

/* One queued change. A message entry (msg_bits != 0) stands for every
   SAVE / FLAGS / EXPUNGE of its mailbox since the session last wrote. */
struct notify_entry {
	enum store_change_type type;
	unsigned int msg_bits; /* 1 << enum store_change_type */
	uint64_t mailbox_id;
	char *name, *old_name;
	bool subscribed;
};

struct imap_notify {
	struct imap_session *session;
	/* Names of SUBTREE / MAILBOXES groups are decoded to the store's
	   form by cmd_notify(). Read-only once set: the store's threads read
	   other_events. */
	struct imap_notify_spec *spec;
	/* Events of the groups other than SELECTED / SELECTED-DELAYED. */
	unsigned int other_events;
	struct store_watch *watch;
	struct worker_wake *wake;

	/* Under the user's lock. */
	struct notify_entry *queue;
	unsigned int count, alloc;
	bool overflow;
};

/* Mailbox list and subscriptions, read once per flush when needed. */
struct notify_snapshot {
	struct store_mailbox_info *list;
	unsigned int count;
	bool loaded;
	char **subs;
	unsigned int sub_count;
	bool subs_loaded;
};

#define MSG_BIT(type) (1u << (type))

static void
entries_free(struct notify_entry *queue, unsigned int count)
{
	for (unsigned i = 0; i < count; i++) {
		free(queue[i].name);
		free(queue[i].old_name);
	}
	free(queue);
}

/* ---- the store's side (any thread, user locked) ---------------------- */

static unsigned int
change_events(enum store_change_type type)
{
	switch (type) {
	case STORE_CHANGE_SAVE:
	case STORE_CHANGE_EXPUNGE:
		return IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE;
	case STORE_CHANGE_FLAGS:
		return IMAP_NOTIFY_FLAG_CHANGE;
	case STORE_CHANGE_CREATE:
	case STORE_CHANGE_DELETE:
	case STORE_CHANGE_RENAME:
		return IMAP_NOTIFY_MAILBOX_NAME;
	case STORE_CHANGE_SUBSCRIPTION:
		return IMAP_NOTIFY_SUBSCRIPTION_CHANGE;
	case STORE_CHANGE_MAILBOX:
		break;
	}
	return 0;
}

static void
notify_watch_cb(void *context, const struct store_user_change *ch)
{
	struct imap_notify *n = context;
	struct notify_entry *e;
	bool message;

	if ((n->other_events & change_events(ch->type)) == 0)
		return;
	/* RFC 5465 5: not of the session's own changes (this thread is
	   running its command now). */
	if (imap_session_running == n->session)
		return;
	if (n->overflow)
		return;
	message = ch->type == STORE_CHANGE_SAVE ||
		ch->type == STORE_CHANGE_FLAGS ||
		ch->type == STORE_CHANGE_EXPUNGE;
	if (message) {
		for (unsigned i = 0; i < n->count; i++) {
			if (n->queue[i].msg_bits != 0 &&
			    n->queue[i].mailbox_id == ch->mailbox_id) {
				/* Already queued, and the wake with it. */
				n->queue[i].msg_bits |= MSG_BIT(ch->type);
				return;
			}
		}
	}
	if (n->count >= IMAP_NOTIFY_QUEUE_MAX) {
		n->overflow = true;
		worker_wake_trigger(n->wake);
		return;
	}
	if (n->count == n->alloc) {
		n->alloc = n->alloc == 0 ? 8 : n->alloc * 2;
		n->queue = realloc(n->queue, n->alloc * sizeof(*n->queue));
		if (n->queue == NULL)
			abort();
	}
	e = &n->queue[n->count++];
	memset(e, 0, sizeof(*e));
	e->type = ch->type;
	e->msg_bits = message ? MSG_BIT(ch->type) : 0;
	e->mailbox_id = ch->mailbox_id;
	e->name = ch->name != NULL ? imap_xstrdup(ch->name) : NULL;
	e->old_name = ch->old_name != NULL ? imap_xstrdup(ch->old_name) :
		NULL;
	e->subscribed = ch->subscribed;
	worker_wake_trigger(n->wake);
}

/* ---- matching --------------------------------------------------------- */

static bool
name_in_subtree(const char *root, const char *name)
{
	size_t len = strlen(root);

	return strncmp(root, name, len) == 0 &&
		(name[len] == '\0' || name[len] == '/');
}

static bool
group_matches(const struct imap_notify_group *g, const char *name,
	      bool subscribed)
{
	switch (g->filter) {
	case IMAP_NOTIFY_SELECTED:
	case IMAP_NOTIFY_SELECTED_DELAYED:
		return false;
	case IMAP_NOTIFY_INBOXES:
		/* RFC 5465 6.3: any mailbox may get deliveries here
		   (LMTP to user+folder), so INBOXES is PERSONAL. */
	case IMAP_NOTIFY_PERSONAL:
		return true;
	case IMAP_NOTIFY_SUBSCRIBED:
		return subscribed;
	case IMAP_NOTIFY_SUBTREE:
		for (unsigned i = 0; i < g->name_count; i++) {
			if (name_in_subtree(g->names[i], name))
				return true;
		}
		return false;
	case IMAP_NOTIFY_MAILBOXES:
		/* RFC 5465 6.6: no wildcards. */
		for (unsigned i = 0; i < g->name_count; i++) {
			if (strcmp(g->names[i], name) == 0)
				return true;
		}
		return false;
	}
	return false;
}

/* The events the non-selected groups want for a mailbox name. */
static unsigned int
events_for(const struct imap_notify *n, const char *name, bool subscribed)
{
	unsigned int events = 0;

	for (unsigned i = 0; i < n->spec->group_count; i++) {
		const struct imap_notify_group *g = &n->spec->groups[i];

		if (group_matches(g, name, subscribed))
			events |= g->events;
	}
	return events;
}

/* ---- writing ---------------------------------------------------------- */

static bool
snapshot_load(struct imap_session *session, struct notify_snapshot *snap)
{
	const char *error;

	if (snap->loaded)
		return true;
	if (store_mailbox_list(session->user, &snap->list, &snap->count,
			       &error) < 0) {
		log_error(&session->log, "NOTIFY: listing mailboxes failed: "
			  "%s", error);
		return false;
	}
	snap->loaded = true;
	return true;
}

static bool
snapshot_subscribed(struct imap_session *session,
		    struct notify_snapshot *snap, const char *name)
{
	const char *error;

	if (!snap->subs_loaded) {
		if (store_subscription_list(session->user, &snap->subs,
					    &snap->sub_count, &error) < 0) {
			log_error(&session->log, "NOTIFY: reading "
				  "subscriptions failed: %s", error);
			return false;
		}
		snap->subs_loaded = true;
	}
	for (unsigned i = 0; i < snap->sub_count; i++) {
		if (strcmp(snap->subs[i], name) == 0)
			return true;
	}
	return false;
}

static void
snapshot_free(struct notify_snapshot *snap)
{
	store_mailbox_list_free(&snap->list, snap->count);
	store_subscription_list_free(&snap->subs, snap->sub_count);
}

static const struct store_mailbox_info *
snapshot_find(const struct notify_snapshot *snap, const char *name,
	      uint64_t id)
{
	for (unsigned i = 0; i < snap->count; i++) {
		if (name != NULL ? strcmp(snap->list[i].name, name) == 0 :
		    snap->list[i].id == id)
			return &snap->list[i];
	}
	return NULL;
}

static bool
snapshot_has_children(const struct notify_snapshot *snap, const char *name)
{
	size_t len = strlen(name);

	for (unsigned i = 0; i < snap->count; i++) {
		if (strncmp(snap->list[i].name, name, len) == 0 &&
		    snap->list[i].name[len] == '/')
			return true;
	}
	return false;
}

/* "* LIST (attrs) "/" name [("OLDNAME" (old))]" with attributes as LIST
   computes them (RFC 5465 5.4, 5.5). */
static void
write_list(struct imap_session *session, struct notify_snapshot *snap,
	   const char *name, const char *old_name, bool subscribed)
{
	const struct store_mailbox_info *info;
	struct buf b;
	bool first = true;

	info = snapshot_find(snap, name, 0);
	buf_init(&b, 0);
	buf_append_str(&b, "LIST (");
	if (info == NULL) {
		buf_append_str(&b, "\\NonExistent");
		first = false;
	} else {
		buf_append_str(&b, snapshot_has_children(snap, name) ?
			       "\\HasChildren" : "\\HasNoChildren");
		first = false;
	}
	if (subscribed)
		buf_append_str(&b, first ? "\\Subscribed" : " \\Subscribed");
	buf_append_str(&b, ") \"/\" ");
	imap_write_mailbox_name(session, &b, name);
	if (old_name != NULL) {
		buf_append_str(&b, " (\"OLDNAME\" (");
		imap_write_mailbox_name(session, &b, old_name);
		buf_append_str(&b, "))");
	}
	imap_session_untagged(session, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* STATUS of a mailbox other than the selected one (RFC 5465 5.1-5.3). */
static void
write_status(struct imap_session *session, uint64_t id, const char *name,
	     bool flags)
{
	unsigned int items = IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT |
		IMAP_STATUS_UIDVALIDITY;
	const char *error;

	/* RFC 5465 3: with FlagChange, a server that supports CONDSTORE
	   sends HIGHESTMODSEQ (and UIDVALIDITY) whether or not the client
	   enabled it; 5.1: UNSEEN too, for a client that did not. */
	if (session->enabled_condstore || flags)
		items |= IMAP_STATUS_HIGHESTMODSEQ;
	if (flags && !session->enabled_condstore)
		items |= IMAP_STATUS_UNSEEN;
	if (imap_status_write(session, id, name, items, &error) < 0)
		log_error(&session->log, "NOTIFY: STATUS of %s failed: %s",
			  name, error);
}

/* RFC 5465 5.4: a create or delete affects the direct parent too (its
   \HasChildren), whether or not it exists. */
static void
write_parent_list(struct imap_session *session, struct imap_notify *n,
		  struct notify_snapshot *snap, const char *name)
{
	const struct store_mailbox_info *info;
	const char *slash = strrchr(name, '/');
	char *parent;
	bool sub;

	if (slash == NULL)
		return;
	parent = imap_xstrndup(name, (size_t)(slash - name));
	info = snapshot_find(snap, parent, 0);
	sub = info != NULL ? info->subscribed :
		snapshot_subscribed(session, snap, parent);
	if ((events_for(n, parent, sub) & IMAP_NOTIFY_MAILBOX_NAME) != 0)
		write_list(session, snap, parent, NULL, sub);
	free(parent);
}

static void
write_entry(struct imap_session *session, struct imap_notify *n,
	    struct notify_snapshot *snap, const struct notify_entry *e)
{
	const struct store_mailbox_info *info;
	unsigned int want;
	bool sub;

	if (e->msg_bits != 0) {
		/* The selected mailbox's events are SELECTED's (6.1). */
		if (session->state == IMAP_STATE_SELECTED &&
		    e->mailbox_id == session->mailbox_id)
			return;
		if (!snapshot_load(session, snap))
			return;
		info = snapshot_find(snap, NULL, e->mailbox_id);
		if (info == NULL)
			return; /* deleted since */
		want = events_for(n, info->name, info->subscribed);
		bool count = ((e->msg_bits & MSG_BIT(STORE_CHANGE_SAVE)) != 0 &&
			      (want & IMAP_NOTIFY_MESSAGE_NEW) != 0) ||
			((e->msg_bits & MSG_BIT(STORE_CHANGE_EXPUNGE)) != 0 &&
			 (want & IMAP_NOTIFY_MESSAGE_EXPUNGE) != 0);
		bool flags = (e->msg_bits & MSG_BIT(STORE_CHANGE_FLAGS)) != 0 &&
			(want & IMAP_NOTIFY_FLAG_CHANGE) != 0;
		if (count || flags)
			write_status(session, info->id, info->name, flags);
		return;
	}
	if (!snapshot_load(session, snap))
		return;
	switch (e->type) {
	case STORE_CHANGE_CREATE:
		info = snapshot_find(snap, e->name, 0);
		sub = info != NULL ? info->subscribed :
			snapshot_subscribed(session, snap, e->name);
		if ((events_for(n, e->name, sub) &
		     IMAP_NOTIFY_MAILBOX_NAME) != 0)
			write_list(session, snap, e->name, NULL, sub);
		write_parent_list(session, n, snap, e->name);
		break;
	case STORE_CHANGE_DELETE:
		/* DELETE leaves the subscription. */
		sub = snapshot_subscribed(session, snap, e->name);
		if ((events_for(n, e->name, sub) &
		     IMAP_NOTIFY_MAILBOX_NAME) != 0)
			write_list(session, snap, e->name, NULL, sub);
		write_parent_list(session, n, snap, e->name);
		break;
	case STORE_CHANGE_RENAME:
		info = snapshot_find(snap, e->name, 0);
		sub = info != NULL && info->subscribed;
		if (((events_for(n, e->name, sub) |
		      events_for(n, e->old_name,
				 snapshot_subscribed(session, snap,
						     e->old_name))) &
		     IMAP_NOTIFY_MAILBOX_NAME) == 0)
			break;
		/* 5.4: renaming INBOX creates the new name; INBOX stays. */
		write_list(session, snap, e->name,
			   strcmp(e->old_name, "INBOX") == 0 ? NULL :
			   e->old_name, sub);
		break;
	case STORE_CHANGE_SUBSCRIPTION:
		/* SUBSCRIBED covers a name being unsubscribed too. */
		if ((events_for(n, e->name, true) &
		     IMAP_NOTIFY_SUBSCRIPTION_CHANGE) != 0)
			write_list(session, snap, e->name, NULL,
				   e->subscribed);
		break;
	default:
		break;
	}
}

static bool
can_write(struct imap_session *session)
{
	return !conn_is_closing(session->conn) && !session->mid_reply &&
		(session->cmd == NULL || session->idling) &&
		conn_output_pending(session->conn) < CONN_OUTPUT_HIGH_WATER;
}

/* The highest UID of the selected view, 0 if empty. */
static uint32_t
view_last_uid(struct imap_session *session)
{
	struct store_view_entry e;
	uint32_t count = store_view_count(session->view);

	if (count == 0 || !store_view_get(session->view, count, &e))
		return 0;
	return e.uid;
}

/* SELECTED / SELECTED-DELAYED: the selected mailbox's changes now, with
   MessageNew's attributes for new messages (RFC 5465 5.2). */
static void
selected_push(struct imap_session *session, struct imap_notify *n)
{
	const struct imap_notify_group *g;
	struct store_view_entry e;
	uint32_t last_uid, count, seq;

	if (n->spec->selected < 0 || session->state != IMAP_STATE_SELECTED ||
	    session->view == NULL)
		return;
	g = &n->spec->groups[n->spec->selected];
	if ((g->events & IMAP_NOTIFY_MESSAGE_EVENTS) == 0)
		return;
	last_uid = view_last_uid(session);
	/* 6.1.2: SELECTED-DELAYED holds expunges until a command that may
	   report them; IDLE may. */
	imap_session_sync(session, g->filter == IMAP_NOTIFY_SELECTED ||
			  session->idling);
	if (session->state != IMAP_STATE_SELECTED || n->spec->fetch == NULL)
		return;
	count = store_view_count(session->view);
	for (seq = count; seq > 0; seq--) {
		if (!store_view_get(session->view, seq, &e) ||
		    e.uid <= last_uid)
			break;
	}
	for (seq++; seq <= count; seq++) {
		if (imap_fetch_write_unsolicited(session, n->spec->fetch,
						 seq) < 0 &&
		    conn_is_closing(session->conn))
			return;
	}
}

void
imap_notify_resume(struct imap_session *session)
{
	struct imap_notify *n = session->notify;
	struct notify_snapshot snap;
	struct notify_entry *queue;
	unsigned int count;
	bool overflow;

	if (n == NULL || !can_write(session))
		return;
	selected_push(session, n);
	if (conn_is_closing(session->conn))
		return;
	store_user_lock(session->user);
	queue = n->queue;
	count = n->count;
	overflow = n->overflow;
	n->queue = NULL;
	n->count = n->alloc = 0;
	store_user_unlock(session->user);
	if (overflow) {
		entries_free(queue, count);
		imap_session_untagged(session, "OK [NOTIFICATIONOVERFLOW] "
				      "Too many changes: NOTIFY is off");
		imap_notify_destroy(session);
		return;
	}
	memset(&snap, 0, sizeof(snap));
	for (unsigned i = 0; i < count; i++)
		write_entry(session, n, &snap, &queue[i]);
	snapshot_free(&snap);
	entries_free(queue, count);
}

bool
imap_notify_selected_changed(struct imap_session *session)
{
	if (session->notify == NULL)
		return false;
	/* Without SELECTED the client asked for no events of the selected
	   mailbox, in IDLE neither (RFC 5465 4); commands still report
	   them as always. */
	imap_notify_resume(session);
	return true;
}

/* The session's thread. */
static void
notify_wake_cb(void *context)
{
	imap_notify_resume(context);
}

void
imap_notify_destroy(struct imap_session *session)
{
	struct imap_notify *n = session->notify;

	if (n == NULL)
		return;
	session->notify = NULL;
	/* The watch first: after it the store never touches the wake. */
	store_watch_remove(&n->watch);
	worker_wake_destroy(&n->wake);
	entries_free(n->queue, n->count);
	imap_notify_spec_free(&n->spec);
	free(n);
}

/* ---- the command ------------------------------------------------------ */

/* SET STATUS: STATUS of every watched mailbox other than the selected
   one before the OK (RFC 5465 3.1). */
static void
write_initial_status(struct imap_session *session, struct imap_notify *n)
{
	struct notify_snapshot snap;

	memset(&snap, 0, sizeof(snap));
	if (!snapshot_load(session, &snap))
		return;
	for (unsigned i = 0; i < snap.count; i++) {
		const struct store_mailbox_info *info = &snap.list[i];
		unsigned int want;

		if (session->state == IMAP_STATE_SELECTED &&
		    info->id == session->mailbox_id)
			continue;
		want = events_for(n, info->name, info->subscribed);
		if ((want & IMAP_NOTIFY_MESSAGE_EVENTS) == 0)
			continue;
		write_status(session, info->id, info->name,
			     (want & IMAP_NOTIFY_FLAG_CHANGE) != 0);
	}
	snapshot_free(&snap);
}

bool
cmd_notify(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct imap_notify_spec *spec;
	struct imap_notify *n;
	const char *error;

	switch (imap_notify_parse(cmd->args, cmd->args_count, &spec,
				  &error)) {
	case IMAP_NOTIFY_PARSE_OK:
		break;
	case IMAP_NOTIFY_PARSE_BAD:
		imap_cmd_bad(cmd, "%s", error);
		return true;
	case IMAP_NOTIFY_PARSE_BADEVENT:
		imap_cmd_no(cmd, "[BADEVENT "
			    IMAP_NOTIFY_SUPPORTED_EVENTS "] %s", error);
		return true;
	}
	if (spec->none) {
		imap_notify_spec_free(&spec);
		imap_notify_destroy(session);
		imap_cmd_ok(cmd, "NOTIFY completed.");
		return true;
	}
	/* Names into the store's form (modified UTF-7 or UTF-8). */
	for (unsigned i = 0; i < spec->group_count; i++) {
		struct imap_notify_group *g = &spec->groups[i];

		for (unsigned j = 0; j < g->name_count; j++) {
			char *name;

			if (imap_mailbox_name_from_client(
				    session, (const uint8_t *)g->names[j],
				    g->name_lens[j], &name, &error) < 0) {
				imap_notify_spec_free(&spec);
				imap_cmd_bad(cmd, "%s", error);
				return true;
			}
			free(g->names[j]);
			g->names[j] = name;
		}
	}
	imap_notify_destroy(session);
	n = imap_xcalloc(1, sizeof(*n));
	n->session = session;
	n->spec = spec;
	for (unsigned i = 0; i < spec->group_count; i++) {
		if ((int)i != spec->selected)
			n->other_events |= spec->groups[i].events;
	}
	session->notify = n;
	n->wake = worker_wake_create(conn_get_worker(session->conn),
				     notify_wake_cb, session);
	/* Watch before the STATUS replies: nothing falls between. */
	if (n->other_events != 0)
		n->watch = store_user_watch_add(session->user,
						notify_watch_cb, n);
	if (spec->status)
		write_initial_status(session, n);
	/* 3.1: an implicit NOOP; the OK reports the selected mailbox's
	   changes. */
	imap_cmd_ok(cmd, "NOTIFY completed.");
	return true;
}
