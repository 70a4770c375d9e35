/* LIST (RFC 9051 6.3.9 with LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154,
   LIST-STATUS RFC 5819, CHILDREN RFC 3348) and LSUB (RFC 3501 6.3.9). */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-list.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "mail/imap-bodystructure.h"
#include "store/store.h"

enum list_select {
	LIST_SEL_SUBSCRIBED = 0x01,
	LIST_SEL_RECURSIVEMATCH = 0x02,
	LIST_SEL_SPECIAL_USE = 0x04,
};

enum list_return {
	LIST_RET_SUBSCRIBED = 0x01,
	LIST_RET_CHILDREN = 0x02,
	LIST_RET_SPECIAL_USE = 0x04,
	LIST_RET_STATUS = 0x08,
};

/* One name LIST may show: a mailbox, a parent implied by one, or (for
   LSUB and LIST (SUBSCRIBED)) a subscribed name without a mailbox and the
   parents it implies. */
struct list_node {
	char *name;
	const struct store_mailbox_info *info; /* NULL: no such mailbox */
	bool exists; /* a mailbox, or a parent of one */
	bool subscribed;
	bool has_children; /* children that exist (RFC 3348) */
	bool subscribed_child;
};

struct list_ctx {
	struct imap_cmd *cmd;
	unsigned int sel, ret, status_items;
	bool extended, lsub;
	char **patterns;
	unsigned int pattern_count;
	struct list_node *nodes;
	unsigned int node_count, node_alloc;
};

static const char *
special_use_name(enum store_special_use use)
{
	switch (use) {
	case STORE_SPECIAL_NONE: break;
	case STORE_SPECIAL_ALL: return "\\All";
	case STORE_SPECIAL_ARCHIVE: return "\\Archive";
	case STORE_SPECIAL_DRAFTS: return "\\Drafts";
	case STORE_SPECIAL_FLAGGED: return "\\Flagged";
	case STORE_SPECIAL_JUNK: return "\\Junk";
	case STORE_SPECIAL_SENT: return "\\Sent";
	case STORE_SPECIAL_TRASH: return "\\Trash";
	}
	return NULL;
}

static int
node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct list_node *)a)->name,
		      ((const struct list_node *)b)->name);
}

static struct list_node *
node_find(struct list_ctx *ctx, const char *name)
{
	struct list_node key = { .name = (char *)name };

	return bsearch(&key, ctx->nodes, ctx->node_count, sizeof(key),
		       node_cmp);
}

static void
node_add(struct list_ctx *ctx, char *name,
	 const struct store_mailbox_info *info, bool exists)
{
	if (ctx->node_count == ctx->node_alloc) {
		ctx->node_alloc = ctx->node_alloc == 0 ? 32 :
			ctx->node_alloc * 2;
		ctx->nodes = realloc(ctx->nodes,
				     ctx->node_alloc * sizeof(*ctx->nodes));
		if (ctx->nodes == NULL)
			abort();
	}
	memset(&ctx->nodes[ctx->node_count], 0, sizeof(*ctx->nodes));
	ctx->nodes[ctx->node_count].name = name;
	ctx->nodes[ctx->node_count].info = info;
	ctx->nodes[ctx->node_count].exists = exists;
	ctx->node_count++;
}

/* Every mailbox, every subscribed name when with_subs (a subscription
   outlives its mailbox, RFC 3501 6.3.6), and every parent name implied by
   them, sorted; subscribed, children and subscribed-descendant marks
   set. subs is sorted bytewise. */
