/* Connections: a bufferevent (plain or OpenSSL) plus the rules that keep a
   session safe on top of it: bounded line reads, deferred close, idle
   timeout, STARTTLS without command injection. */
#include "net/net-private.h"
#include "net/net-deflate.h"
#include "lib/limits.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Work done from the conn's deferred event, i.e. from the loop and never
   inside a conn_* call. */
#define DEFER_CLOSE 0x01    /* call `closed`, then free */
#define DEFER_INPUT 0x02    /* call `input` (conn_input_kick) */
#define DEFER_FLUSH 0x04 /* check whether the output is out (STARTTLS,
			     close after flush) */
#define DEFER_ZFLUSH 0x08 /* compress what this loop pass wrote */
#define DEFER_SEND 0x10	  /* write the output to the socket (direct) */

struct conn {
	struct conn *prev, *next; /* the worker's list */
	struct worker *worker;
	struct event_base *base;
	int fd;
	struct bufferevent *bev;
	SSL *ssl; /* owned by bev once set */
	struct tls_server *tls;
	struct evbuffer_cb_entry *in_cb, *out_cb;
	/* COMPRESS=DEFLATE: the streams, the inflated input the session
	   reads, and the plaintext output of this loop pass (compressed
	   and flushed from the deferred event, so a burst of replies costs
	   one flush). NULL until conn_compress_start(). */
	struct net_deflate *z;
	struct evbuffer *zin, *zout;
	bool z_idle; /* conn_compress_idle() */

	struct conn_callbacks cb;
	void *context;

	struct event *defer_event;
	unsigned defer_flags;
	struct event *timer;
	unsigned idle_secs;
	uint64_t out_at_arm;

	size_t pending_drain; /* bytes of the last line to drop */
	size_t input_limit;
	bool discarding_line; /* inside an over-long line */
	bool closing;	      /* conn_close*() called or failed */
	bool close_scheduled; /* bev gone, `closed` + free pending */
	bool flush_then_close;
	bool starttls_pending;
	bool tls_handshake_done;
	bool ticket_with_reply; /* see conn_starttls_switch() */
	bool is_unix, is_local;
	/* A plain socket's output is written from the deferred event at the
	   end of the loop pass that queued it, and the bufferevent watches
	   for writability only while some could not be written: a reply
	   then costs one send, not two epoll_ctl calls and a loop pass
	   around it. Off with TLS and COMPRESS (their layers write). */
	bool direct;
	char *close_reason;

	uint64_t bytes_in, bytes_out, bytes_direct;
	unsigned peer_port, local_port;
	char peer[INET6_ADDRSTRLEN];
	char id[20];
	char service[16];
};

static atomic_ullong conn_id_counter;
static __thread char conn_describe_buf[128];

static void conn_setup_bev(struct conn *conn);
static void conn_do_close(struct conn *conn, const char *reason);
static void conn_write_cb(struct bufferevent *bev, void *context);

static void
conn_schedule(struct conn *conn, unsigned flags)
{
	conn->defer_flags |= flags;
	event_active(conn->defer_event, EV_READ, 0);
}

/* Output was queued: compressed (COMPRESS) or written (direct) at the
   end of this loop pass; otherwise the bufferevent is already watching.
   Every write of the session comes here once its bytes are queued, so a
   STARTTLS conn's session tickets are asked for with its first reply
   (see conn_starttls_switch()): asked for with nothing to write, they
   would leave the TLS object mid-handshake, and a close then sends no
   close_notify. */
static void
conn_output_queued(struct conn *conn)
{
	if (conn->ticket_with_reply && conn->tls_handshake_done) {
		conn->ticket_with_reply = false;
		/* sent ahead of the next record written; a failure (TLS
		   1.2, whose tickets are part of its handshake) only means
		   no TLS 1.3 ticket for this client */
		if (SSL_new_session_ticket(conn->ssl) != 1)
			ERR_clear_error();
	}
	if (conn->z != NULL)
		conn_schedule(conn, DEFER_ZFLUSH);
	else if (conn->direct)
		conn_schedule(conn, DEFER_SEND);
}

/* What the session reads: the socket's (or TLS layer's) input, or the
   inflated input of a compressed conn. */
static struct evbuffer *
conn_inbuf(struct conn *conn)
{
	return conn->z != NULL ? conn->zin : bufferevent_get_input(conn->bev);
}

/* Where the session's output goes first (see conn_inbuf). */
static struct evbuffer *
conn_outbuf(struct conn *conn)
{
	return conn->z != NULL ? conn->zout :
		bufferevent_get_output(conn->bev);
}

