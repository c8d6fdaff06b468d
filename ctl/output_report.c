/*
 * output_report — `exrollctl report`: the daemon's run report
 * (daemon/report.c; its shape in schema/control-protocol.md) as text for
 * people and as a Markdown document to paste into a change record.
 *
 * Both formats print the same sections from the same code, through a tiny
 * document layer (headings, key/value blocks, tables, lines) that either
 * indents and aligns, or writes Markdown:
 *
 *   the rollout (state, times, wall time), totals, waves, servers (one row
 *   each, phase durations), clusters (steps, approvals, actions, blocks),
 *   windows and pauses, operator actions, errors and notices, and every
 *   phase of every server with its start, end and duration.
 *
 * Times are local (TZ), to the second, and the zone is named once at the
 * top; durations are H:MM:SS so that columns line up and add up. The report
 * carries the time it was made, so nothing here reads the clock. A field
 * that is missing or of another type prints as "-", as in output.c.
 */
#include "output.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

enum doc_format {
	DOC_TEXT,
	DOC_MARKDOWN,
};

struct doc {
	FILE *f;
	enum doc_format fmt;
	int indent;			/* text: of what follows the heading */
	struct ctl_table kv;		/* the key/value block being built */
};

/* ---- readers of the report's JSON ------------------------------------ */

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_int_t
jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static bool
jhas_int(const json_t *o, const char *key)
{
	return json_is_integer(json_object_get(o, key));
}

/* "Sat 2026-11-28 20:00:00" local, from RFC 3339; "-" when NULL or
 * unparsable. */
static const char *
when_str(const char *s, char *buf, size_t len)
{
	struct tm tm;
	int64_t ms;
	time_t t;

	if (s == NULL || time_parse_rfc3339(s, &ms) != 0)
		return "-";
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%a %Y-%m-%d %H:%M:%S", &tm) == 0)
		return "-";
	return buf;
}

static const char *
when(const json_t *o, const char *key, char *buf, size_t len)
{
	return when_str(jstr(o, key), buf, len);
}

/* "H:MM:SS" from a field of milliseconds, "-" when not a number. */
static const char *
dur(const json_t *o, const char *key, char *buf, size_t len)
{
	json_int_t ms;

	if (!jhas_int(o, key))
		return "-";
	ms = jint(o, key);
	if (ms < 0)
		ms = 0;
	ms /= 1000;
	snprintf(buf, len, "%lld:%02lld:%02lld", (long long)(ms / 3600),
	    (long long)(ms / 60 % 60), (long long)(ms % 60));
	return buf;
}

static const char *
num(const json_t *o, const char *key, char *buf, size_t len)
{
	if (!jhas_int(o, key))
		return "-";
	snprintf(buf, len, "%lld", (long long)jint(o, key));
	return buf;
}

/* "CAS+Hub+MBX", the abbreviations Exchange admins use. */
static const char *
roles(const json_t *o, char *buf, size_t len)
{
	static const struct {
		const char *name, *abbr;
	} abbr[] = {
		{ "ClientAccess", "CAS" }, { "EdgeTransport", "Edge" },
		{ "HubTransport", "Hub" }, { "UnifiedMessaging", "UM" },
		{ "Mailbox", "MBX" },
	};
	size_t i, n = 0;
	json_t *r;

	buf[0] = '\0';
	json_array_foreach(json_object_get(o, "roles"), i, r) {
		const char *s = json_string_value(r), *a = s;

		if (s == NULL || n >= len)
			continue;
		for (size_t k = 0; k < sizeof(abbr) / sizeof(abbr[0]); k++)
			if (strcmp(s, abbr[k].name) == 0)
				a = abbr[k].abbr;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "+" : "", a);
	}
	return n > 0 ? buf : "-";
}

static bool
is_cluster(const json_t *u)
{
	const char *k = jstr(u, "kind");

	return k != NULL && strcmp(k, "cluster") == 0;
}

/* ---- the document layer ---------------------------------------------- */

/* level 1: the title; 2: a section; 3: a part of a section (a cluster);
 * 4: a table's caption within a part or section. */
