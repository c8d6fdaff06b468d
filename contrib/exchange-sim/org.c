/*
 * org — the simulated organization: its servers and CCR clusters as read
 * from the exroll configuration file, the simulated clock, and what the
 * read commands (Get-ExchangeServer, Test-ServiceHealth,
 * Get-ClusteredMailboxServerStatus) report about them.
 *
 * A server is reachable unless it is restarting (down_until in the future).
 * Its required services run when it is reachable, from services_at on,
 * and it is not marked --never-healthy; setup sets services_at to "never"
 * while it runs and to its end + services-delay-s after, a restart to the
 * end of the restart + services-delay-s.
 */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "name.h"
#include "timefmt.h"

/* --- the simulated clock ------------------------------------------------- */

int64_t
clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
clock_init(struct sim_clock *c, double scale)
{
	c->epoch_ms = time_now_ms();
	c->mono0_ns = clock_mono_ns();
	c->scale = scale;
}

int64_t
clock_now(const struct sim_clock *c)
{
	double real_ms = (double)(clock_mono_ns() - c->mono0_ns) / 1e6;

	return c->epoch_ms + (int64_t)floor(real_ms * c->scale);
}

int64_t
clock_real_ns(const struct sim_clock *c, int64_t t)
{
	double ns;

	if (t == SIM_NEVER)
		return INT64_MAX;
	/* Half a simulated millisecond of slack, so that clock_now() at the
	 * returned instant is never below t through rounding. */
	ns = ceil(((double)(t - c->epoch_ms) + 0.5) / c->scale * 1e6);
	if (ns <= 0)
		return c->mono0_ns;
	if (ns > 9e18 - (double)c->mono0_ns)
		return INT64_MAX;
	return c->mono0_ns + (int64_t)ns;
}

/* --- loading ------------------------------------------------------------- */

static int
org_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
org_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
org_server(const struct sim_org *org, const char *name)
{
	for (size_t i = 0; i < org->nsrv; i++) {
		if (name_equal(org->srv[i].name, name))
			return (int)i;
	}
	return -1;
}

int
org_cluster(const struct sim_org *org, const char *name)
{
	for (size_t i = 0; i < org->ncl; i++) {
		if (name_equal(org->cl[i].name, name))
			return (int)i;
	}
	return -1;
}

static int
org_load_server(struct sim_org *org, const char *path, size_t i,
    const json_t *js, const struct sim_opts *opt, char *err, size_t errlen)
{
	struct sim_server *s = &org->srv[i];
	const json_t *name = json_object_get(js, "name");
	const json_t *roles = json_object_get(js, "roles");
	size_t k;

	if (!json_is_object(js))
		return org_err(err, errlen, "%s: servers[%zu]: not an object",
		    path, i);
	if (!json_is_string(name) || !name_valid_host(json_string_value(name)))
		return org_err(err, errlen,
		    "%s: servers[%zu].name: missing or not a valid host name",
		    path, i);
	if (org_server(org, json_string_value(name)) >= 0)
		return org_err(err, errlen, "%s: servers[%zu].name: '%s' twice",
		    path, i, json_string_value(name));
	if (!json_is_array(roles) || json_array_size(roles) == 0)
		return org_err(err, errlen,
		    "%s: servers[%zu].roles: missing or empty", path, i);
	for (k = 0; k < json_array_size(roles); k++) {
		const json_t *r = json_array_get(roles, k);
		enum role role;

		if (!json_is_string(r) ||
		    role_parse(json_string_value(r), &role) != 0)
			return org_err(err, errlen,
			    "%s: servers[%zu].roles[%zu]: not one of "
			    "ClientAccess, EdgeTransport, HubTransport, "
			    "UnifiedMessaging, Mailbox", path, i, k);
		if (s->roles & ROLE_BIT(role))
			return org_err(err, errlen,
			    "%s: servers[%zu].roles[%zu]: '%s' twice", path, i,
			    k, role_name(role));
		s->roles |= ROLE_BIT(role);
	}
	/* Exchange 2007 installs the Edge role alone, in a perimeter
	 * network: a combination is an inventory error. */
	if ((s->roles & ROLE_BIT(ROLE_EDGE_TRANSPORT)) &&
	    s->roles != ROLE_BIT(ROLE_EDGE_TRANSPORT))
		return org_err(err, errlen,
		    "%s: servers[%zu].roles: EdgeTransport cannot be combined "
		    "with another role", path, i);
	snprintf(s->name, sizeof(s->name), "%s", json_string_value(name));
	s->version = opt->start_version;
	s->cluster = -1;
	org->nsrv = i + 1;
	return 0;
}

