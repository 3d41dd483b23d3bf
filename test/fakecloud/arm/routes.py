# Copyright (c) 2026, peering developers
"""Azure Resource Manager (`/arm/…`): authentication (with auxiliary tokens), api-version,
subscriptions, tenants, resource groups and VNets.  Peerings and their async operations are in
peering.py, role definitions and assignments in authz.py; this class assembles them."""

import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from ..core.common import HttpError, is_uuid, new_id, Resp, scope_contains, VNET_READ
from ..core.models import Token
from ..core.routing import Service
from .authz import AuthorizationHandlers
from .guard import GuardHandlers
from .peering import PeeringHandlers
from .render import subscription_json, vnet_json

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
VNETS = RG + r"/providers/Microsoft\.Network/virtualNetworks"
VNET = VNETS + r"/(?P<vnet>[^/]+)"
PEERING = VNET + r"/virtualNetworkPeerings/(?P<peering>[^/]+)"
AUTHZ = r"(?P<scope>(?:/[^/]+)*?)/providers/Microsoft\.Authorization"
OPERATION = SUB + r"/providers/Microsoft\.Network/locations/(?P<location>[^/]+)/(?P<kind>operations|operationResults)" \
                  r"/(?P<op>[^/]+)"
API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha)?$")


def arm_time(t):
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(t))


@dataclass
class ArmCaller:
    """The caller's token and the valid auxiliary tokens it presented (for linked tenants)."""
    token: Token
    aux: list = field(default_factory=list)

    @property
    def tenant(self):
        return self.token.tenant


