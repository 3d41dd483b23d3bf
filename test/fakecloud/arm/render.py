# Copyright (c) 2026, peering developers
"""ARM's JSON renderings of subscriptions, VNets, peerings, role definitions and assignments."""

from ..core.common import iso, scope_subscription


def subscription_json(s):
    return {"id": "/subscriptions/" + s.subscription_id, "authorizationSource": "RoleBased", "managedByTenants": [],
            "subscriptionId": s.subscription_id, "tenantId": s.tenant_id, "displayName": s.display_name,
            "state": s.state,
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}}


def provisioning_state(p, now):
    if p.deleting_until is not None:
        return "Deleting"
    if now < p.op_done_at:
        return "Updating"
    return "Failed" if p.failed else "Succeeded"


def _same_space(a, b):
    return sorted(x.lower() for x in a) == sorted(x.lower() for x in b)


def sync_level(w, p):
    """peeringSyncLevel: "Local" when the remote VNet's address space changed since this
    peering synced it, "Remote" when this VNet's changed since the peering back to it synced."""
    vid = p.id.rsplit("/virtualNetworkPeerings/", 1)[0]
    v, rv = w.vnet_by_id(vid), w.vnet_by_id(p.remote_id)
    local = rv is not None and not _same_space(p.synced_prefixes, rv.address_prefixes)
    remote = v is not None and any(q.deleting_until is None and not _same_space(q.synced_prefixes,
                                                                                v.address_prefixes)
                                   for q in w.link(p.remote_id, vid))
    return {(False, False): "FullyInSync", (True, False): "LocalNotInSync",
            (False, True): "RemoteNotInSync", (True, True): "LocalAndRemoteNotInSync"}[(local, remote)]


def peering_json(w, p, now):
    rv = w.vnet_by_id(p.remote_id)
    return {"id": p.id, "name": p.name, "etag": 'W/"%s"' % p.etag,
            "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            "properties": {"provisioningState": provisioning_state(p, now), "resourceGuid": p.guid,
                           "peeringState": p.state,
                           "peeringSyncLevel": sync_level(w, p),
                           "allowVirtualNetworkAccess": p.allow_vnet_access,
                           "allowForwardedTraffic": p.allow_forwarded_traffic,
                           "allowGatewayTransit": p.allow_gateway_transit,
                           "useRemoteGateways": p.use_remote_gateways,
                           "doNotVerifyRemoteGateways": False, "peerCompleteVnets": True,
                           "remoteVirtualNetwork": {"id": p.remote_id},
                           "remoteAddressSpace": {"addressPrefixes": list(p.synced_prefixes)},
                           "remoteVirtualNetworkAddressSpace": {
                               "addressPrefixes": list(rv.address_prefixes) if rv else []}}}


def vnet_json(w, v, now):
    return {"id": v.id, "name": v.name, "type": "Microsoft.Network/virtualNetworks", "location": v.location,
            "etag": 'W/"%s"' % v.guid, "tags": {},
            "properties": {"provisioningState": "Succeeded", "resourceGuid": v.guid,
                           "addressSpace": {"addressPrefixes": list(v.address_prefixes)},
                           "subnets": [], "enableDdosProtection": False,
                           "virtualNetworkPeerings": [peering_json(w, p, now) for p in v.peerings.values()]}}


def _authorization_prefix(sub):
    return "/subscriptions/%s" % sub if sub else ""


def role_definition_json(rd, sub):
    """As seen from a subscription scope (id under it) or from the tenant level (sub None)."""
    return {"id": "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (_authorization_prefix(sub), rd.guid),
            "name": rd.guid, "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": rd.role_name, "type": rd.type, "description": rd.description,
                           "assignableScopes": list(rd.assignable_scopes),
                           "permissions": [{"actions": list(rd.actions), "notActions": list(rd.not_actions),
                                            "dataActions": [], "notDataActions": []}],
                           "createdOn": iso(rd.created, True), "updatedOn": iso(rd.updated, True),
                           "createdBy": None, "updatedBy": None}}


def role_assignment_id(ra):
    return ra.scope.rstrip("/") + "/providers/Microsoft.Authorization/roleAssignments/" + ra.name


def role_assignment_json(ra):
    role_id = "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (
        _authorization_prefix(scope_subscription(ra.scope)), ra.role_guid)
    return {"id": role_assignment_id(ra), "name": ra.name, "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"roleDefinitionId": role_id, "principalId": ra.principal_id,
                           "principalType": ra.principal_type, "scope": ra.scope, "condition": None,
                           "conditionVersion": None, "description": None,
                           "createdOn": iso(ra.created, True), "updatedOn": iso(ra.updated, True),
                           "createdBy": ra.created_by, "updatedBy": ra.created_by,
                           "delegatedManagedIdentityResourceId": None}}
