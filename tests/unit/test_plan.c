/*
 * test_plan — waves from the inventory: placement rules, the text for
 * people and the JSON of `exrolld --plan --json`.
 *
 * The example organization's plan is compared with golden files in
 * tests/unit/golden/; EXROLL_UPDATE_GOLDEN=1 rewrites them from the current
 * output (then review the diff).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plan.h"
#include "testutil.h"

static char *dir;

static struct config *
load_text(const char *json)
{
	char *path = tu_path(dir, "exroll.json");
	struct config *cfg = NULL;
	struct config_errors errs;
	int rc;

	ck_assert_int_eq(tu_write_file(path, json), 0);
	rc = config_load(path, &cfg, &errs);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, errs.n ? errs.msg[0] : "");
	free(path);
	return cfg;
}

static struct config *
load_src(const char *name)
{
	char *path = tu_src_path(name);
	struct config *cfg = NULL;
	struct config_errors errs;
	int rc = config_load(path, &cfg, &errs);

	ck_assert_msg(rc == 0, "%s: rc %d: %s", path, rc,
	    errs.n ? errs.msg[0] : "");
	free(path);
	return cfg;
}

static char *
plan_text(const struct plan *p, const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	plan_print_text(p, cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

/* "ClientAccess: CAS01 | HubTransport: X, HUB01 | Mailbox: ..., CMS1*":
 * the whole plan in one comparable line (clusters marked with '*'). */
