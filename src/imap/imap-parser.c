#include "imap/imap-parser.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/limits.h"

/* A small bump allocator owned by the parser: everything a command returns
   comes from here and goes away at once when the next command starts. The
   first chunk is kept so that a steady stream of small commands allocates
   nothing; larger ones are freed, so an idle session holds little. */
#define ARENA_CHUNK_SIZE 4096

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	uint8_t data[];
};

/* The largest token kept in the token buffer between commands; a larger
   one is freed so that an idle session does not hold it. */
#define TOKEN_KEEP_SIZE 4096

enum parser_state {
	/* Between commands: empty lines are skipped. */
	S_START,
	S_START_CR,
	S_TAG,
	S_NAME_START,
	S_NAME,
	/* Expecting an argument (after SP or "("). */
	S_ARG,
	/* After a complete argument: SP, ")" or end of line. */
	S_ARG_END,
	S_ATOM,
	S_LIT8_BRACE,
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT_SIZE,
	S_LIT_CLOSE,
	S_LIT_CR,
	S_LIT_LF,
	S_LIT_DATA,
	/* LITERAL_STREAM returned; waiting for stream_done/skip. */
	S_STREAM_WAIT,
	/* A CR ended a line: expecting LF. */
	S_EOL_LF,
	/* Error recovery. */
	S_SKIP_LINE,
	S_SKIP_LITERAL,
	S_FATAL,
};

/* While skipping a bad line we watch its end for a literal announcement
   "{n+}" CRLF (or "{n}"), to skip the literal a non-synchronising one
   brings. */
enum skip_tail {
	T_NONE,
	T_DIGITS,
	T_PLUS,
	T_CLOSED,
	T_CR,
};

struct list_level {
	struct imap_arg *items;
	unsigned int count;
	unsigned int cap;
	/* The LIST element in the level above. */
	unsigned int parent_idx;
};

struct imap_parser {
	struct imap_parser_settings set;
	bool authed;
	bool authed_next;

	/* Limits for the current command. */
	size_t max_line;
	size_t max_cmd;
	uint64_t max_lit;
	uint64_t max_skip;
	unsigned int max_depth;
	unsigned int max_args;

	struct arena_chunk *arena;

	enum parser_state state;
	/* The last command or error is still in use by the caller; drop it
	   when the next feed starts. */
	bool reset_pending;

	uint8_t *tok;
	size_t tok_len;
	size_t tok_cap;

	size_t line_len;
	size_t cmd_size;
	unsigned int args_total;

	struct imap_command cmd;
	bool is_append;
	unsigned int streams;

	struct list_level levels[IMAP_MAX_LIST_DEPTH + 1];
	unsigned int depth;

	unsigned int brackets;

	uint64_t lit_size;
	unsigned int lit_digits;
	bool lit_nonsync;
	bool lit_literal8;
	uint64_t lit_remaining;

	enum skip_tail skip_tail;
	uint64_t skip_num;
	unsigned int skip_digits;
	bool skip_nonsync;
	uint64_t skip_remaining;

	/* The byte being parsed, for error recovery. */
	uint8_t cur_byte;

	/* Line mode: skipping the rest of an over-long line. */
	bool line_skip;

	struct imap_parser_error error;
};

static void *
xmalloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		abort();
	return p;
}

static void *
arena_alloc(struct imap_parser *p, size_t size)
{
	struct arena_chunk *c = p->arena;

	/* Everything is 8-aligned: enough for struct imap_arg. */
	if (size > SIZE_MAX - 7)
		abort();
	size = (size + 7) & ~(size_t)7;
	if (c == NULL || c->size - c->used < size) {
		size_t csize = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;
		struct arena_chunk *n = xmalloc(sizeof(*n) + csize);

		n->size = csize;
		n->used = 0;
		n->next = c;
		p->arena = c = n;
	}
	void *ret = c->data + c->used;
	c->used += size;
	return ret;
}

static void
arena_reset(struct imap_parser *p)
{
	struct arena_chunk *c = p->arena;

	/* Keep only the oldest chunk, if it has the standard size. */
	while (c != NULL && c->next != NULL) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	if (c != NULL && c->size != ARENA_CHUNK_SIZE) {
		free(c);
		c = NULL;
	}
	if (c != NULL)
		c->used = 0;
	p->arena = c;
}

