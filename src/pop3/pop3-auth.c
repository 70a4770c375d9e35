/* The AUTHORIZATION commands that log in: USER/PASS and APOP (RFC 1939
   7), AUTH with SASL (RFC 5034). Every outcome goes through
   pop3_session_login() or pop3_session_login_failed(). */
#include "pop3/pop3-private.h"

#include <stdio.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "lib/base64.h"
#include "net/conn.h"

#define PLAINTEXT_REFUSED \
	"-ERR [AUTH] Plaintext authentication disallowed on " \
	"non-secure (TLS) connections"

/* ---- USER / PASS ------------------------------------------------------- */

void
pop3_cmd_user(struct pop3_session *session, const struct pop3_command *cmd)
{
	if (!pop3_session_plaintext_ok(session)) {
		pop3_reply(session, PLAINTEXT_REFUSED);
		return;
	}
	if (cmd->arg_lens[0] > AUTH_MAX_USERNAME) {
		pop3_reply(session, "-ERR [AUTH] User name too long");
		return;
	}
	free(session->pending_user);
	session->pending_user = pop3_xstrdup(cmd->args[0]);
	/* The same answer for every name, so USER tells nothing about
	   which users exist. */
	pop3_reply(session, "+OK");
}

/* Looks user up. Returns 1 with *user_r, 0 if unknown, -1 (logged) if the
   user database failed. */
static int
passdb_get(struct pop3_session *session, const char *name,
	   struct passdb_user **user_r)
{
	const char *error;
	int ret;

	ret = passdb_lookup(session->service->set.passdb, name, user_r,
			    &error);
	if (ret < 0)
		log_error(&session->log, "user database lookup failed: %s",
			  error);
	return ret;
}

static void
warn_cleartext(struct pop3_session *session, const struct passdb_user *pu)
{
	if (password_is_cleartext(pu->password)) {
		struct log_ctx lctx = session->log;

		lctx.user = pu->name;
		log_warn(&lctx, "password is stored in clear text");
	}
}

void
pop3_cmd_pass(struct pop3_session *session, const struct pop3_command *cmd)
{
	struct passdb_user *pu = NULL;
	const char *error;
	char *name;
	int ret;

	if (!pop3_session_plaintext_ok(session)) {
		pop3_reply(session, PLAINTEXT_REFUSED);
		return;
	}
	if (session->pending_user == NULL) {
		pop3_reply(session, "-ERR No user name given, use USER first");
		return;
	}
	/* RFC 1939 7: USER and PASS are one attempt. */
	name = session->pending_user;
	session->pending_user = NULL;

	if (cmd->arg_lens[0] > AUTH_MAX_PASSWORD) {
		pop3_session_login_failed(session, name, "PASS",
					  "password too long", false);
		goto out;
	}
	ret = passdb_get(session, name, &pu);
	if (ret < 0) {
		pop3_session_login_failed(session, name, "PASS",
					  "user database unavailable", true);
		goto out;
	}
	if (ret == 0) {
		/* The same work as for a real user: no timing oracle for
		   which names exist. */
		(void)password_verify(session->service->dummy_password,
				      (const uint8_t *)cmd->args[0],
				      cmd->arg_lens[0], &error);
		pop3_session_login_failed(session, name, "PASS",
					  "unknown user", false);
		goto out;
	}
	ret = password_verify(pu->password, (const uint8_t *)cmd->args[0],
			      cmd->arg_lens[0], &error);
	if (ret < 0) {
		log_error(&session->log, "stored password of %s is "
			  "unusable: %s", pu->name, error);
		pop3_session_login_failed(session, name, "PASS",
					  "stored password unusable", false);
	} else if (ret == 0) {
		pop3_session_login_failed(session, name, "PASS",
					  "wrong password", false);
	} else {
		warn_cleartext(session, pu);
		pop3_session_login(session, pu->name, "PASS");
	}
out:
	passdb_user_free(&pu);
	free(name);
}

