/*
 * client — exrollctl's side of the control socket: connect, send request
 * lines, read answer and event lines.
 *
 * Requests are bounded by PROTO_MAX_LINE (64 KiB), answers are not: the
 * servers list of a 10,000-server organization is megabytes on one line,
 * so answers are framed with a proto_reader limited to CTL_MAX_ANSWER.
 */
#ifndef EXROLL_CTL_CLIENT_H
#define EXROLL_CTL_CLIENT_H

#include <stddef.h>
#include <jansson.h>

#include "proto.h"

/* Far above any real answer; only a runaway peer gets near it. */
#define CTL_MAX_ANSWER (256 * 1024 * 1024)

struct ctl_client {
	int fd;
	struct proto_reader rd;		/* bytes read, not yet consumed */
	long next_id;
	char *path;
};

/* The socket to use: path if given, else $EXROLL_SOCKET, else the
 * default (borrowed). */
const char *ctl_socket_path(const char *path);

/* Returns 0, or a negative errno with a sentence in err. */
int ctl_client_connect(struct ctl_client *c, const char *path, char *err,
    size_t errlen);
void ctl_client_close(struct ctl_client *c);

/* Sends req (borrowed) with a fresh "id" set in it; *id receives it.
 * Returns 0 or a negative errno. */
int ctl_client_send(struct ctl_client *c, json_t *req, long *id);

/* The next line from the daemon, parsed (new reference). timeout_ms < 0
 * waits for ever. Returns 0, -ETIMEDOUT, -ECONNRESET (the daemon closed
 * the connection), -EBADMSG (not JSON, or a line over the limit), or
 * another negative errno. */
int ctl_client_read(struct ctl_client *c, int timeout_ms, json_t **out);

/* Sends req and reads lines until the answer with its id; event lines
 * met on the way are handed to on_event (may be NULL: dropped).
 * *resp is the whole answer {"id", "ok", ...} (new reference). */
int ctl_client_call(struct ctl_client *c, json_t *req, int timeout_ms,
    void (*on_event)(const json_t *ev, void *arg), void *arg,
    json_t **resp);

/* The file descriptor, for poll(). */
int ctl_client_fd(const struct ctl_client *c);

#endif
