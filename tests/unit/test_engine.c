/*
 * test_engine — the functional core (engine.c, upgrade.c, cluster.c) fed
 * events directly: a configuration, a clock the test moves, and gateway
 * answers the test writes. No I/O: what is checked is what the engine
 * decides (jobs queued, transitions, events and their data, the rollout
 * state).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "model.h"
#include "plan.h"
#include "testutil.h"
#include "timefmt.h"

#define T0 1800000000000LL	/* a fixed "now" */

struct h {
	char *dir;
	struct config *cfg;
	struct plan plan;
	struct model m;
	struct engine e;
	int64_t now;
	struct job *flight[512];
	int nflight;
	char events[65536];	/* "kind subject: message\n" of every commit */
	size_t evlen;
	json_t *evs;		/* every event: {kind, subject, actor, data} */
};

static void
h_event(const struct event *ev, void *arg)
{
	struct h *h = arg;
	int n = snprintf(h->events + h->evlen, sizeof(h->events) - h->evlen,
	    "%s %s: %s\n", ev->kind, ev->subject, ev->message);

	if (n > 0 && h->evlen + (size_t)n < sizeof(h->events))
		h->evlen += (size_t)n;
	ck_assert_int_eq(json_array_append_new(h->evs, json_pack(
	    "{s:s, s:s, s:s, s:o}", "kind", ev->kind, "subject", ev->subject,
	    "actor", ev->actor, "data", ev->data != NULL ?
	    json_loads(ev->data, JSON_REJECT_DUPLICATES, NULL) : json_null())),
	    0);
}

/* The data of the last event of kind about subject (asserted there, with
 * an object as data); its actor into *actor when not NULL. Borrowed. */
static const json_t *
h_data(struct h *h, const char *kind, const char *subject, const char **actor)
{
	for (size_t i = json_array_size(h->evs); i-- > 0;) {
		const json_t *e = json_array_get(h->evs, i);

		if (strcmp(json_string_value(json_object_get(e, "kind")),
		    kind) != 0 || strcmp(json_string_value(json_object_get(e,
		    "subject")), subject) != 0)
			continue;
		ck_assert_msg(json_is_object(json_object_get(e, "data")),
		    "event %s of '%s' has no data", kind, subject);
		if (actor != NULL)
			*actor = json_string_value(json_object_get(e, "actor"));
		return json_object_get(e, "data");
	}
	ck_abort_msg("no event %s of '%s'", kind, subject);
	return NULL;
}

/* A string member of an event's data, asserted. */
static void
ck_dstr(const json_t *d, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(d, key));

	ck_assert_msg(v != NULL, "data has no string '%s'", key);
	ck_assert_str_eq(v, want);
}

static void
ck_dint(const json_t *d, const char *key, json_int_t want)
{
	const json_t *v = json_object_get(d, key);

	ck_assert_msg(json_is_integer(v), "data has no integer '%s'", key);
	ck_assert_int_eq(json_integer_value(v), want);
}

/* What the shell does after each engine call: "commit" and take the
 * outbox as the jobs now in flight. */
static void
h_flush(struct h *h)
{
	struct job *j, *next;

	model_after_commit(&h->m, h_event, h);
	for (j = model_take_outbox(&h->m); j != NULL; j = next) {
		next = j->next_outbox;
		j->next_outbox = NULL;
		j->in_outbox = false;
		ck_assert_int_lt(h->nflight, 512);
		h->flight[h->nflight++] = j;
	}
}

static const char *CFG_HEAD =
    "{\"gateway\": {\"url\": \"http://127.0.0.1:1/\", \"poll_interval_s\": 5},\n"
    " \"state_file\": \"/nonexistent/state.db\",\n";

