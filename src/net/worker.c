/* Worker threads: one event_base per thread, a job queue to reach a worker
   from other threads, wakes, the graceful stop, and the blocking-job
   threads that take slow work off the event loops. */
#include "net/net-private.h"
#include "lib/limits.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

struct worker_job {
	struct worker_job *next;
	worker_func_t *func;
	void *context;
};

/* A blocking job: the worker_job that later carries done() back to the
   worker comes first, so the one allocation is freed by worker_job_cb. */
struct offload_job {
	struct worker_job done_job;
	struct offload_job *next; /* in the pool's queue */
	struct worker *worker;
	worker_func_t *work;
};

struct worker {
	struct worker_pool *pool;
	unsigned idx;
	struct event_base *base;
	pthread_t thread;
	bool thread_started;

	/* Jobs queued by worker_run(), from any thread. */
	pthread_mutex_t job_lock;
	struct worker_job *jobs_head, **jobs_tail;
	struct event *job_event;

	/* Owner thread only from here on. */
	struct conn *conns;
	unsigned conn_count;
	struct evconnlistener **listeners;
	unsigned listener_count, listener_alloc;
	bool stopping;
	struct event *deadline_event;
};

struct worker_pool {
	unsigned count;
	struct worker *workers;
	atomic_uint conn_count;
	atomic_uint max_conns;
	atomic_bool stop_requested;
	atomic_uint stop_timeout_msecs;
	bool running;

	/* Blocking jobs (worker_pool_offload), guarded by offload_lock. */
	pthread_mutex_t offload_lock;
	pthread_cond_t offload_cond;
	struct offload_job *offload_head, **offload_tail;
	/* Set by worker_pool_join(): the threads drain the queue and exit;
	   later jobs skip their work. */
	bool offload_stop;
	/* Main thread only. */
	pthread_t *offload_threads;
	unsigned offload_started;
};

static __thread struct worker *current_worker;
static __thread char net_error_buf[1024];
static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_result;

const char *
net_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(net_error_buf, sizeof(net_error_buf), fmt, ap);
	va_end(ap);
	return net_error_buf;
}

void *
net_malloc0(size_t size)
{
	void *p = calloc(1, size == 0 ? 1 : size);

	if (p == NULL)
		abort();
	return p;
}

char *
net_strdup(const char *str)
{
	char *p = strdup(str);

	if (p == NULL)
		abort();
	return p;
}

static void
evthread_init_once(void)
{
	evthread_result = evthread_use_pthreads();
	/* A peer closing its end must give EPIPE on write, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

static void
worker_job_cb(evutil_socket_t fd, short what, void *context)
{
	struct worker *worker = context;
	struct worker_job *job, *next;

	pthread_mutex_lock(&worker->job_lock);
	job = worker->jobs_head;
	worker->jobs_head = NULL;
	worker->jobs_tail = &worker->jobs_head;
	pthread_mutex_unlock(&worker->job_lock);

	for (; job != NULL; job = next) {
		next = job->next;
		job->func(job->context);
		free(job);
	}
}

/* Queues a job already filled in (func, context); it is freed after it
   ran. */
static void
worker_run_job(struct worker *worker, struct worker_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&worker->job_lock);
	*worker->jobs_tail = job;
	worker->jobs_tail = &job->next;
	/* Activated under the lock so the job callback, which takes the
	   lock too, cannot miss this job. */
	event_active(worker->job_event, EV_READ, 0);
	pthread_mutex_unlock(&worker->job_lock);
}

static int
worker_init(struct worker_pool *pool, struct worker *worker, unsigned idx,
	    const char **error_r)
{
	worker->pool = pool;
	worker->idx = idx;
	pthread_mutex_init(&worker->job_lock, NULL);
	worker->jobs_tail = &worker->jobs_head;
	worker->base = event_base_new();
	if (worker->base == NULL) {
		*error_r = net_error("worker %u: event_base_new() failed",
				     idx);
		return -1;
	}
	worker->job_event = event_new(worker->base, -1, 0, worker_job_cb,
				      worker);
	if (worker->job_event == NULL)
		abort();
	return 0;
}

int
worker_pool_create(unsigned count, struct worker_pool **pool_r,
		   const char **error_r)
{
	struct worker_pool *pool;

	pthread_once(&evthread_once, evthread_init_once);
	if (evthread_result != 0) {
		*error_r = net_error("libevent: pthread locking unavailable");
		return -1;
	}
	if (count == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		count = (n > 0 ? (unsigned)n : 1) * WORKERS_PER_CORE;
	}
	pool = net_malloc0(sizeof(*pool));
	pool->count = count;
	pthread_mutex_init(&pool->offload_lock, NULL);
	pthread_cond_init(&pool->offload_cond, NULL);
	pool->offload_tail = &pool->offload_head;
	pool->offload_threads = net_malloc0(sizeof(*pool->offload_threads) *
					    count);
	pool->workers = net_malloc0(sizeof(*pool->workers) * count);
	for (unsigned i = 0; i < count; i++) {
		if (worker_init(pool, &pool->workers[i], i, error_r) < 0) {
			pool->count = i + 1;
			worker_pool_destroy(&pool);
			return -1;
		}
	}
	*pool_r = pool;
	return 0;
}

