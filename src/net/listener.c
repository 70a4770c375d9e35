/* Listening sockets: address parsing, binding before the workers start,
   and accepting on the workers' bases. */
#include "net/listener.h"
#include "net/net-private.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/strnum.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

struct listener_binding {
	struct listener *listener;
	struct worker *worker;
	struct evconnlistener *lev;
	/* Re-enables accepting after a pause for lack of descriptors. */
	struct event *resume_event;
	time_t last_error_log;
};

struct listener {
	struct worker_pool *pool;
	struct listen_addr addr;
	char *service;
	char *address;
	char *refuse_text;
	struct tls_server *tls;
	bool implicit_tls;
	conn_new_callback_t *new_connection;
	void *context;

	unsigned port;
	bool unix_created;
	unsigned binding_count;
	struct listener_binding *bindings;
};

static atomic_uint unix_listener_rr;
static atomic_llong last_refuse_log;

int
listen_addr_parse(const char *str, struct listen_addr *addr_r,
		  const char **error_r)
{
	const char *host, *port_str;
	char hostbuf[INET6_ADDRSTRLEN];
	size_t host_len;
	uint64_t port;

	memset(addr_r, 0, sizeof(*addr_r));
	if (strncmp(str, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&addr_r->sa;
		const char *path = str + 5;
		size_t len = strlen(path);

		if (len == 0) {
			*error_r = net_error("%s: empty unix socket path", str);
			return -1;
		}
		if (len >= sizeof(sun->sun_path)) {
			*error_r = net_error("%s: unix socket path longer than "
					     "%zu bytes", str,
					     sizeof(sun->sun_path) - 1);
			return -1;
		}
		addr_r->type = LISTEN_ADDR_UNIX;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, len + 1);
		addr_r->sa_len = (socklen_t)(offsetof(struct sockaddr_un,
						      sun_path) + len + 1);
		return 0;
	}

	if (str[0] == '[') {
		const char *end = strchr(str, ']');

		if (end == NULL || end[1] != ':') {
			*error_r = net_error("%s: expected [ipv6]:port", str);
			return -1;
		}
		host = str + 1;
		host_len = (size_t)(end - host);
		port_str = end + 2;
	} else {
		const char *colon = strrchr(str, ':');

		if (colon == NULL) {
			*error_r = net_error("%s: expected address:port", str);
			return -1;
		}
		host = str;
		host_len = (size_t)(colon - str);
		port_str = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(hostbuf)) {
		*error_r = net_error("%s: bad address", str);
		return -1;
	}
	memcpy(hostbuf, host, host_len);
	hostbuf[host_len] = '\0';
	/* Port 0 is accepted so tests can ask the kernel for a free one. */
	if (str_to_u64z(port_str, 65535, &port) < 0) {
		*error_r = net_error("%s: bad port '%s'", str, port_str);
		return -1;
	}
	addr_r->type = LISTEN_ADDR_TCP;
	if (str[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr_r->sa;

		if (inet_pton(AF_INET6, hostbuf, &sin6->sin6_addr) != 1) {
			*error_r = net_error("%s: bad IPv6 address", str);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		addr_r->sa_len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr_r->sa;

		if (inet_pton(AF_INET, hostbuf, &sin->sin_addr) != 1) {
			*error_r = net_error("%s: bad IPv4 address (IPv6 "
					     "goes in brackets)", str);
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		addr_r->sa_len = sizeof(*sin);
	}
	return 0;
}

static void
listener_refuse(struct listener *listener, int fd)
{
	time_t now = time(NULL);
	long long last = atomic_load(&last_refuse_log);

	if (listener->refuse_text != NULL && !listener->implicit_tls) {
		/* Best effort: a fresh socket's send buffer is empty, so
		   this short text fits; if not, the client just sees the
		   close. */
		ssize_t ret = send(fd, listener->refuse_text,
				   strlen(listener->refuse_text),
				   MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)ret;
	}
	close(fd);
	if (now - last >= NET_REFUSE_LOG_INTERVAL_SECS &&
	    atomic_compare_exchange_strong(&last_refuse_log, &last, now)) {
		struct log_ctx ctx = { .proto = listener->service };
		log_warn(&ctx, "connection limit reached (%u): refusing "
			 "connections on %s", worker_pool_connection_count(
				 listener->pool), listener->address);
	}
}

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
		   struct sockaddr *sa, int socklen, void *context)
{
	struct listener_binding *binding = context;
	struct listener *listener = binding->listener;
	struct conn *conn;

	if (!worker_pool_conn_reserve(listener->pool)) {
		listener_refuse(listener, fd);
		return;
	}
	conn = conn_create(binding->worker, fd, sa, (socklen_t)socklen,
			   listener->service, listener->tls,
			   listener->implicit_tls);
	if (conn == NULL)
		return;
	listener->new_connection(conn, listener->context);
}

static void
listener_resume_cb(evutil_socket_t fd, short what, void *context)
{
	struct listener_binding *binding = context;

	if (!worker_is_stopping(binding->worker))
		evconnlistener_enable(binding->lev);
}

static void
listener_error_cb(struct evconnlistener *lev, void *context)
{
	struct listener_binding *binding = context;
	struct log_ctx ctx = { .proto = binding->listener->service };
	struct timeval tv = { .tv_sec = NET_ACCEPT_PAUSE_SECS };
	int err = errno;
	time_t now = time(NULL);

	/* Out of descriptors or memory: the pending connection stays in the
	   backlog and the socket stays readable, so retrying at once would
	   spin. Pause this socket for a moment instead. */
	if (now - binding->last_error_log >= NET_REFUSE_LOG_INTERVAL_SECS) {
		binding->last_error_log = now;
		log_error(&ctx, "accept on %s: %s (pausing %d s)",
			  binding->listener->address, strerror(err),
			  NET_ACCEPT_PAUSE_SECS);
	}
	evconnlistener_disable(lev);
	evtimer_add(binding->resume_event, &tv);
}

static int
listener_unix_prepare(const struct listen_addr *addr, const char **error_r)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr->sa;
	struct stat st;
	int fd, ret;

	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = net_error("unix:%s: stat: %s", sun->sun_path,
				     strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*error_r = net_error("unix:%s: exists and is not a socket",
				     sun->sun_path);
		return -1;
	}
	/* A socket file nobody accepts on is left over from a previous
	   run: remove it. One that answers belongs to a live server. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*error_r = net_error("socket(AF_UNIX): %s", strerror(errno));
		return -1;
	}
	/* Non-blocking: a live server with a full backlog answers EAGAIN
	   instead of making us wait. */
	ret = connect(fd, (const struct sockaddr *)sun, addr->sa_len);
	if (ret < 0 && errno == EAGAIN)
		ret = 0;
	close(fd);
	if (ret == 0) {
		*error_r = net_error("unix:%s: in use by a running server",
				     sun->sun_path);
		return -1;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		*error_r = net_error("unix:%s: removing stale socket: %s",
				     sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
listener_bind_one(struct listener *listener, mode_t unix_mode, int *fd_r,
		  const char **error_r)
{
	const struct listen_addr *addr = &listener->addr;
	int family = addr->sa.ss_family, one = 1, fd;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = net_error("%s: socket: %s", listener->address,
				     strerror(errno));
		return -1;
	}
	if (addr->type == LISTEN_ADDR_TCP) {
		/* REUSEPORT: one socket per worker on the same port, the
		   kernel spreads connections over them. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			       sizeof(one)) < 0) {
			*error_r = net_error("%s: setsockopt: %s",
					     listener->address,
					     strerror(errno));
			goto fail;
		}
		/* So that [::]:143 and 0.0.0.0:143 can both be listed. */
		if (family == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			       sizeof(one)) < 0) {
			*error_r = net_error("%s: IPV6_V6ONLY: %s",
					     listener->address,
					     strerror(errno));
			goto fail;
		}
	}
	if (bind(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) < 0) {
		*error_r = net_error("%s: bind: %s", listener->address,
				     strerror(errno));
		goto fail;
	}
	if (addr->type == LISTEN_ADDR_UNIX) {
		const struct sockaddr_un *sun =
			(const struct sockaddr_un *)&addr->sa;

		listener->unix_created = true;
		if (chmod(sun->sun_path, unix_mode) < 0) {
			*error_r = net_error("%s: chmod: %s", listener->address,
					     strerror(errno));
			goto fail;
		}
	}
	if (listen(fd, NET_LISTEN_BACKLOG) < 0) {
		*error_r = net_error("%s: listen: %s", listener->address,
				     strerror(errno));
		goto fail;
	}
	*fd_r = fd;
	return 0;
fail:
	close(fd);
	return -1;
}

/* SO_REUSEPORT lets a second server of the same user join our port group
   silently, and the kernel would then split connections between the two.
   A plain bind (without REUSEPORT) first fails if anything listens there,
   so a second quired refuses to start instead. */
static int
listener_probe_free(const struct listener *listener, const char **error_r)
{
	const struct listen_addr *addr = &listener->addr;
	int family = addr->sa.ss_family, one = 1, fd, ret = 0;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* the real bind will report it */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				 sizeof(one));
	if (bind(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) < 0 &&
	    errno == EADDRINUSE) {
		*error_r = net_error("%s: bind: %s (is another server "
				     "running?)", listener->address,
				     strerror(EADDRINUSE));
		ret = -1;
	}
	close(fd);
	return ret;
}

static unsigned
sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void
sockaddr_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

int
listener_create(struct worker_pool *pool, const struct listener_settings *set,
		struct listener **listener_r, const char **error_r)
{
	struct listener *listener;
	unsigned count, first;

	if (worker_pool_is_running(pool)) {
		*error_r = net_error("%s: listeners must be created before "
				     "the workers start", set->address);
		return -1;
	}
	if (set->new_connection == NULL || set->address == NULL) {
		*error_r = net_error("listener without %s",
				     set->address == NULL ? "an address" :
				     "a new_connection callback");
		return -1;
	}
	if (set->implicit_tls && set->tls == NULL) {
		*error_r = net_error("%s: implicit TLS without a certificate",
				     set->address);
		return -1;
	}
	listener = net_malloc0(sizeof(*listener));
	listener->pool = pool;
	listener->service = net_strdup(set->service != NULL ?
				       set->service : "unknown");
	listener->address = net_strdup(set->address);
	if (set->refuse_text != NULL)
		listener->refuse_text = net_strdup(set->refuse_text);
	listener->tls = set->tls;
	listener->implicit_tls = set->implicit_tls;
	listener->new_connection = set->new_connection;
	listener->context = set->context;

	if (listen_addr_parse(set->address, &listener->addr, error_r) < 0)
		goto fail;
	if (listener->addr.type == LISTEN_ADDR_UNIX) {
		if (listener_unix_prepare(&listener->addr, error_r) < 0)
			goto fail;
		count = 1;
		first = atomic_fetch_add(&unix_listener_rr, 1) %
			worker_pool_count(pool);
	} else {
		count = worker_pool_count(pool);
		first = 0;
	}
	if (listener->addr.type == LISTEN_ADDR_TCP &&
	    sockaddr_port(&listener->addr.sa) != 0 &&
	    listener_probe_free(listener, error_r) < 0)
		goto fail;
	listener->bindings = net_malloc0(sizeof(*listener->bindings) * count);
	for (unsigned i = 0; i < count; i++) {
		struct listener_binding *b = &listener->bindings[i];
		int fd;

		if (listener_bind_one(listener, set->unix_mode != 0 ?
				      set->unix_mode : 0666, &fd,
				      error_r) < 0)
			goto fail;
		if (i == 0 && listener->addr.type == LISTEN_ADDR_TCP) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);

			/* With port 0 every further socket must join the
			   port the kernel picked for the first. */
			if (getsockname(fd, (struct sockaddr *)&ss,
					&len) == 0) {
				listener->port = sockaddr_port(&ss);
				sockaddr_set_port(&listener->addr.sa,
						  listener->port);
			}
		}
		b->listener = listener;
		b->worker = worker_pool_get(pool, first + i);
		b->lev = evconnlistener_new(worker_get_base(b->worker),
					    listener_accept_cb, b,
					    LEV_OPT_CLOSE_ON_FREE |
					    LEV_OPT_CLOSE_ON_EXEC,
					    0, fd);
		if (b->lev == NULL) {
			close(fd);
			*error_r = net_error("%s: evconnlistener_new failed",
					     listener->address);
			goto fail;
		}
		evconnlistener_set_error_cb(b->lev, listener_error_cb);
		b->resume_event = evtimer_new(worker_get_base(b->worker),
					      listener_resume_cb, b);
		if (b->resume_event == NULL)
			abort();
		worker_add_listener(b->worker, b->lev);
		listener->binding_count++;
	}
	*listener_r = listener;
	return 0;
fail:
	listener_destroy(&listener);
	return -1;
}

void
listener_destroy(struct listener **_listener)
{
	struct listener *listener = *_listener;

	if (listener == NULL)
		return;
	*_listener = NULL;
	for (unsigned i = 0; i < listener->binding_count; i++) {
		struct listener_binding *b = &listener->bindings[i];

		worker_remove_listener(b->worker, b->lev);
		evconnlistener_free(b->lev);
		if (b->resume_event != NULL)
			event_free(b->resume_event);
	}
	if (listener->unix_created) {
		const struct sockaddr_un *sun =
			(const struct sockaddr_un *)&listener->addr.sa;
		/* May fail after privileges were dropped; harmless, the
		   next start removes a stale file. */
		(void)unlink(sun->sun_path);
	}
	free(listener->bindings);
	free(listener->service);
	free(listener->address);
	free(listener->refuse_text);
	free(listener);
}

unsigned
listener_get_port(const struct listener *listener)
{
	return listener->port;
}
