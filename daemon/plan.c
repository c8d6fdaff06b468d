/*
 * plan — the inventory turned into waves (the rules are in plan.h).
 *
 * Each standalone server is ranked once by the last of its roles in
 * policy.role_order; a wave then takes, in configuration order, the
 * multi-role servers of its rank, its single-role servers, and (Mailbox
 * only) the CCR clusters. Cost: O(roles * servers).
 */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_TEXT_WIDTH 78	/* CCR step lines wrap before this column */

static bool
plan_multi_role(unsigned roles)
{
	return (roles & (roles - 1)) != 0;
}

/* Rank in role_order of the last of roles, -1 if none is ordered. */
static int
plan_last_rank(const struct config *cfg, unsigned roles)
{
	int last = -1;

	for (int i = 0; i < cfg->policy.nroles; i++) {
		if (roles & ROLE_BIT(cfg->policy.role_order[i]))
			last = i;
	}
	return last;
}

int
plan_build(const struct config *cfg, struct plan *out)
{
	struct plan p = { NULL, 0 };
	int *rank;

	if ((rank = calloc(cfg->nservers ? cfg->nservers : 1,
	    sizeof(*rank))) == NULL)
		return -ENOMEM;
	if ((p.waves = calloc(ROLE_COUNT, sizeof(*p.waves))) == NULL)
		goto fail;
	/* CCR nodes are upgraded by their cluster, not as units. */
	for (size_t i = 0; i < cfg->nservers; i++)
		rank[i] = cfg->servers[i].cluster >= 0 ? -1 :
		    plan_last_rank(cfg, cfg->servers[i].roles);
	for (int k = 0; k < cfg->policy.nroles; k++) {
		enum role role = cfg->policy.role_order[k];
		struct plan_wave *w;
		size_t n = 0;

		for (size_t i = 0; i < cfg->nservers; i++)
			n += rank[i] == k;
		if (role == ROLE_MAILBOX)
			n += cfg->nclusters;
		if (n == 0)
			continue;
		w = &p.waves[p.nwaves];
		if ((w->units = calloc(n, sizeof(*w->units))) == NULL)
			goto fail;
		w->role = role;
		p.nwaves++;
		for (int multi = 1; multi >= 0; multi--) {
			for (size_t i = 0; i < cfg->nservers; i++) {
				if (rank[i] == k && plan_multi_role(
				    cfg->servers[i].roles) == (multi == 1))
					w->units[w->nunits++] = (struct plan_unit){
						PLAN_UNIT_SERVER, (int)i };
			}
		}
		for (size_t i = 0; role == ROLE_MAILBOX && i < cfg->nclusters; i++)
			w->units[w->nunits++] = (struct plan_unit){
				PLAN_UNIT_CLUSTER, (int)i };
	}
	free(rank);
	*out = p;
	return 0;
fail:
	free(rank);
	plan_free(&p);
	return -ENOMEM;
}

void
plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nwaves; i++)
		free(p->waves[i].units);
	free(p->waves);
	p->waves = NULL;
	p->nwaves = 0;
}

/* "ClientAccess, HubTransport, Mailbox", in wave order. */
static size_t
plan_roles_text(const struct config *cfg, unsigned roles, char *buf,
    size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < cfg->policy.nroles && o < len; i++) {
		enum role r = cfg->policy.role_order[i];

		if (roles & ROLE_BIT(r))
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o ? ", " : "", role_name(r));
	}
	return o;
}

static const char *
plan_server_steps(const struct config *cfg)
{
	switch (cfg->policy.reboot) {
	case REBOOT_ALWAYS:
		return "precheck, install, reboot, verify";
	case REBOOT_NEVER:
		return "precheck, install, verify (reboot left to the operator)";
	case REBOOT_IF_REQUIRED:
		break;
	}
	return "precheck, install, reboot if required, verify";
}

/* The cluster's steps as DESIGN §1 orders them under this policy,
 * "; "-separated, wrapped at PLAN_TEXT_WIDTH after indent columns. */
