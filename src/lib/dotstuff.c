#include "lib/dotstuff.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* The index of the first CR or LF in in[i, len), or len. Sixteen bytes
   at a time (GCC's vector extensions: SSE2 on x86-64, NEON on arm64,
   plain code elsewhere); most message lines are longer than that. */
static size_t
find_line_byte(const uint8_t *in, size_t i, size_t len)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	typedef uint8_t v16 __attribute__((vector_size(16)));
	const v16 cr = { '\r', '\r', '\r', '\r', '\r', '\r', '\r', '\r',
			 '\r', '\r', '\r', '\r', '\r', '\r', '\r', '\r' };
	const v16 lf = { '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n',
			 '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n' };

	for (; i + 16 <= len; i += 16) {
		v16 v, hit;
		uint64_t lo, hi;

		memcpy(&v, in + i, sizeof(v));
		hit = (v16)((v == cr) | (v == lf));
		memcpy(&lo, &hit, 8);
		memcpy(&hi, (const uint8_t *)&hit + 8, 8);
		if (lo != 0)
			return i + (size_t)__builtin_ctzll(lo) / 8;
		if (hi != 0)
			return i + 8 + (size_t)__builtin_ctzll(hi) / 8;
	}
#endif
	for (; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n')
			return i;
	}
	return len;
}

#ifdef __SSE2__
/* Bits per byte of the 16 at p: in *cr those that are CR, *lf LF, *dot
   '.', at bit `shift` on. */
static inline void
block16_masks(const uint8_t *p, unsigned shift, uint64_t *cr, uint64_t *lf,
	      uint64_t *dot)
{
	__m128i b = _mm_loadu_si128((const __m128i *)p);

	*cr |= (uint64_t)(uint16_t)_mm_movemask_epi8(
		       _mm_cmpeq_epi8(b, _mm_set1_epi8('\r'))) << shift;
	*lf |= (uint64_t)(uint16_t)_mm_movemask_epi8(
		       _mm_cmpeq_epi8(b, _mm_set1_epi8('\n'))) << shift;
	*dot |= (uint64_t)(uint16_t)_mm_movemask_epi8(
			_mm_cmpeq_epi8(b, _mm_set1_epi8('.'))) << shift;
}

/* True if the 64 bytes at p, read from inside a line, go out unchanged
   and leave the reader inside a line: every CR is followed by an LF and
   every LF follows a CR, no line starts with a dot, and the last byte is
   neither CR nor LF (so nothing is left pending for the next block).
   Then the line lengths are brought up to date. */
static bool
block_plain(struct dot_reader *r, const uint8_t *p)
{
	uint64_t cr = 0, lf = 0, dot = 0;
	unsigned first, last;

	block16_masks(p, 0, &cr, &lf, &dot);
	block16_masks(p + 16, 16, &cr, &lf, &dot);
	block16_masks(p + 32, 32, &cr, &lf, &dot);
	block16_masks(p + 48, 48, &cr, &lf, &dot);
	if ((cr << 1) != lf || (cr >> 63) != 0 || (lf >> 63) != 0 ||
	    ((lf << 1) & dot) != 0)
		return false;
	if (lf == 0) {
		r->line_len += 64;
		return true;
	}
	/* The line that ends first may have begun blocks ago; those after
	   it are shorter than a block, so they can only matter while no
	   line of 62 bytes or more was seen. */
	first = (unsigned)__builtin_ctzll(lf);
	last = 63 - (unsigned)__builtin_clzll(lf);
	r->line_len += first - 1; /* its bytes before the CR */
	reader_eol(r);
	if (r->max_line < 62) {
		unsigned start = first + 1;

		for (uint64_t rest = lf & (lf - 1); rest != 0;
		     rest &= rest - 1) {
			unsigned pos = (unsigned)__builtin_ctzll(rest);

			r->line_len = pos - 1 - start;
			reader_eol(r);
			start = pos + 1;
		}
	}
	r->line_len = 63 - last;
	return true;
}
#endif

/* From in[i], inside a line: the end of the longest run the reader would
   copy unchanged, lines ending in CRLF whose next line does not start
   with a dot. It stops before any other CR or LF (and before a CRLF too
   near the end of the input to see the byte after it), where the state
   machine takes over. Keeps the line lengths up to date. */
static size_t
plain_run(struct dot_reader *r, const uint8_t *in, size_t i, size_t len)
{
	size_t start = i;

	for (;;) {
#ifdef __SSE2__
		/* whole blocks at once; a block with anything else is
		   left to the line-by-line steps below */
		while (start + 64 <= len && block_plain(r, in + start))
			start += 64;
		i = start;
#endif
		size_t j = find_line_byte(in, i, len);

		if (j == len || in[j] != '\r' || j + 2 >= len ||
		    in[j + 1] != '\n' || in[j + 2] == '.') {
			r->line_len += j - start;
			return j;
		}
		r->line_len += j - start;
		reader_eol(r);
		i = start = j + 2;
	}
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
				/* The rest of the line, and the ordinary lines
				   after it, are copied as they are in one go:
				   byte by byte here was most of a large
				   delivery's CPU. */
				size_t end = plain_run(r, in, i, in_len);

				memcpy(out + o, in + i, end - i);
				o += end - i;
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
