/* quired: loads the configuration, opens the store, binds every listener,
   drops privileges, runs the worker threads, and handles signals on the
   main thread (SIGTERM/SIGINT stop, SIGHUP reloads). */
#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "daemon/control.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "imap/imap.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lmtp/lmtp.h"
#include "net/listener.h"
#include "net/tls.h"
#include "net/worker.h"
#include "pop3/pop3.h"
#include "search/search-fts.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QUIRE_VERSION "0.1.0"
/* How long SIGTERM lets sessions finish before closing them. */
#define SHUTDOWN_GRACE_MSECS 5000
/* How often the POP3 leave-on-server expiry sweeps every user. */
#define EXPIRE_SWEEP_SECS 3600
#define MAX_LISTENERS 64

static const struct log_ctx daemon_log = { .proto = "daemon" };

struct daemon {
	struct quire_config cfg;
	struct tls_settings tls_set;
	struct tls_server *tls;
	struct passdb *passdb;
	struct store *store;
	struct worker_pool *pool;
	struct pop3_service *pop3;
	struct imap_service *imap;
	struct lmtp_service *lmtp;
	struct control_service *control;
	struct listener *listeners[MAX_LISTENERS];
	unsigned listener_count;
	char *spool_dir;
	char hostname[256];
};

static void
usage(void)
{
	fprintf(stderr,
		"usage: quired [-c FILE] [-o section.key=value ...] "
		"[--foreground] [--demo]\n");
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}


static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The certificate and key: made on first start when they are the
   defaults under data_dir; an explicitly configured pair must exist. */
static int
daemon_tls_init(struct daemon *d)
{
	const char *error;
	char *def_cert = xasprintf("%s/tls/cert.pem", d->cfg.data_dir);
	char *def_key = xasprintf("%s/tls/key.pem", d->cfg.data_dir);
	bool is_default = strcmp(d->cfg.tls_cert, def_cert) == 0 &&
			  strcmp(d->cfg.tls_key, def_key) == 0;
	int ret = -1;

	d->tls_set.cert_file = d->cfg.tls_cert;
	d->tls_set.key_file = d->cfg.tls_key;
	d->tls_set.min_version = d->cfg.tls_min_version;
	if (is_default) {
		char *dir = xasprintf("%s/tls", d->cfg.data_dir);
		if (mkdir_p(dir, 0700) < 0) {
			log_error(&daemon_log, "mkdir %s: %m", dir);
			free(dir);
			goto out;
		}
		free(dir);
		int r = tls_ensure_self_signed(d->cfg.tls_cert, d->cfg.tls_key,
					       "localhost", &error);
		if (r < 0) {
			log_error(&daemon_log, "[tls] %s", error);
			goto out;
		}
		if (r > 0)
			log_info(&daemon_log, "made a self-signed certificate "
				 "%s (set [tls] cert and key for a real one)",
				 d->cfg.tls_cert);
	} else {
		const char *which = !file_exists(d->cfg.tls_cert) ? "cert" :
				    !file_exists(d->cfg.tls_key)  ? "key" :
								    NULL;
		if (which != NULL) {
			char where[512];
			log_error(&daemon_log, "%s = %s: %m",
				  config_key_where(&d->cfg, "tls", which,
						   where, sizeof(where)),
				  which[0] == 'c' ? d->cfg.tls_cert :
						    d->cfg.tls_key);
			goto out;
		}
	}
	if (tls_server_create(&d->tls_set, &d->tls, &error) < 0) {
		char where[512];
		log_error(&daemon_log, "%s: %s",
			  config_key_where(&d->cfg, "tls", "cert", where,
					   sizeof(where)),
			  error);
		goto out;
	}
	ret = 0;
out:
	free(def_cert);
	free(def_key);
	return ret;
}

static int
daemon_reload(void *context, const char **error_r)
{
	struct daemon *d = context;

	if (tls_server_reload(d->tls, &d->tls_set, error_r) < 0) {
		log_error(&daemon_log, "reload: TLS: %s", *error_r);
		return -1;
	}
	log_info(&daemon_log, "reloaded the TLS certificate");
	return 0;
}

