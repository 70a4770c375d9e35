/* The control socket's server side: see control.h for the protocol. */
#include "daemon/control.h"

#include "lib/log.h"
#include "lib/strnum.h"
#include "lmtp/deliver.h"
#include "net/conn.h"
#include "net/worker.h"
#include "search/search-fts.h"
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Idle timeout of a control connection, lifted while a REINDEX runs. */
#define CONTROL_IDLE_SECS 300

struct control_service {
	struct control_settings set;
	char *spool_dir;
};

struct control_session {
	struct control_service *service;
	struct conn *conn;
	struct log_ctx log;
	/* DELIVER in progress: the spool file and what is still to come. */
	int spool_fd;
	uint64_t remaining;
	uint64_t size;
	bool too_big;
	bool in_deliver; /* between the DELIVER line and its reply */
	char user[256];
	char mailbox[256];
	/* REINDEX running on a blocking-job thread: no further line is read
	   until it answers. */
	struct control_reindex *reindex;
};

/* A REINDEX job: work fills in count or error, done answers. */
struct control_reindex {
	struct control_session *session; /* NULL once it closed */
	struct store *store;
	char user[256];
	unsigned int count;
	char *error; /* NULL: done */
};

struct control_service *
control_service_create(const struct control_settings *set)
{
	struct control_service *service = calloc(1, sizeof(*service));

	if (service == NULL)
		abort();
	service->set = *set;
	service->spool_dir = strdup(set->spool_dir);
	if (service->spool_dir == NULL)
		abort();
	service->set.spool_dir = service->spool_dir;
	return service;
}

void
control_service_destroy(struct control_service **_service)
{
	struct control_service *service = *_service;

	if (service == NULL)
		return;
	*_service = NULL;
	free(service->spool_dir);
	free(service);
}

static int
spool_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
		       errno == EINVAL)) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/deliver.XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	return fd;
}

