/* Allocation helpers for src/mail: out of memory aborts. */
#include "mail/mail-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
mail_oom(void)
{
	static const char msg[] = "out of memory in mail\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *
mail_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
	if (p == NULL)
		mail_oom();
	return p;
}

void *
mail_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);
	if (p == NULL)
		mail_oom();
	return p;
}

char *
mail_xstrndup(const void *data, size_t len)
{
	char *p = mail_xcalloc(1, len + 1);
	if (len > 0)
		memcpy(p, data, len);
	return p;
}
