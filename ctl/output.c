/*
 * output — exrollctl's text for people: a short status screen, aligned
 * tables, plain sentences, local and relative times.
 *
 * Input is the daemon's JSON (schema/control-protocol.md); a field that is
 * missing or of another type prints as "-" rather than crashing, since an
 * older or newer daemon may answer.
 */
#include "output.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timefmt.h"

#define BAR_WIDE 30
#define BAR_NARROW 20

/* ---- small readers of the daemon's JSON ---------------------------- */

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *
jstr_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = jstr(o, key);

	return s != NULL ? s : dflt;
}

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_real(v))
		return (json_int_t)json_real_value(v);
	return json_integer_value(v);
}

static bool
jhas_number(const json_t *o, const char *key)
{
	return json_is_number(json_object_get(o, key));
}

/* An RFC 3339 field as ms; false when null, absent or unparsable. */
static bool
jtime(const json_t *o, const char *key, int64_t *ms)
{
	const char *s = jstr(o, key);

	return s != NULL && time_parse_rfc3339(s, ms) == 0;
}

/* ---- times --------------------------------------------------------- */

char *
ctl_time_local(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%a %Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

char *
ctl_time_relative(int64_t ms, int64_t now, char *buf, size_t len)
{
	int64_t d = now - ms;
	char dur[32];

	if (d > -60000 && d < 60000) {
		snprintf(buf, len, d >= 0 ? "just now" : "in under a minute");
		return buf;
	}
	time_format_duration(d >= 0 ? d : -d, dur, sizeof(dur));
	snprintf(buf, len, d >= 0 ? "%s ago" : "in %s", dur);
	return buf;
}

/* "Sat 2026-11-28 20:14:03 (12 min ago)", or "-": an event's time, to the
 * second, since events seconds apart tell a story. */
static char *
ctl_time_both(const json_t *o, const char *key, int64_t now, char *buf,
    size_t len)
{
	char loc[48], rel[48];
	struct tm tm;
	int64_t ms;
	time_t t;

	if (!jtime(o, key, &ms)) {
		snprintf(buf, len, "-");
		return buf;
	}
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(loc, sizeof(loc), "%a %Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(loc, sizeof(loc), "-");
	snprintf(buf, len, "%s (%s)", loc,
	    ctl_time_relative(ms, now, rel, sizeof(rel)));
	return buf;
}

/* ---- tables -------------------------------------------------------- */

void
ctl_table_init(struct ctl_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
}

void
ctl_table_row(struct ctl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));

		if (nc == NULL)
			return;	/* out of memory: the row is left out */
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] =
		    strdup(cells[c] != NULL ? cells[c] : "-");
	t->nrows++;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; s != NULL && *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static bool
table_right(const struct ctl_table *t, size_t c)
{
	return c < sizeof(t->right) * 8 && (t->right & (1u << c)) != 0;
}

void
ctl_table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* Each column's widest cell (the escaped width for Markdown). */
static size_t *
table_widths(const struct ctl_table *t, size_t (*width)(const char *))
{
	size_t *w = calloc(t->ncols + 1, sizeof(*w));

	if (w == NULL)
		return NULL;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = width(t->cells[r * t->ncols + c]);

			if (cw > w[c])
				w[c] = cw;
		}
	return w;
}

void
ctl_table_print(FILE *f, struct ctl_table *t, int indent)
{
	size_t *w = table_widths(t, text_width);

	if (w == NULL)
		goto out;
	for (size_t r = 0; r < t->nrows; r++) {
		fprintf(f, "%*s", indent, "");
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			int pad;

			s = s != NULL ? s : "-";
			pad = (int)(w[c] - text_width(s));
			if (table_right(t, c))
				fprintf(f, "%*s%s", pad, "", s);
			else if (c + 1 < t->ncols)
				fprintf(f, "%s%*s", s, pad, "");
			else
				fprintf(f, "%s", s);
			fputs(c + 1 < t->ncols ? "  " : "\n", f);
		}
	}
out:
	ctl_table_free(t);
	free(w);
}

/* What Markdown would otherwise read as markup in a table cell. */
static bool
md_special(char ch)
{
	return ch == '|' || ch == '\\' || ch == '`' || ch == '*' ||
	    ch == '<' || ch == '>' || ch == '[' || ch == ']';
}

