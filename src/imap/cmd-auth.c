/* Commands of any state and of the not-authenticated state: CAPABILITY,
   NOOP, LOGOUT, ID, ENABLE, STARTTLS, LOGIN and AUTHENTICATE (RFC 9051
   6.1, 6.2, RFC 2971 ID, RFC 5161 ENABLE, RFC 4959 SASL-IR). */
#include "imap/imap-commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/passdb.h"
#include "auth/sasl.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "mail/imap-bodystructure.h"
#include "lib/limits.h"
#include "net/conn.h"
#include "net/worker.h"

bool
cmd_capability(struct imap_cmd *cmd)
{
	struct buf caps;

	if (cmd->args_count != 0) {
		imap_cmd_bad(cmd, "CAPABILITY takes no arguments.");
		return true;
	}
	buf_init(&caps, 0);
	imap_session_capabilities(cmd->session, &caps);
	imap_session_untagged(cmd->session, "CAPABILITY %s", buf_cstr(&caps));
	buf_free(&caps);
	imap_cmd_ok(cmd, "Capability completed.");
	return true;
}

bool
cmd_noop(struct imap_cmd *cmd)
{
	/* The tagged reply reports pending mailbox changes. */
	imap_cmd_ok(cmd, "NOOP completed.");
	return true;
}

bool
cmd_logout(struct imap_cmd *cmd)
{
	/* The state changes first so the tagged OK carries no pending
	   mailbox updates: after the BYE (RFC 9051 6.1.3) the mailbox is
	   being closed and a client has already dropped its view of it. */
	cmd->session->state = IMAP_STATE_LOGOUT;
	imap_session_untagged(cmd->session, "BYE Logging out");
	imap_cmd_ok(cmd, "Logout completed.");
	return true;
}

/* RFC 2971: ("name" "quire" "version" "0.1.0"). The client's list is only
   checked for shape. */
bool
cmd_id(struct imap_cmd *cmd)
{
	const char *impl = cmd->session->service->implementation;
	const char *space = strchr(impl, ' ');
	const struct imap_arg *list;
	unsigned int count;
	struct buf b;

	if (cmd->args_count != 1 ||
	    (cmd->args[0].type != IMAP_ARG_NIL &&
	     !imap_arg_get_list(&cmd->args[0], &list, &count))) {
		imap_cmd_bad(cmd, "ID takes a list or NIL.");
		return true;
	}
	buf_init(&b, 0);
	buf_append_str(&b, "ID (\"name\" ");
	if (space == NULL) {
		imap_write_nstr(&b, impl);
	} else {
		imap_write_nstring(&b, impl, (size_t)(space - impl));
		buf_append_str(&b, " \"version\" ");
		imap_write_nstr(&b, space + 1);
	}
	buf_append_c(&b, ')');
	imap_session_untagged(cmd->session, "%s", buf_cstr(&b));
	buf_free(&b);
	imap_cmd_ok(cmd, "ID completed.");
	return true;
}

/* RFC 5161: IMAP4rev2 (RFC 9051) and UTF8=ACCEPT (RFC 6855). */
bool
cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct buf enabled;
	const char *cap;

	if (cmd->args_count == 0) {
		imap_cmd_bad(cmd, "ENABLE needs capabilities.");
		return true;
	}
	for (unsigned i = 0; i < cmd->args_count; i++) {
		if (cmd->args[i].type != IMAP_ARG_ATOM) {
			imap_cmd_bad(cmd, "ENABLE takes atoms.");
			return true;
		}
	}
	buf_init(&enabled, 0);
	buf_append_str(&enabled, "ENABLED");
	for (unsigned i = 0; i < cmd->args_count; i++) {
		(void)imap_arg_get_atom(&cmd->args[i], &cap);
		if (strcasecmp(cap, "IMAP4rev2") == 0) {
			if (!session->enabled_rev2)
				buf_append_str(&enabled, " IMAP4rev2");
			session->enabled_rev2 = true;
			session->enabled_utf8 = true;
		} else if (strcasecmp(cap, "QRESYNC") == 0) {
			/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE. */
			if (!session->enabled_qresync)
				buf_append_str(&enabled, " QRESYNC");
			session->enabled_qresync = true;
			session->enabled_condstore = true;
		} else if (strcasecmp(cap, "CONDSTORE") == 0) {
			if (!session->enabled_condstore)
				buf_append_str(&enabled, " CONDSTORE");
			session->enabled_condstore = true;
		} else if (strcasecmp(cap, "UTF8=ACCEPT") == 0) {
			if (!session->enabled_utf8)
				buf_append_str(&enabled, " UTF8=ACCEPT");
			session->enabled_utf8 = true;
		}
	}
	imap_session_untagged(session, "%s", buf_cstr(&enabled));
	buf_free(&enabled);
	imap_cmd_ok(cmd, "ENABLE completed.");
	return true;
}

