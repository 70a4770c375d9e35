/* NOTIFY's arguments (RFC 5465 8, "notify"), from the command parser's
   argument tree to a struct imap_notify_spec. Pure: no I/O, no session.
   The tree is at most IMAP_NOTIFY_MAX_GROUPS groups of one flat name list
   and one flat event list (MessageNew's FETCH list goes to the FETCH item
   parser), so nothing here recurses. */
#include "imap/imap-notify.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-fetch.h"
#include "lib/limits.h"

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

void
imap_notify_spec_free(struct imap_notify_spec **_spec)
{
	struct imap_notify_spec *spec = *_spec;

	if (spec == NULL)
		return;
	*_spec = NULL;
	for (unsigned i = 0; i < spec->group_count; i++) {
		struct imap_notify_group *g = &spec->groups[i];

		for (unsigned j = 0; j < g->name_count; j++)
			free(g->names[j]);
		free(g->names);
		free(g->name_lens);
	}
	free(spec->groups);
	imap_fetch_items_free(&spec->fetch);
	free(spec);
}

static const struct {
	const char *name;
	enum imap_notify_filter filter;
} filters[] = {
	{ "SELECTED", IMAP_NOTIFY_SELECTED },
	{ "SELECTED-DELAYED", IMAP_NOTIFY_SELECTED_DELAYED },
	{ "INBOXES", IMAP_NOTIFY_INBOXES },
	{ "PERSONAL", IMAP_NOTIFY_PERSONAL },
	{ "SUBSCRIBED", IMAP_NOTIFY_SUBSCRIBED },
	{ "SUBTREE", IMAP_NOTIFY_SUBTREE },
	{ "MAILBOXES", IMAP_NOTIFY_MAILBOXES },
};

static const struct {
	const char *name;
	enum imap_notify_event event;
} events[] = {
	{ "MessageNew", IMAP_NOTIFY_MESSAGE_NEW },
	{ "MessageExpunge", IMAP_NOTIFY_MESSAGE_EXPUNGE },
	{ "FlagChange", IMAP_NOTIFY_FLAG_CHANGE },
	{ "AnnotationChange", IMAP_NOTIFY_ANNOTATION_CHANGE },
	{ "MailboxName", IMAP_NOTIFY_MAILBOX_NAME },
	{ "SubscriptionChange", IMAP_NOTIFY_SUBSCRIPTION_CHANGE },
};

