/* HTML reduction and the RFC 8970 preview. */
#include "mail/mail-text.h"
#include "mail/mail-private.h"
#include "lib/limits.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTML_NAME_MAX 16
#define HTML_ENTITY_MAX 12

enum html_state {
	HTML_TEXT,
	HTML_TAG_START,
	HTML_TAG_NAME,
	HTML_TAG_ATTRS,
	HTML_QUOTE_D,
	HTML_QUOTE_S,
	HTML_BANG,
	HTML_BANG_DASH,
	HTML_COMMENT,
	HTML_ENTITY,
	HTML_SKIP,
	HTML_SKIP_TAG,
};

struct mail_html_text {
	enum html_state state;
	char name[HTML_NAME_MAX];
	unsigned int name_len;
	bool closing;
	bool name_overflow;
	char skip_name[HTML_NAME_MAX];
	unsigned int skip_pos;
	char entity[HTML_ENTITY_MAX];
	unsigned int entity_len;
	unsigned int dashes;
};

struct mail_html_text *
mail_html_text_create(void)
{
	return mail_xcalloc(1, sizeof(struct mail_html_text));
}

void
mail_html_text_destroy(struct mail_html_text **html)
{
	free(*html);
	*html = NULL;
}

static bool
is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(uint8_t c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

static void
append_utf8(struct buf *out, uint32_t cp)
{
	uint8_t b[4];

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		buf_append_c(out, (uint8_t)cp);
	} else if (cp < 0x800) {
		b[0] = 0xc0 | (cp >> 6);
		b[1] = 0x80 | (cp & 0x3f);
		buf_append(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = 0xe0 | (cp >> 12);
		b[1] = 0x80 | ((cp >> 6) & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		buf_append(out, b, 3);
	} else {
		b[0] = 0xf0 | (cp >> 18);
		b[1] = 0x80 | ((cp >> 12) & 0x3f);
		b[2] = 0x80 | ((cp >> 6) & 0x3f);
		b[3] = 0x80 | (cp & 0x3f);
		buf_append(out, b, 4);
	}
}

static void
entity_flush(struct mail_html_text *h, bool terminated, struct buf *out)
{
	static const struct {
		const char *name;
		uint32_t cp;
	} names[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' },
		{ "quot", '"' }, { "apos", '\'' }, { "nbsp", ' ' },
		{ "copy", 0xa9 }, { "reg", 0xae }, { "euro", 0x20ac },
		{ "hellip", 0x2026 }, { "mdash", 0x2014 },
		{ "ndash", 0x2013 },
	};
	char *e = h->entity;

	e[h->entity_len] = '\0';
	if (terminated && e[0] == '#' && h->entity_len > 1) {
		uint32_t cp = 0;
		bool hex = e[1] == 'x' || e[1] == 'X';
		bool ok = true;
		for (unsigned int i = hex ? 2 : 1; i < h->entity_len; i++) {
			int d = hex ? mail_hex_digit((uint8_t)e[i]) :
				(e[i] >= '0' && e[i] <= '9' ? e[i] - '0' : -1);
			if (d < 0 || cp > 0x10ffff) {
				ok = false;
				break;
			}
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (ok && h->entity_len > (hex ? 2u : 1u)) {
			append_utf8(out, cp);
			h->entity_len = 0;
			return;
		}
	}
	if (terminated) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strcmp(e, names[i].name) == 0) {
				append_utf8(out, names[i].cp);
				h->entity_len = 0;
				return;
			}
		}
	}
	buf_append_c(out, '&');
	buf_append(out, e, h->entity_len);
	if (terminated)
		buf_append_c(out, ';');
	h->entity_len = 0;
}

static bool
name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcasecmp(name, *list) == 0)
			return true;
	}
	return false;
}

static void
tag_done(struct mail_html_text *h, struct buf *out)
{
	static const char *const block[] = {
		"br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2",
		"h3", "h4", "h5", "h6", "blockquote", "hr", "pre", "td", "th",
		"dd", "dt", "section", "article", "header", "footer", NULL,
	};
	static const char *const skip[] = {
		"script", "style", "head", "title", NULL,
	};

	h->name[h->name_len] = '\0';
	h->state = HTML_TEXT;
	if (h->name_overflow)
		return;
	if (name_in(h->name, block))
		buf_append_c(out, '\n');
	if (!h->closing && name_in(h->name, skip)) {
		memcpy(h->skip_name, h->name, h->name_len + 1);
		h->state = HTML_SKIP;
	}
}

