/*
 * version — parsing and numeric comparison of Exchange build numbers.
 */
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Reads one decimal part of at most 10 digits below 2^31. */
static const char *
version_part(const char *p, uint32_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (++n > 10 || v > 0x7fffffffu)
			return NULL;
		p++;
	}
	if (n == 0)
		return NULL;
	*out = (uint32_t)v;
	return p;
}

int
version_parse(const char *s, struct version *out)
{
	struct version v;
	const char *p = s;

	if (s == NULL)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		if ((p = version_part(p, &v.part[i])) == NULL)
			return -EINVAL;
		if (i < 3 && *p++ != '.')
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int
version_parse_display(const char *s, struct version *out)
{
	struct version v;
	const char *p = s;

	if (s == NULL || strncmp(p, "Version ", 8) != 0)
		return -EINVAL;
	p += 8;
	if ((p = version_part(p, &v.part[0])) == NULL || *p++ != '.')
		return -EINVAL;
	if ((p = version_part(p, &v.part[1])) == NULL)
		return -EINVAL;
	if (strncmp(p, " (Build ", 8) != 0)
		return -EINVAL;
	p += 8;
	if ((p = version_part(p, &v.part[2])) == NULL || *p++ != '.')
		return -EINVAL;
	if ((p = version_part(p, &v.part[3])) == NULL)
		return -EINVAL;
	if (strcmp(p, ")") != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int
version_cmp(const struct version *a, const struct version *b)
{
	for (int i = 0; i < 4; i++) {
		if (a->part[i] != b->part[i])
			return a->part[i] < b->part[i] ? -1 : 1;
	}
	return 0;
}

char *
version_format(const struct version *v, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", v->part[0], v->part[1], v->part[2],
	    v->part[3]);
	return buf;
}

const char *
version_release_name(const struct version *v)
{
	static const struct {
		struct version v;
		const char *name;
	} known[] = {
		{ { { 8, 0, 685, 24 } }, "Exchange 2007 RTM" },
		{ { { 8, 1, 240, 6 } }, "Exchange 2007 SP1" },
		{ { { 8, 2, 176, 2 } }, "Exchange 2007 SP2" },
		{ { { 8, 3, 83, 6 } }, "Exchange 2007 SP3" },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (version_cmp(v, &known[i].v) == 0)
			return known[i].name;
	}
	return NULL;
}
