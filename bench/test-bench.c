/* Tests of quire-bench's pure parts: the multi-line body scanner (table,
   split anywhere, byte at a time) and the generated corpus (deterministic,
   valid DATA form, sizes). */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench.h"
#include "bench-large.h"
#include "bench-msg.h"

struct scan_case {
	const char *name;
	const char *in;
	bool done;		/* the terminator is in `in` */
	size_t used;		/* bytes up to and including it */
};

static const struct scan_case scan_cases[] = {
	{ "empty body", ".\r\n", true, 3 },
	{ "one line", "abc\r\n.\r\n", true, 8 },
	{ "bytes after the end stay", "a\r\n.\r\n+OK next\r\n", true, 6 },
	{ "stuffed dot line", "..\r\n.\r\n", true, 7 },
	{ "stuffed text", "..x\r\n.y\r\n.\r\n", true, 12 },
	{ "dot inside a line", "a.\r\nb.\r\n.\r\n", true, 11 },
	{ "blank lines", "\r\n\r\n.\r\n", true, 7 },
	{ "not yet: dot line without LF", "abc\r\n.\r", false, 7 },
	{ "not yet: dot then text", "abc\r\n.abc", false, 9 },
	{ "dot CR CR LF is a line", ".\r\r\n.\r\n", true, 7 },
	{ "no end", "line one\r\nline two\r\n", false, 20 },
};

static void
test_body_scan_table(void **state)
{
	for (size_t i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]);
	     i++) {
		const struct scan_case *t = &scan_cases[i];
		enum body_state st = BODY_LINE_START;
		size_t used = 12345;
		bool done = bench_body_scan(&st, (const uint8_t *)t->in,
					    strlen(t->in), &used);

		if (done != t->done || used != t->used) {
			fail_msg("%s: done=%d used=%zu, want %d %zu",
				 t->name, done, used, t->done, t->used);
		}
		assert_int_equal(st == BODY_NONE, t->done);
	}
}

/* Feeds in in pieces cut at `cut` (0: byte at a time); returns the total
   used and whether the end was found. */
static bool
scan_split(const char *in, size_t cut, size_t *used_r)
{
	enum body_state st = BODY_LINE_START;
	size_t len = strlen(in), pos = 0;

	while (pos < len) {
		size_t n = cut == 0 ? 1 : (pos < cut ? cut - pos : len - pos);
		size_t used;

		if (bench_body_scan(&st, (const uint8_t *)in + pos, n,
				    &used)) {
			*used_r = pos + used;
			return true;
		}
		assert_int_equal(used, n);
		pos += n;
	}
	*used_r = pos;
	return false;
}

static void
test_body_scan_split(void **state)
{
	for (size_t i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]);
	     i++) {
		const struct scan_case *t = &scan_cases[i];
		size_t len = strlen(t->in);

		for (size_t cut = 0; cut <= len; cut++) {
			size_t used;
			bool done = scan_split(t->in, cut, &used);

			if (done != t->done || used != t->used) {
				fail_msg("%s cut at %zu: done=%d used=%zu",
					 t->name, cut, done, used);
			}
		}
	}
}

static void
test_pool_deterministic(void **state)
{
	struct msg_pool *a = msg_pool_create(7, 819, 32768, 20);
	struct msg_pool *b = msg_pool_create(7, 819, 32768, 20);
	struct msg_pool *c = msg_pool_create(8, 819, 32768, 20);
	size_t la, lb, lc;
	unsigned int differ = 0;

	for (unsigned int i = 0; i < 20; i++) {
		const uint8_t *ma = msg_pool_get(a, i, &la);
		const uint8_t *mb = msg_pool_get(b, i, &lb);
		const uint8_t *mc = msg_pool_get(c, i, &lc);

		assert_int_equal(la, lb);
		assert_memory_equal(ma, mb, la);
		if (la != lc || memcmp(ma, mc, la) != 0)
			differ++;
	}
	assert_true(differ > 10);
	/* message i wraps around the pool */
	assert_ptr_equal(msg_pool_get(a, 3, &la), msg_pool_get(a, 23, &lb));
	msg_pool_destroy(&a);
	msg_pool_destroy(&b);
	msg_pool_destroy(&c);
	assert_null(a);
}

