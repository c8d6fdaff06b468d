/*
 * test_daemon — exrolld as a process: command line, start-up refusals,
 * signals, reload, the systemd notification protocol, and a maintenance
 * window closing and reopening during a rollout. Real processes, real
 * sockets, real SQLite files, exchange-sim over HTTP.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* A rig on org (NULL: the example organization), time x7200 unless
 * sim_args say otherwise, checkpoints approved by the daemon itself and
 * its own defaults for the rest; policy is more policy members and top
 * more top-level ones (or NULL). No daemon yet. */
static void
rig_start(struct tu_rig *r, const char *policy, const char *top,
    const char *org, const char *const sim_args[])
{
	static const char *const fast[] = { "--time-scale", "7200", NULL };
	char pol[512];

	ck_assert_int_lt(snprintf(pol, sizeof(pol), "\"checkpoints\": "
	    "\"auto\"%s%s", policy ? ", " : "", policy ? policy : ""),
	    (int)sizeof(pol));
	ck_assert_int_eq(tu_rig_start(r, "daemon", org, NULL, pol, top,
	    sim_args ? sim_args : fast), 0);
}

/* Runs exrolld with args to its end; returns the exit status and its
 * output (malloc'd) in *out. */
static int
run_exrolld(struct tu_rig *r, const char *const args[], char **out)
{
	char *bin = tu_build_path("exrolld"), *log = tu_path(r->dir, "run.log");
	char *argv[16];
	struct tu_proc p;
	size_t n = 0;

	unlink(log);
	argv[n++] = bin;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	ck_assert_int_eq(tu_spawn(&p, log, argv), 0);
	ck_assert(tu_kill_wait(&p, 0, tu_ms(30000)));
	*out = tu_proc_output(&p);
	tu_proc_free(&p);
	free(bin);
	free(log);
	return WIFEXITED(p.status) ? WEXITSTATUS(p.status) : 128;
}

START_TEST(check_config_and_plan)
{
	struct tu_rig r;
	char *out, *bad;
	const char *check[] = { "--config", NULL, "--check-config", NULL };
	const char *plan[] = { "--config", NULL, "--plan", "--json", NULL };

	rig_start(&r, NULL, NULL, NULL, NULL);
	check[1] = r.cfg;
	ck_assert_int_eq(run_exrolld(&r, check, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "valid: 13 servers, 2 clusters"));
	free(out);
	plan[1] = r.cfg;
	ck_assert_int_eq(run_exrolld(&r, plan, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"kind\": \"cluster\""));
	free(out);
	/* Two mistakes, both reported with their place; nothing started. */
	bad = tu_path(r.dir, "bad.json");
	ck_assert_int_eq(tu_write_file(bad, "{\"servers\": [\n"
	    "  {\"name\": \"CAS 01\", \"roles\": [\"ClientAccess\"]},\n"
	    "  {\"name\": \"HUB01\", \"roles\": [\"Hub\"]}]}\n"), 0);
	check[1] = bad;
	ck_assert_int_eq(run_exrolld(&r, check, &out), 1);
	ck_assert_msg(strstr(out, "bad.json:2:") && strstr(out, "CAS 01") &&
	    strstr(out, "bad.json:3:") && strstr(out, "'Hub'"),
	    "unexpected output: %s", out);
	free(out);
	free(bad);
	tu_rig_stop(&r);
}
END_TEST

/* A datagram socket standing in for systemd's NOTIFY_SOCKET. */
static int
notify_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sun.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Next datagram containing needle, within ms; false if none. */
static bool
notify_expect(int fd, const char *needle, int ms, char *got, size_t len)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		if ((n = recv(fd, got, len - 1, 0)) <= 0)
			return false;
		got[n] = '\0';
		if (strstr(got, needle) != NULL)
			return true;
	}
}

