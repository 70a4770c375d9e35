/* THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 4). */
#include "search/thread.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

#define NONE UINT32_MAX

/* A container of the thread tree: a message, or a dummy (msg NULL) that
   stands for a referenced message not in the result. Links are indexes
   into tree.nodes. */
struct node {
	struct sort_message *msg;
	uint32_t parent, first, last, next;
};

struct tree {
	struct node *nodes;
	uint32_t count, cap;
};

int
thread_algorithm_parse(const char *name, enum thread_algorithm *alg_r)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
		*alg_r = THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(name, "REFERENCES") == 0)
		*alg_r = THREAD_REFERENCES;
	else
		return -1;
	return 0;
}

/* ---- tree --------------------------------------------------------------- */

static uint32_t
node_new(struct tree *tree, struct sort_message *msg)
{
	struct node *n;

	if (tree->count == tree->cap) {
		tree->cap = tree->cap == 0 ? 64 : tree->cap * 2;
		tree->nodes = xrealloc(tree->nodes,
				       tree->cap * sizeof(tree->nodes[0]));
	}
	n = &tree->nodes[tree->count];
	n->msg = msg;
	n->parent = n->first = n->last = n->next = NONE;
	return tree->count++;
}

static void
node_append(struct tree *tree, uint32_t parent, uint32_t child)
{
	struct node *p = &tree->nodes[parent];

	tree->nodes[child].parent = parent;
	tree->nodes[child].next = NONE;
	if (p->last != NONE)
		tree->nodes[p->last].next = child;
	else
		p->first = child;
	p->last = child;
}

static void
node_unlink(struct tree *tree, uint32_t child)
{
	uint32_t parent = tree->nodes[child].parent, prev = NONE, c;
	struct node *p;

	if (parent == NONE)
		return;
	p = &tree->nodes[parent];
	for (c = p->first; c != NONE && c != child; c = tree->nodes[c].next)
		prev = c;
	if (c == NONE)
		return;
	if (prev == NONE)
		p->first = tree->nodes[child].next;
	else
		tree->nodes[prev].next = tree->nodes[child].next;
	if (p->last == child)
		p->last = prev;
	tree->nodes[child].parent = NONE;
	tree->nodes[child].next = NONE;
}

/* Making parent the parent of child would close a loop: child is parent
   or one of its ancestors. */
static bool
would_loop(const struct tree *tree, uint32_t parent, uint32_t child)
{
	for (uint32_t x = parent; x != NONE; x = tree->nodes[x].parent) {
		if (x == child)
			return true;
	}
	return false;
}

/* The message a container sorts by: its own, or for a dummy that of its
   first child (RFC 5256 4 step 4), going down through dummies. */
static const struct sort_message *
node_key(const struct tree *tree, uint32_t i)
{
	while (tree->nodes[i].msg == NULL && tree->nodes[i].first != NONE)
		i = tree->nodes[i].first;
	return tree->nodes[i].msg;
}

/* RFC 5256 2.2: by sent date, then by sequence number. */
static int
node_cmp(const struct tree *tree, uint32_t a, uint32_t b)
{
	const struct sort_message *ma = node_key(tree, a);
	const struct sort_message *mb = node_key(tree, b);

	if (ma == NULL || mb == NULL)
		return ma == mb ? 0 : ma == NULL ? -1 : 1;
	if (ma->date != mb->date)
		return ma->date < mb->date ? -1 : 1;
	return ma->seq < mb->seq ? -1 : ma->seq > mb->seq ? 1 : 0;
}

/* Stable bottom-up merge sort of node indexes (tmp: count entries). */
static void
nodes_sort(const struct tree *tree, uint32_t *items, uint32_t *tmp,
	   size_t count)
{
	uint32_t *src = items, *dst = tmp;

	for (size_t width = 1; width < count; width *= 2) {
		for (size_t lo = 0; lo < count; lo += 2 * width) {
			size_t mid = lo + width < count ? lo + width : count;
			size_t hi = mid + width < count ? mid + width : count;
			size_t a = lo, b = mid, o = lo;

			while (a < mid && b < hi) {
				if (node_cmp(tree, src[b], src[a]) < 0)
					dst[o++] = src[b++];
				else
					dst[o++] = src[a++];
			}
			while (a < mid)
				dst[o++] = src[a++];
			while (b < hi)
				dst[o++] = src[b++];
		}
		uint32_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != items)
		memcpy(items, src, count * sizeof(*items));
}

