/* Unit tests for THREADID (RFC 8474 5.2): the ids' form, the keys a
   save's parse finds (search_fts_builder_thread()), and the store's
   thread assignment (store.h "threads") on a fresh store and on one
   upgraded from version 5. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "sqlite-query.h"

#include "lib/limits.h"
#include "lib/objectid.h"
#include "mail/mail-parser.h"
#include "search/search-fts.h"
#include "store/store-private.h"
#include "store/store.h"

/* ---- ids ---------------------------------------------------------------- */

static void
test_objectid_thread(void **state)
{
	static const struct {
		uint64_t n;
		const char *id;
	} golden[] = {
		/* Fixed forever: clients keep these. */
		{ 1, "T52610f4da8a756ce" },
		{ 0x77, "T1da2605ca3460553" },
		{ 0x88, "Tdce232ce686e53ce" },
		{ UINT64_MAX, "T3a6ac17874dcbf26" },
	};
	char id[OBJECTID_SIZE], email[OBJECTID_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		objectid_thread(golden[i].n, id);
		assert_string_equal(id, golden[i].id);
		assert_int_equal(strlen(id), OBJECTID_THREAD_LEN);
		/* A thread started by a blob: not that blob's EMAILID. */
		objectid_email(golden[i].n, email);
		assert_string_not_equal(id + 1, email + 1);
	}
}

/* ---- keys from the parse ------------------------------------------------ */

struct keys_case {
	const char *name;
	const char *msg;
	const char *msgid; /* NULL: none */
	const char *refs;  /* nearest first, space-separated; "" none */
};

static const struct keys_case keys_cases[] = {
	{ "plain reply",
	  "Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n"
	  "References: <r@x> <a@x>\r\n\r\nbody\r\n",
	  "b@x", "a@x r@x" },
	{ "References only, folded, nearest last",
	  "References: <1@x>\r\n <2@x>\r\n\t<3@x>\r\nMessage-Id: <m@x>\r\n"
	  "\r\n",
	  "m@x", "3@x 2@x 1@x" },
	{ "In-Reply-To not in References comes first",
	  "In-Reply-To: <p@x> (sent by someone)\r\nReferences: <g@x>\r\n\r\n",
	  NULL, "p@x g@x" },
	{ "no Message-ID, no references", "Subject: hi\r\n\r\nbody\r\n",
	  NULL, "" },
	{ "first field of each name counts",
	  "Message-ID: <one@x>\r\nMessage-ID: <two@x>\r\n"
	  "In-Reply-To: <p@x>\r\nIn-Reply-To: <q@x>\r\n\r\n",
	  "one@x", "p@x" },
	{ "invalid ids are skipped",
	  "Message-ID: no-brackets@x\r\nReferences: <> <nodomain> <ok@x>\r\n"
	  "\r\n",
	  NULL, "ok@x" },
	{ "quoted and commented forms are normalised",
	  "Message-ID: <\"a b\"@x (c)>\r\n\r\n", "a b@x", "" },
	{ "a part's header is not the message's",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nMessage-ID: <inner@x>\r\nIn-Reply-To: <innerp@x>\r\n\r\n"
	  "text\r\n--b--\r\n",
	  NULL, "" },
	{ "message/rfc822 inside is not the message either",
	  "Message-ID: <outer@x>\r\nContent-Type: message/rfc822\r\n\r\n"
	  "Message-ID: <inner@x>\r\nReferences: <innerp@x>\r\n\r\nx\r\n",
	  "outer@x", "" },
	{ "header only, no body", "Message-ID: <h@x>", "h@x", "" },
};

/* Parses msg fed in pieces of `piece` bytes (0: cut once at `cut`) and
   checks the keys. */
