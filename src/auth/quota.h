#ifndef QUIRE_AUTH_QUOTA_H
#define QUIRE_AUTH_QUOTA_H

#include <stddef.h>

#include "store/store.h"

/* A user's quota limits (RFC 9208 STORAGE and MESSAGE): the [quota]
   defaults of the configuration, overridden per user by extra fields of
   the passwd-file line (passdb.h):

     userdb_quota_storage=500M     bytes; K/M/G/T suffixes (powers of
                                   1024); 0 = no limit
     userdb_quota_messages=5000    0 = no limit
     userdb_quota_rule=*:storage=1G   Dovecot's form: "*:" then one of
                                   storage=N (a number without a unit
                                   is in KiB, as in Dovecot), bytes=N
                                   (bytes) or messages=N

   A field given twice, or both forms for one resource, takes the last
   one on the line. Dovecot's per-mailbox rules ("Trash:...") and
   relative values ("+10M", "%") are not supported: such a field is an
   error, and the caller keeps the defaults for that user. */

struct passdb_user;

/* Parses one "storage=.." / "bytes=.." / "messages=.." rule body (after
   the "*:"), len bytes, into *quota (only the named resource changes).
   Returns 0, or -1 with *error_r (static text). */
int quota_rule_parse(const char *rule, size_t len, struct store_quota *quota,
		     const char **error_r);

/* Fills *quota_r with defaults and then the user's overrides. Returns 0,
   or -1 with *error_r (static text naming the bad field); *quota_r then
   holds the defaults. */
int quota_user_limits(const struct passdb_user *user,
		      const struct store_quota *defaults,
		      struct store_quota *quota_r, const char **error_r);

#endif
