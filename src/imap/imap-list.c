/* LIST wildcard matching, kept pure for unit tests. */
#include "imap/imap-list.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool
char_eq(const char *name, size_t i, char p, bool inbox)
{
	char c = name[i];

	if (inbox && i < 5) {
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (p >= 'a' && p <= 'z')
			p = (char)(p - 'a' + 'A');
	}
	return c == p;
}

bool
imap_list_match(const char *pattern, const char *name)
{
	size_t plen = strlen(pattern), nlen = strlen(name);
	bool *cur, *next, result;
	bool inbox;

	if (plen > IMAP_LIST_MAX_PATTERN)
		return false;
	inbox = nlen >= 5 && strncmp(name, "INBOX", 5) == 0 &&
		(name[5] == '\0' || name[5] == '/');
	/* cur[j]: pattern[0..i) matches name[0..j). */
	cur = calloc(nlen + 1, sizeof(bool));
	next = calloc(nlen + 1, sizeof(bool));
	if (cur == NULL || next == NULL)
		abort();
	cur[0] = true;
	for (size_t i = 0; i < plen; i++) {
		char p = pattern[i];

		if (p == '*' || p == '%') {
			/* A run of wildcards is one: "*" if it has one. */
			while (i + 1 < plen &&
			       (pattern[i + 1] == '*' || pattern[i + 1] == '%')) {
				if (pattern[i + 1] == '*')
					p = '*';
				i++;
			}
			/* next[j] = any cur[k], k <= j, with no '/' in
			   name[k..j) for '%'. */
			bool run = false;

			for (size_t j = 0; j <= nlen; j++) {
				if (p == '%' && j > 0 && name[j - 1] == '/')
					run = false;
				run = run || cur[j];
				next[j] = run;
			}
		} else {
			next[0] = false;
			for (size_t j = 1; j <= nlen; j++)
				next[j] = cur[j - 1] &&
					char_eq(name, j - 1, p, inbox);
		}
		bool *t = cur;
		cur = next;
		next = t;
	}
	result = cur[nlen];
	free(cur);
	free(next);
	return result;
}

char *
imap_list_join(const char *reference, const char *pattern)
{
	size_t rlen = strlen(reference), plen = strlen(pattern);
	char *out;

	if (pattern[0] == '/' || rlen == 0)
		rlen = 0;
	out = malloc(rlen + plen + 1);
	if (out == NULL)
		abort();
	memcpy(out, reference, rlen);
	memcpy(out + rlen, pattern, plen + 1);
	return out;
}
