#!/usr/bin/env bash
# Installs the Debian 12 packages peering needs to build, test and run the demo,
# and to build its Debian package (build-essential, dpkg-dev, debhelper;
# pg_buildext comes with postgresql-common), skipping those already present
# so a warm machine re-runs in a second.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
set -euo pipefail

PKGS=(make gcc libc6-dev pkg-config openssl curl python3 procps
      postgresql-15 postgresql-server-dev-15 postgresql-15-cron
      libcurl4-openssl-dev libjansson-dev libipc-run-perl
      python3-azure build-essential dpkg-dev debhelper)

missing=()
for p in "${PKGS[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: installing ${missing[*]}"
apt-get update -qq
# Server and dev headers in one call so apt does not upgrade the server alone.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
