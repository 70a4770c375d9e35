/* Unit tests for src/auth: user names, password schemes, the passwd-file
   passdb, SASL mechanisms and the failure throttle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/sha512-crypt.h"
#include "auth/throttle.h"
#include "auth/username.h"
#include "lib/base64.h"
#include "lib/limits.h"
#include "lib/log.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Fixtures: "correct horse" under each scheme, made with other tools
   (openssl passwd, libxcrypt's crypt, libargon2, Python's hashlib). */
#define PW "correct horse"
#define SHA512_FIX "$6$Zx9ab3cd4EfGh5ij$AjftnyfO4PAIrXCwsPCrpoFJgKHc8CJB1/" \
	"XLhpewQvJ3gsN6ZL5qZtUI0irHfvD3SMaE4R.WiASc9EXB/8fHl1"
#define SHA256_FIX "$5$Q1w2e3r4t5y6u7i8$R6psOIcux8oS.Vy1CLBlu3L8A9i24OrzKk3UfNXJMT/"
#define BLF_FIX "$2y$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"
#define BLF2B_FIX "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"
#define YESCRYPT_FIX "$y$j9T$abcdefghijklmnopqrstu.$pk06PwnbQa631foWNYhw6N." \
	"E9wx6lICleH/SnT.xzi0"
#define MD5CRYPT_FIX "$1$abcdefgh$y6iHhJNbuC0xpbk0w9pm80"
#define ARGON2ID_FIX "$argon2id$v=19$m=256,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$" \
	"q7mRyGbdr1p2KVStd8R0GAr2Kr9e+9jmtrzLmzIZRBs"
#define ARGON2I_FIX "$argon2i$v=19$m=256,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$" \
	"67549oRi3G1u1pToYrWUJA9A4AyoGpmgCNNOi0bYH9w"
/* libargon2's README example: "password", salt "somesalt". */
#define ARGON2I_README "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$" \
	"RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
#define SCRAM_FIX "4096,MDEyMzQ1Njc4OWFiY2RlZg==," \
	"tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0ZyI=," \
	"bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70="
/* RFC 7677 section 3: user "user", password "pencil". */
#define RFC7677_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC7677_STORED "{SCRAM-SHA-256}4096," RFC7677_SALT "," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=," \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

/* User names ---------------------------------------------------------- */

static void
test_username(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{ "alice", true },
		{ "Alice.Smith@example.org", true },
		{ "a+tag_x-y", true },
		{ "0", true },
		{ "_x", true },
		{ "@x", true },
		{ "", false },
		{ ".alice", false },
		{ "-alice", false },
		{ ".", false },
		{ "..", false },
		{ "al ice", false },
		{ "al:ice", false },
		{ "al/ice", false },
		{ "al\\ice", false },
		{ "al,ice", false },
		{ "al=ice", false },
		{ "al\tice", false },
		{ "al\xc3\xa9", false },
		{ "a%b", false },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		if (auth_username_validz(cases[i].name) != cases[i].valid)
			fail_msg("%s: expected %d", cases[i].name,
				 cases[i].valid);
	}
	assert_false(auth_username_valid("al\0ice", 6));
	assert_true(auth_username_valid("alice-not-counted", 5));

	char longname[AUTH_MAX_USERNAME + 2];
	memset(longname, 'a', sizeof(longname));
	longname[AUTH_MAX_USERNAME] = '\0';
	assert_true(auth_username_validz(longname));
	longname[AUTH_MAX_USERNAME] = 'a';
	longname[AUTH_MAX_USERNAME + 1] = '\0';
	assert_false(auth_username_validz(longname));

	char out[16];
	assert_true(auth_username_has_upper("aB"));
	assert_false(auth_username_has_upper("ab@c.d"));
	assert_int_equal(auth_username_lowercase("Al.ICE@X", out,
						 sizeof(out)), 0);
	assert_string_equal(out, "al.ice@x");
	assert_int_equal(auth_username_lowercase("0123456789abcdef", out,
						 sizeof(out)), -1);
}

/* Password schemes ---------------------------------------------------- */

static void
test_password_verify_table(void **state)
{
	static const struct {
		const char *stored;
		const char *plain;
		int expect;
	} cases[] = {
		{ "{SHA512-CRYPT}" SHA512_FIX, PW, 1 },
		{ "{SHA512-CRYPT}" SHA512_FIX, "correct horsE", 0 },
		{ "{SHA512-CRYPT}" SHA512_FIX, "", 0 },
		{ "{sha512-crypt}" SHA512_FIX, PW, 1 },
		{ SHA512_FIX, PW, 1 }, /* no prefix: CRYPT */
		{ SHA512_FIX, "correct horse ", 0 },
		{ "{SHA256-CRYPT}" SHA256_FIX, PW, 1 },
		{ "{SHA256-CRYPT}" SHA256_FIX, "wrong", 0 },
		{ "{BLF-CRYPT}" BLF_FIX, PW, 1 },
		{ "{BLF-CRYPT}" BLF_FIX, "correct hors", 0 },
		{ "{BLF-CRYPT}" BLF2B_FIX, PW, 1 },
		{ "{CRYPT}" YESCRYPT_FIX, PW, 1 },
		{ "{CRYPT}" YESCRYPT_FIX, "x", 0 },
		{ "{CRYPT}" MD5CRYPT_FIX, PW, 1 },
		{ "{CRYPT}" SHA512_FIX, PW, 1 },
		{ "{ARGON2ID}" ARGON2ID_FIX, PW, 1 },
		{ "{ARGON2ID}" ARGON2ID_FIX, "Correct horse", 0 },
		{ "{ARGON2I}" ARGON2I_FIX, PW, 1 },
		{ "{ARGON2I}" ARGON2I_FIX, "", 0 },
		/* The encoded form's variant wins over the name. */
		{ "{ARGON2I}" ARGON2ID_FIX, PW, 1 },
		{ "{ARGON2I}" ARGON2I_README, "password", 1 },
		{ "{SCRAM-SHA-256}" SCRAM_FIX, PW, 1 },
		{ "{SCRAM-SHA-256}" SCRAM_FIX, "correct", 0 },
		{ RFC7677_STORED, "pencil", 1 },
		{ RFC7677_STORED, "pencil2", 0 },
		{ "{PLAIN}" PW, PW, 1 },
		{ "{PLAIN}" PW, "correct hors", 0 },
		{ "{PLAIN}" PW, "correct horse!", 0 },
		{ "{PLAIN}", "", 1 },
		{ "{CLEARTEXT}s3cret", "s3cret", 1 },
		{ "{cleartext}s3cret", "S3cret", 0 },
		/* Malformed or unusable stored values. */
		{ "{SHA512-CRYPT}", PW, -1 },
		{ "", PW, -1 },
		{ "*", PW, -1 },
		{ "!locked", PW, -1 },
		{ "{CRYPT}$9$unknownprefix", PW, -1 },
		{ "{FOO}bar", PW, -1 },
		{ "{SHA512-CRYPT" SHA512_FIX, PW, -1 },
		{ "{AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}x", PW, -1 },
		{ "{ARGON2ID}$argon2id$v=19$m=256", PW, -1 },
		{ "{ARGON2ID}$argon2x$v=19$m=256,t=2,p=1$c2FsdA$aGFzaA", PW, -1 },
		{ "{ARGON2ID}" SHA512_FIX, PW, -1 },
		{ "{SCRAM-SHA-256}4096,abc", PW, -1 },
		{ "{SCRAM-SHA-256}", PW, -1 },
		{ "{SCRAM-SHA-256}1000,MDEyMzQ1Njc4OWFiY2RlZg==,"
		  "tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0ZyI=,"
		  "bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70=", PW, -1 },
		{ "{SCRAM-SHA-256}99999999999,MDEyMzQ1Njc4OWFiY2RlZg==,"
		  "tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0ZyI=,"
		  "bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70=", PW, -1 },
		{ "{SCRAM-SHA-256}4096,MDEyMzQ1Njc4OWFiY2RlZg==,"
		  "tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0Z=,"
		  "bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70=", PW, -1 },
		{ "{SCRAM-SHA-256}4096,,"
		  "tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0ZyI=,"
		  "bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70=", PW, -1 },
		{ "{SCRAM-SHA-256}4096,MDEy!zQ1Njc4OWFiY2RlZg==,"
		  "tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0ZyI=,"
		  "bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70=", PW, -1 },
		{ "{SCRAM-SHA-256}" SCRAM_FIX ",extra", PW, -1 },
		{ "{SCRAM-SHA-256}+4096,MDEyMzQ1Njc4OWFiY2RlZg==,"
		  "tSgetjYW5SQlNzIxJAKMryuDGH8Snw5oWcj1eOW0ZyI=,"
		  "bbZ1dJMgYYaKKR1fU1oGHkWJzi9OQY4yU8Fuksa1t70=", PW, -1 },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *error = NULL;
		int ret = password_verify(cases[i].stored,
					  (const uint8_t *)cases[i].plain,
					  strlen(cases[i].plain), &error);

		if (ret != cases[i].expect)
			fail_msg("case %zu (%s / %s): got %d, want %d", i,
				 cases[i].stored, cases[i].plain, ret,
				 cases[i].expect);
		if (ret < 0)
			assert_non_null(error);
	}
}

