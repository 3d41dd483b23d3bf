#!/usr/bin/python3
"""fakecloud: an HTTPS fake of Azure AD (token endpoint), Microsoft Graph v1.0,
Azure Resource Manager and the Aiven API, for the `peering` extension's tests.

Python 3 standard library only.  Run:

    /usr/bin/python3 test/fakecloud/fakecloud.py --dir DIR [--port N]
        [--scenario demo|test] [--latency-ms N]

It writes DIR/ca.crt, DIR/world.json and secret files (mode 0600), then prints
`fakecloud listening on https://127.0.0.1:PORT` once it accepts connections.
See README.md next to this file for the endpoints, rules and control API.
"""

import argparse
import base64
import hmac
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

PROVIDER_APP_ID = "55f300d4-fc50-4c5e-9222-e90a6e2187fb"
OWNER_ROLE = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR_ROLE = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER_ROLE = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
NETWORK_CONTRIBUTOR_ROLE = "4d97b98b-1d4f-4787-a291-c67834d212e7"
UAA_ROLE = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

PEERING_WRITE = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write"
PEERING_READ = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read"
PEERING_DELETE = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete"
PEER_ACTION = "Microsoft.Network/virtualNetworks/peer/action"
VNET_READ = "Microsoft.Network/virtualNetworks/read"

BUILTIN_ROLES = [
    (OWNER_ROLE, "Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
     ["*"], []),
    (CONTRIBUTOR_ROLE, "Contributor", "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
     ["*"], ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
             "Microsoft.Authorization/elevateAccess/Action"]),
    (READER_ROLE, "Reader", "View all resources, but does not allow you to make any changes.", ["*/read"], []),
    (NETWORK_CONTRIBUTOR_ROLE, "Network Contributor", "Lets you manage networks, but not access to them.",
     ["Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"], []),
    (UAA_ROLE, "User Access Administrator", "Lets you manage user access to Azure resources.",
     ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], []),
]

ARM_SCOPES = {
    "https://management.azure.com/.default", "https://management.azure.com//.default",
    "https://management.core.windows.net/.default", "https://management.core.windows.net//.default",
    "797f4846-ba00-4fd7-ba43-dac1f8f63013/.default",
}
GRAPH_SCOPES = {
    "https://graph.microsoft.com/.default", "https://graph.microsoft.com//.default",
    "00000003-0000-0000-c000-000000000000/.default",
}
GRAPH_PERMS = {"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy", "Application.Read.All"}
SIGN_IN_AUDIENCES = {"AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount"}
MULTI_TENANT = {"AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount"}
PRINCIPAL_TYPES = {"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"}

SETTING_KEYS = {
    "aiven_build_seconds": float, "aiven_activate_seconds": float, "aiven_delete_seconds": float,
    "deleted_retention_seconds": float, "role_propagation_seconds": float,
    "graph_replication_seconds": float, "secret_propagation_seconds": float,
    "async_operation_seconds": float, "token_lifetime_seconds": float, "page_size": int,
    "latency_ms": float,
}
SCENARIOS = {
    "test": {
        "aiven_build_seconds": 0.0, "aiven_activate_seconds": 0.0, "aiven_delete_seconds": 0.0,
        "deleted_retention_seconds": 0.0, "role_propagation_seconds": 0.0,
        "graph_replication_seconds": 0.0, "secret_propagation_seconds": 0.0,
        "async_operation_seconds": 0.0, "token_lifetime_seconds": 3599.0, "page_size": 2,
        "latency_ms": 0.0,
    },
    "demo": {
        "aiven_build_seconds": 5.0, "aiven_activate_seconds": 4.0, "aiven_delete_seconds": 3.0,
        "deleted_retention_seconds": 10.0, "role_propagation_seconds": 3.0,
        "graph_replication_seconds": 2.0, "secret_propagation_seconds": 3.0,
        "async_operation_seconds": 2.0, "token_lifetime_seconds": 3599.0, "page_size": 2,
        "latency_ms": 0.0,
    },
}

NS = uuid.UUID("3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
MAX_BODY = 8 * 1024 * 1024
REDACT_HEADERS = {"authorization", "x-ms-authorization-auxiliary", "cookie", "proxy-authorization"}
REDACT_FIELDS = {"client_secret", "secrettext", "access_token", "refresh_token", "client_assertion",
                 "password", "secret", "token"}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VNET_ID_RE = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/"
                        r"virtualNetworks/([^/]+)/?$", re.I)
ROLEDEF_ID_RE = re.compile(r"(?:^|/)providers/Microsoft\.Authorization/roleDefinitions/([^/]+)$", re.I)
AZ_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9_]$|^[A-Za-z0-9]$")


def did(name):
    """Deterministic id for seeded objects (same on every start and reset)."""
    return str(uuid.uuid5(NS, name))


def new_id():
    return str(uuid.uuid4())


def iso(t, frac=False):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    if frac:
        s += ".%07d" % int((t % 1) * 1e7)
    return s + "Z"


def is_uuid(s):
    return isinstance(s, str) and bool(UUID_RE.match(s))


def norm(s):
    return (s or "").rstrip("/").lower()


def scope_contains(ancestor, scope):
    a, s = norm(ancestor), norm(scope)
    return a == "" or s == a or s.startswith(a + "/")


_action_cache = {}


def action_match(pattern, action):
    rx = _action_cache.get(pattern)
    if rx is None:
        rx = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.I)
        _action_cache[pattern] = rx
    return bool(rx.match(action))


def overlapping(prefixes_a, prefixes_b):
    out = []
    for a in prefixes_a:
        for b in prefixes_b:
            try:
                if ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False)):
                    out.append(a)
            except ValueError:
                continue
    return out


def odata_key(s):
    """Decode an OData string literal body ('' -> ')."""
    return s.replace("''", "'")


# ---------------------------------------------------------------------------
# Responses and errors
# ---------------------------------------------------------------------------

class Resp:
    def __init__(self, status, obj=None, headers=None, raw=None, ctype="application/json; charset=utf-8"):
        self.status = status
        self.headers = list(headers or [])
        if raw is not None:
            self.body = raw
        elif obj is None:
            self.body = b""
        else:
            self.body = json.dumps(obj, separators=(",", ":")).encode()
        self.ctype = ctype if self.body else None


class HttpError(Exception):
    def __init__(self, resp):
        super().__init__(resp.status)
        self.resp = resp


class Req:
    def __init__(self, method, target, headers, body, base_url):
        self.method = method
        parts = urlsplit(target)
        self.raw_path = parts.path or "/"
        self.raw_query = parts.query
        self.query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        self.q = {}
        for k, v in self.query_pairs:
            self.q[k] = v
        self.qlower = {k.lower(): v for k, v in self.query_pairs}
        self.headers = headers
        self.body = body
        self.base_url = base_url
        self.now = time.time()
        self._json = None
        self._json_done = False

    def header(self, name, default=None):
        v = self.headers.get(name)
        return default if v is None else v

    def json_body(self):
        """Parsed JSON body, None when empty; raises ValueError when malformed."""
        if not self._json_done:
            self._json_done = True
            if self.body.strip():
                self._json = json.loads(self.body.decode("utf-8"))
        return self._json


# ---------------------------------------------------------------------------
# Request log and faults
# ---------------------------------------------------------------------------

def redact_obj(o):
    if isinstance(o, dict):
        return {k: ("REDACTED" if k.lower() in REDACT_FIELDS and v is not None else redact_obj(v))
                for k, v in o.items()}
    if isinstance(o, list):
        return [redact_obj(x) for x in o]
    return o


def redact_headers(headers):
    out = {}
    for k, v in headers.items():
        if k.lower() in REDACT_HEADERS:
            schemes = [p.strip().split(" ", 1)[0] for p in v.split(",") if p.strip()]
            v = ", ".join("%s REDACTED" % s for s in schemes) if schemes else "REDACTED"
        out[k] = v
    return out


def redact_body(headers, body):
    if not body:
        return None
    ctype = (headers.get("Content-Type") or "").lower()
    text = body.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in ctype:
        return {k: ("REDACTED" if k.lower() in REDACT_FIELDS else v)
                for k, v in parse_qsl(text, keep_blank_values=True)}
    try:
        return redact_obj(json.loads(text))
    except ValueError:
        pass
    try:  # a form body sent without its content type still must not leak
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        if any(k.lower() in REDACT_FIELDS for k, _ in pairs):
            return {k: ("REDACTED" if k.lower() in REDACT_FIELDS else v) for k, v in pairs}
    except ValueError:
        pass
    return text[:4096]


class RequestLog:
    MAX = 200000

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0

    def arrive(self, req):
        e = {"seq": 0, "time": req.now, "method": req.method, "path": req.raw_path,
             "query": req.raw_query, "status": None, "headers": redact_headers(req.headers),
             "body": redact_body(req.headers, req.body)}
        with self.lock:
            self.seq += 1
            e["seq"] = self.seq
            self.entries.append(e)
            if len(self.entries) > self.MAX:
                del self.entries[: len(self.entries) - self.MAX]
        return e

    def since(self, seq):
        with self.lock:
            return [dict(e) for e in self.entries if e["seq"] > seq]

    def clear(self):
        with self.lock:
            self.entries = []


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        method = str(spec.get("method", "*")).upper()
        path = spec.get("path", "")
        if not isinstance(path, str):
            raise ValueError("path must be a string (python regex)")
        rx = re.compile(path)
        count = int(spec.get("count", 1))
        status = spec.get("status")
        if status is not None:
            status = int(status)
            if not 100 <= status <= 599:
                raise ValueError("status out of range")
        f = {"id": new_id(), "method": method, "path": path, "rx": rx, "count": count,
             "status": status, "retry_after": spec.get("retry_after"),
             "delay_ms": float(spec.get("delay_ms") or 0), "reset": bool(spec.get("reset")),
             "malformed": bool(spec.get("malformed")), "body": spec.get("body"),
             "headers": spec.get("headers") or {}, "hits": 0}
        if not (f["status"] or f["delay_ms"] or f["reset"] or f["malformed"]):
            raise ValueError("a fault needs status, delay_ms, reset or malformed")
        with self.lock:
            self.items.append(f)
        return f["id"]

    def match(self, method, path):
        with self.lock:
            for f in self.items:
                if f["method"] not in ("*", method):
                    continue
                if not f["rx"].search(path):
                    continue
                f["count"] -= 1
                f["hits"] += 1
                if f["count"] <= 0:
                    self.items.remove(f)
                return dict(f)
        return None

    def clear(self):
        with self.lock:
            self.items = []

    def dump(self):
        with self.lock:
            return [{k: v for k, v in f.items() if k != "rx"} for f in self.items]


# ---------------------------------------------------------------------------
# The cloud
# ---------------------------------------------------------------------------

