/*
 * ccr — the clustered mailbox server (CMS) of a CCR cluster: the State that
 * Get-ClusteredMailboxServerStatus reports, its owner (active node), and
 * what Stop-, Start-, Move-ClusteredMailboxServer and Setup.com /upgradeCMS
 * do to it.
 *
 *                         Stop (stop-s)
 *   Online ─────────┐
 *   PartiallyOnline ├──────────────► OfflinePending ──────────► Offline
 *   Failed ─────────┘                                          │ ▲ │ ▲
 *                                   Move of a stopped CMS      │ │ │ │
 *                                   (move-s; the owner         └─┘ │ │
 *                                   changes at the end)            │ │ UpgradeCMS
 *                 Start (stop-s), UpgradeCMS on the owner          │ │ exit 1603
 *   Online  ◄────────────────────── OnlinePending ◄────────────────┘ │
 *   (PartiallyOnline with             │  └───────────────────────────┘
 *    --cms-partial)                   └──► Failed: the CMS and the owner's
 *                                          binaries are not at the same
 *                                          service pack
 *
 *   Online move: Online ──► OfflinePending (first half, old owner)
 *                       ──► OnlinePending (second half, new owner)
 *                       ──► Online | PartiallyOnline | Failed
 *
 *   Restart-Computer of the owner while the CMS runs: an unplanned failover,
 *   at once, to the other node when it is up (Online there, or Failed as
 *   above), else Failed.
 *
 * Which function makes each transition: ccr_stop / ccr_start / ccr_move /
 * ccr_upgrade enter the pending state when the command is submitted,
 * ccr_op_mid switches owner half-way through an online move, ccr_op_end
 * leaves the pending state, ccr_node_restart fails over. Every change of
 * State goes through ccr_set_state(), which logs "old -> new (why)" at
 * debug level.
 *
 * Invariants (ccr_check): owner is one of the two nodes; op is set exactly
 * while one of those commands runs, and OnlinePending / OfflinePending occur
 * only then; a running CMS (Online, PartiallyOnline) is at the owner's
 * service pack.
 *
 * What the simulator refuses, as Exchange would (a failed job): a command
 * while another one runs on the CMS (a transitional state); a move to the
 * node that already owns the CMS (also the violation "redundant_move"); a
 * move to a node that is down or in setup; UpgradeCMS anywhere but on the
 * owner of an Offline CMS. What it does but records as a violation: a move
 * to a node below the install version ("move_to_unupgraded").
 */
#include "sim.h"

#include <assert.h>
#include <stdio.h>

#include "log.h"

static const char *const ccr_state_names[] = {
	[CCR_ONLINE] = "Online",
	[CCR_PARTIALLY_ONLINE] = "PartiallyOnline",
	[CCR_ONLINE_PENDING] = "OnlinePending",
	[CCR_OFFLINE] = "Offline",
	[CCR_OFFLINE_PENDING] = "OfflinePending",
	[CCR_FAILED] = "Failed",
};

const char *
ccr_state_name(enum ccr_state s)
{
	if ((unsigned)s >= sizeof(ccr_state_names) / sizeof(ccr_state_names[0]))
		return "unknown";
	return ccr_state_names[s];
}

bool
ccr_running(enum ccr_state s)
{
	return s == CCR_ONLINE || s == CCR_PARTIALLY_ONLINE;
}

static bool
ccr_pending(enum ccr_state s)
{
	return s == CCR_ONLINE_PENDING || s == CCR_OFFLINE_PENDING;
}

/* Same service pack: the only pairing in which a CMS can run. */
static bool
ccr_same_sp(const struct version *a, const struct version *b)
{
	return a->part[0] == b->part[0] && a->part[1] == b->part[1];
}

#ifdef NDEBUG
#define ccr_check(sim, c) ((void)0)
#else
static void
ccr_check(const struct sim *sim, const struct sim_cluster *c)
{
	assert(c->owner == c->node[0] || c->owner == c->node[1]);
	assert(!ccr_pending(c->state) || c->op != NULL);
	assert(!ccr_running(c->state) ||
	    ccr_same_sp(&c->version, &sim->org.srv[c->owner].version));
}
#endif

