/*
 * test_rollout — whole rollouts of the example organization: the real
 * exrolld against the real exchange-sim over HTTP, a real SQLite file, the
 * real control socket, and real SIGKILLs. What is asserted is what the
 * simulated organization saw (its record: setups, moves, violations) and
 * what the daemon says over its socket.
 *
 * Time is scaled in the simulator (an hour of setup in half a second); the
 * daemon runs with rehearsal timings. Nothing sleeps: every wait is for a
 * condition, with a deadline.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

/* The example organization, CMS2 active on its second node, time x7200;
 * rehearsal timings and two mailbox units at once unless the case sets
 * max_parallel; policy and sim_extra are the case's own. */
static void
rig_start(struct tu_rig *r, const char *policy, const char *const sim_extra[])
{
	const char *base[] = { "--time-scale", "7200", "--seed", "11",
	    "--active", "CMS2=MBX2B", NULL };
	const char *args[32];
	char pol[1024];
	size_t n = 0;
	bool own_mp = policy != NULL && strstr(policy, "max_parallel") != NULL;

	for (size_t i = 0; base[i]; i++)
		args[n++] = base[i];
	for (size_t i = 0; sim_extra && sim_extra[i] && n < 30; i++)
		args[n++] = sim_extra[i];
	args[n] = NULL;
	ck_assert_int_lt(snprintf(pol, sizeof(pol), "\"verify_timeout_s\": 60, "
	    "\"install_timeout_s\": 120, %s%s%s",
	    own_mp ? "" : "\"max_parallel\": {\"Mailbox\": 2}",
	    policy && !own_mp ? ", " : "", policy ? policy : ""),
	    (int)sizeof(pol));
	ck_assert_int_eq(tu_rig_start(r, "rollout", NULL,
	    "\"request_timeout_s\": 5", pol, NULL, args), 0);
}

/* The simulator's record: the count under record[field][name]. */
static long
rig_count(struct tu_rig *r, const char *field, const char *name)
{
	json_t *rec = tu_sim_get(&r->sim, "/sim/record");
	long n;

	ck_assert_ptr_nonnull(rec);
	n = (long)json_integer_value(json_object_get(json_object_get(rec, field),
	    name));
	json_decref(rec);
	return n;
}

/* What every complete, clean rollout of the example leaves behind. */
static void
rig_assert_clean_end(struct tu_rig *r)
{
	json_t *rec = tu_sim_get(&r->sim, "/sim/record");
	json_t *state = tu_sim_get(&r->sim, "/sim/state");
	json_t *v, *it;
	size_t i;

	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_nonnull(state);
	v = json_object_get(rec, "violations");
	if (json_array_size(v) != 0) {
		char *dump = json_dumps(v, JSON_INDENT(1));

		ck_abort_msg("the simulator recorded violations: %s", dump);
	}
	json_array_foreach(json_object_get(state, "servers"), i, it) {
		ck_assert_msg(strcmp(tu_jstr(it, "version"), "8.1.240.6") == 0,
		    "server %s at %s", tu_jstr(it, "name"), tu_jstr(it, "version"));
		ck_assert_msg(json_integer_value(json_object_get(
		    json_object_get(rec, "setups"), tu_jstr(it, "name"))) == 1,
		    "server %s had %lld setups", tu_jstr(it, "name"),
		    json_integer_value(json_object_get(json_object_get(rec,
		    "setups"), tu_jstr(it, "name"))));
	}
	/* Each cluster moved exactly twice and is back where it was. */
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_object_get(rec, "moves"), "CMS1")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_object_get(rec, "moves"), "CMS2")), 2);
	json_array_foreach(json_object_get(state, "clusters"), i, it) {
		const char *want = strcmp(tu_jstr(it, "name"), "CMS1") == 0 ?
		    "MBX1A" : "MBX2B";

		ck_assert_str_eq(tu_jstr(it, "owner"), want);
		ck_assert_str_eq(tu_jstr(it, "state"), "Online");
	}
	json_decref(rec);
	json_decref(state);
}

