/*
 * store — the rollout's state file: one SQLite database, only ever opened
 * by the daemon (DESIGN §3).
 *
 *  - A lock file beside the database ("<state>.lock") is locked exclusively
 *    (flock) before the database is touched and holds the owner's pid; a
 *    second daemon on the same state refuses to start, naming that pid.
 *  - WAL journal, synchronous=FULL, foreign keys on, application_id set,
 *    PRAGMA quick_check at open.
 *  - Numbered migrations from schema/ (compiled in), each in one
 *    transaction, tracked by user_version; a file from a newer exroll is
 *    refused.
 *  - Every write is one BEGIN IMMEDIATE transaction: store_commit() writes
 *    the model's dirty records and queued events together, so a state and
 *    the event that records it are never apart. Nothing else writes state.
 *  - Statements are prepared once at open and reset after use; values are
 *    always bound, never spliced into SQL.
 */
#ifndef EXROLL_STORE_H
#define EXROLL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "model.h"
#include "plan.h"

struct store;

#define STORE_SCHEMA_VERSION_LATEST store_schema_latest()

/* Opens (creating if absent) the state file at path, lock first.
 * Returns 0 and *out, or a negative errno with a sentence in err:
 *   -EWOULDBLOCK  another process holds the lock ("... pid 1234")
 *   -EPROTO       corrupt file, failed quick_check, or newer schema
 *   other         cannot create/open (strerror in the message) */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);

/* Loads the rollout into m (already built by model_init from cfg).
 * First start (no rollout stored): stores cfg's inventory and the rollout
 * with the event "rollout.created", in one transaction.
 * Later starts: the stored inventory must equal cfg's (names compared
 * case-insensitively, roles, clusters and their nodes); if not, returns
 * -EEXIST with err naming every server or cluster that differs. Then reads
 * every server, cluster and non-terminal job into m (jobs re-linked to their
 * units and put in m->live, and those in intent/submitted into the outbox).
 * Returns 0 or a negative errno with err set. */
int store_load(struct store *s, const struct config *cfg, struct model *m,
    char *err, size_t errlen);

/* For a reload (SIGHUP): 0 when cfg's inventory and target version equal
 * the stored rollout's, else -EEXIST with err naming every difference, in
 * the words of store_load. */
int store_check_config(struct store *s, const struct config *cfg, char *err,
    size_t errlen);

/* Writes m's dirty records and queued events in one BEGIN IMMEDIATE
 * transaction, assigning each event its seq. Does not clear anything: the
 * caller calls model_after_commit() on success. Returns 0 or -EIO (logged). */
int store_commit(struct store *s, struct model *m);

/* Events with seq > since, oldest first, at most limit (<=0: 1000).
 * Each: {"seq", "time" (RFC 3339), "kind", "subject", "message", "actor",
 * "data"}: data is the event's object (schema/control-protocol.md gives
 * its shape per kind), or null for an event written before migration 2.
 * Returns a new array or NULL. */
json_t *store_events(struct store *s, int64_t since, int limit);

/* An event as the control protocol shows it (same shape as above).
 * Returns a new object or NULL. */
json_t *store_event_json(const struct event *ev);

/* Every job row (terminal or not) of a unit, oldest first, for the report:
 * {"id", "kind", "state", "created_at", "finished_at", "error"}. */
json_t *store_jobs_of(struct store *s, const char *unit);

/* The highest migration this build knows. */
int store_schema_latest(void);

#endif
