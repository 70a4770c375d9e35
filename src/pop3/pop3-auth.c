/* The AUTHORIZATION commands that log in: USER/PASS and APOP (RFC 1939
   7), AUTH with SASL (RFC 5034). Every outcome goes through
   pop3_session_login() or pop3_session_login_failed(). */
#include "pop3/pop3-private.h"

#include <assert.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "lib/base64.h"
#include "net/conn.h"
#include "net/worker.h"

#define PLAINTEXT_REFUSED \
	"-ERR [AUTH] Plaintext authentication disallowed on " \
	"non-secure (TLS) connections"

/* ---- checks off the event loop ---------------------------------------- */

/* Hashing a password (SHA512-CRYPT takes milliseconds, ARGON2ID tens of
   them, SCRAM's PBKDF2 as many iterations as the stored value says) would
   stall every session on the worker. PASS and every SASL step therefore
   run on one of the pool's blocking-job threads (worker_pool_offload), with
   the session's input paused; the completion runs back on the session's
   worker.

   Such a job never touches the session from the blocking-job thread: it
   owns copies of what it needs (name, password, client message, the SASL
   exchange moved out of the session while the step runs, log fields). Its
   back pointer to the session is used on the worker only, and
   session_closed clears it; the completion of an orphaned job only frees
   it. The service is shared: it outlives every job, since the pool is
   joined (which drains the jobs) before the service is destroyed. */

/* The log fields and service a check may use off the loop. */
struct pop3_auth_env {
	struct pop3_service *service;
	struct log_ctx log; /* points at the copies below */
	char *session_id, *ip;
};

/* An AUTH exchange. The env is its SASL lookup's context, so a step
   running on a blocking-job thread never reaches the session. */
struct pop3_sasl {
	struct sasl_server *server;
	struct pop3_auth_env env;
};

enum pass_result {
	PASS_RESULT_TEMPFAIL, /* user database unavailable */
	PASS_RESULT_UNKNOWN,
	PASS_RESULT_UNUSABLE, /* the stored value is broken */
	PASS_RESULT_WRONG,
	PASS_RESULT_OK,
};

struct pop3_auth_job {
	/* Worker thread only: the waiting session, NULL once it closed. */
	struct pop3_session *session;
	/* Set by the work; false if the pool stopped before it ran. */
	bool worked;

	/* PASS */
	struct pop3_auth_env env;
	char *name;		/* as given to USER */
	uint8_t *password;
	size_t password_len;
	enum pass_result pass_result;
	const char *error;	/* static text, for the log */
	char *user_name;	/* as stored, when found */
	bool cleartext;

	/* AUTH: the exchange, out of the session while the step runs */
	struct pop3_sasl *sasl;
	uint8_t *in;		/* the client's message, or NULL */
	size_t in_len;
	bool has_in;		/* false: no initial response */
	enum sasl_result sasl_result;
	const uint8_t *out;	/* owned by sasl->server */
	size_t out_len;
};

static char *
strdup_or_null(const char *str)
{
	return str == NULL ? NULL : pop3_xstrdup(str);
}

static void
auth_env_init(struct pop3_auth_env *env, struct pop3_session *session)
{
	env->service = session->service;
	env->session_id = strdup_or_null(session->log.session);
	env->ip = strdup_or_null(session->log.ip);
	env->log.proto = "pop3";
	env->log.session = env->session_id;
	env->log.ip = env->ip;
	env->log.user = NULL;
}

static void
auth_env_deinit(struct pop3_auth_env *env)
{
	free(env->session_id);
	free(env->ip);
	env->session_id = env->ip = NULL;
}

void
pop3_sasl_free(struct pop3_sasl **_sasl)
{
	struct pop3_sasl *sasl = *_sasl;

	if (sasl == NULL)
		return;
	*_sasl = NULL;
	sasl_server_destroy(&sasl->server);
	auth_env_deinit(&sasl->env);
	free(sasl);
}

