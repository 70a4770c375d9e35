/* Building a SEARCH program from parsed IMAP arguments. The grammar is
   RFC 9051 9 "search-key" (and RFC 3501's NEW, OLD, RECENT), RFC 4731
   "search-return-opts", RFC 7162 "search-modsequence", RFC 5032
   "search-key =/ older / younger". */
#include "search/search-program.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-date.h"
#include "imap/imap-parser.h"
#include "imap/imap-seqset.h"
#include "lib/limits.h"
#include "lib/mutf7.h"
#include "lib/strnum.h"
#include "store/store.h"

/* number64 (RFC 9051 9): 0 .. 2^63-1. */
#define SEARCH_NUMBER64_MAX 9223372036854775807ULL

static const char err_no_key[] = "SEARCH needs a search key.";
static const char err_unknown_key[] = "Unknown search key.";
static const char err_missing_arg[] = "Search key is missing its argument.";
static const char err_string[] = "Search key needs a string argument.";
static const char err_utf8[] = "Search string is not valid UTF-8.";
static const char err_date[] = "Invalid search date.";
static const char err_size[] = "Invalid size in search key.";
static const char err_interval[] = "Invalid interval in search key.";
static const char err_modseq[] = "Invalid MODSEQ value.";
static const char err_modseq_entry[] = "Invalid MODSEQ entry.";
static const char err_keyword[] = "Invalid keyword in search key.";
static const char err_objectid[] = "Invalid object id in search key.";
static const char err_header[] = "Invalid header field name.";
static const char err_seqset[] = "UID needs a sequence set.";
static const char err_not[] = "NOT needs a search key.";
static const char err_or[] = "OR needs two search keys.";
static const char err_empty_list[] = "Empty search key list.";
static const char err_return[] = "RETURN needs a list of options.";
static const char err_return_opt[] = "Unknown RETURN option.";
static const char err_charset[] = "CHARSET needs a charset name.";
static const char err_badcharset[] =
	"[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.";

enum key_arg {
	ARG_NONE,
	ARG_STRING,  /* astring search text */
	ARG_DATE,    /* date */
	ARG_SIZE,    /* number64 */
	ARG_SECONDS, /* nz-number (RFC 5032) */
	ARG_KEYWORD, /* flag-keyword */
	ARG_SEQSET,  /* sequence-set (UID key) */
	ARG_HEADER,  /* header-fld-name SP astring */
	ARG_MODSEQ,  /* [entry-name SP entry-type-req SP] mod-sequence-valzer */
	ARG_OBJECTID, /* objectid (RFC 8474 7) */
};

/* What a key emits, in postfix order: the main node, then an optional
   extra flag node and operators (NEW, UN*). */
enum key_shape {
	SHAPE_PLAIN, /* op */
	SHAPE_NOT,   /* op NOT */
	SHAPE_NEW,   /* RECENT FLAG(\Seen) NOT AND(2) */
};

struct key_def {
	const char *name;
	enum search_op op;
	enum key_arg arg;
	enum key_shape shape;
	uint8_t flag;
	const char *header; /* HEADER field for FROM, TO, ... */
};

