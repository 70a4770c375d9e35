#include "lib/config.h"
#include "lib/limits.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type {
	KEY_STRING,
	KEY_UINT,
	KEY_LISTEN,
	KEY_PLAINTEXT,
	KEY_LOCKING, /* "exclusive" (true) or "shared" */
	KEY_EXPIRE,
	KEY_SIZE,
	KEY_SIZE0, /* a size where 0 means "no limit" */
	KEY_COUNT, /* a plain number up to UINT64_MAX, 0 allowed */
};

struct config_key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
};

#define K(sec, name, type, field) \
	{ sec, name, type, offsetof(struct quire_config, field) }

static const struct config_key config_keys[CONFIG_MAX_KEYS] = {
	K("server", "data_dir", KEY_STRING, data_dir),
	K("server", "workers", KEY_UINT, workers),
	K("server", "user", KEY_STRING, user),
	K("server", "control_socket", KEY_STRING, control_socket),
	K("server", "log_level", KEY_STRING, log_level),
	K("server", "admin_contact", KEY_STRING, admin_contact),
	K("server", "store_locking", KEY_LOCKING, store_exclusive),
	K("auth", "passwd_file", KEY_STRING, passwd_file),
	K("auth", "allow_plaintext", KEY_PLAINTEXT, allow_plaintext),
	K("auth", "default_scheme", KEY_STRING, default_scheme),
	K("auth", "mechanisms", KEY_STRING, auth_mechanisms),
	K("tls", "cert", KEY_STRING, tls_cert),
	K("tls", "key", KEY_STRING, tls_key),
	K("tls", "min_version", KEY_STRING, tls_min_version),
	K("pop3", "listen", KEY_LISTEN, pop3_listen),
	K("pop3", "expire_days", KEY_EXPIRE, pop3_expire_days),
	K("pop3s", "listen", KEY_LISTEN, pop3s_listen),
	K("imap", "listen", KEY_LISTEN, imap_listen),
	K("imaps", "listen", KEY_LISTEN, imaps_listen),
	K("lmtp", "listen", KEY_LISTEN, lmtp_listen),
	K("lmtp", "max_message_size", KEY_SIZE, lmtp_max_message_size),
	K("quota", "storage", KEY_SIZE0, quota_storage),
	K("quota", "messages", KEY_COUNT, quota_messages),
	K("search", "index_delay", KEY_UINT, search_index_delay),
};


static void
listen_clear(struct config_listen *l)
{
	for (unsigned i = 0; i < l->count; i++)
		free(l->addr[i]);
	l->count = 0;
}

static void
listen_set1(struct config_listen *l, const char *addr)
{
	listen_clear(l);
	l->addr[0] = xstrdup(addr);
	l->count = 1;
}

