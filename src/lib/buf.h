#ifndef QUIRE_BUF_H
#define QUIRE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer with an upper bound.

   The struct is public so it can live on the stack or inside another
   struct; treat the fields as read-only and change them only through the
   functions below. data is always NUL-terminated one byte past len (so
   buf_cstr() is free), but may also hold NUL bytes inside.

   Growth is bounded by max (0 = no bound beyond SIZE_MAX/2). An append
   that would pass max appends nothing, sets the sticky overflow flag and
   returns -1; later appends keep failing until buf_reset(). Out of memory
   aborts the process. */
struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	bool overflow;
};

/* An empty buffer that may grow to max bytes (0 = unbounded). Allocates
   nothing until the first append. */
void buf_init(struct buf *buf, size_t max);
/* Frees the memory and leaves an empty buffer (buf_init state, same max). */
void buf_free(struct buf *buf);
/* Empties the buffer, keeps its memory, clears overflow. */
void buf_reset(struct buf *buf);
/* Shortens the buffer to len bytes (no-op if already shorter). */
void buf_truncate(struct buf *buf, size_t len);

/* Append bytes; 0 on success, -1 if max would be passed (nothing added).
   Inline when the bytes fit in the memory already there (FETCH builds
   a response out of many small appends); buf_append_grow() otherwise. */
int buf_append_grow(struct buf *buf, const void *data, size_t len);

static inline int
buf_append(struct buf *buf, const void *data, size_t len)
{
	/* room for len bytes and the NUL, within max, not overflowed */
	if (len < buf->cap - buf->len && len <= buf->max - buf->len &&
	    !buf->overflow) {
		if (len > 0)
			__builtin_memcpy(buf->data + buf->len, data, len);
		buf->len += len;
		buf->data[buf->len] = '\0';
		return 0;
	}
	return buf_append_grow(buf, data, len);
}

static inline int
buf_append_c(struct buf *buf, uint8_t c)
{
	return buf_append(buf, &c, 1);
}

static inline int
buf_append_str(struct buf *buf, const char *str)
{
	return buf_append(buf, str, __builtin_strlen(str));
}
/* Appends the decimal digits of n (what "%" PRIu64 prints, without the
   cost of a format string: FETCH writes millions of numbers). */
int buf_append_u64(struct buf *buf, uint64_t n);
int buf_appendf(struct buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *buf, const char *fmt, va_list args)
	__attribute__((format(printf, 2, 0)));

/* Makes room for at least n more bytes and returns a pointer to them, or
   NULL past max. Commit what you wrote with buf_commit(). */
uint8_t *buf_reserve(struct buf *buf, size_t n);
void buf_commit(struct buf *buf, size_t n);

/* The contents as a C string ("" for an empty buffer, never NULL). Valid
   until the next change. */
const char *buf_cstr(const struct buf *buf);

/* Takes the memory out of the buffer: returns the NUL-terminated bytes
   (caller frees with free()), *len_r gets the length; the buffer is left
   empty. Never NULL. */
uint8_t *buf_steal(struct buf *buf, size_t *len_r);

#endif
