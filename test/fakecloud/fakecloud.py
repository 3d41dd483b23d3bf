#!/usr/bin/python3
# Copyright (c) 2026, peering developers
"""fakecloud: an HTTPS fake of Entra ID (token endpoint), Microsoft Graph v1.0, Azure Resource
Manager and the Aiven API, for the `peering` extension's tests.  Python 3 standard library only.

    /usr/bin/python3 test/fakecloud/fakecloud.py --dir DIR [--port N]
        [--scenario demo|test] [--latency-ms N] [--verbose]

The same as `/usr/bin/python3 test/fakecloud --dir DIR …`: this file only starts the package
next to it.  See README.md for the endpoints, rules and control API.
"""

import os
import sys

if __name__ == "__main__":
    # The package's parent replaces this directory on the path: `fakecloud` is then the package,
    # not this script, and no module of the package shadows the standard library.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from fakecloud.core.startup import main

    sys.exit(main())
