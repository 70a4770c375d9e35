/* Server-side SASL mechanisms: see sasl.h. */
#include "auth/sasl.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/sha.h>

#include "auth/auth-private.h"
#include "auth/password.h"
#include "auth/username.h"
#include "lib/base64.h"
#include "lib/limits.h"

/* Random bytes in our part of the SCRAM nonce (RFC 5802 section 5.1:
   it must be unpredictable). 18 bytes give 24 base64 characters. */
#define SCRAM_SERVER_NONCE_BYTES 18
/* Salt length of the fake exchange for unknown users; Dovecot's salts
   are 16 bytes, so fake ones look alike. */
#define SCRAM_FAKE_SALT_LEN 16

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_SCRAM_SHA256,
};

enum sasl_state {
	STATE_START,
	STATE_LOGIN_USER,     /* LOGIN: "Username:" sent */
	STATE_LOGIN_PASSWORD, /* LOGIN: "Password:" sent */
	STATE_PLAIN_RESPONSE, /* PLAIN: empty challenge sent */
	STATE_SCRAM_FIRST,    /* SCRAM: empty challenge sent */
	STATE_SCRAM_FINAL,    /* SCRAM: server-first sent */
	STATE_DONE,
};

static const struct {
	const char *name;
	enum sasl_mech mech;
	bool plaintext; /* sends the password itself */
} sasl_mechs[] = {
	{ "SCRAM-SHA-256", SASL_MECH_SCRAM_SHA256, false },
	{ "PLAIN", SASL_MECH_PLAIN, true },
	{ "LOGIN", SASL_MECH_LOGIN, true },
};

struct sasl_server {
	struct sasl_server_settings set;
	char *test_nonce;
	enum sasl_mech mech;
	const char *mech_name;
	enum sasl_state state;

	char *user; /* attempted, then authenticated (as stored) */
	bool temp_failure;
	bool cleartext;
	uint8_t *out;
	size_t out_len;

	/* SCRAM */
	char *gs2_header;
	char *client_first_bare;
	char *server_first;
	char *nonce; /* client's + ours */
	struct password_scram_keys keys;
	/* Why the final step must fail though the exchange goes on (unknown
	   user, unusable stored value), or NULL. */
	const char *fake_reason;
};

static const char *const mech_list_all[] = {
	"SCRAM-SHA-256", "PLAIN", "LOGIN", NULL
};
static const char *const mech_list_secure_only[] = {
	"SCRAM-SHA-256", NULL
};

const char *const *
sasl_mechanisms(bool secure, bool plaintext_allowed)
{
	return secure || plaintext_allowed ? mech_list_all
					   : mech_list_secure_only;
}

struct sasl_server *
sasl_server_create(const char *mech, const struct sasl_server_settings *set,
		   const char **error_r)
{
	struct sasl_server *server;
	size_t i;

	for (i = 0; i < sizeof(sasl_mechs) / sizeof(sasl_mechs[0]); i++) {
		if (strcasecmp(mech, sasl_mechs[i].name) == 0)
			break;
	}
	if (i == sizeof(sasl_mechs) / sizeof(sasl_mechs[0])) {
		*error_r = "unsupported mechanism";
		return NULL;
	}
	if (sasl_mechs[i].plaintext && !set->secure &&
	    !set->plaintext_allowed) {
		*error_r = "plaintext mechanism on an insecure channel";
		return NULL;
	}
	server = auth_xcalloc(1, sizeof(*server));
	server->set = *set;
	if (set->test_nonce != NULL)
		server->test_nonce = auth_xstrdup(set->test_nonce);
	server->set.test_nonce = server->test_nonce;
	server->mech = sasl_mechs[i].mech;
	server->mech_name = sasl_mechs[i].name;
	server->state = STATE_START;
	return server;
}

void
sasl_server_destroy(struct sasl_server **_server)
{
	struct sasl_server *server = *_server;

	if (server == NULL)
		return;
	*_server = NULL;
	free(server->test_nonce);
	free(server->user);
	free(server->out);
	free(server->gs2_header);
	free(server->client_first_bare);
	free(server->server_first);
	free(server->nonce);
	OPENSSL_cleanse(server, sizeof(*server));
	free(server);
}