/* Inflates buffered compressed input into zin, up to the input limit
   (what the peer sends can grow a thousandfold: it is inflated only as
   the session takes it). Returns 1 if anything moved, 0 if not, -1 if
   the stream was corrupt (the conn is then closing). */
static int
conn_inflate(struct conn *conn)
{
	const char *error;
	int ret;

	if (conn->z == NULL || conn->bev == NULL || conn->closing)
		return 0;
	ret = net_deflate_inflate(conn->z, bufferevent_get_input(conn->bev),
				  conn->zin, conn->input_limit, &error);
	if (ret < 0)
		conn_do_close(conn, net_error("compressed input: %s", error));
	return ret;
}

/* After the session's input callback: if it took inflated input and
   more compressed input waits, inflate it and call the session again
   (no new bytes from the socket may come to trigger it). */
static void
conn_inflate_more(struct conn *conn)
{
	if (conn->z != NULL && !conn->closing && !conn->starttls_pending &&
	    conn_inflate(conn) > 0)
		conn_schedule(conn, DEFER_INPUT);
}

static void
conn_drain_pending(struct conn *conn)
{
	if (conn->pending_drain > 0 && conn->bev != NULL)
		evbuffer_drain(conn_inbuf(conn), conn->pending_drain);
	conn->pending_drain = 0;
}

static void
conn_timer_arm(struct conn *conn)
{
	struct timeval tv = { .tv_sec = conn->idle_secs };

	if (conn->idle_secs == 0) {
		evtimer_del(conn->timer);
		return;
	}
	conn->out_at_arm = conn->bytes_out;
	evtimer_add(conn->timer, &tv);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *context)
{
	struct conn *conn = context;

	/* A client slowly taking a large reply is not idle. */
	if (conn->bev != NULL && conn->bytes_out != conn->out_at_arm &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0) {
		conn_timer_arm(conn);
		return;
	}
	conn_do_close(conn, "idle timeout");
}

/* Called when the plain reply to STARTTLS has left: replace the plain
   bufferevent by an OpenSSL one on the same socket. */
static void
conn_starttls_switch(struct conn *conn)
{
	struct bufferevent *bev;
	SSL *ssl;

	conn->starttls_pending = false;
	/* Whatever the client pipelined after the command is dropped, not
	   interpreted after the handshake (RFC 3207 5). */
	evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev),
				 conn->in_cb);
	evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev),
				 conn->out_cb);
	/* Disabled first: see conn_do_close(). */
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	bufferevent_free(conn->bev);
	conn->bev = NULL;
	conn->pending_drain = 0;
	conn->discarding_line = false;

	ssl = tls_server_new_ssl(conn->tls);
	/* TLS 1.3 session tickets (RFC 8446 4.6.1) are sent right after
	   the handshake by default. After STARTTLS the client speaks first,
	   so they would reach it while it sends its first command; a
	   client that reads in one thread and writes in another through
	   the same TLS object (offlineimap's imaplib2) can then stall for
	   good (17 syncs of 80 here). With the first reply they arrive
	   while the client waits for it. Implicit TLS is not affected: the
	   greeting follows them. */
	SSL_set_num_tickets(ssl, 0);
	conn->ticket_with_reply = true;
	bev = bufferevent_openssl_socket_new(conn->base, conn->fd, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE |
					     BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		conn_do_close(conn, "STARTTLS: cannot create TLS layer");
		return;
	}
	conn->bev = bev;
	conn->ssl = ssl;
	conn_setup_bev(conn);
}

static void
conn_check_flush(struct conn *conn)
{
	if (conn->bev == NULL || conn_output_pending(conn) > 0)
		return;
	if (conn->flush_then_close) {
		/* All output is with the kernel. Read what the peer still
		   sent so close() does not turn into a reset that could
		   destroy our last reply in flight, then send FIN. */
		char buf[4096];
		for (int i = 0; i < 16; i++) {
			if (recv(conn->fd, buf, sizeof(buf),
				 MSG_DONTWAIT) <= 0)
				break;
		}
		if (conn->ssl != NULL) {
			/* close_notify, best effort; a failure here must
			   not linger in this thread's error queue. */
			(void)SSL_shutdown(conn->ssl);
			ERR_clear_error();
		}
		(void)shutdown(conn->fd, SHUT_WR);
		conn_do_close(conn, conn->close_reason);
	} else if (conn->starttls_pending) {
		conn_starttls_switch(conn);
	}
}

