/*
 * test_config — exroll.json validation: every rule, good and bad.
 *
 * A bad file must be refused with messages that name the file, the line and
 * column of the value, the field's path and the value itself; all problems
 * are reported, in file order, and one mistake makes one message.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

static char *dir;	/* files the configurations point at */
static char *file;	/* dir/exroll.json */

#define SRV "\"servers\": [{\"name\": \"S1\", \"roles\": [\"Mailbox\"]}]"
#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int
load(const char *json, struct config **cfg, struct config_errors *errs)
{
	ck_assert_int_eq(tu_write_file(file, json), 0);
	return config_load(file, cfg, errs);
}

static const char *
joined(const struct config_errors *e)
{
	static char buf[16384];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < e->n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "  %s\n",
		    e->msg[i]);
	return buf;
}

static struct config *
load_ok(const char *json)
{
	struct config *cfg = NULL;
	struct config_errors errs;
	int rc = load(json, &cfg, &errs);

	ck_assert_msg(rc == 0, "rc %d:\n%s", rc, joined(&errs));
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* Expects the file refused: -EINVAL, no config, messages in errs. */
static void
load_bad(const char *json, struct config_errors *errs)
{
	struct config *cfg = NULL;
	int rc = load(json, &cfg, errs);

	ck_assert_msg(rc == -EINVAL, "rc %d for %s", rc, json);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_gt(errs->n, 0);
}

/* want is the message after "FILE:". */
static void
expect_err(const struct config_errors *e, const char *want)
{
	char full[2048];

	snprintf(full, sizeof(full), "%s:%s", file, want);
	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->msg[i], full) == 0)
			return;
	}
	ck_abort_msg("expected\n  %s\namong\n%s", full, joined(e));
}

/* tmpl with each "{}" replaced by value. */
static void
fill(const char *tmpl, const char *value, char *out, size_t len)
{
	const char *p;
	size_t o = 0;

	while ((p = strstr(tmpl, "{}")) != NULL && o < len) {
		o += (size_t)snprintf(out + o, len - o, "%.*s%s",
		    (int)(p - tmpl), tmpl, value);
		tmpl = p + 2;
	}
	if (o < len)
		snprintf(out + o, len - o, "%s", tmpl);
}

/* Exactly one message: the mistake, and no echo of it. */
static void
expect_only(const char *json, const char *want)
{
	struct config_errors e;

	load_bad(json, &e);
	ck_assert_msg(e.n == 1, "expected one message, got:\n%s", joined(&e));
	expect_err(&e, want);
	config_errors_free(&e);
}

/* ---- good files ---- */

START_TEST(defaults)
{
	struct config *cfg = load_ok("{" SRV "}");
	const struct config_policy *p = &cfg->policy;

	ck_assert_str_eq(cfg->path, file);
	ck_assert_str_eq(cfg->target_version_str, "8.1.240.6");
	ck_assert_uint_eq(cfg->target_version.part[0], 8);
	ck_assert_uint_eq(cfg->target_version.part[1], 1);
	ck_assert_uint_eq(cfg->target_version.part[2], 240);
	ck_assert_uint_eq(cfg->target_version.part[3], 6);
	ck_assert_str_eq(cfg->state_file, CONFIG_DEFAULT_STATE_FILE);
	ck_assert_str_eq(cfg->socket, CONFIG_DEFAULT_SOCKET);
	ck_assert_str_eq(cfg->gateway.url, "https://localhost:8443/");
	ck_assert_ptr_null(cfg->gateway.token_file);
	ck_assert_ptr_null(cfg->gateway.token);
	ck_assert_ptr_null(cfg->gateway.ca_file);
	ck_assert(cfg->gateway.tls_verify);
	ck_assert_double_eq(cfg->gateway.request_timeout_s, 30);
	ck_assert_double_eq(cfg->gateway.poll_interval_s, 10);
	ck_assert_int_eq(cfg->gateway.max_in_flight, 16);
	ck_assert_int_eq(p->nroles, ROLE_COUNT);
	for (int r = 0; r < ROLE_COUNT; r++) {
		ck_assert_int_eq(p->role_order[r], r);
		ck_assert_int_eq(p->max_parallel[r], 1);
	}
	ck_assert_int_eq(p->role_order[0], ROLE_CLIENT_ACCESS);
	ck_assert_int_eq(p->role_order[3], ROLE_UNIFIED_MESSAGING);
	ck_assert_int_eq(p->role_order[4], ROLE_MAILBOX);
	ck_assert_double_eq(p->install_timeout_s, 14400);
	ck_assert_double_eq(p->verify_timeout_s, 1800);
	ck_assert_double_eq(p->verify_interval_s, 30);
	ck_assert_double_eq(p->retry_backoff_s, 60);
	ck_assert_int_eq(p->retries, 2);
	ck_assert_int_eq(p->reboot, REBOOT_IF_REQUIRED);
	ck_assert_int_eq(p->checkpoints, CHECKPOINTS_APPROVE);
	ck_assert_int_eq(p->ccr_procedure, CCR_SERVICE_PACK);
	ck_assert(p->failback);
	ck_assert_ptr_null(p->setup_source);
	ck_assert_ptr_null(cfg->windows);
	ck_assert_uint_eq(cfg->nwindows, 0);
	ck_assert_uint_eq(cfg->control.nallow_uids, 0);
	ck_assert_ptr_null(cfg->control.allow_group);
	ck_assert_ptr_null(cfg->notify.webhook_url);
	ck_assert_ptr_null(cfg->notify.exec);
	ck_assert_uint_eq(cfg->nservers, 1);
	ck_assert_str_eq(cfg->servers[0].name, "S1");
	ck_assert_uint_eq(cfg->servers[0].roles, ROLE_BIT(ROLE_MAILBOX));
	ck_assert_int_eq(cfg->servers[0].cluster, -1);
	ck_assert_uint_eq(cfg->nclusters, 0);
	config_free(cfg);
}
END_TEST

