#ifndef QUIRE_NET_TLS_H
#define QUIRE_NET_TLS_H

#include <stdbool.h>

/* Server-side TLS contexts (OpenSSL 3).

   A tls_server holds the current SSL_CTX built from a certificate and key
   file. Each new TLS connection takes an SSL from the context current at
   that moment; the SSL keeps its own reference to that SSL_CTX, so
   tls_server_reload() (on SIGHUP) swaps in a new context for new
   connections while connections already open keep theirs, untouched.

   Settings applied to every context: minimum TLS 1.2 (or 1.3), modern
   AEAD cipher suites, server cipher preference, no compression, no
   renegotiation, SSL_MODE_RELEASE_BUFFERS (an idle connection keeps no
   record buffers).

   Error texts name the file and OpenSSL's reason. They are valid until the
   next net call on the same thread. */

struct ssl_st;

struct tls_settings {
	const char *cert_file; /* PEM: certificate, then any chain */
	const char *key_file;  /* PEM private key */
	const char *min_version; /* "1.2" (NULL means this) or "1.3" */
};

struct tls_server;

/* Loads cert + key and checks they match. Returns 0 or -1 with *error_r. */
int tls_server_create(const struct tls_settings *set,
		      struct tls_server **server_r, const char **error_r);
/* Frees the server. Connections still holding an SSL keep its context
   alive (OpenSSL refcount). *server is set to NULL. */
void tls_server_destroy(struct tls_server **server);

/* Builds a new context from set (the files are read again) and swaps it
   in atomically for new connections. On error the old context stays in
   use and -1 is returned with *error_r set. Any thread. */
int tls_server_reload(struct tls_server *server,
		      const struct tls_settings *set, const char **error_r);

/* A new server-side SSL from the current context. Any thread. The caller
   owns it (a conn hands it to its bufferevent). Never NULL (aborts on out
   of memory). */
struct ssl_st *tls_server_new_ssl(struct tls_server *server);

/* Writes a new self-signed certificate and key for hostname: EC P-256,
   CN=hostname and subjectAltName DNS:hostname (plus IP:127.0.0.1 and
   IP:::1 when hostname is "localhost"), valid ~10 years. Each file is
   written to a temporary name in the same directory and renamed into
   place; the key file is mode 0600, the certificate 0644. Returns 0 or -1
   with *error_r. */
int tls_generate_self_signed(const char *cert_file, const char *key_file,
			     const char *hostname, const char **error_r);

/* For a first start: if neither file exists, generates them as above and
   returns 1; if both exist returns 0; if only one exists returns -1 (a
   half-present pair is an operator mistake we do not paper over). */
int tls_ensure_self_signed(const char *cert_file, const char *key_file,
			   const char *hostname, const char **error_r);

/* The protocol and cipher of an established connection, for the log:
   "TLSv1.3 TLS_AES_256_GCM_SHA384". Returns a static or SSL-owned string
   joined in buf (size bufsize). */
const char *tls_describe(struct ssl_st *ssl, char *buf, unsigned bufsize);

#endif
