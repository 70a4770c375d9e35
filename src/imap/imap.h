#ifndef QUIRE_IMAP_H
#define QUIRE_IMAP_H

#include "lib/config.h"
#include "net/conn.h"

/* The IMAP service: IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) with
   the extensions listed in CAPABILITY (imap-session.c).

   One imap_service is shared by every worker; each connection gets a
   session living on the worker that accepted it (imap-session.h).

   Threads: imap_service_create() and imap_service_destroy() run on the
   daemon's main thread while no worker runs; imap_service_new_connection()
   runs on any worker thread, any number at once. */

struct store;
struct passdb;
struct tls_server;

struct imap_settings {
	/* The mailstore and the user database. Required; they must outlive
	   the service and every session. */
	struct store *store;
	struct passdb *passdb;
	/* TLS for STARTTLS, or NULL. STARTTLS is offered when the
	   connection's listener has TLS (conn_can_starttls). */
	struct tls_server *tls;
	/* Where LOGIN and the PLAIN/LOGIN mechanisms are allowed on a
	   connection that is not TLS (LOGINDISABLED otherwise). */
	enum config_plaintext allow_plaintext;
	/* [quota] defaults (0 = no limit); a user's passwd-file fields
	   override them at login (auth/quota.h). */
	uint64_t quota_storage; /* bytes */
	uint64_t quota_messages;
	/* ID "version" text, e.g. "quire 0.1.0"; copied. NULL: "quire". */
	const char *implementation;
	/* The server's METADATA /shared/admin value (RFC 5464 3.2.1.1: a
	   URI such as mailto:...), from [server] admin_contact; copied.
	   NULL: none. */
	const char *admin_contact;
};

struct imap_service;

/* Creates the service; set is copied (not what it points to). Never
   fails; aborts on out of memory. */
struct imap_service *imap_service_create(const struct imap_settings *set);
/* Frees the service once every session has ended. Sets *service to NULL.
   Safe on NULL. */
void imap_service_destroy(struct imap_service **service);

/* A conn_new_callback_t with the service as context: starts a session
   (callbacks, greeting). The session frees itself when the conn closes. */
void imap_service_new_connection(struct conn *conn, void *context);

#endif
