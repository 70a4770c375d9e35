#include "bench-msg.h"
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"

struct gbuf {
	uint8_t *data;
	size_t len, size;
};

struct msg_pool {
	struct gbuf *msgs;
	unsigned int count;
	uint64_t total;
};

/* splitmix64: small, fast and the same on every machine. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int
rng_below(uint64_t *state, unsigned int n)
{
	return (unsigned int)(rng_next(state) % n);
}

static double
rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) / (double)(1ULL << 53);
}

static void
gbuf_add(struct gbuf *b, const void *data, size_t len)
{
	if (len > b->size - b->len) {
		size_t size = b->size == 0 ? 4096 : b->size;

		while (len > size - b->len) {
			if (size > SIZE_MAX / 2)
				abort();
			size *= 2;
		}
		b->data = realloc(b->data, size);
		if (b->data == NULL)
			abort();
		b->size = size;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* One line of the message: dot-stuffed (RFC 5321 4.5.2), CRLF added. */
static void
gbuf_line(struct gbuf *b, const char *line, size_t len)
{
	if (len > 0 && line[0] == '.')
		gbuf_add(b, ".", 1);
	gbuf_add(b, line, len);
	gbuf_add(b, "\r\n", 2);
}

static void
gbuf_linef(struct gbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
gbuf_linef(struct gbuf *b, const char *fmt, ...)
{
	char line[1024];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	if (n < 0)
		abort();
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	gbuf_line(b, line, (size_t)n);
}

static const char *const words[] = {
	"the", "mail", "server", "report", "meeting", "budget", "quarter",
	"invoice", "attached", "please", "review", "schedule", "delivery",
	"project", "update", "minutes", "draft", "final", "thanks", "regards",
	"café", "naïve", "Grüße", "smörgåsbord", "señor", "déjà", "vu",
	"Straße", "Ελληνικά", "данные", "日本語", "façade", "résumé", "über",
	"and", "of", "to", "in", "for", "with", "on", "at", "from", "by",
	"about", "next", "week", "team", "office", "customer", "order",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))

/* A text paragraph of about `bytes` bytes, wrapped at 72 columns; some
   lines start with a dot so that dot-stuffing is exercised. */
static void
add_text(struct gbuf *b, uint64_t *rng, size_t bytes)
{
	char line[128];
	size_t pos = 0, done = 0;

	while (done < bytes) {
		const char *w = words[rng_below(rng, N_WORDS)];
		size_t wl = strlen(w);

		if (pos == 0 && rng_below(rng, 40) == 0)
			line[pos++] = '.';
		if (pos + wl + 1 > 72) {
			gbuf_line(b, line, pos);
			done += pos + 2;
			pos = 0;
			if (rng_below(rng, 8) == 0) {
				gbuf_line(b, "", 0);
				done += 2;
			}
			continue;
		}
		if (pos > 0 && line[pos - 1] != '.')
			line[pos++] = ' ';
		memcpy(line + pos, w, wl);
		pos += wl;
	}
	if (pos > 0)
		gbuf_line(b, line, pos);
}

/* An attachment body: base64 of pseudo-random bytes, 76-column lines
   (RFC 2045 6.8). */
static void
add_base64(struct gbuf *b, uint64_t *rng, size_t bytes)
{
	uint8_t raw[57];
	char enc[80];
	size_t done = 0;

	while (done < bytes) {
		for (size_t i = 0; i < sizeof(raw); i += 8) {
			uint64_t r = rng_next(rng);

			memcpy(raw + i, &r, sizeof(raw) - i < 8 ?
			       sizeof(raw) - i : 8);
		}
		base64_encode(raw, sizeof(raw), enc);
		gbuf_line(b, enc, 76);
		done += 78;
	}
}

static void
add_subject(struct gbuf *b, uint64_t *rng, unsigned int n)
{
	static const char *const utf8_subjects[] = {
		"Grüße aus München",
		"Résumé du projet — révision",
		"Отчёт за квартал",
		"会議の議事録",
		"Ελληνικά νέα",
	};
	const char *s;
	char *enc;

	switch (rng_below(rng, 4)) {
	case 0:
		gbuf_linef(b, "Subject: %s %s report %u",
			   words[rng_below(rng, 20)],
			   words[rng_below(rng, 20)], n);
		break;
	case 1:
		s = utf8_subjects[rng_below(rng, 5)];
		enc = base64_encode_alloc(s, strlen(s));
		gbuf_linef(b, "Subject: =?UTF-8?B?%s?= %u", enc, n);
		free(enc);
		break;
	case 2:
		gbuf_linef(b, "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?="
			   " %u", n);
		break;
	default:
		gbuf_linef(b, "Subject: Re: =?UTF-8?Q?caf=C3=A9_meeting?= "
			   "=?UTF-8?B?w6AgbWlkaQ==?= %u", n);
		break;
	}
}

