/*
 * test_window — maintenance-window arithmetic at fixed instants, in fixed
 * time zones. Expected instants are written in UTC (timegm) with the zone's
 * offset worked out by hand, so the tests do not share the code under test's
 * use of mktime.
 *
 * Calendar used: 2026-11-28 is a Saturday; Europe/Berlin changes on
 * 2026-03-29 (02:00 CET -> 03:00 CEST, 01:00Z) and 2026-10-25 (03:00 CEST ->
 * 02:00 CET, 01:00Z); America/New_York on 2026-03-08 and 2026-11-01.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "window.h"

#include "testutil.h"

#define SUN (1u << 0)
#define MON (1u << 1)
#define TUE (1u << 2)
#define WED (1u << 3)
#define THU (1u << 4)
#define FRI (1u << 5)
#define SAT (1u << 6)
#define ALLDAYS 0x7fu

#define H_MS (INT64_C(3600) * 1000)

/* Epoch ms of a UTC date and time. */
static int64_t
utc(int y, int mon, int d, int h, int min)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mon - 1,
	    .tm_mday = d, .tm_hour = h, .tm_min = min };

	return (int64_t)timegm(&tm) * 1000;
}

/* Selects a zone, failing with the fix when its zoneinfo file is missing:
 * glibc silently falls back to UTC, which would make every DST case lie. */
static void
use_tz(const char *name)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	struct tm jan, jul;
	time_t t_jan = (time_t)(utc(2026, 1, 15, 12, 0) / 1000);
	time_t t_jul = (time_t)(utc(2026, 7, 15, 12, 0) / 1000);

	if (strcmp(name, "UTC") != 0) {
		snprintf(path, sizeof(path), "%s/%s",
		    dir != NULL ? dir : "/usr/share/zoneinfo", name);
		ck_assert_msg(access(path, R_OK) == 0,
		    "time zone '%s' not found at %s: install tzdata "
		    "(apt-get install tzdata)", name, path);
	}
	ck_assert_int_eq(setenv("TZ", name, 1), 0);
	tzset();
	if (strcmp(name, "UTC") != 0) {
		localtime_r(&t_jan, &jan);
		localtime_r(&t_jul, &jul);
		ck_assert_msg(jan.tm_gmtoff != jul.tm_gmtoff,
		    "time zone '%s' has no daylight saving time here: "
		    "install tzdata", name);
	}
}

static struct config_window
weekly(unsigned days, int start_h, int start_m, int end_h, int end_m)
{
	struct config_window w = { .weekly = true };

	w.u.w.days_mask = days;
	w.u.w.start_min = start_h * 60 + start_m;
	w.u.w.end_min = end_h * 60 + end_m;
	return w;
}

static struct config_window
absolute(int64_t from, int64_t to)
{
	struct config_window w = { .weekly = false };

	w.u.a.from_ms = from;
	w.u.a.to_ms = to;
	return w;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Asserts the window is open at now and the span closes at closes. */
#define ck_open(w, n, now, closes) do {					\
	struct window_state s_;						\
	window_eval((w), (n), (now), &s_);				\
	ck_assert_msg(s_.open, "closed at %lld, expected open",	\
	    (long long)(now));						\
	ck_assert_int_eq(s_.closes_at, (closes));			\
} while (0)

/* Asserts the window is closed at now and opens next at next (0: never). */
#define ck_closed(w, n, now, next) do {					\
	struct window_state s_;						\
	window_eval((w), (n), (now), &s_);				\
	ck_assert_msg(!s_.open, "open at %lld, expected closed",	\
	    (long long)(now));						\
	ck_assert_int_eq(s_.closes_at, 0);				\
	ck_assert_int_eq(s_.next_open, (next));				\
} while (0)

START_TEST(no_windows_always_open)
{
	struct window_state s = { .open = false, .closes_at = 1,
	    .next_open = 1 };

	use_tz("UTC");
	window_eval(NULL, 0, utc(2026, 11, 28, 12, 0), &s);
	ck_assert(s.open);
	ck_assert_int_eq(s.closes_at, 0);
	ck_assert_int_eq(s.next_open, 0);
	ck_assert_int_eq(window_next_edge(NULL, 0, utc(2026, 11, 28, 12, 0)), 0);
}
END_TEST

