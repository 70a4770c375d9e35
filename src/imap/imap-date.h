#ifndef QUIRE_IMAP_DATE_H
#define QUIRE_IMAP_DATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* IMAP dates (RFC 9051 9: date, date-time). */

/* "dd-Mon-yyyy hh:mm:ss +zzzz" and its NUL. */
#define IMAP_DATETIME_BUFSIZE 27

/* Parses a date-text (SEARCH BEFORE/ON/SINCE...): "1-Feb-1994" or
   "01-Feb-1994", month names in any case, without quotes (the command
   parser has removed them). Returns 0 with *time_r the start of that day
   in UTC, -1 if the text is not a valid date (including day 31 of a
   30-day month or a year before 1). */
int imap_date_parse(const uint8_t *data, size_t len, time_t *time_r);

/* Parses a date-time (APPEND): "01-Feb-1994 21:52:25 -0800" or
   " 1-Feb-1994 21:52:25 -0800", without quotes. Returns 0 with *time_r the
   instant in UTC and *tz_offset_min_r the zone in minutes east of UTC
   (-480 here), or -1 if invalid. */
int imap_datetime_parse(const uint8_t *data, size_t len, time_t *time_r,
			int *tz_offset_min_r);

/* Writes t as a date-time in the zone tz_offset_min (minutes east of UTC,
   within +-99:59; anything else is taken as +0000), without quotes, into buf (NUL-terminated, always
   26 characters: the day is zero-padded). Years outside 0..9999 are
   clamped to that range. */
void imap_datetime_format(time_t t, int tz_offset_min,
			  char buf[IMAP_DATETIME_BUFSIZE]);

#endif
