/* The COMPRESS=DEFLATE streams (net/net-deflate.h): round trips through
   our own pair and through zlib as a peer would use it, compressed input
   cut at every offset and fed a byte at a time, the flush that keeps no
   reply in the compressor, the output bound on inflation, corrupt input,
   and what the streams cost in memory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <zlib.h>

#include "lib/limits.h"
#include "net/net-deflate.h"

/* A peer's compressor: zlib with its defaults, raw DEFLATE. */
static size_t
peer_deflate(const void *in, size_t in_len, uint8_t *out, size_t out_size,
	     int flush)
{
	z_stream zs;
	size_t len;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = out;
	zs.avail_out = (uInt)out_size;
	assert_true(deflate(&zs, flush) != Z_STREAM_ERROR);
	assert_int_equal(zs.avail_in, 0);
	assert_true(zs.avail_out > 0);
	len = out_size - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

/* A peer's decompressor for what we send. */
static size_t
peer_inflate(z_stream *zs, const uint8_t *in, size_t in_len, uint8_t *out,
	     size_t out_size)
{
	zs->next_in = (Bytef *)in;
	zs->avail_in = (uInt)in_len;
	zs->next_out = out;
	zs->avail_out = (uInt)out_size;
	int ret = inflate(zs, Z_SYNC_FLUSH);
	assert_true(ret == Z_OK || ret == Z_BUF_ERROR);
	assert_int_equal(zs->avail_in, 0);
	return out_size - zs->avail_out;
}

static uint8_t *
sample_text(size_t len)
{
	uint8_t *p = malloc(len);
	uint32_t x = 12345;

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		/* IMAP-ish lines with some noise. */
		x = x * 1103515245 + 12345;
		if (i % 61 == 60)
			p[i] = '\n';
		else if ((x >> 16) % 5 == 0)
			p[i] = (uint8_t)('a' + (x >> 20) % 26);
		else
			p[i] = (uint8_t)"* 12 FETCH (FLAGS (\\Seen) UID 99)"
				[i % 33];
	}
	return p;
}

static void
evbuffer_take(struct evbuffer *buf, uint8_t **data_r, size_t *len_r)
{
	*len_r = evbuffer_get_length(buf);
	*data_r = malloc(*len_r + 1);
	assert_non_null(*data_r);
	assert_int_equal(evbuffer_remove(buf, *data_r, *len_r), (int)*len_r);
}

/* Our deflater's output, read by a peer's zlib, gives back the input;
   with flush, all of it at once, with nothing held back. */
static void
test_deflate_flush_to_peer(void **state)
{
	static const size_t sizes[] = { 0, 1, 100, 5000, 70000, 300000 };
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	z_stream peer;
	size_t total_in = 0, total_out = 0;

	memset(&peer, 0, sizeof(peer));
	assert_int_equal(inflateInit2(&peer, -15), Z_OK);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *text = sample_text(sizes[i] + 1), *wire, *back;
		size_t wire_len, back_len;

		/* A burst written in pieces, as replies are. */
		for (size_t off = 0; off < sizes[i]; off += 777) {
			size_t n = sizes[i] - off < 777 ? sizes[i] - off : 777;

			evbuffer_add(src, text + off, n);
		}
		net_deflate_deflate(z, src, dst, true);
		assert_int_equal(evbuffer_get_length(src), 0);
		assert_false(net_deflate_pending(z));
		evbuffer_take(dst, &wire, &wire_len);
		if (sizes[i] == 0)
			assert_int_equal(wire_len, 0);
		back = malloc(sizes[i] + 16);
		back_len = peer_inflate(&peer, wire, wire_len, back,
					sizes[i] + 16);
		assert_int_equal(back_len, sizes[i]);
		assert_memory_equal(back, text, sizes[i]);
		total_in += sizes[i];
		total_out += wire_len;
		free(text);
		free(wire);
		free(back);
	}
	/* The reduced window still compresses this text well. */
	assert_true(total_out < total_in / 2);
	inflateEnd(&peer);
	evbuffer_free(src);
	evbuffer_free(dst);
	net_deflate_destroy(&z);
	assert_null(z);
}