static void
ccr_set_state(struct sim_cluster *c, enum ccr_state st, const char *why)
{
	if (c->state != st)
		log_debug("cluster '%s': %s -> %s (%s)", c->name,
		    ccr_state_name(c->state), ccr_state_name(st), why);
	c->state = st;
}

static void
ccr_set_owner(struct sim *sim, struct sim_cluster *c, int server)
{
	if (c->owner != server)
		log_debug("cluster '%s': owner '%s' -> '%s'", c->name,
		    sim->org.srv[c->owner].name, sim->org.srv[server].name);
	c->owner = server;
}

/* Brings the CMS up on its owner at t: Online (PartiallyOnline with
 * --cms-partial), or Failed when the versions do not allow it. Returns
 * whether it came up. */
static bool
ccr_bring_online(struct sim *sim, struct sim_cluster *c, int64_t t,
    const char *why)
{
	const struct sim_server *owner = &sim->org.srv[c->owner];

	if (!org_reachable(sim, c->owner, t) ||
	    !ccr_same_sp(&c->version, &owner->version)) {
		ccr_set_state(c, CCR_FAILED, why);
		return false;
	}
	ccr_set_state(c, faults_has(&sim->faults.cms_partial, c->name) ?
	    CCR_PARTIALLY_ONLINE : CCR_ONLINE, why);
	return true;
}

static void
ccr_fail_online(struct sim *sim, struct sim_job *j, struct sim_cluster *c,
    int64_t t)
{
	char have[VERSION_STRLEN], node[VERSION_STRLEN];

	if (!org_reachable(sim, c->owner, t)) {
		jobs_fail(j, t, "ConnectionFailure", "ClusterNodeDown",
		    "clustered mailbox server '%s' failed to come online: "
		    "its node '%s' is not available (restarting)", c->name,
		    sim->org.srv[c->owner].name);
		return;
	}
	version_format(&c->version, have, sizeof(have));
	version_format(&sim->org.srv[c->owner].version, node, sizeof(node));
	jobs_fail(j, t, "InvalidOperation",
	    "ClusteredMailboxServerFailedToStart",
	    "clustered mailbox server '%s' failed to come online on '%s': "
	    "the CMS is at %s and the node's Exchange binaries at %s; a "
	    "service pack needs Setup.com /upgradeCMS on the new owner", c->name,
	    sim->org.srv[c->owner].name, have, node);
}

/* Another command holds the CMS: refuse, as Exchange does for a cluster
 * group in a transitional state. */
static bool
ccr_busy(struct sim_job *j, struct sim_cluster *c, int64_t now)
{
	if (c->op == NULL)
		return false;
	jobs_fail(j, now, "InvalidOperation", "ClusterGroupTransitional",
	    "clustered mailbox server '%s' is %s ('%s' running, job '%s'); "
	    "try again when it has finished", c->name,
	    ccr_state_name(c->state), cmd_name(c->op->cmd), c->op->id);
	return true;
}

static void
ccr_begin(struct sim_cluster *c, struct sim_job *j, enum sim_op op,
    int64_t end)
{
	c->op = j;
	j->op = op;
	j->end = end;
}

void
ccr_stop(struct sim *sim, struct sim_job *j, int64_t now)
{
	struct sim_cluster *c = &sim->org.cl[j->cluster];

	if (ccr_busy(j, c, now))
		return;
	if (c->state == CCR_OFFLINE) {
		/* Already stopped: nothing to do, and not an error. */
		jobs_complete(j, now, json_array());
		return;
	}
	ccr_begin(c, j, SIM_OP_CMS_STOP, now + sim->opt.stop_ms);
	ccr_set_state(c, CCR_OFFLINE_PENDING, "stop");
	ccr_check(sim, c);
}

