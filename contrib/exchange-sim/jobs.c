/*
 * jobs — the gateway's job table and the simulation's scheduler.
 *
 * A job is created by a POST whose id is new, and lives as long as the
 * process (so that a replay at any later time finds it). Its states:
 *
 *   running ──► completed    the command ended (output set)
 *      └──────► failed       the cmdlet raised an error, or timeout_s passed
 *
 * A command that ends at submission (a read with --query-s 0, a Stop of a
 * stopped CMS, an immediate error) is completed or failed in the very answer
 * to the POST. "queued" is never produced: the simulated gateway starts
 * every command at once.
 *
 * The operation a job started on the organization (a setup, a move...) is
 * separate from the job: when timeout_s passes first the job fails, but the
 * operation goes on and changes the organization at its own end, as setup
 * does on a real server when the remote session gives up.
 *
 * Scheduling: jobs with a pending event (an operation's half-way point or
 * end, a deadline) are on the active list. jobs_advance() applies every
 * event up to "now" in simulated-time order (ties: submission order), each
 * at its own simulated time, so the outcome never depends on when the model
 * is looked at.
 */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timefmt.h"

static uint64_t
jobs_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ull;
	return h;
}

int
jobs_init(struct sim_jobs *t)
{
	memset(t, 0, sizeof(*t));
	t->nbucket = 1024;
	if ((t->bucket = calloc(t->nbucket, sizeof(*t->bucket))) == NULL)
		return -ENOMEM;
	return 0;
}

void
jobs_free(struct sim_jobs *t)
{
	struct sim_job *j, *next;

	for (j = t->first; j != NULL; j = next) {
		next = j->next;
		free(j->target);
		json_decref(j->params);
		json_decref(j->request);
		json_decref(j->output);
		json_decref(j->error);
		free(j);
	}
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

struct sim_job *
jobs_find(const struct sim_jobs *t, const char *id)
{
	struct sim_job *j;

	for (j = t->bucket[jobs_hash(id) % t->nbucket]; j; j = j->hnext) {
		if (strcmp(j->id, id) == 0)
			return j;
	}
	return NULL;
}

/* Keeps chains short for long benchmark runs; a failed grow only costs
 * speed. */
static void
jobs_grow(struct sim_jobs *t)
{
	size_t n = t->nbucket * 4;
	struct sim_job **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (struct sim_job *j = t->first; j != NULL; j = j->next) {
		size_t h = jobs_hash(j->id) % n;

		j->hnext = b[h];
		b[h] = j;
	}
	free(t->bucket);
	t->bucket = b;
	t->nbucket = n;
}

static void
jobs_deactivate(struct sim_jobs *t, struct sim_job *j)
{
	if (j->aprev == NULL && t->active != j)
		return;
	if (j->aprev != NULL)
		j->aprev->anext = j->anext;
	else
		t->active = j->anext;
	if (j->anext != NULL)
		j->anext->aprev = j->aprev;
	j->anext = j->aprev = NULL;
}

/* Puts j on the active list while its operation has an event pending. */
static void
jobs_activate(struct sim_jobs *t, struct sim_job *j)
{
	bool linked = j->aprev != NULL || t->active == j;

	if (j->end == SIM_NEVER) {
		jobs_deactivate(t, j);
		return;
	}
	if (linked)
		return;
	j->aprev = NULL;
	j->anext = t->active;
	if (t->active != NULL)
		t->active->aprev = j;
	t->active = j;
}

int
jobs_submit(struct sim *sim, const char *id, enum sim_cmd cmd,
    const json_t *request, int64_t now, struct sim_job **out)
{
	struct sim_jobs *t = &sim->jobs;
	const json_t *target = json_object_get(request, "target");
	const json_t *timeout = json_object_get(request, "timeout_s");
	struct sim_job *j;
	size_t h;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	if ((json_is_string(target) &&
	    (j->target = strdup(json_string_value(target))) == NULL) ||
	    (j->output = json_array()) == NULL) {
		free(j->target);
		free(j);
		return -ENOMEM;
	}
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->seq = ++t->seq;
	j->cmd = cmd;
	j->request = json_incref((json_t *)request);
	j->params = json_incref(json_object_get(request, "parameters"));
	j->state = SIM_JOB_RUNNING;
	j->submitted = now;
	j->op = SIM_OP_NONE;
	j->server = j->cluster = j->node = -1;
	j->mid = j->end = j->deadline = SIM_NEVER;

	if (t->count + 1 > t->nbucket * 2)
		jobs_grow(t);
	h = jobs_hash(j->id) % t->nbucket;
	j->hnext = t->bucket[h];
	t->bucket[h] = j;
	if (t->last != NULL)
		t->last->next = j;
	else
		t->first = j;
	t->last = j;
	t->count++;

	cmd_start(sim, j, now);
	if (j->end != SIM_NEVER && timeout != NULL && !jobs_done(j))
		j->deadline = now + (int64_t)llround(
		    json_number_value(timeout) * TIME_MS_PER_S);
	jobs_activate(t, j);
	*out = j;
	return 0;
}

const char *
jobs_state_name(enum sim_job_state s)
{
	switch (s) {
	case SIM_JOB_QUEUED:
		return "queued";
	case SIM_JOB_RUNNING:
		return "running";
	case SIM_JOB_COMPLETED:
		return "completed";
	case SIM_JOB_FAILED:
		return "failed";
	}
	return "unknown";
}

bool
jobs_done(const struct sim_job *j)
{
	return j->state == SIM_JOB_COMPLETED || j->state == SIM_JOB_FAILED;
}

json_t *
jobs_job_json(const struct sim_job *j)
{
	char sub[TIME_RFC3339_LEN], fin[TIME_RFC3339_LEN];

	time_format_rfc3339(j->submitted, sub, sizeof(sub));
	if (jobs_done(j))
		time_format_rfc3339(j->finished, fin, sizeof(fin));
	return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:O, s:O?}",
	    "id", j->id, "state", jobs_state_name(j->state), "target",
	    j->target, "command", cmd_name(j->cmd), "submitted_at", sub,
	    "finished_at", jobs_done(j) ? fin : NULL, "output", j->output,
	    "error", j->error);
}