/* Queued output goes to the socket now (direct conns; see `direct`):
   what the socket takes, up to CONN_DIRECT_SEND_MAX bytes a pass. The
   rest, or an error, is left to the bufferevent, which then watches
   for writability and reports the error the usual way. */
static void
conn_send_direct(struct conn *conn)
{
	struct bufferevent *bev = conn->bev;
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t sent = 0;

	if (evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(bev) & EV_WRITE) != 0)
		return;
	/* The bufferevent keeps the start of its output frozen so that only
	   it drains it; it thaws it the same way around its own writes. */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0 && sent < CONN_DIRECT_SEND_MAX) {
		int n = evbuffer_write(out, conn->fd);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	evbuffer_freeze(out, 1);
	conn->bytes_direct += sent;
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(bev, EV_WRITE);
	if (sent > 0 && evbuffer_get_length(out) <= CONN_OUTPUT_LOW_WATER) {
		/* what the bufferevent's write callback would say */
		conn_write_cb(bev, conn);
	}
}

static void
conn_defer_cb(evutil_socket_t fd, short what, void *context)
{
	struct conn *conn = context;
	unsigned flags = conn->defer_flags;

	conn->defer_flags = 0;
	if ((flags & DEFER_CLOSE) != 0) {
		struct conn **list = worker_conn_list(conn->worker);

		if (conn->prev != NULL)
			conn->prev->next = conn->next;
		else
			*list = conn->next;
		if (conn->next != NULL)
			conn->next->prev = conn->prev;
		if (conn->cb.closed != NULL)
			conn->cb.closed(conn, conn->close_reason,
					conn->context);
		event_free(conn->timer);
		event_free(conn->defer_event);
		free(conn->close_reason);
		worker_conn_removed(conn->worker);
		free(conn);
		return;
	}
	if ((flags & DEFER_ZFLUSH) != 0 && conn->z != NULL &&
	    conn->bev != NULL) {
		/* The end of a burst of output: everything goes out now,
		   flushed, so no reply waits inside the compressor (an IDLE
		   update, the last chunk of a FETCH). */
		net_deflate_deflate(conn->z, conn->zout,
				    bufferevent_get_output(conn->bev), true);
		if (conn->z_idle)
			net_deflate_release_output(conn->z);
		if (conn->flush_then_close &&
		    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
			conn_check_flush(conn);
	}
	if ((flags & DEFER_SEND) != 0 && conn->direct && conn->bev != NULL)
		conn_send_direct(conn);
	if ((flags & DEFER_FLUSH) != 0)
		conn_check_flush(conn);
	if ((flags & DEFER_INPUT) != 0 && !conn->closing &&
	    !conn->starttls_pending && conn->cb.input != NULL) {
		conn->cb.input(conn, conn->context);
		conn_drain_pending(conn);
		conn_inflate_more(conn);
	}
}

/* The real close: frees the bufferevent and socket now, and defers the
   `closed` callback and the free to the loop. */
static void
conn_do_close(struct conn *conn, const char *reason)
{
	if (conn->close_scheduled)
		return;
	conn->close_scheduled = true;
	conn->closing = true;
	conn->flush_then_close = false;
	conn->starttls_pending = false;
	if (reason != conn->close_reason) {
		char *old = conn->close_reason;

		/* reason may point into old (never, today) or be static. */
		conn->close_reason = net_strdup(reason);
		free(old);
	}
	evtimer_del(conn->timer);
	if (conn->bev != NULL) {
		bool bev_owns_fd = conn->ssl != NULL;

		evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev),
					 conn->in_cb);
		evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev),
					 conn->out_cb);
		/* Inside the bufferevent's own callback libevent holds a
		   reference and bufferevent_free() only drops ours; disable
		   first so its events are gone before the fd is closed
		   (and its number possibly reused by the next accept). */
		bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
		bufferevent_free(conn->bev);
		conn->bev = NULL;
		conn->ssl = NULL;
		if (!bev_owns_fd)
			close(conn->fd);
		conn->fd = -1;
	}
	net_deflate_destroy(&conn->z);
	if (conn->zin != NULL) {
		evbuffer_free(conn->zin);
		evbuffer_free(conn->zout);
		conn->zin = conn->zout = NULL;
	}
	conn->pending_drain = 0;
	conn_schedule(conn, DEFER_CLOSE);
}

