/* libFuzzer target: arbitrary bytes from a peer through the inflating
   side of a COMPRESS=DEFLATE connection (net/net-deflate.h). The first
   input byte sets the reader's buffer limit ((b & 0x3f) * 256 + 1 bytes)
   and the size of the pieces the rest arrives in ((b >> 6) picks 1, 7,
   512 or all at once); the reader drains what it got after each call, as
   a session does. Checks: one call never leaves more than the limit
   buffered, input is only taken while there is room, an error is final,
   and the same bytes give the same plaintext (or the same failure)
   however they are cut. Finally the plaintext goes through our deflater
   (in two bursts, the deflater freed in between) and back, which must
   give it unchanged. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/net-deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Plaintext kept per run: inflating more is not more interesting. */
#define MAX_PLAIN (256 * 1024)

static int
run(const uint8_t *data, size_t size, size_t piece, size_t limit,
    struct evbuffer *plain)
{
	struct net_deflate *z = net_deflate_create();
	struct evbuffer *src = evbuffer_new(), *out = evbuffer_new();
	const char *error;
	size_t off = 0;
	int ret = 0;

	assert(src != NULL && out != NULL);
	while (ret >= 0 && evbuffer_get_length(plain) < MAX_PLAIN) {
		if (off < size) {
			size_t n = size - off < piece ? size - off : piece;

			evbuffer_add(src, data + off, n);
			off += n;
		}
		ret = net_deflate_inflate(z, src, out, limit, &error);
		assert(evbuffer_get_length(out) <= limit);
		if (ret < 0) {
			assert(error != NULL && error[0] != '\0');
			assert(net_deflate_inflate(z, src, out, limit,
						   &error) == -1);
			break;
		}
		if (ret == 0 && off >= size)
			break;
		/* Room was left: everything given was taken. */
		if (evbuffer_get_length(out) < limit)
			assert(evbuffer_get_length(src) == 0);
		evbuffer_add_buffer(plain, out);
	}
	evbuffer_add_buffer(plain, out);
	evbuffer_free(src);
	evbuffer_free(out);
	net_deflate_destroy(&z);
	return ret < 0 ? -1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[] = { 1, 7, 512, SIZE_MAX };
	struct evbuffer *a, *b, *wire, *back;
	size_t limit, piece, len;
	int ret_a, ret_b;

	if (size < 1)
		return 0;
	limit = (size_t)(data[0] & 0x3f) * 256 + 1;
	piece = pieces[data[0] >> 6];
	data++;
	size--;

	a = evbuffer_new();
	b = evbuffer_new();
	ret_a = run(data, size, piece, limit, a);
	ret_b = run(data, size, SIZE_MAX, 65536, b);
	len = evbuffer_get_length(a);
	if (len < MAX_PLAIN && evbuffer_get_length(b) < MAX_PLAIN) {
		assert(ret_a == ret_b);
		/* A failure may come after different amounts of output. */
		if (ret_a == 0) {
			assert(evbuffer_get_length(b) == len);
			assert(memcmp(evbuffer_pullup(a, -1),
				      evbuffer_pullup(b, -1), len) == 0);
		}
	}

	/* Our own deflater, read back by our inflater. */
	if (len > 0) {
		struct net_deflate *z = net_deflate_create();
		struct evbuffer *copy = evbuffer_new();
		const char *error;

		wire = evbuffer_new();
		back = evbuffer_new();
		/* In two bursts with the deflater freed in between, as
		   in IDLE. */
		evbuffer_add(copy, evbuffer_pullup(a, -1), len / 2);
		net_deflate_deflate(z, copy, wire, true);
		net_deflate_release_output(z);
		evbuffer_add(copy, evbuffer_pullup(a, -1) + len / 2,
			     len - len / 2);
		net_deflate_deflate(z, copy, wire, true);
		assert(evbuffer_get_length(copy) == 0);
		assert(net_deflate_inflate(z, wire, back, SIZE_MAX,
					   &error) == 1);
		assert(evbuffer_get_length(back) == len);
		assert(memcmp(evbuffer_pullup(back, -1),
			      evbuffer_pullup(a, -1), len) == 0);
		evbuffer_free(copy);
		evbuffer_free(wire);
		evbuffer_free(back);
		net_deflate_destroy(&z);
	}
	evbuffer_free(a);
	evbuffer_free(b);
	return 0;
}
