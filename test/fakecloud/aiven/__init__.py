# Copyright (c) 2026, peering developers
"""The Aiven API (`/aiven/…`): its routes.  Nothing is imported here."""
