/* The full-text index of SEARCH: rows built from the parser's text
   callbacks, queries that check every candidate against the stored text
   (search-fts.h). */
#include "search/search-fts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/xalloc.h"
#include "search/search-text.h"
#include "search/sort.h"

/* Bytes read from a blob per read call while reindexing. */
#define FTS_READ_CHUNK (64 * 1024)
/* Text queued for one reindex transaction beyond which it is written
   early (a batch of big messages would otherwise sit in memory). */
#define FTS_REINDEX_BATCH_BYTES (16 * 1024 * 1024)

#define SEP_FIELD 0x01 /* starts a field or a part */
#define SEP_VALUE 0x02 /* between a root field's name and value */
#define SEP_MASK 0x03  /* what 0x00-0x02 in the text become */

enum th_field {
	TH_MESSAGE_ID,
	TH_IN_REPLY_TO,
	TH_REFERENCES,
	TH_FIELD_COUNT
};

struct search_fts_builder {
	struct buf col[STORE_FTS_COLUMN_COUNT];
	struct buf fold, fold2, scratch, carry;
	size_t total;
	bool complete; /* nothing was left out */
	bool full;     /* FTS_MAX_TEXT reached: nothing more goes in */
	const struct mail_part *cur_part;

	/* THREADID keys of the top-level header (first field of each name):
	   Message-ID, In-Reply-To's first id, References' last ids (oldest
	   first); th_order is what search_fts_builder_thread() gives. */
	bool th_seen[TH_FIELD_COUNT];
	struct buf th_msgid, th_irt, th_id;
	char *th_refs[THREADID_MAX_REFERENCES];
	unsigned int th_ref_count;
	const char *th_order[THREADID_MAX_REFERENCES];
};

static const char *const th_names[] = {
	[TH_MESSAGE_ID] = "Message-ID",
	[TH_IN_REPLY_TO] = "In-Reply-To",
	[TH_REFERENCES] = "References",
};

struct search_fts_builder *
search_fts_builder_create(void)
{
	struct search_fts_builder *b = xcalloc(1, sizeof(*b));

	for (unsigned int i = 0; i < STORE_FTS_COLUMN_COUNT; i++)
		buf_init(&b->col[i], 0);
	buf_init(&b->fold, 0);
	buf_init(&b->fold2, 0);
	buf_init(&b->scratch, 0);
	buf_init(&b->carry, 0);
	buf_init(&b->th_msgid, 0);
	buf_init(&b->th_irt, 0);
	buf_init(&b->th_id, 0);
	b->complete = true;
	return b;
}

static void
thread_keys_clear(struct search_fts_builder *b)
{
	memset(b->th_seen, 0, sizeof(b->th_seen));
	buf_reset(&b->th_msgid);
	buf_reset(&b->th_irt);
	for (unsigned int i = 0; i < b->th_ref_count; i++)
		free(b->th_refs[i]);
	b->th_ref_count = 0;
}

void
search_fts_builder_reset(struct search_fts_builder *b)
{
	for (unsigned int i = 0; i < STORE_FTS_COLUMN_COUNT; i++)
		buf_reset(&b->col[i]);
	buf_reset(&b->carry);
	b->total = 0;
	b->complete = true;
	b->full = false;
	b->cur_part = NULL;
	thread_keys_clear(b);
}

void
search_fts_builder_destroy(struct search_fts_builder **_b)
{
	struct search_fts_builder *b = *_b;

	if (b == NULL)
		return;
	*_b = NULL;
	for (unsigned int i = 0; i < STORE_FTS_COLUMN_COUNT; i++)
		buf_free(&b->col[i]);
	buf_free(&b->fold);
	buf_free(&b->fold2);
	buf_free(&b->scratch);
	buf_free(&b->carry);
	thread_keys_clear(b);
	buf_free(&b->th_msgid);
	buf_free(&b->th_irt);
	buf_free(&b->th_id);
	free(b);
}

/* Takes n more bytes from the row's budget; false (and the row becomes
   incomplete and closed) if they do not fit. */
static bool
budget_take(struct search_fts_builder *b, size_t n)
{
	if (b->full)
		return false;
	if (n > FTS_MAX_TEXT - b->total) {
		b->full = true;
		b->complete = false;
		return false;
	}
	b->total += n;
	return true;
}

