#include "lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_HARD_MAX (SIZE_MAX / 2)

static void
buf_oom(void)
{
	static const char msg[] = "out of memory in buf\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void
buf_init(struct buf *buf, size_t max)
{
	memset(buf, 0, sizeof(*buf));
	buf->max = max == 0 || max > BUF_HARD_MAX ? BUF_HARD_MAX : max;
}

void
buf_free(struct buf *buf)
{
	size_t max = buf->max;

	free(buf->data);
	memset(buf, 0, sizeof(*buf));
	buf->max = max;
}

void
buf_reset(struct buf *buf)
{
	buf->len = 0;
	buf->overflow = false;
	if (buf->data != NULL)
		buf->data[0] = '\0';
}

void
buf_truncate(struct buf *buf, size_t len)
{
	if (len < buf->len) {
		buf->len = len;
		buf->data[len] = '\0';
	}
}

uint8_t *
buf_reserve(struct buf *buf, size_t n)
{
	if (buf->overflow)
		return NULL;
	if (n > buf->max - buf->len) {
		buf->overflow = true;
		return NULL;
	}
	/* +1 keeps room for the terminating NUL */
	size_t need = buf->len + n + 1;
	if (need > buf->cap) {
		size_t cap = buf->cap < 64 ? 64 : buf->cap;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		uint8_t *p = realloc(buf->data, cap);
		if (p == NULL)
			buf_oom();
		buf->data = p;
		buf->cap = cap;
	}
	return buf->data + buf->len;
}

void
buf_commit(struct buf *buf, size_t n)
{
	/* our own invariant: callers commit what they reserved */
	if (n > buf->cap - buf->len - 1)
		abort();
	buf->len += n;
	buf->data[buf->len] = '\0';
}

int
buf_append_grow(struct buf *buf, const void *data, size_t len)
{
	uint8_t *p = buf_reserve(buf, len);

	if (p == NULL)
		return -1;
	if (len > 0)
		memcpy(p, data, len);
	buf_commit(buf, len);
	return 0;
}

int
buf_append_u64(struct buf *buf, uint64_t n)
{
	/* Two digits per division: FETCH writes a sequence number and a
	   UID for every message of a large mailbox. */
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324"
		"25262728293031323334353637383940414243444546474849"
		"50515253545556575859606162636465666768697071727374"
		"75767778798081828384858687888990919293949596979899";
	char tmp[20];
	size_t i = sizeof(tmp);

	while (n >= 100) {
		unsigned d = (unsigned)(n % 100) * 2;

		n /= 100;
		tmp[--i] = pairs[d + 1];
		tmp[--i] = pairs[d];
	}
	if (n >= 10) {
		unsigned d = (unsigned)n * 2;

		tmp[--i] = pairs[d + 1];
		tmp[--i] = pairs[d];
	} else {
		tmp[--i] = (char)('0' + n);
	}
	return buf_append(buf, tmp + i, sizeof(tmp) - i);
}

int
buf_vappendf(struct buf *buf, const char *fmt, va_list args)
{
	va_list copy;
	char small[256];
	int n;

	va_copy(copy, args);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(buf, small, (size_t)n);

	uint8_t *p = buf_reserve(buf, (size_t)n);
	if (p == NULL)
		return -1;
	/* reserve left room for n bytes plus the NUL */
	vsnprintf((char *)p, (size_t)n + 1, fmt, args);
	buf_commit(buf, (size_t)n);
	return 0;
}

int
buf_appendf(struct buf *buf, const char *fmt, ...)
{
	va_list args;
	int ret;

	va_start(args, fmt);
	ret = buf_vappendf(buf, fmt, args);
	va_end(args);
	return ret;
}

const char *
buf_cstr(const struct buf *buf)
{
	return buf->data == NULL ? "" : (const char *)buf->data;
}

uint8_t *
buf_steal(struct buf *buf, size_t *len_r)
{
	uint8_t *p = buf->data;

	*len_r = buf->len;
	if (p == NULL) {
		p = calloc(1, 1);
		if (p == NULL)
			buf_oom();
	}
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->overflow = false;
	return p;
}
