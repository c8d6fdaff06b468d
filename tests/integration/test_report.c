/*
 * test_report — the run report of a real rollout: exrolld against
 * exchange-sim over HTTP (time scaled 7200 times), the CCR checkpoints
 * approved over the control socket as an operator would, then `report`
 * asked of the daemon and printed by exrollctl in its three forms.
 *
 * What is asserted is what the change record relies on: every server of
 * the example organization is done, at the target, with a setup phase;
 * both clusters have their failover and failback approved by this test's
 * uid, and their two moves; the totals agree with what the simulator
 * recorded; every event the daemon wrote carries its data, and the report
 * read every one of them (none left raw). Nothing sleeps: every wait is
 * for a condition, with a deadline.
 */
#include <check.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* The example organization, CMS2 active on its second node, time x7200,
 * rehearsal timings, every CCR checkpoint waiting for an approval; the
 * daemon started. */
static void
rig_start(struct tu_rig *r)
{
	static const char *const sim_args[] = { "--time-scale", "7200",
	    "--seed", "11", "--active", "CMS2=MBX2B", NULL };

	ck_assert_int_eq(tu_rig_start(r, "report", NULL,
	    "\"request_timeout_s\": 5", "\"verify_timeout_s\": 60, "
	    "\"install_timeout_s\": 120, \"max_parallel\": {\"Mailbox\": 2}, "
	    "\"checkpoints\": \"approve\"", NULL, sim_args), 0);
	ck_assert_int_eq(tu_rig_daemon(r), 0);
}

static void
rig_stop(struct tu_rig *r)
{
	ck_assert(tu_kill_wait(&r->d.proc, SIGTERM, tu_ms(10000)));
	/* A clean stop: exit 0 (a sanitizer's report, after building
	 * reports, would not be). */
	if (!WIFEXITED(r->d.proc.status) || WEXITSTATUS(r->d.proc.status) != 0) {
		char *log = tu_proc_output(&r->d.proc);
		size_t n = log != NULL ? strlen(log) : 0;

		/* The end of the log: Check's message has a bounded size. */
		ck_abort_msg("exrolld did not stop cleanly (status %d):\n%s",
		    r->d.proc.status, log != NULL ? log + (n > 1500 ?
		    n - 1500 : 0) : "");
	}
	tu_rig_stop(r);
}

/* Runs the rollout to its end, approving every checkpoint; returns the
 * approvals given. */
static int
rig_run(struct tu_rig *r)
{
	int approvals = 0;

	for (;;) {
		json_t *st, *cp;
		size_t i;

		st = tu_rig_wait_checkpoint(r, tu_ms(60000));
		ck_assert_msg(st != NULL,
		    "no progress to a checkpoint or the end");
		if (strcmp(tu_jstr(st, "state"), "completed") == 0) {
			json_decref(st);
			return approvals;
		}
		json_array_foreach(json_object_get(st, "pending_checkpoints"),
		    i, cp) {
			json_t *args = json_pack("{s:s, s:s}", "cluster",
			    tu_jstr(cp, "cluster"), "checkpoint",
			    tu_jstr(cp, "checkpoint"));
			json_t *res = tu_ctl_cmd(r->sock, "approve", args);

			ck_assert_ptr_nonnull(res);
			json_decref(res);
			json_decref(args);
			approvals++;
		}
		json_decref(st);
	}
}

/* "uid 1000 (name)": how the daemon names us as an actor. */
static void
my_actor(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());
	char num[24];

	snprintf(num, sizeof(num), "%u", (unsigned)geteuid());
	if (pw == NULL || strcmp(pw->pw_name, num) == 0)
		snprintf(buf, len, "uid %s", num);
	else
		snprintf(buf, len, "uid %s (%s)", num, pw->pw_name);
}

static const json_t *
find_unit(const json_t *rep, const char *name)
{
	size_t i;
	json_t *u;

	json_array_foreach(json_object_get(rep, "units"), i, u)
		if (strcmp(tu_jstr(u, "name"), name) == 0)
			return u;
	return NULL;
}

