/* FETCH item grammar (RFC 9051 9: fetch-att, section, partial). */
#include "imap/imap-fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/strnum.h"

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

static char *
xstrndup(const char *s, size_t len)
{
	char *p = xcalloc(len + 1, 1);

	memcpy(p, s, len);
	return p;
}

static bool
prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Header field names: "(" name *(SP name) ")", names as atoms or quoted
   strings. p points after the space that follows HEADER.FIELDS[.NOT];
   *end_r is set past the ")". */
static int
parse_field_list(const char *p, const char *end, struct imap_fetch_item *item,
		 const char **end_r, const char **error_r)
{
	unsigned int alloc = 0;

	if (p >= end || *p != '(') {
		*error_r = "Header field list expected.";
		return -1;
	}
	p++;
	for (;;) {
		const char *start;
		char *name;

		if (p < end && *p == ')' && item->field_count > 0)
			break;
		if (item->field_count > 0) {
			if (p >= end || *p != ' ') {
				*error_r = "Invalid header field list.";
				return -1;
			}
			p++;
		}
		if (p < end && *p == '"') {
			start = ++p;
			while (p < end && *p != '"')
				p++;
			if (p >= end) {
				*error_r = "Invalid header field list.";
				return -1;
			}
			name = xstrndup(start, (size_t)(p - start));
			p++;
		} else {
			start = p;
			/* RFC 5322 field names: printable, no colon. */
			while (p < end && *p > ' ' && *p < 0x7f && *p != ':' &&
			       *p != '(' && *p != ')')
				p++;
			if (p == start) {
				*error_r = "Invalid header field list.";
				return -1;
			}
			name = xstrndup(start, (size_t)(p - start));
		}
		if (item->field_count == alloc) {
			alloc = alloc == 0 ? 8 : alloc * 2;
			item->fields = realloc(item->fields,
					       alloc * sizeof(char *));
			if (item->fields == NULL)
				abort();
		}
		item->fields[item->field_count++] = name;
	}
	*end_r = p + 1;
	return 0;
}

/* Parses the text between "[" and "]". */
static int
parse_section(const char *p, const char *end, struct imap_fetch_item *item,
	      bool binary, const char **error_r)
{
	/* section-part */
	while (p < end && *p >= '0' && *p <= '9') {
		const char *start = p;
		uint64_t n;

		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (*start == '0' ||
		    str_to_u64(start, (size_t)(p - start), UINT32_MAX, &n) < 0) {
			*error_r = "Invalid section number.";
			return -1;
		}
		if (item->depth == IMAP_FETCH_MAX_PATH) {
			*error_r = "Section is nested too deep.";
			return -1;
		}
		item->path[item->depth++] = (uint32_t)n;
		if (p < end && *p == '.') {
			p++;
			if (p >= end) {
				*error_r = "Invalid section.";
				return -1;
			}
			if (*p < '0' || *p > '9')
				break;
		} else if (p < end) {
			*error_r = "Invalid section.";
			return -1;
		}
	}
	if (p == end)
		return 0;
	if (binary) {
		*error_r = "BINARY takes only a part number.";
		return -1;
	}
	if (prefix_ci(p, "HEADER.FIELDS.NOT ") ||
	    prefix_ci(p, "HEADER.FIELDS ")) {
		bool not = prefix_ci(p, "HEADER.FIELDS.NOT ");

		item->text = not ? IMAP_SECTION_HEADER_FIELDS_NOT :
			IMAP_SECTION_HEADER_FIELDS;
		p += not ? 18 : 14;
		if (parse_field_list(p, end, item, &p, error_r) < 0)
			return -1;
	} else if ((size_t)(end - p) == 6 && prefix_ci(p, "HEADER")) {
		item->text = IMAP_SECTION_HEADER;
		p += 6;
	} else if ((size_t)(end - p) == 4 && prefix_ci(p, "TEXT")) {
		item->text = IMAP_SECTION_TEXT;
		p += 4;
	} else if ((size_t)(end - p) == 4 && prefix_ci(p, "MIME") &&
		   item->depth > 0) {
		item->text = IMAP_SECTION_MIME;
		p += 4;
	} else {
		*error_r = "Invalid section.";
		return -1;
	}
	if (p != end) {
		*error_r = "Invalid section.";
		return -1;
	}
	return 0;
}

