#include "lib/dotstuff.h"

#include <string.h>

/* Reader states. BOL: at the start of a line. DOT: a "." at the start of
   a line was seen (maybe the terminator). DOT_CR: ".CR" at the start of a
   line. MID: inside a line. CR: a CR inside a line (or after a stuffed
   dot) was seen, waiting for LF. */
enum {
	R_BOL,
	R_DOT,
	R_DOT_CR,
	R_MID,
	R_CR,
};

void
dot_reader_init(struct dot_reader *r)
{
	r->state = R_BOL;
	r->done = false;
	r->line_len = 0;
	r->max_line = 0;
}

static void
reader_eol(struct dot_reader *r)
{
	if (r->line_len > r->max_line)
		r->max_line = r->line_len;
	r->line_len = 0;
}

size_t
dot_reader_feed(struct dot_reader *r, const uint8_t *in, size_t in_len,
		uint8_t *out, size_t *out_len_r)
{
	size_t i, o = 0;

	for (i = 0; i < in_len && !r->done; i++) {
		uint8_t c = in[i];

		switch (r->state) {
		case R_BOL:
			if (c == '.') {
				r->state = R_DOT;
				break;
			}
			/* an ordinary first byte */
			__attribute__((fallthrough));
		case R_MID:
			if (c == '\r') {
				r->state = R_CR;
			} else if (c == '\n') {
				/* bare LF: canonicalise to CRLF */
				out[o++] = '\r';
				out[o++] = '\n';
				reader_eol(r);
				r->state = R_BOL;
			} else {
				/* The rest of the line up to its CR or LF is
				   copied as it is, found with memchr: byte by
				   byte here was most of a large delivery's
				   CPU. */
				size_t end = in_len, n;
				const uint8_t *p = memchr(in + i, '\n',
							  in_len - i);

				if (p != NULL)
					end = (size_t)(p - in);
				p = memchr(in + i, '\r', end - i);
				if (p != NULL)
					end = (size_t)(p - in);
				n = end - i;
				memcpy(out + o, in + i, n);
				o += n;
				r->line_len += n;
				r->state = R_MID;
				i = end - 1;
			}
			break;
		case R_DOT:
			if (c == '\r') {
				r->state = R_DOT_CR;
			} else if (c == '\n') {
				/* ".LF": accept as the terminator too */
				r->done = true;
			} else {
				/* a stuffed dot: drop it, keep this byte */
				r->state = R_MID;
				i--;
			}
			break;
		case R_DOT_CR:
			if (c == '\n') {
				r->done = true;
			} else {
				/* ".CR" then not LF: the line was "." and a
				   bare CR. Keep the CR as a line end. */
				out[o++] = '\r';
				out[o++] = '\n';
				reader_eol(r);
				r->state = R_BOL;
				i--;
			}
			break;
		case R_CR:
			out[o++] = '\r';
			out[o++] = '\n';
			reader_eol(r);
			r->state = R_BOL;
			if (c != '\n')
				i--; /* bare CR: reprocess this byte */
			break;
		}
	}
	*out_len_r = o;
	return i;
}

/* Writer states: W_BOL at a line start, W_MID inside a line, W_CR_BLANK
   after a CR that began the line, W_CR_MID after a CR inside a line. A
   lone LF also ends a line so TOP counts what a client sees. */
enum {
	W_BOL,
	W_MID,
	W_CR_BLANK,
	W_CR_MID,
};

void
dot_writer_init(struct dot_writer *w, int64_t max_body_lines)
{
	w->state = W_BOL;
	w->in_body = false;
	w->stopped = false;
	w->body_lines_left = max_body_lines;
}

/* At the end of each line. The first blank line ends the header; TOP
   stops after it plus body_lines_left more lines. */
static void
writer_eol(struct dot_writer *w, bool blank_line)
{
	w->state = W_BOL;
	if (!w->in_body) {
		if (blank_line) {
			w->in_body = true;
			if (w->body_lines_left == 0)
				w->stopped = true;
		}
		return;
	}
	if (w->body_lines_left > 0 && --w->body_lines_left == 0)
		w->stopped = true;
}

/* RETR (no line limit): copy whole lines with memchr and only look at
   the first byte of each. The byte-at-a-time loop below was a sixth of
   the server's CPU when draining a mailbox. */
static size_t
dot_writer_feed_fast(struct dot_writer *w, const uint8_t *in, size_t in_len,
		     uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < in_len) {
		const uint8_t *nl;
		size_t end;

		if (w->state == W_BOL && in[i] == '.')
			out[o++] = '.';
		nl = memchr(in + i, '\n', in_len - i);
		end = nl != NULL ? (size_t)(nl - in) + 1 : in_len;
		memcpy(out + o, in + i, end - i);
		o += end - i;
		if (nl != NULL)
			w->state = W_BOL;
		else if (in[in_len - 1] == '\r')
			w->state = W_CR_MID;
		else
			w->state = W_MID;
		i = end;
	}
	return o;
}

size_t
dot_writer_feed(struct dot_writer *w, const uint8_t *in, size_t in_len,
		uint8_t *out)
{
	size_t o = 0;

	if (w->body_lines_left < 0)
		return dot_writer_feed_fast(w, in, in_len, out);

	for (size_t i = 0; i < in_len && !w->stopped; i++) {
		uint8_t c = in[i];

		if (w->state == W_BOL && c == '.')
			out[o++] = '.';
		out[o++] = c;
		switch (w->state) {
		case W_BOL:
			if (c == '\n')
				writer_eol(w, true);
			else
				w->state = c == '\r' ? W_CR_BLANK : W_MID;
			break;
		case W_MID:
			if (c == '\n')
				writer_eol(w, false);
			else if (c == '\r')
				w->state = W_CR_MID;
			break;
		case W_CR_BLANK:
		case W_CR_MID:
			if (c == '\n')
				writer_eol(w, w->state == W_CR_BLANK);
			else if (c != '\r')
				w->state = W_MID;
			break;
		}
	}
	return o;
}

size_t
dot_writer_finish(struct dot_writer *w, uint8_t *out)
{
	size_t o = 0;

	/* RFC 1939 3: the multi-line response ends with CRLF.CRLF, so a
	   message whose last line lacks its CRLF gets one. */
	if (w->state != W_BOL) {
		if (w->state == W_MID)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	w->state = W_BOL;
	return o;
}
