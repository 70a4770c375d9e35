/* libFuzzer target: the DATA reader of src/lib/dotstuff.c (what an LMTP
   client sends after 354). The first byte picks a piece size; the rest
   is the stream. Checks what dotstuff.h promises: the output fits
   2 * in + 2 bytes per call, any split of the input gives the same
   output, the same stopping point and the same line lengths, the output
   is CRLF text, and the writer's stuffing of it reads back the same. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dotstuff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	uint8_t *out;
	size_t out_len, used;
	struct dot_reader r;
};

/* Feeds in[0, len) in pieces of step bytes (each copied into its own
   allocation, so reads past a piece are caught). */
static void
read_all(const uint8_t *in, size_t len, size_t step, struct result *res)
{
	res->out = malloc(2 * len + 2);
	assert(res->out != NULL);
	res->out_len = res->used = 0;
	dot_reader_init(&res->r);
	while (res->used < len && !res->r.done) {
		size_t n = len - res->used < step ? len - res->used : step;
		uint8_t *piece = malloc(n);
		size_t olen, used;

		assert(piece != NULL);
		memcpy(piece, in + res->used, n);
		used = dot_reader_feed(&res->r, piece, n,
				       res->out + res->out_len, &olen);
		free(piece);
		assert(used <= n);
		assert(olen <= 2 * used + 2);
		res->used += used;
		res->out_len += olen;
		if (used < n)
			assert(res->r.done);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, split, back;

	if (size < 1)
		return 0;
	size_t step = 1 + data[0] % 97;
	data++;
	size--;

	read_all(data, size, size > 0 ? size : 1, &whole);
	read_all(data, size, step, &split);
	assert(whole.out_len == split.out_len);
	assert(memcmp(whole.out, split.out, whole.out_len) == 0);
	assert(whole.used == split.used);
	assert(whole.r.done == split.r.done);
	assert(whole.r.line_len == split.r.line_len);
	assert(whole.r.max_line == split.r.max_line);

	/* CRLF text: every CR before an LF, every LF after a CR */
	for (size_t i = 0; i < whole.out_len; i++) {
		if (whole.out[i] == '\r')
			assert(i + 1 < whole.out_len &&
			       whole.out[i + 1] == '\n');
		if (whole.out[i] == '\n')
			assert(i > 0 && whole.out[i - 1] == '\r');
	}

	/* stuffed again and read back: the same message */
	if (whole.r.done) {
		struct dot_writer w;
		uint8_t *wire = malloc(2 * whole.out_len + 8);
		size_t o;

		assert(wire != NULL);
		dot_writer_init(&w, -1);
		o = dot_writer_feed(&w, whole.out, whole.out_len, wire);
		o += dot_writer_finish(&w, wire + o);
		read_all(wire, o, step, &back);
		assert(back.r.done && back.used == o);
		assert(back.out_len == whole.out_len);
		assert(memcmp(back.out, whole.out, whole.out_len) == 0);
		free(back.out);
		free(wire);
	}
	free(whole.out);
	free(split.out);
	return 0;
}
