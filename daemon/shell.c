/*
 * shell — the libuv loop around the engine (see shell.h for the cycle).
 *
 * Start-up order matters and is the crash-safety story:
 *   configuration -> lock + state file -> model from the file -> engine
 *   resume (jobs in intent/submitted re-POSTed with their ids, units
 *   re-read) -> control socket -> READY=1.
 * The control socket comes after the store's lock, so a socket file found
 * at start can only be a dead daemon's and is replaced.
 *
 * Commits are batched per loop iteration: engine calls mark the shell dirty
 * and an idle handle flushes once after the callbacks of this iteration, so
 * a burst of gateway answers costs one fsync, not one each. Operator
 * commands flush synchronously so their answer is sent only once durable.
 */
#include "shell.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "notify.h"
#include "timefmt.h"
#include "window.h"

/*
 * Crash points, for the kill tests only: EXROLL_CRASH_POINT="POINT:N"
 * makes the daemon SIGKILL itself the N-th time it passes POINT, so a test
 * can stop it at an exact instant the crash-safety rules talk about:
 *   "commit"        new intents committed, none posted yet;
 *   "posted[-KIND]" a job handed to the gateway client (maybe not sent);
 *   "accepted[-KIND]" the gateway accepted it, the engine not yet told;
 *   "done[-KIND]"   its end arrived, the engine not yet told;
 * KIND is a job kind name ("cms_move", "setup", ...). Unset (always, in
 * production) it costs one branch.
 */
static char crash_point[32];
static long crash_left;

static void
shell_crash_init(void)
{
	const char *s = getenv("EXROLL_CRASH_POINT");
	const char *colon = s ? strchr(s, ':') : NULL;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(crash_point))
		return;
	memcpy(crash_point, s, (size_t)(colon - s));
	crash_point[colon - s] = '\0';
	crash_left = strtol(colon + 1, NULL, 10);
	log_warnx("test crash point '%s' armed at pass %ld", crash_point,
	    crash_left);
}

static void
shell_crash(const char *point, const struct job *j)
{
	char full[48];
	bool hit;

	if (crash_left <= 0)
		return;
	hit = strcmp(point, crash_point) == 0;
	if (!hit && j != NULL) {
		snprintf(full, sizeof(full), "%s-%s", point, job_kind_name(j->kind));
		hit = strcmp(full, crash_point) == 0;
	}
	if (hit && --crash_left == 0)
		raise(SIGKILL);
}

/* Per posted job: how a gateway callback finds its shell. The job's op
 * points here while the gateway follows it. */
struct shell_jobref {
	struct shell *sh;
	struct job *job;
	struct gw_op *op;
};

static void shell_flush_soon(struct shell *sh);

int64_t
shell_now(const struct shell *sh)
{
	(void)sh;
	return time_now_ms();
}

/*
 * The wake heap: a binary min-heap of units by wake_at. A unit's heap_pos
 * is its slot + 1 (0: not in the heap), so an update is O(log n).
 */
static size_t *
shell_heap_pos(struct shell_wake *w)
{
	return w->server ? &w->server->heap_pos : &w->cluster->heap_pos;
}

static void
shell_heap_swap(struct shell *sh, size_t a, size_t b)
{
	struct shell_wake t = sh->heap[a];

	sh->heap[a] = sh->heap[b];
	sh->heap[b] = t;
	*shell_heap_pos(&sh->heap[a]) = a + 1;
	*shell_heap_pos(&sh->heap[b]) = b + 1;
}

static void
shell_heap_fix(struct shell *sh, size_t i)
{
	while (i > 0 && sh->heap[(i - 1) / 2].at > sh->heap[i].at) {
		shell_heap_swap(sh, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < sh->nheap && sh->heap[l].at < sh->heap[m].at)
			m = l;
		if (r < sh->nheap && sh->heap[r].at < sh->heap[m].at)
			m = r;
		if (m == i)
			break;
		shell_heap_swap(sh, i, m);
		i = m;
	}
}

static void
shell_heap_remove(struct shell *sh, size_t *pos)
{
	size_t i = *pos - 1;

	*pos = 0;
	sh->nheap--;
	if (i == sh->nheap)
		return;
	sh->heap[i] = sh->heap[sh->nheap];
	*shell_heap_pos(&sh->heap[i]) = i + 1;
	shell_heap_fix(sh, i);
}

