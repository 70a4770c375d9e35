/* Password schemes compatible with Dovecot's passwd-file values. */
#include "auth/password.h"

#include <argon2.h>
#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "auth/auth-private.h"
#include "auth/sha512-crypt.h"
#include "lib/base64.h"
#include "lib/strnum.h"

/* What password_generate uses; verifying accepts whatever the stored
   value says. */
#define SCRAM_GEN_ITERATIONS 4096
#define SCRAM_GEN_SALT_LEN 16
#define BLF_GEN_COST 10
#define ARGON2_GEN_T_COST 3
#define ARGON2_GEN_M_COST (64 * 1024) /* KiB */
#define ARGON2_GEN_PARALLELISM 1
#define ARGON2_GEN_SALT_LEN 16
#define ARGON2_GEN_HASH_LEN 32
/* Longest "{NAME}" prefix we look at. */
#define SCHEME_NAME_MAX 32

static const struct {
	const char *name;
	enum password_scheme scheme;
} scheme_names[] = {
	{ "CRYPT", PASSWORD_SCHEME_CRYPT },
	{ "SHA512-CRYPT", PASSWORD_SCHEME_SHA512_CRYPT },
	{ "SHA256-CRYPT", PASSWORD_SCHEME_SHA256_CRYPT },
	{ "BLF-CRYPT", PASSWORD_SCHEME_BLF_CRYPT },
	{ "ARGON2ID", PASSWORD_SCHEME_ARGON2ID },
	{ "ARGON2I", PASSWORD_SCHEME_ARGON2I },
	{ "SCRAM-SHA-256", PASSWORD_SCHEME_SCRAM_SHA256 },
	{ "PLAIN", PASSWORD_SCHEME_PLAIN },
	{ "CLEARTEXT", PASSWORD_SCHEME_CLEARTEXT },
};

int
password_scheme_parse(const char *name, enum password_scheme *scheme_r)
{
	for (size_t i = 0; i < sizeof(scheme_names) / sizeof(scheme_names[0]);
	     i++) {
		if (strcasecmp(name, scheme_names[i].name) == 0) {
			*scheme_r = scheme_names[i].scheme;
			return 0;
		}
	}
	return -1;
}

const char *
password_scheme_name(enum password_scheme scheme)
{
	for (size_t i = 0; i < sizeof(scheme_names) / sizeof(scheme_names[0]);
	     i++) {
		if (scheme_names[i].scheme == scheme)
			return scheme_names[i].name;
	}
	return "UNKNOWN";
}

int
password_stored_scheme(const char *stored, enum password_scheme *scheme_r,
		       const char **value_r, const char **error_r)
{
	char name[SCHEME_NAME_MAX + 1];
	const char *end;

	if (stored[0] != '{') {
		/* Dovecot's default_pass_scheme for passwd-file. */
		*scheme_r = PASSWORD_SCHEME_CRYPT;
		*value_r = stored;
		return 0;
	}
	end = strchr(stored, '}');
	if (end == NULL) {
		*error_r = "unterminated {SCHEME} prefix";
		return -1;
	}
	if ((size_t)(end - stored - 1) > SCHEME_NAME_MAX) {
		*error_r = "unknown password scheme";
		return -1;
	}
	memcpy(name, stored + 1, end - stored - 1);
	name[end - stored - 1] = '\0';
	if (password_scheme_parse(name, scheme_r) < 0) {
		*error_r = "unknown password scheme";
		return -1;
	}
	*value_r = end + 1;
	return 0;
}

/* Constant-time equality of two byte strings of possibly different
   lengths: compares their digests, so the time depends on neither the
   contents nor where they differ. */
static bool
secret_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
	bool equal;

	SHA256(a, a_len, da);
	SHA256(b, b_len, db);
	equal = CRYPTO_memcmp(da, db, sizeof(da)) == 0 && a_len == b_len;
	OPENSSL_cleanse(da, sizeof(da));
	OPENSSL_cleanse(db, sizeof(db));
	return equal;
}