static void
h_init(struct h *h, const char *policy, const char *inventory)
{
	struct config_errors errs = { 0 };
	char *path, text[8192];

	memset(h, 0, sizeof(*h));
	h->evs = json_array();
	ck_assert_ptr_nonnull(h->evs);
	h->dir = tu_tmpdir("engine");
	ck_assert_ptr_nonnull(h->dir);
	path = tu_path(h->dir, "exroll.json");
	snprintf(text, sizeof(text), "%s \"policy\": {%s},\n%s}\n", CFG_HEAD,
	    policy, inventory);
	ck_assert_int_eq(tu_write_file(path, text), 0);
	if (config_load(path, &h->cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		ck_abort_msg("test configuration rejected");
	}
	free(path);
	ck_assert_int_eq(plan_build(h->cfg, &h->plan), 0);
	ck_assert_int_eq(model_init(&h->m, h->cfg, &h->plan), 0);
	strcpy(h->m.rollout.nonce, "0123456789ab");
	ck_assert_int_eq(engine_init(&h->e, &h->m, h->cfg, &h->plan), 0);
	h->now = T0;
	engine_start(&h->e, h->now);
	h_flush(h);
}

static void
h_free(struct h *h)
{
	/* Jobs in flight belong to the model's live list. */
	engine_free(&h->e);
	model_free(&h->m);
	plan_free(&h->plan);
	config_free(h->cfg);
	tu_rmrf(h->dir);
	free(h->dir);
	json_decref(h->evs);
}

static const char *
h_unit(const struct job *j)
{
	return j->server ? j->server->name : j->cluster->name;
}

/* The one job in flight of this kind for this unit, or NULL. */
static struct job *
h_find(struct h *h, enum job_kind kind, const char *unit)
{
	for (int i = 0; i < h->nflight; i++) {
		if (h->flight[i]->kind == kind &&
		    strcmp(h_unit(h->flight[i]), unit) == 0)
			return h->flight[i];
	}
	return NULL;
}

static struct job *
h_expect(struct h *h, enum job_kind kind, const char *unit)
{
	struct job *j = h_find(h, kind, unit);

	ck_assert_msg(j != NULL, "no %s job in flight for '%s' (%d in flight)",
	    job_kind_name(kind), unit, h->nflight);
	return j;
}

static int
h_count(struct h *h, enum job_kind kind)
{
	int n = 0;

	for (int i = 0; i < h->nflight; i++)
		n += h->flight[i]->kind == kind;
	return n;
}

/* Answers j: status and the job's output as JSON text. */
static void
h_answer(struct h *h, struct job *j, enum gw_status status, int http,
    const char *output, const char *message)
{
	json_t *out = output ? json_loads(output, 0, NULL) : NULL;
	json_t *job = NULL;
	struct gw_result res = { .status = status, .http_status = http,
	    .message = message };

	ck_assert_msg(output == NULL || out != NULL, "bad output %s", output);
	if (status != GW_REJECTED) {
		job = json_pack("{s:s, s:s, s:o}", "id", j->id, "state",
		    status == GW_COMPLETED ? "completed" : "failed", "output",
		    out ? json_incref(out) : json_array());
		res.job = job;
		res.output = json_object_get(job, "output");
	}
	for (int i = 0; i < h->nflight; i++) {
		if (h->flight[i] == j) {
			h->flight[i] = h->flight[--h->nflight];
			break;
		}
	}
	engine_job_done(&h->e, j, &res, h->now);
	h_flush(h);
	json_decref(job);
	json_decref(out);
}

static void h_ok(struct h *h, struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
h_ok(struct h *h, struct job *j, const char *fmt, ...)
{
	char out[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	h_answer(h, j, GW_COMPLETED, 200, out, NULL);
}

#define RTM "Version 8.0 (Build 685.24)"
#define SP1 "Version 8.1 (Build 240.6)"

static void
h_server(struct h *h, const char *name, const char *display)
{
	h_ok(h, h_expect(h, JOB_GET_SERVER, name),
	    "[{\"Name\": \"%s\", \"ServerRole\": \"Mailbox\", "
	    "\"AdminDisplayVersion\": \"%s\"}]", name, display);
}

static void
h_healthy(struct h *h, const char *name)
{
	h_ok(h, h_expect(h, JOB_TEST_HEALTH, name),
	    "[{\"Role\": \"Mailbox Server Role\", \"RequiredServicesRunning\": "
	    "true, \"ServicesNotRunning\": []}]");
}

static void
h_setup(struct h *h, const char *name, int code, bool reboot)
{
	h_ok(h, h_expect(h, JOB_SETUP, name),
	    "[{\"ExitCode\": %d, \"RebootRequired\": %s}]", code,
	    reboot ? "true" : "false");
}

static void
h_cms(struct h *h, const char *cms, const char *active, const char *other,
    const char *state)
{
	h_ok(h, h_expect(h, JOB_CMS_STATUS, cms),
	    "[{\"Identity\": \"%s\", \"State\": \"%s\", \"OperationalMachines\": "
	    "[\"%s <Active, Quorum Owner>\", \"%s\"]}]", cms, state, active,
	    other);
}

/* The whole happy path of one standalone server already started. */
static void
h_upgrade(struct h *h, const char *name)
{
	h_server(h, name, RTM);
	h_setup(h, name, 0, false);
	h_server(h, name, SP1);
	h_healthy(h, name);
	ck_assert_int_eq(model_server(&h->m, name)->state, SERVER_DONE);
}

static const char *INV_SMALL =
    " \"servers\": [{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},\n"
    "  {\"name\": \"CAS02\", \"roles\": [\"ClientAccess\"]},\n"
    "  {\"name\": \"HUB01\", \"roles\": [\"HubTransport\"]},\n"
    "  {\"name\": \"ALL01\", \"roles\": [\"ClientAccess\", \"HubTransport\", "
    "\"Mailbox\"]}]\n";

START_TEST(waves_in_order_one_at_a_time)
{
	struct h h;
	const json_t *d;

	h_init(&h, "\"retries\": 0", INV_SMALL);
	/* max_parallel 1: only the first CAS is started. */
	ck_assert_int_eq(h.nflight, 1);
	h_server(&h, "CAS01", RTM);
	ck_assert_int_eq(model_server(&h.m, "CAS01")->phase, PHASE_INSTALL);
	ck_assert_ptr_null(h_find(&h, JOB_GET_SERVER, "CAS02"));
	/* The install's event says what a report needs, as data: the phases
	 * left and entered, the version found, the setup job. */
	d = h_data(&h, "server.phase", "CAS01", NULL);
	ck_dstr(d, "from_state", "running");
	ck_dstr(d, "from_phase", "precheck");
	ck_dstr(d, "to_state", "running");
	ck_dstr(d, "to_phase", "install");
	ck_dstr(d, "version", "8.0.685.24");
	ck_dstr(d, "target_version", "8.1.240.6");
	ck_dstr(d, "job", h_expect(&h, JOB_SETUP, "CAS01")->id);
	h_setup(&h, "CAS01", 0, false);
	h_server(&h, "CAS01", SP1);
	h_healthy(&h, "CAS01");
	/* CAS01 done: CAS02 starts, the Hub wave has not. */
	h_expect(&h, JOB_GET_SERVER, "CAS02");
	ck_assert_int_eq(model_server(&h.m, "HUB01")->state, SERVER_PENDING);
	h_upgrade(&h, "CAS02");
	h_upgrade(&h, "HUB01");
	/* The multi-role server goes last, in the Mailbox wave. */
	h_upgrade(&h, "ALL01");
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_COMPLETED);
	ck_assert_int_eq(h.nflight, 0);
	ck_assert_ptr_nonnull(strstr(h.events, "wave 1 (ClientAccess) done"));
	d = h_data(&h, "wave.done", "ClientAccess", NULL);
	ck_dint(d, "wave", 1);
	ck_dstr(d, "role", "ClientAccess");
	ck_dint(d, "units", 2);
	d = h_data(&h, "server.state", "ALL01", NULL);
	ck_dstr(d, "to_state", "done");
	ck_dstr(d, "version", "8.1.240.6");
	d = h_data(&h, "rollout.state", "rollout", NULL);
	ck_dstr(d, "from", "running");
	ck_dstr(d, "to", "completed");
	ck_dstr(d, "cause", "none");
	h_free(&h);
}
END_TEST

START_TEST(parallel_per_role)
{
	struct h h;

	h_init(&h, "\"max_parallel\": {\"ClientAccess\": 2}", INV_SMALL);
	ck_assert_int_eq(h_count(&h, JOB_GET_SERVER), 2);
	h_free(&h);
}
END_TEST

START_TEST(already_at_target_skips_install)
{
	struct h h;

	h_init(&h, "", INV_SMALL);
	h_server(&h, "CAS01", "Version 8.1 (Build 263.1)");	/* a rollup */
	ck_assert_int_eq(model_server(&h.m, "CAS01")->phase, PHASE_VERIFY);
	ck_assert_int_eq(h_count(&h, JOB_SETUP), 0);
	h_server(&h, "CAS01", "Version 8.1 (Build 263.1)");
	h_healthy(&h, "CAS01");
	ck_assert_int_eq(model_server(&h.m, "CAS01")->state, SERVER_DONE);
	h_free(&h);
}
END_TEST

START_TEST(reboot_when_required)
{
	struct h h;
	struct server *s;

	h_init(&h, "\"verify_interval_s\": 30", INV_SMALL);
	h_server(&h, "CAS01", RTM);
	h_setup(&h, "CAS01", 0, true);
	s = model_server(&h.m, "CAS01");
	ck_assert_int_eq(s->phase, PHASE_REBOOT);
	h_ok(&h, h_expect(&h, JOB_RESTART, "CAS01"), "[]");
	/* Verify waits one interval for the server to go down and return. */
	ck_assert_int_eq(s->phase, PHASE_VERIFY);
	ck_assert_int_eq(h.nflight, 0);
	ck_assert_int_eq(s->wake_at, h.now + 30000);
	h.now = s->wake_at;
	engine_wake_server(&h.e, s, h.now);
	h_flush(&h);
	/* Not reachable yet: verify tries again later. */
	h_answer(&h, h_expect(&h, JOB_GET_SERVER, "CAS01"), GW_FAILED, 200,
	    NULL, "server unreachable");
	ck_assert_int_eq(s->state, SERVER_RUNNING);
	ck_assert_int_gt(s->wake_at, h.now);
	h.now = s->wake_at;
	engine_wake_server(&h.e, s, h.now);
	h_flush(&h);
	h_server(&h, "CAS01", SP1);
	h_healthy(&h, "CAS01");
	ck_assert_int_eq(s->state, SERVER_DONE);
	h_free(&h);
}
END_TEST

START_TEST(setup_failure_retries_then_pauses)
{
	struct h h;
	struct server *s;
	const json_t *d;
	const char *actor;
	char msg[256];

	h_init(&h, "\"retries\": 1, \"retry_backoff_s\": 60", INV_SMALL);
	s = model_server(&h.m, "CAS01");
	h_server(&h, "CAS01", RTM);
	h_setup(&h, "CAS01", 1603, false);
	/* First failure: a backoff, then precheck again. */
	ck_assert_int_eq(s->state, SERVER_RUNNING);
	ck_assert_int_eq(s->phase, PHASE_PRECHECK);
	ck_assert_int_eq(s->wake_at, h.now + 60000);
	ck_assert_int_eq(h.nflight, 0);
	d = h_data(&h, "server.phase", "CAS01", NULL);
	ck_dstr(d, "from_phase", "install");
	ck_dstr(d, "to_state", "running");
	ck_dstr(d, "to_phase", "precheck");
	ck_dint(d, "attempt", 1);
	ck_dint(d, "attempts", 2);
	ck_dstr(d, "error", "setup exited with code 1603");
	ck_dint(d, "retry_in_ms", 60000);
	h.now = s->wake_at;
	engine_wake_server(&h.e, s, h.now);
	h_flush(&h);
	h_server(&h, "CAS01", RTM);
	h_setup(&h, "CAS01", 1603, false);
	/* Attempts exhausted: failed, rollout paused with the reason. */
	ck_assert_int_eq(s->state, SERVER_FAILED);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_PAUSED);
	ck_assert_ptr_nonnull(strstr(h.m.rollout.reason, "CAS01"));
	ck_assert_ptr_nonnull(strstr(h.m.rollout.reason, "1603"));
	ck_assert_ptr_nonnull(strstr(s->last_error, "1603"));
	/* The failure, from what to what, and the pause it caused. */
	d = h_data(&h, "server.state", "CAS01", &actor);
	ck_assert_str_eq(actor, "exrolld");
	ck_dstr(d, "from_state", "running");
	ck_dstr(d, "from_phase", "install");
	ck_dstr(d, "to_state", "failed");
	ck_dstr(d, "to_phase", "install");
	ck_dstr(d, "error", "setup exited with code 1603");
	ck_dstr(d, "reason", "setup exited with code 1603");
	d = h_data(&h, "rollout.state", "rollout", NULL);
	ck_dstr(d, "from", "running");
	ck_dstr(d, "to", "paused");
	ck_dstr(d, "cause", "failure");
	ck_dstr(d, "reason", "server 'CAS01' failed: setup exited with code "
	    "1603");
	/* Retry: back to precheck, the failure pause lifts itself. */
	ck_assert_int_eq(engine_retry(&h.e, "cas01", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), 0);
	h_flush(&h);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_RUNNING);
	d = h_data(&h, "operator", "cas01", &actor);
	ck_assert_str_eq(actor, "uid 0 (root)");
	ck_dstr(d, "command", "retry");
	ck_dstr(d, "server", "cas01");
	d = h_data(&h, "server.state", "CAS01", &actor);
	ck_assert_str_eq(actor, "uid 0 (root)");
	ck_dstr(d, "from_state", "failed");
	ck_dstr(d, "to_state", "running");
	ck_dstr(d, "to_phase", "precheck");
	ck_assert_ptr_null(json_object_get(d, "error"));
	d = h_data(&h, "rollout.state", "rollout", NULL);
	ck_dstr(d, "from", "paused");
	ck_dstr(d, "to", "running");
	ck_dstr(d, "cause", "none");
	h_upgrade(&h, "CAS01");
	/* Retrying a server that has not failed is refused. */
	ck_assert_int_eq(engine_retry(&h.e, "CAS01", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), -EBUSY);
	ck_assert_int_eq(engine_retry(&h.e, "NOPE", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), -ENOENT);
	h_flush(&h);
	h_free(&h);
}
END_TEST

