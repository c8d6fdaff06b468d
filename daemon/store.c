/*
 * store — the state file: one SQLite database, written only here.
 *
 * Opening goes through these steps in order; each refuses with a sentence
 * for the operator:
 *
 *   lock "<state>.lock"        flock(LOCK_EX|LOCK_NB), our pid written in it
 *   open the database          created 0600 when absent
 *   is it ours?                application_id, quick_check, user_version
 *   journal                    WAL, synchronous=FULL
 *   migrations                 each with its user_version bump, one
 *                              BEGIN IMMEDIATE transaction apiece,
 *                              then foreign_keys=ON
 *   statements                 every one prepared once, kept until close
 *
 * Nothing is written to a file before it is known to be an exroll state
 * file (or empty), so pointing the daemon at the wrong file harms nothing.
 *
 * Writing: after the first start, store_commit() is the only writer. It
 * walks the model's dirty list and event queue, never the whole model, and
 * writes them in one BEGIN IMMEDIATE transaction; on any failure it rolls
 * back, so the file holds all of a decision or none of it (DESIGN §3.1).
 *
 * Rows: enums are stored by their *_name(); times as epoch milliseconds,
 * NULL for the model's 0 ("not yet"); the inventory columns (a server's
 * roles and cluster, a cluster's nodes) are written when the rollout is
 * created and never updated. schema/README.md documents every column.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "migrations.h"
#include "name.h"
#include "role.h"
#include "timefmt.h"
#include "version.h"

/* "EXR1": PRAGMA application_id of every exroll state file. */
#define STORE_APPLICATION_ID	0x45585231
/* Only the daemon writes, so a busy database means someone broke the rule
 * and wrote behind its back; wait a little, then fail the commit. */
#define STORE_BUSY_MS		5000
#define STORE_EVENTS_DEFAULT	1000
#define STORE_ACTOR		"exrolld"

#define NMIGRATIONS (sizeof(store_migrations) / sizeof(store_migrations[0]))

/*
 * The SQL. Every value is a bound parameter (?N); the comment before each
 * statement lists them when they are not obvious from the column list.
 */
static const char SQL_BEGIN_WRITE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

/* nonce, target_version and created_at are set once, at creation. */
static const char SQL_ROLLOUT_PUT[] =
    "INSERT INTO rollout (id, state, pause_cause, reason, nonce, job_seq,"
    "    target_version, created_at, updated_at)"
    "  VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    "  ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
    "    pause_cause = excluded.pause_cause, reason = excluded.reason,"
    "    job_seq = excluded.job_seq, updated_at = excluded.updated_at";

static const char SQL_ROLLOUT_GET[] =
    "SELECT state, pause_cause, reason, nonce, job_seq, target_version,"
    "    created_at, updated_at"
    "  FROM rollout WHERE id = 1";

/* name, roles and cluster are the inventory: never updated. */
static const char SQL_SERVER_PUT[] =
    "INSERT INTO servers (name, roles, cluster, state, phase, attempts,"
    "    version, reboot_required, last_error, started_at, finished_at,"
    "    phase_started_at, wake_at, install_ms)"
    "  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    "  ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
    "    phase = excluded.phase, attempts = excluded.attempts,"
    "    version = excluded.version,"
    "    reboot_required = excluded.reboot_required,"
    "    last_error = excluded.last_error, started_at = excluded.started_at,"
    "    finished_at = excluded.finished_at,"
    "    phase_started_at = excluded.phase_started_at,"
    "    wake_at = excluded.wake_at, install_ms = excluded.install_ms";

static const char SQL_SERVERS_GET[] =
    "SELECT name, roles, cluster, state, phase, attempts, version,"
    "    reboot_required, last_error, started_at, finished_at,"
    "    phase_started_at, wake_at, install_ms"
    "  FROM servers ORDER BY rowid";

/* name, node_a and node_b are the inventory: never updated. */
static const char SQL_CLUSTER_PUT[] =
    "INSERT INTO clusters (name, node_a, node_b, step, original_active,"
    "    active, cms_state, approved_failover, approved_failback,"
    "    cms_stopped, blocked, attempts, moves, last_error, started_at,"
    "    finished_at, wake_at)"
    "  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    "    ?15, ?16, ?17)"
    "  ON CONFLICT (name) DO UPDATE SET step = excluded.step,"
    "    original_active = excluded.original_active,"
    "    active = excluded.active, cms_state = excluded.cms_state,"
    "    approved_failover = excluded.approved_failover,"
    "    approved_failback = excluded.approved_failback,"
    "    cms_stopped = excluded.cms_stopped, blocked = excluded.blocked,"
    "    attempts = excluded.attempts, moves = excluded.moves,"
    "    last_error = excluded.last_error, started_at = excluded.started_at,"
    "    finished_at = excluded.finished_at, wake_at = excluded.wake_at";

static const char SQL_CLUSTERS_GET[] =
    "SELECT name, node_a, node_b, step, original_active, active, cms_state,"
    "    approved_failover, approved_failback, cms_stopped, blocked,"
    "    attempts, moves, last_error, started_at, finished_at, wake_at"
    "  FROM clusters ORDER BY rowid";

/* id, kind, unit, request and created_at never change: the request is
 * re-sent byte for byte after a restart (DESIGN §3.3). */
static const char SQL_JOB_PUT[] =
    "INSERT INTO jobs (id, kind, state, server, cluster, request,"
    "    created_at, submitted_at, finished_at, http_status, result, error)"
    "  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    "  ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
    "    submitted_at = excluded.submitted_at,"
    "    finished_at = excluded.finished_at,"
    "    http_status = excluded.http_status, result = excluded.result,"
    "    error = excluded.error";

/* ?1, ?2: the names of the intent and submitted states. */
static const char SQL_JOBS_LIVE[] =
    "SELECT id, kind, state, server, cluster, request, created_at,"
    "    submitted_at, http_status"
    "  FROM jobs WHERE state IN (?1, ?2) ORDER BY created_at, rowid";

/* ?1: a server or cluster name. */
static const char SQL_JOBS_OF[] =
    "SELECT id, kind, state, created_at, finished_at, error"
    "  FROM jobs WHERE server = ?1 OR cluster = ?1"
    "  ORDER BY created_at, rowid";

/* ?6, data: the event's JSON object as text, or NULL (migration 2). */
static const char SQL_EVENT_PUT[] =
    "INSERT INTO events (time, kind, subject, message, actor, data)"
    "  VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/* ?1: since, ?2: limit. */
static const char SQL_EVENTS_SINCE[] =
    "SELECT seq, time, kind, subject, message, actor, data"
    "  FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";