static void
tok_append(struct imap_parser *p, const uint8_t *data, size_t len)
{
	/* Callers have checked len against a line or literal limit, so the
	   buffer never outgrows those. */
	if (len == 0)
		return;
	if (p->tok_cap - p->tok_len < len) {
		size_t cap = p->tok_cap == 0 ? 128 : p->tok_cap;

		while (cap - p->tok_len < len) {
			if (cap > SIZE_MAX / 2)
				abort();
			cap *= 2;
		}
		uint8_t *n = realloc(p->tok, cap);
		if (n == NULL)
			abort();
		p->tok = n;
		p->tok_cap = cap;
	}
	memcpy(p->tok + p->tok_len, data, len);
	p->tok_len += len;
}

static const uint8_t *
tok_dup(struct imap_parser *p)
{
	uint8_t *s = arena_alloc(p, p->tok_len + 1);

	if (p->tok_len > 0)
		memcpy(s, p->tok, p->tok_len);
	s[p->tok_len] = '\0';
	return s;
}

static void
tok_release(struct imap_parser *p)
{
	p->tok_len = 0;
	if (p->tok_cap > TOKEN_KEEP_SIZE) {
		free(p->tok);
		p->tok = NULL;
		p->tok_cap = 0;
	}
}

static void
parser_apply_limits(struct imap_parser *p)
{
	p->authed = p->authed_next;
	if (p->authed) {
		p->max_line = IMAP_MAX_LINE;
		p->max_cmd = IMAP_MAX_COMMAND_SIZE;
		p->max_lit = IMAP_MAX_LITERAL_MEM;
		p->max_skip = IMAP_MAX_SKIP_LITERAL;
		p->max_depth = IMAP_MAX_LIST_DEPTH;
		p->max_args = IMAP_MAX_ARGS;
	} else {
		p->max_line = IMAP_MAX_LINE_PREAUTH;
		p->max_cmd = IMAP_MAX_COMMAND_SIZE_PREAUTH;
		p->max_lit = IMAP_MAX_LITERAL_MEM_PREAUTH;
		p->max_skip = IMAP_MAX_SKIP_LITERAL_PREAUTH;
		p->max_depth = IMAP_MAX_LIST_DEPTH_PREAUTH;
		p->max_args = IMAP_MAX_ARGS_PREAUTH;
	}
}

/* Forgets the previous command; called when a new one may start. */
static void
parser_new_command(struct imap_parser *p)
{
	arena_reset(p);
	tok_release(p);
	memset(&p->cmd, 0, sizeof(p->cmd));
	memset(&p->error, 0, sizeof(p->error));
	memset(p->levels, 0, sizeof(p->levels[0]) * (p->depth + 1));
	p->depth = 0;
	p->line_len = 0;
	p->cmd_size = 0;
	p->args_total = 0;
	p->is_append = false;
	p->streams = 0;
	p->brackets = 0;
	p->reset_pending = false;
	parser_apply_limits(p);
}

struct imap_parser *
imap_parser_create(const struct imap_parser_settings *set)
{
	struct imap_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		abort();
	if (set != NULL)
		p->set = *set;
	if (p->set.max_message_size == 0)
		p->set.max_message_size = IMAP_DEFAULT_MAX_MESSAGE_SIZE;
	p->state = S_START;
	parser_new_command(p);
	return p;
}

void
imap_parser_destroy(struct imap_parser **parser)
{
	struct imap_parser *p = *parser;

	if (p == NULL)
		return;
	*parser = NULL;
	while (p->arena != NULL) {
		struct arena_chunk *next = p->arena->next;
		free(p->arena);
		p->arena = next;
	}
	free(p->tok);
	free(p);
}

void
imap_parser_set_authenticated(struct imap_parser *parser, bool authed)
{
	parser->authed_next = authed;
}

void
imap_parser_reset(struct imap_parser *parser)
{
	parser->state = S_START;
	parser->line_skip = false;
	parser_new_command(parser);
}

bool
imap_parser_is_idle(const struct imap_parser *parser)
{
	return parser->state == S_START && !parser->line_skip;
}

const struct imap_parser_error *
imap_parser_get_error(const struct imap_parser *parser)
{
	return &parser->error;
}

/* Gives the caller a view of the command so far: the lists still open
   get their elements up to now. */