START_TEST(weekly_inside_outside)
{
	struct config_window w[] = { weekly(MON | TUE | WED | THU | FRI,
	    9, 0, 17, 0) };

	use_tz("UTC");
	/* Wednesday 2026-11-25. */
	ck_closed(w, 1, utc(2026, 11, 25, 9, 0) - 1, utc(2026, 11, 25, 9, 0));
	ck_open(w, 1, utc(2026, 11, 25, 9, 0), utc(2026, 11, 25, 17, 0));
	ck_open(w, 1, utc(2026, 11, 25, 17, 0) - 1, utc(2026, 11, 25, 17, 0));
	ck_closed(w, 1, utc(2026, 11, 25, 17, 0), utc(2026, 11, 26, 9, 0));
	/* Friday evening: the weekend is skipped. */
	ck_closed(w, 1, utc(2026, 11, 27, 17, 0), utc(2026, 11, 30, 9, 0));
	ck_closed(w, 1, utc(2026, 11, 29, 12, 0), utc(2026, 11, 30, 9, 0));
}
END_TEST

START_TEST(weekly_across_midnight)
{
	struct config_window w[] = { weekly(SAT, 20, 0, 6, 0) };
	struct window_state s;

	use_tz("UTC");
	ck_closed(w, 1, utc(2026, 11, 28, 19, 59), utc(2026, 11, 28, 20, 0));
	ck_open(w, 1, utc(2026, 11, 28, 20, 0), utc(2026, 11, 29, 6, 0));
	/* Sunday morning belongs to Saturday's window (tm_wday 6 -> 0). */
	ck_open(w, 1, utc(2026, 11, 29, 0, 0), utc(2026, 11, 29, 6, 0));
	ck_open(w, 1, utc(2026, 11, 29, 6, 0) - 1, utc(2026, 11, 29, 6, 0));
	ck_closed(w, 1, utc(2026, 11, 29, 6, 0), utc(2026, 12, 5, 20, 0));
	/* Open, the next span is reported too. */
	window_eval(w, 1, utc(2026, 11, 28, 23, 0), &s);
	ck_assert_int_eq(s.next_open, utc(2026, 12, 5, 20, 0));
}
END_TEST

START_TEST(weekly_sunday_night)
{
	struct config_window w[] = { weekly(SUN, 22, 0, 4, 0) };

	use_tz("UTC");
	ck_closed(w, 1, utc(2026, 11, 28, 12, 0), utc(2026, 11, 29, 22, 0));
	ck_open(w, 1, utc(2026, 11, 29, 23, 0), utc(2026, 11, 30, 4, 0));
	ck_open(w, 1, utc(2026, 11, 30, 3, 59), utc(2026, 11, 30, 4, 0));
	ck_closed(w, 1, utc(2026, 11, 30, 4, 0), utc(2026, 12, 6, 22, 0));
	ck_closed(w, 1, utc(2026, 12, 5, 12, 0), utc(2026, 12, 6, 22, 0));
}
END_TEST

START_TEST(dst_forward_berlin)
{
	struct config_window night[] = { weekly(SAT, 20, 0, 6, 0) };
	struct config_window early[] = { weekly(SUN, 1, 0, 5, 0) };
	struct config_window gap[] = { weekly(SUN, 2, 30, 4, 0) };
	struct config_window in_gap[] = { weekly(SUN, 2, 10, 2, 50) };
	int64_t open_at = utc(2026, 3, 28, 19, 0);	/* 20:00 CET */
	int64_t close_at = utc(2026, 3, 29, 4, 0);	/* 06:00 CEST */

	use_tz("Europe/Berlin");
	ck_closed(night, 1, open_at - 1, open_at);
	ck_open(night, 1, open_at, close_at);
	ck_assert_int_eq(close_at - open_at, 9 * H_MS);
	/* The weeks around it last 10 hours, at the right offsets. */
	ck_open(night, 1, utc(2026, 3, 21, 19, 0), utc(2026, 3, 22, 5, 0));
	ck_open(night, 1, utc(2026, 4, 4, 18, 0), utc(2026, 4, 5, 4, 0));

	/* 01:00 CET to 05:00 CEST: three real hours. */
	ck_open(early, 1, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 3, 0));

	/* 02:30 does not exist: the window opens when the clocks jump, at
	 * 03:00 CEST (01:00Z), and closes at 04:00 CEST. */
	ck_closed(gap, 1, utc(2026, 3, 29, 1, 0) - 1, utc(2026, 3, 29, 1, 0));
	ck_open(gap, 1, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0));
	ck_assert_int_eq(window_next_edge(gap, 1, utc(2026, 3, 28, 12, 0)),
	    utc(2026, 3, 29, 1, 0));

	/* Both ends inside the gap: no window that night, the next one a
	 * week later (02:10 CEST). */
	ck_closed(in_gap, 1, utc(2026, 3, 28, 12, 0), utc(2026, 4, 5, 0, 10));
}
END_TEST

