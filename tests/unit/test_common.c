/*
 * test_common — what exrolld and exrollctl share: version numbers, host
 * names, roles, time formats and the control protocol's line framing.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "proto.h"
#include "role.h"
#include "timefmt.h"
#include "version.h"

#include "testutil.h"

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- version ---- */

static struct version
ver(const char *s)
{
	struct version v;

	ck_assert_msg(version_parse(s, &v) == 0, "cannot parse '%s'", s);
	return v;
}

START_TEST(version_parse_good)
{
	struct version v = ver("8.1.240.6");
	char buf[VERSION_STRLEN];

	ck_assert_uint_eq(v.part[0], 8);
	ck_assert_uint_eq(v.part[1], 1);
	ck_assert_uint_eq(v.part[2], 240);
	ck_assert_uint_eq(v.part[3], 6);
	ck_assert_str_eq(version_format(&v, buf, sizeof(buf)), "8.1.240.6");
	v = ver("2147483647.0.0.0");
	ck_assert_uint_eq(v.part[0], 2147483647u);
	v = ver("08.01.0240.06");
	ck_assert_str_eq(version_format(&v, buf, sizeof(buf)), "8.1.240.6");
}
END_TEST

static const char *const bad_versions[] = {
	"", "8", "8.1.240", "8.1.240.6.1", "8.1..6", "8.1.240.", ".8.1.240",
	"a.b.c.d", "8.1.240.6 ", " 8.1.240.6", "-1.0.0.0", "+8.1.240.6",
	"8.1.240.6a", "2147483648.0.0.0", "12345678901.0.0.0", "8,1,240,6",
};

START_TEST(version_parse_bad)
{
	struct version v = { { 1, 2, 3, 4 } };

	ck_assert_int_eq(version_parse(bad_versions[_i], &v), -EINVAL);
	/* Written only on success. */
	ck_assert_uint_eq(v.part[0], 1);
	ck_assert_uint_eq(v.part[3], 4);
}
END_TEST

/* Numeric, never textual: rollups raise the build and the revision. */
static const struct {
	const char *a, *b;
	int sign;
} version_order[] = {
	{ "8.1.263.1", "8.1.240.6", 1 },	/* SP1 Update Rollup 1 */
	{ "8.1.1000.0", "8.1.240.6", 1 },	/* "1000" < "240" as text */
	{ "8.1.240.10", "8.1.240.6", 1 },
	{ "8.2.176.2", "8.1.1000.0", 1 },
	{ "8.0.685.24", "8.1.240.6", -1 },
	{ "8.1.240.6", "8.1.240.6", 0 },
	{ "9.0.0.0", "8.3.83.6", 1 },
	{ "8.1.240.5", "8.1.240.6", -1 },
};

START_TEST(version_compare)
{
	struct version a = ver(version_order[_i].a), b = ver(version_order[_i].b);
	int s = version_order[_i].sign;

	ck_assert_int_eq(version_cmp(&a, &b) > 0, s > 0);
	ck_assert_int_eq(version_cmp(&a, &b) < 0, s < 0);
	ck_assert_int_eq(version_cmp(&a, &b) == 0, s == 0);
	ck_assert_int_eq(version_cmp(&b, &a) > 0, s < 0);
}
END_TEST

