/*
 * role — role names.
 */
#include "role.h"

#include <errno.h>
#include <string.h>

static const char *const role_names[ROLE_COUNT] = {
	[ROLE_CLIENT_ACCESS] = "ClientAccess",
	[ROLE_EDGE_TRANSPORT] = "EdgeTransport",
	[ROLE_HUB_TRANSPORT] = "HubTransport",
	[ROLE_UNIFIED_MESSAGING] = "UnifiedMessaging",
	[ROLE_MAILBOX] = "Mailbox",
};

const char *
role_name(enum role r)
{
	return (unsigned)r < ROLE_COUNT ? role_names[r] : "unknown";
}

int
role_parse(const char *s, enum role *out)
{
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (strcmp(s, role_names[r]) == 0) {
			*out = (enum role)r;
			return 0;
		}
	}
	return -EINVAL;
}

int
role_parse_list(const char *s, unsigned *mask)
{
	unsigned m = 0;
	const char *p = s;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		for (int r = 0; r < ROLE_COUNT; r++) {
			if (n == strlen(role_names[r]) &&
			    strncmp(p, role_names[r], n) == 0)
				m |= ROLE_BIT(r);
		}
		p += n;
	}
	if (m == 0)
		return -EINVAL;
	*mask = m;
	return 0;
}
