/*
 * api — the simulator's HTTP server: libmicrohttpd in its own polling
 * thread, the gateway protocol under /v1 and the test endpoints under /sim.
 *
 * A request goes through these phases (struct api_req.phase):
 *
 *   NEW ──► answer ready ──► (slow_ms > 0: SLOW, held) ──► sent / dropped
 *    └──► POLL (a long poll, held) ──► answer ready ──► ...
 *
 * A held request is a suspended MHD connection on the held list with a
 * deadline (monotonic ns) and, for a long poll, the job and the state it
 * had. The timer thread sleeps on a condition variable until the earliest
 * of: a held deadline, the next simulated event (converted to real time);
 * it advances the model and resumes every held request whose job changed
 * state or whose deadline passed. Nothing busy-waits. Handlers signal the
 * timer whenever they add a held request or change the model.
 *
 * Lock order: sim.lock is taken by handlers and the timer; MHD's resume is
 * called with it held, and MHD never calls back into us while holding its
 * own locks on the paths we use.
 *
 * Error bodies: {"error": {"code": "bad_request", "message": "..."}}, the
 * code one of bad_request, unauthorized, forbidden, not_found,
 * method_not_allowed, conflict, too_large, internal, unavailable.
 */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "name.h"

#define API_MAX_BODY	(1024 * 1024)
#define API_MAX_WAIT_S	300.0

enum api_phase {
	API_NEW,
	API_POLL,		/* held: a long poll */
	API_SLOW,		/* held: the answer waits for slow_ms */
	API_DONE,
};

struct api_req {
	struct api *api;
	struct MHD_Connection *conn;
	enum api_phase phase;
	char *body;
	size_t len, cap;
	bool too_big;

	/* the answer */
	unsigned status;
	char *text;
	const char *allow;	/* 405: the Allow header */
	bool challenge;		/* 401: WWW-Authenticate */
	bool drop;		/* close without an answer */
	bool slowed;
	int64_t slow_ms;

	/* while held */
	bool linked;
	const struct sim_job *job;	/* long poll; NULL for a delay */
	enum sim_job_state seen;
	int64_t deadline_ns;
	struct api_req *prev, *next;
};

struct api {
	struct sim *sim;
	bool started;		/* MHD is up: its messages become debug */
	struct MHD_Daemon *mhd;
	pthread_t timer;
	bool timer_started;
	pthread_cond_t cond;	/* with sim.lock; CLOCK_MONOTONIC */
	bool stopping;
	struct api_req *held;
};

static const char *
api_code(unsigned status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 413: return "too_large";
	case 503: return "unavailable";
	default: return "internal";
	}
}

/* Sets the answer from body (stolen). Takes no lock: callers that built
 * body from the model hold sim.lock. */
static void
api_answer(struct api_req *r, unsigned status, json_t *body)
{
	free(r->text);
	r->text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	r->status = r->text ? status : 500;
	if (r->text == NULL)
		r->text = strdup("{\"error\":{\"code\":\"internal\","
		    "\"message\":\"out of memory\"}}");
}

