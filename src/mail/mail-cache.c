/* The cache record: IMAP strings plus a part offset table. */
#include "mail/mail-cache.h"
#include "mail/imap-bodystructure.h"
#include "mail/mail-private.h"
#include "lib/limits.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAGIC "QMC1"

static void
put_varint(struct buf *out, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n] = v & 0x7f;
		v >>= 7;
		if (v != 0)
			b[n] |= 0x80;
		n++;
	} while (v != 0);
	buf_append(out, b, n);
}

static void
put_bytes(struct buf *out, const void *data, size_t len)
{
	put_varint(out, len);
	buf_append(out, data, len);
}

int
mail_cache_record_write(const struct mail_parse_result *result,
			struct buf *out)
{
	const struct mail_part *root = mail_parse_result_root(result);
	struct buf tmp;
	const char *preview = mail_parse_result_preview(result);

	buf_append(out, CACHE_MAGIC, 4);
	buf_init(&tmp, 0);
	imap_write_envelope(&tmp, root);
	put_bytes(out, tmp.data, tmp.len);
	buf_reset(&tmp);
	imap_write_body(&tmp, root, false);
	put_bytes(out, tmp.data, tmp.len);
	buf_reset(&tmp);
	imap_write_body(&tmp, root, true);
	put_bytes(out, tmp.data, tmp.len);
	buf_free(&tmp);
	put_bytes(out, preview, strlen(preview));
	put_varint(out, mail_parse_result_size(result));

	/* pre-order walk; descendants known when a subtree is left */
	size_t cap = 64, n = 0;
	struct mail_cache_part *parts = mail_xcalloc(cap, sizeof(*parts));
	unsigned int stack[MAIL_MAX_DEPTH + 2];
	unsigned int d = 0;
	const struct mail_part *cur = root;
	for (;;) {
		if (n == cap) {
			cap *= 2;
			parts = mail_xrealloc(parts, cap * sizeof(*parts));
		}
		struct mail_cache_part *cp = &parts[n];
		memset(cp, 0, sizeof(*cp));
		cp->child_count = cur->child_count;
		cp->flags = cur->flags;
		cp->encoding = cur->encoding;
		cp->header_offset = cur->header_offset;
		cp->body_offset = cur->body_offset;
		cp->body_end = cur->body_end;
		cp->body_lines = cur->body_lines;
		stack[d] = (unsigned int)n++;
		if (cur->children != NULL && d + 1 < sizeof(stack) / sizeof(stack[0])) {
			cur = cur->children;
			d++;
			continue;
		}
		for (;;) {
			parts[stack[d]].descendants =
				(uint32_t)(n - stack[d] - 1);
			if (d == 0)
				goto done;
			if (cur->next != NULL) {
				cur = cur->next;
				break;
			}
			cur = cur->parent;
			d--;
		}
	}
done:
	put_varint(out, n);
	for (size_t i = 0; i < n; i++) {
		const struct mail_cache_part *cp = &parts[i];
		put_varint(out, cp->descendants);
		put_varint(out, cp->child_count);
		put_varint(out, cp->flags);
		put_varint(out, (uint64_t)cp->encoding);
		put_varint(out, cp->header_offset);
		put_varint(out, cp->body_offset - cp->header_offset);
		put_varint(out, cp->body_end - cp->body_offset);
		put_varint(out, cp->body_lines);
	}
	free(parts);
	return out->overflow ? -1 : 0;
}

struct reader {
	const uint8_t *p, *end;
	bool error;
};

static uint64_t
get_varint(struct reader *r)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; shift < 64; shift += 7) {
		if (r->p == r->end) {
			r->error = true;
			return 0;
		}
		uint8_t b = *r->p++;
		if (shift == 63 && (b & 0x7e) != 0) {
			r->error = true;
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return v;
	}
	r->error = true;
	return 0;
}

static char *
get_bytes(struct reader *r, size_t *len_r)
{
	uint64_t len = get_varint(r);

	if (r->error || len > (uint64_t)(r->end - r->p)) {
		r->error = true;
		*len_r = 0;
		return NULL;
	}
	char *s = mail_xstrndup(r->p, (size_t)len);
	r->p += len;
	*len_r = (size_t)len;
	return s;
}

void
mail_cache_record_free(struct mail_cache_record **_rec)
{
	struct mail_cache_record *rec = *_rec;

	if (rec == NULL)
		return;
	free((char *)rec->envelope);
	free((char *)rec->body);
	free((char *)rec->bodystructure);
	free((char *)rec->preview);
	free((struct mail_cache_part *)rec->parts);
	free(rec);
	*_rec = NULL;
}

static bool
parts_valid(const struct mail_cache_part *parts, unsigned int n,
	    uint64_t size)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct mail_cache_part *p = &parts[i];
		if (p->descendants >= n - i)
			return false;
		if (p->header_offset > p->body_offset ||
		    p->body_offset > p->body_end || p->body_end > size)
			return false;
		/* the children tile the subtree exactly */
		unsigned int count = 0, j = i + 1;
		unsigned int last = i + p->descendants;
		while (j <= last) {
			if (parts[j].descendants > last - j)
				return false;
			count++;
			j += parts[j].descendants + 1;
		}
		if (count != p->child_count)
			return false;
	}
	return parts[0].descendants == n - 1;
}

