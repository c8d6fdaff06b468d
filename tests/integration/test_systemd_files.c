/*
 * test_systemd_files — the unit, sysusers and tmpfiles snippets in systemd/:
 * the unit carries the sandbox and the service settings the daemon relies
 * on, systemd's own tools accept all three, and the directories agree with
 * the defaults in config.h.
 *
 * systemd-analyze, systemd-sysusers and systemd-tmpfiles are used when the
 * machine has them; without them the test says it skipped and why, and
 * passes (Check has no "skipped" outcome).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

#define UNIT_PATH "systemd/exrolld.service"
#define UNIT_EXEC "ExecStart=/usr/local/sbin/exrolld "

struct unit_entry {
	char *section;
	char *key;
	char *value;
};

struct unit {
	char *text;			/* the file as read */
	char *buf;			/* the copy the entries point into */
	struct unit_entry *e;
	size_t n;
};

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Parses the unit file the way systemd reads it: [Section] headers,
 * Key=Value lines, '#' and ';' comments, a trailing backslash continuing a
 * line. Entries point into a private copy of the text. */
static void
unit_load(struct unit *u)
{
	char *path = tu_src_path(UNIT_PATH), *line, *next, *eq;
	char *section = NULL;
	size_t cap = 0;

	memset(u, 0, sizeof(*u));
	ck_assert_ptr_nonnull(path);
	u->text = tu_read_file(path);
	ck_assert_msg(u->text != NULL, "cannot read '%s'", path);
	free(path);
	u->buf = strdup(u->text);
	ck_assert_ptr_nonnull(u->buf);

	/* Join continuation lines first: "\\\n" becomes a space. */
	for (line = u->buf; (line = strstr(line, "\\\n")) != NULL; )
		line[0] = line[1] = ' ';

	for (line = u->buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			ck_assert_msg(line[strlen(line) - 1] == ']',
			    "bad section header '%s'", line);
			line[strlen(line) - 1] = '\0';
			section = line + 1;
			continue;
		}
		eq = strchr(line, '=');
		ck_assert_msg(eq != NULL, "line without '=': '%s'", line);
		ck_assert_msg(section != NULL, "key before any section: '%s'", line);
		*eq = '\0';
		if (u->n == cap) {
			cap = cap ? 2 * cap : 64;
			u->e = realloc(u->e, cap * sizeof(*u->e));
			ck_assert_ptr_nonnull(u->e);
		}
		u->e[u->n].section = section;
		u->e[u->n].key = trim(line);
		u->e[u->n].value = trim(eq + 1);
		u->n++;
	}
}

static void
unit_free(struct unit *u)
{
	free(u->buf);
	free(u->e);
	free(u->text);
}

/* Whether section.key=value is set (any occurrence: some keys repeat). */
static bool
unit_has(const struct unit *u, const char *section, const char *key,
    const char *value)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->e[i].section, section) == 0 &&
		    strcmp(u->e[i].key, key) == 0 &&
		    strcmp(u->e[i].value, value) == 0)
			return true;
	return false;
}

/* The last value of section.key (what systemd uses for a plain key), or
 * NULL. */
static const char *
unit_get(const struct unit *u, const char *section, const char *key)
{
	const char *v = NULL;
	size_t i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->e[i].section, section) == 0 &&
		    strcmp(u->e[i].key, key) == 0)
			v = u->e[i].value;
	return v;
}

