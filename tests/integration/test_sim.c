/*
 * test_sim — exchange-sim driven for real: the binary, a TCP port, HTTP.
 *
 * Each test starts its own simulator with a time scale that turns hours
 * into fractions of a second, and waits on conditions (a long poll, a
 * state read back), never on a fixed sleep.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Two nodes of one CCR cluster, nothing else: a rollout of them alone
 * breaks no role order. */
static const char org_ccr[] =
    "{\"servers\": [{\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},"
    " {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],"
    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
    " \"nodes\": [\"MBX1A\", \"MBX1B\"]}],"
    " \"target_version\": \"8.1.240.6\"}";

static const char org_full[] =
    "{\"servers\": [{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},"
    " {\"name\": \"EX01\", \"roles\": [\"Mailbox\", \"ClientAccess\","
    " \"HubTransport\"]},"
    " {\"name\": \"MBX01\", \"roles\": [\"Mailbox\"]},"
    " {\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},"
    " {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],"
    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
    " \"nodes\": [\"MBX1A\", \"MBX1B\"]}]}";

/* 10 simulated hours per real second: setup (1 h) takes 0.1 s. */
#define FAST "--time-scale", "36000"

static struct tu_sim sim;
static char *dir;

/*
 * A failed assertion ends the forked test process with _exit(), skipping
 * the teardown, and the simulator runs in its own process group: without
 * care it would outlive the test. A watchdog process holds the read end of
 * a pipe whose write end only the test holds: EOF without a "stand down"
 * byte means the test died, and the watchdog kills the simulator.
 */
static int watchdog_fd = -1;

static void
watchdog_start(pid_t victim)
{
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			kill(victim, SIGKILL);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(p[0]);
	watchdog_fd = p[1];
}

static void
watchdog_stand_down(void)
{
	if (watchdog_fd >= 0) {
		if (write(watchdog_fd, "x", 1) != 1)
			perror("watchdog");
		close(watchdog_fd);
		watchdog_fd = -1;
	}
}

static void
sim_up(const char *org, const char *const extra[])
{
	char *path;

	dir = tu_tmpdir("sim");
	ck_assert_ptr_nonnull(dir);
	path = tu_path(dir, "org.json");
	ck_assert_int_eq(tu_write_file(path, org), 0);
	ck_assert_msg(tu_sim_start(&sim, dir, path, extra) == 0,
	    "exchange-sim did not start");
	watchdog_start(sim.proc.pid);
	free(path);
}

/* Every test ends with a graceful stop: SIGTERM must mean exit 0 (and,
 * under the sanitizers, no error or leak report). */
static void
sim_down(void)
{
	char *log = NULL;
	bool ok = true;

	if (sim.proc.pid > 0) {
		ok = tu_kill_wait(&sim.proc, SIGTERM, tu_ms(10000)) &&
		    WIFEXITED(sim.proc.status) &&
		    WEXITSTATUS(sim.proc.status) == 0;
		if (!ok)
			log = tu_proc_output(&sim.proc);
	}
	tu_sim_stop(&sim);
	watchdog_stand_down();
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
	ck_assert_msg(ok, "exchange-sim did not exit 0 on SIGTERM:\n%s", log);
	free(log);
}

/* One HTTP exchange: returns the parsed body (new reference, NULL when
 * not JSON) and sets *status; *answered false when no answer came. */
static json_t *
http(const char *method, const char *path, const char *bearer,
    const char *body, long *status, bool *answered)
{
	char url[512];
	char *resp = NULL;
	json_t *j;
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sim.port, path);
	*status = 0;
	rc = tu_http(method, url, bearer, body, status, &resp);
	if (answered != NULL)
		*answered = rc == 0;
	if (rc != 0)
		return NULL;
	j = json_loads(resp, 0, NULL);
	free(resp);
	return j;
}

/* POST /v1/jobs {id, target, command, parameters}; params is JSON text. */
static json_t *
post_job(const char *id, const char *target, const char *command,
    const char *params, long *status)
{
	json_t *req = json_pack("{s:s, s:s?, s:s, s:o}", "id", id, "target",
	    target, "command", command, "parameters",
	    json_loads(params ? params : "{}", 0, NULL));
	char *body = json_dumps(req, JSON_COMPACT);
	bool answered;
	json_t *j;

	ck_assert_ptr_nonnull(body);
	j = http("POST", "/v1/jobs", NULL, body, status, &answered);
	ck_assert_msg(answered, "no answer to POST %s", id);
	free(body);
	json_decref(req);
	return j;
}