static int
org_load_cluster(struct sim_org *org, const char *path, size_t i,
    const json_t *jc, const struct sim_opts *opt, char *err, size_t errlen)
{
	struct sim_cluster *c = &org->cl[i];
	const json_t *name = json_object_get(jc, "name");
	const json_t *type = json_object_get(jc, "type");
	const json_t *nodes = json_object_get(jc, "nodes");
	const char *cname;

	if (!json_is_object(jc))
		return org_err(err, errlen, "%s: clusters[%zu]: not an object",
		    path, i);
	if (!json_is_string(name) || !name_valid_host(json_string_value(name)))
		return org_err(err, errlen,
		    "%s: clusters[%zu].name: missing or not a valid host name",
		    path, i);
	cname = json_string_value(name);
	if (org_cluster(org, cname) >= 0 || org_server(org, cname) >= 0)
		return org_err(err, errlen,
		    "%s: clusters[%zu].name: '%s' is already a server or "
		    "cluster name", path, i, cname);
	if (type != NULL && (!json_is_string(type) ||
	    strcmp(json_string_value(type), "CCR") != 0))
		return org_err(err, errlen,
		    "%s: clusters[%zu].type: only \"CCR\" is simulated", path,
		    i);
	if (!json_is_array(nodes) || json_array_size(nodes) != 2)
		return org_err(err, errlen,
		    "%s: clusters[%zu].nodes: a CCR cluster has exactly 2 nodes",
		    path, i);
	for (size_t k = 0; k < 2; k++) {
		const json_t *n = json_array_get(nodes, k);
		int s;

		if (!json_is_string(n) ||
		    (s = org_server(org, json_string_value(n))) < 0)
			return org_err(err, errlen,
			    "%s: clusters[%zu].nodes[%zu]: not a server of "
			    "\"servers\"", path, i, k);
		if (org->srv[s].cluster >= 0)
			return org_err(err, errlen,
			    "%s: clusters[%zu].nodes[%zu]: '%s' is already a "
			    "node of '%s'", path, i, k, org->srv[s].name,
			    org->cl[org->srv[s].cluster].name);
		if (org->srv[s].roles != ROLE_BIT(ROLE_MAILBOX))
			return org_err(err, errlen,
			    "%s: clusters[%zu].nodes[%zu]: '%s' must hold the "
			    "Mailbox role only", path, i, k, org->srv[s].name);
		c->node[k] = s;
		org->srv[s].cluster = (int)i;
	}
	snprintf(c->name, sizeof(c->name), "%s", cname);
	c->owner = c->node[0];
	c->state = CCR_ONLINE;
	c->version = opt->start_version;
	org->ncl = i + 1;
	return 0;
}

int
org_load(struct sim_org *org, const char *path, const struct sim_opts *opt,
    char *err, size_t errlen)
{
	struct sim_org o = { 0 };
	json_error_t jerr;
	json_t *root, *servers, *clusters;
	int rc = -EINVAL;
	size_t i;

	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		org_err(err, errlen, "%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text);
		return -EINVAL;
	}
	servers = json_object_get(root, "servers");
	clusters = json_object_get(root, "clusters");
	if (!json_is_object(root)) {
		org_err(err, errlen, "%s: not a JSON object", path);
		goto fail;
	}
	if (!json_is_array(servers) || json_array_size(servers) == 0) {
		org_err(err, errlen, "%s: servers: missing or empty", path);
		goto fail;
	}
	if (clusters != NULL && !json_is_array(clusters)) {
		org_err(err, errlen, "%s: clusters: not an array", path);
		goto fail;
	}
	rc = -ENOMEM;
	if ((o.srv = calloc(json_array_size(servers), sizeof(*o.srv))) ==
	    NULL)
		goto fail;
	if (json_array_size(clusters) > 0 &&
	    (o.cl = calloc(json_array_size(clusters), sizeof(*o.cl))) == NULL)
		goto fail;
	for (i = 0; i < json_array_size(servers); i++) {
		if ((rc = org_load_server(&o, path, i,
		    json_array_get(servers, i), opt, err, errlen)) != 0)
			goto fail;
	}
	for (i = 0; i < json_array_size(clusters); i++) {
		if ((rc = org_load_cluster(&o, path, i,
		    json_array_get(clusters, i), opt, err, errlen)) != 0)
			goto fail;
	}
	json_decref(root);
	*org = o;
	return 0;
fail:
	if (rc == -ENOMEM)
		org_err(err, errlen, "%s: out of memory", path);
	json_decref(root);
	org_free(&o);
	return rc;
}

