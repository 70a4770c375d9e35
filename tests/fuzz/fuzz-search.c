/* libFuzzer target for the SEARCH program builder and evaluator. The
   input is the text after "A SEARCH " of one command (literals included);
   it goes through the IMAP command parser, then search_program_parse().
   A program that builds is dumped and evaluated against two small
   messages, read whole and one byte at a time: both must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "search/search-eval.h"
#include "search/search-program.h"
#include "store/store.h"

static const char *const messages[] = {
	"From: Alice <alice@example.org>\r\n"
	"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n"
	"Date: Mon, 2 Feb 2026 23:30:00 -0800\r\n"
	"\r\n"
	"The quick brown fox\r\n",

	"Subject: caf\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Un caf=E9 cr=E8me.\r\n"
	"--b--\r\n",
};

static const struct search_message records[] = {
	{ 1, 10, STORE_FLAG_SEEN, 0x1, 5, 100, 1769947200, 1770000000,
	  0x1234 },
	{ 2, 20, STORE_FLAG_FLAGGED, 0x2, 9, 300, 1770000000, 1769947200,
	  0x5678 },
};

static const char *const keywords[] = { "$Label1", "work" };

struct reader {
	const uint8_t *data;
	size_t len, pos, piece;
};

static ssize_t
mem_read(void *context, uint8_t *buf, size_t size, const char **error_r)
{
	struct reader *r = context;
	size_t n = r->len - r->pos;

	(void)error_r;
	if (n > size)
		n = size;
	if (n > r->piece)
		n = r->piece;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

static void
evaluate(struct search_program *prog)
{
	struct search_eval_settings set;
	struct imap_seqset *saved = imap_seqset_create();
	struct search_eval *eval;
	const char *error;

	imap_seqset_add_range(saved, 10, 15);
	memset(&set, 0, sizeof(set));
	set.keywords = keywords;
	set.keyword_count = 2;
	set.now = 1772000000;
	set.max_seq = 2;
	set.max_uid = 20;
	set.saved_uids = saved;
	eval = search_eval_create(prog, &set);
	for (unsigned int i = 0; i < 2; i++) {
		struct reader whole = { (const uint8_t *)messages[i],
					strlen(messages[i]), 0, SIZE_MAX };
		struct reader bytes = whole;
		int a, b;

		bytes.piece = 1;
		a = search_eval_message(eval, &records[i], mem_read, &whole,
					&error);
		b = search_eval_message(eval, &records[i], mem_read, &bytes,
					&error);
		if (a != b)
			abort();
	}
	search_eval_destroy(&eval);
	imap_seqset_destroy(&saved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *parser = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	struct search_program *prog;
	enum search_error_kind kind;
	struct buf in, dump;
	const char *error;
	size_t pos = 0, used;

	if (size > 16384)
		return 0;
	imap_parser_set_authenticated(parser, true);
	buf_init(&in, 0);
	buf_append_str(&in, "A SEARCH ");
	buf_append(&in, data, size);
	buf_append_str(&in, "\r\n");
	for (;;) {
		enum imap_parse_result r =
			imap_parser_feed(parser, in.data + pos, in.len - pos,
					 &used, &cmd, &error);

		pos += used;
		if (r == IMAP_PARSE_DONE)
			break;
		if (r == IMAP_PARSE_ERROR || r == IMAP_PARSE_LITERAL_STREAM ||
		    (r == IMAP_PARSE_MORE && pos == in.len)) {
			cmd = NULL;
			break;
		}
	}
	if (cmd != NULL &&
	    search_program_parse(cmd->args, cmd->args_count, &prog, &kind,
				 &error) == 0) {
		buf_init(&dump, 0);
		search_program_dump(prog, &dump);
		buf_free(&dump);
		evaluate(prog);
		search_program_free(&prog);
	} else if (cmd != NULL && error == NULL) {
		abort();
	}
	imap_parser_destroy(&parser);
	buf_free(&in);
	return 0;
}