static void
build_nodes(struct list_ctx *ctx, const struct store_mailbox_info *list,
	    unsigned int count, char *const *subs, unsigned int sub_count,
	    bool with_subs)
{
	unsigned int given;

	for (unsigned i = 0; i < count; i++)
		node_add(ctx, imap_xstrdup(list[i].name), &list[i], true);
	for (unsigned i = 0; with_subs && i < sub_count; i++)
		node_add(ctx, imap_xstrdup(subs[i]), NULL, false);
	given = ctx->node_count;
	/* Every parent of every name, then one sort; duplicates go, a real
	   mailbox wins over an implied parent of the same name. */
	for (unsigned i = 0; i < given; i++) {
		const char *name = ctx->nodes[i].name;
		bool exists = ctx->nodes[i].exists;

		for (const char *p = strrchr(name, '/'); p != NULL;
		     p = p == name ? NULL : memrchr(name, '/',
						    (size_t)(p - name)))
			node_add(ctx, imap_xstrndup(name, (size_t)(p - name)),
				 NULL, exists);
	}
	qsort(ctx->nodes, ctx->node_count, sizeof(*ctx->nodes), node_cmp);
	unsigned int out = 0;
	for (unsigned i = 0; i < ctx->node_count; i++) {
		if (out > 0 &&
		    strcmp(ctx->nodes[out - 1].name, ctx->nodes[i].name) == 0) {
			if (ctx->nodes[out - 1].info == NULL)
				ctx->nodes[out - 1].info = ctx->nodes[i].info;
			if (ctx->nodes[i].exists)
				ctx->nodes[out - 1].exists = true;
			free(ctx->nodes[i].name);
			continue;
		}
		ctx->nodes[out++] = ctx->nodes[i];
	}
	ctx->node_count = out;
	for (unsigned i = 0; i < sub_count; i++) {
		struct list_node *node = node_find(ctx, subs[i]);

		if (node != NULL)
			node->subscribed = true;
	}
	for (unsigned i = 0; i < ctx->node_count; i++) {
		const char *name = ctx->nodes[i].name;
		const char *slash = strrchr(name, '/');
		struct list_node *parent;
		char *pname;
		bool sub = ctx->nodes[i].subscribed;

		if (slash == NULL)
			continue;
		/* Mark every ancestor. */
		for (const char *p = slash; p != NULL;
		     p = p == name ? NULL : memrchr(name, '/',
						    (size_t)(p - name))) {
			pname = imap_xstrndup(name, (size_t)(p - name));
			parent = node_find(ctx, pname);
			free(pname);
			if (parent == NULL)
				continue;
			if (p == slash && ctx->nodes[i].exists)
				parent->has_children = true;
			if (sub)
				parent->subscribed_child = true;
		}
	}
}

static bool
name_matches(struct list_ctx *ctx, const char *name)
{
	for (unsigned i = 0; i < ctx->pattern_count; i++) {
		if (imap_list_match(ctx->patterns[i], name))
			return true;
	}
	return false;
}

static void
list_write_node(struct list_ctx *ctx, const struct list_node *node,
		bool childinfo)
{
	struct imap_session *session = ctx->cmd->session;
	const struct store_mailbox_info *info = node->info;
	const char *su;
	struct buf b;
	bool first = true;

#define ATTR(s) do { buf_append_str(&b, first ? "" : " "); \
		     buf_append_str(&b, s); first = false; } while (0)
	buf_init(&b, 0);
	buf_append_str(&b, ctx->lsub ? "LSUB (" : "LIST (");
	if (ctx->lsub) {
		/* RFC 3501 6.3.9: an LSUB name that is listed only for a
		   subscribed child is \Noselect. */
		if (info == NULL || !node->subscribed)
			ATTR("\\Noselect");
	} else if (info == NULL) {
		if (ctx->extended || session->enabled_rev2)
			ATTR("\\NonExistent");
		else
			ATTR("\\Noselect");
	}
	/* A subscribed name with no mailbox and none below it gets no
	   children attribute, as RFC 5258 3.4's examples show. */
	if (!ctx->lsub && node->exists) {
		ATTR(node->has_children ? "\\HasChildren" : "\\HasNoChildren");
	}
	if (node->subscribed &&
	    ((ctx->ret & LIST_RET_SUBSCRIBED) != 0 ||
	     (ctx->sel & LIST_SEL_SUBSCRIBED) != 0))
		ATTR("\\Subscribed");
	su = info == NULL ? NULL : special_use_name(info->special_use);
	if (su != NULL && !ctx->lsub)
		ATTR(su);
#undef ATTR
	buf_append_str(&b, ") \"/\" ");
	imap_write_mailbox_name(session, &b, node->name);
	if (childinfo)
		buf_append_str(&b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	imap_session_untagged(session, "%s", buf_cstr(&b));
	buf_free(&b);

	if ((ctx->ret & LIST_RET_STATUS) != 0 && info != NULL) {
		const char *error;

		if (imap_status_write(session, info->id, info->name,
				      ctx->status_items, &error) < 0)
			log_error(&session->log, "LIST STATUS failed: %s",
				  error);
	}
}

/* Whether nodes[i] has a subscribed descendant that no pattern matches:
   only then is it listed for that child (RFC 5258 3 rule 2B, RFC 3501
   6.3.9 LSUB with "%"). Names with nodes[i]'s name as prefix sort right
   after it, so the scan stops at the first one without the prefix. */
