/*
 * cmd — the commands of DESIGN §2: strict validation of a POST /v1/jobs
 * body, then what each command does to the organization.
 *
 * Validation answers what a gateway can tell from the request alone:
 *   400  not an object, an unknown field, a bad id / target / timeout_s, a
 *        parameter the command does not have or of the wrong type, a
 *        required parameter missing (the message names the field);
 *   403  a command outside the table, or Stop-/Move-ClusteredMailboxServer
 *        without Confirm set to false (PowerShell would sit at a prompt;
 *        recorded as the violation "confirm_not_false").
 * Everything that depends on the organization (an unknown server, a
 * restarting one, a CMS in the wrong state) is a created job that fails,
 * as the cmdlet would, with an error object.
 *
 * Parameter names are matched exactly (the contract fixes them); names of
 * servers and clusters must be valid host names, which keeps anything that
 * could mean something to PowerShell out.
 */
#include "sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "name.h"

enum cmd_ptype {
	PT_NAME,	/* a server or cluster name */
	PT_TEXT,	/* free text */
	PT_BOOL,
	PT_MODE,	/* "Upgrade" or "UpgradeCMS" */
};

struct cmd_param {
	const char *name;
	enum cmd_ptype type;
	bool required;
};

#define CMD_MAX_PARAMS 4
#define CMD_MAX_TEXT 4096

static const struct cmd_spec {
	const char *name;
	struct cmd_param p[CMD_MAX_PARAMS];
	bool confirm;		/* Confirm must be false */
} cmd_specs[SIM_CMD_COUNT] = {
	[SIM_CMD_GET_SERVER] = { "Get-ExchangeServer",
	    { { "Identity", PT_NAME, false } }, false },
	[SIM_CMD_TEST_HEALTH] = { "Test-ServiceHealth",
	    { { "Server", PT_NAME, false } }, false },
	[SIM_CMD_SETUP] = { "Invoke-ExchangeSetup",
	    { { "Mode", PT_MODE, true }, { "SourcePath", PT_TEXT, false } },
	    false },
	[SIM_CMD_RESTART] = { "Restart-Computer",
	    { { "ComputerName", PT_NAME, false }, { "Force", PT_BOOL, false } },
	    false },
	[SIM_CMD_CMS_STATUS] = { "Get-ClusteredMailboxServerStatus",
	    { { "Identity", PT_NAME, false } }, false },
	[SIM_CMD_CMS_STOP] = { "Stop-ClusteredMailboxServer",
	    { { "Identity", PT_NAME, true }, { "StopReason", PT_TEXT, true },
	    { "Confirm", PT_BOOL, false } }, true },
	[SIM_CMD_CMS_START] = { "Start-ClusteredMailboxServer",
	    { { "Identity", PT_NAME, true } }, false },
	[SIM_CMD_CMS_MOVE] = { "Move-ClusteredMailboxServer",
	    { { "Identity", PT_NAME, true }, { "TargetMachine", PT_NAME, true },
	    { "MoveComment", PT_TEXT, true }, { "Confirm", PT_BOOL, false } },
	    true },
};

const char *
cmd_name(enum sim_cmd c)
{
	return (unsigned)c < SIM_CMD_COUNT ? cmd_specs[c].name : "unknown";
}

static const struct cmd_param *
cmd_param(enum sim_cmd c, const char *name)
{
	for (int i = 0; i < CMD_MAX_PARAMS && cmd_specs[c].p[i].name; i++) {
		if (strcmp(cmd_specs[c].p[i].name, name) == 0)
			return &cmd_specs[c].p[i];
	}
	return NULL;
}

/* "Identity, StopReason, Confirm" */
static void
cmd_param_list(enum sim_cmd c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < CMD_MAX_PARAMS && cmd_specs[c].p[i].name; i++)
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
		    n ? ", " : "", cmd_specs[c].p[i].name);
	if (n == 0)
		snprintf(buf, len, "none");
}

