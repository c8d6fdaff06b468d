/*
 * hooks — webhook and exec notifications (see hooks.h).
 *
 * Which events are notified (the kinds come from engine.c, upgrade.c and
 * cluster.c; the choice is made from each event's data, never from its
 * message, whose wording is for people):
 *
 *   cluster.checkpoint              a failover/failback waits for approval
 *   server.state, to_state failed   a server needs the operator
 *   cluster.blocked                 a cluster needs the operator
 *   rollout.state, to paused        paused (by a failure or an operator)
 *   rollout.state, to waiting_window   a window closed with work left (or
 *                                   the rollout starts outside one)
 *   rollout.state, waiting_window to running   a window opened
 *   rollout.state, to completed / aborted
 *
 * Everything else (phases, moves, operator commands, resumes) is not: the
 * operator who typed the command already knows, and `exrollctl watch` shows
 * it all. A transition without data is not notified (the daemon has
 * written every event with its data since migration 2 of the state file).
 * The payload is one JSON object, the same for both channels:
 *
 *   {"event": {"seq", "time" (RFC 3339), "kind", "subject", "message",
 *              "actor", "data"},
 *    "summary": "one line for people", "daemon": "<host name>"}
 *
 * (data as the control protocol's events show it: the object, or null.)
 *
 * One event gives one delivery per configured channel (webhook, exec). A
 * delivery's life (d->state):
 *
 *   hooks_event()          slot free                 2xx / exit 0
 *   ------------> READY ---------------> ACTIVE -----------------> DEAD
 *                   ^                      |  failure, attempts      ^
 *                   |   retry timer        v  left                   |
 *                   '---------------- BACKOFF                        |
 *                                          failure, no attempts left,|
 *     any state: dropped (queue full, channel unconfigured, close) --'
 *
 * (IDLE is the short passage around an attempt: taken off the ready list
 * and not started yet, or ended and its outcome being decided.) Every
 * change goes through hooks_dlv_set(), which keeps the lists and counters
 * below and logs "old -> new" at debug level. A DEAD delivery is on no
 * list; it is freed by the close callback of its last handle.
 *
 * Invariants:
 *  - a channel has at most HOOKS_*_ACTIVE deliveries ACTIVE and at most
 *    HOOKS_QUEUE_MAX alive; when full, the oldest delivery not ACTIVE is
 *    dropped with a warning: the newest news matters most;
 *  - a delivery has at most HOOKS_ATTEMPTS attempts, HOOKS_BACKOFF_MIN_MS
 *    apart, doubling up to HOOKS_BACKOFF_MAX_MS (a webhook's Retry-After,
 *    capped there too, when longer);
 *  - a webhook request is in flight exactly while its delivery is ACTIVE;
 *    an exec delivery is ACTIVE from uv_spawn() until its exit callback,
 *    and its timer then is the HOOKS_EXEC_TIMEOUT_MS deadline;
 *  - nothing here waits: the http client and libuv do the I/O, timers do
 *    the waiting. A delivery that cannot be made is logged and dropped:
 *    it never holds up the rollout.
 *
 * Exec: argv is {exec, event kind}, no shell; stdin is the payload (written
 * through a pipe, then closed); the environment is only EXROLL_EVENT_KIND,
 * EXROLL_EVENT_SUBJECT, EXROLL_EVENT_MESSAGE, EXROLL_EVENT_SEQ and PATH, so
 * nothing of the daemon's (NOTIFY_SOCKET, WATCHDOG_*) leaks into it. The
 * child's stdout and stderr go to the daemon's stderr (the journal). Each
 * child leads its own process group (UV_PROCESS_DETACHED), so a hook that
 * outlives its deadline is killed with everything it started.
 *
 * hooks_close() drops what is queued or waiting for a retry, cancels the
 * webhook request in flight, and gives running hooks HOOKS_CLOSE_TERM_MS
 * after SIGTERM, then SIGKILL, then HOOKS_CLOSE_ABANDON_MS more before
 * their handles are closed anyway: shutdown never waits for ever. done()
 * runs from the close callback of the last handle.
 */
#include "hooks.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "timefmt.h"

#define HOOKS_ATTEMPTS		5
#define HOOKS_BACKOFF_MIN_MS	1000
#define HOOKS_BACKOFF_MAX_MS	60000
#define HOOKS_QUEUE_MAX		1000	/* alive deliveries per channel */
/* One request at a time: notifications arrive in order, and a receiver
 * that hangs holds one of the gateway client's shared slots, not many. */
