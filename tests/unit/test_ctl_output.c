/*
 * test_ctl_output — exrollctl's output, grammar and completion.
 *
 * Golden tests: each tests/unit/golden/ctl-NAME.json (an answer as the
 * daemon gives it, DESIGN §4) is rendered with a fixed "now" and TZ=UTC
 * and compared byte for byte with ctl-NAME.txt. To accept a deliberate
 * change of the output, run with EXROLL_UPDATE_GOLDEN=1 and review the
 * diff of the .txt files.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "grammar.h"
#include "output.h"
#include "testutil.h"
#include "timefmt.h"

/* Sat 2026-11-28 23:00:00 UTC. */
static int64_t golden_now;

static json_t *
load_golden_json(const char *name)
{
	char rel[256];
	char *path;
	json_t *j;
	json_error_t e;

	snprintf(rel, sizeof(rel), "tests/unit/golden/ctl-%s.json", name);
	path = tu_src_path(rel);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	ck_assert_msg(j != NULL, "%s:%d: %s", path, e.line, e.text);
	free(path);
	return j;
}

/* Compares text with ctl-NAME.txt (or rewrites it, see above). */
static void
check_golden(const char *name, const char *text)
{
	char rel[256];
	char *path, *want;

	snprintf(rel, sizeof(rel), "tests/unit/golden/ctl-%s.txt", name);
	path = tu_src_path(rel);
	if (getenv("EXROLL_UPDATE_GOLDEN") != NULL) {
		ck_assert_int_eq(tu_write_file(path, text), 0);
		free(path);
		return;
	}
	want = tu_read_file(path);
	ck_assert_msg(want != NULL, "missing golden file %s", path);
	if (strcmp(want, text) != 0) {
		/* Point at the first differing line. */
		size_t i = 0, line = 1;

		while (want[i] != '\0' && want[i] == text[i]) {
			if (want[i] == '\n')
				line++;
			i++;
		}
		ck_abort_msg("%s differs at line %zu:\n--- want\n%s\n--- got\n%s",
		    path, line, want, text);
	}
	free(want);
	free(path);
}

typedef void (*render_fn)(FILE *f, const json_t *j, const json_t *extra);

static char *
render(render_fn fn, const json_t *j, const json_t *extra)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(m);
	fn(m, j, extra);
	fclose(m);
	return buf;
}

static void
r_status(FILE *f, const json_t *j, const json_t *extra)
{
	ctl_text_status(f, j, extra, golden_now);
}

static void
r_servers(FILE *f, const json_t *j, const json_t *extra)
{
	(void)extra;
	ctl_text_servers(f, j, golden_now);
}

static void
r_clusters(FILE *f, const json_t *j, const json_t *extra)
{
	(void)extra;
	ctl_text_clusters(f, j);
}

static void
r_events(FILE *f, const json_t *j, const json_t *extra)
{
	(void)extra;
	ctl_text_events(f, j, golden_now);
}

static void
r_plan(FILE *f, const json_t *j, const json_t *extra)
{
	(void)extra;
	ctl_text_plan(f, j);
}

static void
golden(const char *name, render_fn fn, const char *extra_name)
{
	json_t *j = load_golden_json(name);
	json_t *extra = extra_name != NULL ? load_golden_json(extra_name) :
	    NULL;
	char *text = render(fn, j, extra);

	check_golden(name, text);
	free(text);
	json_decref(j);
	json_decref(extra);
}

static void
setup(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T23:00:00Z",
	    &golden_now), 0);
}

START_TEST(test_status_running)
{
	golden("status-running", r_status, NULL);
}
END_TEST

START_TEST(test_status_paused)
{
	golden("status-paused", r_status, "status-paused-failed");
}
END_TEST

START_TEST(test_status_fresh)
{
	golden("status-fresh", r_status, NULL);
}
END_TEST

START_TEST(test_status_completed)
{
	golden("status-completed", r_status, NULL);
}
END_TEST

