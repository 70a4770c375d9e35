#ifndef QUIRE_NET_CONN_H
#define QUIRE_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One client connection: a socket wrapped in a libevent bufferevent
   (plain, or OpenSSL in accept state), living on the worker that accepted
   it. Every conn_* function must be called on that worker's thread.

   Ownership and lifetime:
   - The listener creates the conn and calls the service's
     new_connection(conn, ctx); the session then calls conn_set_callbacks().
   - The net layer owns the conn. It is freed after the session's `closed`
     callback has returned; the session must not touch it afterwards.
   - `closed` is called exactly once, always from the event loop, never
     from inside a conn_* call. So a session may call conn_close() from any
     of its callbacks (or anywhere on its thread) and go on using its own
     state until `closed` arrives; conn_* calls on a closing conn are
     harmless no-ops (writes are dropped, reads find nothing).
   - The conn is never freed while one of its callbacks runs.

   Input flow control: the conn reads only up to a high-watermark of
   buffered input (CONN_INPUT_HIGH_WATER, raised automatically to fit the
   max_len given to conn_read_line()), so a client cannot make us buffer
   more than that. `input` is called when new bytes arrived; a session that
   stops reading lines part-way (busy streaming a reply, waiting for the
   store) calls conn_input_kick() when ready to get `input` again for
   what is still buffered.

   A session's input callback, in outline:

	static void
	pop3_input(struct conn *conn, void *context)
	{
		struct pop3_session *s = context;
		const uint8_t *line;
		size_t len;
		enum conn_line_result ret;

		while (!conn_is_closing(conn) && !s->busy) {
			ret = conn_read_line(conn, POP3_MAX_LINE, &line, &len);
			if (ret == CONN_LINE_NONE)
				break;
			if (ret == CONN_LINE_TOO_LONG)
				conn_write_str(conn, "-ERR Line too long\r\n");
			else
				pop3_command(s, line, len);
		}
	}

   and when s->busy clears (a RETR finished streaming from
   output_drained): conn_input_kick(conn). */

struct conn;
struct evbuffer;
struct tls_server;
struct worker;

struct conn_callbacks {
	/* New input is buffered. Read with conn_read_line() until it
	   returns 0, or conn_input_kick() later. Required. */
	void (*input)(struct conn *conn, void *context);
	/* Output fell to CONN_OUTPUT_LOW_WATER bytes or below after a write
	   to the socket: time to queue the next chunk of a large reply.
	   Called only after a socket write, so a session waiting for it
	   must leave more than CONN_OUTPUT_LOW_WATER bytes queued (fill up
	   to CONN_OUTPUT_HIGH_WATER). Also called after small replies;
	   ignore it when not streaming. Optional. */
	void (*output_drained)(struct conn *conn, void *context);
	/* The connection is gone: the peer closed it, an error, a timeout,
	   or conn_close(). A peer's EOF while output is still queued is
	   treated as conn_close_after_flush(conn, "EOF"): a half-closing
	   client still gets what was queued, but no more callbacks run.
	   reason is short text for the log ("EOF",
	   "idle timeout", "TLS handshake failed: ...", or the reason given
	   to conn_close()). The session frees itself here; the conn is freed
	   after this returns. Required. */
	void (*closed)(struct conn *conn, const char *reason, void *context);
	/* The server is shutting down (worker_pool_stop). The session should
	   finish up soon: POP3 just closes, IMAP sends BYE then
	   conn_close_after_flush(). NULL: the conn is closed with the reason
	   "server shutting down". Optional. */
	void (*shutdown)(struct conn *conn, void *context);
	/* A TLS handshake (implicit or after conn_starttls) completed.
	   Optional; useful to log conn_tls_describe(). */
	void (*tls_ready)(struct conn *conn, void *context);
};

/* Called by a listener on the accepting worker's thread for each new
   connection. The callee must call conn_set_callbacks() before returning
   (or conn_close()). */
typedef void conn_new_callback_t(struct conn *conn, void *context);

