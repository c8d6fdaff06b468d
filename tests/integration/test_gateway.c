/*
 * test_gateway — http.c and gateway.c over real HTTP: against the real
 * exchange-sim (every command, every fault class, tokens, TLS) and against
 * a scripted HTTP server that runs on the test's own uv loop (stalled and
 * oversized bodies, Retry-After, invalid job objects, a gateway that
 * ignores wait_s).
 *
 * The loop is driven for real: run_until() runs it until a condition holds
 * or a deadline timer fires; nothing sleeps. Every test ends by closing
 * everything and checking that uv_loop_close() finds the loop empty.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmdlet.h"
#include "config.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "testutil.h"
#include "timefmt.h"

static const char org_json[] =
    "{\"servers\": ["
    "{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},"
    "{\"name\": \"HUB01\", \"roles\": [\"HubTransport\"]},"
    "{\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},"
    "{\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],"
    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
    " \"nodes\": [\"MBX1A\", \"MBX1B\"]}]}";

/* Simulated durations: 20 simulated seconds are 0.2 s of real time. */
#define SIM_FAST "--time-scale", "100", "--setup-s", "20", "--setup-cms-s", \
	"20", "--reboot-s", "20", "--services-delay-s", "0", "--move-s", "10", \
	"--stop-s", "10", "--seed", "7"

/* --- the fixture: a loop, a deadline, maybe a simulator and a client ---- */

struct fx {
	uv_loop_t loop;
	uv_timer_t deadline;
	uv_prepare_t check;		/* stops the loop once cond holds */
	bool (*cond)(void *);
	void *cond_arg;
	bool expired;
	char *dir;
	struct tu_sim sim;
	bool sim_on;
	char url[256];
	struct config_gateway cfg;
	struct gw *gw;
};

static void
on_deadline(uv_timer_t *t)
{
	struct fx *fx = t->data;

	fx->expired = true;
}

/* Runs before the loop would block for I/O: a condition made true by a
 * timer callback must not wait for the next event (UV_RUN_ONCE polls after
 * running timers). */
static void
on_prepare(uv_prepare_t *p)
{
	struct fx *fx = p->data;

	if (fx->cond(fx->cond_arg))
		uv_stop(&fx->loop);
}

/* Runs the loop until cond(arg) holds; false when ms passed first. */
static bool
run_until(struct fx *fx, bool (*cond)(void *), void *arg, int ms)
{
	fx->expired = false;
	fx->cond = cond;
	fx->cond_arg = arg;
	uv_timer_start(&fx->deadline, on_deadline, (uint64_t)tu_ms(ms), 0);
	uv_prepare_start(&fx->check, on_prepare);
	while (!cond(arg) && !fx->expired)
		uv_run(&fx->loop, UV_RUN_ONCE);
	uv_prepare_stop(&fx->check);
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
	memset(fx, 0, sizeof(*fx));
	ck_assert_int_eq(uv_loop_init(&fx->loop), 0);
	ck_assert_int_eq(uv_timer_init(&fx->loop, &fx->deadline), 0);
	fx->deadline.data = fx;
	ck_assert_int_eq(uv_prepare_init(&fx->loop, &fx->check), 0);
	fx->check.data = fx;
	fx->dir = tu_tmpdir(tag);
	ck_assert_ptr_nonnull(fx->dir);
	fx->cfg.tls_verify = true;
	fx->cfg.request_timeout_s = 10;
	fx->cfg.poll_interval_s = 0.2;
	fx->cfg.max_in_flight = 16;
}

static void
fx_sim(struct fx *fx, const char *const extra[])
{
	char *org = tu_path(fx->dir, "org.json");

	ck_assert_int_eq(tu_write_file(org, org_json), 0);
	ck_assert_msg(tu_sim_start(&fx->sim, fx->dir, org, extra) == 0,
	    "exchange-sim did not start (is build/exchange-sim built?)");
	fx->sim_on = true;
	snprintf(fx->url, sizeof(fx->url), "%s", fx->sim.url);
	fx->cfg.url = fx->url;
	free(org);
}

static void
fx_gw(struct fx *fx)
{
	ck_assert_int_eq(gw_new(&fx->loop, &fx->cfg, &fx->gw), 0);
}

static void
on_closed(void *arg)
{
	*(bool *)arg = true;
}

static void
fx_fini(struct fx *fx)
{
	bool closed = false;

	if (fx->gw != NULL) {
		gw_close(fx->gw, on_closed, &closed);
		ck_assert(run_until(fx, flag_set, &closed, 10000));
		fx->gw = NULL;
	}
	uv_close((uv_handle_t *)&fx->deadline, NULL);
	uv_close((uv_handle_t *)&fx->check, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	/* Every handle was closed: the loop is empty. */
	ck_assert_int_eq(uv_loop_close(&fx->loop), 0);
	if (fx->sim_on) {
		ck_assert_msg(!tu_proc_exited(&fx->sim.proc),
		    "exchange-sim died during the test");
		tu_sim_stop(&fx->sim);
	}
	tu_rmrf(fx->dir);
	free(fx->dir);
}

/* --- jobs ----------------------------------------------------------------- */

struct job {
	int naccepted;
	int ndone;
	bool done;
	bool accepted_before_done;
	enum gw_status status;
	int http_status;
	json_t *job;
	char msg[512];
	struct gw_op *op;
};

static void
job_accepted(void *arg)
{
	struct job *j = arg;

	j->naccepted++;
}

static void
job_done(void *arg, const struct gw_result *r)
{
	struct job *j = arg;

	j->ndone++;
	j->done = true;
	j->accepted_before_done = j->naccepted == 1;
	j->status = r->status;
	j->http_status = r->http_status;
	j->job = r->job != NULL ? json_incref((json_t *)r->job) : NULL;
	snprintf(j->msg, sizeof(j->msg), "%s", r->message ? r->message : "");
	if (r->status != GW_REJECTED)
		ck_assert_ptr_eq(r->output, json_object_get(r->job, "output"));
}

static void
job_free(struct job *j)
{
	json_decref(j->job);
	j->job = NULL;
}

static bool
job_over(void *arg)
{
	return ((struct job *)arg)->done;
}

static void
job_start(struct fx *fx, const char *id, char *body, struct job *j)
{
	memset(j, 0, sizeof(*j));
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(gw_job_run(fx->gw, id, body, job_accepted, job_done,
	    j, &j->op), 0);
	free(body);
}

/* Runs one job to its end and checks the callbacks' contract. */
static void
job_run(struct fx *fx, const char *id, char *body, struct job *j,
    enum gw_status want)
{
	job_start(fx, id, body, j);
	ck_assert_msg(run_until(fx, job_over, j, 20000),
	    "job '%s' did not end", id);
	ck_assert_int_eq(j->ndone, 1);
	ck_assert_msg(j->status == want, "job '%s': status %d, want %d (%s)",
	    id, j->status, want, j->msg);
	if (want != GW_REJECTED) {
		ck_assert_int_eq(j->naccepted, 1);
		ck_assert(j->accepted_before_done);
		ck_assert_str_eq(json_string_value(json_object_get(j->job,
		    "id")), id);
	}
}

static const json_t *
job_output(const struct job *j)
{
	return json_object_get(j->job, "output");
}

/* --- the simulator's record ------------------------------------------------ */

struct sim_get {
	const struct tu_sim *sim;
	const char *path;
	json_t *res;
};

static bool
sim_get_ok(void *arg)
{
	struct sim_get *g = arg;

	g->res = tu_sim_get(g->sim, g->path);
	return g->res != NULL;
}

static json_t *
sim_record(struct fx *fx)
{
	struct sim_get g = { .sim = &fx->sim, .path = "/sim/record" };

	ck_assert_msg(tu_wait(sim_get_ok, &g, tu_ms(10000)),
	    "GET /sim/record failed");
	return g.res;
}

static void
sim_faults(struct fx *fx, const char *json)
{
	json_t *r = tu_sim_post(&fx->sim, "/sim/faults", json);

	ck_assert_msg(r != NULL, "POST /sim/faults %s failed", json);
	json_decref(r);
}

/* How many times id appears in the record's commands; *replays gets its
 * replay count. */
static int
record_count(const json_t *rec, const char *id, long *replays)
{
	const json_t *cmds = json_object_get(rec, "commands"), *c;
	size_t i;
	int n = 0;

	json_array_foreach(cmds, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0) {
			n++;
			if (replays != NULL)
				*replays = (long)json_integer_value(
				    json_object_get(c, "replays"));
		}
	}
	return n;
}

