/* libFuzzer target for the IMAP command parser. The first byte picks the
   parser settings and a chunk size; the rest is client input. The input
   is parsed twice, whole and in chunks, and both runs must give the same
   results (the parser is resumable at any byte). Parsed atoms and strings
   also go through the sequence set, date and modified UTF-7 parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap-date.h"
#include "imap/imap-parser.h"
#include "imap/imap-seqset.h"
#include "lib/mutf7.h"

static uint64_t
hash_bytes(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
exercise_helpers(const struct imap_arg *a)
{
	struct imap_seqset *set;
	const char *error;
	time_t t;
	int tz;
	char *out;
	size_t out_len;

	if (imap_seqset_parse(a->data, a->len, &set, &error) == 0) {
		imap_seqset_resolve(set, (uint32_t)a->len * 1000);
		(void)imap_seqset_contains(set, 3);
		(void)imap_seqset_count(set);
		imap_seqset_destroy(&set);
	}
	if (imap_datetime_parse(a->data, a->len, &t, &tz) == 0) {
		char buf[IMAP_DATETIME_BUFSIZE];
		imap_datetime_format(t, tz, buf);
	}
	(void)imap_date_parse(a->data, a->len, &t);
	if (mutf7_to_utf8(a->data, a->len, &out, &out_len, &error) == 0) {
		char *back;
		size_t back_len;
		/* Valid modified UTF-7 converts back to itself. */
		if (utf8_to_mutf7((const uint8_t *)out, out_len, &back,
				  &back_len, &error) != 0 ||
		    back_len != a->len || memcmp(back, a->data, a->len) != 0)
			abort();
		free(back);
		free(out);
	}
}

static uint64_t
hash_args(uint64_t h, const struct imap_arg *args, unsigned int count,
	  bool helpers)
{
	/* Walk the tree with an explicit stack: no recursion on depth. */
	struct {
		const struct imap_arg *args;
		unsigned int count, i;
	} stack[64];
	unsigned int depth = 0;

	stack[0].args = args;
	stack[0].count = count;
	stack[0].i = 0;
	for (;;) {
		if (stack[depth].i == stack[depth].count) {
			h = hash_bytes(h, ")", 1);
			if (depth == 0)
				break;
			depth--;
			continue;
		}
		const struct imap_arg *a = &stack[depth].args[stack[depth].i++];
		h = hash_bytes(h, &a->type, sizeof(a->type));
		h = hash_bytes(h, &a->len, sizeof(a->len));
		if (a->data != NULL)
			h = hash_bytes(h, a->data, a->len);
		if (helpers && a->data != NULL && a->type != IMAP_ARG_LIST)
			exercise_helpers(a);
		if (a->type == IMAP_ARG_LIST && depth + 1 < 64) {
			depth++;
			stack[depth].args = a->list;
			stack[depth].count = a->list_count;
			stack[depth].i = 0;
		}
	}
	return h;
}

/* Parses data in chunks of at most chunk bytes; returns a hash of all
   results. Streamed literals are taken from the input as a session
   would. */
static uint64_t
run(const uint8_t *data, size_t size, size_t chunk, bool authed,
    bool literal_minus, bool helpers)
{
	struct imap_parser_settings set = {
		.literal_minus = literal_minus,
		.max_message_size = 100000,
	};
	struct imap_parser *p = imap_parser_create(&set);
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t avail = 0, pos = 0;
	uint64_t stream_left = 0;
	bool streaming = false;

	imap_parser_set_authenticated(p, authed);
	while (pos < size || streaming) {
		/* "Receive" up to chunk more bytes. */
		if (avail == pos) {
			if (avail == size)
				break;
			avail = avail + chunk < size ? avail + chunk : size;
		}
		if (streaming) {
			size_t n = avail - pos;
			if (n > stream_left)
				n = (size_t)stream_left;
			pos += n;
			stream_left -= n;
			if (stream_left > 0)
				continue;
			streaming = false;
			imap_parser_stream_done(p);
		}

		const struct imap_command *cmd;
		const char *error;
		size_t used;
		enum imap_parse_result ret =
			imap_parser_feed(p, data + pos, avail - pos, &used,
					 &cmd, &error);
		if (used > avail - pos)
			abort();
		pos += used;
		if (ret == IMAP_PARSE_MORE) {
			if (pos != avail)
				abort();
			continue;
		}
		h = hash_bytes(h, &ret, sizeof(ret));
		if (ret == IMAP_PARSE_ERROR) {
			const struct imap_parser_error *e =
				imap_parser_get_error(p);
			h = hash_bytes(h, e->text, strlen(e->text));
			if (e->tag != NULL)
				h = hash_bytes(h, e->tag, strlen(e->tag));
			if (e->fatal)
				break;
			continue;
		}
		if (ret == IMAP_PARSE_LITERAL)
			continue;
		h = hash_bytes(h, cmd->tag, strlen(cmd->tag));
		h = hash_bytes(h, cmd->name, strlen(cmd->name));
		h = hash_args(h, cmd->args, cmd->args_count, helpers);
		if (ret == IMAP_PARSE_LITERAL_STREAM) {
			h = hash_bytes(h, &cmd->stream_size,
				       sizeof(cmd->stream_size));
			/* Refuse every other stream, to cover skipping. */
			if (cmd->stream_size % 2 == 1) {
				imap_parser_stream_skip(p);
			} else {
				streaming = true;
				stream_left = cmd->stream_size;
			}
		}
	}
	imap_parser_destroy(&p);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	bool authed = (flags & 1) != 0;
	bool literal_minus = (flags & 2) != 0;
	size_t chunk = 1 + (flags >> 2);

	data++;
	size--;
	uint64_t whole = run(data, size, size == 0 ? 1 : size, authed,
			     literal_minus, true);
	uint64_t split = run(data, size, chunk, authed, literal_minus, false);
	if (whole != split)
		abort();

	/* Line mode never returns a line longer than the limit. */
	struct imap_parser *p = imap_parser_create(NULL);
	size_t pos = 0;
	while (pos < size) {
		const char *line, *error;
		size_t used, len;
		int ret = imap_parser_read_line(p, data + pos, size - pos,
						&used, &line, &len, &error);
		pos += used;
		if (ret == 0)
			break;
		if (ret > 0 && strlen(line) > len)
			abort();
	}
	imap_parser_destroy(&p);
	return 0;
}
