#ifndef QUIRE_SEARCH_EVAL_H
#define QUIRE_SEARCH_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "search/search-program.h"

/* Evaluating a search program against messages, one at a time.

   Each message is first judged from its record alone (flags, keywords,
   size, dates, UID, sequence number, modseq). Only if that does not
   decide (a header, SENT* or body key could still change the outcome) is
   the message read: its bytes are streamed in chunks through the MIME
   parser, whose callbacks give RFC 2047-decoded header values and the
   decoded UTF-8 text of text parts (transfer encoding undone, charset
   converted). Reading stops as soon as the outcome is decided: after
   the top-level header when no body key is left undecided, or at the
   first chunk that settles every key that matters. A message is never
   held whole in memory.

   Keys on the text use three-valued logic while reading: a substring key
   is true once found and false only when its text is over (the top-level
   header for HEADER and SENT*, the whole message for BODY and TEXT), so
   NOT/OR/AND can be decided early.

   What each key looks at:
     HEADER, FROM, TO, CC, BCC, SUBJECT: fields of the top-level header
       with that name (any case); the decoded value contains the string.
       An empty string matches any message that has such a field.
     SENT*: the first Date: field of the top-level header, by the day it
       names in its own zone; no (valid) Date: field never matches.
     BODY: the decoded text of every text part, each part on its own
       (a match does not span two parts). Empty matches everything.
     TEXT: BODY, or any header field (name or value) of the message and
       of its parts.
     BEFORE/ON/SINCE: the internal date's UTC day (the store keeps no
       zone for it).
     OLDER/YOUNGER: internal date <= now - n / >= now - n.
     SAVEDBEFORE/SAVEDON/SAVEDSINCE: the save date's UTC day, like
       BEFORE/ON/SINCE.
     EMAILID: the id made from blob_id equals the string (case matters,
       RFC 8474 7). THREADID: the same with the id made from thread_id;
       never for a message without one (thread_id 0).
     RECENT: the UID is in the settings' recent_uids (the session's own
       \Recent messages, RFC 3501 2.3.2); NEW is RECENT UNSEEN, OLD is
       NOT RECENT. */

struct search_eval;

/* A message as the store's record gives it. */
struct search_message {
	uint32_t seq;
	uint32_t uid;
	uint8_t flags; /* enum store_flag bits */
	uint64_t keywords;
	uint64_t modseq;
	uint64_t size;
	time_t internal_date;
	time_t save_date; /* RFC 8514 */
	uint64_t blob_id; /* its EMAILID, see lib/objectid.h */
	/* Its THREADID's number (store_thread_get()), 0 = none. Only read
	   for THREADID keys (the program's uses_threadid). */
	uint64_t thread_id;
};

struct search_eval_settings {
	/* Keyword names by number (names[i] is keyword bit i; NULL entries
	   allowed). Only used during search_eval_create(). */
	const char *const *keywords;
	unsigned int keyword_count;
	/* "now" for OLDER/YOUNGER. */
	time_t now;
	/* What "*" means: the highest sequence number (EXISTS) and the
	   highest UID in the mailbox (0 when empty). */
	uint32_t max_seq;
	uint32_t max_uid;
	/* The saved result ("$", RFC 5182) as a set of UIDs, or NULL for
	   the empty set. Must stay valid as long as the evaluator. */
	const struct imap_seqset *saved_uids;
	/* UIDs that are \Recent for this session (IMAP4rev1), or NULL for
	   none (IMAP4rev2, EXAMINE). Must stay valid as long as the
	   evaluator. */
	const struct imap_seqset *recent_uids;
};

/* Reads the next piece of the message into buf (at most size bytes).
   Returns the count (0 at the end of the message), or -1 with *error_r
   (the search then fails). */
typedef ssize_t search_read_func_t(void *context, uint8_t *buf, size_t size,
				   const char **error_r);

/* Prepares program for evaluation: resolves "*" in its sets against
   set->max_seq / max_uid (this changes the program's sets), looks
   keywords up, folds the search strings. program must outlive the
   evaluator. Never fails. */
struct search_eval *search_eval_create(struct search_program *program,
				       const struct search_eval_settings *set);
void search_eval_destroy(struct search_eval **eval);

/* Judges msg from its record alone. Returns 1 (matches), 0 (does not), or
   -1 if the text must be read: call search_eval_read() next. */
int search_eval_record(struct search_eval *eval,
		       const struct search_message *msg);

/* The same, with what an index already knows of the text keys:
   verdicts[i] (one per program node; NULL = nothing known) is 1 if node
   i's string is known to be in the message's text, 0 if known not to be,
   -1 if unknown (read the message). Only HEADER, BODY and TEXT nodes
   look at it. search_eval_read() then reads only for what is left. */
int search_eval_record_known(struct search_eval *eval,
			     const struct search_message *msg,
			     const int8_t *verdicts);

/* The folded search string of a HEADER, BODY or TEXT node (what the
   text is compared with; len 0 for the empty string). Valid as long as
   the evaluator. */
const uint8_t *search_eval_needle(const struct search_eval *eval,
				  unsigned int node, size_t *len_r);

/* Reads the message of the last search_eval_record() that returned -1
   through read_func and decides. Returns 1 (matches), 0 (does not), or -1
   if read_func failed (*error_r). */
int search_eval_read(struct search_eval *eval, search_read_func_t *read_func,
		     void *context, const char **error_r);

/* Both steps: a convenience for callers whose reader is ready. */
int search_eval_message(struct search_eval *eval,
			const struct search_message *msg,
			search_read_func_t *read_func, void *context,
			const char **error_r);

/* Bytes the last search_eval_read() took from its reader (for tests and
   statistics: header-only keys must not read a long body). */
uint64_t search_eval_bytes_read(const struct search_eval *eval);

#endif