static const char *
jstr(const json_t *o, const char *path)
{
	const json_t *v = json_object_get(o, path);

	return json_is_string(v) ? json_string_value(v) : "";
}

static bool
job_done(const json_t *job)
{
	return strcmp(jstr(job, "state"), "completed") == 0 ||
	    strcmp(jstr(job, "state"), "failed") == 0;
}

/* Follows a job to its end with long polls; the final job object. */
static json_t *
wait_job(const char *id)
{
	char path[256];
	struct timespec t0, t1;
	json_t *j = NULL;
	long status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=10", id);
	for (;;) {
		json_decref(j);
		j = http("GET", path, NULL, NULL, &status, NULL);
		ck_assert_int_eq(status, 200);
		if (job_done(j))
			return j;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ck_assert_msg(t1.tv_sec - t0.tv_sec < tu_ms(30000) / 1000,
		    "job %s did not end", id);
	}
}

/* Submits and follows to the end. */
static json_t *
run(const char *id, const char *target, const char *command,
    const char *params)
{
	long status;
	json_t *j = post_job(id, target, command, params, &status);

	ck_assert_msg(status == 201, "POST %s: %ld", id, status);
	json_decref(j);
	return wait_job(id);
}

static const json_t *
out0(const json_t *job)
{
	return json_array_get(json_object_get(job, "output"), 0);
}

static json_int_t
jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static bool
has_violation(const json_t *rec, const char *kind, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(rec, "violations"), i, v) {
		if (strcmp(jstr(v, "kind"), kind) == 0 &&
		    (id == NULL || strcmp(jstr(v, "id"), id) == 0))
			return true;
	}
	return false;
}

static const char *
version_of(const char *server)
{
	static char buf[64];
	json_t *st = tu_sim_get(&sim, "/sim/state"), *s;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(json_object_get(st, "servers"), i, s) {
		if (strcmp(jstr(s, "name"), server) == 0)
			snprintf(buf, sizeof(buf), "%s", jstr(s, "version"));
	}
	json_decref(st);
	return buf;
}

