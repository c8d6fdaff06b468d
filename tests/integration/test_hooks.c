/*
 * test_hooks — hooks.c on a real uv loop: webhook deliveries to the real
 * exchange-sim (/sim/webhook) and to a scripted HTTP server on the test's
 * own loop (retries, Retry-After, refusals), a webhook to a closed port
 * (bounded retries while the loop keeps ticking), exec hooks (shell
 * scripts written by the test: payload on stdin, environment, argv,
 * retries after a failure or a signal) and shutdown (a hook that ignores
 * SIGTERM is killed; queued deliveries are dropped; the loop ends empty).
 *
 * The 60 s deadline of a running hook is not shortened for tests (hooks.h
 * exposes no knob): the kill path is exercised through hooks_close()
 * instead, which uses the same signalling.
 *
 * Nothing sleeps: run_until() runs the loop until a condition holds or a
 * deadline passes; a 20 ms ticker keeps the loop waking up to re-check
 * conditions and measures the longest gap between its ticks, which is how
 * "never blocks the loop" is asserted. What the daemon tells the operator
 * (warnings) is read back from stderr, captured into a file.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "config.h"
#include "hooks.h"
#include "http.h"
#include "log.h"
#include "model.h"
#include "testutil.h"
#include "timefmt.h"

#define TICK_MS 20
/* 2026-11-28T20:00:00Z */
#define EVENT_TIME_MS INT64_C(1795896000000)
#define EVENT_TIME_STR "2026-11-28T20:00:00.000Z"

/* --- the scripted HTTP server --------------------------------------------- */

#define SRV_MAX 16

struct srv_req {
	int64_t at_ms;
	char *head;		/* request line and headers */
	char *body;
};

struct srv;

struct srv_conn {
	uv_tcp_t tcp;
	struct srv *s;
	char *buf;
	size_t len, cap;
	char rbuf[4096];
	char out[256];
	uv_write_t w;
	bool answered;
};

struct srv {
	uv_tcp_t listener;
	int port;
	int nreq;
	struct srv_req req[SRV_MAX];
	int status[SRV_MAX];		/* answer to request i; 0: 204 */
	const char *headers[SRV_MAX];	/* extra header lines, or NULL */
	struct srv_conn *conns[SRV_MAX];
	int nconns;			/* not yet closed */
};

/* --- the fixture ------------------------------------------------------------ */

struct fx {
	uv_loop_t loop;
	uv_timer_t deadline;
	bool expired;
	uv_timer_t ticker;
	int64_t ticks;
	int64_t last_tick;
	int64_t max_gap;
	char *dir;
	struct http *http;
	struct hooks *hooks;
	struct config_notify cfg;
	char url[256];
	char exec[512];
	struct tu_sim sim;
	bool sim_on;
	struct srv srv;
	bool srv_on;
	int saved_stderr;
	char *logpath;
};

static void
on_deadline(uv_timer_t *t)
{
	struct fx *fx = t->data;

	fx->expired = true;
}

static void
on_tick(uv_timer_t *t)
{
	struct fx *fx = t->data;
	int64_t now = time_mono_ms();

	if (fx->ticks > 0 && now - fx->last_tick > fx->max_gap)
		fx->max_gap = now - fx->last_tick;
	fx->last_tick = now;
	fx->ticks++;
}

/* Runs the loop until cond(arg) holds; false when ms passed first. */
static bool
run_until(struct fx *fx, bool (*cond)(void *), void *arg, int ms)
{
	fx->expired = false;
	uv_timer_start(&fx->deadline, on_deadline, (uint64_t)tu_ms(ms), 0);
	while (!cond(arg) && !fx->expired)
		uv_run(&fx->loop, UV_RUN_ONCE);
	uv_timer_stop(&fx->deadline);
	return cond(arg);
}

static bool
flag_set(void *arg)
{
	return *(bool *)arg;
}

static void
fx_init(struct fx *fx, const char *tag)
{
	struct http_opts opts = { .timeout_s = 10 };

	memset(fx, 0, sizeof(*fx));
	fx->saved_stderr = -1;
	ck_assert_int_eq(uv_loop_init(&fx->loop), 0);
	ck_assert_int_eq(uv_timer_init(&fx->loop, &fx->deadline), 0);
	fx->deadline.data = fx;
	ck_assert_int_eq(uv_timer_init(&fx->loop, &fx->ticker), 0);
	fx->ticker.data = fx;
	ck_assert_int_eq(uv_timer_start(&fx->ticker, on_tick, TICK_MS,
	    TICK_MS), 0);
	fx->dir = tu_tmpdir(tag);
	ck_assert_ptr_nonnull(fx->dir);
	ck_assert_int_eq(http_new(&fx->loop, &opts, &fx->http), 0);
}

static void
fx_hooks(struct fx *fx, const char *url, const char *exec)
{
	if (url != NULL)
		snprintf(fx->url, sizeof(fx->url), "%s", url);
	if (exec != NULL)
		snprintf(fx->exec, sizeof(fx->exec), "%s", exec);
	fx->cfg.webhook_url = url != NULL ? fx->url : NULL;
	fx->cfg.exec = exec != NULL ? fx->exec : NULL;
	ck_assert_int_eq(hooks_new(&fx->loop, fx->http, &fx->cfg, &fx->hooks),
	    0);
}

