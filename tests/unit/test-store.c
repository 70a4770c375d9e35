/* Unit tests for src/store: each test runs on a fresh temp data_dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/limits.h"
#include "store/store-private.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	time_t now;
	struct store *store;
	struct store_user *user;
	uint64_t inbox;
};

static time_t
test_clock(void *context)
{
	return ((struct fixture *)context)->now;
}

static void
open_store(struct fixture *f, struct store **store_r)
{
	struct store_settings set = {
		.data_dir = f->dir,
		.clock = test_clock,
		.clock_context = f,
	};
	const char *error = NULL;
	assert_int_equal(store_open(&set, store_r, &error), 0);
}

static void
open_user(struct fixture *f)
{
	const char *error = NULL;
	struct store_mailbox_info info;

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
	strcpy(f->dir, "/tmp/quire-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->now = 1700000000;
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

/* Files under <user>/<sub>, two levels deep. */
static unsigned
count_files(struct fixture *f, const char *sub)
{
	char path[512];
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/users/%02x/alice/%s", f->dir,
		 store_name_hash("alice") & 0xff, sub);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char p2[1024];
		struct stat st;
		snprintf(p2, sizeof(p2), "%s/%s", path, e->d_name);
		if (stat(p2, &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d2 = opendir(p2);
			struct dirent *e2;
			while (d2 != NULL && (e2 = readdir(d2)) != NULL) {
				if (e2->d_name[0] != '.')
					n++;
			}
			if (d2 != NULL)
				closedir(d2);
		} else {
			n++;
		}
	}
	closedir(d);
	return n;
}

static uint32_t
save_msg(struct store_user *user, uint64_t mailbox, const char *text)
{
	struct store_save *save;
	const char *error = NULL;
	uint32_t uid = 0;

	assert_int_equal(store_save_begin(user, mailbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, text, strlen(text), &error),
			 0);
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	assert_null(save);
	assert_true(uid > 0);
	return uid;
}

static char *
read_fd(int fd, uint64_t size)
{
	char *buf = calloc(1, size + 1);
	assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
	close(fd);
	return buf;
}

static char *
read_msg(struct fixture *f, uint64_t mailbox, uint32_t uid)
{
	const char *error;
	uint64_t size;
	int fd;

	assert_int_equal(store_message_open(f->user, mailbox, uid, &fd, &size,
					    &error), 1);
	return read_fd(fd, size);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_roundtrip(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_save *save;
	uint32_t uid;

	/* A message written in odd chunks, with every byte value. */
	char body[3000];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7);
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	for (size_t off = 0; off < sizeof(body);) {
		size_t n = (off % 5) + 1 + off / 100;
		if (n > sizeof(body) - off)
			n = sizeof(body) - off;
		assert_int_equal(store_save_write(save, body + off, n, &error),
				 0);
		off += n;
	}
	assert_int_equal(store_save_get_size(save), sizeof(body));
	store_save_set_internal_date(save, 1234567890);
	store_save_set_flags(save, STORE_FLAG_FLAGGED,
			     (const char *const[]){ "$Forwarded" }, 1);
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	assert_int_equal(uid, 1);

	struct store_message *msgs;
	unsigned count;
	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	assert_int_equal(count, 1);
	assert_int_equal(msgs[0].uid, 1);
	assert_int_equal(msgs[0].size, sizeof(body));
	assert_int_equal(msgs[0].flags, STORE_FLAG_FLAGGED);
	assert_int_equal(msgs[0].keywords, 1);
	assert_int_equal(msgs[0].internal_date, 1234567890);
	assert_int_equal(msgs[0].save_date, f->now);
	assert_int_equal(msgs[0].pop3_retrieved, 0);

	int fd;
	uint64_t size;
	assert_int_equal(store_blob_open(f->user, msgs[0].blob_id, &fd, &size,
					 &error), 1);
	assert_int_equal(size, sizeof(body));
	char *got = read_fd(fd, size);
	assert_memory_equal(got, body, sizeof(body));
	free(got);
	free(msgs);

	/* Prefix + body copied from an fd (LMTP). */
	char spool[] = "/tmp/quire-test-spool-XXXXXX";
	int sfd = mkstemp(spool);
	const char *text = "junkSubject: x\r\n\r\nhello\r\n";
	assert_int_equal(write(sfd, text, strlen(text)), (ssize_t)strlen(text));
	lseek(sfd, 0, SEEK_SET);
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	const char *prefix = "Return-Path: <a@b>\r\n";
	assert_int_equal(store_save_write(save, prefix, strlen(prefix),
					  &error), 0);
	assert_int_equal(store_save_write_fd(save, sfd, 4, strlen(text) - 4,
					     &error), 0);
	/* A size past the end of the source fails and poisons the save. */
	struct store_save *bad;
	assert_int_equal(store_save_begin(f->user, f->inbox, &bad, &error), 0);
	assert_int_equal(store_save_write_fd(bad, sfd, 0, 1000, &error), -1);
	assert_int_equal(store_save_commit(&bad, NULL, &error), -1);
	close(sfd);
	unlink(spool);
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	assert_int_equal(uid, 2);
	got = read_msg(f, f->inbox, 2);
	assert_string_equal(got, "Return-Path: <a@b>\r\nSubject: x\r\n\r\n"
				 "hello\r\n");
	free(got);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "blobs"), 2);

	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.uidnext, 3);
	assert_int_equal(st.size, sizeof(body) + 41);

	char **names;
	unsigned n;
	assert_int_equal(store_keywords_get(f->user, &names, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "$Forwarded");
	store_keywords_free(&names, n);

	/* Missing things answer 0, not -1. */
	struct store_message m;
	assert_int_equal(store_message_get(f->user, f->inbox, 99, &m, &error),
			 0);
	assert_int_equal(store_message_open(f->user, f->inbox, 99, &fd, &size,
					    &error), 0);
	assert_int_equal(store_message_list(f->user, 999, &msgs, &count,
					    &error), 0);
	assert_int_equal(store_save_begin(f->user, 999, &save, &error), -1);
}

static void
test_reopen(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_mailbox_info info;

	assert_int_equal(save_msg(f->user, f->inbox, "a\r\n"), 1);
	assert_int_equal(save_msg(f->user, f->inbox, "b\r\n"), 2);
	assert_int_equal(store_mailbox_lookup(f->user, "inbox", &info, &error),
			 1);
	uint32_t uidvalidity = info.uidvalidity;
	assert_int_equal(uidvalidity, f->now);
	assert_string_equal(info.name, "INBOX");
	store_mailbox_info_free(&info);

	store_user_unref(&f->user);
	store_close(&f->store);
	f->now += 1000;
	open_store(f, &f->store);
	open_user(f);
	assert_int_equal(store_mailbox_lookup(f->user, "INBOX", &info, &error),
			 1);
	assert_int_equal(info.uidvalidity, uidvalidity);
	assert_int_equal(info.uidnext, 3);
	store_mailbox_info_free(&info);
	assert_int_equal(save_msg(f->user, f->inbox, "c\r\n"), 3);

	/* Expunging the highest UID never lets it be reused. */
	struct store_uid_range r = { 3, 3 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL, &error),
			 1);
	assert_int_equal(save_msg(f->user, f->inbox, "d\r\n"), 4);

	/* A recreated mailbox name gets a new, larger UIDVALIDITY even when
	   the clock has not moved. */
	uint64_t id;
	assert_int_equal(store_mailbox_create(f->user, "X", 0, &id, &error), 1);
	assert_int_equal(store_mailbox_lookup(f->user, "X", &info, &error), 1);
	uint32_t v1 = info.uidvalidity;
	store_mailbox_info_free(&info);
	assert_int_equal(store_mailbox_delete(f->user, "X", &error), 1);
	assert_int_equal(store_mailbox_create(f->user, "X", 0, &id, &error), 1);
	assert_int_equal(store_mailbox_lookup(f->user, "X", &info, &error), 1);
	assert_true(info.uidvalidity > v1);
	assert_true(info.uidvalidity > uidvalidity);
	store_mailbox_info_free(&info);
}

static void
test_flags_modseq(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_message m;
	uint64_t modseq, ms1, ms2;

	for (int i = 0; i < 5; i++)
		save_msg(f->user, f->inbox, "x\r\n");
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	uint64_t base = st.highestmodseq;

	struct store_uid_range r = { 2, 3 };
	assert_int_equal(store_flags_update(f->user, f->inbox, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    (const char *const[]){ "work" }, 1,
					    0, &ms1, &error), 1);
	assert_true(ms1 > base);
	assert_int_equal(store_message_get(f->user, f->inbox, 2, &m, &error),
			 1);
	assert_int_equal(m.flags, STORE_FLAG_SEEN);
	assert_int_equal(m.keywords, 1);
	assert_int_equal(m.modseq, ms1);
	assert_int_equal(store_message_get(f->user, f->inbox, 1, &m, &error),
			 1);
	assert_true(m.modseq < ms1);

	/* No change: no new modseq. */
	assert_int_equal(store_flags_update(f->user, f->inbox, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    NULL, 0, 0, &modseq, &error), 1);
	assert_int_equal(modseq, 0);

	/* Only message 3 changes. */
	struct store_uid_range r3[] = { { 3, 3 }, { 3, 3 }, { 100, 200 } };
	assert_int_equal(store_flags_update(f->user, f->inbox, r3, 3,
					    STORE_FLAGS_REPLACE,
					    STORE_FLAG_DELETED | 0xe0,
					    NULL, 0, 0, &ms2, &error), 1);
	assert_true(ms2 > ms1);
	assert_int_equal(store_message_get(f->user, f->inbox, 3, &m, &error),
			 1);
	assert_int_equal(m.flags, STORE_FLAG_DELETED);
	assert_int_equal(m.keywords, 0);
	assert_int_equal(store_message_get(f->user, f->inbox, 2, &m, &error),
			 1);
	assert_int_equal(m.modseq, ms1);

	/* UNCHANGEDSINCE older than message 3's modseq leaves it alone. */
	struct store_uid_range all = { 1, UINT32_MAX };
	assert_int_equal(store_flags_update(f->user, f->inbox, &all, 1,
					    STORE_FLAGS_REMOVE,
					    STORE_FLAG_DELETED, NULL, 0, ms1,
					    &modseq, &error), 1);
	assert_int_equal(modseq, 0);

	assert_int_equal(store_flags_update(f->user, f->inbox, &all, 1,
					    STORE_FLAGS_REMOVE,
					    STORE_FLAG_SEEN,
					    (const char *const[]){ "WORK" }, 1, 0,
					    &modseq, &error), 1);
	assert_true(modseq > ms2);
	assert_int_equal(store_message_get(f->user, f->inbox, 2, &m, &error),
			 1);
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.keywords, 0);

	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.highestmodseq, modseq);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.unseen, 5);

	/* Changes since ms1: messages 2 (SEEN removed) and 3. */
	struct store_message *changed;
	uint32_t *vanished;
	unsigned nc, nv;
	assert_int_equal(store_mailbox_changes(f->user, f->inbox, ms1,
					       &changed, &nc, &vanished, &nv,
					       &error), 1);
	assert_int_equal(nc, 2);
	assert_int_equal(changed[0].uid, 2);
	assert_int_equal(changed[1].uid, 3);
	assert_int_equal(nv, 0);
	free(changed);
	free(vanished);

	/* Bad keyword and unknown mailbox. */
	assert_int_equal(store_flags_update(f->user, f->inbox, &all, 1,
					    STORE_FLAGS_ADD, 0,
					    (const char *const[]){ "a b" }, 1,
					    0, NULL, &error), -1);
	assert_int_equal(store_flags_update(f->user, 999, &all, 1,
					    STORE_FLAGS_ADD, 1, NULL, 0, 0,
					    NULL, &error), 0);
}

/* RFC 8514 save dates and RFC 8474 EMAILIDs as the store gives them: a
   COPY or MOVE row has the time of the copy as its save date and the
   source's blob id (and internal date); the shared view carries both. */
static void
test_copy_save_date(void **state)
{
	struct fixture *f = *state;
	struct store_message src_msg, msg;
	struct store_view_entry e;
	struct store_view *view;
	struct store_uid_range r = { 1, 1 };
	uint32_t *src, *dst;
	const char *error;
	uint64_t work;
	unsigned n;

	assert_int_equal(store_mailbox_create(f->user, "Work", 0, &work,
					      &error), 1);
	f->now = 1000000;
	save_msg(f->user, f->inbox, "one\r\n");
	save_msg(f->user, f->inbox, "two\r\n");
	assert_int_equal(store_message_get(f->user, f->inbox, 1, &src_msg,
					   &error), 1);
	assert_int_equal(src_msg.save_date, 1000000);
	f->now = 2000000;
	assert_int_equal(store_messages_copy(f->user, f->inbox, &r, 1, work,
					     false, &src, &dst, &n, &error),
			 1);
	free(src);
	free(dst);
	f->now = 3000000;
	r.first = r.last = 2;
	assert_int_equal(store_messages_copy(f->user, f->inbox, &r, 1, work,
					     true, &src, &dst, &n, &error),
			 1);
	free(src);
	free(dst);
	assert_int_equal(store_message_get(f->user, work, 1, &msg, &error), 1);
	assert_int_equal(msg.save_date, 2000000);
	assert_int_equal(msg.blob_id, src_msg.blob_id);
	assert_int_equal(msg.internal_date, src_msg.internal_date);
	/* The source row is untouched. */
	assert_int_equal(store_message_get(f->user, f->inbox, 1, &msg,
					   &error), 1);
	assert_int_equal(msg.save_date, 1000000);

	assert_int_equal(store_view_open(f->user, work, &view, &error), 1);
	assert_int_equal(store_view_count(view), 2);
	assert_true(store_view_get(view, 1, &e));
	assert_int_equal(e.save_date, 2000000);
	assert_int_equal(e.blob_id, src_msg.blob_id);
	assert_true(store_view_get(view, 2, &e));
	assert_int_equal(e.save_date, 3000000);
	assert_int_not_equal(e.blob_id, src_msg.blob_id);
	store_view_close(&view);
}

/* All or nothing (RFC 2180 4.4.1): one UID gone, nothing copied or
   moved and the error says why; with every UID there, it copies. */
static void
test_copy_all(void **state)
{
	struct fixture *f = *state;
	const char *error;
	uint64_t work;
	uint32_t *src, *dst;
	unsigned n;
	struct store_mailbox_status st;

	assert_int_equal(store_mailbox_create(f->user, "Work", 0, &work,
					      &error), 1);
	for (int i = 0; i < 3; i++)
		save_msg(f->user, f->inbox, "c\r\n");
	struct store_uid_range two = { 2, 2 }, all = { 1, 3 };
	assert_int_equal(store_expunge(f->user, f->inbox, &two, 1, NULL,
				       &error), 1);
	for (int move = 0; move < 2; move++) {
		assert_int_equal(store_messages_copy_all(f->user, f->inbox,
							 &all, 1, work, move,
							 &src, &dst, &n,
							 &error), -1);
		assert_true(store_error_is_expunged());
		assert_false(store_error_is_overquota());
		assert_null(src);
		assert_int_equal(n, 0);
	}
	assert_int_equal(store_mailbox_status(f->user, work, &st, &error), 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 2);
	/* The lenient copy takes what is there. */
	assert_int_equal(store_messages_copy(f->user, f->inbox, &all, 1, work,
					     false, &src, &dst, &n, &error),
			 1);
	assert_int_equal(n, 2);
	free(src);
	free(dst);
	/* Every UID there: the strict one copies too, and a later error of
	   another kind is not taken for an expunge. */
	struct store_uid_range three = { 3, 3 };
	assert_int_equal(store_messages_copy_all(f->user, f->inbox, &three, 1,
						 work, false, &src, &dst, &n,
						 &error), 1);
	assert_int_equal(n, 1);
	free(src);
	free(dst);
	assert_int_equal(store_messages_copy_all(f->user, f->inbox, &three, 1,
						 f->inbox, true, &src, &dst,
						 &n, &error), -1);
	assert_false(store_error_is_expunged());
}

