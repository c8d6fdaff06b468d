/*
 * grammar — the command table and everything generated from it: argument
 * parsing into a request, help texts and the bash completion script.
 */
#include "grammar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const server_states[] = { "pending", "running", "failed",
	"done", "skipped", NULL };
static const char *const roles[] = { "ClientAccess", "EdgeTransport",
	"HubTransport", "UnifiedMessaging", "Mailbox", NULL };
static const char *const checkpoints[] = { "failover", "failback", NULL };
static const char *const shells[] = { "bash", NULL };
static const char *const name_kinds[] = { "servers", "clusters", NULL };

#define HELP_ARG { "--help", NULL, NULL, CTL_ARG_FLAG, false, false, NULL, \
	CTL_COMPLETE_NONE, "this help" }

const struct ctl_cmd ctl_commands[] = {
	{ "status", false, false, false,
	  "progress, waves, what the rollout waits for",
	  "Shows the rollout's state, overall progress with an estimate of "
	  "the time left, one line per wave, the checkpoints waiting for "
	  "approval and the failed servers, each with the command that moves "
	  "it on, and the maintenance window.",
	  { { 0 } }, 0 },
	{ "watch", false, false, false,
	  "the status screen, live (events when piped)",
	  "On a terminal, redraws the status screen as the rollout moves "
	  "(at most a few times a second) until interrupted. When standard "
	  "output is not a terminal, prints one line per event instead.",
	  { { 0 } }, 0 },
	{ "servers", false, false, false,
	  "every server: state, phase, version, errors",
	  "Lists the servers with their wave, state, phase, failed attempts, "
	  "reported version, last error and times. CCR nodes show their "
	  "cluster's wave.",
	  { { "--state", "STATE", "state", CTL_ARG_OPTION, false, false,
	      server_states, CTL_COMPLETE_CHOICES, "only servers in STATE" },
	    { "--role", "ROLE", "role", CTL_ARG_OPTION, false, false, roles,
	      CTL_COMPLETE_CHOICES, "only servers holding ROLE" } }, 2 },
	{ "clusters", false, false, false,
	  "CCR clusters: nodes, active node, checkpoint",
	  "Lists the CCR clusters with their nodes, the node that was active "
	  "at the start, the node active now, the step and the checkpoint "
	  "waiting for approval, if any.",
	  { { 0 } }, 0 },
	{ "events", false, false, false,
	  "the event log; --follow for new events",
	  "Prints recorded events, oldest first: every transition, every "
	  "operator command with its author. --since N starts after event "
	  "N. --follow prints every event after N (in pages of --limit), "
	  "then new events as they are committed, until interrupted.",
	  { { "--since", "N", "since", CTL_ARG_OPTION, false, true, NULL,
	      CTL_COMPLETE_NONE, "only events after sequence number N" },
	    { "--limit", "N", "limit", CTL_ARG_OPTION, false, true, NULL,
	      CTL_COMPLETE_NONE, "at most N events (default 1000)" },
	    { "--follow", NULL, NULL, CTL_ARG_FLAG, false, false, NULL,
	      CTL_COMPLETE_NONE, "keep printing new events" } }, 3 },
	{ "plan", false, false, false,
	  "the waves and their units, in order",
	  "Prints the upgrade plan: one wave per role, and the servers and "
	  "clusters of each, in the order they will be upgraded.",
	  { { 0 } }, 0 },
	{ "report", false, false, false,
	  "the whole run, for the change record",
	  "Prints the report of the whole run, built by the daemon from its "
	  "event log: for each server its phases with their times and "
	  "durations, failed tries, retries, errors, final state and version; "
	  "for each CCR cluster its steps, who approved each checkpoint and "
	  "when, the moves and any block; the windows used and the pauses, "
	  "with who paused and resumed; totals, and every operator action. "
	  "--markdown prints it as a Markdown document to paste into a change "
	  "record; --json prints the daemon's answer as is (the same as "
	  "exrollctl --json report).",
	  { { "--markdown", NULL, NULL, CTL_ARG_FLAG, false, false, NULL,
	      CTL_COMPLETE_NONE, "a Markdown document (headings, tables)" },
	    { "--json", NULL, NULL, CTL_ARG_FLAG, false, false, NULL,
	      CTL_COMPLETE_NONE, "the daemon's answer as JSON, as is" } }, 2 },
	{ "pause", true, false, false,
	  "start nothing new (installs run to their end)",
	  "Pauses the rollout: nothing new starts; work in flight (an install "
	  "cannot be cancelled) is followed to its end and recorded.",
	  { { "REASON", NULL, "reason", CTL_ARG_REST, false, false, NULL,
	      CTL_COMPLETE_NONE, "why, for the event log" } }, 1 },
	{ "resume", true, false, false,
	  "resume a paused rollout",
	  "Resumes a rollout paused by an operator or by a failure (a failed "
	  "server must first be retried or skipped).",
	  { { 0 } }, 0 },
	{ "approve", true, false, false,
	  "let a CCR cluster fail over or fail back",
	  "Approves the checkpoint a CCR cluster waits at: the failover to "
	  "the upgraded passive node, or the failback to the original active "
	  "node. Naming the checkpoint guards against approving the wrong one.",
	  { { "CLUSTER", NULL, "cluster", CTL_ARG_WORD, true, false, NULL,
	      CTL_COMPLETE_CLUSTERS, "the clustered mailbox server" },
	    { "CHECKPOINT", NULL, "checkpoint", CTL_ARG_WORD, false, false,
	      checkpoints, CTL_COMPLETE_CHOICES,
	      "failover or failback; default: the one it waits at" } }, 2 },
	{ "retry", true, false, false,
	  "try a failed server again",
	  "Sends a failed server back to pending; it starts over from its "
	  "precheck, which reads its real state first.",
	  { { "SERVER", NULL, "server", CTL_ARG_WORD, true, false, NULL,
	      CTL_COMPLETE_SERVERS, "the failed server" } }, 1 },
	{ "skip", true, false, false,
	  "leave a server out of the rollout",
	  "Marks a server skipped so that its wave can end without it. The "
	  "reason goes into the event log.",
	  { { "SERVER", NULL, "server", CTL_ARG_WORD, true, false, NULL,
	      CTL_COMPLETE_SERVERS, "the server to leave out" },
	    { "REASON", NULL, "reason", CTL_ARG_REST, true, false, NULL,
	      CTL_COMPLETE_NONE, "why, for the event log" } }, 2 },
	{ "abort", true, false, false,
	  "end the rollout for good",
	  "Aborts the rollout: nothing new starts, ever; installs in flight "
	  "are followed to their end. This cannot be undone.",
	  { { "REASON", NULL, "reason", CTL_ARG_REST, true, false, NULL,
	      CTL_COMPLETE_NONE, "why, for the event log" } }, 1 },
	{ "ping", false, false, false,
	  "check that the daemon answers",
	  "Asks the daemon for its version.",
	  { { 0 } }, 0 },
	{ "completion", false, true, false,
	  "print the shell completion script",
	  "Prints the completion script for SHELL (bash), generated from the "
	  "same table as this help.",
	  { { "SHELL", NULL, NULL, CTL_ARG_WORD, true, false, shells,
	      CTL_COMPLETE_CHOICES, "bash" } }, 1 },
	{ "names", false, false, true,
	  "server or cluster names, one a line (for completion)",
	  "Prints the names of the servers or clusters, one a line.",
	  { { "KIND", NULL, NULL, CTL_ARG_WORD, true, false, name_kinds,
	      CTL_COMPLETE_CHOICES, "servers or clusters" } }, 1 },
};