static void
append_masked(struct buf *out, const uint8_t *data, size_t len)
{
	uint8_t *p = buf_reserve(out, len);

	if (p == NULL)
		return;
	for (size_t i = 0; i < len; i++)
		p[i] = data[i] <= SEP_VALUE ? SEP_MASK : data[i];
	buf_commit(out, len);
}

/* Appends "<sep1> name <sep2> value" as one unit, or nothing. */
static void
add_record(struct search_fts_builder *b, enum store_fts_column col,
	   const uint8_t *name, size_t name_len, uint8_t sep2,
	   const uint8_t *value, size_t value_len)
{
	if (name_len > SIZE_MAX / 2 || value_len > SIZE_MAX / 2 ||
	    !budget_take(b, name_len + value_len + 2))
		return;
	buf_append_c(&b->col[col], SEP_FIELD);
	append_masked(&b->col[col], name, name_len);
	buf_append_c(&b->col[col], sep2);
	append_masked(&b->col[col], value, value_len);
}

/* A name HEADER can be compared with bytewise after ASCII upper-casing
   (what search_text_fold() does to ASCII, so TEXT finds names too),
   as the evaluator's strcasecmp() compares. */
static bool
name_is_plain(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name != '\0'; name++) {
		if ((unsigned char)*name <= 0x20 ||
		    (unsigned char)*name >= 0x7f || *name == ':')
			return false;
	}
	return true;
}

/* Keeps a top-level Message-ID, In-Reply-To or References field's
   msg-ids for THREADID (the first field of each name counts, as for
   THREAD=REFERENCES). Linear in the value; at most
   THREADID_MAX_REFERENCES ids are kept, the last ones. */
static void
thread_keys_header(struct search_fts_builder *b, const char *name,
		   const char *value, size_t value_len)
{
	const uint8_t *v = (const uint8_t *)value;
	unsigned int f;
	size_t pos = 0, n;

	for (f = 0; f < TH_FIELD_COUNT; f++) {
		if (strcasecmp(name, th_names[f]) == 0)
			break;
	}
	if (f == TH_FIELD_COUNT || b->th_seen[f])
		return;
	b->th_seen[f] = true;
	if (f == TH_MESSAGE_ID) {
		(void)sort_msgid_next(v, value_len, &pos, &b->th_msgid);
		return;
	}
	if (f == TH_IN_REPLY_TO) {
		(void)sort_msgid_next(v, value_len, &pos, &b->th_irt);
		return;
	}
	buf_reset(&b->th_id);
	while (sort_msgid_next(v, value_len, &pos, &b->th_id) > 0) {
		if (b->th_ref_count == THREADID_MAX_REFERENCES) {
			free(b->th_refs[0]);
			memmove(b->th_refs, b->th_refs + 1,
				(THREADID_MAX_REFERENCES - 1) *
					sizeof(b->th_refs[0]));
			b->th_ref_count--;
		}
		b->th_refs[b->th_ref_count++] =
			(char *)buf_steal(&b->th_id, &n);
	}
}

static void
fts_header(void *context, const struct mail_part *part, const char *name,
	   const char *value)
{
	struct search_fts_builder *b = context;
	size_t name_len = strlen(name), value_len = strlen(value);

	if (part->parent == NULL)
		thread_keys_header(b, name, value, value_len);
	if (b->full)
		return;
	buf_reset(&b->fold);
	search_text_fold((const uint8_t *)value, value_len, &b->fold);
	if (part->parent == NULL && name_is_plain(name)) {
		buf_reset(&b->fold2);
		for (size_t i = 0; i < name_len; i++) {
			char c = name[i];

			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			buf_append_c(&b->fold2, (uint8_t)c);
		}
		add_record(b, STORE_FTS_ROOT, b->fold2.data, b->fold2.len,
			   SEP_VALUE, b->fold.data, b->fold.len);
		if (search_text_is_address_field(name)) {
			buf_reset(&b->scratch);
			search_text_address_form((const uint8_t *)value,
						 value_len, &b->scratch);
			buf_reset(&b->fold);
			search_text_fold(b->scratch.data, b->scratch.len,
					 &b->fold);
			add_record(b, STORE_FTS_ADDR, b->fold2.data,
				   b->fold2.len, SEP_VALUE, b->fold.data,
				   b->fold.len);
		}
		return;
	}
	if (part->parent == NULL) {
		/* TEXT still finds it (in other); HEADER with this name
		   must read the message. */
		b->complete = false;
	}
	buf_reset(&b->fold2);
	search_text_fold((const uint8_t *)name, name_len, &b->fold2);
	add_record(b, STORE_FTS_OTHER, b->fold2.data, b->fold2.len,
		   SEP_FIELD, b->fold.data, b->fold.len);
}

