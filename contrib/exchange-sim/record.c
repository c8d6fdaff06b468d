/*
 * record — what happened, for tests and for the administrator rehearsing a
 * weekend: every command that created a job (with how many identical
 * replays it got), every violation of the procedure, how many moves and
 * setups each cluster and server saw, and the bodies POSTed to the webhook
 * receiver. Served as GET /sim/record and written by --record on exit and
 * on SIGUSR1.
 *
 * Violations are what a real organization would not forgive (or an
 * administrator would not): each is logged as a warning when it happens.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

/* The webhook receiver keeps the newest bodies only: a long rehearsal
 * must not grow without bound. */
#define RECORD_MAX_WEBHOOKS 10000

int
record_init(struct sim *sim)
{
	sim->violations = json_array();
	sim->webhooks = json_array();
	if (sim->violations == NULL || sim->webhooks == NULL) {
		record_free(sim);
		return -ENOMEM;
	}
	return 0;
}

void
record_free(struct sim *sim)
{
	json_decref(sim->violations);
	json_decref(sim->webhooks);
	sim->violations = sim->webhooks = NULL;
}

void
record_violation(struct sim *sim, const char *kind, const char *id,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("violation '%s' (job '%s'): %s", kind, id, msg);
	/* Losing a violation to ENOMEM is logged above at least. */
	json_array_append_new(sim->violations, json_pack("{s:s, s:s, s:s}",
	    "kind", kind, "message", msg, "id", id));
}

static json_t *
record_commands(const struct sim *sim)
{
	char ts[TIME_RFC3339_LEN];
	json_t *a = json_array(), *o;

	if (a == NULL)
		return NULL;
	for (const struct sim_job *j = sim->jobs.first; j; j = j->next) {
		o = json_pack("{s:I, s:s, s:s, s:s?, s:s, s:O, s:I}", "seq",
		    (json_int_t)j->seq, "time", time_format_rfc3339(j->submitted,
		    ts, sizeof(ts)), "id", j->id, "target", j->target, "command",
		    cmd_name(j->cmd), "parameters", j->params, "replays",
		    (json_int_t)j->replays);
		if (json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
record_json(const struct sim *sim)
{
	json_t *moves = json_object(), *setups = json_object();
	json_t *upgrades = json_object();
	int rc = moves && setups && upgrades ? 0 : -1;

	for (size_t i = 0; rc == 0 && i < sim->org.ncl; i++) {
		const struct sim_cluster *c = &sim->org.cl[i];

		rc = json_object_set_new(moves, c->name, json_integer(c->moves));
		if (rc == 0)
			rc = json_object_set_new(upgrades, c->name,
			    json_integer(c->upgrades));
	}
	for (size_t i = 0; rc == 0 && i < sim->org.nsrv; i++)
		rc = json_object_set_new(setups, sim->org.srv[i].name,
		    json_integer(sim->org.srv[i].setups));
	if (rc != 0) {
		json_decref(moves);
		json_decref(setups);
		json_decref(upgrades);
		return NULL;
	}
	return json_pack("{s:o, s:O, s:o, s:o, s:o}", "commands",
	    record_commands(sim), "violations", sim->violations, "moves", moves,
	    "setups", setups, "upgrade_cms", upgrades);
}

int
record_webhook(struct sim *sim, json_t *body)
{
	if (json_array_size(sim->webhooks) >= RECORD_MAX_WEBHOOKS)
		json_array_remove(sim->webhooks, 0);
	return json_array_append_new(sim->webhooks, body) == 0 ? 0 : -ENOMEM;
}

json_t *
record_webhooks_json(const struct sim *sim)
{
	return json_pack("{s:O}", "received", sim->webhooks);
}

int
record_write(struct sim *sim, const char *path)
{
	char tmp[4096];
	json_t *rec;
	char *text;
	int fd, rc = 0;
	size_t len, off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* Dumped under the lock: jansson values are not shared across
	 * threads unlocked. */
	pthread_mutex_lock(&sim->lock);
	rec = record_json(sim);
	text = rec ? json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(rec);
	pthread_mutex_unlock(&sim->lock);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) <
	    0) {
		rc = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && write(fd, "\n", 1) != 1)
		rc = -EIO;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
out:
	free(text);
	if (rc != 0) {
		errno = -rc;
		log_warn("cannot write the record to '%s'", path);
	}
	return rc;
}