static void
on_closed(void *arg)
{
	*(bool *)arg = true;
}

/* Closes the hooks; returns how long that took (ms). */
static int64_t
fx_close_hooks(struct fx *fx)
{
	bool closed = false;
	int64_t t0 = time_mono_ms();

	if (fx->hooks == NULL)
		return 0;
	hooks_close(fx->hooks, on_closed, &closed);
	fx->hooks = NULL;
	ck_assert_msg(run_until(fx, flag_set, &closed, 15000),
	    "hooks_close did not call done");
	return time_mono_ms() - t0;
}

static void srv_close(struct srv *s);

/* Captures stderr (the daemon's log) into DIR/log. */
static void
cap_start(struct fx *fx)
{
	int fd;

	fx->logpath = tu_path(fx->dir, "log");
	ck_assert_ptr_nonnull(fx->logpath);
	fflush(stderr);
	fx->saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(fx->saved_stderr, 0);
	fd = open(fx->logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static void
cap_stop(struct fx *fx)
{
	if (fx->saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(fx->saved_stderr, STDERR_FILENO);
	close(fx->saved_stderr);
	fx->saved_stderr = -1;
}

/* The captured log so far (malloc'd, never NULL). */
static char *
cap_text(struct fx *fx)
{
	char *t;

	fflush(stderr);
	t = fx->logpath != NULL ? tu_read_file(fx->logpath) : NULL;
	return t != NULL ? t : strdup("");
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

struct log_wait {
	struct fx *fx;
	const char *needle;
	int n;
};

static bool
log_has(void *arg)
{
	struct log_wait *w = arg;
	char *t = cap_text(w->fx);
	bool ok = count_of(t, w->needle) >= w->n;

	free(t);
	return ok;
}

static void
fx_fini(struct fx *fx)
{
	bool closed = false;

	fx_close_hooks(fx);
	cap_stop(fx);
	http_close(fx->http, on_closed, &closed);
	ck_assert(run_until(fx, flag_set, &closed, 10000));
	if (fx->srv_on)
		srv_close(&fx->srv);
	uv_close((uv_handle_t *)&fx->ticker, NULL);
	uv_close((uv_handle_t *)&fx->deadline, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	/* Every handle, the hooks' and their children's included, is
	 * closed: the loop is empty. */
	ck_assert_int_eq(uv_loop_close(&fx->loop), 0);
	if (fx->srv_on) {
		for (int i = 0; i < fx->srv.nreq; i++) {
			free(fx->srv.req[i].head);
			free(fx->srv.req[i].body);
		}
	}
	if (fx->sim_on) {
		ck_assert_msg(!tu_proc_exited(&fx->sim.proc),
		    "exchange-sim died during the test");
		tu_sim_stop(&fx->sim);
	}
	free(fx->logpath);
	tu_rmrf(fx->dir);
	free(fx->dir);
}

/* --- events ------------------------------------------------------------------ */

/* An event as the engine commits it: data is its JSON object as text (the
 * daemon writes compact text), or NULL for an event without data. */
static struct event
mkev(int64_t seq, const char *kind, const char *subject, const char *msg,
    const char *data)
{
	struct event ev = {
		.seq = seq,
		.time = EVENT_TIME_MS,
		.kind = (char *)kind,
		.subject = (char *)subject,
		.message = (char *)msg,
		.actor = (char *)"exrolld",
		.data = (char *)data,
	};

	return ev;
}

static void
send_event(struct fx *fx, int64_t seq, const char *kind, const char *subject,
    const char *msg, const char *data)
{
	struct event ev = mkev(seq, kind, subject, msg, data);

	hooks_event(fx->hooks, &ev);
}

#define FAILED_MSG "install -> failed: setup exited with code 1603"
#define FAILED_DATA "{\"from_state\":\"running\",\"from_phase\":" \
	"\"install\",\"to_state\":\"failed\",\"to_phase\":\"install\"," \
	"\"reason\":\"setup exited with code 1603\",\"attempt\":3," \
	"\"attempts\":3,\"error\":\"setup exited with code 1603\"}"

/* A selected event for tests that only care about delivery. */
static void
send_failed(struct fx *fx, int64_t seq)
{
	send_event(fx, seq, "server.state", "CAS01", FAILED_MSG, FAILED_DATA);
}

/* --- the scripted server's code ----------------------------------------------- */

static void
srv_conn_closed(uv_handle_t *hd)
{
	struct srv_conn *c = hd->data;
	struct srv *s = c->s;

	for (int i = 0; i < SRV_MAX; i++) {
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	}
	s->nconns--;
	free(c->buf);
	free(c);
}

static void
srv_conn_close(struct srv_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, srv_conn_closed);
}

static void
srv_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct srv_conn *c = hd->data;

	(void)suggested;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
srv_written(uv_write_t *w, int status)
{
	(void)status;
	srv_conn_close(w->data);
}

/* Answers once the whole request (headers and Content-Length body) is in. */
static void
srv_try_answer(struct srv_conn *c)
{
	struct srv *s = c->s;
	const char *end, *cl;
	size_t hlen, blen = 0;
	struct srv_req *r;
	uv_buf_t b;
	int i, status;

	if (c->answered || c->buf == NULL ||
	    (end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return;
	hlen = (size_t)(end - c->buf);
	if ((cl = strcasestr(c->buf, "\r\nContent-Length:")) != NULL && cl < end)
		blen = strtoul(cl + 17, NULL, 10);
	if (c->len < hlen + 4 + blen)
		return;
	c->answered = true;
	ck_assert_int_lt(s->nreq, SRV_MAX);
	i = s->nreq++;
	r = &s->req[i];
	r->at_ms = time_mono_ms();
	r->head = strndup(c->buf, hlen);
	r->body = strndup(end + 4, blen);
	ck_assert(r->head != NULL && r->body != NULL);
	status = s->status[i] ? s->status[i] : 204;
	snprintf(c->out, sizeof(c->out), "HTTP/1.1 %d Scripted\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n%s\r\n", status,
	    s->headers[i] ? s->headers[i] : "");
	b = uv_buf_init(c->out, (unsigned)strlen(c->out));
	c->w.data = c;
	ck_assert_int_eq(uv_write(&c->w, (uv_stream_t *)&c->tcp, &b, 1,
	    srv_written), 0);
}

static void
srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct srv_conn *c = st->data;

	if (n < 0) {
		srv_conn_close(c);
		return;
	}
	if (n == 0)
		return;
	if (c->len + (size_t)n + 1 > c->cap) {
		size_t cap = (c->len + (size_t)n + 1) * 2;
		char *p = realloc(c->buf, cap);

		ck_assert_ptr_nonnull(p);
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, buf->base, (size_t)n);
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	srv_try_answer(c);
}

static void
srv_accept(uv_stream_t *l, int status)
{
	struct srv *s = l->data;
	struct srv_conn *c;
	int slot = -1;

	ck_assert_int_eq(status, 0);
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->s = s;
	ck_assert_int_eq(uv_tcp_init(l->loop, &c->tcp), 0);
	c->tcp.data = c;
	s->nconns++;
	for (int i = 0; i < SRV_MAX && slot < 0; i++) {
		if (s->conns[i] == NULL)
			slot = i;
	}
	ck_assert_int_ge(slot, 0);
	s->conns[slot] = c;
	ck_assert_int_eq(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	ck_assert_int_eq(uv_read_start((uv_stream_t *)&c->tcp, srv_alloc,
	    srv_read), 0);
}

static void
srv_start(struct fx *fx)
{
	struct srv *s = &fx->srv;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	ck_assert_int_eq(uv_tcp_init(&fx->loop, &s->listener), 0);
	s->listener.data = s;
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	ck_assert_int_eq(uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0),
	    0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&s->listener, 16,
	    srv_accept), 0);
	ck_assert_int_eq(uv_tcp_getsockname(&s->listener,
	    (struct sockaddr *)&ss, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	fx->srv_on = true;
}

static void
srv_close(struct srv *s)
{
	for (int i = 0; i < SRV_MAX; i++) {
		if (s->conns[i] != NULL)
			srv_conn_close(s->conns[i]);
	}
	uv_close((uv_handle_t *)&s->listener, NULL);
}

struct srv_wait {
	struct srv *s;
	int n;
};

static bool
srv_has(void *arg)
{
	struct srv_wait *w = arg;

	return w->s->nreq >= w->n;
}

/* A TCP port on 127.0.0.1 that nothing listens on: bound, then closed. */
static int
closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* --- payload checks ------------------------------------------------------------ */

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);

	ck_assert_msg(j != NULL, "payload is not JSON (%s): %s", err.text, text);
	return j;
}

static const char *
str_at(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);

	if (k2 != NULL)
		v = json_object_get(v, k2);
	ck_assert_msg(json_is_string(v), "'%s%s%s' is not a string", k1,
	    k2 ? "." : "", k2 ? k2 : "");
	return json_string_value(v);
}

/* Checks the payload's shape and the event it carries, data (JSON text,
 * or NULL for null) included. */
static void
check_payload(json_t *p, int64_t seq, const char *kind, const char *subject,
    const char *message, const char *data)
{
	char host[256] = "";
	json_t *e = json_object_get(p, "event");
	json_t *want = data != NULL ? json_loads(data, 0, NULL) : json_null();

	ck_assert_msg(json_is_object(e), "no event object");
	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(json_object_size(p), 3);
	ck_assert_int_eq(json_object_size(e), 7);
	ck_assert_msg(json_equal(json_object_get(e, "data"), want),
	    "the event's data is not %s", data != NULL ? data : "null");
	json_decref(want);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "seq")), seq);
	ck_assert_str_eq(str_at(p, "event", "time"), EVENT_TIME_STR);
	ck_assert_str_eq(str_at(p, "event", "kind"), kind);
	ck_assert_str_eq(str_at(p, "event", "subject"), subject);
	ck_assert_str_eq(str_at(p, "event", "message"), message);
	ck_assert_str_eq(str_at(p, "event", "actor"), "exrolld");
	ck_assert_msg(strlen(str_at(p, "summary", NULL)) > 0, "empty summary");
	ck_assert_ptr_null(strchr(str_at(p, "summary", NULL), '\n'));
	gethostname(host, sizeof(host) - 1);
	ck_assert_str_eq(str_at(p, "daemon", NULL), host);
}