START_TEST(health)
{
	long status;
	json_t *j;

	sim_up(org_ccr, NULL);
	j = http("GET", "/v1/health", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(jstr(j, "status"), "ok");
	ck_assert(strlen(jstr(j, "version")) > 0);
	json_decref(j);
}
END_TEST

START_TEST(get_exchange_server)
{
	json_t *j;

	sim_up(org_full, (const char *const[]){ FAST, NULL });
	j = run("g1", "EX01", "Get-ExchangeServer", "{\"Identity\": \"EX01\"}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	ck_assert_str_eq(jstr(j, "command"), "Get-ExchangeServer");
	ck_assert_str_eq(jstr(j, "target"), "EX01");
	ck_assert(json_is_null(json_object_get(j, "error")));
	ck_assert(json_is_string(json_object_get(j, "submitted_at")));
	ck_assert(json_is_string(json_object_get(j, "finished_at")));
	ck_assert_int_eq(json_array_size(json_object_get(j, "output")), 1);
	ck_assert_str_eq(jstr(out0(j), "Name"), "EX01");
	ck_assert_str_eq(jstr(out0(j), "ServerRole"),
	    "Mailbox, ClientAccess, HubTransport");
	ck_assert_str_eq(jstr(out0(j), "AdminDisplayVersion"),
	    "Version 8.0 (Build 685.24)");
	json_decref(j);

	/* Unknown identity: a failed job with an error object, not a 404. */
	j = run("g2", NULL, "Get-ExchangeServer", "{\"Identity\": \"NOPE\"}");
	ck_assert_str_eq(jstr(j, "state"), "failed");
	ck_assert_str_eq(jstr(json_object_get(j, "error"), "category"),
	    "ObjectNotFound");
	json_decref(j);
	/* Unknown target server: failed too. */
	j = run("g3", "NOPE", "Get-ExchangeServer", "{\"Identity\": \"EX01\"}");
	ck_assert_str_eq(jstr(j, "state"), "failed");
	ck_assert(strstr(jstr(json_object_get(j, "error"), "message"),
	    "NOPE") != NULL);
	json_decref(j);
}
END_TEST

START_TEST(idempotency)
{
	const char *params = "{\"Identity\": \"MBX1A\"}";
	long status;
	json_t *a, *b, *rec;

	sim_up(org_ccr, (const char *const[]){ FAST, NULL });
	a = post_job("idem-1", "MBX1A", "Get-ExchangeServer", params, &status);
	ck_assert_int_eq(status, 201);
	b = post_job("idem-1", "MBX1A", "Get-ExchangeServer", params, &status);
	ck_assert_int_eq(status, 200);
	ck_assert(json_equal(a, b));
	json_decref(b);
	b = post_job("idem-1", "MBX1B", "Get-ExchangeServer", params, &status);
	ck_assert_int_eq(status, 409);
	json_decref(b);
	b = post_job("idem-1", "MBX1A", "Get-ExchangeServer",
	    "{\"Identity\": \"MBX1B\"}", &status);
	ck_assert_int_eq(status, 409);
	json_decref(b);

	rec = tu_sim_get(&sim, "/sim/record");
	ck_assert_int_eq(json_array_size(json_object_get(rec, "commands")), 1);
	ck_assert_int_eq(jint(json_array_get(json_object_get(rec, "commands"),
	    0), "replays"), 1);
	json_decref(rec);
	json_decref(a);
}
END_TEST

START_TEST(rejections)
{
	long status;
	json_t *j;

	sim_up(org_ccr, (const char *const[]){ FAST, NULL });
	/* A parameter the command does not have: 400 naming it. */
	j = post_job("r1", "MBX1A", "Get-ExchangeServer",
	    "{\"Identiti\": \"MBX1A\"}", &status);
	ck_assert_int_eq(status, 400);
	ck_assert(strstr(jstr(json_object_get(j, "error"), "message"),
	    "Identiti") != NULL);
	json_decref(j);
	/* Wrong type. */
	j = post_job("r2", "MBX1A", "Restart-Computer",
	    "{\"ComputerName\": \"MBX1A\", \"Force\": \"yes\"}", &status);
	ck_assert_int_eq(status, 400);
	json_decref(j);
	/* Missing required parameter. */
	j = post_job("r3", NULL, "Move-ClusteredMailboxServer",
	    "{\"Identity\": \"CMS1\", \"MoveComment\": \"x\", "
	    "\"Confirm\": false}", &status);
	ck_assert_int_eq(status, 400);
	ck_assert(strstr(jstr(json_object_get(j, "error"), "message"),
	    "TargetMachine") != NULL);
	json_decref(j);
	/* Bad id. */
	j = post_job("bad id!", "MBX1A", "Get-ExchangeServer", NULL, &status);
	ck_assert_int_eq(status, 400);
	json_decref(j);
	/* Not JSON. */
	j = http("POST", "/v1/jobs", NULL, "{\"id\": ", &status, NULL);
	ck_assert_int_eq(status, 400);
	json_decref(j);
	/* A command outside the table. */
	j = post_job("r4", NULL, "Remove-Mailbox", NULL, &status);
	ck_assert_int_eq(status, 403);
	json_decref(j);
	/* Confirm not false: 403 and a violation. */
	j = post_job("r5", NULL, "Stop-ClusteredMailboxServer",
	    "{\"Identity\": \"CMS1\", \"StopReason\": \"sp1\"}", &status);
	ck_assert_int_eq(status, 403);
	json_decref(j);
	j = tu_sim_get(&sim, "/sim/record");
	ck_assert(has_violation(j, "confirm_not_false", "r5"));
	ck_assert_int_eq(json_array_size(json_object_get(j, "commands")), 0);
	json_decref(j);
	/* Unknown job id. */
	j = http("GET", "/v1/jobs/never-submitted", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 404);
	json_decref(j);
}
END_TEST

START_TEST(token)
{
	long status;
	json_t *j;

	sim_up(org_ccr, (const char *const[]){ "--token", "s3cret", NULL });
	j = http("GET", "/v1/health", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 401);
	json_decref(j);
	j = http("GET", "/v1/health", "wrong", NULL, &status, NULL);
	ck_assert_int_eq(status, 401);
	json_decref(j);
	j = http("POST", "/v1/jobs", "s3cre", "{\"id\": \"t1\", \"target\": "
	    "null, \"command\": \"Get-ClusteredMailboxServerStatus\", "
	    "\"parameters\": {\"Identity\": \"CMS1\"}}", &status, NULL);
	ck_assert_int_eq(status, 401);
	json_decref(j);
	j = http("GET", "/v1/health", "s3cret", NULL, &status, NULL);
	ck_assert_int_eq(status, 200);
	json_decref(j);
	/* The test endpoints need none. */
	j = tu_sim_get(&sim, "/sim/state");
	ck_assert_ptr_nonnull(json_object_get(j, "servers"));
	json_decref(j);
}
END_TEST

START_TEST(long_poll)
{
	struct timespec t0, t1;
	long status;
	double s;
	json_t *j;

	/* Setup takes 1 real second; the poll may wait 30. */
	sim_up(org_ccr, (const char *const[]){ FAST, "--setup-s", "36000",
	    NULL });
	j = post_job("lp1", "MBX1B", "Invoke-ExchangeSetup",
	    "{\"Mode\": \"Upgrade\"}", &status);
	ck_assert_int_eq(status, 201);
	ck_assert_str_eq(jstr(j, "state"), "running");
	ck_assert(json_is_null(json_object_get(j, "finished_at")));
	json_decref(j);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	j = http("GET", "/v1/jobs/lp1?wait_s=30", NULL, NULL, &status, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(jstr(j, "state"), "completed");
	ck_assert_msg(s < 15, "long poll took %.1f s for a 1 s job", s);
	json_decref(j);

	/* A finished job answers at once, whatever wait_s says. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	j = http("GET", "/v1/jobs/lp1?wait_s=30", NULL, NULL, &status, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(status, 200);
	ck_assert(t1.tv_sec - t0.tv_sec < 10);
	json_decref(j);
	j = http("GET", "/v1/jobs/lp1?wait_s=soon", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 400);
	json_decref(j);
}
END_TEST

START_TEST(setup_changes_version)
{
	json_t *j, *rec;

	sim_up(org_ccr, (const char *const[]){ FAST, NULL });
	j = run("v1", "MBX1B", "Get-ExchangeServer", "{\"Identity\": \"MBX1B\"}");
	ck_assert_str_eq(jstr(out0(j), "AdminDisplayVersion"),
	    "Version 8.0 (Build 685.24)");
	json_decref(j);
	j = run("s1", "MBX1B", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	ck_assert_int_eq(jint(out0(j), "ExitCode"), 0);
	ck_assert(json_is_false(json_object_get(out0(j), "RebootRequired")));
	json_decref(j);
	j = run("v2", "MBX1B", "Get-ExchangeServer", "{\"Identity\": \"MBX1B\"}");
	ck_assert_str_eq(jstr(out0(j), "AdminDisplayVersion"),
	    "Version 8.1 (Build 240.6)");
	json_decref(j);
	rec = tu_sim_get(&sim, "/sim/record");
	ck_assert_int_eq(jint(json_object_get(rec, "setups"), "MBX1B"), 1);
	ck_assert_int_eq(json_array_size(json_object_get(rec, "violations")),
	    0);
	json_decref(rec);
}
END_TEST

static bool
reachable(void *arg)
{
	json_t *st = tu_sim_get(&sim, "/sim/state"), *s;
	bool up = false;
	size_t i;

	json_array_foreach(json_object_get(st, "servers"), i, s) {
		if (strcmp(jstr(s, "name"), arg) == 0)
			up = json_is_true(json_object_get(s, "reachable"));
	}
	json_decref(st);
	return up;
}

START_TEST(reboot)
{
	json_t *j;

	/* The restart takes 3 real seconds. */
	sim_up(org_ccr, (const char *const[]){ FAST, "--reboot-s", "108000",
	    NULL });
	j = run("rb1", "MBX1B", "Restart-Computer",
	    "{\"ComputerName\": \"MBX1B\", \"Force\": true}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	ck_assert_int_eq(json_array_size(json_object_get(j, "output")), 0);
	json_decref(j);
	ck_assert(!reachable((void *)"MBX1B"));
	j = run("rb2", "MBX1B", "Test-ServiceHealth", "{\"Server\": \"MBX1B\"}");
	ck_assert_str_eq(jstr(j, "state"), "failed");
	ck_assert_str_eq(jstr(json_object_get(j, "error"), "category"),
	    "ConnectionFailure");
	json_decref(j);
	ck_assert(tu_wait(reachable, (void *)"MBX1B", tu_ms(20000)));
	j = run("rb3", "MBX1B", "Get-ExchangeServer", "{\"Identity\": \"MBX1B\"}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	json_decref(j);
}
END_TEST

static json_t *
cms_status(const char *id)
{
	return run(id, NULL, "Get-ClusteredMailboxServerStatus",
	    "{\"Identity\": \"CMS1\"}");
}

START_TEST(ccr_service_pack)
{
	json_t *j, *rec;
	const json_t *m;

	sim_up(org_ccr, (const char *const[]){ FAST, NULL });
	j = cms_status("c0");
	ck_assert_str_eq(jstr(out0(j), "State"), "Online");
	m = json_object_get(out0(j), "OperationalMachines");
	ck_assert_str_eq(json_string_value(json_array_get(m, 0)),
	    "MBX1A <Active, Quorum Owner>");
	ck_assert_str_eq(json_string_value(json_array_get(m, 1)), "MBX1B");
	json_decref(j);

	/* 1. the passive node */
	j = run("c1", "MBX1B", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	ck_assert_int_eq(jint(out0(j), "ExitCode"), 0);
	json_decref(j);
	/* 2. failover: stop, move, /upgradeCMS on the new owner */
	j = run("c2", NULL, "Stop-ClusteredMailboxServer", "{\"Identity\": "
	    "\"CMS1\", \"StopReason\": \"SP1\", \"Confirm\": false}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	json_decref(j);
	j = cms_status("c3");
	ck_assert_str_eq(jstr(out0(j), "State"), "Offline");
	json_decref(j);
	j = run("c4", NULL, "Move-ClusteredMailboxServer", "{\"Identity\": "
	    "\"CMS1\", \"TargetMachine\": \"MBX1B\", \"MoveComment\": \"c4\", "
	    "\"Confirm\": false}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	json_decref(j);
	j = run("c5", "MBX1B", "Invoke-ExchangeSetup",
	    "{\"Mode\": \"UpgradeCMS\"}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	ck_assert_int_eq(jint(out0(j), "ExitCode"), 0);
	json_decref(j);
	j = cms_status("c6");
	ck_assert_str_eq(jstr(out0(j), "State"), "Online");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
	    out0(j), "OperationalMachines"), 1)), "MBX1B <Active, Quorum Owner>");
	json_decref(j);
	/* 3. the former active node, then failback (an online move) */
	j = run("c7", "MBX1A", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	ck_assert_int_eq(jint(out0(j), "ExitCode"), 0);
	json_decref(j);
	j = run("c8", NULL, "Move-ClusteredMailboxServer", "{\"Identity\": "
	    "\"CMS1\", \"TargetMachine\": \"MBX1A\", \"MoveComment\": \"c8\", "
	    "\"Confirm\": false}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	json_decref(j);
	j = cms_status("c9");
	ck_assert_str_eq(jstr(out0(j), "State"), "Online");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
	    out0(j), "OperationalMachines"), 0)), "MBX1A <Active, Quorum Owner>");
	json_decref(j);

	rec = tu_sim_get(&sim, "/sim/record");
	ck_assert_int_eq(jint(json_object_get(rec, "moves"), "CMS1"), 2);
	ck_assert_msg(json_array_size(json_object_get(rec, "violations")) == 0,
	    "violations: %s", json_dumps(json_object_get(rec, "violations"),
	    0));
	json_decref(rec);
}
END_TEST

START_TEST(ccr_without_upgradecms_fails)
{
	json_t *j;

	/* An online move onto service-pack binaries: the CMS cannot start. */
	sim_up(org_ccr, (const char *const[]){ FAST, "--version",
	    "MBX1B=8.1.240.6", NULL });
	j = run("f1", NULL, "Move-ClusteredMailboxServer", "{\"Identity\": "
	    "\"CMS1\", \"TargetMachine\": \"MBX1B\", \"MoveComment\": \"f1\", "
	    "\"Confirm\": false}");
	ck_assert_str_eq(jstr(j, "state"), "failed");
	json_decref(j);
	j = cms_status("f2");
	ck_assert_str_eq(jstr(out0(j), "State"), "Failed");
	json_decref(j);
	/* UpgradeCMS refuses a CMS that is not Offline. */
	j = run("f3", "MBX1B", "Invoke-ExchangeSetup",
	    "{\"Mode\": \"UpgradeCMS\"}");
	ck_assert_str_eq(jstr(j, "state"), "failed");
	json_decref(j);
}
END_TEST

START_TEST(violations)
{
	json_t *j, *rec;

	sim_up(org_full, (const char *const[]){ FAST, NULL });
	/* A move to the node that already owns the CMS. */
	j = run("v1", NULL, "Move-ClusteredMailboxServer", "{\"Identity\": "
	    "\"CMS1\", \"TargetMachine\": \"MBX1A\", \"MoveComment\": \"v1\", "
	    "\"Confirm\": false}");
	ck_assert_str_eq(jstr(j, "state"), "failed");
	ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "error"),
	    "fully_qualified_error_id"));
	json_decref(j);
	/* A move to a node still at RTM. */
	j = run("v2", NULL, "Move-ClusteredMailboxServer", "{\"Identity\": "
	    "\"CMS1\", \"TargetMachine\": \"MBX1B\", \"MoveComment\": \"v2\", "
	    "\"Confirm\": false}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	json_decref(j);
	/* Setup on the node that now runs the CMS (runs anyway). */
	j = run("v3", "MBX1B", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	json_decref(j);
	/* Mailbox before Client Access: role order. A multi-role server
	 * whose last role is Mailbox does not count against MBX01. */
	j = run("v4", "MBX01", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	json_decref(j);

	rec = tu_sim_get(&sim, "/sim/record");
	ck_assert(has_violation(rec, "redundant_move", "v1"));
	ck_assert(has_violation(rec, "move_to_unupgraded", "v2"));
	ck_assert(has_violation(rec, "setup_on_cms_owner", "v3"));
	ck_assert(has_violation(rec, "role_order", "v4"));
	ck_assert_int_eq(jint(json_object_get(rec, "moves"), "CMS1"), 2);
	{
		size_t i, n = 0;
		json_t *v;

		json_array_foreach(json_object_get(rec, "violations"), i, v) {
			if (strcmp(jstr(v, "id"), "v4") == 0) {
				n++;
				ck_assert(strstr(jstr(v, "message"), "CAS01"));
			}
		}
		ck_assert_int_eq(n, 1);
	}
	json_decref(rec);
}
END_TEST

START_TEST(fault_lose)
{
	const char *body = "{\"id\": \"lost-1\", \"target\": \"MBX1A\", "
	    "\"command\": \"Get-ExchangeServer\", \"parameters\": "
	    "{\"Identity\": \"MBX1A\"}}";
	bool answered;
	long status;
	json_t *j;

	sim_up(org_ccr, (const char *const[]){ FAST, "--lose-rate", "1",
	    NULL });
	j = http("POST", "/v1/jobs", NULL, body, &status, &answered);
	ck_assert(!answered);
	json_decref(j);
	/* The job exists all the same. */
	j = http("GET", "/v1/jobs/lost-1", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 200);
	json_decref(j);
	/* Faults change at run time; the replay then gets 200. */
	j = tu_sim_post(&sim, "/sim/faults", "{\"lose_rate\": 0}");
	ck_assert_ptr_nonnull(j);
	ck_assert(json_number_value(json_object_get(j, "lose_rate")) == 0);
	json_decref(j);
	j = http("POST", "/v1/jobs", NULL, body, &status, &answered);
	ck_assert(answered);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(jstr(j, "id"), "lost-1");
	json_decref(j);
}
END_TEST

START_TEST(fault_drop)
{
	const char *body = "{\"id\": \"drop-1\", \"target\": null, "
	    "\"command\": \"Get-ClusteredMailboxServerStatus\", "
	    "\"parameters\": {\"Identity\": \"CMS1\"}}";
	bool answered;
	long status;
	json_t *j;

	sim_up(org_ccr, (const char *const[]){ FAST, "--drop-rate", "1",
	    NULL });
	j = http("POST", "/v1/jobs", NULL, body, &status, &answered);
	ck_assert(!answered);
	json_decref(tu_sim_post(&sim, "/sim/faults", "{\"drop_rate\": 0}"));
	/* Not executed: unknown, and the retry creates it. */
	j = http("GET", "/v1/jobs/drop-1", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 404);
	json_decref(j);
	j = http("POST", "/v1/jobs", NULL, body, &status, &answered);
	ck_assert_int_eq(status, 201);
	json_decref(j);
}
END_TEST

START_TEST(faults_at_run_time)
{
	char url[128], *resp = NULL;
	long status;
	json_t *j;

	sim_up(org_ccr, (const char *const[]){ FAST, NULL });
	json_decref(tu_sim_post(&sim, "/sim/faults", "{\"http_500_rate\": 1}"));
	j = http("GET", "/v1/health", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 500);
	json_decref(j);
	json_decref(tu_sim_post(&sim, "/sim/faults",
	    "{\"http_500_rate\": 0, \"garbage_rate\": 1}"));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/health", sim.port);
	ck_assert_int_eq(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
	ck_assert_int_eq(status, 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_null(j);
	free(resp);
	j = tu_sim_post(&sim, "/sim/faults", "{\"garbage_rate\": 0, "
	    "\"fail_setup\": [\"NOPE\"]}");
	ck_assert_ptr_nonnull(json_object_get(j, "error"));
	json_decref(j);
	j = tu_sim_post(&sim, "/sim/faults", "{\"garbage_rate\": 0}");
	ck_assert(json_number_value(json_object_get(j, "garbage_rate")) == 0);
	json_decref(j);
	j = http("GET", "/v1/health", NULL, NULL, &status, NULL);
	ck_assert_int_eq(status, 200);
	json_decref(j);
}
END_TEST

START_TEST(fail_setup)
{
	json_t *j;

	sim_up(org_ccr, (const char *const[]){ FAST, "--fail-setup", "MBX1B",
	    "--reboot-required", "all", NULL });
	j = run("fs1", "MBX1B", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	ck_assert_str_eq(jstr(j, "state"), "completed");
	ck_assert_int_eq(jint(out0(j), "ExitCode"), 1603);
	json_decref(j);
	ck_assert_str_eq(version_of("MBX1B"), "8.0.685.24");
	j = run("fs2", "MBX1A", "Invoke-ExchangeSetup", "{\"Mode\": \"Upgrade\"}");
	ck_assert_int_eq(jint(out0(j), "ExitCode"), 0);
	ck_assert(json_is_true(json_object_get(out0(j), "RebootRequired")));
	json_decref(j);
}
END_TEST

START_TEST(sigterm_writes_record)
{
	char *path, *text;
	json_t *j, *rec;

	dir = tu_tmpdir("sim");
	path = tu_path(dir, "record.json");
	{
		char *org = tu_path(dir, "org.json");
		const char *const extra[] = { FAST, "--record", path, NULL };

		ck_assert_int_eq(tu_write_file(org, org_ccr), 0);
		ck_assert_int_eq(tu_sim_start(&sim, dir, org, extra), 0);
		watchdog_start(sim.proc.pid);
		free(org);
	}
	j = run("rec1", NULL, "Get-ClusteredMailboxServerStatus", NULL);
	ck_assert_int_eq(json_array_size(json_object_get(j, "output")), 1);
	json_decref(j);
	ck_assert(tu_kill_wait(&sim.proc, SIGTERM, tu_ms(10000)));
	ck_assert(WIFEXITED(sim.proc.status));
	ck_assert_int_eq(WEXITSTATUS(sim.proc.status), 0);
	text = tu_read_file(path);
	ck_assert_ptr_nonnull(text);
	rec = json_loads(text, 0, NULL);
	ck_assert_str_eq(jstr(json_array_get(json_object_get(rec, "commands"),
	    0), "id"), "rec1");
	json_decref(rec);
	free(text);
	free(path);
}
END_TEST

static Suite *
sim_suite(void)
{
	Suite *s = suite_create("exchange-sim");
	TCase *tc = tcase_create("http");

	tcase_add_checked_fixture(tc, NULL, sim_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, health);
	tcase_add_test(tc, get_exchange_server);
	tcase_add_test(tc, idempotency);
	tcase_add_test(tc, rejections);
	tcase_add_test(tc, token);
	tcase_add_test(tc, long_poll);
	tcase_add_test(tc, setup_changes_version);
	tcase_add_test(tc, reboot);
	tcase_add_test(tc, ccr_service_pack);
	tcase_add_test(tc, ccr_without_upgradecms_fails);
	tcase_add_test(tc, violations);
	tcase_add_test(tc, fault_lose);
	tcase_add_test(tc, fault_drop);
	tcase_add_test(tc, faults_at_run_time);
	tcase_add_test(tc, fail_setup);
	tcase_add_test(tc, sigterm_writes_record);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(sim_suite());
}
