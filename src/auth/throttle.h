#ifndef QUIRE_AUTH_THROTTLE_H
#define QUIRE_AUTH_THROTTLE_H

#include <stdint.h>

/* Slows down password guessing: each failed login is answered after a
   delay that grows with the recent failures from the same remote IP and
   for the same user name (whichever is higher). Counts decay: they halve
   every AUTH_THROTTLE_HALF_LIFE_SECS. The delay is 0 while there were no
   recent failures, then AUTH_THROTTLE_BASE_DELAY_MS doubling per failure,
   capped at AUTH_THROTTLE_MAX_DELAY_MS.

   Memory is fixed: one table of AUTH_THROTTLE_SLOTS entries, keyed by a
   keyed hash of the IP or name (a full table evicts the entry with the
   fewest failures nearby). All functions are thread-safe. The protocol
   delays only the failure reply, never the connection's other work. */

/* Records one failed login from ip (may be NULL) for user (may be NULL
   when none was given) and returns the milliseconds to wait before
   answering it. The first failure gives 0. */
unsigned auth_throttle_delay_ms(const char *ip, const char *user);

/* A successful login: clears user's failure count (not the IP's, so one
   valid account does not reset an address's guessing). */
void auth_throttle_success(const char *user);

/* Tests: forget everything, and use now_ms() as the clock (NULL: the
   monotonic clock). */
void auth_throttle_reset(void);
void auth_throttle_set_clock(uint64_t (*now_ms)(void));

#endif
