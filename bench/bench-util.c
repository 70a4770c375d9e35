/* Small pieces of quire-bench with no I/O: allocation helpers and the
   multi-line body scanner (tested in test-bench.c). */

#include "bench.h"

#include <stdlib.h>
#include <string.h>

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