/* Puts the unit in the heap at its wake time, moves it, or takes it out. */
static void
shell_heap_update(struct shell *sh, struct server *s, struct cluster *c)
{
	size_t *pos = s ? &s->heap_pos : &c->heap_pos;
	int64_t at = s ? s->wake_at : c->wake_at;

	if (at == 0) {
		if (*pos != 0)
			shell_heap_remove(sh, pos);
		return;
	}
	if (*pos == 0) {
		if (sh->nheap == sh->capheap) {
			size_t cap = sh->capheap ? sh->capheap * 2 : 64;
			struct shell_wake *nh = realloc(sh->heap, cap * sizeof(*nh));

			if (nh == NULL)
				fatalx("out of memory growing the wake heap");
			sh->heap = nh;
			sh->capheap = cap;
		}
		sh->heap[sh->nheap] = (struct shell_wake){ at, s, c };
		*pos = ++sh->nheap;
	}
	sh->heap[*pos - 1].at = at;
	shell_heap_fix(sh, *pos - 1);
}

static void shell_wake_cb(uv_timer_t *t);

static void
shell_arm_wake(struct shell *sh)
{
	int64_t delay;

	if (sh->stopping)
		return;
	if (sh->nheap == 0) {
		uv_timer_stop(&sh->wake_timer);
		return;
	}
	delay = sh->heap[0].at - shell_now(sh);
	uv_timer_start(&sh->wake_timer, shell_wake_cb,
	    delay > 0 ? (uint64_t)delay : 0, 0);
}

static void
shell_wake_cb(uv_timer_t *t)
{
	struct shell *sh = t->data;
	int64_t now = shell_now(sh);

	while (sh->nheap > 0 && sh->heap[0].at <= now) {
		struct shell_wake w = sh->heap[0];

		shell_heap_remove(sh, shell_heap_pos(&sh->heap[0]));
		if (w.server != NULL)
			engine_wake_server(&sh->engine, w.server, now);
		else
			engine_wake_cluster(&sh->engine, w.cluster, now);
	}
	shell_flush_soon(sh);
	shell_arm_wake(sh);
}

static void
shell_publish(const struct event *ev, void *arg)
{
	struct shell *sh = arg;
	json_t *j;

	if (sh->control != NULL && (j = store_event_json(ev)) != NULL) {
		control_publish(sh->control, j);
		json_decref(j);
	}
	if (sh->hooks != NULL)
		hooks_event(sh->hooks, ev);
}

static void
shell_job_accepted(void *arg)
{
	struct shell_jobref *ref = arg;

	shell_crash("accepted", ref->job);
	engine_job_accepted(&ref->sh->engine, ref->job, shell_now(ref->sh));
	shell_flush_soon(ref->sh);
}

static void
shell_job_done(void *arg, const struct gw_result *res)
{
	struct shell_jobref *ref = arg;
	struct shell *sh = ref->sh;

	shell_crash("done", ref->job);
	ref->job->op = NULL;	/* before the engine: it may free the job */
	engine_job_done(&sh->engine, ref->job, res, shell_now(sh));
	free(ref);
	shell_flush_soon(sh);
}

static void
shell_post(struct shell *sh, struct job *j)
{
	struct shell_jobref *ref = malloc(sizeof(*ref));
	int rc;

	if (ref == NULL)
		fatalx("out of memory posting job '%s'", j->id);
	ref->sh = sh;
	ref->job = j;
	if ((rc = gw_job_run(sh->gw, j->id, j->request, shell_job_accepted,
	    shell_job_done, ref, &ref->op)) != 0)
		fatalx("cannot start job '%s': %s", j->id, strerror(-rc));
	j->op = ref;
	shell_crash("posted", j);
}

void
shell_flush(struct shell *sh)
{
	struct model *m = &sh->model;
	struct model_dirty *d;
	struct job *j, *next;

	if (m->dirty != NULL || m->events != NULL || m->outbox != NULL) {
		if (store_commit(sh->store, m) != 0)
			fatalx("cannot write the state file; exiting so that "
			    "the next start resumes from its last consistent "
			    "state");
		for (d = m->dirty; d != NULL; d = d->next) {
			if (d->rec == REC_SERVER)
				shell_heap_update(sh, model_dirty_server(d), NULL);
			else if (d->rec == REC_CLUSTER)
				shell_heap_update(sh, NULL,
				    model_dirty_cluster(d));
		}
		model_after_commit(m, shell_publish, sh);
		if (m->outbox != NULL)
			shell_crash("commit", NULL);
		for (j = model_take_outbox(m); !sh->stopping && j != NULL;
		    j = next) {
			next = j->next_outbox;
			j->next_outbox = NULL;
			j->in_outbox = false;
			shell_post(sh, j);
		}
	}
	/* Always: a start that changed nothing still has wakes to arm (a
	 * server resumed in the middle of its verify retries). */
	shell_arm_wake(sh);
}

