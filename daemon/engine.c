/*
 * engine — the rollout state machine, the waves, and the operator commands.
 * The diagram and invariants are in engine.h; the servers' and clusters'
 * machines are in upgrade.c and cluster.c.
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "timefmt.h"
#include "upgrade.h"

void
engine_event(struct engine *e, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = model_event_vdata(e->m, now, kind, subject, actor, data, fmt, ap);
	va_end(ap);
	if (rc != 0)
		fatalx("out of memory recording an event");
}

json_t *
engine_data(json_t *d)
{
	if (d == NULL)
		fatalx("out of memory recording an event");
	return d;
}

/* The data of an operator event: {"command": cmd} and the command's
 * arguments as the control protocol names them (key NULL: none; a value
 * NULL is JSON null). New reference, or NULL on ENOMEM. */
static json_t *
engine_command_data(const char *cmd, const char *k1, const char *v1,
    const char *k2, const char *v2)
{
	json_t *d = json_pack("{s:s}", "command", cmd);

	if (d != NULL && k1 != NULL &&
	    json_object_set_new(d, k1, model_json_text(v1)) != 0)
		goto fail;
	if (d != NULL && k2 != NULL &&
	    json_object_set_new(d, k2, model_json_text(v2)) != 0)
		goto fail;
	return d;
fail:
	json_decref(d);
	return NULL;
}

void
engine_job_id(struct engine *e, char id[JOB_ID_MAX + 1])
{
	if (model_job_id(e->m, id, JOB_ID_MAX + 1) != 0)
		fatalx("job id too long");
}

struct job *
engine_job(struct engine *e, enum job_kind kind, struct server *s,
    struct cluster *c, const char *id, char *request, int64_t now)
{
	struct job *j;

	/* Names were validated at load, so a builder only fails for want of
	 * memory. */
	if (request == NULL ||
	    (j = model_job_new(e->m, kind, s, c, id, request, now)) == NULL)
		fatalx("cannot build the request of job '%s'", id);
	return j;
}

static bool
engine_unit_is_started(const struct engine_unit *u)
{
	return u->server ? u->server->state != SERVER_PENDING :
	    u->cluster->step != STEP_PENDING;
}

static bool
engine_unit_is_ended(const struct engine_unit *u)
{
	if (u->server)
		return u->server->state == SERVER_DONE ||
		    u->server->state == SERVER_SKIPPED;
	return u->cluster->step == STEP_DONE || u->cluster->step == STEP_SKIPPED;
}

static void
engine_waves_free(struct engine *e)
{
	for (size_t i = 0; i < e->nwaves; i++)
		free(e->waves[i].units);
	free(e->waves);
	e->waves = NULL;
	e->nwaves = 0;
}

/* Builds the wave table and its counters from the model (once at start or
 * reload: the only full pass over the organization). */
static int
engine_waves_build(struct engine *e, const struct plan *plan)
{
	struct engine_wave *waves = calloc(plan->nwaves ? plan->nwaves : 1,
	    sizeof(*waves));

	if (waves == NULL)
		return -ENOMEM;
	for (size_t w = 0; w < plan->nwaves; w++) {
		struct engine_wave *ew = &waves[w];
		const struct plan_wave *pw = &plan->waves[w];

		ew->role = pw->role;
		ew->nunits = pw->nunits;
		ew->next = pw->nunits;
		if ((ew->units = calloc(pw->nunits, sizeof(*ew->units))) == NULL)
			goto fail;
		for (size_t u = 0; u < pw->nunits; u++) {
			struct engine_unit *eu = &ew->units[u];

			if (pw->units[u].kind == PLAN_UNIT_SERVER) {
				eu->server = &e->m->servers[pw->units[u].index];
				eu->server->wave = (int)w;
			} else {
				eu->cluster = &e->m->clusters[pw->units[u].index];
				eu->cluster->wave = (int)w;
			}
			if (engine_unit_is_ended(eu))
				ew->ended++;
			else if (engine_unit_is_started(eu))
				ew->active++;
			else if (ew->next == pw->nunits)
				ew->next = u;
		}
	}
	engine_waves_free(e);
	e->waves = waves;
	e->nwaves = plan->nwaves;
	for (e->cur = 0; e->cur < e->nwaves; e->cur++) {
		if (e->waves[e->cur].ended < e->waves[e->cur].nunits)
			break;
	}
	return 0;
fail:
	for (size_t w = 0; w < plan->nwaves; w++)
		free(waves[w].units);
	free(waves);
	return -ENOMEM;
}

