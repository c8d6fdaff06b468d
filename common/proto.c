/*
 * proto — line accumulation for the JSON-lines control protocol.
 *
 * Consumed lines are not shifted out one by one: the reader remembers where
 * the unconsumed data starts and compacts once per feed, so a burst of many
 * pipelined requests costs O(bytes), not O(lines * bytes).
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


void
proto_reader_init_max(struct proto_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void
proto_reader_init(struct proto_reader *r)
{
	proto_reader_init_max(r, PROTO_MAX_LINE);
}

void
proto_reader_free(struct proto_reader *r)
{
	size_t max = r->max;

	free(r->buf);
	proto_reader_init_max(r, max);
}

int
proto_reader_feed(struct proto_reader *r, const char *data, size_t n)
{
	size_t start = r->start, pending;

	/* Drop what earlier next() calls consumed. */
	if (start > 0) {
		memmove(r->buf, r->buf + start, r->len - start);
		r->len -= start;
		r->start = 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *nb;

		while (cap < r->len + n + 1)
			cap *= 2;
		if ((nb = realloc(r->buf, cap)) == NULL)
			return -ENOMEM;
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	r->buf[r->len] = '\0';

	/* A partial line (no newline after the last one) must stay bounded. */
	pending = r->len;
	for (size_t i = r->len; i > 0; i--) {
		if (r->buf[i - 1] == '\n') {
			pending = r->len - i;
			break;
		}
	}
	if (pending > r->max)
		return -EMSGSIZE;
	return 0;
}

int
proto_reader_next(struct proto_reader *r, char **line, size_t *len)
{
	size_t start = r->start;
	char *nl, *s;
	size_t n;

	if (start >= r->len)
		return 0;
	s = r->buf + start;
	if ((nl = memchr(s, '\n', r->len - start)) == NULL)
		return 0;
	n = (size_t)(nl - s);
	r->start = start + n + 1;
	if (n > r->max)
		return -EMSGSIZE;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	s[n] = '\0';
	*line = s;
	*len = n;
	return 1;
}