static const struct key_def key_defs[] = {
	{ "ALL", SEARCH_OP_ALL, ARG_NONE, SHAPE_PLAIN, 0, NULL },
	{ "ANSWERED", SEARCH_OP_FLAG, ARG_NONE, SHAPE_PLAIN,
	  STORE_FLAG_ANSWERED, NULL },
	{ "BCC", SEARCH_OP_HEADER, ARG_STRING, SHAPE_PLAIN, 0, "Bcc" },
	{ "BEFORE", SEARCH_OP_BEFORE, ARG_DATE, SHAPE_PLAIN, 0, NULL },
	{ "BODY", SEARCH_OP_BODY, ARG_STRING, SHAPE_PLAIN, 0, NULL },
	{ "CC", SEARCH_OP_HEADER, ARG_STRING, SHAPE_PLAIN, 0, "Cc" },
	{ "DELETED", SEARCH_OP_FLAG, ARG_NONE, SHAPE_PLAIN,
	  STORE_FLAG_DELETED, NULL },
	{ "DRAFT", SEARCH_OP_FLAG, ARG_NONE, SHAPE_PLAIN, STORE_FLAG_DRAFT,
	  NULL },
	{ "EMAILID", SEARCH_OP_EMAILID, ARG_OBJECTID, SHAPE_PLAIN, 0, NULL },
	{ "FLAGGED", SEARCH_OP_FLAG, ARG_NONE, SHAPE_PLAIN,
	  STORE_FLAG_FLAGGED, NULL },
	{ "FROM", SEARCH_OP_HEADER, ARG_STRING, SHAPE_PLAIN, 0, "From" },
	{ "HEADER", SEARCH_OP_HEADER, ARG_HEADER, SHAPE_PLAIN, 0, NULL },
	{ "KEYWORD", SEARCH_OP_KEYWORD, ARG_KEYWORD, SHAPE_PLAIN, 0, NULL },
	{ "LARGER", SEARCH_OP_LARGER, ARG_SIZE, SHAPE_PLAIN, 0, NULL },
	{ "MODSEQ", SEARCH_OP_MODSEQ, ARG_MODSEQ, SHAPE_PLAIN, 0, NULL },
	{ "NEW", SEARCH_OP_RECENT, ARG_NONE, SHAPE_NEW, 0, NULL },
	{ "OLD", SEARCH_OP_RECENT, ARG_NONE, SHAPE_NOT, 0, NULL },
	{ "OLDER", SEARCH_OP_OLDER, ARG_SECONDS, SHAPE_PLAIN, 0, NULL },
	{ "ON", SEARCH_OP_ON, ARG_DATE, SHAPE_PLAIN, 0, NULL },
	{ "RECENT", SEARCH_OP_RECENT, ARG_NONE, SHAPE_PLAIN, 0, NULL },
	{ "SAVEDATESUPPORTED", SEARCH_OP_ALL, ARG_NONE, SHAPE_PLAIN, 0,
	  NULL },
	{ "SAVEDBEFORE", SEARCH_OP_SAVEDBEFORE, ARG_DATE, SHAPE_PLAIN, 0,
	  NULL },
	{ "SAVEDON", SEARCH_OP_SAVEDON, ARG_DATE, SHAPE_PLAIN, 0, NULL },
	{ "SAVEDSINCE", SEARCH_OP_SAVEDSINCE, ARG_DATE, SHAPE_PLAIN, 0,
	  NULL },
	{ "SEEN", SEARCH_OP_FLAG, ARG_NONE, SHAPE_PLAIN, STORE_FLAG_SEEN,
	  NULL },
	{ "SENTBEFORE", SEARCH_OP_SENTBEFORE, ARG_DATE, SHAPE_PLAIN, 0,
	  NULL },
	{ "SENTON", SEARCH_OP_SENTON, ARG_DATE, SHAPE_PLAIN, 0, NULL },
	{ "SENTSINCE", SEARCH_OP_SENTSINCE, ARG_DATE, SHAPE_PLAIN, 0, NULL },
	{ "SINCE", SEARCH_OP_SINCE, ARG_DATE, SHAPE_PLAIN, 0, NULL },
	{ "SMALLER", SEARCH_OP_SMALLER, ARG_SIZE, SHAPE_PLAIN, 0, NULL },
	{ "SUBJECT", SEARCH_OP_HEADER, ARG_STRING, SHAPE_PLAIN, 0,
	  "Subject" },
	{ "TEXT", SEARCH_OP_TEXT, ARG_STRING, SHAPE_PLAIN, 0, NULL },
	{ "THREADID", SEARCH_OP_THREADID, ARG_OBJECTID, SHAPE_PLAIN, 0,
	  NULL },
	{ "TO", SEARCH_OP_HEADER, ARG_STRING, SHAPE_PLAIN, 0, "To" },
	{ "UID", SEARCH_OP_UIDSET, ARG_SEQSET, SHAPE_PLAIN, 0, NULL },
	{ "UNANSWERED", SEARCH_OP_FLAG, ARG_NONE, SHAPE_NOT,
	  STORE_FLAG_ANSWERED, NULL },
	{ "UNDELETED", SEARCH_OP_FLAG, ARG_NONE, SHAPE_NOT,
	  STORE_FLAG_DELETED, NULL },
	{ "UNDRAFT", SEARCH_OP_FLAG, ARG_NONE, SHAPE_NOT, STORE_FLAG_DRAFT,
	  NULL },
	{ "UNFLAGGED", SEARCH_OP_FLAG, ARG_NONE, SHAPE_NOT,
	  STORE_FLAG_FLAGGED, NULL },
	{ "UNKEYWORD", SEARCH_OP_KEYWORD, ARG_KEYWORD, SHAPE_NOT, 0, NULL },
	{ "UNSEEN", SEARCH_OP_FLAG, ARG_NONE, SHAPE_NOT, STORE_FLAG_SEEN,
	  NULL },
	{ "YOUNGER", SEARCH_OP_YOUNGER, ARG_SECONDS, SHAPE_PLAIN, 0, NULL },
};