#define HOOKS_WEBHOOK_ACTIVE	1
#define HOOKS_WEBHOOK_TIMEOUT_S	15.0
#define HOOKS_EXEC_ACTIVE	2
#define HOOKS_EXEC_TIMEOUT_MS	60000
#define HOOKS_CLOSE_TERM_MS	2000
#define HOOKS_CLOSE_ABANDON_MS	2000
#define HOOKS_SUMMARY_MAX	1024
#define HOOKS_DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
				"/usr/bin:/sbin:/bin"

enum hooks_chan {
	HOOKS_WEBHOOK,
	HOOKS_EXEC,
	HOOKS_NCHAN,
};

enum hooks_state {
	DLV_NEW,	/* being built, on no list */
	DLV_READY,	/* on the channel's ready list, waiting for a slot */
	DLV_ACTIVE,	/* request in flight / child running */
	DLV_IDLE,	/* around an attempt: about to start, or just ended */
	DLV_BACKOFF,	/* retry timer running */
	DLV_DEAD,	/* on no list; freed when its handles are closed */
};

/* The environment of an exec hook: four variables, PATH, NULL. */
#define HOOKS_ENV_N 6

struct hooks_dlv {
	TAILQ_ENTRY(hooks_dlv) all;	/* the channel's alive list, oldest first */
	TAILQ_ENTRY(hooks_dlv) ready;	/* the channel's ready list (READY) */
	struct hooks *h;
	enum hooks_chan chan;
	enum hooks_state state;
	int attempts;			/* started so far */
	int64_t seq;
	char *kind;			/* exec: argv[1] */
	char *payload;			/* the JSON text */
	char *env[HOOKS_ENV_N];		/* exec only */
	int nhandles;			/* of timer, proc, in: not yet closed */
	uv_timer_t timer;		/* retry; exec ACTIVE: the deadline */
	struct http_req *req;		/* webhook ACTIVE */
	uv_process_t proc;		/* exec, from uv_spawn() to its close */
	uv_pipe_t in;			/* exec: the child's stdin */
	uv_write_t wreq;
	bool proc_open, in_open;	/* initialised and not yet closed */
	bool timed_out;			/* killed by the deadline */
};

TAILQ_HEAD(hooks_dlv_list, hooks_dlv);

struct hooks_queue {
	struct hooks_dlv_list all;
	struct hooks_dlv_list ready;
	size_t n;			/* on all */
	int active;			/* ACTIVE */
	int max_active;
};

