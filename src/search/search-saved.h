#ifndef QUIRE_SEARCH_SAVED_H
#define QUIRE_SEARCH_SAVED_H

#include <stdint.h>

/* The saved search result of SEARCHRES (RFC 5182), "$", per IMAP session.

   The session struct has no slot for it yet, so the search module keeps
   it here, in a table per thread (a session lives on one worker thread)
   keyed by the session and the mailbox selection it belongs to. A result
   saved under one selection is not seen under another, which gives the
   RFC's "reset on SELECT/EXAMINE" without a hook into those commands. The
   table holds at most SEARCH_MAX_SAVED_SESSIONS entries; the least
   recently used goes first (a session that ended never says so).

   The result is kept as UIDs: "$" then means the same messages in a
   sequence set and a UID set (RFC 5182 2.1), and expunged messages drop
   out by themselves (their UIDs match nothing). */

struct imap_seqset;

/* Identifies one session's selection. owner is the session; the other
   fields tell selections apart (and sessions that happen to reuse a
   freed session's address). */
struct search_saved_key {
	const void *owner;
	const char *session_id; /* copied */
	uint64_t mailbox_id;
	uint32_t uidvalidity;
	const void *view;
};

/* Replaces the saved result with uids (ascending, count may be 0). */
void search_saved_set(const struct search_saved_key *key,
		      const uint32_t *uids, unsigned int count);

/* The saved result as a new resolved set of UIDs (imap_seqset_destroy()
   it), or NULL if nothing was saved for this selection (the empty set). */
struct imap_seqset *search_saved_get(const struct search_saved_key *key);

/* Forgets the entry of owner (any selection). */
void search_saved_clear(const void *owner);

/* Frees this thread's table now; a thread's table is also freed when the
   thread exits. */
void search_saved_deinit(void);

#endif