static int
daemon_listen(struct daemon *d, const char *service,
	      const struct config_listen *addrs, bool tls, bool implicit,
	      const char *refuse, conn_new_callback_t *cb, void *ctx,
	      mode_t unix_mode)
{
	for (unsigned i = 0; i < addrs->count; i++) {
		struct listener_settings set = {
			.service = service,
			.address = addrs->addr[i],
			.tls = tls ? d->tls : NULL,
			.implicit_tls = implicit,
			.unix_mode = unix_mode,
			.refuse_text = refuse,
			.new_connection = cb,
			.context = ctx,
		};
		const char *error;

		if (d->listener_count == MAX_LISTENERS) {
			log_error(&daemon_log, "too many listen addresses");
			return -1;
		}
		if (listener_create(d->pool, &set,
				    &d->listeners[d->listener_count],
				    &error) < 0) {
			char where[512];
			log_error(&daemon_log, "%s = %s: %s",
				  config_key_where(&d->cfg, service, "listen",
						   where, sizeof(where)),
				  addrs->addr[i], error);
			return -1;
		}
		d->listener_count++;
		log_info(&daemon_log, "%s listening on %s", service,
			 addrs->addr[i]);
	}
	return 0;
}

/* --demo: a user to try quire with, made once with a random password
   that is kept in <data_dir>/demo-password so later starts can print
   it again. */
static int
daemon_demo_user(struct daemon *d, char **password_r)
{
	char *pwfile = xasprintf("%s/demo-password", d->cfg.data_dir);
	char **users = NULL, *error = NULL, *stored = NULL;
	const char *perror;
	size_t count = 0;
	int ret = -1;
	char buf[64];

	*password_r = NULL;
	if (passdb_file_list(d->cfg.passwd_file, &users, &count, &error) < 0) {
		log_error(&daemon_log, "%s", error);
		goto out;
	}
	bool have_demo = false;
	for (size_t i = 0; i < count; i++)
		have_demo |= strcmp(users[i], "demo") == 0;
	FILE *f = fopen(pwfile, "r");
	if (have_demo && f != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL) {
			buf[strcspn(buf, "\r\n")] = '\0';
			*password_r = strdup(buf);
		}
		fclose(f);
		ret = 0;
		goto out;
	}
	if (f != NULL)
		fclose(f);
	if (count > 0) {
		ret = 0; /* real users exist: no demo user */
		goto out;
	}
	/* 16 characters from a 32-letter alphabet: 80 bits. */
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789AB";
	unsigned char rnd[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
		log_error(&daemon_log, "/dev/urandom: %m");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(rnd); i++)
		buf[i] = alphabet[rnd[i] % 32];
	buf[sizeof(rnd)] = '\0';
	if (password_generate(d->cfg.default_scheme, buf, &stored,
			      &perror) < 0) {
		log_error(&daemon_log, "demo password: %s", perror);
		goto out;
	}
	if (passdb_file_set_password(d->cfg.passwd_file, "demo", stored,
				     &error) < 0) {
		log_error(&daemon_log, "%s", error);
		goto out;
	}
	fd = open(pwfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dprintf(fd, "%s\n", buf);
		close(fd);
	}
	*password_r = strdup(buf);
	ret = 0;
out:
	free(stored);
	free(error);
	passdb_user_list_free(&users, count);
	free(pwfile);
	return ret;
}

static const char *
port_of(const struct config_listen *l)
{
	if (l->count == 0)
		return NULL;
	const char *a = l->addr[0];
	const char *colon = strrchr(a, ':');
	return strncmp(a, "unix:", 5) == 0 ? a : colon + 1;
}

static const char *
host_of(const struct config_listen *l, char *buf, size_t size)
{
	const char *a = l->addr[0];
	const char *colon = strrchr(a, ':');
	size_t n = (size_t)(colon - a);

	if (a[0] == '[') {
		a++;
		n -= 2;
	}
	if (n >= size)
		n = size - 1;
	memcpy(buf, a, n);
	buf[n] = '\0';
	if (strcmp(buf, "0.0.0.0") == 0 || strcmp(buf, "::") == 0)
		snprintf(buf, size, "%s", "this machine's address");
	return buf;
}