bool
cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const char *error;

	if (cmd->args_count != 0) {
		imap_cmd_bad(cmd, "STARTTLS takes no arguments.");
		return true;
	}
	if (!conn_can_starttls(session->conn)) {
		imap_cmd_bad(cmd, "TLS is not available.");
		return true;
	}
	imap_cmd_ok(cmd, "Begin TLS negotiation now.");
	/* RFC 9051 6.2.1: what the client pipelined after STARTTLS is
	   dropped; conn_starttls discards it, the parser forgets it. */
	if (conn_starttls(session->conn, &error) < 0) {
		log_error(&session->log, "STARTTLS failed: %s", error);
		conn_close_after_flush(session->conn, "STARTTLS failed");
	}
	imap_parser_reset(session->parser);
	return true;
}

/* ---- LOGIN and AUTHENTICATE -------------------------------------------- */

/* Runs on a blocking-job thread (see auth_job_start): it must not touch
   the session, which may close meanwhile; the service outlives every job
   (the daemon joins the pool before destroying it). */
static int
sasl_lookup(void *context, const char *name, char **stored_r, char **user_r)
{
	static const struct log_ctx lctx = { .proto = "imap" };
	struct imap_service *service = context;
	struct passdb_user *pu;
	const char *error;
	int ret;

	ret = passdb_lookup(service->set.passdb, name, &pu, &error);
	if (ret < 0) {
		log_error(&lctx, "user database lookup for %s failed: %s",
			  name, error);
		return -1;
	}
	if (ret == 0)
		return 0;
	*stored_r = imap_xstrdup(pu->password);
	*user_r = imap_xstrdup(pu->name);
	passdb_user_free(&pu);
	return 1;
}

static struct sasl_server *
sasl_start(struct imap_session *session, const char *mech,
	   const char **error_r)
{
	struct sasl_server_settings set;
	bool plain = imap_session_plaintext_ok(session);

	memset(&set, 0, sizeof(set));
	set.secure = plain;
	set.plaintext_allowed = plain;
	set.lookup = sasl_lookup;
	set.lookup_context = session->service;
	return sasl_server_create(mech, &set, error_r);
}

/* The exchange ended: log in or fail. Returns as a handler does. */
static bool
sasl_finish(struct imap_cmd *cmd, bool success, const char *error,
	    const char *method)
{
	struct imap_session *session = cmd->session;
	const char *user = sasl_server_get_user(session->sasl);
	char *user_copy = user == NULL ? NULL : imap_xstrdup(user);
	bool temporary = !success &&
		sasl_server_failure_is_temporary(session->sasl);
	bool done = true;

	if (success && sasl_server_password_is_cleartext(session->sasl)) {
		struct log_ctx lctx = session->log;

		lctx.user = user_copy;
		log_warn(&lctx, "password is stored in clear text");
	}
	sasl_server_destroy(&session->sasl);
	cmd->resume = NULL;
	if (success)
		(void)imap_session_login(cmd, user_copy, method);
	else
		done = imap_session_login_failed(cmd, user_copy, method, error,
						 temporary);
	free(user_copy);
	return done;
}

/* ---- password checks off the event loop --------------------------------

   A SASL step may hash a password (SHA512-CRYPT, ARGON2, SCRAM's PBKDF2):
   it runs on one of the pool's blocking-job threads so other sessions on
   this worker are not held up. The command waits (no resume, so no input
   is read) and goes on in auth_job_done on the session's own worker. */

enum auth_job_kind {
	AUTH_JOB_LOGIN,
	AUTH_JOB_AUTHENTICATE,
};

struct imap_auth_job {
	struct imap_session *session; /* NULL once the session closed */
	enum auth_job_kind kind;
	struct sasl_server *sasl;     /* the session's, while the job runs */
	uint8_t *in;		      /* NULL: no initial response */
	size_t in_len;
	enum sasl_result result;
	const uint8_t *out;	      /* owned by sasl */
	size_t out_len;
	const char *error;	      /* static text */
};

static bool auth_resume(struct imap_cmd *cmd);
static bool auth_step_done(struct imap_cmd *cmd, enum sasl_result result,
			   const uint8_t *out, size_t out_len,
			   const char *error);

