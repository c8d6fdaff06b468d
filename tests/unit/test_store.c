/*
 * test_store — the state file, on real files in a temporary directory:
 * opening and migrating, refusing what is not ours or is damaged, the lock
 * between two processes, the one-transaction rule (a state and its event
 * are stored together or not at all), the inventory check on later starts,
 * jobs in flight coming back to the outbox byte for byte, and events with
 * their data, including a state file of schema 1 migrated to 2.
 *
 * The tests read the file with their own SQLite connection, so they check
 * what is on disk, not what the store says it wrote.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "model.h"
#include "plan.h"
#include "store.h"
#include "testutil.h"

#define APP_ID 0x45585231	/* "EXR1", as store.c sets it */
#define T0 INT64_C(1795000000000)

static char *dir;
static char *db;

static void
setup(void)
{
	dir = tu_tmpdir("store");
	ck_assert_ptr_nonnull(dir);
	db = tu_path(dir, "state.db");
	ck_assert_ptr_nonnull(db);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	free(db);
	dir = db = NULL;
}

/*
 * Configurations. SERVERS() is the usual inventory: a CAS, a Hub and a CCR
 * pair, which the tests vary one difference at a time.
 */
#define SRV(n, r) "{\"name\": \"" n "\", \"roles\": [" r "]}"
#define CMS(n, a, b) \
	"{\"name\": \"" n "\", \"type\": \"CCR\", \"nodes\": [\"" a "\", \"" b "\"]}"
#define CFG(target, servers, clusters) \
	"{\"target_version\": \"" target "\", \"servers\": [" servers "], " \
	"\"clusters\": [" clusters "]}"

static const char base_cfg[] = CFG("8.1.240.6",
    SRV("CAS01", "\"ClientAccess\"") ", "
    SRV("HUB01", "\"HubTransport\"") ", "
    SRV("MBX1A", "\"Mailbox\"") ", "
    SRV("MBX1B", "\"Mailbox\""),
    CMS("CMS1", "MBX1A", "MBX1B"));

static struct config *
cfg_make(const char *json)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	char *path = tu_path(dir, "exroll.json");
	int rc;

	ck_assert_int_eq(tu_write_file(path, json), 0);
	rc = config_load(path, &cfg, &errs);
	if (rc != 0)
		ck_abort_msg("config_load: %s", errs.n > 0 ? errs.msg[0] : "?");
	config_errors_free(&errs);
	free(path);
	return cfg;
}

/* The model of cfg's inventory; waves do not matter to the store. */
static void
model_make(struct model *m, const struct config *cfg)
{
	struct plan none = { 0 };

	ck_assert_int_eq(model_init(m, cfg, &none), 0);
}