static void *
xrealloc(void *ptr, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		abort();
	p = realloc(ptr, n * size == 0 ? 1 : n * size);
	if (p == NULL)
		abort();
	return p;
}

static char *
xstrndup(const void *data, size_t len)
{
	char *s = xrealloc(NULL, len + 1, 1);

	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

struct builder {
	struct search_program *prog;
	unsigned int nodes_cap;
};

static struct search_node *
emit(struct builder *b, enum search_op op)
{
	struct search_program *prog = b->prog;
	struct search_node *node;

	if (prog->count == b->nodes_cap) {
		b->nodes_cap = b->nodes_cap == 0 ? 16 : b->nodes_cap * 2;
		prog->nodes = xrealloc(prog->nodes, b->nodes_cap,
				       sizeof(*prog->nodes));
	}
	node = &prog->nodes[prog->count++];
	memset(node, 0, sizeof(*node));
	node->op = op;
	return node;
}

static const struct key_def *
key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++) {
		if (strcasecmp(key_defs[i].name, name) == 0)
			return &key_defs[i];
	}
	return NULL;
}

/* Days since 1970-01-01 of a UTC midnight from imap_date_parse(). */
static int64_t
time_to_day(time_t t)
{
	int64_t d = (int64_t)t / 86400;

	if ((int64_t)t % 86400 < 0)
		d--;
	return d;
}

static bool
search_string_valid(const uint8_t *data, size_t len)
{
	return memchr(data, '\0', len) == NULL && utf8_is_valid(data, len);
}

