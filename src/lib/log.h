#ifndef QUIRE_LOG_H
#define QUIRE_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* One log line per event, to stderr (the service manager keeps it):
     2026-11-26T09:00:00.123Z info pop3 s=1f2e user=alice: logout ...
   Every line about a session names the session id, protocol and user.
   Functions are thread-safe: each line is written with one write(2). */

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Who a line is about. Any field may be NULL. */
struct log_ctx {
	const char *proto;   /* "pop3", "lmtp", "imap", "daemon" */
	const char *session; /* short session id */
	const char *user;    /* authenticated user, if any */
	const char *ip;      /* peer address */
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const struct log_ctx *ctx,
	     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(ctx, ...) log_msg(LOG_DEBUG, ctx, __VA_ARGS__)
#define log_info(ctx, ...) log_msg(LOG_INFO, ctx, __VA_ARGS__)
#define log_warn(ctx, ...) log_msg(LOG_WARN, ctx, __VA_ARGS__)
#define log_error(ctx, ...) log_msg(LOG_ERROR, ctx, __VA_ARGS__)

/* Copies client bytes into out (size outsize, always NUL-terminated),
   replacing control and non-ASCII bytes with '?' and cutting at
   outsize-1 bytes ("..." marks a cut). For logging what a client sent. */
const char *log_sanitize(const void *data, size_t len, char *out,
			 size_t outsize);

#endif