static void
conn_read_cb(struct bufferevent *bev, void *context)
{
	struct conn *conn = context;

	if (conn->closing || conn->starttls_pending) {
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	conn_timer_arm(conn);
	if (conn_inflate(conn) < 0)
		return;
	if (conn->cb.input != NULL)
		conn->cb.input(conn, conn->context);
	conn_drain_pending(conn);
	conn_inflate_more(conn);
}

static void
conn_write_cb(struct bufferevent *bev, void *context)
{
	struct conn *conn = context;

	if (conn->direct &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		/* All out: back to writing from the deferred event (libevent
		   already stopped watching, so this costs no syscall). */
		bufferevent_disable(bev, EV_WRITE);
	}
	if (conn->starttls_pending || conn->flush_then_close) {
		conn_check_flush(conn);
		return;
	}
	if (!conn->closing && conn->cb.output_drained != NULL)
		conn->cb.output_drained(conn, conn->context);
}

static const char *
conn_error_reason(struct conn *conn, short what, char *buf, size_t size)
{
	unsigned long err = 0, e;
	int sock_err = errno;
	const char *prefix;

	if (conn->ssl != NULL) {
		while ((e = bufferevent_get_openssl_error(conn->bev)) != 0)
			err = err == 0 ? e : err;
	}
	prefix = conn->ssl != NULL && !conn->tls_handshake_done ?
		"TLS handshake failed" : (conn->ssl != NULL ? "TLS error" :
					  "read/write error");
	if (err != 0) {
		char text[128];

		snprintf(buf, size, "%s: %s", prefix,
			 tls_error_text(err, text, sizeof(text)));
	} else if (sock_err == ECONNRESET || sock_err == EPIPE ||
		   sock_err == ETIMEDOUT || sock_err == ECONNABORTED ||
		   sock_err == EHOSTUNREACH || sock_err == ENETUNREACH) {
		/* errno is only trusted for socket errors: the callback is
		   deferred and other calls ran in between. */
		snprintf(buf, size, "%s: %s", prefix, strerror(sock_err));
	} else {
		snprintf(buf, size, "%s", prefix);
	}
	return buf;
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *context)
{
	struct conn *conn = context;
	char buf[256];

	if ((what & BEV_EVENT_CONNECTED) != 0) {
		conn->tls_handshake_done = true;
		if (!conn->closing && conn->cb.tls_ready != NULL)
			conn->cb.tls_ready(conn, conn->context);
		return;
	}
	/* With deferred callbacks libevent ORs the events of one loop pass
	   together: EOF from the read side can come with a write error
	   (a unix peer gone before our first write gets EPIPE at once). The
	   output can then never leave, so the error wins over the EOF's
	   "flush first". */
	if ((what & BEV_EVENT_EOF) != 0 && (what & BEV_EVENT_ERROR) == 0) {
		if (conn->ssl != NULL && !conn->tls_handshake_done)
			conn_do_close(conn, "TLS handshake failed: EOF");
		else if (conn_output_pending(conn) > 0 &&
			 !conn->starttls_pending) {
			/* A half-close after the last command: the reply
			   still goes out (a peer that is really gone makes
			   the write fail). */
			conn_close_after_flush(conn, "EOF");
		} else
			conn_do_close(conn, "EOF");
	} else if ((what & BEV_EVENT_ERROR) != 0) {
		conn_do_close(conn, conn_error_reason(conn, what, buf,
						      sizeof(buf)));
	} else if ((what & BEV_EVENT_TIMEOUT) != 0) {
		conn_do_close(conn, "idle timeout");
	}
}

static void
conn_in_counter_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
		   void *context)
{
	struct conn *conn = context;

	conn->bytes_in += info->n_added;
}

static void
conn_out_counter_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
		    void *context)
{
	struct conn *conn = context;

	conn->bytes_out += info->n_deleted;
}

static void
conn_setup_bev(struct conn *conn)
{
	struct bufferevent *bev = conn->bev;

	conn->in_cb = evbuffer_add_cb(bufferevent_get_input(bev),
				      conn_in_counter_cb, conn);
	conn->out_cb = evbuffer_add_cb(bufferevent_get_output(bev),
				       conn_out_counter_cb, conn);
	if (conn->in_cb == NULL || conn->out_cb == NULL)
		abort();
	if (conn->ssl != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb,
			  conn);
	bufferevent_setwatermark(bev, EV_READ, 0, conn->input_limit);
	bufferevent_setwatermark(bev, EV_WRITE, CONN_OUTPUT_LOW_WATER, 0);
	conn->direct = conn->ssl == NULL && conn->z == NULL;
	if (conn->direct) {
		/* a new bufferevent starts with EV_WRITE enabled */
		bufferevent_disable(bev, EV_WRITE);
		bufferevent_enable(bev, EV_READ);
	} else {
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	}
}