void
ccr_start(struct sim *sim, struct sim_job *j, int64_t now)
{
	struct sim_cluster *c = &sim->org.cl[j->cluster];

	if (ccr_busy(j, c, now))
		return;
	if (ccr_running(c->state)) {
		jobs_complete(j, now, json_array());
		return;
	}
	ccr_begin(c, j, SIM_OP_CMS_START, now + sim->opt.stop_ms);
	ccr_set_state(c, CCR_ONLINE_PENDING, "start");
	ccr_check(sim, c);
}

void
ccr_move(struct sim *sim, struct sim_job *j, const char *to, int64_t now)
{
	struct sim_cluster *c = &sim->org.cl[j->cluster];
	const struct version *inst = &sim->opt.install_version;
	struct sim_server *node;
	char have[VERSION_STRLEN], want[VERSION_STRLEN];
	int t = org_server(&sim->org, to);

	if (t < 0 || (t != c->node[0] && t != c->node[1])) {
		jobs_fail(j, now, "InvalidArgument",
		    "TargetMachineNotClusterNode",
		    "'%s' is not a node of clustered mailbox server '%s' "
		    "(nodes '%s', '%s')", to, c->name,
		    sim->org.srv[c->node[0]].name,
		    sim->org.srv[c->node[1]].name);
		return;
	}
	node = &sim->org.srv[t];
	if (t == c->owner) {
		record_violation(sim, "redundant_move", j->id,
		    "move of '%s' to '%s', which already owns it", c->name,
		    node->name);
		jobs_fail(j, now, "InvalidOperation",
		    "ClusteredMailboxServerAlreadyOnTarget",
		    "clustered mailbox server '%s' is already on '%s'; "
		    "nothing was moved", c->name, node->name);
		return;
	}
	if (ccr_busy(j, c, now))
		return;
	if (!org_reachable(sim, t, now)) {
		jobs_fail(j, now, "ConnectionFailure", "ClusterNodeDown",
		    "cluster node '%s' is not available (restarting)",
		    node->name);
		return;
	}
	if (node->setup != NULL) {
		jobs_fail(j, now, "ResourceBusy", "ClusterNodeInSetup",
		    "cluster node '%s' is running setup (job '%s')", node->name,
		    node->setup->id);
		return;
	}
	if (version_cmp(&node->version, inst) < 0 ||
	    version_cmp(&node->version, &c->version) < 0) {
		version_format(&node->version, have, sizeof(have));
		version_format(inst, want, sizeof(want));
		record_violation(sim, "move_to_unupgraded", j->id,
		    "move of '%s' to '%s', which is at %s, below %s", c->name,
		    node->name, have, want);
	}
	j->node = t;
	j->online_move = ccr_running(c->state);
	ccr_begin(c, j, SIM_OP_CMS_MOVE, now + sim->opt.move_ms);
	if (j->online_move) {
		j->mid = now + sim->opt.move_ms / 2;
		ccr_set_state(c, CCR_OFFLINE_PENDING, "online move");
	} else {
		/* A stopped (or failed) CMS moves as a stopped group. */
		ccr_set_state(c, CCR_OFFLINE, "move of a stopped cms");
	}
	ccr_check(sim, c);
}

void
ccr_upgrade(struct sim *sim, struct sim_job *j, int64_t now)
{
	struct sim_server *s = &sim->org.srv[j->server];
	struct sim_cluster *c;

	if (s->cluster < 0) {
		jobs_fail(j, now, "InvalidOperation", "NotAClusterNode",
		    "Setup.com /upgradeCMS: '%s' is not a node of a clustered "
		    "mailbox server", s->name);
		return;
	}
	j->cluster = s->cluster;
	c = &sim->org.cl[s->cluster];
	if (ccr_busy(j, c, now))
		return;
	if (c->owner != j->server || c->state != CCR_OFFLINE) {
		jobs_fail(j, now, "InvalidOperation",
		    "UpgradeCmsPrerequisites",
		    "Setup.com /upgradeCMS must run on the node that owns "
		    "'%s' while it is Offline; it is %s on '%s'", c->name,
		    ccr_state_name(c->state), sim->org.srv[c->owner].name);
		return;
	}
	if (version_cmp(&s->version, &c->version) < 0) {
		jobs_fail(j, now, "InvalidOperation", "UpgradeCmsDowngrade",
		    "Setup.com /upgradeCMS: the binaries on '%s' are older "
		    "than clustered mailbox server '%s'", s->name, c->name);
		return;
	}
	c->upgrades++;
	s->setup = j;
	j->fail = faults_has(&sim->faults.fail_setup, c->name);
	ccr_begin(c, j, SIM_OP_SETUP_CMS, now + sim->opt.setup_cms_ms);
	ccr_set_state(c, CCR_ONLINE_PENDING, "upgradecms");
	ccr_check(sim, c);
}