static struct store *
open_ok(void)
{
	struct store *s = NULL;
	char err[512] = "";
	int rc = store_open(db, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %d %s", rc, err);
	return s;
}

/* Opens and loads cfg's model: the daemon's start. */
static struct store *
start(const struct config *cfg, struct model *m)
{
	struct store *s = open_ok();
	char err[1024] = "";
	int rc;

	model_make(m, cfg);
	rc = store_load(s, cfg, m, err, sizeof(err));
	ck_assert_msg(rc == 0, "store_load: %d %s", rc, err);
	return s;
}

static void
commit_ok(struct store *s, struct model *m)
{
	ck_assert_int_eq(store_commit(s, m), 0);
	model_after_commit(m, NULL, NULL);
}

/*
 * The test's own view of the file.
 */
static sqlite3 *
raw_open(void)
{
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(h, tu_ms(5000));
	return h;
}

static void
raw_exec(sqlite3 *h, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		ck_abort_msg("%s: %s", sql, msg);
}

static int64_t
raw_int(const char *sql)
{
	sqlite3 *h = raw_open();
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* First column of the first row as text (malloc'd), or NULL. */
static char *
raw_text(const char *sql)
{
	sqlite3 *h = raw_open();
	sqlite3_stmt *st;
	char *v = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* store_open must fail with rc and a message containing want. */
static void
open_fails(int want_rc, const char *want)
{
	struct store *s = NULL;
	char err[512] = "";
	int rc = store_open(db, &s, err, sizeof(err));

	ck_assert_msg(rc == want_rc, "store_open: got %d (%s), want %d", rc,
	    err, want_rc);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}

static void
write_bytes(const char *path, off_t off, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

/* Deterministic noise. */
static void
noise(unsigned char *buf, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

/*
 * Opening and migrations.
 */

START_TEST(migrates_from_empty)
{
	struct store *s = open_ok();
	struct stat st;
	char *lock = tu_path(dir, "state.db.lock"), *pid, want[32];
	const char *tables[] = { "rollout", "servers", "clusters", "jobs",
	    "events" };

	/* The lock file names us while we hold it; both files are private. */
	pid = tu_read_file(lock);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_str_eq(pid, want);
	ck_assert_int_eq(stat(lock, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(db, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	store_close(s);

	/* Straight from nothing to the latest schema, 2: every migration
	 * applied, events with their data column. */
	ck_assert_int_eq(store_schema_latest(), 2);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_table_info("
	    "'events') WHERE name = 'data'"), 1);
	ck_assert_int_eq(raw_int("PRAGMA application_id"), APP_ID);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master "
		    "WHERE type = 'table' AND name = '%s'", tables[i]);
		ck_assert_msg(raw_int(sql) == 1, "no table %s", tables[i]);
	}
	char *mode = raw_text("PRAGMA journal_mode");
	ck_assert_str_eq(mode, "wal");
	free(mode);

	/* Re-opening applies nothing (migration 1 again would fail on its
	 * CREATE TABLE) and keeps the schema. */
	int64_t objects = raw_int("SELECT count(*) FROM sqlite_master");
	s = open_ok();
	store_close(s);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_master"), objects);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), store_schema_latest());
	free(pid);
	free(lock);
}
END_TEST

START_TEST(refuses_newer_schema)
{
	sqlite3 *h;

	store_close(open_ok());
	h = raw_open();
	raw_exec(h, "PRAGMA user_version = 3");
	sqlite3_close(h);
	open_fails(-EPROTO, "was written by a newer exroll (schema 3, this "
	    "build knows 2)");
	/* Refused, and left alone. */
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 3);
}
END_TEST

/*
 * A state file of schema 1, made here the way exroll 1 made it: the SQL of
 * schema/001_initial.sql as it is in the source tree, application_id and
 * user_version 1, a rollout with its inventory and two events without
 * data, and CAS01 in its precheck.
 */
static void
make_schema1_file(void)
{
	char *path = tu_src_path("schema/001_initial.sql");
	char *sql = tu_read_file(path), app[96], rows[2048];
	sqlite3 *h = NULL;

	ck_assert_msg(sql != NULL, "cannot read %s", path);
	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	raw_exec(h, "PRAGMA journal_mode = WAL; BEGIN IMMEDIATE");
	raw_exec(h, sql);
	snprintf(app, sizeof(app), "PRAGMA application_id = %d; "
	    "PRAGMA user_version = 1", APP_ID);
	raw_exec(h, app);
	snprintf(rows, sizeof(rows),
	    "INSERT INTO servers (name, roles, cluster) VALUES"
	    "  ('CAS01', 'ClientAccess', NULL), ('HUB01', 'HubTransport', NULL),"
	    "  ('MBX1A', 'Mailbox', 'CMS1'), ('MBX1B', 'Mailbox', 'CMS1');"
	    "INSERT INTO clusters (name, node_a, node_b)"
	    "  VALUES ('CMS1', 'MBX1A', 'MBX1B');"
	    "INSERT INTO rollout (id, state, pause_cause, nonce, job_seq,"
	    "  target_version, created_at, updated_at)"
	    "  VALUES (1, 'running', 'none', '0123456789ab', 0, '8.1.240.6',"
	    "  %lld, %lld);"
	    "INSERT INTO events (time, kind, subject, message, actor)"
	    "  VALUES (%lld, 'rollout.created', 'rollout', 'rollout created: "
	    "4 servers, 1 cluster, target 8.1.240.6', 'exrolld');"
	    "UPDATE servers SET state = 'running', phase = 'precheck',"
	    "  started_at = %lld, phase_started_at = %lld WHERE name = 'CAS01';"
	    "INSERT INTO events (time, kind, subject, message, actor)"
	    "  VALUES (%lld, 'server.state', 'CAS01', 'pending -> precheck: "
	    "started', 'exrolld');",
	    (long long)T0, (long long)T0, (long long)T0, (long long)T0 + 1,
	    (long long)T0 + 1, (long long)T0 + 1);
	raw_exec(h, rows);
	raw_exec(h, "COMMIT");
	sqlite3_close(h);
	free(sql);
	free(path);
}

START_TEST(migrates_from_version_1)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s;
	json_t *evs, *ev, *d;
	char *text;
	sqlite3 *h;
	int rc;

	make_schema1_file();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_table_info("
	    "'events') WHERE name = 'data'"), 0);

	/* The daemon's start: migration 2, then the stored rollout. */
	s = start(cfg, &m);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 2);
	ck_assert_int_eq(raw_int("PRAGMA application_id"), APP_ID);
	ck_assert_str_eq(m.rollout.nonce, "0123456789ab");
	ck_assert_int_eq(model_server(&m, "CAS01")->state, SERVER_RUNNING);
	ck_assert_int_eq(model_server(&m, "CAS01")->phase, PHASE_PRECHECK);
	ck_assert_ptr_null(m.events);	/* nothing new was created */

	/* The old events, intact, without data: nothing is made up. */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE "
	    "data IS NULL"), 2);
	evs = store_events(s, 0, 0);
	ck_assert_int_eq(json_array_size(evs), 2);
	ev = json_array_get(evs, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "seq")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "kind")),
	    "server.state");
	ck_assert_str_eq(json_string_value(json_object_get(ev, "message")),
	    "pending -> precheck: started");
	ck_assert_str_eq(json_string_value(json_object_get(ev, "time")),
	    "2026-11-18T11:06:40.001Z");
	ck_assert(json_is_null(json_object_get(ev, "data")));
	json_decref(evs);

	/* New events carry their data, in the same commit as their state. */
	model_server(&m, "CAS01")->phase = PHASE_INSTALL;
	model_touch(&m, &model_server(&m, "CAS01")->dirty);
	ck_assert_int_eq(model_event_data(&m, T0 + 5, "server.phase", "CAS01",
	    "exrolld", json_pack("{s:s, s:s, s:s, s:s, s:s}", "from_state",
	    "running", "from_phase", "precheck", "to_state", "running",
	    "to_phase", "install", "job", "exr-0123456789ab-00000001"),
	    "precheck -> install: setup started"), 0);
	commit_ok(s, &m);
	text = raw_text("SELECT data FROM events WHERE seq = 3");
	ck_assert_str_eq(text, "{\"from_state\":\"running\",\"from_phase\":"
	    "\"precheck\",\"to_state\":\"running\",\"to_phase\":\"install\","
	    "\"job\":\"exr-0123456789ab-00000001\"}");
	free(text);
	text = raw_text("SELECT phase FROM servers WHERE name = 'CAS01'");
	ck_assert_str_eq(text, "install");
	free(text);
	evs = store_events(s, 2, 0);
	ck_assert_int_eq(json_array_size(evs), 1);
	d = json_object_get(json_array_get(evs, 0), "data");
	ck_assert(json_is_object(d));
	ck_assert_str_eq(json_string_value(json_object_get(d, "to_phase")),
	    "install");
	json_decref(evs);

	/* The column keeps its promise whoever writes: a JSON object or
	 * nothing; and the log stays append-only, old rows included. */
	h = raw_open();
	rc = sqlite3_exec(h, "INSERT INTO events (time, kind, subject, message,"
	    " actor, data) VALUES (1, 'x', 'y', 'z', 'w', '[1]')", NULL, NULL,
	    NULL);
	ck_assert_int_eq(rc, SQLITE_CONSTRAINT);
	rc = sqlite3_exec(h, "INSERT INTO events (time, kind, subject, message,"
	    " actor, data) VALUES (1, 'x', 'y', 'z', 'w', '{\"a\":')", NULL,
	    NULL, NULL);
	ck_assert_int_eq(rc, SQLITE_CONSTRAINT);
	rc = sqlite3_exec(h, "UPDATE events SET data = '{}' WHERE seq = 1",
	    NULL, NULL, NULL);
	ck_assert_int_ne(rc, SQLITE_OK);
	ck_assert_ptr_nonnull(strstr(sqlite3_errmsg(h), "append-only"));
	sqlite3_close(h);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM events"), 3);

	/* Opening again applies nothing more. */
	store_close(s);
	model_free(&m);
	s = start(cfg, &m);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 2);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}
