/*
 * bench_engine — figures for the engine, printed, not asserted.
 *
 * 1. Makespan. The functional core driven as a discrete-event simulation
 *    on contrib/examples/large.json (1,000 servers, 100 CCR clusters) with
 *    seeded random install durations (30 min to 3 h) and instant reads: the
 *    simulated time to finish, against the lower bound of the waves run
 *    back to back, each wave taking at least max(longest unit,
 *    total work / max_parallel). Also the engine's CPU per server.
 * 2. The daemon for real: exrolld against exchange-sim on the same
 *    organization with zero-length installs and auto checkpoints: wall and
 *    CPU time per server, transitions (events) per second, next to a plain
 *    SQLite WAL + synchronous=FULL commit loop measured in the same run.
 */
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "model.h"
#include "plan.h"
#include "testutil.h"

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long rng_state = 7;

static double
rng01(void)
{
	rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* The simulated organization of part 1: enough of Exchange to answer. */
struct sim_srv {
	bool upgraded;
	int64_t setup_ms;
};

struct sim_cms {
	int owner;		/* node index 0/1 */
	bool online;
};

struct flight {
	struct job *job;
	int64_t at;		/* when its answer arrives (simulated ms) */
};

struct des {
	struct config *cfg;
	struct plan plan;
	struct model m;
	struct engine e;
	struct sim_srv *srv;
	struct sim_cms *cms;
	struct flight *fl;
	size_t nfl, capfl;
	int64_t now;
	long events;
};

static void
des_count(const struct event *ev, void *arg)
{
	(void)ev;
	((struct des *)arg)->events++;
}

static void
des_flush(struct des *d)
{
	struct job *j, *next;

	model_after_commit(&d->m, des_count, d);
	for (j = model_take_outbox(&d->m); j != NULL; j = next) {
		int64_t dur = 0;

		next = j->next_outbox;
		j->next_outbox = NULL;
		j->in_outbox = false;
		if (j->kind == JOB_SETUP)
			dur = d->srv[j->server->index].setup_ms;
		if (d->nfl == d->capfl) {
			d->capfl = d->capfl ? d->capfl * 2 : 256;
			d->fl = realloc(d->fl, d->capfl * sizeof(*d->fl));
			if (d->fl == NULL)
				abort();
		}
		d->fl[d->nfl++] = (struct flight){ j, d->now + dur };
	}
}

static void
des_answer(struct des *d, struct job *j)
{
	char out[512];
	json_t *o, *job;
	struct gw_result res = { .status = GW_COMPLETED, .http_status = 200 };

	out[0] = '\0';
	if (j->kind == JOB_GET_SERVER) {
		snprintf(out, sizeof(out), "[{\"Name\": \"%s\", \"ServerRole\": "
		    "\"Mailbox\", \"AdminDisplayVersion\": \"%s\"}]",
		    j->server->name, d->srv[j->server->index].upgraded ?
		    "Version 8.1 (Build 240.6)" : "Version 8.0 (Build 685.24)");
	} else if (j->kind == JOB_TEST_HEALTH) {
		snprintf(out, sizeof(out), "[{\"Role\": \"r\", "
		    "\"RequiredServicesRunning\": true, \"ServicesNotRunning\": []}]");
	} else if (j->kind == JOB_SETUP || j->kind == JOB_CMS_SETUP) {
		if (j->kind == JOB_SETUP)
			d->srv[j->server->index].upgraded = true;
		else
			d->cms[j->cluster->index].online = true;
		snprintf(out, sizeof(out), "[{\"ExitCode\": 0, \"RebootRequired\": false}]");
	} else if (j->kind == JOB_CMS_STATUS) {
		struct sim_cms *c = &d->cms[j->cluster->index];
		struct cluster *cl = j->cluster;

		snprintf(out, sizeof(out), "[{\"Identity\": \"%s\", \"State\": "
		    "\"%s\", \"OperationalMachines\": [\"%s <Active>\", \"%s\"]}]",
		    cl->name, c->online ? "Online" : "Offline",
		    cl->nodes[c->owner]->name, cl->nodes[1 - c->owner]->name);
	} else if (j->kind == JOB_CMS_STOP) {
		d->cms[j->cluster->index].online = false;
		strcpy(out, "[]");
	} else if (j->kind == JOB_CMS_MOVE) {
		struct sim_cms *c = &d->cms[j->cluster->index];

		c->owner = 1 - c->owner;
		strcpy(out, "[]");
	} else {
		strcpy(out, "[]");
	}
	o = json_loads(out, 0, NULL);
	job = json_pack("{s:s, s:s, s:o}", "id", j->id, "state", "completed",
	    "output", o);
	res.job = job;
	res.output = json_object_get(job, "output");
	engine_job_done(&d->e, j, &res, d->now);
	json_decref(job);
}

/* Runs the engine to completion; returns the simulated makespan (ms). */
static int64_t
des_run(struct des *d, double *engine_cpu)
{
	double c0 = cpu_s();
	long steps = 0;

	engine_start(&d->e, d->now);
	des_flush(d);
	while (d->m.rollout.state != ROLLOUT_COMPLETED && steps++ < 10000000) {
		size_t best = 0;

		if (d->nfl == 0) {
			/* Only wakes left: the earliest one. */
			int64_t at = INT64_MAX;
			struct server *ws = NULL;
			struct cluster *wc = NULL;

			for (size_t i = 0; i < d->m.nservers; i++) {
				if (d->m.servers[i].wake_at &&
				    d->m.servers[i].wake_at < at) {
					at = d->m.servers[i].wake_at;
					ws = &d->m.servers[i];
				}
			}
			for (size_t i = 0; i < d->m.nclusters; i++) {
				if (d->m.clusters[i].wake_at &&
				    d->m.clusters[i].wake_at < at) {
					at = d->m.clusters[i].wake_at;
					wc = &d->m.clusters[i];
					ws = NULL;
				}
			}
			if (ws == NULL && wc == NULL)
				break;
			d->now = at;
			if (ws)
				engine_wake_server(&d->e, ws, d->now);
			else
				engine_wake_cluster(&d->e, wc, d->now);
			des_flush(d);
			continue;
		}
		for (size_t i = 1; i < d->nfl; i++) {
			if (d->fl[i].at < d->fl[best].at)
				best = i;
		}
		{
			struct flight f = d->fl[best];

			d->fl[best] = d->fl[--d->nfl];
			if (f.at > d->now)
				d->now = f.at;
			des_answer(d, f.job);
			des_flush(d);
		}
	}
	*engine_cpu = cpu_s() - c0;
	return d->now;
}

/* Lower bound: waves back to back, each at least its longest unit and at
 * least its total work over its parallelism. A cluster's work is two
 * installs in sequence. */
static int64_t
des_bound(struct des *d)
{
	int64_t total = 0;

	for (size_t w = 0; w < d->plan.nwaves; w++) {
		const struct plan_wave *pw = &d->plan.waves[w];
		int64_t sum = 0, longest = 0;
		int p = d->cfg->policy.max_parallel[pw->role];

		for (size_t u = 0; u < pw->nunits; u++) {
			int64_t t;

			if (pw->units[u].kind == PLAN_UNIT_SERVER) {
				t = d->srv[pw->units[u].index].setup_ms;
			} else {
				const struct config_cluster *c =
				    &d->cfg->clusters[pw->units[u].index];

				t = d->srv[c->nodes[0]].setup_ms +
				    d->srv[c->nodes[1]].setup_ms;
			}
			sum += t;
			if (t > longest)
				longest = t;
		}
		total += longest > sum / p ? longest : sum / p;
	}
	return total;
}

static void
part1_makespan(const char *org)
{
	struct config_errors errs = { 0 };
	struct des d;
	double cpu;
	int64_t span, bound;

	memset(&d, 0, sizeof(d));
	if (config_load(org, &d.cfg, &errs) != 0) {
		fprintf(stderr, "bench: %s does not load\n", org);
		exit(1);
	}
	if (plan_build(d.cfg, &d.plan) || model_init(&d.m, d.cfg, &d.plan) ||
	    engine_init(&d.e, &d.m, d.cfg, &d.plan))
		abort();
	strcpy(d.m.rollout.nonce, "bench0000000");
	d.srv = calloc(d.cfg->nservers, sizeof(*d.srv));
	d.cms = calloc(d.cfg->nclusters ? d.cfg->nclusters : 1, sizeof(*d.cms));
	for (size_t i = 0; i < d.cfg->nservers; i++)
		d.srv[i].setup_ms = (int64_t)((1800 + rng01() * 9000) * 1000);
	for (size_t i = 0; i < d.cfg->nclusters; i++)
		d.cms[i].online = true;
	d.now = 1800000000000LL;
	span = des_run(&d, &cpu) - 1800000000000LL;
	bound = des_bound(&d);
	printf("engine, simulated (%zu servers, %zu clusters, installs 30 min-3 h, "
	    "seeded):\n", d.cfg->nservers, d.cfg->nclusters);
	printf("  rollout state            %s\n",
	    rollout_state_name(d.m.rollout.state));
	printf("  makespan                 %.1f h\n", (double)span / 3.6e6);
	printf("  critical-path bound      %.1f h\n", (double)bound / 3.6e6);
	printf("  makespan / bound         %.3f\n", (double)span / (double)bound);
	printf("  engine CPU               %.3f s (%.1f us per server, "
	    "%ld events)\n", cpu, cpu * 1e6 / (double)d.cfg->nservers, d.events);
	engine_free(&d.e);
	model_free(&d.m);
	plan_free(&d.plan);
	config_free(d.cfg);
	free(d.srv);
	free(d.cms);
	free(d.fl);
}

/* A plain commit loop: the floor any transactional store pays. */
static double
sqlite_commits_per_s(const char *dir, int n)
{
	char *path = tu_path(dir, "plain.db");
	sqlite3 *db;
	sqlite3_stmt *st;
	double t0, t;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		abort();
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES ('transition')", -1,
	    &st, NULL);
	t0 = mono_s();
	for (int i = 0; i < n; i++) {
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	t = mono_s() - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return n / t;
}

struct done_wait {
	const char *sock;
	struct tu_proc *p;
};

static bool
done_cond(void *arg)
{
	struct done_wait *w = arg;
	json_t *st = tu_ctl_cmd(w->sock, "status", NULL);
	bool done = st && strcmp(json_string_value(json_object_get(st,
	    "state")), "completed") == 0;

	json_decref(st);
	return done || tu_proc_exited(w->p);
}

static void
part2_daemon(const char *org)
{
	const char *sim_args[] = { "--time-scale", "1", "--setup-s", "0",
	    "--setup-cms-s", "0", "--reboot-s", "0", "--services-delay-s", "0",
	    "--move-s", "0", "--stop-s", "0", NULL };
	char *dir = tu_tmpdir("bench"), *cfg, *sock, *state, *bin, *log, head[1024];
	struct tu_sim sim;
	struct tu_proc p;
	struct done_wait w;
	struct rusage ru;
	double t0, wall, cpu, plain, nsrv = 0;
	long events = 0;
	json_t *ev;

	if (tu_sim_start(&sim, dir, org, sim_args) != 0)
		abort();
	sock = tu_path(dir, "control.sock");
	state = tu_path(dir, "state.db");
	snprintf(head, sizeof(head), "\"state_file\": \"%s\", \"socket\": \"%s\","
	    "\"gateway\": {\"url\": \"%s\", \"poll_interval_s\": 0.05, "
	    "\"max_in_flight\": 64}, \"policy\": {\"checkpoints\": \"auto\", "
	    "\"verify_interval_s\": 0.05, \"max_parallel\": {\"ClientAccess\": 20,"
	    " \"EdgeTransport\": 5, \"HubTransport\": 10, \"UnifiedMessaging\": 5,"
	    " \"Mailbox\": 10}}", state, sock, sim.url);
	cfg = tu_compose_config(dir, "bench.json", head, org);
	bin = tu_build_path("exrolld");
	log = tu_path(dir, "exrolld.log");
	{
		char *argv[] = { bin, (char *)"--config", cfg, (char *)"--log-level",
		    (char *)"warning", NULL };

		t0 = mono_s();
		if (tu_spawn(&p, log, argv) != 0)
			abort();
	}
	w.sock = sock;
	w.p = &p;
	if (!tu_wait(done_cond, &w, 600000) || tu_proc_exited(&p)) {
		fprintf(stderr, "bench: the rollout did not complete (log %s)\n", log);
		exit(1);
	}
	wall = mono_s() - t0;
	ev = tu_ctl_cmd(sock, "status", NULL);
	nsrv = (double)json_integer_value(json_object_get(json_object_get(ev,
	    "progress"), "total"));
	json_decref(ev);
	for (long since = 0;;) {
		json_t *args = json_pack("{s:I, s:i}", "since", (json_int_t)since,
		    "limit", 1000);
		size_t n;

		ev = tu_ctl_cmd(sock, "events", args);
		json_decref(args);
		n = json_array_size(ev);
		events += (long)n;
		if (n > 0)
			since = (long)json_integer_value(json_object_get(
			    json_array_get(ev, n - 1), "seq"));
		json_decref(ev);
		if (n < 1000)
			break;
	}
	kill(p.pid, SIGTERM);
	if (wait4(p.pid, &p.status, 0, &ru) == p.pid)
		p.exited = true;
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	plain = sqlite_commits_per_s(dir, 2000);
	printf("exrolld against exchange-sim (zero-length installs, auto "
	    "checkpoints):\n");
	printf("  wall                     %.2f s (%.2f ms per server, %.0f "
	    "servers)\n", wall, wall * 1000 / nsrv, nsrv);
	printf("  exrolld CPU              %.2f s (%.2f ms per server)\n", cpu,
	    cpu * 1000 / nsrv);
	printf("  events (transitions)     %ld, %.0f per second\n", events,
	    events / wall);
	printf("  plain SQLite WAL+FULL    %.0f commits per second (same disk, "
	    "same run)\n", plain);
	tu_proc_free(&p);
	tu_sim_stop(&sim);
	tu_rmrf(dir);
	free(dir);
	free(cfg);
	free(sock);
	free(state);
	free(bin);
	free(log);
}

int
main(void)
{
	char *org = tu_src_path("contrib/examples/large.json");

	part1_makespan(org);
	putchar('\n');
	part2_daemon(org);
	free(org);
	return 0;
}
