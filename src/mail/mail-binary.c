/* Base64 conversion of binary leaf parts (see mail-binary.h). */
#include "mail/mail-binary.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/limits.h"

/* Bytes read per pread() and output gathered before a write() call. */
#define BINARY_CHUNK (64 * 1024)
/* RFC 2045 6.8: encoded lines of at most 76 characters; 57 input bytes
   make one full line. */
#define BINARY_LINE_IN 57

static const char cte_field[] = "Content-Transfer-Encoding";

struct rewrite {
	int fd;
	int (*write)(void *context, const void *data, size_t len,
		     const char **error_r);
	void *context;
	struct buf out;
	uint8_t *chunk;
	const char *error;
};

static int
rw_flush(struct rewrite *rw)
{
	if (rw->out.len == 0)
		return 0;
	if (rw->write(rw->context, rw->out.data, rw->out.len, &rw->error) < 0)
		return -1;
	buf_reset(&rw->out);
	return 0;
}

static int
rw_out(struct rewrite *rw, const void *data, size_t len)
{
	buf_append(&rw->out, data, len);
	return rw->out.len >= BINARY_CHUNK ? rw_flush(rw) : 0;
}

/* Reads len (<= BINARY_CHUNK) bytes at off into rw->chunk. */
static int
rw_read(struct rewrite *rw, uint64_t off, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(rw->fd, rw->chunk + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rw->error = n < 0 ? "reading the message failed" :
				"the message file is too short";
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int
rw_copy(struct rewrite *rw, uint64_t off, uint64_t end)
{
	while (off < end) {
		size_t n = end - off < BINARY_CHUNK ? (size_t)(end - off) :
			BINARY_CHUNK;

		if (rw_read(rw, off, n) < 0 || rw_out(rw, rw->chunk, n) < 0)
			return -1;
		off += n;
	}
	return 0;
}

static bool
part_qualifies(const struct mail_part *part)
{
	if ((part->flags & (MAIL_PART_FLAG_MULTIPART | MAIL_PART_FLAG_MESSAGE |
			    MAIL_PART_FLAG_HEADER_TRUNCATED)) != 0 ||
	    (part->flags & MAIL_PART_FLAG_HAS_NUL) == 0)
		return false;
	if (part->encoding != MAIL_ENCODING_7BIT &&
	    part->encoding != MAIL_ENCODING_8BIT &&
	    part->encoding != MAIL_ENCODING_BINARY)
		return false;
	return part->body_end > part->body_offset &&
		part->body_offset > part->header_offset &&
		part->body_offset - part->header_offset <= MAIL_MAX_HEADER_SIZE;
}

/* Preorder successor without recursion. */
static const struct mail_part *
part_next(const struct mail_part *part)
{
	if (part->children != NULL)
		return part->children;
	while (part != NULL && part->next == NULL)
		part = part->parent;
	return part == NULL ? NULL : part->next;
}

bool
mail_binary_needs_rewrite(const struct mail_parse_result *result)
{
	const struct mail_part *part = mail_parse_result_root(result);

	for (; part != NULL; part = part_next(part)) {
		if (part_qualifies(part))
			return true;
	}
	return false;
}

/* Length of the header's final empty line ("\r\n" or "\n"), or 0 if the
   header does not end with one. */
static size_t
header_empty_line_len(const uint8_t *hdr, size_t len)
{
	if (len >= 1 && hdr[len - 1] == '\n') {
		if (len == 1 || hdr[len - 2] == '\n')
			return 1;
		if (hdr[len - 2] == '\r' && (len == 2 || hdr[len - 3] == '\n'))
			return 2;
	}
	return 0;
}

/* True if the field starting at hdr (a line not starting with
   whitespace) is a Content-Transfer-Encoding field. */
static bool
field_is_cte(const uint8_t *hdr, size_t len)
{
	size_t n = sizeof(cte_field) - 1;

	if (len < n || strncasecmp((const char *)hdr, cte_field, n) != 0)
		return false;
	while (n < len && (hdr[n] == ' ' || hdr[n] == '\t'))
		n++;
	return n < len && hdr[n] == ':';
}

/* The header without its Content-Transfer-Encoding fields, with ours
   before the empty line. Returns 0, or -1 if the header has no empty
   line (then nothing was written). */
static int
write_header(struct rewrite *rw, const uint8_t *hdr, size_t len)
{
	size_t empty = header_empty_line_len(hdr, len), pos = 0;
	size_t fields_end;
	bool skipping = false;

	if (empty == 0)
		return -1;
	fields_end = len - empty;
	while (pos < fields_end) {
		const uint8_t *nl = memchr(hdr + pos, '\n', fields_end - pos);
		size_t end = nl == NULL ? fields_end :
			(size_t)(nl - hdr) + 1;

		/* A line starting with whitespace continues the field
		   before it (RFC 5322 2.2.3). */
		if (hdr[pos] != ' ' && hdr[pos] != '\t')
			skipping = field_is_cte(hdr + pos, end - pos);
		if (!skipping && rw_out(rw, hdr + pos, end - pos) < 0)
			return -2;
		pos = end;
	}
	if (rw_out(rw, cte_field, sizeof(cte_field) - 1) < 0 ||
	    rw_out(rw, ": base64\r\n", 10) < 0 ||
	    rw_out(rw, hdr + fields_end, empty) < 0)
		return -2;
	return 0;
}

static int
write_base64_body(struct rewrite *rw, uint64_t off, uint64_t end)
{
	uint8_t line_in[BINARY_LINE_IN];
	char line_out[80];
	size_t have = 0;
	bool first = true;
	uint8_t last = 0;

	while (off < end) {
		size_t n = end - off < BINARY_CHUNK ? (size_t)(end - off) :
			BINARY_CHUNK;

		if (rw_read(rw, off, n) < 0)
			return -1;
		last = rw->chunk[n - 1];
		for (size_t i = 0; i < n;) {
			size_t take = BINARY_LINE_IN - have;

			if (take > n - i)
				take = n - i;
			memcpy(line_in + have, rw->chunk + i, take);
			have += take;
			i += take;
			if (have < BINARY_LINE_IN)
				break;
			base64_encode(line_in, have, line_out);
			if ((!first && rw_out(rw, "\r\n", 2) < 0) ||
			    rw_out(rw, line_out, strlen(line_out)) < 0)
				return -1;
			first = false;
			have = 0;
		}
		off += n;
	}
	if (have > 0) {
		base64_encode(line_in, have, line_out);
		if ((!first && rw_out(rw, "\r\n", 2) < 0) ||
		    rw_out(rw, line_out, strlen(line_out)) < 0)
			return -1;
	}
	/* A body that ended with its own line break keeps one. */
	if (last == '\n' && rw_out(rw, "\r\n", 2) < 0)
		return -1;
	return 0;
}

int
mail_binary_rewrite(const struct mail_parse_result *result, int fd,
		    int (*write)(void *context, const void *data,
				 size_t len, const char **error_r),
		    void *context, const char **error_r)
{
	const struct mail_part *part = mail_parse_result_root(result);
	struct rewrite rw = { .fd = fd, .write = write, .context = context };
	struct buf hdr, chunk;
	uint64_t pos = 0;
	int ret = 0;

	buf_init(&rw.out, 0);
	buf_init(&hdr, 0);
	buf_init(&chunk, 0);
	/* never appended to: the reserved room stays where it is */
	rw.chunk = buf_reserve(&chunk, BINARY_CHUNK);
	for (; part != NULL && ret == 0; part = part_next(part)) {
		size_t hlen;

		if (!part_qualifies(part))
			continue;
		hlen = (size_t)(part->body_offset - part->header_offset);
		buf_reset(&hdr);
		if (rw_copy(&rw, pos, part->header_offset) < 0) {
			ret = -1;
			break;
		}
		pos = part->header_offset;
		/* Read the header through the chunk buffer. */
		for (uint64_t off = pos; off < part->body_offset;) {
			size_t n = part->body_offset - off < BINARY_CHUNK ?
				(size_t)(part->body_offset - off) :
				BINARY_CHUNK;

			if (rw_read(&rw, off, n) < 0) {
				ret = -1;
				break;
			}
			buf_append(&hdr, rw.chunk, n);
			off += n;
		}
		if (ret < 0)
			break;
		int hret = write_header(&rw, hdr.data, hlen);
		if (hret == -1)
			continue; /* no empty line: copied as it is later */
		if (hret < 0 ||
		    write_base64_body(&rw, part->body_offset,
				      part->body_end) < 0) {
			ret = -1;
			break;
		}
		pos = part->body_end;
	}
	if (ret == 0 &&
	    (rw_copy(&rw, pos, mail_parse_result_size(result)) < 0 ||
	     rw_flush(&rw) < 0))
		ret = -1;
	if (ret < 0)
		*error_r = rw.error;
	buf_free(&chunk);
	buf_free(&hdr);
	buf_free(&rw.out);
	return ret;
}
