#!/usr/bin/env bash
# The benchmark: every figure next to its bound or a baseline measured in the
# same run.  Asserts nothing; starts its own cluster and simulated cloud and
# leaves no process behind.  bench/README.md explains each figure.
#
#   bash bench/run.sh [--quick] [create|recheck|memory]   (as root on Debian 12, like scripts/test.sh)
#
# --quick runs smaller sizes, for a smoke run; "create", "recheck" and
# "memory" run only that figure.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

LATENCY_MS=20
PARALLEL=16
quick=no only=all
for arg in "$@"; do
	case $arg in
		--quick) quick=yes ;;
		create | recheck | memory) only=$arg ;;
		*) echo "usage: bash bench/run.sh [--quick] [create|recheck|memory]" >&2; exit 2 ;;
	esac
done
if [ "$quick" = yes ]; then
	RECHECK_N=1000 RECHECK_VPCS=100 RECHECK_VNETS=10 CREATE_ONE=20 CREATE_MANY=100 CREATE_VNETS=5 CREATE_AT="0 1000" STATUS_N=10 RUN_CYCLES=500
else
	RECHECK_N=10000 RECHECK_VPCS=500 RECHECK_VNETS=50 CREATE_ONE=100 CREATE_MANY=1000 CREATE_VNETS=50 CREATE_AT="0 1000 10000" STATUS_N=100 RUN_CYCLES=10000
fi
# The fake's ARM list page: larger than any VNet's peerings here, so that a
# list is one page (ARM documents no page size for this list).
PAGE_SIZE=1000
CREATE_DEADLINE=300  # seconds from COMMIT; a bulk create still running then is reported as such

prepare
work=$(make_work_copy)
bindir=$($PG_CONFIG --bindir)
port=$(free_port)
cleanup_on_exit 'stop_all "$work"'
bench_start=$(date +%s.%N)