/* Without flush zlib may keep data back; a later flush with no new
   input releases it. */
static void
test_deflate_noflush_then_flush(void **state)
{
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	static const char text[] = "a1 OK LIST completed.\r\n";
	uint8_t *wire, back[64];
	size_t wire_len, back_len;
	z_stream peer;

	memset(&peer, 0, sizeof(peer));
	assert_int_equal(inflateInit2(&peer, -15), Z_OK);
	evbuffer_add(src, text, strlen(text));
	net_deflate_deflate(z, src, dst, false);
	assert_true(net_deflate_pending(z));
	net_deflate_deflate(z, src, dst, true);
	assert_false(net_deflate_pending(z));
	evbuffer_take(dst, &wire, &wire_len);
	/* A sync flush ends on the empty stored block 00 00 ff ff. */
	assert_true(wire_len > 4);
	assert_memory_equal(wire + wire_len - 4, "\x00\x00\xff\xff", 4);
	back_len = peer_inflate(&peer, wire, wire_len, back, sizeof(back));
	assert_int_equal(back_len, strlen(text));
	assert_memory_equal(back, text, back_len);
	/* Flushing again with nothing new adds nothing. */
	net_deflate_deflate(z, src, dst, true);
	assert_int_equal(evbuffer_get_length(dst), 0);
	free(wire);
	inflateEnd(&peer);
	evbuffer_free(src);
	evbuffer_free(dst);
	net_deflate_destroy(&z);
}

/* Inflates all of wire fed in pieces of `step` bytes (0: cut once at
   `cut`), returns the plaintext. */
static void
inflate_pieces(const uint8_t *wire, size_t wire_len, size_t step,
	       size_t cut, struct evbuffer *out)
{
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new();
	const char *error;
	size_t off = 0;

	while (off < wire_len) {
		size_t n = step != 0 ? step : (off == 0 ? cut : wire_len - off);

		if (n > wire_len - off)
			n = wire_len - off;
		evbuffer_add(src, wire + off, n);
		off += n;
		assert_true(net_deflate_inflate(z, src, out, SIZE_MAX,
						&error) >= 0);
		/* With room, all input is taken (zlib keeps partial
		   blocks itself). */
		assert_int_equal(evbuffer_get_length(src), 0);
	}
	assert_int_equal(net_deflate_inflate(z, src, out, SIZE_MAX, &error),
			 0);
	evbuffer_free(src);
	net_deflate_destroy(&z);
}

/* Compressed commands from a peer cut at every offset and fed a byte at
   a time give the same plaintext. */
static void
test_inflate_split_anywhere(void **state)
{
	static const char cmds[] =
		"a1 LOGIN alice secret\r\n"
		"a2 SELECT INBOX\r\n"
		"a3 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\n"
		"a4 APPEND INBOX {5}\r\nhello\r\n"
		"a5 IDLE\r\nDONE\r\n";
	uint8_t wire[512];
	size_t wire_len = peer_deflate(cmds, strlen(cmds), wire, sizeof(wire),
				       Z_SYNC_FLUSH);
	struct evbuffer *out = evbuffer_new();
	uint8_t *plain;
	size_t plain_len;

	for (size_t cut = 0; cut <= wire_len; cut++) {
		inflate_pieces(wire, wire_len, 0, cut == 0 ? wire_len : cut,
			       out);
		evbuffer_take(out, &plain, &plain_len);
		assert_int_equal(plain_len, strlen(cmds));
		assert_memory_equal(plain, cmds, plain_len);
		free(plain);
	}
	inflate_pieces(wire, wire_len, 1, 0, out);
	evbuffer_take(out, &plain, &plain_len);
	assert_int_equal(plain_len, strlen(cmds));
	assert_memory_equal(plain, cmds, plain_len);
	free(plain);
	evbuffer_free(out);
}

