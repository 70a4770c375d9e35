/* libFuzzer target for the MIME parser and everything built on its
   result: IMAP strings, cache record round trip, section lookup, body
   decoding. Also checks that feeding the input in pieces gives the same
   result as feeding it whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/imap-bodystructure.h"
#include "mail/mail-cache.h"
#include "mail/mail-decode.h"
#include "mail/mail-header.h"
#include "mail/mail-parser.h"

struct sink {
	struct buf *out;
};

static void
on_header(void *context, const struct mail_part *part, const char *name,
	  const char *value)
{
	struct sink *s = context;

	buf_append_str(s->out, name);
	buf_append_str(s->out, value);
}

static void
on_body(void *context, const struct mail_part *part, const uint8_t *data,
	size_t len)
{
	struct sink *s = context;

	buf_append(s->out, data, len);
}

static const struct mail_parser_text_callbacks callbacks = {
	.header = on_header,
	.body = on_body,
};

static struct mail_parse_result *
run(const uint8_t *data, size_t len, size_t step, struct buf *out)
{
	struct buf text;
	struct sink s = { &text };
	struct mail_parser *p;
	struct mail_parse_result *r;

	buf_init(&text, 0);
	p = mail_parser_create(&callbacks, &s);
	for (size_t pos = 0; pos < len;) {
		size_t n = len - pos < step ? len - pos : step;
		mail_parser_feed(p, data + pos, n);
		pos += n;
	}
	r = mail_parser_finish(&p);
	mail_cache_record_write(r, out);
	buf_append(out, text.data, text.len);
	buf_free(&text);
	return r;
}

static void
decode_parts(const uint8_t *data, const struct mail_cache_record *rec)
{
	struct buf out;

	buf_init(&out, 1024 * 1024);
	for (unsigned int i = 0; i < rec->part_count; i++) {
		const struct mail_cache_part *p = &rec->parts[i];
		struct mail_decoder *dec = mail_decoder_create(p->encoding);
		if (dec == NULL)
			continue;
		buf_reset(&out);
		mail_decoder_feed(dec, data + p->body_offset,
				  (size_t)(p->body_end - p->body_offset), &out);
		mail_decoder_finish(dec, &out);
		mail_decoder_destroy(&dec);
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, split;
	struct mail_parse_result *r, *r2;
	struct mail_cache_record *rec;
	const char *error;
	size_t step;

	if (size == 0)
		return 0;
	/* the first byte picks the feeding step; the rest is the message */
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;

	buf_init(&whole, 0);
	buf_init(&split, 0);
	r = run(data, size, size == 0 ? 1 : size, &whole);
	r2 = run(data, size, step, &split);
	if (whole.len != split.len ||
	    memcmp(whole.data, split.data, whole.len) != 0)
		abort();
	mail_parse_result_free(&r2);

	buf_reset(&whole);
	if (mail_cache_record_write(r, &whole) < 0)
		abort();
	if (mail_cache_record_read(whole.data, whole.len, &rec, &error) < 0)
		abort();
	decode_parts(data, rec);
	for (uint32_t a = 0; a < 3; a++) {
		for (uint32_t b = 0; b < 3; b++) {
			uint32_t path[2] = { a, b };
			unsigned int idx, midx;
			if (mail_cache_find_part(rec, path, 2, &idx) == 1)
				(void)mail_cache_part_message(rec, idx, &midx);
		}
	}
	mail_cache_record_free(&rec);

	/* the header helpers on the raw input as one header value */
	buf_reset(&split);
	mail_header_decode_2047(data, size, &split);
	mail_parse_result_free(&r);
	buf_free(&whole);
	buf_free(&split);
	return 0;
}