static void
print_banner(struct daemon *d, const char *demo_password)
{
	char host[128];
	const struct quire_config *c = &d->cfg;

	printf("\nquire %s is running. Connect a mail client to:\n",
	       QUIRE_VERSION);
	if (c->pop3_listen.count > 0)
		printf("  POP3   %s port %s (plain, STLS)\n",
		       host_of(&c->pop3_listen, host, sizeof(host)),
		       port_of(&c->pop3_listen));
	if (c->pop3s_listen.count > 0)
		printf("  POP3S  %s port %s (TLS)\n",
		       host_of(&c->pop3s_listen, host, sizeof(host)),
		       port_of(&c->pop3s_listen));
	if (c->imap_listen.count > 0)
		printf("  IMAP   %s port %s (plain, STARTTLS)\n",
		       host_of(&c->imap_listen, host, sizeof(host)),
		       port_of(&c->imap_listen));
	if (c->imaps_listen.count > 0)
		printf("  IMAPS  %s port %s (TLS)\n",
		       host_of(&c->imaps_listen, host, sizeof(host)),
		       port_of(&c->imaps_listen));
	if (c->lmtp_listen.count > 0)
		printf("  LMTP   %s for your MTA's delivery\n",
		       c->lmtp_listen.addr[0]);
	if (demo_password != NULL)
		printf("  user   demo\n  password  %s\n", demo_password);
	printf("  TLS certificate  %s\n", c->tls_cert);
	printf("Stop with Ctrl-C.\n\n");
	fflush(stdout);
}

static uid_t chown_uid;
static gid_t chown_gid;
static unsigned chown_count, chown_errors;

static int
chown_entry(const char *path, const struct stat *st, int type,
	    struct FTW *ftw)
{
	if (type == FTW_SL || (st->st_uid == chown_uid &&
			       st->st_gid == chown_gid))
		return 0;
	if (lchown(path, chown_uid, chown_gid) < 0) {
		if (chown_errors++ == 0)
			log_warn(&daemon_log, "chown %s: %m", path);
	} else {
		chown_count++;
	}
	return 0;
}

/* Everything under data_dir must belong to the service user, or it could
   not read users or write mail after the switch: files made by `quire`
   run as root, or by a root start before [server] user was set. Only
   entries owned by someone else are touched. */
static void
chown_data_dir(const char *data_dir, uid_t uid, gid_t gid)
{
	chown_uid = uid;
	chown_gid = gid;
	chown_count = chown_errors = 0;
	(void)nftw(data_dir, chown_entry, 32, FTW_PHYS);
	if (chown_count > 0)
		log_info(&daemon_log, "gave %u files under %s to the service "
			 "user", chown_count, data_dir);
}

static int
drop_privileges(const char *user, const char *data_dir,
		const char *passwd_file)
{
	struct passwd *pw;

	if (user == NULL || getuid() != 0)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error(&daemon_log, "[server] user = %s: no such user",
			  user);
		return -1;
	}
	chown_data_dir(data_dir, pw->pw_uid, pw->pw_gid);
	/* The passwd-file may live elsewhere (/etc/quire/passwd): the
	   daemon reads it at every lookup. */
	if (passwd_file != NULL && chown(passwd_file, pw->pw_uid,
					 pw->pw_gid) < 0 && errno != ENOENT)
		log_warn(&daemon_log, "chown %s: %m", passwd_file);
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error(&daemon_log, "dropping privileges to %s: %m", user);
		return -1;
	}
	if (setuid(0) == 0) {
		log_error(&daemon_log, "still root after setuid(%s)", user);
		return -1;
	}
	log_info(&daemon_log, "running as %s", user);
	return 0;
}

/* The background indexer (store.h "background indexing"): on the main
   thread, which otherwise only waits for signals, so delivery and
   sessions never wait for it; it takes each user's lock only for its
   short write transactions. Each marked user gets up to FTS_INDEX_BATCH
   rows per turn and is marked again while work remains; a turn ends
   after about FTS_INDEX_TURN_MSECS so signals are not kept waiting. */
