/*
 * role — role names.
 */
#include "role.h"

#include <errno.h>
#include <stdbool.h>
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

/* Get-ExchangeServer's ServerRole spells the Edge Transport role "Edge". */
static bool
role_word(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && strncmp(p, name, n) == 0;
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
			if (role_word(p, n, role_names[r]))
				m |= ROLE_BIT(r);
		}
		if (role_word(p, n, "Edge"))
			m |= ROLE_BIT(ROLE_EDGE_TRANSPORT);
		p += n;
	}
	if (m == 0)
		return -EINVAL;
	*mask = m;
	return 0;
}
