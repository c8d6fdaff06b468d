/*
 * hooks — notifications to the operator (DESIGN §5 "notify"): a webhook
 * (JSON POST through http.c: the same TLS rules, timeouts and loop) and/or
 * an exec hook (argv, no shell; the event as JSON on stdin and in EXROLL_*
 * environment variables).
 *
 * Fed every committed event; it picks those an operator must hear about:
 * a checkpoint waiting for approval, a unit failed or the rollout paused by
 * a failure, a window closing with work left or opening, the rollout
 * completed or aborted. A failed delivery is logged and retried a bounded
 * number of times; it never blocks or stops the rollout.
 */
#ifndef EXROLL_HOOKS_H
#define EXROLL_HOOKS_H

#include <uv.h>

#include "config.h"
#include "http.h"
#include "model.h"

struct hooks;

int hooks_new(uv_loop_t *loop, struct http *http,
    const struct config_notify *cfg, struct hooks **out);
void hooks_reconfigure(struct hooks *h, const struct config_notify *cfg);
/* Considers one committed event (borrowed). */
void hooks_event(struct hooks *h, const struct event *ev);
void hooks_close(struct hooks *h, void (*done)(void *arg), void *arg);

#endif