/* Our pair end to end, many bursts: the stream stays in step. */
static void
test_round_trip_pair(void **state)
{
	struct net_deflate *a = net_deflate_create();
	struct net_deflate *b = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *wire = evbuffer_new(),
		*out = evbuffer_new();
	uint8_t *text = sample_text(200000), *plain;
	size_t plain_len, total = 0;
	const char *error;

	for (size_t off = 0, n = 1; off < 200000; off += n, n = n * 3 + 1) {
		if (n > 200000 - off)
			n = 200000 - off;
		evbuffer_add(src, text + off, n);
		net_deflate_deflate(a, src, wire, (n & 1) != 0);
		total += n;
	}
	net_deflate_deflate(a, src, wire, true);
	assert_int_equal(net_deflate_inflate(b, wire, out, SIZE_MAX, &error),
			 1);
	evbuffer_take(out, &plain, &plain_len);
	assert_int_equal(plain_len, total);
	assert_memory_equal(plain, text, total);
	free(plain);
	free(text);
	evbuffer_free(src);
	evbuffer_free(wire);
	evbuffer_free(out);
	net_deflate_destroy(&a);
	net_deflate_destroy(&b);
}

/* A megabyte of zeros is about a kilobyte compressed: inflating never
   goes past the limit, and goes on when the reader took some. */
static void
test_inflate_limit(void **state)
{
	size_t big = 1024 * 1024, limit = 16384, got = 0;
	uint8_t *zeros = calloc(1, big), *wire = malloc(big);
	size_t wire_len = peer_deflate(zeros, big, wire, big, Z_SYNC_FLUSH);
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *out = evbuffer_new();
	const char *error;
	int ret;

	assert_true(wire_len < 4096);
	evbuffer_add(src, wire, wire_len);
	for (unsigned rounds = 0; rounds < 1000; rounds++) {
		ret = net_deflate_inflate(z, src, out, limit, &error);
		assert_true(ret >= 0);
		assert_true(evbuffer_get_length(out) <= limit);
		if (ret == 0 && evbuffer_get_length(out) == 0)
			break;
		/* A full buffer: nothing moves until the reader takes. */
		if (evbuffer_get_length(out) == limit)
			assert_int_equal(net_deflate_inflate(z, src, out,
							     limit, &error), 0);
		got += evbuffer_get_length(out);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	assert_int_equal(got, big);
	free(zeros);
	free(wire);
	evbuffer_free(src);
	evbuffer_free(out);
	net_deflate_destroy(&z);
}

/* Small reader buffers: zlib can stop with the output space full after
   it took the last input bytes but before it wrote the whole of a long
   match; the rest must still come out with no new input. */
static void
test_inflate_small_limits(void **state)
{
	static const size_t limits[] = { 1, 7, 100, 7425, 16384 };
	size_t big = 300000;
	uint8_t *text = sample_text(big), *wire = malloc(big + 1024);
	uint8_t *zeros = calloc(1, big);

	for (int kind = 0; kind < 2; kind++) {
		const uint8_t *plain = kind == 0 ? zeros : text;
		size_t wire_len = peer_deflate(plain, big, wire, big + 1024,
					       Z_SYNC_FLUSH);

		for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]);
		     i++) {
			struct net_deflate *z = net_deflate_create();
			struct evbuffer *src = evbuffer_new(),
				*out = evbuffer_new(), *all = evbuffer_new();
			const char *error;
			size_t off = 0;
			int ret;

			for (;;) {
				if (off < wire_len) {
					size_t n = wire_len - off < 512 ?
						wire_len - off : 512;

					evbuffer_add(src, wire + off, n);
					off += n;
				}
				ret = net_deflate_inflate(z, src, out,
							  limits[i], &error);
				assert_true(ret >= 0);
				assert_true(evbuffer_get_length(out) <=
					    limits[i]);
				if (ret == 0 && off == wire_len)
					break;
				evbuffer_add_buffer(all, out);
			}
			assert_int_equal(evbuffer_get_length(all), big);
			assert_memory_equal(evbuffer_pullup(all, -1), plain,
					    big);
			evbuffer_free(src);
			evbuffer_free(out);
			evbuffer_free(all);
			net_deflate_destroy(&z);
		}
	}
	free(text);
	free(wire);
	free(zeros);
}

