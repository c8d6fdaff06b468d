/*
 * config — the exroll.json configuration (DESIGN §5).
 *
 * config_load() parses one JSON file with duplicate keys rejected, checks
 * every field, and either returns a complete struct config (defaults filled
 * in) or the list of ALL problems found, each one line naming the file, the
 * line and column where jansson knows them, the field's path
 * ("servers[3].roles[0]") and the offending value:
 *
 *   exroll.json:14:21: servers[3].roles[0]: unknown role 'Mailboxx'
 *       (expected ClientAccess, EdgeTransport, HubTransport,
 *       UnifiedMessaging or Mailbox)
 *
 * Unknown keys are errors: a misspelt policy must not silently fall back to
 * its default. Server and cluster names are checked with name_valid_host(),
 * so nothing that reaches PowerShell as a parameter can break out of it.
 * The token is read from token_file at load (the file must not be
 * world-readable); the struct holds it, never the log.
 */
#ifndef EXROLL_CONFIG_H
#define EXROLL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "role.h"
#include "version.h"

#define CONFIG_DEFAULT_STATE_FILE "/var/lib/exroll/state.db"
#define CONFIG_DEFAULT_SOCKET "/run/exroll/control.sock"
#define CONFIG_DEFAULT_TARGET "8.1.240.6"

enum config_reboot {
	REBOOT_IF_REQUIRED,	/* "if_required": when setup says so */
	REBOOT_ALWAYS,		/* "always" */
	REBOOT_NEVER,		/* "never": reported, left to the operator */
};

enum config_checkpoints {
	CHECKPOINTS_APPROVE,	/* "approve": pause for the operator */
	CHECKPOINTS_AUTO,	/* "auto": pass through */
};

enum config_ccr {
	CCR_SERVICE_PACK,	/* "service_pack": stop, move, /upgradeCMS */
	CCR_ROLLUP,		/* "rollup": plain online move */
};

/* A weekly window: on each day in days_mask (bit 0 = Sunday, as tm_wday),
 * from start_min to end_min minutes after local midnight; end < start ends
 * the next day (config_load refuses end == start as ambiguous). */
struct config_weekly {
	unsigned days_mask;
	int start_min;
	int end_min;
};

/* An absolute window in local time, as epoch milliseconds. */
struct config_absolute {
	int64_t from_ms;
	int64_t to_ms;
};

struct config_window {
	bool weekly;
	union {
		struct config_weekly w;
		struct config_absolute a;
	} u;
};

struct config_server {
	char *name;
	unsigned roles;			/* ROLE_BIT mask */
	int cluster;			/* index in clusters, -1 if standalone */
};

struct config_cluster {
	char *name;
	int nodes[2];			/* indices in servers, configuration order */
};

struct config_gateway {
	char *url;
	char *token_file;		/* NULL: no token */
	char *token;			/* its content, trailing newline removed */
	char *ca_file;			/* NULL: system CAs */
	bool tls_verify;		/* default true */
	double request_timeout_s;	/* default 30 */
	double poll_interval_s;		/* default 10 */
	int max_in_flight;		/* default 16 */
};

struct config_policy {
	enum role role_order[ROLE_COUNT];
	int nroles;			/* entries in role_order */
	int max_parallel[ROLE_COUNT];	/* default 1 each */
	double install_timeout_s;	/* default 14400 */
	double verify_timeout_s;	/* default 1800 */
	double verify_interval_s;	/* default 30: delay between verify tries */
	double retry_backoff_s;		/* default 60: first retry delay, doubles */
	int retries;			/* default 2 */
	enum config_reboot reboot;	/* default if_required */
	enum config_checkpoints checkpoints; /* default approve */
	enum config_ccr ccr_procedure;	/* default service_pack */
	bool failback;			/* default true */
	char *setup_source;		/* NULL: setup's default */
};

struct config_control {
	uid_t *allow_uids;
	size_t nallow_uids;
	char *allow_group;		/* NULL: none */
	gid_t allow_gid;		/* resolved at load when allow_group set */
};

struct config_notify {
	char *webhook_url;		/* NULL: none */
	char *exec;			/* NULL: none; a program path */
};

struct config {
	char *path;
	char *target_version_str;
	struct version target_version;
	char *state_file;
	char *socket;
	struct config_gateway gateway;
	struct config_policy policy;
	struct config_window *windows;	/* NULL and 0: always open */
	size_t nwindows;
	struct config_control control;
	struct config_notify notify;
	struct config_server *servers;
	size_t nservers;
	struct config_cluster *clusters;
	size_t nclusters;
};

/* The problems found by config_load(), one message per entry. */
struct config_errors {
	char **msg;
	size_t n;
};

/* Loads and validates path. Returns 0 and *out (free with config_free), or
 * -EINVAL with errs filled (free with config_errors_free), or another
 * negative errno when the file cannot be read (also described in errs). */
int config_load(const char *path, struct config **out, struct config_errors *errs);
void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);

/* Index of the server or cluster named name (case-insensitive), or -1. */
int config_server_index(const struct config *cfg, const char *name);
int config_cluster_index(const struct config *cfg, const char *name);

/* Position of role r in policy.role_order, or -1 when absent. */
int config_role_rank(const struct config *cfg, enum role r);

/* Names for the enums above, as written in the file. */
const char *config_reboot_name(enum config_reboot r);
const char *config_checkpoints_name(enum config_checkpoints c);
const char *config_ccr_name(enum config_ccr c);

#endif
