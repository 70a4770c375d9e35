/* Sorting and finding 64-bit ids (u64sort.h). */

#include "lib/u64sort.h"

#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* Below this, insertion sort: the radix passes' counting costs more. */
#define U64_SORT_SMALL 64

static void
insertion_sort(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

void
u64_sort(uint64_t *v, size_t n)
{
	size_t counts[8][256];

	if (n < U64_SORT_SMALL) {
		insertion_sort(v, n);
		return;
	}
	/* Least significant byte first, each pass stable; one pass counts
	   all eight bytes, and a byte that is the same in every value
	   (the top ones of small ids) needs no pass. */
	memset(counts, 0, sizeof(counts));
	for (size_t i = 0; i < n; i++) {
		uint64_t x = v[i];

		for (unsigned b = 0; b < 8; b++)
			counts[b][(x >> (8 * b)) & 0xff]++;
	}
	uint64_t *tmp = xmalloc(n * sizeof(*tmp));
	uint64_t *from = v, *to = tmp;

	for (unsigned b = 0; b < 8; b++) {
		size_t *c = counts[b];
		size_t pos = 0;
		bool one_value = false;

		for (unsigned d = 0; d < 256; d++) {
			if (c[d] == n) {
				one_value = true;
				break;
			}
		}
		if (one_value)
			continue;
		for (unsigned d = 0; d < 256; d++) {
			size_t k = c[d];

			c[d] = pos;
			pos += k;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t x = from[i];

			to[c[(x >> (8 * b)) & 0xff]++] = x;
		}
		uint64_t *t = from;
		from = to;
		to = t;
	}
	if (from != v)
		memcpy(v, from, n * sizeof(*v));
	free(tmp);
}

bool
u64_sorted_has(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == x;
}