static void
auth_job_free(struct pop3_auth_job **_job)
{
	struct pop3_auth_job *job = *_job;

	*_job = NULL;
	auth_env_deinit(&job->env);
	free(job->name);
	if (job->password != NULL) {
		explicit_bzero(job->password, job->password_len);
		free(job->password);
	}
	free(job->user_name);
	pop3_sasl_free(&job->sasl);
	if (job->in != NULL) {
		explicit_bzero(job->in, job->in_len);
		free(job->in);
	}
	free(job);
}

/* Hands job to a blocking-job thread and pauses the session's input
   until done runs. */
static void
auth_job_start(struct pop3_session *session, struct pop3_auth_job *job,
	       worker_func_t *work, worker_func_t *done)
{
	struct worker *worker = conn_get_worker(session->conn);

	assert(session->auth_job == NULL);
	job->session = session;
	session->auth_job = job;
	session->pause |= POP3_PAUSE_AUTH;
	worker_pool_offload(worker_get_pool(worker), worker, work, done,
			    job);
}

/* In a job's done, on the worker: takes the job back from its session.
   Returns the session, or NULL if it closed meanwhile. */
static struct pop3_session *
auth_job_finish(struct pop3_auth_job *job)
{
	struct pop3_session *session = job->session;

	if (session == NULL)
		return NULL;
	assert(session->auth_job == job);
	session->auth_job = NULL;
	session->pause &= ~POP3_PAUSE_AUTH;
	job->session = NULL;
	return session;
}

void
pop3_auth_session_closed(struct pop3_session *session)
{
	if (session->auth_job != NULL) {
		session->auth_job->session = NULL;
		session->auth_job = NULL;
	}
}

/* Looks user up. Returns 1 with *user_r, 0 if unknown, -1 (logged with
   log) if the user database failed. Any thread. */
static int
passdb_get(struct pop3_service *service, const struct log_ctx *log,
	   const char *name, struct passdb_user **user_r)
{
	const char *error;
	int ret;

	ret = passdb_lookup(service->set.passdb, name, user_r, &error);
	if (ret < 0)
		log_error(log, "user database lookup failed: %s", error);
	return ret;
}

static void
warn_cleartext(struct pop3_session *session, const char *user_name)
{
	struct log_ctx lctx = session->log;

	lctx.user = user_name;
	log_warn(&lctx, "password is stored in clear text");
}

/* ---- USER / PASS ------------------------------------------------------- */

void
pop3_cmd_user(struct pop3_session *session, const struct pop3_command *cmd)
{
	if (!pop3_session_plaintext_ok(session)) {
		pop3_reply(session, PLAINTEXT_REFUSED);
		return;
	}
	if (cmd->arg_lens[0] > AUTH_MAX_USERNAME) {
		pop3_reply(session, "-ERR [AUTH] User name too long");
		return;
	}
	free(session->pending_user);
	session->pending_user = pop3_xstrdup(cmd->args[0]);
	/* The same answer for every name, so USER tells nothing about
	   which users exist. */
	pop3_reply(session, "+OK");
}

/* Blocking-job thread: the lookup and the hash. */
static void
pass_work(void *context)
{
	struct pop3_auth_job *job = context;
	struct pop3_service *service = job->env.service;
	struct passdb_user *pu = NULL;
	const char *error;
	int ret;

	job->worked = true;
	ret = passdb_get(service, &job->env.log, job->name, &pu);
	if (ret < 0) {
		job->pass_result = PASS_RESULT_TEMPFAIL;
	} else if (ret == 0) {
		/* The same work as for a real user: no timing oracle for
		   which names exist. */
		(void)password_verify(service->dummy_password, job->password,
				      job->password_len, &error);
		job->pass_result = PASS_RESULT_UNKNOWN;
	} else {
		ret = password_verify(pu->password, job->password,
				      job->password_len, &job->error);
		job->pass_result = ret < 0 ? PASS_RESULT_UNUSABLE :
			ret == 0 ? PASS_RESULT_WRONG : PASS_RESULT_OK;
		job->user_name = pop3_xstrdup(pu->name);
		job->cleartext = password_is_cleartext(pu->password);
	}
	passdb_user_free(&pu);
	explicit_bzero(job->password, job->password_len);
}