static void
test_expunge_refcount(void **state)
{
	struct fixture *f = *state;
	const char *error;
	uint64_t work, arch;

	assert_int_equal(store_mailbox_create(f->user, "Work", 0, &work,
					      &error), 1);
	assert_int_equal(store_mailbox_create(f->user, "Archive",
					      STORE_SPECIAL_ARCHIVE, &arch,
					      &error), 1);
	save_msg(f->user, f->inbox, "one\r\n");
	save_msg(f->user, f->inbox, "two\r\n");
	save_msg(f->user, f->inbox, "three\r\n");
	assert_int_equal(count_files(f, "blobs"), 3);

	/* COPY 1:2 to Work: rows share the files. */
	struct store_uid_range r = { 1, 2 };
	uint32_t *src, *dst;
	unsigned n;
	assert_int_equal(store_messages_copy(f->user, f->inbox, &r, 1, work,
					     false, &src, &dst, &n, &error),
			 1);
	assert_int_equal(n, 2);
	assert_int_equal(src[0], 1);
	assert_int_equal(dst[0], 1);
	assert_int_equal(src[1], 2);
	assert_int_equal(dst[1], 2);
	free(src);
	free(dst);
	assert_int_equal(count_files(f, "blobs"), 3);

	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	uint64_t before = st.highestmodseq;

	/* Expunge 1:2 from INBOX: the Work copies keep the files. */
	unsigned expunged;
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, &expunged,
				       &error), 1);
	assert_int_equal(expunged, 2);
	assert_int_equal(count_files(f, "blobs"), 3);
	char *text = read_msg(f, work, 1);
	assert_string_equal(text, "one\r\n");
	free(text);

	/* The expunge log has them (QRESYNC VANISHED). */
	struct store_message *changed;
	uint32_t *vanished;
	unsigned nc, nv;
	assert_int_equal(store_mailbox_changes(f->user, f->inbox, before,
					       &changed, &nc, &vanished, &nv,
					       &error), 1);
	assert_int_equal(nc, 0);
	assert_int_equal(nv, 2);
	assert_int_equal(vanished[0], 1);
	assert_int_equal(vanished[1], 2);
	free(changed);
	free(vanished);

	/* MOVE Work:1 to Archive: still one file. */
	struct store_uid_range r1 = { 1, 1 };
	assert_int_equal(store_messages_copy(f->user, work, &r1, 1, arch, true,
					     &src, &dst, &n, &error), 1);
	assert_int_equal(n, 1);
	free(src);
	free(dst);
	assert_int_equal(count_files(f, "blobs"), 3);
	assert_int_equal(store_mailbox_status(f->user, work, &st, &error), 1);
	assert_int_equal(st.messages, 1);

	/* Last reference gone: the file goes. */
	struct store_uid_range all = { 1, UINT32_MAX };
	assert_int_equal(store_expunge(f->user, work, &all, 1, &expunged,
				       &error), 1);
	assert_int_equal(expunged, 1);
	assert_int_equal(count_files(f, "blobs"), 2);
	/* Deleting a mailbox drops its references too. */
	assert_int_equal(store_mailbox_delete(f->user, "Archive", &error), 1);
	assert_int_equal(count_files(f, "blobs"), 1);
	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, &expunged,
				       &error), 1);
	assert_int_equal(expunged, 1);
	assert_int_equal(count_files(f, "blobs"), 0);

	/* Nothing to expunge is fine. */
	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, &expunged,
				       &error), 1);
	assert_int_equal(expunged, 0);
}

static void
test_pop3(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_message m;
	unsigned n;

	for (int i = 0; i < 4; i++)
		save_msg(f->user, f->inbox, "pop\r\n");
	time_t t0 = f->now;
	struct store_uid_range r12 = { 1, 2 }, r3 = { 3, 3 };
	assert_int_equal(store_pop3_mark_retrieved(f->user, f->inbox, &r12, 1,
						   t0, &error), 1);
	assert_int_equal(store_message_get(f->user, f->inbox, 1, &m, &error),
			 1);
	assert_int_equal(m.pop3_retrieved, t0);
	assert_true(m.flags & STORE_FLAG_SEEN);
	/* Retrieving again later keeps the first time. */
	assert_int_equal(store_pop3_mark_retrieved(f->user, f->inbox, &r12, 1,
						   t0 + 500, &error), 1);
	assert_int_equal(store_message_get(f->user, f->inbox, 1, &m, &error),
			 1);
	assert_int_equal(m.pop3_retrieved, t0);

	f->now = t0 + 3 * 86400;
	assert_int_equal(store_pop3_mark_retrieved(f->user, f->inbox, &r3, 1,
						   f->now, &error), 1);

	/* 7-day expiry: nothing is old enough yet. */
	assert_int_equal(store_pop3_expire(f->user, 7, &n, &error), 0);
	assert_int_equal(n, 0);
	/* Exactly 7 days is not "more than". */
	f->now = t0 + 7 * 86400;
	assert_int_equal(store_pop3_expire(f->user, 7, &n, &error), 0);
	assert_int_equal(n, 0);
	f->now = t0 + 7 * 86400 + 1;
	assert_int_equal(store_pop3_expire(f->user, 7, &n, &error), 0);
	assert_int_equal(n, 2);
	struct store_message *msgs;
	unsigned count;
	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	assert_int_equal(count, 2);
	assert_int_equal(msgs[0].uid, 3);
	assert_int_equal(msgs[1].uid, 4);
	free(msgs);
	assert_int_equal(count_files(f, "blobs"), 2);

	/* UIDL: stable, per UIDVALIDITY and UID. */
	char uidl[STORE_UIDL_SIZE];
	store_uidl(0x12345678, 3, uidl);
	assert_string_equal(uidl, "1234567800000003");
	store_uidl(UINT32_MAX, UINT32_MAX, uidl);
	assert_string_equal(uidl, "ffffffffffffffff");
}

struct watch_log {
	unsigned calls[4];
	uint64_t last_modseq;
	struct store_watch *self_remove;
};

static void
watch_cb(void *context, uint64_t mailbox_id, enum store_change_type type,
	 uint64_t modseq)
{
	struct watch_log *log = context;
	log->calls[type]++;
	log->last_modseq = modseq;
	if (log->self_remove != NULL)
		store_watch_remove(&log->self_remove);
}

static void
test_watchers(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct watch_log a = { 0 }, b = { 0 }, other = { 0 };
	uint64_t work;

	assert_int_equal(store_mailbox_create(f->user, "Work", 0, &work,
					      &error), 1);
	struct store_watch *wa = store_watch_add(f->user, f->inbox, watch_cb,
						 &a);
	struct store_watch *wb = store_watch_add(f->user, f->inbox, watch_cb,
						 &b);
	struct store_watch *wo = store_watch_add(f->user, work, watch_cb,
						 &other);
	b.self_remove = wb;

	save_msg(f->user, f->inbox, "w\r\n");
	assert_int_equal(a.calls[STORE_CHANGE_SAVE], 1);
	assert_int_equal(b.calls[STORE_CHANGE_SAVE], 1);
	assert_null(b.self_remove); /* removed itself inside the callback */
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(a.last_modseq, st.highestmodseq);

	struct store_uid_range r = { 1, 1 };
	assert_int_equal(store_flags_update(f->user, f->inbox, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    NULL, 0, 0, NULL, &error), 1);
	assert_int_equal(a.calls[STORE_CHANGE_FLAGS], 1);
	/* A no-op store notifies nobody. */
	assert_int_equal(store_flags_update(f->user, f->inbox, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    NULL, 0, 0, NULL, &error), 1);
	assert_int_equal(a.calls[STORE_CHANGE_FLAGS], 1);
	assert_int_equal(store_pop3_mark_retrieved(f->user, f->inbox, &r, 1,
						   f->now, &error), 1);
	assert_int_equal(a.calls[STORE_CHANGE_FLAGS], 2);

	uint32_t *src, *dst;
	unsigned n;
	assert_int_equal(store_messages_copy(f->user, f->inbox, &r, 1, work,
					     true, &src, &dst, &n, &error), 1);
	free(src);
	free(dst);
	assert_int_equal(a.calls[STORE_CHANGE_EXPUNGE], 1);
	assert_int_equal(other.calls[STORE_CHANGE_SAVE], 1);

	assert_int_equal(store_mailbox_rename(f->user, "Work", "Play", &error),
			 1);
	assert_int_equal(other.calls[STORE_CHANGE_MAILBOX], 1);

	/* Failed saves notify nobody. */
	struct store_save *save;
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	store_save_abort(&save);
	assert_int_equal(a.calls[STORE_CHANGE_SAVE], 1);
	assert_int_equal(b.calls[STORE_CHANGE_SAVE], 1);

	store_watch_remove(&wa);
	store_watch_remove(&wo);
	assert_null(wa);
	save_msg(f->user, f->inbox, "w2\r\n");
	assert_int_equal(a.calls[STORE_CHANGE_SAVE], 1);
}

/* User watches (NOTIFY): every mailbox's changes, and the named ones. */
struct user_watch_log {
	unsigned count;
	enum store_change_type type[16];
	uint64_t mailbox_id[16];
	char name[16][64];
	char old_name[16][64];
	bool subscribed[16];
};

static void
user_watch_cb(void *context, const struct store_user_change *ch)
{
	struct user_watch_log *log = context;
	unsigned i = log->count;

	assert_true(i < 16);
	log->count++;
	log->type[i] = ch->type;
	log->mailbox_id[i] = ch->mailbox_id;
	snprintf(log->name[i], sizeof(log->name[i]), "%s",
		 ch->name != NULL ? ch->name : "");
	snprintf(log->old_name[i], sizeof(log->old_name[i]), "%s",
		 ch->old_name != NULL ? ch->old_name : "");
	log->subscribed[i] = ch->subscribed;
}

static void
test_user_watch(void **state)
{
	struct fixture *f = *state;
	struct user_watch_log log = { 0 };
	const char *error;
	uint64_t work;
	struct store_watch *w = store_user_watch_add(f->user, user_watch_cb,
						     &log);

	assert_int_equal(store_mailbox_create(f->user, "work", 0, &work,
					      &error), 1);
	/* A failed create tells nobody. */
	assert_int_equal(store_mailbox_create(f->user, "work", 0, NULL,
					      &error), 0);
	save_msg(f->user, work, "x\r\n");
	struct store_uid_range r = { 1, 1 };
	assert_int_equal(store_flags_update(f->user, work, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    NULL, 0, 0, NULL, &error), 1);
	assert_int_equal(store_expunge(f->user, work, &r, 1, NULL, &error),
			 1);
	assert_int_equal(store_subscription_set(f->user, "work", true,
						&error), 1);
	assert_int_equal(store_mailbox_rename(f->user, "work", "play",
					      &error), 1);
	assert_int_equal(store_mailbox_delete(f->user, "play", &error), 1);
	assert_int_equal(store_mailbox_delete(f->user, "play", &error), 0);

	static const enum store_change_type want[] = {
		STORE_CHANGE_CREATE, STORE_CHANGE_SAVE, STORE_CHANGE_FLAGS,
		STORE_CHANGE_EXPUNGE, STORE_CHANGE_SUBSCRIPTION,
		STORE_CHANGE_RENAME, STORE_CHANGE_DELETE,
	};
	assert_int_equal(log.count, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < log.count; i++)
		assert_int_equal(log.type[i], want[i]);
	assert_int_equal(log.mailbox_id[0], work);
	assert_string_equal(log.name[0], "work");
	assert_int_equal(log.mailbox_id[1], work);
	assert_string_equal(log.name[4], "work");
	assert_true(log.subscribed[4]);
	assert_string_equal(log.name[5], "play");
	assert_string_equal(log.old_name[5], "work");
	assert_string_equal(log.name[6], "play");

	/* Removed: silent; mailbox watchers still work beside it. */
	store_watch_remove(&w);
	assert_null(w);
	assert_int_equal(store_mailbox_create(f->user, "again", 0, NULL,
					      &error), 1);
	assert_int_equal(log.count, sizeof(want) / sizeof(want[0]));
}

static void
user_path(struct fixture *f, const char *rel, char *out, size_t size)
{
	snprintf(out, size, "%s/users/%02x/alice/%s", f->dir,
		 store_name_hash("alice") & 0xff, rel);
}

static void
test_check(void **state)
{
	struct fixture *f = *state;
	const char *error;
	char path[512];
	struct store_check_result res;

	save_msg(f->user, f->inbox, "keep\r\n");
	save_msg(f->user, f->inbox, "lose\r\n");
	save_msg(f->user, f->inbox, "keep too\r\n");

	/* Temp files of crashed writers: one with our own pid (the check
	   runs before this process saves anything) and one of a dead pid. */
	snprintf(path, sizeof(path), "tmp/%ld.0000000000000001",
		 (long)getpid());
	char full[1024];
	user_path(f, path, full, sizeof(full));
	int fd = open(full, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	user_path(f, "tmp/999999999.0000000000000002", full, sizeof(full));
	fd = open(full, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	/* A blob without a row (crash between rename and commit). */
	user_path(f, "blobs/ab", full, sizeof(full));
	mkdir(full, 0700);
	user_path(f, "blobs/ab/ab00000000000001", full, sizeof(full));
	fd = open(full, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	/* A row without its blob. */
	struct store_message m;
	assert_int_equal(store_message_get(f->user, f->inbox, 2, &m, &error),
			 1);
	snprintf(path, sizeof(path), "blobs/%02x/%016llx",
		 (unsigned)(m.blob_id >> 56), (unsigned long long)m.blob_id);
	user_path(f, path, full, sizeof(full));
	assert_int_equal(unlink(full), 0);

	/* A user removal a crash interrupted after its first step. */
	char trash[512];
	snprintf(trash, sizeof(trash), "%s/users/00/.deleted.0123", f->dir);
	mkdir(trash, 0700);
	snprintf(full, sizeof(full), "%s/blobs", trash);
	mkdir(full, 0700);
	snprintf(full, sizeof(full), "%s/blobs/00", trash);
	mkdir(full, 0700);
	snprintf(full, sizeof(full), "%s/blobs/00/0000000000000001", trash);
	close(open(full, O_WRONLY | O_CREAT, 0600));
	snprintf(full, sizeof(full), "%s/store.db", trash);
	close(open(full, O_WRONLY | O_CREAT, 0600));

	assert_int_equal(count_files(f, "blobs"), 3);
	assert_int_equal(store_check(f->store, &res, &error), 0);
	assert_int_equal(access(trash, F_OK), -1);
	assert_int_equal(res.users, 1);
	assert_int_equal(res.tmp_removed, 2);
	assert_int_equal(res.orphan_blobs, 1);
	assert_int_equal(res.missing_blobs, 1);
	assert_int_equal(res.errors, 0);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "blobs"), 2);

	struct store_message *msgs;
	unsigned count;
	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	assert_int_equal(count, 2);
	assert_int_equal(msgs[0].uid, 1);
	assert_int_equal(msgs[1].uid, 3);
	free(msgs);

	/* Clean now: a second run finds nothing. */
	assert_int_equal(store_check(f->store, &res, &error), 0);
	assert_int_equal(res.tmp_removed + res.orphan_blobs +
				 res.missing_blobs, 0);
}

static void
test_abort(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_save *save;

	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	assert_int_equal(count_files(f, "tmp"), 1);
	assert_int_equal(store_save_write(save, "abc", 3, &error), 0);
	store_save_abort(&save);
	assert_null(save);
	store_save_abort(&save);

	/* The mailbox goes away between begin and commit. */
	uint64_t id;
	assert_int_equal(store_mailbox_create(f->user, "Gone", 0, &id, &error),
			 1);
	assert_int_equal(store_save_begin(f->user, id, &save, &error), 0);
	assert_int_equal(store_save_write(save, "abc", 3, &error), 0);
	assert_int_equal(store_mailbox_delete(f->user, "Gone", &error), 1);
	assert_int_equal(store_save_commit(&save, NULL, &error), -1);
	assert_string_equal(error, "Mailbox no longer exists");
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "blobs"), 0);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 1);
}

/* Reading a save back and moving its options to a second save (APPEND's
   conversion of binary parts). */
static void
test_save_open_read(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_save *save, *save2;
	uint32_t uid;
	int fd;
	char got[8];

	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, "a\0c", 3, &error), 0);
	store_save_set_internal_date(save, 1234567890);
	store_save_set_flags(save, STORE_FLAG_SEEN,
			     (const char *const[]){ "$Label1" }, 1);
	assert_int_equal(store_save_open_read(save, &fd, &error), 0);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 3);
	assert_memory_equal(got, "a\0c", 3);

	assert_int_equal(store_save_begin(f->user, f->inbox, &save2, &error),
			 0);
	store_save_copy_options(save2, save);
	assert_int_equal(store_save_write(save2, "YQBj", 4, &error), 0);
	store_save_abort(&save);
	/* the fd still reads after the abort */
	assert_int_equal(pread(fd, got, sizeof(got), 0), 3);
	close(fd);
	assert_int_equal(store_save_commit(&save2, &uid, &error), 0);
	assert_int_equal(count_files(f, "tmp"), 0);

	struct store_message *msgs;
	unsigned count;
	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	assert_int_equal(count, 1);
	assert_int_equal(msgs[0].size, 4);
	assert_int_equal(msgs[0].flags, STORE_FLAG_SEEN);
	assert_int_equal(msgs[0].keywords, 1);
	assert_int_equal(msgs[0].internal_date, 1234567890);
	free(msgs);
}

/* Fault injection: the write or fsync that fails. */
static int fail_write_after = -1; /* writes allowed before ENOSPC */
static int fail_fsync_after = -1;

static ssize_t
faulty_write(int fd, const void *buf, size_t count)
{
	if (fail_write_after == 0) {
		errno = ENOSPC;
		return -1;
	}
	if (fail_write_after > 0)
		fail_write_after--;
	/* Short writes too, to exercise the loop. */
	return write(fd, buf, count > 3 ? count / 2 : count);
}

