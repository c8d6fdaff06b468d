/*
 * testutil — what the integration tests share: temporary directories,
 * child processes with their output in a log file, bounded waits for a
 * condition, the simulator and the daemon started for real, a plain HTTP
 * GET/POST (libcurl easy, test side only), a control-socket client, and
 * the rig the rollout suites share: both programs on one configuration in
 * one directory.
 *
 * Waiting: tu_wait() re-checks a condition until it holds or the deadline
 * passes; there is no fixed sleep anywhere. Deadlines are generous (the
 * suites run under valgrind and sanitizers) and a failure names what was
 * awaited.
 */
#ifndef EXROLL_TESTUTIL_H
#define EXROLL_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

/* main() of every suite: runs s (freeing it), SIGPIPE ignored (a test
 * writing to a socket a peer closed gets EPIPE, not the runner killed).
 * Returns the process exit status. */
int tu_run(Suite *s);

/* Scales every deadline (EXROLL_TEST_TIMEOUT_SCALE, default 1; the
 * sanitizer and valgrind runs may set more). */
int tu_ms(int ms);

/* mkdtemp under $TMPDIR or /tmp; malloc'd. tu_rmrf removes a tree. */
char *tu_tmpdir(const char *tag);
void tu_rmrf(const char *path);
/* dir/name, malloc'd. */
char *tu_path(const char *dir, const char *name);
int tu_write_file(const char *path, const char *text);
/* Whole file, NUL terminated, malloc'd; NULL if absent. */
char *tu_read_file(const char *path);
/* Writes DIR/name: a configuration made of head (JSON members without
 * braces, e.g. "\"socket\": \"/x\"") and the "servers" and "clusters" of
 * an organization file (from its "servers" line to its end), so tests and
 * the demo reuse contrib/examples without copying their inventory.
 * Returns the path (malloc'd) or NULL. */
char *tu_compose_config(const char *dir, const char *name, const char *head,
    const char *org_file);
/* $EXROLL_BUILD/name and $EXROLL_SRCDIR/name (defaults build/ and .). */
char *tu_build_path(const char *name);
char *tu_src_path(const char *name);

/* Waits until cond(arg) is true, checking with a short growing backoff;
 * returns true, or false after timeout_ms. */
bool tu_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);

struct tu_proc {
	pid_t pid;
	char *log;		/* stdout+stderr of the child */
	int status;		/* after exit */
	bool exited;
};

/* Starts argv[0] (a path) with output to log, in its own process group,
 * killed (SIGKILL) when the process that started it ends however it ends:
 * a failed assertion leaves nothing running. Returns 0 or -errno. */
int tu_spawn(struct tu_proc *p, const char *log, char *const argv[]);
/* Reaps without blocking; true once the child has exited. */
bool tu_proc_exited(struct tu_proc *p);
/* Sends sig and, unless sig is 0, waits for the exit (timeout_ms). */
bool tu_kill_wait(struct tu_proc *p, int sig, int timeout_ms);
void tu_proc_free(struct tu_proc *p);
/* The log's content (malloc'd) for failure messages. */
char *tu_proc_output(const struct tu_proc *p);

/* exchange-sim on 127.0.0.1 with an ephemeral port. */
struct tu_sim {
	struct tu_proc proc;
	int port;
	char url[64];		/* "http://127.0.0.1:PORT/" */
	char *dir;
};

/* Starts build/exchange-sim --org org --port 0 --port-file DIR/sim.port
 * plus extra (NULL-terminated, may be NULL), waits for the port. */
int tu_sim_start(struct tu_sim *s, const char *dir, const char *org,
    const char *const extra[]);
void tu_sim_stop(struct tu_sim *s);
/* GET/POST on the simulator's own test endpoints (/sim/...): parsed JSON
 * body, a new reference, or NULL. */
json_t *tu_sim_get(const struct tu_sim *s, const char *path);
json_t *tu_sim_post(const struct tu_sim *s, const char *path, const char *body);

/* A raw HTTP request with libcurl easy: fills *status and the body
 * (malloc'd). Returns 0 or -1 if no response arrived. */
int tu_http(const char *method, const char *url, const char *bearer,
    const char *body, long *status, char **resp);

/* exrolld started for real: --config cfg, output to DIR/exrolld.log. */
struct tu_daemon {
	struct tu_proc proc;
	char *socket;
};
/* Starts build/exrolld --config cfg [extra...] and waits until its control
 * socket answers ping. Returns 0 or -1 (the log says why). */
int tu_daemon_start(struct tu_daemon *d, const char *dir, const char *cfg,
    const char *socket, const char *const extra[]);
void tu_daemon_free(struct tu_daemon *d);

/* A connected Unix stream socket to path, or -1. */
int tu_unix_connect(const char *path);

/* A client connection to the control socket, reading lines of any
 * length (an events answer can be megabytes). */
