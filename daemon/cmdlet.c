/*
 * cmdlet — gateway request bodies and output parsers (DESIGN §2).
 *
 * Requests. Every body is built with jansson from typed values, so a name
 * that contains a quote or a backslash comes out JSON-escaped and can never
 * change the shape of the request, let alone PowerShell source (the gateway
 * runs a cmdlet with named parameters, not script text). Keys come out in
 * the order id, target, command, parameters, timeout_s (jansson keeps
 * insertion order), compact, so a body is reproducible byte for byte; it is
 * nevertheless built once, stored with its job and re-sent as stored.
 *
 * Targets (the machine the gateway runs the command on or for):
 *   - per-server commands (Get-ExchangeServer, Test-ServiceHealth,
 *     Invoke-ExchangeSetup -Mode Upgrade, Restart-Computer): the server.
 *     A job for a server that is down then fails instead of reporting
 *     stale directory data, which is what precheck and verify want.
 *   - Invoke-ExchangeSetup -Mode UpgradeCMS: the node that now owns the
 *     CMS (Setup.com /upgradeCMS upgrades the CMS owned by the machine it
 *     runs on).
 *   - the clustered mailbox server cmdlets (Get-/Stop-/Start-/
 *     Move-ClusteredMailboxServer): null, organization-wide. The CMS is a
 *     virtual server whose owner changes during the very procedure, so the
 *     cmdlets name it with -Identity and run wherever the gateway runs
 *     management-shell commands.
 *
 * Output. Parsers take the job's "output" array: extra fields are ignored
 * (DESIGN §2: clients ignore unknown fields), a missing or mistyped field is
 * an error naming the command and the field's path.
 */
#include "cmdlet.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "name.h"
#include "role.h"

/* JSON number for a timeout: an integer when integral, so that the usual
 * "timeout_s":14400 is not written as 14400.0. */
