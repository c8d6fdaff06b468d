/*
 * test_report — the run report (daemon/report.c) and its renderings
 * (ctl/output_report.c).
 *
 * report_build() is fed hand-made event arrays, in the shape store_events()
 * returns (each event with its data, as the state machines write it), over
 * a model built from a small organization (CAS01, HUB01 and the CCR cluster
 * CMS1 on MBX1A/MBX1B): what is checked is what a change record needs —
 * phase durations, failed tries and retries, approvals with their author
 * and time, the windows and pauses, the totals. The report reads data, not
 * messages: the transition helpers below write both, as upgrade.c,
 * cluster.c and engine.c do, and one case runs the real engine and reports
 * on the events it wrote, so that the data the report reads cannot drift
 * away from the data the engine writes. Events without data (as a state
 * file of schema 1 holds them) are listed raw, not guessed at.
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

#define NSRV 4

struct fx {
	char *dir;
	struct config *cfg;
	struct plan plan;
	struct model m;
	json_t *events;
	int64_t seq;
	/* Where the hand-made log has left each machine, so that a
	 * transition helper writes "from" as the state machines do. */
	enum server_state srv_state[NSRV];
	enum server_phase srv_phase[NSRV];
	enum cluster_step cl_step;
	enum rollout_state ro_state;
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
	ck_assert_int_eq(f->m.nservers, NSRV);
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
    const char *subject, const char *actor, json_t *data, const char *fmt,
    ...) __attribute__((format(printf, 7, 8)));

/* Appends one event as store_events() gives it; data (stolen) NULL is an
 * event without data, as schema 1 stored them. */