/* Every setting given, none at its default. */
START_TEST(every_field)
{
	char *token = tu_path(dir, "token"), *ca = tu_path(dir, "ca.pem");
	char *hook = tu_path(dir, "hook.sh"), *json;
	struct group gr, *res = NULL;
	char grbuf[4096];
	struct config *cfg;
	struct config_policy *p;

	ck_assert_int_eq(tu_write_file(token, "s3cret-t0ken\n\n \t"), 0);
	ck_assert_int_eq(chmod(token, 0600), 0);
	ck_assert_int_eq(tu_write_file(ca, "-----BEGIN CERTIFICATE-----\n"), 0);
	ck_assert_int_eq(tu_write_file(hook, "#!/bin/sh\nexit 0\n"), 0);
	ck_assert_int_eq(chmod(hook, 0755), 0);
	ck_assert_int_eq(getgrgid_r(getgid(), &gr, grbuf, sizeof(grbuf), &res), 0);
	ck_assert_ptr_nonnull(res);
	ck_assert_int_ge(asprintf(&json,
	    "{\"$schema\": \"https://example.org/exroll.schema.json\",\n"
	    " \"target_version\": \"8.3.83.6\",\n"
	    " \"state_file\": \"/srv/exroll/state.db\",\n"
	    " \"socket\": \"/srv/exroll/ctl.sock\",\n"
	    " \"gateway\": {\"url\": \"https://psgw.example.org:8443/ps/\",\n"
	    "   \"token_file\": \"%s\", \"ca_file\": \"%s\",\n"
	    "   \"tls_verify\": false, \"request_timeout_s\": 12.5,\n"
	    "   \"poll_interval_s\": 0.25, \"max_in_flight\": 1024.0},\n"
	    " \"policy\": {\"role_order\": [\"Mailbox\", \"HubTransport\"],\n"
	    "   \"max_parallel\": 3, \"install_timeout_s\": 7200,\n"
	    "   \"verify_timeout_s\": 600, \"verify_interval_s\": 5,\n"
	    "   \"retry_backoff_s\": 0.5, \"retries\": 0, \"reboot\": \"never\",\n"
	    "   \"checkpoints\": \"auto\", \"ccr_procedure\": \"rollup\",\n"
	    "   \"failback\": false, \"setup_source\": \"\\\\\\\\files\\\\E2K7SP3\"},\n"
	    " \"windows\": [{\"days\": [\"Sat\", \"Sun\"], \"start\": \"20:00\",\n"
	    "   \"end\": \"06:00\"},\n"
	    "   {\"from\": \"2026-11-28T20:00\", \"to\": \"2026-11-30T06:00:30\"}],\n"
	    " \"control\": {\"allow_uids\": [0, 1000, 4294967294],\n"
	    "   \"allow_group\": \"%s\"},\n"
	    " \"notify\": {\"webhook_url\": \"http://[::1]:9000/hook\",\n"
	    "   \"exec\": \"%s\"},\n"
	    " \"servers\": [{\"name\": \"HUB01\", \"roles\": [\"HubTransport\"]},\n"
	    "   {\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},\n"
	    "   {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],\n"
	    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\",\n"
	    "   \"nodes\": [\"mbx1b\", \"MBX1A\"]}]}\n",
	    token, ca, gr.gr_name, hook), 0);
	cfg = load_ok(json);
	p = &cfg->policy;

	ck_assert_str_eq(cfg->target_version_str, "8.3.83.6");
	ck_assert_uint_eq(cfg->target_version.part[2], 83);
	ck_assert_str_eq(cfg->state_file, "/srv/exroll/state.db");
	ck_assert_str_eq(cfg->socket, "/srv/exroll/ctl.sock");
	ck_assert_str_eq(cfg->gateway.url, "https://psgw.example.org:8443/ps/");
	ck_assert_str_eq(cfg->gateway.token_file, token);
	ck_assert_str_eq(cfg->gateway.token, "s3cret-t0ken");
	ck_assert_str_eq(cfg->gateway.ca_file, ca);
	ck_assert(!cfg->gateway.tls_verify);
	ck_assert_double_eq(cfg->gateway.request_timeout_s, 12.5);
	ck_assert_double_eq(cfg->gateway.poll_interval_s, 0.25);
	ck_assert_int_eq(cfg->gateway.max_in_flight, 1024);
	ck_assert_int_eq(p->nroles, 2);
	ck_assert_int_eq(p->role_order[0], ROLE_MAILBOX);
	ck_assert_int_eq(p->role_order[1], ROLE_HUB_TRANSPORT);
	for (int r = 0; r < ROLE_COUNT; r++)
		ck_assert_int_eq(p->max_parallel[r], 3);
	ck_assert_double_eq(p->install_timeout_s, 7200);
	ck_assert_double_eq(p->verify_timeout_s, 600);
	ck_assert_double_eq(p->verify_interval_s, 5);
	ck_assert_double_eq(p->retry_backoff_s, 0.5);
	ck_assert_int_eq(p->retries, 0);
	ck_assert_int_eq(p->reboot, REBOOT_NEVER);
	ck_assert_int_eq(p->checkpoints, CHECKPOINTS_AUTO);
	ck_assert_int_eq(p->ccr_procedure, CCR_ROLLUP);
	ck_assert(!p->failback);
	ck_assert_str_eq(p->setup_source, "\\\\files\\E2K7SP3");

	/* TZ=UTC (main): local times are UTC here. */
	ck_assert_uint_eq(cfg->nwindows, 2);
	ck_assert(cfg->windows[0].weekly);
	ck_assert_uint_eq(cfg->windows[0].u.w.days_mask, (1u << 6) | 1u);
	ck_assert_int_eq(cfg->windows[0].u.w.start_min, 20 * 60);
	ck_assert_int_eq(cfg->windows[0].u.w.end_min, 6 * 60);
	ck_assert(!cfg->windows[1].weekly);
	ck_assert_int_eq(cfg->windows[1].u.a.from_ms, 1795896000000LL);
	ck_assert_int_eq(cfg->windows[1].u.a.to_ms,
	    1795896000000LL + (34 * 3600 + 30) * 1000LL);

	ck_assert_uint_eq(cfg->control.nallow_uids, 3);
	ck_assert_uint_eq(cfg->control.allow_uids[1], 1000);
	ck_assert_uint_eq(cfg->control.allow_uids[2], 4294967294u);
	ck_assert_str_eq(cfg->control.allow_group, gr.gr_name);
	ck_assert_uint_eq(cfg->control.allow_gid, getgid());
	ck_assert_str_eq(cfg->notify.webhook_url, "http://[::1]:9000/hook");
	ck_assert_str_eq(cfg->notify.exec, hook);

	/* Nodes in the cluster's order, found case-insensitively. */
	ck_assert_int_eq(cfg->clusters[0].nodes[0], 2);
	ck_assert_int_eq(cfg->clusters[0].nodes[1], 1);
	ck_assert_int_eq(cfg->servers[0].cluster, -1);
	ck_assert_int_eq(cfg->servers[1].cluster, 0);
	ck_assert_int_eq(cfg->servers[2].cluster, 0);
	config_free(cfg);
	free(json);
	free(token);
	free(ca);
	free(hook);
}
END_TEST

START_TEST(lookups_and_names)
{
	struct config *cfg = load_ok("{\"policy\": {\"role_order\": "
	    "[\"HubTransport\", \"Mailbox\", \"ClientAccess\"],"
	    " \"max_parallel\": {\"Mailbox\": 4, \"HubTransport\": 2}},"
	    " \"servers\": [{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},"
	    " {\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},"
	    " {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],"
	    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
	    " \"nodes\": [\"MBX1A\", \"MBX1B\"]}]}");

	ck_assert_int_eq(config_server_index(cfg, "cas01"), 0);
	ck_assert_int_eq(config_server_index(cfg, "MBX1B"), 2);
	ck_assert_int_eq(config_server_index(cfg, "CMS1"), -1);
	ck_assert_int_eq(config_cluster_index(cfg, "cms1"), 0);
	ck_assert_int_eq(config_cluster_index(cfg, "MBX1A"), -1);
	ck_assert_int_eq(config_role_rank(cfg, ROLE_HUB_TRANSPORT), 0);
	ck_assert_int_eq(config_role_rank(cfg, ROLE_MAILBOX), 1);
	ck_assert_int_eq(config_role_rank(cfg, ROLE_CLIENT_ACCESS), 2);
	ck_assert_int_eq(config_role_rank(cfg, ROLE_EDGE_TRANSPORT), -1);
	/* A map sets the roles it names; the others keep 1. */
	ck_assert_int_eq(cfg->policy.max_parallel[ROLE_MAILBOX], 4);
	ck_assert_int_eq(cfg->policy.max_parallel[ROLE_HUB_TRANSPORT], 2);
	ck_assert_int_eq(cfg->policy.max_parallel[ROLE_CLIENT_ACCESS], 1);
	config_free(cfg);

	ck_assert_str_eq(config_reboot_name(REBOOT_IF_REQUIRED), "if_required");
	ck_assert_str_eq(config_reboot_name(REBOOT_ALWAYS), "always");
	ck_assert_str_eq(config_reboot_name(REBOOT_NEVER), "never");
	ck_assert_str_eq(config_checkpoints_name(CHECKPOINTS_APPROVE), "approve");
	ck_assert_str_eq(config_checkpoints_name(CHECKPOINTS_AUTO), "auto");
	ck_assert_str_eq(config_ccr_name(CCR_SERVICE_PACK), "service_pack");
	ck_assert_str_eq(config_ccr_name(CCR_ROLLUP), "rollup");
	ck_assert_str_eq(config_ccr_name((enum config_ccr)7), "unknown");
}
END_TEST

