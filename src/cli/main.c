/* quire: the admin command. Users (the passwd-file), delivery for an
   MTA's mailbox_command, and talking to a running quired over its
   control socket. */
#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/username.h"
#include "daemon/control.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/strnum.h"
#include "lmtp/deliver.h"
#include "search/search-fts.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/* sysexits(3) codes, which MTAs understand. */
#define EX_OK 0
#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_NOUSER 67
#define EX_SOFTWARE 70
#define EX_CANTCREAT 73
#define EX_TEMPFAIL 75
#define EX_CONFIG 78

static struct quire_config cfg;

static void
usage(void)
{
	fprintf(stderr,
		"usage: quire [-c FILE] [-o section.key=value] COMMAND\n"
		"  user add NAME [--password-stdin] [--scheme SCHEME]\n"
		"  user passwd NAME [--password-stdin] [--scheme SCHEME]\n"
		"  user del NAME [--purge]\n"
		"  user list\n"
		"  deliver -u USER [-m MAILBOX] [-f SENDER] < message\n"
		"  reindex USER  rebuild USER's full-text search index\n"
		"  reload      re-read the TLS certificate of a running quired\n"
		"  stats       connections of a running quired\n");
}

/* Connects to a running quired. Returns the socket, or -1 if none runs
   (ENOENT / ECONNREFUSED), or -2 on another error. */
