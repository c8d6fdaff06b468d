/*
 * model — the rollout's state in memory: the rollout, one record per server
 * and cluster of the inventory, and the gateway jobs not yet finished.
 *
 * It is the single source the engine decides from and the control server
 * reads from, and a faithful copy of the state file: the engine changes
 * records only through its transition functions, which mark them dirty and
 * queue the event that explains the change; store_commit() then writes every
 * dirty record and every queued event in ONE transaction (DESIGN §3.1). If
 * that commit fails, memory is ahead of the file and the daemon exits: the
 * next start resumes from the file, which is always consistent.
 *
 * Names and enum values below are the ones stored and shown on the control
 * socket; *_name() gives the text, *_parse() reads it back.
 */
#ifndef EXROLL_MODEL_H
#define EXROLL_MODEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "version.h"

enum rollout_state {
	ROLLOUT_RUNNING,
	ROLLOUT_PAUSED,
	ROLLOUT_WAITING_WINDOW,
	ROLLOUT_COMPLETED,
	ROLLOUT_ABORTED,
};

/* Why the rollout is paused: only a failure pause lifts itself when the
 * operator has retried or skipped every failed unit. */
enum pause_cause {
	PAUSE_NONE,
	PAUSE_OPERATOR,
	PAUSE_FAILURE,
};

enum server_state {
	SERVER_PENDING,		/* not started */
	SERVER_RUNNING,		/* in a phase, a job in flight or a wake due */
	SERVER_FAILED,		/* needs the operator: retry or skip */
	SERVER_DONE,
	SERVER_SKIPPED,
};

enum server_phase {
	PHASE_NONE,		/* pending: no phase yet */
	PHASE_PRECHECK,
	PHASE_INSTALL,
	PHASE_REBOOT,
	PHASE_VERIFY,
	PHASE_DONE,
};

enum cluster_step {
	STEP_PENDING,
	STEP_DISCOVER,
	STEP_UPGRADE_PASSIVE,
	STEP_FAILOVER,		/* checkpoint first, then stop/move/upgradeCMS */
	STEP_UPGRADE_FORMER_ACTIVE,
	STEP_FAILBACK,		/* checkpoint first, then move back */
	STEP_DONE,
	STEP_SKIPPED,
};

enum job_state {
	JOB_INTENT,		/* committed, not yet accepted by the gateway */
	JOB_SUBMITTED,		/* the gateway answered 200/201 */
	JOB_COMPLETED,		/* the gateway's job completed */
	JOB_FAILED,		/* the gateway's job failed */
	JOB_REJECTED,		/* the gateway refused it (400/401/403/404/409) */
};

/* What a job does; one cmdlet each (DESIGN §2). */
enum job_kind {
	JOB_GET_SERVER,		/* Get-ExchangeServer: precheck and verify */
	JOB_TEST_HEALTH,	/* Test-ServiceHealth: verify */
	JOB_SETUP,		/* Invoke-ExchangeSetup -Mode Upgrade */
	JOB_RESTART,		/* Restart-Computer */
	JOB_CMS_STATUS,		/* Get-ClusteredMailboxServerStatus */
	JOB_CMS_STOP,		/* Stop-ClusteredMailboxServer */
	JOB_CMS_MOVE,		/* Move-ClusteredMailboxServer */
	JOB_CMS_SETUP,		/* Invoke-ExchangeSetup -Mode UpgradeCMS */
	JOB_CMS_START,		/* Start-ClusteredMailboxServer */
};

enum model_rec {
	REC_ROLLOUT,
	REC_SERVER,
	REC_CLUSTER,
	REC_JOB,
};

/* Intrusive dirty-list link, embedded in every record. */
struct model_dirty {
	struct model_dirty *next;
	enum model_rec rec;
	bool queued;
};

struct server;
struct cluster;

#define JOB_ID_MAX 64

