#ifndef QUIRE_SEARCH_THREAD_H
#define QUIRE_SEARCH_THREAD_H

#include <stdbool.h>

#include "lib/buf.h"
#include "search/sort.h"

/* THREAD (RFC 5256 3, 4): ORDEREDSUBJECT and REFERENCES over messages
   whose keys sort_message_parse_header() filled (date, base subject and
   its reply flag, Message-ID, references).

   Every walk of the thread tree is iterative: a References chain (or a
   chain of replies) can be as deep as the mailbox is large. Linking
   checks for loops by walking up from the would-be parent, so the cost
   is O(messages x depth) at worst. */

enum thread_algorithm {
	THREAD_ORDEREDSUBJECT,
	THREAD_REFERENCES,
};

/* "ORDEREDSUBJECT" / "REFERENCES" in any case. Returns 0, or -1. */
int thread_algorithm_parse(const char *name, enum thread_algorithm *alg_r);

/* Threads msgs (in ascending sequence order) and appends the threads in
   IMAP form (RFC 5256 5: "(1 2 (3)(4 5))(6)") to out, numbering each
   message by its num. Empty input appends nothing. */
void thread_build(enum thread_algorithm alg, struct sort_message *const *msgs,
		  unsigned int count, struct buf *out);

#endif
