# Shared by scripts/test.sh and scripts/demo.sh.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
# Debian's PostgreSQL 15 unless the caller names another installation of it.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG
# initdb needs a locale that exists; C.UTF-8 is always there on Debian 12.
export LANG=C.UTF-8 LC_ALL=C.UTF-8
unset LANGUAGE

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: run as root (it installs packages and the extension; servers run as user postgres)" >&2
		exit 1
	fi
}

build_and_install() {
	make -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Everything a script needs before it runs anything: root, the packages,
# the extension built and installed.
prepare() {
	need_root
	bash scripts/deps.sh
	build_and_install
}

# A copy of the tree owned by postgres: initdb and pg_ctl refuse root, and
# the suites write results into the tree.
make_work_copy() {
	local work
	work=$(mktemp -d /tmp/peering.XXXXXX)
	tar --exclude=.git -cf - . | tar -xf - -C "$work"
	chown -R postgres: "$work"
	echo "$work"
}

# (from /, which postgres can always enter)
AS_PG=(runuser -u postgres -- env -C /)
as_pg() { "${AS_PG[@]}" "$@"; }

# start_fakecloud WORK [fakecloud options]: the simulated cloud, as postgres,
# in WORK/cloud; sets cloud_pid and waits until it accepts connections.
# It runs in a session of its own (setsid), so that stop_fakecloud can stop
# the whole process group: runuser and the python process under it.  (A
# background job of this non-interactive shell is no group leader, so setsid
# does not fork and cloud_pid is the group's id.)
start_fakecloud() {
	local work=$1; shift
	as_pg mkdir -p "$work/cloud"
	setsid "${AS_PG[@]}" /usr/bin/python3 "$work/test/fakecloud/fakecloud.py" --dir "$work/cloud" "$@" \
		>"$work/cloud.log" 2>&1 &
	cloud_pid=$!
	for _ in $(seq 1 100); do
		grep -q "fakecloud listening" "$work/cloud.log" 2>/dev/null && break
		kill -0 "$cloud_pid" 2>/dev/null || { cat "$work/cloud.log"; exit 1; }
		sleep 0.1
	done
	grep "fakecloud listening" "$work/cloud.log"
	world_file=$work/cloud/world.json
}

# world KEY: a value from the simulated cloud's world.json
world() { /usr/bin/python3 -c "import json; print(json.load(open('$world_file'))['$1'])"; }

# start_cluster WORK PORT [extra settings...]: a throw-away cluster, as
# postgres, with the worker preloaded and pointed at the simulated cloud.
start_cluster() {
	local work=$1 port=$2; shift 2
	local bindir
	bindir=$($PG_CONFIG --bindir)
	as_pg "$bindir/initdb" -D "$work/pgdata" -A trust -U postgres >/dev/null
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$work'"
		echo "shared_preload_libraries = 'peering'"
		echo "peering.database = 'postgres'"
		for api in aiven login graph arm; do
			echo "peering.${api}_url = '$(world base_url)/$api'"
		done
		echo "peering.ca_file = '$(world ca_file)'"
		printf '%s\n' "$@"
	} >>"$work/pgdata/postgresql.conf"
	as_pg "$bindir/pg_ctl" -D "$work/pgdata" -l "$work/postgres.log" -w start >/dev/null
}

# stop_fakecloud: SIGTERM to the simulated cloud's process group, SIGKILL if
# it is still there after 10 s; then reaps it.
stop_fakecloud() {
	[ -n "${cloud_pid:-}" ] || return 0
	kill -TERM -- "-$cloud_pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 -- "-$cloud_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$cloud_pid" 2>/dev/null || true
	wait "$cloud_pid" 2>/dev/null || true
	cloud_pid=
}

# check_no_survivors WORK: fails, naming them, if processes whose command
# line mentions WORK (a server, the simulated cloud, a test's cluster) are
# still running 5 s after the run ended.
check_no_survivors() {
	local pattern=${1//./\\.} left rc
	[ -n "$pattern" ] || { echo "check_no_survivors: no directory given" >&2; return 1; }
	for _ in $(seq 1 50); do
		rc=0; left=$(pgrep -af -- "$pattern") || rc=$?
		[ $rc -eq 1 ] && return 0
		[ $rc -eq 0 ] || { echo "check_no_survivors: pgrep failed ($rc)" >&2; return 1; }
		sleep 0.1
	done
	echo "$0: processes left behind by this run:" >&2
	echo "$left" >&2
	return 1
}

# stop_all WORK: stops the cluster and the simulated cloud of WORK, checks
# that nothing of the run survives, removes WORK.  Exits non-zero if
# something did.
stop_all() {
	local work=$1 survivors=0
	as_pg "$($PG_CONFIG --bindir)/pg_ctl" -D "$work/pgdata" -m immediate stop >/dev/null 2>&1 || true
	stop_fakecloud
	check_no_survivors "$work" || survivors=1
	rm -rf "$work"
	[ $survivors -eq 0 ] || exit 1
}

# cleanup_on_exit COMMAND: runs COMMAND when the script ends, pass or fail,
# also on Ctrl-C or SIGTERM (which no longer reach the simulated cloud: it
# has its own session).
cleanup_on_exit() {
	trap "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# set_credentials PSQL...: the 'azure' and 'aiven' credentials from the
# simulated cloud's secret files, through the given psql command.
set_credentials() {
	"$@" <<SQL
CREATE EXTENSION peering;
\o /dev/null
SELECT peering_credential_set('azure', 'azure_client_secret',
       secret_file => '$(world admin_secret_file)',
       tenant_id => '$(world tenant_id)', client_id => '$(world admin_client_id)');
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '$(world aiven_token_file)');
\o
SELECT name, kind, tenant_id, secret_file FROM peering_credentials();
SQL
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
