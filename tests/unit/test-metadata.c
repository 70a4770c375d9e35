/* Unit tests for METADATA in src/store (RFC 5464): the entry name rules,
   get/set with depth, limits, atomicity, RENAME and DELETE, and the schema
   step that adds the table, on a fresh store and on one of version 3. */
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

#include "lib/limits.h"
#include "store/store-private.h"
#include "store/store.h"

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
	strcpy(f->dir, "/tmp/quire-test-metadata-XXXXXX");
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

static void
db_path(struct fixture *f, char *path, size_t size)
{
	snprintf(path, size, "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
}

static int
db_version(struct fixture *f)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int version;

	db_path(f, path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1,
					    &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return version;
}

/* ---- entry names -------------------------------------------------------- */

struct name_case {
	const char *name;
	size_t len; /* 0: strlen(name) */
	bool for_set;
	const char *canon; /* NULL: invalid */
	const char *error; /* expected error for an invalid one */
};

static const struct name_case name_cases[] = {
	{ "/private/comment", 0, true, "/private/comment", NULL },
	{ "/shared/comment", 0, true, "/shared/comment", NULL },
	{ "/Private/Comment", 0, true, "/private/comment", NULL },
	{ "/SHARED/Vendor/Vendor.Quire/X", 0, true,
	  "/shared/vendor/vendor.quire/x", NULL },
	{ "/private/a b/\"q\"", 0, true, "/private/a b/\"q\"", NULL },
	{ "/private/gr\xc3\xbc\xc3\x9f" "e", 0, true,
	  "/private/gr\xc3\xbc\xc3\x9f" "e", NULL },
	{ "/private/vendor/x", 0, true, "/private/vendor/x", NULL },
	{ "/private/vendorx", 0, true, "/private/vendorx", NULL },
	/* The bare roots: a tree to read, not an entry to set. */
	{ "/private", 0, false, "/private", NULL },
	{ "/SHARED", 0, false, "/shared", NULL },
	{ "/private", 0, true, NULL,
	  "Entry name must name an entry below /private or /shared" },
	{ "/shared", 0, true, NULL,
	  "Entry name must name an entry below /private or /shared" },
	{ "/private/vendor", 0, false, "/private/vendor", NULL },
	{ "/private/vendor", 0, true, NULL,
	  "Vendor entry names need a vendor-token" },
	{ "/shared/VENDOR", 0, true, NULL,
	  "Vendor entry names need a vendor-token" },
	{ "", 0, false, NULL,
	  "Entry name must begin with /private or /shared" },
	{ "private/comment", 0, false, NULL,
	  "Entry name must begin with /private or /shared" },
	{ "/", 0, false, NULL, "Entry name must not end with /" },
	{ "/comment", 0, false, NULL,
	  "Entry name must begin with /private or /shared" },
	{ "/privatex/a", 0, false, NULL,
	  "Entry name must begin with /private or /shared" },
	{ "/priv", 0, false, NULL,
	  "Entry name must begin with /private or /shared" },
	{ "/private/", 0, false, NULL, "Entry name must not end with /" },
	{ "/private/a/", 0, true, NULL, "Entry name must not end with /" },
	{ "//private/a", 0, false, NULL, "Entry name must not contain //" },
	{ "/private//a", 0, false, NULL, "Entry name must not contain //" },
	{ "/private/a*", 0, false, NULL,
	  "Entry name must not contain * or %" },
	{ "/private/%", 0, false, NULL,
	  "Entry name must not contain * or %" },
	{ "/private/a\x01", 0, false, NULL,
	  "Entry name must not contain control characters" },
	{ "/private/a\x7f", 0, false, NULL,
	  "Entry name must not contain control characters" },
	{ "/private/a\0b", 12, false, NULL,
	  "Entry name must not contain control characters" },
	{ "/private/\xff", 0, false, NULL, "Entry name is not valid UTF-8" },
	{ "/private/\xc3", 0, false, NULL, "Entry name is not valid UTF-8" },
	{ "/private/\xc0\xaf", 0, false, NULL,
	  "Entry name is not valid UTF-8" },
};

static void
test_entry_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]);
	     i++) {
		const struct name_case *c = &name_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->name);
		const char *error = NULL;
		char *canon = (char *)"unset";
		bool ok = store_metadata_entry_canon((const uint8_t *)c->name,
						     len, c->for_set, &canon,
						     &error);
		if (c->canon != NULL) {
			if (!ok)
				fail_msg("case %zu '%s': %s", i, c->name,
					 error);
			assert_string_equal(canon, c->canon);
			free(canon);
		} else {
			if (ok)
				fail_msg("case %zu '%s' accepted", i, c->name);
			assert_null(canon);
			assert_string_equal(error, c->error);
		}
	}
}