static size_t
md_width(const char *s)
{
	size_t w = text_width(s);

	for (; s != NULL && *s != '\0'; s++)
		if (md_special(*s))
			w++;
	return w;
}

void
ctl_markdown_text(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (md_special(*s))
			fputc('\\', f);
		/* One line: a newline would end a list item or a row. */
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
}

static void
md_cell(FILE *f, const char *s, size_t width, bool right)
{
	size_t w = md_width(s);

	if (right)
		fprintf(f, "%*s", (int)(width - w), "");
	ctl_markdown_text(f, s);
	if (!right)
		fprintf(f, "%*s", (int)(width - w), "");
}

void
ctl_table_markdown(FILE *f, struct ctl_table *t)
{
	size_t *w = table_widths(t, md_width);

	if (w == NULL || t->nrows == 0)
		goto out;
	for (size_t c = 0; c < t->ncols; c++)
		if (w[c] < 3)
			w[c] = 3;	/* room for "---" */
	for (size_t r = 0; r < t->nrows; r++) {
		fputc('|', f);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			fputc(' ', f);
			md_cell(f, s != NULL ? s : "-", w[c], r > 0 &&
			    table_right(t, c));
			fputs(" |", f);
		}
		fputc('\n', f);
		if (r > 0)
			continue;
		/* Under the header: the alignment row. */
		fputc('|', f);
		for (size_t c = 0; c < t->ncols; c++) {
			bool right = table_right(t, c);

			fputc(' ', f);
			for (size_t k = 0; k + (right ? 1 : 0) < w[c]; k++)
				fputc('-', f);
			if (right)
				fputc(':', f);
			fputs(" |", f);
		}
		fputc('\n', f);
	}
out:
	ctl_table_free(t);
	free(w);
}

/* ---- pieces -------------------------------------------------------- */

static char *
bar(json_int_t done, json_int_t total, int width, char *buf, size_t len)
{
	int fill = total > 0 ? (int)(done * width / total) : width;

	if (fill > width)
		fill = width;
	if (fill < 0)
		fill = 0;
	if ((size_t)width + 3 > len) {
		buf[0] = '\0';
		return buf;
	}
	buf[0] = '[';
	memset(buf + 1, '#', (size_t)fill);
	memset(buf + 1 + fill, '-', (size_t)(width - fill));
	buf[width + 1] = ']';
	buf[width + 2] = '\0';
	return buf;
}

/* "ClientAccess" -> "CAS": the abbreviations Exchange admins use. */
static const char *
role_short(const char *role)
{
	static const struct {
		const char *name, *abbr;
	} abbr[] = {
		{ "ClientAccess", "CAS" }, { "EdgeTransport", "Edge" },
		{ "HubTransport", "Hub" }, { "UnifiedMessaging", "UM" },
		{ "Mailbox", "MBX" },
	};

	for (size_t i = 0; i < sizeof(abbr) / sizeof(abbr[0]); i++)
		if (strcmp(role, abbr[i].name) == 0)
			return abbr[i].abbr;
	return role;
}

static void
roles_text(const json_t *roles, char *buf, size_t len)
{
	size_t i, n = 0;
	json_t *r;

	buf[0] = '\0';
	json_array_foreach(roles, i, r) {
		const char *s = json_string_value(r);

		if (s != NULL && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n ? "+" : "", role_short(s));
	}
	if (n == 0)
		snprintf(buf, len, "-");
}

static const char *
checkpoint_sentence(const char *cp)
{
	if (cp != NULL && strcmp(cp, "failover") == 0)
		return "ready to fail over to its upgraded passive node";
	if (cp != NULL && strcmp(cp, "failback") == 0)
		return "ready to fail back to its original active node";
	return "waiting at a checkpoint";
}

/* The failed server's entry in the servers list, or NULL. */
static const json_t *
find_server(const json_t *servers, const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(servers, i, s) {
		const char *n = jstr(s, "name");

		if (n != NULL && strcasecmp(n, name) == 0)
			return s;
	}
	return NULL;
}

/* ---- status -------------------------------------------------------- */