static const struct imap_command *
parser_view(struct imap_parser *p)
{
	for (unsigned int i = p->depth; i > 0; i--) {
		struct list_level *lv = &p->levels[i];
		struct imap_arg *parent =
			&p->levels[i - 1].items[lv->parent_idx];

		parent->list = lv->items;
		parent->list_count = lv->count;
	}
	p->cmd.args = p->levels[0].items;
	p->cmd.args_count = p->levels[0].count;
	return &p->cmd;
}

/* Appends an element to the innermost open list. */
static struct imap_arg *
parser_add_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct list_level *lv = &p->levels[p->depth];

	if (lv->count == lv->cap) {
		unsigned int cap = lv->cap == 0 ? 8 : lv->cap * 2;
		struct imap_arg *n = arena_alloc(p, sizeof(*n) * cap);

		if (lv->count > 0)
			memcpy(n, lv->items, sizeof(*n) * lv->count);
		lv->items = n;
		lv->cap = cap;
	}
	struct imap_arg *arg = &lv->items[lv->count++];
	memset(arg, 0, sizeof(*arg));
	arg->type = type;
	p->args_total++;
	return arg;
}

static void
skip_tail_from_literal(struct imap_parser *p)
{
	/* An error inside a literal announcement: keep what we saw of it so
	   the skipping still notices the literal. */
	p->skip_num = p->lit_size;
	p->skip_digits = p->lit_digits;
	p->skip_nonsync = p->lit_nonsync;
	switch (p->state) {
	case S_LIT_SIZE:
		p->skip_tail = T_DIGITS;
		break;
	case S_LIT_CLOSE:
		p->skip_tail = T_PLUS;
		break;
	case S_LIT_CR:
		p->skip_tail = T_CLOSED;
		break;
	case S_LIT_LF:
		p->skip_tail = T_CR;
		break;
	default:
		p->skip_tail = T_NONE;
		break;
	}
}

static void
parser_error_set(struct imap_parser *p, enum imap_parser_error_kind kind,
		 const char *text)
{
	p->error.kind = kind;
	p->error.text = text;
	p->error.tag = p->cmd.tag;
	p->error.fatal = false;
	p->error.nonsync = false;
}

static enum imap_parse_result
parser_fail_literal(struct imap_parser *p, enum imap_parser_error_kind kind,
		    const char *text);
static bool parser_skip_byte(struct imap_parser *p, uint8_t c);

/* A syntax error: skip to the end of the line. at_eol says the byte that
   failed was the line's LF, so there is nothing left to skip. */
static enum imap_parse_result
parser_fail(struct imap_parser *p, const char *text, bool at_eol)
{
	if (at_eol && (p->state == S_LIT_CR || p->state == S_LIT_LF)) {
		/* The LF of a literal announcement: the literal follows. */
		return parser_fail_literal(p, IMAP_PARSER_ERR_BAD, text);
	}
	parser_error_set(p, IMAP_PARSER_ERR_BAD, text);
	if (at_eol) {
		p->state = S_START;
		p->reset_pending = true;
	} else {
		/* The failing byte belongs to the bad line: it may open a
		   literal announcement ("foo{3+}") the client believes in. */
		p->skip_tail = T_NONE;
		p->state = S_SKIP_LINE;
		(void)parser_skip_byte(p, p->cur_byte);
	}
	return IMAP_PARSE_ERROR;
}

/* A limit was hit before byte c was parsed: c is skipped like the rest
   of the line, and a literal announcement in progress is remembered so
   that its literal is skipped too. */
static enum imap_parse_result
parser_fail_limit(struct imap_parser *p, const char *text, uint8_t c)
{
	if (c == '\n')
		return parser_fail(p, text, true);
	parser_error_set(p, IMAP_PARSER_ERR_BAD, text);
	skip_tail_from_literal(p);
	p->state = S_SKIP_LINE;
	(void)parser_skip_byte(p, c);
	return IMAP_PARSE_ERROR;
}

/* A literal refused once its announcement's LF was read. The client sends
   a non-synchronising literal anyway: skip it and the rest of its line,
   unless it is too large to wait for. */
static enum imap_parse_result
parser_fail_literal(struct imap_parser *p, enum imap_parser_error_kind kind,
		    const char *text)
{
	parser_error_set(p, kind, text);
	if (!p->lit_nonsync) {
		p->state = S_START;
		p->reset_pending = true;
	} else if (p->lit_size > p->max_skip) {
		p->error.nonsync = true;
		p->error.fatal = true;
		p->state = S_FATAL;
	} else {
		p->error.nonsync = true;
		p->skip_remaining = p->lit_size;
		p->state = S_SKIP_LITERAL;
	}
	return IMAP_PARSE_ERROR;
}