/* --- webhook to exchange-sim ----------------------------------------------------- */

struct sim_wait {
	const struct tu_sim *sim;
	size_t n;
	json_t *received;	/* the last answer's array */
	json_t *res;
};

static bool
sim_has(void *arg)
{
	struct sim_wait *w = arg;

	json_decref(w->res);
	w->res = tu_sim_get(w->sim, "/sim/webhooks");
	w->received = json_object_get(w->res, "received");
	return json_array_size(w->received) >= w->n;
}

/* Rollout transitions' data, as engine_rollout_set() writes it. */
#define RO(from, to, cause, reason) "{\"from\":\"" from "\",\"to\":\"" \
	to "\",\"cause\":\"" cause "\",\"reason\":\"" reason "\"}"

static const struct {
	const char *kind, *subject, *message, *data;
	const char *summary;	/* a phrase of the summary; NULL: not sent */
} sel[] = {
	{ "server.phase", "CAS01", "precheck -> install: setup started",
	  "{\"from_state\":\"running\",\"from_phase\":\"precheck\","
	  "\"to_state\":\"running\",\"to_phase\":\"install\","
	  "\"reason\":\"setup started\"}", NULL },
	{ "server.state", "CAS01", "install -> failed: setup said \xff",
	  "{\"from_state\":\"running\",\"from_phase\":\"install\","
	  "\"to_state\":\"failed\",\"to_phase\":\"install\","
	  "\"reason\":\"setup said ?\",\"error\":\"setup said ?\"}",
	  "server 'CAS01' failed: setup said ?" },
	{ "server.state", "CAS02", "failed -> precheck: retried",
	  "{\"from_state\":\"failed\",\"from_phase\":\"install\","
	  "\"to_state\":\"running\",\"to_phase\":\"precheck\","
	  "\"reason\":\"retried\"}", NULL },
	{ "cluster.checkpoint", "CMS1", "failover of 'CMS1' to 'MBX1B' waits "
	  "for approval: exrollctl approve CMS1",
	  "{\"checkpoint\":\"failover\",\"target\":\"MBX1B\"}",
	  "exrollctl approve CMS1" },
	{ "operator", "rollout", "pause: lunch",
	  "{\"command\":\"pause\",\"reason\":\"lunch\"}", NULL },
	{ "rollout.state", "rollout", "running -> paused: paused by uid 1000 "
	  "(alice): lunch", RO("running", "paused", "operator", "paused by "
	  "uid 1000 (alice): lunch"), "rollout paused: paused by uid 1000" },
	{ "rollout.state", "rollout", "paused -> running: resumed by the "
	  "operator", RO("paused", "running", "none", "resumed by the "
	  "operator"), NULL },
	{ "cluster.step", "CMS1", "upgrade_passive -> failover: node done",
	  "{\"from\":\"upgrade_passive\",\"to\":\"failover\","
	  "\"reason\":\"node done\",\"node\":\"MBX1B\"}", NULL },
	{ "cluster.blocked", "CMS1", "CMS 'CMS1' is Failed on 'MBX1B'; fix it, "
	  "then: exrollctl retry CMS1", "{\"step\":\"failover\","
	  "\"reason\":\"CMS 'CMS1' is Failed on 'MBX1B'\"}",
	  "needs the operator" },
	{ "rollout.state", "rollout", "running -> waiting_window: outside the "
	  "maintenance window", RO("running", "waiting_window", "none",
	  "outside the maintenance window"), "window closed with work left: "
	  "outside the maintenance window" },
	{ "cluster.move", "CMS1", "moving CMS1 to MBX1B (job x)",
	  "{\"action\":\"cms_move\",\"step\":\"failover\","
	  "\"job\":\"x\",\"target\":\"MBX1B\"}", NULL },
	{ "rollout.state", "rollout", "waiting_window -> running: maintenance "
	  "window open", RO("waiting_window", "running", "none", "maintenance "
	  "window open"), "window open" },
	{ "rollout.state", "rollout", "running -> completed: every wave is done",
	  RO("running", "completed", "none", "every wave is done"),
	  "rollout completed" },
	{ "rollout.state", "rollout", "paused -> aborted: bad night",
	  RO("paused", "aborted", "none", "bad night"),
	  "rollout aborted: bad night" },
	/* A transition whose data says nothing of failure is not one,
	 * whatever its message says: the message is for people. */
	{ "server.state", "CAS03", "install -> failed: words only",
	  "{\"from_state\":\"running\",\"from_phase\":\"install\","
	  "\"to_state\":\"running\",\"to_phase\":\"precheck\","
	  "\"reason\":\"words only\"}", NULL },
	/* The last one is notified: see test_webhook_sim. */
	{ "rollout.state", "rollout", "running -> paused: the end",
	  RO("running", "paused", "failure", "the end"),
	  "rollout paused: the end" },
};