/* ---- APOP -------------------------------------------------------------- */

/* Lowercase hex MD5 of timestamp followed by the password (RFC 1939 7). */
static void
apop_digest(const char *timestamp, const char *plain, size_t plain_len,
	    char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) != 1 ||
	    EVP_DigestUpdate(ctx, plain, plain_len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 16)
		abort();
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 16; i++) {
		out[i * 2] = hex[md[i] >> 4];
		out[i * 2 + 1] = hex[md[i] & 0xf];
	}
	out[32] = '\0';
	explicit_bzero(md, sizeof(md));
}

void
pop3_cmd_apop(struct pop3_session *session, const struct pop3_command *cmd)
{
	const char *name = cmd->args[0];
	struct passdb_user *pu = NULL;
	char expected[33], given[33];
	const char *plain;
	size_t plain_len;
	int ret;

	if (cmd->arg_lens[1] != 32) {
		pop3_session_login_failed(session, name, "APOP",
					  "malformed digest", false);
		return;
	}
	for (unsigned i = 0; i < 32; i++) {
		char c = cmd->args[1][i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			pop3_session_login_failed(session, name, "APOP",
						  "malformed digest", false);
			return;
		}
		given[i] = c;
	}
	given[32] = '\0';

	ret = passdb_get(session, name, &pu);
	if (ret < 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "user database unavailable", true);
		return;
	}
	if (ret == 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "unknown user", false);
		return;
	}
	/* APOP needs the password itself: only cleartext values have it. */
	if (password_get_cleartext(pu->password, &plain, &plain_len) <= 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "stored password is not cleartext",
					  false);
		passdb_user_free(&pu);
		return;
	}
	apop_digest(session->apop_timestamp, plain, plain_len, expected);
	if (CRYPTO_memcmp(expected, given, 32) != 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "wrong digest", false);
	} else {
		warn_cleartext(session, pu);
		pop3_session_login(session, pu->name, "APOP");
	}
	explicit_bzero(expected, sizeof(expected));
	passdb_user_free(&pu);
}

/* ---- AUTH (RFC 5034) --------------------------------------------------- */

static int
sasl_lookup(void *context, const char *name, char **stored_r, char **user_r)
{
	struct pop3_session *session = context;
	struct passdb_user *pu;
	int ret;

	ret = passdb_get(session, name, &pu);
	if (ret <= 0)
		return ret;
	*stored_r = pop3_xstrdup(pu->password);
	*user_r = pop3_xstrdup(pu->name);
	passdb_user_free(&pu);
	return 1;
}

static void
send_challenge(struct pop3_session *session, const uint8_t *data,
	       size_t len)
{
	char *b64 = base64_encode_alloc(data, len);

	/* RFC 5034 4: "+", one space, the base64 text and nothing else. */
	conn_write(session->conn, "+ ", 2);
	conn_write_str(session->conn, b64);
	conn_write(session->conn, "\r\n", 2);
	free(b64);
}

static void
sasl_done(struct pop3_session *session, bool success, const char *error)
{
	const char *user = sasl_server_get_user(session->sasl);
	char *user_copy = user == NULL ? NULL : pop3_xstrdup(user);
	bool temporary = !success &&
		sasl_server_failure_is_temporary(session->sasl);
	char method[64];

	if (success && sasl_server_password_is_cleartext(session->sasl)) {
		struct log_ctx lctx = session->log;

		lctx.user = user_copy;
		log_warn(&lctx, "password is stored in clear text");
	}

	snprintf(method, sizeof(method), "AUTH %s",
		 sasl_server_mech_name(session->sasl));
	pop3_session_sasl_end(session);
	if (success)
		pop3_session_login(session, user_copy, method);
	else
		pop3_session_login_failed(session, user_copy, method, error,
					  temporary);
	free(user_copy);
}