static void
auth_job_work(void *context)
{
	struct imap_auth_job *job = context;

	job->error = NULL;
	job->result = sasl_server_step(job->sasl, job->in, job->in_len,
				       &job->out, &job->out_len, &job->error);
	if (job->in != NULL)
		explicit_bzero(job->in, job->in_len);
}

static void
auth_job_free(struct imap_auth_job *job)
{
	if (job->in != NULL) {
		explicit_bzero(job->in, job->in_len);
		free(job->in);
	}
	free(job);
}

static void
auth_job_done(void *context)
{
	struct imap_auth_job *job = context;
	struct imap_session *session = job->session;
	struct imap_cmd *cmd;
	bool done;

	if (session == NULL) {
		/* The client left while its password was checked. */
		sasl_server_destroy(&job->sasl);
		auth_job_free(job);
		return;
	}
	session->auth_job = NULL;
	session->sasl = job->sasl;
	cmd = session->cmd;
	if (job->kind == AUTH_JOB_LOGIN) {
		done = sasl_finish(cmd, job->result == SASL_OK,
				   job->result == SASL_OK ? NULL : job->error,
				   "LOGIN");
	} else {
		done = auth_step_done(cmd, job->result, job->out,
				      job->out_len, job->error);
	}
	auth_job_free(job);
	if (done)
		imap_session_cmd_finished(session);
	else if (cmd->resume != NULL)
		conn_input_kick(session->conn); /* read what came meanwhile */
}

/* Starts a SASL step of the session's exchange on a job thread; in ==
   NULL means no initial response. The command then waits. */
static void
auth_job_start(struct imap_cmd *cmd, enum auth_job_kind kind,
	       const uint8_t *in, size_t in_len)
{
	struct imap_session *session = cmd->session;
	struct worker *worker = conn_get_worker(session->conn);
	struct imap_auth_job *job = imap_xcalloc(1, sizeof(*job));

	job->session = session;
	job->kind = kind;
	job->sasl = session->sasl;
	session->sasl = NULL;
	if (in != NULL) {
		job->in = imap_xcalloc(in_len + 1, 1);
		memcpy(job->in, in, in_len);
		job->in_len = in_len;
	}
	session->auth_job = job;
	cmd->resume = NULL;
	worker_pool_offload(worker_get_pool(worker), worker, auth_job_work,
			    auth_job_done, job);
}

void
imap_auth_session_closed(struct imap_session *session)
{
	if (session->auth_job != NULL) {
		session->auth_job->session = NULL;
		session->auth_job = NULL;
	}
}

bool
cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	const uint8_t *user, *pass;
	size_t user_len, pass_len;
	const char *error;
	struct buf msg;

	if (cmd->args_count != 2 ||
	    !imap_arg_get_astring(&cmd->args[0], &user, &user_len) ||
	    !imap_arg_get_astring(&cmd->args[1], &pass, &pass_len)) {
		imap_cmd_bad(cmd, "LOGIN takes a user name and a password.");
		return true;
	}
	if (!imap_session_plaintext_ok(session)) {
		imap_cmd_no(cmd, "[PRIVACYREQUIRED] Plaintext authentication "
			    "disallowed on non-secure (TLS) connections.");
		return true;
	}
	if (user_len > AUTH_MAX_USERNAME || pass_len > AUTH_MAX_PASSWORD ||
	    memchr(user, '\0', user_len) != NULL ||
	    memchr(pass, '\0', pass_len) != NULL) {
		return imap_session_login_failed(cmd, NULL, "LOGIN",
						 "invalid user name or "
						 "password", false);
	}
	/* One path for password checks: LOGIN is SASL PLAIN (RFC 4616)
	   with an empty authzid. */
	session->sasl = sasl_start(session, "PLAIN", &error);
	if (session->sasl == NULL) {
		imap_cmd_no(cmd, "[PRIVACYREQUIRED] %s", error);
		return true;
	}
	buf_init(&msg, 0);
	buf_append_c(&msg, '\0');
	buf_append(&msg, user, user_len);
	buf_append_c(&msg, '\0');
	buf_append(&msg, pass, pass_len);
	auth_job_start(cmd, AUTH_JOB_LOGIN, msg.data, msg.len);
	explicit_bzero(msg.data, msg.len);
	buf_free(&msg);
	return false;
}

static void
send_challenge(struct imap_session *session, const uint8_t *data, size_t len)
{
	char *b64 = base64_encode_alloc(data, len);

	conn_write(session->conn, "+ ", 2);
	conn_write_str(session->conn, b64);
	conn_write(session->conn, "\r\n", 2);
	free(b64);
}