START_TEST(test_webhook_sim)
{
	struct fx fx;
	char *org = tu_src_path("contrib/examples/exroll.json");
	char url[128];
	struct sim_wait w = { 0 };
	size_t nsel = 0, k = 0;

	fx_init(&fx, "hooks-sim");
	cap_start(&fx);	/* the last answer may still be on its way */
	ck_assert_msg(tu_sim_start(&fx.sim, fx.dir, org, NULL) == 0,
	    "exchange-sim did not start (is build/exchange-sim built?)");
	fx.sim_on = true;
	snprintf(url, sizeof(url), "%ssim/webhook", fx.sim.url);
	fx_hooks(&fx, url, NULL);
	for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		send_event(&fx, (int64_t)i + 1, sel[i].kind, sel[i].subject,
		    sel[i].message, sel[i].data);
		nsel += sel[i].summary != NULL;
	}
	/* The last event is a notified one and deliveries go one at a time,
	 * in order: when it has arrived, every other one has had its turn. */
	w.sim = &fx.sim;
	w.n = nsel;
	ck_assert_msg(run_until(&fx, sim_has, &w, 20000),
	    "%zu of %zu notifications arrived", json_array_size(w.received),
	    nsel);
	ck_assert_int_eq(json_array_size(w.received), nsel);
	for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		json_t *p;
		const char *msg = sel[i].message;

		if (sel[i].summary == NULL)
			continue;
		p = json_array_get(w.received, k++);
		/* Bytes that are not UTF-8 arrive as '?': valid JSON. */
		if (strchr(msg, '\xff') != NULL)
			msg = "install -> failed: setup said ?";
		check_payload(p, (int64_t)i + 1, sel[i].kind, sel[i].subject,
		    msg, sel[i].data);
		ck_assert_msg(strstr(str_at(p, "summary", NULL),
		    sel[i].summary) != NULL, "summary '%s' lacks '%s'",
		    str_at(p, "summary", NULL), sel[i].summary);
	}
	json_decref(w.res);
	free(org);
	fx_fini(&fx);
}
END_TEST

