# Copyright (c) 2026, peering developers
"""The harness of the fake cloud's tests: start and stop a fake, an HTTPS client, and
FakeCase with helpers for every service and the manual peering procedure.

Each test module starts its own fake on a free loopback port in a temporary directory, with
`setUpModule, tearDownModule = start_module_fake, stop_module_fake`, and stops it with
SIGTERM, asserting exit status 0, whether its tests pass or fail.  Every test starts from a
reset world.  Nothing sleeps for a fixed time: waits poll with a deadline.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from urllib.parse import quote, urlencode, urlsplit

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # test/fakecloud
FAKE = os.path.join(PACKAGE_DIR, "fakecloud.py")
PY = sys.executable or "/usr/bin/python3"

ARM_SCOPE = "https://management.azure.com/.default"
ARM_SCOPE_CLI = "https://management.core.windows.net//.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
NET = "2024-05-01"
AUTHZ = "2022-04-01"
SUBS = "2022-12-01"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
PEER_ACTION = "Microsoft.Network/virtualNetworks/peer/action"

FAKE_PROC = None
WORLD = None
TMPDIR = None


def start_fake(directory, *extra, timeout=60, target=FAKE):
    """Start fakecloud (by default through fakecloud.py; `target` PACKAGE_DIR runs the package
    directory); return (proc, world) once its ready line is printed."""
    errf = open(os.path.join(directory, "fakecloud.stderr"), "wb")
    proc = subprocess.Popen([PY, target, "--dir", directory, "--port", "0"] + list(extra),
                            stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL)
    errf.close()
    lines = []
    t = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not lines or not lines[0].startswith(b"fakecloud listening on https://127.0.0.1:"):
        proc.kill()
        proc.wait()
        with open(os.path.join(directory, "fakecloud.stderr"), "rb") as f:
            raise RuntimeError("fakecloud did not start: %r %r" % (lines, f.read()[-2000:]))
    with open(os.path.join(directory, "world.json")) as f:
        world = json.load(f)
    assert lines[0].decode().strip() == "fakecloud listening on " + world["base_url"]
    return proc, world


def stop_fake(proc, sig=signal.SIGTERM, timeout=15):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def _kill_leftover():
    """Safety net if the run is interrupted before tearDownModule."""
    if FAKE_PROC is not None and FAKE_PROC.poll() is None:
        FAKE_PROC.kill()
        FAKE_PROC.wait()
    if TMPDIR:
        shutil.rmtree(TMPDIR, ignore_errors=True)


atexit.register(_kill_leftover)


def start_module_fake():
    """A test module's setUpModule: one fake for its tests."""
    global FAKE_PROC, WORLD, TMPDIR
    TMPDIR = tempfile.mkdtemp(prefix="fakecloud-test-")
    try:
        FAKE_PROC, WORLD = start_fake(TMPDIR)
    except Exception:
        shutil.rmtree(TMPDIR, ignore_errors=True)
        raise


def stop_module_fake():
    """A test module's tearDownModule: SIGTERM must stop the fake with status 0."""
    global FAKE_PROC
    try:
        if FAKE_PROC is not None:
            rc = stop_fake(FAKE_PROC)
            if rc != 0:
                raise AssertionError("fakecloud exited with %r on SIGTERM" % rc)
    finally:
        FAKE_PROC = None
        shutil.rmtree(TMPDIR, ignore_errors=True)


class R:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.raw = raw
        try:
            self.json = json.loads(raw.decode()) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "R(%d, %s)" % (self.status, self.raw[:500])


class Client:
    def __init__(self, world, ctx=None):
        self.world = world
        self.base = world["base_url"]
        u = urlsplit(self.base)
        self.host, self.port = u.hostname, u.port
        self.ctx = ctx or ssl.create_default_context(cafile=world["ca_file"])
        self.conn = None

    def _conn(self, fresh):
        if fresh:
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=15)
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=15)
        return self.conn

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def call(self, method, url, body=None, headers=None, fresh=False, raw_body=None):
        if url.startswith(self.base):
            url = url[len(self.base):]
        hdrs = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            conn = self._conn(fresh)
            try:
                conn.request(method, url, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                r = R(resp.status, resp.getheaders(), raw)
                if fresh:
                    conn.close()
                return r
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest):
                conn.close()
                self.conn = None
                if fresh or attempt:
                    raise


class FakeCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.w = WORLD
        cls.c = Client(WORLD)
        with open(WORLD["admin_secret_file"]) as f:
            cls.admin_secret = f.read().strip()
        with open(WORLD["limited_secret_file"]) as f:
            cls.limited_secret = f.read().strip()
        with open(WORLD["aiven_token_file"]) as f:
            cls.aiven_token = f.read().strip()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def setUp(self):
        r = self.fake("POST", "/_fake/reset")
        self.assertEqual(r.status, 200)
        self.fake("DELETE", "/_fake/faults")

    # -- low-level helpers -----------------------------------------------------

    def fake(self, method, path, body=None):
        return self.c.call(method, path, body=body)

    def seed(self, **kw):
        r = self.fake("POST", "/_fake/seed", kw)
        self.assertEqual(r.status, 200, r)
        return r.json

    def world(self):
        return self.fake("GET", "/_fake/world").json

    def token_req(self, tenant, client_id, secret, scope, content_type="application/x-www-form-urlencoded",
                  extra=None):
        form = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope}
        if secret is not None:
            form["client_secret"] = secret
        form.update(extra or {})
        return self.c.call("POST", "/login/%s/oauth2/v2.0/token" % tenant, raw_body=urlencode(form).encode(),
                           headers={"Content-Type": content_type})

    def token(self, tenant, client_id, secret, scope=ARM_SCOPE):
        r = self.token_req(tenant, client_id, secret, scope)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json["expires_in"], int)
        self.assertEqual(r.json["token_type"], "Bearer")
        return r.json["access_token"]

    def admin(self, scope=ARM_SCOPE, tenant=None):
        return self.token(tenant or self.w["tenant_id"], self.w["admin_client_id"], self.admin_secret, scope)

    def arm(self, method, path, tok, body=None, api=NET, headers=None, query=None):
        q = {"api-version": api} if api else {}
        q.update(query or {})
        url = "/arm" + path + ("?" + urlencode(q, quote_via=quote) if q else "")
        h = {"Authorization": "Bearer " + tok} if tok else {}
        h.update(headers or {})
        return self.c.call(method, url, body=body, headers=h)

    def graph(self, method, path, tok, body=None, headers=None):
        h = {"Authorization": "Bearer " + tok} if tok else {}
        h.update(headers or {})
        return self.c.call(method, "/graph/v1.0" + path, body=body, headers=h)

    def aiven(self, method, path, body=None, token=None, scheme="aivenv1", headers=None):
        h = {"Authorization": "%s %s" % (scheme, token or self.aiven_token)}
        h.update(headers or {})
        return self.c.call(method, "/aiven/v1" + path, body=body, headers=h)

    def eventually(self, fn, pred, timeout=10.0, interval=0.02):
        """Poll fn() until pred(result) is true; returns (result, list of earlier results)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            r = fn()
            if pred(r):
                return r, seen
            seen.append(r)
            if time.monotonic() > deadline:
                self.fail("condition not reached before the deadline; last: %r" % (r,))
            time.sleep(interval)

    # -- ids -------------------------------------------------------------------

    @property
    def vnet_path(self):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s" % (
            self.w["subscription_id"], self.w["resource_group"], self.w["vnet_name"])

    def vnet_id(self, name=None):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s" % (
            self.w["subscription_id"], self.w["resource_group"], name or self.w["vnet_name"])

    def vpc_conns(self, vpc_id=None):
        r = self.aiven("GET", "/project/%s/vpcs/%s" % (self.w["project"], vpc_id or self.w["project_vpc_id"]))
        self.assertEqual(r.status, 200, r)
        return r.json["peering_connections"]

    def conn(self, vnet=None, vpc_id=None):
        for c in self.vpc_conns(vpc_id):
            if c["peer_vpc"] == (vnet or self.w["vnet_name"]):
                return c
        return None

    # -- the manual peering procedure, reusable ---------------------------------

    def procedure_until_pending(self, vnet=None, unique=None):
        """Steps 1-12 as the admin. Returns a dict with everything learned."""
        W = self.w
        vnet = vnet or W["vnet_name"]
        ctx = {"vnet": vnet}
        # 1: admin tokens
        g = self.admin(GRAPH_SCOPE)
        a = self.admin(ARM_SCOPE)
        ctx["g"], ctx["a"] = g, a
        # 2: app upsert (multi-tenant)
        unique = unique or "mst-peering-" + uuid.uuid4().hex[:10]
        r = self.graph("PATCH", "/applications(uniqueName='%s')" % unique, g,
                       {"displayName": unique, "signInAudience": "AzureADMultipleOrgs"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["uniqueName"], unique)
        self.assertNotEqual(r.json["id"], r.json["appId"])
        ctx["app_obj"], ctx["app_id"], ctx["unique"] = r.json["id"], r.json["appId"], unique
        r = self.graph("PATCH", "/applications(uniqueName='%s')" % unique, g,
                       {"displayName": unique, "signInAudience": "AzureADMultipleOrgs"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.raw, b"")
        # 3: SP for the app (upsert)
        r = self.graph("PATCH", "/servicePrincipals(appId='%s')" % ctx["app_id"], g, {},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201, r)
        ctx["app_sp"] = r.json["id"]
        self.assertEqual(r.json["appId"], ctx["app_id"])
        # 4: secret
        r = self.graph("POST", "/applications/%s/addPassword" % ctx["app_obj"], g,
                       {"passwordCredential": {"displayName": "peering"}})
        self.assertEqual(r.status, 200, r)
        ctx["secret"] = r.json["secretText"]
        self.assertTrue(16 <= len(ctx["secret"]) <= 64)
        self.assertEqual(r.json["hint"], ctx["secret"][:3])
        for k in ("keyId", "startDateTime", "endDateTime", "customKeyIdentifier", "displayName"):
            self.assertIn(k, r.json)
        # 5: VNet
        r = self.arm("GET", self.vnet_id(vnet), a)
        self.assertEqual(r.status, 200, r)
        ctx["vnet_id"] = r.json["id"]
        ctx["prefixes"] = r.json["properties"]["addressSpace"]["addressPrefixes"]
        # 6: Network Contributor for the app's SP on the VNet
        ra1 = str(uuid.uuid4())
        body = {"properties": {"roleDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization/"
                                                   "roleDefinitions/%s" % (W["subscription_id"], NETWORK_CONTRIBUTOR),
                               "principalId": ctx["app_sp"], "principalType": "ServicePrincipal"}}
        r = self.arm("PUT", ctx["vnet_id"] + "/providers/Microsoft.Authorization/roleAssignments/" + ra1, a, body,
                     api=AUTHZ)
        self.assertEqual(r.status, 201, r)
        r = self.arm("PUT", ctx["vnet_id"] + "/providers/Microsoft.Authorization/roleAssignments/" + ra1, a, body,
                     api=AUTHZ)
        self.assertEqual(r.status, 200, r)
        ctx["ra_app"] = ra1
        # 7: provider SP in the customer tenant
        r = self.graph("PATCH", "/servicePrincipals(appId='%s')" % W["provider_app_id"], g, {},
                       headers={"Prefer": "create-if-missing"})
        self.assertIn(r.status, (201, 204), r)
        if r.status == 204:  # it existed already: read it back
            r = self.graph("GET", "/servicePrincipals(appId='%s')" % W["provider_app_id"], g)
            self.assertEqual(r.status, 200, r)
        ctx["provider_sp"] = r.json["id"]
        self.assertEqual(r.json["appOwnerOrganizationId"], W["provider_tenant_id"])
        # 8: custom role with only peer/action
        rd = str(uuid.uuid4())
        rbody = {"properties": {"roleName": "mst-peer-" + unique, "description": "peer into vnets",
                                "type": "CustomRole",
                                "permissions": [{"actions": [PEER_ACTION], "notActions": [], "dataActions": [],
                                                 "notDataActions": []}],
                                "assignableScopes": ["/subscriptions/" + W["subscription_id"]]}}
        r = self.arm("PUT", "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s"
                     % (W["subscription_id"], rd), a, rbody, api=AUTHZ)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["properties"]["type"], "CustomRole")
        ctx["role"] = rd
        ctx["role_id"] = r.json["id"]
        # 9: assign it to the provider SP on the VNet
        ra2 = str(uuid.uuid4())
        r = self.arm("PUT", ctx["vnet_id"] + "/providers/Microsoft.Authorization/roleAssignments/" + ra2, a,
                     {"properties": {"roleDefinitionId": ctx["role_id"], "principalId": ctx["provider_sp"],
                                     "principalType": "ServicePrincipal"}}, api=AUTHZ)
        self.assertEqual(r.status, 201, r)
        ctx["ra_provider"] = ra2
        # 10: tenant id of the subscription
        r = self.arm("GET", "/subscriptions", a, api=SUBS)
        self.assertEqual(r.status, 200, r)
        subs = {s["subscriptionId"]: s for s in r.json["value"]}
        self.assertEqual(subs[W["subscription_id"]]["tenantId"], W["tenant_id"])
        ctx["tenant"] = subs[W["subscription_id"]]["tenantId"]
        # 11: Aiven peering request (lower-case names)
        r = self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (W["project"], W["project_vpc_id"]), {
            "peer_cloud_account": W["subscription_id"], "peer_resource_group": W["resource_group"].lower(),
            "peer_vpc": vnet.lower(), "peer_azure_app_id": ctx["app_id"], "peer_azure_tenant_id": ctx["tenant"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "APPROVED")
        self.assertIsNone(r.json["state_info"])
        # 12: poll until PENDING_PEER
        c, _ = self.eventually(lambda: self.conn(vnet), lambda c: c and c["state"] != "APPROVED")
        self.assertEqual(c["state"], "PENDING_PEER", c)
        self.assertEqual(c["state_info"]["to-tenant-id"], W["provider_tenant_id"])
        self.assertEqual(c["state_info"]["to-network-id"], W["provider_vnet_id"])
        self.assertIn("message", c["state_info"])
        self.assertIn("type", c["state_info"])
        ctx["to_tenant"] = c["state_info"]["to-tenant-id"]
        ctx["to_network"] = c["state_info"]["to-network-id"]
        return ctx

    def app_tokens(self, ctx):
        """Steps 13-15: the app logs into both tenants."""
        ctx["t_cust"] = self.token(ctx["tenant"], ctx["app_id"], ctx["secret"])
        ctx["t_prov"] = self.token(ctx["to_tenant"], ctx["app_id"], ctx["secret"])
        return ctx

    def put_peering(self, ctx, name="to-mst", aux=True, tok=None, remote=None, allow=True):
        h = {"x-ms-authorization-auxiliary": "Bearer " + ctx["t_prov"]} if aux is True else (
            {"x-ms-authorization-auxiliary": aux} if aux else {})
        return self.arm("PUT", ctx["vnet_id"] + "/virtualNetworkPeerings/" + name, tok or ctx["t_cust"], {
            "name": name, "properties": {"allowVirtualNetworkAccess": allow, "allowForwardedTraffic": False,
                                         "allowGatewayTransit": False, "useRemoteGateways": False,
                                         "remoteVirtualNetwork": {"id": remote or ctx["to_network"]}}},
            headers=h)

    def to_active(self, ctx):
        self.app_tokens(ctx)
        r = self.put_peering(ctx)
        self.assertEqual(r.status, 201, r)
        c, _ = self.eventually(lambda: self.conn(ctx["vnet"]), lambda c: c["state"] != "PENDING_PEER")
        self.assertEqual(c["state"], "ACTIVE", c)
        return ctx

    def sp_in(self, tenant, app_id):
        for s in self.world()["servicePrincipals"]:
            if s["tenant"] == tenant and s["appId"] == app_id:
                return s
        return None