static void
record_assert_clean(const json_t *rec)
{
	const json_t *v = json_object_get(rec, "violations");
	char *s;

	if (json_array_size(v) != 0) {
		s = json_dumps(v, JSON_COMPACT);
		ck_abort_msg("simulator recorded violations: %s", s);
		free(s);
	}
}

/* --- happy path: every command ---------------------------------------------- */

static void
check_server(const struct job *j, const char *name, const char *version)
{
	struct cmdlet_server s;
	char err[256], v[VERSION_STRLEN];

	ck_assert_msg(cmdlet_parse_server(job_output(j), &s, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(s.name, name);
	ck_assert_str_eq(version_format(&s.version, v, sizeof(v)), version);
}

static void
check_cms(const struct job *j, enum cms_state state, const char *active)
{
	struct cmdlet_cms_status st;
	char err[256];

	ck_assert_msg(cmdlet_parse_cms_status(job_output(j), &st, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cms_state_name(st.state), cms_state_name(state));
	if (active != NULL)
		ck_assert_str_eq(st.active, active);
	ck_assert_int_eq(st.nmachines, 2);
}

static void
check_setup(const struct job *j, int exit_code)
{
	struct cmdlet_setup s;
	char err[256];

	ck_assert_msg(cmdlet_parse_setup(job_output(j), &s, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(s.exit_code, exit_code);
}

START_TEST(happy_path)
{
	static const char *const args[] = { SIM_FAST, NULL };
	static const char *const ids[] = { "h-01", "h-02", "h-03", "h-04",
	    "h-05", "h-06", "h-07", "h-08", "h-09", "h-10", "h-11", "h-12",
	    "h-13", "h-14", "h-15", "h-16", "h-17" };
	struct fx fx;
	struct job j;
	struct cmdlet_health h;
	char err[256];
	json_t *rec;

	fx_init(&fx, "gw-happy");
	fx_sim(&fx, args);
	fx_gw(&fx);

	job_run(&fx, ids[0], cmdlet_get_server(ids[0], "CAS01"), &j,
	    GW_COMPLETED);
	check_server(&j, "CAS01", "8.0.685.24");
	job_free(&j);

	job_run(&fx, ids[1], cmdlet_test_health(ids[1], "CAS01"), &j,
	    GW_COMPLETED);
	ck_assert_msg(cmdlet_parse_health(job_output(&j), &h, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert(h.all_running);
	job_free(&j);

	/* Setup in wave order: Client Access, Hub, then the passive node. */
	job_run(&fx, ids[2], cmdlet_setup_upgrade(ids[2], "CAS01", NULL,
	    3600), &j, GW_COMPLETED);
	check_setup(&j, 0);
	job_free(&j);
	job_run(&fx, ids[3], cmdlet_get_server(ids[3], "CAS01"), &j,
	    GW_COMPLETED);
	check_server(&j, "CAS01", "8.1.240.6");
	job_free(&j);
	job_run(&fx, ids[4], cmdlet_restart(ids[4], "CAS01"), &j,
	    GW_COMPLETED);
	job_free(&j);
	job_run(&fx, ids[5], cmdlet_setup_upgrade(ids[5], "HUB01",
	    "\\\\files\\E2K7SP1", 3600), &j, GW_COMPLETED);
	check_setup(&j, 0);
	job_free(&j);

	job_run(&fx, ids[6], cmdlet_cms_status(ids[6], "CMS1"), &j,
	    GW_COMPLETED);
	check_cms(&j, CMS_ONLINE, "MBX1A");
	job_free(&j);
	job_run(&fx, ids[7], cmdlet_setup_upgrade(ids[7], "MBX1B", NULL, 3600),
	    &j, GW_COMPLETED);
	check_setup(&j, 0);
	job_free(&j);

	/* The service-pack failover: stop, move, /upgradeCMS on B. */
	job_run(&fx, ids[8], cmdlet_cms_stop(ids[8], "CMS1",
	    "exroll h-09: service pack"), &j, GW_COMPLETED);
	job_free(&j);
	job_run(&fx, ids[9], cmdlet_cms_status(ids[9], "CMS1"), &j,
	    GW_COMPLETED);
	check_cms(&j, CMS_OFFLINE, NULL);
	job_free(&j);
	job_run(&fx, ids[10], cmdlet_cms_move(ids[10], "CMS1", "MBX1B",
	    "exroll h-11"), &j, GW_COMPLETED);
	job_free(&j);
	job_run(&fx, ids[11], cmdlet_cms_setup(ids[11], "MBX1B", "CMS1", 600),
	    &j, GW_COMPLETED);
	check_setup(&j, 0);
	job_free(&j);
	job_run(&fx, ids[12], cmdlet_cms_status(ids[12], "CMS1"), &j,
	    GW_COMPLETED);
	check_cms(&j, CMS_ONLINE, "MBX1B");
	job_free(&j);

	/* Stop and start again on the new owner. */
	job_run(&fx, ids[13], cmdlet_cms_stop(ids[13], "CMS1", "exroll h-14"),
	    &j, GW_COMPLETED);
	job_free(&j);
	job_run(&fx, ids[14], cmdlet_cms_start(ids[14], "CMS1"), &j,
	    GW_COMPLETED);
	job_free(&j);
	job_run(&fx, ids[15], cmdlet_cms_status(ids[15], "CMS1"), &j,
	    GW_COMPLETED);
	check_cms(&j, CMS_ONLINE, "MBX1B");
	job_free(&j);

	/* A failed job: setup on a server the simulator makes fail. */
	sim_faults(&fx, "{\"fail_setup\": [\"MBX1A\"]}");
	job_run(&fx, ids[16], cmdlet_setup_upgrade(ids[16], "MBX1A", NULL,
	    3600), &j, GW_COMPLETED);
	check_setup(&j, 1603);
	job_free(&j);

	rec = sim_record(&fx);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		ck_assert_int_eq(record_count(rec, ids[i], NULL), 1);
	ck_assert_int_eq(json_array_size(json_object_get(rec, "commands")),
	    sizeof(ids) / sizeof(ids[0]));
	record_assert_clean(rec);
	json_decref(rec);
	fx_fini(&fx);
}
END_TEST

/* --- faults: the job completes, once per id ---------------------------------- */

#define FAULT_JOBS 24

static bool
jobs_over(void *arg)
{
	struct job *j = arg;

	for (int i = 0; i < FAULT_JOBS; i++) {
		if (!j[i].done)
			return false;
	}
	return true;
}

static const char *const fault_json[] = {
	"{\"http_500_rate\": 0.3}",
	"{\"drop_rate\": 0.3}",
	"{\"garbage_rate\": 0.3}",
	"{\"lose_rate\": 0.4}",
	"{\"slow_ms\": 300}",
};

START_TEST(fault_classes)
{
	static const char *const args[] = { SIM_FAST, NULL };
	struct fx fx;
	struct job jobs[FAULT_JOBS];
	char ids[FAULT_JOBS][32];
	long replays, total_replays = 0;
	json_t *rec, *setups;

	fx_init(&fx, "gw-faults");
	fx_sim(&fx, args);
	fx_gw(&fx);
	sim_faults(&fx, fault_json[_i]);
	for (int i = 0; i < FAULT_JOBS; i++) {
		snprintf(ids[i], sizeof(ids[i]), "f%d-%02d", _i, i);
		/* One side effect among the reads: it must run once. */
		job_start(&fx, ids[i], i == 0 ?
		    cmdlet_setup_upgrade(ids[i], "CAS01", NULL, 3600) :
		    cmdlet_get_server(ids[i], i % 2 ? "HUB01" : "MBX1A"),
		    &jobs[i]);
	}
	ck_assert_msg(run_until(&fx, jobs_over, jobs, 60000),
	    "jobs did not complete under %s", fault_json[_i]);
	sim_faults(&fx, "{\"http_500_rate\": 0, \"drop_rate\": 0, "
	    "\"garbage_rate\": 0, \"lose_rate\": 0, \"slow_ms\": 0}");
	for (int i = 0; i < FAULT_JOBS; i++) {
		ck_assert_int_eq(jobs[i].ndone, 1);
		ck_assert_int_eq(jobs[i].naccepted, 1);
		ck_assert_msg(jobs[i].status == GW_COMPLETED, "%s: %s", ids[i],
		    jobs[i].msg);
		if (i == 0)
			check_setup(&jobs[i], 0);
		else
			check_server(&jobs[i], i % 2 ? "HUB01" : "MBX1A",
			    "8.0.685.24");
		job_free(&jobs[i]);
	}
	rec = sim_record(&fx);
	/* Exactly one job per id, and never an id we did not send. */
	ck_assert_int_eq(json_array_size(json_object_get(rec, "commands")),
	    FAULT_JOBS);
	for (int i = 0; i < FAULT_JOBS; i++) {
		replays = 0;
		ck_assert_int_eq(record_count(rec, ids[i], &replays), 1);
		total_replays += replays;
	}
	setups = json_object_get(rec, "setups");
	ck_assert_int_eq(json_integer_value(json_object_get(setups, "CAS01")),
	    1);
	/* Lost answers are recovered by re-posting the same id. */
	if (strstr(fault_json[_i], "lose") != NULL)
		ck_assert_int_gt(total_replays, 0);
	record_assert_clean(rec);
	json_decref(rec);
	fx_fini(&fx);
}
END_TEST

/* A POST whose answer times out (sent, outcome unknown): re-posted with
 * the same id once the gateway is fast again, executed once. */
struct slow_reset {
	struct fx *fx;
	const char *id;
	uv_timer_t timer;
	bool reset;
};

static void
slow_check(uv_timer_t *t)
{
	struct slow_reset *sr = t->data;
	json_t *rec = tu_sim_get(&sr->fx->sim, "/sim/record");

	if (rec != NULL && record_count(rec, sr->id, NULL) == 1) {
		sim_faults(sr->fx, "{\"slow_ms\": 0}");
		sr->reset = true;
		uv_timer_stop(t);
	}
	json_decref(rec);
}

START_TEST(timeout_after_send)
{
	static const char *const args[] = { SIM_FAST, "--slow-ms", "3000",
	    NULL };
	struct fx fx;
	struct job j;
	struct slow_reset sr = { .fx = &fx, .id = "slow-1" };
	long replays = 0;
	json_t *rec;

	fx_init(&fx, "gw-slow");
	fx.cfg.request_timeout_s = 1;	/* below slow-ms: every answer late */
	fx_sim(&fx, args);
	fx_gw(&fx);
	ck_assert_int_eq(uv_timer_init(&fx.loop, &sr.timer), 0);
	sr.timer.data = &sr;
	uv_timer_start(&sr.timer, slow_check, 100, 100);
	job_run(&fx, sr.id, cmdlet_setup_upgrade(sr.id, "CAS01", NULL, 3600),
	    &j, GW_COMPLETED);
	ck_assert(sr.reset);
	check_setup(&j, 0);
	job_free(&j);
	uv_close((uv_handle_t *)&sr.timer, NULL);
	rec = sim_record(&fx);
	ck_assert_int_eq(record_count(rec, sr.id, &replays), 1);
	ck_assert_int_ge(replays, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rec,
	    "setups"), "CAS01")), 1);
	json_decref(rec);
	fx_fini(&fx);
}
END_TEST

/* --- refusals ---------------------------------------------------------------- */

START_TEST(token_refused)
{
	static const char *const args[] = { SIM_FAST, "--token", "s3cret",
	    NULL };
	struct fx fx;
	struct job j;
	json_t *rec;

	fx_init(&fx, "gw-token");
	fx_sim(&fx, args);
	fx.cfg.token = (char *)"wrong";
	fx_gw(&fx);
	job_run(&fx, "tok-1", cmdlet_get_server("tok-1", "CAS01"), &j,
	    GW_REJECTED);
	ck_assert_int_eq(j.http_status, 401);
	ck_assert_int_eq(j.naccepted, 0);
	ck_assert_ptr_null(j.job);
	ck_assert_msg(strstr(j.msg, "401") != NULL, "message: %s", j.msg);
	job_free(&j);

	/* The right token, applied by reconfiguration to later requests. */
	fx.cfg.token = (char *)"s3cret";
	gw_reconfigure(fx.gw, &fx.cfg);
	job_run(&fx, "tok-2", cmdlet_get_server("tok-2", "CAS01"), &j,
	    GW_COMPLETED);
	job_free(&j);
	rec = sim_record(&fx);
	ck_assert_int_eq(record_count(rec, "tok-1", NULL), 0);
	ck_assert_int_eq(record_count(rec, "tok-2", NULL), 1);
	json_decref(rec);
	fx_fini(&fx);
}
END_TEST

START_TEST(forbidden_and_conflict)
{
	static const char *const args[] = { SIM_FAST, NULL };
	struct fx fx;
	struct job j;
	json_t *p;

	fx_init(&fx, "gw-refuse");
	fx_sim(&fx, args);
	fx_gw(&fx);
	/* A command outside the table. */
	p = json_pack("{s:s}", "Identity", "someone");
	job_run(&fx, "x-1", cmdlet_request("x-1", NULL, "Remove-Mailbox", p, 0),
	    &j, GW_REJECTED);
	ck_assert_int_eq(j.http_status, 403);
	job_free(&j);
	/* Confirm not false on a move. */
	p = json_pack("{s:s, s:s, s:s, s:b}", "Identity", "CMS1",
	    "TargetMachine", "MBX1B", "MoveComment", "x", "Confirm", 1);
	job_run(&fx, "x-2", cmdlet_request("x-2", NULL,
	    "Move-ClusteredMailboxServer", p, 0), &j, GW_REJECTED);
	ck_assert_int_eq(j.http_status, 403);
	job_free(&j);
	/* The same id with a different request. */
	job_run(&fx, "x-3", cmdlet_get_server("x-3", "CAS01"), &j,
	    GW_COMPLETED);
	job_free(&j);
	job_run(&fx, "x-3", cmdlet_get_server("x-3", "HUB01"), &j,
	    GW_REJECTED);
	ck_assert_int_eq(j.http_status, 409);
	ck_assert_msg(strstr(j.msg, "409") != NULL, "message: %s", j.msg);
	job_free(&j);
	/* The same id and request: the existing job, not a new one. */
	job_run(&fx, "x-3", cmdlet_get_server("x-3", "CAS01"), &j,
	    GW_COMPLETED);
	job_free(&j);
	fx_fini(&fx);
}
END_TEST

/* --- TLS ----------------------------------------------------------------------- */

static bool
proc_done(void *arg)
{
	return tu_proc_exited(arg);
}

static void
make_cert(const char *dir, char **cert, char **key)
{
	struct tu_proc p;
	char *log = tu_path(dir, "openssl.log");
	char *argv[32];
	int n = 0;

	*cert = tu_path(dir, "cert.pem");
	*key = tu_path(dir, "key.pem");
	argv[n++] = (char *)"/usr/bin/openssl";
	argv[n++] = (char *)"req";
	argv[n++] = (char *)"-x509";
	argv[n++] = (char *)"-newkey";
	argv[n++] = (char *)"rsa:2048";
	argv[n++] = (char *)"-nodes";
	argv[n++] = (char *)"-days";
	argv[n++] = (char *)"2";
	argv[n++] = (char *)"-subj";
	argv[n++] = (char *)"/CN=127.0.0.1";
	argv[n++] = (char *)"-addext";
	argv[n++] = (char *)"subjectAltName=IP:127.0.0.1";
	argv[n++] = (char *)"-keyout";
	argv[n++] = *key;
	argv[n++] = (char *)"-out";
	argv[n++] = *cert;
	argv[n] = NULL;
	if (access(argv[0], X_OK) != 0)
		argv[0] = (char *)"/usr/local/bin/openssl";
	ck_assert_int_eq(tu_spawn(&p, log, argv), 0);
	ck_assert(tu_wait(proc_done, &p, tu_ms(30000)));
	ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
	    "openssl req failed");
	tu_proc_free(&p);
	free(log);
}

struct hres {
	bool done;
	int n;
	enum http_outcome outcome;
	long status;
	char *body;
	char error[512];
	double retry_after_s;
	int64_t at_ms;
};

static void
hres_cb(void *arg, const struct http_response *r)
{
	struct hres *h = arg;

	h->n++;
	h->done = true;
	h->outcome = r->outcome;
	h->status = r->status;
	h->retry_after_s = r->retry_after_s;
	h->at_ms = time_mono_ms();
	free(h->body);
	h->body = strdup(r->body);
	snprintf(h->error, sizeof(h->error), "%s", r->error ? r->error : "");
}

static void
hres_reset(struct hres *h)
{
	free(h->body);
	memset(h, 0, sizeof(*h));
}

static bool
hres_over(void *arg)
{
	return ((struct hres *)arg)->done;
}

static void
http_closed_cb(void *arg)
{
	*(bool *)arg = true;
}

static void
http_close_wait(struct fx *fx, struct http *h)
{
	bool closed = false;

	http_close(h, http_closed_cb, &closed);
	ck_assert(run_until(fx, flag_set, &closed, 10000));
}

struct health {
	bool done;
	int ok;
	char text[256];
};

static void
health_cb(void *arg, int ok, const char *text)
{
	struct health *h = arg;

	h->done = true;
	h->ok = ok;
	snprintf(h->text, sizeof(h->text), "%s", text);
}

static void
fx_close_gw(struct fx *fx)
{
	bool closed = false;

	gw_close(fx->gw, on_closed, &closed);
	ck_assert(run_until(fx, flag_set, &closed, 10000));
	fx->gw = NULL;
}

START_TEST(tls)
{
	struct fx fx;
	char *cert, *key;
	struct http_opts ho = { 0 };
	struct http *h;
	struct hres r = { 0 };
	struct health hl = { 0 };
	struct job j;
	char url[160];

	fx_init(&fx, "gw-tls");
	make_cert(fx.dir, &cert, &key);
	{
		const char *const args[] = { "--tls-cert", cert, "--tls-key",
		    key, SIM_FAST, NULL };

		fx_sim(&fx, args);
	}
	snprintf(fx.url, sizeof(fx.url), "https://127.0.0.1:%d/", fx.sim.port);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/v1/health",
	    fx.sim.port);

	/* Without the CA: refused before anything was sent. */
	ck_assert_int_eq(http_new(&fx.loop, &ho, &h), 0);
	ck_assert_int_eq(http_request(h, "GET", url, NULL, NULL, 0, hres_cb,
	    &r, NULL), 0);
	ck_assert(run_until(&fx, hres_over, &r, 20000));
	ck_assert_int_eq(r.outcome, HTTP_NOT_SENT);
	ck_assert_msg(strcasestr(r.error, "certificate") != NULL ||
	    strcasestr(r.error, "SSL") != NULL, "error: %s", r.error);
	http_close_wait(&fx, h);

	fx_gw(&fx);
	ck_assert_int_eq(gw_health(fx.gw, health_cb, &hl), 0);
	ck_assert(run_until(&fx, flag_set, &hl.done, 20000));
	ck_assert_int_eq(hl.ok, 0);
	fx_close_gw(&fx);

	/* With the certificate as CA file: accepted. */
	fx.cfg.ca_file = cert;
	fx_gw(&fx);
	memset(&hl, 0, sizeof(hl));
	ck_assert_int_eq(gw_health(fx.gw, health_cb, &hl), 0);
	ck_assert(run_until(&fx, flag_set, &hl.done, 20000));
	ck_assert_msg(hl.ok == 1, "health: %s", hl.text);
	job_run(&fx, "tls-1", cmdlet_get_server("tls-1", "CAS01"), &j,
	    GW_COMPLETED);
	check_server(&j, "CAS01", "8.0.685.24");
	job_free(&j);

	free(r.body);
	fx_fini(&fx);
	free(cert);
	free(key);
}
END_TEST

/* --- a scripted HTTP server on the test's own loop ------------------------------ */

enum srv_mode {
	SRV_ANSWER,		/* write the answer, close */
	SRV_STALL,		/* write the answer's first part, then nothing */
	SRV_DROP,		/* close without an answer */
};

struct srv;

struct srv_answer {
	enum srv_mode mode;
	char *text;		/* the whole HTTP response (malloc'd) */
};

typedef void (*srv_fn)(struct srv *s, const char *method, const char *path,
    const char *body, struct srv_answer *a);

struct srv_conn {
	uv_tcp_t tcp;
	struct srv *srv;
	char buf[65536];
	size_t len;
	bool answered;
	struct srv_conn *next;
};

struct srv {
	uv_tcp_t listener;
	int port;
	srv_fn fn;
	void *data;
	int nreq;
	int nget;
	int npost;
	int64_t get_ms[256];		/* when each GET arrived */
	struct srv_conn *conns;
	int nopen;
};

static char *
http_text(int status, const char *reason, const char *extra,
    const char *body)
{
	char *t;

	ck_assert_int_ge(asprintf(&t, "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "%s\r\n%s", status, reason, strlen(body), extra ? extra : "",
	    body), 0);
	return t;
}

static void
srv_conn_closed(uv_handle_t *h)
{
	struct srv_conn *c = h->data;
	struct srv *s = c->srv;
	struct srv_conn **pp;

	for (pp = &s->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	s->nopen--;
	free(c);
}

static void
srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct srv_conn *c = h->data;

	(void)hint;
	b->base = c->buf + c->len;
	b->len = sizeof(c->buf) - 1 - c->len;
}

struct srv_write {
	uv_write_t req;
	char *text;
	bool close_after;
};

static void
srv_written(uv_write_t *w, int status)
{
	struct srv_write *sw = (struct srv_write *)w;
	uv_handle_t *h = (uv_handle_t *)w->handle;

	(void)status;
	if (sw->close_after && !uv_is_closing(h))
		uv_close(h, srv_conn_closed);
	free(sw->text);
	free(sw);
}

static void
srv_send(struct srv_conn *c, char *text, size_t len, bool close_after)
{
	struct srv_write *sw = calloc(1, sizeof(*sw));
	uv_buf_t b = uv_buf_init(text, (unsigned)len);

	ck_assert_ptr_nonnull(sw);
	sw->text = text;
	sw->close_after = close_after;
	ck_assert_int_eq(uv_write(&sw->req, (uv_stream_t *)&c->tcp, &b, 1,
	    srv_written), 0);
}

static void
srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct srv_conn *c = st->data;
	struct srv *s = c->srv;
	struct srv_answer a = { 0 };
	char method[8], path[256], *hdr_end, *cl, *body;
	size_t want;

	(void)b;
	if (n < 0) {
		if (!uv_is_closing((uv_handle_t *)st))
			uv_close((uv_handle_t *)st, srv_conn_closed);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (c->answered || (hdr_end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return;
	body = hdr_end + 4;
	want = 0;
	if ((cl = strcasestr(c->buf, "Content-Length:")) != NULL && cl < hdr_end)
		want = strtoul(cl + 15, NULL, 10);
	if ((size_t)(c->buf + c->len - body) < want)
		return;
	if (sscanf(c->buf, "%7s %255s", method, path) != 2)
		return;
	c->answered = true;
	s->nreq++;
	if (strcmp(method, "GET") == 0) {
		if (s->nget < 256)
			s->get_ms[s->nget] = time_mono_ms();
		s->nget++;
	} else {
		s->npost++;
	}
	s->fn(s, method, path, body, &a);
	switch (a.mode) {
	case SRV_ANSWER:
		srv_send(c, a.text, strlen(a.text), true);
		break;
	case SRV_STALL:
		/* The headers and a little of the body, then silence. */
		srv_send(c, a.text, strlen(a.text), false);
		break;
	case SRV_DROP:
		free(a.text);
		uv_close((uv_handle_t *)st, srv_conn_closed);
		break;
	}
}

static void
srv_accept(uv_stream_t *l, int status)
{
	struct srv *s = l->data;
	struct srv_conn *c;

	if (status != 0)
		return;
	ck_assert_ptr_nonnull(c = calloc(1, sizeof(*c)));
	c->srv = s;
	ck_assert_int_eq(uv_tcp_init(l->loop, &c->tcp), 0);
	c->tcp.data = c;
	c->next = s->conns;
	s->conns = c;
	s->nopen++;
	ck_assert_int_eq(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	ck_assert_int_eq(uv_read_start((uv_stream_t *)&c->tcp, srv_alloc,
	    srv_read), 0);
}

static void
srv_start(struct fx *fx, struct srv *s, srv_fn fn)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(s, 0, sizeof(*s));
	s->fn = fn;
	ck_assert_int_eq(uv_tcp_init(&fx->loop, &s->listener), 0);
	s->listener.data = s;
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	ck_assert_int_eq(uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&s->listener, 128,
	    srv_accept), 0);
	ck_assert_int_eq(uv_tcp_getsockname(&s->listener,
	    (struct sockaddr *)&ss, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%d/", s->port);
	fx->cfg.url = fx->url;
}

static bool
srv_all_closed(void *arg)
{
	return ((struct srv *)arg)->nopen == 0;
}

static void
srv_stop(struct fx *fx, struct srv *s)
{
	for (struct srv_conn *c = s->conns; c != NULL; c = c->next) {
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, srv_conn_closed);
	}
	uv_close((uv_handle_t *)&s->listener, NULL);
	ck_assert(run_until(fx, srv_all_closed, s, 5000));
}

/* A job object for id in state. */
static char *
job_text(const char *id, const char *state)
{
	char *t;
	bool done = strcmp(state, "completed") == 0 ||
	    strcmp(state, "failed") == 0;

	ck_assert_int_ge(asprintf(&t, "{\"id\":\"%s\",\"state\":\"%s\","
	    "\"target\":null,\"command\":\"Get-ExchangeServer\","
	    "\"submitted_at\":\"2026-11-28T20:00:00Z\",\"finished_at\":%s,"
	    "\"output\":%s,\"error\":%s,\"extra\":{\"ignored\":true}}", id,
	    state, done ? "\"2026-11-28T20:00:01Z\"" : "null",
	    strcmp(state, "completed") == 0 ? "[{\"Name\":\"X\"}]" : "[]",
	    strcmp(state, "failed") == 0 ?
	    "{\"message\":\"setup exited 1603\",\"category\":\"x\","
	    "\"fully_qualified_error_id\":\"y\"}" : "null"), 0);
	return t;
}

static void
answer_job(struct srv_answer *a, int status, const char *reason,
    const char *id, const char *state)
{
	char *j = job_text(id, state);

	a->text = http_text(status, reason, NULL, j);
	free(j);
}

/* The stalled body: the headers announce 1000 bytes, then nothing. */
static void
fn_stall(struct srv *s, const char *m, const char *p, const char *b,
    struct srv_answer *a)
{
	(void)s; (void)m; (void)p; (void)b;
	a->mode = SRV_STALL;
	ck_assert_int_ge(asprintf(&a->text, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 1000\r\n\r\n"), 0);
}

START_TEST(stalled_body)
{
	struct fx fx;
	struct srv s;
	struct http_opts ho = { .low_speed_time_s = 1, .timeout_s = 60 };
	struct http *h;
	struct hres r = { 0 };
	char url[320];
	int64_t t0;

	fx_init(&fx, "gw-stall");
	srv_start(&fx, &s, fn_stall);
	ck_assert_int_eq(http_new(&fx.loop, &ho, &h), 0);
	snprintf(url, sizeof(url), "%sv1/jobs/x", fx.url);
	t0 = time_mono_ms();
	ck_assert_int_eq(http_request(h, "GET", url, NULL, NULL, 0, hres_cb,
	    &r, NULL), 0);
	ck_assert(run_until(&fx, hres_over, &r, 15000));
	/* Aborted by the low-speed limit, long before the 60 s timeout. */
	ck_assert_int_eq(r.outcome, HTTP_UNKNOWN);
	ck_assert_int_lt(r.at_ms - t0, 10000);
	ck_assert_msg(strcasestr(r.error, "too slow") != NULL ||
	    strcasestr(r.error, "slow") != NULL, "error: %s", r.error);
	free(r.body);
	http_close_wait(&fx, h);
	srv_stop(&fx, &s);
	fx_fini(&fx);
}
END_TEST

static void
fn_big(struct srv *s, const char *m, const char *p, const char *b,
    struct srv_answer *a)
{
	char *big = malloc(5001);

	(void)s; (void)m; (void)p; (void)b;
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	a->text = http_text(200, "OK", NULL, big);
	free(big);
}

START_TEST(body_cap)
{
	static const char *const args[] = { SIM_FAST, NULL };
	struct fx fx;
	struct srv s;
	struct http_opts ho = { .max_body = 100 };
	struct http *h;
	struct hres r = { 0 };
	struct job j;
	char url[320];

	/* Against a local server answering 5000 bytes. */
	fx_init(&fx, "gw-cap");
	srv_start(&fx, &s, fn_big);
	ck_assert_int_eq(http_new(&fx.loop, &ho, &h), 0);
	snprintf(url, sizeof(url), "%sbig", fx.url);
	ck_assert_int_eq(http_request(h, "GET", url, NULL, NULL, 0, hres_cb,
	    &r, NULL), 0);
	ck_assert(run_until(&fx, hres_over, &r, 10000));
	ck_assert_int_eq(r.outcome, HTTP_UNKNOWN);
	ck_assert_str_eq(r.error, "response body over 100 bytes");
	http_close_wait(&fx, h);
	srv_stop(&fx, &s);

	/* Against the simulator's record after a few jobs. */
	fx_sim(&fx, args);
	fx_gw(&fx);
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "cap-%d", i);
		job_run(&fx, id, cmdlet_get_server(id, "CAS01"), &j,
		    GW_COMPLETED);
		job_free(&j);
	}
	ck_assert_int_eq(http_new(&fx.loop, &ho, &h), 0);
	snprintf(url, sizeof(url), "%ssim/record", fx.sim.url);
	hres_reset(&r);
	ck_assert_int_eq(http_request(h, "GET", url, NULL, NULL, 0, hres_cb,
	    &r, NULL), 0);
	ck_assert(run_until(&fx, hres_over, &r, 10000));
	ck_assert_int_eq(r.outcome, HTTP_UNKNOWN);
	ck_assert_str_eq(r.error, "response body over 100 bytes");
	free(r.body);
	http_close_wait(&fx, h);
	fx_fini(&fx);
}
END_TEST

/* POST: 503 with Retry-After: 1, then unparsable, then a job object for
 * another id, then 201 running. GET: "running" at once (wait_s ignored)
 * three times, then completed. */
static void
fn_script(struct srv *s, const char *m, const char *p, const char *b,
    struct srv_answer *a)
{
	(void)b;
	if (strcmp(m, "POST") == 0) {
		ck_assert_str_eq(p, "/v1/jobs");
		switch (s->npost) {
		case 1:
			a->text = http_text(503, "Service Unavailable",
			    "Retry-After: 1\r\n", "{\"error\":\"busy\"}");
			break;
		case 2:
			a->text = http_text(201, "Created", NULL, "{\"id\":");
			break;
		case 3:
			answer_job(a, 201, "Created", "other", "queued");
			break;
		default:
			answer_job(a, s->npost == 4 ? 201 : 200, "Created",
			    "scr-1", "running");
			break;
		}
		return;
	}
	ck_assert_str_eq(p, "/v1/jobs/scr-1?wait_s=5");
	answer_job(a, 200, "OK", "scr-1", s->nget <= 3 ? "running" :
	    "completed");
}

START_TEST(retry_after_and_polling)
{
	struct fx fx;
	struct srv s;
	struct job j;
	int64_t t0;

	fx_init(&fx, "gw-script");
	srv_start(&fx, &s, fn_script);
	fx.cfg.request_timeout_s = 10;	/* wait_s = 5 */
	fx.cfg.poll_interval_s = 0.3;
	fx_gw(&fx);
	t0 = time_mono_ms();
	job_run(&fx, "scr-1", cmdlet_get_server("scr-1", "CAS01"), &j,
	    GW_COMPLETED);
	/* Retry-After honoured: the second POST came a second later. */
	ck_assert_int_ge(time_mono_ms() - t0, 1000);
	ck_assert_int_eq(s.npost, 4);
	ck_assert_int_eq(s.nget, 4);
	/* The first GET follows the POST at once; a gateway that answers
	 * "running" at once is then polled at poll_interval_s. */
	for (int i = 1; i < 4; i++)
		ck_assert_int_ge(s.get_ms[i] - s.get_ms[i - 1], 280);
	ck_assert_ptr_nonnull(job_output(&j));
	job_free(&j);
	gw_close(fx.gw, NULL, NULL);
	fx.gw = NULL;
	srv_stop(&fx, &s);
	fx_fini(&fx);
}
END_TEST

/* Failed job, 404 while following, 400 with a plain-text body, 5xx then
 * success, and a dropped connection. */
static void
fn_mixed(struct srv *s, const char *m, const char *p, const char *b,
    struct srv_answer *a)
{
	json_t *req = json_loads(b, 0, NULL);
	const char *id = json_string_value(json_object_get(req, "id"));

	(void)s;
	if (strcmp(m, "GET") == 0) {
		if (strstr(p, "gone") != NULL)
			a->text = http_text(404, "Not Found", NULL,
			    "{\"error\":{\"message\":\"no job 'gone'\"}}");
		else
			answer_job(a, 200, "OK", "five", "completed");
	} else if (strncmp(id, "fail", 4) == 0) {
		answer_job(a, 201, "Created", id, "failed");
	} else if (strcmp(id, "gone") == 0 || strcmp(id, "acc") == 0) {
		answer_job(a, 201, "Created", id, "running");
	} else if (strcmp(id, "bad") == 0) {
		a->text = strdup("HTTP/1.1 400 Bad Request\r\nContent-Length: 4"
		    "\r\nConnection: close\r\n\r\nnope");
	} else if (strcmp(id, "five") == 0) {
		static int n;

		if (n++ == 0)
			a->text = http_text(500, "Internal Server Error", NULL,
			    "{}");
		else if (n == 2)
			a->mode = SRV_DROP;
		else
			answer_job(a, 200, "OK", id, "running");
	}
	json_decref(req);
}

/* Cancelling from inside accepted(): nothing follows. */
static void
cancel_in_accepted(void *arg)
{
	struct job *j = arg;

	j->naccepted++;
	gw_job_cancel(j->op);
	gw_job_cancel(j->op);	/* twice: still harmless in the callback */
}

static bool
job_was_accepted(void *arg)
{
	return ((struct job *)arg)->naccepted > 0;
}

START_TEST(answers)
{
	struct fx fx;
	struct srv s;
	struct job j;
	int nget;
	char *body;

	fx_init(&fx, "gw-mixed");
	srv_start(&fx, &s, fn_mixed);
	fx_gw(&fx);
	job_run(&fx, "fail", cmdlet_get_server("fail", "A"), &j, GW_FAILED);
	ck_assert_str_eq(j.msg, "setup exited 1603");
	ck_assert_int_eq(j.http_status, 201);
	job_free(&j);
	job_run(&fx, "gone", cmdlet_get_server("gone", "A"), &j, GW_REJECTED);
	ck_assert_int_eq(j.http_status, 404);
	ck_assert_int_eq(j.naccepted, 1);
	ck_assert_msg(strstr(j.msg, "no job 'gone'") != NULL, "%s", j.msg);
	job_free(&j);
	job_run(&fx, "bad", cmdlet_get_server("bad", "A"), &j, GW_REJECTED);
	ck_assert_int_eq(j.http_status, 400);
	ck_assert_str_eq(j.msg,
	    "gateway refused the job with status 400 Bad Request");
	job_free(&j);
	job_run(&fx, "five", cmdlet_get_server("five", "A"), &j, GW_COMPLETED);
	job_free(&j);

	/* A body that is not a request for this id is refused up front. */
	body = cmdlet_get_server("other", "A");
	ck_assert_int_eq(gw_job_run(fx.gw, "mine", body, NULL, job_done, &j,
	    NULL), -EINVAL);
	ck_assert_int_eq(gw_job_run(fx.gw, "bad id", body, NULL, job_done, &j,
	    NULL), -EINVAL);
	ck_assert_int_eq(gw_job_run(fx.gw, "other", "not json", NULL,
	    job_done, &j, NULL), -EINVAL);
	free(body);

	memset(&j, 0, sizeof(j));
	nget = s.nget;
	s.npost = 0;
	body = cmdlet_get_server("acc", "A");
	ck_assert_int_eq(gw_job_run(fx.gw, "acc", body, cancel_in_accepted,
	    job_done, &j, &j.op), 0);
	free(body);
	ck_assert(run_until(&fx, job_was_accepted, &j, 10000));
	ck_assert_int_eq(j.naccepted, 1);
	ck_assert_int_eq(s.npost, 1);
	/* A follow-up GET would go out at once; another whole job runs
	 * meanwhile, and still none came. */
	{
		struct job k;

		job_run(&fx, "fail2", cmdlet_get_server("fail2", "A"), &k,
		    GW_FAILED);
		job_free(&k);
	}
	ck_assert_int_eq(j.ndone, 0);
	ck_assert_int_eq(s.nget, nget);
	gw_close(fx.gw, NULL, NULL);
	fx.gw = NULL;
	srv_stop(&fx, &s);
	fx_fini(&fx);
}
END_TEST

/* Connection refused: not sent. */
START_TEST(not_sent)
{
	struct fx fx;
	struct http_opts ho = { 0 };
	struct http *h;
	struct hres r = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char url[320];
	int fd;

	fx_init(&fx, "gw-refused");
	/* A port that was just free: nobody listens there. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/health",
	    ntohs(sa.sin_port));
	ck_assert_int_eq(http_new(&fx.loop, &ho, &h), 0);
	ck_assert_int_eq(http_request(h, "GET", url, NULL, NULL, 0, hres_cb,
	    &r, NULL), 0);
	ck_assert(run_until(&fx, hres_over, &r, 10000));
	ck_assert_int_eq(r.outcome, HTTP_NOT_SENT);
	/* Not http(s): refused by curl before anything happens. */
	hres_reset(&r);
	ck_assert_int_eq(http_request(h, "GET", "file:///etc/passwd", NULL,
	    NULL, 0, hres_cb, &r, NULL), 0);
	ck_assert(run_until(&fx, hres_over, &r, 10000));
	ck_assert_int_eq(r.outcome, HTTP_NOT_SENT);
	ck_assert_int_eq(http_request(h, "PUT", url, NULL, NULL, 0, hres_cb,
	    &r, NULL), -EINVAL);
	ck_assert_int_eq(http_request(h, "GET", url, "a\r\nX-Evil: 1", NULL,
	    0, hres_cb, &r, NULL), -EINVAL);
	hres_reset(&r);
	http_close_wait(&fx, h);
	fx_fini(&fx);
}
END_TEST

/* --- callbacks that start, cancel and close ----------------------------------- */

struct chain {
	struct http *h;
	struct http_req *victim;
	struct hres victim_res;
	struct hres second;
	char url[320];
	int first_called;
};

static void
chain_first(void *arg, const struct http_response *r)
{
	struct chain *c = arg;

	(void)r;
	c->first_called++;
	/* Cancel a queued one and start another, from inside a callback. */
	http_cancel(c->victim);
	ck_assert_int_eq(http_request(c->h, "GET", c->url, NULL, NULL, 0,
	    hres_cb, &c->second, NULL), 0);
}

static void
fn_ok(struct srv *s, const char *m, const char *p, const char *b,
    struct srv_answer *a)
{
	char hdr[96];
	time_t t = time(NULL) + 30;
	struct tm tm;

	(void)s; (void)m; (void)b;
	if (strcmp(p, "/date") == 0) {
		/* Retry-After as an HTTP date, 30 s from now. */
		gmtime_r(&t, &tm);
		strftime(hdr, sizeof(hdr),
		    "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		a->text = http_text(503, "Service Unavailable", hdr, "{}");
	} else {
		a->text = http_text(200, "OK", "Retry-After: 7\r\n", "{}");
	}
}

START_TEST(callbacks_reenter)
{
	struct fx fx;
	struct srv s;
	struct http_opts ho = { .max_in_flight = 1 };
	struct chain c = { 0 };
	struct hres pending = { 0 };
	struct job j;

	fx_init(&fx, "gw-reenter");
	srv_start(&fx, &s, fn_ok);
	ck_assert_int_eq(http_new(&fx.loop, &ho, &c.h), 0);
	snprintf(c.url, sizeof(c.url), "%sx", fx.url);
	ck_assert_int_eq(http_request(c.h, "GET", c.url, NULL, NULL, 0,
	    chain_first, &c, NULL), 0);
	/* max_in_flight 1: this one waits in the queue, and is cancelled. */
	ck_assert_int_eq(http_request(c.h, "GET", c.url, NULL, NULL, 0,
	    hres_cb, &c.victim_res, &c.victim), 0);
	ck_assert(run_until(&fx, hres_over, &c.second, 10000));
	ck_assert_int_eq(c.first_called, 1);
	ck_assert_int_eq(c.victim_res.n, 0);
	ck_assert_int_eq(c.second.outcome, HTTP_DONE);
	ck_assert_int_eq(c.second.status, 200);
	ck_assert(fabs(c.second.retry_after_s - 7) < 1e-9);
	{
		struct hres d = { 0 };
		char durl[sizeof(fx.url) + 8];

		snprintf(durl, sizeof(durl), "%sdate", fx.url);
		ck_assert_int_eq(http_request(c.h, "GET", durl, NULL, NULL, 0,
		    hres_cb, &d, NULL), 0);
		ck_assert(run_until(&fx, hres_over, &d, 10000));
		ck_assert_int_eq(d.status, 503);
		ck_assert_msg(d.retry_after_s >= 25 && d.retry_after_s <= 31,
		    "retry after %f", d.retry_after_s);
		hres_reset(&d);
	}
	/* Close with one request in flight: no callback, no leak. */
	ck_assert_int_eq(http_request(c.h, "GET", c.url, NULL, NULL, 0,
	    hres_cb, &pending, NULL), 0);
	http_close_wait(&fx, c.h);
	ck_assert_int_eq(pending.n, 0);
	free(c.second.body);

	/* A cancelled job: no callback after. */
	fx_gw(&fx);
	job_start(&fx, "can-1", cmdlet_get_server("can-1", "A"), &j);
	gw_job_cancel(j.op);
	ck_assert_int_eq(j.ndone + j.naccepted, 0);
	srv_stop(&fx, &s);
	fx_fini(&fx);
	ck_assert_int_eq(j.ndone + j.naccepted, 0);
}
END_TEST

/* --- many requests with resets, no descriptor leak ----------------------------- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

#define MANY 3000

struct many {
	int done, ok, unknown, not_sent;
};

static void
many_cb(void *arg, const struct http_response *r)
{
	struct many *m = arg;

	m->done++;
	if (r->outcome == HTTP_DONE && r->status == 200)
		m->ok++;
	else if (r->outcome == HTTP_UNKNOWN)
		m->unknown++;
	else if (r->outcome == HTTP_NOT_SENT)
		m->not_sent++;
}

static bool
many_over(void *arg)
{
	return ((struct many *)arg)->done == MANY;
}

#define MANY_JOBS 200

static bool
many_jobs_over(void *arg)
{
	struct job *j = arg;

	for (int i = 0; i < MANY_JOBS; i++) {
		if (!j[i].done)
			return false;
	}
	return true;
}

START_TEST(many_with_resets)
{
	static const char *const args[] = { SIM_FAST, "--drop-rate", "0.3",
	    NULL };
	struct fx fx;
	struct http_opts ho = { .max_in_flight = 32 };
	struct http *h;
	struct many m = { 0 };
	static struct job jobs[MANY_JOBS];
	char url[320], id[32];
	int before, after;
	json_t *rec;

	fx_init(&fx, "gw-many");
	fx_sim(&fx, args);
	before = count_fds();
	ck_assert_int_eq(http_new(&fx.loop, &ho, &h), 0);
	snprintf(url, sizeof(url), "%sv1/health", fx.sim.url);
	for (int i = 0; i < MANY; i++)
		ck_assert_int_eq(http_request(h, "GET", url, NULL, NULL, 0,
		    many_cb, &m, NULL), 0);
	ck_assert_msg(run_until(&fx, many_over, &m, 60000),
	    "%d of %d answered", m.done, MANY);
	ck_assert_int_eq(m.ok + m.unknown + m.not_sent, MANY);
	ck_assert_int_gt(m.unknown, MANY / 10);	/* the resets happened */
	ck_assert_int_gt(m.ok, MANY / 2);
	http_close_wait(&fx, h);
	after = count_fds();
	ck_assert_int_eq(after, before);

	/* The same through the job protocol: every job once. */
	fx.cfg.max_in_flight = 64;
	fx_gw(&fx);
	for (int i = 0; i < MANY_JOBS; i++) {
		snprintf(id, sizeof(id), "many-%03d", i);
		job_start(&fx, id, cmdlet_get_server(id, "CAS01"), &jobs[i]);
	}
	ck_assert(run_until(&fx, many_jobs_over, jobs, 120000));
	for (int i = 0; i < MANY_JOBS; i++) {
		ck_assert_int_eq(jobs[i].status, GW_COMPLETED);
		job_free(&jobs[i]);
	}
	fx_close_gw(&fx);
	ck_assert_int_eq(count_fds(), before);
	sim_faults(&fx, "{\"drop_rate\": 0}");
	rec = sim_record(&fx);
	ck_assert_int_eq(json_array_size(json_object_get(rec, "commands")),
	    MANY_JOBS);
	for (int i = 0; i < MANY_JOBS; i++) {
		snprintf(id, sizeof(id), "many-%03d", i);
		ck_assert_int_eq(record_count(rec, id, NULL), 1);
	}
	json_decref(rec);
	fx_fini(&fx);
}
END_TEST

static Suite *
gateway_suite(void)
{
	Suite *s = suite_create("gateway");
	TCase *sim = tcase_create("simulator");
	TCase *local = tcase_create("local");

	tcase_set_timeout(sim, 240);
	tcase_add_test(sim, happy_path);
	tcase_add_loop_test(sim, fault_classes, 0,
	    (int)(sizeof(fault_json) / sizeof(fault_json[0])));
	tcase_add_test(sim, timeout_after_send);
	tcase_add_test(sim, token_refused);
	tcase_add_test(sim, forbidden_and_conflict);
	tcase_add_test(sim, tls);
	tcase_add_test(sim, body_cap);
	tcase_add_test(sim, many_with_resets);
	suite_add_tcase(s, sim);

	tcase_set_timeout(local, 60);
	tcase_add_test(local, stalled_body);
	tcase_add_test(local, retry_after_and_polling);
	tcase_add_test(local, answers);
	tcase_add_test(local, not_sent);
	tcase_add_test(local, callbacks_reenter);
	suite_add_tcase(s, local);
	return s;
}

int
main(void)
{
	log_init("test_gateway", LOG_LEVEL_WARNING, 0);
	return tu_run(gateway_suite());
}