/* One turn of the indexer; true when it stopped with work left. */
static bool
fts_work(struct daemon *d)
{
	struct timespec start, now;
	char *name;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (store_fts_next_marked(d->store, d->cfg.search_index_delay,
				     &name)) {
		struct store_user *user;
		const char *error;
		unsigned int count;
		bool more = false;

		if (store_user_get(d->store, name, &user, &error) < 0) {
			log_error(&daemon_log, "indexer: %s: %s", name, error);
			free(name);
			continue;
		}
		if (search_fts_index_pending(user, FTS_INDEX_BATCH, &count,
					     &more, &error) < 0) {
			log_error(&daemon_log, "indexer: %s: %s", name, error);
			more = false;
		}
		if (more)
			store_fts_mark_due(user);
		store_user_unref(&user);
		free(name);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000 >=
		    FTS_INDEX_TURN_MSECS)
			return true;
	}
	return false;
}

static void
expire_sweep(struct daemon *d)
{
	char **users = NULL, *error = NULL;
	size_t count = 0;
	unsigned total = 0;

	if (d->cfg.pop3_expire_days < 0)
		return;
	if (passdb_file_list(d->cfg.passwd_file, &users, &count, &error) < 0) {
		log_error(&daemon_log, "expire sweep: %s", error);
		free(error);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		struct store_user *user;
		const char *serr;
		unsigned n = 0;

		if (store_user_get(d->store, users[i], &user, &serr) < 0)
			continue;
		if (store_pop3_expire(user, (unsigned)d->cfg.pop3_expire_days,
				      &n, &serr) < 0)
			log_error(&daemon_log, "expire %s: %s", users[i],
				  serr);
		total += n;
		store_user_unref(&user);
	}
	if (total > 0)
		log_info(&daemon_log, "expire sweep: removed %u messages "
			 "retrieved over POP3 more than %d days ago",
			 total, d->cfg.pop3_expire_days);
	passdb_user_list_free(&users, count);
}