/* Our SHA512-CRYPT gives what libxcrypt gives: keys of every length
   around the block and digest boundaries and random ones (any byte but
   NUL), salts of 1 to 16 characters; settings it does not handle are
   refused (and verified by libxcrypt). */
static void
test_sha512_crypt(void **state)
{
	static const char alphabet[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
		"vwxyz";
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char key[300], setting[40], mine[SHA512_CRYPT_MAX];
	unsigned seed = 12345;

	assert_non_null(cd);
	for (unsigned i = 0; i < 160; i++) {
		size_t key_len = i < 130 ? i : (size_t)(rand_r(&seed) % 299);
		size_t salt_len = 1 + (size_t)(rand_r(&seed) % 16);

		for (size_t j = 0; j < key_len; j++)
			key[j] = (char)(1 + rand_r(&seed) % 255);
		key[key_len] = '\0';
		memcpy(setting, "$6$", 3);
		for (size_t j = 0; j < salt_len; j++)
			setting[3 + j] = alphabet[rand_r(&seed) % 64];
		setting[3 + salt_len] = '$';
		setting[4 + salt_len] = '\0';
		const char *want = crypt_rn(key, setting, cd, sizeof(*cd));
		assert_non_null(want);
		assert_int_equal(sha512_crypt(key, key_len, setting, mine), 0);
		assert_string_equal(mine, want);
		/* the stored hash as the setting: the same hash */
		char stored[SHA512_CRYPT_MAX];
		strcpy(stored, want);
		assert_int_equal(sha512_crypt(key, key_len, stored, mine), 0);
		assert_string_equal(mine, stored);
	}
	assert_int_equal(sha512_crypt(PW, strlen(PW), SHA512_FIX, mine), 0);
	assert_string_equal(mine, SHA512_FIX);

	assert_false(sha512_crypt_handles("$6$rounds=6000$abc$"));
	assert_false(sha512_crypt_handles("$6$$"));
	assert_false(sha512_crypt_handles("$6$abcdefghijklmnopq$"));
	assert_false(sha512_crypt_handles("$6$ab:c$"));
	assert_false(sha512_crypt_handles("$6$abc"));
	assert_false(sha512_crypt_handles("$5$abc$"));
	assert_true(sha512_crypt_handles("$6$abcdefghijklmnop$"));
	assert_int_equal(sha512_crypt("x", 1, "$6$rounds=6000$abc$", mine),
			 -1);

	/* other rounds still verify, through libxcrypt */
	const char *r = crypt_rn(PW, "$6$rounds=1000$saltsalt$", cd,
				 sizeof(*cd));
	char stored[160];
	const char *error;
	snprintf(stored, sizeof(stored), "{SHA512-CRYPT}%s", r);
	assert_int_equal(password_verify(stored, (const uint8_t *)PW,
					 strlen(PW), &error), 1);
	assert_int_equal(password_verify(stored, (const uint8_t *)"no", 2,
					 &error), 0);
	free(cd);
}

static void
test_password_nul_and_long(void **state)
{
	const char *error;
	static const uint8_t with_nul[] = "correct\0horse";
	uint8_t longpw[AUTH_MAX_PASSWORD + 1];

	/* crypt(3) cannot see past a NUL: such a password never matches. */
	assert_int_equal(password_verify("{SHA512-CRYPT}" SHA512_FIX, with_nul,
					 sizeof(with_nul) - 1, &error), 0);
	assert_int_equal(password_verify("{SHA512-CRYPT}" SHA512_FIX,
					 (const uint8_t *)PW "\0", 14, &error),
			 0);
	/* {PLAIN} compares lengths too. */
	assert_int_equal(password_verify("{PLAIN}correct", with_nul,
					 sizeof(with_nul) - 1, &error), 0);
	memset(longpw, 'x', sizeof(longpw));
	assert_int_equal(password_verify("{SCRAM-SHA-256}" SCRAM_FIX, longpw,
					 sizeof(longpw), &error), 0);
	assert_int_equal(password_verify("{ARGON2ID}" ARGON2ID_FIX, longpw,
					 sizeof(longpw), &error), 0);
}

static void
test_password_generate(void **state)
{
	static const struct {
		const char *scheme;
		const char *prefix;
	} cases[] = {
		{ "SHA512-CRYPT", "{SHA512-CRYPT}$6$" },
		{ "SHA256-CRYPT", "{SHA256-CRYPT}$5$" },
		{ "BLF-CRYPT", "{BLF-CRYPT}$2y$10$" },
		{ "CRYPT", "{CRYPT}$y$" },
		{ "ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" },
		{ "argon2i", "{ARGON2I}$argon2i$v=19$m=65536,t=3,p=1$" },
		{ "SCRAM-SHA-256", "{SCRAM-SHA-256}4096," },
		{ "PLAIN", "{PLAIN}" PW },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *stored = NULL, *stored2 = NULL;
		const char *error = NULL;

		if (password_generate(cases[i].scheme, PW, &stored, &error) < 0)
			fail_msg("%s: %s", cases[i].scheme, error);
		if (strncmp(stored, cases[i].prefix,
			    strlen(cases[i].prefix)) != 0)
			fail_msg("%s: unexpected form %s", cases[i].scheme,
				 stored);
		assert_null(strpbrk(stored, ":\r\n"));
		assert_int_equal(password_verify(stored, (const uint8_t *)PW,
						 strlen(PW), &error), 1);
		assert_int_equal(password_verify(stored,
						 (const uint8_t *)"wrong", 5,
						 &error), 0);
		/* A fresh salt each time. */
		if (strcmp(cases[i].scheme, "PLAIN") != 0) {
			assert_int_equal(password_generate(cases[i].scheme, PW,
							   &stored2, &error),
					 0);
			assert_string_not_equal(stored, stored2);
			free(stored2);
		}
		free(stored);
	}

	char *stored = NULL;
	const char *error = NULL;
	assert_int_equal(password_generate("MD5", PW, &stored, &error), -1);
	assert_non_null(error);
	assert_int_equal(password_generate("CLEARTEXT", PW, &stored, &error),
			 -1);
	assert_int_equal(password_generate("PLAIN", "a:b", &stored, &error),
			 -1);
	assert_int_equal(password_generate("PLAIN", "a\nb", &stored, &error),
			 -1);
	assert_null(stored);
}

static void
test_password_cleartext(void **state)
{
	const char *plain;
	size_t len;

	assert_true(password_is_cleartext("{PLAIN}abc"));
	assert_true(password_is_cleartext("{CLEARTEXT}abc"));
	assert_true(password_is_cleartext("{plain}"));
	assert_false(password_is_cleartext("{SHA512-CRYPT}" SHA512_FIX));
	assert_false(password_is_cleartext("{PLAIN"));
	assert_false(password_is_cleartext("plain"));
	assert_false(password_is_cleartext(RFC7677_STORED));
	assert_int_equal(password_get_cleartext("{PLAIN}abc", &plain, &len),
			 1);
	assert_int_equal(len, 3);
	assert_memory_equal(plain, "abc", 3);
	assert_int_equal(password_get_cleartext("{CRYPT}x", &plain, &len), 0);
}

static void
test_password_scheme_names(void **state)
{
	enum password_scheme scheme;
	const char *value, *error;

	assert_int_equal(password_scheme_parse("blf-crypt", &scheme), 0);
	assert_int_equal(scheme, PASSWORD_SCHEME_BLF_CRYPT);
	assert_string_equal(password_scheme_name(scheme), "BLF-CRYPT");
	assert_int_equal(password_scheme_parse("SHA1", &scheme), -1);
	assert_int_equal(password_stored_scheme("$6$x$y", &scheme, &value,
						&error), 0);
	assert_int_equal(scheme, PASSWORD_SCHEME_CRYPT);
	assert_string_equal(value, "$6$x$y");
	assert_int_equal(password_stored_scheme("{Argon2ID}$a", &scheme,
						&value, &error), 0);
	assert_int_equal(scheme, PASSWORD_SCHEME_ARGON2ID);
	assert_string_equal(value, "$a");
	assert_int_equal(password_stored_scheme("{X}", &scheme, &value,
						&error), -1);
}

static void
test_password_scram_keys(void **state)
{
	struct password_scram_keys keys;
	const char *error;
	uint8_t salt[64], salted[32], ck[32], sk[32], svk[32];
	size_t salt_len;

	assert_int_equal(password_scram_sha256_keys(RFC7677_STORED, &keys,
						    &error), 1);
	assert_int_equal(keys.iterations, 4096);
	assert_string_equal(keys.salt_b64, RFC7677_SALT);

	/* From PLAIN: a stable salt, keys that match the password. */
	struct password_scram_keys keys2, keys3;
	assert_int_equal(password_scram_sha256_keys("{PLAIN}pencil", &keys2,
						    &error), 1);
	assert_int_equal(password_scram_sha256_keys("{PLAIN}pencil2", &keys3,
						    &error), 1);
	assert_string_not_equal(keys2.salt_b64, keys3.salt_b64);
	assert_int_equal(password_scram_sha256_keys("{PLAIN}pencil", &keys,
						    &error), 1);
	assert_string_equal(keys.salt_b64, keys2.salt_b64);
	assert_int_equal(keys.iterations, 4096);
	assert_int_equal(base64_decode(keys.salt_b64, strlen(keys.salt_b64),
				       salt, &salt_len), 0);
	assert_int_equal(salt_len, 16);
	assert_int_equal(PKCS5_PBKDF2_HMAC("pencil", 6, salt, (int)salt_len,
					   4096, EVP_sha256(), 32, salted), 1);
	HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10, ck,
	     NULL);
	SHA256(ck, 32, sk);
	HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Server Key", 10, svk,
	     NULL);
	assert_memory_equal(keys.stored_key, sk, 32);
	assert_memory_equal(keys.server_key, svk, 32);

	assert_int_equal(password_scram_sha256_keys("{SHA512-CRYPT}"
						    SHA512_FIX, &keys, &error),
			 0);
	assert_int_equal(password_scram_sha256_keys("{SCRAM-SHA-256}1,2,3",
						    &keys, &error), -1);
	assert_int_equal(password_scram_sha256_keys("{NOPE}x", &keys,
						    &error), -1);
}

