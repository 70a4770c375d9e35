/* The passwd-file user database: see passdb.h. */
#include "auth/passdb.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth-private.h"
#include "auth/username.h"
#include "lib/limits.h"
#include "lib/log.h"

/* Fields before extra_fields: user password uid gid gecos home shell. */
#define PASSDB_FIXED_FIELDS 7

struct passdb_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct passdb {
	char *path;
	/* Serialises reloads so one thread parses while the others keep
	   looking up in the old table. */
	pthread_mutex_t reload_lock;
	/* Guards users/count: readers look up, a reload swaps. */
	pthread_rwlock_t lock;
	struct passdb_user *users; /* sorted by name */
	size_t count;

	/* Under reload_lock. */
	bool loaded;	/* users reflect stamp (or a missing file) */
	bool missing;	/* the file did not exist at the last check */
	bool error_logged;
	struct passdb_stamp stamp;
};

static const struct log_ctx passdb_log_ctx = { .proto = "auth" };

/* Parsing one line ------------------------------------------------- */

static void
user_clear(struct passdb_user *user)
{
	free(user->name);
	auth_free_secret(user->password);
	free(user->uid);
	free(user->gid);
	free(user->gecos);
	free(user->home);
	free(user->shell);
	for (size_t i = 0; i < user->extra_count; i++) {
		free(user->extra[i].key);
		free(user->extra[i].value);
	}
	free(user->extra);
	memset(user, 0, sizeof(*user));
}

void
passdb_user_free(struct passdb_user **user)
{
	if (*user == NULL)
		return;
	user_clear(*user);
	free(*user);
	*user = NULL;
}

/* Splits extra_fields [p, end) on spaces into key=value pairs. */
static int
parse_extra(const char *p, const char *end, struct passdb_user *user,
	    const char **error_r)
{
	size_t alloc = 0;

	while (p < end) {
		const char *tok, *eq;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		tok = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		eq = memchr(tok, '=', p - tok);
		if (eq == tok) {
			*error_r = "extra field with an empty key";
			return -1;
		}
		if (user->extra_count == alloc) {
			alloc = alloc == 0 ? 4 : alloc * 2;
			user->extra = auth_xrealloc(user->extra,
						    alloc * sizeof(*user->extra));
		}
		struct passdb_extra_field *f = &user->extra[user->extra_count++];
		if (eq == NULL) {
			f->key = auth_xstrndup(tok, p - tok);
			f->value = auth_xstrdup("");
		} else {
			f->key = auth_xstrndup(tok, eq - tok);
			f->value = auth_xstrndup(eq + 1, p - eq - 1);
		}
	}
	return 0;
}

/* Parses one line (without its '\n'). Returns 1 with *user_r filled,
   0 for a comment or blank line, -1 for a broken line with *error_r. */
static int
parse_line(const char *line, size_t len, struct passdb_user *user_r,
	   const char **error_r)
{
	const char *end = line + len, *field[PASSDB_FIXED_FIELDS + 1];
	size_t field_len[PASSDB_FIXED_FIELDS + 1];
	unsigned nfields = 0;
	const char *p = line;
	char **dest[] = { &user_r->name, &user_r->password, &user_r->uid,
			  &user_r->gid, &user_r->gecos, &user_r->home,
			  &user_r->shell };

	memset(user_r, 0, sizeof(*user_r));
	if (len > 0 && line[len - 1] == '\r')
		end--;
	if (end == line || line[0] == '#')
		return 0;
	bool blank = true;
	for (const char *q = line; q < end; q++) {
		if (*q != ' ' && *q != '\t') {
			blank = false;
			break;
		}
	}
	if (blank)
		return 0;
	if (len > PASSDB_MAX_LINE) {
		*error_r = "line too long";
		return -1;
	}
	if (memchr(line, '\0', end - line) != NULL) {
		*error_r = "NUL byte in line";
		return -1;
	}
	/* The first seven fields end at ':'; extra_fields is the rest. */
	while (nfields < PASSDB_FIXED_FIELDS) {
		const char *colon = memchr(p, ':', end - p);

		field[nfields] = p;
		if (colon == NULL) {
			field_len[nfields++] = end - p;
			p = end;
			break;
		}
		field_len[nfields++] = colon - p;
		p = colon + 1;
	}
	if (nfields < 2) {
		*error_r = "no password field";
		return -1;
	}
	if (!auth_username_valid(field[0], field_len[0])) {
		*error_r = "invalid user name";
		return -1;
	}
	if (field_len[1] > AUTH_MAX_STORED_PASSWORD) {
		*error_r = "password field too long";
		return -1;
	}
	for (unsigned i = 0; i < PASSDB_FIXED_FIELDS; i++) {
		*dest[i] = i < nfields ? auth_xstrndup(field[i], field_len[i])
				       : auth_xstrdup("");
	}
	if (nfields == PASSDB_FIXED_FIELDS && p < end &&
	    parse_extra(p, end, user_r, error_r) < 0) {
		user_clear(user_r);
		return -1;
	}
	return 1;
}

