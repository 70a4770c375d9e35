/* SORT keys and ordering (RFC 5256 2 and 3, RFC 5957). */
#include "search/sort.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-parser.h"
#include "lib/xalloc.h"
#include "mail/mail-header.h"
#include "search/search-text.h"


/* ---- criteria ---------------------------------------------------------- */

static const struct {
	const char *name;
	enum sort_key key;
} sort_key_names[] = {
	{ "ARRIVAL", SORT_KEY_ARRIVAL },
	{ "CC", SORT_KEY_CC },
	{ "DATE", SORT_KEY_DATE },
	{ "FROM", SORT_KEY_FROM },
	{ "SIZE", SORT_KEY_SIZE },
	{ "SUBJECT", SORT_KEY_SUBJECT },
	{ "TO", SORT_KEY_TO },
	{ "DISPLAYFROM", SORT_KEY_DISPLAYFROM },
	{ "DISPLAYTO", SORT_KEY_DISPLAYTO },
};

int
sort_criteria_parse_words(const char *const *words, unsigned int count,
			  struct sort_criteria *crit_r, const char **error_r)
{
	bool reverse = false;

	memset(crit_r, 0, sizeof(*crit_r));
	for (unsigned int i = 0; i < count; i++) {
		unsigned int k;

		if (words[i] == NULL) {
			*error_r = "Invalid sort criterion";
			return -1;
		}
		if (strcasecmp(words[i], "REVERSE") == 0) {
			if (reverse) {
				*error_r = "REVERSE given twice";
				return -1;
			}
			reverse = true;
			continue;
		}
		for (k = 0; k < sizeof(sort_key_names) /
				     sizeof(sort_key_names[0]);
		     k++) {
			if (strcasecmp(words[i], sort_key_names[k].name) == 0)
				break;
		}
		if (k == sizeof(sort_key_names) / sizeof(sort_key_names[0])) {
			*error_r = "Unknown sort criterion";
			return -1;
		}
		if (crit_r->count == SORT_MAX_CRITERIA) {
			*error_r = "Too many sort criteria";
			return -1;
		}
		crit_r->keys[crit_r->count].key = sort_key_names[k].key;
		crit_r->keys[crit_r->count].reverse = reverse;
		crit_r->count++;
		if (sort_key_names[k].key != SORT_KEY_ARRIVAL &&
		    sort_key_names[k].key != SORT_KEY_SIZE)
			crit_r->need_header = true;
		reverse = false;
	}
	if (reverse) {
		*error_r = "REVERSE without a sort criterion";
		return -1;
	}
	if (crit_r->count == 0) {
		*error_r = "Empty sort criteria";
		return -1;
	}
	return 0;
}

int
sort_criteria_parse(const struct imap_arg *list, unsigned int count,
		    struct sort_criteria *crit_r, const char **error_r)
{
	const char *words[SORT_MAX_CRITERIA * 2 + 1];

	/* More words than keys and REVERSEs can fill is an error anyway:
	   parse the first ones to say which. */
	if (count > sizeof(words) / sizeof(words[0]))
		count = sizeof(words) / sizeof(words[0]);
	for (unsigned int i = 0; i < count; i++) {
		if (!imap_arg_get_atom(&list[i], &words[i]))
			words[i] = NULL;
	}
	return sort_criteria_parse_words(words, count, crit_r, error_r);
}