END_TEST

/* Another program's database is refused, and left exactly as it was. */
START_TEST(refuses_foreign_database)
{
	struct stat st1, st2;
	char *before, *after;
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	raw_exec(h, "PRAGMA application_id = 305419896;"	/* 0x12345678 */
	    "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
	sqlite3_close(h);
	ck_assert_int_eq(stat(db, &st1), 0);
	before = tu_read_file(db);
	open_fails(-EPROTO, "is not an exroll state file (application_id "
	    "0x12345678");
	ck_assert_int_eq(stat(db, &st2), 0);
	ck_assert_int_eq(st1.st_size, st2.st_size);
	after = tu_read_file(db);
	ck_assert_mem_eq(before, after, (size_t)st1.st_size);
	free(before);
	free(after);

	/* No application_id at all, but tables: not ours either. */
	unlink(db);
	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	raw_exec(h, "CREATE TABLE t (x);");
	sqlite3_close(h);
	open_fails(-EPROTO, "is not an exroll state file");
}
END_TEST

/* A migration that fails half-way leaves nothing of itself. The file is
 * ours (application_id) but already has a table migration 1 creates after
 * several others. */
START_TEST(failed_migration_rolls_back)
{
	char sql[128];
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; "
	    "CREATE TABLE jobs (x);", APP_ID);
	raw_exec(h, sql);
	sqlite3_close(h);
	open_fails(-EIO, "migration 1 (001_initial) failed: table jobs already "
	    "exists");
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_master"), 1);
}
END_TEST

START_TEST(refuses_garbage_file)
{
	unsigned char junk[8192], back[8192];
	int fd;

	noise(junk, sizeof(junk), 42);
	write_bytes(db, 0, junk, sizeof(junk));
	open_fails(-EPROTO, "is not an SQLite database");
	fd = open(db, O_RDONLY);
	ck_assert_int_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	ck_assert_mem_eq(junk, back, sizeof(junk));
}
END_TEST