static int
verify_crypt(const char *hash, const uint8_t *plain, size_t plain_len,
	     const char **error_r)
{
	struct crypt_data *data;
	char *phrase;
	const char *out;
	int ret;

	if (hash[0] == '\0' || hash[0] == '*' || hash[0] == '!') {
		/* Empty or a locked-account marker: never matches. */
		*error_r = "empty or disabled crypt hash";
		return -1;
	}
	if (memchr(plain, '\0', plain_len) != NULL ||
	    plain_len > AUTH_MAX_PASSWORD)
		return 0;
	if (sha512_crypt_handles(hash)) {
		char mine[SHA512_CRYPT_MAX];

		if (sha512_crypt((const char *)plain, plain_len, hash,
				 mine) < 0) {
			*error_r = "out of memory";
			return -1;
		}
		ret = secret_equal((const uint8_t *)mine, strlen(mine),
				   (const uint8_t *)hash, strlen(hash)) ? 1 : 0;
		OPENSSL_cleanse(mine, sizeof(mine));
		return ret;
	}
	phrase = auth_xstrndup((const char *)plain, plain_len);
	/* struct crypt_data is tens of KB: keep it off worker stacks. */
	data = auth_xcalloc(1, sizeof(*data));
	out = crypt_rn(phrase, hash, data, sizeof(*data));
	if (out == NULL || out[0] == '*') {
		*error_r = "malformed or unsupported crypt hash";
		ret = -1;
	} else {
		ret = secret_equal((const uint8_t *)out, strlen(out),
				   (const uint8_t *)hash, strlen(hash)) ? 1 : 0;
	}
	OPENSSL_cleanse(data, sizeof(*data));
	free(data);
	auth_free_secret(phrase);
	return ret;
}

static int
verify_argon2(const char *encoded, const uint8_t *plain, size_t plain_len,
	      const char **error_r)
{
	argon2_type type;
	int ret;

	/* The encoded form names its variant; trust it over the scheme
	   name, as a passwd-file may carry either under either. */
	if (strncmp(encoded, "$argon2id$", 10) == 0)
		type = Argon2_id;
	else if (strncmp(encoded, "$argon2i$", 9) == 0)
		type = Argon2_i;
	else {
		*error_r = "malformed argon2 hash";
		return -1;
	}
	if (plain_len > AUTH_MAX_PASSWORD)
		return 0;
	/* argon2_verify compares in constant time. */
	ret = argon2_verify(encoded, plain, plain_len, type);
	if (ret == ARGON2_OK)
		return 1;
	if (ret == ARGON2_VERIFY_MISMATCH)
		return 0;
	*error_r = "malformed argon2 hash";
	return -1;
}

void
auth_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
		 size_t data_len, uint8_t out[32])
{
	unsigned out_len = 32;

	if (HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out,
		 &out_len) == NULL)
		abort();
}

void
auth_scram_sha256_derive(const uint8_t *plain, size_t plain_len,
			 const uint8_t *salt, size_t salt_len,
			 unsigned iterations, uint8_t stored_key_r[32],
			 uint8_t server_key_r[32], uint8_t client_key_r[32])
{
	uint8_t salted[32], client_key[32];

	/* RFC 5802 section 3: SaltedPassword := Hi(password, salt, i),
	   which is PBKDF2 with HMAC-SHA-256 here (RFC 7677). */
	if (PKCS5_PBKDF2_HMAC((const char *)plain, (int)plain_len, salt,
			      (int)salt_len, (int)iterations, EVP_sha256(),
			      sizeof(salted), salted) != 1)
		abort();
	auth_hmac_sha256(salted, sizeof(salted), "Client Key", 10, client_key);
	SHA256(client_key, sizeof(client_key), stored_key_r);
	auth_hmac_sha256(salted, sizeof(salted), "Server Key", 10,
			 server_key_r);
	if (client_key_r != NULL)
		memcpy(client_key_r, client_key, sizeof(client_key));
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
}

/* Decodes base64 [p, p+len) into exactly want bytes (or, with want 0,
   1..max bytes). Returns the length or -1. */
static int
decode_field(const char *p, size_t len, uint8_t *out, size_t out_size,
	     size_t want)
{
	uint8_t buf[AUTH_SCRAM_SALT_B64_MAX];
	size_t out_len;

	if (base64_decoded_max_len(len) > sizeof(buf))
		return -1;
	if (base64_decode(p, len, buf, &out_len) < 0)
		return -1;
	if (want != 0 ? out_len != want : (out_len == 0 ||
					   out_len > out_size))
		return -1;
	memcpy(out, buf, out_len);
	return (int)out_len;
}

