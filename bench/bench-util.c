/* Small pieces of quire-bench with no I/O: allocation helpers and the
   multi-line body scanner (tested in test-bench.c). */

#include "bench.h"

#include "lib/strnum.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void *
bench_xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

void *
bench_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

bool
bench_body_scan(enum body_state *state, const uint8_t *p, size_t len,
		size_t *used_r)
{
	size_t j = 0;

	while (j < len) {
		switch (*state) {
		case BODY_LINE_START:
			/* only a dot at the start of a line can begin the
			   terminator; a stuffed ".." line is body */
			if (p[j] == '.') {
				*state = BODY_DOT;
				j++;
			} else {
				*state = BODY_MID;
			}
			break;
		case BODY_MID: {
			const uint8_t *nl = memchr(p + j, '\n', len - j);

			if (nl == NULL) {
				j = len;
			} else {
				j = (size_t)(nl - p) + 1;
				*state = BODY_LINE_START;
			}
			break;
		}
		case BODY_DOT:
			if (p[j] == '\r') {
				*state = BODY_DOT_CR;
				j++;
			} else {
				*state = BODY_MID;
			}
			break;
		case BODY_DOT_CR:
			if (p[j] == '\n') {
				*state = BODY_NONE;
				*used_r = j + 1;
				return true;
			}
			*state = BODY_MID;
			break;
		case BODY_NONE:
			abort();
		}
	}
	*used_r = len;
	return false;
}

bool
bench_imap_literal(const char *line, size_t len, uint64_t *n_r)
{
	const char *open;
	size_t end;

	if (len < 3 || line[len - 1] != '}')
		return false;
	end = len - 1;
	if (line[end - 1] == '+')
		end--;
	open = memrchr(line, '{', end);
	if (open == NULL)
		return false;
	return str_to_u64(open + 1, (size_t)(line + end - (open + 1)),
			  UINT32_MAX, n_r) == 0;
}

bool
bench_imap_untagged(const char *line, size_t len, const char *word,
		    unsigned int *n_r)
{
	const char *p = line + 2, *end = line + len, *sp;
	size_t wlen = strlen(word);
	uint64_t n;

	if (len < 4 || line[0] != '*' || line[1] != ' ')
		return false;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || str_to_u64(p, (size_t)(sp - p), UINT32_MAX, &n) < 0)
		return false;
	sp++;
	if ((size_t)(end - sp) < wlen || memcmp(sp, word, wlen) != 0)
		return false;
	/* the whole word: end of line or a space after it */
	if ((size_t)(end - sp) > wlen && sp[wlen] != ' ')
		return false;
	if (n_r != NULL)
		*n_r = (unsigned int)n;
	return true;
}

bool
bench_imap_capability(const char *line, size_t len, const char *cap)
{
	static const char head[] = "* CAPABILITY ";
	size_t clen = strlen(cap), i = sizeof(head) - 1;

	/* (the third byte first: most lines are not this one) */
	if (len < i || (line[2] | 0x20) != 'c' ||
	    strncasecmp(line, head, i) != 0)
		return false;
	while (i < len) {
		size_t j = i;

		while (j < len && line[j] != ' ')
			j++;
		if (j - i == clen && strncasecmp(line + i, cap, clen) == 0)
			return true;
		i = j + 1;
	}
	return false;
}
