/*
 * test_control_protocol — the control protocol against a running exrolld:
 * the real daemon on the example organization
 * (contrib/examples/exroll.json), the real exchange-sim with time scaled,
 * the real socket, and the real exrollctl.
 *
 * Two rigs:
 *  - frozen: the only maintenance window lies in the past, so nothing ever
 *    starts and every answer is deterministic; every command, every error
 *    code, ids, pipelining, 200 clients, a foreign uid (as root), and
 *    exrollctl's exit codes are checked there;
 *  - steered: a real rollout in which setup fails on CAS01 (retries 0), so
 *    the operator retries and then skips it and approves the CCR
 *    checkpoints, while one watch client never reads and another checks
 *    it saw every event; the rollout must still complete.
 * Nothing sleeps: every wait is for a condition, with a deadline.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* The example organization, time x7200, rehearsal timings, two mailbox
 * units at once; policy: more policy members, top: more top-level ones
 * (each may be NULL). The daemon started. */
static void
rig_start(struct tu_rig *r, const char *policy, const char *top,
    const char *const sim_extra[])
{
	const char *args[32] = { "--time-scale", "7200", "--seed", "5", NULL };
	char pol[1024];
	size_t n = 4;

	for (size_t i = 0; sim_extra != NULL && sim_extra[i] && n < 30; i++)
		args[n++] = sim_extra[i];
	args[n] = NULL;
	ck_assert_int_lt(snprintf(pol, sizeof(pol), "\"max_parallel\": "
	    "{\"Mailbox\": 2}, \"verify_timeout_s\": 60, "
	    "\"install_timeout_s\": 120%s%s", policy ? ", " : "",
	    policy ? policy : ""), (int)sizeof(pol));
	ck_assert_int_eq(tu_rig_start(r, "ctlint", NULL,
	    "\"request_timeout_s\": 5", pol, top, args), 0);
	ck_assert_int_eq(tu_rig_daemon(r), 0);
}

static void
rig_stop(struct tu_rig *r)
{
	struct stat st;

	ck_assert(tu_kill_wait(&r->d.proc, SIGTERM, tu_ms(10000)));
	/* A clean stop: exit 0 (a sanitizer's report would not be) and the
	 * socket removed. */
	if (!WIFEXITED(r->d.proc.status) ||
	    WEXITSTATUS(r->d.proc.status) != 0) {
		char *o = tu_proc_output(&r->d.proc);

		ck_abort_msg("exrolld did not stop cleanly:\n%s", o);
	}
	ck_assert(lstat(r->sock, &st) != 0 && errno == ENOENT);
	tu_rig_stop(r);
}

/* The frozen rig: one window, long past. */
static void
rig_frozen(struct tu_rig *r)
{
	rig_start(r, NULL, "\"windows\": [{\"from\": \"2001-01-01T00:00\", "
	    "\"to\": \"2001-01-02T00:00\"}]", NULL);
}

/* ---- a connection of our own ----------------------------------------- */

static void
conn_open(struct tu_conn *c, const char *path)
{
	ck_assert_msg(tu_conn_open(c, path), "connect '%s': %s", path,
	    strerror(errno));
}

static bool
conn_send(struct tu_conn *c, const char *s)
{
	return tu_conn_send(c, s, strlen(s));
}

/* The next line parsed, or NULL at EOF or after timeout_ms. */
static json_t *
conn_read(struct tu_conn *c, int timeout_ms)
{
	char *line = tu_conn_line(c, timeout_ms);
	json_t *j;

	if (line == NULL)
		return NULL;
	j = json_loads(line, 0, NULL);
	ck_assert_msg(j != NULL, "unparsable line '%s'", line);
	free(line);
	return j;
}

static json_t *
conn_answer(struct tu_conn *c)
{
	json_t *j = conn_read(c, tu_ms(20000));

	ck_assert_msg(j != NULL, "no answer");
	return j;
}

/* ---- requests on a fresh connection ---------------------------------- */

static json_t *
req(struct tu_rig *r, const char *line)
{
	json_t *resp = tu_ctl(r->sock, line);

	ck_assert_msg(resp != NULL, "no answer to %s", line);
	return resp;
}

static json_t *
ok(struct tu_rig *r, const char *line)
{
	json_t *resp = req(r, line), *res;

	ck_assert_msg(json_is_true(json_object_get(resp, "ok")),
	    "%s: %s", line, tu_jstr(json_object_get(resp, "error"), "message"));
	res = json_incref(json_object_get(resp, "result"));
	json_decref(resp);
	return res;
}