START_TEST(notify_ready_watchdog_stopping)
{
	struct tu_rig r;
	char *np, buf[512], *bin, *log;
	struct tu_proc p;
	struct stat st;
	int fd, watchdogs = 0;
	struct timespec t0, t1;
	char *argv[4];

	rig_start(&r, NULL, NULL, NULL, NULL);
	np = tu_path(r.dir, "notify.sock");
	fd = notify_listen(np);
	setenv("NOTIFY_SOCKET", np, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	unsetenv("WATCHDOG_PID");
	bin = tu_build_path("exrolld");
	log = tu_path(r.dir, "exrolld.log");
	argv[0] = bin;
	argv[1] = (char *)"--config";
	argv[2] = r.cfg;
	argv[3] = NULL;
	ck_assert_int_eq(tu_spawn(&p, log, argv), 0);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	/* READY=1 comes only once the control socket listens. */
	ck_assert(notify_expect(fd, "READY=1", tu_ms(20000), buf, sizeof(buf)));
	ck_assert_int_eq(stat(r.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0660);
	json_decref(tu_ctl_cmd(r.sock, "ping", NULL));
	/* The watchdog is pinged at half its interval: 5 pings in ~1 s. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (watchdogs < 5 &&
	    notify_expect(fd, "WATCHDOG=1", tu_ms(2000), buf, sizeof(buf)))
		watchdogs++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(watchdogs, 5);
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000, tu_ms(2000));
	/* SIGTERM: STOPPING=1 and a clean, quick exit. */
	kill(p.pid, SIGTERM);
	ck_assert(notify_expect(fd, "STOPPING=1", tu_ms(5000), buf, sizeof(buf)));
	ck_assert(tu_kill_wait(&p, 0, tu_ms(5000)));
	ck_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	ck_assert_int_ne(access(r.sock, F_OK), 0);	/* socket removed */
	tu_proc_free(&p);
	close(fd);
	free(np);
	free(bin);
	free(log);
	tu_rig_stop(&r);
}
END_TEST

START_TEST(second_instance_refused)
{
	struct tu_rig r;
	char *out, *sock2, *pidstr;
	const char *args[] = { "--config", NULL, "--socket", NULL, NULL };

	rig_start(&r, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	sock2 = tu_path(r.dir, "other.sock");
	args[1] = r.cfg;
	args[3] = sock2;
	ck_assert_int_eq(run_exrolld(&r, args, &out), 1);
	ck_assert_int_ge(asprintf(&pidstr, "pid %d", (int)r.d.proc.pid), 0);
	ck_assert_msg(strstr(out, "in use") && strstr(out, pidstr),
	    "unexpected output: %s", out);
	/* The first daemon is untouched and still answers. */
	json_decref(tu_ctl_cmd(r.sock, "ping", NULL));
	ck_assert(!tu_proc_exited(&r.d.proc));
	free(out);
	free(pidstr);
	free(sock2);
	tu_rig_stop(&r);
}
END_TEST

START_TEST(changed_inventory_refused_state_kept)
{
	struct tu_rig r;
	char *out, *cfg2, *text, *cut;
	const char *args[] = { "--config", NULL, NULL };
	json_t *st;

	rig_start(&r, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	ck_assert(tu_rig_wait_state(&r, "completed", tu_ms(60000)));
	tu_kill_wait(&r.d.proc, SIGTERM, tu_ms(5000));
	tu_daemon_free(&r.d);
	/* The same configuration without UM01. */
	text = tu_read_file(r.cfg);
	cut = strstr(text, "    {\"name\": \"UM01\"");
	ck_assert_ptr_nonnull(cut);
	memmove(cut, strchr(cut, '\n') + 1, strlen(strchr(cut, '\n') + 1) + 1);
	cfg2 = tu_path(r.dir, "changed.json");
	ck_assert_int_eq(tu_write_file(cfg2, text), 0);
	args[1] = cfg2;
	ck_assert_int_eq(run_exrolld(&r, args, &out), 1);
	ck_assert_msg(strstr(out, "'UM01'") && strstr(out, "differs"),
	    "unexpected output: %s", out);
	free(out);
	/* Nothing stored was lost: the original starts, still completed. */
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	st = tu_ctl_cmd(r.sock, "status", NULL);
	ck_assert_str_eq(tu_jstr(st, "state"), "completed");
	json_decref(st);
	free(text);
	free(cfg2);
	tu_rig_stop(&r);
}
END_TEST

struct log_wait {
	const char *log;
	const char *needle;
};

static bool
log_cond(void *arg)
{
	struct log_wait *w = arg;
	char *s = tu_read_file(w->log);
	bool yes = s && strstr(s, w->needle);

	free(s);
	return yes;
}

START_TEST(sighup_reload_good_and_bad)
{
	struct tu_rig r;
	char *text, *log;
	struct log_wait w;
	const char *sim[] = { "--time-scale", "60", NULL };

	rig_start(&r, NULL, NULL, NULL, sim);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	log = tu_path(r.dir, "exrolld.log");
	/* A broken file: refused, the daemon carries on. */
	text = tu_read_file(r.cfg);
	ck_assert_int_eq(tu_write_file(r.cfg, "{\"servers\": ["), 0);
	kill(r.d.proc.pid, SIGHUP);
	w.log = log;
	w.needle = "reload refused";
	ck_assert(tu_wait(log_cond, &w, tu_ms(10000)));
	json_decref(tu_ctl_cmd(r.sock, "ping", NULL));
	ck_assert(!tu_proc_exited(&r.d.proc));
	/* A good one: applied. */
	ck_assert_int_eq(tu_write_file(r.cfg, text), 0);
	kill(r.d.proc.pid, SIGHUP);
	w.needle = "configuration reloaded";
	ck_assert(tu_wait(log_cond, &w, tu_ms(10000)));
	tu_kill_wait(&r.d.proc, SIGTERM, tu_ms(5000));
	ck_assert(WIFEXITED(r.d.proc.status) &&
	    WEXITSTATUS(r.d.proc.status) == 0);
	free(text);
	free(log);
	tu_rig_stop(&r);
}
END_TEST

/* "2026-11-30T01:02:03" in local time, for an absolute window. */
static void
local_stamp(time_t t, char *buf, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
}

START_TEST(window_closes_and_reopens)
{
	struct tu_rig r;
	char org[512], *orgpath, a_from[32], a_to[32], b_from[32], b_to[32];
	char head[512];
	time_t t0 = time(NULL);
	json_t *st, *events, *args;
	/* Setup takes 3 s and services start 3 s after it; the first setup
	 * is expected to take install_timeout_s (4 s), so it fits in window
	 * A (5 s): its verify is still going on when A closes. B opens 10 s
	 * in. */
	const char *sim[] = { "--time-scale", "1200", "--services-delay-s",
	    "3600", NULL };

	snprintf(org, sizeof(org), "{\"servers\": ["
	    "{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},\n"
	    "  {\"name\": \"CAS02\", \"roles\": [\"ClientAccess\"]}]}\n");
	{
		char *dir = tu_tmpdir("org");

		orgpath = tu_path(dir, "org.json");
		ck_assert_int_eq(tu_write_file(orgpath, org), 0);
		free(dir);
	}
	local_stamp(t0 - 60, a_from, sizeof(a_from));
	local_stamp(t0 + 5, a_to, sizeof(a_to));
	local_stamp(t0 + 10, b_from, sizeof(b_from));
	local_stamp(t0 + 3600, b_to, sizeof(b_to));
	snprintf(head, sizeof(head), "\"windows\": [{\"from\": \"%s\", \"to\": "
	    "\"%s\"}, {\"from\": \"%s\", \"to\": \"%s\"}]", a_from, a_to,
	    b_from, b_to);
	rig_start(&r, "\"install_timeout_s\": 4, \"verify_timeout_s\": 60",
	    head, orgpath, sim);
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	/* Closed: waiting_window with the next opening. */
	ck_assert(tu_rig_wait_state(&r, "waiting_window", tu_ms(20000)));
	st = tu_ctl_cmd(r.sock, "status", NULL);
	ck_assert(json_is_false(json_object_get(json_object_get(st, "window"),
	    "open")));
	ck_assert(json_is_string(json_object_get(json_object_get(st, "window"),
	    "next_open")));
	json_decref(st);
	/* Killed while waiting, restarted: still waiting. */
	kill(r.d.proc.pid, SIGKILL);
	tu_kill_wait(&r.d.proc, 0, tu_ms(5000));
	ck_assert_int_eq(tu_rig_daemon(&r), 0);
	st = tu_ctl_cmd(r.sock, "status", NULL);
	ck_assert_msg(time(NULL) >= t0 + 10 ||
	    strcmp(tu_jstr(st, "state"), "waiting_window") == 0,
	    "restarted as %s", tu_jstr(st, "state"));
	json_decref(st);
	/* Window B opens: the rollout completes by itself. */
	ck_assert(tu_rig_wait_state(&r, "completed", tu_ms(60000)));
	args = json_pack("{s:i}", "limit", 1000);
	events = tu_ctl_cmd(r.sock, "events", args);
	json_decref(args);
	{
		int closed = tu_event_seq(events, "rollout.state", "rollout",
		    "running -> waiting_window");
		int opened = tu_event_seq(events, "rollout.state", "rollout",
		    "waiting_window -> running");
		int cas01_done = tu_event_seq(events, "server.state", "CAS01",
		    "-> done");
		int cas02_start = tu_event_seq(events, "server.state", "CAS02",
		    "pending ->");

		ck_assert_int_gt(closed, 0);
		ck_assert_int_gt(opened, closed);
		/* The setup in flight at the close finished while closed... */
		ck_assert_int_gt(cas01_done, closed);
		ck_assert_int_lt(cas01_done, opened);
		/* ...and nothing new started until the window opened. */
		ck_assert_int_gt(cas02_start, opened);
	}
	json_decref(events);
	tu_rig_stop(&r);
	{
		char *dir = strdup(orgpath);

		*strrchr(dir, '/') = '\0';
		tu_rmrf(dir);
		free(dir);
	}
	free(orgpath);
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("process");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, check_config_and_plan);
	tcase_add_test(tc, notify_ready_watchdog_stopping);
	tcase_add_test(tc, second_instance_refused);
	tcase_add_test(tc, changed_inventory_refused_state_kept);
	tcase_add_test(tc, sighup_reload_good_and_bad);
	tcase_add_test(tc, window_closes_and_reopens);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(daemon_suite());
}