/* Every message is CRLF lines of at most 998 octets (RFC 5322 2.1.1),
   dot-stuffed, ending in CRLF "." CRLF with no other bare "." line, and
   the corpus has multipart mail, encoded words and 8-bit bytes. Sizes
   as the bench's corpus: 1 KB to 200 KB. */
static void
test_pool_valid(void **state)
{
	const unsigned int count = 200;
	const size_t min = 1024, max = 200 * 1024;
	/* log-uniform on [min, max]: (max - min) / ln(max / min), and
	   ln(200) = 5.2983 */
	const size_t mean = (max - min) * 10000 / 52983;
	struct msg_pool *pool = msg_pool_create(1, min, max, count);
	size_t least = SIZE_MAX, most = 0;
	unsigned int multipart = 0, encoded = 0, eightbit = 0;
	uint64_t total = 0;

	for (unsigned int i = 0; i < count; i++) {
		size_t len, pos = 0, lines = 0;
		const uint8_t *m = msg_pool_get(pool, i, &len);
		bool end_seen = false;

		total += len;
		least = len < least ? len : least;
		most = len > most ? len : most;
		assert_true(len > 5);
		assert_memory_equal(m + len - 5, "\r\n.\r\n", 5);
		while (pos < len) {
			const uint8_t *nl = memchr(m + pos, '\n', len - pos);
			size_t line_len;

			assert_non_null(nl);
			line_len = (size_t)(nl - (m + pos));
			assert_true(line_len >= 1);
			assert_int_equal(m[pos + line_len - 1], '\r');
			assert_null(memchr(m + pos, '\r', line_len - 1));
			assert_true(line_len - 1 <= 998);
			assert_false(end_seen);
			if (line_len == 2 && m[pos] == '.')
				end_seen = true;
			for (size_t k = 0; k < line_len; k++) {
				if (m[pos + k] >= 0x80)
					eightbit++;
			}
			pos += line_len + 1;
			lines++;
		}
		assert_true(end_seen);
		if (memmem(m, len, "multipart/mixed", 15) != NULL)
			multipart++;
		if (memmem(m, len, "=?UTF-8?", 8) != NULL ||
		    memmem(m, len, "=?ISO-8859-1?", 13) != NULL)
			encoded++;
		assert_true(lines > 5);
	}
	assert_true(multipart > count / 5);
	assert_true(encoded > count / 5);
	assert_true(eightbit > 0);
	assert_true(total / count > mean * 3 / 4);
	assert_true(total / count < mean * 4 / 3);
	/* the range is covered, and not left by more than the generator's
	   slack (headers, whole lines) */
	assert_true(least >= min * 3 / 4 && least < 2 * min);
	assert_true(most > max / 2 && most <= max + max / 10);
	assert_int_equal(msg_pool_total(pool), total);
	assert_int_equal(msg_pool_count(pool), count);
	msg_pool_destroy(&pool);
}

struct imap_case {
	const char *line;
	bool literal;
	uint64_t n;
};

static const struct imap_case literal_cases[] = {
	{ "* 1 FETCH (BODY[] {342}", true, 342 },
	{ "t5 APPEND INBOX {12+}", true, 12 },
	{ "* 1 FETCH (BODY[] {0}", true, 0 },
	{ "* OK {x}", false, 0 },
	{ "* OK {}", false, 0 },
	{ "* OK }", false, 0 },
	{ "* 1 FETCH (FLAGS ())", false, 0 },
	{ "{99999999999}", false, 0 },
	{ "", false, 0 },
};

static void
test_imap_literal(void **state)
{
	for (size_t i = 0; i < sizeof(literal_cases) /
	     sizeof(literal_cases[0]); i++) {
		const struct imap_case *t = &literal_cases[i];
		uint64_t n = 7777;
		bool r = bench_imap_literal(t->line, strlen(t->line), &n);

		if (r != t->literal || (r && n != t->n))
			fail_msg("%s: %d %llu", t->line, r,
				 (unsigned long long)n);
	}
}