static bool
unmatched_subscribed_child(struct list_ctx *ctx, unsigned int i)
{
	const char *name = ctx->nodes[i].name;
	size_t len = strlen(name);

	for (unsigned j = i + 1; j < ctx->node_count; j++) {
		const struct list_node *n = &ctx->nodes[j];

		if (strncmp(n->name, name, len) != 0)
			break;
		if (n->name[len] == '/' && n->subscribed &&
		    !name_matches(ctx, n->name))
			return true;
	}
	return false;
}

static void
list_run(struct list_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->node_count; i++) {
		const struct list_node *node = &ctx->nodes[i];
		bool subscribed = node->subscribed;

		if (!name_matches(ctx, node->name))
			continue;
		if ((ctx->sel & LIST_SEL_SPECIAL_USE) != 0 &&
		    (node->info == NULL ||
		     node->info->special_use == STORE_SPECIAL_NONE))
			continue;
		if ((ctx->sel & LIST_SEL_SUBSCRIBED) != 0 || ctx->lsub) {
			if (subscribed) {
				list_write_node(ctx, node, false);
			} else if (node->subscribed_child &&
				   (ctx->lsub || (ctx->sel &
				    LIST_SEL_RECURSIVEMATCH) != 0) &&
				   unmatched_subscribed_child(ctx, i)) {
				list_write_node(ctx, node, !ctx->lsub);
			}
			continue;
		}
		if (node->info == NULL && !ctx->extended) {
			/* Implied parents appear only where a pattern stops
			   at their level ('%'), as RFC 9051 6.3.9 shows. */
			list_write_node(ctx, node, false);
			continue;
		}
		list_write_node(ctx, node, false);
	}
}

static int
atom_list_parse(struct imap_cmd *cmd, const struct imap_arg *arg,
		const char *const *names, const unsigned int *bits,
		unsigned int n, unsigned int *mask_r,
		const struct imap_arg **status_r)
{
	const struct imap_arg *list;
	unsigned int count;
	const char *atom;

	if (!imap_arg_get_list(arg, &list, &count))
		return -1;
	for (unsigned i = 0; i < count; i++) {
		unsigned j;

		if (!imap_arg_get_atom(&list[i], &atom))
			return -1;
		for (j = 0; j < n; j++) {
			if (strcasecmp(atom, names[j]) == 0)
				break;
		}
		if (j == n) {
			if (strcasecmp(atom, "REMOTE") == 0)
				continue;
			return -1;
		}
		*mask_r |= bits[j];
		if (status_r != NULL && bits[j] == LIST_RET_STATUS) {
			if (i + 1 >= count)
				return -1;
			*status_r = &list[++i];
		}
	}
	return 0;
}

static bool
list_parse(struct list_ctx *ctx, struct imap_cmd *cmd)
{
	static const char *const sel_names[] = {
		"SUBSCRIBED", "RECURSIVEMATCH", "SPECIAL-USE" };
	static const unsigned int sel_bits[] = {
		LIST_SEL_SUBSCRIBED, LIST_SEL_RECURSIVEMATCH,
		LIST_SEL_SPECIAL_USE };
	static const char *const ret_names[] = {
		"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS" };
	static const unsigned int ret_bits[] = {
		LIST_RET_SUBSCRIBED, LIST_RET_CHILDREN, LIST_RET_SPECIAL_USE,
		LIST_RET_STATUS };
	const struct imap_arg *args = cmd->args, *status = NULL;
	unsigned int n = cmd->args_count, i = 0;
	const struct imap_arg *plist;
	unsigned int pcount;
	char *reference;
	const char *error;

	if (!ctx->lsub && n > 0 && args[0].type == IMAP_ARG_LIST) {
		ctx->extended = true;
		if (atom_list_parse(cmd, &args[0], sel_names, sel_bits, 3,
				    &ctx->sel, NULL) < 0) {
			imap_cmd_bad(cmd, "Invalid LIST selection options.");
			return false;
		}
		if ((ctx->sel & LIST_SEL_RECURSIVEMATCH) != 0 &&
		    (ctx->sel & ~LIST_SEL_RECURSIVEMATCH) == 0) {
			imap_cmd_bad(cmd, "RECURSIVEMATCH needs another "
				     "selection option.");
			return false;
		}
		i++;
	}
	if (n < i + 2) {
		imap_cmd_bad(cmd, "%s takes a reference and a pattern.",
			     cmd->name);
		return false;
	}
	if (imap_cmd_get_mailbox(cmd, &args[i], &reference) < 0)
		return false;
	i++;
	if (args[i].type == IMAP_ARG_LIST && !ctx->lsub) {
		ctx->extended = true;
		(void)imap_arg_get_list(&args[i], &plist, &pcount);
	} else {
		plist = &args[i];
		pcount = 1;
	}
	i++;
	if (pcount == 0 || pcount > IMAP_MAX_LIST_PATTERNS) {
		free(reference);
		imap_cmd_bad(cmd, "Too many or no mailbox patterns.");
		return false;
	}
	ctx->patterns = imap_xcalloc(pcount, sizeof(char *));
	for (unsigned k = 0; k < pcount; k++) {
		const uint8_t *data;
		size_t len;
		char *pat;

		if (!imap_arg_get_astring(&plist[k], &data, &len)) {
			free(reference);
			imap_cmd_bad(cmd, "Invalid mailbox pattern.");
			return false;
		}
		/* A pattern that is not valid modified UTF-7 (an "&" not
		   starting a shift sequence) is still a syntactically valid
		   list-mailbox (RFC 9051 9): no stored name can match it, so
		   it lists nothing rather than failing the command. */
		if (imap_mailbox_name_from_client(cmd->session, data, len,
						  &pat, &error) < 0)
			continue;
		ctx->patterns[ctx->pattern_count++] =
			imap_list_join(reference, pat);
		free(pat);
	}
	free(reference);
	if (i < n) {
		if (ctx->lsub || !imap_arg_atom_equals(&args[i], "RETURN") ||
		    i + 2 != n ||
		    atom_list_parse(cmd, &args[i + 1], ret_names, ret_bits, 4,
				    &ctx->ret, &status) < 0) {
			imap_cmd_bad(cmd, "Invalid LIST return options.");
			return false;
		}
		ctx->extended = true;
		if (status != NULL &&
		    imap_status_parse_items(status, &ctx->status_items,
					    &error) < 0) {
			imap_cmd_bad(cmd, "%s", error);
			return false;
		}
	}
	return true;
}

