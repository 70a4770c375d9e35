#ifndef QUIRE_OBJECTID_H
#define QUIRE_OBJECTID_H

#include <stdint.h>

/* RFC 8474 object ids: 1 letter + 16 lowercase hex digits, within the
   RFC's objectid = 1*255 (ALPHA / DIGIT / "_" / "-"); case matters.

   EMAILID ("M...") is made from the store's blob id. COPY and MOVE share
   the blob, so a copy keeps the id; a new APPEND or delivery writes a
   new blob and gets a new one. Blob ids are 64 random bits drawn at save
   time (never the id of a blob that exists), so an id freed by an
   expunge could come back only by a 2^-64 chance per save: unique per
   user in practice, with no counter to keep.
   MAILBOXID ("F...") is made from the mailbox's row id, which RENAME
   keeps and which is never reused (AUTOINCREMENT), so DELETE + CREATE of
   one name gives a new id.
   THREADID is not made: threads are not tracked (FETCH says NIL).

   Both pass the number through a fixed 64-bit permutation: distinct
   numbers give distinct ids (the map is one-to-one), and consecutive
   mailboxes do not get consecutive-looking ids. Clients keep these ids:
   the permutation must never change. */

#define OBJECTID_SIZE 18 /* with the NUL */

void objectid_email(uint64_t blob_id, char out[OBJECTID_SIZE]);
void objectid_mailbox(uint64_t mailbox_id, char out[OBJECTID_SIZE]);

#endif
