#ifndef QUIRE_DAEMON_CONTROL_H
#define QUIRE_DAEMON_CONTROL_H

#include <stdint.h>

/* The control socket: how `quire` talks to a running quired, so there is
   never a second writer the daemon does not know of. A Unix socket
   (mode 0600) at [server] control_socket. A line protocol, one request at
   a time per connection; every reply is one line:

     DELIVER <user> <mailbox or -> <size>\r\n  then exactly size bytes of
                                          the message (CRLF form)
         -> OK <uid> | NOUSER | OVERQUOTA | TEMPFAIL <reason> |
            ERROR <reason>
     RELOAD\r\n   re-read the TLS certificate (users reload by themselves)
         -> OK | TEMPFAIL <reason>
     STATS\r\n    -> OK connections=<n>
     PURGE <user>\r\n  remove a user's mail (after `quire user del`)
         -> OK | NOUSER | TEMPFAIL <reason>
     REINDEX <user>\r\n  rebuild the user's full-text index rows
         -> OK <messages indexed> | TEMPFAIL <reason>
*/

#define CONTROL_MAX_LINE 1024
/* Largest message `quire deliver` hands over (same cap as LMTP's default
   unless configured: the daemon applies [lmtp] max_message_size). */

struct control_service;
struct conn;
struct store;
struct passdb;
struct tls_server;
struct tls_settings;
struct worker_pool;

struct control_settings {
	struct store *store;
	struct passdb *passdb;
	struct worker_pool *pool;
	const char *spool_dir;
	uint64_t max_message_size;
	/* [quota] defaults for DELIVER (0 = no limit). */
	uint64_t quota_storage;
	uint64_t quota_messages;
	/* Called (on a worker thread) for RELOAD; returns 0 or -1 with
	   *error_r. */
	int (*reload)(void *context, const char **error_r);
	void *reload_context;
};

struct control_service *
control_service_create(const struct control_settings *set);
void control_service_destroy(struct control_service **service);
/* conn_new_callback_t for the control listener (context = service). */
void control_service_new_connection(struct conn *conn, void *context);

#endif
