/*
 * upgrade — one server's way to the target version (DESIGN §1).
 *
 *   pending --start--> precheck --older--> install --exit 0--> [reboot] --> verify --> done
 *                         |                   |                               |
 *                         '--at target--------+-------------------------------'
 *                         (a reboot still owed goes through reboot first)
 *
 *   any phase --error--> precheck after a backoff (attempts <= retries)
 *                   '--> failed  (attempts exhausted, or setup overran its
 *                                 timeout: it cannot be cancelled)
 *   failed --retry (operator)--> precheck          any --skip--> skipped
 *
 * Invariants:
 *  - install and reboot are entered only together with their job: a server
 *    in those phases has its job in flight, or that job has just ended and
 *    the transition out is in the same commit. When a side effect may not
 *    start (paused, window closed), the server stays ("parks") in precheck
 *    or verify with no job, and upgrade_kick() re-reads its state later;
 *  - a server has at most one job in flight (s->job);
 *  - "reboot_required" means a reboot is still owed: set when setup says so
 *    (or policy is "always"), cleared when Restart-Computer completed;
 *  - a CCR node installs only after its cluster confirmed, from a fresh
 *    Get-ClusteredMailboxServerStatus, that the node does not own the CMS;
 *  - every change goes through upgrade_set(), which logs it and queues its
 *    event for the same commit: the message "from -> to: reason" for
 *    people, and the data {"from_state", "from_phase", "to_state",
 *    "to_phase", "reason", "version"?, ...} that report.c and hooks.c read
 *    (schema/control-protocol.md has every field; tests/unit/test_report.c
 *    drives this engine and fails if the data drifts from what the report
 *    reads).
 */
#include "upgrade.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cmdlet.h"
#include "log.h"
#include "timefmt.h"

#define UPGRADE_BACKOFF_CAP_MS (3600 * 1000)

static const char *
upgrade_label(enum server_state st, enum server_phase ph)
{
	return st == SERVER_RUNNING ? server_phase_name(ph) :
	    server_state_name(st);
}

/* The one transition function of this machine. extra (stolen, may be
 * NULL) adds to the event's data what only the caller knows: the job just
 * started, the failure and when the next try comes. */