/* The role whose wave a server is upgraded in (a CCR node: its cluster's),
 * as the plan placed it. */
static enum role
engine_server_role(const struct engine *e, const struct server *s)
{
	return e->waves[s->cluster ? s->cluster->wave : s->wave].role;
}

int64_t
engine_expected_install(const struct engine *e, const struct server *s)
{
	enum role r = engine_server_role(e, s);

	if (e->install_n[r] == 0)
		return time_s_to_ms(e->cfg->policy.install_timeout_s);
	return e->install_sum[r] / e->install_n[r];
}

void
engine_note_install(struct engine *e, const struct server *s, int64_t ms)
{
	enum role r = engine_server_role(e, s);

	e->install_sum[r] += ms;
	e->install_n[r]++;
}

int64_t
engine_expected_ccr(const struct engine *e, int which)
{
	if (e->ccr_n[which] == 0)
		return time_s_to_ms(e->cfg->policy.install_timeout_s);
	return e->ccr_sum[which] / e->ccr_n[which];
}

void
engine_note_ccr(struct engine *e, int which, int64_t ms)
{
	e->ccr_sum[which] += ms;
	e->ccr_n[which]++;
}

bool
engine_fits_window(const struct engine *e, int64_t expected_ms, int64_t now,
    const char *what, char *note, size_t notelen)
{
	char d[32], t[TIME_RFC3339_LEN];

	if (!e->window.open || e->window.closes_at == 0 ||
	    now + expected_ms <= e->window.closes_at) {
		note[0] = '\0';
		return true;
	}
	snprintf(note, notelen, "%s would run past the window's end (%s "
	    "expected, window closes %s)", what,
	    time_format_duration(expected_ms, d, sizeof(d)),
	    time_format_rfc3339(e->window.closes_at, t, sizeof(t)));
	return false;
}

int
engine_init(struct engine *e, struct model *m, const struct config *cfg,
    const struct plan *plan)
{
	memset(e, 0, sizeof(*e));
	e->m = m;
	e->cfg = cfg;
	e->window.open = true;
	if (engine_waves_build(e, plan) != 0)
		return -ENOMEM;
	/* The durations measured before a restart, by the role of the wave
	 * each server is in (so after the waves exist). */
	for (size_t i = 0; i < m->nservers; i++) {
		if (m->servers[i].install_ms > 0)
			engine_note_install(e, &m->servers[i],
			    m->servers[i].install_ms);
	}
	return 0;
}

void
engine_free(struct engine *e)
{
	engine_waves_free(e);
}