START_TEST(version_display)
{
	struct version v, want = ver("8.1.240.6");
	static const char *const bad[] = {
		"Version 8.1 (Build 240.6", "version 8.1 (Build 240.6)",
		"Version 8.1 (Build 240)", "Version 8.1(Build 240.6)",
		"Version 8.1 (Build 240.6) ", "Version 8 (Build 240.6)",
		"8.1.240.6", "Version 8.1 (Build 240.x)", "",
	};

	ck_assert_int_eq(version_parse_display("Version 8.1 (Build 240.6)",
	    &v), 0);
	ck_assert_int_eq(version_cmp(&v, &want), 0);
	want = ver("8.3.83.6");
	ck_assert_int_eq(version_parse_display("Version 8.3 (Build 83.6)",
	    &v), 0);
	ck_assert_int_eq(version_cmp(&v, &want), 0);
	want = ver("8.1.1000.0");
	ck_assert_int_eq(version_parse_display("Version 8.1 (Build 1000.0)",
	    &v), 0);
	ck_assert_int_eq(version_cmp(&v, &want), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(version_parse_display(bad[i], &v) == -EINVAL,
		    "accepted '%s'", bad[i]);
	ck_assert_int_eq(version_parse_display(NULL, &v), -EINVAL);
	ck_assert_int_eq(version_parse(NULL, &v), -EINVAL);
}
END_TEST

START_TEST(version_names)
{
	struct version v;

	v = ver("8.0.685.24");
	ck_assert_str_eq(version_release_name(&v), "Exchange 2007 RTM");
	v = ver("8.1.240.6");
	ck_assert_str_eq(version_release_name(&v), "Exchange 2007 SP1");
	v = ver("8.2.176.2");
	ck_assert_str_eq(version_release_name(&v), "Exchange 2007 SP2");
	v = ver("8.3.83.6");
	ck_assert_str_eq(version_release_name(&v), "Exchange 2007 SP3");
	v = ver("8.1.263.1");
	ck_assert_ptr_null(version_release_name(&v));
}
END_TEST

/* ---- name ---- */

#define L63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"

START_TEST(host_names_good)
{
	static const char *const good[] = {
		"EXCAS01", "mbx-01", "a", "7", "MBX1A.corp.example.org",
		"x-y-z", L63, L63 "." L63 "." L63 "." "abcdefghijabcdefghijab"
		"cdefghijabcdefghijabcdefghijabcdefghija",
	};

	ck_assert_uint_eq(strlen(good[NCASES(good) - 1]), 253);
	for (int i = 0; i < NCASES(good); i++)
		ck_assert_msg(name_valid_host(good[i]), "refused '%s'", good[i]);
}
END_TEST

/* Nothing that could mean something to PowerShell or a shell. */
static const char *const bad_hosts[] = {
	"", "EX'01", "EX\"01", "EX 01", " EX01", "EX01 ", "$EX01", "EX`01",
	"EX;01", "-EX01", "EX01-", "EX01.-a", "EX01-.a", "a..b", ".a", "a.",
	"EX_01", "EX(01)", "EX|01", "EX&01", "EX01\n", "EX\t01", "EX@01",
	"EX/01", "EX\\01", "EX01$", "EX{01}", "\xc3\xa9X01", "EX:01",
	L63 "x", L63 "." L63 "." L63 "." "abcdefghijabcdefghijab"
	"cdefghijabcdefghijabcdefghijabcdefghijab",
};

START_TEST(host_names_bad)
{
	ck_assert_msg(!name_valid_host(bad_hosts[_i]), "accepted '%s'",
	    bad_hosts[_i]);
}
END_TEST

START_TEST(names_equal_and_job_ids)
{
	char id[66];

	ck_assert(!name_valid_host(NULL));
	ck_assert(name_equal("MBX1A", "mbx1a"));
	ck_assert(name_equal("cas01", "CAS01"));
	ck_assert(!name_equal("CAS01", "CAS010"));

	ck_assert(name_valid_job_id("j-1"));
	ck_assert(name_valid_job_id("A.b_c-9"));
	memset(id, 'a', 64);
	id[64] = '\0';
	ck_assert(name_valid_job_id(id));
	id[64] = 'a';
	id[65] = '\0';
	ck_assert(!name_valid_job_id(id));
	ck_assert(!name_valid_job_id(""));
	ck_assert(!name_valid_job_id(NULL));
	ck_assert(!name_valid_job_id("a b"));
	ck_assert(!name_valid_job_id("a/b"));
	ck_assert(!name_valid_job_id("a:b"));
	ck_assert(!name_valid_job_id("a?b"));
}
END_TEST

/* ---- role ---- */

START_TEST(roles)
{
	static const char *const names[ROLE_COUNT] = { "ClientAccess",
		"EdgeTransport", "HubTransport", "UnifiedMessaging", "Mailbox" };
	enum role r = ROLE_MAILBOX;
	unsigned mask = 0;

	for (int i = 0; i < ROLE_COUNT; i++) {
		ck_assert_str_eq(role_name((enum role)i), names[i]);
		ck_assert_int_eq(role_parse(names[i], &r), 0);
		ck_assert_int_eq(r, i);
	}
	ck_assert_str_eq(role_name(ROLE_COUNT), "unknown");
	ck_assert_int_eq(role_parse("mailbox", &r), -EINVAL);
	ck_assert_int_eq(role_parse("Mailbox ", &r), -EINVAL);
	ck_assert_int_eq(role_parse("", &r), -EINVAL);
	ck_assert_int_eq(r, ROLE_MAILBOX);	/* written only on success */

	ck_assert_int_eq(role_parse_list("Mailbox, ClientAccess, HubTransport",
	    &mask), 0);
	ck_assert_uint_eq(mask, ROLE_BIT(ROLE_MAILBOX) |
	    ROLE_BIT(ROLE_CLIENT_ACCESS) | ROLE_BIT(ROLE_HUB_TRANSPORT));
	ck_assert_int_eq(role_parse_list("None, UnifiedMessaging", &mask), 0);
	ck_assert_uint_eq(mask, ROLE_BIT(ROLE_UNIFIED_MESSAGING));
	ck_assert_int_eq(role_parse_list("None", &mask), -EINVAL);
	ck_assert_int_eq(role_parse_list("", &mask), -EINVAL);
	ck_assert_int_eq(role_parse_list("MailboxClientAccess", &mask), -EINVAL);
	ck_assert_uint_eq(mask, ROLE_BIT(ROLE_UNIFIED_MESSAGING));
	/* Get-ExchangeServer spells the Edge Transport role "Edge". */
	ck_assert_int_eq(role_parse_list("Edge", &mask), 0);
	ck_assert_uint_eq(mask, ROLE_BIT(ROLE_EDGE_TRANSPORT));
	ck_assert_int_eq(role_parse_list("Edger", &mask), -EINVAL);
}
END_TEST

/* ---- timefmt ---- */

static const struct {
	int64_t ms;
	const char *text;
} rfc3339[] = {
	{ 0, "1970-01-01T00:00:00.000Z" },
	{ 1795896000123LL, "2026-11-28T20:00:00.123Z" },
	{ 1796018400000LL, "2026-11-30T06:00:00.000Z" },
	{ 951782400000LL, "2000-02-29T00:00:00.000Z" },
	{ -86399999LL, "1969-12-31T00:00:00.001Z" },
	{ 4102444799999LL, "2099-12-31T23:59:59.999Z" },
};

START_TEST(rfc3339_round_trip)
{
	char buf[TIME_RFC3339_LEN];
	int64_t back = 42;

	ck_assert_str_eq(time_format_rfc3339(rfc3339[_i].ms, buf, sizeof(buf)),
	    rfc3339[_i].text);
	ck_assert_int_eq(time_parse_rfc3339(buf, &back), 0);
	ck_assert_int_eq(back, rfc3339[_i].ms);
}
END_TEST

START_TEST(rfc3339_forms)
{
	static const char *const bad[] = {
		"2026-11-28", "2026-11-28T20:00:00", "2026-11-28T20:00Z",
		"2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
		"2026-11-28T25:00:00Z", "2026-11-28T20:60:00Z",
		"2026-11-28T20:00:00+0100", "2026-11-28T20:00:00.Z",
		"2026-11-28T20:00:00Zjunk", "26-11-28T20:00:00Z", "", "now",
	};
	const int64_t base = 1795896000000LL;	/* 2026-11-28T20:00:00Z */
	int64_t ms = 7;

	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T20:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, base);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-28t20:00:00z", &ms), 0);
	ck_assert_int_eq(ms, base);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T21:30:00+01:30", &ms), 0);
	ck_assert_int_eq(ms, base);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T15:00:00-05:00", &ms), 0);
	ck_assert_int_eq(ms, base);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T20:00:00.5Z", &ms), 0);
	ck_assert_int_eq(ms, base + 500);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T20:00:00.123456Z",
	    &ms), 0);
	ck_assert_int_eq(ms, base + 123);
	ms = 7;
	for (int i = 0; i < NCASES(bad); i++) {
		ck_assert_msg(time_parse_rfc3339(bad[i], &ms) == -EINVAL,
		    "accepted '%s'", bad[i]);
		ck_assert_int_eq(ms, 7);
	}
}
END_TEST

