#ifndef QUIRE_BENCH_LARGE_H
#define QUIRE_BENCH_LARGE_H

/* The imap-large mailbox: message k (0, 1, ...) is a small fixed text
   with k in its Subject, Message-ID and body. quire-bench APPENDs it to
   one server and writes it into a Maildir for the other
   (`quire-bench large-maildir`), so both hold the same mail and the text
   lives in one place only. */

#include <stddef.h>
#include <time.h>

/* One message in this many holds the searched word (k % N == 0). */
#define BENCH_LARGE_NEEDLE_EVERY 100
/* The word UID SEARCH TEXT looks for. */
#define BENCH_LARGE_NEEDLE "pomegranate"
/* Every message's Date: and internal date: 26-Nov-2026 10:00:00 +0000.
   APPEND passes BENCH_LARGE_IMAP_DATE, the Maildir files get it as
   their mtime. */
#define BENCH_LARGE_TIME ((time_t)1795687200)
#define BENCH_LARGE_IMAP_DATE "\"26-Nov-2026 10:00:00 +0000\""
/* Room enough for any message (k has at most 10 digits). */
#define BENCH_LARGE_MSG_MAX 512

/* Writes message k with CRLF line ends into buf (size >= 
   BENCH_LARGE_MSG_MAX) and returns its length. No NUL is counted. */
size_t bench_large_msg(unsigned int k, char *buf, size_t size);

/* Writes messages first .. count-1 into the Maildir dir (creating dir,
   cur/, new/ and tmp/ as needed), one file each in cur/ with no flags
   (":2,"), LF line ends, S= and W= sizes in the name, mtime
   BENCH_LARGE_TIME; names sort in k order. Files are not fsynced one by
   one: the caller syncs once when done. Returns 0, or -1 with *error_r
   (static storage, valid until the next call). */
int bench_large_maildir(const char *dir, unsigned int first,
			unsigned int count, const char **error_r);

#endif
