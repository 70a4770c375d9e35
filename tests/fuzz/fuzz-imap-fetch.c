/* libFuzzer target for the pure parts of the IMAP service: FETCH item
   and section grammar (imap-fetch.c) and LIST pattern matching
   (imap-list.c). Input: "item text" NUL "pattern" NUL "name". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-fetch.h"
#include "imap/imap-list.h"

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
	/* A pattern without wildcards matches exactly itself (INBOX aside). */
	bool m = imap_list_match(pattern, name);
	if (strpbrk(pattern, "*%") == NULL && strlen(pattern) <= 256 &&
	    strncasecmp(name, "INBOX", 5) != 0 && m != (strcmp(pattern, name) == 0))
		abort();
	free(buf);
	return 0;
}