static void
worker_deinit(struct worker *worker)
{
	if (worker->base != NULL) {
		/* Jobs queued after the loop ended still run, so whoever
		   queued them gets to free what they carried. */
		worker_job_cb(-1, 0, worker);
		if (worker->conns != NULL) {
			/* Never stopped: close what is left and let the
			   deferred frees run. */
			conn_list_close_all(worker->conns,
					    "server shutting down");
			for (int i = 0; i < 10 && worker->conns != NULL; i++)
				event_base_loop(worker->base,
						EVLOOP_NONBLOCK);
		}
		if (worker->deadline_event != NULL)
			event_free(worker->deadline_event);
		event_free(worker->job_event);
		event_base_free(worker->base);
	}
	free(worker->listeners);
	pthread_mutex_destroy(&worker->job_lock);
}

/* Hands every queued blocking job's done to its worker without running
   its work. */
static void
offload_cancel_queued(struct worker_pool *pool)
{
	struct offload_job *job, *next;

	pthread_mutex_lock(&pool->offload_lock);
	job = pool->offload_head;
	pool->offload_head = NULL;
	pool->offload_tail = &pool->offload_head;
	pthread_mutex_unlock(&pool->offload_lock);
	for (; job != NULL; job = next) {
		next = job->next;
		worker_run_job(job->worker, &job->done_job);
	}
}

static void *
offload_thread_main(void *context)
{
	struct worker_pool *pool = context;
	struct offload_job *job;
	sigset_t set;

	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	pthread_mutex_lock(&pool->offload_lock);
	for (;;) {
		while (pool->offload_head == NULL && !pool->offload_stop)
			pthread_cond_wait(&pool->offload_cond,
					  &pool->offload_lock);
		job = pool->offload_head;
		if (job == NULL)
			break; /* stopping, and the queue is drained */
		pool->offload_head = job->next;
		if (pool->offload_head == NULL)
			pool->offload_tail = &pool->offload_head;
		pthread_mutex_unlock(&pool->offload_lock);

		job->work(job->done_job.context);
		/* The worker's job lock orders work's writes before done's
		   reads. */
		worker_run_job(job->worker, &job->done_job);

		pthread_mutex_lock(&pool->offload_lock);
	}
	pthread_mutex_unlock(&pool->offload_lock);
	return NULL;
}

/* Tells the blocking-job threads to drain the queue and exit, and joins
   them. */
static void
offload_threads_stop(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->offload_lock);
	pool->offload_stop = true;
	pthread_cond_broadcast(&pool->offload_cond);
	pthread_mutex_unlock(&pool->offload_lock);
	for (unsigned i = 0; i < pool->offload_started; i++)
		pthread_join(pool->offload_threads[i], NULL);
	pool->offload_started = 0;
}

void
worker_pool_offload(struct worker_pool *pool, struct worker *worker,
		    worker_func_t *work, worker_func_t *done, void *context)
{
	struct offload_job *job = net_malloc0(sizeof(*job));
	bool queued = false;

	job->done_job.func = done;
	job->done_job.context = context;
	job->worker = worker;
	job->work = work;
	pthread_mutex_lock(&pool->offload_lock);
	if (!pool->offload_stop) {
		*pool->offload_tail = job;
		pool->offload_tail = &job->next;
		pthread_cond_signal(&pool->offload_cond);
		queued = true;
	}
	pthread_mutex_unlock(&pool->offload_lock);
	if (!queued) {
		/* The blocking-job threads are gone: done only. */
		worker_run_job(worker, &job->done_job);
	}
}

void
worker_pool_destroy(struct worker_pool **_pool)
{
	struct worker_pool *pool = *_pool;

	if (pool == NULL)
		return;
	*_pool = NULL;
	if (pool->running) {
		/* Destroying a running pool is a bug in the caller; stop it
		   hard rather than free memory under running threads. */
		worker_pool_stop(pool, 0);
		worker_pool_join(pool);
	}
	/* Jobs of a pool that never started: their work never runs, but
	   done does (below, with the workers' other late jobs), so whoever
	   queued them frees what they carried. */
	offload_cancel_queued(pool);
	for (unsigned i = 0; i < pool->count; i++)
		worker_deinit(&pool->workers[i]);
	pthread_cond_destroy(&pool->offload_cond);
	pthread_mutex_destroy(&pool->offload_lock);
	free(pool->offload_threads);
	free(pool->workers);
	free(pool);
}

