#ifndef QUIRE_IMAP_PARSER_H
#define QUIRE_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An incremental parser for IMAP client commands (RFC 9051 9, RFC 3501 9,
   LITERAL+/LITERAL- RFC 7888, literal8 RFC 3516/4466).

   The parser does no I/O. The session feeds it whatever bytes it has;
   the parser consumes some or all of them (*used_r) and says what
   happened. It may stop at any byte and resume on the next feed, so a
   command may arrive split anywhere. All parsed data lives in the
   parser's own arena, which is reset when the next command starts: the
   command returned by a feed is valid until the next call that feeds or
   resets the parser.

   A command is: tag SP name [SP arguments] CRLF, where the arguments are
   atoms, quoted strings, literals ({n}, {n+}, ~{n}) and parenthesised
   lists of those. Atoms are read liberally so that FETCH items parse as
   one atom: inside [ ] an atom may also hold spaces and parentheses
   ("BODY[HEADER.FIELDS (FROM TO)]<0.100>"). Atoms are 7-bit; quoted
   strings and literals may hold 8-bit bytes (UTF-8 in IMAP4rev2, a
   SEARCH CHARSET in IMAP4rev1), which the parser passes on unchecked:
   commands that need UTF-8 check it with utf8_is_valid() (lib/mutf7.h).
   NUL is refused except in literal8. A bare LF ends a line like CRLF;
   empty lines between commands are ignored.

   Limits (src/lib/limits.h) are stricter until imap_parser_set_authenticated
   is called with true:
     - IMAP_MAX_LINE: bytes of one line between literals;
     - IMAP_MAX_COMMAND_SIZE: bytes of all lines and in-memory literals;
     - IMAP_MAX_LITERAL_MEM: size of one literal kept in memory;
     - IMAP_MAX_LIST_DEPTH: nesting of parenthesised lists;
     - IMAP_MAX_ARGS: arguments in a command, all lists included;
     - IMAP_MAX_SKIP_LITERAL: a refused non-synchronising literal larger
       than this is not skipped: the error is fatal.

   Literals. A synchronising literal {n} is checked against the limits when
   its "}" is read, before anything is promised: if it is acceptable the
   feed returns IMAP_PARSE_LITERAL once its CRLF has been read, and the
   caller must send "+ Ready for literal data" before the client sends the
   bytes (then the caller simply feeds on). If it is not acceptable the feed
   returns IMAP_PARSE_ERROR and the client, which waits for "+", never
   sends it. A non-synchronising literal {n+} needs no "+"; with LITERAL-
   (settings.literal_minus) one over IMAP_LITERAL_MINUS_MAX is an error.

   Streaming. Once authenticated, every literal of an APPEND command except
   its first argument (the mailbox name) is message data (including
   MULTIAPPEND and CATENATE TEXT parts): it is never held in memory. The
   feed returns IMAP_PARSE_LITERAL_STREAM with the command parsed so far,
   whose last argument is the streamed literal's placeholder
   (cmd->stream_size is the literal's size; for a synchronising one
   cmd->stream_sync is set and the feed does not return IMAP_PARSE_LITERAL
   first, so the caller may still refuse it); the caller then reads exactly
   that many bytes itself, without feeding them, and calls
   imap_parser_stream_done() before feeding the rest of the command. A
   streamed literal over settings.max_message_size is refused with an
   error whose kind is IMAP_PARSER_ERR_TOOBIG. In the final command a
   streamed literal is an IMAP_ARG_LITERAL with streamed set, no data, and
   stream_index counting the command's streamed literals from 0.

   Errors. IMAP_PARSE_ERROR comes with imap_parser_get_error(): a static
   reason fit for a BAD reply and the tag if one was read (else reply with
   "*"). The parser then resynchronises by itself on the following feeds:
   it skips to the end of the bad command line and skips the bytes of any
   non-synchronising literal the client announced, then parses the next
   command. An error marked fatal (an announced literal too large to
   skip) cannot be recovered: the caller sends BYE and closes. */

struct imap_parser;

enum imap_arg_type {
	IMAP_ARG_ATOM,
	/* A quoted string, unescaped. */
	IMAP_ARG_STRING,
	/* {n}, {n+} or ~{n} (literal8). */
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
	/* The atom NIL (any case). When an astring is expected it stands for
	   the text "NIL": data and len hold the atom as sent. */
	IMAP_ARG_NIL,
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM, NIL, STRING, LITERAL: the bytes, followed by a NUL that is
	   not counted in len (a literal may itself contain NULs only if
	   literal8). NULL for LIST and for a streamed literal. */
	const uint8_t *data;
	size_t len;
	/* LIST: its elements. */
	const struct imap_arg *list;
	unsigned int list_count;
	/* LITERAL: sent as ~{n} (BINARY APPEND, RFC 3516). */
	bool literal8;
	/* LITERAL: the bytes went to the caller as a stream (len is their
	   count) and stream_index says which of the command's streams. */
	bool streamed;
	unsigned int stream_index;
};

struct imap_command {
	/* NUL-terminated; NULL only in an error before the tag was read. */
	const char *tag;
	/* The command name as sent, NUL-terminated (compare ignoring case). */
	const char *name;
	const struct imap_arg *args;
	unsigned int args_count;
	/* After IMAP_PARSE_LITERAL_STREAM: the size of the literal the caller
	   must now take, and whether it was sent as ~{n}. */
	uint64_t stream_size;
	bool stream_literal8;
	/* The streamed literal is synchronising: send "+ Ready for literal
	   data" before reading it (or answer without, and call
	   imap_parser_stream_skip(): the client then sends nothing). */
	bool stream_sync;
};