/* Sorts the children of parent by date. scratch holds 2 * tree->count. */
static void
sort_children(struct tree *tree, uint32_t parent, uint32_t *scratch)
{
	size_t n = 0;

	for (uint32_t c = tree->nodes[parent].first; c != NONE;
	     c = tree->nodes[c].next)
		scratch[n++] = c;
	if (n < 2)
		return;
	nodes_sort(tree, scratch, scratch + tree->count, n);
	tree->nodes[parent].first = tree->nodes[parent].last = NONE;
	for (size_t i = 0; i < n; i++)
		node_append(tree, parent, scratch[i]);
}

/* All nodes under root (root first), each after its parent; reversed,
   every node comes after its descendants. order holds tree->count. */
static size_t
tree_order(const struct tree *tree, uint32_t root, uint32_t *order)
{
	size_t n = 0;

	order[n++] = root;
	for (size_t k = 0; k < n; k++) {
		for (uint32_t c = tree->nodes[order[k]].first; c != NONE;
		     c = tree->nodes[c].next)
			order[n++] = c;
	}
	return n;
}

/* ---- output (RFC 5256 5: thread-list) ---------------------------------- */

/* Appends "(" thread-members / thread-nested ")" for the tree under top,
   without recursion: the stack holds, per open nested list, the next
   sibling still to write. */
static void
emit_thread(const struct tree *tree, uint32_t top, struct buf *out,
	    uint32_t *stack)
{
	size_t depth = 0;
	uint32_t cur = top;
	bool first = true;

	buf_append_c(out, '(');
	for (;;) {
		for (;;) {
			const struct node *n = &tree->nodes[cur];

			if (n->msg != NULL) {
				if (!first)
					buf_append_c(out, ' ');
				buf_appendf(out, "%u", n->msg->num);
				first = false;
			}
			if (n->first == NONE)
				break;
			if (tree->nodes[n->first].next == NONE) {
				cur = n->first;
				continue;
			}
			/* two or more children: each its own list */
			if (!first)
				buf_append_c(out, ' ');
			stack[depth++] = tree->nodes[n->first].next;
			buf_append_c(out, '(');
			cur = n->first;
			first = true;
		}
		buf_append_c(out, ')');
		for (;;) {
			if (depth == 0)
				return;
			if (stack[depth - 1] != NONE) {
				cur = stack[depth - 1];
				stack[depth - 1] = tree->nodes[cur].next;
				buf_append_c(out, '(');
				first = true;
				break;
			}
			depth--;
			buf_append_c(out, ')');
		}
	}
}

static void
emit_all(const struct tree *tree, uint32_t root, struct buf *out)
{
	uint32_t *stack = xcalloc(tree->count, sizeof(*stack));

	for (uint32_t c = tree->nodes[root].first; c != NONE;
	     c = tree->nodes[c].next)
		emit_thread(tree, c, out, stack);
	free(stack);
}

/* ---- ORDEREDSUBJECT ----------------------------------------------------- */

static void
thread_orderedsubject(struct sort_message *const *msgs, unsigned int count,
		      struct buf *out)
{
	struct sort_criteria crit;
	struct sort_message **sorted;
	struct tree tree;
	uint32_t root, *scratch;

	/* sorted by base subject, then sent date (and sequence number) */
	memset(&crit, 0, sizeof(crit));
	crit.keys[0].key = SORT_KEY_SUBJECT;
	crit.keys[1].key = SORT_KEY_DATE;
	crit.count = 2;
	sorted = xcalloc(count, sizeof(*sorted));
	memcpy(sorted, msgs, count * sizeof(*sorted));
	sort_messages(sorted, count, &crit);

	memset(&tree, 0, sizeof(tree));
	root = node_new(&tree, NULL);
	for (unsigned int i = 0; i < count;) {
		uint32_t head = node_new(&tree, sorted[i]);
		unsigned int j;

		node_append(&tree, root, head);
		/* the rest of the thread: children of its first message */
		for (j = i + 1; j < count &&
				strcmp(sorted[j]->subject, sorted[i]->subject) ==
					0;
		     j++)
			node_append(&tree, head, node_new(&tree, sorted[j]));
		i = j;
	}
	/* threads by the date of their first message */
	scratch = xcalloc(2 * (size_t)tree.count, sizeof(*scratch));
	sort_children(&tree, root, scratch);
	free(scratch);
	emit_all(&tree, root, out);
	free(sorted);
	free(tree.nodes);
}

/* ---- REFERENCES --------------------------------------------------------- */

/* String-keyed open-addressing table: Message-IDs to containers, base
   subjects to root positions. */
struct table_slot {
	const char *key;
	uint32_t value;
};

struct table {
	struct table_slot *slots;
	size_t mask;
};