static void
check_keys(const struct keys_case *c, size_t piece, size_t cut)
{
	struct search_fts_builder *b = search_fts_builder_create();
	struct mail_parser *parser =
		mail_parser_create(&search_fts_parser_callbacks, b);
	struct mail_parse_result *result;
	const char *msgid;
	const char *const *refs;
	unsigned int count;
	size_t len = strlen(c->msg);
	char got[1024];

	if (piece == 0) {
		mail_parser_feed(parser, (const uint8_t *)c->msg, cut);
		mail_parser_feed(parser, (const uint8_t *)c->msg + cut,
				 len - cut);
	} else {
		for (size_t i = 0; i < len; i += piece) {
			size_t n = len - i < piece ? len - i : piece;

			mail_parser_feed(parser, (const uint8_t *)c->msg + i,
					 n);
		}
	}
	result = mail_parser_finish(&parser);
	mail_parse_result_free(&result);
	search_fts_builder_thread(b, &msgid, &refs, &count);
	if (c->msgid == NULL) {
		if (msgid != NULL)
			fail_msg("%s: message id %s", c->name, msgid);
	} else {
		if (msgid == NULL || strcmp(msgid, c->msgid) != 0)
			fail_msg("%s: message id %s", c->name,
				 msgid == NULL ? "(none)" : msgid);
	}
	size_t used = 0;

	got[0] = '\0';
	for (unsigned int i = 0; i < count; i++) {
		used += (size_t)snprintf(got + used, sizeof(got) - used,
					 "%s%s", i > 0 ? " " : "", refs[i]);
		assert_true(used < sizeof(got));
	}
	if (strcmp(got, c->refs) != 0)
		fail_msg("%s (piece %zu cut %zu): refs \"%s\"", c->name, piece,
			 cut, got);
	search_fts_builder_destroy(&b);
}

static void
test_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(keys_cases) / sizeof(keys_cases[0]);
	     i++) {
		const struct keys_case *c = &keys_cases[i];
		size_t len = strlen(c->msg);

		check_keys(c, len, 0);
		check_keys(c, 1, 0); /* a byte at a time */
		for (size_t cut = 0; cut <= len; cut++)
			check_keys(c, 0, cut);
	}
}

/* A long References keeps its last THREADID_MAX_REFERENCES ids, and the
   builder starts over after a reset. */
static void
test_keys_cap(void **state)
{
	struct search_fts_builder *b = search_fts_builder_create();
	char msg[4096], want[32];
	size_t len = 0;
	const char *msgid;
	const char *const *refs;
	unsigned int count;

	(void)state;
	len += (size_t)snprintf(msg + len, sizeof(msg) - len, "References:");
	for (int i = 0; i < 50; i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
					" <r%d@x>", i);
	len += (size_t)snprintf(msg + len, sizeof(msg) - len,
				"\r\nIn-Reply-To: <r49@x>\r\n\r\n");
	for (int round = 0; round < 2; round++) {
		struct mail_parser *parser =
			mail_parser_create(&search_fts_parser_callbacks, b);
		struct mail_parse_result *result;

		mail_parser_feed(parser, (const uint8_t *)msg, len);
		result = mail_parser_finish(&parser);
		mail_parse_result_free(&result);
		search_fts_builder_thread(b, &msgid, &refs, &count);
		assert_null(msgid);
		assert_int_equal(count, THREADID_MAX_REFERENCES);
		for (unsigned int i = 0; i < count; i++) {
			snprintf(want, sizeof(want), "r%u@x", 49 - i);
			assert_string_equal(refs[i], want);
		}
		search_fts_builder_reset(b);
		search_fts_builder_thread(b, &msgid, &refs, &count);
		assert_null(msgid);
		assert_int_equal(count, 0);
	}
	search_fts_builder_destroy(&b);
}

/* ---- the store ---------------------------------------------------------- */

struct fixture {
	char dir[64];
	struct store *store;
	struct store_user *user;
	uint64_t inbox;
};

