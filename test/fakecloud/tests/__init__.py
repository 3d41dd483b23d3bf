# Copyright (c) 2026, peering developers
"""The fake's own unittest suite and its harness (fakecase.py); one module per service.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""
