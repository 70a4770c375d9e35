/* RFC 8474 object ids (see objectid.h). */
#include "lib/objectid.h"

#include <stdio.h>

/* A bijection on 64 bits: xor with a constant, x ^= x >> k (k > 0) and
   multiplication by an odd number are each invertible. key keeps email
   and mailbox numbers apart. */
static uint64_t
objectid_mix(uint64_t x, uint64_t key)
{
	x ^= key;
	x ^= x >> 32;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 32;
	return x;
}

void
objectid_email(uint64_t blob_id, char out[OBJECTID_SIZE])
{
	snprintf(out, OBJECTID_SIZE, "M%016llx",
		 (unsigned long long)objectid_mix(blob_id, 0x6d61696c6964ULL));
}

void
objectid_mailbox(uint64_t mailbox_id, char out[OBJECTID_SIZE])
{
	snprintf(out, OBJECTID_SIZE, "F%016llx",
		 (unsigned long long)objectid_mix(mailbox_id,
						  0x666f6c646572ULL));
}