static void
user_copy(struct passdb_user *dst, const struct passdb_user *src)
{
	dst->name = auth_xstrdup(src->name);
	dst->password = auth_xstrdup(src->password);
	dst->uid = auth_xstrdup(src->uid);
	dst->gid = auth_xstrdup(src->gid);
	dst->gecos = auth_xstrdup(src->gecos);
	dst->home = auth_xstrdup(src->home);
	dst->shell = auth_xstrdup(src->shell);
	dst->extra_count = src->extra_count;
	dst->extra = auth_xcalloc(src->extra_count, sizeof(*dst->extra));
	for (size_t i = 0; i < src->extra_count; i++) {
		dst->extra[i].key = auth_xstrdup(src->extra[i].key);
		dst->extra[i].value = auth_xstrdup(src->extra[i].value);
	}
}

const char *
passdb_user_extra(const struct passdb_user *user, const char *key)
{
	for (size_t i = 0; i < user->extra_count; i++) {
		if (strcmp(user->extra[i].key, key) == 0)
			return user->extra[i].value;
	}
	return NULL;
}

/* Reading the whole file ------------------------------------------- */

/* Reads path into a malloc'ed buffer (NUL-terminated for convenience;
   the contents may hold NULs). Returns 1, 0 if the file does not exist,
   -1 with errno set (EFBIG when over PASSDB_MAX_FILE_SIZE). */