/* ---- base subject (RFC 5256 2.1) --------------------------------------- */

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at p: returns the end, or NULL. */
static const uint8_t *
match_blob(const uint8_t *p, const uint8_t *end)
{
	if (p >= end || *p != '[')
		return NULL;
	for (p++; p < end && *p != ']'; p++) {
		if (*p == '[')
			return NULL;
	}
	if (p >= end)
		return NULL;
	for (p++; p < end && is_wsp(*p); p++)
		;
	return p;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static const uint8_t *
match_refwd(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;

	if (end - p >= 2 && strncasecmp((const char *)p, "re", 2) == 0)
		p += 2;
	else if (end - p >= 2 && strncasecmp((const char *)p, "fw", 2) == 0) {
		p += 2;
		if (p < end && (*p == 'd' || *p == 'D'))
			p++;
	} else
		return NULL;
	while (p < end && is_wsp(*p))
		p++;
	if ((q = match_blob(p, end)) != NULL)
		p = q;
	if (p >= end || *p != ':')
		return NULL;
	return p + 1;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP */
static const uint8_t *
match_leader(const uint8_t *p, const uint8_t *end, bool *refwd_r)
{
	const uint8_t *q;

	*refwd_r = false;
	if (p < end && is_wsp(*p))
		return p + 1;
	while ((q = match_blob(p, end)) != NULL)
		p = q;
	q = match_refwd(p, end);
	if (q != NULL)
		*refwd_r = true;
	return q;
}

void
sort_base_subject(const uint8_t *value, size_t len, struct buf *out,
		  bool *reply_r)
{
	struct buf unfolded, decoded;
	const uint8_t *s, *e, *q;
	bool reply = false, refwd;

	/* (1) RFC 2047 decoding to UTF-8; tabs and line breaks become
	   spaces and runs of them one space. */
	buf_init(&unfolded, 0);
	buf_init(&decoded, 0);
	mail_header_unfold(value, len, &unfolded);
	mail_header_decode_2047(unfolded.data, unfolded.len, &decoded);
	buf_reset(&unfolded);
	for (size_t i = 0; i < decoded.len; i++) {
		uint8_t c = decoded.data[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && unfolded.len > 0 &&
		    unfolded.data[unfolded.len - 1] == ' ')
			continue;
		buf_append_c(&unfolded, c);
	}
	s = unfolded.data;
	e = s + unfolded.len;
	for (;;) {
		/* (2) subj-trailer = "(fwd)" / WSP, removed from the end */
		for (;;) {
			if (e > s && is_wsp(e[-1]))
				e--;
			else if (e - s >= 5 &&
				 strncasecmp((const char *)e - 5, "(fwd)",
					     5) == 0) {
				e -= 5;
				reply = true;
			} else
				break;
		}
		/* (3)-(5) leaders, then a blob that is not everything */
		for (;;) {
			bool changed = false;

			while ((q = match_leader(s, e, &refwd)) != NULL) {
				s = q;
				reply = reply || refwd;
				changed = true;
			}
			q = match_blob(s, e);
			if (q != NULL && q < e) {
				s = q;
				changed = true;
			}
			if (!changed)
				break;
		}
		/* (6) subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]" */
		if (e - s >= 6 && strncasecmp((const char *)s, "[fwd:", 5) == 0 &&
		    e[-1] == ']') {
			s += 5;
			e--;
			reply = true;
			continue;
		}
		break;
	}
	buf_append(out, s, (size_t)(e - s));
	buf_free(&unfolded);
	buf_free(&decoded);
	*reply_r = reply;
}

/* ---- dates -------------------------------------------------------------- */

static bool
read_num(const char **pp, unsigned int min_digits, unsigned int max_digits,
	 unsigned int *num_r, unsigned int *digits_r)
{
	const char *p = *pp;
	unsigned int n = 0, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < max_digits) {
		n = n * 10 + (unsigned int)(*p - '0');
		p++;
		digits++;
	}
	if (digits < min_digits || (*p >= '0' && *p <= '9'))
		return false;
	*pp = p;
	*num_r = n;
	*digits_r = digits;
	return true;
}

/* RFC 5322 4.3 obs-zone names, in minutes east of UTC. */
static int
zone_minutes(const char *p, size_t len)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
		{ "EDT", -4 * 60 }, { "EST", -5 * 60 }, { "CDT", -5 * 60 },
		{ "CST", -6 * 60 }, { "MDT", -6 * 60 }, { "MST", -7 * 60 },
		{ "PDT", -7 * 60 }, { "PST", -8 * 60 },
	};

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (len == 3 && strncasecmp(p, zones[i].name, 3) == 0)
			return zones[i].minutes;
	}
	/* UT, GMT, Z, military zones and anything else: RFC 5322 4.3 says
	   to take unknown ones as +0000. */
	return 0;
}