/* Parses Dovecot's SCRAM value: "iterations,salt,stored_key,server_key",
   the last three base64. */
static int
scram_parse(const char *value, struct password_scram_keys *keys_r,
	    uint8_t salt_r[AUTH_SCRAM_MAX_SALT], size_t *salt_len_r,
	    const char **error_r)
{
	const char *f[4], *end[4];
	const char *p = value;
	uint64_t iter;
	int len;

	for (unsigned i = 0; i < 4; i++) {
		f[i] = p;
		p = strchr(p, ',');
		if (i < 3) {
			if (p == NULL)
				goto bad;
			end[i] = p++;
		} else {
			if (p != NULL)
				goto bad;
			end[i] = f[i] + strlen(f[i]);
		}
	}
	if (str_to_u64(f[0], end[0] - f[0], AUTH_SCRAM_MAX_ITERATIONS,
		       &iter) < 0 || iter < AUTH_SCRAM_MIN_ITERATIONS) {
		*error_r = "SCRAM iteration count out of range";
		return -1;
	}
	len = decode_field(f[1], end[1] - f[1], salt_r, AUTH_SCRAM_MAX_SALT, 0);
	if (len < 0)
		goto bad;
	*salt_len_r = len;
	if (decode_field(f[2], end[2] - f[2], keys_r->stored_key,
			 PASSWORD_SCRAM_KEY_LEN, PASSWORD_SCRAM_KEY_LEN) < 0 ||
	    decode_field(f[3], end[3] - f[3], keys_r->server_key,
			 PASSWORD_SCRAM_KEY_LEN, PASSWORD_SCRAM_KEY_LEN) < 0)
		goto bad;
	keys_r->iterations = (unsigned)iter;
	/* Canonical already: decoding is strict. */
	memcpy(keys_r->salt_b64, f[1], end[1] - f[1]);
	keys_r->salt_b64[end[1] - f[1]] = '\0';
	return 0;
bad:
	*error_r = "malformed SCRAM-SHA-256 value";
	return -1;
}

static int
verify_scram(const char *value, const uint8_t *plain, size_t plain_len,
	     const char **error_r)
{
	struct password_scram_keys keys;
	uint8_t salt[AUTH_SCRAM_MAX_SALT], stored_key[32], server_key[32];
	size_t salt_len;
	int ret;

	if (scram_parse(value, &keys, salt, &salt_len, error_r) < 0)
		return -1;
	if (plain_len > AUTH_MAX_PASSWORD)
		return 0;
	auth_scram_sha256_derive(plain, plain_len, salt, salt_len,
				 keys.iterations, stored_key, server_key, NULL);
	ret = CRYPTO_memcmp(stored_key, keys.stored_key, 32) == 0 ? 1 : 0;
	OPENSSL_cleanse(&keys, sizeof(keys));
	OPENSSL_cleanse(stored_key, sizeof(stored_key));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	return ret;
}

int
password_verify(const char *stored, const uint8_t *plain, size_t plain_len,
		const char **error_r)
{
	enum password_scheme scheme;
	const char *value;

	if (password_stored_scheme(stored, &scheme, &value, error_r) < 0)
		return -1;
	switch (scheme) {
	case PASSWORD_SCHEME_CRYPT:
	case PASSWORD_SCHEME_SHA512_CRYPT:
	case PASSWORD_SCHEME_SHA256_CRYPT:
	case PASSWORD_SCHEME_BLF_CRYPT:
		return verify_crypt(value, plain, plain_len, error_r);
	case PASSWORD_SCHEME_ARGON2ID:
	case PASSWORD_SCHEME_ARGON2I:
		return verify_argon2(value, plain, plain_len, error_r);
	case PASSWORD_SCHEME_SCRAM_SHA256:
		return verify_scram(value, plain, plain_len, error_r);
	case PASSWORD_SCHEME_PLAIN:
	case PASSWORD_SCHEME_CLEARTEXT:
		return secret_equal((const uint8_t *)value, strlen(value),
				    plain, plain_len) ? 1 : 0;
	}
	*error_r = "unknown password scheme";
	return -1;
}

