/*
 * notify — sd_notify(3) without libsystemd (see notify.h).
 *
 * The protocol is one datagram of "KEY=value" lines sent to the AF_UNIX
 * socket named by $NOTIFY_SOCKET: a path, or an abstract name when it
 * starts with '@'. systemd takes the sender's pid from the kernel and, with
 * NotifyAccess=main, listens to the main process only.
 *
 * A socket is opened per message rather than kept: messages are rare (ready,
 * a status per transition, a watchdog ping every WatchdogSec/2), and a
 * socket that outlives a daemon-reexec of systemd would go stale. The send
 * blocks, as sd_notify's does: systemd drains the socket promptly, and
 * dropping READY=1 on a full queue would fail the start.
 *
 * The environment is left as it is. Child processes (the exec hook) inherit
 * NOTIFY_SOCKET, but systemd ignores them under NotifyAccess=main, and
 * WATCHDOG_PID stops them from thinking they are watched.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

/* Long enough for any status line we write; longer ones are cut. */
#define NOTIFY_STATUS_MAX 1024

static int
notify_addr(const char *path, struct sockaddr_un *sa, socklen_t *salen)
{
	size_t len = strlen(path);

	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT;
	if (len < 2)
		return -EINVAL;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len);
	if (path[0] == '@') {
		/* Abstract: a leading NUL, and the length counts exactly the
		 * name's bytes (no terminator). */
		sa->sun_path[0] = '\0';
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

int
notify_send(const char *state)
{
	struct sockaddr_un sa;
	socklen_t salen;
	const char *path;
	size_t len;
	ssize_t n;
	int fd = -1, rc;

	if (state == NULL)
		return -EINVAL;
	path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 0;
	if ((rc = notify_addr(path, &sa, &salen)) < 0)
		goto out;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	len = strlen(state);
	do
		n = sendto(fd, state, len, MSG_NOSIGNAL,
		    (const struct sockaddr *)&sa, salen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != len)
		rc = -EMSGSIZE;	/* a datagram goes whole or not at all */
	else
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
notify_status(const char *fmt, ...)
{
	static const char prefix[] = "STATUS=";
	char buf[sizeof(prefix) - 1 + NOTIFY_STATUS_MAX];
	const char *path;
	va_list ap;
	char *p;

	path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 0;

	memcpy(buf, prefix, sizeof(prefix) - 1);
	va_start(ap, fmt);
	vsnprintf(buf + sizeof(prefix) - 1, sizeof(buf) - (sizeof(prefix) - 1),
	    fmt, ap);
	va_end(ap);
	/* A newline would start another assignment: a server name or a
	 * gateway message must never be able to send READY=1 or MAINPID=. */
	for (p = buf; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return notify_send(buf);
}

/* A decimal number with nothing around it (strtoull alone accepts blanks,
 * a sign, and "-1" as a huge value). */
static int
parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	const char *p;
	char *end;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int64_t
notify_watchdog_ms(void)
{
	const char *usec_s, *pid_s;
	uint64_t usec, pid;

	usec_s = getenv("WATCHDOG_USEC");
	if (usec_s == NULL)
		return 0;
	if (parse_u64(usec_s, &usec) < 0 || usec == 0 ||
	    usec > (uint64_t)INT64_MAX) {
		log_warnx("ignoring invalid WATCHDOG_USEC '%s'", usec_s);
		return 0;
	}
	/* WATCHDOG_PID names the process the watchdog is meant for; a child
	 * that inherited the variables is not it. */
	pid_s = getenv("WATCHDOG_PID");
	if (pid_s != NULL) {
		if (parse_u64(pid_s, &pid) < 0) {
			log_warnx("ignoring invalid WATCHDOG_PID '%s'", pid_s);
			return 0;
		}
		if (pid != (uint64_t)getpid())
			return 0;
	}
	/* Rounded down, so pinging at half never comes late; never 0, which
	 * would mean "no watchdog". */
	return usec < 1000 ? 1 : (int64_t)(usec / 1000);
}
