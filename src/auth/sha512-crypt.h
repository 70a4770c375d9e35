#ifndef QUIRE_AUTH_SHA512_CRYPT_H
#define QUIRE_AUTH_SHA512_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

/* "$6$" + 16 salt + "$" + 86 hash + NUL */
#define SHA512_CRYPT_MAX 128

/* True for the settings sha512_crypt() computes: "$6$<salt>$...", the
   salt 1 to 16 characters of crypt's base64 alphabet, no "rounds=". */
bool sha512_crypt_handles(const char *setting);
/* The SHA512-CRYPT hash of key under setting (a stored hash or just its
   "$6$salt$" prefix) into out, as crypt(3) gives it. Returns 0, or -1
   for a setting it does not handle (see above) or no memory. */
int sha512_crypt(const char *key, size_t key_len, const char *setting,
		 char out[SHA512_CRYPT_MAX]);

#endif