void
org_free(struct sim_org *org)
{
	free(org->srv);
	free(org->cl);
	memset(org, 0, sizeof(*org));
}

/* Splits "NAME=VALUE" into name (copied into buf) and value. */
static int
org_split(const char *arg, char *buf, size_t len, const char **value)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= len)
		return -EINVAL;
	memcpy(buf, arg, (size_t)(eq - arg));
	buf[eq - arg] = '\0';
	*value = eq + 1;
	return 0;
}

int
org_set_version(struct sim_org *org, const char *arg, char *err,
    size_t errlen)
{
	char name[SIM_NAME_MAX];
	const char *val;
	struct version v;
	int i;

	if (org_split(arg, name, sizeof(name), &val) != 0)
		return org_err(err, errlen,
		    "--version '%s': expected NAME=VERSION", arg);
	if (version_parse(val, &v) != 0)
		return org_err(err, errlen,
		    "--version '%s': '%s' is not a version like 8.1.240.6",
		    arg, val);
	if ((i = org_server(org, name)) >= 0)
		org->srv[i].version = v;
	else if ((i = org_cluster(org, name)) >= 0) {
		org->cl[i].version = v;
		org->cl[i].version_set = true;
	} else
		return org_err(err, errlen,
		    "--version '%s': no server or cluster '%s'", arg, name);
	return 0;
}

int
org_set_active(struct sim_org *org, const char *arg, char *err,
    size_t errlen)
{
	char name[SIM_NAME_MAX];
	const char *node;
	int c, s;

	if (org_split(arg, name, sizeof(name), &node) != 0)
		return org_err(err, errlen, "--active '%s': expected CMS=NODE",
		    arg);
	if ((c = org_cluster(org, name)) < 0)
		return org_err(err, errlen, "--active '%s': no cluster '%s'",
		    arg, name);
	s = org_server(org, node);
	if (s < 0 || (s != org->cl[c].node[0] && s != org->cl[c].node[1]))
		return org_err(err, errlen,
		    "--active '%s': '%s' is not a node of '%s'", arg, node,
		    name);
	org->cl[c].owner = s;
	return 0;
}

int
org_finish(struct sim_org *org, char *err, size_t errlen)
{
	for (size_t i = 0; i < org->ncl; i++) {
		struct sim_cluster *c = &org->cl[i];
		const struct version *ov = &org->srv[c->owner].version;
		char a[VERSION_STRLEN], b[VERSION_STRLEN];

		if (!c->version_set)
			c->version = *ov;
		if (c->version.part[0] != ov->part[0] ||
		    c->version.part[1] != ov->part[1])
			return org_err(err, errlen,
			    "cluster '%s' at %s cannot be Online on '%s' at %s "
			    "(different service packs)", c->name,
			    version_format(&c->version, a, sizeof(a)),
			    org->srv[c->owner].name,
			    version_format(ov, b, sizeof(b)));
	}
	return 0;
}

/* --- state and outputs --------------------------------------------------- */

bool
org_reachable(const struct sim *sim, int server, int64_t now)
{
	return now >= sim->org.srv[server].down_until;
}

static bool
org_services_running(const struct sim *sim, int server, int64_t now)
{
	const struct sim_server *s = &sim->org.srv[server];

	return org_reachable(sim, server, now) && now >= s->services_at &&
	    !faults_has(&sim->faults.never_healthy, s->name);
}

static void
org_display_version(const struct version *v, char *buf, size_t len)
{
	snprintf(buf, len, "Version %u.%u (Build %u.%u)", v->part[0],
	    v->part[1], v->part[2], v->part[3]);
}

enum role
org_last_role(unsigned roles)
{
	enum role last = ROLE_CLIENT_ACCESS;

	for (int r = 0; r < ROLE_COUNT; r++) {
		if (roles & ROLE_BIT(r))
			last = (enum role)r;
	}
	return last;
}

/*
 * ServerRole as Exchange prints its flags enum: in ascending flag value,
 * Mailbox (2), ClientAccess (4), UnifiedMessaging (16), HubTransport (32),
 * Edge (64) — hence "Mailbox, ClientAccess, HubTransport".
 */
