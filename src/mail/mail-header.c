/* Header field values: unfolding, RFC 2045/2231 parameters, RFC 2047
   encoded-words, RFC 5322 address lists. */
#include "mail/mail-header.h"
#include "mail/mail-decode.h"
#include "mail/mail-private.h"
#include "lib/limits.h"
#include "lib/strnum.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
is_fws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
mail_header_unfold(const uint8_t *value, size_t len, struct buf *out)
{
	/* an empty struct buf has no data pointer */
	if (value == NULL)
		value = (const uint8_t *)"";
	size_t start = out->len;
	size_t i = 0;

	while (i < len && is_fws(value[i]))
		i++;
	for (; i < len; i++) {
		uint8_t c = value[i];
		if (c == '\n')
			continue;
		if (c == '\r' && i + 1 < len && value[i + 1] == '\n')
			continue;
		if (c == '\r' && i + 1 == len)
			continue;
		buf_append_c(out, c == '\0' ? '?' : c);
	}
	while (out->len > start && is_fws(out->data[out->len - 1]))
		buf_truncate(out, out->len - 1);
}

/* RFC 2047 */

static void
decode_q(const uint8_t *p, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '_') {
			buf_append_c(out, ' ');
		} else if (p[i] == '=' && i + 2 < len &&
			   mail_hex_digit(p[i + 1]) >= 0 &&
			   mail_hex_digit(p[i + 2]) >= 0) {
			int hi = mail_hex_digit(p[i + 1]);
			int lo = mail_hex_digit(p[i + 2]);
			buf_append_c(out, (uint8_t)(hi * 16 + lo));
			i += 2;
		} else {
			buf_append_c(out, p[i]);
		}
	}
}

static void
decode_b(const uint8_t *p, size_t len, struct buf *out)
{
	struct mail_decoder *dec = mail_decoder_create(MAIL_ENCODING_BASE64);
	mail_decoder_feed(dec, p, len, out);
	mail_decoder_finish(dec, out);
	mail_decoder_destroy(&dec);
}

struct encoded_word {
	const uint8_t *charset;
	size_t charset_len;
	uint8_t enc;
	const uint8_t *text;
	size_t text_len;
	size_t total_len; /* from "=?" to "?=" inclusive */
};

static bool
parse_encoded_word(const uint8_t *p, size_t len, struct encoded_word *ew)
{
	size_t i = 2;

	if (len < 8 || p[0] != '=' || p[1] != '?')
		return false;
	ew->charset = p + 2;
	while (i < len && p[i] != '?' && !is_fws(p[i]))
		i++;
	if (i >= len || p[i] != '?' || i == 2)
		return false;
	ew->charset_len = i - 2;
	/* RFC 2231 section 5: charset*language */
	const uint8_t *star = memchr(ew->charset, '*', ew->charset_len);
	if (star != NULL)
		ew->charset_len = (size_t)(star - ew->charset);
	if (ew->charset_len == 0 || i + 3 > len || p[i + 2] != '?')
		return false;
	ew->enc = p[i + 1];
	if (ew->enc != 'B' && ew->enc != 'b' && ew->enc != 'Q' &&
	    ew->enc != 'q')
		return false;
	i += 3;
	size_t start = i;
	while (i + 1 < len && !(p[i] == '?' && p[i + 1] == '=')) {
		if (is_fws(p[i]))
			return false;
		i++;
	}
	if (i + 1 >= len)
		return false;
	ew->text = p + start;
	ew->text_len = i - start;
	ew->total_len = i + 2;
	return true;
}

struct ew_group {
	char charset[64];
	struct buf bytes;
	size_t raw_start, raw_end;
	bool active;
};

static void
ew_flush(struct ew_group *g, const uint8_t *value, struct buf *out)
{
	if (!g->active)
		return;
	if (mail_charset_to_utf8(g->charset, g->bytes.data, g->bytes.len,
				 out) < 0) {
		/* unknown charset: leave the words as they were */
		mail_utf8_sanitize(value + g->raw_start,
				   g->raw_end - g->raw_start, out);
	}
	buf_reset(&g->bytes);
	g->active = false;
}