enum store_stmt {
	STMT_BEGIN_WRITE,
	STMT_BEGIN_READ,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_ROLLOUT_PUT,
	STMT_ROLLOUT_GET,
	STMT_SERVER_PUT,
	STMT_SERVERS_GET,
	STMT_CLUSTER_PUT,
	STMT_CLUSTERS_GET,
	STMT_JOB_PUT,
	STMT_JOBS_LIVE,
	STMT_JOBS_OF,
	STMT_EVENT_PUT,
	STMT_EVENTS_SINCE,
	STMT_COUNT
};

static const struct {
	const char *name;
	const char *sql;
} store_sql[STMT_COUNT] = {
	[STMT_BEGIN_WRITE] = { "begin_write", SQL_BEGIN_WRITE },
	[STMT_BEGIN_READ] = { "begin_read", SQL_BEGIN_READ },
	[STMT_COMMIT] = { "commit", SQL_COMMIT },
	[STMT_ROLLBACK] = { "rollback", SQL_ROLLBACK },
	[STMT_ROLLOUT_PUT] = { "rollout_put", SQL_ROLLOUT_PUT },
	[STMT_ROLLOUT_GET] = { "rollout_get", SQL_ROLLOUT_GET },
	[STMT_SERVER_PUT] = { "server_put", SQL_SERVER_PUT },
	[STMT_SERVERS_GET] = { "servers_get", SQL_SERVERS_GET },
	[STMT_CLUSTER_PUT] = { "cluster_put", SQL_CLUSTER_PUT },
	[STMT_CLUSTERS_GET] = { "clusters_get", SQL_CLUSTERS_GET },
	[STMT_JOB_PUT] = { "job_put", SQL_JOB_PUT },
	[STMT_JOBS_LIVE] = { "jobs_live", SQL_JOBS_LIVE },
	[STMT_JOBS_OF] = { "jobs_of", SQL_JOBS_OF },
	[STMT_EVENT_PUT] = { "event_put", SQL_EVENT_PUT },
	[STMT_EVENTS_SINCE] = { "events_since", SQL_EVENTS_SINCE },
};

struct store {
	sqlite3 *db;
	char *path;
	int lock_fd;
	char *target;			/* the rollout's target, canonical text */
	sqlite3_stmt *stmt[STMT_COUNT];
	char sqlerr[256];		/* the last SQLite error, for reports */
};

static int
store_err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
store_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Keeps the connection's message for rc: a reset or the next statement
 * would replace it. Returns rc. */
static int
store_note(struct store *s, int rc)
{
	const char *msg = sqlite3_errmsg(s->db);

	if ((sqlite3_errcode(s->db) & 0xff) != (rc & 0xff))
		msg = sqlite3_errstr(rc);
	snprintf(s->sqlerr, sizeof(s->sqlerr), "%s", msg);
	return rc;
}

/*
 * Binding. Each helper does nothing once *rc holds an error, so a row's
 * binds read as a list and are checked once.
 */
static void
bind_text(sqlite3_stmt *st, int i, const char *v, int *rc)
{
	if (*rc != SQLITE_OK)
		return;
	*rc = v != NULL ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) :
	    sqlite3_bind_null(st, i);
}

static void
bind_int(sqlite3_stmt *st, int i, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_int64(st, i, v);
}

/* The model's 0 ("not yet", "none") is NULL in the file. */
static void
bind_opt(sqlite3_stmt *st, int i, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = v != 0 ? sqlite3_bind_int64(st, i, v) :
		    sqlite3_bind_null(st, i);
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* NULL reads as 0, the model's "not yet". */
static int64_t
col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_int64(st, i);
}

/* Runs a statement that returns no rows (rc: the binds' result), then
 * resets it and drops its bindings. Returns an SQLite code. */
static int
store_run(struct store *s, enum store_stmt which, int rc)
{
	sqlite3_stmt *st = s->stmt[which];

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE)
		rc = SQLITE_OK;
	if (rc != SQLITE_OK)
		store_note(s, rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Ends a row loop over which: step_rc is the last sqlite3_step() result,
 * ret the loop's own verdict (0 or a negative errno with err set). Resets
 * the statement. Returns 0 or a negative errno. */
static int
store_end(struct store *s, enum store_stmt which, int step_rc, int ret,
    char *err, size_t errlen)
{
	if (ret == 0 && step_rc != SQLITE_DONE) {
		store_note(s, step_rc);
		ret = store_err(err, errlen, -EIO,
		    "state file '%s': cannot read (%s): %s", s->path,
		    store_sql[which].name, s->sqlerr);
	}
	sqlite3_reset(s->stmt[which]);
	sqlite3_clear_bindings(s->stmt[which]);
	return ret;
}

/* A one-row statement that is not kept prepared (pragmas at open): its
 * first column as text into buf and as a number into *num, either may be
 * NULL. No row reads as "" and 0. Returns an SQLite code. */
static int
store_query(struct store *s, const char *sql, char *buf, size_t len,
    int64_t *num)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (buf != NULL && len > 0)
		buf[0] = '\0';
	if (num != NULL)
		*num = 0;
	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			if (buf != NULL && len > 0 && col_text(st, 0) != NULL)
				snprintf(buf, len, "%s", col_text(st, 0));
			if (num != NULL)
				*num = col_int(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		store_note(s, rc);
	sqlite3_finalize(st);
	return rc;
}

/* rc from the first reads of the file, as a sentence. */
static int
store_read_error(struct store *s, int rc, char *err, size_t errlen)
{
	int sys = sqlite3_system_errno(s->db);

	switch (rc & 0xff) {
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return store_err(err, errlen, sys > 0 ? -sys : -EIO,
		    "cannot use state file '%s': %s", s->path, s->sqlerr);
	case SQLITE_NOTADB:
		return store_err(err, errlen, -EPROTO,
		    "state file '%s' is not an SQLite database (%s)", s->path,
		    s->sqlerr);
	case SQLITE_CORRUPT:
		return store_err(err, errlen, -EPROTO,
		    "state file '%s' is corrupt (%s)", s->path, s->sqlerr);
	default:
		return store_err(err, errlen, -EIO,
		    "cannot use state file '%s': %s", s->path, s->sqlerr);
	}
}

/*
 * Opening.
 */

/* The pid written in a held lock file, or 0 when it is not there yet (the
 * holder locks first, then writes). */
static long
store_lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || *end == '\0') && pid > 0 ? pid : 0;
}

/* Before the database is touched: two daemons on one file would each
 * trust their memory and overwrite the other (DESIGN §3.7). */