/* Found by the fuzzer: 81 bytes making 67599, where zlib took the last
   input byte before it had written all of a match into a 7425-byte
   buffer; the rest came out only once more input arrived. */
static void
test_inflate_pending_without_input(void **state)
{
	uint8_t wire[81], *expect;
	size_t expect_len;
	struct net_deflate *z;
	struct evbuffer *src = evbuffer_new(), *out = evbuffer_new(),
		*all = evbuffer_new();
	const char *error;
	int ret;

	memset(wire, 0, sizeof(wire));
	memcpy(wire, "\xed\xc1\x31\x01\x00\x00\x00\xc2\xa0\xf5\x4f\x6d"
	       "\x0d\x0f\xa0", 15);
	wire[80] = 0x03;
	/* All at once with room for all of it. */
	z = net_deflate_create();
	evbuffer_add(src, wire, sizeof(wire));
	assert_int_equal(net_deflate_inflate(z, src, out, SIZE_MAX, &error),
			 1);
	evbuffer_take(out, &expect, &expect_len);
	assert_int_equal(expect_len, 67599);
	net_deflate_destroy(&z);
	/* Through a 7425-byte buffer, drained after each call. */
	z = net_deflate_create();
	evbuffer_add(src, wire, sizeof(wire));
	while ((ret = net_deflate_inflate(z, src, out, 7425, &error)) > 0)
		evbuffer_add_buffer(all, out);
	assert_int_equal(ret, 0);
	assert_int_equal(evbuffer_get_length(all), expect_len);
	assert_memory_equal(evbuffer_pullup(all, -1), expect, expect_len);
	free(expect);
	evbuffer_free(src);
	evbuffer_free(out);
	evbuffer_free(all);
	net_deflate_destroy(&z);
}

static const struct {
	const char *name;
	const uint8_t *data;
	size_t len;
} corrupt_cases[] = {
	/* Block type 3 is reserved (RFC 1951 3.2.3). */
	{ "reserved block type", (const uint8_t *)"\x07\x00", 2 },
	/* A stored block whose LEN and NLEN disagree. */
	{ "stored length", (const uint8_t *)"\x00\x05\x00\x00\x00", 5 },
	{ "text", (const uint8_t *)"a1 NOOP\r\n", 9 },
};

static void
test_inflate_corrupt(void **state)
{
	for (size_t i = 0; i < sizeof(corrupt_cases) /
	     sizeof(corrupt_cases[0]); i++) {
		struct net_deflate *z = net_deflate_create();
		struct evbuffer *src = evbuffer_new(), *out = evbuffer_new();
		const char *error = NULL;

		evbuffer_add(src, corrupt_cases[i].data, corrupt_cases[i].len);
		if (net_deflate_inflate(z, src, out, SIZE_MAX, &error) != -1)
			fail_msg("%s: not refused", corrupt_cases[i].name);
		assert_non_null(error);
		/* Sticky, even with no new input. */
		error = NULL;
		evbuffer_drain(src, evbuffer_get_length(src));
		assert_int_equal(net_deflate_inflate(z, src, out, SIZE_MAX,
						     &error), -1);
		assert_non_null(error);
		evbuffer_free(src);
		evbuffer_free(out);
		net_deflate_destroy(&z);
	}
}

/* A peer that finished its stream (Z_FINISH) may close; sending more
   after the final block is an error. */