struct untagged_case {
	const char *line;
	const char *word;
	bool match;
	unsigned int n;
};

static const struct untagged_case untagged_cases[] = {
	{ "* 3 EXISTS", "EXISTS", true, 3 },
	{ "* 12 FETCH (FLAGS (\\Flagged))", "FETCH", true, 12 },
	{ "* 12 FETCH (FLAGS ())", "EXISTS", false, 0 },
	{ "* 3 EXISTSX", "EXISTS", false, 0 },
	{ "* OK still here", "EXISTS", false, 0 },
	{ "* SEARCH 1 2", "FETCH", false, 0 },
	{ "t1 OK done", "FETCH", false, 0 },
	{ "* 3", "EXISTS", false, 0 },
	{ "* x EXISTS", "EXISTS", false, 0 },
};

static void
test_imap_untagged(void **state)
{
	for (size_t i = 0; i < sizeof(untagged_cases) /
	     sizeof(untagged_cases[0]); i++) {
		const struct untagged_case *t = &untagged_cases[i];
		unsigned int n = 0;
		bool r = bench_imap_untagged(t->line, strlen(t->line),
					     t->word, &n);

		if (r != t->match || (r && n != t->n))
			fail_msg("%s: %d %u", t->line, r, n);
	}
}

struct capa_case {
	const char *line;
	bool has;
};

static const struct capa_case capa_cases[] = {
	{ "* CAPABILITY IMAP4rev1 MULTIAPPEND LITERAL+", true },
	{ "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND", true },
	{ "* CAPABILITY MULTIAPPEND", true },
	{ "* capability imap4rev1 multiappend", true },
	{ "* CAPABILITY IMAP4rev1 LITERAL+", false },
	{ "* CAPABILITY IMAP4rev1 MULTIAPPENDX", false },
	{ "* CAPABILITY IMAP4rev1 XMULTIAPPEND", false },
	{ "* CAPABILITY ", false },
	{ "* OK [CAPABILITY IMAP4rev1 MULTIAPPEND] ready", false },
	{ "t1 OK MULTIAPPEND", false },
	{ "", false },
};

static void
test_imap_capability(void **state)
{
	for (size_t i = 0; i < sizeof(capa_cases) / sizeof(capa_cases[0]);
	     i++) {
		const struct capa_case *t = &capa_cases[i];
		/* a copy of exactly the line's bytes: no NUL is read */
		size_t len = strlen(t->line);
		char *line = bench_xmalloc(len);

		memcpy(line, t->line, len);
		if (bench_imap_capability(line, len, "MULTIAPPEND") != t->has)
			fail_msg("%s: want %d", t->line, t->has);
		free(line);
	}
}

/* imap-large's message k: fixed text with k in three places, CRLF
   lines, the needle exactly in every BENCH_LARGE_NEEDLE_EVERY-th. */
static void
test_large_msg(void **state)
{
	static const unsigned int ks[] = {
		0, 1, 99, 100, 101, 12345, 99999, 100000, UINT32_MAX,
	};
	char a[BENCH_LARGE_MSG_MAX], b[BENCH_LARGE_MSG_MAX], want[64];

	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		unsigned int k = ks[i];
		size_t la = bench_large_msg(k, a, sizeof(a));
		size_t lb = bench_large_msg(k, b, sizeof(b));

		assert_true(la > 0 && la < sizeof(a));
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		a[la] = '\0';
		snprintf(want, sizeof(want), "\r\nMessage-ID: <large%u@", k);
		assert_non_null(strstr(a, want));
		snprintf(want, sizeof(want), "Subject: message %u of ", k);
		assert_non_null(strstr(a, want));
		assert_non_null(strstr(a, "\r\nDate: Thu, 26 Nov 2026 "
				       "10:00:00 +0000\r\n"));
		assert_int_equal(strstr(a, BENCH_LARGE_NEEDLE) != NULL,
				 k % BENCH_LARGE_NEEDLE_EVERY == 0);
		/* every LF ends a CRLF, and the message ends in one */
		for (size_t j = 0; j < la; j++) {
			if (a[j] == '\n')
				assert_true(j > 0 && a[j - 1] == '\r');
			if (a[j] == '\r')
				assert_true(j + 1 < la && a[j + 1] == '\n');
		}
		assert_memory_equal(a + la - 2, "\r\n", 2);
	}
	/* the internal date is the Date: header's moment */
	struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 26,
			 .tm_hour = 10 };
	assert_int_equal(timegm(&tm), BENCH_LARGE_TIME);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The Maildir holds message k in the k-th name, LF lines, the sizes in
   the name, mtime BENCH_LARGE_TIME, and nothing in new/ or tmp/. */
