#ifndef QUIRE_IMAP_CMD_SORT_H
#define QUIRE_IMAP_CMD_SORT_H

#include <stdbool.h>

#include "search/sort.h"

/* SORT / UID SORT (RFC 5256 3, ESORT RFC 5267 3, SORT=DISPLAY RFC 5957)
   and THREAD / UID THREAD (RFC 5256 3). Both search like SEARCH (the
   program and evaluator of src/search), then read the header of each
   match (at most SORT_MAX_HEADER bytes, never the body) for its keys. */

struct imap_arg;
struct imap_cmd;
struct search_program;

bool cmd_sort(struct imap_cmd *cmd);
bool cmd_thread(struct imap_cmd *cmd);

/* Parses "charset search-key *(SP search-key)" (the charset is required
   here, unlike SEARCH). Returns 0 with *prog_r, or -1 after writing the
   tagged BAD / NO [BADCHARSET] reply. */
int imap_sort_parse_search(struct imap_cmd *cmd, const struct imap_arg *args,
			   unsigned int count, struct search_program **prog_r);

/* Runs prog over the selected view; for each match fills a sort_message
   (num: UID for a UID command, else the sequence number) in sequence
   order, reading its header only if need_header. Returns 0 with a
   malloc'ed array (free with imap_sort_messages_free), or -1 with
   *error_r (a store or read error). */
int imap_sort_collect(struct imap_cmd *cmd, struct search_program *prog,
		      bool need_header, struct sort_message ***msgs_r,
		      unsigned int *count_r, const char **error_r);
void imap_sort_messages_free(struct sort_message ***msgs, unsigned int count);

#endif
