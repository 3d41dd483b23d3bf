# Copyright (c) 2026, peering developers
"""Aiven's JSON renderings of project VPCs and their peering connections."""

import json

CONNECTION_KEYS = ("create_time", "peer_azure_app_id", "peer_azure_tenant_id", "peer_cloud_account", "peer_region",
                   "peer_resource_group", "peer_vpc", "state", "state_info", "update_time", "user_peer_network_cidrs",
                   "vpc_peering_connection_type")


def connection_json(c, null_state_info=False):
    """Every key always present (null where unknown); state_info is a copy, or null in every state
    with the setting `aiven_null_state_info` (as Aiven answers for existing connections)."""
    o = {k: getattr(c, k) for k in CONNECTION_KEYS}
    o["state_info"] = json.loads(json.dumps(c.state_info)) if c.state_info is not None and not null_state_info \
        else None
    o["user_peer_network_cidrs"] = list(c.user_peer_network_cidrs)
    return o


def vpc_json(vpc, with_connections=True, null_state_info=False):
    o = {"cloud_name": vpc.cloud_name, "create_time": vpc.create_time, "network_cidr": vpc.network_cidr,
         "project_vpc_id": vpc.project_vpc_id, "state": vpc.state, "update_time": vpc.update_time}
    if with_connections:
        o["peering_connections"] = [connection_json(c, null_state_info) for c in vpc.connections]
        o["pending_build_only_peering_connections"] = None
    return o


def service_json(s, cloud_name):
    """The keys peering reads and a few more the real answer carries; user_config a copy."""
    return {"service_name": s.service_name, "service_type": s.service_type, "state": s.state,
            "cloud_name": cloud_name, "plan": "business-4", "project_vpc_id": s.project_vpc_id,
            "create_time": s.create_time, "update_time": s.update_time,
            "user_config": json.loads(json.dumps(s.user_config))}
