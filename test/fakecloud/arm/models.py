# Copyright (c) 2026, peering developers
"""ARM's records: subscriptions, resource groups, VNets and their peerings, role definitions
and assignments, async operations.  Times are epoch seconds (float).  Ids keep the casing they
were created with; the indexes in core/world.py compare them case-insensitively."""

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Subscription:
    subscription_id: str
    tenant_id: str
    display_name: str
    state: str = "Enabled"


@dataclass
class ResourceGroup:
    subscription: str
    name: str
    location: str


@dataclass
class Peering:
    """A virtualNetworkPeering.  `owner` says who made it: the customer (through ARM) or the
    provider (Aiven's reverse peering)."""
    name: str
    id: str
    remote_id: str
    allow_vnet_access: bool
    allow_forwarded_traffic: bool
    allow_gateway_transit: bool
    use_remote_gateways: bool
    created: float
    updated: float
    op_done_at: float  # the async operation of the last PUT ends here
    guid: str
    etag: str
    owner: str = "customer"
    state: str = "Initiated"  # peeringState
    deleting_until: Optional[float] = None
    delete_op: Optional[str] = None
    # the remote VNet's address space as of this peering's create or last sync
    # (remoteAddressSpace); peeringSyncLevel compares it with the live one
    synced_prefixes: list = field(default_factory=list)
    failed: bool = False  # its last PUT's operation ended Failed: provisioningState Failed once done


@dataclass
class VirtualNetwork:
    id: str
    subscription: str
    resource_group: str
    name: str
    location: str
    address_prefixes: list
    tenant: str
    guid: str
    created: float
    peerings: dict = field(default_factory=dict)  # lower-case name -> Peering


@dataclass
class RoleDefinition:
    guid: str  # lower case
    role_name: str
    type: str  # BuiltInRole | CustomRole
    description: str
    actions: list
    not_actions: list
    assignable_scopes: list
    tenant: Optional[str]  # None for built-in roles
    created: float
    updated: float


@dataclass
class RoleAssignment:
    name: str  # lower-case GUID
    scope: str
    role_guid: str
    principal_id: str
    principal_type: str
    tenant: Optional[str]
    created: float
    updated: float
    created_by: Optional[str] = None


@dataclass
class Operation:
    """An ARM async operation (peering PUT or DELETE)."""
    id: str
    subscription: str  # lower case
    location: str
    kind: str  # put | delete
    resource_id: str
    start: float
    done_at: float
    error: Optional[dict] = None  # {"code","message"}: the operation ends Failed with it
