/* libFuzzer target: one LMTP command line (without CRLF) through the
   pure parsers of lmtp-parse.h, as the session would run them: the verb,
   then MAIL, RCPT or BDAT arguments. Also checks what the header promises
   about the results: the address is printable ASCII and bounded, the
   local part and domain are present as documented, error replies are
   well-formed reply lines. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lmtp/lmtp-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A copy of exactly size bytes in its own allocation, so that reading
   past the end is caught. */
static uint8_t *
dup_exact(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size == 0 ? 1 : size);

	assert(p != NULL);
	if (size > 0)
		memcpy(p, data, size);
	return p;
}

static void
check_reply(const char *reply)
{
	size_t len = strlen(reply);

	/* "501 5.5.4 ..." with no line break inside */
	assert(len >= 10);
	assert(reply[0] == '5' && reply[3] == ' ');
	assert(reply[4] == '5' && reply[5] == '.');
	assert(strchr(reply, '\r') == NULL && strchr(reply, '\n') == NULL);
}

static void
check_address(const struct lmtp_address *a, bool is_mail)
{
	assert(a->addr != NULL);
	assert(strlen(a->addr) <= LMTP_MAX_ADDRESS);
	for (const char *p = a->addr; *p != '\0'; p++)
		assert(*p >= 32 && *p < 127);
	if (a->addr[0] == '\0') {
		/* the null path "<>" */
		assert(is_mail);
		assert(a->local == NULL && a->domain == NULL);
		return;
	}
	assert(a->local != NULL);
	/* only RCPT may name a bare local part */
	assert(!is_mail || a->domain != NULL);
	if (a->domain != NULL) {
		assert(a->domain[0] != '\0');
		/* the address ends with "@" domain */
		size_t al = strlen(a->addr), dl = strlen(a->domain);
		assert(dl < al && a->addr[al - dl - 1] == '@');
		assert(strcmp(a->addr + al - dl, a->domain) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *line = dup_exact(data, size);
	const uint8_t *args;
	size_t args_len;
	enum lmtp_cmd cmd;
	const char *reply;

	cmd = lmtp_parse_verb(line, size, &args, &args_len);
	assert(args >= line && args + args_len == line + size);

	/* Each argument parser on every line, not only after its verb: the
	   session never calls them otherwise, but they must hold up to any
	   bytes. */
	uint8_t *a = dup_exact(args, args_len);

	struct lmtp_address from, to;
	struct lmtp_mail_params params;
	uint64_t max_size = size > 0 ? data[0] * 1000ULL : 0;

	if (lmtp_parse_mail(a, args_len, max_size, &from, &params,
			    &reply) == 0) {
		check_address(&from, true);
		if (params.size_given && max_size != 0)
			assert(params.size <= max_size);
		lmtp_address_free(&from);
		assert(from.addr == NULL && from.local == NULL &&
		       from.domain == NULL);
	} else {
		check_reply(reply);
	}

	if (lmtp_parse_rcpt(a, args_len, &to, &reply) == 0) {
		check_address(&to, false);
		lmtp_address_free(&to);
	} else {
		check_reply(reply);
	}

	uint64_t chunk;
	bool last;

	if (lmtp_parse_bdat(a, args_len, &chunk, &last, &reply) == 0) {
		/* "<digits>" or "<digits> LAST" */
		assert(args_len > 0 && a[0] >= '0' && a[0] <= '9');
		assert(last == (memchr(a, ' ', args_len) != NULL));
	} else {
		check_reply(reply);
	}
	(void)cmd;
	free(a);
	free(line);
	return 0;
}