const char *
sasl_server_get_user(const struct sasl_server *server)
{
	return server->user;
}

bool
sasl_server_failure_is_temporary(const struct sasl_server *server)
{
	return server->temp_failure;
}

bool
sasl_server_password_is_cleartext(const struct sasl_server *server)
{
	return server->cleartext;
}

const char *
sasl_server_mech_name(const struct sasl_server *server)
{
	return server->mech_name;
}

/* Sets the output to a copy of data. */
static void
set_output(struct sasl_server *server, const void *data, size_t len)
{
	free(server->out);
	server->out = auth_xmalloc(len + 1);
	memcpy(server->out, data, len);
	server->out[len] = '\0';
	server->out_len = len;
}

static enum sasl_result
fail(struct sasl_server *server, const char *reason, const char **error_r)
{
	server->state = STATE_DONE;
	*error_r = reason;
	return SASL_FAIL;
}

/* Looks user up. Returns 1 with *stored_r (caller frees with
   auth_free_secret) and server->user set to the stored name, 0 if no
   such user, -1 on a temporary failure. */
static int
lookup(struct sasl_server *server, const char *name, char **stored_r)
{
	char *stored = NULL, *canonical = NULL;
	int ret;

	free(server->user);
	server->user = auth_xstrdup(name);
	if (server->set.lookup == NULL)
		return -1;
	ret = server->set.lookup(server->set.lookup_context, name, &stored,
				 &canonical);
	if (ret <= 0) {
		auth_free_secret(stored);
		free(canonical);
		if (ret < 0)
			server->temp_failure = true;
		return ret < 0 ? -1 : 0;
	}
	if (stored == NULL) {
		free(canonical);
		return 0;
	}
	if (canonical != NULL) {
		free(server->user);
		server->user = canonical;
	}
	*stored_r = stored;
	return 1;
}

/* Checks a user name and password the client sent in clear. */
static enum sasl_result
verify_plaintext(struct sasl_server *server, const uint8_t *user,
		 size_t user_len, const uint8_t *pass, size_t pass_len,
		 const char **error_r)
{
	char name[AUTH_MAX_USERNAME + 1];
	char *stored = NULL;
	const char *error;
	int ret;

	if (user_len == 0)
		return fail(server, "empty user name", error_r);
	if (!auth_username_valid(user, user_len))
		return fail(server, "invalid user name", error_r);
	if (pass_len == 0)
		return fail(server, "empty password", error_r);
	if (pass_len > AUTH_MAX_PASSWORD)
		return fail(server, "password too long", error_r);
	memcpy(name, user, user_len);
	name[user_len] = '\0';

	ret = lookup(server, name, &stored);
	if (ret < 0)
		return fail(server, "user database unavailable", error_r);
	if (ret == 0) {
		/* Spend the time a hash check would, so a client cannot tell
		   unknown users from wrong passwords by the reply delay. */
		(void)password_verify("{SCRAM-SHA-256}4096,"
				      "AAAAAAAAAAAAAAAAAAAAAA==,"
				      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,"
				      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
				      pass, pass_len, &error);
		return fail(server, "unknown user", error_r);
	}
	ret = password_verify(stored, pass, pass_len, &error);
	server->cleartext = password_is_cleartext(stored);
	auth_free_secret(stored);
	if (ret < 0)
		return fail(server, error, error_r);
	if (ret == 0)
		return fail(server, "wrong password", error_r);
	server->state = STATE_DONE;
	set_output(server, "", 0);
	return SASL_OK;
}