static void
open_all(struct fixture *f)
{
	struct store_settings set = { .data_dir = f->dir };
	struct store_mailbox_info info;
	const char *error = NULL;

	assert_int_equal(store_open(&set, &f->store, &error), 0);
	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_int_equal(store_mailbox_lookup(f->user, "INBOX", &info,
					      &error), 1);
	f->inbox = info.id;
	store_mailbox_info_free(&info);
}

static void
close_all(struct fixture *f)
{
	store_user_unref(&f->user);
	store_close(&f->store);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/quire-test-threadid-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	open_all(f);
	*state = f;
	return 0;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	close_all(f);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static sqlite3 *
raw_db(struct fixture *f)
{
	char path[512];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	return db;
}

/* Saves a small message with the given keys (refs: space-separated,
   nearest first; NULL none) and returns its UID. */
static uint32_t
save_keys(struct fixture *f, uint64_t mailbox, const char *msgid,
	  const char *refs)
{
	char *refv[64], *copy = refs == NULL ? NULL : strdup(refs);
	unsigned int n = 0;
	struct store_save *save;
	const char *error = NULL;
	uint32_t uid = 0;

	for (char *p = copy == NULL ? NULL : strtok(copy, " "); p != NULL;
	     p = strtok(NULL, " ")) {
		assert_true(n < 64);
		refv[n++] = p;
	}
	assert_int_equal(store_save_begin(f->user, mailbox, &save, &error),
			 0);
	assert_int_equal(store_save_write(save, "x\r\n", 3, &error), 0);
	store_save_set_thread(save, msgid, (const char *const *)refv, n);
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	free(copy);
	return uid;
}

/* The thread id of a message (0 = none). */
static uint64_t
thread_of(struct fixture *f, uint64_t mailbox, uint32_t uid)
{
	struct store_message msg;
	const char *error = NULL;
	uint64_t thread_id = 1;
	int ret;

	assert_int_equal(store_message_get(f->user, mailbox, uid, &msg,
					   &error), 1);
	ret = store_thread_get(f->user, msg.blob_id, &thread_id, &error);
	assert_true(ret >= 0);
	assert_int_equal(ret == 0, thread_id == 0);
	return thread_id;
}

/* Messages saved in order; `same` is the step whose thread the message
   joins, or -1 for a new thread. */
static const struct thread_step {
	const char *msgid;
	const char *refs;
	int same;
} thread_steps[] = {
	/* 0 */ { "a@x", NULL, -1 },
	/* 1: a reply after its parent */
	/* 1 */ { "b@x", "a@x", 0 },
	/* 2: a reply before its parent: the parent's id is recorded */
	/* 2 */ { "d@x", "c@x", -1 },
	/* 3: the parent finds its own id */
	/* 3 */ { "c@x", NULL, 2 },
	/* 4: a References chain, the nearest known parent decides */
	/* 4 */ { "e@x", "d@x c@x a@x", 2 },
	/* 5: names both threads: joins the nearest (a@x's), and the
	      messages of the other keep theirs (checked at the end) */
	/* 5 */ { "f@x", "b@x d@x", 0 },
	/* 6: an id first named by 5 is in 5's thread */
	/* 6 */ { "g@x", "nothing@x f@x", 0 },
	/* 7: no Message-ID, no references: alone */
	/* 7 */ { NULL, NULL, -1 },
	/* 8: no Message-ID, a reference */
	/* 8 */ { NULL, "b@x", 0 },
	/* 9: the same Message-ID again (a second delivery) */
	/* 9 */ { "a@x", NULL, 0 },
	/* 10: a second thread without Message-ID in between */
	/* 10 */ { NULL, "unknown@x", -1 },
	/* 11: and a reply to the id 10 named */
	/* 11 */ { "h@x", "unknown@x", 10 },
	/* 12: its own id is known (from 10's thread) but a reference in
	       another thread comes first */
	/* 12 */ { "unknown@x", "a@x", 0 },
};

static void
run_steps(struct fixture *f)
{
	const size_t n = sizeof(thread_steps) / sizeof(thread_steps[0]);
	uint64_t threads[sizeof(thread_steps) / sizeof(thread_steps[0])];
	uint32_t uids[sizeof(thread_steps) / sizeof(thread_steps[0])];

	for (size_t i = 0; i < n; i++) {
		const struct thread_step *s = &thread_steps[i];

		uids[i] = save_keys(f, f->inbox, s->msgid, s->refs);
		threads[i] = thread_of(f, f->inbox, uids[i]);
		assert_true(threads[i] != 0);
		if (s->same >= 0) {
			if (threads[i] != threads[s->same])
				fail_msg("step %zu: not in step %d's thread",
					 i, s->same);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (threads[j] == threads[i])
				fail_msg("step %zu: in step %zu's thread", i,
					 j);
		}
	}
	/* Immutable (RFC 8474 5.2): nothing later changed an earlier one. */
	for (size_t i = 0; i < n; i++)
		assert_true(thread_of(f, f->inbox, uids[i]) == threads[i]);
}

static void
test_threads_fresh(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	run_steps(f);
	close_all(f);
	db = raw_db(f);
	assert_int_equal(sqlite_query_int(db, "PRAGMA user_version"), 8);
	sqlite3_close(db);
	open_all(f);
}

/* At most THREADID_MAX_REFERENCES references are looked at and
   recorded; a too long id is neither. */
static void
test_threads_limits(void **state)
{
	struct fixture *f = *state;
	char refs[2048], longid[THREADID_MAX_MSGID + 8];
	size_t len = 0;
	uint64_t root, t;
	sqlite3 *db;

	root = thread_of(f, f->inbox, save_keys(f, f->inbox, "root@x", NULL));
	/* the known one is the 21st nearest: not looked at */
	for (int i = 0; i < THREADID_MAX_REFERENCES; i++)
		len += (size_t)snprintf(refs + len, sizeof(refs) - len,
					"u%d@x ", i);
	snprintf(refs + len, sizeof(refs) - len, "root@x");
	t = thread_of(f, f->inbox, save_keys(f, f->inbox, "cap@x", refs));
	assert_true(t != root);
	/* the 20th is */
	len = 0;
	for (int i = 0; i < THREADID_MAX_REFERENCES - 1; i++)
		len += (size_t)snprintf(refs + len, sizeof(refs) - len,
					"v%d@x ", i);
	snprintf(refs + len, sizeof(refs) - len, "root@x");
	assert_true(thread_of(f, f->inbox,
			      save_keys(f, f->inbox, "cap2@x", refs)) == root);

	/* one byte too long */
	memset(longid, 'l', THREADID_MAX_MSGID - 1);
	memcpy(longid + THREADID_MAX_MSGID - 1, "@x", 3);
	assert_int_equal(strlen(longid), THREADID_MAX_MSGID + 1);
	snprintf(refs, sizeof(refs), "%s root@x", longid);
	assert_true(thread_of(f, f->inbox,
			      save_keys(f, f->inbox, "long@x", refs)) == root);
	assert_true(thread_of(f, f->inbox,
			      save_keys(f, f->inbox, NULL, longid)) != root);

	/* msg-id rows: root; cap and its first 20 references; cap2 and
	   its 19 new ones; long (the long id never) */
	close_all(f);
	db = raw_db(f);
	assert_int_equal(sqlite_query_int(db, "SELECT COUNT(*) FROM threads_msgid"),
			 1 + (1 + THREADID_MAX_REFERENCES) +
				 (1 + THREADID_MAX_REFERENCES - 1) + 1);
	sqlite3_close(db);
	open_all(f);
}

/* COPY and MOVE share the blob and so the thread; expunging every copy
   drops the blob's row but keeps the msg-id rows, so a late reply still
   joins the thread (its id is the same number). */
static void
test_threads_copy_expunge(void **state)
{
	struct fixture *f = *state;
	struct store_uid_range all = { 1, 100 };
	uint32_t *src = NULL, *dst = NULL;
	unsigned count;
	const char *error = NULL;
	uint64_t box, t;
	uint32_t uid;
	sqlite3 *db;

	assert_int_equal(store_mailbox_create(f->user, "Box",
					      STORE_SPECIAL_NONE, &box,
					      &error), 1);
	uid = save_keys(f, f->inbox, "p@x", NULL);
	t = thread_of(f, f->inbox, uid);
	assert_int_equal(store_messages_copy(f->user, f->inbox, &all, 1, box,
					     false, &src, &dst, &count,
					     &error), 1);
	assert_int_equal(count, 1);
	assert_true(thread_of(f, box, dst[0]) == t);
	free(src);
	free(dst);
	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, NULL,
				       &error), 1);
	assert_true(thread_of(f, box, 1) == t);
	assert_int_equal(store_expunge(f->user, box, &all, 1, NULL, &error),
			 1);
	close_all(f);
	db = raw_db(f);
	assert_int_equal(sqlite_query_int(db, "SELECT COUNT(*) FROM threads_blob"), 0);
	assert_int_equal(sqlite_query_int(db, "SELECT COUNT(*) FROM threads_msgid"), 1);
	sqlite3_close(db);
	open_all(f);
	uid = save_keys(f, box, "late@x", "p@x");
	assert_true(thread_of(f, box, uid) == t);
}