/* "<offset.length>" at p (up to end). */
static int
parse_partial(const char *p, const char *end, struct imap_fetch_item *item,
	      const char **error_r)
{
	const char *dot, *close;

	if (p >= end || *p != '<' || end[-1] != '>') {
		*error_r = "Invalid partial.";
		return -1;
	}
	close = end - 1;
	dot = memchr(p, '.', (size_t)(close - p));
	if (dot == NULL ||
	    str_to_u64(p + 1, (size_t)(dot - p - 1), UINT32_MAX,
		       &item->offset) < 0 ||
	    str_to_u64(dot + 1, (size_t)(close - dot - 1), UINT32_MAX,
		       &item->length) < 0 || item->length == 0) {
		*error_r = "Invalid partial.";
		return -1;
	}
	item->partial = true;
	return 0;
}

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
} simple_items[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "UID", IMAP_FETCH_UID },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },
	{ "EMAILID", IMAP_FETCH_EMAILID },
	{ "THREADID", IMAP_FETCH_THREADID },
	{ "SAVEDATE", IMAP_FETCH_SAVEDATE },
	{ "PREVIEW", IMAP_FETCH_PREVIEW },
};

int
imap_fetch_item_parse(const char *text, struct imap_fetch_item *item,
		      const char **error_r)
{
	const char *p, *open, *close, *end = text + strlen(text);
	const char *reply_prefix;
	bool binary = false;
	struct buf name;

	memset(item, 0, sizeof(*item));
	for (size_t i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]);
	     i++) {
		if (strcasecmp(text, simple_items[i].name) == 0) {
			item->kind = simple_items[i].kind;
			item->reply_name = xstrndup(simple_items[i].name,
						    strlen(simple_items[i].name));
			return 0;
		}
	}
	/* RFC 3501 6.4.5: the RFC822 forms are BODY sections with their
	   own reply names. */
	if (strcasecmp(text, "RFC822") == 0 ||
	    strcasecmp(text, "RFC822.HEADER") == 0 ||
	    strcasecmp(text, "RFC822.TEXT") == 0) {
		item->kind = IMAP_FETCH_SECTION;
		if (strcasecmp(text, "RFC822.HEADER") == 0) {
			item->text = IMAP_SECTION_HEADER;
			item->peek = true;
		} else if (strcasecmp(text, "RFC822.TEXT") == 0) {
			item->text = IMAP_SECTION_TEXT;
		}
		item->reply_name = xstrndup(text, strlen(text));
		for (char *c = item->reply_name; *c != '\0'; c++) {
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		}
		return 0;
	}

	if (prefix_ci(text, "BODY.PEEK[")) {
		item->kind = IMAP_FETCH_SECTION;
		item->peek = true;
		reply_prefix = "BODY";
	} else if (prefix_ci(text, "BODY[")) {
		item->kind = IMAP_FETCH_SECTION;
		reply_prefix = "BODY";
	} else if (prefix_ci(text, "BINARY.PEEK[")) {
		item->kind = IMAP_FETCH_BINARY;
		item->peek = true;
		binary = true;
		reply_prefix = "BINARY";
	} else if (prefix_ci(text, "BINARY[")) {
		item->kind = IMAP_FETCH_BINARY;
		binary = true;
		reply_prefix = "BINARY";
	} else if (prefix_ci(text, "BINARY.SIZE[")) {
		item->kind = IMAP_FETCH_BINARY_SIZE;
		item->peek = true;
		binary = true;
		reply_prefix = "BINARY.SIZE";
	} else {
		*error_r = "Unknown FETCH item.";
		return -1;
	}
	open = strchr(text, '[');
	close = strrchr(text, ']');
	if (close == NULL || close < open) {
		*error_r = "Missing ] in section.";
		return -1;
	}
	if (parse_section(open + 1, close, item, binary, error_r) < 0)
		goto fail;
	p = close + 1;
	if (p < end) {
		if (item->kind == IMAP_FETCH_BINARY_SIZE) {
			*error_r = "BINARY.SIZE takes no partial.";
			goto fail;
		}
		if (parse_partial(p, end, item, error_r) < 0)
			goto fail;
	}
	/* The reply names the section as sent, the partial by its origin
	   only (RFC 9051 7.5.2). */
	buf_init(&name, 0);
	buf_append_str(&name, reply_prefix);
	buf_append(&name, open, (size_t)(close - open + 1));
	for (size_t i = strlen(reply_prefix); i < name.len; i++) {
		if (name.data[i] >= 'a' && name.data[i] <= 'z' &&
		    item->field_count == 0)
			name.data[i] = (uint8_t)(name.data[i] - 'a' + 'A');
	}
	if (item->partial)
		buf_appendf(&name, "<%llu>",
			    (unsigned long long)item->offset);
	size_t name_len;

	item->reply_name = (char *)buf_steal(&name, &name_len);
	return 0;
