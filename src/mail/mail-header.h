#ifndef QUIRE_MAIL_HEADER_H
#define QUIRE_MAIL_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Header field parsing: RFC 5322 unfolding, RFC 2045 structured values
   with RFC 2231 parameters, RFC 2047 encoded-words, RFC 5322 address
   lists. Pure functions over (pointer, length) input; outputs go to a
   struct buf the caller owns, or to callbacks. None of them fails on
   broken input: they return what can be made of it. */

/* Appends the unfolded value to out: CRLF/LF line breaks removed (the
   whitespace after them kept, RFC 5322 2.2.3), a lone CR kept, NUL bytes
   turned into '?', leading and trailing whitespace dropped. */
void mail_header_unfold(const uint8_t *value, size_t len, struct buf *out);

/* RFC 2047: appends value (an unfolded header value) to out as UTF-8,
   with encoded-words ("=?charset?B|Q?text?=") decoded through iconv.
   Whitespace between adjacent encoded-words is dropped and adjacent
   words of one charset are joined before conversion (so a character
   split across words survives). Encoded-words with an unknown charset
   stay as they are. Bytes outside encoded-words that are not valid
   UTF-8 become U+FFFD. */
void mail_header_decode_2047(const uint8_t *value, size_t len,
			     struct buf *out);

/* One parameter of a Content-Type / Content-Disposition value, after
   RFC 2231 merging. Strings are NUL-terminated, owned by the caller of
   mail_header_parse_params' callback only for the callback's duration. */
typedef void mail_header_param_callback_t(void *context, const char *name,
					  const char *value);

/* Parses "type/subtype *(; param)" (RFC 2045 5.1) or, with
   want_subtype false, "token *(; param)" (RFC 2183). Comments and
   whitespace are skipped anywhere; quoted-string values unquoted;
   RFC 2231 continuations (name*0, name*1*) merged in section order and
   extended values (charset'lang'%xx) decoded to UTF-8 under the plain
   name. Parameters are delivered in first-appearance order; a name seen
   twice keeps its first value; at most MAIL_MAX_PARAMS.
   Returns 0 and the type (and subtype) in type_r / subtype_r (buffers
   the caller owns; lowercase is NOT applied), or -1 if the value has no
   valid type, in which case no parameters are delivered. */
int mail_header_parse_content(const uint8_t *value, size_t len,
			      bool want_subtype, struct buf *type_r,
			      struct buf *subtype_r,
			      mail_header_param_callback_t *callback,
			      void *context);

/* Appends to out the first RFC 2045 token of value (comments and
   whitespace skipped), e.g. for Content-Transfer-Encoding. Returns 0, or
   -1 if there is none. */
int mail_header_parse_token(const uint8_t *value, size_t len,
			    struct buf *out);

/* Content-Language (RFC 3282): calls callback for each language tag of
   the comma-separated list (comments skipped). At most MAIL_MAX_PARAMS. */
void mail_header_parse_languages(const uint8_t *value, size_t len,
				 void (*callback)(void *context,
						  const char *tag),
				 void *context);

/* One address of an address list; see struct mail_address in
   mail-parser.h for the group markers. Strings valid only during the
   callback; name and route may be NULL; for group markers host is NULL. */
typedef void mail_header_address_callback_t(void *context, const char *name,
					    const char *route,
					    const char *mailbox,
					    const char *host);

/* Parses an RFC 5322 address-list (also obsolete syntax: empty list
   elements, routes, comments, groups with no ';', missing domains) and
   calls callback per address / group marker, at most MAIL_MAX_ADDRESSES
   addresses. The display name is the phrase with quotes removed and words
   joined by single spaces, kept raw (encoded-words not decoded); if there
   is none, the text of the last comment is used. A group that is not
   closed is closed at the end. */
void mail_header_parse_addresses(const uint8_t *value, size_t len,
				 mail_header_address_callback_t *callback,
				 void *context);

#endif