static void
conn_fill_addresses(struct conn *conn, const struct sockaddr *peer,
		    socklen_t peer_len)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);

	if (peer->sa_family == AF_INET &&
	    peer_len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const void *)peer;

		inet_ntop(AF_INET, &sin->sin_addr, conn->peer,
			  sizeof(conn->peer));
		conn->peer_port = ntohs(sin->sin_port);
		conn->is_local = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	} else if (peer->sa_family == AF_INET6 &&
		   peer_len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const void *)peer;
		const uint8_t *a = sin6->sin6_addr.s6_addr;

		conn->peer_port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			/* Log the plain IPv4 form. */
			inet_ntop(AF_INET, a + 12, conn->peer,
				  sizeof(conn->peer));
			conn->is_local = a[12] == 127;
		} else {
			inet_ntop(AF_INET6, &sin6->sin6_addr, conn->peer,
				  sizeof(conn->peer));
			conn->is_local = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		}
	} else {
		snprintf(conn->peer, sizeof(conn->peer), "unix");
		conn->is_unix = peer->sa_family == AF_UNIX;
		conn->is_local = conn->is_unix;
	}
	if (!conn->is_unix &&
	    getsockname(conn->fd, (struct sockaddr *)&local, &local_len) == 0) {
		if (local.ss_family == AF_INET)
			conn->local_port = ntohs(
				((struct sockaddr_in *)&local)->sin_port);
		else if (local.ss_family == AF_INET6)
			conn->local_port = ntohs(
				((struct sockaddr_in6 *)&local)->sin6_port);
	}
}

struct conn *
conn_create(struct worker *worker, int fd, const struct sockaddr *peer,
	    socklen_t peer_len, const char *service, struct tls_server *tls,
	    bool implicit_tls)
{
	struct conn *conn = net_malloc0(sizeof(*conn));
	struct conn **list;

	conn->worker = worker;
	conn->base = worker_get_base(worker);
	conn->fd = fd;
	conn->tls = tls;
	conn->input_limit = CONN_INPUT_HIGH_WATER;
	conn->idle_secs = CONN_DEFAULT_IDLE_TIMEOUT_SECS;
	snprintf(conn->service, sizeof(conn->service), "%s", service);
	snprintf(conn->id, sizeof(conn->id), "%llx",
		 (unsigned long long)atomic_fetch_add(&conn_id_counter, 1) +
		 0x1000);
	conn_fill_addresses(conn, peer, peer_len);
	if (!conn->is_unix) {
		int one = 1;

		/* Replies are written whole per loop pass; Nagle would only
		   hold back the tail of one (a 40 ms stall against delayed
		   ACKs when a command is answered in two writes). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	}

	conn->defer_event = event_new(conn->base, -1, 0, conn_defer_cb, conn);
	conn->timer = evtimer_new(conn->base, conn_timer_cb, conn);
	if (conn->defer_event == NULL || conn->timer == NULL)
		abort();
	if (implicit_tls) {
		conn->ssl = tls_server_new_ssl(tls);
		conn->bev = bufferevent_openssl_socket_new(
			conn->base, fd, conn->ssl, BUFFEREVENT_SSL_ACCEPTING,
			BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (conn->bev == NULL)
			SSL_free(conn->ssl);
	} else {
		/* The socket stays ours (no CLOSE_ON_FREE) so STARTTLS can
		   hand it to a TLS bufferevent. */
		conn->bev = bufferevent_socket_new(conn->base, fd,
						   BEV_OPT_DEFER_CALLBACKS);
	}
	if (conn->bev == NULL) {
		close(fd);
		event_free(conn->defer_event);
		event_free(conn->timer);
		free(conn);
		worker_pool_conn_release(worker_get_pool(worker));
		return NULL;
	}
	conn_setup_bev(conn);
	conn_timer_arm(conn);

	list = worker_conn_list(worker);
	conn->next = *list;
	if (*list != NULL)
		(*list)->prev = conn;
	*list = conn;
	worker_conn_added(worker);
	return conn;
}

void
conn_list_notify_shutdown(struct conn *head)
{
	/* Conns are unlinked only from their deferred close, never during
	   this walk, so the next pointers stay valid. */
	for (struct conn *conn = head; conn != NULL; conn = conn->next) {
		if (conn->closing)
			continue;
		if (conn->cb.shutdown != NULL)
			conn->cb.shutdown(conn, conn->context);
		else
			conn_close(conn, "server shutting down");
	}
}

