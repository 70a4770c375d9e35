/* The i;unicode-casemap comparator (RFC 5051) of SEARCH and SORT, and
   the Date: header's day. */
#include "search/search-text.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "lib/mutf7.h"
#include "mail/mail-decode.h"
#include "mail/mail-header.h"

/* Titlecase (the simple mapping of UnicodeData.txt) of every code point
   in place. */
static void
title_all(uint32_t *u32, size_t len)
{
	for (size_t i = 0; i < len; i++)
		u32[i] = uc_totitle(u32[i]);
}

/* The slow way, for a run of bytes >= 0x80 (whole characters, or
   invalid ones). */
static void
fold_unicode(const uint8_t *data, size_t len, struct buf *out)
{
	struct buf clean;
	uint32_t *u32, *norm;
	uint8_t *u8;
	size_t u32_len, norm_len, u8_len;

	buf_init(&clean, 0);
	if (!utf8_is_valid(data, len)) {
		mail_utf8_sanitize(data, len, &clean);
		data = clean.data;
		len = clean.len;
	}
	/* Allocation failure is the only way these fail: the input is
	   valid UTF-8. */
	u32 = u8_to_u32(data, len, NULL, &u32_len);
	if (u32 == NULL)
		abort();
	title_all(u32, u32_len);
	norm = u32_normalize(UNINORM_NFKD, u32, u32_len, NULL, &norm_len);
	if (norm == NULL)
		abort();
	/* Again after decomposing: a compatibility character such as U+FB01
	   (the "fi" ligature) has no titlecase of its own and decomposes to
	   lower-case letters, which must still equal "FI". */
	title_all(norm, norm_len);
	u8 = u32_to_u8(norm, norm_len, NULL, &u8_len);
	if (u8 == NULL)
		abort();
	(void)buf_append(out, u8, u8_len);
	free(u32);
	free(norm);
	free(u8);
	buf_free(&clean);
}

/* The folds of the two-byte code points (U+0080..U+07FF: Latin, Greek,
   Cyrillic, Hebrew, Arabic...) whose fold starts with a starter
   (combining class 0), worked out once by fold_unicode() itself; len 0
   for the others (combining marks), which need the whole run. */
struct fold_entry {
	uint8_t len;
	char s[15];
};
static struct fold_entry fold_table[0x800 - 0x80];
static pthread_once_t fold_table_once = PTHREAD_ONCE_INIT;

static void
fold_table_init(void)
{
	struct buf out;

	buf_init(&out, 16);
	for (uint32_t cp = 0x80; cp < 0x800; cp++) {
		uint8_t in[2] = { (uint8_t)(0xc0 | (cp >> 6)),
				  (uint8_t)(0x80 | (cp & 0x3f)) };
		ucs4_t first;

		if (uc_combining_class(cp) != 0)
			continue;
		buf_reset(&out);
		fold_unicode(in, 2, &out);
		if (out.len == 0 || out.len > sizeof(fold_table[0].s) ||
		    u8_mbtouc(&first, out.data, out.len) <= 0 ||
		    uc_combining_class(first) != 0)
			continue;
		memcpy(fold_table[cp - 0x80].s, out.data, out.len);
		fold_table[cp - 0x80].len = (uint8_t)out.len;
	}
	buf_free(&out);
}

/* The code point of a two-byte sequence in the table, or 0; a CJK
   unified ideograph (U+4E00..U+9FFF: no case, no decomposition, class
   0) sets *cjk_r. */
static uint32_t
fold_table_cp(const uint8_t *p, size_t left, bool *cjk_r)
{
	*cjk_r = false;
	if (left >= 2 && p[0] >= 0xc2 && p[0] <= 0xdf &&
	    (p[1] & 0xc0) == 0x80) {
		uint32_t cp = ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);

		return fold_table[cp - 0x80].len > 0 ? cp : 0;
	}
	if (left >= 3 && p[0] >= 0xe4 && p[0] <= 0xe9 &&
	    (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		uint32_t cp = ((uint32_t)(p[0] & 0x0f) << 12) |
			      ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);

		*cjk_r = cp >= 0x4e00 && cp <= 0x9fff;
	}
	return 0;
}

/* A run of bytes >= 0x80 by table when every character of it is in the
   table or a CJK ideograph: each such fold starts with a starter and is
   in canonical order, so the run's fold is theirs one after the other.
   False (nothing written) otherwise. */
static bool
fold_run_table(const uint8_t *p, size_t len, struct buf *out)
{
	bool cjk;

	pthread_once(&fold_table_once, fold_table_init);
	for (size_t i = 0; i < len;) {
		if (fold_table_cp(p + i, len - i, &cjk) != 0)
			i += 2;
		else if (cjk)
			i += 3;
		else
			return false;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp = fold_table_cp(p + i, len - i, &cjk);

		if (cp != 0) {
			(void)buf_append(out, fold_table[cp - 0x80].s,
					 fold_table[cp - 0x80].len);
			i += 2;
		} else {
			(void)buf_append(out, p + i, 3);
			i += 3;
		}
	}
	return true;
}

