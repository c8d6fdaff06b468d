/*
 * model — records, dirty tracking, the event queue and the job outbox.
 *
 * Ownership: the model owns every string and job it points to. A job is
 * created by model_job_new (intent, in the outbox and the live list),
 * finished by model_job_finish (detached from its unit and the live list,
 * kept on the retired list until the commit that writes its final row),
 * and freed by model_after_commit.
 */
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan.h"

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

static const char *const rollout_state_names[] = {
	[ROLLOUT_RUNNING] = "running",
	[ROLLOUT_PAUSED] = "paused",
	[ROLLOUT_WAITING_WINDOW] = "waiting_window",
	[ROLLOUT_COMPLETED] = "completed",
	[ROLLOUT_ABORTED] = "aborted",
};

static const char *const pause_cause_names[] = {
	[PAUSE_NONE] = "none",
	[PAUSE_OPERATOR] = "operator",
	[PAUSE_FAILURE] = "failure",
};

static const char *const server_state_names[] = {
	[SERVER_PENDING] = "pending",
	[SERVER_RUNNING] = "running",
	[SERVER_FAILED] = "failed",
	[SERVER_DONE] = "done",
	[SERVER_SKIPPED] = "skipped",
};

static const char *const server_phase_names[] = {
	[PHASE_NONE] = "none",
	[PHASE_PRECHECK] = "precheck",
	[PHASE_INSTALL] = "install",
	[PHASE_REBOOT] = "reboot",
	[PHASE_VERIFY] = "verify",
	[PHASE_DONE] = "done",
};

static const char *const cluster_step_names[] = {
	[STEP_PENDING] = "pending",
	[STEP_DISCOVER] = "discover",
	[STEP_UPGRADE_PASSIVE] = "upgrade_passive",
	[STEP_FAILOVER] = "failover",
	[STEP_UPGRADE_FORMER_ACTIVE] = "upgrade_former_active",
	[STEP_FAILBACK] = "failback",
	[STEP_DONE] = "done",
	[STEP_SKIPPED] = "skipped",
};

static const char *const job_state_names[] = {
	[JOB_INTENT] = "intent",
	[JOB_SUBMITTED] = "submitted",
	[JOB_COMPLETED] = "completed",
	[JOB_FAILED] = "failed",
	[JOB_REJECTED] = "rejected",
};

static const char *const job_kind_names[] = {
	[JOB_GET_SERVER] = "get_server",
	[JOB_TEST_HEALTH] = "test_health",
	[JOB_SETUP] = "setup",
	[JOB_RESTART] = "restart",
	[JOB_CMS_STATUS] = "cms_status",
	[JOB_CMS_STOP] = "cms_stop",
	[JOB_CMS_MOVE] = "cms_move",
	[JOB_CMS_SETUP] = "cms_setup",
	[JOB_CMS_START] = "cms_start",
};

#define NAMES_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *
model_name(const char *const *names, size_t n, unsigned v)
{
	return v < n && names[v] ? names[v] : "unknown";
}