static bool
is_tag_char(uint8_t c)
{
	/* tag = 1*<any ASTRING-CHAR except "+"> */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

static bool
is_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static bool
is_atom_char(uint8_t c)
{
	/* ATOM-CHAR plus the list wildcards and "]" (astring, LIST
	   patterns, sequence sets) and "\" (flags). Read liberally; the
	   command decides what it accepts. */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

static void
parser_finish_atom(struct imap_parser *p)
{
	bool nil = p->tok_len == 3 && strncasecmp((const char *)p->tok,
						  "NIL", 3) == 0;
	struct imap_arg *arg = parser_add_arg(p, nil ? IMAP_ARG_NIL :
					      IMAP_ARG_ATOM);

	arg->data = tok_dup(p);
	arg->len = p->tok_len;
	p->tok_len = 0;
}

static enum imap_parse_result
parser_open_list(struct imap_parser *p)
{
	if (p->depth >= p->max_depth)
		return parser_fail(p, "Too deeply nested lists", false);
	if (p->args_total >= p->max_args)
		return parser_fail(p, "Too many arguments", false);
	unsigned int idx = p->levels[p->depth].count;
	(void)parser_add_arg(p, IMAP_ARG_LIST);
	p->depth++;
	memset(&p->levels[p->depth], 0, sizeof(p->levels[0]));
	p->levels[p->depth].parent_idx = idx;
	p->state = S_ARG;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_result
parser_close_list(struct imap_parser *p)
{
	if (p->depth == 0)
		return parser_fail(p, "Unexpected ')'", false);
	struct list_level *lv = &p->levels[p->depth];
	struct imap_arg *parent = &p->levels[p->depth - 1].items[lv->parent_idx];

	parent->list = lv->items;
	parent->list_count = lv->count;
	p->depth--;
	p->state = S_ARG_END;
	return IMAP_PARSE_MORE;
}

/* The line's LF was read outside any token: the command is complete. */
static enum imap_parse_result
parser_end_line(struct imap_parser *p, const struct imap_command **cmd_r)
{
	if (p->depth > 0)
		return parser_fail(p, "Missing ')'", true);
	*cmd_r = parser_view(p);
	p->state = S_START;
	p->reset_pending = true;
	return IMAP_PARSE_DONE;
}

/* The LF after a literal's announcement was read: accept or refuse it. */
static enum imap_parse_result
parser_accept_literal(struct imap_parser *p, const struct imap_command **cmd_r)
{
	uint64_t n = p->lit_size;
	/* Every literal of APPEND but the mailbox name is message data. */
	bool stream = p->authed && p->is_append &&
		!(p->depth == 0 && p->levels[0].count == 0);

	if (p->lit_nonsync && p->set.literal_minus &&
	    n > IMAP_LITERAL_MINUS_MAX) {
		return parser_fail_literal(p, IMAP_PARSER_ERR_TOOBIG,
			"Non-synchronizing literal too large");
	}
	if (p->args_total >= p->max_args)
		return parser_fail_literal(p, IMAP_PARSER_ERR_BAD,
					   "Too many arguments");
	if (stream) {
		if (n > p->set.max_message_size)
			return parser_fail_literal(p, IMAP_PARSER_ERR_TOOBIG,
						   "Message too large");
		struct imap_arg *arg = parser_add_arg(p, IMAP_ARG_LITERAL);
		arg->len = n;
		arg->literal8 = p->lit_literal8;
		arg->streamed = true;
		arg->stream_index = p->streams++;
		p->cmd.stream_size = n;
		p->cmd.stream_literal8 = p->lit_literal8;
		p->cmd.stream_sync = !p->lit_nonsync;
		p->state = S_STREAM_WAIT;
		*cmd_r = parser_view(p);
		return IMAP_PARSE_LITERAL_STREAM;
	}
	if (n > p->max_lit)
		return parser_fail_literal(p, IMAP_PARSER_ERR_TOOBIG,
					   "Literal too large");
	if (n > p->max_cmd - p->cmd_size)
		return parser_fail_literal(p, IMAP_PARSER_ERR_TOOBIG,
					   "Command too large");
	p->cmd_size += n;
	p->lit_remaining = n;
	p->tok_len = 0;
	p->state = S_LIT_DATA;
	if (!p->lit_nonsync) {
		*cmd_r = parser_view(p);
		return IMAP_PARSE_LITERAL;
	}
	return IMAP_PARSE_MORE;
}

static void
parser_finish_literal(struct imap_parser *p)
{
	struct imap_arg *arg = parser_add_arg(p, IMAP_ARG_LITERAL);

	arg->data = tok_dup(p);
	arg->len = p->tok_len;
	arg->literal8 = p->lit_literal8;
	p->tok_len = 0;
	/* The bytes after a literal start a new line (RFC 9051 4.3). */
	p->line_len = 0;
	p->state = S_ARG_END;
}

static void
parser_start_literal(struct imap_parser *p, bool literal8)
{
	p->lit_size = 0;
	p->lit_digits = 0;
	p->lit_nonsync = false;
	p->lit_literal8 = literal8;
	p->state = S_LIT_SIZE;
}

/* Skips a bad line; returns true when its end was reached. */
static bool
parser_skip_byte(struct imap_parser *p, uint8_t c)
{
	switch (c) {
	case '{':
		p->skip_tail = T_DIGITS;
		p->skip_num = 0;
		p->skip_digits = 0;
		p->skip_nonsync = false;
		return false;
	case '\n':
		if (p->skip_tail == T_CLOSED || p->skip_tail == T_CR) {
			if (p->skip_nonsync) {
				p->skip_tail = T_NONE;
				if (p->skip_num > p->max_skip) {
					/* The bad command's error went out
					   already; this one ends the
					   connection and needs its own text. */
					parser_error_set(p,
						IMAP_PARSER_ERR_TOOBIG,
						"Literal too large to skip");
					p->error.fatal = true;
					p->state = S_FATAL;
					return false;
				}
				p->skip_remaining = p->skip_num;
				p->state = S_SKIP_LITERAL;
				return false;
			}
		}
		p->skip_tail = T_NONE;
		return true;
	default:
		break;
	}
	switch (p->skip_tail) {
	case T_DIGITS:
		if (c >= '0' && c <= '9') {
			if (p->skip_num > (UINT64_MAX - 9) / 10)
				p->skip_num = UINT64_MAX;
			else
				p->skip_num = p->skip_num * 10 + (c - '0');
			p->skip_digits++;
			return false;
		}
		if (p->skip_digits > 0 && c == '+') {
			p->skip_nonsync = true;
			p->skip_tail = T_PLUS;
			return false;
		}
		if (p->skip_digits > 0 && c == '}') {
			p->skip_tail = T_CLOSED;
			return false;
		}
		break;
	case T_PLUS:
		if (c == '}') {
			p->skip_tail = T_CLOSED;
			return false;
		}
		break;
	case T_CLOSED:
		if (c == '\r') {
			p->skip_tail = T_CR;
			return false;
		}
		break;
	default:
		break;
	}
	p->skip_tail = T_NONE;
	return false;
}

/* States that consume line bytes count them against the line and
   command limits. */
static bool
state_is_line(enum parser_state s)
{
	switch (s) {
	case S_START:
	case S_START_CR:
	case S_LIT_DATA:
	case S_STREAM_WAIT:
	case S_SKIP_LINE:
	case S_SKIP_LITERAL:
	case S_FATAL:
		return false;
	default:
		return true;
	}
}

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const uint8_t *in, size_t len,
		 size_t *used_r, const struct imap_command **cmd_r,
		 const char **error_r)
{
	enum imap_parse_result ret = IMAP_PARSE_MORE;
	size_t pos = 0;

	*cmd_r = NULL;
	*error_r = NULL;
	/* The caller must take the streamed literal first. */
	assert(p->state != S_STREAM_WAIT);

	if (p->reset_pending && p->state == S_START)
		parser_new_command(p);

	while (ret == IMAP_PARSE_MORE) {
		if (p->state == S_LIT_DATA && p->lit_remaining == 0) {
			parser_finish_literal(p);
			continue;
		}
		if (pos == len)
			break;
		if (p->state == S_LIT_DATA) {
			size_t n = len - pos;
			if (n > p->lit_remaining)
				n = (size_t)p->lit_remaining;
			/* RFC 9051 9: a literal is CHAR8 (no NUL) unless it
			   is literal8. */
			const uint8_t *nul = p->lit_literal8 ? NULL :
				memchr(in + pos, '\0', n);
			if (nul != NULL) {
				size_t k = (size_t)(nul - (in + pos)) + 1;
				pos += k;
				p->lit_remaining -= k;
				parser_error_set(p, IMAP_PARSER_ERR_BAD,
						 "NUL in literal");
				p->skip_remaining = p->lit_remaining;
				p->skip_tail = T_NONE;
				p->state = S_SKIP_LITERAL;
				ret = IMAP_PARSE_ERROR;
				break;
			}
			tok_append(p, in + pos, n);
			pos += n;
			p->lit_remaining -= n;
			continue;
		}
		if (p->state == S_SKIP_LITERAL) {
			size_t n = len - pos;
			if (n > p->skip_remaining)
				n = (size_t)p->skip_remaining;
			pos += n;
			p->skip_remaining -= n;
			if (p->skip_remaining == 0) {
				p->skip_tail = T_NONE;
				p->state = S_SKIP_LINE;
			}
			continue;
		}
		if (p->state == S_FATAL) {
			pos = len;
			ret = IMAP_PARSE_ERROR;
			break;
		}

		uint8_t c = in[pos++];
		p->cur_byte = c;

		if (state_is_line(p->state)) {
			if (++p->line_len > p->max_line) {
				ret = parser_fail_limit(p,
					"Command line too long", c);
				break;
			}
			if (++p->cmd_size > p->max_cmd) {
				ret = parser_fail_limit(p, "Command too large",
							c);
				break;
			}
		}

		switch (p->state) {
		case S_START:
			if (c == '\n')
				break;
			if (c == '\r') {
				p->state = S_START_CR;
				break;
			}
			if (p->reset_pending)
				parser_new_command(p);
			else
				parser_apply_limits(p);
			p->line_len = 1;
			p->cmd_size = 1;
			if (!is_tag_char(c)) {
				ret = parser_fail(p, "Invalid tag", false);
				break;
			}
			tok_append(p, &c, 1);
			p->state = S_TAG;
			break;
		case S_START_CR:
			if (c == '\n') {
				p->state = S_START;
				break;
			}
			ret = parser_fail(p, "CR without LF", false);
			break;
		case S_TAG:
			if (c == ' ') {
				p->cmd.tag = (const char *)tok_dup(p);
				p->tok_len = 0;
				p->state = S_NAME_START;
			} else if (c == '\r' || c == '\n') {
				p->cmd.tag = (const char *)tok_dup(p);
				p->tok_len = 0;
				ret = parser_fail(p, "Missing command name",
						  c == '\n');
			} else if (is_tag_char(c)) {
				tok_append(p, &c, 1);
			} else {
				ret = parser_fail(p, "Invalid tag", false);
			}
			break;
		case S_NAME_START:
			if (c == ' ')
				break;
			if (c == '\r' || c == '\n') {
				ret = parser_fail(p, "Missing command name",
						  c == '\n');
				break;
			}
			p->state = S_NAME;
			/* fall through */
		case S_NAME:
			if (is_name_char(c)) {
				tok_append(p, &c, 1);
				break;
			}
			if (c != ' ' && c != '\r' && c != '\n') {
				ret = parser_fail(p, "Invalid command name",
						  false);
				break;
			}
			p->cmd.name = (const char *)tok_dup(p);
			p->is_append = strcasecmp(p->cmd.name, "APPEND") == 0;
			p->tok_len = 0;
			if (c == ' ')
				p->state = S_ARG;
			else if (c == '\r')
				p->state = S_EOL_LF;
			else
				ret = parser_end_line(p, cmd_r);
			break;
		case S_ARG:
		case S_ARG_END:
			if (c == ' ') {
				p->state = S_ARG;
				break;
			}
			if (c == ')') {
				ret = parser_close_list(p);
				break;
			}
			if (c == '\r') {
				p->state = S_EOL_LF;
				break;
			}
			if (c == '\n') {
				ret = parser_end_line(p, cmd_r);
				break;
			}
			if (p->state == S_ARG_END) {
				ret = parser_fail(p,
					"Missing space after argument", false);
				break;
			}
			if (c == '(') {
				ret = parser_open_list(p);
				break;
			}
			if (p->args_total >= p->max_args) {
				ret = parser_fail(p, "Too many arguments",
						  false);
				break;
			}
			if (c == '"') {
				p->tok_len = 0;
				p->state = S_QUOTED;
			} else if (c == '{') {
				parser_start_literal(p, false);
			} else if (c == '~') {
				p->state = S_LIT8_BRACE;
			} else if (is_atom_char(c)) {
				p->tok_len = 0;
				p->brackets = c == '[' ? 1 : 0;
				tok_append(p, &c, 1);
				p->state = S_ATOM;
			} else {
				ret = parser_fail(p,
					"Invalid characters in atom", false);
			}
			break;
		case S_LIT8_BRACE:
			if (c == '{') {
				parser_start_literal(p, true);
				break;
			}
			/* Not literal8: an atom that starts with "~". */
			p->tok_len = 0;
			p->brackets = 0;
			tok_append(p, (const uint8_t *)"~", 1);
			p->state = S_ATOM;
			/* fall through */
		case S_ATOM:
			if (p->brackets > 0 &&
			    (c == ' ' || c == '(' || c == ')')) {
				/* FETCH BODY[HEADER.FIELDS (A B)] */
				tok_append(p, &c, 1);
				break;
			}
			if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
				parser_finish_atom(p);
				if (c == ' ') {
					p->state = S_ARG;
				} else if (c == ')') {
					ret = parser_close_list(p);
				} else if (c == '\r') {
					p->state = S_EOL_LF;
				} else {
					ret = parser_end_line(p, cmd_r);
				}
				break;
			}
			if (!is_atom_char(c)) {
				ret = parser_fail(p,
					"Invalid characters in atom", false);
				break;
			}
			if (c == '[')
				p->brackets++;
			else if (c == ']' && p->brackets > 0)
				p->brackets--;
			tok_append(p, &c, 1);
			break;
		case S_QUOTED:
			if (c == '"') {
				struct imap_arg *arg =
					parser_add_arg(p, IMAP_ARG_STRING);
				arg->data = tok_dup(p);
				arg->len = p->tok_len;
				p->tok_len = 0;
				p->state = S_ARG_END;
			} else if (c == '\\') {
				p->state = S_QUOTED_ESC;
			} else if (c == '\r' || c == '\n') {
				ret = parser_fail(p,
					"Unterminated quoted string",
					c == '\n');
			} else if (c == '\0') {
				ret = parser_fail(p,
					"NUL in quoted string", false);
			} else {
				tok_append(p, &c, 1);
			}
			break;
		case S_QUOTED_ESC:
			/* Only quoted-specials may be escaped. */
			if (c == '"' || c == '\\') {
				tok_append(p, &c, 1);
				p->state = S_QUOTED;
			} else {
				ret = parser_fail(p,
					"Invalid escape in quoted string",
					c == '\n');
			}
			break;
		case S_LIT_SIZE:
			if (c >= '0' && c <= '9') {
				/* number64 (RFC 9051 9): at most 2^63-1. */
				uint64_t d = (uint64_t)(c - '0');
				if (p->lit_size > ((uint64_t)INT64_MAX - d) / 10) {
					ret = parser_fail(p,
						"Invalid literal size", false);
					break;
				}
				p->lit_size = p->lit_size * 10 + d;
				p->lit_digits++;
				break;
			}
			if (p->lit_digits == 0 || (c != '+' && c != '}')) {
				ret = parser_fail(p, "Invalid literal size",
						  c == '\n');
				break;
			}
			if (c == '+') {
				p->lit_nonsync = true;
				p->state = S_LIT_CLOSE;
			} else {
				p->state = S_LIT_CR;
			}
			break;
		case S_LIT_CLOSE:
			if (c == '}')
				p->state = S_LIT_CR;
			else
				ret = parser_fail(p, "Invalid literal size",
						  c == '\n');
			break;
		case S_LIT_CR:
			if (c == '\r') {
				p->state = S_LIT_LF;
				break;
			}
			/* fall through */
		case S_LIT_LF:
			if (c == '\n')
				ret = parser_accept_literal(p, cmd_r);
			else
				ret = parser_fail(p,
					"Missing CRLF after literal", false);
			break;
		case S_EOL_LF:
			if (c == '\n')
				ret = parser_end_line(p, cmd_r);
			else
				ret = parser_fail(p, "CR without LF", false);
			break;
		case S_SKIP_LINE:
			if (parser_skip_byte(p, c)) {
				/* The error was returned by an earlier feed,
				   so its command can go now. */
				p->state = S_START;
				parser_new_command(p);
			}
			break;
		case S_LIT_DATA:
		case S_SKIP_LITERAL:
		case S_STREAM_WAIT:
		case S_FATAL:
			/* handled above */
			abort();
		}
	}
	if (ret == IMAP_PARSE_ERROR) {
		*error_r = p->error.text;
		if (*cmd_r == NULL && p->state != S_FATAL)
			*cmd_r = parser_view(p);
	}
	*used_r = pos;
	return ret;
}

void
imap_parser_stream_done(struct imap_parser *parser)
{
	assert(parser->state == S_STREAM_WAIT);
	/* The bytes after a literal start a new line. */
	parser->line_len = 0;
	parser->state = S_ARG_END;
}

void
imap_parser_stream_skip(struct imap_parser *parser)
{
	assert(parser->state == S_STREAM_WAIT);
	if (parser->cmd.stream_sync) {
		/* No "+" was sent: the client drops the command. */
		parser->state = S_START;
		parser->reset_pending = true;
	} else {
		parser->skip_remaining = parser->cmd.stream_size;
		parser->skip_tail = T_NONE;
		parser->state = S_SKIP_LITERAL;
	}
}

int
imap_parser_read_line(struct imap_parser *p, const uint8_t *in, size_t len,
		      size_t *used_r, const char **line_r, size_t *line_len_r,
		      const char **error_r)
{
	assert(p->state == S_START);
	if (p->reset_pending)
		parser_new_command(p);

	/* len 0 may come with in == NULL (an empty input buffer). */
	const uint8_t *lf = len > 0 ? memchr(in, '\n', len) : NULL;
	size_t skipped = 0;

	if (p->line_skip) {
		if (lf == NULL) {
			*used_r = len;
			return 0;
		}
		/* The over-long line ends here; read the next one. */
		p->line_skip = false;
		skipped = (size_t)(lf - in) + 1;
		in += skipped;
		len -= skipped;
		lf = memchr(in, '\n', len);
	}
	size_t n = lf == NULL ? len : (size_t)(lf - in);

	*used_r = skipped + (lf == NULL ? len : n + 1);
	/* +1: room for the CR that may precede LF. */
	if (n > p->max_line + 1 - p->tok_len) {
		p->tok_len = 0;
		p->line_skip = lf == NULL;
		*error_r = "Line too long";
		return -1;
	}
	if (n > 0)
		tok_append(p, in, n);
	if (lf == NULL)
		return 0;
	size_t l = p->tok_len;
	if (l > 0 && p->tok[l - 1] == '\r')
		l--;
	if (l > p->max_line) {
		p->tok_len = 0;
		*error_r = "Line too long";
		return -1;
	}
	uint8_t *line = arena_alloc(p, l + 1);
	if (l > 0)
		memcpy(line, p->tok, l);
	line[l] = '\0';
	p->tok_len = 0;
	/* The line stays valid until the next call. */
	p->reset_pending = true;
	*line_r = (const char *)line;
	*line_len_r = l;
	return 1;
}

bool
imap_arg_get_atom(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NIL)
		return false;
	*str_r = (const char *)arg->data;
	return true;
}

bool
imap_arg_get_string(const struct imap_arg *arg, const uint8_t **data_r,
		    size_t *len_r)
{
	if (arg->type != IMAP_ARG_STRING &&
	    (arg->type != IMAP_ARG_LITERAL || arg->streamed))
		return false;
	*data_r = arg->data;
	*len_r = arg->len;
	return true;
}

bool
imap_arg_get_astring(const struct imap_arg *arg, const uint8_t **data_r,
		     size_t *len_r)
{
	if (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) {
		*data_r = arg->data;
		*len_r = arg->len;
		return true;
	}
	return imap_arg_get_string(arg, data_r, len_r);
}

bool
imap_arg_get_nstring(const struct imap_arg *arg, const uint8_t **data_r,
		     size_t *len_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*data_r = NULL;
		*len_r = 0;
		return true;
	}
	return imap_arg_get_string(arg, data_r, len_r);
}

bool
imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
		  unsigned int *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*list_r = arg->list;
	*count_r = arg->list_count;
	return true;
}

bool
imap_arg_atom_equals(const struct imap_arg *arg, const char *word)
{
	return arg->type == IMAP_ARG_ATOM &&
		strcasecmp((const char *)arg->data, word) == 0;
}
