/* Evaluating SEARCH programs: the record first, the text only when it
   can still change the outcome (see search-eval.h). */
#include "search/search-eval.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/objectid.h"
#include "mail/mail-header.h"
#include "mail/mail-parser.h"
#include "search/search-text.h"

/* Bytes read from a message per read call. */
#define SEARCH_READ_CHUNK (64 * 1024)

enum tri {
	TRI_FALSE = 0,
	TRI_TRUE = 1,
	TRI_UNKNOWN = 2,
};

struct needle {
	uint8_t *data; /* folded search string */
	size_t len;
};

struct search_eval {
	struct search_program *prog;
	const struct imap_seqset *saved;
	const struct imap_seqset *recent;
	time_t now;

	/* Per node. */
	int *kw_bit;
	struct needle *needles;
	bool *matched;
	/* Text keys an index decided false for the current message. */
	bool *decided;
	/* Indexes of HEADER / TEXT nodes, and of BODY / TEXT nodes. */
	unsigned int *header_nodes, header_node_count;
	unsigned int *body_nodes, body_node_count;
	size_t keep; /* longest BODY/TEXT needle - 1 */

	uint8_t *stack;
	uint8_t *chunk;

	/* The message being judged. */
	struct search_message msg;
	bool header_done, body_done;
	bool date_seen, have_sent_day;
	int64_t sent_day;
	bool dirty;
	uint64_t bytes_read;

	/* Body text stream of the current part. */
	const struct mail_part *cur_part;
	struct buf carry, window, scratch, field;
};

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

static int64_t
day_of(time_t t)
{
	int64_t d = (int64_t)t / 86400;

	if ((int64_t)t % 86400 < 0)
		d--;
	return d;
}

struct search_eval *
search_eval_create(struct search_program *prog,
		   const struct search_eval_settings *set)
{
	struct search_eval *e = xcalloc(1, sizeof(*e));
	unsigned int n = prog->count;

	e->prog = prog;
	e->saved = set->saved_uids;
	e->recent = set->recent_uids;
	e->now = set->now;
	e->kw_bit = xcalloc(n, sizeof(*e->kw_bit));
	e->needles = xcalloc(n, sizeof(*e->needles));
	e->matched = xcalloc(n, sizeof(*e->matched));
	e->decided = xcalloc(n, sizeof(*e->decided));
	e->header_nodes = xcalloc(n, sizeof(*e->header_nodes));
	e->body_nodes = xcalloc(n, sizeof(*e->body_nodes));
	e->stack = xcalloc(prog->max_stack + 1, 1);
	buf_init(&e->carry, 0);
	buf_init(&e->window, 0);
	buf_init(&e->scratch, 0);
	buf_init(&e->field, 0);

	for (unsigned int i = 0; i < n; i++) {
		struct search_node *node = &prog->nodes[i];
		struct buf fold;

		switch (node->op) {
		case SEARCH_OP_KEYWORD:
			/* IMAP keywords compare without case (RFC 9051
			   2.3.2); an unknown one is on no message. */
			e->kw_bit[i] = -1;
			for (unsigned int k = 0; k < set->keyword_count &&
			     k < 64; k++) {
				if (set->keywords[k] != NULL &&
				    strcasecmp(set->keywords[k],
					       node->str) == 0) {
					e->kw_bit[i] = (int)k;
					break;
				}
			}
			break;
		case SEARCH_OP_SEQSET:
			if (!imap_seqset_is_saved(node->set))
				imap_seqset_resolve(node->set, set->max_seq);
			break;
		case SEARCH_OP_UIDSET:
			if (!imap_seqset_is_saved(node->set))
				imap_seqset_resolve(node->set, set->max_uid);
			break;
		case SEARCH_OP_HEADER:
		case SEARCH_OP_BODY:
		case SEARCH_OP_TEXT:
			buf_init(&fold, 0);
			search_text_fold((const uint8_t *)node->str,
					 node->str_len, &fold);
			e->needles[i].data = buf_steal(&fold,
						       &e->needles[i].len);
			if (node->op != SEARCH_OP_BODY)
				e->header_nodes[e->header_node_count++] = i;
			if (node->op != SEARCH_OP_HEADER) {
				e->body_nodes[e->body_node_count++] = i;
				if (e->needles[i].len > e->keep + 1)
					e->keep = e->needles[i].len - 1;
			}
			break;
		default:
			break;
		}
	}
	return e;
}

