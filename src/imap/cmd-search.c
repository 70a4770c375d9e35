/* SEARCH / UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4), with ESEARCH
   return options (RFC 4731), the saved result "$" (RFC 5182) and MODSEQ
   (RFC 7162 3.1.5). The program and its evaluation live in src/search;
   this file walks the selected view and writes the replies. */
#include "imap/imap-commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "search/search-eval.h"
#include "search/search-fts.h"
#include "search/search-program.h"
#include "store/store.h"

struct search_results {
	uint32_t *nums; /* what the reply lists: UIDs or sequence numbers */
	uint32_t *uids; /* for SAVE */
	unsigned int count;
	uint64_t highest_modseq;
	uint64_t first_modseq; /* of the MIN message */
	uint64_t last_modseq; /* of the MAX message */
};

ssize_t
imap_fd_read(void *context, uint8_t *buf, size_t size, const char **error_r)
{
	int fd = *(int *)context;
	ssize_t n;

	do {
		n = read(fd, buf, size);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		*error_r = strerror(errno);
	return n;
}

static bool
program_has_keyword(const struct search_program *prog)
{
	for (unsigned int i = 0; i < prog->count; i++) {
		if (prog->nodes[i].op == SEARCH_OP_KEYWORD)
			return true;
	}
	return false;
}

int
imap_search_judge(struct imap_session *session,
		  const struct search_program *prog, struct search_eval *eval,
		  const struct search_fts_lookup *fts, int8_t *verdicts,
		  uint32_t seq, const struct store_view_entry *entry,
		  struct search_message *msg, const char **error_r)
{
	msg->seq = seq;
	msg->uid = entry->uid;
	msg->flags = entry->flags;
	msg->keywords = entry->keywords;
	msg->modseq = entry->modseq;
	msg->size = entry->size;
	msg->internal_date = entry->internal_date;
	msg->save_date = entry->save_date;
	msg->blob_id = entry->blob_id;
	msg->thread_id = 0;
	if (prog->uses_threadid &&
	    store_thread_get(session->user, entry->blob_id, &msg->thread_id,
			     error_r) < 0)
		return -2;
	if (fts != NULL)
		search_fts_lookup_verdicts(fts, entry->blob_id, verdicts);
	int r = search_eval_record_known(eval, msg, verdicts);
	if (r >= 0)
		return r;
	uint64_t size;
	int fd;

	r = store_blob_open(session->user, entry->blob_id, &fd, &size,
			    error_r);
	if (r <= 0)
		return r; /* 0: expunged meanwhile */
	r = search_eval_read(eval, imap_fd_read, &fd, error_r);
	close(fd);
	return r;
}

/* Runs the program over every message of the view. Returns 0, or -1
   with *error_r (a store or read error: logged, reply NO). */
static int
search_run(struct imap_cmd *cmd, struct search_program *prog,
	   const struct imap_seqset *saved, struct search_results *res,
	   const char **error_r)
{
	struct imap_session *session = cmd->session;
	struct search_eval_settings set;
	struct search_eval *eval;
	struct search_fts_lookup *fts = NULL;
	struct store_view_entry entry;
	struct store_view_iter it;
	uint32_t seq, count = store_view_count(session->view);
	int8_t *verdicts = NULL;
	int ret = 0;

	memset(&set, 0, sizeof(set));
	if (program_has_keyword(prog)) {
		/* Asking past the end reloads the names: a keyword another
		   session just created is found. */
		(void)imap_keyword_name(session, STORE_MAX_KEYWORDS);
		set.keywords = (const char *const *)session->keywords;
		set.keyword_count = session->keyword_count;
	}
	set.now = time(NULL);
	set.max_seq = count;
	if (count > 0 && store_view_get(session->view, count, &entry))
		set.max_uid = entry.uid;
	set.saved_uids = saved;
	if (!session->enabled_rev2)
		set.recent_uids = session->recent_uids;
	eval = search_eval_create(prog, &set);
	/* Text keys from the full-text index: messages it covers are not
	   read (search-fts.h). */
	if ((prog->need_header || prog->need_body) &&
	    search_fts_lookup_view(session->user, session->mailbox_id,
				   session->view, prog, eval, &fts,
				   error_r) < 0) {
		search_eval_destroy(&eval);
		return -1;
	}
	if (fts != NULL)
		verdicts = imap_xcalloc(prog->count, sizeof(*verdicts));

	res->nums = imap_xcalloc(count == 0 ? 1 : count, sizeof(uint32_t));
	res->uids = imap_xcalloc(count == 0 ? 1 : count, sizeof(uint32_t));
	store_view_iter_init(&it, session->view);
	for (seq = 1; seq <= count; seq++) {
		struct search_message msg;
		int r;

		if (!store_view_iter_next(&it, &entry))
			break;
		r = imap_search_judge(session, prog, eval, fts, verdicts, seq,
				      &entry, &msg, error_r);
		if (r < 0) {
			ret = -1;
			break;
		}
		if (r > 0) {
			res->nums[res->count] = cmd->uid ? entry.uid : seq;
			res->uids[res->count] = entry.uid;
			if (res->count == 0)
				res->first_modseq = entry.modseq;
			res->last_modseq = entry.modseq;
			res->count++;
			if (entry.modseq > res->highest_modseq)
				res->highest_modseq = entry.modseq;
		}
	}
	search_eval_destroy(&eval);
	search_fts_lookup_free(&fts);
	free(verdicts);
	return ret;
}

static void
write_quoted(struct buf *out, const char *str)
{
	buf_append_c(out, '"');
	for (; *str != '\0'; str++) {
		if (*str == '"' || *str == '\\')
			buf_append_c(out, '\\');
		buf_append_c(out, (uint8_t)*str);
	}
	buf_append_c(out, '"');
}

/* Sends the reply line built in out (which may be long: one number per
   match) without copying it again, and frees it. */
static void
send_untagged(struct imap_session *session, struct buf *out)
{
	buf_append_str(out, "\r\n");
	imap_session_write(session, out->data, out->len);
	buf_free(out);
}

/* RFC 4731 3.2: with only MIN and/or MAX returned, MODSEQ is that of the
   returned message(s); otherwise the highest of all matches. */
static uint64_t
esearch_modseq(unsigned int opts, const struct search_results *res)
{
	bool min = (opts & SEARCH_RETURN_MIN) != 0;
	bool max = (opts & SEARCH_RETURN_MAX) != 0;

	if ((opts & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT)) != 0 ||
	    (!min && !max))
		return res->highest_modseq;
	if (min && !max)
		return res->first_modseq;
	if (max && !min)
		return res->last_modseq;
	return res->first_modseq > res->last_modseq ?
		res->first_modseq : res->last_modseq;
}