static char *
prefixed(const char *scheme, const char *value)
{
	size_t len = strlen(scheme) + strlen(value) + 3;
	char *out = auth_xmalloc(len);

	snprintf(out, len, "{%s}%s", scheme, value);
	return out;
}

static int
generate_crypt(const char *prefix, unsigned long count, const char *plain,
	       const char *scheme_name, char **stored_r, const char **error_r)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *out;
	int ret = -1;

	/* rbytes NULL: the salt comes from the kernel's CSPRNG. */
	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting,
			     sizeof(setting)) == NULL) {
		*error_r = "crypt(3) cannot make a salt for this scheme";
		return -1;
	}
	data = auth_xcalloc(1, sizeof(*data));
	out = crypt_rn(plain, setting, data, sizeof(*data));
	if (out == NULL || out[0] == '*')
		*error_r = "crypt(3) failed";
	else {
		*stored_r = prefixed(scheme_name, out);
		ret = 0;
	}
	OPENSSL_cleanse(data, sizeof(*data));
	free(data);
	return ret;
}

static int
generate_argon2(argon2_type type, const char *plain, const char *scheme_name,
		char **stored_r, const char **error_r)
{
	uint8_t salt[ARGON2_GEN_SALT_LEN];
	size_t enc_len = argon2_encodedlen(ARGON2_GEN_T_COST, ARGON2_GEN_M_COST,
					   ARGON2_GEN_PARALLELISM,
					   sizeof(salt), ARGON2_GEN_HASH_LEN,
					   type);
	char *enc = auth_xmalloc(enc_len);
	int ret;

	auth_random_bytes(salt, sizeof(salt));
	ret = argon2_hash(ARGON2_GEN_T_COST, ARGON2_GEN_M_COST,
			  ARGON2_GEN_PARALLELISM, plain, strlen(plain), salt,
			  sizeof(salt), NULL, ARGON2_GEN_HASH_LEN, enc, enc_len,
			  type, ARGON2_VERSION_13);
	if (ret != ARGON2_OK) {
		free(enc);
		*error_r = "argon2 hashing failed";
		return -1;
	}
	*stored_r = prefixed(scheme_name, enc);
	free(enc);
	return 0;
}

static char *
scram_format(unsigned iterations, const uint8_t *salt, size_t salt_len,
	     const uint8_t stored_key[32], const uint8_t server_key[32])
{
	char *salt_b64 = base64_encode_alloc(salt, salt_len);
	char *stored_b64 = base64_encode_alloc(stored_key, 32);
	char *server_b64 = base64_encode_alloc(server_key, 32);
	size_t len = strlen(salt_b64) + strlen(stored_b64) +
		strlen(server_b64) + 64;
	char *out = auth_xmalloc(len);

	snprintf(out, len, "{SCRAM-SHA-256}%u,%s,%s,%s", iterations, salt_b64,
		 stored_b64, server_b64);
	free(salt_b64);
	free(stored_b64);
	free(server_b64);
	return out;
}