static int
model_parse(const char *const *names, size_t n, const char *s, int *out)
{
	for (size_t i = 0; s != NULL && i < n; i++) {
		if (names[i] && strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -EINVAL;
}

#define MODEL_ENUM(type, prefix, names)                                     \
	const char *prefix##_name(enum type v)                              \
	{                                                                   \
		return model_name(names, NAMES_LEN(names), (unsigned)v);    \
	}                                                                   \
	int prefix##_parse(const char *s, enum type *out)                   \
	{                                                                   \
		int v;                                                      \
		if (model_parse(names, NAMES_LEN(names), s, &v) != 0)       \
			return -EINVAL;                                     \
		*out = (enum type)v;                                        \
		return 0;                                                   \
	}

MODEL_ENUM(rollout_state, rollout_state, rollout_state_names)
MODEL_ENUM(pause_cause, pause_cause, pause_cause_names)
MODEL_ENUM(server_state, server_state, server_state_names)
MODEL_ENUM(server_phase, server_phase, server_phase_names)
MODEL_ENUM(cluster_step, cluster_step, cluster_step_names)
MODEL_ENUM(job_state, job_state, job_state_names)
MODEL_ENUM(job_kind, job_kind, job_kind_names)

/* Comparators of the name indexes: case-insensitive, as name_equal(). */
static int
model_server_cmp(const void *a, const void *b)
{
	return strcasecmp((*(struct server *const *)a)->name,
	    (*(struct server *const *)b)->name);
}

static int
model_cluster_cmp(const void *a, const void *b)
{
	return strcasecmp((*(struct cluster *const *)a)->name,
	    (*(struct cluster *const *)b)->name);
}

static int
model_server_key(const void *key, const void *elem)
{
	return strcasecmp(key, (*(struct server *const *)elem)->name);
}

static int
model_cluster_key(const void *key, const void *elem)
{
	return strcasecmp(key, (*(struct cluster *const *)elem)->name);
}

/* Names are unique case-insensitively (config.c checks it), so the sorted
 * indexes answer every lookup with one bisection. */
static int
model_index(struct model *m)
{
	if ((m->servers_by_name = calloc(m->nservers ? m->nservers : 1,
	    sizeof(*m->servers_by_name))) == NULL ||
	    (m->clusters_by_name = calloc(m->nclusters ? m->nclusters : 1,
	    sizeof(*m->clusters_by_name))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->nservers; i++)
		m->servers_by_name[i] = &m->servers[i];
	for (size_t i = 0; i < m->nclusters; i++)
		m->clusters_by_name[i] = &m->clusters[i];
	qsort(m->servers_by_name, m->nservers, sizeof(*m->servers_by_name),
	    model_server_cmp);
	qsort(m->clusters_by_name, m->nclusters, sizeof(*m->clusters_by_name),
	    model_cluster_cmp);
	return 0;
}

int
model_init(struct model *m, const struct config *cfg, const struct plan *plan)
{
	memset(m, 0, sizeof(*m));
	m->rollout.dirty.rec = REC_ROLLOUT;
	m->rollout.state = ROLLOUT_RUNNING;
	if ((m->servers = calloc(cfg->nservers, sizeof(*m->servers))) == NULL)
		goto fail;
	m->nservers = cfg->nservers;
	if (cfg->nclusters > 0 &&
	    (m->clusters = calloc(cfg->nclusters, sizeof(*m->clusters))) == NULL)
		goto fail;
	m->nclusters = cfg->nclusters;

	for (size_t i = 0; i < cfg->nservers; i++) {
		struct server *s = &m->servers[i];

		s->dirty.rec = REC_SERVER;
		s->index = (int)i;
		s->wave = -1;
		s->roles = cfg->servers[i].roles;
		if ((s->name = strdup(cfg->servers[i].name)) == NULL)
			goto fail;
	}
	for (size_t i = 0; i < cfg->nclusters; i++) {
		struct cluster *c = &m->clusters[i];

		c->dirty.rec = REC_CLUSTER;
		c->index = (int)i;
		c->wave = -1;
		if ((c->name = strdup(cfg->clusters[i].name)) == NULL)
			goto fail;
		for (int k = 0; k < 2; k++) {
			c->nodes[k] = &m->servers[cfg->clusters[i].nodes[k]];
			c->nodes[k]->cluster = c;
		}
	}
	for (size_t w = 0; w < plan->nwaves; w++) {
		for (size_t u = 0; u < plan->waves[w].nunits; u++) {
			const struct plan_unit *pu = &plan->waves[w].units[u];

			if (pu->kind == PLAN_UNIT_SERVER)
				m->servers[pu->index].wave = (int)w;
			else
				m->clusters[pu->index].wave = (int)w;
		}
	}
	if (model_index(m) != 0)
		goto fail;
	return 0;
fail:
	model_free(m);
	return -ENOMEM;
}

static void
model_job_free(struct job *j)
{
	free(j->request);
	free(j->result);
	free(j->error);
	free(j);
}

static void
model_event_free(struct event *ev)
{
	free(ev->kind);
	free(ev->subject);
	free(ev->message);
	free(ev->actor);
	free(ev->data);
	free(ev);
}

void
model_free(struct model *m)
{
	struct job *j, *jn;
	struct event *ev, *evn;

	for (j = m->live; j != NULL; j = jn) {
		jn = j->next_live;
		model_job_free(j);
	}
	for (j = m->retired; j != NULL; j = jn) {
		jn = j->next_live;
		model_job_free(j);
	}
	for (ev = m->events; ev != NULL; ev = evn) {
		evn = ev->next;
		model_event_free(ev);
	}
	for (size_t i = 0; m->servers != NULL && i < m->nservers; i++) {
		free(m->servers[i].name);
		free(m->servers[i].last_error);
	}
	for (size_t i = 0; m->clusters != NULL && i < m->nclusters; i++) {
		free(m->clusters[i].name);
		free(m->clusters[i].last_error);
	}
	free(m->servers);
	free(m->clusters);
	free(m->servers_by_name);
	free(m->clusters_by_name);
	free(m->rollout.reason);
	memset(m, 0, sizeof(*m));
}

struct server *
model_server(struct model *m, const char *name)
{
	struct server **p = bsearch(name, m->servers_by_name, m->nservers,
	    sizeof(*m->servers_by_name), model_server_key);

	return p ? *p : NULL;
}

struct cluster *
model_cluster(struct model *m, const char *name)
{
	struct cluster **p = bsearch(name, m->clusters_by_name, m->nclusters,
	    sizeof(*m->clusters_by_name), model_cluster_key);

	return p ? *p : NULL;
}

void
model_touch(struct model *m, struct model_dirty *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = m->dirty;
	m->dirty = d;
}

/* Queues an event; data (stolen) is NULL for an event without data. */
static int
model_event_queue(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt,
    va_list ap) __attribute__((format(printf, 7, 0)));

static int
model_event_queue(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt,
    va_list ap)
{
	struct event *ev = calloc(1, sizeof(*ev));
	int rc = -ENOMEM;

	if (ev == NULL)
		goto fail;
	ev->time = now;
	if (vasprintf(&ev->message, fmt, ap) < 0) {
		ev->message = NULL;
		goto fail;
	}
	if ((ev->kind = strdup(kind)) == NULL ||
	    (ev->subject = strdup(subject)) == NULL ||
	    (ev->actor = strdup(actor)) == NULL)
		goto fail;
	/* Text, like every other field: the store binds it as is and the
	 * event is handed to the shell's publishers after the commit. */
	if (data != NULL &&
	    (ev->data = json_dumps(data, JSON_COMPACT)) == NULL)
		goto fail;
	json_decref(data);
	if (m->events_tail != NULL)
		m->events_tail->next = ev;
	else
		m->events = ev;
	m->events_tail = ev;
	return 0;
fail:
	json_decref(data);
	if (ev != NULL)
		model_event_free(ev);
	return rc;
}

int
model_event(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = model_event_queue(m, now, kind, subject, actor, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int
model_event_vdata(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt,
    va_list ap)
{
	if (data == NULL)
		return -ENOMEM;
	if (!json_is_object(data)) {
		json_decref(data);
		return -EINVAL;
	}
	return model_event_queue(m, now, kind, subject, actor, data, fmt, ap);
}

int
model_event_data(struct model *m, int64_t now, const char *kind,
    const char *subject, const char *actor, json_t *data, const char *fmt,
    ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = model_event_vdata(m, now, kind, subject, actor, data, fmt, ap);
	va_end(ap);
	return rc;
}

json_t *
model_json_text(const char *s)
{
	json_t *j;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL || (copy = strdup(s)) == NULL)
		return j;
	for (char *p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	j = json_string(copy);
	free(copy);
	return j;
}

static void
model_live_link(struct model *m, struct job *j)
{
	j->prev_live = NULL;
	j->next_live = m->live;
	if (m->live != NULL)
		m->live->prev_live = j;
	m->live = j;
	m->nlive++;
}

static void
model_live_unlink(struct model *m, struct job *j)
{
	if (j->prev_live != NULL)
		j->prev_live->next_live = j->next_live;
	else
		m->live = j->next_live;
	if (j->next_live != NULL)
		j->next_live->prev_live = j->prev_live;
	j->next_live = j->prev_live = NULL;
	m->nlive--;
}

/* Outbox order is submission order, so the gateway sees jobs in the order
 * the engine decided them. */
static void
model_outbox_push(struct model *m, struct job *j)
{
	if (j->in_outbox)
		return;
	j->in_outbox = true;
	j->next_outbox = NULL;
	if (m->outbox_tail != NULL)
		m->outbox_tail->next_outbox = j;
	else
		m->outbox = j;
	m->outbox_tail = j;
}

struct job *
model_job_new(struct model *m, enum job_kind kind, struct server *srv,
    struct cluster *cl, const char *id, char *request, int64_t now)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL || strlen(id) > JOB_ID_MAX) {
		free(j);
		free(request);
		return NULL;
	}
	strcpy(j->id, id);
	j->dirty.rec = REC_JOB;
	j->kind = kind;
	j->state = JOB_INTENT;
	j->server = srv;
	j->cluster = cl;
	j->request = request;
	j->created_at = now;
	model_live_link(m, j);
	model_outbox_push(m, j);
	model_touch(m, &j->dirty);
	if (srv != NULL)
		srv->job = j;
	else
		cl->job = j;
	return j;
}

/* Only a job finished before the shell posted it is ever here: rare, so a
 * walk of the (short) outbox is fine. */
static void
model_outbox_remove(struct model *m, struct job *j)
{
	struct job **pp, *prev = NULL;

	for (pp = &m->outbox; *pp != NULL; prev = *pp, pp = &(*pp)->next_outbox) {
		if (*pp == j) {
			*pp = j->next_outbox;
			if (m->outbox_tail == j)
				m->outbox_tail = prev;
			break;
		}
	}
	j->next_outbox = NULL;
	j->in_outbox = false;
}

struct job *
model_job_restore(struct model *m, enum job_kind kind, enum job_state state,
    struct server *srv, struct cluster *cl, const char *id, char *request,
    int64_t created_at, int64_t submitted_at)
{
	struct job *j = model_job_new(m, kind, srv, cl, id, request, created_at);

	if (j == NULL)
		return NULL;
	/* Loaded from the file: nothing to write back until it changes. */
	m->dirty = j->dirty.next;
	j->dirty.queued = false;
	j->dirty.next = NULL;
	j->state = state;
	j->submitted_at = submitted_at;
	return j;
}

/* A job id: the rollout's nonce and a sequence number, so ids never repeat
 * across restarts (the sequence is committed with the job) nor across
 * rollouts sharing one gateway (the nonce is random per rollout). */
int
model_job_id(struct model *m, char *buf, size_t len)
{
	m->rollout.job_seq++;
	model_touch(m, &m->rollout.dirty);
	if (snprintf(buf, len, "exr-%s-%08llu", m->rollout.nonce,
	    (unsigned long long)m->rollout.job_seq) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

void
model_job_finish(struct model *m, struct job *j, enum job_state state,
    int http_status, char *result, char *error, int64_t now)
{
	j->state = state;
	j->http_status = http_status;
	free(j->result);
	j->result = result;
	free(j->error);
	j->error = error;
	j->finished_at = now;
	j->op = NULL;
	if (j->server != NULL && j->server->job == j)
		j->server->job = NULL;
	if (j->cluster != NULL && j->cluster->job == j)
		j->cluster->job = NULL;
	if (j->in_outbox)
		model_outbox_remove(m, j);
	model_live_unlink(m, j);
	j->next_live = m->retired;
	m->retired = j;
	model_touch(m, &j->dirty);
}

void
model_after_commit(struct model *m,
    void (*each)(const struct event *ev, void *arg), void *arg)
{
	struct model_dirty *d, *dn;
	struct event *ev, *evn;
	struct job *j, *jn;

	for (d = m->dirty; d != NULL; d = dn) {
		dn = d->next;
		d->queued = false;
		d->next = NULL;
	}
	m->dirty = NULL;
	for (ev = m->events; ev != NULL; ev = evn) {
		evn = ev->next;
		if (each != NULL)
			each(ev, arg);
		model_event_free(ev);
	}
	m->events = m->events_tail = NULL;
	for (j = m->retired; j != NULL; j = jn) {
		jn = j->next_live;
		model_job_free(j);
	}
	m->retired = NULL;
}

struct job *
model_take_outbox(struct model *m)
{
	struct job *j = m->outbox;

	m->outbox = m->outbox_tail = NULL;
	return j;
}

/* container_of is how the store gets from a dirty link to its record. */
struct server *
model_dirty_server(struct model_dirty *d)
{
	return container_of(d, struct server, dirty);
}

struct cluster *
model_dirty_cluster(struct model_dirty *d)
{
	return container_of(d, struct cluster, dirty);
}

struct job *
model_dirty_job(struct model_dirty *d)
{
	return container_of(d, struct job, dirty);
}