const size_t ctl_ncommands = sizeof(ctl_commands) / sizeof(ctl_commands[0]);

static const struct ctl_arg ctl_help_arg = HELP_ARG;

const struct ctl_cmd *
ctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < ctl_ncommands; i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

static bool
ctl_is_choice(const char *const *choices, const char *v)
{
	for (; *choices != NULL; choices++)
		if (strcmp(*choices, v) == 0)
			return true;
	return false;
}

static void
ctl_join_choices(const char *const *choices, const char *sep, char *buf,
    size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; choices[i] != NULL && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? sep : "",
		    choices[i]);
}

/* Checks v against a's type and choices; err names the argument. */
static int
ctl_check_value(const struct ctl_arg *a, const char *v, json_t **out,
    char *err, size_t errlen)
{
	char list[256];

	if (a->choices != NULL && !ctl_is_choice(a->choices, v)) {
		ctl_join_choices(a->choices, ", ", list, sizeof(list));
		snprintf(err, errlen, "%s: '%s' is not one of %s", a->name, v,
		    list);
		return -EINVAL;
	}
	if (a->integer) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || n < 0) {
			snprintf(err, errlen, "%s: '%s' is not a number >= 0",
			    a->name, v);
			return -EINVAL;
		}
		*out = json_integer(n);
	} else {
		*out = json_string(v);
	}
	if (*out == NULL) {
		snprintf(err, errlen, "%s: out of memory", a->name);
		return -ENOMEM;
	}
	return 0;
}

