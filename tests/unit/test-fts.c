/* Unit tests for the full-text index (src/search/search-fts.*, the
   store's index rows): the row a message gets, the same row whatever
   the input's pieces, SEARCH text keys answered from the index giving
   the same UIDs as reading every message (generated corpus: RFC 2047
   subjects, quoted-printable and base64 bodies, ISO-8859-1 and UTF-8,
   multipart with attachments, an encapsulated message, address fields
   with comments), no message file read for indexed messages, the
   fallback for messages without a row and for rows cut at FTS_MAX_TEXT,
   `reindex`, and the schema on a fresh store and after the upgrade from
   version 3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/imap-parser.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "mail/mail-parser.h"
#include "search/search-eval.h"
#include "search/search-fts.h"
#include "search/search-program.h"
#include "store/store-private.h"

struct fixture {
	char dir[64];
	struct store *store;
	struct store_user *user;
	uint64_t inbox;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_settings set;
	struct store_mailbox_info info;
	const char *error;

	snprintf(f->dir, sizeof(f->dir), "/tmp/quire-test-fts.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	memset(&set, 0, sizeof(set));
	set.data_dir = f->dir;
	assert_int_equal(store_open(&set, &f->store, &error), 0);
	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_int_equal(store_mailbox_lookup(f->user, "INBOX", &info,
					      &error), 1);
	f->inbox = info.id;
	store_mailbox_info_free(&info);
	*state = f;
	return 0;
}

static void
close_store(struct fixture *f)
{
	if (f->user != NULL)
		store_user_unref(&f->user);
	if (f->store != NULL)
		store_close(&f->store);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close_store(f);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Builds msg's row feeding the parser `piece` bytes at a time (0: all). */
static void
build_doc(struct search_fts_builder *b, const char *msg, size_t len,
	  size_t piece)
{
	struct mail_parser *parser;
	struct mail_parse_result *result;

	search_fts_builder_reset(b);
	parser = mail_parser_create(&search_fts_parser_callbacks, b);
	for (size_t pos = 0; pos < len;) {
		size_t n = piece == 0 || piece > len - pos ? len - pos : piece;

		mail_parser_feed(parser, (const uint8_t *)msg + pos, n);
		pos += n;
	}
	result = mail_parser_finish(&parser);
	mail_parse_result_free(&result);
}

/* Saves msg (with its index row when `index`); returns the UID. */
static uint32_t
save(struct fixture *f, const char *msg, size_t len, bool index)
{
	struct search_fts_builder *b = search_fts_builder_create();
	struct store_save *save;
	struct store_fts_doc doc;
	const char *error;
	uint32_t uid;

	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error),
			 0);
	assert_int_equal(store_save_write(save, msg, len, &error), 0);
	if (index) {
		build_doc(b, msg, len, 0);
		search_fts_builder_doc(b, &doc);
		store_save_set_fts(save, &doc);
	}
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	search_fts_builder_destroy(&b);
	return uid;
}

static struct search_program *
parse_program(const char *args)
{
	struct imap_parser *parser = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	struct search_program *prog = NULL;
	enum search_error_kind kind;
	struct buf line;
	size_t used;
	const char *error;

	imap_parser_set_authenticated(parser, true);
	buf_init(&line, 0);
	buf_appendf(&line, "T SEARCH %s\r\n", args);
	if (imap_parser_feed(parser, line.data, line.len, &used, &cmd,
			     &error) != IMAP_PARSE_DONE)
		fail_msg("%s: does not parse", args);
	if (search_program_parse(cmd->args, cmd->args_count, &prog, &kind,
				 &error) < 0)
		fail_msg("%s: %s", args, error);
	buf_free(&line);
	imap_parser_destroy(&parser);
	return prog;
}

static ssize_t
fd_read(void *context, uint8_t *buf, size_t size, const char **error_r)
{
	ssize_t n = read(*(int *)context, buf, size);

	if (n < 0)
		*error_r = strerror(errno);
	return n;
}