void
search_eval_destroy(struct search_eval **_e)
{
	struct search_eval *e = *_e;

	if (e == NULL)
		return;
	*_e = NULL;
	for (unsigned int i = 0; i < e->prog->count; i++)
		free(e->needles[i].data);
	free(e->needles);
	free(e->kw_bit);
	free(e->matched);
	free(e->decided);
	free(e->header_nodes);
	free(e->body_nodes);
	free(e->stack);
	free(e->chunk);
	buf_free(&e->carry);
	buf_free(&e->window);
	buf_free(&e->scratch);
	buf_free(&e->field);
	free(e);
}

static bool
set_contains(const struct search_eval *e, const struct imap_seqset *set,
	     uint32_t n)
{
	/* "$" holds UIDs whichever the context (RFC 5182 2.1). */
	if (imap_seqset_is_saved(set))
		return e->saved != NULL &&
			imap_seqset_contains(e->saved, e->msg.uid);
	return imap_seqset_contains(set, n);
}

static enum tri
eval_leaf(const struct search_eval *e, unsigned int i)
{
	const struct search_node *node = &e->prog->nodes[i];
	const struct search_message *m = &e->msg;
	int64_t day;

	switch (node->op) {
	case SEARCH_OP_ALL:
		return TRI_TRUE;
	case SEARCH_OP_FLAG:
		return (m->flags & node->flag) != 0;
	case SEARCH_OP_RECENT:
		return e->recent != NULL &&
			imap_seqset_contains(e->recent, m->uid);
	case SEARCH_OP_KEYWORD:
		return e->kw_bit[i] >= 0 &&
			(m->keywords & (1ULL << e->kw_bit[i])) != 0;
	case SEARCH_OP_SEQSET:
		return set_contains(e, node->set, m->seq);
	case SEARCH_OP_UIDSET:
		return set_contains(e, node->set, m->uid);
	case SEARCH_OP_LARGER:
		return m->size > node->num;
	case SEARCH_OP_SMALLER:
		return m->size < node->num;
	case SEARCH_OP_BEFORE:
		return day_of(m->internal_date) < node->day;
	case SEARCH_OP_ON:
		return day_of(m->internal_date) == node->day;
	case SEARCH_OP_SINCE:
		return day_of(m->internal_date) >= node->day;
	case SEARCH_OP_SENTBEFORE:
	case SEARCH_OP_SENTON:
	case SEARCH_OP_SENTSINCE:
		if (!e->have_sent_day)
			return e->header_done ? TRI_FALSE : TRI_UNKNOWN;
		day = e->sent_day;
		if (node->op == SEARCH_OP_SENTBEFORE)
			return day < node->day;
		if (node->op == SEARCH_OP_SENTON)
			return day == node->day;
		return day >= node->day;
	case SEARCH_OP_OLDER:
		/* Compared as the client would: "now - n" may not
		   overflow for n <= 2^32 and any sane clock. */
		return (int64_t)m->internal_date <=
			(int64_t)e->now - (int64_t)node->num;
	case SEARCH_OP_YOUNGER:
		return (int64_t)m->internal_date >=
			(int64_t)e->now - (int64_t)node->num;
	case SEARCH_OP_MODSEQ:
		return m->modseq >= node->num;
	case SEARCH_OP_SAVEDBEFORE:
		return day_of(m->save_date) < node->day;
	case SEARCH_OP_SAVEDON:
		return day_of(m->save_date) == node->day;
	case SEARCH_OP_SAVEDSINCE:
		return day_of(m->save_date) >= node->day;
	case SEARCH_OP_EMAILID: {
		char id[OBJECTID_SIZE];

		if (node->str_len != OBJECTID_EMAIL_LEN)
			return TRI_FALSE;
		objectid_email(m->blob_id, id);
		return memcmp(id, node->str, OBJECTID_EMAIL_LEN) == 0;
	}
	case SEARCH_OP_THREADID: {
		char id[OBJECTID_SIZE];

		if (m->thread_id == 0 ||
		    node->str_len != OBJECTID_THREAD_LEN)
			return TRI_FALSE;
		objectid_thread(m->thread_id, id);
		return memcmp(id, node->str, OBJECTID_THREAD_LEN) == 0;
	}
	case SEARCH_OP_HEADER:
		if (e->matched[i])
			return TRI_TRUE;
		return e->header_done || e->decided[i] ?
			TRI_FALSE : TRI_UNKNOWN;
	case SEARCH_OP_BODY:
	case SEARCH_OP_TEXT:
		if (e->needles[i].len == 0 || e->matched[i])
			return TRI_TRUE;
		return e->body_done || e->decided[i] ?
			TRI_FALSE : TRI_UNKNOWN;
	case SEARCH_OP_NOT:
	case SEARCH_OP_OR:
	case SEARCH_OP_AND:
		break;
	}
	return TRI_UNKNOWN;
}

