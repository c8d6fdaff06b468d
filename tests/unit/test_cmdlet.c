/*
 * test_cmdlet — gateway request bodies (byte for byte) and output parsers.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdlet.h"
#include "role.h"

#include "testutil.h"

/* Compares a built body with the golden text, then frees it. */
#define ck_body(got, want) do {					\
	char *g_ = (got);					\
	ck_assert_ptr_nonnull(g_);				\
	ck_assert_str_eq(g_, (want));				\
	free(g_);						\
} while (0)

START_TEST(req_get_server)
{
	ck_body(cmdlet_get_server("j-1", "EXCAS01"),
	    "{\"id\":\"j-1\",\"target\":\"EXCAS01\","
	    "\"command\":\"Get-ExchangeServer\","
	    "\"parameters\":{\"Identity\":\"EXCAS01\"}}");
}
END_TEST

START_TEST(req_test_health)
{
	ck_body(cmdlet_test_health("j.2_x", "MBX1A"),
	    "{\"id\":\"j.2_x\",\"target\":\"MBX1A\","
	    "\"command\":\"Test-ServiceHealth\","
	    "\"parameters\":{\"Server\":\"MBX1A\"}}");
}
END_TEST

START_TEST(req_setup_upgrade)
{
	ck_body(cmdlet_setup_upgrade("s1", "HUB01", NULL, 14400),
	    "{\"id\":\"s1\",\"target\":\"HUB01\","
	    "\"command\":\"Invoke-ExchangeSetup\","
	    "\"parameters\":{\"Mode\":\"Upgrade\"},\"timeout_s\":14400}");
	ck_body(cmdlet_setup_upgrade("s2", "HUB01", "\\\\files\\E2K7SP1", 0),
	    "{\"id\":\"s2\",\"target\":\"HUB01\","
	    "\"command\":\"Invoke-ExchangeSetup\","
	    "\"parameters\":{\"Mode\":\"Upgrade\","
	    "\"SourcePath\":\"\\\\\\\\files\\\\E2K7SP1\"}}");
	ck_body(cmdlet_setup_upgrade("s3", "HUB01", NULL, 90.5),
	    "{\"id\":\"s3\",\"target\":\"HUB01\","
	    "\"command\":\"Invoke-ExchangeSetup\","
	    "\"parameters\":{\"Mode\":\"Upgrade\"},\"timeout_s\":90.5}");
}
END_TEST

START_TEST(req_restart)
{
	ck_body(cmdlet_restart("r1", "EXCAS01"),
	    "{\"id\":\"r1\",\"target\":\"EXCAS01\","
	    "\"command\":\"Restart-Computer\","
	    "\"parameters\":{\"ComputerName\":\"EXCAS01\",\"Force\":true}}");
}
END_TEST

START_TEST(req_cms)
{
	ck_body(cmdlet_cms_status("c1", "CMS1"),
	    "{\"id\":\"c1\",\"target\":null,"
	    "\"command\":\"Get-ClusteredMailboxServerStatus\","
	    "\"parameters\":{\"Identity\":\"CMS1\"}}");
	ck_body(cmdlet_cms_stop("c2", "CMS1", "exroll c2: service pack"),
	    "{\"id\":\"c2\",\"target\":null,"
	    "\"command\":\"Stop-ClusteredMailboxServer\","
	    "\"parameters\":{\"Identity\":\"CMS1\","
	    "\"StopReason\":\"exroll c2: service pack\",\"Confirm\":false}}");
	ck_body(cmdlet_cms_move("c3", "CMS1", "MBX1B", "exroll c3"),
	    "{\"id\":\"c3\",\"target\":null,"
	    "\"command\":\"Move-ClusteredMailboxServer\","
	    "\"parameters\":{\"Identity\":\"CMS1\",\"TargetMachine\":\"MBX1B\","
	    "\"MoveComment\":\"exroll c3\",\"Confirm\":false}}");
	ck_body(cmdlet_cms_setup("c4", "MBX1B", "CMS1", 3600),
	    "{\"id\":\"c4\",\"target\":\"MBX1B\","
	    "\"command\":\"Invoke-ExchangeSetup\","
	    "\"parameters\":{\"Mode\":\"UpgradeCMS\"},\"timeout_s\":3600}");
	ck_body(cmdlet_cms_start("c5", "CMS1"),
	    "{\"id\":\"c5\",\"target\":null,"
	    "\"command\":\"Start-ClusteredMailboxServer\","
	    "\"parameters\":{\"Identity\":\"CMS1\"}}");
}
END_TEST