static void
ev(struct fx *f, const char *when, const char *kind, const char *subject,
    const char *actor, json_t *data, const char *fmt, ...)
{
	char msg[1024], t[TIME_RFC3339_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(json_array_append_new(f->events, json_pack(
	    "{s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "seq", (json_int_t)++f->seq,
	    "time", time_format_rfc3339(at(when), t, sizeof(t)),
	    "kind", kind, "subject", subject, "message", msg,
	    "actor", actor, "data", data != NULL ? data : json_null())), 0);
}

static const char *
label(enum server_state st, enum server_phase ph)
{
	return st == SERVER_RUNNING ? server_phase_name(ph) :
	    server_state_name(st);
}

static void srv(struct fx *f, const char *when, const char *name,
    const char *actor, enum server_state st, enum server_phase ph,
    json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* A server transition as upgrade_set() writes it: "from -> to: reason"
 * and {from_state, from_phase, to_state, to_phase, reason} plus extra
 * (stolen, may be NULL). */
static void
srv(struct fx *f, const char *when, const char *name, const char *actor,
    enum server_state st, enum server_phase ph, json_t *extra,
    const char *fmt, ...)
{
	struct server *s = model_server(&f->m, name);
	char reason[512];
	size_t i;
	json_t *data;
	va_list ap;

	ck_assert_ptr_nonnull(s);
	i = (size_t)(s - f->m.servers);
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "from_state", server_state_name(f->srv_state[i]),
	    "from_phase", server_phase_name(f->srv_phase[i]),
	    "to_state", server_state_name(st), "to_phase",
	    server_phase_name(ph), "reason", reason);
	ck_assert_ptr_nonnull(data);
	if (extra != NULL)
		ck_assert_int_eq(json_object_update_new(data, extra), 0);
	ev(f, when, st == f->srv_state[i] ? "server.phase" : "server.state",
	    name, actor, data, "%s -> %s: %s",
	    label(f->srv_state[i], f->srv_phase[i]), label(st, ph), reason);
	f->srv_state[i] = st;
	f->srv_phase[i] = ph;
}

#define SYS "exrolld"
#define RUN SERVER_RUNNING
#define RTM_V "8.0.685.24"
#define SP1_V "8.1.240.6"

/* precheck -> install, as upgrade_install() writes it. */
static void
srv_install(struct fx *f, const char *when, const char *name, int job)
{
	char id[64];

	snprintf(id, sizeof(id), "exr-0123456789ab-%08d", job);
	srv(f, when, name, SYS, RUN, PHASE_INSTALL, json_pack("{s:s, s:s, s:s}",
	    "version", RTM_V, "target_version", SP1_V, "job", id),
	    "version " RTM_V " is older than the target " SP1_V "; setup "
	    "started (job %s)", id);
}

static void
srv_done(struct fx *f, const char *when, const char *name)
{
	srv(f, when, name, SYS, SERVER_DONE, PHASE_DONE, json_pack("{s:s}",
	    "version", SP1_V), "at version " SP1_V ", all required services "
	    "running");
}

/* A server's happy path from pending, one phase per argument time. */
static void
srv_ok(struct fx *f, const char *name, const char *start,
    const char *install, const char *verify, const char *done, int job)
{
	srv(f, start, name, SYS, RUN, PHASE_PRECHECK, NULL, "started");
	srv_install(f, install, name, job);
	srv(f, verify, name, SYS, RUN, PHASE_VERIFY, NULL, "setup complete");
	srv_done(f, done, name);
}

static void cl(struct fx *f, const char *when, const char *actor,
    enum cluster_step step, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A step of CMS1 as cluster_set() writes it. */
static void
cl(struct fx *f, const char *when, const char *actor, enum cluster_step step,
    json_t *extra, const char *fmt, ...)
{
	char reason[512];
	json_t *data;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	data = json_pack("{s:s, s:s, s:s}", "from", cluster_step_name(
	    f->cl_step), "to", cluster_step_name(step), "reason", reason);
	ck_assert_ptr_nonnull(data);
	if (extra != NULL)
		ck_assert_int_eq(json_object_update_new(data, extra), 0);
	ev(f, when, "cluster.step", "CMS1", actor, data, "%s -> %s: %s",
	    cluster_step_name(f->cl_step), cluster_step_name(step), reason);
	f->cl_step = step;
}

static void ro(struct fx *f, const char *when, const char *actor,
    enum rollout_state st, enum pause_cause cause, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A rollout transition as engine_rollout_set() writes it. */
static void
ro(struct fx *f, const char *when, const char *actor, enum rollout_state st,
    enum pause_cause cause, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ev(f, when, "rollout.state", "rollout", actor, json_pack(
	    "{s:s, s:s, s:s, s:s}", "from", rollout_state_name(f->ro_state),
	    "to", rollout_state_name(st), "cause", pause_cause_name(cause),
	    "reason", reason), "%s -> %s: %s", rollout_state_name(f->ro_state),
	    rollout_state_name(st), reason);
	f->ro_state = st;
}

static void
created(struct fx *f, const char *when)
{
	ev(f, when, "rollout.created", "rollout", SYS, json_pack(
	    "{s:i, s:i, s:s}", "servers", 4, "clusters", 1, "target_version",
	    SP1_V), "rollout created: 4 servers, 1 cluster, target " SP1_V);
}

static json_t *
cmd(const char *command, const char *k1, const char *v1, const char *k2,
    const char *v2)
{
	json_t *d = json_pack("{s:s}", "command", command);

	if (k1 != NULL)
		json_object_set_new(d, k1, json_string(v1));
	if (k2 != NULL)
		json_object_set_new(d, k2, v2 ? json_string(v2) : json_null());
	return d;
}

static void
wave_done(struct fx *f, const char *when, int wave, const char *role)
{
	ev(f, when, "wave.done", role, SYS, json_pack("{s:i, s:s, s:i}",
	    "wave", wave, "role", role, "units", 1), "wave %d (%s) done: 1 "
	    "units", wave, role);
}

/* A cluster action as cluster_act() writes it: "what (job J)". */
static void
act(struct fx *f, const char *when, const char *action, const char *step,
    int job, const char *target, const char *what)
{
	char id[64];

	snprintf(id, sizeof(id), "exr-0123456789ab-%08d", job);
	ev(f, when, strcmp(action, "cms_move") == 0 ? "cluster.move" :
	    "cluster.action", "CMS1", SYS, json_pack("{s:s, s:s, s:s, s:s?}",
	    "action", action, "step", step, "job", id, "target", target),
	    "%s (job %s)", what, id);
}

#define BLOCK "'CMS1' is PartiallyOnline on 'MBX1A', which the failback " \
	"to 'MBX1A' does not expect"
#define E1603 "setup exited with code 1603"

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
	created(f, "27 19:00:00");
	ro(f, "27 19:00:00", SYS, ROLLOUT_WAITING_WINDOW, PAUSE_NONE,
	    "outside the maintenance window; next opens "
	    "2026-11-28T20:00:00.000Z");
	ro(f, "28 20:00:00", SYS, ROLLOUT_RUNNING, PAUSE_NONE,
	    "maintenance window open");
	/* CAS01: 5 s precheck, 45 min setup, 1 min reboot, 10 min verify. */
	srv(f, "28 20:00:00", "CAS01", SYS, RUN, PHASE_PRECHECK, NULL,
	    "started");
	srv_install(f, "28 20:00:05", "CAS01", 2);
	srv(f, "28 20:45:05", "CAS01", SYS, RUN, PHASE_REBOOT, json_pack(
	    "{s:s}", "job", "exr-0123456789ab-00000003"),
	    "restarting (job exr-0123456789ab-00000003)");
	srv(f, "28 20:46:05", "CAS01", SYS, RUN, PHASE_VERIFY, NULL,
	    "restart issued; waiting for the server to come back");
	srv_done(f, "28 20:56:05", "CAS01");
	wave_done(f, "28 20:56:05", 1, "ClientAccess");
	/* HUB01: two failed setups, a failure pause, alice's retry. */
	srv(f, "28 20:56:05", "HUB01", SYS, RUN, PHASE_PRECHECK, NULL,
	    "started");
	srv_install(f, "28 20:56:10", "HUB01", 7);
	srv(f, "28 21:40:10", "HUB01", SYS, RUN, PHASE_PRECHECK, json_pack(
	    "{s:i, s:i, s:s, s:i}", "attempt", 1, "attempts", 2, "error",
	    E1603, "retry_in_ms", 60000),
	    "attempt 1 of 2 failed: " E1603 "; retrying in 1 min");
	srv_install(f, "28 21:41:10", "HUB01", 9);
	srv(f, "28 22:25:10", "HUB01", SYS, SERVER_FAILED, PHASE_INSTALL,
	    json_pack("{s:i, s:i, s:s}", "attempt", 2, "attempts", 2,
	    "error", E1603), E1603);
	ro(f, "28 22:25:10", SYS, ROLLOUT_PAUSED, PAUSE_FAILURE,
	    "server 'HUB01' failed: " E1603);
	ev(f, "28 22:40:00", "operator", "HUB01", ALICE,
	    cmd("retry", "server", "HUB01", NULL, NULL), "retry");
	srv(f, "28 22:40:00", "HUB01", ALICE, RUN, PHASE_PRECHECK, NULL,
	    "retried by the operator after: " E1603);
	ro(f, "28 22:40:00", ALICE, ROLLOUT_RUNNING, PAUSE_NONE,
	    "no unit needs the operator any more");
	srv_install(f, "28 22:40:05", "HUB01", 12);
	srv(f, "28 23:20:05", "HUB01", SYS, RUN, PHASE_VERIFY, NULL,
	    "setup complete");
	srv_done(f, "28 23:30:05", "HUB01");
	wave_done(f, "28 23:30:05", 2, "HubTransport");
	/* bob's pause. */
	ev(f, "28 23:30:10", "operator", "rollout", BOB,
	    cmd("pause", "reason", "change freeze call", NULL, NULL),
	    "pause: change freeze call");
	ro(f, "28 23:30:10", BOB, ROLLOUT_PAUSED, PAUSE_OPERATOR,
	    "paused by " BOB ": change freeze call");
	ev(f, "28 23:45:10", "operator", "rollout", BOB,
	    cmd("resume", NULL, NULL, NULL, NULL), "resume");
	ro(f, "28 23:45:10", BOB, ROLLOUT_RUNNING, PAUSE_NONE,
	    "resumed by the operator");
	/* CMS1. */
	cl(f, "28 23:45:10", SYS, STEP_DISCOVER, NULL,
	    "reading the cluster's status");
	cl(f, "28 23:45:12", SYS, STEP_UPGRADE_PASSIVE, json_pack(
	    "{s:s, s:s}", "original_active", "MBX1A", "passive", "MBX1B"),
	    "active node 'MBX1A', upgrading passive node 'MBX1B' first");
	srv_ok(f, "MBX1B", "28 23:45:12", "28 23:45:20", "29 00:30:20",
	    "29 00:35:20", 20);
	cl(f, "29 00:35:20", SYS, STEP_FAILOVER, json_pack("{s:s}", "node",
	    "MBX1B"), "passive node 'MBX1B' upgraded");
	ev(f, "29 00:35:20", "cluster.checkpoint", "CMS1", SYS, json_pack(
	    "{s:s, s:s}", "checkpoint", "failover", "target", "MBX1B"),
	    "failover of 'CMS1' to 'MBX1B' waits for approval: exrollctl "
	    "approve CMS1");
	ev(f, "29 01:05:20", "operator", "CMS1", ALICE, cmd("approve",
	    "cluster", "CMS1", "checkpoint", "failover"), "approve failover");
	ev(f, "29 01:05:20", "cluster.approved", "CMS1", ALICE, json_pack(
	    "{s:s, s:s}", "checkpoint", "failover", "target", "MBX1B"),
	    "failover of 'CMS1' approved");
	act(f, "29 01:05:21", "cms_stop", "failover", 40, NULL,
	    "stopping CMS1");
	act(f, "29 01:06:00", "cms_move", "failover", 42, "MBX1B",
	    "moving CMS1 to MBX1B");
	act(f, "29 01:07:00", "cms_setup", "failover", 44, "MBX1B",
	    "setup /upgradeCMS of CMS1 on MBX1B");
	cl(f, "29 01:37:00", SYS, STEP_UPGRADE_FORMER_ACTIVE, json_pack(
	    "{s:s}", "active", "MBX1B"), "'CMS1' online on 'MBX1B'");
	srv_ok(f, "MBX1A", "29 01:37:00", "29 01:37:05", "29 02:20:05",
	    "29 02:25:05", 50);
	cl(f, "29 02:25:05", SYS, STEP_FAILBACK, json_pack("{s:s}", "node",
	    "MBX1A"), "former active node 'MBX1A' upgraded");
	ev(f, "29 02:25:05", "cluster.checkpoint", "CMS1", SYS, json_pack(
	    "{s:s, s:s}", "checkpoint", "failback", "target", "MBX1A"),
	    "failback of 'CMS1' to 'MBX1A' waits for approval: exrollctl "
	    "approve CMS1");
	ro(f, "29 06:00:00", SYS, ROLLOUT_WAITING_WINDOW, PAUSE_NONE,
	    "outside the maintenance window; next opens "
	    "2026-11-29T20:00:00.000Z");
	ro(f, "29 20:00:00", SYS, ROLLOUT_RUNNING, PAUSE_NONE,
	    "maintenance window open");
	/* An operator's name in another case is still the cluster. */
	ev(f, "29 20:05:00", "operator", "cms1", BOB, cmd("approve",
	    "cluster", "cms1", "checkpoint", "failback"), "approve failback");
	ev(f, "29 20:05:00", "cluster.approved", "CMS1", BOB, json_pack(
	    "{s:s, s:s}", "checkpoint", "failback", "target", "MBX1A"),
	    "failback of 'CMS1' approved");
	act(f, "29 20:05:01", "cms_move", "failback", 60, "MBX1A",
	    "moving CMS1 to MBX1A");
	ev(f, "29 20:06:00", "cluster.retry", "CMS1", SYS, json_pack(
	    "{s:s, s:i, s:i, s:s, s:i}", "step", "failback", "attempt", 1,
	    "attempts", 3, "error", "cms_status: the gateway answered HTTP "
	    "503", "retry_in_ms", 60000), "attempt 1 of 3 failed: cms_status: "
	    "the gateway answered HTTP 503");
	ev(f, "29 20:10:00", "cluster.blocked", "CMS1", SYS, json_pack(
	    "{s:s, s:s}", "step", "failback", "reason", BLOCK),
	    BLOCK "; fix it, then: exrollctl retry CMS1");
	ro(f, "29 20:10:00", SYS, ROLLOUT_PAUSED, PAUSE_FAILURE,
	    "cluster 'CMS1': " BLOCK);
	ev(f, "29 20:30:00", "operator", "CMS1", ALICE,
	    cmd("retry", "server", "CMS1", NULL, NULL), "retry");
	ev(f, "29 20:30:00", "cluster.retry", "CMS1", ALICE, json_pack(
	    "{s:s}", "after", BLOCK), "retried by the operator after: " BLOCK);
	ro(f, "29 20:30:00", ALICE, ROLLOUT_RUNNING, PAUSE_NONE,
	    "no unit needs the operator any more");
	cl(f, "29 20:31:00", SYS, STEP_DONE, json_pack("{s:s}", "active",
	    "MBX1A"), "'CMS1' back online on 'MBX1A'");
	wave_done(f, "29 20:31:00", 3, "Mailbox");
	ro(f, "29 20:31:00", SYS, ROLLOUT_COMPLETED, PAUSE_NONE,
	    "every wave is done");
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
	created(&f, "28 20:00:00");
	srv(&f, "28 20:00:00", "CAS01", SYS, RUN, PHASE_PRECHECK, NULL,
	    "started");
	srv_install(&f, "28 20:00:05", "CAS01", 2);
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
	 * nothing and breaks nothing; events the report would read but whose
	 * data is missing (as schema 1 wrote them) or lacks what their kind
	 * needs are listed raw, whatever their message says. */
	ck_assert_int_eq(json_array_append_new(f.events, json_integer(3)), 0);
	ck_assert_int_eq(json_array_append_new(f.events, json_pack("{s:s}",
	    "kind", "server.state")), 0);
	ck_assert_int_eq(json_array_append_new(f.events, json_pack(
	    "{s:s, s:s, s:s}", "kind", "server.state", "time", "yesterday",
	    "subject", "CAS01")), 0);
	f.seq = 100;
	ev(&f, "30 08:00:00", "server.state", "NOSUCH", SYS, json_pack(
	    "{s:s, s:s, s:s, s:s}", "from_state", "pending", "from_phase",
	    "none", "to_state", "running", "to_phase", "precheck"),
	    "pending -> precheck: started");
	ev(&f, "30 08:00:00", "server.state", "CAS01", SYS, NULL,
	    "done -> precheck: a message alone is not read");
	ev(&f, "30 08:00:00", "server.phase", "CAS01", SYS, json_pack(
	    "{s:s, s:i}", "from_state", "running", "to_state", 7),
	    "precheck -> install: data without its phases");
	ev(&f, "30 08:00:00", "cluster.approved", "CMS1", SYS, json_pack(
	    "{s:s}", "target", "MBX1B"), "failover of 'CMS1' approved");
	ev(&f, "30 08:00:00", "cluster.move", "CMS1", SYS, NULL,
	    "moving CMS1 to MBX1B (job exr-0123456789ab-00000099)");
	ev(&f, "30 08:00:00", "daemon.reload", "rollout", SYS, NULL,
	    "configuration reloaded");
	ev(&f, "30 08:00:00", "rollout.state", "rollout", SYS, json_pack(
	    "{s:s}", "to", "paused"), "running -> paused: half the data");
	paged = report_build(f.events, &f.m, &f.plan, f.cfg, at("30 09:00:00"));
	ck_assert_ptr_nonnull(paged);
	ck_assert(json_equal(json_object_get(unit(whole, "CAS01"), "phases"),
	    json_object_get(unit(paged, "CAS01"), "phases")));
	ck_assert(json_equal(json_object_get(whole, "timeline"),
	    json_object_get(paged, "timeline")));
	ck_assert(json_equal(json_object_get(unit(whole, "CMS1"), "moves"),
	    json_object_get(unit(paged, "CMS1"), "moves")));
	ck_assert(json_equal(json_object_get(unit(whole, "CMS1"),
	    "checkpoints"), json_object_get(unit(paged, "CMS1"),
	    "checkpoints")));
	ck_assert_int_eq(json_array_size(json_object_get(whole, "raw_events")),
	    0);
	{
		const json_t *raw = json_object_get(paged, "raw_events");
		static const json_int_t seqs[] = { 102, 103, 104, 105, 107 };

		ck_assert_int_eq(json_array_size(raw), 5);
		for (size_t i = 0; i < 5; i++)
			ck_assert_int_eq(ji(json_array_get(raw, i), "seq"),
			    seqs[i]);
		/* As it was: for people to read. */
		ck_assert_str_eq(js(json_array_get(raw, 3), "kind"),
		    "cluster.move");
		ck_assert_str_eq(js(json_array_get(raw, 3), "message"),
		    "moving CMS1 to MBX1B (job exr-0123456789ab-00000099)");
		ck_assert_str_eq(js(json_array_get(raw, 3), "actor"), SYS);
		ck_time(json_array_get(raw, 3), "time", "30 08:00:00");
	}
	{
		/* People see them too, in text and in Markdown. */
		char *txt = render(ctl_text_report, paged);
		char *md = render(ctl_markdown_report, paged);

		ck_assert_ptr_nonnull(strstr(txt, "Events without data"));
		ck_assert_ptr_nonnull(strstr(txt, "moving CMS1 to MBX1B"));
		ck_assert_ptr_nonnull(strstr(md, "## Events without data"));
		free(txt);
		free(md);
	}
	json_decref(paged);
	/* Not an array: refused. */
	a = json_object();
	ck_assert_ptr_null(report_build(a, &f.m, &f.plan, f.cfg, 0));
	json_decref(a);
	json_decref(whole);
	fx_free(&f);
}
END_TEST

/* ---- the engine's own data --------------------------------------------- */

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

START_TEST(engine_data_read_back)
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
	created(&f, "28 20:00:00");
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

	/* Every event the engine wrote carries its data. */
	{
		size_t i;
		json_t *e;

		json_array_foreach(f.events, i, e)
			ck_assert_msg(json_is_object(json_object_get(e, "data")),
			    "event %zu (%s) has no data", i, js(e, "kind"));
	}
	rep = report_build(f.events, &f.m, &f.plan, f.cfg, g.now + HOUR);
	ck_assert_ptr_nonnull(rep);
	/* ... and all of it was what the report reads. */
	ck_assert_int_eq(json_array_size(json_object_get(rep, "raw_events")),
	    0);
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
	ck_assert_str_eq(js(json_array_get(json_object_get(rep,
	    "operator_actions"), 0), "command"), "retry");
	ck_assert_str_eq(js(json_array_get(json_object_get(cms, "actions"), 0),
	    "job"), js(json_array_get(json_object_get(cms, "actions"), 0),
	    "job"));
	ck_assert_int_eq(json_array_size(json_object_get(cms, "blocks")), 0);
	ck_time(json_array_get(json_object_get(rep, "waves"), 0),
	    "started_at", "28 20:00:00");
	ck_assert(json_is_string(json_object_get(json_array_get(
	    json_object_get(rep, "waves"), 2), "finished_at")));
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
	created(&f, "28 20:00:00");
	srv_ok(&f, "CAS01", "28 20:00:00", "28 20:00:04", "28 20:41:04",
	    "28 20:49:00", 2);
	wave_done(&f, "28 20:49:00", 1, "ClientAccess");
	srv(&f, "28 20:49:00", "HUB01", SYS, RUN, PHASE_PRECHECK, NULL,
	    "started");
	ev(&f, "28 20:49:01", "server.notice", "HUB01", SYS, json_pack(
	    "{s:s, s:s}", "notice", "reboot_not_done", "reboot_policy",
	    "never"), "setup asks for a reboot; policy reboot \"never\" "
	    "leaves it to the operator");
	srv(&f, "28 20:49:02", "HUB01", SYS, SERVER_FAILED, PHASE_PRECHECK,
	    json_pack("{s:i, s:i, s:s}", "attempt", 1, "attempts", 1, "error",
	    "precheck: not sent: Could not connect to server | retried 3 "
	    "times"), "precheck: not sent: Could not connect to server | "
	    "retried 3 times");
	ro(&f, "28 20:49:02", SYS, ROLLOUT_PAUSED, PAUSE_FAILURE,
	    "server 'HUB01' failed: precheck: not sent");
	ev(&f, "28 21:10:00", "operator", "CMS1", BOB, cmd("skip", "server",
	    "CMS1", "reason", "storage replaced next month"),
	    "skip: storage replaced next month");
	srv(&f, "28 21:10:00", "MBX1A", BOB, SERVER_SKIPPED, PHASE_NONE, NULL,
	    "skipped by the operator: storage replaced next month");
	srv(&f, "28 21:10:00", "MBX1B", BOB, SERVER_SKIPPED, PHASE_NONE, NULL,
	    "skipped by the operator: storage replaced next month");
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
	tcase_add_test(tc, engine_data_read_back);
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
	/* The engine case logs every transition; the test reads events. */
	log_set_level(LOG_LEVEL_WARNING);
	return tu_run(report_suite());
}