void
mail_html_text_feed(struct mail_html_text *h, const uint8_t *data,
		    size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = data[i];
	again:
		switch (h->state) {
		case HTML_TEXT:
			if (c == '<') {
				h->state = HTML_TAG_START;
				h->name_len = 0;
				h->closing = false;
				h->name_overflow = false;
			} else if (c == '&') {
				h->state = HTML_ENTITY;
				h->entity_len = 0;
			} else {
				buf_append_c(out, c);
			}
			break;
		case HTML_TAG_START:
			if (c == '!') {
				h->state = HTML_BANG;
			} else if (c == '/' && !h->closing) {
				h->closing = true;
			} else if (is_alpha(c)) {
				h->state = HTML_TAG_NAME;
				goto again;
			} else if (c == '?') {
				h->state = HTML_TAG_ATTRS;
			} else {
				/* "a < b": not a tag */
				buf_append(out, h->closing ? "</" : "<",
					   h->closing ? 2 : 1);
				h->state = HTML_TEXT;
				goto again;
			}
			break;
		case HTML_TAG_NAME:
			if (is_alnum(c)) {
				if (h->name_len < HTML_NAME_MAX - 1)
					h->name[h->name_len++] = (char)c;
				else
					h->name_overflow = true;
				break;
			}
			h->state = HTML_TAG_ATTRS;
			goto again;
		case HTML_TAG_ATTRS:
			if (c == '"')
				h->state = HTML_QUOTE_D;
			else if (c == '\'')
				h->state = HTML_QUOTE_S;
			else if (c == '>')
				tag_done(h, out);
			break;
		case HTML_QUOTE_D:
			if (c == '"')
				h->state = HTML_TAG_ATTRS;
			break;
		case HTML_QUOTE_S:
			if (c == '\'')
				h->state = HTML_TAG_ATTRS;
			break;
		case HTML_BANG:
			if (c == '-') {
				h->state = HTML_BANG_DASH;
			} else {
				h->state = HTML_TAG_ATTRS;
				goto again;
			}
			break;
		case HTML_BANG_DASH:
			if (c == '-') {
				h->state = HTML_COMMENT;
				h->dashes = 0;
			} else {
				h->state = HTML_TAG_ATTRS;
				goto again;
			}
			break;
		case HTML_COMMENT:
			if (c == '>' && h->dashes >= 2)
				h->state = HTML_TEXT;
			else if (c == '-')
				h->dashes++;
			else
				h->dashes = 0;
			break;
		case HTML_ENTITY:
			if (c == ';') {
				entity_flush(h, true, out);
				h->state = HTML_TEXT;
			} else if ((is_alnum(c) || c == '#') &&
				   h->entity_len < HTML_ENTITY_MAX - 1) {
				h->entity[h->entity_len++] = (char)c;
			} else {
				entity_flush(h, false, out);
				h->state = HTML_TEXT;
				goto again;
			}
			break;
		case HTML_SKIP:
			if (c == '<') {
				h->state = HTML_SKIP_TAG;
				h->skip_pos = 0;
				h->name_len = 0;
			}
			break;
		case HTML_SKIP_TAG:
			if (h->skip_pos == 0 && c == '/') {
				h->skip_pos = 1;
			} else if (h->skip_pos == 1 && is_alnum(c) &&
				   h->name_len < HTML_NAME_MAX - 1) {
				h->name[h->name_len++] = (char)c;
			} else {
				h->name[h->name_len] = '\0';
				if (h->skip_pos == 1 &&
				    strcasecmp(h->name, h->skip_name) == 0) {
					h->closing = true;
					h->name_overflow = false;
					h->state = HTML_TAG_ATTRS;
				} else {
					h->state = HTML_SKIP;
				}
				goto again;
			}
			break;
		}
	}
}

void
mail_html_text_finish(struct mail_html_text *h, struct buf *out)
{
	if (h->state == HTML_ENTITY)
		entity_flush(h, false, out);
	h->state = HTML_TEXT;
}

/* preview */

void
mail_preview_init(struct mail_preview *preview)
{
	memset(preview, 0, sizeof(*preview));
	buf_init(&preview->text, MAIL_PREVIEW_MAX_CHARS * 4 + 1);
}

static void
preview_char(struct mail_preview *pv, const uint8_t *seq, unsigned int n)
{
	bool space = n == 1 && (seq[0] <= 0x20 || seq[0] == 0x7f);

	/* U+00A0 no-break space counts as whitespace too */
	if (n == 2 && seq[0] == 0xc2 && seq[1] == 0xa0)
		space = true;
	if (space) {
		pv->pending_space = pv->chars > 0;
		return;
	}
	if (pv->pending_space) {
		if (pv->chars + 1 >= MAIL_PREVIEW_MAX_CHARS) {
			pv->full = true;
			return;
		}
		buf_append_c(&pv->text, ' ');
		pv->chars++;
		pv->pending_space = false;
	}
	buf_append(&pv->text, seq, n);
	if (++pv->chars >= MAIL_PREVIEW_MAX_CHARS)
		pv->full = true;
}

void
mail_preview_add(struct mail_preview *pv, const uint8_t *data, size_t len)
{
	size_t i = 0;

	while (i < len && !pv->full) {
		if (pv->partial_len > 0) {
			pv->partial[pv->partial_len++] = data[i++];
			/* resolve the held bytes the way they would have
			   been resolved in one piece */
			while (pv->partial_len > 0 && !pv->full) {
				int n = mail_utf8_seq(pv->partial,
						      pv->partial_len);
				if (n < 0)
					break;
				if (n > 0)
					preview_char(pv, pv->partial,
						     (unsigned int)n);
				unsigned int used = n > 0 ? (unsigned int)n : 1;
				memmove(pv->partial, pv->partial + used,
					pv->partial_len - used);
				pv->partial_len -= used;
			}
			continue;
		}
		int n = mail_utf8_seq(data + i, len - i);
		if (n > 0) {
			preview_char(pv, data + i, (unsigned int)n);
			i += (size_t)n;
		} else if (n < 0) {
			memcpy(pv->partial, data + i, len - i);
			pv->partial_len = (unsigned int)(len - i);
			i = len;
		} else {
			i++;
		}
	}
}

const char *
mail_preview_get(struct mail_preview *preview)
{
	return buf_cstr(&preview->text);
}

void
mail_preview_deinit(struct mail_preview *preview)
{
	buf_free(&preview->text);
}