/* A hostile value is a JSON string, escaped, never part of the syntax. */
START_TEST(req_escaping)
{
	const char *evil = "x\"; Remove-Item C:\\ -Recurse; \"\n$(y)`";
	char *b = cmdlet_cms_stop("e1", "CMS1", evil);
	json_t *j, *p;

	ck_body(cmdlet_cms_move("e0", "CMS\"1", "B\\\"", "a\"b\\c"),
	    "{\"id\":\"e0\",\"target\":null,"
	    "\"command\":\"Move-ClusteredMailboxServer\","
	    "\"parameters\":{\"Identity\":\"CMS\\\"1\","
	    "\"TargetMachine\":\"B\\\\\\\"\","
	    "\"MoveComment\":\"a\\\"b\\\\c\",\"Confirm\":false}}");
	ck_assert_ptr_nonnull(b);
	j = json_loads(b, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_ptr_nonnull(j);
	p = json_object_get(j, "parameters");
	ck_assert_int_eq(json_object_size(p), 3);
	ck_assert_str_eq(json_string_value(json_object_get(p, "StopReason")),
	    evil);
	json_decref(j);
	free(b);
}
END_TEST

START_TEST(req_generic_and_invalid)
{
	json_t *p = json_pack("{s:[s,s], s:i}", "Names", "a", "b", "Count", 3);

	ck_body(cmdlet_request("g1", NULL, "Get-Thing", p, 0.25),
	    "{\"id\":\"g1\",\"target\":null,\"command\":\"Get-Thing\","
	    "\"parameters\":{\"Names\":[\"a\",\"b\"],\"Count\":3},"
	    "\"timeout_s\":0.25}");
	/* An id the gateway would refuse is never built. */
	errno = 0;
	ck_assert_ptr_null(cmdlet_get_server("bad id", "EXCAS01"));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(cmdlet_get_server("", "EXCAS01"));
	ck_assert_ptr_null(cmdlet_get_server(
	    "0123456789012345678901234567890123456789012345678901234567890123x",
	    "EXCAS01"));
	ck_assert_ptr_null(cmdlet_get_server("ok", NULL));
	/* Not valid UTF-8. */
	ck_assert_ptr_null(cmdlet_get_server("ok", "\xff\xfe"));
	ck_assert_ptr_null(cmdlet_cms_setup("ok", "MBX1B", "bad name", 0));
	ck_assert_ptr_null(cmdlet_request("ok", NULL, "X", NULL, 0));
}
END_TEST

/* --- parsers ------------------------------------------------------------- */

static json_t *
js(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);

	ck_assert_msg(j != NULL, "bad test json: %s", e.text);
	return j;
}

START_TEST(parse_server_good)
{
	json_t *o = js("[{\"Name\":\"EXCAS01\",\"ServerRole\":"
	    "\"Mailbox, ClientAccess, HubTransport\",\"AdminDisplayVersion\":"
	    "\"Version 8.1 (Build 240.6)\",\"Site\":\"x\",\"Extra\":[1,2]}]");
	struct cmdlet_server s;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_server(o, &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.name, "EXCAS01");
	ck_assert_uint_eq(s.roles, ROLE_BIT(ROLE_MAILBOX) |
	    ROLE_BIT(ROLE_CLIENT_ACCESS) | ROLE_BIT(ROLE_HUB_TRANSPORT));
	ck_assert_uint_eq(s.version.part[0], 8);
	ck_assert_uint_eq(s.version.part[1], 1);
	ck_assert_uint_eq(s.version.part[2], 240);
	ck_assert_uint_eq(s.version.part[3], 6);
	json_decref(o);
}
END_TEST

