/* Unit tests for quotas: the size parser, the [quota] configuration keys,
   the passwd-file fields, the limit check, and the store's usage counters
   and enforcement (including two handles saving at once, as quired and
   `quire deliver` would). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth/passdb.h"
#include "auth/quota.h"
#include "lib/config.h"
#include "lib/strnum.h"
#include "lmtp/deliver.h"
#include "store/store-private.h"
#include "store/store.h"

#define KB 1024ULL
#define MB (1024ULL * 1024)
#define GB (1024ULL * 1024 * 1024)
#define TB (1024ULL * 1024 * 1024 * 1024)

/* ---- the size parser --------------------------------------------------- */

static void
test_size_parse(void **state)
{
	static const struct {
		const char *in;
		uint64_t max;
		int ret;
		uint64_t want;
	} cases[] = {
		{ "0", UINT64_MAX, 0, 0 },
		{ "1", UINT64_MAX, 0, 1 },
		{ "1024", UINT64_MAX, 0, 1024 },
		{ "1k", UINT64_MAX, 0, KB },
		{ "1K", UINT64_MAX, 0, KB },
		{ "500M", UINT64_MAX, 0, 500 * MB },
		{ "1g", UINT64_MAX, 0, GB },
		{ "2T", UINT64_MAX, 0, 2 * TB },
		{ "0G", UINT64_MAX, 0, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "16777215T", UINT64_MAX, 0, 16777215ULL * TB },
		/* overflow, with and without a unit */
		{ "18446744073709551616", UINT64_MAX, -1, 0 },
		{ "16777216T", UINT64_MAX, -1, 0 },
		{ "17179869184G", UINT64_MAX, -1, 0 },
		/* max applies after the unit */
		{ "1K", 1023, -1, 0 },
		{ "1K", 1024, 0, KB },
		/* junk */
		{ "", UINT64_MAX, -1, 0 },
		{ "K", UINT64_MAX, -1, 0 },
		{ "1KB", UINT64_MAX, -1, 0 },
		{ "1 K", UINT64_MAX, -1, 0 },
		{ " 1", UINT64_MAX, -1, 0 },
		{ "-1", UINT64_MAX, -1, 0 },
		{ "+1", UINT64_MAX, -1, 0 },
		{ "1.5G", UINT64_MAX, -1, 0 },
		{ "1X", UINT64_MAX, -1, 0 },
		{ "0x10", UINT64_MAX, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t n = 12345;
		int ret = str_to_size(cases[i].in, strlen(cases[i].in),
				      cases[i].max, &n);
		if (ret != cases[i].ret)
			fail_msg("case %zu '%s': ret %d", i, cases[i].in, ret);
		if (ret == 0 && n != cases[i].want)
			fail_msg("case %zu '%s': got %llu", i, cases[i].in,
				 (unsigned long long)n);
		if (ret < 0)
			assert_int_equal(n, 12345); /* untouched */
	}
	/* Not NUL-terminated: only len bytes count. */
	uint64_t n;
	assert_int_equal(str_to_size("10Mxyz", 3, UINT64_MAX, &n), 0);
	assert_int_equal(n, 10 * MB);
}

/* ---- configuration ----------------------------------------------------- */

static int
load_config(const char *text, struct quire_config *cfg, char **err)
{
	char path[] = "/tmp/quire-test-quota-cfg-XXXXXX";
	int fd = mkstemp(path);
	int ret;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_init_defaults(cfg);
	ret = config_load(cfg, path, NULL, 0, err);
	unlink(path);
	return ret;
}

static void
test_config(void **state)
{
	struct quire_config cfg;
	char *err = NULL;

	/* Absent: no limits. */
	config_init_defaults(&cfg);
	assert_int_equal(config_load(&cfg, NULL, NULL, 0, &err), 0);
	assert_int_equal(cfg.quota_storage, 0);
	assert_int_equal(cfg.quota_messages, 0);
	config_free(&cfg);

	assert_int_equal(load_config("[quota]\nstorage = 1G\n"
				     "messages = 100000\n", &cfg, &err), 0);
	assert_int_equal(cfg.quota_storage, GB);
	assert_int_equal(cfg.quota_messages, 100000);
	config_free(&cfg);

	assert_int_equal(load_config("[quota]\nstorage = 0\nmessages = 0\n",
				     &cfg, &err), 0);
	assert_int_equal(cfg.quota_storage, 0);
	assert_int_equal(cfg.quota_messages, 0);
	config_free(&cfg);

	static const struct {
		const char *text;
		const char *want; /* in the error, after the path */
	} bad[] = {
		{ "[quota]\nstorage = 1GB\n", ":2: [quota] storage = '1GB'" },
		{ "[quota]\n\nstorage = -5\n", ":3: [quota] storage = '-5'" },
		{ "[quota]\nmessages = 10K\n", ":2: [quota] messages = '10K'" },
		{ "[quota]\nmessages = lots\n",
		  ":2: [quota] messages = 'lots'" },
		{ "[quota]\nmailboxes = 5\n", ":2: unknown key 'mailboxes'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(load_config(bad[i].text, &cfg, &err), -1);
		assert_non_null(err);
		if (strstr(err, bad[i].want) == NULL)
			fail_msg("case %zu: error '%s'", i, err);
		free(err);
		config_free(&cfg);
	}

	/* -o works too. */
	const char *ov[] = { "quota.storage=64M", "quota.messages=7" };
	config_init_defaults(&cfg);
	assert_int_equal(config_load(&cfg, NULL, ov, 2, &err), 0);
	assert_int_equal(cfg.quota_storage, 64 * MB);
	assert_int_equal(cfg.quota_messages, 7);
	config_free(&cfg);
}

/* ---- passwd-file fields ------------------------------------------------ */

static void
test_user_limits(void **state)
{
	static const struct {
		const char *extra; /* "key=value key=value" */
		int ret;
		uint64_t storage, messages;
	} cases[] = {
		/* defaults are storage 1G, messages 1000 */
		{ "", 0, GB, 1000 },
		{ "userdb_quota_storage=500M", 0, 500 * MB, 1000 },
		{ "userdb_quota_messages=5000", 0, GB, 5000 },
		{ "userdb_quota_storage=0 userdb_quota_messages=0", 0, 0, 0 },
		{ "userdb_quota_storage=123", 0, 123, 1000 },
		/* Dovecot's form: storage= without a unit is KiB */
		{ "userdb_quota_rule=*:storage=1G", 0, GB, 1000 },
		{ "userdb_quota_rule=*:storage=1024", 0, MB, 1000 },
		{ "userdb_quota_rule=*:bytes=1024", 0, 1024, 1000 },
		{ "userdb_quota_rule=*:messages=10", 0, GB, 10 },
		/* the last field for a resource wins */
		{ "userdb_quota_rule=*:storage=1M userdb_quota_storage=2M", 0,
		  2 * MB, 1000 },
		{ "userdb_quota_storage=2M userdb_quota_rule=*:storage=1M", 0,
		  MB, 1000 },
		/* unrelated fields are ignored */
		{ "userdb_home=/x nopassword", 0, GB, 1000 },
		/* errors keep the defaults */
		{ "userdb_quota_storage=lots", -1, GB, 1000 },
		{ "userdb_quota_storage=", -1, GB, 1000 },
		{ "userdb_quota_messages=1K", -1, GB, 1000 },
		{ "userdb_quota_rule=Trash:storage=1M", -1, GB, 1000 },
		{ "userdb_quota_rule=*:storage=+10M", -1, GB, 1000 },
		{ "userdb_quota_rule=*:storage=10%", -1, GB, 1000 },
		{ "userdb_quota_rule=*:ignore", -1, GB, 1000 },
		{ "userdb_quota_rule=*:mailboxes=3", -1, GB, 1000 },
		{ "userdb_quota_rule=*:storage=99999999999999999999", -1, GB,
		  1000 },
		{ "userdb_quota_messages=1 userdb_quota_storage=x", -1, GB,
		  1000 },
	};
	const struct store_quota defaults = { .storage = GB, .messages = 1000 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct passdb_extra_field fields[8];
		struct passdb_user user = { .extra = fields };
		char *copy = strdup(cases[i].extra), *save = NULL, *tok;
		struct store_quota q;
		const char *error = NULL;

		for (tok = strtok_r(copy, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');
			assert_true(user.extra_count < 8);
			fields[user.extra_count].key = tok;
			fields[user.extra_count].value = eq != NULL ? eq + 1 :
								      "";
			if (eq != NULL)
				*eq = '\0';
			user.extra_count++;
		}
		int ret = quota_user_limits(&user, &defaults, &q, &error);
		if (ret != cases[i].ret)
			fail_msg("case %zu '%s': ret %d", i, cases[i].extra,
				 ret);
		if (ret < 0)
			assert_non_null(error);
		if (q.storage != cases[i].storage ||
		    q.messages != cases[i].messages)
			fail_msg("case %zu '%s': got %llu/%llu", i,
				 cases[i].extra,
				 (unsigned long long)q.storage,
				 (unsigned long long)q.messages);
		free(copy);
	}
}

/* The fields come through a real passwd-file too. */
static void
test_user_limits_passdb(void **state)
{
	char path[] = "/tmp/quire-test-quota-passwd-XXXXXX";
	int fd = mkstemp(path);
	const char *text =
		"ann:{PLAIN}x::::::userdb_quota_storage=500M "
		"userdb_quota_messages=5000\n"
		"bob:{PLAIN}x::::::userdb_quota_rule=*:storage=2G\n"
		"cat:{PLAIN}x\n";
	const struct store_quota defaults = { .storage = GB, .messages = 0 };
	struct passdb *db;
	struct passdb_user *pu;
	struct store_quota q;
	const char *error;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	db = passdb_create(path);
	assert_int_equal(passdb_lookup(db, "ann", &pu, &error), 1);
	assert_int_equal(quota_user_limits(pu, &defaults, &q, &error), 0);
	assert_int_equal(q.storage, 500 * MB);
	assert_int_equal(q.messages, 5000);
	passdb_user_free(&pu);
	assert_int_equal(passdb_lookup(db, "bob", &pu, &error), 1);
	assert_int_equal(quota_user_limits(pu, &defaults, &q, &error), 0);
	assert_int_equal(q.storage, 2 * GB);
	assert_int_equal(q.messages, 0);
	passdb_user_free(&pu);
	assert_int_equal(passdb_lookup(db, "cat", &pu, &error), 1);
	assert_int_equal(quota_user_limits(pu, &defaults, &q, &error), 0);
	assert_int_equal(q.storage, GB);
	passdb_user_free(&pu);
	passdb_destroy(&db);
	unlink(path);
}

/* ---- the check --------------------------------------------------------- */

static void
test_allows(void **state)
{
	static const struct {
		struct store_quota quota;
		struct store_quota_usage usage;
		uint64_t add_messages, add_bytes;
		bool want;
	} cases[] = {
		/* no limits */
		{ { 0, 0 }, { UINT64_MAX, UINT64_MAX }, 1, UINT64_MAX, true },
		/* storage: reaching the limit is fine, passing it is not */
		{ { 100, 0 }, { 0, 0 }, 1, 100, true },
		{ { 100, 0 }, { 0, 0 }, 1, 101, false },
		{ { 100, 0 }, { 60, 5 }, 1, 40, true },
		{ { 100, 0 }, { 60, 5 }, 1, 41, false },
		{ { 100, 0 }, { 100, 5 }, 1, 0, true },
		{ { 100, 0 }, { 100, 5 }, 1, 1, false },
		/* usage above a lowered limit: nothing more */
		{ { 100, 0 }, { 150, 5 }, 1, 0, false },
		{ { 100, 0 }, { 150, 5 }, 0, 0, false },
		/* huge additions do not wrap */
		{ { 100, 0 }, { 10, 0 }, 1, UINT64_MAX, false },
		{ { UINT64_MAX, 0 }, { UINT64_MAX - 5, 0 }, 1, 5, true },
		{ { UINT64_MAX, 0 }, { UINT64_MAX - 5, 0 }, 1, 6, false },
		/* messages */
		{ { 0, 3 }, { 0, 2 }, 1, 1000, true },
		{ { 0, 3 }, { 0, 3 }, 1, 0, false },
		{ { 0, 3 }, { 0, 0 }, 3, 0, true },
		{ { 0, 3 }, { 0, 1 }, 3, 0, false },
		{ { 0, 3 }, { 0, 0 }, UINT64_MAX, 0, false },
		/* both: either one refuses */
		{ { 100, 3 }, { 50, 2 }, 1, 50, true },
		{ { 100, 3 }, { 50, 3 }, 1, 1, false },
		{ { 100, 3 }, { 50, 1 }, 1, 51, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = store_quota_allows(&cases[i].quota, &cases[i].usage,
					      cases[i].add_messages,
					      cases[i].add_bytes);
		if (got != cases[i].want)
			fail_msg("case %zu: got %d", i, got);
	}
}

/* ---- the store --------------------------------------------------------- */

struct fixture {
	char dir[64];
	struct store *store;
	struct store_user *user;
	uint64_t inbox;
	bool exclusive; /* store_settings.exclusive */
};

static void
open_store(struct fixture *f, struct store **store_r)
{
	struct store_settings set = { .data_dir = f->dir,
				      .exclusive = f->exclusive };
	const char *error = NULL;

	assert_int_equal(store_open(&set, store_r, &error), 0);
}

static void
open_user(struct fixture *f)
{
	struct store_mailbox_info info;
	const char *error = NULL;

	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_int_equal(store_mailbox_lookup(f->user, "INBOX", &info,
					      &error), 1);
	f->inbox = info.id;
	store_mailbox_info_free(&info);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->exclusive = *state != NULL;
	strcpy(f->dir, "/tmp/quire-test-quota-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	open_store(f, &f->store);
	open_user(f);
	*state = f;
	return 0;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_user_unref(&f->user);
	store_close(&f->store);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Saves size bytes; returns what store_save_commit returned. */
static int
save_size(struct store_user *user, uint64_t mailbox, size_t size,
	  uint32_t *uid_r)
{
	struct store_save *save;
	const char *error;
	char *buf = malloc(size + 1);

	memset(buf, 'x', size);
	assert_int_equal(store_save_begin(user, mailbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, buf, size, &error), 0);
	free(buf);
	return store_save_commit(&save, uid_r, &error);
}

static void
expect_usage(struct store_user *user, uint64_t messages, uint64_t storage)
{
	struct store_quota_usage u;
	const char *error;

	assert_int_equal(store_quota_usage(user, &u, &error), 0);
	if (u.messages != messages || u.storage != storage)
		fail_msg("usage %llu messages %llu bytes, expected %llu %llu",
			 (unsigned long long)u.messages,
			 (unsigned long long)u.storage,
			 (unsigned long long)messages,
			 (unsigned long long)storage);
}

static sqlite3 *
raw_db(struct fixture *f)
{
	char path[512];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
			 SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* The stored counters agree with a fresh count of the messages table. */
static void
expect_counters_exact(struct fixture *f)
{
	sqlite3 *db = raw_db(f);
	int64_t n = raw_int(db, "SELECT value FROM meta WHERE key = "
				"'quota_messages'");
	int64_t b = raw_int(db, "SELECT value FROM meta WHERE key = "
				"'quota_storage'");

	assert_int_equal(n, raw_int(db, "SELECT COUNT(*) FROM messages"));
	assert_int_equal(b, raw_int(db, "SELECT COALESCE(SUM(size), 0) "
					"FROM messages"));
	sqlite3_close(db);
}

static void
test_store_usage(void **state)
{
	struct fixture *f = *state;
	const struct store_quota big = { .storage = GB, .messages = 1000 };
	struct store_mailbox_status st;
	const char *error;
	uint64_t box;
	uint32_t uid, *src = NULL, *dst = NULL;
	unsigned count;

	/* Counted from the table while nothing set a limit yet. */
	expect_usage(f->user, 0, 0);
	assert_int_equal(save_size(f->user, f->inbox, 100, &uid), 0);
	expect_usage(f->user, 1, 100);
	/* A limit makes the next commit store the counters. */
	store_user_set_quota(f->user, &big);
	assert_int_equal(save_size(f->user, f->inbox, 200, &uid), 0);
	assert_int_equal(save_size(f->user, f->inbox, 300, &uid), 0);
	expect_usage(f->user, 3, 600);
	expect_counters_exact(f);

	/* COPY counts again, MOVE changes nothing. */
	assert_int_equal(store_mailbox_create(f->user, "Box", 0, &box,
					      &error), 1);
	struct store_uid_range all = { 1, 3 };
	assert_int_equal(store_messages_copy(f->user, f->inbox, &all, 1, box,
					     false, &src, &dst, &count,
					     &error), 1);
	free(src);
	free(dst);
	expect_usage(f->user, 6, 1200);
	struct store_uid_range two = { 2, 2 };
	assert_int_equal(store_messages_copy(f->user, f->inbox, &two, 1, box,
					     true, &src, &dst, &count,
					     &error), 1);
	free(src);
	free(dst);
	expect_usage(f->user, 6, 1200);
	expect_counters_exact(f);

	/* DELETED-STORAGE counts \Deleted messages' sizes. */
	struct store_uid_range one = { 1, 1 };
	assert_int_equal(store_flags_update(f->user, f->inbox, &one, 1,
					    STORE_FLAGS_ADD,
					    STORE_FLAG_DELETED, NULL, 0, 0,
					    NULL, &error), 1);
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.deleted_size, 100);

	/* EXPUNGE and DELETE give it back. */
	unsigned expunged;
	assert_int_equal(store_expunge(f->user, f->inbox, &one, 1, &expunged,
				       &error), 1);
	assert_int_equal(expunged, 1);
	expect_usage(f->user, 5, 1100);
	assert_int_equal(store_mailbox_delete(f->user, "Box", &error), 1);
	expect_usage(f->user, 1, 300);
	expect_counters_exact(f);

	/* The startup check drops the counters; the next use recounts. */
	struct store_check_result cr;
	store_user_unref(&f->user);
	assert_int_equal(store_check(f->store, &cr, &error), 0);
	open_user(f);
	sqlite3 *db = raw_db(f);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM meta WHERE key "
				     "LIKE 'quota_%'"), 0);
	/* A wrong counter (an older version wrote without it) is fixed by
	   the check too. */
	sqlite3_close(db);
	expect_usage(f->user, 1, 300);
	store_user_set_quota(f->user, &big);
	assert_int_equal(save_size(f->user, f->inbox, 10, &uid), 0);
	expect_counters_exact(f);
}

/* With exclusive locking the store remembers that no counters exist and
   skips their update; they must still be kept once a limit made them,
   and after the startup check dropped them. */
static void
test_store_usage_exclusive(void **state)
{
	struct fixture *f = *state;
	const struct store_quota big = { .storage = GB, .messages = 1000 };
	const struct store_quota none = { 0 };
	const char *error;
	uint32_t uid;
	unsigned expunged;

	assert_true(f->exclusive);
	assert_int_equal(save_size(f->user, f->inbox, 100, &uid), 0);
	assert_int_equal(save_size(f->user, f->inbox, 200, &uid), 0);
	expect_usage(f->user, 2, 300);
	store_user_set_quota(f->user, &big);
	assert_int_equal(save_size(f->user, f->inbox, 300, &uid), 0);
	expect_usage(f->user, 3, 600);
	/* no limit now, but the counters exist and follow every change */
	store_user_set_quota(f->user, &none);
	struct store_uid_range one = { 1, 1 };
	assert_int_equal(store_expunge(f->user, f->inbox, &one, 1, &expunged,
				       &error), 1);
	assert_int_equal(save_size(f->user, f->inbox, 50, &uid), 0);
	expect_usage(f->user, 3, 550);

	struct store_check_result cr;
	store_user_unref(&f->user);
	assert_int_equal(store_check(f->store, &cr, &error), 0);
	open_user(f);
	assert_int_equal(save_size(f->user, f->inbox, 7, &uid), 0);
	expect_usage(f->user, 4, 557);
	store_user_set_quota(f->user, &big);
	assert_int_equal(save_size(f->user, f->inbox, 3, &uid), 0);
	struct store_uid_range two = { 2, 2 };
	assert_int_equal(store_expunge(f->user, f->inbox, &two, 1, &expunged,
				       &error), 1);
	expect_usage(f->user, 4, 360);
	store_user_unref(&f->user);
	store_close(&f->store);
	expect_counters_exact(f);
	open_store(f, &f->store);
	open_user(f);
}

static void
test_store_limits(void **state)
{
	struct fixture *f = *state;
	struct store_quota q = { .storage = 0, .messages = 2 };
	struct store_mailbox_status st;
	const char *error;
	uint32_t uid;

	store_user_set_quota(f->user, &q);
	struct store_quota got;
	store_user_get_quota(f->user, &got);
	assert_int_equal(got.messages, 2);
	assert_int_equal(save_size(f->user, f->inbox, 10, &uid), 0);
	assert_int_equal(save_size(f->user, f->inbox, 10, &uid), 0);
	assert_int_equal(save_size(f->user, f->inbox, 10, &uid), -1);
	assert_true(store_error_is_overquota());
	/* Nothing of it remains: no row, no UID used. */
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.uidnext, 3);
	/* Another error clears the mark. */
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_lookup(f->user, "", &info, &error), -1);
	assert_false(store_error_is_overquota());

	/* COPY over the message limit fails whole; MOVE is fine. */
	uint64_t box;
	uint32_t *src = NULL, *dst = NULL;
	unsigned count = 99;
	struct store_uid_range all = { 1, 2 };
	assert_int_equal(store_mailbox_create(f->user, "Box", 0, &box,
					      &error), 1);
	assert_int_equal(store_messages_copy(f->user, f->inbox, &all, 1, box,
					     false, &src, &dst, &count,
					     &error), -1);
	assert_true(store_error_is_overquota());
	assert_null(src);
	assert_int_equal(count, 0);
	assert_int_equal(store_mailbox_status(f->user, box, &st, &error), 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(store_messages_copy(f->user, f->inbox, &all, 1, box,
					     true, &src, &dst, &count,
					     &error), 1);
	assert_int_equal(count, 2);
	free(src);
	free(dst);
	expect_usage(f->user, 2, 20);

	/* Storage: the limit may be reached exactly, not passed. */
	q.messages = 0;
	q.storage = 100;
	store_user_set_quota(f->user, &q);
	assert_int_equal(save_size(f->user, f->inbox, 81, &uid), -1);
	assert_true(store_error_is_overquota());
	assert_int_equal(save_size(f->user, f->inbox, 80, &uid), 0);
	assert_int_equal(save_size(f->user, f->inbox, 1, &uid), -1);
	assert_true(store_error_is_overquota());
	/* Empty messages still fit while usage is at the limit. */
	assert_int_equal(save_size(f->user, f->inbox, 0, &uid), 0);
	expect_usage(f->user, 4, 100);
	/* Lowering the limit under usage refuses even an empty copy. */
	q.storage = 50;
	store_user_set_quota(f->user, &q);
	struct store_uid_range last = { uid, uid };
	assert_int_equal(store_messages_copy(f->user, f->inbox, &last, 1, box,
					     false, &src, &dst, &count,
					     &error), -1);
	assert_true(store_error_is_overquota());
	/* No limit: anything goes. */
	q.storage = 0;
	store_user_set_quota(f->user, &q);
	assert_int_equal(save_size(f->user, f->inbox, 1000, &uid), 0);
	expect_usage(f->user, 5, 1100);
	expect_counters_exact(f);
}

/* Saves queued together commit in one transaction: the check runs per
   save, against the usage the earlier saves of the batch left. */
static void
test_store_group_commit(void **state)
{
	struct fixture *f = *state;
	const struct store_quota q = { .storage = 0, .messages = 2 };
	struct store_save *saves[3];
	const char *error;

	store_user_set_quota(f->user, &q);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_save_begin(f->user, f->inbox, &saves[i],
						  &error), 0);
		assert_int_equal(store_save_write(saves[i], "m\r\n", 3,
						  &error), 0);
		assert_int_equal(f->store->backend->save_finish(saves[i],
								&error), 0);
	}
	store_user_lock(f->user);
	f->store->backend->save_commit_batch(saves, 3);
	f->store->backend->call_end(f->user);
	store_user_unlock(f->user);
	assert_int_equal(saves[0]->commit_ret, 0);
	assert_int_equal(saves[1]->commit_ret, 0);
	assert_int_equal(saves[2]->commit_ret, -1);
	assert_true(saves[2]->commit_overquota);
	assert_false(saves[0]->commit_overquota);
	for (int i = 0; i < 3; i++)
		f->store->backend->save_abort(saves[i]);
	/* The contexts are freed by the front normally; here by hand. */
	for (int i = 0; i < 3; i++) {
		store_user_unref(&saves[i]->user);
		free(saves[i]);
	}
	expect_usage(f->user, 2, 6);
	expect_counters_exact(f);
}

struct saver {
	struct fixture *f;
	struct store *store; /* its own handle: another process */
	unsigned tries, saved, refused;
};

static void *
saver_thread(void *p)
{
	struct saver *s = p;
	const struct store_quota q = { .storage = 0, .messages = 25 };
	struct store_user *user;
	const char *error;

	assert_int_equal(store_user_get(s->store, "alice", &user, &error),
			 0);
	store_user_set_quota(user, &q);
	for (unsigned i = 0; i < s->tries; i++) {
		uint32_t uid;
		if (save_size(user, s->f->inbox, 16, &uid) == 0)
			s->saved++;
		else if (store_error_is_overquota())
			s->refused++;
	}
	store_user_unref(&user);
	return NULL;
}

/* Two handles (as quired and `quire deliver` are two processes) save at
   once: exactly the limit gets in. */
static void
test_store_concurrent(void **state)
{
	struct fixture *f = *state;
	struct saver s[2] = { { .f = f, .tries = 20 }, { .f = f, .tries = 20 } };
	pthread_t t[2];

	for (int i = 0; i < 2; i++) {
		open_store(f, &s[i].store);
		assert_int_equal(pthread_create(&t[i], NULL, saver_thread,
						&s[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		store_close(&s[i].store);
	}
	assert_int_equal(s[0].saved + s[1].saved, 25);
	assert_int_equal(s[0].refused + s[1].refused, 15);
	expect_usage(f->user, 25, 25 * 16);
	expect_counters_exact(f);
}

/* A version 3 store made before quotas (no counter rows, messages
   present) is counted on first use; the schema version is unchanged. */
static void
test_store_upgrade_v3(void **state)
{
	struct fixture *f = *state;
	const struct store_quota q = { .storage = 0, .messages = 3 };
	uint32_t uid;
	sqlite3 *db;

	for (int i = 0; i < 3; i++)
		assert_int_equal(save_size(f->user, f->inbox, 5, &uid), 0);
	store_user_unref(&f->user);
	store_close(&f->store);
	db = raw_db(f);
	int64_t version = raw_int(db, "PRAGMA user_version");
	assert_true(version >= 3);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE "
					  "'quota_%'", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	open_store(f, &f->store);
	open_user(f);
	expect_usage(f->user, 3, 15);
	store_user_set_quota(f->user, &q);
	assert_int_equal(save_size(f->user, f->inbox, 5, &uid), -1);
	assert_true(store_error_is_overquota());
	expect_counters_exact(f);
	db = raw_db(f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), version);
	sqlite3_close(db);
}

/* deliver_message_quota(): the [quota] defaults and the passwd-file
   fields reach the store at delivery; over quota is its own answer and
   stores nothing. */
static void
test_deliver(void **state)
{
	struct fixture *f = *state;
	char passwd[128], spool_dir[128];
	const struct store_quota defaults = { .storage = 0, .messages = 2 };
	struct store_mailbox_status st;
	struct passdb *db;
	struct spool *spool;
	const char *error;
	uint32_t uid;
	FILE *fp;

	snprintf(passwd, sizeof(passwd), "%s/passwd", f->dir);
	snprintf(spool_dir, sizeof(spool_dir), "%s/tmp", f->dir);
	fp = fopen(passwd, "w");
	assert_non_null(fp);
	fputs("alice:{PLAIN}x\n"
	      "bob:{PLAIN}x::::::userdb_quota_storage=10\n", fp);
	fclose(fp);
	db = passdb_create(passwd);
	assert_int_equal(spool_create(spool_dir, &spool, &error), 0);
	assert_int_equal(spool_append(spool, "body\r\n", 6, &error), 0);
	assert_int_equal(spool_finish(spool, &error), 0);

	for (int i = 0; i < 2; i++)
		assert_int_equal(deliver_message_quota(f->store, db, &defaults,
						       "alice", NULL, NULL, 0,
						       spool_get_fd(spool), 6,
						       &uid, &error), 1);
	assert_int_equal(deliver_message_quota(f->store, db, &defaults,
					       "alice", NULL, NULL, 0,
					       spool_get_fd(spool), 6, &uid,
					       &error), DELIVER_OVERQUOTA);
	assert_non_null(error);
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 2);
	/* Without defaults, alice has no limit. */
	assert_int_equal(deliver_message(f->store, db, "alice", NULL, NULL, 0,
					 spool_get_fd(spool), 6, &uid, &error),
			 1);

	/* bob's line allows 10 bytes: one 6-byte message, not a prefix
	   that makes it 12, and not a second one. */
	assert_int_equal(deliver_message_quota(f->store, db, &defaults, "bob",
					       NULL, "X: y\r\n", 6,
					       spool_get_fd(spool), 6, &uid,
					       &error), DELIVER_OVERQUOTA);
	assert_int_equal(deliver_message_quota(f->store, db, &defaults, "bob",
					       NULL, NULL, 0,
					       spool_get_fd(spool), 6, &uid,
					       &error), 1);
	assert_int_equal(deliver_message_quota(f->store, db, &defaults, "bob",
					       NULL, NULL, 0,
					       spool_get_fd(spool), 6, &uid,
					       &error), DELIVER_OVERQUOTA);
	assert_int_equal(deliver_message_quota(f->store, db, &defaults,
					       "nobody", NULL, NULL, 0,
					       spool_get_fd(spool), 6, &uid,
					       &error), 0);
	spool_destroy(&spool);
	passdb_destroy(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_user_limits),
		cmocka_unit_test(test_user_limits_passdb),
		cmocka_unit_test(test_allows),
		cmocka_unit_test_setup_teardown(test_store_usage, setup,
						teardown),
		cmocka_unit_test_prestate_setup_teardown(
			test_store_usage_exclusive, setup, teardown, ""),
		cmocka_unit_test_setup_teardown(test_store_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_group_commit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_upgrade_v3, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
