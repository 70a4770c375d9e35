#ifndef QUIRE_STRNUM_H
#define QUIRE_STRNUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses an unsigned decimal number from exactly len bytes: digits only,
   no sign, no spaces, no trailing junk, no overflow past max. Returns 0 on
   success with *num_r set, -1 otherwise (then *num_r is untouched). */
int str_to_u64(const void *data, size_t len, uint64_t max, uint64_t *num_r);

/* The same for a NUL-terminated string. */
int str_to_u64z(const char *str, uint64_t max, uint64_t *num_r);

/* Parses a size: a decimal number as above, optionally followed by one
   unit letter K, M, G or T (either case; powers of 1024), from exactly len
   bytes. The result must not exceed max (after the unit is applied).
   Returns 0 with *size_r, or -1 (empty, junk, a bare unit, overflow). */
int str_to_size(const void *data, size_t len, uint64_t max,
		uint64_t *size_r);

#endif
