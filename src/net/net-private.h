#ifndef QUIRE_NET_PRIVATE_H
#define QUIRE_NET_PRIVATE_H

/* Internals shared by worker.c, listener.c, conn.c and tls.c. */

#include <stdbool.h>
#include <sys/socket.h>

#include "net/conn.h"
#include "net/tls.h"
#include "net/worker.h"

struct evconnlistener;

/* Formats an error message into this thread's error buffer and returns
   it; valid until the next call on the same thread. */
const char *net_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Aborting allocation helpers: out of memory is not recovered from. */
void *net_malloc0(size_t size);
char *net_strdup(const char *str);

/* tls.c: the text of one OpenSSL error code (system errors as strerror)
   in buf. */
const char *tls_error_text(unsigned long err, char *buf, size_t size);

/* worker.c */
/* Head of the worker's list of live conns (owner thread only). */
struct conn **worker_conn_list(struct worker *worker);
/* A conn was linked into / unlinked from the worker's list. The removal
   also releases its slot in the pool's connection count and ends the
   loop of a stopping worker that has no connection left. */
void worker_conn_added(struct worker *worker);
void worker_conn_removed(struct worker *worker);
/* Takes a slot in the pool's connection count; false (and no slot taken)
   when the limit is reached. Any thread. */
bool worker_pool_conn_reserve(struct worker_pool *pool);
void worker_pool_conn_release(struct worker_pool *pool);
/* Registers an evconnlistener on worker so that stopping disables it. */
void worker_add_listener(struct worker *worker, struct evconnlistener *lev);
void worker_remove_listener(struct worker *worker,
			    struct evconnlistener *lev);
bool worker_pool_is_running(const struct worker_pool *pool);

/* conn.c */
/* Wraps an accepted socket (non-blocking, close-on-exec) in a conn on
   worker (its own thread) and links it into the worker's list. The pool
   slot must already be reserved; the conn releases it when freed. On
   failure the fd is closed, the slot released and NULL returned. */
struct conn *conn_create(struct worker *worker, int fd,
			 const struct sockaddr *peer, socklen_t peer_len,
			 const char *service, struct tls_server *tls,
			 bool implicit_tls);
/* Tells each conn in the list that the server is shutting down. */
void conn_list_notify_shutdown(struct conn *head);
/* Closes each conn in the list with reason. */
void conn_list_close_all(struct conn *head, const char *reason);

#endif