static void
generate(struct gbuf *b, uint64_t seed, unsigned int n, size_t min_size,
	 size_t max_size)
{
	uint64_t rng = seed ^ ((uint64_t)n * 0x2545f4914f6cdd1dULL);
	/* log-uniform: many small messages and a long tail */
	double lo = log((double)min_size), hi = log((double)max_size);
	size_t size = (size_t)exp(lo + (hi - lo) * rng_unit(&rng));
	bool multipart = rng_below(&rng, 5) < 2;
	size_t head_start;

	if (size < 600)
		size = 600;
	gbuf_linef(b, "From: \"Sender %u\" <sender%u@example.org>",
		   n % 97, n % 97);
	gbuf_line(b, "To: \"Bench list\" <list@bench.test>", 35);
	add_subject(b, &rng, n);
	gbuf_linef(b, "Date: Thu, 26 Nov 2026 %02u:%02u:%02u +0000",
		   (n / 3600) % 24, (n / 60) % 60, n % 60);
	gbuf_line(b, "MIME-Version: 1.0", 17);
	head_start = b->len;
	if (!multipart) {
		gbuf_line(b, "Content-Type: text/plain; charset=utf-8", 39);
		gbuf_line(b, "Content-Transfer-Encoding: 8bit", 31);
		gbuf_line(b, "", 0);
		add_text(b, &rng, size > b->len ? size - b->len : 100);
		return;
	}
	gbuf_linef(b, "Content-Type: multipart/mixed; boundary=\"=-b%u\"", n);
	gbuf_line(b, "", 0);
	gbuf_line(b, "This is a multi-part message in MIME format.", 44);
	gbuf_linef(b, "--=-b%u", n);
	gbuf_line(b, "Content-Type: text/plain; charset=utf-8", 39);
	gbuf_line(b, "Content-Transfer-Encoding: 8bit", 31);
	gbuf_line(b, "", 0);
	add_text(b, &rng, 300 + size / 8);
	{
		unsigned int parts = 1 + rng_below(&rng, 2);
		size_t used = b->len - head_start;
		size_t left = size > used + 400 ? size - used - 400 : 400;

		for (unsigned int p = 0; p < parts; p++) {
			gbuf_linef(b, "--=-b%u", n);
			gbuf_linef(b, "Content-Type: application/%s; "
				   "name=\"file-%u-%u.%s\"",
				   p == 0 ? "pdf" : "octet-stream", n, p,
				   p == 0 ? "pdf" : "bin");
			gbuf_line(b, "Content-Transfer-Encoding: base64", 33);
			gbuf_linef(b, "Content-Disposition: attachment; "
				   "filename=\"file-%u-%u\"", n, p);
			gbuf_line(b, "", 0);
			add_base64(b, &rng, left / parts);
		}
	}
	gbuf_linef(b, "--=-b%u--", n);
}

struct msg_pool *
msg_pool_create(uint64_t seed, size_t min_size, size_t max_size,
		unsigned int count)
{
	struct msg_pool *pool = bench_xcalloc(1, sizeof(*pool));

	if (count == 0)
		count = 1;
	if (min_size < 100)
		min_size = 100;
	if (max_size < min_size)
		max_size = min_size;
	pool->msgs = bench_xcalloc(count, sizeof(*pool->msgs));
	pool->count = count;
	for (unsigned int i = 0; i < count; i++) {
		generate(&pool->msgs[i], seed, i, min_size, max_size);
		gbuf_add(&pool->msgs[i], ".\r\n", 3);
		pool->total += pool->msgs[i].len;
	}
	return pool;
}

void
msg_pool_destroy(struct msg_pool **_pool)
{
	struct msg_pool *pool = *_pool;

	if (pool == NULL)
		return;
	*_pool = NULL;
	for (unsigned int i = 0; i < pool->count; i++)
		free(pool->msgs[i].data);
	free(pool->msgs);
	free(pool);
}

unsigned int
msg_pool_count(const struct msg_pool *pool)
{
	return pool->count;
}

const uint8_t *
msg_pool_get(const struct msg_pool *pool, unsigned int i, size_t *len_r)
{
	const struct gbuf *m = &pool->msgs[i % pool->count];

	*len_r = m->len;
	return m->data;
}

uint64_t
msg_pool_total(const struct msg_pool *pool)
{
	return pool->total;
}