static void
doc_heading(struct doc *d, int level, const char *text)
{
	if (d->fmt == DOC_MARKDOWN) {
		if (level >= 4)
			fputs("**", d->f);
		else
			fprintf(d->f, "%.*s ", level, "###");
		ctl_markdown_text(d->f, text);
		fputs(level >= 4 ? "**\n\n" : "\n\n", d->f);
		return;
	}
	switch (level) {
	case 1:
		fprintf(d->f, "%s\n\n", text);
		d->indent = 2;
		break;
	case 2:
		fprintf(d->f, "\n%s\n", text);
		d->indent = 2;
		break;
	case 3:
		fprintf(d->f, "\n  %s\n", text);
		d->indent = 4;
		break;
	default:
		/* A caption of the current level. */
		fprintf(d->f, "\n%*s%s\n", d->indent, "", text);
		break;
	}
}

/* A line of prose at the current level (the report's own words). */
static void
doc_line(struct doc *d, const char *text)
{
	if (d->fmt == DOC_TEXT)
		fprintf(d->f, "%*s%s\n", d->indent, "", text);
	else
		fprintf(d->f, "%s\n\n", text);
}

/* Key/value blocks: text aligns them, Markdown makes a list. */
static void
doc_kv_begin(struct doc *d)
{
	ctl_table_init(&d->kv, 2);
}

static void
doc_kv(struct doc *d, const char *key, const char *value)
{
	const char *row[2] = { key, value };

	if (d->fmt == DOC_MARKDOWN) {
		fprintf(d->f, "- **%s:** ", key);
		ctl_markdown_text(d->f, value != NULL ? value : "-");
		fputc('\n', d->f);
		return;
	}
	ctl_table_row(&d->kv, row);
}

static void
doc_kv_end(struct doc *d)
{
	if (d->fmt == DOC_MARKDOWN) {
		ctl_table_free(&d->kv);
		fputc('\n', d->f);
	} else {
		ctl_table_print(d->f, &d->kv, d->indent);
	}
}

/* A table of ncols columns with its header row: "Started" in Markdown,
 * "STARTED" in text, as the other tables of exrollctl. */
