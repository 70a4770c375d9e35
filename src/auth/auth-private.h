#ifndef QUIRE_AUTH_PRIVATE_H
#define QUIRE_AUTH_PRIVATE_H

/* Helpers shared by the files of src/auth; not an interface for others. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Out of memory aborts (STYLE.md): no recovery paths for it. */
static inline void *
auth_xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

static inline void *
auth_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

static inline void *
auth_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

static inline char *
auth_xstrndup(const char *s, size_t len)
{
	char *p = auth_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static inline char *
auth_xstrdup(const char *s)
{
	return auth_xstrndup(s, strlen(s));
}

/* Random bytes from the CSPRNG; a failing CSPRNG is fatal, since nonces
   and salts must never be predictable. */
static inline void
auth_random_bytes(void *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) != 1)
		abort();
}

/* Frees a string after wiping it (it may hold a password). */
static inline void
auth_free_secret(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* SCRAM-SHA-256 (RFC 5802 section 3): from a password and salt, the
   StoredKey and ServerKey, and (if client_key_r is not NULL) ClientKey. */
void auth_scram_sha256_derive(const uint8_t *plain, size_t plain_len,
			      const uint8_t *salt, size_t salt_len,
			      unsigned iterations, uint8_t stored_key_r[32],
			      uint8_t server_key_r[32],
			      uint8_t client_key_r[32]);

/* HMAC-SHA-256 of data under key into out. */
void auth_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
		      size_t data_len, uint8_t out[32]);

#endif
