#!/usr/bin/env bash
# Benchmark: one worker driving N peerings (one VNet peered with N project
# VPCs) against the simulated cloud with a per-request latency, then
# re-checking N ACTIVE connections.  Prints figures; asserts nothing.
#
#   bash bench/worker_scale.sh [N] [latency_ms] [max_parallel_requests] [recheck_seconds]
#
# Run as root on Debian 12 (installs what is missing, like scripts/test.sh).
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
N=${1:-100}
LATENCY=${2:-20}
PARALLEL=${3:-8}
RECHECK_SECONDS=${4:-20}

prepare
work=$(make_work_copy)
bindir=$($PG_CONFIG --bindir)
port=$(free_port)
cleanup_on_exit 'stop_all "$work"'

start_fakecloud "$work" --latency-ms "$LATENCY" >/dev/null
base=$(world base_url); ca=$(world ca_file)
fake() { curl -s --cacert "$ca" "$@"; }
calc() { /usr/bin/python3 -c "print($1)"; }
start_cluster "$work" "$port" "peering.poll_interval = 1s" \
	"peering.max_parallel_requests = $PARALLEL"
sql() { as_pg "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres "$@"; }

vpcs=$(fake -X POST "$base/_fake/seed" -d "{\"aiven_vpcs\": [{\"cloud_name\": \"azure-westeurope\", \"network_cidr\": \"10.100.0.0/24\", \"count\": $N}]}" |
	/usr/bin/python3 -c 'import json,sys; print(" ".join(v["project_vpc_id"] for v in json.load(sys.stdin)["aiven_vpcs"]))')
set_credentials sql >/dev/null
worker_rss() {
	local pid
	pid=$(sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'peering worker'")
	awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"
}
echo "N=$N project VPCs, fake latency ${LATENCY} ms per request, peering.max_parallel_requests=$PARALLEL"
echo "worker RSS at start: $(worker_rss)"

t0=$(date +%s.%N)
{
	echo "BEGIN;"
	for v in $vpcs; do
		echo "SELECT 1 FROM peering_create('$(world project)', '$v', '$(world subscription_id)', '$(world resource_group)', '$(world vnet_name)');"
	done
	echo "COMMIT;"
} | sql >/dev/null
t1=$(date +%s.%N)
fake -X DELETE "$base/_fake/requests" >/dev/null
until [ "$(sql -c "SELECT count(*) FROM peering.connections WHERE state = 'ACTIVE' AND step = 'active'")" = "$N" ]; do
	failed=$(sql -c "SELECT count(*) FROM peering.connections WHERE failed")
	[ "$failed" = 0 ] || { sql -c "SELECT id, step, last_error FROM peering.connections WHERE failed LIMIT 3"; exit 1; }
	sleep 0.5
done
t2=$(date +%s.%N)
reqs=$(fake "$base/_fake/requests" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))')
printf 'peering_create x %d (pre-flight, one transaction): %.1f s\n' "$N" "$(calc "$t1 - $t0")"
printf 'COMMIT to all %d ACTIVE: %.1f s, %d remote requests (%.1f per peering)\n' "$N" \
	"$(calc "$t2 - $t1")" "$reqs" "$(calc "$reqs / $N")"
echo "worker RSS with $N ACTIVE: $(worker_rss)"

# Drift checks: every connection due at once, repeatedly.
# Wait for the first drift check after ACTIVE to be written, so that it does
# not overwrite what follows; the reload then wakes the worker.
until [ "$(sql -c "SELECT count(*) FROM peering.connections WHERE claimed_by IS NULL AND next_attempt_at > now() + interval '1 min'")" = "$N" ]; do
	sleep 0.2
done
sql -c "UPDATE peering.connections SET next_attempt_at = now()" \
	-c "ALTER SYSTEM SET peering.recheck_interval = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 2
fake -X DELETE "$base/_fake/requests" >/dev/null
for ((elapsed = 10; elapsed <= RECHECK_SECONDS; elapsed += 10)); do
	sleep 10
	echo "worker RSS after $elapsed s of re-checks: $(worker_rss)"
done
fake "$base/_fake/requests" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
aiven = [x for x in r if x["path"].startswith("/aiven/")]
arm = [x for x in r if x["path"].startswith("/arm/")]
span = (r[-1]["time"] - r[0]["time"]) if r else 0
print("re-checks over %.1f s: %d Aiven VPC GETs, %d ARM peering GETs, %d other" % (span, len(aiven), len(arm), len(r) - len(aiven) - len(arm)))
'
echo "connections checked in the last 2 s: $(sql -c "SELECT count(*) FROM peering.connections WHERE checked_at > now() - interval '2 s'") of $N; drift found: $(sql -c "SELECT count(*) FROM peering.connections WHERE failed")"
