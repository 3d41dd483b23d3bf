# Copyright (c) 2026, peering developers
"""Time and transitions.  There are no timers: at the start of every request (under the world
lock) `tick` moves the world to the request's arrival time — recycle-bin expiry, peering
deletions and states, and the Aiven connection state machine with what the provider builds
and tears down in its own tenant."""

import uuid

from .common import (did, iso, MULTI_TENANT, NETWORK_CONTRIBUTOR_ROLE, norm, NS, overlapping, PEER_ACTION,
                     PROVIDER_APP_ID)
from .scenario import ids

LIVE = ("PENDING_PEER", "ACTIVE")


def tick(w, now):
    w.purge_expired(now)
    for _ in range(4):  # a change on one side can move the other; a few rounds settle it
        changed = sync_peerings(w, now)
        changed |= vpc_step(w, now)
        changed |= refresh_step(w, now)
        changed |= aiven_step(w, now)
        if not changed:
            break


def set_state(c, state, info, now):
    c.state = state
    c.state_info = info
    c.update_time = iso(now)
    c.since = now
    c.served_deleted = False


# -- VNet peerings --------------------------------------------------------------------------

def _live_peering(w, vid, remote_id):
    """VNet vid's first peering toward remote_id that is not being deleted, or None."""
    for q in w.link(vid, remote_id):
        w.visited += 1
        if q.deleting_until is None and not q.failed:
            return q
    return None


def _back_peering(w, vnet, p):
    """The remote VNet's live peering back to this VNet, or None."""
    if norm(p.remote_id) not in w.vnets:
        return None
    return _live_peering(w, p.remote_id, vnet.id)


def _finish_deletions(w, now):
    changed = False
    for vkey, pkey in list(w.deleting):
        v = w.vnets.get(vkey)
        p = v.peerings.get(pkey) if v else None
        if p is None or p.deleting_until is None:
            w.deleting.discard((vkey, pkey))
        elif p.deleting_until <= now:
            w.remove_peering(v, pkey)
            w.deleting.discard((vkey, pkey))
            changed = True
    return changed


def _settle_link(w, a, b):
    """Recomputes peeringState of the peerings between VNets a and b (each one's state depends
    only on its back peering); True when one moved."""
    peerings = [(w.vnets.get(x), p) for x, y in ((a, b), (b, a)) for p in w.link(x, y)]
    changed = False
    for _ in range(4):
        moved = False
        for v, p in peerings:
            w.visited += 1
            if v is None or p.deleting_until is not None or p.failed:
                continue
            back = _back_peering(w, v, p)
            if p.state == "Initiated" and back is not None and back.state != "Disconnected":
                p.state, moved = "Connected", True
            elif p.state == "Connected" and (back is None or back.state == "Disconnected"):
                # sticky until this peering is PUT again, as on Azure
                p.state, moved = "Disconnected", True
        if not moved:
            break
        changed = True
    return changed


def sync_peerings(w, now):
    """Finishes due peering deletions and recomputes peeringState where something changed."""
    changed = _finish_deletions(w, now)
    dirty, w.dirty_links = w.dirty_links, set()
    for a, b in dirty:
        changed |= _settle_link(w, a, b)
    return changed


# -- Aiven connections ----------------------------------------------------------------------

def vpc_step(w, now):
    """Project VPCs in APPROVED become ACTIVE once `vpc_build_seconds` old (only those are visited)."""
    changed = False
    for vpc in list(w.building_vpcs.values()):
        w.visited += 1
        if now - vpc.since >= w.settings["vpc_build_seconds"]:
            w.set_vpc_state(vpc, "ACTIVE", now)
            changed = True
    return changed


def refresh_step(w, now):
    """Refreshes asked for (POST …/peering-connections/refresh) whose time came (only those are
    visited)."""
    changed = False
    for vpc in list(w.refreshing_vpcs.values()):
        w.visited += 1
        if now >= vpc.refresh_due:
            w.refresh_provider_peerings(vpc)
            changed = True
    return changed


def _moved_by_time(c):
    """States that the passing of time alone can end (the others wait for an event)."""
    return c.state in ("APPROVED", "DELETING", "DELETED") or (c.state == "PENDING_PEER" and c.is_azure)


def aiven_step(w, now):
    """Moves the watched connections: those in a timed state, and those whose customer VNet's
    peerings changed (an ACTIVE one whose peering is gone becomes DELETED_BY_PEER)."""
    S = w.settings
    changed = False
    for vpc, c in w.watched():
        w.visited += 1
        if not w.has_connection(vpc, c):  # removed earlier in this round
            continue
        changed |= _connection_step(w, vpc, c, now, S)
        if w.has_connection(vpc, c) and not _moved_by_time(c):
            w.unwatch(c)
    return changed


def _connection_step(w, vpc, c, now, S):
    """One connection's transition, if due; True when the world changed."""
    changed = False
    if c.state == "APPROVED" and now - c.since >= S["aiven_build_seconds"]:
        build(w, vpc, c, now)
        changed = True
    elif c.state == "PENDING_PEER" and c.is_azure:
        p = customer_peering(w, vpc, c)
        if p and p.allow_vnet_access and p.state == "Connected" and now >= p.op_done_at and \
                now - p.updated >= S["aiven_activate_seconds"]:
            set_state(c, "ACTIVE", dict(ACTIVE_INFO), now)
            c.customer_peering = p.id
            changed = True
    elif c.state == "ACTIVE" and c.is_azure and customer_peering(w, vpc, c) is None:
        set_state(c, "DELETED_BY_PEER", {"message": "The peer VNet's peering to the project VNet was deleted",
                                         "type": "deleted-by-peer"}, now)
        teardown(w, vpc, c)
        changed = True
    elif c.state == "DELETING" and now - c.since >= S["aiven_delete_seconds"]:
        set_state(c, "DELETED", {"message": "Peering connection deleted", "type": "deleted"}, now)
        teardown(w, vpc, c)
        changed = True
    elif c.state == "DELETED" and c.served_deleted and now - c.since >= S["deleted_retention_seconds"]:
        w.remove_connection(vpc, c)
        changed = True
    return changed


