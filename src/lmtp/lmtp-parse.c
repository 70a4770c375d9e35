#include "lmtp/lmtp-parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/limits.h"
#include "lib/strnum.h"

#define REPLY_MAIL_SYNTAX "501 5.5.4 Syntax: MAIL FROM:<address>"
#define REPLY_RCPT_SYNTAX "501 5.5.4 Syntax: RCPT TO:<address>"
#define REPLY_BAD_SENDER "501 5.1.7 Bad sender address syntax"
#define REPLY_BAD_RCPT "501 5.1.3 Bad recipient address syntax"
#define REPLY_PARAM_SYNTAX "501 5.5.4 Bad parameter syntax"
#define REPLY_PARAM_DUP "501 5.5.4 Duplicate parameter"
#define REPLY_BAD_SIZE "501 5.5.4 Bad SIZE value"
#define REPLY_BAD_BODY "501 5.5.4 Unsupported BODY type"
#define REPLY_TOO_BIG "552 5.3.4 Message size exceeds fixed maximum size"
#define REPLY_UNKNOWN_PARAM "555 5.5.4 Unsupported parameter"

static void *
xmalloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		abort();
	return p;
}

static char *
xstrndup(const uint8_t *data, size_t len)
{
	char *s = xmalloc(len + 1);

	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

static bool
mem_case_eq(const uint8_t *data, size_t len, const char *str)
{
	size_t slen = strlen(str);

	return len == slen && strncasecmp((const char *)data, str, len) == 0;
}

static bool
mem_case_prefix(const uint8_t *data, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);

	return len >= plen &&
		strncasecmp((const char *)data, prefix, plen) == 0;
}

static const struct {
	const char *name;
	enum lmtp_cmd cmd;
} lmtp_verbs[] = {
	{ "LHLO", LMTP_CMD_LHLO }, { "HELO", LMTP_CMD_HELO },
	{ "EHLO", LMTP_CMD_EHLO }, { "MAIL", LMTP_CMD_MAIL },
	{ "RCPT", LMTP_CMD_RCPT }, { "DATA", LMTP_CMD_DATA },
	{ "RSET", LMTP_CMD_RSET }, { "NOOP", LMTP_CMD_NOOP },
	{ "QUIT", LMTP_CMD_QUIT }, { "VRFY", LMTP_CMD_VRFY },
	{ "HELP", LMTP_CMD_HELP }, { "BDAT", LMTP_CMD_BDAT },
};

enum lmtp_cmd
lmtp_parse_verb(const uint8_t *line, size_t len, const uint8_t **args_r,
		size_t *args_len_r)
{
	size_t verb_len = 0, i;

	while (verb_len < len && line[verb_len] != ' ')
		verb_len++;
	if (verb_len < len) {
		*args_r = line + verb_len + 1;
		*args_len_r = len - verb_len - 1;
	} else {
		*args_r = line + len;
		*args_len_r = 0;
	}
	for (i = 0; i < sizeof(lmtp_verbs) / sizeof(lmtp_verbs[0]); i++) {
		if (mem_case_eq(line, verb_len, lmtp_verbs[i].name))
			return lmtp_verbs[i].cmd;
	}
	return LMTP_CMD_UNKNOWN;
}

void
lmtp_address_free(struct lmtp_address *addr)
{
	free(addr->addr);
	free(addr->local);
	free(addr->domain);
	addr->addr = addr->local = addr->domain = NULL;
}