START_TEST(test_status_says_what_to_type)
{
	/* Independent of the golden file: the commands an operator needs
	 * are on the screen. */
	json_t *st = load_golden_json("status-paused");
	json_t *failed = load_golden_json("status-paused-failed");
	char *text = render(r_status, st, failed);

	ck_assert_ptr_nonnull(strstr(text, "exrollctl approve CMS1\n"));
	ck_assert_ptr_nonnull(strstr(text, "exrollctl approve CMS2\n"));
	ck_assert_ptr_nonnull(strstr(text, "exrollctl retry MBX07"));
	ck_assert_ptr_nonnull(strstr(text, "exrollctl skip MBX07 REASON"));
	ck_assert_ptr_nonnull(strstr(text, "setup exited with code 1603"));
	ck_assert_ptr_nonnull(strstr(text, "82%"));
	ck_assert_ptr_nonnull(strstr(text, "closed, opens"));
	free(text);
	/* Without the servers list, the names still show. */
	text = render(r_status, st, NULL);
	ck_assert_ptr_nonnull(strstr(text, "  MBX07\n"));
	free(text);
	json_decref(st);
	json_decref(failed);
}
END_TEST

START_TEST(test_servers_table)
{
	golden("servers", r_servers, NULL);
}
END_TEST

START_TEST(test_clusters_table)
{
	golden("clusters", r_clusters, NULL);
}
END_TEST

START_TEST(test_events_table)
{
	golden("events", r_events, NULL);
}
END_TEST

START_TEST(test_plan_text)
{
	golden("plan", r_plan, NULL);
}
END_TEST

START_TEST(test_tolerates_odd_input)
{
	/* Missing fields, wrong types, empty lists: "-", never a crash. */
	static const char *const docs[] = {
		"{}", "[]", "null", "{\"progress\": 3, \"waves\": {}}",
		"[{\"name\": 5}, 7, {\"roles\": \"x\", \"wave\": \"2\"}]",
		"{\"window\": {\"open\": false, \"next_open\": \"garbage\"}}",
		"{\"waves\": [{\"units\": [1, {}]}]}",
	};
	render_fn fns[] = { r_status, r_servers, r_clusters, r_events,
		r_plan };

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *j = json_loads(docs[i], JSON_DECODE_ANY, NULL);

		ck_assert_ptr_nonnull(j);
		for (size_t k = 0; k < sizeof(fns) / sizeof(fns[0]); k++)
			free(render(fns[k], j, j));
		json_decref(j);
	}
}
END_TEST

START_TEST(test_times)
{
	char buf[64];

	ck_assert_str_eq(ctl_time_relative(golden_now - 12 * 60000,
	    golden_now, buf, sizeof(buf)), "12 min ago");
	ck_assert_str_eq(ctl_time_relative(golden_now + 3 * 3600000 +
	    5 * 60000, golden_now, buf, sizeof(buf)), "in 3 h 5 min");
	ck_assert_str_eq(ctl_time_relative(golden_now - 20000, golden_now,
	    buf, sizeof(buf)), "just now");
	ck_assert_str_eq(ctl_time_local(golden_now, buf, sizeof(buf)),
	    "Sat 2026-11-28 23:00");
	/* Local means local: the same instant in another zone. */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	ck_assert_str_eq(ctl_time_local(golden_now, buf, sizeof(buf)),
	    "Sun 2026-11-29 00:00");
	setenv("TZ", "UTC", 1);
	tzset();
}
END_TEST

START_TEST(test_json_round_trip)
{
	static const char *const names[] = { "status-running", "status-paused",
		"servers", "clusters", "events", "plan" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *j = load_golden_json(names[i]), *back;
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		ctl_json_result(m, j);
		fclose(m);
		back = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
		ck_assert_msg(back != NULL && json_equal(j, back),
		    "%s: --json changed the result", names[i]);
		/* Field order is the daemon's too. */
		{
			char *a = json_dumps(j, JSON_COMPACT);
			char *b = json_dumps(back, JSON_COMPACT);

			ck_assert_str_eq(a, b);
			free(a);
			free(b);
		}
		json_decref(back);
		free(buf);

		buf = NULL;
		m = open_memstream(&buf, &len);
		ctl_json_line(m, j);
		fclose(m);
		ck_assert_ptr_eq(strchr(buf, '\n'), buf + len - 1);
		back = json_loads(buf, 0, NULL);
		ck_assert(json_equal(j, back));
		json_decref(back);
		free(buf);
		json_decref(j);
	}
}
END_TEST

static char *
capture_usage(const struct ctl_cmd *cmd)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (cmd == NULL)
		ctl_usage(m);
	else
		ctl_cmd_usage(cmd, m);
	fclose(m);
	return buf;
}