struct job {
	struct model_dirty dirty;
	char id[JOB_ID_MAX + 1];	/* the gateway idempotency key */
	enum job_kind kind;
	enum job_state state;
	struct server *server;		/* the unit it serves: one of these two */
	struct cluster *cluster;
	char *request;			/* exact POST body, JSON text */
	int64_t created_at;
	int64_t submitted_at;		/* 0 until accepted */
	int64_t finished_at;		/* 0 until terminal */
	int http_status;		/* last status that decided the state */
	char *result;			/* terminal: the job object, JSON text */
	char *error;			/* failed/rejected: the reason */
	void *op;			/* the shell's, while the gateway follows it */
	struct job *next_live;		/* model's list of non-terminal jobs */
	struct job *prev_live;
	struct job *next_outbox;	/* queued for the shell to submit */
	bool in_outbox;
};

struct server {
	struct model_dirty dirty;
	int index;			/* in the configuration's servers */
	char *name;
	unsigned roles;			/* ROLE_BIT mask */
	struct cluster *cluster;	/* CCR node of, or NULL */
	int wave;			/* plan wave, -1 for a CCR node */
	enum server_state state;
	enum server_phase phase;
	int attempts;			/* failed tries since start or retry */
	bool has_version;
	struct version version;		/* last reported by Get-ExchangeServer */
	bool reboot_required;		/* setup said so */
	char *last_error;
	int64_t started_at;
	int64_t finished_at;
	int64_t phase_started_at;	/* for install/verify timeouts */
	int64_t wake_at;		/* 0: none; else the engine wants a wake */
	int64_t install_ms;		/* measured duration of the last setup */
	struct job *job;		/* in flight, or NULL */
	size_t heap_pos;		/* the shell's timer heap slot */
	char wait_note[192];		/* why it waits (memory only), or "" */
};

struct cluster {
	struct model_dirty dirty;
	int index;			/* in the configuration's clusters */
	char *name;
	struct server *nodes[2];	/* configuration order */
	struct server *original_active;	/* discovered once; NULL before */
	struct server *active;		/* last observed owner */
	char cms_state[24];		/* last observed State, "" before */
	int wave;
	enum cluster_step step;
	bool approved_failover;
	bool approved_failback;
	bool cms_stopped;		/* we issued the stop of this failover */
	bool blocked;			/* needs the operator (last_error says why) */
	int attempts;			/* failed actions in this step */
	int moves;			/* moves issued (for the report) */
	char *last_error;
	int64_t started_at;
	int64_t finished_at;
	int64_t wake_at;
	struct job *job;		/* in flight, or NULL */
	size_t heap_pos;
	int64_t action_started_at;	/* first action of this failover/failback
					 * (memory only: for the estimate) */
	char wait_note[192];		/* why it waits (memory only), or "" */
};

struct rollout {
	struct model_dirty dirty;
	enum rollout_state state;
	enum pause_cause pause_cause;
	char *reason;			/* why paused/aborted/waiting, or NULL */
	char nonce[13];			/* random, prefixes every job id */
	uint64_t job_seq;		/* last job number issued */
	int64_t created_at;
	int64_t updated_at;
};

/* One row of the append-only events table. message is for people; data
 * is for programs (the report, notifications, watch clients): the same
 * facts as a JSON object whose shape per kind is documented in
 * schema/control-protocol.md, so nobody has to read them back out of the
 * sentence. */
struct event {
	int64_t seq;			/* assigned by store_commit */
	int64_t time;
	char *kind;			/* "server.phase", "cluster.step", ... */
	char *subject;			/* server or cluster name, or "rollout" */
	char *message;
	char *actor;			/* "exrolld" or "uid 1000 (alice)" */
	char *data;			/* compact JSON object text, or NULL */
	struct event *next;
};

struct model {
	struct rollout rollout;
	struct server *servers;
	size_t nservers;
	struct cluster *clusters;
	size_t nclusters;
	struct server **servers_by_name;	/* sorted case-insensitively */
	struct cluster **clusters_by_name;
	struct job *live;		/* non-terminal jobs */
	size_t nlive;
	struct model_dirty *dirty;	/* records to write at commit */
	struct job *outbox;		/* intent jobs for the shell to POST */
	struct job *outbox_tail;
	struct job *retired;		/* terminal jobs to free after commit */
	struct event *events;		/* queued for the next commit */
	struct event *events_tail;
};

/* Builds the records of cfg's inventory, all pending, rollout running.
 * plan gives each unit its wave. Returns 0 or -ENOMEM. */
