/*
 * exrollctl — the operator's client for exrolld's control socket
 * (DESIGN §4, §5).
 *
 *   exrollctl [--socket PATH] [--json] COMMAND [ARGS]
 *
 * The commands and their arguments come from the table in grammar.c; this
 * file connects, sends, waits for the answer and hands it to the output
 * layer. Exit status: 0 success, 1 the daemon said no (its message is
 * printed), 2 usage error, 3 the daemon cannot be reached (or went away).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "grammar.h"
#include "output.h"
#include "timefmt.h"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

/* How long an answer may take. A status of 10,000 servers takes
 * milliseconds; a minute means the daemon is stuck. */
#define ANSWER_TIMEOUT_MS 60000
/* watch redraws at most this often. */
#define REDRAW_MS 250

struct ctl {
	const char *socket;
	bool json;
	bool markdown;		/* report --markdown */
	struct ctl_client cl;
};

static int
ctl_io_error(struct ctl *c, int r)
{
	if (r == -ETIMEDOUT)
		fprintf(stderr, "exrollctl: no answer from the daemon at '%s' "
		    "within %d s\n", c->socket, ANSWER_TIMEOUT_MS / 1000);
	else if (r == -ECONNRESET)
		fprintf(stderr, "exrollctl: the daemon at '%s' closed the "
		    "connection\n", c->socket);
	else if (r == -EBADMSG)
		fprintf(stderr, "exrollctl: the daemon at '%s' sent something "
		    "that is not the control protocol\n", c->socket);
	else
		fprintf(stderr, "exrollctl: talking to '%s': %s\n", c->socket,
		    strerror(-r));
	return EXIT_UNREACHABLE;
}

/* One request, its answer in *result (new reference) when ok. Returns an
 * exit status; EXIT_OK only with *result set. */
