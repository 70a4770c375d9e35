/* sort_msgid_next() (sort.h): in a file of its own so that what needs
   only msg-ids (the THREADID keys of a save, search-fts.c) does not pull
   in SORT's criteria parsing and the IMAP argument code it uses. */
#include "search/sort.h"

int
sort_msgid_next(const uint8_t *value, size_t len, size_t *pos,
		struct buf *out)
{
	size_t i = *pos;

	while (i < len) {
		size_t start = out->len, at = 0;
		bool quoted = false, ok = false;
		unsigned int comment = 0;

		while (i < len && value[i] != '<')
			i++;
		if (i == len)
			break;
		for (i++; i < len; i++) {
			uint8_t c = value[i];

			if (quoted) {
				if (c == '"')
					quoted = false;
				else {
					if (c == '\\' && i + 1 < len)
						c = value[++i];
					buf_append_c(out, c);
				}
				continue;
			}
			if (comment > 0) {
				if (c == '\\' && i + 1 < len)
					i++;
				else if (c == '(')
					comment++;
				else if (c == ')')
					comment--;
				continue;
			}
			if (c == '>') {
				ok = true;
				i++;
				break;
			}
			if (c == '<')
				break; /* start over from this one */
			if (c == '"')
				quoted = true;
			else if (c == '(')
				comment = 1;
			else if (c > ' ' && c != 0x7f) {
				if (c == '@' && at == 0)
					at = out->len - start + 1;
				buf_append_c(out, c);
			}
		}
		/* a valid msg-id: non-empty id-left "@" non-empty id-right */
		if (ok && at > 1 && out->len - start > at) {
			*pos = i;
			return 1;
		}
		buf_truncate(out, start);
	}
	*pos = len;
	return 0;
}