static void
api_error(struct api_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
api_error(struct api_req *r, unsigned status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_answer(r, status, json_pack("{s:{s:s, s:s}}", "error", "code",
	    api_code(status), "message", msg));
}

/* --- held requests and the timer ----------------------------------------- */

/* Locked. Returns false when shutting down (answer at once instead). */
static bool
api_hold(struct api *api, struct api_req *r, const struct sim_job *job,
    int64_t deadline_ns)
{
	if (api->stopping)
		return false;
	r->job = job;
	r->seen = job ? job->state : SIM_JOB_QUEUED;
	r->deadline_ns = deadline_ns;
	r->prev = NULL;
	r->next = api->held;
	if (api->held != NULL)
		api->held->prev = r;
	api->held = r;
	r->linked = true;
	MHD_suspend_connection(r->conn);
	pthread_cond_signal(&api->cond);
	return true;
}

/* Locked. */
static void
api_unlink(struct api *api, struct api_req *r)
{
	if (!r->linked)
		return;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		api->held = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->linked = false;
}

/* Locked. */
static void
api_release(struct api *api, struct api_req *r)
{
	api_unlink(api, r);
	MHD_resume_connection(r->conn);
}

/* Locked: the simulated now, with the model advanced to it; wakes the
 * timer when jobs changed, so that their long polls are answered. */
static int64_t
api_advance(struct api *api)
{
	int64_t now = clock_now(&api->sim->clock);

	if (jobs_advance(api->sim, now) > 0)
		pthread_cond_signal(&api->cond);
	return now;
}

static void
api_wait(struct api *api, int64_t deadline_ns)
{
	struct timespec ts;

	if (deadline_ns == INT64_MAX) {
		pthread_cond_wait(&api->cond, &api->sim->lock);
		return;
	}
	ts.tv_sec = (time_t)(deadline_ns / 1000000000);
	ts.tv_nsec = (long)(deadline_ns % 1000000000);
	pthread_cond_timedwait(&api->cond, &api->sim->lock, &ts);
}

static void *
api_timer(void *arg)
{
	struct api *api = arg;
	struct sim *sim = api->sim;

	pthread_mutex_lock(&sim->lock);
	while (!api->stopping) {
		int64_t mono, next = INT64_MAX, ev, at;
		struct api_req *r, *rn;

		jobs_advance(sim, clock_now(&sim->clock));
		mono = clock_mono_ns();
		for (r = api->held; r != NULL; r = rn) {
			rn = r->next;
			if ((r->job != NULL && r->job->state != r->seen) ||
			    r->deadline_ns <= mono)
				api_release(api, r);
			else if (r->deadline_ns < next)
				next = r->deadline_ns;
		}
		if ((ev = jobs_next_event(&sim->jobs)) != SIM_NEVER &&
		    (at = clock_real_ns(&sim->clock, ev)) < next)
			next = at;
		api_wait(api, next);
	}
	while (api->held != NULL)
		api_release(api, api->held);
	pthread_mutex_unlock(&sim->lock);
	return NULL;
}

/* --- /v1 ------------------------------------------------------------------ */

/* Constant-time on the token's bytes: the comparison must not tell an
 * attacker how much of a guess was right. */
static bool
api_authorized(const struct api *api, struct api_req *r)
{
	const char *want = api->sim->opt.token, *h, *got;
	size_t n;
	unsigned char diff = 0;

	if (want == NULL)
		return true;
	h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	got = h + 7;
	n = strlen(want);
	if (strlen(got) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(got[i] ^ want[i]);
	return diff == 0;
}

static void
api_log_post(const json_t *body, unsigned status, const struct sim_job *j,
    const char *why)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	const char *cmd = json_string_value(json_object_get(body, "command"));
	const json_t *target = json_object_get(body, "target");
	char *params = json_dumps(json_object_get(body, "parameters"),
	    JSON_COMPACT | JSON_ENCODE_ANY);

	if ((status == 201 || status == 200) && json_is_string(target))
		log_info("job '%s': %s%s on '%s' %s -> %u %s", id, cmd,
		    status == 200 ? " (replay)" : "", json_string_value(target),
		    params ? params : "{}", status, jobs_state_name(j->state));
	else if (status == 201 || status == 200)
		log_info("job '%s': %s%s %s -> %u %s", id, cmd,
		    status == 200 ? " (replay)" : "", params ? params : "{}",
		    status, jobs_state_name(j->state));
	else
		log_info("job '%s': %s -> %u %s", id ? id : "?",
		    cmd ? cmd : "?", status, why);
	free(params);
}

static void
api_jobs_post(struct api *api, struct api_req *r, bool lose)
{
	struct sim *sim = api->sim;
	json_error_t jerr;
	json_t *body, *request = NULL;
	struct sim_job *j = NULL;
	enum sim_cmd cmd;
	char msg[512];
	unsigned st;
	int64_t now;

	if (r->len == 0) {
		api_error(r, 400, "body: empty (expected a JSON job request)");
		return;
	}
	if ((body = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		api_error(r, 400, "body: invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return;
	}
	pthread_mutex_lock(&sim->lock);
	now = api_advance(api);
	st = (unsigned)cmd_validate(sim, body, &cmd, &request, msg,
	    sizeof(msg));
	if (st == 200) {
		const char *id = json_string_value(json_object_get(body, "id"));

		if ((j = jobs_find(&sim->jobs, id)) != NULL) {
			if (json_equal(j->request, request)) {
				j->replays++;
			} else {
				st = 409;
				snprintf(msg, sizeof(msg), "job '%s' exists with "
				    "a different request (%s); a new request "
				    "needs a new id", id, cmd_name(j->cmd));
			}
		} else if (jobs_submit(sim, id, cmd, request, now, &j) == 0) {
			st = 201;
			pthread_cond_signal(&api->cond);
		} else {
			st = 500;
			snprintf(msg, sizeof(msg), "out of memory");
		}
	}
	api_log_post(body, st, j, msg);
	if (st == 200 || st == 201)
		api_answer(r, st, jobs_job_json(j));
	else
		api_error(r, st, "%s", msg);
	json_decref(request);
	pthread_mutex_unlock(&sim->lock);
	json_decref(body);
	/* "lose": executed (or at least processed), answer never sent. */
	if (lose)
		r->drop = true;
}

/* Returns true when the request is now held for a long poll. */
static bool
api_jobs_get(struct api *api, struct api_req *r, const char *id)
{
	struct sim *sim = api->sim;
	const char *ws = MHD_lookup_connection_value(r->conn,
	    MHD_GET_ARGUMENT_KIND, "wait_s");
	struct sim_job *j;
	double wait = 0;
	bool held = false;

	if (ws != NULL) {
		char *end;

		errno = 0;
		wait = strtod(ws, &end);
		if (*ws == '\0' || *end != '\0' || errno != 0 ||
		    !isfinite(wait) || wait < 0) {
			api_error(r, 400, "wait_s: expected a number of seconds "
			    "(0 or more)");
			return false;
		}
		if (wait > API_MAX_WAIT_S)
			wait = API_MAX_WAIT_S;
	}
	pthread_mutex_lock(&sim->lock);
	api_advance(api);
	j = name_valid_job_id(id) ? jobs_find(&sim->jobs, id) : NULL;
	if (j == NULL)
		api_error(r, 404, "no job '%s'", id);
	else if (wait > 0 && !jobs_done(j) && api_hold(api, r, j,
	    clock_mono_ns() + (int64_t)(wait * 1e9)))
		held = true;
	else
		api_answer(r, 200, jobs_job_json(j));
	pthread_mutex_unlock(&sim->lock);
	return held;
}

/* A long poll ends: the job as it is now. */
static void
api_poll_done(struct api *api, struct api_req *r)
{
	pthread_mutex_lock(&api->sim->lock);
	api_advance(api);
	api_answer(r, 200, jobs_job_json(r->job));
	pthread_mutex_unlock(&api->sim->lock);
}

/* What a misbehaving proxy in front of the gateway might send. */
static void
api_garbage(struct api_req *r)
{
	free(r->text);
	r->text = strdup("<html><body><h1>Proxy Error</h1><p>The proxy "
	    "server received an invalid response from an upstream server."
	    "</p></body></html>\n");
	r->status = r->text ? 200 : 500;
}

static bool
api_v1(struct api *api, struct api_req *r, const char *url,
    const char *method)
{
	struct sim_draw d;

	pthread_mutex_lock(&api->sim->lock);
	d = faults_draw(api->sim);
	pthread_mutex_unlock(&api->sim->lock);
	r->slow_ms = d.slow_ms;
	if (d.drop) {
		r->drop = true;
		return false;
	}
	if (d.http_500) {
		api_error(r, 500, "injected fault: internal server error");
		return false;
	}
	if (d.garbage) {
		api_garbage(r);
		return false;
	}
	if (!api_authorized(api, r)) {
		r->challenge = true;
		api_error(r, 401, "missing or wrong bearer token");
		return false;
	}
	if (r->too_big) {
		api_error(r, 413, "body: larger than %d bytes", API_MAX_BODY);
		return false;
	}
	if (strcmp(url, "/v1/health") == 0) {
		if (strcmp(method, "GET") != 0) {
			r->allow = "GET";
			api_error(r, 405, "use GET");
			return false;
		}
		api_answer(r, 200, json_pack("{s:s, s:s}", "status", "ok",
		    "version", "exchange-sim " EXROLL_VERSION));
		return false;
	}
	if (strcmp(url, "/v1/jobs") == 0) {
		if (strcmp(method, "POST") != 0) {
			r->allow = "POST";
			api_error(r, 405, "use POST to submit a job");
			return false;
		}
		api_jobs_post(api, r, d.lose);
		return false;
	}
	if (strncmp(url, "/v1/jobs/", 9) == 0) {
		if (strcmp(method, "GET") != 0) {
			r->allow = "GET";
			api_error(r, 405, "use GET to read a job");
			return false;
		}
		return api_jobs_get(api, r, url + 9);
	}
	api_error(r, 404, "no such endpoint '%s'", url);
	return false;
}

/* --- /sim ---------------------------------------------------------------- */

static json_t *
api_body_json(struct api_req *r)
{
	json_error_t jerr;
	json_t *j;

	if (r->len == 0) {
		api_error(r, 400, "body: empty (expected JSON)");
		return NULL;
	}
	j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		api_error(r, 400, "body: invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
	return j;
}

/* allow is "GET", "POST" or "GET, POST". */
static bool
api_method(struct api_req *r, const char *method, const char *allow)
{
	if ((strcmp(method, "GET") == 0 && strstr(allow, "GET") != NULL) ||
	    (strcmp(method, "POST") == 0 && strstr(allow, "POST") != NULL))
		return true;
	r->allow = allow;
	api_error(r, 405, "use %s", allow);
	return false;
}

static void
api_sim(struct api *api, struct api_req *r, const char *url,
    const char *method)
{
	struct sim *sim = api->sim;
	char err[512];
	json_t *body;
	int64_t now;

	if (r->too_big) {
		api_error(r, 413, "body: larger than %d bytes", API_MAX_BODY);
		return;
	}
	if (strcmp(url, "/sim/record") == 0) {
		if (!api_method(r, method, "GET"))
			return;
		pthread_mutex_lock(&sim->lock);
		api_advance(api);
		api_answer(r, 200, record_json(sim));
		pthread_mutex_unlock(&sim->lock);
	} else if (strcmp(url, "/sim/state") == 0) {
		if (!api_method(r, method, "GET"))
			return;
		pthread_mutex_lock(&sim->lock);
		now = api_advance(api);
		api_answer(r, 200, org_state_json(sim, now));
		pthread_mutex_unlock(&sim->lock);
	} else if (strcmp(url, "/sim/faults") == 0) {
		if (!api_method(r, method, "GET, POST"))
			return;
		body = NULL;
		if (strcmp(method, "POST") == 0 &&
		    (body = api_body_json(r)) == NULL)
			return;
		pthread_mutex_lock(&sim->lock);
		if (body != NULL && faults_update(sim, body, err,
		    sizeof(err)) != 0) {
			api_error(r, 400, "%s", err);
		} else {
			if (body != NULL)
				log_info("faults changed");
			api_answer(r, 200, faults_json(&sim->faults));
		}
		pthread_mutex_unlock(&sim->lock);
		json_decref(body);
	} else if (strcmp(url, "/sim/webhook") == 0) {
		if (!api_method(r, method, "POST") ||
		    (body = api_body_json(r)) == NULL)
			return;
		pthread_mutex_lock(&sim->lock);
		if (record_webhook(sim, body) == 0)
			api_answer(r, 200, json_pack("{s:s}", "status", "ok"));
		else
			api_error(r, 500, "out of memory");
		pthread_mutex_unlock(&sim->lock);
	} else if (strcmp(url, "/sim/webhooks") == 0) {
		if (!api_method(r, method, "GET"))
			return;
		pthread_mutex_lock(&sim->lock);
		api_answer(r, 200, record_webhooks_json(sim));
		pthread_mutex_unlock(&sim->lock);
	} else {
		api_error(r, 404, "no such endpoint '%s'", url);
	}
}

/* --- MHD glue ------------------------------------------------------------ */

static void
api_body_add(struct api_req *r, const char *data, size_t n)
{
	if (r->too_big)
		return;
	if (r->len + n > API_MAX_BODY) {
		/* Keep reading (MHD needs the body consumed) but drop it. */
		r->too_big = true;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 1024;
		char *nb;

		while (cap < r->len + n)
			cap *= 2;
		if ((nb = realloc(r->body, cap)) == NULL) {
			r->too_big = true;	/* answered 413: close enough */
			return;
		}
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
}

static enum MHD_Result
api_send(struct api *api, struct api_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->slow_ms > 0 && !r->slowed) {
		bool held;

		r->slowed = true;
		pthread_mutex_lock(&api->sim->lock);
		held = api_hold(api, r, NULL,
		    clock_mono_ns() + r->slow_ms * 1000000);
		pthread_mutex_unlock(&api->sim->lock);
		if (held) {
			r->phase = API_SLOW;
			return MHD_YES;
		}
	}
	r->phase = API_DONE;
	if (r->drop)
		return MHD_NO;
	if (r->text == NULL)
		return MHD_NO;	/* no answer could be built: out of memory */
	resp = MHD_create_response_from_buffer(strlen(r->text), r->text,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	if (r->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->challenge)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"exchange-sim\"");
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
api_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct api *api = cls;
	struct api_req *r = *req_cls;
	bool held = false;

	(void)version;
	if (r == NULL) {
		/* Headers only so far: set up, wait for the body. */
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->api = api;
		r->conn = conn;
		*req_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		api_body_add(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	switch (r->phase) {
	case API_NEW:
		if (strncmp(url, "/v1/", 4) == 0)
			held = api_v1(api, r, url, method);
		else if (strncmp(url, "/sim/", 5) == 0)
			api_sim(api, r, url, method);
		else
			api_error(r, 404, "no such endpoint '%s'", url);
		break;
	case API_POLL:
		api_poll_done(api, r);
		break;
	case API_SLOW:
		break;
	case API_DONE:
		return MHD_YES;
	}
	if (held) {
		r->phase = API_POLL;
		return MHD_YES;
	}
	return api_send(api, r);
}

static void
api_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct api *api = cls;
	struct api_req *r = *req_cls;

	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	/* Not reached while held (MHD does not complete a suspended
	 * connection), but never leave a dangling entry. */
	if (r->linked) {
		pthread_mutex_lock(&api->sim->lock);
		api_unlink(api, r);
		pthread_mutex_unlock(&api->sim->lock);
	}
	free(r->body);
	free(r->text);
	free(r);
	*req_cls = NULL;
}

/* libmicrohttpd's own messages (a TLS handshake from a plain HTTP client,
 * a reset connection) are noise in operation, but say why start-up
 * failed. */
static void api_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct api *api = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	if (api->started)
		log_debug("libmicrohttpd: %s", msg);
	else
		log_warnx("libmicrohttpd: %s", msg);
}

int
api_start(struct sim *sim, int listen_fd, const char *cert, const char *key,
    struct api **out)
{
	struct MHD_OptionItem opts[10];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	pthread_condattr_t ca;
	struct api *api;
	size_t n = 0;
	int rc;

	if ((api = calloc(1, sizeof(*api))) == NULL)
		return -ENOMEM;
	api->sim = sim;
	if ((rc = -pthread_condattr_init(&ca)) != 0)
		goto fail_free;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = -pthread_cond_init(&api->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		goto fail_free;

	/* The logger first: MHD warns about any option parsed before it. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER,
	    (intptr_t)api_mhd_log, api };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET,
	    listen_fd, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
	    (intptr_t)api_completed, api };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
	    60, NULL };
	if (cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_warnx("this libmicrohttpd has no TLS support");
			rc = -ENOTSUP;
			goto fail_cond;
		}
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
		    0, (void *)(uintptr_t)cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY,
		    0, (void *)(uintptr_t)key };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	if ((rc = -pthread_create(&api->timer, NULL, api_timer, api)) != 0)
		goto fail_cond;
	api->timer_started = true;
	api->mhd = MHD_start_daemon(flags, 0, NULL, NULL, api_handler, api,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (api->mhd == NULL) {
		log_warnx("cannot start the http server (libmicrohttpd)");
		rc = -EIO;
		goto fail_timer;
	}
	api->started = true;
	*out = api;
	return 0;
fail_timer:
	pthread_mutex_lock(&sim->lock);
	api->stopping = true;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&sim->lock);
	pthread_join(api->timer, NULL);
fail_cond:
	pthread_cond_destroy(&api->cond);
fail_free:
	free(api);
	return rc;
}

void
api_stop(struct api *api)
{
	if (api == NULL)
		return;
	/* Every held request is resumed (answered with what it has) before
	 * MHD stops: MHD must not be stopped with suspended connections. */
	pthread_mutex_lock(&api->sim->lock);
	api->stopping = true;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->sim->lock);
	pthread_join(api->timer, NULL);
	MHD_stop_daemon(api->mhd);
	pthread_cond_destroy(&api->cond);
	free(api);
}
