# Copyright (c) 2026, peering developers
"""fakecloud: an HTTPS fake of Entra ID (token endpoint), Microsoft Graph v1.0, Azure Resource
Manager and the Aiven API, for the `peering` extension's tests.  See README.md.

A package per service (login/, graph/, arm/, aiven/: routes, records, renderings), core/ for
what they share, tests/ for the fake's own tests.

Run it as `/usr/bin/python3 test/fakecloud --dir DIR …` or through the thin script
`test/fakecloud/fakecloud.py`.  Nothing is imported here, so that the script can load the
package without side effects.
"""