static void
shell_idle_cb(uv_idle_t *h)
{
	struct shell *sh = h->data;

	uv_idle_stop(h);
	shell_flush(sh);
}

static void
shell_flush_soon(struct shell *sh)
{
	if (!uv_is_active((uv_handle_t *)&sh->flush_idle))
		uv_idle_start(&sh->flush_idle, shell_idle_cb);
}

static void shell_window_cb(uv_timer_t *t);

/* Evaluates the windows, tells the engine, and arms the next edge. */
static void
shell_window_eval(struct shell *sh)
{
	int64_t now = shell_now(sh), edge;
	struct window_state ws;

	window_eval(sh->cfg->windows, sh->cfg->nwindows, now, &ws);
	engine_window(&sh->engine, &ws, now);
	uv_timer_stop(&sh->window_timer);
	edge = window_next_edge(sh->cfg->windows, sh->cfg->nwindows, now);
	if (edge > 0 && !sh->stopping)
		uv_timer_start(&sh->window_timer, shell_window_cb,
		    (uint64_t)(edge > now ? edge - now : 0), 0);
}

static void
shell_window_cb(uv_timer_t *t)
{
	struct shell *sh = t->data;

	shell_window_eval(sh);
	shell_flush(sh);
}

static void
shell_status_cb(uv_timer_t *t)
{
	struct shell *sh = t->data;
	char line[256];

	commands_status_line(sh, line, sizeof(line));
	if (sh->watchdog_ms > 0)
		notify_send("WATCHDOG=1");
	notify_status("%s", line);
}

static void
shell_apply_overrides(struct shell *sh, struct config *cfg)
{
	if (sh->opts.state_override != NULL) {
		free(cfg->state_file);
		if ((cfg->state_file = strdup(sh->opts.state_override)) == NULL)
			fatalx("out of memory");
	}
	if (sh->opts.socket_override != NULL) {
		free(cfg->socket);
		if ((cfg->socket = strdup(sh->opts.socket_override)) == NULL)
			fatalx("out of memory");
	}
}

static void
shell_log_config_errors(const char *what, struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_warnx("%s: %s", what, errs->msg[i]);
}

/* SIGHUP: policies, windows, gateway settings, allow lists. A bad file
 * keeps everything as it was. */
static void
shell_reload(struct shell *sh)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	struct plan plan = { 0 };
	char err[1024];
	int64_t now = shell_now(sh);

	notify_send("RELOADING=1");
	log_notice("reloading '%s'", sh->opts.config_path);
	if (config_load(sh->opts.config_path, &cfg, &errs) != 0) {
		shell_log_config_errors("reload refused", &errs);
		goto out;
	}
	shell_apply_overrides(sh, cfg);
	if (store_check_config(sh->store, cfg, err, sizeof(err)) != 0) {
		log_warnx("reload refused: %s", err);
		goto out;
	}
	if (strcmp(cfg->state_file, sh->cfg->state_file) != 0 ||
	    strcmp(cfg->socket, sh->cfg->socket) != 0)
		log_warnx("reload: state_file and socket changes take effect "
		    "at the next start");
	if (plan_build(cfg, &plan) != 0) {
		log_warnx("reload refused: out of memory");
		goto out;
	}
	if (engine_reconfigure(&sh->engine, cfg, &plan, now) != 0) {
		log_warnx("reload refused: out of memory");
		goto out;
	}
	gw_reconfigure(sh->gw, &cfg->gateway);
	control_reconfigure(sh->control, &cfg->control);
	hooks_reconfigure(sh->hooks, &cfg->notify);
	plan_free(&sh->plan);
	sh->plan = plan;
	plan = (struct plan){ 0 };
	{
		struct config *old = sh->cfg;

		sh->cfg = cfg;
		cfg = old;	/* freed below */
	}
	engine_event(&sh->engine, now, "daemon.reload", "rollout",
	    ENGINE_ACTOR, json_pack("{s:s}", "file", sh->opts.config_path),
	    "configuration reloaded");
	shell_window_eval(sh);
	shell_flush(sh);
	log_notice("configuration reloaded");