static json_t *
cmdlet_number(double v)
{
	if (v == floor(v) && v < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

/*
 * Invalid job ids are refused here (NULL, errno EINVAL) rather than sent:
 * the gateway would answer 400 and the job could never complete. Strings
 * that are not valid UTF-8 also give NULL (jansson refuses them).
 */
char *
cmdlet_request(const char *id, const char *target, const char *command,
    json_t *params, double timeout_s)
{
	json_t *req = NULL;
	char *text = NULL;

	if (params == NULL || !json_is_object(params) ||
	    !name_valid_job_id(id) || command == NULL) {
		json_decref(params);
		errno = params == NULL ? ENOMEM : EINVAL;
		return NULL;
	}
	if ((req = json_object()) == NULL)
		goto fail;
	if (json_object_set_new(req, "id", json_string(id)) != 0)
		goto fail;
	if (json_object_set_new(req, "target",
	    target != NULL ? json_string(target) : json_null()) != 0)
		goto fail;
	if (json_object_set_new(req, "command", json_string(command)) != 0)
		goto fail;
	/* set_new steals params even when it fails. */
	if (json_object_set_new(req, "parameters", params) != 0) {
		params = NULL;
		goto fail;
	}
	params = NULL;
	if (timeout_s > 0 && json_object_set_new(req, "timeout_s",
	    cmdlet_number(timeout_s)) != 0)
		goto fail;
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL)
		errno = ENOMEM;
	return text;
fail:
	json_decref(params);
	json_decref(req);
	errno = ENOMEM;
	return NULL;
}

/* Parameter objects: json_pack returns a new reference or NULL (ENOMEM, or
 * a NULL / non-UTF-8 string), which cmdlet_request turns into NULL. */
char *
cmdlet_get_server(const char *id, const char *server)
{
	return cmdlet_request(id, server, "Get-ExchangeServer",
	    json_pack("{s:s}", "Identity", server), 0);
}

char *
cmdlet_test_health(const char *id, const char *server)
{
	return cmdlet_request(id, server, "Test-ServiceHealth",
	    json_pack("{s:s}", "Server", server), 0);
}

char *
cmdlet_setup_upgrade(const char *id, const char *server,
    const char *source_path, double timeout_s)
{
	json_t *p;

	/* SourcePath only when configured: setup's default otherwise. */
	if (source_path != NULL)
		p = json_pack("{s:s, s:s}", "Mode", "Upgrade",
		    "SourcePath", source_path);
	else
		p = json_pack("{s:s}", "Mode", "Upgrade");
	return cmdlet_request(id, server, "Invoke-ExchangeSetup", p,
	    timeout_s);
}

char *
cmdlet_restart(const char *id, const char *server)
{
	return cmdlet_request(id, server, "Restart-Computer",
	    json_pack("{s:s, s:b}", "ComputerName", server, "Force", 1), 0);
}

char *
cmdlet_cms_status(const char *id, const char *cms)
{
	return cmdlet_request(id, NULL, "Get-ClusteredMailboxServerStatus",
	    json_pack("{s:s}", "Identity", cms), 0);
}

char *
cmdlet_cms_stop(const char *id, const char *cms, const char *reason)
{
	return cmdlet_request(id, NULL, "Stop-ClusteredMailboxServer",
	    json_pack("{s:s, s:s, s:b}", "Identity", cms,
	    "StopReason", reason, "Confirm", 0), 0);
}

char *
cmdlet_cms_move(const char *id, const char *cms, const char *target,
    const char *comment)
{
	return cmdlet_request(id, NULL, "Move-ClusteredMailboxServer",
	    json_pack("{s:s, s:s, s:s, s:b}", "Identity", cms,
	    "TargetMachine", target, "MoveComment", comment, "Confirm", 0), 0);
}

/*
 * Setup.com /upgradeCMS takes no CMS name: it upgrades the clustered
 * mailbox server owned by the node it runs on, and DESIGN §2 lists only
 * Mode for it. So cms is not sent (a parameter the gateway does not know
 * would be refused); the caller passes it so the call reads as what it
 * does, and it must be a valid name, which is checked.
 */
char *
cmdlet_cms_setup(const char *id, const char *node, const char *cms,
    double timeout_s)
{
	if (!name_valid_host(cms)) {
		errno = EINVAL;
		return NULL;
	}
	return cmdlet_request(id, node, "Invoke-ExchangeSetup",
	    json_pack("{s:s}", "Mode", "UpgradeCMS"), timeout_s);
}

/* Start-ClusteredMailboxServer: the recovery step after a stop that was
 * not followed by a move (the operator's choice, or a paused rollout). */
char *
cmdlet_cms_start(const char *id, const char *cms)
{
	return cmdlet_request(id, NULL, "Start-ClusteredMailboxServer",
	    json_pack("{s:s}", "Identity", cms), 0);
}

/* --- output parsing ------------------------------------------------------ */

static int
cmdlet_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cmdlet_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The output array with exactly one object item (the commands that
 * describe one thing): anything else is ambiguous, hence an error. */
static int
cmdlet_one_item(const char *cmd, const json_t *output, const json_t **item,
    char *err, size_t errlen)
{
	size_t n;

	if (output == NULL)
		return cmdlet_err(err, errlen, "%s: output: missing", cmd);
	if (!json_is_array(output))
		return cmdlet_err(err, errlen, "%s: output: not an array", cmd);
	n = json_array_size(output);
	if (n != 1)
		return cmdlet_err(err, errlen,
		    "%s: output: %zu items, expected 1", cmd, n);
	if (!json_is_object(json_array_get(output, 0)))
		return cmdlet_err(err, errlen, "%s: output[0]: not an object",
		    cmd);
	*item = json_array_get(output, 0);
	return 0;
}

/* Field lookups: the value (borrowed) or an error naming it. */
static int
cmdlet_field(const char *cmd, const json_t *item, size_t idx,
    const char *field, json_type type, const char *tname, const json_t **out,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(item, field);

	if (v == NULL)
		return cmdlet_err(err, errlen, "%s: output[%zu].%s: missing",
		    cmd, idx, field);
	if ((type == JSON_TRUE && !json_is_boolean(v)) ||
	    (type != JSON_TRUE && json_typeof(v) != type))
		return cmdlet_err(err, errlen, "%s: output[%zu].%s: not %s",
		    cmd, idx, field, tname);
	*out = v;
	return 0;
}

#define FIELD_STR(cmd, item, idx, f, out, err, errlen) \
	cmdlet_field(cmd, item, idx, f, JSON_STRING, "a string", out, err, errlen)
#define FIELD_BOOL(cmd, item, idx, f, out, err, errlen) \
	cmdlet_field(cmd, item, idx, f, JSON_TRUE, "a boolean", out, err, errlen)
#define FIELD_INT(cmd, item, idx, f, out, err, errlen) \
	cmdlet_field(cmd, item, idx, f, JSON_INTEGER, "an integer", out, err, errlen)
#define FIELD_ARRAY(cmd, item, idx, f, out, err, errlen) \
	cmdlet_field(cmd, item, idx, f, JSON_ARRAY, "an array", out, err, errlen)

static int
cmdlet_copy_name(const char *cmd, const char *path, const char *s, size_t n,
    char *dst, char *err, size_t errlen)
{
	if (n == 0)
		return cmdlet_err(err, errlen, "%s: %s: empty name", cmd, path);
	if (n >= CMDLET_NAME_MAX)
		return cmdlet_err(err, errlen, "%s: %s: name longer than %d",
		    cmd, path, CMDLET_NAME_MAX - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int
cmdlet_parse_server(const json_t *output, struct cmdlet_server *out,
    char *err, size_t errlen)
{
	static const char cmd[] = "Get-ExchangeServer";
	struct cmdlet_server s;
	const json_t *item, *name, *roles, *ver;
	const char *text;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = cmdlet_one_item(cmd, output, &item, err, errlen)) != 0 ||
	    (rc = FIELD_STR(cmd, item, 0, "Name", &name, err, errlen)) != 0 ||
	    (rc = FIELD_STR(cmd, item, 0, "ServerRole", &roles, err,
	    errlen)) != 0 ||
	    (rc = FIELD_STR(cmd, item, 0, "AdminDisplayVersion", &ver, err,
	    errlen)) != 0)
		return rc;
	text = json_string_value(name);
	if ((rc = cmdlet_copy_name(cmd, "output[0].Name", text, strlen(text),
	    s.name, err, errlen)) != 0)
		return rc;
	if (role_parse_list(json_string_value(roles), &s.roles) != 0)
		return cmdlet_err(err, errlen,
		    "%s: output[0].ServerRole: no known role in '%s'", cmd,
		    json_string_value(roles));
	if (version_parse_display(json_string_value(ver), &s.version) != 0)
		return cmdlet_err(err, errlen,
		    "%s: output[0].AdminDisplayVersion: cannot parse '%s' "
		    "(expected \"Version 8.1 (Build 240.6)\")", cmd,
		    json_string_value(ver));
	*out = s;
	return 0;
}

/* Appends svc to the ", "-separated list unless already there (the union
 * of every role's missing services). A list too long for the buffer ends
 * with "..." rather than failing: it is a message for people. */
static void
cmdlet_list_add(char *list, size_t cap, const char *svc)
{
	size_t len = strlen(list), n = strlen(svc);
	const char *p = list;

	while (*p) {
		size_t w = strcspn(p, ",");

		if (w == n && strncmp(p, svc, n) == 0)
			return;
		p += w;
		while (*p == ',' || *p == ' ')
			p++;
	}
	if (len >= 3 && strcmp(list + len - 3, "...") == 0)
		return;
	if (len + (len ? 2 : 0) + n + 1 > cap) {
		if (len + 4 <= cap)
			strcpy(list + len, "...");
		else
			strcpy(list + cap - 4, "...");
		return;
	}
	if (len > 0) {
		memcpy(list + len, ", ", 2);
		len += 2;
	}
	memcpy(list + len, svc, n + 1);
}

int
cmdlet_parse_health(const json_t *output, struct cmdlet_health *out,
    char *err, size_t errlen)
{
	static const char cmd[] = "Test-ServiceHealth";
	struct cmdlet_health h;
	size_t i, j, n;
	int rc;

	memset(&h, 0, sizeof(h));
	if (output == NULL)
		return cmdlet_err(err, errlen, "%s: output: missing", cmd);
	if (!json_is_array(output))
		return cmdlet_err(err, errlen, "%s: output: not an array", cmd);
	/* No item means nothing was checked, which is not "all running". */
	if ((n = json_array_size(output)) == 0)
		return cmdlet_err(err, errlen,
		    "%s: output: empty (expected one item per role)", cmd);
	h.all_running = true;
	for (i = 0; i < n; i++) {
		const json_t *item = json_array_get(output, i);
		const json_t *role, *ok, *missing;

		if (!json_is_object(item))
			return cmdlet_err(err, errlen,
			    "%s: output[%zu]: not an object", cmd, i);
		if ((rc = FIELD_STR(cmd, item, i, "Role", &role, err,
		    errlen)) != 0 ||
		    (rc = FIELD_BOOL(cmd, item, i, "RequiredServicesRunning",
		    &ok, err, errlen)) != 0 ||
		    (rc = FIELD_ARRAY(cmd, item, i, "ServicesNotRunning",
		    &missing, err, errlen)) != 0)
			return rc;
		if (!json_is_true(ok))
			h.all_running = false;
		for (j = 0; j < json_array_size(missing); j++) {
			const json_t *svc = json_array_get(missing, j);

			if (!json_is_string(svc))
				return cmdlet_err(err, errlen,
				    "%s: output[%zu].ServicesNotRunning[%zu]: "
				    "not a string", cmd, i, j);
			cmdlet_list_add(h.not_running, sizeof(h.not_running),
			    json_string_value(svc));
		}
	}
	*out = h;
	return 0;
}

/*
 * Invoke-ExchangeSetup, both modes. RebootRequired is reported by
 * -Mode Upgrade only (DESIGN §2 lists ExitCode alone for UpgradeCMS), so a
 * missing one reads as false; a present one must be a boolean.
 */
int
cmdlet_parse_setup(const json_t *output, struct cmdlet_setup *out,
    char *err, size_t errlen)
{
	static const char cmd[] = "Invoke-ExchangeSetup";
	struct cmdlet_setup s;
	const json_t *item, *code, *reboot;
	json_int_t c;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = cmdlet_one_item(cmd, output, &item, err, errlen)) != 0 ||
	    (rc = FIELD_INT(cmd, item, 0, "ExitCode", &code, err, errlen)) != 0)
		return rc;
	c = json_integer_value(code);
	/* Windows exit codes are 32-bit, signed or not (0x80070005). */
	if (c < INT32_MIN || c > UINT32_MAX)
		return cmdlet_err(err, errlen,
		    "%s: output[0].ExitCode: out of range", cmd);
	s.exit_code = (int)(int32_t)(uint32_t)c;
	if (json_object_get(item, "RebootRequired") != NULL) {
		if ((rc = FIELD_BOOL(cmd, item, 0, "RebootRequired", &reboot,
		    err, errlen)) != 0)
			return rc;
		s.reboot_required = json_is_true(reboot);
	}
	*out = s;
	return 0;
}