class Cloud:
    def __init__(self, scenario, base_url, latency_ms=0.0, static=None):
        self.lock = threading.RLock()
        self.scenario = scenario
        self.base_url = base_url
        self.cli_latency_ms = float(latency_ms or 0)
        self.static = static or {
            "admin_secret": "adm~" + secrets.token_urlsafe(30),
            "limited_secret": "lim~" + secrets.token_urlsafe(30),
            "provider_secret": "prv~" + secrets.token_urlsafe(30),
            "aiven_token": secrets.token_urlsafe(32),
            "other_aiven_token": secrets.token_urlsafe(32),
        }
        self.tokens = {}
        self.log = RequestLog()
        self.faults = Faults()
        self.reset()

    # -- world construction -------------------------------------------------

    def ids(self):
        return {
            "tenant_id": did("tenant:customer"),
            "provider_tenant_id": did("tenant:provider"),
            "other_tenant_id": did("tenant:other"),
            "subscription_id": did("subscription:customer"),
            "provider_subscription_id": did("subscription:provider"),
            "other_subscription_id": did("subscription:other"),
            "resource_group": "rg-peering",
            "vnet_name": "vnet-app",
            "second_vnet_name": "vnet-app2",
            "overlap_vnet_name": "vnet-overlap",
            "admin_client_id": did("app:admin"),
            "limited_client_id": did("app:limited"),
            "provider_app_id": PROVIDER_APP_ID,
            "project": "acme-prod",
            "other_project": "other-corp",
            "project_vpc_id": did("vpc:acme-prod:azure"),
            "aws_project_vpc_id": did("vpc:acme-prod:aws"),
            "vpc_network_cidr": "10.213.2.0/24",
        }

    def reset(self):
        with self.lock:
            self.settings = dict(SCENARIOS[self.scenario])
            self.settings["latency_ms"] = self.cli_latency_ms
            self.faults.clear()
            self.d = {"tenants": {}, "subscriptions": {}, "rgs": {}, "vnets": {}, "apps": {}, "sps": {},
                      "roledefs": {}, "ras": {}, "ops": {}, "projects": {}, "aiven_tokens": {}}
            self.deleting = set()
            self._build_initial()
            self.peer_dirty = True

    def _build_initial(self):
        I = self.ids()
        past = time.time() - 86400.0
        self._add_tenant(I["tenant_id"], "Acme Corp (customer)", "acme.onmicrosoft.com", "customer")
        self._add_tenant(I["provider_tenant_id"], "Aiven (provider)", "aivenprovider.onmicrosoft.com", "provider")
        self._add_tenant(I["other_tenant_id"], "Other Corp", "othercorp.onmicrosoft.com", "other")
        self._add_sub(I["subscription_id"], I["tenant_id"], "acme-subscription")
        self._add_sub(I["provider_subscription_id"], I["provider_tenant_id"], "aiven-provider-subscription")
        self._add_sub(I["other_subscription_id"], I["other_tenant_id"], "other-subscription")
        sub = I["subscription_id"]
        self._add_vnet(sub, "rg-peering", "vnet-app", ["10.1.0.0/16"], "westeurope", created=past)
        self._add_vnet(sub, "rg-peering", "vnet-app2", ["10.2.0.0/16"], "westeurope", created=past)
        self._add_vnet(sub, "rg-peering", "vnet-overlap", ["10.213.0.0/16"], "westeurope", created=past)
        for guid, name, desc, actions, not_actions in BUILTIN_ROLES:
            self.d["roledefs"][guid] = {"guid": guid, "roleName": name, "type": "BuiltInRole",
                                        "description": desc, "actions": list(actions),
                                        "notActions": list(not_actions), "assignableScopes": ["/"],
                                        "tenant": None, "created": past, "updated": past}
        # admin automation principal: multi-tenant app so it also has an SP in the other tenant
        admin = self._add_app(I["tenant_id"], "fakecloud-admin", "AzureADMultipleOrgs", app_id=I["admin_client_id"],
                              obj_id=did("appobj:admin"), created=past)
        self._add_password(admin, self.static["admin_secret"], "admin", created=past)
        sp = self._add_sp(I["tenant_id"], admin["appId"], obj_id=did("sp:admin"), created=past,
                          graph_permissions=["Application.ReadWrite.All"])
        self._add_ra(did("ra:admin-owner"), "/subscriptions/" + sub, OWNER_ROLE, sp["id"], "ServicePrincipal",
                     created=past)
        self._add_sp(I["other_tenant_id"], admin["appId"], obj_id=did("sp:admin:other"), created=past,
                     graph_permissions=["Application.ReadWrite.All"])
        self._add_ra(did("ra:admin-owner-other"), "/subscriptions/" + I["other_subscription_id"], OWNER_ROLE,
                     did("sp:admin:other"), "ServicePrincipal", created=past)
        # limited principal: OwnedBy + Reader
        lim = self._add_app(I["tenant_id"], "fakecloud-limited", "AzureADMyOrg", app_id=I["limited_client_id"],
                            obj_id=did("appobj:limited"), created=past)
        self._add_password(lim, self.static["limited_secret"], "limited", created=past)
        lsp = self._add_sp(I["tenant_id"], lim["appId"], obj_id=did("sp:limited"), created=past,
                           graph_permissions=["Application.ReadWrite.OwnedBy"])
        self._add_ra(did("ra:limited-reader"), "/subscriptions/" + sub, READER_ROLE, lsp["id"], "ServicePrincipal",
                     created=past)
        # provider app (multi-tenant) with its SP in the provider tenant only
        papp = self._add_app(I["provider_tenant_id"], "Aiven platform (fake)", "AzureADMultipleOrgs",
                             app_id=PROVIDER_APP_ID, obj_id=did("appobj:provider"), created=past)
        self._add_password(papp, self.static["provider_secret"], "provider", created=past)
        self._add_sp(I["provider_tenant_id"], PROVIDER_APP_ID, obj_id=did("sp:provider"), created=past,
                     graph_permissions=["Application.ReadWrite.All"])
        # Aiven
        self._add_project("acme-prod", self.static["aiven_token"])
        self._add_project("other-corp", self.static["other_aiven_token"])
        self._add_aiven_vpc("acme-prod", "azure-westeurope", "10.213.2.0/24", vpc_id=I["project_vpc_id"],
                            created=past)
        self._add_aiven_vpc("acme-prod", "aws-eu-west-1", "10.214.0.0/24", vpc_id=I["aws_project_vpc_id"],
                            created=past)
        self._add_aiven_vpc("other-corp", "azure-northeurope", "10.220.0.0/24", vpc_id=did("vpc:other-corp:azure"),
                            created=past)

    def _add_tenant(self, tid, name, domain, role="other"):
        self.d["tenants"][tid.lower()] = {"tenantId": tid, "displayName": name, "defaultDomain": domain,
                                          "role": role}

    def _add_sub(self, sid, tid, name):
        self.d["subscriptions"][sid.lower()] = {"subscriptionId": sid, "tenantId": tid, "displayName": name,
                                                "state": "Enabled"}

    def _add_rg(self, sub, rg, location):
        key = (sub.lower(), rg.lower())
        if key not in self.d["rgs"]:
            s = self.d["subscriptions"][sub.lower()]
            self.d["rgs"][key] = {"subscription": s["subscriptionId"], "name": rg, "location": location}
        return self.d["rgs"][key]

    def _add_vnet(self, sub, rg, name, prefixes, location="westeurope", created=None):
        s = self.d["subscriptions"][sub.lower()]
        r = self._add_rg(s["subscriptionId"], rg, location)
        vid = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s" % (
            s["subscriptionId"], r["name"], name)
        for p in prefixes:
            ipaddress.ip_network(p, strict=False)
        v = {"id": vid, "subscription": s["subscriptionId"], "resource_group": r["name"], "name": name,
             "location": location, "address_prefixes": list(prefixes), "tenant": s["tenantId"],
             "guid": did("vnetguid:" + vid.lower()), "peerings": {}, "created": created or time.time()}
        self.d["vnets"][vid.lower()] = v
        return v

    def _add_app(self, tenant, display, audience, app_id=None, obj_id=None, unique=None, owners=None,
                 created=None):
        t = created if created is not None else time.time()
        a = {"id": obj_id or new_id(), "appId": app_id or new_id(), "tenant": tenant, "displayName": display,
             "uniqueName": unique, "signInAudience": audience, "created": t, "passwords": [],
             "owners": list(owners or []), "description": None, "tags": []}
        self.d["apps"][a["id"]] = a
        return a

    def _add_password(self, app, secret, display, created=None, start=None, end=None):
        t = created if created is not None else time.time()
        p = {"keyId": new_id(), "secret": secret, "hint": secret[:3], "displayName": display,
             "startDateTime": start if start is not None else t,
             "endDateTime": end if end is not None else t + 2 * 365 * 86400, "created": t}
        app["passwords"].append(p)
        return p

    def _add_sp(self, tenant, app_id, obj_id=None, created=None, graph_permissions=None, owners=None):
        t = created if created is not None else time.time()
        app = self._app_by_appid_anywhere(app_id)
        sp = {"id": obj_id or new_id(), "appId": app_id, "tenant": tenant,
              "displayName": app["displayName"] if app else app_id,
              "appOwnerOrganizationId": app["tenant"] if app else None, "created": t,
              "graph_permissions": list(graph_permissions or []), "owners": list(owners or [])}
        self.d["sps"][sp["id"]] = sp
        return sp

    def _add_ra(self, name, scope, role_guid, principal_id, ptype, created=None, created_by=None):
        t = created if created is not None else time.time()
        tenant = self._scope_tenant(scope)
        ra = {"name": name, "scope": scope, "roleGuid": role_guid.lower(), "principalId": principal_id,
              "principalType": ptype, "tenant": tenant, "created": t, "updated": t, "createdBy": created_by}
        self.d["ras"][name.lower()] = ra
        return ra

    def _add_project(self, name, token):
        self.d["projects"][name] = {"name": name, "vpcs": {}}
        self.d["aiven_tokens"].setdefault(token, set()).add(name)

    def _add_aiven_vpc(self, project, cloud, cidr, vpc_id=None, created=None, state="ACTIVE"):
        ipaddress.ip_network(cidr, strict=True)
        t = created if created is not None else time.time()
        vpc_id = vpc_id or new_id()
        vpc = {"project_vpc_id": vpc_id, "cloud_name": cloud, "network_cidr": cidr, "state": state,
               "create_time": iso(t), "update_time": iso(t), "connections": [], "provider_vnet_id": None}
        if cloud.startswith("azure-"):
            I = self.ids()
            loc = cloud[len("azure-"):].replace("-", "")
            v = self._add_vnet(I["provider_subscription_id"], "aiven-%s-%s" % (project, cloud),
                               "aiven-vpc-%s" % vpc_id[:8], [cidr], loc, created=t)
            vpc["provider_vnet_id"] = v["id"]
        self.d["projects"][project]["vpcs"][vpc_id] = vpc
        return vpc

    # -- lookups ------------------------------------------------------------

    def _tenant(self, t):
        if not t:
            return None
        x = self.d["tenants"].get(t.lower())
        if x:
            return x
        for x in self.d["tenants"].values():
            if x["defaultDomain"].lower() == t.lower():
                return x
        return None

    def _app_by_appid_anywhere(self, app_id):
        for a in self.d["apps"].values():
            if a["appId"].lower() == (app_id or "").lower():
                return a
        return None

    def _sp_by_appid(self, tenant, app_id):
        for s in self.d["sps"].values():
            if s["tenant"].lower() == tenant.lower() and s["appId"].lower() == (app_id or "").lower():
                return s
        return None

    def _vnet(self, sub, rg, name):
        return self.d["vnets"].get(("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/"
                                    "virtualNetworks/%s" % (sub, rg, name)).lower())

    def _vnet_by_id(self, vid):
        m = VNET_ID_RE.match(vid or "")
        if not m:
            return None
        return self._vnet(*m.groups())

    def _scope_tenant(self, scope):
        m = re.match(r"^/subscriptions/([^/]+)", scope or "", re.I)
        if m:
            s = self.d["subscriptions"].get(m.group(1).lower())
            if s:
                return s["tenantId"]
        return None

    def _fresh(self, obj, now):
        return now - obj["created"] < self.settings["graph_replication_seconds"]

    def _principal(self, tenant, oid):
        sp = self.d["sps"].get(oid) or self.d["sps"].get((oid or "").lower())
        if sp is None:
            for s in self.d["sps"].values():
                if s["id"].lower() == (oid or "").lower():
                    sp = s
        if sp and sp["tenant"].lower() == (tenant or "").lower():
            return sp
        return None

    def _roledef(self, guid, tenant):
        rd = self.d["roledefs"].get((guid or "").lower())
        if rd and (rd["tenant"] is None or (tenant and rd["tenant"].lower() == tenant.lower())):
            return rd
        return None

    def allowed(self, tenant, principal_id, action, scope, now):
        prop = self.settings["role_propagation_seconds"]
        pid = (principal_id or "").lower()
        for ra in self.d["ras"].values():
            if ra["principalId"].lower() != pid or (ra["tenant"] or "").lower() != (tenant or "").lower():
                continue
            if now - ra["created"] < prop:
                continue
            if not scope_contains(ra["scope"], scope):
                continue
            rd = self.d["roledefs"].get(ra["roleGuid"])
            if not rd:
                continue
            if any(action_match(a, action) for a in rd["actions"]) and \
                    not any(action_match(a, action) for a in rd["notActions"]):
                return True
        return False

    # -- lazy world evolution --------------------------------------------------

    def tick(self, now):
        for _ in range(4):
            changed = self._sync_peerings(now)
            changed |= self._aiven_step(now)
            if not changed:
                break

    def _back_peering(self, vnet, p):
        rv = self._vnet_by_id(p["remote_id"])
        if not rv:
            return None
        for q in rv["peerings"].values():
            if q["deleting_until"] is None and norm(q["remote_id"]) == norm(vnet["id"]):
                return q
        return None

    def _sync_peerings(self, now):
        """Finish due peering deletions and recompute peeringState (only when something changed)."""
        changed = False
        if self.deleting:
            for vkey, pkey in list(self.deleting):
                v = self.d["vnets"].get(vkey)
                p = v["peerings"].get(pkey) if v else None
                if p is None or p["deleting_until"] is None:
                    self.deleting.discard((vkey, pkey))
                elif p["deleting_until"] <= now:
                    del v["peerings"][pkey]
                    self.deleting.discard((vkey, pkey))
                    changed = True
        if not (changed or self.peer_dirty):
            return False
        self.peer_dirty = False
        for _ in range(4):
            moved = False
            for v in self.d["vnets"].values():
                for p in v["peerings"].values():
                    if p["deleting_until"] is not None:
                        continue
                    back = self._back_peering(v, p)
                    if p["state"] == "Initiated" and back is not None and back["state"] != "Disconnected":
                        p["state"] = "Connected"
                        moved = True
                    elif p["state"] == "Connected" and (back is None or back["state"] == "Disconnected"):
                        p["state"] = "Disconnected"
                        moved = True
            if not moved:
                break
            changed = True
        return changed

    def _conn_set(self, c, state, info, now):
        c["state"] = state
        c["state_info"] = info
        c["update_time"] = iso(now)
        c["_since"] = now
        c["_served_deleted"] = False

    def _aiven_step(self, now):
        S = self.settings
        changed = False
        for proj in self.d["projects"].values():
            for vpc in proj["vpcs"].values():
                for c in list(vpc["connections"]):
                    st = c["state"]
                    if st == "APPROVED" and now - c["_since"] >= S["aiven_build_seconds"]:
                        self._aiven_build(vpc, c, now)
                        changed = True
                    elif st == "PENDING_PEER" and c["vpc_peering_connection_type"] == "azure-vnet-peering":
                        p = self._customer_peering(vpc, c)
                        if p and p["allowVirtualNetworkAccess"] and p["state"] == "Connected" and \
                                now >= p["op_done_at"] and now - p["updated"] >= S["aiven_activate_seconds"]:
                            self._conn_set(c, "ACTIVE", {"message": "Peering connection active",
                                                         "type": "azure-vnet-peering-active"}, now)
                            c["_customer_peering"] = p["id"]
                            changed = True
                    elif st == "ACTIVE" and c["vpc_peering_connection_type"] == "azure-vnet-peering":
                        p = self._customer_peering(vpc, c)
                        if p is None:
                            self._conn_set(c, "DELETED_BY_PEER", {
                                "message": "The peer VNet's peering to the project VNet was deleted",
                                "type": "deleted-by-peer"}, now)
                            self._provider_teardown(vpc, c, now)
                            changed = True
                    elif st == "DELETING" and now - c["_since"] >= S["aiven_delete_seconds"]:
                        self._conn_set(c, "DELETED", {"message": "Peering connection deleted",
                                                      "type": "deleted"}, now)
                        self._provider_teardown(vpc, c, now)
                        changed = True
                    elif st == "DELETED" and c["_served_deleted"] and \
                            now - c["_since"] >= S["deleted_retention_seconds"]:
                        vpc["connections"].remove(c)
                        changed = True
        return changed

    def _customer_peering(self, vpc, c):
        """The customer's live peering towards the provider VNet, or None."""
        v = self._vnet(c["peer_cloud_account"], c["peer_resource_group"], c["peer_vpc"])
        if not v or not vpc["provider_vnet_id"]:
            return None
        for p in v["peerings"].values():
            if p["deleting_until"] is None and norm(p["remote_id"]) == norm(vpc["provider_vnet_id"]):
                return p
        return None

    def _aiven_build(self, vpc, c, now):
        if c["vpc_peering_connection_type"] != "azure-vnet-peering":
            self._conn_set(c, "PENDING_PEER", {
                "message": "Pending peer acceptance of the VPC peering connection", "type": "pending-peer",
                "aws_vpc_peering_connection_id": "pcx-" + c["_uid"].replace("-", "")[:17]}, now)
            return
        I = self.ids()
        tenant = c["peer_azure_tenant_id"]
        sub = self.d["subscriptions"].get(c["peer_cloud_account"].lower())
        v = self._vnet(c["peer_cloud_account"], c["peer_resource_group"], c["peer_vpc"])
        app = self._app_by_appid_anywhere(c["peer_azure_app_id"])
        psp = self._sp_by_appid(tenant, PROVIDER_APP_ID) if self._tenant(tenant) else None
        reason = None
        if sub is None or sub["tenantId"].lower() != tenant.lower():
            reason = "Subscription %s not found in Azure AD tenant %s" % (c["peer_cloud_account"], tenant)
        elif v is None:
            reason = "Virtual network %s not found in resource group %s of subscription %s" % (
                c["peer_vpc"], c["peer_resource_group"], c["peer_cloud_account"])
        elif overlapping(v["address_prefixes"], [vpc["network_cidr"]]):
            reason = "Peer VNet address space %s overlaps with project VPC network %s" % (
                ", ".join(v["address_prefixes"]), vpc["network_cidr"])
        elif psp is None:
            reason = "Service principal of application %s not found in tenant %s" % (PROVIDER_APP_ID, tenant)
        elif not self.allowed(tenant, psp["id"], PEER_ACTION, v["id"], now):
            reason = "Application %s does not have permission %s on %s" % (PROVIDER_APP_ID, PEER_ACTION, v["id"])
        elif app is None or app["tenant"].lower() != tenant.lower():
            reason = "Application %s not found in tenant %s" % (c["peer_azure_app_id"], tenant)
        elif app["signInAudience"] not in MULTI_TENANT:
            reason = "Application %s is not a multi-tenant application" % c["peer_azure_app_id"]
        if reason:
            self._conn_set(c, "INVALID_SPECIFICATION", {"message": reason, "type": "invalid-specification"}, now)
            return
        pvnet = self._vnet_by_id(vpc["provider_vnet_id"])
        ptenant = I["provider_tenant_id"]
        sp = self._sp_by_appid(ptenant, c["peer_azure_app_id"])
        if sp is None:
            sp = self._add_sp(ptenant, c["peer_azure_app_id"], created=now, owners=[did("sp:provider")])
            c["_created_sp"] = sp["id"]
        ra_name = str(uuid.uuid5(NS, "provider-ra:%s:%s" % (pvnet["id"].lower(), sp["id"])))
        if ra_name not in self.d["ras"]:
            self._add_ra(ra_name, pvnet["id"], NETWORK_CONTRIBUTOR_ROLE, sp["id"], "ServicePrincipal", created=now,
                         created_by=did("sp:provider"))
            c["_created_ra"] = ra_name
        pname = "aiven-peer-" + c["_uid"][:13]
        pvnet["peerings"][pname.lower()] = self._new_peering(pvnet, pname, v["id"], True, now, owner="provider")
        self.peer_dirty = True
        c["_provider_peering"] = (pvnet["id"], pname.lower())
        self._conn_set(c, "PENDING_PEER", {
            "message": "Pending peering from the peer VNet to the project VNet", "type": "pending-peer",
            "to-tenant-id": ptenant, "to-network-id": pvnet["id"]}, now)

    def _provider_teardown(self, vpc, c, now):
        pp = c.pop("_provider_peering", None)
        if pp:
            pv = self.d["vnets"].get(pp[0].lower())
            if pv:
                pv["peerings"].pop(pp[1], None)
                self.peer_dirty = True
        # objects the provider made for this app stay while another live connection still needs them
        live = [(y, x) for p in self.d["projects"].values() for y in p["vpcs"].values() for x in y["connections"]
                if x is not c and x["state"] in ("PENDING_PEER", "ACTIVE")
                and (x["peer_azure_app_id"] or "").lower() == (c["peer_azure_app_id"] or "").lower()]
        ra = c.pop("_created_ra", None)
        if ra:
            heirs = [x for y, x in live if y["provider_vnet_id"] == vpc["provider_vnet_id"]]
            if heirs:
                heirs[0]["_created_ra"] = ra
            else:
                self.d["ras"].pop(ra, None)
        spid = c.pop("_created_sp", None)
        if spid:
            if live:
                live[0][1]["_created_sp"] = spid
            else:
                self.d["sps"].pop(spid, None)

    def _new_peering(self, vnet, name, remote_id, allow_access, now, owner="customer", props=None):
        props = props or {}
        return {"name": name, "id": vnet["id"] + "/virtualNetworkPeerings/" + name, "remote_id": remote_id,
                "allowVirtualNetworkAccess": bool(allow_access),
                "allowForwardedTraffic": bool(props.get("allowForwardedTraffic", False)),
                "allowGatewayTransit": bool(props.get("allowGatewayTransit", False)),
                "useRemoteGateways": bool(props.get("useRemoteGateways", False)),
                "state": "Initiated", "created": now, "updated": now,
                "op_done_at": now + (self.settings["async_operation_seconds"] if owner == "customer" else 0),
                "deleting_until": None, "guid": new_id(), "etag": new_id(), "owner": owner}

    # -- JSON renderings ---------------------------------------------------------

    def peering_json(self, p, now):
        rv = self._vnet_by_id(p["remote_id"])
        if p["deleting_until"] is not None:
            prov = "Deleting"
        elif now < p["op_done_at"]:
            prov = "Updating"
        else:
            prov = "Succeeded"
        remote_space = {"addressPrefixes": list(rv["address_prefixes"]) if rv else []}
        return {"id": p["id"], "name": p["name"], "etag": 'W/"%s"' % p["etag"],
                "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
                "properties": {"provisioningState": prov, "resourceGuid": p["guid"],
                               "peeringState": p["state"],
                               "peeringSyncLevel": "FullyInSync" if p["state"] != "Disconnected"
                               else "LocalNotInSync",
                               "allowVirtualNetworkAccess": p["allowVirtualNetworkAccess"],
                               "allowForwardedTraffic": p["allowForwardedTraffic"],
                               "allowGatewayTransit": p["allowGatewayTransit"],
                               "useRemoteGateways": p["useRemoteGateways"],
                               "doNotVerifyRemoteGateways": False, "peerCompleteVnets": True,
                               "remoteVirtualNetwork": {"id": p["remote_id"]},
                               "remoteAddressSpace": remote_space,
                               "remoteVirtualNetworkAddressSpace": remote_space}}

    def vnet_json(self, v, now):
        return {"id": v["id"], "name": v["name"], "type": "Microsoft.Network/virtualNetworks",
                "location": v["location"], "etag": 'W/"%s"' % v["guid"], "tags": {},
                "properties": {"provisioningState": "Succeeded", "resourceGuid": v["guid"],
                               "addressSpace": {"addressPrefixes": list(v["address_prefixes"])},
                               "subnets": [], "enableDdosProtection": False,
                               "virtualNetworkPeerings": [self.peering_json(p, now)
                                                          for p in v["peerings"].values()]}}

    def app_json(self, a, ctx=True):
        o = {"id": a["id"], "appId": a["appId"], "displayName": a["displayName"], "uniqueName": a["uniqueName"],
             "signInAudience": a["signInAudience"], "createdDateTime": iso(a["created"]),
             "publisherDomain": self.d["tenants"][a["tenant"].lower()]["defaultDomain"],
             "deletedDateTime": None, "description": a["description"], "notes": None, "tags": list(a["tags"]),
             "identifierUris": [], "keyCredentials": [], "requiredResourceAccess": [],
             "passwordCredentials": [self.pwd_json(p, False) for p in a["passwords"]]}
        if ctx:
            o = dict([("@odata.context", self.base_url + "/graph/v1.0/$metadata#applications/$entity")] +
                     list(o.items()))
        return o

    def pwd_json(self, p, with_secret):
        return {"customKeyIdentifier": None, "displayName": p["displayName"],
                "endDateTime": iso(p["endDateTime"]), "hint": p["hint"], "keyId": p["keyId"],
                "secretText": p["secret"] if with_secret else None, "startDateTime": iso(p["startDateTime"])}

    def sp_json(self, s, ctx=True):
        app = self._app_by_appid_anywhere(s["appId"])
        o = {"id": s["id"], "appId": s["appId"], "displayName": s["displayName"],
             "appDisplayName": app["displayName"] if app else s["displayName"],
             "appOwnerOrganizationId": s["appOwnerOrganizationId"], "accountEnabled": True,
             "servicePrincipalNames": [s["appId"]], "servicePrincipalType": "Application",
             "signInAudience": app["signInAudience"] if app else None, "deletedDateTime": None, "tags": [],
             "passwordCredentials": [], "keyCredentials": [], "appRoleAssignmentRequired": False}
        if ctx:
            o = dict([("@odata.context", self.base_url + "/graph/v1.0/$metadata#servicePrincipals/$entity")] +
                     list(o.items()))
        return o

    def roledef_json(self, rd, sub):
        prefix = "/subscriptions/%s" % sub if sub else ""
        return {"id": "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (prefix, rd["guid"]),
                "name": rd["guid"], "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {"roleName": rd["roleName"], "type": rd["type"], "description": rd["description"],
                               "assignableScopes": list(rd["assignableScopes"]),
                               "permissions": [{"actions": list(rd["actions"]),
                                                "notActions": list(rd["notActions"]),
                                                "dataActions": [], "notDataActions": []}],
                               "createdOn": iso(rd["created"], True), "updatedOn": iso(rd["updated"], True),
                               "createdBy": None, "updatedBy": None}}

    def ra_json(self, ra):
        sub = self._scope_sub(ra["scope"])
        prefix = "/subscriptions/%s" % sub if sub else ""
        return {"id": ra["scope"].rstrip("/") + "/providers/Microsoft.Authorization/roleAssignments/" + ra["name"],
                "name": ra["name"], "type": "Microsoft.Authorization/roleAssignments",
                "properties": {"roleDefinitionId": "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (
                    prefix, ra["roleGuid"]), "principalId": ra["principalId"],
                    "principalType": ra["principalType"], "scope": ra["scope"], "condition": None,
                    "conditionVersion": None, "description": None,
                    "createdOn": iso(ra["created"], True), "updatedOn": iso(ra["updated"], True),
                    "createdBy": ra["createdBy"], "updatedBy": ra["createdBy"],
                    "delegatedManagedIdentityResourceId": None}}

    def _scope_sub(self, scope):
        m = re.match(r"^/subscriptions/([^/]+)", scope or "", re.I)
        return m.group(1) if m else None

    def conn_json(self, c):
        return {k: (json.loads(json.dumps(c[k])) if isinstance(c[k], (dict, list)) else c[k])
                for k in ("create_time", "peer_azure_app_id", "peer_azure_tenant_id", "peer_cloud_account",
                          "peer_region", "peer_resource_group", "peer_vpc", "state", "state_info",
                          "update_time", "user_peer_network_cidrs", "vpc_peering_connection_type")}

    def vpc_json(self, vpc, with_conns=True):
        o = {"cloud_name": vpc["cloud_name"], "create_time": vpc["create_time"],
             "network_cidr": vpc["network_cidr"], "project_vpc_id": vpc["project_vpc_id"],
             "state": vpc["state"], "update_time": vpc["update_time"]}
        if with_conns:
            o["peering_connections"] = [self.conn_json(c) for c in vpc["connections"]]
            o["pending_build_only_peering_connections"] = None
        return o

    # -- dispatch ---------------------------------------------------------------

    def handle(self, req):
        """Serve one cloud request; returns a Resp."""
        path = req.raw_path
        with self.lock:
            self.tick(req.now)
            try:
                if path.startswith("/login/"):
                    return self.login(req)
                if path.startswith("/graph/"):
                    return self.graph(req)
                if path.startswith("/arm/") or path == "/arm":
                    return self.arm(req)
                if path.startswith("/aiven/"):
                    return self.aiven(req)
                return Resp(404, {"error": "unknown service; use /login, /graph, /arm or /aiven"})
            except HttpError as e:
                return e.resp

    def default_error(self, path, status, body=None):
        """Error body for an injected fault, shaped like the service's own errors."""
        if body is not None:
            return body
        msg = "Injected fault (HTTP %d)" % status
        if path.startswith("/aiven/"):
            return {"message": msg, "errors": [{"message": msg, "status": status}]}
        if path.startswith("/graph/"):
            return {"error": {"code": "TooManyRequests" if status == 429 else "serviceNotAvailable",
                              "message": msg, "innerError": {"request-id": new_id(), "date": iso(time.time())}}}
        if path.startswith("/login/"):
            return {"error": "temporarily_unavailable", "error_description": "AADSTS50196: " + msg,
                    "error_codes": [50196], "timestamp": iso(time.time()), "trace_id": new_id(),
                    "correlation_id": new_id()}
        code = "TooManyRequests" if status == 429 else "InternalServerError" if status >= 500 else "InjectedFault"
        return {"error": {"code": code, "message": msg, "details": []}}

    # =====================================================================
    # Login (Entra ID v2 token endpoint)
    # =====================================================================

    def login_error(self, status, error, code, text):
        tid, cid, ts = new_id(), new_id(), time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (code, text, tid, cid, ts)
        return HttpError(Resp(status, {"error": error, "error_description": desc, "error_codes": [code],
                                       "timestamp": ts, "trace_id": tid, "correlation_id": cid,
                                       "error_uri": self.base_url + "/login/error?code=%d" % code},
                              headers=[("Cache-Control", "no-store, no-cache"), ("x-ms-request-id", tid)]))

    def login(self, req):
        m = re.match(r"^/login/([^/]+)/oauth2/v2\.0/token/?$", req.raw_path)
        if not m:
            raise self.login_error(404, "invalid_request", 900561,
                                   "The endpoint only accepts POST /{tenant}/oauth2/v2.0/token requests.")
        if req.method != "POST":
            raise self.login_error(405, "invalid_request", 900561,
                                   "The endpoint only accepts POST requests. Received a %s request." % req.method)
        tname = unquote(m.group(1))
        tenant = self._tenant(tname)
        if tenant is None:
            raise self.login_error(400, "invalid_tenant", 90002,
                                   "Tenant '%s' not found. Check to make sure you have the correct tenant ID and "
                                   "are signing into the correct cloud." % tname)
        ctype = (req.header("Content-Type") or "").lower()
        form = {}
        if ctype.startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                cid, _, csec = base64.b64decode(auth[6:].strip()).decode().partition(":")
                form.setdefault("client_id", unquote(cid))
                form.setdefault("client_secret", unquote(csec))
            except (ValueError, UnicodeDecodeError):
                pass
        for field in ("grant_type", "client_id", "scope"):
            if not form.get(field):
                raise self.login_error(400, "invalid_request", 900144,
                                       "The request body must contain the following parameter: '%s'." % field)
        if form["grant_type"] != "client_credentials":
            raise self.login_error(400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type '%s'." % form["grant_type"])
        scopes = form["scope"].split()
        auds = set()
        for s in scopes:
            if s in ARM_SCOPES:
                auds.add("arm")
            elif s in GRAPH_SCOPES:
                auds.add("graph")
            else:
                auds.add(None)
        if len(auds) != 1 or None in auds:
            raise self.login_error(400, "invalid_scope", 70011,
                                   "The provided request must include a 'scope' input parameter. The provided value "
                                   "for the input parameter 'scope' is not valid. The scope %s is not valid."
                                   % form["scope"])
        aud = auds.pop()
        client_id = form["client_id"]
        now = req.now
        sp = self._sp_by_appid(tenant["tenantId"], client_id)
        app = self._app_by_appid_anywhere(client_id)
        if sp is None or app is None or self._fresh(sp, now):
            raise self.login_error(400, "unauthorized_client", 700016,
                                   "Application with identifier '%s' was not found in the directory '%s'. This can "
                                   "happen if the application has not been installed by the administrator of the "
                                   "tenant or consented to by any user in the tenant. You may have sent your "
                                   "authentication request to the wrong tenant." % (client_id, tenant["displayName"]))
        secret = form.get("client_secret")
        if not secret:
            raise self.login_error(401, "invalid_client", 7000218,
                                   "The request body must contain the following parameter: 'client_assertion' or "
                                   "'client_secret'.")
        match = None
        for p in app["passwords"]:
            if hmac.compare_digest(p["secret"].encode(), secret.encode()):
                match = p
        if match is None or now - match["created"] < self.settings["secret_propagation_seconds"] or \
                now < match["startDateTime"]:
            raise self.login_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent in the request is "
                                   "the client secret value, not the client secret ID, for a secret added to app "
                                   "'%s'." % client_id)
        if now >= match["endDateTime"]:
            raise self.login_error(401, "invalid_client", 7000222,
                                   "The provided client secret keys for app '%s' are expired." % client_id)
        life = float(self.settings["token_lifetime_seconds"])
        tok = secrets.token_urlsafe(40)
        self.tokens[tok] = {"tenant": tenant["tenantId"], "app_id": app["appId"], "sp_id": sp["id"], "aud": aud,
                            "iat": now, "exp": now + life}
        return Resp(200, {"token_type": "Bearer", "expires_in": int(life), "ext_expires_in": int(life),
                          "access_token": tok},
                    headers=[("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                             ("x-ms-request-id", new_id())])

    # =====================================================================
    # Microsoft Graph v1.0
    # =====================================================================

    def gerr(self, status, code, message, req=None):
        rid = new_id()
        hdrs = [("request-id", rid), ("client-request-id", (req.header("client-request-id") if req else None) or rid)]
        return HttpError(Resp(status, {"error": {"code": code, "message": message,
                                                 "innerError": {"date": iso(time.time()), "request-id": rid,
                                                                "client-request-id": hdrs[1][1]}}},
                              headers=hdrs))

    def gok(self, status, obj, req):
        rid = new_id()
        return Resp(status, obj, headers=[("request-id", rid),
                                          ("client-request-id", req.header("client-request-id") or rid)])

    def not_found(self, ident, req):
        return self.gerr(404, "Request_ResourceNotFound",
                         "Resource '%s' does not exist or one of its queried reference-property objects are not "
                         "present." % ident, req)

    def graph_auth(self, req):
        auth = req.header("Authorization") or ""
        if not auth.strip():
            raise self.gerr(401, "InvalidAuthenticationToken", "Access token is empty.", req)
        if not auth.lower().startswith("bearer "):
            raise self.gerr(401, "InvalidAuthenticationToken", "Access token validation failure.", req)
        rec = self.tokens.get(auth[7:].strip())
        if rec is None:
            raise self.gerr(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid token.", req)
        if rec["aud"] != "graph":
            raise self.gerr(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.",
                            req)
        if req.now >= rec["exp"]:
            raise self.gerr(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                            req)
        sp = self.d["sps"].get(rec["sp_id"])
        perms = set(sp["graph_permissions"]) if sp else set()
        return rec, perms

    def _deny(self, req):
        return self.gerr(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
                         req)

    def _can_write_app(self, rec, perms, app):
        if "Application.ReadWrite.All" in perms:
            return True
        return "Application.ReadWrite.OwnedBy" in perms and rec["sp_id"] in app["owners"]

    def _can_read(self, rec, perms, obj):
        if perms & {"Application.ReadWrite.All", "Application.Read.All"}:
            return True
        return "Application.ReadWrite.OwnedBy" in perms and rec["sp_id"] in obj["owners"]

    def graph(self, req):
        m = re.match(r"^/graph/v1\.0(/.*)?$", req.raw_path)
        if not m:
            raise self.gerr(400, "BadRequest", "Invalid version: only v1.0 is served by the fake.", req)
        rec, perms = self.graph_auth(req)
        segs = [unquote(s) for s in (m.group(1) or "/").strip("/").split("/") if s != ""]
        if not segs:
            raise self.gerr(400, "BadRequest", "Resource not found for the segment ''.", req)
        head = segs[0]
        km = re.match(r"^(applications|servicePrincipals)\((appId|uniqueName|id)=(?:'(.*)'|([^')]*))\)$", head,
                      re.I)
        if km:
            coll = km.group(1).lower()
            key = (km.group(2).lower(), odata_key(km.group(3)) if km.group(3) is not None else km.group(4))
            rest = segs[1:]
        elif head.lower() in ("applications", "serviceprincipals"):
            coll = head.lower()
            key = ("id", segs[1]) if len(segs) > 1 else None
            rest = segs[2:] if len(segs) > 1 else []
        else:
            raise self.gerr(400, "BadRequest", "Resource not found for the segment '%s'." % head, req)
        tenant = rec["tenant"]
        if coll == "applications":
            return self.graph_apps(req, rec, perms, tenant, key, rest)
        return self.graph_sps(req, rec, perms, tenant, key, rest)

    def _body(self, req, required=True):
        try:
            b = req.json_body()
        except ValueError:
            raise self.gerr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                                               "header is set and payload is of valid JSON format.", req)
        if b is None:
            if required:
                raise self.gerr(400, "BadRequest", "Empty Payload. JSON content expected.", req)
            return {}
        if not isinstance(b, dict):
            raise self.gerr(400, "BadRequest", "Invalid JSON payload: an object is expected.", req)
        return b

    def _find_app(self, tenant, key):
        kind, val = key
        for a in self.d["apps"].values():
            if a["tenant"].lower() != tenant.lower():
                continue
            if kind == "id" and a["id"].lower() == val.lower():
                return a
            if kind == "appid" and a["appId"].lower() == val.lower():
                return a
            if kind == "uniquename" and a["uniqueName"] is not None and a["uniqueName"].lower() == val.lower():
                return a
        return None

    def _validate_app_body(self, req, body, creating):
        if creating and not isinstance(body.get("displayName"), str):
            raise self.gerr(400, "Request_BadRequest", "Property 'displayName' is required.", req)
        if "signInAudience" in body and body["signInAudience"] not in SIGN_IN_AUDIENCES:
            raise self.gerr(400, "Request_BadRequest", "Invalid value specified for property 'signInAudience' of "
                                                       "resource 'Application'.", req)
        if "passwordCredentials" in body and body["passwordCredentials"] and not creating:
            raise self.gerr(400, "Request_BadRequest", "Updating 'passwordCredentials' is not supported; use "
                                                       "addPassword.", req)

    def _create_app(self, req, rec, tenant, body, unique):
        if unique is not None:
            for a in self.d["apps"].values():
                if a["tenant"].lower() == tenant.lower() and (a["uniqueName"] or "").lower() == unique.lower():
                    raise self.gerr(400, "Request_BadRequest", "Another object with the same value for property "
                                                               "uniqueName already exists.", req)
        a = self._add_app(tenant, body["displayName"], body.get("signInAudience") or "AzureADMyOrg", unique=unique,
                          owners=[rec["sp_id"]], created=req.now)
        a["description"] = body.get("description")
        a["tags"] = list(body.get("tags") or [])
        return a

    def graph_apps(self, req, rec, perms, tenant, key, rest):
        now = req.now
        M = req.method
        writer = perms & {"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"}
        if key is None:
            if rest:
                raise self.gerr(400, "BadRequest", "Resource not found for the segment '%s'." % rest[0], req)
            if M == "POST":
                if not writer:
                    raise self._deny(req)
                body = self._body(req)
                self._validate_app_body(req, body, True)
                a = self._create_app(req, rec, tenant, body, body.get("uniqueName"))
                return self.gok(201, self.app_json(a), req)
            if M == "GET":
                if not (perms & GRAPH_PERMS):
                    raise self._deny(req)
                items = [a for a in self.d["apps"].values() if a["tenant"].lower() == tenant.lower()
                         and not self._fresh(a, now) and self._can_read(rec, perms, a)]
                items = self._graph_filter(req, items, ("appId", "uniqueName", "displayName", "id"))
                return self.gok(200, {"@odata.context": self.base_url + "/graph/v1.0/$metadata#applications",
                                      "value": [self.app_json(a, False) for a in items]}, req)
            raise self.gerr(405, "Request_BadRequest", "Method not allowed.", req)
        kind, val = key
        a = self._find_app(tenant, key)
        # upsert by uniqueName (PATCH + Prefer: create-if-missing)
        if M == "PATCH" and kind == "uniquename" and not rest:
            prefer = (req.header("Prefer") or "").lower()
            body = self._body(req)
            if a is None:
                if "create-if-missing" not in prefer:
                    raise self.not_found(val, req)
                if not writer:
                    raise self._deny(req)
                self._validate_app_body(req, body, True)
                a = self._create_app(req, rec, tenant, body, val)
                return self.gok(201, self.app_json(a), req)
            if not self._can_write_app(rec, perms, a):
                raise self._deny(req)
            self._validate_app_body(req, body, False)
            self._update_app(a, body)
            return self.gok(204, None, req)
        if a is None or self._fresh(a, now):
            if a is None and not (perms & GRAPH_PERMS):
                raise self._deny(req)
            raise self.not_found(val, req)
        if not rest:
            if M == "GET":
                if not self._can_read(rec, perms, a):
                    raise self._deny(req)
                return self.gok(200, self.app_json(a), req)
            if M == "PATCH":
                if not self._can_write_app(rec, perms, a):
                    raise self._deny(req)
                body = self._body(req)
                self._validate_app_body(req, body, False)
                self._update_app(a, body)
                return self.gok(204, None, req)
            if M == "DELETE":
                if not self._can_write_app(rec, perms, a):
                    raise self._deny(req)
                del self.d["apps"][a["id"]]
                home_sp = self._sp_by_appid(a["tenant"], a["appId"])
                if home_sp:
                    del self.d["sps"][home_sp["id"]]
                return self.gok(204, None, req)
            raise self.gerr(405, "Request_BadRequest", "Method not allowed.", req)
        action = rest[0].lower()
        if len(rest) == 1 and action in ("addpassword", "microsoft.graph.addpassword") and M == "POST":
            if not self._can_write_app(rec, perms, a):
                raise self._deny(req)
            body = self._body(req, required=False)
            pc = body.get("passwordCredential") or {}
            if not isinstance(pc, dict):
                raise self.gerr(400, "Request_BadRequest", "Invalid passwordCredential.", req)
            start = self._parse_dt(pc.get("startDateTime"), now, req)
            end = self._parse_dt(pc.get("endDateTime"), start + 2 * 365 * 86400, req)
            if end <= start:
                raise self.gerr(400, "Request_BadRequest", "endDateTime must be later than startDateTime.", req)
            secret = "Fk" + secrets.choice("0123456789") + "~" + secrets.token_urlsafe(30)[:36]
            p = self._add_password(a, secret, pc.get("displayName"), created=now, start=start, end=end)
            o = dict([("@odata.context", self.base_url + "/graph/v1.0/$metadata#microsoft.graph.passwordCredential")]
                     + list(self.pwd_json(p, True).items()))
            return self.gok(200, o, req)
        if len(rest) == 1 and action in ("removepassword", "microsoft.graph.removepassword") and M == "POST":
            if not self._can_write_app(rec, perms, a):
                raise self._deny(req)
            body = self._body(req)
            kid = body.get("keyId")
            for p in a["passwords"]:
                if isinstance(kid, str) and p["keyId"].lower() == kid.lower():
                    a["passwords"].remove(p)
                    return self.gok(204, None, req)
            raise self.gerr(400, "Request_BadRequest", "No password credential found with keyId '%s'." % kid, req)
        raise self.gerr(400, "BadRequest", "Resource not found for the segment '%s'." % rest[0], req)

    def _update_app(self, a, body):
        for k in ("displayName", "signInAudience", "description"):
            if k in body:
                a[k] = body[k]
        if "tags" in body:
            a["tags"] = list(body["tags"] or [])

    def _parse_dt(self, v, default, req):
        if v is None:
            return default
        if not isinstance(v, str):
            raise self.gerr(400, "Request_BadRequest", "Invalid date value.", req)
        s = re.sub(r"\.\d+", "", v.strip()).replace("Z", "+00:00")
        try:
            import datetime
            dt = datetime.datetime.fromisoformat(s)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=datetime.timezone.utc)
            return dt.timestamp()
        except ValueError:
            raise self.gerr(400, "Request_BadRequest", "Invalid date value '%s'." % v, req)

    def _graph_filter(self, req, items, fields):
        f = req.qlower.get("$filter")
        if not f:
            return items
        m = re.match(r"^\s*(\w+)\s+eq\s+'(.*)'\s*$", f)
        if not m or m.group(1) not in fields:
            raise self.gerr(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                                                            "specified: '%s'." % f, req)
        fld, val = m.group(1), odata_key(m.group(2))
        return [x for x in items if (x.get(fld) or "").lower() == val.lower()]

    def _create_sp(self, req, rec, perms, tenant, app_id):
        """Shared by POST /servicePrincipals and the upsert; returns the new SP or raises."""
        now = req.now
        if not (perms & {"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"}):
            raise self._deny(req)
        app = self._app_by_appid_anywhere(app_id)
        if app is None:
            raise self.gerr(400, "Request_BadRequest", "The appId '%s' of the service principal does not reference "
                                                       "a valid application object." % app_id, req)
        local = app["tenant"].lower() == tenant.lower()
        if "Application.ReadWrite.All" not in perms:
            if not local:
                raise self.gerr(403, "Authorization_RequestDenied",
                                "When using this permission, the backing application of the service principal "
                                "being created must in the local tenant", req)
            if rec["sp_id"] not in app["owners"]:
                raise self._deny(req)
        if local and self._fresh(app, now):
            raise self.not_found(app_id, req)
        if self._sp_by_appid(tenant, app_id):
            raise self.gerr(409, "Request_MultipleObjectsWithSameKeyValue",
                            "The service principal cannot be created, updated, or restored because the service "
                            "principal name %s is already in use." % app_id, req)
        if not local and app["signInAudience"] not in MULTI_TENANT:
            raise self.gerr(400, "Request_BadRequest",
                            "The service principal cannot be created because the application '%s' is not "
                            "configured as a multi-tenant application (signInAudience '%s')."
                            % (app_id, app["signInAudience"]), req)
        return self._add_sp(tenant, app["appId"], created=now, owners=[rec["sp_id"]])

    def graph_sps(self, req, rec, perms, tenant, key, rest):
        now = req.now
        M = req.method
        if key is None:
            if rest:
                raise self.gerr(400, "BadRequest", "Resource not found for the segment '%s'." % rest[0], req)
            if M == "POST":
                body = self._body(req)
                app_id = body.get("appId")
                if not isinstance(app_id, str) or not app_id:
                    raise self.gerr(400, "Request_BadRequest", "Property 'appId' is required.", req)
                sp = self._create_sp(req, rec, perms, tenant, app_id)
                return self.gok(201, self.sp_json(sp), req)
            if M == "GET":
                if not (perms & GRAPH_PERMS):
                    raise self._deny(req)
                items = [s for s in self.d["sps"].values() if s["tenant"].lower() == tenant.lower()
                         and not self._fresh(s, now)]
                items = self._graph_filter(req, items, ("appId", "displayName", "id"))
                return self.gok(200, {"@odata.context": self.base_url + "/graph/v1.0/$metadata#servicePrincipals",
                                      "value": [self.sp_json(s, False) for s in items]}, req)
            raise self.gerr(405, "Request_BadRequest", "Method not allowed.", req)
        kind, val = key
        if kind == "uniquename":
            raise self.gerr(400, "BadRequest", "Unsupported alternate key 'uniqueName' for servicePrincipals.", req)
        sp = None
        for s in self.d["sps"].values():
            if s["tenant"].lower() == tenant.lower() and \
                    ((kind == "id" and s["id"].lower() == val.lower()) or
                     (kind == "appid" and s["appId"].lower() == val.lower())):
                sp = s
        if rest:
            raise self.gerr(400, "BadRequest", "Resource not found for the segment '%s'." % rest[0], req)
        if M == "PATCH" and kind == "appid":
            body = self._body(req, required=False)
            if sp is None:
                if "create-if-missing" not in (req.header("Prefer") or "").lower():
                    raise self.not_found(val, req)
                sp = self._create_sp(req, rec, perms, tenant, val)
                return self.gok(201, self.sp_json(sp), req)
            if not (("Application.ReadWrite.All" in perms) or
                    ("Application.ReadWrite.OwnedBy" in perms and rec["sp_id"] in sp["owners"])):
                raise self._deny(req)
            if isinstance(body.get("displayName"), str):
                sp["displayName"] = body["displayName"]
            return self.gok(204, None, req)
        if sp is None or self._fresh(sp, now):
            if sp is None and not (perms & GRAPH_PERMS):
                raise self._deny(req)
            raise self.not_found(val, req)
        if M == "GET":
            if not self._can_read(rec, perms, sp):
                raise self._deny(req)
            return self.gok(200, self.sp_json(sp), req)
        if M == "PATCH":
            if not (("Application.ReadWrite.All" in perms) or
                    ("Application.ReadWrite.OwnedBy" in perms and rec["sp_id"] in sp["owners"])):
                raise self._deny(req)
            body = self._body(req, required=False)
            if isinstance(body.get("displayName"), str):
                sp["displayName"] = body["displayName"]
            return self.gok(204, None, req)
        if M == "DELETE":
            if not (("Application.ReadWrite.All" in perms) or
                    ("Application.ReadWrite.OwnedBy" in perms and rec["sp_id"] in sp["owners"])):
                raise self._deny(req)
            del self.d["sps"][sp["id"]]
            return self.gok(204, None, req)
        raise self.gerr(405, "Request_BadRequest", "Method not allowed.", req)

    # =====================================================================
    # Azure Resource Manager
    # =====================================================================

    def aerr(self, status, code, message, target=None, headers=None):
        err = {"code": code, "message": message, "details": []}
        if target is not None:
            err["target"] = target
        rid = new_id()
        return HttpError(Resp(status, {"error": err}, headers=[("x-ms-request-id", rid),
                                                               ("x-ms-correlation-request-id", rid)]
                              + list(headers or [])))

    def aok(self, status, obj, headers=None):
        rid = new_id()
        return Resp(status, obj, headers=[("x-ms-request-id", rid), ("x-ms-correlation-request-id", rid)]
                    + list(headers or []))

    def _token_rec(self, value):
        return self.tokens.get(value)

    def arm_auth(self, req):
        auth = req.header("Authorization")
        if auth is None or not auth.strip():
            raise self.aerr(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                                                         "missing.")
        parts = auth.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise self.aerr(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                                                         "provided in an invalid format.")
        rec = self._token_rec(parts[1].strip())
        if rec is None:
            raise self.aerr(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if rec["aud"] != "arm":
            raise self.aerr(401, "InvalidAuthenticationToken",
                            "The access token has been obtained for wrong audience or resource "
                            "'https://graph.microsoft.com'. It should exactly match with one of the allowed "
                            "audiences 'https://management.core.windows.net/','https://management.core.windows.net',"
                            "'https://management.azure.com/','https://management.azure.com'.")
        if req.now >= rec["exp"]:
            raise self.aerr(401, "ExpiredAuthenticationToken",
                            "The access token expiry UTC time '%s' is earlier than current UTC time '%s'."
                            % (time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(rec["exp"])),
                               time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(req.now))))
        aux = []
        hdr = req.header("x-ms-authorization-auxiliary")
        if hdr is not None:
            entries = [e.strip() for e in hdr.split(",") if e.strip()]
            if len(entries) > 3:
                raise self.aerr(400, "TooManyAuxiliaryTokens", "The 'x-ms-authorization-auxiliary' header can hold "
                                                              "at most three tokens.")
            for e in entries:
                p = e.split(None, 1)
                if len(p) != 2 or p[0].lower() != "bearer":
                    raise self.aerr(401, "InvalidAuthenticationToken",
                                    "The access token in the 'x-ms-authorization-auxiliary' header is provided in an "
                                    "invalid format.")
                arec = self._token_rec(p[1].strip())
                if arec is None or arec["aud"] != "arm":
                    raise self.aerr(401, "InvalidAuthenticationToken",
                                    "An access token in the 'x-ms-authorization-auxiliary' header is invalid.")
                if req.now >= arec["exp"]:
                    raise self.aerr(401, "ExpiredAuthenticationToken",
                                    "The access token in the 'x-ms-authorization-auxiliary' header for client '%s' "
                                    "in tenant '%s' has expired at '%s'." % (
                                        arec["app_id"], arec["tenant"],
                                        time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(arec["exp"]))))
                aux.append(arec)
        return rec, aux

    def arm_deny(self, rec, action, scope):
        return self.aerr(403, "AuthorizationFailed",
                         "The client '%s' with object id '%s' does not have authorization to perform action '%s' "
                         "over scope '%s' or the scope is invalid. If access was recently granted, please refresh "
                         "your credentials." % (rec["app_id"], rec["sp_id"], action, scope))

    def arm_require(self, req, rec, action, scope):
        if not self.allowed(rec["tenant"], rec["sp_id"], action, scope, req.now):
            raise self.arm_deny(rec, action, scope)

    def arm_sub(self, req, rec, sub_seg):
        if not is_uuid(sub_seg):
            raise self.aerr(400, "InvalidSubscriptionId",
                            "The provided subscription identifier '%s' is malformed or invalid." % sub_seg)
        s = self.d["subscriptions"].get(sub_seg.lower())
        if s is None:
            raise self.aerr(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % sub_seg)
        if s["tenantId"].lower() != rec["tenant"].lower():
            desc = ("The access token is from the wrong issuer 'https://sts.windows.net/%s/'. It must match the "
                    "tenant 'https://sts.windows.net/%s/' associated with this subscription. Please use the authority "
                    "(URL) 'https://login.windows.net/%s' to get the token. Note, if the subscription is transferred "
                    "to another tenant there is no impact to the services, but information about new tenant could "
                    "take time to propagate (up to an hour). If you just transferred your subscription and see this "
                    "error message, please try back later." % (rec["tenant"], s["tenantId"], s["tenantId"]))
            raise self.aerr(401, "InvalidAuthenticationTokenTenant", desc, headers=[
                ("WWW-Authenticate", 'Bearer authorization_uri="%s/login/%s", error="invalid_token", '
                                     'error_description="The access token is from the wrong issuer."'
                 % (self.base_url, s["tenantId"]))])
        return s

    def arm_page(self, req, items):
        ps = max(1, int(self.settings["page_size"]))
        try:
            skip = max(0, int(req.q.get("$skiptoken", "0")))
        except ValueError:
            raise self.aerr(400, "InvalidSkipToken", "The $skiptoken is invalid.")
        page = items[skip:skip + ps]
        out = {"value": page}
        if skip + ps < len(items):
            pairs = [(k, v) for k, v in req.query_pairs if k != "$skiptoken"] + [("$skiptoken", str(skip + ps))]
            out["nextLink"] = "%s/arm%s?%s" % (self.base_url, req.raw_path[len("/arm"):],
                                               urlencode(pairs, quote_via=quote, safe="$'()"))
        return out

    def _sub_visible(self, rec, sub):
        pref = "/subscriptions/%s" % sub["subscriptionId"]
        for ra in self.d["ras"].values():
            if ra["principalId"].lower() == rec["sp_id"].lower() and scope_contains(pref, ra["scope"]):
                return True
        return False

    def sub_json(self, s):
        return {"id": "/subscriptions/" + s["subscriptionId"], "authorizationSource": "RoleBased",
                "managedByTenants": [], "subscriptionId": s["subscriptionId"], "tenantId": s["tenantId"],
                "displayName": s["displayName"], "state": s["state"],
                "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                         "spendingLimit": "Off"}}

    def arm(self, req):
        rec, aux = self.arm_auth(req)
        ver = req.q.get("api-version")
        if ver is None or ver == "":
            raise self.aerr(400, "MissingApiVersionParameter",
                            "The api-version query parameter (?api-version=) is required for all requests.")
        if not re.match(r"^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha)?$", ver):
            raise self.aerr(400, "InvalidApiVersionParameter",
                            "The api-version '%s' is invalid. The supported versions are "
                            "'2024-05-01,2022-12-01,2022-04-01,2022-01-01,2020-01-01'." % ver)
        segs = [unquote(s) for s in req.raw_path[len("/arm"):].strip("/").split("/") if s != ""]
        low = [s.lower() for s in segs]
        M = req.method
        # Microsoft.Authorization at any scope
        idx = None
        for i in range(len(low) - 1):
            if low[i] == "providers" and low[i + 1] == "microsoft.authorization":
                idx = i
        if idx is not None:
            return self.arm_authz(req, rec, segs[:idx], segs[idx + 2:])
        if low == ["subscriptions"]:
            self._only(M, "GET")
            subs = [self.sub_json(s) for s in self.d["subscriptions"].values()
                    if s["tenantId"].lower() == rec["tenant"].lower() and self._sub_visible(rec, s)]
            return self.aok(200, self.arm_page(req, subs))
        if low == ["tenants"]:
            self._only(M, "GET")
            t = self.d["tenants"][rec["tenant"].lower()]
            return self.aok(200, {"value": [{"id": "/tenants/" + t["tenantId"], "tenantId": t["tenantId"],
                                             "tenantCategory": "Home", "displayName": t["displayName"],
                                             "defaultDomain": t["defaultDomain"],
                                             "domains": [t["defaultDomain"]]}]})
        if not low or low[0] != "subscriptions":
            raise self.aerr(404, "NotFound", "The requested path '%s' is not served." % req.raw_path)
        sub = self.arm_sub(req, rec, segs[1])
        sid = sub["subscriptionId"]
        rest, lrest = segs[2:], low[2:]
        if not rest:
            self._only(M, "GET")
            if not self._sub_visible(rec, sub):
                raise self.arm_deny(rec, "Microsoft.Resources/subscriptions/read", "/subscriptions/" + sid)
            return self.aok(200, self.sub_json(sub))
        if lrest == ["providers", "microsoft.network", "virtualnetworks"]:
            self._only(M, "GET")
            items = [self.vnet_json(v, req.now) for v in sorted(self.d["vnets"].values(), key=lambda v: v["id"].lower())
                     if v["subscription"].lower() == sid.lower()
                     and self.allowed(rec["tenant"], rec["sp_id"], VNET_READ, v["id"], req.now)]
            return self.aok(200, self.arm_page(req, items))
        if len(lrest) == 6 and lrest[:3] == ["providers", "microsoft.network", "locations"] and \
                lrest[4] in ("operations", "operationresults"):
            self._only(M, "GET")
            return self.arm_operation(req, sid, rest[5], lrest[4] == "operationresults", ver)
        if lrest and lrest[0] == "resourcegroups" and len(rest) >= 2:
            rgname = rest[1]
            rg = self.d["rgs"].get((sid.lower(), rgname.lower()))
            rscope = "/subscriptions/%s/resourceGroups/%s" % (sid, rg["name"] if rg else rgname)
            r2, l2 = rest[2:], lrest[2:]
            if not r2:
                self._only(M, "GET")
                self.arm_require(req, rec, "Microsoft.Resources/subscriptions/resourceGroups/read", rscope)
                if rg is None:
                    raise self._rg_nf(rgname)
                return self.aok(200, {"id": rscope, "name": rg["name"], "type": "Microsoft.Resources/resourceGroups",
                                      "location": rg["location"], "properties": {"provisioningState": "Succeeded"}})
            if l2[:3] == ["providers", "microsoft.network", "virtualnetworks"]:
                r3 = r2[3:]
                if not r3:
                    self._only(M, "GET")
                    if rg is None:
                        raise self._rg_nf(rgname)
                    items = [self.vnet_json(v, req.now)
                             for v in sorted(self.d["vnets"].values(), key=lambda v: v["id"].lower())
                             if v["subscription"].lower() == sid.lower()
                             and v["resource_group"].lower() == rgname.lower()
                             and self.allowed(rec["tenant"], rec["sp_id"], VNET_READ, v["id"], req.now)]
                    return self.aok(200, self.arm_page(req, items))
                vname = r3[0]
                v = self._vnet(sid, rgname, vname)
                vscope = "%s/providers/Microsoft.Network/virtualNetworks/%s" % (rscope, v["name"] if v else vname)
                if len(r3) == 1:
                    self._only(M, "GET")
                    self.arm_require(req, rec, VNET_READ, vscope)
                    if rg is None:
                        raise self._rg_nf(rgname)
                    if v is None:
                        raise self._vnet_nf(vname, rgname)
                    return self.aok(200, self.vnet_json(v, req.now))
                if r3[1].lower() == "virtualnetworkpeerings" and len(r3) in (2, 3):
                    return self.arm_peerings(req, rec, aux, sid, rg, rgname, v, vname, vscope,
                                             r3[2] if len(r3) == 3 else None, ver)
        raise self.aerr(404, "NotFound", "The requested path '%s' is not served." % req.raw_path)

    def _only(self, method, *allowed):
        if method not in allowed:
            raise self.aerr(405, "MethodNotAllowed", "The requested method '%s' is not allowed here." % method)

    def _rg_nf(self, rg):
        return self.aerr(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)

    def _vnet_nf(self, vname, rg):
        return self.aerr(404, "ResourceNotFound",
                         "The Resource 'Microsoft.Network/virtualNetworks/%s' under resource group '%s' was not "
                         "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix" % (vname, rg))

    def _new_op(self, sid, location, kind, resource_id, now):
        oid = new_id()
        self.d["ops"][oid] = {"id": oid, "sub": sid.lower(), "location": location, "kind": kind,
                              "resource_id": resource_id, "start": now,
                              "done_at": now + self.settings["async_operation_seconds"]}
        return oid

    def _op_urls(self, sid, location, oid, ver):
        base = "%s/arm/subscriptions/%s/providers/Microsoft.Network/locations/%s" % (self.base_url, sid, location)
        return ("%s/operations/%s?api-version=%s" % (base, oid, ver),
                "%s/operationResults/%s?api-version=%s" % (base, oid, ver))

    def arm_operation(self, req, sid, oid, results, ver):
        op = self.d["ops"].get(oid)
        if op is None or op["sub"] != sid.lower():
            raise self.aerr(404, "OperationNotFound", "Operation '%s' was not found." % oid)
        done = req.now >= op["done_at"]
        if not results:
            o = {"name": oid, "status": "Succeeded" if done else "InProgress", "startTime": iso(op["start"], True)}
            if done:
                o["endTime"] = iso(op["done_at"], True)
            return self.aok(200, o)
        if not done:
            return self.aok(202, None, headers=[("Location", self._op_urls(sid, op["location"], oid, ver)[1])])
        if op["kind"] == "put":
            v = self._vnet_by_id(op["resource_id"].rsplit("/virtualNetworkPeerings/", 1)[0])
            name = op["resource_id"].rsplit("/", 1)[1].lower()
            if v and name in v["peerings"]:
                return self.aok(200, self.peering_json(v["peerings"][name], req.now))
        return self.aok(204, None)

    def arm_peerings(self, req, rec, aux, sid, rg, rgname, v, vname, vscope, pname, ver):
        M = req.method
        now = req.now
        if pname is None:
            self._only(M, "GET")
            self.arm_require(req, rec, PEERING_READ, vscope + "/virtualNetworkPeerings")
            if rg is None:
                raise self._rg_nf(rgname)
            if v is None:
                raise self._vnet_nf(vname, rgname)
            items = [self.peering_json(p, now) for p in v["peerings"].values()]
            return self.aok(200, self.arm_page(req, items))
        pid = "%s/virtualNetworkPeerings/%s" % (vscope, pname)
        if M == "GET":
            self.arm_require(req, rec, PEERING_READ, pid)
            if rg is None:
                raise self._rg_nf(rgname)
            if v is None:
                raise self._vnet_nf(vname, rgname)
            p = v["peerings"].get(pname.lower())
            if p is None:
                raise self.aerr(404, "NotFound", "Resource %s not found." % pid)
            return self.aok(200, self.peering_json(p, now))
        if M == "DELETE":
            self.arm_require(req, rec, PEERING_DELETE, pid)
            if rg is None:
                raise self._rg_nf(rgname)
            if v is None:
                raise self._vnet_nf(vname, rgname)
            p = v["peerings"].get(pname.lower())
            if p is None:
                return self.aok(204, None)
            if p["deleting_until"] is None:
                p["deleting_until"] = now + self.settings["async_operation_seconds"]
                p["_del_op"] = self._new_op(sid, v["location"], "delete", p["id"], now)
                self.deleting.add((v["id"].lower(), pname.lower()))
                self.peer_dirty = True
            oid = p["_del_op"]
            aurl, lurl = self._op_urls(sid, v["location"], oid, ver)
            return self.aok(202, None, headers=[("Location", lurl), ("Azure-AsyncOperation", aurl)])
        if M != "PUT":
            raise self.aerr(405, "MethodNotAllowed", "The requested method '%s' is not allowed here." % M)
        self.arm_require(req, rec, PEERING_WRITE, pid)
        if rg is None:
            raise self._rg_nf(rgname)
        if v is None:
            raise self._vnet_nf(vname, rgname)
        if not (1 <= len(pname) <= 80) or not AZ_NAME_RE.match(pname):
            raise self.aerr(400, "InvalidResourceName", "Resource name %s is invalid. The name can be up to 80 "
                                                        "characters long. It must begin with a word character, and "
                                                        "it must end with a word character or with '_'. The name may "
                                                        "contain word characters or '.', '-', '_'." % pname)
        try:
            body = req.json_body()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
            raise self.aerr(400, "InvalidRequestFormat", "Cannot parse the request.")
        props = body.get("properties") or {}
        for b in ("allowVirtualNetworkAccess", "allowForwardedTraffic", "allowGatewayTransit", "useRemoteGateways"):
            if b in props and not isinstance(props[b], bool):
                raise self.aerr(400, "InvalidRequestFormat", "Cannot parse the request. Property '%s' must be a "
                                                             "boolean." % b)
        rvn = props.get("remoteVirtualNetwork")
        remote_id = rvn.get("id") if isinstance(rvn, dict) else None
        if not isinstance(remote_id, str) or not remote_id:
            raise self.aerr(400, "MissingJsonReferenceId",
                            "Value for reference id is missing. Path properties.remoteVirtualNetwork.")
        m = VNET_ID_RE.match(remote_id)
        if not m:
            raise self.aerr(400, "LinkedInvalidPropertyId",
                            "Property id '%s' at path 'properties.remoteVirtualNetwork.id' is invalid. Expect fully "
                            "qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
                            "'/providers/{resourceProviderNamespace}/'." % remote_id)
        rsub_id = m.group(1)
        rsub = self.d["subscriptions"].get(rsub_id.lower())
        if rsub is None:
            raise self.aerr(403, "LinkedAuthorizationFailed",
                            "The client '%s' with object id '%s' has permission to perform action '%s' on scope "
                            "'%s'; however, the linked subscription '%s' was not found."
                            % (rec["app_id"], rec["sp_id"], PEERING_WRITE, pid, rsub_id))
        if rsub["tenantId"].lower() == rec["tenant"].lower():
            linked = rec
        else:
            linked = None
            for a in aux:
                if a["tenant"].lower() == rsub["tenantId"].lower() and a["app_id"].lower() == rec["app_id"].lower():
                    linked = a
            if linked is None:
                raise self.aerr(403, "LinkedAuthorizationFailed",
                                "The client has permission to perform action '%s' on scope '%s', however the "
                                "current tenant '%s' is not authorized to access linked subscription '%s'."
                                % (PEER_ACTION, pid, rec["tenant"], rsub["subscriptionId"]))
        if not self.allowed(linked["tenant"], linked["sp_id"], PEER_ACTION, remote_id, now):
            raise self.aerr(403, "LinkedAuthorizationFailed",
                            "The client '%s' with object id '%s' has permission to perform action '%s' on scope "
                            "'%s'; however, it does not have permission to perform action '%s' on the linked "
                            "scope(s) '%s' or the linked scope(s) are invalid."
                            % (rec["app_id"], rec["sp_id"], PEERING_WRITE, pid, PEER_ACTION, remote_id))
        rv = self._vnet_by_id(remote_id)
        if rv is None:
            raise self.aerr(400, "InvalidResourceReference",
                            "Resource %s referenced by resource %s was not found. Please make sure that the "
                            "referenced resource exists, and that both resources are in the same region."
                            % (remote_id, pid))
        if rv is v:
            raise self.aerr(400, "CannotPeerVnetWithItself", "Virtual network %s cannot be peered with itself."
                            % v["id"])
        ov = overlapping(v["address_prefixes"], rv["address_prefixes"])
        if ov:
            raise self.aerr(400, "VnetAddressSpacesOverlap",
                            "Cannot create or update peering %s. Virtual networks %s and %s cannot be peered because "
                            "their address spaces overlap. Overlapping address prefixes: %s"
                            % (pid, v["id"], rv["id"], ", ".join(ov)))
        existing = v["peerings"].get(pname.lower())
        if existing is not None and existing["deleting_until"] is not None:
            raise self.aerr(429, "RetryableErrorDueToAnotherOperation",
                            "Operation on %s is not allowed because another operation (delete) is in progress."
                            % pid, headers=[("Retry-After", "1")])
        if existing is not None and norm(existing["remote_id"]) != norm(remote_id):
            raise self.aerr(400, "RemoteVirtualNetworkCannotBeChanged",
                            "The remote virtual network of peering %s cannot be changed; delete and recreate it."
                            % pid)
        for q in v["peerings"].values():
            if q is not existing and q["deleting_until"] is None and norm(q["remote_id"]) == norm(remote_id):
                raise self.aerr(400, "VnetAlreadyPeeredWithRemoteVnet",
                                "Virtual network %s is already peered with remote virtual network %s by peering %s."
                                % (v["id"], rv["id"], q["id"]))
        allow = props.get("allowVirtualNetworkAccess", True)
        if existing is None:
            p = self._new_peering(v, pname, remote_id, allow, now, props=props)
            v["peerings"][pname.lower()] = p
            status = 201
        else:
            p = existing
            p["remote_id"] = remote_id
            p["allowVirtualNetworkAccess"] = bool(allow)
            for b in ("allowForwardedTraffic", "allowGatewayTransit", "useRemoteGateways"):
                p[b] = bool(props.get(b, False))
            p["state"] = "Initiated"
            p["updated"] = now
            p["op_done_at"] = now + self.settings["async_operation_seconds"]
            p["etag"] = new_id()
            status = 200
        self.peer_dirty = True
        self._sync_peerings(now)
        oid = self._new_op(sid, v["location"], "put", p["id"], now)
        aurl, _ = self._op_urls(sid, v["location"], oid, ver)
        return self.aok(status, self.peering_json(p, now), headers=[("Azure-AsyncOperation", aurl)])

    # -- Microsoft.Authorization ------------------------------------------------

    def _resolve_scope(self, req, rec, scope_segs):
        """Returns (canonical scope string, subscription id or None); raises on bad scope/tenant."""
        if not scope_segs:
            return "", None
        low = [s.lower() for s in scope_segs]
        if low[0] != "subscriptions" or len(scope_segs) < 2:
            raise self.aerr(400, "InvalidScope", "The scope '/%s' is not valid." % "/".join(scope_segs))
        sub = self.arm_sub(req, rec, scope_segs[1])
        sid = sub["subscriptionId"]
        if len(scope_segs) == 2:
            return "/subscriptions/" + sid, sid
        if low[2] != "resourcegroups" or len(scope_segs) < 4:
            raise self.aerr(400, "InvalidScope", "The scope '/%s' is not valid." % "/".join(scope_segs))
        rg = self.d["rgs"].get((sid.lower(), low[3]))
        rgname = rg["name"] if rg else scope_segs[3]
        base = "/subscriptions/%s/resourceGroups/%s" % (sid, rgname)
        if len(scope_segs) == 4:
            return base, sid
        if low[4:7] == ["providers", "microsoft.network", "virtualnetworks"] and len(scope_segs) == 8:
            v = self._vnet(sid, rgname, scope_segs[7])
            return "%s/providers/Microsoft.Network/virtualNetworks/%s" % (base, v["name"] if v else scope_segs[7]), sid
        return "/" + "/".join(scope_segs), sid

    def _scope_exists(self, scope):
        m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+)(/.*)?)?$", scope, re.I)
        if not m:
            return None
        sub, rg, rest = m.groups()
        if rg and (sub.lower(), rg.lower()) not in self.d["rgs"]:
            return self._rg_nf(rg)
        if rest:
            vm = VNET_ID_RE.match(scope)
            if not vm or self._vnet(*vm.groups()) is None:
                return self.aerr(404, "ResourceNotFound", "The Resource '%s' was not found. For more details please "
                                                          "go to https://aka.ms/ARMResourceNotFoundFix" % scope)
        return None

    def arm_authz(self, req, rec, scope_segs, rest):
        scope, sid = self._resolve_scope(req, rec, scope_segs)
        tenant = rec["tenant"]
        lrest = [s.lower() for s in rest]
        if not lrest or lrest[0] not in ("roledefinitions", "roleassignments") or len(rest) > 2:
            raise self.aerr(404, "NotFound", "The requested path '%s' is not served." % req.raw_path)
        M = req.method
        if lrest[0] == "roledefinitions":
            if len(rest) == 1:
                self._only(M, "GET")
                if scope:
                    self.arm_require(req, rec, "Microsoft.Authorization/roleDefinitions/read", scope)
                items = [rd for rd in self.d["roledefs"].values()
                         if (rd["tenant"] is None or rd["tenant"].lower() == tenant.lower())
                         and (not scope or any(scope_contains(a, scope) for a in rd["assignableScopes"]))]
                f = req.qlower.get("$filter") or ""
                m = re.search(r"roleName\s+eq\s+'((?:[^']|'')*)'", f, re.I)
                if m:
                    rn = odata_key(m.group(1)).lower()
                    items = [rd for rd in items if rd["roleName"].lower() == rn]
                m = re.search(r"type\s+eq\s+'((?:[^']|'')*)'", f, re.I)
                if m:
                    items = [rd for rd in items if rd["type"].lower() == m.group(1).lower()]
                items.sort(key=lambda rd: (rd["type"], rd["roleName"].lower()))
                return self.aok(200, self.arm_page(req, [self.roledef_json(rd, sid) for rd in items]))
            return self.arm_roledef(req, rec, scope, sid, rest[1])
        if len(rest) == 1:
            self._only(M, "GET")
            if scope:
                self.arm_require(req, rec, "Microsoft.Authorization/roleAssignments/read", scope)
            f = req.qlower.get("$filter") or ""
            at_scope = bool(re.search(r"atScope\(\)", f, re.I))
            m = re.search(r"principalId\s+eq\s+'([^']*)'", f, re.I)
            m2 = re.search(r"assignedTo\('([^']*)'\)", f, re.I)
            items = []
            for ra in sorted(self.d["ras"].values(), key=lambda r: (r["created"], r["name"])):
                if (ra["tenant"] or "").lower() != tenant.lower():
                    continue
                up = scope_contains(ra["scope"], scope)
                down = scope_contains(scope, ra["scope"])
                if not (up or (down and not at_scope)):
                    continue
                pid = (m or m2).group(1).lower() if (m or m2) else None
                if pid and ra["principalId"].lower() != pid:
                    continue
                items.append(self.ra_json(ra))
            return self.aok(200, self.arm_page(req, items))
        return self.arm_roleassignment(req, rec, scope, sid, rest[1])

    def arm_roledef(self, req, rec, scope, sid, guid):
        M = req.method
        tenant = rec["tenant"]
        if not is_uuid(guid):
            raise self.aerr(400, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid. The role "
                                                            "definition ID must be a GUID." % guid)
        rd = self._roledef(guid, tenant)
        if M == "GET":
            if scope:
                self.arm_require(req, rec, "Microsoft.Authorization/roleDefinitions/read", scope)
            if rd is None:
                raise self.aerr(404, "RoleDefinitionDoesNotExist",
                                "The specified role definition with ID '%s' does not exist." % guid)
            return self.aok(200, self.roledef_json(rd, sid))
        if M == "DELETE":
            if scope:
                self.arm_require(req, rec, "Microsoft.Authorization/roleDefinitions/delete", scope)
            if rd is None:
                return self.aok(204, None)
            if rd["type"] == "BuiltInRole":
                raise self.aerr(403, "BuiltInRoleCannotBeDeleted", "Built-in role definitions cannot be deleted.")
            if any(ra["roleGuid"] == rd["guid"] for ra in self.d["ras"].values()):
                raise self.aerr(409, "RoleDefinitionHasAssignments",
                                "There are existing role assignments referencing role (code: "
                                "RoleDefinitionHasAssignments).")
            del self.d["roledefs"][rd["guid"]]
            return self.aok(200, self.roledef_json(rd, sid))
        if M != "PUT":
            raise self.aerr(405, "MethodNotAllowed", "The requested method '%s' is not allowed here." % M)
        if not scope:
            raise self.aerr(400, "InvalidScope", "Custom role definitions are created at a subscription scope.")
        self.arm_require(req, rec, "Microsoft.Authorization/roleDefinitions/write", scope)
        try:
            body = req.json_body()
        except ValueError:
            body = None
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            raise self.aerr(400, "InvalidRequestFormat", "Cannot parse the request: 'properties' is required.")
        name = props.get("roleName")
        if not isinstance(name, str) or not name.strip() or len(name) > 512:
            raise self.aerr(400, "RoleDefinitionNameNullOrEmpty", "The role definition name cannot be null or "
                                                                  "empty.")
        if props.get("type", "CustomRole") not in ("CustomRole",):
            raise self.aerr(400, "InvalidRoleDefinitionType", "Only role definitions of type 'CustomRole' can be "
                                                              "created.")
        perms = props.get("permissions")
        if not isinstance(perms, list) or not perms or not all(isinstance(p, dict) for p in perms):
            raise self.aerr(400, "InvalidPermissions", "The role definition must have at least one permission.")
        actions, not_actions = [], []
        for p in perms:
            actions += [a for a in p.get("actions") or [] if isinstance(a, str)]
            not_actions += [a for a in p.get("notActions") or [] if isinstance(a, str)]
        scopes = props.get("assignableScopes")
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
            raise self.aerr(400, "MissingAssignableScopes", "The role definition must have at least one assignable "
                                                            "scope.")
        for s in scopes:
            ms = re.match(r"^/subscriptions/([^/]+)", s, re.I)
            ts = self.d["subscriptions"].get(ms.group(1).lower()) if ms else None
            if ts is None or ts["tenantId"].lower() != tenant.lower():
                raise self.aerr(400, "InvalidAssignableScope", "The assignable scope '%s' is not valid." % s)
            self.arm_require(req, rec, "Microsoft.Authorization/roleDefinitions/write", s)
        if rd is not None and rd["type"] == "BuiltInRole":
            raise self.aerr(400, "RoleDefinitionUpdateNotAllowed", "Built-in role definitions cannot be updated.")
        for other in self.d["roledefs"].values():
            if other["guid"] != guid.lower() and other["roleName"].lower() == name.lower() and \
                    (other["tenant"] is None or other["tenant"].lower() == tenant.lower()):
                raise self.aerr(409, "RoleDefinitionWithSameNameExists",
                                "A role definition cannot be updated with a name that already exists.")
        now = req.now
        if rd is None:
            rd = {"guid": guid.lower(), "tenant": tenant, "type": "CustomRole", "created": now}
            self.d["roledefs"][guid.lower()] = rd
            status = 201
        else:
            status = 200
        rd.update({"roleName": name, "description": props.get("description") or "", "actions": actions,
                   "notActions": not_actions, "assignableScopes": list(scopes), "updated": now})
        return self.aok(status, self.roledef_json(rd, sid))

    def arm_roleassignment(self, req, rec, scope, sid, name):
        M = req.method
        now = req.now
        tenant = rec["tenant"]
        if not scope:
            raise self.aerr(400, "InvalidScope", "Role assignments need a subscription, resource group or resource "
                                                 "scope.")
        if not is_uuid(name):
            raise self.aerr(400, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role "
                                                            "assignment ID must be a GUID." % name)
        ra = self.d["ras"].get(name.lower())
        if ra is not None and (ra["tenant"] or "").lower() != tenant.lower():
            ra_visible = None
        else:
            ra_visible = ra
        if M == "GET":
            self.arm_require(req, rec, "Microsoft.Authorization/roleAssignments/read", scope)
            if ra_visible is None or norm(ra_visible["scope"]) != norm(scope):
                raise self.aerr(404, "RoleAssignmentNotFound", "The role assignment '%s' is not found." % name)
            return self.aok(200, self.ra_json(ra_visible))
        if M == "DELETE":
            self.arm_require(req, rec, "Microsoft.Authorization/roleAssignments/delete", scope)
            if ra_visible is None or norm(ra_visible["scope"]) != norm(scope):
                return self.aok(204, None)
            del self.d["ras"][name.lower()]
            return self.aok(200, self.ra_json(ra_visible))
        if M != "PUT":
            raise self.aerr(405, "MethodNotAllowed", "The requested method '%s' is not allowed here." % M)
        self.arm_require(req, rec, "Microsoft.Authorization/roleAssignments/write", scope)
        err = self._scope_exists(scope)
        if err:
            raise err
        try:
            body = req.json_body()
        except ValueError:
            body = None
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            raise self.aerr(400, "InvalidRequestFormat", "Cannot parse the request: 'properties' is required.")
        rdid = props.get("roleDefinitionId")
        pid = props.get("principalId")
        if not isinstance(rdid, str) or not rdid:
            raise self.aerr(400, "MissingRoleDefinitionId", "The request is missing the 'roleDefinitionId' "
                                                            "property.")
        if not isinstance(pid, str) or not pid:
            raise self.aerr(400, "MissingPrincipalId", "The request is missing the 'principalId' property.")
        mm = ROLEDEF_ID_RE.search(rdid)
        if not mm or not is_uuid(mm.group(1)):
            raise self.aerr(400, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid." % rdid)
        rd = self._roledef(mm.group(1), tenant)
        if rd is None:
            raise self.aerr(400, "RoleDefinitionDoesNotExist",
                            "The specified role definition with ID '%s' does not exist." % mm.group(1))
        if not any(scope_contains(a, scope) for a in rd["assignableScopes"]):
            raise self.aerr(400, "RoleDefinitionNotAssignableAtScope",
                            "The role definition '%s' is not assignable at scope '%s'." % (rd["guid"], scope))
        ptype = props.get("principalType")
        sp = self._principal(tenant, pid)
        known = sp is not None and not self._fresh(sp, now)
        if ptype is None:
            if not known:
                raise self.aerr(400, "PrincipalNotFound",
                                "Principal %s does not exist in the directory %s. Check that you have the correct "
                                "principal ID. If you are creating this principal and then immediately assigning a "
                                "role, this error might be related to a replication delay. In this case, set the "
                                "role assignment principalType property to a value, such as ServicePrincipal, User, "
                                "or Group.  See https://aka.ms/docs-principaltype"
                                % (pid.replace("-", ""), tenant))
            ptype = "ServicePrincipal"
        elif ptype not in PRINCIPAL_TYPES:
            raise self.aerr(400, "InvalidPrincipalType", "The principal type '%s' is not valid." % ptype)
        elif known and ptype != "ServicePrincipal":
            raise self.aerr(400, "UnmatchedPrincipalType",
                            "The PrincipalId '%s' has type 'ServicePrincipal' , which is different from specified "
                            "PrincipalType '%s'." % (pid.replace("-", ""), ptype))
        if ra is not None:
            if norm(ra["scope"]) == norm(scope) and ra["roleGuid"] == rd["guid"] and \
                    ra["principalId"].lower() == pid.lower():
                return self.aok(200, self.ra_json(ra))
            raise self.aerr(400, "RoleAssignmentUpdateNotPermitted",
                            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
        for other in self.d["ras"].values():
            if norm(other["scope"]) == norm(scope) and other["roleGuid"] == rd["guid"] and \
                    other["principalId"].lower() == pid.lower():
                raise self.aerr(409, "RoleAssignmentExists", "The role assignment already exists.")
        ra = self._add_ra(name.lower(), scope, rd["guid"], pid.lower(), ptype, created=now, created_by=rec["sp_id"])
        return self.aok(201, self.ra_json(ra))

    # =====================================================================
    # Aiven
    # =====================================================================

    def verr(self, status, message, error_code=None):
        e = {"message": message, "status": status}
        if error_code:
            e["error_code"] = error_code
        return HttpError(Resp(status, {"message": message, "errors": [e]}))

    def aiven(self, req):
        segs = [unquote(s) for s in req.raw_path[len("/aiven"):].strip("/").split("/")]
        auth = (req.header("Authorization") or "").strip()
        parts = auth.split(None, 1)
        token = parts[1].strip() if len(parts) == 2 and parts[0].lower() in ("aivenv1", "bearer") else None
        if not token or token not in self.d["aiven_tokens"]:
            raise self.verr(403, "Authentication failed")
        if len(segs) < 3 or segs[0] != "v1" or segs[1] != "project":
            raise self.verr(404, "Not Found: %s" % req.raw_path)
        pname = segs[2]
        proj = self.d["projects"].get(pname)
        if proj is None:
            raise self.verr(404, "Project does not exist", "project_not_found")
        if pname not in self.d["aiven_tokens"][token]:
            raise self.verr(403, "Not a member of project %s" % pname, "permission_denied")
        rest = segs[3:]
        M = req.method
        if not rest or rest[0] != "vpcs":
            raise self.verr(404, "Not Found: %s" % req.raw_path)
        if len(rest) == 1:
            if M != "GET":
                raise self.verr(405, "Method not allowed")
            return Resp(200, {"vpcs": [self.vpc_json(v, False) for v in proj["vpcs"].values()]})
        vpc = proj["vpcs"].get(rest[1])
        if vpc is None:
            raise self.verr(404, "Project VPC does not exist", "project_vpc_not_found")
        r2 = rest[2:]
        if not r2:
            if M != "GET":
                raise self.verr(405, "Method not allowed")
            out = self.vpc_json(vpc)
            for c in vpc["connections"]:
                if c["state"] == "DELETED":
                    c["_served_deleted"] = True
            return Resp(200, out)
        if r2[0] != "peering-connections":
            raise self.verr(404, "Not Found: %s" % req.raw_path)
        r3 = r2[1:]
        if not r3:
            if M != "POST":
                raise self.verr(405, "Method not allowed")
            return self.aiven_create(req, vpc)
        if r3 == ["refresh"]:
            if M != "POST":
                raise self.verr(405, "Method not allowed")
            return Resp(200, self.vpc_json(vpc))
        if M != "DELETE":
            raise self.verr(405, "Method not allowed")
        if len(r3) == 6 and r3[0] == "peer-accounts" and r3[2] == "peer-resource-groups" and r3[4] == "peer-vpcs":
            acct, rg, vn = r3[1], r3[3], r3[5]
            cands = [c for c in vpc["connections"] if c["peer_cloud_account"] == acct
                     and c["peer_resource_group"] == rg and c["peer_vpc"] == vn]
        elif len(r3) == 4 and r3[0] == "peer-accounts" and r3[2] == "peer-vpcs":
            acct, vn = r3[1], r3[3]
            cands = [c for c in vpc["connections"] if c["peer_cloud_account"] == acct and c["peer_vpc"] == vn]
            if len(cands) > 1:
                cands = [c for c in cands if c["peer_resource_group"] is None] or cands[:1]
        else:
            raise self.verr(404, "Not Found: %s" % req.raw_path)
        cands = [c for c in cands if c["state"] != "DELETED"]
        if not cands:
            raise self.verr(404, "Peering connection does not exist", "peering_connection_not_found")
        c = cands[0]
        if c["state"] != "DELETING":
            self._conn_set(c, "DELETING", None, req.now)
        return Resp(200, self.conn_json(c))

    def aiven_create(self, req, vpc):
        try:
            body = req.json_body()
        except ValueError:
            raise self.verr(400, "Invalid JSON in request body")
        if not isinstance(body, dict):
            raise self.verr(400, "Request body must be a JSON object")
        azure = vpc["cloud_name"].startswith("azure-")
        fields = ["peer_cloud_account", "peer_vpc"]
        az_fields = ["peer_resource_group", "peer_azure_app_id", "peer_azure_tenant_id"]
        for f in fields + az_fields + ["peer_region"]:
            v = body.get(f)
            if v is not None and (not isinstance(v, str) or len(v) > 1024):
                raise self.verr(400, "Invalid input for %s: expected a string of at most 1024 characters" % f)
        for f in fields + (az_fields if azure else []):
            if not body.get(f):
                raise self.verr(400, "Missing required field '%s'%s" % (f, " for an Azure project VPC" if f in az_fields
                                                                        else ""))
        cidrs = body.get("user_peer_network_cidrs", [])
        if cidrs is None:
            cidrs = []
        if not isinstance(cidrs, list) or len(cidrs) > 128 or not all(isinstance(x, str) for x in cidrs):
            raise self.verr(400, "Invalid input for user_peer_network_cidrs")
        for x in cidrs:
            try:
                ipaddress.ip_network(x, strict=True)
            except ValueError:
                raise self.verr(400, "Invalid input for user_peer_network_cidrs: '%s' is not a CIDR" % x)
        if azure:
            for f in ("peer_cloud_account", "peer_resource_group", "peer_vpc"):
                if body[f] != body[f].lower():
                    raise self.verr(400, "Invalid input for %s: Azure names must be given in lower case ('%s')"
                                    % (f, body[f]))
            if body.get("peer_region"):
                raise self.verr(400, "Invalid input for peer_region: not supported for Azure project VPCs")
        else:
            extra = [f for f in az_fields if body.get(f) is not None]
            if extra:
                raise self.verr(400, "Invalid input for %s: only valid for an Azure project VPC (cloud '%s')"
                                % (", ".join(extra), vpc["cloud_name"]))
        now = req.now
        key = (body["peer_cloud_account"], body.get("peer_resource_group") if azure else None, body["peer_vpc"],
               None if azure else body.get("peer_region"))
        for c in vpc["connections"]:
            ck = (c["peer_cloud_account"], c["peer_resource_group"], c["peer_vpc"], c["peer_region"])
            if ck != key:
                continue
            if c["state"] in ("APPROVED", "PENDING_PEER", "ACTIVE", "APPROVED_PEER_REQUESTED"):
                return Resp(200, self.conn_json(c))
            if c["state"] == "DELETING":
                raise self.verr(409, "Peering connection is being deleted; retry once it is DELETED",
                                "peering_connection_deleting")
            if c["state"] == "INVALID_SPECIFICATION":
                if azure:
                    c["peer_azure_app_id"] = body["peer_azure_app_id"]
                    c["peer_azure_tenant_id"] = body["peer_azure_tenant_id"]
                c["user_peer_network_cidrs"] = list(cidrs)
                self._conn_set(c, "APPROVED", None, now)
                return Resp(200, self.conn_json(c))
            vpc["connections"].remove(c)  # DELETED, DELETED_BY_PEER, REJECTED_BY_PEER, ERROR: replaced
            break
        c = {"create_time": iso(now), "update_time": iso(now), "peer_cloud_account": key[0],
             "peer_resource_group": key[1], "peer_vpc": key[2], "peer_region": key[3],
             "peer_azure_app_id": body.get("peer_azure_app_id") if azure else None,
             "peer_azure_tenant_id": body.get("peer_azure_tenant_id") if azure else None,
             "state": "APPROVED", "state_info": None, "user_peer_network_cidrs": list(cidrs),
             "vpc_peering_connection_type": "azure-vnet-peering" if azure else "aws-vpc-peering-connection",
             "_since": now, "_uid": new_id(), "_served_deleted": False}
        vpc["connections"].append(c)
        return Resp(200, self.conn_json(c))

    # =====================================================================
    # Control API (/_fake/)
    # =====================================================================

    def control(self, req):
        path = req.raw_path.rstrip("/")
        M = req.method
        try:
            body = req.json_body() if req.body.strip() else {}
        except ValueError:
            return Resp(400, {"error": "invalid JSON body"})
        try:
            if path == "/_fake/world" and M == "GET":
                with self.lock:
                    self.tick(req.now)
                    return Resp(200, self.dump(req.now))
            if path == "/_fake/requests" and M == "GET":
                try:
                    since = int(req.q.get("since", "0"))
                except ValueError:
                    return Resp(400, {"error": "since must be an integer"})
                return Resp(200, {"requests": self.log.since(since)})
            if path == "/_fake/requests" and M == "DELETE":
                self.log.clear()
                return Resp(200, {"cleared": True})
            if path == "/_fake/faults" and M == "POST":
                return Resp(200, {"id": self.faults.add(body)})
            if path == "/_fake/faults" and M == "DELETE":
                self.faults.clear()
                return Resp(200, {"cleared": True})
            if path == "/_fake/faults" and M == "GET":
                return Resp(200, {"faults": self.faults.dump()})
            if path == "/_fake/reset" and M == "POST":
                self.reset()
                return Resp(200, {"reset": True, "scenario": self.scenario})
            if path == "/_fake/seed" and M == "POST":
                if not isinstance(body, dict):
                    return Resp(400, {"error": "seed body must be a JSON object"})
                with self.lock:
                    self.tick(req.now)
                    return Resp(200, self.seed(body, req.now))
        except (ValueError, KeyError, TypeError, re.error) as e:
            return Resp(400, {"error": "%s: %s" % (type(e).__name__, e)})
        return Resp(404, {"error": "unknown control endpoint %s %s" % (M, path)})

    def _role_guid(self, role, tenant):
        if is_uuid(role):
            return role.lower()
        mm = ROLEDEF_ID_RE.search(role)
        if mm:
            return mm.group(1).lower()
        for rd in self.d["roledefs"].values():
            if rd["roleName"].lower() == role.lower() and (rd["tenant"] is None or
                                                           rd["tenant"].lower() == (tenant or "").lower()):
                return rd["guid"]
        raise ValueError("unknown role %r" % role)

    def seed(self, b, now):
        I = self.ids()
        out = {}
        known = {"settings", "tenants", "subscriptions", "vnets", "remove_vnets", "remove_peerings",
                 "aiven_projects", "aiven_vpcs", "aiven_set_state", "principals", "grants", "revoke",
                 "graph_permissions", "remove_service_principals", "expire_tokens"}
        unknown = set(b) - known
        if unknown:
            raise ValueError("unknown seed keys: %s" % ", ".join(sorted(unknown)))
        for k, v in (b.get("settings") or {}).items():
            if k not in SETTING_KEYS:
                raise ValueError("unknown setting %r" % k)
            self.settings[k] = SETTING_KEYS[k](v)
        out["settings"] = dict(self.settings)
        out["tenants"] = []
        for t in b.get("tenants") or []:
            tid = t.get("id") or new_id()
            self._add_tenant(tid, t.get("name") or "tenant " + tid[:8], t.get("domain") or
                             "t%s.onmicrosoft.com" % tid[:8])
            out["tenants"].append(tid)
        out["subscriptions"] = []
        for s in b.get("subscriptions") or []:
            sid = s.get("id") or new_id()
            if not self._tenant(s["tenant"]):
                raise ValueError("unknown tenant %r" % s["tenant"])
            self._add_sub(sid, self._tenant(s["tenant"])["tenantId"], s.get("name") or "sub " + sid[:8])
            out["subscriptions"].append(sid)
        out["vnets"] = []
        for v in b.get("vnets") or []:
            sub = v.get("subscription") or I["subscription_id"]
            if sub.lower() not in self.d["subscriptions"]:
                tenant = self._tenant(v.get("tenant") or I["tenant_id"])
                if tenant is None:
                    raise ValueError("unknown tenant %r" % v.get("tenant"))
                self._add_sub(sub, tenant["tenantId"], "sub " + sub[:8])
            if self._vnet(sub, v["resource_group"], v["name"]):
                raise ValueError("vnet %s/%s already exists" % (v["resource_group"], v["name"]))
            x = self._add_vnet(sub, v["resource_group"], v["name"], list(v["address_prefixes"]),
                               v.get("location") or "westeurope", created=now)
            out["vnets"].append(x["id"])
            self.peer_dirty = True
        n = 0
        for v in b.get("remove_vnets") or []:
            x = self._vnet(v["subscription"], v["resource_group"], v["name"])
            if x:
                del self.d["vnets"][x["id"].lower()]
                self.peer_dirty = True
                n += 1
        out["removed_vnets"] = n
        n = 0
        for p in b.get("remove_peerings") or []:
            x = self._vnet(p["subscription"], p["resource_group"], p["vnet"])
            if x and x["peerings"].pop(p["name"].lower(), None) is not None:
                self.peer_dirty = True
                n += 1
        out["removed_peerings"] = n
        out["aiven_projects"] = []
        for p in b.get("aiven_projects") or []:
            tok = p.get("token") or secrets.token_urlsafe(32)
            if p["name"] in self.d["projects"]:
                raise ValueError("project %r exists" % p["name"])
            self._add_project(p["name"], tok)
            out["aiven_projects"].append({"name": p["name"], "token": tok})
        out["aiven_vpcs"] = []
        for spec in b.get("aiven_vpcs") or []:
            project = spec.get("project") or I["project"]
            if project not in self.d["projects"]:
                raise ValueError("unknown project %r" % project)
            count = int(spec.get("count", 1))
            base = ipaddress.ip_network(spec["network_cidr"], strict=True)
            for i in range(count):
                cidr = str(base) if count == 1 else str(ipaddress.ip_network(
                    (int(base.network_address) + i * base.num_addresses, base.prefixlen)))
                vpc = self._add_aiven_vpc(project, spec.get("cloud_name") or "azure-westeurope", cidr,
                                          created=now, state=spec.get("state") or "ACTIVE")
                out["aiven_vpcs"].append({"project": project, "project_vpc_id": vpc["project_vpc_id"],
                                          "cloud_name": vpc["cloud_name"], "network_cidr": cidr,
                                          "provider_vnet_id": vpc["provider_vnet_id"]})
        n = 0
        for spec in b.get("aiven_set_state") or []:
            vpc = self.d["projects"][spec.get("project") or I["project"]]["vpcs"][spec["project_vpc_id"]]
            for c in vpc["connections"]:
                if all(spec.get(k) is None or c[k] == spec[k]
                       for k in ("peer_cloud_account", "peer_resource_group", "peer_vpc")):
                    info = spec.get("state_info")
                    if info is None and spec["state"] != "APPROVED":
                        info = {"message": "State set by the test harness", "type": spec["state"].lower()}
                    self._conn_set(c, spec["state"], info, now)
                    n += 1
        out["aiven_set_state"] = n
        out["principals"] = []
        for p in b.get("principals") or []:
            tenant = self._tenant(p.get("tenant") or I["tenant_id"])
            if tenant is None:
                raise ValueError("unknown tenant %r" % p.get("tenant"))
            app = self._add_app(tenant["tenantId"], p.get("name") or "seeded-app",
                                p.get("sign_in_audience") or "AzureADMyOrg", created=now - 86400)
            res = {"name": app["displayName"], "tenant": tenant["tenantId"], "app_id": app["appId"],
                   "app_object_id": app["id"], "sp_id": None, "secret": None}
            if p.get("secret", True):
                sec = "sd~" + secrets.token_urlsafe(30)
                self._add_password(app, sec, "seeded", created=now - 86400)
                res["secret"] = sec
            if p.get("service_principal", True):
                sp = self._add_sp(tenant["tenantId"], app["appId"], created=now - 86400,
                                  graph_permissions=[x for x in p.get("graph_permissions") or []])
                res["sp_id"] = sp["id"]
                for r in p.get("roles") or []:
                    g = self._role_guid(r["role"], tenant["tenantId"])
                    self._add_ra(new_id(), r["scope"], g, sp["id"], "ServicePrincipal", created=now - 86400)
            out["principals"].append(res)
        out["grants"] = []
        for g in b.get("grants") or []:
            pid = g.get("principal_id")
            if not pid:
                sp = self._sp_by_appid(g["tenant"], g["app_id"])
                if sp is None:
                    raise ValueError("no service principal for app %s in tenant %s" % (g["app_id"], g["tenant"]))
                pid = sp["id"]
            tenant = self._scope_tenant(g["scope"])
            if tenant is None:
                raise ValueError("scope %r is not in a known subscription" % g["scope"])
            guid = self._role_guid(g["role"], tenant)
            if guid not in self.d["roledefs"]:
                raise ValueError("unknown role %r" % g["role"])
            name = (g.get("name") or new_id()).lower()
            created = now - 1e6 if g.get("propagated", True) else now
            ra = self._add_ra(name, g["scope"], guid, pid, g.get("principal_type") or "ServicePrincipal",
                              created=created)
            out["grants"].append({"name": name, "id": self.ra_json(ra)["id"]})
        n = 0
        for r in b.get("revoke") or []:
            for key, ra in list(self.d["ras"].items()):
                if r.get("name") and key != r["name"].lower() and \
                        key != r["name"].rsplit("/", 1)[-1].lower():
                    continue
                if r.get("principal_id") and ra["principalId"].lower() != r["principal_id"].lower():
                    continue
                if r.get("scope") and norm(ra["scope"]) != norm(r["scope"]):
                    continue
                if r.get("role") and ra["roleGuid"] != self._role_guid(r["role"], ra["tenant"]):
                    continue
                if not any(r.get(k) for k in ("name", "principal_id", "scope", "role")):
                    continue
                del self.d["ras"][key]
                n += 1
        out["revoked"] = n
        for g in b.get("graph_permissions") or []:
            sp = self._sp_by_appid(g["tenant"], g["app_id"])
            if sp is None:
                raise ValueError("no service principal for app %s in tenant %s" % (g["app_id"], g["tenant"]))
            sp["graph_permissions"] = list(g["permissions"])
        n = 0
        for r in b.get("remove_service_principals") or []:
            sp = self._sp_by_appid(r["tenant"], r["app_id"])
            if sp:
                del self.d["sps"][sp["id"]]
                n += 1
        out["removed_service_principals"] = n
        n = 0
        et = b.get("expire_tokens")
        if et:
            flt = et if isinstance(et, dict) else {}
            for rec in self.tokens.values():
                if flt.get("app_id") and rec["app_id"].lower() != flt["app_id"].lower():
                    continue
                if flt.get("tenant") and rec["tenant"].lower() != flt["tenant"].lower():
                    continue
                if rec["exp"] > now:
                    rec["exp"] = now
                    n += 1
        out["expired_tokens"] = n
        return out

    def dump(self, now):
        d = self.d
        prop = self.settings["role_propagation_seconds"]
        return {
            "scenario": self.scenario, "base_url": self.base_url, "time": now, "settings": dict(self.settings),
            "tenants": [dict(t) for t in d["tenants"].values()],
            "subscriptions": [dict(s) for s in d["subscriptions"].values()],
            "resourceGroups": [dict(r) for r in d["rgs"].values()],
            "applications": [{"id": a["id"], "appId": a["appId"], "tenant": a["tenant"],
                              "displayName": a["displayName"], "uniqueName": a["uniqueName"],
                              "signInAudience": a["signInAudience"], "createdDateTime": iso(a["created"]),
                              "replicated": not self._fresh(a, now), "owners": list(a["owners"]),
                              "passwordCredentials": [{"keyId": p["keyId"], "hint": p["hint"],
                                                       "displayName": p["displayName"],
                                                       "startDateTime": iso(p["startDateTime"]),
                                                       "endDateTime": iso(p["endDateTime"])}
                                                      for p in a["passwords"]]}
                             for a in d["apps"].values()],
            "servicePrincipals": [{"id": s["id"], "appId": s["appId"], "tenant": s["tenant"],
                                   "displayName": s["displayName"],
                                   "appOwnerOrganizationId": s["appOwnerOrganizationId"],
                                   "graphPermissions": list(s["graph_permissions"]), "owners": list(s["owners"]),
                                   "createdDateTime": iso(s["created"]), "replicated": not self._fresh(s, now)}
                                  for s in d["sps"].values()],
            "roleDefinitions": [{"id": rd["guid"], "roleName": rd["roleName"], "type": rd["type"],
                                 "tenant": rd["tenant"], "actions": list(rd["actions"]),
                                 "notActions": list(rd["notActions"]),
                                 "assignableScopes": list(rd["assignableScopes"])}
                                for rd in d["roledefs"].values()],
            "roleAssignments": [{"name": ra["name"], "id": self.ra_json(ra)["id"], "scope": ra["scope"],
                                 "roleDefinitionId": ra["roleGuid"],
                                 "roleName": d["roledefs"][ra["roleGuid"]]["roleName"]
                                 if ra["roleGuid"] in d["roledefs"] else None,
                                 "principalId": ra["principalId"], "principalType": ra["principalType"],
                                 "tenant": ra["tenant"], "createdOn": iso(ra["created"], True),
                                 "effective": now - ra["created"] >= prop}
                                for ra in d["ras"].values()],
            "virtualNetworks": [{"id": v["id"], "subscription": v["subscription"],
                                 "resource_group": v["resource_group"], "name": v["name"],
                                 "location": v["location"], "tenant": v["tenant"],
                                 "address_prefixes": list(v["address_prefixes"]),
                                 "peerings": [{"name": p["name"], "id": p["id"], "remote_id": p["remote_id"],
                                               "peeringState": p["state"],
                                               "provisioningState": self.peering_json(p, now)["properties"][
                                                   "provisioningState"],
                                               "allowVirtualNetworkAccess": p["allowVirtualNetworkAccess"],
                                               "owner": p["owner"]}
                                              for p in v["peerings"].values()]}
                                for v in d["vnets"].values()],
            "aiven": {"projects": [{"name": p["name"],
                                    "vpcs": [dict(self.vpc_json(v), provider_vnet_id=v["provider_vnet_id"])
                                             for v in p["vpcs"].values()]}
                                   for p in d["projects"].values()]},
            "operations": len(d["ops"]),
            "tokens_issued": len(self.tokens),
            "faults": self.faults.dump(),
        }


# ---------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecloud/1.0"
    timeout = 120  # idle keep-alive connections are closed after this

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fakecloud: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def _write(self, resp, head_only=False):
        self.send_response(resp.status)
        seen = set()
        for k, v in resp.headers:
            self.send_header(k, v)
            seen.add(k.lower())
        if resp.ctype and "content-type" not in seen:
            self.send_header("Content-Type", resp.ctype)
        if resp.status not in (204, 304) and resp.status >= 200:
            self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        if not head_only and resp.body and resp.status not in (204, 304):
            self._headers_buffer.append(b"\r\n")
            self._headers_buffer.append(resp.body)
            self.wfile.write(b"".join(self._headers_buffer))
            self._headers_buffer = []
        else:
            self.end_headers()

    def _reset(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def dispatch(self):
        srv = self.server
        cloud = srv.cloud
        try:
            body = self._read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            self._write(Resp(413, {"error": "bad or too large request body"}))
            return
        req = Req(self.command, self.path, self.headers, body, cloud.base_url)
        if req.raw_path.startswith("/_fake/") or req.raw_path == "/_fake":
            try:
                resp = cloud.control(req)
            except Exception as e:  # a bug must not kill the connection silently
                traceback.print_exc()
                resp = Resp(500, {"error": "fakecloud internal error: %r" % e})
            self._write(resp)
            return
        entry = cloud.log.arrive(req)
        try:
            lat = float(cloud.settings.get("latency_ms") or 0)
            if lat > 0:
                time.sleep(lat / 1000.0)
            fault = cloud.faults.match(req.method, req.raw_path)
            if fault:
                entry["fault"] = fault["id"]
                if fault["delay_ms"]:
                    time.sleep(fault["delay_ms"] / 1000.0)
                if fault["reset"]:
                    entry["status"] = 0
                    self._reset()
                    return
                if fault["malformed"]:
                    entry["status"] = 200
                    self._write(Resp(200, raw=b'{"value": [{"id": "/subscriptions/trunc', headers=[
                        ("x-ms-request-id", new_id())]))
                    return
                if fault["status"]:
                    hdrs = [(str(k), str(v)) for k, v in fault["headers"].items()]
                    if fault["retry_after"] is not None:
                        hdrs.append(("Retry-After", str(fault["retry_after"])))
                    hdrs.append(("x-ms-request-id", new_id()))
                    resp = Resp(fault["status"], cloud.default_error(req.raw_path, fault["status"], fault["body"]),
                                headers=hdrs)
                    entry["status"] = resp.status
                    self._write(resp, head_only=req.method == "HEAD")
                    return
            try:
                resp = cloud.handle(req)
            except Exception:
                traceback.print_exc()
                resp = Resp(500, {"error": {"code": "InternalServerError", "message": "fakecloud internal error"}})
            entry["status"] = resp.status
            entry["duration_ms"] = round((time.time() - req.now) * 1000.0, 3)
            self._write(resp, head_only=req.method == "HEAD")
        finally:
            if entry["status"] is None:
                entry["status"] = 0


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024
    handshake_timeout = 10.0

    def __init__(self, addr, ssl_ctx, cloud, verbose=False):
        self.ssl_ctx = ssl_ctx
        self.cloud = cloud
        self.verbose = verbose
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # Runs in the per-connection thread: the TLS handshake happens here, never in the accept loop.
        tls = None
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(self.handshake_timeout)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError, ValueError):
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            tls.settimeout(Handler.timeout)
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------
# Startup: certificates, files, main
# ---------------------------------------------------------------------------

def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    srv_key, srv_csr, srv_crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")
    for p in (ca_key, srv_key):
        write_secret(p, "")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "30",
        "-subj", "/CN=fakecloud throwaway test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", srv_key, "-out", srv_csr, "-subj", "/CN=localhost")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", srv_csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial",
        str(int.from_bytes(os.urandom(8), "big")), "-out", srv_crt, "-days", "30", "-extfile", ext)
    os.chmod(ca_key, 0o600)
    os.chmod(srv_key, 0o600)
    for p in (srv_csr, ext):
        os.unlink(p)
    return ca_crt, srv_crt, srv_key


