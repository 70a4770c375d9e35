#include "lmtp/deliver.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/quota.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "mail/mail-cache.h"
#include "mail/mail-parser.h"
#include "search/search-fts.h"
#include "store/store.h"

/* Error text for the calling thread: store and passdb texts are only valid
   until their next call, and we make several before returning. */
static __thread char deliver_error_buf[512];

static const char *
__attribute__((format(printf, 1, 2)))
deliver_error(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(deliver_error_buf, sizeof(deliver_error_buf), fmt, args);
	va_end(args);
	return deliver_error_buf;
}

static bool
prefix_value_ok(const char *value)
{
	size_t i;

	for (i = 0; value[i] != '\0'; i++) {
		if ((unsigned char)value[i] < 0x20 ||
		    (unsigned char)value[i] > 0x7e || i >= LMTP_MAX_ADDRESS)
			return false;
	}
	return true;
}

char *
deliver_prefix(const char *sender, const char *recipient, size_t *len_r)
{
	size_t size = 64;
	char *prefix;
	int len;

	if ((sender != NULL && !prefix_value_ok(sender)) ||
	    (recipient != NULL && !prefix_value_ok(recipient)))
		return NULL;
	/* both values are at most LMTP_MAX_ADDRESS bytes (checked) */
	if (sender != NULL)
		size += strlen(sender);
	if (recipient != NULL)
		size += strlen(recipient);
	prefix = xmalloc(size);
	len = snprintf(prefix, size, "%s%s%s%s%s%s",
		       sender != NULL ? "Return-Path: <" : "",
		       sender != NULL ? sender : "",
		       sender != NULL ? ">\r\n" : "",
		       recipient != NULL ? "Delivered-To: " : "",
		       recipient != NULL ? recipient : "",
		       recipient != NULL ? "\r\n" : "");
	if (len < 0 || (size_t)len >= size)
		abort();
	*len_r = (size_t)len;
	return prefix;
}

/* ---- delivery ---------------------------------------------------------- */

/* Finds the mailbox to save into: the named one, else INBOX (a filter or
   a "+detail" may name a mailbox the user does not have; the mail must
   still arrive). Returns 1 with *id_r, or -1. */
static int
deliver_find_mailbox(struct store_user *suser, const char *mailbox,
		     uint64_t *id_r, const char **error_r)
{
	struct store_mailbox_info info;
	int ret;

	if (mailbox != NULL && strcasecmp(mailbox, "INBOX") != 0) {
		ret = store_mailbox_lookup(suser, mailbox, &info, error_r);
		if (ret > 0) {
			*id_r = info.id;
			store_mailbox_info_free(&info);
			return 1;
		}
		/* a bad or missing name falls back to INBOX; a store error
		   would hit INBOX too, so try it and let that decide */
	}
	ret = store_mailbox_lookup(suser, "INBOX", &info, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		*error_r = "INBOX missing";
		return -1;
	}
	*id_r = info.id;
	store_mailbox_info_free(&info);
	return 1;
}

/* Sets the user's limits; returns false if the message cannot fit now
   (an early answer: the commit checks again, exactly). */
static bool
deliver_quota_fits(struct store_user *suser, const struct passdb_user *pu,
		   const struct store_quota *defaults, uint64_t size)
{
	static const struct store_quota none = { 0, 0 };
	struct store_quota quota;
	struct store_quota_usage usage;
	const char *error;

	if (quota_user_limits(pu, defaults != NULL ? defaults : &none,
			      &quota, &error) < 0) {
		struct log_ctx lctx = { .proto = "deliver", .user = pu->name };
		log_error(&lctx, "quota: passwd-file %s; using the default "
			  "limits", error);
	}
	store_user_set_quota(suser, &quota);
	if (quota.storage == 0 && quota.messages == 0)
		return true;
	if (store_quota_usage(suser, &usage, &error) < 0)
		return true;
	return store_quota_allows(&quota, &usage, 1, size);
}

/* ---- a copy written as it arrives ------------------------------------- */