static int
daemon_run(struct daemon *d, bool demo)
{
	const char *error;
	char *demo_password = NULL;
	sigset_t sigs;
	int ret = 1;

	if (mkdir_p(d->cfg.data_dir, 0700) < 0) {
		log_error(&daemon_log, "[server] data_dir = %s: %m",
			  d->cfg.data_dir);
		goto out;
	}
	d->spool_dir = xasprintf("%s/tmp", d->cfg.data_dir);
	if (mkdir_p(d->spool_dir, 0700) < 0) {
		log_error(&daemon_log, "mkdir %s: %m", d->spool_dir);
		goto out;
	}
	if (sasl_set_enabled(d->cfg.auth_mechanisms != NULL ?
				     d->cfg.auth_mechanisms : "",
			     &error) < 0) {
		char where[512];
		log_error(&daemon_log, "%s = %s: %s",
			  config_key_where(&d->cfg, "auth", "mechanisms", where,
					   sizeof(where)),
			  d->cfg.auth_mechanisms != NULL ?
				  d->cfg.auth_mechanisms : "", error);
		ret = 78;
		goto out;
	}
	if (daemon_tls_init(d) < 0) {
		ret = 78; /* EX_CONFIG */
		goto out;
	}
	if (demo && daemon_demo_user(d, &demo_password) < 0)
		goto out;
	d->passdb = passdb_create(d->cfg.passwd_file);

	struct store_settings sset = {
		.data_dir = d->cfg.data_dir,
		.exclusive = d->cfg.store_exclusive,
		/* the loop below runs the journal's passes */
		.journal = true,
	};
	if (store_open(&sset, &d->store, &error) < 0) {
		log_error(&daemon_log, "store %s: %s", d->cfg.data_dir, error);
		goto out;
	}
	struct store_check_result check;
	if (store_check(d->store, &check, &error) < 0) {
		log_error(&daemon_log, "store check: %s", error);
		goto out;
	}
	log_info(&daemon_log, "store check: %u users, %u temp files and %u "
		 "orphaned message files removed, %u missing message "
		 "files, %u errors", check.users, check.tmp_removed,
		 check.orphan_blobs, check.missing_blobs, check.errors);

	if (worker_pool_create(d->cfg.workers, &d->pool, &error) < 0) {
		log_error(&daemon_log, "workers: %s", error);
		goto out;
	}
	if (gethostname(d->hostname, sizeof(d->hostname) - 1) < 0)
		snprintf(d->hostname, sizeof(d->hostname), "localhost");

	struct pop3_settings pset = {
		.store = d->store,
		.passdb = d->passdb,
		.tls = d->tls,
		.allow_plaintext = d->cfg.allow_plaintext,
		.expire_days = d->cfg.pop3_expire_days,
		.implementation = "quire " QUIRE_VERSION,
	};
	d->pop3 = pop3_service_create(&pset);
	struct imap_settings iset = {
		.store = d->store,
		.passdb = d->passdb,
		.tls = d->tls,
		.allow_plaintext = d->cfg.allow_plaintext,
		.quota_storage = d->cfg.quota_storage,
		.quota_messages = d->cfg.quota_messages,
		.implementation = "quire " QUIRE_VERSION,
		.admin_contact = d->cfg.admin_contact,
	};
	d->imap = imap_service_create(&iset);
	struct lmtp_settings lset = {
		.store = d->store,
		.passdb = d->passdb,
		.spool_dir = d->spool_dir,
		.hostname = d->hostname,
		.max_message_size = d->cfg.lmtp_max_message_size,
		.quota_storage = d->cfg.quota_storage,
		.quota_messages = d->cfg.quota_messages,
	};
	d->lmtp = lmtp_service_create(&lset);
	struct control_settings cset = {
		.store = d->store,
		.passdb = d->passdb,
		.pool = d->pool,
		.spool_dir = d->spool_dir,
		.max_message_size = d->cfg.lmtp_max_message_size,
		.quota_storage = d->cfg.quota_storage,
		.quota_messages = d->cfg.quota_messages,
		.reload = daemon_reload,
		.reload_context = d,
	};
	d->control = control_service_create(&cset);

	struct config_listen control_addr = { .count = 1 };
	control_addr.addr[0] = xasprintf("unix:%s", d->cfg.control_socket);
	int lret = 0;
	lret |= daemon_listen(d, "pop3", &d->cfg.pop3_listen, true, false,
			      "-ERR [SYS/TEMP] Too many connections\r\n",
			      pop3_service_new_connection, d->pop3, 0);
	lret |= daemon_listen(d, "pop3s", &d->cfg.pop3s_listen, true, true,
			      NULL, pop3_service_new_connection, d->pop3, 0);
	lret |= daemon_listen(d, "imap", &d->cfg.imap_listen, true, false,
			      "* BYE Too many connections\r\n",
			      imap_service_new_connection, d->imap, 0);
	lret |= daemon_listen(d, "imaps", &d->cfg.imaps_listen, true, true,
			      NULL, imap_service_new_connection, d->imap, 0);
	lret |= daemon_listen(d, "lmtp", &d->cfg.lmtp_listen, false, false,
			      "421 4.3.2 Too many connections\r\n",
			      lmtp_service_new_connection, d->lmtp, 0666);
	lret |= daemon_listen(d, "control", &control_addr, false, false,
			      NULL, control_service_new_connection,
			      d->control, 0600);
	free(control_addr.addr[0]);
	if (lret != 0)
		goto out;

	if (drop_privileges(d->cfg.user, d->cfg.data_dir,
			    d->cfg.passwd_file) < 0)
		goto out;

	/* Signals go to the main thread only: block them before the
	   workers start so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Files of removed messages go on this thread (the loop below),
	   not in the sessions that removed them. */
	store_unlinks_defer(d->store);
	if (worker_pool_start(d->pool, &error) < 0) {
		log_error(&daemon_log, "workers: %s", error);
		goto out;
	}
	log_info(&daemon_log, "quire %s started: %u workers", QUIRE_VERSION,
		 worker_pool_count(d->pool));
	/* The workers exist: lower only this thread (Linux keeps a nice
	   value per thread). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), FTS_INDEX_NICE) < 0)
		log_warn(&daemon_log, "setpriority: %s", strerror(errno));
	print_banner(d, demo_password);

	time_t next_sweep = time(NULL);
	bool fts_more = false;
	for (;;) {
		/* Every second: the message journal's pass (store.h),
		   the queued unlinks, then the indexer's
		   turn (fts_work); usually looks at empty lists. While the
		   indexer has work due, the next turn follows at once
		   (this thread is niced: sessions come first anyway). */
		struct timespec ts = { .tv_sec = FTS_INDEX_INTERVAL_SECS };
		if (fts_more)
			ts = (struct timespec){ .tv_nsec = 1000000 };
		int sig = sigtimedwait(&sigs, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT) {
			log_info(&daemon_log, "%s: stopping",
				 sig == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
		if (sig == SIGHUP) {
			const char *rerr;
			(void)daemon_reload(d, &rerr);
		}
		if (time(NULL) >= next_sweep) {
			expire_sweep(d);
			next_sweep = time(NULL) + EXPIRE_SWEEP_SECS;
		}
		(void)store_journal_run(d->store);
		(void)store_unlinks_run(d->store);
		store_idle_trim(d->store, STORE_IDLE_TRIM_SECS);
		fts_more = fts_work(d);
	}
	worker_pool_stop(d->pool, SHUTDOWN_GRACE_MSECS);
	worker_pool_join(d->pool);
	log_info(&daemon_log, "stopped cleanly");
	ret = 0;
out:
	free(demo_password);
	for (unsigned i = 0; i < d->listener_count; i++)
		listener_destroy(&d->listeners[i]);
	pop3_service_destroy(&d->pop3);
	imap_service_destroy(&d->imap);
	lmtp_service_destroy(&d->lmtp);
	control_service_destroy(&d->control);
	worker_pool_destroy(&d->pool);
	if (d->store != NULL)
		store_close(&d->store);
	passdb_destroy(&d->passdb);
	tls_server_destroy(&d->tls);
	free(d->spool_dir);
	return ret;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "demo", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d;
	const char *config_path = NULL;
	const char *overrides[64];
	unsigned override_count = 0;
	bool foreground = false, demo = false;
	char *error;
	int c, ret;

	/* glibc gives a thread's heap back to the kernel whenever more than
	   128 KiB lies free at its top. A worker's heap hovers about there
	   (each command allocates and frees its buffers), so every APPEND
	   and many replies ended in madvise() and a TLB shootdown on every
	   core, then page faults to take the pages back. Kept up to
	   DAEMON_TRIM_THRESHOLD, a heap settles instead. */
	(void)mallopt(M_TRIM_THRESHOLD, DAEMON_TRIM_THRESHOLD);
	memset(&d, 0, sizeof(d));
	while ((c = getopt_long(argc, argv, "c:o:Fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			if (override_count == 64) {
				fprintf(stderr, "quired: too many -o\n");
				return 64;
			}
			overrides[override_count++] = optarg;
			break;
		case 'F':
			foreground = true;
			break;
		case 'D':
			demo = true;
			break;
		case 'V':
			printf("quire %s\n", QUIRE_VERSION);
			return 0;
		default:
			usage();
			return 64;
		}
	}
	if (optind != argc) {
		usage();
		return 64;
	}
	config_init_defaults(&d.cfg);
	if (config_load(&d.cfg, config_path, overrides, override_count,
			&error) < 0) {
		fprintf(stderr, "quired: %s\n", error);
		free(error);
		config_free(&d.cfg);
		return 78;
	}
	if (strcmp(d.cfg.log_level, "debug") == 0)
		log_set_level(LOG_DEBUG);
	else if (strcmp(d.cfg.log_level, "warn") == 0)
		log_set_level(LOG_WARN);
	else if (strcmp(d.cfg.log_level, "error") == 0)
		log_set_level(LOG_ERROR);
	if (!foreground) {
		/* Detach; the log goes to <data_dir>/quired.log. */
		if (mkdir_p(d.cfg.data_dir, 0700) < 0) {
			fprintf(stderr, "quired: %s: %m\n", d.cfg.data_dir);
			return 73;
		}
		char *logpath = xasprintf("%s/quired.log", d.cfg.data_dir);
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0600);
		if (fd < 0) {
			fprintf(stderr, "quired: %s: %m\n", logpath);
			return 73;
		}
		free(logpath);
		if (daemon(1, 1) < 0) {
			fprintf(stderr, "quired: daemon: %m\n");
			return 71;
		}
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	ret = daemon_run(&d, demo);
	config_free(&d.cfg);
	return ret == 0 ? 0 : ret == 78 ? 78 : 70;
}