/* RFC 4616 section 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static enum sasl_result
plain_step(struct sasl_server *server, const uint8_t *in, size_t in_len,
	   const char **error_r)
{
	const uint8_t *nul1, *nul2, *authcid, *pass;
	size_t authzid_len, authcid_len, pass_len;

	if (in == NULL && server->state == STATE_START) {
		/* No initial response: ask for it with an empty challenge. */
		server->state = STATE_PLAIN_RESPONSE;
		set_output(server, "", 0);
		return SASL_CONTINUE;
	}
	nul1 = memchr(in, '\0', in_len);
	if (nul1 == NULL)
		return fail(server, "malformed PLAIN message", error_r);
	authzid_len = nul1 - in;
	authcid = nul1 + 1;
	nul2 = memchr(authcid, '\0', in + in_len - authcid);
	if (nul2 == NULL)
		return fail(server, "malformed PLAIN message", error_r);
	authcid_len = nul2 - authcid;
	pass = nul2 + 1;
	pass_len = in + in_len - pass;
	if (memchr(pass, '\0', pass_len) != NULL)
		return fail(server, "NUL in PLAIN password", error_r);
	/* We authorise nobody as someone else. */
	if (authzid_len != 0 &&
	    (authzid_len != authcid_len || memcmp(in, authcid, authcid_len)))
		return fail(server, "authorization identity differs from "
			    "the user", error_r);
	return verify_plaintext(server, authcid, authcid_len, pass, pass_len,
				error_r);
}

static enum sasl_result
login_step(struct sasl_server *server, const uint8_t *in, size_t in_len,
	   const char **error_r)
{
	static const char user_prompt[] = "Username:";
	static const char pass_prompt[] = "Password:";

	switch (server->state) {
	case STATE_START:
		if (in == NULL) {
			server->state = STATE_LOGIN_USER;
			set_output(server, user_prompt,
				   sizeof(user_prompt) - 1);
			return SASL_CONTINUE;
		}
		/* Some clients send the user name as initial response. */
		/* fall through */
	case STATE_LOGIN_USER:
		if (in == NULL || in_len == 0)
			return fail(server, "empty user name", error_r);
		if (memchr(in, '\0', in_len) != NULL)
			return fail(server, "NUL in user name", error_r);
		if (!auth_username_valid(in, in_len))
			return fail(server, "invalid user name", error_r);
		free(server->user);
		server->user = auth_xstrndup((const char *)in, in_len);
		server->state = STATE_LOGIN_PASSWORD;
		set_output(server, pass_prompt, sizeof(pass_prompt) - 1);
		return SASL_CONTINUE;
	case STATE_LOGIN_PASSWORD: {
		if (in == NULL)
			in = (const uint8_t *)"";
		if (memchr(in, '\0', in_len) != NULL)
			return fail(server, "NUL in password", error_r);
		char *user = server->user;
		server->user = NULL;
		enum sasl_result ret = verify_plaintext(
			server, (const uint8_t *)user, strlen(user), in,
			in_len, error_r);
		if (server->user == NULL) {
			server->user = user;
			user = NULL;
		}
		free(user);
		return ret;
	}
	default:
		return fail(server, "exchange already finished", error_r);
	}
}

/* SCRAM --------------------------------------------------------------- */

/* A secret for this process, for the fake salts of unknown users: the
   same name gets the same salt each time, as a real user would. */
static uint8_t fake_salt_secret[32];
static pthread_once_t fake_salt_once = PTHREAD_ONCE_INIT;

static void
fake_salt_init(void)
{
	auth_random_bytes(fake_salt_secret, sizeof(fake_salt_secret));
}

/* Makes the exchange continue with keys no password matches. */
static void
scram_fake_keys(struct sasl_server *server, const char *name,
		const char *reason)
{
	uint8_t mac[32];

	pthread_once(&fake_salt_once, fake_salt_init);
	auth_hmac_sha256(fake_salt_secret, sizeof(fake_salt_secret), name,
			 strlen(name), mac);
	server->keys.iterations = AUTH_SCRAM_MIN_ITERATIONS;
	base64_encode(mac, SCRAM_FAKE_SALT_LEN, server->keys.salt_b64);
	auth_random_bytes(server->keys.stored_key,
			  sizeof(server->keys.stored_key));
	auth_random_bytes(server->keys.server_key,
			  sizeof(server->keys.server_key));
	server->fake_reason = reason;
}

/* RFC 5802 section 7: value-char excludes ','; printable is %x21-2B /
   %x2D-7E (nonce characters). */
static bool
scram_printable(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	}
	return true;
}