/* --- webhook to the scripted server ----------------------------------------------- */

START_TEST(test_webhook_retry_after)
{
	struct fx fx;
	char url[128];
	struct srv_wait w = { &fx.srv, 3 };
	struct log_wait lw = { &fx, "webhook delivered event 7 (HTTP 204)", 1 };
	char *log;
	json_t *p;

	fx_init(&fx, "hooks-retry");
	cap_start(&fx);
	log_set_level(LOG_LEVEL_DEBUG);
	srv_start(&fx);
	fx.srv.status[0] = 503;
	fx.srv.headers[0] = "Retry-After: 2\r\n";
	fx.srv.status[1] = 500;
	fx.srv.status[2] = 204;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", fx.srv.port);
	fx_hooks(&fx, url, NULL);
	send_failed(&fx, 7);
	ck_assert_msg(run_until(&fx, srv_has, &w, 20000),
	    "%d of 3 attempts arrived", fx.srv.nreq);
	for (int i = 0; i < 3; i++) {
		const char *head = fx.srv.req[i].head;

		ck_assert_msg(strncmp(head, "POST /hook HTTP/1.1\r\n", 21) == 0,
		    "request line: %s", head);
		ck_assert_msg(strcasestr(head,
		    "\r\nContent-Type: application/json") != NULL,
		    "no JSON content type: %s", head);
		ck_assert_ptr_null(strcasestr(head, "\r\nAuthorization:"));
		ck_assert_str_eq(fx.srv.req[i].body, fx.srv.req[0].body);
	}
	p = parse(fx.srv.req[0].body);
	check_payload(p, 7, "server.state", "CAS01", FAILED_MSG, FAILED_DATA);
	json_decref(p);
	/* Retry-After: 2 beats the first backoff (1 s); then 2 s. A little
	 * slack for timer granularity. */
	ck_assert_int_ge(fx.srv.req[1].at_ms - fx.srv.req[0].at_ms, 1900);
	ck_assert_int_ge(fx.srv.req[2].at_ms - fx.srv.req[1].at_ms, 1900);
	ck_assert_int_lt(fx.max_gap, tu_ms(1000));
	/* The third answer ends it: delivered, nothing left to retry. */
	ck_assert_msg(run_until(&fx, log_has, &lw, 10000),
	    "the delivery was not recorded as done");
	log_set_level(LOG_LEVEL_INFO);
	fx_close_hooks(&fx);
	log = cap_text(&fx);
	ck_assert_msg(strstr(log, "not delivered") == NULL, "log: %s", log);
	free(log);
	ck_assert_int_eq(fx.srv.nreq, 3);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_webhook_refused_not_retried)
{
	struct fx fx;
	char url[128];
	struct log_wait lw = { &fx, "not retrying", 1 };
	char *log;

	fx_init(&fx, "hooks-refused");
	cap_start(&fx);
	srv_start(&fx);
	fx.srv.status[0] = 400;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", fx.srv.port);
	fx_hooks(&fx, url, NULL);
	send_failed(&fx, 8);
	ck_assert_msg(run_until(&fx, log_has, &lw, 10000),
	    "no refusal logged");
	ck_assert_int_eq(fx.srv.nreq, 1);
	log = cap_text(&fx);
	ck_assert_msg(strstr(log, "webhook refused event 8 with HTTP 400") !=
	    NULL, "log: %s", log);
	free(log);
	/* Nothing is pending any more: closing drops nothing. */
	fx_close_hooks(&fx);
	log = cap_text(&fx);
	ck_assert_ptr_null(strstr(log, "not delivered"));
	free(log);
	fx_fini(&fx);
}
END_TEST

/* --- webhook to a closed port --------------------------------------------------------- */