/* Runs the postfix program with a value stack: no recursion. */
static enum tri
eval_program(struct search_eval *e)
{
	const struct search_program *prog = e->prog;
	uint8_t *st = e->stack;
	unsigned int sp = 0;

	for (unsigned int i = 0; i < prog->count; i++) {
		const struct search_node *node = &prog->nodes[i];
		unsigned int n, j;
		bool any_unknown;

		switch (node->op) {
		case SEARCH_OP_NOT:
			if (st[sp - 1] != TRI_UNKNOWN)
				st[sp - 1] = st[sp - 1] == TRI_TRUE ?
					TRI_FALSE : TRI_TRUE;
			break;
		case SEARCH_OP_OR:
		case SEARCH_OP_AND:
			n = node->op == SEARCH_OP_OR ? 2 : node->count;
			/* OR: true if any is true; AND: false if any is
			   false; otherwise unknown if any is unknown. */
			{
				uint8_t decisive = node->op == SEARCH_OP_OR ?
					TRI_TRUE : TRI_FALSE;
				uint8_t result = node->op == SEARCH_OP_OR ?
					TRI_FALSE : TRI_TRUE;

				any_unknown = false;
				for (j = sp - n; j < sp; j++) {
					if (st[j] == decisive) {
						result = decisive;
						any_unknown = false;
						break;
					}
					if (st[j] == TRI_UNKNOWN)
						any_unknown = true;
				}
				sp -= n;
				st[sp++] = any_unknown ? TRI_UNKNOWN : result;
			}
			break;
		default:
			st[sp++] = (uint8_t)eval_leaf(e, i);
			break;
		}
	}
	return (enum tri)st[0];
}

int
search_eval_record(struct search_eval *e, const struct search_message *msg)
{
	return search_eval_record_known(e, msg, NULL);
}

int
search_eval_record_known(struct search_eval *e,
			 const struct search_message *msg,
			 const int8_t *verdicts)
{
	enum tri r;

	e->msg = *msg;
	memset(e->matched, 0, e->prog->count * sizeof(*e->matched));
	memset(e->decided, 0, e->prog->count * sizeof(*e->decided));
	for (unsigned int i = 0; verdicts != NULL && i < e->prog->count;
	     i++) {
		enum search_op op = e->prog->nodes[i].op;

		if (op != SEARCH_OP_HEADER && op != SEARCH_OP_BODY &&
		    op != SEARCH_OP_TEXT)
			continue;
		if (verdicts[i] > 0)
			e->matched[i] = true;
		else if (verdicts[i] == 0)
			e->decided[i] = true;
	}
	e->header_done = false;
	e->body_done = false;
	e->date_seen = false;
	e->have_sent_day = false;
	e->dirty = false;
	e->bytes_read = 0;
	r = eval_program(e);
	return r == TRI_UNKNOWN ? -1 : (int)r;
}