/* A damaged page: quick_check names it and the file is refused. */
START_TEST(refuses_corrupt_page)
{
	struct config *cfg = cfg_make(base_cfg);
	unsigned char junk[4096];
	struct model m;
	struct store *s = start(cfg, &m);
	int64_t pages;

	store_close(s);
	model_free(&m);
	pages = raw_int("PRAGMA page_count");
	ck_assert_int_gt(pages, 4);
	/* Page 1 is the schema; a data page in the middle gets noise. */
	noise(junk, sizeof(junk), 7);
	write_bytes(db, (off_t)(pages / 2) * 4096, junk, sizeof(junk));
	open_fails(-EPROTO, "failed its integrity check: Page ");

	/* A truncated file: pages the header counts are missing. */
	ck_assert_int_eq(truncate(db, 2 * 4096), 0);
	open_fails(-EPROTO, "is corrupt (database disk image is malformed)");
	config_free(cfg);
}
END_TEST

/*
 * The lock: a second daemon on the same file is refused, naming the first.
 */
static bool
child_ready(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

START_TEST(lock_excludes_second_daemon)
{
	int ready[2], go[2], status;
	char want[64], c;
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *s = NULL;
		char err[256];

		close(ready[0]);
		close(go[1]);
		if (store_open(db, &s, err, sizeof(err)) != 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		/* Holds the store until the parent closes its end. */
		while (read(go[0], &c, 1) > 0)
			;
		store_close(s);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	ck_assert_msg(tu_wait(child_ready, &ready[0], tu_ms(10000)),
	    "the child never opened the store");
	ck_assert_int_eq(read(ready[0], &c, 1), 1);

	snprintf(want, sizeof(want), "is in use by another exrolld (pid %ld)",
	    (long)pid);
	open_fails(-EWOULDBLOCK, want);
	open_fails(-EWOULDBLOCK, db);

	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %d", status);
	store_close(open_ok());
	close(ready[0]);
}
END_TEST

/*
 * The transaction rule.
 */

/* The first start stores the inventory and says so in an event. */
START_TEST(first_start_creates_rollout)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	json_t *evs = store_events(s, 0, 0), *ev;

	ck_assert_int_eq(strlen(m.rollout.nonce), 12);
	ck_assert_int_eq(strspn(m.rollout.nonce, "0123456789abcdef"), 12);
	ck_assert_ptr_null(m.dirty);
	ck_assert_ptr_null(m.events);
	ck_assert_int_eq(json_array_size(evs), 1);
	ev = json_array_get(evs, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "seq")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "kind")),
	    "rollout.created");
	ck_assert_str_eq(json_string_value(json_object_get(ev, "subject")),
	    "rollout");
	ck_assert_str_eq(json_string_value(json_object_get(ev, "actor")),
	    "exrolld");
	ck_assert_str_eq(json_string_value(json_object_get(ev, "message")),
	    "rollout created: 4 servers, 1 cluster, target 8.1.240.6");
	/* The same facts as data, for programs. */
	{
		json_t *want = json_pack("{s:i, s:i, s:s}", "servers", 4,
		    "clusters", 1, "target_version", "8.1.240.6");

		ck_assert(json_equal(json_object_get(ev, "data"), want));
		json_decref(want);
	}
	json_decref(evs);
	store_close(s);
	model_free(&m);

	/* Real rows, the inventory included. */
	char *v = raw_text("SELECT roles FROM servers WHERE name = 'cas01'");
	ck_assert_str_eq(v, "ClientAccess");
	free(v);
	v = raw_text("SELECT cluster FROM servers WHERE name = 'MBX1B'");
	ck_assert_str_eq(v, "CMS1");
	free(v);
	v = raw_text("SELECT node_a || ',' || node_b FROM clusters");
	ck_assert_str_eq(v, "MBX1A,MBX1B");
	free(v);
	v = raw_text("SELECT state || ',' || target_version FROM rollout");
	ck_assert_str_eq(v, "running,8.1.240.6");
	free(v);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM servers WHERE "
	    "cluster IS NULL"), 2);
	config_free(cfg);
}
END_TEST

/* A server's move to install and its event: both there after a restart. */
static void
server_to_install(struct model *m)
{
	struct server *srv = model_server(m, "CAS01");

	srv->state = SERVER_RUNNING;
	srv->phase = PHASE_INSTALL;
	srv->started_at = T0;
	srv->phase_started_at = T0 + 5;
	srv->attempts = 1;
	srv->has_version = true;
	version_parse("8.0.685.24", &srv->version);
	model_touch(m, &srv->dirty);
	ck_assert_int_eq(model_event(m, T0 + 5, "server.phase", "CAS01",
	    "exrolld", "precheck -> install (%s)", "8.0.685.24"), 0);
}