unsigned
worker_pool_count(const struct worker_pool *pool)
{
	return pool->count;
}

struct worker *
worker_pool_get(struct worker_pool *pool, unsigned idx)
{
	if (idx >= pool->count)
		abort();
	return &pool->workers[idx];
}

void
worker_pool_set_max_connections(struct worker_pool *pool, unsigned max)
{
	atomic_store(&pool->max_conns, max);
}

unsigned
worker_pool_connection_count(const struct worker_pool *pool)
{
	return atomic_load(&pool->conn_count);
}

bool
worker_pool_conn_reserve(struct worker_pool *pool)
{
	unsigned max = atomic_load(&pool->max_conns);
	unsigned prev = atomic_fetch_add(&pool->conn_count, 1);

	if (max != 0 && prev >= max) {
		atomic_fetch_sub(&pool->conn_count, 1);
		return false;
	}
	return true;
}

void
worker_pool_conn_release(struct worker_pool *pool)
{
	atomic_fetch_sub(&pool->conn_count, 1);
}

bool
worker_pool_is_running(const struct worker_pool *pool)
{
	return pool->running;
}

static void *
worker_thread_main(void *context)
{
	struct worker *worker = context;
	sigset_t set;

	/* Signals are the main thread's business (SIGHUP reload, SIGTERM
	   stop); a worker never has one delivered to it. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	current_worker = worker;
	event_base_loop(worker->base, EVLOOP_NO_EXIT_ON_EMPTY);
	current_worker = NULL;
	return NULL;
}

int
worker_pool_start(struct worker_pool *pool, const char **error_r)
{
	if (pool->running)
		abort();
	pool->running = true;
	pthread_mutex_lock(&pool->offload_lock);
	pool->offload_stop = false;
	pthread_mutex_unlock(&pool->offload_lock);
	for (unsigned i = 0; i < pool->count; i++) {
		int ret = pthread_create(&pool->offload_threads[i], NULL,
					 offload_thread_main, pool);
		if (ret != 0) {
			*error_r = net_error("blocking-job thread %u: "
					     "pthread_create: %s", i,
					     strerror(ret));
			worker_pool_stop(pool, 0);
			worker_pool_join(pool);
			return -1;
		}
		pool->offload_started++;
	}
	for (unsigned i = 0; i < pool->count; i++) {
		struct worker *worker = &pool->workers[i];
		int ret = pthread_create(&worker->thread, NULL,
					 worker_thread_main, worker);
		if (ret != 0) {
			*error_r = net_error("worker %u: pthread_create: %s",
					     i, strerror(ret));
			worker_pool_stop(pool, 0);
			worker_pool_join(pool);
			return -1;
		}
		worker->thread_started = true;
	}
	return 0;
}

static void
worker_check_done(struct worker *worker)
{
	if (worker->stopping && worker->conn_count == 0)
		event_base_loopbreak(worker->base);
}

static void
worker_deadline_cb(evutil_socket_t fd, short what, void *context)
{
	struct worker *worker = context;

	conn_list_close_all(worker->conns, "server shutting down");
	/* The closes complete from the loop; the last one ends it. */
	worker_check_done(worker);
}

static void
worker_stop_job(void *context)
{
	struct worker *worker = context;
	unsigned msecs;
	struct timeval tv;

	if (worker->stopping)
		return;
	worker->stopping = true;
	for (unsigned i = 0; i < worker->listener_count; i++)
		evconnlistener_disable(worker->listeners[i]);
	conn_list_notify_shutdown(worker->conns);
	if (worker->conn_count == 0) {
		event_base_loopbreak(worker->base);
		return;
	}
	msecs = atomic_load(&worker->pool->stop_timeout_msecs);
	tv.tv_sec = msecs / 1000;
	tv.tv_usec = (msecs % 1000) * 1000;
	worker->deadline_event = evtimer_new(worker->base, worker_deadline_cb,
					     worker);
	if (worker->deadline_event == NULL)
		abort();
	evtimer_add(worker->deadline_event, &tv);
}

void
worker_pool_stop(struct worker_pool *pool, unsigned timeout_msecs)
{
	if (atomic_exchange(&pool->stop_requested, true))
		return;
	atomic_store(&pool->stop_timeout_msecs, timeout_msecs);
	for (unsigned i = 0; i < pool->count; i++)
		worker_run(&pool->workers[i], worker_stop_job,
			   &pool->workers[i]);
}