void
config_init_defaults(struct quire_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->data_dir = xstrdup("./var");
	cfg->log_level = xstrdup("info");
	cfg->store_exclusive = true;
	cfg->allow_plaintext = CONFIG_PLAINTEXT_LOOPBACK;
	cfg->default_scheme = xstrdup("SHA512-CRYPT");
	cfg->auth_mechanisms = xstrdup("PLAIN LOGIN");
	cfg->tls_min_version = xstrdup("1.2");
	listen_set1(&cfg->pop3_listen, "127.0.0.1:1110");
	listen_set1(&cfg->pop3s_listen, "127.0.0.1:1995");
	listen_set1(&cfg->imap_listen, "127.0.0.1:1143");
	listen_set1(&cfg->imaps_listen, "127.0.0.1:1993");
	listen_set1(&cfg->lmtp_listen, "127.0.0.1:2424");
	cfg->pop3_expire_days = -1;
	cfg->lmtp_max_message_size = LMTP_DEFAULT_MAX_MESSAGE_SIZE;
	cfg->search_index_delay = FTS_INDEX_DELAY_SECS;
}

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static int
parse_listen_addr(const char *a)
{
	const char *colon;
	uint64_t port;

	if (strncmp(a, "unix:", 5) == 0)
		return a[5] == '/' || a[5] == '.' ? 0 : -1;
	if (a[0] == '[') {
		const char *end = strchr(a, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		colon = end + 1;
	} else {
		colon = strrchr(a, ':');
		if (colon == NULL || colon == a)
			return -1;
	}
	if (str_to_u64z(colon + 1, 65535, &port) < 0 || port == 0)
		return -1;
	return 0;
}

/* Parses a size with an optional K/M/G/T suffix (powers of 1024). */
static int
parse_size(const char *v, uint64_t *size_r)
{
	return str_to_size(v, strlen(v), UINT64_MAX, size_r);
}

static int
set_value(struct quire_config *cfg, const struct config_key *key,
	  const char *value, const char **why_r)
{
	void *field = (char *)cfg + key->offset;
	uint64_t n;

	switch (key->type) {
	case KEY_STRING: {
		char **s = field;
		free(*s);
		*s = value[0] == '\0' ? NULL : xstrdup(value);
		return 0;
	}
	case KEY_UINT:
		if (str_to_u64z(value, 1024, &n) < 0) {
			*why_r = "expected a number from 0 to 1024";
			return -1;
		}
		*(unsigned *)field = (unsigned)n;
		return 0;
	case KEY_SIZE:
		if (parse_size(value, &n) < 0 || n == 0) {
			*why_r = "expected a size such as 10485760, 512K, 64M";
			return -1;
		}
		*(uint64_t *)field = n;
		return 0;
	case KEY_SIZE0:
		if (parse_size(value, &n) < 0) {
			*why_r = "expected a size such as 0, 500M, 1G";
			return -1;
		}
		*(uint64_t *)field = n;
		return 0;
	case KEY_COUNT:
		if (str_to_u64z(value, UINT64_MAX, &n) < 0) {
			*why_r = "expected a number (0 = no limit)";
			return -1;
		}
		*(uint64_t *)field = n;
		return 0;
	case KEY_EXPIRE:
		if (strcmp(value, "never") == 0) {
			*(int *)field = -1;
			return 0;
		}
		if (str_to_u64z(value, 36500, &n) < 0) {
			*why_r = "expected a number of days or 'never'";
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	case KEY_PLAINTEXT:
		if (strcmp(value, "never") == 0)
			*(enum config_plaintext *)field =
				CONFIG_PLAINTEXT_NEVER;
		else if (strcmp(value, "loopback") == 0)
			*(enum config_plaintext *)field =
				CONFIG_PLAINTEXT_LOOPBACK;
		else if (strcmp(value, "always") == 0)
			*(enum config_plaintext *)field =
				CONFIG_PLAINTEXT_ALWAYS;
		else {
			*why_r = "expected never, loopback or always";
			return -1;
		}
		return 0;
	case KEY_LOCKING:
		if (strcmp(value, "exclusive") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "shared") == 0)
			*(bool *)field = false;
		else {
			*why_r = "expected exclusive or shared";
			return -1;
		}
		return 0;
	case KEY_LISTEN: {
		struct config_listen *l = field;
		char *copy = xstrdup(value), *save = NULL, *tok;
		struct config_listen nl = { 0 };

		for (tok = strtok_r(copy, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			tok = trim(tok);
			if (*tok == '\0')
				continue;
			if (nl.count == CONFIG_MAX_LISTEN) {
				*why_r = "too many listen addresses";
				goto fail;
			}
			if (parse_listen_addr(tok) < 0) {
				*why_r = "expected host:port, [v6]:port or "
					 "unix:/path";
				goto fail;
			}
			nl.addr[nl.count++] = xstrdup(tok);
		}
		free(copy);
		listen_clear(l);
		*l = nl;
		return 0;
	fail:
		free(copy);
		listen_clear(&nl);
		return -1;
	}
	}
	return -1;
}

struct load_ctx {
	struct quire_config *cfg;
	const char *path;
	FILE *file;
	int lineno; /* counted by our reader: Debian's inih has no
		       INI_HANDLER_LINENO */
	char *error;
};

static char *
ini_reader_counting(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	char *ret = fgets(str, num, ctx->file);

	if (ret != NULL)
		ctx->lineno++;
	return ret;
}

static const struct config_key *
find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < CONFIG_MAX_KEYS && config_keys[i].section != NULL;
	     i++) {
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}


static int
config_ini_handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct load_ctx *ctx = user;
	int lineno = ctx->lineno;
	const struct config_key *key;
	const char *why = NULL;

	if (ctx->error != NULL)
		return 1;
	key = find_key(section, name);
	if (key == NULL) {
		ctx->error = xasprintf("%s:%d: unknown key '%s' in section "
				       "[%s]",
				       ctx->path, lineno, name, section);
		return 1;
	}
	ctx->cfg->key_lines[key - config_keys] = (unsigned)lineno;
	if (set_value(ctx->cfg, key, value, &why) < 0) {
		ctx->error = xasprintf("%s:%d: [%s] %s = '%s': %s", ctx->path,
				       lineno, section, name, value, why);
		return 1;
	}
	return 1;
}

