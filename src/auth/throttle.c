/* Failed-login throttling: see throttle.h. */
#include "auth/throttle.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "auth/auth-private.h"
#include "lib/limits.h"

/* Slots probed from a key's home slot; a small window keeps lookups
   cheap and still finds room in a busy table. */
#define THROTTLE_PROBE 8
/* Counts saturate here: enough to hold the maximum delay, small enough
   that a few half-lives bring an address back to normal. */
#define THROTTLE_MAX_COUNT 32

enum throttle_kind {
	THROTTLE_IP = 'i',
	THROTTLE_USER = 'u',
};

struct throttle_slot {
	uint64_t tag; /* 0: empty */
	uint64_t since_ms; /* time the count was last decayed to */
	uint32_t count;
};

static struct throttle_slot throttle_slots[AUTH_THROTTLE_SLOTS];
static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t throttle_secret[32];
static pthread_once_t throttle_once = PTHREAD_ONCE_INIT;
static uint64_t (*throttle_clock)(void);

static void
throttle_init(void)
{
	auth_random_bytes(throttle_secret, sizeof(throttle_secret));
}

static uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
now_ms(void)
{
	return throttle_clock != NULL ? throttle_clock() : monotonic_ms();
}

/* A keyed hash, so a client cannot aim many names at one slot chain. */
static uint64_t
throttle_tag(enum throttle_kind kind, const char *key)
{
	uint8_t mac[32];
	size_t len = strlen(key);
	uint8_t buf[1 + AUTH_MAX_USERNAME + 64];
	uint64_t tag = 0;

	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[0] = (uint8_t)kind;
	memcpy(buf + 1, key, len);
	auth_hmac_sha256(throttle_secret, sizeof(throttle_secret), buf,
			 len + 1, mac);
	for (unsigned i = 0; i < 8; i++)
		tag = tag << 8 | mac[i];
	return tag == 0 ? 1 : tag;
}

/* Applies the halvings due by now. */
static void
slot_decay(struct throttle_slot *slot, uint64_t now)
{
	const uint64_t half_life = (uint64_t)AUTH_THROTTLE_HALF_LIFE_SECS *
		1000;
	uint64_t halvings;

	if (slot->tag == 0 || now <= slot->since_ms)
		return;
	halvings = (now - slot->since_ms) / half_life;
	if (halvings == 0)
		return;
	if (halvings >= 32)
		slot->count = 0;
	else
		slot->count >>= halvings;
	slot->since_ms += halvings * half_life;
	if (slot->count == 0)
		slot->tag = 0;
}

/* Finds the slot for tag, or (create) claims one, evicting the entry
   with the fewest failures in the probe window. */
static struct throttle_slot *
slot_find(uint64_t tag, uint64_t now, bool create)
{
	size_t home = tag % AUTH_THROTTLE_SLOTS;
	struct throttle_slot *empty = NULL, *victim = NULL;

	for (unsigned i = 0; i < THROTTLE_PROBE; i++) {
		struct throttle_slot *slot =
			&throttle_slots[(home + i) % AUTH_THROTTLE_SLOTS];

		slot_decay(slot, now);
		if (slot->tag == tag)
			return slot;
		if (slot->tag == 0) {
			if (empty == NULL)
				empty = slot;
		} else if (victim == NULL || slot->count < victim->count ||
			   (slot->count == victim->count &&
			    slot->since_ms < victim->since_ms)) {
			victim = slot;
		}
	}
	if (!create)
		return NULL;
	struct throttle_slot *slot = empty != NULL ? empty : victim;
	slot->tag = tag;
	slot->count = 0;
	slot->since_ms = now;
	return slot;
}

/* Counts one failure for key; returns the count before it. */
static uint32_t
throttle_bump(enum throttle_kind kind, const char *key, uint64_t now)
{
	struct throttle_slot *slot;
	uint32_t before;

	if (key == NULL || key[0] == '\0')
		return 0;
	slot = slot_find(throttle_tag(kind, key), now, true);
	before = slot->count;
	if (slot->count < THROTTLE_MAX_COUNT)
		slot->count++;
	return before;
}

unsigned
auth_throttle_delay_ms(const char *ip, const char *user)
{
	uint32_t n, n_ip, n_user;
	uint64_t now, delay;

	pthread_once(&throttle_once, throttle_init);
	pthread_mutex_lock(&throttle_lock);
	now = now_ms();
	n_ip = throttle_bump(THROTTLE_IP, ip, now);
	n_user = throttle_bump(THROTTLE_USER, user, now);
	pthread_mutex_unlock(&throttle_lock);

	n = n_ip > n_user ? n_ip : n_user;
	if (n == 0)
		return 0;
	if (n - 1 >= 20)
		return AUTH_THROTTLE_MAX_DELAY_MS;
	delay = (uint64_t)AUTH_THROTTLE_BASE_DELAY_MS << (n - 1);
	return delay > AUTH_THROTTLE_MAX_DELAY_MS ? AUTH_THROTTLE_MAX_DELAY_MS
						  : (unsigned)delay;
}

void
auth_throttle_success(const char *user)
{
	struct throttle_slot *slot;

	if (user == NULL || user[0] == '\0')
		return;
	pthread_once(&throttle_once, throttle_init);
	pthread_mutex_lock(&throttle_lock);
	slot = slot_find(throttle_tag(THROTTLE_USER, user), now_ms(), false);
	if (slot != NULL)
		memset(slot, 0, sizeof(*slot));
	pthread_mutex_unlock(&throttle_lock);
}

void
auth_throttle_reset(void)
{
	pthread_mutex_lock(&throttle_lock);
	memset(throttle_slots, 0, sizeof(throttle_slots));
	pthread_mutex_unlock(&throttle_lock);
}

void
auth_throttle_set_clock(uint64_t (*now)(void))
{
	pthread_mutex_lock(&throttle_lock);
	throttle_clock = now;
	pthread_mutex_unlock(&throttle_lock);
}
