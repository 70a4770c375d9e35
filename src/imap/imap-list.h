#ifndef QUIRE_IMAP_LIST_H
#define QUIRE_IMAP_LIST_H

#include <stdbool.h>
#include <stddef.h>

/* LIST pattern matching (RFC 9051 6.3.9): "*" matches any run of
   characters, "%" any run without the hierarchy delimiter '/'. "INBOX"
   at the start of a name (as the whole name or before a '/') matches in
   any case. Runs in O(pattern x name) time without recursion, so a
   hostile pattern cannot blow the stack; runs of wildcards count as one.
   Patterns longer than IMAP_LIST_MAX_PATTERN never match: the work is
   pattern length x name length per mailbox, so the cap keeps a LIST of
   a large hierarchy cheap. */

#define IMAP_LIST_MAX_PATTERN 256

/* True if name (UTF-8, NUL-terminated, as stored) matches pattern. */
bool imap_list_match(const char *pattern, const char *name);

/* Joins a LIST reference and pattern (RFC 9051 6.3.9): the reference is
   a prefix; a pattern starting with the delimiter replaces it. Returns a
   malloc'ed string. */
char *imap_list_join(const char *reference, const char *pattern);

#endif
