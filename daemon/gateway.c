/*
 * gateway — the job protocol of the PowerShell HTTP gateway (DESIGN §2)
 * on top of http.c.
 *
 * One struct gw_op carries one job from its committed body to its end:
 *
 *            gw_job_run()
 *                 |
 *                 v       not sent / unknown / 5xx / 429 / 503 /
 *   +------->  POSTING   unparsable or invalid job: retry, same body
 *   | backoff     |  \----------------------------------------------+
 *   +-------------+   400/401/403/409/other 4xx                     |
 *                 | 200/201: accepted()          \--> DONE (rejected)
 *                 v                                       ^
 *   +------> FOLLOWING  GET /v1/jobs/{id}?wait_s=N        |
 *   | delay /     |  404/400/401/403 ---------------------+
 *   | backoff     |  completed / failed ------------> DONE (done())
 *   +-------------+
 *
 * Every transition goes through gw_op_set(), which logs it. Invariants:
 * in POSTING and FOLLOWING exactly one of op->req (a request in flight)
 * and op->timer (a pending delay) is active; in DONE neither is, the op is
 * off gw->ops and its timer is closing. The op's memory is released only
 * in the timer's close callback, so an op pointer stays valid for the rest
 * of the callback in which it finished or was cancelled (gw_job_cancel()
 * on an op inside its own done() is a no-op), and not after.
 *
 * The three kinds of answer (DESIGN §3.6), and what happens to each:
 *   done      a valid job object (200/201 on POST, 200 on GET);
 *   not sent  DNS/connect/TLS failure: retried (nothing can be duplicated);
 *   unknown   timeout after sending, reset, 5xx, unparsable body, a job
 *             object that is not this job: retried with the SAME id and
 *             body, so the gateway answers 200 with the existing job
 *             rather than running the command twice.
 * Delays: exponential backoff with full jitter, base 0.5 s doubling to a
 * cap of 60 s (a random delay in [0, min(cap, base * 2^n)]), reset by every
 * valid answer; a 429 or 503 with Retry-After waits what it says (at most
 * an hour).
 *
 * Following: GET with ?wait_s=N, N = min(30, request_timeout_s - 5), when
 * that is at least 1 s; the request timeout then covers the held answer.
 * A gateway may ignore wait_s: when a non-terminal answer comes back
 * sooner than N/2 without a change of state, the next GET waits
 * poll_interval_s, so such a gateway is polled, never hammered. With
 * N < 1 it is plain polling at poll_interval_s.
 */
#include "gateway.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "name.h"
#include "timefmt.h"

#define GW_BACKOFF_BASE_S	0.5
#define GW_BACKOFF_CAP_S	60.0
#define GW_RETRY_AFTER_MAX_S	3600.0
#define GW_WAIT_MAX_S		30.0
#define GW_WAIT_MARGIN_S	5.0

enum gw_op_state {
	GW_OP_POSTING,
	GW_OP_FOLLOWING,
	GW_OP_DONE,
};

struct gw_op {
	struct gw *gw;
	LIST_ENTRY(gw_op) entry;	/* on gw->ops until DONE */
	enum gw_op_state state;
	char *id;
	char *body;
	gw_accepted_cb accepted;
	gw_done_cb done;
	void *arg;
	struct http_req *req;		/* in flight, or NULL */
	uv_timer_t timer;		/* delay before the next request */
	int failures;			/* consecutive, for the backoff */
	int64_t sent_ms;		/* when the current GET left */
	char last_state[16];		/* job state last seen */
};

struct gw_hop {
	struct gw *gw;
	LIST_ENTRY(gw_hop) entry;
	struct http_req *req;
	gw_health_cb cb;
	void *arg;
};

struct gw {
	uv_loop_t *loop;
	struct http *http;
	char *base;			/* URL without trailing '/' */
	char *token;			/* NULL: no Authorization header */
	double request_timeout_s;
	double poll_interval_s;
	LIST_HEAD(, gw_op) ops;
	LIST_HEAD(, gw_hop) hops;
	uint64_t rng;
	int nopen;			/* op timers not yet closed */
	bool http_open;
	bool closing;
	void (*close_done)(void *arg);
	void *close_arg;
};

