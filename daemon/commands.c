/*
 * commands — what each control command does (DESIGN §4; the protocol in
 * the project's words is schema/control-protocol.md).
 *
 * Every command has a row in the table below: its handler and the
 * arguments it accepts. Arguments are checked before anything happens:
 * an unknown one, a missing required one or one of the wrong type is a
 * bad_request naming it. Read-only commands build their answer from the
 * model, the engine and the store; mutating ones go through the engine's
 * operator functions, which record the command as an event with the
 * peer as its actor, and then through shell_flush(), so that the change is
 * in the state file before the answer leaves.
 *
 * Counting, as the status shows it: progress counts servers (CCR nodes
 * included) that are done or skipped, over all servers; a wave's done and
 * total count the servers of its units the same way. The ETA is the
 * remaining setups, each taking the mean measured setup time of its wave
 * (or of the whole rollout), plus the CCR moves ahead (cluster_left),
 * divided over the wave's max_parallel; null until a setup has finished.
 * Waiting for approvals or for a window is not in it.
 */
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "model.h"
#include "plan.h"
#include "report.h"
#include "role.h"
#include "store.h"
#include "timefmt.h"
#include "version.h"

/* Longest reason accepted: it goes into events, logs and notifications. */
#define COMMANDS_REASON_MAX 400
/* Most events one "events" request may ask for. */
#define COMMANDS_EVENTS_MAX 10000
/* Events read per query while building a report. */
#define COMMANDS_REPORT_PAGE 10000

struct commands_ctx {
	struct shell *sh;
	const json_t *req;
	const struct control_peer *peer;
	int64_t now;
	char actor[128];
	char *msg;
	size_t msglen;
};

enum arg_type {
	ARG_STRING,		/* a non-empty string */
	ARG_REASON,		/* a non-empty line of text, bounded */
	ARG_COUNT,		/* an integer >= 0 */
};

struct arg_spec {
	const char *name;
	enum arg_type type;
	bool required;
};

#define MAX_ARGS 3

struct command {
	const char *name;
	enum control_err (*run)(struct commands_ctx *ctx, json_t **result);
	struct arg_spec args[MAX_ARGS];
};

/* ---- JSON helpers ---------------------------------------------------- */