static void
write_reply(struct imap_cmd *cmd, const struct search_program *prog,
	    const struct search_results *res)
{
	struct imap_session *session = cmd->session;
	unsigned int opts = prog->return_opts;
	struct buf out;

	buf_init(&out, 0);
	if (!prog->has_return && !session->enabled_rev2) {
		/* IMAP4rev1: "* SEARCH 2 3 5 (MODSEQ n)". */
		buf_append_str(&out, "* SEARCH");
		for (unsigned int i = 0; i < res->count; i++)
			buf_appendf(&out, " %u", res->nums[i]);
		if (prog->uses_modseq && res->count > 0)
			buf_appendf(&out, " (MODSEQ %llu)",
				    (unsigned long long)res->highest_modseq);
		send_untagged(session, &out);
		return;
	}
	if (!prog->has_return)
		opts = SEARCH_RETURN_ALL;
	/* RFC 5182 2.4: SAVE alone suppresses the ESEARCH response. */
	if ((opts & ~SEARCH_RETURN_SAVE) == 0) {
		buf_free(&out);
		return;
	}
	buf_append_str(&out, "* ESEARCH (TAG ");
	write_quoted(&out, cmd->tag);
	buf_append_c(&out, ')');
	if (cmd->uid)
		buf_append_str(&out, " UID");
	if ((opts & SEARCH_RETURN_MIN) != 0 && res->count > 0)
		buf_appendf(&out, " MIN %u", res->nums[0]);
	if ((opts & SEARCH_RETURN_MAX) != 0 && res->count > 0)
		buf_appendf(&out, " MAX %u", res->nums[res->count - 1]);
	if ((opts & SEARCH_RETURN_ALL) != 0 && res->count > 0) {
		buf_append_str(&out, " ALL ");
		imap_write_uid_set(&out, res->nums, res->count);
	}
	if ((opts & SEARCH_RETURN_COUNT) != 0)
		buf_appendf(&out, " COUNT %u", res->count);
	if (prog->uses_modseq && res->count > 0)
		buf_appendf(&out, " MODSEQ %llu",
			    (unsigned long long)esearch_modseq(opts, res));
	send_untagged(session, &out);
}

