/* Content-Transfer-Encoding decoding and charset conversion. */
#include "mail/mail-decode.h"
#include "mail/mail-private.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whitespace held back while decoding quoted-printable, because trailing
   whitespace on an encoded line is padding to drop (RFC 2045 6.7 rule 3).
   A longer run is flushed: no real line pads that much. */
#define QP_MAX_HELD_WS 256

enum qp_state {
	QP_TEXT,
	QP_CR,
	QP_EQ,
	QP_EQ_HEX,
	QP_EQ_CR,
	QP_EQ_WS,
};

struct mail_decoder {
	enum mail_encoding encoding;
	/* base64 */
	uint8_t quad[4];
	unsigned int quad_len;
	/* quoted-printable */
	enum qp_state qp;
	uint8_t hex1;
	uint8_t ws[QP_MAX_HELD_WS];
	unsigned int ws_len;
};

static const signed char b64_value[256] = {
	['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,
	['F'] = 6,  ['G'] = 7,  ['H'] = 8,  ['I'] = 9,  ['J'] = 10,
	['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
	['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20,
	['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25,
	['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
	['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45,
	['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
	['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55,
	['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
	['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* 0..63 for a base64 digit, -1 otherwise (table is offset by one so
   that the zero-initialised entries mean "not base64"). */
int
mail_b64_digit(uint8_t c)
{
	return b64_value[c] - 1;
}

int
mail_hex_digit(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum mail_encoding
mail_encoding_from_name(const char *name)
{
	if (name == NULL || strcasecmp(name, "7bit") == 0)
		return MAIL_ENCODING_7BIT;
	if (strcasecmp(name, "8bit") == 0)
		return MAIL_ENCODING_8BIT;
	if (strcasecmp(name, "binary") == 0)
		return MAIL_ENCODING_BINARY;
	if (strcasecmp(name, "base64") == 0)
		return MAIL_ENCODING_BASE64;
	if (strcasecmp(name, "quoted-printable") == 0)
		return MAIL_ENCODING_QP;
	return MAIL_ENCODING_UNKNOWN;
}

struct mail_decoder *
mail_decoder_create(enum mail_encoding encoding)
{
	if (encoding == MAIL_ENCODING_UNKNOWN)
		return NULL;
	struct mail_decoder *dec = mail_xcalloc(1, sizeof(*dec));
	dec->encoding = encoding;
	return dec;
}

void
mail_decoder_destroy(struct mail_decoder **decoder)
{
	free(*decoder);
	*decoder = NULL;
}

static void
b64_flush_quantum(struct mail_decoder *dec, struct buf *out)
{
	uint8_t o[3];
	unsigned int n = dec->quad_len;

	/* a lone digit carries fewer than 8 bits: nothing to output */
	if (n >= 2) {
		uint32_t v = 0;
		for (unsigned int i = 0; i < 4; i++)
			v = (v << 6) | (i < n ? dec->quad[i] : 0);
		o[0] = v >> 16;
		o[1] = (v >> 8) & 0xff;
		o[2] = v & 0xff;
		buf_append(out, o, n - 1);
	}
	dec->quad_len = 0;
}

static void
b64_feed(struct mail_decoder *dec, const uint8_t *data, size_t len,
	 struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		int v = mail_b64_digit(data[i]);
		if (v < 0) {
			/* '=' ends a quantum early; keep decoding after it,
			   since some mailers concatenate encoded blocks */
			if (data[i] == '=' && dec->quad_len > 0)
				b64_flush_quantum(dec, out);
			continue;
		}
		dec->quad[dec->quad_len++] = (uint8_t)v;
		if (dec->quad_len == 4)
			b64_flush_quantum(dec, out);
	}
}

static void
qp_flush_ws(struct mail_decoder *dec, struct buf *out)
{
	buf_append(out, dec->ws, dec->ws_len);
	dec->ws_len = 0;
}

static void
qp_feed(struct mail_decoder *dec, const uint8_t *data, size_t len,
	struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = data[i];
	again:
		switch (dec->qp) {
		case QP_TEXT:
			if (c == '=') {
				qp_flush_ws(dec, out);
				dec->qp = QP_EQ;
			} else if (c == ' ' || c == '\t') {
				if (dec->ws_len == QP_MAX_HELD_WS)
					qp_flush_ws(dec, out);
				dec->ws[dec->ws_len++] = c;
			} else if (c == '\r') {
				dec->qp = QP_CR;
			} else if (c == '\n') {
				/* trailing whitespace is padding */
				dec->ws_len = 0;
				buf_append_c(out, '\n');
			} else {
				qp_flush_ws(dec, out);
				buf_append_c(out, c);
			}
			break;
		case QP_CR:
			dec->qp = QP_TEXT;
			if (c == '\n') {
				dec->ws_len = 0;
				buf_append(out, "\r\n", 2);
			} else {
				qp_flush_ws(dec, out);
				buf_append_c(out, '\r');
				goto again;
			}
			break;
		case QP_EQ:
			if (mail_hex_digit(c) >= 0) {
				dec->hex1 = c;
				dec->qp = QP_EQ_HEX;
			} else if (c == '\r') {
				dec->qp = QP_EQ_CR;
			} else if (c == '\n') {
				dec->qp = QP_TEXT; /* soft line break */
			} else if (c == ' ' || c == '\t') {
				dec->qp = QP_EQ_WS;
			} else {
				buf_append_c(out, '=');
				dec->qp = QP_TEXT;
				goto again;
			}
			break;
		case QP_EQ_HEX:
			dec->qp = QP_TEXT;
			if (mail_hex_digit(c) >= 0) {
				buf_append_c(out, (uint8_t)(
					mail_hex_digit(dec->hex1) * 16 +
					mail_hex_digit(c)));
			} else {
				/* malformed: keep it as it was */
				buf_append_c(out, '=');
				buf_append_c(out, dec->hex1);
				goto again;
			}
			break;
		case QP_EQ_CR:
			if (c == '\n') {
				dec->qp = QP_TEXT;
			} else {
				buf_append(out, "=\r", 2);
				dec->qp = QP_TEXT;
				goto again;
			}
			break;
		case QP_EQ_WS:
			/* "=" followed by padding, then the line end: a soft
			   break with whitespace after it */
			if (c == ' ' || c == '\t')
				break;
			if (c == '\r') {
				dec->qp = QP_EQ_CR;
			} else if (c == '\n') {
				dec->qp = QP_TEXT;
			} else {
				buf_append_c(out, '=');
				dec->qp = QP_TEXT;
				goto again;
			}
			break;
		}
	}
}

int
mail_decoder_feed(struct mail_decoder *dec, const uint8_t *data, size_t len,
		  struct buf *out)
{
	if (len == 0)
		return out->overflow ? -1 : 0;
	switch (dec->encoding) {
	case MAIL_ENCODING_BASE64:
		b64_feed(dec, data, len, out);
		break;
	case MAIL_ENCODING_QP:
		qp_feed(dec, data, len, out);
		break;
	default:
		buf_append(out, data, len);
		break;
	}
	return out->overflow ? -1 : 0;
}

int
mail_decoder_finish(struct mail_decoder *dec, struct buf *out)
{
	if (dec->encoding == MAIL_ENCODING_BASE64) {
		b64_flush_quantum(dec, out);
	} else if (dec->encoding == MAIL_ENCODING_QP) {
		switch (dec->qp) {
		case QP_TEXT:
		case QP_EQ:
		case QP_EQ_WS:
			/* trailing padding / a final soft break */
			break;
		case QP_CR:
			buf_append_c(out, '\r');
			break;
		case QP_EQ_HEX:
			buf_append_c(out, '=');
			buf_append_c(out, dec->hex1);
			break;
		case QP_EQ_CR:
			break;
		}
		dec->ws_len = 0;
		dec->qp = QP_TEXT;
	}
	return out->overflow ? -1 : 0;
}

/* UTF-8 */

int
mail_utf8_seq(const uint8_t *p, size_t len)
{
	uint8_t c = p[0];
	unsigned int n;
	uint32_t min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4; min = 0x10000;
	} else {
		return 0;
	}
	uint32_t cp = c & (0x3f >> (n - 1));
	for (unsigned int i = 1; i < n; i++) {
		if (i >= len)
			return -1;
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
		/* reject overlong / surrogate / too large early so that a
		   prefix that can never be valid is not held back */
		if (i == 1 && n == 3 && c == 0xe0 && p[i] < 0xa0)
			return 0;
		if (i == 1 && n == 3 && c == 0xed && p[i] >= 0xa0)
			return 0;
		if (i == 1 && n == 4 && c == 0xf0 && p[i] < 0x90)
			return 0;
		if (i == 1 && n == 4 && c == 0xf4 && p[i] >= 0x90)
			return 0;
	}
	if (cp < min)
		return 0;
	return (int)n;
}

static const uint8_t utf8_replacement[3] = { 0xef, 0xbf, 0xbd };

void
mail_utf8_sanitize(const uint8_t *data, size_t len, struct buf *out)
{
	size_t i = 0, start = 0;

	if (len == 0)
		return;
	while (i < len) {
		int n = mail_utf8_seq(data + i, len - i);
		if (n > 0) {
			i += (size_t)n;
			continue;
		}
		buf_append(out, data + start, i - start);
		buf_append(out, utf8_replacement, 3);
		i++;
		start = i;
	}
	buf_append(out, data + start, i - start);
}

/* Charsets */

struct mail_charset_conv {
	iconv_t cd; /* (iconv_t)-1: validate UTF-8 only */
	uint8_t carry[16];
	size_t carry_len;
};

static bool
charset_is_utf8_like(const char *charset)
{
	static const char *const names[] = {
		"utf-8", "utf8", "us-ascii", "ascii", "unknown-8bit",
		"x-unknown", "x-user-defined", "unknown",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(charset, names[i]) == 0)
			return true;
	}
	return false;
}

static iconv_t
charset_open(const char *charset)
{
	if (charset == NULL || charset[0] == '\0' ||
	    charset_is_utf8_like(charset))
		return (iconv_t)-1;
	return iconv_open("UTF-8", charset);
}

struct mail_charset_conv *
mail_charset_conv_create(const char *charset)
{
	struct mail_charset_conv *conv = mail_xcalloc(1, sizeof(*conv));
	conv->cd = charset_open(charset);
	return conv;
}

void
mail_charset_conv_destroy(struct mail_charset_conv **_conv)
{
	struct mail_charset_conv *conv = *_conv;

	if (conv == NULL)
		return;
	if (conv->cd != (iconv_t)-1)
		iconv_close(conv->cd);
	free(conv);
	*_conv = NULL;
}

/* Converts as much of data as possible; returns the bytes used. An
   incomplete sequence at the end is left unused unless final. */
static size_t
conv_run(struct mail_charset_conv *conv, const uint8_t *data, size_t len,
	 bool final, struct buf *out)
{
	size_t used = 0;

	if (len == 0)
		return 0;
	if (conv->cd == (iconv_t)-1) {
		size_t start = 0;
		while (used < len) {
			int n = mail_utf8_seq(data + used, len - used);
			if (n > 0) {
				used += (size_t)n;
				continue;
			}
			if (n < 0 && !final)
				break;
			buf_append(out, data + start, used - start);
			buf_append(out, utf8_replacement, 3);
			used++;
			start = used;
		}
		buf_append(out, data + start, used - start);
		return used;
	}

	while (used < len) {
		char *in = (char *)(data + used);
		size_t inleft = len - used;
		size_t room = inleft * 4 + 16;
		uint8_t *o = buf_reserve(out, room);
		if (o == NULL)
			return len;
		char *op = (char *)o;
		size_t oleft = room;
		size_t r = iconv(conv->cd, &in, &inleft, &op, &oleft);
		buf_commit(out, room - oleft);
		used = len - inleft;
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		if (errno == EINVAL && !final)
			break;
		/* EILSEQ, or an incomplete sequence at the very end */
		buf_append(out, utf8_replacement, 3);
		used++;
	}
	return used;
}

void
mail_charset_conv_feed(struct mail_charset_conv *conv, const uint8_t *data,
		       size_t len, struct buf *out)
{
	while (conv->carry_len > 0 && len > 0) {
		/* top the carried partial sequence up byte by byte; it is
		   at most a few bytes long */
		conv->carry[conv->carry_len++] = *data++;
		len--;
		size_t used = conv_run(conv, conv->carry, conv->carry_len,
				       false, out);
		memmove(conv->carry, conv->carry + used,
			conv->carry_len - used);
		conv->carry_len -= used;
		if (conv->carry_len == sizeof(conv->carry)) {
			/* no charset has sequences this long */
			conv_run(conv, conv->carry, 1, true, out);
			memmove(conv->carry, conv->carry + 1,
				--conv->carry_len);
		}
	}
	if (len == 0)
		return;
	size_t used = conv_run(conv, data, len, false, out);
	size_t rest = len - used;
	while (rest > sizeof(conv->carry)) {
		/* cannot happen for real charsets; stay bounded */
		conv_run(conv, data + used, 1, true, out);
		used++;
		used += conv_run(conv, data + used, len - used, false, out);
		rest = len - used;
	}
	memcpy(conv->carry, data + used, rest);
	conv->carry_len = rest;
}

void
mail_charset_conv_finish(struct mail_charset_conv *conv, struct buf *out)
{
	if (conv->carry_len > 0)
		conv_run(conv, conv->carry, conv->carry_len, true, out);
	conv->carry_len = 0;
	if (conv->cd != (iconv_t)-1)
		iconv(conv->cd, NULL, NULL, NULL, NULL);
}

int
mail_charset_to_utf8(const char *charset, const uint8_t *data, size_t len,
		     struct buf *out)
{
	iconv_t cd = charset_open(charset);

	if (cd == (iconv_t)-1 && charset != NULL && charset[0] != '\0' &&
	    !charset_is_utf8_like(charset))
		return -1;
	struct mail_charset_conv conv = { .cd = cd };
	conv_run(&conv, data, len, true, out);
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	return 0;
}