START_TEST(skip_failed_server_moves_on)
{
	struct h h;
	char msg[256];

	h_init(&h, "\"retries\": 0", INV_SMALL);
	h_server(&h, "CAS01", RTM);
	h_setup(&h, "CAS01", 1, false);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_PAUSED);
	ck_assert_int_eq(engine_skip(&h.e, "CAS01", "hardware fault",
	    "uid 1000 (alice)", h.now, msg, sizeof(msg)), 0);
	h_flush(&h);
	ck_assert_int_eq(model_server(&h.m, "CAS01")->state, SERVER_SKIPPED);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_RUNNING);
	h_expect(&h, JOB_GET_SERVER, "CAS02");
	ck_assert_ptr_nonnull(strstr(h.events, "operator CAS01: skip: hardware fault"));
	h_free(&h);
}
END_TEST

START_TEST(install_timeout_fails_and_keeps_following)
{
	struct h h;
	struct server *s;
	char msg[256];

	h_init(&h, "\"install_timeout_s\": 100", INV_SMALL);
	s = model_server(&h.m, "CAS01");
	h_server(&h, "CAS01", RTM);
	ck_assert_int_eq(s->wake_at, h.now + 100000);
	h.now = s->wake_at;
	engine_wake_server(&h.e, s, h.now);
	h_flush(&h);
	ck_assert_int_eq(s->state, SERVER_FAILED);
	ck_assert_ptr_nonnull(s->job);		/* setup still followed */
	ck_assert_int_eq(engine_retry(&h.e, "CAS01", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(msg, "still running"));
	h_flush(&h);
	h_setup(&h, "CAS01", 0, false);
	ck_assert_int_eq(s->state, SERVER_FAILED);
	ck_assert_int_eq(engine_retry(&h.e, "CAS01", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), 0);
	h_flush(&h);
	h_server(&h, "CAS01", SP1);	/* precheck: installed after all */
	ck_assert_int_eq(s->phase, PHASE_VERIFY);
	h_free(&h);
}
END_TEST

START_TEST(pause_resume_abort)
{
	struct h h;
	char msg[256];

	h_init(&h, "", INV_SMALL);
	ck_assert_int_eq(engine_pause(&h.e, "lunch", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), 0);
	h_flush(&h);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_PAUSED);
	/* In flight is followed; nothing new starts. */
	h_server(&h, "CAS01", RTM);
	ck_assert_int_eq(h_count(&h, JOB_SETUP), 0);
	ck_assert_int_eq(model_server(&h.m, "CAS01")->phase, PHASE_PRECHECK);
	msg[0] = '\0';
	ck_assert_int_eq(engine_pause(&h.e, NULL, "uid 0 (root)", h.now, msg,
	    sizeof(msg)), 0);
	ck_assert_str_eq(msg, "already paused");
	ck_assert_int_eq(engine_resume(&h.e, "uid 0 (root)", h.now, msg,
	    sizeof(msg)), 0);
	h_flush(&h);
	/* Resume re-reads the server before installing. */
	h_server(&h, "CAS01", RTM);
	h_expect(&h, JOB_SETUP, "CAS01");
	ck_assert_int_eq(engine_abort(&h.e, "change cancelled", "uid 0 (root)",
	    h.now, msg, sizeof(msg)), 0);
	h_flush(&h);
	h_setup(&h, "CAS01", 0, false);
	ck_assert_int_eq(h.nflight, 0);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_ABORTED);
	ck_assert_int_eq(engine_resume(&h.e, "uid 0 (root)", h.now, msg,
	    sizeof(msg)), -EBUSY);
	h_flush(&h);
	h_free(&h);
}
END_TEST