/* Windows in a zone with daylight saving; an overnight weekly window. */
START_TEST(windows_local_time)
{
	const char *tz = getenv("TZ");
	char *saved = tz ? strdup(tz) : NULL;
	struct config *cfg;
	struct tm tm = { .tm_year = 126, .tm_mon = 6, .tm_mday = 1,
		.tm_hour = 8, .tm_isdst = -1 };

	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	cfg = load_ok("{\"windows\": [{\"days\": [\"Fri\"], \"start\": \"23:00\","
	    " \"end\": \"01:30\"}, {\"from\": \"2026-07-01T08:00\","
	    " \"to\": \"2026-07-01T09:00:00\"}], " SRV "}");
	ck_assert_uint_eq(cfg->windows[0].u.w.days_mask, 1u << 5);
	ck_assert_int_eq(cfg->windows[0].u.w.start_min, 23 * 60);
	ck_assert_int_eq(cfg->windows[0].u.w.end_min, 90);
	/* 08:00 CEST is 06:00 UTC. */
	ck_assert_int_eq(cfg->windows[1].u.a.from_ms,
	    (int64_t)mktime(&tm) * 1000);
	ck_assert_int_eq(cfg->windows[1].u.a.from_ms % 86400000, 6 * 3600000);
	config_free(cfg);

	/* 02:30 on the last Sunday of March does not exist there. */
	expect_only("{\"windows\": [{\"from\": \"2026-03-29T02:30\","
	    " \"to\": \"2026-03-29T05:00\"}], " SRV "}",
	    "1:23: windows[0].from: '2026-03-29T02:30' does not exist in "
	    "local time (a daylight-saving change skips it)");

	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}
END_TEST

START_TEST(bom_and_limits)
{
	char *json, src[1100];
	struct config *cfg;

	/* Notepad's byte order mark; the longest setup_source. */
	memset(src, 'x', 1024);
	src[1024] = '\0';
	ck_assert_int_ge(asprintf(&json, "\xef\xbb\xbf{\"policy\": "
	    "{\"setup_source\": \"%s\", \"retries\": 100}, " SRV "}", src), 0);
	cfg = load_ok(json);
	ck_assert_uint_eq(strlen(cfg->policy.setup_source), 1024);
	ck_assert_int_eq(cfg->policy.retries, 100);
	config_free(cfg);
	free(json);

	ck_assert_int_ge(asprintf(&json, "{\"policy\": "
	    "{\"setup_source\": \"%sy\"}, " SRV "}", src), 0);
	expect_only(json, "1:29: policy.setup_source: is too long (1025 "
	    "bytes, at most 1024)");
	free(json);
}
END_TEST

START_TEST(examples_load)
{
	const char *names[] = { "contrib/examples/exroll.json",
		"contrib/examples/large.json" };

	for (size_t i = 0; i < 2; i++) {
		char *path = tu_src_path(names[i]);
		struct config *cfg = NULL;
		struct config_errors errs;
		int rc = config_load(path, &cfg, &errs);

		ck_assert_msg(rc == 0, "%s: rc %d\n%s", path, rc, joined(&errs));
		ck_assert_uint_ge(cfg->nservers, 10);
		ck_assert_uint_ge(cfg->nclusters, 2);
		ck_assert_ptr_null(cfg->gateway.token_file);
		ck_assert_str_eq(cfg->gateway.url, "http://127.0.0.1:8080/");
		config_free(cfg);
		free(path);
	}
}
END_TEST

/* ---- one mistake, one message ---- */

#define LONG63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij" \
	"abc"

