#include "lib/strnum.h"

#include <string.h>

int
str_to_u64(const void *data, size_t len, uint64_t max, uint64_t *num_r)
{
	const uint8_t *p = data;
	uint64_t n = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		unsigned d = p[i] - '0';
		/* d > max first: max - d would wrap */
		if (d > max || n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*num_r = n;
	return 0;
}

int
str_to_u64z(const char *str, uint64_t max, uint64_t *num_r)
{
	return str_to_u64(str, strlen(str), max, num_r);
}

int
str_to_size(const void *data, size_t len, uint64_t max, uint64_t *size_r)
{
	const uint8_t *p = data;
	uint64_t mult = 1, n;

	if (len > 0) {
		switch (p[len - 1]) {
		case 'k': case 'K': mult = 1ULL << 10; len--; break;
		case 'm': case 'M': mult = 1ULL << 20; len--; break;
		case 'g': case 'G': mult = 1ULL << 30; len--; break;
		case 't': case 'T': mult = 1ULL << 40; len--; break;
		}
	}
	/* n <= max / mult, so n * mult cannot pass max or wrap */
	if (str_to_u64(p, len, max / mult, &n) < 0)
		return -1;
	*size_r = n * mult;
	return 0;
}