void
ctl_text_status(FILE *f, const json_t *st, const json_t *failed,
    int64_t now)
{
	const json_t *prog = json_object_get(st, "progress");
	const json_t *cw = json_object_get(st, "current_wave");
	const json_t *waves = json_object_get(st, "waves");
	const json_t *pend = json_object_get(st, "pending_checkpoints");
	const json_t *fail = json_object_get(st, "failed");
	const json_t *win = json_object_get(st, "window");
	const char *state = jstr_or(st, "state", "unknown");
	const char *reason = jstr(st, "reason");
	json_int_t done = jint(prog, "done"), total = jint(prog, "total");
	char b[64], dur[32], loc[48], rel[48];
	struct ctl_table t;
	size_t i;
	json_t *v;

	/* The headline: state, why, and where it is. */
	fprintf(f, "Rollout %s", state);
	if (reason != NULL && *reason != '\0')
		fprintf(f, ": %s", reason);
	if (json_is_object(cw))
		fprintf(f, "%s wave %lld of %zu (%s)",
		    reason != NULL && *reason != '\0' ? ";" : ",",
		    (long long)jint(cw, "index"), json_array_size(waves),
		    jstr_or(cw, "role", "?"));
	fputc('\n', f);

	fprintf(f, "Progress %s %lld/%lld servers  %lld%%", bar(done, total,
	    BAR_WIDE, b, sizeof(b)), (long long)done, (long long)total,
	    (long long)jint(prog, "percent"));
	if (strcmp(state, "completed") == 0 || strcmp(state, "aborted") == 0)
		fputc('\n', f);
	else if (jhas_number(st, "eta_s"))
		fprintf(f, "  about %s left\n", time_format_duration(
		    jint(st, "eta_s") * 1000, dur, sizeof(dur)));
	else
		fprintf(f, "  time left unknown until an install "
		    "finishes\n");

	if (json_array_size(waves) > 0) {
		fprintf(f, "\nWaves\n");
		ctl_table_init(&t, 5);
		json_array_foreach(waves, i, v) {
			char n[32], counts[48];
			const char *row[5];

			snprintf(n, sizeof(n), "%s%zu",
			    json_is_object(cw) && jint(cw, "index") ==
			    (json_int_t)i + 1 ? ">" : " ", i + 1);
			snprintf(counts, sizeof(counts), "%lld/%lld",
			    (long long)jint(v, "done"),
			    (long long)jint(v, "total"));
			row[0] = n;
			row[1] = jstr(v, "role");
			row[2] = jstr(v, "state");
			row[3] = bar(jint(v, "done"), jint(v, "total"),
			    BAR_NARROW, b, sizeof(b));
			row[4] = counts;
			ctl_table_row(&t, row);
		}
		ctl_table_print(f, &t, 1);
	}

	if (json_array_size(pend) > 0) {
		fprintf(f, "\nWaiting for your approval\n");
		json_array_foreach(pend, i, v) {
			const char *cl = jstr_or(v, "cluster", "?");

			fprintf(f, "  %s is %s\n      exrollctl approve %s\n",
			    cl, checkpoint_sentence(jstr(v, "checkpoint")), cl);
		}
	}

	if (json_array_size(fail) > 0) {
		fprintf(f, "\nFailed\n");
		json_array_foreach(fail, i, v) {
			const char *name = json_string_value(v);
			const json_t *s;

			if (name == NULL)
				continue;
			s = find_server(failed, name);
			if (s != NULL && jstr(s, "last_error") != NULL)
				fprintf(f, "  %s: %s (failed %lld time%s)\n",
				    name, jstr(s, "last_error"),
				    (long long)jint(s, "attempts"),
				    jint(s, "attempts") == 1 ? "" : "s");
			else
				fprintf(f, "  %s\n", name);
			fprintf(f, "      exrollctl retry %s   or   exrollctl "
			    "skip %s REASON\n", name, name);
		}
	}

	fprintf(f, "\nWindow   ");
	if (!json_is_object(win)) {
		fprintf(f, "-\n");
	} else if (json_is_true(json_object_get(win, "open"))) {
		int64_t at;

		if (jtime(win, "closes_at", &at))
			fprintf(f, "open, closes %s (%s)\n",
			    ctl_time_local(at, loc, sizeof(loc)),
			    ctl_time_relative(at, now, rel, sizeof(rel)));
		else
			fprintf(f, "open, no end\n");
	} else {
		int64_t at;

		if (jtime(win, "next_open", &at))
			fprintf(f, "closed, opens %s (%s)\n",
			    ctl_time_local(at, loc, sizeof(loc)),
			    ctl_time_relative(at, now, rel, sizeof(rel)));
		else
			fprintf(f, "closed, no window ahead\n");
	}
}