static bool
contains(const struct buf *hay, const struct needle *needle)
{
	if (needle->len == 0)
		return true;
	return hay->len >= needle->len &&
		memmem(hay->data, hay->len, needle->data, needle->len) != NULL;
}

/* RFC 9051 6.4.4: FROM, TO, CC and BCC search "the envelope structure's"
   field, i.e. the parsed addresses, where comments and the spaces around
   "@" are gone: "<a (x)@ (y) b.org>" is found by "a@b.org". The raw field
   is tried first; this form only when it does not match. */
static bool
address_field_contains(struct search_eval *e, const char *name,
		       const char *value, const struct needle *needle)
{
	struct buf addrs;
	bool found;

	if (!search_text_is_address_field(name))
		return false;
	buf_init(&addrs, 0);
	search_text_address_form((const uint8_t *)value, strlen(value),
				 &addrs);
	buf_reset(&e->scratch);
	search_text_fold(addrs.data, addrs.len, &e->scratch);
	found = contains(&e->scratch, needle);
	buf_free(&addrs);
	return found;
}

static void
on_header(void *context, const struct mail_part *part, const char *name,
	  const char *value)
{
	struct search_eval *e = context;
	bool root = part->parent == NULL, folded = false;

	if (root && !e->date_seen && strcasecmp(name, "Date") == 0) {
		e->date_seen = true;
		if (search_date_parse_day(value, &e->sent_day) == 0) {
			e->have_sent_day = true;
			e->dirty = true;
		}
	}
	for (unsigned int k = 0; k < e->header_node_count; k++) {
		unsigned int i = e->header_nodes[k];
		const struct search_node *node = &e->prog->nodes[i];

		if (e->matched[i] || e->decided[i])
			continue;
		if (node->op == SEARCH_OP_HEADER &&
		    (!root || strcasecmp(name, node->header) != 0))
			continue;
		if (!folded) {
			buf_reset(&e->field);
			search_text_fold((const uint8_t *)value, strlen(value),
					 &e->field);
			folded = true;
		}
		if (contains(&e->field, &e->needles[i]) ||
		    (node->op == SEARCH_OP_HEADER &&
		     address_field_contains(e, name, value,
					    &e->needles[i]))) {
			e->matched[i] = true;
			e->dirty = true;
		} else if (node->op == SEARCH_OP_TEXT) {
			/* TEXT also finds the field's name. */
			buf_reset(&e->scratch);
			search_text_fold((const uint8_t *)name, strlen(name),
					 &e->scratch);
			if (contains(&e->scratch, &e->needles[i])) {
				e->matched[i] = true;
				e->dirty = true;
			}
		}
	}
}

