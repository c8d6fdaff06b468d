/*
 * window — maintenance-window arithmetic (DESIGN §5, window.h).
 *
 * Every window stands for a set of half-open intervals [start, end) of real
 * time; the answer at an instant is whether any interval holds it, and the
 * open span is the union of intervals that overlap or touch (an interval
 * starting exactly where another ends continues the span).
 *
 * Weekly windows become one interval per selected local date D:
 *
 *	start = the local instant of D at start_min
 *	end   = the local instant of D (or D + 1 when end_min <= start_min)
 *	        at end_min
 *
 * "The local instant of date D at HH:MM" is the FIRST instant at which the
 * local wall clock reads HH:MM or later on that date. One rule covers both
 * daylight-saving changes:
 *
 *  - clocks go forward (HH:MM does not exist): the first valid instant
 *    after it, i.e. the moment of the change. A window starting at 02:30 on
 *    the night Europe/Berlin jumps from 02:00 to 03:00 opens at 03:00 CEST.
 *    (glibc's mktime would instead shift it by the gap, to 03:30.)
 *  - clocks go back (HH:MM happens twice): its first occurrence, for the
 *    start and the end alike. A window then opens as soon as the clock
 *    first shows its start, and closes the first time the clock shows its
 *    end: it never runs longer than the operator could have read off a
 *    clock on the wall.
 *
 * So "Sat 20:00-06:00" lasts 9 hours of real time on the night the clocks
 * go forward and 11 hours on the night they go back, and a window whose
 * both ends fall in the same gap is empty that night and ignored.
 *
 * Bounded work: an interval from date D ends before D + 2, so the intervals
 * holding an instant start on its local date or the one before (two before
 * are looked at, for margin), and the next start of a weekly window is at
 * most a week away (dates -1 .. +8 are looked at). Merging walks from span
 * end to span end; a walk that runs more than HORIZON_DAYS past the last
 * absolute window means the weekly windows alone cover a whole week, so the
 * span never closes: closes_at 0 and no next edge.
 *
 * When open, next_open is also filled in, with the start of the span after
 * this one (0 when there is none): status shows it, and it stays constant
 * until the next edge, like every other field.
 *
 * Pure: no clock, no I/O of our own. mktime() and localtime_r() consult the
 * process's time zone (TZ); after changing TZ the caller runs tzset().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "window.h"

#define MS_PER_S	1000
#define DAY_S		INT64_C(86400)
#define MIN_PER_DAY	1440
/* Wider than any daylight-saving shift there has ever been (2 h). */
#define SHIFT_SPAN_S	(3 * 3600)
/* Eight days would do; the ninth covers a DST hour on the last day. */
#define HORIZON_DAYS	9

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * algorithm): date arithmetic without asking mktime to normalise. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The local wall clock at t as seconds counted like the epoch (so keys
 * compare and subtract like times, and key - t is the UTC offset). */
static bool
wall_key(int64_t t, int64_t *key)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return false;
	*key = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday) * DAY_S + tm.tm_hour * 3600 + tm.tm_min * 60 +
	    tm.tm_sec;
	return true;
}

/* The first instant (epoch seconds) at which the local clock reads min
 * minutes after midnight of local date day, or later (see the top). */
static bool
local_instant(int64_t day, int min, int64_t *out)
{
	struct tm tm = { 0 };
	int64_t want, key, t, t2, before, lo, hi, mid, k;
	int64_t y;
	int mon, mday;
	time_t tt;

	day += min / MIN_PER_DAY;
	min %= MIN_PER_DAY;
	civil_from_days(day, &y, &mon, &mday);
	want = day * DAY_S + min * 60;

	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	tm.tm_hour = min / 60;
	tm.tm_min = min % 60;
	tm.tm_isdst = -1;
	if ((tt = mktime(&tm)) == (time_t)-1)
		return false;
	t = (int64_t)tt;
	if (!wall_key(t, &key))
		return false;

	if (key == want) {
		/* The clock read the same earlier only if it went back in the
		 * hours before t (a larger UTC offset then): by exactly that
		 * shift. */
		before = t - SHIFT_SPAN_S;
		if (wall_key(before, &k) && k - before > key - t) {
			t2 = t - ((k - before) - (key - t));
			if (wall_key(t2, &k) && k == want)
				t = t2;
		}
		*out = t;
		return true;
	}

	/* The reading does not exist (clocks went forward): find the first
	 * instant whose reading is later, by bisection around mktime's
	 * guess. The wall clock only moves forward in this range. */
	lo = t - SHIFT_SPAN_S;
	hi = t + SHIFT_SPAN_S;
	if (!wall_key(lo, &k) || k >= want || !wall_key(hi, &k) || k < want)
		return false;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (!wall_key(mid, &k))
			return false;
		if (k >= want)
			hi = mid;
		else
			lo = mid;
	}
	*out = hi;
	return true;
}

