#ifndef QUIRE_AUTH_SASL_H
#define QUIRE_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Server side of SASL (RFC 4422), independent of the protocol: POP3 AUTH
   (RFC 5034), IMAP AUTHENTICATE (+ SASL-IR, RFC 4959) and any later one
   drive it the same way. Inputs and outputs are raw bytes; base64 framing,
   the "*" cancel and the "=" empty initial response are the protocol's.

   Mechanisms:
     PLAIN          RFC 4616. authzid must be empty or equal to authcid.
     LOGIN          de facto: challenges "Username:" and "Password:".
     SCRAM-SHA-256  RFC 5802 + RFC 7677. gs2 flag "n" or "y"; "p" is
                    refused (no -PLUS). Iterations and salt come from the
                    user's stored value. For an unknown user the exchange
                    runs on with a fake salt and fails at the end, so a
                    client cannot tell unknown users from bad passwords.

   Use:
     server = sasl_server_create("PLAIN", &set, &error);
     ret = sasl_server_step(server, initial_response_or_NULL, len, ...);
     while (ret == SASL_CONTINUE) {
         send out as a challenge; read the client's response;
         ret = sasl_server_step(server, response, len, ...);
     }
     SASL_OK:   user = sasl_server_get_user(server). If out_len > 0 (SCRAM's
                server-final "v=..."), send it as one more challenge, or as
                success data where the protocol has it; the client's reply
                to that challenge is empty and is not fed back in.
     SASL_FAIL: log error (never holds the password); reply with a failure
                after the throttle delay; sasl_server_failure_is_temporary()
                says if the user database was unavailable.
     sasl_server_destroy(&server);

   A server is used by one thread at a time. */

enum sasl_result {
	SASL_CONTINUE,
	SASL_OK,
	SASL_FAIL,
};

/* Finds a user's credentials. name is a valid user name (username.h).
   Returns 1 with *stored_r set to the stored password value (as in
   password.h) and *user_r to the user name as stored (it may differ in
   case), both malloc'ed and then owned by the SASL server; 0 if there is
   no such user; -1 on a temporary failure. */
typedef int sasl_lookup_fn(void *context, const char *name, char **stored_r,
			   char **user_r);

struct sasl_server_settings {
	/* The channel is TLS or loopback. */
	bool secure;
	/* PLAIN and LOGIN are offered on a channel that is not secure. */
	bool plaintext_allowed;
	sasl_lookup_fn *lookup;
	void *lookup_context;
	/* Tests only: SCRAM's server nonce part instead of a random one
	   (printable ASCII without ','). NULL in production. */
	const char *test_nonce;
};

struct sasl_server;

/* The mechanisms to advertise, strongest first, as a static
   NULL-terminated array: SCRAM-SHA-256 always; PLAIN and LOGIN when the
   channel is secure or plaintext is allowed. */
const char *const *sasl_mechanisms(bool secure, bool plaintext_allowed);

/* Starts an exchange for mechanism mech (case-insensitive). Returns NULL
   with *error_r set (static text) if the mechanism is unknown or not
   allowed on this channel. set is copied (test_nonce included). */
struct sasl_server *
sasl_server_create(const char *mech, const struct sasl_server_settings *set,
		   const char **error_r);
void sasl_server_destroy(struct sasl_server **server);

/* Feeds the client's next message. The first call passes the initial
   response, or in == NULL if the client sent none (an empty initial
   response is in != NULL with in_len == 0). Sets *out_r and *out_len_r to the
   challenge (CONTINUE) or final server data (OK; may be empty); the bytes
   are owned by the server and valid until the next call or destroy.
   On FAIL *error_r is static text for the log. After OK or FAIL, further
   calls return SASL_FAIL. Input longer than SASL_MAX_INPUT fails. */
enum sasl_result sasl_server_step(struct sasl_server *server,
				  const uint8_t *in, size_t in_len,
				  const uint8_t **out_r, size_t *out_len_r,
				  const char **error_r);

/* After SASL_OK: the authenticated user name as stored in the user
   database. After SASL_FAIL: the user name the client tried, if the
   exchange got that far and it was valid (for the throttle and the log),
   else NULL. Owned by the server. */
const char *sasl_server_get_user(const struct sasl_server *server);

/* After SASL_FAIL: true if the cause was the lookup's temporary failure
   (the protocol says "try again later" instead of "bad password"). */
bool sasl_server_failure_is_temporary(const struct sasl_server *server);

/* After SASL_OK: true if the user's password is stored in clear
   ({PLAIN}); the protocol logs a warning with its session context. */
bool sasl_server_password_is_cleartext(const struct sasl_server *server);

/* The mechanism's canonical name. */
const char *sasl_server_mech_name(const struct sasl_server *server);

#endif