out:
	plan_free(&plan);
	config_free(cfg);
	config_errors_free(&errs);
	notify_send("READY=1");
}

static void
shell_closed(uv_handle_t *h)
{
	struct shell *sh = h->data;

	sh->closing--;
}

static void
shell_component_closed(void *arg)
{
	struct shell *sh = arg;

	sh->closing--;
}

/* The hooks' HTTP client goes after the hooks that use it. */
static void
shell_hooks_closed(void *arg)
{
	struct shell *sh = arg;

	http_close(sh->hooks_http, shell_component_closed, sh);
	sh->hooks_http = NULL;
}

static void
shell_close_handle(struct shell *sh, uv_handle_t *h)
{
	if (uv_is_closing(h))
		return;
	sh->closing++;
	uv_close(h, shell_closed);
}

static void
shell_stop(struct shell *sh, int code)
{
	if (sh->stopping)
		return;
	sh->stopping = true;
	sh->exit_code = code;
	notify_send("STOPPING=1");
	log_notice("stopping; in-flight gateway jobs are followed again at "
	    "the next start");
	shell_flush(sh);
	if (sh->control != NULL) {
		sh->closing++;
		control_close(sh->control, shell_component_closed, sh);
		sh->control = NULL;
	}
	if (sh->hooks != NULL) {
		sh->closing++;
		hooks_close(sh->hooks, shell_hooks_closed, sh);
		sh->hooks = NULL;
	}
	if (sh->gw != NULL) {
		struct job *j;

		/* Jobs in flight stay in the file as they are and are
		 * followed again at the next start; here they are dropped. */
		for (j = sh->model.live; j != NULL; j = j->next_live) {
			struct shell_jobref *ref = j->op;

			if (ref != NULL) {
				gw_job_cancel(ref->op);
				free(ref);
				j->op = NULL;
			}
		}
		sh->closing++;
		gw_close(sh->gw, shell_component_closed, sh);
		sh->gw = NULL;
	}
	shell_close_handle(sh, (uv_handle_t *)&sh->wake_timer);
	shell_close_handle(sh, (uv_handle_t *)&sh->window_timer);
	shell_close_handle(sh, (uv_handle_t *)&sh->status_timer);
	shell_close_handle(sh, (uv_handle_t *)&sh->flush_idle);
	shell_close_handle(sh, (uv_handle_t *)&sh->sig_term);
	shell_close_handle(sh, (uv_handle_t *)&sh->sig_int);
	shell_close_handle(sh, (uv_handle_t *)&sh->sig_hup);
}

static void
shell_signal_cb(uv_signal_t *h, int signum)
{
	struct shell *sh = h->data;

	if (signum == SIGHUP)
		shell_reload(sh);
	else
		shell_stop(sh, 0);
}