/* Sets the session's callbacks (copied) and context. */
void conn_set_callbacks(struct conn *conn, const struct conn_callbacks *cb,
			void *context);

/* Result of conn_read_line(). */
enum conn_line_result {
	/* The line was longer than max_len. Its bytes so far were dropped;
	   the rest of it, up to and including the LF, is dropped by later
	   calls, after which lines come normally again. Reply with an error
	   and call again. Returned once per over-long line. */
	CONN_LINE_TOO_LONG = -1,
	/* No complete line buffered yet. */
	CONN_LINE_NONE = 0,
	/* *line_r / *len_r hold one line without its LF or CRLF. */
	CONN_LINE_OK = 1,
};

/* Takes one line (ending LF; a CR before the LF is removed too) of at
   most max_len bytes from the input. The line bytes are not NUL-terminated
   and stay valid until the next conn_* call on this conn or the return to
   the event loop, whichever comes first. Looks for the end of a line in
   at most max_len+2 buffered bytes (while skipping the rest of an
   over-long line, in what is buffered, which the input cap bounds). */
enum conn_line_result conn_read_line(struct conn *conn, size_t max_len,
				     const uint8_t **line_r, size_t *len_r);

/* The input buffer, for bulk data (LMTP DATA streamed to a file, IMAP
   literals): read and drain it directly with evbuffer functions. Only the
   owner thread; do not keep the pointer across returns to the loop (it
   changes after conn_starttls). NULL once the conn is closing. */
struct evbuffer *conn_get_input(struct conn *conn);
/* Bytes buffered as input now. */
size_t conn_input_length(struct conn *conn);
/* Copies exactly n buffered bytes to dest and removes them. Returns 1,
   or 0 (nothing removed) while fewer than n are buffered. */
int conn_read_exact(struct conn *conn, void *dest, size_t n);
/* Raises (or lowers, not below CONN_INPUT_HIGH_WATER) the most input
   buffered before reading pauses. For bulk reads of big chunks. */
void conn_set_input_limit(struct conn *conn, size_t bytes);
/* Schedules the `input` callback to run again from the loop even if no
   new bytes arrive (to resume processing of buffered, pipelined input). */
void conn_input_kick(struct conn *conn);

/* Queues bytes for output. Never blocks; check conn_output_pending()
   against CONN_OUTPUT_HIGH_WATER before producing large amounts. */
void conn_write(struct conn *conn, const void *data, size_t len);
void conn_write_str(struct conn *conn, const char *str);
/* As conn_write(), but on a plain connection with nothing queued the
   bytes go to the kernel at once with one send(), and only what it did
   not take is queued. This saves the write event's round trip through
   the loop (two epoll_ctl calls and a pass) when one change is pushed to
   thousands of idle sessions. Bytes sent at once produce no
   `output_drained` call: use it only where nothing waits for that. */
