#include "lib/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

void
log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
	char line[2048];
	size_t pos = 0;
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)level < log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000),
		     level_names[level],
		     ctx != NULL && ctx->proto != NULL ? ctx->proto : "quire");
	pos = (size_t)n;
	if (ctx != NULL && ctx->session != NULL && pos < sizeof(line))
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos,
					" s=%s", ctx->session);
	if (ctx != NULL && ctx->ip != NULL && pos < sizeof(line))
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos,
					" ip=%s", ctx->ip);
	if (ctx != NULL && ctx->user != NULL && pos < sizeof(line))
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos,
					" user=%s", ctx->user);
	if (pos < sizeof(line))
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos, ": ");
	if (pos < sizeof(line)) {
		va_start(ap, fmt);
		n = vsnprintf(line + pos, sizeof(line) - pos, fmt, ap);
		va_end(ap);
		if (n > 0)
			pos += (size_t)n;
	}
	if (pos > sizeof(line) - 2)
		pos = sizeof(line) - 2;
	line[pos++] = '\n';
	/* One write per line keeps lines whole across threads. */
	ssize_t ret = write(STDERR_FILENO, line, pos);
	(void)ret;
}

const char *
log_sanitize(const void *data, size_t len, char *out, size_t outsize)
{
	const unsigned char *p = data;
	size_t i, max;

	if (outsize == 0)
		return out;
	max = outsize - 1;
	for (i = 0; i < len && i < max; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	if (i < len && max >= 3)
		memcpy(out + max - 3, "...", 3);
	out[i] = '\0';
	return out;
}