/* The session's worker: the outcome, as PASS inline used to give it. */
static void
pass_done(void *context)
{
	struct pop3_auth_job *job = context;
	struct pop3_session *session = auth_job_finish(job);

	if (session == NULL)
		goto out;
	if (!job->worked) {
		pop3_session_login_failed(session, job->name, "PASS",
					  "server shutting down", true);
		goto kick;
	}
	switch (job->pass_result) {
	case PASS_RESULT_TEMPFAIL:
		pop3_session_login_failed(session, job->name, "PASS",
					  "user database unavailable", true);
		break;
	case PASS_RESULT_UNKNOWN:
		pop3_session_login_failed(session, job->name, "PASS",
					  "unknown user", false);
		break;
	case PASS_RESULT_UNUSABLE:
		log_error(&session->log, "stored password of %s is "
			  "unusable: %s", job->user_name, job->error);
		pop3_session_login_failed(session, job->name, "PASS",
					  "stored password unusable", false);
		break;
	case PASS_RESULT_WRONG:
		pop3_session_login_failed(session, job->name, "PASS",
					  "wrong password", false);
		break;
	case PASS_RESULT_OK:
		if (job->cleartext)
			warn_cleartext(session, job->user_name);
		pop3_session_login(session, job->user_name, "PASS");
		break;
	}
kick:
	/* Pipelined commands wait in the input buffer. */
	conn_input_kick(session->conn);
out:
	auth_job_free(&job);
}

void
pop3_cmd_pass(struct pop3_session *session, const struct pop3_command *cmd)
{
	struct pop3_auth_job *job;
	char *name;

	if (!pop3_session_plaintext_ok(session)) {
		pop3_reply(session, PLAINTEXT_REFUSED);
		return;
	}
	if (session->pending_user == NULL) {
		pop3_reply(session, "-ERR No user name given, use USER first");
		return;
	}
	/* RFC 1939 7: USER and PASS are one attempt. */
	name = session->pending_user;
	session->pending_user = NULL;

	if (cmd->arg_lens[0] > AUTH_MAX_PASSWORD) {
		pop3_session_login_failed(session, name, "PASS",
					  "password too long", false);
		free(name);
		return;
	}
	job = pop3_xcalloc(1, sizeof(*job));
	auth_env_init(&job->env, session);
	job->name = name;
	job->password = pop3_xcalloc(cmd->arg_lens[0], 1);
	memcpy(job->password, cmd->args[0], cmd->arg_lens[0]);
	job->password_len = cmd->arg_lens[0];
	auth_job_start(session, job, pass_work, pass_done);
}

/* ---- APOP -------------------------------------------------------------- */

/* Lowercase hex MD5 of timestamp followed by the password (RFC 1939 7). */
static void
apop_digest(const char *timestamp, const char *plain, size_t plain_len,
	    char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) != 1 ||
	    EVP_DigestUpdate(ctx, plain, plain_len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 16)
		abort();
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 16; i++) {
		out[i * 2] = hex[md[i] >> 4];
		out[i * 2 + 1] = hex[md[i] & 0xf];
	}
	out[32] = '\0';
	explicit_bzero(md, sizeof(md));
}

void
pop3_cmd_apop(struct pop3_session *session, const struct pop3_command *cmd)
{
	const char *name = cmd->args[0];
	struct passdb_user *pu = NULL;
	char expected[33], given[33];
	const char *plain;
	size_t plain_len;
	int ret;

	if (cmd->arg_lens[1] != 32) {
		pop3_session_login_failed(session, name, "APOP",
					  "malformed digest", false);
		return;
	}
	for (unsigned i = 0; i < 32; i++) {
		char c = cmd->args[1][i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			pop3_session_login_failed(session, name, "APOP",
						  "malformed digest", false);
			return;
		}
		given[i] = c;
	}
	given[32] = '\0';

	/* APOP is one MD5 over short strings: cheap enough to stay on the
	   loop. */
	ret = passdb_get(session->service, &session->log, name, &pu);
	if (ret < 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "user database unavailable", true);
		return;
	}
	if (ret == 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "unknown user", false);
		return;
	}
	/* APOP needs the password itself: only cleartext values have it. */
	if (password_get_cleartext(pu->password, &plain, &plain_len) <= 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "stored password is not cleartext",
					  false);
		passdb_user_free(&pu);
		return;
	}
	apop_digest(session->apop_timestamp, plain, plain_len, expected);
	if (CRYPTO_memcmp(expected, given, 32) != 0) {
		pop3_session_login_failed(session, name, "APOP",
					  "wrong digest", false);
	} else {
		warn_cleartext(session, pu->name);
		pop3_session_login(session, pu->name, "APOP");
	}
	explicit_bzero(expected, sizeof(expected));
	passdb_user_free(&pu);
}

