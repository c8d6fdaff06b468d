/*
 * bench_control — the control socket's figures, printed, not asserted.
 *
 * A real exrolld serves a real organization: contrib/examples/large.json
 * (1,000 servers, 100 CCR clusters) and one of 10,000 servers made by
 * `contrib/examples/gen-large.sh 10000 1000`. Its only maintenance window
 * lies in the past, so the rollout holds still and every answer costs the
 * same. For ping, status and servers, with 1 and with 8 clients each on
 * its own persistent connection, asking one request at a time: latency
 * p50/p99, requests per second, the daemon's CPU per request and the
 * answer's size. Also exrollctl's pattern (a fresh connection per ping).
 *
 * Next to it, measured in the same run with the same client code: a bare
 * Unix-socket echo server (a thread per connection, read then write), the
 * floor that any protocol over this transport on this machine starts from.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define RUN_S 1.0		/* each measurement */

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the bare echo server ------------------------------------------- */

struct echo {
	int lfd;
	char path[108];
	pthread_t thread;
};

static void *
echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *
echo_accept(void *arg)
{
	struct echo *e = arg;
	int fd;

	while ((fd = accept(e->lfd, NULL, NULL)) >= 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd) ==
		    0)
			pthread_detach(t);
		else
			close(fd);
	}
	return NULL;
}

