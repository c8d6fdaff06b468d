/*
 * name — host-name and job-id validation.
 */
#include "name.h"

#include <string.h>
#include <strings.h>

static bool
name_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

bool
name_valid_host(const char *s)
{
	size_t label = 0, total = 0;
	char prev = '.';

	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p; p++, total++) {
		char c = *p;

		if (c == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
		} else if (name_alnum(c) || c == '-') {
			if (c == '-' && label == 0)
				return false;
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		prev = c;
	}
	return total <= 253 && label > 0 && prev != '-';
}

bool
name_equal(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool
name_valid_job_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n]; n++) {
		if (!name_alnum(s[n]) && s[n] != '.' && s[n] != '_' &&
		    s[n] != '-')
			return false;
	}
	return n >= 1 && n <= 64;
}