struct bad_case {
	const char *json;
	const char *err;
};

static const struct bad_case server_bad[] = {
	{ "[{\"Name\":\"A\",\"ServerRole\":\"Mailbox\"}]",
	  "Get-ExchangeServer: output[0].AdminDisplayVersion: missing" },
	{ "[{\"Name\":\"A\",\"ServerRole\":\"Mailbox\","
	  "\"AdminDisplayVersion\":8.1}]",
	  "Get-ExchangeServer: output[0].AdminDisplayVersion: not a string" },
	{ "[{\"Name\":\"A\",\"ServerRole\":\"Mailbox\","
	  "\"AdminDisplayVersion\":\"8.1.240.6\"}]",
	  "Get-ExchangeServer: output[0].AdminDisplayVersion: cannot parse "
	  "'8.1.240.6' (expected \"Version 8.1 (Build 240.6)\")" },
	{ "[{\"ServerRole\":\"Mailbox\","
	  "\"AdminDisplayVersion\":\"Version 8.1 (Build 240.6)\"}]",
	  "Get-ExchangeServer: output[0].Name: missing" },
	{ "[{\"Name\":\"\",\"ServerRole\":\"Mailbox\","
	  "\"AdminDisplayVersion\":\"Version 8.1 (Build 240.6)\"}]",
	  "Get-ExchangeServer: output[0].Name: empty name" },
	{ "[{\"Name\":\"A\",\"ServerRole\":\"None\","
	  "\"AdminDisplayVersion\":\"Version 8.1 (Build 240.6)\"}]",
	  "Get-ExchangeServer: output[0].ServerRole: no known role in 'None'" },
	{ "[{\"Name\":\"A\",\"ServerRole\":[\"Mailbox\"],"
	  "\"AdminDisplayVersion\":\"Version 8.1 (Build 240.6)\"}]",
	  "Get-ExchangeServer: output[0].ServerRole: not a string" },
	{ "[]", "Get-ExchangeServer: output: 0 items, expected 1" },
	{ "[{}, {}]", "Get-ExchangeServer: output: 2 items, expected 1" },
	{ "[\"A\"]", "Get-ExchangeServer: output[0]: not an object" },
	{ "{}", "Get-ExchangeServer: output: not an array" },
};

START_TEST(parse_server_bad)
{
	const struct bad_case *c = &server_bad[_i];
	json_t *o = js(c->json);
	struct cmdlet_server s, before;
	char err[256] = "";

	memset(&s, 0x5a, sizeof(s));
	before = s;
	ck_assert_int_eq(cmdlet_parse_server(o, &s, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, c->err);
	/* Output parameters are written only on success. */
	ck_assert_mem_eq(&s, &before, sizeof(s));
	json_decref(o);
	if (_i == 0) {
		ck_assert_int_eq(cmdlet_parse_server(NULL, &s, err,
		    sizeof(err)), -EINVAL);
		ck_assert_str_eq(err, "Get-ExchangeServer: output: missing");
		/* A NULL err buffer is allowed. */
		ck_assert_int_eq(cmdlet_parse_server(NULL, &s, NULL, 0),
		    -EINVAL);
	}
}
END_TEST

START_TEST(parse_health_good)
{
	json_t *o = js("[{\"Role\":\"Mailbox Server Role\","
	    "\"RequiredServicesRunning\":false,\"ServicesRunning\":[\"a\"],"
	    "\"ServicesNotRunning\":[\"MSExchangeIS\",\"MSExchangeSA\"]},"
	    "{\"Role\":\"Client Access Server Role\","
	    "\"RequiredServicesRunning\":false,"
	    "\"ServicesNotRunning\":[\"MSExchangeSA\",\"W3Svc\"]},"
	    "{\"Role\":\"Hub Transport Server Role\","
	    "\"RequiredServicesRunning\":true,\"ServicesNotRunning\":[]}]");
	json_t *ok = js("[{\"Role\":\"Mailbox Server Role\","
	    "\"RequiredServicesRunning\":true,\"ServicesNotRunning\":[]},"
	    "{\"Role\":\"Client Access Server Role\","
	    "\"RequiredServicesRunning\":true,\"ServicesNotRunning\":[]}]");
	struct cmdlet_health h;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_health(o, &h, err, sizeof(err)), 0);
	ck_assert(!h.all_running);
	ck_assert_str_eq(h.not_running, "MSExchangeIS, MSExchangeSA, W3Svc");
	ck_assert_int_eq(cmdlet_parse_health(ok, &h, err, sizeof(err)), 0);
	ck_assert(h.all_running);
	ck_assert_str_eq(h.not_running, "");
	json_decref(o);
	json_decref(ok);
}
END_TEST