static void
control_reply(struct control_session *session, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
control_reply(struct control_session *session, const char *fmt, ...)
{
	char line[CONTROL_MAX_LINE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(session->conn, line, (size_t)n);
}

static void
control_deliver_finish(struct control_session *session)
{
	struct control_service *service = session->service;
	const char *error = NULL;
	uint32_t uid = 0;
	int ret;

	if (session->too_big) {
		control_reply(session, "ERROR message larger than %llu bytes",
			      (unsigned long long)service->set.max_message_size);
		log_info(&session->log, "deliver to %s refused: %llu bytes "
			 "over the size limit", session->user,
			 (unsigned long long)session->size);
	} else {
		struct store_quota defaults = {
			.storage = service->set.quota_storage,
			.messages = service->set.quota_messages,
		};
		ret = deliver_message_quota(service->set.store,
					    service->set.passdb, &defaults,
					    session->user,
					    session->mailbox[0] != '\0' ?
						    session->mailbox : NULL,
					    NULL, 0, session->spool_fd,
					    session->size, &uid, &error);
		if (ret > 0) {
			control_reply(session, "OK %u", uid);
			log_info(&session->log, "deliver: to=%s mailbox=%s "
				 "size=%llu uid=%u", session->user,
				 session->mailbox[0] != '\0' ?
					 session->mailbox : "INBOX",
				 (unsigned long long)session->size, uid);
		} else if (ret == 0) {
			control_reply(session, "NOUSER");
		} else if (ret == DELIVER_OVERQUOTA) {
			control_reply(session, "OVERQUOTA");
			log_info(&session->log, "deliver to %s refused: over "
				 "quota", session->user);
		} else {
			control_reply(session, "TEMPFAIL %s", error);
			log_error(&session->log, "deliver to %s failed: %s",
				  session->user, error);
		}
	}
	if (session->spool_fd >= 0)
		close(session->spool_fd);
	session->spool_fd = -1;
}

/* Moves DELIVER's message bytes from the input buffer to the spool.
   Returns true when all of them arrived. */
static bool
control_deliver_read(struct control_session *session)
{
	struct evbuffer *in = conn_get_input(session->conn);
	uint8_t buf[16384];

	while (session->remaining > 0 && in != NULL &&
	       evbuffer_get_length(in) > 0) {
		size_t want = sizeof(buf);
		if (want > session->remaining)
			want = (size_t)session->remaining;
		int n = evbuffer_remove(in, buf, want);
		if (n <= 0)
			break;
		session->remaining -= (uint64_t)n;
		if (session->too_big || session->spool_fd < 0)
			continue;
		size_t off = 0;
		while (off < (size_t)n) {
			ssize_t w = write(session->spool_fd, buf + off,
					  (size_t)n - off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				log_error(&session->log, "spool write: %m");
				close(session->spool_fd);
				session->spool_fd = -1;
				break;
			}
			off += (size_t)w;
		}
	}
	return session->remaining == 0;
}

static void
control_reindex_work(void *context)
{
	struct control_reindex *job = context;
	struct store_user *suser = NULL;
	const char *error = NULL;

	if (store_user_get(job->store, job->user, &suser, &error) < 0 ||
	    search_fts_reindex(suser, &job->count, &error) < 0)
		job->error = strdup(error != NULL ? error : "failed");
	if (suser != NULL)
		store_user_unref(&suser);
}

static void
control_reindex_done(void *context)
{
	struct control_reindex *job = context;
	struct control_session *session = job->session;

	if (session != NULL) {
		session->reindex = NULL;
		if (job->error == NULL)
			control_reply(session, "OK %u", job->count);
		else
			control_reply(session, "TEMPFAIL %s", job->error);
		conn_set_idle_timeout(session->conn, CONTROL_IDLE_SECS);
		conn_input_kick(session->conn);
	}
	free(job->error);
	free(job);
}

/* Rebuilds a user's full-text rows in the daemon, which holds the user's
   database (store_settings.exclusive), on a blocking-job thread: a big
   mailbox takes seconds, and the worker serves other sessions. */
static void
control_reindex_start(struct control_session *session, const char *user)
{
	struct control_reindex *job = calloc(1, sizeof(*job));
	struct worker *worker = conn_get_worker(session->conn);

	if (job == NULL)
		abort();
	job->session = session;
	job->store = session->service->set.store;
	snprintf(job->user, sizeof(job->user), "%s", user);
	session->reindex = job;
	/* no idle timeout while the client waits for the answer */
	conn_set_idle_timeout(session->conn, 0);
	worker_pool_offload(worker_get_pool(worker), worker,
			    control_reindex_work, control_reindex_done, job);
}

static void
control_command(struct control_session *session, char *line)
{
	struct control_service *service = session->service;
	char *save = NULL;
	char *verb = strtok_r(line, " ", &save);

	if (verb == NULL) {
		control_reply(session, "ERROR empty command");
	} else if (strcmp(verb, "DELIVER") == 0) {
		char *user = strtok_r(NULL, " ", &save);
		char *mailbox = strtok_r(NULL, " ", &save);
		char *size = strtok_r(NULL, " ", &save);
		uint64_t n;

		if (user == NULL || mailbox == NULL || size == NULL ||
		    str_to_u64z(size, UINT64_MAX, &n) < 0 ||
		    strlen(user) >= sizeof(session->user) ||
		    strlen(mailbox) >= sizeof(session->mailbox)) {
			control_reply(session, "ERROR usage: DELIVER user "
					       "mailbox size");
			return;
		}
		snprintf(session->user, sizeof(session->user), "%s", user);
		snprintf(session->mailbox, sizeof(session->mailbox), "%s",
			 strcmp(mailbox, "-") == 0 ? "" : mailbox);
		session->size = n;
		session->remaining = n;
		session->too_big = n > service->set.max_message_size;
		session->spool_fd = -1;
		session->in_deliver = true;
		if (!session->too_big) {
			session->spool_fd = spool_open(service->spool_dir);
			if (session->spool_fd < 0) {
				log_error(&session->log, "spool in %s: %m",
					  service->spool_dir);
			}
		}
	} else if (strcmp(verb, "RELOAD") == 0) {
		const char *error = NULL;

		if (service->set.reload == NULL ||
		    service->set.reload(service->set.reload_context,
					&error) == 0)
			control_reply(session, "OK");
		else
			control_reply(session, "TEMPFAIL %s", error);
	} else if (strcmp(verb, "STATS") == 0) {
		control_reply(session, "OK connections=%u",
			      worker_pool_connection_count(service->set.pool));
	} else if (strcmp(verb, "REINDEX") == 0) {
		char *user = strtok_r(NULL, " ", &save);

		if (user == NULL || strlen(user) >= sizeof(session->user)) {
			control_reply(session, "ERROR usage: REINDEX user");
			return;
		}
		control_reindex_start(session, user);
	} else if (strcmp(verb, "PURGE") == 0) {
		char *user = strtok_r(NULL, " ", &save);
		const char *error = NULL;
		int ret;

		if (user == NULL) {
			control_reply(session, "ERROR usage: PURGE user");
			return;
		}
		ret = store_user_delete(service->set.store, user, &error);
		if (ret > 0)
			control_reply(session, "OK");
		else if (ret == 0)
			control_reply(session, "NOUSER");
		else
			control_reply(session, "TEMPFAIL %s", error);
	} else {
		control_reply(session, "ERROR unknown command");
	}
}

static void
control_input(struct conn *conn, void *context)
{
	struct control_session *session = context;
	const uint8_t *line;
	size_t len;

	while (session->reindex == NULL) {
		if (session->in_deliver) {
			if (!control_deliver_read(session))
				return;
			if (session->spool_fd < 0 && !session->too_big)
				control_reply(session, "TEMPFAIL cannot spool "
						       "the message");
			else
				control_deliver_finish(session);
			session->in_deliver = false;
			continue;
		}
		enum conn_line_result r =
			conn_read_line(conn, CONTROL_MAX_LINE, &line, &len);
		if (r == CONN_LINE_NONE)
			return;
		if (r == CONN_LINE_TOO_LONG) {
			control_reply(session, "ERROR line too long");
			continue;
		}
		char buf[CONTROL_MAX_LINE + 1];
		memcpy(buf, line, len);
		buf[len] = '\0';
		control_command(session, buf);
	}
}

static void
control_closed(struct conn *conn, const char *reason, void *context)
{
	struct control_session *session = context;

	if (session->spool_fd >= 0)
		close(session->spool_fd);
	if (session->reindex != NULL)
		session->reindex->session = NULL; /* the job frees itself */
	free(session);
}

void
control_service_new_connection(struct conn *conn, void *context)
{
	static const struct conn_callbacks callbacks = {
		.input = control_input,
		.closed = control_closed,
	};
	struct control_session *session = calloc(1, sizeof(*session));

	if (session == NULL)
		abort();
	session->service = context;
	session->conn = conn;
	session->spool_fd = -1;
	session->log.proto = "control";
	session->log.session = conn_get_id(conn);
	conn_set_callbacks(conn, &callbacks, session);
	conn_set_idle_timeout(conn, CONTROL_IDLE_SECS);
}