struct tu_conn {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;		/* the peer closed (after any lines buffered) */
};

bool tu_conn_open(struct tu_conn *c, const char *path);
void tu_conn_close(struct tu_conn *c);
/* Writes all of data; false when the peer went away. */
bool tu_conn_send(struct tu_conn *c, const char *data, size_t n);
/* The next line (malloc'd, without its newline), or NULL at the end or
 * after timeout_ms (c->eof tells which). */
char *tu_conn_line(struct tu_conn *c, int timeout_ms);

/* The string member k of o, or "" (never NULL). */
const char *tu_jstr(const json_t *o, const char *k);

/* The seq of the first event of events (a control "events" answer) with
 * this kind and subject whose message contains needle, or -1. */
int tu_event_seq(const json_t *events, const char *kind, const char *subject,
    const char *needle);

/* One request on a fresh connection to the control socket: sends the line,
 * returns the parsed response line (new reference) or NULL. */
json_t *tu_ctl(const char *socket, const char *request_line);
/* {"cmd": cmd, "id": 1, ...fields of args (borrowed, may be NULL)}: the
 * "result" of an ok response (new reference) or NULL. */
json_t *tu_ctl_cmd(const char *socket, const char *cmd, json_t *args);

/*
 * A rig: what an integration test of a rollout runs against, all of it in
 * a new temporary directory DIR:
 *  - exchange-sim on an organization file (the example's by default);
 *  - DIR/exroll.json, the configuration for it:
 *
 *      {"state_file": "DIR/state.db", "socket": "DIR/control.sock",
 *       "gateway": {"url": SIM, "poll_interval_s": 0.05, GATEWAY},
 *       "policy": {"verify_interval_s": 0.1, "retry_backoff_s": 0.2, POLICY},
 *       TOP,
 *       "servers": ..., "clusters": ... (the organization file's)}
 *
 *    where GATEWAY, POLICY and TOP are the caller's members (the rest is
 *    what every suite runs with; the daemon's own defaults hold for all
 *    else);
 *  - exrolld on it, started and restarted when the test says.
 * A failed assertion ends the test's process at once (Check runs no
 * cleanup); tu_spawn's PR_SET_PDEATHSIG takes the simulator and the daemon
 * with it, and DIR stays for a post-mortem.
 */
struct tu_rig {
	char *dir;		/* DIR, removed by tu_rig_stop */
	char *org;		/* the organization file */
	char *cfg;		/* DIR/exroll.json */
	char *sock;		/* DIR/control.sock */
	struct tu_sim sim;
	struct tu_daemon d;	/* all zero until tu_rig_daemon */
};

/* Makes DIR (named after tag), starts the simulator on org (NULL:
 * contrib/examples/exroll.json) with sim_args after its --org and --port
 * arguments (NULL-terminated, may be NULL), and writes the configuration
 * with the members gateway, policy and top (JSON members without braces,
 * each may be NULL). No daemon yet. Returns 0, or -1 with the reason on
 * stderr and nothing left behind. */
int tu_rig_start(struct tu_rig *r, const char *tag, const char *org,
    const char *gateway, const char *policy, const char *top,
    const char *const sim_args[]);
/* (Re)starts exrolld --config DIR/exroll.json, output appended to
 * DIR/exrolld.log; a previous daemon still running is SIGKILLed first.
 * Waits until the socket answers ping. Returns 0 or -1 (the log says why;
 * the rig is still whole and tu_rig_stop cleans it). */
int tu_rig_daemon(struct tu_rig *r);
/* SIGTERM to a daemon still running (SIGKILL after 10 s), then the
 * simulator stopped and DIR removed. Asserts nothing: a suite that holds
 * the daemon to a clean exit waits for it first and checks r->d.proc. */
void tu_rig_stop(struct tu_rig *r);

/* The daemon's "status" result (new reference), or NULL. */
json_t *tu_rig_status(const struct tu_rig *r);
/* Whether the rollout's state is state now; waits until it is (false
 * after timeout_ms). */
bool tu_rig_state_is(const struct tu_rig *r, const char *state);
bool tu_rig_wait_state(const struct tu_rig *r, const char *state,
    int timeout_ms);
/* Waits until the rollout completed or a checkpoint waits for approval:
 * that status (new reference), or NULL after timeout_ms. */
json_t *tu_rig_wait_checkpoint(const struct tu_rig *r, int timeout_ms);
/* Runs build/exrollctl --socket DIR/control.sock args... (NULL-terminated)
 * to its end, its output in DIR/exrollctl.out. Returns its exit status
 * (128 + the signal if one ended it) with its output (malloc'd) in *out,
 * or -1 (nothing in *out) if it did not run or did not exit within 20 s. */
int tu_rig_exrollctl(const struct tu_rig *r, const char *const args[],
    char **out);

#endif
