#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine: installs what is
# missing, builds and installs peering, starts the simulated cloud (demo
# scenario, with realistic delays) and a throwaway PostgreSQL cluster with
# the worker, creates a peering and follows it to ACTIVE, shows the row and
# its history, deletes it again, and cleans up.  Run as root.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

prepare

work=$(make_work_copy)
bindir=$($PG_CONFIG --bindir)
port=$(free_port)
[ -n "${PEERING_KEEP:-}" ] || cleanup_on_exit 'stop_all "$work"'

echo "== starting the simulated cloud (Azure AD, Graph, ARM, Aiven) on 127.0.0.1"
start_fakecloud "$work" --scenario demo

echo "== starting a throwaway PostgreSQL 15 cluster with shared_preload_libraries = 'peering'"
start_cluster "$work" "$port" "peering.poll_interval = 2s"

psql_demo() {
	as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres "$@"
}

echo "== configuring credentials (secrets stay in 0600 files; SQL names the files)"
set_credentials psql_demo
psql_demo <<SQL
\echo '-- the project VPCs (avn vpc list)'
SELECT project_vpc_id, cloud_name, network_cidr, state FROM peering_vpcs('$(world project)');
SQL

echo "== creating the peering; the worker does the 14 steps after COMMIT"
start=$(date +%s)
id=$(psql_demo -At -c "SELECT id FROM peering_create(
       project => '$(world project)', project_vpc_id => '$(world project_vpc_id)',
       subscription_id => '$(world subscription_id)',
       resource_group => '$(world resource_group)', vnet_name => '$(world vnet_name)')")
echo "peering connection $id recorded"
psql_demo <<SQL
\set VERBOSITY terse
SELECT peering_wait($id, 'ACTIVE', '5 min') AS final_state;
\x on
SELECT id, project, project_vpc_id, vnet_name, state, azure_peering_state, step,
       app_id, to_tenant_id, to_network_id, attempts, last_error, active_since - created_at AS time_to_active
  FROM peering_status($id);
\x off
SELECT at::time(0) AS at, kind, step, state, azure_peering_state, left(message, 90) AS message
  FROM peering.events WHERE connection_id = $id ORDER BY id;
SQL
echo "== ACTIVE after $(( $(date +%s) - start )) s; now deleting it"
psql_demo <<SQL
\set VERBOSITY terse
SELECT step FROM peering_delete($id);
SELECT peering_wait($id, 'DELETED', '5 min') AS final_state;
SELECT id, state, step FROM peering_status();
SQL
echo "== remote calls made (from the simulated cloud's request log):"
curl -s --cacert "$(world ca_file)" "$(world base_url)/_fake/requests" |
	/usr/bin/python3 -c 'import json,sys,collections; r=json.load(sys.stdin)["requests"]; c=collections.Counter(x["path"].split("/")[1] for x in r); print(len(r), "requests:", dict(c))'
echo "== done; cleaning up"