static void
fts_body(void *context, const struct mail_part *part, const uint8_t *data,
	 size_t len)
{
	struct search_fts_builder *b = context;
	struct buf *body = &b->col[STORE_FTS_BODY];
	size_t complete, room;

	if (b->full)
		return;
	if (part != b->cur_part) {
		/* Each part on its own, as the evaluator reads it: the
		   bytes of a character cut at the end of a part are never
		   compared there either. */
		b->cur_part = part;
		buf_reset(&b->carry);
		if (!budget_take(b, 1))
			return;
		buf_append_c(body, SEP_FIELD);
	}
	buf_reset(&b->scratch);
	buf_append(&b->scratch, b->carry.data, b->carry.len);
	buf_append(&b->scratch, data, len);
	complete = search_text_complete_prefix(b->scratch.data,
					       b->scratch.len);
	buf_reset(&b->carry);
	buf_append(&b->carry, b->scratch.data + complete,
		   b->scratch.len - complete);
	buf_reset(&b->fold);
	search_text_fold(b->scratch.data, complete, &b->fold);
	if (budget_take(b, b->fold.len)) {
		append_masked(body, b->fold.data, b->fold.len);
		return;
	}
	/* Cut on a character boundary; the row is now closed. */
	room = FTS_MAX_TEXT - b->total;
	if (room > b->fold.len)
		room = b->fold.len;
	room = search_text_complete_prefix(b->fold.data, room);
	b->total += room;
	append_masked(body, b->fold.data, room);
}

const struct mail_parser_text_callbacks search_fts_parser_callbacks = {
	.header = fts_header,
	.body = fts_body,
};

/* Only the THREADID keys: no folding, and no body callback, so the
   parser decodes no text for us. */
static void
fts_header_keys(void *context, const struct mail_part *part,
		const char *name, const char *value)
{
	if (part->parent == NULL)
		thread_keys_header(context, name, value, strlen(value));
}

const struct mail_parser_text_callbacks search_fts_thread_callbacks = {
	.header = fts_header_keys,
};

void
search_fts_builder_doc(struct search_fts_builder *b,
		       struct store_fts_doc *doc_r)
{
	for (unsigned int i = 0; i < STORE_FTS_COLUMN_COUNT; i++) {
		doc_r->text[i] = b->col[i].len > 0 ?
			(const char *)b->col[i].data : NULL;
		doc_r->len[i] = b->col[i].len;
	}
	doc_r->complete = b->complete;
}

void
search_fts_builder_thread(struct search_fts_builder *b,
			  const char **message_id_r,
			  const char *const **references_r,
			  unsigned int *count_r)
{
	const char *irt = b->th_irt.len > 0 ? buf_cstr(&b->th_irt) : NULL;
	unsigned int count = 0;

	/* The direct parent first: In-Reply-To names it; References ends
	   with it (RFC 5322 3.6.4), so it is read from the end. */
	if (irt != NULL)
		b->th_order[count++] = irt;
	for (unsigned int i = b->th_ref_count; i > 0; i--) {
		if (count == THREADID_MAX_REFERENCES)
			break;
		if (irt != NULL && strcmp(b->th_refs[i - 1], irt) == 0)
			continue;
		b->th_order[count++] = b->th_refs[i - 1];
	}
	*message_id_r = b->th_msgid.len > 0 ? buf_cstr(&b->th_msgid) : NULL;
	*references_r = b->th_order;
	*count_r = count;
}

/* ---- reindexing --------------------------------------------------------- */

