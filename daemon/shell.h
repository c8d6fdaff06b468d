/*
 * shell — the imperative shell around the engine: one libuv loop that
 * feeds the engine its events (gateway answers, timers, window edges,
 * operator commands, signals) and carries out what it decided.
 *
 * After every call into the engine, shell_flush():
 *   1. commits the model's dirty records and queued events in one
 *      transaction (store_commit) — a failure here is fatal: memory would
 *      be ahead of the file, so the daemon exits and resumes from the file;
 *   2. hands each committed event to the control server (watch clients)
 *      and to the notification hooks;
 *   3. POSTs every job of the outbox (now safely in state intent);
 *   4. re-arms the one wake timer from a min-heap of unit wake times.
 * This is the only place side effects start, and it runs only after the
 * decision that asked for them is durable (DESIGN §3.2).
 */
#ifndef EXROLL_SHELL_H
#define EXROLL_SHELL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "control.h"
#include "engine.h"
#include "gateway.h"
#include "hooks.h"
#include "http.h"
#include "model.h"
#include "plan.h"
#include "store.h"

struct shell_opts {
	const char *config_path;
	const char *state_override;	/* --state, or NULL */
	const char *socket_override;	/* --socket, or NULL */
};

/* A unit waiting for its wake time. */
struct shell_wake {
	int64_t at;
	struct server *server;		/* one of these two */
	struct cluster *cluster;
};

struct shell {
	uv_loop_t loop;
	struct shell_opts opts;
	struct config *cfg;
	struct plan plan;
	struct model model;
	struct engine engine;
	struct store *store;
	struct gw *gw;
	struct control *control;
	struct hooks *hooks;
	struct http *hooks_http;	/* the hooks' own: system CAs, verified */

	struct shell_wake *heap;	/* min-heap on at */
	size_t nheap, capheap;
	uv_timer_t wake_timer;		/* the earliest unit wake */
	uv_timer_t window_timer;	/* the next window edge */
	uv_timer_t status_timer;	/* STATUS= and WATCHDOG=1 */
	uv_idle_t flush_idle;		/* batches commits per loop iteration */
	uv_signal_t sig_term, sig_int, sig_hup;
	int64_t watchdog_ms;
	bool stopping;
	int exit_code;
	int closing;			/* handles still closing at shutdown */
};

/* Runs the daemon: config, store (lock first), model, resume, socket,
 * READY=1, loop. Returns the process exit code. */
int shell_main(const struct shell_opts *opts);

/* Commits and acts (see above). Exits the process if the commit fails. */
void shell_flush(struct shell *sh);

/* The wall clock, ms. The one place the daemon reads the time for the
 * engine (tests of the engine pass their own). */
int64_t shell_now(const struct shell *sh);

#endif