static void
org_server_role(unsigned roles, char *buf, size_t len)
{
	static const enum role order[] = {
		ROLE_MAILBOX, ROLE_CLIENT_ACCESS, ROLE_UNIFIED_MESSAGING,
		ROLE_HUB_TRANSPORT, ROLE_EDGE_TRANSPORT,
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(roles & ROLE_BIT(order[i])))
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
		    n ? ", " : "", order[i] == ROLE_EDGE_TRANSPORT ? "Edge" :
		    role_name(order[i]));
	}
}

static json_t *
org_exchange_item(const char *name, unsigned roles, const struct version *v)
{
	char role[128], ver[64];

	org_server_role(roles, role, sizeof(role));
	org_display_version(v, ver, sizeof(ver));
	return json_pack("{s:s, s:s, s:s}", "Name", name, "ServerRole", role,
	    "AdminDisplayVersion", ver);
}

/* Get-ExchangeServer reads the directory: it answers for a server that is
 * restarting (only a command sent TO that server fails). */
static json_t *
org_server_item(const struct sim *sim, int server)
{
	const struct sim_server *s = &sim->org.srv[server];

	return org_exchange_item(s->name, s->roles, &s->version);
}

/* A CMS is an Exchange server object too (Mailbox, its own version). */
static json_t *
org_cms_server_item(const struct sim *sim, int cluster)
{
	const struct sim_cluster *c = &sim->org.cl[cluster];

	return org_exchange_item(c->name, ROLE_BIT(ROLE_MAILBOX), &c->version);
}

json_t *
org_cms_item(const struct sim *sim, int cluster, int64_t now)
{
	const struct sim_cluster *c = &sim->org.cl[cluster];
	json_t *machines = json_array(), *failed = json_array();
	char buf[SIM_NAME_MAX + 32];

	if (machines == NULL || failed == NULL)
		goto fail;
	/* OperationalMachines lists the nodes that are up; the owner is
	 * marked active (it also owns the cluster quorum here). */
	for (int k = 0; k < 2; k++) {
		int s = c->node[k];

		if (!org_reachable(sim, s, now))
			continue;
		if (s == c->owner)
			snprintf(buf, sizeof(buf), "%s <Active, Quorum Owner>",
			    sim->org.srv[s].name);
		else
			snprintf(buf, sizeof(buf), "%s", sim->org.srv[s].name);
		if (json_array_append_new(machines, json_string(buf)) != 0)
			goto fail;
	}
	if (c->state == CCR_FAILED) {
		snprintf(buf, sizeof(buf), "Information Store (%s)", c->name);
		if (json_array_append_new(failed, json_string(buf)) != 0)
			goto fail;
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "Identity", c->name,
	    "ClusteredMailboxServerName", c->name, "State",
	    ccr_state_name(c->state), "OperationalMachines", machines,
	    "FailedResources", failed);
fail:
	json_decref(machines);
	json_decref(failed);
	return NULL;
}

/* The required services of each role, as Test-ServiceHealth names them;
 * key is the one a --never-healthy server leaves stopped. */
static const struct {
	enum role role;
	const char *label;
	const char *key;
	const char *services[10];
} org_services[] = {
	{ ROLE_MAILBOX, "Mailbox Server Role", "MSExchangeIS",
	    { "IISAdmin", "MSExchangeADTopology", "MSExchangeIS",
	    "MSExchangeMailboxAssistants", "MSExchangeMailSubmission",
	    "MSExchangeRepl", "MSExchangeSA", "MSExchangeSearch",
	    "MSExchangeServiceHost", "W3Svc" } },
	{ ROLE_CLIENT_ACCESS, "Client Access Server Role", "MSExchangeFDS",
	    { "IISAdmin", "MSExchangeADTopology", "MSExchangeFDS",
	    "MSExchangeServiceHost", "W3Svc" } },
	{ ROLE_UNIFIED_MESSAGING, "Unified Messaging Server Role",
	    "MSExchangeUM",
	    { "MSExchangeADTopology", "MSExchangeFDS", "MSExchangeSpeechEngine",
	    "MSExchangeUM" } },
	{ ROLE_HUB_TRANSPORT, "Hub Transport Server Role",
	    "MSExchangeTransport",
	    { "MSExchangeADTopology", "MSExchangeEdgeSync",
	    "MSExchangeTransport", "MSExchangeTransportLogSearch" } },
	{ ROLE_EDGE_TRANSPORT, "Edge Transport Server Role",
	    "MSExchangeTransport",
	    { "ADAM_MSExchange", "MSExchangeTransport",
	    "MSExchangeTransportLogSearch" } },
};