static int
control_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(cfg.control_socket) >= sizeof(sun.sun_path))
		return -2;
	memcpy(sun.sun_path, cfg.control_socket,
	       strlen(cfg.control_socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -2;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;
		close(fd);
		return err == ENOENT || err == ECONNREFUSED ? -1 : -2;
	}
	return fd;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one reply line into buf (without CRLF). Returns 0 or -1. */
static int
control_read_line(int fd, char *buf, size_t size)
{
	size_t pos = 0;

	while (pos + 1 < size) {
		ssize_t n = read(fd, buf + pos, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[pos] == '\n') {
			if (pos > 0 && buf[pos - 1] == '\r')
				pos--;
			buf[pos] = '\0';
			return 0;
		}
		pos++;
	}
	return -1;
}

static int
control_simple(const char *cmd, char *reply, size_t size)
{
	int fd = control_connect();

	if (fd < 0)
		return fd;
	if (write_all(fd, cmd, strlen(cmd)) < 0 ||
	    control_read_line(fd, reply, size) < 0) {
		close(fd);
		return -2;
	}
	close(fd);
	return 0;
}

/* Run as root with [server] user set, the files we write must stay
   readable by the daemon after it dropped to that user. */
static void
give_to_service_user(const char *path)
{
	struct passwd *pw;

	if (getuid() != 0 || cfg.user == NULL)
		return;
	pw = getpwnam(cfg.user);
	if (pw == NULL) {
		fprintf(stderr, "quire: [server] user = %s: no such user\n",
			cfg.user);
		return;
	}
	if (chown(path, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
		fprintf(stderr, "quire: chown %s: %m\n", path);
}

static void
give_passwd_file_away(void)
{
	char lock[4096];

	give_to_service_user(cfg.passwd_file);
	snprintf(lock, sizeof(lock), "%s.lock", cfg.passwd_file);
	give_to_service_user(lock);
}

static char *
read_password(bool from_stdin)
{
	char buf[AUTH_MAX_PASSWORD + 2], again[AUTH_MAX_PASSWORD + 2];
	struct termios old, noecho;
	FILE *tty;

	if (from_stdin) {
		if (fgets(buf, sizeof(buf), stdin) == NULL) {
			fprintf(stderr, "quire: no password on stdin\n");
			return NULL;
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		return strdup(buf);
	}
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL) {
		fprintf(stderr, "quire: no terminal; use --password-stdin\n");
		return NULL;
	}
	tcgetattr(fileno(tty), &old);
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	fprintf(tty, "Password: ");
	fflush(tty);
	char *ok1 = fgets(buf, sizeof(buf), tty);
	fprintf(tty, "\nAgain: ");
	fflush(tty);
	char *ok2 = fgets(again, sizeof(again), tty);
	fprintf(tty, "\n");
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fclose(tty);
	if (ok1 == NULL || ok2 == NULL)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	again[strcspn(again, "\r\n")] = '\0';
	if (strcmp(buf, again) != 0) {
		fprintf(stderr, "quire: the passwords differ\n");
		return NULL;
	}
	return strdup(buf);
}

static int
cmd_user_set(const char *name, bool from_stdin, const char *scheme,
	     bool adding)
{
	char *password, *stored = NULL, *error = NULL;
	const char *perror;
	char **users = NULL;
	size_t count = 0;
	bool exists = false;
	int ret;

	if (!auth_username_validz(name)) {
		fprintf(stderr, "quire: '%s' is not a valid user name "
				"(letters, digits, . _ - + @)\n", name);
		return EX_USAGE;
	}
	if (passdb_file_list(cfg.passwd_file, &users, &count, &error) < 0) {
		fprintf(stderr, "quire: %s\n", error);
		free(error);
		return EX_CANTCREAT;
	}
	for (size_t i = 0; i < count; i++)
		exists |= strcmp(users[i], name) == 0;
	passdb_user_list_free(&users, count);
	if (adding && exists) {
		fprintf(stderr, "quire: user %s exists; use 'user passwd'\n",
			name);
		return EX_DATAERR;
	}
	if (!adding && !exists) {
		fprintf(stderr, "quire: no user %s\n", name);
		return EX_NOUSER;
	}
	password = read_password(from_stdin);
	if (password == NULL)
		return EX_DATAERR;
	if (password[0] == '\0') {
		fprintf(stderr, "quire: empty password\n");
		free(password);
		return EX_DATAERR;
	}
	ret = password_generate(scheme != NULL ? scheme : cfg.default_scheme,
				password, &stored, &perror);
	explicit_bzero(password, strlen(password));
	free(password);
	if (ret < 0) {
		fprintf(stderr, "quire: %s\n", perror);
		return EX_USAGE;
	}
	ret = passdb_file_set_password(cfg.passwd_file, name, stored, &error);
	free(stored);
	if (ret < 0) {
		fprintf(stderr, "quire: %s\n", error);
		free(error);
		return EX_CANTCREAT;
	}
	give_passwd_file_away();
	printf("%s %s\n", adding ? "added" : "changed the password of", name);
	return EX_OK;
}

static int
cmd_user_del(const char *name, bool purge)
{
	char *error = NULL;
	int ret = passdb_file_delete(cfg.passwd_file, name, &error);

	if (ret < 0) {
		fprintf(stderr, "quire: %s\n", error);
		free(error);
		return EX_CANTCREAT;
	}
	if (ret == 0) {
		fprintf(stderr, "quire: no user %s\n", name);
		return EX_NOUSER;
	}
	give_passwd_file_away();
	printf("deleted user %s\n", name);
	if (!purge) {
		printf("their mail is kept; 'user del %s --purge' removes "
		       "it\n", name);
		return EX_OK;
	}
	char cmd[512], reply[512];
	snprintf(cmd, sizeof(cmd), "PURGE %s\r\n", name);
	int c = control_simple(cmd, reply, sizeof(reply));
	if (c == 0) {
		if (strcmp(reply, "OK") == 0 || strcmp(reply, "NOUSER") == 0)
			return EX_OK;
		fprintf(stderr, "quire: quired: %s\n", reply);
		return EX_TEMPFAIL;
	}
	if (c == -2) {
		fprintf(stderr, "quire: control socket %s: %m\n",
			cfg.control_socket);
		return EX_TEMPFAIL;
	}
	/* quired is stopped: remove the mail ourselves. */
	struct store_settings sset = { .data_dir = cfg.data_dir };
	struct store *store;
	const char *serr;
	if (store_open(&sset, &store, &serr) < 0 ||
	    store_user_delete(store, name, &serr) < 0) {
		fprintf(stderr, "quire: %s\n", serr);
		return EX_TEMPFAIL;
	}
	store_close(&store);
	return EX_OK;
}

static int
cmd_user_list(void)
{
	char **users = NULL, *error = NULL;
	size_t count = 0;

	if (passdb_file_list(cfg.passwd_file, &users, &count, &error) < 0) {
		fprintf(stderr, "quire: %s\n", error);
		free(error);
		return EX_CANTCREAT;
	}
	for (size_t i = 0; i < count; i++)
		printf("%s\n", users[i]);
	passdb_user_list_free(&users, count);
	return EX_OK;
}

/* Creates the directory that holds path, as a first `user add` needs. */
static void
mkdir_parent(const char *path)
{
	char *copy = strdup(path), *slash;

	if (copy == NULL)
		abort();
	slash = strrchr(copy, '/');
	if (slash != NULL && slash != copy) {
		*slash = '\0';
		for (char *p = copy + 1; *p != '\0'; p++) {
			if (*p == '/') {
				*p = '\0';
				(void)mkdir(copy, 0700);
				*p = '/';
			}
		}
		(void)mkdir(copy, 0700);
	}
	free(copy);
}

static int
cmd_user(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "scheme", required_argument, NULL, 's' },
		{ "purge", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	bool from_stdin = false, purge = false;
	const char *scheme = NULL;
	int c;

	if (argc < 2) {
		usage();
		return EX_USAGE;
	}
	const char *sub = argv[1];
	mkdir_parent(cfg.passwd_file);
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': from_stdin = true; break;
		case 's': scheme = optarg; break;
		case 'P': purge = true; break;
		default: usage(); return EX_USAGE;
		}
	}
	if (strcmp(sub, "list") == 0 && optind == argc)
		return cmd_user_list();
	if (optind + 1 != argc) {
		usage();
		return EX_USAGE;
	}
	const char *name = argv[optind];
	if (strcmp(sub, "add") == 0)
		return cmd_user_set(name, from_stdin, scheme, true);
	if (strcmp(sub, "passwd") == 0)
		return cmd_user_set(name, from_stdin, scheme, false);
	if (strcmp(sub, "del") == 0)
		return cmd_user_del(name, purge);
	usage();
	return EX_USAGE;
}

/* Reads the message from fd into an unlinked spool file, turning bare LF
   line ends into CRLF (an MTA's pipe gives LF), with "Return-Path:"
   first when the sender is known. Returns 1 with *spool_fd_r and
   *size_r, 0 if the message is over max_size, -1 on error. */
static int
spool_from_fd(const char *dir, int fd, const char *sender, uint64_t max_size,
	      int *spool_fd_r, uint64_t *size_r, const char **error_r)
{
	static char errbuf[256];
	uint8_t in[65536], out[2 * sizeof(in) + 2];
	uint64_t size = 0;
	bool prev_cr = false;
	int sfd;

	sfd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sfd < 0) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/deliver.XXXXXX", dir);
		sfd = mkostemp(path, O_CLOEXEC);
		if (sfd >= 0)
			unlink(path);
	}
	if (sfd < 0) {
		snprintf(errbuf, sizeof(errbuf), "spool in %s: %m", dir);
		*error_r = errbuf;
		return -1;
	}
	if (sender != NULL) {
		char hdr[1024];
		int n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\r\n",
				 sender);
		if (n < 0 || (size_t)n >= sizeof(hdr) ||
		    write_all(sfd, hdr, (size_t)n) < 0)
			goto write_fail;
		size += (uint64_t)n;
	}
	for (;;) {
		ssize_t n = read(fd, in, sizeof(in));
		size_t o = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(errbuf, sizeof(errbuf), "reading the "
				 "message: %m");
			*error_r = errbuf;
			close(sfd);
			return -1;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] == '\n' && !prev_cr)
				out[o++] = '\r';
			out[o++] = in[i];
			prev_cr = in[i] == '\r';
		}
		if (o > max_size - size) {
			close(sfd);
			return 0;
		}
		if (write_all(sfd, out, o) < 0)
			goto write_fail;
		size += o;
	}
	*spool_fd_r = sfd;
	*size_r = size;
	return 1;
