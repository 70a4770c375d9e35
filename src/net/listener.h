#ifndef QUIRE_NET_LISTENER_H
#define QUIRE_NET_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "net/conn.h"

/* Listening sockets. A listener binds its sockets in listener_create(),
   which the daemon calls before worker_pool_start() and before dropping
   privileges (root may bind ports below 1024; quired setuid()s after).

   TCP: one socket per worker with SO_REUSEPORT, each accepted on by its own
   worker, so the kernel spreads connections over the workers. Unix
   sockets: one socket, accepted on by one worker (chosen round-robin over
   the unix listeners); a stale socket file is removed before bind and the
   file gets unix_mode. Accepted connections become conns on the accepting
   worker and are handed to new_connection(). */

enum listen_addr_type {
	LISTEN_ADDR_TCP,
	LISTEN_ADDR_UNIX,
};

struct listen_addr {
	enum listen_addr_type type;
	/* TCP: sockaddr_in or sockaddr_in6; unix: sockaddr_un. */
	struct sockaddr_storage sa;
	socklen_t sa_len;
};

/* Parses "127.0.0.1:1110", "[::1]:1110", "0.0.0.0:110", "[::]:143" or
   "unix:/path/to/sock" (absolute or relative path). Numeric addresses
   only (no name lookups); the port is 1..65535. Returns 0, or -1 with
   *error_r naming what is wrong. */
int listen_addr_parse(const char *str, struct listen_addr *addr_r,
		      const char **error_r);

struct tls_server;
struct worker_pool;

struct listener_settings {
	/* Service name for logs and conn_get_service(): "pop3", "pop3s". */
	const char *service;
	/* Address as listen_addr_parse() takes it. */
	const char *address;
	/* TLS contexts for implicit TLS and for conn_starttls(); NULL: no TLS
	   on this listener. Must outlive the listener's connections. */
	struct tls_server *tls;
	/* Handshake at once on accept (pop3s, imaps). Requires tls. */
	bool implicit_tls;
	/* Unix socket file mode; 0 means 0666. */
	mode_t unix_mode;
	/* Sent in plain text (not on implicit TLS listeners) to a client
	   refused by the connection limit before closing, e.g.
	   "-ERR [SYS/TEMP] Too many connections\r\n". NULL: just close. */
	const char *refuse_text;
	/* Called on the accepting worker's thread for each connection. */
	conn_new_callback_t *new_connection;
	void *context;
};

struct listener;

/* Binds and listens now (before the pool starts), and arranges for the
   pool's workers to accept once started. The settings are copied. Call
   only while the pool is not running. Returns 0, or -1 with *error_r
   naming the address and the system's reason. */
int listener_create(struct worker_pool *pool,
		    const struct listener_settings *set,
		    struct listener **listener_r, const char **error_r);
/* Closes the sockets (and removes a unix socket file it created). Call only
   while the pool is not running (before start or after join); connections
   already accepted are not affected. *listener is set to NULL. */
void listener_destroy(struct listener **listener);

/* The TCP port actually bound (useful with port 0 in tests); 0 for unix. */
unsigned listener_get_port(const struct listener *listener);

#endif