fail:
	imap_fetch_item_clear(item);
	return -1;
}

void
imap_fetch_item_clear(struct imap_fetch_item *item)
{
	for (unsigned i = 0; i < item->field_count; i++)
		free(item->fields[i]);
	free(item->fields);
	free(item->reply_name);
	memset(item, 0, sizeof(*item));
}

static void
items_add(struct imap_fetch_items *items, unsigned int *alloc,
	  const struct imap_fetch_item *item)
{
	if (items->count == *alloc) {
		*alloc = *alloc == 0 ? 8 : *alloc * 2;
		items->items = realloc(items->items,
				       *alloc * sizeof(*items->items));
		if (items->items == NULL)
			abort();
	}
	items->items[items->count++] = *item;
	switch (item->kind) {
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		items->needs_cache = true;
		break;
	case IMAP_FETCH_PREVIEW:
		/* The preview is part of the parse record. LAZY takes it
		   only when the record is cached already. */
		if (!item->lazy)
			items->needs_cache = true;
		break;
	case IMAP_FETCH_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		/* The cache also says where NULs are (RFC 9051 4.3). */
		items->needs_body = true;
		items->needs_cache = true;
		if (!item->peek)
			items->sets_seen = true;
		break;
	default:
		break;
	}
}

/* RFC 8970 6: "(" preview-mod *(SP preview-mod) ")", preview-mod =
   "LAZY". */
static int
parse_preview_mods(const struct imap_arg *arg, struct imap_fetch_item *item,
		   const char **error_r)
{
	const struct imap_arg *mods;
	unsigned int count;

	if (!imap_arg_get_list(arg, &mods, &count) || count == 0) {
		*error_r = "Invalid PREVIEW modifiers.";
		return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		if (!imap_arg_atom_equals(&mods[i], "LAZY")) {
			*error_r = "Unknown PREVIEW modifier.";
			return -1;
		}
	}
	item->lazy = true;
	return 0;
}

/* Parses text as one item and adds it; mods (may be NULL) is the
   modifier list that followed it. */
static int
add_text(struct imap_fetch_items *items, unsigned int *alloc,
	 const char *text, const struct imap_arg *mods, const char **error_r)
{
	struct imap_fetch_item item;

	if (imap_fetch_item_parse(text, &item, error_r) < 0)
		return -1;
	if (mods != NULL) {
		if (item.kind != IMAP_FETCH_PREVIEW) {
			*error_r = "Invalid FETCH item.";
			imap_fetch_item_clear(&item);
			return -1;
		}
		if (parse_preview_mods(mods, &item, error_r) < 0) {
			imap_fetch_item_clear(&item);
			return -1;
		}
	}
	items_add(items, alloc, &item);
	return 0;
}