START_TEST(test_webhook_gives_up)
{
	struct fx fx;
	char url[128];
	struct log_wait lw = { &fx, "giving up", 1 };
	char *log;
	int64_t t0;

	fx_init(&fx, "hooks-closed");
	cap_start(&fx);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", closed_port());
	fx_hooks(&fx, url, NULL);
	t0 = time_mono_ms();
	send_failed(&fx, 9);
	ck_assert_msg(run_until(&fx, log_has, &lw, 40000),
	    "the webhook was not given up");
	log = cap_text(&fx);
	/* Five attempts, 1 + 2 + 4 + 8 s apart, each one logged. */
	ck_assert_msg(count_of(log, "webhook for event 9 failed (attempt") == 5,
	    "log: %s", log);
	ck_assert_ptr_nonnull(strstr(log, "(attempt 5 of 5), giving up"));
	ck_assert_ptr_null(strstr(log, "attempt 6"));
	ck_assert_int_ge(time_mono_ms() - t0, 15000 - 200);
	/* The loop kept running all along. */
	ck_assert_int_gt(fx.ticks, 15000 / TICK_MS / 4);
	ck_assert_msg(fx.max_gap < tu_ms(1000), "the loop stalled %lld ms",
	    (long long)fx.max_gap);
	free(log);
	fx_close_hooks(&fx);
	log = cap_text(&fx);
	ck_assert_ptr_null(strstr(log, "not delivered"));
	free(log);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_webhook_queue_bound_and_close)
{
	struct fx fx;
	char url[128];
	char *log;
	int64_t took;

	fx_init(&fx, "hooks-queue");
	cap_start(&fx);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", closed_port());
	fx_hooks(&fx, url, NULL);
	/* Event 1 goes out at once (in flight); 1..1000 fill the queue;
	 * 1001..1003 push out the oldest waiting ones, 2, 3 and 4. */
	for (int64_t seq = 1; seq <= 1003; seq++)
		send_failed(&fx, seq);
	log = cap_text(&fx);
	ck_assert_msg(count_of(log, "queue full") == 3, "log: %s", log);
	ck_assert_ptr_nonnull(strstr(log, "dropping event 2\n"));
	ck_assert_ptr_nonnull(strstr(log, "dropping event 3\n"));
	ck_assert_ptr_nonnull(strstr(log, "dropping event 4\n"));
	free(log);
	/* Retries pending, one request in flight: closing does not wait
	 * for any of them. */
	took = fx_close_hooks(&fx);
	ck_assert_int_lt(took, tu_ms(1000));
	log = cap_text(&fx);
	ck_assert_msg(strstr(log, "stopping with 1000 notifications not "
	    "delivered") != NULL, "log: %s", log);
	free(log);
	fx_fini(&fx);
}
END_TEST

/* --- exec hooks ----------------------------------------------------------------------------- */

static char *
write_script(struct fx *fx, const char *name, const char *body)
{
	char *path = tu_path(fx->dir, name);
	char *text;

	ck_assert_ptr_nonnull(path);
	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\nD='%s'\n%s", fx->dir,
	    body), 0);
	ck_assert_int_eq(tu_write_file(path, text), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(text);
	return path;
}

struct file_wait {
	char *path;
};

static bool
file_exists(void *arg)
{
	struct file_wait *w = arg;

	return access(w->path, F_OK) == 0;
}

static char *
read_in(struct fx *fx, const char *name)
{
	char *p = tu_path(fx->dir, name);
	char *t = tu_read_file(p);

	ck_assert_msg(t != NULL, "no file '%s'", name);
	free(p);
	return t;
}

