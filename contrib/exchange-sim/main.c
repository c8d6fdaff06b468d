/*
 * exchange-sim — command line, start-up and shutdown.
 *
 * Start-up order: flags; the organization file; the flags that name things
 * in it (--version, --active, the fault lists), so that a typo is an error
 * and not a test that tests nothing; the listening socket (bound here, so
 * that --port 0 can be reported); the HTTP server and its timer thread,
 * with every signal of interest blocked so that only the main thread,
 * in sigwait(), sees them; finally the port file, written atomically,
 * which tells a waiting test that the simulator answers.
 *
 * SIGTERM, SIGINT: answer held requests, stop, write --record, exit 0.
 * SIGUSR1: write --record now.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

#define MAIN_MAX_FILE (1024 * 1024)

static const char main_usage[] =
"usage: exchange-sim --org FILE [options]\n"
"\n"
"A simulated Exchange 2007 organization behind the exroll gateway protocol.\n"
"\n"
"  --org FILE              exroll configuration: its servers and clusters\n"
"  --listen ADDR           address to listen on (default 127.0.0.1)\n"
"  --port N                port (default 0: any free port)\n"
"  --port-file PATH        write the bound port there once listening\n"
"  --token TOKEN           require \"Authorization: Bearer TOKEN\" on /v1\n"
"  --token-file PATH       the same, the token read from a file\n"
"  --tls-cert PEM --tls-key PEM   serve HTTPS\n"
"  --time-scale X          simulated seconds per real second (default 1)\n"
"  --start-version VER     version of every server (default 8.0.685.24)\n"
"  --version NAME=VER      version of one server or CMS (repeatable)\n"
"  --active CMS=NODE       initial owner of a CMS (default its first node)\n"
"  --install-version VER   what setup installs (default 8.1.240.6)\n"
"  --setup-s S --setup-cms-s S --reboot-s S --services-delay-s S\n"
"  --move-s S --stop-s S --query-s S      simulated durations\n"
"  --seed N                seed of the fault PRNG (default 1)\n"
"  --http-500-rate P --drop-rate P --garbage-rate P --lose-rate P\n"
"  --slow-ms N             transport faults on /v1\n"
"  --fail-setup NAME --reboot-required NAME|all --cms-partial CMS\n"
"  --never-healthy NAME    organization faults (repeatable)\n"
"  --record PATH           write the record there on exit and SIGUSR1\n"
"  --log-level LEVEL       error, warning, notice, info (default), debug\n"
"  --help\n"
"\n"
"See contrib/exchange-sim/README.md.\n";

enum {
	OPT_ORG = 256, OPT_LISTEN, OPT_PORT, OPT_PORT_FILE, OPT_TOKEN,
	OPT_TOKEN_FILE, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TIME_SCALE,
	OPT_START_VERSION, OPT_VERSION, OPT_ACTIVE, OPT_SETUP_S,
	OPT_SETUP_CMS_S, OPT_REBOOT_S, OPT_SERVICES_DELAY_S, OPT_MOVE_S,
	OPT_STOP_S, OPT_QUERY_S, OPT_INSTALL_VERSION, OPT_SEED,
	OPT_HTTP_500_RATE, OPT_DROP_RATE, OPT_GARBAGE_RATE, OPT_SLOW_MS,
	OPT_LOSE_RATE, OPT_FAIL_SETUP, OPT_REBOOT_REQUIRED, OPT_CMS_PARTIAL,
	OPT_NEVER_HEALTHY, OPT_RECORD, OPT_LOG_LEVEL, OPT_HELP,
};

static const struct option main_options[] = {
	{ "org", required_argument, NULL, OPT_ORG },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "port-file", required_argument, NULL, OPT_PORT_FILE },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "start-version", required_argument, NULL, OPT_START_VERSION },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "active", required_argument, NULL, OPT_ACTIVE },
	{ "setup-s", required_argument, NULL, OPT_SETUP_S },
	{ "setup-cms-s", required_argument, NULL, OPT_SETUP_CMS_S },
	{ "reboot-s", required_argument, NULL, OPT_REBOOT_S },
	{ "services-delay-s", required_argument, NULL, OPT_SERVICES_DELAY_S },
	{ "move-s", required_argument, NULL, OPT_MOVE_S },
	{ "stop-s", required_argument, NULL, OPT_STOP_S },
	{ "query-s", required_argument, NULL, OPT_QUERY_S },
	{ "install-version", required_argument, NULL, OPT_INSTALL_VERSION },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "http-500-rate", required_argument, NULL, OPT_HTTP_500_RATE },
	{ "drop-rate", required_argument, NULL, OPT_DROP_RATE },
	{ "garbage-rate", required_argument, NULL, OPT_GARBAGE_RATE },
	{ "slow-ms", required_argument, NULL, OPT_SLOW_MS },
	{ "lose-rate", required_argument, NULL, OPT_LOSE_RATE },
	{ "fail-setup", required_argument, NULL, OPT_FAIL_SETUP },
	{ "reboot-required", required_argument, NULL, OPT_REBOOT_REQUIRED },
	{ "cms-partial", required_argument, NULL, OPT_CMS_PARTIAL },
	{ "never-healthy", required_argument, NULL, OPT_NEVER_HEALTHY },
	{ "record", required_argument, NULL, OPT_RECORD },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* A flag that names something in the organization, applied after it is
 * loaded. */
