/*
 * test_manpages — the manual pages in man/: groff renders each without a
 * single warning, and each documents what the code has.
 *
 *  - exrollctl.1: every command of DESIGN §5 and every visible command of
 *    exrollctl's own table (ctl/grammar.c) is an entry of COMMANDS, with
 *    its options; the global options, $EXROLL_SOCKET and the exit statuses
 *    are there;
 *  - exroll.json.5: every key of schema/config.schema.json (top level,
 *    each section's keys as "section.key", the keys of servers and
 *    clusters entries and of both window shapes) is documented, and so are
 *    the exec hook's environment variables;
 *  - exrolld.8: every option of DESIGN §5 / daemon/main.c, the signals and
 *    the environment.
 *
 * "Documented" means an entry (a .TP tag) in the right section, not a word
 * somewhere in the text. groff is required: without it the test fails and
 * says which package to install (groff-base).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "grammar.h"
#include "log.h"
#include "testutil.h"

static const char *const pages[] = {
	"man/exrolld.8", "man/exrollctl.1", "man/exroll.json.5", NULL,
};

/* --- groff ------------------------------------------------------------------ */

/* groff's path from $PATH (malloc'd), or NULL. */
static char *
find_program(const char *name)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	copy = strdup(path != NULL && *path ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	ck_assert_ptr_nonnull(copy);
	for (dir = strtok_r(copy, ":", &save); dir != NULL && found == NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		char *p = tu_path(*dir ? dir : ".", name);

		ck_assert_ptr_nonnull(p);
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

static bool
proc_done(void *arg)
{
	return tu_proc_exited(arg);
}

START_TEST(test_groff_clean)
{
	char *groff = find_program("groff");
	char *dir = tu_tmpdir("manpages");

	ck_assert_msg(groff != NULL, "groff is not installed: install "
	    "groff-base (apt-get install groff-base) to check the manual "
	    "pages");
	ck_assert_ptr_nonnull(dir);
	for (int i = 0; pages[i] != NULL; i++) {
		char *page = tu_src_path(pages[i]);
		char *log = tu_path(dir, "groff.log");
		char *argv[] = { groff, (char *)"-man", (char *)"-Tutf8",
		    (char *)"-ww", (char *)"-z", page, NULL };
		struct tu_proc p;
		char *out;

		ck_assert_msg(access(page, R_OK) == 0, "no '%s'", pages[i]);
		unlink(log);
		ck_assert_int_eq(tu_spawn(&p, log, argv), 0);
		ck_assert_msg(tu_wait(proc_done, &p, tu_ms(20000)),
		    "groff did not finish '%s'", pages[i]);
		out = tu_read_file(log);
		/* -z: no output; anything in the log is a warning. */
		ck_assert_msg(out == NULL || *out == '\0',
		    "groff warns about '%s':\n%s", pages[i], out);
		ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
		    "groff failed on '%s' (status %d)", pages[i], p.status);
		free(out);
		tu_proc_free(&p);
		free(log);
		free(page);
	}
	tu_rmrf(dir);
	free(dir);
	free(groff);
}
END_TEST

/* --- reading roff source ------------------------------------------------------ */

struct page {
	char *text;
	char **lines;
	size_t n;
};

static void
page_load(struct page *pg, const char *rel)
{
	char *path = tu_src_path(rel), *p;
	size_t cap = 0;

	memset(pg, 0, sizeof(*pg));
	ck_assert_ptr_nonnull(path);
	pg->text = tu_read_file(path);
	ck_assert_msg(pg->text != NULL, "cannot read '%s'", rel);
	free(path);
	for (p = pg->text; p != NULL && *p != '\0'; ) {
		char *nl = strchr(p, '\n');

		if (pg->n == cap) {
			cap = cap ? cap * 2 : 256;
			pg->lines = realloc(pg->lines, cap * sizeof(*pg->lines));
			ck_assert_ptr_nonnull(pg->lines);
		}
		pg->lines[pg->n++] = p;
		if (nl != NULL)
			*nl++ = '\0';
		p = nl;
	}
}

static void
page_free(struct page *pg)
{
	free(pg->text);
	free(pg->lines);
}

/* Decodes the escapes of roff text into out: font changes dropped,
 * \- \e \(dq \(aq decoded, \& \| dropped. Returns the end of out. */
static char *
unescape(const char *p, size_t n, char *o)
{
	const char *end = p + n;

	while (p < end) {
		if (p[0] == '\\' && p + 1 < end && p[1] == 'f') {
			p += 2;
			if (p < end && *p == '(')
				p += 2;
			else if (p < end)
				p++;
		} else if (p[0] == '\\' && p + 3 < end && p[1] == '(') {
			if (strncmp(p + 2, "dq", 2) == 0)
				*o++ = '"';
			else if (strncmp(p + 2, "aq", 2) == 0)
				*o++ = '\'';
			p += 4;
		} else if (p[0] == '\\' && p + 1 < end &&
		    (p[1] == '-' || p[1] == 'e')) {
			*o++ = p[1] == '-' ? '-' : '\\';
			p += 2;
		} else if (p[0] == '\\' && p + 1 < end &&
		    (p[1] == '&' || p[1] == '|')) {
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	return o;
}

/* A line of roff as plain text (malloc'd). A macro line loses its name;
 * its arguments (quoted or not) are joined as groff would: directly for
 * the alternating-font macros (.BR, .IR, ...), with a space otherwise. */
static char *
plain(const char *line)
{
	char *out = malloc(strlen(line) + 2), *o = out;
	const char *p = line;
	bool alternating;
	size_t nlen;

	ck_assert_ptr_nonnull(out);
	if (*p != '.') {
		*unescape(p, strlen(p), o) = '\0';
		return out;
	}
	nlen = strcspn(p, " ");
	alternating = nlen == 3 && strchr("BIR", p[1]) != NULL &&
	    strchr("BIR", p[2]) != NULL;
	p += nlen;
	for (bool first = true;; first = false) {
		const char *a;
		size_t n;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p == '"') {
			a = ++p;
			n = strcspn(p, "\"");
			p += n;
			if (*p == '"')
				p++;
		} else {
			a = p;
			n = strcspn(p, " ");
			p += n;
		}
		if (!first && !alternating)
			*o++ = ' ';
		o = unescape(a, n, o);
	}
	*o = '\0';
	return out;
}

/* The line range [*from, *to) of section ".SH name". */
static bool
section(const struct page *pg, const char *name, size_t *from, size_t *to)
{
	size_t i, len = strlen(name);

	for (i = 0; i < pg->n; i++) {
		const char *l = pg->lines[i];

		if (strncmp(l, ".SH ", 4) != 0)
			continue;
		l += 4;
		if (*l == '"')
			l++;
		if (strncmp(l, name, len) == 0 &&
		    (l[len] == '\0' || l[len] == '"'))
			break;
	}
	if (i == pg->n)
		return false;
	*from = i + 1;
	for (i = *from; i < pg->n && strncmp(pg->lines[i], ".SH ", 4) != 0;
	    i++)
		;
	*to = i;
	return true;
}

/* Whether the tag names word: its first word, or one of the alternatives
 * it starts with ("-h, --help", "SIGTERM, SIGINT"). */
static bool
tag_names(const char *tag, const char *word)
{
	size_t len = strlen(word);

	for (const char *t = tag; *t != '\0'; ) {
		size_t n = strcspn(t, " ,");

		if (n == len && strncmp(t, word, len) == 0)
			return true;
		if (t[n] != ',')
			return false;
		t += n + 1;
		while (*t == ' ')
			t++;
	}
	return false;
}

/* Whether a .TP entry of section sec has a tag naming word. */
static bool
has_entry(const struct page *pg, const char *sec, const char *word)
{
	size_t from, to;
	bool found = false;

	ck_assert_msg(section(pg, sec, &from, &to), "no section %s", sec);
	for (size_t i = from; i + 1 < to && !found; i++) {
		char *tag;

		if (strcmp(pg->lines[i], ".TP") != 0)
			continue;
		tag = plain(pg->lines[i + 1]);
		found = tag_names(tag, word);
		free(tag);
	}
	return found;
}

/* The plain text of section sec (malloc'd). */
static char *
section_text(const struct page *pg, const char *sec)
{
	size_t from, to, len = 1;
	char *text;

	ck_assert_msg(section(pg, sec, &from, &to), "no section %s", sec);
	text = calloc(1, 1);
	ck_assert_ptr_nonnull(text);
	for (size_t i = from; i < to; i++) {
		char *l = plain(pg->lines[i]);

		len += strlen(l) + 1;
		text = realloc(text, len);
		ck_assert_ptr_nonnull(text);
		strcat(text, l);
		strcat(text, "\n");
		free(l);
	}
	return text;
}

/* ".TH NAME SECTION" agrees with the file name. */
static void
check_title(const struct page *pg, const char *name, const char *sec)
{
	char want[64];

	snprintf(want, sizeof(want), ".TH %s %s ", name, sec);
	ck_assert_msg(pg->n > 0, "empty page");
	for (size_t i = 0; i < pg->n; i++) {
		if (strncmp(pg->lines[i], ".TH ", 4) == 0) {
			ck_assert_msg(strncmp(pg->lines[i], want,
			    strlen(want)) == 0, "title line '%s', want '%s...'",
			    pg->lines[i], want);
			return;
		}
	}
	ck_abort_msg("no .TH line");
}

/* --- exrollctl.1 ------------------------------------------------------------------ */

/* DESIGN §5: the commands exrollctl must have. */
static const char *const design_commands[] = {
	"status", "watch", "servers", "clusters", "events", "plan", "pause",
	"resume", "approve", "retry", "skip", "abort", "ping", NULL,
};

START_TEST(test_exrollctl_commands)
{
	struct page pg;
	char *opts;

	page_load(&pg, "man/exrollctl.1");
	check_title(&pg, "EXROLLCTL", "1");
	for (int i = 0; design_commands[i] != NULL; i++)
		ck_assert_msg(has_entry(&pg, "COMMANDS", design_commands[i]),
		    "exrollctl.1: no entry for command '%s' (DESIGN §5)",
		    design_commands[i]);
	/* What exrollctl itself offers, from the table its help comes
	 * from: a command added there must be documented here. */
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_cmd *c = &ctl_commands[i];
		char *text;

		if (c->hidden)
			continue;
		ck_assert_msg(has_entry(&pg, "COMMANDS", c->name),
		    "exrollctl.1: no entry for command '%s' (ctl/grammar.c)",
		    c->name);
		text = section_text(&pg, "COMMANDS");
		for (size_t a = 0; a < c->nargs; a++) {
			const struct ctl_arg *arg = &c->args[a];

			if (arg->kind != CTL_ARG_OPTION &&
			    arg->kind != CTL_ARG_FLAG)
				continue;
			ck_assert_msg(strstr(text, arg->name) != NULL,
			    "exrollctl.1: '%s %s' is not documented",
			    c->name, arg->name);
		}
		free(text);
	}
	ck_assert(has_entry(&pg, "OPTIONS", "--socket"));
	ck_assert(has_entry(&pg, "OPTIONS", "--json"));
	ck_assert(has_entry(&pg, "OPTIONS", "--help"));
	ck_assert(has_entry(&pg, "OPTIONS", "--version"));
	ck_assert(has_entry(&pg, "ENVIRONMENT", "EXROLL_SOCKET"));
	for (int st = 0; st <= 3; st++) {
		char w[16];

		snprintf(w, sizeof(w), "%d", st);
		ck_assert_msg(has_entry(&pg, "EXIT STATUS", w),
		    "exrollctl.1: exit status %d is not documented", st);
	}
	opts = section_text(&pg, "EXAMPLES");
	for (const char *const *w = (const char *const[]){ "status",
	    "approve", "retry", "skip", NULL }; *w != NULL; w++) {
		char want[64];

		snprintf(want, sizeof(want), "exrollctl %s", *w);
		ck_assert_msg(strstr(opts, want) != NULL,
		    "exrollctl.1: no example of '%s'", want);
	}
	free(opts);
	page_free(&pg);
}
END_TEST

/* --- exroll.json.5 ------------------------------------------------------------------ */

/* DESIGN §5's top level, whatever the schema says. */
static const char *const design_keys[] = {
	"target_version", "state_file", "socket", "gateway", "policy",
	"windows", "control", "notify", "servers", "clusters", NULL,
};

static json_t *
load_schema(void)
{
	char *path = tu_src_path("schema/config.schema.json");
	json_error_t err;
	json_t *s;

	ck_assert_ptr_nonnull(path);
	s = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	ck_assert_msg(s != NULL, "schema/config.schema.json: %d:%d: %s",
	    err.line, err.column, err.text);
	free(path);
	return s;
}

static void
upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

START_TEST(test_config_keys)
{
	struct page pg;
	json_t *schema = load_schema(), *props, *v, *defs;
	const char *key;
	char *text;
	int nested = 0;

	page_load(&pg, "man/exroll.json.5");
	check_title(&pg, "EXROLL.JSON", "5");
	for (int i = 0; design_keys[i] != NULL; i++)
		ck_assert_msg(has_entry(&pg, "TOP-LEVEL KEYS", design_keys[i]),
		    "exroll.json.5: no entry for key '%s' (DESIGN §5)",
		    design_keys[i]);

	props = json_object_get(schema, "properties");
	ck_assert_msg(json_object_size(props) >= 10, "schema without keys");
	json_object_foreach(props, key, v) {
		json_t *sub = json_object_get(v, "properties");
		json_t *items = json_object_get(json_object_get(v, "items"),
		    "properties");
		const char *k2;
		json_t *v2;
		char sec[64];

		ck_assert_msg(has_entry(&pg, "TOP-LEVEL KEYS", key),
		    "exroll.json.5: no entry for key '%s' (schema)", key);
		snprintf(sec, sizeof(sec), "%s", key);
		upper(sec);
		/* gateway.url, policy.retries, ... in GATEWAY, POLICY ... */
		json_object_foreach(sub, k2, v2) {
			char want[128];

			snprintf(want, sizeof(want), "%s.%s", key, k2);
			ck_assert_msg(has_entry(&pg, sec, want),
			    "exroll.json.5: no entry for '%s' in %s", want,
			    sec);
			nested++;
		}
		/* servers[].name ... in SERVERS, clusters[].nodes in
		 * CLUSTERS. */
		json_object_foreach(items, k2, v2) {
			ck_assert_msg(has_entry(&pg, sec, k2),
			    "exroll.json.5: no entry for '%s[].%s' in %s",
			    key, k2, sec);
			nested++;
		}
	}
	ck_assert_int_ge(nested, 25);

	/* Both window shapes, key by key. */
	text = section_text(&pg, "WINDOWS");
	defs = json_object_get(schema, "$defs");
	for (const char *const *d = (const char *const[]){ "weeklyWindow",
	    "absoluteWindow", NULL }; *d != NULL; d++) {
		json_t *wp = json_object_get(json_object_get(defs, *d),
		    "properties");

		ck_assert_msg(json_object_size(wp) >= 2, "no $defs.%s", *d);
		json_object_foreach(wp, key, v) {
			char want[64];

			snprintf(want, sizeof(want), "\"%s\":", key);
			ck_assert_msg(strstr(text, want) != NULL,
			    "exroll.json.5: window key '%s' (%s) is not "
			    "documented", key, *d);
		}
	}
	free(text);

	/* The exec hook's interface (daemon/hooks.c). */
	text = section_text(&pg, "NOTIFY");
	for (const char *const *e = (const char *const[]){ "EXROLL_EVENT_KIND",
	    "EXROLL_EVENT_SUBJECT", "EXROLL_EVENT_MESSAGE", "EXROLL_EVENT_SEQ",
	    "PATH", "\"summary\":", "\"daemon\":", NULL }; *e != NULL; e++)
		ck_assert_msg(strstr(text, *e) != NULL,
		    "exroll.json.5: NOTIFY does not mention '%s'", *e);
	free(text);
	json_decref(schema);
	page_free(&pg);
}
END_TEST

/* --- exrolld.8 -------------------------------------------------------------------- */

START_TEST(test_exrolld_options)
{
	static const char *const opts[] = { "--config", "--state", "--socket",
		"--check-config", "--plan", "--json", "--log-level", "--help",
		"--version", NULL };
	static const char *const sigs[] = { "SIGTERM", "SIGHUP", "SIGKILL",
		NULL };
	static const char *const env[] = { "TZ", "NOTIFY_SOCKET",
		"WATCHDOG_USEC", NULL };
	struct page pg;
	char *text;

	page_load(&pg, "man/exrolld.8");
	check_title(&pg, "EXROLLD", "8");
	for (int i = 0; opts[i] != NULL; i++)
		ck_assert_msg(has_entry(&pg, "OPTIONS", opts[i]),
		    "exrolld.8: option '%s' is not documented", opts[i]);
	for (int i = 0; sigs[i] != NULL; i++)
		ck_assert_msg(has_entry(&pg, "SIGNALS", sigs[i]),
		    "exrolld.8: signal %s is not documented", sigs[i]);
	for (int i = 0; env[i] != NULL; i++)
		ck_assert_msg(has_entry(&pg, "ENVIRONMENT", env[i]),
		    "exrolld.8: %s is not documented", env[i]);
	for (int st = 0; st <= 2; st++) {
		char w[16];

		snprintf(w, sizeof(w), "%d", st);
		ck_assert_msg(has_entry(&pg, "EXIT STATUS", w),
		    "exrolld.8: exit status %d is not documented", st);
	}
	text = section_text(&pg, "FILES");
	ck_assert_ptr_nonnull(strstr(text, "state.db.lock"));
	ck_assert_ptr_nonnull(strstr(text, "/var/lib/exroll/state.db"));
	ck_assert_ptr_nonnull(strstr(text, "/run/exroll/control.sock"));
	free(text);
	page_free(&pg);
}
END_TEST

static Suite *
manpages_suite(void)
{
	Suite *s = suite_create("manpages");
	TCase *tc = tcase_create("pages");

	tcase_add_test(tc, test_groff_clean);
	tcase_add_test(tc, test_exrollctl_commands);
	tcase_add_test(tc, test_config_keys);
	tcase_add_test(tc, test_exrolld_options);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	log_init("test_manpages", LOG_LEVEL_WARNING, 0);
	return tu_run(manpages_suite());
}