void
conn_list_close_all(struct conn *head, const char *reason)
{
	for (struct conn *conn = head; conn != NULL; conn = conn->next)
		conn_do_close(conn, reason);
}

void
conn_set_callbacks(struct conn *conn, const struct conn_callbacks *cb,
		   void *context)
{
	conn->cb = *cb;
	conn->context = context;
}

static bool
conn_readable(const struct conn *conn)
{
	return conn->bev != NULL && !conn->closing && !conn->starttls_pending;
}

enum conn_line_result
conn_read_line(struct conn *conn, size_t max_len, const uint8_t **line_r,
	       size_t *len_r)
{
	struct evbuffer *input;
	struct evbuffer_ptr end, lf;
	size_t len, scan, line_len;
	uint8_t *data;

	conn_drain_pending(conn);
	if (!conn_readable(conn))
		return CONN_LINE_NONE;
	if (max_len > SIZE_MAX - 2)
		max_len = SIZE_MAX - 2;
	/* The input cap must leave room for a whole line and its CRLF,
	   or reading would pause before the line could ever end. */
	if (conn->input_limit < max_len + 2)
		conn_set_input_limit(conn, max_len + 2);
	if (conn_inflate(conn) < 0)
		return CONN_LINE_NONE;
	input = conn_inbuf(conn);

	if (conn->discarding_line) {
		/* The buffer holds at most input_limit bytes, so this search
		   is bounded. */
		lf = evbuffer_search(input, "\n", 1, NULL);
		if (lf.pos < 0) {
			evbuffer_drain(input, evbuffer_get_length(input));
			return CONN_LINE_NONE;
		}
		evbuffer_drain(input, (size_t)lf.pos + 1);
		conn->discarding_line = false;
	}

	len = evbuffer_get_length(input);
	if (len == 0)
		return CONN_LINE_NONE;
	scan = len < max_len + 2 ? len : max_len + 2;
	if (scan < len) {
		if (evbuffer_ptr_set(input, &end, scan,
				     EVBUFFER_PTR_SET) < 0)
			abort();
		lf = evbuffer_search_range(input, "\n", 1, NULL, &end);
	} else {
		lf = evbuffer_search(input, "\n", 1, NULL);
	}
	if (lf.pos < 0) {
		if (len < max_len + 2)
			return CONN_LINE_NONE;
		/* No LF in max_len+2 bytes: the line cannot fit. Drop what
		   was scanned; the rest goes up to its LF. */
		evbuffer_drain(input, scan);
		conn->discarding_line = true;
		return CONN_LINE_TOO_LONG;
	}
	line_len = (size_t)lf.pos;
	data = evbuffer_pullup(input, (ssize_t)line_len + 1);
	if (data == NULL)
		abort();
	if (line_len > 0 && data[line_len - 1] == '\r')
		line_len--;
	if (line_len > max_len) {
		evbuffer_drain(input, (size_t)lf.pos + 1);
		return CONN_LINE_TOO_LONG;
	}
	conn->pending_drain = (size_t)lf.pos + 1;
	*line_r = data;
	*len_r = line_len;
	return CONN_LINE_OK;
}

struct evbuffer *
conn_get_input(struct conn *conn)
{
	conn_drain_pending(conn);
	if (!conn_readable(conn) || conn_inflate(conn) < 0)
		return NULL;
	return conn_inbuf(conn);
}

size_t
conn_input_length(struct conn *conn)
{
	struct evbuffer *input = conn_get_input(conn);

	return input == NULL ? 0 : evbuffer_get_length(input);
}

int
conn_read_exact(struct conn *conn, void *dest, size_t n)
{
	struct evbuffer *input = conn_get_input(conn);

	if (input == NULL || evbuffer_get_length(input) < n)
		return 0;
	if (evbuffer_remove(input, dest, n) != (int)n)
		abort();
	return 1;
}

void
conn_set_input_limit(struct conn *conn, size_t bytes)
{
	if (bytes < CONN_INPUT_HIGH_WATER)
		bytes = CONN_INPUT_HIGH_WATER;
	conn->input_limit = bytes;
	if (conn->bev != NULL)
		bufferevent_setwatermark(conn->bev, EV_READ, 0, bytes);
}

void
conn_input_kick(struct conn *conn)
{
	if (!conn->closing)
		conn_schedule(conn, DEFER_INPUT);
}

static bool
conn_writable(const struct conn *conn)
{
	return conn->bev != NULL && !conn->closing;
}

void
conn_write(struct conn *conn, const void *data, size_t len)
{
	if (!conn_writable(conn) || len == 0)
		return;
	if (evbuffer_add(conn_outbuf(conn), data, len) < 0)
		abort();
	conn_output_queued(conn);
}