START_TEST(commit_survives_restart)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	char nonce[13];
	struct server *srv;
	json_t *evs;

	memcpy(nonce, m.rollout.nonce, sizeof(nonce));
	server_to_install(&m);
	ck_assert_int_eq(store_commit(s, &m), 0);
	ck_assert_int_eq(m.events->seq, 2);
	model_after_commit(&m, NULL, NULL);
	store_close(s);
	model_free(&m);

	s = start(cfg, &m);
	srv = model_server(&m, "CAS01");
	ck_assert_str_eq(m.rollout.nonce, nonce);
	ck_assert_int_eq(srv->state, SERVER_RUNNING);
	ck_assert_int_eq(srv->phase, PHASE_INSTALL);
	ck_assert_int_eq(srv->attempts, 1);
	ck_assert_int_eq(srv->started_at, T0);
	ck_assert_int_eq(srv->phase_started_at, T0 + 5);
	ck_assert_int_eq(srv->finished_at, 0);
	ck_assert(srv->has_version);
	ck_assert_int_eq(srv->version.part[1], 0);
	ck_assert_int_eq(srv->version.part[2], 685);
	ck_assert_int_eq(model_server(&m, "HUB01")->state, SERVER_PENDING);

	evs = store_events(s, 1, 0);
	ck_assert_int_eq(json_array_size(evs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(evs, 0), "message")), "precheck -> install "
	    "(8.0.685.24)");
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(evs, 0), "time")), "2026-11-18T11:06:40.005Z");
	json_decref(evs);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}
END_TEST

/* The state is written, then the event fails (a trigger another connection
 * planted): neither may remain. */
START_TEST(failed_commit_leaves_nothing)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	sqlite3 *h = raw_open();

	raw_exec(h, "CREATE TRIGGER fail_events BEFORE INSERT ON events "
	    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
	server_to_install(&m);
	ck_assert_int_eq(store_commit(s, &m), -EIO);
	ck_assert_int_eq(m.events->seq, 0);
	raw_exec(h, "DROP TRIGGER fail_events");
	sqlite3_close(h);
	store_close(s);
	model_free(&m);

	ck_assert_int_eq(raw_int("SELECT count(*) FROM events"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM servers WHERE "
	    "state <> 'pending'"), 0);
	s = start(cfg, &m);
	ck_assert_int_eq(model_server(&m, "CAS01")->state, SERVER_PENDING);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}
END_TEST

/* A write error in the middle of a commit (the file size limit makes the
 * WAL append fail): -EIO, and the file is as before. */
START_TEST(write_error_leaves_nothing)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	struct rlimit old, lim;
	struct stat st;
	char *wal = tu_path(dir, "state.db-wal"), *big;
	off_t most = 0;
	void (*old_xfsz)(int);
	int rc;

	if (stat(db, &st) == 0)
		most = st.st_size;
	if (stat(wal, &st) == 0 && st.st_size > most)
		most = st.st_size;
	server_to_install(&m);
	big = malloc(1 << 20);
	memset(big, 'x', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	model_server(&m, "CAS01")->last_error = big;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)most + 16384;
	old_xfsz = signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = store_commit(s, &m);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, old_xfsz);
	ck_assert_int_eq(rc, -EIO);
	store_close(s);
	model_free(&m);

	s = start(cfg, &m);
	ck_assert_int_eq(model_server(&m, "CAS01")->state, SERVER_PENDING);
	ck_assert_ptr_null(model_server(&m, "CAS01")->last_error);
	json_t *evs = store_events(s, 0, 0);
	ck_assert_int_eq(json_array_size(evs), 1);
	json_decref(evs);
	store_close(s);
	model_free(&m);
	config_free(cfg);
	free(wal);
}
END_TEST

START_TEST(events_since_and_limit)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	json_t *evs, *one;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(model_event(&m, T0 + i, "test.tick", "HUB01",
		    "uid 1000 (alice)", "tick %d", i), 0);
	/* Data must be an object; NULL is a builder out of memory. */
	ck_assert_int_eq(model_event_data(&m, T0, "test.tick", "HUB01", "x",
	    json_integer(4), "tick"), -EINVAL);
	ck_assert_int_eq(model_event_data(&m, T0, "test.tick", "HUB01", "x",
	    NULL, "tick"), -ENOMEM);
	/* A reason cut in the middle of a UTF-8 sequence still makes valid
	 * data: model_json_text() replaces what is not UTF-8. */
	ck_assert_int_eq(model_event_data(&m, T0 + 4, "test.tick", "HUB01",
	    "uid 1000 (alice)", json_pack("{s:i, s:o}", "tick", 4, "note",
	    model_json_text("caf\xc3")), "tick %d", 4), 0);
	ck_assert_int_eq(store_commit(s, &m), 0);
	/* store_event_json shows a queued event as store_events shows it,
	 * data included. */
	one = store_event_json(m.events_tail);
	ck_assert_int_eq(json_integer_value(json_object_get(one, "seq")), 6);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(one,
	    "data"), "note")), "caf?");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    one, "data"), "tick")), 4);
	ck_assert_str_eq(json_string_value(json_object_get(one, "time")),
	    "2026-11-18T11:06:40.004Z");
	model_after_commit(&m, NULL, NULL);

	evs = store_events(s, 2, 2);
	ck_assert_int_eq(json_array_size(evs), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_array_get(evs, 0), "seq")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(evs, 1), "message")), "tick 2");
	json_decref(evs);
	evs = store_events(s, 5, 0);
	ck_assert_int_eq(json_array_size(evs), 1);
	ck_assert(json_equal(json_array_get(evs, 0), one));
	json_decref(evs);
	evs = store_events(s, 6, 0);
	ck_assert_int_eq(json_array_size(evs), 0);
	json_decref(evs);
	json_decref(one);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}