/* The error code of the answer to line, with its message containing
 * needle (when given). */
static void
fails(struct tu_rig *r, const char *line, const char *code, const char *needle)
{
	json_t *resp = req(r, line);
	json_t *err = json_object_get(resp, "error");

	ck_assert_msg(json_is_false(json_object_get(resp, "ok")),
	    "%s succeeded", line);
	ck_assert_msg(strcmp(tu_jstr(err, "code"), code) == 0,
	    "%s: code %s, wanted %s (%s)", line, tu_jstr(err, "code"), code,
	    tu_jstr(err, "message"));
	if (needle != NULL)
		ck_assert_msg(strstr(tu_jstr(err, "message"), needle) != NULL,
		    "%s: message '%s' lacks '%s'", line, tu_jstr(err, "message"),
		    needle);
	json_decref(resp);
}

/* null, or RFC 3339 as the protocol writes it. */
static bool
is_time_or_null(const json_t *v)
{
	const char *s = json_string_value(v);

	return json_is_null(v) || (s != NULL && strlen(s) >= 20 &&
	    s[4] == '-' && s[10] == 'T' && s[strlen(s) - 1] == 'Z');
}

/* ---- frozen rig ------------------------------------------------------- */

START_TEST(test_read_commands)
{
	struct tu_rig r;
	json_t *st, *v, *arr, *it;
	size_t i;

	rig_frozen(&r);
	v = ok(&r, "{\"id\": 1, \"cmd\": \"ping\"}");
	ck_assert_str_eq(tu_jstr(v, "version"), "0.1.0");
	json_decref(v);

	/* status: every field of DESIGN §4, with its type. */
	st = ok(&r, "{\"cmd\": \"status\"}");
	ck_assert_str_eq(tu_jstr(st, "state"), "waiting_window");
	ck_assert(json_is_string(json_object_get(st, "reason")));
	v = json_object_get(st, "progress");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "done")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "total")), 13);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "percent")), 0);
	ck_assert(json_is_null(json_object_get(st, "eta_s")));
	v = json_object_get(st, "current_wave");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "index")), 1);
	ck_assert_str_eq(tu_jstr(v, "role"), "ClientAccess");
	arr = json_object_get(st, "waves");
	ck_assert_int_eq(json_array_size(arr), 5);
	{
		static const char *const roles[] = { "ClientAccess",
			"EdgeTransport", "HubTransport", "UnifiedMessaging",
			"Mailbox" };
		static const int totals[] = { 3, 1, 2, 1, 6 };
		long sum = 0;

		json_array_foreach(arr, i, it) {
			ck_assert_str_eq(tu_jstr(it, "role"), roles[i]);
			ck_assert_str_eq(tu_jstr(it, "state"), i == 0 ? "active" :
			    "pending");
			ck_assert_int_eq(json_integer_value(json_object_get(it,
			    "done")), 0);
			ck_assert_int_eq(json_integer_value(json_object_get(it,
			    "total")), totals[i]);
			sum += (long)json_integer_value(json_object_get(it,
			    "total"));
		}
		ck_assert_int_eq(sum, 13);
	}
	ck_assert_int_eq(json_array_size(json_object_get(st,
	    "pending_checkpoints")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(st, "failed")), 0);
	v = json_object_get(st, "window");
	ck_assert(json_is_false(json_object_get(v, "open")));
	ck_assert(json_is_null(json_object_get(v, "closes_at")));
	ck_assert(json_is_null(json_object_get(v, "next_open")));
	json_decref(st);

	/* servers: all 13 with every field; CCR nodes in their cluster's
	 * wave (5, the Mailbox wave). */
	arr = ok(&r, "{\"cmd\": \"servers\"}");
	ck_assert_int_eq(json_array_size(arr), 13);
	json_array_foreach(arr, i, it) {
		ck_assert(json_is_string(json_object_get(it, "name")));
		ck_assert(json_array_size(json_object_get(it, "roles")) >= 1);
		ck_assert(json_is_integer(json_object_get(it, "wave")));
		ck_assert_str_eq(tu_jstr(it, "state"), "pending");
		ck_assert(json_is_string(json_object_get(it, "phase")));
		ck_assert(json_is_integer(json_object_get(it, "attempts")));
		ck_assert(json_object_get(it, "version") != NULL);
		ck_assert(json_object_get(it, "last_error") != NULL);
		ck_assert(is_time_or_null(json_object_get(it, "started_at")));
		ck_assert(is_time_or_null(json_object_get(it, "finished_at")));
		if (strcmp(tu_jstr(it, "name"), "MBX1A") == 0 ||
		    strcmp(tu_jstr(it, "name"), "EXALL01") == 0)
			ck_assert_int_eq(json_integer_value(json_object_get(it,
			    "wave")), 5);
		if (strcmp(tu_jstr(it, "name"), "EXALL01") == 0)
			ck_assert_int_eq(json_array_size(json_object_get(it,
			    "roles")), 3);
	}
	json_decref(arr);
	arr = ok(&r, "{\"cmd\": \"servers\", \"role\": \"Mailbox\"}");
	ck_assert_int_eq(json_array_size(arr), 6);
	json_decref(arr);
	arr = ok(&r, "{\"cmd\": \"servers\", \"state\": \"pending\", "
	    "\"role\": \"HubTransport\"}");
	ck_assert_int_eq(json_array_size(arr), 3);	/* HUB01, HUB02, EXALL01 */
	json_decref(arr);
	arr = ok(&r, "{\"cmd\": \"servers\", \"state\": \"failed\"}");
	ck_assert_int_eq(json_array_size(arr), 0);
	json_decref(arr);

	arr = ok(&r, "{\"cmd\": \"clusters\"}");
	ck_assert_int_eq(json_array_size(arr), 2);
	it = json_array_get(arr, 0);
	ck_assert_str_eq(tu_jstr(it, "name"), "CMS1");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(it,
	    "nodes"), 0)), "MBX1A");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(it,
	    "nodes"), 1)), "MBX1B");
	ck_assert(json_is_null(json_object_get(it, "original_active")));
	ck_assert(json_is_null(json_object_get(it, "active")));
	ck_assert_str_eq(tu_jstr(it, "step"), "pending");
	ck_assert(json_is_null(json_object_get(it, "pending_checkpoint")));
	json_decref(arr);

	/* events: since and limit. */
	arr = ok(&r, "{\"cmd\": \"events\"}");
	ck_assert_int_ge(json_array_size(arr), 1);
	it = json_array_get(arr, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(it, "seq")), 1);
	ck_assert_str_eq(tu_jstr(it, "kind"), "rollout.created");
	ck_assert(is_time_or_null(json_object_get(it, "time")));
	ck_assert(json_is_string(json_object_get(it, "subject")));
	ck_assert(json_is_string(json_object_get(it, "message")));
	ck_assert(json_is_string(json_object_get(it, "actor")));
	json_decref(arr);
	json_decref(ok(&r, "{\"cmd\": \"pause\", \"reason\": \"one\"}"));
	json_decref(ok(&r, "{\"cmd\": \"resume\"}"));
	arr = ok(&r, "{\"cmd\": \"events\", \"since\": 1, \"limit\": 2}");
	ck_assert_int_eq(json_array_size(arr), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_array_get(arr, 0), "seq")), 2);
	json_decref(arr);

	/* plan: the waves and units, in order. */
	v = ok(&r, "{\"cmd\": \"plan\"}");
	arr = json_object_get(v, "waves");
	ck_assert_int_eq(json_array_size(arr), 5);
	it = json_array_get(arr, 4);
	ck_assert_str_eq(tu_jstr(it, "role"), "Mailbox");
	ck_assert_str_eq(tu_jstr(json_array_get(json_object_get(it, "units"), 0),
	    "name"), "EXALL01");
	ck_assert_str_eq(tu_jstr(json_array_get(json_object_get(it, "units"), 2),
	    "kind"), "cluster");
	json_decref(v);

	v = ok(&r, "{\"cmd\": \"report\"}");
	ck_assert(json_is_array(json_object_get(v, "units")));
	json_decref(v);
	rig_stop(&r);
}
END_TEST

