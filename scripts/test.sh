#!/usr/bin/env bash
# Runs the whole test suite on a Debian 12 machine: installs what is missing,
# builds and installs the extension, then runs as the unprivileged "postgres"
# user: the fake cloud's own suite, pg_regress (SQL surface) and the TAP
# integration tests (real clusters, the worker, the fake cloud); then, as
# root, the package suite (builds and installs the Debian package, creates
# the extension from it in a fresh cluster).
# Run as root (it installs packages and the extension).  Exits non-zero on
# any failure.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

prepare

work=$(make_work_copy)
cleanup_on_exit 'rm -rf "$work"'

status=0
logs=()
# run_suite NAME [--as-root] COMMAND...: COMMAND in the work copy, as user
# postgres unless --as-root.
run_suite() {
	local name=$1; shift
	local log=$work/suite-${#logs[@]}.log as=(runuser -u postgres --)
	[ "$1" = --as-root ] && { as=(); shift; }
	logs+=("$log")
	echo "=== $name"
	if (cd "$work" && "${as[@]}" "$@") 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
		echo "=== $name: ok"
	else
		echo "=== $name: FAILED" | tee -a "$log"
		status=1
	fi
}

run_suite "fake cloud" env PYTHONDONTWRITEBYTECODE=1 \
	/usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test
run_suite "pg_regress" make -s PG_CONFIG="$PG_CONFIG" installcheck-regress
run_suite "TAP" make -s PG_CONFIG="$PG_CONFIG" installcheck-tap
run_suite "package" --as-root env TMPDIR="$work" bash scripts/package_test.sh

if [ $status -ne 0 ]; then
	for f in "$work"/test/regression.diffs "$work"/tmp_check/log/*; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 200 "$f"; }
	done
fi
# Every suite stops what it starts: a server or fake cloud still running
# from this run's copy of the tree is a failure.
check_no_survivors "$work" || status=1
# One closing line over the suites: "N passed, M failed".
/usr/bin/python3 scripts/count_tests.py "${logs[@]}"
exit $status
