#!/usr/bin/python3
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
"""Fails when the versions of a release disagree.  peering.control's
default_version is the version; META.json's distribution and extension
versions are it in SemVer (1.2 is 1.2.0); debian/changelog's newest entry
has it as upstream version (1.2-1)."""
import json
import os
import re
import sys


def semver(version):
    """PGXN wants three numbers: 1.2 -> 1.2.0."""
    return version + ".0" * (2 - version.count("."))


def control_version():
    text = open("peering.control").read()
    m = re.search(r"^default_version\s*=\s*'([^']+)'", text, re.M)
    if not m:
        sys.exit("check_versions: peering.control has no default_version")
    return m.group(1)


def changelog_upstream_version():
    first = open("debian/changelog").readline()
    m = re.match(r"\S+ \((?:\d+:)?(.+)-[^-]+\)", first)
    if not m:
        sys.exit(f"check_versions: debian/changelog: no version in {first.strip()!r}")
    return m.group(1)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    version = control_version()
    meta = json.load(open("META.json"))
    found = {
        "META.json version": (meta.get("version"), semver(version)),
        "META.json provides.peering.version":
            (meta.get("provides", {}).get("peering", {}).get("version"), semver(version)),
        "debian/changelog upstream version": (changelog_upstream_version(), version),
    }
    bad = 0
    for where, (got, want) in found.items():
        if got == want:
            print(f"versions: {where} is {got}")
        else:
            print(f"versions: {where} is {got}, but peering.control's default_version "
                  f"{version} wants {want}", file=sys.stderr)
            bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