static int
shell_handles_init(struct shell *sh)
{
	uv_handle_t *hs[] = {
		(uv_handle_t *)&sh->wake_timer, (uv_handle_t *)&sh->window_timer,
		(uv_handle_t *)&sh->status_timer, (uv_handle_t *)&sh->flush_idle,
		(uv_handle_t *)&sh->sig_term, (uv_handle_t *)&sh->sig_int,
		(uv_handle_t *)&sh->sig_hup,
	};
	int rc;

	if ((rc = uv_timer_init(&sh->loop, &sh->wake_timer)) != 0 ||
	    (rc = uv_timer_init(&sh->loop, &sh->window_timer)) != 0 ||
	    (rc = uv_timer_init(&sh->loop, &sh->status_timer)) != 0 ||
	    (rc = uv_idle_init(&sh->loop, &sh->flush_idle)) != 0 ||
	    (rc = uv_signal_init(&sh->loop, &sh->sig_term)) != 0 ||
	    (rc = uv_signal_init(&sh->loop, &sh->sig_int)) != 0 ||
	    (rc = uv_signal_init(&sh->loop, &sh->sig_hup)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
		hs[i]->data = sh;
	if ((rc = uv_signal_start(&sh->sig_term, shell_signal_cb, SIGTERM)) ||
	    (rc = uv_signal_start(&sh->sig_int, shell_signal_cb, SIGINT)) ||
	    (rc = uv_signal_start(&sh->sig_hup, shell_signal_cb, SIGHUP)))
		return rc;
	return 0;
}

/* The wake heap from the file's wake times (once, at start). */
static void
shell_heap_load(struct shell *sh)
{
	for (size_t i = 0; i < sh->model.nservers; i++)
		shell_heap_update(sh, &sh->model.servers[i], NULL);
	for (size_t i = 0; i < sh->model.nclusters; i++)
		shell_heap_update(sh, NULL, &sh->model.clusters[i]);
}

static void
shell_free(struct shell *sh)
{
	engine_free(&sh->engine);
	model_free(&sh->model);
	plan_free(&sh->plan);
	if (sh->store != NULL)
		store_close(sh->store);
	config_free(sh->cfg);
	free(sh->heap);
}

int
shell_main(const struct shell_opts *opts)
{
	struct shell *sh = calloc(1, sizeof(*sh));
	struct config_errors errs = { 0 };
	char err[1024];
	int rc, code = 1;
	uint64_t status_ms;

	if (sh == NULL)
		fatalx("out of memory");
	sh->opts = *opts;
	shell_crash_init();
	if (config_load(opts->config_path, &sh->cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		config_errors_free(&errs);
		free(sh);
		return 1;
	}
	shell_apply_overrides(sh, sh->cfg);
	if (plan_build(sh->cfg, &sh->plan) != 0)
		fatalx("out of memory building the plan");
	if (store_open(sh->cfg->state_file, &sh->store, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		goto out;
	}
	if (model_init(&sh->model, sh->cfg, &sh->plan) != 0)
		fatalx("out of memory building the model");
	if (store_load(sh->store, sh->cfg, &sh->model, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		goto out;
	}
	if (engine_init(&sh->engine, &sh->model, sh->cfg, &sh->plan) != 0)
		fatalx("out of memory building the waves");
	if ((rc = uv_loop_init(&sh->loop)) != 0)
		fatalx("uv_loop_init: %s", uv_strerror(rc));
	if ((rc = shell_handles_init(sh)) != 0)
		fatalx("cannot set up the event loop: %s", uv_strerror(rc));
	if ((rc = gw_new(&sh->loop, &sh->cfg->gateway, &sh->gw)) != 0)
		fatalx("cannot set up the gateway client: %s", strerror(-rc));
	/* Notifications get their own HTTP client: a webhook is not the
	 * gateway, and the gateway's private CA or tls_verify=false must not
	 * apply to it. Always created, so a reload can switch them on. */
	{
		struct http_opts ho = { 0 };	/* verified, system CAs */

		if ((rc = http_new(&sh->loop, &ho, &sh->hooks_http)) != 0 ||
		    (rc = hooks_new(&sh->loop, sh->hooks_http, &sh->cfg->notify,
		    &sh->hooks)) != 0)
			fatalx("cannot set up notifications: %s", strerror(-rc));
	}

	log_notice("resuming rollout from '%s': %s, %zu servers, %zu clusters, "
	    "%zu jobs in flight", sh->cfg->state_file,
	    rollout_state_name(sh->model.rollout.state), sh->model.nservers,
	    sh->model.nclusters, sh->model.nlive);
	shell_heap_load(sh);
	shell_window_eval(sh);
	engine_start(&sh->engine, shell_now(sh));
	shell_flush(sh);

	{
		static const struct control_ops ops = { .run = commands_run };
		struct control_ops o = ops;

		o.arg = sh;
		if (control_open(&sh->loop, sh->cfg->socket, &sh->cfg->control,
		    &o, &sh->control, err, sizeof(err)) != 0) {
			log_warnx("%s", err);
			shell_stop(sh, 1);
		}
	}
	if (!sh->stopping) {
		sh->watchdog_ms = notify_watchdog_ms();
		status_ms = sh->watchdog_ms > 0 ? (uint64_t)sh->watchdog_ms / 2 :
		    10000;
		uv_timer_start(&sh->status_timer, shell_status_cb, 0, status_ms);
		notify_send("READY=1");
		log_notice("ready: control socket '%s'", sh->cfg->socket);
	}
	uv_run(&sh->loop, UV_RUN_DEFAULT);
	code = sh->exit_code;
	if ((rc = uv_loop_close(&sh->loop)) != 0)
		log_warnx("event loop closed with handles open: %s",
		    uv_strerror(rc));
out:
	shell_free(sh);
	free(sh);
	return code;
}