START_TEST(window_closed_starts_nothing)
{
	struct h h;
	struct window_state closed = { .open = false,
	    .next_open = T0 + 3600000 }, open = { .open = true };

	h_init(&h, "", INV_SMALL);
	engine_window(&h.e, &closed, h.now);
	h_flush(&h);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_WAITING_WINDOW);
	/* The read in flight completes; the install does not start. */
	h_server(&h, "CAS01", RTM);
	ck_assert_int_eq(h_count(&h, JOB_SETUP), 0);
	h.now += 3600000;
	engine_window(&h.e, &open, h.now);
	h_flush(&h);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_RUNNING);
	h_server(&h, "CAS01", RTM);
	h_expect(&h, JOB_SETUP, "CAS01");
	h_free(&h);
}
END_TEST

START_TEST(gateway_refusal_pauses)
{
	struct h h;

	h_init(&h, "", INV_SMALL);
	h_answer(&h, h_expect(&h, JOB_GET_SERVER, "CAS01"), GW_REJECTED, 401,
	    NULL, "bad token");
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_PAUSED);
	ck_assert_ptr_nonnull(strstr(h.m.rollout.reason, "401"));
	ck_assert_int_eq(model_server(&h.m, "CAS01")->state, SERVER_RUNNING);
	h_free(&h);
}
END_TEST

