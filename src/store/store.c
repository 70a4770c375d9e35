/* The store front: user registry, locking, argument checks, UID set
   normalisation and watchers. Everything about files and SQL is in the
   backend (store-sqlite.c). */
#include "store/store-private.h"

#include "lib/limits.h"
#include "lib/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct log_ctx store_log_ctx = { .proto = "store" };

/* ---- small helpers ------------------------------------------------------ */

void *
store_malloc0(size_t size)
{
	void *p = calloc(1, size == 0 ? 1 : size);
	if (p == NULL)
		abort();
	return p;
}

void *
store_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);
	if (p == NULL)
		abort();
	return p;
}

char *
store_strdup(const char *str)
{
	char *p = strdup(str);
	if (p == NULL)
		abort();
	return p;
}

void
store_array_grow(void **arr, size_t elsize, unsigned *alloc, unsigned need)
{
	if (need < *alloc)
		return;
	unsigned n = *alloc < 16 ? 16 : *alloc;
	while (n <= need) {
		if (n > UINT32_MAX / 2)
			abort();
		n *= 2;
	}
	if (n > SIZE_MAX / elsize)
		abort();
	*arr = store_realloc(*arr, (size_t)n * elsize);
	*alloc = n;
}

/* Error text is per thread, so callers on different workers never see
   each other's messages and need not free anything. */
static __thread char store_error_buf[512];
static __thread bool store_error_quota;
static __thread bool store_error_gone;

int
store_error(const char **error_r, const char *fmt, ...)
{
	va_list args;

	store_error_quota = false;
	store_error_gone = false;
	va_start(args, fmt);
	vsnprintf(store_error_buf, sizeof(store_error_buf), fmt, args);
	va_end(args);
	if (error_r != NULL)
		*error_r = store_error_buf;
	return -1;
}

/* An error of a kind callers test for: its fixed text, and its flag. */
static int
store_error_kind(const char **error_r, const char *text, bool *kind)
{
	store_error(error_r, "%s", text);
	*kind = true;
	return -1;
}

int
store_error_overquota(const char **error_r)
{
	return store_error_kind(error_r, STORE_ERROR_OVERQUOTA,
				&store_error_quota);
}

bool
store_error_is_overquota(void)
{
	return store_error_quota;
}

int
store_error_expunged(const char **error_r)
{
	return store_error_kind(error_r, STORE_ERROR_EXPUNGED,
				&store_error_gone);
}

bool
store_error_is_expunged(void)
{
	return store_error_gone;
}

uint32_t
store_name_hash(const char *name)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
	     p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

time_t
store_now(const struct store *store)
{
	if (store->clock != NULL)
		return store->clock(store->clock_context);
	return time(NULL);
}

bool
store_username_valid(const char *name, const char **error_r)
{
	size_t len = strlen(name);

	if (len == 0 || len > AUTH_MAX_USERNAME) {
		store_error(error_r, "Invalid user name length");
		return false;
	}
	/* No leading dot: "." and "..", and the backend's own names such as
	   a user directory being removed. */
	if (name[0] == '.') {
		store_error(error_r, "Invalid user name");
		return false;
	}
	/* The name becomes a directory name: no separators, no control
	   bytes. Bytes >= 0x80 (UTF-8) are allowed as they are. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
			store_error(error_r,
				    "Invalid character in user name");
			return false;
		}
	}
	return true;
}

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
   above U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n > len - i - 1)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool
store_mailbox_name_canon(const char *name, char **canon_r,
			 const char **error_r)
{
	size_t len = strlen(name);

	if (len == 0 || len > STORE_MAX_MAILBOX_NAME) {
		store_error(error_r, "Invalid mailbox name length");
		return false;
	}
	if (!utf8_valid((const unsigned char *)name, len)) {
		store_error(error_r, "Mailbox name is not valid UTF-8");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f) {
			store_error(error_r,
				    "Invalid character in mailbox name");
			return false;
		}
		if (c == '/' &&
		    (i == 0 || i + 1 == len || name[i + 1] == '/')) {
			store_error(error_r,
				    "Empty hierarchy level in mailbox name");
			return false;
		}
	}
	char *canon = store_strdup(name);
	/* RFC 3501 5.1: INBOX is case-insensitive, also as a parent. */
	if (strncasecmp(canon, "INBOX", 5) == 0 &&
	    (canon[5] == '\0' || canon[5] == '/'))
		memcpy(canon, "INBOX", 5);
	*canon_r = canon;
	return true;
}

