/* ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051 7.5.2, RFC 3501 7.4.2). */
#include "mail/imap-bodystructure.h"
#include "lib/limits.h"

#include <inttypes.h>
#include <string.h>

static bool
can_quote(const uint8_t *p, size_t len)
{
	if (len > IMAP_MAX_QUOTED_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		/* RFC 9051 9: QUOTED-CHAR is 7-bit TEXT-CHAR (no CR, LF,
		   NUL); 8-bit needs a literal for IMAP4rev1 clients */
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n' || p[i] >= 0x80)
			return false;
	}
	return true;
}

void
imap_write_nstring(struct buf *out, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (data == NULL) {
		buf_append(out, "NIL", 3);
		return;
	}
	if (can_quote(p, len)) {
		buf_append_c(out, '"');
		size_t start = 0;
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '"' || p[i] == '\\') {
				buf_append(out, p + start, i - start);
				buf_append_c(out, '\\');
				start = i;
			}
		}
		buf_append(out, p + start, len - start);
		buf_append_c(out, '"');
		return;
	}
	buf_appendf(out, "{%zu}\r\n", len);
	uint8_t *dst = buf_reserve(out, len);
	if (dst == NULL)
		return;
	/* a literal may hold anything but NUL (RFC 9051 4.3) */
	for (size_t i = 0; i < len; i++)
		dst[i] = p[i] == '\0' ? '?' : p[i];
	buf_commit(out, len);
}

void
imap_write_nstr(struct buf *out, const char *str)
{
	imap_write_nstring(out, str, str == NULL ? 0 : strlen(str));
}

static void
write_addresses(struct buf *out, const struct mail_address *addr)
{
	if (addr == NULL) {
		buf_append(out, "NIL", 3);
		return;
	}
	buf_append_c(out, '(');
	for (; addr != NULL; addr = addr->next) {
		buf_append_c(out, '(');
		imap_write_nstr(out, addr->name);
		buf_append_c(out, ' ');
		imap_write_nstr(out, addr->route);
		buf_append_c(out, ' ');
		imap_write_nstr(out, addr->mailbox);
		buf_append_c(out, ' ');
		imap_write_nstr(out, addr->host);
		buf_append_c(out, ')');
	}
	buf_append_c(out, ')');
}

void
imap_write_envelope(struct buf *out, const struct mail_part *message)
{
	static const struct mail_envelope empty;
	const struct mail_envelope *env =
		message->envelope != NULL ? message->envelope : &empty;

	buf_append_c(out, '(');
	imap_write_nstr(out, env->date);
	buf_append_c(out, ' ');
	imap_write_nstr(out, env->subject);
	buf_append_c(out, ' ');
	write_addresses(out, env->from);
	buf_append_c(out, ' ');
	/* RFC 3501 7.4.2: sender and reply-to default to from */
	write_addresses(out, env->sender != NULL ? env->sender : env->from);
	buf_append_c(out, ' ');
	write_addresses(out, env->reply_to != NULL ? env->reply_to :
			env->from);
	buf_append_c(out, ' ');
	write_addresses(out, env->to);
	buf_append_c(out, ' ');
	write_addresses(out, env->cc);
	buf_append_c(out, ' ');
	write_addresses(out, env->bcc);
	buf_append_c(out, ' ');
	imap_write_nstr(out, env->in_reply_to);
	buf_append_c(out, ' ');
	imap_write_nstr(out, env->message_id);
	buf_append_c(out, ')');
}

static void
write_params(struct buf *out, const struct mail_param *params,
	     unsigned int count)
{
	if (count == 0) {
		buf_append(out, "NIL", 3);
		return;
	}
	buf_append_c(out, '(');
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			buf_append_c(out, ' ');
		imap_write_nstr(out, params[i].name);
		buf_append_c(out, ' ');
		imap_write_nstr(out, params[i].value);
	}
	buf_append_c(out, ')');
}

