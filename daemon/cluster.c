/*
 * cluster — a CCR cluster's way through the service pack (DESIGN §1).
 *
 *   pending -> discover -> upgrade_passive -> failover -> upgrade_former_active
 *                                              (checkpoint)        |
 *                            done <- failback <--------------------'
 *                                   (checkpoint)   (failback: false -> done)
 *   any step --skip--> skipped
 *
 * A = the node that owned the CMS at discovery (original_active, recorded
 * once), B = the other one. In failover and failback, every decision is a
 * reconciliation: the cluster first reads Get-ClusteredMailboxServerStatus,
 * then acts on what it says, never on what it last did (DESIGN §3.4):
 *
 *   failover, service_pack            failover, rollup     failback
 *   A Online        -> stop           A Online -> move     B Online -> move
 *   A Offline (ours)-> move to B      B Online -> done     A Online -> done
 *   B Offline (ours)-> upgradeCMS
 *   B Online        -> done
 *   *Pending        -> poll again     (every step)
 *   anything else   -> blocked: the rollout pauses for the operator
 *
 * After each action ends, the status is read again. So after a crash, a
 * lost answer or a manual intervention, the next action always follows the
 * real state, and a move is never issued when the CMS is already where it
 * should be (the idempotency key also goes into -MoveComment).
 *
 * Invariants:
 *  - at most one job in flight (c->job); a node's jobs are the node's own;
 *  - setup never runs on a node that owns the CMS: a node installs only when
 *    a status read, taken after its precheck, shows the other node owns it;
 *  - "(ours)": cms_stopped says this failover stopped the CMS; an Offline
 *    CMS we did not stop is not ours to move; once stopped, the failover
 *    goes on to its end even if the maintenance window closes;
 *  - the first action of a failover or failback starts only if its
 *    expected duration fits in what is left of the window;
 *  - blocked: the cluster waits for the operator (retry or resume); the
 *    rollout was paused with last_error as the reason;
 *  - every change goes through cluster_set(), logged, with its event; the
 *    events carry their facts as data ({"from", "to", "reason", ...},
 *    {"checkpoint", "target"}, {"action", "job", "target"}, ...), which is
 *    what report.c and hooks.c read (see upgrade.c).
 */
#include "cluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdlet.h"
#include "log.h"
#include "name.h"
#include "timefmt.h"
#include "upgrade.h"

/* {key: the node's name}: the node a transition is about, as extra data
 * (new reference). */
static json_t *
cluster_node_data(const char *key, const struct server *n)
{
	return engine_data(json_pack("{s:s}", key, n->name));
}