END_TEST

/*
 * The inventory check.
 */

/* Loading cfg_json over the base rollout must fail with -EEXIST and name
 * every one of want (NULL-terminated). */
static void
load_refused(const char *cfg_json, const char *const *want)
{
	struct config *cfg = cfg_make(cfg_json);
	struct store *s = open_ok();
	char err[2048] = "";
	struct model m;

	model_make(&m, cfg);
	ck_assert_int_eq(store_load(s, cfg, &m, err, sizeof(err)), -EEXIST);
	for (; *want != NULL; want++)
		ck_assert_msg(strstr(err, *want) != NULL, "'%s' lacks '%s'",
		    err, *want);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}

static void
base_rollout(void)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;

	store_close(start(cfg, &m));
	model_free(&m);
	config_free(cfg);
}

START_TEST(inventory_server_missing)
{
	base_rollout();
	load_refused(CFG("8.1.240.6",
	    SRV("CAS01", "\"ClientAccess\"") ", "
	    SRV("MBX1A", "\"Mailbox\"") ", "
	    SRV("MBX1B", "\"Mailbox\""),
	    CMS("CMS1", "MBX1A", "MBX1B")),
	    (const char *const[]){ "the configuration's inventory differs "
	    "from the stored rollout: server 'HUB01' is missing from the "
	    "configuration. Start a new rollout with a new state_file, or "
	    "restore the original inventory.", NULL });
}
END_TEST

START_TEST(inventory_server_added)
{
	base_rollout();
	load_refused(CFG("8.1.240.6",
	    SRV("CAS01", "\"ClientAccess\"") ", "
	    SRV("HUB01", "\"HubTransport\"") ", "
	    SRV("HUB03", "\"HubTransport\"") ", "
	    SRV("MBX1A", "\"Mailbox\"") ", "
	    SRV("MBX1B", "\"Mailbox\""),
	    CMS("CMS1", "MBX1A", "MBX1B")),
	    (const char *const[]){ "server 'HUB03' is not in the stored "
	    "rollout", NULL });
}
END_TEST

START_TEST(inventory_roles_changed)
{
	base_rollout();
	load_refused(CFG("8.1.240.6",
	    SRV("CAS01", "\"HubTransport\", \"ClientAccess\"") ", "
	    SRV("HUB01", "\"HubTransport\"") ", "
	    SRV("MBX1A", "\"Mailbox\"") ", "
	    SRV("MBX1B", "\"Mailbox\""),
	    CMS("CMS1", "MBX1A", "MBX1B")),
	    (const char *const[]){ "server 'CAS01' roles differ (stored "
	    "ClientAccess, configured ClientAccess, HubTransport)", NULL });
}
END_TEST

/* Everything at once, clusters included: every difference is named. */
START_TEST(inventory_every_difference)
{
	base_rollout();
	load_refused(CFG("8.1.240.6",
	    SRV("CAS01", "\"ClientAccess\", \"HubTransport\"") ", "
	    SRV("HUB03", "\"HubTransport\"") ", "
	    SRV("MBX1A", "\"Mailbox\"") ", "
	    SRV("MBX1C", "\"Mailbox\"") ", "
	    SRV("MBX2A", "\"Mailbox\"") ", "
	    SRV("MBX2B", "\"Mailbox\""),
	    CMS("CMS1", "MBX1A", "MBX1C") ", " CMS("CMS2", "MBX2A", "MBX2B")),
	    (const char *const[]){
		"server 'CAS01' roles differ",
		"server 'HUB01' is missing from the configuration",
		"server 'MBX1B' is missing from the configuration",
		"server 'HUB03' is not in the stored rollout",
		"server 'MBX1C' is not in the stored rollout",
		"server 'MBX2A' is not in the stored rollout",
		"cluster 'CMS1' nodes differ (stored MBX1A, MBX1B, configured "
		"MBX1A, MBX1C)",
		"cluster 'CMS2' is not in the stored rollout",
		"Start a new rollout", NULL });
}
END_TEST