void
engine_rollout_set(struct engine *e, enum rollout_state st,
    enum pause_cause cause, const char *reason, const char *actor,
    int64_t now)
{
	struct rollout *r = &e->m->rollout;

	if (r->state == ROLLOUT_COMPLETED || r->state == ROLLOUT_ABORTED)
		return;	/* final */
	if (r->state == st && r->pause_cause == cause)
		return;
	/* A failure does not overwrite an operator's pause: the operator
	 * already holds the rollout and sees the failure in the unit. */
	if (r->state == ROLLOUT_PAUSED && st == ROLLOUT_PAUSED)
		return;
	log_notice("rollout: %s -> %s (%s)", rollout_state_name(r->state),
	    rollout_state_name(st), reason ? reason : "");
	engine_event(e, now, "rollout.state", "rollout", actor,
	    json_pack("{s:s, s:s, s:s, s:o}",
	    "from", rollout_state_name(r->state),
	    "to", rollout_state_name(st),
	    "cause", pause_cause_name(st == ROLLOUT_PAUSED ? cause : PAUSE_NONE),
	    "reason", model_json_text(reason)),
	    "%s -> %s%s%s", rollout_state_name(r->state),
	    rollout_state_name(st), reason ? ": " : "", reason ? reason : "");
	r->state = st;
	r->pause_cause = st == ROLLOUT_PAUSED ? cause : PAUSE_NONE;
	/* A running rollout needs no explanation; why it got there is in
	 * the event just queued. */
	free(r->reason);
	r->reason = reason && st != ROLLOUT_RUNNING ? strdup(reason) : NULL;
	r->updated_at = now;
	model_touch(e->m, &r->dirty);
}

bool
engine_may_start(const struct engine *e, enum job_kind kind)
{
	switch (e->m->rollout.state) {
	case ROLLOUT_RUNNING:
		return true;
	case ROLLOUT_WAITING_WINDOW:
		/* Outside the window only reads go on: nothing is changed on
		 * a server, but progress already made is still observed. */
		return kind == JOB_GET_SERVER || kind == JOB_TEST_HEALTH ||
		    kind == JOB_CMS_STATUS;
	case ROLLOUT_PAUSED:
	case ROLLOUT_COMPLETED:
	case ROLLOUT_ABORTED:
		break;
	}
	return false;
}

static void
engine_check_completed(struct engine *e, int64_t now)
{
	if (e->cur < e->nwaves)
		return;
	engine_rollout_set(e, ROLLOUT_COMPLETED, PAUSE_NONE,
	    "every wave is done", ENGINE_ACTOR, now);
}

void
engine_schedule(struct engine *e, int64_t now)
{
	while (e->cur < e->nwaves) {
		struct engine_wave *w = &e->waves[e->cur];
		int limit = e->cfg->policy.max_parallel[w->role];

		if (w->ended == w->nunits) {
			engine_event(e, now, "wave.done",
			    role_name(w->role), ENGINE_ACTOR,
			    json_pack("{s:I, s:s, s:I}",
			    "wave", (json_int_t)e->cur + 1,
			    "role", role_name(w->role),
			    "units", (json_int_t)w->nunits),
			    "wave %zu (%s) done: %zu units",
			    e->cur + 1, role_name(w->role), w->nunits);
			e->cur++;
			continue;
		}
		if (e->m->rollout.state != ROLLOUT_RUNNING)
			return;
		while ((int)w->active < limit && w->next < w->nunits) {
			struct engine_unit *u = &w->units[w->next++];

			if (engine_unit_is_started(u) || engine_unit_is_ended(u))
				continue;
			w->active++;
			if (u->server != NULL)
				upgrade_start(e, u->server, now);
			else
				cluster_start(e, u->cluster, now);
		}
		return;
	}
	engine_check_completed(e, now);
}

void
engine_unit_ended(struct engine *e, int wave, bool was_started, int64_t now)
{
	struct engine_wave *w;

	if (wave < 0 || (size_t)wave >= e->nwaves)
		return;
	w = &e->waves[wave];
	w->ended++;
	if (was_started && w->active > 0)
		w->active--;
	engine_schedule(e, now);
}

/* Every unit in flight that has neither a job nor a wake re-enters its
 * phase or step (restart, resume, window opening). One pass, only on those
 * occasions. */
static void
engine_kick_all(struct engine *e, int64_t now)
{
	for (size_t i = 0; i < e->m->nservers; i++)
		upgrade_kick(e, &e->m->servers[i], now);
	for (size_t i = 0; i < e->m->nclusters; i++)
		cluster_kick(e, &e->m->clusters[i], now);
}

static void
engine_go(struct engine *e, int64_t now)
{
	engine_kick_all(e, now);
	engine_schedule(e, now);
}