/* ---- tables of servers, clusters, events --------------------------- */

void
ctl_text_servers(FILE *f, const json_t *servers, int64_t now)
{
	static const char *const head[] = { "NAME", "ROLES", "WAVE", "STATE",
		"PHASE", "FAILURES", "VERSION", "STARTED", "FINISHED",
		"LAST ERROR" };
	struct ctl_table t;
	size_t i;
	json_t *s;

	if (json_array_size(servers) == 0) {
		fprintf(f, "no servers\n");
		return;
	}
	ctl_table_init(&t, 10);
	ctl_table_row(&t, head);
	json_array_foreach(servers, i, s) {
		char roles[64], wave[16], tries[16], started[32], finished[32];
		const char *row[10];
		int64_t ms;

		roles_text(json_object_get(s, "roles"), roles, sizeof(roles));
		if (jhas_number(s, "wave"))
			snprintf(wave, sizeof(wave), "%lld",
			    (long long)jint(s, "wave"));
		else
			snprintf(wave, sizeof(wave), "-");
		snprintf(tries, sizeof(tries), "%lld",
		    (long long)jint(s, "attempts"));
		if (jtime(s, "started_at", &ms))
			ctl_time_relative(ms, now, started, sizeof(started));
		else
			snprintf(started, sizeof(started), "-");
		if (jtime(s, "finished_at", &ms))
			ctl_time_relative(ms, now, finished, sizeof(finished));
		else
			snprintf(finished, sizeof(finished), "-");
		row[0] = jstr(s, "name");
		row[1] = roles;
		row[2] = wave;
		row[3] = jstr(s, "state");
		row[4] = jstr(s, "phase");
		row[5] = tries;
		row[6] = jstr(s, "version");
		row[7] = started;
		row[8] = finished;
		row[9] = jstr(s, "last_error");
		ctl_table_row(&t, row);
	}
	ctl_table_print(f, &t, 0);
}

void
ctl_text_clusters(FILE *f, const json_t *clusters)
{
	static const char *const head[] = { "NAME", "NODES", "ORIGINAL ACTIVE",
		"ACTIVE", "STEP", "WAITING FOR" };
	struct ctl_table t;
	size_t i;
	json_t *c;

	if (json_array_size(clusters) == 0) {
		fprintf(f, "no CCR clusters\n");
		return;
	}
	ctl_table_init(&t, 6);
	ctl_table_row(&t, head);
	json_array_foreach(clusters, i, c) {
		char nodes[160] = "", waiting[160];
		const char *cp = jstr(c, "pending_checkpoint");
		const char *row[6];
		size_t k, n = 0;
		json_t *node;

		json_array_foreach(json_object_get(c, "nodes"), k, node)
			if (json_is_string(node) && n < sizeof(nodes))
				n += (size_t)snprintf(nodes + n,
				    sizeof(nodes) - n, "%s%s", n ? ", " : "",
				    json_string_value(node));
		if (cp != NULL)
			snprintf(waiting, sizeof(waiting), "%s: exrollctl "
			    "approve %s", cp, jstr_or(c, "name", "?"));
		else
			snprintf(waiting, sizeof(waiting), "-");
		row[0] = jstr(c, "name");
		row[1] = n > 0 ? nodes : NULL;
		row[2] = jstr(c, "original_active");
		row[3] = jstr(c, "active");
		row[4] = jstr(c, "step");
		row[5] = waiting;
		ctl_table_row(&t, row);
	}
	ctl_table_print(f, &t, 0);
}

static void
event_cells(const json_t *ev, int64_t now, char *seq, size_t seqlen,
    char *when, size_t whenlen, char *by, size_t bylen)
{
	const char *actor = jstr(ev, "actor");

	snprintf(seq, seqlen, "%lld", (long long)jint(ev, "seq"));
	ctl_time_both(ev, "time", now, when, whenlen);
	if (actor != NULL && strcmp(actor, "exrolld") != 0)
		snprintf(by, bylen, " (by %s)", actor);
	else
		by[0] = '\0';
}

