/*
 * exrolld — command line. Everything else starts in shell_main().
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "plan.h"
#include "shell.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: exrolld --config FILE [--state FILE] [--socket PATH]\n"
	    "               [--check-config] [--plan [--json]] "
	    "[--log-level LEVEL]\n"
	    "\n"
	    "Runs the staged rolling upgrade of an Exchange Server 2007\n"
	    "organization described by FILE, resuming from the state file.\n"
	    "\n"
	    "  -c, --config FILE     configuration (exroll.json(5))\n"
	    "      --state FILE      state file, overriding state_file\n"
	    "      --socket PATH     control socket, overriding socket\n"
	    "      --check-config    validate the configuration and exit\n"
	    "                        (0 valid, 1 invalid)\n"
	    "      --plan            print the waves without contacting "
	    "anything\n"
	    "      --json            with --plan: as JSON\n"
	    "      --log-level LEVEL error, warning, notice, info (default) "
	    "or debug\n"
	    "  -h, --help            this text\n"
	    "  -V, --version         the version\n");
}

/* Loads the configuration for --check-config and --plan: every problem is
 * printed, not just the first. */
static struct config *
load_or_report(const char *path)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;

	if (config_load(path, &cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "%s: %zu error%s\n", path, errs.n,
		    errs.n == 1 ? "" : "s");
		config_errors_free(&errs);
		return NULL;
	}
	return cfg;
}

static int
print_plan(const char *path, bool json)
{
	struct config *cfg = load_or_report(path);
	struct plan plan;
	int rc = 1;

	if (cfg == NULL)
		return 1;
	if (plan_build(cfg, &plan) != 0) {
		fprintf(stderr, "exrolld: out of memory\n");
		config_free(cfg);
		return 1;
	}
	if (json) {
		json_t *j = plan_to_json(&plan, cfg);

		if (j != NULL && json_dumpf(j, stdout, JSON_INDENT(2)) == 0) {
			putchar('\n');
			rc = 0;
		}
		json_decref(j);
	} else {
		plan_print_text(&plan, cfg, stdout);
		rc = 0;
	}
	plan_free(&plan);
	config_free(cfg);
	return rc;
}

int
main(int argc, char *argv[])
{
	enum { OPT_STATE = 256, OPT_SOCKET, OPT_CHECK, OPT_PLAN, OPT_JSON,
	    OPT_LOGLEVEL };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "plan", no_argument, NULL, OPT_PLAN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct shell_opts opts = { 0 };
	enum log_level level = LOG_LEVEL_INFO;
	bool check = false, plan = false, json = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.config_path = optarg;
			break;
		case OPT_STATE:
			opts.state_override = optarg;
			break;
		case OPT_SOCKET:
			opts.socket_override = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_PLAN:
			plan = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_LOGLEVEL:
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "exrolld: --log-level: unknown "
				    "level '%s' (error, warning, notice, info, "
				    "debug)\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("exrolld %s\n", EXROLL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "exrolld: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	if (opts.config_path == NULL) {
		fprintf(stderr, "exrolld: --config FILE is required\n");
		usage(stderr);
		return 2;
	}
	if (json && !plan) {
		fprintf(stderr, "exrolld: --json goes with --plan\n");
		return 2;
	}
	log_init("exrolld", level, -1);
	if (check) {
		struct config *cfg = load_or_report(opts.config_path);

		if (cfg == NULL)
			return 1;
		printf("%s: valid: %zu servers, %zu clusters, target %s\n",
		    opts.config_path, cfg->nservers, cfg->nclusters,
		    cfg->target_version_str);
		config_free(cfg);
		return 0;
	}
	if (plan)
		return print_plan(opts.config_path, json);
	/* A control client that hangs up mid-answer, or a hook that exits
	 * before reading its stdin, must cost an EPIPE, never the daemon
	 * (libuv writes with plain write(2); children get the default back). */
	signal(SIGPIPE, SIG_IGN);
	return shell_main(&opts);
}
