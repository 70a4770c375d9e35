#ifndef QUIRE_DOTSTUFF_H
#define QUIRE_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The two halves of the SMTP/POP3 "dot" framing of a message body
   (RFC 5321 4.5.2, RFC 1939 3). Both are byte-at-a-time state machines:
   any split of the input gives the same output. Neither does I/O. */

/* --- Reading DATA (LMTP): undo dot-stuffing, find the final ".". ---

   Input is the client's stream after "354". Output is the message in
   canonical CRLF form: a leading "." of a line is removed, a bare LF or
   a bare CR becomes CRLF, and the terminating CRLF "." CRLF is not part
   of the output (the CRLF before it is: it ends the last line). A
   message that does not end in CRLF cannot be produced by SMTP, so the
   output always ends in CRLF (or is empty). */
struct dot_reader {
	uint8_t state;
	bool done;
	uint64_t line_len; /* bytes of the current line so far */
	uint64_t max_line; /* longest line seen, for the log */
};

void dot_reader_init(struct dot_reader *r);

/* Consumes input up to and including the terminating ".CRLF" (never past
   it: what follows is the next command, left for the caller). Writes at
   most 2 * in_len + 2 bytes to out. Returns the number of input bytes
   consumed; *out_len_r gets the bytes written; r->done is set once the
   terminator was consumed. */
size_t dot_reader_feed(struct dot_reader *r, const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t *out_len_r);

/* --- Writing RETR/TOP (POP3): add dot-stuffing, optionally cut. ---

   Input is the stored message (CRLF). Output doubles a "." at the start
   of each line. With max_body_lines >= 0 (TOP), output stops after the
   header, the blank line and that many body lines. dot_writer_finish()
   gives the tail: a CRLF if the message did not end in one, then ".CRLF". */
struct dot_writer {
	uint8_t state;
	bool in_body;
	bool stopped;	       /* TOP: the line limit was reached */
	int64_t body_lines_left; /* -1: no limit */
};

void dot_writer_init(struct dot_writer *w, int64_t max_body_lines);

/* Writes at most 2 * in_len bytes to out and returns how many. Once
   w->stopped is set the rest of the input is ignored. */
size_t dot_writer_feed(struct dot_writer *w, const uint8_t *in, size_t in_len,
		       uint8_t *out);

/* Writes the terminator (at most 5 bytes) and returns its length. */
size_t dot_writer_finish(struct dot_writer *w, uint8_t *out);

#endif