/* RFC 5182 2.4: with MIN and/or MAX but neither ALL nor COUNT, "$"
   holds only those messages. */
static void
save_result(struct imap_session *session, const struct search_program *prog,
	    const struct search_results *res)
{
	unsigned int opts = prog->return_opts;
	uint32_t pick[2];
	unsigned int n = 0;

	if ((opts & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT)) != 0 ||
	    (opts & (SEARCH_RETURN_MIN | SEARCH_RETURN_MAX)) == 0 ||
	    res->count == 0) {
		imap_session_set_saved_uids(session, res->uids, res->count);
		return;
	}
	if ((opts & SEARCH_RETURN_MIN) != 0)
		pick[n++] = res->uids[0];
	if ((opts & SEARCH_RETURN_MAX) != 0 &&
	    (n == 0 || res->uids[res->count - 1] != pick[0]))
		pick[n++] = res->uids[res->count - 1];
	imap_session_set_saved_uids(session, pick, n);
}

/* True if the arguments start with a RETURN list holding SAVE (for a
   program that failed to build after its RETURN options). */
static bool
args_return_save(const struct imap_arg *args, unsigned int count)
{
	const struct imap_arg *list;
	unsigned int n;

	if (count < 2 || !imap_arg_atom_equals(&args[0], "RETURN") ||
	    !imap_arg_get_list(&args[1], &list, &n))
		return false;
	for (unsigned int i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&list[i], "SAVE"))
			return true;
	}
	return false;
}

bool
cmd_search(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct search_program *prog;
	struct search_results res;
	struct imap_seqset *saved = NULL;
	enum search_error_kind kind;
	const char *error;
	int ret;

	if (search_program_parse(cmd->args, cmd->args_count, &prog, &kind,
				 &error) < 0) {
		if (kind == SEARCH_ERROR_BADCHARSET) {
			/* RFC 5182 2.1: NO to a SEARCH with SAVE empties
			   "$"; BAD leaves it. */
			if (args_return_save(cmd->args, cmd->args_count))
				imap_session_set_saved_uids(session, NULL, 0);
			imap_cmd_no(cmd, "%s", error);
		} else
			imap_cmd_bad(cmd, "%s", error);
		return true;
	}
	/* RFC 7162 3.1: SEARCH MODSEQ is CONDSTORE-enabling. */
	if (prog->uses_modseq)
		imap_session_enable_condstore(session);
	if (prog->uses_saved)
		saved = imap_session_saved_set(session);
	memset(&res, 0, sizeof(res));
	ret = search_run(cmd, prog, saved, &res, &error);
	if (saved != NULL)
		imap_seqset_destroy(&saved);
	if (ret < 0) {
		/* RFC 5182 2.1: a failed SEARCH ... SAVE empties "$". */
		if ((prog->return_opts & SEARCH_RETURN_SAVE) != 0)
			imap_session_set_saved_uids(session, NULL, 0);
		imap_cmd_fail(cmd, "search", error);
	} else {
		write_reply(cmd, prog, &res);
		if ((prog->return_opts & SEARCH_RETURN_SAVE) != 0)
			save_result(session, prog, &res);
		imap_cmd_ok(cmd, "SEARCH completed.");
	}
	free(res.nums);
	free(res.uids);
	search_program_free(&prog);
	return true;
}