class ArmService(Service, PeeringHandlers, AuthorizationHandlers, GuardHandlers):
    PREFIX = "/arm"
    ROUTES = [
        ("GET", r"/subscriptions", "list_subscriptions"),
        ("GET", r"/tenants", "list_tenants"),
        ("GET", AUTHZ + r"/roleDefinitions", "list_role_definitions"),
        ("GET", AUTHZ + r"/roleDefinitions/(?P<guid>[^/]+)", "get_role_definition"),
        ("PUT", AUTHZ + r"/roleDefinitions/(?P<guid>[^/]+)", "put_role_definition"),
        ("DELETE", AUTHZ + r"/roleDefinitions/(?P<guid>[^/]+)", "delete_role_definition"),
        ("GET", AUTHZ + r"/roleAssignments", "list_role_assignments"),
        ("GET", AUTHZ + r"/roleAssignments/(?P<name>[^/]+)", "get_role_assignment"),
        ("PUT", AUTHZ + r"/roleAssignments/(?P<name>[^/]+)", "put_role_assignment"),
        ("DELETE", AUTHZ + r"/roleAssignments/(?P<name>[^/]+)", "delete_role_assignment"),
        ("GET", SUB, "get_subscription"),
        ("GET", SUB + r"/providers/Microsoft\.Network/virtualNetworks", "list_subscription_vnets"),
        ("GET", OPERATION, "get_operation"),
        ("GET", RG, "get_resource_group"),
        ("GET", VNETS, "list_group_vnets"),
        ("GET", VNET, "get_vnet"),
        ("GET", VNET + r"/virtualNetworkPeerings", "list_peerings"),
        ("GET", PEERING, "get_peering"),
        ("PUT", PEERING, "put_peering"),
        ("DELETE", PEERING, "delete_peering"),
    ]
    ROUTE_FLAGS = re.I

    def handle(self, req):
        caller = self.authenticate(req)  # ARM authenticates before it looks at api-version
        ver = req.q.get("api-version")
        if not ver:
            raise self.error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.")
        if not API_VERSION_RE.match(ver):
            raise self.error(400, "InvalidApiVersionParameter",
                             "The api-version '%s' is invalid. The supported versions are "
                             "'2024-05-01,2022-12-01,2022-04-01,2022-01-01,2020-01-01'." % ver)
        path = re.sub("/+", "/", req.raw_path[len(self.PREFIX):]).rstrip("/")
        return self.router.dispatch(req, path, caller=caller)

    # -- error shape and answers ----------------------------------------------------------

    @staticmethod
    def _ids():
        rid = new_id()
        return [("x-ms-request-id", rid), ("x-ms-correlation-request-id", rid)]

    def error(self, status, code, message, target=None, headers=None, extra=None):
        """ARM's error: {"error":{"code","message","target"?,"details":[],…extra}} + request ids."""
        err = {"code": code, "message": message, "details": []}
        if target is not None:
            err["target"] = target
        err.update(extra or {})
        return HttpError(Resp(status, {"error": err}, headers=self._ids() + list(headers or [])))

    def ok(self, status, obj, headers=None):
        return Resp(status, obj, headers=self._ids() + list(headers or []))

    def fault_error(self, status):
        code = "TooManyRequests" if status == 429 else "InternalServerError" if status >= 500 else "InjectedFault"
        return {"error": {"code": code, "message": "Injected fault (HTTP %d)" % status, "details": []}}

    def not_found(self, req):
        return self.error(404, "NotFound", "The requested path '%s' is not served." % req.raw_path)

    def not_allowed(self, req):
        return self.error(405, "MethodNotAllowed", "The requested method '%s' is not allowed here." % req.method)

    def deny(self, caller, action, scope):
        t = caller.token
        return self.error(403, "AuthorizationFailed",
                          "The client '%s' with object id '%s' does not have authorization to perform action '%s' "
                          "over scope '%s' or the scope is invalid. If access was recently granted, please refresh "
                          "your credentials." % (t.app_id, t.sp_id, action, scope))

    def require(self, req, caller, action, scope):
        if not self.w.allowed(caller.tenant, caller.token.sp_id, action, scope, req.now):
            raise self.deny(caller, action, scope)

    def group_not_found(self, rg):
        return self.error(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)

    def vnet_not_found(self, vname, rg):
        return self.error(404, "ResourceNotFound",
                          "The Resource 'Microsoft.Network/virtualNetworks/%s' under resource group '%s' was not "
                          "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix" % (vname, rg))

    # -- authentication -------------------------------------------------------------------

    def _bearer(self, value):
        parts = value.strip().split(None, 1)
        return parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else None

    def authenticate(self, req):
        auth = req.header("Authorization")
        if auth is None or not auth.strip():
            raise self.error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                                                          "missing.")
        value = self._bearer(auth)
        if value is None:
            raise self.error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                                                          "provided in an invalid format.")
        tok = self.cloud.tokens.get(value)
        if tok is None:
            raise self.error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if tok.aud != "arm":
            raise self.error(401, "InvalidAuthenticationToken",
                             "The access token has been obtained for wrong audience or resource "
                             "'https://graph.microsoft.com'. It should exactly match with one of the allowed audiences "
                             "'https://management.core.windows.net/','https://management.core.windows.net',"
                             "'https://management.azure.com/','https://management.azure.com'.")
        if req.now >= tok.exp:
            raise self.error(401, "ExpiredAuthenticationToken",
                             "The access token expiry UTC time '%s' is earlier than current UTC time '%s'."
                             % (arm_time(tok.exp), arm_time(req.now)))
        return ArmCaller(tok, self._auxiliary(req))

    def _auxiliary(self, req):
        """The tokens of `x-ms-authorization-auxiliary` (at most three), validated on every request."""
        hdr = req.header("x-ms-authorization-auxiliary")
        if hdr is None:
            return []
        entries = [e.strip() for e in hdr.split(",") if e.strip()]
        if len(entries) > 3:
            raise self.error(400, "TooManyAuxiliaryTokens", "The 'x-ms-authorization-auxiliary' header can hold at "
                                                            "most three tokens.")
        aux = []
        for e in entries:
            value = self._bearer(e)
            if value is None:
                raise self.error(401, "InvalidAuthenticationToken",
                                 "The access token in the 'x-ms-authorization-auxiliary' header is provided in an "
                                 "invalid format.")
            tok = self.cloud.tokens.get(value)
            if tok is None or tok.aud != "arm":
                raise self.error(401, "InvalidAuthenticationToken",
                                 "An access token in the 'x-ms-authorization-auxiliary' header is invalid.")
            if req.now >= tok.exp:
                raise self.error(401, "ExpiredAuthenticationToken",
                                 "The access token in the 'x-ms-authorization-auxiliary' header for client '%s' in "
                                 "tenant '%s' has expired at '%s'." % (tok.app_id, tok.tenant, arm_time(tok.exp)))
            aux.append(tok)
        return aux

    def subscription(self, caller, sub):
        """The addressed subscription; it must belong to the token's tenant (else 401 naming the right one)."""
        if not is_uuid(sub):
            raise self.error(400, "InvalidSubscriptionId",
                             "The provided subscription identifier '%s' is malformed or invalid." % sub)
        s = self.w.subscription(sub)
        if s is None:
            raise self.error(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % sub)
        if s.tenant_id.lower() != caller.tenant.lower():
            desc = ("The access token is from the wrong issuer 'https://sts.windows.net/%s/'. It must match the tenant "
                    "'https://sts.windows.net/%s/' associated with this subscription. Please use the authority (URL) "
                    "'https://login.windows.net/%s' to get the token. Note, if the subscription is transferred to "
                    "another tenant there is no impact to the services, but information about new tenant could take "
                    "time to propagate (up to an hour). If you just transferred your subscription and see this error "
                    "message, please try back later." % (caller.tenant, s.tenant_id, s.tenant_id))
            # the challenge names the subscription's tenant: how a client learns it (README, row 33)
            raise self.error(401, "InvalidAuthenticationTokenTenant", desc, headers=[
                ("WWW-Authenticate", 'Bearer authorization_uri="%s/login/%s", error="invalid_token", '
                                     'error_description="The access token is from the wrong issuer. It must match the '
                                     'tenant associated with this subscription. Please use correct authority to get '
                                     'the token."' % (self.cloud.base_url, s.tenant_id))])
        return s

    def page(self, req, items):
        """`page_size` items from `$skiptoken`, and an absolute nextLink when more follow."""
        ps = max(1, int(self.w.settings["page_size"]))
        try:
            skip = max(0, int(req.q.get("$skiptoken", "0")))
        except ValueError:
            raise self.error(400, "InvalidSkipToken", "The $skiptoken is invalid.")
        out = {"value": items[skip:skip + ps]}
        if skip + ps < len(items):
            pairs = [(k, v) for k, v in req.query_pairs if k != "$skiptoken"] + [("$skiptoken", str(skip + ps))]
            out["nextLink"] = "%s%s?%s" % (self.cloud.base_url, req.raw_path,
                                           urlencode(pairs, quote_via=quote, safe="$'()"))
        return out

    # -- subscriptions, tenants, resource groups, VNets -----------------------------------

    def visible(self, caller, s):
        """Azure lists a subscription to a caller with some role assignment at or below it."""
        pref = "/subscriptions/" + s.subscription_id
        return any(scope_contains(pref, ra.scope) for ra in self.w.assignments_of(caller.token.sp_id))

    def list_subscriptions(self, req, caller):
        subs = [subscription_json(s) for s in self.w.subscriptions.values()
                if s.tenant_id.lower() == caller.tenant.lower() and self.visible(caller, s)]
        return self.ok(200, self.page(req, subs))

    def list_tenants(self, req, caller):
        t = self.w.tenant(caller.tenant)
        return self.ok(200, {"value": [{"id": "/tenants/" + t.tenant_id, "tenantId": t.tenant_id,
                                        "tenantCategory": "Home", "displayName": t.display_name,
                                        "defaultDomain": t.default_domain, "domains": [t.default_domain]}]})

    def get_subscription(self, req, caller, sub):
        s = self.subscription(caller, sub)
        if not self.visible(caller, s):
            raise self.deny(caller, "Microsoft.Resources/subscriptions/read", "/subscriptions/" + s.subscription_id)
        return self.ok(200, subscription_json(s))

    def readable_vnets(self, req, caller, sub, rg=None):
        """The VNets of a subscription (and RG) the caller may read: lists filter instead of 403."""
        vnets = sorted(self.w.vnets.values(), key=lambda v: v.id.lower())
        return [vnet_json(self.w, v, req.now) for v in vnets
                if v.subscription.lower() == sub.lower() and (rg is None or v.resource_group.lower() == rg.lower())
                and self.w.allowed(caller.tenant, caller.token.sp_id, VNET_READ, v.id, req.now)]

    def list_subscription_vnets(self, req, caller, sub):
        s = self.subscription(caller, sub)
        return self.ok(200, self.page(req, self.readable_vnets(req, caller, s.subscription_id)))

    def group_scope(self, caller, sub, rg):
        """(subscription id, the RG or None, the RG's scope in stored casing when it exists)."""
        sid = self.subscription(caller, sub).subscription_id
        group = self.w.resource_group(sid, rg)
        return sid, group, "/subscriptions/%s/resourceGroups/%s" % (sid, group.name if group else rg)

    def get_resource_group(self, req, caller, sub, rg):
        sid, group, scope = self.group_scope(caller, sub, rg)
        self.require(req, caller, "Microsoft.Resources/subscriptions/resourceGroups/read", scope)
        if group is None:
            raise self.group_not_found(rg)
        return self.ok(200, {"id": scope, "name": group.name, "type": "Microsoft.Resources/resourceGroups",
                             "location": group.location, "properties": {"provisioningState": "Succeeded"}})

    def list_group_vnets(self, req, caller, sub, rg):
        sid, group, _ = self.group_scope(caller, sub, rg)
        if group is None:
            raise self.group_not_found(rg)
        return self.ok(200, self.page(req, self.readable_vnets(req, caller, sid, rg)))

    def vnet_scope(self, caller, sub, rg, vnet):
        """(subscription id, RG or None, VNet or None, the VNet's scope in stored casing when known).
        Authorization is checked on this scope before existence, as ARM does."""
        sid, group, rscope = self.group_scope(caller, sub, rg)
        v = self.w.vnet(sid, rg, vnet)
        return sid, group, v, "%s/providers/Microsoft.Network/virtualNetworks/%s" % (rscope, v.name if v else vnet)

    def existing_vnet(self, group, v, rg, vnet):
        if group is None:
            raise self.group_not_found(rg)
        if v is None:
            raise self.vnet_not_found(vnet, rg)
        return v

    def get_vnet(self, req, caller, sub, rg, vnet):
        _, group, v, scope = self.vnet_scope(caller, sub, rg, vnet)
        self.require(req, caller, VNET_READ, scope)
        return self.ok(200, vnet_json(self.w, self.existing_vnet(group, v, rg, vnet), req.now))
