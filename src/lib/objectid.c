/* RFC 8474 object ids (see objectid.h). */
#include "lib/objectid.h"

#include <stdio.h>

/* Bijections on 64 and 32 bits: xor with a constant, x ^= x >> k
   (k > 0) and multiplication by an odd number are each invertible. The
   keys keep email, thread and mailbox numbers apart (a thread id is a
   blob id, yet its THREADID differs from that blob's EMAILID). */
static uint64_t
objectid_mix64(uint64_t x, uint64_t key)
{
	x ^= key;
	x ^= x >> 32;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 32;
	return x;
}

static uint32_t
objectid_mix32(uint32_t x, uint32_t key)
{
	x ^= key;
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

void
objectid_email(uint64_t blob_id, char out[OBJECTID_SIZE])
{
	snprintf(out, OBJECTID_SIZE, "M%016llx",
		 (unsigned long long)objectid_mix64(blob_id,
						    0x6d61696c6964ULL));
}

void
objectid_mailbox(uint64_t mailbox_id, uint32_t uidvalidity,
		 char out[OBJECTID_SIZE])
{
	snprintf(out, OBJECTID_SIZE, "F%016llx%08x",
		 (unsigned long long)objectid_mix64(mailbox_id,
						    0x666f6c646572ULL),
		 (unsigned)objectid_mix32(uidvalidity, 0x75696476U));
}

void
objectid_thread(uint64_t thread_id, char out[OBJECTID_SIZE])
{
	snprintf(out, OBJECTID_SIZE, "T%016llx",
		 (unsigned long long)objectid_mix64(thread_id,
						    0x746872656164ULL));
}
