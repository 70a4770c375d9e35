/* The imap-large messages and their Maildir form (bench-large.h). */

#include "bench-large.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t
bench_large_msg(unsigned int k, char *buf, size_t size)
{
	int n = snprintf(buf, size,
			 "From: bench@example.org\r\n"
			 "To: user@bench.test\r\n"
			 "Subject: message %u of the large mailbox\r\n"
			 "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
			 "Message-ID: <large%u@bench.test>\r\n"
			 "\r\n"
			 "Body of message %u with some words: alpha beta "
			 "gamma %s.\r\n", k, k, k,
			 k % BENCH_LARGE_NEEDLE_EVERY == 0 ?
			 BENCH_LARGE_NEEDLE : "delta");

	/* the buffer is ours and sized for the longest k */
	if (n < 0 || (size_t)n >= size)
		abort();
	return (size_t)n;
}

static char large_error[512];

static int
large_fail(const char **error_r, const char *what, const char *path)
{
	snprintf(large_error, sizeof(large_error), "%.16s(%.400s): %.80s", what, path,
		 strerror(errno));
	*error_r = large_error;
	return -1;
}

static int
large_mkdir(const char *path, const char **error_r)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return large_fail(error_r, "mkdir", path);
	return 0;
}

int
bench_large_maildir(const char *dir, unsigned int first,
		    unsigned int count, const char **error_r)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char path[4096], crlf[BENCH_LARGE_MSG_MAX], lf[BENCH_LARGE_MSG_MAX];
	struct timespec times[2] = {
		{ .tv_sec = BENCH_LARGE_TIME },
		{ .tv_sec = BENCH_LARGE_TIME },
	};
	int n;

	if (large_mkdir(dir, error_r) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		n = snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return large_fail(error_r, "path", dir);
		}
		if (large_mkdir(path, error_r) < 0)
			return -1;
	}
	for (unsigned int k = first; k < count; k++) {
		size_t len = bench_large_msg(k, crlf, sizeof(crlf));
		size_t lf_len = 0;
		ssize_t w;
		int fd;

		/* a Maildir file has the local line ends; W= is the size
		   with CRLF, as IMAP counts it (RFC822.SIZE) */
		for (size_t i = 0; i < len; i++) {
			if (crlf[i] == '\r' && i + 1 < len &&
			    crlf[i + 1] == '\n')
				continue;
			lf[lf_len++] = crlf[i];
		}
		/* seconds.M<k>P<pid>: the time and a unique part, zero-padded
		   so that name order is k order */
		n = snprintf(path, sizeof(path),
			     "%s/cur/%lld.M%010uP0.bench-large,S=%zu,W=%zu:2,",
			     dir, (long long)BENCH_LARGE_TIME, k, lf_len, len);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return large_fail(error_r, "path", dir);
		}
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0600);
		if (fd < 0)
			return large_fail(error_r, "open", path);
		w = write(fd, lf, lf_len);
		if (w < 0 || (size_t)w != lf_len) {
			if (w >= 0)
				errno = EIO;
			(void)close(fd);
			return large_fail(error_r, "write", path);
		}
		if (futimens(fd, times) < 0) {
			(void)close(fd);
			return large_fail(error_r, "futimens", path);
		}
		if (close(fd) < 0)
			return large_fail(error_r, "close", path);
	}
	return 0;
}