START_TEST(full_rollout_with_approvals)
{
	struct tu_rig r;
	int approvals = 0;
	json_t *resp, *events;

	rig_start(&r, NULL, NULL);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	for (;;) {
		json_t *st, *cps, *cp;
		size_t i;

		/* Completed, or a checkpoint waiting. */
		st = tu_rig_wait_checkpoint(&r, tu_ms(60000));
		ck_assert_msg(st != NULL,
		    "no progress to a checkpoint or the end");
		if (strcmp(tu_jstr(st, "state"), "completed") == 0) {
			json_decref(st);
			break;
		}
		cps = json_object_get(st, "pending_checkpoints");
		json_array_foreach(cps, i, cp) {
			const char *cl = tu_jstr(cp, "cluster");
			bool fo = strcmp(tu_jstr(cp, "checkpoint"), "failover") == 0;
			json_t *args = json_pack("{s:s}", "cluster", cl), *res;

			/* Nothing moved before the operator said so. */
			ck_assert_int_eq(rig_count(&r, "moves", cl), fo ? 0 : 1);
			res = tu_ctl_cmd(r.sock, "approve", args);
			ck_assert_ptr_nonnull(res);
			json_decref(res);
			json_decref(args);
			approvals++;
		}
		json_decref(st);
	}
	ck_assert_int_eq(approvals, 4);
	/* Approving a cluster that is not waiting is refused. */
	resp = tu_ctl(r.sock, "{\"id\": \"x\", \"cmd\": \"approve\", "
	    "\"cluster\": \"CMS1\", \"checkpoint\": \"failover\"}");
	ck_assert_ptr_nonnull(resp);
	ck_assert_str_eq(tu_jstr(resp, "id"), "x");
	ck_assert(json_is_false(json_object_get(resp, "ok")));
	ck_assert_str_eq(tu_jstr(json_object_get(resp, "error"), "code"),
	    "conflict");
	json_decref(resp);
	resp = tu_ctl(r.sock, "{\"id\": 2, \"cmd\": \"approve\", "
	    "\"cluster\": \"CMS9\"}");
	ck_assert_str_eq(tu_jstr(json_object_get(resp, "error"), "code"),
	    "not_found");
	json_decref(resp);
	rig_assert_clean_end(&r);

	/* Events in the order of the procedure. */
	resp = json_pack("{s:i}", "limit", 10000);
	events = tu_ctl_cmd(r.sock, "events", resp);
	json_decref(resp);
	ck_assert_ptr_nonnull(events);
	ck_assert_int_lt(tu_event_seq(events, "server.state", "CAS03", "-> done"),
	    tu_event_seq(events, "server.state", "EDGE01", "pending ->"));
	ck_assert_int_lt(tu_event_seq(events, "server.state", "HUB02", "-> done"),
	    tu_event_seq(events, "server.state", "UM01", "pending ->"));
	ck_assert_int_lt(tu_event_seq(events, "server.state", "UM01", "-> done"),
	    tu_event_seq(events, "server.state", "MBX01", "pending ->"));
	ck_assert_int_lt(tu_event_seq(events, "cluster.step", "CMS2", "-> upgrade_passive"),
	    tu_event_seq(events, "cluster.step", "CMS2", "-> failover"));
	ck_assert_int_lt(tu_event_seq(events, "cluster.approved", "CMS2", "failover"),
	    tu_event_seq(events, "cluster.action", "CMS2", "stopping"));
	ck_assert_int_lt(tu_event_seq(events, "cluster.step", "CMS2",
	    "-> upgrade_former_active"), tu_event_seq(events, "cluster.step", "CMS2",
	    "-> failback"));
	ck_assert_int_gt(tu_event_seq(events, "cluster.step", "CMS2", "-> done"), 0);
	/* CMS2 started on MBX2B (the configuration lists MBX2A first). */
	ck_assert_int_gt(tu_event_seq(events, "cluster.step", "CMS2",
	    "active node 'MBX2B'"), 0);
	json_decref(events);
	tu_rig_stop(&r);
}
END_TEST

/* A tiny deterministic generator: the kill schedule is the seed's. */
static unsigned long rng_state = 20261130;

static unsigned
rng(unsigned n)
{
	rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rng_state >> 33) % n);
}

struct run_wait {
	struct tu_rig *r;
	struct tu_proc *p;
	long *seq;		/* the last event seq seen */
	long target_seq;	/* external kill when events reach this */
};

