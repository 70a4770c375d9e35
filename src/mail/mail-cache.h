#ifndef QUIRE_MAIL_CACHE_H
#define QUIRE_MAIL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/mail-parser.h"

/* The cached form of a parse result, kept by the store (one SQLite blob
   per message) so that FETCH never re-parses the message.

   Choice: the IMAP strings themselves are the cache (ENVELOPE, BODY and
   BODYSTRUCTURE exactly as sent), plus the RFC 8970 preview and a small
   table of part offsets for BODY[section], BINARY[section] and
   BINARY.SIZE. Nothing else of the tree is kept: FETCH needs nothing
   else, and the strings are cheaper to send than to rebuild.

   Record layout, version 1. Integers are unsigned LEB128 varints
   (7 bits per byte, low first, at most 10 bytes):
     "QMC1"
     len, ENVELOPE bytes       (of the root message)
     len, BODY bytes
     len, BODYSTRUCTURE bytes
     len, preview bytes        (UTF-8)
     message size
     part count (>= 1), then per part in depth-first pre-order:
       descendant count, child count, flags (enum mail_part_flags),
       encoding (enum mail_encoding), header_offset,
       body_offset - header_offset, body_end - body_offset, body_lines
   A reader rejects anything that does not add up (unknown magic,
   truncation, trailing bytes, a subtree or offset past its parent). */

struct mail_cache_part {
	uint32_t descendants; /* parts in this part's subtree, excluding it */
	uint32_t child_count;
	uint32_t flags;       /* enum mail_part_flags */
	enum mail_encoding encoding;
	uint64_t header_offset;
	uint64_t body_offset;
	uint64_t body_end;
	uint64_t body_lines;
};

struct mail_cache_record {
	const char *envelope;
	size_t envelope_len;
	const char *body;
	size_t body_len;
	const char *bodystructure;
	size_t bodystructure_len;
	const char *preview;
	size_t preview_len;
	uint64_t size;
	/* parts[0] is the whole message */
	const struct mail_cache_part *parts;
	unsigned int part_count;
};

/* Appends the record of result to out. Returns 0, or -1 if out
   overflowed its max. */
int mail_cache_record_write(const struct mail_parse_result *result,
			    struct buf *out);

/* Parses a record (copied: data may be freed afterwards). Returns 0 with
   *record_r set (free with mail_cache_record_free), or -1 with *error_r
   (static text). */
int mail_cache_record_read(const uint8_t *data, size_t len,
			   struct mail_cache_record **record_r,
			   const char **error_r);
void mail_cache_record_free(struct mail_cache_record **record);

/* IMAP section-part lookup (RFC 9051 6.4.5): path holds the numbers of
   "1.2.3" (depth 0 = the whole message). Inside a message/rfc822 part the
   numbers address the encapsulated message's parts; a non-multipart
   message has one part, 1, its body. Returns 1 with *index_r into
   parts[], or 0 if there is no such part. */
int mail_cache_find_part(const struct mail_cache_record *record,
			 const uint32_t *path, unsigned int depth,
			 unsigned int *index_r);

/* For a message/rfc822 part: the index of the encapsulated message (its
   section's HEADER and TEXT). For a message (e.g. index 0) the index
   itself. Returns 0 for other parts. */
int mail_cache_part_message(const struct mail_cache_record *record,
			    unsigned int index, unsigned int *index_r);

/* True if the len bytes at off may hold a NUL: some part flagged
   MAIL_PART_FLAG_HAS_NUL overlaps them (the flag sits on the part whose
   header or body held the NUL, so an overlap test is conservative). A
   NULL record gives true: nothing is known. */
bool mail_cache_range_has_nul(const struct mail_cache_record *record,
			      uint64_t off, uint64_t len);

/* Replaces every NUL in data with 0x80, for text that must go out in a
   plain IMAP literal (RFC 9051 4.3 forbids NUL there). Returns the number
   of bytes replaced. */
size_t mail_nul_mask(uint8_t *data, size_t len);

#endif