/* Feeds one client message (in == NULL: no initial response). */
static void
sasl_feed(struct pop3_session *session, const uint8_t *in, size_t in_len)
{
	const uint8_t *out;
	size_t out_len;
	const char *error;

	switch (sasl_server_step(session->sasl, in, in_len, &out, &out_len,
				 &error)) {
	case SASL_CONTINUE:
		send_challenge(session, out, out_len);
		break;
	case SASL_OK:
		if (out_len == 0) {
			sasl_done(session, true, NULL);
			break;
		}
		/* SCRAM's server-final message: POP3 has no success data
		   (RFC 5034 4), so it goes as one more challenge, whose
		   (empty) answer completes the login. */
		session->sasl_final = true;
		send_challenge(session, out, out_len);
		break;
	case SASL_FAIL:
		sasl_done(session, false, error);
		break;
	}
}

/* Decodes a base64 client message and feeds it. */
static void
sasl_feed_base64(struct pop3_session *session, const uint8_t *data,
		 size_t len)
{
	size_t max = base64_decoded_max_len(len), out_len;
	uint8_t *buf = pop3_xcalloc(max, 1);

	if (base64_decode(data, len, buf, &out_len) < 0) {
		/* RFC 5034 4: reject, as if AUTH had not been given. */
		pop3_session_sasl_end(session);
		pop3_reply(session, "-ERR Invalid base64 data");
	} else {
		sasl_feed(session, buf, out_len);
	}
	explicit_bzero(buf, max);
	free(buf);
}

static void
auth_list_mechanisms(struct pop3_session *session)
{
	const char *const *mechs = pop3_session_mechanisms(session);

	/* Not in RFC 5034, but the form clients probe with: a multi-line
	   list of the mechanisms allowed now. */
	pop3_reply(session, "+OK");
	for (unsigned i = 0; mechs[i] != NULL; i++)
		pop3_reply(session, "%s", mechs[i]);
	pop3_reply(session, ".");
}

/* True if mech is one we have at all (on a secure channel). */
static bool
mech_known(const char *mech)
{
	const char *const *all = sasl_mechanisms(true, true);

	for (unsigned i = 0; all[i] != NULL; i++) {
		if (strcasecmp(all[i], mech) == 0)
			return true;
	}
	return false;
}

void
pop3_cmd_auth(struct pop3_session *session, const struct pop3_command *cmd)
{
	struct sasl_server_settings set = {
		.secure = conn_is_tls(session->conn),
		.plaintext_allowed = pop3_session_plaintext_ok(session),
		.lookup = sasl_lookup,
		.lookup_context = session,
	};
	const char *error;

	if (cmd->argc == 0) {
		auth_list_mechanisms(session);
		return;
	}
	session->sasl = sasl_server_create(cmd->args[0], &set, &error);
	if (session->sasl == NULL) {
		/* RFC 5034 4: -ERR; say why when it is the channel. */
		if (mech_known(cmd->args[0]))
			pop3_reply(session, PLAINTEXT_REFUSED);
		else
			pop3_reply(session, "-ERR Unsupported authentication "
				   "mechanism");
		return;
	}
	session->sasl_final = false;
	if (cmd->argc == 1)
		sasl_feed(session, NULL, 0);
	else if (cmd->arg_lens[1] == 1 && cmd->args[1][0] == '=')
		sasl_feed(session, (const uint8_t *)"", 0);
	else
		sasl_feed_base64(session, (const uint8_t *)cmd->args[1],
				 cmd->arg_lens[1]);
}

void
pop3_auth_continue(struct pop3_session *session, const uint8_t *line,
		   size_t len)
{
	if (len == 1 && line[0] == '*') {
		pop3_session_sasl_end(session);
		pop3_reply(session, "-ERR Authentication cancelled");
		return;
	}
	if (session->sasl_final) {
		if (len == 0)
			sasl_done(session, true, NULL);
		else
			sasl_done(session, false, "data after the server's "
				  "final message");
		return;
	}
	sasl_feed_base64(session, line, len);
}
