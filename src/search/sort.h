#ifndef QUIRE_SEARCH_SORT_H
#define QUIRE_SEARCH_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/limits.h"

/* SORT (RFC 5256 3) and its keys, with DISPLAYFROM / DISPLAYTO of
   SORT=DISPLAY (RFC 5957).

   The keys of a message come from its top-level header only (the caller
   reads the header, at most SORT_MAX_HEADER bytes, never the body):
     SUBJECT      base subject (RFC 5256 2.1), then folded
     FROM TO CC   addr-mailbox (local part) of the first address, folded
     DISPLAYFROM  display name of the first From / To address (RFC 2047
     DISPLAYTO    decoded), or its "mailbox@host" if it has none, folded
     DATE         Date: as an instant (time and zone applied); the
                  internal date when there is no valid Date:
     ARRIVAL      internal date; SIZE: message size
   Strings are compared bytewise after i;unicode-casemap folding (the
   SEARCH folding, search_text_fold()); a missing field is the empty
   string, which sorts first. Equal keys fall back to the sequence
   number (RFC 5256 3), which REVERSE never reverses. */

enum sort_key {
	SORT_KEY_ARRIVAL,
	SORT_KEY_CC,
	SORT_KEY_DATE,
	SORT_KEY_FROM,
	SORT_KEY_SIZE,
	SORT_KEY_SUBJECT,
	SORT_KEY_TO,
	SORT_KEY_DISPLAYFROM,
	SORT_KEY_DISPLAYTO,
};

struct sort_criterion {
	enum sort_key key;
	bool reverse;
};

struct sort_criteria {
	struct sort_criterion keys[SORT_MAX_CRITERIA];
	unsigned int count;
	/* Some key needs the message header (anything but ARRIVAL/SIZE). */
	bool need_header;
};

struct imap_arg;

/* Parses the contents of the parenthesised sort-criteria list
   ("REVERSE" before a key reverses it; words in any case). Returns 0
   with *crit_r, or -1 with *error_r (static text for a BAD reply):
   an empty list, an unknown key, REVERSE twice or at the end, or more
   than SORT_MAX_CRITERIA keys. */
int sort_criteria_parse(const struct imap_arg *list, unsigned int count,
			struct sort_criteria *crit_r, const char **error_r);

/* The same over words already split out, for tests and the fuzzer. */
int sort_criteria_parse_words(const char *const *words, unsigned int count,
			      struct sort_criteria *crit_r,
			      const char **error_r);

/* The keys of one message (and what THREAD needs). Strings are
   malloc'ed, NUL-terminated, never NULL after sort_message_init(). */
struct sort_message {
	uint32_t seq;
	uint32_t num; /* what the reply names: sequence number or UID */
	uint64_t size;
	time_t arrival;
	time_t date; /* the Date: instant, or arrival */

	char *subject;	    /* folded base subject */
	bool subject_reply; /* extraction removed Re:/Fwd:/(fwd)/[fwd: ] */
	char *from, *to, *cc;
	char *display_from, *display_to;

	/* THREAD=REFERENCES (RFC 5256 4): normalised msg-ids without the
	   angle brackets; "" when there is no valid one. references is the
	   References: list, or the first In-Reply-To: id if References has
	   none; at most THREAD_MAX_REFERENCES (the last ones are kept). */
	char *message_id;
	char **references;
	unsigned int reference_count;
};

/* Sets the record fields and empty strings; date = arrival. */
void sort_message_init(struct sort_message *msg, uint32_t seq, uint32_t num,
		       uint64_t size, time_t arrival);
/* Fills the header keys from the top-level header (bytes up to the empty
   line, or a prefix of it; anything after an empty line is ignored). The
   first occurrence of each field counts. */
void sort_message_parse_header(struct sort_message *msg,
			       const uint8_t *header, size_t len);
void sort_message_free(struct sort_message *msg);

/* Sorts msgs (pointers; the messages do not move) by crit, then by
   sequence number. Stable, O(n log n), no recursion. */
void sort_messages(struct sort_message **msgs, unsigned int count,
		   const struct sort_criteria *crit);

/* RFC 5256 2.1: appends the base subject of a Subject: field value (raw,
   possibly folded, possibly with encoded-words) to out, not case-folded;
   *reply_r tells if a reply/forward marker was removed. */
void sort_base_subject(const uint8_t *value, size_t len, struct buf *out,
		       bool *reply_r);

/* An RFC 5322 date-time (with the obsolete forms of 4.3 and named zones;
   an unknown zone counts as +0000) as an instant. Returns 0 with *time_r,
   or -1 if value is no valid date. */
int sort_date_parse(const char *value, time_t *time_r);

/* Appends to out the normalised msg-id (quotes, escapes, comments and
   whitespace removed, no angle brackets) of the first valid
   "<local@domain>" at or after *pos in value, moving *pos past it.
   Returns 1, or 0 if there is no further valid one. */
int sort_msgid_next(const uint8_t *value, size_t len, size_t *pos,
		    struct buf *out);

#endif
