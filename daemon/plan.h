/*
 * plan — the inventory turned into waves (DESIGN §1).
 *
 * Rules, in the order they are applied:
 *  - one wave per role of policy.role_order that has at least one unit;
 *    empty waves are omitted;
 *  - a standalone server is one unit, in the wave of its LAST role in the
 *    order (a CAS+Hub+Mailbox box goes with the Mailbox wave);
 *  - within a wave, multi-role servers come first, then single-role ones,
 *    each group in configuration order;
 *  - each CCR cluster is one unit of the Mailbox wave, after that wave's
 *    standalone servers, in configuration order; its nodes are not units.
 *
 * The plan is pure: built from a validated config, it touches nothing.
 */
#ifndef EXROLL_PLAN_H
#define EXROLL_PLAN_H

#include <stdio.h>
#include <jansson.h>

#include "config.h"

enum plan_unit_kind {
	PLAN_UNIT_SERVER,
	PLAN_UNIT_CLUSTER,
};

struct plan_unit {
	enum plan_unit_kind kind;
	int index;			/* into cfg->servers or cfg->clusters */
};

struct plan_wave {
	enum role role;
	struct plan_unit *units;
	size_t nunits;
};

struct plan {
	struct plan_wave *waves;
	size_t nwaves;
};

/* Returns 0 and fills *out (free with plan_free), or -ENOMEM. */
int plan_build(const struct config *cfg, struct plan *out);
void plan_free(struct plan *p);

/* For people: numbered waves, what each unit will do, CCR steps with their
 * checkpoints spelled out as the policy makes them. */
void plan_print_text(const struct plan *p, const struct config *cfg, FILE *f);

/* DESIGN §5: {"waves": [{"role": ..., "units": [{"kind": "server" |
 * "cluster", "name": ...}]}]}. Returns a new reference, NULL on ENOMEM. */
json_t *plan_to_json(const struct plan *p, const struct config *cfg);

#endif
