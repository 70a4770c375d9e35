#ifndef QUIRE_BENCH_MSG_H
#define QUIRE_BENCH_MSG_H

/* The benchmark corpus: messages generated from a seed, so two runs (and
   two servers) get byte-for-byte the same mail. Sizes vary log-uniformly
   between a least and a greatest size (the generated header makes a
   message at least about 600 bytes long); about two in five
   are multipart/mixed with one or two base64 attachments; subjects are
   plain ASCII or RFC 2047 encoded (B and Q, UTF-8 and ISO-8859-1); text
   bodies are 8-bit UTF-8 and include lines that start with a dot. */

#include <stddef.h>
#include <stdint.h>

struct msg_pool;

/* Generates count messages (count >= 1). Each is kept in DATA form:
   header lines first, no Message-ID (the sender adds its own per
   delivery), dot-stuffed, CRLF line ends, terminated by CRLF "." CRLF. */
struct msg_pool *msg_pool_create(uint64_t seed, size_t min_size,
				 size_t max_size, unsigned int count);
void msg_pool_destroy(struct msg_pool **pool);

unsigned int msg_pool_count(const struct msg_pool *pool);
/* Message i % count; the bytes live until msg_pool_destroy. */
const uint8_t *msg_pool_get(const struct msg_pool *pool, unsigned int i,
			    size_t *len_r);
/* Sum of the sizes of all pooled messages (DATA form). */
uint64_t msg_pool_total(const struct msg_pool *pool);

#endif