static const char *const cms_state_names[] = {
	[CMS_ONLINE] = "Online",
	[CMS_PARTIALLY_ONLINE] = "PartiallyOnline",
	[CMS_ONLINE_PENDING] = "OnlinePending",
	[CMS_OFFLINE] = "Offline",
	[CMS_OFFLINE_PENDING] = "OfflinePending",
	[CMS_FAILED] = "Failed",
};

#define CMS_NSTATES (sizeof(cms_state_names) / sizeof(cms_state_names[0]))

const char *
cms_state_name(enum cms_state s)
{
	if ((unsigned)s >= CMS_NSTATES)
		return "unknown";
	return cms_state_names[s];
}

/* Exact names, as PowerShell prints the enum. */
int
cms_state_parse(const char *s, enum cms_state *out)
{
	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < CMS_NSTATES; i++) {
		if (strcmp(s, cms_state_names[i]) == 0) {
			*out = (enum cms_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * OperationalMachines entries look like "MBX1A <Active, Quorum Owner>" or
 * "MBX1B": the machine name is the text before the first space, and the
 * entry containing "<Active" names the active node. More than one active
 * node, or more than the two nodes of a CCR cluster, is an error: the
 * engine must not act on an answer it cannot read unambiguously.
 */
int
cmdlet_parse_cms_status(const json_t *output, struct cmdlet_cms_status *out,
    char *err, size_t errlen)
{
	static const char cmd[] = "Get-ClusteredMailboxServerStatus";
	struct cmdlet_cms_status st;
	const json_t *item, *ident, *state, *machines;
	char path[64];
	size_t i, n;
	int rc;

	memset(&st, 0, sizeof(st));
	if ((rc = cmdlet_one_item(cmd, output, &item, err, errlen)) != 0 ||
	    (rc = FIELD_STR(cmd, item, 0, "Identity", &ident, err,
	    errlen)) != 0 ||
	    (rc = FIELD_STR(cmd, item, 0, "State", &state, err, errlen)) != 0 ||
	    (rc = FIELD_ARRAY(cmd, item, 0, "OperationalMachines", &machines,
	    err, errlen)) != 0)
		return rc;
	if (cms_state_parse(json_string_value(state), &st.state) != 0)
		return cmdlet_err(err, errlen,
		    "%s: output[0].State: unknown state '%s'", cmd,
		    json_string_value(state));
	n = json_array_size(machines);
	if (n > 2)
		return cmdlet_err(err, errlen,
		    "%s: output[0].OperationalMachines: %zu machines, a CCR "
		    "cluster has at most 2", cmd, n);
	for (i = 0; i < n; i++) {
		const json_t *m = json_array_get(machines, i);
		const char *text;
		size_t w;

		snprintf(path, sizeof(path), "output[0].OperationalMachines[%zu]",
		    i);
		if (!json_is_string(m))
			return cmdlet_err(err, errlen, "%s: %s: not a string",
			    cmd, path);
		text = json_string_value(m);
		w = strcspn(text, " <");
		if ((rc = cmdlet_copy_name(cmd, path, text, w,
		    st.machines[i], err, errlen)) != 0)
			return rc;
		if (strstr(text + w, "<Active") != NULL) {
			if (st.active[0] != '\0')
				return cmdlet_err(err, errlen,
				    "%s: %s: a second active machine", cmd,
				    path);
			memcpy(st.active, st.machines[i], w + 1);
		}
	}
	st.nmachines = (int)n;
	*out = st;
	return 0;
}