static int
store_lock(struct store *s, char *err, size_t errlen)
{
	char *lpath = NULL, buf[32];
	long holder;
	int rc, n;

	if (asprintf(&lpath, "%s.lock", s->path) < 0)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	s->lock_fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (s->lock_fd < 0) {
		rc = store_err(err, errlen, -errno,
		    "cannot open lock file '%s': %s", lpath, strerror(errno));
		goto out;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			rc = store_err(err, errlen, -errno,
			    "cannot lock '%s': %s", lpath, strerror(errno));
		} else if ((holder = store_lock_holder(s->lock_fd)) > 0) {
			rc = store_err(err, errlen, -EWOULDBLOCK,
			    "state file '%s' is in use by another exrolld "
			    "(pid %ld)", s->path, holder);
		} else {
			rc = store_err(err, errlen, -EWOULDBLOCK,
			    "state file '%s' is in use by another exrolld "
			    "(starting; '%s' holds no pid yet)", s->path, lpath);
		}
		goto out;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	errno = EIO;		/* what a short write, which sets none, means */
	if (ftruncate(s->lock_fd, 0) != 0 ||
	    pwrite(s->lock_fd, buf, (size_t)n, 0) != n) {
		rc = store_err(err, errlen, -errno,
		    "cannot write lock file '%s': %s", lpath, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(lpath);
	return rc;
}

static int
store_open_db(struct store *s, char *err, size_t errlen)
{
	int fd, rc;

	/* Created here rather than by SQLite so that the file, and the -wal
	 * and -shm files SQLite gives the same mode, are private. */
	if ((fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return store_err(err, errlen, -errno,
		    "cannot open state file '%s': %s", s->path, strerror(errno));
	close(fd);

	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		int sys = s->db != NULL ? sqlite3_system_errno(s->db) : 0;

		return store_err(err, errlen, sys > 0 ? -sys : -EIO,
		    "cannot open state file '%s': %s", s->path,
		    s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	return 0;
}

/* Is it an exroll state file this build can use? Reads only. */
static int
store_identify(struct store *s, char *err, size_t errlen)
{
	char check[256];
	int64_t app_id, user_version, nobjects;
	int rc, latest = store_schema_latest();

	if ((rc = store_query(s, "PRAGMA application_id", NULL, 0,
	    &app_id)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	if (app_id != 0 && app_id != STORE_APPLICATION_ID)
		return store_err(err, errlen, -EPROTO,
		    "state file '%s' is not an exroll state file "
		    "(application_id 0x%08llx, exroll's is 0x%08x)", s->path,
		    (unsigned long long)(uint32_t)app_id, STORE_APPLICATION_ID);
	if ((rc = store_query(s, "PRAGMA user_version", NULL, 0,
	    &user_version)) != SQLITE_OK ||
	    (rc = store_query(s, "SELECT count(*) FROM sqlite_master", NULL, 0,
	    &nobjects)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	/* Migration 1 sets the id in its own transaction: a database without
	 * it but with content is somebody else's. */
	if (app_id == 0 && (user_version != 0 || nobjects != 0))
		return store_err(err, errlen, -EPROTO,
		    "state file '%s' is not an exroll state file (an SQLite "
		    "database without exroll's application_id)", s->path);
	if ((rc = store_query(s, "PRAGMA quick_check", check, sizeof(check),
	    NULL)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	if (strcmp(check, "ok") != 0) {
		/* The first problem, without the "*** in database main ***"
		 * heading SQLite puts before it. */
		char *first = check;

		if (strncmp(first, "*** ", 4) == 0 && strchr(first, '\n'))
			first = strchr(first, '\n') + 1;
		first[strcspn(first, "\n")] = '\0';
		return store_err(err, errlen, -EPROTO,
		    "state file '%s' failed its integrity check: %s", s->path,
		    first);
	}
	if (user_version > latest)
		return store_err(err, errlen, -EPROTO,
		    "state file '%s' was written by a newer exroll (schema "
		    "%lld, this build knows %d)", s->path,
		    (long long)user_version, latest);
	return 0;
}

static int
store_journal(struct store *s, char *err, size_t errlen)
{
	char mode[32];
	int rc;

	if ((rc = store_query(s, "PRAGMA journal_mode = WAL", mode,
	    sizeof(mode), NULL)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	/* SQLite keeps the old mode where WAL cannot work (no shared memory,
	 * some network file systems): crash safety rests on WAL, so refuse. */
	if (strcmp(mode, "wal") != 0)
		return store_err(err, errlen, -ENOTSUP,
		    "state file '%s': cannot use the WAL journal (journal_mode "
		    "stays '%s'); put the state file on a local file system",
		    s->path, mode);
	if ((rc = store_query(s, "PRAGMA synchronous = FULL", NULL, 0,
	    NULL)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	return 0;
}

/*
 * One migration and its user_version bump in one transaction. Foreign keys
 * are not enforced yet while migrations run (a table rebuild must be able
 * to drop and re-create a parent table, and the pragma cannot change inside
 * a transaction), so the transaction checks them itself before it commits.
 */
static int
store_apply(struct store *s, const struct store_migration *mg, char *err,
    size_t errlen)
{
	char bump[96], orphan[128];
	int rc;

	/* PRAGMA takes no parameters; both numbers are compiled in. */
	snprintf(bump, sizeof(bump),
	    "PRAGMA application_id = %d; PRAGMA user_version = %d",
	    STORE_APPLICATION_ID, mg->version);
	if ((rc = sqlite3_exec(s->db, SQL_BEGIN_WRITE, NULL, NULL,
	    NULL)) == SQLITE_OK &&
	    (rc = sqlite3_exec(s->db, mg->sql, NULL, NULL, NULL)) == SQLITE_OK &&
	    (rc = store_query(s, "PRAGMA foreign_key_check", orphan,
	    sizeof(orphan), NULL)) == SQLITE_OK && orphan[0] == '\0' &&
	    (rc = sqlite3_exec(s->db, bump, NULL, NULL, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_exec(s->db, SQL_COMMIT, NULL, NULL, NULL)) ==
	    SQLITE_OK) {
		log_info("state file '%s': applied migration %d (%s)",
		    s->path, mg->version, mg->name);
		return 0;
	}
	if (rc != SQLITE_OK)
		store_note(s, rc);
	else
		snprintf(s->sqlerr, sizeof(s->sqlerr), "rows of table '%s' "
		    "lack their parent (foreign key)", orphan);
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, SQL_ROLLBACK, NULL, NULL, NULL);
	return store_err(err, errlen, -EIO,
	    "state file '%s': migration %d (%s) failed: %s", s->path,
	    mg->version, mg->name, s->sqlerr);
}

static int
store_migrate(struct store *s, char *err, size_t errlen)
{
	int64_t current, fk;
	int rc;

	if ((rc = store_query(s, "PRAGMA user_version", NULL, 0,
	    &current)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	for (size_t i = 0; i < NMIGRATIONS; i++) {
		if (store_migrations[i].version > current &&
		    (rc = store_apply(s, &store_migrations[i], err,
		    errlen)) != 0)
			return rc;
	}
	if ((rc = store_query(s, "PRAGMA foreign_keys = ON", NULL, 0,
	    NULL)) != SQLITE_OK ||
	    (rc = store_query(s, "PRAGMA foreign_keys", NULL, 0,
	    &fk)) != SQLITE_OK)
		return store_read_error(s, rc, err, errlen);
	if (fk != 1)
		return store_err(err, errlen, -ENOTSUP,
		    "state file '%s': this SQLite cannot enforce foreign keys",
		    s->path);
	return 0;
}

static int
store_prepare(struct store *s, char *err, size_t errlen)
{
	for (int i = 0; i < STMT_COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, store_sql[i].sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			store_note(s, rc);
			return store_err(err, errlen, -EIO,
			    "state file '%s': cannot prepare '%s': %s",
			    s->path, store_sql[i].name, s->sqlerr);
		}
	}
	return 0;
}

int
store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	s->lock_fd = -1;
	if ((s->path = strdup(path)) == NULL) {
		rc = store_err(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = store_lock(s, err, errlen)) != 0 ||
	    (rc = store_open_db(s, err, errlen)) != 0 ||
	    (rc = store_identify(s, err, errlen)) != 0 ||
	    (rc = store_journal(s, err, errlen)) != 0 ||
	    (rc = store_migrate(s, err, errlen)) != 0 ||
	    (rc = store_prepare(s, err, errlen)) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	/* The last connection to close checkpoints and removes the WAL. */
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("state file '%s': close: %s", s->path,
		    sqlite3_errmsg(s->db));
	/* Closing the descriptor releases the lock. The file stays: removing
	 * it would let a third process lock a new file while a second still
	 * holds the old one. */
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->target);
	free(s->path);
	free(s);
}

int
store_schema_latest(void)
{
	return store_migrations[NMIGRATIONS - 1].version;
}

/*
 * Writing.
 */

/* "ClientAccess, HubTransport": Exchange's ServerRole spelling, in the
 * enum's order. */
static const char *
store_roles_text(unsigned mask, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int r = 0; r < ROLE_COUNT; r++) {
		if ((mask & ROLE_BIT(r)) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n > 0 ? ", " : "", role_name((enum role)r));
	}
	return buf;
}

/* The inverse, strictly: every word must be a role. */
static int
store_roles_parse(const char *s, unsigned *out)
{
	unsigned mask = 0;
	char word[32];
	enum role r;

	if (s == NULL)
		return -EINVAL;
	while (*s != '\0') {
		size_t n = strcspn(s, ",");

		if (n == 0 || n >= sizeof(word))
			return -EINVAL;
		memcpy(word, s, n);
		word[n] = '\0';
		if (role_parse(word, &r) != 0)
			return -EINVAL;
		mask |= ROLE_BIT(r);
		s += n;
		if (*s == ',' && *++s == ' ')
			s++;
	}
	if (mask == 0)
		return -EINVAL;
	*out = mask;
	return 0;
}

static int
store_put_rollout(struct store *s, const struct rollout *r)
{
	sqlite3_stmt *st = s->stmt[STMT_ROLLOUT_PUT];
	int rc = SQLITE_OK;

	bind_text(st, 1, rollout_state_name(r->state), &rc);
	bind_text(st, 2, pause_cause_name(r->pause_cause), &rc);
	bind_text(st, 3, r->reason, &rc);
	bind_text(st, 4, r->nonce, &rc);
	bind_int(st, 5, (int64_t)r->job_seq, &rc);
	bind_text(st, 6, s->target, &rc);
	bind_int(st, 7, r->created_at, &rc);
	bind_int(st, 8, r->updated_at, &rc);
	return store_run(s, STMT_ROLLOUT_PUT, rc);
}

static int
store_put_server(struct store *s, const struct server *srv)
{
	sqlite3_stmt *st = s->stmt[STMT_SERVER_PUT];
	char roles[128], ver[VERSION_STRLEN];
	int rc = SQLITE_OK;

	bind_text(st, 1, srv->name, &rc);
	bind_text(st, 2, store_roles_text(srv->roles, roles, sizeof(roles)),
	    &rc);
	bind_text(st, 3, srv->cluster != NULL ? srv->cluster->name : NULL,
	    &rc);
	bind_text(st, 4, server_state_name(srv->state), &rc);
	bind_text(st, 5, server_phase_name(srv->phase), &rc);
	bind_int(st, 6, srv->attempts, &rc);
	bind_text(st, 7, srv->has_version ?
	    version_format(&srv->version, ver, sizeof(ver)) : NULL, &rc);
	bind_int(st, 8, srv->reboot_required, &rc);
	bind_text(st, 9, srv->last_error, &rc);
	bind_opt(st, 10, srv->started_at, &rc);
	bind_opt(st, 11, srv->finished_at, &rc);
	bind_opt(st, 12, srv->phase_started_at, &rc);
	bind_opt(st, 13, srv->wake_at, &rc);
	bind_opt(st, 14, srv->install_ms, &rc);
	return store_run(s, STMT_SERVER_PUT, rc);
}

static const char *
store_server_name(const struct server *srv)
{
	return srv != NULL ? srv->name : NULL;
}

static int
store_put_cluster(struct store *s, const struct cluster *c)
{
	sqlite3_stmt *st = s->stmt[STMT_CLUSTER_PUT];
	int rc = SQLITE_OK;

	bind_text(st, 1, c->name, &rc);
	bind_text(st, 2, store_server_name(c->nodes[0]), &rc);
	bind_text(st, 3, store_server_name(c->nodes[1]), &rc);
	bind_text(st, 4, cluster_step_name(c->step), &rc);
	bind_text(st, 5, store_server_name(c->original_active), &rc);
	bind_text(st, 6, store_server_name(c->active), &rc);
	bind_text(st, 7, c->cms_state[0] != '\0' ? c->cms_state : NULL, &rc);
	bind_int(st, 8, c->approved_failover, &rc);
	bind_int(st, 9, c->approved_failback, &rc);
	bind_int(st, 10, c->cms_stopped, &rc);
	bind_int(st, 11, c->blocked, &rc);
	bind_int(st, 12, c->attempts, &rc);
	bind_int(st, 13, c->moves, &rc);
	bind_text(st, 14, c->last_error, &rc);
	bind_opt(st, 15, c->started_at, &rc);
	bind_opt(st, 16, c->finished_at, &rc);
	bind_opt(st, 17, c->wake_at, &rc);
	return store_run(s, STMT_CLUSTER_PUT, rc);
}

static int
store_put_job(struct store *s, const struct job *j)
{
	sqlite3_stmt *st = s->stmt[STMT_JOB_PUT];
	int rc = SQLITE_OK;

	bind_text(st, 1, j->id, &rc);
	bind_text(st, 2, job_kind_name(j->kind), &rc);
	bind_text(st, 3, job_state_name(j->state), &rc);
	bind_text(st, 4, store_server_name(j->server), &rc);
	bind_text(st, 5, j->cluster != NULL ? j->cluster->name : NULL, &rc);
	bind_text(st, 6, j->request, &rc);
	bind_int(st, 7, j->created_at, &rc);
	bind_opt(st, 8, j->submitted_at, &rc);
	bind_opt(st, 9, j->finished_at, &rc);
	bind_opt(st, 10, j->http_status, &rc);
	bind_text(st, 11, j->result, &rc);
	bind_text(st, 12, j->error, &rc);
	return store_run(s, STMT_JOB_PUT, rc);
}

static int
store_put_event(struct store *s, struct event *ev)
{
	sqlite3_stmt *st = s->stmt[STMT_EVENT_PUT];
	int rc = SQLITE_OK;

	bind_int(st, 1, ev->time, &rc);
	bind_text(st, 2, ev->kind, &rc);
	bind_text(st, 3, ev->subject, &rc);
	bind_text(st, 4, ev->message, &rc);
	bind_text(st, 5, ev->actor, &rc);
	bind_text(st, 6, ev->data, &rc);
	if ((rc = store_run(s, STMT_EVENT_PUT, rc)) == SQLITE_OK)
		ev->seq = sqlite3_last_insert_rowid(s->db);
	return rc;
}

/* Writes the record d belongs to; what names it for the log. */
static int
store_put(struct store *s, struct model *m, struct model_dirty *d,
    char *what, size_t len)
{
	switch (d->rec) {
	case REC_ROLLOUT:
		snprintf(what, len, "the rollout");
		return store_put_rollout(s, &m->rollout);
	case REC_SERVER:
		snprintf(what, len, "server '%s'", model_dirty_server(d)->name);
		return store_put_server(s, model_dirty_server(d));
	case REC_CLUSTER:
		snprintf(what, len, "cluster '%s'",
		    model_dirty_cluster(d)->name);
		return store_put_cluster(s, model_dirty_cluster(d));
	case REC_JOB:
		snprintf(what, len, "job '%s'", model_dirty_job(d)->id);
		return store_put_job(s, model_dirty_job(d));
	}
	snprintf(what, len, "a record tagged %d", (int)d->rec);
	return SQLITE_MISUSE;
}

/* Ends a failed write transaction, unless SQLite already has: it rolls
 * back by itself on some I/O errors and a full disk. */
static void
store_rollback(struct store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return;
	if (store_run(s, STMT_ROLLBACK, SQLITE_OK) != SQLITE_OK)
		log_warnx("state file '%s': rollback failed: %s", s->path,
		    s->sqlerr);
}

int
store_commit(struct store *s, struct model *m)
{
	char what[JOB_ID_MAX + 64] = "begin";
	struct event *ev;
	int rc;

	if ((rc = store_run(s, STMT_BEGIN_WRITE, SQLITE_OK)) != SQLITE_OK)
		goto fail;
	for (struct model_dirty *d = m->dirty; d != NULL; d = d->next) {
		if ((rc = store_put(s, m, d, what, sizeof(what))) != SQLITE_OK)
			goto fail;
	}
	for (ev = m->events; ev != NULL; ev = ev->next) {
		if ((rc = store_put_event(s, ev)) != SQLITE_OK) {
			snprintf(what, sizeof(what), "event '%s' of '%s'",
			    ev->kind, ev->subject);
			goto fail;
		}
	}
	snprintf(what, sizeof(what), "commit");
	if ((rc = store_run(s, STMT_COMMIT, SQLITE_OK)) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	log_warnx("state file '%s': cannot write %s: %s", s->path, what,
	    s->sqlerr);
	store_rollback(s);
	/* Nothing was stored: no event has a seq. */
	for (ev = m->events; ev != NULL; ev = ev->next)
		ev->seq = 0;
	return -EIO;
}

/*
 * Loading.
 */

static int
store_corrupt(struct store *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
store_corrupt(struct store *s, char *err, size_t errlen, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return store_err(err, errlen, -EPROTO,
	    "state file '%s' is inconsistent: %s", s->path, what);
}

/* Differences between the stored inventory and the configuration's, as
 * one "; "-separated list. */
struct store_diff {
	FILE *f;
	char *text;
	size_t len;
	int n;
};

static void
store_diff_add(struct store_diff *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
store_diff_add(struct store_diff *d, const char *fmt, ...)
{
	va_list ap;

	if (d->n++ > 0)
		fputs("; ", d->f);
	va_start(ap, fmt);
	vfprintf(d->f, fmt, ap);
	va_end(ap);
}

static const char *
store_or_none(const char *s)
{
	return s != NULL ? s : "none";
}

static bool
store_same_name(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : name_equal(a, b);
}

/* Servers: every stored one is configured with the same roles and cluster,
 * and every configured one is stored. seen marks the configured ones met. */
static int
store_diff_servers(struct store *s, struct model *m, struct store_diff *d,
    bool *seen, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->stmt[STMT_SERVERS_GET];
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = col_text(st, 0), *cl = col_text(st, 2);
		char stored[128], configured[128];
		struct server *srv;
		unsigned roles;

		if (name == NULL ||
		    store_roles_parse(col_text(st, 1), &roles) != 0) {
			ret = store_corrupt(s, err, errlen,
			    "server '%s' has roles '%s'", store_or_none(name),
			    store_or_none(col_text(st, 1)));
			break;
		}
		if ((srv = model_server(m, name)) == NULL) {
			store_diff_add(d, "server '%s' is missing from the "
			    "configuration", name);
			continue;
		}
		seen[srv - m->servers] = true;
		if (roles != srv->roles)
			store_diff_add(d, "server '%s' roles differ (stored %s, "
			    "configured %s)", srv->name,
			    store_roles_text(roles, stored, sizeof(stored)),
			    store_roles_text(srv->roles, configured,
			    sizeof(configured)));
		if (!store_same_name(cl, srv->cluster != NULL ?
		    srv->cluster->name : NULL))
			store_diff_add(d, "server '%s' cluster differs (stored "
			    "%s, configured %s)", srv->name, store_or_none(cl),
			    srv->cluster != NULL ? srv->cluster->name : "none");
	}
	ret = store_end(s, STMT_SERVERS_GET, rc, ret, err, errlen);
	for (size_t i = 0; ret == 0 && i < m->nservers; i++) {
		if (!seen[i])
			store_diff_add(d, "server '%s' is not in the stored "
			    "rollout", m->servers[i].name);
	}
	return ret;
}

/* Clusters: the same, their nodes compared as a set (which node is active
 * is discovered, not configured). */
static int
store_diff_clusters(struct store *s, struct model *m, struct store_diff *d,
    bool *seen, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->stmt[STMT_CLUSTERS_GET];
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = col_text(st, 0), *a = col_text(st, 1),
		    *b = col_text(st, 2);
		struct cluster *c;
		const char *ca, *cb;

		if (name == NULL || a == NULL || b == NULL) {
			ret = store_corrupt(s, err, errlen,
			    "a cluster row lacks its name or nodes");
			break;
		}
		if ((c = model_cluster(m, name)) == NULL) {
			store_diff_add(d, "cluster '%s' is missing from the "
			    "configuration", name);
			continue;
		}
		seen[c - m->clusters] = true;
		ca = c->nodes[0]->name;
		cb = c->nodes[1]->name;
		if (!(name_equal(a, ca) && name_equal(b, cb)) &&
		    !(name_equal(a, cb) && name_equal(b, ca)))
			store_diff_add(d, "cluster '%s' nodes differ (stored "
			    "%s, %s, configured %s, %s)", c->name, a, b, ca, cb);
	}
	ret = store_end(s, STMT_CLUSTERS_GET, rc, ret, err, errlen);
	for (size_t i = 0; ret == 0 && i < m->nclusters; i++) {
		if (!seen[i])
			store_diff_add(d, "cluster '%s' is not in the stored "
			    "rollout", m->clusters[i].name);
	}
	return ret;
}

/* The list between a fixed head and tail, cut (not the tail) when err is
 * too small; the whole list then goes to the log. */
static int
store_diff_report(const char *list, char *err, size_t errlen)
{
	static const char head[] =
	    "the configuration's inventory differs from the stored rollout: ";
	static const char tail[] = ". Start a new rollout with a new "
	    "state_file, or restore the original inventory.";
	static const char cut[] = "; ...";
	size_t fixed = strlen(head) + strlen(tail);

	if (fixed + strlen(list) < errlen)
		return store_err(err, errlen, -EEXIST, "%s%s%s", head, list,
		    tail);
	log_warnx("inventory differences: %s", list);
	return store_err(err, errlen, -EEXIST, "%s%.*s%s%s", head,
	    (int)(errlen > fixed + strlen(cut) ?
	    errlen - 1 - fixed - strlen(cut) : 0), list, cut, tail);
}

static int
store_check_inventory(struct store *s, struct model *m, char *err,
    size_t errlen)
{
	struct store_diff d = { 0 };
	bool *seen_srv = calloc(m->nservers + 1, sizeof(bool));
	bool *seen_cl = calloc(m->nclusters + 1, sizeof(bool));
	int ret;

	if (seen_srv == NULL || seen_cl == NULL ||
	    (d.f = open_memstream(&d.text, &d.len)) == NULL) {
		ret = store_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = store_diff_servers(s, m, &d, seen_srv, err, errlen)) != 0 ||
	    (ret = store_diff_clusters(s, m, &d, seen_cl, err, errlen)) != 0)
		goto out;
	if (fclose(d.f) != 0) {
		d.f = NULL;
		ret = store_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	d.f = NULL;
	if (d.n > 0)
		ret = store_diff_report(d.text, err, errlen);
out:
	if (d.f != NULL)
		fclose(d.f);
	free(d.text);
	free(seen_srv);
	free(seen_cl);
	return ret;
}

/* The stored rollout row into *r (reason malloc'd), its target into
 * target; *found false when there is none yet. */
static int
store_get_rollout(struct store *s, struct rollout *r, struct version *target,
    bool *found, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->stmt[STMT_ROLLOUT_GET];
	const char *nonce, *reason;
	int rc, ret = 0;

	*found = false;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*found = true;
		nonce = col_text(st, 3);
		reason = col_text(st, 2);
		rc = SQLITE_DONE;	/* one row at most: id = 1 */
		if (rollout_state_parse(col_text(st, 0), &r->state) != 0 ||
		    pause_cause_parse(col_text(st, 1), &r->pause_cause) != 0 ||
		    nonce == NULL || strlen(nonce) != sizeof(r->nonce) - 1 ||
		    col_text(st, 5) == NULL ||
		    version_parse(col_text(st, 5), target) != 0) {
			ret = store_corrupt(s, err, errlen,
			    "the rollout row has an unknown state, nonce or "
			    "target_version");
		} else if (reason != NULL && (r->reason = strdup(reason)) ==
		    NULL) {
			ret = store_err(err, errlen, -ENOMEM, "out of memory");
		} else {
			memcpy(r->nonce, nonce, sizeof(r->nonce));
			r->job_seq = (uint64_t)col_int(st, 4);
			r->created_at = col_int(st, 6);
			r->updated_at = col_int(st, 7);
		}
	}
	return store_end(s, STMT_ROLLOUT_GET, rc, ret, err, errlen);
}

/* Replaces an owned string with a copy of v (NULL allowed). */
static int
store_set_str(char **dst, const char *v)
{
	char *copy = NULL;

	if (v != NULL && (copy = strdup(v)) == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int
store_row_server(struct store *s, struct model *m, sqlite3_stmt *st,
    char *err, size_t errlen)
{
	const char *name = col_text(st, 0), *ver = col_text(st, 6);
	struct server *srv = model_server(m, name);

	/* The inventory check matched every row to a configured server. */
	if (srv == NULL)
		return store_corrupt(s, err, errlen, "server '%s' vanished",
		    store_or_none(name));
	if (server_state_parse(col_text(st, 3), &srv->state) != 0 ||
	    server_phase_parse(col_text(st, 4), &srv->phase) != 0 ||
	    (ver != NULL && version_parse(ver, &srv->version) != 0))
		return store_corrupt(s, err, errlen, "server '%s' has an "
		    "unknown state, phase or version", name);
	srv->attempts = (int)col_int(st, 5);
	srv->has_version = ver != NULL;
	srv->reboot_required = col_int(st, 7) != 0;
	if (store_set_str(&srv->last_error, col_text(st, 8)) != 0)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	srv->started_at = col_int(st, 9);
	srv->finished_at = col_int(st, 10);
	srv->phase_started_at = col_int(st, 11);
	srv->wake_at = col_int(st, 12);
	srv->install_ms = col_int(st, 13);
	return 0;
}

/* A cluster's node by name, or NULL when name is not one of its nodes. */
static struct server *
store_node(struct cluster *c, const char *name)
{
	for (int k = 0; name != NULL && k < 2; k++) {
		if (name_equal(c->nodes[k]->name, name))
			return c->nodes[k];
	}
	return NULL;
}

static int
store_row_cluster(struct store *s, struct model *m, sqlite3_stmt *st,
    char *err, size_t errlen)
{
	const char *name = col_text(st, 0), *orig = col_text(st, 4),
	    *active = col_text(st, 5), *cms = col_text(st, 6);
	struct cluster *c = model_cluster(m, name);

	if (c == NULL)
		return store_corrupt(s, err, errlen, "cluster '%s' vanished",
		    store_or_none(name));
	if (cluster_step_parse(col_text(st, 3), &c->step) != 0 ||
	    (orig != NULL && store_node(c, orig) == NULL) ||
	    (active != NULL && store_node(c, active) == NULL) ||
	    (cms != NULL && strlen(cms) >= sizeof(c->cms_state)))
		return store_corrupt(s, err, errlen, "cluster '%s' has an "
		    "unknown step, node or state", name);
	c->original_active = store_node(c, orig);
	c->active = store_node(c, active);
	snprintf(c->cms_state, sizeof(c->cms_state), "%s", cms ? cms : "");
	c->approved_failover = col_int(st, 7) != 0;
	c->approved_failback = col_int(st, 8) != 0;
	c->cms_stopped = col_int(st, 9) != 0;
	c->blocked = col_int(st, 10) != 0;
	c->attempts = (int)col_int(st, 11);
	c->moves = (int)col_int(st, 12);
	if (store_set_str(&c->last_error, col_text(st, 13)) != 0)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	c->started_at = col_int(st, 14);
	c->finished_at = col_int(st, 15);
	c->wake_at = col_int(st, 16);
	return 0;
}

/* A job still in flight: back on its unit, the live list and the outbox,
 * so the shell re-POSTs the same id and body (DESIGN §3.3). */
static int
store_row_job(struct store *s, struct model *m, sqlite3_stmt *st,
    char *err, size_t errlen)
{
	const char *id = col_text(st, 0), *sname = col_text(st, 3),
	    *cname = col_text(st, 4);
	const void *body = sqlite3_column_blob(st, 5);
	size_t blen = (size_t)sqlite3_column_bytes(st, 5);
	struct server *srv = sname != NULL ? model_server(m, sname) : NULL;
	struct cluster *cl = cname != NULL ? model_cluster(m, cname) : NULL;
	struct job *j, *other;
	enum job_state state;
	enum job_kind kind;
	char *request;

	if (id == NULL || !name_valid_job_id(id))
		return store_corrupt(s, err, errlen, "a job has the id '%s'",
		    store_or_none(id));
	if (job_kind_parse(col_text(st, 1), &kind) != 0 ||
	    job_state_parse(col_text(st, 2), &state) != 0 ||
	    (srv == NULL) == (cl == NULL) || body == NULL)
		return store_corrupt(s, err, errlen, "job '%s' has an unknown "
		    "kind, state or unit, or no request", id);
	if ((other = srv != NULL ? srv->job : cl->job) != NULL)
		return store_corrupt(s, err, errlen, "jobs '%s' and '%s' are "
		    "both in flight for '%s'", other->id, id,
		    srv != NULL ? srv->name : cl->name);
	/* The body exactly as stored: it is re-sent byte for byte. */
	if ((request = malloc(blen + 1)) == NULL)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	memcpy(request, body, blen);
	request[blen] = '\0';
	j = model_job_restore(m, kind, state, srv, cl, id, request,
	    col_int(st, 6), col_int(st, 7));
	if (j == NULL)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	j->http_status = (int)col_int(st, 8);
	return 0;
}

static int
store_load_rows(struct store *s, struct model *m, enum store_stmt which,
    int (*row)(struct store *, struct model *, sqlite3_stmt *, char *,
    size_t), char *err, size_t errlen)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc = SQLITE_OK, ret = 0;

	if (which == STMT_JOBS_LIVE) {
		bind_text(st, 1, job_state_name(JOB_INTENT), &rc);
		bind_text(st, 2, job_state_name(JOB_SUBMITTED), &rc);
	}
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
		    (ret = row(s, m, st, err, errlen)) == 0)
			;
	}
	return store_end(s, which, rc, ret, err, errlen);
}

/* First start: a random nonce (it prefixes every job id, so two rollouts
 * sharing a gateway never collide), the inventory, the first event. */
static int
store_create(struct store *s, struct model *m, char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[(sizeof(m->rollout.nonce) - 1) / 2];
	int64_t now = time_now_ms();
	ssize_t n;

	while ((n = getrandom(rnd, sizeof(rnd), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rnd))
		return store_err(err, errlen, n < 0 ? -errno : -EIO,
		    "cannot get random bytes for the rollout nonce: %s",
		    n < 0 ? strerror(errno) : "short read");
	for (size_t i = 0; i < sizeof(rnd); i++) {
		m->rollout.nonce[2 * i] = hex[rnd[i] >> 4];
		m->rollout.nonce[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	m->rollout.nonce[2 * sizeof(rnd)] = '\0';
	m->rollout.state = ROLLOUT_RUNNING;
	m->rollout.pause_cause = PAUSE_NONE;
	m->rollout.job_seq = 0;
	m->rollout.created_at = m->rollout.updated_at = now;
	model_touch(m, &m->rollout.dirty);
	for (size_t i = 0; i < m->nservers; i++)
		model_touch(m, &m->servers[i].dirty);
	for (size_t i = 0; i < m->nclusters; i++)
		model_touch(m, &m->clusters[i].dirty);
	if (model_event_data(m, now, "rollout.created", "rollout", STORE_ACTOR,
	    json_pack("{s:I, s:I, s:s}", "servers", (json_int_t)m->nservers,
	    "clusters", (json_int_t)m->nclusters, "target_version", s->target),
	    "rollout created: %zu server%s, %zu cluster%s, target %s",
	    m->nservers, m->nservers == 1 ? "" : "s", m->nclusters,
	    m->nclusters == 1 ? "" : "s", s->target) != 0)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	if (store_commit(s, m) != 0)
		return store_err(err, errlen, -EIO,
		    "state file '%s': cannot store the new rollout: %s",
		    s->path, s->sqlerr);
	model_after_commit(m, NULL, NULL);
	log_info("state file '%s': new rollout '%s', target %s", s->path,
	    m->rollout.nonce, s->target);
	return 0;
}

/* Servers without a rollout row: not a file this code wrote. */
static int
store_check_empty(struct store *s, char *err, size_t errlen)
{
	int rc = sqlite3_step(s->stmt[STMT_SERVERS_GET]), ret = 0;

	if (rc == SQLITE_ROW) {
		ret = store_corrupt(s, err, errlen,
		    "it has servers but no rollout");
		rc = SQLITE_DONE;
	}
	return store_end(s, STMT_SERVERS_GET, rc, ret, err, errlen);
}

/* The configuration against the stored rollout: the same target version
 * and the same inventory (m built from cfg), or -EEXIST naming every
 * difference. */
static int
store_check_same(struct store *s, const struct config *cfg,
    const struct version *target, struct model *m, char *err, size_t errlen)
{
	char want[VERSION_STRLEN], stored[VERSION_STRLEN];

	if (version_cmp(target, &cfg->target_version) != 0)
		return store_err(err, errlen, -EEXIST, "the configuration's "
		    "target_version %s differs from the stored rollout's %s. "
		    "Start a new rollout with a new state_file, or restore "
		    "target_version %s.",
		    version_format(&cfg->target_version, want, sizeof(want)),
		    version_format(target, stored, sizeof(stored)), stored);
	return store_check_inventory(s, m, err, errlen);
}

int
store_check_config(struct store *s, const struct config *cfg, char *err,
    size_t errlen)
{
	struct plan none = { 0 };
	struct model tmp;
	struct rollout r = { 0 };
	struct version target;
	bool found = false;
	int rc;

	if (model_init(&tmp, cfg, &none) != 0)
		return store_err(err, errlen, -ENOMEM, "out of memory");
	if (store_run(s, STMT_BEGIN_READ, SQLITE_OK) != SQLITE_OK) {
		rc = store_err(err, errlen, -EIO, "state file '%s': %s",
		    s->path, s->sqlerr);
		goto out;
	}
	rc = store_get_rollout(s, &r, &target, &found, err, errlen);
	if (rc == 0 && found)
		rc = store_check_same(s, cfg, &target, &tmp, err, errlen);
	store_run(s, STMT_COMMIT, SQLITE_OK);
out:
	free(r.reason);
	model_free(&tmp);
	return rc;
}

/*
 * On failure m may be partly loaded: it is then only fit for model_free(),
 * which is all a daemon that cannot load its state does with it.
 */
int
store_load(struct store *s, const struct config *cfg, struct model *m,
    char *err, size_t errlen)
{
	char cfg_target[VERSION_STRLEN];
	struct rollout r = { 0 };
	struct version target;
	bool found, in_txn = false;
	int rc;

	version_format(&cfg->target_version, cfg_target, sizeof(cfg_target));
	if ((rc = store_set_str(&s->target, cfg_target)) != 0) {
		rc = store_err(err, errlen, rc, "out of memory");
		goto out;
	}
	/* One read transaction: every row from the same snapshot. */
	if (store_run(s, STMT_BEGIN_READ, SQLITE_OK) != SQLITE_OK) {
		rc = store_err(err, errlen, -EIO, "state file '%s': %s",
		    s->path, s->sqlerr);
		goto out;
	}
	in_txn = true;
	if ((rc = store_get_rollout(s, &r, &target, &found, err,
	    errlen)) != 0)
		goto out;
	if (!found) {
		if ((rc = store_check_empty(s, err, errlen)) != 0)
			goto out;
		store_run(s, STMT_COMMIT, SQLITE_OK);
		in_txn = false;
		rc = store_create(s, m, err, errlen);
		goto out;
	}
	if ((rc = store_check_same(s, cfg, &target, m, err, errlen)) != 0 ||
	    (rc = store_load_rows(s, m, STMT_SERVERS_GET, store_row_server,
	    err, errlen)) != 0 ||
	    (rc = store_load_rows(s, m, STMT_CLUSTERS_GET, store_row_cluster,
	    err, errlen)) != 0 ||
	    (rc = store_load_rows(s, m, STMT_JOBS_LIVE, store_row_job,
	    err, errlen)) != 0)
		goto out;
	free(m->rollout.reason);
	m->rollout.state = r.state;
	m->rollout.pause_cause = r.pause_cause;
	m->rollout.reason = r.reason;
	r.reason = NULL;
	memcpy(m->rollout.nonce, r.nonce, sizeof(r.nonce));
	m->rollout.job_seq = r.job_seq;
	m->rollout.created_at = r.created_at;
	m->rollout.updated_at = r.updated_at;
out:
	if (in_txn)
		store_run(s, STMT_COMMIT, SQLITE_OK);
	free(r.reason);
	return rc;
}

/*
 * Reading for the control server. Text goes out through model_json_text(),
 * so one odd message cannot make a whole answer fail.
 */

/* RFC 3339, or null for the model's 0. New reference. */
static json_t *
store_json_time(int64_t ms)
{
	char buf[TIME_RFC3339_LEN];

	if (ms == 0)
		return json_null();
	return json_string(time_format_rfc3339(ms, buf, sizeof(buf)));
}

/* An event's data as the protocol shows it: the stored object, or null
 * for an event written before migration 2 (or, which the CHECK of the
 * column rules out, text that is not an object). New reference. */
static json_t *
store_json_data(const char *text)
{
	json_t *d;

	if (text == NULL)
		return json_null();
	d = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(d)) {
		json_decref(d);
		return json_null();
	}
	return d;
}

static json_t *
store_event_obj(int64_t seq, int64_t time, const char *kind,
    const char *subject, const char *message, const char *actor,
    const char *data)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "seq", json_integer(seq)) != 0 ||
	    json_object_set_new(o, "time", store_json_time(time)) != 0 ||
	    json_object_set_new(o, "kind", model_json_text(kind)) != 0 ||
	    json_object_set_new(o, "subject", model_json_text(subject)) != 0 ||
	    json_object_set_new(o, "message", model_json_text(message)) != 0 ||
	    json_object_set_new(o, "actor", model_json_text(actor)) != 0 ||
	    json_object_set_new(o, "data", store_json_data(data)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
store_event_json(const struct event *ev)
{
	return store_event_obj(ev->seq, ev->time, ev->kind, ev->subject,
	    ev->message, ev->actor, ev->data);
}

json_t *
store_events(struct store *s, int64_t since, int limit)
{
	sqlite3_stmt *st = s->stmt[STMT_EVENTS_SINCE];
	json_t *arr = json_array();
	int rc = SQLITE_OK;

	if (arr == NULL)
		return NULL;
	bind_int(st, 1, since, &rc);
	bind_int(st, 2, limit > 0 ? limit : STORE_EVENTS_DEFAULT, &rc);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			json_t *o = store_event_obj(col_int(st, 0),
			    col_int(st, 1), col_text(st, 2), col_text(st, 3),
			    col_text(st, 4), col_text(st, 5), col_text(st, 6));

			if (json_array_append_new(arr, o) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
	}
	if (rc != SQLITE_DONE) {
		store_note(s, rc);
		log_warnx("state file '%s': cannot read events: %s", s->path,
		    s->sqlerr);
		json_decref(arr);
		arr = NULL;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return arr;
}

json_t *
store_jobs_of(struct store *s, const char *unit)
{
	sqlite3_stmt *st = s->stmt[STMT_JOBS_OF];
	json_t *arr = json_array();
	int rc = SQLITE_OK;

	if (arr == NULL)
		return NULL;
	bind_text(st, 1, unit, &rc);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
			    "id", model_json_text(col_text(st, 0)),
			    "kind", model_json_text(col_text(st, 1)),
			    "state", model_json_text(col_text(st, 2)),
			    "created_at", store_json_time(col_int(st, 3)),
			    "finished_at", store_json_time(col_int(st, 4)),
			    "error", model_json_text(col_text(st, 5)));

			if (json_array_append_new(arr, o) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
	}
	if (rc != SQLITE_DONE) {
		store_note(s, rc);
		log_warnx("state file '%s': cannot read the jobs of '%s': %s",
		    s->path, unit != NULL ? unit : "", s->sqlerr);
		json_decref(arr);
		arr = NULL;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return arr;
}