START_TEST(unit_has_service_settings)
{
	static const char *const want[][2] = {
		{ "Type", "notify" },
		{ "NotifyAccess", "main" },
		{ "ExecStart", "/usr/local/sbin/exrolld --config /etc/exroll/exroll.json" },
		{ "ExecReload", "/bin/kill -HUP $MAINPID" },
		{ "Restart", "on-failure" },
		{ "RestartSec", "10s" },
		{ "WatchdogSec", "60s" },
		{ "TimeoutStopSec", "30s" },
		{ "User", "exroll" },
		{ "Group", "exroll" },
		{ "StateDirectory", "exroll" },
		{ "StateDirectoryMode", "0750" },
		{ "RuntimeDirectory", "exroll" },
		{ "RuntimeDirectoryMode", "0750" },
		{ "RuntimeDirectoryPreserve", "no" },
		{ "ConfigurationDirectory", "exroll" },
		{ "UMask", "0077" },
	};
	struct unit u;
	size_t i;

	unit_load(&u);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(unit_has(&u, "Service", want[i][0], want[i][1]),
		    "%s: [Service] %s=%s missing (has '%s')", UNIT_PATH,
		    want[i][0], want[i][1],
		    unit_get(&u, "Service", want[i][0]) ?
		    unit_get(&u, "Service", want[i][0]) : "(none)");
	ck_assert(unit_has(&u, "Install", "WantedBy", "multi-user.target"));
	unit_free(&u);
}
END_TEST

START_TEST(unit_has_sandbox)
{
	static const char *const want[][2] = {
		{ "NoNewPrivileges", "yes" },
		{ "ProtectSystem", "strict" },
		{ "ProtectHome", "yes" },
		{ "PrivateTmp", "yes" },
		{ "PrivateDevices", "yes" },
		{ "ProtectKernelTunables", "yes" },
		{ "ProtectKernelModules", "yes" },
		{ "ProtectKernelLogs", "yes" },
		{ "ProtectControlGroups", "yes" },
		{ "ProtectClock", "yes" },
		{ "ProtectHostname", "yes" },
		{ "ProtectProc", "invisible" },
		{ "ProcSubset", "pid" },
		{ "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6" },
		{ "RestrictNamespaces", "yes" },
		{ "RestrictRealtime", "yes" },
		{ "RestrictSUIDSGID", "yes" },
		{ "LockPersonality", "yes" },
		{ "MemoryDenyWriteExecute", "yes" },
		{ "SystemCallArchitectures", "native" },
		{ "SystemCallFilter", "@system-service" },
		{ "SystemCallFilter", "~@privileged @resources" },
		{ "CapabilityBoundingSet", "" },
		{ "AmbientCapabilities", "" },
	};
	const char *v;
	struct unit u;
	size_t i;

	unit_load(&u);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(unit_has(&u, "Service", want[i][0], want[i][1]),
		    "%s: [Service] %s=%s missing", UNIT_PATH, want[i][0],
		    want[i][1]);

	/* What the sandbox must leave alone. The gateway is remote. */
	v = unit_get(&u, "Service", "IPAddressDeny");
	ck_assert_msg(v == NULL || *v == '\0',
	    "IPAddressDeny=%s would cut off the remote gateway", v);
	v = unit_get(&u, "Service", "PrivateNetwork");
	ck_assert_msg(v == NULL || strcmp(v, "no") == 0,
	    "PrivateNetwork=%s would cut off the remote gateway", v);
	/* In a private user namespace SO_PEERCRED reports every operator
	 * as 'nobody': allow_uids and allow_group could not work. */
	v = unit_get(&u, "Service", "PrivateUsers");
	ck_assert_msg(v == NULL || strcmp(v, "no") == 0,
	    "PrivateUsers=%s breaks control socket peer checks", v);
	v = unit_get(&u, "Service", "DynamicUser");
	ck_assert_msg(v == NULL || strcmp(v, "no") == 0,
	    "DynamicUser=%s: operators need a stable group 'exroll'", v);
	unit_free(&u);
}
END_TEST

/* base/DIR/file, where DIR is what the unit creates: the default state
 * file and socket of config.h land in the unit's writable directories. */
