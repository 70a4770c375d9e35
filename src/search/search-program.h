#ifndef QUIRE_SEARCH_PROGRAM_H
#define QUIRE_SEARCH_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* A SEARCH program (RFC 9051 6.4.4, RFC 3501 6.4.4, ESEARCH RFC 4731,
   SEARCHRES RFC 5182, CONDSTORE MODSEQ RFC 7162 3.1.5, WITHIN RFC 5032),
   built from the arguments the IMAP command parser gave for SEARCH:

     [RETURN (opts)] [CHARSET name] key *(key)

   The program is a flat list of nodes in postfix order (operands before
   their operator), so neither building it nor evaluating it recurses:
   nesting depth is whatever the client sent (bounded only by the command
   parser's list depth and argument count), and every walk over the
   program uses an explicit stack.

   Keys and what they become:
     ALL                    ALL
     ANSWERED DELETED DRAFT FLAGGED SEEN      FLAG
     UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN   FLAG NOT
     RECENT                 RECENT (the session's \Recent set, see eval)
     NEW                    RECENT FLAG(\Seen) NOT AND(2)
     OLD                    RECENT NOT
     KEYWORD k / UNKEYWORD k    KEYWORD [NOT]
     LARGER n / SMALLER n   LARGER / SMALLER (n: number64)
     BEFORE ON SINCE d      internal date, compared by UTC day
     SENTBEFORE SENTON SENTSINCE d   Date: header, by its own day
     OLDER n / YOUNGER n    internal date against "now" (n seconds)
     MODSEQ [name type] n   message modseq >= n (the entry is checked and
                            ignored: modseqs are kept per message)
     SAVEDBEFORE SAVEDON SAVEDSINCE d   save date (RFC 8514), by UTC day
     SAVEDATESUPPORTED      ALL: every mailbox keeps save dates
     EMAILID id             EMAILID (RFC 8474; id checked as an objectid)
     THREADID id            THREADID (RFC 8474; id checked as an objectid)
     UID set / set          UIDSET / SEQSET (either may be "$")
     FROM TO CC BCC SUBJECT s   HEADER with that field name
     HEADER name s          HEADER
     BODY s / TEXT s        BODY / TEXT
     NOT k, OR a b, (k k ...)   NOT, OR, AND(n)
   The whole key list is one AND. Search strings are kept as sent (UTF-8);
   case folding is the evaluator's business. */

enum search_op {
	SEARCH_OP_ALL,
	SEARCH_OP_FLAG,	   /* node->flag (one enum store_flag bit) set */
	SEARCH_OP_RECENT,
	SEARCH_OP_KEYWORD, /* node->str */
	SEARCH_OP_SEQSET,  /* node->set: sequence numbers, or saved */
	SEARCH_OP_UIDSET,  /* node->set: UIDs, or saved */
	SEARCH_OP_LARGER,  /* node->num */
	SEARCH_OP_SMALLER,
	SEARCH_OP_BEFORE, /* node->day: days since 1970-01-01 */
	SEARCH_OP_ON,
	SEARCH_OP_SINCE,
	SEARCH_OP_SENTBEFORE,
	SEARCH_OP_SENTON,
	SEARCH_OP_SENTSINCE,
	SEARCH_OP_OLDER, /* node->num seconds */
	SEARCH_OP_YOUNGER,
	SEARCH_OP_MODSEQ, /* node->num */
	SEARCH_OP_SAVEDBEFORE, /* node->day */
	SEARCH_OP_SAVEDON,
	SEARCH_OP_SAVEDSINCE,
	SEARCH_OP_EMAILID,  /* node->str */
	SEARCH_OP_THREADID, /* node->str */
	SEARCH_OP_HEADER, /* node->header (field name), node->str */
	SEARCH_OP_BODY,	  /* node->str */
	SEARCH_OP_TEXT,	  /* node->str */
	/* Operators: consume results from the evaluation stack. */
	SEARCH_OP_NOT,
	SEARCH_OP_OR,
	SEARCH_OP_AND, /* node->count operands (>= 2) */
};

struct imap_arg;
struct imap_seqset;

struct search_node {
	enum search_op op;
	uint8_t flag;
	unsigned int count;
	uint64_t num;
	int64_t day;
	/* NUL-terminated copies (str may hold no NUL: the parser refuses
	   NUL outside literal8, and so do we). */
	char *header;
	char *str;
	size_t str_len;
	struct imap_seqset *set;
};

/* ESEARCH return options (RFC 4731 3.1, RFC 5182). */
enum search_return {
	SEARCH_RETURN_MIN = 0x01,
	SEARCH_RETURN_MAX = 0x02,
	SEARCH_RETURN_ALL = 0x04,
	SEARCH_RETURN_COUNT = 0x08,
	SEARCH_RETURN_SAVE = 0x10,
};

struct search_program {
	/* Postfix order; nodes[count - 1] is the root. */
	struct search_node *nodes;
	unsigned int count;
	/* The deepest the evaluation stack gets. */
	unsigned int max_stack;

	/* RETURN was given (the reply is ESEARCH); return_opts is what it
	   asked for ("RETURN ()" means ALL). Without RETURN, 0. */
	bool has_return;
	unsigned int return_opts;

	/* Summary of the keys, for the caller and the evaluator. */
	bool uses_saved;  /* "$" appears */
	bool uses_modseq; /* MODSEQ appears: the reply carries MODSEQ */
	bool need_header; /* HEADER/SENT* keys: the message must be read */
	bool need_body;	  /* BODY/TEXT keys: the body must be read too */
	/* THREADID appears: the caller fills search_message's thread_id
	   (a store lookup per message, so only when asked). */
	bool uses_threadid;
};

enum search_error_kind {
	/* "<tag> BAD <text>" */
	SEARCH_ERROR_BAD,
	/* "<tag> NO <text>": text starts with the [BADCHARSET ...] code. */
	SEARCH_ERROR_BADCHARSET,
};

/* Builds a program from the SEARCH arguments (those after the verb).
   Returns 0 with *program_r (free with search_program_free), or -1 with
   *kind_r and *error_r (static text for the tagged reply). Accepted
   charsets are UTF-8 and US-ASCII (any case); search strings must be
   valid UTF-8 whatever the charset says. */
int search_program_parse(const struct imap_arg *args, unsigned int count,
			 struct search_program **program_r,
			 enum search_error_kind *kind_r, const char **error_r);

/* Frees the program and its sets; sets *program to NULL. Safe on NULL. */
void search_program_free(struct search_program **program);

/* Appends a canonical text form of the program to out, for tests and
   debug logs, e.g. "(AND (FLAG \Seen) (NOT (HEADER From \"x\")))". */
void search_program_dump(const struct search_program *program,
			 struct buf *out);

#endif