START_TEST(test_help_lists_every_command)
{
	static const char *const design[] = { "status", "watch", "servers",
		"clusters", "events", "plan", "pause", "resume", "approve",
		"retry", "skip", "abort", "ping" };
	char *help = capture_usage(NULL);
	char needle[200], syn[160];

	/* Every command of DESIGN §5 is in the table... */
	for (size_t i = 0; i < sizeof(design) / sizeof(design[0]); i++)
		ck_assert_msg(ctl_cmd_find(design[i]) != NULL, "no '%s'",
		    design[i]);
	/* ... and every visible command of the table is in the help, with
	 * its synopsis, and has its own help. */
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_cmd *c = &ctl_commands[i];
		char *own;

		ctl_cmd_synopsis(c, syn, sizeof(syn));
		snprintf(needle, sizeof(needle), "\n  %s", syn);
		if (c->hidden) {
			ck_assert_ptr_null(strstr(help, needle));
			continue;
		}
		ck_assert_msg(strstr(help, needle) != NULL,
		    "'%s' missing from --help", syn);
		ck_assert_ptr_nonnull(strstr(help, c->summary));
		own = capture_usage(c);
		ck_assert_ptr_nonnull(strstr(own, syn));
		ck_assert(c->mutates == (strstr(own, "recorded in the event "
		    "log") != NULL));
		free(own);
	}
	/* Lines fit a terminal. */
	for (char *p = help, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		ck_assert_msg(nl - p < 80, "help line too long: %.*s",
		    (int)(nl - p), p);
	ck_assert_ptr_nonnull(strstr(help, "approve CLUSTER "
	    "[failover|failback]"));
	ck_assert_ptr_nonnull(strstr(help, "skip SERVER REASON"));
	ck_assert_ptr_nonnull(strstr(help, "servers [--state STATE] "
	    "[--role ROLE]"));
	free(help);
}
END_TEST

static int
parse_words(const char *const *words, struct ctl_invocation *inv,
    char *err, size_t errlen)
{
	int n = 0;

	while (words[n] != NULL)
		n++;
	return ctl_parse(n, (char *const *)words, inv, err, errlen);
}

START_TEST(test_parse)
{
	struct ctl_invocation inv;
	char err[256];
	char *s;

	{
		const char *w[] = { "approve", "CMS1", "failover", NULL };

		ck_assert_int_eq(parse_words(w, &inv, err, sizeof(err)), 0);
		s = json_dumps(inv.req, JSON_COMPACT | JSON_SORT_KEYS);
		ck_assert_str_eq(s, "{\"checkpoint\":\"failover\","
		    "\"cluster\":\"CMS1\",\"cmd\":\"approve\"}");
		free(s);
		ctl_invocation_free(&inv);
	}
	{
		const char *w[] = { "skip", "MBX07", "disk", "replaced,", "later",
			NULL };

		ck_assert_int_eq(parse_words(w, &inv, err, sizeof(err)), 0);
		ck_assert_str_eq(json_string_value(json_object_get(inv.req,
		    "reason")), "disk replaced, later");
		ctl_invocation_free(&inv);
	}
	{
		const char *w[] = { "events", "--since=40", "--limit", "5",
			"--follow", NULL };

		ck_assert_int_eq(parse_words(w, &inv, err, sizeof(err)), 0);
		ck_assert_int_eq(json_integer_value(json_object_get(inv.req,
		    "since")), 40);
		ck_assert_int_eq(json_integer_value(json_object_get(inv.req,
		    "limit")), 5);
		ck_assert(inv.follow);
		ck_assert_ptr_null(json_object_get(inv.req, "follow"));
		ctl_invocation_free(&inv);
	}
	{
		/* A reason may start with a dash after "--". */
		const char *w[] = { "pause", "--", "-1", "degrees", NULL };

		ck_assert_int_eq(parse_words(w, &inv, err, sizeof(err)), 0);
		ck_assert_str_eq(json_string_value(json_object_get(inv.req,
		    "reason")), "-1 degrees");
		ctl_invocation_free(&inv);
	}
	{
		const char *w[] = { "pause", NULL };

		ck_assert_int_eq(parse_words(w, &inv, err, sizeof(err)), 0);
		ck_assert_ptr_null(json_object_get(inv.req, "reason"));
		ctl_invocation_free(&inv);
	}
	{
		const char *w[] = { "ping", "--help", NULL };

		ck_assert_int_eq(parse_words(w, &inv, err, sizeof(err)), 0);
		ck_assert(inv.help);
		ctl_invocation_free(&inv);
	}
	/* Refusals name what is wrong. */
	{
		static const struct {
			const char *w[6];
			const char *needle;
		} bad[] = {
			{ { "approve", NULL }, "missing CLUSTER" },
			{ { "approve", "CMS1", "failsideways", NULL },
			  "'failsideways' is not one of failover, failback" },
			{ { "approve", "CMS1", "failover", "x", NULL },
			  "unexpected argument 'x'" },
			{ { "servers", "--state", NULL }, "--state needs a value" },
			{ { "servers", "--role", "Mailboxx", NULL },
			  "'Mailboxx' is not one of" },
			{ { "servers", "--color", NULL }, "unknown option '--color'" },
			{ { "events", "--since", "-3", NULL }, "not a number" },
			{ { "events", "--follow=1", NULL }, "takes no value" },
			{ { "abort", NULL }, "missing REASON" },
			{ { "abort", " ", NULL }, "REASON is empty" },
			{ { "retry", NULL }, "missing SERVER" },
			{ { "frob", NULL }, "unknown command 'frob'" },
			{ { "servers", "--state", "done", "--state", "failed",
			    NULL }, "given twice" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			err[0] = '\0';
			ck_assert_int_eq(parse_words(bad[i].w, &inv, err,
			    sizeof(err)), -EINVAL);
			ck_assert_msg(strstr(err, bad[i].needle) != NULL,
			    "case %zu: '%s' lacks '%s'", i, err,
			    bad[i].needle);
		}
	}
}
END_TEST

START_TEST(test_completion_up_to_date)
{
	char *path = tu_src_path("contrib/completion/exrollctl.bash");
	char *have = tu_read_file(path), *want = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&want, &len);

	ctl_completion_bash(m);
	fclose(m);
	ck_assert_msg(have != NULL, "%s is missing", path);
	ck_assert_msg(strcmp(have, want) == 0, "%s is out of date: run "
	    "build/exrollctl completion bash > %s", path, path);
	/* It completes every visible command. */
	for (size_t i = 0; i < ctl_ncommands; i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "\t%s)\n",
		    ctl_commands[i].name);
		ck_assert(ctl_commands[i].hidden ||
		    strstr(want, needle) != NULL);
	}
	free(have);
	free(want);
	free(path);
}
END_TEST

