/* Answering SEARCH's text keys from the index (search-fts.h). Apart
   from search-fts.c so that what only builds rows (delivery) does not
   link the evaluator. */
#include "search/search-fts.h"

#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lib/u64sort.h"
#include "lib/xalloc.h"

#define SEP_FIELD 0x01 /* see search-fts.c */
#define SEP_VALUE 0x02
#define SEP_MASK 0x03

/* ---- lookups ------------------------------------------------------------ */

/* Bits of a key's filter: one per value of a blob id's low bits. */
#define FTS_KEY_FILTER_BITS 65536

struct fts_key {
	unsigned int node;
	uint64_t *found;
	unsigned int found_count, found_alloc;
	/* Bit (id % FTS_KEY_FILTER_BITS) set for each found id: blob ids
	   are random, so most messages of a large mailbox are told "not
	   found" by one bit instead of a binary search. */
	uint64_t *filter;
};

static bool
key_found(const struct fts_key *key, uint64_t blob_id)
{
	uint64_t bit = blob_id % FTS_KEY_FILTER_BITS;

	if (key->filter != NULL &&
	    (key->filter[bit / 64] & (UINT64_C(1) << (bit % 64))) == 0)
		return false;
	return u64_sorted_has(key->found, key->found_count, blob_id);
}

struct search_fts_lookup {
	unsigned int node_count;
	/* Per node: index into keys + 1, or 0 if not answered. */
	unsigned int *key_of;
	struct fts_key *keys;
	unsigned int key_count;
	uint64_t *unindexed;
	unsigned int unindexed_count;
};

struct key_query {
	struct fts_key *key;
	enum search_op op;
	const uint8_t *needle;
	size_t needle_len;
	char *lname; /* HEADER: the field name, ASCII upper-cased */
	size_t lname_len;
	const uint64_t *blob_ids;
	unsigned int blob_count;
};

static bool
key_want(void *context, uint64_t blob_id)
{
	const struct key_query *q = context;

	return u64_sorted_has(q->blob_ids, q->blob_count, blob_id);
}

static bool
col_contains(const struct store_fts_doc *doc, enum store_fts_column c,
	     const uint8_t *needle, size_t needle_len)
{
	return doc->len[c] >= needle_len && doc->text[c] != NULL &&
		memmem(doc->text[c], doc->len[c], needle, needle_len) != NULL;
}

/* HEADER: a "\x01 name \x02 value" record of the column with this name
   whose value holds the needle (any record of the name, for ""). */
static bool
col_field_contains(const struct store_fts_doc *doc, enum store_fts_column c,
		   const struct key_query *q)
{
	const uint8_t *p = (const uint8_t *)doc->text[c];
	const uint8_t *end = p + doc->len[c];

	if (p == NULL)
		return false;
	while (p < end) {
		const uint8_t *name, *value, *next;

		if (*p != SEP_FIELD)
			return false; /* not a row we wrote */
		name = p + 1;
		value = memchr(name, SEP_VALUE, (size_t)(end - name));
		if (value == NULL)
			return false;
		value++;
		next = memchr(value, SEP_FIELD, (size_t)(end - value));
		if (next == NULL)
			next = end;
		if ((size_t)(value - 1 - name) == q->lname_len &&
		    memcmp(name, q->lname, q->lname_len) == 0 &&
		    (q->needle_len == 0 ||
		     ((size_t)(next - value) >= q->needle_len &&
		      memmem(value, (size_t)(next - value), q->needle,
			     q->needle_len) != NULL)))
			return true;
		p = next;
	}
	return false;
}

static void
key_row(void *context, uint64_t blob_id, const struct store_fts_doc *doc)
{
	struct key_query *q = context;
	struct fts_key *key = q->key;
	bool found;

	switch (q->op) {
	case SEARCH_OP_HEADER:
		found = col_field_contains(doc, STORE_FTS_ROOT, q) ||
			col_field_contains(doc, STORE_FTS_ADDR, q);
		break;
	case SEARCH_OP_BODY:
		found = col_contains(doc, STORE_FTS_BODY, q->needle,
				     q->needle_len);
		break;
	default:
		found = col_contains(doc, STORE_FTS_ROOT, q->needle,
				     q->needle_len) ||
			col_contains(doc, STORE_FTS_OTHER, q->needle,
				     q->needle_len) ||
			col_contains(doc, STORE_FTS_BODY, q->needle,
				     q->needle_len);
		break;
	}
	if (!found)
		return;
	if (key->found_count == key->found_alloc) {
		key->found_alloc = key->found_alloc == 0 ? 64 :
			key->found_alloc * 2;
		key->found = xrealloc(key->found, key->found_alloc *
					  sizeof(*key->found));
	}
	key->found[key->found_count++] = blob_id;
}