static int
ctl_call(struct ctl *c, json_t *req, json_t **result)
{
	json_t *resp;
	int r;

	if ((r = ctl_client_call(&c->cl, req, ANSWER_TIMEOUT_MS, NULL, NULL,
	    &resp)) != 0)
		return ctl_io_error(c, r);
	if (!json_is_true(json_object_get(resp, "ok"))) {
		ctl_text_error(stderr, json_string_value(json_object_get(req,
		    "cmd")), json_object_get(resp, "error"));
		json_decref(resp);
		return EXIT_REFUSED;
	}
	*result = json_incref(json_object_get(resp, "result"));
	json_decref(resp);
	if (*result == NULL) {
		fprintf(stderr, "exrollctl: the daemon's answer has no "
		    "result\n");
		return EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

/* status: the status, plus the failed servers for their reasons. */
static int
ctl_status(struct ctl *c, json_t *req, json_t **status, json_t **failed)
{
	json_t *sreq;
	int rc;

	*failed = NULL;
	if ((rc = ctl_call(c, req, status)) != EXIT_OK)
		return rc;
	if (json_array_size(json_object_get(*status, "failed")) == 0)
		return EXIT_OK;
	if ((sreq = json_pack("{s:s, s:s}", "cmd", "servers", "state",
	    "failed")) == NULL)
		return EXIT_OK;
	if (ctl_call(c, sreq, failed) != EXIT_OK)
		*failed = NULL;	/* the screen just lacks the reasons */
	json_decref(sreq);
	return EXIT_OK;
}

/* Reads the answer to request id, keeping event lines met on the way in
 * pending (events --follow, watch). */
static int
ctl_await(struct ctl *c, long id, json_t *pending, json_t **result,
    const char *cmd)
{
	for (;;) {
		json_t *j, *ev;
		int r;

		if ((r = ctl_client_read(&c->cl, ANSWER_TIMEOUT_MS, &j)) != 0)
			return ctl_io_error(c, r);
		if ((ev = json_object_get(j, "event")) != NULL &&
		    json_object_get(j, "ok") == NULL) {
			if (pending != NULL)
				json_array_append(pending, ev);
			json_decref(j);
			continue;
		}
		if (json_integer_value(json_object_get(j, "id")) != id &&
		    !json_is_null(json_object_get(j, "id"))) {
			json_decref(j);
			continue;
		}
		if (!json_is_true(json_object_get(j, "ok"))) {
			ctl_text_error(stderr, cmd, json_object_get(j,
			    "error"));
			json_decref(j);
			return EXIT_REFUSED;
		}
		*result = json_incref(json_object_get(j, "result"));
		json_decref(j);
		return EXIT_OK;
	}
}

static void
ctl_print_event(struct ctl *c, const json_t *ev)
{
	if (c->json)
		ctl_json_line(stdout, ev);
	else
		ctl_text_event(stdout, ev, time_now_ms());
}

/* Starts watching; the acknowledgement is read. */
static int
ctl_start_watch(struct ctl *c, json_t *pending)
{
	json_t *w = json_pack("{s:s}", "cmd", "watch"), *ack = NULL;
	long id;
	int r;

	if (w == NULL)
		return EXIT_UNREACHABLE;
	r = ctl_client_send(&c->cl, w, &id);
	json_decref(w);
	if (r != 0)
		return ctl_io_error(c, r);
	if ((r = ctl_await(c, id, pending, &ack, "watch")) != EXIT_OK)
		return r;
	json_decref(ack);
	return EXIT_OK;
}

/* Prints streamed events for ever; only the daemon going away ends it. */
static int
ctl_stream(struct ctl *c, json_int_t last)
{
	for (;;) {
		json_t *j, *ev;
		int r;

		if ((r = ctl_client_read(&c->cl, -1, &j)) != 0) {
			if (r == -EINTR)
				continue;
			return ctl_io_error(c, r);
		}
		ev = json_object_get(j, "event");
		if (ev != NULL && json_integer_value(json_object_get(ev,
		    "seq")) > last) {
			last = json_integer_value(json_object_get(ev, "seq"));
			ctl_print_event(c, ev);
		}
		json_decref(j);
	}
}

/* events --follow: the history, then new events, none twice or lost.
 * Watching starts first, so an event committed while the history is read
 * arrives as a line; those already in the history are dropped by seq. The
 * history is read in pages of --limit (default 1000) until a short page,
 * so that no event between the history and the stream is skipped. */
static int
ctl_follow(struct ctl *c, json_t *req)
{
	json_t *pending = json_array(), *events = NULL, *ev;
	json_int_t last = json_integer_value(json_object_get(req, "since"));
	json_int_t limit = json_object_get(req, "limit") != NULL ?
	    json_integer_value(json_object_get(req, "limit")) : 1000;
	long id;
	size_t i;
	int rc, r;

	if (pending == NULL)
		return EXIT_UNREACHABLE;
	if ((rc = ctl_start_watch(c, pending)) != EXIT_OK)
		goto out;
	for (;;) {
		if (json_object_set_new(req, "since", json_integer(last)) != 0 ||
		    json_object_set_new(req, "limit", json_integer(limit)) !=
		    0) {
			rc = EXIT_UNREACHABLE;
			goto out;
		}
		if ((r = ctl_client_send(&c->cl, req, &id)) != 0) {
			rc = ctl_io_error(c, r);
			goto out;
		}
		json_decref(events);
		events = NULL;
		if ((rc = ctl_await(c, id, pending, &events, "events")) !=
		    EXIT_OK)
			goto out;
		json_array_foreach(events, i, ev) {
			ctl_print_event(c, ev);
			if (json_integer_value(json_object_get(ev, "seq")) >
			    last)
				last = json_integer_value(json_object_get(ev,
				    "seq"));
		}
		if ((json_int_t)json_array_size(events) < limit)
			break;
	}
	json_array_foreach(pending, i, ev) {
		if (json_integer_value(json_object_get(ev, "seq")) > last) {
			last = json_integer_value(json_object_get(ev, "seq"));
			ctl_print_event(c, ev);
		}
	}
	fflush(stdout);
	rc = ctl_stream(c, last);
out:
	json_decref(events);
	json_decref(pending);
	return rc;
}

/* watch on a terminal: the status screen, redrawn when events arrive,
 * at most every REDRAW_MS. */
static int
ctl_watch_screen(struct ctl *c)
{
	json_t *sreq = json_pack("{s:s}", "cmd", "status");
	int64_t last_draw = 0;
	bool dirty = true;
	int rc;

	if (sreq == NULL)
		return EXIT_UNREACHABLE;
	if ((rc = ctl_start_watch(c, NULL)) != EXIT_OK)
		goto out;
	for (;;) {
		int64_t now = time_mono_ms();
		int wait = -1;

		if (dirty && now - last_draw >= REDRAW_MS) {
			json_t *status = NULL, *failed = NULL;
			char *screen = NULL, when[48];
			size_t len = 0;
			FILE *m;

			/* Events met while asking are already on screen. */
			if ((rc = ctl_status(c, sreq, &status, &failed)) !=
			    EXIT_OK)
				goto out;
			if ((m = open_memstream(&screen, &len)) != NULL) {
				int64_t wall = time_now_ms();

				time_t t = (time_t)(wall / 1000);
				struct tm tm;

				ctl_text_status(m, status, failed, wall);
				if (localtime_r(&t, &tm) == NULL ||
				    strftime(when, sizeof(when), "%H:%M:%S",
				    &tm) == 0)
					snprintf(when, sizeof(when), "-");
				fprintf(m, "\nwatching '%s', updated %s; Ctrl-C "
				    "to stop\n", c->socket, when);
				fclose(m);
				/* Home, clear, draw: one write, no flicker. */
				printf("\033[H\033[2J%s", screen);
				fflush(stdout);
				free(screen);
			}
			json_decref(status);
			json_decref(failed);
			dirty = false;
			last_draw = time_mono_ms();
			continue;
		}
		if (dirty)
			wait = (int)(REDRAW_MS - (now - last_draw));
		{
			struct pollfd p = { .fd = ctl_client_fd(&c->cl),
				.events = POLLIN };
			json_t *j;
			int r;

			if (poll(&p, 1, wait) == 0)
				continue;
			if ((r = ctl_client_read(&c->cl, -1, &j)) != 0) {
				if (r == -EINTR)
					continue;
				rc = ctl_io_error(c, r);
				goto out;
			}
			if (json_object_get(j, "event") != NULL)
				dirty = true;
			json_decref(j);
		}
	}
out:
	json_decref(sreq);
	return rc;
}

static int
ctl_watch(struct ctl *c)
{
	int rc;

	if (!c->json && isatty(STDOUT_FILENO))
		return ctl_watch_screen(c);
	if ((rc = ctl_start_watch(c, NULL)) != EXIT_OK)
		return rc;
	return ctl_stream(c, 0);
}

/* names KIND: one name a line, for shell completion. */
static int
ctl_names(struct ctl *c, const char *kind)
{
	json_t *req = json_pack("{s:s}", "cmd", kind), *res = NULL, *v;
	size_t i;
	int rc;

	if (req == NULL)
		return EXIT_UNREACHABLE;
	rc = ctl_call(c, req, &res);
	json_decref(req);
	if (rc != EXIT_OK)
		return rc;
	json_array_foreach(res, i, v)
		if (json_string_value(json_object_get(v, "name")) != NULL)
			printf("%s\n", json_string_value(json_object_get(v,
			    "name")));
	json_decref(res);
	return EXIT_OK;
}

static int
ctl_run(struct ctl *c, struct ctl_invocation *inv)
{
	const char *name = inv->cmd->name;
	json_t *result = NULL, *failed = NULL;
	int64_t now;
	int rc;

	if (strcmp(name, "watch") == 0)
		return ctl_watch(c);
	if (strcmp(name, "events") == 0 && inv->follow)
		return ctl_follow(c, inv->req);
	if (strcmp(name, "names") == 0)
		return ctl_names(c, inv->word);
	if (strcmp(name, "status") == 0 && !c->json)
		rc = ctl_status(c, inv->req, &result, &failed);
	else
		rc = ctl_call(c, inv->req, &result);
	if (rc != EXIT_OK)
		return rc;
	now = time_now_ms();
	if (c->json)
		ctl_json_result(stdout, result);
	else if (strcmp(name, "status") == 0)
		ctl_text_status(stdout, result, failed, now);
	else if (strcmp(name, "servers") == 0)
		ctl_text_servers(stdout, result, now);
	else if (strcmp(name, "clusters") == 0)
		ctl_text_clusters(stdout, result);
	else if (strcmp(name, "events") == 0)
		ctl_text_events(stdout, result, now);
	else if (strcmp(name, "plan") == 0)
		ctl_text_plan(stdout, result);
	else if (strcmp(name, "report") == 0 && c->markdown)
		ctl_markdown_report(stdout, result);
	else if (strcmp(name, "report") == 0)
		ctl_text_report(stdout, result);
	else
		ctl_text_result(stdout, inv->req, result);
	json_decref(result);
	json_decref(failed);
	return EXIT_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { 0 };
	struct ctl_invocation inv;
	const char *socket_opt = NULL;
	char err[512];
	int ch, rc;

	opterr = 0;
	/* "+": options end at the command; its own options follow it. */
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_opt = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			ctl_usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("exrollctl %s\n", EXROLL_VERSION);
			return EXIT_OK;
		default:
			if (optopt == 's')
				fprintf(stderr, "exrollctl: --socket needs a "
				    "PATH\n");
			else
				fprintf(stderr, "exrollctl: unknown option "
				    "'%s'\n", argv[optind - 1]);
			fprintf(stderr, "usage: exrollctl [--socket PATH] "
			    "[--json] COMMAND [ARGS] (--help lists them)\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "exrollctl: no command given\n");
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	if (ctl_parse(argc - optind, argv + optind, &inv, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "exrollctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (inv.help) {
		ctl_cmd_usage(inv.cmd, stdout);
		ctl_invocation_free(&inv);
		return EXIT_OK;
	}
	if (strcmp(inv.cmd->name, "report") == 0) {
		/* report --json is exrollctl --json report. */
		c.json = c.json || inv.json;
		c.markdown = inv.markdown;
		if (c.json && c.markdown) {
			fprintf(stderr, "exrollctl: report: --json and "
			    "--markdown exclude each other\n");
			ctl_invocation_free(&inv);
			return EXIT_USAGE;
		}
	}
	if (strcmp(inv.cmd->name, "completion") == 0) {
		ctl_completion_bash(stdout);
		ctl_invocation_free(&inv);
		return EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	c.socket = ctl_socket_path(socket_opt);
	if (ctl_client_connect(&c.cl, c.socket, err, sizeof(err)) != 0) {
		fprintf(stderr, "exrollctl: %s\n", err);
		ctl_invocation_free(&inv);
		return EXIT_UNREACHABLE;
	}
	rc = ctl_run(&c, &inv);
	ctl_client_close(&c.cl);
	ctl_invocation_free(&inv);
	if (fflush(stdout) != 0 && rc == EXIT_OK)
		rc = EXIT_UNREACHABLE;
	return rc;
}
