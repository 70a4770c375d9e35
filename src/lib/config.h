#ifndef QUIRE_CONFIG_H
#define QUIRE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The INI configuration of quired and quire. Every key is listed in
   config.c's key table and documented in README.md. An unknown section or
   key, or a value that does not parse, is an error naming file:line and
   the key. Missing keys keep the embedded defaults, which are a working
   loopback setup under ./var. */

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_KEYS 32

enum config_plaintext {
	CONFIG_PLAINTEXT_NEVER,
	CONFIG_PLAINTEXT_LOOPBACK,
	CONFIG_PLAINTEXT_ALWAYS,
};

/* A list of listen addresses: "127.0.0.1:1110", "[::1]:1110",
   "unix:/path". count == 0 disables the service. */
struct config_listen {
	unsigned count;
	char *addr[CONFIG_MAX_LISTEN];
};

struct quire_config {
	char *path; /* file it came from, or NULL for the defaults */

	/* [server] */
	char *data_dir;
	unsigned workers; /* 0 = one per core */
	char *user;	  /* drop privileges to this user; NULL = stay */
	char *control_socket; /* default <data_dir>/control.sock */
	char *log_level;
	/* store_locking: true (exclusive, the default) holds each open
	   user's store.db for quired alone (store_settings.exclusive);
	   false (shared) lets other programs open it while quired runs. */
	bool store_exclusive;
	/* METADATA /shared/admin (a mailto: or other URI); NULL = none */
	char *admin_contact;

	/* [auth] */
	char *passwd_file; /* default <data_dir>/passwd */
	enum config_plaintext allow_plaintext;
	char *default_scheme; /* scheme for `quire user add` */
	char *auth_mechanisms; /* SASL mechanisms offered */

	/* [tls] */
	char *tls_cert; /* default <data_dir>/tls/cert.pem */
	char *tls_key;	/* default <data_dir>/tls/key.pem */
	char *tls_min_version; /* "1.2" or "1.3" */

	/* [pop3], [pop3s] */
	struct config_listen pop3_listen;
	struct config_listen pop3s_listen;
	int pop3_expire_days; /* -1 = never */

	/* [imap], [imaps]: accepted now, served by the IMAP service. */
	struct config_listen imap_listen;
	struct config_listen imaps_listen;

	/* [lmtp] */
	struct config_listen lmtp_listen;
	uint64_t lmtp_max_message_size;

	/* [quota] (RFC 9208): defaults for every user; a passwd-file
	   line may override them (src/auth/quota.h). 0 = no limit. */
	uint64_t quota_storage;	 /* bytes */
	uint64_t quota_messages;

	/* [search]: seconds from a user's first unindexed change to the
	   background indexer's turn for it (limits.h FTS_INDEX_DELAY_SECS) */
	unsigned search_index_delay;

	/* The line each key was set on (0: default or -o), for errors found
	   after loading; read with config_key_where(). */
	unsigned key_lines[CONFIG_MAX_KEYS];
};

/* Fills *cfg with the embedded defaults. */
void config_init_defaults(struct quire_config *cfg);

/* Loads path (NULL: defaults only) over the defaults, then applies each
   "section.key=value" override in order. Returns 0 or -1 with *error_r
   set to a malloc'ed message naming file, line and key (caller frees). */
int config_load(struct quire_config *cfg, const char *path,
		const char *const *overrides, unsigned override_count,
		char **error_r);

/* Writes "FILE:LINE: [section] key" (or "[section] key" when the key was
   not set in a file) into buf, for an error found after loading, such as
   a missing certificate. Returns buf. */
const char *config_key_where(const struct quire_config *cfg,
			     const char *section, const char *key, char *buf,
			     size_t size);

/* Frees what config_load allocated. */
void config_free(struct quire_config *cfg);

#endif
