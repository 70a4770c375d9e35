#ifndef QUIRE_MAIL_BINARY_H
#define QUIRE_MAIL_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mail-parser.h"

/* Converting binary MIME parts for IMAP (RFC 9051 4.3: a plain literal
   MUST NOT contain NUL, so BODY[...] could not return them; RFC 3516
   BINARY[...] still gives the original bytes because it decodes).

   A part is converted when it is a leaf (not multipart, not message/ *),
   its parse saw a NUL (MAIL_PART_FLAG_HAS_NUL), its transfer encoding is
   an identity one (7bit, 8bit, binary or absent), its body is not empty,
   and its header is complete (not truncated by the parser, ends with the
   empty line). Its Content-Transfer-Encoding fields are dropped,
   "Content-Transfer-Encoding: base64" is added before the empty line and
   the body is base64 in CRLF lines of 76 characters (RFC 2045 6.8); a
   final line break of the body is kept. Everything else is copied as it
   is. Parts that do not qualify keep their NULs (FETCH masks them). */

/* True if some part of result qualifies for conversion. */
bool mail_binary_needs_rewrite(const struct mail_parse_result *result);

/* Writes the converted message: reads the original (the one result was
   parsed from) with pread() from fd and hands the output, in pieces of
   any size, to write(). Memory use is bounded (one header, one read
   chunk), whatever the message size. write returns 0 or -1 with
   *error_r; the first failure stops the rewrite. Returns 0, or -1 with
   *error_r (a read error or short file, or write's error). */
int mail_binary_rewrite(const struct mail_parse_result *result, int fd,
			int (*write)(void *context, const void *data,
				     size_t len, const char **error_r),
			void *context, const char **error_r);

#endif
