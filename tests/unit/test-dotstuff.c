/* Unit tests for src/lib/dotstuff: DATA unstuffing and RETR/TOP stuffing,
   each checked whole, at every split point and a byte at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dotstuff.h"

struct reader_case {
	const char *in;
	const char *out;
	size_t consumed; /* 0: all of in */
	int done;
};

static const struct reader_case reader_cases[] = {
	{ "hello\r\n.\r\n", "hello\r\n", 0, 1 },
	{ "..dot\r\n.\r\n", ".dot\r\n", 0, 1 },
	{ "a\r\n..\r\n.\r\nQUIT\r\n", "a\r\n.\r\n", 10, 1 },
	{ "bare\nlf\n.\r\n", "bare\r\nlf\r\n", 0, 1 },
	{ "bare\nlf\n.\n", "bare\r\nlf\r\n", 0, 1 },
	{ "cr\ronly\r\n.\r\n", "cr\r\nonly\r\n", 0, 1 },
	{ ".\r\n", "", 0, 1 },
	{ "no end yet\r\n", "no end yet\r\n", 0, 0 },
	{ "x\r\n.y\r\n", "x\r\ny\r\n", 0, 0 },
	{ "x\r\n.\rz\r\n.\r\n", "x\r\n\r\nz\r\n", 0, 1 },
	{ "\r\n\r\n.\r\n", "\r\n\r\n", 0, 1 },
	{ "a\r\r\n.\r\n", "a\r\n\r\n", 0, 1 },
};

static void
run_reader(const char *in, size_t len, size_t step, char *out, size_t *out_len,
	   size_t *consumed, int *done)
{
	struct dot_reader r;
	size_t pos = 0, o = 0;

	dot_reader_init(&r);
	while (pos < len && !r.done) {
		size_t n = len - pos < step ? len - pos : step, olen;
		size_t used = dot_reader_feed(&r, (const uint8_t *)in + pos, n,
					      (uint8_t *)out + o, &olen);
		pos += used;
		o += olen;
		if (used < n)
			break;
	}
	*out_len = o;
	*consumed = pos;
	*done = r.done;
}

static void
test_reader(void **state)
{
	char out[256];

	for (size_t i = 0; i < sizeof(reader_cases) / sizeof(reader_cases[0]);
	     i++) {
		const struct reader_case *c = &reader_cases[i];
		size_t len = strlen(c->in);

		for (size_t step = 1; step <= len; step++) {
			size_t olen, consumed;
			int done;

			run_reader(c->in, len, step, out, &olen, &consumed,
				   &done);
			if (olen != strlen(c->out) ||
			    memcmp(out, c->out, olen) != 0 ||
			    done != c->done ||
			    consumed != (c->consumed ? c->consumed : len))
				fail_msg("reader case %zu step %zu: got '%.*s' "
					 "done=%d consumed=%zu",
					 i, step, (int)olen, out, done,
					 consumed);
		}
	}
}

/* The reader's rules one byte at a time, as plainly as they can be
   written: what the block-at-a-time reader must agree with. */
struct ref_reader {
	int state; /* 0 BOL, 1 DOT, 2 DOT_CR, 3 MID, 4 CR */
	bool done;
	uint64_t line_len, max_line;
};

static void
ref_eol(struct ref_reader *r, uint8_t *out, size_t *o)
{
	out[(*o)++] = '\r';
	out[(*o)++] = '\n';
	if (r->line_len > r->max_line)
		r->max_line = r->line_len;
	r->line_len = 0;
	r->state = 0;
}

static size_t
ref_feed(struct ref_reader *r, const uint8_t *in, size_t len, uint8_t *out,
	 size_t *o)
{
	size_t i = 0;

	while (i < len && !r->done) {
		uint8_t c = in[i];

		switch (r->state) {
		case 0:
			if (c == '.') {
				r->state = 1;
				i++;
				continue;
			}
			r->state = 3;
			continue;
		case 1:
			if (c == '\r')
				r->state = 2;
			else if (c == '\n')
				r->done = true;
			else {
				r->state = 3; /* stuffed dot dropped */
				continue;
			}
			i++;
			continue;
		case 2:
			if (c == '\n') {
				r->done = true;
				i++;
			} else {
				ref_eol(r, out, o);
			}
			continue;
		case 3:
			if (c == '\r') {
				r->state = 4;
			} else if (c == '\n') {
				ref_eol(r, out, o);
			} else {
				out[(*o)++] = c;
				r->line_len++;
			}
			i++;
			continue;
		case 4:
			ref_eol(r, out, o);
			if (c == '\n')
				i++;
			continue;
		}
	}
	return i;
}

/* Random messages that are mostly long ordinary lines (the reader's
   block-at-a-time path) with dots, bare CRs and LFs and the terminator
   at random places, fed in random pieces: the reader and the plain rules
   above give the same output, stop at the same byte and see the same
   line lengths. */
