/*
 * cmdlet — the commands exrolld sends through the gateway (DESIGN §2): the
 * exact JSON body of each POST /v1/jobs, and the parsing of each command's
 * output into typed results.
 *
 * Requests are structured (a cmdlet name and named parameters), never
 * script text: a value is always a JSON string, number, boolean or array of
 * strings, so nothing from the configuration or an operator is ever spliced
 * into PowerShell source. The body is built once, stored with the job, and
 * re-sent byte for byte on every retry.
 *
 * Parsers are tolerant of extra fields and strict about missing or mistyped
 * ones: an error names the command and the field, e.g.
 *   "Get-ExchangeServer: output[0].AdminDisplayVersion: missing".
 */
#ifndef EXROLL_CMDLET_H
#define EXROLL_CMDLET_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "version.h"

/* Builds {"id", "target", "command", "parameters", "timeout_s"} as JSON text
 * (malloc'd, compact, keys in that order). target may be NULL (JSON null);
 * params is stolen; timeout_s <= 0 omits the field. NULL on ENOMEM. */
char *cmdlet_request(const char *id, const char *target, const char *command,
    json_t *params, double timeout_s);

/* The request bodies exrolld uses; each returns NULL on ENOMEM. */
char *cmdlet_get_server(const char *id, const char *server);
char *cmdlet_test_health(const char *id, const char *server);
char *cmdlet_setup_upgrade(const char *id, const char *server,
    const char *source_path, double timeout_s);
char *cmdlet_restart(const char *id, const char *server);
char *cmdlet_cms_status(const char *id, const char *cms);
char *cmdlet_cms_stop(const char *id, const char *cms, const char *reason);
char *cmdlet_cms_move(const char *id, const char *cms, const char *target,
    const char *comment);
char *cmdlet_cms_setup(const char *id, const char *node, const char *cms,
    double timeout_s);
char *cmdlet_cms_start(const char *id, const char *cms);

#define CMDLET_NAME_MAX 256

struct cmdlet_server {
	char name[CMDLET_NAME_MAX];
	unsigned roles;			/* ROLE_BIT mask of ServerRole */
	struct version version;		/* from AdminDisplayVersion */
};

struct cmdlet_health {
	bool all_running;
	char not_running[512];		/* "MSExchangeIS, MSExchangeSA" or "" */
};

struct cmdlet_setup {
	int exit_code;
	bool reboot_required;
};

enum cms_state {
	CMS_ONLINE,
	CMS_PARTIALLY_ONLINE,
	CMS_ONLINE_PENDING,
	CMS_OFFLINE,
	CMS_OFFLINE_PENDING,
	CMS_FAILED,
};

struct cmdlet_cms_status {
	enum cms_state state;
	char active[CMDLET_NAME_MAX];	/* the node marked "<Active", or "" */
	char machines[2][CMDLET_NAME_MAX];
	int nmachines;
};

/* Each parses the job's "output" array (borrowed). Returns 0 and fills
 * *out, or -EINVAL with err set. */
int cmdlet_parse_server(const json_t *output, struct cmdlet_server *out,
    char *err, size_t errlen);
int cmdlet_parse_health(const json_t *output, struct cmdlet_health *out,
    char *err, size_t errlen);
int cmdlet_parse_setup(const json_t *output, struct cmdlet_setup *out,
    char *err, size_t errlen);
int cmdlet_parse_cms_status(const json_t *output,
    struct cmdlet_cms_status *out, char *err, size_t errlen);

const char *cms_state_name(enum cms_state s);
int cms_state_parse(const char *s, enum cms_state *out);

#endif
