# Copyright (c) 2026, peering developers
"""The records of the simulated world.  Times are epoch seconds (float).  Ids keep the casing
they were created with; the indexes in world.py compare them case-insensitively."""

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Tenant:
    tenant_id: str
    display_name: str
    default_domain: str
    role: str = "other"  # customer | provider | other


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


@dataclass
class Token:
    """What an opaque access token stands for; permissions are evaluated when it is used."""
    tenant: str
    app_id: str
    sp_id: str
    aud: str  # arm | graph
    iat: float
    exp: float


@dataclass
class PeeringConnection:
    """An Aiven project VPC peering connection.  Only the fields named like the API's keys reach
    it (aiven.routes.CONNECTION_KEYS); `since`, `uid`, `served_deleted` and the `created_*`/`*_peering`
    ones are bookkeeping: what the provider built for it, so that it can tear that down again."""
    create_time: str
    update_time: str
    peer_cloud_account: str
    peer_resource_group: Optional[str]
    peer_vpc: str
    peer_region: Optional[str]
    peer_azure_app_id: Optional[str]
    peer_azure_tenant_id: Optional[str]
    user_peer_network_cidrs: list
    vpc_peering_connection_type: str
    since: float  # when the current state began
    uid: str
    state: str = "APPROVED"
    state_info: Optional[dict] = None
    served_deleted: bool = False  # a GET of the VPC has shown it DELETED
    customer_peering: Optional[str] = None
    created_sp: Optional[str] = None
    created_ra: Optional[str] = None
    provider_peering: Optional[tuple] = None  # (provider VNet id, lower-case peering name)

    @property
    def is_azure(self):
        return self.vpc_peering_connection_type == "azure-vnet-peering"


@dataclass
class ProjectVpc:
    project: str
    project_vpc_id: str
    cloud_name: str
    network_cidr: str
    state: str
    create_time: str
    update_time: str
    provider_vnet_id: Optional[str] = None
    connections: list = field(default_factory=list)
    since: float = 0.0  # when the current state began (APPROVED turns ACTIVE after vpc_build_seconds)

    @property
    def is_azure(self):
        return self.cloud_name.startswith("azure-")


@dataclass
class AivenProject:
    name: str
    vpcs: dict = field(default_factory=dict)  # project_vpc_id -> ProjectVpc
