/* APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502) and UIDPLUS
   APPENDUID (RFC 4315). The parser hands every message literal to us as a
   stream (IMAP_PARSE_LITERAL_STREAM): its bytes go straight to the store's
   save file and through the MIME parser for the cache record, never held
   whole in memory. Each message is committed when its literal ends; the
   tagged reply comes when the parser completes the command. If a later
   message of a MULTIAPPEND fails, the ones already saved are expunged, so
   the command is all or nothing. */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "imap/imap-date.h"
#include "lib/buf.h"
#include "mail/mail-binary.h"
#include "mail/mail-cache.h"
#include "mail/mail-parser.h"
#include "net/conn.h"
#include "search/search-fts.h"
#include "store/store.h"

struct imap_append {
	uint64_t mailbox_id;
	uint32_t uidvalidity;
	/* The message being streamed. */
	struct store_save *save;
	struct mail_parser *parser;
	/* The message's search index row, filled by the same parse. */
	struct search_fts_builder *fts;
	uint64_t remaining;
	bool streaming;
	/* A write failed: the rest of the literal is drained and dropped. */
	bool failed;
	/* The failure was the user's quota (RFC 9208 4.3.1 OVERQUOTA). */
	bool overquota;
	/* First argument of the next message in the command. */
	unsigned int next_arg;
	/* Saved so far. */
	uint32_t *uids;
	unsigned int uid_count, uid_alloc;
};

/* Undoes the messages saved so far (a later one failed). */
static void
append_rollback(struct imap_session *session, struct imap_append *ap)
{
	struct store_uid_range *ranges;
	const char *error;

	if (ap->uid_count == 0)
		return;
	ranges = imap_xcalloc(ap->uid_count, sizeof(*ranges));
	for (unsigned i = 0; i < ap->uid_count; i++)
		ranges[i].first = ranges[i].last = ap->uids[i];
	if (store_expunge(session->user, ap->mailbox_id, ranges,
			  ap->uid_count, NULL, &error) < 0)
		log_error(&session->log, "APPEND rollback failed: %s", error);
	free(ranges);
	ap->uid_count = 0;
}

void
imap_append_free(struct imap_session *session)
{
	struct imap_append *ap = session->append;
	struct mail_parse_result *result;

	if (ap == NULL)
		return;
	session->append = NULL;
	store_save_abort(&ap->save);
	if (ap->parser != NULL) {
		result = mail_parser_finish(&ap->parser);
		mail_parse_result_free(&result);
	}
	search_fts_builder_destroy(&ap->fts);
	free(ap->uids);
	free(ap);
}

void
imap_append_abort(struct imap_session *session)
{
	if (session->append == NULL)
		return;
	append_rollback(session, session->append);
	imap_append_free(session);
}

/* Answers the command now (the parser drops the rest of it). */
static void
append_refuse(struct imap_session *session, const char *tag,
	      const char *status, const char *text)
{
	if (session->append != NULL)
		append_rollback(session, session->append);
	imap_append_free(session);
	imap_session_printf(session, "%s %s %s\r\n", tag, status, text);
	imap_parser_stream_skip(session->parser);
	if (strcmp(status, "BAD") == 0)
		session->bad_count++;
}

#define APPEND_OVERQUOTA_TEXT "[OVERQUOTA] Quota exceeded."

/* An early answer for a message that cannot fit: true if the user has a
   limit and one more message of size bytes would pass it now. A failed
   usage read says false and leaves the decision to the commit. */
static bool
append_over_quota(struct imap_session *session, uint64_t size)
{
	struct store_quota quota;
	struct store_quota_usage usage;
	const char *error;

	store_user_get_quota(session->user, &quota);
	if (quota.storage == 0 && quota.messages == 0)
		return false;
	if (store_quota_usage(session->user, &usage, &error) < 0) {
		log_error(&session->log, "APPEND: reading quota usage failed: "
			  "%s", error);
		return false;
	}
	return !store_quota_allows(&quota, &usage, 1, size);
}

/* Optional flag list and date-time before a message literal. */
static int
append_parse_options(struct imap_session *session,
		     const struct imap_arg *args, unsigned int count,
		     struct store_save *save, const char **error_r)
{
	unsigned int i = 0;

	if (i < count && args[i].type == IMAP_ARG_LIST) {
		const struct imap_arg *list;
		unsigned int list_count, kw_count;
		const char **keywords;
		uint8_t flags;

		(void)imap_arg_get_list(&args[i], &list, &list_count);
		if (imap_flags_parse(list, list_count, &flags, &keywords,
				     &kw_count, error_r) < 0)
			return -1;
		store_save_set_flags(save, flags, keywords, kw_count);
		free(keywords);
		i++;
	}
	if (i < count) {
		const uint8_t *data;
		size_t len;
		time_t t;
		int tz;

		if (!imap_arg_get_string(&args[i], &data, &len) ||
		    imap_datetime_parse(data, len, &t, &tz) < 0) {
			*error_r = "Invalid date-time.";
			return -1;
		}
		store_save_set_internal_date(save, t);
		i++;
	}
	if (i != count) {
		*error_r = "Invalid APPEND arguments.";
		return -1;
	}
	return 0;
}