START_TEST(durations_and_clocks)
{
	char buf[32];
	int64_t a, b;

	ck_assert_str_eq(time_format_duration(45000, buf, sizeof(buf)), "45 s");
	ck_assert_str_eq(time_format_duration(-5, buf, sizeof(buf)), "0 s");
	ck_assert_str_eq(time_format_duration(125000, buf, sizeof(buf)), "2 min");
	ck_assert_str_eq(time_format_duration((3 * 3600 + 12 * 60) * 1000LL,
	    buf, sizeof(buf)), "3 h 12 min");
	ck_assert_str_eq(time_format_duration((2 * 86400 + 3 * 3600) * 1000LL,
	    buf, sizeof(buf)), "2 d 3 h");
	ck_assert_int_eq(time_s_to_ms(2.25), 2250);
	ck_assert_int_eq(time_s_to_ms(14400), 14400000);
	ck_assert_int_eq(time_s_to_ms(0.0004), 0);

	ck_assert_int_gt(time_now_ms(), 1577836800000LL);	/* 2020 */
	a = time_mono_ms();
	b = time_mono_ms();
	ck_assert_int_ge(b, a);
}
END_TEST

/* ---- proto ---- */

static int
feed(struct proto_reader *r, const char *s)
{
	return proto_reader_feed(r, s, strlen(s));
}

