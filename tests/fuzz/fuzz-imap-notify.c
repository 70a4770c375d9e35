/* libFuzzer target for the NOTIFY argument parser (imap-notify-parse.c).
   The first byte picks a chunk size; the rest is client input for the
   command parser, and every command it returns goes through
   imap_notify_parse(). The input is parsed whole and in chunks: both runs
   must give the same outcomes, and an accepted spec must keep the rules
   the parser promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-fetch.h"
#include "imap/imap-notify.h"
#include "imap/imap-parser.h"
#include "lib/limits.h"

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

static uint64_t
check_spec(uint64_t h, const struct imap_notify_spec *spec)
{
	unsigned int names = 0;

	h = hash_bytes(h, &spec->none, sizeof(spec->none));
	h = hash_bytes(h, &spec->status, sizeof(spec->status));
	if (spec->none)
		return h;
	if (spec->group_count == 0 ||
	    spec->group_count > IMAP_NOTIFY_MAX_GROUPS)
		abort();
	if (spec->selected >= (int)spec->group_count)
		abort();
	if (spec->fetch != NULL &&
	    (spec->selected < 0 || spec->fetch->sets_seen))
		abort();
	for (unsigned i = 0; i < spec->group_count; i++) {
		const struct imap_notify_group *g = &spec->groups[i];
		bool sel = g->filter == IMAP_NOTIFY_SELECTED ||
			g->filter == IMAP_NOTIFY_SELECTED_DELAYED;

		if (sel != ((int)i == spec->selected))
			abort();
		/* Any set of events is accepted (imap-notify-parse.c: the
		   RFC's own example asks for MessageNew alone), but only
		   events we support. */
		if ((g->events & ~(IMAP_NOTIFY_MESSAGE_EVENTS |
				    IMAP_NOTIFY_MAILBOX_NAME |
				    IMAP_NOTIFY_SUBSCRIPTION_CHANGE)) != 0)
			abort();
		if (sel && (g->events & ~IMAP_NOTIFY_MESSAGE_EVENTS) != 0)
			abort();
		h = hash_bytes(h, &g->filter, sizeof(g->filter));
		h = hash_bytes(h, &g->events, sizeof(g->events));
		for (unsigned j = 0; j < g->name_count; j++) {
			if (g->name_lens[j] == 0)
				abort();
			h = hash_bytes(h, g->names[j], g->name_lens[j]);
		}
		names += g->name_count;
	}
	if (names > IMAP_NOTIFY_MAX_NAMES)
		abort();
	return h;
}

static uint64_t
run(const uint8_t *data, size_t size, size_t chunk)
{
	struct imap_parser *p = imap_parser_create(NULL);
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t avail = 0, pos = 0;

	imap_parser_set_authenticated(p, true);
	while (pos < size) {
		if (avail == pos)
			avail = avail + chunk < size ? avail + chunk : size;

		const struct imap_command *cmd;
		const char *error;
		size_t used;
		enum imap_parse_result ret =
			imap_parser_feed(p, data + pos, avail - pos, &used,
					 &cmd, &error);
		pos += used;
		if (ret == IMAP_PARSE_MORE)
			continue;
		h = hash_bytes(h, &ret, sizeof(ret));
		if (ret == IMAP_PARSE_LITERAL_STREAM) {
			imap_parser_stream_skip(p);
			continue;
		}
		if (ret == IMAP_PARSE_ERROR) {
			if (imap_parser_get_error(p)->fatal)
				break;
			continue;
		}
		if (ret != IMAP_PARSE_DONE)
			continue;

		struct imap_notify_spec *spec;
		enum imap_notify_parse_result r =
			imap_notify_parse(cmd->args, cmd->args_count, &spec,
					  &error);
		h = hash_bytes(h, &r, sizeof(r));
		if (r == IMAP_NOTIFY_PARSE_OK) {
			h = check_spec(h, spec);
			imap_notify_spec_free(&spec);
		} else {
			if (spec != NULL)
				abort();
			h = hash_bytes(h, error, strlen(error));
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
	size_t chunk = 1 + (data[0] & 0x3f);

	data++;
	size--;
	if (run(data, size, size == 0 ? 1 : size) != run(data, size, chunk))
		abort();
	return 0;
}
