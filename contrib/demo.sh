#!/usr/bin/env bash
# demo.sh — exrolld upgrading the example organization end to end.
#
#   contrib/demo.sh [BUILD_DIR]        (make demo runs it)
#
# Starts exchange-sim on contrib/examples/exroll.json with time running
# 600 times faster (an hour of setup takes six seconds, the weekend about a
# minute), starts exrolld on the same organization with rehearsal timings,
# shows progress, approves each CCR checkpoint as an operator would, and
# prints the result and what the simulator recorded. Exit status 0 only if
# the rollout completed with every server at the target and the simulator
# saw nothing a real organization would not forgive.
set -euo pipefail

build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
org=$src/contrib/examples/exroll.json
work=$(mktemp -d "${TMPDIR:-/tmp}/exroll-demo.XXXXXX")
sim_pid='' daemon_pid=''

cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	if [ "${keep:-0}" = 1 ]; then
		echo "logs kept in $work"
	else
		rm -rf "$work"
	fi
	return 0
}
trap cleanup EXIT

for tool in jq curl; do
	command -v $tool >/dev/null || { echo "demo: '$tool' is missing (make deps installs it)" >&2; exit 1; }
done

# Waits up to $2 tenths of a second for the command $1 to succeed.
wait_for() {
	local i
	for ((i = 0; i < $2; i++)); do
		eval "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting exchange-sim (time x600) on the example organization"
"$build/exchange-sim" --org "$org" --port 0 --port-file "$work/sim.port" \
	--time-scale 600 --reboot-required EXALL01 --seed 7 \
	>"$work/sim.log" 2>&1 &
sim_pid=$!
wait_for "[ -s '$work/sim.port' ]" 100 || { keep=1; echo "exchange-sim did not start" >&2; exit 1; }
port=$(cat "$work/sim.port")
sim=http://127.0.0.1:$port

# The demo's configuration: rehearsal timings around the example's
# inventory (its "servers" and "clusters", taken as they are).
{
	cat <<EOF
{"target_version": "8.1.240.6",
  "state_file": "$work/state.db",
  "socket": "$work/control.sock",
  "gateway": {"url": "$sim/", "request_timeout_s": 10, "poll_interval_s": 0.2},
  "policy": {"max_parallel": {"Mailbox": 2}, "verify_interval_s": 0.5,
             "verify_timeout_s": 60, "retry_backoff_s": 1,
             "install_timeout_s": 120, "checkpoints": "approve"},
EOF
	sed -n '/"servers"/,$p' "$org"
} >"$work/exroll.json"

say "the plan"
"$build/exrolld" --config "$work/exroll.json" --check-config
"$build/exrolld" --config "$work/exroll.json" --plan

say "starting exrolld"
"$build/exrolld" --config "$work/exroll.json" >"$work/exrolld.log" 2>&1 &
daemon_pid=$!
ctl() { "$build/exrollctl" --socket "$work/control.sock" "$@"; }
wait_for "ctl ping" 100 || { keep=1; cat "$work/exrolld.log" >&2; exit 1; }

approved=' '
last=''
deadline=$((SECONDS + 300))
while :; do
	status=$(ctl --json status)
	state=$(jq -r .state <<<"$status")
	line=$(jq -r '"\(.state): \(.progress.done)/\(.progress.total) servers (\(.progress.percent)%)" + (if .current_wave then ", wave \(.current_wave.index) \(.current_wave.role)" else "" end)' <<<"$status")
	if [ "$line" != "$last" ]; then
		echo "$(date +%T)  $line"
		last=$line
	fi
	while read -r cluster checkpoint; do
		[ -z "$cluster" ] && continue
		case "$approved" in *" $cluster/$checkpoint "*) continue ;; esac
		echo "$(date +%T)  approving $checkpoint of $cluster"
		ctl approve "$cluster" "$checkpoint"
		approved="$approved$cluster/$checkpoint "
	done < <(jq -r '.pending_checkpoints[] | "\(.cluster) \(.checkpoint)"' <<<"$status")
	case "$state" in completed | aborted) break ;; paused)
		keep=1
		echo "the rollout paused: $(jq -r .reason <<<"$status")" >&2
		ctl status >&2
		exit 1 ;;
	esac
	if [ $SECONDS -gt $deadline ]; then
		keep=1
		echo "demo: no completion after 300 s" >&2
		exit 1
	fi
	sleep 0.5
done

say "result"
ctl status
ctl servers
ctl clusters

say "what the simulated organization recorded"
record=$(curl -fsS "$sim/sim/record")
jq -r '"commands received: \(.commands | length)",
       "setups per server: \(.setups | to_entries | map("\(.key)=\(.value)") | join(" "))",
       "moves per cluster: \(.moves | to_entries | map("\(.key)=\(.value)") | join(" "))",
       "violations: \(.violations | length)"' <<<"$record"
jq -r '.violations[] | "  \(.kind): \(.message)"' <<<"$record"

versions=$(curl -fsS "$sim/sim/state" | jq -r '[.servers[] | select(.version != "8.1.240.6")] | length')
violations=$(jq '.violations | length' <<<"$record")
if [ "$state" = completed ] && [ "$versions" = 0 ] && [ "$violations" = 0 ]; then
	echo
	echo "every server is at 8.1.240.6 (Exchange 2007 SP1); no violation."
	exit 0
fi
keep=1
echo "demo failed: state $state, $versions servers not at the target, $violations violations" >&2
exit 1