static void
test_entry_name_length(void **state)
{
	char name[METADATA_MAX_ENTRY_NAME + 2];
	const char *error;
	char *canon;

	(void)state;
	memset(name, 'a', sizeof(name));
	memcpy(name, "/private/", 9);
	assert_true(store_metadata_entry_canon((const uint8_t *)name,
					       METADATA_MAX_ENTRY_NAME, true,
					       &canon, &error));
	free(canon);
	assert_false(store_metadata_entry_canon((const uint8_t *)name,
						METADATA_MAX_ENTRY_NAME + 1,
						true, &canon, &error));
	assert_string_equal(error, "Entry name too long");
}

/* ---- get / set ---------------------------------------------------------- */

static int
set1(struct fixture *f, uint64_t mailbox, const char *name,
     const char *value, enum store_metadata_refusal *refusal_r)
{
	struct store_metadata_change c = {
		.name = name,
		.value = (const uint8_t *)value,
		.size = value == NULL ? 0 : strlen(value),
	};
	const char *error = NULL;
	enum store_metadata_refusal refusal;

	int ret = store_metadata_set(f->user, mailbox, &c, 1, &refusal,
				     &error);
	if (refusal_r != NULL)
		*refusal_r = refusal;
	return ret;
}

/* Asserts the names (and values, "name=value") found under entry. */
static void
expect_get(struct fixture *f, uint64_t mailbox, const char *entry,
	   unsigned depth, const char *const *want, unsigned want_count)
{
	struct store_metadata_entry *e;
	unsigned count;
	const char *error = NULL;

	assert_int_equal(store_metadata_get(f->user, mailbox, entry, depth,
					    &e, &count, &error), 1);
	assert_int_equal(count, want_count);
	for (unsigned i = 0; i < count; i++) {
		char got[256];
		snprintf(got, sizeof(got), "%s=%.*s", e[i].name,
			 (int)e[i].size, (const char *)e[i].value);
		assert_string_equal(got, want[i]);
		assert_int_equal(e[i].value[e[i].size], '\0');
	}
	store_metadata_entries_free(&e, count);
	assert_null(e);
}

static void
test_get_set(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set1(f, f->inbox, "/private/a", "1", NULL), 1);
	assert_int_equal(set1(f, f->inbox, "/private/a/b", "2", NULL), 1);
	assert_int_equal(set1(f, f->inbox, "/private/a/b/c", "3", NULL), 1);
	assert_int_equal(set1(f, f->inbox, "/private/ab", "x", NULL), 1);
	assert_int_equal(set1(f, f->inbox, "/private/a.b", "y", NULL), 1);
	assert_int_equal(set1(f, f->inbox, "/shared/a", "s", NULL), 1);
	/* The server's entries are apart from INBOX's. */
	assert_int_equal(set1(f, 0, "/private/a", "server", NULL), 1);

	static const char *const d0[] = { "/private/a=1" };
	static const char *const d1[] = { "/private/a=1", "/private/a/b=2" };
	static const char *const dinf[] = { "/private/a=1", "/private/a/b=2",
					    "/private/a/b/c=3" };
	static const char *const all[] = { "/private/a=1", "/private/a.b=y",
					   "/private/a/b=2",
					   "/private/a/b/c=3",
					   "/private/ab=x" };
	static const char *const shared[] = { "/shared/a=s" };
	static const char *const server[] = { "/private/a=server" };
	expect_get(f, f->inbox, "/private/a", 0, d0, 1);
	expect_get(f, f->inbox, "/private/a", 1, d1, 2);
	expect_get(f, f->inbox, "/private/a", STORE_METADATA_DEPTH_INFINITY,
		   dinf, 3);
	expect_get(f, f->inbox, "/private", STORE_METADATA_DEPTH_INFINITY,
		   all, 5);
	expect_get(f, f->inbox, "/private", 0, NULL, 0);
	expect_get(f, f->inbox, "/shared", 1, shared, 1);
	expect_get(f, f->inbox, "/private/a/b/c/d",
		   STORE_METADATA_DEPTH_INFINITY, NULL, 0);
	expect_get(f, 0, "/private", STORE_METADATA_DEPTH_INFINITY, server,
		   1);

	/* Replace, remove, remove what is not there. */
	assert_int_equal(set1(f, f->inbox, "/private/a", "new", NULL), 1);
	static const char *const d0new[] = { "/private/a=new" };
	expect_get(f, f->inbox, "/private/a", 0, d0new, 1);
	assert_int_equal(set1(f, f->inbox, "/private/a", NULL, NULL), 1);
	expect_get(f, f->inbox, "/private/a", 0, NULL, 0);
	assert_int_equal(set1(f, f->inbox, "/private/none", NULL, NULL), 1);
	/* An empty value is a value. */
	assert_int_equal(set1(f, f->inbox, "/private/empty", "", NULL), 1);
	static const char *const empty[] = { "/private/empty=" };
	expect_get(f, f->inbox, "/private/empty", 0, empty, 1);

	/* Non-canonical names are the caller's bug. */
	const char *error;
	struct store_metadata_entry *e;
	unsigned count;
	assert_int_equal(set1(f, f->inbox, "/Private/a", "1", NULL), -1);
	assert_int_equal(set1(f, f->inbox, "/private", "1", NULL), -1);
	assert_int_equal(store_metadata_get(f->user, f->inbox, "/x", 0, &e,
					    &count, &error), -1);
	/* No such mailbox. */
	enum store_metadata_refusal refusal;
	assert_int_equal(set1(f, 9999, "/private/a", "1", &refusal), 0);
	assert_int_equal(refusal, STORE_METADATA_NO_MAILBOX);
	assert_int_equal(store_metadata_get(f->user, 9999, "/private/a", 0,
					    &e, &count, &error), 0);
	assert_null(e);
}

