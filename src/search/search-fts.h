#ifndef QUIRE_SEARCH_FTS_H
#define QUIRE_SEARCH_FTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mail-parser.h"
#include "search/search-eval.h"
#include "search/search-program.h"
#include "store/store.h"

/* The full-text index of SEARCH: what goes into the store's index row of
   a message (store.h "full-text index"), and how SEARCH's text keys are
   answered from it with exactly the results of reading the message
   (search-eval.h says what each key looks at).

   The row holds the text the evaluator would look at, already folded
   with search_text_fold() (so a bytewise substring test is IMAP's
   i;unicode-casemap match), in four columns:
     root   every field of the top-level header, as
            "\x01" name "\x02" value per field: the name lower-cased
            (ASCII; fields whose name is not printable ASCII go to other
            instead and make the row incomplete), the value as the parser
            gives it (unfolded, RFC 2047 decoded) and folded
     addr   the same for From/To/Cc/Bcc, with the address form
            (search_text_address_form()) as the value
     other  every field of every MIME part below the top level, as
            "\x01" name "\x01" value, both folded
     body   the decoded text of each text part, folded, each part
            starting with "\x01"
   Bytes 0x00-0x02 inside names and values become 0x03. A search string
   holding any byte 0x00-0x03 is never answered from the index, so every
   separator is a barrier no match can cross: a match in a column is a
   match inside one field or one part, as the evaluator's is.

   A row stops growing at FTS_MAX_TEXT bytes (lib/limits.h) and is then
   marked incomplete: a string found in it is in the message, a string
   not found must still be looked for by reading the message. */

/* ---- building a row --------------------------------------------------- */

struct search_fts_builder;

struct search_fts_builder *search_fts_builder_create(void);
void search_fts_builder_destroy(struct search_fts_builder **builder);
/* Empties the builder for the next message. */
void search_fts_builder_reset(struct search_fts_builder *builder);

/* Text callbacks for mail_parser_create(), with the builder as context:
   the message's parse feeds its row. */
extern const struct mail_parser_text_callbacks search_fts_parser_callbacks;

/* The row built so far (call after mail_parser_finish()). Its text
   belongs to the builder: valid until the next reset or destroy. */
void search_fts_builder_doc(struct search_fts_builder *builder,
			    struct store_fts_doc *doc_r);

/* The same parse also keeps the message's THREADID keys (store.h
   "threads"): the first msg-id of the top-level Message-ID field
   (*message_id_r, NULL if none), and the ids it refers to, nearest
   parent first: In-Reply-To's first id, then the References ids from the
   last; at most THREADID_MAX_REFERENCES (lib/limits.h), normalised as
   sort_msgid_next() does. Ready for store_save_set_thread(); valid until
   the next reset or destroy. */
void search_fts_builder_thread(struct search_fts_builder *builder,
			       const char **message_id_r,
			       const char *const **references_r,
			       unsigned int *count_r);

/* Rebuilds the index rows of every message of the user (`quire
   reindex`): reads each blob, parses it, writes the rows in batches of
   FTS_REINDEX_BATCH. Safe while others use the store: each batch is one
   short transaction, and a blob expunged meanwhile is skipped.
   Returns 0 with *count_r rows written, or -1. */
int search_fts_reindex(struct store_user *user, unsigned int *count_r,
		       const char **error_r);

/* The daemon's background indexer, for one user: removes the rows of up
   to max blobs that went, then writes the rows of up to max blobs that
   have none (store.h "background indexing"; messages stored before the
   index existed included). *more_r: there may be more of either.
   Returns 0 with *count_r rows written, or -1. */
int search_fts_index_pending(struct store_user *user, unsigned int max,
			     unsigned int *count_r, bool *more_r,
			     const char **error_r);

/* Header-only callbacks that keep just the THREADID keys (for
   search_fts_builder_thread()), at delivery and APPEND: the index row
   itself is written later by the indexer. */
extern const struct mail_parser_text_callbacks search_fts_thread_callbacks;

/* ---- answering a search ------------------------------------------------ */

struct search_fts_lookup;

/* Asks the index about every HEADER/BODY/TEXT key of program (prepared
   by eval) for the messages whose blobs are blob_ids (sorted ascending,
   duplicates allowed; the caller's view of mailbox_id). Returns 1 with
   *lookup_r, 0 if the program has no key the index can answer, -1 on a
   store error. */
int search_fts_lookup(struct store_user *user, uint64_t mailbox_id,
		      const struct search_program *program,
		      const struct search_eval *eval,
		      const uint64_t *blob_ids, unsigned int blob_count,
		      struct search_fts_lookup **lookup_r,
		      const char **error_r);
/* The same for the messages of a session's view of mailbox_id that
   their record alone does not decide (judged with eval, whose current
   message this changes). Returns 0 without asking the index when fewer
   than FTS_MIN_CANDIDATES are left: reading them is as cheap. */
int search_fts_lookup_view(struct store_user *user, uint64_t mailbox_id,
			   struct store_view *view,
			   const struct search_program *program,
			   struct search_eval *eval,
			   struct search_fts_lookup **lookup_r,
			   const char **error_r);
/* Fills verdicts[program->count] for one blob, for
   search_eval_record_known(). */
void search_fts_lookup_verdicts(const struct search_fts_lookup *lookup,
				uint64_t blob_id, int8_t *verdicts);
/* Keys the lookup answered from the index (for tests). */
unsigned int search_fts_lookup_keys(const struct search_fts_lookup *lookup);
void search_fts_lookup_free(struct search_fts_lookup **lookup);

#endif