static const struct {
	const char *json;
	const char *msg;
} bad[] = {
	/* top level */
	{ "[1]", "1:1: expected an object, got an array" },
	{ "{}", "1:1: missing 'servers'" },
	{ "{\"foo\": 1, " SRV "}", "1:2: unknown key 'foo'" },
	{ "{\"server\": [{\"name\": \"S1\", \"roles\": [\"Mailbox\"]}]}",
	  "1:2: unknown key 'server' (did you mean 'servers'?)" },
	{ "{\"$schema\": 1, " SRV "}",
	  "1:13: $schema: expected a string, got 1" },
	{ "{\"target_version\": \"8.1.240\", " SRV "}",
	  "1:20: target_version: not a version '8.1.240' (expected four "
	  "numbers, like 8.1.240.6)" },
	{ "{\"target_version\": \"8.1.240.6.1\", " SRV "}",
	  "1:20: target_version: not a version '8.1.240.6.1' (expected four "
	  "numbers, like 8.1.240.6)" },
	{ "{\"target_version\": 8.1, " SRV "}",
	  "1:20: target_version: expected a string, got 8.1" },
	{ "{\"state_file\": \"state.db\", " SRV "}",
	  "1:16: state_file: expected an absolute path, got 'state.db'" },
	{ "{\"socket\": \"/run/exroll/" LONG63 "/" LONG63 "\", " SRV "}",
	  "1:12: socket: '/run/exroll/abcdefghijabcdefghijabcdefghijabcdefghij"
	  "abcdefghijabcdefghijabc/abcdefghijab...' is too long for a unix "
	  "socket (139 bytes, at most 107)" },

	/* gateway */
	{ "{\"gateway\": \"x\", " SRV "}",
	  "1:13: gateway: expected an object, got 'x'" },
	{ "{\"gateway\": {\"tls_verfy\": false}, " SRV "}",
	  "1:14: gateway: unknown key 'tls_verfy' (did you mean "
	  "'tls_verify'?)" },
	{ "{\"gateway\": {\"url\": \"http://psgw.example.org/\"}, " SRV "}",
	  "1:21: gateway.url: 'http://psgw.example.org/' uses plain http:// "
	  "to a host that is not loopback (127.0.0.0/8, [::1], localhost): "
	  "use https://" },
	{ "{\"gateway\": {\"url\": \"https://admin:hunter2@psgw/\"}, " SRV "}",
	  "1:21: gateway.url: must not hold a user name or password" },
	{ "{\"gateway\": {\"max_in_flight\": 0}, " SRV "}",
	  "1:31: gateway.max_in_flight: must be from 1 to 1024, got 0" },
	{ "{\"gateway\": {\"max_in_flight\": 1025}, " SRV "}",
	  "1:31: gateway.max_in_flight: must be from 1 to 1024, got 1025" },
	{ "{\"gateway\": {\"max_in_flight\": 2.5}, " SRV "}",
	  "1:31: gateway.max_in_flight: expected an integer, got 2.5" },
	{ "{\"gateway\": {\"max_in_flight\": 2048.0}, " SRV "}",
	  "1:31: gateway.max_in_flight: must be from 1 to 1024, got 2048.0" },
	{ "{\"gateway\": {\"max_in_flight\": \"16\"}, " SRV "}",
	  "1:31: gateway.max_in_flight: expected an integer, got '16'" },
	{ "{\"gateway\": {\"request_timeout_s\": 0}, " SRV "}",
	  "1:35: gateway.request_timeout_s: must be more than 0 and at most "
	  "31622400 seconds (366 days), got 0" },
	{ "{\"gateway\": {\"request_timeout_s\": 1e9}, " SRV "}",
	  "1:35: gateway.request_timeout_s: must be more than 0 and at most "
	  "31622400 seconds (366 days), got 1000000000.0" },
	{ "{\"gateway\": {\"poll_interval_s\": -0.5}, " SRV "}",
	  "1:33: gateway.poll_interval_s: must be more than 0 and at most "
	  "31622400 seconds (366 days), got -0.5" },
	{ "{\"gateway\": {\"poll_interval_s\": \"10\"}, " SRV "}",
	  "1:33: gateway.poll_interval_s: expected a number of seconds, "
	  "got '10'" },
	{ "{\"gateway\": {\"tls_verify\": \"yes\"}, " SRV "}",
	  "1:28: gateway.tls_verify: expected true or false, got 'yes'" },
	{ "{\"gateway\": {\"token_file\": \"/nonexistent/token\"}, " SRV "}",
	  "1:28: gateway.token_file: cannot open '/nonexistent/token': No "
	  "such file or directory" },
	{ "{\"gateway\": {\"token_file\": \"token\"}, " SRV "}",
	  "1:28: gateway.token_file: expected an absolute path, got 'token'" },
	{ "{\"gateway\": {\"ca_file\": \"/nonexistent/ca.pem\"}, " SRV "}",
	  "1:25: gateway.ca_file: cannot open '/nonexistent/ca.pem': No such "
	  "file or directory" },
	{ "{\"gateway\": {\"ca_file\": \"/\"}, " SRV "}",
	  "1:25: gateway.ca_file: '/' is not a regular file" },

	/* policy */
	{ "{\"policy\": {\"max_paralel\": 2}, " SRV "}",
	  "1:13: policy: unknown key 'max_paralel' (did you mean "
	  "'max_parallel'?)" },
	{ "{\"policy\": {\"role_order\": []}, " SRV "}",
	  "1:27: policy.role_order: must list at least one role" },
	{ "{\"policy\": {\"role_order\": [\"Mailbox\", \"Mailboxx\"]}, " SRV "}",
	  "1:39: policy.role_order[1]: unknown role 'Mailboxx' (expected "
	  "ClientAccess, EdgeTransport, HubTransport, UnifiedMessaging or "
	  "Mailbox)" },
	{ "{\"policy\": {\"role_order\": [\"Mailbox\", \"Mailbox\"]}, " SRV "}",
	  "1:39: policy.role_order[1]: role 'Mailbox' is listed twice" },
	{ "{\"policy\": {\"role_order\": [\"ClientAccess\"]}, " SRV "}",
	  "1:27: policy.role_order: does not include 'Mailbox', a role of "
	  "server 'S1'" },
	{ "{\"policy\": {\"max_parallel\": 0}, " SRV "}",
	  "1:29: policy.max_parallel: must be at least 1, got 0" },
	{ "{\"policy\": {\"max_parallel\": \"2\"}, " SRV "}",
	  "1:29: policy.max_parallel: expected an integer or an object of "
	  "roles, got '2'" },
	{ "{\"policy\": {\"max_parallel\": {\"Mailbox\": 0}}, " SRV "}",
	  "1:41: policy.max_parallel.Mailbox: must be at least 1, got 0" },
	{ "{\"policy\": {\"max_parallel\": {\"Mailboxx\": 2}}, " SRV "}",
	  "1:30: policy.max_parallel: unknown key 'Mailboxx' (did you mean "
	  "'Mailbox'?)" },
	{ "{\"policy\": {\"install_timeout_s\": 0}, " SRV "}",
	  "1:34: policy.install_timeout_s: must be more than 0 and at most "
	  "31622400 seconds (366 days), got 0" },
	{ "{\"policy\": {\"verify_timeout_s\": -1}, " SRV "}",
	  "1:33: policy.verify_timeout_s: must be more than 0 and at most "
	  "31622400 seconds (366 days), got -1" },
	{ "{\"policy\": {\"retries\": -1}, " SRV "}",
	  "1:24: policy.retries: must be from 0 to 100, got -1" },
	{ "{\"policy\": {\"retries\": 101}, " SRV "}",
	  "1:24: policy.retries: must be from 0 to 100, got 101" },
	{ "{\"policy\": {\"reboot\": \"alway\"}, " SRV "}",
	  "1:23: policy.reboot: unknown reboot policy 'alway' (expected "
	  "if_required, always or never)" },
	{ "{\"policy\": {\"checkpoints\": \"manual\"}, " SRV "}",
	  "1:28: policy.checkpoints: unknown checkpoint policy 'manual' "
	  "(expected approve or auto)" },
	{ "{\"policy\": {\"ccr_procedure\": \"sp1\"}, " SRV "}",
	  "1:30: policy.ccr_procedure: unknown CCR procedure 'sp1' (expected "
	  "service_pack or rollup)" },
	{ "{\"policy\": {\"failback\": \"no\"}, " SRV "}",
	  "1:25: policy.failback: expected true or false, got 'no'" },
	{ "{\"policy\": {\"setup_source\": \"\"}, " SRV "}",
	  "1:29: policy.setup_source: must not be empty" },

	/* windows */
	{ "{\"windows\": {}, " SRV "}",
	  "1:13: windows: expected an array of windows, got an object" },
	{ "{\"windows\": [], " SRV "}",
	  "1:13: windows: lists no window, so nothing would ever run (leave "
	  "'windows' out for always open)" },
	{ "{\"windows\": [{}], " SRV "}",
	  "1:14: windows[0]: expected a weekly window (days, start, end) or "
	  "an absolute one (from, to)" },
	{ "{\"windows\": [{\"days\": [\"Sat\"], \"start\": \"20:00\", "
	  "\"end\": \"23:00\", \"to\": \"2026-11-30T06:00\"}], " SRV "}",
	  "1:14: windows[0]: mixes a weekly window (days, start, end) with an "
	  "absolute one (from, to)" },
	{ "{\"windows\": [{\"dayz\": [\"Sat\"], \"start\": \"20:00\", "
	  "\"end\": \"23:00\"}], " SRV "}",
	  "1:15: windows[0]: unknown key 'dayz' (did you mean 'days'?)" },
	{ "{\"windows\": [{\"fro\": \"2026-11-28T20:00\"}], " SRV "}",
	  "1:15: windows[0]: unknown key 'fro' (did you mean 'from'?)" },
	{ "{\"windows\": [{\"days\": [\"Sat\"], \"start\": \"20:00\"}], " SRV "}",
	  "1:14: windows[0]: missing 'end'" },
	{ "{\"windows\": [{\"days\": [], \"start\": \"20:00\", "
	  "\"end\": \"23:00\"}], " SRV "}",
	  "1:23: windows[0].days: must list at least one day" },
	{ "{\"windows\": [{\"days\": \"Sat\", \"start\": \"20:00\", "
	  "\"end\": \"23:00\"}], " SRV "}",
	  "1:23: windows[0].days: expected an array of days, got 'Sat'" },
	{ "{\"windows\": [{\"days\": [\"Sat\", \"Saturday\"], "
	  "\"start\": \"20:00\", \"end\": \"23:00\"}], " SRV "}",
	  "1:31: windows[0].days[1]: unknown day 'Saturday' (expected Mon, "
	  "Tue, Wed, Thu, Fri, Sat or Sun)" },
	{ "{\"windows\": [{\"days\": [\"Sat\", \"Sat\"], "
	  "\"start\": \"20:00\", \"end\": \"23:00\"}], " SRV "}",
	  "1:31: windows[0].days[1]: day 'Sat' is listed twice" },
	{ "{\"windows\": [{\"days\": [\"Sat\"], \"start\": \"24:00\", "
	  "\"end\": \"23:00\"}], " SRV "}",
	  "1:41: windows[0].start: not a time of day '24:00' (expected HH:MM, "
	  "00:00 to 23:59)" },
	{ "{\"windows\": [{\"days\": [\"Sat\"], \"start\": \"8:00\", "
	  "\"end\": \"23:00\"}], " SRV "}",
	  "1:41: windows[0].start: not a time of day '8:00' (expected HH:MM, "
	  "00:00 to 23:59)" },
	{ "{\"windows\": [{\"days\": [\"Sat\"], \"start\": \"20:00\", "
	  "\"end\": \"06:60\"}], " SRV "}",
	  "1:57: windows[0].end: not a time of day '06:60' (expected HH:MM, "
	  "00:00 to 23:59)" },
	{ "{\"windows\": [{\"days\": [\"Sat\"], \"start\": \"20:00\", "
	  "\"end\": \"20:00\"}], " SRV "}",
	  "1:57: windows[0].end: equals start '20:00': the window would be "
	  "empty" },
	{ "{\"windows\": [{\"from\": \"2026-11-28 20:00\", "
	  "\"to\": \"2026-11-30T06:00\"}], " SRV "}",
	  "1:23: windows[0].from: not a local date and time '2026-11-28 20:00' "
	  "(expected YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS)" },
	{ "{\"windows\": [{\"from\": \"2026-02-29T20:00\", "
	  "\"to\": \"2026-11-30T06:00\"}], " SRV "}",
	  "1:23: windows[0].from: not a local date and time '2026-02-29T20:00' "
	  "(expected YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS)" },
	{ "{\"windows\": [{\"from\": \"2026-11-28T20:00\", "
	  "\"to\": \"2026-11-28T24:00\"}], " SRV "}",
	  "1:49: windows[0].to: not a local date and time '2026-11-28T24:00' "
	  "(expected YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS)" },
	{ "{\"windows\": [{\"from\": \"2026-11-30T06:00\", "
	  "\"to\": \"2026-11-28T20:00\"}], " SRV "}",
	  "1:49: windows[0].to: '2026-11-28T20:00' is not after from "
	  "'2026-11-30T06:00'" },
	{ "{\"windows\": [{\"from\": \"2026-11-28T20:00\"}], " SRV "}",
	  "1:14: windows[0]: missing 'to'" },

	/* control and notify */
	{ "{\"control\": {\"allow_uids\": 1000}, " SRV "}",
	  "1:28: control.allow_uids: expected an array of user ids, got 1000" },
	{ "{\"control\": {\"allow_uids\": [0, -1]}, " SRV "}",
	  "1:32: control.allow_uids[1]: expected a user id (0 to 4294967294), "
	  "got -1" },
	{ "{\"control\": {\"allow_uids\": [4294967295]}, " SRV "}",
	  "1:29: control.allow_uids[0]: expected a user id (0 to 4294967294), "
	  "got 4294967295" },
	{ "{\"control\": {\"allow_uids\": [\"1000\"]}, " SRV "}",
	  "1:29: control.allow_uids[0]: expected a user id (0 to 4294967294), "
	  "got '1000'" },
	{ "{\"control\": {\"allow_group\": \"exroll-no-such-group\"}, " SRV "}",
	  "1:29: control.allow_group: unknown group 'exroll-no-such-group'" },
	{ "{\"control\": {\"allow_group\": \"\"}, " SRV "}",
	  "1:29: control.allow_group: must not be empty" },
	{ "{\"notify\": {\"webhook_url\": \"http://hooks.example.org/x\"}, "
	  SRV "}",
	  "1:28: notify.webhook_url: 'http://hooks.example.org/x' uses plain "
	  "http:// to a host that is not loopback (127.0.0.0/8, [::1], "
	  "localhost): use https://" },
	{ "{\"notify\": {\"exec\": \"hook.sh\"}, " SRV "}",
	  "1:21: notify.exec: expected an absolute path, got 'hook.sh'" },
	{ "{\"notify\": {\"exec\": \"/nonexistent/hook\"}, " SRV "}",
	  "1:21: notify.exec: cannot use '/nonexistent/hook': No such file or "
	  "directory" },
	{ "{\"notify\": {\"exec\": \"/\"}, " SRV "}",
	  "1:21: notify.exec: '/' is not a regular file" },

	/* servers */
	{ "{\"servers\": \"S1\"}",
	  "1:13: servers: expected an array of servers, got 'S1'" },
	{ "{\"servers\": []}", "1:13: servers: must list at least one server" },
	{ "{\"servers\": [42]}", "1:14: servers[0]: expected an object, got 42" },
	{ "{\"servers\": [{\"roles\": [\"Mailbox\"]}]}",
	  "1:14: servers[0]: missing 'name'" },
	{ "{\"servers\": [{\"nmae\": \"S1\", \"roles\": [\"Mailbox\"]}]}",
	  "1:15: servers[0]: unknown key 'nmae' (did you mean 'name'?)" },
	{ "{\"servers\": [{\"name\": \"S1\"}]}",
	  "1:14: servers[0]: missing 'roles'" },
	{ "{\"servers\": [{\"name\": \"S1\", \"roles\": []}]}",
	  "1:38: servers[0].roles: must list at least one role" },
	{ "{\"servers\": [{\"name\": \"S1\", \"roles\": \"Mailbox\"}]}",
	  "1:38: servers[0].roles: expected an array of roles, got 'Mailbox'" },
	{ "{\"servers\": [{\"name\": \"S1\", \"roles\": [5]}]}",
	  "1:39: servers[0].roles[0]: expected a string, got 5" },
	{ "{\"servers\": [{\"name\": \"S1\", \"roles\": [\"mailbox\"]}]}",
	  "1:39: servers[0].roles[0]: unknown role 'mailbox' (expected "
	  "ClientAccess, EdgeTransport, HubTransport, UnifiedMessaging or "
	  "Mailbox)" },
	{ "{\"servers\": [{\"name\": \"S1\", \"roles\": [\"Mailbox\", "
	  "\"Mailbox\"]}]}",
	  "1:50: servers[0].roles[1]: role 'Mailbox' is listed twice" },
	{ "{\"servers\": [{\"name\": 1, \"roles\": [\"Mailbox\"]}]}",
	  "1:23: servers[0].name: expected a string, got 1" },

	/* clusters */
	{ "{" SRV ", \"clusters\": {}}",
	  "1:65: clusters: expected an array of clusters, got an object" },
};