static int
read_whole(const char *path, char **buf_r, size_t *len_r,
	   struct passdb_stamp *stamp_r)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size > PASSDB_MAX_FILE_SIZE) {
		errno = EFBIG;
		goto fail;
	}
	/* Read to EOF within the cap, whatever the size said. */
	size_t alloc = (size_t)st.st_size + 1;
	buf = auth_xmalloc(alloc + 1);
	for (;;) {
		ssize_t n;

		if (len == alloc) {
			if (alloc > PASSDB_MAX_FILE_SIZE) {
				free(buf);
				errno = EFBIG;
				goto fail;
			}
			alloc *= 2;
			buf = auth_xrealloc(buf, alloc + 1);
		}
		n = read(fd, buf + len, alloc - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(fd);
	if (stamp_r != NULL) {
		stamp_r->dev = st.st_dev;
		stamp_r->ino = st.st_ino;
		stamp_r->size = st.st_size;
		stamp_r->mtime = st.st_mtim;
	}
	*buf_r = buf;
	*len_r = len;
	return 1;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Loading into a table --------------------------------------------- */

struct load_entry {
	struct passdb_user user;
	unsigned line;
};

static int
load_entry_cmp(const void *a, const void *b)
{
	const struct load_entry *x = a, *y = b;
	int r = strcmp(x->user.name, y->user.name);

	if (r != 0)
		return r;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void
table_free(struct passdb_user *users, size_t count)
{
	for (size_t i = 0; i < count; i++)
		user_clear(&users[i]);
	free(users);
}

/* Parses buf into a sorted table, logging broken lines. */
static void
parse_table(const char *path, const char *buf, size_t len,
	    struct passdb_user **users_r, size_t *count_r)
{
	struct load_entry *entries = NULL;
	size_t count = 0, alloc = 0;
	unsigned lineno = 0;
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *line_end = nl != NULL ? nl : end;
		struct passdb_user user;
		const char *error;
		int ret;

		lineno++;
		ret = parse_line(p, line_end - p, &user, &error);
		p = nl != NULL ? nl + 1 : end;
		if (ret < 0) {
			log_warn(&passdb_log_ctx, "%s:%u: %s; line skipped",
				 path, lineno, error);
			continue;
		}
		if (ret == 0)
			continue;
		if (count == alloc) {
			alloc = alloc == 0 ? 64 : alloc * 2;
			entries = auth_xrealloc(entries,
						alloc * sizeof(*entries));
		}
		entries[count].user = user;
		entries[count].line = lineno;
		count++;
	}
	if (count > 0)
		qsort(entries, count, sizeof(*entries), load_entry_cmp);

	struct passdb_user *users = auth_xcalloc(count, sizeof(*users));
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		if (n > 0 && strcmp(users[n - 1].name,
				    entries[i].user.name) == 0) {
			/* Sorted by line within a name: the first wins. */
			log_warn(&passdb_log_ctx,
				 "%s:%u: duplicate user %s; line skipped",
				 path, entries[i].line, entries[i].user.name);
			user_clear(&entries[i].user);
			continue;
		}
		users[n++] = entries[i].user;
	}
	free(entries);
	*users_r = users;
	*count_r = n;
}

struct passdb *
passdb_create(const char *path)
{
	struct passdb *db = auth_xcalloc(1, sizeof(*db));

	db->path = auth_xstrdup(path);
	if (pthread_mutex_init(&db->reload_lock, NULL) != 0 ||
	    pthread_rwlock_init(&db->lock, NULL) != 0)
		abort();
	return db;
}

void
passdb_destroy(struct passdb **_db)
{
	struct passdb *db = *_db;

	if (db == NULL)
		return;
	*_db = NULL;
	table_free(db->users, db->count);
	pthread_mutex_destroy(&db->reload_lock);
	pthread_rwlock_destroy(&db->lock);
	free(db->path);
	free(db);
}

static void
swap_table(struct passdb *db, struct passdb_user *users, size_t count)
{
	struct passdb_user *old;
	size_t old_count;

	pthread_rwlock_wrlock(&db->lock);
	old = db->users;
	old_count = db->count;
	db->users = users;
	db->count = count;
	pthread_rwlock_unlock(&db->lock);
	table_free(old, old_count);
}

static bool
stamp_equal(const struct passdb_stamp *a, const struct stat *st)
{
	return a->dev == st->st_dev && a->ino == st->st_ino &&
		a->size == st->st_size &&
		a->mtime.tv_sec == st->st_mtim.tv_sec &&
		a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reloads the table if the file changed. Returns 0, or -1 if it cannot
   be read (the old table stays, but lookups report the failure). */
static int
passdb_refresh(struct passdb *db)
{
	struct stat st;
	int ret = 0, stat_ret, stat_errno;

	/* The cheap check first, outside every lock. */
	stat_ret = stat(db->path, &st);
	stat_errno = errno;

	pthread_mutex_lock(&db->reload_lock);
	if (stat_ret == 0 && db->loaded && !db->missing &&
	    stamp_equal(&db->stamp, &st))
		goto out;
	if (stat_ret < 0 && stat_errno == ENOENT && db->loaded && db->missing)
		goto out;

	char *buf;
	size_t len;
	struct passdb_stamp stamp;
	int r = read_whole(db->path, &buf, &len, &stamp);
	if (r < 0) {
		if (!db->error_logged) {
			log_error(&passdb_log_ctx, "cannot read %s: %s",
				  db->path, strerror(errno));
			db->error_logged = true;
		}
		/* Not loaded: the next lookup tries again. */
		db->loaded = false;
		ret = -1;
		goto out;
	}
	db->error_logged = false;
	if (r == 0) {
		if (!db->missing || !db->loaded)
			log_warn(&passdb_log_ctx,
				 "%s does not exist: no users", db->path);
		swap_table(db, NULL, 0);
		db->missing = true;
		db->loaded = true;
		goto out;
	}

	struct passdb_user *users;
	size_t count;
	parse_table(db->path, buf, len, &users, &count);
	OPENSSL_cleanse(buf, len);
	free(buf);
	swap_table(db, users, count);
	db->stamp = stamp;
	db->missing = false;
	db->loaded = true;
out:
	pthread_mutex_unlock(&db->reload_lock);
	return ret;
}

static const struct passdb_user *
find_user(const struct passdb *db, const char *name)
{
	size_t lo = 0, hi = db->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, db->users[mid].name);

		if (r == 0)
			return &db->users[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
passdb_lookup(struct passdb *db, const char *name,
	      struct passdb_user **user_r, const char **error_r)
{
	const struct passdb_user *found;
	char lower[AUTH_MAX_USERNAME + 1];
	int ret = 0;

	if (!auth_username_validz(name))
		return 0;
	if (passdb_refresh(db) < 0) {
		*error_r = "user database unavailable";
		return -1;
	}
	pthread_rwlock_rdlock(&db->lock);
	found = find_user(db, name);
	if (found == NULL && auth_username_has_upper(name) &&
	    auth_username_lowercase(name, lower, sizeof(lower)) == 0)
		found = find_user(db, lower);
	if (found != NULL) {
		*user_r = auth_xcalloc(1, sizeof(**user_r));
		user_copy(*user_r, found);
		ret = 1;
	}
	pthread_rwlock_unlock(&db->lock);
	return ret;
}

size_t
passdb_count(struct passdb *db)
{
	size_t count;

	pthread_rwlock_rdlock(&db->lock);
	count = db->count;
	pthread_rwlock_unlock(&db->lock);
	return count;
}

/* Editing ---------------------------------------------------------- */

static char *
error_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
error_fmt(const char *fmt, ...)
{
	va_list args;
	char *out;

	va_start(args, fmt);
	if (vasprintf(&out, fmt, args) < 0)
		abort();
	va_end(args);
	return out;
}

static char *
path_with_suffix(const char *path, const char *suffix)
{
	size_t len = strlen(path) + strlen(suffix) + 1;
	char *out = auth_xmalloc(len);

	snprintf(out, len, "%s%s", path, suffix);
	return out;
}

/* Opens and flocks "<path>.lock". Returns the fd or -1. */
static int
lock_file(const char *path, int op, char **error_r)
{
	char *lock_path = path_with_suffix(path, ".lock");
	int fd;

	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*error_r = error_fmt("cannot open %s: %s", lock_path,
				     strerror(errno));
		free(lock_path);
		return -1;
	}
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		*error_r = error_fmt("cannot lock %s: %s", lock_path,
				     strerror(errno));
		close(fd);
		free(lock_path);
		return -1;
	}
	free(lock_path);
	return fd;
}

static int
write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= n;
	}
	return 0;
}

