#ifndef QUIRE_NET_DEFLATE_H
#define QUIRE_NET_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>

/* The two raw DEFLATE streams (RFC 1951, no zlib or gzip header) of a
   compressed connection (IMAP COMPRESS=DEFLATE, RFC 4978): one inflating
   what the peer sends, one deflating what we send. Pure byte work on
   evbuffers: no I/O, no callbacks, so it is unit-tested and fuzzed on its
   own; conn.c puts it between a session and its bufferevent.

   Memory: the deflater uses a reduced window and hash (NET_DEFLATE_*
   in lib/limits.h) since it lives as long as the session; the inflater
   must accept any window a peer picked (up to 32 KiB), so it is zlib's
   default. zlib's allocations abort on out of memory like ours. */

struct evbuffer;
struct net_deflate;

/* The streams: the inflater ready, the deflater made on first output.
   Never NULL. */
struct net_deflate *net_deflate_create(void);
/* Frees both streams and sets *z to NULL; NULL is fine. */
void net_deflate_destroy(struct net_deflate **z);

/* Inflates compressed bytes from the front of src (removing what was
   used) and appends the plaintext to dst. Stops when src is used up or
   dst holds dst_limit bytes, so a small input never makes more than
   dst_limit bytes of output at once (the caller calls again after it
   has taken some from dst). Returns 1 if it used input or made output,
   0 if it could do neither (src empty, dst full, or a block not yet
   complete: bytes zlib keeps count as used), -1 if the peer's stream is
   corrupt or goes on past its final block (*error_r, static text);
   after -1 every call fails again. */
int net_deflate_inflate(struct net_deflate *z, struct evbuffer *src,
			struct evbuffer *dst, size_t dst_limit,
			const char **error_r);

/* Compresses all of src (which ends up empty) onto dst. With flush, the
   output ends on a byte boundary with everything given so far (a sync
   flush), so the peer can decompress all of it now; without, zlib may
   keep the tail back for a better ratio. Flushing with src empty and
   nothing held back adds nothing. */
void net_deflate_deflate(struct net_deflate *z, struct evbuffer *src,
			 struct evbuffer *dst, bool flush);

/* Frees the deflater (most of its memory, see net_deflate_memory) when
   nothing is held back; the next net_deflate_deflate() with input starts
   a fresh one whose output the peer reads on as the same stream (raw
   DEFLATE has no header, and after a flush the peer is at a block
   boundary). Costs the ratio of the next burst, which starts with an
   empty dictionary. For sessions that rarely write (IDLE). */
void net_deflate_release_output(struct net_deflate *z);

/* True if the deflater holds input not yet flushed out. */
bool net_deflate_pending(const struct net_deflate *z);

/* Bytes allocated by zlib for both streams now (for the session cost
   in the docs and tests). */
size_t net_deflate_memory(const struct net_deflate *z);

#endif