struct auth_context {
	bool final_sent; /* SCRAM's server-final went as a challenge */
	char method[64];
};

static void
auth_context_free(void *context)
{
	free(context);
}

/* Feeds one client message to the exchange on a job thread; the command
   goes on in auth_step_done. Returns as a handler does (false). */
static bool
auth_feed(struct imap_cmd *cmd, const uint8_t *in, size_t in_len)
{
	auth_job_start(cmd, AUTH_JOB_AUTHENTICATE, in, in_len);
	return false;
}

/* The outcome of one AUTHENTICATE step, back on the session's worker.
   Returns as a handler does. */
static bool
auth_step_done(struct imap_cmd *cmd, enum sasl_result result,
	       const uint8_t *out, size_t out_len, const char *error)
{
	struct imap_session *session = cmd->session;
	struct auth_context *ctx = cmd->context;

	switch (result) {
	case SASL_CONTINUE:
		send_challenge(session, out, out_len);
		cmd->resume = auth_resume;
		return false;
	case SASL_OK:
		if (out_len == 0)
			return sasl_finish(cmd, true, NULL, ctx->method);
		/* Server-final data goes as one more challenge whose empty
		   answer completes the login (RFC 9051 6.2.2). */
		ctx->final_sent = true;
		send_challenge(session, out, out_len);
		cmd->resume = auth_resume;
		return false;
	case SASL_FAIL:
		break;
	}
	return sasl_finish(cmd, false, error, ctx->method);
}

static bool
auth_feed_base64(struct imap_cmd *cmd, const uint8_t *data, size_t len)
{
	size_t max = base64_decoded_max_len(len), out_len;
	uint8_t *buf = imap_xcalloc(max + 1, 1);
	bool ret;

	if (base64_decode(data, len, buf, &out_len) < 0) {
		sasl_server_destroy(&cmd->session->sasl);
		cmd->resume = NULL;
		imap_cmd_bad(cmd, "Invalid base64 data.");
		ret = true;
	} else {
		ret = auth_feed(cmd, buf, out_len);
	}
	explicit_bzero(buf, max);
	free(buf);
	return ret;
}

static bool
auth_resume(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct auth_context *ctx = cmd->context;
	const char *line, *error;
	size_t len;
	int ret;

	ret = imap_session_read_line(session, &line, &len, &error);
	if (ret == 0)
		return false;
	if (ret < 0 || (len == 1 && line[0] == '*')) {
		sasl_server_destroy(&session->sasl);
		cmd->resume = NULL;
		imap_cmd_bad(cmd, ret < 0 ? "Authentication response too long."
			     : "Authentication canceled.");
		return true;
	}
	if (ctx->final_sent) {
		if (len != 0) {
			sasl_server_destroy(&session->sasl);
			cmd->resume = NULL;
			imap_cmd_bad(cmd, "Expected an empty response.");
			return true;
		}
		return sasl_finish(cmd, true, NULL, ctx->method);
	}
	return auth_feed_base64(cmd, (const uint8_t *)line, len);
}

bool
cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_session *session = cmd->session;
	struct auth_context *ctx;
	const char *mech, *error;
	const uint8_t *ir = NULL;
	size_t ir_len = 0;

	if (cmd->args_count < 1 || cmd->args_count > 2 ||
	    !imap_arg_get_atom(&cmd->args[0], &mech) ||
	    (cmd->args_count == 2 &&
	     !imap_arg_get_astring(&cmd->args[1], &ir, &ir_len))) {
		imap_cmd_bad(cmd, "AUTHENTICATE takes a mechanism and an "
			     "optional initial response.");
		return true;
	}
	session->sasl = sasl_start(session, mech, &error);
	if (session->sasl == NULL) {
		imap_cmd_no(cmd, "%s", error);
		return true;
	}
	ctx = imap_xcalloc(1, sizeof(*ctx));
	snprintf(ctx->method, sizeof(ctx->method), "AUTHENTICATE %s",
		 sasl_server_mech_name(session->sasl));
	cmd->context = ctx;
	cmd->free_context = auth_context_free;
	cmd->resume = auth_resume;
	if (ir == NULL)
		return auth_feed(cmd, NULL, 0);
	/* RFC 4959: "=" is an empty initial response. */
	if (ir_len == 1 && ir[0] == '=')
		return auth_feed(cmd, (const uint8_t *)"", 0);
	return auth_feed_base64(cmd, ir, ir_len);
}
