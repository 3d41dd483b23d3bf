#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine: installs what is
# missing, builds and installs peering, starts the simulated cloud (demo
# scenario, with realistic delays) and a throwaway PostgreSQL cluster with
# the worker, creates a peering and follows it to ACTIVE, shows the row and
# its history, deletes it again, and cleans up.  Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

need_root
bash scripts/deps.sh
build_and_install

work=$(make_work_copy)
bindir=$($PG_CONFIG --bindir)
pgdata=$work/pgdata
cloud=$work/cloud
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg() { runuser -u postgres -- "$@"; }

cleanup() {
	as_pg "$bindir/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
	[ -n "${cloud_pid:-}" ] && kill "$cloud_pid" 2>/dev/null || true
	rm -rf "$work"
}
[ -n "${PEERING_KEEP:-}" ] || trap cleanup EXIT

echo "== starting the simulated cloud (Azure AD, Graph, ARM, Aiven) on 127.0.0.1"
as_pg mkdir -p "$cloud"
as_pg /usr/bin/python3 "$work/test/fakecloud/fakecloud.py" --dir "$cloud" --scenario demo \
	>"$work/cloud.log" 2>&1 &
cloud_pid=$!
for _ in $(seq 1 100); do
	grep -q "fakecloud listening" "$work/cloud.log" 2>/dev/null && break
	kill -0 "$cloud_pid" 2>/dev/null || { cat "$work/cloud.log"; exit 1; }
	sleep 0.1
done
grep "fakecloud listening" "$work/cloud.log"
world() { /usr/bin/python3 -c "import json,sys; print(json.load(open('$cloud/world.json'))['$1'])"; }

echo "== starting a throwaway PostgreSQL 15 cluster with shared_preload_libraries = 'peering'"
as_pg "$bindir/initdb" -D "$pgdata" -A trust -U postgres >/dev/null
cat >>"$pgdata/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'peering'
peering.database = 'postgres'
peering.aiven_url = '$(world base_url)/aiven'
peering.login_url = '$(world base_url)/login'
peering.graph_url = '$(world base_url)/graph'
peering.arm_url = '$(world base_url)/arm'
peering.ca_file = '$(world ca_file)'
peering.poll_interval = 2s
CONF
as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$work/postgres.log" -w start >/dev/null

psql_demo() {
	as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres "$@"
}

echo "== configuring credentials (secrets stay in 0600 files; SQL names the files)"
psql_demo <<SQL
CREATE EXTENSION peering;
SELECT peering_credential_set('azure', 'azure_client_secret',
       secret_file => '$(world admin_secret_file)',
       tenant_id => '$(world tenant_id)', client_id => '$(world admin_client_id)');
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '$(world aiven_token_file)');
\echo
\echo '-- the project VPCs (avn vpc list)'
SELECT project_vpc_id, cloud_name, network_cidr, state FROM peering_vpcs('$(world project)');
SQL

echo "== creating the peering; the worker does the 17 steps after COMMIT"
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