void
mail_header_decode_2047(const uint8_t *value, size_t len, struct buf *out)
{
	/* an empty struct buf has no data pointer */
	if (value == NULL)
		value = (const uint8_t *)"";
	struct ew_group g;
	size_t i = 0, ws_start = 0, ws_len = 0;
	size_t plain_start = 0;

	memset(&g, 0, sizeof(g));
	buf_init(&g.bytes, MAIL_MAX_FIELD_VALUE);
	while (i < len) {
		struct encoded_word ew;
		if (value[i] == '=' && i + 1 < len && value[i + 1] == '?' &&
		    parse_encoded_word(value + i, len - i, &ew) &&
		    ew.charset_len < sizeof(g.charset)) {
			/* plain text before it, then whitespace unless it
			   only separates two encoded-words (RFC 2047 6.2) */
			size_t plain_end = ws_len > 0 ? ws_start : i;
			if (plain_end > plain_start) {
				ew_flush(&g, value, out);
				mail_utf8_sanitize(value + plain_start,
						   plain_end - plain_start,
						   out);
			}
			bool joined = g.active && plain_end == plain_start;
			if (!joined && ws_len > 0) {
				ew_flush(&g, value, out);
				buf_append(out, value + ws_start, ws_len);
			}
			if (g.active &&
			    (strlen(g.charset) != ew.charset_len ||
			     strncasecmp(g.charset, (const char *)ew.charset,
					 ew.charset_len) != 0))
				ew_flush(&g, value, out);
			if (!g.active) {
				memcpy(g.charset, ew.charset, ew.charset_len);
				g.charset[ew.charset_len] = '\0';
				g.active = true;
				g.raw_start = i;
			}
			if (ew.enc == 'B' || ew.enc == 'b')
				decode_b(ew.text, ew.text_len, &g.bytes);
			else
				decode_q(ew.text, ew.text_len, &g.bytes);
			i += ew.total_len;
			g.raw_end = i;
			plain_start = i;
			ws_len = 0;
			continue;
		}
		if (is_fws(value[i])) {
			if (ws_len == 0)
				ws_start = i;
			ws_len = i + 1 - ws_start;
		} else {
			ws_len = 0;
		}
		i++;
	}
	if (len > plain_start) {
		ew_flush(&g, value, out);
		mail_utf8_sanitize(value + plain_start, len - plain_start,
				   out);
	}
	ew_flush(&g, value, out);
	buf_free(&g.bytes);
}

/* Structured field lexing (RFC 5322 3.2, RFC 2045 5.1) */

struct lexer {
	const uint8_t *p, *end;
};

/* Skips whitespace and (nested) comments without recursion. The text of
   the last outermost comment goes to comment if not NULL. */
static bool
skip_cfws(struct lexer *lx, struct buf *comment)
{
	bool seen = false;

	for (;;) {
		while (lx->p < lx->end && is_fws(*lx->p))
			lx->p++;
		if (lx->p == lx->end || *lx->p != '(')
			return seen;
		seen = true;
		lx->p++;
		if (comment != NULL)
			buf_reset(comment);
		unsigned int depth = 1;
		while (lx->p < lx->end && depth > 0) {
			uint8_t c = *lx->p++;
			if (c == '\\' && lx->p < lx->end) {
				c = *lx->p++;
			} else if (c == '(') {
				depth++;
			} else if (c == ')') {
				if (--depth == 0)
					break;
			}
			if (comment != NULL && c != '\r' && c != '\n')
				buf_append_c(comment, c);
		}
	}
}

/* RFC 2045 tspecials plus space and CTLs end a token; 8-bit bytes are
   accepted, as broken mailers send them. */
