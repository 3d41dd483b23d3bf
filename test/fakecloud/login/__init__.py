# Copyright (c) 2026, peering developers
"""Entra ID's token endpoint (`/login/…`).  Nothing is imported here."""
