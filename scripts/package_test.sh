#!/usr/bin/env bash
# The package suite of scripts/test.sh: the release's versions agree, the
# Debian package builds with dpkg-buildpackage in a throw-away copy of the
# tree, installs with dpkg -i (taking over the files of `make install`), and
# its smoke test (debian/tests/smoke, TAP, through prove) creates the
# extension from it in a fresh cluster.  Run as root from the tree; the copy
# and the smoke test's cluster live under $TMPDIR.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
set -euo pipefail
cd "$(dirname "$0")/.."

/usr/bin/python3 scripts/check_versions.py

build=$(mktemp -d "${TMPDIR:-/tmp}/peering-deb.XXXXXX")
trap 'rm -rf "$build"' EXIT
# dpkg-buildpackage writes the packages next to the tree it builds, and
# starts with `debian/rules clean`: objects of an earlier make stay out.
mkdir "$build/peering"
tar --exclude=.git --exclude="./${build##*/}" -cf - . | tar -xf - -C "$build/peering"
started=$SECONDS
if ! (cd "$build/peering" && dpkg-buildpackage -us -uc -b -J"$(nproc)") >"$build/build.log" 2>&1; then
	tail -n 60 "$build/build.log"
	echo "package: dpkg-buildpackage failed"
	exit 1
fi
version=$(dpkg-parsechangelog -S Version)
debs=("$build"/postgresql-*-peering_"${version}"_*.deb)
[ -f "${debs[0]}" ] || { ls -l "$build"; echo "package: no postgresql-*-peering_${version} package"; exit 1; }
echo "package: built ${debs[*]##*/} in $((SECONDS - started)) s"
dpkg -i "${debs[@]}" >"$build/install.log" 2>&1 || { cat "$build/install.log"; exit 1; }
echo "package: installed"
prove -v debian/tests/smoke