static bool
is_mime_token_char(uint8_t c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool
lex_token(struct lexer *lx, struct buf *out)
{
	const uint8_t *start = lx->p;

	while (lx->p < lx->end && is_mime_token_char(*lx->p))
		lx->p++;
	buf_append(out, start, (size_t)(lx->p - start));
	return lx->p > start;
}

/* At '"': appends the unquoted content. An unterminated string runs to
   the end. Line breaks (folding) are dropped. */
static void
lex_quoted(struct lexer *lx, struct buf *out)
{
	lx->p++;
	while (lx->p < lx->end) {
		uint8_t c = *lx->p++;
		if (c == '"')
			return;
		if (c == '\\' && lx->p < lx->end)
			c = *lx->p++;
		else if (c == '\r' || c == '\n')
			continue;
		buf_append_c(out, c == '\0' ? '?' : c);
	}
}

struct raw_param {
	char *name;  /* base name (before '*') */
	char *value;
	int section; /* -1: no section */
	bool extended;
	bool starred;
};

static void
param_split_name(const char *name, struct raw_param *rp)
{
	const char *star = strchr(name, '*');
	uint64_t n;

	rp->section = -1;
	rp->extended = false;
	rp->starred = false;
	if (star == NULL || star == name) {
		rp->name = mail_xstrndup(name, strlen(name));
		return;
	}
	const char *rest = star + 1;
	size_t rlen = strlen(rest);
	if (rlen == 0) {
		rp->extended = true;
	} else {
		size_t dlen = rlen;
		if (rest[rlen - 1] == '*') {
			rp->extended = true;
			dlen--;
		}
		/* RFC 2231 3: no leading zeros except "0" itself */
		if (dlen == 0 || (dlen > 1 && rest[0] == '0') ||
		    str_to_u64(rest, dlen, MAIL_MAX_PARAM_SECTIONS - 1,
			       &n) < 0) {
			rp->name = mail_xstrndup(name, strlen(name));
			rp->extended = false;
			return;
		}
		rp->section = (int)n;
	}
	rp->starred = true;
	rp->name = mail_xstrndup(name, (size_t)(star - name));
}

static void
percent_decode(const char *s, struct buf *out)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '%' && mail_hex_digit((uint8_t)s[i + 1]) >= 0 &&
		    mail_hex_digit((uint8_t)s[i + 2]) >= 0) {
			buf_append_c(out, (uint8_t)(
				mail_hex_digit((uint8_t)s[i + 1]) * 16 +
				mail_hex_digit((uint8_t)s[i + 2])));
			i += 2;
		} else {
			buf_append_c(out, (uint8_t)s[i]);
		}
	}
}

/* RFC 2231 3-4: joins name*0, name*1, ... (stopping at the first gap)
   and decodes the extended ones. */
static void
param_merge(struct raw_param *raw, unsigned int count, unsigned int first,
	    struct buf *out)
{
	struct buf bytes;
	char charset[64] = "";
	const char *name = raw[first].name;

	buf_init(&bytes, MAIL_MAX_FIELD_VALUE);
	for (int section = 0;; section++) {
		const struct raw_param *rp = NULL;
		for (unsigned int i = 0; i < count; i++) {
			if (raw[i].starred && strcasecmp(raw[i].name, name) == 0 &&
			    (raw[i].section == section ||
			     (section == 0 && raw[i].section == -1))) {
				rp = &raw[i];
				break;
			}
		}
		if (rp == NULL)
			break;
		const char *v = rp->value;
		if (section == 0 && rp->extended) {
			/* charset'language'value */
			const char *q1 = strchr(v, '\'');
			const char *q2 = q1 == NULL ? NULL : strchr(q1 + 1, '\'');
			if (q2 != NULL) {
				size_t clen = (size_t)(q1 - v);
				if (clen < sizeof(charset)) {
					memcpy(charset, v, clen);
					charset[clen] = '\0';
				}
				v = q2 + 1;
			}
		}
		if (rp->extended)
			percent_decode(v, &bytes);
		else
			buf_append_str(&bytes, v);
		if (rp->section == -1)
			break;
	}
	if (charset[0] == '\0' ||
	    mail_charset_to_utf8(charset, bytes.data, bytes.len, out) < 0)
		mail_utf8_sanitize(bytes.data, bytes.len, out);
	buf_free(&bytes);
}

