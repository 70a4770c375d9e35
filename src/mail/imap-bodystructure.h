#ifndef QUIRE_IMAP_BODYSTRUCTURE_H
#define QUIRE_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/mail-parser.h"

/* IMAP serialisation of a parse result, per RFC 9051 7.5.2 and RFC 3501
   7.4.2 (the grammar is the same for what is written here).

   Strings are written quoted when they are short (IMAP_MAX_QUOTED_LEN),
   7-bit and have no CR, LF or NUL; otherwise as a literal {n}\r\n...
   Absent values are NIL. A NUL byte (not allowed in any IMAP string) is
   sent as '?'. Values are sent as they are in the header (not RFC 2047
   decoded), as servers do; types and parameter names keep the case they
   had in the message, defaults are lowercase ("text" "plain"
   ("charset" "us-ascii"), "7bit").

   All writers append to out; their output is the parenthesised list
   itself, without the FETCH item name. */

/* An IMAP string / nstring for len bytes (data NULL -> NIL). */
void imap_write_nstring(struct buf *out, const void *data, size_t len);
/* The same for a C string (NULL -> NIL). */
void imap_write_nstr(struct buf *out, const char *str);

/* ENVELOPE of a message part (root or the child of a message/rfc822
   part). Sender and Reply-To default to From (RFC 3501 7.4.2). A part
   without an envelope gets all-NIL fields. */
void imap_write_envelope(struct buf *out, const struct mail_part *message);

/* BODY (extended = false: no extension data) or BODYSTRUCTURE
   (extended = true: body-ext-1part / body-ext-mpart) of a message part.
   A multipart without children is written with one empty text/plain part
   so that the grammar (1*body) holds. */
void imap_write_body(struct buf *out, const struct mail_part *message,
		     bool extended);

#endif