/* RFC 5322 atext. */
static bool
is_atext(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_domain_char(uint8_t c)
{
	/* Let-dig and '-' (RFC 5321 4.1.2); '_' too, which real DNS names
	   carry although the grammar has none. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Parses a domain or an address literal at *pos; stops at '>'.
   Returns false on a syntax error. */
static bool
parse_domain(const uint8_t *p, size_t len, size_t *pos)
{
	size_t i = *pos;

	if (i < len && p[i] == '[') {
		/* address literal: printable, no brackets or backslash */
		for (i++; i < len && p[i] != ']'; i++) {
			if (p[i] < 33 || p[i] > 126 || p[i] == '[' ||
			    p[i] == '\\')
				return false;
		}
		if (i >= len || i == *pos + 1)
			return false;
		*pos = i + 1;
		return true;
	}
	/* sub-domain *("." sub-domain): no empty label */
	if (i >= len || p[i] == '.')
		return false;
	for (; i < len && is_domain_char(p[i]); i++) {
		if (p[i] == '.' && (i + 1 >= len || p[i + 1] == '.' ||
				    p[i + 1] == '>'))
			return false;
	}
	if (i == *pos)
		return false;
	*pos = i;
	return true;
}

/* Parses "<...>" at *pos into addr_r. Returns 1, 0 on an address syntax
   error (not a path: the caller replies with its address error), -1 if
   there is no "<" (command syntax). */
static int
parse_path(const uint8_t *p, size_t len, size_t *pos, bool allow_null,
	   bool allow_postmaster, struct lmtp_address *addr_r)
{
	size_t i = *pos, start, local_start, local_end, at, end;
	char *local;
	size_t lo;

	memset(addr_r, 0, sizeof(*addr_r));
	if (i >= len || p[i] != '<')
		return -1;
	i++;
	if (i < len && p[i] == '>') {
		if (!allow_null)
			return 0;
		addr_r->addr = xstrndup(p, 0);
		*pos = i + 1;
		return 1;
	}
	/* A-d-l ":" : a source route, dropped (RFC 5321 4.1.1.3, C.) */
	if (i < len && p[i] == '@') {
		while (i < len && p[i] != ':') {
			if (p[i] != '@' && p[i] != ',' &&
			    !is_domain_char(p[i]) && p[i] != '[' &&
			    p[i] != ']')
				return 0;
			i++;
		}
		if (i >= len)
			return 0;
		i++;
	}
	start = i;

	/* Local-part = Dot-string / Quoted-string */
	local_start = i;
	if (i < len && p[i] == '"') {
		for (i++; i < len && p[i] != '"'; i++) {
			if (p[i] == '\\') {
				i++;
				if (i >= len || p[i] < 32 || p[i] > 126)
					return 0;
			} else if (p[i] < 32 || p[i] > 126) {
				return 0;
			}
		}
		if (i >= len)
			return 0;
		i++;
	} else {
		/* Dot-string; consecutive dots are tolerated (they occur in
		   real addresses and do no harm here) */
		while (i < len && (is_atext(p[i]) || p[i] == '.'))
			i++;
		if (i == local_start)
			return 0;
	}
	local_end = i;

	if (i < len && p[i] == '@') {
		at = i;
		i++;
		if (!parse_domain(p, len, &i))
			return 0;
		addr_r->domain = xstrndup(p + at + 1, i - at - 1);
	} else if (!allow_postmaster) {
		/* RCPT may name a local user with no domain, as Dovecot's
		   LMTP allows ("RCPT TO:<alice>"); MAIL FROM may not. */
		return 0;
	}
	if (i >= len || p[i] != '>') {
		free(addr_r->domain);
		addr_r->domain = NULL;
		return 0;
	}
	end = i;
	if (end - start > LMTP_MAX_ADDRESS) {
		free(addr_r->domain);
		addr_r->domain = NULL;
		return 0;
	}

	/* unquote the local part */
	local = xmalloc(local_end - local_start + 1);
	lo = 0;
	if (p[local_start] == '"') {
		for (i = local_start + 1; i < local_end - 1; i++) {
			if (p[i] == '\\')
				i++;
			local[lo++] = (char)p[i];
		}
	} else {
		memcpy(local, p + local_start, local_end - local_start);
		lo = local_end - local_start;
	}
	local[lo] = '\0';
	addr_r->local = local;
	addr_r->addr = xstrndup(p + start, end - start);
	*pos = end + 1;
	return 1;
}

/* Next parameter after the path: skips spaces, then takes
   keyword["=" value]. Returns 1 with the pieces, 0 at the end, -1 on bad
   syntax. */
static int
next_param(const uint8_t *p, size_t len, size_t *pos,
	   const uint8_t **key_r, size_t *key_len_r,
	   const uint8_t **value_r, size_t *value_len_r)
{
	size_t i = *pos, k;

	while (i < len && p[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return 0;
	}
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	k = i;
	while (i < len && p[i] != '=' && p[i] != ' ') {
		uint8_t c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c == '-' && i > k)))
			return -1;
		i++;
	}
	if (i == k)
		return -1;
	*key_r = p + k;
	*key_len_r = i - k;
	*value_r = NULL;
	*value_len_r = 0;
	if (i < len && p[i] == '=') {
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		k = ++i;
		while (i < len && p[i] != ' ') {
			if (p[i] < 33 || p[i] > 126 || p[i] == '=')
				return -1;
			i++;
		}
		if (i == k)
			return -1;
		*value_r = p + k;
		*value_len_r = i - k;
	}
	*pos = i;
	return 1;
}

/* After the path: nothing, or one or more spaces and parameters. */
static bool
path_end_ok(const uint8_t *p, size_t len, size_t pos)
{
	return pos == len || p[pos] == ' ';
}