static bool
has_phase(const json_t *u, const char *phase)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(u, "phases"), i, p)
		if (strcmp(tu_jstr(p, "phase"), phase) == 0)
			return true;
	return false;
}

START_TEST(report_of_a_real_rollout)
{
	struct tu_rig r;
	json_t *rep, *state, *rec, *it, *tot;
	const json_t *u;
	char actor[128];
	size_t i, nservers = 0;

	rig_start(&r);
	ck_assert_int_eq(rig_run(&r), 4);
	my_actor(actor, sizeof(actor));
	rep = tu_ctl_cmd(r.sock, "report", NULL);
	ck_assert_ptr_nonnull(rep);
	state = tu_sim_get(&r.sim, "/sim/state");
	rec = tu_sim_get(&r.sim, "/sim/record");
	ck_assert_ptr_nonnull(state);
	ck_assert_ptr_nonnull(rec);

	ck_assert_str_eq(tu_jstr(json_object_get(rep, "rollout"), "state"),
	    "completed");
	ck_assert_str_eq(tu_jstr(json_object_get(rep, "rollout"),
	    "target_version"), "8.1.240.6");
	/* Every server of the organization: done, at the target, with the
	 * setup the simulator saw as its phase. */
	json_array_foreach(json_object_get(state, "servers"), i, it) {
		const char *name = tu_jstr(it, "name");
		json_int_t setups = json_integer_value(json_object_get(
		    json_object_get(rec, "setups"), name));

		u = find_unit(rep, name);
		ck_assert_msg(u != NULL, "server %s is not in the report",
		    name);
		ck_assert_msg(strcmp(tu_jstr(u, "state"), "done") == 0,
		    "server %s is %s in the report", name, tu_jstr(u, "state"));
		ck_assert_str_eq(tu_jstr(u, "version"), "8.1.240.6");
		ck_assert_msg(has_phase(u, "install"), "server %s has no "
		    "install phase", name);
		ck_assert_msg(has_phase(u, "precheck") &&
		    has_phase(u, "verify"), "server %s lacks a phase", name);
		ck_assert_int_eq(json_integer_value(json_object_get(u,
		    "setups")), setups);
		ck_assert(json_is_integer(json_object_get(json_object_get(u,
		    "phase_ms"), "install")));
		ck_assert_str_eq(tu_jstr(json_object_get(u, "end"), "state"),
		    "done");
		nservers++;
	}
	ck_assert_int_eq(nservers, 13);
	/* Both clusters: their two checkpoints approved by us, the moves
	 * the simulator counted. */
	for (i = 0; i < 2; i++) {
		const char *name = i == 0 ? "CMS1" : "CMS2";
		const json_t *cps, *mv;
		size_t k;
		json_t *cp;

		u = find_unit(rep, name);
		ck_assert_msg(u != NULL, "cluster %s is not in the report",
		    name);
		ck_assert_str_eq(tu_jstr(u, "kind"), "cluster");
		ck_assert_str_eq(tu_jstr(u, "step"), "done");
		cps = json_object_get(u, "checkpoints");
		ck_assert_int_eq(json_array_size(cps), 2);
		ck_assert_str_eq(tu_jstr(json_array_get(cps, 0), "checkpoint"),
		    "failover");
		ck_assert_str_eq(tu_jstr(json_array_get(cps, 1), "checkpoint"),
		    "failback");
		json_array_foreach(cps, k, cp) {
			ck_assert_str_eq(tu_jstr(cp, "approved_by"), actor);
			ck_assert(json_is_string(json_object_get(cp,
			    "approved_at")));
			ck_assert(json_integer_value(json_object_get(cp,
			    "waited_ms")) >= 0);
		}
		mv = json_object_get(u, "moves");
		ck_assert_int_eq((json_int_t)json_array_size(mv),
		    json_integer_value(json_object_get(json_object_get(rec,
		    "moves"), name)));
		ck_assert_int_eq(json_array_size(mv), 2);
		ck_assert_str_eq(tu_jstr(json_array_get(mv, 0), "step"),
		    "failover");
		ck_assert_str_eq(tu_jstr(json_array_get(mv, 1), "step"),
		    "failback");
		ck_assert_str_eq(tu_jstr(json_array_get(mv, 1), "to"),
		    tu_jstr(u, "original_active"));
	}
	/* CMS2 started on MBX2B: the report says so. */
	ck_assert_str_eq(tu_jstr(find_unit(rep, "CMS2"), "original_active"),
	    "MBX2B");
	tot = json_object_get(rep, "totals");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    tot, "servers"), "done")), 13);
	ck_assert_int_eq(json_integer_value(json_object_get(tot, "moves")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(tot, "approvals")),
	    4);
	ck_assert_int_eq(json_integer_value(json_object_get(tot,
	    "operator_actions")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(tot, "setups")),
	    13);
	ck_assert(json_integer_value(json_object_get(tot, "wall_ms")) > 0);
	ck_assert_int_eq(json_array_size(json_object_get(rep, "waves")), 5);
	/* The log over the socket: each event with its data object, and the
	 * report needed no message. */
	ck_assert_int_eq(json_array_size(json_object_get(rep, "raw_events")),
	    0);
	{
		json_t *args = json_pack("{s:i}", "limit", 10000);
		json_t *evs = tu_ctl_cmd(r.sock, "events", args);

		ck_assert_ptr_nonnull(evs);
		ck_assert_int_eq((json_int_t)json_array_size(evs),
		    json_integer_value(json_object_get(tot, "events")));
		json_array_foreach(evs, i, it)
			ck_assert_msg(json_is_object(json_object_get(it, "data")),
			    "event %lld (%s of '%s') has no data",
			    (long long)json_integer_value(json_object_get(it,
			    "seq")), tu_jstr(it, "kind"), tu_jstr(it, "subject"));
		json_decref(evs);
		json_decref(args);
	}
	json_decref(state);
	json_decref(rec);
	json_decref(rep);
	rig_stop(&r);
}
END_TEST

