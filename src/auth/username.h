#ifndef QUIRE_AUTH_USERNAME_H
#define QUIRE_AUTH_USERNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* User names, as every part of quire takes them (passwd-file, SASL, the
   CLI, LMTP recipients' local parts, store paths).

   Allowed bytes: ASCII letters, digits, '.', '_', '-', '+', '@'; length
   1..AUTH_MAX_USERNAME; the first byte is neither '.' nor '-' (so a name
   is never ".", "..", a hidden file or an option). The set keeps names
   safe as path components and passwd-file fields (no ':', '/', space,
   control or non-ASCII bytes).

   Case: names are case-sensitive as stored in the passwd-file ("Alice"
   and "alice" may be two users). A lookup tries the name exactly as
   given first and, if that finds nothing, its ASCII-lowercased form; the
   user then is the name as stored, which is what sessions must use from
   then on (store path, logs). So "Alice@Example.org" logs in as
   "alice@example.org" when only the latter exists. */

/* True if name (len bytes, need not be NUL-terminated) is a valid user
   name. */
bool auth_username_valid(const void *name, size_t len);

/* The same for a NUL-terminated string. */
bool auth_username_validz(const char *name);

/* True if name has an ASCII upper-case letter (so a lowercased retry
   could find something else). */
bool auth_username_has_upper(const char *name);

/* Writes name ASCII-lowercased into out (size outsize, NUL-terminated).
   Returns 0, or -1 if it does not fit. */
int auth_username_lowercase(const char *name, char *out, size_t outsize);

#endif
