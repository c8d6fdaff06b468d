/*
 * exchange-sim — a simulated Exchange 2007 organization behind the gateway
 * protocol of DESIGN §2. One header for the whole program (as bgpd.h is for
 * bgpd): the structures every module shares and each module's entry points.
 *
 *   main.c    command line, start-up, signals, shutdown
 *   org.c     the organization (servers, CCR clusters), the simulated clock,
 *             what the read commands report
 *   ccr.c     the clustered mailbox server state machine
 *   cmd.c     request validation and what each command does to the org
 *   jobs.c    the job table, idempotency, job objects, the event scheduler
 *   faults.c  injected faults and the seeded PRNG that draws them
 *   record.c  the record of commands, violations and webhooks
 *   api.c     the HTTP server (libmicrohttpd), long polls, the timer thread
 *
 * Concurrency: MHD runs every request in its one internal thread; a timer
 * thread wakes long polls and delayed answers; the main thread waits for
 * signals. Everything below struct sim is protected by sim.lock, which each
 * entry point documents as "locked" (caller holds it) where it applies.
 *
 * Time: every time inside the model is SIMULATED milliseconds since the
 * Unix epoch. The simulated clock starts at the wall-clock time of start-up
 * and runs time_scale times faster than the monotonic clock. The model is
 * advanced lazily (on each request) and by the timer thread, always event
 * by event in simulated-time order, so results depend only on when requests
 * arrive, never on when the model happens to be looked at.
 */
#ifndef EXSIM_SIM_H
#define EXSIM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "role.h"
#include "version.h"

#define SIM_NAME_MAX	254	/* a host name (253) and its NUL */
#define SIM_ID_MAX	65	/* a job id (64) and its NUL */
#define SIM_NEVER	INT64_MAX

/* --- options (main.c) ---------------------------------------------------- */

struct sim_opts {
	const char *org_file;
	const char *listen;		/* default 127.0.0.1 */
	int port;			/* 0: ephemeral */
	const char *port_file;
	char *token;			/* NULL: no authentication */
	const char *tls_cert, *tls_key;
	const char *record_path;
	double time_scale;
	struct version start_version;
	struct version install_version;
	/* durations, simulated milliseconds */
	int64_t setup_ms, setup_cms_ms, reboot_ms, services_delay_ms;
	int64_t move_ms, stop_ms, query_ms;
	uint64_t seed;
};

/* --- the organization (org.c, ccr.c) ------------------------------------- */

struct sim_job;

struct sim_server {
	char name[SIM_NAME_MAX];
	unsigned roles;			/* ROLE_BIT mask */
	struct version version;		/* of the installed Exchange binaries */
	int cluster;			/* index of its CCR cluster, or -1 */
	int64_t down_until;		/* restarting (unreachable) until then */
	int64_t services_at;		/* required services run from then on */
	struct sim_job *setup;		/* setup (either mode) running on it */
	unsigned setups;		/* -Mode Upgrade runs started */
};

/* The State of Get-ClusteredMailboxServerStatus; ccr.c has the diagram. */
enum ccr_state {
	CCR_ONLINE,
	CCR_PARTIALLY_ONLINE,
	CCR_ONLINE_PENDING,
	CCR_OFFLINE,
	CCR_OFFLINE_PENDING,
	CCR_FAILED,
};

struct sim_cluster {
	char name[SIM_NAME_MAX];
	int node[2];			/* server indices */
	int owner;			/* server index of the active node */
	enum ccr_state state;
	struct version version;		/* of the CMS, raised by UpgradeCMS */
	bool version_set;		/* by --version CMS=VER */
	struct sim_job *op;		/* Stop/Start/Move/UpgradeCMS running */
	unsigned moves;			/* Move-ClusteredMailboxServer jobs */
	unsigned upgrades;		/* UpgradeCMS jobs */
};

struct sim_org {
	struct sim_server *srv;
	size_t nsrv;
	struct sim_cluster *cl;
	size_t ncl;
};

/* The simulated clock: sim = epoch + (mono - mono0) * scale. */
struct sim_clock {
	int64_t epoch_ms;		/* simulated time at mono0 */
	int64_t mono0_ns;
	double scale;
};

/* --- jobs (jobs.c, cmd.c) ------------------------------------------------ */

enum sim_job_state {
	SIM_JOB_QUEUED,			/* never produced: commands start at once */
	SIM_JOB_RUNNING,
	SIM_JOB_COMPLETED,
	SIM_JOB_FAILED,
};

