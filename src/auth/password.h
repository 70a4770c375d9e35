#ifndef QUIRE_AUTH_PASSWORD_H
#define QUIRE_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

/* Stored password values, in the form of Dovecot's passwd-file so that an
   existing user list works unchanged: "{SCHEME}value". A value with no
   "{SCHEME}" prefix is CRYPT. Scheme names are matched case-insensitively.

     {SHA512-CRYPT}$6$salt$hash     crypt(3) forms; each of these accepts
     {SHA256-CRYPT}$5$salt$hash     any hash crypt(3) knows, the name only
     {BLF-CRYPT}$2y$05$...          picks the form password_generate makes
     {CRYPT}$y$j9T$...              (yescrypt, sha-crypt, bcrypt, ...)
     {ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$salt$hash
     {ARGON2I}$argon2i$v=19$m=...,t=...,p=...$salt$hash
     {SCRAM-SHA-256}iterations,salt_b64,stored_key_b64,server_key_b64
     {PLAIN}secret, {CLEARTEXT}secret   accepted; the caller should warn

   All functions are thread-safe (crypt uses crypt_rn with its own state).
   Error strings are static text, safe to log; they never contain the
   password or the stored value. */

enum password_scheme {
	PASSWORD_SCHEME_CRYPT,
	PASSWORD_SCHEME_SHA512_CRYPT,
	PASSWORD_SCHEME_SHA256_CRYPT,
	PASSWORD_SCHEME_BLF_CRYPT,
	PASSWORD_SCHEME_ARGON2ID,
	PASSWORD_SCHEME_ARGON2I,
	PASSWORD_SCHEME_SCRAM_SHA256,
	PASSWORD_SCHEME_PLAIN,
	PASSWORD_SCHEME_CLEARTEXT,
};

/* SHA-256 output size: the length of SCRAM-SHA-256 keys. */
#define PASSWORD_SCRAM_KEY_LEN 32

/* What SCRAM-SHA-256 (RFC 5802 section 3) needs from a stored value. */
struct password_scram_keys {
	unsigned iterations;
	/* The salt as sent to clients: base64, NUL-terminated. */
	char salt_b64[AUTH_SCRAM_SALT_B64_MAX + 1];
	uint8_t stored_key[PASSWORD_SCRAM_KEY_LEN];
	uint8_t server_key[PASSWORD_SCRAM_KEY_LEN];
};

/* Parses a scheme name ("SHA512-CRYPT", case-insensitive, no braces).
   Returns 0 with *scheme_r set, -1 if unknown. */
int password_scheme_parse(const char *name, enum password_scheme *scheme_r);

/* The canonical upper-case name of a scheme, e.g. "SHA512-CRYPT". */
const char *password_scheme_name(enum password_scheme scheme);

/* Splits a stored value into its scheme and the part after "{SCHEME}"
   (*value_r points into stored). No prefix means CRYPT. Returns 0, or -1
   if the prefix names an unknown scheme or is unterminated. */
int password_stored_scheme(const char *stored, enum password_scheme *scheme_r,
			   const char **value_r, const char **error_r);

/* Checks plain (plain_len bytes, need not be NUL-terminated) against the
   stored value. Returns 1 on a match, 0 on a mismatch, -1 if the stored
   value is unusable (unknown scheme, malformed hash; *error_r says
   which). Compares in constant time. A password containing a NUL byte
   never matches a crypt(3) hash. Passwords are compared as bytes (no
   SASLprep normalisation), as Dovecot does. Slow by design for the hashed
   schemes: call it off the event loop if that matters. */
int password_verify(const char *stored, const uint8_t *plain,
		    size_t plain_len, const char **error_r);

/* Makes a stored value "{SCHEME}..." for plain (NUL-terminated) with a
   fresh random salt. scheme is a name as in password_scheme_parse;
   supported: SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, CRYPT (yescrypt),
   ARGON2ID, ARGON2I, SCRAM-SHA-256 (4096 iterations, 16-byte salt),
   PLAIN. Returns 0 with *stored_r malloc'ed (caller frees), or -1. A
   stored value never contains ':' or a line break, so it fits a
   passwd-file field. */
int password_generate(const char *scheme, const char *plain,
		      char **stored_r, const char **error_r);

/* True if the stored value keeps the password in clear ({PLAIN} or
   {CLEARTEXT}): the caller should log a warning, and only these values
   allow mechanisms that need the plaintext (APOP). */
bool password_is_cleartext(const char *stored);

/* If the stored value is cleartext, sets *plain_r to point into stored
   and *len_r to its length and returns 1; returns 0 otherwise. */
int password_get_cleartext(const char *stored, const char **plain_r,
			   size_t *len_r);

/* Yields SCRAM-SHA-256 keys from a stored value: parsed from a
   {SCRAM-SHA-256} value, or derived from a {PLAIN}/{CLEARTEXT} one (4096
   iterations; a 16-byte salt that is a keyed hash of the value under a
   per-process secret, so repeated calls give the same salt, as a stored
   SCRAM value would, until the process restarts). Returns 1
   with *keys_r filled, 0 if the scheme cannot yield them (a one-way
   hash), -1 if the value is malformed. */
int password_scram_sha256_keys(const char *stored,
			       struct password_scram_keys *keys_r,
			       const char **error_r);

#endif
