#ifndef QUIRE_IMAP_NOTIFY_H
#define QUIRE_IMAP_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap-parser.h"

/* NOTIFY (RFC 5465).

   The argument parser (imap-notify-parse.c) is pure: it turns the
   command's parsed arguments into a struct imap_notify_spec and does no
   I/O, so the fuzzer and the unit tests run it alone. The session side
   (imap-notify.c) keeps one struct imap_notify per session that asked,
   behind session->notify (NULL for every other session: an IDLE session
   that never says NOTIFY pays one pointer). */

struct imap_cmd;
struct imap_fetch_items;
struct imap_session;

/* Events (RFC 5465 5), as bits. */
enum imap_notify_event {
	IMAP_NOTIFY_MESSAGE_NEW = 0x01,
	IMAP_NOTIFY_MESSAGE_EXPUNGE = 0x02,
	IMAP_NOTIFY_FLAG_CHANGE = 0x04,
	/* Accepted; there are no message annotations, so it never
	   fires. */
	IMAP_NOTIFY_ANNOTATION_CHANGE = 0x08,
	IMAP_NOTIFY_MAILBOX_NAME = 0x10,
	IMAP_NOTIFY_SUBSCRIPTION_CHANGE = 0x20,
};
#define IMAP_NOTIFY_MESSAGE_EVENTS \
	(IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | \
	 IMAP_NOTIFY_FLAG_CHANGE | IMAP_NOTIFY_ANNOTATION_CHANGE)

/* The events this server supports, as the BADEVENT response code lists
   them (RFC 5465 3.1). */
#define IMAP_NOTIFY_SUPPORTED_EVENTS \
	"(MessageNew MessageExpunge FlagChange AnnotationChange " \
	"MailboxName SubscriptionChange)"

/* Mailbox specifiers (RFC 5465 6). */
enum imap_notify_filter {
	IMAP_NOTIFY_SELECTED,
	IMAP_NOTIFY_SELECTED_DELAYED,
	IMAP_NOTIFY_INBOXES,
	IMAP_NOTIFY_PERSONAL,
	IMAP_NOTIFY_SUBSCRIBED,
	IMAP_NOTIFY_SUBTREE,
	IMAP_NOTIFY_MAILBOXES,
};

struct imap_notify_group {
	enum imap_notify_filter filter;
	unsigned int events; /* enum imap_notify_event bits; 0 = NONE */
	/* SUBTREE / MAILBOXES: the names as the client sent them (bytes,
	   NUL-terminated, not yet decoded from modified UTF-7). */
	char **names;
	size_t *name_lens;
	unsigned int name_count;
};

struct imap_notify_spec {
	/* NOTIFY NONE. */
	bool none;
	/* SET STATUS: STATUS of the watched mailboxes before the OK. */
	bool status;
	struct imap_notify_group *groups;
	unsigned int group_count;
	/* Index of the SELECTED / SELECTED-DELAYED group, or -1. */
	int selected;
	/* MessageNew's FETCH attributes of the selected group, or NULL. */
	struct imap_fetch_items *fetch;
};

enum imap_notify_parse_result {
	IMAP_NOTIFY_PARSE_OK = 0,
	/* Invalid: tagged BAD with *error_r. */
	IMAP_NOTIFY_PARSE_BAD = -1,
	/* An event this server does not support: tagged
	   NO [BADEVENT IMAP_NOTIFY_SUPPORTED_EVENTS] (RFC 5465 3.1). */
	IMAP_NOTIFY_PARSE_BADEVENT = -2,
};

/* Parses NOTIFY's arguments (after the verb). Rules beyond the grammar
   (RFC 5465 5, 6.1): MessageNew and MessageExpunge go together, FlagChange
   and AnnotationChange need both, SELECTED/SELECTED-DELAYED appear once
   and take only message events, FETCH attributes only with them (and none
   that sets \Seen), at most IMAP_NOTIFY_MAX_GROUPS groups and
   IMAP_NOTIFY_MAX_NAMES names. On OK *spec_r is a new spec (free with
   imap_notify_spec_free); otherwise *error_r is static text. */
enum imap_notify_parse_result
imap_notify_parse(const struct imap_arg *args, unsigned int count,
		  struct imap_notify_spec **spec_r, const char **error_r);
/* Frees a spec and sets *spec to NULL. Safe on NULL. */
void imap_notify_spec_free(struct imap_notify_spec **spec);

/* ---- the session side (imap-notify.c) ------------------------------- */

/* The NOTIFY command (table entry in imap-commands.c). */
bool cmd_notify(struct imap_cmd *cmd);

/* Writes what the session may write now: pending changes of the selected
   mailbox under SELECTED / SELECTED-DELAYED (with MessageNew's FETCH
   attributes), then STATUS / LIST for the other mailboxes. Does nothing
   while a command runs (other than IDLE), while a reply is half written,
   or while the output is above its high-water mark: the session calls it
   again when the command ends and when the output drains. No-op when
   session->notify is NULL. */
void imap_notify_resume(struct imap_session *session);

/* The selected mailbox's watcher fired (imap-view.c): pushes its changes
   if NOTIFY asked for them. Returns false if NOTIFY is not in use, so the
   caller does what it does without it. */
bool imap_notify_selected_changed(struct imap_session *session);

/* Ends NOTIFY for the session (NOTIFY NONE, overflow, logout). Safe when
   session->notify is NULL. */
void imap_notify_destroy(struct imap_session *session);

#endif