enum sim_cmd {
	SIM_CMD_GET_SERVER,
	SIM_CMD_TEST_HEALTH,
	SIM_CMD_SETUP,
	SIM_CMD_RESTART,
	SIM_CMD_CMS_STATUS,
	SIM_CMD_CMS_STOP,
	SIM_CMD_CMS_START,
	SIM_CMD_CMS_MOVE,
	SIM_CMD_COUNT
};

/* What a job does to the organization while it runs. */
enum sim_op {
	SIM_OP_NONE,		/* finished at submission */
	SIM_OP_READ,		/* a read that takes query-s */
	SIM_OP_SETUP,		/* Setup.com /mode:Upgrade on server */
	SIM_OP_SETUP_CMS,	/* Setup.com /upgradeCMS on server for cluster */
	SIM_OP_CMS_STOP,
	SIM_OP_CMS_START,
	SIM_OP_CMS_MOVE,	/* to node; online_move when the CMS was running */
};

struct sim_job {
	char id[SIM_ID_MAX];
	uint64_t seq;			/* submission order, from 1 */
	enum sim_cmd cmd;
	char *target;			/* NULL: organization-wide */
	json_t *params;			/* the request's parameters (object) */
	json_t *request;		/* target/command/parameters/timeout_s,
					 * as compared for idempotency */
	enum sim_job_state state;
	int64_t submitted, finished;	/* finished: 0 while running */
	json_t *output;			/* array */
	json_t *error;			/* object, or NULL */
	unsigned replays;

	/* The operation; the job may end (timeout) before it does. */
	enum sim_op op;
	int server, cluster, node;	/* indices, -1 when not applicable */
	bool online_move, fail, reboot;	/* decided at submission */
	int64_t mid;			/* online move: owner switch; else NEVER */
	int64_t end;			/* the operation's end; NEVER when done */
	int64_t deadline;		/* timeout_s; NEVER without one */

	struct sim_job *hnext;		/* hash chain */
	struct sim_job *next;		/* submission order */
	struct sim_job *anext, *aprev;	/* active: op or deadline pending */
};

struct sim_jobs {
	struct sim_job **bucket;
	size_t nbucket, count;
	struct sim_job *first, *last;
	struct sim_job *active;
	uint64_t seq;
};

/* --- faults (faults.c) --------------------------------------------------- */

struct sim_names {
	char **v;
	size_t n;
};

struct sim_faults {
	double http_500_rate, drop_rate, garbage_rate, lose_rate;
	int64_t slow_ms;
	struct sim_names fail_setup;		/* servers and clusters */
	struct sim_names reboot_required;	/* servers, or "all" */
	struct sim_names cms_partial;		/* clusters */
	struct sim_names never_healthy;		/* servers */
};

/* What the faults decided for one /v1 request. */
struct sim_draw {
	bool drop, http_500, garbage, lose;
	int64_t slow_ms;
};

/* --- the whole simulator ------------------------------------------------- */

struct sim {
	pthread_mutex_t lock;
	struct sim_opts opt;		/* read-only after start-up */
	struct sim_clock clock;		/* read-only after start-up */
	struct sim_org org;
	struct sim_jobs jobs;
	struct sim_faults faults;
	uint64_t rng;
	json_t *violations;		/* array of {kind, message, id} */
	json_t *webhooks;		/* array of received bodies */
};

/* org.c */
int org_load(struct sim_org *org, const char *path, const struct sim_opts *opt,
    char *err, size_t errlen);
void org_free(struct sim_org *org);
/* "NAME=VER" (a server or a cluster) and "CMS=NODE". Return 0 or -EINVAL. */
int org_set_version(struct sim_org *org, const char *arg, char *err,
    size_t errlen);
int org_set_active(struct sim_org *org, const char *arg, char *err,
    size_t errlen);
/* After the flags: a CMS without --version takes its owner's version; a
 * CMS that cannot be Online on its owner is an error. */
int org_finish(struct sim_org *org, char *err, size_t errlen);
/* Case-insensitive lookups (Windows names); index or -1. */
int org_server(const struct sim_org *org, const char *name);
int org_cluster(const struct sim_org *org, const char *name);
bool org_reachable(const struct sim *sim, int server, int64_t now);
/* Output items of the read commands (new references); locked. */
json_t *org_cms_item(const struct sim *sim, int cluster, int64_t now);
/* Get-ExchangeServer [-Identity X]: that server or CMS (*found false when
 * it does not exist), or every server and CMS. */
json_t *org_exchange_items(const struct sim *sim, const char *identity,
    bool *found);
json_t *org_health_items(const struct sim *sim, int server, int64_t now);
/* GET /sim/state (new reference); locked. */
json_t *org_state_json(const struct sim *sim, int64_t now);
/* The last of a server's roles in the default wave order. */
enum role org_last_role(unsigned roles);

