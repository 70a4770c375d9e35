#ifndef QUIRE_AUTH_PASSDB_H
#define QUIRE_AUTH_PASSDB_H

#include <stdbool.h>
#include <stddef.h>

/* The user database: a Dovecot passwd-file, one user a line:

     user:password:uid:gid:gecos:home:shell:extra_fields

   Only user and password are required; missing trailing fields are empty.
   password is a stored value as in password.h ("{SCHEME}..."). Lines that
   are empty or start with '#' are ignored. extra_fields is the rest of
   the line (it may hold ':'): space-separated key=value pairs (a bare key
   means key=""), kept for later use (quota, ...). A line that does not
   parse (bad user name, no password field, too long, a duplicate user)
   is logged with file:line and skipped; the rest still loads.

   User names follow username.h, including its case rule. */

struct passdb;

struct passdb_extra_field {
	char *key;
	char *value;
};

/* One user, a private copy: the caller owns it and frees it with
   passdb_user_free(). Empty fields are "" (never NULL). */
struct passdb_user {
	char *name;	/* as stored in the file */
	char *password; /* stored value, "{SCHEME}..." */
	char *uid, *gid, *gecos, *home, *shell;
	struct passdb_extra_field *extra;
	size_t extra_count;
};

/* Opens the passwd-file at path (copied). Nothing is read until the first
   lookup. Never fails; a missing or unreadable file shows at lookup. */
struct passdb *passdb_create(const char *path);
void passdb_destroy(struct passdb **db);

/* Looks a user up. Thread-safe: any number of threads may call it at
   once. Each call stats the file and reloads it first if its device,
   inode, size or mtime changed since the last load, so a user the CLI
   adds or changes can log in at once. A missing file is an empty user
   list. Returns 1 with *user_r set (free with passdb_user_free), 0 if no
   such user (or name is not a valid user name), -1 if the file cannot be
   read (*error_r is static text; the details are logged). */
int passdb_lookup(struct passdb *db, const char *name,
		  struct passdb_user **user_r, const char **error_r);

/* Users currently loaded (after the last lookup's reload), for tests and
   stats. */
size_t passdb_count(struct passdb *db);

void passdb_user_free(struct passdb_user **user);

/* The value of extra field key, or NULL if the user has none. */
const char *passdb_user_extra(const struct passdb_user *user,
			      const char *key);

/* Editing the file, for the CLI. Each takes an flock on "<path>.lock"
   (exclusive for set and delete, shared for list), writes a temporary
   file beside path, fsyncs it, renames it over path and fsyncs the
   directory, so a reader sees the old file or the new one, never a
   mixture. The file is created if missing and is always mode 0600.
   Other lines (comments, other users, broken lines) are kept byte for
   byte. Names here are exact (no lowercased retry). On error *error_r is
   a malloc'ed message naming the file (caller frees). */

/* Sets user's stored password (a value from password_generate; it must
   not contain ':' or a line break): replaces the password field of the
   user's line, keeping its other fields, or appends "user:stored" if the
   user is new. Returns 1 if the user was added, 0 if replaced, -1. */
int passdb_file_set_password(const char *path, const char *user,
			     const char *stored, char **error_r);

/* Removes user's line. Returns 1 if removed, 0 if no such user, -1. */
int passdb_file_delete(const char *path, const char *user, char **error_r);

/* Lists the user names of the lines that parse, in file order. Sets
   *users_r to a malloc'ed array of *count_r malloc'ed strings (free with
   passdb_user_list_free). A missing file gives an empty list. Returns 0
   or -1. */
int passdb_file_list(const char *path, char ***users_r, size_t *count_r,
		     char **error_r);
void passdb_user_list_free(char ***users, size_t count);

#endif