/* The newest event's seq, paging from the last one seen (*seq). */
static long
last_seq(const struct tu_rig *r, long *seq)
{
	for (;;) {
		json_t *args = json_pack("{s:I, s:i}", "since",
		    (json_int_t)*seq, "limit", 500);
		json_t *ev = tu_ctl_cmd(r->sock, "events", args);
		size_t n = json_array_size(ev);

		json_decref(args);
		if (n > 0)
			*seq = (long)json_integer_value(json_object_get(
			    json_array_get(ev, n - 1), "seq"));
		json_decref(ev);
		if (n < 500)
			return *seq;
	}
}

/* The daemon died, the rollout completed, or the kill instant came. */
static bool
run_cond(void *arg)
{
	struct run_wait *w = arg;

	if (tu_proc_exited(w->p))
		return true;
	if (tu_rig_state_is(w->r, "completed"))
		return true;
	return w->target_seq > 0 && last_seq(w->r, w->seq) >= w->target_seq;
}

static void
spawn_daemon(struct tu_rig *r, struct tu_proc *p, const char *crash)
{
	char *bin = tu_build_path("exrolld"), *log = tu_path(r->dir, "exrolld.log");
	char *argv[] = { bin, (char *)"--config", r->cfg, NULL };

	if (crash)
		setenv("EXROLL_CRASH_POINT", crash, 1);
	else
		unsetenv("EXROLL_CRASH_POINT");
	ck_assert_int_eq(tu_spawn(p, log, argv), 0);
	unsetenv("EXROLL_CRASH_POINT");
	free(bin);
	free(log);
}

static bool
killed_by_sigkill(struct tu_proc *p)
{
	return p->exited && WIFSIGNALED(p->status) &&
	    WTERMSIG(p->status) == SIGKILL;
}

static bool
up_or_dead(void *arg)
{
	struct run_wait *w = arg;
	json_t *st;

	if (tu_proc_exited(w->p))
		return true;
	st = tu_rig_status(w->r);
	json_decref(st);
	return st != NULL;
}

START_TEST(thirty_kills_same_end)
{
	/* Points every stretch of a rollout passes often, so each armed run
	 * is killed within a few steps; the rarer instants of a move have
	 * their own cases below. */
	static const char *points[] = { "commit", "posted", "accepted",
	    "done" };
	struct tu_rig r;
	int kills = 0, runs = 0;
	long seq = 0;
	bool completed = false;

	rig_start(&r, "\"checkpoints\": \"auto\"", NULL);
	while (!completed) {
		struct tu_proc p;
		struct run_wait w = { &r, &p, &seq, 0 };
		char crash[64];
		/* Four runs in five die at a crash point; the fifth is killed
		 * by the test. Each run so moves the rollout on a few steps. */
		bool arm = kills < 30, external = arm && rng(5) == 0;

		ck_assert_int_lt(++runs, 400);
		if (arm && !external) {
			/* Killed by itself at a crash point. */
			snprintf(crash, sizeof(crash), "%s:%u",
			    points[rng(sizeof(points) / sizeof(points[0]))],
			    1 + rng(2));
			spawn_daemon(&r, &p, crash);
		} else {
			spawn_daemon(&r, &p, NULL);
		}
		if (external) {
			/* Killed by the test, a seeded number of events on. */
			ck_assert(tu_wait(up_or_dead, &w, tu_ms(30000)));
			w.target_seq = last_seq(&r, &seq) + 1 + rng(4);
		}
		ck_assert_msg(tu_wait(run_cond, &w, tu_ms(60000)),
		    "run %d made no progress", runs);
		if (external && !tu_proc_exited(&p) &&
		    !tu_rig_state_is(&r, "completed"))
			tu_kill_wait(&p, SIGKILL, tu_ms(10000));
		if (tu_proc_exited(&p)) {
			ck_assert_msg(killed_by_sigkill(&p),
			    "exrolld exited by itself (status %d)", p.status);
			kills++;
		} else {
			completed = true;
			ck_assert(tu_kill_wait(&p, SIGTERM, tu_ms(10000)));
			ck_assert(WIFEXITED(p.status) &&
			    WEXITSTATUS(p.status) == 0);
		}
		tu_proc_free(&p);
	}
	ck_assert_int_ge(kills, 30);
	rig_assert_clean_end(&r);
	tu_rig_stop(&r);
}
END_TEST

/* Kill exrolld at one instant of the first failover's move, with one
 * cluster at a time so the instant is exact, then restart it: the move
 * happens once, and the rollout ends as it would have. moves_at_kill is
 * how many moves the gateway has when the daemon dies (-1: 0 or 1). */