int
mail_cache_record_read(const uint8_t *data, size_t len,
		       struct mail_cache_record **record_r,
		       const char **error_r)
{
	struct reader r = { data, data + len, false };
	struct mail_cache_record *rec;

	if (len < 4 || memcmp(data, CACHE_MAGIC, 4) != 0) {
		*error_r = "not a mail cache record (bad magic)";
		return -1;
	}
	r.p += 4;
	rec = mail_xcalloc(1, sizeof(*rec));
	rec->envelope = get_bytes(&r, &rec->envelope_len);
	rec->body = get_bytes(&r, &rec->body_len);
	rec->bodystructure = get_bytes(&r, &rec->bodystructure_len);
	rec->preview = get_bytes(&r, &rec->preview_len);
	rec->size = get_varint(&r);
	uint64_t n = get_varint(&r);
	if (r.error || n == 0 || n > MAIL_MAX_PARTS) {
		*error_r = "mail cache record truncated or bad part count";
		mail_cache_record_free(&rec);
		return -1;
	}
	struct mail_cache_part *parts = mail_xcalloc((size_t)n, sizeof(*parts));
	rec->parts = parts;
	rec->part_count = (unsigned int)n;
	for (uint64_t i = 0; i < n && !r.error; i++) {
		struct mail_cache_part *cp = &parts[i];
		uint64_t desc = get_varint(&r), children = get_varint(&r);
		uint64_t flags = get_varint(&r), enc = get_varint(&r);
		uint64_t hoff = get_varint(&r), hsize = get_varint(&r);
		uint64_t bsize = get_varint(&r), lines = get_varint(&r);
		if (desc >= n || children >= n || flags > UINT32_MAX ||
		    enc > MAIL_ENCODING_UNKNOWN || hsize > UINT64_MAX - hoff ||
		    bsize > UINT64_MAX - hoff - hsize) {
			r.error = true;
			break;
		}
		cp->descendants = (uint32_t)desc;
		cp->child_count = (uint32_t)children;
		cp->flags = (uint32_t)flags;
		cp->encoding = (enum mail_encoding)enc;
		cp->header_offset = hoff;
		cp->body_offset = hoff + hsize;
		cp->body_end = hoff + hsize + bsize;
		cp->body_lines = lines;
	}
	if (r.error || r.p != r.end ||
	    !parts_valid(parts, rec->part_count, rec->size)) {
		*error_r = "mail cache record is corrupt";
		mail_cache_record_free(&rec);
		return -1;
	}
	*record_r = rec;
	return 0;
}

static int
nth_child(const struct mail_cache_record *rec, unsigned int idx, uint32_t n,
	  unsigned int *index_r)
{
	const struct mail_cache_part *p = &rec->parts[idx];
	unsigned int j = idx + 1;

	if (n == 0 || n > p->child_count)
		return 0;
	for (uint32_t k = 1; k < n; k++)
		j += rec->parts[j].descendants + 1;
	*index_r = j;
	return 1;
}

int
mail_cache_find_part(const struct mail_cache_record *rec,
		     const uint32_t *path, unsigned int depth,
		     unsigned int *index_r)
{
	unsigned int idx = 0;
	bool message_context = true;

	for (unsigned int i = 0; i < depth; i++) {
		const struct mail_cache_part *p = &rec->parts[idx];
		if ((p->flags & MAIL_PART_FLAG_MULTIPART) != 0) {
			if (nth_child(rec, idx, path[i], &idx) == 0)
				return 0;
		} else if (!(message_context && path[i] == 1)) {
			/* a non-multipart message has only part 1 */
			return 0;
		}
		message_context = false;
		if (i + 1 < depth &&
		    (rec->parts[idx].flags & MAIL_PART_FLAG_MESSAGE) != 0 &&
		    rec->parts[idx].child_count == 1) {
			/* numbers below a message/rfc822 part address the
			   encapsulated message */
			idx++;
			message_context = true;
		}
	}
	*index_r = idx;
	return 1;
}

int
mail_cache_part_message(const struct mail_cache_record *rec,
			unsigned int index, unsigned int *index_r)
{
	if (index >= rec->part_count)
		return 0;
	const struct mail_cache_part *p = &rec->parts[index];
	if ((p->flags & MAIL_PART_FLAG_MESSAGE) != 0 && p->child_count == 1) {
		*index_r = index + 1;
		return 1;
	}
	if ((p->flags & MAIL_PART_FLAG_IS_MESSAGE) != 0) {
		*index_r = index;
		return 1;
	}
	return 0;
}

bool
mail_cache_range_has_nul(const struct mail_cache_record *record,
			 uint64_t off, uint64_t len)
{
	if (record == NULL)
		return true;
	if (len == 0)
		return false;
	for (unsigned i = 0; i < record->part_count; i++) {
		const struct mail_cache_part *part = &record->parts[i];

		if ((part->flags & MAIL_PART_FLAG_HAS_NUL) == 0)
			continue;
		/* [header_offset, body_end) against [off, off + len);
		   off + len cannot wrap: both lie within the message. */
		if (part->header_offset < off + len && off < part->body_end)
			return true;
	}
	return false;
}

size_t
mail_nul_mask(uint8_t *data, size_t len)
{
	size_t count = 0;
	uint8_t *p = data, *end = data + len;

	while (p < end && (p = memchr(p, '\0', (size_t)(end - p))) != NULL) {
		*p++ = 0x80;
		count++;
	}
	return count;
}
