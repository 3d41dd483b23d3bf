# Copyright (c) 2026, peering developers
"""Microsoft Graph v1.0 (`/graph/…`): its routes, records and JSON renderings.  Nothing is imported here."""