void
ctl_text_events(FILE *f, const json_t *events, int64_t now)
{
	static const char *const head[] = { "SEQ", "TIME", "SUBJECT", "KIND",
		"MESSAGE" };
	struct ctl_table t;
	size_t i;
	json_t *ev;

	if (json_array_size(events) == 0) {
		fprintf(f, "no events\n");
		return;
	}
	ctl_table_init(&t, 5);
	ctl_table_row(&t, head);
	json_array_foreach(events, i, ev) {
		char seq[24], when[96], by[96], msg[1024];
		const char *row[5];

		event_cells(ev, now, seq, sizeof(seq), when, sizeof(when), by,
		    sizeof(by));
		snprintf(msg, sizeof(msg), "%s%s", jstr_or(ev, "message", ""),
		    by);
		row[0] = seq;
		row[1] = when;
		row[2] = jstr(ev, "subject");
		row[3] = jstr(ev, "kind");
		row[4] = msg;
		ctl_table_row(&t, row);
	}
	ctl_table_print(f, &t, 0);
}

void
ctl_text_event(FILE *f, const json_t *ev, int64_t now)
{
	char seq[24], when[96], by[96];

	event_cells(ev, now, seq, sizeof(seq), when, sizeof(when), by,
	    sizeof(by));
	fprintf(f, "%6s  %s  %-10s %-16s %s%s\n", seq, when,
	    jstr_or(ev, "subject", "-"), jstr_or(ev, "kind", "-"),
	    jstr_or(ev, "message", ""), by);
	fflush(f);
}

void
ctl_text_plan(FILE *f, const json_t *plan)
{
	const json_t *waves = json_object_get(plan, "waves");
	size_t i, k;
	json_t *w, *u;

	if (json_array_size(waves) == 0) {
		fprintf(f, "the plan is empty\n");
		return;
	}
	json_array_foreach(waves, i, w) {
		size_t n = json_array_size(json_object_get(w, "units"));

		fprintf(f, "%sWave %zu: %s (%zu unit%s)\n", i ? "\n" : "",
		    i + 1, jstr_or(w, "role", "?"), n, n == 1 ? "" : "s");
		json_array_foreach(json_object_get(w, "units"), k, u) {
			const char *kind = jstr_or(u, "kind", "server");

			fprintf(f, "  %zu. %s%s\n", k + 1,
			    jstr_or(u, "name", "?"),
			    strcmp(kind, "cluster") == 0 ? " (CCR cluster)" :
			    "");
		}
	}
}

/* ---- answers of the commands that act ------------------------------ */

void
ctl_text_result(FILE *f, const json_t *req, const json_t *result)
{
	const char *cmd = jstr_or(req, "cmd", "");
	const char *note = jstr(result, "note");

	if (strcmp(cmd, "ping") == 0) {
		fprintf(f, "exrolld %s is answering\n",
		    jstr_or(result, "version", "?"));
		return;
	}
	if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0 ||
	    strcmp(cmd, "abort") == 0) {
		fprintf(f, "rollout %s", jstr_or(result, "state", "?"));
	} else if (strcmp(cmd, "approve") == 0) {
		const char *cp = jstr(result, "pending_checkpoint");

		fprintf(f, "%s: approved, step %s",
		    jstr_or(result, "cluster", "?"),
		    jstr_or(result, "step", "?"));
		if (cp != NULL)
			fprintf(f, ", still waiting for %s", cp);
	} else if (strcmp(cmd, "retry") == 0 || strcmp(cmd, "skip") == 0) {
		fprintf(f, "%s is %s", jstr_or(result, "server", "?"),
		    jstr_or(result, "state", "?"));
	} else {
		/* A command this exrollctl has no sentence for. */
		ctl_json_result(f, result);
		return;
	}
	if (note != NULL && *note != '\0')
		fprintf(f, " (%s)", note);
	fputc('\n', f);
}

void
ctl_text_error(FILE *f, const char *cmd, const json_t *error)
{
	fprintf(f, "exrollctl: %s: %s (%s)\n", cmd,
	    jstr_or(error, "message", "the daemon gave no reason"),
	    jstr_or(error, "code", "internal"));
}