START_TEST(dst_back_berlin)
{
	struct config_window night[] = { weekly(SAT, 20, 0, 6, 0) };
	struct config_window twice[] = { weekly(SUN, 2, 30, 5, 0) };
	struct config_window ends_twice[] = { weekly(SUN, 1, 0, 2, 30) };
	int64_t open_at = utc(2026, 10, 24, 18, 0);	/* 20:00 CEST */
	int64_t close_at = utc(2026, 10, 25, 5, 0);	/* 06:00 CET */

	use_tz("Europe/Berlin");
	ck_closed(night, 1, open_at - 1, open_at);
	ck_open(night, 1, open_at, close_at);
	ck_assert_int_eq(close_at - open_at, 11 * H_MS);

	/* 02:30 happens twice: the window opens at the first (CEST, 00:30Z)
	 * and is still open during the second (CET, 01:30Z). */
	ck_closed(twice, 1, utc(2026, 10, 25, 0, 30) - 1, utc(2026, 10, 25, 0, 30));
	ck_open(twice, 1, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 4, 0));
	ck_open(twice, 1, utc(2026, 10, 25, 1, 45), utc(2026, 10, 25, 4, 0));

	/* An end that happens twice is its first occurrence: closed from
	 * 02:30 CEST on, also when the clock reads 02:00 CET again. */
	ck_open(ends_twice, 1, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 0, 30));
	ck_closed(ends_twice, 1, utc(2026, 10, 25, 1, 0), utc(2026, 11, 1, 0, 0));
}
END_TEST

START_TEST(dst_new_york)
{
	struct config_window night[] = { weekly(SAT, 20, 0, 6, 0) };

	use_tz("America/New_York");
	/* Sat 20:00 EST -> Sun 06:00 EDT: 9 hours. */
	ck_open(night, 1, utc(2026, 3, 8, 1, 0), utc(2026, 3, 8, 10, 0));
	/* Sat 20:00 EDT -> Sun 06:00 EST: 11 hours. */
	ck_open(night, 1, utc(2026, 11, 1, 0, 0), utc(2026, 11, 1, 11, 0));
	ck_closed(night, 1, utc(2026, 11, 1, 11, 0), utc(2026, 11, 8, 1, 0));
}
END_TEST

START_TEST(absolute_windows)
{
	int64_t from = utc(2026, 11, 28, 20, 0), to = utc(2026, 11, 30, 6, 0);
	struct config_window w[] = { absolute(from, to) };
	struct config_window past[] = {
		absolute(utc(2026, 1, 3, 20, 0), utc(2026, 1, 4, 6, 0)),
		absolute(utc(2026, 2, 7, 20, 0), utc(2026, 2, 8, 6, 0)),
	};
	struct config_window empty[] = { absolute(from, from) };
	struct window_state s;
	int64_t now = utc(2026, 11, 1, 0, 0);

	use_tz("UTC");
	ck_closed(w, 1, from - 1, from);
	ck_assert_int_eq(window_next_edge(w, 1, from - 1), from);
	ck_open(w, 1, from, to);
	window_eval(w, 1, from, &s);
	ck_assert_int_eq(s.next_open, 0);
	ck_assert_int_eq(window_next_edge(w, 1, from), to);
	ck_closed(w, 1, to, 0);
	ck_assert_int_eq(window_next_edge(w, 1, to), 0);

	/* Windows, all past: closed for good, not "always open". */
	ck_closed(past, N(past), now, 0);
	ck_assert_int_eq(window_next_edge(past, N(past), now), 0);
	ck_closed(past, N(past), utc(2026, 1, 3, 12, 0), utc(2026, 1, 3, 20, 0));
	ck_closed(empty, 1, from - 1, 0);
}
END_TEST

START_TEST(merged_touching)
{
	struct config_window w[] = { weekly(SAT, 20, 0, 6, 0),
	    weekly(SUN, 6, 0, 12, 0) };
	struct config_window gap[] = { weekly(SAT, 20, 0, 6, 0),
	    weekly(SUN, 6, 1, 12, 0) };

	use_tz("UTC");
	ck_open(w, 2, utc(2026, 11, 28, 21, 0), utc(2026, 11, 29, 12, 0));
	ck_open(w, 2, utc(2026, 11, 29, 6, 0), utc(2026, 11, 29, 12, 0));
	ck_assert_int_eq(window_next_edge(w, 2, utc(2026, 11, 28, 21, 0)),
	    utc(2026, 11, 29, 12, 0));
	/* A minute apart is not touching. */
	ck_open(gap, 2, utc(2026, 11, 28, 21, 0), utc(2026, 11, 29, 6, 0));
	ck_closed(gap, 2, utc(2026, 11, 29, 6, 0), utc(2026, 11, 29, 6, 1));
}
END_TEST

