/* libFuzzer target for SORT and THREAD. The input is the text after
   "A SORT " of one command: it goes through the IMAP command parser and
   its first argument, if a list, through sort_criteria_parse(). The same
   bytes are then taken as the headers of three messages (the whole
   input, and its two halves), whose keys are sorted by the criteria (or
   SUBJECT DATE) and threaded both ways; the thread output must have
   balanced parentheses and name each message once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "lib/buf.h"
#include "search/sort.h"
#include "search/thread.h"

static void
check_threads(const struct buf *out, unsigned int count)
{
	unsigned int open = 0, numbers = 0;

	for (size_t i = 0; i < out->len; i++) {
		uint8_t c = out->data[i];

		if (c == '(')
			open++;
		else if (c == ')') {
			if (open == 0)
				abort();
			open--;
		} else if (c >= '0' && c <= '9' &&
			   (i == 0 || out->data[i - 1] < '0' ||
			    out->data[i - 1] > '9'))
			numbers++;
	}
	if (open != 0 || numbers != count)
		abort();
}

static void
keys_and_threads(const uint8_t *data, size_t size,
		 const struct sort_criteria *crit)
{
	struct sort_message msgs[3], *ptrs[3];
	struct buf out;
	size_t half = size / 2;
	const uint8_t *starts[3] = { data, data, data + half };
	size_t lens[3] = { size, half, size - half };

	for (unsigned int i = 0; i < 3; i++) {
		sort_message_init(&msgs[i], i + 1, i + 1, lens[i], 1000);
		sort_message_parse_header(&msgs[i], starts[i], lens[i]);
		ptrs[i] = &msgs[i];
	}
	sort_messages(ptrs, 3, crit);
	for (unsigned int i = 0; i < 3; i++) {
		if (ptrs[i] == NULL)
			abort();
	}
	for (unsigned int i = 0; i < 3; i++)
		ptrs[i] = &msgs[i];
	buf_init(&out, 0);
	thread_build(THREAD_REFERENCES, ptrs, 3, &out);
	check_threads(&out, 3);
	buf_reset(&out);
	thread_build(THREAD_ORDEREDSUBJECT, ptrs, 3, &out);
	check_threads(&out, 3);
	buf_free(&out);
	for (unsigned int i = 0; i < 3; i++)
		sort_message_free(&msgs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *parser = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	const struct imap_arg *list;
	unsigned int list_count;
	struct sort_criteria crit;
	struct buf in;
	const char *error;
	size_t pos = 0, used;
	bool parsed = false;

	if (size > 16384)
		return 0;
	imap_parser_set_authenticated(parser, true);
	buf_init(&in, 0);
	buf_append_str(&in, "A SORT ");
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
	if (cmd != NULL && cmd->args_count > 0 &&
	    imap_arg_get_list(&cmd->args[0], &list, &list_count)) {
		error = NULL;
		if (sort_criteria_parse(list, list_count, &crit, &error) == 0) {
			if (crit.count == 0 || crit.count > SORT_MAX_CRITERIA)
				abort();
			parsed = true;
		} else if (error == NULL)
			abort();
	}
	if (!parsed) {
		const char *words[] = { "SUBJECT", "REVERSE", "DATE" };

		if (sort_criteria_parse_words(words, 3, &crit, &error) < 0)
			abort();
	}
	keys_and_threads(data, size, &crit);
	imap_parser_destroy(&parser);
	buf_free(&in);
	return 0;
}