struct main_named {
	int opt;
	const char *arg;
};

static _Noreturn void main_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static _Noreturn void
main_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "exchange-sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", main_usage);
	exit(2);
}

static const char *
main_flag_name(int c)
{
	for (const struct option *o = main_options; o->name; o++) {
		if (o->val == c)
			return o->name;
	}
	return "?";
}

static double
main_number(const char *flag, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < min || v > max) {
		fprintf(stderr, "exchange-sim: --%s '%s': expected a number "
		    "from %g to %g\n", flag, s, min, max);
		exit(2);
	}
	return v;
}

static int64_t
main_seconds(const char *flag, const char *s)
{
	return time_s_to_ms(main_number(flag, s, 0, 1e9));
}

static struct version
main_version(const char *flag, const char *s)
{
	struct version v;

	if (version_parse(s, &v) != 0) {
		fprintf(stderr, "exchange-sim: --%s '%s': expected a version "
		    "like 8.1.240.6\n", flag, s);
		exit(2);
	}
	return v;
}

/* The whole file, NUL terminated (malloc'd), or NULL with errno set. */
static char *
main_read_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if ((buf = malloc(MAIN_MAX_FILE + 1)) == NULL)
		goto fail;
	while ((n = read(fd, buf + len, MAIN_MAX_FILE - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		goto fail;
	if (len == MAIN_MAX_FILE) {
		errno = EFBIG;
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

static char *
main_token_file(const char *path)
{
	char *t = main_read_file(path);
	size_t n;

	if (t == NULL)
		fatal("cannot read token file '%s'", path);
	n = strlen(t);
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' ||
	    t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	if (n == 0 || strpbrk(t, "\r\n") != NULL)
		fatalx("token file '%s': expected one non-empty line", path);
	return t;
}

/* Binds and listens; returns the socket and sets *port to the bound one. */
static int
main_listen(const char *addr, int want, int *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char service[16];
	int fd, one = 1, rc;

	snprintf(service, sizeof(service), "%d", want);
	if ((rc = getaddrinfo(addr, service, &hints, &ai)) != 0)
		fatalx("--listen '%s': %s", addr, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		fatal("cannot bind '%s' port %d", addr, want);
	freeaddrinfo(ai);
	if (listen(fd, SOMAXCONN) != 0)
		fatal("listen");
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		fatal("getsockname");
	if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Written to a temporary name and renamed: a reader never sees a partial
 * port number. */
static void
main_port_file(const char *path, int port)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		fatalx("--port-file '%s': path too long", path);
	if ((f = fopen(tmp, "w")) == NULL)
		fatal("cannot write '%s'", tmp);
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		fatal("cannot write '%s'", tmp);
	if (rename(tmp, path) != 0)
		fatal("cannot rename '%s' to '%s'", tmp, path);
}

static const char *
main_fault_key(int opt)
{
	switch (opt) {
	case OPT_FAIL_SETUP:
		return "fail_setup";
	case OPT_REBOOT_REQUIRED:
		return "reboot_required";
	case OPT_CMS_PARTIAL:
		return "cms_partial";
	default:
		return "never_healthy";
	}
}

int
main(int argc, char *argv[])
{
	static struct sim sim;
	struct main_named named[256];
	size_t nnamed = 0;
	const char *token_file = NULL;
	char *cert = NULL, *key = NULL, err[1024];
	enum log_level level = LOG_LEVEL_INFO;
	struct api *api = NULL;
	sigset_t sigs;
	int c, fd, port, sig;

	log_init("exchange-sim", LOG_LEVEL_INFO, -1);
	sim.opt.listen = "127.0.0.1";
	sim.opt.time_scale = 1;
	version_parse("8.0.685.24", &sim.opt.start_version);
	version_parse("8.1.240.6", &sim.opt.install_version);
	sim.opt.setup_ms = 3600 * TIME_MS_PER_S;
	sim.opt.setup_cms_ms = 600 * TIME_MS_PER_S;
	sim.opt.reboot_ms = 300 * TIME_MS_PER_S;
	sim.opt.services_delay_ms = 120 * TIME_MS_PER_S;
	sim.opt.move_ms = 60 * TIME_MS_PER_S;
	sim.opt.stop_ms = 30 * TIME_MS_PER_S;
	sim.opt.query_ms = 0;
	sim.opt.seed = 1;
	faults_init(&sim.faults);

	while ((c = getopt_long(argc, argv, "", main_options, NULL)) != -1) {
		const char *name = main_flag_name(c);

		switch (c) {
		case OPT_ORG: sim.opt.org_file = optarg; break;
		case OPT_LISTEN: sim.opt.listen = optarg; break;
		case OPT_PORT:
			sim.opt.port = (int)main_number(name, optarg, 0, 65535);
			break;
		case OPT_PORT_FILE: sim.opt.port_file = optarg; break;
		case OPT_TOKEN:
			if ((sim.opt.token = strdup(optarg)) == NULL)
				fatal("strdup");
			break;
		case OPT_TOKEN_FILE: token_file = optarg; break;
		case OPT_TLS_CERT: sim.opt.tls_cert = optarg; break;
		case OPT_TLS_KEY: sim.opt.tls_key = optarg; break;
		case OPT_TIME_SCALE:
			sim.opt.time_scale = main_number(name, optarg, 1e-3,
			    1e9);
			break;
		case OPT_START_VERSION:
			sim.opt.start_version = main_version(name, optarg);
			break;
		case OPT_INSTALL_VERSION:
			sim.opt.install_version = main_version(name, optarg);
			break;
		case OPT_SETUP_S:
			sim.opt.setup_ms = main_seconds(name, optarg);
			break;
		case OPT_SETUP_CMS_S:
			sim.opt.setup_cms_ms = main_seconds(name, optarg);
			break;
		case OPT_REBOOT_S:
			sim.opt.reboot_ms = main_seconds(name, optarg);
			break;
		case OPT_SERVICES_DELAY_S:
			sim.opt.services_delay_ms = main_seconds(name, optarg);
			break;
		case OPT_MOVE_S:
			sim.opt.move_ms = main_seconds(name, optarg);
			break;
		case OPT_STOP_S:
			sim.opt.stop_ms = main_seconds(name, optarg);
			break;
		case OPT_QUERY_S:
			sim.opt.query_ms = main_seconds(name, optarg);
			break;
		case OPT_SEED:
			sim.opt.seed = (uint64_t)main_number(name, optarg, 0,
			    9007199254740992.0);
			break;
		case OPT_HTTP_500_RATE:
			sim.faults.http_500_rate = main_number(name, optarg, 0,
			    1);
			break;
		case OPT_DROP_RATE:
			sim.faults.drop_rate = main_number(name, optarg, 0, 1);
			break;
		case OPT_GARBAGE_RATE:
			sim.faults.garbage_rate = main_number(name, optarg, 0,
			    1);
			break;
		case OPT_LOSE_RATE:
			sim.faults.lose_rate = main_number(name, optarg, 0, 1);
			break;
		case OPT_SLOW_MS:
			sim.faults.slow_ms = (int64_t)main_number(name, optarg,
			    0, 600000);
			break;
		case OPT_VERSION:
		case OPT_ACTIVE:
		case OPT_FAIL_SETUP:
		case OPT_REBOOT_REQUIRED:
		case OPT_CMS_PARTIAL:
		case OPT_NEVER_HEALTHY:
			if (nnamed == sizeof(named) / sizeof(named[0]))
				main_usage_error("too many --%s flags", name);
			named[nnamed].opt = c;
			named[nnamed++].arg = optarg;
			break;
		case OPT_RECORD: sim.opt.record_path = optarg; break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) != 0)
				main_usage_error("--log-level '%s': expected "
				    "error, warning, notice, info or debug",
				    optarg);
			break;
		case OPT_HELP:
			fputs(main_usage, stdout);
			return 0;
		default:
			fputs(main_usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		main_usage_error("unexpected argument '%s'", argv[optind]);
	if (sim.opt.org_file == NULL)
		main_usage_error("--org FILE is required");
	if (sim.opt.token != NULL && token_file != NULL)
		main_usage_error("--token and --token-file exclude each other");
	if ((sim.opt.tls_cert == NULL) != (sim.opt.tls_key == NULL))
		main_usage_error("--tls-cert and --tls-key go together");
	log_set_level(level);

	if (org_load(&sim.org, sim.opt.org_file, &sim.opt, err,
	    sizeof(err)) != 0)
		fatalx("%s", err);
	for (size_t i = 0; i < nnamed; i++) {
		int rc;

		if (named[i].opt == OPT_VERSION)
			rc = org_set_version(&sim.org, named[i].arg, err,
			    sizeof(err));
		else if (named[i].opt == OPT_ACTIVE)
			rc = org_set_active(&sim.org, named[i].arg, err,
			    sizeof(err));
		else
			rc = faults_add_name(&sim, &sim.faults,
			    main_fault_key(named[i].opt), named[i].arg, err,
			    sizeof(err));
		if (rc == -ENOMEM)
			fatalx("out of memory");
		if (rc != 0)
			fatalx("%s", err);
	}
	if (org_finish(&sim.org, err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (token_file != NULL)
		sim.opt.token = main_token_file(token_file);
	if (sim.opt.tls_cert != NULL) {
		if ((cert = main_read_file(sim.opt.tls_cert)) == NULL)
			fatal("cannot read '%s'", sim.opt.tls_cert);
		if ((key = main_read_file(sim.opt.tls_key)) == NULL)
			fatal("cannot read '%s'", sim.opt.tls_key);
	}
	sim.rng = sim.opt.seed;
	if (pthread_mutex_init(&sim.lock, NULL) != 0 ||
	    jobs_init(&sim.jobs) != 0 || record_init(&sim) != 0)
		fatalx("out of memory");

	/* Only this thread takes these signals; the threads started below
	 * inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = main_listen(sim.opt.listen, sim.opt.port, &port);
	clock_init(&sim.clock, sim.opt.time_scale);
	if (api_start(&sim, fd, cert, key, &api) != 0)
		fatalx("cannot start the http server on '%s' port %d",
		    sim.opt.listen, port);
	if (sim.opt.port_file != NULL)
		main_port_file(sim.opt.port_file, port);
	log_info("listening on %s://%s%s%s:%d/ (%zu servers, %zu clusters, "
	    "time scale %g)", cert ? "https" : "http",
	    strchr(sim.opt.listen, ':') ? "[" : "", sim.opt.listen,
	    strchr(sim.opt.listen, ':') ? "]" : "", port, sim.org.nsrv,
	    sim.org.ncl, sim.opt.time_scale);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGUSR1) {
			if (sim.opt.record_path != NULL)
				record_write(&sim, sim.opt.record_path);
			continue;
		}
		break;
	}
	log_info("signal %d: stopping", sig);
	api_stop(api);
	if (sim.opt.record_path != NULL)
		record_write(&sim, sim.opt.record_path);
	jobs_free(&sim.jobs);
	record_free(&sim);
	faults_free(&sim.faults);
	org_free(&sim.org);
	pthread_mutex_destroy(&sim.lock);
	free(sim.opt.token);
	free(cert);
	free(key);
	return 0;
}