START_TEST(inventory_target_changed)
{
	base_rollout();
	load_refused(CFG("8.2.176.2",
	    SRV("CAS01", "\"ClientAccess\"") ", "
	    SRV("HUB01", "\"HubTransport\"") ", "
	    SRV("MBX1A", "\"Mailbox\"") ", "
	    SRV("MBX1B", "\"Mailbox\""),
	    CMS("CMS1", "MBX1A", "MBX1B")),
	    (const char *const[]){ "target_version 8.2.176.2 differs from the "
	    "stored rollout's 8.1.240.6", NULL });
}
END_TEST

/* Names compare as Windows compares them; node order is not identity. */
START_TEST(inventory_case_insensitive)
{
	struct config *cfg;
	struct model m;
	struct store *s;

	base_rollout();
	cfg = cfg_make(CFG("8.1.240.6",
	    SRV("cas01", "\"ClientAccess\"") ", "
	    SRV("Hub01", "\"HubTransport\"") ", "
	    SRV("mbx1b", "\"Mailbox\"") ", "
	    SRV("mbx1a", "\"Mailbox\""),
	    CMS("cms1", "mbx1b", "mbx1a")));
	s = start(cfg, &m);
	/* And later commits under the configured spelling update the same
	 * rows. */
	server_to_install(&m);
	commit_ok(s, &m);
	store_close(s);
	model_free(&m);
	config_free(cfg);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM servers"), 4);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM servers WHERE "
	    "name = 'CAS01' AND state = 'running'"), 1);
}
END_TEST

/*
 * Jobs in flight.
 */

static struct job *
job_new(struct model *m, enum job_kind kind, const char *unit,
    const char *body, int64_t now)
{
	char id[JOB_ID_MAX + 1];
	struct server *srv = model_server(m, unit);
	struct job *j;

	ck_assert_int_eq(model_job_id(m, id, sizeof(id)), 0);
	j = model_job_new(m, kind, srv, srv == NULL ? model_cluster(m, unit) :
	    NULL, id, strdup(body), now);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* A body with bytes a careless store would change: UTF-8, escapes,
 * spacing, a trailing newline. */
static const char body_cas[] = "{\"id\": \"x\", \"target\": \"CAS01\","
    "  \"command\": \"Get-ExchangeServer\",\n \"parameters\": {\"Identity\":"
    " \"CAS01\", \"Note\": \"caf\xc3\xa9 \\\"q\\\" \\\\ \\u00e9\"}}\n";
static const char body_hub[] = "{\"command\":\"Invoke-ExchangeSetup\","
    "\"parameters\":{\"Mode\":\"Upgrade\"}}";
static const char body_cms[] = "{\"command\":"
    "\"Get-ClusteredMailboxServerStatus\",\"parameters\":{\"Identity\":"
    "\"CMS1\"}}";

START_TEST(live_jobs_return_to_outbox)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	struct job *j, *intent, *sub, *done, *cms;
	char ids[4][JOB_ID_MAX + 1];
	json_t *jobs;
	size_t n;

	intent = job_new(&m, JOB_GET_SERVER, "CAS01", body_cas, T0);
	sub = job_new(&m, JOB_SETUP, "HUB01", body_hub, T0 + 1);
	done = job_new(&m, JOB_GET_SERVER, "MBX1A", "{}", T0 + 2);
	cms = job_new(&m, JOB_CMS_STATUS, "CMS1", body_cms, T0 + 3);
	strcpy(ids[0], intent->id);
	strcpy(ids[1], sub->id);
	strcpy(ids[2], done->id);
	strcpy(ids[3], cms->id);
	commit_ok(s, &m);

	/* The shell posts them; one is accepted, one completes. */
	for (j = model_take_outbox(&m); j != NULL; j = j->next_outbox)
		j->in_outbox = false;
	sub->state = JOB_SUBMITTED;
	sub->submitted_at = T0 + 10;
	sub->http_status = 201;
	model_touch(&m, &sub->dirty);
	model_job_finish(&m, done, JOB_COMPLETED, 200,
	    strdup("{\"state\": \"completed\"}"), NULL, T0 + 20);
	commit_ok(s, &m);
	store_close(s);
	model_free(&m);

	s = start(cfg, &m);
	ck_assert_int_eq(m.rollout.job_seq, 4);
	ck_assert_int_eq(m.nlive, 3);
	/* Oldest first, as they were decided. */
	n = 0;
	for (j = m.outbox; j != NULL; j = j->next_outbox, n++) {
		ck_assert(j->in_outbox);
		ck_assert_ptr_null(j->dirty.next);
		ck_assert(!j->dirty.queued);
	}
	ck_assert_int_eq(n, 3);
	j = m.outbox;
	ck_assert_str_eq(j->id, ids[0]);
	ck_assert_int_eq(j->state, JOB_INTENT);
	ck_assert_int_eq(j->kind, JOB_GET_SERVER);
	ck_assert_int_eq(strlen(j->request), strlen(body_cas));
	ck_assert_mem_eq(j->request, body_cas, sizeof(body_cas));
	ck_assert_ptr_eq(model_server(&m, "CAS01")->job, j);
	ck_assert_int_eq(j->created_at, T0);
	j = j->next_outbox;
	ck_assert_str_eq(j->id, ids[1]);
	ck_assert_int_eq(j->state, JOB_SUBMITTED);
	ck_assert_int_eq(j->submitted_at, T0 + 10);
	ck_assert_int_eq(j->http_status, 201);
	ck_assert_str_eq(j->request, body_hub);
	ck_assert_ptr_eq(model_server(&m, "HUB01")->job, j);
	j = j->next_outbox;
	ck_assert_str_eq(j->id, ids[3]);
	ck_assert_int_eq(j->kind, JOB_CMS_STATUS);
	ck_assert_str_eq(j->request, body_cms);
	ck_assert_ptr_eq(model_cluster(&m, "CMS1")->job, j);
	ck_assert_ptr_eq(j->cluster, model_cluster(&m, "CMS1"));
	ck_assert_ptr_null(model_server(&m, "MBX1A")->job);

	/* The report still lists the finished one. */
	jobs = store_jobs_of(s, "mbx1a");
	ck_assert_int_eq(json_array_size(jobs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(jobs, 0), "id")), ids[2]);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(jobs, 0), "state")), "completed");
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(jobs, 0), "finished_at")),
	    "2026-11-18T11:06:40.020Z");
	ck_assert(json_is_null(json_object_get(json_array_get(jobs, 0),
	    "error")));
	json_decref(jobs);
	jobs = store_jobs_of(s, "CMS1");
	ck_assert_int_eq(json_array_size(jobs), 1);
	ck_assert(json_is_null(json_object_get(json_array_get(jobs, 0),
	    "finished_at")));
	json_decref(jobs);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}
