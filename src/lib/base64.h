#ifndef QUIRE_BASE64_H
#define QUIRE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Base64 with the standard alphabet and '=' padding (RFC 4648 section 4),
   the form SASL (RFC 4422), IMAP AUTHENTICATE, POP3 AUTH and the stored
   SCRAM keys use. No line breaks are written or accepted. */

/* Characters base64_encode writes for len input bytes, not counting the
   terminating NUL. Aborts if the result would overflow size_t. */
size_t base64_encoded_len(size_t len);

/* Encodes len bytes of in into out, which must hold
   base64_encoded_len(len) + 1 bytes; out is NUL-terminated. */
void base64_encode(const void *in, size_t len, char *out);

/* The same into a malloc'ed, NUL-terminated string (caller frees). Aborts
   on out of memory. */
char *base64_encode_alloc(const void *in, size_t len);

/* Bytes base64_decode may write for in_len encoded characters: an upper
   bound (padding makes the real length up to 2 less). Use it to size the
   output buffer before decoding. */
size_t base64_decoded_max_len(size_t in_len);

/* Strict decode of exactly in_len characters (not NUL-terminated) into
   out, which must hold base64_decoded_max_len(in_len) bytes. Rejects:
   a length that is not a multiple of 4, any byte outside the alphabet
   (spaces and line breaks included), '=' anywhere but as the last one or
   two characters, and non-zero unused bits before the padding (so every
   byte string has exactly one accepted encoding). The empty input decodes
   to zero bytes. Returns 0 with *out_len_r set, or -1 (then out may hold
   partial output and *out_len_r is untouched). */
int base64_decode(const void *in, size_t in_len, uint8_t *out,
		  size_t *out_len_r);

#endif