int
mail_header_parse_content(const uint8_t *value, size_t len,
			  bool want_subtype, struct buf *type_r,
			  struct buf *subtype_r,
			  mail_header_param_callback_t *callback,
			  void *context)
{
	/* an empty struct buf has no data pointer */
	if (value == NULL)
		value = (const uint8_t *)"";
	struct lexer lx = { value, value + len };
	struct raw_param raw[MAIL_MAX_PARAMS + MAIL_MAX_PARAM_SECTIONS];
	unsigned int raw_count = 0;
	struct buf name, val;

	skip_cfws(&lx, NULL);
	if (!lex_token(&lx, type_r))
		return -1;
	skip_cfws(&lx, NULL);
	if (want_subtype) {
		if (lx.p == lx.end || *lx.p != '/')
			return -1;
		lx.p++;
		skip_cfws(&lx, NULL);
		if (!lex_token(&lx, subtype_r))
			return -1;
	}

	buf_init(&name, MAIL_MAX_FIELD_VALUE);
	buf_init(&val, MAIL_MAX_FIELD_VALUE);
	while (lx.p < lx.end) {
		skip_cfws(&lx, NULL);
		if (lx.p == lx.end)
			break;
		if (*lx.p != ';') {
			/* junk: skip to the next ';' outside quotes */
			if (*lx.p == '"') {
				buf_reset(&val);
				lex_quoted(&lx, &val);
			} else {
				lx.p++;
			}
			continue;
		}
		lx.p++;
		skip_cfws(&lx, NULL);
		buf_reset(&name);
		buf_reset(&val);
		if (!lex_token(&lx, &name))
			continue;
		skip_cfws(&lx, NULL);
		if (lx.p == lx.end || *lx.p != '=')
			continue;
		lx.p++;
		skip_cfws(&lx, NULL);
		if (lx.p < lx.end && *lx.p == '"') {
			lex_quoted(&lx, &val);
		} else {
			/* a token; be lenient about what else it holds
			   (unquoted '/', '@', '?', '=' are common) */
			while (lx.p < lx.end && *lx.p != ';' &&
			       !is_fws(*lx.p) && *lx.p != '"' &&
			       *lx.p != '(') {
				uint8_t c = *lx.p++;
				buf_append_c(&val, c == '\0' ? '?' : c);
			}
		}
		if (raw_count == sizeof(raw) / sizeof(raw[0]))
			continue;
		struct raw_param *rp = &raw[raw_count];
		param_split_name(buf_cstr(&name), rp);
		rp->value = mail_xstrndup(val.data, val.len);
		raw_count++;
	}

	/* deliver in first-appearance order of the base names */
	unsigned int delivered = 0;
	for (unsigned int i = 0; i < raw_count; i++) {
		bool seen = false;
		for (unsigned int j = 0; j < i && !seen; j++)
			seen = strcasecmp(raw[j].name, raw[i].name) == 0;
		if (seen || delivered == MAIL_MAX_PARAMS)
			continue;
		/* the RFC 2231 form wins over a plain one of the same name */
		int starred = -1;
		for (unsigned int j = i; j < raw_count; j++) {
			if (raw[j].starred &&
			    strcasecmp(raw[j].name, raw[i].name) == 0) {
				starred = (int)j;
				break;
			}
		}
		buf_reset(&val);
		if (starred >= 0) {
			param_merge(raw, raw_count, (unsigned int)starred,
				    &val);
		} else {
			buf_append_str(&val, raw[i].value);
		}
		callback(context, raw[i].name, buf_cstr(&val));
		delivered++;
	}
	for (unsigned int i = 0; i < raw_count; i++) {
		free(raw[i].name);
		free(raw[i].value);
	}
	buf_free(&name);
	buf_free(&val);
	return 0;
}

int
mail_header_parse_token(const uint8_t *value, size_t len, struct buf *out)
{
	/* an empty struct buf has no data pointer */
	if (value == NULL)
		value = (const uint8_t *)"";
	struct lexer lx = { value, value + len };

	skip_cfws(&lx, NULL);
	return lex_token(&lx, out) ? 0 : -1;
}