static void cluster_set(struct engine *e, struct cluster *c,
    enum cluster_step step, const char *actor, int64_t now, json_t *extra,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* The one transition function of this machine. extra (stolen, may be
 * NULL) adds to the event's data the nodes the transition is about. */
static void
cluster_set(struct engine *e, struct cluster *c, enum cluster_step step,
    const char *actor, int64_t now, json_t *extra, const char *fmt, ...)
{
	char reason[512];
	json_t *data;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	data = json_pack("{s:s, s:s, s:o}", "from", cluster_step_name(c->step),
	    "to", cluster_step_name(step), "reason", model_json_text(reason));
	if (data != NULL && extra != NULL &&
	    json_object_update_new(data, extra) != 0)
		fatalx("out of memory recording an event");
	if (data == NULL)
		json_decref(extra);
	if (c->step == STEP_PENDING && c->started_at == 0)
		c->started_at = now;
	if (step == STEP_DONE || step == STEP_SKIPPED)
		c->finished_at = now;
	if (step != c->step) {
		c->attempts = 0;
		if ((c->step == STEP_FAILOVER || c->step == STEP_FAILBACK) &&
		    c->action_started_at != 0)
			engine_note_ccr(e, c->step == STEP_FAILBACK,
			    now - c->action_started_at);
		c->action_started_at = 0;
		if (step == STEP_FAILOVER || step == STEP_FAILBACK)
			c->cms_stopped = false;
	}
	log_info("cluster '%s': %s -> %s (%s)", c->name,
	    cluster_step_name(c->step), cluster_step_name(step), reason);
	engine_event(e, now, "cluster.step", c->name, actor, data, "%s -> %s: %s",
	    cluster_step_name(c->step), cluster_step_name(step), reason);
	c->step = step;
	model_touch(e->m, &c->dirty);
}

static void
cluster_set_error(struct cluster *c, const char *msg)
{
	free(c->last_error);
	c->last_error = msg ? strdup(msg) : NULL;
}

static struct server *
cluster_other(const struct cluster *c, const struct server *n)
{
	return c->nodes[0] == n ? c->nodes[1] : c->nodes[0];
}

/* The node upgraded in the current step, or NULL. */
static struct server *
cluster_upgrading(const struct cluster *c)
{
	if (c->original_active == NULL)
		return NULL;
	if (c->step == STEP_UPGRADE_PASSIVE)
		return cluster_other(c, c->original_active);
	if (c->step == STEP_UPGRADE_FORMER_ACTIVE)
		return c->original_active;
	return NULL;
}

const char *
cluster_pending_checkpoint(const struct engine *e, const struct cluster *c)
{
	if (e->cfg->policy.checkpoints != CHECKPOINTS_APPROVE)
		return NULL;
	if (c->step == STEP_FAILOVER && !c->approved_failover)
		return "failover";
	if (c->step == STEP_FAILBACK && !c->approved_failback)
		return "failback";
	return NULL;
}

static void
cluster_status(struct engine *e, struct cluster *c, int64_t now)
{
	char id[JOB_ID_MAX + 1];

	if (c->job != NULL || !engine_may_start(e, JOB_CMS_STATUS))
		return;
	engine_job_id(e, id);
	engine_job(e, JOB_CMS_STATUS, NULL, c, id, cmdlet_cms_status(id, c->name),
	    now);
}

static void
cluster_poll_later(struct engine *e, struct cluster *c, int64_t now)
{
	c->wake_at = now + time_s_to_ms(e->cfg->gateway.poll_interval_s);
	model_touch(e->m, &c->dirty);
}

/* Needs the operator: pause the rollout with the reason. */
static void cluster_block(struct engine *e, struct cluster *c, int64_t now,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cluster_block(struct engine *e, struct cluster *c, int64_t now,
    const char *fmt, ...)
{
	char why[512], pause[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->blocked = true;
	c->wake_at = 0;
	cluster_set_error(c, why);
	model_touch(e->m, &c->dirty);
	log_warnx("cluster '%s': blocked: %s", c->name, why);
	engine_event(e, now, "cluster.blocked", c->name, ENGINE_ACTOR,
	    json_pack("{s:s, s:o}", "step", cluster_step_name(c->step),
	    "reason", model_json_text(why)),
	    "%s; fix it, then: exrollctl retry %s", why, c->name);
	snprintf(pause, sizeof(pause), "cluster '%s': %s", c->name, why);
	engine_rollout_set(e, ROLLOUT_PAUSED, PAUSE_FAILURE, pause, ENGINE_ACTOR,
	    now);
}

/* An action or a read failed: try again after a backoff, then block. */
static void cluster_fail(struct engine *e, struct cluster *c, int64_t now,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cluster_fail(struct engine *e, struct cluster *c, int64_t now,
    const char *fmt, ...)
{
	const struct config_policy *p = &e->cfg->policy;
	char why[512];
	int64_t delay;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (++c->attempts > p->retries) {
		cluster_block(e, c, now, "%s (after %d attempts)", why, c->attempts);
		return;
	}
	cluster_set_error(c, why);
	delay = time_s_to_ms(p->retry_backoff_s) * c->attempts;
	c->wake_at = now + delay;
	model_touch(e->m, &c->dirty);
	engine_event(e, now, "cluster.retry", c->name, ENGINE_ACTOR,
	    json_pack("{s:s, s:i, s:i, s:o, s:I}", "step",
	    cluster_step_name(c->step), "attempt", c->attempts,
	    "attempts", p->retries + 1, "error", model_json_text(why),
	    "retry_in_ms", (json_int_t)delay),
	    "attempt %d of %d failed: %s", c->attempts, p->retries + 1, why);
}

/* Entering or resuming an upgrade step: start its node, or move on if it
 * is already done. */
static void
cluster_upgrade_step(struct engine *e, struct cluster *c, int64_t now)
{
	struct server *n = cluster_upgrading(c);

	if (n == NULL)
		return;
	if (n->state == SERVER_DONE)
		cluster_node_done(e, c, n, now);
	else if (n->state == SERVER_PENDING)
		upgrade_start(e, n, now);
	else if (upgrade_ready_to_install(e, n))
		cluster_status(e, c, now);
}

void
cluster_start(struct engine *e, struct cluster *c, int64_t now)
{
	cluster_set(e, c, STEP_DISCOVER, ENGINE_ACTOR, now, NULL,
	    "reading the cluster's status");
	cluster_status(e, c, now);
}

static void
cluster_checkpoint(struct engine *e, struct cluster *c, int64_t now)
{
	const char *cp = cluster_pending_checkpoint(e, c);
	struct server *to = c->step == STEP_FAILOVER ?
	    cluster_other(c, c->original_active) : c->original_active;

	if (cp == NULL) {
		cluster_status(e, c, now);
		return;
	}
	log_notice("cluster '%s': %s to '%s' waits for approval", c->name, cp,
	    to->name);
	engine_event(e, now, "cluster.checkpoint", c->name, ENGINE_ACTOR,
	    json_pack("{s:s, s:s}", "checkpoint", cp, "target", to->name),
	    "%s of '%s' to '%s' waits for approval: exrollctl approve %s",
	    cp, c->name, to->name, c->name);
}

void
cluster_node_done(struct engine *e, struct cluster *c, struct server *node,
    int64_t now)
{
	if (node != cluster_upgrading(c))
		return;
	if (c->step == STEP_UPGRADE_PASSIVE) {
		cluster_set(e, c, STEP_FAILOVER, ENGINE_ACTOR, now,
		    cluster_node_data("node", node),
		    "passive node '%s' upgraded", node->name);
		cluster_checkpoint(e, c, now);
		return;
	}
	if (!e->cfg->policy.failback) {
		cluster_set(e, c, STEP_DONE, ENGINE_ACTOR, now,
		    cluster_node_data("node", node),
		    "former active node '%s' upgraded; no failback (policy)",
		    node->name);
		engine_unit_ended(e, c->wave, true, now);
		return;
	}
	cluster_set(e, c, STEP_FAILBACK, ENGINE_ACTOR, now,
	    cluster_node_data("node", node),
	    "former active node '%s' upgraded", node->name);
	cluster_checkpoint(e, c, now);
}

void
cluster_node_ready(struct engine *e, struct cluster *c, struct server *node,
    int64_t now)
{
	if (node == cluster_upgrading(c))
		cluster_status(e, c, now);
}

/* Queues one of the failover/failback actions, if side effects may start. */
static void
cluster_act(struct engine *e, struct cluster *c, enum job_kind kind,
    struct server *target, int64_t now)
{
	char id[JOB_ID_MAX + 1], text[256], tv[VERSION_STRLEN];
	char *req = NULL;
	struct job *j;

	/* A failover that has stopped the CMS is carried to its end even when
	 * the window closes: leaving the CMS offline until the next window
	 * would be an outage of every mailbox on it. */
	if (!engine_may_start(e, kind) && !(c->cms_stopped &&
	    e->m->rollout.state == ROLLOUT_WAITING_WINDOW))
		return;	/* parked: kicked when the rollout may act again */
	if (c->action_started_at == 0 && !c->cms_stopped) {
		/* The first action of a failover or failback: it must fit in
		 * what is left of the window, as a whole. */
		int which = c->step == STEP_FAILBACK;

		if (!engine_fits_window(e, engine_expected_ccr(e, which), now,
		    cluster_step_name(c->step), c->wait_note,
		    sizeof(c->wait_note))) {
			char t[TIME_RFC3339_LEN];

			log_info("cluster '%s': waits: %s", c->name, c->wait_note);
			engine_event(e, now, "cluster.waiting", c->name,
			    ENGINE_ACTOR, json_pack("{s:s, s:I, s:s}",
			    "what", cluster_step_name(c->step),
			    "expected_ms",
			    (json_int_t)engine_expected_ccr(e, which),
			    "window_closes_at", time_format_rfc3339(
			    e->window.closes_at, t, sizeof(t))),
			    "%s", c->wait_note);
			return;
		}
		c->action_started_at = now;
	}
	engine_job_id(e, id);
	version_format(&e->cfg->target_version, tv, sizeof(tv));
	switch (kind) {
	case JOB_CMS_STOP:
		snprintf(text, sizeof(text), "exroll %s: upgrade of %s to %s",
		    id, c->name, tv);
		req = cmdlet_cms_stop(id, c->name, text);
		c->cms_stopped = true;
		break;
	case JOB_CMS_MOVE:
		snprintf(text, sizeof(text), "exroll %s: %s of %s to %s", id,
		    cluster_step_name(c->step), c->name, target->name);
		req = cmdlet_cms_move(id, c->name, target->name, text);
		c->moves++;
		break;
	case JOB_CMS_SETUP:
		/* No gateway-side timeout, as for setup (upgrade.c). */
		req = cmdlet_cms_setup(id, target->name, c->name, 0);
		break;
	case JOB_GET_SERVER:
	case JOB_TEST_HEALTH:
	case JOB_SETUP:
	case JOB_RESTART:
	case JOB_CMS_STATUS:
	case JOB_CMS_START:
		fatalx("cluster: job kind '%s' is not an action",
		    job_kind_name(kind));
	}
	j = engine_job(e, kind, NULL, c, id, req, now);
	log_info("cluster '%s': %s%s%s (job %s)", c->name, job_kind_name(kind),
	    target ? " on " : "", target ? target->name : "", j->id);
	engine_event(e, now, kind == JOB_CMS_MOVE ? "cluster.move" :
	    "cluster.action", c->name, ENGINE_ACTOR, json_pack("{s:s, s:s, s:s, s:s?}",
	    "action", job_kind_name(kind), "step", cluster_step_name(c->step),
	    "job", j->id, "target", target ? target->name : NULL),
	    "%s%s%s%s (job %s)",
	    kind == JOB_CMS_STOP ? "stopping " :
	    kind == JOB_CMS_MOVE ? "moving " : "setup /upgradeCMS of ",
	    c->name, target ? (kind == JOB_CMS_MOVE ? " to " : " on ") : "",
	    target ? target->name : "", j->id);
	model_touch(e->m, &c->dirty);
}

static bool
cluster_pending_state(enum cms_state st)
{
	return st == CMS_ONLINE_PENDING || st == CMS_OFFLINE_PENDING;
}

static void
cluster_reconcile_failover(struct engine *e, struct cluster *c,
    enum cms_state st, int64_t now)
{
	struct server *a = c->original_active, *b = cluster_other(c, a);
	bool sp = e->cfg->policy.ccr_procedure == CCR_SERVICE_PACK;

	if (c->active == b && st == CMS_ONLINE) {
		cluster_set(e, c, STEP_UPGRADE_FORMER_ACTIVE, ENGINE_ACTOR, now,
		    cluster_node_data("active", b),
		    "'%s' online on '%s'", c->name, b->name);
		cluster_upgrade_step(e, c, now);
	} else if (c->active == a && st == CMS_ONLINE) {
		cluster_act(e, c, sp ? JOB_CMS_STOP : JOB_CMS_MOVE, sp ? NULL : b,
		    now);
	} else if (sp && c->cms_stopped && c->active == a && st == CMS_OFFLINE) {
		cluster_act(e, c, JOB_CMS_MOVE, b, now);
	} else if (sp && c->cms_stopped && c->active == b && st == CMS_OFFLINE) {
		cluster_act(e, c, JOB_CMS_SETUP, b, now);
	} else {
		cluster_block(e, c, now, "'%s' is %s on '%s', which the failover "
		    "to '%s' does not expect", c->name, cms_state_name(st),
		    c->active->name, b->name);
	}
}

static void
cluster_reconcile_failback(struct engine *e, struct cluster *c,
    enum cms_state st, int64_t now)
{
	struct server *a = c->original_active, *b = cluster_other(c, a);

	if (c->active == a && st == CMS_ONLINE) {
		cluster_set(e, c, STEP_DONE, ENGINE_ACTOR, now,
		    cluster_node_data("active", a),
		    "'%s' back online on '%s'", c->name, a->name);
		engine_unit_ended(e, c->wave, true, now);
	} else if (c->active == b && st == CMS_ONLINE) {
		cluster_act(e, c, JOB_CMS_MOVE, a, now);
	} else {
		cluster_block(e, c, now, "'%s' is %s on '%s', which the failback "
		    "to '%s' does not expect", c->name, cms_state_name(st),
		    c->active->name, a->name);
	}
}

static void
cluster_status_done(struct engine *e, struct cluster *c,
    const struct gw_result *res, int64_t now)
{
	struct cmdlet_cms_status st;
	struct server *owner = NULL, *n;
	char err[256];

	if (res->status != GW_COMPLETED) {
		cluster_fail(e, c, now, "status: %s", res->message);
		return;
	}
	if (cmdlet_parse_cms_status(res->output, &st, err, sizeof(err)) != 0) {
		cluster_fail(e, c, now, "status: %s", err);
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (name_equal(c->nodes[i]->name, st.active))
			owner = c->nodes[i];
	}
	if (owner == NULL) {
		cluster_block(e, c, now, "status names '%s' as the active node, "
		    "which is not one of its nodes", st.active);
		return;
	}
	c->active = owner;
	snprintf(c->cms_state, sizeof(c->cms_state), "%s", cms_state_name(st.state));
	c->attempts = 0;
	model_touch(e->m, &c->dirty);
	if (cluster_pending_state(st.state)) {
		cluster_poll_later(e, c, now);
		return;
	}

	switch (c->step) {
	case STEP_DISCOVER:
		if (st.state != CMS_ONLINE) {
			cluster_block(e, c, now, "'%s' is %s; it must be Online "
			    "before the upgrade", c->name,
			    cms_state_name(st.state));
			return;
		}
		if (c->original_active == NULL)
			c->original_active = owner;
		cluster_set(e, c, STEP_UPGRADE_PASSIVE, ENGINE_ACTOR, now,
		    engine_data(json_pack("{s:s, s:s}", "original_active",
		    c->original_active->name, "passive",
		    cluster_other(c, c->original_active)->name)),
		    "active node '%s', upgrading passive node '%s' first",
		    c->original_active->name,
		    cluster_other(c, c->original_active)->name);
		cluster_upgrade_step(e, c, now);
		break;
	case STEP_UPGRADE_PASSIVE:
	case STEP_UPGRADE_FORMER_ACTIVE:
		n = cluster_upgrading(c);
		if (n == NULL || !upgrade_ready_to_install(e, n))
			break;
		if (owner == n && st.state != CMS_OFFLINE) {
			cluster_block(e, c, now, "node '%s' owns '%s' (%s); setup "
			    "must not run on the owner", n->name, c->name,
			    cms_state_name(st.state));
			break;
		}
		upgrade_install(e, n, now);
		break;
	case STEP_FAILOVER:
		if (cluster_pending_checkpoint(e, c) == NULL)
			cluster_reconcile_failover(e, c, st.state, now);
		break;
	case STEP_FAILBACK:
		if (cluster_pending_checkpoint(e, c) == NULL)
			cluster_reconcile_failback(e, c, st.state, now);
		break;
	case STEP_PENDING:
	case STEP_DONE:
	case STEP_SKIPPED:
		break;
	}
}

void
cluster_job_done(struct engine *e, struct cluster *c, const struct job *j,
    const struct gw_result *res, int64_t now)
{
	struct cmdlet_setup su;
	char err[256];

	if (c->step == STEP_DONE || c->step == STEP_SKIPPED ||
	    c->step == STEP_PENDING)
		return;
	if (j->kind == JOB_CMS_STATUS) {
		cluster_status_done(e, c, res, now);
		return;
	}
	/* An action ended: whatever its answer, the status says what to do
	 * next; a failure only costs an attempt. */
	if (res->status != GW_COMPLETED) {
		cluster_fail(e, c, now, "%s: %s", job_kind_name(j->kind),
		    res->message);
		return;
	}
	if (j->kind == JOB_CMS_SETUP) {
		if (cmdlet_parse_setup(res->output, &su, err, sizeof(err)) != 0) {
			cluster_block(e, c, now, "setup /upgradeCMS: %s", err);
			return;
		}
		if (su.exit_code != 0) {
			cluster_block(e, c, now, "setup /upgradeCMS exited with "
			    "code %d", su.exit_code);
			return;
		}
	}
	cluster_status(e, c, now);
}

void
cluster_kick(struct engine *e, struct cluster *c, int64_t now)
{
	if (c->job != NULL || c->wake_at != 0 || c->blocked)
		return;
	switch (c->step) {
	case STEP_DISCOVER:
		cluster_status(e, c, now);
		break;
	case STEP_UPGRADE_PASSIVE:
	case STEP_UPGRADE_FORMER_ACTIVE:
		cluster_upgrade_step(e, c, now);
		break;
	case STEP_FAILOVER:
	case STEP_FAILBACK:
		if (cluster_pending_checkpoint(e, c) == NULL)
			cluster_status(e, c, now);
		break;
	case STEP_PENDING:
	case STEP_DONE:
	case STEP_SKIPPED:
		break;
	}
}

void
cluster_wake(struct engine *e, struct cluster *c, int64_t now)
{
	cluster_kick(e, c, now);
}

int
cluster_approve(struct engine *e, struct cluster *c, const char *checkpoint,
    const char *actor, int64_t now, char *msg, size_t msglen)
{
	const char *pending = cluster_pending_checkpoint(e, c);
	bool *flag;

	if (checkpoint != NULL && strcmp(checkpoint, "failover") != 0 &&
	    strcmp(checkpoint, "failback") != 0) {
		snprintf(msg, msglen, "checkpoint must be \"failover\" or "
		    "\"failback\", not '%s'", checkpoint);
		return -EINVAL;
	}
	if (pending == NULL) {
		bool fo = (checkpoint == NULL || strcmp(checkpoint, "failover") == 0)
		    && c->approved_failover && c->step >= STEP_FAILOVER;
		bool fb = (checkpoint == NULL || strcmp(checkpoint, "failback") == 0)
		    && c->approved_failback && c->step >= STEP_FAILBACK;

		if (fo || fb) {
			snprintf(msg, msglen, "%s of '%s' was already approved",
			    fb ? "failback" : "failover", c->name);
			return 0;
		}
		snprintf(msg, msglen, "cluster '%s' is not waiting for approval "
		    "(step %s)", c->name, cluster_step_name(c->step));
		return -EBUSY;
	}
	if (checkpoint != NULL && strcmp(checkpoint, pending) != 0) {
		snprintf(msg, msglen, "cluster '%s' waits at the %s checkpoint, "
		    "not %s", c->name, pending, checkpoint);
		return -EBUSY;
	}
	flag = c->step == STEP_FAILOVER ? &c->approved_failover :
	    &c->approved_failback;
	*flag = true;
	model_touch(e->m, &c->dirty);
	log_notice("cluster '%s': %s approved by %s", c->name, pending, actor);
	engine_event(e, now, "cluster.approved", c->name, actor,
	    json_pack("{s:s, s:s}", "checkpoint", pending, "target",
	    (c->step == STEP_FAILOVER ? cluster_other(c, c->original_active) :
	    c->original_active)->name),
	    "%s of '%s' approved", pending, c->name);
	cluster_kick(e, c, now);
	return 0;
}

int
cluster_retry(struct engine *e, struct cluster *c, const char *actor,
    int64_t now, char *msg, size_t msglen)
{
	for (int i = 0; !c->blocked && i < 2; i++) {
		if (c->nodes[i]->state == SERVER_FAILED)
			return upgrade_retry(e, c->nodes[i], actor, now, msg,
			    msglen);
	}
	if (!c->blocked) {
		snprintf(msg, msglen, "cluster '%s' is not blocked (step %s)",
		    c->name, cluster_step_name(c->step));
		return -EBUSY;
	}
	c->blocked = false;
	c->attempts = 0;
	engine_event(e, now, "cluster.retry", c->name, actor,
	    json_pack("{s:o}", "after", model_json_text(c->last_error)),
	    "retried by the operator after: %s",
	    c->last_error ? c->last_error : "a block");
	cluster_set_error(c, NULL);
	model_touch(e->m, &c->dirty);
	cluster_kick(e, c, now);
	return 0;
}

void
cluster_skip(struct engine *e, struct cluster *c, const char *reason,
    const char *actor, int64_t now)
{
	c->wake_at = 0;
	c->blocked = false;
	cluster_set(e, c, STEP_SKIPPED, actor, now, NULL,
	    "skipped by the operator: %s", reason);
	for (int i = 0; i < 2; i++) {
		struct server *n = c->nodes[i];

		if (n->state != SERVER_DONE && n->state != SERVER_SKIPPED)
			upgrade_skip(e, n, reason, actor, now);
	}
}