START_TEST(bad_single)
{
	expect_only(bad[_i].json, bad[_i].msg);
}
END_TEST

/* Host names: nothing that means something to PowerShell gets through. */
static const char *const bad_names[] = {
	"EX\\\"01", "EX 01", "$EX01", "EX`01", "EX;01", "-EX01", "EX01-",
	"EX01.", "", "EX'01", "EX(01)", LONG63 "x",
};

START_TEST(bad_server_name)
{
	char json[512], want[512], shown[128];
	const char *n = bad_names[_i];

	snprintf(json, sizeof(json), "{\"servers\": [{\"name\": \"%s\", "
	    "\"roles\": [\"Mailbox\"]}]}", n);
	/* The message shows the decoded name. */
	snprintf(shown, sizeof(shown), "%s", n);
	if (strcmp(n, "EX\\\"01") == 0)
		snprintf(shown, sizeof(shown), "EX\"01");
	snprintf(want, sizeof(want), "1:23: servers[0].name: invalid name "
	    "'%s' (a host name: letters, digits and '-' in dot-separated "
	    "labels of at most 63)", shown);
	expect_only(json, want);
}
END_TEST

START_TEST(good_server_names)
{
	struct config *cfg = load_ok("{\"servers\": ["
	    "{\"name\": \"" LONG63 "\", \"roles\": [\"Mailbox\"]},"
	    "{\"name\": \"mbx-01.corp.example.org\", \"roles\": [\"Mailbox\"]},"
	    "{\"name\": \"7\", \"roles\": [\"Mailbox\"]}]}");

	ck_assert_uint_eq(cfg->nservers, 3);
	config_free(cfg);
}
END_TEST