/* A role that says "not running" with an empty list is still not running;
 * a huge list is cut with "..." rather than failing. */
START_TEST(parse_health_edges)
{
	json_t *o = js("[{\"Role\":\"Mailbox\",\"RequiredServicesRunning\":true,"
	    "\"ServicesNotRunning\":[]},{\"Role\":\"Hub\","
	    "\"RequiredServicesRunning\":false,\"ServicesNotRunning\":[]}]");
	json_t *big = json_array(), *item, *svcs = json_array();
	struct cmdlet_health h;
	char err[256] = "", name[32];

	ck_assert_int_eq(cmdlet_parse_health(o, &h, err, sizeof(err)), 0);
	ck_assert(!h.all_running);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "Service%03d", i);
		json_array_append_new(svcs, json_string(name));
	}
	item = json_pack("{s:s, s:b, s:o}", "Role", "Mailbox",
	    "RequiredServicesRunning", 0, "ServicesNotRunning", svcs);
	json_array_append_new(big, item);
	ck_assert_int_eq(cmdlet_parse_health(big, &h, err, sizeof(err)), 0);
	ck_assert(!h.all_running);
	ck_assert_uint_lt(strlen(h.not_running), sizeof(h.not_running));
	ck_assert_str_eq(h.not_running + strlen(h.not_running) - 3, "...");
	ck_assert(strncmp(h.not_running, "Service000, Service001", 22) == 0);
	json_decref(o);
	json_decref(big);
}
END_TEST

static const struct bad_case health_bad[] = {
	{ "[]", "Test-ServiceHealth: output: empty (expected one item per role)" },
	{ "[{\"Role\":\"Mailbox\",\"ServicesNotRunning\":[]}]",
	  "Test-ServiceHealth: output[0].RequiredServicesRunning: missing" },
	{ "[{\"Role\":\"Mailbox\",\"RequiredServicesRunning\":true,"
	  "\"ServicesNotRunning\":[]},{\"Role\":\"Hub\","
	  "\"RequiredServicesRunning\":\"True\",\"ServicesNotRunning\":[]}]",
	  "Test-ServiceHealth: output[1].RequiredServicesRunning: not a boolean" },
	{ "[{\"Role\":\"Mailbox\",\"RequiredServicesRunning\":true}]",
	  "Test-ServiceHealth: output[0].ServicesNotRunning: missing" },
	{ "[{\"Role\":\"Mailbox\",\"RequiredServicesRunning\":false,"
	  "\"ServicesNotRunning\":\"MSExchangeIS\"}]",
	  "Test-ServiceHealth: output[0].ServicesNotRunning: not an array" },
	{ "[{\"Role\":\"Mailbox\",\"RequiredServicesRunning\":false,"
	  "\"ServicesNotRunning\":[\"a\",7]}]",
	  "Test-ServiceHealth: output[0].ServicesNotRunning[1]: not a string" },
	{ "[{\"RequiredServicesRunning\":true,\"ServicesNotRunning\":[]}]",
	  "Test-ServiceHealth: output[0].Role: missing" },
	{ "[null]", "Test-ServiceHealth: output[0]: not an object" },
	{ "\"x\"", "Test-ServiceHealth: output: not an array" },
};

START_TEST(parse_health_bad)
{
	const struct bad_case *c = &health_bad[_i];
	json_t *o = js(c->json);
	struct cmdlet_health h;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_health(o, &h, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, c->err);
	json_decref(o);
}
END_TEST

