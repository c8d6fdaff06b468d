/*
 * report — the run report, built from the event log and the model (the
 * contract is in report.h, the result's shape in
 * schema/control-protocol.md).
 *
 * What each event contributes, read from its data (the object the state
 * machines write with it; schema/control-protocol.md has every shape):
 *
 *   server.state/phase  {from_state, from_phase, to_state, to_phase,
 *                       reason, version?, error?, ...}: closes the server's
 *                       open span and opens one for the label of TO (the
 *                       phase while running, else the state: precheck,
 *                       install, reboot, verify, failed; done and skipped
 *                       end the server). "error" is a failed try: the last
 *                       one when TO is failed, else one exrolld retries;
 *                       FROM failed is an operator's retry; TO install is a
 *                       setup, and its "version" the version before
 *   server.notice       a note (its message)
 *   cluster.step        {from, to, reason}: the cluster's step spans
 *   cluster.checkpoint  {checkpoint, target}: a checkpoint reached
 *   cluster.approved    {checkpoint}: approved, by the event's actor
 *   cluster.move        {action, job, target}: a move issued
 *   cluster.action      {action, job, target}: a stop or setup /upgradeCMS
 *   cluster.blocked     {step, reason}: a block, cleared by the
 *                       operator's cluster.retry or a skip
 *   cluster.retry       {error, attempt, ...}: a failed try; without
 *                       "error" ({after}): the operator's retry, which
 *                       clears the block
 *   rollout.created     the rollout's first span (running)
 *   rollout.state       {from, to, cause, reason}: the timeline and pauses
 *   operator            {command, ...}: an operator action (accepted or
 *                       refused); its message is the action as typed
 *   wave.done           {wave, role, units}: the end of that wave
 *
 * Anything else is counted and otherwise left out. No message is parsed.
 * An event of a kind above whose data is missing (written before the
 * state file's migration 2) or lacks what the kind needs is not guessed
 * at either: it goes, as it is, to the report's raw_events, and the spans
 * or entries it would have given are missing. rollout.created, operator,
 * server.notice and wave.done need nothing but the event itself (wave.done
 * falls back to its subject, the role), so old ones still count.
 *
 * Errors: allocation failures are sticky in r->err; every JSON setter
 * below steals its value even on failure, so building goes on without
 * leaks and report_finish() returns NULL at the end.
 */
#include "report.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "role.h"
#include "timefmt.h"
#include "version.h"

/* Longest transition label ("upgrade_former_active"), with room. */
#define REPORT_LABEL_MAX 32

/* The phases whose time is summed per server (phase_ms). */
static const char *const report_phases[] = {
	"precheck", "install", "reboot", "verify",
};
#define REPORT_NPHASES (sizeof(report_phases) / sizeof(report_phases[0]))

/* The rollout states whose time is summed (totals). */
enum report_rstate {
	RS_RUNNING,
	RS_WAITING_WINDOW,
	RS_PAUSED,
	RS_COUNT
};

static const char *const report_rstates[RS_COUNT] = {
	[RS_RUNNING] = "running",
	[RS_WAITING_WINDOW] = "waiting_window",
	[RS_PAUSED] = "paused",
};

/* A list of spans of which the last may still be open. */
struct report_spans {
	json_t *list;			/* the spans, oldest first (owned) */
	json_t *open;			/* the open span (borrowed), or NULL */
	int64_t open_at;
	char label[REPORT_LABEL_MAX];	/* the open span's label */
};

struct report_server {
	const struct server *s;
	int wave;			/* 1-based; 0: in no wave */
	bool listed;			/* placed in units already */
	struct report_spans phases;
	json_t *errors, *notes;		/* owned */
	json_t *end;			/* the event that ended it, or NULL */
	json_t *version_before;		/* owned, or NULL */
	int64_t phase_ms[REPORT_NPHASES];
	bool phase_seen[REPORT_NPHASES];	/* entered at least once */
	int setups, failures, retries, operator_retries;
};

struct report_cluster {
	const struct cluster *c;
	int wave;
	struct report_spans steps;
	json_t *checkpoints, *moves, *actions, *blocks, *errors;	/* owned */
	json_t *open_cp;		/* checkpoint not approved yet (borrowed) */
	int64_t open_cp_at;		/* when it was reached */
	json_t *open_block;		/* block not cleared yet (borrowed) */
	json_t *end;
	int failures;
};

/* Name index entry, sorted case-insensitively (names compare as Windows
 * compares computer names). */
struct report_name {
	const char *name;
	size_t idx;
};

struct report {
	const struct model *m;
	const struct plan *plan;
	const struct config *cfg;
	struct report_server *srv;	/* m->nservers, model order */
	struct report_cluster *cl;	/* m->nclusters */
	struct report_name *sidx, *cidx;
	struct report_spans timeline;
	json_t *pauses, *operators;	/* owned */
	json_t *raw;			/* events not read (owned) */
	json_t *open_pause;		/* borrowed */
	int64_t pause_at;		/* when the open pause began */
	json_t *end;			/* completed/aborted event, or NULL */
	int64_t *wave_done;		/* per plan wave; 0: not done */
	int64_t created_at;		/* from rollout.created; 0: not seen */
	int64_t ended_at;
	int64_t state_ms[RS_COUNT];
	size_t nevents;
	int err;
};

