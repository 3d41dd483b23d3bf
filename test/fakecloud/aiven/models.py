# Copyright (c) 2026, peering developers
"""Aiven's records: projects, their project VPCs and peering connections.  Times are epoch
seconds (float), except the API's own `*_time` strings."""

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class PeeringConnection:
    """An Aiven project VPC peering connection.  Only the fields named like the API's keys reach
    it (render.CONNECTION_KEYS); `since`, `uid`, `served_deleted` and the `created_*`/`*_peering`
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
    refresh_due: Optional[float] = None  # a refresh asked for: the provider re-reads the peer VNets then

    @property
    def is_azure(self):
        return self.cloud_name.startswith("azure-")


@dataclass
class AivenService:
    """A service of a project (only what peering looks at: its project VPC and its
    user_config, whose `ip_filter` admits client networks)."""
    service_name: str
    project_vpc_id: Optional[str]
    user_config: dict
    create_time: str
    update_time: str
    service_type: str = "pg"
    state: str = "RUNNING"


@dataclass
class AivenProject:
    name: str
    vpcs: dict = field(default_factory=dict)  # project_vpc_id -> ProjectVpc
    services: dict = field(default_factory=dict)  # service_name -> AivenService
