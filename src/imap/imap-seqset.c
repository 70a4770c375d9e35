#include "imap/imap-seqset.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct imap_seqset {
	/* Sorted, disjoint, non-adjacent. */
	struct imap_seq_range *ranges;
	unsigned int count;
	unsigned int cap;

	/* The "n:*" parts not yet resolved; n is 0 for "*" alone. */
	uint32_t *stars;
	unsigned int stars_count;
	unsigned int stars_cap;

	bool saved;
};

static void *
xrealloc(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		abort();
	void *n = realloc(p, nmemb * size);
	if (n == NULL && nmemb * size != 0)
		abort();
	return n;
}

struct imap_seqset *
imap_seqset_create(void)
{
	struct imap_seqset *set = calloc(1, sizeof(*set));

	if (set == NULL)
		abort();
	return set;
}

void
imap_seqset_destroy(struct imap_seqset **set)
{
	if (*set == NULL)
		return;
	free((*set)->ranges);
	free((*set)->stars);
	free(*set);
	*set = NULL;
}

/* Index of the first range whose last >= n (count if none). */
static unsigned int
seqset_lower_bound(const struct imap_seqset *set, uint32_t n)
{
	unsigned int lo = 0, hi = set->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		if (set->ranges[mid].last < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
imap_seqset_add_range(struct imap_seqset *set, uint32_t first, uint32_t last)
{
	if (first > last) {
		uint32_t t = first;
		first = last;
		last = t;
	}
	/* Fast path: appending in order, as the parser and the store do. */
	if (set->count > 0) {
		struct imap_seq_range *tail = &set->ranges[set->count - 1];
		if (first >= tail->first &&
		    (tail->last == UINT32_MAX || first <= tail->last + 1)) {
			if (last > tail->last)
				tail->last = last;
			return;
		}
	}
	/* Ranges that touch [first,last] (overlap or adjacent) merge. */
	unsigned int i = seqset_lower_bound(set, first == 0 ? 0 : first - 1);
	unsigned int j = i;
	while (j < set->count &&
	       (last == UINT32_MAX || set->ranges[j].first <= last + 1)) {
		if (set->ranges[j].first < first)
			first = set->ranges[j].first;
		if (set->ranges[j].last > last)
			last = set->ranges[j].last;
		j++;
	}
	if (i == j) {
		/* Insert at i. */
		if (set->count == set->cap) {
			set->cap = set->cap == 0 ? 4 : set->cap * 2;
			set->ranges = xrealloc(set->ranges, set->cap,
					       sizeof(*set->ranges));
		}
		memmove(&set->ranges[i + 1], &set->ranges[i],
			sizeof(*set->ranges) * (set->count - i));
		set->count++;
	} else if (j - i > 1) {
		/* Replace ranges i..j-1 by one. */
		memmove(&set->ranges[i + 1], &set->ranges[j],
			sizeof(*set->ranges) * (set->count - j));
		set->count -= j - i - 1;
	}
	set->ranges[i].first = first;
	set->ranges[i].last = last;
}

static void
seqset_add_star(struct imap_seqset *set, uint32_t n)
{
	if (set->stars_count == set->stars_cap) {
		set->stars_cap = set->stars_cap == 0 ? 2 : set->stars_cap * 2;
		set->stars = xrealloc(set->stars, set->stars_cap,
				      sizeof(*set->stars));
	}
	set->stars[set->stars_count++] = n;
}

/* seq-number = nz-number / "*"; *n_r is 0 for "*". Returns the bytes
   used, 0 on a syntax error. */
static size_t
seqset_parse_number(const uint8_t *p, size_t len, uint32_t *n_r)
{
	uint64_t n = 0;
	size_t i = 0;

	if (len > 0 && p[0] == '*') {
		*n_r = 0;
		return 1;
	}
	/* nz-number = digit-nz *DIGIT: no leading zero, no sign. */
	if (len == 0 || p[0] < '1' || p[0] > '9')
		return 0;
	while (i < len && p[i] >= '0' && p[i] <= '9') {
		n = n * 10 + (p[i] - '0');
		if (n > UINT32_MAX)
			return 0;
		i++;
	}
	*n_r = (uint32_t)n;
	return i;
}

int
imap_seqset_parse(const uint8_t *data, size_t len, struct imap_seqset **set_r,
		  const char **error_r)
{
	struct imap_seqset *set;
	size_t pos = 0;

	if (len == 1 && data[0] == '$') {
		set = imap_seqset_create();
		set->saved = true;
		*set_r = set;
		return 0;
	}
	if (len == 0) {
		*error_r = "Empty sequence set";
		return -1;
	}
	set = imap_seqset_create();
	for (;;) {
		uint32_t a, b;
		size_t k = seqset_parse_number(data + pos, len - pos, &a);

		if (k == 0)
			goto invalid;
		pos += k;
		b = a;
		if (pos < len && data[pos] == ':') {
			pos++;
			k = seqset_parse_number(data + pos, len - pos, &b);
			if (k == 0)
				goto invalid;
			pos += k;
		}
		if (a == 0 && b == 0)
			seqset_add_star(set, 0);
		else if (a == 0)
			seqset_add_star(set, b);
		else if (b == 0)
			seqset_add_star(set, a);
		else
			imap_seqset_add_range(set, a, b);
		if (pos == len)
			break;
		if (data[pos] != ',')
			goto invalid;
		pos++;
	}
	*set_r = set;
	return 0;
invalid:
	imap_seqset_destroy(&set);
	*error_r = "Invalid sequence set";
	return -1;
}

bool
imap_seqset_is_saved(const struct imap_seqset *set)
{
	return set->saved;
}

bool
imap_seqset_has_star(const struct imap_seqset *set)
{
	return set->stars_count > 0;
}

void
imap_seqset_resolve(struct imap_seqset *set, uint32_t max)
{
	for (unsigned int i = 0; i < set->stars_count; i++) {
		uint32_t n = set->stars[i];

		if (max == 0) {
			/* RFC 9051 9: "*" is the largest number in use;
			   with none, "n:*" is just n. */
			if (n != 0)
				imap_seqset_add_range(set, n, n);
		} else if (n == 0) {
			imap_seqset_add_range(set, max, max);
		} else {
			imap_seqset_add_range(set, n, max);
		}
	}
	set->stars_count = 0;
}

const struct imap_seq_range *
imap_seqset_get_ranges(const struct imap_seqset *set, unsigned int *count_r)
{
	assert(set->stars_count == 0);
	*count_r = set->count;
	return set->ranges;
}

uint64_t
imap_seqset_count(const struct imap_seqset *set)
{
	uint64_t total = 0;

	assert(set->stars_count == 0);
	for (unsigned int i = 0; i < set->count; i++)
		total += (uint64_t)set->ranges[i].last - set->ranges[i].first + 1;
	return total;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	assert(set->stars_count == 0);
	unsigned int i = seqset_lower_bound(set, n);
	return i < set->count && set->ranges[i].first <= n;
}

uint32_t
imap_seqset_last(const struct imap_seqset *set)
{
	assert(set->stars_count == 0);
	return set->count == 0 ? 0 : set->ranges[set->count - 1].last;
}

void
imap_seqset_iter_init(struct imap_seqset_iter *iter,
		      const struct imap_seqset *set)
{
	assert(set->stars_count == 0);
	iter->set = set;
	iter->idx = 0;
	iter->next = set->count > 0 ? set->ranges[0].first : 0;
}

bool
imap_seqset_iter_next(struct imap_seqset_iter *iter, uint32_t *n_r)
{
	const struct imap_seqset *set = iter->set;

	if (iter->idx >= set->count)
		return false;
	*n_r = (uint32_t)iter->next;
	/* next is 64-bit so that UINT32_MAX + 1 does not wrap. */
	if (iter->next == set->ranges[iter->idx].last) {
		iter->idx++;
		if (iter->idx < set->count)
			iter->next = set->ranges[iter->idx].first;
	} else {
		iter->next++;
	}
	return true;
}