static const struct store_fts_callbacks key_callbacks = {
	.want = key_want,
	.row = key_row,
};

/* The trigrams (3 characters each) of a folded needle, at most
   FTS_MAX_QUERY_TRIGRAMS spread over its length; none if it is shorter
   than 3 characters. Returns the count; terms are malloc'ed. */
static unsigned int
needle_trigrams(const uint8_t *needle, size_t len,
		char *terms[FTS_MAX_QUERY_TRIGRAMS])
{
	size_t *starts = xcalloc(len + 1, sizeof(*starts));
	size_t chars = 0, total;
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++) {
		if ((needle[i] & 0xc0) != 0x80)
			starts[chars++] = i;
	}
	starts[chars] = len;
	if (chars >= 3) {
		total = chars - 2;
		for (size_t k = 0; k < total && n < FTS_MAX_QUERY_TRIGRAMS;
		     k++) {
			/* Evenly spread, first and last included. */
			size_t j = total <= FTS_MAX_QUERY_TRIGRAMS ? k :
				k * (total - 1) / (FTS_MAX_QUERY_TRIGRAMS - 1);

			if (j >= total)
				break;
			terms[n++] = xstrndup((const char *)needle + starts[j],
					      starts[j + 3] - starts[j]);
		}
	}
	free(starts);
	return n;
}

static bool
needle_indexable(const uint8_t *needle, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (needle[i] <= SEP_MASK)
			return false;
	}
	return true;
}

static int
lookup_key(struct store_user *user, uint64_t mailbox_id,
	   struct key_query *q, const char **error_r)
{
	char *terms[FTS_MAX_QUERY_TRIGRAMS];
	unsigned int term_count, mask;
	int ret;

	switch (q->op) {
	case SEARCH_OP_HEADER:
		mask = (1U << STORE_FTS_ROOT) | (1U << STORE_FTS_ADDR);
		break;
	case SEARCH_OP_BODY:
		mask = 1U << STORE_FTS_BODY;
		break;
	default:
		mask = (1U << STORE_FTS_ROOT) | (1U << STORE_FTS_OTHER) |
			(1U << STORE_FTS_BODY);
		break;
	}
	term_count = needle_trigrams(q->needle, q->needle_len, terms);
	ret = store_fts_query(user, mailbox_id, mask,
			      (const char *const *)terms, term_count,
			      &key_callbacks, q, error_r);
	for (unsigned int i = 0; i < term_count; i++)
		free(terms[i]);
	u64_sort(q->key->found, q->key->found_count);
	q->key->filter = xcalloc(FTS_KEY_FILTER_BITS / 64,
				 sizeof(*q->key->filter));
	for (unsigned int i = 0; i < q->key->found_count; i++) {
		uint64_t bit = q->key->found[i] % FTS_KEY_FILTER_BITS;

		q->key->filter[bit / 64] |= UINT64_C(1) << (bit % 64);
	}
	return ret;
}

/* Whether some key of prog is one the index answers. */
static bool
program_has_index_key(const struct search_program *prog,
		      const struct search_eval *eval)
{
	for (unsigned int i = 0; i < prog->count; i++) {
		enum search_op op = prog->nodes[i].op;
		const uint8_t *needle;
		size_t len;

		if (op != SEARCH_OP_HEADER && op != SEARCH_OP_BODY &&
		    op != SEARCH_OP_TEXT)
			continue;
		needle = search_eval_needle(eval, i, &len);
		if (needle_indexable(needle, len) &&
		    (len > 0 || op == SEARCH_OP_HEADER))
			return true;
	}
	return false;
}