static int
faulty_fsync(int fd)
{
	if (fail_fsync_after == 0) {
		errno = EIO;
		return -1;
	}
	if (fail_fsync_after > 0)
		fail_fsync_after--;
	return fsync(fd);
}

static void
test_write_failures(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_save *save;
	const struct store_io io = { faulty_write, faulty_fsync };

	store_set_io(f->store, &io);

	/* Short writes alone are fine. */
	fail_write_after = fail_fsync_after = -1;
	assert_int_equal(save_msg(f->user, f->inbox, "short writes\r\n"), 1);
	char *text = read_msg(f, f->inbox, 1);
	assert_string_equal(text, "short writes\r\n");
	free(text);

	/* ENOSPC in the middle of the body. */
	fail_write_after = 2;
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, "0123456789", 10, &error), -1);
	assert_non_null(strstr(error, "No space left"));
	assert_int_equal(store_save_write(save, "x", 1, &error), -1);
	assert_int_equal(store_save_commit(&save, NULL, &error), -1);
	assert_null(save);

	/* fsync of the file fails (first fsync), then the directory's
	   (second or third: mkdir of a new blobs/xx may fsync first). */
	for (int n = 0; n < 3; n++) {
		fail_write_after = -1;
		fail_fsync_after = n;
		assert_int_equal(store_save_begin(f->user, f->inbox, &save,
						  &error), 0);
		assert_int_equal(store_save_write(save, "body\r\n", 6, &error),
				 0);
		int ret = store_save_commit(&save, NULL, &error);
		if (ret == 0) {
			/* blobs/xx existed: only two fsyncs were needed */
			assert_int_equal(n, 2);
			fail_fsync_after = -1;
			struct store_uid_range r = { 1, UINT32_MAX };
			assert_int_equal(store_expunge(f->user, f->inbox, &r, 1,
						       NULL, &error), 1);
			save_msg(f->user, f->inbox, "short writes\r\n");
		} else {
			assert_non_null(strstr(error, "fsync"));
		}
	}
	fail_write_after = fail_fsync_after = -1;
	store_set_io(f->store, NULL);

	assert_int_equal(count_files(f, "tmp"), 0);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 1);
	assert_int_equal(count_files(f, "blobs"), 1);
	/* The failures left nothing for the check to clean. */
	struct store_check_result res;
	assert_int_equal(store_check(f->store, &res, &error), 0);
	assert_int_equal(res.tmp_removed + res.orphan_blobs +
				 res.missing_blobs, 0);
}

#define THREADS 4
#define SAVES_PER_THREAD 25

struct thread_arg {
	struct store *store;
	uint64_t inbox;
	int n;
};

static void *
thread_saver(void *p)
{
	struct thread_arg *arg = p;
	struct store_user *user;
	const char *error;
	char text[64];

	if (store_user_get(arg->store, "alice", &user, &error) < 0)
		return (void *)1;
	for (int i = 0; i < SAVES_PER_THREAD; i++) {
		struct store_save *save;
		uint32_t uid;
		int len = snprintf(text, sizeof(text), "thread %d msg %d\r\n",
				   arg->n, i);
		if (store_save_begin(user, arg->inbox, &save, &error) < 0 ||
		    store_save_write(save, text, (size_t)len, &error) < 0 ||
		    store_save_commit(&save, &uid, &error) < 0) {
			store_user_unref(&user);
			return (void *)1;
		}
		/* Mix in reads and flag changes under the same lock. */
		struct store_uid_range r = { uid, uid };
		if (store_flags_update(user, arg->inbox, &r, 1,
				       STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL,
				       0, 0, NULL, &error) < 0) {
			store_user_unref(&user);
			return (void *)1;
		}
	}
	store_user_unref(&user);
	return NULL;
}

static void
check_all_saved(struct fixture *f, unsigned expected)
{
	const char *error;
	struct store_message *msgs;
	unsigned count;

	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	assert_int_equal(count, expected);
	for (unsigned i = 0; i < count; i++)
		assert_int_equal(msgs[i].uid, i + 1);
	free(msgs);
	assert_int_equal(count_files(f, "blobs"), expected);
	assert_int_equal(count_files(f, "tmp"), 0);
}

struct reader_arg {
	struct fixture *f;
	atomic_bool stop;
	unsigned syncs;
};

/* A session on another worker: syncs its view and reads every message
   while the savers run. */
static void *
thread_reader(void *p)
{
	struct reader_arg *arg = p;
	struct store_view *view;
	const char *error;
	void *ret = NULL;

	if (store_view_open(arg->f->user, arg->f->inbox, &view, &error) != 1)
		return (void *)1;
	while (!atomic_load(&arg->stop) || arg->syncs == 0) {
		struct store_view_changes ch;
		if (store_view_sync(view, true, &ch, &error) != 1) {
			ret = (void *)1;
			break;
		}
		arg->syncs++;
		for (uint32_t q = 1; q <= ch.exists; q++) {
			struct store_view_entry e;
			int fd;
			uint64_t size;
			if (!store_view_get(view, q, &e) ||
			    store_blob_open(arg->f->user, e.blob_id, &fd, &size,
					    &error) != 1 || size != e.size) {
				ret = (void *)1;
				break;
			}
			close(fd);
		}
		store_view_changes_free(&ch);
		if (ret != NULL)
			break;
	}
	store_view_close(&view);
	return ret;
}

static atomic_uint thread_watch_saves;

static void
thread_watch_cb(void *context, uint64_t mailbox_id,
		enum store_change_type type, uint64_t modseq)
{
	if (type == STORE_CHANGE_SAVE)
		atomic_fetch_add(&thread_watch_saves, 1);
}

static void
test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS], reader;
	struct thread_arg args[THREADS];
	struct reader_arg rarg = { .f = f };

	atomic_store(&thread_watch_saves, 0);
	struct store_watch *w = store_watch_add(f->user, f->inbox,
						thread_watch_cb, NULL);
	assert_int_equal(pthread_create(&reader, NULL, thread_reader, &rarg),
			 0);
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct thread_arg){ f->store, f->inbox, i };
		assert_int_equal(pthread_create(&th[i], NULL, thread_saver,
						&args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	atomic_store(&rarg.stop, true);
	void *ret;
	pthread_join(reader, &ret);
	assert_null(ret);
	store_watch_remove(&w);
	assert_int_equal(atomic_load(&thread_watch_saves),
			 THREADS * SAVES_PER_THREAD);
	check_all_saved(f, THREADS * SAVES_PER_THREAD);
	assert_true(f->user->commit_batches <= THREADS * SAVES_PER_THREAD);
	if (getenv("STORE_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%lu commits for %d saves\n",
			f->user->commit_batches, THREADS * SAVES_PER_THREAD);
	const char *error;
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.unseen, 0);
}

static void
test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct store *store2;
	struct store_user *user2;
	const char *error;

	/* A second handle is what a second process (`quire deliver`) has:
	   its own SQLite connection and its own registry. */
	open_store(f, &store2);
	assert_int_equal(store_user_get(store2, "alice", &user2, &error), 0);
	assert_true(user2 != f->user);

	struct watch_log log = { 0 };
	struct store_watch *w = store_watch_add(f->user, f->inbox, watch_cb,
						&log);
	for (int i = 0; i < 20; i++) {
		struct store_save *s1, *s2;
		uint32_t u1, u2;
		/* Interleave: both begin, write, then commit in turn. */
		assert_int_equal(store_save_begin(f->user, f->inbox, &s1,
						  &error), 0);
		assert_int_equal(store_save_begin(user2, f->inbox, &s2, &error),
				 0);
		assert_int_equal(store_save_write(s1, "one\r\n", 5, &error), 0);
		assert_int_equal(store_save_write(s2, "two\r\n", 5, &error), 0);
		if (i % 2 == 0) {
			assert_int_equal(store_save_commit(&s2, &u2, &error), 0);
			assert_int_equal(store_save_commit(&s1, &u1, &error), 0);
		} else {
			assert_int_equal(store_save_commit(&s1, &u1, &error), 0);
			assert_int_equal(store_save_commit(&s2, &u2, &error), 0);
		}
		assert_true(u1 != u2);
	}
	/* Only changes made through the same handle notify. */
	assert_int_equal(log.calls[STORE_CHANGE_SAVE], 20);
	store_watch_remove(&w);

	/* Each side sees the other's writes. */
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(user2, f->inbox, &st, &error), 1);
	assert_int_equal(st.messages, 40);
	check_all_saved(f, 40);

	/* A flag change by one is seen by the other. */
	struct store_uid_range r = { 5, 5 };
	assert_int_equal(store_flags_update(user2, f->inbox, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_FLAGGED,
					    NULL, 0, 0, NULL, &error), 1);
	struct store_message m;
	assert_int_equal(store_message_get(f->user, f->inbox, 5, &m, &error),
			 1);
	assert_int_equal(m.flags, STORE_FLAG_FLAGGED);

	store_user_unref(&user2);
	store_close(&store2);
}

static void
test_mailboxes(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_mailbox_info info, *list;
	unsigned count;
	uint64_t id;

	static const struct {
		const char *name;
		int ret;
	} creates[] = {
		{ "Work", 1 },
		{ "Work", 0 },
		{ "Work/Project", 1 },
		{ "Work/Project/Deep", 1 },
		{ "Workshop", 1 },
		{ "Caf\xc3\xa9", 1 },
		{ "inbox", 0 },
		{ "INBOX/Sub", 1 },
		{ "", -1 },
		{ "/x", -1 },
		{ "x/", -1 },
		{ "a//b", -1 },
		{ "tab\there", -1 },
		{ "bad\xc3", -1 },		/* truncated sequence */
		{ "bad\xc0\xaf", -1 },	/* overlong '/' */
		{ "bad\xed\xa0\x80", -1 }, /* surrogate */
		{ "bad\xf4\x90\x80\x80", -1 }, /* above U+10FFFF */
		{ "ok\xf0\x9f\x93\xa7", 1 },  /* U+1F4E7 */
	};
	for (size_t i = 0; i < sizeof(creates) / sizeof(creates[0]); i++) {
		assert_int_equal(store_mailbox_create(f->user, creates[i].name,
						      0, &id, &error),
				 creates[i].ret);
	}
	char longname[2000];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_mailbox_create(f->user, longname, 0, &id,
					      &error), -1);

	assert_int_equal(store_mailbox_subscribe(f->user, "Work", true,
						 &error), 1);
	/* Subscriptions do not need a mailbox (RFC 3501 6.3.6). */
	assert_int_equal(store_mailbox_subscribe(f->user, "Nope", true,
						 &error), 1);
	assert_int_equal(store_mailbox_subscribe(f->user, "Nope", false,
						 &error), 1);
	assert_int_equal(store_mailbox_set_special_use(f->user, "Workshop",
						       STORE_SPECIAL_TRASH,
						       &error), 1);

	/* Rename moves the children, not the sibling "Workshop". */
	save_msg(f->user, f->inbox, "m\r\n");
	assert_int_equal(store_mailbox_lookup(f->user, "Work/Project", &info,
					      &error), 1);
	uint64_t project_id = info.id;
	uint32_t project_uv = info.uidvalidity;
	store_mailbox_info_free(&info);
	assert_int_equal(store_mailbox_rename(f->user, "Work", "Job", &error),
			 1);
	assert_int_equal(store_mailbox_lookup(f->user, "Job/Project", &info,
					      &error), 1);
	assert_int_equal(info.id, project_id);
	assert_int_equal(info.uidvalidity, project_uv);
	store_mailbox_info_free(&info);
	/* RENAME leaves the subscription list alone: "Job" is not
	   subscribed, "Work" still is. */
	assert_int_equal(store_mailbox_lookup(f->user, "Job", &info, &error),
			 1);
	assert_false(info.subscribed);
	store_mailbox_info_free(&info);
	char **subs;
	unsigned sub_count;
	assert_int_equal(store_subscription_list(f->user, &subs, &sub_count,
						 &error), 0);
	assert_int_equal(sub_count, 1);
	assert_string_equal(subs[0], "Work");
	store_subscription_list_free(&subs, sub_count);
	assert_null(subs);
	assert_int_equal(store_mailbox_lookup(f->user, "Work/Project", &info,
					      &error), 0);
	assert_int_equal(store_mailbox_lookup(f->user, "Workshop", &info,
					      &error), 1);
	assert_int_equal(info.special_use, STORE_SPECIAL_TRASH);
	store_mailbox_info_free(&info);
	assert_int_equal(store_mailbox_rename(f->user, "Job", "Workshop",
					      &error), -1);
	assert_int_equal(store_mailbox_rename(f->user, "Job", "Job/x",
					      &error), -1);
	assert_int_equal(store_mailbox_rename(f->user, "Nope", "Z", &error),
			 0);
	assert_int_equal(store_mailbox_rename(f->user, "Job", "INBOX", &error),
			 -1);

	/* Renaming INBOX moves its messages; INBOX stays, empty. */
	assert_int_equal(store_mailbox_rename(f->user, "INBOX", "Old", &error),
			 1);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 2);
	assert_int_equal(store_mailbox_lookup(f->user, "Old", &info, &error),
			 1);
	uint64_t old_id = info.id;
	assert_int_equal(info.uidnext, 2);
	store_mailbox_info_free(&info);
	char *text = read_msg(f, old_id, 1);
	assert_string_equal(text, "m\r\n");
	free(text);
	assert_int_equal(store_mailbox_lookup(f->user, "INBOX/Sub", &info,
					      &error), 1);
	store_mailbox_info_free(&info);

	assert_int_equal(store_mailbox_delete(f->user, "INBOX", &error), -1);
	assert_int_equal(store_mailbox_delete(f->user, "Nope", &error), 0);
	assert_int_equal(store_mailbox_delete(f->user, "Job", &error), 1);

	assert_int_equal(store_mailbox_list(f->user, &list, &count, &error), 0);
	static const char *const expect[] = {
		"Caf\xc3\xa9", "INBOX", "INBOX/Sub", "Job/Project",
		"Job/Project/Deep", "Old", "Workshop", "ok\xf0\x9f\x93\xa7",
	};
	assert_int_equal(count, sizeof(expect) / sizeof(expect[0]));
	for (unsigned i = 0; i < count; i++)
		assert_string_equal(list[i].name, expect[i]);
	store_mailbox_list_free(&list, count);
	assert_null(list);
}

static void
test_cache(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_save *save;
	struct store_message m;
	void *data;
	size_t size;

	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, "c\r\n", 3, &error), 0);
	store_save_set_cache(save, STORE_CACHE_ENVELOPE, "(env)", 5);
	assert_int_equal(store_save_commit(&save, NULL, &error), 0);
	assert_int_equal(store_message_get(f->user, f->inbox, 1, &m, &error),
			 1);
	assert_int_equal(store_cache_get(f->user, m.blob_id,
					 STORE_CACHE_ENVELOPE, &data, &size,
					 &error), 1);
	assert_int_equal(size, 5);
	assert_memory_equal(data, "(env)", 5);
	free(data);
	assert_int_equal(store_cache_get(f->user, m.blob_id,
					 STORE_CACHE_PREVIEW, &data, &size,
					 &error), 0);
	assert_int_equal(store_cache_set(f->user, m.blob_id,
					 STORE_CACHE_PREVIEW, "hi", 2, &error),
			 1);
	assert_int_equal(store_cache_get(f->user, m.blob_id,
					 STORE_CACHE_PREVIEW, &data, &size,
					 &error), 1);
	assert_memory_equal(data, "hi", 2);
	free(data);
	assert_int_equal(store_cache_set(f->user, 12345, STORE_CACHE_PREVIEW,
					 "hi", 2, &error), 0);
	assert_int_equal(store_cache_get(f->user, m.blob_id,
					 STORE_CACHE_FIELD_COUNT, &data, &size,
					 &error), -1);
}