/* ---- AUTH (RFC 5034) --------------------------------------------------- */

/* The SASL server's lookup; runs inside a step, on a blocking-job
   thread: context is the exchange's env, never the session. */
static int
sasl_lookup(void *context, const char *name, char **stored_r, char **user_r)
{
	struct pop3_auth_env *env = context;
	struct passdb_user *pu;
	int ret;

	ret = passdb_get(env->service, &env->log, name, &pu);
	if (ret <= 0)
		return ret;
	*stored_r = pop3_xstrdup(pu->password);
	*user_r = pop3_xstrdup(pu->name);
	passdb_user_free(&pu);
	return 1;
}

static void
send_challenge(struct pop3_session *session, const uint8_t *data,
	       size_t len)
{
	char *b64 = base64_encode_alloc(data, len);

	/* RFC 5034 4: "+", one space, the base64 text and nothing else. */
	conn_write(session->conn, "+ ", 2);
	conn_write_str(session->conn, b64);
	conn_write(session->conn, "\r\n", 2);
	free(b64);
}

/* Ends the exchange with a login or a failure. */
static void
sasl_finish(struct pop3_session *session, bool success, const char *error)
{
	struct sasl_server *server = session->sasl->server;
	const char *user = sasl_server_get_user(server);
	char *user_copy = user == NULL ? NULL : pop3_xstrdup(user);
	bool temporary = !success &&
		sasl_server_failure_is_temporary(server);
	char method[64];

	if (success && sasl_server_password_is_cleartext(server))
		warn_cleartext(session, user_copy);

	snprintf(method, sizeof(method), "AUTH %s",
		 sasl_server_mech_name(server));
	pop3_session_sasl_end(session);
	if (success)
		pop3_session_login(session, user_copy, method);
	else
		pop3_session_login_failed(session, user_copy, method, error,
					  temporary);
	free(user_copy);
}

/* Blocking-job thread: one step; a lookup and a verify may happen in
   it. */
static void
sasl_work(void *context)
{
	struct pop3_auth_job *job = context;
	const uint8_t *in = NULL;
	const char *error = NULL;

	job->worked = true;
	if (job->has_in)
		in = job->in != NULL ? job->in : (const uint8_t *)"";
	job->sasl_result = sasl_server_step(job->sasl->server, in, job->in_len,
					    &job->out, &job->out_len, &error);
	job->error = error;
	if (job->in != NULL)
		explicit_bzero(job->in, job->in_len);
}

/* The session's worker: the step's outcome. */
static void
sasl_step_done(void *context)
{
	struct pop3_auth_job *job = context;
	struct pop3_session *session = auth_job_finish(job);

	if (session == NULL)
		goto out;
	/* The exchange comes back to the session; the challenge bytes in
	   job->out are its server's and stay valid until its next step. */
	session->sasl = job->sasl;
	job->sasl = NULL;
	if (!job->worked) {
		char method[64];

		snprintf(method, sizeof(method), "AUTH %s",
			 sasl_server_mech_name(session->sasl->server));
		pop3_session_sasl_end(session);
		pop3_session_login_failed(session, NULL, method,
					  "server shutting down", true);
		goto kick;
	}
	switch (job->sasl_result) {
	case SASL_CONTINUE:
		send_challenge(session, job->out, job->out_len);
		break;
	case SASL_OK:
		if (job->out_len == 0) {
			sasl_finish(session, true, NULL);
			break;
		}
		/* SCRAM's server-final message: POP3 has no success data
		   (RFC 5034 4), so it goes as one more challenge, whose
		   (empty) answer completes the login. */
		session->sasl_final = true;
		send_challenge(session, job->out, job->out_len);
		break;
	case SASL_FAIL:
		sasl_finish(session, false, job->error);
		break;
	}
kick:
	conn_input_kick(session->conn);
out:
	auth_job_free(&job);
}

