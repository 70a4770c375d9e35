/* libFuzzer target: METADATA entry names (RFC 5464 3.2) through
   store_metadata_entry_canon(), for reading and for setting. Checks what
   the header promises: an accepted name is a NUL-free string of the same
   length that starts with /private or /shared, has no "*", "%", "//",
   control bytes or trailing "/", no upper-case ASCII, and is its own
   canonical form; a name accepted for setting is accepted for reading;
   a refused one comes with an error text and no output. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_canon(const char *canon, size_t size, bool for_set)
{
	const char *error = NULL;
	char *again = NULL;

	assert(strlen(canon) == size);
	assert(size <= METADATA_MAX_ENTRY_NAME);
	assert(strncmp(canon, "/private", 8) == 0 ||
	       strncmp(canon, "/shared", 7) == 0);
	assert(strchr(canon, '*') == NULL && strchr(canon, '%') == NULL);
	assert(strstr(canon, "//") == NULL);
	assert(canon[size - 1] != '/');
	for (size_t i = 0; i < size; i++) {
		unsigned char c = (unsigned char)canon[i];
		assert(c >= 0x20 && c != 0x7f);
		assert(!(c >= 'A' && c <= 'Z'));
	}
	assert(store_metadata_entry_canon((const uint8_t *)canon, size,
					  for_set, &again, &error));
	assert(strcmp(again, canon) == 0);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so reading past it is caught. */
	uint8_t *copy = malloc(size == 0 ? 1 : size);
	const char *error;
	char *canon;
	bool get_ok, set_ok;

	assert(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);

	error = NULL;
	canon = (char *)1;
	get_ok = store_metadata_entry_canon(copy, size, false, &canon,
					    &error);
	if (get_ok) {
		check_canon(canon, size, false);
		free(canon);
	} else {
		assert(canon == NULL && error != NULL && error[0] != '\0');
	}

	error = NULL;
	canon = (char *)1;
	set_ok = store_metadata_entry_canon(copy, size, true, &canon, &error);
	if (set_ok) {
		assert(get_ok);
		check_canon(canon, size, true);
		free(canon);
	} else {
		assert(canon == NULL && error != NULL && error[0] != '\0');
	}
	free(copy);
	return 0;
}
