/*
 * gateway — the client of the remote PowerShell HTTP gateway (DESIGN §2).
 *
 * gw_job_run() carries one job from its committed intent to its end:
 *   1. POST /v1/jobs with the stored body (its id is the idempotency key);
 *      not sent / outcome unknown / 429 / 503 / other 5xx: retried with
 *      exponential backoff and jitter (Retry-After honoured), ALWAYS with
 *      the same id and body, never a second id for the same request;
 *   2. 200 or 201: accepted(arg) is called once;
 *   3. GET /v1/jobs/{id}?wait_s=N until the job is completed or failed
 *      (long poll; works with gateways that answer at once, by polling at
 *      poll_interval_s);
 *   4. done(arg, result) is called exactly once (unless cancelled).
 * 400, 401, 403, 409 (and 404 while following) are not retried: they end
 * the job as GW_REJECTED with the status and the gateway's message.
 */
#ifndef EXROLL_GATEWAY_H
#define EXROLL_GATEWAY_H

#include <jansson.h>
#include <uv.h>

#include "config.h"

struct gw;
struct gw_op;

enum gw_status {
	GW_COMPLETED,		/* job state "completed" */
	GW_FAILED,		/* job state "failed": error.message in message */
	GW_REJECTED,		/* 400/401/403/404/409: not retried */
};

struct gw_result {
	enum gw_status status;
	int http_status;
	const json_t *job;	/* the final job object, borrowed; NULL if rejected */
	const json_t *output;	/* its "output" array, borrowed; NULL if rejected */
	const char *message;	/* failed/rejected: why */
};

typedef void (*gw_accepted_cb)(void *arg);
typedef void (*gw_done_cb)(void *arg, const struct gw_result *res);

/* Reads nothing from disk: cfg->token is already loaded. Returns 0 or a
 * negative errno. */
int gw_new(uv_loop_t *loop, const struct config_gateway *cfg, struct gw **out);

/* Applies changed settings (SIGHUP) to later requests: the token and the
 * timeouts. A new url, TLS setting or max_in_flight takes effect at the
 * next start (a changed url is logged). */
void gw_reconfigure(struct gw *gw, const struct config_gateway *cfg);

/* Starts the job; see above. id and body are copied; -EINVAL when the
 * body's "id" is not id. *out stays valid until done() has returned or
 * gw_job_cancel() is called; cancelling from inside accepted() or done()
 * is allowed. */
int gw_job_run(struct gw *gw, const char *id, const char *body,
    gw_accepted_cb accepted, gw_done_cb done, void *arg, struct gw_op **out);

/* Stops following; no callback will come. */
void gw_job_cancel(struct gw_op *op);

/* GET /v1/health: done(arg, ok, version-or-error). */
typedef void (*gw_health_cb)(void *arg, int ok, const char *text);
int gw_health(struct gw *gw, gw_health_cb cb, void *arg);

/* Cancels everything and closes; done(arg) when every handle is closed. */
void gw_close(struct gw *gw, void (*done)(void *arg), void *arg);

#endif
