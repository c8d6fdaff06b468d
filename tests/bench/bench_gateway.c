/*
 * bench_gateway — jobs per second and CPU per job through gw_job_run()
 * against exchange-sim: Get-ExchangeServer jobs (instant in the
 * simulator), with 1 and with 64 in flight. Prints a table; asserts only
 * that every job completed.
 *
 * CPU is this process's (getrusage RUSAGE_SELF: the client's share,
 * libcurl and jansson included); the simulator's is reported separately
 * from RUSAGE_CHILDREN once it has exited.
 *
 *   build/bench/bench_gateway [JOBS]      (default 2000 per row)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmdlet.h"
#include "config.h"
#include "gateway.h"
#include "log.h"
#include "testutil.h"
#include "timefmt.h"

static const char org_json[] =
    "{\"servers\": [{\"name\": \"CAS01\", \"roles\": [\"ClientAccess\"]}]}";

struct bench {
	uv_loop_t loop;
	struct gw *gw;
	int total;		/* jobs to run */
	int started;
	int done;
	int completed;
	int in_flight;		/* target concurrency */
	int run;		/* row number, for unique ids */
	bool failed;
};

static void start_one(struct bench *b);

static void
on_done(void *arg, const struct gw_result *r)
{
	struct bench *b = arg;

	b->done++;
	if (r->status == GW_COMPLETED)
		b->completed++;
	else if (!b->failed) {
		fprintf(stderr, "job failed: %s\n", r->message ? r->message :
		    "?");
		b->failed = true;
	}
	/* Keep the window full: one finished, one more starts. */
	if (b->started < b->total)
		start_one(b);
	/* UV_RUN_ONCE would otherwise go on to block for I/O. */
	if (b->done == b->total)
		uv_stop(&b->loop);
}

static void
start_one(struct bench *b)
{
	char id[48], *body;

	snprintf(id, sizeof(id), "bench-%d-%06d", b->run, b->started);
	body = cmdlet_get_server(id, "CAS01");
	if (body == NULL || gw_job_run(b->gw, id, body, NULL, on_done, b,
	    NULL) != 0) {
		fprintf(stderr, "cannot start job %s\n", id);
		exit(1);
	}
	free(body);
	b->started++;
}

static double
tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void
on_closed(void *arg)
{
	*(bool *)arg = true;
}

static int
bench_row(const char *url, int total, int in_flight, int run)
{
	struct config_gateway cfg = {
		.url = (char *)url, .tls_verify = true,
		.request_timeout_s = 30, .poll_interval_s = 1,
		.max_in_flight = in_flight,
	};
	struct bench b = { .total = total, .in_flight = in_flight,
	    .run = run };
	struct rusage r0, r1;
	int64_t t0, t1;
	double wall, cpu;
	bool closed = false;

	if (uv_loop_init(&b.loop) != 0 || gw_new(&b.loop, &cfg, &b.gw) != 0) {
		fprintf(stderr, "cannot set up the client\n");
		return -1;
	}
	getrusage(RUSAGE_SELF, &r0);
	t0 = time_mono_ms();
	for (int i = 0; i < in_flight && b.started < total; i++)
		start_one(&b);
	while (b.done < total)
		uv_run(&b.loop, UV_RUN_ONCE);
	t1 = time_mono_ms();
	getrusage(RUSAGE_SELF, &r1);
	gw_close(b.gw, on_closed, &closed);
	/* Runs until every handle is closed (closed is then set). */
	uv_run(&b.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&b.loop) != 0)
		fprintf(stderr, "warning: loop not empty after close\n");

	wall = (double)(t1 - t0) / 1000.0;
	cpu = tv_s(&r1.ru_utime) - tv_s(&r0.ru_utime) +
	    tv_s(&r1.ru_stime) - tv_s(&r0.ru_stime);
	printf("%9d  %6d  %9.2f  %10.0f  %10.1f  %10.1f\n", in_flight, total,
	    wall, total / wall, cpu * 1e6 / total,
	    wall * 1e6 / total * in_flight);
	if (b.completed != total) {
		fprintf(stderr, "only %d of %d jobs completed\n", b.completed,
		    total);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int total = argc > 1 ? atoi(argv[1]) : 2000;
	static const int widths[] = { 1, 64 };
	char *dir = tu_tmpdir("bench-gw"), *org;
	struct tu_sim sim;
	struct rusage rc;
	int rc_all = 0;

	log_init("bench_gateway", LOG_LEVEL_WARNING, 0);
	if (dir == NULL || total <= 0)
		return 2;
	org = tu_path(dir, "org.json");
	if (org == NULL || tu_write_file(org, org_json) != 0 ||
	    tu_sim_start(&sim, dir, org, NULL) != 0) {
		fprintf(stderr, "cannot start exchange-sim (make "
		    "build/exchange-sim)\n");
		return 1;
	}
	printf("gw_job_run: Get-ExchangeServer against exchange-sim "
	    "(loopback, plain HTTP)\n\n");
	printf("in flight    jobs     wall s      jobs/s  CPU us/job  "
	    "latency us\n");
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		if (bench_row(sim.url, total, widths[i], (int)i) != 0)
			rc_all = 1;
	}
	tu_sim_stop(&sim);
	getrusage(RUSAGE_CHILDREN, &rc);
	printf("\nsimulator CPU: %.2f s in total (user+system)\n",
	    tv_s(&rc.ru_utime) + tv_s(&rc.ru_stime));
	printf("latency = wall time per job x in flight (the mean time "
	    "one job takes)\n");
	tu_rmrf(dir);
	free(dir);
	free(org);
	return rc_all;
}