/* SP body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void
write_ext_common(struct buf *out, const struct mail_part *part)
{
	buf_append_c(out, ' ');
	if (part->disposition == NULL) {
		buf_append(out, "NIL", 3);
	} else {
		buf_append_c(out, '(');
		imap_write_nstr(out, part->disposition);
		buf_append_c(out, ' ');
		write_params(out, part->disposition_params,
			     part->disposition_param_count);
		buf_append_c(out, ')');
	}
	buf_append_c(out, ' ');
	if (part->language_count == 0) {
		buf_append(out, "NIL", 3);
	} else {
		buf_append_c(out, '(');
		for (unsigned int i = 0; i < part->language_count; i++) {
			if (i > 0)
				buf_append_c(out, ' ');
			imap_write_nstr(out, part->languages[i]);
		}
		buf_append_c(out, ')');
	}
	buf_append_c(out, ' ');
	imap_write_nstr(out, part->location);
}

/* "(" media SP body-fields, up to body-fld-octets */
static void
write_fields(struct buf *out, const struct mail_part *part)
{
	buf_append_c(out, '(');
	imap_write_nstr(out, part->type);
	buf_append_c(out, ' ');
	imap_write_nstr(out, part->subtype);
	buf_append_c(out, ' ');
	write_params(out, part->params, part->param_count);
	buf_append_c(out, ' ');
	imap_write_nstr(out, part->id);
	buf_append_c(out, ' ');
	imap_write_nstr(out, part->description);
	buf_append_c(out, ' ');
	imap_write_nstr(out, part->encoding_name != NULL ?
			part->encoding_name : "7bit");
	buf_appendf(out, " %" PRIu64, part->body_end - part->body_offset);
}

static void
write_leaf(struct buf *out, const struct mail_part *part, bool extended)
{
	write_fields(out, part);
	if ((part->flags & MAIL_PART_FLAG_TEXT) != 0)
		buf_appendf(out, " %" PRIu64, part->body_lines);
	if (extended) {
		buf_append_c(out, ' ');
		imap_write_nstr(out, part->md5);
		write_ext_common(out, part);
	}
	buf_append_c(out, ')');
}

static void
write_multipart_end(struct buf *out, const struct mail_part *part,
		    bool extended)
{
	buf_append_c(out, ' ');
	imap_write_nstr(out, part->subtype);
	if (extended) {
		buf_append_c(out, ' ');
		write_params(out, part->params, part->param_count);
		write_ext_common(out, part);
	}
	buf_append_c(out, ')');
}

static void
write_message_end(struct buf *out, const struct mail_part *part,
		  bool extended)
{
	buf_appendf(out, " %" PRIu64, part->body_lines);
	if (extended) {
		buf_append_c(out, ' ');
		imap_write_nstr(out, part->md5);
		write_ext_common(out, part);
	}
	buf_append_c(out, ')');
}

void
imap_write_body(struct buf *out, const struct mail_part *top, bool extended)
{
	const struct mail_part *cur = top;

	/* Iterative walk (the tree may be MAIL_MAX_DEPTH deep): enter a
	   part, then on leaving it write what closes its parent. */
	for (;;) {
		if ((cur->flags & MAIL_PART_FLAG_MULTIPART) != 0) {
			buf_append_c(out, '(');
			if (cur->children != NULL) {
				cur = cur->children;
				continue;
			}
			/* RFC 9051 needs 1*body: an empty text part */
			buf_append_str(out, "(\"text\" \"plain\" (\"charset\" "
				       "\"us-ascii\") NIL NIL \"7bit\" 0 0");
			if (extended)
				buf_append_str(out, " NIL NIL NIL NIL");
			buf_append_c(out, ')');
			write_multipart_end(out, cur, extended);
		} else if ((cur->flags & MAIL_PART_FLAG_MESSAGE) != 0 &&
			   cur->children != NULL) {
			write_fields(out, cur);
			buf_append_c(out, ' ');
			imap_write_envelope(out, cur->children);
			buf_append_c(out, ' ');
			cur = cur->children;
			continue;
		} else {
			write_leaf(out, cur, extended);
		}

		/* leave cur */
		for (;;) {
			if (cur == top)
				return;
			if (cur->next != NULL &&
			    (cur->parent->flags & MAIL_PART_FLAG_MULTIPART)) {
				cur = cur->next;
				break;
			}
			cur = cur->parent;
			if ((cur->flags & MAIL_PART_FLAG_MULTIPART) != 0)
				write_multipart_end(out, cur, extended);
			else
				write_message_end(out, cur, extended);
		}
	}
}
