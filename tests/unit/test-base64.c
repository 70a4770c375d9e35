/* Unit tests for src/lib/base64: RFC 4648 vectors and strict decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"

/* RFC 4648 section 10. */
static const struct {
	const char *plain;
	const char *encoded;
} rfc_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_encode_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]);
	     i++) {
		const char *plain = rfc_vectors[i].plain;
		char out[32];

		assert_int_equal(base64_encoded_len(strlen(plain)),
				 strlen(rfc_vectors[i].encoded));
		base64_encode(plain, strlen(plain), out);
		assert_string_equal(out, rfc_vectors[i].encoded);

		char *alloc = base64_encode_alloc(plain, strlen(plain));
		assert_string_equal(alloc, rfc_vectors[i].encoded);
		free(alloc);
	}
}

static void
test_decode_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]);
	     i++) {
		const char *enc = rfc_vectors[i].encoded;
		uint8_t out[32];
		size_t len = 999;

		assert_true(base64_decoded_max_len(strlen(enc)) <= sizeof(out));
		assert_int_equal(base64_decode(enc, strlen(enc), out, &len), 0);
		assert_int_equal(len, strlen(rfc_vectors[i].plain));
		assert_memory_equal(out, rfc_vectors[i].plain, len);
	}
}

static void
test_decode_strict(void **state)
{
	static const struct {
		const char *in;
		size_t len; /* 0: strlen(in) */
		const char *why;
	} bad[] = {
		{ "Zg=", 0, "length not a multiple of 4" },
		{ "Zg", 0, "missing padding" },
		{ "Zm9vY", 0, "stray character" },
		{ "Z===", 0, "three pad characters" },
		{ "====", 0, "only padding" },
		{ "Zg==Zg==", 0, "padding in the middle" },
		{ "Z=g=", 0, "data after padding" },
		{ "Zg=A", 0, "data after padding" },
		{ "=AAA", 0, "padding first" },
		{ "Zh==", 0, "non-zero unused bits (1 byte)" },
		{ "Zm9=", 0, "non-zero unused bits (2 bytes)" },
		{ "Zm9v\n", 0, "line break" },
		{ "Zm9v\r\n", 0, "CRLF" },
		{ "Zm 9", 0, "space" },
		{ "-_8=", 0, "URL-safe alphabet" },
		{ "Zm9\0", 4, "NUL byte" },
		{ "Zm9\xc3", 0, "non-ASCII" },
		{ "Zm9v====", 0, "padding group after full group" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].in);
		uint8_t out[16];
		size_t out_len = 12345;

		if (base64_decode(bad[i].in, len, out, &out_len) != -1)
			fail_msg("accepted: %s", bad[i].why);
		assert_int_equal(out_len, 12345);
	}
}

static void
test_round_trip(void **state)
{
	uint8_t data[300], out[300];
	char enc[420];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	/* Every length 0..300, so each tail length and all byte values. */
	for (size_t len = 0; len <= sizeof(data); len++) {
		size_t out_len;

		base64_encode(data, len, enc);
		assert_int_equal(strlen(enc), base64_encoded_len(len));
		assert_true(base64_decoded_max_len(strlen(enc)) >= len);
		assert_true(base64_decoded_max_len(strlen(enc)) - len < 3);
		assert_int_equal(base64_decode(enc, strlen(enc), out,
					       &out_len), 0);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, data, len);
	}
}

static void
test_decoded_max_len(void **state)
{
	assert_int_equal(base64_decoded_max_len(0), 0);
	assert_int_equal(base64_decoded_max_len(4), 3);
	assert_int_equal(base64_decoded_max_len(8), 6);
	/* An invalid length is refused by decode; the bound stays safe. */
	assert_int_equal(base64_decoded_max_len(7), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_vectors),
		cmocka_unit_test(test_decode_vectors),
		cmocka_unit_test(test_decode_strict),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decoded_max_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