bool
store_keyword_valid(const char *name)
{
	size_t len = strlen(name);

	/* An IMAP atom, and not a system flag (those start with '\'). */
	if (len == 0 || len > STORE_MAX_KEYWORD_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void
store_uidl(uint32_t uidvalidity, uint32_t uid, char out[STORE_UIDL_SIZE])
{
	snprintf(out, STORE_UIDL_SIZE, "%08x%08x", uidvalidity, uid);
}

/* ---- the store and its registry ------------------------------------ */

static ssize_t
store_default_write(int fd, const void *buf, size_t count)
{
	return write(fd, buf, count);
}

static int
store_default_fsync(int fd)
{
	return fsync(fd);
}

void
store_set_io(struct store *store, const struct store_io *io)
{
	store->io.write = io != NULL && io->write != NULL ?
				  io->write :
				  store_default_write;
	store->io.fsync = io != NULL && io->fsync != NULL ?
				  io->fsync :
				  store_default_fsync;
}

int
store_open(const struct store_settings *settings, struct store **store_r,
	   const char **error_r)
{
	if (settings->data_dir == NULL || settings->data_dir[0] == '\0')
		return store_error(error_r, "data_dir is not set");
	if (mkdir(settings->data_dir, 0700) < 0 && errno != EEXIST) {
		return store_error(error_r, "mkdir(%s) failed: %s",
				   settings->data_dir, strerror(errno));
	}

	struct store *store = store_malloc0(sizeof(*store));
	store->data_dir = store_strdup(settings->data_dir);
	store->backend = &store_backend_sqlite;
	store->clock = settings->clock;
	store->clock_context = settings->clock_context;
	store->busy_timeout_msecs = settings->busy_timeout_msecs != 0 ?
					    settings->busy_timeout_msecs :
					    5000;
	store->exclusive = settings->exclusive;
	store->journal = settings->journal;
	store->idle_max = settings->idle_users != 0 ? settings->idle_users :
						       64;
	store->expunge_log_max = STORE_EXPUNGE_LOG_MAX;
	atomic_init(&store->view_cache_entries, 0);
	store->view_cache_max_entries = STORE_VIEW_CACHE_ENTRIES;
	store->view_ring_max = STORE_VIEW_RING_MAX;
	store_set_io(store, NULL);
	pthread_mutex_init(&store->registry_lock, NULL);
	pthread_mutex_init(&store->fts_lock, NULL);
	pthread_mutex_init(&store->unlink_lock, NULL);
	store->unlink_tail = &store->unlink_head;
	pthread_mutex_init(&store->spare_lock, NULL);
	store->spare_fd = -1;
	*store_r = store;
	return 0;
}

static void
store_user_free(struct store_user *user)
{
	store_view_cache_drop(user);
	store_view_ghosts_release(user);
	if (user->backend_data != NULL)
		user->store->backend->user_close(user);
	pthread_mutex_destroy(&user->lock);
	pthread_mutex_destroy(&user->commit_lock);
	pthread_cond_destroy(&user->commit_cond);
	while (user->watches != NULL) {
		struct store_watch *w = user->watches;
		user->watches = w->next;
		free(w);
	}
	free(user->name);
	free(user);
}

static void spares_clear(struct store *store);

void
store_close(struct store **_store)
{
	struct store *store = *_store;

	if (store == NULL)
		return;
	*_store = NULL;
	for (unsigned i = 0; i < STORE_REGISTRY_BUCKETS; i++) {
		while (store->buckets[i] != NULL) {
			struct store_user *user = store->buckets[i];
			store->buckets[i] = user->bucket_next;
			if (user->refcount > 0) {
				log_warn(&store_log_ctx,
					 "user %s still referenced (%u) at "
					 "close", user->name, user->refcount);
			}
			store_user_free(user);
		}
	}
	(void)store_unlinks_run(store);
	spares_clear(store);
	if (store->spare_fd >= 0)
		close(store->spare_fd);
	free(store->spares);
	pthread_mutex_destroy(&store->spare_lock);
	pthread_mutex_destroy(&store->unlink_lock);
	pthread_mutex_destroy(&store->registry_lock);
	for (unsigned i = 0; i < store->fts_marked_count; i++)
		free(store->fts_marked[i].name);
	free(store->fts_marked);
	pthread_mutex_destroy(&store->fts_lock);
	free(store->data_dir);
	free(store);
}

/* ---- deferred unlinks ----------------------------------------------- */

struct store_unlinks *
store_unlinks_new(const char *dir, unsigned count)
{
	struct store_unlinks *batch =
		store_malloc0(sizeof(*batch) +
			      (size_t)count * STORE_UNLINK_NAME_MAX);

	batch->dir = store_strdup(dir);
	batch->count = count;
	return batch;
}

/* Seconds on CLOCK_MONOTONIC: spares' and idle users' ages, the
   indexer's marks. */
time_t
store_monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- spare files ---------------------------------------------------- */

/* A spare's file name under spare_fd. */
static void
spare_name(uint32_t seq, char name[16])
{
	snprintf(name, 16, "%u", seq);
}

/* Takes the oldest spare out of the ring; spare_lock held. */
static bool
spare_pop(struct store *store, struct store_spare *sp_r)
{
	if (store->spare_count == 0)
		return false;
	*sp_r = store->spares[store->spare_head];
	store->spare_head = (store->spare_head + 1) % STORE_SPARE_COUNT;
	store->spare_count--;
	store->spare_bytes -= sp_r->bytes;
	return true;
}

/* Removes every spare. */
static void
spares_clear(struct store *store)
{
	struct store_spare sp;
	char name[16];

	pthread_mutex_lock(&store->spare_lock);
	while (spare_pop(store, &sp)) {
		spare_name(sp.name, name);
		(void)unlinkat(store->spare_fd, name, 0);
	}
	pthread_mutex_unlock(&store->spare_lock);
}

/* Sets up data_dir/spare, emptied of what an earlier run left. Spares
   are an optimisation: any failure leaves them off. */
static void
spares_open(struct store *store)
{
	size_t len = strlen(store->data_dir) + sizeof("/spare");
	char *path = store_malloc0(len);
	DIR *dir;
	int fd;

	snprintf(path, len, "%s/spare", store->data_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		log_warn(&store_log_ctx, "mkdir(%s) failed: %s", path,
			 strerror(errno));
		free(path);
		return;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(dup(fd))) == NULL) {
		log_warn(&store_log_ctx, "open(%s) failed: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return;
	}
	for (struct dirent *d; (d = readdir(dir)) != NULL;) {
		if (d->d_name[0] != '.')
			(void)unlinkat(fd, d->d_name, 0);
	}
	closedir(dir);
	free(path);
	pthread_mutex_lock(&store->spare_lock);
	store->spares = store_malloc0(STORE_SPARE_COUNT *
				      sizeof(*store->spares));
	store->spare_fd = fd;
	store->spare_last_take = store_monotonic_now();
	pthread_mutex_unlock(&store->spare_lock);
}

/* Keeps dfd/name as a spare if it is small and there is room; false
   when the caller is to unlink it. */
static bool
spare_put(struct store *store, int dfd, const char *name)
{
	struct stat st;
	uint64_t bytes;
	char spare[16];
	bool kept = false;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_nlink != 1)
		return false;
	bytes = (uint64_t)st.st_blocks * 512;
	if (bytes > STORE_SPARE_FILE_MAX)
		return false;
	pthread_mutex_lock(&store->spare_lock);
	if (store->spare_fd >= 0 && !store->spare_off &&
	    store->spare_count < STORE_SPARE_COUNT &&
	    store->spare_bytes + bytes <= STORE_SPARE_BYTES) {
		uint32_t seq = store->spare_seq++;

		spare_name(seq, spare);
		if (renameat2(dfd, name, store->spare_fd, spare,
			      RENAME_NOREPLACE) == 0) {
			unsigned tail = (store->spare_head +
					 store->spare_count) %
					STORE_SPARE_COUNT;

			store->spares[tail].name = seq;
			store->spares[tail].bytes = (uint32_t)bytes;
			store->spare_count++;
			store->spare_bytes += bytes;
			kept = true;
		}
	}
	pthread_mutex_unlock(&store->spare_lock);
	return kept;
}

int
store_spare_take(struct store *store, char name_r[16], int *dir_fd_r)
{
	/* A spare still open elsewhere (a FETCH reading the expunged
	   message) is removed and the next one tried. */
	for (int tries = 0; tries < 3; tries++) {
		struct store_spare sp;
		int fd;

		bool found;

		pthread_mutex_lock(&store->spare_lock);
		found = spare_pop(store, &sp);
		if (found)
			store->spare_last_take = store_monotonic_now();
		pthread_mutex_unlock(&store->spare_lock);
		if (!found)
			return -1;
		spare_name(sp.name, name_r);
		fd = openat(store->spare_fd, name_r,
			    O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			(void)unlinkat(store->spare_fd, name_r, 0);
			continue;
		}
		/* The file is out of every reader's reach since it became a
		   spare, but a reader may have opened it before. A write
		   lease is granted only when no other open file (in any
		   process) refers to it: the test that none does. */
		if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0) {
			int err = errno;

			close(fd);
			(void)unlinkat(store->spare_fd, name_r, 0);
			if (err != EINVAL && err != ENOSYS)
				continue; /* open elsewhere, or not ours */
			/* no leases here (a filesystem or a sysctl
			   without them): no spares either */
			log_warn(&store_log_ctx,
				 "file leases unavailable (%s): removed "
				 "messages' files are no longer reused",
				 strerror(err));
			/* (the directory stays open: another thread may be
			   writing a spare it took right now) */
			pthread_mutex_lock(&store->spare_lock);
			store->spare_off = true;
			pthread_mutex_unlock(&store->spare_lock);
			spares_clear(store);
			return -1;
		}
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
		*dir_fd_r = store->spare_fd;
		return fd;
	}
	return -1;
}

/* Keeps what it can of the batch's files (under dfd) as spares; leaves
   in the batch the names it did not keep. */
static void
spares_put_batch(struct store *store, int dfd, struct store_unlinks *batch)
{
	unsigned left = 0;

	for (unsigned i = 0; i < batch->count; i++) {
		if (spare_put(store, dfd, batch->names[i]))
			continue;
		if (left != i)
			memcpy(batch->names[left], batch->names[i],
			       STORE_UNLINK_NAME_MAX);
		left++;
	}
	batch->count = left;
}