static void
test_users(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_user *u, *u2;

	static const char *const bad[] = { "", ".", "..", ".deleted.x",
					   "a/b", "a\\b", "a\nb" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_user_get(f->store, bad[i], &u, &error),
				 -1);

	/* The registry hands out the same object. */
	assert_int_equal(store_user_get(f->store, "alice", &u, &error), 0);
	assert_ptr_equal(u, f->user);
	store_user_unref(&u);
	assert_null(u);

	assert_int_equal(store_user_get(f->store, "bob", &u, &error), 0);
	assert_string_equal(store_user_name(u), "bob");
	store_user_ref(u);
	u2 = u;
	store_user_unref(&u2);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_lookup(u, "INBOX", &info, &error), 1);
	save_msg(u, info.id, "bob's\r\n");
	store_mailbox_info_free(&info);
	assert_int_equal(store_user_delete(f->store, "bob", &error), -1);
	store_user_unref(&u);
	assert_int_equal(store_user_delete(f->store, "bob", &error), 1);
	assert_int_equal(store_user_delete(f->store, "bob", &error), 0);

	/* Recreated empty. */
	assert_int_equal(store_user_get(f->store, "bob", &u, &error), 0);
	assert_int_equal(store_mailbox_lookup(u, "INBOX", &info, &error), 1);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(u, info.id, &st, &error), 1);
	assert_int_equal(st.messages, 0);
	store_mailbox_info_free(&info);
	store_user_unref(&u);

	struct store_check_result res;
	assert_int_equal(store_check(f->store, &res, &error), 0);
	assert_int_equal(res.users, 2);

	/* Released users stay open for the next login, up to idle_users. */
	struct store *store2;
	struct store_settings set = { .data_dir = f->dir, .idle_users = 1 };
	struct store_user *c1, *c2, *d;
	assert_int_equal(store_open(&set, &store2, &error), 0);
	assert_int_equal(store_user_get(store2, "carol", &c1, &error), 0);
	struct store_user *keep = c1;
	store_user_unref(&c1);
	assert_int_equal(store_user_get(store2, "carol", &c2, &error), 0);
	assert_ptr_equal(c2, keep);
	store_user_unref(&c2);
	assert_int_equal(store_user_get(store2, "dave", &d, &error), 0);
	store_user_unref(&d); /* carol is evicted: one idle user at most */
	assert_int_equal(store2->idle_count, 1);
	assert_ptr_equal(store2->idle_head, store2->idle_tail);
	assert_string_equal(store2->idle_head->name, "dave");
	assert_int_equal(store_user_delete(store2, "dave", &error), 1);
	assert_int_equal(store2->idle_count, 0);
	store_close(&store2);
}

/* New messages a view learns of together come in UID order, even when
   the store changed them in another order (the changes are read by
   modseq). Another process writes them: this process's own changes
   reach the view without a read. */
static void
test_view_new_out_of_order(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store *store2;
	struct store_user *user2;
	struct store_view *v;
	struct store_view_changes ch;
	struct store_view_entry e;

	save_msg(f->user, f->inbox, "a\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &v, &error), 1);
	open_store(f, &store2);
	assert_int_equal(store_user_get(store2, "alice", &user2, &error), 0);
	assert_int_equal(save_msg(user2, f->inbox, "b\r\n"), 2);
	assert_int_equal(save_msg(user2, f->inbox, "c\r\n"), 3);
	assert_int_equal(save_msg(user2, f->inbox, "d\r\n"), 4);
	/* 2 and 3 change after 4 arrived: modseq order 4, 2, 3 */
	struct store_uid_range r = { 2, 3 };
	assert_int_equal(store_flags_update(user2, f->inbox, &r, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    NULL, 0, 0, NULL, &error), 1);
	unsigned long reads = f->user->view_reads;
	assert_int_equal(store_view_sync(v, true, &ch, &error), 1);
	assert_int_equal(f->user->view_reads, reads + 1);
	assert_int_equal(ch.exists, 4);
	store_view_changes_free(&ch);
	for (uint32_t seq = 1; seq <= 4; seq++) {
		assert_true(store_view_get(v, seq, &e));
		assert_int_equal(e.uid, seq);
		assert_int_equal(store_view_seq(v, seq), seq);
	}
	store_view_close(&v);
	store_user_unref(&user2);
	store_close(&store2);
}

/* store_settings.exclusive: while the store has a user open, no other
   connection reads or writes its database, and no shared WAL index file
   exists; once it is closed, the data is there for anyone. */
static void
test_exclusive_locking(void **state)
{
	struct fixture *f = *state;
	struct store_settings set = {
		.data_dir = f->dir,
		.busy_timeout_msecs = 50,
		.exclusive = true,
	};
	struct store_settings shared_set = {
		.data_dir = f->dir,
		.busy_timeout_msecs = 50,
	};
	struct store *xs, *other;
	struct store_user *bob, *bob2 = NULL;
	struct store_mailbox_info info;
	const char *error = NULL;
	char path[512], shm[520];
	sqlite3 *db;

	assert_int_equal(store_open(&set, &xs, &error), 0);
	assert_int_equal(store_user_get(xs, "bob", &bob, &error), 0);
	assert_int_equal(store_mailbox_lookup(bob, "INBOX", &info, &error), 1);
	assert_int_equal(save_msg(bob, info.id, "a\r\n"), 1);
	assert_int_equal(save_msg(bob, info.id, "b\r\n"), 2);

	snprintf(path, sizeof(path), "%s/users/%02x/bob/store.db", f->dir,
		 store_name_hash("bob") & 0xff);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	assert_int_equal(access(shm, F_OK), -1);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT COUNT(*) FROM messages", NULL,
				      NULL, NULL),
			 SQLITE_BUSY);
	sqlite3_close(db);
	/* another store (another process, as far as SQLite knows) */
	assert_int_equal(store_open(&shared_set, &other, &error), 0);
	assert_int_equal(store_user_get(other, "bob", &bob2, &error), -1);
	assert_non_null(strstr(error, "locked"));
	/* the holder goes on as before */
	assert_int_equal(save_msg(bob, info.id, "c\r\n"), 3);
	store_mailbox_info_free(&info);
	store_user_unref(&bob);
	store_close(&xs);

	assert_int_equal(store_user_get(other, "bob", &bob2, &error), 0);
	assert_int_equal(store_mailbox_lookup(bob2, "INBOX", &info, &error), 1);
	assert_int_equal(info.uidnext, 4);
	store_mailbox_info_free(&info);
	store_user_unref(&bob2);
	store_close(&other);
}

/* The store's own fsyncs, counted, and the next journal_fail of them
   failing (message journal test). */
static int journal_fsyncs, journal_fail;

static int
counting_fsync(int fd)
{
	journal_fsyncs++;
	if (journal_fail > 0) {
		journal_fail--;
		errno = EIO;
		return -1;
	}
	return fsync(fd);
}

/* user's store.db under the fixture's data directory. */
static void
user_db_path(struct fixture *f, const char *user, char *path, size_t size)
{
	snprintf(path, size, "%s/users/%02x/%s/store.db", f->dir,
		 store_name_hash(user) & 0xff, user);
}

/* Rows of alice's message journal (those holding text alone if not
   NULL), read beside the store, which runs with shared locking here. */
static int
journal_rows(struct fixture *f, const char *text)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int rows = 0;

	user_db_path(f, "alice", path, sizeof(path));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM blob_journal"
					    " ORDER BY id", -1, &stmt, NULL),
			 SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (text == NULL ||
		    ((size_t)sqlite3_column_bytes(stmt, 0) == strlen(text) &&
		     memcmp(sqlite3_column_blob(stmt, 0), text,
			    strlen(text)) == 0))
			rows++;
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return rows;
}

static void
test_message_journal(void **state)
{
	struct fixture *f = *state;
	struct store_settings set = {
		.data_dir = f->dir,
		.clock = test_clock,
		.clock_context = f,
		.journal = true,
	};
	const struct store_io io = { NULL, counting_fsync };
	const char *error = NULL;

	store_user_unref(&f->user);
	store_close(&f->store);
	assert_int_equal(store_open(&set, &f->store, &error), 0);
	store_set_io(f->store, &io);
	open_user(f);

	/* A small message: no fsync of its own (the first one made
	   blobs/00), its bytes in the commit. */
	assert_int_equal(save_msg(f->user, f->inbox, "small\r\n"), 1);
	journal_fsyncs = 0;
	assert_int_equal(save_msg(f->user, f->inbox, "more\r\n"), 2);
	assert_int_equal(journal_fsyncs, 0);
	assert_int_equal(journal_rows(f, NULL), 2);
	assert_int_equal(journal_rows(f, "small\r\n"), 1);
	assert_int_equal(journal_rows(f, "more\r\n"), 1);

	/* A large one is synced before its commit, and not journalled. */
	size_t big_len = STORE_JOURNAL_MAX + 1;
	char *big = malloc(big_len + 1);
	memset(big, 'x', big_len);
	big[big_len - 2] = '\r';
	big[big_len - 1] = '\n';
	big[big_len] = '\0';
	assert_int_equal(save_msg(f->user, f->inbox, big), 3);
	free(big);
	assert_int_equal(journal_fsyncs, 2);
	assert_int_equal(journal_rows(f, NULL), 2);

	/* The pass: the file made durable, the row gone. */
	journal_fsyncs = 0;
	assert_int_equal(store_journal_run(f->store), 2);
	assert_int_equal(journal_fsyncs, 1);
	assert_int_equal(journal_rows(f, NULL), 0);
	assert_int_equal(store_journal_run(f->store), 0);

	/* A message removed before the pass takes its row along. */
	assert_int_equal(save_msg(f->user, f->inbox, "gone\r\n"), 4);
	assert_int_equal(journal_rows(f, NULL), 1);
	struct store_uid_range r = { 4, 4 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
				       &error), 1);
	assert_int_equal(journal_rows(f, NULL), 0);
	(void)store_journal_run(f->store);

	/* A failed sync: each file is written again and synced alone
	   (the file, its directory), and only then the rows go. */
	assert_int_equal(save_msg(f->user, f->inbox, "retry\r\n"), 5);
	journal_fsyncs = 0;
	journal_fail = 1;
	assert_int_equal(store_journal_run(f->store), 1);
	assert_int_equal(journal_fsyncs, 3);
	assert_int_equal(journal_rows(f, NULL), 0);
	char *text = read_msg(f, f->inbox, 5);
	assert_string_equal(text, "retry\r\n");
	free(text);
	/* and a rewrite that fails keeps them */
	assert_int_equal(save_msg(f->user, f->inbox, "again\r\n"), 6);
	journal_fail = 2;
	assert_int_equal(store_journal_run(f->store), 0);
	assert_int_equal(journal_rows(f, "again\r\n"), 1);
	assert_int_equal(store_journal_run(f->store), 1);
	assert_int_equal(journal_rows(f, NULL), 0);

	/* Closing the user makes its files durable too. */
	assert_int_equal(save_msg(f->user, f->inbox, "kept\r\n"), 7);
	assert_int_equal(journal_rows(f, NULL), 1);
	struct store_message msg;
	assert_int_equal(store_message_get(f->user, f->inbox, 7, &msg,
					   &error), 1);
	store_user_unref(&f->user);
	store_close(&f->store);
	assert_int_equal(journal_rows(f, NULL), 0);

	/* A restart after a power cut: the row is back (the cut lost the
	   commit that dropped it) and the file lost its bytes. Opening the
	   user writes the file again from the row, before any read. */
	char path[512], sql[160];
	sqlite3 *db;
	user_db_path(f, "alice", path, sizeof(path));
	snprintf(sql, sizeof(sql), "INSERT INTO blob_journal VALUES (%lld, "
		 "CAST('kept' || char(13, 10) AS BLOB))",
		 (long long)msg.blob_id);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	snprintf(path, sizeof(path), "%s/users/%02x/alice/blobs/%02x/%016llx",
		 f->dir, store_name_hash("alice") & 0xff,
		 (unsigned)(msg.blob_id >> 56),
		 (unsigned long long)msg.blob_id);
	assert_int_equal(truncate(path, 0), 0);

	open_store(f, &f->store);
	open_user(f);
	assert_int_equal(journal_rows(f, NULL), 0);
	text = read_msg(f, f->inbox, 7);
	assert_string_equal(text, "kept\r\n");
	free(text);
	text = read_msg(f, f->inbox, 1);
	assert_string_equal(text, "small\r\n");
	free(text);
	assert_int_equal(count_files(f, "tmp"), 0);
}

/* The page size of a user's database, read beside the store. */
static int
db_page_size(struct fixture *f, const char *user)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int size = -1;

	user_db_path(f, user, path, sizeof(path));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &stmt,
					    NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		size = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return size;
}