static int
cmd_bad(char *msg, size_t msglen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
cmd_bad(char *msg, size_t msglen, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return status;
}

static int
cmd_check_param(enum sim_cmd c, const char *key, const json_t *v, char *msg,
    size_t msglen)
{
	const struct cmd_param *p = cmd_param(c, key);
	char list[128];

	if (p == NULL) {
		cmd_param_list(c, list, sizeof(list));
		return cmd_bad(msg, msglen, 400,
		    "parameters.%s: not a parameter of %s (it takes: %s)", key,
		    cmd_name(c), list);
	}
	switch (p->type) {
	case PT_NAME:
		if (!json_is_string(v) || !name_valid_host(json_string_value(v)))
			return cmd_bad(msg, msglen, 400,
			    "parameters.%s: expected a server or cluster name "
			    "(a host name)", key);
		break;
	case PT_TEXT:
		if (!json_is_string(v) ||
		    json_string_length(v) > CMD_MAX_TEXT)
			return cmd_bad(msg, msglen, 400,
			    "parameters.%s: expected a string of at most %d "
			    "bytes", key, CMD_MAX_TEXT);
		break;
	case PT_BOOL:
		if (!json_is_boolean(v))
			return cmd_bad(msg, msglen, 400,
			    "parameters.%s: expected a boolean", key);
		break;
	case PT_MODE:
		if (!json_is_string(v) ||
		    (strcmp(json_string_value(v), "Upgrade") != 0 &&
		    strcmp(json_string_value(v), "UpgradeCMS") != 0))
			return cmd_bad(msg, msglen, 400,
			    "parameters.%s: expected \"Upgrade\" or "
			    "\"UpgradeCMS\"", key);
		break;
	}
	return 200;
}

int
cmd_validate(struct sim *sim, const json_t *body, enum sim_cmd *cmd,
    json_t **request, char *msg, size_t msglen)
{
	static const char *const fields[] = { "id", "target", "command",
		"parameters", "timeout_s" };
	const json_t *id, *target, *command, *params, *timeout, *v;
	const char *key;
	enum sim_cmd c;
	json_t *req;
	int rc;

	if (!json_is_object(body))
		return cmd_bad(msg, msglen, 400, "body: not a JSON object");
	json_object_foreach((json_t *)body, key, v) {
		size_t i;

		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (strcmp(key, fields[i]) == 0)
				break;
		}
		if (i == sizeof(fields) / sizeof(fields[0]))
			return cmd_bad(msg, msglen, 400,
			    "'%s': unknown field (a job has id, target, "
			    "command, parameters, timeout_s)", key);
	}
	id = json_object_get(body, "id");
	target = json_object_get(body, "target");
	command = json_object_get(body, "command");
	params = json_object_get(body, "parameters");
	timeout = json_object_get(body, "timeout_s");
	if (!json_is_string(id) || !name_valid_job_id(json_string_value(id)))
		return cmd_bad(msg, msglen, 400,
		    "id: expected 1-64 characters of A-Z a-z 0-9 . _ -");
	if (target != NULL && !json_is_null(target) &&
	    (!json_is_string(target) ||
	    !name_valid_host(json_string_value(target))))
		return cmd_bad(msg, msglen, 400,
		    "target: expected a server name (a host name) or null");
	if (!json_is_string(command))
		return cmd_bad(msg, msglen, 400, "command: missing or not a "
		    "string");
	for (c = 0; c < SIM_CMD_COUNT; c++) {
		if (strcmp(json_string_value(command), cmd_specs[c].name) == 0)
			break;
	}
	if (c == SIM_CMD_COUNT)
		return cmd_bad(msg, msglen, 403,
		    "command '%s' is not allowed (not in the gateway's table)",
		    json_string_value(command));
	if (params != NULL && !json_is_object(params))
		return cmd_bad(msg, msglen, 400, "parameters: not an object");
	json_object_foreach((json_t *)params, key, v) {
		if ((rc = cmd_check_param(c, key, v, msg, msglen)) != 200)
			return rc;
	}
	for (int i = 0; i < CMD_MAX_PARAMS && cmd_specs[c].p[i].name; i++) {
		if (cmd_specs[c].p[i].required &&
		    json_object_get(params, cmd_specs[c].p[i].name) == NULL)
			return cmd_bad(msg, msglen, 400,
			    "parameters.%s: missing (required by %s)",
			    cmd_specs[c].p[i].name, cmd_name(c));
	}
	if (timeout != NULL && (!json_is_number(timeout) ||
	    !isfinite(json_number_value(timeout)) ||
	    json_number_value(timeout) <= 0 ||
	    json_number_value(timeout) > 30 * 86400))
		return cmd_bad(msg, msglen, 400,
		    "timeout_s: expected a number of seconds above 0 and at "
		    "most 30 days");
	if (!json_is_string(target)) {
		if (c == SIM_CMD_SETUP)
			return cmd_bad(msg, msglen, 400,
			    "target: Invoke-ExchangeSetup runs on a server; "
			    "target must name it");
		if (c == SIM_CMD_TEST_HEALTH &&
		    json_object_get(params, "Server") == NULL)
			return cmd_bad(msg, msglen, 400,
			    "parameters.Server: missing, and no target to "
			    "default to");
		if (c == SIM_CMD_RESTART &&
		    json_object_get(params, "ComputerName") == NULL)
			return cmd_bad(msg, msglen, 400,
			    "parameters.ComputerName: missing, and no target "
			    "to default to");
	}
	if (cmd_specs[c].confirm &&
	    !json_is_false(json_object_get(params, "Confirm"))) {
		record_violation(sim, "confirm_not_false",
		    json_string_value(id), "%s without Confirm false: "
		    "PowerShell would wait at a confirmation prompt",
		    cmd_name(c));
		return cmd_bad(msg, msglen, 403,
		    "parameters.Confirm: %s must be sent with Confirm false "
		    "(an unattended run cannot answer a prompt)", cmd_name(c));
	}

	req = json_pack("{s:O?, s:s, s:O?}", "target", target, "command",
	    cmd_name(c), "parameters", params);
	if (req != NULL && params == NULL)
		json_object_set_new(req, "parameters", json_object());
	if (req != NULL && timeout != NULL &&
	    json_object_set(req, "timeout_s", (json_t *)timeout) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (req == NULL)
		return cmd_bad(msg, msglen, 500, "out of memory");
	*cmd = c;
	*request = req;
	return 200;
}

/* --- execution ----------------------------------------------------------- */

static const char *
cmd_str(const struct sim_job *j, const char *param)
{
	return json_string_value(json_object_get(j->params, param));
}

/* A server's index, or -1 after failing j with ObjectNotFound. */
static int
cmd_need_server(struct sim *sim, struct sim_job *j, const char *name,
    int64_t now)
{
	int s = org_server(&sim->org, name);

	if (s < 0)
		jobs_fail(j, now, "ObjectNotFound",
		    "ManagementObjectNotFoundException",
		    "server '%s' is not in the organization", name);
	return s;
}

static int
cmd_need_cluster(struct sim *sim, struct sim_job *j, const char *name,
    int64_t now)
{
	int c = org_cluster(&sim->org, name);

	if (c < 0)
		jobs_fail(j, now, "ObjectNotFound",
		    "ManagementObjectNotFoundException",
		    "clustered mailbox server '%s' is not in the organization",
		    name);
	return c;
}

static bool
cmd_need_up(struct sim *sim, struct sim_job *j, int server, int64_t now)
{
	if (org_reachable(sim, server, now))
		return true;
	jobs_fail(j, now, "ConnectionFailure", "PSSessionOpenFailed",
	    "connecting to remote server '%s' failed: the server is not "
	    "reachable (restarting)", sim->org.srv[server].name);
	return false;
}

/* What the read commands report at t. */
static void
cmd_read(struct sim *sim, struct sim_job *j, int64_t t)
{
	const char *name;
	json_t *out = NULL;
	bool found;
	int i;

	switch (j->cmd) {
	case SIM_CMD_GET_SERVER:
		name = cmd_str(j, "Identity");
		out = org_exchange_items(sim, name, &found);
		if (out != NULL && !found) {
			json_decref(out);
			jobs_fail(j, t, "ObjectNotFound",
			    "ManagementObjectNotFoundException",
			    "the operation couldn't be performed because object "
			    "'%s' couldn't be found", name);
			return;
		}
		break;
	case SIM_CMD_TEST_HEALTH:
		name = cmd_str(j, "Server");
		if ((i = cmd_need_server(sim, j, name ? name : j->target,
		    t)) < 0 || !cmd_need_up(sim, j, i, t))
			return;
		out = org_health_items(sim, i, t);
		break;
	case SIM_CMD_CMS_STATUS:
		if ((name = cmd_str(j, "Identity")) != NULL) {
			if ((i = cmd_need_cluster(sim, j, name, t)) < 0)
				return;
			out = json_array();
			if (out != NULL && json_array_append_new(out,
			    org_cms_item(sim, i, t)) != 0) {
				json_decref(out);
				out = NULL;
			}
			break;
		}
		out = json_array();
		for (size_t k = 0; out != NULL && k < sim->org.ncl; k++) {
			if (json_array_append_new(out,
			    org_cms_item(sim, (int)k, t)) != 0) {
				json_decref(out);
				out = NULL;
			}
		}
		break;
	case SIM_CMD_SETUP:
	case SIM_CMD_RESTART:
	case SIM_CMD_CMS_STOP:
	case SIM_CMD_CMS_START:
	case SIM_CMD_CMS_MOVE:
	case SIM_CMD_COUNT:
		return;
	}
	if (out == NULL)
		jobs_fail(j, t, "NotSpecified", "OutOfMemory",
		    "out of memory in the simulator");
	else
		jobs_complete(j, t, out);
}

/* The violations a setup start can commit; it runs anyway, so that the
 * test that provoked it sees both the violation and what followed. */
static void
cmd_setup_checks(struct sim *sim, struct sim_job *j, int server)
{
	const struct sim_server *s = &sim->org.srv[server];
	const struct version *inst = &sim->opt.install_version;
	enum role last = org_last_role(s->roles);
	char have[VERSION_STRLEN], want[VERSION_STRLEN];

	if (s->cluster >= 0) {
		const struct sim_cluster *c = &sim->org.cl[s->cluster];

		if (c->owner == server && c->state != CCR_OFFLINE &&
		    c->state != CCR_FAILED)
			record_violation(sim, "setup_on_cms_owner", j->id,
			    "setup on '%s', which owns '%s' while it is %s",
			    s->name, c->name, ccr_state_name(c->state));
	}
	/* DESIGN §1: a server is upgraded in the wave of its last role; every
	 * server of an earlier wave must be done first. */
	for (size_t i = 0; i < sim->org.nsrv; i++) {
		const struct sim_server *o = &sim->org.srv[i];
		enum role olast = org_last_role(o->roles);

		if (olast < last && version_cmp(&o->version, inst) < 0)
			record_violation(sim, "role_order", j->id,
			    "setup on '%s' (%s) while '%s' (%s) is at %s, "
			    "below %s", s->name, role_name(last), o->name,
			    role_name(olast), version_format(&o->version, have,
			    sizeof(have)), version_format(inst, want,
			    sizeof(want)));
	}
}

static void
cmd_setup(struct sim *sim, struct sim_job *j, int64_t now)
{
	struct sim_server *s = &sim->org.srv[j->server];
	bool cms = strcmp(cmd_str(j, "Mode"), "UpgradeCMS") == 0;

	if (s->setup != NULL) {
		/* Windows Installer refuses a second installation while one
		 * runs: ERROR_INSTALL_ALREADY_RUNNING, at once. */
		record_violation(sim, "concurrent_setup", j->id,
		    "setup on '%s' while setup job '%s' runs there", s->name,
		    s->setup->id);
		jobs_complete(j, now, json_pack("[{s:i, s:b}]",
		    "ExitCode", 1618, "RebootRequired", 0));
		return;
	}
	if (cms) {
		ccr_upgrade(sim, j, now);
		return;
	}
	cmd_setup_checks(sim, j, j->server);
	s->setups++;
	s->setup = j;
	s->services_at = SIM_NEVER;
	j->op = SIM_OP_SETUP;
	j->end = now + sim->opt.setup_ms;
	j->fail = faults_has(&sim->faults.fail_setup, s->name);
	j->reboot = faults_has(&sim->faults.reboot_required, s->name) ||
	    faults_has(&sim->faults.reboot_required, "all");
}

static void
cmd_setup_end(struct sim *sim, struct sim_job *j, int64_t t)
{
	struct sim_server *s = &sim->org.srv[j->server];

	s->setup = NULL;
	s->services_at = t + sim->opt.services_delay_ms;
	if (j->fail) {
		jobs_complete(j, t, json_pack("[{s:i, s:b}]", "ExitCode",
		    1603, "RebootRequired", 0));
		return;
	}
	/* Setup installs the install version; it never downgrades. */
	if (version_cmp(&s->version, &sim->opt.install_version) < 0)
		s->version = sim->opt.install_version;
	ccr_node_upgraded(sim, j->server, t);
	jobs_complete(j, t, json_pack("[{s:i, s:b}]", "ExitCode", 0,
	    "RebootRequired", j->reboot));
}

static void
cmd_restart(struct sim *sim, struct sim_job *j, int64_t now)
{
	const char *name = cmd_str(j, "ComputerName");
	struct sim_server *s;
	int i;

	if ((i = cmd_need_server(sim, j, name ? name : j->target, now)) < 0 ||
	    !cmd_need_up(sim, j, i, now))
		return;
	s = &sim->org.srv[i];
	if (s->setup != NULL) {
		jobs_fail(j, now, "InvalidOperation", "SetupInProgress",
		    "'%s' is running setup (job '%s'); the simulator does not "
		    "restart a server in the middle of an upgrade", s->name,
		    s->setup->id);
		return;
	}
	if (s->cluster >= 0 && sim->org.cl[s->cluster].owner == i &&
	    ccr_running(sim->org.cl[s->cluster].state)) {
		record_violation(sim, "restart_cms_owner", j->id,
		    "restart of '%s', which runs '%s': unplanned failover",
		    s->name, sim->org.cl[s->cluster].name);
		ccr_node_restart(sim, i, now);
	}
	s->down_until = now + sim->opt.reboot_ms;
	if (s->services_at < s->down_until + sim->opt.services_delay_ms)
		s->services_at = s->down_until + sim->opt.services_delay_ms;
	/* Restart-Computer returns once the restart is under way. */
	jobs_complete(j, now, json_array());
}

void
cmd_start(struct sim *sim, struct sim_job *j, int64_t now)
{
	int t = -1;

	/* The target is where the gateway runs the command: it must exist
	 * and be up. A CMS name resolves to its owner while the CMS runs. */
	if (j->target != NULL) {
		int c;

		if ((t = org_server(&sim->org, j->target)) < 0 &&
		    (c = org_cluster(&sim->org, j->target)) >= 0) {
			if (!ccr_running(sim->org.cl[c].state)) {
				jobs_fail(j, now, "ConnectionFailure",
				    "PSSessionOpenFailed",
				    "connecting to remote server '%s' failed: "
				    "the clustered mailbox server is %s",
				    j->target,
				    ccr_state_name(sim->org.cl[c].state));
				return;
			}
			t = sim->org.cl[c].owner;
		}
		if (t < 0) {
			jobs_fail(j, now, "ObjectNotFound",
			    "TargetNotFound", "target '%s' is not a server of "
			    "the organization", j->target);
			return;
		}
		if (!cmd_need_up(sim, j, t, now))
			return;
	}
	j->server = t;
	switch (j->cmd) {
	case SIM_CMD_GET_SERVER:
	case SIM_CMD_TEST_HEALTH:
	case SIM_CMD_CMS_STATUS:
		if (sim->opt.query_ms == 0) {
			cmd_read(sim, j, now);
		} else {
			j->op = SIM_OP_READ;
			j->end = now + sim->opt.query_ms;
		}
		break;
	case SIM_CMD_SETUP:
		cmd_setup(sim, j, now);
		break;
	case SIM_CMD_RESTART:
		cmd_restart(sim, j, now);
		break;
	case SIM_CMD_CMS_STOP:
	case SIM_CMD_CMS_START:
	case SIM_CMD_CMS_MOVE:
		if ((j->cluster = cmd_need_cluster(sim, j,
		    cmd_str(j, "Identity"), now)) < 0)
			break;
		if (j->cmd == SIM_CMD_CMS_STOP) {
			ccr_stop(sim, j, now);
		} else if (j->cmd == SIM_CMD_CMS_START) {
			ccr_start(sim, j, now);
		} else {
			sim->org.cl[j->cluster].moves++;
			ccr_move(sim, j, cmd_str(j, "TargetMachine"), now);
		}
		break;
	case SIM_CMD_COUNT:
		break;
	}
}

void
cmd_op_end(struct sim *sim, struct sim_job *j, int64_t t)
{
	switch (j->op) {
	case SIM_OP_READ:
		cmd_read(sim, j, t);
		break;
	case SIM_OP_SETUP:
		cmd_setup_end(sim, j, t);
		break;
	case SIM_OP_SETUP_CMS:
	case SIM_OP_CMS_STOP:
	case SIM_OP_CMS_START:
	case SIM_OP_CMS_MOVE:
		ccr_op_end(sim, j, t);
		break;
	case SIM_OP_NONE:
		break;
	}
}