void conn_write_now(struct conn *conn, const void *data, size_t len);
void conn_printf(struct conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Queues len bytes of the file fd from offset, copied as they are (any
   dot-stuffing is the caller's job). fd stays the caller's (it is
   duplicated). A range of up to CONN_FILE_INLINE_MAX bytes is read at
   once into the output buffer; on a plain socket the kernel sends a
   longer one from the file directly; over TLS it is mapped or read as it
   is sent. For a large file queue it in chunks of about
   CONN_OUTPUT_HIGH_WATER from `output_drained`.
   Returns 0, or -1 with *error_r if the file could not be used (nothing
   was queued). */
#define CONN_FILE_INLINE_MAX (16 * 1024)
int conn_write_file(struct conn *conn, int fd, off_t offset, size_t len,
		    const char **error_r);
/* Bytes queued for output and not yet handed to the kernel (for TLS: the
   plaintext not yet encrypted plus nothing else). */
size_t conn_output_pending(struct conn *conn);

/* Closes now: pending output is dropped. reason goes to `closed`. */
void conn_close(struct conn *conn, const char *reason);
/* Stops reading, sends what is queued, then closes (or closes at the idle
   timeout if the peer does not take the output). */
void conn_close_after_flush(struct conn *conn, const char *reason);
/* True once conn_close*() was called or the conn failed. */
bool conn_is_closing(const struct conn *conn);

/* Idle timeout: the conn is closed with reason "idle timeout" when for
   secs seconds no input arrived and no pending output was sent. Input
   re-arms it. 0 disables. New conns start with
   CONN_DEFAULT_IDLE_TIMEOUT_SECS (it also bounds the TLS handshake). */
void conn_set_idle_timeout(struct conn *conn, unsigned secs);

/* True if this conn may call conn_starttls(): its listener has TLS
   configured and the conn is not TLS yet. */
bool conn_can_starttls(const struct conn *conn);
/* STARTTLS/STLS. Call after queueing the plain "go ahead" reply. Input
   already buffered (anything the client pipelined after the command) is
   discarded at once and reading stops (RFC 3207 5, RFC 2595 3.1: no
   command injection); when the reply has been sent in plain text, the
   server-side handshake starts on the same socket. Returns 0, or -1 with
   *error_r (no TLS configured, already TLS); on -1 nothing changed. */
int conn_starttls(struct conn *conn, const char **error_r);

/* COMPRESS=DEFLATE (RFC 4978): from now on the conn inflates what it
   reads and deflates what it writes (raw DEFLATE, above TLS when TLS is
   on). Call right after queueing the plain reply that announces it:
   output queued before goes out as it is; every input byte the session
   has not taken yet is compressed data. Output is flushed at the end of
   each burst (when control returns to the loop), so a reply never waits
   in the compressor; conn_output_pending() counts plaintext not yet
   compressed plus compressed bytes not yet sent. Input is inflated only
   as the session reads it, up to the input limit. A corrupt compressed
   stream closes the conn with a reason beginning "compressed input:".
   STARTTLS is refused from then on (conn_can_starttls() is false).
   Returns 0, or -1 with *error_r (already compressing, closing, or a
   STARTTLS pending); on -1 nothing changed. */
int conn_compress_start(struct conn *conn, const char **error_r);
/* The session expects to write rarely (IMAP IDLE): while idle is true
   the deflater (about half the compression memory) is freed after each
   burst and made anew for the next, at the cost of that burst's ratio.
   No-op on a conn that is not compressed. */
void conn_compress_idle(struct conn *conn, bool idle);
bool conn_is_compressed(const struct conn *conn);

/* Facts for sessions and logs. */
/* Peer address: "192.0.2.1", "2001:db8::1" or "unix". */
const char *conn_get_peer(const struct conn *conn);
unsigned conn_get_peer_port(const struct conn *conn);
/* Local port the client connected to (0 for a unix socket). */
unsigned conn_get_local_port(const struct conn *conn);
/* Short unique id for log lines ("1f2e"), stable for the conn's life. */
const char *conn_get_id(const struct conn *conn);
/* The listener's service name ("pop3", "imaps", ...). */
const char *conn_get_service(const struct conn *conn);
bool conn_is_tls(const struct conn *conn);
/* Loopback peer (127.0.0.0/8, ::1, ::ffff:127.x) or a unix socket:
   what allow_plaintext = loopback trusts. */
bool conn_is_local(const struct conn *conn);
bool conn_is_unix(const struct conn *conn);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "plaintext". Valid until the next
   call on this thread. */
const char *conn_tls_describe(struct conn *conn);
/* Plaintext bytes received and sent (sent = handed to the kernel or the
   TLS layer) over the conn's life; after COMPRESS, the compressed bytes
   are what is counted. */
uint64_t conn_get_bytes_in(const struct conn *conn);
uint64_t conn_get_bytes_out(const struct conn *conn);
/* Of those, the bytes a plain conn wrote itself at the end of a loop
   pass rather than through the bufferevent's writability watch. */
uint64_t conn_get_bytes_direct(const struct conn *conn);
struct worker *conn_get_worker(const struct conn *conn);

#endif