static void
kill_at_move(const char *point, int moves_at_kill)
{
	struct tu_rig r;
	struct tu_proc p;
	long moves;

	rig_start(&r, "\"checkpoints\": \"auto\", "
	    "\"max_parallel\": {\"Mailbox\": 1}", NULL);
	spawn_daemon(&r, &p, point);
	ck_assert_msg(tu_kill_wait(&p, 0, tu_ms(60000)),
	    "exrolld never reached %s", point);
	ck_assert(killed_by_sigkill(&p));
	tu_proc_free(&p);
	moves = rig_count(&r, "moves", "CMS1") + rig_count(&r, "moves", "CMS2");
	if (moves_at_kill >= 0)
		ck_assert_int_eq(moves, moves_at_kill);
	else
		ck_assert_int_le(moves, 1);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	ck_assert(tu_rig_wait_state(&r, "completed", tu_ms(60000)));
	rig_assert_clean_end(&r);
	tu_rig_stop(&r);
}

/* Intent committed, maybe not sent: the gateway may not know it. */
START_TEST(kill_before_move_is_sent)
{
	kill_at_move("posted-cms_move:1", -1);
}
END_TEST

/* Accepted by the gateway, still pending there. */
START_TEST(kill_while_move_pending)
{
	kill_at_move("accepted-cms_move:1", 1);
}
END_TEST

/* Done on the gateway side, its end not yet recorded. */
START_TEST(kill_after_move_done_before_recorded)
{
	kill_at_move("done-cms_move:1", 1);
}
END_TEST

START_TEST(faults_do_not_duplicate)
{
	const char *faults[] = { "--http-500-rate", "0.1", "--drop-rate", "0.05",
	    "--garbage-rate", "0.05", "--lose-rate", "0.05", NULL };
	struct tu_rig r;

	rig_start(&r, "\"checkpoints\": \"auto\"", faults);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	ck_assert(tu_rig_wait_state(&r, "completed", tu_ms(120000)));
	rig_assert_clean_end(&r);
	tu_rig_stop(&r);
}
END_TEST

START_TEST(setup_failure_pauses_then_retry_completes)
{
	const char *faults[] = { "--fail-setup", "HUB01", NULL };
	struct tu_rig r;
	json_t *st, *args, *res, *f;

	rig_start(&r, "\"checkpoints\": \"auto\", \"retries\": 1", faults);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	ck_assert(tu_rig_wait_state(&r, "paused", tu_ms(60000)));
	st = tu_rig_status(&r);
	ck_assert_ptr_nonnull(strstr(tu_jstr(st, "reason"), "HUB01"));
	ck_assert_ptr_nonnull(strstr(tu_jstr(st, "reason"), "1603"));
	ck_assert_str_eq(json_string_value(json_array_get(
	    json_object_get(st, "failed"), 0)), "HUB01");
	json_decref(st);
	ck_assert_int_eq(rig_count(&r, "setups", "HUB01"), 2);
	/* Nothing of a later wave started while the Hub wave failed. */
	ck_assert_int_eq(rig_count(&r, "setups", "UM01"), 0);
	f = tu_sim_post(&r.sim, "/sim/faults", "{\"fail_setup\": []}");
	ck_assert_ptr_nonnull(f);
	json_decref(f);
	args = json_pack("{s:s}", "server", "HUB01");
	res = tu_ctl_cmd(r.sock, "retry", args);
	json_decref(args);
	ck_assert_ptr_nonnull(res);
	json_decref(res);
	ck_assert(tu_rig_wait_state(&r, "completed", tu_ms(60000)));
	ck_assert_int_eq(rig_count(&r, "setups", "HUB01"), 3);
	tu_rig_stop(&r);
}
END_TEST

static Suite *
rollout_suite(void)
{
	Suite *s = suite_create("rollout");
	TCase *tc = tcase_create("rollout");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, full_rollout_with_approvals);
	tcase_add_test(tc, thirty_kills_same_end);
	tcase_add_test(tc, kill_before_move_is_sent);
	tcase_add_test(tc, kill_while_move_pending);
	tcase_add_test(tc, kill_after_move_done_before_recorded);
	tcase_add_test(tc, faults_do_not_duplicate);
	tcase_add_test(tc, setup_failure_pauses_then_retry_completes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(rollout_suite());
}