static char *
plan_summary(const struct plan *p, const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < p->nwaves; i++) {
		fprintf(f, "%s%s:", i ? " | " : "", role_name(p->waves[i].role));
		for (size_t j = 0; j < p->waves[i].nunits; j++) {
			const struct plan_unit *u = &p->waves[i].units[j];

			if (u->kind == PLAN_UNIT_SERVER)
				fprintf(f, "%s %s", j ? "," : "",
				    cfg->servers[u->index].name);
			else
				fprintf(f, "%s %s*", j ? "," : "",
				    cfg->clusters[u->index].name);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

#define MIXED_SERVERS "\"servers\": [" \
	"{\"name\": \"MBX01\", \"roles\": [\"Mailbox\"]}," \
	"{\"name\": \"ALL1\", \"roles\": [\"Mailbox\", \"ClientAccess\", " \
	"\"HubTransport\"]}," \
	"{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]}," \
	"{\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]}," \
	"{\"name\": \"HUB01\", \"roles\": [\"HubTransport\"]}," \
	"{\"name\": \"CASHUB\", \"roles\": [\"HubTransport\", " \
	"\"ClientAccess\"]}," \
	"{\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}," \
	"{\"name\": \"ALL2\", \"roles\": [\"ClientAccess\", \"Mailbox\"]}," \
	"{\"name\": \"MBX02\", \"roles\": [\"Mailbox\"]}]," \
	"\"clusters\": [{\"name\": \"CMS1\", \"type\": \"CCR\", " \
	"\"nodes\": [\"MBX1B\", \"MBX1A\"]}]"

static void
check_plan(const char *json, const char *want)
{
	struct config *cfg = load_text(json);
	struct plan p;
	char *got;

	ck_assert_int_eq(plan_build(cfg, &p), 0);
	got = plan_summary(&p, cfg);
	ck_assert_str_eq(got, want);
	free(got);
	plan_free(&p);
	config_free(cfg);
}

/* Last role decides the wave; multi-role first; clusters last in Mailbox;
 * nodes are not units; Edge and UM (nobody has them) have no wave. */
START_TEST(placement)
{
	check_plan("{" MIXED_SERVERS "}",
	    "ClientAccess: CAS01 | HubTransport: CASHUB, HUB01 | "
	    "Mailbox: ALL1, ALL2, MBX01, MBX02, CMS1*");
}
END_TEST

/* The order decides which role is last, and the order of the waves. */
START_TEST(custom_role_order)
{
	check_plan("{\"policy\": {\"role_order\": [\"Mailbox\", \"HubTransport\","
	    " \"ClientAccess\"]}, " MIXED_SERVERS "}",
	    "Mailbox: MBX01, MBX02, CMS1* | HubTransport: HUB01 | "
	    "ClientAccess: ALL1, CASHUB, ALL2, CAS01");
	check_plan("{\"policy\": {\"role_order\": [\"HubTransport\", "
	    "\"ClientAccess\", \"Mailbox\", \"EdgeTransport\"]}, "
	    "\"servers\": [{\"name\": \"E1\", \"roles\": [\"EdgeTransport\"]},"
	    " {\"name\": \"CH\", \"roles\": [\"ClientAccess\", \"HubTransport\"]},"
	    " {\"name\": \"H1\", \"roles\": [\"HubTransport\"]}]}",
	    "HubTransport: H1 | ClientAccess: CH | EdgeTransport: E1");
}
END_TEST

/* A plan of clusters only, and one that is all one wave. */
START_TEST(edge_shapes)
{
	check_plan("{\"servers\": [{\"name\": \"A\", \"roles\": [\"Mailbox\"]},"
	    " {\"name\": \"B\", \"roles\": [\"Mailbox\"]}], \"clusters\": "
	    "[{\"name\": \"C\", \"type\": \"CCR\", \"nodes\": [\"A\", \"B\"]}]}",
	    "Mailbox: C*");
	check_plan("{\"servers\": [{\"name\": \"U2\", \"roles\": "
	    "[\"UnifiedMessaging\"]}, {\"name\": \"U1\", \"roles\": "
	    "[\"UnifiedMessaging\"]}]}", "UnifiedMessaging: U2, U1");
}
END_TEST

START_TEST(free_is_safe)
{
	struct plan p = { NULL, 0 };

	plan_free(&p);
	plan_free(&p);
	ck_assert_ptr_null(p.waves);
}
END_TEST

static void
compare_golden(const char *name, const char *got)
{
	char *path = tu_src_path(name), *want;

	if (getenv("EXROLL_UPDATE_GOLDEN") != NULL)
		ck_assert_int_eq(tu_write_file(path, got), 0);
	want = tu_read_file(path);
	ck_assert_msg(want != NULL, "cannot read %s", path);
	ck_assert_msg(strcmp(got, want) == 0, "%s differs; got:\n%s", path, got);
	free(want);
	free(path);
}

START_TEST(golden_example)
{
	struct config *cfg = load_src("contrib/examples/exroll.json");
	struct plan p;
	json_t *j;
	char *text, *dump;

	ck_assert_int_eq(plan_build(cfg, &p), 0);
	text = plan_text(&p, cfg);
	compare_golden("tests/unit/golden/exroll-plan.txt", text);

	j = plan_to_json(&p, cfg);
	ck_assert_ptr_nonnull(j);
	dump = json_dumps(j, JSON_INDENT(2));
	ck_assert_ptr_nonnull(dump);
	{
		char *withnl;

		ck_assert_int_ge(asprintf(&withnl, "%s\n", dump), 0);
		compare_golden("tests/unit/golden/exroll-plan.json", withnl);
		free(withnl);
	}
	free(dump);
	json_decref(j);
	free(text);
	plan_free(&p);
	config_free(cfg);
}
END_TEST

/* DESIGN §5's shape, exactly: nothing more, nothing less. */
START_TEST(json_shape)
{
	struct config *cfg = load_text("{" MIXED_SERVERS "}");
	struct plan p;
	json_t *j, *want;

	ck_assert_int_eq(plan_build(cfg, &p), 0);
	j = plan_to_json(&p, cfg);
	want = json_pack("{s:[{s:s,s:[{s:s,s:s}]},{s:s,s:[{s:s,s:s},{s:s,s:s}]},"
	    "{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}]}",
	    "waves",
	    "role", "ClientAccess", "units", "kind", "server", "name", "CAS01",
	    "role", "HubTransport", "units", "kind", "server", "name", "CASHUB",
	    "kind", "server", "name", "HUB01",
	    "role", "Mailbox", "units", "kind", "server", "name", "ALL1",
	    "kind", "server", "name", "ALL2", "kind", "server", "name", "MBX01",
	    "kind", "server", "name", "MBX02", "kind", "cluster", "name", "CMS1");
	ck_assert_ptr_nonnull(want);
	ck_assert(json_equal(j, want));
	json_decref(want);
	json_decref(j);
	plan_free(&p);
	config_free(cfg);
}
END_TEST

/* The CCR steps follow the policy. */
static const struct {
	const char *policy;
	const char *want;
} ccr_text[] = {
	{ "{\"checkpoints\": \"auto\"}",
	  "  1. CMS1 (CCR)  nodes MBX1A, MBX1B\n"
	  "       discover active node; upgrade passive node;\n"
	  "       no pause (checkpoints: auto);\n"
	  "       stop CMS1, move to the upgraded node, setup /upgradeCMS;\n"
	  "       upgrade former active node; no pause (checkpoints: auto);\n"
	  "       move CMS1 back\n" },
	{ "{\"ccr_procedure\": \"rollup\", \"failback\": false}",
	  "  1. CMS1 (CCR)  nodes MBX1A, MBX1B\n"
	  "       discover active node; upgrade passive node;\n"
	  "       checkpoint: operator approves failover;\n"
	  "       move CMS1 online to the upgraded node; upgrade former active "
	  "node;\n"
	  "       CMS1 stays on the upgraded node (failback: false)\n" },
};

START_TEST(ccr_policy_text)
{
	char json[1024], *text, *wave;
	struct config *cfg;
	struct plan p;

	snprintf(json, sizeof(json), "{\"policy\": %s, \"servers\": ["
	    "{\"name\": \"MBX1A\", \"roles\": [\"Mailbox\"]},"
	    "{\"name\": \"MBX1B\", \"roles\": [\"Mailbox\"]}], \"clusters\": "
	    "[{\"name\": \"CMS1\", \"type\": \"CCR\", "
	    "\"nodes\": [\"MBX1A\", \"MBX1B\"]}]}", ccr_text[_i].policy);
	cfg = load_text(json);
	ck_assert_int_eq(plan_build(cfg, &p), 0);
	text = plan_text(&p, cfg);
	wave = strstr(text, "Wave 1: Mailbox (max 1 at a time)\n");
	ck_assert_msg(wave != NULL, "%s", text);
	ck_assert_str_eq(wave + strlen("Wave 1: Mailbox (max 1 at a time)\n"),
	    ccr_text[_i].want);
	free(text);
	plan_free(&p);
	config_free(cfg);
}
END_TEST

/* Server steps by reboot policy; a target without a release name. */
START_TEST(header_and_reboot_text)
{
	struct config *cfg = load_text("{\"target_version\": \"8.1.375.2\", "
	    "\"policy\": {\"reboot\": \"never\", \"max_parallel\": 3}, "
	    "\"servers\": [{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]}]}");
	struct plan p;
	char *text;

	ck_assert_int_eq(plan_build(cfg, &p), 0);
	text = plan_text(&p, cfg);
	ck_assert_str_eq(text, "Upgrade to 8.1.375.2: 1 servers, 0 CCR "
	    "clusters, 1 waves\n\n"
	    "Wave 1: ClientAccess (max 3 at a time)\n"
	    "  1. CAS01  ClientAccess  precheck, install, verify (reboot left "
	    "to the operator)\n");
	free(text);
	plan_free(&p);
	config_free(cfg);

	cfg = load_text("{\"policy\": {\"reboot\": \"always\"}, \"servers\": "
	    "[{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]}]}");
	ck_assert_int_eq(plan_build(cfg, &p), 0);
	text = plan_text(&p, cfg);
	ck_assert_ptr_nonnull(strstr(text, "(Exchange 2007 SP1)"));
	ck_assert_ptr_nonnull(strstr(text, "CAS01  ClientAccess  precheck, "
	    "install, reboot, verify\n"));
	free(text);
	plan_free(&p);
	config_free(cfg);
}
END_TEST

/* contrib/examples/large.json: 1,000 servers, 100 CCR clusters. */
START_TEST(large_example)
{
	static const struct {
		enum role role;
		size_t units;
	} want[] = {
		{ ROLE_CLIENT_ACCESS, 240 }, { ROLE_EDGE_TRANSPORT, 80 },
		{ ROLE_HUB_TRANSPORT, 160 }, { ROLE_UNIFIED_MESSAGING, 80 },
		{ ROLE_MAILBOX, 80 + 160 + 100 },
	};
	struct config *cfg = load_src("contrib/examples/large.json");
	size_t seen_servers = 0, seen_nodes = 0;
	unsigned char *seen;
	struct plan p;

	ck_assert_uint_eq(cfg->nservers, 1000);
	ck_assert_uint_eq(cfg->nclusters, 100);
	ck_assert_int_eq(plan_build(cfg, &p), 0);
	ck_assert_uint_eq(p.nwaves, 5);
	seen = calloc(cfg->nservers, 1);
	ck_assert_ptr_nonnull(seen);
	for (size_t i = 0; i < p.nwaves; i++) {
		const struct plan_wave *w = &p.waves[i];
		bool multi_done = false, servers_done = false;

		ck_assert_int_eq(w->role, want[i].role);
		ck_assert_uint_eq(w->nunits, want[i].units);
		for (size_t j = 0; j < w->nunits; j++) {
			const struct plan_unit *u = &w->units[j];

			if (u->kind == PLAN_UNIT_CLUSTER) {
				const struct config_cluster *cl =
				    &cfg->clusters[u->index];

				ck_assert_int_eq(w->role, ROLE_MAILBOX);
				servers_done = true;
				for (int k = 0; k < 2; k++) {
					ck_assert(!seen[cl->nodes[k]]);
					seen[cl->nodes[k]] = 1;
					seen_nodes++;
				}
			} else {
				const struct config_server *s =
				    &cfg->servers[u->index];
				bool multi = (s->roles & (s->roles - 1)) != 0;

				/* Multi-role, then single-role, then clusters. */
				ck_assert(!servers_done);
				if (!multi)
					multi_done = true;
				ck_assert(!(multi && multi_done));
				ck_assert_int_eq(s->cluster, -1);
				/* The wave of its last role. */
				ck_assert(s->roles & ROLE_BIT(w->role));
				for (int r = config_role_rank(cfg, w->role) + 1;
				    r < cfg->policy.nroles; r++)
					ck_assert(!(s->roles & ROLE_BIT(
					    cfg->policy.role_order[r])));
				ck_assert(!seen[u->index]);
				seen[u->index] = 1;
				seen_servers++;
			}
		}
	}
	ck_assert_uint_eq(seen_servers, 800);
	ck_assert_uint_eq(seen_nodes, 200);
	free(seen);
	plan_free(&p);
	config_free(cfg);
}
END_TEST

static Suite *
plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *rules = tcase_create("rules");
	TCase *output = tcase_create("output");

	tcase_add_test(rules, placement);
	tcase_add_test(rules, custom_role_order);
	tcase_add_test(rules, edge_shapes);
	tcase_add_test(rules, free_is_safe);
	tcase_add_test(rules, large_example);
	suite_add_tcase(s, rules);

	tcase_add_test(output, golden_example);
	tcase_add_test(output, json_shape);
	tcase_add_loop_test(output, ccr_policy_text, 0,
	    (int)(sizeof(ccr_text) / sizeof(ccr_text[0])));
	tcase_add_test(output, header_and_reboot_text);
	suite_add_tcase(s, output);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if ((dir = tu_tmpdir("plan")) == NULL) {
		perror("test_plan: temporary directory");
		return EXIT_FAILURE;
	}
	sr = srunner_create(plan_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_rmrf(dir);
	free(dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
