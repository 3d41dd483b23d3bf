# Copyright (c) 2026, peering developers
"""The Aiven API (`/aiven/v1/project/{project}/…`): project VPCs and their peering connections,
and the project's services with their IP filters.  The connections' life after creation is in
core/transitions.py."""

import ipaddress
import json
import re
from urllib.parse import unquote

from ..core.common import HttpError, iso, new_id, Resp
from ..core.routing import Service
from ..core.transitions import set_state
from .models import PeeringConnection
from .render import connection_json, service_json, vpc_json

PROJECT_RE = re.compile(r"^/v1/project/(?P<project>[^/]+)(?P<rest>/.*)?$")
PEER = r"/vpcs/(?P<vpc>[^/]+)/peering-connections/peer-accounts/(?P<account>[^/]+)"
AZURE_FIELDS = ("peer_resource_group", "peer_azure_app_id", "peer_azure_tenant_id")
UNCHANGED_ON_REPOST = ("APPROVED", "PENDING_PEER", "ACTIVE", "APPROVED_PEER_REQUESTED")


class AivenService(Service):
    PREFIX = "/aiven"
    ROUTES = [  # below /v1/project/{project}
        ("GET", r"/vpcs", "list_vpcs"),
        ("GET", r"/vpcs/(?P<vpc>[^/]+)", "get_vpc"),
        ("POST", r"/vpcs/(?P<vpc>[^/]+)/peering-connections", "create_connection"),
        ("POST", r"/vpcs/(?P<vpc>[^/]+)/peering-connections/refresh", "refresh"),
        ("DELETE", PEER + r"/peer-resource-groups/(?P<rg>[^/]+)/peer-vpcs/(?P<vnet>[^/]+)", "delete_connection"),
        ("DELETE", PEER + r"/peer-vpcs/(?P<vnet>[^/]+)", "delete_connection"),
        ("PUT", r"/vpcs/(?P<vpc>[^/]+)/user-peer-network-cidrs", "update_user_peer_network_cidrs"),
        ("GET", r"/service", "list_services"),
        ("PUT", r"/service/(?P<service>[^/]+)", "update_service"),
    ]

    def handle(self, req):
        auth = (req.header("Authorization") or "").strip().split(None, 1)
        token = auth[1].strip() if len(auth) == 2 and auth[0].lower() in ("aivenv1", "bearer") else None
        if not token or token not in self.w.aiven_tokens:
            raise self.error(403, "Authentication failed")
        m = PROJECT_RE.match(req.raw_path[len(self.PREFIX):].rstrip("/"))
        if m is None:
            raise self.not_found(req)
        return self.router.dispatch(req, m.group("rest") or "", proj=self.project(token, unquote(m.group("project"))))

    # -- error shape ----------------------------------------------------------------------

    @staticmethod
    def error(status, message, error_code=None):
        """Aiven's error: {"errors":[{"message","status","error_code"?}],"message"}; the answers
        users quote for an unknown project, a non-member and a VPC still being built carry no
        `error_code`."""
        e = {"message": message, "status": status}
        if error_code:
            e["error_code"] = error_code
        return HttpError(Resp(status, {"errors": [e], "message": message}))

    def fault_error(self, status):
        return json.loads(self.error(status, "Injected fault (HTTP %d)" % status).resp.body)

    def not_found(self, req):
        return self.error(404, "Not Found: %s" % req.raw_path)

    def not_allowed(self, req):
        return self.error(405, "Method not allowed")

    # -- project and VPC lookups ----------------------------------------------------------

    def project(self, token, project):
        """Existence before membership: 404 "Project does not exist", then 403 "Not a project
        member", both without `error_code`, as Aiven answers them."""
        proj = self.w.projects.get(project)
        if proj is None:
            raise self.error(404, "Project does not exist")
        if project not in self.w.aiven_tokens[token]:
            raise self.error(403, "Not a project member")
        return proj

    def vpc(self, proj, vpc):
        v = proj.vpcs.get(vpc)
        if v is None:
            raise self.error(404, "Project VPC does not exist", "project_vpc_not_found")
        return v

    # -- handlers -------------------------------------------------------------------------

    def null_state_info(self):
        return bool(self.w.settings.get("aiven_null_state_info"))

    def list_vpcs(self, req, proj):
        return Resp(200, {"vpcs": [vpc_json(v, False) for v in proj.vpcs.values()]})

    def get_vpc(self, req, proj, vpc):
        """Shows DELETED connections; once shown, they may leave after the retention time."""
        v = self.vpc(proj, vpc)
        out = vpc_json(v, null_state_info=self.null_state_info())
        for c in v.connections:
            if c.state == "DELETED":
                c.served_deleted = True
        return Resp(200, out)

    def refresh(self, req, proj, vpc):
        """Aiven's side of the VPC's peerings re-reads the peer VNets' address spaces, at once or
        after `aiven_refresh_seconds` (core/transitions.refresh_step); no body."""
        v = self.vpc(proj, vpc)
        self.w.ask_refresh(v, req.now)
        return Resp(200, vpc_json(v, null_state_info=self.null_state_info()))

    # -- services -------------------------------------------------------------------------

    def _cloud_of(self, proj, s):
        v = proj.vpcs.get(s.project_vpc_id) if s.project_vpc_id else None
        return v.cloud_name if v else "azure-westeurope"

    def list_services(self, req, proj):
        return Resp(200, {"services": [service_json(s, self._cloud_of(proj, s)) for s in proj.services.values()]})

    @classmethod
    def _invalid_user_config(cls, detail):
        # the shape of terraform-provider-aiven#984's answer
        return cls.error(400, "Invalid 'user_config': Invalid input for %s" % detail)

    @classmethod
    def check_ip_filter(cls, entries):
        """Aiven's schema: an array of network strings or {network, description?} objects; a
        network is an address or a CIDR (host bits allowed)."""
        if not isinstance(entries, list):
            raise cls._invalid_user_config("ip_filter: %s is not of type 'array'" % json.dumps(entries))
        for e in entries:
            net = e.get("network") if isinstance(e, dict) else e
            if isinstance(e, dict) and (set(e) - {"network", "description"} or
                                        not isinstance(e.get("description", ""), str) or
                                        len(e.get("description", "")) > 1024):
                raise cls._invalid_user_config("ip_filter: %s is not valid under any of the given schemas"
                                               % json.dumps(e))
            try:
                if not isinstance(net, str) or net != net.strip():
                    raise ValueError(net)
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise cls._invalid_user_config("ip_filter: %s is not valid under any of the given schemas"
                                               % json.dumps(e))

    def _object_body(self, req):
        """The request's JSON object; anything else → 400 (Aiven's answer to a bad body)."""
        try:
            body = req.json_body()
        except ValueError:
            raise self.error(400, "Invalid JSON in request body")
        if not isinstance(body, dict):
            raise self.error(400, "Request body must be a JSON object")
        return body

    def update_service(self, req, proj, service):
        """`user_config` keys given replace those keys; the others are kept."""
        s = proj.services.get(service)
        if s is None:
            raise self.error(404, "Service %s does not exist" % service)
        body = self._object_body(req)
        uc = body.get("user_config", {})
        if not isinstance(uc, dict):
            raise self.error(400, "Invalid 'user_config': %s is not of type 'object'" % json.dumps(uc))
        if "ip_filter" in uc:
            self.check_ip_filter(uc["ip_filter"])
        s.user_config.update(json.loads(json.dumps(uc)))
        s.update_time = iso(req.now)
        return Resp(200, {"service": service_json(s, self._cloud_of(proj, s))})

    def delete_connection(self, req, proj, vpc, account, vnet, rg=None):
        """The form without an RG prefers a connection without one."""
        v = self.vpc(proj, vpc)
        cands = [c for c in v.connections if c.peer_cloud_account == account and c.peer_vpc == vnet
                 and (rg is None or c.peer_resource_group == rg)]
        if rg is None and len(cands) > 1:
            cands = [c for c in cands if c.peer_resource_group is None] or cands[:1]
        cands = [c for c in cands if c.state != "DELETED"]
        if not cands:
            raise self.error(404, "Peering connection does not exist", "peering_connection_not_found")
        c = cands[0]
        if c.state != "DELETING":
            set_state(c, "DELETING", None, req.now)
            self.w.watch(v, c)
        return Resp(200, connection_json(c, self.null_state_info()))

    def _connection_request(self, req, v):
        """The validated POST body: (body, CIDR list)."""
        body = self._object_body(req)
        required = ["peer_cloud_account", "peer_vpc"] + (list(AZURE_FIELDS) if v.is_azure else [])
        for f in ("peer_cloud_account", "peer_vpc", "peer_region") + AZURE_FIELDS:
            val = body.get(f)
            if val is not None and (not isinstance(val, str) or len(val) > 1024):
                raise self.error(400, "Invalid input for %s: expected a string of at most 1024 characters" % f)
        for f in required:
            if not body.get(f):
                raise self.error(400, "Missing required field '%s'%s" % (
                    f, " for an Azure project VPC" if f in AZURE_FIELDS else ""))
        cidrs = body.get("user_peer_network_cidrs")
        cidrs = [] if cidrs is None else cidrs
        if not isinstance(cidrs, list) or len(cidrs) > 128 or not all(isinstance(x, str) for x in cidrs):
            raise self.error(400, "Invalid input for user_peer_network_cidrs")
        for x in cidrs:
            self._check_cidr("user_peer_network_cidrs", x)
        if v.is_azure:
            for f in ("peer_cloud_account", "peer_resource_group", "peer_vpc"):
                if body[f] != body[f].lower():
                    raise self.error(400, "Invalid input for %s: Azure names must be given in lower case ('%s')"
                                     % (f, body[f]))
            if body.get("peer_region"):
                raise self.error(400, "Invalid input for peer_region: not supported for Azure project VPCs")
        else:
            extra = [f for f in AZURE_FIELDS if body.get(f) is not None]
            if extra:
                raise self.error(400, "Invalid input for %s: only valid for an Azure project VPC (cloud '%s')"
                                 % (", ".join(extra), v.cloud_name))
        return body, list(cidrs)

    def create_connection(self, req, proj, vpc):
        """A duplicate (same account, RG, VNet) is returned unchanged while live, re-requested
        when INVALID_SPECIFICATION, refused (409) while DELETING, replaced when finished."""
        v = self.vpc(proj, vpc)
        if v.state != "ACTIVE":
            # terraform-provider-aiven#42: a peering request in a VPC still being built
            raise self.error(409, "Project VPC %s is in state %s, not ACTIVE" % (v.project_vpc_id, v.state))
        body, cidrs = self._connection_request(req, v)
        now = req.now
        key = (body["peer_cloud_account"], body.get("peer_resource_group") if v.is_azure else None, body["peer_vpc"],
               None if v.is_azure else body.get("peer_region"))
        for c in v.connections:
            if (c.peer_cloud_account, c.peer_resource_group, c.peer_vpc, c.peer_region) != key:
                continue
            if c.state in UNCHANGED_ON_REPOST:
                return Resp(200, connection_json(c, self.null_state_info()))
            if c.state == "DELETING":
                raise self.error(409, "Peering connection is being deleted; retry once it is DELETED",
                                 "peering_connection_deleting")
            if c.state == "INVALID_SPECIFICATION":
                if v.is_azure:
                    c.peer_azure_app_id = body["peer_azure_app_id"]
                    c.peer_azure_tenant_id = body["peer_azure_tenant_id"]
                c.user_peer_network_cidrs = cidrs
                set_state(c, "APPROVED", None, now)
                self.w.watch(v, c)
                return Resp(200, connection_json(c, self.null_state_info()))
            self.w.remove_connection(v, c)  # DELETED, DELETED_BY_PEER, REJECTED_BY_PEER, ERROR: replaced
            break
        c = PeeringConnection(
            create_time=iso(now), update_time=iso(now), peer_cloud_account=key[0], peer_resource_group=key[1],
            peer_vpc=key[2], peer_region=key[3],
            peer_azure_app_id=body.get("peer_azure_app_id") if v.is_azure else None,
            peer_azure_tenant_id=body.get("peer_azure_tenant_id") if v.is_azure else None,
            user_peer_network_cidrs=cidrs,
            vpc_peering_connection_type="azure-vnet-peering" if v.is_azure else "aws-vpc-peering-connection",
            since=now, uid=new_id())
        self.w.add_connection(v, c)
        return Resp(200, connection_json(c, self.null_state_info()))

    def _check_cidr(self, field, value):
        """A CIDR as Aiven takes it: a string naming a network, no host bits set."""
        try:
            ipaddress.ip_network(value, strict=True)
        except (TypeError, ValueError):
            raise self.error(400, "Invalid input for %s: '%s' is not a CIDR" % (field, value))

    def update_user_peer_network_cidrs(self, req, proj, vpc):
        """`add` routes each CIDR through the live connection of this VPC it names (account, RG,
        VNet; none → 404 `peering_connection_not_found`); `delete` takes each CIDR off every
        connection of the VPC; a CIDR no connection routes is ignored (the fake's assumption).
        Both keys are optional.  Checked whole before anything changes; a connection may route at
        most 128.  Answers the VPC."""
        v = self.vpc(proj, vpc)
        body = self._object_body(req)
        add = body.get("add") or []
        delete = body.get("delete") or []
        if not isinstance(add, list) or not all(isinstance(a, dict) for a in add):
            raise self.error(400, "Invalid input for add: expected a list of objects")
        if not isinstance(delete, list):
            raise self.error(400, "Invalid input for delete: expected a list of CIDRs")
        for x in delete:
            self._check_cidr("delete", x)
        targets = []
        for a in add:
            for f in ("cidr", "peer_cloud_account", "peer_vpc") + (("peer_resource_group",) if v.is_azure else ()):
                if not isinstance(a.get(f), str) or not a[f]:
                    raise self.error(400, "Missing required field 'add.%s'" % f)
            self._check_cidr("add.cidr", a["cidr"])
            match = [c for c in v.connections
                     if c.peer_cloud_account == a["peer_cloud_account"] and c.peer_vpc == a["peer_vpc"]
                     and (not v.is_azure or c.peer_resource_group == a["peer_resource_group"])
                     and c.state in UNCHANGED_ON_REPOST]
            if not match:
                raise self.error(404, "Peering connection does not exist", "peering_connection_not_found")
            targets.append((match[0], a["cidr"]))
        after = {id(c): [x for x in c.user_peer_network_cidrs if x not in delete] for c in v.connections}
        for c, cidr in targets:
            if cidr not in after[id(c)]:
                after[id(c)].append(cidr)
        for c in v.connections:
            if len(after[id(c)]) > 128:
                raise self.error(400, "Invalid input for add: a peering connection routes at most 128 CIDRs")
        for c in v.connections:
            if after[id(c)] != c.user_peer_network_cidrs:
                c.user_peer_network_cidrs = after[id(c)]
                c.update_time = iso(req.now)
        return Resp(200, vpc_json(v, null_state_info=self.null_state_info()))
