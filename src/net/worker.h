#ifndef QUIRE_NET_WORKER_H
#define QUIRE_NET_WORKER_H

#include <stdbool.h>

/* A pool of worker threads, each running its own libevent event_base.

   Lifecycle, from the daemon's main thread:
     worker_pool_create()   bases exist, no thread runs yet
     listener_create() ...  binds sockets (as root, before setuid)
     worker_pool_start()    threads run their loops
     worker_pool_stop()     graceful: stop accepting, tell sessions, wait
     worker_pool_join()     threads have exited
     listener_destroy() ... worker_pool_destroy()

   A connection stays on the worker that accepted it for its whole life, so
   everything a session does with its conn happens on one thread and needs
   no locking. Other threads reach a session through worker_run() or a
   worker_wake.

   Errors: functions taking `const char **error_r` set it to a message
   valid until the next net call on the same thread (thread-local text). */

struct event_base;
struct worker;
struct worker_pool;

typedef void worker_func_t(void *context);

/* Creates a pool of count workers (0 = number of online CPUs) and their
   event bases. Turns on libevent's pthread locking first (once per
   process), so events may be activated from any thread. Threads start in
   worker_pool_start(). Returns 0, or -1 with *error_r set. */
int worker_pool_create(unsigned count, struct worker_pool **pool_r,
		       const char **error_r);
/* Frees the pool. It must not be running (never started, or joined).
   Listeners on it must have been destroyed first. *pool is set to NULL. */
void worker_pool_destroy(struct worker_pool **pool);

unsigned worker_pool_count(const struct worker_pool *pool);
/* Worker number idx (0 .. count-1). */
struct worker *worker_pool_get(struct worker_pool *pool, unsigned idx);

/* Most connections alive at once over the whole pool (0 = no limit,
   the default). A connection over the limit is refused: its listener's
   refuse_text is sent (plain listeners) and the socket is closed, with a
   warning logged. May be changed at any time from any thread. */
void worker_pool_set_max_connections(struct worker_pool *pool,
				     unsigned max);
/* Connections alive now, over the whole pool. Any thread. */
unsigned worker_pool_connection_count(const struct worker_pool *pool);

/* Starts one thread per worker, each running its base's loop. Returns 0,
   or -1 with *error_r set (then the threads already started are stopped
   and joined before returning). */
int worker_pool_start(struct worker_pool *pool, const char **error_r);

/* Graceful stop; thread-safe, returns at once. On every worker: its
   listeners stop accepting, every live connection's session gets its
   `shutdown` callback (or is closed if it has none), and the worker's loop
   ends as soon as it has no connection left, or after timeout_msecs; at
   the deadline remaining connections are closed with the reason
   "server shutting down". Calling it again is harmless. */
void worker_pool_stop(struct worker_pool *pool, unsigned timeout_msecs);

/* Waits for every worker thread to exit. Call after worker_pool_stop(). */
void worker_pool_join(struct worker_pool *pool);

/* The worker whose thread calls this, or NULL on a non-worker thread. */
struct worker *worker_current(void);
/* The worker's event base. Only the worker's own thread may add or change
   events on it once the pool runs (event_active excepted). */
struct event_base *worker_get_base(struct worker *worker);
unsigned worker_get_index(const struct worker *worker);
struct worker_pool *worker_get_pool(struct worker *worker);
/* True once worker_pool_stop() reached this worker (its own thread). */
bool worker_is_stopping(const struct worker *worker);

/* Runs func(context) on worker's thread, from its event loop, soon after.
   Thread-safe; from the worker's own thread it is still deferred, never
   called inside worker_run(). Calls queued before the loop ends run; calls
   queued after the loop ended run in worker_pool_destroy(). */
void worker_run(struct worker *worker, worker_func_t *func, void *context);

/* A wake: lets any thread make a callback run on one worker's thread.
   The store's change notification uses it: the session creates a wake on
   its own worker, hands it (with a reference) to the store, and the store
   calls worker_wake_trigger() from whatever thread made the change; the
   session's callback then runs on the session's own thread.

   Several triggers before the callback has run coalesce into one call.
   The object is reference-counted; trigger, ref and unref are safe from
   any thread. worker_wake_destroy() (owner's thread only) detaches the
   callback first: once it returns, the callback never runs again, even if
   another thread holds a reference and triggers it at the same moment. */
struct worker_wake;
typedef void worker_wake_callback_t(void *context);

/* Creates a wake bound to worker with one reference (the creator's).
   Call it on the worker's own thread (or before the pool starts). */
struct worker_wake *worker_wake_create(struct worker *worker,
				       worker_wake_callback_t *callback,
				       void *context);
/* Makes the callback run soon on the bound worker's thread; a no-op once
   detached. Any thread; never calls the callback itself. */
void worker_wake_trigger(struct worker_wake *wake);
/* Takes a reference for another holder (e.g. the store's watcher list). */
void worker_wake_ref(struct worker_wake *wake);
/* Drops a reference; frees on the last one. *wake is set to NULL. */
void worker_wake_unref(struct worker_wake **wake);
/* Detaches the callback and drops the creator's reference. Call on the
   bound worker's thread (may be inside the wake's own callback). *wake is
   set to NULL. */
void worker_wake_destroy(struct worker_wake **wake);

#endif