static void
table_init(struct table *table, size_t entries)
{
	size_t size = 16;

	while (size < entries * 2)
		size *= 2;
	table->slots = xcalloc(size, sizeof(table->slots[0]));
	table->mask = size - 1;
}

static struct table_slot *
table_lookup(struct table *table, const char *key)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (const char *p = key; *p != '\0'; p++) {
		h ^= (uint8_t)*p;
		h *= 1099511628211ULL;
	}
	for (i = (size_t)h & table->mask; table->slots[i].key != NULL;
	     i = (i + 1) & table->mask) {
		if (strcmp(table->slots[i].key, key) == 0)
			break;
	}
	return &table->slots[i];
}

/* The container of a Message-ID, made (as a dummy) if it is new. */
static uint32_t
id_container(struct tree *tree, struct table *ids, const char *id)
{
	struct table_slot *slot = table_lookup(ids, id);

	if (slot->key == NULL) {
		slot->key = id;
		slot->value = node_new(tree, NULL);
	}
	return slot->value;
}

static const struct sort_message *
thread_subject_msg(const struct tree *tree, uint32_t i)
{
	if (tree->nodes[i].msg == NULL && tree->nodes[i].first != NONE)
		return tree->nodes[tree->nodes[i].first].msg;
	return tree->nodes[i].msg;
}

static void
link_messages(struct tree *tree, struct sort_message *const *msgs,
	      unsigned int count)
{
	struct table ids;
	size_t total = count;

	for (unsigned int i = 0; i < count; i++)
		total += msgs[i]->reference_count;
	table_init(&ids, total);
	for (unsigned int i = 0; i < count; i++) {
		struct sort_message *msg = msgs[i];
		uint32_t c = NONE, prev = NONE;

		/* (1A) the chain of references, first is the eldest */
		for (unsigned int r = 0; r < msg->reference_count; r++) {
			uint32_t ref = id_container(tree, &ids,
						    msg->references[r]);

			if (prev != NONE && tree->nodes[ref].parent == NONE &&
			    !would_loop(tree, prev, ref))
				node_append(tree, prev, ref);
			prev = ref;
		}
		/* the message's own container: an unused id's (perhaps a
		   dummy made above), else a new one (no id, or the id is
		   taken by an earlier message) */
		if (msg->message_id[0] != '\0') {
			struct table_slot *slot =
				table_lookup(&ids, msg->message_id);

			if (slot->key == NULL) {
				slot->key = msg->message_id;
				slot->value = node_new(tree, msg);
				c = slot->value;
			} else if (tree->nodes[slot->value].msg == NULL) {
				c = slot->value;
				tree->nodes[c].msg = msg;
			}
		}
		if (c == NONE)
			c = node_new(tree, msg);
		/* (1B) the last reference is the parent, replacing any
		   parent a truncated References elsewhere gave */
		node_unlink(tree, c);
		if (prev != NONE && !would_loop(tree, prev, c))
			node_append(tree, prev, c);
	}
	free(ids.slots);
}

static void
prune_dummies(struct tree *tree, uint32_t root, uint32_t *order)
{
	size_t n = tree_order(tree, root, order);

	/* (3) children before parents, so promoted children are final */
	for (size_t k = n; k-- > 0;) {
		uint32_t p = order[k], c = tree->nodes[p].first;

		tree->nodes[p].first = tree->nodes[p].last = NONE;
		while (c != NONE) {
			struct node *cn = &tree->nodes[c];
			uint32_t next = cn->next;

			if (cn->msg != NULL ||
			    (p == root && cn->first != NONE &&
			     cn->first != cn->last))
				node_append(tree, p, c);
			else {
				/* a dummy: promote its children, except to
				   the root when there are several */
				uint32_t g = cn->first;

				while (g != NONE) {
					uint32_t gn = tree->nodes[g].next;

					node_append(tree, p, g);
					g = gn;
				}
				cn->first = cn->last = cn->parent = NONE;
				cn->next = NONE;
			}
			c = next;
		}
	}
}