int
password_generate(const char *scheme_name, const char *plain,
		  char **stored_r, const char **error_r)
{
	enum password_scheme scheme;
	size_t plain_len = strlen(plain);

	if (password_scheme_parse(scheme_name, &scheme) < 0) {
		*error_r = "unknown password scheme";
		return -1;
	}
	if (plain_len > AUTH_MAX_PASSWORD) {
		*error_r = "password too long";
		return -1;
	}
	switch (scheme) {
	case PASSWORD_SCHEME_CRYPT:
		return generate_crypt("$y$", 0, plain, "CRYPT", stored_r,
				      error_r);
	case PASSWORD_SCHEME_SHA512_CRYPT:
		return generate_crypt("$6$", 0, plain, "SHA512-CRYPT",
				      stored_r, error_r);
	case PASSWORD_SCHEME_SHA256_CRYPT:
		return generate_crypt("$5$", 0, plain, "SHA256-CRYPT",
				      stored_r, error_r);
	case PASSWORD_SCHEME_BLF_CRYPT:
		/* $2y$: the form Dovecot itself writes. */
		return generate_crypt("$2y$", BLF_GEN_COST, plain, "BLF-CRYPT",
				      stored_r, error_r);
	case PASSWORD_SCHEME_ARGON2ID:
		return generate_argon2(Argon2_id, plain, "ARGON2ID", stored_r,
				       error_r);
	case PASSWORD_SCHEME_ARGON2I:
		return generate_argon2(Argon2_i, plain, "ARGON2I", stored_r,
				       error_r);
	case PASSWORD_SCHEME_SCRAM_SHA256: {
		uint8_t salt[SCRAM_GEN_SALT_LEN], stored_key[32],
			server_key[32];

		auth_random_bytes(salt, sizeof(salt));
		auth_scram_sha256_derive((const uint8_t *)plain, plain_len,
					 salt, sizeof(salt),
					 SCRAM_GEN_ITERATIONS, stored_key,
					 server_key, NULL);
		*stored_r = scram_format(SCRAM_GEN_ITERATIONS, salt,
					 sizeof(salt), stored_key, server_key);
		return 0;
	}
	case PASSWORD_SCHEME_PLAIN:
		/* The value is a passwd-file field: no separators. */
		if (strpbrk(plain, ":\r\n") != NULL) {
			*error_r = "a PLAIN password cannot hold ':' or a line break";
			return -1;
		}
		*stored_r = prefixed("PLAIN", plain);
		return 0;
	case PASSWORD_SCHEME_CLEARTEXT:
		break;
	}
	*error_r = "this scheme cannot be generated";
	return -1;
}

int
password_get_cleartext(const char *stored, const char **plain_r,
		       size_t *len_r)
{
	enum password_scheme scheme;
	const char *value, *error;

	if (password_stored_scheme(stored, &scheme, &value, &error) < 0)
		return 0;
	if (scheme != PASSWORD_SCHEME_PLAIN &&
	    scheme != PASSWORD_SCHEME_CLEARTEXT)
		return 0;
	*plain_r = value;
	*len_r = strlen(value);
	return 1;
}

bool
password_is_cleartext(const char *stored)
{
	const char *plain;
	size_t len;

	return password_get_cleartext(stored, &plain, &len) == 1;
}

/* Secret for the SCRAM salts of cleartext values, one per process. */
static uint8_t plain_salt_secret[32];
static pthread_once_t plain_salt_once = PTHREAD_ONCE_INIT;

static void
plain_salt_init(void)
{
	auth_random_bytes(plain_salt_secret, sizeof(plain_salt_secret));
}

int
password_scram_sha256_keys(const char *stored,
			   struct password_scram_keys *keys_r,
			   const char **error_r)
{
	enum password_scheme scheme;
	const char *value;
	uint8_t salt[AUTH_SCRAM_MAX_SALT];
	size_t salt_len;

	if (password_stored_scheme(stored, &scheme, &value, error_r) < 0)
		return -1;
	switch (scheme) {
	case PASSWORD_SCHEME_SCRAM_SHA256:
		if (scram_parse(value, keys_r, salt, &salt_len, error_r) < 0)
			return -1;
		return 1;
	case PASSWORD_SCHEME_PLAIN:
	case PASSWORD_SCHEME_CLEARTEXT: {
		uint8_t mac[32];

		/* The salt is a keyed hash of the stored value: the same
		   on every attempt, as a stored SCRAM value's would be, so
		   a client cannot tell how the password is stored. */
		pthread_once(&plain_salt_once, plain_salt_init);
		auth_hmac_sha256(plain_salt_secret, sizeof(plain_salt_secret),
				 stored, strlen(stored), mac);
		memcpy(salt, mac, SCRAM_GEN_SALT_LEN);
		OPENSSL_cleanse(mac, sizeof(mac));
		keys_r->iterations = SCRAM_GEN_ITERATIONS;
		base64_encode(salt, SCRAM_GEN_SALT_LEN, keys_r->salt_b64);
		auth_scram_sha256_derive((const uint8_t *)value, strlen(value),
					 salt, SCRAM_GEN_SALT_LEN,
					 SCRAM_GEN_ITERATIONS,
					 keys_r->stored_key,
					 keys_r->server_key, NULL);
		return 1;
	}
	default:
		*error_r = "stored password cannot yield SCRAM keys";
		return 0;
	}
}