static void
list_ctx_free(struct list_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->pattern_count; i++)
		free(ctx->patterns[i]);
	free(ctx->patterns);
	for (unsigned i = 0; i < ctx->node_count; i++)
		free(ctx->nodes[i].name);
	free(ctx->nodes);
}

static bool
cmd_list_full(struct imap_cmd *cmd, bool lsub)
{
	struct imap_session *session = cmd->session;
	struct store_mailbox_info *list = NULL;
	char **subs = NULL;
	struct list_ctx ctx;
	unsigned int count = 0, sub_count = 0;
	bool with_subs;
	const char *error;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cmd = cmd;
	ctx.lsub = lsub;
	if (!list_parse(&ctx, cmd)) {
		list_ctx_free(&ctx);
		return true;
	}
	if (ctx.pattern_count == 1 && ctx.patterns[0][0] == '\0' &&
	    !ctx.extended) {
		/* RFC 9051 6.3.9: the delimiter and root. */
		imap_session_untagged(session, "%s (\\Noselect) \"/\" \"\"",
				      lsub ? "LSUB" : "LIST");
		imap_cmd_ok(cmd, "%s completed.", cmd->name);
		list_ctx_free(&ctx);
		return true;
	}
	if (store_mailbox_list(session->user, &list, &count, &error) < 0) {
		imap_cmd_fail(cmd, "listing mailboxes", error);
		list_ctx_free(&ctx);
		return true;
	}
	/* Subscribed names without a mailbox are listed only when the
	   selection is by subscription; RETURN (SUBSCRIBED) alone marks the
	   names that are listed anyway (RFC 5258 3.4). */
	with_subs = lsub || (ctx.sel & LIST_SEL_SUBSCRIBED) != 0;
	if ((with_subs || (ctx.ret & LIST_RET_SUBSCRIBED) != 0) &&
	    store_subscription_list(session->user, &subs, &sub_count,
				    &error) < 0) {
		imap_cmd_fail(cmd, "listing subscriptions", error);
		store_mailbox_list_free(&list, count);
		list_ctx_free(&ctx);
		return true;
	}
	build_nodes(&ctx, list, count, subs, sub_count, with_subs);
	list_run(&ctx);
	list_ctx_free(&ctx);
	store_subscription_list_free(&subs, sub_count);
	store_mailbox_list_free(&list, count);
	imap_cmd_ok(cmd, "%s completed.", cmd->name);
	return true;
}

bool
cmd_list(struct imap_cmd *cmd)
{
	return cmd_list_full(cmd, false);
}

bool
cmd_lsub(struct imap_cmd *cmd)
{
	return cmd_list_full(cmd, true);
}
