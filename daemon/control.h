/*
 * control — the local control socket (DESIGN §4): a libuv Unix stream
 * server speaking JSON lines.
 *
 * The transport lives here; what each command does lives in commands.c,
 * reached through control_ops. This module:
 *  - binds under umask 077 then sets mode 0660 (never world-accessible); a
 *    stale socket file is replaced (the caller holds the store's lock, so a
 *    socket file present at start can only be a dead daemon's);
 *  - checks the peer's credentials (SO_PEERCRED) before reading anything:
 *    root, the daemon's uid, control.allow_uids or a member of
 *    control.allow_group; others get one "forbidden" line and are closed;
 *  - frames requests with proto_reader (64 KiB a line; longer: an error,
 *    then close), answers in order, echoes "id";
 *  - bounds clients (CONTROL_MAX_CLIENTS), gives a client that sent half a
 *    line CONTROL_READ_DEADLINE_S to finish it, and caps each client's
 *    unsent output (CONTROL_MAX_PENDING): a client that does not read is
 *    dropped, the daemon never waits for it;
 *  - streams events to "watch" clients via control_publish().
 */
#ifndef EXROLL_CONTROL_H
#define EXROLL_CONTROL_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include <uv.h>

#include "config.h"

#define CONTROL_MAX_CLIENTS 256
#define CONTROL_READ_DEADLINE_S 30
#define CONTROL_MAX_PENDING (4 * 1024 * 1024)

enum control_err {
	CONTROL_OK,
	CONTROL_BAD_REQUEST,
	CONTROL_UNKNOWN_COMMAND,
	CONTROL_NOT_FOUND,
	CONTROL_CONFLICT,
	CONTROL_FORBIDDEN,
	CONTROL_INTERNAL,
};

struct control_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];		/* user name, or the uid in decimal */
};

struct control_ops {
	/* Runs one request (cmd, and the whole request object, borrowed).
	 * Returns CONTROL_OK with *result (a new reference), or an error code
	 * with a sentence in msg. */
	enum control_err (*run)(void *arg, const char *cmd, const json_t *req,
	    const struct control_peer *peer, json_t **result, char *msg,
	    size_t msglen);
	void *arg;
};

struct control;

/* "bad_request", "unknown_command", ... as on the wire. */
const char *control_err_name(enum control_err e);

int control_open(uv_loop_t *loop, const char *path,
    const struct config_control *acl, const struct control_ops *ops,
    struct control **out, char *err, size_t errlen);

/* Applies a reloaded allow list to later connections. */
void control_reconfigure(struct control *c, const struct config_control *acl);

/* Sends {"event": ev} to every watch client (ev borrowed). */
void control_publish(struct control *c, const json_t *ev);

/* Closes the listener and every client, removes the socket file;
 * done(arg) when every handle is closed. */
void control_close(struct control *c, void (*done)(void *arg), void *arg);

#endif
