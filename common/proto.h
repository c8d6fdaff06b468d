/*
 * proto — JSON-lines framing of the control socket (DESIGN §4).
 *
 * A reader accumulates bytes from a stream and yields complete lines. A line
 * longer than PROTO_MAX_LINE bytes (newline excluded) is an error: the
 * connection is then to be closed, since the peer is not speaking the
 * protocol. Shared by the control server and exrollctl.
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
};

void proto_reader_init(struct proto_reader *r);
void proto_reader_free(struct proto_reader *r);

/* Appends n bytes. Returns 0, -ENOMEM, or -EMSGSIZE when the pending
 * partial line exceeds PROTO_MAX_LINE. */
int proto_reader_feed(struct proto_reader *r, const char *data, size_t n);

/* Takes the next complete line: *line points into the reader (NUL
 * terminated, newline and any '\r' removed) and stays valid until the next
 * feed or next call. Returns 1 with a line, 0 when none is complete,
 * -EMSGSIZE for a complete line over the limit. */
int proto_reader_next(struct proto_reader *r, char **line, size_t *len);

#endif