/* Bytes gathered before they go to the message file and the parser: a
   few large writes, not one per line of DATA. */
#define DELIVER_STREAM_BUFFER (64 * 1024)

struct deliver_stream {
	struct passdb_user *pu;
	struct store_user *suser;
	struct store_save *save;
	struct mail_parser *parser;
	struct search_fts_builder *fts;
	bool failed;	     /* a write failed: error holds why */
	char error[256];
	size_t buf_used;
	uint8_t buf[DELIVER_STREAM_BUFFER];
};

/* The stream's first failure, kept: later deliver_* calls of the same
   thread (other sessions') reuse the thread's error text. */
static void
stream_fail(struct deliver_stream *ds, const char *error)
{
	if (ds->failed)
		return;
	ds->failed = true;
	snprintf(ds->error, sizeof(ds->error), "%s", error);
}

/* The buffer into the message file and through the parser. */
static void
stream_flush(struct deliver_stream *ds)
{
	const char *error;

	if (ds->buf_used == 0 || ds->failed)
		return;
	mail_parser_feed(ds->parser, ds->buf, ds->buf_used);
	if (store_save_write(ds->save, ds->buf, ds->buf_used, &error) < 0)
		stream_fail(ds, deliver_error("save failed: %s", error));
	ds->buf_used = 0;
}

void
deliver_stream_abort(struct deliver_stream **_ds)
{
	struct deliver_stream *ds = *_ds;
	struct mail_parse_result *result;

	if (ds == NULL)
		return;
	*_ds = NULL;
	if (ds->parser != NULL) {
		result = mail_parser_finish(&ds->parser);
		mail_parse_result_free(&result);
	}
	store_save_abort(&ds->save);
	search_fts_builder_destroy(&ds->fts);
	if (ds->suser != NULL)
		store_user_unref(&ds->suser);
	passdb_user_free(&ds->pu);
	free(ds);
}

int
deliver_stream_begin(struct store *store, struct passdb *passdb,
		     const struct store_quota *quota_defaults,
		     const char *user, const char *mailbox,
		     const void *prefix, size_t prefix_len, uint64_t size,
		     struct deliver_stream **ds_r, const char **error_r)
{
	struct deliver_stream *ds;
	uint64_t mailbox_id;
	const char *error;
	int ret;

	ds = xcalloc(1, sizeof(*ds));
	ret = passdb_lookup(passdb, user, &ds->pu, &error);
	if (ret <= 0) {
		if (ret < 0)
			*error_r = deliver_error("user lookup failed: %s",
						 error);
		deliver_stream_abort(&ds);
		return ret;
	}
	ret = -1;
	if (store_user_get(store, ds->pu->name, &ds->suser, &error) < 0) {
		*error_r = deliver_error("opening mail store failed: %s",
					 error);
		goto fail;
	}
	if (deliver_find_mailbox(ds->suser, mailbox, &mailbox_id,
				 &error) < 0) {
		*error_r = deliver_error("mailbox lookup failed: %s", error);
		goto fail;
	}
	/* size + prefix_len: both are bounded far below 2^63 by the
	   message size limit and LMTP_MAX_ADDRESS */
	if (!deliver_quota_fits(ds->suser, ds->pu, quota_defaults,
				size + prefix_len)) {
		*error_r = deliver_error("%s", STORE_ERROR_OVERQUOTA);
		ret = DELIVER_OVERQUOTA;
		goto fail;
	}
	if (store_save_begin(ds->suser, mailbox_id, &ds->save, &error) < 0) {
		*error_r = deliver_error("save failed: %s", error);
		goto fail;
	}
	/* The same parse finds the THREADID keys. */
	ds->fts = search_fts_builder_create();
	ds->parser = mail_parser_create(&search_fts_thread_callbacks, ds->fts);
	deliver_stream_write(ds, prefix, prefix_len);
	*ds_r = ds;
	return 1;
fail:
	deliver_stream_abort(&ds);
	return ret;
}