END_TEST

/* Two live jobs for one unit cannot come from this code: refused. */
START_TEST(two_live_jobs_refused)
{
	struct config *cfg = cfg_make(base_cfg);
	struct model m;
	struct store *s = start(cfg, &m);
	char err[512] = "";
	sqlite3 *h;

	job_new(&m, JOB_GET_SERVER, "CAS01", "{}", T0);
	commit_ok(s, &m);
	store_close(s);
	model_free(&m);
	h = raw_open();
	raw_exec(h, "INSERT INTO jobs (id, kind, state, server, request, "
	    "created_at) VALUES ('rogue-1', 'setup', 'submitted', 'cas01', "
	    "'{}', 1)");
	sqlite3_close(h);

	s = open_ok();
	model_make(&m, cfg);
	ck_assert_int_eq(store_load(s, cfg, &m, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "are both in flight for 'CAS01'") != NULL &&
	    strstr(err, "'rogue-1'") != NULL, "%s", err);
	store_close(s);
	model_free(&m);
	config_free(cfg);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *open = tcase_create("open");
	TCase *commit = tcase_create("commit");
	TCase *inv = tcase_create("inventory");
	TCase *jobs = tcase_create("jobs");

	tcase_add_checked_fixture(open, setup, teardown);
	tcase_add_test(open, migrates_from_empty);
	tcase_add_test(open, refuses_newer_schema);
	tcase_add_test(open, migrates_from_version_1);
	tcase_add_test(open, refuses_foreign_database);
	tcase_add_test(open, failed_migration_rolls_back);
	tcase_add_test(open, refuses_garbage_file);
	tcase_add_test(open, refuses_corrupt_page);
	tcase_add_test(open, lock_excludes_second_daemon);
	suite_add_tcase(s, open);

	tcase_add_checked_fixture(commit, setup, teardown);
	tcase_add_test(commit, first_start_creates_rollout);
	tcase_add_test(commit, commit_survives_restart);
	tcase_add_test(commit, failed_commit_leaves_nothing);
	tcase_add_test(commit, write_error_leaves_nothing);
	tcase_add_test(commit, events_since_and_limit);
	suite_add_tcase(s, commit);

	tcase_add_checked_fixture(inv, setup, teardown);
	tcase_add_test(inv, inventory_server_missing);
	tcase_add_test(inv, inventory_server_added);
	tcase_add_test(inv, inventory_roles_changed);
	tcase_add_test(inv, inventory_every_difference);
	tcase_add_test(inv, inventory_target_changed);
	tcase_add_test(inv, inventory_case_insensitive);
	suite_add_tcase(s, inv);

	tcase_add_checked_fixture(jobs, setup, teardown);
	tcase_add_test(jobs, live_jobs_return_to_outbox);
	tcase_add_test(jobs, two_live_jobs_refused);
	suite_add_tcase(s, jobs);
	return s;
}

int
main(void)
{
	return tu_run(store_suite());
}