#define CL_SERVERS "\"servers\": [" \
	"{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\", \"Mailbox\"]}," \
	"{\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]}," \
	"{\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}," \
	"{\"name\": \"MBX2A\", \"roles\": [\"Mailbox\"]}]"
/* Where "clusters": [ ends on the line, for the columns below. */
#define CL(x) "{" CL_SERVERS ",\n\"clusters\": [" x "]}"

static const struct {
	const char *json;
	const char *msg;
} bad_cluster[] = {
	{ CL("{\"name\": \"CMS1\", \"nodes\": [\"MBX1A\", \"MBX1B\"]}"),
	  "2:14: clusters[0]: missing 'type'" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"SCC\", "
	  "\"nodes\": [\"MBX1A\", \"MBX1B\"]}"),
	  "2:39: clusters[0].type: unsupported cluster type 'SCC' (only CCR "
	  "clusters are supported)" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", \"nodes\": [\"MBX1A\"]}"),
	  "2:55: clusters[0].nodes: a CCR cluster has exactly two nodes, got 1" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", \"nodes\": "
	  "[\"MBX1A\", \"MBX1B\", \"MBX2A\"]}"),
	  "2:55: clusters[0].nodes: a CCR cluster has exactly two nodes, got 3" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", \"nodes\": \"MBX1A\"}"),
	  "2:55: clusters[0].nodes: expected an array of the two node names, "
	  "got 'MBX1A'" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX1A\", \"MBX9\"]}"),
	  "2:65: clusters[0].nodes[1]: unknown server 'MBX9'" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX1A\", \"mbx1a\"]}"),
	  "2:65: clusters[0].nodes[1]: 'mbx1a' is the same server as nodes[0]" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"CAS01\", \"MBX1B\"]}"),
	  "2:56: clusters[0].nodes[0]: server 'CAS01' has roles ClientAccess, "
	  "Mailbox, but a CCR node holds only the Mailbox role" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX1A\", \"MBX1B\"]},\n"
	  "{\"name\": \"CMS2\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX2A\", \"MBX1B\"]}"),
	  "3:52: clusters[1].nodes[1]: server 'MBX1B' is already a node of "
	  "cluster 'CMS1'" },
	{ CL("{\"name\": \"CMS 1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX1A\", \"MBX1B\"]}"),
	  "2:23: clusters[0].name: invalid name 'CMS 1' (a host name: letters, "
	  "digits and '-' in dot-separated labels of at most 63)" },
	{ CL("{\"name\": \"mbx2a\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX1A\", \"MBX1B\"]}"),
	  "2:23: clusters[0].name: cluster name 'mbx2a' is already a server "
	  "name (servers[3].name at {}:1:159)" },
	{ CL("{\"name\": \"CMS1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX1A\", \"MBX1B\"]},\n"
	  "{\"name\": \"cms1\", \"type\": \"CCR\", "
	  "\"nodes\": [\"MBX2A\", \"CAS01\"]}"),
	  NULL },
};

START_TEST(bad_cluster_single)
{
	char want[1024];

	if (bad_cluster[_i].msg == NULL)
		return;		/* see cluster_duplicates */
	fill(bad_cluster[_i].msg, file, want, sizeof(want));
	expect_only(bad_cluster[_i].json, want);
}
END_TEST

/* Both duplicates named; one message per mistake. */
START_TEST(cluster_duplicates)
{
	struct config_errors e;

	load_bad(bad_cluster[NCASES(bad_cluster) - 1].json, &e);
	ck_assert_msg(e.n == 2, "%s", joined(&e));
	{
		char want[1024];

		snprintf(want, sizeof(want), "3:10: clusters[1].name: duplicate "
		    "cluster name 'cms1' (already used by clusters[0].name at "
		    "%s:2:23)", file);
		expect_err(&e, want);
	}
	expect_err(&e, "3:52: clusters[1].nodes[1]: server 'CAS01' has roles "
	    "ClientAccess, Mailbox, but a CCR node holds only the Mailbox role");
	config_errors_free(&e);
}
END_TEST

START_TEST(duplicate_server_names)
{
	struct config_errors e;
	char want[1024];

	load_bad("{\"servers\": [\n"
	    "  {\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]},\n"
	    "  {\"name\": \"HUB01\", \"roles\": [\"HubTransport\"]},\n"
	    "  {\"name\": \"cas01\", \"roles\": [\"ClientAccess\"]},\n"
	    "  {\"name\": \"Cas01\", \"roles\": [\"ClientAccess\"]}]}", &e);
	ck_assert_msg(e.n == 2, "%s", joined(&e));
	snprintf(want, sizeof(want), "4:12: servers[2].name: duplicate server "
	    "name 'cas01' (already used by servers[0].name at %s:2:12)", file);
	expect_err(&e, want);
	snprintf(want, sizeof(want), "5:12: servers[3].name: duplicate server "
	    "name 'Cas01' (already used by servers[0].name at %s:2:12)", file);
	expect_err(&e, want);
	config_errors_free(&e);
}
END_TEST

