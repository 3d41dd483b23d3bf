# Copyright (c) 2026, peering developers
"""Graph's records: applications, their password credentials, service principals.  Times are
epoch seconds (float).  Ids keep the casing they were created with; the indexes in
core/world.py compare them case-insensitively."""

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class PasswordCredential:
    key_id: str
    secret: str
    hint: str
    display_name: Optional[str]
    start: float
    end: float
    created: float


@dataclass
class Application:
    id: str
    app_id: str
    tenant: str
    display_name: str
    unique_name: Optional[str]
    sign_in_audience: str
    created: float
    passwords: list = field(default_factory=list)
    owners: list = field(default_factory=list)  # service principal object ids
    description: Optional[str] = None
    tags: list = field(default_factory=list)
    deleted: Optional[float] = None  # set while in the recycle bin


@dataclass
class ServicePrincipal:
    id: str
    app_id: str
    tenant: str
    display_name: str
    app_owner_organization_id: Optional[str]
    created: float
    graph_permissions: list = field(default_factory=list)
    owners: list = field(default_factory=list)
    deleted: Optional[float] = None