/* Feeds one client message (in == NULL: no initial response) to the
   exchange, off the loop. The bytes are copied. */
static void
sasl_feed(struct pop3_session *session, const uint8_t *in, size_t in_len)
{
	struct pop3_auth_job *job = pop3_xcalloc(1, sizeof(*job));

	job->sasl = session->sasl;
	session->sasl = NULL;
	if (in != NULL) {
		job->has_in = true;
		if (in_len > 0) {
			job->in = pop3_xcalloc(in_len, 1);
			memcpy(job->in, in, in_len);
			job->in_len = in_len;
		}
	}
	auth_job_start(session, job, sasl_work, sasl_step_done);
}

/* Decodes a base64 client message and feeds it. */
static void
sasl_feed_base64(struct pop3_session *session, const uint8_t *data,
		 size_t len)
{
	size_t max = base64_decoded_max_len(len), out_len;
	uint8_t *buf = pop3_xcalloc(max, 1);

	if (base64_decode(data, len, buf, &out_len) < 0) {
		/* RFC 5034 4: reject, as if AUTH had not been given. */
		pop3_session_sasl_end(session);
		pop3_reply(session, "-ERR Invalid base64 data");
	} else {
		sasl_feed(session, buf, out_len);
	}
	explicit_bzero(buf, max);
	free(buf);
}

static void
auth_list_mechanisms(struct pop3_session *session)
{
	const char *const *mechs = pop3_session_mechanisms(session);

	/* Not in RFC 5034, but the form clients probe with: a multi-line
	   list of the mechanisms allowed now. */
	pop3_reply(session, "+OK");
	for (unsigned i = 0; mechs[i] != NULL; i++)
		pop3_reply(session, "%s", mechs[i]);
	pop3_reply(session, ".");
}

/* True if mech is one we have at all (on a secure channel). */
static bool
mech_known(const char *mech)
{
	const char *const *all = sasl_mechanisms(true, true);

	for (unsigned i = 0; all[i] != NULL; i++) {
		if (strcasecmp(all[i], mech) == 0)
			return true;
	}
	return false;
}

void
pop3_cmd_auth(struct pop3_session *session, const struct pop3_command *cmd)
{
	struct sasl_server_settings set = {
		.secure = conn_is_tls(session->conn),
		.plaintext_allowed = pop3_session_plaintext_ok(session),
		.lookup = sasl_lookup,
	};
	struct pop3_sasl *sasl;
	const char *error;

	if (cmd->argc == 0) {
		auth_list_mechanisms(session);
		return;
	}
	sasl = pop3_xcalloc(1, sizeof(*sasl));
	auth_env_init(&sasl->env, session);
	set.lookup_context = &sasl->env;
	sasl->server = sasl_server_create(cmd->args[0], &set, &error);
	if (sasl->server == NULL) {
		pop3_sasl_free(&sasl);
		/* RFC 5034 4: -ERR; say why when it is the channel. */
		if (mech_known(cmd->args[0]))
			pop3_reply(session, PLAINTEXT_REFUSED);
		else
			pop3_reply(session, "-ERR Unsupported authentication "
				   "mechanism");
		return;
	}
	session->sasl = sasl;
	session->sasl_final = false;
	if (cmd->argc == 1)
		sasl_feed(session, NULL, 0);
	else if (cmd->arg_lens[1] == 1 && cmd->args[1][0] == '=')
		sasl_feed(session, (const uint8_t *)"", 0);
	else
		sasl_feed_base64(session, (const uint8_t *)cmd->args[1],
				 cmd->arg_lens[1]);
}

void
pop3_auth_continue(struct pop3_session *session, const uint8_t *line,
		   size_t len)
{
	if (len == 1 && line[0] == '*') {
		pop3_session_sasl_end(session);
		pop3_reply(session, "-ERR Authentication cancelled");
		return;
	}
	if (session->sasl_final) {
		if (len == 0)
			sasl_finish(session, true, NULL);
		else
			sasl_finish(session, false, "data after the server's "
				    "final message");
		return;
	}
	sasl_feed_base64(session, line, len);
}