start_fakecloud "$work" --scenario test --latency-ms "$LATENCY_MS" >/dev/null
start_cluster "$work" "$port" "peering.max_parallel_requests = $PARALLEL" "peering.recheck_interval = 3600"
sql() { as_pg "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres "$@"; }
fake() { /usr/bin/python3 bench/fake.py "$world_file" "$@"; }
calc() { /usr/bin/python3 -c "import math; print($1)"; }
summary() { /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }
now() { date +%s.%N; }
set_credentials sql >/dev/null

# -- helpers ---------------------------------------------------------------

set_latency() { fake seed "{\"settings\": {\"latency_ms\": $1, \"page_size\": $PAGE_SIZE}}" >/dev/null; }

# A fresh world and an empty catalog (no connection of an earlier figure).
fresh_start() {
	sql -c "DELETE FROM peering.connections"
	fake reset
	set_latency "$1"
}

# The bound a run of N requests has: ceil(N / max_parallel_requests) x latency.
bound_s() { calc "math.ceil($1 / $PARALLEL) * $LATENCY_MS / 1000"; }

# kB of PID's VmRSS, RssAnon (its own memory) or RssShmem (shared buffers it touched)
rss_kb() { awk -v f="${2:-VmRSS}:" '$1 == f {print $2}' "/proc/$1/status"; }
# seconds of CPU PID has used (user and system)
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
worker_pid() { sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'peering worker'"; }

# wait_until SQL VALUE [SECONDS]: polls (50 ms) until the query answers
# VALUE; fails after SECONDS (default 600) or when a connection failed.
wait_until() {
	local deadline
	deadline=$(calc "$(now) + ${3:-600}")
	until [ "$(sql -c "$1")" = "$2" ]; do
		if [ "$(sql -c "SELECT count(*) FROM peering.connections WHERE failed")" != 0 ]; then
			sql -c "SELECT id, step, last_error FROM peering.connections WHERE failed LIMIT 3" >&2
			return 1
		fi
		[ "$(calc "$(now) > $deadline")" = False ] || return 1
		sleep 0.05
	done
}

# Where the connections are, for a figure that did not finish.
progress() {
	sql -F ' ' -c "SELECT count(*), coalesce(state, '-'), step, CASE WHEN failed THEN 'failed' ELSE '' END
		FROM peering.connections GROUP BY 2, 3, 4 ORDER BY 1 DESC" | sed 's/^/      not finished: /'
}

# seed_active N VNETS VPCS: N ACTIVE peerings in the fake, and their rows,
# not due for a day.
seed_active() {
	local csv=$work/active.csv
	fake mesh "$1" "$2" "$3" "$csv"
	sql <<SQL
CREATE TEMP TABLE bench_rows (project text, project_vpc_id uuid, subscription_id uuid, resource_group text,
	vnet_name text, peering_name text, tenant_id uuid, vnet_id text, app_id uuid, to_tenant_id uuid,
	to_network_id text, azure_peering_id text);
\copy bench_rows FROM '$csv' CSV
INSERT INTO peering.connections (project, project_vpc_id, subscription_id, resource_group, vnet_name,
	peering_name, azure_credential, aiven_credential, tenant_id, vnet_id, app_unique_name, app_id,
	app_object_id, app_sp_id, app_role_id, app_role_owned, app_role_assignment_id,
	provider_sp_id, provider_sp_created, peer_role_id, peer_role_owned, peer_role_assignment_id,
	to_tenant_id, to_network_id, azure_peering_id, state, state_message, azure_peering_state, azure_sync_level,
	unreachable_services, step, step_since, active_since, checked_at, next_attempt_at)
-- as a finished lifecycle leaves a row: no application secret (made just in time, removed at the
-- end); custom roles and the provider's SP once per subscription, its role assignment once per VNet;
-- Aiven's state message, the peering's sync level and the services it reaches (the project has
-- none) as a re-check finds them (nothing to save)
SELECT project, project_vpc_id, subscription_id, resource_group, vnet_name, peering_name, 'azure', 'aiven',
	tenant_id, vnet_id, 'peering-bench-' || app_id, app_id, gen_random_uuid(), gen_random_uuid(),
	md5('app role ' || subscription_id)::uuid, true, gen_random_uuid(),
	md5('provider sp ' || subscription_id)::uuid, true, md5('peer role ' || subscription_id)::uuid, true,
	md5('peer role assignment ' || lower(vnet_id))::uuid,
	to_tenant_id, to_network_id, azure_peering_id, 'ACTIVE', 'Peering connection active', 'Connected', 'FullyInSync',
	'{}', 'active', now(), now(),
	now() - interval '1 hour', now() + interval '1 day'
  FROM bench_rows ORDER BY vnet_name, project_vpc_id;
ANALYZE peering.connections;
SQL
}

# -- the figures -----------------------------------------------------------

# recheck_cycle N: makes the first N rows due, wakes the worker and waits
# (polling in the server, 50 ms) until every one of them was checked since;
# prints the seconds from the wake-up.
recheck_cycle() {
	local n=$1 mark t0
	mark=$(sql -c "SELECT now()")
	sql -c "UPDATE peering.connections SET next_attempt_at = now()
		WHERE id IN (SELECT id FROM peering.connections ORDER BY id LIMIT $n)" >/dev/null
	t0=$(now)
	sql -c "SELECT pg_reload_conf()" >/dev/null
	sql <<SQL >/dev/null || { echo "   not all checked (a row failed, or 600 s passed):" >&2; progress >&2; }
DO \$\$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '600 s';
	n_checked bigint;
	n_failed bigint;
BEGIN
	LOOP
		SELECT count(*) FILTER (WHERE checked_at > '$mark'), count(*) FILTER (WHERE failed)
		  INTO n_checked, n_failed FROM peering.connections;
		EXIT WHEN n_checked >= $n;
		IF n_failed > 0 OR clock_timestamp() > deadline THEN
			RAISE EXCEPTION '% of $n checked, % failed', n_checked, n_failed;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
\$\$;
SQL
	calc "$(now) - $t0"
}

figure_recheck() {
	local n=$RECHECK_N small=$((RECHECK_N / 10)) wpid rss0 anon0 anon_small t_small t s cpu0
	echo "== 1. Re-check cycle: $n ACTIVE peerings, $RECHECK_VPCS project VPCs, $RECHECK_VNETS VNets," \
		"latency $LATENCY_MS ms, max_parallel_requests $PARALLEL"
	fresh_start "$LATENCY_MS"
	seed_active "$n" "$RECHECK_VNETS" "$RECHECK_VPCS"
	wpid=$(worker_pid)
	rss0=$(rss_kb "$wpid") anon0=$(rss_kb "$wpid" RssAnon)
	t_small=$(recheck_cycle "$small")
	anon_small=$(rss_kb "$wpid" RssAnon)
	fake clear-log
	cpu0=$(cpu_s "$wpid")
	t=$(recheck_cycle "$n")
	s=$(fake log-summary)
	printf '   cycle: %.2f s   bound ceil(requests/%d) x %d ms: %.2f s   (ratio %.2f; goal <= 2)\n' \
		"$t" "$PARALLEL" "$LATENCY_MS" "$(bound_s "$(summary 's["requests"]' <<<"$s")")" \
		"$(calc "$t / $(bound_s "$(summary 's["requests"]' <<<"$s")")")"
	printf '   requests: %s  (goal: %d Aiven VPC GETs + %d ARM peering lists)\n' \
		"$(summary '"%d: %d Aiven VPC GETs, %d ARM peering lists, %d Aiven service lists, %d other, %d not 2xx" % (s["requests"], s["aiven_vpc_gets"], s["arm_peering_lists"], s["aiven_service_lists"], s["requests"] - s["aiven_vpc_gets"] - s["arm_peering_lists"] - s["aiven_service_lists"], s["failed"])' <<<"$s")" \
		"$RECHECK_VPCS" "$RECHECK_VNETS"
	printf '   the worker'"'"'s CPU time in the cycle: %.2f s; remote requests from the first to the last: %.2f s\n' \
		"$(calc "$(cpu_s "$wpid") - $cpu0")" "$(summary 's["span_s"]' <<<"$s")"
	printf '   a cycle of the first %d rows before it: %.2f s\n' "$small" "$t_small"
	printf '   worker RSS: %d kB before, %d kB after the cycles (with the shared buffers it touched)\n' \
		"$rss0" "$(rss_kb "$wpid")"
	printf '   its own memory (RssAnon): %d kB before, %d kB after the %d-row cycle, %d kB after the %d-row one (goal <= 32768 kB, flat)\n' \
		"$anon0" "$anon_small" "$small" "$(rss_kb "$wpid" RssAnon)" "$n"
	# out of the way of the next figures (the re-check grid could fall in them)
	sql -c "UPDATE peering.connections SET next_attempt_at = now() + interval '1 day'"
}

figure_fake_throughput() {
	local label=$1
	set_latency 0
	printf '   fake with %s peerings: %s\n' "$label" \
		"$(fake throughput 4 10000 10 | summary '"%(per_second).0f requests/s (%(requests)d GETs by 4 clients in %(seconds).1f s, %(errors)d errors)" % s')"
	set_latency "$LATENCY_MS"
}

figure_status() {
	local n=$STATUS_N t0 t1 t2 t3 ids base ca hdr aiven_hdr
	echo "== 4. peering_status: the catalog ($RECHECK_N rows) and remote refreshes (latency $LATENCY_MS ms)"
	t0=$(now)
	sql -c "SELECT * FROM peering_status()" >/dev/null
	t1=$(now)
	printf '   SELECT * FROM peering_status() over %d rows: %.3f s\n' "$RECHECK_N" "$(calc "$t1 - $t0")"
	ids=$(sql -c "SELECT id FROM peering.connections ORDER BY id LIMIT $n")
	t0=$(now)
	sql -c "SELECT count(*) FROM (SELECT peering_status(id) FROM peering.connections WHERE id IN ($(echo $ids | tr ' ' ,))) s" >/dev/null
	t1=$(now)
	# the baseline a user would script: a token, then per connection one curl
	# process for the Aiven VPC and one for the ARM peering
	base=$(world base_url) ca=$(world ca_file) hdr=$work/arm.hdr aiven_hdr=$work/aiven.hdr
	echo "Authorization: aivenv1 $(cat "$(world aiven_token_file)")" >"$aiven_hdr"
	t2=$(now)
	printf 'Authorization: Bearer %s\n' "$(curl -s --cacert "$ca" "$base/login/$(world tenant_id)/oauth2/v2.0/token" \
		--data-urlencode grant_type=client_credentials --data-urlencode "client_id=$(world admin_client_id)" \
		--data-urlencode "client_secret=$(cat "$(world admin_secret_file)")" \
		--data-urlencode scope=https://management.azure.com/.default |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')" >"$hdr"
	sql -F ' ' -c "SELECT project, project_vpc_id, azure_peering_id FROM peering.connections WHERE id IN ($(echo $ids | tr ' ' ,))" |
		while read -r project vpc peering; do
			curl -sf -o /dev/null --cacert "$ca" -H "@$aiven_hdr" "$base/aiven/v1/project/$project/vpcs/$vpc"
			curl -sf -o /dev/null --cacert "$ca" -H "@$hdr" "$base/arm$peering?api-version=2024-05-01"
		done
	t3=$(now)
	printf '   peering_status(id) for %d connections: %.2f s, %.1f ms per refresh   baseline, curl per read: %.2f s (%.1f times slower)\n' \
		"$n" "$(calc "$t1 - $t0")" "$(calc "($t1 - $t0) / $n * 1000")" "$(calc "$t3 - $t2")" \
		"$(calc "($t3 - $t2) / ($t1 - $t0)")"
}

# run_creates CLIENTS TARGETS...: peering_create for each "RESOURCE_GROUP VNET
# VPC_ID", split round-robin over CLIENTS concurrent transactions held at a
# barrier before COMMIT (an advisory lock this shell holds).  The scripts are
# written before the clock starts; each client notes in $work/client-I.out
# when its first create began and its last ended.  Prints the moment they all
# commit.
run_creates() {
	local clients=$1; shift
	local targets=("$@") i k holder project sub
	project=$(world project) sub=$(world subscription_id)
	for ((i = 0; i < clients; i++)); do
		{
			echo "BEGIN;"
			echo "SELECT 'start', extract(epoch FROM clock_timestamp());"
			for ((k = i; k < ${#targets[@]}; k += clients)); do
				read -r rg vnet vpc <<<"${targets[k]}"
				echo "SELECT FROM peering_create('$project', '$vpc', '$sub', '$rg', '$vnet');"
			done
			echo "SELECT 'done', extract(epoch FROM clock_timestamp());"
			echo "SELECT pg_advisory_xact_lock_shared(4242);"
			echo "COMMIT;"
		} >"$work/client-$i.sql"
	done
	chmod a+r "$work"/client-*.sql
	sql -c "SELECT pg_advisory_lock(4242), pg_sleep(3600)" >/dev/null 2>&1 &
	holder=$!
	wait_until "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted" 1 || exit 1
	for ((i = 0; i < clients; i++)); do
		sql -F ' ' -f "$work/client-$i.sql" >"$work/client-$i.out" &
		pids+=($!)
	done
	wait_until "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted" "$clients" || exit 1
	fake clear-log
	now
	sql -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3600)' AND pid <> pg_backend_pid()" >/dev/null
	wait "$holder" 2>/dev/null || true
	for pid in "${pids[@]}"; do wait "$pid"; done
}

# From the clients' notes: "ALL_DONE SUM" (seconds from the first create's
# start to the last one's end; the clients' create time added up).
creates_span() {
	cat "$work"/client-*.out | /usr/bin/python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.startswith(("start", "done"))]
start = [float(v) for k, v in rows if k == "start"]
done = [float(v) for k, v in rows if k == "done"]
print("%.3f %.3f" % (max(done) - min(start), sum(done) - sum(start)))'
}

# figure_create N VNETS [LATENCY]: N new peerings, each with a new project
# VPC (its own /24), spread over VNETS VNets (vnet-app alone when VNETS is
# 1), the fake answering after LATENCY ms (default LATENCY_MS).
figure_create() {
	local n=$1 vnets=$2 latency=${3:-$LATENCY_MS} clients t1 t_commit s req span all_done per_create census_of reached="all ACTIVE"
	local targets=() vpcs k per_vnet rg vnet bound
	fresh_start "$latency"
	clients=$([ "$n" -ge 1000 ] && echo "$PARALLEL" || echo 1)
	mapfile -t vpcs < <(fake vpcs "$n")
	if [ "$vnets" = 1 ]; then
		rg=$(world resource_group) vnet=$(world vnet_name)
		for vpc in "${vpcs[@]}"; do targets+=("$rg $vnet $vpc"); done
		census_of=$vnet
	else
		fake vnets "$vnets"
		per_vnet=$((n / vnets))
		for ((k = 0; k < n; k++)); do targets+=("rg-bench vnet-bulk-$((k / per_vnet)) ${vpcs[k]}"); done
		census_of='vnet-bulk-*'
	fi
	pids=()
	rm -f "$work"/client-*.out
	t_commit=$(run_creates "$clients" "${targets[@]}")
	wait_until "SELECT count(*) FROM peering.connections WHERE state = 'ACTIVE' AND step = 'active'" "$n" \
		"$CREATE_DEADLINE" || { reached="deadline, NOT all ACTIVE"; progress; }
	t1=$(now)
	s=$(fake log-summary)
	req=$(summary 's["requests"]' <<<"$s")
	read -r all_done per_create <<<"$(creates_span)"
	echo "   $n peerings, $vnets VNet(s), $clients transaction(s), latency $latency ms:"
	printf '      all creates done: %.2f s%s; pre-flight per create, in its session: %.1f ms\n' "$all_done" \
		"$([ "$n" -ge 1000 ] && echo " (goal <= 20 s)")" "$(calc "$per_create / $n * 1000")"
	bound=$(calc "math.ceil($req / $PARALLEL) * $latency / 1000")
	printf '      COMMIT (after the last create) to %s: %.2f s (goal <= 5 s)%s\n' \
		"$reached" "$(calc "$t1 - $t_commit")" \
		"$([ "$latency" != 0 ] && printf ', bound %.2f s (ratio %.2f)' "$bound" "$(calc "($t1 - $t_commit) / $bound")")"
	printf '      %s\n' "$(summary '"%d requests (%.1f per peering), %d ARM writes (%.1f per peering), %d role-definition PUTs, %d not 2xx" % (s["requests"], s["requests"] / '"$n"', s["arm_writes"], s["arm_writes"] / '"$n"', s["role_definition_puts"], s["failed"])' <<<"$s")"
	printf '      in the cloud: %s; failed rows: %s\n' \
		"$(fake census "$census_of" | summary '"%d applications, %d Azure peerings, %d live Aiven connections" % (s["applications"], s["azure_peerings"], s["aiven_connections"])')" \
		"$(sql -c "SELECT count(*) FROM peering.connections WHERE failed")"
}

# One peering_create next to N existing ACTIVE peerings (in the fake and in
# the catalog: seed_active over 50 VNets), on vnet-bench-0 (N/50 peerings)
# with a new project VPC, no latency, rolled back.  Its requests and time in
# a new session (tokens fetched), and those of the next create in that
# session (the difference of two sessions' logs).  The scripts are written
# before psql reads them, so that psql never waits for its next line.
figure_create_at() {
	local n=$1 cold warm s1 s2 project sub a b c
	fresh_start 0
	if [ "$n" = 0 ]; then
		fake seed '{"vnets": [{"resource_group": "rg-bench", "name": "vnet-bench-0", "address_prefixes": ["10.0.0.0/16"]}]}' >/dev/null
	else
		seed_active "$n" 50 "$((n / 20))"
	fi
	project=$(world project) sub=$(world subscription_id)
	read -r a b c <<<"$(fake vpcs 3 10.200.0.0/24 | tr '\n' ' ')"
	timed_create() {
		echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
		echo "SELECT FROM peering_create('$project', '$1', '$sub', 'rg-bench', 'vnet-bench-0');"
		echo "SELECT extract(epoch FROM clock_timestamp()) - :t0;"
	}
	printf 'BEGIN;\n%s\nROLLBACK;\n' "$(timed_create "$a")" >"$work/create-cold.sql"
	printf 'BEGIN;\n%s\n%s\nROLLBACK;\n' "$(timed_create "$b")" "$(timed_create "$c")" >"$work/create-warm.sql"
	chmod a+r "$work"/create-*.sql
	fake clear-log
	cold=$(sql -f "$work/create-cold.sql")
	s1=$(fake log-summary | summary 's["requests"]')
	fake clear-log
	warm=$(sql -f "$work/create-warm.sql" | tail -n 1)
	s2=$(fake log-summary | summary 's["requests"]')
	printf '   %6d existing (%3d on its VNet): a new session'"'"'s first create %5.1f ms, %2d requests; the next %5.1f ms, %2d requests\n' \
		"$n" "$((n / 50))" "$(calc "$cold * 1000")" "$s1" "$(calc "$warm * 1000")" "$((s2 - s1))"
}

figure_lifecycle() {
	local out s
	echo "== 3. One lifecycle, no remote delay: COMMIT to ACTIVE"
	fresh_start 0
	fake clear-log
	out=$(sql <<SQL
SET client_min_messages = warning;
BEGIN;
SELECT id FROM peering_create('$(world project)', '$(world project_vpc_id)', '$(world subscription_id)',
	'$(world resource_group)', '$(world vnet_name)') \gset
COMMIT;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT peering_wait(:id) = 'ACTIVE', extract(epoch FROM clock_timestamp()) - :t0;
SQL
)
	s=$(fake log-summary)
	printf '   ACTIVE: %s; COMMIT to ACTIVE %.3f s (goal <= 0.5 s); %s\n' "${out%%|*}" "${out##*|}" \
		"$(summary '"%d requests (%d ARM writes)" % (s["requests"], s["arm_writes"])' <<<"$s")"
}

figure_memory() {
	local cycles=$RUN_CYCLES script=$work/run_cycles.sql
	echo "== 5. Memory: $cycles re-check cycles by CALL peering_run() in one backend (3 ACTIVE peerings, no delay)"
	fresh_start 0
	sql -c "ALTER SYSTEM SET peering.worker_enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
	seed_active 3 1 3
	{
		local cycle="UPDATE peering.connections SET next_attempt_at = now(); CALL peering_run();"
		# VmRSS counts the shared buffers the backend has touched (RssShmem),
		# which grow with every page its UPDATEs write; its own memory is RssAnon
		local field="substring(pg_read_file('/proc/self/status') FROM '%s:[[:space:]]*([0-9]+)')::int"
		local rss
		rss="SELECT $(printf "$field" VmRSS) AS rss, $(printf "$field" RssAnon) AS anon,
			$(printf "$field" RssShmem) AS shmem,
			(SELECT (sum(total_bytes) / 1024)::bigint FROM pg_backend_memory_contexts) AS cxt"
		for ((i = 0; i < 100; i++)); do echo "$cycle"; done  # warm-up: caches, tokens, connections
		echo "$rss \\gset before_"
		for ((i = 0; i < cycles; i++)); do echo "$cycle"; done
		echo "$rss \\gset after_"
		echo "SELECT (SELECT count(*) FROM peering.connections WHERE failed), :before_rss, :after_rss,"
		echo "       :before_anon, :after_anon, :before_shmem, :after_shmem, :before_cxt, :after_cxt;"
	} >"$script"
	chmod a+r "$script"
	fake clear-log
	local t0 t1 out
	t0=$(now)
	out=$(sql -f "$script" | tail -n 1)
	t1=$(now)
	local failed rss0 rss1 anon0 anon1 shmem0 shmem1 cxt0 cxt1
	IFS='|' read -r failed rss0 rss1 anon0 anon1 shmem0 shmem1 cxt0 cxt1 <<<"$out"
	printf '   backend private memory (RssAnon): %d kB after warm-up, %d kB after %d cycles: %+d kB (goal <= 1024 kB); %.1f s, %s requests, %d failed\n' \
		"$anon0" "$anon1" "$cycles" "$((anon1 - anon0))" "$(calc "$t1 - $t0")" \
		"$(fake log-summary | summary 's["requests"]')" "$failed"
	printf '   its memory contexts: %+d kB (%d to %d kB); VmRSS %+d kB, of which shared buffers touched (RssShmem) %+d kB\n' \
		"$((cxt1 - cxt0))" "$cxt0" "$cxt1" "$((rss1 - rss0))" "$((shmem1 - shmem0))"
	sql -c "ALTER SYSTEM RESET peering.worker_enabled" -c "SELECT pg_reload_conf()" >/dev/null
}

# -- the run ---------------------------------------------------------------

echo "peering benchmark $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GB," \
	"PostgreSQL $($PG_CONFIG --version | awk '{print $2}'), $($PG_CONFIG --bindir)/postgres, fake ARM page size $PAGE_SIZE"
if [ "$only" = all ]; then
	echo "== 6. The fake itself: GETs per second (latency 0, loopback, 4 keep-alive clients)"
	fresh_start 0
	fake mesh 10 1 10 "$work/small.csv"
	figure_fake_throughput 10
	figure_recheck
	echo "== 6. (continued)"
	figure_fake_throughput "$RECHECK_N"
	figure_status
	figure_lifecycle
fi
[ "$only" = recheck ] && figure_recheck
[ "$only" = memory ] && figure_memory
if [ "$only" = all ] || [ "$only" = create ]; then
	echo "== 2. Bulk create, latency $LATENCY_MS ms, max_parallel_requests $PARALLEL"
	figure_create "$CREATE_ONE" 1
	figure_create "$CREATE_MANY" "$CREATE_VNETS"
	echo "== 2. The same, no latency (the conditions of the goals)"
	figure_create "$CREATE_MANY" "$CREATE_VNETS" 0
	echo "== 2. One create next to existing peerings, no latency (goal: requests and time independent of them)"
	for n in $CREATE_AT; do figure_create_at "$n"; done
fi
[ "$only" = all ] && figure_memory
printf '== bench took %.0f s\n' "$(calc "$(now) - $bench_start")"
