# Copyright (c) 2026, peering developers
"""The Aiven API (`/aiven/…`): its routes, records and JSON renderings.  Nothing is imported here."""