START_TEST(parse_setup_good)
{
	json_t *a = js("[{\"ExitCode\":0,\"RebootRequired\":true,\"Log\":\"x\"}]");
	json_t *b = js("[{\"ExitCode\":1603,\"RebootRequired\":false}]");
	json_t *cms = js("[{\"ExitCode\":0}]");
	json_t *neg = js("[{\"ExitCode\":2147942405}]");
	struct cmdlet_setup s;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_setup(a, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s.exit_code, 0);
	ck_assert(s.reboot_required);
	ck_assert_int_eq(cmdlet_parse_setup(b, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s.exit_code, 1603);
	ck_assert(!s.reboot_required);
	/* UpgradeCMS reports ExitCode alone. */
	ck_assert_int_eq(cmdlet_parse_setup(cms, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s.exit_code, 0);
	ck_assert(!s.reboot_required);
	/* 0x80070005 as an unsigned DWORD: non-zero, a failure. */
	ck_assert_int_eq(cmdlet_parse_setup(neg, &s, err, sizeof(err)), 0);
	ck_assert_int_ne(s.exit_code, 0);
	json_decref(a);
	json_decref(b);
	json_decref(cms);
	json_decref(neg);
}
END_TEST

static const struct bad_case setup_bad[] = {
	{ "[{\"RebootRequired\":true}]",
	  "Invoke-ExchangeSetup: output[0].ExitCode: missing" },
	{ "[{\"ExitCode\":\"0\"}]",
	  "Invoke-ExchangeSetup: output[0].ExitCode: not an integer" },
	{ "[{\"ExitCode\":0.5}]",
	  "Invoke-ExchangeSetup: output[0].ExitCode: not an integer" },
	{ "[{\"ExitCode\":99999999999}]",
	  "Invoke-ExchangeSetup: output[0].ExitCode: out of range" },
	{ "[{\"ExitCode\":0,\"RebootRequired\":\"yes\"}]",
	  "Invoke-ExchangeSetup: output[0].RebootRequired: not a boolean" },
	{ "[]", "Invoke-ExchangeSetup: output: 0 items, expected 1" },
};

START_TEST(parse_setup_bad)
{
	const struct bad_case *c = &setup_bad[_i];
	json_t *o = js(c->json);
	struct cmdlet_setup s;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_setup(o, &s, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, c->err);
	json_decref(o);
}
END_TEST

START_TEST(parse_cms_good)
{
	json_t *a = js("[{\"Identity\":\"CMS1\",\"State\":\"Online\","
	    "\"OperationalMachines\":[\"MBX1A <Active, Quorum Owner>\","
	    "\"MBX1B\"],\"QuorumResource\":\"x\"}]");
	json_t *b = js("[{\"Identity\":\"CMS1\",\"State\":\"OfflinePending\","
	    "\"OperationalMachines\":[\"MBX1A\",\"MBX1B <Active>\"]}]");
	json_t *c = js("[{\"Identity\":\"CMS1\",\"State\":\"Offline\","
	    "\"OperationalMachines\":[\"MBX1A <Quorum Owner>\",\"MBX1B\"]}]");
	struct cmdlet_cms_status st;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_cms_status(a, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(st.state, CMS_ONLINE);
	ck_assert_str_eq(st.active, "MBX1A");
	ck_assert_int_eq(st.nmachines, 2);
	ck_assert_str_eq(st.machines[0], "MBX1A");
	ck_assert_str_eq(st.machines[1], "MBX1B");
	ck_assert_int_eq(cmdlet_parse_cms_status(b, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(st.state, CMS_OFFLINE_PENDING);
	ck_assert_str_eq(st.active, "MBX1B");
	ck_assert_int_eq(cmdlet_parse_cms_status(c, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(st.state, CMS_OFFLINE);
	ck_assert_str_eq(st.active, "");
	ck_assert_str_eq(st.machines[0], "MBX1A");
	json_decref(a);
	json_decref(b);
	json_decref(c);
}
END_TEST

static const struct bad_case cms_bad[] = {
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Sleeping\","
	  "\"OperationalMachines\":[]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].State: unknown state "
	  "'Sleeping'" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"online\","
	  "\"OperationalMachines\":[]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].State: unknown state "
	  "'online'" },
	{ "[{\"Identity\":\"CMS1\",\"OperationalMachines\":[]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].State: missing" },
	{ "[{\"State\":\"Online\",\"OperationalMachines\":[]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].Identity: missing" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Online\"}]",
	  "Get-ClusteredMailboxServerStatus: output[0].OperationalMachines: "
	  "missing" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Online\","
	  "\"OperationalMachines\":\"MBX1A <Active>\"}]",
	  "Get-ClusteredMailboxServerStatus: output[0].OperationalMachines: "
	  "not an array" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Online\","
	  "\"OperationalMachines\":[\"MBX1A <Active>\",1]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].OperationalMachines[1]: "
	  "not a string" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Online\","
	  "\"OperationalMachines\":[\"MBX1A <Active>\",\"MBX1B <Active>\"]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].OperationalMachines[1]: "
	  "a second active machine" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Online\","
	  "\"OperationalMachines\":[\"A\",\"B\",\"C\"]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].OperationalMachines: "
	  "3 machines, a CCR cluster has at most 2" },
	{ "[{\"Identity\":\"CMS1\",\"State\":\"Online\","
	  "\"OperationalMachines\":[\" <Active>\"]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].OperationalMachines[0]: "
	  "empty name" },
	{ "[{\"Identity\":\"CMS1\",\"State\":5,\"OperationalMachines\":[]}]",
	  "Get-ClusteredMailboxServerStatus: output[0].State: not a string" },
};

START_TEST(parse_cms_bad)
{
	const struct bad_case *c = &cms_bad[_i];
	json_t *o = js(c->json);
	struct cmdlet_cms_status st;
	char err[256] = "";

	ck_assert_int_eq(cmdlet_parse_cms_status(o, &st, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, c->err);
	json_decref(o);
}
END_TEST

START_TEST(cms_state_names)
{
	static const char *names[] = { "Online", "PartiallyOnline",
	    "OnlinePending", "Offline", "OfflinePending", "Failed" };
	enum cms_state s;

	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(cms_state_parse(names[i], &s), 0);
		ck_assert_int_eq(s, i);
		ck_assert_str_eq(cms_state_name(s), names[i]);
	}
	ck_assert_int_eq(cms_state_parse("Unknown", &s), -EINVAL);
	ck_assert_int_eq(cms_state_parse(NULL, &s), -EINVAL);
	ck_assert_str_eq(cms_state_name((enum cms_state)42), "unknown");
}
END_TEST

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
cmdlet_suite(void)
{
	Suite *s = suite_create("cmdlet");
	TCase *req = tcase_create("requests");
	TCase *parse = tcase_create("parsers");

	tcase_add_test(req, req_get_server);
	tcase_add_test(req, req_test_health);
	tcase_add_test(req, req_setup_upgrade);
	tcase_add_test(req, req_restart);
	tcase_add_test(req, req_cms);
	tcase_add_test(req, req_escaping);
	tcase_add_test(req, req_generic_and_invalid);
	suite_add_tcase(s, req);

	tcase_add_test(parse, parse_server_good);
	tcase_add_loop_test(parse, parse_server_bad, 0, NCASES(server_bad));
	tcase_add_test(parse, parse_health_good);
	tcase_add_test(parse, parse_health_edges);
	tcase_add_loop_test(parse, parse_health_bad, 0, NCASES(health_bad));
	tcase_add_test(parse, parse_setup_good);
	tcase_add_loop_test(parse, parse_setup_bad, 0, NCASES(setup_bad));
	tcase_add_test(parse, parse_cms_good);
	tcase_add_loop_test(parse, parse_cms_bad, 0, NCASES(cms_bad));
	tcase_add_test(parse, cms_state_names);
	suite_add_tcase(s, parse);
	return s;
}

int
main(void)
{
	return tu_run(cmdlet_suite());
}