static const char *INV_CCR =
    " \"servers\": [{\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},\n"
    "  {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],\n"
    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\", "
    "\"nodes\": [\"MBX1A\", \"MBX1B\"]}]\n";

/* A node's upgrade inside a cluster step: precheck, the cluster's owner
 * check, setup, verify. */
static void
h_node(struct h *h, const char *node, const char *owner, const char *other,
    const char *state)
{
	h_server(h, node, RTM);
	ck_assert_int_eq(h_count(h, JOB_SETUP), 0);	/* owner check first */
	h_cms(h, "CMS1", owner, other, state);
	h_setup(h, node, 0, false);
	h_server(h, node, SP1);
	h_healthy(h, node);
}

START_TEST(ccr_service_pack_sequence)
{
	struct h h;
	struct cluster *c;
	const json_t *d;
	const char *actor;
	char msg[256];

	/* The configuration lists MBX1A first, but MBX1B is active: the
	 * engine must discover it, never assume it. */
	h_init(&h, "", INV_CCR);
	c = model_cluster(&h.m, "CMS1");
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	ck_assert_int_eq(c->step, STEP_UPGRADE_PASSIVE);
	ck_assert_str_eq(c->original_active->name, "MBX1B");
	d = h_data(&h, "cluster.step", "CMS1", NULL);
	ck_dstr(d, "from", "discover");
	ck_dstr(d, "to", "upgrade_passive");
	ck_dstr(d, "original_active", "MBX1B");
	ck_dstr(d, "passive", "MBX1A");
	h_node(&h, "MBX1A", "MBX1B", "MBX1A", "Online");
	d = h_data(&h, "cluster.checkpoint", "CMS1", NULL);
	ck_dstr(d, "checkpoint", "failover");
	ck_dstr(d, "target", "MBX1A");
	/* Checkpoint: nothing happens without approval. */
	ck_assert_int_eq(c->step, STEP_FAILOVER);
	ck_assert_int_eq(h.nflight, 0);
	ck_assert_str_eq(engine_pending_checkpoint(&h.e, c), "failover");
	ck_assert_int_eq(engine_approve(&h.e, "CMS1", "failback", "uid 0 (root)",
	    h.now, msg, sizeof(msg)), -EBUSY);
	ck_assert_int_eq(engine_approve(&h.e, "CMS1", NULL, "uid 0 (root)",
	    h.now, msg, sizeof(msg)), 0);
	h_flush(&h);
	/* Who approved which checkpoint, and what was asked. */
	d = h_data(&h, "cluster.approved", "CMS1", &actor);
	ck_assert_str_eq(actor, "uid 0 (root)");
	ck_dstr(d, "checkpoint", "failover");
	ck_dstr(d, "target", "MBX1A");
	d = h_data(&h, "operator", "CMS1", &actor);
	ck_assert_str_eq(actor, "uid 0 (root)");
	ck_dstr(d, "command", "approve");
	ck_dstr(d, "cluster", "CMS1");
	ck_assert(json_is_null(json_object_get(d, "checkpoint")));
	/* Stop, move, /upgradeCMS, each after a status read. */
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	d = h_data(&h, "cluster.action", "CMS1", NULL);
	ck_dstr(d, "action", "cms_stop");
	ck_dstr(d, "step", "failover");
	ck_dstr(d, "job", h_expect(&h, JOB_CMS_STOP, "CMS1")->id);
	ck_assert(json_is_null(json_object_get(d, "target")));
	h_ok(&h, h_expect(&h, JOB_CMS_STOP, "CMS1"), "[]");
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Offline");
	d = h_data(&h, "cluster.move", "CMS1", NULL);
	ck_dstr(d, "action", "cms_move");
	ck_dstr(d, "job", h_expect(&h, JOB_CMS_MOVE, "CMS1")->id);
	ck_dstr(d, "target", "MBX1A");
	ck_assert_ptr_nonnull(strstr(h_expect(&h, JOB_CMS_MOVE, "CMS1")->request,
	    "\"MBX1A\""));
	h_ok(&h, h_expect(&h, JOB_CMS_MOVE, "CMS1"), "[]");
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Offline");
	h_ok(&h, h_expect(&h, JOB_CMS_SETUP, "CMS1"), "[{\"ExitCode\": 0}]");
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "OnlinePending");
	ck_assert_int_eq(h.nflight, 0);		/* pending: poll later */
	h.now = c->wake_at;
	engine_wake_cluster(&h.e, c, h.now);
	h_flush(&h);
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	ck_assert_int_eq(c->step, STEP_UPGRADE_FORMER_ACTIVE);
	h_node(&h, "MBX1B", "MBX1A", "MBX1B", "Online");
	ck_assert_str_eq(engine_pending_checkpoint(&h.e, c), "failback");
	ck_assert_int_eq(engine_approve(&h.e, "CMS1", "failback", "uid 0 (root)",
	    h.now, msg, sizeof(msg)), 0);
	h_flush(&h);
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	h_ok(&h, h_expect(&h, JOB_CMS_MOVE, "CMS1"), "[]");
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	ck_assert_int_eq(c->step, STEP_DONE);
	ck_assert_int_eq(c->moves, 2);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_COMPLETED);
	/* Approving again is harmless and says so. */
	ck_assert_int_eq(engine_approve(&h.e, "CMS1", NULL, "uid 0 (root)",
	    h.now, msg, sizeof(msg)), -EBUSY);
	h_flush(&h);
	h_free(&h);
}
END_TEST

