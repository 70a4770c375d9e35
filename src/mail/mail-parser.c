/* Streaming MIME parser (see mail-parser.h for the rules it follows).

   The input is cut into lines at LF. A line's bytes are looked at as they
   arrive: while in a header they are copied to the header buffer (up to
   its cap), in a body only a short prefix is kept, enough to tell a
   boundary line from another. Every decision is taken at the end of a
   line or when the prefix is full, so it cannot depend on how the input
   was split. Open parts form an explicit stack (no recursion). */
#include "mail/mail-parser.h"
#include "mail/mail-decode.h"
#include "mail/mail-header.h"
#include "mail/mail-private.h"
#include "mail/mail-text.h"
#include "lib/limits.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Enough of a line to decide whether it starts with "--" boundary "--". */
#define LINE_PREFIX_MAX (2 + MAIL_MAX_BOUNDARY_LEN + 2)
/* Body bytes pushed through the text decoders at a time, so that one huge
   feed does not make huge intermediate buffers. */
#define TEXT_SLICE 4096
#define ARENA_BLOCK 16384
/* Internal flag while a header is parsed: no valid Content-Type seen. */
#define PART_FLAG_NO_TYPE 0x10000

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	/* data follows, max_align_t aligned */
	max_align_t data[];
};

struct arena {
	struct arena_block *blocks;
	size_t total;
};

struct mail_parse_result {
	struct arena arena;
	struct mail_part *root;
	char *preview;
	uint64_t size;
};

struct text_pipe {
	const struct mail_part *part;
	struct mail_decoder *decoder;
	struct mail_charset_conv *conv;
	struct mail_html_text *html;
	struct buf decoded, converted, text;
	bool to_callback, to_preview;
};

struct stack_entry {
	struct mail_part *part;
	struct mail_part *last_child;
	char *boundary; /* multipart with a usable boundary */
	size_t boundary_len;
	bool boundary_active;
	bool digest;
	uint64_t body_lf_start;
};

struct mail_parser {
	const struct mail_parser_text_callbacks *cb;
	void *context;
	struct mail_parse_result *result;

	struct stack_entry stack[MAIL_MAX_DEPTH + 1];
	unsigned int depth;
	unsigned int part_count;
	unsigned int active_boundaries;
	bool in_header; /* the top part's header is being read */

	uint64_t offset;     /* bytes consumed */
	uint64_t line_start; /* offset of the current line */
	uint64_t line_len;   /* bytes of it so far, without LF */
	uint64_t lf_count;   /* LFs before the current line */
	unsigned int prev_eol_len;
	uint8_t prefix[LINE_PREFIX_MAX];
	size_t prefix_len;
	uint8_t last_byte;

	struct buf header;
	size_t header_line_start;

	/* body text of the current leaf, when wanted */
	struct text_pipe *pipe;
	bool line_decided;  /* current line known not to be a boundary */
	bool line_boundary; /* current line known to be a boundary */
	bool held_cr;
	uint8_t pending_eol[2];
	unsigned int pending_eol_len;

	struct mail_preview preview;
	bool preview_done;
};

/* arena */

static void *
arena_alloc(struct arena *a, size_t size)
{
	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (size > MAIL_MAX_PARSE_MEMORY - a->total)
		return NULL;
	struct arena_block *b = a->blocks;
	if (b == NULL || b->size - b->used < size) {
		size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		b = mail_xcalloc(1, sizeof(*b) + bsize);
		b->size = bsize;
		b->next = a->blocks;
		a->blocks = b;
	}
	void *p = (uint8_t *)b->data + b->used;
	b->used += size;
	a->total += size;
	memset(p, 0, size);
	return p;
}

