/*
 * faults — what the simulator does wrong on purpose, so that a client's
 * handling of a bad network and a bad day can be tested.
 *
 * Transport faults apply to every /v1 request (never to /sim):
 *   drop      close the connection without an answer; the request is NOT
 *             executed
 *   http_500  500 with an error body; NOT executed
 *   garbage   200 with a body that is not JSON; NOT executed
 *   lose      (POST only) executed, then the connection is closed without
 *             an answer: the job exists
 *   slow_ms   every answer (or drop) is held this long first
 * A client cannot tell drop from lose: both mean "outcome unknown", and the
 * only safe retry is with the same id (the replay then answers 200 with the
 * job, or 201 if it had not been executed).
 *
 * Each request draws four uniform numbers from one SplitMix64 stream seeded
 * with --seed, whatever the rates, so a run is repeatable for a given seed
 * and order of requests, and changing one rate does not shift the others.
 *
 * Organization faults (lists of names): fail_setup (setup ends with
 * ExitCode 1603; a cluster name fails its UpgradeCMS), reboot_required
 * (setup reports RebootRequired; "all" for every server), cms_partial (the
 * CMS comes up PartiallyOnline), never_healthy (Test-ServiceHealth always
 * reports a required service stopped). They are read when a command starts.
 */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

void
faults_init(struct sim_faults *f)
{
	memset(f, 0, sizeof(*f));
}

static void
faults_names_free(struct sim_names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void
faults_free(struct sim_faults *f)
{
	faults_names_free(&f->fail_setup);
	faults_names_free(&f->reboot_required);
	faults_names_free(&f->cms_partial);
	faults_names_free(&f->never_healthy);
}

bool
faults_has(const struct sim_names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (name_equal(s->v[i], name))
			return true;
	}
	return false;
}

static int
faults_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
faults_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static struct sim_names *
faults_list(struct sim_faults *f, const char *which)
{
	if (strcmp(which, "fail_setup") == 0)
		return &f->fail_setup;
	if (strcmp(which, "reboot_required") == 0)
		return &f->reboot_required;
	if (strcmp(which, "cms_partial") == 0)
		return &f->cms_partial;
	if (strcmp(which, "never_healthy") == 0)
		return &f->never_healthy;
	return NULL;
}