/* A time as RFC 3339, or null for 0 (never). New reference. */
static json_t *
time_or_null(int64_t ms)
{
	char buf[TIME_RFC3339_LEN];

	if (ms == 0)
		return json_null();
	return json_string(time_format_rfc3339(ms, buf, sizeof(buf)));
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static enum control_err
oom(struct commands_ctx *ctx)
{
	snprintf(ctx->msg, ctx->msglen, "out of memory");
	return CONTROL_INTERNAL;
}

static const char *
arg_str(const struct commands_ctx *ctx, const char *name)
{
	return json_string_value(json_object_get(ctx->req, name));
}

/* ---- counting -------------------------------------------------------- */

static bool
server_ended(const struct server *s)
{
	if (s->state == SERVER_DONE || s->state == SERVER_SKIPPED)
		return true;
	/* A skipped cluster takes its nodes with it. */
	return s->cluster != NULL && (s->cluster->step == STEP_SKIPPED ||
	    s->cluster->step == STEP_DONE);
}

/* The plan wave (0-based) a server belongs to, CCR nodes by their
 * cluster; -1 when in none. */
static int
server_wave(const struct server *s)
{
	if (s->cluster != NULL)
		return s->cluster->wave;
	return s->wave;
}

struct wave_count {
	size_t done, total;
	int64_t install_sum;	/* measured setups of the wave's servers */
	size_t install_n;
};

/* Per-wave server counts and measured setups; counts has e->nwaves
 * entries. Returns the overall counts in *done and *total. */
static void
count_servers(const struct shell *sh, struct wave_count *counts,
    size_t *done, size_t *total)
{
	const struct model *m = &sh->model;
	size_t nw = sh->engine.nwaves;

	*done = 0;
	*total = m->nservers;
	for (size_t i = 0; i < m->nservers; i++) {
		const struct server *s = &m->servers[i];
		int w = server_wave(s);
		bool ended = server_ended(s);

		if (ended)
			(*done)++;
		if (w < 0 || (size_t)w >= nw)
			continue;
		counts[w].total++;
		if (ended)
			counts[w].done++;
		if (s->install_ms > 0) {
			counts[w].install_sum += s->install_ms;
			counts[w].install_n++;
		}
	}
}

/* What is left of one server's work, given a setup takes mean ms. */
static int64_t
server_left(const struct server *s, int64_t mean, int64_t now)
{
	int64_t left;

	if (server_ended(s))
		return 0;
	switch (s->phase) {
	case PHASE_INSTALL:
		left = mean - (now - s->phase_started_at);
		return left > 0 ? left : 0;
	case PHASE_REBOOT:
	case PHASE_VERIFY:
	case PHASE_DONE:
		return 0;
	case PHASE_NONE:
	case PHASE_PRECHECK:
		break;
	}
	return mean;
}

/* What is left of a CCR cluster: its nodes' setups one after the other,
 * and the failover (which runs setup /upgradeCMS: a setup's time until a
 * failover was measured) and failback still ahead (a failback only once
 * one was measured). Time spent waiting for approval is not counted: it
 * is the operator's. */
static int64_t
cluster_left(const struct engine *e, const struct cluster *c, int64_t mean,
    int64_t now)
{
	int64_t left = 0;

	if (c->step == STEP_DONE || c->step == STEP_SKIPPED)
		return 0;
	for (int k = 0; k < 2; k++)
		if (c->nodes[k] != NULL)
			left += server_left(c->nodes[k], mean, now);
	if (c->step <= STEP_FAILOVER)
		left += e->ccr_n[0] > 0 ? e->ccr_sum[0] / e->ccr_n[0] : mean;
	if (e->cfg->policy.failback && c->step <= STEP_FAILBACK &&
	    e->ccr_n[1] > 0)
		left += e->ccr_sum[1] / e->ccr_n[1];
	return left;
}

/* Seconds left, or -1 when unknown (no setup measured yet). */
static int64_t
eta_seconds(const struct shell *sh, const struct wave_count *counts,
    int64_t now)
{
	const struct engine *e = &sh->engine;
	int64_t all_sum = 0, total_ms = 0;
	size_t all_n = 0;

	for (size_t w = 0; w < e->nwaves; w++) {
		all_sum += counts[w].install_sum;
		all_n += counts[w].install_n;
	}
	if (all_n == 0)
		return -1;
	for (size_t w = e->cur; w < e->nwaves; w++) {
		const struct engine_wave *wv = &e->waves[w];
		int64_t mean = counts[w].install_n > 0 ?
		    counts[w].install_sum / (int64_t)counts[w].install_n :
		    all_sum / (int64_t)all_n;
		int par = sh->cfg->policy.max_parallel[wv->role];
		int64_t sum = 0, longest = 0, wave_ms;

		for (size_t u = 0; u < wv->nunits; u++) {
			const struct engine_unit *un = &wv->units[u];
			int64_t left = 0;

			if (un->server != NULL) {
				left = server_left(un->server, mean, now);
			} else if (un->cluster != NULL) {
				left = cluster_left(e, un->cluster, mean, now);
			}
			sum += left;
			if (left > longest)
				longest = left;
		}
		wave_ms = sum / (par > 0 ? par : 1);
		total_ms += wave_ms > longest ? wave_ms : longest;
	}
	return (total_ms + 999) / 1000;
}

/* ---- read-only commands ---------------------------------------------- */

static enum control_err
cmd_ping(struct commands_ctx *ctx, json_t **result)
{
	if ((*result = json_pack("{s:s}", "version", EXROLL_VERSION)) == NULL)
		return oom(ctx);
	return CONTROL_OK;
}

json_t *
commands_status(struct shell *sh, int64_t now)
{
	const struct engine *e = &sh->engine;
	const struct model *m = &sh->model;
	const struct rollout *r = &m->rollout;
	struct wave_count *counts = calloc(e->nwaves + 1, sizeof(*counts));
	json_t *st = NULL, *waves, *pending, *failed, *window, *cw;
	size_t done, total;
	int64_t eta;

	if (counts == NULL)
		return NULL;
	count_servers(sh, counts, &done, &total);
	eta = r->state == ROLLOUT_COMPLETED ? 0 :
	    r->state == ROLLOUT_ABORTED ? -1 : eta_seconds(sh, counts, now);

	waves = json_array();
	for (size_t i = 0; waves != NULL && i < e->nwaves; i++)
		json_array_append_new(waves, json_pack("{s:s, s:s, s:I, s:I}",
		    "role", role_name(e->waves[i].role),
		    "state", engine_wave_state(e, i),
		    "done", (json_int_t)counts[i].done,
		    "total", (json_int_t)counts[i].total));
	pending = json_array();
	for (size_t i = 0; pending != NULL && i < m->nclusters; i++) {
		const char *cp = engine_pending_checkpoint(e, &m->clusters[i]);

		if (cp != NULL)
			json_array_append_new(pending, json_pack("{s:s, s:s}",
			    "cluster", m->clusters[i].name,
			    "checkpoint", cp));
	}
	/* Everything that waits for retry or skip. */
	failed = json_array();
	for (size_t i = 0; failed != NULL && i < m->nservers; i++)
		if (m->servers[i].state == SERVER_FAILED)
			json_array_append_new(failed,
			    json_string(m->servers[i].name));
	for (size_t i = 0; failed != NULL && i < m->nclusters; i++)
		if (m->clusters[i].blocked)
			json_array_append_new(failed,
			    json_string(m->clusters[i].name));
	window = json_pack("{s:b, s:o, s:o}", "open", e->window.open,
	    "closes_at", time_or_null(e->window.open ?
	    e->window.closes_at : 0),
	    "next_open", time_or_null(e->window.open ? 0 :
	    e->window.next_open));
	cw = e->cur < e->nwaves ? json_pack("{s:I, s:s}", "index",
	    (json_int_t)e->cur + 1, "role", role_name(e->waves[e->cur].role)) :
	    json_null();

	st = json_pack("{s:s, s:o, s:{s:I, s:I, s:I}, s:o, s:o, s:o, s:o, "
	    "s:o, s:o}",
	    "state", rollout_state_name(r->state),
	    "reason", str_or_null(r->reason),
	    "progress",
	    "done", (json_int_t)done,
	    "total", (json_int_t)total,
	    "percent", (json_int_t)(total > 0 ? done * 100 / total : 100),
	    "eta_s", eta >= 0 ? json_integer(eta) : json_null(),
	    "current_wave", cw,
	    "waves", waves,
	    "pending_checkpoints", pending,
	    "failed", failed,
	    "window", window);
	free(counts);
	return st;
}

static enum control_err
cmd_status(struct commands_ctx *ctx, json_t **result)
{
	if ((*result = commands_status(ctx->sh, ctx->now)) == NULL)
		return oom(ctx);
	return CONTROL_OK;
}

void
commands_status_line(struct shell *sh, char *buf, size_t len)
{
	const struct engine *e = &sh->engine;
	const struct model *m = &sh->model;
	struct wave_count *counts = calloc(e->nwaves + 1, sizeof(*counts));
	size_t done = 0, total = m->nservers;
	int n;

	if (counts != NULL)
		count_servers(sh, counts, &done, &total);
	free(counts);
	n = snprintf(buf, len, "%s: %zu/%zu servers (%zu%%)",
	    rollout_state_name(m->rollout.state), done, total,
	    total > 0 ? done * 100 / total : 100);
	if (n > 0 && (size_t)n < len && e->cur < e->nwaves)
		snprintf(buf + n, len - (size_t)n, ", wave %zu %s", e->cur + 1,
		    role_name(e->waves[e->cur].role));
}

static json_t *
server_json(const struct server *s)
{
	char vbuf[VERSION_STRLEN];
	json_t *roles = json_array();
	int w = server_wave(s);

	for (int r = 0; roles != NULL && r < ROLE_COUNT; r++)
		if (s->roles & ROLE_BIT(r))
			json_array_append_new(roles,
			    json_string(role_name((enum role)r)));
	return json_pack("{s:s, s:o, s:o, s:s, s:s, s:i, s:o, s:o, s:o, s:o}",
	    "name", s->name,
	    "roles", roles,
	    "wave", w >= 0 ? json_integer(w + 1) : json_null(),
	    "state", server_state_name(s->state),
	    "phase", server_phase_name(s->phase),
	    "attempts", s->attempts,
	    "version", s->has_version ? json_string(version_format(
	    &s->version, vbuf, sizeof(vbuf))) : json_null(),
	    "last_error", str_or_null(s->last_error),
	    "started_at", time_or_null(s->started_at),
	    "finished_at", time_or_null(s->finished_at));
}

static enum control_err
cmd_servers(struct commands_ctx *ctx, json_t **result)
{
	const struct model *m = &ctx->sh->model;
	const char *st = arg_str(ctx, "state"), *ro = arg_str(ctx, "role");
	enum server_state want_state = SERVER_PENDING;
	enum role want_role = ROLE_MAILBOX;
	json_t *arr;

	if (st != NULL && server_state_parse(st, &want_state) != 0) {
		snprintf(ctx->msg, ctx->msglen, "'state': unknown server state "
		    "'%s' (expected pending, running, failed, done or "
		    "skipped)", st);
		return CONTROL_BAD_REQUEST;
	}
	if (ro != NULL && role_parse(ro, &want_role) != 0) {
		snprintf(ctx->msg, ctx->msglen, "'role': unknown role '%s' "
		    "(expected ClientAccess, EdgeTransport, HubTransport, "
		    "UnifiedMessaging or Mailbox)", ro);
		return CONTROL_BAD_REQUEST;
	}
	if ((arr = json_array()) == NULL)
		return oom(ctx);
	for (size_t i = 0; i < m->nservers; i++) {
		const struct server *s = &m->servers[i];

		if (st != NULL && s->state != want_state)
			continue;
		if (ro != NULL && !(s->roles & ROLE_BIT(want_role)))
			continue;
		if (json_array_append_new(arr, server_json(s)) != 0) {
			json_decref(arr);
			return oom(ctx);
		}
	}
	*result = arr;
	return CONTROL_OK;
}

static json_t *
cluster_json(const struct engine *e, const struct cluster *c)
{
	const char *cp = engine_pending_checkpoint(e, c);

	return json_pack("{s:s, s:[s?, s?], s:o, s:o, s:s, s:o}",
	    "name", c->name,
	    "nodes", c->nodes[0] ? c->nodes[0]->name : NULL,
	    c->nodes[1] ? c->nodes[1]->name : NULL,
	    "original_active", str_or_null(c->original_active ?
	    c->original_active->name : NULL),
	    "active", str_or_null(c->active ? c->active->name : NULL),
	    "step", cluster_step_name(c->step),
	    "pending_checkpoint", str_or_null(cp));
}

static enum control_err
cmd_clusters(struct commands_ctx *ctx, json_t **result)
{
	const struct model *m = &ctx->sh->model;
	json_t *arr = json_array();

	if (arr == NULL)
		return oom(ctx);
	for (size_t i = 0; i < m->nclusters; i++) {
		if (json_array_append_new(arr, cluster_json(&ctx->sh->engine,
		    &m->clusters[i])) != 0) {
			json_decref(arr);
			return oom(ctx);
		}
	}
	*result = arr;
	return CONTROL_OK;
}

static enum control_err
cmd_events(struct commands_ctx *ctx, json_t **result)
{
	const json_t *since = json_object_get(ctx->req, "since");
	const json_t *limit = json_object_get(ctx->req, "limit");
	json_int_t lim = limit != NULL ? json_integer_value(limit) : 1000;

	if (limit != NULL && (lim < 1 || lim > COMMANDS_EVENTS_MAX)) {
		snprintf(ctx->msg, ctx->msglen, "'limit' must be between 1 and "
		    "%d", COMMANDS_EVENTS_MAX);
		return CONTROL_BAD_REQUEST;
	}
	*result = store_events(ctx->sh->store,
	    since != NULL ? (int64_t)json_integer_value(since) : 0, (int)lim);
	if (*result == NULL) {
		snprintf(ctx->msg, ctx->msglen, "cannot read the events from "
		    "the state file");
		return CONTROL_INTERNAL;
	}
	return CONTROL_OK;
}

static enum control_err
cmd_plan(struct commands_ctx *ctx, json_t **result)
{
	if ((*result = plan_to_json(&ctx->sh->plan, ctx->sh->cfg)) == NULL)
		return oom(ctx);
	return CONTROL_OK;
}

/* The run report (report.c): the whole event log, read in pages so that
 * it is never held at once, over the model as it is now. An infrequent
 * command, so reading every event once is affordable. */
static enum control_err
cmd_report(struct commands_ctx *ctx, json_t **result)
{
	struct shell *sh = ctx->sh;
	struct report *r = report_new(&sh->model, &sh->plan, sh->cfg);
	int64_t since = 0;
	int rc = 0;

	if (r == NULL)
		return oom(ctx);
	for (;;) {
		json_t *page = store_events(sh->store, since,
		    COMMANDS_REPORT_PAGE);
		size_t n;

		if (page == NULL) {
			report_free(r);
			snprintf(ctx->msg, ctx->msglen, "cannot read the events "
			    "from the state file");
			return CONTROL_INTERNAL;
		}
		n = json_array_size(page);
		if (n > 0)
			since = (int64_t)json_integer_value(json_object_get(
			    json_array_get(page, n - 1), "seq"));
		rc = report_add(r, page);
		json_decref(page);
		if (rc != 0 || n < COMMANDS_REPORT_PAGE)
			break;
	}
	*result = rc == 0 ? report_finish(r, ctx->now) : NULL;
	report_free(r);
	if (*result == NULL)
		return oom(ctx);
	return CONTROL_OK;
}

/* ---- mutating commands ----------------------------------------------- */

/* Maps an engine return, makes the change durable, adds the note. */
static enum control_err
commands_done(struct commands_ctx *ctx, int rc, json_t **result)
{
	/* Even a refused command left its "operator" event to commit. */
	shell_flush(ctx->sh);
	switch (rc) {
	case 0:
		break;
	case -ENOENT:
		return CONTROL_NOT_FOUND;
	case -EBUSY:
		return CONTROL_CONFLICT;
	case -EINVAL:
		return CONTROL_BAD_REQUEST;
	default:
		if (ctx->msg[0] == '\0')
			snprintf(ctx->msg, ctx->msglen, "%s", strerror(-rc));
		return CONTROL_INTERNAL;
	}
	if (*result == NULL)
		return oom(ctx);
	if (ctx->msg[0] != '\0' && json_object_set_new(*result, "note",
	    json_string(ctx->msg)) != 0) {
		json_decref(*result);
		*result = NULL;
		return oom(ctx);
	}
	ctx->msg[0] = '\0';
	return CONTROL_OK;
}

static json_t *
rollout_result(const struct commands_ctx *ctx)
{
	return json_pack("{s:s}", "state",
	    rollout_state_name(ctx->sh->model.rollout.state));
}

static enum control_err
cmd_pause(struct commands_ctx *ctx, json_t **result)
{
	int rc = engine_pause(&ctx->sh->engine, arg_str(ctx, "reason"),
	    ctx->actor, ctx->now, ctx->msg, ctx->msglen);

	*result = rc == 0 ? rollout_result(ctx) : NULL;
	return commands_done(ctx, rc, result);
}

static enum control_err
cmd_resume(struct commands_ctx *ctx, json_t **result)
{
	const char *reason = arg_str(ctx, "reason");
	int rc;

	/* The engine records "resume"; a reason given goes to the log. */
	if (reason != NULL)
		log_info("resume by %s: %s", ctx->actor, reason);
	rc = engine_resume(&ctx->sh->engine, ctx->actor, ctx->now, ctx->msg,
	    ctx->msglen);
	*result = rc == 0 ? rollout_result(ctx) : NULL;
	return commands_done(ctx, rc, result);
}

static enum control_err
cmd_abort(struct commands_ctx *ctx, json_t **result)
{
	int rc = engine_abort(&ctx->sh->engine, arg_str(ctx, "reason"),
	    ctx->actor, ctx->now, ctx->msg, ctx->msglen);

	*result = rc == 0 ? rollout_result(ctx) : NULL;
	return commands_done(ctx, rc, result);
}

static enum control_err
cmd_approve(struct commands_ctx *ctx, json_t **result)
{
	const char *name = arg_str(ctx, "cluster");
	const char *cp = arg_str(ctx, "checkpoint");
	const struct cluster *c;
	int rc;

	if (cp != NULL && strcmp(cp, "failover") != 0 &&
	    strcmp(cp, "failback") != 0) {
		snprintf(ctx->msg, ctx->msglen, "'checkpoint': '%s' is neither "
		    "failover nor failback", cp);
		return CONTROL_BAD_REQUEST;
	}
	rc = engine_approve(&ctx->sh->engine, name, cp, ctx->actor, ctx->now,
	    ctx->msg, ctx->msglen);
	*result = NULL;
	if (rc == 0 && (c = model_cluster(&ctx->sh->model, name)) != NULL)
		*result = json_pack("{s:s, s:s, s:o}", "cluster", c->name,
		    "step", cluster_step_name(c->step), "pending_checkpoint",
		    str_or_null(engine_pending_checkpoint(&ctx->sh->engine,
		    c)));
	return commands_done(ctx, rc, result);
}

/* {"server", "state"} for a server, {"cluster", "step"} for a cluster. */
static json_t *
unit_result(const struct commands_ctx *ctx, const char *name)
{
	const struct server *s = model_server(&ctx->sh->model, name);
	const struct cluster *c;

	if (s != NULL)
		return json_pack("{s:s, s:s}", "server", s->name, "state",
		    server_state_name(s->state));
	if ((c = model_cluster(&ctx->sh->model, name)) != NULL)
		return json_pack("{s:s, s:s}", "cluster", c->name, "step",
		    cluster_step_name(c->step));
	return NULL;
}

static enum control_err
cmd_retry(struct commands_ctx *ctx, json_t **result)
{
	const char *name = arg_str(ctx, "server");
	int rc = engine_retry(&ctx->sh->engine, name, ctx->actor, ctx->now,
	    ctx->msg, ctx->msglen);

	*result = rc == 0 ? unit_result(ctx, name) : NULL;
	return commands_done(ctx, rc, result);
}

static enum control_err
cmd_skip(struct commands_ctx *ctx, json_t **result)
{
	const char *name = arg_str(ctx, "server");
	int rc = engine_skip(&ctx->sh->engine, name, arg_str(ctx, "reason"),
	    ctx->actor, ctx->now, ctx->msg, ctx->msglen);

	*result = rc == 0 ? unit_result(ctx, name) : NULL;
	return commands_done(ctx, rc, result);
}

/* ---- the table and the dispatcher ------------------------------------ */

static const struct command commands[] = {
	{ "ping", cmd_ping, { { 0 } } },
	{ "status", cmd_status, { { 0 } } },
	{ "servers", cmd_servers, { { "state", ARG_STRING, false },
	    { "role", ARG_STRING, false } } },
	{ "clusters", cmd_clusters, { { 0 } } },
	{ "events", cmd_events, { { "since", ARG_COUNT, false },
	    { "limit", ARG_COUNT, false } } },
	{ "plan", cmd_plan, { { 0 } } },
	{ "report", cmd_report, { { 0 } } },
	{ "pause", cmd_pause, { { "reason", ARG_REASON, false } } },
	{ "resume", cmd_resume, { { "reason", ARG_REASON, false } } },
	{ "approve", cmd_approve, { { "cluster", ARG_STRING, true },
	    { "checkpoint", ARG_STRING, false } } },
	{ "retry", cmd_retry, { { "server", ARG_STRING, true } } },
	{ "skip", cmd_skip, { { "server", ARG_STRING, true },
	    { "reason", ARG_REASON, true } } },
	{ "abort", cmd_abort, { { "reason", ARG_REASON, true } } },
};

static const char *
json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* Checks req against cmd's arguments; msg names the first problem. */
static bool
check_args(const struct command *cmd, const json_t *req, char *msg,
    size_t msglen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)req, key, v) {
		const struct arg_spec *a = NULL;

		if (strcmp(key, "id") == 0 || strcmp(key, "cmd") == 0)
			continue;
		for (size_t i = 0; i < MAX_ARGS && cmd->args[i].name; i++)
			if (strcmp(cmd->args[i].name, key) == 0)
				a = &cmd->args[i];
		if (a == NULL) {
			snprintf(msg, msglen, "unknown argument '%s' for '%s'",
			    key, cmd->name);
			return false;
		}
		switch (a->type) {
		case ARG_STRING:
		case ARG_REASON: {
			const char *s = json_string_value(v);

			if (s == NULL) {
				snprintf(msg, msglen, "'%s' must be a string, "
				    "not %s", key, json_type_name(v));
				return false;
			}
			if (s[strspn(s, " \t")] == '\0') {
				snprintf(msg, msglen, "'%s' must not be empty",
				    key);
				return false;
			}
			if (a->type == ARG_STRING)
				break;
			if (strlen(s) > COMMANDS_REASON_MAX) {
				snprintf(msg, msglen, "'%s' is longer than %d "
				    "bytes", key, COMMANDS_REASON_MAX);
				return false;
			}
			for (const char *p = s; *p != '\0'; p++) {
				if ((unsigned char)*p < 0x20 || *p == 0x7f) {
					snprintf(msg, msglen, "'%s' must be one "
					    "line of text, without control "
					    "characters", key);
					return false;
				}
			}
			break;
		}
		case ARG_COUNT:
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				snprintf(msg, msglen, "'%s' must be an integer "
				    ">= 0", key);
				return false;
			}
			break;
		}
	}
	for (size_t i = 0; i < MAX_ARGS && cmd->args[i].name; i++) {
		if (cmd->args[i].required &&
		    json_object_get(req, cmd->args[i].name) == NULL) {
			snprintf(msg, msglen, "'%s' needs '%s'", cmd->name,
			    cmd->args[i].name);
			return false;
		}
	}
	return true;
}