static void
test_binary_value(void **state)
{
	struct fixture *f = *state;
	uint8_t value[512];
	struct store_metadata_change c = { "/private/bin", value,
					   sizeof(value) };
	enum store_metadata_refusal refusal;
	struct store_metadata_entry *e;
	unsigned count;
	const char *error;

	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)i;
	assert_int_equal(store_metadata_set(f->user, f->inbox, &c, 1,
					    &refusal, &error), 1);
	assert_int_equal(store_metadata_get(f->user, f->inbox, "/private/bin",
					    0, &e, &count, &error), 1);
	assert_int_equal(count, 1);
	assert_int_equal(e[0].size, sizeof(value));
	assert_memory_equal(e[0].value, value, sizeof(value));
	store_metadata_entries_free(&e, count);
}

static void
test_limits(void **state)
{
	struct fixture *f = *state;
	enum store_metadata_refusal refusal;
	const char *error;
	static uint8_t big[METADATA_MAX_VALUE_SIZE + 1];
	char name[64];
	uint64_t box;

	/* Value size, checked before anything is written: the whole set
	   is refused. */
	struct store_metadata_change two[2] = {
		{ "/private/ok", (const uint8_t *)"1", 1 },
		{ "/private/big", big, sizeof(big) },
	};
	assert_int_equal(store_metadata_set(f->user, f->inbox, two, 2,
					    &refusal, &error), 0);
	assert_int_equal(refusal, STORE_METADATA_TOO_LARGE);
	expect_get(f, f->inbox, "/private/ok", 0, NULL, 0);
	two[1].size = METADATA_MAX_VALUE_SIZE;
	assert_int_equal(store_metadata_set(f->user, f->inbox, two, 2,
					    &refusal, &error), 1);
	/* Removing with NIL never counts as too large. */
	two[1].value = NULL;
	two[1].size = sizeof(big);
	assert_int_equal(store_metadata_set(f->user, f->inbox, &two[1], 1,
					    &refusal, &error), 1);

	/* Entries per mailbox. */
	assert_int_equal(store_mailbox_create(f->user, "many", 0, &box,
					      &error), 1);
	for (unsigned i = 0; i < METADATA_MAX_ENTRIES; i++) {
		snprintf(name, sizeof(name), "/shared/e%u", i);
		assert_int_equal(set1(f, box, name, "v", NULL), 1);
	}
	assert_int_equal(set1(f, box, "/private/more", "v", &refusal), 0);
	assert_int_equal(refusal, STORE_METADATA_TOO_MANY);
	expect_get(f, box, "/private/more", 0, NULL, 0);
	/* Replacing at the limit is fine, and so is one in and one out. */
	assert_int_equal(set1(f, box, "/shared/e0", "w", NULL), 1);
	struct store_metadata_change swap[2] = {
		{ "/private/more", (const uint8_t *)"v", 1 },
		{ "/shared/e1", NULL, 0 },
	};
	assert_int_equal(store_metadata_set(f->user, box, swap, 2, &refusal,
					    &error), 1);
	/* The server and other mailboxes count apart. */
	assert_int_equal(set1(f, 0, "/private/more", "v", NULL), 1);
	assert_int_equal(set1(f, f->inbox, "/private/more", "v", NULL), 1);

	/* Total size per user: fill mailboxes with values at the largest
	   size until the sum would pass the limit. */
	static uint8_t full[METADATA_MAX_VALUE_SIZE];
	memset(full, 'z', sizeof(full));
	unsigned n = 0;
	int ret;
	do {
		snprintf(name, sizeof(name), "/private/big%u", n++);
		struct store_metadata_change c = { name, full, sizeof(full) };
		ret = store_metadata_set(f->user, f->inbox, &c, 1, &refusal,
					 &error);
		assert_true(n < 2 * METADATA_MAX_USER_SIZE /
					METADATA_MAX_VALUE_SIZE);
	} while (ret == 1);
	assert_int_equal(ret, 0);
	assert_int_equal(refusal, STORE_METADATA_TOO_MANY);
	assert_true((uint64_t)(n - 1) * METADATA_MAX_VALUE_SIZE <=
		    METADATA_MAX_USER_SIZE);
	/* Shrinking is allowed over the limit too. */
	assert_int_equal(set1(f, f->inbox, "/private/big0", "small", NULL),
			 1);
}