int
sort_date_parse(const char *value, time_t *time_r)
{
	static const char months[12][4] = {
		"jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec",
	};
	static const unsigned char mdays[12] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	const char *p = search_skip_cfws(value);
	unsigned int day, month, year, hour, min, sec = 0, digits;
	int zone = 0;

	if (isalpha((unsigned char)p[0])) {
		while (isalpha((unsigned char)*p))
			p++;
		p = search_skip_cfws(p);
		if (*p != ',')
			return -1;
		p = search_skip_cfws(p + 1);
	}
	if (!read_num(&p, 1, 2, &day, &digits) || day == 0)
		return -1;
	p = search_skip_cfws(p);
	for (month = 0; month < 12; month++) {
		if (strncasecmp(p, months[month], 3) == 0)
			break;
	}
	if (month == 12 || isalpha((unsigned char)p[3]))
		return -1;
	p = search_skip_cfws(p + 3);
	if (!read_num(&p, 2, 4, &year, &digits))
		return -1;
	if (digits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (digits == 3)
		year += 1900;
	if (day > mdays[month] ||
	    (month == 1 && day == 29 &&
	     !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))))
		return -1;
	p = search_skip_cfws(p);
	if (!read_num(&p, 1, 2, &hour, &digits) || hour > 23)
		return -1;
	p = search_skip_cfws(p);
	if (*p != ':')
		return -1;
	p = search_skip_cfws(p + 1);
	if (!read_num(&p, 1, 2, &min, &digits) || min > 59)
		return -1;
	p = search_skip_cfws(p);
	if (*p == ':') {
		p = search_skip_cfws(p + 1);
		/* 60: a leap second */
		if (!read_num(&p, 1, 2, &sec, &digits) || sec > 60)
			return -1;
		p = search_skip_cfws(p);
	}
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
		unsigned int hhmm;
		const char *z = p + 1;

		if (read_num(&z, 4, 4, &hhmm, &digits) && hhmm % 100 < 60) {
			zone = (int)(hhmm / 100 * 60 + hhmm % 100);
			if (*p == '-')
				zone = -zone;
		}
	} else if (isalpha((unsigned char)*p)) {
		size_t n = 0;

		while (isalpha((unsigned char)p[n]))
			n++;
		zone = zone_minutes(p, n);
	}
	int64_t t = search_days_from_civil(year, month + 1, day) * 86400 +
		    (int64_t)hour * 3600 + min * 60 + sec - (int64_t)zone * 60;
	*time_r = (time_t)t;
	return 0;
}

/* ---- header keys -------------------------------------------------------- */

void
sort_message_init(struct sort_message *msg, uint32_t seq, uint32_t num,
		  uint64_t size, time_t arrival)
{
	memset(msg, 0, sizeof(*msg));
	msg->seq = seq;
	msg->num = num;
	msg->size = size;
	msg->arrival = arrival;
	msg->date = arrival;
	msg->subject = xstrdup("");
	msg->from = xstrdup("");
	msg->to = xstrdup("");
	msg->cc = xstrdup("");
	msg->display_from = xstrdup("");
	msg->display_to = xstrdup("");
	msg->message_id = xstrdup("");
}

void
sort_message_free(struct sort_message *msg)
{
	free(msg->subject);
	free(msg->from);
	free(msg->to);
	free(msg->cc);
	free(msg->display_from);
	free(msg->display_to);
	free(msg->message_id);
	for (unsigned int i = 0; i < msg->reference_count; i++)
		free(msg->references[i]);
	free(msg->references);
	memset(msg, 0, sizeof(*msg));
}

/* The sort key of a string: its i;unicode-casemap form (RFC 5051, which
   RFC 5256 section 2.1 names for SORT; search_text_fold()), compared as
   octets. A NUL inside would cut the key short, so it becomes a space. */
static char *
fold_string(const uint8_t *data, size_t len)
{
	struct buf out;
	size_t n;

	buf_init(&out, 0);
	search_text_fold(data, len, &out);
	for (n = 0; n < out.len; n++) {
		if (out.data[n] == '\0')
			out.data[n] = ' ';
	}
	buf_append_c(&out, '\0');
	return (char *)buf_steal(&out, &n);
}

struct first_address {
	bool found;
	struct buf mailbox;
	struct buf display;
};

