# Shared by scripts/test.sh and scripts/demo.sh.
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

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

# A copy of the tree owned by postgres: initdb and pg_ctl refuse root, and
# the suites write results into the tree.
make_work_copy() {
	local work
	work=$(mktemp -d /tmp/peering.XXXXXX)
	tar --exclude=.git -cf - . | tar -xf - -C "$work"
	chown -R postgres: "$work"
	echo "$work"
}
