# Copyright (c) 2026, peering developers
"""Shared vocabulary: well-known ids, small helpers, and the request/response types every
service module works with."""

import ipaddress
import json
import re
import time
import uuid
from urllib.parse import parse_qsl, urlsplit

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

# Graph app-only permissions the fake understands
READ_WRITE_ALL = "Application.ReadWrite.All"
READ_WRITE_OWNED_BY = "Application.ReadWrite.OwnedBy"
READ_ALL = "Application.Read.All"
GRAPH_PERMS = {READ_WRITE_ALL, READ_WRITE_OWNED_BY, READ_ALL}
GRAPH_WRITERS = {READ_WRITE_ALL, READ_WRITE_OWNED_BY}

SIGN_IN_AUDIENCES = {"AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount"}
MULTI_TENANT = {"AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount"}

NS = uuid.UUID("3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VNET_ID_RE = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/"
                        r"virtualNetworks/([^/]+)/?$", re.I)
SUBSCRIPTION_OF_SCOPE_RE = re.compile(r"^/subscriptions/([^/]+)", re.I)


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
    """Canonical form of an ARM id or scope for comparisons (ARM ids are case-insensitive)."""
    return (s or "").rstrip("/").lower()


def scope_contains(ancestor, scope):
    a, s = norm(ancestor), norm(scope)
    return a == "" or s == a or s.startswith(a + "/")


def scope_subscription(scope):
    """The subscription id a scope lies in, or None."""
    m = SUBSCRIPTION_OF_SCOPE_RE.match(scope or "")
    return m.group(1) if m else None


def vnet_id(sub, rg, name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s" % (sub, rg, name)


_action_cache = {}


def action_match(pattern, action):
    """RBAC action wildcards ('*', 'Microsoft.Network/*', '*/read') match case-insensitively."""
    rx = _action_cache.get(pattern)
    if rx is None:
        rx = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.I)
        _action_cache[pattern] = rx
    return bool(rx.match(action))


def overlapping(prefixes_a, prefixes_b):
    """The prefixes of a that overlap one of b."""
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


class Resp:
    """One HTTP answer: status, headers and an already serialised body."""

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
    """Raised by a handler to answer with an error response."""

    def __init__(self, resp):
        super().__init__(resp.status)
        self.resp = resp


class Req:
    """One parsed request; `now` is its arrival time, the instant the world is evaluated at."""

    def __init__(self, method, target, headers, body, base_url):
        self.method = method
        parts = urlsplit(target)
        self.raw_path = parts.path or "/"
        self.raw_query = parts.query
        self.query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        self.q = dict(self.query_pairs)
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
