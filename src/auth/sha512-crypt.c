/* SHA512-CRYPT ("$6$", U. Drepper, "Unix crypt using SHA-256 and
   SHA-512", 2007-2008) for verifying logins, on OpenSSL's SHA-512.

   libxcrypt computes the same hash with its own portable SHA-512 in about
   1.45 times the time; the 5,000 rounds of the default setting are most
   of the CPU a login costs, so logins per second follow this directly.
   Only the common form is handled here (default rounds, a salt of 1 to
   16 characters); everything else, and every hash generated, stays with
   libxcrypt. tests/unit/test-auth.c checks the two agree. */

/* The rounds hash 5,000 short inputs: the digest API's per-call overhead
   (EVP) costs more than the compression itself, so the low-level
   SHA512_Init/SHA512_Transform are used, deprecated in OpenSSL 3 but
   still part of its API. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "auth/sha512-crypt.h"

#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#define ROUNDS 5000
#define SALT_MAX 16
#define DIGEST 64
#define BLOCK 128
/* The most message bytes one SHA-512 block holds with its padding: a
   0x80 byte and the 16-byte length (FIPS 180-4 5.1.2). */
#define ONE_BLOCK_MAX (BLOCK - 17)

static const char b64[] =
	"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool
is_b64(char c)
{
	return c != '\0' && strchr(b64, c) != NULL;
}

static char *
encode24(char *p, unsigned b2, unsigned b1, unsigned b0, int n)
{
	uint32_t w = (b2 << 16) | (b1 << 8) | b0;

	while (n-- > 0) {
		*p++ = b64[w & 0x3f];
		w >>= 6;
	}
	return p;
}

/* The digest of pieces[0..n-1] (total len bytes, at most ONE_BLOCK_MAX)
   as one padded block, built in block (the caller wipes it). */
static void
digest_one_block(SHA512_CTX *ctx, unsigned char block[BLOCK],
		 const unsigned char *const *pieces, const size_t *lens,
		 int n, size_t len, unsigned char out[DIGEST])
{
	unsigned char *q = block;
	uint64_t bits = htobe64((uint64_t)len * 8);

	for (int i = 0; i < n; i++) {
		memcpy(q, pieces[i], lens[i]);
		q += lens[i];
	}
	*q++ = 0x80;
	memset(q, 0, (size_t)(block + BLOCK - 8 - q));
	memcpy(block + BLOCK - 8, &bits, 8);
	SHA512_Init(ctx);
	SHA512_Transform(ctx, block);
	for (int i = 0; i < 8; i++) {
		uint64_t v = htobe64(ctx->h[i]);

		memcpy(out + i * 8, &v, 8);
	}
}

bool
sha512_crypt_handles(const char *setting)
{
	const char *salt = setting + 3, *p;

	if (strncmp(setting, "$6$", 3) != 0)
		return false;
	for (p = salt; is_b64(*p); p++)
		;
	if (p == salt || p - salt > SALT_MAX || *p != '$')
		return false;
	return true;
}

int
sha512_crypt(const char *key, size_t key_len, const char *setting,
	     char out[SHA512_CRYPT_MAX])
{
	unsigned char a[DIGEST], b[DIGEST], dp[DIGEST], ds[DIGEST];
	unsigned char c[DIGEST], block[BLOCK];
	unsigned char *p_seq, s_seq[SALT_MAX];
	const unsigned char *k = (const unsigned char *)key;
	const char *salt = setting + 3;
	size_t salt_len, n;
	SHA512_CTX ctx;
	char *o;

	if (!sha512_crypt_handles(setting))
		return -1;
	salt_len = strcspn(salt, "$");

	/* B = H(key salt key) */
	SHA512_Init(&ctx);
	SHA512_Update(&ctx, k, key_len);
	SHA512_Update(&ctx, salt, salt_len);
	SHA512_Update(&ctx, k, key_len);
	SHA512_Final(b, &ctx);

	/* A = H(key salt B-repeated-to-key-length, then per bit of the
	   key length B or the key) */
	SHA512_Init(&ctx);
	SHA512_Update(&ctx, k, key_len);
	SHA512_Update(&ctx, salt, salt_len);
	for (n = key_len; n > DIGEST; n -= DIGEST)
		SHA512_Update(&ctx, b, DIGEST);
	SHA512_Update(&ctx, b, n);
	for (n = key_len; n > 0; n >>= 1) {
		if ((n & 1) != 0)
			SHA512_Update(&ctx, b, DIGEST);
		else
			SHA512_Update(&ctx, k, key_len);
	}
	SHA512_Final(a, &ctx);

	/* P: H(key repeated key-length times), repeated to key length */
	SHA512_Init(&ctx);
	for (n = 0; n < key_len; n++)
		SHA512_Update(&ctx, k, key_len);
	SHA512_Final(dp, &ctx);
	p_seq = malloc(key_len + 1);
	if (p_seq == NULL)
		return -1;
	for (n = 0; n + DIGEST <= key_len; n += DIGEST)
		memcpy(p_seq + n, dp, DIGEST);
	memcpy(p_seq + n, dp, key_len - n);

	/* S: H(salt repeated 16 + A[0] times), cut to salt length */
	SHA512_Init(&ctx);
	for (n = 0; n < 16u + a[0]; n++)
		SHA512_Update(&ctx, salt, salt_len);
	SHA512_Final(ds, &ctx);
	memcpy(s_seq, ds, salt_len);

	memcpy(c, a, DIGEST);
	for (unsigned r = 0; r < ROUNDS; r++) {
		const unsigned char *pieces[4];
		size_t lens[4], len = 0;
		int np = 0;

#define PIECE(ptr, l) (pieces[np] = (ptr), lens[np] = (l), len += (l), np++)
		if ((r & 1) != 0)
			PIECE(p_seq, key_len);
		else
			PIECE(c, DIGEST);
		if (r % 3 != 0)
			PIECE(s_seq, salt_len);
		if (r % 7 != 0)
			PIECE(p_seq, key_len);
		if ((r & 1) != 0)
			PIECE(c, DIGEST);
		else
			PIECE(p_seq, key_len);
#undef PIECE
		if (len <= ONE_BLOCK_MAX) {
			digest_one_block(&ctx, block, pieces, lens, np, len,
					 c);
			continue;
		}
		SHA512_Init(&ctx);
		for (int i = 0; i < np; i++)
			SHA512_Update(&ctx, pieces[i], lens[i]);
		SHA512_Final(c, &ctx);
	}

	memcpy(out, setting, 3 + salt_len + 1);
	o = out + 3 + salt_len + 1;
	for (int i = 0; i < 21; i++) {
		/* bytes i, i+21, i+42, rotated by i mod 3 */
		unsigned x = (unsigned)i, y = x + 21, z = x + 42;
		switch (i % 3) {
		case 0:
			o = encode24(o, c[x], c[y], c[z], 4);
			break;
		case 1:
			o = encode24(o, c[y], c[z], c[x], 4);
			break;
		default:
			o = encode24(o, c[z], c[x], c[y], 4);
			break;
		}
	}
	o = encode24(o, 0, 0, c[63], 2);
	*o = '\0';

	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	OPENSSL_cleanse(c, sizeof(c));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(dp, sizeof(dp));
	OPENSSL_cleanse(ds, sizeof(ds));
	OPENSSL_cleanse(s_seq, sizeof(s_seq));
	OPENSSL_cleanse(&ctx, sizeof(ctx));
	OPENSSL_cleanse(p_seq, key_len + 1);
	free(p_seq);
	return 0;
}
