/* Raw DEFLATE streams over evbuffers for compressed connections
   (RFC 4978 3: raw DEFLATE both ways, RFC 1951). */
#include "net/net-deflate.h"
#include "lib/limits.h"
#include "lib/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <zlib.h>

/* Output space reserved per zlib call. */
#define DEFLATE_CHUNK 16384

struct net_deflate {
	z_stream in, out;
	size_t memory;
	bool in_failed, in_ended;
	/* The inflater filled all the space it was given: it may hold more
	   output (the rest of a long match) even with no input left. */
	bool in_full;
	bool out_pending;
	/* The deflater exists (see net_deflate_release_output). */
	bool out_ready;
};

/* zlib's allocations go through here: counted (net_deflate_memory) and
   aborting on out of memory. Each block carries its size in front. */
#define ALLOC_HEADER 16

static voidpf
deflate_zalloc(voidpf opaque, uInt items, uInt size)
{
	struct net_deflate *z = opaque;
	size_t n;
	uint8_t *p;

	if (size != 0 && items > (SIZE_MAX - ALLOC_HEADER) / size)
		abort();
	n = (size_t)items * size;
	p = xmalloc(n + ALLOC_HEADER);
	memcpy(p, &n, sizeof(n));
	z->memory += n;
	return p + ALLOC_HEADER;
}

static void
deflate_zfree(voidpf opaque, voidpf address)
{
	struct net_deflate *z = opaque;
	uint8_t *p = (uint8_t *)address - ALLOC_HEADER;
	size_t n;

	memcpy(&n, p, sizeof(n));
	z->memory -= n;
	free(p);
}

struct net_deflate *
net_deflate_create(void)
{
	struct net_deflate *z = xcalloc(1, sizeof(*z));

	z->in.zalloc = z->out.zalloc = deflate_zalloc;
	z->in.zfree = z->out.zfree = deflate_zfree;
	z->in.opaque = z->out.opaque = z;
	/* Negative window bits: raw DEFLATE, no zlib header (RFC 4978 3).
	   The peer may use any window up to 32 KiB. */
	if (inflateInit2(&z->in, -15) != Z_OK)
		abort();
	return z;
}