static void
test_large_maildir(void **state)
{
	const unsigned int count = 250;
	char tmpl[] = "/tmp/test-bench.XXXXXX", path[4096];
	char *names[250], crlf[BENCH_LARGE_MSG_MAX], got[BENCH_LARGE_MSG_MAX];
	const char *error;
	struct dirent *de;
	unsigned int n = 0;
	DIR *dir;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/Maildir", tmpl);
	if (bench_large_maildir(path, 0, count, &error) < 0)
		fail_msg("%s", error);
	snprintf(path, sizeof(path), "%s/Maildir/cur", tmpl);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(n < count);
		names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	assert_int_equal(n, count);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (unsigned int k = 0; k < n; k++) {
		size_t len = bench_large_msg(k, crlf, sizeof(crlf));
		size_t lf_len = len - 7;	/* seven lines */
		char want[128];
		struct stat st;
		FILE *f;
		size_t got_len;

		snprintf(want, sizeof(want), "%lld.M%010uP0.bench-large,"
			 "S=%zu,W=%zu:2,", (long long)BENCH_LARGE_TIME, k,
			 lf_len, len);
		assert_string_equal(names[k], want);
		snprintf(path, sizeof(path), "%s/Maildir/cur/%s", tmpl,
			 names[k]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mtime, BENCH_LARGE_TIME);
		assert_int_equal(st.st_size, lf_len);
		f = fopen(path, "rb");
		assert_non_null(f);
		got_len = fread(got, 1, sizeof(got), f);
		fclose(f);
		assert_int_equal(got_len, lf_len);
		/* the CRLF text with every CR dropped */
		for (size_t i = 0, j = 0; i < len; i++) {
			if (crlf[i] == '\r')
				continue;
			assert_int_equal(got[j], crlf[i]);
			j++;
		}
		assert_int_equal(unlink(path), 0);
		free(names[k]);
	}
	/* an existing Maildir is no error (and count 0 writes nothing) */
	snprintf(path, sizeof(path), "%s/Maildir", tmpl);
	assert_int_equal(bench_large_maildir(path, 0, 0, &error), 0);
	for (const char *sub = "cur\0new\0tmp\0"; *sub != '\0';
	     sub += strlen(sub) + 1) {
		snprintf(path, sizeof(path), "%s/Maildir/%s", tmpl, sub);
		assert_int_equal(rmdir(path), 0);
	}
	snprintf(path, sizeof(path), "%s/Maildir", tmpl);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(tmpl), 0);
	/* a path that cannot be made fails with a reason */
	assert_int_equal(bench_large_maildir("/proc/no/such/dir", 0, 1,
					     &error), -1);
	assert_non_null(strstr(error, "mkdir"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_scan_table),
		cmocka_unit_test(test_imap_literal),
		cmocka_unit_test(test_imap_untagged),
		cmocka_unit_test(test_body_scan_split),
		cmocka_unit_test(test_pool_deterministic),
		cmocka_unit_test(test_pool_valid),
		cmocka_unit_test(test_imap_capability),
		cmocka_unit_test(test_large_msg),
		cmocka_unit_test(test_large_maildir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