/* Parses the blob into b. Returns 1, 0 if it is gone, -1. */
static int
index_blob(struct store_user *user, uint64_t blob_id,
	   struct search_fts_builder *b, uint8_t *chunk,
	   const char **error_r)
{
	struct mail_parser *parser;
	struct mail_parse_result *result;
	uint64_t size;
	ssize_t n;
	int fd, ret;

	if ((ret = store_blob_open(user, blob_id, &fd, &size, error_r)) <= 0)
		return ret;
	search_fts_builder_reset(b);
	parser = mail_parser_create(&search_fts_parser_callbacks, b);
	for (;;) {
		n = read(fd, chunk, FTS_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		mail_parser_feed(parser, chunk, (size_t)n);
	}
	if (n < 0)
		*error_r = strerror(errno);
	close(fd);
	result = mail_parser_finish(&parser);
	mail_parse_result_free(&result);
	return n < 0 ? -1 : 1;
}

/* Builds and writes the rows of ids, batch (at most FTS_REINDEX_BATCH)
   to a transaction, or fewer past FTS_REINDEX_BATCH_BYTES of text. */
static int
index_ids(struct store_user *user, const uint64_t *ids, unsigned int count,
	  unsigned int batch, unsigned int *written_r, const char **error_r)
{
	struct search_fts_builder *builders[FTS_REINDEX_BATCH];
	struct store_fts_entry entries[FTS_REINDEX_BATCH];
	uint8_t *chunk = xmalloc(FTS_READ_CHUNK);
	unsigned int queued = 0, written = 0;
	size_t queued_bytes = 0;
	int ret = 0;

	for (unsigned int i = 0; i < FTS_REINDEX_BATCH; i++)
		builders[i] = search_fts_builder_create();
	for (unsigned int i = 0; i < count && ret == 0; i++) {
		int r = index_blob(user, ids[i], builders[queued], chunk,
				   error_r);

		if (r < 0) {
			ret = -1;
			break;
		}
		if (r == 0)
			continue; /* expunged meanwhile */
		entries[queued].blob_id = ids[i];
		search_fts_builder_doc(builders[queued], &entries[queued].doc);
		queued_bytes += builders[queued]->total;
		queued++;
		if (queued == batch ||
		    queued_bytes >= FTS_REINDEX_BATCH_BYTES) {
			if (store_fts_set(user, entries, queued,
					  error_r) < 0)
				ret = -1;
			written += queued;
			queued = 0;
			queued_bytes = 0;
		}
	}
	if (ret == 0 && queued > 0) {
		if (store_fts_set(user, entries, queued, error_r) < 0)
			ret = -1;
		written += queued;
	}
	for (unsigned int i = 0; i < FTS_REINDEX_BATCH; i++)
		search_fts_builder_destroy(&builders[i]);
	free(chunk);
	*written_r = written;
	return ret;
}

int
search_fts_reindex(struct store_user *user, unsigned int *count_r,
		   const char **error_r)
{
	uint64_t *ids;
	unsigned int count;
	int ret;

	*count_r = 0;
	if (store_fts_blob_list(user, &ids, &count, error_r) < 0)
		return -1;
	ret = index_ids(user, ids, count, FTS_REINDEX_BATCH, count_r,
			error_r);
	free(ids);
	return ret;
}

int
search_fts_index_pending(struct store_user *user, unsigned int max,
			 unsigned int *count_r, bool *more_r,
			 const char **error_r)
{
	uint64_t *ids;
	unsigned int count, garbage = 0, n;

	*count_r = 0;
	*more_r = false;
	/* Short transactions: each holds the user's lock. */
	do {
		if (store_fts_collect_garbage(user, FTS_INDEX_TXN_ROWS, &n,
					      error_r) < 0)
			return -1;
		garbage += n;
	} while (n == FTS_INDEX_TXN_ROWS && garbage < max);
	if (store_fts_pending(user, max, &ids, &count, error_r) < 0)
		return -1;
	int ret = index_ids(user, ids, count, FTS_INDEX_TXN_ROWS, count_r,
			    error_r);
	free(ids);
	*more_r = garbage >= max || count == max;
	return ret;
}
