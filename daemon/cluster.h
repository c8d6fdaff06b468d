/*
 * cluster — a CCR cluster's steps, a state machine of the functional core.
 * Called by engine.c (the cluster is a unit of the Mailbox wave) and by
 * upgrade.c (a node's progress); does no I/O.
 */
#ifndef EXROLL_CLUSTER_H
#define EXROLL_CLUSTER_H

#include <stdint.h>

#include "engine.h"
#include "gateway.h"
#include "model.h"

void cluster_start(struct engine *e, struct cluster *c, int64_t now);
void cluster_job_done(struct engine *e, struct cluster *c, const struct job *j,
    const struct gw_result *res, int64_t now);
void cluster_wake(struct engine *e, struct cluster *c, int64_t now);
/* In a step, with neither job nor wake nor block: re-read the CMS status
 * and carry on from what it says (restart, resume, window opening). */
void cluster_kick(struct engine *e, struct cluster *c, int64_t now);

/* From upgrade.c: node passed precheck and needs setup; the cluster first
 * confirms that node does not own the CMS. */
void cluster_node_ready(struct engine *e, struct cluster *c,
    struct server *node, int64_t now);
/* From upgrade.c: node reached done. */
void cluster_node_done(struct engine *e, struct cluster *c,
    struct server *node, int64_t now);

/* Operator commands (see engine.h for the return convention). */
int cluster_approve(struct engine *e, struct cluster *c, const char *checkpoint,
    const char *actor, int64_t now, char *msg, size_t msglen);
int cluster_retry(struct engine *e, struct cluster *c, const char *actor,
    int64_t now, char *msg, size_t msglen);
void cluster_skip(struct engine *e, struct cluster *c, const char *reason,
    const char *actor, int64_t now);

/* "failover", "failback" or NULL. */
const char *cluster_pending_checkpoint(const struct engine *e,
    const struct cluster *c);

#endif