void
ccr_op_mid(struct sim *sim, struct sim_job *j, int64_t t)
{
	struct sim_cluster *c = &sim->org.cl[j->cluster];

	(void)t;
	ccr_set_owner(sim, c, j->node);
	ccr_set_state(c, CCR_ONLINE_PENDING, "online move, second half");
	ccr_check(sim, c);
}

void
ccr_op_end(struct sim *sim, struct sim_job *j, int64_t t)
{
	struct sim_cluster *c = &sim->org.cl[j->cluster];
	json_t *out = NULL;

	c->op = NULL;
	switch (j->op) {
	case SIM_OP_CMS_STOP:
		ccr_set_state(c, CCR_OFFLINE, "stopped");
		out = json_array();
		break;
	case SIM_OP_CMS_START:
		if (ccr_bring_online(sim, c, t, "started"))
			out = json_array();
		else
			ccr_fail_online(sim, j, c, t);
		break;
	case SIM_OP_CMS_MOVE:
		ccr_set_owner(sim, c, j->node);
		if (!j->online_move) {
			ccr_set_state(c, CCR_OFFLINE, "moved while stopped");
			out = json_array();
		} else if (ccr_bring_online(sim, c, t, "moved")) {
			out = json_array();
		} else {
			ccr_fail_online(sim, j, c, t);
		}
		break;
	case SIM_OP_SETUP_CMS:
		sim->org.srv[j->server].setup = NULL;
		if (j->fail) {
			ccr_set_state(c, CCR_OFFLINE, "upgradecms failed");
			out = json_pack("[{s:i}]", "ExitCode", 1603);
		} else {
			c->version = sim->org.srv[j->server].version;
			ccr_bring_online(sim, c, t, "upgradecms");
			out = json_pack("[{s:i}]", "ExitCode", 0);
		}
		break;
	case SIM_OP_NONE:
	case SIM_OP_READ:
	case SIM_OP_SETUP:
		break;
	}
	if (out != NULL)
		jobs_complete(j, t, out);
	else if (!jobs_done(j))
		jobs_fail(j, t, "NotSpecified", "OutOfMemory",
		    "out of memory in the simulator");
	ccr_check(sim, c);
}

void
ccr_node_restart(struct sim *sim, int server, int64_t t)
{
	struct sim_cluster *c;
	int other;

	if (sim->org.srv[server].cluster < 0)
		return;
	c = &sim->org.cl[sim->org.srv[server].cluster];
	if (c->owner != server || !ccr_running(c->state) || c->op != NULL)
		return;
	other = c->node[0] == server ? c->node[1] : c->node[0];
	if (org_reachable(sim, other, t) && sim->org.srv[other].setup == NULL) {
		ccr_set_owner(sim, c, other);
		ccr_bring_online(sim, c, t, "failover: owner restarting");
	} else {
		ccr_set_state(c, CCR_FAILED, "owner restarting, no other node");
	}
	ccr_check(sim, c);
}

/* Setup ran on the owner of a running CMS (itself a violation): the CMS
 * does not survive a service pack under it. */
void
ccr_node_upgraded(struct sim *sim, int server, int64_t t)
{
	struct sim_cluster *c;

	if (sim->org.srv[server].cluster < 0)
		return;
	c = &sim->org.cl[sim->org.srv[server].cluster];
	if (c->owner == server && ccr_running(c->state) &&
	    !ccr_same_sp(&c->version, &sim->org.srv[server].version))
		ccr_set_state(c, CCR_FAILED, "service pack installed under it");
	(void)t;
	ccr_check(sim, c);
}
