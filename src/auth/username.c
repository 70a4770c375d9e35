/* User name rules: see username.h. */
#include "auth/username.h"

#include <string.h>

#include "lib/limits.h"

static bool
username_byte_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
		c == '+' || c == '@';
}

bool
auth_username_valid(const void *name, size_t len)
{
	const uint8_t *p = name;

	if (len == 0 || len > AUTH_MAX_USERNAME)
		return false;
	/* No hidden files, "." or "..", nor something read as an option. */
	if (p[0] == '.' || p[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!username_byte_ok(p[i]))
			return false;
	}
	return true;
}

bool
auth_username_validz(const char *name)
{
	size_t len = strnlen(name, AUTH_MAX_USERNAME + 1);

	return auth_username_valid(name, len);
}

bool
auth_username_has_upper(const char *name)
{
	for (; *name != '\0'; name++) {
		if (*name >= 'A' && *name <= 'Z')
			return true;
	}
	return false;
}

int
auth_username_lowercase(const char *name, char *out, size_t outsize)
{
	size_t len = strlen(name);

	if (len >= outsize)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		out[i] = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
	}
	return 0;
}
