#ifndef QUIRE_U64SORT_H
#define QUIRE_U64SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sorts v[0..n) ascending. A radix sort: a search over a large mailbox
   sorts one 64-bit id per message, and qsort() with a comparison
   callback spent more time there than the search itself. */
void u64_sort(uint64_t *v, size_t n);

/* Whether sorted v[0..n) holds x. */
bool u64_sorted_has(const uint64_t *v, size_t n, uint64_t x);

#endif
