#ifndef QUIRE_XALLOC_H
#define QUIRE_XALLOC_H

#include <stddef.h>

/* Allocation that never returns NULL: out of memory aborts (STYLE.md: no
   recovery paths for it). */

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *str);
char *xstrndup(const char *str, size_t len);
/* A malloc'ed formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