static void
on_body(void *context, const struct mail_part *part, const uint8_t *data,
	size_t len)
{
	struct search_eval *e = context;
	size_t complete, prev_len;
	bool pending = false;

	for (unsigned int k = 0; k < e->body_node_count; k++) {
		if (!e->matched[e->body_nodes[k]] &&
		    !e->decided[e->body_nodes[k]])
			pending = true;
	}
	if (!pending)
		return;
	if (part != e->cur_part) {
		/* A match never spans two parts. */
		e->cur_part = part;
		buf_reset(&e->carry);
		buf_reset(&e->window);
	}
	/* Characters split between pieces wait in carry. */
	buf_reset(&e->scratch);
	buf_append(&e->scratch, e->carry.data, e->carry.len);
	buf_append(&e->scratch, data, len);
	complete = search_text_complete_prefix(e->scratch.data,
					       e->scratch.len);
	buf_reset(&e->carry);
	buf_append(&e->carry, e->scratch.data + complete,
		   e->scratch.len - complete);
	/* window = the last `keep` folded bytes before + this piece. */
	prev_len = e->window.len;
	search_text_fold(e->scratch.data, complete, &e->window);
	if (e->window.len == prev_len)
		return;
	for (unsigned int k = 0; k < e->body_node_count; k++) {
		unsigned int i = e->body_nodes[k];

		if (!e->matched[i] && !e->decided[i] &&
		    contains(&e->window, &e->needles[i])) {
			e->matched[i] = true;
			e->dirty = true;
		}
	}
	if (e->window.len > e->keep) {
		size_t drop = e->window.len - e->keep;

		memmove(e->window.data, e->window.data + drop, e->keep);
		buf_truncate(&e->window, e->keep);
	}
}

static const struct mail_parser_text_callbacks eval_callbacks = {
	.header = on_header,
	.body = on_body,
};

/* Where the top-level header ends: the offset just past the LF of its
   empty line, or 0 if not in this piece. *line_start carries whether the
   previous piece ended at the start of a line (a CR there does not count:
   the parser takes CR LF as a line end). */
static size_t
find_header_end(const uint8_t *data, size_t len, bool *line_start)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			if (*line_start)
				return i + 1;
			*line_start = true;
		} else if (data[i] != '\r') {
			*line_start = false;
		}
	}
	return 0;
}

int
search_eval_read(struct search_eval *e, search_read_func_t *read_func,
		 void *context, const char **error_r)
{
	struct mail_parser *parser;
	struct mail_parse_result *result;
	bool line_start = true;
	enum tri r = TRI_UNKNOWN;
	int ret = 0;

	if (e->chunk == NULL)
		e->chunk = xcalloc(SEARCH_READ_CHUNK, 1);
	e->cur_part = NULL;
	buf_reset(&e->carry);
	buf_reset(&e->window);
	parser = mail_parser_create(&eval_callbacks, e);
	for (;;) {
		ssize_t n = read_func(context, e->chunk, SEARCH_READ_CHUNK,
				      error_r);
		size_t off = 0;

		if (n < 0) {
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		e->bytes_read += (uint64_t)n;
		if (!e->header_done) {
			off = find_header_end(e->chunk, (size_t)n,
					      &line_start);
			if (off > 0) {
				mail_parser_feed(parser, e->chunk, off);
				e->header_done = true;
				e->dirty = true;
			}
		}
		if (e->dirty) {
			e->dirty = false;
			if ((r = eval_program(e)) != TRI_UNKNOWN)
				break;
		}
		if (off < (size_t)n) {
			mail_parser_feed(parser, e->chunk + off,
					 (size_t)n - off);
			if (e->dirty) {
				e->dirty = false;
				if ((r = eval_program(e)) != TRI_UNKNOWN)
					break;
			}
		}
	}
	result = mail_parser_finish(&parser);
	mail_parse_result_free(&result);
	if (ret < 0)
		return -1;
	if (r == TRI_UNKNOWN) {
		/* The whole message was seen: every key is decided. */
		e->header_done = true;
		e->body_done = true;
		r = eval_program(e);
	}
	return r == TRI_TRUE ? 1 : 0;
}

int
search_eval_message(struct search_eval *e, const struct search_message *msg,
		    search_read_func_t *read_func, void *context,
		    const char **error_r)
{
	int ret = search_eval_record(e, msg);

	if (ret >= 0)
		return ret;
	return search_eval_read(e, read_func, context, error_r);
}

uint64_t
search_eval_bytes_read(const struct search_eval *e)
{
	return e->bytes_read;
}

const uint8_t *
search_eval_needle(const struct search_eval *e, unsigned int node,
		   size_t *len_r)
{
	*len_r = e->needles[node].len;
	return e->needles[node].data;
}