/* The buffer's text as a malloc'ed string (freeing the buffer). */
static char *
xstrdup_buf(struct buf *out, size_t *len_r)
{
	char *text = strdup(buf_cstr(out));

	*len_r = out->len;
	buf_free(out);
	return text;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Runs SEARCH args over INBOX, from the index or by reading every
   message; returns the UIDs as text and counts the messages read. */
static char *
run_search(struct fixture *f, const char *args, bool use_index,
	   unsigned int *reads_r)
{
	struct search_program *prog = parse_program(args);
	struct search_eval_settings set;
	struct search_fts_lookup *lookup = NULL;
	struct store_message *msgs;
	struct search_eval *eval;
	unsigned int count, reads = 0;
	uint64_t *ids;
	int8_t *verdicts;
	struct buf out;
	const char *error;

	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	memset(&set, 0, sizeof(set));
	set.now = 2000000000;
	set.max_seq = count;
	set.max_uid = count > 0 ? msgs[count - 1].uid : 0;
	eval = search_eval_create(prog, &set);
	ids = calloc(count + 1, sizeof(*ids));
	verdicts = calloc(prog->count, sizeof(*verdicts));
	for (unsigned int i = 0; i < count; i++)
		ids[i] = msgs[i].blob_id;
	qsort(ids, count, sizeof(*ids), cmp_u64);
	if (use_index) {
		assert_true(search_fts_lookup(f->user, f->inbox, prog, eval,
					      ids, count, &lookup,
					      &error) >= 0);
	}
	buf_init(&out, 0);
	for (unsigned int i = 0; i < count; i++) {
		struct search_message m = {
			.seq = i + 1, .uid = msgs[i].uid,
			.flags = msgs[i].flags, .keywords = msgs[i].keywords,
			.modseq = msgs[i].modseq, .size = msgs[i].size,
			.internal_date = msgs[i].internal_date,
		};
		uint64_t size;
		int fd, r;

		if (lookup != NULL)
			search_fts_lookup_verdicts(lookup, msgs[i].blob_id,
						   verdicts);
		r = search_eval_record_known(eval, &m, lookup != NULL ?
					     verdicts : NULL);
		if (r < 0) {
			reads++;
			assert_int_equal(store_blob_open(f->user,
							 msgs[i].blob_id, &fd,
							 &size, &error), 1);
			r = search_eval_read(eval, fd_read, &fd, &error);
			close(fd);
			assert_true(r >= 0);
		}
		if (r > 0)
			buf_appendf(&out, "%s%u", out.len > 0 ? " " : "",
				    msgs[i].uid);
	}
	search_fts_lookup_free(&lookup);
	search_eval_destroy(&eval);
	search_program_free(&prog);
	free(verdicts);
	free(ids);
	free(msgs);
	if (reads_r != NULL)
		*reads_r = reads;
	{
		size_t len;
		char *text = xstrdup_buf(&out, &len);

		return text;
	}
}

/* ---- the row ------------------------------------------------------------ */

static const char row_msg[] =
	"From: \"Alice\" <alice (home) @ example.org>\r\n"
	"To: bob@example.org\r\n"
	"Subject: =?UTF-8?B?R3LDvMOfZQ==?= aus K\xc3\xb6ln\r\n"
	"X-\x01Odd: v\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Caf=E9 CR=C8ME\r\n"
	"--b\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"second\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"GR\xc3\x9c\xc3\x9f" "E \xe2\x82\xac 5\r\n"
	"--b--\r\n";

static bool
col_has(const struct store_fts_doc *doc, enum store_fts_column c,
	const char *s)
{
	return doc->text[c] != NULL &&
		memmem(doc->text[c], doc->len[c], s, strlen(s)) != NULL;
}

static void
test_row(void **state)
{
	struct search_fts_builder *b = search_fts_builder_create();
	struct store_fts_doc doc;

	(void)state;
	build_doc(b, row_msg, sizeof(row_msg) - 1, 0);
	search_fts_builder_doc(b, &doc);
	assert_true(col_has(&doc, STORE_FTS_ROOT,
			    "\x01SUBJECT\x02GRU\xcc\x88\xc3\x9f" "E AUS KO\xcc\x88LN"));
	assert_true(col_has(&doc, STORE_FTS_ROOT, "\x01TO\x02" "BOB@"));
	assert_true(col_has(&doc, STORE_FTS_ADDR,
			    "\x01" "FROM\x02" "ALICE <ALICE@EXAMPLE.ORG>, "));
	/* A name HEADER cannot compare goes to other, row incomplete. */
	assert_true(col_has(&doc, STORE_FTS_OTHER, "\x01X-\x03ODD\x01V"));
	assert_false(doc.complete);
	assert_true(col_has(&doc, STORE_FTS_OTHER,
			    "\x01" "CONTENT-TRANSFER-ENCODING\x01"
			    "QUOTED-PRINTABLE"));
	assert_true(col_has(&doc, STORE_FTS_BODY, "\x01" "CAFE\xcc\x81 "
			    "CRE\xcc\x80ME"));
	assert_true(col_has(&doc, STORE_FTS_BODY, "\x01SECOND"));
	assert_true(col_has(&doc, STORE_FTS_BODY,
			    "\x01GRU\xcc\x88\xc3\x9f" "E \xe2\x82\xac 5"));
	for (unsigned int c = 0; c < STORE_FTS_COLUMN_COUNT; c++)
		assert_null(memchr(doc.text[c], '\0', doc.len[c]));
	search_fts_builder_destroy(&b);
}

/* The same row whatever pieces the parser gets. */
static void
test_row_split(void **state)
{
	struct search_fts_builder *b = search_fts_builder_create();
	struct store_fts_doc doc;
	char *want[STORE_FTS_COLUMN_COUNT];
	size_t want_len[STORE_FTS_COLUMN_COUNT];
	const size_t len = sizeof(row_msg) - 1;

	(void)state;
	build_doc(b, row_msg, len, 0);
	search_fts_builder_doc(b, &doc);
	for (unsigned int c = 0; c < STORE_FTS_COLUMN_COUNT; c++) {
		want[c] = malloc(doc.len[c] + 1);
		memcpy(want[c], doc.text[c] != NULL ? doc.text[c] : "",
		       doc.len[c]);
		want_len[c] = doc.len[c];
	}
	for (size_t piece = 1; piece <= len; piece++) {
		build_doc(b, row_msg, len, piece);
		search_fts_builder_doc(b, &doc);
		for (unsigned int c = 0; c < STORE_FTS_COLUMN_COUNT; c++) {
			assert_int_equal(doc.len[c], want_len[c]);
			assert_memory_equal(doc.len[c] > 0 ? doc.text[c] : "",
					    want[c], want_len[c]);
		}
	}
	for (unsigned int c = 0; c < STORE_FTS_COLUMN_COUNT; c++)
		free(want[c]);
	search_fts_builder_destroy(&b);
}

/* ---- scan and index agree ----------------------------------------------- */

static const char *const subjects[] = {
	"Plain subject",
	"=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", /* Grüße aus Köln */
	"=?ISO-8859-1?Q?Caf=E9_cr=E8me?=",
	"Stra\u00dfe und Weg",
	"MiXeD CaSe quick",
	"Curly {subject} and \"quotes\"",
};

static const char *const froms[] = {
	"Alice <alice@example.org>",
	"\"Bob (work)\" <bob @ (x) example.net>",
	"=?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>",
};

static const char *const bodies[] = {
	/* 0: plain */
	"Content-Type: text/plain\r\n\r\n"
	"The quick brown fox jumps\r\nover the lazy dog \"quoted\" word\r\n",
	/* 1: quoted-printable UTF-8 */
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	"=C3=9Cber den Wolken, soft=\r\nbreak here\r\n",
	/* 2: base64 ISO-8859-1: "Ça va très bien" */
	"Content-Type: text/plain; charset=ISO-8859-1\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\n"
	"x2EgdmEgdHLocyBiaWVu\r\n",
	/* 3: multipart with attachments */
	"Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"
	"preamble text\r\n"
	"--zz\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	"<p>Hello <b>HTML</b> &amp; friends</p>\r\n"
	"--zz\r\nContent-Type: application/octet-stream\r\n"
	"Content-Disposition: attachment; filename=\"secret.bin\"\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\n"
	"c2VjcmV0IHBheWxvYWQ=\r\n"
	"--zz\r\nContent-Type: text/plain; name=\"notes.txt\"\r\n"
	"Content-Disposition: attachment\r\n\r\n"
	"attached notes: lazy\r\n"
	"--zz--\r\n",
	/* 4: an encapsulated message */
	"Content-Type: message/rfc822\r\n\r\n"
	"From: Inner <inner@example.com>\r\n"
	"Subject: inner subject fox\r\n\r\n"
	"inner body text\r\n",
};

static const char *const queries[] = {
	"TEXT quick", "BODY quick", "SUBJECT quick", "TEXT \"brown fox\"",
	"BODY fox", "NOT BODY fox", "TEXT fox", "SUBJECT fox",
	"SUBJECT \"gr\u00fc\u00dfe\"", "SUBJECT GRUESSE",
	"SUBJECT \"k\xc3\xb6ln\"", "SUBJECT \"CAF\xc3\x89\"",
	"TEXT \"cr\xc3\xa8me\"", "SUBJECT strasse", "TEXT STRASSE",
	"BODY \"\u00fcber\"", "BODY softbreak", "BODY \"soft break\"",
	"BODY \"tr\xc3\xa8s\"", "BODY \"\u00e7a\"", "BODY html",
	"BODY \"&amp;\"", "BODY secret", "TEXT secret.bin", "TEXT notes.txt",
	"BODY notes", "BODY preamble", "TEXT content-disposition",
	"TEXT multipart", "TEXT inner", "SUBJECT inner", "FROM inner",
	"FROM alice", "FROM bob@example.net", "FROM \"(work)\"",
	"FROM \"j\xc3\xb6rg\"", "FROM joerg", "TO carol", "CC dave",
	"BCC erin", "TO \"\"", "CC \"\"", "HEADER X-Tag blue",
	"HEADER x-tag \"\"", "HEADER X-TAG BLU", "HEADER Subject \"\"",
	"BODY ab", "BODY a", "TEXT ov", "SUBJECT \"\"", "BODY \"\"",
	"TEXT \"\"", "OR SUBJECT strasse BODY fox", "TEXT \"subject:\"",
	"TEXT \"x-tag\"", "TEXT \"from\"", "TEXT 7", "SEEN TEXT fox",
	"HEADER Received x", "TEXT example.org",
	"SENTSINCE 1-Jan-2020 BODY fox", "TEXT \"Stra\u00dfe und\"",
	"BODY \"lazy dog\"", "TEXT \"over the\"",
	"BODY \"\\\"quoted\\\" word\"", "SUBJECT \"{subject\"",
};

static void
build_corpus(struct fixture *f, unsigned int n, unsigned int unindexed_every)
{
	struct buf msg;

	buf_init(&msg, 0);
	for (unsigned int i = 0; i < n; i++) {
		buf_reset(&msg);
		buf_appendf(&msg, "From: %s\r\n",
			    froms[i % (sizeof(froms) / sizeof(froms[0]))]);
		if (i % 2 == 0)
			buf_append_str(&msg, "To: Carol <carol@example.org>\r\n");
		if (i % 3 == 0)
			buf_append_str(&msg, "Cc: dave@example.org\r\n");
		if (i % 4 == 0)
			buf_append_str(&msg, "Bcc: Erin <erin@example.org>\r\n");
		if (i % 5 == 1)
			buf_appendf(&msg, "X-Tag: %s\r\n",
				    i % 2 ? "Blue" : "green");
		buf_appendf(&msg, "Subject: %s %u\r\n",
			    subjects[i % (sizeof(subjects) /
					  sizeof(subjects[0]))], i);
		buf_append_str(&msg, "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
				     "MIME-Version: 1.0\r\n");
		buf_append_str(&msg, bodies[(i / 2) % (sizeof(bodies) /
						       sizeof(bodies[0]))]);
		save(f, (const char *)msg.data, msg.len,
		     unindexed_every == 0 || i % unindexed_every != 0);
	}
	buf_free(&msg);
}

static void
compare_all(struct fixture *f, unsigned int max_reads)
{
	unsigned int nonempty = 0;

	for (unsigned int q = 0; q < sizeof(queries) / sizeof(queries[0]);
	     q++) {
		unsigned int reads;
		char *scan = run_search(f, queries[q], false, NULL);
		char *index = run_search(f, queries[q], true, &reads);

		if (strcmp(scan, index) != 0)
			fail_msg("%s: scan [%s] index [%s]", queries[q], scan,
				 index);
		/* SENT* and a string holding a CR still read. */
		if (strstr(queries[q], "SENT") == NULL &&
		    strchr(queries[q], '\r') == NULL && reads > max_reads)
			fail_msg("%s: %u messages read", queries[q], reads);
		if (getenv("FTS_TEST_VERBOSE") != NULL)
			printf("%s: [%s]\n", queries[q], scan);
		if (*scan != '\0')
			nonempty++;
		free(scan);
		free(index);
	}
	/* The corpus is made so that most keys match something. */
	assert_true(nonempty * 4 > 3 * sizeof(queries) / sizeof(queries[0]));
}

static void
test_scan_equals_index(void **state)
{
	struct fixture *f = *state;

	build_corpus(f, 40, 0);
	compare_all(f, 0);
}

/* Messages without a row (saved before the index) are read, and only
   they; reindex then covers them. */
static void
test_unindexed_fallback(void **state)
{
	struct fixture *f = *state;
	unsigned int count;
	const char *error;
	uint64_t *ids;

	build_corpus(f, 30, 3);
	assert_int_equal(store_fts_unindexed(f->user, f->inbox, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 10);
	free(ids);
	compare_all(f, 10);
	assert_int_equal(search_fts_reindex(f->user, &count, &error), 0);
	assert_int_equal(count, 30);
	assert_int_equal(store_fts_unindexed(f->user, f->inbox, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 0);
	compare_all(f, 0);
}

/* A row cut at FTS_MAX_TEXT: what is in it is found from the index, what
   is past it by reading the message. */
static void
test_truncated(void **state)
{
	struct fixture *f = *state;
	size_t fill = FTS_MAX_TEXT + 4096;
	struct buf msg;
	char *res;
	unsigned int reads, count;
	uint64_t *ids;
	const char *error;

	buf_init(&msg, 0);
	buf_append_str(&msg, "Subject: big\r\n\r\nstartword ");
	memset(buf_reserve(&msg, fill), 'x', fill);
	buf_commit(&msg, fill);
	buf_append_str(&msg, " endword\r\n");
	save(f, (const char *)msg.data, msg.len, true);
	save(f, "Subject: small\r\n\r\nendword\r\n", 27, true);
	assert_int_equal(store_fts_unindexed(f->user, f->inbox, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 1);
	free(ids);

	res = run_search(f, "BODY startword", true, &reads);
	assert_string_equal(res, "1");
	assert_int_equal(reads, 0);
	free(res);
	res = run_search(f, "BODY endword", true, &reads);
	assert_string_equal(res, "1 2");
	assert_int_equal(reads, 1);
	free(res);
	res = run_search(f, "SUBJECT small", true, &reads);
	assert_string_equal(res, "2");
	free(res);
	buf_free(&msg);
}

/* COPY shares the row; expunging the last message drops it. */
static void
test_copy_expunge(void **state)
{
	struct fixture *f = *state;
	struct store_uid_range all = { 1, 10 };
	uint64_t box, *ids;
	uint32_t *src, *dst;
	unsigned int count;
	const char *error;
	char *res;

	save(f, "Subject: shared\r\n\r\nbody\r\n", 26, true);
	assert_int_equal(store_mailbox_create(f->user, "Other",
					      STORE_SPECIAL_NONE, &box,
					      &error), 1);
	assert_int_equal(store_messages_copy(f->user, f->inbox, &all, 1, box,
					     false, &src, &dst, &count,
					     &error), 1);
	free(src);
	free(dst);
	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, NULL,
				       &error), 1);
	res = run_search(f, "SUBJECT shared", true, NULL);
	assert_string_equal(res, "");
	free(res);
	assert_int_equal(store_fts_unindexed(f->user, box, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_expunge(f->user, box, &all, 1, NULL, &error),
			 1);
	assert_int_equal(store_fts_blob_list(f->user, &ids, &count, &error),
			 0);
	assert_int_equal(count, 0);
}

/* The daemon's indexer: rows for the messages saved without one, in
   batches of at most max; the rows of expunged messages removed; the
   users that need it marked by saves and expunges. */
static void
test_index_pending(void **state)
{
	struct fixture *f = *state;
	struct store_uid_range all = { 1, 100 };
	unsigned int count;
	const char *error;
	uint64_t *ids;
	char *name;
	bool more;

	/* Nothing marked yet at all: the fixture's saves mark it. */
	while (store_fts_next_marked(f->store, 0, &name))
		free(name);
	build_corpus(f, 12, 1); /* every message without a row */
	/* not yet an hour old; then taken without a minimum age */
	assert_false(store_fts_next_marked(f->store, 3600, &name));
	assert_true(store_fts_next_marked(f->store, 0, &name));
	assert_string_equal(name, "alice");
	free(name);
	assert_false(store_fts_next_marked(f->store, 0, &name));
	/* "more to do": due at once, whatever the minimum age */
	store_fts_mark_due(f->user);
	store_fts_mark(f->user);
	assert_true(store_fts_next_marked(f->store, 3600, &name));
	free(name);

	assert_int_equal(search_fts_index_pending(f->user, 5, &count, &more,
						  &error), 0);
	assert_int_equal(count, 5);
	assert_true(more);

	/* Stopped with rows missing: opening the user again marks it, so
	   the rest need not wait for its next change. */
	close_store(f);
	struct store_settings set = { .data_dir = f->dir };
	assert_int_equal(store_open(&set, &f->store, &error), 0);
	assert_false(store_fts_next_marked(f->store, 0, &name));
	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_true(store_fts_next_marked(f->store, 0, &name));
	assert_string_equal(name, "alice");
	free(name);

	assert_int_equal(search_fts_index_pending(f->user, 100, &count,
						  &more, &error), 0);
	assert_int_equal(count, 7);
	assert_false(more);
	assert_int_equal(store_fts_unindexed(f->user, f->inbox, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 0);
	compare_all(f, 0);
	/* All rows there: opening marks nothing. */
	close_store(f);
	assert_int_equal(store_open(&set, &f->store, &error), 0);
	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_false(store_fts_next_marked(f->store, 0, &name));

	/* Expunged: the rows stay as garbage until the indexer runs. */
	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, NULL,
				       &error), 1);
	assert_true(store_fts_next_marked(f->store, 0, &name));
	free(name);
	assert_int_equal(store_fts_blob_list(f->user, &ids, &count, &error),
			 0);
	assert_int_equal(count, 0);
	unsigned int left;
	assert_int_equal(store_fts_collect_garbage(f->user, 100, &left,
						   &error), 0);
	assert_int_equal(left, 12);
	assert_int_equal(store_fts_collect_garbage(f->user, 100, &left,
						   &error), 0);
	assert_int_equal(left, 0);
}

/* ---- schema -------------------------------------------------------------- */

static int
db_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
			 SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static void
test_schema_upgrade(void **state)
{
	struct fixture *f = *state;
	struct store_settings set;
	char path[512];
	sqlite3 *db;
	const char *error;
	char *res;
	unsigned int reads, count;

	snprintf(path, sizeof(path), "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
	/* Fresh: version 4 with the table and the trigger. */
	assert_true(db_int(path, "PRAGMA user_version") >= 4);
	assert_int_equal(db_int(path, "SELECT COUNT(*) FROM sqlite_master "
				"WHERE name IN ('fts', 'blobs_fts_delete')"),
			 2);

	/* Back to version 3 with a message, then reopen. */
	save(f, "Subject: old one\r\n\r\nolder body\r\n", 32, false);
	close_store(f);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "DROP TRIGGER blobs_fts_delete;"
				      "DROP TABLE fts;"
				      "DROP INDEX IF EXISTS blobs_fts_pending;"
				      "ALTER TABLE blobs DROP COLUMN fts;"
				      "PRAGMA user_version = 3;",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	memset(&set, 0, sizeof(set));
	set.data_dir = f->dir;
	assert_int_equal(store_open(&set, &f->store, &error), 0);
	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_true(db_int(path, "PRAGMA user_version") >= 4);
	/* The old message has no row: read, and found. */
	res = run_search(f, "BODY older", true, &reads);
	assert_string_equal(res, "1");
	assert_int_equal(reads, 1);
	free(res);
	assert_int_equal(search_fts_reindex(f->user, &count, &error), 0);
	assert_int_equal(count, 1);
	res = run_search(f, "BODY older", true, &reads);
	assert_string_equal(res, "1");
	assert_int_equal(reads, 0);
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row),
		cmocka_unit_test(test_row_split),
		cmocka_unit_test_setup_teardown(test_scan_equals_index, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unindexed_fallback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_expunge, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_index_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
