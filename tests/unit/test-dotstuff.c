/* Unit tests for src/lib/dotstuff: DATA unstuffing and RETR/TOP stuffing,
   each checked whole, at every split point and a byte at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