static void
test_rename_delete(void **state)
{
	struct fixture *f = *state;
	const char *error;
	uint64_t parent, child, again;
	struct store_mailbox_info info;

	assert_int_equal(store_mailbox_create(f->user, "p", 0, &parent,
					      &error), 1);
	assert_int_equal(store_mailbox_create(f->user, "p/c", 0, &child,
					      &error), 1);
	assert_int_equal(set1(f, parent, "/private/comment", "P", NULL), 1);
	assert_int_equal(set1(f, child, "/shared/comment", "C", NULL), 1);
	assert_int_equal(store_mailbox_rename(f->user, "p", "q", &error), 1);
	assert_int_equal(store_mailbox_lookup(f->user, "q/c", &info, &error),
			 1);
	assert_int_equal(info.id, child);
	store_mailbox_info_free(&info);
	static const char *const c[] = { "/shared/comment=C" };
	expect_get(f, child, "/shared/comment", 0, c, 1);

	assert_int_equal(store_mailbox_delete(f->user, "q/c", &error), 1);
	enum store_metadata_refusal refusal;
	assert_int_equal(set1(f, child, "/shared/comment", "x", &refusal), 0);
	assert_int_equal(refusal, STORE_METADATA_NO_MAILBOX);
	/* The rows went with it (checked below the interface). */
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	db_path(f, path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM "
					    "metadata WHERE mailbox_id = ?",
					    -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)child);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);

	assert_int_equal(store_mailbox_create(f->user, "q/c", 0, &again,
					      &error), 1);
	expect_get(f, again, "/shared/comment", 0, NULL, 0);
	static const char *const p[] = { "/private/comment=P" };
	expect_get(f, parent, "/private/comment", 0, p, 1);
}

/* ---- schema ---------------------------------------------------------- */

static void
test_fresh_schema(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set1(f, f->inbox, "/private/x", "1", NULL), 1);
	close_all(f);
	assert_int_equal(db_version(f), 8);
	open_all(f);
	static const char *const want[] = { "/private/x=1" };
	expect_get(f, f->inbox, "/private/x", 0, want, 1);
}

/* A database of version 3 (before the full-text index and metadata)
   is taken through both steps and then holds entries. */
static void
test_upgrade_from_3(void **state)
{
	struct fixture *f = *state;
	const char *error;
	uint64_t box;
	char path[512];
	sqlite3 *db;

	assert_int_equal(store_mailbox_create(f->user, "kept", 0, &box,
					      &error), 1);
	close_all(f);
	db_path(f, path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "DROP TABLE metadata;"
				      "DROP TRIGGER blobs_fts_delete;"
				      "DROP TABLE fts;"
				      "DROP INDEX IF EXISTS blobs_fts_pending;"
				      "ALTER TABLE blobs DROP COLUMN fts;"
				      "PRAGMA user_version = 3;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	open_all(f);
	assert_int_equal(set1(f, box, "/shared/comment", "after", NULL), 1);
	static const char *const want[] = { "/shared/comment=after" };
	expect_get(f, box, "/shared/comment", 0, want, 1);
	close_all(f);
	assert_int_equal(db_version(f), 8);
	/* Reopening an upgraded store changes nothing. */
	open_all(f);
	expect_get(f, box, "/shared/comment", 0, want, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_names),
		cmocka_unit_test(test_entry_name_length),
		cmocka_unit_test_setup_teardown(test_get_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_value, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_delete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fresh_schema, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_3, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