START_TEST(ccr_move_already_done_is_not_repeated)
{
	struct h h;
	struct cluster *c;
	char msg[256];

	h_init(&h, "\"checkpoints\": \"auto\", \"ccr_procedure\": \"rollup\"",
	    INV_CCR);
	c = model_cluster(&h.m, "CMS1");
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	h_node(&h, "MBX1B", "MBX1A", "MBX1B", "Online");
	/* auto: no pause; the status read comes first. */
	ck_assert_int_eq(c->step, STEP_FAILOVER);
	ck_assert_ptr_null(engine_pending_checkpoint(&h.e, c));
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	h_expect(&h, JOB_CMS_MOVE, "CMS1");
	/* The move's answer is lost (the gateway says it failed), yet the
	 * CMS did move: the next status read sees it, no second move. */
	h_answer(&h, h_expect(&h, JOB_CMS_MOVE, "CMS1"), GW_FAILED, 200, NULL,
	    "connection reset");
	ck_assert_int_eq(h.nflight, 0);
	h.now = c->wake_at;
	engine_wake_cluster(&h.e, c, h.now);
	h_flush(&h);
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	ck_assert_int_eq(c->step, STEP_UPGRADE_FORMER_ACTIVE);
	ck_assert_int_eq(c->moves, 1);
	ck_assert_int_eq(engine_approve(&h.e, "CMS1", NULL, "uid 0 (root)",
	    h.now, msg, sizeof(msg)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(msg, "not waiting"));
	h_flush(&h);
	h_free(&h);
}
END_TEST

START_TEST(ccr_unexpected_state_blocks)
{
	struct h h;
	struct cluster *c;
	char msg[256];

	h_init(&h, "\"checkpoints\": \"auto\"", INV_CCR);
	c = model_cluster(&h.m, "CMS1");
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Failed");
	ck_assert(c->blocked);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_PAUSED);
	ck_assert_ptr_nonnull(strstr(h.m.rollout.reason, "Failed"));
	ck_assert_int_eq(h.nflight, 0);
	{
		const json_t *d = h_data(&h, "cluster.blocked", "CMS1", NULL);

		ck_dstr(d, "step", "discover");
		ck_dstr(d, "reason", c->last_error);
	}
	ck_assert_int_eq(engine_retry(&h.e, "CMS1", "uid 0 (root)", h.now, msg,
	    sizeof(msg)), 0);
	h_flush(&h);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_RUNNING);
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	ck_assert_int_eq(c->step, STEP_UPGRADE_PASSIVE);
	/* The passive node took over meanwhile: setup must not run on it. */
	h_server(&h, "MBX1B", RTM);
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	ck_assert_int_eq(h_count(&h, JOB_SETUP), 0);
	ck_assert(c->blocked);
	ck_assert_ptr_nonnull(strstr(c->last_error, "owns"));
	h_free(&h);
}
END_TEST