START_TEST(test_mutating_commands_and_errors)
{
	struct tu_rig r;
	json_t *v, *arr, *it;
	char actor[64];
	size_t i;
	bool found = false;

	rig_frozen(&r);
	/* pause, with the note for a second pause, and its event. */
	v = ok(&r, "{\"id\": 1, \"cmd\": \"pause\", \"reason\": \"change "
	    "freeze\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "paused");
	ck_assert_ptr_null(json_object_get(v, "note"));
	json_decref(v);
	v = ok(&r, "{\"cmd\": \"pause\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "paused");
	ck_assert_str_eq(tu_jstr(v, "note"), "already paused");
	json_decref(v);
	/* The actor is the peer: us. */
	{
		struct passwd *pw = getpwuid(geteuid());

		snprintf(actor, sizeof(actor), "uid %u (%s)",
		    (unsigned)geteuid(), pw ? pw->pw_name : "?");
	}
	arr = ok(&r, "{\"cmd\": \"events\"}");
	json_array_foreach(arr, i, it)
		if (strcmp(tu_jstr(it, "actor"), actor) == 0 &&
		    strstr(tu_jstr(it, "message"), "change freeze") != NULL)
			found = true;
	ck_assert_msg(found, "no event by '%s' with the reason", actor);
	json_decref(arr);

	v = ok(&r, "{\"cmd\": \"resume\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "waiting_window");
	json_decref(v);

	/* skip a pending server; retry it: it has not failed. */
	v = ok(&r, "{\"cmd\": \"skip\", \"server\": \"cas02\", \"reason\": "
	    "\"decommissioned\"}");
	ck_assert_str_eq(tu_jstr(v, "server"), "CAS02");
	ck_assert_str_eq(tu_jstr(v, "state"), "skipped");
	json_decref(v);
	fails(&r, "{\"cmd\": \"retry\", \"server\": \"CAS02\"}", "conflict",
	    "has not failed");
	fails(&r, "{\"cmd\": \"skip\", \"server\": \"CAS02\", \"reason\": "
	    "\"again\"}", "conflict", "already skipped");
	v = ok(&r, "{\"cmd\": \"status\"}");
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_object_get(v, "progress"), "done")), 1);
	json_decref(v);

	/* not_found */
	fails(&r, "{\"cmd\": \"approve\", \"cluster\": \"CMS9\"}", "not_found",
	    "CMS9");
	fails(&r, "{\"cmd\": \"retry\", \"server\": \"NOPE\"}", "not_found",
	    "NOPE");
	fails(&r, "{\"cmd\": \"skip\", \"server\": \"NOPE\", \"reason\": "
	    "\"x\"}", "not_found", NULL);
	/* conflict */
	fails(&r, "{\"cmd\": \"approve\", \"cluster\": \"CMS1\"}", "conflict",
	    "CMS1");
	fails(&r, "{\"cmd\": \"skip\", \"server\": \"MBX1A\", \"reason\": "
	    "\"x\"}", "conflict", "CMS1");
	/* bad_request: arguments checked before anything happens */
	fails(&r, "{\"cmd\": \"approve\"}", "bad_request", "'cluster'");
	fails(&r, "{\"cmd\": \"approve\", \"cluster\": \"CMS1\", "
	    "\"checkpoint\": \"sideways\"}", "bad_request", "sideways");
	fails(&r, "{\"cmd\": \"skip\", \"server\": \"CAS03\"}", "bad_request",
	    "'reason'");
	fails(&r, "{\"cmd\": \"skip\", \"server\": \"CAS03\", \"reason\": "
	    "\"  \"}", "bad_request", "empty");
	fails(&r, "{\"cmd\": \"abort\"}", "bad_request", "'reason'");
	fails(&r, "{\"cmd\": \"pause\", \"reason\": 5}", "bad_request",
	    "must be a string");
	fails(&r, "{\"cmd\": \"pause\", \"reason\": \"a\\nb\"}", "bad_request",
	    "control characters");
	fails(&r, "{\"cmd\": \"status\", \"verbose\": true}", "bad_request",
	    "unknown argument 'verbose'");
	fails(&r, "{\"cmd\": \"servers\", \"state\": \"melted\"}",
	    "bad_request", "melted");
	fails(&r, "{\"cmd\": \"servers\", \"role\": \"Mailboxx\"}",
	    "bad_request", "Mailboxx");
	fails(&r, "{\"cmd\": \"events\", \"since\": -1}", "bad_request",
	    "'since'");
	fails(&r, "{\"cmd\": \"events\", \"limit\": 0}", "bad_request",
	    "'limit'");
	fails(&r, "{\"cmd\": \"events\", \"limit\": \"5\"}", "bad_request",
	    "'limit'");
	fails(&r, "{\"cmd\": \"watch\", \"since\": 1}", "bad_request",
	    "'since'");
	fails(&r, "{\"cmd\": 7}", "bad_request", "'cmd'");
	fails(&r, "[\"ping\"]", "bad_request", "object");
	fails(&r, "{\"id\": 1, \"cmd\": \"ping\"", "bad_request",
	    "invalid JSON");
	/* unknown_command */
	fails(&r, "{\"cmd\": \"reboot-everything\"}", "unknown_command",
	    "reboot-everything");

	/* abort is final. */
	fails(&r, "{\"cmd\": \"abort\", \"reason\": \"\"}", "bad_request",
	    "empty");
	v = ok(&r, "{\"cmd\": \"abort\", \"reason\": \"project cancelled\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "aborted");
	json_decref(v);
	fails(&r, "{\"cmd\": \"pause\"}", "conflict", "aborted");
	fails(&r, "{\"cmd\": \"resume\"}", "conflict", "aborted");
	fails(&r, "{\"cmd\": \"skip\", \"server\": \"CAS03\", \"reason\": "
	    "\"x\"}", "conflict", NULL);
	v = ok(&r, "{\"cmd\": \"status\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "aborted");
	ck_assert(json_is_null(json_object_get(v, "eta_s")));
	json_decref(v);

	/* Durable before the answer: a restart shows the same state. */
	ck_assert(tu_kill_wait(&r.d.proc, SIGKILL, tu_ms(10000)));
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	v = ok(&r, "{\"cmd\": \"servers\", \"state\": \"skipped\"}");
	ck_assert_int_eq(json_array_size(v), 1);
	json_decref(v);
	v = ok(&r, "{\"cmd\": \"status\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "aborted");
	json_decref(v);
	rig_stop(&r);
}
END_TEST

START_TEST(test_ids_and_pipelining)
{
	struct tu_rig r;
	struct tu_conn c;
	json_t *v;
	char line[160];

	rig_frozen(&r);
	conn_open(&c, r.sock);
	/* ids of every scalar kind, echoed */
	conn_send(&c, "{\"id\": 42, \"cmd\": \"ping\"}\n"
	    "{\"id\": \"req-7\", \"cmd\": \"ping\"}\n"
	    "{\"id\": null, \"cmd\": \"ping\"}\n"
	    "{\"id\": 0.25, \"cmd\": \"nope\"}\n"
	    "{\"id\": true, \"cmd\": \"approve\", \"cluster\": \"CMS9\"}\n");
	v = conn_answer(&c);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "id")), 42);
	json_decref(v);
	v = conn_answer(&c);
	ck_assert_str_eq(tu_jstr(v, "id"), "req-7");
	json_decref(v);
	v = conn_answer(&c);
	ck_assert(json_is_null(json_object_get(v, "id")));
	json_decref(v);
	v = conn_answer(&c);
	ck_assert(json_real_value(json_object_get(v, "id")) == 0.25);
	ck_assert_str_eq(tu_jstr(json_object_get(v, "error"), "code"),
	    "unknown_command");
	json_decref(v);
	v = conn_answer(&c);
	ck_assert(json_is_true(json_object_get(v, "id")));
	ck_assert_str_eq(tu_jstr(json_object_get(v, "error"), "code"),
	    "not_found");
	json_decref(v);

	/* 300 pipelined requests of every kind, in one go, answered in
	 * order; an invalid line in the middle does not stop the rest. */
	{
		static const char *const cmds[] = { "ping", "status",
			"servers", "clusters", "events", "plan" };
		char *all = malloc(300 * 80);
		size_t len = 0;

		for (int i = 0; i < 300; i++) {
			if (i == 150)
				len += (size_t)snprintf(all + len, 80,
				    "{this is not json\n");
			else
				len += (size_t)snprintf(all + len, 80,
				    "{\"id\": %d, \"cmd\": \"%s\"}\n", i,
				    cmds[i % 6]);
		}
		ck_assert(conn_send(&c, all));
		free(all);
		for (int i = 0; i < 300; i++) {
			v = conn_answer(&c);
			if (i == 150) {
				ck_assert(json_is_null(json_object_get(v, "id")));
				ck_assert_str_eq(tu_jstr(json_object_get(v,
				    "error"), "code"), "bad_request");
			} else {
				ck_assert_int_eq(json_integer_value(
				    json_object_get(v, "id")), i);
				ck_assert(json_is_true(json_object_get(v,
				    "ok")));
			}
			json_decref(v);
		}
	}
	/* Still open and answering. */
	snprintf(line, sizeof(line), "{\"id\": \"last\", \"cmd\": \"ping\"}\n");
	conn_send(&c, line);
	v = conn_answer(&c);
	ck_assert_str_eq(tu_jstr(v, "id"), "last");
	json_decref(v);
	tu_conn_close(&c);
	rig_stop(&r);
}
END_TEST