struct plan;
int model_init(struct model *m, const struct config *cfg,
    const struct plan *plan);
void model_free(struct model *m);

/* By name, case-insensitively (as Windows compares computer names), in
 * O(log n): the store looks up every row it loads, the control commands
 * every name they are given. NULL when absent. */
struct server *model_server(struct model *m, const char *name);
struct cluster *model_cluster(struct model *m, const char *name);

/* Queues rec for the next commit (idempotent). */
void model_touch(struct model *m, struct model_dirty *d);

/* Queues an event without data for the next commit; message is
 * printf-style. Returns 0 or -ENOMEM. */
int model_event(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The same with data, a JSON object (stolen, even on failure) stored as
 * compact text. data NULL means its builder ran out of memory: -ENOMEM, so
 * callers may pass json_pack()'s result unchecked. Returns 0, -ENOMEM, or
 * -EINVAL when data is not an object. */
int model_event_data(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt,
    ...) __attribute__((format(printf, 7, 8)));
int model_event_vdata(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt,
    va_list ap) __attribute__((format(printf, 7, 0)));

/* A JSON string of s for event data (new reference), NULL giving JSON
 * null. Text that is not valid UTF-8 (a reason cut in the middle of a
 * character, a gateway's odd bytes) has its non-ASCII bytes replaced by
 * '?', so data is always valid JSON. NULL only on ENOMEM. */
json_t *model_json_text(const char *s);

/* A fresh job id into buf (JOB_ID_MAX + 1 bytes): the rollout's random
 * nonce and the next job sequence number (the rollout row is marked dirty,
 * so the sequence is committed with the job). Returns 0 or -ENAMETOOLONG. */
int model_job_id(struct model *m, char *buf, size_t len);

/* Creates a job in state intent with id (from model_job_id), attached to
 * server or cluster, taking ownership of request (JSON text that embeds
 * the same id); queues it in the outbox and the live list. Returns the job,
 * or NULL on ENOMEM (request freed). */
struct job *model_job_new(struct model *m, enum job_kind kind,
    struct server *srv, struct cluster *cl, const char *id, char *request,
    int64_t now);

/* For store_load: re-creates a stored intent/submitted job, linked to its
 * unit, the live list and the outbox, not dirty. NULL on ENOMEM. */
struct job *model_job_restore(struct model *m, enum job_kind kind,
    enum job_state state, struct server *srv, struct cluster *cl,
    const char *id, char *request, int64_t created_at, int64_t submitted_at);

/* Moves a job to a terminal state and detaches it from its unit; it stays
 * queued for the commit and is freed by model_after_commit(). */
void model_job_finish(struct model *m, struct job *j, enum job_state state,
    int http_status, char *result, char *error, int64_t now);

/* After a successful store_commit(): clears dirty marks and frees retired
 * jobs; calls each(ev, arg) for every committed event (with its seq) before
 * freeing it. The outbox is left for the shell. */
void model_after_commit(struct model *m,
    void (*each)(const struct event *ev, void *arg), void *arg);

/* Takes the outbox (the shell POSTs each job, following next_outbox and
 * clearing in_outbox). */
struct job *model_take_outbox(struct model *m);

/* The record a dirty link belongs to, by its rec tag (for the store). */
struct server *model_dirty_server(struct model_dirty *d);
struct cluster *model_dirty_cluster(struct model_dirty *d);
struct job *model_dirty_job(struct model_dirty *d);

const char *rollout_state_name(enum rollout_state s);
const char *server_state_name(enum server_state s);
const char *server_phase_name(enum server_phase p);
const char *cluster_step_name(enum cluster_step s);
const char *job_state_name(enum job_state s);
const char *job_kind_name(enum job_kind k);
const char *pause_cause_name(enum pause_cause c);
int rollout_state_parse(const char *s, enum rollout_state *out);
int server_state_parse(const char *s, enum server_state *out);
int server_phase_parse(const char *s, enum server_phase *out);
int cluster_step_parse(const char *s, enum cluster_step *out);
int job_state_parse(const char *s, enum job_state *out);
int job_kind_parse(const char *s, enum job_kind *out);
int pause_cause_parse(const char *s, enum pause_cause *out);

#endif
