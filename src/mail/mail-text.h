#ifndef QUIRE_MAIL_TEXT_H
#define QUIRE_MAIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Text helpers for search and preview. The parser (mail-parser.h) runs
   these on text/ * parts when given text callbacks, and always for the
   preview. All are streaming: input split anywhere gives the same
   output. */

/* Crude HTML to text: tags dropped (block-level ones become a line
   break), <script>/<style>/<head> contents and comments dropped, common
   entities and numeric character references decoded to UTF-8. Input and
   output are UTF-8. */
struct mail_html_text;

struct mail_html_text *mail_html_text_create(void);
void mail_html_text_destroy(struct mail_html_text **html);
void mail_html_text_feed(struct mail_html_text *html, const uint8_t *data,
			 size_t len, struct buf *out);
void mail_html_text_finish(struct mail_html_text *html, struct buf *out);

/* RFC 8970 preview builder: feed UTF-8 text; runs of whitespace
   (including line breaks) become one space, leading whitespace is
   dropped, and it stops after MAIL_PREVIEW_MAX_CHARS characters
   (trailing space removed). Invalid UTF-8 is dropped. */
struct mail_preview {
	struct buf text;
	unsigned int chars;
	bool pending_space;
	bool full;
	uint8_t partial[4]; /* an incomplete UTF-8 sequence */
	unsigned int partial_len;
};

void mail_preview_init(struct mail_preview *preview);
void mail_preview_add(struct mail_preview *preview, const uint8_t *data,
		      size_t len);
/* The preview so far (valid until the next add or deinit). */
const char *mail_preview_get(struct mail_preview *preview);
void mail_preview_deinit(struct mail_preview *preview);

#endif
