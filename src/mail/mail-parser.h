#ifndef QUIRE_MAIL_PARSER_H
#define QUIRE_MAIL_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Streaming RFC 5322 / MIME parser, run once per message at delivery or
   APPEND.

   The parser takes the message in chunks of any size (the result is the
   same however the input is split), does no I/O and never buffers a body:
   it keeps one part's header (up to MAIL_MAX_HEADER_SIZE) and one line
   prefix (enough to recognise a boundary). Memory for the result is
   bounded by MAIL_MAX_PARSE_MEMORY and MAIL_MAX_PARTS whatever the input.
   It never fails: broken MIME gives the best structure we can make.

   Rules, where RFCs leave room:
   - Lines end at LF; a CR before it is part of the line terminator. Bare
     LF and NUL bytes are tolerated (NULs in header values become '?').
   - The header ends at the first empty line, at a line that is one of
     the enclosing multiparts' boundaries, or at the end of input.
   - A boundary line is "--" + boundary at the start of a line; what
     follows is ignored except a "--" right after it, which closes the
     multipart (RFC 2046 5.1.1 forbids the delimiter inside parts, so a
     prefix match is enough). The innermost open boundaries are tried
     first, the longest match wins. The line break before a boundary line
     belongs to the boundary, not to the part before it.
   - A boundary of an outer multipart closes every part inside it (a
     missing close delimiter). End of input closes everything.
   - Preamble and epilogue belong to the multipart's body but to no part.
   - A missing or unparsable Content-Type is text/plain; charset=us-ascii
     (RFC 2045 5.2), or message/rfc822 directly inside multipart/digest
     (RFC 2046 5.1.5). A multipart without a usable boundary keeps its
     type and has no children.
   - message/rfc822 and message/global parts contain one child: the
     encapsulated message, whose header starts where the part's body
     starts and which has its own envelope and part tree.
   - Containers deeper than MAIL_MAX_DEPTH, and parts past
     MAIL_MAX_PARTS, are opaque: their type becomes
     application/octet-stream (MAIL_PART_FLAG_OPAQUE) / the rest of the
     multipart is treated as epilogue.
   - Body line count (IMAP body-fld-lines) is the number of LFs in the
     body as delimited above.

   Everything in the result is owned by struct mail_parse_result and
   lives until mail_parse_result_free(). Strings are NUL-terminated;
   header-derived strings are raw bytes (possibly 8-bit), unfolded. */

struct mail_param {
	const char *name;
	/* RFC 2231 continuations merged; charset-encoded values (name*=)
	   decoded to UTF-8 and stored under the plain name. */
	const char *value;
};

/* One element of an address list, in IMAP's shape (RFC 3501 7.4.2):
   a group is a start marker (name NULL, route NULL, mailbox = group
   name, host NULL) then its members then an end marker (all NULL). */
struct mail_address {
	struct mail_address *next;
	const char *name;    /* display name, raw (not RFC 2047 decoded) */
	const char *route;   /* obsolete source route "@a,@b", or NULL */
	const char *mailbox; /* local part; group name for a start marker */
	const char *host;    /* domain; "" when the address had none */
};

/* The ENVELOPE fields of a message (root or encapsulated). Missing
   headers are NULL; strings are raw unfolded header values. */
struct mail_envelope {
	const char *date;
	const char *subject;
	struct mail_address *from;
	struct mail_address *sender;   /* NULL: absent (writer uses from) */
	struct mail_address *reply_to; /* NULL: absent (writer uses from) */
	struct mail_address *to;
	struct mail_address *cc;
	struct mail_address *bcc;
	const char *in_reply_to;
	const char *message_id;
};

enum mail_encoding {
	MAIL_ENCODING_7BIT = 0,
	MAIL_ENCODING_8BIT,
	MAIL_ENCODING_BINARY,
	MAIL_ENCODING_BASE64,
	MAIL_ENCODING_QP,
	MAIL_ENCODING_UNKNOWN, /* an x-token or garbage: undecodable */
};

