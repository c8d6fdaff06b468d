/*
 * test_report — the run report (daemon/report.c) and its renderings
 * (ctl/output_report.c).
 *
 * report_build() is fed hand-made event arrays, in the shape store_events()
 * returns, over a model built from a small organization (CAS01, HUB01 and
 * the CCR cluster CMS1 on MBX1A/MBX1B): what is checked is what a change
 * record needs — phase durations, failed tries and retries, approvals with
 * their author and time, the windows and pauses, the totals. One case runs
 * the real engine and reports on the events it wrote, so that the message
 * forms the report reads cannot drift away from the ones the engine
 * writes.
 *
 * Golden files: tests/unit/golden/report-NAME.json is the report built
 * with a fixed now; report-NAME.txt and .md its text and Markdown
 * renderings with TZ=UTC. EXROLL_UPDATE_GOLDEN=1 rewrites them (review
 * the diff).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "model.h"
#include "output.h"
#include "plan.h"
#include "report.h"
#include "store.h"
#include "testutil.h"
#include "timefmt.h"
#include "version.h"

#define ALICE "uid 1000 (alice)"
#define BOB "uid 1001 (bob)"
#define MINUTE (60 * 1000LL)
#define HOUR (60 * MINUTE)

static const char *CFG_HEAD =
    "{\"gateway\": {\"url\": \"http://127.0.0.1:1/\", \"poll_interval_s\": 5},\n"
    " \"state_file\": \"/nonexistent/state.db\",\n";

static const char *INV =
    " \"servers\": [{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},\n"
    "  {\"name\": \"HUB01\", \"roles\": [\"HubTransport\"]},\n"
    "  {\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},\n"
    "  {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],\n"
    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\", "
    "\"nodes\": [\"MBX1A\", \"MBX1B\"]}]\n";

struct fx {
	char *dir;
	struct config *cfg;
	struct plan plan;
	struct model m;
	json_t *events;
	int64_t seq;
};

static void
fx_init(struct fx *f, const char *policy)
{
	struct config_errors errs = { 0 };
	char *path, text[8192];

	memset(f, 0, sizeof(*f));
	setenv("TZ", "UTC", 1);
	f->dir = tu_tmpdir("report");
	ck_assert_ptr_nonnull(f->dir);
	path = tu_path(f->dir, "exroll.json");
	snprintf(text, sizeof(text), "%s \"policy\": {%s},\n%s}\n", CFG_HEAD,
	    policy, INV);
	ck_assert_int_eq(tu_write_file(path, text), 0);
	if (config_load(path, &f->cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		ck_abort_msg("test configuration rejected");
	}
	free(path);
	ck_assert_int_eq(plan_build(f->cfg, &f->plan), 0);
	ck_assert_int_eq(model_init(&f->m, f->cfg, &f->plan), 0);
	f->events = json_array();
	ck_assert_ptr_nonnull(f->events);
}

static void
fx_free(struct fx *f)
{
	json_decref(f->events);
	model_free(&f->m);
	plan_free(&f->plan);
	config_free(f->cfg);
	tu_rmrf(f->dir);
	free(f->dir);
}

/* "DD HH:MM:SS" of November 2026, UTC, as ms. */
static int64_t
at(const char *when)
{
	char buf[64];
	int64_t ms;

	snprintf(buf, sizeof(buf), "2026-11-%.2sT%sZ", when, when + 3);
	ck_assert_msg(time_parse_rfc3339(buf, &ms) == 0, "bad time '%s'",
	    when);
	return ms;
}

