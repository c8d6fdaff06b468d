/*
 * client — blocking I/O on the control socket, with deadlines.
 *
 * exrollctl does one thing at a time, so plain blocking calls with poll()
 * timeouts are all it needs.
 */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"

#define CTL_DEFAULT_SOCKET "/run/exroll/control.sock"

const char *
ctl_socket_path(const char *path)
{
	const char *env;

	if (path != NULL && *path != '\0')
		return path;
	if ((env = getenv("EXROLL_SOCKET")) != NULL && *env != '\0')
		return env;
	return CTL_DEFAULT_SOCKET;
}

int
ctl_client_connect(struct ctl_client *c, const char *path, char *err,
    size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	proto_reader_init_max(&c->rd, CTL_MAX_ANSWER);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return r;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot connect to '%s': %s%s", path,
		    strerror(errno), errno == ENOENT || errno == ECONNREFUSED ?
		    " (is exrolld running? --socket or $EXROLL_SOCKET name "
		    "another socket)" : errno == EACCES ? " (your uid may "
		    "not use it; see control.allow_uids/allow_group)" : "");
		close(fd);
		return r;
	}
	if ((c->path = strdup(path)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	return 0;
}

void
ctl_client_close(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_reader_free(&c->rd);
	free(c->path);
	c->path = NULL;
}

int
ctl_client_fd(const struct ctl_client *c)
{
	return c->fd;
}

int
ctl_client_send(struct ctl_client *c, json_t *req, long *id)
{
	long myid = c->next_id++;
	char *line;
	size_t len, off = 0;
	int r = 0;

	if (json_object_set_new(req, "id", json_integer(myid)) != 0 ||
	    (line = json_dumps(req, JSON_COMPACT)) == NULL)
		return -ENOMEM;
	len = strlen(line);
	line[len] = '\n';	/* json_dumps' NUL becomes the newline */
	len++;
	while (off < len) {
		ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EPIPE ? -ECONNRESET : -errno;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	if (r == 0 && id != NULL)
		*id = myid;
	return r;
}

/* Reads what the socket has into the reader. */
static int
ctl_fill(struct ctl_client *c)
{
	char chunk[65536];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));

	if (n < 0 && errno == EINTR)
		return -EINTR;
	if (n < 0)
		return errno == ECONNRESET ? -ECONNRESET : -errno;
	if (n == 0)
		return -ECONNRESET;
	switch (proto_reader_feed(&c->rd, chunk, (size_t)n)) {
	case 0:
		return 0;
	case -EMSGSIZE:
		return -EBADMSG;
	default:
		return -ENOMEM;
	}
}

int
ctl_client_read(struct ctl_client *c, int timeout_ms, json_t **out)
{
	int64_t deadline = timeout_ms >= 0 ? time_mono_ms() + timeout_ms : 0;
	char *line;
	size_t len;
	int r;

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int wait = -1;

		if ((r = proto_reader_next(&c->rd, &line, &len)) < 0)
			return -EBADMSG;
		if (r == 1) {
			json_t *j;

			if (len == 0)
				continue;
			if ((j = json_loadb(line, len, 0, NULL)) == NULL)
				return -EBADMSG;
			*out = j;
			return 0;
		}
		if (timeout_ms >= 0) {
			int64_t left = deadline - time_mono_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			wait = (int)left;
		}
		if ((r = poll(&p, 1, wait)) < 0)
			return errno == EINTR ? -EINTR : -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if ((r = ctl_fill(c)) != 0)
			return r;
	}
}

int
ctl_client_call(struct ctl_client *c, json_t *req, int timeout_ms,
    void (*on_event)(const json_t *ev, void *arg), void *arg,
    json_t **resp)
{
	long id;
	int r;

	if ((r = ctl_client_send(c, req, &id)) != 0)
		return r;
	for (;;) {
		json_t *j, *ev;

		if ((r = ctl_client_read(c, timeout_ms, &j)) != 0)
			return r;
		if ((ev = json_object_get(j, "event")) != NULL &&
		    json_object_get(j, "ok") == NULL) {
			if (on_event != NULL)
				on_event(ev, arg);
			json_decref(j);
			continue;
		}
		/* The daemon's own refusals (forbidden, too many clients,
		 * line too long) carry id null: they answer this request. */
		if (json_integer_value(json_object_get(j, "id")) == id ||
		    json_is_null(json_object_get(j, "id"))) {
			*resp = j;
			return 0;
		}
		json_decref(j);
	}
}
