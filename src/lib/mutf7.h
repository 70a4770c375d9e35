#ifndef QUIRE_MUTF7_H
#define QUIRE_MUTF7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Modified UTF-7 (RFC 3501 5.1.3), the mailbox name encoding of IMAP4rev1
   clients, and UTF-8 validity (RFC 3629), the encoding of IMAP4rev2 and
   of the store.

   Input is len bytes, not NUL-terminated. Output strings are allocated
   with malloc, NUL-terminated, owned by the caller (free()). Allocation
   failure aborts. U+0000 is refused both ways: a mailbox name cannot hold
   it. */

/* True if data is well-formed UTF-8: no overlong forms, no surrogates
   (U+D800..U+DFFF), nothing past U+10FFFF, no truncated sequence. */
bool utf8_is_valid(const uint8_t *data, size_t len);

/* Converts modified UTF-7 to UTF-8. Refuses (returns -1 with *error_r a
   static text) bytes outside 0x20..0x7e, a shift "&" not closed by "-",
   characters outside the modified BASE64 alphabet, a printable ASCII
   character encoded in BASE64, non-zero or excess padding bits, unpaired
   UTF-16 surrogates, and a null shift ("-&" inside a name, as in
   "&AOQ-&AOQ-"). Returns 0 with *out_r and *out_len_r on success. */
int mutf7_to_utf8(const uint8_t *in, size_t len, char **out_r,
		  size_t *out_len_r, const char **error_r);

/* Converts UTF-8 to modified UTF-7 ("&" becomes "&-", every run of
   characters outside 0x20..0x7e becomes one BASE64 section). Returns -1
   with *error_r if the input is not valid UTF-8 or holds U+0000. */
int utf8_to_mutf7(const uint8_t *in, size_t len, char **out_r,
		  size_t *out_len_r, const char **error_r);

/* True if data is valid modified UTF-7 by the rules of mutf7_to_utf8(). */
bool mutf7_is_valid(const uint8_t *data, size_t len);

#endif