static void ev(struct fx *f, const char *when, const char *kind,
    const char *subject, const char *actor, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Appends one event as store_events() gives it. */
static void
ev(struct fx *f, const char *when, const char *kind, const char *subject,
    const char *actor, const char *fmt, ...)
{
	char msg[1024], t[TIME_RFC3339_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(json_array_append_new(f->events, json_pack(
	    "{s:I, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)++f->seq,
	    "time", time_format_rfc3339(at(when), t, sizeof(t)),
	    "kind", kind, "subject", subject, "message", msg,
	    "actor", actor)), 0);
}

#define SYS "exrolld"
#define OLDER "version 8.0.685.24 is older than the target 8.1.240.6; " \
	"setup started (job exr-0123456789ab-%08d)"

/* A server's happy path from pending, one phase per argument time. */
static void
ev_server_ok(struct fx *f, const char *name, const char *start,
    const char *install, const char *verify, const char *done, int job)
{
	ev(f, start, "server.state", name, SYS, "pending -> precheck: started");
	ev(f, install, "server.phase", name, SYS, "precheck -> install: "
	    OLDER, job);
	ev(f, verify, "server.phase", name, SYS, "install -> verify: setup "
	    "complete");
	ev(f, done, "server.state", name, SYS, "verify -> done: at version "
	    "8.1.240.6, all required services running");
}

/*
 * The weekend: created Friday night outside the window; CAS01 with a
 * reboot; HUB01 fails once (retried by exrolld), fails again and pauses
 * the rollout until alice retries it; bob pauses for a call; CMS1's
 * failover approved by alice, the window closes while the failback waits,
 * bob approves it the next evening, the CMS comes up PartiallyOnline
 * (a block), alice retries, done.
 */
static void
weekend_events(struct fx *f)
{
	ev(f, "27 19:00:00", "rollout.created", "rollout", SYS,
	    "rollout created: 4 servers, 1 cluster, target 8.1.240.6");
	ev(f, "27 19:00:00", "rollout.state", "rollout", SYS, "running -> "
	    "waiting_window: outside the maintenance window; next opens "
	    "2026-11-28T20:00:00.000Z");
	ev(f, "28 20:00:00", "rollout.state", "rollout", SYS, "waiting_window "
	    "-> running: maintenance window open");
	/* CAS01: 5 s precheck, 45 min setup, 1 min reboot, 10 min verify. */
	ev(f, "28 20:00:00", "server.state", "CAS01", SYS, "pending -> "
	    "precheck: started");
	ev(f, "28 20:00:05", "server.phase", "CAS01", SYS, "precheck -> "
	    "install: " OLDER, 2);
	ev(f, "28 20:45:05", "server.phase", "CAS01", SYS, "install -> "
	    "reboot: restarting (job exr-0123456789ab-00000003)");
	ev(f, "28 20:46:05", "server.phase", "CAS01", SYS, "reboot -> "
	    "verify: restart issued; waiting for the server to come back");
	ev(f, "28 20:56:05", "server.state", "CAS01", SYS, "verify -> done: "
	    "at version 8.1.240.6, all required services running");
	ev(f, "28 20:56:05", "wave.done", "ClientAccess", SYS, "wave 1 "
	    "(ClientAccess) done: 1 units");
	/* HUB01: two failed setups, a failure pause, alice's retry. */
	ev(f, "28 20:56:05", "server.state", "HUB01", SYS, "pending -> "
	    "precheck: started");
	ev(f, "28 20:56:10", "server.phase", "HUB01", SYS, "precheck -> "
	    "install: " OLDER, 7);
	ev(f, "28 21:40:10", "server.phase", "HUB01", SYS, "install -> "
	    "precheck: attempt 1 of 2 failed: setup exited with code 1603; "
	    "retrying in 1 min");
	ev(f, "28 21:41:10", "server.phase", "HUB01", SYS, "precheck -> "
	    "install: " OLDER, 9);
	ev(f, "28 22:25:10", "server.state", "HUB01", SYS, "install -> "
	    "failed: setup exited with code 1603");
	ev(f, "28 22:25:10", "rollout.state", "rollout", SYS, "running -> "
	    "paused: server 'HUB01' failed: setup exited with code 1603");
	ev(f, "28 22:40:00", "operator", "HUB01", ALICE, "retry");
	ev(f, "28 22:40:00", "server.state", "HUB01", ALICE, "failed -> "
	    "precheck: retried by the operator after: setup exited with "
	    "code 1603");
	ev(f, "28 22:40:00", "rollout.state", "rollout", ALICE, "paused -> "
	    "running: no unit needs the operator any more");
	ev(f, "28 22:40:05", "server.phase", "HUB01", SYS, "precheck -> "
	    "install: " OLDER, 12);
	ev(f, "28 23:20:05", "server.phase", "HUB01", SYS, "install -> "
	    "verify: setup complete");
	ev(f, "28 23:30:05", "server.state", "HUB01", SYS, "verify -> done: "
	    "at version 8.1.240.6, all required services running");
	ev(f, "28 23:30:05", "wave.done", "HubTransport", SYS, "wave 2 "
	    "(HubTransport) done: 1 units");
	/* bob's pause. */
	ev(f, "28 23:30:10", "operator", "rollout", BOB, "pause: change "
	    "freeze call");
	ev(f, "28 23:30:10", "rollout.state", "rollout", BOB, "running -> "
	    "paused: paused by " BOB ": change freeze call");
	ev(f, "28 23:45:10", "operator", "rollout", BOB, "resume");
	ev(f, "28 23:45:10", "rollout.state", "rollout", BOB, "paused -> "
	    "running: resumed by the operator");
	/* CMS1. */
	ev(f, "28 23:45:10", "cluster.step", "CMS1", SYS, "pending -> "
	    "discover: reading the cluster's status");
	ev(f, "28 23:45:12", "cluster.step", "CMS1", SYS, "discover -> "
	    "upgrade_passive: active node 'MBX1A', upgrading passive node "
	    "'MBX1B' first");
	ev_server_ok(f, "MBX1B", "28 23:45:12", "28 23:45:20", "29 00:30:20",
	    "29 00:35:20", 20);
	ev(f, "29 00:35:20", "cluster.step", "CMS1", SYS, "upgrade_passive -> "
	    "failover: passive node 'MBX1B' upgraded");
	ev(f, "29 00:35:20", "cluster.checkpoint", "CMS1", SYS, "failover of "
	    "'CMS1' to 'MBX1B' waits for approval: exrollctl approve CMS1");
	ev(f, "29 01:05:20", "operator", "CMS1", ALICE, "approve failover");
	ev(f, "29 01:05:20", "cluster.approved", "CMS1", ALICE, "failover of "
	    "'CMS1' approved");
	ev(f, "29 01:05:21", "cluster.action", "CMS1", SYS, "stopping CMS1 "
	    "(job exr-0123456789ab-00000040)");
	ev(f, "29 01:06:00", "cluster.move", "CMS1", SYS, "moving CMS1 to "
	    "MBX1B (job exr-0123456789ab-00000042)");
	ev(f, "29 01:07:00", "cluster.action", "CMS1", SYS, "setup "
	    "/upgradeCMS of CMS1 on MBX1B (job exr-0123456789ab-00000044)");
	ev(f, "29 01:37:00", "cluster.step", "CMS1", SYS, "failover -> "
	    "upgrade_former_active: 'CMS1' online on 'MBX1B'");
	ev_server_ok(f, "MBX1A", "29 01:37:00", "29 01:37:05", "29 02:20:05",
	    "29 02:25:05", 50);
	ev(f, "29 02:25:05", "cluster.step", "CMS1", SYS,
	    "upgrade_former_active -> failback: former active node 'MBX1A' "
	    "upgraded");
	ev(f, "29 02:25:05", "cluster.checkpoint", "CMS1", SYS, "failback of "
	    "'CMS1' to 'MBX1A' waits for approval: exrollctl approve CMS1");
	ev(f, "29 06:00:00", "rollout.state", "rollout", SYS, "running -> "
	    "waiting_window: outside the maintenance window; next opens "
	    "2026-11-29T20:00:00.000Z");
	ev(f, "29 20:00:00", "rollout.state", "rollout", SYS, "waiting_window "
	    "-> running: maintenance window open");
	/* An operator's name in another case is still the cluster. */
	ev(f, "29 20:05:00", "operator", "cms1", BOB, "approve failback");
	ev(f, "29 20:05:00", "cluster.approved", "CMS1", BOB, "failback of "
	    "'CMS1' approved");
	ev(f, "29 20:05:01", "cluster.move", "CMS1", SYS, "moving CMS1 to "
	    "MBX1A (job exr-0123456789ab-00000060)");
	ev(f, "29 20:06:00", "cluster.retry", "CMS1", SYS, "attempt 1 of 3 "
	    "failed: cms_status: the gateway answered HTTP 503");
	ev(f, "29 20:10:00", "cluster.blocked", "CMS1", SYS, "'CMS1' is "
	    "PartiallyOnline on 'MBX1A', which the failback to 'MBX1A' does "
	    "not expect; fix it, then: exrollctl retry CMS1");
	ev(f, "29 20:10:00", "rollout.state", "rollout", SYS, "running -> "
	    "paused: cluster 'CMS1': 'CMS1' is PartiallyOnline on 'MBX1A', "
	    "which the failback to 'MBX1A' does not expect");
	ev(f, "29 20:30:00", "operator", "CMS1", ALICE, "retry");
	ev(f, "29 20:30:00", "cluster.retry", "CMS1", ALICE, "retried by the "
	    "operator after: 'CMS1' is PartiallyOnline on 'MBX1A', which the "
	    "failback to 'MBX1A' does not expect");
	ev(f, "29 20:30:00", "rollout.state", "rollout", ALICE, "paused -> "
	    "running: no unit needs the operator any more");
	ev(f, "29 20:31:00", "cluster.step", "CMS1", SYS, "failback -> done: "
	    "'CMS1' back online on 'MBX1A'");
	ev(f, "29 20:31:00", "wave.done", "Mailbox", SYS, "wave 3 (Mailbox) "
	    "done: 1 units");
	ev(f, "29 20:31:00", "rollout.state", "rollout", SYS, "running -> "
	    "completed: every wave is done");
}

static void
set_server(struct fx *f, const char *name, enum server_state st,
    enum server_phase ph, const char *start, const char *finish)
{
	struct server *s = model_server(&f->m, name);

	ck_assert_ptr_nonnull(s);
	s->state = st;
	s->phase = ph;
	s->started_at = start != NULL ? at(start) : 0;
	s->finished_at = finish != NULL ? at(finish) : 0;
	if (st == SERVER_DONE) {
		ck_assert_int_eq(version_parse("8.1.240.6", &s->version), 0);
		s->has_version = true;
	}
}

/* The model as the weekend leaves it. */
static void
weekend_model(struct fx *f)
{
	struct cluster *c = model_cluster(&f->m, "CMS1");

	f->m.rollout.state = ROLLOUT_COMPLETED;
	f->m.rollout.reason = strdup("every wave is done");
	f->m.rollout.created_at = at("27 19:00:00");
	f->m.rollout.updated_at = at("29 20:31:00");
	set_server(f, "CAS01", SERVER_DONE, PHASE_DONE, "28 20:00:00",
	    "28 20:56:05");
	set_server(f, "HUB01", SERVER_DONE, PHASE_DONE, "28 20:56:05",
	    "28 23:30:05");
	set_server(f, "MBX1B", SERVER_DONE, PHASE_DONE, "28 23:45:12",
	    "29 00:35:20");
	set_server(f, "MBX1A", SERVER_DONE, PHASE_DONE, "29 01:37:00",
	    "29 02:25:05");
	c->step = STEP_DONE;
	c->original_active = model_server(&f->m, "MBX1A");
	c->active = c->original_active;
	snprintf(c->cms_state, sizeof(c->cms_state), "Online");
	c->started_at = at("28 23:45:10");
	c->finished_at = at("29 20:31:00");
	c->moves = 2;
}

/* ---- lookups in a report ---------------------------------------------- */

static const json_t *
unit(const json_t *rep, const char *name)
{
	size_t i;
	json_t *u;

	json_array_foreach(json_object_get(rep, "units"), i, u)
		if (strcmp(json_string_value(json_object_get(u, "name")),
		    name) == 0)
			return u;
	ck_abort_msg("no unit '%s' in the report", name);
	return NULL;
}

static json_int_t
ji(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "'%s' is not an integer", key);
	return json_integer_value(v);
}

static const char *
js(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	ck_assert_msg(s != NULL, "'%s' is not a string", key);
	return s;
}

/* An RFC 3339 field as the "DD HH:MM:SS" the test wrote. */
static void
ck_time(const json_t *o, const char *key, const char *when)
{
	int64_t ms;

	ck_assert_int_eq(time_parse_rfc3339(js(o, key), &ms), 0);
	ck_assert_msg(ms == at(when), "'%s' is %s, not Nov %s", key,
	    js(o, key), when);
}

static json_t *
weekend_report(struct fx *f, int64_t now)
{
	json_t *rep;

	fx_init(f, "");
	weekend_events(f);
	weekend_model(f);
	rep = report_build(f->events, &f->m, &f->plan, f->cfg, now);
	ck_assert_ptr_nonnull(rep);
	return rep;
}

/* ---- the report -------------------------------------------------------- */

START_TEST(phase_durations)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));
	const json_t *cas = unit(rep, "CAS01"), *pm, *ph;
	static const struct {
		const char *phase, *start, *end;
		json_int_t ms;
	} want[] = {
		{ "precheck", "28 20:00:00", "28 20:00:05", 5000 },
		{ "install", "28 20:00:05", "28 20:45:05", 45 * MINUTE },
		{ "reboot", "28 20:45:05", "28 20:46:05", MINUTE },
		{ "verify", "28 20:46:05", "28 20:56:05", 10 * MINUTE },
	};

	ck_assert_str_eq(js(cas, "kind"), "server");
	ck_assert_int_eq(ji(cas, "wave"), 1);
	ck_assert_str_eq(js(cas, "state"), "done");
	ck_assert_str_eq(js(cas, "version"), "8.1.240.6");
	ck_assert_str_eq(js(cas, "version_before"), "8.0.685.24");
	ph = json_object_get(cas, "phases");
	ck_assert_int_eq(json_array_size(ph), 4);
	for (size_t i = 0; i < 4; i++) {
		const json_t *p = json_array_get(ph, i);

		ck_assert_str_eq(js(p, "phase"), want[i].phase);
		ck_time(p, "started_at", want[i].start);
		ck_time(p, "ended_at", want[i].end);
		ck_assert_int_eq(ji(p, "duration_ms"), want[i].ms);
	}
	/* "done" ends the server: no span of its own. */
	pm = json_object_get(cas, "phase_ms");
	ck_assert_int_eq(ji(pm, "precheck"), 5000);
	ck_assert_int_eq(ji(pm, "install"), 45 * MINUTE);
	ck_assert_int_eq(ji(pm, "reboot"), MINUTE);
	ck_assert_int_eq(ji(pm, "verify"), 10 * MINUTE);
	ck_assert_int_eq(ji(cas, "elapsed_ms"), 56 * MINUTE + 5000);
	ck_assert_int_eq(ji(cas, "setups"), 1);
	ck_assert_int_eq(ji(cas, "failures"), 0);
	ck_assert_str_eq(js(json_object_get(cas, "end"), "state"), "done");
	ck_time(json_object_get(cas, "end"), "time", "28 20:56:05");
	/* Waves end at their wave.done. */
	ck_time(json_array_get(json_object_get(rep, "waves"), 0),
	    "finished_at", "28 20:56:05");
	ck_time(json_array_get(json_object_get(rep, "waves"), 2),
	    "started_at", "28 23:45:10");
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(retries_counted)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));
	const json_t *hub = unit(rep, "HUB01"), *errs, *ph, *failed;

	/* Three setups: two failed (one retried by exrolld, one by alice). */
	ck_assert_int_eq(ji(hub, "setups"), 3);
	ck_assert_int_eq(ji(hub, "failures"), 2);
	ck_assert_int_eq(ji(hub, "retries"), 1);
	ck_assert_int_eq(ji(hub, "operator_retries"), 1);
	errs = json_object_get(hub, "errors");
	ck_assert_int_eq(json_array_size(errs), 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_str_eq(js(json_array_get(errs, i), "phase"),
		    "install");
		ck_assert_str_eq(js(json_array_get(errs, i), "message"),
		    "setup exited with code 1603");
	}
	ck_time(json_array_get(errs, 0), "time", "28 21:40:10");
	ck_time(json_array_get(errs, 1), "time", "28 22:25:10");
	/* The time it waited, failed, for the operator is a span too. */
	ph = json_object_get(hub, "phases");
	ck_assert_int_eq(json_array_size(ph), 8);
	failed = json_array_get(ph, 4);
	ck_assert_str_eq(js(failed, "phase"), "failed");
	ck_assert_int_eq(ji(failed, "duration_ms"), 14 * MINUTE + 50000);
	ck_assert_str_eq(js(json_array_get(ph, 5), "actor"), ALICE);
	/* Setup time sums every install. */
	ck_assert_int_eq(ji(json_object_get(hub, "phase_ms"), "install"),
	    44 * MINUTE + 44 * MINUTE + 40 * MINUTE);
	ck_assert_int_eq(ji(json_object_get(hub, "phase_ms"), "precheck"),
	    5000 + MINUTE + 5000);
	/* No reboot was needed: null, not a reboot of no time. */
	ck_assert(json_is_null(json_object_get(json_object_get(hub,
	    "phase_ms"), "reboot")));
	/* The version before is the first setup's. */
	ck_assert_str_eq(js(hub, "version_before"), "8.0.685.24");
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(approvals_with_actor_and_time)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));
	const json_t *cms = unit(rep, "CMS1"), *cps, *cp, *mv, *bl;

	ck_assert_str_eq(js(cms, "kind"), "cluster");
	ck_assert_str_eq(js(cms, "step"), "done");
	ck_assert_str_eq(js(cms, "original_active"), "MBX1A");
	cps = json_object_get(cms, "checkpoints");
	ck_assert_int_eq(json_array_size(cps), 2);
	cp = json_array_get(cps, 0);
	ck_assert_str_eq(js(cp, "checkpoint"), "failover");
	ck_assert_str_eq(js(cp, "to"), "MBX1B");
	ck_time(cp, "reached_at", "29 00:35:20");
	ck_time(cp, "approved_at", "29 01:05:20");
	ck_assert_str_eq(js(cp, "approved_by"), ALICE);
	ck_assert_int_eq(ji(cp, "waited_ms"), 30 * MINUTE);
	cp = json_array_get(cps, 1);
	ck_assert_str_eq(js(cp, "checkpoint"), "failback");
	ck_assert_str_eq(js(cp, "to"), "MBX1A");
	ck_time(cp, "approved_at", "29 20:05:00");
	ck_assert_str_eq(js(cp, "approved_by"), BOB);
	ck_assert_int_eq(ji(cp, "waited_ms"), 17 * HOUR + 39 * MINUTE + 55000);
	/* Moves with their step, target and job. */
	mv = json_object_get(cms, "moves");
	ck_assert_int_eq(json_array_size(mv), 2);
	ck_assert_str_eq(js(json_array_get(mv, 0), "step"), "failover");
	ck_assert_str_eq(js(json_array_get(mv, 0), "to"), "MBX1B");
	ck_assert_str_eq(js(json_array_get(mv, 0), "job"),
	    "exr-0123456789ab-00000042");
	ck_assert_str_eq(js(json_array_get(mv, 1), "step"), "failback");
	ck_assert_str_eq(js(json_array_get(mv, 1), "to"), "MBX1A");
	ck_assert_int_eq(json_array_size(json_object_get(cms, "actions")), 2);
	/* The block, and who cleared it. */
	bl = json_object_get(cms, "blocks");
	ck_assert_int_eq(json_array_size(bl), 1);
	ck_assert_str_eq(js(json_array_get(bl, 0), "reason"), "'CMS1' is "
	    "PartiallyOnline on 'MBX1A', which the failback to 'MBX1A' does "
	    "not expect");
	ck_time(json_array_get(bl, 0), "cleared_at", "29 20:30:00");
	ck_assert_str_eq(js(json_array_get(bl, 0), "cleared_by"), ALICE);
	ck_assert_int_eq(ji(cms, "failures"), 1);
	ck_assert_str_eq(js(json_array_get(json_object_get(cms, "errors"), 0),
	    "message"), "cms_status: the gateway answered HTTP 503");
	/* Steps: the failback step lasted from 02:25:05 to 20:31. */
	ck_assert_int_eq(json_array_size(json_object_get(cms, "steps")), 5);
	ck_assert_int_eq(ji(json_array_get(json_object_get(cms, "steps"), 4),
	    "duration_ms"), 18 * HOUR + 5 * MINUTE + 55000);
	/* The nodes follow their cluster, in configuration order. */
	ck_assert_ptr_eq(json_array_get(json_object_get(rep, "units"), 3),
	    unit(rep, "MBX1A"));
	ck_assert_str_eq(js(unit(rep, "MBX1A"), "kind"), "node");
	ck_assert_str_eq(js(unit(rep, "MBX1A"), "cluster"), "CMS1");
	ck_assert_int_eq(ji(unit(rep, "MBX1A"), "wave"), 3);
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(windows_and_pauses)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));
	const json_t *tl = json_object_get(rep, "timeline");
	const json_t *pauses = json_object_get(rep, "pauses"), *p;
	const json_t *tot = json_object_get(rep, "totals");
	static const char *const states[] = { "running", "waiting_window",
		"running", "paused", "running", "paused", "running",
		"waiting_window", "running", "paused", "running" };

	ck_assert_int_eq(json_array_size(tl), 11);
	for (size_t i = 0; i < 11; i++)
		ck_assert_str_eq(js(json_array_get(tl, i), "state"), states[i]);
	/* The windows used: 20:00-06:00 and 20:00 to the end. */
	ck_time(json_array_get(tl, 2), "started_at", "28 20:00:00");
	ck_time(json_array_get(tl, 7), "started_at", "29 06:00:00");
	ck_time(json_array_get(tl, 7), "ended_at", "29 20:00:00");
	ck_assert_int_eq(ji(json_array_get(tl, 7), "duration_ms"), 14 * HOUR);
	ck_assert_int_eq(ji(tot, "waiting_window_ms"), 25 * HOUR + 14 * HOUR);
	ck_assert_int_eq(ji(tot, "paused_ms"), 14 * MINUTE + 50000 + 15 * MINUTE +
	    20 * MINUTE);
	ck_assert_int_eq(ji(tot, "running_ms"), ji(tot, "wall_ms") -
	    ji(tot, "waiting_window_ms") - ji(tot, "paused_ms"));
	/* Pauses: who paused, who resumed, why. */
	ck_assert_int_eq(json_array_size(pauses), 3);
	p = json_array_get(pauses, 0);
	ck_assert_str_eq(js(p, "cause"), "failure");
	ck_assert_str_eq(js(p, "paused_by"), "exrolld");
	ck_assert_str_eq(js(p, "resumed_by"), ALICE);
	ck_assert_ptr_nonnull(strstr(js(p, "reason"), "HUB01"));
	p = json_array_get(pauses, 1);
	ck_assert_str_eq(js(p, "cause"), "operator");
	ck_assert_str_eq(js(p, "paused_by"), BOB);
	ck_assert_str_eq(js(p, "resumed_by"), BOB);
	ck_assert_str_eq(js(p, "resume_reason"), "resumed by the operator");
	ck_assert_ptr_nonnull(strstr(js(p, "reason"), "change freeze call"));
	ck_time(p, "started_at", "28 23:30:10");
	ck_time(p, "ended_at", "28 23:45:10");
	ck_assert_int_eq(ji(p, "duration_ms"), 15 * MINUTE);
	ck_assert_str_eq(js(json_array_get(pauses, 2), "next_state"),
	    "running");
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(totals)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));
	const json_t *tot = json_object_get(rep, "totals");
	const json_t *ro = json_object_get(rep, "rollout"), *ops;

	ck_assert_int_eq(ji(json_object_get(tot, "servers"), "total"), 4);
	ck_assert_int_eq(ji(json_object_get(tot, "servers"), "done"), 4);
	ck_assert_int_eq(ji(json_object_get(tot, "servers"), "failed"), 0);
	ck_assert_int_eq(ji(json_object_get(tot, "clusters"), "done"), 1);
	/* Created to completed, not to now. */
	ck_assert_int_eq(ji(tot, "wall_ms"), 2 * 24 * HOUR + HOUR + 31 * MINUTE);
	ck_time(ro, "created_at", "27 19:00:00");
	ck_time(ro, "ended_at", "29 20:31:00");
	ck_assert_str_eq(js(ro, "state"), "completed");
	ck_assert_str_eq(js(ro, "target_version"), "8.1.240.6");
	ck_assert_str_eq(js(ro, "checkpoints"), "approve");
	ck_assert_int_eq(ji(tot, "setups"), 6);
	ck_assert_int_eq(ji(tot, "setup_ms"), 45 * MINUTE + 128 * MINUTE +
	    45 * MINUTE + 43 * MINUTE);
	ck_assert_int_eq(ji(tot, "failures"), 3);
	ck_assert_int_eq(ji(tot, "retries"), 2);
	ck_assert_int_eq(ji(tot, "moves"), 2);
	ck_assert_int_eq(ji(tot, "approvals"), 2);
	ck_assert_int_eq(ji(tot, "blocks"), 1);
	ck_assert_int_eq(ji(tot, "operator_actions"), 6);
	ck_assert_int_eq(ji(tot, "events"), (json_int_t)f.seq);
	ops = json_object_get(rep, "operator_actions");
	ck_assert_str_eq(js(json_array_get(ops, 0), "actor"), ALICE);
	ck_assert_str_eq(js(json_array_get(ops, 0), "subject"), "HUB01");
	ck_assert_str_eq(js(json_array_get(ops, 0), "action"), "retry");
	ck_assert_str_eq(js(json_array_get(ops, 4), "action"),
	    "approve failback");
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(in_flight_spans_end_now)
{
	struct fx f;
	json_t *rep;
	const json_t *cas, *ph, *tot;
	int64_t now = at("28 21:00:05");

	fx_init(&f, "");
	ev(&f, "28 20:00:00", "rollout.created", "rollout", SYS,
	    "rollout created");
	ev(&f, "28 20:00:00", "server.state", "CAS01", SYS, "pending -> "
	    "precheck: started");
	ev(&f, "28 20:00:05", "server.phase", "CAS01", SYS, "precheck -> "
	    "install: " OLDER, 2);
	f.m.rollout.created_at = at("28 20:00:00");
	set_server(&f, "CAS01", SERVER_RUNNING, PHASE_INSTALL, "28 20:00:00",
	    NULL);
	rep = report_build(f.events, &f.m, &f.plan, f.cfg, now);
	ck_assert_ptr_nonnull(rep);
	cas = unit(rep, "CAS01");
	ph = json_array_get(json_object_get(cas, "phases"), 1);
	ck_assert_str_eq(js(ph, "phase"), "install");
	ck_assert(json_is_null(json_object_get(ph, "ended_at")));
	ck_assert_int_eq(ji(ph, "duration_ms"), HOUR);
	ck_assert_int_eq(ji(json_object_get(cas, "phase_ms"), "install"),
	    HOUR);
	ck_assert_int_eq(ji(cas, "elapsed_ms"), HOUR + 5000);
	ck_assert(json_is_null(json_object_get(cas, "end")));
	ck_assert(json_is_null(json_object_get(cas, "version")));
	tot = json_object_get(rep, "totals");
	ck_assert_int_eq(ji(tot, "wall_ms"), HOUR + 5000);
	ck_assert_int_eq(ji(tot, "running_ms"), HOUR + 5000);
	ck_assert_int_eq(ji(tot, "setup_ms"), HOUR);
	ck_assert_int_eq(ji(json_object_get(tot, "servers"), "running"), 1);
	ck_assert_int_eq(ji(json_object_get(tot, "servers"), "pending"), 3);
	ck_assert(json_is_null(json_object_get(json_object_get(rep, "rollout"),
	    "ended_at")));
	/* An untouched cluster: no steps, no times. */
	ck_assert_int_eq(json_array_size(json_object_get(unit(rep, "CMS1"),
	    "steps")), 0);
	ck_assert(json_is_null(json_object_get(unit(rep, "CMS1"),
	    "elapsed_ms")));
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(pages_and_odd_events)
{
	struct fx f;
	json_t *whole, *paged, *a, *b;
	struct report *r;
	size_t n;

	fx_init(&f, "");
	weekend_events(&f);
	weekend_model(&f);
	whole = report_build(f.events, &f.m, &f.plan, f.cfg, at("30 09:00:00"));
	ck_assert_ptr_nonnull(whole);
	/* The same log in two pages makes the same report. */
	n = json_array_size(f.events);
	a = json_array();
	b = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append(i < n / 2 ? a : b, json_array_get(f.events, i));
	r = report_new(&f.m, &f.plan, f.cfg);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(report_add(r, a), 0);
	{
		json_t *empty = json_array();

		ck_assert_int_eq(report_add(r, empty), 0);
		json_decref(empty);
	}
	ck_assert_int_eq(report_add(r, b), 0);
	paged = report_finish(r, at("30 09:00:00"));
	report_free(r);
	ck_assert(json_equal(whole, paged));
	json_decref(paged);
	json_decref(a);
	json_decref(b);

	/* What is not an event, or not one the report knows, changes
	 * nothing and breaks nothing. */
	ck_assert_int_eq(json_array_append_new(f.events, json_integer(3)), 0);
	ck_assert_int_eq(json_array_append_new(f.events, json_pack("{s:s}",
	    "kind", "server.state")), 0);
	ck_assert_int_eq(json_array_append_new(f.events, json_pack(
	    "{s:s, s:s, s:s}", "kind", "server.state", "time", "yesterday",
	    "subject", "CAS01")), 0);
	f.seq = 100;
	ev(&f, "30 08:00:00", "server.state", "NOSUCH", SYS, "pending -> "
	    "precheck: started");
	ev(&f, "30 08:00:00", "server.state", "CAS01", SYS, "no arrow here");
	ev(&f, "30 08:00:00", "server.phase", "CAS01", SYS, " -> : empty");
	ev(&f, "30 08:00:00", "cluster.approved", "CMS1", SYS, "%s", "");
	ev(&f, "30 08:00:00", "cluster.move", "CMS1", SYS, "moved somehow");
	ev(&f, "30 08:00:00", "daemon.reload", "rollout", SYS, "configuration "
	    "reloaded");
	ev(&f, "30 08:00:00", "rollout.state", "rollout", SYS, "garbage");
	paged = report_build(f.events, &f.m, &f.plan, f.cfg, at("30 09:00:00"));
	ck_assert_ptr_nonnull(paged);
	ck_assert(json_equal(json_object_get(unit(whole, "CAS01"), "phases"),
	    json_object_get(unit(paged, "CAS01"), "phases")));
	ck_assert(json_equal(json_object_get(whole, "timeline"),
	    json_object_get(paged, "timeline")));
	/* The odd move is recorded as a move, with what could be read. */
	ck_assert_int_eq(json_array_size(json_object_get(unit(paged, "CMS1"),
	    "moves")), 3);
	json_decref(paged);
	/* Not an array: refused. */
	a = json_object();
	ck_assert_ptr_null(report_build(a, &f.m, &f.plan, f.cfg, 0));
	json_decref(a);
	json_decref(whole);
	fx_free(&f);
}
END_TEST

/* ---- the engine's own words ------------------------------------------- */

struct eng {
	struct fx *f;
	struct engine e;
	int64_t now;
	struct job *flight[64];
	int nflight;
};

static void
eng_event(const struct event *ev_, void *arg)
{
	struct eng *g = arg;
	json_t *o = store_event_json(ev_);

	ck_assert_ptr_nonnull(o);
	json_object_set_new(o, "seq", json_integer(++g->f->seq));
	ck_assert_int_eq(json_array_append_new(g->f->events, o), 0);
}

static void
eng_flush(struct eng *g)
{
	struct job *j, *next;

	model_after_commit(&g->f->m, eng_event, g);
	for (j = model_take_outbox(&g->f->m); j != NULL; j = next) {
		next = j->next_outbox;
		j->next_outbox = NULL;
		j->in_outbox = false;
		ck_assert_int_lt(g->nflight, 64);
		g->flight[g->nflight++] = j;
	}
}

static struct job *
eng_job(struct eng *g, enum job_kind kind, const char *unit_name)
{
	for (int i = 0; i < g->nflight; i++) {
		struct job *j = g->flight[i];
		const char *n = j->server ? j->server->name : j->cluster->name;

		if (j->kind == kind && strcmp(n, unit_name) == 0) {
			g->flight[i] = g->flight[--g->nflight];
			return j;
		}
	}
	ck_abort_msg("no %s job for '%s'", job_kind_name(kind), unit_name);
	return NULL;
}

/* Answers the unit's job of kind, after ms of (test) time. */
static void
eng_answer(struct eng *g, int64_t ms, enum job_kind kind, const char *name,
    bool ok, const char *output)
{
	struct job *j = eng_job(g, kind, name);
	json_t *out = json_loads(output, 0, NULL);
	json_t *job = json_pack("{s:s, s:s, s:O}", "id", j->id, "state",
	    ok ? "completed" : "failed", "output", out);
	struct gw_result res = { .status = ok ? GW_COMPLETED : GW_FAILED,
	    .http_status = 200, .job = job,
	    .output = json_object_get(job, "output"),
	    .message = ok ? NULL : "the job failed" };

	ck_assert_ptr_nonnull(out);
	g->now += ms;
	engine_job_done(&g->e, j, &res, g->now);
	eng_flush(g);
	json_decref(job);
	json_decref(out);
}

#define GETSRV(v) "[{\"Name\": \"X\", \"ServerRole\": \"Mailbox\", " \
	"\"AdminDisplayVersion\": \"Version " v "\"}]"
#define RTM GETSRV("8.0 (Build 685.24)")
#define SP1 GETSRV("8.1 (Build 240.6)")
#define HEALTHY "[{\"Role\": \"Mailbox Server Role\", " \
	"\"RequiredServicesRunning\": true, \"ServicesNotRunning\": []}]"
#define SETUP(code) "[{\"ExitCode\": " #code ", \"RebootRequired\": false}]"
#define CMS(active, other, state) "[{\"Identity\": \"CMS1\", \"State\": \"" \
	state "\", \"OperationalMachines\": [\"" active \
	" <Active, Quorum Owner>\", \"" other "\"]}]"

static void
eng_upgrade(struct eng *g, const char *name)
{
	eng_answer(g, 1000, JOB_GET_SERVER, name, true, RTM);
	eng_answer(g, 40 * MINUTE, JOB_SETUP, name, true, SETUP(0));
	eng_answer(g, 1000, JOB_GET_SERVER, name, true, SP1);
	eng_answer(g, 1000, JOB_TEST_HEALTH, name, true, HEALTHY);
}

START_TEST(engine_messages_read_back)
{
	struct fx f;
	struct eng g = { .f = &f };
	char msg[256];
	json_t *rep;
	const json_t *hub, *cms, *cps, *tot, *pauses;

	fx_init(&f, "\"retries\": 1, \"retry_backoff_s\": 60");
	strcpy(f.m.rollout.nonce, "0123456789ab");
	g.now = at("28 20:00:00");
	f.m.rollout.created_at = g.now;
	ck_assert_int_eq(engine_init(&g.e, &f.m, f.cfg, &f.plan), 0);
	ev(&f, "28 20:00:00", "rollout.created", "rollout", SYS,
	    "rollout created");
	engine_start(&g.e, g.now);
	eng_flush(&g);
	eng_upgrade(&g, "CAS01");
	/* HUB01: a failed setup, the retry after the backoff, a second
	 * failure: failed, the rollout pauses; alice retries. */
	eng_answer(&g, 1000, JOB_GET_SERVER, "HUB01", true, RTM);
	eng_answer(&g, 30 * MINUTE, JOB_SETUP, "HUB01", true, SETUP(1603));
	g.now += MINUTE;
	engine_wake_server(&g.e, model_server(&f.m, "HUB01"), g.now);
	eng_flush(&g);
	eng_answer(&g, 1000, JOB_GET_SERVER, "HUB01", true, RTM);
	eng_answer(&g, 30 * MINUTE, JOB_SETUP, "HUB01", true, SETUP(1603));
	ck_assert_int_eq(f.m.rollout.state, ROLLOUT_PAUSED);
	g.now += 10 * MINUTE;
	ck_assert_int_eq(engine_retry(&g.e, "HUB01", ALICE, g.now, msg,
	    sizeof(msg)), 0);
	eng_flush(&g);
	eng_upgrade(&g, "HUB01");
	/* CMS1, approvals by bob. */
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1A", "MBX1B", "Online"));
	eng_answer(&g, 1000, JOB_GET_SERVER, "MBX1B", true, RTM);
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1A", "MBX1B", "Online"));
	eng_answer(&g, 40 * MINUTE, JOB_SETUP, "MBX1B", true, SETUP(0));
	eng_answer(&g, 1000, JOB_GET_SERVER, "MBX1B", true, SP1);
	eng_answer(&g, 1000, JOB_TEST_HEALTH, "MBX1B", true, HEALTHY);
	g.now += 20 * MINUTE;
	ck_assert_int_eq(engine_approve(&g.e, "CMS1", "failover", BOB, g.now,
	    msg, sizeof(msg)), 0);
	eng_flush(&g);
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1A", "MBX1B", "Online"));
	eng_answer(&g, 1000, JOB_CMS_STOP, "CMS1", true, "[]");
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1A", "MBX1B", "Offline"));
	eng_answer(&g, 1000, JOB_CMS_MOVE, "CMS1", true, "[]");
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1B", "MBX1A", "Offline"));
	eng_answer(&g, 20 * MINUTE, JOB_CMS_SETUP, "CMS1", true, SETUP(0));
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1B", "MBX1A", "Online"));
	eng_answer(&g, 1000, JOB_GET_SERVER, "MBX1A", true, RTM);
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1B", "MBX1A", "Online"));
	eng_answer(&g, 40 * MINUTE, JOB_SETUP, "MBX1A", true, SETUP(0));
	eng_answer(&g, 1000, JOB_GET_SERVER, "MBX1A", true, SP1);
	eng_answer(&g, 1000, JOB_TEST_HEALTH, "MBX1A", true, HEALTHY);
	g.now += 5 * MINUTE;
	ck_assert_int_eq(engine_approve(&g.e, "CMS1", NULL, BOB, g.now, msg,
	    sizeof(msg)), 0);
	eng_flush(&g);
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1B", "MBX1A", "Online"));
	eng_answer(&g, 1000, JOB_CMS_MOVE, "CMS1", true, "[]");
	eng_answer(&g, 1000, JOB_CMS_STATUS, "CMS1", true,
	    CMS("MBX1A", "MBX1B", "Online"));
	ck_assert_int_eq(f.m.rollout.state, ROLLOUT_COMPLETED);

	rep = report_build(f.events, &f.m, &f.plan, f.cfg, g.now + HOUR);
	ck_assert_ptr_nonnull(rep);
	hub = unit(rep, "HUB01");
	ck_assert_int_eq(ji(hub, "setups"), 3);
	ck_assert_int_eq(ji(hub, "failures"), 2);
	ck_assert_int_eq(ji(hub, "retries"), 1);
	ck_assert_int_eq(ji(hub, "operator_retries"), 1);
	ck_assert_str_eq(js(json_array_get(json_object_get(hub, "errors"), 0),
	    "message"), "setup exited with code 1603");
	ck_assert_str_eq(js(hub, "version_before"), "8.0.685.24");
	ck_assert_int_eq(ji(json_object_get(hub, "phase_ms"), "install"),
	    100 * MINUTE);
	ck_assert_int_eq(ji(json_object_get(unit(rep, "CAS01"), "phase_ms"),
	    "install"), 40 * MINUTE);
	cms = unit(rep, "CMS1");
	cps = json_object_get(cms, "checkpoints");
	ck_assert_int_eq(json_array_size(cps), 2);
	ck_assert_str_eq(js(json_array_get(cps, 0), "approved_by"), BOB);
	ck_assert_str_eq(js(json_array_get(cps, 0), "to"), "MBX1B");
	ck_assert_int_eq(ji(json_array_get(cps, 0), "waited_ms"), 20 * MINUTE);
	ck_assert_str_eq(js(json_array_get(cps, 1), "checkpoint"), "failback");
	ck_assert_str_eq(js(json_array_get(cps, 1), "to"), "MBX1A");
	ck_assert_int_eq(json_array_size(json_object_get(cms, "moves")), 2);
	ck_assert_str_eq(js(json_array_get(json_object_get(cms, "moves"), 0),
	    "to"), "MBX1B");
	ck_assert_str_eq(js(json_array_get(json_object_get(cms, "moves"), 1),
	    "to"), "MBX1A");
	ck_assert_str_eq(js(json_array_get(json_object_get(cms, "moves"), 1),
	    "step"), "failback");
	ck_assert_int_eq(json_array_size(json_object_get(cms, "actions")), 2);
	ck_assert_int_eq(json_array_size(json_object_get(cms, "steps")), 5);
	tot = json_object_get(rep, "totals");
	ck_assert_int_eq(ji(json_object_get(tot, "servers"), "done"), 4);
	ck_assert_int_eq(ji(tot, "moves"), 2);
	ck_assert_int_eq(ji(tot, "approvals"), 2);
	ck_assert_int_eq(ji(tot, "paused_ms"), 10 * MINUTE);
	ck_assert_int_eq(ji(tot, "wall_ms"), g.now - at("28 20:00:00"));
	pauses = json_object_get(rep, "pauses");
	ck_assert_int_eq(json_array_size(pauses), 1);
	ck_assert_str_eq(js(json_array_get(pauses, 0), "cause"), "failure");
	ck_assert_str_eq(js(json_array_get(pauses, 0), "resumed_by"), ALICE);
	ck_assert_str_eq(js(json_object_get(json_object_get(rep, "rollout"),
	    "end"), "state"), "completed");
	json_decref(rep);
	engine_free(&g.e);
	fx_free(&f);
}
END_TEST

/* ---- renderings -------------------------------------------------------- */

/* Compares text with tests/unit/golden/report-NAME (or rewrites it). */
static void
check_golden(const char *name, const char *text)
{
	char rel[256];
	char *path, *want;

	snprintf(rel, sizeof(rel), "tests/unit/golden/report-%s", name);
	path = tu_src_path(rel);
	if (getenv("EXROLL_UPDATE_GOLDEN") != NULL) {
		ck_assert_int_eq(tu_write_file(path, text), 0);
		free(path);
		return;
	}
	want = tu_read_file(path);
	ck_assert_msg(want != NULL, "missing golden file %s", path);
	if (strcmp(want, text) != 0) {
		/* The first differing line of each: the whole files would not
		 * fit in Check's message. */
		size_t i = 0, line = 1, bol = 0;

		while (want[i] != '\0' && want[i] == text[i]) {
			if (want[i] == '\n') {
				line++;
				bol = i + 1;
			}
			i++;
		}
		ck_abort_msg("%s differs at line %zu:\n--- want\n%.*s\n--- got\n"
		    "%.*s\n(EXROLL_UPDATE_GOLDEN=1 rewrites it)", path, line,
		    (int)strcspn(want + bol, "\n"), want + bol,
		    (int)strcspn(text + bol, "\n"), text + bol);
	}
	free(want);
	free(path);
}

static char *
render(void (*fn)(FILE *, const json_t *), const json_t *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(m);
	fn(m, rep);
	fclose(m);
	return buf;
}

static void
goldens(const char *name, const json_t *rep)
{
	char file[64], *text;

	text = json_dumps(rep, JSON_INDENT(2));
	ck_assert_ptr_nonnull(text);
	snprintf(file, sizeof(file), "%s.json", name);
	/* The JSON ends with a newline, as exrollctl --json prints it. */
	{
		size_t n = strlen(text);
		char *nl = realloc(text, n + 2);

		ck_assert_ptr_nonnull(nl);
		text = nl;
		memcpy(text + n, "\n", 2);
	}
	check_golden(file, text);
	free(text);
	text = render(ctl_text_report, rep);
	snprintf(file, sizeof(file), "%s.txt", name);
	check_golden(file, text);
	free(text);
	text = render(ctl_markdown_report, rep);
	snprintf(file, sizeof(file), "%s.md", name);
	check_golden(file, text);
	free(text);
}

START_TEST(golden_weekend)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));

	tzset();
	goldens("weekend", rep);
	json_decref(rep);
	fx_free(&f);
}
END_TEST