/* Passdb --------------------------------------------------------------- */

static char test_dir[64];

static int
setup_dir(void **state)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/quire-test-auth-XXXXXX");
	if (mkdtemp(test_dir) == NULL)
		return -1;
	return 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *
tmp_path(const char *name)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s", test_dir, name) > 0);
	return path;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char passwd_text[] =
	"# quire users\n"
	"\n"
	"   \n"
	"alice:{PLAIN}alicepw:1000:1000:Alice A:/home/alice:/bin/sh:"
	"quota_rule=*:storage=1G  nopassword flag=a=b\n"
	"bob:{SHA512-CRYPT}" SHA512_FIX "\n"
	"broken-no-colon\n"
	".hidden:{PLAIN}x\n"
	"bad user:{PLAIN}x\n"
	"carol:{PLAIN}c:::\r\n"
	"alice:{PLAIN}second-alice\n"
	"dave:{PLAIN}d:1:2:g:/h:/s:=novalue\n"
	"Erin:{PLAIN}upper\n"
	"erin:{PLAIN}lower\n"
	"Frank:{PLAIN}f\n"
	"gina:{PLAIN}g";

static void
test_passdb_parse(void **state)
{
	char *path = tmp_path("passwd-parse");
	struct passdb *db = passdb_create(path);
	struct passdb_user *user = NULL;
	const char *error;

	write_text(path, passwd_text);
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 1);
	assert_string_equal(user->name, "alice");
	assert_string_equal(user->password, "{PLAIN}alicepw");
	assert_string_equal(user->uid, "1000");
	assert_string_equal(user->gid, "1000");
	assert_string_equal(user->gecos, "Alice A");
	assert_string_equal(user->home, "/home/alice");
	assert_string_equal(user->shell, "/bin/sh");
	/* extra_fields is the rest of the line, ':' included. */
	assert_int_equal(user->extra_count, 3);
	assert_string_equal(passdb_user_extra(user, "quota_rule"),
			    "*:storage=1G");
	assert_string_equal(passdb_user_extra(user, "nopassword"), "");
	assert_string_equal(passdb_user_extra(user, "flag"), "a=b");
	assert_null(passdb_user_extra(user, "missing"));
	passdb_user_free(&user);
	assert_null(user);

	/* Only two fields: the rest are empty. */
	assert_int_equal(passdb_lookup(db, "bob", &user, &error), 1);
	assert_string_equal(user->uid, "");
	assert_string_equal(user->home, "");
	assert_int_equal(user->extra_count, 0);
	assert_int_equal(password_verify(user->password, (const uint8_t *)PW,
					 strlen(PW), &error), 1);
	passdb_user_free(&user);

	/* CRLF line ending. */
	assert_int_equal(passdb_lookup(db, "carol", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}c");
	assert_string_equal(user->gecos, "");
	passdb_user_free(&user);

	/* No trailing newline on the last line. */
	assert_int_equal(passdb_lookup(db, "gina", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}g");
	passdb_user_free(&user);

	/* Broken lines are skipped; the rest loaded. */
	assert_int_equal(passdb_lookup(db, "broken-no-colon", &user, &error),
			 0);
	assert_int_equal(passdb_lookup(db, ".hidden", &user, &error), 0);
	assert_int_equal(passdb_lookup(db, "bad user", &user, &error), 0);
	assert_int_equal(passdb_lookup(db, "dave", &user, &error), 0);
	assert_int_equal(passdb_lookup(db, "", &user, &error), 0);
	/* alice bob carol Erin erin Frank gina */
	assert_int_equal(passdb_count(db), 7);

	/* The first of a duplicate wins. */
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}alicepw");
	passdb_user_free(&user);

	/* Case: exact first, then lowercased. */
	assert_int_equal(passdb_lookup(db, "Erin", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}upper");
	passdb_user_free(&user);
	assert_int_equal(passdb_lookup(db, "ERIN", &user, &error), 1);
	assert_string_equal(user->name, "erin");
	passdb_user_free(&user);
	assert_int_equal(passdb_lookup(db, "ALICE", &user, &error), 1);
	assert_string_equal(user->name, "alice");
	passdb_user_free(&user);
	assert_int_equal(passdb_lookup(db, "frank", &user, &error), 0);
	assert_int_equal(passdb_lookup(db, "Frank", &user, &error), 1);
	passdb_user_free(&user);

	passdb_destroy(&db);
	assert_null(db);
	free(path);
}

static void
test_passdb_reload(void **state)
{
	char *path = tmp_path("passwd-reload");
	struct passdb *db = passdb_create(path);
	struct passdb_user *user = NULL;
	const char *error;
	struct timespec times[2];

	/* Missing file: no users, not an error. */
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 0);
	assert_int_equal(passdb_count(db), 0);

	write_text(path, "alice:{PLAIN}one\n");
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}one");
	passdb_user_free(&user);

	/* Same size, same inode, new mtime: rewritten in place. */
	write_text(path, "alice:{PLAIN}two\n");
	times[0].tv_sec = 1000000000;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}two");
	passdb_user_free(&user);

	/* Size change alone (mtime forced back to the same value). */
	write_text(path, "alice:{PLAIN}three\nbob:{PLAIN}b\n");
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(passdb_lookup(db, "bob", &user, &error), 1);
	passdb_user_free(&user);
	assert_int_equal(passdb_count(db), 2);

	/* Removed: no users again. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(passdb_lookup(db, "bob", &user, &error), 0);
	assert_int_equal(passdb_count(db), 0);

	/* Unreadable (a directory): an error, not "no such user". */
	assert_int_equal(mkdir(path, 0700), 0);
	error = NULL;
	assert_int_equal(passdb_lookup(db, "bob", &user, &error), -1);
	assert_non_null(error);
	assert_int_equal(rmdir(path), 0);
	write_text(path, "bob:{PLAIN}b\n");
	assert_int_equal(passdb_lookup(db, "bob", &user, &error), 1);
	passdb_user_free(&user);

	passdb_destroy(&db);
	free(path);
}