static void
test_reader_random(void **state)
{
	static const char specials[] = ".\r\n";
	uint8_t in[2048], out[2 * 2048 + 2], want[2 * 2048 + 2];
	unsigned seed = 12345;

	for (int round = 0; round < 4000; round++) {
		size_t len = 0, target = 64 + (size_t)(rand_r(&seed) % 1900);
		unsigned rare = 1 + (unsigned)(rand_r(&seed) % 400);

		while (len < target) {
			unsigned k = (unsigned)rand_r(&seed);

			if (k % rare == 0)
				in[len++] = (uint8_t)specials[(k >> 8) % 3];
			else if (k % 97 < 2 && len + 2 <= target) {
				in[len++] = '\r';
				in[len++] = '\n';
			} else if (k % 1013 == 0 && len + 5 <= target) {
				memcpy(in + len, "\r\n.\r\n", 5);
				len += 5;
			} else {
				in[len++] = (uint8_t)('a' + (k >> 8) % 26);
			}
		}

		struct ref_reader ref = { 0 };
		size_t want_len = 0;
		size_t want_used = ref_feed(&ref, in, len, want, &want_len);

		struct dot_reader r;
		size_t pos = 0, o = 0;

		dot_reader_init(&r);
		while (pos < len && !r.done) {
			size_t step = 1 + (size_t)(rand_r(&seed) % 700);
			size_t n = len - pos < step ? len - pos : step, olen;

			pos += dot_reader_feed(&r, in + pos, n, out + o, &olen);
			o += olen;
		}
		if (o != want_len || memcmp(out, want, o) != 0 ||
		    pos != want_used || r.done != ref.done ||
		    r.line_len != ref.line_len ||
		    r.max_line != ref.max_line)
			fail_msg("round %d: out %zu/%zu used %zu/%zu done %d/%d "
				 "line %llu/%llu max %llu/%llu", round, o,
				 want_len, pos, want_used, r.done, ref.done,
				 (unsigned long long)r.line_len,
				 (unsigned long long)ref.line_len,
				 (unsigned long long)r.max_line,
				 (unsigned long long)ref.max_line);
	}
}

struct writer_case {
	const char *in;
	long top;
	const char *out;
};

static const struct writer_case writer_cases[] = {
	{ "a: b\r\n\r\nbody\r\n", -1, "a: b\r\n\r\nbody\r\n.\r\n" },
	{ "a: b\r\n\r\n.dot\r\n..\r\n", -1,
	  "a: b\r\n\r\n..dot\r\n...\r\n.\r\n" },
	{ "a: b\r\n\r\nno eol", -1, "a: b\r\n\r\nno eol\r\n.\r\n" },
	{ "a: b\r\n\r\nends cr\r", -1, "a: b\r\n\r\nends cr\r\n.\r\n" },
	{ "", -1, ".\r\n" },
	{ "a: b\r\n\r\n1\r\n2\r\n3\r\n", 0, "a: b\r\n\r\n.\r\n" },
	{ "a: b\r\n\r\n1\r\n2\r\n3\r\n", 2, "a: b\r\n\r\n1\r\n2\r\n.\r\n" },
	{ "a: b\r\n\r\n1\r\n", 5, "a: b\r\n\r\n1\r\n.\r\n" },
	{ "a: b\r\nc: d\r\n", 0, "a: b\r\nc: d\r\n.\r\n" },
	{ "a: b\r\n\r\n\r\n.x\r\ny\r\n", 2, "a: b\r\n\r\n\r\n..x\r\n.\r\n" },
};

static void
test_writer(void **state)
{
	char out[512];

	for (size_t i = 0; i < sizeof(writer_cases) / sizeof(writer_cases[0]);
	     i++) {
		const struct writer_case *c = &writer_cases[i];
		size_t len = strlen(c->in);

		for (size_t step = 1; step <= (len ? len : 1); step++) {
			struct dot_writer w;
			size_t o = 0;

			dot_writer_init(&w, c->top);
			for (size_t pos = 0; pos < len; pos += step) {
				size_t n = len - pos < step ? len - pos : step;
				o += dot_writer_feed(&w,
					(const uint8_t *)c->in + pos, n,
					(uint8_t *)out + o);
			}
			o += dot_writer_finish(&w, (uint8_t *)out + o);
			if (o != strlen(c->out) || memcmp(out, c->out, o) != 0)
				fail_msg("writer case %zu step %zu: got '%.*s'",
					 i, step, (int)o, out);
		}
	}
}

/* What the writer produces, the reader gives back byte for byte. */
static void
test_round_trip(void **state)
{
	const char *msg = "From: a\r\n\r\n.\r\n..\r\n.x\r\nend\r\n";
	size_t len = strlen(msg), o, olen, used;
	uint8_t wire[256], back[512];
	struct dot_writer w;
	struct dot_reader r;

	dot_writer_init(&w, -1);
	o = dot_writer_feed(&w, (const uint8_t *)msg, len, wire);
	o += dot_writer_finish(&w, wire + o);
	dot_reader_init(&r);
	used = dot_reader_feed(&r, wire, o, back, &olen);
	assert_true(r.done);
	assert_int_equal(used, o);
	assert_int_equal(olen, len);
	assert_memory_equal(back, msg, len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_reader_random),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