void
conn_write_now(struct conn *conn, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!conn_writable(conn) || len == 0)
		return;
	/* Not with COMPRESS: every byte goes through the deflater. */
	if (conn->ssl == NULL && conn->z == NULL && conn->fd >= 0 &&
	    !conn->starttls_pending && !conn->flush_then_close &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
		ssize_t n = send(conn->fd, p, len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		/* An error or a full socket: all of it is queued, and the
		   bufferevent reports any error the usual way. */
		if (n > 0) {
			conn->bytes_out += (uint64_t)n;
			p += n;
			len -= (size_t)n;
		}
	}
	conn_write(conn, p, len);
}

void
conn_write_str(struct conn *conn, const char *str)
{
	conn_write(conn, str, strlen(str));
}

void
conn_printf(struct conn *conn, const char *fmt, ...)
{
	va_list ap;

	if (!conn_writable(conn))
		return;
	va_start(ap, fmt);
	if (evbuffer_add_vprintf(conn_outbuf(conn), fmt, ap) < 0)
		abort();
	va_end(ap);
	conn_output_queued(conn);
}

/* A short range is read into the output buffer at once: a file segment
   costs a dup() and a close() of the descriptor and its own sendfile()
   beside the writev() of what surrounds it, more than copying a few
   pages (a FETCH of three 4 KB messages made ten system calls for
   them instead of three reads). */
static int
conn_write_file_inline(struct conn *conn, int fd, off_t offset, size_t len,
		       const char **error_r)
{
	struct evbuffer *out = conn_outbuf(conn);
	struct evbuffer_iovec v;
	size_t got = 0;

	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &v, 1) != 1)
		abort();
	while (got < len) {
		ssize_t n = pread(fd, (char *)v.iov_base + got, len - got,
				  offset + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = n < 0 ? net_error("read: %s",
						     strerror(errno)) :
					   net_error("file ends before the "
						     "range to send");
			return -1; /* nothing committed: nothing queued */
		}
		got += (size_t)n;
	}
	v.iov_len = len;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		abort();
	conn_output_queued(conn);
	return 0;
}

int
conn_write_file(struct conn *conn, int fd, off_t offset, size_t len,
		const char **error_r)
{
	struct evbuffer_file_segment *seg;
	int dupfd;

	if (!conn_writable(conn) || len == 0)
		return 0;
	if (offset < 0 ||
	    (uint64_t)len > (uint64_t)INT64_MAX - (uint64_t)offset) {
		*error_r = net_error("file range out of bounds");
		return -1;
	}
	if (len <= CONN_FILE_INLINE_MAX)
		return conn_write_file_inline(conn, fd, offset, len, error_r);
	/* The segment keeps its own descriptor until the bytes are sent,
	   so the caller may close fd at once. */
	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0) {
		*error_r = net_error("dup: %s", strerror(errno));
		return -1;
	}
	seg = evbuffer_file_segment_new(dupfd, offset, (ev_off_t)len,
					EVBUF_FS_CLOSE_ON_FREE);
	if (seg == NULL) {
		close(dupfd);
		*error_r = net_error("cannot use file for output");
		return -1;
	}
	/* Compressed, the range is mapped or read when it is deflated. */
	if (evbuffer_add_file_segment(conn_outbuf(conn), seg, 0,
				      (ev_off_t)len) < 0) {
		evbuffer_file_segment_free(seg);
		*error_r = net_error("cannot queue file for output");
		return -1;
	}
	evbuffer_file_segment_free(seg);
	conn_output_queued(conn);
	return 0;
}

size_t
conn_output_pending(struct conn *conn)
{
	size_t len;

	if (conn->bev == NULL)
		return 0;
	len = evbuffer_get_length(bufferevent_get_output(conn->bev));
	if (conn->z != NULL)
		len += evbuffer_get_length(conn->zout);
	return len;
}

void
conn_close(struct conn *conn, const char *reason)
{
	/* Also cuts short a pending conn_close_after_flush(). */
	conn_do_close(conn, reason);
}