static void
first_address_cb(void *context, const char *name, const char *route,
		 const char *mailbox, const char *host)
{
	struct first_address *fa = context;

	(void)route;
	if (fa->found || (mailbox == NULL && host == NULL))
		return; /* a group's end marker */
	fa->found = true;
	if (host == NULL) {
		/* A group's start: ENVELOPE gives it as the list's first
		   address with the group name as its mailbox (RFC 3501
		   7.4.2), and the name is what the group displays as. */
		buf_append_str(&fa->mailbox, mailbox);
		buf_append_str(&fa->display, mailbox);
		return;
	}
	if (mailbox != NULL)
		buf_append_str(&fa->mailbox, mailbox);
	if (name != NULL && *name != '\0') {
		mail_header_decode_2047((const uint8_t *)name, strlen(name),
					&fa->display);
	} else {
		if (mailbox != NULL)
			buf_append_str(&fa->display, mailbox);
		if (*host != '\0') {
			buf_append_c(&fa->display, '@');
			buf_append_str(&fa->display, host);
		}
	}
}

static void
parse_address(const struct buf *value, char **mailbox_r, char **display_r)
{
	struct first_address fa;

	memset(&fa, 0, sizeof(fa));
	buf_init(&fa.mailbox, 0);
	buf_init(&fa.display, 0);
	mail_header_parse_addresses(value->data, value->len, first_address_cb,
				    &fa);
	free(*mailbox_r);
	*mailbox_r = fold_string(fa.mailbox.data, fa.mailbox.len);
	if (display_r != NULL) {
		free(*display_r);
		*display_r = fold_string(fa.display.data, fa.display.len);
	}
	buf_free(&fa.mailbox);
	buf_free(&fa.display);
}

static void
parse_references(struct sort_message *msg, const struct buf *value,
		 bool first_only)
{
	struct buf id;
	size_t pos = 0, n;

	buf_init(&id, 0);
	while (sort_msgid_next(value->data, value->len, &pos, &id) > 0) {
		if (msg->reference_count == THREAD_MAX_REFERENCES) {
			/* keep the last ones: drop the oldest */
			free(msg->references[0]);
			memmove(msg->references, msg->references + 1,
				(THREAD_MAX_REFERENCES - 1) *
					sizeof(msg->references[0]));
			msg->reference_count--;
		}
		if (msg->references == NULL) {
			msg->references = xcalloc(THREAD_MAX_REFERENCES,
						  sizeof(msg->references[0]));
		}
		buf_append_c(&id, '\0');
		msg->references[msg->reference_count++] =
			(char *)buf_steal(&id, &n);
		if (first_only)
			break;
	}
	buf_free(&id);
}

enum header_field {
	FIELD_SUBJECT,
	FIELD_FROM,
	FIELD_TO,
	FIELD_CC,
	FIELD_DATE,
	FIELD_MESSAGE_ID,
	FIELD_REFERENCES,
	FIELD_IN_REPLY_TO,
	FIELD_COUNT
};

static const char *const field_names[FIELD_COUNT] = {
	"Subject", "From", "To", "Cc", "Date", "Message-ID", "References",
	"In-Reply-To",
};

