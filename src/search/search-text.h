#ifndef QUIRE_SEARCH_TEXT_H
#define QUIRE_SEARCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Text helpers of SEARCH: the comparator and the Date: header.

   Comparison is i;unicode-casemap (RFC 5051 section 2), which RFC 5256
   and 9051 name for SORT and SEARCH: every code point is mapped to its
   titlecase (the simple mapping: U+00DF, sharp s, has none, so it does
   not equal "SS") and the result is fully decomposed (NFKD), so "cafe"
   is a substring of "cafe" + U+0301 (e with acute) as RFC 5051 gives it; the
   titlecase is applied once more after decomposing, so compatibility
   characters (ligatures) compare like the letters they stand for. The
   folded forms are compared bytewise: for substrings (SEARCH) and for
   order (SORT). */

/* Appends the folded form of UTF-8 data to out. Invalid UTF-8 is first
   replaced by U+FFFD. */
void search_text_fold(const uint8_t *data, size_t len, struct buf *out);

/* Length of the longest prefix of data that ends on a UTF-8 character
   boundary, looking back at most 3 bytes: what can be folded now when
   text arrives in pieces. */
size_t search_text_complete_prefix(const uint8_t *data, size_t len);

/* Appends the address form SEARCH FROM/TO/CC/BCC also look in (RFC 9051
   6.4.4 speaks of the envelope's field): each address of the header
   value as "name <mailbox@host>, " (", " after each, name left out when
   there is none, group markers dropped), comments and the spaces around
   "@" gone. Not folded. */
void search_text_address_form(const uint8_t *value, size_t len,
			      struct buf *out);

/* True if name is one of the fields with an address form (From, To, Cc,
   Bcc; any case). */
bool search_text_is_address_field(const char *name);

/* Skips whitespace and RFC 5322 comments (nested, with quoted-pairs;
   nesting is counted, not recursed) in a NUL-terminated header value. */
const char *search_skip_cfws(const char *p);

/* Days since 1970-01-01 of the proleptic Gregorian date. */
int64_t search_days_from_civil(int64_t year, unsigned int month,
			       unsigned int day);

/* The calendar day of an RFC 5322 date-time (3.3, with the obsolete
   forms of 4.3: two- and three-digit years, comments), in the zone it
   was written in, as days since 1970-01-01: SENTBEFORE/SENTON/SENTSINCE
   disregard time and zone (RFC 9051 6.4.4). Returns 0 with *day_r, or
   -1 if value holds no recognisable day, month and year. */
int search_date_parse_day(const char *value, int64_t *day_r);

#endif