START_TEST(test_exec_receives_event)
{
	struct fx fx;
	struct file_wait w;
	char *script, *in, *env, *args, *want;
	json_t *p;

	fx_init(&fx, "hooks-exec");
	script = write_script(&fx, "hook.sh",
	    "cat > \"$D/stdin.tmp\"\n"
	    "env > \"$D/env.tmp\"\n"
	    "printf '%s|%s|%s\\n' \"$#\" \"$1\" \"$0\" > \"$D/args.tmp\"\n"
	    "mv \"$D/stdin.tmp\" \"$D/stdin.json\"\n"
	    "mv \"$D/env.tmp\" \"$D/env.txt\"\n"
	    "mv \"$D/args.tmp\" \"$D/args.txt\"\n"
	    ": > \"$D/done\"\n");
	/* Must not reach the hook: it gets a fixed environment. */
	setenv("EXROLL_TEST_LEAK", "secret", 1);
	fx_hooks(&fx, NULL, script);
	send_event(&fx, 42, "cluster.checkpoint", "CMS1",
	    "failback of 'CMS1' to 'MBX1A' waits for approval: exrollctl "
	    "approve CMS1", "{\"checkpoint\":\"failback\",\"target\":"
	    "\"MBX1A\"}");
	w.path = tu_path(fx.dir, "done");
	ck_assert_msg(run_until(&fx, file_exists, &w, 10000),
	    "the exec hook did not run");

	in = read_in(&fx, "stdin.json");
	p = parse(in);
	check_payload(p, 42, "cluster.checkpoint", "CMS1",
	    "failback of 'CMS1' to 'MBX1A' waits for approval: exrollctl "
	    "approve CMS1", "{\"checkpoint\":\"failback\",\"target\":"
	    "\"MBX1A\"}");
	json_decref(p);

	env = read_in(&fx, "env.txt");
	ck_assert_msg(strstr(env, "EXROLL_EVENT_KIND=cluster.checkpoint\n") !=
	    NULL, "env: %s", env);
	ck_assert_ptr_nonnull(strstr(env, "EXROLL_EVENT_SUBJECT=CMS1\n"));
	ck_assert_ptr_nonnull(strstr(env, "EXROLL_EVENT_MESSAGE=failback of "
	    "'CMS1' to 'MBX1A' waits for approval: exrollctl approve CMS1\n"));
	ck_assert_ptr_nonnull(strstr(env, "EXROLL_EVENT_SEQ=42\n"));
	ck_assert_ptr_nonnull(strstr(env, "PATH="));
	ck_assert_msg(strstr(env, "EXROLL_TEST_LEAK") == NULL,
	    "the daemon's environment leaked into the hook: %s", env);

	/* argv: {exec, kind}, no shell in between. */
	args = read_in(&fx, "args.txt");
	ck_assert_int_ge(asprintf(&want, "1|cluster.checkpoint|%s\n", script),
	    0);
	ck_assert_str_eq(args, want);
	unsetenv("EXROLL_TEST_LEAK");
	free(want);
	free(in);
	free(args);
	free(env);
	free(w.path);
	free(script);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_exec_not_selected)
{
	struct fx fx;
	struct file_wait w;
	char *script, *runs;

	/* Events that are not notified never start the hook: it runs once,
	 * for the last (notified) event, whose seq it records. Transitions
	 * are told by their data: one without data (as schema 1 stored
	 * them) is not notified, whatever its message says. */
	fx_init(&fx, "hooks-exec-sel");
	script = write_script(&fx, "hook.sh",
	    "cat > /dev/null\n"
	    "echo \"$EXROLL_EVENT_SEQ\" >> \"$D/runs\"\n"
	    "[ \"$EXROLL_EVENT_SEQ\" = 6 ] && : > \"$D/done\"\n"
	    "exit 0\n");
	fx_hooks(&fx, NULL, script);
	send_event(&fx, 1, "server.phase", "CAS01", "precheck -> install: go",
	    "{\"from_state\":\"running\",\"from_phase\":\"precheck\","
	    "\"to_state\":\"running\",\"to_phase\":\"install\"}");
	send_event(&fx, 2, "rollout.state", "rollout",
	    "paused -> running: resumed by the operator",
	    RO("paused", "running", "none", "resumed by the operator"));
	send_event(&fx, 3, "server.state", "CAS01", "failed -> precheck: retry",
	    "{\"from_state\":\"failed\",\"from_phase\":\"install\","
	    "\"to_state\":\"running\",\"to_phase\":\"precheck\"}");
	send_event(&fx, 4, "server.state", "CAS01",
	    "install -> failed: no data", NULL);
	send_event(&fx, 5, "rollout.state", "rollout",
	    "running -> aborted: no data", NULL);
	send_event(&fx, 6, "rollout.state", "rollout",
	    "running -> aborted: abort: no",
	    RO("running", "aborted", "none", "abort: no"));
	w.path = tu_path(fx.dir, "done");
	ck_assert_msg(run_until(&fx, file_exists, &w, 10000),
	    "the exec hook did not run");
	runs = read_in(&fx, "runs");
	ck_assert_str_eq(runs, "6\n");
	free(runs);
	free(w.path);
	free(script);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_exec_failure_retried)
{
	struct fx fx;
	struct file_wait w;
	char *script, *count, *log, *in;
	json_t *p;

	fx_init(&fx, "hooks-exec-retry");
	cap_start(&fx);
	/* First run: exit 3; second: killed by SIGKILL; third: delivers. */
	script = write_script(&fx, "hook.sh",
	    "n=$(cat \"$D/count\" 2>/dev/null || echo 0)\n"
	    "n=$((n + 1))\n"
	    "echo $n > \"$D/count\"\n"
	    "case $n in 1) exit 3;; 2) kill -9 $$;; esac\n"
	    "cat > \"$D/stdin.json\"\n"
	    ": > \"$D/done\"\n");
	fx_hooks(&fx, NULL, script);
	send_failed(&fx, 11);
	w.path = tu_path(fx.dir, "done");
	ck_assert_msg(run_until(&fx, file_exists, &w, 20000),
	    "the exec hook was not retried to success");
	count = read_in(&fx, "count");
	ck_assert_str_eq(count, "3\n");
	log = cap_text(&fx);
	ck_assert_msg(strstr(log, "exec hook for event 11 failed (attempt 1 of "
	    "5), retrying in 1 s: exited with status 3") != NULL, "log: %s",
	    log);
	ck_assert_msg(strstr(log, "(attempt 2 of 5), retrying in 2 s: killed "
	    "by signal 9") != NULL, "log: %s", log);
	in = read_in(&fx, "stdin.json");
	p = parse(in);
	check_payload(p, 11, "server.state", "CAS01", FAILED_MSG, FAILED_DATA);
	json_decref(p);
	ck_assert_int_lt(fx.max_gap, tu_ms(1000));
	free(in);
	free(log);
	free(count);
	free(w.path);
	free(script);
	fx_fini(&fx);
}
END_TEST