enum imap_parse_result {
	/* *error_r / imap_parser_get_error() say why. */
	IMAP_PARSE_ERROR = -1,
	/* All input was used; feed more. */
	IMAP_PARSE_MORE = 0,
	/* *cmd_r is a complete command. */
	IMAP_PARSE_DONE = 1,
	/* A synchronising literal was accepted: send "+ ..." then feed on. */
	IMAP_PARSE_LITERAL = 2,
	/* Take cmd->stream_size bytes, then imap_parser_stream_done(). */
	IMAP_PARSE_LITERAL_STREAM = 3,
};

enum imap_parser_error_kind {
	/* Reply "<tag> BAD <text>". */
	IMAP_PARSER_ERR_BAD,
	/* A literal over a size limit: reply "<tag> NO [TOOBIG] <text>" for a
	   synchronising one (nothing was sent yet), "<tag> BAD [TOOBIG]
	   <text>" for a non-synchronising one (RFC 7888 5). */
	IMAP_PARSER_ERR_TOOBIG,
};

struct imap_parser_error {
	enum imap_parser_error_kind kind;
	/* Static text, no CRLF. */
	const char *text;
	/* NULL if no tag was read; valid until the next feed. */
	const char *tag;
	/* The stream cannot be resynchronised: send BYE and disconnect. */
	bool fatal;
	/* The error came from a non-synchronising literal. */
	bool nonsync;
};

struct imap_parser_settings {
	/* LITERAL- semantics (RFC 7888 5) instead of LITERAL+. */
	bool literal_minus;
	/* Largest streamed APPEND literal; 0 means
	   IMAP_DEFAULT_MAX_MESSAGE_SIZE. */
	uint64_t max_message_size;
};

/* Creates a parser in the unauthenticated state. settings may be NULL for
   the defaults; it is copied. */
struct imap_parser *imap_parser_create(const struct imap_parser_settings *set);
/* Frees the parser and everything it returned; sets *parser to NULL. */
void imap_parser_destroy(struct imap_parser **parser);

/* Switches to the limits for an authenticated (true) or anonymous (false)
   client. Takes effect from the next command. */
void imap_parser_set_authenticated(struct imap_parser *parser, bool authed);

/* Feeds bytes; *used_r tells how many were consumed (the rest must be fed
   again). Returns as documented in enum imap_parse_result. *cmd_r is set
   for DONE and LITERAL_STREAM (and to the partial command for ERROR and
   LITERAL, or NULL if nothing was parsed); it is valid until the next
   feed, imap_parser_stream_done() or imap_parser_reset(). *error_r is set
   for ERROR only. Feeding len 0 is allowed (useful after LITERAL_STREAM
   and stream_done, to finish a command already complete in memory). */
enum imap_parse_result
imap_parser_feed(struct imap_parser *parser, const uint8_t *in, size_t len,
		 size_t *used_r, const struct imap_command **cmd_r,
		 const char **error_r);

/* After IMAP_PARSE_LITERAL_STREAM, once the caller has taken exactly
   cmd->stream_size bytes: resumes parsing after the literal. */
void imap_parser_stream_done(struct imap_parser *parser);

/* After IMAP_PARSE_LITERAL_STREAM, if the caller cannot take the literal
   (e.g. the mailbox does not exist): the caller answers the command now
   and the parser drops it. For a non-synchronising literal the parser
   skips the literal's bytes and the rest of the command line itself, as
   after an error; a synchronising one was never sent. */
void imap_parser_stream_skip(struct imap_parser *parser);

/* The last error, valid until the next feed. */
const struct imap_parser_error *
imap_parser_get_error(const struct imap_parser *parser);

/* Line mode, for AUTHENTICATE continuation lines and IDLE's DONE: reads one
   raw line (without its CRLF or LF). Returns 1 with *line_r (NUL-terminated,
   valid until the next call into the parser) and *line_len_r, 0 if more
   input is needed (all of it was used), -1 if the line is over the line
   limit (*error_r set); the following calls skip the rest of that line,
   returning 0, and then read the next line normally. Must not be called
   in the middle of a command. */
int imap_parser_read_line(struct imap_parser *parser, const uint8_t *in,
			  size_t len, size_t *used_r, const char **line_r,
			  size_t *line_len_r, const char **error_r);

/* Drops any partial command and state (e.g. after STARTTLS, where pending
   input must be discarded). */
void imap_parser_reset(struct imap_parser *parser);

/* True if the parser is between commands (nothing partial buffered). */
bool imap_parser_is_idle(const struct imap_parser *parser);

/* Argument helpers: return false if the arg has another type. */
/* ATOM or NIL: the atom text. */
bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r);
/* astring: ATOM, NIL (as "NIL"), STRING or in-memory LITERAL. */
bool imap_arg_get_astring(const struct imap_arg *arg, const uint8_t **data_r,
			  size_t *len_r);
/* string: STRING or in-memory LITERAL. */
bool imap_arg_get_string(const struct imap_arg *arg, const uint8_t **data_r,
			 size_t *len_r);
/* nstring: like string, or NIL giving *data_r NULL. */
bool imap_arg_get_nstring(const struct imap_arg *arg, const uint8_t **data_r,
			  size_t *len_r);
/* LIST: its elements. */
bool imap_arg_get_list(const struct imap_arg *arg,
		       const struct imap_arg **list_r, unsigned int *count_r);
/* True if arg is an ATOM equal to word ignoring ASCII case. */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *word);

#endif