void clock_init(struct sim_clock *c, double scale);
int64_t clock_now(const struct sim_clock *c);
/* The monotonic time (ns) at which simulated time t is reached. */
int64_t clock_real_ns(const struct sim_clock *c, int64_t t);
int64_t clock_mono_ns(void);

/* ccr.c — locked */
const char *ccr_state_name(enum ccr_state s);
bool ccr_running(enum ccr_state s);
/* Each starts the operation of job j (cluster j->cluster) or ends it at
 * once; see ccr.c. */
void ccr_stop(struct sim *sim, struct sim_job *j, int64_t now);
void ccr_start(struct sim *sim, struct sim_job *j, int64_t now);
void ccr_move(struct sim *sim, struct sim_job *j, const char *to,
    int64_t now);
void ccr_upgrade(struct sim *sim, struct sim_job *j, int64_t now);
void ccr_op_mid(struct sim *sim, struct sim_job *j, int64_t t);
void ccr_op_end(struct sim *sim, struct sim_job *j, int64_t t);
/* The owner node is restarting: an unplanned failover. */
void ccr_node_restart(struct sim *sim, int server, int64_t t);
/* Setup changed the binaries of server at t. */
void ccr_node_upgraded(struct sim *sim, int server, int64_t t);

/* cmd.c */
const char *cmd_name(enum sim_cmd c);
/* Validates a POST /v1/jobs body (borrowed). On success fills *cmd and
 * *request (new: the normalized target/command/parameters/timeout_s) and
 * returns 200; else returns the HTTP status (400, 403) with msg set. A 403
 * for Confirm also records a violation (hence locked). */
int cmd_validate(struct sim *sim, const json_t *body, enum sim_cmd *cmd,
    json_t **request, char *msg, size_t msglen);
/* Starts a new job's command against the org (locked). */
void cmd_start(struct sim *sim, struct sim_job *j, int64_t now);
/* The operation of j reaches its end at t (locked). */
void cmd_op_end(struct sim *sim, struct sim_job *j, int64_t t);

/* jobs.c — locked */
int jobs_init(struct sim_jobs *t);
void jobs_free(struct sim_jobs *t);
struct sim_job *jobs_find(const struct sim_jobs *t, const char *id);
/* Creates, inserts and starts a job from a validated request (borrowed).
 * Returns 0 or -ENOMEM. */
int jobs_submit(struct sim *sim, const char *id, enum sim_cmd cmd,
    const json_t *request, int64_t now, struct sim_job **out);
json_t *jobs_job_json(const struct sim_job *j);
const char *jobs_state_name(enum sim_job_state s);
bool jobs_done(const struct sim_job *j);
/* Ends a running job (no-op if it has ended); output is stolen, NULL
 * fails the job as out of memory. */
void jobs_complete(struct sim_job *j, int64_t t, json_t *output);
void jobs_fail(struct sim_job *j, int64_t t, const char *category,
    const char *fqid, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Applies every event up to now, in time order. Returns how many. */
unsigned jobs_advance(struct sim *sim, int64_t now);
/* The next pending event's simulated time, or SIM_NEVER. */
int64_t jobs_next_event(const struct sim_jobs *t);

/* faults.c */
void faults_init(struct sim_faults *f);
void faults_free(struct sim_faults *f);
/* --fail-setup NAME etc.: which is the JSON key ("fail_setup", ...). */
int faults_add_name(struct sim *sim, struct sim_faults *f, const char *which,
    const char *name, char *err, size_t errlen);
bool faults_has(const struct sim_names *s, const char *name);
/* POST /sim/faults (locked): validates everything, then applies. Returns
 * 0, or -EINVAL with err naming the bad key. */
int faults_update(struct sim *sim, const json_t *body, char *err,
    size_t errlen);
json_t *faults_json(const struct sim_faults *f);
/* One draw per /v1 request (locked); always the same number of PRNG
 * values, so a run is repeatable for a given --seed and request order. */
struct sim_draw faults_draw(struct sim *sim);

/* record.c — locked */
int record_init(struct sim *sim);
void record_free(struct sim *sim);
void record_violation(struct sim *sim, const char *kind, const char *id,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
json_t *record_json(const struct sim *sim);
int record_webhook(struct sim *sim, json_t *body);
json_t *record_webhooks_json(const struct sim *sim);
/* Writes the record to path atomically (takes the lock itself). */
int record_write(struct sim *sim, const char *path);

/* api.c */
struct api;
int api_start(struct sim *sim, int listen_fd, const char *cert,
    const char *key, struct api **out);
/* Answers every held request, then stops the server. */
void api_stop(struct api *api);

#endif