int
faults_add_name(struct sim *sim, struct sim_faults *f, const char *which,
    const char *name, char *err, size_t errlen)
{
	struct sim_names *s = faults_list(f, which);
	bool server = org_server(&sim->org, name) >= 0;
	bool cluster = org_cluster(&sim->org, name) >= 0;
	bool ok;
	char **v;

	if (s == NULL)
		return faults_err(err, errlen, "%s: not a list fault", which);
	/* A typo must not silently test nothing. */
	if (s == &f->fail_setup)
		ok = server || cluster;
	else if (s == &f->cms_partial)
		ok = cluster;
	else if (s == &f->reboot_required)
		ok = server || strcmp(name, "all") == 0;
	else
		ok = server;
	if (!ok)
		return faults_err(err, errlen, "%s: '%s' is not a %s of the "
		    "organization", which, name, s == &f->cms_partial ?
		    "cluster" : s == &f->fail_setup ? "server or cluster" :
		    "server");
	if (faults_has(s, name))
		return 0;
	if ((v = realloc(s->v, (s->n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	s->v = v;
	if ((s->v[s->n] = strdup(name)) == NULL)
		return -ENOMEM;
	s->n++;
	return 0;
}

static int
faults_copy_names(struct sim *sim, struct sim_faults *dst,
    const struct sim_faults *src, const char *which)
{
	struct sim_names *s = faults_list((struct sim_faults *)src, which);
	char err[8];
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		if ((rc = faults_add_name(sim, dst, which, s->v[i], err,
		    sizeof(err))) != 0)
			return rc;
	}
	return 0;
}

static const char *const faults_lists[] = { "fail_setup", "reboot_required",
	"cms_partial", "never_healthy" };
static const char *const faults_rates[] = { "http_500_rate", "drop_rate",
	"garbage_rate", "lose_rate" };

static double *
faults_rate(struct sim_faults *f, const char *key)
{
	if (strcmp(key, "http_500_rate") == 0)
		return &f->http_500_rate;
	if (strcmp(key, "drop_rate") == 0)
		return &f->drop_rate;
	if (strcmp(key, "garbage_rate") == 0)
		return &f->garbage_rate;
	if (strcmp(key, "lose_rate") == 0)
		return &f->lose_rate;
	return NULL;
}

int
faults_update(struct sim *sim, const json_t *body, char *err, size_t errlen)
{
	struct sim_faults nf;
	const char *key;
	json_t *v;
	int rc = 0;

	if (!json_is_object(body))
		return faults_err(err, errlen, "body: not a JSON object");
	faults_init(&nf);
	nf.http_500_rate = sim->faults.http_500_rate;
	nf.drop_rate = sim->faults.drop_rate;
	nf.garbage_rate = sim->faults.garbage_rate;
	nf.lose_rate = sim->faults.lose_rate;
	nf.slow_ms = sim->faults.slow_ms;
	/* Keys not in the body keep their settings; a key replaces its
	 * setting (a list as a whole). */
	for (size_t i = 0; i < sizeof(faults_lists) / sizeof(faults_lists[0]);
	    i++) {
		if (json_object_get(body, faults_lists[i]) == NULL &&
		    (rc = faults_copy_names(sim, &nf, &sim->faults,
		    faults_lists[i])) != 0)
			goto fail;
	}
	json_object_foreach((json_t *)body, key, v) {
		double *rate = faults_rate(&nf, key);

		if (rate != NULL) {
			if (!json_is_number(v) || !(json_number_value(v) >= 0) ||
			    json_number_value(v) > 1) {
				rc = faults_err(err, errlen,
				    "%s: expected a number from 0 to 1", key);
				goto fail;
			}
			*rate = json_number_value(v);
		} else if (strcmp(key, "slow_ms") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 600000) {
				rc = faults_err(err, errlen, "slow_ms: expected "
				    "an integer from 0 to 600000");
				goto fail;
			}
			nf.slow_ms = json_integer_value(v);
		} else if (faults_list(&nf, key) != NULL) {
			size_t i;
			json_t *name;

			if (!json_is_array(v)) {
				rc = faults_err(err, errlen,
				    "%s: expected an array of names", key);
				goto fail;
			}
			json_array_foreach(v, i, name) {
				if (!json_is_string(name)) {
					rc = faults_err(err, errlen,
					    "%s[%zu]: not a string", key, i);
					goto fail;
				}
				if ((rc = faults_add_name(sim, &nf, key,
				    json_string_value(name), err, errlen)) != 0)
					goto fail;
			}
		} else {
			rc = faults_err(err, errlen, "'%s': unknown fault (known: "
			    "http_500_rate, drop_rate, garbage_rate, lose_rate, "
			    "slow_ms, fail_setup, reboot_required, cms_partial, "
			    "never_healthy)", key);
			goto fail;
		}
	}
	faults_free(&sim->faults);
	sim->faults = nf;
	return 0;
fail:
	if (rc == -ENOMEM)
		faults_err(err, errlen, "out of memory");
	faults_free(&nf);
	return rc;
}

json_t *
faults_json(const struct sim_faults *f)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(faults_rates) / sizeof(faults_rates[0]);
	    i++) {
		if (json_object_set_new(o, faults_rates[i], json_real(
		    *faults_rate((struct sim_faults *)f, faults_rates[i]))) != 0)
			goto fail;
	}
	if (json_object_set_new(o, "slow_ms", json_integer(f->slow_ms)) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(faults_lists) / sizeof(faults_lists[0]);
	    i++) {
		const struct sim_names *s =
		    faults_list((struct sim_faults *)f, faults_lists[i]);
		json_t *a = json_array();

		if (a == NULL || json_object_set_new(o, faults_lists[i], a) != 0)
			goto fail;
		for (size_t k = 0; k < s->n; k++) {
			if (json_array_append_new(a, json_string(s->v[k])) != 0)
				goto fail;
		}
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* SplitMix64: tiny, full period, good enough to draw faults. */
static uint64_t
faults_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1): a rate of 1 always fires, a rate of 0 never. */
static double
faults_uniform(uint64_t *state)
{
	return (double)(faults_next(state) >> 11) * 0x1.0p-53;
}

struct sim_draw
faults_draw(struct sim *sim)
{
	const struct sim_faults *f = &sim->faults;
	struct sim_draw d;

	d.drop = faults_uniform(&sim->rng) < f->drop_rate;
	d.http_500 = faults_uniform(&sim->rng) < f->http_500_rate;
	d.garbage = faults_uniform(&sim->rng) < f->garbage_rate;
	d.lose = faults_uniform(&sim->rng) < f->lose_rate;
	d.slow_ms = f->slow_ms;
	return d;
}