def customer_peering(w, vpc, c):
    """The customer's live peering towards the provider VNet, or None."""
    v = w.vnet(c.peer_cloud_account, c.peer_resource_group, c.peer_vpc)
    if not v or not vpc.provider_vnet_id:
        return None
    return _live_peering(w, v.id, vpc.provider_vnet_id)


def _invalid_reason(w, vpc, c, now):
    """Why the provider cannot build this Azure connection (the first failing check), or None."""
    tenant = c.peer_azure_tenant_id
    sub = w.subscription(c.peer_cloud_account)
    v = w.vnet(c.peer_cloud_account, c.peer_resource_group, c.peer_vpc)
    app = w.app_anywhere(c.peer_azure_app_id)
    psp = w.sp_for_app(tenant, PROVIDER_APP_ID) if w.tenant(tenant) else None
    if sub is None or sub.tenant_id.lower() != tenant.lower():
        return "Subscription %s not found in Azure AD tenant %s" % (c.peer_cloud_account, tenant)
    if v is None:
        return "Virtual network %s not found in resource group %s of subscription %s" % (
            c.peer_vpc, c.peer_resource_group, c.peer_cloud_account)
    if overlapping(v.address_prefixes, [vpc.network_cidr]):
        return "Peer VNet address space %s overlaps with project VPC network %s" % (
            ", ".join(v.address_prefixes), vpc.network_cidr)
    if psp is None:
        return "Service principal of application %s not found in tenant %s" % (PROVIDER_APP_ID, tenant)
    if not w.allowed(tenant, psp.id, PEER_ACTION, v.id, now):
        return "Application %s does not have permission %s on %s" % (PROVIDER_APP_ID, PEER_ACTION, v.id)
    if app is None or app.tenant.lower() != tenant.lower():
        return "Application %s not found in tenant %s" % (c.peer_azure_app_id, tenant)
    if app.sign_in_audience not in MULTI_TENANT:
        return "Application %s is not a multi-tenant application" % c.peer_azure_app_id
    return None


def provider_peering_name(c):
    return "aiven-peer-" + c.uid[:13]


ACTIVE_INFO = {"message": "Peering connection active", "type": "azure-vnet-peering-active"}


def build(w, vpc, c, now):
    """APPROVED -> PENDING_PEER (the provider builds its side) or INVALID_SPECIFICATION."""
    if not c.is_azure:
        set_state(c, "PENDING_PEER", {
            "message": "Pending peer acceptance of the VPC peering connection", "type": "pending-peer",
            "aws_vpc_peering_connection_id": "pcx-" + c.uid.replace("-", "")[:17]}, now)
        return
    reason = _invalid_reason(w, vpc, c, now)
    if reason:
        set_state(c, "INVALID_SPECIFICATION", {"message": reason, "type": "invalid-specification"}, now)
        return
    v = w.vnet(c.peer_cloud_account, c.peer_resource_group, c.peer_vpc)
    pvnet = w.vnet_by_id(vpc.provider_vnet_id)
    ptenant = ids()["provider_tenant_id"]
    # in its own tenant the provider gives the customer app an SP, a role on its VNet (subject
    # to role propagation like any assignment) and the reverse peering
    sp = w.sp_for_app(ptenant, c.peer_azure_app_id)
    if sp is None:
        sp = w.add_sp(ptenant, c.peer_azure_app_id, created=now, owners=[did("sp:provider")])
        c.created_sp = sp.id
    ra_name = str(uuid.uuid5(NS, "provider-ra:%s:%s" % (pvnet.id.lower(), sp.id)))
    if ra_name not in w.role_assignments:
        w.add_role_assignment(ra_name, pvnet.id, NETWORK_CONTRIBUTOR_ROLE, sp.id, "ServicePrincipal", created=now,
                              created_by=did("sp:provider"))
        c.created_ra = ra_name
    pname = provider_peering_name(c)
    w.add_peering(pvnet, pname, v.id, True, now, owner="provider")
    c.provider_peering = (pvnet.id, pname.lower())
    set_state(c, "PENDING_PEER", {
        "message": "Pending peering from the peer VNet to the project VNet", "type": "pending-peer",
        "to-tenant-id": ptenant, "to-network-id": pvnet.id}, now)


def teardown(w, vpc, c):
    """The provider removes its reverse peering, and the role and SP it made for the app unless
    another live connection of the same app still needs them (that one inherits them)."""
    if c.provider_peering:
        pv = w.vnets.get(c.provider_peering[0].lower())
        if pv:
            w.remove_peering(pv, c.provider_peering[1])
        c.provider_peering = None
    live = w.connections_of_app(c.peer_azure_app_id, LIVE, but=c)
    if c.created_ra:
        heirs = [x for y, x in live if y.provider_vnet_id == vpc.provider_vnet_id]
        if heirs:
            heirs[0].created_ra = c.created_ra
        else:
            w.remove_role_assignment(c.created_ra)
        c.created_ra = None
    if c.created_sp:
        sp = w.sp(c.created_sp)
        if live:
            live[0][1].created_sp = c.created_sp
        elif sp is not None:
            w.remove_sp(sp)
        c.created_sp = None
