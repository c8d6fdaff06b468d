/*
 * timefmt — clocks and time formats shared by the programs.
 *
 * Times inside exroll are int64 milliseconds since the Unix epoch (UTC);
 * durations in the configuration are fractional seconds.
 */
#ifndef EXROLL_TIMEFMT_H
#define EXROLL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIME_MS_PER_S 1000

/* Wall clock, milliseconds since the epoch. */
int64_t time_now_ms(void);
/* Monotonic clock, milliseconds. */
int64_t time_mono_ms(void);

/* RFC 3339 in UTC with milliseconds: "2026-11-28T20:00:00.000Z".
 * buf must hold TIME_RFC3339_LEN bytes. Returns buf. */
#define TIME_RFC3339_LEN 32
char *time_format_rfc3339(int64_t ms, char *buf, size_t len);

/* Parses RFC 3339 ("2026-11-28T20:00:00Z", fractions and offsets allowed).
 * Returns 0 or -EINVAL. */
int time_parse_rfc3339(const char *s, int64_t *out_ms);

/* "3 h 12 min", "45 s": a duration for people. */
char *time_format_duration(int64_t ms, char *buf, size_t len);

/* Seconds (double, from configuration) to milliseconds, rounded. */
int64_t time_s_to_ms(double s);

#endif
