/*
 * name — validation of server and cluster names.
 *
 * Every name that reaches the gateway as a PowerShell parameter value is
 * checked here first, at configuration load: a host name is 1 to 253
 * characters of dot-separated labels, each 1 to 63 of A-Z a-z 0-9 and '-',
 * not starting or ending with '-'. No quote, space, '$', '`', ';' or any
 * other character that could mean something to PowerShell gets through.
 */
#ifndef EXROLL_NAME_H
#define EXROLL_NAME_H

#include <stdbool.h>
#include <stddef.h>

bool name_valid_host(const char *s);

/* Case-insensitive equality, as Windows compares computer names. */
bool name_equal(const char *a, const char *b);

/* Gateway job ids: 1-64 of A-Z a-z 0-9 . _ - (DESIGN §2). */
bool name_valid_job_id(const char *s);

#endif