static void
test_passdb_edit(void **state)
{
	char *path = tmp_path("passwd-edit");
	char *lock_path = tmp_path("passwd-edit.lock");
	char *tmp = tmp_path("passwd-edit.tmp");
	struct passdb *db = passdb_create(path);
	struct passdb_user *user = NULL;
	char *err = NULL, **list = NULL, *text;
	const char *error;
	size_t count;
	struct stat st;

	/* Creates the file. */
	assert_int_equal(passdb_file_list(path, &list, &count, &err), 0);
	assert_int_equal(count, 0);
	passdb_user_list_free(&list, count);
	assert_int_equal(passdb_file_set_password(path, "alice", "{PLAIN}a1",
						  &err), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(lock_path, &st), 0);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}a1");
	passdb_user_free(&user);

	/* Other lines are kept byte for byte; fields after the password
	   survive a change. */
	write_text(path, "# head\n"
			 "alice:{PLAIN}a1:1:2:G:/h:/s:quota=5\n"
			 "junk line\n"
			 "bob:{PLAIN}b\n"
			 "carol:{PLAIN}c");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(passdb_file_set_password(path, "alice", "{PLAIN}a2",
						  &err), 0);
	assert_int_equal(passdb_file_set_password(path, "dave", "{PLAIN}d",
						  &err), 1);
	text = read_text(path);
	assert_string_equal(text, "# head\n"
				  "alice:{PLAIN}a2:1:2:G:/h:/s:quota=5\n"
				  "junk line\n"
				  "bob:{PLAIN}b\n"
				  "carol:{PLAIN}c\n"
				  "dave:{PLAIN}d\n");
	free(text);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* The change is seen at once, without a restart. */
	assert_int_equal(passdb_lookup(db, "alice", &user, &error), 1);
	assert_string_equal(user->password, "{PLAIN}a2");
	assert_string_equal(passdb_user_extra(user, "quota"), "5");
	passdb_user_free(&user);
	assert_int_equal(passdb_lookup(db, "dave", &user, &error), 1);
	passdb_user_free(&user);

	assert_int_equal(passdb_file_list(path, &list, &count, &err), 0);
	assert_int_equal(count, 4);
	assert_string_equal(list[0], "alice");
	assert_string_equal(list[1], "bob");
	assert_string_equal(list[2], "carol");
	assert_string_equal(list[3], "dave");
	passdb_user_list_free(&list, count);
	assert_null(list);

	assert_int_equal(passdb_file_delete(path, "bob", &err), 1);
	assert_int_equal(passdb_file_delete(path, "bob", &err), 0);
	assert_int_equal(passdb_lookup(db, "bob", &user, &error), 0);
	text = read_text(path);
	assert_string_equal(text, "# head\n"
				  "alice:{PLAIN}a2:1:2:G:/h:/s:quota=5\n"
				  "junk line\n"
				  "carol:{PLAIN}c\n"
				  "dave:{PLAIN}d\n");
	free(text);

	/* Bad input is refused with a message. */
	assert_int_equal(passdb_file_set_password(path, "bad:user", "{PLAIN}x",
						  &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(passdb_file_set_password(path, "eve", "{PLAIN}x:y",
						  &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(passdb_file_set_password(path, "eve", "", &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(passdb_file_set_password(path, "eve", "a\nb", &err),
			 -1);
	free(err);
	err = NULL;
	assert_int_equal(passdb_file_delete(path, "-x", &err), -1);
	free(err);
	err = NULL;

	/* Duplicates are listed once, deleted together. */
	write_text(path, "x:{PLAIN}1\ny:{PLAIN}2\nx:{PLAIN}3\n");
	assert_int_equal(passdb_file_list(path, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0], "x");
	assert_string_equal(list[1], "y");
	passdb_user_list_free(&list, count);
	assert_int_equal(passdb_file_delete(path, "x", &err), 1);
	text = read_text(path);
	assert_string_equal(text, "y:{PLAIN}2\n");
	free(text);

	/* A directory where the file should be: an error. */
	char *dir_path = tmp_path("passwd-dir");
	assert_int_equal(mkdir(dir_path, 0700), 0);
	assert_int_equal(passdb_file_set_password(dir_path, "a", "{PLAIN}a",
						  &err), -1);
	assert_non_null(err);
	free(err);
	free(dir_path);

	passdb_destroy(&db);
	free(path);
	free(lock_path);
	free(tmp);
}

struct lookup_thread {
	struct passdb *db;
	int found;
};

static void *
lookup_thread_main(void *arg)
{
	struct lookup_thread *t = arg;

	for (unsigned i = 0; i < 300; i++) {
		struct passdb_user *user = NULL;
		const char *error;

		if (passdb_lookup(t->db, "stable", &user, &error) == 1) {
			t->found++;
			passdb_user_free(&user);
		}
	}
	return NULL;
}

static void
test_passdb_threads(void **state)
{
	char *path = tmp_path("passwd-threads");
	struct passdb *db = passdb_create(path);
	struct lookup_thread t[4];
	pthread_t tid[4];
	char *err = NULL, name[32];

	write_text(path, "stable:{PLAIN}s\n");
	for (unsigned i = 0; i < N_ELEMENTS(t); i++) {
		t[i].db = db;
		t[i].found = 0;
		assert_int_equal(pthread_create(&tid[i], NULL,
						lookup_thread_main, &t[i]), 0);
	}
	/* Edits under way while the readers reload. */
	for (unsigned i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "u%u", i);
		assert_int_equal(passdb_file_set_password(path, name,
							  "{PLAIN}p", &err),
				 1);
	}
	for (unsigned i = 0; i < N_ELEMENTS(t); i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(t[i].found, 300);
	}
	struct passdb_user *user = NULL;
	const char *error;
	assert_int_equal(passdb_lookup(db, "u19", &user, &error), 1);
	passdb_user_free(&user);
	assert_int_equal(passdb_count(db), 21);
	passdb_destroy(&db);
	free(path);
}

/* SASL ----------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *stored;
} sasl_users[] = {
	{ "alice", "{PLAIN}alicepw" },
	{ "bob", "{SHA512-CRYPT}" SHA512_FIX },
	{ "user", RFC7677_STORED },
	{ "carol", "{SCRAM-SHA-256}" SCRAM_FIX },
	{ "broken", "{NOPE}x" },
};

static int
test_lookup(void *context, const char *name, char **stored_r, char **user_r)
{
	int *calls = context;
	char lower[AUTH_MAX_USERNAME + 1];

	if (calls != NULL)
		(*calls)++;
	if (strcmp(name, "tempfail") == 0)
		return -1;
	assert_int_equal(auth_username_lowercase(name, lower, sizeof(lower)),
			 0);
	for (size_t i = 0; i < N_ELEMENTS(sasl_users); i++) {
		if (strcmp(lower, sasl_users[i].name) == 0) {
			*stored_r = strdup(sasl_users[i].stored);
			*user_r = strdup(sasl_users[i].name);
			return 1;
		}
	}
	return 0;
}

static struct sasl_server_settings
sasl_settings(bool secure)
{
	struct sasl_server_settings set = {
		.secure = secure,
		.plaintext_allowed = false,
		.lookup = test_lookup,
	};
	return set;
}

static void
test_sasl_mechanisms(void **state)
{
	const char *const *m;
	struct sasl_server_settings set = sasl_settings(false);
	struct sasl_server *server;
	const char *error;

	m = sasl_mechanisms(true, false);
	assert_string_equal(m[0], "SCRAM-SHA-256");
	assert_string_equal(m[1], "PLAIN");
	assert_string_equal(m[2], "LOGIN");
	assert_null(m[3]);
	m = sasl_mechanisms(false, true);
	assert_string_equal(m[1], "PLAIN");
	m = sasl_mechanisms(false, false);
	assert_string_equal(m[0], "SCRAM-SHA-256");
	assert_null(m[1]);

	/* Plaintext mechanisms need a secure channel or explicit consent. */
	assert_null(sasl_server_create("PLAIN", &set, &error));
	assert_null(sasl_server_create("LOGIN", &set, &error));
	assert_null(sasl_server_create("CRAM-MD5", &set, &error));
	assert_null(sasl_server_create("SCRAM-SHA-256-PLUS", &set, &error));
	server = sasl_server_create("scram-sha-256", &set, &error);
	assert_non_null(server);
	assert_string_equal(sasl_server_mech_name(server), "SCRAM-SHA-256");
	sasl_server_destroy(&server);
	assert_null(server);
	set.plaintext_allowed = true;
	server = sasl_server_create("plain", &set, &error);
	assert_non_null(server);
	sasl_server_destroy(&server);
}

/* Runs a one-message PLAIN exchange. */
static enum sasl_result
plain_once(const void *msg, size_t len, struct sasl_server **server_r,
	   const char **error_r)
{
	struct sasl_server_settings set = sasl_settings(true);
	const uint8_t *out;
	size_t out_len;

	*server_r = sasl_server_create("PLAIN", &set, error_r);
	assert_non_null(*server_r);
	return sasl_server_step(*server_r, msg, len, &out, &out_len, error_r);
}

#define MSG(s) s, sizeof(s) - 1

static void
test_sasl_plain(void **state)
{
	static const struct {
		const char *msg;
		size_t len;
		enum sasl_result result;
		const char *user; /* after the step */
		const char *error;
	} cases[] = {
		{ MSG("\0alice\0alicepw"), SASL_OK, "alice", NULL },
		{ MSG("alice\0alice\0alicepw"), SASL_OK, "alice", NULL },
		{ MSG("\0ALICE\0alicepw"), SASL_OK, "alice", NULL },
		{ MSG("\0bob\0" PW), SASL_OK, "bob", NULL },
		{ MSG("\0carol\0" PW), SASL_OK, "carol", NULL },
		{ MSG("\0alice\0wrong"), SASL_FAIL, "alice", "wrong password" },
		{ MSG("\0bob\0wrong"), SASL_FAIL, "bob", "wrong password" },
		{ MSG("bob\0alice\0alicepw"), SASL_FAIL, NULL,
		  "authorization identity differs from the user" },
		{ MSG("alicex\0alice\0alicepw"), SASL_FAIL, NULL,
		  "authorization identity differs from the user" },
		{ MSG("\0nobody\0pw"), SASL_FAIL, "nobody", "unknown user" },
		{ MSG("\0\0pw"), SASL_FAIL, NULL, "empty user name" },
		{ MSG("\0al ice\0pw"), SASL_FAIL, NULL, "invalid user name" },
		{ MSG("\0alice\0"), SASL_FAIL, NULL, "empty password" },
		{ MSG("\0alice\0alice\0pw"), SASL_FAIL, NULL,
		  "NUL in PLAIN password" },
		{ MSG("\0alicealicepw"), SASL_FAIL, NULL,
		  "malformed PLAIN message" },
		{ MSG("alicealicepw"), SASL_FAIL, NULL,
		  "malformed PLAIN message" },
		{ MSG(""), SASL_FAIL, NULL, "malformed PLAIN message" },
		{ MSG("\0broken\0x"), SASL_FAIL, "broken",
		  "unknown password scheme" },
		{ MSG("\0tempfail\0x"), SASL_FAIL, "tempfail",
		  "user database unavailable" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct sasl_server *server;
		const char *error = NULL;
		enum sasl_result ret = plain_once(cases[i].msg, cases[i].len,
						  &server, &error);

		if (ret != cases[i].result)
			fail_msg("case %zu: got %d (%s)", i, ret,
				 error != NULL ? error : "");
		if (cases[i].user == NULL)
			assert_null(sasl_server_get_user(server));
		else
			assert_string_equal(sasl_server_get_user(server),
					    cases[i].user);
		if (cases[i].error != NULL)
			assert_string_equal(error, cases[i].error);
		assert_int_equal(sasl_server_failure_is_temporary(server),
				 cases[i].len > 9 &&
				 memcmp(cases[i].msg, "\0tempfail\0", 10) == 0);
		sasl_server_destroy(&server);
	}
}

static void
test_sasl_plain_flow(void **state)
{
	struct sasl_server_settings set = sasl_settings(true);
	struct sasl_server *server;
	const uint8_t *out;
	size_t out_len;
	const char *error;
	uint8_t big[SASL_MAX_INPUT + 1];

	/* No initial response: an empty challenge first. */
	server = sasl_server_create("PLAIN", &set, &error);
	assert_int_equal(sasl_server_step(server, NULL, 0, &out, &out_len,
					  &error), SASL_CONTINUE);
	assert_int_equal(out_len, 0);
	assert_int_equal(sasl_server_step(server, (const uint8_t *)
					  "\0alice\0alicepw", 14, &out,
					  &out_len, &error), SASL_OK);
	assert_int_equal(out_len, 0);
	assert_string_equal(sasl_server_get_user(server), "alice");
	assert_true(sasl_server_password_is_cleartext(server));
	/* Finished: nothing more is accepted. */
	assert_int_equal(sasl_server_step(server, (const uint8_t *)"x", 1,
					  &out, &out_len, &error), SASL_FAIL);
	sasl_server_destroy(&server);

	/* Overlong input. */
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[6] = '\0';
	server = sasl_server_create("PLAIN", &set, &error);
	assert_int_equal(sasl_server_step(server, big, sizeof(big), &out,
					  &out_len, &error), SASL_FAIL);
	assert_string_equal(error, "SASL message too long");
	sasl_server_destroy(&server);

	/* An empty response after the empty challenge. */
	server = sasl_server_create("PLAIN", &set, &error);
	assert_int_equal(sasl_server_step(server, NULL, 0, &out, &out_len,
					  &error), SASL_CONTINUE);
	assert_int_equal(sasl_server_step(server, (const uint8_t *)"", 0,
					  &out, &out_len, &error), SASL_FAIL);
	sasl_server_destroy(&server);
}

struct step {
	const char *in; /* NULL: no initial response */
	size_t len;
	enum sasl_result result;
	const char *out; /* expected output, or NULL to skip */
};

/* Runs an exchange; returns the error of the last step. */
static const char *
run_steps(const char *mech, const struct sasl_server_settings *set,
	  const struct step *steps, size_t count, const char *user)
{
	struct sasl_server *server;
	const char *error = NULL;

	server = sasl_server_create(mech, set, &error);
	assert_non_null(server);
	for (size_t i = 0; i < count; i++) {
		const uint8_t *out;
		size_t out_len;
		enum sasl_result ret;

		error = NULL;
		ret = sasl_server_step(server, (const uint8_t *)steps[i].in,
				       steps[i].len, &out, &out_len, &error);
		if (ret != steps[i].result)
			fail_msg("%s step %zu: got %d (%s)", mech, i, ret,
				 error != NULL ? error : "");
		if (steps[i].out != NULL) {
			assert_int_equal(out_len, strlen(steps[i].out));
			assert_memory_equal(out, steps[i].out, out_len);
		}
	}
	if (user == NULL)
		assert_null(sasl_server_get_user(server));
	else
		assert_string_equal(sasl_server_get_user(server), user);
	sasl_server_destroy(&server);
	return error;
}

static void
test_sasl_login(void **state)
{
	struct sasl_server_settings set = sasl_settings(true);
	const struct step ok[] = {
		{ NULL, 0, SASL_CONTINUE, "Username:" },
		{ MSG("alice"), SASL_CONTINUE, "Password:" },
		{ MSG("alicepw"), SASL_OK, "" },
	};
	const struct step ok_ir[] = {
		{ MSG("Bob"), SASL_CONTINUE, "Password:" },
		{ MSG(PW), SASL_OK, "" },
	};
	const struct step wrong[] = {
		{ NULL, 0, SASL_CONTINUE, "Username:" },
		{ MSG("alice"), SASL_CONTINUE, "Password:" },
		{ MSG("alicepx"), SASL_FAIL, "" },
	};
	const struct step unknown[] = {
		{ NULL, 0, SASL_CONTINUE, "Username:" },
		{ MSG("nobody"), SASL_CONTINUE, "Password:" },
		{ MSG("x"), SASL_FAIL, "" },
	};
	const struct step empty_user[] = {
		{ NULL, 0, SASL_CONTINUE, "Username:" },
		{ MSG(""), SASL_FAIL, "" },
	};
	const struct step empty_ir[] = {
		{ MSG(""), SASL_FAIL, "" },
	};
	const struct step nul_user[] = {
		{ NULL, 0, SASL_CONTINUE, "Username:" },
		{ MSG("ali\0ce"), SASL_FAIL, "" },
	};
	const struct step bad_user[] = {
		{ NULL, 0, SASL_CONTINUE, "Username:" },
		{ MSG("ali:ce"), SASL_FAIL, "" },
	};
	const struct step nul_pass[] = {
		{ MSG("alice"), SASL_CONTINUE, "Password:" },
		{ MSG("alice\0pw"), SASL_FAIL, "" },
	};
	const struct step empty_pass[] = {
		{ MSG("alice"), SASL_CONTINUE, "Password:" },
		{ MSG(""), SASL_FAIL, "" },
	};
	const struct step after_ok[] = {
		{ MSG("alice"), SASL_CONTINUE, "Password:" },
		{ MSG("alicepw"), SASL_OK, "" },
		{ MSG("more"), SASL_FAIL, "" },
	};

	assert_null(run_steps("LOGIN", &set, ok, N_ELEMENTS(ok), "alice"));
	assert_null(run_steps("LOGIN", &set, ok_ir, N_ELEMENTS(ok_ir), "bob"));
	assert_string_equal(run_steps("LOGIN", &set, wrong, N_ELEMENTS(wrong),
				      "alice"), "wrong password");
	assert_string_equal(run_steps("LOGIN", &set, unknown,
				      N_ELEMENTS(unknown), "nobody"),
			    "unknown user");
	assert_string_equal(run_steps("LOGIN", &set, empty_user,
				      N_ELEMENTS(empty_user), NULL),
			    "empty user name");
	assert_string_equal(run_steps("LOGIN", &set, empty_ir,
				      N_ELEMENTS(empty_ir), NULL),
			    "empty user name");
	assert_string_equal(run_steps("LOGIN", &set, nul_user,
				      N_ELEMENTS(nul_user), NULL),
			    "NUL in user name");
	assert_string_equal(run_steps("LOGIN", &set, bad_user,
				      N_ELEMENTS(bad_user), NULL),
			    "invalid user name");
	assert_string_equal(run_steps("LOGIN", &set, nul_pass,
				      N_ELEMENTS(nul_pass), "alice"),
			    "NUL in password");
	assert_string_equal(run_steps("LOGIN", &set, empty_pass,
				      N_ELEMENTS(empty_pass), "alice"),
			    "empty password");
	assert_string_equal(run_steps("LOGIN", &set, after_ok,
				      N_ELEMENTS(after_ok), "alice"),
			    "exchange already finished");
}

/* RFC 7677 section 3, with the server nonce fixed to the one there. */
#define RFC7677_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC7677_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC7677_C1 "n,,n=user,r=" RFC7677_CNONCE
#define RFC7677_S1 "r=" RFC7677_CNONCE RFC7677_SNONCE ",s=" RFC7677_SALT \
	",i=4096"
#define RFC7677_C2_NOPROOF "c=biws,r=" RFC7677_CNONCE RFC7677_SNONCE
#define RFC7677_C2 RFC7677_C2_NOPROOF \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC7677_S2 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void
test_sasl_scram_rfc7677(void **state)
{
	struct sasl_server_settings set = sasl_settings(false);
	int calls = 0;

	set.test_nonce = RFC7677_SNONCE;
	set.lookup_context = &calls;
	const struct step ok[] = {
		{ MSG(RFC7677_C1), SASL_CONTINUE, RFC7677_S1 },
		{ MSG(RFC7677_C2), SASL_OK, RFC7677_S2 },
	};
	const struct step ok_no_ir[] = {
		{ NULL, 0, SASL_CONTINUE, "" },
		{ MSG(RFC7677_C1), SASL_CONTINUE, RFC7677_S1 },
		{ MSG(RFC7677_C2), SASL_OK, RFC7677_S2 },
	};
	const struct step bad_proof[] = {
		{ MSG(RFC7677_C1), SASL_CONTINUE, RFC7677_S1 },
		{ MSG(RFC7677_C2_NOPROOF
		      ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
		  SASL_FAIL, "" },
	};
	/* A "y" header must be echoed in c= ("eSws" is "y,,"). */
	const struct step flag_y_mismatch[] = {
		{ MSG("y,,n=user,r=" RFC7677_CNONCE), SASL_CONTINUE,
		  RFC7677_S1 },
		{ MSG(RFC7677_C2), SASL_FAIL, "" },
	};
	const struct step nonce_mismatch[] = {
		{ MSG(RFC7677_C1), SASL_CONTINUE, RFC7677_S1 },
		{ MSG("c=biws,r=" RFC7677_CNONCE "X,p=dHzbZapWIk4jUhN+Ute9yt"
		      "ag9zjfMHgsqmmiz7AndVQ="), SASL_FAIL, "" },
	};
	const struct step proof_not_last[] = {
		{ MSG(RFC7677_C1), SASL_CONTINUE, RFC7677_S1 },
		{ MSG(RFC7677_C2 ",x=1"), SASL_FAIL, "" },
	};
	const struct step proof_short[] = {
		{ MSG(RFC7677_C1), SASL_CONTINUE, RFC7677_S1 },
		{ MSG(RFC7677_C2_NOPROOF ",p=dHzb"), SASL_FAIL, "" },
	};

	assert_null(run_steps("SCRAM-SHA-256", &set, ok, N_ELEMENTS(ok),
			      "user"));
	assert_int_equal(calls, 1);
	assert_null(run_steps("SCRAM-SHA-256", &set, ok_no_ir,
			      N_ELEMENTS(ok_no_ir), "user"));
	assert_string_equal(run_steps("SCRAM-SHA-256", &set, bad_proof,
				      N_ELEMENTS(bad_proof), "user"),
			    "wrong password");
	assert_string_equal(run_steps("SCRAM-SHA-256", &set, flag_y_mismatch,
				      N_ELEMENTS(flag_y_mismatch), "user"),
			    "SCRAM channel binding mismatch");
	assert_string_equal(run_steps("SCRAM-SHA-256", &set, nonce_mismatch,
				      N_ELEMENTS(nonce_mismatch), "user"),
			    "SCRAM nonce mismatch");
	assert_string_equal(run_steps("SCRAM-SHA-256", &set, proof_not_last,
				      N_ELEMENTS(proof_not_last), "user"),
			    "malformed SCRAM proof");
	assert_string_equal(run_steps("SCRAM-SHA-256", &set, proof_short,
				      N_ELEMENTS(proof_short), "user"),
			    "malformed SCRAM proof");
}

static void
test_sasl_scram_first_errors(void **state)
{
	struct sasl_server_settings set = sasl_settings(false);
	static const struct {
		const char *msg;
		size_t len;
		const char *error;
	} cases[] = {
		{ MSG("p=tls-unique,,n=user,r=abc"),
		  "channel binding not supported" },
		{ MSG("x,,n=user,r=abc"), "malformed SCRAM gs2 header" },
		{ MSG("n"), "malformed SCRAM client-first" },
		{ MSG("n,n=user,r=abc"), "malformed SCRAM authzid" },
		{ MSG("n,a=other,n=user,r=abc"),
		  "authorization identity differs from the user" },
		{ MSG("n,a=,n=user,r=abc"), "malformed SCRAM authzid" },
		{ MSG("n,b=x,n=user,r=abc"), "malformed SCRAM authzid" },
		{ MSG("n,,m=ext,n=user,r=abc"),
		  "SCRAM mandatory extension not supported" },
		{ MSG("n,,n=,r=abc"), "empty user name" },
		{ MSG("n,,u=user,r=abc"), "malformed SCRAM username" },
		{ MSG("n,,n=us=2Cer,r=abc"), "invalid user name" },
		{ MSG("n,,n=us=4er,r=abc"), "invalid user name" },
		{ MSG("n,,n=us\0er,r=abc"), "NUL in SCRAM message" },
		{ MSG("n,,n=user"), "malformed SCRAM nonce" },
		{ MSG("n,,n=user,r="), "malformed SCRAM nonce" },
		{ MSG("n,,n=user,x=abc"), "malformed SCRAM nonce" },
		{ MSG("n,,n=user,r=a\x7f" "b"), "malformed SCRAM nonce" },
		{ MSG("n,,n=tempfail,r=abc"), "user database unavailable" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct sasl_server *server;
		const uint8_t *out;
		size_t out_len;
		const char *error = NULL;

		server = sasl_server_create("SCRAM-SHA-256", &set, &error);
		if (sasl_server_step(server, (const uint8_t *)cases[i].msg,
				     cases[i].len, &out, &out_len, &error) !=
		    SASL_FAIL)
			fail_msg("case %zu accepted", i);
		assert_string_equal(error, cases[i].error);
		sasl_server_destroy(&server);
	}
}

/* A SCRAM-SHA-256 client, written from RFC 5802 apart from the server
   code, to log in against values the server derives itself. */
static void
scram_client_final(const char *password, const char *client_first_bare,
		   const char *server_first, const char *gs2_b64,
		   char *final_r, size_t final_size, char *server_sig_b64_r)
{
	char nonce[256], salt_b64[128], am[2048], without_proof[512];
	unsigned iterations;
	uint8_t salt[96], salted[32], ck[32], sk[32], csig[32], svk[32],
		ssig[32], proof[32];
	size_t salt_len;
	char proof_b64[64];

	assert_int_equal(sscanf(server_first, "r=%255[^,],s=%127[^,],i=%u",
				nonce, salt_b64, &iterations), 3);
	assert_int_equal(base64_decode(salt_b64, strlen(salt_b64), salt,
				       &salt_len), 0);
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
					   salt, (int)salt_len,
					   (int)iterations, EVP_sha256(), 32,
					   salted), 1);
	HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10, ck,
	     NULL);
	SHA256(ck, 32, sk);
	snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s", gs2_b64,
		 nonce);
	snprintf(am, sizeof(am), "%s,%s,%s", client_first_bare, server_first,
		 without_proof);
	HMAC(EVP_sha256(), sk, 32, (const uint8_t *)am, strlen(am), csig,
	     NULL);
	for (unsigned i = 0; i < 32; i++)
		proof[i] = ck[i] ^ csig[i];
	base64_encode(proof, 32, proof_b64);
	snprintf(final_r, final_size, "%s,p=%s", without_proof, proof_b64);
	HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Server Key", 10, svk,
	     NULL);
	HMAC(EVP_sha256(), svk, 32, (const uint8_t *)am, strlen(am), ssig,
	     NULL);
	strcpy(server_sig_b64_r, "v=");
	base64_encode(ssig, 32, server_sig_b64_r + 2);
}

/* Logs user in with SCRAM; returns the final result and the salt the
   server offered. */
static enum sasl_result
scram_login(const char *user, const char *password, const char *gs2,
	    const char *gs2_b64, char *salt_r, const char **error_r)
{
	struct sasl_server_settings set = sasl_settings(false);
	struct sasl_server *server;
	char first[256], final[1024], server_first[512], expect_sig[64];
	const uint8_t *out;
	size_t out_len;
	enum sasl_result ret;

	server = sasl_server_create("SCRAM-SHA-256", &set, error_r);
	snprintf(first, sizeof(first), "%sn=%s,r=clientnonce123", gs2, user);
	ret = sasl_server_step(server, (const uint8_t *)first, strlen(first),
			       &out, &out_len, error_r);
	assert_int_equal(ret, SASL_CONTINUE);
	assert_true(out_len < sizeof(server_first));
	memcpy(server_first, out, out_len);
	server_first[out_len] = '\0';
	/* Our nonce extends the client's with 24 random characters. */
	assert_int_equal(strncmp(server_first, "r=clientnonce123", 16), 0);
	assert_true(strchr(server_first + 16, ',') - server_first == 16 + 24);
	sscanf(strstr(server_first, ",s=") + 3, "%127[^,]", salt_r);

	scram_client_final(password, first + strlen(gs2), server_first,
			   gs2_b64, final, sizeof(final), expect_sig);
	ret = sasl_server_step(server, (const uint8_t *)final, strlen(final),
			       &out, &out_len, error_r);
	if (ret == SASL_OK) {
		assert_int_equal(out_len, strlen(expect_sig));
		assert_memory_equal(out, expect_sig, out_len);
	}
	sasl_server_destroy(&server);
	return ret;
}

static void
test_sasl_scram_stored_forms(void **state)
{
	char salt1[128], salt2[128];
	const char *error;

	/* SCRAM value, PLAIN value (keys derived), gs2 "y" and authzid. */
	assert_int_equal(scram_login("carol", PW, "n,,", "biws", salt1,
				     &error), SASL_OK);
	assert_string_equal(salt1, "MDEyMzQ1Njc4OWFiY2RlZg==");
	assert_int_equal(scram_login("alice", "alicepw", "y,,", "eSws", salt1,
				     &error), SASL_OK);
	assert_int_equal(scram_login("alice", "alicepw", "n,a=alice,",
				     "bixhPWFsaWNlLA==", salt1, &error),
			 SASL_OK);
	assert_int_equal(scram_login("alice", "wrong", "n,,", "biws", salt2,
				     &error), SASL_FAIL);
	assert_string_equal(salt1, salt2);
	assert_string_equal(error, "wrong password");

	/* A one-way hash cannot serve SCRAM: the exchange runs to the end
	   and fails there, like an unknown user. */
	assert_int_equal(scram_login("bob", PW, "n,,", "biws", salt1, &error),
			 SASL_FAIL);
	assert_string_equal(error, "stored password cannot be used for "
				   "SCRAM-SHA-256");
	/* Unknown users get a stable fake salt. */
	assert_int_equal(scram_login("nobody", "x", "n,,", "biws", salt1,
				     &error), SASL_FAIL);
	assert_string_equal(error, "unknown user");
	assert_int_equal(scram_login("nobody", "y", "n,,", "biws", salt2,
				     &error), SASL_FAIL);
	assert_string_equal(salt1, salt2);
	assert_int_equal(strlen(salt1), 24);
	assert_int_equal(scram_login("broken", "x", "n,,", "biws", salt1,
				     &error), SASL_FAIL);
	assert_string_equal(error, "unknown password scheme");
}

/* Throttle ------------------------------------------------------------- */

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

static int
setup_throttle(void **state)
{
	fake_now = 1000000;
	auth_throttle_set_clock(fake_clock);
	auth_throttle_reset();
	return 0;
}

static int
teardown_throttle(void **state)
{
	auth_throttle_set_clock(NULL);
	auth_throttle_reset();
	return 0;
}

static void
test_throttle_growth(void **state)
{
	static const unsigned expect[] = {
		0, 250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000,
	};
	for (size_t i = 0; i < N_ELEMENTS(expect); i++)
		assert_int_equal(auth_throttle_delay_ms("192.0.2.1", "alice"),
				 expect[i]);
	/* Many more: still capped. */
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(auth_throttle_delay_ms("192.0.2.1", "alice"),
				 AUTH_THROTTLE_MAX_DELAY_MS);
	/* A fresh address and name are not slowed down. */
	assert_int_equal(auth_throttle_delay_ms("192.0.2.2", "bob"), 0);
	/* NULL and empty keys count nothing. */
	assert_int_equal(auth_throttle_delay_ms(NULL, NULL), 0);
	assert_int_equal(auth_throttle_delay_ms("", ""), 0);
}

static void
test_throttle_per_key(void **state)
{
	/* One name tried from many addresses. */
	assert_int_equal(auth_throttle_delay_ms("198.51.100.1", "carol"), 0);
	assert_int_equal(auth_throttle_delay_ms("198.51.100.2", "carol"), 250);
	assert_int_equal(auth_throttle_delay_ms("198.51.100.3", "carol"), 500);
	/* One address trying many names. */
	assert_int_equal(auth_throttle_delay_ms("203.0.113.9", "u1"), 0);
	assert_int_equal(auth_throttle_delay_ms("203.0.113.9", "u2"), 250);
	assert_int_equal(auth_throttle_delay_ms("203.0.113.9", NULL), 500);

	/* Success clears the name, not the address. */
	auth_throttle_success("carol");
	assert_int_equal(auth_throttle_delay_ms("198.51.100.50", "carol"), 0);
	auth_throttle_success("u2");
	assert_int_equal(auth_throttle_delay_ms("203.0.113.9", "u2"), 1000);
	auth_throttle_success(NULL);
	auth_throttle_success("never-seen");
}

static void
test_throttle_decay(void **state)
{
	for (unsigned i = 0; i < 4; i++)
		(void)auth_throttle_delay_ms("192.0.2.7", NULL);
	/* 4 failures; one half-life later 2, so the next waits 500 ms
	   (as after the second failure) instead of 2000. */
	fake_now += (uint64_t)AUTH_THROTTLE_HALF_LIFE_SECS * 1000;
	assert_int_equal(auth_throttle_delay_ms("192.0.2.7", NULL), 500);
	/* Now 3; long after, forgotten. */
	fake_now += (uint64_t)AUTH_THROTTLE_HALF_LIFE_SECS * 1000 * 10;
	assert_int_equal(auth_throttle_delay_ms("192.0.2.7", NULL), 0);
	/* Less than a half-life changes nothing. */
	fake_now += (uint64_t)AUTH_THROTTLE_HALF_LIFE_SECS * 1000 - 1;
	assert_int_equal(auth_throttle_delay_ms("192.0.2.7", NULL), 250);
}

static void
test_throttle_bounded(void **state)
{
	char ip[32];

	/* A repeat offender, then a flood of one-off addresses: the table
	   stays fixed and evicts the one-offs before the offender. */
	for (unsigned i = 0; i < 8; i++)
		(void)auth_throttle_delay_ms("192.0.2.66", NULL);
	for (unsigned i = 0; i < AUTH_THROTTLE_SLOTS * 4; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		assert_int_equal(auth_throttle_delay_ms(ip, NULL), 0);
	}
	assert_int_equal(auth_throttle_delay_ms("192.0.2.66", NULL),
			 AUTH_THROTTLE_MAX_DELAY_MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_username),
		cmocka_unit_test(test_password_verify_table),
		cmocka_unit_test(test_sha512_crypt),
		cmocka_unit_test(test_password_nul_and_long),
		cmocka_unit_test(test_password_generate),
		cmocka_unit_test(test_password_cleartext),
		cmocka_unit_test(test_password_scheme_names),
		cmocka_unit_test(test_password_scram_keys),
		cmocka_unit_test(test_passdb_parse),
		cmocka_unit_test(test_passdb_reload),
		cmocka_unit_test(test_passdb_edit),
		cmocka_unit_test(test_passdb_threads),
		cmocka_unit_test(test_sasl_mechanisms),
		cmocka_unit_test(test_sasl_plain),
		cmocka_unit_test(test_sasl_plain_flow),
		cmocka_unit_test(test_sasl_login),
		cmocka_unit_test(test_sasl_scram_rfc7677),
		cmocka_unit_test(test_sasl_scram_first_errors),
		cmocka_unit_test(test_sasl_scram_stored_forms),
		cmocka_unit_test_setup_teardown(test_throttle_growth,
						setup_throttle,
						teardown_throttle),
		cmocka_unit_test_setup_teardown(test_throttle_per_key,
						setup_throttle,
						teardown_throttle),
		cmocka_unit_test_setup_teardown(test_throttle_decay,
						setup_throttle,
						teardown_throttle),
		cmocka_unit_test_setup_teardown(test_throttle_bounded,
						setup_throttle,
						teardown_throttle),
	};
	/* Broken passwd-file lines are logged; keep test output clean. */
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