/* Adds one mailbox name (an astring) to the group. */
static enum imap_notify_parse_result
group_add_name(struct imap_notify_group *g, unsigned int *total,
	       const struct imap_arg *arg, const char **error_r)
{
	const uint8_t *data;
	size_t len;

	if (!imap_arg_get_astring(arg, &data, &len) || len == 0) {
		*error_r = "Invalid mailbox name.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	if (*total >= IMAP_NOTIFY_MAX_NAMES) {
		*error_r = "Too many mailbox names.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	(*total)++;
	g->names = realloc(g->names, (g->name_count + 1) * sizeof(*g->names));
	g->name_lens = realloc(g->name_lens,
			       (g->name_count + 1) * sizeof(*g->name_lens));
	if (g->names == NULL || g->name_lens == NULL)
		abort();
	g->names[g->name_count] = xcalloc(len + 1, 1);
	memcpy(g->names[g->name_count], data, len);
	g->name_lens[g->name_count] = len;
	g->name_count++;
	return IMAP_NOTIFY_PARSE_OK;
}

/* The events of a group: "NONE" or "(" event *(SP event) ")". An unknown
   atom is BADEVENT only once the rest is known to be well formed, so a
   malformed command always gets BAD. */
static enum imap_notify_parse_result
parse_events(struct imap_notify_spec *spec, struct imap_notify_group *g,
	     const struct imap_arg *arg, const char **error_r)
{
	const struct imap_arg *list;
	unsigned int count;
	bool unknown = false, selected;

	selected = g->filter == IMAP_NOTIFY_SELECTED ||
		g->filter == IMAP_NOTIFY_SELECTED_DELAYED;
	if (imap_arg_atom_equals(arg, "NONE")) {
		g->events = 0;
		return IMAP_NOTIFY_PARSE_OK;
	}
	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		*error_r = "Invalid event list.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	for (unsigned i = 0; i < count; i++) {
		const char *atom;
		size_t j;

		if (list[i].type != IMAP_ARG_ATOM ||
		    !imap_arg_get_atom(&list[i], &atom)) {
			*error_r = "Invalid event.";
			return IMAP_NOTIFY_PARSE_BAD;
		}
		for (j = 0; j < sizeof(events) / sizeof(events[0]); j++) {
			if (strcasecmp(atom, events[j].name) == 0)
				break;
		}
		if (j == sizeof(events) / sizeof(events[0])) {
			unknown = true;
			continue;
		}
		g->events |= events[j].event;
		if (events[j].event != IMAP_NOTIFY_MESSAGE_NEW ||
		    i + 1 >= count || list[i + 1].type != IMAP_ARG_LIST)
			continue;
		/* MessageNew (fetch-att ...): only for the selected
		   mailbox (RFC 5465 8). */
		i++;
		if (!selected) {
			*error_r = "FETCH attributes are allowed only with "
				   "SELECTED.";
			return IMAP_NOTIFY_PARSE_BAD;
		}
		if (spec->fetch != NULL || list[i].list_count == 0) {
			*error_r = "Invalid MessageNew attributes.";
			return IMAP_NOTIFY_PARSE_BAD;
		}
		if (imap_fetch_items_parse(&list[i], &spec->fetch,
					   error_r) < 0)
			return IMAP_NOTIFY_PARSE_BAD;
		if (spec->fetch->sets_seen) {
			/* RFC 5465 5.2: the client SHOULD NOT; a push that
			   changes flags behind the user's back is worse. */
			*error_r = "MessageNew attributes must not set \\Seen "
				   "(use BODY.PEEK).";
			return IMAP_NOTIFY_PARSE_BAD;
		}
	}
	/* RFC 5465 5 says MessageNew and MessageExpunge go together and
	   FlagChange/AnnotationChange need both, yet its own example in
	   section 3 asks for "(subtree Lists MessageNew)" alone, and clients
	   written from the example exist; other servers accept any set of
	   events, and so do we: each event is reported on its own. */
	/* RFC 5465 6.1: only message events for the selected mailbox. */
	if (selected && (g->events & ~IMAP_NOTIFY_MESSAGE_EVENTS) != 0) {
		*error_r = "SELECTED takes only message events.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	if (unknown) {
		*error_r = "Unsupported event.";
		return IMAP_NOTIFY_PARSE_BADEVENT;
	}
	return IMAP_NOTIFY_PARSE_OK;
}

