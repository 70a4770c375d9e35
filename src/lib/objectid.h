#ifndef QUIRE_OBJECTID_H
#define QUIRE_OBJECTID_H

#include <stdint.h>

/* RFC 8474 object ids, within the RFC's objectid = 1*255 (ALPHA / DIGIT /
   "_" / "-"); case matters. Clients keep them: the encodings below must
   never change.

   EMAILID: "M" + 16 lowercase hex digits, from the store's blob id. COPY
   and MOVE share the blob, so a copy keeps the id; a new APPEND or
   delivery writes a new blob and gets a new one. Blob ids are 64 random
   bits drawn at save time (never the id of a blob that exists), so an id
   freed by an expunge could come back only by a 2^-64 chance per save:
   unique per user in practice, with no counter to keep.

   MAILBOXID: "F" + 16 + 8 lowercase hex digits, from the mailbox's row id
   and its UIDVALIDITY. RENAME keeps both. Row ids are never reused within
   a user's store (AUTOINCREMENT), so DELETE + CREATE of one name gives a
   new id; UIDVALIDITY (time-based, rising) tells apart the mailboxes of a
   user who was deleted and created again, whose row ids start over.

   THREADID: "T" + 16 lowercase hex digits, from the store's thread id
   of the message's blob (the blob id of the message that started the
   thread, so never 0; see store.h "threads"). COPY and MOVE share the
   blob and so the thread. A message saved before threads were kept has
   no thread id: FETCH says NIL for it.

   Each number goes through a fixed permutation (one-to-one, so distinct
   numbers give distinct ids), and consecutive mailboxes do not get
   consecutive-looking ids. */

/* Enough for either kind, with the NUL. */
#define OBJECTID_SIZE 26
#define OBJECTID_EMAIL_LEN 17
#define OBJECTID_MAILBOX_LEN 25
#define OBJECTID_THREAD_LEN 17

void objectid_email(uint64_t blob_id, char out[OBJECTID_SIZE]);
void objectid_thread(uint64_t thread_id, char out[OBJECTID_SIZE]);
void objectid_mailbox(uint64_t mailbox_id, uint32_t uidvalidity,
		      char out[OBJECTID_SIZE]);

#endif
