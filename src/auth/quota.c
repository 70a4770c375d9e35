#include "auth/quota.h"

#include <string.h>

#include "auth/passdb.h"
#include "lib/strnum.h"

int
quota_rule_parse(const char *rule, size_t len, struct store_quota *quota,
		 const char **error_r)
{
	const char *eq = memchr(rule, '=', len);
	size_t klen, vlen;
	const char *v;
	uint64_t n;

	if (eq == NULL) {
		*error_r = "expected storage=, bytes= or messages=";
		return -1;
	}
	klen = (size_t)(eq - rule);
	v = eq + 1;
	vlen = len - klen - 1;
	if (klen == 7 && memcmp(rule, "storage", 7) == 0) {
		/* Dovecot's storage= counts KiB unless a unit is given. */
		if (vlen > 0 && v[vlen - 1] >= '0' && v[vlen - 1] <= '9') {
			if (str_to_u64(v, vlen, UINT64_MAX / 1024, &n) < 0)
				goto bad_size;
			n *= 1024;
		} else if (str_to_size(v, vlen, UINT64_MAX, &n) < 0) {
			goto bad_size;
		}
		quota->storage = n;
	} else if (klen == 5 && memcmp(rule, "bytes", 5) == 0) {
		if (str_to_size(v, vlen, UINT64_MAX, &n) < 0)
			goto bad_size;
		quota->storage = n;
	} else if (klen == 8 && memcmp(rule, "messages", 8) == 0) {
		if (str_to_u64(v, vlen, UINT64_MAX, &n) < 0) {
			*error_r = "messages= expects a number";
			return -1;
		}
		quota->messages = n;
	} else {
		*error_r = "expected storage=, bytes= or messages=";
		return -1;
	}
	return 0;
bad_size:
	*error_r = "expected a size such as 1048576, 500M or 1G";
	return -1;
}

int
quota_user_limits(const struct passdb_user *user,
		  const struct store_quota *defaults,
		  struct store_quota *quota_r, const char **error_r)
{
	struct store_quota q = *defaults;
	uint64_t n;

	*quota_r = *defaults;
	/* In line order, so the last field for a resource wins. */
	for (size_t i = 0; i < user->extra_count; i++) {
		const char *key = user->extra[i].key;
		const char *value = user->extra[i].value;
		size_t vlen = strlen(value);

		if (strcmp(key, "userdb_quota_storage") == 0) {
			if (str_to_size(value, vlen, UINT64_MAX, &n) < 0) {
				*error_r = "userdb_quota_storage: expected a "
					   "size such as 500M or 0";
				return -1;
			}
			q.storage = n;
		} else if (strcmp(key, "userdb_quota_messages") == 0) {
			if (str_to_u64(value, vlen, UINT64_MAX, &n) < 0) {
				*error_r = "userdb_quota_messages: expected a "
					   "number";
				return -1;
			}
			q.messages = n;
		} else if (strcmp(key, "userdb_quota_rule") == 0) {
			const char *why;

			if (vlen < 2 || value[0] != '*' || value[1] != ':') {
				*error_r = "userdb_quota_rule: only \"*:\" "
					   "rules are supported";
				return -1;
			}
			if (quota_rule_parse(value + 2, vlen - 2, &q,
					     &why) < 0) {
				*error_r = "userdb_quota_rule: expected "
					   "*:storage=N, *:bytes=N or "
					   "*:messages=N";
				return -1;
			}
		}
	}
	*quota_r = q;
	return 0;
}
