#ifndef QUIRE_POP3_H
#define QUIRE_POP3_H

#include "lib/config.h"
#include "net/conn.h"

/* The POP3 service: RFC 1939 with the extensions of RFC 2449 (CAPA and
   response codes), RFC 5034 (AUTH with SASL), RFC 2595 (STLS) and
   RFC 3206 ([AUTH] and [SYS/...] codes).

   One pop3_service is shared by every worker; each connection gets a
   session that lives on the worker that accepted it. The maildrop is the
   user's INBOX as it was at login. DELE only marks; marked messages are
   expunged in one store transaction when the client says QUIT in the
   TRANSACTION state. A connection that ends any other way (drop, timeout,
   server shutdown) removes nothing.

   Threads: pop3_service_create() and pop3_service_destroy() run on the
   daemon's main thread while no worker runs; pop3_service_new_connection()
   runs on any worker thread, any number at once. The service keeps a
   mutex-protected set of users that have a session in the TRANSACTION
   state, so a second session of the same user gets -ERR [IN-USE]. */

struct store;
struct passdb;
struct tls_server;

struct pop3_settings {
	/* The mailstore and the user database. Required; they must outlive
	   the service and every session. */
	struct store *store;
	struct passdb *passdb;
	/* TLS for STLS, or NULL. STLS is offered when the connection's
	   listener has TLS (conn_can_starttls); this field only documents
	   the daemon's setup and may be NULL on plain-only setups. */
	struct tls_server *tls;
	/* Where USER/PASS and the PLAIN and LOGIN mechanisms are allowed on
	   a connection that is not TLS: never, from loopback only
	   (conn_is_local), or always. SCRAM-SHA-256 and APOP are always
	   allowed: they do not reveal the password. */
	enum config_plaintext allow_plaintext;
	/* Leave-on-server expiry: at each login, messages first retrieved
	   more than this many days ago are expunged (store_pop3_expire), and
	   CAPA shows "EXPIRE n". -1 = never ("EXPIRE NEVER"). */
	int expire_days;
	/* CAPA IMPLEMENTATION text, e.g. "quire 0.1"; copied. NULL: the
	   capability is not shown. */
	const char *implementation;
};

struct pop3_service;

/* Creates the service. set is copied (the pointed-to store, passdb and
   tls are not). Never fails; aborts on out of memory. */
struct pop3_service *pop3_service_create(const struct pop3_settings *set);

/* Frees the service. Every session must have ended (the worker pool was
   stopped and joined). *service is set to NULL. Safe on NULL. */
void pop3_service_destroy(struct pop3_service **service);

/* A conn_new_callback_t for listener_settings.new_connection, with the
   service as context: starts a session on conn (sets its callbacks,
   sends the greeting). The session ends and frees itself when the conn's
   `closed` callback arrives. */
void pop3_service_new_connection(struct conn *conn, void *context);

#endif