void
worker_pool_join(struct worker_pool *pool)
{
	for (unsigned i = 0; i < pool->count; i++) {
		struct worker *worker = &pool->workers[i];

		if (worker->thread_started) {
			pthread_join(worker->thread, NULL);
			worker->thread_started = false;
		}
	}
	/* After the workers: a session finishing up during the stop may
	   still have had a job queued; it completes before we return. */
	offload_threads_stop(pool);
	pool->running = false;
}

struct worker *
worker_current(void)
{
	return current_worker;
}

struct event_base *
worker_get_base(struct worker *worker)
{
	return worker->base;
}

unsigned
worker_get_index(const struct worker *worker)
{
	return worker->idx;
}

struct worker_pool *
worker_get_pool(struct worker *worker)
{
	return worker->pool;
}

bool
worker_is_stopping(const struct worker *worker)
{
	return worker->stopping;
}

void
worker_run(struct worker *worker, worker_func_t *func, void *context)
{
	struct worker_job *job = net_malloc0(sizeof(*job));

	job->func = func;
	job->context = context;
	worker_run_job(worker, job);
}

struct conn **
worker_conn_list(struct worker *worker)
{
	return &worker->conns;
}

void
worker_conn_added(struct worker *worker)
{
	worker->conn_count++;
}

void
worker_conn_removed(struct worker *worker)
{
	worker->conn_count--;
	worker_pool_conn_release(worker->pool);
	worker_check_done(worker);
}

void
worker_add_listener(struct worker *worker, struct evconnlistener *lev)
{
	if (worker->listener_count == worker->listener_alloc) {
		unsigned n = worker->listener_alloc == 0 ?
			4 : worker->listener_alloc * 2;
		void *p = reallocarray(worker->listeners, n,
				       sizeof(*worker->listeners));
		if (p == NULL)
			abort();
		worker->listeners = p;
		worker->listener_alloc = n;
	}
	worker->listeners[worker->listener_count++] = lev;
}

void
worker_remove_listener(struct worker *worker, struct evconnlistener *lev)
{
	for (unsigned i = 0; i < worker->listener_count; i++) {
		if (worker->listeners[i] == lev) {
			worker->listeners[i] =
				worker->listeners[--worker->listener_count];
			return;
		}
	}
}

/* Wakes. The mutex serialises trigger (any thread) against detach (owner
   thread): once detached, the event is gone and trigger is a no-op. */
struct worker_wake {
	pthread_mutex_t lock;
	atomic_uint refcount;
	struct event *event; /* NULL once detached */
	worker_wake_callback_t *callback;
	void *context;
};

static void
worker_wake_cb(evutil_socket_t fd, short what, void *context)
{
	struct worker_wake *wake = context;

	/* Detach only happens on this thread, and it frees the event, so
	   the event firing means we are still attached. */
	wake->callback(wake->context);
}

struct worker_wake *
worker_wake_create(struct worker *worker, worker_wake_callback_t *callback,
		   void *context)
{
	struct worker_wake *wake = net_malloc0(sizeof(*wake));

	pthread_mutex_init(&wake->lock, NULL);
	atomic_init(&wake->refcount, 1);
	wake->callback = callback;
	wake->context = context;
	wake->event = event_new(worker->base, -1, 0, worker_wake_cb, wake);
	if (wake->event == NULL)
		abort();
	return wake;
}

void
worker_wake_trigger(struct worker_wake *wake)
{
	pthread_mutex_lock(&wake->lock);
	if (wake->event != NULL)
		event_active(wake->event, EV_READ, 0);
	pthread_mutex_unlock(&wake->lock);
}

void
worker_wake_ref(struct worker_wake *wake)
{
	atomic_fetch_add(&wake->refcount, 1);
}

void
worker_wake_unref(struct worker_wake **_wake)
{
	struct worker_wake *wake = *_wake;

	if (wake == NULL)
		return;
	*_wake = NULL;
	if (atomic_fetch_sub(&wake->refcount, 1) != 1)
		return;
	/* Last reference: nobody can trigger any more. An event still
	   attached means the owner never destroyed it; that must happen on
	   the owner's thread, so it is a caller bug. */
	if (wake->event != NULL)
		abort();
	pthread_mutex_destroy(&wake->lock);
	free(wake);
}

void
worker_wake_destroy(struct worker_wake **_wake)
{
	struct worker_wake *wake = *_wake;

	if (wake == NULL)
		return;
	pthread_mutex_lock(&wake->lock);
	/* event_free also removes a pending activation; it is allowed from
	   within this event's own callback. */
	event_free(wake->event);
	wake->event = NULL;
	pthread_mutex_unlock(&wake->lock);
	worker_wake_unref(_wake);
}
