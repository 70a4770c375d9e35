/* Unit tests for src/lib/mutf7: modified UTF-7 both ways and UTF-8
   validity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/mutf7.h"

/* Pairs that convert both ways. */
static const struct {
	const char *mutf7;
	const char *utf8;
} pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "&-", "&" },
	{ "a&-b&-", "a&b&" },
	{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
	{ "&AOQ-&-", "\xc3\xa4&" },
	{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	/* RFC 3501 5.1.3's example. */
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	  "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	/* U+1F600, a surrogate pair. */
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },
	/* A control character is not printable: encoded. */
	{ "a&AAE-b", "a\x01" "b" },
	{ "&AH8-", "\x7f" },
	/* Printable ASCII stays direct between two encoded runs. */
	{ "&AOQ-a&AOQ-", "\xc3\xa4" "a" "\xc3\xa4" },
};

static void
test_mutf7_pairs(void **state)
{
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *out;
		size_t out_len;
		const char *error = NULL;
		const char *m = pairs[i].mutf7, *u = pairs[i].utf8;

		if (mutf7_to_utf8((const uint8_t *)m, strlen(m), &out,
				  &out_len, &error) != 0)
			fail_msg("%s: %s", m, error);
		assert_string_equal(out, u);
		assert_int_equal(out_len, strlen(u));
		free(out);

		if (utf8_to_mutf7((const uint8_t *)u, strlen(u), &out,
				  &out_len, &error) != 0)
			fail_msg("%s: %s", u, error);
		assert_string_equal(out, m);
		assert_int_equal(out_len, strlen(m));
		free(out);

		assert_true(mutf7_is_valid((const uint8_t *)m, strlen(m)));
		assert_true(utf8_is_valid((const uint8_t *)u, strlen(u)));
	}
}

static void
test_mutf7_invalid(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *error;
	} cases[] = {
		{ "&", 1, "Unterminated BASE64 section" },
		{ "a&AOQ", 5, "Unterminated BASE64 section" },
		{ "&AGE-", 5, "Printable ASCII encoded in BASE64" },
		{ "&ACY-", 5, "Printable ASCII encoded in BASE64" },
		{ "&AOQ-&AOQ-", 10, "Null shift in modified UTF-7" },
		{ "&AOR-", 5, "Invalid modified BASE64 padding" },
		{ "&AOQA-", 6, "Invalid modified BASE64 padding" },
		{ "&A-", 3, "Invalid modified BASE64 padding" },
		{ "&2D0-", 5, "Unpaired UTF-16 surrogate" },
		{ "&2D0AOQ-", 8, "Unpaired UTF-16 surrogate" },
		{ "&3gA-", 5, "Unpaired UTF-16 surrogate" },
		{ "&AAA-", 5, "NUL in mailbox name" },
		{ "&A*Q-", 5, "Invalid modified BASE64 character" },
		{ "&AO/-", 5, "Invalid modified BASE64 character" },
		{ "a\x80", 2, "Invalid character in modified UTF-7" },
		{ "a\tb", 3, "Invalid character in modified UTF-7" },
		{ "a\0b", 3, "Invalid character in modified UTF-7" },
		{ "\xc3\xa4", 2, "Invalid character in modified UTF-7" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		size_t out_len;
		const char *error = NULL;

		if (mutf7_to_utf8((const uint8_t *)cases[i].in, cases[i].len,
				  &out, &out_len, &error) != -1)
			fail_msg("%s: accepted", cases[i].in);
		assert_string_equal(error, cases[i].error);
		assert_false(mutf7_is_valid((const uint8_t *)cases[i].in,
					    cases[i].len));
	}
}

static void
test_utf8_valid(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		bool valid;
	} cases[] = {
		{ "", 0, true },
		{ "abc", 3, true },
		{ "a\0b", 3, true },
		{ "\xe2\x82\xac", 3, true },
		{ "\xf0\x9f\x98\x80", 4, true },
		{ "\xf4\x8f\xbf\xbf", 4, true },
		{ "\xc2\x80", 2, true },
		{ "\xef\xbf\xbf", 3, true },
		{ "\xc0\xaf", 2, false },
		{ "\xc1\xbf", 2, false },
		{ "\xe0\x80\xaf", 3, false },
		{ "\xf0\x80\x80\xaf", 4, false },
		{ "\xed\xa0\x80", 3, false },
		{ "\xed\xbf\xbf", 3, false },
		{ "\xf4\x90\x80\x80", 4, false },
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xe2\x82", 2, false },
		{ "\x80", 1, false },
		{ "a\xbf", 2, false },
		{ "\xff", 1, false },
		{ "\xc3\x28", 2, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (utf8_is_valid((const uint8_t *)cases[i].in, cases[i].len) !=
		    cases[i].valid)
			fail_msg("case %zu", i);
	}
}

static void
test_utf8_to_mutf7_invalid(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *error;
	} cases[] = {
		{ "\xff", 1, "Invalid UTF-8" },
		{ "a\xc3", 2, "Invalid UTF-8" },
		{ "\xed\xa0\x80", 3, "Invalid UTF-8" },
		{ "a\0b", 3, "NUL in mailbox name" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		size_t out_len;
		const char *error = NULL;

		assert_int_equal(utf8_to_mutf7((const uint8_t *)cases[i].in,
					       cases[i].len, &out, &out_len,
					       &error), -1);
		assert_string_equal(error, cases[i].error);
	}
}

/* Random code points: UTF-8 -> mUTF-7 -> UTF-8 gives the same bytes. */
static void
test_mutf7_roundtrip(void **state)
{
	srand(42);
	for (int round = 0; round < 2000; round++) {
		uint8_t in[64];
		size_t len = 0;
		int n = rand() % 12;

		for (int i = 0; i < n; i++) {
			uint32_t cp;
			switch (rand() % 4) {
			case 0:
				cp = 1 + (uint32_t)(rand() % 0x7f);
				break;
			case 1:
				cp = 0x80 + (uint32_t)(rand() % 0x780);
				break;
			case 2:
				cp = 0x800 + (uint32_t)(rand() % 0xf800);
				if (cp >= 0xd800 && cp <= 0xdfff)
					cp = '&';
				break;
			default:
				cp = 0x10000 + (uint32_t)(rand() % 0x100000);
				break;
			}
			if (cp < 0x80) {
				in[len++] = (uint8_t)cp;
			} else if (cp < 0x800) {
				in[len++] = (uint8_t)(0xc0 | (cp >> 6));
				in[len++] = (uint8_t)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				in[len++] = (uint8_t)(0xe0 | (cp >> 12));
				in[len++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
				in[len++] = (uint8_t)(0x80 | (cp & 0x3f));
			} else {
				in[len++] = (uint8_t)(0xf0 | (cp >> 18));
				in[len++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
				in[len++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
				in[len++] = (uint8_t)(0x80 | (cp & 0x3f));
			}
		}
		assert_true(utf8_is_valid(in, len));
		char *m, *u;
		size_t mlen, ulen;
		const char *error;
		assert_int_equal(utf8_to_mutf7(in, len, &m, &mlen, &error), 0);
		if (mutf7_to_utf8((const uint8_t *)m, mlen, &u, &ulen,
				  &error) != 0)
			fail_msg("round %d: %s: %s", round, m, error);
		assert_int_equal(ulen, len);
		assert_memory_equal(u, in, len);
		free(m);
		free(u);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutf7_pairs),
		cmocka_unit_test(test_mutf7_invalid),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_to_mutf7_invalid),
		cmocka_unit_test(test_mutf7_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