START_TEST(test_two_hundred_clients)
{
	enum { N = 200 };
	struct tu_rig r;
	struct tu_conn *cs = calloc(N, sizeof(*cs));
	char line[96];

	rig_frozen(&r);
	for (int i = 0; i < N; i++)
		conn_open(&cs[i], r.sock);
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "{\"id\": %d, \"cmd\": \"%s\"}\n",
		    i, i % 2 ? "status" : "ping");
		ck_assert(conn_send(&cs[i], line));
	}
	for (int i = 0; i < N; i++) {
		json_t *v = conn_answer(&cs[i]);

		ck_assert(json_is_true(json_object_get(v, "ok")));
		ck_assert_int_eq(json_integer_value(json_object_get(v, "id")), i);
		json_decref(v);
	}
	for (int i = 0; i < N; i++)
		tu_conn_close(&cs[i]);
	free(cs);
	/* The daemon is still well. */
	json_decref(ok(&r, "{\"cmd\": \"ping\"}"));
	rig_stop(&r);
}
END_TEST

START_TEST(test_foreign_uid_refused)
{
	struct tu_rig r;
	struct stat st;
	pid_t pid;
	int status;
	json_t *v;

	rig_frozen(&r);
	ck_assert_int_eq(lstat(r.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0660);
	if (geteuid() != 0) {
		printf("test_foreign_uid_refused: peer check skipped (needs "
		    "root to run a client as another uid)\n");
		rig_stop(&r);
		return;
	}
	/* Open the file system's door so the daemon's own check decides. */
	ck_assert_int_eq(chmod(r.dir, 0755), 0);
	ck_assert_int_eq(chmod(r.sock, 0666), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct tu_conn c = { .fd = -1 };
		json_t *a;
		int rc = 0;

		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
		    setuid(65534) != 0)
			_exit(10);
		if ((c.fd = tu_unix_connect(r.sock)) < 0)
			_exit(11);
		/* A pause that must never happen. */
		(void)conn_send(&c, "{\"id\": 3, \"cmd\": \"pause\"}\n");
		a = conn_read(&c, tu_ms(10000));
		if (a == NULL || !json_is_false(json_object_get(a, "ok")) ||
		    strcmp(tu_jstr(json_object_get(a, "error"), "code"),
		    "forbidden") != 0)
			rc = 12;
		json_decref(a);
		if (rc == 0 && conn_read(&c, tu_ms(10000)) != NULL)
			rc = 13;	/* more than one line */
		if (rc == 0 && !c.eof)
			rc = 14;	/* not hung up on */
		tu_conn_close(&c);
		_exit(rc);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	v = ok(&r, "{\"cmd\": \"status\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "waiting_window");
	json_decref(v);
	rig_stop(&r);
}
END_TEST

struct follow_wait {
	const char *path;
	const char *needle;
};

static bool
file_has(void *arg)
{
	struct follow_wait *w = arg;
	char *text = tu_read_file(w->path);
	bool yes = text != NULL && strstr(text, w->needle) != NULL;

	free(text);
	return yes;
}

START_TEST(test_exrollctl_against_daemon)
{
	static const char *const status[] = { "status", NULL };
	static const char *const servers[] = { "--json", "servers", "--role",
		"Mailbox", NULL };
	static const char *const bad[] = { "approve", "CMS9", NULL };
	static const char *const usage[] = { "approve", NULL };
	static const char *const pause[] = { "pause", "window", "check", NULL };
	struct tu_rig r;
	json_t *j;
	char *out;

	rig_frozen(&r);
	ck_assert_int_eq(tu_rig_exrollctl(&r, status, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "Rollout waiting_window"));
	ck_assert_ptr_nonnull(strstr(out, "0/13 servers"));
	free(out);
	ck_assert_int_eq(tu_rig_exrollctl(&r, servers, &out), 0);
	j = json_loads(out, 0, NULL);
	ck_assert_msg(json_is_array(j), "--json output: %s", out);
	ck_assert_int_eq(json_array_size(j), 6);
	json_decref(j);
	free(out);
	ck_assert_int_eq(tu_rig_exrollctl(&r, bad, &out), 1);
	ck_assert_ptr_nonnull(strstr(out, "no cluster 'CMS9'"));
	ck_assert_ptr_nonnull(strstr(out, "not_found"));
	free(out);
	ck_assert_int_eq(tu_rig_exrollctl(&r, usage, &out), 2);
	free(out);
	ck_assert_int_eq(tu_rig_exrollctl(&r, pause, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "rollout paused"));
	free(out);
	/* The reason's words, joined, reached the event log. */
	{
		size_t i;
		json_t *it;
		bool found = false;

		j = ok(&r, "{\"cmd\": \"events\"}");
		json_array_foreach(j, i, it)
			found |= strstr(tu_jstr(it, "message"), "pause: window "
			    "check") != NULL;
		ck_assert(found);
		json_decref(j);
	}
	/* events --follow: the whole history in pages of 2, then what
	 * happens next, each event once. */
	{
		char *bin = tu_build_path("exrollctl");
		char *log = tu_path(r.dir, "follow.out");
		char *argv[] = { bin, (char *)"--socket", r.sock,
			(char *)"events", (char *)"--follow", (char *)"--limit",
			(char *)"2", NULL };
		struct follow_wait fw = { log, "pause: window check" };
		struct tu_proc p;
		char *text;

		ck_assert_int_eq(tu_spawn(&p, log, argv), 0);
		ck_assert_msg(tu_wait(file_has, &fw, tu_ms(20000)),
		    "history not printed");
		json_decref(ok(&r, "{\"cmd\": \"resume\", \"reason\": "
		    "\"follow test\"}"));
		fw.needle = "resume";
		ck_assert_msg(tu_wait(file_has, &fw, tu_ms(20000)),
		    "new event not streamed");
		ck_assert(!tu_proc_exited(&p));
		ck_assert(tu_kill_wait(&p, SIGTERM, tu_ms(10000)));
		text = tu_read_file(log);
		/* seq 1 once, at the start of a line (after the padding). */
		ck_assert_ptr_nonnull(strstr(text, "     1  "));
		ck_assert_ptr_null(strstr(strstr(text, "     1  ") + 1,
		    "\n     1  "));
		free(text);
		tu_proc_free(&p);
		free(bin);
		free(log);
	}
	rig_stop(&r);
	/* No daemon: 3. */
	{
		struct tu_rig gone = { 0 };
		static const char *const ping[] = { "ping", NULL };

		gone.dir = tu_tmpdir("ctlgone");
		gone.sock = tu_path(gone.dir, "none.sock");
		ck_assert_int_eq(tu_rig_exrollctl(&gone, ping, &out), 3);
		ck_assert_ptr_nonnull(strstr(out, "none.sock"));
		free(out);
		tu_rmrf(gone.dir);
		free(gone.dir);
		free(gone.sock);
	}
}
END_TEST

/* ---- steered rig ------------------------------------------------------ */

static bool
failed_has_cas01(void *arg)
{
	json_t *st = tu_rig_status(arg), *f = json_object_get(st, "failed");
	bool yes = json_array_size(f) == 1 &&
	    strcmp(json_string_value(json_array_get(f, 0)), "CAS01") == 0 &&
	    strcmp(tu_jstr(st, "state"), "paused") == 0;

	json_decref(st);
	return yes;
}

START_TEST(test_steered_rollout_with_stalled_watcher)
{
	static const char *const sim[] = { "--fail-setup", "CAS01", NULL };
	struct tu_rig r;
	struct tu_conn stalled, watcher;
	json_t *v, *evs, *it, *seen, *st = NULL;
	json_int_t m0 = 0, last = 0;
	size_t i;
	int approvals = 0;

	rig_start(&r, "\"retries\": 0", NULL, sim);
	/* A watch client that never reads again after its acknowledgement,
	 * and one that reads everything. */
	conn_open(&stalled, r.sock);
	conn_send(&stalled, "{\"id\": \"s\", \"cmd\": \"watch\"}\n");
	v = conn_answer(&stalled);
	ck_assert(json_is_true(json_object_get(json_object_get(v, "result"),
	    "watching")));
	json_decref(v);
	conn_open(&watcher, r.sock);
	conn_send(&watcher, "{\"id\": \"w\", \"cmd\": \"watch\"}\n");
	v = conn_answer(&watcher);
	ck_assert_str_eq(tu_jstr(v, "id"), "w");
	json_decref(v);
	/* Every event after this one must reach the watcher. */
	evs = ok(&r, "{\"cmd\": \"events\", \"limit\": 10000}");
	json_array_foreach(evs, i, it)
		m0 = json_integer_value(json_object_get(it, "seq"));
	json_decref(evs);
	seen = json_object();

	/* Setup fails on CAS01: the rollout pauses for the operator. */
	ck_assert_msg(tu_wait(failed_has_cas01, &r, tu_ms(60000)),
	    "CAS01 never failed");
	v = ok(&r, "{\"cmd\": \"servers\", \"state\": \"failed\"}");
	ck_assert_int_eq(json_array_size(v), 1);
	ck_assert(json_is_string(json_object_get(json_array_get(v, 0),
	    "last_error")));
	json_decref(v);
	v = ok(&r, "{\"cmd\": \"retry\", \"server\": \"CAS01\"}");
	ck_assert_str_eq(tu_jstr(v, "server"), "CAS01");
	ck_assert_str_eq(tu_jstr(v, "state"), "running");
	json_decref(v);
	ck_assert_msg(tu_wait(failed_has_cas01, &r, tu_ms(60000)),
	    "CAS01 did not fail again");
	v = ok(&r, "{\"cmd\": \"skip\", \"server\": \"CAS01\", \"reason\": "
	    "\"setup keeps failing; ticket 4711\"}");
	ck_assert_str_eq(tu_jstr(v, "state"), "skipped");
	json_decref(v);

	/* Then the checkpoints, approved as they come. */
	for (;;) {
		json_t *cps, *cp;

		json_decref(st);
		st = tu_rig_wait_checkpoint(&r, tu_ms(90000));
		ck_assert_msg(st != NULL,
		    "no progress to a checkpoint or the end");
		if (strcmp(tu_jstr(st, "state"), "completed") == 0)
			break;
		cps = json_object_get(st, "pending_checkpoints");
		json_array_foreach(cps, i, cp) {
			char line[160];

			snprintf(line, sizeof(line), "{\"cmd\": \"approve\", "
			    "\"cluster\": \"%s\", \"checkpoint\": \"%s\"}",
			    tu_jstr(cp, "cluster"), tu_jstr(cp, "checkpoint"));
			v = ok(&r, line);
			ck_assert_str_eq(tu_jstr(v, "cluster"), tu_jstr(cp,
			    "cluster"));
			ck_assert(json_is_string(json_object_get(v, "step")));
			json_decref(v);
			approvals++;
		}
	}
	ck_assert_int_eq(approvals, 4);
	v = json_object_get(st, "progress");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "done")), 13);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "percent")),
	    100);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "eta_s")), 0);
	json_decref(st);

	/* The watcher saw every event since it started, in order. */
	evs = ok(&r, "{\"cmd\": \"events\", \"limit\": 10000}");
	json_array_foreach(evs, i, it)
		last = json_integer_value(json_object_get(it, "seq"));
	for (json_int_t got = 0; got < last;) {
		json_t *ev;

		v = conn_read(&watcher, tu_ms(20000));
		ck_assert_msg(v != NULL, "watcher stopped at seq %lld of %lld",
		    (long long)got, (long long)last);
		ev = json_object_get(v, "event");
		ck_assert_ptr_nonnull(ev);
		ck_assert_int_gt(json_integer_value(json_object_get(ev, "seq")),
		    got);
		got = json_integer_value(json_object_get(ev, "seq"));
		json_object_set_new(seen, tu_jstr(ev, "kind"), json_true());
		json_decref(v);
	}
	json_decref(evs);
	ck_assert_int_gt(last, m0);
	ck_assert_ptr_nonnull(json_object_get(seen, "operator"));
	json_decref(seen);
	/* The stalled client holds a few events in its socket buffer (or
	 * was dropped); either way the daemon answers and completed. */
	json_decref(ok(&r, "{\"cmd\": \"ping\"}"));
	tu_conn_close(&stalled);
	tu_conn_close(&watcher);
	rig_stop(&r);
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control_integration");
	TCase *frozen = tcase_create("frozen");
	TCase *steered = tcase_create("steered");

	tcase_set_timeout(frozen, tu_ms(120));
	tcase_add_test(frozen, test_read_commands);
	tcase_add_test(frozen, test_mutating_commands_and_errors);
	tcase_add_test(frozen, test_ids_and_pipelining);
	tcase_add_test(frozen, test_two_hundred_clients);
	tcase_add_test(frozen, test_foreign_uid_refused);
	tcase_add_test(frozen, test_exrollctl_against_daemon);
	suite_add_tcase(s, frozen);
	tcase_set_timeout(steered, tu_ms(300));
	tcase_add_test(steered, test_steered_rollout_with_stalled_watcher);
	suite_add_tcase(s, steered);
	return s;
}

int
main(void)
{
	return tu_run(control_suite());
}
