/*
 * version — Exchange build numbers, compared numerically.
 *
 * An Exchange 2007 version has four numeric parts, major.minor.build.revision:
 * RTM 8.0.685.24, SP1 8.1.240.6, SP2 8.2.176.2, SP3 8.3.83.6. Update rollups
 * raise the build (and revision) within a service pack, so "at the target or
 * later" is a plain numeric comparison, never a string one ("8.1.240.6" sorts
 * after "8.1.1000.0" as a string).
 */
#ifndef EXROLL_VERSION_H
#define EXROLL_VERSION_H

#include <stddef.h>
#include <stdint.h>

struct version {
	uint32_t part[4];
};

/* "8.1.240.6": exactly four dot-separated decimal parts, each < 2^31.
 * Returns 0 or -EINVAL; *out is written only on success. */
int version_parse(const char *s, struct version *out);

/* Exchange's AdminDisplayVersion, "Version 8.1 (Build 240.6)", as
 * Get-ExchangeServer prints it. Returns 0 or -EINVAL. */
int version_parse_display(const char *s, struct version *out);

/* <0, 0, >0 as a is older than, equal to, newer than b. */
int version_cmp(const struct version *a, const struct version *b);

/* "8.1.240.6" into buf (at least VERSION_STRLEN bytes). Returns buf. */
#define VERSION_STRLEN 48
char *version_format(const struct version *v, char *buf, size_t len);

/* A name for well-known versions ("Exchange 2007 SP1"), or NULL. */
const char *version_release_name(const struct version *v);

#endif
