#include "lmtp/deliver.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The spool file and the pipe reader of deliver.h. Kept apart from
   deliver_message() so that users of the spool alone need no store. */

/* Spool writes are gathered into this much memory before a write(2). */
#define SPOOL_BUFFER_SIZE (64 * 1024)
/* Bytes read from the pipe at once by deliver_spool_read_fd(). */
#define DELIVER_READ_CHUNK (32 * 1024)

struct spool {
	int fd;
	uint64_t size;	    /* bytes appended, buffered ones included */
	size_t buf_used;
	int error;	    /* errno of the first failed write, 0 = none */
	uint8_t buf[SPOOL_BUFFER_SIZE];
};

/* Error text for the calling thread: store and passdb texts are only valid
   until their next call, and we make several before returning. */
static __thread char spool_error_buf[512];

static const char *
__attribute__((format(printf, 1, 2)))
spool_error(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(spool_error_buf, sizeof(spool_error_buf), fmt, args);
	va_end(args);
	return spool_error_buf;
}

bool
deliver_error_is_nospace(const char *error)
{
	if (error == NULL)
		return false;
	return strstr(error, strerror(ENOSPC)) != NULL ||
		strstr(error, strerror(EDQUOT)) != NULL;
}

/* ---- the spool ---------------------------------------------------------- */

static int
spool_open_file(const char *dir, int *fd_r)
{
	char *path;
	size_t len;
	int fd;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*fd_r = fd;
		return 0;
	}
	/* ENOENT: dir missing, the caller decides. Other errors: maybe the
	   filesystem has no O_TMPFILE; the classic way may still work. */
	if (errno == ENOENT)
		return -1;
#endif
	len = strlen(dir) + sizeof("/spool.XXXXXX");
	path = xmalloc(len);
	snprintf(path, len, "%s/spool.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		free(path);
		errno = err;
		return -1;
	}
	/* Unlinked at once: a crash leaves nothing behind. */
	(void)unlink(path);
	free(path);
	*fd_r = fd;
	return 0;
}

int
spool_create(const char *dir, struct spool **spool_r, const char **error_r)
{
	struct spool *spool;
	int fd;

	if (spool_open_file(dir, &fd) < 0) {
		/* a fresh data_dir has no tmp/ yet */
		bool retry = errno == ENOENT &&
			(mkdir(dir, 0700) == 0 || errno == EEXIST);

		if (!retry || spool_open_file(dir, &fd) < 0) {
			*error_r = spool_error("creating spool file in %s "
					       "failed: %s", dir,
					       strerror(errno));
			return -1;
		}
	}
	spool = xmalloc(sizeof(*spool));
	spool->fd = fd;
	spool->size = 0;
	spool->buf_used = 0;
	spool->error = 0;
	*spool_r = spool;
	return 0;
}

int
spool_reset(struct spool *spool, const char **error_r)
{
	/* write(2) appends at the file offset: rewind it too. */
	if (ftruncate(spool->fd, 0) < 0 ||
	    lseek(spool->fd, 0, SEEK_SET) < 0) {
		*error_r = spool_error("emptying spool file failed: %s",
				       strerror(errno));
		return -1;
	}
	spool->size = 0;
	spool->buf_used = 0;
	spool->error = 0;
	return 0;
}

void
spool_destroy(struct spool **_spool)
{
	struct spool *spool = *_spool;

	if (spool == NULL)
		return;
	*_spool = NULL;
	(void)close(spool->fd);
	free(spool);
}

static int
spool_fail(struct spool *spool, const char **error_r)
{
	*error_r = spool_error("writing spool file failed: %s",
				 strerror(spool->error));
	return -1;
}

static int
spool_flush(struct spool *spool, const char **error_r)
{
	size_t pos = 0;

	if (spool->error != 0)
		return spool_fail(spool, error_r);
	while (pos < spool->buf_used) {
		ssize_t n = write(spool->fd, spool->buf + pos,
				  spool->buf_used - pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* write(2) returning 0 for a regular file means no
			   room either */
			spool->error = n < 0 ? errno : ENOSPC;
			spool->buf_used = 0;
			return spool_fail(spool, error_r);
		}
		pos += (size_t)n;
	}
	spool->buf_used = 0;
	return 0;
}

int
spool_append(struct spool *spool, const void *data, size_t len,
	     const char **error_r)
{
	const uint8_t *p = data;

	if (spool->error != 0)
		return spool_fail(spool, error_r);
	while (len > 0) {
		size_t n = sizeof(spool->buf) - spool->buf_used;

		if (n > len)
			n = len;
		memcpy(spool->buf + spool->buf_used, p, n);
		spool->buf_used += n;
		spool->size += n;
		p += n;
		len -= n;
		if (spool->buf_used == sizeof(spool->buf) &&
		    spool_flush(spool, error_r) < 0)
			return -1;
	}
	return 0;
}

int
spool_finish(struct spool *spool, const char **error_r)
{
	return spool_flush(spool, error_r);
}

uint64_t
spool_get_size(const struct spool *spool)
{
	return spool->size;
}

int
spool_get_fd(const struct spool *spool)
{
	return spool->fd;
}

/* ---- LF to CRLF --------------------------------------------------------- */

void
crlf_converter_init(struct crlf_converter *c)
{
	c->cr_pending = false;
	c->mid_line = false;
}

size_t
crlf_converter_feed(struct crlf_converter *c, const uint8_t *in,
		    size_t in_len, uint8_t *out)
{
	size_t i, o = 0;

	for (i = 0; i < in_len; i++) {
		uint8_t ch = in[i];

		if (c->cr_pending) {
			/* CR LF, or a bare CR: either way one line end */
			c->cr_pending = false;
			out[o++] = '\r';
			out[o++] = '\n';
			c->mid_line = false;
			if (ch == '\n')
				continue;
		}
		if (ch == '\r') {
			c->cr_pending = true;
		} else if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			c->mid_line = false;
		} else {
			out[o++] = ch;
			c->mid_line = true;
		}
	}
	return o;
}

size_t
crlf_converter_finish(struct crlf_converter *c, uint8_t *out)
{
	if (!c->cr_pending && !c->mid_line)
		return 0;
	c->cr_pending = false;
	c->mid_line = false;
	out[0] = '\r';
	out[1] = '\n';
	return 2;
}

int
deliver_spool_read_fd(int fd, struct spool *spool, uint64_t max_size,
		      const char **error_r)
{
	struct crlf_converter conv;
	uint8_t *in, *out;
	size_t out_len;
	int ret = -1;

	in = xmalloc(DELIVER_READ_CHUNK);
	out = xmalloc(DELIVER_READ_CHUNK * 2 + 2);
	crlf_converter_init(&conv);
	for (;;) {
		ssize_t n = read(fd, in, DELIVER_READ_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			*error_r = spool_error("reading message failed: %s",
						 strerror(errno));
			goto out;
		}
		if (n == 0)
			out_len = crlf_converter_finish(&conv, out);
		else
			out_len = crlf_converter_feed(&conv, in, (size_t)n,
						      out);
		if (max_size != 0 &&
		    (out_len > max_size ||
		     spool_get_size(spool) > max_size - out_len)) {
			ret = 0;
			goto out;
		}
		if (spool_append(spool, out, out_len, error_r) < 0)
			goto out;
		if (n == 0)
			break;
	}
	ret = spool_finish(spool, error_r) < 0 ? -1 : 1;
out:
	free(in);
	free(out);
	return ret;
}