/* ---- small JSON helpers ---------------------------------------------- */

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void
put(struct report *r, json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, v) != 0)
		r->err = -ENOMEM;
}

/* Appends v (stolen); returns it borrowed, or NULL on failure. */
static json_t *
push(struct report *r, json_t *list, json_t *v)
{
	if (v == NULL || json_array_append_new(list, v) != 0) {
		r->err = -ENOMEM;
		return NULL;
	}
	return v;
}

/* A new object, or NULL with the error noted. */
static json_t *
obj(struct report *r)
{
	json_t *o = json_object();

	if (o == NULL)
		r->err = -ENOMEM;
	return o;
}

static json_t *
arr(struct report *r)
{
	json_t *a = json_array();

	if (a == NULL)
		r->err = -ENOMEM;
	return a;
}

/* RFC 3339, or null for the model's 0 (never). New reference. */
static json_t *
time_json(int64_t ms)
{
	char buf[TIME_RFC3339_LEN];

	if (ms == 0)
		return json_null();
	return json_string(time_format_rfc3339(ms, buf, sizeof(buf)));
}

static json_t *
str_json(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static int64_t
span_ms(int64_t from, int64_t to)
{
	return to > from ? to - from : 0;
}

/* ---- event data -------------------------------------------------------- */

/* The string member key of data, or NULL (data may be NULL). */
static const char *
dstr(const json_t *data, const char *key)
{
	return json_string_value(json_object_get(data, key));
}

/* A member of data as a new JSON string, or JSON null when it is not a
 * string. */
static json_t *
dstr_json(const json_t *data, const char *key)
{
	return str_json(dstr(data, key));
}

/* A server's label: its phase while it runs, else its state (as the
 * messages and the report's spans name it). NULL when st is NULL. */
static const char *
server_label(const char *st, const char *ph)
{
	if (st == NULL)
		return NULL;
	return strcmp(st, "running") == 0 ? ph : st;
}

/* A label that fits a span's label buffer. */
static bool
label_ok(const char *label)
{
	return label != NULL && label[0] != '\0' &&
	    strlen(label) < REPORT_LABEL_MAX;
}

/* ---- spans ----------------------------------------------------------- */

static void
spans_init(struct report *r, struct report_spans *sp)
{
	sp->list = arr(r);
	sp->open = NULL;
	sp->label[0] = '\0';
}

/* Opens a span labelled label (under key) at at; the previous one must be
 * closed. */
static void
spans_open(struct report *r, struct report_spans *sp, const char *key,
    const char *label, int64_t at, const char *reason, const char *actor)
{
	json_t *o = obj(r);

	put(r, o, key, json_string(label));
	put(r, o, "started_at", time_json(at));
	put(r, o, "ended_at", json_null());
	put(r, o, "duration_ms", json_integer(0));
	put(r, o, "reason", str_json(reason));
	put(r, o, "actor", json_string(actor));
	sp->open = push(r, sp->list, o);
	sp->open_at = at;
	snprintf(sp->label, sizeof(sp->label), "%s", label);
}

/* Closes the open span at at; returns its duration (0 when none). */
static int64_t
spans_close(struct report *r, struct report_spans *sp, int64_t at)
{
	int64_t d;

	if (sp->open == NULL)
		return 0;
	d = span_ms(sp->open_at, at);
	put(r, sp->open, "ended_at", time_json(at));
	put(r, sp->open, "duration_ms", json_integer(d));
	sp->open = NULL;
	sp->label[0] = '\0';
	return d;
}

/* The open span lasts until now: its duration so far (ended_at stays
 * null). Returns it, 0 when none is open. */
static int64_t
spans_until(struct report *r, struct report_spans *sp, int64_t now)
{
	int64_t d;

	if (sp->open == NULL)
		return 0;
	d = span_ms(sp->open_at, now);
	put(r, sp->open, "duration_ms", json_integer(d));
	return d;
}

static int
phase_index(const char *label)
{
	for (size_t i = 0; i < REPORT_NPHASES; i++)
		if (strcmp(label, report_phases[i]) == 0)
			return (int)i;
	return -1;
}

static int
rstate_index(const char *label)
{
	for (int i = 0; i < RS_COUNT; i++)
		if (strcmp(label, report_rstates[i]) == 0)
			return i;
	return -1;
}

/* {"state", "time", "actor", "reason"}: the event that ended a unit or the
 * rollout. New reference. */
static json_t *
end_json(struct report *r, const char *state, int64_t at, const char *actor,
    const char *reason)
{
	json_t *o = obj(r);

	put(r, o, "state", json_string(state));
	put(r, o, "time", time_json(at));
	put(r, o, "actor", json_string(actor));
	put(r, o, "reason", str_json(reason));
	return o;
}

/* ---- names ----------------------------------------------------------- */

static int
name_cmp(const void *a, const void *b)
{
	const struct report_name *x = a, *y = b;

	return strcasecmp(x->name, y->name);
}

/* The index of name in idx (n entries, sorted), or -1. */
static long
name_find(const struct report_name *idx, size_t n, const char *name)
{
	struct report_name key = { name, 0 };
	const struct report_name *hit;

	if (n == 0)
		return -1;
	hit = bsearch(&key, idx, n, sizeof(*idx), name_cmp);
	return hit != NULL ? (long)hit->idx : -1;
}

/* ---- servers --------------------------------------------------------- */

static void
server_error(struct report *r, struct report_server *rs, int64_t at,
    const char *phase, const char *msg, size_t len)
{
	json_t *o = obj(r);

	put(r, o, "time", time_json(at));
	put(r, o, "phase", json_string(phase));
	put(r, o, "message", json_stringn(msg, len));
	push(r, rs->errors, o);
}

/* A transition of the server: false when data lacks what it needs. */
static bool
server_transition(struct report *r, struct report_server *rs, int64_t at,
    const json_t *data, const char *actor)
{
	const char *from = server_label(dstr(data, "from_state"),
	    dstr(data, "from_phase"));
	const char *to = server_label(dstr(data, "to_state"),
	    dstr(data, "to_phase"));
	const char *reason = dstr(data, "reason"), *err = dstr(data, "error");
	const char *version = dstr(data, "version");
	bool final;
	int pi;

	if (!label_ok(from) || !label_ok(to))
		return false;
	/* The try that ends here, if it failed. */
	if (strcmp(to, "failed") == 0) {
		rs->failures++;
		err = err != NULL ? err : reason != NULL ? reason : "";
		server_error(r, rs, at, from, err, strlen(err));
	} else if (err != NULL) {
		rs->failures++;
		rs->retries++;
		server_error(r, rs, at, from, err, strlen(err));
	}
	if (strcmp(from, "failed") == 0 && strcmp(to, "skipped") != 0)
		rs->operator_retries++;
	if (strcmp(to, "install") == 0) {
		rs->setups++;
		/* The version the first setup found. */
		if (rs->version_before == NULL && version != NULL)
			rs->version_before = json_string(version);
	}
	pi = phase_index(rs->phases.label);
	{
		int64_t d = spans_close(r, &rs->phases, at);

		if (pi >= 0)
			rs->phase_ms[pi] += d;
	}
	final = strcmp(to, "done") == 0 || strcmp(to, "skipped") == 0;
	json_decref(rs->end);
	rs->end = NULL;
	if (final || strcmp(to, "failed") == 0)
		rs->end = end_json(r, to, at, actor, reason);
	if (!final) {
		spans_open(r, &rs->phases, "phase", to, at, reason, actor);
		if ((pi = phase_index(to)) >= 0)
			rs->phase_seen[pi] = true;
	}
	return true;
}

/* false: the event needs data it lacks (see raw_events). */
static bool
server_event(struct report *r, struct report_server *rs, const char *kind,
    int64_t at, const char *msg, const json_t *data, const char *actor)
{
	if (strcmp(kind, "server.state") == 0 ||
	    strcmp(kind, "server.phase") == 0)
		return server_transition(r, rs, at, data, actor);
	if (strcmp(kind, "server.notice") == 0) {
		json_t *o = obj(r);

		put(r, o, "time", time_json(at));
		put(r, o, "message", json_string(msg));
		push(r, rs->notes, o);
	}
	return true;
}

/* ---- clusters -------------------------------------------------------- */

static const char *
cluster_step_now(const struct report_cluster *rc)
{
	return rc->steps.label[0] != '\0' ? rc->steps.label : "-";
}

/* An entry {"time", "step", ...} of one of the cluster's lists. */
static json_t *
cluster_entry(struct report *r, struct report_cluster *rc, json_t *list,
    int64_t at)
{
	json_t *o = obj(r);

	put(r, o, "time", time_json(at));
	put(r, o, "step", json_string(cluster_step_now(rc)));
	return push(r, list, o);
}

static void
cluster_clear_block(struct report *r, struct report_cluster *rc, int64_t at,
    const char *actor)
{
	if (rc->open_block == NULL)
		return;
	put(r, rc->open_block, "cleared_at", time_json(at));
	put(r, rc->open_block, "cleared_by", json_string(actor));
	rc->open_block = NULL;
}

static bool
cluster_transition(struct report *r, struct report_cluster *rc, int64_t at,
    const json_t *data, const char *actor)
{
	const char *from = dstr(data, "from"), *to = dstr(data, "to");
	const char *reason = dstr(data, "reason");
	bool final;

	if (!label_ok(from) || !label_ok(to))
		return false;
	spans_close(r, &rc->steps, at);
	final = strcmp(to, "done") == 0 || strcmp(to, "skipped") == 0;
	if (strcmp(to, "skipped") == 0)
		cluster_clear_block(r, rc, at, actor);
	json_decref(rc->end);
	rc->end = final ? end_json(r, to, at, actor, reason) : NULL;
	if (!final)
		spans_open(r, &rc->steps, "step", to, at, reason, actor);
	return true;
}

static bool
cluster_checkpoint(struct report *r, struct report_cluster *rc, int64_t at,
    const json_t *data)
{
	const char *cp = dstr(data, "checkpoint");
	json_t *o;

	if (cp == NULL)
		return false;
	o = obj(r);
	put(r, o, "checkpoint", json_string(cp));
	put(r, o, "to", dstr_json(data, "target"));
	put(r, o, "reached_at", time_json(at));
	put(r, o, "approved_at", json_null());
	put(r, o, "approved_by", json_null());
	put(r, o, "waited_ms", json_null());
	rc->open_cp = push(r, rc->checkpoints, o);
	rc->open_cp_at = at;
	return true;
}

static bool
cluster_approved(struct report *r, struct report_cluster *rc, int64_t at,
    const json_t *data, const char *actor)
{
	const char *cp = dstr(data, "checkpoint");
	const char *open_name = NULL;
	json_t *o = rc->open_cp;

	if (cp == NULL)
		return false;
	if (o != NULL)
		open_name = jstr(o, "checkpoint");
	if (o == NULL || open_name == NULL || strcmp(open_name, cp) != 0) {
		/* Approved with no checkpoint event seen: reached unknown. */
		o = obj(r);
		put(r, o, "checkpoint", json_string(cp));
		put(r, o, "to", dstr_json(data, "target"));
		put(r, o, "reached_at", json_null());
		o = push(r, rc->checkpoints, o);
		put(r, o, "approved_at", time_json(at));
		put(r, o, "approved_by", json_string(actor));
		put(r, o, "waited_ms", json_null());
	} else {
		put(r, o, "approved_at", time_json(at));
		put(r, o, "approved_by", json_string(actor));
		put(r, o, "waited_ms", json_integer(span_ms(rc->open_cp_at,
		    at)));
	}
	rc->open_cp = NULL;
	return true;
}

/* false: the event needs data it lacks (see raw_events). */
static bool
cluster_event(struct report *r, struct report_cluster *rc, const char *kind,
    int64_t at, const char *msg, const json_t *data, const char *actor)
{
	json_t *o;

	if (strcmp(kind, "cluster.step") == 0)
		return cluster_transition(r, rc, at, data, actor);
	if (strcmp(kind, "cluster.checkpoint") == 0)
		return cluster_checkpoint(r, rc, at, data);
	if (strcmp(kind, "cluster.approved") == 0)
		return cluster_approved(r, rc, at, data, actor);
	if (strcmp(kind, "cluster.move") == 0 ||
	    strcmp(kind, "cluster.action") == 0) {
		bool move = strcmp(kind, "cluster.move") == 0;

		if (data == NULL)
			return false;
		o = cluster_entry(r, rc, move ? rc->moves : rc->actions, at);
		if (move)
			put(r, o, "to", dstr_json(data, "target"));
		put(r, o, "job", dstr_json(data, "job"));
		put(r, o, "message", json_string(msg));
	} else if (strcmp(kind, "cluster.blocked") == 0) {
		if (data == NULL)
			return false;
		o = cluster_entry(r, rc, rc->blocks, at);
		put(r, o, "reason", dstr_json(data, "reason"));
		put(r, o, "cleared_at", json_null());
		put(r, o, "cleared_by", json_null());
		rc->open_block = o;
	} else if (strcmp(kind, "cluster.retry") == 0) {
		const char *err = dstr(data, "error");

		if (data == NULL)
			return false;
		if (err != NULL) {
			rc->failures++;
			o = cluster_entry(r, rc, rc->errors, at);
			put(r, o, "message", json_string(err));
		} else {
			cluster_clear_block(r, rc, at, actor);
		}
	}
	return true;
}

/* ---- the rollout ----------------------------------------------------- */

static bool
rollout_transition(struct report *r, int64_t at, const json_t *data,
    const char *actor)
{
	const char *from = dstr(data, "from"), *to = dstr(data, "to");
	const char *reason = dstr(data, "reason"), *cause = dstr(data, "cause");
	int ri;

	if (!label_ok(from) || !label_ok(to))
		return false;
	ri = rstate_index(r->timeline.label);
	{
		int64_t d = spans_close(r, &r->timeline, at);

		if (ri >= 0)
			r->state_ms[ri] += d;
	}
	if (r->open_pause != NULL && strcmp(from, "paused") == 0) {
		bool resumed = strcmp(to, "running") == 0 ||
		    strcmp(to, "waiting_window") == 0;

		put(r, r->open_pause, "ended_at", time_json(at));
		put(r, r->open_pause, "duration_ms",
		    json_integer(span_ms(r->pause_at, at)));
		put(r, r->open_pause, "resumed_by", resumed ?
		    json_string(actor) : json_null());
		put(r, r->open_pause, "resume_reason", resumed ?
		    str_json(reason) : json_null());
		put(r, r->open_pause, "next_state", json_string(to));
		r->open_pause = NULL;
	}
	if (strcmp(to, "paused") == 0) {
		json_t *o = obj(r);

		put(r, o, "started_at", time_json(at));
		put(r, o, "ended_at", json_null());
		put(r, o, "duration_ms", json_integer(0));
		/* The cause the rollout recorded with the pause. */
		put(r, o, "cause", str_json(cause));
		put(r, o, "paused_by", json_string(actor));
		put(r, o, "reason", str_json(reason));
		put(r, o, "resumed_by", json_null());
		put(r, o, "resume_reason", json_null());
		put(r, o, "next_state", json_null());
		r->open_pause = push(r, r->pauses, o);
		r->pause_at = at;
	}
	if (strcmp(to, "completed") == 0 || strcmp(to, "aborted") == 0) {
		json_decref(r->end);
		r->end = end_json(r, to, at, actor, reason);
		r->ended_at = at;
		return true;
	}
	spans_open(r, &r->timeline, "state", to, at, reason, actor);
	return true;
}

/* An event the report could not read without guessing: kept as it is.
 * Borrowed fields are copied, so the caller's pages may go. */
static void
report_raw(struct report *r, const json_t *ev)
{
	json_t *o = obj(r);
	static const char *const keys[] = { "seq", "time", "kind", "subject",
		"actor", "message" };

	for (size_t i = 0; o != NULL && i < sizeof(keys) / sizeof(keys[0]);
	    i++) {
		json_t *v = json_object_get(ev, keys[i]);

		put(r, o, keys[i], v != NULL ? json_deep_copy(v) : json_null());
	}
	push(r, r->raw, o);
}

static void
report_event(struct report *r, const json_t *ev)
{
	const char *kind = jstr(ev, "kind"), *t = jstr(ev, "time");
	const char *subject = jstr(ev, "subject"), *msg = jstr(ev, "message");
	const char *actor = jstr(ev, "actor");
	const json_t *data = json_object_get(ev, "data");
	bool read = true;
	int64_t at;
	long i;

	if (kind == NULL || t == NULL || time_parse_rfc3339(t, &at) != 0)
		return;
	subject = subject != NULL ? subject : "";
	msg = msg != NULL ? msg : "";
	actor = actor != NULL ? actor : "";
	if (!json_is_object(data))
		data = NULL;
	r->nevents++;
	if (strncmp(kind, "server.", 7) == 0) {
		if ((i = name_find(r->sidx, r->m->nservers, subject)) >= 0)
			read = server_event(r, &r->srv[i], kind, at, msg, data,
			    actor);
	} else if (strncmp(kind, "cluster.", 8) == 0) {
		if ((i = name_find(r->cidx, r->m->nclusters, subject)) >= 0)
			read = cluster_event(r, &r->cl[i], kind, at, msg, data,
			    actor);
	} else if (strcmp(kind, "rollout.state") == 0) {
		read = rollout_transition(r, at, data, actor);
	} else if (strcmp(kind, "rollout.created") == 0) {
		if (r->created_at == 0)
			r->created_at = at;
		/* A rollout is created running. */
		if (r->timeline.open == NULL &&
		    json_array_size(r->timeline.list) == 0)
			spans_open(r, &r->timeline, "state", "running", at, msg,
			    actor);
	} else if (strcmp(kind, "operator") == 0) {
		json_t *o = obj(r);

		put(r, o, "time", time_json(at));
		put(r, o, "actor", json_string(actor));
		put(r, o, "subject", json_string(subject));
		put(r, o, "action", json_string(msg));
		put(r, o, "command", dstr_json(data, "command"));
		push(r, r->operators, o);
	} else if (strcmp(kind, "wave.done") == 0) {
		const char *role = dstr(data, "role");

		role = role != NULL ? role : subject;
		for (size_t w = 0; w < r->plan->nwaves; w++)
			if (strcmp(role_name(r->plan->waves[w].role), role) ==
			    0 && r->wave_done[w] == 0) {
				r->wave_done[w] = at;
				break;
			}
	}
	if (!read)
		report_raw(r, ev);
}

/* ---- building -------------------------------------------------------- */

struct report *
report_new(const struct model *m, const struct plan *plan,
    const struct config *cfg)
{
	struct report *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->m = m;
	r->plan = plan;
	r->cfg = cfg;
	/* +1: calloc(0) may return NULL. */
	r->srv = calloc(m->nservers + 1, sizeof(*r->srv));
	r->cl = calloc(m->nclusters + 1, sizeof(*r->cl));
	r->sidx = calloc(m->nservers + 1, sizeof(*r->sidx));
	r->cidx = calloc(m->nclusters + 1, sizeof(*r->cidx));
	r->wave_done = calloc(plan->nwaves + 1, sizeof(*r->wave_done));
	if (r->srv == NULL || r->cl == NULL || r->sidx == NULL ||
	    r->cidx == NULL || r->wave_done == NULL)
		goto fail;
	for (size_t i = 0; i < m->nservers; i++) {
		struct report_server *rs = &r->srv[i];

		rs->s = &m->servers[i];
		spans_init(r, &rs->phases);
		rs->errors = arr(r);
		rs->notes = arr(r);
		r->sidx[i].name = m->servers[i].name;
		r->sidx[i].idx = i;
	}
	for (size_t i = 0; i < m->nclusters; i++) {
		struct report_cluster *rc = &r->cl[i];

		rc->c = &m->clusters[i];
		spans_init(r, &rc->steps);
		rc->checkpoints = arr(r);
		rc->moves = arr(r);
		rc->actions = arr(r);
		rc->blocks = arr(r);
		rc->errors = arr(r);
		r->cidx[i].name = m->clusters[i].name;
		r->cidx[i].idx = i;
	}
	qsort(r->sidx, m->nservers, sizeof(*r->sidx), name_cmp);
	qsort(r->cidx, m->nclusters, sizeof(*r->cidx), name_cmp);
	/* Waves from the plan: a CCR node goes with its cluster. */
	for (size_t w = 0; w < plan->nwaves; w++) {
		for (size_t u = 0; u < plan->waves[w].nunits; u++) {
			const struct plan_unit *pu = &plan->waves[w].units[u];

			if (pu->kind == PLAN_UNIT_SERVER &&
			    (size_t)pu->index < m->nservers) {
				r->srv[pu->index].wave = (int)w + 1;
			} else if (pu->kind == PLAN_UNIT_CLUSTER &&
			    (size_t)pu->index < m->nclusters) {
				const struct cluster *c =
				    &m->clusters[pu->index];

				r->cl[pu->index].wave = (int)w + 1;
				for (int k = 0; k < 2; k++)
					if (c->nodes[k] != NULL)
						r->srv[c->nodes[k] -
						    m->servers].wave = (int)w + 1;
			}
		}
	}
	spans_init(r, &r->timeline);
	r->pauses = arr(r);
	r->operators = arr(r);
	r->raw = arr(r);
	if (r->err != 0)
		goto fail;
	return r;
fail:
	report_free(r);
	return NULL;
}

int
report_add(struct report *r, const json_t *events)
{
	size_t i;
	json_t *ev;

	if (!json_is_array(events))
		return -EINVAL;
	if (r->err != 0)
		return r->err;
	json_array_foreach(events, i, ev) {
		if (json_is_object(ev))
			report_event(r, ev);
	}
	return r->err;
}

static json_t *
roles_json(struct report *r, unsigned roles)
{
	json_t *a = arr(r);

	for (int i = 0; i < ROLE_COUNT; i++)
		if (roles & ROLE_BIT(i))
			push(r, a, json_string(role_name((enum role)i)));
	return a;
}

/* started -> finished, or -> now while it runs; null before it started. */
static json_t *
elapsed_json(int64_t started, int64_t finished, int64_t now)
{
	if (started == 0)
		return json_null();
	return json_integer(span_ms(started, finished != 0 ? finished : now));
}

static json_t *
server_json(struct report *r, struct report_server *rs, int64_t now)
{
	const struct server *s = rs->s;
	char vbuf[VERSION_STRLEN];
	json_t *o = obj(r), *pm = obj(r);
	int pi = phase_index(rs->phases.label);
	int64_t open = spans_until(r, &rs->phases, now);

	/* What the open phase has taken so far counts. */
	if (pi >= 0)
		rs->phase_ms[pi] += open;
	/* null: never in that phase (a reboot not needed), which a 0 would
	 * not tell from a phase shorter than a millisecond. */
	for (size_t i = 0; i < REPORT_NPHASES; i++)
		put(r, pm, report_phases[i], rs->phase_seen[i] ?
		    json_integer(rs->phase_ms[i]) : json_null());
	put(r, o, "kind", json_string(s->cluster != NULL ? "node" : "server"));
	put(r, o, "name", json_string(s->name));
	put(r, o, "wave", rs->wave > 0 ? json_integer(rs->wave) : json_null());
	put(r, o, "roles", roles_json(r, s->roles));
	put(r, o, "cluster", str_json(s->cluster != NULL ? s->cluster->name :
	    NULL));
	put(r, o, "state", json_string(server_state_name(s->state)));
	put(r, o, "version", s->has_version ? json_string(version_format(
	    &s->version, vbuf, sizeof(vbuf))) : json_null());
	put(r, o, "version_before", rs->version_before != NULL ?
	    json_incref(rs->version_before) : json_null());
	put(r, o, "started_at", time_json(s->started_at));
	put(r, o, "finished_at", time_json(s->finished_at));
	put(r, o, "elapsed_ms", elapsed_json(s->started_at, s->finished_at,
	    now));
	put(r, o, "phase_ms", pm);
	put(r, o, "setups", json_integer(rs->setups));
	put(r, o, "failures", json_integer(rs->failures));
	put(r, o, "retries", json_integer(rs->retries));
	put(r, o, "operator_retries", json_integer(rs->operator_retries));
	put(r, o, "last_error", str_json(s->last_error));
	put(r, o, "end", rs->end != NULL ? json_incref(rs->end) :
	    json_null());
	put(r, o, "phases", json_incref(rs->phases.list));
	put(r, o, "errors", json_incref(rs->errors));
	put(r, o, "notes", json_incref(rs->notes));
	return o;
}

static json_t *
cluster_json(struct report *r, struct report_cluster *rc, int64_t now)
{
	const struct cluster *c = rc->c;
	json_t *o = obj(r), *nodes = arr(r);

	spans_until(r, &rc->steps, now);
	for (int k = 0; k < 2; k++)
		push(r, nodes, str_json(c->nodes[k] != NULL ? c->nodes[k]->name :
		    NULL));
	put(r, o, "kind", json_string("cluster"));
	put(r, o, "name", json_string(c->name));
	put(r, o, "wave", rc->wave > 0 ? json_integer(rc->wave) : json_null());
	put(r, o, "nodes", nodes);
	put(r, o, "original_active", str_json(c->original_active != NULL ?
	    c->original_active->name : NULL));
	put(r, o, "active", str_json(c->active != NULL ? c->active->name :
	    NULL));
	put(r, o, "step", json_string(cluster_step_name(c->step)));
	put(r, o, "blocked", json_boolean(c->blocked));
	put(r, o, "started_at", time_json(c->started_at));
	put(r, o, "finished_at", time_json(c->finished_at));
	put(r, o, "elapsed_ms", elapsed_json(c->started_at, c->finished_at,
	    now));
	put(r, o, "failures", json_integer(rc->failures));
	put(r, o, "last_error", str_json(c->last_error));
	put(r, o, "end", rc->end != NULL ? json_incref(rc->end) :
	    json_null());
	put(r, o, "steps", json_incref(rc->steps.list));
	put(r, o, "checkpoints", json_incref(rc->checkpoints));
	put(r, o, "moves", json_incref(rc->moves));
	put(r, o, "actions", json_incref(rc->actions));
	put(r, o, "blocks", json_incref(rc->blocks));
	put(r, o, "errors", json_incref(rc->errors));
	return o;
}

/* The units in plan order, each CCR cluster followed by its nodes. */
static json_t *
units_json(struct report *r, int64_t now)
{
	const struct model *m = r->m;
	json_t *units = arr(r);

	for (size_t w = 0; w < r->plan->nwaves; w++) {
		const struct plan_wave *pw = &r->plan->waves[w];

		for (size_t u = 0; u < pw->nunits; u++) {
			const struct plan_unit *pu = &pw->units[u];

			if (pu->kind == PLAN_UNIT_SERVER) {
				struct report_server *rs;

				if ((size_t)pu->index >= m->nservers)
					continue;
				rs = &r->srv[pu->index];
				rs->listed = true;
				push(r, units, server_json(r, rs, now));
				continue;
			}
			if ((size_t)pu->index >= m->nclusters)
				continue;
			push(r, units, cluster_json(r, &r->cl[pu->index], now));
			for (int k = 0; k < 2; k++) {
				const struct server *n =
				    m->clusters[pu->index].nodes[k];
				struct report_server *rs;

				if (n == NULL)
					continue;
				rs = &r->srv[n - m->servers];
				if (rs->listed)
					continue;
				rs->listed = true;
				push(r, units, server_json(r, rs, now));
			}
		}
	}
	return units;
}

static json_t *
waves_json(struct report *r, int64_t now)
{
	const struct model *m = r->m;
	json_t *waves = arr(r);

	for (size_t w = 0; w < r->plan->nwaves; w++) {
		const struct plan_wave *pw = &r->plan->waves[w];
		int64_t started = 0;
		json_t *o = obj(r);

		for (size_t u = 0; u < pw->nunits; u++) {
			const struct plan_unit *pu = &pw->units[u];
			int64_t t = 0;

			if (pu->kind == PLAN_UNIT_SERVER &&
			    (size_t)pu->index < m->nservers)
				t = m->servers[pu->index].started_at;
			else if (pu->kind == PLAN_UNIT_CLUSTER &&
			    (size_t)pu->index < m->nclusters)
				t = m->clusters[pu->index].started_at;
			if (t != 0 && (started == 0 || t < started))
				started = t;
		}
		put(r, o, "index", json_integer((json_int_t)w + 1));
		put(r, o, "role", json_string(role_name(pw->role)));
		put(r, o, "units", json_integer((json_int_t)pw->nunits));
		put(r, o, "started_at", time_json(started));
		put(r, o, "finished_at", time_json(r->wave_done[w]));
		put(r, o, "elapsed_ms", elapsed_json(started, r->wave_done[w],
		    now));
		push(r, waves, o);
	}
	return waves;
}

static json_t *
totals_json(struct report *r, int64_t wall)
{
	const struct model *m = r->m;
	json_int_t sc[5] = { 0 }, cc[8] = { 0 }, blocked = 0;
	json_int_t setups = 0, failures = 0, retries = 0, moves = 0;
	json_int_t approvals = 0, blocks = 0;
	int64_t setup_ms = 0;
	json_t *o = obj(r), *s = obj(r), *c = obj(r);
	int ip = phase_index("install");

	for (size_t i = 0; i < m->nservers; i++) {
		const struct report_server *rs = &r->srv[i];

		if ((size_t)m->servers[i].state < sizeof(sc) / sizeof(sc[0]))
			sc[m->servers[i].state]++;
		setups += rs->setups;
		failures += rs->failures;
		retries += rs->retries + rs->operator_retries;
		setup_ms += ip >= 0 ? rs->phase_ms[ip] : 0;
	}
	for (size_t i = 0; i < m->nclusters; i++) {
		const struct report_cluster *rc = &r->cl[i];
		size_t k;
		json_t *cp;

		if ((size_t)m->clusters[i].step < sizeof(cc) / sizeof(cc[0]))
			cc[m->clusters[i].step]++;
		if (m->clusters[i].blocked)
			blocked++;
		failures += rc->failures;
		moves += (json_int_t)json_array_size(rc->moves);
		blocks += (json_int_t)json_array_size(rc->blocks);
		json_array_foreach(rc->checkpoints, k, cp)
			if (jstr(cp, "approved_at") != NULL)
				approvals++;
	}
	put(r, s, "total", json_integer((json_int_t)m->nservers));
	put(r, s, "done", json_integer(sc[SERVER_DONE]));
	put(r, s, "skipped", json_integer(sc[SERVER_SKIPPED]));
	put(r, s, "failed", json_integer(sc[SERVER_FAILED]));
	put(r, s, "running", json_integer(sc[SERVER_RUNNING]));
	put(r, s, "pending", json_integer(sc[SERVER_PENDING]));
	put(r, c, "total", json_integer((json_int_t)m->nclusters));
	put(r, c, "done", json_integer(cc[STEP_DONE]));
	put(r, c, "skipped", json_integer(cc[STEP_SKIPPED]));
	put(r, c, "blocked", json_integer(blocked));
	put(r, c, "running", json_integer((json_int_t)m->nclusters -
	    cc[STEP_DONE] - cc[STEP_SKIPPED] - cc[STEP_PENDING]));
	put(r, c, "pending", json_integer(cc[STEP_PENDING]));
	put(r, o, "servers", s);
	put(r, o, "clusters", c);
	put(r, o, "wall_ms", wall >= 0 ? json_integer(wall) : json_null());
	put(r, o, "running_ms", json_integer(r->state_ms[RS_RUNNING]));
	put(r, o, "waiting_window_ms",
	    json_integer(r->state_ms[RS_WAITING_WINDOW]));
	put(r, o, "paused_ms", json_integer(r->state_ms[RS_PAUSED]));
	put(r, o, "setups", json_integer(setups));
	put(r, o, "setup_ms", json_integer(setup_ms));
	put(r, o, "failures", json_integer(failures));
	put(r, o, "retries", json_integer(retries));
	put(r, o, "moves", json_integer(moves));
	put(r, o, "approvals", json_integer(approvals));
	put(r, o, "blocks", json_integer(blocks));
	put(r, o, "operator_actions",
	    json_integer((json_int_t)json_array_size(r->operators)));
	put(r, o, "events", json_integer((json_int_t)r->nevents));
	return o;
}

json_t *
report_finish(struct report *r, int64_t now)
{
	const struct rollout *ro = &r->m->rollout;
	bool final = ro->state == ROLLOUT_COMPLETED ||
	    ro->state == ROLLOUT_ABORTED;
	int64_t created = ro->created_at != 0 ? ro->created_at : r->created_at;
	int64_t ended = final ? (r->ended_at != 0 ? r->ended_at :
	    ro->updated_at) : 0;
	int64_t wall = created != 0 ? span_ms(created, ended != 0 ? ended :
	    now) : -1;
	json_t *rep = NULL, *rollout, *units, *waves;
	char tv[VERSION_STRLEN];
	int ri;

	if (r->err != 0)
		return NULL;
	/* Order matters: the units' open phases count into the totals. */
	units = units_json(r, now);
	waves = waves_json(r, now);
	ri = rstate_index(r->timeline.label);
	{
		int64_t d = spans_until(r, &r->timeline, now);

		if (ri >= 0)
			r->state_ms[ri] += d;
	}
	if (r->open_pause != NULL)
		put(r, r->open_pause, "duration_ms",
		    json_integer(span_ms(r->pause_at, now)));
	rollout = obj(r);
	put(r, rollout, "state", json_string(rollout_state_name(ro->state)));
	put(r, rollout, "reason", str_json(ro->reason));
	put(r, rollout, "target_version", json_string(version_format(
	    &r->cfg->target_version, tv, sizeof(tv))));
	put(r, rollout, "checkpoints", json_string(config_checkpoints_name(
	    r->cfg->policy.checkpoints)));
	put(r, rollout, "created_at", time_json(created));
	put(r, rollout, "ended_at", time_json(ended));
	put(r, rollout, "end", final && r->end != NULL ? json_incref(r->end) :
	    json_null());

	rep = obj(r);
	put(r, rep, "generated_at", time_json(now));
	put(r, rep, "rollout", rollout);
	put(r, rep, "totals", totals_json(r, wall));
	put(r, rep, "waves", waves);
	put(r, rep, "units", units);
	put(r, rep, "timeline", json_incref(r->timeline.list));
	put(r, rep, "pauses", json_incref(r->pauses));
	put(r, rep, "operator_actions", json_incref(r->operators));
	put(r, rep, "raw_events", json_incref(r->raw));
	if (r->err != 0) {
		json_decref(rep);
		return NULL;
	}
	return rep;
}

void
report_free(struct report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->srv != NULL && i < r->m->nservers; i++) {
		struct report_server *rs = &r->srv[i];

		json_decref(rs->phases.list);
		json_decref(rs->errors);
		json_decref(rs->notes);
		json_decref(rs->end);
		json_decref(rs->version_before);
	}
	for (size_t i = 0; r->cl != NULL && i < r->m->nclusters; i++) {
		struct report_cluster *rc = &r->cl[i];

		json_decref(rc->steps.list);
		json_decref(rc->checkpoints);
		json_decref(rc->moves);
		json_decref(rc->actions);
		json_decref(rc->blocks);
		json_decref(rc->errors);
		json_decref(rc->end);
	}
	json_decref(r->timeline.list);
	json_decref(r->pauses);
	json_decref(r->operators);
	json_decref(r->raw);
	json_decref(r->end);
	free(r->srv);
	free(r->cl);
	free(r->sidx);
	free(r->cidx);
	free(r->wave_done);
	free(r);
}

json_t *
report_build(const json_t *events, const struct model *m,
    const struct plan *plan, const struct config *cfg, int64_t now)
{
	struct report *r = report_new(m, plan, cfg);
	json_t *rep = NULL;

	if (r == NULL)
		return NULL;
	if (report_add(r, events) == 0)
		rep = report_finish(r, now);
	report_free(r);
	return rep;
}