/* ---- many mistakes ---- */

/* The example of config.h, exactly: path as given, line 14, column 21. */
START_TEST(message_format)
{
	struct config_errors e;
	struct config *cfg = NULL;
	char cwd[4096];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(tu_write_file(file, "{\n"
	    "  \"target_version\": \"8.1.240.6\",\n"
	    "  \"servers\": [\n"
	    "    {\"name\": \"CAS01\",\n"
	    "     \"roles\": [\"ClientAccess\"]},\n"
	    "    {\"name\": \"HUB01\",\n"
	    "     \"roles\": [\"HubTransport\"]},\n"
	    "    {\"name\": \"MBX01\",\n"
	    "     \"roles\": [\"Mailbox\"]},\n"
	    "\n"
	    "    {\n"
	    "      \"name\": \"MBX02\",\n"
	    "      \"roles\":\n"
	    "        [           \"Mailboxx\"]\n"
	    "    }\n"
	    "  ]\n"
	    "}\n"), 0);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(config_load("exroll.json", &cfg, &e), -EINVAL);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.msg[0], "exroll.json:14:21: servers[3].roles[0]: "
	    "unknown role 'Mailboxx' (expected ClientAccess, EdgeTransport, "
	    "HubTransport, UnifiedMessaging or Mailbox)");
	config_errors_free(&e);
}
END_TEST

/* Three independent mistakes: three messages, in file order. */
START_TEST(all_errors_reported)
{
	struct config_errors e;
	char want[3][512];

	load_bad("{\"servers\": [{\"name\": \"S1\", \"roles\": [\"Mailbox\"]}],\n"
	    " \"policy\": {\"retries\": 1000,\n"
	    "            \"reboot\": \"sometimes\"},\n"
	    " \"gateway\": {\"max_in_flight\": 0}}", &e);
	snprintf(want[0], sizeof(want[0]), "%s:2:24: policy.retries: must be "
	    "from 0 to 100, got 1000", file);
	snprintf(want[1], sizeof(want[1]), "%s:3:23: policy.reboot: unknown "
	    "reboot policy 'sometimes' (expected if_required, always or "
	    "never)", file);
	snprintf(want[2], sizeof(want[2]), "%s:4:31: gateway.max_in_flight: "
	    "must be from 1 to 1024, got 0", file);
	ck_assert_msg(e.n == 3, "%s", joined(&e));
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(e.msg[i], want[i]);
	config_errors_free(&e);
}
END_TEST

/* A server's own mistake is not echoed by the checks that use it. */
START_TEST(no_cascade)
{
	/* Invalid name: the cluster naming it is not told "unknown". */
	expect_only("{\"servers\": [{\"name\": \"MBX 1A\", \"roles\": "
	    "[\"Mailbox\"]}, {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],"
	    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
	    " \"nodes\": [\"MBX 1A\", \"MBX1B\"]}]}",
	    "1:23: servers[0].name: invalid name 'MBX 1A' (a host name: "
	    "letters, digits and '-' in dot-separated labels of at most 63)");
	/* Unknown role: no "not Mailbox only", no role_order gap. */
	expect_only("{\"policy\": {\"role_order\": [\"Mailbox\"]},"
	    " \"servers\": [{\"name\": \"MBX1A\", \"roles\": [\"Mailboxx\"]},"
	    " {\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}],"
	    " \"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
	    " \"nodes\": [\"MBX1A\", \"MBX1B\"]}]}",
	    "1:81: servers[0].roles[0]: unknown role 'Mailboxx' (expected "
	    "ClientAccess, EdgeTransport, HubTransport, UnifiedMessaging or "
	    "Mailbox)");
	/* No servers at all: the clusters' nodes are not "unknown". */
	expect_only("{\"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\","
	    " \"nodes\": [\"MBX1A\", \"MBX1B\"]}]}", "1:1: missing 'servers'");
	/* A misspelt key suggested as a required one is not also missing. */
	expect_only("{\"servers\": [{\"name\": \"S1\", \"role\": [\"Mailbox\"]}]}",
	    "1:29: servers[0]: unknown key 'role' (did you mean 'roles'?)");
	/* An invalid role_order is not also "missing a role". */
	expect_only("{\"policy\": {\"role_order\": \"Mailbox\"}, " SRV "}",
	    "1:27: policy.role_order: expected an array of roles, got "
	    "'Mailbox'");
}
END_TEST

START_TEST(json_errors)
{
	struct config *cfg = NULL;
	struct config_errors e;
	char want[512], *missing = tu_path(dir, "missing.json");

	load_bad("{\"servers\": [\n  {\"name\": \"S1\",,}]}", &e);
	ck_assert_uint_eq(e.n, 1);
	snprintf(want, sizeof(want), "%s:2:17: invalid JSON: string or '}' "
	    "expected near ','", file);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_free(&e);

	load_bad("{\"servers\": [{\"name\": \"S1\",\n"
	    "   \"roles\": [\"Mailbox\"], \"name\": \"S2\"}]}", &e);
	ck_assert_uint_eq(e.n, 1);
	snprintf(want, sizeof(want), "%s:2:31: duplicate object key near "
	    "'\"name\"'", file);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_free(&e);

	load_bad("", &e);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_ptr_nonnull(strstr(e.msg[0], ":1:1: invalid JSON: "));
	config_errors_free(&e);

	ck_assert_int_eq(config_load(missing, &cfg, &e), -ENOENT);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(e.n, 1);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or "
	    "directory", missing);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_free(&e);
	/* errs may be NULL when only the verdict matters. */
	ck_assert_int_eq(config_load(missing, &cfg, NULL), -ENOENT);
	free(missing);
}
END_TEST

/* Values are shown safely: control bytes escaped, long ones cut. */
START_TEST(values_quoted_safely)
{
	struct config_errors e;
	char json[1024], want[512], long_value[128];

	expect_only("{\"policy\": {\"reboot\": \"\\u001b[31mred\"}, " SRV "}",
	    "1:23: policy.reboot: unknown reboot policy '\\x1b[31mred' "
	    "(expected if_required, always or never)");
	expect_only("{\"policy\": {\"x\\ty\": 1}, " SRV "}",
	    "1:13: policy: unknown key 'x\\x09y'");
	/* Cut after 88 bytes, but not inside the 'é' straddling the cut. */
	memset(long_value, 'a', 87);
	snprintf(long_value + 87, sizeof(long_value) - 87, "ézzz");
	snprintf(json, sizeof(json), "{\"target_version\": \"%s\", " SRV "}",
	    long_value);
	load_bad(json, &e);
	ck_assert_uint_eq(e.n, 1);
	long_value[89] = '\0';
	snprintf(want, sizeof(want), "%s:1:20: target_version: not a version "
	    "'%s...' (expected four numbers, like 8.1.240.6)", file,
	    long_value);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_free(&e);
	/* Columns count characters, not bytes. */
	expect_only("{\"servers\": [{\"name\": \"S1\", \"roles\": [\"Mailbox\"]}],"
	    " \"state_file\": \"/ééé\", \"y\": 1}", "1:75: unknown key 'y'");
}
END_TEST

/* ---- files the configuration names ---- */