void
imap_append_stream_begin(struct imap_session *session,
			 const struct imap_command *pc)
{
	struct imap_append *ap = session->append;
	const char *error;
	int ret;

	if (strcasecmp(pc->name, "APPEND") != 0 ||
	    session->state == IMAP_STATE_NOT_AUTH ||
	    session->state == IMAP_STATE_LOGOUT) {
		append_refuse(session, pc->tag, "BAD", "Unexpected literal.");
		return;
	}
	if (ap == NULL) {
		struct store_mailbox_info info;
		const uint8_t *data;
		size_t len;
		char *name;

		if (pc->args_count < 2 ||
		    !imap_arg_get_astring(&pc->args[0], &data, &len) ||
		    imap_mailbox_name_from_client(session, data, len, &name,
						  &error) < 0) {
			append_refuse(session, pc->tag, "BAD",
				      "Invalid mailbox name.");
			return;
		}
		ret = store_mailbox_lookup(session->user, name, &info, &error);
		free(name);
		if (ret <= 0) {
			/* RFC 9051 6.3.12: TRYCREATE when the mailbox is
			   missing. */
			append_refuse(session, pc->tag, "NO",
				      "[TRYCREATE] Mailbox does not exist.");
			return;
		}
		ap = imap_xcalloc(1, sizeof(*ap));
		ap->mailbox_id = info.id;
		ap->uidvalidity = info.uidvalidity;
		ap->next_arg = 1;
		store_mailbox_info_free(&info);
		session->append = ap;
	}
	if (ap->next_arg > pc->args_count - 1) {
		append_refuse(session, pc->tag, "BAD",
			      "Invalid APPEND arguments.");
		return;
	}
	if (!ap->failed && append_over_quota(session, pc->stream_size)) {
		/* Refused before the client sends the message; the store
		   checks again, exactly, at commit. */
		append_refuse(session, pc->tag, "NO", APPEND_OVERQUOTA_TEXT);
		return;
	}
	if (store_save_begin(session->user, ap->mailbox_id, &ap->save,
			     &error) < 0) {
		log_error(&session->log, "APPEND: starting a save failed: %s",
			  error);
		append_refuse(session, pc->tag, "NO",
			      "[SERVERBUG] Cannot save the message.");
		return;
	}
	if (append_parse_options(session, &pc->args[ap->next_arg],
				 pc->args_count - 1 - ap->next_arg, ap->save,
				 &error) < 0) {
		append_refuse(session, pc->tag, "BAD", error);
		return;
	}
	ap->next_arg = pc->args_count;
	ap->remaining = pc->stream_size;
	ap->streaming = true;
	/* ap->failed is not reset: once one message of a MULTIAPPEND failed,
	   the rest are dropped and the whole command fails (RFC 3502 6). */
	if (ap->fts == NULL)
		ap->fts = search_fts_builder_create();
	search_fts_builder_reset(ap->fts);
	ap->parser = mail_parser_create(&search_fts_thread_callbacks,
					ap->fts);
	if (pc->stream_sync)
		imap_session_write(session, "+ Ready for literal data\r\n", 26);
}

bool
imap_append_streaming(struct imap_session *session)
{
	return session->append != NULL && session->append->streaming;
}

struct append_convert {
	struct store_save *save;
	struct mail_parser *parser;
};

static int
append_convert_write(void *context, const void *data, size_t len,
		     const char **error_r)
{
	struct append_convert *conv = context;

	if (store_save_write(conv->save, data, len, error_r) < 0)
		return -1;
	mail_parser_feed(conv->parser, data, len);
	return 0;
}

/* RFC 9051 4.3 lets no NUL into a plain literal, so BODY[...] could not
   return a part that holds them, while a BINARY APPEND (RFC 3516) may
   well send such parts. They are stored base64-encoded instead (BINARY
   fetches decode them back to the client's bytes): the spooled message
   is read back and written converted into a new save, which replaces
   ap->save, and *result becomes the converted message's parse. Returns
   0, or -1 (*error_r) with ap->save and *result unchanged. */
static int
append_convert(struct imap_session *session, struct imap_append *ap,
	       struct mail_parse_result **result, const char **error_r)
{
	struct append_convert conv = { NULL, NULL };
	struct mail_parse_result *converted;
	int fd, ret;

