#ifndef QUIRE_MAIL_PRIVATE_H
#define QUIRE_MAIL_PRIVATE_H

/* Helpers shared inside src/mail; not part of the module's API. */

#include <stddef.h>
#include <stdint.h>

/* Allocation that aborts on out of memory. */
void *mail_xcalloc(size_t n, size_t size);
void *mail_xrealloc(void *ptr, size_t size);
char *mail_xstrndup(const void *data, size_t len);

/* 0..63 for a base64 digit, else -1. */
int mail_b64_digit(uint8_t c);
/* 0..15 for a hex digit (either case), else -1. */
int mail_hex_digit(uint8_t c);
/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid, -1 if it
   may be valid but len is too short. */
int mail_utf8_seq(const uint8_t *p, size_t len);

#endif