static bool
local_date(int64_t ms, int64_t *day)
{
	int64_t key;

	if (!wall_key(floor_div(ms, MS_PER_S), &key))
		return false;
	*day = floor_div(key, DAY_S);
	return true;
}

/* The interval of weekly window w that starts on local date day, if w is
 * on that day and the interval is not empty. */
static bool
weekly_at(const struct config_weekly *w, int64_t day, int64_t *start,
    int64_t *end)
{
	int64_t x = day + 4;	/* 1970-01-01 was a Thursday, tm_wday 4 */
	int wday = (int)(x - 7 * floor_div(x, 7));
	int64_t s, e;

	if (w->start_min < 0 || w->start_min >= MIN_PER_DAY ||
	    w->end_min < 0 || w->end_min > MIN_PER_DAY)
		return false;
	if (!(w->days_mask & (1u << wday)))
		return false;
	if (!local_instant(day, w->start_min, &s) ||
	    !local_instant(day + (w->end_min <= w->start_min), w->end_min, &e))
		return false;
	if (s >= e)
		return false;
	*start = s * MS_PER_S;
	*end = e * MS_PER_S;
	return true;
}

/* Whether some interval holds t; if so, *end is the latest end of those
 * that do. */
static bool
covered(const struct config_window *w, size_t n, int64_t t, int64_t *end)
{
	int64_t best = t, day = 0, d, s, e;
	bool have_day = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!w[i].weekly) {
			if (w[i].u.a.from_ms <= t && t < w[i].u.a.to_ms &&
			    w[i].u.a.to_ms > best)
				best = w[i].u.a.to_ms;
			continue;
		}
		if (!have_day && !(have_day = local_date(t, &day)))
			return false;
		for (d = day - 2; d <= day; d++)
			if (weekly_at(&w[i].u.w, d, &s, &e) && s <= t &&
			    t < e && e > best)
				best = e;
	}
	if (best == t)
		return false;
	*end = best;
	return true;
}

/* The earliest interval start after t, or 0 when none will come. */
static int64_t
next_start(const struct config_window *w, size_t n, int64_t t)
{
	int64_t next = 0, day = 0, d, s, e;
	bool have_day = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!w[i].weekly) {
			s = w[i].u.a.from_ms;
			if (s > t && s < w[i].u.a.to_ms && (next == 0 || s < next))
				next = s;
			continue;
		}
		if (!have_day && !(have_day = local_date(t, &day)))
			return 0;
		for (d = day - 1; d <= day + 8; d++)
			if (weekly_at(&w[i].u.w, d, &s, &e) && s > t &&
			    (next == 0 || s < next))
				next = s;
	}
	return next;
}

/* The end of the open span holding t (covered), or 0 when it never ends. */
static int64_t
span_end(const struct config_window *w, size_t n, int64_t t)
{
	const int64_t extra = HORIZON_DAYS * DAY_S * MS_PER_S;
	int64_t horizon = t, end = t, e;
	size_t i;

	for (i = 0; i < n; i++)
		if (!w[i].weekly && w[i].u.a.to_ms > horizon)
			horizon = w[i].u.a.to_ms;
	horizon = horizon > INT64_MAX - extra ? INT64_MAX : horizon + extra;

	/* Each step moves to a strictly later interval end. */
	while (covered(w, n, end, &e)) {
		end = e;
		if (end >= horizon)
			return 0;
	}
	return end;
}

void
window_eval(const struct config_window *w, size_t n, int64_t now,
    struct window_state *out)
{
	struct window_state st = { .open = true, .closes_at = 0,
	    .next_open = 0 };
	int64_t e;

	if (n > 0) {
		st.open = covered(w, n, now, &e);
		if (st.open) {
			st.closes_at = span_end(w, n, now);
			if (st.closes_at != 0)
				st.next_open = next_start(w, n, st.closes_at);
		} else
			st.next_open = next_start(w, n, now);
	}
	*out = st;
}

int64_t
window_next_edge(const struct config_window *w, size_t n, int64_t now)
{
	int64_t e;

	if (n == 0)
		return 0;
	if (covered(w, n, now, &e))
		return span_end(w, n, now);
	return next_start(w, n, now);
}