	if (store_save_open_read(ap->save, &fd, error_r) < 0)
		return -1;
	if (store_save_begin(session->user, ap->mailbox_id, &conv.save,
			     error_r) < 0) {
		close(fd);
		return -1;
	}
	store_save_copy_options(conv.save, ap->save);
	/* The THREADID keys, from the file stored: the converted one. */
	search_fts_builder_reset(ap->fts);
	conv.parser = mail_parser_create(&search_fts_thread_callbacks,
					 ap->fts);
	ret = mail_binary_rewrite(*result, fd, append_convert_write, &conv,
				  error_r);
	close(fd);
	converted = mail_parser_finish(&conv.parser);
	if (ret < 0) {
		mail_parse_result_free(&converted);
		store_save_abort(&conv.save);
		return -1;
	}
	mail_parse_result_free(result);
	*result = converted;
	store_save_abort(&ap->save);
	ap->save = conv.save;
	return 0;
}

/* The literal is complete: commit the message with its cache record. */
static void
append_commit(struct imap_session *session, struct imap_append *ap)
{
	struct mail_parse_result *result = mail_parser_finish(&ap->parser);
	const char *error;
	const char *msgid;
	const char *const *refs;
	unsigned int ref_count;
	struct buf rec;
	uint32_t uid;

	if (ap->failed) {
		mail_parse_result_free(&result);
		store_save_abort(&ap->save);
		return;
	}
	if (mail_binary_needs_rewrite(result) &&
	    append_convert(session, ap, &result, &error) < 0) {
		log_error(&session->log, "APPEND: converting binary parts "
			  "failed: %s", error);
		mail_parse_result_free(&result);
		store_save_abort(&ap->save);
		ap->failed = true;
		return;
	}
	buf_init(&rec, 0);
	if (mail_cache_record_write(result, &rec) == 0)
		store_save_set_cache(ap->save, STORE_CACHE_PARTS, rec.data,
				     rec.len);
	buf_free(&rec);
	mail_parse_result_free(&result);
	/* The THREADID keys (store.h "threads"); the index row is left
	   to the daemon's indexer (store.h "background indexing"). */
	search_fts_builder_thread(ap->fts, &msgid, &refs, &ref_count);
	store_save_set_thread(ap->save, msgid, refs, ref_count);
	if (store_save_commit(&ap->save, &uid, &error) < 0) {
		if (store_error_is_overquota())
			ap->overquota = true;
		else
			log_error(&session->log, "APPEND: saving failed: %s",
				  error);
		ap->failed = true;
		return;
	}
	if (ap->uid_count == ap->uid_alloc) {
		ap->uid_alloc = ap->uid_alloc == 0 ? 4 : ap->uid_alloc * 2;
		ap->uids = realloc(ap->uids, ap->uid_alloc * sizeof(uint32_t));
		if (ap->uids == NULL)
			abort();
	}
	ap->uids[ap->uid_count++] = uid;
}

bool
imap_append_stream_input(struct imap_session *session)
{
	struct imap_append *ap = session->append;
	struct evbuffer *input = conn_get_input(session->conn);
	struct evbuffer_iovec vec;
	const char *error;

	if (input == NULL)
		return false;
	while (ap->remaining > 0) {
		size_t n;

		if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1 ||
		    vec.iov_len == 0)
			return false;
		n = vec.iov_len < ap->remaining ? vec.iov_len :
			(size_t)ap->remaining;
		if (!ap->failed) {
			if (store_save_write(ap->save, vec.iov_base, n,
					     &error) < 0) {
				log_error(&session->log, "APPEND: writing "
					  "failed: %s", error);
				ap->failed = true;
			} else {
				mail_parser_feed(ap->parser, vec.iov_base, n);
			}
		}
		evbuffer_drain(input, n);
		ap->remaining -= n;
	}
	ap->streaming = false;
	append_commit(session, ap);
	imap_parser_stream_done(session->parser);
	return true;
}

bool
cmd_append(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct imap_append *ap = session->append;
	struct buf b;

	if (ap == NULL || (ap->uid_count == 0 && !ap->failed)) {
		imap_append_free(session);
		imap_cmd_bad(cmd, "APPEND needs a mailbox and a message "
			     "literal.");
		return true;
	}
	if (ap->next_arg != cmd->args_count) {
		append_rollback(session, ap);
		imap_append_free(session);
		imap_cmd_bad(cmd, "Invalid APPEND arguments.");
		return true;
	}
	if (ap->failed) {
		bool overquota = ap->overquota;

		/* MULTIAPPEND is all or nothing (RFC 3502 6): the messages
		   already saved go too, which also gives their quota back. */
		append_rollback(session, ap);
		imap_append_free(session);
		if (overquota)
			imap_cmd_no(cmd, "%s", APPEND_OVERQUOTA_TEXT);
		else
			imap_cmd_no(cmd, "[SERVERBUG] Saving the message "
				    "failed.");
		return true;
	}
	buf_init(&b, 0);
	imap_write_uid_set(&b, ap->uids, ap->uid_count);
	imap_cmd_ok(cmd, "[APPENDUID %u %s] APPEND completed.",
		    ap->uidvalidity, buf_cstr(&b));
	buf_free(&b);
	imap_append_free(session);
	return true;
}