/* One role's item; NULL on ENOMEM. */
static json_t *
org_health_item(size_t i, bool up, bool sick)
{
	json_t *run = json_array(), *stopped = json_array();
	bool all = true;

	if (run == NULL || stopped == NULL)
		goto fail;
	for (size_t k = 0; k < 10 && org_services[i].services[k]; k++) {
		const char *svc = org_services[i].services[k];
		bool on = up && !(sick && strcmp(svc, org_services[i].key) == 0);

		all = all && on;
		if (json_array_append_new(on ? run : stopped,
		    json_string(svc)) != 0)
			goto fail;
	}
	/* "o" steals run and stopped, even when packing fails. */
	return json_pack("{s:s, s:b, s:o, s:o}", "Role", org_services[i].label,
	    "RequiredServicesRunning", all, "ServicesRunning", run,
	    "ServicesNotRunning", stopped);
fail:
	json_decref(run);
	json_decref(stopped);
	return NULL;
}

json_t *
org_health_items(const struct sim *sim, int server, int64_t now)
{
	const struct sim_server *s = &sim->org.srv[server];
	bool up = now >= s->services_at;
	bool sick = faults_has(&sim->faults.never_healthy, s->name);
	json_t *items = json_array();

	if (items == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(org_services) / sizeof(org_services[0]);
	    i++) {
		if ((s->roles & ROLE_BIT(org_services[i].role)) &&
		    json_array_append_new(items,
		    org_health_item(i, up, sick)) != 0) {
			json_decref(items);
			return NULL;
		}
	}
	return items;
}

json_t *
org_exchange_items(const struct sim *sim, const char *identity, bool *found)
{
	json_t *items = json_array();
	int i, rc = 0;

	if (items == NULL)
		return NULL;
	*found = true;
	if (identity != NULL) {
		if ((i = org_server(&sim->org, identity)) >= 0)
			rc = json_array_append_new(items,
			    org_server_item(sim, i));
		else if ((i = org_cluster(&sim->org, identity)) >= 0)
			rc = json_array_append_new(items,
			    org_cms_server_item(sim, i));
		else
			*found = false;
	} else {
		for (size_t k = 0; rc == 0 && k < sim->org.nsrv; k++)
			rc = json_array_append_new(items,
			    org_server_item(sim, (int)k));
		for (size_t k = 0; rc == 0 && k < sim->org.ncl; k++)
			rc = json_array_append_new(items,
			    org_cms_server_item(sim, (int)k));
	}
	if (rc != 0) {
		json_decref(items);
		return NULL;
	}
	return items;
}

json_t *
org_state_json(const struct sim *sim, int64_t now)
{
	char ts[TIME_RFC3339_LEN], ver[VERSION_STRLEN];
	json_t *servers = json_array(), *clusters = json_array(), *o;

	if (servers == NULL || clusters == NULL)
		goto fail;
	for (size_t i = 0; i < sim->org.nsrv; i++) {
		const struct sim_server *s = &sim->org.srv[i];
		json_t *roles = json_array();

		if (roles == NULL)
			goto fail;
		for (int r = 0; r < ROLE_COUNT; r++) {
			if (s->roles & ROLE_BIT(r))
				json_array_append_new(roles,
				    json_string(role_name((enum role)r)));
		}
		o = json_pack("{s:s, s:s, s:o, s:b, s:b, s:b, s:I}", "name",
		    s->name, "version", version_format(&s->version, ver,
		    sizeof(ver)), "roles", roles, "busy", s->setup != NULL,
		    "reachable", org_reachable(sim, (int)i, now),
		    "services_running", org_services_running(sim, (int)i, now),
		    "setups", (json_int_t)s->setups);
		if (o == NULL || json_array_append_new(servers, o) != 0)
			goto fail;
	}
	for (size_t i = 0; i < sim->org.ncl; i++) {
		const struct sim_cluster *c = &sim->org.cl[i];

		o = json_pack("{s:s, s:s, s:s, s:s, s:[s, s], s:b}", "name",
		    c->name, "owner", sim->org.srv[c->owner].name, "state",
		    ccr_state_name(c->state), "version",
		    version_format(&c->version, ver, sizeof(ver)), "nodes",
		    sim->org.srv[c->node[0]].name,
		    sim->org.srv[c->node[1]].name, "busy", c->op != NULL);
		if (o == NULL || json_array_append_new(clusters, o) != 0)
			goto fail;
	}
	return json_pack("{s:s, s:o, s:o}", "now",
	    time_format_rfc3339(now, ts, sizeof(ts)), "servers", servers,
	    "clusters", clusters);
fail:
	json_decref(servers);
	json_decref(clusters);
	return NULL;
}