START_TEST(proto_lines)
{
	struct proto_reader r;
	char *line;
	size_t len;

	proto_reader_init(&r);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 0);
	ck_assert_int_eq(feed(&r, "{\"id\":1}\n{\"id\""), 0);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 1);
	ck_assert_str_eq(line, "{\"id\":1}");
	ck_assert_uint_eq(len, 8);
	/* Half a line waits for the rest. */
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 0);
	ck_assert_int_eq(feed(&r, ":2}\r\n\n{\"id\":3}\n"), 0);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 1);
	ck_assert_str_eq(line, "{\"id\":2}");	/* '\r' removed */
	ck_assert_uint_eq(len, 8);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 1);
	ck_assert_str_eq(line, "");
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 1);
	ck_assert_str_eq(line, "{\"id\":3}");
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 0);
	proto_reader_free(&r);
}
END_TEST

/* Many pipelined requests arrive byte by byte and all come out. */
START_TEST(proto_pipelined)
{
	struct proto_reader r;
	char want[32], *line;
	size_t len;
	int got = 0;

	proto_reader_init(&r);
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(want, sizeof(want), "{\"id\":%d}\n", i);

		for (int k = 0; k < n; k++)
			ck_assert_int_eq(proto_reader_feed(&r, want + k, 1), 0);
		while (proto_reader_next(&r, &line, &len) == 1) {
			snprintf(want, sizeof(want), "{\"id\":%d}", got++);
			ck_assert_str_eq(line, want);
		}
	}
	ck_assert_int_eq(got, 2000);
	proto_reader_free(&r);
}
END_TEST

/* At most PROTO_MAX_LINE bytes a line; longer is refused whether it
 * arrives whole or is still coming. */
START_TEST(proto_limit)
{
	size_t big = PROTO_MAX_LINE + 2;
	char *buf = malloc(big + 16), *line;
	struct proto_reader r;
	size_t len;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'x', big + 16);

	/* Exactly the limit: fine. */
	proto_reader_init(&r);
	buf[PROTO_MAX_LINE] = '\n';
	ck_assert_int_eq(proto_reader_feed(&r, buf, PROTO_MAX_LINE + 1), 0);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), 1);
	ck_assert_uint_eq(len, PROTO_MAX_LINE);
	proto_reader_free(&r);

	/* One byte more, complete in one feed: refused by next(). */
	proto_reader_init(&r);
	buf[PROTO_MAX_LINE] = 'x';
	buf[PROTO_MAX_LINE + 1] = '\n';
	ck_assert_int_eq(proto_reader_feed(&r, buf, PROTO_MAX_LINE + 2), 0);
	ck_assert_int_eq(proto_reader_next(&r, &line, &len), -EMSGSIZE);
	proto_reader_free(&r);

	/* Over the limit and still no newline: refused by feed(). */
	proto_reader_init(&r);
	ck_assert_int_eq(feed(&r, "{\"id\":1}\n"), 0);
	for (size_t off = 0; off < PROTO_MAX_LINE; off += 4096)
		ck_assert_int_eq(proto_reader_feed(&r, buf, 4096), 0);
	ck_assert_int_eq(proto_reader_feed(&r, buf, 1), -EMSGSIZE);
	proto_reader_free(&r);

	/* 100 KiB in 1 KiB pieces: caught once the limit is passed. */
	proto_reader_init(&r);
	{
		int rc = 0;
		size_t fed = 0;

		while (fed < 100 * 1024 && (rc = proto_reader_feed(&r, buf,
		    1024)) == 0)
			fed += 1024;
		ck_assert_int_eq(rc, -EMSGSIZE);
		ck_assert_uint_le(fed, PROTO_MAX_LINE);
	}
	proto_reader_free(&r);
	free(buf);
}
END_TEST

static Suite *
common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *v = tcase_create("version");
	TCase *n = tcase_create("name");
	TCase *t = tcase_create("time");
	TCase *p = tcase_create("proto");

	tcase_add_test(v, version_parse_good);
	tcase_add_loop_test(v, version_parse_bad, 0, NCASES(bad_versions));
	tcase_add_loop_test(v, version_compare, 0, NCASES(version_order));
	tcase_add_test(v, version_display);
	tcase_add_test(v, version_names);
	suite_add_tcase(s, v);

	tcase_add_test(n, host_names_good);
	tcase_add_loop_test(n, host_names_bad, 0, NCASES(bad_hosts));
	tcase_add_test(n, names_equal_and_job_ids);
	tcase_add_test(n, roles);
	suite_add_tcase(s, n);

	tcase_add_loop_test(t, rfc3339_round_trip, 0, NCASES(rfc3339));
	tcase_add_test(t, rfc3339_forms);
	tcase_add_test(t, durations_and_clocks);
	suite_add_tcase(s, t);

	tcase_add_test(p, proto_lines);
	tcase_add_test(p, proto_pipelined);
	tcase_add_test(p, proto_limit);
	suite_add_tcase(s, p);
	return s;
}

int
main(void)
{
	return tu_run(common_suite());
}