/* Replaces path with data: temp file, fsync, rename, fsync of the
   directory. Keeps the old file's owner. */
static int
replace_file(const char *path, const char *data, size_t len,
	     char **error_r)
{
	char *tmp = path_with_suffix(path, ".tmp");
	char *dir_copy = NULL;
	struct stat st;
	bool have_old = stat(path, &st) == 0;
	int fd, dfd, ret = -1;

	/* A temp file left by a crash: we hold the lock, so it is stale. */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		*error_r = error_fmt("cannot remove %s: %s", tmp,
				     strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		*error_r = error_fmt("cannot create %s: %s", tmp,
				     strerror(errno));
		goto out;
	}
	/* The umask may have taken bits; the file is always 0600. */
	if (fchmod(fd, 0600) < 0 ||
	    (have_old && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
	     fchown(fd, st.st_uid, st.st_gid) < 0) ||
	    write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		*error_r = error_fmt("cannot write %s: %s", tmp,
				     strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		*error_r = error_fmt("cannot write %s: %s", tmp,
				     strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*error_r = error_fmt("cannot rename %s to %s: %s", tmp, path,
				     strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* The rename itself must be durable too. */
	dir_copy = auth_xstrdup(path);
	dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0) {
			*error_r = error_fmt("cannot fsync the directory of "
					     "%s: %s", path, strerror(errno));
			close(dfd);
			goto out;
		}
		close(dfd);
	}
	ret = 0;
out:
	free(dir_copy);
	free(tmp);
	return ret;
}

/* A growable output buffer for the rewritten file. */
struct outbuf {
	char *data;
	size_t len, alloc;
};

static void
outbuf_append(struct outbuf *out, const char *data, size_t len)
{
	if (len > out->alloc - out->len) {
		size_t want = out->len + len;
		size_t alloc = out->alloc == 0 ? 4096 : out->alloc;

		while (alloc < want)
			alloc *= 2;
		out->data = auth_xrealloc(out->data, alloc);
		out->alloc = alloc;
	}
	memcpy(out->data + out->len, data, len);
	out->len += len;
}

static void
outbuf_free(struct outbuf *out)
{
	if (out->data != NULL)
		OPENSSL_cleanse(out->data, out->len);
	free(out->data);
}

/* The user field of a line that is not a comment: bytes up to the first
   ':' (or the whole line). */
static bool
line_user_is(const char *line, size_t len, const char *user, bool *colon_r)
{
	const char *colon = memchr(line, ':', len);
	size_t ulen = colon != NULL ? (size_t)(colon - line) : len;

	*colon_r = colon != NULL;
	if (len > 0 && line[0] == '#')
		return false;
	return ulen == strlen(user) && memcmp(line, user, ulen) == 0;
}

static int
read_for_edit(const char *path, char **buf_r, size_t *len_r, char **error_r)
{
	int r = read_whole(path, buf_r, len_r, NULL);

	if (r < 0) {
		*error_r = error_fmt("cannot read %s: %s", path,
				     strerror(errno));
		return -1;
	}
	if (r == 0) {
		*buf_r = auth_xstrdup("");
		*len_r = 0;
	}
	return 0;
}

/* Rewrites the file. For each line naming user: with stored != NULL
   the password field is replaced; with stored == NULL the line goes.
   Returns the number of lines matched, or -1. */
static int
edit_file(const char *path, const char *user, const char *stored,
	  char **error_r)
{
	struct outbuf out = { 0 };
	char *buf;
	size_t len;
	int fd, matched = 0, ret = -1;

	fd = lock_file(path, LOCK_EX, error_r);
	if (fd < 0)
		return -1;
	if (read_for_edit(path, &buf, &len, error_r) < 0)
		goto out_unlock;

	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *line_end = nl != NULL ? nl + 1 : end;
		size_t line_len = (nl != NULL ? nl : end) - p;
		bool colon;

		if (!line_user_is(p, line_len, user, &colon)) {
			outbuf_append(&out, p, line_end - p);
		} else if (stored == NULL) {
			matched++;
		} else if (colon) {
			/* Keep everything after the password field. */
			const char *pw = memchr(p, ':', line_len) + 1;
			const char *rest = memchr(pw, ':', p + line_len - pw);

			outbuf_append(&out, user, strlen(user));
			outbuf_append(&out, ":", 1);
			outbuf_append(&out, stored, strlen(stored));
			if (rest != NULL)
				outbuf_append(&out, rest, line_end - rest);
			else
				outbuf_append(&out, "\n", 1);
			matched++;
		} else {
			/* A broken line with our name: keep it as it is. */
			outbuf_append(&out, p, line_end - p);
		}
		p = line_end;
	}
	if (stored != NULL && matched == 0) {
		if (out.len > 0 && out.data[out.len - 1] != '\n')
			outbuf_append(&out, "\n", 1);
		outbuf_append(&out, user, strlen(user));
		outbuf_append(&out, ":", 1);
		outbuf_append(&out, stored, strlen(stored));
		outbuf_append(&out, "\n", 1);
	}
	if (stored != NULL || matched > 0) {
		if (replace_file(path, out.data == NULL ? "" : out.data,
				 out.len, error_r) < 0)
			goto out_free;
	}
	ret = matched;
out_free:
	OPENSSL_cleanse(buf, len);
	free(buf);
	outbuf_free(&out);
out_unlock:
	close(fd); /* releases the flock */
	return ret;
}

int
passdb_file_set_password(const char *path, const char *user,
			 const char *stored, char **error_r)
{
	int ret;

	if (!auth_username_validz(user)) {
		*error_r = error_fmt("invalid user name");
		return -1;
	}
	if (stored[0] == '\0' || strpbrk(stored, ":\r\n") != NULL ||
	    strlen(stored) > AUTH_MAX_STORED_PASSWORD) {
		*error_r = error_fmt("stored password value is empty, too "
				     "long or holds ':' or a line break");
		return -1;
	}
	ret = edit_file(path, user, stored, error_r);
	if (ret < 0)
		return -1;
	return ret == 0 ? 1 : 0;
}

int
passdb_file_delete(const char *path, const char *user, char **error_r)
{
	int ret;

	if (!auth_username_validz(user)) {
		*error_r = error_fmt("invalid user name");
		return -1;
	}
	ret = edit_file(path, user, NULL, error_r);
	if (ret < 0)
		return -1;
	return ret > 0 ? 1 : 0;
}

static int
name_index_cmp(const void *a, const void *b, void *context)
{
	char *const *names = context;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = strcmp(names[x], names[y]);

	return r != 0 ? r : (x < y ? -1 : x > y);
}

/* Removes later duplicates from names, keeping file order, as the loader
   ignores them. Returns the new count. */
static size_t
drop_duplicates(char **names, size_t count)
{
	size_t *order = auth_xcalloc(count, sizeof(*order));
	size_t n = 0;

	for (size_t i = 0; i < count; i++)
		order[i] = i;
	qsort_r(order, count, sizeof(*order), name_index_cmp, names);
	/* Sorted by index within a name: the first of a run is kept. */
	for (size_t i = count; i-- > 1;) {
		if (strcmp(names[order[i - 1]], names[order[i]]) == 0) {
			free(names[order[i]]);
			names[order[i]] = NULL;
		}
	}
	free(order);
	for (size_t i = 0; i < count; i++) {
		if (names[i] != NULL)
			names[n++] = names[i];
	}
	return n;
}

int
passdb_file_list(const char *path, char ***users_r, size_t *count_r,
		 char **error_r)
{
	char **users = NULL, *buf;
	size_t count = 0, alloc = 0, len;
	int fd;

	fd = lock_file(path, LOCK_SH, error_r);
	if (fd < 0)
		return -1;
	if (read_for_edit(path, &buf, &len, error_r) < 0) {
		close(fd);
		return -1;
	}
	close(fd);

	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *line_end = nl != NULL ? nl : end;
		struct passdb_user user;
		const char *error;

		if (parse_line(p, line_end - p, &user, &error) > 0) {
			if (count == alloc) {
				alloc = alloc == 0 ? 16 : alloc * 2;
				users = auth_xrealloc(users,
						      alloc * sizeof(*users));
			}
			users[count++] = user.name;
			user.name = NULL;
			user_clear(&user);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	count = drop_duplicates(users, count);
	OPENSSL_cleanse(buf, len);
	free(buf);
	*users_r = users;
	*count_r = count;
	return 0;
}

void
passdb_user_list_free(char ***users, size_t count)
{
	if (*users == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free((*users)[i]);
	free(*users);
	*users = NULL;
}