/* In the middle of the night: HUB01 failed, CMS1 skipped with its nodes,
 * CAS01 done; checkpoints on auto. */
START_TEST(golden_paused)
{
	struct fx f;
	json_t *rep;
	struct cluster *c;

	fx_init(&f, "\"checkpoints\": \"auto\"");
	tzset();
	ev(&f, "28 20:00:00", "rollout.created", "rollout", SYS,
	    "rollout created: 4 servers, 1 cluster, target 8.1.240.6");
	ev_server_ok(&f, "CAS01", "28 20:00:00", "28 20:00:04", "28 20:41:04",
	    "28 20:49:00", 2);
	ev(&f, "28 20:49:00", "wave.done", "ClientAccess", SYS, "wave 1 "
	    "(ClientAccess) done: 1 units");
	ev(&f, "28 20:49:00", "server.state", "HUB01", SYS, "pending -> "
	    "precheck: started");
	ev(&f, "28 20:49:01", "server.notice", "HUB01", SYS, "setup asks for "
	    "a reboot; policy reboot \"never\" leaves it to the operator");
	ev(&f, "28 20:49:02", "server.state", "HUB01", SYS, "precheck -> "
	    "failed: precheck: not sent: Could not connect to server | "
	    "retried 3 times");
	ev(&f, "28 20:49:02", "rollout.state", "rollout", SYS, "running -> "
	    "paused: server 'HUB01' failed: precheck: not sent");
	ev(&f, "28 21:10:00", "operator", "CMS1", BOB, "skip: storage "
	    "replaced next month");
	ev(&f, "28 21:10:00", "server.state", "MBX1A", BOB, "pending -> "
	    "skipped: skipped by the operator: storage replaced next month");
	ev(&f, "28 21:10:00", "server.state", "MBX1B", BOB, "pending -> "
	    "skipped: skipped by the operator: storage replaced next month");
	f.m.rollout.state = ROLLOUT_PAUSED;
	f.m.rollout.pause_cause = PAUSE_FAILURE;
	f.m.rollout.reason = strdup("server 'HUB01' failed: precheck: not "
	    "sent");
	f.m.rollout.created_at = at("28 20:00:00");
	set_server(&f, "CAS01", SERVER_DONE, PHASE_DONE, "28 20:00:00",
	    "28 20:49:00");
	set_server(&f, "HUB01", SERVER_FAILED, PHASE_PRECHECK, "28 20:49:00",
	    "28 20:49:02");
	model_server(&f.m, "HUB01")->last_error = strdup("precheck: not sent");
	set_server(&f, "MBX1A", SERVER_SKIPPED, PHASE_NONE, NULL,
	    "28 21:10:00");
	set_server(&f, "MBX1B", SERVER_SKIPPED, PHASE_NONE, NULL,
	    "28 21:10:00");
	c = model_cluster(&f.m, "CMS1");
	c->step = STEP_SKIPPED;
	c->finished_at = at("28 21:10:00");
	rep = report_build(f.events, &f.m, &f.plan, f.cfg, at("28 23:00:00"));
	ck_assert_ptr_nonnull(rep);
	ck_assert_str_eq(js(json_object_get(unit(rep, "MBX1A"), "end"),
	    "reason"), "skipped by the operator: storage replaced next month");
	ck_assert_str_eq(js(json_object_get(unit(rep, "HUB01"), "end"),
	    "state"), "failed");
	ck_assert_int_eq(json_array_size(json_object_get(unit(rep, "HUB01"),
	    "notes")), 1);
	goldens("paused", rep);
	{
		/* A '|' in a message must not split a Markdown cell. */
		char *md = render(ctl_markdown_report, rep);

		ck_assert_ptr_nonnull(strstr(md, "to server \\| retried"));
		free(md);
	}
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(renderings_say_what_matters)
{
	struct fx f;
	json_t *rep = weekend_report(&f, at("30 09:00:00"));
	char *txt, *md;

	tzset();
	txt = render(ctl_text_report, rep);
	md = render(ctl_markdown_report, rep);
	/* Independent of the golden files: what a change record needs. */
	ck_assert_ptr_nonnull(strstr(txt, "Sun 2026-11-29 01:05:20  " ALICE));
	ck_assert_ptr_nonnull(strstr(txt, "0:45:00"));
	ck_assert_ptr_nonnull(strstr(txt, "Time zone    UTC"));
	ck_assert_ptr_nonnull(strstr(txt, "Wall time    49:31:00"));
	ck_assert_int_eq(strncmp(md, "# Rollout report", 16), 0);
	ck_assert_ptr_nonnull(strstr(md, "\n## Servers\n"));
	ck_assert_ptr_nonnull(strstr(md, "\n### CMS1 (wave 3): done\n"));
	ck_assert_ptr_nonnull(strstr(md, "| HUB01 "));
	ck_assert_ptr_nonnull(strstr(md, "| failover   | MBX1B | Sun "
	    "2026-11-29 00:35:20 | Sun 2026-11-29 01:05:20 | " ALICE));
	free(txt);
	free(md);
	json_decref(rep);
	fx_free(&f);
}
END_TEST

START_TEST(renderers_tolerate_odd_input)
{
	static const char *const docs[] = {
		"{}", "[]", "null", "3",
		"{\"units\": [1, {}, {\"kind\": \"cluster\", \"nodes\": 7, "
		"\"steps\": [1, {\"step\": 2}]}, {\"phases\": {}, "
		"\"phase_ms\": [], \"roles\": \"x\", \"errors\": [{}, 5]}]}",
		"{\"rollout\": [], \"totals\": {\"servers\": 1}, \"waves\": "
		"[{\"index\": \"1\"}], \"timeline\": [{\"started_at\": "
		"\"garbage\"}], \"pauses\": 4, \"operator_actions\": [[]]}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *j = json_loads(docs[i], JSON_DECODE_ANY, NULL);

		ck_assert_ptr_nonnull(j);
		free(render(ctl_text_report, j));
		free(render(ctl_markdown_report, j));
		json_decref(j);
	}
}
END_TEST

static Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_set_timeout(tc, tu_ms(30));
	tcase_add_test(tc, phase_durations);
	tcase_add_test(tc, retries_counted);
	tcase_add_test(tc, approvals_with_actor_and_time);
	tcase_add_test(tc, windows_and_pauses);
	tcase_add_test(tc, totals);
	tcase_add_test(tc, in_flight_spans_end_now);
	tcase_add_test(tc, pages_and_odd_events);
	tcase_add_test(tc, engine_messages_read_back);
	tcase_add_test(tc, golden_weekend);
	tcase_add_test(tc, golden_paused);
	tcase_add_test(tc, renderings_say_what_matters);
	tcase_add_test(tc, renderers_tolerate_odd_input);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(report_suite());
	int failed;

	/* The engine case logs every transition; the test reads events. */
	log_set_level(LOG_LEVEL_WARNING);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