enum control_err
commands_run(void *arg, const char *cmd, const json_t *req,
    const struct control_peer *peer, json_t **result, char *msg,
    size_t msglen)
{
	struct commands_ctx ctx = { .sh = arg, .req = req, .peer = peer,
		.msg = msg, .msglen = msglen };
	const struct command *c = NULL;
	enum control_err e;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			c = &commands[i];
	if (c == NULL) {
		snprintf(msg, msglen, "unknown command '%s'", cmd);
		return CONTROL_UNKNOWN_COMMAND;
	}
	if (!check_args(c, req, msg, msglen))
		return CONTROL_BAD_REQUEST;
	msg[0] = '\0';
	ctx.now = shell_now(ctx.sh);
	/* "uid 1000 (alice)"; a uid without a name stays a bare uid. */
	{
		char num[24];

		snprintf(num, sizeof(num), "%u", (unsigned)peer->uid);
		if (peer->user[0] == '\0' || strcmp(peer->user, num) == 0)
			snprintf(ctx.actor, sizeof(ctx.actor), "uid %s", num);
		else
			snprintf(ctx.actor, sizeof(ctx.actor), "uid %s (%s)",
			    num, peer->user);
	}
	*result = NULL;
	e = c->run(&ctx, result);
	if (e != CONTROL_OK && *result != NULL) {
		json_decref(*result);
		*result = NULL;
	}
	return e;
}
