/*
 * control_parse — the pure half of the control protocol (DESIGN §4): one
 * request line in, one response line out, no I/O. The transport
 * (control.c) and the fuzz harness (tests/fuzz/fuzz_control.c) share it, so
 * the fuzzer exercises exactly the code that reads what a peer sends.
 *
 * Rules applied to a line, in order:
 *  - a blank line (only spaces and tabs) is not a request: no answer;
 *  - it must be one JSON object (duplicate keys rejected), else bad_request;
 *  - "id", when present, must be a scalar (string, number, boolean, null)
 *    and is echoed in the answer; absent, the answer carries "id": null;
 *  - "cmd" must be present and a string, else bad_request;
 *  - "watch" (no other argument) is the transport's: the answer is the
 *    acknowledgement and reply->watch is set;
 *  - anything else goes to ops->run, whose result or error becomes the
 *    answer.
 * Every answer is one line of compact JSON ending in '\n':
 *   {"id":..,"ok":true,"result":..}  or
 *   {"id":..,"ok":false,"error":{"code":"..","message":".."}}
 *
 * Also here: the few knobs of the transport that tests need to turn.
 */
#ifndef EXROLL_CONTROL_PARSE_H
#define EXROLL_CONTROL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "control.h"

/* Idle non-watch clients (no partial line, nothing unsent) are closed after
 * this long: an abandoned `socat` session must not hold a client slot for
 * the whole weekend. Watch clients are never idle-closed. */
#define CONTROL_IDLE_S 600

/* Over this much unsent output a client's further requests wait (its
 * socket is not read) until it has taken its answers: a client that
 * pipelines faster than it reads is slowed down, not dropped. */
#define CONTROL_THROTTLE (256 * 1024)

struct control_reply {
	char *text;		/* malloc'd, ends in '\n'; NULL: nothing to send */
	size_t len;
	bool watch;		/* the request was an accepted "watch" */
};

/* Handles one request line (line[len], need not be NUL terminated).
 * Returns 0 with *reply filled (text NULL for a blank line), or -ENOMEM. */
int control_handle_line(const struct control_ops *ops,
    const struct control_peer *peer, const char *line, size_t len,
    struct control_reply *reply);

/* An error answer with the given id (borrowed; NULL means null), for the
 * transport's own refusals (forbidden, too many clients, line too long).
 * Returns a malloc'd line ending in '\n' with *len, or NULL on ENOMEM. */
char *control_error_line(const json_t *id, enum control_err e,
    const char *msg, size_t *len);

/* Test knobs: the read deadline for a half-sent line and the idle limit,
 * in milliseconds (defaults CONTROL_READ_DEADLINE_S, CONTROL_IDLE_S).
 * Apply to timers armed afterwards. */
void control_set_timeouts(struct control *c, int64_t read_deadline_ms,
    int64_t idle_ms);

/* Clients currently served (not counting ones being refused). */
size_t control_nclients(const struct control *c);

#endif
