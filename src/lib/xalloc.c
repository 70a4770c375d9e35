#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
check(void *p)
{
	if (p == NULL)
		abort();
	return p;
}

void *
xmalloc(size_t size)
{
	return check(malloc(size == 0 ? 1 : size));
}

void *
xcalloc(size_t nmemb, size_t size)
{
	return check(calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size));
}

void *
xrealloc(void *ptr, size_t size)
{
	return check(realloc(ptr, size == 0 ? 1 : size));
}

char *
xstrdup(const char *str)
{
	return check(strdup(str));
}

char *
xstrndup(const char *str, size_t len)
{
	return check(strndup(str, len));
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}
