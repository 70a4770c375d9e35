#include "lib/mutf7.h"

#include <stdlib.h>
#include <string.h>

/* Modified BASE64 (RFC 3501 5.1.3): "," instead of "/". */
static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Decodes one UTF-8 character at p (n bytes available). Returns its length
   with *cp_r set, or 0 if it is not well-formed (RFC 3629 4). */
static size_t
utf8_decode(const uint8_t *p, size_t n, uint32_t *cp_r)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80) {
		*cp_r = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

bool
utf8_is_valid(const uint8_t *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t k;

		if (data[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_decode(data + i, len - i, &cp);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* A growable output string; out-of-memory aborts. */
struct outbuf {
	char *data;
	size_t len;
	size_t cap;
};

static void
out_put(struct outbuf *o, const void *data, size_t len)
{
	if (o->cap - o->len <= len) {
		size_t cap = o->cap == 0 ? 64 : o->cap;
		while (cap - o->len <= len) {
			if (cap > SIZE_MAX / 2)
				abort();
			cap *= 2;
		}
		char *n = realloc(o->data, cap);
		if (n == NULL)
			abort();
		o->data = n;
		o->cap = cap;
	}
	memcpy(o->data + o->len, data, len);
	o->len += len;
	o->data[o->len] = '\0';
}

static void
out_utf8(struct outbuf *o, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | (cp >> 6));
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | (cp >> 12));
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | (cp >> 18));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	out_put(o, b, n);
}

/* Decodes the BASE64 section data[0..len) (between "&" and "-") into o. */
static int
mutf7_decode_section(const uint8_t *data, size_t len, struct outbuf *o,
		     const char **error_r)
{
	uint32_t bits = 0;
	unsigned int nbits = 0;
	uint32_t high = 0; /* a pending high surrogate */

	for (size_t i = 0; i < len; i++) {
		int v = b64_value(data[i]);

		if (v < 0) {
			*error_r = "Invalid modified BASE64 character";
			return -1;
		}
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1U << nbits) - 1;

		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff) {
				*error_r = "Unpaired UTF-16 surrogate";
				return -1;
			}
			out_utf8(o, 0x10000 + ((high - 0xd800) << 10) +
				 (u - 0xdc00));
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			*error_r = "Unpaired UTF-16 surrogate";
			return -1;
		} else if (u >= 0x20 && u <= 0x7e) {
			*error_r = "Printable ASCII encoded in BASE64";
			return -1;
		} else if (u == 0) {
			*error_r = "NUL in mailbox name";
			return -1;
		} else {
			out_utf8(o, u);
		}
	}
	if (high != 0) {
		*error_r = "Unpaired UTF-16 surrogate";
		return -1;
	}
	/* What is left must be fewer than 6 zero bits: a whole sextet left
	   over, or set padding bits, is a different encoding of the same
	   text. */
	if (nbits >= 6 || bits != 0) {
		*error_r = "Invalid modified BASE64 padding";
		return -1;
	}
	if (len == 0) {
		*error_r = "Empty BASE64 section";
		return -1;
	}
	return 0;
}

int
mutf7_to_utf8(const uint8_t *in, size_t len, char **out_r, size_t *out_len_r,
	      const char **error_r)
{
	struct outbuf o = { NULL, 0, 0 };
	size_t i = 0;
	/* Where the previous BASE64 section ended, to refuse "-&". */
	size_t last_section_end = SIZE_MAX;

	out_put(&o, "", 0);
	while (i < len) {
		uint8_t c = in[i];

		if (c < 0x20 || c > 0x7e) {
			*error_r = "Invalid character in modified UTF-7";
			goto fail;
		}
		if (c != '&') {
			out_put(&o, &c, 1);
			i++;
			continue;
		}
		if (i + 1 < len && in[i + 1] == '-') {
			out_put(&o, "&", 1);
			i += 2;
			continue;
		}
		if (last_section_end == i) {
			*error_r = "Null shift in modified UTF-7";
			goto fail;
		}
		const uint8_t *end = memchr(in + i + 1, '-', len - i - 1);
		if (end == NULL) {
			*error_r = "Unterminated BASE64 section";
			goto fail;
		}
		size_t slen = (size_t)(end - (in + i + 1));
		if (mutf7_decode_section(in + i + 1, slen, &o, error_r) < 0)
			goto fail;
		i += slen + 2;
		last_section_end = i;
	}
	*out_r = o.data;
	*out_len_r = o.len;
	return 0;
fail:
	free(o.data);
	return -1;
}

static void
mutf7_put_u16(struct outbuf *o, uint32_t u, uint32_t *bits, unsigned int *nbits)
{
	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		char ch = b64_chars[(*bits >> *nbits) & 0x3f];
		out_put(o, &ch, 1);
	}
	*bits &= (1U << *nbits) - 1;
}

int
utf8_to_mutf7(const uint8_t *in, size_t len, char **out_r, size_t *out_len_r,
	      const char **error_r)
{
	struct outbuf o = { NULL, 0, 0 };
	size_t i = 0;

	out_put(&o, "", 0);
	while (i < len) {
		uint8_t c = in[i];

		if (c >= 0x20 && c <= 0x7e) {
			if (c == '&')
				out_put(&o, "&-", 2);
			else
				out_put(&o, &c, 1);
			i++;
			continue;
		}
		/* A run of characters that need BASE64: one section. */
		uint32_t bits = 0;
		unsigned int nbits = 0;

		out_put(&o, "&", 1);
		while (i < len && (in[i] < 0x20 || in[i] > 0x7e)) {
			uint32_t cp;
			size_t k = utf8_decode(in + i, len - i, &cp);

			if (k == 0) {
				*error_r = "Invalid UTF-8";
				goto fail;
			}
			if (cp == 0) {
				*error_r = "NUL in mailbox name";
				goto fail;
			}
			i += k;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				mutf7_put_u16(&o, 0xd800 + (cp >> 10), &bits,
					      &nbits);
				mutf7_put_u16(&o, 0xdc00 + (cp & 0x3ff), &bits,
					      &nbits);
			} else {
				mutf7_put_u16(&o, cp, &bits, &nbits);
			}
		}
		if (nbits > 0) {
			char ch = b64_chars[(bits << (6 - nbits)) & 0x3f];
			out_put(&o, &ch, 1);
		}
		out_put(&o, "-", 1);
	}
	*out_r = o.data;
	*out_len_r = o.len;
	return 0;
fail:
	free(o.data);
	return -1;
}

bool
mutf7_is_valid(const uint8_t *data, size_t len)
{
	char *out;
	size_t out_len;
	const char *error;

	if (mutf7_to_utf8(data, len, &out, &out_len, &error) < 0)
		return false;
	free(out);
	return true;
}