static int
ctl_set_field(struct ctl_invocation *inv, const struct ctl_arg *a,
    const char *v, char *err, size_t errlen)
{
	json_t *jv;
	int r;

	if ((r = ctl_check_value(a, v, &jv, err, errlen)) != 0)
		return r;
	if (a->field == NULL) {
		json_decref(jv);
		inv->word = v;
		return 0;
	}
	if (json_object_get(inv->req, a->field) != NULL) {
		json_decref(jv);
		snprintf(err, errlen, "%s given twice", a->name);
		return -EINVAL;
	}
	if (json_object_set_new(inv->req, a->field, jv) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* The option of cmd that word names (with "=value" cut off), or NULL. */
static const struct ctl_arg *
ctl_find_option(const struct ctl_cmd *cmd, const char *word)
{
	size_t n = strcspn(word, "=");

	for (size_t i = 0; i < cmd->nargs; i++) {
		const struct ctl_arg *a = &cmd->args[i];

		if ((a->kind == CTL_ARG_OPTION || a->kind == CTL_ARG_FLAG) &&
		    strlen(a->name) == n && strncmp(a->name, word, n) == 0)
			return a;
	}
	if (strlen(ctl_help_arg.name) == n && strncmp(word, "--help", n) == 0)
		return &ctl_help_arg;
	return NULL;
}

int
ctl_parse(int argc, char *const argv[], struct ctl_invocation *inv,
    char *err, size_t errlen)
{
	struct ctl_invocation v = { 0 };
	const struct ctl_cmd *cmd;
	size_t pos = 0;		/* positionals taken */
	bool opts = true;
	char *rest = NULL;
	int r = -EINVAL;

	if (argc < 1 || (cmd = ctl_cmd_find(argv[0])) == NULL) {
		snprintf(err, errlen, "unknown command '%s' (exrollctl --help "
		    "lists them)", argc >= 1 ? argv[0] : "");
		return -EINVAL;
	}
	v.cmd = cmd;
	if ((v.req = json_pack("{s:s}", "cmd", cmd->name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		const struct ctl_arg *a = NULL;

		if (opts && strcmp(w, "--") == 0) {
			opts = false;
			continue;
		}
		if (opts && w[0] == '-' && w[1] != '\0') {
			const char *eq = strchr(w, '=');

			if ((a = ctl_find_option(cmd, w)) == NULL) {
				snprintf(err, errlen, "%s: unknown option "
				    "'%.*s'", cmd->name,
				    (int)strcspn(w, "="), w);
				goto fail;
			}
			if (a == &ctl_help_arg) {
				v.help = true;
				continue;
			}
			if (a->kind == CTL_ARG_FLAG) {
				if (eq != NULL) {
					snprintf(err, errlen, "%s takes no "
					    "value", a->name);
					goto fail;
				}
				if (strcmp(a->name, "--follow") == 0)
					v.follow = true;
				else if (strcmp(a->name, "--json") == 0)
					v.json = true;
				else if (strcmp(a->name, "--markdown") == 0)
					v.markdown = true;
				continue;
			}
			if (eq == NULL && i + 1 >= argc) {
				snprintf(err, errlen, "%s needs a value (%s)",
				    a->name, a->metavar);
				goto fail;
			}
			if ((r = ctl_set_field(&v, a, eq != NULL ? eq + 1 :
			    argv[++i], err, errlen)) != 0)
				goto fail;
			r = -EINVAL;
			continue;
		}
		/* A positional: the next word-kind argument in the table. */
		for (size_t k = 0, seen = 0; k < cmd->nargs; k++) {
			if (cmd->args[k].kind != CTL_ARG_WORD &&
			    cmd->args[k].kind != CTL_ARG_REST)
				continue;
			if (seen++ == pos) {
				a = &cmd->args[k];
				break;
			}
		}
		if (a == NULL) {
			snprintf(err, errlen, "%s: unexpected argument '%s'",
			    cmd->name, w);
			goto fail;
		}
		pos++;
		if (a->kind == CTL_ARG_REST) {
			/* Every remaining word, joined by spaces. */
			size_t len = 1, off = 0;

			for (int k = i; k < argc; k++)
				len += strlen(argv[k]) + 1;
			if ((rest = malloc(len)) == NULL) {
				r = -ENOMEM;
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			for (int k = i; k < argc; k++) {
				size_t wl = strlen(argv[k]);

				if (k > i)
					rest[off++] = ' ';
				memcpy(rest + off, argv[k], wl);
				off += wl;
			}
			rest[off] = '\0';
			if ((r = ctl_set_field(&v, a, rest, err, errlen)) != 0)
				goto fail;
			r = -EINVAL;
			break;
		}
		if ((r = ctl_set_field(&v, a, w, err, errlen)) != 0)
			goto fail;
		r = -EINVAL;
	}
	if (!v.help) {
		for (size_t k = 0; k < cmd->nargs; k++) {
			const struct ctl_arg *a = &cmd->args[k];

			if (!a->required)
				continue;
			if ((a->field != NULL &&
			    json_object_get(v.req, a->field) == NULL) ||
			    (a->field == NULL && v.word == NULL)) {
				snprintf(err, errlen, "%s: missing %s (see "
				    "exrollctl %s --help)", cmd->name, a->name,
				    cmd->name);
				goto fail;
			}
		}
		/* A reason that is only spaces says nothing. */
		{
			const char *reason = json_string_value(
			    json_object_get(v.req, "reason"));

			if (reason != NULL && reason[strspn(reason, " \t")] ==
			    '\0') {
				snprintf(err, errlen, "%s: REASON is empty",
				    cmd->name);
				goto fail;
			}
		}
	}
	free(rest);
	*inv = v;
	return 0;
fail:
	free(rest);
	json_decref(v.req);
	return r;
}

void
ctl_invocation_free(struct ctl_invocation *inv)
{
	json_decref(inv->req);
	inv->req = NULL;
}

void
ctl_cmd_synopsis(const struct ctl_cmd *cmd, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "%s", cmd->name);
	char list[128];

	for (size_t i = 0; i < cmd->nargs && n < len; i++) {
		const struct ctl_arg *a = &cmd->args[i];
		const char *open = a->required ? "" : "[";
		const char *close = a->required ? "" : "]";

		switch (a->kind) {
		case CTL_ARG_WORD:
		case CTL_ARG_REST:
			if (a->choices != NULL && a->field != NULL) {
				ctl_join_choices(a->choices, "|", list,
				    sizeof(list));
				n += (size_t)snprintf(buf + n, len - n,
				    " %s%s%s", open, list, close);
			} else {
				n += (size_t)snprintf(buf + n, len - n,
				    " %s%s%s", open, a->name, close);
			}
			break;
		case CTL_ARG_OPTION:
			n += (size_t)snprintf(buf + n, len - n, " %s%s %s%s",
			    open, a->name, a->metavar, close);
			break;
		case CTL_ARG_FLAG:
			n += (size_t)snprintf(buf + n, len - n, " %s%s%s",
			    open, a->name, close);
			break;
		}
	}
}

/* Prints text wrapped at width, each line indented by indent. */
static void
ctl_wrap(FILE *f, const char *text, int indent, int width)
{
	const char *p = text;
	int col = 0;

	while (*p != '\0') {
		size_t w = strcspn(p, " ");

		if (col > 0 && col + 1 + (int)w > width) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0) {
			fprintf(f, "%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, p);
		col += (int)w;
		p += w;
		while (*p == ' ')
			p++;
	}
	if (col > 0)
		fputc('\n', f);
}

void
ctl_usage(FILE *f)
{
	char syn[160];

	fprintf(f, "usage: exrollctl [--socket PATH] [--json] COMMAND "
	    "[ARGS]\n\n");
	fprintf(f, "Watches and steers a running exrolld over its control "
	    "socket.\n\nCommands:\n");
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_cmd *c = &ctl_commands[i];

		if (c->hidden)
			continue;
		ctl_cmd_synopsis(c, syn, sizeof(syn));
		if (strlen(syn) <= 28)
			fprintf(f, "  %-28s %s\n", syn, c->summary);
		else
			fprintf(f, "  %s\n  %-28s %s\n", syn, "", c->summary);
	}
	fprintf(f, "\nOptions:\n"
	    "  --socket PATH   the daemon's control socket (default: "
	    "$EXROLL_SOCKET,\n"
	    "                  else /run/exroll/control.sock)\n"
	    "  --json          print the daemon's answer as JSON, as is\n"
	    "  --help          this help; COMMAND --help for one command\n"
	    "  --version       exrollctl's version\n\n"
	    "Commands that change the rollout (");
	for (size_t i = 0, n = 0; i < ctl_ncommands; i++) {
		if (ctl_commands[i].mutates)
			fprintf(f, "%s%s", n++ ? ", " : "",
			    ctl_commands[i].name);
	}
	fprintf(f, ")\nare recorded in the event log with your uid.\n\n"
	    "Exit status: 0 success, 1 the daemon said no (its message is "
	    "printed),\n2 usage error, 3 the daemon cannot be reached.\n");
}

void
ctl_cmd_usage(const struct ctl_cmd *cmd, FILE *f)
{
	char syn[160];

	ctl_cmd_synopsis(cmd, syn, sizeof(syn));
	fprintf(f, "usage: exrollctl [--socket PATH] [--json] %s\n\n", syn);
	ctl_wrap(f, cmd->help, 0, 72);
	if (cmd->nargs > 0) {
		fprintf(f, "\nArguments:\n");
		for (size_t i = 0; i < cmd->nargs; i++) {
			const struct ctl_arg *a = &cmd->args[i];
			char name[64];

			if (a->kind == CTL_ARG_OPTION)
				snprintf(name, sizeof(name), "%s %s", a->name,
				    a->metavar);
			else
				snprintf(name, sizeof(name), "%s", a->name);
			fprintf(f, "  %-16s %s%s\n", name, a->help,
			    a->required ? "" : " (optional)");
			if (a->choices != NULL && a->kind == CTL_ARG_OPTION) {
				char list[256];

				ctl_join_choices(a->choices, ", ", list,
				    sizeof(list));
				fprintf(f, "  %-16s one of: %s\n", "", list);
			}
		}
	}
	if (cmd->mutates)
		fprintf(f, "\nThis changes the rollout; it is recorded in the "
		    "event log with your uid.\n");
}

/* ---- bash completion ----------------------------------------------- */

static void
ctl_bash_values(FILE *f, const struct ctl_arg *a, const char *indent)
{
	char list[256];

	switch (a->complete) {
	case CTL_COMPLETE_CHOICES:
		ctl_join_choices(a->choices, " ", list, sizeof(list));
		fprintf(f, "%sCOMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n",
		    indent, list);
		break;
	case CTL_COMPLETE_SERVERS:
		fprintf(f, "%sCOMPREPLY=($(compgen -W \"$(_exrollctl_names "
		    "servers)\" -- \"$cur\"))\n", indent);
		break;
	case CTL_COMPLETE_CLUSTERS:
		fprintf(f, "%sCOMPREPLY=($(compgen -W \"$(_exrollctl_names "
		    "clusters)\" -- \"$cur\"))\n", indent);
		break;
	case CTL_COMPLETE_FILES:
		fprintf(f, "%sCOMPREPLY=($(compgen -f -- \"$cur\"))\n",
		    indent);
		break;
	case CTL_COMPLETE_NONE:
		fprintf(f, "%sCOMPREPLY=()\n", indent);
		break;
	}
}

void
ctl_completion_bash(FILE *f)
{
	fprintf(f,
	    "# bash completion for exrollctl.\n"
	    "# Generated by `exrollctl completion bash` from exrollctl's "
	    "command table\n"
	    "# (ctl/grammar.c); do not edit, regenerate.\n\n"
	    "_exrollctl_names()\n{\n"
	    "\t\"${COMP_WORDS[0]}\" ${_exrollctl_socket:+--socket "
	    "\"$_exrollctl_socket\"} names \"$1\" 2>/dev/null\n}\n\n"
	    "_exrollctl()\n{\n"
	    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} "
	    "prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	    "\tlocal i cmd= cmdi=0 _exrollctl_socket=\n"
	    "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	    "\t\tcase ${COMP_WORDS[i]} in\n"
	    "\t\t--socket) _exrollctl_socket=${COMP_WORDS[i+1]}; "
	    "((i++)) ;;\n"
	    "\t\t--socket=*) _exrollctl_socket=${COMP_WORDS[i]#--socket=} "
	    ";;\n"
	    "\t\t-*) ;;\n"
	    "\t\t*) cmd=${COMP_WORDS[i]}; cmdi=$i; break ;;\n"
	    "\t\tesac\n"
	    "\tdone\n"
	    "\tif [[ -z $cmd ]]; then\n"
	    "\t\tif [[ $prev == --socket ]]; then\n"
	    "\t\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	    "\t\t\treturn\n"
	    "\t\tfi\n"
	    "\t\tCOMPREPLY=($(compgen -W \"--socket --json --help "
	    "--version");
	for (size_t i = 0; i < ctl_ncommands; i++)
		if (!ctl_commands[i].hidden)
			fprintf(f, " %s", ctl_commands[i].name);
	fprintf(f, "\" -- \"$cur\"))\n"
	    "\t\treturn\n"
	    "\tfi\n"
	    "\t# Options that take a value, and the positional being typed.\n"
	    "\tlocal valopts= pos=0\n"
	    "\tcase $cmd in\n");
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_cmd *c = &ctl_commands[i];
		bool any = false;

		for (size_t k = 0; k < c->nargs; k++) {
			if (c->args[k].kind != CTL_ARG_OPTION)
				continue;
			if (!any)
				fprintf(f, "\t%s) valopts=\"", c->name);
			fprintf(f, "%s%s", any ? " " : "", c->args[k].name);
			any = true;
		}
		if (any)
			fprintf(f, "\" ;;\n");
	}
	fprintf(f,
	    "\tesac\n"
	    "\tfor ((i = cmdi + 1; i < COMP_CWORD; i++)); do\n"
	    "\t\tcase \" $valopts \" in\n"
	    "\t\t*\" ${COMP_WORDS[i]} \"*) ((i++)); continue ;;\n"
	    "\t\tesac\n"
	    "\t\t[[ ${COMP_WORDS[i]} == -* ]] || ((pos++))\n"
	    "\tdone\n"
	    "\tcase $cmd in\n");
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_cmd *c = &ctl_commands[i];
		size_t npos = 0;

		if (c->hidden)
			continue;
		fprintf(f, "\t%s)\n", c->name);
		/* An option's value. */
		for (size_t k = 0; k < c->nargs; k++) {
			const struct ctl_arg *a = &c->args[k];

			if (a->kind != CTL_ARG_OPTION)
				continue;
			fprintf(f, "\t\tif [[ $prev == %s ]]; then\n", a->name);
			ctl_bash_values(f, a, "\t\t\t");
			fprintf(f, "\t\t\treturn\n\t\tfi\n");
		}
		/* An option's name. */
		fprintf(f, "\t\tif [[ $cur == -* ]]; then\n"
		    "\t\t\tCOMPREPLY=($(compgen -W \"");
		for (size_t k = 0; k < c->nargs; k++)
			if (c->args[k].kind == CTL_ARG_OPTION ||
			    c->args[k].kind == CTL_ARG_FLAG)
				fprintf(f, "%s ", c->args[k].name);
		fprintf(f, "--help\" -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n");
		/* Positionals by index. */
		fprintf(f, "\t\tcase $pos in\n");
		for (size_t k = 0; k < c->nargs; k++) {
			const struct ctl_arg *a = &c->args[k];

			if (a->kind != CTL_ARG_WORD && a->kind != CTL_ARG_REST)
				continue;
			fprintf(f, "\t\t%zu)\n", npos++);
			ctl_bash_values(f, a, "\t\t\t");
			fprintf(f, "\t\t\t;;\n");
		}
		fprintf(f, "\t\t*) COMPREPLY=() ;;\n\t\tesac\n\t\t;;\n");
	}
	fprintf(f, "\tesac\n}\n\ncomplete -F _exrollctl exrollctl\n");
}