static bool
proc_exited(void *arg)
{
	return tu_proc_exited(arg);
}

static int
run_ctl(const char *const *args, char **out)
{
	char *bin = tu_build_path("exrollctl");
	char *dir = tu_tmpdir("ctlout");
	char *log = tu_path(dir, "out");
	char *argv[16];
	struct tu_proc p;
	size_t n = 0;
	int status;

	argv[n++] = bin;
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	ck_assert_int_eq(tu_spawn(&p, log, argv), 0);
	ck_assert_msg(tu_wait(proc_exited, &p, tu_ms(10000)),
	    "exrollctl did not exit");
	status = p.status;
	*out = tu_proc_output(&p);
	tu_proc_free(&p);
	tu_rmrf(dir);
	free(dir);
	free(log);
	free(bin);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_exit_codes)
{
	static const char *const usage1[] = { "approve", NULL };
	static const char *const usage2[] = { "--bogus", "status", NULL };
	static const char *const nodaemon[] = { "--socket",
		"/nonexistent/exroll.sock", "ping", NULL };
	static const char *const help[] = { "--help", NULL };
	char *out;

	ck_assert_int_eq(run_ctl(usage1, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "missing CLUSTER"));
	free(out);
	ck_assert_int_eq(run_ctl(usage2, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "--bogus"));
	free(out);
	ck_assert_int_eq(run_ctl(nodaemon, &out), 3);
	ck_assert_ptr_nonnull(strstr(out, "/nonexistent/exroll.sock"));
	free(out);
	ck_assert_int_eq(run_ctl(help, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: exrollctl"));
	free(out);
}
END_TEST

static Suite *
ctl_output_suite(void)
{
	Suite *s = suite_create("ctl_output");
	TCase *tc = tcase_create("output");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, tu_ms(30));
	tcase_add_test(tc, test_status_running);
	tcase_add_test(tc, test_status_paused);
	tcase_add_test(tc, test_status_fresh);
	tcase_add_test(tc, test_status_completed);
	tcase_add_test(tc, test_status_says_what_to_type);
	tcase_add_test(tc, test_servers_table);
	tcase_add_test(tc, test_clusters_table);
	tcase_add_test(tc, test_events_table);
	tcase_add_test(tc, test_plan_text);
	tcase_add_test(tc, test_tolerates_odd_input);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_json_round_trip);
	tcase_add_test(tc, test_help_lists_every_command);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_completion_up_to_date);
	tcase_add_test(tc, test_exit_codes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ctl_output_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