void
mail_header_parse_languages(const uint8_t *value, size_t len,
			    void (*callback)(void *context, const char *tag),
			    void *context)
{
	/* an empty struct buf has no data pointer */
	if (value == NULL)
		value = (const uint8_t *)"";
	struct lexer lx = { value, value + len };
	struct buf tag;
	unsigned int count = 0;

	buf_init(&tag, MAIL_MAX_FIELD_VALUE);
	while (lx.p < lx.end && count < MAIL_MAX_PARAMS) {
		skip_cfws(&lx, NULL);
		buf_reset(&tag);
		if (lex_token(&lx, &tag)) {
			callback(context, buf_cstr(&tag));
			count++;
		} else if (lx.p < lx.end) {
			lx.p++;
		}
	}
	buf_free(&tag);
}

/* Address lists (RFC 5322 3.4, 4.4) */

static bool
is_addr_special(uint8_t c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

struct addr_state {
	struct buf phrase;  /* display name words */
	struct buf local;   /* addr-spec text before '@' */
	struct buf domain;  /* after '@' */
	struct buf route;
	struct buf comment;
	bool have_comment;
	bool seen_at;
	bool any;
	unsigned int count;
	mail_header_address_callback_t *callback;
	void *context;
};

static void
addr_reset(struct addr_state *st)
{
	buf_reset(&st->phrase);
	buf_reset(&st->local);
	buf_reset(&st->domain);
	buf_reset(&st->route);
	buf_reset(&st->comment);
	st->have_comment = false;
	st->seen_at = false;
	st->any = false;
}

static void
addr_emit(struct addr_state *st, const char *name, const char *route,
	  const char *mailbox, const char *host)
{
	/* a group end marker always follows its (counted) start */
	if (st->count >= MAIL_MAX_ADDRESSES && (mailbox != NULL || host != NULL))
		return;
	st->count++;
	st->callback(st->context, name, route, mailbox, host);
}

static void
addr_word(struct addr_state *st, const uint8_t *w, size_t len, bool is_dot)
{
	struct buf *spec = st->seen_at ? &st->domain : &st->local;

	if (!is_dot && st->phrase.len > 0)
		buf_append_c(&st->phrase, ' ');
	buf_append(&st->phrase, w, len);
	buf_append(spec, w, len);
	st->any = true;
}

/* Reads one word (atom, quoted string, domain literal) or '.'/'@' into
   the address state. Returns false at any other special. */
static bool
addr_token(struct lexer *lx, struct addr_state *st, struct buf *tmp)
{
	uint8_t c = *lx->p;

	if (c == '"') {
		buf_reset(tmp);
		lex_quoted(lx, tmp);
		addr_word(st, tmp->data, tmp->len, false);
		return true;
	}
	if (c == '.') {
		lx->p++;
		addr_word(st, (const uint8_t *)".", 1, true);
		return true;
	}
	if (c == '@') {
		lx->p++;
		if (!st->seen_at)
			st->seen_at = true;
		else
			buf_append_c(&st->domain, '@');
		st->any = true;
		return true;
	}
	if (c == '[') {
		const uint8_t *start = lx->p;
		while (lx->p < lx->end && *lx->p != ']')
			lx->p++;
		if (lx->p < lx->end)
			lx->p++;
		addr_word(st, start, (size_t)(lx->p - start), false);
		return true;
	}
	if (c == '\\' || !is_addr_special(c)) {
		const uint8_t *start = lx->p;
		while (lx->p < lx->end && !is_fws(*lx->p) &&
		       (*lx->p == '\\' || !is_addr_special(*lx->p)))
			lx->p++;
		addr_word(st, start, (size_t)(lx->p - start), false);
		return true;
	}
	return false;
}

static void
addr_finish_spec(struct addr_state *st, const char *name)
{
	const char *mailbox, *host;

	if (!st->seen_at) {
		/* no domain: the words are all we have */
		mailbox = buf_cstr(&st->phrase);
		host = "";
	} else {
		mailbox = buf_cstr(&st->local);
		host = buf_cstr(&st->domain);
	}
	if (name == NULL && st->have_comment && st->comment.len > 0)
		name = buf_cstr(&st->comment);
	addr_emit(st, name, st->route.len > 0 ? buf_cstr(&st->route) : NULL,
		  mailbox, host);
}

void
mail_header_parse_addresses(const uint8_t *value, size_t len,
			    mail_header_address_callback_t *callback,
			    void *context)
{
	/* an empty struct buf has no data pointer */
	if (value == NULL)
		value = (const uint8_t *)"";
	struct lexer lx = { value, value + len };
	struct addr_state st;
	struct buf tmp, name;
	bool in_group = false;

	memset(&st, 0, sizeof(st));
	st.callback = callback;
	st.context = context;
	buf_init(&st.phrase, MAIL_MAX_FIELD_VALUE);
	buf_init(&st.local, MAIL_MAX_FIELD_VALUE);
	buf_init(&st.domain, MAIL_MAX_FIELD_VALUE);
	buf_init(&st.route, MAIL_MAX_FIELD_VALUE);
	buf_init(&st.comment, MAIL_MAX_FIELD_VALUE);
	buf_init(&tmp, MAIL_MAX_FIELD_VALUE);
	buf_init(&name, MAIL_MAX_FIELD_VALUE);

	addr_reset(&st);
	while (lx.p < lx.end) {
		if (skip_cfws(&lx, &st.comment))
			st.have_comment = true;
		if (lx.p == lx.end)
			break;
		uint8_t c = *lx.p;
		if (addr_token(&lx, &st, &tmp))
			continue;
		lx.p++;
		if (c == '<') {
			/* name-addr: the words so far are the display name */
			buf_reset(&name);
			buf_append(&name, st.phrase.data, st.phrase.len);
			buf_reset(&st.local);
			buf_reset(&st.domain);
			buf_reset(&st.phrase);
			st.seen_at = false;
			skip_cfws(&lx, NULL);
			/* obs-route: "@a,@b:" */
			if (lx.p < lx.end && *lx.p == '@') {
				const uint8_t *r = lx.p;
				while (lx.p < lx.end && *lx.p != ':' &&
				       *lx.p != '>')
					lx.p++;
				if (lx.p < lx.end && *lx.p == ':') {
					for (const uint8_t *q = r; q < lx.p;
					     q++) {
						if (!is_fws(*q))
							buf_append_c(&st.route,
								     *q);
					}
					lx.p++;
				} else {
					lx.p = r;
				}
			}
			while (lx.p < lx.end && *lx.p != '>') {
				skip_cfws(&lx, NULL);
				if (lx.p == lx.end || *lx.p == '>')
					break;
				if (!addr_token(&lx, &st, &tmp))
					lx.p++;
			}
			if (lx.p < lx.end)
				lx.p++;
			if (!st.seen_at && st.phrase.len == 0) {
				/* "<>": the null address */
				addr_emit(&st, name.len > 0 ?
					  buf_cstr(&name) : NULL,
					  NULL, "", "");
			} else {
				addr_finish_spec(&st, name.len > 0 ?
						 buf_cstr(&name) : NULL);
			}
			/* anything up to the next ',' or ';' is junk */
			while (lx.p < lx.end && *lx.p != ',' && *lx.p != ';') {
				if (*lx.p == '(') {
					skip_cfws(&lx, NULL);
				} else if (*lx.p == '"') {
					buf_reset(&tmp);
					lex_quoted(&lx, &tmp);
				} else {
					lx.p++;
				}
			}
			addr_reset(&st);
		} else if (c == ':' && !in_group && !st.seen_at) {
			addr_emit(&st, NULL, NULL, buf_cstr(&st.phrase), NULL);
			in_group = true;
			addr_reset(&st);
		} else if (c == ',' || c == ';') {
			if (st.any)
				addr_finish_spec(&st, NULL);
			addr_reset(&st);
			if (c == ';' && in_group) {
				addr_emit(&st, NULL, NULL, NULL, NULL);
				in_group = false;
			}
		}
		/* other stray specials (')', '>', ']', ':') are dropped */
	}
	if (st.any)
		addr_finish_spec(&st, NULL);
	if (in_group)
		addr_emit(&st, NULL, NULL, NULL, NULL);

	buf_free(&st.phrase);
	buf_free(&st.local);
	buf_free(&st.domain);
	buf_free(&st.route);
	buf_free(&st.comment);
	buf_free(&tmp);
	buf_free(&name);
}
