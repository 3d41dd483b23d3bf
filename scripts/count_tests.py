#!/usr/bin/python3
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
"""Adds up the test counts of the suites' logs (unittest, pg_regress, prove)
and prints one closing line: "tests: N passed, M failed"."""
import re
import sys

passed = failed = 0
for path in sys.argv[1:]:
    text = open(path, errors="replace").read()
    suite_failed = "FAILED" in text.splitlines()[-1] if text else True
    m = re.search(r"^Ran (\d+) tests?", text, re.M)                    # unittest
    if m:
        total = int(m.group(1))
        f = re.search(r"FAILED \((?:failures=(\d+))?(?:, )?(?:errors=(\d+))?", text)
        bad = sum(int(x) for x in f.groups() if x) if f else 0
    elif re.search(r"tests? (passed|failed)", text):                    # pg_regress
        m = re.search(r"All (\d+) tests passed", text)
        f = re.search(r"(\d+) of (\d+) tests failed", text)
        total = int(m.group(1)) if m else int(f.group(2)) if f else 0
        bad = int(f.group(1)) if f else 0
    else:                                                                # prove
        m = re.search(r"Files=\d+, Tests=(\d+)", text)
        total = int(m.group(1)) if m else 0
        bad = sum(int(x) for x in re.findall(r"Failed (\d+)/\d+ subtests", text))
    if suite_failed and bad == 0:
        bad = 1                 # a suite that failed without saying how much
    passed += max(total - bad, 0)
    failed += bad
print(f"tests: {passed} passed, {failed} failed")