static const char *
arena_strndup(struct arena *a, const void *data, size_t len)
{
	if (len > MAIL_MAX_FIELD_VALUE)
		len = MAIL_MAX_FIELD_VALUE;
	char *p = arena_alloc(a, len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

static void
arena_free(struct arena *a)
{
	while (a->blocks != NULL) {
		struct arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	a->total = 0;
}

/* text pipeline */

static void
pipe_deliver(struct mail_parser *p, struct text_pipe *tp,
	     const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	if (tp->to_callback && p->cb->body != NULL)
		p->cb->body(p->context, tp->part, data, len);
	if (tp->to_preview && !p->preview.full)
		mail_preview_add(&p->preview, data, len);
}

static void
pipe_process(struct mail_parser *p, struct text_pipe *tp, bool final)
{
	struct buf *text = &tp->converted;

	if (final)
		mail_charset_conv_finish(tp->conv, &tp->converted);
	if (tp->html != NULL) {
		mail_html_text_feed(tp->html, tp->converted.data,
				    tp->converted.len, &tp->text);
		if (final)
			mail_html_text_finish(tp->html, &tp->text);
		text = &tp->text;
	}
	pipe_deliver(p, tp, text->data, text->len);
	buf_reset(&tp->decoded);
	buf_reset(&tp->converted);
	buf_reset(&tp->text);
}

static void
pipe_feed(struct mail_parser *p, const uint8_t *data, size_t len)
{
	struct text_pipe *tp = p->pipe;

	/* only the preview wanted it, and the preview is complete */
	if (!tp->to_callback && p->preview.full)
		return;
	while (len > 0) {
		size_t n = len < TEXT_SLICE ? len : TEXT_SLICE;
		mail_decoder_feed(tp->decoder, data, n, &tp->decoded);
		mail_charset_conv_feed(tp->conv, tp->decoded.data,
				       tp->decoded.len, &tp->converted);
		pipe_process(p, tp, false);
		data += n;
		len -= n;
	}
}

static void
pipe_finish(struct mail_parser *p)
{
	struct text_pipe *tp = p->pipe;

	if (tp == NULL)
		return;
	mail_decoder_finish(tp->decoder, &tp->decoded);
	mail_charset_conv_feed(tp->conv, tp->decoded.data, tp->decoded.len,
			       &tp->converted);
	pipe_process(p, tp, true);
	if (tp->to_preview && p->preview.chars > 0)
		p->preview_done = true;
	mail_decoder_destroy(&tp->decoder);
	mail_charset_conv_destroy(&tp->conv);
	if (tp->html != NULL)
		mail_html_text_destroy(&tp->html);
	buf_free(&tp->decoded);
	buf_free(&tp->converted);
	buf_free(&tp->text);
	free(tp);
	p->pipe = NULL;
	p->held_cr = false;
	p->pending_eol_len = 0;
}

static const char *
part_param(const struct mail_part *part, const char *name)
{
	for (unsigned int i = 0; i < part->param_count; i++) {
		if (strcasecmp(part->params[i].name, name) == 0)
			return part->params[i].value;
	}
	return NULL;
}

static void
pipe_start(struct mail_parser *p, const struct mail_part *part)
{
	bool callback = p->cb != NULL && p->cb->body != NULL;
	/* RFC 8970 3.3: text meant for reading. Only plain and HTML
	   qualify: a text/calendar or text/csv part is data, and its
	   first line makes a poor preview. */
	bool preview = !p->preview_done &&
		(strcasecmp(part->subtype, "plain") == 0 ||
		 strcasecmp(part->subtype, "html") == 0) &&
		(part->disposition == NULL ||
		 strcasecmp(part->disposition, "attachment") != 0);

	if ((!callback && !preview) || part->encoding == MAIL_ENCODING_UNKNOWN)
		return;
	struct text_pipe *tp = mail_xcalloc(1, sizeof(*tp));
	tp->part = part;
	tp->decoder = mail_decoder_create(part->encoding);
	tp->conv = mail_charset_conv_create(part_param(part, "charset"));
	if (strcasecmp(part->subtype, "html") == 0)
		tp->html = mail_html_text_create();
	buf_init(&tp->decoded, 0);
	buf_init(&tp->converted, 0);
	buf_init(&tp->text, 0);
	tp->to_callback = callback;
	tp->to_preview = preview;
	p->pipe = tp;
}

/* header fields */

struct header_ctx {
	struct mail_parser *parser;
	struct mail_part *part;
	struct mail_envelope *env;
	struct buf value;
	struct buf tmp, tmp2;
	bool seen_ct, seen_cte, seen_cd, seen_cl, seen_loc, seen_id,
		seen_desc, seen_md5;
	/* parameters being collected */
	struct mail_param params[MAIL_MAX_PARAMS];
	unsigned int param_count;
	/* address list being collected */
	struct mail_address *addr_head, **addr_tail;
	const char *langs[MAIL_MAX_PARAMS];
	unsigned int lang_count;
	bool env_seen[6];
	bool have_ct;
};

static const char *
ctx_strdup(struct header_ctx *ctx, const char *s)
{
	return s == NULL ? NULL :
		arena_strndup(&ctx->parser->result->arena, s, strlen(s));
}

static void
param_cb(void *context, const char *name, const char *value)
{
	struct header_ctx *ctx = context;

	if (ctx->param_count == MAIL_MAX_PARAMS)
		return;
	const char *n = ctx_strdup(ctx, name), *v = ctx_strdup(ctx, value);
	if (n == NULL || v == NULL)
		return;
	ctx->params[ctx->param_count].name = n;
	ctx->params[ctx->param_count].value = v;
	ctx->param_count++;
}

static const struct mail_param *
ctx_take_params(struct header_ctx *ctx, unsigned int *count_r)
{
	struct mail_param *arr = NULL;

	*count_r = 0;
	if (ctx->param_count > 0) {
		arr = arena_alloc(&ctx->parser->result->arena,
				  ctx->param_count * sizeof(*arr));
		if (arr != NULL) {
			memcpy(arr, ctx->params,
			       ctx->param_count * sizeof(*arr));
			*count_r = ctx->param_count;
		}
	}
	ctx->param_count = 0;
	return arr;
}

static void
address_cb(void *context, const char *name, const char *route,
	   const char *mailbox, const char *host)
{
	struct header_ctx *ctx = context;
	struct mail_address *a =
		arena_alloc(&ctx->parser->result->arena, sizeof(*a));

	if (a == NULL)
		return;
	a->name = ctx_strdup(ctx, name);
	a->route = ctx_strdup(ctx, route);
	a->mailbox = ctx_strdup(ctx, mailbox);
	a->host = ctx_strdup(ctx, host);
	*ctx->addr_tail = a;
	ctx->addr_tail = &a->next;
}

static struct mail_address *
parse_addresses(struct header_ctx *ctx, const struct buf *value)
{
	ctx->addr_head = NULL;
	ctx->addr_tail = &ctx->addr_head;
	mail_header_parse_addresses(value->data, value->len, address_cb, ctx);
	return ctx->addr_head;
}

static void
lang_cb(void *context, const char *tag)
{
	struct header_ctx *ctx = context;
	const char *t = ctx_strdup(ctx, tag);

	if (t != NULL && ctx->lang_count < MAIL_MAX_PARAMS)
		ctx->langs[ctx->lang_count++] = t;
}

static bool
name_is(const uint8_t *name, size_t len, const char *want)
{
	return strlen(want) == len &&
		strncasecmp((const char *)name, want, len) == 0;
}

static void
envelope_field(struct header_ctx *ctx, const uint8_t *name, size_t nlen)
{
	struct mail_envelope *env = ctx->env;
	struct buf *v = &ctx->value;
	const char *s = buf_cstr(v);

#define ENV_STR(field, hname) \
	if (name_is(name, nlen, hname)) { \
		if (env->field == NULL) \
			env->field = ctx_strdup(ctx, s); \
		return; \
	}
#define ENV_ADDR(field, seen, hname) \
	if (name_is(name, nlen, hname)) { \
		if (!(seen)) { \
			seen = true; \
			env->field = parse_addresses(ctx, v); \
		} \
		return; \
	}
	ENV_STR(date, "Date")
	ENV_STR(subject, "Subject")
	ENV_STR(in_reply_to, "In-Reply-To")
	ENV_STR(message_id, "Message-ID")
	ENV_ADDR(from, ctx->env_seen[0], "From")
	ENV_ADDR(sender, ctx->env_seen[1], "Sender")
	ENV_ADDR(reply_to, ctx->env_seen[2], "Reply-To")
	ENV_ADDR(to, ctx->env_seen[3], "To")
	ENV_ADDR(cc, ctx->env_seen[4], "Cc")
	ENV_ADDR(bcc, ctx->env_seen[5], "Bcc")
#undef ENV_STR
#undef ENV_ADDR
}

static void
content_field(struct header_ctx *ctx, const uint8_t *name, size_t nlen)
{
	struct mail_part *part = ctx->part;
	struct buf *v = &ctx->value;

	if (nlen <= 8 || strncasecmp((const char *)name, "Content-", 8) != 0)
		return;
	buf_reset(&ctx->tmp);
	buf_reset(&ctx->tmp2);
	if (name_is(name, nlen, "Content-Type")) {
		if (ctx->seen_ct)
			return;
		ctx->seen_ct = true;
		ctx->param_count = 0;
		if (mail_header_parse_content(v->data, v->len, true, &ctx->tmp,
					      &ctx->tmp2, param_cb, ctx) < 0)
			return;
		const char *t = ctx_strdup(ctx, buf_cstr(&ctx->tmp));
		const char *st = ctx_strdup(ctx, buf_cstr(&ctx->tmp2));
		if (t == NULL || st == NULL) {
			ctx->param_count = 0;
			return;
		}
		part->type = t;
		part->subtype = st;
		part->params = ctx_take_params(ctx, &part->param_count);
		ctx->have_ct = true;
	} else if (name_is(name, nlen, "Content-Transfer-Encoding")) {
		if (ctx->seen_cte)
			return;
		ctx->seen_cte = true;
		if (mail_header_parse_token(v->data, v->len, &ctx->tmp) == 0) {
			part->encoding_name =
				ctx_strdup(ctx, buf_cstr(&ctx->tmp));
			part->encoding =
				mail_encoding_from_name(buf_cstr(&ctx->tmp));
		}
	} else if (name_is(name, nlen, "Content-Disposition")) {
		if (ctx->seen_cd)
			return;
		ctx->seen_cd = true;
		ctx->param_count = 0;
		if (mail_header_parse_content(v->data, v->len, false, &ctx->tmp,
					      NULL, param_cb, ctx) < 0)
			return;
		part->disposition = ctx_strdup(ctx, buf_cstr(&ctx->tmp));
		part->disposition_params =
			ctx_take_params(ctx, &part->disposition_param_count);
	} else if (name_is(name, nlen, "Content-Language")) {
		if (ctx->seen_cl)
			return;
		ctx->seen_cl = true;
		mail_header_parse_languages(v->data, v->len, lang_cb, ctx);
		if (ctx->lang_count > 0) {
			const char **arr = arena_alloc(
				&ctx->parser->result->arena,
				ctx->lang_count * sizeof(*arr));
			if (arr != NULL) {
				memcpy(arr, ctx->langs,
				       ctx->lang_count * sizeof(*arr));
				part->languages = arr;
				part->language_count = ctx->lang_count;
			}
		}
	} else if (name_is(name, nlen, "Content-Location")) {
		if (!ctx->seen_loc)
			part->location = ctx_strdup(ctx, buf_cstr(v));
		ctx->seen_loc = true;
	} else if (name_is(name, nlen, "Content-ID")) {
		if (!ctx->seen_id)
			part->id = ctx_strdup(ctx, buf_cstr(v));
		ctx->seen_id = true;
	} else if (name_is(name, nlen, "Content-Description")) {
		if (!ctx->seen_desc)
			part->description = ctx_strdup(ctx, buf_cstr(v));
		ctx->seen_desc = true;
	} else if (name_is(name, nlen, "Content-MD5")) {
		if (!ctx->seen_md5)
			part->md5 = ctx_strdup(ctx, buf_cstr(v));
		ctx->seen_md5 = true;
	}
}

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Splits the buffered header into fields (RFC 5322 2.2: a field goes on
   while the next line starts with whitespace) and parses the ones we
   keep. Lines without a colon are skipped. */
static void
parse_header_block(struct mail_parser *p, struct mail_part *part,
		   struct mail_envelope *env)
{
	const uint8_t *d = p->header.data;
	size_t len = p->header.len, i = 0;
	struct header_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.parser = p;
	ctx.part = part;
	ctx.env = env;
	buf_init(&ctx.value, 0);
	buf_init(&ctx.tmp, 0);
	buf_init(&ctx.tmp2, 0);
	while (i < len) {
		size_t start = i, end;
		for (;;) {
			const uint8_t *lf = memchr(d + i, '\n', len - i);
			if (lf == NULL) {
				i = end = len;
				break;
			}
			i = (size_t)(lf - d) + 1;
			if (i < len && is_wsp(d[i]))
				continue;
			end = i;
			break;
		}
		if (is_wsp(d[start]))
			continue;
		const uint8_t *colon = memchr(d + start, ':', end - start);
		if (colon == NULL)
			continue;
		const uint8_t *name = d + start;
		size_t nlen = (size_t)(colon - name);
		while (nlen > 0 && is_wsp(name[nlen - 1]))
			nlen--;
		if (nlen == 0)
			continue;
		const uint8_t *value = colon + 1;
		size_t vlen = (size_t)(d + end - value);
		buf_reset(&ctx.value);
		mail_header_unfold(value, vlen, &ctx.value);
		if (env != NULL)
			envelope_field(&ctx, name, nlen);
		content_field(&ctx, name, nlen);
		if (p->cb != NULL && p->cb->header != NULL) {
			buf_reset(&ctx.tmp);
			buf_reset(&ctx.tmp2);
			buf_append(&ctx.tmp2, name, nlen);
			mail_header_decode_2047(ctx.value.data, ctx.value.len,
						&ctx.tmp);
			p->cb->header(p->context, part, buf_cstr(&ctx.tmp2),
				      buf_cstr(&ctx.tmp));
		}
	}
	buf_free(&ctx.value);
	buf_free(&ctx.tmp);
	buf_free(&ctx.tmp2);
	if (!ctx.have_ct)
		part->flags |= PART_FLAG_NO_TYPE;
}

/* the part tree */

static const struct mail_param default_text_params[] = {
	{ "charset", "us-ascii" },
};

static struct mail_part *
part_new(struct mail_parser *p, uint64_t header_offset)
{
	if (p->part_count >= MAIL_MAX_PARTS)
		return NULL;
	struct mail_part *part = arena_alloc(&p->result->arena, sizeof(*part));
	if (part == NULL)
		return NULL;
	p->part_count++;
	part->header_offset = header_offset;
	part->body_offset = header_offset;
	part->body_end = header_offset;
	part->type = "text";
	part->subtype = "plain";
	return part;
}

static void
push(struct mail_parser *p, struct mail_part *part)
{
	struct stack_entry *parent = &p->stack[p->depth - 1];

	part->parent = parent->part;
	if (parent->last_child == NULL)
		parent->part->children = part;
	else
		parent->last_child->next = part;
	parent->last_child = part;
	parent->part->child_count++;

	struct stack_entry *e = &p->stack[p->depth++];
	memset(e, 0, sizeof(*e));
	e->part = part;
	p->in_header = true;
	p->header_line_start = 0;
	buf_reset(&p->header);
}

static void
boundary_set_active(struct mail_parser *p, struct stack_entry *e, bool on)
{
	if (e->boundary_active == on)
		return;
	e->boundary_active = on;
	if (on)
		p->active_boundaries++;
	else
		p->active_boundaries--;
}

/* The header of the top part ends; its body starts at body_offset. */
static void
header_end(struct mail_parser *p, uint64_t body_offset)
{
	struct stack_entry *e = &p->stack[p->depth - 1];
	struct mail_part *part = e->part;
	struct mail_envelope *env = NULL;

	p->in_header = false;
	part->body_offset = body_offset;
	part->body_end = body_offset;
	e->body_lf_start = p->lf_count;
	if (part->parent == NULL ||
	    (part->parent->flags & MAIL_PART_FLAG_MESSAGE) != 0) {
		env = arena_alloc(&p->result->arena, sizeof(*env));
		if (env != NULL) {
			part->envelope = env;
			part->flags |= MAIL_PART_FLAG_IS_MESSAGE;
		}
	}
	parse_header_block(p, part, env);
	buf_reset(&p->header);

	if ((part->flags & PART_FLAG_NO_TYPE) != 0) {
		part->flags &= ~(unsigned int)PART_FLAG_NO_TYPE;
		if (p->depth >= 2 && p->stack[p->depth - 2].digest) {
			part->type = "message";
			part->subtype = "rfc822";
		} else {
			/* RFC 2045 5.2: missing or invalid -> text/plain */
			part->type = "text";
			part->subtype = "plain";
			part->params = default_text_params;
			part->param_count = 1;
		}
	}

	if (strcasecmp(part->type, "text") == 0 &&
	    part_param(part, "charset") == NULL) {
		/* RFC 2045 5.2 / RFC 2046 4.1.2: the default charset, made
		   explicit as servers do in BODYSTRUCTURE */
		struct mail_param *arr = arena_alloc(
			&p->result->arena,
			(part->param_count + 1) * sizeof(*arr));
		if (arr != NULL) {
			arr[0] = default_text_params[0];
			if (part->param_count > 0)
				memcpy(arr + 1, part->params,
				       part->param_count * sizeof(*arr));
			part->params = arr;
			part->param_count++;
		}
	}

	bool multipart = strcasecmp(part->type, "multipart") == 0;
	bool message = strcasecmp(part->type, "message") == 0 &&
		(strcasecmp(part->subtype, "rfc822") == 0 ||
		 strcasecmp(part->subtype, "global") == 0);
	if ((multipart || message) && p->depth >= MAIL_MAX_DEPTH) {
		part->type = "application";
		part->subtype = "octet-stream";
		part->flags |= MAIL_PART_FLAG_OPAQUE;
		multipart = message = false;
	}
	if (multipart) {
		part->flags |= MAIL_PART_FLAG_MULTIPART;
		e->digest = strcasecmp(part->subtype, "digest") == 0;
		const char *b = part_param(part, "boundary");
		size_t blen = b == NULL ? 0 : strlen(b);
		if (blen > 0 && blen <= MAIL_MAX_BOUNDARY_LEN) {
			e->boundary = (char *)b;
			e->boundary_len = blen;
			boundary_set_active(p, e, true);
		}
	} else if (message) {
		struct mail_part *child = part_new(p, body_offset);
		if (child != NULL) {
			part->flags |= MAIL_PART_FLAG_MESSAGE;
			push(p, child);
		} else {
			/* too many parts: cannot describe it as a message */
			part->type = "application";
			part->subtype = "octet-stream";
			part->flags |= MAIL_PART_FLAG_OPAQUE;
		}
	} else {
		if (strcasecmp(part->type, "text") == 0)
			part->flags |= MAIL_PART_FLAG_TEXT;
		if ((part->flags & MAIL_PART_FLAG_TEXT) != 0)
			pipe_start(p, part);
	}
}

/* Ends the top part's body at end (with lf_end LFs before end) and pops
   it. */
static void
pop(struct mail_parser *p, uint64_t end, uint64_t lf_end)
{
	struct stack_entry *e = &p->stack[p->depth - 1];
	struct mail_part *part = e->part;

	/* header_end may push an encapsulated message, whose header ends
	   here too */
	while (p->in_header) {
		part = p->stack[p->depth - 1].part;
		header_end(p, end > part->header_offset ? end :
			   part->header_offset);
	}
	e = &p->stack[p->depth - 1];
	part = e->part;
	if (p->pipe != NULL && p->pipe->part == part)
		pipe_finish(p);
	if (end > part->body_offset) {
		part->body_end = end;
		part->body_lines = lf_end - e->body_lf_start;
	} else {
		part->body_end = part->body_offset;
		part->body_lines = 0;
	}
	boundary_set_active(p, e, false);
	p->depth--;
	p->in_header = false;
}

/* Which open multipart's boundary the line in prefix starts, the longest
   match (RFC 2046 5.1.2 wants none to be a prefix of another, mail does
   not always comply). Returns the stack index or -1. */
static int
boundary_find(const struct mail_parser *p, bool *close_r)
{
	int best = -1;
	size_t best_len = 0;

	if (p->prefix_len < 2 || p->prefix[0] != '-' || p->prefix[1] != '-')
		return -1;
	for (unsigned int i = p->depth; i-- > 0;) {
		const struct stack_entry *e = &p->stack[i];
		if (!e->boundary_active || e->boundary_len <= best_len)
			continue;
		if (p->prefix_len - 2 >= e->boundary_len &&
		    memcmp(p->prefix + 2, e->boundary, e->boundary_len) == 0) {
			best = (int)i;
			best_len = e->boundary_len;
		}
	}
	if (best >= 0) {
		*close_r = p->prefix_len >= 2 + best_len + 2 &&
			p->prefix[2 + best_len] == '-' &&
			p->prefix[3 + best_len] == '-';
	}
	return best;
}

static void
handle_boundary(struct mail_parser *p, unsigned int k, bool close,
		bool has_lf, uint64_t next_offset)
{
	/* the line break before the boundary line belongs to it */
	uint64_t end = p->line_start - p->prev_eol_len;
	uint64_t lf_end = p->lf_count - (p->prev_eol_len > 0 ? 1 : 0);

	while (p->depth - 1 > k)
		pop(p, end, lf_end);
	struct stack_entry *e = &p->stack[k];
	if (close || !has_lf) {
		/* a delimiter cut by the end of input starts no part */
		boundary_set_active(p, e, false);
		return;
	}
	struct mail_part *child = part_new(p, next_offset);
	if (child == NULL) {
		/* too many parts: the rest is epilogue */
		boundary_set_active(p, e, false);
		return;
	}
	push(p, child);
}

/* body text of the current line */

static void
text_emit(struct mail_parser *p, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	if (p->pending_eol_len > 0) {
		pipe_feed(p, p->pending_eol, p->pending_eol_len);
		p->pending_eol_len = 0;
	}
	if (p->held_cr) {
		pipe_feed(p, (const uint8_t *)"\r", 1);
		p->held_cr = false;
	}
	/* a CR at the end may be the start of the line break */
	if (data[len - 1] == '\r') {
		len--;
		p->held_cr = true;
	}
	pipe_feed(p, data, len);
}

static bool
line_may_be_boundary(const struct mail_parser *p)
{
	if (p->active_boundaries == 0)
		return false;
	if (p->prefix_len >= 1 && p->prefix[0] != '-')
		return false;
	if (p->prefix_len >= 2 && p->prefix[1] != '-')
		return false;
	return true;
}

static void
line_add(struct mail_parser *p, const uint8_t *data, size_t len)
{
	size_t to_prefix = LINE_PREFIX_MAX - p->prefix_len;

	if (len == 0)
		return;
	if (to_prefix > len)
		to_prefix = len;
	memcpy(p->prefix + p->prefix_len, data, to_prefix);
	p->prefix_len += to_prefix;
	p->line_len += len;
	p->last_byte = data[len - 1];
	if (memchr(data, '\0', len) != NULL)
		p->stack[p->depth - 1].part->flags |= MAIL_PART_FLAG_HAS_NUL;

	if (p->in_header) {
		/* keep what fits; NULs would cut C strings later */
		size_t room = p->header.max - p->header.len;
		size_t n = len < room ? len : room;
		uint8_t *dst = buf_reserve(&p->header, n);
		if (dst != NULL) {
			for (size_t i = 0; i < n; i++)
				dst[i] = data[i] == '\0' ? '?' : data[i];
			buf_commit(&p->header, n);
		}
		if (n < len)
			p->stack[p->depth - 1].part->flags |=
				MAIL_PART_FLAG_HEADER_TRUNCATED;
		return;
	}
	if (p->pipe == NULL || p->line_boundary)
		return;
	if (p->line_decided) {
		text_emit(p, data, len);
		return;
	}
	if (line_may_be_boundary(p)) {
		if (p->prefix_len < LINE_PREFIX_MAX)
			return; /* wait for more of the line */
		bool close;
		if (boundary_find(p, &close) >= 0) {
			p->line_boundary = true;
			return;
		}
	}
	/* not a boundary: emit what was held back plus this chunk */
	p->line_decided = true;
	size_t held = p->prefix_len - to_prefix;
	text_emit(p, p->prefix, held);
	text_emit(p, data, len);
}

static void
line_end(struct mail_parser *p, bool has_lf)
{
	unsigned int eol_len = 0;
	uint64_t next = p->line_start + p->line_len + (has_lf ? 1 : 0);
	bool close = false;
	int k;

	if (has_lf)
		eol_len = p->line_len > 0 && p->last_byte == '\r' ? 2 : 1;
	k = p->active_boundaries == 0 ? -1 : boundary_find(p, &close);
	if (k >= 0) {
		if (p->in_header)
			buf_truncate(&p->header, p->header_line_start);
		/* the held line break and CR belong to the boundary */
		p->pending_eol_len = 0;
		p->held_cr = false;
		handle_boundary(p, (unsigned int)k, close, has_lf, next);
		if (has_lf)
			p->lf_count++;
	} else if (p->in_header) {
		if (has_lf)
			p->lf_count++;
		if (has_lf && p->line_len == eol_len - 1) {
			header_end(p, next);
		} else if (has_lf) {
			size_t room = p->header.max - p->header.len;
			if (room > 0)
				buf_append_c(&p->header, '\n');
		}
		p->header_line_start = p->header.len;
	} else {
		if (p->pipe != NULL && !p->line_decided) {
			/* a short line that looked like a boundary but is
			   not one */
			text_emit(p, p->prefix, p->prefix_len);
		}
		if (p->pipe != NULL && has_lf) {
			/* an empty line emitted nothing, so the line break
			   before it is still held: it is body after all */
			if (p->pending_eol_len > 0) {
				pipe_feed(p, p->pending_eol,
					  p->pending_eol_len);
				p->pending_eol_len = 0;
			}
			if (p->held_cr) {
				p->held_cr = false;
				memcpy(p->pending_eol, "\r\n", 2);
				p->pending_eol_len = 2;
			} else {
				p->pending_eol[0] = '\n';
				p->pending_eol_len = 1;
			}
		}
		if (has_lf)
			p->lf_count++;
	}
	p->prev_eol_len = eol_len;
	p->line_start = next;
	p->line_len = 0;
	p->prefix_len = 0;
	p->last_byte = 0;
	p->line_decided = false;
	p->line_boundary = false;
}

struct mail_parser *
mail_parser_create(const struct mail_parser_text_callbacks *text_callbacks,
		   void *context)
{
	struct mail_parser *p = mail_xcalloc(1, sizeof(*p));

	p->cb = text_callbacks;
	p->context = context;
	p->result = mail_xcalloc(1, sizeof(*p->result));
	buf_init(&p->header, MAIL_MAX_HEADER_SIZE);
	mail_preview_init(&p->preview);

	struct mail_part *root = part_new(p, 0);
	/* the first part always fits in the budget */
	if (root == NULL)
		abort();
	p->result->root = root;
	p->stack[0].part = root;
	p->depth = 1;
	p->in_header = true;
	return p;
}

void
mail_parser_feed(struct mail_parser *p, const uint8_t *data, size_t len)
{
	while (len > 0) {
		const uint8_t *lf = memchr(data, '\n', len);
		size_t n = lf == NULL ? len : (size_t)(lf - data);

		line_add(p, data, n);
		if (lf != NULL) {
			line_end(p, true);
			n++;
		}
		p->offset += n;
		data += n;
		len -= n;
	}
}

struct mail_parse_result *
mail_parser_finish(struct mail_parser **_p)
{
	struct mail_parser *p = *_p;
	struct mail_parse_result *result = p->result;

	if (p->line_len > 0)
		line_end(p, false);
	/* the end of input ends every part, with its last line break */
	if (p->pipe != NULL && p->pending_eol_len > 0) {
		pipe_feed(p, p->pending_eol, p->pending_eol_len);
		p->pending_eol_len = 0;
	}
	if (p->pipe != NULL && p->held_cr) {
		pipe_feed(p, (const uint8_t *)"\r", 1);
		p->held_cr = false;
	}
	while (p->depth > 0)
		pop(p, p->offset, p->lf_count);
	result->size = p->offset;
	result->preview = mail_xstrndup(mail_preview_get(&p->preview),
					strlen(mail_preview_get(&p->preview)));
	mail_preview_deinit(&p->preview);
	buf_free(&p->header);
	free(p);
	*_p = NULL;
	return result;
}

const struct mail_part *
mail_parse_result_root(const struct mail_parse_result *result)
{
	return result->root;
}

const char *
mail_parse_result_preview(const struct mail_parse_result *result)
{
	return result->preview;
}

uint64_t
mail_parse_result_size(const struct mail_parse_result *result)
{
	return result->size;
}

void
mail_parse_result_free(struct mail_parse_result **_result)
{
	struct mail_parse_result *result = *_result;

	if (result == NULL)
		return;
	arena_free(&result->arena);
	free(result->preview);
	free(result);
	*_result = NULL;
}

struct mail_parse_result *
mail_parse(const uint8_t *data, size_t len)
{
	struct mail_parser *p = mail_parser_create(NULL, NULL);

	mail_parser_feed(p, data, len);
	return mail_parser_finish(&p);
}