/* The one transition of a job: running -> completed | failed. */
static void
jobs_end(struct sim_job *j, enum sim_job_state st, int64_t t)
{
	log_debug("job '%s': %s -> %s", j->id, jobs_state_name(j->state),
	    jobs_state_name(st));
	j->state = st;
	j->finished = t;
}

void
jobs_complete(struct sim_job *j, int64_t t, json_t *output)
{
	if (jobs_done(j)) {
		json_decref(output);
		return;
	}
	if (output == NULL) {
		jobs_fail(j, t, "NotSpecified", "OutOfMemory",
		    "out of memory in the simulator");
		return;
	}
	json_decref(j->output);
	j->output = output;
	jobs_end(j, SIM_JOB_COMPLETED, t);
}

void
jobs_fail(struct sim_job *j, int64_t t, const char *category,
    const char *fqid, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (jobs_done(j))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A failed job without its error object would be worse than useless;
	 * if even that allocation fails, the job says failed, error null. */
	j->error = json_pack("{s:s, s:s, s:s}", "message", msg, "category",
	    category, "fully_qualified_error_id", fqid);
	jobs_end(j, SIM_JOB_FAILED, t);
}

/* A job's pending events, in the order they apply at equal times. */
enum { EV_MID, EV_END, EV_DEADLINE, EV_COUNT };

static int64_t
jobs_event_time(const struct sim_job *j, int ev)
{
	switch (ev) {
	case EV_MID:
		return j->mid;
	case EV_END:
		return j->end;
	default:
		return jobs_done(j) ? SIM_NEVER : j->deadline;
	}
}

int64_t
jobs_next_event(const struct sim_jobs *t)
{
	int64_t next = SIM_NEVER;

	for (const struct sim_job *j = t->active; j != NULL; j = j->anext) {
		for (int ev = 0; ev < EV_COUNT; ev++) {
			int64_t at = jobs_event_time(j, ev);

			if (at < next)
				next = at;
		}
	}
	return next;
}

unsigned
jobs_advance(struct sim *sim, int64_t now)
{
	unsigned n = 0;

	for (;;) {
		struct sim_job *best = NULL;
		int64_t bt = SIM_NEVER;
		int bev = 0;

		for (struct sim_job *j = sim->jobs.active; j; j = j->anext) {
			for (int ev = 0; ev < EV_COUNT; ev++) {
				int64_t at = jobs_event_time(j, ev);

				if (at > now || at == SIM_NEVER)
					continue;
				if (best == NULL || at < bt ||
				    (at == bt && j->seq < best->seq)) {
					best = j;
					bt = at;
					bev = ev;
				}
			}
		}
		if (best == NULL)
			break;
		switch (bev) {
		case EV_MID:
			best->mid = SIM_NEVER;
			ccr_op_mid(sim, best, bt);
			break;
		case EV_END:
			best->mid = best->end = SIM_NEVER;
			cmd_op_end(sim, best, bt);
			break;
		default:
			best->deadline = SIM_NEVER;
			jobs_fail(best, bt, "OperationTimeout",
			    "CommandTimedOut",
			    "'%s' did not finish within timeout_s (%g s); it "
			    "goes on running on the server", cmd_name(best->cmd),
			    json_number_value(json_object_get(best->request,
			    "timeout_s")));
			break;
		}
		if (best->end == SIM_NEVER)
			jobs_deactivate(&sim->jobs, best);
		n++;
	}
	return n;
}
