#ifndef QUIRE_LMTP_PARSE_H
#define QUIRE_LMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parsing of LMTP command lines (RFC 2033, with RFC 5321 4.1 for the
   command syntax). Pure functions: a line in (without its CRLF, not
   NUL-terminated), a result or a ready reply out. No I/O, no state.

   Error replies are static strings holding the whole reply line without
   CRLF ("501 5.5.4 Syntax: MAIL FROM:<address>"), fit to send as they
   are. */

enum lmtp_cmd {
	LMTP_CMD_UNKNOWN = 0,
	LMTP_CMD_LHLO,
	LMTP_CMD_HELO, /* not allowed in LMTP (RFC 2033 4.1) */
	LMTP_CMD_EHLO, /* ditto */
	LMTP_CMD_MAIL,
	LMTP_CMD_RCPT,
	LMTP_CMD_DATA,
	LMTP_CMD_RSET,
	LMTP_CMD_NOOP,
	LMTP_CMD_QUIT,
	LMTP_CMD_VRFY,
	LMTP_CMD_HELP,
	LMTP_CMD_BDAT, /* RFC 3030 CHUNKING */
};

/* Splits line into its verb (case-insensitive) and arguments: *args_r
   points after the single space that follows the verb (or at the end of
   the line if there is none), *args_len_r is what remains. A verb that
   is not followed by a space or the end is LMTP_CMD_UNKNOWN. */
enum lmtp_cmd lmtp_parse_verb(const uint8_t *line, size_t len,
			      const uint8_t **args_r, size_t *args_len_r);

/* A parsed forward-path or reverse-path (RFC 5321 4.1.2). A source route
   ("<@a,@b:user@c>") is dropped (RFC 5321 4.1.1.3 lets us ignore it). */
struct lmtp_address {
	/* The mailbox as the client wrote it, without "<" ">" and route,
	   NUL-terminated, printable ASCII only: "" for the null path "<>".
	   Safe to put into a header field or a reply. At most
	   LMTP_MAX_ADDRESS bytes (longer is an address error). malloc'ed. */
	char *addr;
	/* The local part with quoting removed ("\"a b\"@x" gives "a b").
	   NULL for the null path. malloc'ed. */
	char *local;
	/* The domain or address literal; NULL for the null path and for
	   RCPT TO:<postmaster>. malloc'ed. */
	char *domain;
};

/* Frees the fields and zeroes them. */
void lmtp_address_free(struct lmtp_address *addr);

enum lmtp_body {
	LMTP_BODY_NONE = 0, /* no BODY= given */
	LMTP_BODY_7BIT,
	LMTP_BODY_8BITMIME,
};

struct lmtp_mail_params {
	bool size_given;
	uint64_t size;	     /* SIZE=n (RFC 1870) */
	enum lmtp_body body; /* BODY= (RFC 6152) */
};

/* Parses the arguments of MAIL ("FROM:<addr> SIZE=123 BODY=8BITMIME").
   A space after "FROM:" is tolerated (common in the wild). The null path
   "<>" is allowed. SIZE over max_size (0 = no limit) is refused here
   (RFC 1870 6.1: 552 at MAIL). Returns 0 with *from_r (free with
   lmtp_address_free) and *params_r, or -1 with *reply_r:
     501 5.5.4  syntax of the command or of a parameter value
     501 5.1.7  the address does not parse
     552 5.3.4  SIZE too big
     555 5.5.4  unknown parameter */
int lmtp_parse_mail(const uint8_t *args, size_t len, uint64_t max_size,
		    struct lmtp_address *from_r,
		    struct lmtp_mail_params *params_r, const char **reply_r);

/* Parses the arguments of RCPT ("TO:<user@domain>"). The null path is
   refused; "<postmaster>" without a domain is allowed (RFC 5321 4.1.1.3).
   No parameters are supported (no DSN). Returns 0 with *to_r, or -1 with
   *reply_r: 501 5.5.4 (syntax), 501 5.1.3 (address), 555 5.5.4
   (parameter). */
int lmtp_parse_rcpt(const uint8_t *args, size_t len,
		    struct lmtp_address *to_r, const char **reply_r);

/* Parses the arguments of BDAT ("<chunk-size> [LAST]", RFC 3030 2).
   Returns 0 with *size_r and *last_r, or -1 with *reply_r
   (501 5.5.4). The size is only a count of bytes to read; it never
   drives an allocation. */
int lmtp_parse_bdat(const uint8_t *args, size_t len, uint64_t *size_r,
		    bool *last_r, const char **reply_r);

#endif
