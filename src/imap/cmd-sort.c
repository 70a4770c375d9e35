/* SORT / UID SORT (RFC 5256 3) with ESORT's RETURN (RFC 5267 3), and the
   search-then-read-headers step THREAD shares. */
#include "imap/cmd-sort.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imap/imap-commands.h"
#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "search/search-eval.h"
#include "search/search-fts.h"
#include "search/search-program.h"
#include "store/store.h"

/* Reads the message header (up to and including the empty line, or the
   first SORT_MAX_HEADER bytes) into out. Returns 0, or -1 with
   *error_r. */
static int
read_header(int fd, struct buf *out, const char **error_r)
{
	size_t scanned = 0;

	while (out->len < SORT_MAX_HEADER) {
		size_t want = SORT_MAX_HEADER - out->len;
		uint8_t *p;
		ssize_t n;

		if (want > 8192)
			want = 8192;
		p = buf_reserve(out, want);
		if (p == NULL)
			break;
		n = imap_fd_read(&fd, p, want, error_r);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		buf_commit(out, (size_t)n);
		/* "\n\n" or "\n\r\n" ends the header */
		for (size_t i = scanned > 2 ? scanned - 2 : 0; i + 1 < out->len;
		     i++) {
			if (out->data[i] == '\n' &&
			    (out->data[i + 1] == '\n' ||
			     (out->data[i + 1] == '\r' && i + 2 < out->len &&
			      out->data[i + 2] == '\n')))
				return 0;
		}
		scanned = out->len;
	}
	return 0;
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

void
imap_sort_messages_free(struct sort_message ***msgs, unsigned int count)
{
	if (*msgs == NULL)
		return;
	for (unsigned int i = 0; i < count; i++) {
		sort_message_free((*msgs)[i]);
		free((*msgs)[i]);
	}
	free(*msgs);
	*msgs = NULL;
}

int
imap_sort_collect(struct imap_cmd *cmd, struct search_program *prog,
		  bool need_header, struct sort_message ***msgs_r,
		  unsigned int *count_r, const char **error_r)
{
	struct imap_session *session = cmd->session;
	struct search_eval_settings set;
	struct search_eval *eval;
	struct search_fts_lookup *fts = NULL;
	int8_t *verdicts = NULL;
	struct store_view_entry entry;
	struct sort_message **msgs;
	struct imap_seqset *saved = NULL;
	struct buf header;
	uint32_t seq, count = store_view_count(session->view);
	unsigned int n = 0;
	int ret = 0;

	memset(&set, 0, sizeof(set));
	if (program_has_keyword(prog)) {
		/* past the end reloads the names (see SEARCH) */
		(void)imap_keyword_name(session, STORE_MAX_KEYWORDS);
		set.keywords = (const char *const *)session->keywords;
		set.keyword_count = session->keyword_count;
	}
	if (prog->uses_saved)
		saved = imap_session_saved_set(session);
	set.now = time(NULL);
	set.max_seq = count;
	if (count > 0 && store_view_get(session->view, count, &entry))
		set.max_uid = entry.uid;
	set.saved_uids = saved;
	eval = search_eval_create(prog, &set);
	/* Text keys from the full-text index, as SEARCH does. */
	if ((prog->need_header || prog->need_body) &&
	    search_fts_lookup_view(session->user, session->mailbox_id,
				   session->view, prog, eval, &fts,
				   error_r) < 0) {
		search_eval_destroy(&eval);
		if (saved != NULL)
			imap_seqset_destroy(&saved);
		return -1;
	}
	if (fts != NULL)
		verdicts = xcalloc(prog->count, sizeof(*verdicts));
	buf_init(&header, SORT_MAX_HEADER);

	msgs = xcalloc(count == 0 ? 1 : count, sizeof(*msgs));
	for (seq = 1; seq <= count; seq++) {
		struct search_message msg;
		struct sort_message *sm;
		uint64_t size;
		int fd = -1, r;

		if (!store_view_get(session->view, seq, &entry))
			continue;
		r = imap_search_judge(session, prog, eval, fts, verdicts, seq,
				      &entry, &msg, error_r);
		if (r < 0) {
			ret = -1;
			break;
		}
		if (r == 0)
			continue;
		sm = xmalloc(sizeof(*sm));
		sort_message_init(sm, seq, cmd->uid ? entry.uid : seq,
				  entry.size, entry.internal_date);
		msgs[n++] = sm;
		if (!need_header)
			continue;
		r = store_blob_open(session->user, entry.blob_id, &fd, &size,
				    error_r);
		if (r < 0) {
			ret = -1;
			break;
		}
		if (r == 0)
			continue; /* expunged meanwhile: record keys only */
		buf_reset(&header);
		r = read_header(fd, &header, error_r);
		close(fd);
		if (r < 0) {
			ret = -1;
			break;
		}
		sort_message_parse_header(sm, header.data, header.len);
	}
	buf_free(&header);
	search_eval_destroy(&eval);
	search_fts_lookup_free(&fts);
	free(verdicts);
	if (saved != NULL)
		imap_seqset_destroy(&saved);
	if (ret < 0) {
		imap_sort_messages_free(&msgs, n);
		return -1;
	}
	*msgs_r = msgs;
	*count_r = n;
	return 0;
}

int
imap_sort_parse_search(struct imap_cmd *cmd, const struct imap_arg *args,
		       unsigned int count, struct search_program **prog_r)
{
	enum search_error_kind kind;
	const uint8_t *data;
	const char *error;
	size_t len;

	if (count < 2 || !imap_arg_get_astring(&args[0], &data, &len)) {
		imap_cmd_bad(cmd, "Missing charset or search keys.");
		return -1;
	}
	/* RFC 5256 3: the charset is required; US-ASCII and UTF-8 must
	   be (and are the only ones) implemented. */
	if (!((len == 5 && strncasecmp((const char *)data, "UTF-8", 5) == 0) ||
	      (len == 8 &&
	       strncasecmp((const char *)data, "US-ASCII", 8) == 0))) {
		imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] "
				 "Unsupported charset.");
		return -1;
	}
	if (search_program_parse(args + 1, count - 1, prog_r, &kind,
				 &error) < 0) {
		if (kind == SEARCH_ERROR_BADCHARSET)
			imap_cmd_no(cmd, "%s", error);
		else
			imap_cmd_bad(cmd, "%s", error);
		return -1;
	}
	if ((*prog_r)->has_return) {
		/* RETURN belongs before the sort criteria (RFC 5267) */
		search_program_free(prog_r);
		imap_cmd_bad(cmd, "Misplaced RETURN.");
		return -1;
	}
	return 0;
}