/* The state a rollout that is allowed to run is in, given the window. */
static enum rollout_state
engine_run_state(const struct engine *e)
{
	return e->window.open ? ROLLOUT_RUNNING : ROLLOUT_WAITING_WINDOW;
}

static const char *
engine_window_reason(const struct engine *e, char *buf, size_t len)
{
	char t[TIME_RFC3339_LEN];

	if (e->window.next_open == 0)
		return "outside every maintenance window; none opens again";
	snprintf(buf, len, "outside the maintenance window; next opens %s",
	    time_format_rfc3339(e->window.next_open, t, sizeof(t)));
	return buf;
}

void
engine_start(struct engine *e, int64_t now)
{
	struct rollout *r = &e->m->rollout;
	char why[128];

	e->started = true;
	if (r->state == ROLLOUT_RUNNING && !e->window.open)
		engine_rollout_set(e, ROLLOUT_WAITING_WINDOW, PAUSE_NONE,
		    engine_window_reason(e, why, sizeof(why)), ENGINE_ACTOR, now);
	else if (r->state == ROLLOUT_WAITING_WINDOW && e->window.open)
		engine_rollout_set(e, ROLLOUT_RUNNING, PAUSE_NONE,
		    "maintenance window open", ENGINE_ACTOR, now);
	if (r->state == ROLLOUT_RUNNING || r->state == ROLLOUT_WAITING_WINDOW)
		engine_go(e, now);
}

int
engine_reconfigure(struct engine *e, const struct config *cfg,
    const struct plan *plan, int64_t now)
{
	int rc;

	e->cfg = cfg;
	if ((rc = engine_waves_build(e, plan)) != 0)
		return rc;
	if (e->started && (e->m->rollout.state == ROLLOUT_RUNNING ||
	    e->m->rollout.state == ROLLOUT_WAITING_WINDOW))
		engine_go(e, now);
	return 0;
}

void
engine_window(struct engine *e, const struct window_state *ws, int64_t now)
{
	struct rollout *r = &e->m->rollout;
	char why[128];

	e->window = *ws;
	if (!e->started)
		return;
	if (ws->open && r->state == ROLLOUT_WAITING_WINDOW) {
		engine_rollout_set(e, ROLLOUT_RUNNING, PAUSE_NONE,
		    "maintenance window open", ENGINE_ACTOR, now);
		engine_go(e, now);
	} else if (!ws->open && r->state == ROLLOUT_RUNNING) {
		engine_rollout_set(e, ROLLOUT_WAITING_WINDOW, PAUSE_NONE,
		    engine_window_reason(e, why, sizeof(why)), ENGINE_ACTOR, now);
	}
}

void
engine_job_accepted(struct engine *e, struct job *j, int64_t now)
{
	if (j->state != JOB_INTENT)
		return;
	j->state = JOB_SUBMITTED;
	j->submitted_at = now;
	model_touch(e->m, &j->dirty);
}

void
engine_job_done(struct engine *e, struct job *j, const struct gw_result *res,
    int64_t now)
{
	struct server *s = j->server;
	struct cluster *c = j->cluster;
	enum job_state st = res->status == GW_COMPLETED ? JOB_COMPLETED :
	    res->status == GW_FAILED ? JOB_FAILED : JOB_REJECTED;
	char *result = res->job ? json_dumps(res->job, JSON_COMPACT) : NULL;
	char *error = res->message ? strdup(res->message) : NULL;

	model_job_finish(e->m, j, st, res->http_status, result, error, now);
	if (res->status == GW_REJECTED &&
	    (res->http_status == 401 || res->http_status == 403)) {
		char why[512];

		/* Nothing will work until the operator fixes the token or the
		 * gateway's command list; the unit re-enters on resume. */
		snprintf(why, sizeof(why), "the gateway refused job %s with "
		    "HTTP %d (%s): check gateway.token_file and the gateway's "
		    "allowed commands, then resume", j->id, res->http_status,
		    res->message ? res->message : "no reason given");
		engine_rollout_set(e, ROLLOUT_PAUSED, PAUSE_FAILURE, why,
		    ENGINE_ACTOR, now);
		return;
	}
	if (s != NULL)
		upgrade_job_done(e, s, j, res, now);
	else if (c != NULL)
		cluster_job_done(e, c, j, res, now);
}