START_TEST(merged_overlapping)
{
	struct config_window w[] = { weekly(SAT, 18, 0, 23, 0),
	    weekly(SAT, 22, 0, 2, 0) };
	/* A chain across kinds: weekly, absolute, weekly. */
	struct config_window chain[] = { weekly(SAT, 20, 0, 6, 0),
	    absolute(utc(2026, 11, 29, 5, 0), utc(2026, 11, 29, 8, 0)),
	    weekly(SUN, 8, 0, 10, 0) };
	struct window_state s;

	use_tz("UTC");
	ck_open(w, 2, utc(2026, 11, 28, 19, 0), utc(2026, 11, 29, 2, 0));
	ck_open(chain, 3, utc(2026, 11, 28, 21, 0), utc(2026, 11, 29, 10, 0));
	window_eval(chain, 3, utc(2026, 11, 28, 21, 0), &s);
	ck_assert_int_eq(s.next_open, utc(2026, 12, 5, 20, 0));
	/* The following week has no absolute window: the span breaks. */
	ck_open(chain, 3, utc(2026, 12, 5, 21, 0), utc(2026, 12, 6, 6, 0));
}
END_TEST

START_TEST(whole_week_never_closes)
{
	struct config_window one[] = { weekly(ALLDAYS, 6, 0, 6, 0) };
	struct config_window days[7];
	struct config_window almost[] = { weekly(ALLDAYS, 6, 0, 5, 0) };
	int64_t now = utc(2026, 3, 27, 12, 0);	/* into the DST weekend */
	int i;

	use_tz("Europe/Berlin");
	for (i = 0; i < 7; i++)
		days[i] = weekly(1u << i, 0, 0, 24, 0);
	ck_open(one, 1, now, 0);
	ck_assert_int_eq(window_next_edge(one, 1, now), 0);
	ck_open(days, 7, now, 0);
	ck_assert_int_eq(window_next_edge(days, 7, now), 0);
	/* One hour missing a day: closes at 05:00 CET the next morning. */
	ck_open(almost, 1, now, utc(2026, 3, 28, 4, 0));
}
END_TEST

START_TEST(never_opens)
{
	struct config_window w[] = { weekly(0, 20, 0, 6, 0) };

	use_tz("UTC");
	ck_closed(w, 1, utc(2026, 11, 28, 12, 0), 0);
	ck_assert_int_eq(window_next_edge(w, 1, utc(2026, 11, 28, 12, 0)), 0);
}
END_TEST

START_TEST(next_edge_walk)
{
	/* Two weeks in Europe/Berlin across the change to summer time. */
	struct config_window w[] = { weekly(SAT, 20, 0, 6, 0),
	    weekly(SUN, 6, 0, 12, 0), weekly(WED, 22, 0, 2, 0) };
	const int64_t want[] = {
		utc(2026, 3, 25, 21, 0),	/* Wed 22:00 CET opens */
		utc(2026, 3, 26, 1, 0),		/* Thu 02:00 CET closes */
		utc(2026, 3, 28, 19, 0),	/* Sat 20:00 CET opens */
		utc(2026, 3, 29, 10, 0),	/* Sun 12:00 CEST closes (merged) */
		utc(2026, 4, 1, 20, 0),		/* Wed 22:00 CEST */
		utc(2026, 4, 2, 0, 0),
		utc(2026, 4, 4, 18, 0),
		utc(2026, 4, 5, 10, 0),
	};
	struct window_state before, after;
	int64_t t = utc(2026, 3, 22, 23, 0);	/* Mon 00:00 CET */
	size_t i;

	use_tz("Europe/Berlin");
	window_eval(w, N(w), t, &before);
	ck_assert(!before.open);
	for (i = 0; i < N(want); i++) {
		int64_t e = window_next_edge(w, N(w), t);

		ck_assert_msg(e == want[i], "edge %zu: got %lld, want %lld",
		    i, (long long)e, (long long)want[i]);
		/* Just before the edge the answer names it; at the edge it
		 * flips, alternating open and closed. */
		window_eval(w, N(w), e - 1, &before);
		window_eval(w, N(w), e, &after);
		ck_assert(before.open == (i % 2 == 1));
		ck_assert(after.open == (i % 2 == 0));
		ck_assert_int_eq(before.open ? before.closes_at :
		    before.next_open, e);
		t = e;
	}
}
END_TEST

static Suite *
window_suite(void)
{
	Suite *s = suite_create("window");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, no_windows_always_open);
	tcase_add_test(tc, weekly_inside_outside);
	tcase_add_test(tc, weekly_across_midnight);
	tcase_add_test(tc, weekly_sunday_night);
	tcase_add_test(tc, dst_forward_berlin);
	tcase_add_test(tc, dst_back_berlin);
	tcase_add_test(tc, dst_new_york);
	tcase_add_test(tc, absolute_windows);
	tcase_add_test(tc, merged_touching);
	tcase_add_test(tc, merged_overlapping);
	tcase_add_test(tc, whole_week_never_closes);
	tcase_add_test(tc, never_opens);
	tcase_add_test(tc, next_edge_walk);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(window_suite());
}
