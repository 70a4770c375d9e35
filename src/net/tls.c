/* Server TLS contexts, reload by atomic swap, self-signed certificates. */
#include "net/net-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are all
   acceptable and keep OpenSSL's defaults. */
#define TLS_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

/* Self-signed certificates last about ten years. */
#define TLS_SELF_SIGNED_DAYS 3650L

struct tls_server {
	pthread_mutex_t lock;
	SSL_CTX *ctx;
};

const char *
tls_error_text(unsigned long err, char *buf, size_t size)
{
	const char *reason;

	if (err == 0)
		snprintf(buf, size, "unknown error");
	else if (ERR_SYSTEM_ERROR(err))
		snprintf(buf, size, "%s", strerror(ERR_GET_REASON(err)));
	else if ((reason = ERR_reason_error_string(err)) != NULL)
		snprintf(buf, size, "%s", reason);
	else
		ERR_error_string_n(err, buf, size);
	return buf;
}

/* OpenSSL's reason for the oldest queued error (the root cause), and
   clears the queue. */
static const char *
tls_reason(char *buf, size_t size)
{
	tls_error_text(ERR_get_error(), buf, size);
	ERR_clear_error();
	return buf;
}

static int
tls_ctx_build(const struct tls_settings *set, SSL_CTX **ctx_r,
	      const char **error_r)
{
	char reason[256];
	SSL_CTX *ctx;
	int min_version;

	if (set->min_version == NULL || strcmp(set->min_version, "1.2") == 0)
		min_version = TLS1_2_VERSION;
	else if (strcmp(set->min_version, "1.3") == 0)
		min_version = TLS1_3_VERSION;
	else {
		*error_r = net_error("tls min_version '%s': expected 1.2 or "
				     "1.3", set->min_version);
		return -1;
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = net_error("SSL_CTX_new: %s",
				     tls_reason(reason, sizeof(reason)));
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, min_version);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
			    SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* RELEASE_BUFFERS: an idle connection holds no record buffers.
	   The write modes match how the bufferevent retries writes. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		*error_r = net_error("TLS cipher list: %s",
				     tls_reason(reason, sizeof(reason)));
		goto fail;
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, set->cert_file) != 1) {
		*error_r = net_error("%s: cannot load certificate: %s",
				     set->cert_file,
				     tls_reason(reason, sizeof(reason)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, set->key_file,
					SSL_FILETYPE_PEM) != 1) {
		*error_r = net_error("%s: cannot load private key (PEM "
				     "expected): %s",
				     set->key_file,
				     tls_reason(reason, sizeof(reason)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = net_error("%s: key does not match certificate "
				     "%s: %s", set->key_file, set->cert_file,
				     tls_reason(reason, sizeof(reason)));
		goto fail;
	}
	*ctx_r = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -1;
}

int
tls_server_create(const struct tls_settings *set,
		  struct tls_server **server_r, const char **error_r)
{
	struct tls_server *server;
	SSL_CTX *ctx;

	if (tls_ctx_build(set, &ctx, error_r) < 0)
		return -1;
	server = net_malloc0(sizeof(*server));
	pthread_mutex_init(&server->lock, NULL);
	server->ctx = ctx;
	*server_r = server;
	return 0;
}

void
tls_server_destroy(struct tls_server **_server)
{
	struct tls_server *server = *_server;

	if (server == NULL)
		return;
	*_server = NULL;
	SSL_CTX_free(server->ctx);
	pthread_mutex_destroy(&server->lock);
	free(server);
}

int
tls_server_reload(struct tls_server *server, const struct tls_settings *set,
		  const char **error_r)
{
	SSL_CTX *ctx, *old;

	if (tls_ctx_build(set, &ctx, error_r) < 0)
		return -1;
	pthread_mutex_lock(&server->lock);
	old = server->ctx;
	server->ctx = ctx;
	pthread_mutex_unlock(&server->lock);
	/* Connections made from the old context hold their own reference
	   through their SSL; this drops only ours. */
	SSL_CTX_free(old);
	return 0;
}

SSL *
tls_server_new_ssl(struct tls_server *server)
{
	SSL *ssl;

	/* SSL_new takes a reference on the context, so the lock only has
	   to cover the moment of choosing it. */
	pthread_mutex_lock(&server->lock);
	ssl = SSL_new(server->ctx);
	pthread_mutex_unlock(&server->lock);
	if (ssl == NULL)
		abort();
	return ssl;
}

const char *
tls_describe(SSL *ssl, char *buf, unsigned bufsize)
{
	const char *cipher = SSL_get_cipher_name(ssl);

	snprintf(buf, bufsize, "%s %s", SSL_get_version(ssl),
		 cipher != NULL ? cipher : "(none)");
	return buf;
}

/* Host names go into the subject and the SAN extension's text form, so
   only letters, digits, '-' and '.' are allowed. */
static bool
hostname_is_valid(const char *hostname)
{
	size_t len = strlen(hostname);

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = hostname[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static int
x509_add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3ctx;
	X509_EXTENSION *ext;
	int ret;

	X509V3_set_ctx_nodb(&v3ctx);
	X509V3_set_ctx(&v3ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3ctx, nid, value);
	if (ext == NULL)
		return -1;
	ret = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ret == 1 ? 0 : -1;
}

static X509 *
tls_make_cert(EVP_PKEY *pkey, const char *hostname)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	BIGNUM *serial;
	char san[300];
	bool ok = false;

	if (cert == NULL)
		return NULL;
	serial = BN_new();
	if (serial == NULL || BN_rand(serial, 127, BN_RAND_TOP_ANY,
				      BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == NULL)
		goto out;
	if (X509_set_version(cert, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert),
			    TLS_SELF_SIGNED_DAYS * 24 * 3600) == NULL ||
	    X509_set_pubkey(cert, pkey) != 1)
		goto out;
	name = X509_get_subject_name(cert);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)hostname, -1,
				       -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1)
		goto out;
	if (strcmp(hostname, "localhost") == 0)
		snprintf(san, sizeof(san),
			 "DNS:%s,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1", hostname);
	else
		snprintf(san, sizeof(san), "DNS:%s", hostname);
	if (x509_add_ext(cert, NID_basic_constraints,
			 "critical,CA:FALSE") < 0 ||
	    x509_add_ext(cert, NID_key_usage,
			 "critical,digitalSignature") < 0 ||
	    x509_add_ext(cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    x509_add_ext(cert, NID_subject_alt_name, san) < 0 ||
	    x509_add_ext(cert, NID_subject_key_identifier, "hash") < 0)
		goto out;
	if (X509_sign(cert, pkey, EVP_sha256()) <= 0)
		goto out;
	ok = true;
out:
	BN_free(serial);
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* Writes PEM output to a temporary file beside path, fsyncs it and renames
   it into place, so a crash never leaves a half-written key or cert. */
static int
tls_write_pem(const char *path, mode_t mode, EVP_PKEY *pkey, X509 *cert,
	      const char **error_r)
{
	char tmp[PATH_MAX], reason[256];
	FILE *fp;
	int fd, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		*error_r = net_error("%s: path too long", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		*error_r = net_error("%s: cannot create temporary file: %s",
				     path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) < 0) {
		*error_r = net_error("%s: chmod: %s", tmp, strerror(errno));
		close(fd);
		goto fail;
	}
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		*error_r = net_error("%s: fdopen: %s", tmp, strerror(errno));
		close(fd);
		goto fail;
	}
	ERR_clear_error();
	if (pkey != NULL)
		ok = PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_X509(fp, cert);
	if (ok != 1) {
		*error_r = net_error("%s: writing PEM: %s", path,
				     tls_reason(reason, sizeof(reason)));
		fclose(fp);
		goto fail;
	}
	if (fflush(fp) != 0 || fsync(fileno(fp)) < 0) {
		*error_r = net_error("%s: write: %s", tmp, strerror(errno));
		fclose(fp);
		goto fail;
	}
	if (fclose(fp) != 0) {
		*error_r = net_error("%s: close: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		*error_r = net_error("%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	(void)unlink(tmp);
	return -1;
}

/* Creates the parent directory of path if missing (one level: the usual
   <data_dir>/tls on a first start). */
static int
tls_make_parent(const char *path, const char **error_r)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL || slash == path)
		return 0;
	len = (size_t)(slash - path);
	if (len >= sizeof(dir)) {
		*error_r = net_error("%s: path too long", path);
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		*error_r = net_error("%s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
tls_generate_self_signed(const char *cert_file, const char *key_file,
			 const char *hostname, const char **error_r)
{
	char reason[256];
	EVP_PKEY *pkey;
	X509 *cert;
	int ret = -1;

	if (!hostname_is_valid(hostname)) {
		*error_r = net_error("self-signed certificate: invalid host "
				     "name '%s'", hostname);
		return -1;
	}
	if (tls_make_parent(cert_file, error_r) < 0 ||
	    tls_make_parent(key_file, error_r) < 0)
		return -1;
	ERR_clear_error();
	pkey = EVP_EC_gen("P-256");
	if (pkey == NULL) {
		*error_r = net_error("generating EC P-256 key: %s",
				     tls_reason(reason, sizeof(reason)));
		return -1;
	}
	cert = tls_make_cert(pkey, hostname);
	if (cert == NULL) {
		*error_r = net_error("building self-signed certificate: %s",
				     tls_reason(reason, sizeof(reason)));
		goto out;
	}
	/* Key first: a cert file present means the pair is complete. */
	if (tls_write_pem(key_file, 0600, pkey, NULL, error_r) < 0 ||
	    tls_write_pem(cert_file, 0644, NULL, cert, error_r) < 0)
		goto out;
	ret = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return ret;
}

int
tls_ensure_self_signed(const char *cert_file, const char *key_file,
		       const char *hostname, const char **error_r)
{
	bool have_cert = access(cert_file, F_OK) == 0;
	bool have_key = access(key_file, F_OK) == 0;

	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key) {
		*error_r = net_error("%s exists but %s does not; remove it or "
				     "supply the other", have_cert ?
				     cert_file : key_file,
				     have_cert ? key_file : cert_file);
		return -1;
	}
	if (tls_generate_self_signed(cert_file, key_file, hostname,
				     error_r) < 0)
		return -1;
	return 1;
}