void
deliver_stream_write(struct deliver_stream *ds, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0 && !ds->failed) {
		size_t n = sizeof(ds->buf) - ds->buf_used;

		if (n > len)
			n = len;
		memcpy(ds->buf + ds->buf_used, p, n);
		ds->buf_used += n;
		p += n;
		len -= n;
		if (ds->buf_used == sizeof(ds->buf))
			stream_flush(ds);
	}
}

/* Appends size bytes of fd from offset 0, read straight into the
   buffer. */
static int
stream_copy_fd(struct deliver_stream *ds, int fd, uint64_t size,
	       const char **error_r)
{
	uint64_t off = 0;

	while (off < size && !ds->failed) {
		size_t room = sizeof(ds->buf) - ds->buf_used;
		size_t want = size - off < room ? (size_t)(size - off) : room;
		ssize_t n = pread(fd, ds->buf + ds->buf_used, want,
				  (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = deliver_error("reading the spool: %s",
						 n < 0 ? strerror(errno) :
							 "shorter than "
							 "announced");
			return -1;
		}
		ds->buf_used += (size_t)n;
		off += (uint64_t)n;
		if (ds->buf_used == sizeof(ds->buf))
			stream_flush(ds);
	}
	return 0;
}

int
deliver_stream_finish(struct deliver_stream **_ds, uint32_t *uid_r,
		      const char **error_r)
{
	struct deliver_stream *ds = *_ds;
	struct mail_parse_result *result;
	const char *msgid, *error;
	const char *const *refs;
	unsigned int ref_count;
	struct buf rec;
	int ret = -1;

	stream_flush(ds);
	if (ds->failed) {
		*error_r = deliver_error("%s", ds->error);
		goto out;
	}
	/* The message is parsed once, here: IMAP's ENVELOPE, BODYSTRUCTURE
	   and part offsets come from this record, never from the file. */
	result = mail_parser_finish(&ds->parser);
	buf_init(&rec, 0);
	if (mail_cache_record_write(result, &rec) == 0)
		store_save_set_cache(ds->save, STORE_CACHE_PARTS, rec.data,
				     rec.len);
	buf_free(&rec);
	mail_parse_result_free(&result);
	/* The THREADID keys (store.h "threads"); the index row is left
	   to the daemon's indexer (store.h "background indexing"). */
	search_fts_builder_thread(ds->fts, &msgid, &refs, &ref_count);
	store_save_set_thread(ds->save, msgid, refs, ref_count);
	/* Durable once this returns 0: only then may the caller say 250. */
	if (store_save_commit(&ds->save, uid_r, &error) < 0) {
		if (store_error_is_overquota())
			ret = DELIVER_OVERQUOTA;
		*error_r = deliver_error("save commit failed: %s", error);
		goto out;
	}
	ret = 1;
out:
	deliver_stream_abort(_ds);
	return ret;
}

int
deliver_message(struct store *store, struct passdb *passdb,
		const char *user, const char *mailbox,
		const void *prefix, size_t prefix_len, int spool_fd,
		uint64_t size, uint32_t *uid_r, const char **error_r)
{
	return deliver_message_quota(store, passdb, NULL, user, mailbox,
				     prefix, prefix_len, spool_fd, size,
				     uid_r, error_r);
}

int
deliver_message_quota(struct store *store, struct passdb *passdb,
		      const struct store_quota *quota_defaults,
		      const char *user, const char *mailbox,
		      const void *prefix, size_t prefix_len, int spool_fd,
		      uint64_t size, uint32_t *uid_r, const char **error_r)
{
	struct deliver_stream *ds;
	int ret;

	ret = deliver_stream_begin(store, passdb, quota_defaults, user,
				   mailbox, prefix, prefix_len, size, &ds,
				   error_r);
	if (ret != 1)
		return ret;
	if (stream_copy_fd(ds, spool_fd, size, error_r) < 0) {
		deliver_stream_abort(&ds);
		return -1;
	}
	return deliver_stream_finish(&ds, uid_r, error_r);
}