static void
test_inflate_after_end(void **state)
{
	uint8_t wire[128];
	size_t wire_len = peer_deflate("a1 LOGOUT\r\n", 11, wire,
				       sizeof(wire), Z_FINISH);
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *out = evbuffer_new();
	const char *error;

	evbuffer_add(src, wire, wire_len);
	assert_int_equal(net_deflate_inflate(z, src, out, SIZE_MAX, &error),
			 1);
	assert_int_equal(evbuffer_get_length(out), 11);
	assert_int_equal(net_deflate_inflate(z, src, out, SIZE_MAX, &error),
			 0);
	evbuffer_add(src, wire, wire_len);
	assert_int_equal(net_deflate_inflate(z, src, out, SIZE_MAX, &error),
			 -1);
	evbuffer_free(src);
	evbuffer_free(out);
	net_deflate_destroy(&z);
}

/* Freeing the deflater between bursts: the peer reads on as one stream,
   and the memory goes down to the inflater's. */
static void
test_release_output(void **state)
{
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	uint8_t *text = sample_text(20000), *wire, back[20000];
	size_t wire_len, back_len, with, without;
	z_stream peer;

	memset(&peer, 0, sizeof(peer));
	assert_int_equal(inflateInit2(&peer, -15), Z_OK);
	without = net_deflate_memory(z);
	for (int round = 0; round < 6; round++) {
		size_t len = 1000 + (size_t)round * 3000;

		evbuffer_add(src, text, len);
		/* Held back (no flush): not freed. */
		net_deflate_deflate(z, src, dst, false);
		with = net_deflate_memory(z);
		net_deflate_release_output(z);
		assert_int_equal(net_deflate_memory(z), with);
		net_deflate_deflate(z, src, dst, true);
		net_deflate_release_output(z);
		assert_true(net_deflate_memory(z) < with);
		if (round == 0)
			assert_int_equal(net_deflate_memory(z), without);
		/* Twice is harmless. */
		net_deflate_release_output(z);
		evbuffer_take(dst, &wire, &wire_len);
		back_len = peer_inflate(&peer, wire, wire_len, back,
					sizeof(back));
		assert_int_equal(back_len, len);
		assert_memory_equal(back, text, len);
		free(wire);
	}
	free(text);
	inflateEnd(&peer);
	evbuffer_free(src);
	evbuffer_free(dst);
	net_deflate_destroy(&z);
}

/* What a compressed session costs: printed for the docs, bounded here
   so a change of the settings is noticed. */
static void
test_memory(void **state)
{
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *wire = evbuffer_new(),
		*out = evbuffer_new();
	uint8_t *text = sample_text(100000);
	size_t at_start = net_deflate_memory(z), in_use;
	const char *error;

	evbuffer_add(src, text, 100000);
	net_deflate_deflate(z, src, wire, true);
	/* The deflater is made on first output, the inflater's window on
	   first input. */
	assert_int_equal(net_deflate_inflate(z, wire, out, SIZE_MAX, &error),
			 1);
	assert_int_equal(evbuffer_get_length(out), 100000);
	in_use = net_deflate_memory(z);
	print_message("net-deflate memory: %zu bytes at start, %zu in use\n",
		      at_start, in_use);
	assert_true(at_start > 0 && at_start <= in_use);
	/* Deflate 2^(w+2) + 2^(m+9) plus state, inflate 32 KiB window plus
	   state. */
	assert_true(in_use < (size_t)(1 << (NET_DEFLATE_WINDOW_BITS + 2)) +
		    (1 << (NET_DEFLATE_MEM_LEVEL + 9)) + 32768 + 24576);
	free(text);
	evbuffer_free(src);
	evbuffer_free(wire);
	evbuffer_free(out);
	net_deflate_destroy(&z);
	net_deflate_destroy(&z);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deflate_flush_to_peer),
		cmocka_unit_test(test_deflate_noflush_then_flush),
		cmocka_unit_test(test_inflate_split_anywhere),
		cmocka_unit_test(test_round_trip_pair),
		cmocka_unit_test(test_inflate_limit),
		cmocka_unit_test(test_inflate_small_limits),
		cmocka_unit_test(test_inflate_pending_without_input),
		cmocka_unit_test(test_inflate_corrupt),
		cmocka_unit_test(test_inflate_after_end),
		cmocka_unit_test(test_release_output),
		cmocka_unit_test(test_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
