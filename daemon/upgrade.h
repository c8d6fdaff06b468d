/*
 * upgrade — one server's phases, a state machine of the functional core.
 * Called by engine.c (standalone servers) and cluster.c (CCR nodes); does
 * no I/O: it changes the model and queues jobs.
 */
#ifndef EXROLL_UPGRADE_H
#define EXROLL_UPGRADE_H

#include <stdint.h>

#include "engine.h"
#include "gateway.h"
#include "model.h"

/* pending -> running/precheck, first job queued. */
void upgrade_start(struct engine *e, struct server *s, int64_t now);
/* Its job ended (the job is already finished and detached). */
void upgrade_job_done(struct engine *e, struct server *s, const struct job *j,
    const struct gw_result *res, int64_t now);
/* Its wake time is due. */
void upgrade_wake(struct engine *e, struct server *s, int64_t now);
/* Running, with neither a job nor a wake (after a restart, a resume, a
 * window opening): re-enter the phase, re-reading real state first. */
void upgrade_kick(struct engine *e, struct server *s, int64_t now);
/* CCR only: the cluster confirmed s does not own the CMS; start setup. */
void upgrade_install(struct engine *e, struct server *s, int64_t now);
/* True when s passed precheck and waits for the cluster's go to install. */
bool upgrade_ready_to_install(const struct engine *e, const struct server *s);

/* Operator: failed -> running/precheck. Returns 0 or -EBUSY (msg). */
int upgrade_retry(struct engine *e, struct server *s, const char *actor,
    int64_t now, char *msg, size_t msglen);
/* Operator: -> skipped (an in-flight job is still followed, its result
 * ignored). */
void upgrade_skip(struct engine *e, struct server *s, const char *reason,
    const char *actor, int64_t now);

#endif