static void
doc_table_begin(struct doc *d, struct ctl_table *t, size_t ncols,
    const char *const *head)
{
	char *up[16] = { 0 };

	ctl_table_init(t, ncols);
	if (d->fmt == DOC_MARKDOWN || ncols > sizeof(up) / sizeof(up[0])) {
		ctl_table_row(t, head);
		return;
	}
	for (size_t c = 0; c < ncols; c++) {
		if ((up[c] = strdup(head[c])) == NULL)
			continue;
		for (char *p = up[c]; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
	}
	ctl_table_row(t, (const char *const *)up);
	for (size_t c = 0; c < ncols; c++)
		free(up[c]);
}

/* Prints and frees t. */
static void
doc_table(struct doc *d, struct ctl_table *t)
{
	if (d->fmt == DOC_MARKDOWN) {
		ctl_table_markdown(d->f, t);
		fputc('\n', d->f);
	} else {
		ctl_table_print(d->f, t, d->indent);
	}
}

/* ---- sections --------------------------------------------------------- */

static void
section_rollout(struct doc *d, const json_t *rep)
{
	const json_t *ro = json_object_get(rep, "rollout");
	const json_t *tot = json_object_get(rep, "totals");
	const char *state = jstr(ro, "state"), *reason = jstr(ro, "reason");
	char title[128], st[512], t1[48], t2[48], t3[48], d1[32], zone[64];
	int64_t gen;

	snprintf(title, sizeof(title), "Rollout report: Exchange 2007 upgrade "
	    "to %s", jstr(ro, "target_version") != NULL ?
	    jstr(ro, "target_version") : "-");
	doc_heading(d, 1, title);
	snprintf(st, sizeof(st), "%s%s%s", state != NULL ? state : "-",
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	/* The zone every time below is in. */
	snprintf(zone, sizeof(zone), "-");
	if (jstr(rep, "generated_at") != NULL &&
	    time_parse_rfc3339(jstr(rep, "generated_at"), &gen) == 0) {
		time_t t = (time_t)(gen / 1000);
		struct tm tm;

		if (localtime_r(&t, &tm) == NULL ||
		    strftime(zone, sizeof(zone), "%Z (UTC%z)", &tm) == 0)
			snprintf(zone, sizeof(zone), "-");
	}
	doc_kv_begin(d);
	doc_kv(d, "State", st);
	doc_kv(d, "Created", when(ro, "created_at", t1, sizeof(t1)));
	doc_kv(d, "Ended", when(ro, "ended_at", t2, sizeof(t2)));
	doc_kv(d, "Wall time", dur(tot, "wall_ms", d1, sizeof(d1)));
	doc_kv(d, "Checkpoints", jstr(ro, "checkpoints"));
	doc_kv(d, "Generated", when(rep, "generated_at", t3, sizeof(t3)));
	doc_kv(d, "Time zone", zone);
	doc_kv_end(d);
}

static void
section_totals(struct doc *d, const json_t *rep)
{
	const json_t *tot = json_object_get(rep, "totals");
	const json_t *s = json_object_get(tot, "servers");
	const json_t *c = json_object_get(tot, "clusters");
	char b[256], d1[32];

	doc_heading(d, 2, "Totals");
	doc_kv_begin(d);
	snprintf(b, sizeof(b), "%lld: %lld done, %lld skipped, %lld failed, "
	    "%lld running, %lld pending", (long long)jint(s, "total"),
	    (long long)jint(s, "done"), (long long)jint(s, "skipped"),
	    (long long)jint(s, "failed"), (long long)jint(s, "running"),
	    (long long)jint(s, "pending"));
	doc_kv(d, "Servers", b);
	snprintf(b, sizeof(b), "%lld: %lld done, %lld skipped, %lld blocked, "
	    "%lld running, %lld pending", (long long)jint(c, "total"),
	    (long long)jint(c, "done"), (long long)jint(c, "skipped"),
	    (long long)jint(c, "blocked"), (long long)jint(c, "running"),
	    (long long)jint(c, "pending"));
	doc_kv(d, "CCR clusters", b);
	doc_kv(d, "Wall time", dur(tot, "wall_ms", d1, sizeof(d1)));
	doc_kv(d, "Running", dur(tot, "running_ms", d1, sizeof(d1)));
	doc_kv(d, "Waiting for a window", dur(tot, "waiting_window_ms", d1,
	    sizeof(d1)));
	doc_kv(d, "Paused", dur(tot, "paused_ms", d1, sizeof(d1)));
	snprintf(b, sizeof(b), "%s in %lld setup%s",
	    dur(tot, "setup_ms", d1, sizeof(d1)),
	    (long long)jint(tot, "setups"), jint(tot, "setups") == 1 ? "" :
	    "s");
	doc_kv(d, "Setup time", b);
	snprintf(b, sizeof(b), "%lld, %lld retried",
	    (long long)jint(tot, "failures"), (long long)jint(tot, "retries"));
	doc_kv(d, "Failed tries", b);
	doc_kv(d, "Moves", num(tot, "moves", b, sizeof(b)));
	doc_kv(d, "Approvals", num(tot, "approvals", b, sizeof(b)));
	doc_kv(d, "Blocks", num(tot, "blocks", b, sizeof(b)));
	doc_kv(d, "Operator actions", num(tot, "operator_actions", b,
	    sizeof(b)));
	doc_kv_end(d);
}

static void
section_waves(struct doc *d, const json_t *rep)
{
	static const char *const head[] = { "Wave", "Role", "Units", "Started",
		"Finished", "Elapsed" };
	const json_t *waves = json_object_get(rep, "waves");
	struct ctl_table t;
	size_t i;
	json_t *w;

	doc_heading(d, 2, "Waves");
	if (json_array_size(waves) == 0) {
		doc_line(d, "none");
		return;
	}
	doc_table_begin(d, &t, 6, head);
	t.right = 1u << 0 | 1u << 2 | 1u << 5;
	json_array_foreach(waves, i, w) {
		char n[24], u[24], t1[48], t2[48], d1[32];
		const char *row[6] = { num(w, "index", n, sizeof(n)),
			jstr(w, "role"), num(w, "units", u, sizeof(u)),
			when(w, "started_at", t1, sizeof(t1)),
			when(w, "finished_at", t2, sizeof(t2)),
			dur(w, "elapsed_ms", d1, sizeof(d1)) };

		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

static void
section_servers(struct doc *d, const json_t *rep)
{
	static const char *const head[] = { "Server", "Wave", "Roles", "State",
		"Version", "Precheck", "Install", "Reboot", "Verify", "Elapsed",
		"Setups", "Failed", "Retried" };
	const json_t *units = json_object_get(rep, "units");
	struct ctl_table t;
	size_t i, n = 0;
	json_t *u;

	doc_heading(d, 2, "Servers");
	doc_table_begin(d, &t, 13, head);
	t.right = 1u << 1 | 0x1fe0u;	/* the wave, durations and counts */
	json_array_foreach(units, i, u) {
		const json_t *pm = json_object_get(u, "phase_ms");
		char wave[24], ro[96], ph[4][32], el[32], su[24], fa[24];
		char re[24], name[160];
		const char *row[13];

		if (!json_is_object(u) || is_cluster(u))
			continue;
		/* A CCR node says whose node it is. */
		if (jstr(u, "cluster") != NULL)
			snprintf(name, sizeof(name), "%s (%s)",
			    jstr(u, "name") != NULL ? jstr(u, "name") : "-",
			    jstr(u, "cluster"));
		else
			snprintf(name, sizeof(name), "%s",
			    jstr(u, "name") != NULL ? jstr(u, "name") : "-");
		snprintf(re, sizeof(re), "%lld", (long long)(jint(u, "retries") +
		    jint(u, "operator_retries")));
		row[0] = name;
		row[1] = num(u, "wave", wave, sizeof(wave));
		row[2] = roles(u, ro, sizeof(ro));
		row[3] = jstr(u, "state");
		row[4] = jstr(u, "version");
		row[5] = dur(pm, "precheck", ph[0], sizeof(ph[0]));
		row[6] = dur(pm, "install", ph[1], sizeof(ph[1]));
		row[7] = dur(pm, "reboot", ph[2], sizeof(ph[2]));
		row[8] = dur(pm, "verify", ph[3], sizeof(ph[3]));
		row[9] = dur(u, "elapsed_ms", el, sizeof(el));
		row[10] = num(u, "setups", su, sizeof(su));
		row[11] = num(u, "failures", fa, sizeof(fa));
		row[12] = re;
		ctl_table_row(&t, row);
		n++;
	}
	if (n == 0) {
		ctl_table_free(&t);
		doc_line(d, "none");
		return;
	}
	doc_table(d, &t);
}

static void
cluster_steps(struct doc *d, const json_t *c)
{
	static const char *const head[] = { "Step", "Started", "Ended",
		"Duration", "Reason" };
	const json_t *steps = json_object_get(c, "steps");
	struct ctl_table t;
	size_t i;
	json_t *s;

	doc_heading(d, 4, "Steps");
	if (json_array_size(steps) == 0) {
		doc_line(d, "not started");
		return;
	}
	doc_table_begin(d, &t, 5, head);
	t.right = 1u << 3;
	json_array_foreach(steps, i, s) {
		char t1[48], t2[48], d1[32];
		const char *row[5] = { jstr(s, "step"),
			when(s, "started_at", t1, sizeof(t1)),
			json_is_null(json_object_get(s, "ended_at")) ?
			"(ongoing)" : when(s, "ended_at", t2, sizeof(t2)),
			dur(s, "duration_ms", d1, sizeof(d1)),
			jstr(s, "reason") };

		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

static void
cluster_approvals(struct doc *d, const json_t *rep, const json_t *c)
{
	static const char *const head[] = { "Checkpoint", "To", "Reached",
		"Approved", "By", "Waited" };
	const json_t *cps = json_object_get(c, "checkpoints");
	const char *policy = jstr(json_object_get(rep, "rollout"),
	    "checkpoints");
	struct ctl_table t;
	size_t i;
	json_t *cp;

	doc_heading(d, 4, "Approvals");
	if (json_array_size(cps) == 0) {
		if (policy != NULL && strcmp(policy, "auto") == 0)
			doc_line(d, "none needed (checkpoints: auto)");
		else
			doc_line(d, "none");
		return;
	}
	doc_table_begin(d, &t, 6, head);
	t.right = 1u << 5;
	json_array_foreach(cps, i, cp) {
		char t1[48], t2[48], d1[32];
		const char *row[6] = { jstr(cp, "checkpoint"), jstr(cp, "to"),
			when(cp, "reached_at", t1, sizeof(t1)),
			jstr(cp, "approved_at") != NULL ?
			when(cp, "approved_at", t2, sizeof(t2)) :
			"(waiting)", jstr(cp, "approved_by"),
			dur(cp, "waited_ms", d1, sizeof(d1)) };

		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

/* A row gathered from several lists, sorted by time; entries of equal
 * times keep the order they were met in (qsort is not stable). */
struct timed_row {
	const char *time;		/* RFC 3339 UTC: sorts as text */
	size_t order;
	const json_t *entry;
	const char *unit;		/* errors: the unit's name */
	const char *in;			/* errors: phase, step or "notice" */
};

static int
timed_cmp(const void *a, const void *b)
{
	const struct timed_row *x = a, *y = b;
	int c = strcmp(x->time, y->time);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Stops, moves and setup /upgradeCMS in the order they were issued. */
static void
cluster_actions(struct doc *d, const json_t *c)
{
	static const char *const head[] = { "Time", "Step", "Action" };
	const json_t *lists[2] = { json_object_get(c, "actions"),
		json_object_get(c, "moves") };
	size_t n = json_array_size(lists[0]) + json_array_size(lists[1]), k = 0;
	struct timed_row *rows;
	struct ctl_table t;
	char title[64];

	snprintf(title, sizeof(title), "Actions (%zu move%s)",
	    json_array_size(lists[1]), json_array_size(lists[1]) == 1 ? "" :
	    "s");
	doc_heading(d, 4, title);
	if (n == 0) {
		doc_line(d, "none");
		return;
	}
	if ((rows = calloc(n, sizeof(*rows))) == NULL)
		return;
	for (int l = 0; l < 2; l++) {
		size_t i;
		json_t *e;

		json_array_foreach(lists[l], i, e) {
			rows[k].time = jstr(e, "time") != NULL ?
			    jstr(e, "time") : "";
			rows[k].entry = e;
			rows[k].order = k;
			k++;
		}
	}
	qsort(rows, k, sizeof(*rows), timed_cmp);
	doc_table_begin(d, &t, 3, head);
	for (size_t i = 0; i < k; i++) {
		char t1[48];
		const char *row[3] = { when(rows[i].entry, "time", t1,
			sizeof(t1)), jstr(rows[i].entry, "step"),
			jstr(rows[i].entry, "message") };

		ctl_table_row(&t, row);
	}
	free(rows);
	doc_table(d, &t);
}

static void
cluster_blocks(struct doc *d, const json_t *c)
{
	static const char *const head[] = { "Time", "Step", "Cleared", "By",
		"Reason" };
	const json_t *blocks = json_object_get(c, "blocks");
	struct ctl_table t;
	size_t i;
	json_t *b;

	if (json_array_size(blocks) == 0)
		return;	/* the usual case: no section at all */
	doc_heading(d, 4, "Blocks");
	doc_table_begin(d, &t, 5, head);
	json_array_foreach(blocks, i, b) {
		char t1[48], t2[48];
		const char *row[5] = { when(b, "time", t1, sizeof(t1)),
			jstr(b, "step"), jstr(b, "cleared_at") != NULL ?
			when(b, "cleared_at", t2, sizeof(t2)) : "(not yet)",
			jstr(b, "cleared_by"), jstr(b, "reason") };

		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

static void
section_clusters(struct doc *d, const json_t *rep)
{
	const json_t *units = json_object_get(rep, "units");
	size_t i, n = 0;
	json_t *c;

	doc_heading(d, 2, "CCR clusters");
	json_array_foreach(units, i, c) {
		const json_t *nodes = json_object_get(c, "nodes");
		char head[256], wave[24], el[32];

		if (!json_is_object(c) || !is_cluster(c))
			continue;
		n++;
		snprintf(head, sizeof(head), "%s (wave %s): %s",
		    jstr(c, "name") != NULL ? jstr(c, "name") : "-",
		    num(c, "wave", wave, sizeof(wave)),
		    jstr(c, "step") != NULL ? jstr(c, "step") : "-");
		doc_heading(d, 3, head);
		doc_kv_begin(d);
		snprintf(head, sizeof(head), "%s, %s",
		    json_string_value(json_array_get(nodes, 0)) != NULL ?
		    json_string_value(json_array_get(nodes, 0)) : "-",
		    json_string_value(json_array_get(nodes, 1)) != NULL ?
		    json_string_value(json_array_get(nodes, 1)) : "-");
		doc_kv(d, "Nodes", head);
		doc_kv(d, "Active at the start", jstr(c, "original_active"));
		doc_kv(d, "Active now", jstr(c, "active"));
		doc_kv(d, "Elapsed", dur(c, "elapsed_ms", el, sizeof(el)));
		if (jstr(c, "last_error") != NULL)
			doc_kv(d, "Last error", jstr(c, "last_error"));
		doc_kv_end(d);
		cluster_steps(d, c);
		cluster_approvals(d, rep, c);
		cluster_actions(d, c);
		cluster_blocks(d, c);
	}
	if (n == 0)
		doc_line(d, "none");
}

static void
section_windows(struct doc *d, const json_t *rep)
{
	static const char *const thead[] = { "State", "From", "To", "Duration",
		"By", "Reason" };
	static const char *const phead[] = { "From", "To", "Duration", "Cause",
		"Paused by", "Resumed by", "Reason" };
	const json_t *tl = json_object_get(rep, "timeline");
	const json_t *pauses = json_object_get(rep, "pauses");
	struct ctl_table t;
	size_t i;
	json_t *s;

	doc_heading(d, 2, "Windows and pauses");
	doc_heading(d, 4, "Timeline");
	if (json_array_size(tl) == 0) {
		doc_line(d, "none");
	} else {
		doc_table_begin(d, &t, 6, thead);
		t.right = 1u << 3;
		json_array_foreach(tl, i, s) {
			char t1[48], t2[48], d1[32];
			const char *row[6] = { jstr(s, "state"),
				when(s, "started_at", t1, sizeof(t1)),
				json_is_null(json_object_get(s, "ended_at")) ?
				"(ongoing)" : when(s, "ended_at", t2,
				sizeof(t2)), dur(s, "duration_ms", d1,
				sizeof(d1)), jstr(s, "actor"),
				jstr(s, "reason") };

			ctl_table_row(&t, row);
		}
		doc_table(d, &t);
	}
	doc_heading(d, 4, "Pauses");
	if (json_array_size(pauses) == 0) {
		doc_line(d, "none");
		return;
	}
	doc_table_begin(d, &t, 7, phead);
	t.right = 1u << 2;
	json_array_foreach(pauses, i, s) {
		char t1[48], t2[48], d1[32];
		const char *row[7] = { when(s, "started_at", t1, sizeof(t1)),
			json_is_null(json_object_get(s, "ended_at")) ?
			"(ongoing)" : when(s, "ended_at", t2, sizeof(t2)),
			dur(s, "duration_ms", d1, sizeof(d1)),
			jstr(s, "cause"), jstr(s, "paused_by"),
			jstr(s, "resumed_by"), jstr(s, "reason") };

		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

static void
section_operators(struct doc *d, const json_t *rep)
{
	static const char *const head[] = { "Time", "By", "Subject",
		"Action" };
	const json_t *ops = json_object_get(rep, "operator_actions");
	struct ctl_table t;
	size_t i;
	json_t *o;

	doc_heading(d, 2, "Operator actions");
	if (json_array_size(ops) == 0) {
		doc_line(d, "none");
		return;
	}
	doc_table_begin(d, &t, 4, head);
	json_array_foreach(ops, i, o) {
		char t1[48];
		const char *row[4] = { when(o, "time", t1, sizeof(t1)),
			jstr(o, "actor"), jstr(o, "subject"),
			jstr(o, "action") };

		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

/* Every error and notice of every unit, in the order they happened. */
static void
section_errors(struct doc *d, const json_t *rep)
{
	static const char *const head[] = { "Time", "Unit", "In", "Message" };
	const json_t *units = json_object_get(rep, "units");
	struct timed_row *rows = NULL;
	size_t i, n = 0, k = 0;
	struct ctl_table t;
	json_t *u;

	doc_heading(d, 2, "Errors and notices");
	json_array_foreach(units, i, u)
		n += json_array_size(json_object_get(u, "errors")) +
		    json_array_size(json_object_get(u, "notes"));
	if (n == 0) {
		doc_line(d, "none");
		return;
	}
	if ((rows = calloc(n, sizeof(*rows))) == NULL)
		return;
	json_array_foreach(units, i, u) {
		static const char *const lists[] = { "errors", "notes" };

		for (int l = 0; l < 2; l++) {
			size_t j;
			json_t *e;

			json_array_foreach(json_object_get(u, lists[l]), j, e) {
				if (k >= n)
					break;
				rows[k].time = jstr(e, "time") != NULL ?
				    jstr(e, "time") : "";
				rows[k].unit = jstr(u, "name");
				rows[k].in = l == 1 ? "notice" :
				    jstr(e, "phase") != NULL ? jstr(e, "phase") :
				    jstr(e, "step");
				rows[k].entry = e;
				rows[k].order = k;
				k++;
			}
		}
	}
	qsort(rows, k, sizeof(*rows), timed_cmp);
	doc_table_begin(d, &t, 4, head);
	for (i = 0; i < k; i++) {
		char t1[48];
		const char *row[4] = { when_str(rows[i].time, t1, sizeof(t1)),
			rows[i].unit, rows[i].in, jstr(rows[i].entry, "message") };

		ctl_table_row(&t, row);
	}
	free(rows);
	doc_table(d, &t);
}

/* Every phase of every server, in plan order. */
static void
section_phases(struct doc *d, const json_t *rep)
{
	static const char *const head[] = { "Server", "Phase", "Started",
		"Ended", "Duration", "By", "Reason" };
	const json_t *units = json_object_get(rep, "units");
	struct ctl_table t;
	size_t i, n = 0;
	json_t *u;

	doc_heading(d, 2, "Phases");
	doc_table_begin(d, &t, 7, head);
	t.right = 1u << 4;
	json_array_foreach(units, i, u) {
		size_t j;
		json_t *p;

		if (!json_is_object(u) || is_cluster(u))
			continue;
		json_array_foreach(json_object_get(u, "phases"), j, p) {
			char t1[48], t2[48], d1[32];
			const char *row[7] = { jstr(u, "name"),
				jstr(p, "phase"),
				when(p, "started_at", t1, sizeof(t1)),
				json_is_null(json_object_get(p, "ended_at")) ?
				"(ongoing)" : when(p, "ended_at", t2,
				sizeof(t2)), dur(p, "duration_ms", d1,
				sizeof(d1)), jstr(p, "actor"),
				jstr(p, "reason") };

			ctl_table_row(&t, row);
			n++;
		}
	}
	if (n == 0) {
		ctl_table_free(&t);
		doc_line(d, "none");
		return;
	}
	doc_table(d, &t);
}

/* Events written before the state file had event data (schema 2): the
 * report shows them as they were instead of guessing from their text. */
static void
section_raw(struct doc *d, const json_t *rep)
{
	static const char *const head[] = { "Seq", "Time", "Subject", "Kind",
		"Message" };
	const json_t *raw = json_object_get(rep, "raw_events");
	struct ctl_table t;
	size_t i;
	json_t *o;

	if (json_array_size(raw) == 0)
		return;
	doc_heading(d, 2, "Events without data (written by an older exroll)");
	doc_table_begin(d, &t, 5, head);
	json_array_foreach(raw, i, o) {
		char seq[24], t1[48];
		const char *row[5] = { seq, when(o, "time", t1, sizeof(t1)),
			jstr(o, "subject"), jstr(o, "kind"), jstr(o, "message") };

		snprintf(seq, sizeof(seq), "%lld",
		    (long long)json_integer_value(json_object_get(o, "seq")));
		ctl_table_row(&t, row);
	}
	doc_table(d, &t);
}

static void
report_render(FILE *f, const json_t *rep, enum doc_format fmt)
{
	struct doc d = { .f = f, .fmt = fmt };

	section_rollout(&d, rep);
	section_totals(&d, rep);
	section_waves(&d, rep);
	section_servers(&d, rep);
	section_clusters(&d, rep);
	section_windows(&d, rep);
	section_operators(&d, rep);
	section_errors(&d, rep);
	section_phases(&d, rep);
	section_raw(&d, rep);
}

void
ctl_text_report(FILE *f, const json_t *report)
{
	report_render(f, report, DOC_TEXT);
}

void
ctl_markdown_report(FILE *f, const json_t *report)
{
	report_render(f, report, DOC_MARKDOWN);
}
