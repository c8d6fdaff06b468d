/*
 * engine — the functional core: given the stored state (the model), the
 * time and one event, it decides what happens next. It performs no I/O: it
 * changes model records through the transition functions of its three state
 * machines (the rollout here, a server's phases in upgrade.c, a CCR
 * cluster's steps in cluster.c), each of which queues the event that
 * records the change, and it creates jobs in state intent in the model's
 * outbox. The shell (shell.c) then commits all of it in one transaction and
 * only after that POSTs the outbox and arms timers (DESIGN §3.1, §3.2).
 *
 * Rollout states (DESIGN §4):
 *
 *            pause / failure               window closes
 *   running ----------------> paused    running ------> waiting_window
 *      ^  <---------------------'          ^  <-------------'
 *      |      resume (operator), or        |    window opens
 *      |      last failure retried/skipped |
 *      '--> completed (every wave ended)   '--> aborted (operator; final)
 *
 * Invariants:
 *  - only in running does anything new start (a job whose kind has a side
 *    effect, or a new unit); in every state, jobs already in flight are
 *    followed to their end and their results recorded;
 *  - the current wave is the first with a unit not done/skipped; no unit of
 *    a later wave has started;
 *  - at most policy.max_parallel[role] units of a wave are active
 *    (started and not done/skipped);
 *  - completed and aborted are final.
 *
 * Work per event is proportional to what it changes: waves keep a cursor
 * and counters, so starting the next unit never rescans the organization.
 */
#ifndef EXROLL_ENGINE_H
#define EXROLL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gateway.h"
#include "model.h"
#include "plan.h"
#include "window.h"

#define ENGINE_ACTOR "exrolld"

struct engine_unit {
	struct server *server;		/* one of these two */
	struct cluster *cluster;
};

struct engine_wave {
	enum role role;
	struct engine_unit *units;
	size_t nunits;
	size_t next;			/* first unit never started */
	size_t active;			/* started, not ended */
	size_t ended;			/* done or skipped */
};

struct engine {
	struct model *m;
	const struct config *cfg;
	struct engine_wave *waves;
	size_t nwaves;
	size_t cur;			/* current wave (== nwaves: all ended) */
	struct window_state window;
	bool started;
	/* Measured durations, for the window-aware start: setups per role
	 * (from the stored install_ms) and moves of CCR steps (this run). */
	int64_t install_sum[ROLE_COUNT];
	int install_n[ROLE_COUNT];
	int64_t ccr_sum[2];		/* failover, failback */
	int ccr_n[2];
};

/* Builds the wave table from plan over m's records. Returns 0 or -ENOMEM. */
int engine_init(struct engine *e, struct model *m, const struct config *cfg,
    const struct plan *plan);
void engine_free(struct engine *e);

/* Resume from the file alone (DESIGN §3.3-3.4): jobs in intent/submitted
 * are already in the outbox (store_load); every running unit with neither a
 * job nor a wake re-enters its phase, which re-reads real state first. */
void engine_start(struct engine *e, int64_t now);

/* A reloaded configuration (policies, windows; the inventory is unchanged).
 * Rebuilds the waves from the new plan. Returns 0 or -ENOMEM. */
int engine_reconfigure(struct engine *e, const struct config *cfg,
    const struct plan *plan, int64_t now);

/* The gateway accepted j (200/201). */
void engine_job_accepted(struct engine *e, struct job *j, int64_t now);
/* j reached its end. */
void engine_job_done(struct engine *e, struct job *j,
    const struct gw_result *res, int64_t now);
/* A unit's wake_at is due. */
void engine_wake_server(struct engine *e, struct server *s, int64_t now);
void engine_wake_cluster(struct engine *e, struct cluster *c, int64_t now);
/* The window state changed (or was first evaluated). */
void engine_window(struct engine *e, const struct window_state *ws,
    int64_t now);

/* Operator commands. actor names the peer ("uid 1000 (alice)").
 * Return 0 (msg may hold a note such as "already paused"), or:
 *   -ENOENT  no such server/cluster          (not_found)
 *   -EBUSY   not allowed in the current state (conflict)
 *   -EINVAL  a bad argument                   (bad_request)
 * with the reason in msg. */
int engine_pause(struct engine *e, const char *reason, const char *actor,
    int64_t now, char *msg, size_t msglen);
int engine_resume(struct engine *e, const char *actor, int64_t now,
    char *msg, size_t msglen);
int engine_approve(struct engine *e, const char *cluster,
    const char *checkpoint, const char *actor, int64_t now, char *msg,
    size_t msglen);
int engine_retry(struct engine *e, const char *name, const char *actor,
    int64_t now, char *msg, size_t msglen);
int engine_skip(struct engine *e, const char *name, const char *reason,
    const char *actor, int64_t now, char *msg, size_t msglen);
int engine_abort(struct engine *e, const char *reason, const char *actor,
    int64_t now, char *msg, size_t msglen);

/* The checkpoint a cluster waits at ("failover"/"failback"), or NULL. */
const char *engine_pending_checkpoint(const struct engine *e,
    const struct cluster *c);

/* "pending", "active", "done" for wave i. */
const char *engine_wave_state(const struct engine *e, size_t i);

/* The one transition function of the rollout machine: persists the new
 * state with its event and logs "old -> new (reason)". Used by upgrade.c and
 * cluster.c to pause on a failure. */
void engine_rollout_set(struct engine *e, enum rollout_state st,
    enum pause_cause cause, const char *reason, const char *actor,
    int64_t now);

/* True when a job of this kind may be started now (see invariants). */
bool engine_may_start(const struct engine *e, enum job_kind kind);

/* Window-aware start: true when work expected to take expected_ms, started
 * now, ends before the open window closes (or no window closes). Otherwise
 * writes why into note (the unit's wait_note). */
bool engine_fits_window(const struct engine *e, int64_t expected_ms,
    int64_t now, const char *what, char *note, size_t notelen);
/* Expected setup time for s: the mean of this rollout's setups of the same
 * role, or install_timeout_s before any. */
int64_t engine_expected_install(const struct engine *e, const struct server *s);
/* Records a setup's duration for later estimates. */
void engine_note_install(struct engine *e, const struct server *s, int64_t ms);
/* Expected and measured failover (0) / failback (1) durations. */
int64_t engine_expected_ccr(const struct engine *e, int which);
void engine_note_ccr(struct engine *e, int which, int64_t ms);

/* A unit of wave reached done or skipped (was_started: it had started, so
 * it held one of the wave's parallel slots): counts it and starts what may
 * follow. */
void engine_unit_ended(struct engine *e, int wave, bool was_started,
    int64_t now);

/* Queues a job for a unit (server or cluster): a fresh id, the request
 * built by the caller with that id. Out of memory is fatal: the file is
 * consistent and the next start resumes from it. */
void engine_job_id(struct engine *e, char id[JOB_ID_MAX + 1]);
struct job *engine_job(struct engine *e, enum job_kind kind,
    struct server *s, struct cluster *c, const char *id, char *request,
    int64_t now);

/* An event on behalf of the engine (actor exrolld) or an operator, with
 * its structured data (a JSON object, stolen): every event the engine
 * writes has data, so NULL (a builder out of memory) is fatal. */
void engine_event(struct engine *e, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* d, or a fatal exit when its builder ran out of memory (NULL): for the
 * parts of an event's data built apart from it. */
json_t *engine_data(json_t *d);

/* Starts units of the current wave while capacity allows. */
void engine_schedule(struct engine *e, int64_t now);

#endif