enum mail_part_flags {
	MAIL_PART_FLAG_MULTIPART = 0x01, /* children are the MIME parts */
	MAIL_PART_FLAG_MESSAGE = 0x02,   /* one child: the encapsulated msg */
	MAIL_PART_FLAG_TEXT = 0x04,      /* text/ *: has body-fld-lines */
	MAIL_PART_FLAG_OPAQUE = 0x08,    /* too deep: not parsed inside */
	MAIL_PART_FLAG_HEADER_TRUNCATED = 0x10, /* header > the cap */
	MAIL_PART_FLAG_HAS_NUL = 0x20,   /* NUL bytes in header or body */
	MAIL_PART_FLAG_IS_MESSAGE = 0x40, /* root or encapsulated message:
					     envelope is set */
};

struct mail_part {
	struct mail_part *parent;
	struct mail_part *children; /* first child */
	struct mail_part *next;     /* next sibling */
	unsigned int child_count;
	unsigned int flags; /* enum mail_part_flags */

	/* Absolute byte offsets in the message. header_size is
	   body_offset - header_offset (includes the empty line), body size
	   is body_end - body_offset. */
	uint64_t header_offset;
	uint64_t body_offset;
	uint64_t body_end;
	uint64_t body_lines;

	const char *type;    /* "text" by default; never NULL */
	const char *subtype; /* "plain" by default; never NULL */
	const struct mail_param *params;
	unsigned int param_count;

	const char *encoding_name; /* raw token, NULL if absent */
	enum mail_encoding encoding;

	const char *disposition; /* NULL if absent */
	const struct mail_param *disposition_params;
	unsigned int disposition_param_count;
	const char *const *languages;
	unsigned int language_count;
	const char *location;
	const char *id;
	const char *description;
	const char *md5;

	/* Set when MAIL_PART_FLAG_IS_MESSAGE. */
	const struct mail_envelope *envelope;
};

/* Optional streaming consumers of the decoded text, for full-text search
   (see mail-text.h for the decoding rules). The part passed is still
   being parsed: only its Content-* fields are final. */
struct mail_parser_text_callbacks {
	/* Every header field of the message and of every part. name is
	   raw; value is unfolded and RFC 2047-decoded to UTF-8. */
	void (*header)(void *context, const struct mail_part *part,
		       const char *name, const char *value);
	/* Decoded UTF-8 text of a text/ * leaf part (transfer encoding
	   undone, charset converted, HTML reduced to text), in pieces of
	   any size. */
	void (*body)(void *context, const struct mail_part *part,
		     const uint8_t *data, size_t len);
};

struct mail_parser;
struct mail_parse_result;

/* text_callbacks may be NULL. The parser copies the pointers, not the
   struct: it must outlive the parser. */
struct mail_parser *
mail_parser_create(const struct mail_parser_text_callbacks *text_callbacks,
		   void *context);

/* Feeds the next len bytes of the message. Never fails. */
void mail_parser_feed(struct mail_parser *parser, const uint8_t *data,
		      size_t len);

/* Ends the input, frees the parser (sets *parser to NULL) and returns
   the result, which the caller frees. */
struct mail_parse_result *mail_parser_finish(struct mail_parser **parser);

/* The whole message: header_offset 0, body_end = message size. */
const struct mail_part *
mail_parse_result_root(const struct mail_parse_result *result);

/* RFC 8970 preview: up to 200 characters of the first text/plain or
   text/html part (HTML turned into text) that is not an attachment and
   has some text, whitespace collapsed, valid UTF-8; "" if none. */
const char *mail_parse_result_preview(const struct mail_parse_result *result);

/* Total size of the message in bytes. */
uint64_t mail_parse_result_size(const struct mail_parse_result *result);

void mail_parse_result_free(struct mail_parse_result **result);

/* Convenience: the whole message in one buffer. */
struct mail_parse_result *mail_parse(const uint8_t *data, size_t len);

/* "base64" -> MAIL_ENCODING_BASE64 etc., case-insensitive; NULL gives
   7BIT (RFC 2045 6.1 default). */
enum mail_encoding mail_encoding_from_name(const char *name);

#endif