static int
fetch_items_parse(const struct imap_arg *arg, const struct imap_arg *mods,
		  struct imap_fetch_items **items_r, const char **error_r);

int
imap_fetch_items_parse(const struct imap_arg *arg,
		       struct imap_fetch_items **items_r,
		       const char **error_r)
{
	return fetch_items_parse(arg, NULL, items_r, error_r);
}

int
imap_fetch_items_parse_args(const struct imap_arg *args, unsigned int count,
			    unsigned int *used_r,
			    struct imap_fetch_items **items_r,
			    const char **error_r)
{
	const struct imap_arg *list;
	unsigned int n;

	*used_r = 1;
	if (count >= 2 && imap_arg_atom_equals(&args[0], "PREVIEW") &&
	    imap_arg_get_list(&args[1], &list, &n) && n > 0 &&
	    imap_arg_atom_equals(&list[0], "LAZY")) {
		*used_r = 2;
		return fetch_items_parse(&args[0], &args[1], items_r,
					 error_r);
	}
	return fetch_items_parse(&args[0], NULL, items_r, error_r);
}

static int
fetch_items_parse(const struct imap_arg *arg, const struct imap_arg *mods,
		  struct imap_fetch_items **items_r, const char **error_r)
{
	static const char *const macro_all[] = {
		"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL };
	static const char *const macro_fast[] = {
		"FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL };
	static const char *const macro_full[] = {
		"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY",
		NULL };
	struct imap_fetch_items *items = xcalloc(1, sizeof(*items));
	const struct imap_arg *list;
	unsigned int count, alloc = 0;
	const char *atom;

	if (imap_arg_get_atom(arg, &atom)) {
		const char *const *macro = NULL;

		if (strcasecmp(atom, "ALL") == 0)
			macro = macro_all;
		else if (strcasecmp(atom, "FAST") == 0)
			macro = macro_fast;
		else if (strcasecmp(atom, "FULL") == 0)
			macro = macro_full;
		if (macro != NULL) {
			for (unsigned i = 0; macro[i] != NULL; i++)
				(void)add_text(items, &alloc, macro[i], NULL,
					       error_r);
		} else if (add_text(items, &alloc, atom, mods, error_r) < 0) {
			goto fail;
		}
	} else if (imap_arg_get_list(arg, &list, &count) && count > 0) {
		for (unsigned i = 0; i < count; i++) {
			const struct imap_arg *item_mods = NULL;

			if (!imap_arg_get_atom(&list[i], &atom)) {
				*error_r = "Invalid FETCH item.";
				goto fail;
			}
			/* Only PREVIEW takes a list after it; add_text()
			   refuses it for any other item. */
			if (i + 1 < count &&
			    list[i + 1].type == IMAP_ARG_LIST)
				item_mods = &list[++i];
			if (add_text(items, &alloc, atom, item_mods,
				     error_r) < 0)
				goto fail;
		}
	} else {
		*error_r = "Invalid FETCH items.";
		goto fail;
	}
	*items_r = items;
	return 0;
fail:
	imap_fetch_items_free(&items);
	return -1;
}

void
imap_fetch_items_free(struct imap_fetch_items **_items)
{
	struct imap_fetch_items *items = *_items;

	if (items == NULL)
		return;
	*_items = NULL;
	for (unsigned i = 0; i < items->count; i++)
		imap_fetch_item_clear(&items->items[i]);
	free(items->items);
	free(items);
}

bool
imap_fetch_field_wanted(const struct imap_fetch_item *item, const char *name,
			size_t len)
{
	for (unsigned i = 0; i < item->field_count; i++) {
		if (strlen(item->fields[i]) == len &&
		    strncasecmp(item->fields[i], name, len) == 0)
			return true;
	}
	return false;
}