int
lmtp_parse_mail(const uint8_t *args, size_t len, uint64_t max_size,
		struct lmtp_address *from_r,
		struct lmtp_mail_params *params_r, const char **reply_r)
{
	const uint8_t *key, *value;
	size_t key_len, value_len, pos;
	int ret;

	memset(params_r, 0, sizeof(*params_r));
	if (!mem_case_prefix(args, len, "FROM:")) {
		*reply_r = REPLY_MAIL_SYNTAX;
		return -1;
	}
	pos = 5;
	while (pos < len && args[pos] == ' ')
		pos++;
	ret = parse_path(args, len, &pos, true, false, from_r);
	if (ret < 0) {
		*reply_r = REPLY_MAIL_SYNTAX;
		return -1;
	}
	if (ret == 0 || !path_end_ok(args, len, pos)) {
		lmtp_address_free(from_r);
		*reply_r = REPLY_BAD_SENDER;
		return -1;
	}

	while ((ret = next_param(args, len, &pos, &key, &key_len,
				 &value, &value_len)) > 0) {
		if (mem_case_eq(key, key_len, "SIZE")) {
			uint64_t size;

			if (params_r->size_given) {
				*reply_r = REPLY_PARAM_DUP;
				goto fail;
			}
			if (value == NULL ||
			    str_to_u64(value, value_len, UINT64_MAX,
				       &size) < 0) {
				*reply_r = REPLY_BAD_SIZE;
				goto fail;
			}
			if (max_size != 0 && size > max_size) {
				*reply_r = REPLY_TOO_BIG;
				goto fail;
			}
			params_r->size_given = true;
			params_r->size = size;
		} else if (mem_case_eq(key, key_len, "BODY")) {
			if (params_r->body != LMTP_BODY_NONE) {
				*reply_r = REPLY_PARAM_DUP;
				goto fail;
			}
			if (value != NULL &&
			    mem_case_eq(value, value_len, "7BIT")) {
				params_r->body = LMTP_BODY_7BIT;
			} else if (value != NULL &&
				   mem_case_eq(value, value_len, "8BITMIME")) {
				params_r->body = LMTP_BODY_8BITMIME;
			} else {
				*reply_r = REPLY_BAD_BODY;
				goto fail;
			}
		} else {
			*reply_r = REPLY_UNKNOWN_PARAM;
			goto fail;
		}
	}
	if (ret < 0) {
		*reply_r = REPLY_PARAM_SYNTAX;
		goto fail;
	}
	return 0;
fail:
	lmtp_address_free(from_r);
	return -1;
}

int
lmtp_parse_rcpt(const uint8_t *args, size_t len, struct lmtp_address *to_r,
		const char **reply_r)
{
	const uint8_t *key, *value;
	size_t key_len, value_len, pos;
	int ret;

	if (!mem_case_prefix(args, len, "TO:")) {
		*reply_r = REPLY_RCPT_SYNTAX;
		return -1;
	}
	pos = 3;
	while (pos < len && args[pos] == ' ')
		pos++;
	ret = parse_path(args, len, &pos, false, true, to_r);
	if (ret < 0) {
		*reply_r = REPLY_RCPT_SYNTAX;
		return -1;
	}
	if (ret == 0 || !path_end_ok(args, len, pos)) {
		lmtp_address_free(to_r);
		*reply_r = REPLY_BAD_RCPT;
		return -1;
	}
	ret = next_param(args, len, &pos, &key, &key_len, &value, &value_len);
	if (ret != 0) {
		lmtp_address_free(to_r);
		*reply_r = ret > 0 ? REPLY_UNKNOWN_PARAM : REPLY_PARAM_SYNTAX;
		return -1;
	}
	return 0;
}

int
lmtp_parse_bdat(const uint8_t *args, size_t len, uint64_t *size_r,
		bool *last_r, const char **reply_r)
{
	size_t i = 0;

	/* bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF */
	while (i < len && args[i] != ' ')
		i++;
	if (str_to_u64(args, i, UINT64_MAX, size_r) < 0) {
		*reply_r = "501 5.5.4 Syntax: BDAT chunk-size [LAST]";
		return -1;
	}
	if (i == len) {
		*last_r = false;
		return 0;
	}
	if (!mem_case_eq(args + i + 1, len - i - 1, "LAST")) {
		*reply_r = "501 5.5.4 Syntax: BDAT chunk-size [LAST]";
		return -1;
	}
	*last_r = true;
	return 0;
}