static bool
pid_gone(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	char path[64], *stat, *rp;
	bool gone;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	/* A zombie (reparented, not reaped yet) is not running. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((stat = tu_read_file(path)) == NULL)
		return true;
	rp = strrchr(stat, ')');
	gone = rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
	free(stat);
	return gone;
}

START_TEST(test_exec_hung_killed_at_close)
{
	struct fx fx;
	struct file_wait w;
	char *script, *pids, *log;
	pid_t sh_pid, sleeper;
	int64_t took;

	fx_init(&fx, "hooks-exec-hang");
	cap_start(&fx);
	/* A hook that hangs and ignores SIGTERM, with a child of its own
	 * that blocks for ever (reading a pipe nobody writes). */
	script = write_script(&fx, "hook.sh",
	    "trap '' TERM\n"
	    "mkfifo \"$D/never\" && cat \"$D/never\" &\n"
	    "echo $$ $! > \"$D/pids.tmp\"\n"
	    "mv \"$D/pids.tmp\" \"$D/pids\"\n"
	    "wait\n");
	fx_hooks(&fx, NULL, script);
	send_failed(&fx, 12);
	w.path = tu_path(fx.dir, "pids");
	ck_assert_msg(run_until(&fx, file_exists, &w, 10000),
	    "the exec hook did not start");
	pids = read_in(&fx, "pids");
	ck_assert_int_eq(sscanf(pids, "%d %d", &sh_pid, &sleeper), 2);
	ck_assert_int_eq(kill(sh_pid, 0), 0);

	took = fx_close_hooks(&fx);
	/* SIGTERM, ignored; SIGKILL 2 s later to the whole group. */
	ck_assert_int_ge(took, 1900);
	ck_assert_int_lt(took, tu_ms(6000));
	ck_assert_msg(pid_gone(&sh_pid), "the hook still runs");
	ck_assert_msg(tu_wait(pid_gone, &sleeper, tu_ms(5000)),
	    "the hook's child still runs");
	log = cap_text(&fx);
	ck_assert_msg(strstr(log, "ignores SIGTERM at shutdown: killing it") !=
	    NULL, "log: %s", log);
	free(log);
	free(pids);
	free(w.path);
	free(script);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_exec_missing_program)
{
	struct fx fx;
	char *path = NULL, *log;
	struct log_wait lw = { &fx, "failed (attempt 2 of 5)", 1 };

	/* A program that cannot be run is a failed attempt like any other:
	 * logged, retried, and never a crash. */
	fx_init(&fx, "hooks-exec-missing");
	cap_start(&fx);
	path = tu_path(fx.dir, "no-such-hook");
	fx_hooks(&fx, NULL, path);
	send_failed(&fx, 13);
	ck_assert_msg(run_until(&fx, log_has, &lw, 10000), "no retry logged");
	log = cap_text(&fx);
	ck_assert_msg(strstr(log, "cannot run '") != NULL, "log: %s", log);
	free(log);
	free(path);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_reconfigure)
{
	struct fx fx;
	struct config_notify off = { 0 };
	struct srv_wait sw = { &fx.srv, 1 };
	char url[128];
	struct file_wait w;
	char *script, *runs;

	/* A reload can turn a channel off (its queue is dropped) and change
	 * the target of what is queued. */
	fx_init(&fx, "hooks-reconf");
	cap_start(&fx);
	srv_start(&fx);
	script = write_script(&fx, "hook.sh",
	    "cat > /dev/null\n"
	    "echo \"$EXROLL_EVENT_SEQ\" >> \"$D/runs\"\n"
	    ": > \"$D/done.$EXROLL_EVENT_SEQ\"\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/first", fx.srv.port);
	fx_hooks(&fx, url, NULL);
	hooks_reconfigure(fx.hooks, &off);
	send_failed(&fx, 1);	/* no channel: nothing */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/second", fx.srv.port);
	fx.cfg.webhook_url = url;
	fx.cfg.exec = script;
	hooks_reconfigure(fx.hooks, &fx.cfg);
	send_failed(&fx, 2);
	ck_assert(run_until(&fx, srv_has, &sw, 10000));
	ck_assert_msg(strncmp(fx.srv.req[0].head, "POST /second ", 13) == 0,
	    "request: %s", fx.srv.req[0].head);
	w.path = tu_path(fx.dir, "done.2");
	ck_assert(run_until(&fx, file_exists, &w, 10000));
	runs = read_in(&fx, "runs");
	ck_assert_str_eq(runs, "2\n");
	ck_assert_int_eq(fx.srv.nreq, 1);
	free(runs);
	free(w.path);
	free(script);
	fx_fini(&fx);
}
END_TEST

static Suite *
hooks_suite(void)
{
	Suite *s = suite_create("hooks");
	TCase *web = tcase_create("webhook");
	TCase *ex = tcase_create("exec");

	tcase_add_test(web, test_webhook_sim);
	tcase_add_test(web, test_webhook_retry_after);
	tcase_add_test(web, test_webhook_refused_not_retried);
	tcase_add_test(web, test_webhook_gives_up);
	tcase_add_test(web, test_webhook_queue_bound_and_close);
	tcase_add_test(web, test_reconfigure);
	tcase_set_timeout(web, 90);
	suite_add_tcase(s, web);
	tcase_add_test(ex, test_exec_receives_event);
	tcase_add_test(ex, test_exec_not_selected);
	tcase_add_test(ex, test_exec_failure_retried);
	tcase_add_test(ex, test_exec_hung_killed_at_close);
	tcase_add_test(ex, test_exec_missing_program);
	tcase_set_timeout(ex, 60);
	suite_add_tcase(s, ex);
	return s;
}

int
main(void)
{
	log_init("test_hooks", LOG_LEVEL_INFO, 0);
	return tu_run(hooks_suite());
}