static void
merge_subjects(struct tree *tree, uint32_t root)
{
	struct table subjects;
	uint32_t *roots, c;
	bool *removed;
	size_t n = 0;

	for (c = tree->nodes[root].first; c != NONE; c = tree->nodes[c].next)
		n++;
	if (n == 0)
		return;
	roots = xcalloc(n, sizeof(*roots));
	removed = xcalloc(n, sizeof(*removed));
	n = 0;
	for (c = tree->nodes[root].first; c != NONE; c = tree->nodes[c].next)
		roots[n++] = c;
	table_init(&subjects, n);
	/* (5B) one thread per subject: a dummy first, else one that is
	   not a reply */
	for (size_t k = 0; k < n; k++) {
		const struct sort_message *m = thread_subject_msg(tree,
								  roots[k]);
		struct table_slot *slot;

		if (m == NULL || m->subject[0] == '\0')
			continue;
		slot = table_lookup(&subjects, m->subject);
		if (slot->key == NULL) {
			slot->key = m->subject;
			slot->value = (uint32_t)k;
			continue;
		}
		const struct node *t = &tree->nodes[roots[slot->value]];
		if (t->msg != NULL &&
		    (tree->nodes[roots[k]].msg == NULL ||
		     (t->msg->subject_reply &&
		      !tree->nodes[roots[k]].msg->subject_reply)))
			slot->value = (uint32_t)k;
	}
	/* (5C) merge the others into it */
	for (size_t k = 0; k < n; k++) {
		const struct sort_message *m = thread_subject_msg(tree,
								  roots[k]);
		struct table_slot *slot;
		uint32_t cur = roots[k], tab;

		if (m == NULL || m->subject[0] == '\0')
			continue;
		slot = table_lookup(&subjects, m->subject);
		if (slot->key == NULL || slot->value == k)
			continue;
		tab = roots[slot->value];
		struct node *tn = &tree->nodes[tab], *cn = &tree->nodes[cur];
		if (tn->msg == NULL && cn->msg == NULL) {
			uint32_t g = cn->first;

			while (g != NONE) {
				uint32_t gn = tree->nodes[g].next;

				node_append(tree, tab, g);
				g = gn;
			}
			cn->first = cn->last = NONE;
		} else if (tn->msg == NULL ||
			   (cn->msg != NULL && cn->msg->subject_reply &&
			    !tn->msg->subject_reply)) {
			node_append(tree, tab, cur);
		} else {
			uint32_t d = node_new(tree, NULL);

			node_append(tree, d, tab);
			node_append(tree, d, cur);
			roots[slot->value] = d;
		}
		removed[k] = true;
	}
	tree->nodes[root].first = tree->nodes[root].last = NONE;
	for (size_t k = 0; k < n; k++) {
		if (!removed[k])
			node_append(tree, root, roots[k]);
	}
	free(subjects.slots);
	free(roots);
	free(removed);
}

static void
thread_references(struct sort_message *const *msgs, unsigned int count,
		  struct buf *out)
{
	struct tree tree;
	uint32_t root, *scratch;
	size_t n, total = count;

	memset(&tree, 0, sizeof(tree));
	for (unsigned int i = 0; i < count; i++)
		total += msgs[i]->reference_count;
	/* messages, referenced ids, subject dummies and the root */
	tree.cap = (uint32_t)(total + count + 1);
	tree.nodes = xcalloc(tree.cap, sizeof(tree.nodes[0]));

	link_messages(&tree, msgs, count);
	/* (2) the parentless containers are the threads */
	root = node_new(&tree, NULL);
	for (uint32_t i = 0; i < root; i++) {
		if (tree.nodes[i].parent == NONE)
			node_append(&tree, root, i);
	}
	scratch = xcalloc(2 * (size_t)tree.cap, sizeof(*scratch));
	prune_dummies(&tree, root, scratch);
	/* (4) the threads by date; a dummy by its earliest child */
	for (uint32_t c = tree.nodes[root].first; c != NONE;
	     c = tree.nodes[c].next) {
		if (tree.nodes[c].msg == NULL)
			sort_children(&tree, c, scratch);
	}
	sort_children(&tree, root, scratch);
	merge_subjects(&tree, root);
	/* (6) every set of siblings by date, the deepest first (so that a
	   dummy's first child is known when the dummy is placed) */
	free(scratch);
	scratch = xcalloc(3 * (size_t)tree.count, sizeof(*scratch));
	n = tree_order(&tree, root, scratch + 2 * (size_t)tree.count);
	for (size_t k = n; k-- > 0;)
		sort_children(&tree, scratch[2 * (size_t)tree.count + k],
			      scratch);
	free(scratch);
	emit_all(&tree, root, out);
	free(tree.nodes);
}

void
thread_build(enum thread_algorithm alg, struct sort_message *const *msgs,
	     unsigned int count, struct buf *out)
{
	if (count == 0)
		return;
	switch (alg) {
	case THREAD_ORDEREDSUBJECT:
		thread_orderedsubject(msgs, count, out);
		break;
	case THREAD_REFERENCES:
		thread_references(msgs, count, out);
		break;
	}
}