static void
ck_default_in(const struct unit *u, const char *key, const char *base,
    const char *file)
{
	const char *dir = unit_get(u, "Service", key);
	char *want;

	ck_assert_msg(dir != NULL, "[Service] %s missing", key);
	ck_assert_int_ge(asprintf(&want, "%s/%s/", base, dir), 0);
	ck_assert_msg(strncmp(file, want, strlen(want)) == 0 &&
	    strchr(file + strlen(want), '/') == NULL,
	    "default '%s' is not in %s=%s (%s)", file, key, dir, want);
	free(want);
}

START_TEST(unit_matches_config_defaults)
{
	struct unit u;

	unit_load(&u);
	ck_default_in(&u, "StateDirectory", "/var/lib", CONFIG_DEFAULT_STATE_FILE);
	ck_default_in(&u, "RuntimeDirectory", "/run", CONFIG_DEFAULT_SOCKET);
	unit_free(&u);
}
END_TEST

static char *
find_tool(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL, *p;

	dirs = strdup(path != NULL && *path != '\0' ? path :
	    "/usr/bin:/bin:/usr/sbin:/sbin");
	ck_assert_ptr_nonnull(dirs);
	for (dir = strtok_r(dirs, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		p = tu_path(dir, name);
		ck_assert_ptr_nonnull(p);
		if (access(p, X_OK) == 0) {
			free(dirs);
			return p;
		}
		free(p);
	}
	free(dirs);
	return NULL;
}

/* The end of a tool's output: Check cuts failure messages at 4 KiB. */
static const char *
tail(const char *s)
{
	size_t n = strlen(s);

	return n > 2000 ? s + n - 2000 : s;
}

/* Runs argv to its end (bounded) with output to dir/log; returns the exit
 * status and the output (malloc'd) in *out. */
static int
run(const char *dir, const char *log, char *const argv[], char **out)
{
	struct tu_proc p;
	char *logpath = tu_path(dir, log);
	int st;

	ck_assert_ptr_nonnull(logpath);
	ck_assert_int_eq(tu_spawn(&p, logpath, argv), 0);
	ck_assert_msg(tu_kill_wait(&p, 0, tu_ms(30000)),
	    "'%s' did not finish within 30 s", argv[0]);
	st = p.status;
	*out = tu_proc_output(&p);
	tu_proc_free(&p);
	free(logpath);
	ck_assert_msg(WIFEXITED(st), "'%s' died: %s", argv[0], *out);
	return WEXITSTATUS(st);
}

/* A copy of the unit whose ExecStart names an executable stand-in (verify
 * insists the binary exists); nothing else changes. Returns its path. */
static char *
unit_copy(const char *dir)
{
	struct unit u;
	char *stub = tu_path(dir, "exrolld"), *unit = tu_path(dir, "exrolld.service");
	char *at, *text;
	size_t pre;

	ck_assert_int_eq(tu_write_file(stub, "#!/bin/sh\nexit 0\n"), 0);
	ck_assert_int_eq(chmod(stub, 0755), 0);
	unit_load(&u);
	at = strstr(u.text, UNIT_EXEC);
	ck_assert_msg(at != NULL && strstr(at + 1, UNIT_EXEC) == NULL,
	    "expected one '%s' line", UNIT_EXEC);
	pre = (size_t)(at - u.text);
	ck_assert_int_ge(asprintf(&text, "%.*sExecStart=%s %s", (int)pre,
	    u.text, stub, at + strlen(UNIT_EXEC)), 0);
	ck_assert_int_eq(tu_write_file(unit, text), 0);
	free(text);
	free(stub);
	unit_free(&u);
	return unit;
}

START_TEST(systemd_analyze_verify)
{
	char *tool = find_tool("systemd-analyze"), *dir, *unit, *out;
	int rc;

	if (tool == NULL) {
		printf("test_systemd_files: skipped 'systemd-analyze verify': "
		    "systemd-analyze not in PATH (install systemd)\n");
		return;
	}
	dir = tu_tmpdir("systemd");
	ck_assert_ptr_nonnull(dir);
	unit = unit_copy(dir);
	{
		char *argv[] = { tool, "verify", "--man=no", unit, NULL };

		rc = run(dir, "verify.log", argv, &out);
	}
	/* Unknown or misspelt keys are only warnings: any line naming the
	 * unit fails the test as well as a non-zero exit. */
	ck_assert_msg(rc == 0 && strstr(out, "exrolld.service") == NULL,
	    "systemd-analyze verify %s: exit %d:\n%s", UNIT_PATH, rc, tail(out));
	free(out);
	tu_rmrf(dir);
	free(dir);
	free(unit);
	free(tool);
}
END_TEST

START_TEST(systemd_analyze_security)
{
	char *tool = find_tool("systemd-analyze"), *dir, *unit, *out;
	int rc;

	if (tool == NULL) {
		printf("test_systemd_files: skipped 'systemd-analyze security': "
		    "systemd-analyze not in PATH (install systemd)\n");
		return;
	}
	dir = tu_tmpdir("systemd");
	ck_assert_ptr_nonnull(dir);
	unit = unit_copy(dir);
	{
		/* Exposure is on a 0-100 scale here: 25 is the "2.5" shown.
		 * The unit scores 1.4 with systemd 252; the margin absorbs
		 * checks newer versions add. */
		char *argv[] = { tool, "security", "--offline=yes",
		    "--threshold=25", unit, NULL };

		rc = run(dir, "security.log", argv, &out);
	}
	if (rc != 0 && strstr(out, "Overall exposure") == NULL) {
		/* systemd before 250 has no --offline. */
		printf("test_systemd_files: skipped 'systemd-analyze security "
		    "--offline': not supported here: %.200s\n", out);
	} else
		ck_assert_msg(rc == 0, "exposure above 2.5:\n%s", tail(out));
	free(out);
	tu_rmrf(dir);
	free(dir);
	free(unit);
	free(tool);
}
END_TEST

/* The tmpfiles text has "d PATH 0750 exroll exroll". */
static void
ck_tmpfiles_line(const char *text, const char *path)
{
	char type[8], p[256], mode[8], user[32], group[32];
	const char *line;

	for (line = text; line != NULL && *line != '\0';
	    line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (sscanf(line, "%7s %255s %7s %31s %31s", type, p, mode,
		    user, group) != 5 || strcmp(p, path) != 0)
			continue;
		ck_assert_msg(strcmp(type, "d") == 0 &&
		    strcmp(mode, "0750") == 0 && strcmp(user, "exroll") == 0 &&
		    strcmp(group, "exroll") == 0,
		    "tmpfiles: %s is '%s %s %s %s'", path, type, mode, user,
		    group);
		return;
	}
	ck_abort_msg("tmpfiles: no line for %s", path);
}

/* Installs sysusers and tmpfiles snippets into an empty root and runs the
 * real tools on it: user and group exroll, home /var/lib/exroll, and both
 * directories 0750 exroll:exroll. */
START_TEST(sysusers_and_tmpfiles)
{
	char *sysusers = find_tool("systemd-sysusers");
	char *tmpfiles = find_tool("systemd-tmpfiles");
	char *dir, *root, *p, *text, *out, *src;
	struct stat st;
	static const char *const mk[] = { "etc", "usr", "usr/lib",
	    "usr/lib/sysusers.d", "usr/lib/tmpfiles.d" };
	size_t i;
	int rc;

	/* The snippets themselves, whatever tools there are. */
	src = tu_src_path("systemd/exroll.tmpfiles");
	text = tu_read_file(src);
	ck_assert_msg(text != NULL, "cannot read '%s'", src);
	ck_tmpfiles_line(text, "/var/lib/exroll");
	ck_tmpfiles_line(text, "/run/exroll");
	free(text);
	free(src);

	if (sysusers == NULL || tmpfiles == NULL) {
		printf("test_systemd_files: skipped running systemd-sysusers/"
		    "systemd-tmpfiles: not in PATH (install systemd)\n");
		goto out;
	}
	dir = tu_tmpdir("sysusers");
	ck_assert_ptr_nonnull(dir);
	root = tu_path(dir, "root");
	ck_assert_int_eq(mkdir(root, 0755), 0);
	for (i = 0; i < sizeof(mk) / sizeof(mk[0]); i++) {
		p = tu_path(root, mk[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		free(p);
	}
	src = tu_src_path("systemd/exroll.sysusers");
	text = tu_read_file(src);
	ck_assert_ptr_nonnull(text);
	p = tu_path(root, "usr/lib/sysusers.d/exroll.conf");
	ck_assert_int_eq(tu_write_file(p, text), 0);
	free(p);
	free(text);
	free(src);
	src = tu_src_path("systemd/exroll.tmpfiles");
	text = tu_read_file(src);
	ck_assert_ptr_nonnull(text);
	p = tu_path(root, "usr/lib/tmpfiles.d/exroll.conf");
	ck_assert_int_eq(tu_write_file(p, text), 0);
	free(p);
	free(text);
	free(src);

	{
		char *argv[] = { sysusers, NULL, NULL };

		ck_assert_int_ge(asprintf(&argv[1], "--root=%s", root), 0);
		rc = run(dir, "sysusers.log", argv, &out);
		free(argv[1]);
	}
	ck_assert_msg(rc == 0, "systemd-sysusers: exit %d:\n%s", rc, out);
	free(out);
	p = tu_path(root, "etc/passwd");
	text = tu_read_file(p);
	ck_assert_msg(text != NULL && strncmp(text, "exroll:x:", 9) == 0 &&
	    strstr(text, ":exroll rolling upgrade daemon:/var/lib/exroll:") != NULL,
	    "passwd: %s", text ? text : "(none)");
	free(text);
	free(p);
	p = tu_path(root, "etc/group");
	text = tu_read_file(p);
	ck_assert_msg(text != NULL && strncmp(text, "exroll:x:", 9) == 0,
	    "group: %s", text ? text : "(none)");
	free(text);
	free(p);

	if (geteuid() != 0) {
		/* Creating exroll-owned directories needs chown(). */
		printf("test_systemd_files: skipped running systemd-tmpfiles: "
		    "not root\n");
	} else {
		char *argv[] = { tmpfiles, NULL, "--create", NULL };
		static const char *const dirs[] = { "var/lib/exroll", "run/exroll" };

		ck_assert_int_ge(asprintf(&argv[1], "--root=%s", root), 0);
		rc = run(dir, "tmpfiles.log", argv, &out);
		free(argv[1]);
		ck_assert_msg(rc == 0, "systemd-tmpfiles: exit %d:\n%s", rc, out);
		free(out);
		for (i = 0; i < 2; i++) {
			p = tu_path(root, dirs[i]);
			ck_assert_msg(stat(p, &st) == 0, "%s: %s", dirs[i],
			    strerror(errno));
			ck_assert_msg(S_ISDIR(st.st_mode) &&
			    (st.st_mode & 07777) == 0750 && st.st_uid != 0 &&
			    st.st_gid != 0, "%s: mode %o owner %d:%d", dirs[i],
			    (unsigned)(st.st_mode & 07777), (int)st.st_uid,
			    (int)st.st_gid);
			free(p);
		}
	}
	tu_rmrf(dir);
	free(dir);
	free(root);
out:
	free(sysusers);
	free(tmpfiles);
}
END_TEST

static Suite *
systemd_files_suite(void)
{
	Suite *s = suite_create("systemd_files");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, unit_has_service_settings);
	tcase_add_test(tc, unit_has_sandbox);
	tcase_add_test(tc, unit_matches_config_defaults);
	tcase_add_test(tc, systemd_analyze_verify);
	tcase_add_test(tc, systemd_analyze_security);
	tcase_add_test(tc, sysusers_and_tmpfiles);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* Skip notes come from forked tests: line-buffer them into the log. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return tu_run(systemd_files_suite());
}
