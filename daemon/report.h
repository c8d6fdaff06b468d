/*
 * report — the run report for the change record (`exrollctl report`): for
 * every server its phases with their times and durations, failed tries,
 * retries and errors, final state and version; for every CCR cluster its
 * steps, who approved each checkpoint and when, the moves issued and the
 * blocks; the rollout's timeline (running, waiting for a window, paused,
 * with who paused and resumed) and the totals.
 *
 * Pure, like the engine: it is built from the event log (the objects
 * store_events() returns, oldest first) and the model's current records,
 * with the time passed in as now. No I/O, no clock, no store: tests feed
 * it hand-made event arrays.
 *
 * The event log is the record of what happened and when: a phase starts at
 * the event that enters it and ends at the next transition of the same
 * server. What each event says is read from its data (the object the state
 * machines of upgrade.c, cluster.c and engine.c write with it), never from
 * its message; an event whose data is missing (written before the state
 * file's migration 2) or incomplete is listed as it is in raw_events
 * rather than guessed at. The model gives what is true now (final state,
 * version, original active node). The result's shape is documented in
 * schema/control-protocol.md ("report").
 *
 * Events can be fed in pages, in seq order (report_add() once per page),
 * so that the daemon never holds the whole log at once; report_build() is
 * the one-shot form. The model, plan and config must not change between
 * report_new() and report_finish(): the daemon builds a report within one
 * control command.
 */
#ifndef EXROLL_REPORT_H
#define EXROLL_REPORT_H

#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "model.h"
#include "plan.h"

struct report;

/* A report over m's records, in plan order; m, plan and cfg are borrowed
 * until report_free(). NULL on ENOMEM. */
struct report *report_new(const struct model *m, const struct plan *plan,
    const struct config *cfg);

/* Adds events (a JSON array of event objects, borrowed), which must follow
 * every event added before in seq order. An element that is not an event
 * (no kind, or a time that does not parse) is ignored. Returns 0, -EINVAL
 * when events is not an array, or -ENOMEM (the report is then unusable). */
int report_add(struct report *r, const json_t *events);

/* The report as of now (ms): a new reference, or NULL on ENOMEM. Spans
 * still open end at now for their duration. After this, r may only be
 * freed. */
json_t *report_finish(struct report *r, int64_t now);

void report_free(struct report *r);

/* report_new + report_add(events) + report_finish(now) + report_free.
 * A new reference, or NULL (ENOMEM, or events not an array). */
json_t *report_build(const json_t *events, const struct model *m,
    const struct plan *plan, const struct config *cfg, int64_t now);

#endif
