/* Unit tests for src/lib: number parsing, config loading, log sanitising. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/objectid.h"
#include "lib/strnum.h"
#include "lib/u64sort.h"

static void
test_str_to_u64(void **state)
{
	static const struct {
		const char *in;
		uint64_t max;
		int ret;
		uint64_t val;
	} cases[] = {
		{ "0", 10, 0, 0 },
		{ "10", 10, 0, 10 },
		{ "11", 10, -1, 0 },
		{ "9", 5, -1, 0 },
		{ "19", 5, -1, 0 },
		{ "5", 5, 0, 5 },
		{ "1", 0, -1, 0 },
		{ "", 10, -1, 0 },
		{ "+1", 10, -1, 0 },
		{ "-1", 10, -1, 0 },
		{ " 1", 10, -1, 0 },
		{ "1 ", 10, -1, 0 },
		{ "1a", 10, -1, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, -1, 0 },
		{ "99999999999999999999999", UINT64_MAX, -1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int ret = str_to_u64z(cases[i].in, cases[i].max, &v);
		assert_int_equal(ret, cases[i].ret);
		if (ret == 0)
			assert_true(v == cases[i].val);
		else
			assert_true(v == 12345);
	}
}

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/quire-test-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_config_defaults(void **state)
{
	struct quire_config cfg;
	char *err;

	config_init_defaults(&cfg);
	assert_int_equal(config_load(&cfg, NULL, NULL, 0, &err), 0);
	assert_string_equal(cfg.data_dir, "./var");
	assert_string_equal(cfg.passwd_file, "./var/passwd");
	assert_int_equal(cfg.pop3_listen.count, 1);
	assert_string_equal(cfg.pop3_listen.addr[0], "127.0.0.1:1110");
	assert_int_equal(cfg.pop3_expire_days, -1);
	assert_int_equal(cfg.allow_plaintext, CONFIG_PLAINTEXT_LOOPBACK);
	assert_true(cfg.store_exclusive);
	config_free(&cfg);
}

static void
test_config_file(void **state)
{
	struct quire_config cfg;
	char *err;
	char *path = write_tmp("[server]\n"
			       "data_dir = /srv/mail ; comment\n"
			       "workers = 4\n"
			       "store_locking = shared\n"
			       "[pop3]\n"
			       "listen = 127.0.0.1:110, [::1]:110\n"
			       "expire_days = 30\n"
			       "[lmtp]\n"
			       "listen = unix:/run/quire/lmtp\n"
			       "max_message_size = 10M\n");
	const char *ov[] = { "auth.allow_plaintext=never" };

	config_init_defaults(&cfg);
	assert_int_equal(config_load(&cfg, path, ov, 1, &err), 0);
	assert_string_equal(cfg.data_dir, "/srv/mail");
	assert_string_equal(cfg.passwd_file, "/srv/mail/passwd");
	assert_int_equal(cfg.workers, 4);
	assert_false(cfg.store_exclusive);
	assert_int_equal(cfg.pop3_listen.count, 2);
	assert_string_equal(cfg.pop3_listen.addr[1], "[::1]:110");
	assert_int_equal(cfg.pop3_expire_days, 30);
	assert_string_equal(cfg.lmtp_listen.addr[0], "unix:/run/quire/lmtp");
	assert_true(cfg.lmtp_max_message_size == 10 * 1024 * 1024);
	assert_int_equal(cfg.allow_plaintext, CONFIG_PLAINTEXT_NEVER);
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void
test_config_errors(void **state)
{
	static const struct {
		const char *text;
		const char *expect; /* substring of the error */
	} cases[] = {
		{ "[server]\nbogus = 1\n", ":2: unknown key 'bogus'" },
		{ "[nope]\nkey = 1\n", "unknown key 'key' in section [nope]" },
		{ "[pop3]\nlisten = 127.0.0.1:99999\n", ":2: [pop3] listen" },
		{ "[pop3]\nlisten = nohost\n", "expected host:port" },
		{ "[server]\nworkers = -1\n", "workers" },
		{ "[pop3]\nexpire_days = soon\n", "'never'" },
		{ "[auth]\nallow_plaintext = yes\n", "never, loopback" },
		{ "[server]\nstore_locking = yes\n", "exclusive or shared" },
		{ "[server]\n\nthis is not ini\n", ":3: syntax error" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct quire_config cfg;
		char *err = NULL;
		char *path = write_tmp(cases[i].text);

		config_init_defaults(&cfg);
		assert_int_equal(config_load(&cfg, path, NULL, 0, &err), -1);
		assert_non_null(err);
		if (strstr(err, cases[i].expect) == NULL ||
		    strstr(err, path) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
		free(err);
		config_free(&cfg);
		unlink(path);
		free(path);
	}
}

static void
test_config_override_errors(void **state)
{
	struct quire_config cfg;
	char *err = NULL;
	const char *ov[] = { "pop3listen=1" };

	config_init_defaults(&cfg);
	assert_int_equal(config_load(&cfg, NULL, ov, 1, &err), -1);
	assert_non_null(strstr(err, "section.key=value"));
	free(err);
	config_free(&cfg);
}

static void
test_log_sanitize(void **state)
{
	char out[8];

	assert_string_equal(log_sanitize("ab\r\n\x01", 5, out, sizeof(out)),
			    "ab???");
	assert_string_equal(log_sanitize("abcdefghijk", 11, out, sizeof(out)),
			    "abcd...");
	assert_string_equal(log_sanitize("\xff", 1, out, sizeof(out)), "?");
}

/* RFC 8474 object ids: clients store them, so the values are pinned;
   distinct numbers give distinct ids of the objectid grammar. */
static int
cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, OBJECTID_SIZE);
}

