#ifndef QUIRE_LMTP_H
#define QUIRE_LMTP_H

#include <stdint.h>

/* The LMTP service (RFC 2033): an MTA hands messages over, one reply per
   recipient after the final dot, each 250 only once that recipient's copy
   is durable in the store.

   Use: the daemon creates one service, passes lmtp_service_new_connection
   with the service as context to listener_create() for each LMTP address
   (TCP or unix socket: the same code), and destroys the service after the
   worker pool has been joined (no session may outlive it).

   Extensions offered: PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME, SIZE,
   CHUNKING (BDAT: after BDAT LAST the replies are per recipient, as
   after DATA's final dot). A message over max_message_size is read to
   its end and refused per recipient (552 5.3.4); nothing is stored.
   Delivery is synchronous on the session's worker thread (one
   deliver_message() per recipient after the final dot). */

struct conn;
struct passdb;
struct store;

struct lmtp_settings {
	struct store *store;
	struct passdb *passdb;
	const char *spool_dir;	   /* <data_dir>/tmp */
	const char *hostname;	   /* for the greeting and LHLO reply */
	uint64_t max_message_size; /* [lmtp] max_message_size; 0 = default */
	/* [quota] defaults (0 = no limit), overridden per user by the
	   passwd-file; a recipient over quota gets 552 5.2.2. */
	uint64_t quota_storage; /* bytes */
	uint64_t quota_messages;
};

struct lmtp_service;

/* Copies the strings of set; store and passdb must outlive the service.
   Never fails. */
struct lmtp_service *lmtp_service_create(const struct lmtp_settings *set);
/* Frees the service and sets *service to NULL. No session may be alive. */
void lmtp_service_destroy(struct lmtp_service **service);

/* conn_new_callback_t for listener_settings.new_connection; context is
   the struct lmtp_service. Sends the greeting. */
void lmtp_service_new_connection(struct conn *conn, void *context);

/* Sessions alive now (for tests and stats; any thread). */
unsigned lmtp_service_session_count(struct lmtp_service *service);

#endif
