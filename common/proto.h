/*
 * proto — JSON-lines framing of the control socket (DESIGN §4).
 *
 * A reader accumulates bytes from a stream and yields complete lines. A line
 * longer than the reader's limit (newline excluded) is an error: the
 * connection is then to be closed, since the peer is not speaking the
 * protocol. Requests are limited to PROTO_MAX_LINE; answers are not (the
 * servers list of a 10,000-server organization is megabytes on one line),
 * so exrollctl reads them with a far larger limit. Shared by the control
 * server and exrollctl.
 */
#ifndef EXROLL_PROTO_H
#define EXROLL_PROTO_H

#include <stddef.h>

#define PROTO_MAX_LINE (64 * 1024)

struct proto_reader {
	char *buf;
	size_t len;	/* bytes held */
	size_t cap;
	size_t start;	/* offset of the first unconsumed byte */
	size_t max;	/* longest line accepted */
};

/* A reader for requests (PROTO_MAX_LINE), or with another limit. */
void proto_reader_init(struct proto_reader *r);
void proto_reader_init_max(struct proto_reader *r, size_t max);
void proto_reader_free(struct proto_reader *r);

/* Appends n bytes. Returns 0, -ENOMEM, or -EMSGSIZE when the pending
 * partial line exceeds the limit. */
int proto_reader_feed(struct proto_reader *r, const char *data, size_t n);

/* Takes the next complete line: *line points into the reader (NUL
 * terminated, newline and any '\r' removed) and stays valid until the next
 * feed or next call. Returns 1 with a line, 0 when none is complete,
 * -EMSGSIZE for a complete line over the limit. */
int proto_reader_next(struct proto_reader *r, char **line, size_t *len);

#endif
