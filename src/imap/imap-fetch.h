#ifndef QUIRE_IMAP_FETCH_H
#define QUIRE_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap-parser.h"

/* FETCH data items (RFC 9051 6.4.5, RFC 3501 6.4.5, BINARY RFC 3516),
   parsed apart from running them so the grammar can be tested alone.

   The parser does no I/O and allocates everything in one
   struct imap_fetch_items, freed with imap_fetch_items_free(). */

/* Deepest section part path accepted ("1.2.3..."): deeper than any MIME
   tree the mail parser builds (MAIL_MAX_DEPTH). */
#define IMAP_FETCH_MAX_PATH 128

enum imap_fetch_kind {
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_UID,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,	  /* BODY without a section: structure */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_SECTION,	  /* BODY[...] / BODY.PEEK[...] and RFC822* */
	IMAP_FETCH_BINARY,	  /* BINARY[...] / BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
	IMAP_FETCH_MODSEQ,	  /* RFC 7162 CONDSTORE */
	IMAP_FETCH_EMAILID,	  /* RFC 8474 OBJECTID */
	IMAP_FETCH_THREADID,
	IMAP_FETCH_SAVEDATE,	  /* RFC 8514 */
	IMAP_FETCH_PREVIEW,	  /* RFC 8970; see lazy */
};

enum imap_section_text {
	IMAP_SECTION_ALL,	/* "" or a bare part number: the body */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	/* The body is read without setting \Seen (.PEEK, RFC822.HEADER). */
	bool peek;
	/* PREVIEW (LAZY): answer NIL rather than parse a message whose
	   preview is not cached yet (RFC 8970 4.1). */
	bool lazy;
	/* Section: part path (depth 0 = the whole message) and text. */
	uint32_t path[IMAP_FETCH_MAX_PATH];
	unsigned int depth;
	enum imap_section_text text;
	/* HEADER.FIELDS (.NOT): field names, NUL-terminated. */
	char **fields;
	unsigned int field_count;
	/* <offset.length> */
	bool partial;
	uint64_t offset, length;
	/* The item's name in the response, e.g. "BODY[1.MIME]<0>",
	   "RFC822.HEADER", "BINARY.SIZE[2]". */
	char *reply_name;
};

struct imap_fetch_items {
	struct imap_fetch_item *items;
	unsigned int count;
	/* Some item sets \Seen (a body without .PEEK). */
	bool sets_seen;
	/* Some item needs the parse cache (structure, sections). */
	bool needs_cache;
	/* Some item needs the message file. */
	bool needs_body;
};

/* Parses the FETCH item argument: one atom (a macro ALL/FAST/FULL or a
   single item) or a parenthesised list of items. In a list, PREVIEW may
   be followed by its modifier list "(LAZY)" (RFC 8970 6). Returns 0 with
   *items_r, or -1 with *error_r (static text for BAD). */
int imap_fetch_items_parse(const struct imap_arg *arg,
			   struct imap_fetch_items **items_r,
			   const char **error_r);
/* The same for the FETCH command's arguments after the set: args[0] is
   the item argument; when it is the lone atom PREVIEW and args[1] is a
   list starting with the atom LAZY, that list is PREVIEW's modifiers
   ("FETCH 1 PREVIEW (LAZY)"), not the command's (CHANGEDSINCE ...).
   *used_r: how many of the count arguments were taken (1 or 2). */
int imap_fetch_items_parse_args(const struct imap_arg *args,
				unsigned int count, unsigned int *used_r,
				struct imap_fetch_items **items_r,
				const char **error_r);
/* Parses one item given as text (for tests and for the list elements). */
int imap_fetch_item_parse(const char *text, struct imap_fetch_item *item_r,
			  const char **error_r);
void imap_fetch_item_clear(struct imap_fetch_item *item);
void imap_fetch_items_free(struct imap_fetch_items **items);

/* True if the header field line starting at name (len bytes up to the
   colon) is one of the item's fields (ASCII case-insensitive). */
bool imap_fetch_field_wanted(const struct imap_fetch_item *item,
			     const char *name, size_t len);

#endif