static void
default_path(char **field, const char *data_dir, const char *rel)
{
	if (*field == NULL)
		*field = xasprintf("%s/%s", data_dir, rel);
}

int
config_load(struct quire_config *cfg, const char *path,
	    const char *const *overrides, unsigned override_count,
	    char **error_r)
{
	struct load_ctx ctx = { .cfg = cfg, .path = path };

	*error_r = NULL;
	if (path != NULL) {
		FILE *f = fopen(path, "r");
		int ret;

		if (f == NULL) {
			*error_r = xasprintf("%s: cannot open: %m", path);
			return -1;
		}
		ctx.file = f;
		ret = ini_parse_stream(ini_reader_counting, &ctx,
				       config_ini_handler, &ctx);
		fclose(f);
		if (ctx.error != NULL) {
			*error_r = ctx.error;
			return -1;
		}
		if (ret != 0) {
			*error_r = xasprintf("%s:%d: syntax error (expected "
					     "[section] or key = value)",
					     path, ret);
			return -1;
		}
		free(cfg->path);
		cfg->path = xstrdup(path);
	}
	for (unsigned i = 0; i < override_count; i++) {
		const char *o = overrides[i], *dot = strchr(o, '.'),
			   *eq = strchr(o, '=');
		const struct config_key *key;
		const char *why = NULL;
		char section[64], name[64];

		if (dot == NULL || eq == NULL || dot > eq ||
		    (size_t)(dot - o) >= sizeof(section) ||
		    (size_t)(eq - dot - 1) >= sizeof(name)) {
			*error_r = xasprintf("-o %s: expected section.key="
					     "value", o);
			return -1;
		}
		memcpy(section, o, (size_t)(dot - o));
		section[dot - o] = '\0';
		memcpy(name, dot + 1, (size_t)(eq - dot - 1));
		name[eq - dot - 1] = '\0';
		key = find_key(section, name);
		if (key == NULL) {
			*error_r = xasprintf("-o %s: unknown key '%s' in "
					     "section [%s]", o, name, section);
			return -1;
		}
		if (set_value(cfg, key, eq + 1, &why) < 0) {
			*error_r = xasprintf("-o %s: %s", o, why);
			return -1;
		}
	}
	if (cfg->data_dir == NULL) {
		*error_r = xasprintf("%s: [server] data_dir must be set",
				     path != NULL ? path : "(defaults)");
		return -1;
	}
	if (strcmp(cfg->tls_min_version, "1.2") != 0 &&
	    strcmp(cfg->tls_min_version, "1.3") != 0) {
		*error_r = xasprintf("%s: [tls] min_version must be 1.2 or "
				     "1.3", path != NULL ? path : "-o");
		return -1;
	}
	default_path(&cfg->passwd_file, cfg->data_dir, "passwd");
	default_path(&cfg->control_socket, cfg->data_dir, "control.sock");
	default_path(&cfg->tls_cert, cfg->data_dir, "tls/cert.pem");
	default_path(&cfg->tls_key, cfg->data_dir, "tls/key.pem");
	return 0;
}

const char *
config_key_where(const struct quire_config *cfg, const char *section,
		 const char *key, char *buf, size_t size)
{
	const struct config_key *k = find_key(section, key);
	unsigned line = k != NULL ? cfg->key_lines[k - config_keys] : 0;

	if (line > 0 && cfg->path != NULL)
		snprintf(buf, size, "%s:%u: [%s] %s", cfg->path, line, section,
			 key);
	else
		snprintf(buf, size, "[%s] %s", section, key);
	return buf;
}

void
config_free(struct quire_config *cfg)
{
	free(cfg->path);
	free(cfg->data_dir);
	free(cfg->user);
	free(cfg->control_socket);
	free(cfg->log_level);
	free(cfg->admin_contact);
	free(cfg->passwd_file);
	free(cfg->default_scheme);
	free(cfg->auth_mechanisms);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_min_version);
	listen_clear(&cfg->pop3_listen);
	listen_clear(&cfg->pop3s_listen);
	listen_clear(&cfg->imap_listen);
	listen_clear(&cfg->imaps_listen);
	listen_clear(&cfg->lmtp_listen);
	memset(cfg, 0, sizeof(*cfg));
}
