# Copyright (c) 2026, peering developers
"""The records every service shares: the directory's tenants and the access tokens the token
endpoint issues and Graph and ARM accept.  Times are epoch seconds (float).  The records of one
service are in its own models.py (graph/, arm/, aiven/); core/world.py holds them all."""

from dataclasses import dataclass


@dataclass
class Tenant:
    tenant_id: str
    display_name: str
    default_domain: str
    role: str = "other"  # customer | provider | other


@dataclass
class Token:
    """What an opaque access token stands for; permissions are evaluated when it is used."""
    tenant: str
    app_id: str
    sp_id: str
    aud: str  # arm | graph
    iat: float
    exp: float
