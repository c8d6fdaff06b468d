/*
 * test_notify — the sd_notify datagrams, received on a real AF_UNIX socket
 * (a path in a temporary directory, and an abstract name), and the
 * watchdog variables.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "testutil.h"

static char *dir;
static int rx = -1;

static void
setup(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	dir = tu_tmpdir("notify");
	ck_assert_ptr_nonnull(dir);
}

static void
teardown(void)
{
	if (rx >= 0)
		close(rx);
	rx = -1;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

/* Binds the receiving end: a path, or an abstract name ('@' first). */
static void
listen_at(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;

	ck_assert_uint_lt(strlen(name), sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, strlen(name));
	if (name[0] == '@') {
		sa.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(name));
	} else
		len = (socklen_t)sizeof(sa);
	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rx, 0);
	ck_assert_msg(bind(rx, (struct sockaddr *)&sa, len) == 0,
	    "bind '%s': %s", name, strerror(errno));
}

/* The next datagram, waited for up to a deadline; "" when none came. */
static void
receive(char *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = rx, .events = POLLIN };
	ssize_t n;

	buf[0] = '\0';
	if (poll(&pfd, 1, timeout_ms) != 1)
		return;
	n = recv(rx, buf, size - 1, MSG_DONTWAIT);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
}

START_TEST(ready_and_status_arrive)
{
	char *path = tu_path(dir, "notify.sock");
	char buf[2048];

	listen_at(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);

	ck_assert_int_eq(notify_send("READY=1"), 0);
	receive(buf, sizeof(buf), tu_ms(2000));
	ck_assert_str_eq(buf, "READY=1");

	ck_assert_int_eq(notify_status("wave %d/%d: '%s'", 2, 5, "HubTransport"), 0);
	receive(buf, sizeof(buf), tu_ms(2000));
	ck_assert_str_eq(buf, "STATUS=wave 2/5: 'HubTransport'");

	ck_assert_int_eq(notify_send("RELOADING=1\nSTATUS=reloading"), 0);
	receive(buf, sizeof(buf), tu_ms(2000));
	ck_assert_str_eq(buf, "RELOADING=1\nSTATUS=reloading");
	free(path);
}
END_TEST

START_TEST(status_cannot_inject)
{
	char *path = tu_path(dir, "notify.sock");
	char buf[2048];

	listen_at(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	/* Text from a gateway or a server name stays one STATUS line. */
	ck_assert_int_eq(notify_status("failed: %s", "x\nREADY=1\r\nMAINPID=1"), 0);
	receive(buf, sizeof(buf), tu_ms(2000));
	ck_assert_str_eq(buf, "STATUS=failed: x READY=1  MAINPID=1");
	free(path);
}
END_TEST

START_TEST(abstract_socket)
{
	char name[64], buf[256];

	snprintf(name, sizeof(name), "@exroll-test-notify-%ld", (long)getpid());
	listen_at(name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	ck_assert_int_eq(notify_send("WATCHDOG=1"), 0);
	receive(buf, sizeof(buf), tu_ms(2000));
	ck_assert_str_eq(buf, "WATCHDOG=1");
}
END_TEST

START_TEST(no_socket_is_a_noop)
{
	char *path = tu_path(dir, "notify.sock");
	char buf[256];

	listen_at(path);
	ck_assert_int_eq(notify_send("READY=1"), 0);
	ck_assert_int_eq(notify_status("idle"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_send("STOPPING=1"), 0);
	/* Nothing may be waiting: a datagram is queued by the time sendto
	 * returns, so a short poll is enough to see it if it were there. */
	receive(buf, sizeof(buf), 50);
	ck_assert_str_eq(buf, "");
	free(path);
}
END_TEST

START_TEST(bad_socket_is_an_error)
{
	char *path = tu_path(dir, "absent.sock");
	char longname[200];

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), -ENOENT);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative.sock", 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), -EAFNOSUPPORT);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longname, 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), -ENAMETOOLONG);
	ck_assert_int_eq(notify_send(NULL), -EINVAL);
	free(path);
}
END_TEST

START_TEST(watchdog_interval)
{
	char pid[32];

	ck_assert_int_eq(notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "60000000", 1);
	ck_assert_int_eq(notify_watchdog_ms(), 60000);

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_int_eq(notify_watchdog_ms(), 60000);

	/* Inherited by a child of the watched process: not ours. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_int_eq(notify_watchdog_ms(), 0);
	setenv("WATCHDOG_PID", "12ab", 1);
	ck_assert_int_eq(notify_watchdog_ms(), 0);
	unsetenv("WATCHDOG_PID");

	/* Below a millisecond still means "watched". */
	setenv("WATCHDOG_USEC", "500", 1);
	ck_assert_int_eq(notify_watchdog_ms(), 1);
}
END_TEST

START_TEST(watchdog_garbage)
{
	static const char *const bad[] = { "", "0", "abc", "12x", " 5", "-5",
	    "+5", "1e6", "99999999999999999999999" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		ck_assert_msg(notify_watchdog_ms() == 0,
		    "WATCHDOG_USEC '%s' accepted", bad[i]);
	}
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ready_and_status_arrive);
	tcase_add_test(tc, status_cannot_inject);
	tcase_add_test(tc, abstract_socket);
	tcase_add_test(tc, no_socket_is_a_noop);
	tcase_add_test(tc, bad_socket_is_an_error);
	tcase_add_test(tc, watchdog_interval);
	tcase_add_test(tc, watchdog_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(notify_suite());
}