static void
token_case(const char *content, mode_t mode, const char *want_fmt)
{
	char *token = tu_path(dir, "tok"), json[512], want[512];

	unlink(token);
	ck_assert_int_eq(tu_write_file(token, content), 0);
	ck_assert_int_eq(chmod(token, mode), 0);
	snprintf(json, sizeof(json), "{\"gateway\": {\"token_file\": \"%s\"}, "
	    SRV "}", token);
	if (want_fmt == NULL) {
		struct config *cfg = load_ok(json);

		ck_assert_str_eq(cfg->gateway.token, "abc def");
		config_free(cfg);
	} else {
		fill(want_fmt, token, want, sizeof(want));
		expect_only(json, want);
	}
	free(token);
}

START_TEST(token_file)
{
	char big[20000];

	token_case("abc def\r\n", 0600, NULL);
	token_case("abc def", 0640, NULL);
	token_case("abc def\n", 0644, "1:28: gateway.token_file: '{}' is "
	    "readable by everyone (mode 0644): chmod o-r it");
	token_case("abc def\n", 0604, "1:28: gateway.token_file: '{}' is "
	    "readable by everyone (mode 0604): chmod o-r it");
	token_case(" \n\n", 0600, "1:28: gateway.token_file: '{}' is empty");
	token_case("abc\ndef\n", 0600, "1:28: gateway.token_file: '{}': the "
	    "token must be one line of printable characters");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	token_case(big, 0600, "1:28: gateway.token_file: cannot read '{}': "
	    "larger than 16 KiB");
}
END_TEST

START_TEST(exec_not_executable)
{
	char *hook = tu_path(dir, "hook"), json[512], want[512];

	ck_assert_int_eq(tu_write_file(hook, "#!/bin/sh\n"), 0);
	ck_assert_int_eq(chmod(hook, 0644), 0);
	snprintf(json, sizeof(json), "{\"notify\": {\"exec\": \"%s\"}, " SRV "}",
	    hook);
	snprintf(want, sizeof(want), "1:21: notify.exec: '%s' is not "
	    "executable", hook);
	expect_only(json, want);
	free(hook);
}
END_TEST

/* ---- URLs ---- */

static const struct {
	const char *url;
	const char *problem;	/* NULL: accepted */
} urls[] = {
	{ "https://psgw.example.org:8443/", NULL },
	{ "https://psgw/", NULL },
	{ "HTTPS://PSGW.example.org", NULL },
	{ "https://192.0.2.7:443/gw/", NULL },
	{ "https://[2001:db8::1]:8443/", NULL },
	{ "http://127.0.0.1:8080/", NULL },
	{ "http://127.200.3.4/", NULL },
	{ "http://localhost:1/", NULL },
	{ "http://LocalHost/", NULL },
	{ "http://[::1]:65535/", NULL },
	{ "http://psgw/", "uses plain http:// to a host that is not loopback "
	  "(127.0.0.0/8, [::1], localhost): use https://" },
	{ "http://128.0.0.1/", "uses plain http:// to a host that is not "
	  "loopback (127.0.0.0/8, [::1], localhost): use https://" },
	{ "http://127.0.0.1.evil.example/", "uses plain http:// to a host "
	  "that is not loopback (127.0.0.0/8, [::1], localhost): use https://" },
	{ "http://[::2]/", "uses plain http:// to a host that is not loopback "
	  "(127.0.0.0/8, [::1], localhost): use https://" },
	{ "ftp://psgw/", "is not an https:// (or loopback http://) URL" },
	{ "psgw.example.org", "is not an https:// (or loopback http://) URL" },
	{ "https://", "has no valid host" },
	{ "https://:8443/", "has no valid host" },
	{ "https://psgw:0/", "has a port outside 1-65535" },
	{ "https://psgw:65536/", "has a port outside 1-65535" },
	{ "https://psgw:84a3/", "has a malformed port" },
	{ "https://psgw:/", "has a malformed port" },
	{ "https://ps_gw/", "has a malformed host name" },
	{ "https://[::1/", "has an unterminated [IPv6] host" },
	{ "https://[fe80::zz]/", "has a malformed IPv6 address" },
	{ "https://[::1]x/", "has a malformed host" },
	{ "https://psgw/?token=1", "must not have a query or fragment" },
	{ "https://psgw/#top", "must not have a query or fragment" },
	{ "https://ps gw/", "contains a space, control or non-ASCII character" },
	{ "https://psgw/\xc3\xa9", "contains a space, control or non-ASCII "
	  "character" },
};

START_TEST(url_rules)
{
	char json[512], want[512];

	snprintf(json, sizeof(json), "{\"gateway\": {\"url\": \"%s\"}, " SRV "}",
	    urls[_i].url);
	if (urls[_i].problem == NULL) {
		struct config *cfg = load_ok(json);

		ck_assert_str_eq(cfg->gateway.url, urls[_i].url);
		config_free(cfg);
		return;
	}
	snprintf(want, sizeof(want), "1:21: gateway.url: '%s' %s",
	    urls[_i].url, urls[_i].problem);
	expect_only(json, want);
}
END_TEST

/* Credentials in a URL are refused without being echoed. */
START_TEST(url_secret_not_echoed)
{
	struct config_errors e;

	load_bad("{\"notify\": {\"webhook_url\": "
	    "\"https://bot:hunter2@hooks.example.org/x\"}, " SRV "}", &e);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_ptr_null(strstr(e.msg[0], "hunter2"));
	ck_assert_ptr_nonnull(strstr(e.msg[0], ":1:28: notify.webhook_url: "
	    "must not hold a user name or password"));
	config_errors_free(&e);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *good = tcase_create("good");
	TCase *badc = tcase_create("bad");
	TCase *files = tcase_create("files");

	tcase_add_test(good, defaults);
	tcase_add_test(good, every_field);
	tcase_add_test(good, lookups_and_names);
	tcase_add_test(good, windows_local_time);
	tcase_add_test(good, bom_and_limits);
	tcase_add_test(good, good_server_names);
	tcase_add_test(good, examples_load);
	suite_add_tcase(s, good);

	tcase_add_loop_test(badc, bad_single, 0, NCASES(bad));
	tcase_add_loop_test(badc, bad_server_name, 0, NCASES(bad_names));
	tcase_add_loop_test(badc, bad_cluster_single, 0, NCASES(bad_cluster));
	tcase_add_test(badc, cluster_duplicates);
	tcase_add_test(badc, duplicate_server_names);
	tcase_add_test(badc, message_format);
	tcase_add_test(badc, all_errors_reported);
	tcase_add_test(badc, no_cascade);
	tcase_add_test(badc, json_errors);
	tcase_add_test(badc, values_quoted_safely);
	tcase_add_loop_test(badc, url_rules, 0, NCASES(urls));
	tcase_add_test(badc, url_secret_not_echoed);
	suite_add_tcase(s, badc);

	tcase_add_test(files, token_file);
	tcase_add_test(files, exec_not_executable);
	suite_add_tcase(s, files);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	/* Absolute windows are local times: pin the zone. */
	setenv("TZ", "UTC", 1);
	tzset();
	if ((dir = tu_tmpdir("config")) == NULL ||
	    (file = tu_path(dir, "exroll.json")) == NULL) {
		perror("test_config: temporary directory");
		return EXIT_FAILURE;
	}
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_rmrf(dir);
	free(file);
	free(dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
