/*
 * grammar — exrollctl's commands, in ONE table (as bgpctl's parser.c):
 * each command's name, arguments, help text and whether it changes the
 * rollout. The argument parser, `exrollctl --help`, `exrollctl COMMAND
 * --help` and `exrollctl completion bash` are all generated from it, so
 * they cannot disagree.
 */
#ifndef EXROLL_CTL_GRAMMAR_H
#define EXROLL_CTL_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

enum ctl_arg_kind {
	CTL_ARG_WORD,		/* positional */
	CTL_ARG_REST,		/* positional taking every remaining word */
	CTL_ARG_OPTION,		/* --name VALUE (or --name=VALUE) */
	CTL_ARG_FLAG,		/* --name */
};

/* Where shell completion finds values for an argument. */
enum ctl_complete {
	CTL_COMPLETE_NONE,
	CTL_COMPLETE_CHOICES,	/* the choices list */
	CTL_COMPLETE_SERVERS,	/* names from the daemon */
	CTL_COMPLETE_CLUSTERS,
	CTL_COMPLETE_FILES,
};

struct ctl_arg {
	const char *name;	/* "CLUSTER", "--state" */
	const char *metavar;	/* option value: "STATE"; NULL otherwise */
	const char *field;	/* request field; NULL: exrollctl's own */
	enum ctl_arg_kind kind;
	bool required;
	bool integer;		/* sent as a JSON number (>= 0) */
	const char *const *choices;	/* NULL-terminated, or NULL */
	enum ctl_complete complete;
	const char *help;
};

#define CTL_MAX_ARGS 4

struct ctl_cmd {
	const char *name;
	bool mutates;		/* changes the rollout; recorded with your uid */
	bool local;		/* answered by exrollctl, never sent */
	bool hidden;		/* not in --help (completion helpers) */
	const char *summary;	/* one line for the command list */
	const char *help;	/* a paragraph for COMMAND --help */
	struct ctl_arg args[CTL_MAX_ARGS];
	size_t nargs;
};

extern const struct ctl_cmd ctl_commands[];
extern const size_t ctl_ncommands;

/* The command named name, or NULL. */
const struct ctl_cmd *ctl_cmd_find(const char *name);

/* What a command line asks for. */
struct ctl_invocation {
	const struct ctl_cmd *cmd;
	json_t *req;		/* {"cmd": ..., fields}: new reference */
	bool follow;		/* events --follow */
	bool json;		/* report --json (as exrollctl --json) */
	bool markdown;		/* report --markdown */
	bool help;		/* COMMAND --help */
	const char *word;	/* local commands' first word (completion SHELL) */
};

/* Parses the words after the command name (argv[0] is the command name).
 * Returns 0 and fills *inv (free with ctl_invocation_free), or -EINVAL
 * with a sentence naming the bad argument in err. */
int ctl_parse(int argc, char *const argv[], struct ctl_invocation *inv,
    char *err, size_t errlen);
void ctl_invocation_free(struct ctl_invocation *inv);

/* "approve CLUSTER [failover|failback]". */
void ctl_cmd_synopsis(const struct ctl_cmd *cmd, char *buf, size_t len);

/* exrollctl --help, exrollctl COMMAND --help. */
void ctl_usage(FILE *f);
void ctl_cmd_usage(const struct ctl_cmd *cmd, FILE *f);

/* The bash completion script (contrib/completion/exrollctl.bash). */
void ctl_completion_bash(FILE *f);

#endif