write_fail:
	snprintf(errbuf, sizeof(errbuf), "spool write: %m");
	*error_r = errbuf;
	close(sfd);
	return -1;
}

/* Hands the spooled message to the running quired. Returns an exit
   code, or -1 if quired is not running. */
static int
deliver_via_daemon(const char *user, const char *mailbox, int spool_fd,
		   uint64_t size)
{
	char line[1024], reply[1024];
	int fd = control_connect();

	if (fd == -1)
		return -1;
	if (fd < 0) {
		fprintf(stderr, "quire deliver: control socket %s: %m\n",
			cfg.control_socket);
		return EX_TEMPFAIL;
	}
	snprintf(line, sizeof(line), "DELIVER %s %s %llu\r\n", user,
		 mailbox != NULL ? mailbox : "-", (unsigned long long)size);
	if (write_all(fd, line, strlen(line)) < 0)
		goto fail;
	for (uint64_t off = 0; off < size;) {
		char buf[65536];
		ssize_t n = pread(spool_fd, buf, sizeof(buf), (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		if (write_all(fd, buf, (size_t)n) < 0)
			goto fail;
		off += (uint64_t)n;
	}
	if (control_read_line(fd, reply, sizeof(reply)) < 0)
		goto fail;
	close(fd);
	if (strncmp(reply, "OK", 2) == 0)
		return EX_OK;
	if (strcmp(reply, "NOUSER") == 0) {
		fprintf(stderr, "quire deliver: %s: user unknown\n", user);
		return EX_NOUSER;
	}
	if (strcmp(reply, "OVERQUOTA") == 0) {
		fprintf(stderr, "quire deliver: %s: mailbox full\n", user);
		return EX_CANTCREAT;
	}
	if (strncmp(reply, "ERROR", 5) == 0) {
		fprintf(stderr, "quire deliver: %s\n", reply + 6);
		return EX_DATAERR;
	}
	fprintf(stderr, "quire deliver: %s\n", reply);
	return EX_TEMPFAIL;
fail:
	fprintf(stderr, "quire deliver: lost the connection to quired\n");
	close(fd);
	return EX_TEMPFAIL;
}

static int
cmd_deliver(int argc, char **argv)
{
	const char *user = NULL, *mailbox = NULL, *sender = NULL;
	const char *error;
	uint64_t size;
	int c, spool_fd, ret;

	optind = 1;
	while ((c = getopt(argc, argv, "u:m:f:")) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'm': mailbox = optarg; break;
		case 'f': sender = optarg; break;
		default: usage(); return EX_USAGE;
		}
	}
	if (user == NULL || optind != argc) {
		usage();
		return EX_USAGE;
	}
	if (!auth_username_validz(user)) {
		fprintf(stderr, "quire deliver: %s: user unknown\n", user);
		return EX_NOUSER;
	}
	char *spool_dir;
	if (asprintf(&spool_dir, "%s/tmp", cfg.data_dir) < 0)
		abort();
	mkdir(cfg.data_dir, 0700);
	mkdir(spool_dir, 0700);
	ret = spool_from_fd(spool_dir, STDIN_FILENO, sender,
			    cfg.lmtp_max_message_size, &spool_fd, &size,
			    &error);
	free(spool_dir);
	if (ret < 0) {
		fprintf(stderr, "quire deliver: %s\n", error);
		return EX_TEMPFAIL;
	}
	if (ret == 0) {
		fprintf(stderr, "quire deliver: message larger than %llu "
				"bytes\n",
			(unsigned long long)cfg.lmtp_max_message_size);
		return EX_DATAERR;
	}
	ret = deliver_via_daemon(user, mailbox, spool_fd, size);
	if (ret >= 0) {
		close(spool_fd);
		return ret;
	}
	/* quired is not running: write the store ourselves. SQLite's locks
	   keep this safe against a quired that starts meanwhile. */
	struct store_settings sset = { .data_dir = cfg.data_dir };
	struct store *store;
	struct passdb *passdb = passdb_create(cfg.passwd_file);
	uint32_t uid;
	if (store_open(&sset, &store, &error) < 0) {
		fprintf(stderr, "quire deliver: %s\n", error);
		passdb_destroy(&passdb);
		close(spool_fd);
		return EX_TEMPFAIL;
	}
	struct store_quota quota_defaults = {
		.storage = cfg.quota_storage,
		.messages = cfg.quota_messages,
	};
	ret = deliver_message_quota(store, passdb, &quota_defaults, user,
				    mailbox, NULL, 0, spool_fd, size, &uid,
				    &error);
	store_close(&store);
	passdb_destroy(&passdb);
	close(spool_fd);
	if (ret > 0)
		return EX_OK;
	if (ret == 0) {
		fprintf(stderr, "quire deliver: %s: user unknown\n", user);
		return EX_NOUSER;
	}
	if (ret == DELIVER_OVERQUOTA) {
		/* Postfix maps EX_CANTCREAT to a permanent 5.2.0 bounce. */
		fprintf(stderr, "quire deliver: %s: mailbox full\n", user);
		return EX_CANTCREAT;
	}
	fprintf(stderr, "quire deliver: %s\n", error);
	return EX_TEMPFAIL;
}

/* Rebuilds a user's search index from the message files: a running
   quired does it (it holds the users' databases open for itself, see
   [server] store_locking); when none runs, this process opens the store. */
static int
cmd_reindex(int argc, char **argv)
{
	struct store_settings sset = { .data_dir = cfg.data_dir };
	struct passdb *passdb;
	struct passdb_user *pu = NULL;
	struct store *store = NULL;
	struct store_user *suser = NULL;
	const char *error;
	unsigned int count;
	int ret = EX_TEMPFAIL, r;

	if (argc != 2) {
		usage();
		return EX_USAGE;
	}
	if (!auth_username_validz(argv[1])) {
		fprintf(stderr, "quire reindex: %s: user unknown\n", argv[1]);
		return EX_NOUSER;
	}
	passdb = passdb_create(cfg.passwd_file);
	r = passdb_lookup(passdb, argv[1], &pu, &error);
	if (r <= 0) {
		if (r == 0)
			fprintf(stderr, "quire reindex: %s: user unknown\n",
				argv[1]);
		else
			fprintf(stderr, "quire reindex: %s\n", error);
		passdb_destroy(&passdb);
		return r == 0 ? EX_NOUSER : EX_TEMPFAIL;
	}
	char cmd[512], reply[512];
	snprintf(cmd, sizeof(cmd), "REINDEX %s\r\n", pu->name);
	int c = control_simple(cmd, reply, sizeof(reply));
	if (c == 0) {
		if (strncmp(reply, "OK ", 3) == 0) {
			printf("%s: %s messages indexed\n", pu->name,
			       reply + 3);
			ret = EX_OK;
		} else {
			fprintf(stderr, "quire reindex: quired: %s\n", reply);
		}
	} else if (c == -2) {
		fprintf(stderr, "quire reindex: control socket %s: %m\n",
			cfg.control_socket);
	} else if (store_open(&sset, &store, &error) < 0 ||
		   store_user_get(store, pu->name, &suser, &error) < 0 ||
		   search_fts_reindex(suser, &count, &error) < 0) {
		fprintf(stderr, "quire reindex: %s\n", error);
	} else {
		printf("%s: %u messages indexed\n", pu->name, count);
		ret = EX_OK;
	}
	if (suser != NULL)
		store_user_unref(&suser);
	if (store != NULL)
		store_close(&store);
	passdb_user_free(&pu);
	passdb_destroy(&passdb);
	return ret;
}

int
main(int argc, char **argv)
{
	const char *config_path = NULL;
	const char *overrides[64];
	unsigned override_count = 0;
	char *error;
	int i = 1, ret;

	/* Global options come before the command. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc &&
			   override_count < 64) {
			overrides[override_count++] = argv[i + 1];
			i += 2;
		} else {
			usage();
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage();
		return EX_USAGE;
	}
	config_init_defaults(&cfg);
	if (config_load(&cfg, config_path, overrides, override_count,
			&error) < 0) {
		fprintf(stderr, "quire: %s\n", error);
		free(error);
		return EX_CONFIG;
	}
	log_set_level(LOG_WARN);
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "user") == 0)
		ret = cmd_user(argc, argv);
	else if (strcmp(argv[0], "deliver") == 0)
		ret = cmd_deliver(argc, argv);
	else if (strcmp(argv[0], "reindex") == 0)
		ret = cmd_reindex(argc, argv);
	else if (strcmp(argv[0], "reload") == 0 ||
		 strcmp(argv[0], "stats") == 0) {
		char reply[512];
		int c = control_simple(argv[0][0] == 'r' ? "RELOAD\r\n" :
							  "STATS\r\n",
				       reply, sizeof(reply));
		if (c < 0) {
			fprintf(stderr, "quire: quired is not running (%s)\n",
				cfg.control_socket);
			ret = EX_TEMPFAIL;
		} else {
			printf("%s\n", reply);
			ret = strncmp(reply, "OK", 2) == 0 ? EX_OK :
							     EX_SOFTWARE;
		}
	} else {
		usage();
		ret = EX_USAGE;
	}
	config_free(&cfg);
	return ret;
}