void
engine_wake_server(struct engine *e, struct server *s, int64_t now)
{
	s->wake_at = 0;
	model_touch(e->m, &s->dirty);
	upgrade_wake(e, s, now);
}

void
engine_wake_cluster(struct engine *e, struct cluster *c, int64_t now)
{
	c->wake_at = 0;
	model_touch(e->m, &c->dirty);
	cluster_wake(e, c, now);
}

const char *
engine_pending_checkpoint(const struct engine *e, const struct cluster *c)
{
	return cluster_pending_checkpoint(e, c);
}

const char *
engine_wave_state(const struct engine *e, size_t i)
{
	const struct engine_wave *w = &e->waves[i];

	if (w->ended == w->nunits)
		return "done";
	if (i == e->cur)
		return "active";
	return "pending";
}

static bool
engine_final(const struct engine *e, char *msg, size_t msglen)
{
	enum rollout_state st = e->m->rollout.state;

	if (st != ROLLOUT_COMPLETED && st != ROLLOUT_ABORTED)
		return false;
	snprintf(msg, msglen, "the rollout is %s", rollout_state_name(st));
	return true;
}

/* A failure pause lifts itself once no unit needs the operator. */
static void
engine_maybe_unpause(struct engine *e, const char *actor, int64_t now)
{
	struct rollout *r = &e->m->rollout;

	if (r->state != ROLLOUT_PAUSED || r->pause_cause != PAUSE_FAILURE)
		return;
	for (size_t i = 0; i < e->m->nservers; i++) {
		if (e->m->servers[i].state == SERVER_FAILED)
			return;
	}
	for (size_t i = 0; i < e->m->nclusters; i++) {
		if (e->m->clusters[i].blocked)
			return;
	}
	engine_rollout_set(e, engine_run_state(e), PAUSE_NONE,
	    "no unit needs the operator any more", actor, now);
	engine_go(e, now);
}

int
engine_pause(struct engine *e, const char *reason, const char *actor,
    int64_t now, char *msg, size_t msglen)
{
	char why[600];

	engine_event(e, now, "operator", "rollout", actor,
	    engine_command_data("pause", "reason", reason, NULL, NULL),
	    "pause%s%s", reason ? ": " : "", reason ? reason : "");
	if (engine_final(e, msg, msglen))
		return -EBUSY;
	if (e->m->rollout.state == ROLLOUT_PAUSED) {
		snprintf(msg, msglen, "already paused");
		return 0;
	}
	snprintf(why, sizeof(why), "paused by %s%s%s", actor,
	    reason ? ": " : "", reason ? reason : "");
	engine_rollout_set(e, ROLLOUT_PAUSED, PAUSE_OPERATOR, why, actor, now);
	return 0;
}

int
engine_resume(struct engine *e, const char *actor, int64_t now, char *msg,
    size_t msglen)
{
	char why[128];

	engine_event(e, now, "operator", "rollout", actor,
	    engine_command_data("resume", NULL, NULL, NULL, NULL), "resume");
	if (engine_final(e, msg, msglen))
		return -EBUSY;
	if (e->m->rollout.state != ROLLOUT_PAUSED) {
		snprintf(msg, msglen, "already %s",
		    rollout_state_name(e->m->rollout.state));
		return 0;
	}
	engine_rollout_set(e, engine_run_state(e), PAUSE_NONE,
	    e->window.open ? "resumed by the operator" :
	    engine_window_reason(e, why, sizeof(why)), actor, now);
	engine_go(e, now);
	return 0;
}