int
search_fts_lookup(struct store_user *user, uint64_t mailbox_id,
		  const struct search_program *prog,
		  const struct search_eval *eval, const uint64_t *blob_ids,
		  unsigned int blob_count, struct search_fts_lookup **lookup_r,
		  const char **error_r)
{
	struct search_fts_lookup *l;
	int ret = 1;

	*lookup_r = NULL;
	l = xcalloc(1, sizeof(*l));
	l->node_count = prog->count;
	l->key_of = xcalloc(prog->count == 0 ? 1 : prog->count,
			    sizeof(*l->key_of));
	l->keys = xcalloc(prog->count == 0 ? 1 : prog->count,
			  sizeof(*l->keys));
	if (!program_has_index_key(prog, eval)) {
		search_fts_lookup_free(&l);
		return 0;
	}
	/* What is not indexed first: a row seen complete now stays so
	   (rows are only ever replaced by equal ones), while one written
	   after the key queries ran would be missing from their results. */
	if (store_fts_unindexed(user, mailbox_id, &l->unindexed,
				&l->unindexed_count, error_r) < 0)
		ret = -1;
	for (unsigned int i = 0; i < prog->count && ret > 0; i++) {
		const struct search_node *node = &prog->nodes[i];
		struct key_query q;

		if (node->op != SEARCH_OP_HEADER &&
		    node->op != SEARCH_OP_BODY && node->op != SEARCH_OP_TEXT)
			continue;
		memset(&q, 0, sizeof(q));
		q.op = node->op;
		q.needle = search_eval_needle(eval, i, &q.needle_len);
		if (!needle_indexable(q.needle, q.needle_len))
			continue;
		/* The empty BODY/TEXT string is decided without text. */
		if (q.needle_len == 0 && node->op != SEARCH_OP_HEADER)
			continue;
		if (node->op == SEARCH_OP_HEADER) {
			q.lname = xstrdup(node->header);
			q.lname_len = strlen(q.lname);
			for (size_t k = 0; k < q.lname_len; k++) {
				if (q.lname[k] >= 'a' && q.lname[k] <= 'z')
					q.lname[k] -= 'a' - 'A';
			}
		}
		q.key = &l->keys[l->key_count];
		q.key->node = i;
		q.blob_ids = blob_ids;
		q.blob_count = blob_count;
		l->key_of[i] = ++l->key_count;
		if (lookup_key(user, mailbox_id, &q, error_r) < 0)
			ret = -1;
		free(q.lname);
	}
	if (ret > 0 && l->key_count == 0)
		ret = 0;
	if (ret <= 0) {
		search_fts_lookup_free(&l);
		return ret;
	}
	*lookup_r = l;
	return 1;
}

int
search_fts_lookup_view(struct store_user *user, uint64_t mailbox_id,
		       struct store_view *view,
		       const struct search_program *prog,
		       struct search_eval *eval,
		       struct search_fts_lookup **lookup_r,
		       const char **error_r)
{
	uint32_t count = store_view_count(view);
	uint64_t *ids = xcalloc(count == 0 ? 1 : count, sizeof(*ids));
	struct store_view_entry entry;
	struct store_view_iter it;
	unsigned int n = 0;
	int ret = 0;

	*lookup_r = NULL;
	/* Only the messages the record leaves undecided: "UID 5 BODY x"
	   asks the index about one message, or not at all. */
	store_view_iter_init(&it, view);
	for (uint32_t seq = 1; seq <= count; seq++) {
		struct search_message msg;

		if (!store_view_iter_next(&it, &entry))
			break;
		memset(&msg, 0, sizeof(msg));
		msg.seq = seq;
		msg.uid = entry.uid;
		msg.flags = entry.flags;
		msg.keywords = entry.keywords;
		msg.modseq = entry.modseq;
		msg.size = entry.size;
		msg.internal_date = entry.internal_date;
		msg.save_date = entry.save_date;
		msg.blob_id = entry.blob_id;
		/* as the caller's own pass will see it, so a message that
		   key leaves open is asked about */
		if (prog->uses_threadid &&
		    store_thread_get(user, entry.blob_id, &msg.thread_id,
				     error_r) < 0) {
			free(ids);
			return -1;
		}
		if (search_eval_record(eval, &msg) < 0)
			ids[n++] = entry.blob_id;
	}
	if (n >= FTS_MIN_CANDIDATES) {
		u64_sort(ids, n);
		ret = search_fts_lookup(user, mailbox_id, prog, eval, ids, n,
					lookup_r, error_r);
	}
	free(ids);
	return ret;
}

void
search_fts_lookup_verdicts(const struct search_fts_lookup *l,
			   uint64_t blob_id, int8_t *verdicts)
{
	bool unindexed = u64_sorted_has(l->unindexed, l->unindexed_count,
					blob_id);

	for (unsigned int i = 0; i < l->node_count; i++) {
		const struct fts_key *key;

		verdicts[i] = -1;
		if (l->key_of[i] == 0)
			continue;
		key = &l->keys[l->key_of[i] - 1];
		if (key_found(key, blob_id))
			verdicts[i] = 1;
		else if (!unindexed)
			verdicts[i] = 0;
	}
}

unsigned int
search_fts_lookup_keys(const struct search_fts_lookup *l)
{
	return l->key_count;
}

void
search_fts_lookup_free(struct search_fts_lookup **_l)
{
	struct search_fts_lookup *l = *_l;

	if (l == NULL)
		return;
	*_l = NULL;
	for (unsigned int i = 0; i < l->key_count; i++) {
		free(l->keys[i].found);
		free(l->keys[i].filter);
	}
	free(l->keys);
	free(l->key_of);
	free(l->unindexed);
	free(l);
}