/* Decodes a saslname ("=2C" is ',', "=3D" is '='; RFC 5802 section 5.1)
   into out (outsize bytes with the NUL). Returns the length or -1. */
static int
scram_decode_saslname(const uint8_t *p, size_t len, char *out,
		      size_t outsize)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = (char)p[i];

		if (c == ',' || c == '\0')
			return -1;
		if (c == '=') {
			if (len - i < 3)
				return -1;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				c = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= outsize)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

/* Finds the next ',' in [p, end) or end. */
static const uint8_t *
next_comma(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *c = memchr(p, ',', end - p);

	return c != NULL ? c : end;
}

/* client-first-message = gs2-header client-first-message-bare, where
   gs2-header = gs2-cbind-flag "," [authzid] "," (RFC 5802 section 7). */
static enum sasl_result
scram_first(struct sasl_server *server, const uint8_t *in, size_t in_len,
	    const char **error_r)
{
	const uint8_t *p = in, *end = in + in_len, *f, *bare;
	char authzid[AUTH_MAX_USERNAME + 1] = "";
	char name[AUTH_MAX_USERNAME + 1];
	const uint8_t *cnonce;
	size_t cnonce_len;
	char *stored = NULL;
	const char *error;
	int ret;

	/* gs2-cbind-flag: we offer no channel binding (-PLUS). */
	if (in_len < 3)
		return fail(server, "malformed SCRAM client-first", error_r);
	if (p[0] == 'p')
		return fail(server, "channel binding not supported", error_r);
	if ((p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return fail(server, "malformed SCRAM gs2 header", error_r);
	p += 2;
	f = next_comma(p, end);
	if (f == end)
		return fail(server, "malformed SCRAM gs2 header", error_r);
	if (f > p) {
		if (f - p < 2 || p[0] != 'a' || p[1] != '=' ||
		    scram_decode_saslname(p + 2, f - p - 2, authzid,
					  sizeof(authzid)) <= 0)
			return fail(server, "malformed SCRAM authzid", error_r);
	}
	bare = f + 1;
	server->gs2_header = auth_xstrndup((const char *)in, bare - in);
	server->client_first_bare = auth_xstrndup((const char *)bare,
						  end - bare);
	if (memchr(bare, '\0', end - bare) != NULL)
		return fail(server, "NUL in SCRAM message", error_r);

	/* client-first-message-bare = [reserved-mext ","] username ","
	   nonce ["," extensions] */
	p = bare;
	if (end - p >= 2 && p[0] == 'm' && p[1] == '=')
		return fail(server, "SCRAM mandatory extension not supported",
			    error_r);
	f = next_comma(p, end);
	if (f - p < 2 || p[0] != 'n' || p[1] != '=')
		return fail(server, "malformed SCRAM username", error_r);
	if (f - p == 2)
		return fail(server, "empty user name", error_r);
	if (scram_decode_saslname(p + 2, f - p - 2, name, sizeof(name)) < 0 ||
	    !auth_username_validz(name))
		return fail(server, "invalid user name", error_r);
	if (authzid[0] != '\0' && strcmp(authzid, name) != 0)
		return fail(server, "authorization identity differs from "
			    "the user", error_r);
	if (f == end)
		return fail(server, "malformed SCRAM nonce", error_r);
	p = f + 1;
	f = next_comma(p, end);
	if (f - p < 3 || p[0] != 'r' || p[1] != '=')
		return fail(server, "malformed SCRAM nonce", error_r);
	cnonce = p + 2;
	cnonce_len = f - cnonce;
	if (!scram_printable(cnonce, cnonce_len))
		return fail(server, "malformed SCRAM nonce", error_r);
	/* Extensions after the nonce are ignored (section 5.1). */

	ret = lookup(server, name, &stored);
	if (ret < 0)
		return fail(server, "user database unavailable", error_r);
	if (ret == 0) {
		scram_fake_keys(server, name, "unknown user");
	} else {
		ret = password_scram_sha256_keys(stored, &server->keys,
						 &error);
		server->cleartext = password_is_cleartext(stored);
		auth_free_secret(stored);
		if (ret <= 0)
			scram_fake_keys(server, name, ret < 0 ? error :
					"stored password cannot be used for "
					"SCRAM-SHA-256");
	}

	/* Our nonce part: random, or fixed by a test. */
	char snonce[SCRAM_SERVER_NONCE_BYTES / 3 * 4 + 1];
	const char *snonce_p = server->set.test_nonce;
	if (snonce_p == NULL) {
		uint8_t rnd[SCRAM_SERVER_NONCE_BYTES];

		auth_random_bytes(rnd, sizeof(rnd));
		base64_encode(rnd, sizeof(rnd), snonce);
		snonce_p = snonce;
	}
	size_t nonce_len = cnonce_len + strlen(snonce_p);
	server->nonce = auth_xmalloc(nonce_len + 1);
	memcpy(server->nonce, cnonce, cnonce_len);
	memcpy(server->nonce + cnonce_len, snonce_p, strlen(snonce_p) + 1);

	size_t sf_len = nonce_len + strlen(server->keys.salt_b64) + 32;
	server->server_first = auth_xmalloc(sf_len);
	snprintf(server->server_first, sf_len, "r=%s,s=%s,i=%u",
		 server->nonce, server->keys.salt_b64,
		 server->keys.iterations);
	set_output(server, server->server_first,
		   strlen(server->server_first));
	server->state = STATE_SCRAM_FINAL;
	return SASL_CONTINUE;
}

/* client-final-message = channel-binding "," nonce ["," extensions] ","
   proof (RFC 5802 section 7). */
static enum sasl_result
scram_final(struct sasl_server *server, const uint8_t *in, size_t in_len,
	    const char **error_r)
{
	const uint8_t *p = in, *end = in + in_len, *f, *proof_attr;
	uint8_t cbind[SASL_MAX_INPUT / 4 * 3];
	uint8_t proof[PASSWORD_SCRAM_KEY_LEN + 3];
	uint8_t sig[32], client_key[32], stored_key[32], server_sig[32];
	size_t cbind_len, proof_len, gs2_len, nonce_len;
	bool ok;

	if (memchr(in, '\0', in_len) != NULL)
		return fail(server, "NUL in SCRAM message", error_r);
	/* channel-binding = "c=" base64(gs2-header) for flags n and y. */
	f = next_comma(p, end);
	if (f - p < 2 || p[0] != 'c' || p[1] != '=' ||
	    base64_decoded_max_len(f - p - 2) > sizeof(cbind) ||
	    base64_decode(p + 2, f - p - 2, cbind, &cbind_len) < 0)
		return fail(server, "malformed SCRAM channel binding", error_r);
	gs2_len = strlen(server->gs2_header);
	if (cbind_len != gs2_len ||
	    memcmp(cbind, server->gs2_header, gs2_len) != 0)
		return fail(server, "SCRAM channel binding mismatch", error_r);
	if (f == end)
		return fail(server, "malformed SCRAM nonce", error_r);
	p = f + 1;
	f = next_comma(p, end);
	nonce_len = strlen(server->nonce);
	if (f - p < 2 || p[0] != 'r' || p[1] != '=' ||
	    (size_t)(f - p - 2) != nonce_len ||
	    memcmp(p + 2, server->nonce, nonce_len) != 0)
		return fail(server, "SCRAM nonce mismatch", error_r);
	/* The proof is the last attribute; extensions may come between. */
	proof_attr = NULL;
	while (f < end) {
		p = f + 1;
		f = next_comma(p, end);
		if (f - p >= 2 && p[0] == 'p' && p[1] == '=') {
			proof_attr = p;
			break;
		}
	}
	if (proof_attr == NULL || f != end)
		return fail(server, "malformed SCRAM proof", error_r);
	if (base64_decoded_max_len(end - proof_attr - 2) > sizeof(proof) ||
	    base64_decode(proof_attr + 2, end - proof_attr - 2, proof,
			  &proof_len) < 0 ||
	    proof_len != PASSWORD_SCRAM_KEY_LEN)
		return fail(server, "malformed SCRAM proof", error_r);

	/* AuthMessage = client-first-message-bare "," server-first-message
	   "," client-final-message-without-proof (section 3). */
	size_t bare_len = strlen(server->client_first_bare);
	size_t sf_len = strlen(server->server_first);
	size_t cf_len = proof_attr - 1 - in;
	size_t am_len = bare_len + 1 + sf_len + 1 + cf_len;
	char *am = auth_xmalloc(am_len);
	memcpy(am, server->client_first_bare, bare_len);
	am[bare_len] = ',';
	memcpy(am + bare_len + 1, server->server_first, sf_len);
	am[bare_len + 1 + sf_len] = ',';
	memcpy(am + bare_len + 2 + sf_len, in, cf_len);

	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the
	   client knows the password if H(ClientKey) == StoredKey. */
	auth_hmac_sha256(server->keys.stored_key, 32, am, am_len, sig);
	for (unsigned i = 0; i < 32; i++)
		client_key[i] = proof[i] ^ sig[i];
	SHA256(client_key, sizeof(client_key), stored_key);
	ok = CRYPTO_memcmp(stored_key, server->keys.stored_key, 32) == 0;
	auth_hmac_sha256(server->keys.server_key, 32, am, am_len, server_sig);
	free(am);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(sig, sizeof(sig));

	if (server->fake_reason != NULL)
		return fail(server, server->fake_reason, error_r);
	if (!ok)
		return fail(server, "wrong password", error_r);

	/* server-final-message = "v=" base64(ServerSignature) */
	char final[2 + 44 + 1];
	final[0] = 'v';
	final[1] = '=';
	base64_encode(server_sig, sizeof(server_sig), final + 2);
	set_output(server, final, strlen(final));
	server->state = STATE_DONE;
	return SASL_OK;
}

static enum sasl_result
scram_step(struct sasl_server *server, const uint8_t *in, size_t in_len,
	   const char **error_r)
{
	switch (server->state) {
	case STATE_START:
		if (in == NULL) {
			server->state = STATE_SCRAM_FIRST;
			set_output(server, "", 0);
			return SASL_CONTINUE;
		}
		/* fall through */
	case STATE_SCRAM_FIRST:
		if (in == NULL)
			return fail(server, "empty SCRAM message", error_r);
		return scram_first(server, in, in_len, error_r);
	case STATE_SCRAM_FINAL:
		if (in == NULL)
			return fail(server, "empty SCRAM message", error_r);
		return scram_final(server, in, in_len, error_r);
	default:
		return fail(server, "exchange already finished", error_r);
	}
}

enum sasl_result
sasl_server_step(struct sasl_server *server, const uint8_t *in,
		 size_t in_len, const uint8_t **out_r, size_t *out_len_r,
		 const char **error_r)
{
	enum sasl_result ret;

	set_output(server, "", 0);
	*out_r = server->out;
	*out_len_r = 0;
	if (server->state == STATE_DONE)
		return fail(server, "exchange already finished", error_r);
	if (in_len > SASL_MAX_INPUT)
		return fail(server, "SASL message too long", error_r);
	/* Only the first step may come without input. */
	if (in == NULL && server->state != STATE_START)
		in = (const uint8_t *)"";
	if (in == NULL)
		in_len = 0;

	switch (server->mech) {
	case SASL_MECH_PLAIN:
		ret = plain_step(server, in, in_len, error_r);
		break;
	case SASL_MECH_LOGIN:
		ret = login_step(server, in, in_len, error_r);
		break;
	case SASL_MECH_SCRAM_SHA256:
		ret = scram_step(server, in, in_len, error_r);
		break;
	default:
		ret = fail(server, "unsupported mechanism", error_r);
		break;
	}
	if (ret == SASL_FAIL) {
		/* Only a valid name is worth reporting back. */
		if (server->user != NULL &&
		    !auth_username_validz(server->user)) {
			free(server->user);
			server->user = NULL;
		}
		free(server->out);
		server->out = NULL;
		server->out_len = 0;
		set_output(server, "", 0);
	}
	*out_r = server->out;
	*out_len_r = server->out_len;
	return ret;
}
