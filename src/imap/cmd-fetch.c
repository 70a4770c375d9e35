/* FETCH / UID FETCH (RFC 9051 6.4.5, BINARY RFC 3516). Structure and
   part offsets come from the mail cache record; bodies are queued as file
   ranges (conn_write_file), a message at a time, pausing while the output
   buffer is full. Only HEADER.FIELDS and decoded BINARY parts are built in
   memory. */
#include "imap/imap-commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/imap-date.h"
#include "imap/imap-fetch.h"
#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/objectid.h"
#include "lib/strnum.h"
#include "mail/mail-cache.h"
#include "mail/mail-decode.h"
#include "mail/mail-parser.h"
#include "net/conn.h"
#include "store/store.h"

#define FETCH_READ_CHUNK (64 * 1024)
/* Whole text responses (FLAGS of a mailbox and the like) are gathered
   into one write of about this size: a write per message cost more
   than building the message's line. */
#define FETCH_TEXT_BATCH (16 * 1024)
/* View entries read at once for a FETCH of many messages: one lock of
   the user per run instead of one per message. */
#define FETCH_ENTRY_BATCH 256

/* ---- the parse cache ----------------------------------------------------- */

int
imap_message_parse_fd(int fd, uint64_t size, struct buf *record,
		      const char **error_r)
{
	struct mail_parser *parser = mail_parser_create(NULL, NULL);
	struct mail_parse_result *result;
	uint8_t *chunk = imap_xcalloc(FETCH_READ_CHUNK, 1);
	uint64_t off = 0;
	int ret = 0;

	while (off < size) {
		size_t want = size - off < FETCH_READ_CHUNK ?
			(size_t)(size - off) : FETCH_READ_CHUNK;
		ssize_t n = pread(fd, chunk, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = n < 0 ? "reading the message failed" :
				"the message file is shorter than its size";
			ret = -1;
			break;
		}
		mail_parser_feed(parser, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	free(chunk);
	result = mail_parser_finish(&parser);
	if (ret == 0 && mail_cache_record_write(result, record) < 0) {
		*error_r = "the parse record is too large";
		ret = -1;
	}
	mail_parse_result_free(&result);
	return ret;
}

/* The record of a message, parsed now and stored if the cache has none
   (messages saved before the cache existed, or by a path that did not
   parse). With parse false a missing or unusable record is not made: 1
   is returned with *record_r NULL (for PREVIEW (LAZY)). Returns 1, 0 if
   the message is gone, -1. */
static int
load_record(struct imap_session *session, uint64_t blob_id, bool parse,
	    struct mail_cache_record **record_r, const char **error_r)
{
	void *data;
	size_t size;
	struct buf rec;
	uint64_t blob_size;
	int fd, ret;

	*record_r = NULL;
	ret = store_cache_get(session->user, blob_id, STORE_CACHE_PARTS,
			      &data, &size, error_r);
	if (ret < 0)
		return -1;
	if (ret > 0) {
		ret = mail_cache_record_read(data, size, record_r, error_r);
		free(data);
		if (ret == 0)
			return 1;
		*record_r = NULL;
		log_warn(&session->log, "cache record of blob %" PRIu64
			 " unusable (%s): parsing again", blob_id, *error_r);
	}
	if (!parse)
		return 1;
	ret = store_blob_open(session->user, blob_id, &fd, &blob_size,
			      error_r);
	if (ret <= 0)
		return ret;
	buf_init(&rec, 0);
	ret = imap_message_parse_fd(fd, blob_size, &rec, error_r);
	close(fd);
	if (ret == 0) {
		if (store_cache_set(session->user, blob_id, STORE_CACHE_PARTS,
				    rec.data, rec.len, error_r) < 0)
			log_warn(&session->log, "storing the cache record "
				 "failed: %s", *error_r);
		ret = mail_cache_record_read(rec.data, rec.len, record_r,
					     error_r);
	}
	buf_free(&rec);
	return ret < 0 ? -1 : 1;
}

/* ---- the command ---------------------------------------------------------- */

/* A piece of the current message's response: text, or a file range
   queued in chunks as the output drains. */
struct fetch_seg {
	uint8_t *data;
	size_t len;
	bool file;
	/* A plain-literal file range that may hold NULs: sent through
	   memory with them masked (see write_file_literal). */
	bool mask_nul;
	uint64_t off, flen;
};

struct fetch_ctx {
	struct imap_fetch_items *items;
	/* The current message's response, not yet all queued. */
	struct fetch_seg *segs;
	unsigned int seg_count, seg_alloc, seg_pos;
	int fd;
	uint32_t *seqs;
	unsigned int count, pos;
	/* UIDs given \Seen by this FETCH (sorted). */
	struct store_uid_range *seen_ranges;
	unsigned int seen_count;
	bool has_uid_item, has_flags_item;
	/* CHANGEDSINCE without a MODSEQ item: it is implied. */
	bool add_modseq;
	/* A PREVIEW (LAZY) item: read cached records. */
	bool lazy_preview;
	bool vanished, unknown_cte, failed;
	/* FETCH of several messages: entries read a run at a time
	   (fetch_entry); NULL for a single pushed message. A run is read
	   when the command reaches it, so a change by another session
	   while the command waits for output shows in the next sync's
	   FETCH, as it would have anyway. */
	struct store_view_entry *ecache;
	uint32_t ecache_first;
	unsigned int ecache_n;
	/* The line being built (its memory kept from message to message),
	   and whole text responses not written yet (fetch_text_flush). */
	struct buf line, text;
};

static void
fetch_text_flush(struct imap_session *session, struct fetch_ctx *ctx)
{
	if (ctx->text.len == 0)
		return;
	imap_session_write(session, ctx->text.data, ctx->text.len);
	buf_reset(&ctx->text);
}

static void
segs_clear(struct fetch_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->seg_count; i++)
		free(ctx->segs[i].data);
	ctx->seg_count = ctx->seg_pos = 0;
	if (ctx->fd >= 0) {
		close(ctx->fd);
		ctx->fd = -1;
	}
}

static struct fetch_seg *
seg_add(struct fetch_ctx *ctx)
{
	if (ctx->seg_count == ctx->seg_alloc) {
		ctx->seg_alloc = ctx->seg_alloc == 0 ? 8 : ctx->seg_alloc * 2;
		ctx->segs = realloc(ctx->segs,
				    ctx->seg_alloc * sizeof(*ctx->segs));
		if (ctx->segs == NULL)
			abort();
	}
	memset(&ctx->segs[ctx->seg_count], 0, sizeof(*ctx->segs));
	return &ctx->segs[ctx->seg_count++];
}

static void
fetch_ctx_free(void *context)
{
	struct fetch_ctx *ctx = context;

	segs_clear(ctx);
	free(ctx->segs);
	imap_fetch_items_free(&ctx->items);
	free(ctx->seqs);
	free(ctx->seen_ranges);
	free(ctx->ecache);
	buf_free(&ctx->line);
	buf_free(&ctx->text);
	free(ctx);
}

static bool
fetch_entry(struct imap_session *session, struct fetch_ctx *ctx,
	    uint32_t seq, struct store_view_entry *e)
{
	if (ctx->ecache == NULL)
		return store_view_get(session->view, seq, e);
	if (seq < ctx->ecache_first ||
	    seq - ctx->ecache_first >= ctx->ecache_n) {
		ctx->ecache_first = seq;
		ctx->ecache_n = store_view_get_range(session->view, seq,
						     FETCH_ENTRY_BATCH,
						     ctx->ecache);
		if (ctx->ecache_n == 0)
			return false;
	}
	*e = ctx->ecache[seq - ctx->ecache_first];
	return true;
}

/* Output being built for one message: memory text, flushed before each
   file range. */
struct fetch_out {
	struct imap_session *session;
	struct fetch_ctx *ctx;
	struct buf buf;
};

static void
out_flush(struct fetch_out *out)
{
	struct fetch_seg *seg;

	if (out->buf.len == 0)
		return;
	seg = seg_add(out->ctx);
	seg->data = buf_steal(&out->buf, &seg->len);
}

static int
read_range(int fd, uint64_t off, uint64_t len, struct buf *out)
{
	while (len > 0) {
		size_t want = len < FETCH_READ_CHUNK ? (size_t)len :
			FETCH_READ_CHUNK;
		uint8_t *p = buf_reserve(out, want);
		ssize_t n;

		if (p == NULL)
			return -1;
		n = pread(fd, p, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf_commit(out, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Applies <offset.length> to a length. */
static void
partial_apply(const struct imap_fetch_item *item, uint64_t len,
	      uint64_t *start_r, uint64_t *count_r)
{
	uint64_t start = 0, count = len;

	if (item->partial) {
		start = item->offset < len ? item->offset : len;
		count = len - start;
		if (count > item->length)
			count = item->length;
	}
	*start_r = start;
	*count_r = count;
}

/* Writes a file range as a literal. binary (BINARY[...]): a literal8
   when the range may hold NULs. Otherwise (BODY[...], RFC822*) a plain
   literal, which RFC 9051 4.3 says MUST NOT contain NUL; APPEND stores
   binary parts base64-encoded, but older or LMTP-delivered messages can
   still hold NULs, so those bytes go out as 0x80 instead (what other
   servers do too; the literal's length is unchanged). */
static int
write_file_literal(struct fetch_out *out, int fd,
		   const struct mail_cache_record *rec, uint64_t off,
		   uint64_t len, bool binary, const char **error_r)
{
	struct fetch_seg *seg;
	bool nul = len > 0 && mail_cache_range_has_nul(rec, off, len);

	buf_appendf(&out->buf, "%s{%" PRIu64 "}\r\n",
		    binary && nul ? "~" : "", len);
	if (len == 0)
		return 0;
	out_flush(out);
	seg = seg_add(out->ctx);
	seg->file = true;
	seg->mask_nul = nul && !binary;
	seg->off = off;
	seg->flen = len;
	(void)fd;
	(void)error_r;
	return 0;
}

/* Queues the current message's response as far as the output buffer
   allows. Returns 1 when all of it is queued, 0 to wait for the output
   to drain, -1 if a file range could not be queued (*error_r). */
static int
segs_pump(struct imap_session *session, struct fetch_ctx *ctx,
	  const char **error_r)
{
	while (ctx->seg_pos < ctx->seg_count) {
		struct fetch_seg *seg = &ctx->segs[ctx->seg_pos];

		if (!seg->file) {
			imap_session_write(session, seg->data, seg->len);
		} else if (seg->mask_nul) {
			struct buf chunk;

			buf_init(&chunk, 0);
			while (seg->flen > 0) {
				uint64_t n = seg->flen < FETCH_READ_CHUNK ?
					seg->flen : FETCH_READ_CHUNK;

				if (conn_output_pending(session->conn) >=
				    CONN_OUTPUT_HIGH_WATER) {
					buf_free(&chunk);
					return 0;
				}
				buf_reset(&chunk);
				if (read_range(ctx->fd, seg->off, n,
					       &chunk) < 0) {
					buf_free(&chunk);
					*error_r = "reading the message failed";
					return -1;
				}
				(void)mail_nul_mask(chunk.data, chunk.len);
				imap_session_write(session, chunk.data,
						   chunk.len);
				seg->off += n;
				seg->flen -= n;
			}
			buf_free(&chunk);
		} else {
			while (seg->flen > 0) {
				uint64_t n = seg->flen;

				if (conn_output_pending(session->conn) >=
				    CONN_OUTPUT_HIGH_WATER)
					return 0;
				if (n > CONN_OUTPUT_HIGH_WATER)
					n = CONN_OUTPUT_HIGH_WATER;
				if (conn_write_file(session->conn, ctx->fd,
						    (off_t)seg->off, (size_t)n,
						    error_r) < 0)
					return -1;
				seg->off += n;
				seg->flen -= n;
			}
		}
		ctx->seg_pos++;
	}
	segs_clear(ctx);
	return 1;
}

static void
write_mem_literal(struct fetch_out *out, const struct imap_fetch_item *item,
		  const uint8_t *data, size_t len, bool binary)
{
	uint64_t start, count;

	partial_apply(item, len, &start, &count);
	bool nul = memchr(data + start, '\0', (size_t)count) != NULL;
	buf_appendf(&out->buf, "%s{%" PRIu64 "}\r\n",
		    binary && nul ? "~" : "", count);
	size_t at = out->buf.len;
	buf_append(&out->buf, data + start, (size_t)count);
	/* RFC 9051 4.3: no NUL in a plain literal (see
	   write_file_literal). */
	if (nul && !binary)
		(void)mail_nul_mask(out->buf.data + at, (size_t)count);
}

/* HEADER.FIELDS / .NOT: the chosen fields of a header block, then the
   empty line (RFC 9051 6.4.5). */
static void
filter_header(const struct imap_fetch_item *item, const uint8_t *hdr,
	      size_t len, struct buf *out)
{
	bool not = item->text == IMAP_SECTION_HEADER_FIELDS_NOT;
	size_t pos = 0;

	while (pos < len) {
		size_t start = pos, end, colon;

		/* A field runs until a line that does not start with
		   whitespace (unfolding). */
		end = pos;
		for (;;) {
			const uint8_t *nl = memchr(hdr + end, '\n', len - end);

			end = nl == NULL ? len : (size_t)(nl - hdr) + 1;
			if (end >= len || (hdr[end] != ' ' && hdr[end] != '\t'))
				break;
		}
		pos = end;
		if (hdr[start] == '\r' || hdr[start] == '\n')
			break; /* the empty line */
		for (colon = start; colon < end && hdr[colon] != ':'; colon++)
			;
		if (colon == end)
			continue;
		size_t nlen = colon - start;
		while (nlen > 0 && (hdr[start + nlen - 1] == ' ' ||
				    hdr[start + nlen - 1] == '\t'))
			nlen--;
		bool wanted = imap_fetch_field_wanted(
			item, (const char *)hdr + start, nlen);
		if (wanted != not)
			buf_append(out, hdr + start, end - start);
	}
	buf_append_str(out, "\r\n");
}

/* Decodes a part's body (BINARY). Returns 0, -1 on a read error, -2 for
   an unknown transfer encoding. */
static int
decode_part(int fd, const struct mail_cache_part *part, struct buf *out)
{
	struct mail_decoder *dec = mail_decoder_create(part->encoding);
	struct buf raw;
	uint64_t off = part->body_offset;
	int ret = 0;

	if (dec == NULL)
		return -2;
	buf_init(&raw, 0);
	while (off < part->body_end && ret == 0) {
		uint64_t left = part->body_end - off;
		uint64_t n = left < FETCH_READ_CHUNK ? left : FETCH_READ_CHUNK;

		buf_reset(&raw);
		if (read_range(fd, off, n, &raw) < 0 ||
		    mail_decoder_feed(dec, raw.data, raw.len, out) < 0)
			ret = -1;
		off += n;
	}
	if (ret == 0 && mail_decoder_finish(dec, out) < 0)
		ret = -1;
	buf_free(&raw);
	mail_decoder_destroy(&dec);
	return ret;
}

static bool
encoding_is_identity(enum mail_encoding enc)
{
	return enc == MAIL_ENCODING_7BIT || enc == MAIL_ENCODING_8BIT ||
		enc == MAIL_ENCODING_BINARY;
}

/* One BODY[...] / BINARY[...] / BINARY.SIZE[...] item. */
static int
fetch_section(struct fetch_ctx *ctx, struct fetch_out *out,
	      const struct imap_fetch_item *item,
	      const struct store_view_entry *e,
	      const struct mail_cache_record *rec, int fd,
	      const char **error_r)
{
	unsigned int idx = 0, midx = 0;
	const struct mail_cache_part *part;
	uint64_t start, count, off, len;
	bool binary = item->kind != IMAP_FETCH_SECTION;

	buf_appendf(&out->buf, "%s ", item->reply_name);
	if (item->depth == 0 && item->text == IMAP_SECTION_ALL) {
		/* The whole message: no cache needed. */
		if (item->kind == IMAP_FETCH_BINARY_SIZE) {
			buf_appendf(&out->buf, "%" PRIu64, e->size);
			return 0;
		}
		partial_apply(item, e->size, &start, &count);
		return write_file_literal(out, fd, rec, start, count, binary,
					  error_r);
	}
	if (item->depth > 0 &&
	    mail_cache_find_part(rec, item->path, item->depth, &idx) == 0) {
		buf_append_str(&out->buf, "NIL");
		return 0;
	}
	part = &rec->parts[idx];
	switch (item->text) {
	case IMAP_SECTION_ALL:
		off = part->body_offset;
		len = part->body_end - part->body_offset;
		break;
	case IMAP_SECTION_MIME:
		off = part->header_offset;
		len = part->body_offset - part->header_offset;
		break;
	default:
		/* HEADER and TEXT of a message: the root, or the message
		   inside a message/rfc822 part. A root that is itself
		   message/rfc822 is still the message those sections name
		   (RFC 9051 6.4.5), not the one it encapsulates. */
		if (item->depth == 0)
			midx = 0;
		else if (mail_cache_part_message(rec, idx, &midx) == 0) {
			buf_append_str(&out->buf, "NIL");
			return 0;
		}
		part = &rec->parts[midx];
		if (item->text == IMAP_SECTION_TEXT) {
			off = part->body_offset;
			len = part->body_end - part->body_offset;
		} else {
			off = part->header_offset;
			len = part->body_offset - part->header_offset;
		}
		break;
	}
	if (item->text == IMAP_SECTION_HEADER_FIELDS ||
	    item->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		struct buf hdr, filtered;

		buf_init(&hdr, 0);
		buf_init(&filtered, 0);
		if (read_range(fd, off, len < MAIL_MAX_HEADER_SIZE ? len :
			       MAIL_MAX_HEADER_SIZE, &hdr) < 0) {
			buf_free(&hdr);
			*error_r = "reading the header failed";
			return -1;
		}
		filter_header(item, hdr.data, hdr.len, &filtered);
		write_mem_literal(out, item, filtered.data, filtered.len,
				  false);
		buf_free(&hdr);
		buf_free(&filtered);
		return 0;
	}
	if (binary && item->depth > 0 &&
	    (part->flags & (MAIL_PART_FLAG_MULTIPART |
			    MAIL_PART_FLAG_MESSAGE)) == 0 &&
	    !encoding_is_identity(part->encoding)) {
		struct buf dec;
		int ret;

		buf_init(&dec, IMAP_MAX_BINARY_DECODED);
		ret = decode_part(fd, part, &dec);
		if (ret == -2) {
			ctx->unknown_cte = true;
			buf_append_str(&out->buf, "NIL");
		} else if (ret < 0) {
			buf_free(&dec);
			*error_r = "decoding the part failed";
			return -1;
		} else if (item->kind == IMAP_FETCH_BINARY_SIZE) {
			buf_appendf(&out->buf, "%zu", dec.len);
		} else {
			write_mem_literal(out, item, dec.data, dec.len, true);
		}
		buf_free(&dec);
		return 0;
	}
	if (item->kind == IMAP_FETCH_BINARY_SIZE) {
		buf_appendf(&out->buf, "%" PRIu64, len);
		return 0;
	}
	partial_apply(item, len, &start, &count);
	return write_file_literal(out, fd, rec, off + start, count, binary,
				  error_r);
}

static bool
uid_seen_added(const struct fetch_ctx *ctx, uint32_t uid)
{
	for (unsigned i = 0; i < ctx->seen_count; i++) {
		if (uid >= ctx->seen_ranges[i].first &&
		    uid <= ctx->seen_ranges[i].last)
			return true;
	}
	return false;
}

/* RFC 8970 3.2: PREVIEW nstring. The preview is UTF-8 without control
   characters (mail-text.c); plain ASCII goes out quoted, anything else
   as a literal, which every IMAP version accepts for 8-bit text. */
static void
write_preview(struct buf *out, const char *text, size_t len)
{
	bool quoted = true;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c > 0x7e)
			quoted = false;
	}
	if (!quoted) {
		buf_appendf(out, "{%zu}\r\n", len);
		buf_append(out, text, len);
		return;
	}
	buf_append_c(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '"' || text[i] == '\\')
			buf_append_c(out, '\\');
		buf_append_c(out, text[i]);
	}
	buf_append_c(out, '"');
}

/* Whether the items hold a PREVIEW (LAZY), which reads the cached record
   without parsing when no other item needed it. */
static bool
items_have_lazy_preview(const struct imap_fetch_items *items)
{
	for (unsigned i = 0; i < items->count; i++) {
		if (items->items[i].kind == IMAP_FETCH_PREVIEW &&
		    items->items[i].lazy)
			return true;
	}
	return false;
}

static bool
fetch_wants_threadid(const struct imap_fetch_items *items)
{
	for (unsigned i = 0; i < items->count; i++) {
		if (items->items[i].kind == IMAP_FETCH_THREADID)
			return true;
	}
	return false;
}

/* Writes one message's FETCH response. Returns 0, or -1 (*error_r) on a
   server error. */
static int
fetch_one(struct imap_session *session, bool uid, struct fetch_ctx *ctx,
	  uint32_t seq)
{
	struct mail_cache_record *rec = NULL;
	struct store_view_entry e;
	struct fetch_out out;
	const char *error;
	uint64_t blob_size, thread_id = 0;
	uint8_t flags;
	bool first = true, report_flags;
	int fd = -1, ret = 0;

	if (!fetch_entry(session, ctx, seq, &e))
		return 0;
	if (ctx->items->needs_cache || ctx->lazy_preview) {
		ret = load_record(session, e.blob_id, ctx->items->needs_cache,
				  &rec, &error);
		if (ret < 0)
			goto fail;
		if (ret == 0) {
			ctx->vanished = true;
			return 0;
		}
	}
	if (ctx->items->needs_body) {
		ret = store_blob_open(session->user, e.blob_id, &fd,
				      &blob_size, &error);
		if (ret < 0)
			goto fail;
		if (ret == 0) {
			ctx->vanished = true;
			mail_cache_record_free(&rec);
			return 0;
		}
	}
	/* RFC 8474 5.2: a message saved before threads were kept has
	   none (NIL). Looked up before anything of this message is
	   written, so a failure leaves no half response. */
	if (fetch_wants_threadid(ctx->items)) {
		ret = store_thread_get(session->user, e.blob_id, &thread_id,
				       &error);
		if (ret < 0)
			goto fail;
	}
	ret = 0;
	flags = e.flags;
	report_flags = false;
	if (uid_seen_added(ctx, e.uid)) {
		/* This FETCH set \Seen: report the flags and modseq the
		   store has now (the view may have them already: the
		   store takes its own changes into it). */
		flags |= STORE_FLAG_SEEN;
		if (session->silent_modseq != 0)
			e.modseq = session->silent_modseq;
		report_flags = !ctx->has_flags_item;
	}

	if ((ctx->has_flags_item || report_flags) &&
	    imap_session_keywords_unannounced(session, e.keywords)) {
		/* another session gave the message a keyword this one has
		   not announced: FLAGS first, after what is batched */
		fetch_text_flush(session, ctx);
		imap_session_announce_keywords(session, e.keywords);
	}
	out.session = session;
	out.ctx = ctx;
	out.buf = ctx->line;
	buf_reset(&out.buf);
	buf_append_str(&out.buf, "* ");
	buf_append_u64(&out.buf, seq);
	buf_append_str(&out.buf, " FETCH (");
	if (uid && !ctx->has_uid_item) {
		buf_append_str(&out.buf, "UID ");
		buf_append_u64(&out.buf, e.uid);
		first = false;
	}
	for (unsigned i = 0; i < ctx->items->count && ret == 0; i++) {
		const struct imap_fetch_item *item = &ctx->items->items[i];
		char date[IMAP_DATETIME_BUFSIZE];

		if (!first)
			buf_append_c(&out.buf, ' ');
		first = false;
		switch (item->kind) {
		case IMAP_FETCH_FLAGS:
			buf_append_str(&out.buf, "FLAGS ");
			imap_write_message_flags(session, &out.buf, e.uid,
						 flags, e.keywords);
			break;
		case IMAP_FETCH_INTERNALDATE:
			imap_datetime_format(e.internal_date, 0, date);
			buf_appendf(&out.buf, "INTERNALDATE \"%s\"", date);
			break;
		case IMAP_FETCH_RFC822_SIZE:
			buf_append_str(&out.buf, "RFC822.SIZE ");
			buf_append_u64(&out.buf, e.size);
			break;
		case IMAP_FETCH_UID:
			buf_append_str(&out.buf, "UID ");
			buf_append_u64(&out.buf, e.uid);
			break;
		case IMAP_FETCH_ENVELOPE:
			buf_append_str(&out.buf, "ENVELOPE ");
			buf_append(&out.buf, rec->envelope, rec->envelope_len);
			break;
		case IMAP_FETCH_BODY:
			buf_append_str(&out.buf, "BODY ");
			buf_append(&out.buf, rec->body, rec->body_len);
			break;
		case IMAP_FETCH_BODYSTRUCTURE:
			buf_append_str(&out.buf, "BODYSTRUCTURE ");
			buf_append(&out.buf, rec->bodystructure,
				   rec->bodystructure_len);
			break;
		case IMAP_FETCH_SECTION:
		case IMAP_FETCH_BINARY:
		case IMAP_FETCH_BINARY_SIZE:
			ret = fetch_section(ctx, &out, item, &e, rec, fd,
					    &error);
			break;
		case IMAP_FETCH_MODSEQ:
			buf_append_str(&out.buf, "MODSEQ (");
			buf_append_u64(&out.buf, e.modseq);
			buf_append_c(&out.buf, ')');
			break;
		case IMAP_FETCH_EMAILID: {
			char id[OBJECTID_SIZE];

			objectid_email(e.blob_id, id);
			buf_appendf(&out.buf, "EMAILID (%s)", id);
			break;
		}
		case IMAP_FETCH_THREADID: {
			char id[OBJECTID_SIZE];

			if (thread_id == 0) {
				buf_append_str(&out.buf, "THREADID NIL");
				break;
			}
			objectid_thread(thread_id, id);
			buf_appendf(&out.buf, "THREADID (%s)", id);
			break;
		}
		case IMAP_FETCH_SAVEDATE:
			imap_datetime_format(e.save_date, 0, date);
			buf_appendf(&out.buf, "SAVEDATE \"%s\"", date);
			break;
		case IMAP_FETCH_PREVIEW:
			buf_append_str(&out.buf, "PREVIEW ");
			/* NIL only for LAZY (RFC 8970 3.2); no text is
			   the empty string. */
			if (rec == NULL)
				buf_append_str(&out.buf, "NIL");
			else
				write_preview(&out.buf, rec->preview,
					      rec->preview_len);
			break;
		}
	}
	if (report_flags) {
		buf_append_str(&out.buf, first ? "FLAGS " : " FLAGS ");
		imap_write_message_flags(session, &out.buf, e.uid, flags,
					 e.keywords);
	}
	if (ctx->add_modseq) {
		buf_append_str(&out.buf, " MODSEQ (");
		buf_append_u64(&out.buf, e.modseq);
		buf_append_c(&out.buf, ')');
	}
	buf_append_str(&out.buf, ")\r\n");
	if (ret == 0 && ctx->seg_count == 0) {
		/* All of it, and only text (FLAGS of a whole mailbox): to
		   the batch, without a segment to allocate. The caller runs
		   this only below the output's high-water mark. */
		(void)buf_append(&ctx->text, out.buf.data, out.buf.len);
		if (ctx->text.len >= FETCH_TEXT_BATCH)
			fetch_text_flush(session, ctx);
	} else {
		/* what was batched goes first */
		fetch_text_flush(session, ctx);
		out_flush(&out);
	}
	ctx->line = out.buf;
	mail_cache_record_free(&rec);
	if (ret < 0) {
		/* Nothing of this message went out yet. */
		segs_clear(ctx);
		if (fd >= 0)
			close(fd);
		log_error(&session->log, "FETCH of UID %u failed: %s", e.uid,
			  error);
		ctx->failed = true;
		return 0;
	}
	/* The file stays open until its ranges are queued. */
	ctx->fd = fd;
	return 0;
fail:
	mail_cache_record_free(&rec);
	if (fd >= 0)
		close(fd);
	log_error(&session->log, "FETCH of UID %u failed: %s", e.uid, error);
	ctx->failed = true;
	return 0;
}

static bool
fetch_resume(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct fetch_ctx *ctx = cmd->context;

	const char *error;

	for (;;) {
		int ret;

		if (conn_is_closing(session->conn))
			return true;
		ret = segs_pump(session, ctx, &error);
		if (ret < 0) {
			/* Part of the response is out: the client cannot
			   resynchronise, so the session ends. */
			log_error(&session->log, "FETCH: queueing the message "
				  "failed: %s", error);
			conn_close(session->conn, "FETCH failed");
			return true;
		}
		if (ret == 0) {
			session->mid_reply = true;
			return false;
		}
		session->mid_reply = false;
		if (ctx->pos == ctx->count)
			break;
		if (conn_output_pending(session->conn) >=
		    CONN_OUTPUT_HIGH_WATER)
			return false;
		(void)fetch_one(session, cmd->uid, ctx,
				ctx->seqs[ctx->pos++]);
	}
	fetch_text_flush(session, ctx);
	if (ctx->unknown_cte)
		imap_cmd_no(cmd, "[UNKNOWN-CTE] Unknown content transfer "
			    "encoding.");
	else if (ctx->failed)
		imap_cmd_no(cmd, "[SERVERBUG] Some messages could not be "
			    "fetched.");
	else if (ctx->vanished)
		imap_cmd_no(cmd, "[EXPUNGEISSUED] Some messages were "
			    "expunged.");
	else
		imap_cmd_ok(cmd, "FETCH completed.");
	return true;
}

int
imap_fetch_write_unsolicited(struct imap_session *session,
			     struct imap_fetch_items *items, uint32_t seq)
{
	struct fetch_ctx ctx;
	const char *error;
	int ret = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.fd = -1;
	buf_init(&ctx.line, 0);
	buf_init(&ctx.text, 0);
	ctx.items = items;
	for (unsigned i = 0; i < items->count; i++) {
		if (items->items[i].kind == IMAP_FETCH_UID)
			ctx.has_uid_item = true;
		if (items->items[i].kind == IMAP_FETCH_FLAGS)
			ctx.has_flags_item = true;
	}
	/* UID always: the client may not use sequence numbers once it
	   gets MessageNew pushed (RFC 5465 5.2 example). */
	(void)fetch_one(session, true, &ctx, seq);
	fetch_text_flush(session, &ctx);
	buf_free(&ctx.line);
	buf_free(&ctx.text);
	/* The whole response now, whatever the output holds: the items
	   are the few the client chose for new messages, and a command
	   may follow at once. File ranges are queued as files, so a large
	   body costs no memory; only a range with NULs to mask is read. */
	for (; ctx.seg_pos < ctx.seg_count && ret == 0; ctx.seg_pos++) {
		struct fetch_seg *seg = &ctx.segs[ctx.seg_pos];

		if (!seg->file) {
			imap_session_write(session, seg->data, seg->len);
			continue;
		}
		while (!seg->mask_nul && seg->flen > 0 && ret == 0) {
			/* A file range: no copy in memory. */
			uint64_t n = seg->flen < CONN_OUTPUT_HIGH_WATER ?
				seg->flen : CONN_OUTPUT_HIGH_WATER;

			if (conn_write_file(session->conn, ctx.fd,
					    (off_t)seg->off, (size_t)n,
					    &error) < 0)
				ret = -1;
			seg->off += n;
			seg->flen -= n;
		}
		while (seg->flen > 0 && ret == 0) {
			uint64_t n = seg->flen < FETCH_READ_CHUNK ?
				seg->flen : FETCH_READ_CHUNK;
			struct buf chunk;

			buf_init(&chunk, 0);
			if (read_range(ctx.fd, seg->off, n, &chunk) < 0) {
				error = "reading the message failed";
				ret = -1;
			} else {
				(void)mail_nul_mask(chunk.data, chunk.len);
				imap_session_write(session, chunk.data,
						   chunk.len);
				seg->off += n;
				seg->flen -= n;
			}
			buf_free(&chunk);
		}
	}
	segs_clear(&ctx);
	free(ctx.segs);
	if (ret < 0) {
		/* Part of a literal is out: the client cannot
		   resynchronise. */
		log_error(&session->log, "pushing FETCH failed: %s", error);
		conn_close(session->conn, "FETCH failed");
		return -1;
	}
	return ctx.failed ? -1 : 0;
}

/* Marks the unseen messages of the set \Seen before the replies are
   written (RFC 9051 6.4.5: a BODY fetch without .PEEK sets \Seen). */
static void
fetch_set_seen(struct imap_session *session, struct fetch_ctx *ctx)
{
	struct store_view_entry e;
	unsigned int alloc = 0;
	const char *error;
	uint64_t modseq;

	for (unsigned i = 0; i < ctx->count; i++) {
		if (!store_view_get(session->view, ctx->seqs[i], &e) ||
		    (e.flags & STORE_FLAG_SEEN) != 0)
			continue;
		if (ctx->seen_count == alloc) {
			alloc = alloc == 0 ? 16 : alloc * 2;
			ctx->seen_ranges = realloc(ctx->seen_ranges,
				alloc * sizeof(*ctx->seen_ranges));
			if (ctx->seen_ranges == NULL)
				abort();
		}
		ctx->seen_ranges[ctx->seen_count].first = e.uid;
		ctx->seen_ranges[ctx->seen_count].last = e.uid;
		ctx->seen_count++;
	}
	if (ctx->seen_count == 0)
		return;
	if (store_flags_update(session->user, session->mailbox_id,
			       ctx->seen_ranges, ctx->seen_count,
			       STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, 0,
			       &modseq, &error) < 0) {
		log_error(&session->log, "setting \\Seen failed: %s", error);
		ctx->seen_count = 0;
		return;
	}
	/* Our FETCH replies carry the new flags already. */
	session->silent_modseq = modseq;
}

bool
cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct imap_seqset *set;
	struct fetch_ctx *ctx;
	const char *setstr, *error;

	uint64_t changedsince = 0;
	bool vanished = false;
	unsigned int items_used;
	struct imap_fetch_items *items;

	if (cmd->args_count < 2 || cmd->args_count > 4 ||
	    !imap_arg_get_atom(&cmd->args[0], &setstr)) {
		imap_cmd_bad(cmd, "FETCH takes a set and items.");
		return true;
	}
	/* "PREVIEW (LAZY)" alone takes two arguments (RFC 8970 6). */
	if (imap_fetch_items_parse_args(&cmd->args[1], cmd->args_count - 1,
					&items_used, &items, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	if (cmd->args_count > 2 + items_used) {
		imap_fetch_items_free(&items);
		imap_cmd_bad(cmd, "FETCH takes a set and items.");
		return true;
	}
	if (cmd->args_count == 2 + items_used) {
		/* RFC 7162 3.1.4: (CHANGEDSINCE modseq), and 3.2.6:
		   VANISHED with it in UID FETCH. */
		const struct imap_arg *mods;
		unsigned int mod_count;
		const char *num;

		if (!imap_arg_get_list(&cmd->args[1 + items_used], &mods,
				       &mod_count))
			mod_count = 0;
		for (unsigned i = 0; i < mod_count; i++) {
			if (imap_arg_atom_equals(&mods[i], "VANISHED")) {
				vanished = true;
				continue;
			}
			if (!imap_arg_atom_equals(&mods[i], "CHANGEDSINCE") ||
			    i + 1 >= mod_count ||
			    !imap_arg_get_atom(&mods[++i], &num) ||
			    str_to_u64z(num, INT64_MAX, &changedsince) < 0 ||
			    changedsince == 0) {
				mod_count = 0;
				break;
			}
		}
		if (mod_count == 0 || (vanished && (changedsince == 0 ||
						    !cmd->uid ||
						    !session->enabled_qresync))) {
			imap_fetch_items_free(&items);
			imap_cmd_bad(cmd, "Invalid FETCH modifier.");
			return true;
		}
		imap_session_enable_condstore(session);
	}
	if (imap_seqset_parse((const uint8_t *)setstr, strlen(setstr), &set,
			      &error) < 0) {
		imap_fetch_items_free(&items);
		imap_cmd_bad(cmd, "Invalid message set.");
		return true;
	}
	ctx = imap_xcalloc(1, sizeof(*ctx));
	ctx->fd = -1;
	buf_init(&ctx->line, 0);
	buf_init(&ctx->text, 0);
	cmd->context = ctx;
	cmd->free_context = fetch_ctx_free;
	ctx->items = items;
	ctx->lazy_preview = items_have_lazy_preview(items);
	ctx->ecache = imap_xcalloc(FETCH_ENTRY_BATCH, sizeof(*ctx->ecache));
	bool has_modseq = false;

	for (unsigned i = 0; i < ctx->items->count; i++) {
		if (ctx->items->items[i].kind == IMAP_FETCH_UID)
			ctx->has_uid_item = true;
		if (ctx->items->items[i].kind == IMAP_FETCH_FLAGS)
			ctx->has_flags_item = true;
		if (ctx->items->items[i].kind == IMAP_FETCH_MODSEQ)
			has_modseq = true;
	}
	if (has_modseq)
		imap_session_enable_condstore(session);
	ctx->add_modseq = changedsince != 0 && !has_modseq;
	if (imap_session_seqset_to_seqs(session, set, cmd->uid, &ctx->seqs,
					&ctx->count, &error) < 0) {
		imap_seqset_destroy(&set);
		imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	if (vanished) {
		uint32_t *uids;
		unsigned int n;

		if (imap_session_expunged_since(session, changedsince, set,
						false, &uids, &n) == 0 &&
		    n > 0) {
			struct buf b;

			buf_init(&b, 0);
			imap_write_uid_set(&b, uids, n);
			imap_session_untagged(session, "VANISHED (EARLIER) %s",
					      buf_cstr(&b));
			buf_free(&b);
		}
		free(uids);
	}
	imap_seqset_destroy(&set);
	if (changedsince != 0) {
		unsigned int kept = 0;
		struct store_view_entry e;

		for (unsigned i = 0; i < ctx->count; i++) {
			if (store_view_get(session->view, ctx->seqs[i], &e) &&
			    e.modseq > changedsince)
				ctx->seqs[kept++] = ctx->seqs[i];
		}
		ctx->count = kept;
	}
	if (ctx->items->sets_seen && !session->read_only)
		fetch_set_seen(session, ctx);
	cmd->resume = fetch_resume;
	return fetch_resume(cmd);
}