START_TEST(ccr_node_cannot_be_skipped_alone)
{
	struct h h;
	char msg[256];

	h_init(&h, "", INV_CCR);
	ck_assert_int_eq(engine_skip(&h.e, "MBX1A", "x", "uid 0 (root)", h.now,
	    msg, sizeof(msg)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(msg, "CMS1"));
	ck_assert_int_eq(engine_skip(&h.e, "CMS1", "rebuild later",
	    "uid 0 (root)", h.now, msg, sizeof(msg)), 0);
	h_flush(&h);
	ck_assert_int_eq(model_cluster(&h.m, "CMS1")->step, STEP_SKIPPED);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_COMPLETED);
	h_free(&h);
}
END_TEST

START_TEST(install_waits_when_it_would_overrun_the_window)
{
	struct h h;
	struct server *s;
	struct window_state short_left = { .open = true,
	    .closes_at = T0 + 3600000 }, closed = { .open = false,
	    .next_open = T0 + 86400000 }, long_left = { .open = true,
	    .closes_at = T0 + 86400000 + 36000000 };

	/* No setup measured yet: install_timeout_s (4 h) is the estimate. */
	h_init(&h, "\"install_timeout_s\": 14400", INV_SMALL);
	s = model_server(&h.m, "CAS01");
	engine_window(&h.e, &short_left, h.now);
	h_flush(&h);
	h_server(&h, "CAS01", RTM);
	ck_assert_int_eq(h_count(&h, JOB_SETUP), 0);
	ck_assert_ptr_nonnull(strstr(s->wait_note, "past the window's end"));
	ck_assert_ptr_nonnull(strstr(h.events, "server.waiting CAS01"));
	{
		const json_t *d = h_data(&h, "server.waiting", "CAS01", NULL);
		char t[TIME_RFC3339_LEN];

		ck_dstr(d, "what", "setup");
		ck_dint(d, "expected_ms", 14400000);
		ck_dstr(d, "window_closes_at", time_format_rfc3339(T0 + 3600000,
		    t, sizeof(t)));
	}
	/* The window closes, and the next one is long enough. */
	h.now = T0 + 3600000;
	engine_window(&h.e, &closed, h.now);
	h_flush(&h);
	h.now = T0 + 86400000;
	engine_window(&h.e, &long_left, h.now);
	h_flush(&h);
	h_server(&h, "CAS01", RTM);
	h_expect(&h, JOB_SETUP, "CAS01");
	ck_assert_str_eq(s->wait_note, "");
	h_free(&h);
}
END_TEST