/* A store of version 5 with messages: after the upgrade they have no
   thread (NIL), and new ones are threaded; their ids were never
   recorded, so a reply to one starts a new thread. */
static void
test_threads_upgrade(void **state)
{
	struct fixture *f = *state;
	uint32_t old, reply, again;
	sqlite3 *db;

	old = save_keys(f, f->inbox, "old@x", NULL);
	close_all(f);
	db = raw_db(f);
	assert_int_equal(sqlite3_exec(db,
				      "DROP TRIGGER blobs_thread_delete;"
				      "DROP TABLE threads_blob;"
				      "DROP TABLE threads_msgid;"
				      "PRAGMA user_version = 5;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	open_all(f);
	assert_true(thread_of(f, f->inbox, old) == 0);
	reply = save_keys(f, f->inbox, "r@x", "old@x");
	assert_true(thread_of(f, f->inbox, reply) != 0);
	again = save_keys(f, f->inbox, "r2@x", "r@x old@x");
	assert_true(thread_of(f, f->inbox, again) ==
		    thread_of(f, f->inbox, reply));
	assert_true(thread_of(f, f->inbox, old) == 0);
	close_all(f);
	db = raw_db(f);
	assert_int_equal(sqlite_query_int(db, "PRAGMA user_version"), 8);
	sqlite3_close(db);
	/* Reopening an upgraded store changes nothing. */
	open_all(f);
	assert_true(thread_of(f, f->inbox, old) == 0);
	run_steps(f);
}

/* A store made at version 3 goes through every step. */
static void
test_threads_upgrade_from_3(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	close_all(f);
	db = raw_db(f);
	assert_int_equal(sqlite3_exec(db,
				      "DROP TRIGGER blobs_thread_delete;"
				      "DROP TABLE threads_blob;"
				      "DROP TABLE threads_msgid;"
				      "DROP TRIGGER blobs_fts_delete;"
				      "DROP TABLE fts;"
				      "DROP INDEX IF EXISTS blobs_fts_pending;"
				      "ALTER TABLE blobs DROP COLUMN fts;"
				      "DROP TABLE metadata;"
				      "PRAGMA user_version = 3;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	open_all(f);
	run_steps(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_objectid_thread),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_keys_cap),
		cmocka_unit_test_setup_teardown(test_threads_fresh, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads_copy_expunge,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_upgrade, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads_upgrade_from_3,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