static void
unlinks_do(struct store *store, struct store_unlinks *batch)
{
	int dfd = open(batch->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* gone with its user (user del --purge): nothing left to do */
	if (dfd < 0) {
		if (errno != ENOENT)
			log_error(&store_log_ctx, "open(%s) failed: %s",
				  batch->dir, strerror(errno));
	} else {
		spares_put_batch(store, dfd, batch);
		for (unsigned i = 0; i < batch->count; i++) {
			if (unlinkat(dfd, batch->names[i], 0) < 0 &&
			    errno != ENOENT) {
				log_error(&store_log_ctx,
					  "unlink(%s/%s) failed: %s",
					  batch->dir, batch->names[i],
					  strerror(errno));
			}
		}
		close(dfd);
	}
	free(batch->dir);
	free(batch);
}

/* Keeps a small batch's files as spares in the submitting thread, so
   that the next saves find them (the daemon's main thread, niced, may
   get to its queue seconds late on a busy machine, and every save
   meanwhile creates an inode). Leaves in the batch what was not kept. */
static void
spares_put_now(struct store *store, struct store_unlinks *batch)
{
	int dfd;

	if (batch->count > STORE_SPARE_INLINE)
		return;
	pthread_mutex_lock(&store->spare_lock);
	bool room = store->spare_fd >= 0 && !store->spare_off &&
		    store->spare_count < STORE_SPARE_COUNT;
	pthread_mutex_unlock(&store->spare_lock);
	if (!room ||
	    (dfd = open(batch->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	spares_put_batch(store, dfd, batch);
	close(dfd);
}

void
store_unlinks_submit(struct store *store, struct store_unlinks *batch)
{
	/* (unlink_deferred is set once, before any thread removes) */
	if (store->unlink_deferred)
		spares_put_now(store, batch);
	if (batch->count == 0) {
		free(batch->dir);
		free(batch);
		return;
	}
	pthread_mutex_lock(&store->unlink_lock);
	if (store->unlink_deferred &&
	    store->unlink_queued + batch->count <= STORE_UNLINK_QUEUE_MAX) {
		batch->next = NULL;
		*store->unlink_tail = batch;
		store->unlink_tail = &batch->next;
		store->unlink_queued += batch->count;
		batch = NULL;
	}
	pthread_mutex_unlock(&store->unlink_lock);
	if (batch != NULL)
		unlinks_do(store, batch);
}

void
store_unlinks_defer(struct store *store)
{
	pthread_mutex_lock(&store->unlink_lock);
	store->unlink_deferred = true;
	pthread_mutex_unlock(&store->unlink_lock);
	if (store->spare_fd < 0)
		spares_open(store);
}

unsigned long
store_unlinks_run(struct store *store)
{
	struct store_unlinks *batch, *next;
	unsigned long count;
	bool idle;

	pthread_mutex_lock(&store->unlink_lock);
	batch = store->unlink_head;
	count = store->unlink_queued;
	store->unlink_head = NULL;
	store->unlink_tail = &store->unlink_head;
	store->unlink_queued = 0;
	pthread_mutex_unlock(&store->unlink_lock);
	for (; batch != NULL; batch = next) {
		next = batch->next;
		unlinks_do(store, batch);
	}
	pthread_mutex_lock(&store->spare_lock);
	idle = store->spare_count > 0 &&
	       store_monotonic_now() - store->spare_last_take >=
	       STORE_SPARE_IDLE_SECS;
	pthread_mutex_unlock(&store->spare_lock);
	if (idle)
		spares_clear(store);
	return count;
}

/* Registry helpers; the registry lock is held. */
static void
idle_remove(struct store *store, struct store_user *user)
{
	if (user->idle_prev != NULL)
		user->idle_prev->idle_next = user->idle_next;
	else
		store->idle_head = user->idle_next;
	if (user->idle_next != NULL)
		user->idle_next->idle_prev = user->idle_prev;
	else
		store->idle_tail = user->idle_prev;
	user->idle_prev = user->idle_next = NULL;
	user->idle = false;
	store->idle_count--;
}

static void
idle_push(struct store *store, struct store_user *user)
{
	user->idle = true;
	user->idle_prev = NULL;
	user->idle_next = store->idle_head;
	if (store->idle_head != NULL)
		store->idle_head->idle_prev = user;
	else
		store->idle_tail = user;
	store->idle_head = user;
	store->idle_count++;
}

static void
bucket_remove(struct store *store, struct store_user *user)
{
	struct store_user **p = &store->buckets[user->name_hash %
						 STORE_REGISTRY_BUCKETS];
	while (*p != user)
		p = &(*p)->bucket_next;
	*p = user->bucket_next;
}

/* Marks a user just opened for the indexer if some of its messages lack
   an index row: the daemon stopped before the indexer got to them, or
   `quire deliver` wrote while it was stopped. Without this they would
   wait for the user's next change, and searches would read them. */
static void
fts_mark_if_pending(struct store_user *user)
{
	uint64_t *ids = NULL;
	unsigned count = 0;
	const char *error;
	int ret;

	ret = store_fts_pending(user, 1, &ids, &count, &error);
	free(ids);
	if (ret == 0 && count > 0)
		store_fts_mark(user);
}

int
store_user_get(struct store *store, const char *username,
	       struct store_user **user_r, const char **error_r)
{
	if (!store_username_valid(username, error_r))
		return -1;

	uint32_t hash = store_name_hash(username);
	unsigned bucket = hash % STORE_REGISTRY_BUCKETS;
	struct store_user *user;

	pthread_mutex_lock(&store->registry_lock);
	for (user = store->buckets[bucket]; user != NULL;
	     user = user->bucket_next) {
		if (strcmp(user->name, username) == 0) {
			if (user->idle)
				idle_remove(store, user);
			user->refcount++;
			pthread_mutex_unlock(&store->registry_lock);
			*user_r = user;
			return 0;
		}
	}

	user = store_malloc0(sizeof(*user));
	user->store = store;
	user->name = store_strdup(username);
	user->name_hash = hash;
	user->refcount = 1;
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&user->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&user->commit_lock, NULL);
	pthread_cond_init(&user->commit_cond, NULL);

	/* Opened under the registry lock so that two threads asking for a
	   new user do not both open it. Opening is a few file operations. */
	if (store->backend->user_open(user, error_r) < 0) {
		pthread_mutex_unlock(&store->registry_lock);
		store_user_free(user);
		return -1;
	}
	user->bucket_next = store->buckets[bucket];
	store->buckets[bucket] = user;
	pthread_mutex_unlock(&store->registry_lock);
	fts_mark_if_pending(user);
	*user_r = user;
	return 0;
}

void
store_user_ref(struct store_user *user)
{
	pthread_mutex_lock(&user->store->registry_lock);
	user->refcount++;
	pthread_mutex_unlock(&user->store->registry_lock);
}

void
store_user_unref(struct store_user **_user)
{
	struct store_user *user = *_user;

	if (user == NULL)
		return;
	*_user = NULL;

	struct store *store = user->store;
	pthread_mutex_lock(&store->registry_lock);
	if (--user->refcount > 0) {
		pthread_mutex_unlock(&store->registry_lock);
		return;
	}
	if (user->watches != NULL) {
		log_warn(&store_log_ctx,
			 "user %s released with watchers still registered",
			 user->name);
	}
	struct store_user *victim = user;
	if (user->watches == NULL) {
		/* Keep it open, caches too (store_idle_trim()); close the
		   least recently used if too many. */
		user->idle_since = store_monotonic_now();
		user->idle_trimmed = false;
		idle_push(store, user);
		victim = NULL;
		if (store->idle_count > store->idle_max) {
			victim = store->idle_tail;
			idle_remove(store, victim);
		}
	}
	if (victim != NULL)
		bucket_remove(store, victim);
	pthread_mutex_unlock(&store->registry_lock);
	if (victim != NULL)
		store_user_free(victim);
}

unsigned long
store_journal_run(struct store *store)
{
	struct store_user **users = NULL;
	unsigned count = 0, alloc = 0;

	/* Referenced as store_user_get() would, so that none is closed
	   (or deleted) during the pass; an idle user returns to the idle
	   list with the unref. */
	pthread_mutex_lock(&store->registry_lock);
	for (unsigned i = 0; i < STORE_REGISTRY_BUCKETS; i++) {
		for (struct store_user *u = store->buckets[i]; u != NULL;
		     u = u->bucket_next) {
			if (!store->backend->journal_pending(u))
				continue;
			if (u->idle)
				idle_remove(store, u);
			u->refcount++;
			store_array_grow((void **)&users, sizeof(*users),
					 &alloc, count);
			users[count++] = u;
		}
	}
	pthread_mutex_unlock(&store->registry_lock);
	if (count == 0)
		return 0;
	unsigned long done = store->backend->journal_sync(users, count);
	for (unsigned i = 0; i < count; i++)
		store_user_unref(&users[i]);
	free(users);
	return done;
}

void
store_idle_trim(struct store *store, unsigned secs)
{
	time_t now = store_monotonic_now();

	pthread_mutex_lock(&store->registry_lock);
	/* oldest first; an idle user is used by no one, and cannot be
	   taken while the registry is locked */
	for (struct store_user *u = store->idle_tail; u != NULL;
	     u = u->idle_prev) {
		if (now - u->idle_since < (time_t)secs)
			break;
		if (!u->idle_trimmed) {
			store->backend->user_idle(u);
			u->idle_trimmed = true;
		}
	}
	pthread_mutex_unlock(&store->registry_lock);
}

const char *
store_user_name(const struct store_user *user)
{
	return user->name;
}

void
store_user_lock(struct store_user *user)
{
	pthread_mutex_lock(&user->lock);
	user->lock_owner = pthread_self();
	user->lock_depth++;
}

void
store_user_unlock(struct store_user *user)
{
	assert(user->lock_depth > 0);
	user->lock_depth--;
	pthread_mutex_unlock(&user->lock);
}

/* Whether the calling thread holds the user's lock. */
static bool
user_locked_by_me(struct store_user *user)
{
	bool mine;

	/* lock_owner is only written by the holder; if we are not the
	   holder the comparison is false whatever we read. */
	if (pthread_mutex_trylock(&user->lock) != 0)
		return false;
	mine = user->lock_depth > 0 &&
	       pthread_equal(user->lock_owner, pthread_self());
	pthread_mutex_unlock(&user->lock);
	return mine;
}

int
store_user_delete(struct store *store, const char *username,
		  const char **error_r)
{
	if (!store_username_valid(username, error_r))
		return -1;

	pthread_mutex_lock(&store->registry_lock);
	unsigned bucket = store_name_hash(username) % STORE_REGISTRY_BUCKETS;
	for (struct store_user *u = store->buckets[bucket]; u != NULL;
	     u = u->bucket_next) {
		if (strcmp(u->name, username) != 0)
			continue;
		if (!u->idle) {
			pthread_mutex_unlock(&store->registry_lock);
			return store_error(error_r, "User %s is in use",
					   username);
		}
		idle_remove(store, u);
		bucket_remove(store, u);
		store_user_free(u);
		break;
	}
	int ret = store->backend->user_delete(store, username, error_r);
	pthread_mutex_unlock(&store->registry_lock);
	return ret;
}

/* ---- locked calls into the backend ------------------------------------- */

static void
user_begin(struct store_user *user)
{
	store_user_lock(user);
}

static void
user_end(struct store_user *user)
{
	user->store->backend->call_end(user);
	store_user_unlock(user);
}

#define BACKEND(user) ((user)->store->backend)

static void
notify_named(struct store_user *user, enum store_change_type type,
	     uint64_t mailbox_id, const char *name, const char *old_name,
	     bool subscribed)
{
	struct store_user_change ch = {
		.type = type,
		.mailbox_id = mailbox_id,
		.name = name,
		.old_name = old_name,
		.subscribed = subscribed,
	};

	store_notify_user(user, &ch);
}

/* Sorts and merges a caller's UID set; drops empty and reversed ranges
   (last < first is treated as first..last swapped, as IMAP's "5:3"). */
int
store_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
uid_range_cmp(const void *a, const void *b)
{
	const struct store_uid_range *ra = a, *rb = b;
	return ra->first < rb->first ? -1 : ra->first > rb->first;
}

static struct store_uid_range *
uidset_normalize(const struct store_uid_range *uids, unsigned count,
		 unsigned *count_r)
{
	struct store_uid_range *r =
		store_malloc0(sizeof(*r) * (count == 0 ? 1 : count));
	unsigned n = 0;

	for (unsigned i = 0; i < count; i++) {
		uint32_t a = uids[i].first, b = uids[i].last;
		if (a > b) {
			uint32_t t = a;
			a = b;
			b = t;
		}
		if (b == 0)
			continue;
		if (a == 0)
			a = 1;
		r[n].first = a;
		r[n].last = b;
		n++;
	}
	qsort(r, n, sizeof(*r), uid_range_cmp);
	unsigned out = 0;
	for (unsigned i = 0; i < n; i++) {
		if (out > 0 && (r[out - 1].last == UINT32_MAX ||
				r[i].first <= r[out - 1].last + 1)) {
			if (r[i].last > r[out - 1].last)
				r[out - 1].last = r[i].last;
		} else {
			r[out++] = r[i];
		}
	}
	*count_r = out;
	return r;
}

/* ---- mailboxes --------------------------------------------------------- */

void
store_mailbox_info_free(struct store_mailbox_info *info)
{
	free(info->name);
	memset(info, 0, sizeof(*info));
}

void
store_mailbox_list_free(struct store_mailbox_info **_list, unsigned count)
{
	struct store_mailbox_info *list = *_list;

	if (list == NULL)
		return;
	for (unsigned i = 0; i < count; i++)
		free(list[i].name);
	free(list);
	*_list = NULL;
}

int
store_mailbox_lookup(struct store_user *user, const char *name,
		     struct store_mailbox_info *info_r, const char **error_r)
{
	char *canon;
	int ret;

	memset(info_r, 0, sizeof(*info_r));
	if (!store_mailbox_name_canon(name, &canon, error_r))
		return -1;
	user_begin(user);
	ret = BACKEND(user)->mailbox_lookup(user, canon, info_r, error_r);
	user_end(user);
	free(canon);
	return ret;
}

int
store_mailbox_create(struct store_user *user, const char *name,
		     enum store_special_use special_use, uint64_t *id_r,
		     const char **error_r)
{
	char *canon;
	uint64_t id = 0;
	int ret;

	if (!store_mailbox_name_canon(name, &canon, error_r))
		return -1;
	user_begin(user);
	ret = BACKEND(user)->mailbox_create(user, canon, special_use, &id,
					    error_r);
	if (ret > 0)
		notify_named(user, STORE_CHANGE_CREATE, id, canon, NULL,
			     false);
	user_end(user);
	free(canon);
	if (id_r != NULL)
		*id_r = id;
	return ret;
}

int
store_mailbox_delete(struct store_user *user, const char *name,
		     const char **error_r)
{
	char *canon;
	int ret;

	if (!store_mailbox_name_canon(name, &canon, error_r))
		return -1;
	if (strcmp(canon, "INBOX") == 0) {
		free(canon);
		return store_error(error_r, "INBOX cannot be deleted");
	}
	user_begin(user);
	ret = BACKEND(user)->mailbox_delete(user, canon, error_r);
	if (ret > 0)
		notify_named(user, STORE_CHANGE_DELETE, 0, canon, NULL, false);
	user_end(user);
	if (ret > 0)
		store_fts_mark(user);
	free(canon);
	return ret;
}

int
store_mailbox_rename(struct store_user *user, const char *old_name,
		     const char *new_name, const char **error_r)
{
	char *old_canon, *new_canon;
	int ret;

	if (!store_mailbox_name_canon(old_name, &old_canon, error_r))
		return -1;
	if (!store_mailbox_name_canon(new_name, &new_canon, error_r)) {
		free(old_canon);
		return -1;
	}
	if (strcmp(new_canon, "INBOX") == 0) {
		ret = store_error(error_r, "Cannot rename to INBOX");
	} else {
		user_begin(user);
		ret = BACKEND(user)->mailbox_rename(user, old_canon, new_canon,
						    error_r);
		if (ret > 0)
			notify_named(user, STORE_CHANGE_RENAME, 0, new_canon,
				     old_canon, false);
		user_end(user);
	}
	free(old_canon);
	free(new_canon);
	return ret;
}

static int
mailbox_set(struct store_user *user, const char *name, int what, int value,
	    const char **error_r)
{
	char *canon;
	int ret;

	if (!store_mailbox_name_canon(name, &canon, error_r))
		return -1;
	user_begin(user);
	ret = BACKEND(user)->mailbox_set(user, canon, what, value, error_r);
	user_end(user);
	free(canon);
	return ret;
}

int
store_subscription_set(struct store_user *user, const char *name,
		       bool subscribed, const char **error_r)
{
	char *canon;
	int ret;

	if (!store_mailbox_name_canon(name, &canon, error_r))
		return -1;
	user_begin(user);
	ret = BACKEND(user)->subscription_set(user, canon, subscribed,
					       error_r);
	if (ret > 0)
		notify_named(user, STORE_CHANGE_SUBSCRIPTION, 0, canon, NULL,
			     subscribed);
	user_end(user);
	free(canon);
	return ret;
}

int
store_subscription_list(struct store_user *user, char ***names_r,
			unsigned *count_r, const char **error_r)
{
	int ret;

	*names_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->subscription_list(user, names_r, count_r,
						error_r);
	user_end(user);
	return ret;
}

void
store_subscription_list_free(char ***_names, unsigned count)
{
	char **names = *_names;

	if (names == NULL)
		return;
	for (unsigned i = 0; i < count; i++)
		free(names[i]);
	free(names);
	*_names = NULL;
}

int
store_mailbox_subscribe(struct store_user *user, const char *name,
			bool subscribed, const char **error_r)
{
	return store_subscription_set(user, name, subscribed, error_r);
}

int
store_mailbox_set_special_use(struct store_user *user, const char *name,
			      enum store_special_use special_use,
			      const char **error_r)
{
	if (special_use > STORE_SPECIAL_TRASH)
		return store_error(error_r, "Invalid special-use value");
	return mailbox_set(user, name, 1, (int)special_use, error_r);
}

int
store_mailbox_list(struct store_user *user, struct store_mailbox_info **list_r,
		   unsigned *count_r, const char **error_r)
{
	int ret;

	*list_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->mailbox_list(user, list_r, count_r, error_r);
	user_end(user);
	return ret;
}

int
store_mailbox_status(struct store_user *user, uint64_t mailbox_id,
		     struct store_mailbox_status *status_r,
		     const char **error_r)
{
	int ret;

	memset(status_r, 0, sizeof(*status_r));
	user_begin(user);
	ret = BACKEND(user)->mailbox_status(user, mailbox_id, status_r,
					    error_r);
	user_end(user);
	return ret;
}

int
store_mailbox_recent_claim(struct store_user *user, uint64_t mailbox_id,
			   uint32_t until_uid, uint32_t *first_r,
			   uint32_t *until_r, const char **error_r)
{
	int ret;

	*first_r = *until_r = 0;
	user_begin(user);
	ret = BACKEND(user)->mailbox_recent_claim(user, mailbox_id, until_uid,
						  first_r, until_r, error_r);
	user_end(user);
	return ret;
}

int
store_mailbox_changes(struct store_user *user, uint64_t mailbox_id,
		      uint64_t since, struct store_message **changed_r,
		      unsigned *changed_count_r, uint32_t **expunged_r,
		      unsigned *expunged_count_r, const char **error_r)
{
	int ret;

	*changed_r = NULL;
	*changed_count_r = 0;
	*expunged_r = NULL;
	*expunged_count_r = 0;
	user_begin(user);
	uint64_t modseq, floor;
	ret = BACKEND(user)->mailbox_changes(user, mailbox_id, since,
					     changed_r, changed_count_r,
					     expunged_r, expunged_count_r,
					     &modseq, &floor, error_r);
	user_end(user);
	return ret;
}

/* ---- reading ------------------------------------------------------------ */

int
store_message_list(struct store_user *user, uint64_t mailbox_id,
		   struct store_message **msgs_r, unsigned *count_r,
		   const char **error_r)
{
	int ret;

	*msgs_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->message_list(user, mailbox_id, msgs_r, count_r,
					  error_r);
	user_end(user);
	return ret;
}

int
store_message_get(struct store_user *user, uint64_t mailbox_id, uint32_t uid,
		  struct store_message *msg_r, const char **error_r)
{
	int ret;

	memset(msg_r, 0, sizeof(*msg_r));
	user_begin(user);
	ret = BACKEND(user)->message_get(user, mailbox_id, uid, msg_r,
					 error_r);
	user_end(user);
	return ret;
}

int
store_blob_open(struct store_user *user, uint64_t blob_id, int *fd_r,
		uint64_t *size_r, const char **error_r)
{
	int ret;

	*fd_r = -1;
	*size_r = 0;
	user_begin(user);
	ret = BACKEND(user)->blob_open(user, blob_id, fd_r, size_r, error_r);
	user_end(user);
	return ret;
}

int
store_message_open(struct store_user *user, uint64_t mailbox_id,
		   uint32_t uid, int *fd_r, uint64_t *size_r,
		   const char **error_r)
{
	struct store_message msg;
	int ret;

	*fd_r = -1;
	*size_r = 0;
	user_begin(user);
	ret = BACKEND(user)->message_get(user, mailbox_id, uid, &msg,
					 error_r);
	if (ret > 0) {
		ret = BACKEND(user)->blob_open(user, msg.blob_id, fd_r,
					       size_r, error_r);
	}
	user_end(user);
	return ret;
}

int
store_cache_get(struct store_user *user, uint64_t blob_id,
		enum store_cache_field field, void **data_r, size_t *size_r,
		const char **error_r)
{
	int ret;

	*data_r = NULL;
	*size_r = 0;
	if ((unsigned)field >= STORE_CACHE_FIELD_COUNT)
		return store_error(error_r, "Invalid cache field");
	user_begin(user);
	ret = BACKEND(user)->cache_get(user, blob_id, field, data_r, size_r,
				       error_r);
	/* A message another session removed, still shown here. */
	if (ret == 0 && field == STORE_CACHE_PARTS)
		ret = store_view_ghost_cache_get(user, blob_id, data_r, size_r);
	user_end(user);
	return ret;
}

int
store_cache_set(struct store_user *user, uint64_t blob_id,
		enum store_cache_field field, const void *data, size_t size,
		const char **error_r)
{
	int ret;

	if ((unsigned)field >= STORE_CACHE_FIELD_COUNT)
		return store_error(error_r, "Invalid cache field");
	user_begin(user);
	ret = BACKEND(user)->cache_set(user, blob_id, field, data, size,
				       error_r);
	if (ret == 0 && field == STORE_CACHE_PARTS)
		store_view_ghost_cache_set(user, blob_id, data, size);
	user_end(user);
	return ret;
}

int
store_keywords_get(struct store_user *user, char ***names_r,
		   unsigned *count_r, const char **error_r)
{
	int ret;

	*names_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->keywords_get(user, names_r, count_r, error_r);
	user_end(user);
	return ret;
}

void
store_keywords_free(char ***_names, unsigned count)
{
	char **names = *_names;

	if (names == NULL)
		return;
	for (unsigned i = 0; i < count; i++)
		free(names[i]);
	free(names);
	*_names = NULL;
}

/* ---- saving --------------------------------------------------------- */

int
store_save_begin(struct store_user *user, uint64_t mailbox_id,
		 struct store_save **save_r, const char **error_r)
{
	struct store_save *save = store_malloc0(sizeof(*save));
	int ret;

	save->user = user;
	save->mailbox_id = mailbox_id;
	store_user_ref(user);
	user_begin(user);
	ret = BACKEND(user)->save_begin(save, error_r);
	user_end(user);
	if (ret < 0) {
		store_user_unref(&save->user);
		free(save);
		return -1;
	}
	*save_r = save;
	return 0;
}

int
store_save_write(struct store_save *save, const void *data, size_t size,
		 const char **error_r)
{
	if (save->failed)
		return store_error(error_r, "Save already failed");
	if (size == 0)
		return 0;
	if (BACKEND(save->user)->save_write(save, data, size, error_r) < 0) {
		save->failed = true;
		return -1;
	}
	save->size += size;
	return 0;
}

int
store_save_write_crlf(struct store_save *save, const void *data, size_t size,
		      const char **error_r)
{
	const uint8_t *p = data, *end = p + size, *start = p;

	/* Writes runs of bytes unchanged and inserts a CR before each bare
	   LF; no copy of the input is made. */
	for (; p < end; p++) {
		if (*p == '\n' &&
		    !(p > start ? p[-1] == '\r' : save->last_was_cr)) {
			if (store_save_write(save, start, (size_t)(p - start),
					     error_r) < 0 ||
			    store_save_write(save, "\r", 1, error_r) < 0)
				return -1;
			start = p;
		}
	}
	if (store_save_write(save, start, (size_t)(end - start), error_r) < 0)
		return -1;
	if (size > 0)
		save->last_was_cr = end[-1] == '\r';
	return 0;
}

/* Bytes copied per read in store_save_write_fd(). */
#define STORE_COPY_BUF_SIZE (64 * 1024)

int
store_save_write_fd(struct store_save *save, int fd, off_t offset,
		    uint64_t size, const char **error_r)
{
	if (save->failed)
		return store_error(error_r, "Save already failed");
	if (offset < 0)
		return store_error(error_r, "Negative offset");

	unsigned char *buf = store_malloc0(STORE_COPY_BUF_SIZE);
	int ret = 0;
	while (size > 0) {
		size_t want = size < STORE_COPY_BUF_SIZE ? (size_t)size :
							   STORE_COPY_BUF_SIZE;
		ssize_t n = pread(fd, buf, want, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = store_error(error_r, "read() of source failed: %s",
					  strerror(errno));
			break;
		}
		if (n == 0) {
			ret = store_error(error_r,
					  "Source ended before its size");
			break;
		}
		if (store_save_write(save, buf, (size_t)n, error_r) < 0) {
			ret = -1;
			break;
		}
		offset += n;
		size -= (uint64_t)n;
	}
	free(buf);
	if (ret < 0)
		save->failed = true;
	return ret;
}

void
store_save_set_internal_date(struct store_save *save, time_t date)
{
	save->have_internal_date = true;
	save->internal_date = date;
}

void
store_save_set_flags(struct store_save *save, uint8_t flags,
		     const char *const *keywords, unsigned keyword_count)
{
	save->flags = flags & STORE_FLAGS_ALL;
	for (unsigned i = 0; i < save->keyword_count; i++)
		free(save->keywords[i]);
	free(save->keywords);
	save->keywords = NULL;
	save->keyword_count = 0;
	if (keyword_count == 0)
		return;
	save->keywords = store_malloc0(sizeof(char *) * keyword_count);
	for (unsigned i = 0; i < keyword_count; i++) {
		if (store_keyword_valid(keywords[i])) {
			save->keywords[save->keyword_count++] =
				store_strdup(keywords[i]);
		}
	}
}

void
store_save_set_cache(struct store_save *save, enum store_cache_field field,
		     const void *data, size_t size)
{
	if ((unsigned)field >= STORE_CACHE_FIELD_COUNT)
		return;
	free(save->cache[field]);
	save->cache[field] = store_malloc0(size);
	if (size > 0)
		memcpy(save->cache[field], data, size);
	save->cache_size[field] = size;
}

void
store_save_set_fts(struct store_save *save, const struct store_fts_doc *doc)
{
	for (unsigned i = 0; i < STORE_FTS_COLUMN_COUNT; i++) {
		char *copy = NULL;

		if (doc->len[i] > 0) {
			copy = store_malloc0(doc->len[i] + 1);
			memcpy(copy, doc->text[i], doc->len[i]);
		}
		free((char *)save->fts.text[i]);
		save->fts.text[i] = copy;
		save->fts.len[i] = copy != NULL ? doc->len[i] : 0;
	}
	save->fts.complete = doc->complete;
	save->have_fts = true;
}

/* Copies an id that the backend may record, or returns NULL. */
static char *
thread_key_dup(const char *id)
{
	size_t len;

	if (id == NULL || *id == '\0')
		return NULL;
	len = strlen(id);
	if (len > THREADID_MAX_MSGID)
		return NULL;
	return store_strdup(id);
}

static void
save_thread_clear(struct store_save *save)
{
	free(save->thread_msgid);
	save->thread_msgid = NULL;
	for (unsigned i = 0; i < save->thread_ref_count; i++)
		free(save->thread_refs[i]);
	free(save->thread_refs);
	save->thread_refs = NULL;
	save->thread_ref_count = 0;
}

void
store_save_set_thread(struct store_save *save, const char *message_id,
		      const char *const *references, unsigned reference_count)
{
	save_thread_clear(save);
	save->thread_msgid = thread_key_dup(message_id);
	if (reference_count > THREADID_MAX_REFERENCES)
		reference_count = THREADID_MAX_REFERENCES;
	if (reference_count == 0)
		return;
	save->thread_refs = store_malloc0(sizeof(char *) * reference_count);
	for (unsigned i = 0; i < reference_count; i++) {
		char *copy = thread_key_dup(references[i]);

		if (copy != NULL)
			save->thread_refs[save->thread_ref_count++] = copy;
	}
}

int
store_thread_get(struct store_user *user, uint64_t blob_id,
		 uint64_t *thread_id_r, const char **error_r)
{
	int ret;

	*thread_id_r = 0;
	user_begin(user);
	ret = BACKEND(user)->thread_get(user, blob_id, thread_id_r, error_r);
	user_end(user);
	return ret;
}

uint64_t
store_save_get_size(const struct store_save *save)
{
	return save->size;
}

int
store_save_open_read(struct store_save *save, int *fd_r,
		     const char **error_r)
{
	if (save->failed)
		return store_error(error_r, "Save already failed");
	return BACKEND(save->user)->save_open_read(save, fd_r, error_r);
}

void
store_save_copy_options(struct store_save *dst, const struct store_save *src)
{
	store_save_set_flags(dst, src->flags,
			     (const char *const *)src->keywords,
			     src->keyword_count);
	dst->have_internal_date = src->have_internal_date;
	dst->internal_date = src->internal_date;
}

static void
save_free(struct store_save *save)
{
	for (unsigned i = 0; i < save->keyword_count; i++)
		free(save->keywords[i]);
	free(save->keywords);
	for (unsigned i = 0; i < STORE_CACHE_FIELD_COUNT; i++)
		free(save->cache[i]);
	for (unsigned i = 0; i < STORE_FTS_COLUMN_COUNT; i++)
		free((char *)save->fts.text[i]);
	save_thread_clear(save);
	store_user_unref(&save->user);
	free(save);
}

static void
commit_batch(struct store_user *user, struct store_save *const *saves,
	     unsigned count)
{
	user_begin(user);
	user->commit_batches++;
	BACKEND(user)->save_commit_batch(saves, count);
	store_fts_mark(user); /* the new messages have no index row yet */
	user_end(user);
}

/* Group commit (DESIGN "Durability is batched, not skipped"): saves that
   reach commit while another thread is committing for the same user wait
   and then go in together, one transaction and one WAL sync for all. The
   thread that finds nobody committing becomes the leader and commits
   everything queued, itself included. Each save still returns only after
   its own data is durable. */
static void
save_commit_grouped(struct store_save *save)
{
	struct store_user *user = save->user;

	if (user_locked_by_me(user)) {
		/* The caller holds the user lock: waiting for another leader
		   (who needs that lock) would deadlock. Commit alone. */
		commit_batch(user, &save, 1);
		return;
	}

	pthread_mutex_lock(&user->commit_lock);
	save->commit_next = NULL;
	if (user->commit_tail != NULL)
		user->commit_tail->commit_next = save;
	else
		user->commit_head = save;
	user->commit_tail = save;

	while (!save->commit_done) {
		if (user->committing) {
			pthread_cond_wait(&user->commit_cond,
					  &user->commit_lock);
			continue;
		}
		/* Lead: take the whole queue. */
		user->committing = true;
		struct store_save *head = user->commit_head;
		user->commit_head = user->commit_tail = NULL;
		pthread_mutex_unlock(&user->commit_lock);

		unsigned n = 0, alloc = 0;
		struct store_save **batch = NULL;
		for (struct store_save *s = head; s != NULL;
		     s = s->commit_next) {
			store_array_grow((void **)&batch, sizeof(*batch),
					 &alloc, n);
			batch[n++] = s;
		}
		commit_batch(user, batch, n);

		pthread_mutex_lock(&user->commit_lock);
		for (unsigned i = 0; i < n; i++)
			batch[i]->commit_done = true;
		free(batch);
		user->committing = false;
		pthread_cond_broadcast(&user->commit_cond);
	}
	pthread_mutex_unlock(&user->commit_lock);
}

int
store_save_commit(struct store_save **_save, uint32_t *uid_r,
		  const char **error_r)
{
	struct store_save *save = *_save;
	struct store_user *user = save->user;
	uint32_t uid = 0;
	int ret;

	*_save = NULL;
	if (save->failed) {
		BACKEND(user)->save_abort(save);
		save_free(save);
		return store_error(error_r, "Save already failed");
	}
	/* fsync outside the lock: it is the slow part. */
	if (BACKEND(user)->save_finish(save, error_r) < 0) {
		BACKEND(user)->save_abort(save);
		save_free(save);
		return -1;
	}
	save_commit_grouped(save);
	ret = save->commit_ret;
	uid = save->commit_uid;
	if (ret < 0) {
		if (save->commit_overquota)
			store_error_overquota(error_r);
		else
			store_error(error_r, "%s", save->commit_error);
	}
	/* After a commit the file is in blobs/: this only frees. */
	BACKEND(user)->save_abort(save);
	save_free(save);
	if (ret < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = uid;
	return 0;
}

void
store_save_abort(struct store_save **_save)
{
	struct store_save *save = *_save;

	if (save == NULL)
		return;
	*_save = NULL;
	BACKEND(save->user)->save_abort(save);
	save_free(save);
}

/* ---- changing ----------------------------------------------------------- */

int
store_flags_update(struct store_user *user, uint64_t mailbox_id,
		   const struct store_uid_range *uids, unsigned uid_count,
		   enum store_flags_op op, uint8_t flags,
		   const char *const *keywords, unsigned keyword_count,
		   uint64_t unchangedsince, uint64_t *modseq_r,
		   const char **error_r)
{
	struct store_uidset set;
	uint64_t modseq = 0;
	int ret;

	if (op != STORE_FLAGS_REPLACE && op != STORE_FLAGS_ADD &&
	    op != STORE_FLAGS_REMOVE)
		return store_error(error_r, "Invalid flags operation");
	for (unsigned i = 0; i < keyword_count; i++) {
		if (!store_keyword_valid(keywords[i]))
			return store_error(error_r, "Invalid keyword");
	}
	struct store_uid_range *r = uidset_normalize(uids, uid_count,
						     &set.count);
	set.ranges = r;
	user_begin(user);
	ret = BACKEND(user)->flags_update(user, mailbox_id, &set, op,
					  flags & STORE_FLAGS_ALL, keywords,
					  keyword_count, unchangedsince,
					  &modseq, error_r);
	user_end(user);
	free(r);
	if (modseq_r != NULL)
		*modseq_r = ret > 0 ? modseq : 0;
	return ret;
}

int
store_pop3_mark_retrieved(struct store_user *user, uint64_t mailbox_id,
			  const struct store_uid_range *uids,
			  unsigned uid_count, time_t when,
			  const char **error_r)
{
	struct store_uidset set;
	int ret;

	if (when <= 0)
		return store_error(error_r, "Invalid retrieval time");
	struct store_uid_range *r = uidset_normalize(uids, uid_count,
						     &set.count);
	set.ranges = r;
	user_begin(user);
	ret = BACKEND(user)->pop3_mark_retrieved(user, mailbox_id, &set, when,
						 error_r);
	user_end(user);
	free(r);
	return ret;
}

int
store_expunge(struct store_user *user, uint64_t mailbox_id,
	      const struct store_uid_range *uids, unsigned uid_count,
	      unsigned *expunged_r, const char **error_r)
{
	struct store_uidset set;
	unsigned n = 0;
	int ret;

	struct store_uid_range *r = uidset_normalize(uids, uid_count,
						     &set.count);
	set.ranges = r;
	user_begin(user);
	ret = BACKEND(user)->expunge(user, mailbox_id, &set, &n, error_r);
	user_end(user);
	if (ret > 0 && n > 0)
		store_fts_mark(user); /* rows of blobs that went */
	free(r);
	if (expunged_r != NULL)
		*expunged_r = ret > 0 ? n : 0;
	return ret;
}

int
store_pop3_expire(struct store_user *user, unsigned days,
		  unsigned *expunged_r, const char **error_r)
{
	unsigned n = 0;
	int ret;

	time_t now = store_now(user->store);
	time_t span = (time_t)days * 24 * 60 * 60;
	time_t before = now > span ? now - span : 0;
	user_begin(user);
	ret = BACKEND(user)->pop3_expire(user, before, &n, error_r);
	user_end(user);
	if (ret == 0 && n > 0)
		store_fts_mark(user);
	if (expunged_r != NULL)
		*expunged_r = ret == 0 ? n : 0;
	return ret;
}

static int
messages_copy(struct store_user *user, uint64_t src_mailbox_id,
	      const struct store_uid_range *uids, unsigned uid_count,
	      uint64_t dst_mailbox_id, bool move, bool all,
	      uint32_t **src_uids_r, uint32_t **dst_uids_r, unsigned *count_r,
	      const char **error_r)
{
	struct store_uidset set;
	int ret;

	*src_uids_r = NULL;
	*dst_uids_r = NULL;
	*count_r = 0;
	if (src_mailbox_id == dst_mailbox_id && move)
		return store_error(error_r, "Cannot move into the same mailbox");
	struct store_uid_range *r = uidset_normalize(uids, uid_count,
						     &set.count);
	set.ranges = r;
	user_begin(user);
	ret = BACKEND(user)->messages_copy(user, src_mailbox_id, &set,
					   dst_mailbox_id, move, all,
					   src_uids_r, dst_uids_r, count_r,
					   error_r);
	user_end(user);
	free(r);
	return ret;
}

int
store_messages_copy(struct store_user *user, uint64_t src_mailbox_id,
		    const struct store_uid_range *uids, unsigned uid_count,
		    uint64_t dst_mailbox_id, bool move, uint32_t **src_uids_r,
		    uint32_t **dst_uids_r, unsigned *count_r,
		    const char **error_r)
{
	return messages_copy(user, src_mailbox_id, uids, uid_count,
			     dst_mailbox_id, move, false, src_uids_r,
			     dst_uids_r, count_r, error_r);
}

int
store_messages_copy_all(struct store_user *user, uint64_t src_mailbox_id,
			const struct store_uid_range *uids,
			unsigned uid_count, uint64_t dst_mailbox_id,
			bool move, uint32_t **src_uids_r,
			uint32_t **dst_uids_r, unsigned *count_r,
			const char **error_r)
{
	return messages_copy(user, src_mailbox_id, uids, uid_count,
			     dst_mailbox_id, move, true, src_uids_r,
			     dst_uids_r, count_r, error_r);
}

/* ---- watchers ------------------------------------------------------- */

struct store_watch *
store_watch_add(struct store_user *user, uint64_t mailbox_id,
		store_watch_callback_t *callback, void *context)
{
	struct store_watch *w = store_malloc0(sizeof(*w));

	w->user = user;
	w->mailbox_id = mailbox_id;
	w->callback = callback;
	w->context = context;
	pthread_mutex_lock(&user->lock);
	w->next = user->watches;
	user->watches = w;
	pthread_mutex_unlock(&user->lock);
	return w;
}

struct store_watch *
store_user_watch_add(struct store_user *user,
		     store_user_watch_callback_t *callback, void *context)
{
	struct store_watch *w = store_malloc0(sizeof(*w));

	w->user = user;
	w->user_callback = callback;
	w->context = context;
	pthread_mutex_lock(&user->lock);
	w->next = user->watches;
	user->watches = w;
	pthread_mutex_unlock(&user->lock);
	return w;
}

static void
watch_sweep(struct store_user *user)
{
	struct store_watch **p = &user->watches;

	while (*p != NULL) {
		if ((*p)->removed) {
			struct store_watch *w = *p;
			*p = w->next;
			free(w);
		} else {
			p = &(*p)->next;
		}
	}
	user->watch_removed = false;
}

void
store_watch_remove(struct store_watch **_watch)
{
	struct store_watch *watch = *_watch;

	if (watch == NULL)
		return;
	*_watch = NULL;

	struct store_user *user = watch->user;
	pthread_mutex_lock(&user->lock);
	watch->removed = true;
	user->watch_removed = true;
	/* Inside a notification the list is being walked: free later. */
	if (user->notify_depth == 0)
		watch_sweep(user);
	pthread_mutex_unlock(&user->lock);
}

void
store_notify(struct store_user *user, uint64_t mailbox_id,
	     enum store_change_type type, uint64_t modseq)
{
	pthread_mutex_lock(&user->lock);
	store_view_notify(user, mailbox_id, type, modseq);
	user->notify_depth++;
	for (struct store_watch *w = user->watches; w != NULL; w = w->next) {
		if (w->removed)
			continue;
		if (w->user_callback != NULL) {
			/* DELETE / RENAME follow from the front, by name. */
			if (type != STORE_CHANGE_MAILBOX) {
				struct store_user_change ch = {
					.type = type,
					.mailbox_id = mailbox_id,
					.modseq = modseq,
				};
				w->user_callback(w->context, &ch);
			}
		} else if (w->mailbox_id == mailbox_id) {
			w->callback(w->context, mailbox_id, type, modseq);
		}
	}
	if (--user->notify_depth == 0 && user->watch_removed)
		watch_sweep(user);
	pthread_mutex_unlock(&user->lock);
}

void
store_notify_user(struct store_user *user,
		  const struct store_user_change *change)
{
	pthread_mutex_lock(&user->lock);
	user->notify_depth++;
	for (struct store_watch *w = user->watches; w != NULL; w = w->next) {
		if (!w->removed && w->user_callback != NULL)
			w->user_callback(w->context, change);
	}
	if (--user->notify_depth == 0 && user->watch_removed)
		watch_sweep(user);
	pthread_mutex_unlock(&user->lock);
}

/* ---- quota ---------------------------------------------------------- */

void
store_user_set_quota(struct store_user *user, const struct store_quota *quota)
{
	pthread_mutex_lock(&user->lock);
	user->quota = *quota;
	pthread_mutex_unlock(&user->lock);
}

void
store_user_get_quota(struct store_user *user, struct store_quota *quota_r)
{
	pthread_mutex_lock(&user->lock);
	*quota_r = user->quota;
	pthread_mutex_unlock(&user->lock);
}

int
store_quota_usage(struct store_user *user, struct store_quota_usage *usage_r,
		  const char **error_r)
{
	int ret;

	memset(usage_r, 0, sizeof(*usage_r));
	user_begin(user);
	ret = BACKEND(user)->quota_usage(user, usage_r, error_r);
	user_end(user);
	return ret;
}

bool
store_quota_allows(const struct store_quota *quota,
		   const struct store_quota_usage *usage,
		   uint64_t add_messages, uint64_t add_bytes)
{
	/* Checked without adding first: usage may already be above a
	   lowered limit, and add_bytes may be anything. */
	if (quota->messages != 0 &&
	    (add_messages > quota->messages ||
	     usage->messages > quota->messages - add_messages))
		return false;
	if (quota->storage != 0 &&
	    (add_bytes > quota->storage ||
	     usage->storage > quota->storage - add_bytes))
		return false;
	return true;
}

/* ---- startup check ------------------------------------------------- */

int
store_check(struct store *store, struct store_check_result *result_r,
	    const char **error_r)
{
	memset(result_r, 0, sizeof(*result_r));
	return store->backend->check(store, result_r, error_r);
}

/* ---- full-text index -------------------------------------------------- */

int
store_fts_pending(struct store_user *user, unsigned max, uint64_t **ids_r,
		  unsigned *count_r, const char **error_r)
{
	int ret;

	*ids_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->fts_pending(user, max, ids_r, count_r, error_r);
	user_end(user);
	return ret;
}

int
store_fts_collect_garbage(struct store_user *user, unsigned max,
			  unsigned *count_r, const char **error_r)
{
	int ret;

	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->fts_collect_garbage(user, max, count_r, error_r);
	user_end(user);
	return ret;
}

static void
fts_mark(struct store_user *user, time_t since)
{
	struct store *store = user->store;

	pthread_mutex_lock(&store->fts_lock);
	for (unsigned i = 0; i < store->fts_marked_count; i++) {
		if (strcmp(store->fts_marked[i].name, user->name) == 0) {
			if (since < store->fts_marked[i].since)
				store->fts_marked[i].since = since;
			pthread_mutex_unlock(&store->fts_lock);
			return;
		}
	}
	store_array_grow((void **)&store->fts_marked,
			 sizeof(*store->fts_marked), &store->fts_marked_alloc,
			 store->fts_marked_count);
	store->fts_marked[store->fts_marked_count].name =
		store_strdup(user->name);
	store->fts_marked[store->fts_marked_count].since = since;
	store->fts_marked_count++;
	pthread_mutex_unlock(&store->fts_lock);
}

void
store_fts_mark(struct store_user *user)
{
	fts_mark(user, store_monotonic_now());
}

void
store_fts_mark_due(struct store_user *user)
{
	fts_mark(user, 0);
}

bool
store_fts_next_marked(struct store *store, unsigned min_age_secs,
		      char **name_r)
{
	time_t now = store_monotonic_now();
	bool found = false;

	pthread_mutex_lock(&store->fts_lock);
	for (unsigned i = 0; i < store->fts_marked_count; i++) {
		if (store->fts_marked[i].since != 0 &&
		    now - store->fts_marked[i].since < (time_t)min_age_secs)
			continue;
		*name_r = store->fts_marked[i].name;
		memmove(store->fts_marked + i, store->fts_marked + i + 1,
			(store->fts_marked_count - i - 1) *
			sizeof(*store->fts_marked));
		store->fts_marked_count--;
		found = true;
		break;
	}
	pthread_mutex_unlock(&store->fts_lock);
	return found;
}

int
store_fts_set(struct store_user *user, const struct store_fts_entry *entries,
	      unsigned count, const char **error_r)
{
	int ret;

	if (count == 0)
		return 0;
	user_begin(user);
	ret = BACKEND(user)->fts_set(user, entries, count, error_r);
	user_end(user);
	return ret;
}

int
store_fts_blob_list(struct store_user *user, uint64_t **ids_r,
		    unsigned *count_r, const char **error_r)
{
	int ret;

	*ids_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->fts_blob_list(user, ids_r, count_r, error_r);
	user_end(user);
	return ret;
}

int
store_fts_unindexed(struct store_user *user, uint64_t mailbox_id,
		    uint64_t **ids_r, unsigned *count_r, const char **error_r)
{
	int ret;

	*ids_r = NULL;
	*count_r = 0;
	user_begin(user);
	ret = BACKEND(user)->fts_unindexed(user, mailbox_id, ids_r, count_r,
					   error_r);
	user_end(user);
	return ret;
}

int
store_fts_query(struct store_user *user, uint64_t mailbox_id,
		unsigned column_mask, const char *const *terms,
		unsigned term_count,
		const struct store_fts_callbacks *callbacks, void *context,
		const char **error_r)
{
	int ret;

	if ((column_mask & ((1U << STORE_FTS_COLUMN_COUNT) - 1)) == 0 ||
	    (column_mask >> STORE_FTS_COLUMN_COUNT) != 0)
		return store_error(error_r, "Invalid index columns");
	user_begin(user);
	ret = BACKEND(user)->fts_query(user, mailbox_id, column_mask, terms,
				       term_count, callbacks, context,
				       error_r);
	user_end(user);
	return ret;
}
