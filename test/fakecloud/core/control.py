# Copyright (c) 2026, peering developers
"""The control API under `/_fake/` (no auth, never faulted, not logged): the world dump, the
request log, faults, reset and seed."""

import re

from ..aiven.render import vpc_json
from ..arm.render import provisioning_state, role_assignment_id, sync_level
from ..graph.models import Application
from .common import iso, Resp
from .presets import catalogue
from .routing import Router
from .seed import seed
from .transitions import tick


class BadControlRequest(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class ControlApi:
    PREFIX = "/_fake"
    ROUTES = [
        ("GET", r"/world", "world"),
        ("GET", r"/stats", "stats"),
        ("GET", r"/requests", "requests"),
        ("DELETE", r"/requests", "clear_requests"),
        ("POST", r"/faults", "add_fault"),
        ("GET", r"/faults", "list_faults"),
        ("DELETE", r"/faults", "clear_faults"),
        ("GET", r"/faults/presets", "list_presets"),
        ("POST", r"/reset", "reset"),
        ("POST", r"/seed", "seed"),
    ]

    def __init__(self, cloud):
        self.cloud = cloud
        self.router = Router(self, self.ROUTES, self.unknown, self.unknown)

    def handle(self, req):
        try:
            body = req.json_body() if req.body.strip() else {}
        except ValueError:
            return Resp(400, {"error": "invalid JSON body"})
        try:
            return self.router.dispatch(req, req.raw_path[len(self.PREFIX):].rstrip("/"), body=body)
        except BadControlRequest as e:
            return Resp(e.status, {"error": str(e)})
        except (ValueError, KeyError, TypeError, re.error) as e:
            return Resp(400, {"error": "%s: %s" % (type(e).__name__, e)})

    @staticmethod
    def unknown(req):
        return BadControlRequest("unknown control endpoint %s %s" % (req.method, req.raw_path.rstrip("/")), 404)

    # -- handlers -------------------------------------------------------------------------

    def world(self, req, body):
        with self.cloud.lock:
            tick(self.cloud.world, req.now)
            return Resp(200, dump(self.cloud, req.now))

    def stats(self, req, body):
        """Sizes of the world and the records the transitions have examined since the start (a
        request's cost in work, which must not grow with the world: test_scale.py)."""
        with self.cloud.lock:
            w = self.cloud.world
            return Resp(200, {"records_visited": w.visited,
                              "virtual_network_peerings": sum(len(v.peerings) for v in w.vnets.values()),
                              "aiven_connections": sum(len(v.connections) for v in w.all_vpcs())})

    def requests(self, req, body):
        try:
            since = int(req.q.get("since", "0"))
        except ValueError:
            raise BadControlRequest("since must be an integer")
        return Resp(200, {"requests": self.cloud.log.since(since)})

    def clear_requests(self, req, body):
        self.cloud.log.clear()
        return Resp(200, {"cleared": True})

    def add_fault(self, req, body):
        return Resp(200, {"id": self.cloud.faults.add(body)})

    def list_faults(self, req, body):
        return Resp(200, {"faults": self.cloud.faults.dump()})

    def list_presets(self, req, body):
        return Resp(200, {"presets": catalogue(self.cloud)})

    def clear_faults(self, req, body):
        self.cloud.faults.clear()
        return Resp(200, {"cleared": True})

    def reset(self, req, body):
        self.cloud.reset()
        return Resp(200, {"reset": True, "scenario": self.cloud.scenario})

    def seed(self, req, body):
        if not isinstance(body, dict):
            raise BadControlRequest("seed body must be a JSON object")
        with self.cloud.lock:
            tick(self.cloud.world, req.now)
            return Resp(200, seed(self.cloud, body, req.now))


# -- the world dump (its shape is a contract: t/PeeringTest.pm and the tests read it) ------

def _app(w, a, now):
    return {"id": a.id, "appId": a.app_id, "tenant": a.tenant, "displayName": a.display_name,
            "uniqueName": a.unique_name, "signInAudience": a.sign_in_audience, "createdDateTime": iso(a.created),
            "replicated": not w.fresh(a, now), "owners": list(a.owners),
            "passwordCredentials": [{"keyId": p.key_id, "hint": p.hint, "displayName": p.display_name,
                                     "startDateTime": iso(p.start), "endDateTime": iso(p.end)} for p in a.passwords]}


def _sp(w, s, now):
    return {"id": s.id, "appId": s.app_id, "tenant": s.tenant, "displayName": s.display_name,
            "appOwnerOrganizationId": s.app_owner_organization_id, "graphPermissions": list(s.graph_permissions),
            "owners": list(s.owners), "createdDateTime": iso(s.created), "replicated": not w.fresh(s, now)}


def _deleted_item(o):
    return {"id": o.id, "kind": "application" if isinstance(o, Application) else "servicePrincipal",
            "tenant": o.tenant, "appId": o.app_id, "displayName": o.display_name,
            "uniqueName": getattr(o, "unique_name", None), "deletedDateTime": iso(o.deleted)}


def _role_assignment(w, ra, now):
    rd = w.role_definitions.get(ra.role_guid)
    return {"name": ra.name, "id": role_assignment_id(ra), "scope": ra.scope, "roleDefinitionId": ra.role_guid,
            "roleName": rd.role_name if rd else None, "principalId": ra.principal_id,
            "principalType": ra.principal_type, "tenant": ra.tenant, "createdOn": iso(ra.created, True),
            "effective": w.effective(ra, now)}


def _vnet(w, v, now):
    return {"id": v.id, "subscription": v.subscription, "resource_group": v.resource_group, "name": v.name,
            "location": v.location, "tenant": v.tenant, "address_prefixes": list(v.address_prefixes),
            "peerings": [{"name": p.name, "id": p.id, "remote_id": p.remote_id, "peeringState": p.state,
                          "peeringSyncLevel": sync_level(w, p),
                          "provisioningState": provisioning_state(p, now),
                          "allowVirtualNetworkAccess": p.allow_vnet_access,
                          "allowForwardedTraffic": p.allow_forwarded_traffic,
                          "allowGatewayTransit": p.allow_gateway_transit,
                          "useRemoteGateways": p.use_remote_gateways, "owner": p.owner}
                         for p in v.peerings.values()]}


def dump(cloud, now):
    """Everything but secrets."""
    w = cloud.world
    return {
        "scenario": cloud.scenario, "base_url": cloud.base_url, "time": now, "settings": dict(w.settings),
        "tenants": [{"tenantId": t.tenant_id, "displayName": t.display_name, "defaultDomain": t.default_domain,
                     "role": t.role} for t in w.tenants.values()],
        "subscriptions": [{"subscriptionId": s.subscription_id, "tenantId": s.tenant_id,
                           "displayName": s.display_name, "state": s.state} for s in w.subscriptions.values()],
        "resourceGroups": [{"subscription": r.subscription, "name": r.name, "location": r.location}
                           for r in w.resource_groups.values()],
        "applications": [_app(w, a, now) for a in w.apps.values()],
        "servicePrincipals": [_sp(w, s, now) for s in w.sps.values()],
        "deletedItems": [_deleted_item(o) for o in w.deleted.values()],
        "roleDefinitions": [{"id": rd.guid, "roleName": rd.role_name, "type": rd.type, "tenant": rd.tenant,
                             "actions": list(rd.actions), "notActions": list(rd.not_actions),
                             "assignableScopes": list(rd.assignable_scopes)} for rd in w.role_definitions.values()],
        "roleAssignments": [_role_assignment(w, ra, now) for ra in w.role_assignments.values()],
        "virtualNetworks": [_vnet(w, v, now) for v in w.vnets.values()],
        "aiven": {"projects": [{"name": p.name, "vpcs": [dict(vpc_json(v), provider_vnet_id=v.provider_vnet_id)
                                                         for v in p.vpcs.values()]}
                               for p in w.projects.values()]},
        "operations": len(w.operations),
        "tokens_issued": len(cloud.tokens),
        "faults": cloud.faults.dump(),
    }
