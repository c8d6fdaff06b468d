/*
 * commands — what each control-socket command does (DESIGN §4): the
 * read-only views (ping, status, servers, clusters, events, plan) built from
 * the model, the engine and the store, and the mutating commands handed to
 * the engine (pause, resume, approve, retry, skip, abort), each recorded as
 * an event whose actor is the peer ("uid 1000 (alice)"). "watch" is the
 * transport's (control.c); report is built here from the events table.
 */
#ifndef EXROLL_COMMANDS_H
#define EXROLL_COMMANDS_H

#include <jansson.h>

#include "control.h"
#include "shell.h"

/* control_ops.run for the daemon; arg is the struct shell. */
enum control_err commands_run(void *arg, const char *cmd, const json_t *req,
    const struct control_peer *peer, json_t **result, char *msg,
    size_t msglen);

/* The "status" result (new reference); also the source of sd_notify's
 * STATUS= line. */
json_t *commands_status(struct shell *sh, int64_t now);

/* One line for people: "running: 12/40 servers (30%), wave 2 HubTransport". */
void commands_status_line(struct shell *sh, char *buf, size_t len);

#endif
