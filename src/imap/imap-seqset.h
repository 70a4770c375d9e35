#ifndef QUIRE_IMAP_SEQSET_H
#define QUIRE_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IMAP sequence sets (RFC 9051 9: sequence-set, seq-range, seq-number;
   RFC 5182: "$"), held as a sorted list of disjoint, non-adjacent ranges,
   never as a list of every number: "1:4294967295" is one range.

   A parsed set may mention "*" (the largest number in use). Until
   imap_seqset_resolve() is called, the "*" parts are kept apart, because
   "5:*" means "3:5" when the largest number is 3. Membership, iteration
   and the range list need a resolved set (one without "*"). */

struct imap_seq_range {
	uint32_t first;
	uint32_t last; /* first <= last */
};

struct imap_seqset;

/* An empty set. */
struct imap_seqset *imap_seqset_create(void);
void imap_seqset_destroy(struct imap_seqset **set);

/* Parses exactly len bytes as a sequence-set: comma-separated numbers and
   ranges "a:b" (either order), each number an nz-number (1..4294967295,
   digits only, no sign, no leading zero) or "*". The single token "$"
   parses to a set for which imap_seqset_is_saved() is true (the caller
   substitutes the saved search result). Returns 0 with *set_r, or -1 with
   *error_r a static text fit for a BAD reply. */
int imap_seqset_parse(const uint8_t *data, size_t len,
		      struct imap_seqset **set_r, const char **error_r);

/* Adds first:last (either order) to the set, merging ranges. */
void imap_seqset_add_range(struct imap_seqset *set, uint32_t first,
			   uint32_t last);

/* True if the set was "$" (RFC 5182). */
bool imap_seqset_is_saved(const struct imap_seqset *set);
/* True if the set still has "*" parts to resolve. */
bool imap_seqset_has_star(const struct imap_seqset *set);

/* Replaces "*" with max: "*" becomes max, "n:*" becomes min(n,max):max(n,max).
   If max is 0 (an empty mailbox) "*" alone contributes nothing and "n:*"
   becomes n. Afterwards imap_seqset_has_star() is false. */
void imap_seqset_resolve(struct imap_seqset *set, uint32_t max);

/* The ranges of a resolved set, sorted ascending; *count_r may be 0. */
const struct imap_seq_range *
imap_seqset_get_ranges(const struct imap_seqset *set, unsigned int *count_r);
/* How many numbers a resolved set holds. */
uint64_t imap_seqset_count(const struct imap_seqset *set);
/* True if n is in the resolved set (binary search). */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
/* The largest number in the resolved set, or 0 if it is empty. */
uint32_t imap_seqset_last(const struct imap_seqset *set);

/* Iterates the numbers of a resolved set in ascending order:
     struct imap_seqset_iter it; uint32_t n;
     imap_seqset_iter_init(&it, set);
     while (imap_seqset_iter_next(&it, &n)) ...
   The set must not change during the iteration. */
struct imap_seqset_iter {
	const struct imap_seqset *set;
	unsigned int idx;
	uint64_t next;
};
void imap_seqset_iter_init(struct imap_seqset_iter *iter,
			   const struct imap_seqset *set);
bool imap_seqset_iter_next(struct imap_seqset_iter *iter, uint32_t *n_r);

#endif
