/* Base64 (RFC 4648 section 4), strict on decode. */
#include "lib/base64.h"

#include <stdbool.h>
#include <stdlib.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t len)
{
	size_t groups = len / 3 + (len % 3 != 0);

	if (groups > SIZE_MAX / 4 - 1)
		abort();
	return groups * 4;
}

void
base64_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	size_t o = 0, i = 0;

	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			p[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 0x3f];
		out[o++] = b64_alphabet[(v >> 6) & 0x3f];
		out[o++] = b64_alphabet[v & 0x3f];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 0x3f];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 0x3f];
		out[o++] = b64_alphabet[(v >> 6) & 0x3f];
		out[o++] = '=';
	}
	out[o] = '\0';
}

char *
base64_encode_alloc(const void *in, size_t len)
{
	char *out = malloc(base64_encoded_len(len) + 1);

	if (out == NULL)
		abort();
	base64_encode(in, len, out);
	return out;
}

size_t
base64_decoded_max_len(size_t in_len)
{
	return in_len / 4 * 3;
}

/* The value of one alphabet character, or -1. */
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
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const void *in, size_t in_len, uint8_t *out,
	      size_t *out_len_r)
{
	const uint8_t *p = in;
	size_t o = 0;

	if (in_len % 4 != 0)
		return -1;
	for (size_t i = 0; i < in_len; i += 4) {
		bool last = i + 4 == in_len;
		int v[4];
		unsigned pad = 0;

		for (unsigned k = 0; k < 4; k++) {
			v[k] = b64_value(p[i + k]);
			if (v[k] >= 0) {
				/* Data after padding inside the group. */
				if (pad > 0)
					return -1;
				continue;
			}
			/* '=' only in the last group, as its last one or
			   two characters. */
			if (p[i + k] != '=' || !last || k < 2)
				return -1;
			pad++;
			v[k] = 0;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			(uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = w >> 16;
		if (pad == 2) {
			/* RFC 4648 3.5: the unused bits must be zero. */
			if ((w & 0xffff) != 0)
				return -1;
			break;
		}
		out[o++] = (w >> 8) & 0xff;
		if (pad == 1) {
			if ((w & 0xff) != 0)
				return -1;
			break;
		}
		out[o++] = w & 0xff;
	}
	*out_len_r = o;
	return 0;
}
