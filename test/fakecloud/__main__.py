# Copyright (c) 2026, peering developers
"""`/usr/bin/python3 test/fakecloud --dir DIR …` (or `python3 -m fakecloud` from test/)."""

import os
import sys

if not __package__:
    # Run as a directory: its parent must be on the path instead of the directory itself, so
    # that `fakecloud` is this package and no module of it shadows the standard library.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from fakecloud.core.startup import main
else:
    from .core.startup import main

sys.exit(main())