static void
test_objectid(void **state)
{
	static const struct {
		uint64_t n;
		uint32_t uidvalidity;
		const char *email, *mailbox;
	} golden[] = {
		{ 0, 0, "M849f552d1812c1e3", "F3c7da132cac91caa65b04591" },
		{ 1, 1764150000, "M5549cf96b0b362ec",
		  "Fd1d362866345a522fc74ebf9" },
		{ 2, 1764150001, "M05231c80343dd3df",
		  "F53da2c0b243f21db1de897b9" },
		{ UINT64_MAX, UINT32_MAX, "Maf4a9baab858f931",
		  "F7a9ba275536e6b14f0592142" },
	};
	enum { N = 4096 };
	char (*ids)[OBJECTID_SIZE] = calloc(3 * N, OBJECTID_SIZE);
	char id[OBJECTID_SIZE];

	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		objectid_email(golden[i].n, id);
		assert_string_equal(id, golden[i].email);
		objectid_mailbox(golden[i].n, golden[i].uidvalidity, id);
		assert_string_equal(id, golden[i].mailbox);
	}
	assert_non_null(ids);
	/* Emails; mailboxes with the same UIDVALIDITY; and the same row id
	   with UIDVALIDITYs one apart (a user created again). */
	for (unsigned i = 0; i < N; i++) {
		objectid_email(i, ids[i]);
		objectid_mailbox(i, 1764150000, ids[N + i]);
		objectid_mailbox(1, 1764150000 + i + 1, ids[2 * N + i]);
	}
	for (unsigned i = 0; i < 3 * N; i++) {
		size_t want = i < N ? OBJECTID_EMAIL_LEN :
			OBJECTID_MAILBOX_LEN;

		assert_int_equal(strlen(ids[i]), want);
		assert_int_equal(strspn(ids[i], "MF0123456789abcdef"), want);
	}
	qsort(ids, 3 * N, OBJECTID_SIZE, cmp_ids);
	for (unsigned i = 1; i < 3 * N; i++)
		assert_true(memcmp(ids[i - 1], ids[i], OBJECTID_SIZE) != 0);
	free(ids);
	(void)state;
}

/* buf_append_u64() writes what printf("%" PRIu64) does, at every digit
   count and around every power of ten. */
static void
test_buf_append_u64(void **state)
{
	(void)state;
	struct buf b;
	char want[32];
	uint64_t p = 1;

	buf_init(&b, 0);
	for (unsigned k = 0; k < 20; k++, p *= 10) {
		const uint64_t vals[] = { p - 1, p, p + 1, p * 3 + 7 };

		for (unsigned v = 0; v < 4; v++) {
			buf_reset(&b);
			buf_append_u64(&b, vals[v]);
			snprintf(want, sizeof(want), "%llu",
				 (unsigned long long)vals[v]);
			assert_int_equal(b.len, strlen(want));
			assert_memory_equal(b.data, want, b.len);
		}
	}
	buf_reset(&b);
	buf_append_u64(&b, UINT64_MAX);
	assert_int_equal(b.len, 20);
	assert_memory_equal(b.data, "18446744073709551615", 20);
	buf_free(&b);
}

static int
cmp_u64_ref(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* u64_sort() agrees with qsort() on random ids, on ids whose high bytes
   are all alike (passes skipped), with duplicates, at every size around
   the insertion-sort cut; u64_sorted_has() finds exactly what is
   there. */
static void
test_u64_sort(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 2, 3, 63, 64, 65, 1000, 100000 };
	uint64_t seed = 88172645463325252ULL;

	for (unsigned kind = 0; kind < 3; kind++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			size_t n = sizes[s];
			uint64_t *a = calloc(n + 1, sizeof(*a));
			uint64_t *b = calloc(n + 1, sizeof(*b));

			for (size_t i = 0; i < n; i++) {
				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				a[i] = kind == 0 ? seed :
				       kind == 1 ? (UINT64_C(3) << 56) |
							   (seed & 0xffffff) :
						   seed % 50;
			}
			memcpy(b, a, n * sizeof(*a));
			u64_sort(a, n);
			qsort(b, n, sizeof(*b), cmp_u64_ref);
			assert_memory_equal(a, b, n * sizeof(*a));
			for (size_t i = 0; i < n; i += 1 + n / 50) {
				assert_true(u64_sorted_has(a, n, b[i]));
				uint64_t x = b[i] + 1;
				bool there = false;
				for (size_t j = 0; j < n; j++)
					there = there || b[j] == x;
				assert_int_equal(u64_sorted_has(a, n, x),
						 there);
			}
			assert_false(u64_sorted_has(a, n, UINT64_MAX));
			free(a);
			free(b);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_to_u64),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_override_errors),
		cmocka_unit_test(test_log_sanitize),
		cmocka_unit_test(test_objectid),
		cmocka_unit_test(test_u64_sort),
		cmocka_unit_test(test_buf_append_u64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