static void
deflate_out_init(struct net_deflate *z)
{
	if (z->out_ready)
		return;
	if (deflateInit2(&z->out, NET_DEFLATE_LEVEL, Z_DEFLATED,
			 -NET_DEFLATE_WINDOW_BITS, NET_DEFLATE_MEM_LEVEL,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z->out_ready = true;
}

void
net_deflate_release_output(struct net_deflate *z)
{
	/* After a flush the peer's inflater is at a block boundary; a new
	   deflater's blocks continue the same raw stream (no header), and
	   they never refer back to what the old one sent. */
	if (!z->out_ready || z->out_pending)
		return;
	(void)deflateEnd(&z->out);
	z->out_ready = false;
}

void
net_deflate_destroy(struct net_deflate **_z)
{
	struct net_deflate *z = *_z;

	if (z == NULL)
		return;
	*_z = NULL;
	(void)inflateEnd(&z->in);
	if (z->out_ready)
		(void)deflateEnd(&z->out);
	free(z);
}

int
net_deflate_inflate(struct net_deflate *z, struct evbuffer *src,
		    struct evbuffer *dst, size_t dst_limit,
		    const char **error_r)
{
	struct evbuffer_iovec in_vec, out_vec;
	size_t have, room, used, made;
	int progress = 0, ret;

	if (z->in_failed) {
		*error_r = "compressed input already failed";
		return -1;
	}
	for (;;) {
		if (evbuffer_peek(src, -1, NULL, &in_vec, 1) < 1) {
			in_vec.iov_base = NULL;
			in_vec.iov_len = 0;
		}
		if (in_vec.iov_len == 0 && !z->in_full)
			break;
		if (z->in_ended && in_vec.iov_len > 0) {
			/* The peer finished its stream (Z_FINISH) and then
			   went on: nothing can decode that. */
			z->in_failed = true;
			*error_r = "data after the end of the compressed "
				"stream";
			return -1;
		}
		have = evbuffer_get_length(dst);
		if (have >= dst_limit)
			break;
		room = dst_limit - have;
		if (room > DEFLATE_CHUNK)
			room = DEFLATE_CHUNK;
		if (evbuffer_reserve_space(dst, (ev_ssize_t)room, &out_vec,
					   1) < 1)
			abort();
		if (out_vec.iov_len > room)
			out_vec.iov_len = room;
		z->in.next_in = in_vec.iov_base;
		z->in.avail_in = in_vec.iov_len > UINT32_MAX ? UINT32_MAX :
			(uInt)in_vec.iov_len;
		z->in.next_out = out_vec.iov_base;
		z->in.avail_out = (uInt)out_vec.iov_len;
		used = z->in.avail_in;
		ret = inflate(&z->in, Z_SYNC_FLUSH);
		used -= z->in.avail_in;
		made = out_vec.iov_len - z->in.avail_out;
		z->in_full = z->in.avail_out == 0;
		out_vec.iov_len = made;
		if (evbuffer_commit_space(dst, &out_vec, 1) < 0)
			abort();
		evbuffer_drain(src, used);
		if (ret == Z_STREAM_END) {
			z->in_ended = true;
		} else if (ret == Z_BUF_ERROR) {
			/* No progress possible: only when no room, which the
			   loop does not allow, or no input; either way stop. */
			if (used == 0 && made == 0)
				break;
		} else if (ret != Z_OK) {
			z->in_failed = true;
			/* zlib's msg is static text too. */
			if (ret == Z_DATA_ERROR && z->in.msg != NULL)
				*error_r = z->in.msg;
			else if (ret == Z_NEED_DICT)
				*error_r = "dictionary requested";
			else
				*error_r = "inflate failed";
			return -1;
		}
		if (used > 0 || made > 0)
			progress = 1;
		else
			break;
	}
	return progress;
}

static void
deflate_run(struct net_deflate *z, struct evbuffer *dst, int flush)
{
	struct evbuffer_iovec out_vec;

	/* zlib's contract: call again while it filled the whole output
	   space; for a flush that is also how it says more is pending. */
	do {
		if (evbuffer_reserve_space(dst, DEFLATE_CHUNK, &out_vec,
					   1) < 1)
			abort();
		z->out.next_out = out_vec.iov_base;
		z->out.avail_out = (uInt)(out_vec.iov_len > DEFLATE_CHUNK ?
					  DEFLATE_CHUNK : out_vec.iov_len);
		out_vec.iov_len = z->out.avail_out;
		/* Z_BUF_ERROR only says no progress was possible (nothing to
		   do); Z_STREAM_ERROR would be our own bug. */
		if (deflate(&z->out, flush) == Z_STREAM_ERROR)
			abort();
		out_vec.iov_len -= z->out.avail_out;
		if (evbuffer_commit_space(dst, &out_vec, 1) < 0)
			abort();
	} while (z->out.avail_out == 0);
}

void
net_deflate_deflate(struct net_deflate *z, struct evbuffer *src,
		    struct evbuffer *dst, bool flush)
{
	struct evbuffer_iovec vec;
	size_t len;

	while (evbuffer_peek(src, -1, NULL, &vec, 1) >= 1 &&
	       vec.iov_len > 0) {
		len = vec.iov_len > UINT32_MAX ? UINT32_MAX : vec.iov_len;
		deflate_out_init(z);
		z->out.next_in = vec.iov_base;
		z->out.avail_in = (uInt)len;
		while (z->out.avail_in > 0)
			deflate_run(z, dst, Z_NO_FLUSH);
		evbuffer_drain(src, len);
		z->out_pending = true;
	}
	if (flush && z->out_pending) {
		deflate_run(z, dst, Z_SYNC_FLUSH);
		z->out_pending = false;
	}
}

bool
net_deflate_pending(const struct net_deflate *z)
{
	return z->out_pending;
}

size_t
net_deflate_memory(const struct net_deflate *z)
{
	return z->memory;
}