/* ESORT (RFC 5267 3): "RETURN (MIN MAX ALL COUNT)"; "()" means ALL. */
static int
parse_return(const struct imap_arg *list, unsigned int count,
	     unsigned int *opts_r)
{
	unsigned int opts = 0;

	for (unsigned int i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&list[i], "MIN"))
			opts |= SEARCH_RETURN_MIN;
		else if (imap_arg_atom_equals(&list[i], "MAX"))
			opts |= SEARCH_RETURN_MAX;
		else if (imap_arg_atom_equals(&list[i], "ALL"))
			opts |= SEARCH_RETURN_ALL;
		else if (imap_arg_atom_equals(&list[i], "COUNT"))
			opts |= SEARCH_RETURN_COUNT;
		else
			return -1;
	}
	*opts_r = opts == 0 ? SEARCH_RETURN_ALL : opts;
	return 0;
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

static void
write_reply(struct imap_cmd *cmd, bool esort, unsigned int opts,
	    struct sort_message *const *msgs, unsigned int count)
{
	struct buf out;

	buf_init(&out, 0);
	if (!esort) {
		buf_append_str(&out, "* SORT");
		for (unsigned int i = 0; i < count; i++)
			buf_appendf(&out, " %u", msgs[i]->num);
	} else {
		/* RFC 5267 3.2: MIN / MAX are the first and last in sort
		   order; ALL keeps that order. */
		buf_append_str(&out, "* ESEARCH (TAG ");
		write_quoted(&out, cmd->tag);
		buf_append_c(&out, ')');
		if (cmd->uid)
			buf_append_str(&out, " UID");
		if ((opts & SEARCH_RETURN_MIN) != 0 && count > 0)
			buf_appendf(&out, " MIN %u", msgs[0]->num);
		if ((opts & SEARCH_RETURN_MAX) != 0 && count > 0)
			buf_appendf(&out, " MAX %u", msgs[count - 1]->num);
		if ((opts & SEARCH_RETURN_ALL) != 0 && count > 0) {
			uint32_t *nums = xcalloc(count, sizeof(*nums));

			for (unsigned int i = 0; i < count; i++)
				nums[i] = msgs[i]->num;
			buf_append_str(&out, " ALL ");
			imap_write_uid_set(&out, nums, count);
			free(nums);
		}
		if ((opts & SEARCH_RETURN_COUNT) != 0)
			buf_appendf(&out, " COUNT %u", count);
	}
	buf_append_str(&out, "\r\n");
	imap_session_write(cmd->session, out.data, out.len);
	buf_free(&out);
}

bool
cmd_sort(struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->args, *list;
	unsigned int count = cmd->args_count, list_count, opts = 0;
	struct sort_criteria crit;
	struct search_program *prog;
	struct sort_message **msgs;
	unsigned int msg_count;
	bool esort = false;
	const char *error;

	if (count >= 2 && imap_arg_atom_equals(&args[0], "RETURN")) {
		if (!imap_arg_get_list(&args[1], &list, &list_count) ||
		    parse_return(list, list_count, &opts) < 0) {
			imap_cmd_bad(cmd, "Invalid RETURN options.");
			return true;
		}
		esort = true;
		args += 2;
		count -= 2;
	}
	if (count < 1 || !imap_arg_get_list(&args[0], &list, &list_count)) {
		imap_cmd_bad(cmd, "Missing sort criteria.");
		return true;
	}
	if (sort_criteria_parse(list, list_count, &crit, &error) < 0) {
		imap_cmd_bad(cmd, "%s.", error);
		return true;
	}
	if (imap_sort_parse_search(cmd, args + 1, count - 1, &prog) < 0)
		return true;
	if (imap_sort_collect(cmd, prog, crit.need_header, &msgs, &msg_count,
			      &error) < 0) {
		search_program_free(&prog);
		imap_cmd_fail(cmd, "sort", error);
		return true;
	}
	sort_messages(msgs, msg_count, &crit);
	write_reply(cmd, esort, opts, msgs, msg_count);
	imap_sort_messages_free(&msgs, msg_count);
	search_program_free(&prog);
	imap_cmd_ok(cmd, "SORT completed.");
	return true;
}