/* ASCII runs are upper-cased on the spot (titlecase is upper case, NFKD
   changes nothing) and only the runs of other bytes go through Unicode:
   the result is the same as folding the whole text, since an ASCII
   character decomposes to itself and is a starter (combining class 0),
   which canonical reordering never moves a mark across, and a run of
   bytes >= 0x80 never splits a UTF-8 sequence. */
void
search_text_fold(const uint8_t *data, size_t len, struct buf *out)
{
	size_t i = 0, j;

	while (i < len) {
		for (j = i; j < len && data[j] < 0x80; j++)
			;
		if (j > i) {
			uint8_t *p = buf_reserve(out, j - i);

			if (p == NULL)
				return;
			for (size_t k = i; k < j; k++)
				*p++ = (uint8_t)toupper(data[k]);
			buf_commit(out, j - i);
		}
		for (i = j; j < len && data[j] >= 0x80; j++)
			;
		if (j > i && !fold_run_table(data + i, j - i, out))
			fold_unicode(data + i, j - i, out);
		i = j;
	}
}

static void
address_form_one(void *context, const char *name, const char *route,
		 const char *mailbox, const char *host)
{
	struct buf *out = context;

	(void)route;
	if (mailbox == NULL || host == NULL)
		return; /* a group marker */
	if (name != NULL)
		buf_append_str(out, name);
	buf_append_str(out, " <");
	buf_append_str(out, mailbox);
	buf_append_c(out, '@');
	buf_append_str(out, host);
	buf_append_str(out, ">, ");
}

void
search_text_address_form(const uint8_t *value, size_t len, struct buf *out)
{
	mail_header_parse_addresses(value, len, address_form_one, out);
}

bool
search_text_is_address_field(const char *name)
{
	return strcasecmp(name, "From") == 0 || strcasecmp(name, "To") == 0 ||
		strcasecmp(name, "Cc") == 0 || strcasecmp(name, "Bcc") == 0;
}

size_t
search_text_complete_prefix(const uint8_t *data, size_t len)
{
	size_t back;

	/* Find the start of the last character, then whether it is whole. */
	for (back = 1; back <= 4 && back <= len; back++) {
		uint8_t c = data[len - back];
		size_t need;

		if ((c & 0xc0) == 0x80)
			continue; /* continuation byte */
		if (c < 0x80)
			need = 1;
		else if ((c & 0xe0) == 0xc0)
			need = 2;
		else if ((c & 0xf0) == 0xe0)
			need = 3;
		else if ((c & 0xf8) == 0xf0)
			need = 4;
		else
			return len; /* invalid: leave it to the folding */
		return back >= need ? len : len - back;
	}
	/* Only continuation bytes at the end: invalid, fold as is. */
	return len;
}

int64_t
search_days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	/* Count in 400-year eras starting on 1 March, so the leap day
	   is the last day of a year. */
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

const char *
search_skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		unsigned int depth = 0;
		do {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			p++;
		} while (depth > 0 && *p != '\0');
	}
}

static bool
read_number(const char **pp, unsigned int max_digits, unsigned int *num_r,
	    unsigned int *digits_r)
{
	const char *p = *pp;
	unsigned int n = 0, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < max_digits) {
		n = n * 10 + (unsigned int)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || (*p >= '0' && *p <= '9'))
		return false;
	*pp = p;
	*num_r = n;
	*digits_r = digits;
	return true;
}

int
search_date_parse_day(const char *value, int64_t *day_r)
{
	static const char months[12][4] = {
		"jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec",
	};
	static const unsigned char mdays[12] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	const char *p = search_skip_cfws(value);
	unsigned int day, month, year, digits;

	/* [ day-of-week "," ] */
	if (isalpha((unsigned char)p[0])) {
		while (isalpha((unsigned char)*p))
			p++;
		p = search_skip_cfws(p);
		if (*p != ',')
			return -1;
		p = search_skip_cfws(p + 1);
	}
	if (!read_number(&p, 2, &day, &digits) || day == 0)
		return -1;
	p = search_skip_cfws(p);
	for (month = 0; month < 12; month++) {
		if (strncasecmp(p, months[month], 3) == 0)
			break;
	}
	if (month == 12 || isalpha((unsigned char)p[3]))
		return -1;
	p = search_skip_cfws(p + 3);
	if (!read_number(&p, 4, &year, &digits))
		return -1;
	/* RFC 5322 4.3: a two-digit year below 50 is 20xx, else 19xx; a
	   three-digit year is added to 1900. */
	if (digits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (digits == 3)
		year += 1900;
	if (day > mdays[month])
		return -1;
	if (month == 1 && day == 29 &&
	    !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return -1;
	*day_r = search_days_from_civil(year, month + 1, day);
	return 0;
}
