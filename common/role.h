/*
 * role — the Exchange 2007 server roles, in the default upgrade order.
 *
 * The enum order is the default wave order of DESIGN §1; role_order in the
 * configuration may change it. Role sets are bit masks of ROLE_BIT(role).
 */
#ifndef EXROLL_ROLE_H
#define EXROLL_ROLE_H

enum role {
	ROLE_CLIENT_ACCESS,
	ROLE_EDGE_TRANSPORT,
	ROLE_HUB_TRANSPORT,
	ROLE_UNIFIED_MESSAGING,
	ROLE_MAILBOX,
	ROLE_COUNT
};

#define ROLE_BIT(r) (1u << (r))

/* "ClientAccess", "EdgeTransport", "HubTransport", "UnifiedMessaging",
 * "Mailbox": the names Exchange's ServerRole uses. */
const char *role_name(enum role r);

/* Exact, case-sensitive name as above. Returns 0 or -EINVAL. */
int role_parse(const char *s, enum role *out);

/* Exchange's ServerRole text, "Mailbox, ClientAccess, HubTransport", into a
 * mask; "Edge" is Exchange's word for the Edge Transport role. Unknown words
 * are ignored (Exchange may list more, e.g. "None").
 * Returns 0 or -EINVAL when no known role appears. */
int role_parse_list(const char *s, unsigned *mask);

#endif