/* "(" filter-mailboxes SP events ")" */
static enum imap_notify_parse_result
parse_group(struct imap_notify_spec *spec, const struct imap_arg *arg,
	    unsigned int *names_total, const char **error_r)
{
	struct imap_notify_group *g;
	const struct imap_arg *list;
	unsigned int count, pos = 0;
	const char *atom;
	size_t i;

	if (!imap_arg_get_list(arg, &list, &count) || count < 2 ||
	    list[0].type != IMAP_ARG_ATOM ||
	    !imap_arg_get_atom(&list[0], &atom)) {
		*error_r = "Invalid event group.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (strcasecmp(atom, filters[i].name) == 0)
			break;
	}
	if (i == sizeof(filters) / sizeof(filters[0])) {
		*error_r = "Unknown mailbox specifier.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	g = &spec->groups[spec->group_count++];
	g->filter = filters[i].filter;
	pos = 1;
	switch (g->filter) {
	case IMAP_NOTIFY_SELECTED:
	case IMAP_NOTIFY_SELECTED_DELAYED:
		if (spec->selected >= 0) {
			*error_r = "Only one of SELECTED and SELECTED-DELAYED.";
			return IMAP_NOTIFY_PARSE_BAD;
		}
		spec->selected = (int)(spec->group_count - 1);
		break;
	case IMAP_NOTIFY_INBOXES:
	case IMAP_NOTIFY_PERSONAL:
	case IMAP_NOTIFY_SUBSCRIBED:
		break;
	case IMAP_NOTIFY_SUBTREE:
	case IMAP_NOTIFY_MAILBOXES: {
		const struct imap_arg *names;
		unsigned int name_count;
		enum imap_notify_parse_result ret;

		if (count != 3) {
			*error_r = "Invalid event group.";
			return IMAP_NOTIFY_PARSE_BAD;
		}
		if (imap_arg_get_list(&list[1], &names, &name_count)) {
			if (name_count == 0) {
				*error_r = "Empty mailbox list.";
				return IMAP_NOTIFY_PARSE_BAD;
			}
			for (unsigned j = 0; j < name_count; j++) {
				ret = group_add_name(g, names_total, &names[j],
						     error_r);
				if (ret != IMAP_NOTIFY_PARSE_OK)
					return ret;
			}
		} else {
			ret = group_add_name(g, names_total, &list[1],
					     error_r);
			if (ret != IMAP_NOTIFY_PARSE_OK)
				return ret;
		}
		pos = 2;
		break;
	}
	}
	if (count != pos + 1) {
		*error_r = "Invalid event group.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	return parse_events(spec, g, &list[pos], error_r);
}

enum imap_notify_parse_result
imap_notify_parse(const struct imap_arg *args, unsigned int count,
		  struct imap_notify_spec **spec_r, const char **error_r)
{
	struct imap_notify_spec *spec;
	enum imap_notify_parse_result ret, badevent = IMAP_NOTIFY_PARSE_OK;
	unsigned int pos = 1, names_total = 0;

	*spec_r = NULL;
	if (count == 0) {
		*error_r = "NOTIFY takes SET or NONE.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	spec = xcalloc(1, sizeof(*spec));
	spec->selected = -1;
	if (imap_arg_atom_equals(&args[0], "NONE")) {
		if (count != 1) {
			imap_notify_spec_free(&spec);
			*error_r = "NOTIFY NONE takes no arguments.";
			return IMAP_NOTIFY_PARSE_BAD;
		}
		spec->none = true;
		*spec_r = spec;
		return IMAP_NOTIFY_PARSE_OK;
	}
	if (!imap_arg_atom_equals(&args[0], "SET")) {
		imap_notify_spec_free(&spec);
		*error_r = "NOTIFY takes SET or NONE.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	if (count > 1 && imap_arg_atom_equals(&args[1], "STATUS")) {
		spec->status = true;
		pos++;
	}
	if (pos >= count) {
		imap_notify_spec_free(&spec);
		*error_r = "NOTIFY SET needs at least one event group.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	if (count - pos > IMAP_NOTIFY_MAX_GROUPS) {
		imap_notify_spec_free(&spec);
		*error_r = "Too many event groups.";
		return IMAP_NOTIFY_PARSE_BAD;
	}
	spec->groups = xcalloc(count - pos, sizeof(*spec->groups));
	for (; pos < count; pos++) {
		ret = parse_group(spec, &args[pos], &names_total, error_r);
		if (ret == IMAP_NOTIFY_PARSE_BADEVENT) {
			/* Keep checking: a later group may be malformed,
			   which is BAD. */
			badevent = ret;
			continue;
		}
		if (ret != IMAP_NOTIFY_PARSE_OK) {
			imap_notify_spec_free(&spec);
			return ret;
		}
	}
	if (badevent != IMAP_NOTIFY_PARSE_OK) {
		imap_notify_spec_free(&spec);
		*error_r = "Unsupported event.";
		return badevent;
	}
	*spec_r = spec;
	return IMAP_NOTIFY_PARSE_OK;
}