static const char *
gw_op_state_name(enum gw_op_state s)
{
	switch (s) {
	case GW_OP_POSTING:
		return "posting";
	case GW_OP_FOLLOWING:
		return "following";
	case GW_OP_DONE:
		return "done";
	}
	return "?";
}

/* The one transition function of an op. */
static void
gw_op_set(struct gw_op *op, enum gw_op_state to, const char *why)
{
	if (op->state != to)
		log_debug("gateway: job '%s': %s -> %s (%s)", op->id,
		    gw_op_state_name(op->state), gw_op_state_name(to), why);
	op->state = to;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static double
gw_random01(struct gw *gw)
{
	uint64_t x = gw->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	gw->rng = x;
	return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double
gw_backoff_s(struct gw *gw, int failures)
{
	double ceiling = GW_BACKOFF_BASE_S;

	for (int i = 1; i < failures && ceiling < GW_BACKOFF_CAP_S; i++)
		ceiling *= 2;
	if (ceiling > GW_BACKOFF_CAP_S)
		ceiling = GW_BACKOFF_CAP_S;
	return ceiling * gw_random01(gw);
}

static void
gw_maybe_closed(struct gw *gw)
{
	void (*done)(void *);
	void *arg;

	if (!gw->closing || gw->nopen > 0 || gw->http_open)
		return;
	done = gw->close_done;
	arg = gw->close_arg;
	free(gw->base);
	if (gw->token != NULL) {
		explicit_bzero(gw->token, strlen(gw->token));
		free(gw->token);
	}
	free(gw);
	if (done != NULL)
		done(arg);
}

static void
gw_op_closed(uv_handle_t *handle)
{
	struct gw_op *op = handle->data;
	struct gw *gw = op->gw;

	free(op->id);
	free(op->body);
	free(op);
	gw->nopen--;
	gw_maybe_closed(gw);
}

/* Ends op: off the list, nothing in flight, timer closing. */
static void
gw_op_release(struct gw_op *op, const char *why)
{
	if (op->state == GW_OP_DONE)
		return;
	gw_op_set(op, GW_OP_DONE, why);
	LIST_REMOVE(op, entry);
	if (op->req != NULL) {
		http_cancel(op->req);
		op->req = NULL;
	}
	uv_timer_stop(&op->timer);
	uv_close((uv_handle_t *)&op->timer, gw_op_closed);
}

static void gw_op_send(struct gw_op *op);

static void
gw_op_on_timer(uv_timer_t *t)
{
	gw_op_send(t->data);
}

static void
gw_op_later(struct gw_op *op, double delay_s)
{
	uint64_t ms = delay_s > 0 ? (uint64_t)llround(delay_s * 1000.0) : 0;

	uv_timer_start(&op->timer, gw_op_on_timer, ms, 0);
}

/* A failed attempt: backoff, or the gateway's Retry-After. */
static void
gw_op_retry(struct gw_op *op, const char *what, double retry_after_s)
{
	double delay;

	op->failures++;
	/* Retry-After, within [base, an hour]: "0" must not make a loop. */
	if (retry_after_s >= 0)
		delay = fmin(fmax(retry_after_s, GW_BACKOFF_BASE_S),
		    GW_RETRY_AFTER_MAX_S);
	else
		delay = gw_backoff_s(op->gw, op->failures);
	log_info("gateway: job '%s': %s; retry %d in %.1f s", op->id, what,
	    op->failures, delay);
	gw_op_later(op, delay);
}

static const char *
gw_reason(long status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

/* The gateway's explanation of a refusal: error.message, error (a
 * string) or message in a JSON body; else a sentence naming the status. */
static void
gw_refusal(long status, const char *body, char *buf, size_t len)
{
	json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	const json_t *e = json_object_get(j, "error");
	const char *msg = NULL;

	if (json_is_object(e))
		msg = json_string_value(json_object_get(e, "message"));
	else if (json_is_string(e))
		msg = json_string_value(e);
	if (msg == NULL)
		msg = json_string_value(json_object_get(j, "message"));
	if (msg != NULL)
		snprintf(buf, len, "gateway refused the job: %ld %s: %s",
		    status, gw_reason(status), msg);
	else
		snprintf(buf, len, "gateway refused the job with status %ld%s%s",
		    status, *gw_reason(status) ? " " : "", gw_reason(status));
	json_decref(j);
}

static void
gw_op_finish(struct gw_op *op, const struct gw_result *res)
{
	gw_done_cb done = op->done;
	void *arg = op->arg;

	gw_op_release(op, res->status == GW_COMPLETED ? "completed" :
	    res->status == GW_FAILED ? "failed" : "rejected");
	done(arg, res);
}

static void
gw_op_reject(struct gw_op *op, long status, const char *body)
{
	struct gw_result res = { .status = GW_REJECTED };
	char msg[512];

	gw_refusal(status, body, msg, sizeof(msg));
	log_warnx("gateway: job '%s': %s", op->id, msg);
	res.http_status = (int)status;
	res.message = msg;
	gw_op_finish(op, &res);
}

/*
 * Parses and validates a job object: a JSON object whose "id" is this
 * job's and whose "state" is one of the four. Returns a new reference, or
 * NULL with why set (the answer is then outcome-unknown).
 */
static json_t *
gw_job_parse(const struct gw_op *op, const char *body, char *why, size_t len)
{
	json_error_t e;
	json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, &e);
	const char *id, *state;
	const json_t *out;

	if (j == NULL) {
		snprintf(why, len, "unparsable job object: %s at %d:%d",
		    e.text, e.line, e.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(why, len, "job object is not a JSON object");
		goto fail;
	}
	id = json_string_value(json_object_get(j, "id"));
	if (id == NULL || strcmp(id, op->id) != 0) {
		snprintf(why, len, "job object for id '%.64s', not this job",
		    id != NULL ? id : "(none)");
		goto fail;
	}
	state = json_string_value(json_object_get(j, "state"));
	if (state == NULL || (strcmp(state, "queued") != 0 &&
	    strcmp(state, "running") != 0 && strcmp(state, "completed") != 0 &&
	    strcmp(state, "failed") != 0)) {
		snprintf(why, len, "job object with invalid state '%.32s'",
		    state != NULL ? state : "(none)");
		goto fail;
	}
	out = json_object_get(j, "output");
	if (out != NULL && !json_is_array(out) && !json_is_null(out)) {
		snprintf(why, len, "job object whose output is not an array");
		goto fail;
	}
	return j;
fail:
	json_decref(j);
	return NULL;
}

/* A valid job object arrived. Returns true if the job is over (op is
 * then DONE). */
static bool
gw_op_job(struct gw_op *op, json_t *job, long status)
{
	const char *state = json_string_value(json_object_get(job, "state"));
	struct gw_result res = { .http_status = (int)status, .job = job };
	const json_t *err;

	if (strcmp(state, "completed") != 0 && strcmp(state, "failed") != 0)
		return false;
	res.output = json_object_get(job, "output");
	if (json_is_null(res.output))
		res.output = NULL;
	if (strcmp(state, "completed") == 0) {
		res.status = GW_COMPLETED;
	} else {
		res.status = GW_FAILED;
		err = json_object_get(job, "error");
		res.message = json_string_value(json_object_get(err, "message"));
		if (res.message == NULL)
			res.message = "job failed (the gateway gave no message)";
	}
	gw_op_finish(op, &res);
	return true;
}

static double
gw_wait_s(const struct gw *gw)
{
	double n = gw->request_timeout_s - GW_WAIT_MARGIN_S;

	if (n > GW_WAIT_MAX_S)
		n = GW_WAIT_MAX_S;
	return floor(n);
}

static void
gw_op_on_http(void *arg, const struct http_response *r)
{
	struct gw_op *op = arg;
	bool posting = op->state == GW_OP_POSTING;
	const char *verb = posting ? "post" : "get";
	char why[256];
	json_t *job;
	double wait, delay;
	bool changed;

	op->req = NULL;
	if (r->outcome == HTTP_NOT_SENT) {
		snprintf(why, sizeof(why), "%s not sent: %s", verb, r->error);
		gw_op_retry(op, why, -1);
		return;
	}
	if (r->outcome == HTTP_UNKNOWN) {
		snprintf(why, sizeof(why), "%s outcome unknown: %s", verb,
		    r->error);
		gw_op_retry(op, why, -1);
		return;
	}
	if (r->status == 429 || r->status == 503) {
		snprintf(why, sizeof(why), "%s: gateway busy (%ld)", verb,
		    r->status);
		gw_op_retry(op, why, r->retry_after_s);
		return;
	}
	if (r->status >= 400 && r->status < 500 && r->status != 408) {
		/* 400, 401, 403, 409, and 404 while following (any other 4xx
		 * alike): refused, nothing was run, repeating cannot help. */
		gw_op_reject(op, r->status, r->body);
		return;
	}
	if (r->status != 200 && !(posting && r->status == 201)) {
		/* 5xx: the gateway may have acted. Anything else unexpected
		 * (3xx, 408, another 2xx) is treated alike: the same id makes
		 * a retry harmless. */
		snprintf(why, sizeof(why), "%s outcome unknown: status %ld",
		    verb, r->status);
		gw_op_retry(op, why, -1);
		return;
	}
	if ((job = gw_job_parse(op, r->body, why, sizeof(why))) == NULL) {
		char msg[320];

		snprintf(msg, sizeof(msg), "%s outcome unknown: %s", verb, why);
		gw_op_retry(op, msg, -1);
		return;
	}
	op->failures = 0;
	if (posting) {
		gw_op_set(op, GW_OP_FOLLOWING, r->status == 201 ? "created" :
		    "existing job");
		if (op->accepted != NULL) {
			op->accepted(op->arg);
			if (op->state == GW_OP_DONE) {	/* cancelled */
				json_decref(job);
				return;
			}
		}
	}
	if (gw_op_job(op, job, r->status)) {
		json_decref(job);
		return;
	}
	/* Still queued or running: follow it. */
	changed = strcmp(op->last_state,
	    json_string_value(json_object_get(job, "state"))) != 0;
	snprintf(op->last_state, sizeof(op->last_state), "%s",
	    json_string_value(json_object_get(job, "state")));
	json_decref(job);
	wait = gw_wait_s(op->gw);
	if (wait < 1)
		delay = op->gw->poll_interval_s;
	else if (posting || changed ||
	    time_mono_ms() - op->sent_ms >= (int64_t)(wait * 1000 / 2))
		delay = 0;	/* the gateway holds the next answer */
	else
		delay = op->gw->poll_interval_s;	/* it ignores wait_s */
	gw_op_later(op, delay);
}

/* Sends the op's next request: its POST, or the next GET. */
static void
gw_op_send(struct gw_op *op)
{
	struct gw *gw = op->gw;
	char *url = NULL, why[128];
	double wait;
	int rc = -ENOMEM;

	if (op->state == GW_OP_POSTING) {
		if (asprintf(&url, "%s/v1/jobs", gw->base) < 0)
			url = NULL;
		else
			rc = http_request(gw->http, "POST", url, gw->token,
			    op->body, gw->request_timeout_s, gw_op_on_http, op,
			    &op->req);
	} else {
		wait = gw_wait_s(gw);
		/* The id is [A-Za-z0-9._-] (checked): safe in a path. */
		if ((wait >= 1 ? asprintf(&url, "%s/v1/jobs/%s?wait_s=%.0f",
		    gw->base, op->id, wait) : asprintf(&url, "%s/v1/jobs/%s",
		    gw->base, op->id)) < 0) {
			url = NULL;
		} else {
			op->sent_ms = time_mono_ms();
			rc = http_request(gw->http, "GET", url, gw->token,
			    NULL, gw->request_timeout_s, gw_op_on_http, op,
			    &op->req);
		}
	}
	free(url);
	if (rc != 0) {
		op->req = NULL;
		snprintf(why, sizeof(why), "cannot start request: %s",
		    strerror(-rc));
		gw_op_retry(op, why, -1);
	}
}

/* Tokens go into a header line: a line break would inject headers. */
static bool
gw_token_ok(const struct config_gateway *cfg)
{
	return cfg->token == NULL || strpbrk(cfg->token, "\r\n") == NULL;
}

static int
gw_settings(struct gw *gw, const struct config_gateway *cfg)
{
	char *token = NULL;

	if (cfg->token != NULL && (token = strdup(cfg->token)) == NULL)
		return -ENOMEM;
	if (gw->token != NULL) {
		explicit_bzero(gw->token, strlen(gw->token));
		free(gw->token);
	}
	gw->token = token;
	gw->request_timeout_s = cfg->request_timeout_s > 0 ?
	    cfg->request_timeout_s : 30;
	gw->poll_interval_s = cfg->poll_interval_s > 0 ?
	    cfg->poll_interval_s : 10;
	return 0;
}

int
gw_new(uv_loop_t *loop, const struct config_gateway *cfg, struct gw **out)
{
	struct http_opts hopts = { 0 };
	struct gw *gw;
	size_t n;
	int rc;

	if (cfg->url == NULL || !gw_token_ok(cfg))
		return -EINVAL;
	if ((gw = calloc(1, sizeof(*gw))) == NULL)
		return -ENOMEM;
	gw->loop = loop;
	LIST_INIT(&gw->ops);
	LIST_INIT(&gw->hops);
	gw->rng = ((uint64_t)time_mono_ms() << 20) ^ (uint64_t)getpid() ^
	    (uint64_t)(uintptr_t)gw;
	if (gw->rng == 0)
		gw->rng = 0x9e3779b97f4a7c15ULL;
	rc = -ENOMEM;
	if ((gw->base = strdup(cfg->url)) == NULL)
		goto fail;
	n = strlen(gw->base);
	while (n > 0 && gw->base[n - 1] == '/')
		gw->base[--n] = '\0';
	if ((rc = gw_settings(gw, cfg)) != 0)
		goto fail;
	hopts.ca_file = cfg->ca_file;
	hopts.tls_insecure = !cfg->tls_verify;
	hopts.timeout_s = gw->request_timeout_s;
	hopts.max_in_flight = cfg->max_in_flight;
	/* low_speed_time_s stays at http's default (60 s), above the
	 * longest wait_s (30 s) a long poll asks for. */
	if ((rc = http_new(loop, &hopts, &gw->http)) != 0)
		goto fail;
	gw->http_open = true;
	*out = gw;
	return 0;
fail:
	free(gw->base);
	free(gw->token);
	free(gw);
	return rc;
}

void
gw_reconfigure(struct gw *gw, const struct config_gateway *cfg)
{
	size_t n;

	if (!gw_token_ok(cfg))
		log_warnx("gateway: token contains a line break, keeping the "
		    "old one");
	else if (gw_settings(gw, cfg) != 0)
		log_warnx("gateway: out of memory applying new settings");
	/* The URL and TLS settings name the gateway the stored jobs live
	 * on; switching under running jobs would lose them. */
	if (cfg->url != NULL) {
		n = strlen(cfg->url);
		while (n > 0 && cfg->url[n - 1] == '/')
			n--;
		if (n != strlen(gw->base) || strncmp(cfg->url, gw->base, n) != 0)
			log_warnx("gateway: new url '%s' takes effect at the "
			    "next start", cfg->url);
	}
}

/* The body must be a request for this very id: the gateway answers with
 * the job of the body's id, which is the one followed. */
static bool
gw_body_matches(const char *id, const char *body)
{
	json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	const char *bid = json_string_value(json_object_get(j, "id"));
	bool ok = bid != NULL && strcmp(bid, id) == 0;

	json_decref(j);
	return ok;
}

int
gw_job_run(struct gw *gw, const char *id, const char *body,
    gw_accepted_cb accepted, gw_done_cb done, void *arg, struct gw_op **out)
{
	struct gw_op *op;
	int rc;

	if (gw->closing)
		return -ECANCELED;
	if (!name_valid_job_id(id) || body == NULL || done == NULL ||
	    !gw_body_matches(id, body))
		return -EINVAL;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -ENOMEM;
	if ((op->id = strdup(id)) == NULL || (op->body = strdup(body)) == NULL) {
		free(op->id);
		free(op);
		return -ENOMEM;
	}
	if ((rc = uv_timer_init(gw->loop, &op->timer)) != 0) {
		free(op->id);
		free(op->body);
		free(op);
		return rc;
	}
	op->timer.data = op;
	op->gw = gw;
	op->accepted = accepted;
	op->done = done;
	op->arg = arg;
	op->state = GW_OP_POSTING;
	gw->nopen++;
	LIST_INSERT_HEAD(&gw->ops, op, entry);
	gw_op_send(op);
	if (out != NULL)
		*out = op;
	return 0;
}

void
gw_job_cancel(struct gw_op *op)
{
	if (op != NULL)
		gw_op_release(op, "cancelled");
}

static void
gw_hop_on_http(void *arg, const struct http_response *r)
{
	struct gw_hop *hop = arg;
	char text[256];
	json_t *j = NULL;
	const char *status, *version;
	int ok = 0;

	LIST_REMOVE(hop, entry);
	if (r->outcome != HTTP_DONE) {
		snprintf(text, sizeof(text), "%s", r->error);
	} else if (r->status != 200) {
		snprintf(text, sizeof(text), "health check answered %ld",
		    r->status);
	} else if ((j = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL || (status = json_string_value(json_object_get(j,
	    "status"))) == NULL) {
		snprintf(text, sizeof(text), "health check: unparsable answer");
	} else if (strcmp(status, "ok") != 0) {
		snprintf(text, sizeof(text), "health check: status '%.64s'",
		    status);
	} else {
		version = json_string_value(json_object_get(j, "version"));
		snprintf(text, sizeof(text), "%s", version ? version : "");
		ok = 1;
	}
	json_decref(j);
	hop->cb(hop->arg, ok, text);
	free(hop);
}

int
gw_health(struct gw *gw, gw_health_cb cb, void *arg)
{
	struct gw_hop *hop;
	char *url;
	int rc;

	if (gw->closing)
		return -ECANCELED;
	if (cb == NULL)
		return -EINVAL;
	if ((hop = calloc(1, sizeof(*hop))) == NULL)
		return -ENOMEM;
	hop->gw = gw;
	hop->cb = cb;
	hop->arg = arg;
	if (asprintf(&url, "%s/v1/health", gw->base) < 0) {
		free(hop);
		return -ENOMEM;
	}
	rc = http_request(gw->http, "GET", url, gw->token, NULL,
	    gw->request_timeout_s, gw_hop_on_http, hop, &hop->req);
	free(url);
	if (rc != 0) {
		free(hop);
		return rc;
	}
	LIST_INSERT_HEAD(&gw->hops, hop, entry);
	return 0;
}

static void
gw_http_closed(void *arg)
{
	struct gw *gw = arg;

	gw->http_open = false;
	gw_maybe_closed(gw);
}

void
gw_close(struct gw *gw, void (*done)(void *arg), void *arg)
{
	struct gw_op *op;
	struct gw_hop *hop;

	if (gw->closing)
		return;
	gw->closing = true;
	gw->close_done = done;
	gw->close_arg = arg;
	while ((op = LIST_FIRST(&gw->ops)) != NULL)
		gw_op_release(op, "closing");
	while ((hop = LIST_FIRST(&gw->hops)) != NULL) {
		LIST_REMOVE(hop, entry);
		http_cancel(hop->req);
		free(hop);
	}
	http_close(gw->http, gw_http_closed, gw);
}