def write_world(d, cloud, port):
    I = cloud.ids()
    files = {"admin_secret_file": ("admin.secret", cloud.static["admin_secret"]),
             "limited_secret_file": ("limited.secret", cloud.static["limited_secret"]),
             "aiven_token_file": ("aiven.token", cloud.static["aiven_token"]),
             "other_aiven_token_file": ("other-aiven.token", cloud.static["other_aiven_token"])}
    world = {"base_url": cloud.base_url, "ca_file": os.path.join(d, "ca.crt"), "port": port,
             "scenario": cloud.scenario, "pid": os.getpid(),
             "login_url": cloud.base_url + "/login", "graph_url": cloud.base_url + "/graph",
             "arm_url": cloud.base_url + "/arm", "aiven_url": cloud.base_url + "/aiven"}
    for key, (name, secret) in files.items():
        p = os.path.join(d, name)
        write_secret(p, secret)
        world[key] = p
    world.update(I)
    world["vnet_id"] = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s" % (
        I["subscription_id"], I["resource_group"], I["vnet_name"])
    world["admin_sp_id"] = did("sp:admin")
    world["limited_sp_id"] = did("sp:limited")
    with cloud.lock:
        world["provider_vnet_id"] = cloud.d["projects"][I["project"]]["vpcs"][I["project_vpc_id"]]["provider_vnet_id"]
    world["network_contributor_role_id"] = NETWORK_CONTRIBUTOR_ROLE
    tmp = os.path.join(d, ".world.json.tmp")
    with open(tmp, "w") as f:
        json.dump(world, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(d, "world.json"))


def main(argv=None):
    ap = argparse.ArgumentParser(description="HTTPS fake of Entra ID, Graph, ARM and Aiven for peering tests")
    ap.add_argument("--dir", required=True, help="directory for ca.crt, world.json and secret files")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="test")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="added latency per cloud request")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    ca_crt, srv_crt, srv_key = make_certs(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(srv_crt, srv_key)

    cloud = Cloud(args.scenario, "https://127.0.0.1:0", args.latency_ms)
    server = FakeServer(("127.0.0.1", args.port), ctx, cloud, verbose=args.verbose)
    port = server.server_address[1]
    cloud.base_url = "https://127.0.0.1:%d" % port
    write_world(d, cloud, port)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    print("fakecloud listening on %s" % cloud.base_url, flush=True)
    while not stop.is_set():
        stop.wait(0.5)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