struct hooks {
	uv_loop_t *loop;
	struct http *http;
	char *webhook_url;		/* NULL: channel off */
	char *exec;			/* NULL: channel off */
	char *env_path;			/* "PATH=...", for exec hooks */
	char host[256];
	struct hooks_queue q[HOOKS_NCHAN];
	uv_timer_t grace;		/* hooks_close(): the shutdown deadlines */
	int grace_stage;		/* 0 before SIGKILL, 1 after */
	int nhandles;			/* every handle of h and its deliveries */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

static const char *const hooks_chan_names[HOOKS_NCHAN] = {
	[HOOKS_WEBHOOK] = "webhook",
	[HOOKS_EXEC] = "exec hook",
};

static void hooks_pump(struct hooks *h, enum hooks_chan c);
static void hooks_grace_close(struct hooks *h);

/* ---- selection and payload ----------------------------------------------- */

/* The string member key of data, or NULL (data may be NULL). */
static const char *
hooks_dstr(const json_t *data, const char *key)
{
	return json_string_value(json_object_get(data, key));
}

/* Whether ev (with its parsed data, or NULL) is one an operator must hear
 * about; if so, its summary. */
static bool
hooks_select(const struct event *ev, const json_t *data, char *sum,
    size_t len)
{
	const char *kind = ev->kind, *subj = ev->subject, *msg = ev->message;
	const char *from, *to, *why;
	enum rollout_state rf, rt;

	if (kind == NULL || subj == NULL || msg == NULL)
		return false;
	/* These two are notified with their sentence as it is. */
	if (strcmp(kind, "cluster.checkpoint") == 0) {
		snprintf(sum, len, "cluster '%s': %s", subj, msg);
		return true;
	}
	if (strcmp(kind, "cluster.blocked") == 0) {
		snprintf(sum, len, "cluster '%s' needs the operator: %s", subj,
		    msg);
		return true;
	}
	if (strcmp(kind, "server.state") == 0) {
		to = hooks_dstr(data, "to_state");
		if (to == NULL ||
		    strcmp(to, server_state_name(SERVER_FAILED)) != 0)
			return false;
		if ((why = hooks_dstr(data, "error")) == NULL &&
		    (why = hooks_dstr(data, "reason")) == NULL)
			why = "";
		snprintf(sum, len, "server '%s' failed%s%s; then: exrollctl "
		    "retry %s (or skip)", subj, *why ? ": " : "", why, subj);
		return true;
	}
	if (strcmp(kind, "rollout.state") != 0 ||
	    (to = hooks_dstr(data, "to")) == NULL ||
	    rollout_state_parse(to, &rt) != 0)
		return false;
	if ((from = hooks_dstr(data, "from")) == NULL ||
	    rollout_state_parse(from, &rf) != 0)
		rf = rt;
	if ((why = hooks_dstr(data, "reason")) == NULL)
		why = "";
	switch (rt) {
	case ROLLOUT_PAUSED:
		snprintf(sum, len, "rollout paused%s%s", *why ? ": " : "", why);
		return true;
	case ROLLOUT_WAITING_WINDOW:
		snprintf(sum, len, "%s%s%s", rf == ROLLOUT_RUNNING ?
		    "maintenance window closed with work left" :
		    "rollout waiting for a maintenance window",
		    *why ? ": " : "", why);
		return true;
	case ROLLOUT_RUNNING:
		if (rf != ROLLOUT_WAITING_WINDOW)
			return false;	/* a resume: the operator knows */
		snprintf(sum, len, "maintenance window open: rollout running");
		return true;
	case ROLLOUT_COMPLETED:
		snprintf(sum, len, "rollout completed%s%s", *why ? ": " : "",
		    why);
		return true;
	case ROLLOUT_ABORTED:
		snprintf(sum, len, "rollout aborted%s%s", *why ? ": " : "", why);
		return true;
	}
	return false;
}

/* The event's data as its object (new reference), or NULL when it has
 * none or it does not parse as one. */
static json_t *
hooks_data(const struct event *ev)
{
	json_t *d;

	if (ev->data == NULL)
		return NULL;
	d = json_loads(ev->data, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(d)) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* The payload text (malloc'd), or NULL on ENOMEM. */
static char *
hooks_payload(const struct hooks *h, const struct event *ev,
    const json_t *data, const char *sum)
{
	char t[TIME_RFC3339_LEN];
	json_t *root = json_object(), *e = json_object();
	char *text = NULL;

	if (root == NULL || e == NULL)
		goto out;
	if (json_object_set_new(e, "seq", json_integer(ev->seq)) != 0 ||
	    json_object_set_new(e, "time", json_string(time_format_rfc3339(
	    ev->time, t, sizeof(t)))) != 0 ||
	    json_object_set_new(e, "kind", model_json_text(ev->kind)) != 0 ||
	    json_object_set_new(e, "subject", model_json_text(ev->subject)) != 0 ||
	    json_object_set_new(e, "message", model_json_text(ev->message)) != 0 ||
	    json_object_set_new(e, "actor", model_json_text(ev->actor)) != 0 ||
	    json_object_set_new(e, "data", data != NULL ?
	    json_deep_copy(data) : json_null()) != 0)
		goto out;
	/* set_new steals e even when it fails. */
	if (json_object_set_new(root, "event", e) != 0) {
		e = NULL;
		goto out;
	}
	e = NULL;
	if (json_object_set_new(root, "summary", model_json_text(sum)) != 0 ||
	    json_object_set_new(root, "daemon", model_json_text(h->host)) != 0)
		goto out;
	text = json_dumps(root, JSON_COMPACT);
out:
	json_decref(e);
	json_decref(root);
	return text;
}

/* ---- deliveries ------------------------------------------------------------ */

static void
hooks_maybe_done(struct hooks *h)
{
	void (*done)(void *arg);
	void *arg;

	if (!h->closing || h->nhandles > 0)
		return;
	done = h->done;
	arg = h->done_arg;
	free(h->webhook_url);
	free(h->exec);
	free(h->env_path);
	free(h);
	if (done != NULL)
		done(arg);
}

static void
hooks_dlv_free(struct hooks_dlv *d)
{
	free(d->kind);
	free(d->payload);
	for (int i = 0; i < HOOKS_ENV_N; i++)
		free(d->env[i]);
	free(d);
}

static void
hooks_dlv_handle_closed(uv_handle_t *hd)
{
	struct hooks_dlv *d = hd->data;
	struct hooks *h = d->h;

	if (hd == (uv_handle_t *)&d->proc)
		d->proc_open = false;
	else if (hd == (uv_handle_t *)&d->in)
		d->in_open = false;
	d->nhandles--;
	h->nhandles--;
	if (d->state == DLV_DEAD && d->nhandles == 0)
		hooks_dlv_free(d);
	hooks_maybe_done(h);
}

static void
hooks_dlv_close_handle(uv_handle_t *hd)
{
	if (!uv_is_closing(hd))
		uv_close(hd, hooks_dlv_handle_closed);
}

static const char *
hooks_state_name(enum hooks_state st)
{
	switch (st) {
	case DLV_NEW:
		return "new";
	case DLV_READY:
		return "ready";
	case DLV_ACTIVE:
		return "active";
	case DLV_IDLE:
		return "idle";
	case DLV_BACKOFF:
		return "backoff";
	case DLV_DEAD:
		return "dead";
	}
	return "?";
}

/*
 * The one transition function: moves d to st, keeping the lists and
 * counters of the invariants at the top (the ready list holds exactly the
 * READY deliveries, q->active counts the ACTIVE ones, q->all every one not
 * DEAD). It does no I/O; callers start or stop what the state stands for.
 */
static void
hooks_dlv_set(struct hooks_dlv *d, enum hooks_state st)
{
	struct hooks_queue *q = &d->h->q[d->chan];
	enum hooks_state old = d->state;

	assert(old != DLV_DEAD && st != DLV_NEW && st != old);
	assert(st != DLV_ACTIVE || old == DLV_IDLE);
	switch (old) {
	case DLV_NEW:
		TAILQ_INSERT_TAIL(&q->all, d, all);
		q->n++;
		break;
	case DLV_READY:
		TAILQ_REMOVE(&q->ready, d, ready);
		break;
	case DLV_ACTIVE:
		q->active--;
		break;
	case DLV_IDLE:
	case DLV_BACKOFF:
	case DLV_DEAD:
		break;
	}
	switch (st) {
	case DLV_READY:
		TAILQ_INSERT_TAIL(&q->ready, d, ready);
		break;
	case DLV_ACTIVE:
		q->active++;
		break;
	case DLV_DEAD:
		TAILQ_REMOVE(&q->all, d, all);
		q->n--;
		break;
	case DLV_NEW:
	case DLV_IDLE:
	case DLV_BACKOFF:
		break;
	}
	d->state = st;
	assert(q->active >= 0 && q->active <= q->max_active);
	log_debug("notify: %s delivery of event %" PRId64 ": %s -> %s",
	    hooks_chan_names[d->chan], d->seq, hooks_state_name(old),
	    hooks_state_name(st));
}

/* Takes d off every list and closes its handles; it is freed from the last
 * close callback. A webhook request in flight is cancelled. */
static void
hooks_dlv_kill(struct hooks_dlv *d)
{
	if (d->state == DLV_DEAD)
		return;
	if (d->req != NULL) {
		http_cancel(d->req);
		d->req = NULL;
	}
	hooks_dlv_set(d, DLV_DEAD);
	uv_timer_stop(&d->timer);
	hooks_dlv_close_handle((uv_handle_t *)&d->timer);
	if (d->proc_open)
		hooks_dlv_close_handle((uv_handle_t *)&d->proc);
	if (d->in_open)
		hooks_dlv_close_handle((uv_handle_t *)&d->in);
}

static void
hooks_retry_cb(uv_timer_t *t)
{
	struct hooks_dlv *d = t->data;

	if (d->proc_open || d->in_open) {
		/* Defensive: the last child's handles close in the loop
		 * iteration that closed them, long before a backoff of at
		 * least HOOKS_BACKOFF_MIN_MS ends. Look again shortly. */
		uv_timer_start(&d->timer, hooks_retry_cb, 10, 0);
		return;
	}
	hooks_dlv_set(d, DLV_READY);
	hooks_pump(d->h, d->chan);
}

/* An attempt of d (IDLE) failed for why; retry_after_ms < 0: none given. */
static void
hooks_dlv_failed(struct hooks_dlv *d, const char *why, int64_t retry_after_ms)
{
	struct hooks *h = d->h;
	int64_t delay = HOOKS_BACKOFF_MIN_MS;
	char dur[32];

	if (h->closing) {
		hooks_dlv_kill(d);
		return;
	}
	if (d->attempts >= HOOKS_ATTEMPTS) {
		log_warnx("notify: %s for event %" PRId64 " failed (attempt %d "
		    "of %d), giving up: %s", hooks_chan_names[d->chan], d->seq,
		    d->attempts, HOOKS_ATTEMPTS, why);
		hooks_dlv_kill(d);
		return;
	}
	for (int i = 1; i < d->attempts && delay < HOOKS_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	if (delay > HOOKS_BACKOFF_MAX_MS)
		delay = HOOKS_BACKOFF_MAX_MS;
	log_warnx("notify: %s for event %" PRId64 " failed (attempt %d of %d), "
	    "retrying in %s: %s", hooks_chan_names[d->chan], d->seq,
	    d->attempts, HOOKS_ATTEMPTS,
	    time_format_duration(delay, dur, sizeof(dur)), why);
	hooks_dlv_set(d, DLV_BACKOFF);
	uv_timer_start(&d->timer, hooks_retry_cb, (uint64_t)delay, 0);
}

/* ---- webhook -------------------------------------------------------------- */

static void
hooks_post_done(void *arg, const struct http_response *res)
{
	struct hooks_dlv *d = arg;
	struct hooks *h = d->h;
	char why[256];
	int64_t ra;

	d->req = NULL;
	hooks_dlv_set(d, DLV_IDLE);
	if (res->outcome == HTTP_DONE && res->status >= 200 &&
	    res->status < 300) {
		log_debug("notify: webhook delivered event %" PRId64 " (HTTP "
		    "%ld)", d->seq, res->status);
		hooks_dlv_kill(d);
	} else if (res->outcome == HTTP_DONE && res->status >= 400 &&
	    res->status < 500 && res->status != 408 && res->status != 429) {
		/* The receiver understood and refused: the same request
		 * would be refused again. */
		log_warnx("notify: webhook refused event %" PRId64 " with HTTP "
		    "%ld, not retrying", d->seq, res->status);
		hooks_dlv_kill(d);
	} else {
		if (res->outcome == HTTP_DONE)
			snprintf(why, sizeof(why), "HTTP %ld", res->status);
		else
			snprintf(why, sizeof(why), "%s", res->error != NULL ?
			    res->error : "no answer");
		ra = res->retry_after_s >= 0 ? time_s_to_ms(
		    res->retry_after_s < HOOKS_BACKOFF_MAX_MS / 1000 ?
		    res->retry_after_s : HOOKS_BACKOFF_MAX_MS / 1000) : -1;
		hooks_dlv_failed(d, why, ra);
	}
	hooks_pump(h, HOOKS_WEBHOOK);
}

/* Starts an attempt of d, the first READY webhook delivery. */
static void
hooks_post_start(struct hooks_dlv *d)
{
	struct hooks *h = d->h;
	char why[128];
	int rc;

	hooks_dlv_set(d, DLV_IDLE);
	if (h->webhook_url == NULL) {
		log_debug("notify: webhook removed from the configuration; "
		    "dropping event %" PRId64, d->seq);
		hooks_dlv_kill(d);
		return;
	}
	d->attempts++;
	rc = http_request(h->http, "POST", h->webhook_url, NULL, d->payload,
	    HOOKS_WEBHOOK_TIMEOUT_S, hooks_post_done, d, &d->req);
	if (rc != 0) {
		snprintf(why, sizeof(why), "cannot start the request: %s",
		    strerror(-rc));
		hooks_dlv_failed(d, why, -1);
		return;
	}
	hooks_dlv_set(d, DLV_ACTIVE);
}

/* ---- exec ----------------------------------------------------------------- */

/* Kills the child's whole process group (it leads one), or at least the
 * child. */
static void
hooks_exec_signal(struct hooks_dlv *d, int sig)
{
	if (d->proc.pid <= 0 || kill(-d->proc.pid, sig) != 0)
		uv_process_kill(&d->proc, sig);
}

static void
hooks_exec_deadline(uv_timer_t *t)
{
	struct hooks_dlv *d = t->data;

	log_warnx("notify: exec hook '%s' for event %" PRId64 " still runs "
	    "after %d s: killing it", d->h->exec ? d->h->exec : "?", d->seq,
	    HOOKS_EXEC_TIMEOUT_MS / 1000);
	d->timed_out = true;
	hooks_exec_signal(d, SIGKILL);
}

static void
hooks_exec_written(uv_write_t *w, int status)
{
	struct hooks_dlv *d = w->data;

	/* A hook need not read its stdin: EPIPE is its business. */
	if (status < 0 && status != UV_ECANCELED)
		log_debug("notify: exec hook stdin for event %" PRId64 ": %s",
		    d->seq, uv_strerror(status));
	if (d->in_open)
		hooks_dlv_close_handle((uv_handle_t *)&d->in);
}

static void
hooks_exec_exited(uv_process_t *p, int64_t status, int sig)
{
	struct hooks_dlv *d = p->data;
	struct hooks *h = d->h;
	char why[128];

	uv_timer_stop(&d->timer);
	hooks_dlv_close_handle((uv_handle_t *)&d->proc);
	if (d->in_open)
		hooks_dlv_close_handle((uv_handle_t *)&d->in);
	hooks_dlv_set(d, DLV_IDLE);
	if (status == 0 && sig == 0) {
		log_debug("notify: exec hook delivered event %" PRId64, d->seq);
		hooks_dlv_kill(d);
	} else {
		if (d->timed_out)
			snprintf(why, sizeof(why), "killed after %d s",
			    HOOKS_EXEC_TIMEOUT_MS / 1000);
		else if (sig != 0)
			snprintf(why, sizeof(why), "killed by signal %d (%s)",
			    sig, strsignal(sig));
		else
			snprintf(why, sizeof(why), "exited with status %" PRId64,
			    status);
		hooks_dlv_failed(d, why, -1);
	}
	if (h->closing && h->q[HOOKS_EXEC].active == 0)
		hooks_grace_close(h);
	hooks_pump(h, HOOKS_EXEC);
}

/* Starts an attempt of d, the first READY exec delivery: the child, its
 * stdin written from the payload, its deadline. */
static void
hooks_exec_start(struct hooks_dlv *d)
{
	struct hooks *h = d->h;
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	uv_buf_t buf;
	char *argv[3];
	char why[PATH_MAX + 64];
	int rc;

	hooks_dlv_set(d, DLV_IDLE);
	if (h->exec == NULL) {
		log_debug("notify: exec hook removed from the configuration; "
		    "dropping event %" PRId64, d->seq);
		hooks_dlv_kill(d);
		return;
	}
	d->attempts++;
	d->timed_out = false;
	if ((rc = uv_pipe_init(h->loop, &d->in, 0)) != 0) {
		snprintf(why, sizeof(why), "cannot make a pipe: %s",
		    uv_strerror(rc));
		hooks_dlv_failed(d, why, -1);
		return;
	}
	d->in.data = d;
	d->in_open = true;
	d->nhandles++;
	h->nhandles++;

	argv[0] = h->exec;
	argv[1] = d->kind;
	argv[2] = NULL;
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&d->in;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = STDERR_FILENO;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = STDERR_FILENO;
	memset(&o, 0, sizeof(o));
	o.file = h->exec;
	o.args = argv;
	o.env = d->env;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.flags = UV_PROCESS_DETACHED;
	o.exit_cb = hooks_exec_exited;
	memset(&d->proc, 0, sizeof(d->proc));
	rc = uv_spawn(h->loop, &d->proc, &o);
	/* The handle is initialised even when the spawn failed, and must
	 * be closed either way. */
	d->proc.data = d;
	d->proc_open = true;
	d->nhandles++;
	h->nhandles++;
	if (rc != 0) {
		hooks_dlv_close_handle((uv_handle_t *)&d->proc);
		hooks_dlv_close_handle((uv_handle_t *)&d->in);
		snprintf(why, sizeof(why), "cannot run '%s': %s", h->exec,
		    uv_strerror(rc));
		hooks_dlv_failed(d, why, -1);
		return;
	}
	hooks_dlv_set(d, DLV_ACTIVE);
	log_debug("notify: exec hook '%s' for event %" PRId64 " started "
	    "(pid %d, attempt %d)", h->exec, d->seq, d->proc.pid, d->attempts);
	buf = uv_buf_init(d->payload, (unsigned)strlen(d->payload));
	d->wreq.data = d;
	if ((rc = uv_write(&d->wreq, (uv_stream_t *)&d->in, &buf, 1,
	    hooks_exec_written)) != 0) {
		log_debug("notify: exec hook stdin for event %" PRId64 ": %s",
		    d->seq, uv_strerror(rc));
		hooks_dlv_close_handle((uv_handle_t *)&d->in);
	}
	uv_timer_start(&d->timer, hooks_exec_deadline, HOOKS_EXEC_TIMEOUT_MS, 0);
}

/* ---- queues ---------------------------------------------------------------- */

/* Starts READY deliveries of channel c while it has free slots. */
static void
hooks_pump(struct hooks *h, enum hooks_chan c)
{
	struct hooks_queue *q = &h->q[c];
	struct hooks_dlv *d;

	while (!h->closing && q->active < q->max_active &&
	    (d = TAILQ_FIRST(&q->ready)) != NULL) {
		if (c == HOOKS_WEBHOOK)
			hooks_post_start(d);
		else
			hooks_exec_start(d);
	}
}

static int
hooks_env(char **dst, const char *name, const char *value)
{
	if (asprintf(dst, "%s=%s", name, value != NULL ? value : "") < 0) {
		*dst = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Queues one delivery of payload (copied) on channel c. */
static int
hooks_enqueue(struct hooks *h, enum hooks_chan c, const struct event *ev,
    const char *payload)
{
	struct hooks_queue *q = &h->q[c];
	struct hooks_dlv *d, *old;
	char seq[32];
	int rc = -ENOMEM;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->h = h;
	d->chan = c;
	d->state = DLV_NEW;
	d->seq = ev->seq;
	if ((d->payload = strdup(payload)) == NULL)
		goto fail;
	if (c == HOOKS_EXEC) {
		snprintf(seq, sizeof(seq), "%" PRId64, ev->seq);
		if ((d->kind = strdup(ev->kind)) == NULL ||
		    hooks_env(&d->env[0], "EXROLL_EVENT_KIND", ev->kind) != 0 ||
		    hooks_env(&d->env[1], "EXROLL_EVENT_SUBJECT",
		    ev->subject) != 0 ||
		    hooks_env(&d->env[2], "EXROLL_EVENT_MESSAGE",
		    ev->message) != 0 ||
		    hooks_env(&d->env[3], "EXROLL_EVENT_SEQ", seq) != 0 ||
		    (d->env[4] = strdup(h->env_path)) == NULL)
			goto fail;
	}
	if ((rc = uv_timer_init(h->loop, &d->timer)) != 0)
		goto fail;
	d->timer.data = d;
	d->nhandles++;
	h->nhandles++;

	if (q->n >= HOOKS_QUEUE_MAX) {
		TAILQ_FOREACH(old, &q->all, all) {
			if (old->state != DLV_ACTIVE)
				break;
		}
		if (old != NULL) {
			log_warnx("notify: %s queue full (%d pending): dropping "
			    "event %" PRId64, hooks_chan_names[c],
			    HOOKS_QUEUE_MAX, old->seq);
			hooks_dlv_kill(old);
		}
	}
	hooks_dlv_set(d, DLV_READY);
	hooks_pump(h, c);
	return 0;
fail:
	hooks_dlv_free(d);
	return rc;
}

/* ---- the interface ----------------------------------------------------------- */

/* Sets *dst to a copy of src (NULL stays NULL). Returns 0 or -ENOMEM, and
 * leaves *dst alone on failure. */
static int
hooks_strdup_opt(char **dst, const char *src)
{
	char *s = NULL;

	if (src != NULL && (s = strdup(src)) == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int
hooks_new(uv_loop_t *loop, struct http *http,
    const struct config_notify *cfg, struct hooks **out)
{
	struct hooks *h;
	const char *path = getenv("PATH");
	int rc = -ENOMEM;

	if (loop == NULL || cfg == NULL || out == NULL ||
	    (cfg->webhook_url != NULL && http == NULL))
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->loop = loop;
	h->http = http;
	for (int c = 0; c < HOOKS_NCHAN; c++) {
		TAILQ_INIT(&h->q[c].all);
		TAILQ_INIT(&h->q[c].ready);
	}
	h->q[HOOKS_WEBHOOK].max_active = HOOKS_WEBHOOK_ACTIVE;
	h->q[HOOKS_EXEC].max_active = HOOKS_EXEC_ACTIVE;
	if (hooks_strdup_opt(&h->webhook_url, cfg->webhook_url) != 0 ||
	    hooks_strdup_opt(&h->exec, cfg->exec) != 0 ||
	    asprintf(&h->env_path, "PATH=%s", path != NULL && *path ?
	    path : HOOKS_DEFAULT_PATH) < 0) {
		h->env_path = NULL;
		goto fail;
	}
	if (gethostname(h->host, sizeof(h->host) - 1) != 0 || !h->host[0])
		snprintf(h->host, sizeof(h->host), "unknown");
	if ((rc = uv_timer_init(loop, &h->grace)) != 0)
		goto fail;
	h->grace.data = h;
	h->nhandles++;
	*out = h;
	return 0;
fail:
	free(h->webhook_url);
	free(h->exec);
	free(h->env_path);
	free(h);
	return rc;
}

void
hooks_reconfigure(struct hooks *h, const struct config_notify *cfg)
{
	char *url = NULL, *exec = NULL;

	if (h == NULL || h->closing || cfg == NULL)
		return;
	if (cfg->webhook_url != NULL && h->http == NULL) {
		log_warnx("notify: a webhook needs the http client; "
		    "'webhook_url' is ignored until the next start");
	} else if (hooks_strdup_opt(&url, cfg->webhook_url) != 0) {
		log_warnx("notify: out of memory; notification settings "
		    "left unchanged");
		return;
	}
	if (hooks_strdup_opt(&exec, cfg->exec) != 0) {
		free(url);
		log_warnx("notify: out of memory; notification settings "
		    "left unchanged");
		return;
	}
	/* Deliveries already queued follow the new settings: a retry goes
	 * to the corrected URL, and a removed channel drops them. */
	free(h->webhook_url);
	h->webhook_url = url;
	free(h->exec);
	h->exec = exec;
	for (int c = 0; c < HOOKS_NCHAN; c++)
		hooks_pump(h, (enum hooks_chan)c);
}

void
hooks_event(struct hooks *h, const struct event *ev)
{
	char sum[HOOKS_SUMMARY_MAX];
	char *payload;
	json_t *data;
	bool selected;

	if (h == NULL || h->closing || ev == NULL ||
	    (h->webhook_url == NULL && h->exec == NULL))
		return;
	data = hooks_data(ev);
	selected = hooks_select(ev, data, sum, sizeof(sum));
	payload = selected ? hooks_payload(h, ev, data, sum) : NULL;
	json_decref(data);
	if (!selected)
		return;
	if (payload == NULL) {
		log_warnx("notify: out of memory; event %" PRId64 " not "
		    "notified", ev->seq);
		return;
	}
	log_debug("notify: event %" PRId64 ": %s", ev->seq, sum);
	if (h->webhook_url != NULL &&
	    hooks_enqueue(h, HOOKS_WEBHOOK, ev, payload) != 0)
		log_warnx("notify: out of memory; event %" PRId64 " not sent "
		    "to the webhook", ev->seq);
	if (h->exec != NULL && hooks_enqueue(h, HOOKS_EXEC, ev, payload) != 0)
		log_warnx("notify: out of memory; event %" PRId64 " not given "
		    "to the exec hook", ev->seq);
	free(payload);
}

static void
hooks_grace_closed(uv_handle_t *hd)
{
	struct hooks *h = hd->data;

	h->nhandles--;
	hooks_maybe_done(h);
}

static void
hooks_grace_close(struct hooks *h)
{
	if (uv_is_closing((uv_handle_t *)&h->grace))
		return;
	uv_timer_stop(&h->grace);
	uv_close((uv_handle_t *)&h->grace, hooks_grace_closed);
}

/* Shutdown: hooks still running after SIGTERM get SIGKILL; after that,
 * their handles are closed without waiting any longer. */
static void
hooks_grace_cb(uv_timer_t *t)
{
	struct hooks *h = t->data;
	struct hooks_dlv *d, *next;

	for (d = TAILQ_FIRST(&h->q[HOOKS_EXEC].all); d != NULL; d = next) {
		next = TAILQ_NEXT(d, all);
		if (d->state != DLV_ACTIVE)
			continue;
		if (h->grace_stage == 0) {
			log_warnx("notify: exec hook (pid %d) ignores SIGTERM "
			    "at shutdown: killing it", d->proc.pid);
			hooks_exec_signal(d, SIGKILL);
		} else {
			log_warnx("notify: exec hook (pid %d) did not exit "
			    "after SIGKILL; not waiting for it", d->proc.pid);
			hooks_dlv_kill(d);
		}
	}
	if (h->grace_stage++ == 0 && h->q[HOOKS_EXEC].active > 0)
		uv_timer_start(&h->grace, hooks_grace_cb,
		    HOOKS_CLOSE_ABANDON_MS, 0);
	else
		hooks_grace_close(h);
}

void
hooks_close(struct hooks *h, void (*done)(void *arg), void *arg)
{
	struct hooks_dlv *d, *next;
	size_t dropped = 0;

	if (h == NULL || h->closing)
		return;
	h->closing = true;
	h->done = done;
	h->done_arg = arg;
	for (int c = 0; c < HOOKS_NCHAN; c++) {
		for (d = TAILQ_FIRST(&h->q[c].all); d != NULL; d = next) {
			next = TAILQ_NEXT(d, all);
			if (c == HOOKS_EXEC && d->state == DLV_ACTIVE) {
				/* Its exit callback takes it from here. */
				hooks_exec_signal(d, SIGTERM);
				continue;
			}
			dropped++;
			hooks_dlv_kill(d);
		}
	}
	if (dropped > 0)
		log_warnx("notify: stopping with %zu notification%s not "
		    "delivered", dropped, dropped == 1 ? "" : "s");
	if (h->q[HOOKS_EXEC].active > 0)
		uv_timer_start(&h->grace, hooks_grace_cb, HOOKS_CLOSE_TERM_MS, 0);
	else
		hooks_grace_close(h);
}