int
engine_approve(struct engine *e, const char *name, const char *checkpoint,
    const char *actor, int64_t now, char *msg, size_t msglen)
{
	struct cluster *c = model_cluster(e->m, name);

	engine_event(e, now, "operator", name, actor,
	    engine_command_data("approve", "cluster", name, "checkpoint",
	    checkpoint), "approve%s%s", checkpoint ? " " : "",
	    checkpoint ? checkpoint : "");
	if (c == NULL) {
		snprintf(msg, msglen, "no cluster '%s'", name);
		return -ENOENT;
	}
	if (engine_final(e, msg, msglen))
		return -EBUSY;
	return cluster_approve(e, c, checkpoint, actor, now, msg, msglen);
}

int
engine_retry(struct engine *e, const char *name, const char *actor,
    int64_t now, char *msg, size_t msglen)
{
	struct server *s = model_server(e->m, name);
	struct cluster *c = s ? NULL : model_cluster(e->m, name);
	int rc;

	engine_event(e, now, "operator", name, actor,
	    engine_command_data("retry", "server", name, NULL, NULL), "retry");
	if (s == NULL && c == NULL) {
		snprintf(msg, msglen, "no server or cluster '%s'", name);
		return -ENOENT;
	}
	if (engine_final(e, msg, msglen))
		return -EBUSY;
	rc = s ? upgrade_retry(e, s, actor, now, msg, msglen) :
	    cluster_retry(e, c, actor, now, msg, msglen);
	if (rc == 0)
		engine_maybe_unpause(e, actor, now);
	return rc;
}

int
engine_skip(struct engine *e, const char *name, const char *reason,
    const char *actor, int64_t now, char *msg, size_t msglen)
{
	struct server *s = model_server(e->m, name);
	struct cluster *c = s ? NULL : model_cluster(e->m, name);
	bool started;

	engine_event(e, now, "operator", name, actor,
	    engine_command_data("skip", "server", name, "reason", reason),
	    "skip: %s", reason);
	if (s == NULL && c == NULL) {
		snprintf(msg, msglen, "no server or cluster '%s'", name);
		return -ENOENT;
	}
	if (engine_final(e, msg, msglen))
		return -EBUSY;
	if (s != NULL && s->cluster != NULL) {
		snprintf(msg, msglen, "'%s' is a node of CCR cluster '%s': skip "
		    "the cluster instead", s->name, s->cluster->name);
		return -EBUSY;
	}
	if (s != NULL) {
		if (s->state == SERVER_DONE || s->state == SERVER_SKIPPED) {
			snprintf(msg, msglen, "server '%s' is already %s",
			    s->name, server_state_name(s->state));
			return -EBUSY;
		}
		started = s->state != SERVER_PENDING;
		upgrade_skip(e, s, reason, actor, now);
		engine_unit_ended(e, s->wave, started, now);
	} else {
		if (c->step == STEP_DONE || c->step == STEP_SKIPPED) {
			snprintf(msg, msglen, "cluster '%s' is already %s",
			    c->name, cluster_step_name(c->step));
			return -EBUSY;
		}
		started = c->step != STEP_PENDING;
		cluster_skip(e, c, reason, actor, now);
		engine_unit_ended(e, c->wave, started, now);
	}
	engine_maybe_unpause(e, actor, now);
	return 0;
}

int
engine_abort(struct engine *e, const char *reason, const char *actor,
    int64_t now, char *msg, size_t msglen)
{
	char why[600];

	engine_event(e, now, "operator", "rollout", actor,
	    engine_command_data("abort", "reason", reason, NULL, NULL),
	    "abort: %s", reason);
	if (e->m->rollout.state == ROLLOUT_ABORTED) {
		snprintf(msg, msglen, "already aborted");
		return 0;
	}
	if (engine_final(e, msg, msglen))
		return -EBUSY;
	snprintf(why, sizeof(why), "aborted by %s: %s", actor, reason);
	engine_rollout_set(e, ROLLOUT_ABORTED, PAUSE_NONE, why, actor, now);
	return 0;
}