void
sort_message_parse_header(struct sort_message *msg, const uint8_t *header,
			  size_t len)
{
	struct buf values[FIELD_COUNT];
	bool seen[FIELD_COUNT];
	size_t i = 0;

	memset(seen, 0, sizeof(seen));
	for (unsigned int f = 0; f < FIELD_COUNT; f++)
		buf_init(&values[f], 0);
	while (i < len) {
		size_t line_start = i, name_end, value_start, value_end;
		int field = -1;

		if (header[i] == '\n' ||
		    (header[i] == '\r' && i + 1 < len && header[i + 1] == '\n'))
			break; /* the empty line: end of the header */
		/* the field name, up to ':' */
		while (i < len && header[i] != ':' && header[i] != '\n')
			i++;
		name_end = i;
		if (i < len && header[i] == ':') {
			for (unsigned int f = 0; f < FIELD_COUNT; f++) {
				size_t n = strlen(field_names[f]);

				if (name_end - line_start == n &&
				    strncasecmp((const char *)header +
							line_start,
						field_names[f], n) == 0)
					field = (int)f;
			}
			i++;
		}
		value_start = i;
		/* the value: this line and its continuation lines */
		for (;;) {
			while (i < len && header[i] != '\n')
				i++;
			if (i < len)
				i++;
			if (i >= len || !is_wsp(header[i]))
				break;
		}
		value_end = i;
		if (field >= 0 && !seen[field] && name_end > line_start) {
			seen[field] = true;
			mail_header_unfold(header + value_start,
					   value_end - value_start,
					   &values[field]);
		}
	}
	if (seen[FIELD_SUBJECT]) {
		struct buf base;

		buf_init(&base, 0);
		sort_base_subject(values[FIELD_SUBJECT].data,
				  values[FIELD_SUBJECT].len, &base,
				  &msg->subject_reply);
		free(msg->subject);
		msg->subject = fold_string(base.data, base.len);
		buf_free(&base);
	}
	if (seen[FIELD_FROM])
		parse_address(&values[FIELD_FROM], &msg->from,
			      &msg->display_from);
	if (seen[FIELD_TO])
		parse_address(&values[FIELD_TO], &msg->to, &msg->display_to);
	if (seen[FIELD_CC])
		parse_address(&values[FIELD_CC], &msg->cc, NULL);
	if (seen[FIELD_DATE]) {
		time_t t;

		if (sort_date_parse(buf_cstr(&values[FIELD_DATE]), &t) == 0)
			msg->date = t;
	}
	if (seen[FIELD_MESSAGE_ID]) {
		struct buf id;
		size_t pos = 0, n;

		buf_init(&id, 0);
		if (sort_msgid_next(values[FIELD_MESSAGE_ID].data,
				    values[FIELD_MESSAGE_ID].len, &pos,
				    &id) > 0) {
			buf_append_c(&id, '\0');
			free(msg->message_id);
			msg->message_id = (char *)buf_steal(&id, &n);
		}
		buf_free(&id);
	}
	/* RFC 5256 4: References, or else the first In-Reply-To id */
	if (seen[FIELD_REFERENCES])
		parse_references(msg, &values[FIELD_REFERENCES], false);
	if (msg->reference_count == 0 && seen[FIELD_IN_REPLY_TO])
		parse_references(msg, &values[FIELD_IN_REPLY_TO], true);
	for (unsigned int f = 0; f < FIELD_COUNT; f++)
		buf_free(&values[f]);
}

/* ---- ordering ----------------------------------------------------------- */

static int
cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
sort_cmp(const struct sort_message *a, const struct sort_message *b,
	 const struct sort_criteria *crit)
{
	for (unsigned int i = 0; i < crit->count; i++) {
		int r = 0;

		switch (crit->keys[i].key) {
		case SORT_KEY_ARRIVAL:
			r = cmp_time(a->arrival, b->arrival);
			break;
		case SORT_KEY_DATE:
			r = cmp_time(a->date, b->date);
			break;
		case SORT_KEY_SIZE:
			r = cmp_num(a->size, b->size);
			break;
		case SORT_KEY_SUBJECT:
			r = strcmp(a->subject, b->subject);
			break;
		case SORT_KEY_FROM:
			r = strcmp(a->from, b->from);
			break;
		case SORT_KEY_TO:
			r = strcmp(a->to, b->to);
			break;
		case SORT_KEY_CC:
			r = strcmp(a->cc, b->cc);
			break;
		case SORT_KEY_DISPLAYFROM:
			r = strcmp(a->display_from, b->display_from);
			break;
		case SORT_KEY_DISPLAYTO:
			r = strcmp(a->display_to, b->display_to);
			break;
		}
		if (r != 0)
			return crit->keys[i].reverse ? -r : r;
	}
	/* RFC 5256 3: the implicit last key, never reversed */
	return cmp_num(a->seq, b->seq);
}

void
sort_messages(struct sort_message **msgs, unsigned int count,
	      const struct sort_criteria *crit)
{
	struct sort_message **tmp, **src = msgs, **dst;

	if (count < 2)
		return;
	tmp = xcalloc(count, sizeof(*tmp));
	dst = tmp;
	/* bottom-up merge sort: stable and without recursion */
	for (size_t width = 1; width < count; width *= 2) {
		for (size_t lo = 0; lo < count; lo += 2 * width) {
			size_t mid = lo + width < count ? lo + width : count;
			size_t hi = mid + width < count ? mid + width : count;
			size_t a = lo, b = mid, o = lo;

			while (a < mid && b < hi) {
				if (sort_cmp(src[b], src[a], crit) < 0)
					dst[o++] = src[b++];
				else
					dst[o++] = src[a++];
			}
			while (a < mid)
				dst[o++] = src[a++];
			while (b < hi)
				dst[o++] = src[b++];
		}
		struct sort_message **t = src;
		src = dst;
		dst = t;
	}
	if (src != msgs)
		memcpy(msgs, src, count * sizeof(*msgs));
	free(tmp);
}
