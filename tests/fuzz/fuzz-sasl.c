/* libFuzzer target: a whole SASL server exchange (sasl.h). The first
   input byte picks the mechanism and the channel:
     bits 0-1  0 PLAIN, 1 LOGIN, 2 SCRAM-SHA-256, 3 the first message
               names the mechanism (so sasl_server_create sees any name)
     bit 2     the channel is secure
     bit 3     plaintext mechanisms are allowed
     bit 4     the client sends an initial response (else the first step
               gets NULL, as with "AUTH PLAIN" alone)
     bit 5     the user database is down (lookup fails temporarily)
   The rest is the client's messages, separated by '\n' (none of the
   mechanisms' own messages need that byte, and it keeps seeds readable).
   The lookup knows two users with fixed stored values: "user" with the
   SCRAM-SHA-256 value of RFC 7677's example (password "pencil") and
   "plainuser" stored {PLAIN} ("secret"). The SCRAM server nonce is fixed
   to RFC 7677's, so a seed holding the RFC's messages reaches success.

   Checks: the output pointer is always valid, SASL_OK names a known user
   (as stored) and SCRAM's final data is "v=...", after OK or FAIL every
   further step fails, a temporary failure is only reported when the
   database was down. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP '\n'

static const char scram_user_stored[] =
	"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
static const char plain_user_stored[] = "{PLAIN}secret";

struct lookup_ctx {
	bool down;
	unsigned calls;
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	assert(p != NULL);
	return p;
}

/* Names match case-insensitively and come back as stored, so the
   server's "user as stored" path is taken. */
static int
lookup(void *context, const char *name, char **stored_r, char **user_r)
{
	struct lookup_ctx *ctx = context;

	ctx->calls++;
	if (ctx->down)
		return -1;
	if (strcasecmp(name, "user") == 0) {
		*stored_r = xstrdup(scram_user_stored);
		*user_r = xstrdup("user");
		return 1;
	}
	if (strcasecmp(name, "plainuser") == 0) {
		*stored_r = xstrdup(plain_user_stored);
		*user_r = xstrdup("plainuser");
		return 1;
	}
	return 0;
}

/* The next message: [*pos, next SEP or end). Returns false at the end
   of the input. */
static bool
next_message(const uint8_t *data, size_t size, size_t *pos,
	     const uint8_t **msg_r, size_t *len_r)
{
	const uint8_t *sep;

	if (*pos > size)
		return false;
	*msg_r = data + *pos;
	sep = memchr(*msg_r, SEP, size - *pos);
	*len_r = sep != NULL ? (size_t)(sep - *msg_r) : size - *pos;
	*pos += *len_r + 1;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mechs[] = {
		"PLAIN", "LOGIN", "SCRAM-SHA-256"
	};
	struct lookup_ctx ctx = { 0 };
	struct sasl_server_settings set = { 0 };
	struct sasl_server *server;
	const char *error = NULL, *mech;
	char mech_buf[64];
	const uint8_t *msg, *out;
	size_t pos = 1, len, out_len;
	enum sasl_result ret;
	unsigned steps = 0;
	uint8_t flags;

	if (size == 0)
		return 0;
	flags = data[0];
	set.secure = (flags & 0x04) != 0;
	set.plaintext_allowed = (flags & 0x08) != 0;
	set.lookup = lookup;
	set.lookup_context = &ctx;
	set.test_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	ctx.down = (flags & 0x20) != 0;

	if ((flags & 3) == 3) {
		if (!next_message(data, size, &pos, &msg, &len) ||
		    len >= sizeof(mech_buf) || memchr(msg, '\0', len) != NULL)
			return 0;
		memcpy(mech_buf, msg, len);
		mech_buf[len] = '\0';
		mech = mech_buf;
	} else {
		mech = mechs[flags & 3];
	}

	server = sasl_server_create(mech, &set, &error);
	if (server == NULL) {
		assert(error != NULL);
		return 0;
	}
	assert(strcasecmp(sasl_server_mech_name(server), mech) == 0);

	if ((flags & 0x10) != 0) {
		if (!next_message(data, size, &pos, &msg, &len))
			msg = (const uint8_t *)"", len = 0;
	} else {
		msg = NULL, len = 0;
	}
	for (;;) {
		/* Each message in its own allocation of exactly its size, so
		   a read past it is caught. */
		uint8_t *copy = NULL;

		if (msg != NULL) {
			copy = malloc(len == 0 ? 1 : len);
			assert(copy != NULL);
			memcpy(copy, msg, len);
		}
		ret = sasl_server_step(server, copy, len, &out, &out_len,
				       &error);
		free(copy);
		steps++;
		assert(out != NULL);
		if (ret != SASL_CONTINUE)
			break;
		assert(steps < 8);
		if (!next_message(data, size, &pos, &msg, &len))
			break;
	}

	if (ret == SASL_OK) {
		const char *user = sasl_server_get_user(server);

		assert(!ctx.down);
		assert(user != NULL);
		assert(strcmp(user, "user") == 0 ||
		       strcmp(user, "plainuser") == 0);
		if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
			assert(out_len > 2 && memcmp(out, "v=", 2) == 0);
		else
			assert(out_len == 0);
		assert(sasl_server_password_is_cleartext(server) ==
		       (strcmp(user, "plainuser") == 0));
	} else if (ret == SASL_FAIL) {
		assert(error != NULL);
		if (sasl_server_failure_is_temporary(server))
			assert(ctx.down && ctx.calls > 0);
	}
	if (ret != SASL_CONTINUE) {
		/* finished: any further message fails */
		ret = sasl_server_step(server, (const uint8_t *)"x", 1, &out,
				       &out_len, &error);
		assert(ret == SASL_FAIL);
	}
	sasl_server_destroy(&server);
	assert(server == NULL);
	return 0;
}