void
conn_close_after_flush(struct conn *conn, const char *reason)
{
	if (conn->closing)
		return;
	conn->closing = true;
	conn->flush_then_close = true;
	conn->starttls_pending = false;
	conn->close_reason = net_strdup(reason);
	bufferevent_disable(conn->bev, EV_READ);
	conn->pending_drain = 0;
	evbuffer_drain(bufferevent_get_input(conn->bev),
		       evbuffer_get_length(bufferevent_get_input(conn->bev)));
	if (conn->z != NULL)
		evbuffer_drain(conn->zin, evbuffer_get_length(conn->zin));
	/* A peer that never reads must not keep us waiting forever. */
	if (conn->idle_secs == 0) {
		conn->idle_secs = CONN_DEFAULT_IDLE_TIMEOUT_SECS;
		conn_timer_arm(conn);
	}
	/* If the output is already empty no write callback will come. */
	if (conn_output_pending(conn) == 0)
		conn_schedule(conn, DEFER_FLUSH);
}

bool
conn_is_closing(const struct conn *conn)
{
	return conn->closing;
}

void
conn_set_idle_timeout(struct conn *conn, unsigned secs)
{
	conn->idle_secs = secs;
	if (conn->bev != NULL)
		conn_timer_arm(conn);
}

bool
conn_can_starttls(const struct conn *conn)
{
	/* After COMPRESS the TLS layer would have to go below the
	   compression (RFC 4978 3): not supported, so never offered. */
	return conn->tls != NULL && conn->ssl == NULL && !conn->closing &&
		!conn->starttls_pending && conn->z == NULL;
}

int
conn_starttls(struct conn *conn, const char **error_r)
{
	if (!conn_can_starttls(conn) || conn->bev == NULL) {
		*error_r = conn->tls == NULL ? "TLS is not configured" :
			(conn->z != NULL ? "compression is active" :
			 "TLS is already active");
		return -1;
	}
	conn->starttls_pending = true;
	conn->pending_drain = 0;
	conn->discarding_line = false;
	bufferevent_disable(conn->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(conn->bev),
		       evbuffer_get_length(bufferevent_get_input(conn->bev)));
	/* Switch at once if the reply is already out; otherwise the write
	   callback does it when the output empties. */
	conn_schedule(conn, DEFER_FLUSH);
	return 0;
}

int
conn_compress_start(struct conn *conn, const char **error_r)
{
	if (conn->z != NULL) {
		*error_r = "compression is already active";
		return -1;
	}
	if (conn->bev == NULL || conn->closing || conn->starttls_pending) {
		*error_r = "connection is changing state";
		return -1;
	}
	/* The session took the command's line; the rest (if the client
	   did not wait for the reply) is compressed already. Output queued
	   so far (the OK) goes out as it is. */
	conn_drain_pending(conn);
	if (conn->direct) {
		/* the deflater writes into the bufferevent from now on */
		conn->direct = false;
		bufferevent_enable(conn->bev, EV_WRITE);
	}
	conn->z = net_deflate_create();
	conn->zin = evbuffer_new();
	conn->zout = evbuffer_new();
	if (conn->zin == NULL || conn->zout == NULL)
		abort();
	conn->discarding_line = false;
	return 0;
}

void
conn_compress_idle(struct conn *conn, bool idle)
{
	if (conn->z == NULL)
		return;
	conn->z_idle = idle;
	/* With output still to compress, the deferred flush frees it. */
	if (idle && evbuffer_get_length(conn->zout) == 0)
		net_deflate_release_output(conn->z);
}

bool
conn_is_compressed(const struct conn *conn)
{
	return conn->z != NULL;
}

const char *
conn_get_peer(const struct conn *conn)
{
	return conn->peer;
}

unsigned
conn_get_peer_port(const struct conn *conn)
{
	return conn->peer_port;
}

unsigned
conn_get_local_port(const struct conn *conn)
{
	return conn->local_port;
}

const char *
conn_get_id(const struct conn *conn)
{
	return conn->id;
}

const char *
conn_get_service(const struct conn *conn)
{
	return conn->service;
}

bool
conn_is_tls(const struct conn *conn)
{
	return conn->ssl != NULL;
}

bool
conn_is_local(const struct conn *conn)
{
	return conn->is_local;
}

bool
conn_is_unix(const struct conn *conn)
{
	return conn->is_unix;
}

const char *
conn_tls_describe(struct conn *conn)
{
	if (conn->ssl == NULL)
		return "plaintext";
	return tls_describe(conn->ssl, conn_describe_buf,
			    sizeof(conn_describe_buf));
}

uint64_t
conn_get_bytes_in(const struct conn *conn)
{
	return conn->bytes_in;
}

uint64_t
conn_get_bytes_out(const struct conn *conn)
{
	return conn->bytes_out;
}

uint64_t
conn_get_bytes_direct(const struct conn *conn)
{
	return conn->bytes_direct;
}

struct worker *
conn_get_worker(const struct conn *conn)
{
	return conn->worker;
}