static void
plan_print_ccr(const struct config *cfg, const char *cms, int indent,
    FILE *f)
{
	const struct config_policy *pol = &cfg->policy;
	bool approve = pol->checkpoints == CHECKPOINTS_APPROVE;
	char move[320], back[320], stays[320];
	const char *steps[8];
	int n = 0, col = indent;

	if (pol->ccr_procedure == CCR_SERVICE_PACK)
		snprintf(move, sizeof(move), "stop %s, move to the upgraded "
		    "node, setup /upgradeCMS", cms);
	else
		snprintf(move, sizeof(move), "move %s online to the upgraded "
		    "node", cms);
	snprintf(back, sizeof(back), "move %s back", cms);
	snprintf(stays, sizeof(stays), "%s stays on the upgraded node "
	    "(failback: false)", cms);

	steps[n++] = "discover active node";
	steps[n++] = "upgrade passive node";
	steps[n++] = approve ? "checkpoint: operator approves failover" :
	    "no pause (checkpoints: auto)";
	steps[n++] = move;
	steps[n++] = "upgrade former active node";
	if (pol->failback) {
		steps[n++] = approve ? "checkpoint: operator approves "
		    "failback" : "no pause (checkpoints: auto)";
		steps[n++] = back;
	} else {
		steps[n++] = stays;
	}

	fprintf(f, "%*s", indent, "");
	for (int i = 0; i < n; i++) {
		int len = (int)strlen(steps[i]) + (i + 1 < n);

		if (col > indent && col + 1 + len > PLAN_TEXT_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%s%s", steps[i], i + 1 < n ? ";" : "\n");
		col += len;
	}
}

void
plan_print_text(const struct plan *p, const struct config *cfg, FILE *f)
{
	const char *release = version_release_name(&cfg->target_version);
	int namew = 0, rolew = 0, numw = 1;
	char ver[VERSION_STRLEN], roles[128];

	/* Columns line up across all waves. */
	for (size_t i = 0; i < p->nwaves; i++) {
		const struct plan_wave *w = &p->waves[i];
		int digits = snprintf(NULL, 0, "%zu", w->nunits);

		numw = digits > numw ? digits : numw;
		for (size_t j = 0; j < w->nunits; j++) {
			const struct plan_unit *u = &w->units[j];
			int len;

			if (u->kind == PLAN_UNIT_CLUSTER) {
				len = (int)strlen(cfg->clusters[u->index].name) +
				    (int)strlen(" (CCR)");
			} else {
				int rl = (int)plan_roles_text(cfg,
				    cfg->servers[u->index].roles, roles,
				    sizeof(roles));

				len = (int)strlen(cfg->servers[u->index].name);
				rolew = rl > rolew ? rl : rolew;
			}
			namew = len > namew ? len : namew;
		}
	}

	fprintf(f, "Upgrade to %s%s%s%s: %zu servers, %zu CCR clusters, "
	    "%zu waves\n", version_format(&cfg->target_version, ver,
	    sizeof(ver)), release ? " (" : "", release ? release : "",
	    release ? ")" : "", cfg->nservers, cfg->nclusters, p->nwaves);
	for (size_t i = 0; i < p->nwaves; i++) {
		const struct plan_wave *w = &p->waves[i];

		fprintf(f, "\nWave %zu: %s (max %d at a time)\n", i + 1,
		    role_name(w->role), cfg->policy.max_parallel[w->role]);
		for (size_t j = 0; j < w->nunits; j++) {
			const struct plan_unit *u = &w->units[j];

			if (u->kind == PLAN_UNIT_SERVER) {
				const struct config_server *s =
				    &cfg->servers[u->index];

				plan_roles_text(cfg, s->roles, roles,
				    sizeof(roles));
				fprintf(f, "  %*zu. %-*s  %-*s  %s\n", numw,
				    j + 1, namew, s->name, rolew, roles,
				    plan_server_steps(cfg));
			} else {
				const struct config_cluster *cl =
				    &cfg->clusters[u->index];
				char label[300];

				snprintf(label, sizeof(label), "%s (CCR)",
				    cl->name);
				fprintf(f, "  %*zu. %-*s  nodes %s, %s\n", numw,
				    j + 1, namew, label,
				    cfg->servers[cl->nodes[0]].name,
				    cfg->servers[cl->nodes[1]].name);
				plan_print_ccr(cfg, cl->name, numw + 6, f);
			}
		}
	}
}

json_t *
plan_to_json(const struct plan *p, const struct config *cfg)
{
	json_t *root = json_pack("{s:[]}", "waves"), *waves;

	if (root == NULL)
		return NULL;
	waves = json_object_get(root, "waves");		/* borrowed */
	for (size_t i = 0; i < p->nwaves; i++) {
		const struct plan_wave *w = &p->waves[i];
		json_t *units = json_array(), *wave;

		if (units == NULL)
			goto fail;
		for (size_t j = 0; j < w->nunits; j++) {
			const struct plan_unit *u = &w->units[j];
			bool server = u->kind == PLAN_UNIT_SERVER;

			/* _new steals, and accepts the NULL of a failed pack. */
			if (json_array_append_new(units, json_pack("{s:s, s:s}",
			    "kind", server ? "server" : "cluster", "name",
			    server ? cfg->servers[u->index].name :
			    cfg->clusters[u->index].name)) < 0) {
				json_decref(units);
				goto fail;
			}
		}
		wave = json_pack("{s:s}", "role", role_name(w->role));
		/* Steals units even when wave is NULL. */
		if (json_object_set_new(wave, "units", units) < 0) {
			json_decref(wave);
			goto fail;
		}
		if (json_array_append_new(waves, wave) < 0)
			goto fail;
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}