/* New databases get small pages; one made before keeps its own. */
static void
test_page_size(void **state)
{
	struct fixture *f = *state;
	struct store_user *bob;
	const char *error = NULL;
	char path[512];
	sqlite3 *db;

	assert_int_equal(db_page_size(f, "alice"), 2048);

	/* bob's database exists already, with SQLite's default pages */
	snprintf(path, sizeof(path), "%s/users/%02x", f->dir,
		 store_name_hash("bob") & 0xff);
	assert_int_equal(mkdir(path, 0700) == 0 || errno == EEXIST, 1);
	snprintf(path, sizeof(path), "%s/users/%02x/bob", f->dir,
		 store_name_hash("bob") & 0xff);
	assert_int_equal(mkdir(path, 0700), 0);
	strcat(path, "/store.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA page_size = 4096;"
				      "CREATE TABLE t (x)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_user_get(f->store, "bob", &bob, &error), 0);
	assert_int_equal(save_msg(bob, 1, "a\r\n"), 1);
	store_user_unref(&bob);
	assert_int_equal(db_page_size(f, "bob"), 4096);
}

static void flag_uid(struct store_user *user, uint64_t mailbox, uint32_t uid,
		     enum store_flags_op op, uint8_t flags);

/* Syncs v, expecting no change. */
static void
sync_quiet(struct store_view *v)
{
	struct store_view_changes ch;
	const char *error;

	assert_int_equal(store_view_sync(v, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count + ch.expunged_count, 0);
	store_view_changes_free(&ch);
}

/* A view's sync asks the database for the mailbox's HIGHESTMODSEQ
   only when something may have changed it: with exclusive locking,
   when this store wrote since the last answer; with shared locking
   (another process may write), every time. */
static void
test_view_probe_exclusive(void **state)
{
	struct fixture *f = *state;
	struct store_settings set = { .data_dir = f->dir, .exclusive = true };
	struct store *xs;
	struct store_user *bob;
	struct store_mailbox_info info;
	struct store_view *v;
	struct store_view_entry e;
	const char *error = NULL;
	uint64_t other;

	assert_int_equal(store_open(&set, &xs, &error), 0);
	assert_int_equal(store_user_get(xs, "bob", &bob, &error), 0);
	assert_int_equal(store_mailbox_lookup(bob, "INBOX", &info, &error), 1);
	save_msg(bob, info.id, "a\r\n");
	assert_int_equal(store_view_open(bob, info.id, &v, &error), 1);
	sync_quiet(v);
	unsigned long reads = bob->modseq_reads;
	sync_quiet(v);
	sync_quiet(v);
	assert_int_equal(bob->modseq_reads, reads);

	flag_uid(bob, info.id, 1, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED);
	struct store_view_changes ch;
	assert_int_equal(store_view_sync(v, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 1);
	store_view_changes_free(&ch);
	assert_true(store_view_get(v, 1, &e));
	assert_int_equal(e.flags, STORE_FLAG_FLAGGED);
	/* the writer's own commit told the probe the new value */
	assert_int_equal(bob->modseq_reads, reads);
	sync_quiet(v);
	assert_int_equal(bob->modseq_reads, reads);
	/* a write elsewhere: read again, nothing to report */
	assert_int_equal(store_mailbox_create(bob, "Other", 0, &other,
					      &error), 1);
	save_msg(bob, other, "b\r\n");
	unsigned long view_reads = bob->view_reads;
	sync_quiet(v);
	assert_int_equal(bob->modseq_reads, reads + 1);
	assert_int_equal(bob->view_reads, view_reads);
	store_view_close(&v);
	store_mailbox_info_free(&info);
	store_user_unref(&bob);
	store_close(&xs);

	/* shared locking: every sync asks */
	save_msg(f->user, f->inbox, "a\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &v, &error), 1);
	sync_quiet(v);
	reads = f->user->modseq_reads;
	sync_quiet(v);
	sync_quiet(v);
	assert_int_equal(f->user->modseq_reads, reads + 2);
	store_view_close(&v);
}

/* This process's own changes (a STORE, an APPEND, an EXPUNGE) reach
   its views without a read of the store, numbered and reported as a
   read would have. */
static void
test_view_own_changes(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_view *v;
	struct store_view_changes ch;
	struct store_view_entry e;

	save_msg(f->user, f->inbox, "a\r\n");
	save_msg(f->user, f->inbox, "b\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &v, &error), 1);
	unsigned long reads = f->user->view_reads;

	flag_uid(f->user, f->inbox, 2, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED);
	assert_int_equal(store_view_sync(v, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 1);
	assert_int_equal(ch.changed_seqs[0], 2);
	store_view_changes_free(&ch);
	assert_true(store_view_get(v, 2, &e));
	assert_int_equal(e.flags, STORE_FLAG_FLAGGED);

	assert_int_equal(save_msg(f->user, f->inbox, "c\r\n"), 3);
	assert_int_equal(store_view_sync(v, true, &ch, &error), 1);
	assert_int_equal(ch.exists, 3);
	store_view_changes_free(&ch);
	assert_true(store_view_get(v, 3, &e));
	assert_int_equal(e.uid, 3);
	assert_true(e.blob_id != 0);
	assert_int_equal(e.size, 3);

	struct store_uid_range one = { 1, 1 };
	assert_int_equal(store_expunge(f->user, f->inbox, &one, 1, NULL,
				       &error), 1);
	assert_int_equal(store_view_sync(v, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_seqs[0], 1);
	assert_int_equal(ch.exists, 2);
	store_view_changes_free(&ch);
	assert_int_equal(f->user->view_reads, reads);
	store_view_close(&v);

	/* what the view holds is what the store has */
	assert_int_equal(store_view_open(f->user, f->inbox, &v, &error), 1);
	assert_true(store_view_get(v, 1, &e));
	assert_int_equal(e.uid, 2);
	assert_int_equal(e.flags, STORE_FLAG_FLAGGED);
	assert_true(store_view_get(v, 2, &e));
	assert_int_equal(e.uid, 3);
	assert_false(store_view_get(v, 3, &e));
	store_view_close(&v);

	/* a view kept in the cache is read again when opened, and its
	   entries leave the cache's count as they came */
	assert_int_equal(atomic_load(&f->store->view_cache_entries), 2);
	assert_int_equal(save_msg(f->user, f->inbox, "d\r\n"), 4);
	assert_int_equal(store_view_open(f->user, f->inbox, &v, &error), 1);
	assert_int_equal(atomic_load(&f->store->view_cache_entries), 0);
	assert_int_equal(store_view_count(v), 3);
	store_view_close(&v);
}

/* Whether the message file of blob_id is still there. */
static bool
blob_exists(struct store_user *user, uint64_t blob_id)
{
	const char *error;
	uint64_t size;
	int fd, ret;

	ret = store_blob_open(user, blob_id, &fd, &size, &error);
	assert_true(ret >= 0);
	if (ret > 0)
		close(fd);
	return ret > 0;
}

/* The blob of the message numbered seq in view v. */
static uint64_t
view_blob(struct store_view *v, uint32_t seq)
{
	struct store_view_entry e;

	assert_true(store_view_get(v, seq, &e));
	return e.blob_id;
}

static void
sync_view(struct store_view *v, bool allow_expunge)
{
	struct store_view_changes ch;
	const char *error;

	assert_int_equal(store_view_sync(v, allow_expunge, &ch, &error), 1);
	store_view_changes_free(&ch);
}

/* RFC 2180 4.1.1: a removed message's file stays while a view may still
   show the message, and goes once none can. */
static void
test_view_ghosts(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_view *a, *b;
	struct store_uid_range r;

	for (int i = 0; i < 4; i++)
		save_msg(f->user, f->inbox, "g\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	assert_int_equal(store_view_open(f->user, f->inbox, &b, &error), 1);
	uint64_t b1 = view_blob(a, 1), b2 = view_blob(a, 2), b3 = view_blob(a, 3);

	r = (struct store_uid_range){ 2, 2 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
				       &error), 1);
	assert_true(blob_exists(f->user, b2));
	/* Its cache row went with it: a record parsed again is kept with
	   the ghost for the next FETCH. */
	void *data;
	size_t size;
	assert_int_equal(store_cache_get(f->user, b2, STORE_CACHE_PARTS,
					 &data, &size, &error), 0);
	assert_int_equal(store_cache_set(f->user, b2, STORE_CACHE_PARTS,
					 "rec", 3, &error), 0);
	assert_int_equal(store_cache_get(f->user, b2, STORE_CACHE_PARTS,
					 &data, &size, &error), 1);
	assert_int_equal(size, 3);
	assert_memory_equal(data, "rec", 3);
	free(data);
	/* A reports the expunge, B has not: the file stays. */
	sync_view(a, true);
	assert_true(blob_exists(f->user, b2));
	/* B syncs without reporting expunges (during a FETCH): stays. */
	sync_view(b, false);
	assert_true(blob_exists(f->user, b2));
	assert_int_equal(view_blob(b, 2), b2);
	/* Every view has reported it: gone. */
	sync_view(b, true);
	assert_false(blob_exists(f->user, b2));
	assert_int_equal(store_cache_get(f->user, b2, STORE_CACHE_PARTS,
					 &data, &size, &error), 0);

	/* A view closed without reporting lets its ghosts go. */
	r = (struct store_uid_range){ 1, 1 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
				       &error), 1);
	sync_view(a, true);
	assert_true(blob_exists(f->user, b1));
	store_view_close(&b);
	assert_false(blob_exists(f->user, b1));

	/* With one view, its own sync lets the file go; with none, the
	   expunge itself does. */
	r = (struct store_uid_range){ 3, 3 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
				       &error), 1);
	assert_true(blob_exists(f->user, b3));
	sync_view(a, true);
	assert_false(blob_exists(f->user, b3));
	uint64_t b4 = view_blob(a, 1);
	store_view_close(&a);
	r = (struct store_uid_range){ 4, 4 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
				       &error), 1);
	assert_false(blob_exists(f->user, b4));
}

static void
test_view(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_view *a, *b;
	struct store_view_changes ch;
	struct store_view_entry e;

	for (int i = 0; i < 5; i++)
		save_msg(f->user, f->inbox, "v\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	assert_int_equal(store_view_count(a), 5);
	assert_true(store_view_get(a, 3, &e));
	assert_int_equal(e.uid, 3);
	assert_false(store_view_get(a, 6, &e));
	assert_false(store_view_get(a, 0, &e));
	assert_int_equal(store_view_seq(a, 4), 4);
	assert_int_equal(store_view_open(f->user, f->inbox, &b, &error), 1);

	/* Expunge 2, flag 4, add 6. */
	struct store_uid_range r2 = { 2, 2 }, r4 = { 4, 4 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r2, 1, NULL,
				       &error), 1);
	assert_int_equal(store_flags_update(f->user, f->inbox, &r4, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					    NULL, 0, 0, NULL, &error), 1);
	assert_int_equal(save_msg(f->user, f->inbox, "new\r\n"), 6);

	/* A may not report expunges now (say, during FETCH): 2 keeps its
	   number, 4 changed, 6 is new. */
	assert_int_equal(store_view_sync(a, false, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 0);
	assert_int_equal(ch.changed_count, 1);
	assert_int_equal(ch.changed_seqs[0], 4);
	assert_int_equal(ch.exists, 6);
	store_view_changes_free(&ch);
	assert_int_equal(store_view_count(a), 6);
	assert_int_equal(store_view_seq(a, 2), 2);
	assert_int_equal(store_view_seq(a, 6), 6);

	/* B may: 2 goes, 4 is now number 3. */
	assert_int_equal(store_view_sync(b, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_seqs[0], 2);
	assert_int_equal(ch.changed_count, 1);
	assert_int_equal(ch.changed_seqs[0], 3);
	assert_int_equal(ch.exists, 5);
	store_view_changes_free(&ch);
	assert_int_equal(store_view_count(b), 5);
	assert_int_equal(store_view_seq(b, 2), 0);
	assert_int_equal(store_view_seq(b, 4), 3);
	assert_true(store_view_get(b, 2, &e));
	assert_int_equal(e.uid, 3);
	assert_true(store_view_get(b, 3, &e));
	assert_true(e.flags & STORE_FLAG_SEEN);
	/* A still sees its old numbering. */
	assert_int_equal(store_view_count(a), 6);
	assert_true(store_view_get(a, 2, &e));
	assert_int_equal(e.uid, 2);

	/* Now A reports the expunge; nothing else is new for it. */
	assert_int_equal(store_view_sync(a, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_seqs[0], 2);
	assert_int_equal(ch.changed_count, 0);
	assert_int_equal(ch.exists, 5);
	store_view_changes_free(&ch);

	/* Several expunges come highest first: numbering is 1 3 4 5 6. */
	struct store_uid_range r15[] = { { 1, 1 }, { 5, 5 } };
	assert_int_equal(store_expunge(f->user, f->inbox, r15, 2, NULL,
				       &error), 1);
	assert_int_equal(store_view_sync(b, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 2);
	assert_int_equal(ch.expunged_seqs[0], 4);
	assert_int_equal(ch.expunged_seqs[1], 1);
	assert_int_equal(ch.expunged_uids[0], 1);
	assert_int_equal(ch.expunged_uids[1], 5);
	assert_int_equal(ch.exists, 3);
	store_view_changes_free(&ch);
	/* A third session joining now sees only the live messages. */
	struct store_view *c;
	assert_int_equal(store_view_open(f->user, f->inbox, &c, &error), 1);
	assert_int_equal(store_view_count(c), 3);
	assert_true(store_view_get(c, 1, &e));
	assert_int_equal(e.uid, 3);
	store_view_close(&c);
	assert_null(c);

	/* Nothing new: an empty report. */
	assert_int_equal(store_view_sync(b, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count + ch.changed_count, 0);
	assert_int_equal(ch.exists, 3);
	store_view_changes_free(&ch);
	store_view_close(&a);
	store_view_close(&b);

	/* A deleted mailbox ends the view. */
	uint64_t id;
	assert_int_equal(store_mailbox_create(f->user, "Tmp", 0, &id, &error),
			 1);
	assert_int_equal(store_view_open(f->user, id, &a, &error), 1);
	assert_int_equal(store_view_count(a), 0);
	assert_int_equal(store_mailbox_delete(f->user, "Tmp", &error), 1);
	assert_int_equal(store_view_sync(a, true, &ch, &error), 0);
	store_view_close(&a);
	assert_int_equal(store_view_open(f->user, 9999, &a, &error), 0);
}

static void
flag_uid(struct store_user *user, uint64_t mailbox, uint32_t uid,
	 enum store_flags_op op, uint8_t flags)
{
	struct store_uid_range r = { uid, uid };
	const char *error;

	assert_int_equal(store_flags_update(user, mailbox, &r, 1, op, flags,
					    NULL, 0, 0, NULL, &error), 1);
}

/* Woken syncs: the ring of flag changes, its overflow (the cursor falls
   back to a scan) and the store being read once per change. */
static void
test_view_ring(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_view *a, *b;
	struct store_view_changes ch;

	f->store->view_ring_max = 4;
	for (int i = 0; i < 10; i++)
		save_msg(f->user, f->inbox, "r\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	assert_int_equal(store_view_open(f->user, f->inbox, &b, &error), 1);

	/* Within the ring: both get 3 and 7 (once each, 3 changed twice),
	   numbered after B's expunge of 2. */
	flag_uid(f->user, f->inbox, 3, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	flag_uid(f->user, f->inbox, 7, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	flag_uid(f->user, f->inbox, 3, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED);
	struct store_uid_range r2 = { 2, 2 };
	assert_int_equal(store_expunge(f->user, f->inbox, &r2, 1, NULL,
				       &error), 1);
	assert_int_equal(store_view_sync_woken(a, false, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 0);
	assert_int_equal(ch.changed_count, 2);
	assert_int_equal(ch.changed_seqs[0], 3);
	assert_int_equal(ch.changed_seqs[1], 7);
	assert_int_equal(ch.exists, 10);
	store_view_changes_free(&ch);
	assert_int_equal(store_view_sync_woken(b, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_seqs[0], 2);
	assert_int_equal(ch.changed_count, 2);
	assert_int_equal(ch.changed_seqs[0], 2);
	assert_int_equal(ch.changed_seqs[1], 6);
	assert_int_equal(ch.exists, 9);
	store_view_changes_free(&ch);

	/* Six changes overflow a ring of four while B sleeps; A keeps up
	   (ring), B falls behind it (scan): both get everything. */
	for (uint32_t uid = 4; uid <= 9; uid++) {
		flag_uid(f->user, f->inbox, uid, STORE_FLAGS_ADD,
			 STORE_FLAG_ANSWERED);
		assert_int_equal(store_view_sync_woken(a, false, &ch, &error),
				 1);
		assert_int_equal(ch.changed_count, 1);
		assert_int_equal(ch.changed_seqs[0], uid);
		store_view_changes_free(&ch);
	}
	assert_int_equal(store_view_sync_woken(b, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 0);
	assert_int_equal(ch.changed_count, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(ch.changed_seqs[i], 3 + i);
	store_view_changes_free(&ch);
	/* Nothing twice. */
	assert_int_equal(store_view_sync_woken(b, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count + ch.expunged_count, 0);
	store_view_changes_free(&ch);

	/* One STORE on more messages than the ring holds. */
	struct store_uid_range all = { 1, 10 };
	assert_int_equal(store_flags_update(f->user, f->inbox, &all, 1,
					    STORE_FLAGS_ADD, STORE_FLAG_DRAFT,
					    NULL, 0, 0, NULL, &error), 1);
	assert_int_equal(store_view_sync_woken(b, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 9);
	store_view_changes_free(&ch);
	assert_int_equal(store_view_sync_woken(a, true, &ch, &error), 1);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.changed_count, 9);
	assert_int_equal(ch.exists, 9);
	store_view_changes_free(&ch);

	/* Without a ring at all every sync scans. */
	f->store->view_ring_max = 0;
	flag_uid(f->user, f->inbox, 10, STORE_FLAGS_REMOVE, STORE_FLAG_DRAFT);
	assert_int_equal(store_view_sync_woken(a, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 1);
	assert_int_equal(ch.changed_seqs[0], 9);
	store_view_changes_free(&ch);
	store_view_close(&a);
	store_view_close(&b);
}

/* A woken sync answers from memory once the view has read this
   process's changes: a change by another process waits for a full sync
   (or the next change of our own, whose refresh reads it too). */
static void
test_view_woken_external(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store *store2;
	struct store_user *user2;
	struct store_view *a;
	struct store_view_changes ch;

	for (int i = 0; i < 4; i++)
		save_msg(f->user, f->inbox, "w\r\n");
	open_store(f, &store2);
	assert_int_equal(store_user_get(store2, "alice", &user2, &error), 0);
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);

	flag_uid(user2, f->inbox, 2, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	assert_int_equal(store_view_sync_woken(a, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 0);
	store_view_changes_free(&ch);
	flag_uid(f->user, f->inbox, 3, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	assert_int_equal(store_view_sync_woken(a, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 2);
	assert_int_equal(ch.changed_seqs[0], 2);
	assert_int_equal(ch.changed_seqs[1], 3);
	store_view_changes_free(&ch);

	flag_uid(user2, f->inbox, 4, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	assert_int_equal(store_view_sync(a, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 1);
	assert_int_equal(ch.changed_seqs[0], 4);
	store_view_changes_free(&ch);

	/* A deleted mailbox reaches a woken sync at once. */
	uint64_t id;
	struct store_view *t;
	assert_int_equal(store_mailbox_create(f->user, "Tmp", 0, &id, &error),
			 1);
	assert_int_equal(store_view_open(f->user, id, &t, &error), 1);
	assert_int_equal(store_mailbox_delete(f->user, "Tmp", &error), 1);
	assert_int_equal(store_view_sync_woken(t, true, &ch, &error), 0);
	store_view_close(&t);

	store_view_close(&a);
	store_user_unref(&user2);
	store_close(&store2);
}

/* A view kept after its last cursor: reused, and never stale whatever
   another process (`quire deliver` with the daemon stopped) wrote. */
static void
test_view_cache(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store *store2;
	struct store_user *user2;
	struct store_view *a;
	struct store_view_entry e;

	for (int i = 0; i < 6; i++)
		save_msg(f->user, f->inbox, "c\r\n");
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	store_view_close(&a);
	assert_int_equal(store_view_cached_count(f->user), 1);
	assert_int_equal(atomic_load(&f->store->view_cache_entries), 6);

	/* Another process flags one, saves one and expunges one. */
	open_store(f, &store2);
	assert_int_equal(store_user_get(store2, "alice", &user2, &error), 0);
	flag_uid(user2, f->inbox, 2, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED);
	assert_int_equal(save_msg(user2, f->inbox, "d\r\n"), 7);
	struct store_uid_range r1 = { 1, 1 };
	assert_int_equal(store_expunge(user2, f->inbox, &r1, 1, NULL, &error),
			 1);
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	assert_int_equal(atomic_load(&f->store->view_cache_entries), 0);
	assert_int_equal(store_view_count(a), 6);
	assert_true(store_view_get(a, 1, &e));
	assert_int_equal(e.uid, 2);
	assert_int_equal(e.flags, STORE_FLAG_FLAGGED);
	assert_true(store_view_get(a, 6, &e));
	assert_int_equal(e.uid, 7);
	/* The reopened view's ring starts afresh and works. */
	struct store_view_changes ch;
	flag_uid(f->user, f->inbox, 7, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	assert_int_equal(store_view_sync_woken(a, true, &ch, &error), 1);
	assert_int_equal(ch.changed_count, 1);
	assert_int_equal(ch.changed_seqs[0], 6);
	store_view_changes_free(&ch);
	store_view_close(&a);

	/* Expunges past the other process's trimmed log: the reopen
	   compares every message instead. */
	store2->expunge_log_max = 1;
	for (uint32_t uid = 3; uid <= 5; uid++) {
		struct store_uid_range r = { uid, uid };
		assert_int_equal(store_expunge(user2, f->inbox, &r, 1, NULL,
					       &error), 1);
	}
	flag_uid(user2, f->inbox, 6, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	assert_int_equal(store_view_count(a), 3);
	uint32_t want[] = { 2, 6, 7 };
	for (uint32_t seq = 1; seq <= 3; seq++) {
		assert_true(store_view_get(a, seq, &e));
		assert_int_equal(e.uid, want[seq - 1]);
	}
	assert_true(store_view_get(a, 2, &e));
	assert_int_equal(e.flags, STORE_FLAG_SEEN);
	store_view_close(&a);

	/* A mailbox deleted meanwhile: the cached view goes. */
	uint64_t id;
	assert_int_equal(store_mailbox_create(f->user, "Gone", 0, &id, &error),
			 1);
	assert_int_equal(store_view_open(f->user, id, &a, &error), 1);
	store_view_close(&a);
	assert_int_equal(store_view_cached_count(f->user), 2);
	assert_int_equal(store_mailbox_delete(user2, "Gone", &error), 1);
	assert_int_equal(store_view_open(f->user, id, &a, &error), 0);
	assert_int_equal(store_view_cached_count(f->user), 1);

	/* At most STORE_VIEW_CACHE_PER_USER per user. */
	for (int i = 0; i < STORE_VIEW_CACHE_PER_USER + 2; i++) {
		char name[16];
		snprintf(name, sizeof(name), "Box%d", i);
		assert_int_equal(store_mailbox_create(f->user, name, 0, &id,
						      &error), 1);
		assert_int_equal(store_view_open(f->user, id, &a, &error), 1);
		store_view_close(&a);
	}
	assert_int_equal(store_view_cached_count(f->user),
			 STORE_VIEW_CACHE_PER_USER);
	/* And none past the process's entry budget. */
	store_view_cache_drop(f->user);
	assert_int_equal(store_view_cached_count(f->user), 0);
	assert_int_equal(atomic_load(&f->store->view_cache_entries), 0);
	f->store->view_cache_max_entries = 2;
	assert_int_equal(store_view_open(f->user, f->inbox, &a, &error), 1);
	store_view_close(&a);
	assert_int_equal(store_view_cached_count(f->user), 0);

	store_user_unref(&user2);
	store_close(&store2);
}

/* Random saves, expunges, flag changes and syncs with three sessions; each
   session's numbering must match what it has been told so far. */
#define VIEW_SESSIONS 3
static void
test_view_random(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_view *v[VIEW_SESSIONS];
	/* What each session believes: UIDs by sequence number. */
	uint32_t model[VIEW_SESSIONS][256];
	/* And the flags it was told of, by the same index. */
	uint8_t mflags[VIEW_SESSIONS][256];
	unsigned model_n[VIEW_SESSIONS];
	uint32_t next_uid = 1;
	unsigned seed = 12345;

	/* A small change ring: syncs use it and fall behind it. */
	f->store->view_ring_max = 3;
	for (int i = 0; i < 10; i++)
		next_uid = save_msg(f->user, f->inbox, "r\r\n") + 1;
	for (int s = 0; s < VIEW_SESSIONS; s++) {
		assert_int_equal(store_view_open(f->user, f->inbox, &v[s],
						 &error), 1);
		model_n[s] = 0;
		for (uint32_t u = 1; u < next_uid; u++) {
			mflags[s][model_n[s]] = 0;
			model[s][model_n[s]++] = u;
		}
	}
	for (int step = 0; step < 300; step++) {
		seed = seed * 1103515245 + 12345;
		unsigned op = (seed >> 16) % 6;
		uint32_t uid = 1 + (seed >> 8) % next_uid;
		struct store_uid_range r = { uid, uid };
		if (op == 0 && next_uid < 200) {
			next_uid = save_msg(f->user, f->inbox, "r\r\n") + 1;
		} else if (op == 1) {
			assert_int_equal(store_expunge(f->user, f->inbox, &r, 1,
						       NULL, &error), 1);
		} else if (op == 2) {
			assert_int_equal(store_flags_update(
					 f->user, f->inbox, &r, 1,
					 STORE_FLAGS_REPLACE, (uint8_t)seed & 0x1f,
					 NULL, 0, 0, NULL, &error), 1);
		} else {
			unsigned s = (seed >> 4) % VIEW_SESSIONS;
			bool allow = (seed >> 12) & 1;
			struct store_view_changes ch;
			/* Every change here is this process's: a woken sync
			   must report the same as a full one. */
			bool woken = (seed >> 13) & 1;
			assert_int_equal(woken ?
					 store_view_sync_woken(v[s], allow, &ch,
							       &error) :
					 store_view_sync(v[s], allow, &ch,
							 &error), 1);
			/* Apply the report to the model, in order. */
			uint32_t prev = UINT32_MAX;
			for (unsigned k = 0; k < ch.expunged_count; k++) {
				uint32_t q = ch.expunged_seqs[k];
				assert_true(q >= 1 && q <= model_n[s]);
				assert_true(q < prev);
				prev = q;
				memmove(&model[s][q - 1], &model[s][q],
					(model_n[s] - q) * sizeof(uint32_t));
				memmove(&mflags[s][q - 1], &mflags[s][q],
					model_n[s] - q);
				model_n[s]--;
			}
			assert_true(ch.exists >= model_n[s]);
			for (unsigned q = model_n[s] + 1; q <= ch.exists; q++) {
				struct store_view_entry e;
				assert_true(store_view_get(v[s], q, &e));
				assert_true(model_n[s] == 0 ||
					    e.uid > model[s][model_n[s] - 1]);
				mflags[s][model_n[s]] = e.flags;
				model[s][model_n[s]++] = e.uid;
			}
			for (unsigned k = 0; k < ch.changed_count; k++) {
				uint32_t q = ch.changed_seqs[k];
				struct store_view_entry e;
				assert_true(q <= ch.exists);
				assert_true(k == 0 || q > ch.changed_seqs[k - 1]);
				assert_true(store_view_get(v[s], q, &e));
				mflags[s][q - 1] = e.flags;
			}
			/* No change missed: what the session was told of a
			   live message is its flags now. */
			for (unsigned q = 1; q <= model_n[s]; q++) {
				struct store_message m;
				int ret = store_message_get(f->user, f->inbox,
							    model[s][q - 1],
							    &m, &error);
				assert_true(ret >= 0);
				if (ret > 0)
					assert_int_equal(mflags[s][q - 1],
							 m.flags);
			}
			store_view_changes_free(&ch);
		}
		/* Every session's numbering is exactly its model. */
		for (int s = 0; s < VIEW_SESSIONS; s++) {
			assert_int_equal(store_view_count(v[s]), model_n[s]);
			for (unsigned q = 1; q <= model_n[s]; q++) {
				struct store_view_entry e;
				assert_true(store_view_get(v[s], q, &e));
				assert_int_equal(e.uid, model[s][q - 1]);
				assert_int_equal(store_view_seq(v[s], e.uid), q);
			}
			struct store_view_entry e;
			assert_false(store_view_get(v[s], model_n[s] + 1, &e));
		}
	}
	/* After a full sync everyone agrees with the store. */
	struct store_message *msgs;
	unsigned count;
	assert_int_equal(store_message_list(f->user, f->inbox, &msgs, &count,
					    &error), 1);
	for (int s = 0; s < VIEW_SESSIONS; s++) {
		struct store_view_changes ch;
		assert_int_equal(store_view_sync(v[s], true, &ch, &error), 1);
		assert_int_equal(ch.exists, count);
		store_view_changes_free(&ch);
		for (unsigned q = 1; q <= count; q++) {
			struct store_view_entry e;
			assert_true(store_view_get(v[s], q, &e));
			assert_int_equal(e.uid, msgs[q - 1].uid);
			assert_int_equal(e.flags, msgs[q - 1].flags);
		}
		store_view_close(&v[s]);
	}
	free(msgs);
}

static sqlite3 *
raw_db(struct fixture *f)
{
	char path[512];
	sqlite3 *db;

	user_path(f, "store.db", path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The database refuses the transaction after the file was renamed into
   blobs/ (as a full disk would): the file must go, the UID is not used. */
static void
test_db_failures(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_save *save;
	struct store_mailbox_status st;
	sqlite3 *db = raw_db(f);

	assert_int_equal(sqlite3_exec(db,
				      "CREATE TRIGGER fail BEFORE INSERT ON "
				      "messages BEGIN SELECT RAISE(ABORT, "
				      "'database or disk is full'); END;",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, "x\r\n", 3, &error), 0);
	assert_int_equal(store_save_commit(&save, NULL, &error), -1);
	assert_non_null(strstr(error, "full"));
	assert_int_equal(count_files(f, "blobs"), 0);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 1);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER fail", NULL, NULL,
				      NULL), SQLITE_OK);
	assert_int_equal(save_msg(f->user, f->inbox, "y\r\n"), 1);

	/* Another process holds the write lock past the busy timeout. */
	struct store *store2;
	struct store_user *user2;
	struct store_settings set = { .data_dir = f->dir,
				      .busy_timeout_msecs = 50 };
	assert_int_equal(store_open(&set, &store2, &error), 0);
	assert_int_equal(store_user_get(store2, "alice", &user2, &error), 0);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(store_save_begin(user2, f->inbox, &save, &error), 0);
	assert_int_equal(store_save_write(save, "z\r\n", 3, &error), 0);
	assert_int_equal(store_save_commit(&save, NULL, &error), -1);
	assert_non_null(strstr(error, "locked"));
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(count_files(f, "blobs"), 1);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(save_msg(user2, f->inbox, "w\r\n"), 2);
	store_user_unref(&user2);
	store_close(&store2);
	sqlite3_close(db);
}

static size_t
crash_text(unsigned i, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "Subject: msg %u\r\n\r\n", i);
	for (unsigned k = 0; k < i % 40 && len + 40 < size; k++)
		len += (size_t)snprintf(buf + len, size - len,
					"line %u of message %u\r\n", k, i);
	return len;
}

/* A writer killed at an arbitrary point: every save it acknowledged must
   be there, byte for byte, and after the startup check every row has its
   file and every file its row. */
static void
test_crash_kill(void **state)
{
	struct fixture *f = *state;
	const char *error;
	char buf[4096];

	for (int round = 0; round < 4; round++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct store *cs;
			struct store_user *cu;
			struct store_settings set = { .data_dir = f->dir };
			close(fds[0]);
			if (store_open(&set, &cs, &error) < 0 ||
			    store_user_get(cs, "alice", &cu, &error) < 0)
				_exit(1);
			for (unsigned i = 0; i < 100000; i++) {
				struct store_save *save;
				uint32_t pair[2];
				size_t len = crash_text(i, buf, sizeof(buf));
				if (store_save_begin(cu, f->inbox, &save,
						     &error) < 0 ||
				    store_save_write(save, buf, len / 2,
						     &error) < 0 ||
				    store_save_write(save, buf + len / 2,
						     len - len / 2, &error) < 0 ||
				    store_save_commit(&save, &pair[1],
						      &error) < 0)
					_exit(1);
				pair[0] = i;
				if (write(fds[1], pair, sizeof(pair)) !=
				    sizeof(pair))
					_exit(1);
			}
			_exit(0);
		}
		close(fds[1]);
		/* Let it acknowledge a few, then kill it mid-flight. */
		uint32_t acked[4096][2];
		unsigned n = 0, want = 3 + (unsigned)round * 7;
		while (n < want && read(fds[0], acked[n], sizeof(acked[n])) ==
					   sizeof(acked[n]))
			n++;
		assert_int_equal(n, want);
		usleep((useconds_t)round * 1500);
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		while (n < 4096 && read(fds[0], acked[n], sizeof(acked[n])) ==
					   sizeof(acked[n]))
			n++;
		close(fds[0]);

		struct store_check_result res;
		assert_int_equal(store_check(f->store, &res, &error), 0);
		if (getenv("STORE_TEST_VERBOSE") != NULL)
			fprintf(stderr, "round %d: acked %u tmp %u orphans %u\n",
				round, n, res.tmp_removed, res.orphan_blobs);
		assert_int_equal(res.missing_blobs, 0);
		assert_int_equal(res.errors, 0);
		assert_int_equal(count_files(f, "tmp"), 0);

		for (unsigned k = 0; k < n; k++) {
			size_t len = crash_text(acked[k][0], buf, sizeof(buf));
			char *text = read_msg(f, f->inbox, acked[k][1]);
			assert_int_equal(strlen(text), len);
			assert_memory_equal(text, buf, len);
			free(text);
		}
		struct store_message *msgs;
		unsigned count;
		assert_int_equal(store_message_list(f->user, f->inbox, &msgs,
						    &count, &error), 1);
		assert_int_equal(count_files(f, "blobs"), count);
		for (unsigned k = 0; k < count; k++) {
			int fd;
			uint64_t size;
			assert_int_equal(store_blob_open(f->user,
							 msgs[k].blob_id, &fd,
							 &size, &error), 1);
			assert_int_equal(size, msgs[k].size);
			close(fd);
		}
		free(msgs);
	}
}

static void
test_expunge_log_trim(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_mailbox_status st;
	uint64_t ms[6];

	f->store->expunge_log_max = 3;
	for (int i = 0; i < 6; i++)
		save_msg(f->user, f->inbox, "t\r\n");
	/* Five expunges of one message each. */
	for (uint32_t uid = 1; uid <= 5; uid++) {
		struct store_uid_range r = { uid, uid };
		assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
					       &error), 1);
		assert_int_equal(store_mailbox_status(f->user, f->inbox, &st,
						      &error), 1);
		ms[uid] = st.highestmodseq;
	}
	/* Only the last three are kept; the floor says where the gap is. */
	assert_int_equal(st.expunge_floor, ms[2]);
	struct store_message *changed;
	uint32_t *vanished;
	unsigned nc, nv;
	assert_int_equal(store_mailbox_changes(f->user, f->inbox, 0, &changed,
					       &nc, &vanished, &nv, &error), 1);
	assert_int_equal(nv, 3);
	assert_int_equal(vanished[0], 3);
	assert_int_equal(vanished[2], 5);
	free(changed);
	free(vanished);
	/* A client synced at or above the floor gets the full answer. */
	assert_int_equal(store_mailbox_changes(f->user, f->inbox, ms[3],
					       &changed, &nc, &vanished, &nv,
					       &error), 1);
	assert_int_equal(nv, 2);
	free(changed);
	free(vanished);
}

/* A large limit is looked at only now and then (one operation in
   max / 512 at random), so the log stays near it, not exactly at it. */
static void
test_expunge_log_trim_amortised(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_mailbox_status st;
	const unsigned max = 1024, n = 1200;

	f->store->expunge_log_max = max;
	for (unsigned i = 0; i < n; i++)
		save_msg(f->user, f->inbox, "t\r\n");
	for (uint32_t uid = 1; uid <= n; uid++) {
		struct store_uid_range r = { uid, uid };
		assert_int_equal(store_expunge(f->user, f->inbox, &r, 1, NULL,
					       &error), 1);
	}
	struct store_message *changed;
	uint32_t *vanished;
	unsigned nc, nv;
	assert_int_equal(store_mailbox_changes(f->user, f->inbox, 0, &changed,
					       &nc, &vanished, &nv, &error), 1);
	/* Each operation is looked at with odds 1/2: 40 misses in a row
	   would be one chance in 2^40. */
	assert_true(nv >= max - 40 && nv <= max + 40);
	assert_int_equal(vanished[nv - 1], n);
	free(changed);
	free(vanished);
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_true(st.expunge_floor > 0);
}

/* Three saves prepared as if from three sessions, committed as one
   group. */
static void
group_prepare(struct fixture *f, const uint64_t *mailboxes,
	      struct store_save **saves)
{
	const char *error;

	for (int i = 0; i < 3; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "group %d\r\n", i);
		assert_int_equal(store_save_begin(f->user, mailboxes[i],
						  &saves[i], &error), 0);
		assert_int_equal(store_save_write(saves[i], text, (size_t)len,
						  &error), 0);
		assert_int_equal(f->store->backend->save_finish(saves[i],
								&error), 0);
	}
}

static void
group_commit(struct fixture *f, struct store_save **saves)
{
	store_user_lock(f->user);
	f->store->backend->save_commit_batch(saves, 3);
	f->store->backend->call_end(f->user);
	store_user_unlock(f->user);
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct store_save *saves[3];
	uint64_t gone;

	/* The middle one's mailbox disappears: the others still go in. */
	assert_int_equal(store_mailbox_create(f->user, "Gone", 0, &gone,
					      &error), 1);
	const uint64_t mbs[3] = { f->inbox, gone, f->inbox };
	group_prepare(f, mbs, saves);
	assert_int_equal(store_mailbox_delete(f->user, "Gone", &error), 1);
	group_commit(f, saves);
	assert_int_equal(saves[0]->commit_ret, 0);
	assert_int_equal(saves[0]->commit_uid, 1);
	assert_int_equal(saves[1]->commit_ret, -1);
	assert_string_equal(saves[1]->commit_error,
			    "Mailbox no longer exists");
	assert_int_equal(saves[2]->commit_ret, 0);
	assert_int_equal(saves[2]->commit_uid, 2);
	for (int i = 0; i < 3; i++)
		store_save_abort(&saves[i]);
	assert_int_equal(count_files(f, "blobs"), 2);
	assert_int_equal(count_files(f, "tmp"), 0);
	char *text = read_msg(f, f->inbox, 2);
	assert_string_equal(text, "group 2\r\n");
	free(text);

	/* The database throws the whole transaction away at the second:
	   all three fail, no file stays, no UID is used. */
	sqlite3 *db = raw_db(f);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TRIGGER fail BEFORE INSERT ON "
				      "messages WHEN NEW.uid = 4 BEGIN SELECT "
				      "RAISE(ROLLBACK, 'I/O error'); END;",
				      NULL, NULL, NULL), SQLITE_OK);
	const uint64_t mbs2[3] = { f->inbox, f->inbox, f->inbox };
	group_prepare(f, mbs2, saves);
	group_commit(f, saves);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(saves[i]->commit_ret, -1);
		store_save_abort(&saves[i]);
	}
	assert_int_equal(count_files(f, "blobs"), 2);
	assert_int_equal(count_files(f, "tmp"), 0);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->user, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.uidnext, 3);
	assert_int_equal(st.messages, 2);
	sqlite3_exec(db, "DROP TRIGGER fail", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(save_msg(f->user, f->inbox, "after\r\n"), 3);

	/* A caller holding the user lock commits alone instead of waiting
	   for a leader that would need that lock. */
	store_user_lock(f->user);
	assert_int_equal(save_msg(f->user, f->inbox, "locked\r\n"), 4);
	store_user_unlock(f->user);
}

static void
test_write_crlf(void **state)
{
	struct fixture *f = *state;
	const char *error;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "a\nb\n", "a\r\nb\r\n" },
		{ "a\r\nb\r\n", "a\r\nb\r\n" },
		{ "\n\n", "\r\n\r\n" },
		{ "a\rb\n", "a\rb\r\n" }, /* a lone CR stays */
		{ "\r\r\n\n", "\r\r\n\r\n" },
	};
	uint32_t uid = 0;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t len = strlen(cases[c].in);
		/* Every split point, and byte at a time, give the same. */
		for (size_t cut = 0; cut <= len + 1; cut++) {
			struct store_save *save;
			assert_int_equal(store_save_begin(f->user, f->inbox,
							  &save, &error), 0);
			if (cut <= len) {
				assert_int_equal(store_save_write_crlf(
					save, cases[c].in, cut, &error), 0);
				assert_int_equal(store_save_write_crlf(
					save, cases[c].in + cut, len - cut,
					&error), 0);
			} else {
				for (size_t i = 0; i < len; i++)
					assert_int_equal(store_save_write_crlf(
						save, cases[c].in + i, 1,
						&error), 0);
			}
			assert_int_equal(store_save_commit(&save, &uid,
							   &error), 0);
			char *text = read_msg(f, f->inbox, uid);
			assert_string_equal(text, cases[c].out);
			free(text);
		}
	}
}

static uint32_t
status_recent(struct fixture *f, uint64_t mailbox)
{
	struct store_mailbox_status st;
	const char *error;

	assert_int_equal(store_mailbox_status(f->user, mailbox, &st, &error),
			 1);
	return st.recent;
}

static void
claim(struct store_user *user, uint64_t mailbox, uint32_t until,
      uint32_t first_expect, uint32_t until_expect)
{
	uint32_t first, last;
	const char *error;

	assert_int_equal(store_mailbox_recent_claim(user, mailbox, until,
						    &first, &last, &error),
			 1);
	assert_int_equal(first, first_expect);
	assert_int_equal(last, until_expect);
}

static void
test_recent(void **state)
{
	struct fixture *f = *state;
	const char *error;
	uint32_t first, until;

	/* A new mailbox: everything saved is recent until claimed. */
	assert_int_equal(status_recent(f, f->inbox), 0);
	save_msg(f->user, f->inbox, "a\r\n");
	save_msg(f->user, f->inbox, "b\r\n");
	assert_int_equal(status_recent(f, f->inbox), 2);
	assert_int_equal(status_recent(f, f->inbox), 2); /* no claim */
	claim(f->user, f->inbox, 0, 1, 3);
	assert_int_equal(status_recent(f, f->inbox), 0);
	/* The second claimer gets nothing. */
	claim(f->user, f->inbox, 0, 3, 3);

	/* A claim for one new message; capped at UIDNEXT; never backwards. */
	save_msg(f->user, f->inbox, "c\r\n");
	save_msg(f->user, f->inbox, "d\r\n");
	assert_int_equal(status_recent(f, f->inbox), 2);
	claim(f->user, f->inbox, 4, 3, 4);
	claim(f->user, f->inbox, 2, 4, 4);
	claim(f->user, f->inbox, 100, 4, 5);
	claim(f->user, f->inbox, 0, 5, 5);

	/* Persisted across reopen. */
	save_msg(f->user, f->inbox, "e\r\n");
	store_user_unref(&f->user);
	store_close(&f->store);
	open_store(f, &f->store);
	open_user(f);
	assert_int_equal(status_recent(f, f->inbox), 1);

	/* A claim is kept in memory and written with the user's next write:
	   a second handle (another process) sees it only then. */
	struct store *store2;
	struct store_user *user2;
	struct store_mailbox_status st;
	open_store(f, &store2);
	assert_int_equal(store_user_get(store2, "alice", &user2, &error), 0);
	claim(f->user, f->inbox, 0, 5, 6);
	assert_int_equal(status_recent(f, f->inbox), 0);
	assert_int_equal(store_mailbox_status(user2, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.recent, 1);
	save_msg(f->user, f->inbox, "f\r\n");
	assert_int_equal(store_mailbox_status(user2, f->inbox, &st, &error),
			 1);
	assert_int_equal(st.recent, 1); /* only the new one */
	claim(user2, f->inbox, 0, 6, 7);
	store_user_unref(&user2);
	store_close(&store2);

	/* ... or when the user is closed. */
	claim(f->user, f->inbox, 0, 7, 7);
	save_msg(f->user, f->inbox, "g\r\n");
	claim(f->user, f->inbox, 0, 7, 8);
	store_user_unref(&f->user);
	store_close(&f->store);
	open_store(f, &f->store);
	open_user(f);
	assert_int_equal(status_recent(f, f->inbox), 0);
	claim(f->user, f->inbox, 0, 8, 8);

	/* No such mailbox. */
	assert_int_equal(store_mailbox_recent_claim(f->user, 9999, 0, &first,
						    &until, &error), 0);
}

/* What takes a store from version 4 back to 3 (the full-text index),
   for the tests that fake an older store. */
#define FTS_SCHEMA_UNDO                                                     \
	"DROP TRIGGER blobs_fts_delete; DROP TABLE fts;"                    \
	"DROP INDEX IF EXISTS blobs_fts_pending;"                           \
	"ALTER TABLE blobs DROP COLUMN fts;"

/* A store.db written by a build before \Recent (schema version 1, no
   first_recent_uid) opens, keeps its messages not recent, and tracks new
   ones. */
static void
test_recent_upgrade(void **state)
{
	struct fixture *f = *state;
	char path[512];
	sqlite3 *db;

	save_msg(f->user, f->inbox, "a\r\n");
	save_msg(f->user, f->inbox, "b\r\n");
	store_user_unref(&f->user);
	store_close(&f->store);

	snprintf(path, sizeof(path), "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      FTS_SCHEMA_UNDO
				      "ALTER TABLE mailboxes DROP COLUMN "
				      "first_recent_uid;"
				      "DROP TABLE subscriptions;"
				      "PRAGMA user_version = 1;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	open_store(f, &f->store);
	open_user(f);
	assert_int_equal(status_recent(f, f->inbox), 0);
	claim(f->user, f->inbox, 0, 3, 3);
	assert_int_equal(save_msg(f->user, f->inbox, "c\r\n"), 3);
	assert_int_equal(status_recent(f, f->inbox), 1);
	claim(f->user, f->inbox, 0, 3, 4);

	/* Upgraded once: reopening leaves the version and the column. */
	store_user_unref(&f->user);
	store_close(&f->store);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1,
					    &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 8);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	open_store(f, &f->store);
	open_user(f);
	claim(f->user, f->inbox, 0, 4, 4);
}

static void
expect_subs(struct store_user *user, const char *const *want,
	    unsigned want_count)
{
	const char *error;
	char **names;
	unsigned count;

	assert_int_equal(store_subscription_list(user, &names, &count,
						 &error), 0);
	assert_int_equal(count, want_count);
	for (unsigned i = 0; i < count; i++)
		assert_string_equal(names[i], want[i]);
	store_subscription_list_free(&names, count);
}

/* Subscriptions are names, apart from mailboxes: set, list, DELETE keeps
   them, CREATE again shows them subscribed, they survive reopening. */
static void
test_subscriptions(void **state)
{
	struct fixture *f = *state;
	struct store_mailbox_info info;
	const char *error;
	uint64_t id;
	static const struct {
		const char *name;
		bool subscribe;
		int ret;
	} steps[] = {
		{ "Ghost", true, 1 },	   /* no such mailbox: allowed */
		{ "Ghost", true, 1 },	   /* twice: no error, one entry */
		{ "a/b", true, 1 },
		{ "inbox", true, 1 },	   /* stored as INBOX */
		{ "Absent", false, 1 },	   /* not subscribed: no error */
		{ "", true, -1 },	   /* invalid names */
		{ "a//b", true, -1 },
		{ "/a", false, -1 },
		{ "Kept", true, 1 },
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(store_subscription_set(f->user, steps[i].name,
							steps[i].subscribe,
							&error),
				 steps[i].ret);
	}
	static const char *const want1[] = { "Ghost", "INBOX", "Kept",
					     "a/b" };
	expect_subs(f->user, want1, 4);

	assert_int_equal(store_mailbox_create(f->user, "Kept", 0, &id,
					      &error), 1);
	assert_int_equal(store_mailbox_lookup(f->user, "Kept", &info, &error),
			 1);
	assert_true(info.subscribed);
	store_mailbox_info_free(&info);
	assert_int_equal(store_mailbox_delete(f->user, "Kept", &error), 1);
	expect_subs(f->user, want1, 4);
	assert_int_equal(store_mailbox_create(f->user, "Kept", 0, &id,
					      &error), 1);
	assert_int_equal(store_mailbox_lookup(f->user, "Kept", &info, &error),
			 1);
	assert_true(info.subscribed);
	store_mailbox_info_free(&info);

	assert_int_equal(store_subscription_set(f->user, "Ghost", false,
						&error), 1);
	static const char *const want2[] = { "INBOX", "Kept", "a/b" };
	expect_subs(f->user, want2, 3);

	/* Persisted. */
	store_user_unref(&f->user);
	store_close(&f->store);
	open_store(f, &f->store);
	open_user(f);
	expect_subs(f->user, want2, 3);
	assert_int_equal(store_mailbox_lookup(f->user, "INBOX", &info,
					      &error), 1);
	assert_true(info.subscribed);
	store_mailbox_info_free(&info);
}

/* A store.db of schema version 2 (subscribed flag on the mailbox row)
   upgrades to version 3 with its subscribed flags copied into the list. */
static void
test_subscriptions_upgrade(void **state)
{
	struct fixture *f = *state;
	struct store_mailbox_info info;
	const char *error;
	char path[512];
	sqlite3 *db;
	uint64_t id;

	assert_int_equal(store_mailbox_create(f->user, "Sub", 0, &id, &error),
			 1);
	assert_int_equal(store_mailbox_create(f->user, "Plain", 0, &id,
					      &error), 1);
	store_user_unref(&f->user);
	store_close(&f->store);

	snprintf(path, sizeof(path), "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      FTS_SCHEMA_UNDO
				      "DROP TABLE subscriptions;"
				      "UPDATE mailboxes SET subscribed = 1 "
				      "WHERE name IN ('Sub', 'INBOX');"
				      "PRAGMA user_version = 2;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	open_store(f, &f->store);
	open_user(f);
	static const char *const want[] = { "INBOX", "Sub" };
	expect_subs(f->user, want, 2);
	assert_int_equal(store_mailbox_lookup(f->user, "Sub", &info, &error),
			 1);
	assert_true(info.subscribed);
	store_mailbox_info_free(&info);
	assert_int_equal(store_mailbox_lookup(f->user, "Plain", &info,
					      &error), 1);
	assert_false(info.subscribed);
	store_mailbox_info_free(&info);
	/* The upgraded list is the list now: DELETE keeps "Sub". */
	assert_int_equal(store_mailbox_delete(f->user, "Sub", &error), 1);
	expect_subs(f->user, want, 2);

	store_user_unref(&f->user);
	store_close(&f->store);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1,
					    &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 8);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	open_store(f, &f->store);
	open_user(f);
	expect_subs(f->user, want, 2);
}

/* ---- full-text index rows (schema version 4) ---------------------------- */

struct fts_seen {
	uint64_t ids[8];
	char body[8][32];
	unsigned count;
};

static bool
fts_want(void *context, uint64_t blob_id)
{
	(void)context;
	(void)blob_id;
	return true;
}

static void
fts_row(void *context, uint64_t blob_id, const struct store_fts_doc *doc)
{
	struct fts_seen *seen = context;

	if (seen->count == 8)
		return;
	seen->ids[seen->count] = blob_id;
	snprintf(seen->body[seen->count], sizeof(seen->body[0]), "%.*s",
		 (int)doc->len[STORE_FTS_BODY],
		 doc->text[STORE_FTS_BODY] != NULL ?
		 doc->text[STORE_FTS_BODY] : "");
	seen->count++;
}

static const struct store_fts_callbacks fts_cbs = {
	.want = fts_want,
	.row = fts_row,
};

static unsigned
fts_query(struct fixture *f, const char *const *terms, unsigned n,
	  struct fts_seen *seen)
{
	const char *error = NULL;

	memset(seen, 0, sizeof(*seen));
	assert_int_equal(store_fts_query(f->user, f->inbox,
					 1U << STORE_FTS_BODY, terms, n,
					 &fts_cbs, seen, &error), 0);
	return seen->count;
}

static uint64_t
blob_of(struct fixture *f, uint32_t uid)
{
	struct store_message msg;
	const char *error = NULL;

	assert_int_equal(store_message_get(f->user, f->inbox, uid, &msg,
					   &error), 1);
	return msg.blob_id;
}

/* Rows written with the save and by store_fts_set(), found by trigram
   and by listing, gone with the last message; on a fresh store and on
   one upgraded from version 3. */
static void
check_fts_rows(struct fixture *f, uint32_t old_uid)
{
	static const char *const fox[] = { "fox", "ox ", "x j" };
	static const char *const bad[] = { "zzz" };
	struct store_uid_range all = { 1, 100 };
	struct store_fts_entry entry;
	struct store_save *save;
	struct fts_seen seen;
	const char *error = NULL;
	uint64_t *ids;
	unsigned count;
	uint32_t uid;

	/* The message saved without a row is unindexed. */
	assert_int_equal(store_fts_unindexed(f->user, f->inbox, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 1);
	assert_true(ids[0] == blob_of(f, old_uid));
	free(ids);

	memset(&entry, 0, sizeof(entry));
	entry.doc.text[STORE_FTS_BODY] = "\x01the fox jumps";
	entry.doc.len[STORE_FTS_BODY] = 15;
	entry.doc.complete = true;
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error),
			 0);
	assert_int_equal(store_save_write(save, "x\r\n", 3, &error), 0);
	store_save_set_fts(save, &entry.doc);
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	assert_int_equal(fts_query(f, fox, 3, &seen), 1);
	assert_true(seen.ids[0] == blob_of(f, uid));
	assert_string_equal(seen.body[0], "\x01the fox jumps");
	assert_int_equal(fts_query(f, bad, 1, &seen), 0);
	/* No terms: every row of the mailbox. */
	assert_int_equal(fts_query(f, NULL, 0, &seen), 1);

	/* Rows for existing blobs; a gone blob is skipped. */
	entry.blob_id = blob_of(f, old_uid);
	entry.doc.text[STORE_FTS_BODY] = "\x01old fox jumps";
	entry.doc.complete = false;
	assert_int_equal(store_fts_set(f->user, &entry, 1, &error), 0);
	entry.blob_id = 12345;
	assert_int_equal(store_fts_set(f->user, &entry, 1, &error), 0);
	assert_int_equal(fts_query(f, fox, 3, &seen), 2);
	/* Incomplete still counts as unindexed. */
	assert_int_equal(store_fts_unindexed(f->user, f->inbox, &ids, &count,
					     &error), 0);
	assert_int_equal(count, 1);
	free(ids);

	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, NULL,
				       &error), 1);
	/* The rows of blobs that went wait for the indexer; with no live
	   row left they go all at once. */
	unsigned collected;
	assert_int_equal(store_fts_collect_garbage(f->user, 1, &collected,
						   &error), 0);
	assert_int_equal(collected, 2);
	assert_int_equal(store_fts_collect_garbage(f->user, 10, &collected,
						   &error), 0);
	assert_int_equal(collected, 0);
	assert_int_equal(fts_query(f, NULL, 0, &seen), 0);
	assert_int_equal(fts_query(f, fox, 3, &seen), 0);
	assert_int_equal(store_fts_blob_list(f->user, &ids, &count, &error),
			 0);
	assert_int_equal(count, 0);
}

static void
test_fts_rows_fresh(void **state)
{
	struct fixture *f = *state;

	check_fts_rows(f, save_msg(f->user, f->inbox, "old\r\n"));
}

static void
test_fts_rows_upgrade(void **state)
{
	struct fixture *f = *state;
	char path[512];
	sqlite3 *db;
	uint32_t uid = save_msg(f->user, f->inbox, "old\r\n");

	store_user_unref(&f->user);
	store_close(&f->store);
	snprintf(path, sizeof(path), "%s/users/%02x/alice/store.db", f->dir,
		 store_name_hash("alice") & 0xff);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, FTS_SCHEMA_UNDO
				      "PRAGMA user_version = 3;",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	open_store(f, &f->store);
	open_user(f);
	check_fts_rows(f, uid);
}

/* Garbage goes row by row while many live rows remain or it is small,
   and all at once (the live rows copied into a new table) once few live
   rows face much garbage or none remain; either way the live rows stay
   found and new rows can be written. */
#define GC_N (FTS_GC_COPY_MIN_GARBAGE + 8)
static void
test_fts_garbage(void **state)
{
	static const char *const seven[] = { "w07" };
	static const char *const last[] = { "w71" };
	struct fixture *f = *state;
	struct store_fts_entry entries[GC_N];
	char texts[GC_N][16];
	uint32_t uids[GC_N];
	const unsigned n = GC_N;
	struct fts_seen seen;
	const char *error = NULL;
	unsigned collected;

	assert_true(GC_N == 72);
	memset(entries, 0, sizeof(entries));
	for (unsigned i = 0; i < n; i++) {
		uids[i] = save_msg(f->user, f->inbox, "x\r\n");
		snprintf(texts[i], sizeof(texts[i]), "\x01w%02u", i);
		entries[i].blob_id = blob_of(f, uids[i]);
		entries[i].doc.text[STORE_FTS_BODY] = texts[i];
		entries[i].doc.len[STORE_FTS_BODY] = strlen(texts[i]);
		entries[i].doc.complete = true;
	}
	assert_int_equal(store_fts_set(f->user, entries, n, &error), 0);

	/* 3 go, 69 stay: row by row, max at a time */
	struct store_uid_range first = { uids[0], uids[2] };
	assert_int_equal(store_expunge(f->user, f->inbox, &first, 1, NULL,
				       &error), 1);
	assert_int_equal(store_fts_collect_garbage(f->user, 2, &collected,
						   &error), 0);
	assert_int_equal(collected, 2);
	assert_int_equal(store_fts_collect_garbage(f->user, 2, &collected,
						   &error), 0);
	assert_int_equal(collected, 1);

	/* 64 go, 5 stay: the 5 are copied, the garbage dropped at once */
	struct store_uid_range most = { uids[3], uids[n - 6] };
	assert_int_equal(store_expunge(f->user, f->inbox, &most, 1, NULL,
				       &error), 1);
	assert_int_equal(store_fts_collect_garbage(f->user, 2, &collected,
						   &error), 0);
	assert_int_equal(collected, n - 8);
	assert_int_equal(store_fts_collect_garbage(f->user, 2, &collected,
						   &error), 0);
	assert_int_equal(collected, 0);
	assert_int_equal(fts_query(f, NULL, 0, &seen), 5);
	assert_int_equal(fts_query(f, seven, 1, &seen), 0);
	assert_int_equal(fts_query(f, last, 1, &seen), 1);
	assert_true(seen.ids[0] == entries[n - 1].blob_id);
	assert_string_equal(seen.body[0], "\x01w71");

	/* the new table takes rows */
	uint32_t uid = save_msg(f->user, f->inbox, "y\r\n");
	entries[0].blob_id = blob_of(f, uid);
	entries[0].doc.text[STORE_FTS_BODY] = "\x01w07";
	entries[0].doc.len[STORE_FTS_BODY] = 4;
	assert_int_equal(store_fts_set(f->user, entries, 1, &error), 0);
	assert_int_equal(fts_query(f, seven, 1, &seen), 1);
	assert_true(seen.ids[0] == entries[0].blob_id);

	/* 2 go, 4 stay: little garbage goes row by row */
	struct store_uid_range two = { uids[n - 5], uids[n - 4] };
	assert_int_equal(store_expunge(f->user, f->inbox, &two, 1, NULL,
				       &error), 1);
	assert_int_equal(store_fts_collect_garbage(f->user, 1, &collected,
						   &error), 0);
	assert_int_equal(collected, 1);

	/* all go: none stays, all the garbage goes at once */
	struct store_uid_range all = { 1, uid };
	assert_int_equal(store_expunge(f->user, f->inbox, &all, 1, NULL,
				       &error), 1);
	assert_int_equal(store_fts_collect_garbage(f->user, 1, &collected,
						   &error), 0);
	assert_int_equal(collected, 5);
	assert_int_equal(fts_query(f, NULL, 0, &seen), 0);
}

static unsigned
count_spares(struct fixture *f)
{
	char path[512];
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/spare", f->dir);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

/* Deferred: a small removal's files become spares at once (the next
   saves take them); a larger one's stay until store_unlinks_run(), which
   keeps what fits as spares, or store_close(), which removes them all;
   copies still hold theirs; a mailbox DELETE goes the same way. */
static void
test_unlinks_deferred(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	const unsigned big = STORE_SPARE_INLINE + 1;
	uint64_t work;
	unsigned n;

	store_unlinks_defer(f->store);
	assert_int_equal(store_mailbox_create(f->user, "Work", 0, &work,
					      &error), 1);
	for (unsigned i = 0; i < 4; i++)
		save_msg(f->user, f->inbox, "msg\r\n");
	save_msg(f->user, work, "work\r\n");
	assert_int_equal(count_files(f, "blobs"), 5);

	struct store_uid_range two = { 1, 2 };
	assert_int_equal(store_expunge(f->user, f->inbox, &two, 1, &n,
				       &error), 1);
	assert_int_equal(n, 2);
	assert_int_equal(count_files(f, "blobs"), 3);
	assert_int_equal(count_spares(f), 2);
	assert_int_equal(store_unlinks_run(f->store), 0);

	assert_int_equal(store_mailbox_delete(f->user, "Work", &error), 1);
	assert_int_equal(count_files(f, "blobs"), 2);
	assert_int_equal(count_spares(f), 3);

	/* a larger removal waits (the new messages took the spares) */
	for (unsigned i = 0; i < big; i++)
		save_msg(f->user, f->inbox, "more\r\n");
	assert_int_equal(count_spares(f), 0);
	assert_int_equal(count_files(f, "blobs"), 2 + big);
	struct store_uid_range more = { 5, 5 + big - 1 };
	assert_int_equal(store_expunge(f->user, f->inbox, &more, 1, &n,
				       &error), 1);
	assert_int_equal(n, big);
	assert_int_equal(count_files(f, "blobs"), 2 + big);
	assert_int_equal(store_unlinks_run(f->store), big);
	assert_int_equal(count_files(f, "blobs"), 2);
	assert_int_equal(count_spares(f), big);
	assert_int_equal(store_unlinks_run(f->store), 0);

	/* left queued: store_close() unlinks them, and the spares */
	for (unsigned i = 0; i < big; i++)
		save_msg(f->user, f->inbox, "again\r\n");
	struct store_uid_range rest = { 3, 5 + 2 * big - 1 };
	assert_int_equal(store_expunge(f->user, f->inbox, &rest, 1, &n,
				       &error), 1);
	assert_int_equal(n, 2 + big);
	assert_int_equal(count_files(f, "blobs"), 2 + big);
	store_user_unref(&f->user);
	store_close(&f->store);
	assert_int_equal(count_files(f, "blobs"), 0);
	assert_int_equal(count_spares(f), 0);
	open_store(f, &f->store);
	open_user(f);
}

static ino_t
msg_inode(struct fixture *f, uint32_t uid, char **text_r)
{
	const char *error;
	struct stat st;
	uint64_t size;
	int fd;

	assert_int_equal(store_message_open(f->user, f->inbox, uid, &fd, &size,
					    &error), 1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	*text_r = read_fd(fd, size);
	return st.st_ino;
}

/* Files of removed messages become spares that later saves overwrite,
   never one a reader still has open, always cut to the new length. */
static void
test_spare_files(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char big[3001], *text;
	unsigned n;
	int fd_a;
	uint64_t size;

	store_unlinks_defer(f->store);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(save_msg(f->user, f->inbox, big), 1);
	assert_int_equal(save_msg(f->user, f->inbox, "short B\r\n"), 2);

	/* a reader holds message 1 open while it is expunged */
	assert_int_equal(store_message_open(f->user, f->inbox, 1, &fd_a,
					    &size, &error), 1);
	struct store_uid_range one = { 1, 1 };
	assert_int_equal(store_expunge(f->user, f->inbox, &one, 1, &n,
				       &error), 1);
	/* a small removal keeps its file as a spare at once: nothing is
	   left for the daemon's unlink pass */
	assert_int_equal(store_unlinks_run(f->store), 0);
	assert_int_equal(count_files(f, "blobs"), 1);
	assert_int_equal(count_spares(f), 1);
	/* that spare is passed over (and removed): the reader keeps its
	   bytes */
	assert_int_equal(save_msg(f->user, f->inbox, "C c c\r\n"), 3);
	assert_int_equal(count_spares(f), 0);
	text = read_fd(fd_a, size);
	assert_string_equal(text, big);
	free(text);

	/* message 2's file, open nowhere, becomes message 4's */
	ino_t ino_b = msg_inode(f, 2, &text);
	free(text);
	struct store_uid_range two = { 2, 2 };
	assert_int_equal(store_expunge(f->user, f->inbox, &two, 1, &n,
				       &error), 1);
	assert_int_equal(store_unlinks_run(f->store), 0);
	assert_int_equal(count_spares(f), 1);
	assert_int_equal(save_msg(f->user, f->inbox, big), 4);
	assert_int_equal(count_spares(f), 0);
	assert_true(msg_inode(f, 4, &text) == ino_b);
	assert_string_equal(text, big);
	free(text);

	/* a shorter message in a longer spare: cut to its length, also
	   when the save reads its file back before it is done */
	struct store_uid_range four = { 4, 4 };
	assert_int_equal(store_expunge(f->user, f->inbox, &four, 1, &n,
				       &error), 1);
	assert_int_equal(store_unlinks_run(f->store), 0);
	struct store_save *save;
	int rfd;
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error),
			 0);
	assert_int_equal(store_save_write(save, "D\r\n", 3, &error), 0);
	/* the spare is written where it is, not moved into tmp/ first */
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_spares(f), 1);
	assert_int_equal(store_save_open_read(save, &rfd, &error), 0);
	struct stat st;
	assert_int_equal(fstat(rfd, &st), 0);
	assert_int_equal(st.st_size, 3);
	close(rfd);
	assert_int_equal(store_save_write(save, "d\r\n", 3, &error), 0);
	uint32_t uid;
	assert_int_equal(store_save_commit(&save, &uid, &error), 0);
	assert_int_equal(uid, 5);
	assert_true(msg_inode(f, 5, &text) == ino_b);
	assert_string_equal(text, "D\r\nd\r\n");
	free(text);
	assert_int_equal(count_spares(f), 0);

	/* a save from a spare given up: the file goes, none is left */
	struct store_uid_range five = { 5, 5 };
	assert_int_equal(store_expunge(f->user, f->inbox, &five, 1, &n,
				       &error), 1);
	assert_int_equal(store_unlinks_run(f->store), 0);
	assert_int_equal(count_spares(f), 1);
	assert_int_equal(store_save_begin(f->user, f->inbox, &save, &error),
			 0);
	assert_int_equal(store_save_write(save, "E\r\n", 3, &error), 0);
	store_save_abort(&save);
	assert_int_equal(count_spares(f), 0);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "blobs"), 1); /* message 3 */

	/* closing the store removes the spares */
	struct store_uid_range three = { 3, 3 };
	assert_int_equal(store_expunge(f->user, f->inbox, &three, 1, &n,
				       &error), 1);
	assert_int_equal(store_unlinks_run(f->store), 0);
	assert_int_equal(count_spares(f), 1);
	store_user_unref(&f->user);
	store_close(&f->store);
	assert_int_equal(count_spares(f), 0);
	open_store(f, &f->store);
	open_user(f);
}

/* A released user keeps its caches until it has been idle secs
   seconds; in use again, it is trimmed again only after its next
   release. */
static void
test_idle_trim(void **state)
{
	struct fixture *f = *state;
	struct store_user *u = f->user;
	const char *error;
	char *text;

	assert_int_equal(save_msg(f->user, f->inbox, "hello\r\n"), 1);
	text = read_msg(f, f->inbox, 1);
	free(text);
	store_user_unref(&f->user);
	assert_true(u->idle);
	assert_false(u->idle_trimmed);
	store_idle_trim(f->store, 3600);
	assert_false(u->idle_trimmed);
	store_idle_trim(f->store, 0);
	assert_true(u->idle_trimmed);

	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
	assert_ptr_equal(f->user, u);
	text = read_msg(f, f->inbox, 1);
	assert_string_equal(text, "hello\r\n");
	free(text);
	store_user_unref(&f->user);
	assert_false(u->idle_trimmed);
	assert_int_equal(store_user_get(f->store, "alice", &f->user, &error),
			 0);
}

/* blobs/<xx> are made by the saves that need them (the rename says
   when one is missing), also after they were removed. */
static void
test_blobs_subdirs(void **state)
{
	struct fixture *f = *state;
	char path[512], sub[800];
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/users/%02x/alice/blobs", f->dir,
		 store_name_hash("alice") & 0xff);
	assert_int_equal(count_files(f, "blobs"), 0);
	assert_int_equal(save_msg(f->user, f->inbox, "a\r\n"), 1);
	assert_int_equal(count_files(f, "blobs"), 1);
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		/* emptied and removed behind the store's back */
		char file[1100];
		DIR *d2 = opendir(sub);
		assert_non_null(d2);
		for (struct dirent *e2; (e2 = readdir(d2)) != NULL;) {
			if (e2->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", sub,
				 e2->d_name);
			assert_int_equal(unlink(file), 0);
		}
		closedir(d2);
		assert_int_equal(rmdir(sub), 0);
	}
	closedir(d);
	assert_int_equal(n, 1);
	assert_int_equal(save_msg(f->user, f->inbox, "b\r\n"), 2);
	assert_int_equal(save_msg(f->user, f->inbox, "c\r\n"), 3);
	assert_int_equal(count_files(f, "blobs"), 2);
	char *text = read_msg(f, f->inbox, 3);
	assert_string_equal(text, "c\r\n");
	free(text);
}

/* Names of the directories under the user's blobs/, as a bitmap of
   their hex values; *count_r of them. */
static void
blob_dirs(struct fixture *f, uint64_t bits[4], unsigned *count_r)
{
	char path[512];

	memset(bits, 0, 4 * sizeof(bits[0]));
	*count_r = 0;
	snprintf(path, sizeof(path), "%s/users/%02x/alice/blobs", f->dir,
		 store_name_hash("alice") & 0xff);
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		unsigned v = (unsigned)strtoul(e->d_name, NULL, 16);
		assert_true(v < 256);
		bits[v / 64] |= UINT64_C(1) << (v % 64);
		(*count_r)++;
	}
	closedir(d);
}

/* A new user's messages all go to blobs/00; more directories come into
   use as the user's modseq grows, never more than it calls for. */
static void
test_blobs_dir_count(void **state)
{
	struct fixture *f = *state;
	uint64_t bits[4];
	unsigned n;

	for (int i = 0; i < 40; i++)
		assert_int_equal(save_msg(f->user, f->inbox, "a\r\n"),
				 (uint32_t)i + 1);
	blob_dirs(f, bits, &n);
	assert_int_equal(n, 1);
	assert_true(bits[0] == 1);

	/* as if 2,000 changes were made: 16 directories */
	sqlite3 *db = raw_db(f);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = 2000 "
				      "WHERE key = 'modseq'", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	for (int i = 0; i < 60; i++)
		assert_int_equal(save_msg(f->user, f->inbox, "b\r\n"),
				 (uint32_t)i + 41);
	blob_dirs(f, bits, &n);
	assert_true(n > 1);
	assert_true((bits[0] & ~UINT64_C(0xffff)) == 0 && bits[1] == 0 &&
		    bits[2] == 0 && bits[3] == 0);
	char *text = read_msg(f, f->inbox, 100);
	assert_string_equal(text, "b\r\n");
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_crlf, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_modseq, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_save_date, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expunge_refcount, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expunge_log_trim_amortised,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_log_trim, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pop3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_user_watch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_open_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_failures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mailboxes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions_upgrade,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_failures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_ghosts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_new_out_of_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_own_changes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exclusive_locking, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_message_journal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_probe_exclusive,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_ring, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_woken_external,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_cache, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_upgrade, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fts_rows_fresh, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fts_rows_upgrade, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fts_garbage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unlinks_deferred, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spare_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_trim, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blobs_dir_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blobs_subdirs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_random, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
