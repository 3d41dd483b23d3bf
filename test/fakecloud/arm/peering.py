# Copyright (c) 2026, peering developers
"""ARM virtual network peerings and the async operations their PUT and DELETE start.  A mixin
of ArmService (routes.py), whose error helpers and caller it uses."""

import re

from ..core.common import (iso, new_id, norm, overlapping, PEER_ACTION, PEERING_DELETE, PEERING_READ, PEERING_WRITE,
                           VNET_ID_RE)
from ..core.transitions import sync_peerings
from .render import peering_json

OPERATION_READ = "Microsoft.Network/locations/operations/read"
OPERATION_RESULT_READ = "Microsoft.Network/locations/operationResults/read"
AZ_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9_]$|^[A-Za-z0-9]$")
FLAGS = ("allowVirtualNetworkAccess", "allowForwardedTraffic", "allowGatewayTransit", "useRemoteGateways")
# Azure's default limit of virtual network peerings per virtual network (README "Peering PUT")
PEERINGS_PER_VNET = 500


class PeeringHandlers:
    # -- async operations -----------------------------------------------------------------

    def operation_urls(self, req, sid, location, oid):
        """(Azure-AsyncOperation URL, Location URL), absolute, with the request's api-version."""
        base = "%s/arm/subscriptions/%s/providers/Microsoft.Network/locations/%s" % (self.cloud.base_url, sid,
                                                                                     location)
        ver = req.q.get("api-version")
        return ("%s/operations/%s?api-version=%s" % (base, oid, ver),
                "%s/operationResults/%s?api-version=%s" % (base, oid, ver))

    def get_operation(self, req, caller, sub, location, kind, op):
        """The status URL lies under /subscriptions/{sub}/providers/Microsoft.Network/locations: a
        role on the VNet alone does not reach it (403 AuthorizationFailed)."""
        sid = self.subscription(caller, sub).subscription_id
        ops = kind.lower() == "operations"
        self.require(req, caller, OPERATION_READ if ops else OPERATION_RESULT_READ,
                     "/subscriptions/%s/providers/Microsoft.Network/locations/%s/%s/%s" % (sid, location, kind, op))
        o = self.w.operations.get(op)
        if o is None or o.subscription != sid.lower():
            raise self.error(404, "OperationNotFound", "Operation '%s' was not found." % op)
        done = req.now >= o.done_at
        if ops:
            status = {"name": op, "status": "InProgress", "startTime": iso(o.start, True)}
            if done:
                status["status"] = "Failed" if o.error else "Succeeded"
                status["endTime"] = iso(o.done_at, True)
                if o.error:
                    status["error"] = dict(o.error, details=[])
            return self.ok(200, status)
        if not done:
            return self.ok(202, None, headers=[("Location", self.operation_urls(req, sid, o.location, op)[1])])
        if o.kind == "put":
            v = self.w.vnet_by_id(o.resource_id.rsplit("/virtualNetworkPeerings/", 1)[0])
            p = v.peerings.get(o.resource_id.rsplit("/", 1)[1].lower()) if v else None
            if p is not None:
                return self.ok(200, peering_json(self.w, p, req.now))
        return self.ok(204, None)

    # -- peerings -------------------------------------------------------------------------

    def list_peerings(self, req, caller, sub, rg, vnet):
        _, group, v, scope = self.vnet_scope(caller, sub, rg, vnet)
        self.require(req, caller, PEERING_READ, scope + "/virtualNetworkPeerings")
        v = self.existing_vnet(group, v, rg, vnet)
        return self.ok(200, self.page(req, [peering_json(self.w, p, req.now) for p in v.peerings.values()]))

    def get_peering(self, req, caller, sub, rg, vnet, peering):
        _, group, v, scope = self.vnet_scope(caller, sub, rg, vnet)
        pid = "%s/virtualNetworkPeerings/%s" % (scope, peering)
        self.require(req, caller, PEERING_READ, pid)
        p = self.existing_vnet(group, v, rg, vnet).peerings.get(peering.lower())
        if p is None:
            raise self.error(404, "NotFound", "Resource %s not found." % pid)
        return self.ok(200, peering_json(self.w, p, req.now))

    def delete_peering(self, req, caller, sub, rg, vnet, peering):
        """202 + Location + Azure-AsyncOperation; the peering shows Deleting until the operation ends."""
        sid, group, v, scope = self.vnet_scope(caller, sub, rg, vnet)
        self.require(req, caller, PEERING_DELETE, "%s/virtualNetworkPeerings/%s" % (scope, peering))
        self.refuse_if_locked("%s/virtualNetworkPeerings/%s" % (scope, peering), "delete")
        v = self.existing_vnet(group, v, rg, vnet)
        p = v.peerings.get(peering.lower())
        if p is None:
            return self.ok(204, None)
        if p.deleting_until is None:
            p.deleting_until = req.now + self.w.settings["async_operation_seconds"]
            p.delete_op = self.w.new_operation(sid, v.location, "delete", p.id, req.now).id
            self.w.deleting.add((v.id.lower(), peering.lower()))
            self.w.touch_link(v.id, p.remote_id)
        aurl, lurl = self.operation_urls(req, sid, v.location, p.delete_op)
        return self.ok(202, None, headers=[("Location", lurl), ("Azure-AsyncOperation", aurl)])

    def _peering_request(self, req, pname):
        """(properties, remote VNet id) of a well-formed PUT body."""
        if not (1 <= len(pname) <= 80) or not AZ_NAME_RE.match(pname):
            raise self.error(400, "InvalidResourceName", "Resource name %s is invalid. The name can be up to 80 "
                                                         "characters long. It must begin with a word character, and "
                                                         "it must end with a word character or with '_'. The name may "
                                                         "contain word characters or '.', '-', '_'." % pname)
        try:
            body = req.json_body()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
            raise self.error(400, "InvalidRequestFormat", "Cannot parse the request.")
        props = body.get("properties") or {}
        for b in FLAGS:
            if b in props and not isinstance(props[b], bool):
                raise self.error(400, "InvalidRequestFormat", "Cannot parse the request. Property '%s' must be a "
                                                              "boolean." % b)
        rvn = props.get("remoteVirtualNetwork")
        remote_id = rvn.get("id") if isinstance(rvn, dict) else None
        if not isinstance(remote_id, str) or not remote_id:
            raise self.error(400, "MissingJsonReferenceId",
                             "Value for reference id is missing. Path properties.remoteVirtualNetwork.")
        if not VNET_ID_RE.match(remote_id):
            raise self.error(400, "LinkedInvalidPropertyId",
                             "Property id '%s' at path 'properties.remoteVirtualNetwork.id' is invalid. Expect fully "
                             "qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
                             "'/providers/{resourceProviderNamespace}/'." % remote_id)
        return props, remote_id

    def _linked_principal(self, req, caller, pid, remote_id):
        """The token acting on the remote side: the caller in its own tenant, or its auxiliary
        token for the remote subscription's tenant; that one needs peer/action on the remote VNet."""
        t = caller.token
        rsub_id = VNET_ID_RE.match(remote_id).group(1)
        rsub = self.w.subscription(rsub_id)
        if rsub is None:
            raise self.error(403, "LinkedAuthorizationFailed",
                             "The client '%s' with object id '%s' has permission to perform action '%s' on scope "
                             "'%s'; however, the linked subscription '%s' was not found."
                             % (t.app_id, t.sp_id, PEERING_WRITE, pid, rsub_id))
        if rsub.tenant_id.lower() == t.tenant.lower():
            linked = t
        else:
            linked = None
            for a in caller.aux:
                if a.tenant.lower() == rsub.tenant_id.lower() and a.app_id.lower() == t.app_id.lower():
                    linked = a
            if linked is None:
                raise self.error(403, "LinkedAuthorizationFailed",
                                 "The client has permission to perform action '%s' on scope '%s', however the current "
                                 "tenant '%s' is not authorized to access linked subscription '%s'."
                                 % (PEER_ACTION, pid, t.tenant, rsub.subscription_id))
        if not self.w.allowed(linked.tenant, linked.sp_id, PEER_ACTION, remote_id, req.now):
            raise self.error(403, "LinkedAuthorizationFailed",
                             "The client '%s' with object id '%s' has permission to perform action '%s' on scope "
                             "'%s'; however, it does not have permission to perform action '%s' on the linked "
                             "scope(s) '%s' or the linked scope(s) are invalid."
                             % (t.app_id, t.sp_id, PEERING_WRITE, pid, PEER_ACTION, remote_id))

    def _check_remote(self, v, existing, pid, remote_id):
        rv = self.w.vnet_by_id(remote_id)
        if rv is None:
            raise self.error(400, "InvalidResourceReference",
                             "Resource %s referenced by resource %s was not found. Please make sure that the "
                             "referenced resource exists, and that both resources are in the same region."
                             % (remote_id, pid))
        if rv is v:
            raise self.error(400, "CannotPeerVnetWithItself", "Virtual network %s cannot be peered with itself." % v.id)
        ov = overlapping(v.address_prefixes, rv.address_prefixes)
        if ov:
            raise self.error(400, "VnetAddressSpacesOverlap",
                             "Cannot create or update peering %s. Virtual networks %s and %s cannot be peered because "
                             "their address spaces overlap. Overlapping address prefixes: %s"
                             % (pid, v.id, rv.id, ", ".join(ov)))
        if existing is not None and existing.deleting_until is not None:
            raise self.error(429, "RetryableErrorDueToAnotherOperation",
                             "Operation on %s is not allowed because another operation (delete) is in progress."
                             % pid, headers=[("Retry-After", "1")])
        if existing is not None and norm(existing.remote_id) != norm(remote_id):
            raise self.error(400, "RemoteVirtualNetworkCannotBeChanged",
                             "The remote virtual network of peering %s cannot be changed; delete and recreate it."
                             % pid)
        for q in self.w.link(v.id, remote_id):
            if q is not existing and q.deleting_until is None:
                raise self.error(400, "VnetAlreadyPeeredWithRemoteVnet",
                                 "Virtual network %s is already peered with remote virtual network %s by peering %s."
                                 % (v.id, rv.id, q.id))
        if existing is None and len(v.peerings) >= PEERINGS_PER_VNET:
            raise self.error(400, "PeeringLimitExceeded",
                             "Cannot create peering %s. Virtual network %s already has %d peerings, the limit of "
                             "virtual network peerings per virtual network." % (pid, v.id, PEERINGS_PER_VNET))

    def _overlap_with_peered(self, v, pid, remote_id):
        """The error the PUT's operation ends with when this VNet overlaps a VNet the remote one is
        already peered with: ARM accepts the PUT and fails it asynchronously (Azure/ResourceModules#731)."""
        rv = self.w.vnet_by_id(remote_id)
        for p in rv.peerings.values():
            other = self.w.vnet_by_id(p.remote_id)
            if other is None or other is v or p.deleting_until is not None:
                continue
            ov = overlapping(v.address_prefixes, other.address_prefixes)
            if ov:
                return {"code": "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet",
                        "message": "Cannot create or update peering %s. Virtual networks %s and %s cannot be peered "
                                   "because address space of the first virtual network overlaps with address space "
                                   "of virtual network %s already peered with the second virtual network. "
                                   "Overlapping address prefixes: %s." % (pid, v.id, rv.id, other.id, ", ".join(ov))}
        return None

    def put_peering(self, req, caller, sub, rg, vnet, peering):
        """Checks in the README's order; 201/200 + Azure-AsyncOperation."""
        sid, group, v, scope = self.vnet_scope(caller, sub, rg, vnet)
        pid = "%s/virtualNetworkPeerings/%s" % (scope, peering)
        self.require(req, caller, PEERING_WRITE, pid)
        self.refuse_if_locked(pid, "write")
        v = self.existing_vnet(group, v, rg, vnet)
        props, remote_id = self._peering_request(req, peering)
        self.refuse_by_policy(pid)
        self._linked_principal(req, caller, pid, remote_id)
        existing = v.peerings.get(peering.lower())
        self._check_remote(v, existing, pid, remote_id)
        overlap = self._overlap_with_peered(v, pid, remote_id)
        now = req.now
        allow = props.get("allowVirtualNetworkAccess", True)
        if existing is None:
            p = self.w.add_peering(v, peering, remote_id, allow, now, props=props)
            status = 201
        else:
            p = existing
            p.remote_id = remote_id
            p.allow_vnet_access = bool(allow)
            p.allow_forwarded_traffic = bool(props.get("allowForwardedTraffic", False))
            p.allow_gateway_transit = bool(props.get("allowGatewayTransit", False))
            p.use_remote_gateways = bool(props.get("useRemoteGateways", False))
            p.state = "Initiated"  # a PUT re-syncs a Disconnected peering
            # only the query re-syncs the address space; a PUT of the same body does not
            if req.q.get("syncRemoteAddressSpace") == "true":
                self.w.sync_remote_address_space(p)
            p.updated = now
            p.op_done_at = now + self.w.settings["async_operation_seconds"]
            p.etag = new_id()
            status = 200
        p.failed = overlap is not None
        self.w.touch_link(v.id, remote_id)
        sync_peerings(self.w, now)
        op = self.w.new_operation(sid, v.location, "put", p.id, now)
        op.error = overlap
        aurl, _ = self.operation_urls(req, sid, v.location, op.id)
        return self.ok(status, peering_json(self.w, p, now), headers=[("Azure-AsyncOperation", aurl)])