START_TEST(exrollctl_report_forms)
{
	static const char *const text[] = { "report", NULL };
	static const char *const md[] = { "report", "--markdown", NULL };
	static const char *const json1[] = { "--json", "report", NULL };
	static const char *const json2[] = { "report", "--json", NULL };
	static const char *const both[] = { "report", "--json", "--markdown",
		NULL };
	struct tu_rig r;
	json_t *a, *b;
	char *out;

	rig_start(&r);
	rig_run(&r);
	ck_assert_int_eq(tu_rig_exrollctl(&r, text, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "Rollout report: Exchange 2007 "
	    "upgrade to 8.1.240.6\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n  State        completed"));
	ck_assert_ptr_nonnull(strstr(out, "\n  MBX2B (CMS2) "));
	ck_assert_ptr_nonnull(strstr(out, "\n  CMS1 (wave 5): done\n"));
	free(out);
	ck_assert_int_eq(tu_rig_exrollctl(&r, md, &out), 0);
	ck_assert_int_eq(strncmp(out, "# Rollout report", 16), 0);
	ck_assert_ptr_nonnull(strstr(out, "\n## Servers\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n| EXALL01 "));
	ck_assert_ptr_nonnull(strstr(out, "\n### CMS2 (wave 5): done\n"));
	free(out);
	/* --json either side of the command: the same document (but for
	 * when it was made). */
	ck_assert_int_eq(tu_rig_exrollctl(&r, json1, &out), 0);
	a = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
	free(out);
	ck_assert_int_eq(tu_rig_exrollctl(&r, json2, &out), 0);
	b = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
	free(out);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(json_is_string(json_object_get(a, "generated_at")));
	json_object_del(a, "generated_at");
	json_object_del(b, "generated_at");
	ck_assert(json_equal(a, b));
	ck_assert_int_eq(json_array_size(json_object_get(a, "units")), 15);
	json_decref(a);
	json_decref(b);
	/* Both forms at once is a usage error, before any connection. */
	ck_assert_int_eq(tu_rig_exrollctl(&r, both, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "exclude each other"));
	free(out);
	rig_stop(&r);
}
END_TEST

static Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, report_of_a_real_rollout);
	tcase_add_test(tc, exrollctl_report_forms);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(report_suite());
}