static int
echo_start(struct echo *e, const char *dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(e->path, sizeof(e->path), "%s/echo.sock", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", e->path);
	if ((e->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(e->lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(e->lfd, 64) != 0)
		return -1;
	return pthread_create(&e->thread, NULL, echo_accept, e);
}

static void
echo_stop(struct echo *e)
{
	shutdown(e->lfd, SHUT_RDWR);
	close(e->lfd);
	pthread_join(e->thread, NULL);
	unlink(e->path);
}

/* ---- clients ---------------------------------------------------------- */

struct client {
	pthread_t thread;
	const char *path;
	const char *line;	/* the request, with its newline */
	bool fresh;		/* a new connection per request */
	double until;
	double *lat;		/* seconds */
	size_t n, cap;
	size_t answer_bytes;
	int error;
};

/* Sends line and reads one answer line; returns its length or -1. */
static ssize_t
round_trip(int fd, const char *line, char **buf, size_t *cap)
{
	size_t len = strlen(line), got = 0;

	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	for (;;) {
		ssize_t r;

		if (*cap - got < 65536) {
			char *nb = realloc(*buf, *cap ? *cap * 2 : 131072);

			if (nb == NULL)
				return -1;
			*buf = nb;
			*cap = *cap ? *cap * 2 : 131072;
		}
		if ((r = read(fd, *buf + got, *cap - got)) <= 0)
			return -1;
		/* The newline can only be in what just arrived. */
		if (memchr(*buf + got, '\n', (size_t)r) != NULL)
			return (ssize_t)(got + (size_t)r);
		got += (size_t)r;
	}
}

static void *
client_run(void *arg)
{
	struct client *c = arg;
	char *buf = NULL;
	size_t cap = 0;
	int fd = -1;

	while (mono_s() < c->until) {
		double t0 = mono_s();
		ssize_t n;

		if (fd < 0 && (fd = tu_unix_connect(c->path)) < 0) {
			c->error = errno;
			break;
		}
		if ((n = round_trip(fd, c->line, &buf, &cap)) < 0) {
			c->error = EPIPE;
			break;
		}
		if (c->fresh) {
			close(fd);
			fd = -1;
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 4096;
			c->lat = realloc(c->lat, c->cap * sizeof(*c->lat));
		}
		c->lat[c->n++] = mono_s() - t0;
		c->answer_bytes = (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* utime + stime of pid, seconds. */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* Fields after the ")" of the command name: 14 and 15 are utime,
	 * stime (3 is the first after it). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void
measure(const char *label, const char *path, const char *line, int nclients,
    bool fresh, pid_t daemon)
{
	struct client *cs = calloc((size_t)nclients, sizeof(*cs));
	double t0, t1, cpu0, cpu1, *all;
	size_t total = 0, k = 0;
	int err = 0;

	cpu0 = proc_cpu_s(daemon);
	t0 = mono_s();
	for (int i = 0; i < nclients; i++) {
		cs[i].path = path;
		cs[i].line = line;
		cs[i].fresh = fresh;
		cs[i].until = t0 + RUN_S;
		pthread_create(&cs[i].thread, NULL, client_run, &cs[i]);
	}
	for (int i = 0; i < nclients; i++) {
		pthread_join(cs[i].thread, NULL);
		total += cs[i].n;
		if (cs[i].error)
			err = cs[i].error;
	}
	t1 = mono_s();
	cpu1 = proc_cpu_s(daemon);
	all = malloc((total ? total : 1) * sizeof(*all));
	for (int i = 0; i < nclients; i++)
		for (size_t j = 0; j < cs[i].n; j++)
			all[k++] = cs[i].lat[j];
	qsort(all, total, sizeof(*all), cmp_double);
	if (total == 0) {
		printf("  %-24s %2d  no answers (%s)\n", label, nclients,
		    strerror(err));
	} else {
		char cpu[32] = "-";

		if (daemon > 0)
			snprintf(cpu, sizeof(cpu), "%.1f",
			    (cpu1 - cpu0) / (double)total * 1e6);
		printf("  %-24s %2d  %8zu  %9.1f  %9.1f  %9.0f  %9s  %9zu%s\n",
		    label, nclients, total, all[total / 2] * 1e6,
		    all[total * 99 / 100] * 1e6, (double)total / (t1 - t0),
		    cpu, cs[0].answer_bytes, err ? "  (errors)" : "");
	}
	fflush(stdout);
	for (int i = 0; i < nclients; i++)
		free(cs[i].lat);
	free(cs);
	free(all);
}

static void
header(void)
{
	printf("  %-24s %2s  %8s  %9s  %9s  %9s  %9s  %9s\n", "", "cl",
	    "requests", "p50 us", "p99 us", "req/s", "cpu us/r", "bytes");
}

static bool
proc_exited(void *arg)
{
	return tu_proc_exited(arg);
}

/* Runs one organization: sim, daemon, figures. */
static int
bench_org(const char *title, const char *org, const char *dir)
{
	static const char *const sim_args[] = { "--time-scale", "3600", NULL };
	struct tu_sim sim;
	struct tu_daemon d;
	struct echo echo;
	char head[2048], *cfg, *state, *sock;
	double t0;
	int rc = -1;

	if (tu_sim_start(&sim, dir, org, sim_args) != 0)
		return -1;
	sock = tu_path(dir, "control.sock");
	state = tu_path(dir, "state.db");
	snprintf(head, sizeof(head),
	    "\"state_file\": \"%s\", \"socket\": \"%s\",\n"
	    "  \"gateway\": {\"url\": \"%s\"},\n"
	    "  \"windows\": [{\"from\": \"2001-01-01T00:00\", "
	    "\"to\": \"2001-01-02T00:00\"}]", state, sock, sim.url);
	cfg = tu_compose_config(dir, "exroll.json", head, org);
	t0 = mono_s();
	if (cfg == NULL || tu_daemon_start(&d, dir, cfg, sock, NULL) != 0) {
		fprintf(stderr, "bench_control: exrolld did not start\n");
		goto out_sim;
	}
	printf("\n== %s: daemon up in %.2f s\n", title, mono_s() - t0);
	if (echo_start(&echo, dir) != 0) {
		fprintf(stderr, "bench_control: echo server: %s\n",
		    strerror(errno));
		goto out_daemon;
	}
	header();
	measure("bare unix echo", echo.path,
	    "{\"id\":1,\"cmd\":\"ping\"}\n", 1, false, 0);
	measure("bare unix echo", echo.path,
	    "{\"id\":1,\"cmd\":\"ping\"}\n", 8, false, 0);
	measure("ping", sock, "{\"id\":1,\"cmd\":\"ping\"}\n", 1, false,
	    d.proc.pid);
	measure("ping", sock, "{\"id\":1,\"cmd\":\"ping\"}\n", 8, false,
	    d.proc.pid);
	measure("ping, connection each", sock,
	    "{\"id\":1,\"cmd\":\"ping\"}\n", 1, true, d.proc.pid);
	measure("status", sock, "{\"id\":1,\"cmd\":\"status\"}\n", 1, false,
	    d.proc.pid);
	measure("status", sock, "{\"id\":1,\"cmd\":\"status\"}\n", 8, false,
	    d.proc.pid);
	measure("servers", sock, "{\"id\":1,\"cmd\":\"servers\"}\n", 1, false,
	    d.proc.pid);
	measure("servers", sock, "{\"id\":1,\"cmd\":\"servers\"}\n", 8, false,
	    d.proc.pid);
	echo_stop(&echo);
	rc = 0;
out_daemon:
	tu_kill_wait(&d.proc, SIGTERM, tu_ms(20000));
	tu_daemon_free(&d);
out_sim:
	tu_sim_stop(&sim);
	free(cfg);
	free(state);
	free(sock);
	return rc;
}

int
main(void)
{
	char *dir1 = tu_tmpdir("benchctl"), *dir2 = tu_tmpdir("benchctl10k");
	char *large = tu_src_path("contrib/examples/large.json");
	char *gen = tu_src_path("contrib/examples/gen-large.sh");
	char *org10k = tu_path(dir2, "org10k.json");
	char *argv[] = { gen, (char *)"10000", (char *)"1000", NULL };
	struct tu_proc p;
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	printf("bench_control: %.1f s per measurement; one request at a time "
	    "per client\n", RUN_S);
	if (bench_org("1,000 servers (contrib/examples/large.json)", large,
	    dir1) != 0)
		rc = 1;
	/* gen-large.sh writes the organization on stdout. */
	if (tu_spawn(&p, org10k, argv) != 0 ||
	    !tu_wait(proc_exited, &p, tu_ms(60000)) ||
	    !WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
		fprintf(stderr, "bench_control: gen-large.sh failed\n");
		rc = 1;
	} else if (bench_org("10,000 servers (gen-large.sh 10000 1000)",
	    org10k, dir2) != 0) {
		rc = 1;
	}
	tu_proc_free(&p);
	tu_rmrf(dir1);
	tu_rmrf(dir2);
	free(dir1);
	free(dir2);
	free(large);
	free(gen);
	free(org10k);
	return rc;
}
