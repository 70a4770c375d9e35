#ifndef QUIRE_MAIL_DECODE_H
#define QUIRE_MAIL_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/mail-parser.h"

/* Streaming Content-Transfer-Encoding decoder (RFC 2045 6.7, 6.8), for
   FETCH BINARY[n] / BINARY.SIZE (RFC 3516) and for text extraction.

   Feed the part's body bytes (body_offset .. body_end) in chunks of any
   size; decoded bytes are appended to out. The result does not depend on
   how the input is split. Decoding is lenient, as clients expect from a
   server: base64 ignores characters outside its alphabet and stops at
   '='; quoted-printable keeps a malformed "=XY" as is and drops trailing
   whitespace on lines. 7bit, 8bit and binary pass through. */

struct mail_decoder;

/* Returns NULL for MAIL_ENCODING_UNKNOWN (IMAP answers
   NO [UNKNOWN-CTE]). */
struct mail_decoder *mail_decoder_create(enum mail_encoding encoding);
void mail_decoder_destroy(struct mail_decoder **decoder);

/* Returns 0, or -1 if out overflowed its max (then the decoder's state is
   unspecified). */
int mail_decoder_feed(struct mail_decoder *decoder, const uint8_t *data,
		      size_t len, struct buf *out);
/* Flushes what is held back (a partial base64 quantum, a pending QP
   line end) at the end of the body. */
int mail_decoder_finish(struct mail_decoder *decoder, struct buf *out);

/* Streaming charset conversion to UTF-8 through iconv. Input split
   anywhere gives the same output. Invalid input bytes become U+FFFD; an
   unknown charset is treated as UTF-8 (then validated the same way). */
struct mail_charset_conv;

struct mail_charset_conv *mail_charset_conv_create(const char *charset);
void mail_charset_conv_destroy(struct mail_charset_conv **conv);
void mail_charset_conv_feed(struct mail_charset_conv *conv,
			    const uint8_t *data, size_t len, struct buf *out);
void mail_charset_conv_finish(struct mail_charset_conv *conv,
			      struct buf *out);

/* One-shot: converts data from charset to UTF-8. Returns 0, or -1 if
   the charset is unknown to iconv (then nothing is appended). Invalid
   sequences become U+FFFD. */
int mail_charset_to_utf8(const char *charset, const uint8_t *data,
			 size_t len, struct buf *out);

/* Appends data to out replacing invalid UTF-8 with U+FFFD. */
void mail_utf8_sanitize(const uint8_t *data, size_t len, struct buf *out);

#endif
