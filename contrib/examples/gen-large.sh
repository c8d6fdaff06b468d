#!/bin/sh
# gen-large.sh — a large example organization, for tests and benchmarks.
#
#   contrib/examples/gen-large.sh [SERVERS [CLUSTERS]] > large.json
#
# Writes SERVERS servers (default 1000), 2 * CLUSTERS of which (CLUSTERS
# defaults to 100) are the Mailbox nodes of CLUSTERS CCR clusters. The other
# servers cycle through the standalone kinds ten at a time: 3 Client Access,
# 2 Hub Transport, 1 Edge Transport, 1 Unified Messaging, 2 Mailbox and
# 1 CAS+Hub+Mailbox box. The output depends on the arguments only.
#
# The checked-in large.json is `gen-large.sh 1000 100`; benchmarks make a
# 10,000-server organization with `gen-large.sh 10000 1000`.
# POSIX sh and awk only: CI machines may have no python.
set -eu

usage() {
	echo "usage: gen-large.sh [SERVERS [CLUSTERS]]" >&2
	echo "  SERVERS >= 1, and SERVERS >= 2 * CLUSTERS" >&2
	exit 2
}

[ $# -le 2 ] || usage
servers=${1:-1000}
clusters=${2:-100}
case $servers in '' | *[!0-9]*) usage ;; esac
case $clusters in '' | *[!0-9]*) usage ;; esac
[ "$servers" -ge 1 ] && [ "$servers" -ge $((2 * clusters)) ] || usage

exec awk -v n="$servers" -v m="$clusters" '
function server(name, roles) {
	printf "    {\"name\": \"%s\", \"roles\": [%s]}%s\n", name, roles,
	    ++printed < n ? "," : ""
}
BEGIN {
	cas = "\"ClientAccess\""; hub = "\"HubTransport\""
	edge = "\"EdgeTransport\""; um = "\"UnifiedMessaging\""
	mbx = "\"Mailbox\""

	print "{"
	print "  \"target_version\": \"8.1.240.6\","
	print "  \"state_file\": \"/tmp/exroll-large/state.db\","
	print "  \"socket\": \"/tmp/exroll-large/control.sock\","
	print "  \"gateway\": {\"url\": \"http://127.0.0.1:8080/\", \"max_in_flight\": 64},"
	print "  \"policy\": {"
	print "    \"max_parallel\": {\"ClientAccess\": 20, \"EdgeTransport\": 5, \"HubTransport\": 10,"
	print "                     \"UnifiedMessaging\": 5, \"Mailbox\": 10},"
	print "    \"checkpoints\": \"auto\""
	print "  },"
	print "  \"servers\": ["
	for (i = 0; i < n - 2 * m; i++) {
		k = i % 10
		if (k < 3)
			server(sprintf("CAS%04d", ++ncas), cas)
		else if (k < 5)
			server(sprintf("HUB%04d", ++nhub), hub)
		else if (k == 5)
			server(sprintf("EDGE%04d", ++nedge), edge)
		else if (k == 6)
			server(sprintf("UM%04d", ++num), um)
		else if (k < 9)
			server(sprintf("MBX%04d", ++nmbx), mbx)
		else
			server(sprintf("EXALL%04d", ++nall), cas ", " hub ", " mbx)
	}
	for (c = 1; c <= m; c++) {
		server(sprintf("CCR%04dA", c), mbx)
		server(sprintf("CCR%04dB", c), mbx)
	}
	print "  ],"
	print "  \"clusters\": ["
	for (c = 1; c <= m; c++)
		printf "    {\"name\": \"CMS%04d\", \"type\": \"CCR\", \"nodes\": [\"CCR%04dA\", \"CCR%04dB\"]}%s\n",
		    c, c, c, c < m ? "," : ""
	print "  ]"
	print "}"
}'
