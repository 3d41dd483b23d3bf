#!/usr/bin/env bash
# Benchmark: one worker driving N peerings (one VNet peered with N project
# VPCs) against the simulated cloud with a per-request latency, then
# re-checking N ACTIVE connections.  Prints figures; asserts nothing.
#
#   bash bench/worker_scale.sh [N] [latency_ms] [max_parallel_requests]
#
# Run as root on Debian 12 (installs what is missing, like scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
N=${1:-100}
LATENCY=${2:-20}
PARALLEL=${3:-8}

need_root
bash scripts/deps.sh
build_and_install
work=$(make_work_copy)
bindir=$($PG_CONFIG --bindir)
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
	as_pg "$bindir/pg_ctl" -D "$work/pgdata" -m immediate stop >/dev/null 2>&1 || true
	[ -n "${cloud_pid:-}" ] && kill "$cloud_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

as_pg mkdir -p "$work/cloud"
as_pg /usr/bin/python3 "$work/test/fakecloud/fakecloud.py" --dir "$work/cloud" \
	--latency-ms "$LATENCY" >"$work/cloud.log" 2>&1 &
cloud_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/cloud.log" && break; sleep 0.1; done
world() { /usr/bin/python3 -c "import json; print(json.load(open('$work/cloud/world.json'))['$1'])"; }
base=$(world base_url); ca=$(world ca_file)
fake() { curl -s --cacert "$ca" "$@"; }
calc() { /usr/bin/python3 -c "print($1)"; }

as_pg "$bindir/initdb" -D "$work/pgdata" -A trust -U postgres >/dev/null
cat >>"$work/pgdata/postgresql.conf" <<CONF
port = 5433
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'peering'
peering.aiven_url = '$base/aiven'
peering.login_url = '$base/login'
peering.graph_url = '$base/graph'
peering.arm_url = '$base/arm'
peering.ca_file = '$ca'
peering.poll_interval = 1s
peering.max_parallel_requests = $PARALLEL
CONF
as_pg "$bindir/pg_ctl" -D "$work/pgdata" -l "$work/pg.log" -w start >/dev/null
sql() { as_pg "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p 5433 -d postgres "$@"; }

vpcs=$(fake -X POST "$base/_fake/seed" -d "{\"aiven_vpcs\": [{\"cloud_name\": \"azure-westeurope\", \"network_cidr\": \"10.100.0.0/24\", \"count\": $N}]}" |
	/usr/bin/python3 -c 'import json,sys; print(" ".join(v["project_vpc_id"] for v in json.load(sys.stdin)["aiven_vpcs"]))')

sql <<SQL
CREATE EXTENSION peering;
SELECT peering_credential_set('azure', 'azure_client_secret', secret_file => '$(world admin_secret_file)',
       tenant_id => '$(world tenant_id)', client_id => '$(world admin_client_id)');
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '$(world aiven_token_file)');
SQL
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
sleep 20
fake "$base/_fake/requests" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
aiven = [x for x in r if x["path"].startswith("/aiven/")]
arm = [x for x in r if x["path"].startswith("/arm/")]
span = (r[-1]["time"] - r[0]["time"]) if r else 0
print("re-checks over %.1f s: %d Aiven VPC GETs, %d ARM peering GETs, %d other" % (span, len(aiven), len(arm), len(r) - len(aiven) - len(arm)))
'
echo "connections checked in the last 2 s: $(sql -c "SELECT count(*) FROM peering.connections WHERE checked_at > now() - interval '2 s'") of $N; drift found: $(sql -c "SELECT count(*) FROM peering.connections WHERE failed")"
echo "worker RSS after 20 s of re-checks: $(worker_rss)"
