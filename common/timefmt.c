/*
 * timefmt — clocks, RFC 3339 and human durations.
 */
#include "timefmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
time_format_rfc3339(int64_t ms, char *buf, size_t len)
{
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)sec * 1000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, frac);
	return buf;
}

/* Reads exactly n digits. */
static const char *
time_digits(const char *p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, p++) {
		if (*p < '0' || *p > '9')
			return NULL;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return p;
}

int
time_parse_rfc3339(const char *s, int64_t *out_ms)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, ms = 0, off = 0;
	const char *p = s;
	time_t t;

	if ((p = time_digits(p, 4, &y)) == NULL || *p++ != '-' ||
	    (p = time_digits(p, 2, &mo)) == NULL || *p++ != '-' ||
	    (p = time_digits(p, 2, &d)) == NULL ||
	    (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	if ((p = time_digits(p, 2, &h)) == NULL || *p++ != ':' ||
	    (p = time_digits(p, 2, &mi)) == NULL || *p++ != ':' ||
	    (p = time_digits(p, 2, &sec)) == NULL)
		return -EINVAL;
	if (*p == '.') {
		int scale = 100;

		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;

		p++;
		if ((p = time_digits(p, 2, &oh)) == NULL || *p++ != ':' ||
		    (p = time_digits(p, 2, &om)) == NULL || oh > 23 || om > 59)
			return -EINVAL;
		off = sign * (oh * 60 + om) * 60;
	} else {
		return -EINVAL;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	/* -1 is a valid answer (the last second of 1969): only EOVERFLOW or
	 * a normalised day (Feb 30) makes the input invalid. */
	errno = 0;
	t = timegm(&tm);
	if ((t == (time_t)-1 && errno == EOVERFLOW) || tm.tm_mday != d)
		return -EINVAL;
	*out_ms = ((int64_t)t - off) * 1000 + ms;
	return 0;
}

char *
time_format_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%lld s", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lld min", (long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, len, "%lld h %lld min", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lld d %lld h", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
	return buf;
}

int64_t
time_s_to_ms(double s)
{
	return (int64_t)llround(s * 1000.0);
}