/* flag-keyword: an atom (RFC 9051 9 atom-specials excluded, and no '\'). */
static bool
keyword_valid(const char *kw)
{
	size_t len = strlen(kw);

	if (len == 0 || len > STORE_MAX_KEYWORD_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* objectid = 1*255 (ALPHA / DIGIT / "_" / "-") (RFC 8474 7). */
static bool
objectid_valid(const uint8_t *data, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = data[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* header-fld-name = astring, and a field name is printable ASCII without
   ':' (RFC 5322 3.6.8 ftext). */
static bool
header_name_valid(const uint8_t *data, size_t len)
{
	if (len == 0 || len > SEARCH_MAX_HEADER_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (data[i] < 33 || data[i] > 126 || data[i] == ':')
			return false;
	}
	return true;
}

/* Reads a search string argument into node->str. */
static int
take_string(const struct imap_arg *arg, struct search_node *node,
	    const char **error_r)
{
	const uint8_t *data;
	size_t len;

	if (!imap_arg_get_astring(arg, &data, &len)) {
		*error_r = err_string;
		return -1;
	}
	if (!search_string_valid(data, len)) {
		*error_r = err_utf8;
		return -1;
	}
	node->str = xstrndup(data, len);
	node->str_len = len;
	return 0;
}

/* The arguments of the list a key is read from. */
struct arg_cursor {
	const struct imap_arg *args;
	unsigned int count;
	unsigned int pos;
};

static const struct imap_arg *
next_arg(struct arg_cursor *cur)
{
	return cur->pos < cur->count ? &cur->args[cur->pos++] : NULL;
}

static int
parse_modseq(struct arg_cursor *cur, struct search_node *node,
	     const char **error_r)
{
	const struct imap_arg *arg = next_arg(cur);
	const char *atom;

	if (arg == NULL) {
		*error_r = err_missing_arg;
		return -1;
	}
	if (arg->type == IMAP_ARG_STRING || arg->type == IMAP_ARG_LITERAL) {
		/* entry-name SP entry-type-req (RFC 7162 3.1.5): we keep one
		   modseq per message, so the entry only has to be valid. */
		if (arg->len < 7 ||
		    strncasecmp((const char *)arg->data, "/flags/", 7) != 0 ||
		    !search_string_valid(arg->data, arg->len)) {
			*error_r = err_modseq_entry;
			return -1;
		}
		arg = next_arg(cur);
		if (arg == NULL || !imap_arg_get_atom(arg, &atom) ||
		    (strcasecmp(atom, "priv") != 0 &&
		     strcasecmp(atom, "shared") != 0 &&
		     strcasecmp(atom, "all") != 0)) {
			*error_r = err_modseq_entry;
			return -1;
		}
		arg = next_arg(cur);
		if (arg == NULL) {
			*error_r = err_missing_arg;
			return -1;
		}
	}
	if (!imap_arg_get_atom(arg, &atom) || arg->type != IMAP_ARG_ATOM ||
	    str_to_u64z(atom, SEARCH_NUMBER64_MAX, &node->num) < 0) {
		*error_r = err_modseq;
		return -1;
	}
	return 0;
}

/* Reads the arguments of key def from cur and emits its nodes. */
static int
parse_key(struct builder *b, const struct key_def *def,
	  struct arg_cursor *cur, const char **error_r)
{
	struct search_node *node;
	const struct imap_arg *arg = NULL;
	const uint8_t *data;
	const char *atom;
	size_t len;
	time_t t;

	if (def->arg != ARG_NONE) {
		arg = next_arg(cur);
		if (arg == NULL) {
			*error_r = err_missing_arg;
			return -1;
		}
		/* ARG_MODSEQ reads its own. */
		if (def->arg == ARG_MODSEQ)
			cur->pos--;
	}
	node = emit(b, def->op);
	node->flag = def->flag;
	switch (def->arg) {
	case ARG_NONE:
		break;
	case ARG_STRING:
		if (take_string(arg, node, error_r) < 0)
			return -1;
		if (def->header != NULL)
			node->header = xstrndup(def->header,
						strlen(def->header));
		break;
	case ARG_HEADER:
		if (!imap_arg_get_astring(arg, &data, &len) ||
		    !header_name_valid(data, len)) {
			*error_r = err_header;
			return -1;
		}
		node->header = xstrndup(data, len);
		arg = next_arg(cur);
		if (arg == NULL) {
			*error_r = err_missing_arg;
			return -1;
		}
		if (take_string(arg, node, error_r) < 0)
			return -1;
		break;
	case ARG_DATE:
		if (!imap_arg_get_astring(arg, &data, &len) ||
		    imap_date_parse(data, len, &t) < 0) {
			*error_r = err_date;
			return -1;
		}
		node->day = time_to_day(t);
		break;
	case ARG_SIZE:
		if (arg->type != IMAP_ARG_ATOM ||
		    str_to_u64(arg->data, arg->len, SEARCH_NUMBER64_MAX,
			       &node->num) < 0) {
			*error_r = err_size;
			return -1;
		}
		break;
	case ARG_SECONDS:
		if (arg->type != IMAP_ARG_ATOM ||
		    str_to_u64(arg->data, arg->len, UINT32_MAX,
			       &node->num) < 0 || node->num == 0) {
			*error_r = err_interval;
			return -1;
		}
		break;
	case ARG_KEYWORD:
		if (!imap_arg_get_atom(arg, &atom) ||
		    arg->type != IMAP_ARG_ATOM || !keyword_valid(atom)) {
			*error_r = err_keyword;
			return -1;
		}
		node->str = xstrndup(atom, strlen(atom));
		node->str_len = strlen(atom);
		break;
	case ARG_SEQSET:
		if (arg->type != IMAP_ARG_ATOM) {
			*error_r = err_seqset;
			return -1;
		}
		if (imap_seqset_parse(arg->data, arg->len, &node->set,
				      error_r) < 0)
			return -1;
		if (imap_seqset_is_saved(node->set))
			b->prog->uses_saved = true;
		break;
	case ARG_MODSEQ:
		if (parse_modseq(cur, node, error_r) < 0)
			return -1;
		b->prog->uses_modseq = true;
		break;
	case ARG_OBJECTID:
		/* The grammar says atom; a quoted form costs nothing. */
		if (!imap_arg_get_astring(arg, &data, &len) ||
		    !objectid_valid(data, len)) {
			*error_r = err_objectid;
			return -1;
		}
		node->str = xstrndup(data, len);
		node->str_len = len;
		break;
	}
	switch (def->op) {
	case SEARCH_OP_HEADER:
	case SEARCH_OP_SENTBEFORE:
	case SEARCH_OP_SENTON:
	case SEARCH_OP_SENTSINCE:
		b->prog->need_header = true;
		break;
	case SEARCH_OP_BODY:
	case SEARCH_OP_TEXT:
		b->prog->need_header = true;
		b->prog->need_body = true;
		break;
	case SEARCH_OP_THREADID:
		b->prog->uses_threadid = true;
		break;
	default:
		break;
	}
	switch (def->shape) {
	case SHAPE_PLAIN:
		break;
	case SHAPE_NOT:
		(void)emit(b, SEARCH_OP_NOT);
		break;
	case SHAPE_NEW:
		emit(b, SEARCH_OP_FLAG)->flag = STORE_FLAG_SEEN;
		(void)emit(b, SEARCH_OP_NOT);
		emit(b, SEARCH_OP_AND)->count = 2;
		break;
	}
	return 0;
}

/* A frame of the builder's explicit stack: either a parenthesised list
   (or the top-level key list) whose arguments are being read, or a NOT /
   OR still waiting for operands, which come from the nearest list frame
   below it. */
struct frame {
	bool is_list;
	struct arg_cursor cur; /* list */
	unsigned int produced; /* list: keys completed in it */
	unsigned int list_idx; /* operator: its list frame */
	enum search_op op;     /* operator */
	unsigned int need, have;
};

struct frame_stack {
	struct frame *frames;
	unsigned int count, cap;
};

static struct frame *
frame_push(struct frame_stack *st)
{
	if (st->count == st->cap) {
		st->cap = st->cap == 0 ? 8 : st->cap * 2;
		st->frames = xrealloc(st->frames, st->cap,
				      sizeof(*st->frames));
	}
	memset(&st->frames[st->count], 0, sizeof(st->frames[0]));
	return &st->frames[st->count++];
}

/* A key was completed: give it to the frame on top, completing operators
   as their operands arrive. */
static void
key_produced(struct builder *b, struct frame_stack *st)
{
	while (st->count > 0) {
		struct frame *top = &st->frames[st->count - 1];

		if (top->is_list) {
			top->produced++;
			return;
		}
		if (++top->have < top->need)
			return;
		(void)emit(b, top->op);
		st->count--;
	}
}

static int
parse_keys(struct builder *b, const struct imap_arg *args,
	   unsigned int count, const char **error_r)
{
	struct frame_stack st = { NULL, 0, 0 };
	struct frame *f;
	int ret = -1;

	f = frame_push(&st);
	f->is_list = true;
	f->cur.args = args;
	f->cur.count = count;
	while (st.count > 0) {
		struct frame *top = &st.frames[st.count - 1];
		unsigned int list_idx = top->is_list ? st.count - 1 :
			top->list_idx;
		struct frame *lf = &st.frames[list_idx];
		const struct imap_arg *arg;
		const struct key_def *def;
		const char *atom;

		if (lf->cur.pos == lf->cur.count) {
			if (!top->is_list) {
				*error_r = top->op == SEARCH_OP_NOT ?
					err_not : err_or;
				goto out;
			}
			if (top->produced == 0) {
				*error_r = st.count == 1 ? err_no_key :
					err_empty_list;
				goto out;
			}
			if (top->produced > 1)
				emit(b, SEARCH_OP_AND)->count = top->produced;
			st.count--;
			key_produced(b, &st);
			continue;
		}
		arg = &lf->cur.args[lf->cur.pos++];
		if (arg->type == IMAP_ARG_LIST) {
			f = frame_push(&st);
			f->is_list = true;
			f->cur.args = arg->list;
			f->cur.count = arg->list_count;
			continue;
		}
		if (arg->type != IMAP_ARG_ATOM) {
			*error_r = err_unknown_key;
			goto out;
		}
		atom = (const char *)arg->data;
		if (strcasecmp(atom, "NOT") == 0 ||
		    strcasecmp(atom, "OR") == 0) {
			bool is_not = strcasecmp(atom, "NOT") == 0;

			f = frame_push(&st);
			f->list_idx = list_idx;
			f->op = is_not ? SEARCH_OP_NOT : SEARCH_OP_OR;
			f->need = is_not ? 1 : 2;
			continue;
		}
		def = key_find(atom);
		if (def != NULL) {
			if (parse_key(b, def, &lf->cur, error_r) < 0)
				goto out;
		} else if (atom[0] == '$' || atom[0] == '*' ||
			   (atom[0] >= '0' && atom[0] <= '9')) {
			struct search_node *node = emit(b, SEARCH_OP_SEQSET);

			if (imap_seqset_parse(arg->data, arg->len, &node->set,
					      error_r) < 0)
				goto out;
			if (imap_seqset_is_saved(node->set))
				b->prog->uses_saved = true;
		} else {
			*error_r = err_unknown_key;
			goto out;
		}
		key_produced(b, &st);
	}
	ret = 0;
out:
	free(st.frames);
	return ret;
}

static int
parse_return(const struct imap_arg *arg, struct search_program *prog,
	     const char **error_r)
{
	static const struct {
		const char *name;
		unsigned int opt;
	} opts[] = {
		{ "MIN", SEARCH_RETURN_MIN },
		{ "MAX", SEARCH_RETURN_MAX },
		{ "ALL", SEARCH_RETURN_ALL },
		{ "COUNT", SEARCH_RETURN_COUNT },
		{ "SAVE", SEARCH_RETURN_SAVE },
	};
	const struct imap_arg *list;
	unsigned int count, i, j;
	const char *atom;

	if (arg == NULL || !imap_arg_get_list(arg, &list, &count)) {
		*error_r = err_return;
		return -1;
	}
	prog->has_return = true;
	for (i = 0; i < count; i++) {
		if (list[i].type != IMAP_ARG_ATOM ||
		    !imap_arg_get_atom(&list[i], &atom)) {
			*error_r = err_return_opt;
			return -1;
		}
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++) {
			if (strcasecmp(atom, opts[j].name) == 0)
				break;
		}
		if (j == sizeof(opts) / sizeof(opts[0])) {
			*error_r = err_return_opt;
			return -1;
		}
		prog->return_opts |= opts[j].opt;
	}
	/* RFC 4731 3.1: "RETURN ()" is the same as "RETURN (ALL)". */
	if (count == 0)
		prog->return_opts = SEARCH_RETURN_ALL;
	return 0;
}

static void
compute_stack(struct search_program *prog)
{
	unsigned int depth = 0, max = 0;

	for (unsigned int i = 0; i < prog->count; i++) {
		switch (prog->nodes[i].op) {
		case SEARCH_OP_NOT:
			break;
		case SEARCH_OP_OR:
			depth--;
			break;
		case SEARCH_OP_AND:
			depth -= prog->nodes[i].count - 1;
			break;
		default:
			if (++depth > max)
				max = depth;
			break;
		}
	}
	prog->max_stack = max;
}

int
search_program_parse(const struct imap_arg *args, unsigned int count,
		     struct search_program **program_r,
		     enum search_error_kind *kind_r, const char **error_r)
{
	struct builder b;
	unsigned int pos = 0;
	const uint8_t *data;
	size_t len;

	memset(&b, 0, sizeof(b));
	b.prog = xrealloc(NULL, 1, sizeof(*b.prog));
	memset(b.prog, 0, sizeof(*b.prog));
	*kind_r = SEARCH_ERROR_BAD;

	if (pos < count && imap_arg_atom_equals(&args[pos], "RETURN")) {
		pos++;
		if (parse_return(pos < count ? &args[pos] : NULL, b.prog,
				 error_r) < 0)
			goto fail;
		pos++;
	}
	if (pos < count && imap_arg_atom_equals(&args[pos], "CHARSET")) {
		pos++;
		if (pos >= count ||
		    !imap_arg_get_astring(&args[pos], &data, &len)) {
			*error_r = err_charset;
			goto fail;
		}
		if (!((len == 5 && strncasecmp((const char *)data, "UTF-8",
						5) == 0) ||
		      (len == 8 && strncasecmp((const char *)data,
					       "US-ASCII", 8) == 0))) {
			*kind_r = SEARCH_ERROR_BADCHARSET;
			*error_r = err_badcharset;
			goto fail;
		}
		pos++;
	}
	if (parse_keys(&b, args + pos, count - pos, error_r) < 0)
		goto fail;
	compute_stack(b.prog);
	*program_r = b.prog;
	return 0;
fail:
	search_program_free(&b.prog);
	return -1;
}

void
search_program_free(struct search_program **_program)
{
	struct search_program *prog = *_program;

	if (prog == NULL)
		return;
	*_program = NULL;
	for (unsigned int i = 0; i < prog->count; i++) {
		free(prog->nodes[i].header);
		free(prog->nodes[i].str);
		if (prog->nodes[i].set != NULL)
			imap_seqset_destroy(&prog->nodes[i].set);
	}
	free(prog->nodes);
	free(prog);
}

/* ---- dump ---------------------------------------------------------------- */

static const char *
flag_name(uint8_t flag)
{
	switch (flag) {
	case STORE_FLAG_SEEN: return "\\Seen";
	case STORE_FLAG_ANSWERED: return "\\Answered";
	case STORE_FLAG_FLAGGED: return "\\Flagged";
	case STORE_FLAG_DELETED: return "\\Deleted";
	case STORE_FLAG_DRAFT: return "\\Draft";
	}
	return "?";
}

static void
dump_quoted(struct buf *out, const char *str)
{
	buf_append_c(out, '"');
	for (; *str != '\0'; str++) {
		if (*str == '"' || *str == '\\')
			buf_append_c(out, '\\');
		buf_append_c(out, (uint8_t)*str);
	}
	buf_append_c(out, '"');
}

static void
dump_set(struct buf *out, const struct imap_seqset *set)
{
	const struct imap_seq_range *r;
	unsigned int n;

	if (imap_seqset_is_saved(set)) {
		buf_append_c(out, '$');
		return;
	}
	if (imap_seqset_has_star(set)) {
		/* Its ranges exist only once "*" is known (evaluation). */
		buf_append_str(out, "<with *>");
		return;
	}
	r = imap_seqset_get_ranges(set, &n);
	for (unsigned int i = 0; i < n; i++) {
		buf_appendf(out, i == 0 ? "%u" : ",%u", r[i].first);
		if (r[i].last != r[i].first)
			buf_appendf(out, ":%u", r[i].last);
	}
}

static void
dump_leaf(struct buf *out, const struct search_node *node)
{
	static const char *const names[] = {
		[SEARCH_OP_ALL] = "ALL",
		[SEARCH_OP_FLAG] = "FLAG",
		[SEARCH_OP_RECENT] = "RECENT",
		[SEARCH_OP_KEYWORD] = "KEYWORD",
		[SEARCH_OP_SEQSET] = "SEQ",
		[SEARCH_OP_UIDSET] = "UID",
		[SEARCH_OP_LARGER] = "LARGER",
		[SEARCH_OP_SMALLER] = "SMALLER",
		[SEARCH_OP_BEFORE] = "BEFORE",
		[SEARCH_OP_ON] = "ON",
		[SEARCH_OP_SINCE] = "SINCE",
		[SEARCH_OP_SENTBEFORE] = "SENTBEFORE",
		[SEARCH_OP_SENTON] = "SENTON",
		[SEARCH_OP_SENTSINCE] = "SENTSINCE",
		[SEARCH_OP_OLDER] = "OLDER",
		[SEARCH_OP_YOUNGER] = "YOUNGER",
		[SEARCH_OP_MODSEQ] = "MODSEQ",
		[SEARCH_OP_SAVEDBEFORE] = "SAVEDBEFORE",
		[SEARCH_OP_SAVEDON] = "SAVEDON",
		[SEARCH_OP_SAVEDSINCE] = "SAVEDSINCE",
		[SEARCH_OP_EMAILID] = "EMAILID",
		[SEARCH_OP_THREADID] = "THREADID",
		[SEARCH_OP_HEADER] = "HEADER",
		[SEARCH_OP_BODY] = "BODY",
		[SEARCH_OP_TEXT] = "TEXT",
	};

	buf_append_c(out, '(');
	buf_append_str(out, names[node->op]);
	switch (node->op) {
	case SEARCH_OP_FLAG:
		buf_appendf(out, " %s", flag_name(node->flag));
		break;
	case SEARCH_OP_KEYWORD:
	case SEARCH_OP_EMAILID:
	case SEARCH_OP_THREADID:
		buf_appendf(out, " %s", node->str);
		break;
	case SEARCH_OP_SEQSET:
	case SEARCH_OP_UIDSET:
		buf_append_c(out, ' ');
		dump_set(out, node->set);
		break;
	case SEARCH_OP_LARGER:
	case SEARCH_OP_SMALLER:
	case SEARCH_OP_OLDER:
	case SEARCH_OP_YOUNGER:
	case SEARCH_OP_MODSEQ:
		buf_appendf(out, " %llu", (unsigned long long)node->num);
		break;
	case SEARCH_OP_BEFORE:
	case SEARCH_OP_ON:
	case SEARCH_OP_SINCE:
	case SEARCH_OP_SENTBEFORE:
	case SEARCH_OP_SENTON:
	case SEARCH_OP_SENTSINCE:
	case SEARCH_OP_SAVEDBEFORE:
	case SEARCH_OP_SAVEDON:
	case SEARCH_OP_SAVEDSINCE:
		buf_appendf(out, " %lld", (long long)node->day);
		break;
	case SEARCH_OP_HEADER:
		buf_appendf(out, " %s ", node->header);
		dump_quoted(out, node->str);
		break;
	case SEARCH_OP_BODY:
	case SEARCH_OP_TEXT:
		buf_append_c(out, ' ');
		dump_quoted(out, node->str);
		break;
	default:
		break;
	}
	buf_append_c(out, ')');
}

void
search_program_dump(const struct search_program *prog, struct buf *out)
{
	/* Postfix to text with a stack of strings: no recursion. */
	struct buf *stack;
	unsigned int depth = 0;

	if (prog->count == 0)
		return;
	stack = xrealloc(NULL, prog->max_stack + 1, sizeof(*stack));
	for (unsigned int i = 0; i < prog->count; i++) {
		const struct search_node *node = &prog->nodes[i];
		struct buf tmp;
		unsigned int n;

		switch (node->op) {
		case SEARCH_OP_NOT:
		case SEARCH_OP_OR:
		case SEARCH_OP_AND:
			n = node->op == SEARCH_OP_NOT ? 1 :
				node->op == SEARCH_OP_OR ? 2 : node->count;
			buf_init(&tmp, 0);
			buf_append_str(&tmp, node->op == SEARCH_OP_NOT ?
				       "(NOT" : node->op == SEARCH_OP_OR ?
				       "(OR" : "(AND");
			for (unsigned int j = depth - n; j < depth; j++) {
				buf_append_c(&tmp, ' ');
				buf_append(&tmp, stack[j].data, stack[j].len);
				buf_free(&stack[j]);
			}
			buf_append_c(&tmp, ')');
			depth -= n;
			stack[depth++] = tmp;
			break;
		default:
			buf_init(&stack[depth], 0);
			dump_leaf(&stack[depth], node);
			depth++;
			break;
		}
	}
	for (unsigned int j = 0; j < depth; j++) {
		buf_append(out, stack[j].data, stack[j].len);
		buf_free(&stack[j]);
	}
	free(stack);
}