static void upgrade_set(struct engine *e, struct server *s,
    enum server_state st, enum server_phase ph, const char *actor,
    int64_t now, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static void
upgrade_set(struct engine *e, struct server *s, enum server_state st,
    enum server_phase ph, const char *actor, int64_t now, json_t *extra,
    const char *fmt, ...)
{
	char reason[512], v[VERSION_STRLEN];
	const char *from = upgrade_label(s->state, s->phase);
	const char *to = upgrade_label(st, ph);
	json_t *data;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	/* Before the fields change: from_* are the state being left. The
	 * version is the last one Get-ExchangeServer reported, when any. */
	data = json_pack("{s:s, s:s, s:s, s:s, s:o}",
	    "from_state", server_state_name(s->state),
	    "from_phase", server_phase_name(s->phase),
	    "to_state", server_state_name(st),
	    "to_phase", server_phase_name(ph),
	    "reason", model_json_text(reason));
	if (data != NULL && s->has_version &&
	    json_object_set_new(data, "version", json_string(version_format(
	    &s->version, v, sizeof(v)))) != 0)
		fatalx("out of memory recording an event");
	if (data != NULL && extra != NULL &&
	    json_object_update_new(data, extra) != 0)
		fatalx("out of memory recording an event");
	if (data == NULL)
		json_decref(extra);

	if (s->state == SERVER_PENDING && st == SERVER_RUNNING &&
	    s->started_at == 0)
		s->started_at = now;
	if (ph != s->phase || st != s->state)
		s->phase_started_at = now;
	if (st == SERVER_DONE || st == SERVER_FAILED || st == SERVER_SKIPPED)
		s->finished_at = now;
	else
		s->finished_at = 0;
	log_info("server '%s': %s -> %s (%s)", s->name, from, to, reason);
	engine_event(e, now, st == s->state ? "server.phase" :
	    "server.state", s->name, actor, data, "%s -> %s: %s", from, to, reason);
	s->state = st;
	s->phase = ph;
	model_touch(e->m, &s->dirty);
}

static void
upgrade_set_error(struct server *s, const char *msg)
{
	free(s->last_error);
	s->last_error = msg ? strdup(msg) : NULL;
}

static struct job *
upgrade_submit(struct engine *e, struct server *s, enum job_kind kind,
    int64_t now)
{
	const struct config_policy *p = &e->cfg->policy;
	char id[JOB_ID_MAX + 1];
	char *req = NULL;

	engine_job_id(e, id);
	switch (kind) {
	case JOB_GET_SERVER:
		req = cmdlet_get_server(id, s->name);
		break;
	case JOB_TEST_HEALTH:
		req = cmdlet_test_health(id, s->name);
		break;
	case JOB_SETUP:
		/* No gateway-side timeout: setup cannot be cancelled, so a
		 * gateway giving up would only report "failed" while setup
		 * goes on, inviting a second one. install_timeout_s is
		 * enforced here, and the job is followed to its real end. */
		req = cmdlet_setup_upgrade(id, s->name, p->setup_source, 0);
		break;
	case JOB_RESTART:
		req = cmdlet_restart(id, s->name);
		break;
	case JOB_CMS_STATUS:
	case JOB_CMS_STOP:
	case JOB_CMS_MOVE:
	case JOB_CMS_SETUP:
	case JOB_CMS_START:
		fatalx("upgrade: job kind '%s' is not a server's",
		    job_kind_name(kind));
	}
	return engine_job(e, kind, s, NULL, id, req, now);
}

static bool
upgrade_at_target(const struct engine *e, const struct server *s)
{
	return s->has_version &&
	    version_cmp(&s->version, &e->cfg->target_version) >= 0;
}

static const char *
upgrade_version_str(const struct server *s, char *buf, size_t len)
{
	return s->has_version ? version_format(&s->version, buf, len) :
	    "unknown";
}

/* A try failed: back off and start over from precheck, or give up. */
static void upgrade_fail(struct engine *e, struct server *s, int64_t now,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
upgrade_fail(struct engine *e, struct server *s, int64_t now, const char *fmt,
    ...)
{
	const struct config_policy *p = &e->cfg->policy;
	char why[512], pause[640];
	bool setup_running = s->job != NULL && s->job->kind == JOB_SETUP;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);

	s->attempts++;
	upgrade_set_error(s, why);
	if (s->attempts <= p->retries && !setup_running) {
		int64_t delay = time_s_to_ms(p->retry_backoff_s);
		char d[32];

		for (int i = 1; i < s->attempts && delay < UPGRADE_BACKOFF_CAP_MS;
		    i++)
			delay *= 2;
		if (delay > UPGRADE_BACKOFF_CAP_MS)
			delay = UPGRADE_BACKOFF_CAP_MS;
		s->wake_at = now + delay;
		upgrade_set(e, s, SERVER_RUNNING, PHASE_PRECHECK, ENGINE_ACTOR, now,
		    engine_data(json_pack("{s:i, s:i, s:o, s:I}",
		    "attempt", s->attempts, "attempts", p->retries + 1,
		    "error", model_json_text(why),
		    "retry_in_ms", (json_int_t)delay)),
		    "attempt %d of %d failed: %s; retrying in %s", s->attempts,
		    p->retries + 1, why, time_format_duration(delay, d, sizeof(d)));
		return;
	}
	s->wake_at = 0;
	upgrade_set(e, s, SERVER_FAILED, s->phase, ENGINE_ACTOR, now,
	    engine_data(json_pack("{s:i, s:i, s:o}", "attempt", s->attempts,
	    "attempts", p->retries + 1, "error", model_json_text(why))),
	    "%s", why);
	snprintf(pause, sizeof(pause), "server '%s' failed: %s", s->name, why);
	engine_rollout_set(e, ROLLOUT_PAUSED, PAUSE_FAILURE, pause, ENGINE_ACTOR,
	    now);
}

static void
upgrade_done(struct engine *e, struct server *s, int64_t now)
{
	char v[VERSION_STRLEN];

	s->wake_at = 0;
	upgrade_set_error(s, NULL);
	upgrade_set(e, s, SERVER_DONE, PHASE_DONE, ENGINE_ACTOR, now, NULL,
	    "at version %s, all required services running",
	    upgrade_version_str(s, v, sizeof(v)));
	if (s->cluster != NULL)
		cluster_node_done(e, s->cluster, s, now);
	else
		engine_unit_ended(e, s->wave, true, now);
}

static void
upgrade_verify_enter(struct engine *e, struct server *s, int64_t now,
    int64_t first_check_at, const char *why)
{
	upgrade_set(e, s, SERVER_RUNNING, PHASE_VERIFY, ENGINE_ACTOR, now, NULL,
	    "%s", why);
	if (first_check_at > now)
		s->wake_at = first_check_at;
	else if (engine_may_start(e, JOB_GET_SERVER))
		upgrade_submit(e, s, JOB_GET_SERVER, now);
}

/* Setup has ended well, or precheck found the version in place with a
 * reboot still owed: reboot if owed, else verify. */
static void
upgrade_after_setup(struct engine *e, struct server *s, int64_t now)
{
	struct job *j;

	if (!s->reboot_required) {
		upgrade_verify_enter(e, s, now, 0, "setup complete");
		return;
	}
	if (!engine_may_start(e, JOB_RESTART)) {
		/* Park: precheck will find the version in place and the
		 * reboot still owed once side effects may start again. */
		if (s->phase != PHASE_PRECHECK)
			upgrade_set(e, s, SERVER_RUNNING, PHASE_PRECHECK,
			    ENGINE_ACTOR, now, NULL, "reboot owed; waits until "
			    "the rollout may act again");
		return;
	}
	j = upgrade_submit(e, s, JOB_RESTART, now);
	upgrade_set(e, s, SERVER_RUNNING, PHASE_REBOOT, ENGINE_ACTOR, now,
	    engine_data(json_pack("{s:s}", "job", j->id)),
	    "restarting (job %s)", j->id);
}

/* server.waiting: what waits, for how long it is expected to run and when
 * the window closes. New reference, or NULL on ENOMEM. */
static json_t *
upgrade_waiting_data(const struct engine *e, const struct server *s)
{
	char t[TIME_RFC3339_LEN];

	return json_pack("{s:s, s:I, s:s}", "what", "setup",
	    "expected_ms", (json_int_t)engine_expected_install(e, s),
	    "window_closes_at", time_format_rfc3339(e->window.closes_at, t,
	    sizeof(t)));
}

bool
upgrade_ready_to_install(const struct engine *e, const struct server *s)
{
	return s->state == SERVER_RUNNING && s->phase == PHASE_PRECHECK &&
	    s->job == NULL && s->wake_at == 0 && s->has_version &&
	    !upgrade_at_target(e, s);
}

void
upgrade_install(struct engine *e, struct server *s, int64_t now)
{
	char have[VERSION_STRLEN], want[VERSION_STRLEN];
	struct job *j;

	if (!engine_may_start(e, JOB_SETUP))
		return;	/* parked in precheck: kicked when allowed */
	if (!engine_fits_window(e, engine_expected_install(e, s), now, "setup",
	    s->wait_note, sizeof(s->wait_note))) {
		/* Parked too: the next window opening kicks it. */
		log_info("server '%s': waits: %s", s->name, s->wait_note);
		engine_event(e, now, "server.waiting", s->name, ENGINE_ACTOR,
		    upgrade_waiting_data(e, s), "%s", s->wait_note);
		return;
	}
	j = upgrade_submit(e, s, JOB_SETUP, now);
	upgrade_set(e, s, SERVER_RUNNING, PHASE_INSTALL, ENGINE_ACTOR, now,
	    engine_data(json_pack("{s:s, s:s}", "target_version",
	    version_format(&e->cfg->target_version, want, sizeof(want)),
	    "job", j->id)),
	    "version %s is older than the target %s; setup started (job %s)",
	    upgrade_version_str(s, have, sizeof(have)),
	    version_format(&e->cfg->target_version, want, sizeof(want)), j->id);
	s->wake_at = now + time_s_to_ms(e->cfg->policy.install_timeout_s);
}

static void
upgrade_precheck_done(struct engine *e, struct server *s,
    const struct gw_result *res, int64_t now)
{
	struct cmdlet_server info;
	char err[256];

	if (res->status != GW_COMPLETED) {
		upgrade_fail(e, s, now, "precheck: %s", res->message);
		return;
	}
	if (cmdlet_parse_server(res->output, &info, err, sizeof(err)) != 0) {
		upgrade_fail(e, s, now, "precheck: %s", err);
		return;
	}
	s->version = info.version;
	s->has_version = true;
	model_touch(e->m, &s->dirty);
	if (!upgrade_at_target(e, s)) {
		if (s->cluster != NULL)
			cluster_node_ready(e, s->cluster, s, now);
		else
			upgrade_install(e, s, now);
		return;
	}
	if (s->reboot_required && e->cfg->policy.reboot != REBOOT_NEVER) {
		upgrade_after_setup(e, s, now);
		return;
	}
	upgrade_verify_enter(e, s, now, 0, "already at the target version");
}

static void
upgrade_install_done(struct engine *e, struct server *s,
    const struct gw_result *res, int64_t now)
{
	const struct config_policy *p = &e->cfg->policy;
	struct cmdlet_setup st;
	char err[256];

	s->wake_at = 0;
	if (res->status != GW_COMPLETED) {
		upgrade_fail(e, s, now, "setup: %s", res->message);
		return;
	}
	if (cmdlet_parse_setup(res->output, &st, err, sizeof(err)) != 0) {
		upgrade_fail(e, s, now, "setup: %s", err);
		return;
	}
	s->install_ms = now - s->phase_started_at;
	engine_note_install(e, s, s->install_ms);
	if (st.exit_code != 0) {
		upgrade_fail(e, s, now, "setup exited with code %d", st.exit_code);
		return;
	}
	s->reboot_required = p->reboot == REBOOT_ALWAYS ||
	    (st.reboot_required && p->reboot == REBOOT_IF_REQUIRED);
	if (st.reboot_required && p->reboot == REBOOT_NEVER)
		engine_event(e, now, "server.notice", s->name, ENGINE_ACTOR,
		    json_pack("{s:s, s:s}", "notice", "reboot_not_done",
		    "reboot_policy", "never"),
		    "setup asks for a reboot; policy reboot \"never\" leaves "
		    "it to the operator");
	upgrade_after_setup(e, s, now);
}

/* Verify is not satisfied yet: try again after verify_interval_s, until
 * verify_timeout_s from the start of the phase. */
static void
upgrade_verify_again(struct engine *e, struct server *s, const char *why,
    int64_t now)
{
	const struct config_policy *p = &e->cfg->policy;
	char d[32];

	if (now - s->phase_started_at >= time_s_to_ms(p->verify_timeout_s)) {
		upgrade_fail(e, s, now, "verify gave up after %s: %s",
		    time_format_duration(now - s->phase_started_at, d, sizeof(d)),
		    why);
		return;
	}
	log_debug("server '%s': verify not yet satisfied: %s", s->name, why);
	s->wake_at = now + time_s_to_ms(p->verify_interval_s);
	model_touch(e->m, &s->dirty);
}

static void
upgrade_verify_done(struct engine *e, struct server *s, const struct job *j,
    const struct gw_result *res, int64_t now)
{
	char err[256], why[640], have[VERSION_STRLEN], want[VERSION_STRLEN];

	if (res->status != GW_COMPLETED) {
		upgrade_verify_again(e, s, res->message, now);
		return;
	}
	if (j->kind == JOB_GET_SERVER) {
		struct cmdlet_server info;

		if (cmdlet_parse_server(res->output, &info, err, sizeof(err))) {
			upgrade_verify_again(e, s, err, now);
			return;
		}
		s->version = info.version;
		s->has_version = true;
		model_touch(e->m, &s->dirty);
		if (!upgrade_at_target(e, s)) {
			snprintf(why, sizeof(why), "reports version %s, target %s",
			    version_format(&s->version, have, sizeof(have)),
			    version_format(&e->cfg->target_version, want,
			    sizeof(want)));
			upgrade_verify_again(e, s, why, now);
			return;
		}
		if (engine_may_start(e, JOB_TEST_HEALTH))
			upgrade_submit(e, s, JOB_TEST_HEALTH, now);
		return;
	}
	/* Test-ServiceHealth */
	{
		struct cmdlet_health h;

		if (cmdlet_parse_health(res->output, &h, err, sizeof(err))) {
			upgrade_verify_again(e, s, err, now);
			return;
		}
		if (!h.all_running) {
			snprintf(why, sizeof(why), "services not running: %s",
			    h.not_running[0] ? h.not_running : "unknown");
			upgrade_verify_again(e, s, why, now);
			return;
		}
	}
	upgrade_done(e, s, now);
}

static void
upgrade_reboot_done(struct engine *e, struct server *s,
    const struct gw_result *res, int64_t now)
{
	if (res->status != GW_COMPLETED) {
		upgrade_fail(e, s, now, "restart: %s", res->message);
		return;
	}
	s->reboot_required = false;
	/* The server is going down: give it one verify interval first. */
	upgrade_verify_enter(e, s, now,
	    now + time_s_to_ms(e->cfg->policy.verify_interval_s),
	    "restart issued; waiting for the server to come back");
}

void
upgrade_start(struct engine *e, struct server *s, int64_t now)
{
	s->attempts = 0;
	upgrade_set_error(s, NULL);
	upgrade_set(e, s, SERVER_RUNNING, PHASE_PRECHECK, ENGINE_ACTOR, now,
	    NULL, "started");
	if (engine_may_start(e, JOB_GET_SERVER))
		upgrade_submit(e, s, JOB_GET_SERVER, now);
}

void
upgrade_job_done(struct engine *e, struct server *s, const struct job *j,
    const struct gw_result *res, int64_t now)
{
	if (s->state != SERVER_RUNNING) {
		/* A failed (setup overran its timeout) or skipped server: the
		 * job was followed to its end; record how it ended. */
		if (j->kind == JOB_SETUP)
			engine_event(e, now, "server.notice", s->name, ENGINE_ACTOR,
			    json_pack("{s:s, s:s, s:s, s:s}",
			    "notice", "setup_ended", "job", j->id,
			    "job_state", job_state_name(j->state),
			    "server_state", server_state_name(s->state)),
			    "setup job %s ended (%s) while the server was %s",
			    j->id, job_state_name(j->state),
			    server_state_name(s->state));
		return;
	}
	switch (s->phase) {
	case PHASE_PRECHECK:
		upgrade_precheck_done(e, s, res, now);
		break;
	case PHASE_INSTALL:
		upgrade_install_done(e, s, res, now);
		break;
	case PHASE_REBOOT:
		upgrade_reboot_done(e, s, res, now);
		break;
	case PHASE_VERIFY:
		upgrade_verify_done(e, s, j, res, now);
		break;
	case PHASE_NONE:
	case PHASE_DONE:
		log_warnx("server '%s': job %s ended in phase %s", s->name,
		    j->id, server_phase_name(s->phase));
		break;
	}
}

void
upgrade_kick(struct engine *e, struct server *s, int64_t now)
{
	if (s->state != SERVER_RUNNING || s->job != NULL || s->wake_at != 0)
		return;
	if (s->phase == PHASE_INSTALL || s->phase == PHASE_REBOOT) {
		/* The job of this phase ended without a transition out (the
		 * gateway refused it): start over from what the server says. */
		upgrade_set(e, s, SERVER_RUNNING, PHASE_PRECHECK, ENGINE_ACTOR, now,
		    NULL, "re-reading the server's state");
	}
	if (s->cluster != NULL && upgrade_ready_to_install(e, s)) {
		cluster_node_ready(e, s->cluster, s, now);
		return;
	}
	if (engine_may_start(e, JOB_GET_SERVER))
		upgrade_submit(e, s, JOB_GET_SERVER, now);
}

void
upgrade_wake(struct engine *e, struct server *s, int64_t now)
{
	if (s->state != SERVER_RUNNING)
		return;
	if (s->phase == PHASE_INSTALL && s->job != NULL) {
		char d[32];

		upgrade_fail(e, s, now, "setup has run for longer than "
		    "install_timeout_s (%s); it cannot be cancelled and is "
		    "still followed",
		    time_format_duration(now - s->phase_started_at, d, sizeof(d)));
		return;
	}
	upgrade_kick(e, s, now);
}

int
upgrade_retry(struct engine *e, struct server *s, const char *actor,
    int64_t now, char *msg, size_t msglen)
{
	if (s->state != SERVER_FAILED) {
		snprintf(msg, msglen, "server '%s' has not failed (state %s)",
		    s->name, server_state_name(s->state));
		return -EBUSY;
	}
	if (s->job != NULL) {
		snprintf(msg, msglen, "job %s (%s) is still running on '%s'; "
		    "retry when it has ended", s->job->id,
		    job_kind_name(s->job->kind), s->name);
		return -EBUSY;
	}
	s->attempts = 0;
	s->wake_at = 0;
	upgrade_set(e, s, SERVER_RUNNING, PHASE_PRECHECK, actor, now, NULL,
	    "retried by the operator after: %s",
	    s->last_error ? s->last_error : "failure");
	upgrade_set_error(s, NULL);
	upgrade_kick(e, s, now);
	return 0;
}

void
upgrade_skip(struct engine *e, struct server *s, const char *reason,
    const char *actor, int64_t now)
{
	s->wake_at = 0;
	upgrade_set(e, s, SERVER_SKIPPED, s->phase, actor, now, NULL,
	    "skipped by the operator: %s", reason);
}
