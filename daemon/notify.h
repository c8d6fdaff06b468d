/*
 * notify — the systemd notification protocol, written directly to
 * $NOTIFY_SOCKET (no libsystemd needed): READY=1, STATUS=..., WATCHDOG=1,
 * STOPPING=1, RELOADING=1. Without $NOTIFY_SOCKET every call is a no-op
 * that succeeds.
 */
#ifndef EXROLL_NOTIFY_H
#define EXROLL_NOTIFY_H

#include <stdint.h>

/* Sends one datagram of newline-separated assignments. Returns 0 or a
 * negative errno. */
int notify_send(const char *state);

/* STATUS=<printf>. */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asked for (WATCHDOG_USEC, honouring
 * WATCHDOG_PID), in milliseconds; 0 when none. The shell pings at half. */
int64_t notify_watchdog_ms(void);

#endif
