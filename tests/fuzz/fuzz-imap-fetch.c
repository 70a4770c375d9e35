/* libFuzzer target for the pure parts of the IMAP service: FETCH item
   and section grammar (imap-fetch.c) and LIST pattern matching
   (imap-list.c). Input: "item text" NUL "pattern" NUL "name". The item
   text is also parsed as the arguments of "T FETCH 1 <text>" and given
   to imap_fetch_items_parse_args() (lists, PREVIEW (LAZY)). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-fetch.h"
#include "imap/imap-list.h"
#include "lib/buf.h"

/* The item text as FETCH arguments, through the command parser. */
static void
fuzz_fetch_args(const char *text)
{
	struct imap_parser *parser = imap_parser_create(NULL);
	const struct imap_command *cmd = NULL;
	struct imap_fetch_items *items = NULL;
	const char *error = NULL;
	unsigned int used;
	size_t pos = 0, n;
	struct buf in;

	imap_parser_set_authenticated(parser, true);
	buf_init(&in, 0);
	buf_append_str(&in, "T FETCH 1 ");
	buf_append_str(&in, text);
	buf_append_str(&in, "\r\n");
	for (;;) {
		enum imap_parse_result r =
			imap_parser_feed(parser, in.data + pos, in.len - pos,
					 &n, &cmd, &error);

		pos += n;
		if (r == IMAP_PARSE_DONE)
			break;
		if (r == IMAP_PARSE_ERROR || r == IMAP_PARSE_LITERAL_STREAM ||
		    (r == IMAP_PARSE_MORE && pos == in.len)) {
			cmd = NULL;
			break;
		}
	}
	if (cmd != NULL && cmd->args_count >= 2) {
		if (imap_fetch_items_parse_args(&cmd->args[1],
						cmd->args_count - 1, &used,
						&items, &error) == 0) {
			if (used < 1 || used > 2 || used > cmd->args_count - 1 ||
			    items == NULL || items->count == 0)
				abort();
			imap_fetch_items_free(&items);
		} else if (error == NULL || items != NULL) {
			abort();
		}
	}
	imap_parser_destroy(&parser);
	buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 3);
	const char *item_text, *pattern, *name, *error;
	struct imap_fetch_item item;
	size_t len;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	item_text = buf;
	len = strlen(item_text);
	pattern = item_text + len + 1;
	if ((size_t)(pattern - buf) > size)
		pattern = buf + size + 1;
	len = strlen(pattern);
	name = pattern + len + 1;
	if ((size_t)(name - buf) > size + 1)
		name = buf + size + 2;

	if (imap_fetch_item_parse(item_text, &item, &error) == 0) {
		/* Invariants the executor relies on. */
		if (item.reply_name == NULL || item.depth > IMAP_FETCH_MAX_PATH)
			abort();
		if (item.partial && item.length == 0)
			abort();
		for (unsigned i = 0; i < item.field_count; i++)
			(void)imap_fetch_field_wanted(&item, item.fields[i],
						      strlen(item.fields[i]));
		imap_fetch_item_clear(&item);
	} else if (error == NULL) {
		abort();
	}
	if (strlen(item_text) <= 4096)
		fuzz_fetch_args(item_text);
	/* A pattern without wildcards matches exactly itself (INBOX aside). */
	bool m = imap_list_match(pattern, name);
	if (strpbrk(pattern, "*%") == NULL && strlen(pattern) <= 256 &&
	    strncasecmp(name, "INBOX", 5) != 0 && m != (strcmp(pattern, name) == 0))
		abort();
	free(buf);
	return 0;
}