START_TEST(stopped_cms_failover_finishes_after_window_closes)
{
	struct h h;
	struct window_state closed = { .open = false,
	    .next_open = T0 + 86400000 };

	h_init(&h, "\"checkpoints\": \"auto\"", INV_CCR);
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	h_node(&h, "MBX1B", "MBX1A", "MBX1B", "Online");
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Online");
	h_ok(&h, h_expect(&h, JOB_CMS_STOP, "CMS1"), "[]");
	/* The window closes with the CMS stopped: the move still goes. */
	engine_window(&h.e, &closed, h.now);
	h_flush(&h);
	ck_assert_int_eq(h.m.rollout.state, ROLLOUT_WAITING_WINDOW);
	h_cms(&h, "CMS1", "MBX1A", "MBX1B", "Offline");
	h_ok(&h, h_expect(&h, JOB_CMS_MOVE, "CMS1"), "[]");
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Offline");
	h_ok(&h, h_expect(&h, JOB_CMS_SETUP, "CMS1"), "[{\"ExitCode\": 0}]");
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	/* Online again; the next node's setup waits for the window. */
	ck_assert_int_eq(model_cluster(&h.m, "CMS1")->step,
	    STEP_UPGRADE_FORMER_ACTIVE);
	h_server(&h, "MBX1A", RTM);
	h_cms(&h, "CMS1", "MBX1B", "MBX1A", "Online");
	ck_assert_int_eq(h_count(&h, JOB_SETUP), 0);
	h_free(&h);
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, waves_in_order_one_at_a_time);
	tcase_add_test(tc, parallel_per_role);
	tcase_add_test(tc, already_at_target_skips_install);
	tcase_add_test(tc, reboot_when_required);
	tcase_add_test(tc, setup_failure_retries_then_pauses);
	tcase_add_test(tc, skip_failed_server_moves_on);
	tcase_add_test(tc, install_timeout_fails_and_keeps_following);
	tcase_add_test(tc, pause_resume_abort);
	tcase_add_test(tc, window_closed_starts_nothing);
	tcase_add_test(tc, gateway_refusal_pauses);
	tcase_add_test(tc, ccr_service_pack_sequence);
	tcase_add_test(tc, ccr_move_already_done_is_not_repeated);
	tcase_add_test(tc, ccr_unexpected_state_blocks);
	tcase_add_test(tc, ccr_node_cannot_be_skipped_alone);
	tcase_add_test(tc, install_waits_when_it_would_overrun_the_window);
	tcase_add_test(tc, stopped_cms_failover_finishes_after_window_closes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(engine_suite());
}
