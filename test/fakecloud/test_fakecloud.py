"""Tests for the simulated cloud (test/fakecloud/fakecloud.py).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud -p 'test_*.py' -v

The suite starts its own fake on a free loopback port in a temporary directory
and stops it (SIGTERM) whether the tests pass or fail.  Nothing sleeps for a
fixed time: waits poll with a deadline.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from urllib.parse import quote, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fakecloud.py")
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


def start_fake(directory, *extra, timeout=60):
    """Start fakecloud; return (proc, world) once its ready line is printed."""
    errf = open(os.path.join(directory, "fakecloud.stderr"), "wb")
    proc = subprocess.Popen([PY, FAKE, "--dir", directory, "--port", "0"] + list(extra),
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


def setUpModule():
    global FAKE_PROC, WORLD, TMPDIR
    TMPDIR = tempfile.mkdtemp(prefix="fakecloud-test-")
    try:
        FAKE_PROC, WORLD = start_fake(TMPDIR)
    except Exception:
        shutil.rmtree(TMPDIR, ignore_errors=True)
        raise


def tearDownModule():
    try:
        if FAKE_PROC is not None:
            rc = stop_fake(FAKE_PROC)
            if rc != 0:
                raise AssertionError("fakecloud exited with %r on SIGTERM" % rc)
    finally:
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

    # -- the manual procedure (design.md §1), reusable -----------------------

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


# ---------------------------------------------------------------------------

class TestStartup(FakeCase):
    def test_world_json_and_files(self):
        W = self.w
        for k in ("base_url", "ca_file", "tenant_id", "subscription_id", "resource_group", "vnet_name",
                  "admin_client_id", "admin_secret_file", "aiven_token_file", "project", "project_vpc_id",
                  "provider_tenant_id", "provider_app_id", "second_vnet_name", "overlap_vnet_name",
                  "aws_project_vpc_id", "vpc_network_cidr", "limited_client_id", "limited_secret_file",
                  "other_tenant_id"):
            self.assertIn(k, W)
        self.assertEqual(W["provider_app_id"], "55f300d4-fc50-4c5e-9222-e90a6e2187fb")
        self.assertRegex(W["base_url"], r"^https://127\.0\.0\.1:\d+$")
        self.assertTrue(os.path.isfile(W["ca_file"]))
        for k in ("admin_secret_file", "limited_secret_file", "aiven_token_file"):
            self.assertEqual(os.stat(W[k]).st_mode & 0o777, 0o600, k)
        self.assertEqual(os.stat(os.path.join(os.path.dirname(W["ca_file"]), "ca.key")).st_mode & 0o777, 0o600)
        out = subprocess.run(["openssl", "x509", "-in", W["ca_file"], "-noout", "-text"], capture_output=True,
                             text=True).stdout
        self.assertIn("CA:TRUE", out)
        self.assertIn("2048 bit", out)

    def test_tls_refused_without_ca(self):
        c = Client(self.w, ctx=ssl.create_default_context())
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.call("GET", "/_fake/world", fresh=True)

    def test_only_loopback(self):
        port = urlsplit(self.w["base_url"]).port
        if not os.path.exists("/proc/net/tcp"):
            self.skipTest("no /proc/net/tcp")
        listening = []
        for path in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    addr, hexport = fields[1].rsplit(":", 1)
                    if int(hexport, 16) == port and fields[3] == "0A":  # LISTEN
                        listening.append(addr)
        self.assertEqual(listening, ["0100007F"])  # 127.0.0.1 only

    def test_keepalive_and_content_length(self):
        c = Client(self.w)
        try:
            r1 = c.call("GET", "/_fake/world")
            sock1 = c.conn.sock
            r2 = self.aiven("GET", "/project/%s/vpcs" % self.w["project"])
            r3 = c.call("GET", "/_fake/requests")
            self.assertIs(c.conn.sock, sock1, "connection was not kept alive")
            for r in (r1, r3):
                self.assertEqual(int(r.headers["content-length"]), len(r.raw))
            self.assertEqual(r2.status, 200)
        finally:
            c.close()

    def test_demo_scenario_starts_and_stops_on_sigint(self):
        d = tempfile.mkdtemp(prefix="fakecloud-demo-")
        try:
            proc, world = start_fake(d, "--scenario", "demo", "--latency-ms", "1")
            try:
                c = Client(world)
                s = c.call("GET", "/_fake/world", fresh=True).json["settings"]
                self.assertGreater(s["aiven_build_seconds"], 0)
                self.assertGreater(s["role_propagation_seconds"], 0)
                self.assertEqual(s["latency_ms"], 1.0)
                total = s["aiven_build_seconds"] + s["aiven_activate_seconds"] + s["role_propagation_seconds"] + \
                    s["graph_replication_seconds"] + s["secret_propagation_seconds"] + s["aiven_delete_seconds"]
                self.assertLess(total, 60)
                self.assertEqual(world["scenario"], "demo")
            finally:
                self.assertEqual(stop_fake(proc, signal.SIGINT), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class TestProcedure(FakeCase):
    def test_full_procedure_to_active_then_delete(self):
        W = self.w
        ctx = self.procedure_until_pending()
        # the provider created an SP for the customer app in its own tenant
        self.assertIsNotNone(self.sp_in(W["provider_tenant_id"], ctx["app_id"]))
        self.app_tokens(ctx)
        # 16: peering with the auxiliary token
        r = self.put_peering(ctx)
        self.assertEqual(r.status, 201, r)
        self.assertIn("x-ms-request-id", r.headers)
        op = r.headers["azure-asyncoperation"]
        self.assertTrue(op.startswith(W["base_url"] + "/arm/subscriptions/"), op)
        self.assertEqual(r.json["properties"]["remoteVirtualNetwork"]["id"], ctx["to_network"])
        self.assertTrue(r.json["properties"]["allowVirtualNetworkAccess"])
        st, _ = self.eventually(lambda: self.c.call("GET", op, headers={"Authorization": "Bearer " + ctx["t_cust"]}),
                                lambda r: r.json["status"] != "InProgress")
        self.assertEqual(st.json["status"], "Succeeded")
        r = self.arm("GET", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["properties"]["peeringState"], "Connected")
        self.assertEqual(r.json["properties"]["provisioningState"], "Succeeded")
        self.assertEqual(r.json["properties"]["remoteAddressSpace"]["addressPrefixes"], [W["vpc_network_cidr"]])
        # 17: ACTIVE
        c, _ = self.eventually(lambda: self.conn(), lambda c: c["state"] != "PENDING_PEER")
        self.assertEqual(c["state"], "ACTIVE")
        self.assertEqual(sorted(c), sorted(["create_time", "peer_azure_app_id", "peer_azure_tenant_id",
                                            "peer_cloud_account", "peer_region", "peer_resource_group", "peer_vpc",
                                            "state", "state_info", "update_time", "user_peer_network_cidrs",
                                            "vpc_peering_connection_type"]))
        self.assertEqual(c["vpc_peering_connection_type"], "azure-vnet-peering")
        self.assertIsNone(c["peer_region"])
        # the provider side peering is Connected as well
        pv = [v for v in self.world()["virtualNetworks"] if v["id"] == W["provider_vnet_id"]][0]
        self.assertEqual([p["peeringState"] for p in pv["peerings"]], ["Connected"])
        # deletion through Aiven: DELETING -> DELETED -> gone; Azure side becomes Disconnected
        r = self.aiven("DELETE", "/project/%s/vpcs/%s/peering-connections/peer-accounts/%s/peer-resource-groups/%s/"
                                 "peer-vpcs/%s" % (W["project"], W["project_vpc_id"], W["subscription_id"],
                                                   W["resource_group"], W["vnet_name"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "DELETING")
        c, _ = self.eventually(lambda: self.conn(), lambda c: c is None or c["state"] == "DELETED")
        self.assertEqual(c["state"], "DELETED")
        self.eventually(lambda: self.conn(), lambda c: c is None)
        r = self.arm("GET", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"])
        self.assertEqual(r.json["properties"]["peeringState"], "Disconnected")
        # the SP the provider created is gone: the app can no longer log into the provider tenant
        r = self.token_req(ctx["to_tenant"], ctx["app_id"], ctx["secret"], ARM_SCOPE)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"], "unauthorized_client")
        # Azure peering delete: 202 + Location, then 404; a second delete is 204
        r = self.arm("DELETE", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"])
        self.assertEqual(r.status, 202, r)
        loc = r.headers["location"]
        self.assertTrue(loc.startswith(W["base_url"] + "/arm/"))
        fin, _ = self.eventually(lambda: self.c.call("GET", loc, headers={"Authorization": "Bearer " + ctx["t_cust"]}),
                                 lambda r: r.status != 202)
        self.assertEqual(fin.status, 204)
        self.eventually(lambda: self.arm("GET", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"]),
                        lambda r: r.status == 404)
        r = self.arm("DELETE", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"])
        self.assertEqual(r.status, 204)
        # role assignments and the custom role can be cleaned up in order
        a = ctx["a"]
        r = self.arm("DELETE", "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s"
                     % (W["subscription_id"], ctx["role"]), a, api=AUTHZ)
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["error"]["code"], "RoleDefinitionHasAssignments")
        for ra in (ctx["ra_app"], ctx["ra_provider"]):
            r = self.arm("DELETE", ctx["vnet_id"] + "/providers/Microsoft.Authorization/roleAssignments/" + ra, a,
                         api=AUTHZ)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["name"], ra)
            r = self.arm("DELETE", ctx["vnet_id"] + "/providers/Microsoft.Authorization/roleAssignments/" + ra, a,
                         api=AUTHZ)
            self.assertEqual(r.status, 204)
        r = self.arm("DELETE", "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s"
                     % (W["subscription_id"], ctx["role"]), a, api=AUTHZ)
        self.assertEqual(r.status, 200, r)
        r = self.graph("DELETE", "/applications/" + ctx["app_obj"], ctx["g"])
        self.assertEqual(r.status, 204)
        r = self.graph("GET", "/servicePrincipals(appId='%s')" % ctx["app_id"], ctx["g"])
        self.assertEqual(r.status, 404)

    def test_deleted_by_peer(self):
        ctx = self.to_active(self.procedure_until_pending())
        r = self.arm("DELETE", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"])
        self.assertEqual(r.status, 202)
        c, _ = self.eventually(lambda: self.conn(), lambda c: c["state"] != "ACTIVE")
        self.assertEqual(c["state"], "DELETED_BY_PEER")
        self.assertIsNotNone(c["state_info"])
        # not live: a new POST creates a fresh request
        r = self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (self.w["project"], self.w["project_vpc_id"]),
                       {"peer_cloud_account": self.w["subscription_id"], "peer_resource_group": "rg-peering",
                        "peer_vpc": "vnet-app", "peer_azure_app_id": ctx["app_id"],
                        "peer_azure_tenant_id": self.w["tenant_id"]})
        self.assertEqual(r.json["state"], "APPROVED")

    def test_two_connections_same_vpc(self):
        ctx1 = self.to_active(self.procedure_until_pending())
        ctx2 = self.to_active(self.procedure_until_pending(vnet=self.w["second_vnet_name"]))
        states = sorted(c["state"] for c in self.vpc_conns())
        self.assertEqual(states, ["ACTIVE", "ACTIVE"])
        self.assertNotEqual(ctx1["app_id"], ctx2["app_id"])

    def test_duplicate_post_returns_existing(self):
        ctx = self.procedure_until_pending()
        body = {"peer_cloud_account": self.w["subscription_id"], "peer_resource_group": "rg-peering",
                "peer_vpc": "vnet-app", "peer_azure_app_id": ctx["app_id"], "peer_azure_tenant_id": ctx["tenant"]}
        r = self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (self.w["project"],
                                                                           self.w["project_vpc_id"]), body)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["state"], "PENDING_PEER")
        self.assertEqual(len(self.vpc_conns()), 1)


class TestLogin(FakeCase):
    def test_tokens_and_audiences(self):
        W = self.w
        for scope in (ARM_SCOPE, ARM_SCOPE_CLI, GRAPH_SCOPE):
            r = self.token_req(W["tenant_id"], W["admin_client_id"], self.admin_secret, scope)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["expires_in"], 3599)
        # tenant by domain name works too
        self.token("acme.onmicrosoft.com", W["admin_client_id"], self.admin_secret)
        # HTTP Basic client authentication
        import base64
        basic = base64.b64encode(("%s:%s" % (W["admin_client_id"], quote(self.admin_secret, safe=""))).encode())
        r = self.c.call("POST", "/login/%s/oauth2/v2.0/token" % W["tenant_id"],
                        raw_body=urlencode({"grant_type": "client_credentials", "scope": ARM_SCOPE,
                                            "client_id": W["admin_client_id"]}).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded",
                                 "Authorization": "Basic " + basic.decode()})
        self.assertEqual(r.status, 200, r)
        # admin also has an SP in the other tenant
        self.token(W["other_tenant_id"], W["admin_client_id"], self.admin_secret)

    def assertAadError(self, r, status, error, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json["error"], error)
        self.assertEqual(r.json["error_codes"], [code])
        self.assertTrue(r.json["error_description"].startswith("AADSTS%d:" % code), r.json["error_description"])
        for k in ("timestamp", "trace_id", "correlation_id"):
            self.assertIn(k, r.json)

    def test_rejections(self):
        W = self.w
        self.assertAadError(self.token_req(W["tenant_id"], W["admin_client_id"], self.admin_secret,
                                           "https://example.com/.default"), 400, "invalid_scope", 70011)
        self.assertAadError(self.token_req(W["tenant_id"], W["admin_client_id"], "wrong", ARM_SCOPE),
                            401, "invalid_client", 7000215)
        # the provider app has no SP in the customer tenant
        self.assertAadError(self.token_req(W["tenant_id"], W["provider_app_id"], "x", ARM_SCOPE),
                            400, "unauthorized_client", 700016)
        # the admin app has no SP in the provider tenant
        self.assertAadError(self.token_req(W["provider_tenant_id"], W["admin_client_id"], self.admin_secret,
                                           ARM_SCOPE), 400, "unauthorized_client", 700016)
        self.assertAadError(self.token_req(W["tenant_id"], str(uuid.uuid4()), "x", ARM_SCOPE),
                            400, "unauthorized_client", 700016)
        # JSON body instead of a form
        r = self.c.call("POST", "/login/%s/oauth2/v2.0/token" % W["tenant_id"],
                        body={"grant_type": "client_credentials", "client_id": W["admin_client_id"],
                              "client_secret": self.admin_secret, "scope": ARM_SCOPE})
        self.assertAadError(r, 400, "invalid_request", 900144)
        self.assertAadError(self.token_req(W["tenant_id"], W["admin_client_id"], self.admin_secret, ARM_SCOPE,
                                           extra={"grant_type": "password"}), 400, "unsupported_grant_type", 70003)
        self.assertAadError(self.token_req(str(uuid.uuid4()), W["admin_client_id"], self.admin_secret, ARM_SCOPE),
                            400, "invalid_tenant", 90002)

    def test_expired_tokens(self):
        W = self.w
        self.seed(settings={"token_lifetime_seconds": 0.3})
        r = self.token_req(W["tenant_id"], W["admin_client_id"], self.admin_secret, ARM_SCOPE)
        self.assertEqual(r.json["expires_in"], 0)
        a = r.json["access_token"]
        g = self.admin(GRAPH_SCOPE)
        r, _ = self.eventually(lambda: self.arm("GET", "/subscriptions", a, api=SUBS), lambda r: r.status == 401)
        self.assertEqual(r.json["error"]["code"], "ExpiredAuthenticationToken")
        r, _ = self.eventually(lambda: self.graph("GET", "/applications(appId='%s')" % W["admin_client_id"], g),
                               lambda r: r.status == 401)
        self.assertEqual(r.json["error"]["code"], "InvalidAuthenticationToken")
        self.assertIn("request-id", r.headers)


class TestGraph(FakeCase):
    def assertGraphError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json["error"]["code"], code, r)
        self.assertIn("message", r.json["error"])
        self.assertIn("request-id", r.json["error"]["innerError"])
        self.assertIn("date", r.json["error"]["innerError"])
        self.assertIn("request-id", r.headers)

    def test_auth(self):
        a = self.admin(ARM_SCOPE)
        self.assertGraphError(self.graph("GET", "/applications", a), 401, "InvalidAuthenticationToken")
        self.assertGraphError(self.graph("GET", "/applications", None), 401, "InvalidAuthenticationToken")
        self.assertGraphError(self.graph("GET", "/applications", "garbage"), 401, "InvalidAuthenticationToken")

    def test_applications(self):
        g = self.admin(GRAPH_SCOPE)
        r = self.graph("PATCH", "/applications(uniqueName='nope-x')", g, {"displayName": "x"})
        self.assertGraphError(r, 404, "Request_ResourceNotFound")
        r = self.graph("POST", "/applications", g, {"displayName": "plain", "signInAudience": "AzureADMultipleOrgs"})
        self.assertEqual(r.status, 201, r)
        app = r.json
        self.assertEqual(app["passwordCredentials"], [])
        r = self.graph("POST", "/applications", g, {"signInAudience": "AzureADMyOrg"})
        self.assertGraphError(r, 400, "Request_BadRequest")
        r = self.graph("POST", "/applications", g, {"displayName": "x", "signInAudience": "Everyone"})
        self.assertGraphError(r, 400, "Request_BadRequest")
        # reads by id, appId, uniqueName (the latter is modelled by choice)
        self.assertEqual(self.graph("GET", "/applications/" + app["id"], g).json["appId"], app["appId"])
        self.assertEqual(self.graph("GET", "/applications(appId='%s')" % app["appId"], g).json["id"], app["id"])
        r = self.graph("PATCH", "/applications(uniqueName='u-1')", g, {"displayName": "u-1"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201)
        self.assertEqual(self.graph("GET", "/applications(uniqueName='u-1')", g).json["id"], r.json["id"])
        r = self.graph("GET", "/applications?$filter=" + quote("appId eq '%s'" % app["appId"]), g)
        self.assertEqual([x["id"] for x in r.json["value"]], [app["id"]])
        # secrets: returned once, never in a GET
        r = self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {})
        self.assertEqual(r.status, 200)
        secret, key = r.json["secretText"], r.json["keyId"]
        r = self.graph("POST", "/applications(appId='%s')/addPassword" % app["appId"], g,
                       {"passwordCredential": {"displayName": "second", "endDateTime": "2099-01-01T00:00:00Z"}})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["endDateTime"], "2099-01-01T00:00:00Z")
        got = self.graph("GET", "/applications/" + app["id"], g)
        self.assertNotIn(secret.encode(), got.raw)
        self.assertEqual(len(got.json["passwordCredentials"]), 2)
        self.assertTrue(all(p["secretText"] is None for p in got.json["passwordCredentials"]))
        self.assertNotIn(secret, json.dumps(self.world()))
        r = self.graph("POST", "/applications/%s/removePassword" % app["id"], g, {"keyId": key})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.raw, b"")
        r = self.graph("POST", "/applications/%s/removePassword" % app["id"], g, {"keyId": key})
        self.assertGraphError(r, 400, "Request_BadRequest")
        # an app without an SP cannot log in; with one and the removed secret it cannot either
        r = self.token_req(self.w["tenant_id"], app["appId"], secret, ARM_SCOPE)
        self.assertEqual(r.json["error_codes"], [700016])
        self.assertEqual(self.graph("POST", "/servicePrincipals", g, {"appId": app["appId"]}).status, 201)
        r = self.token_req(self.w["tenant_id"], app["appId"], secret, ARM_SCOPE)
        self.assertEqual(r.json["error_codes"], [7000215])
        # DELETE also removes the SP in the home tenant
        self.assertEqual(self.graph("DELETE", "/applications/" + app["id"], g).status, 204)
        self.assertGraphError(self.graph("GET", "/applications/" + app["id"], g), 404, "Request_ResourceNotFound")
        self.assertGraphError(self.graph("GET", "/servicePrincipals(appId='%s')" % app["appId"], g), 404,
                              "Request_ResourceNotFound")

    def test_service_principals(self):
        W = self.w
        g = self.admin(GRAPH_SCOPE)
        r = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]})
        self.assertEqual(r.status, 201, r)
        sp = r.json
        self.assertEqual(sp["servicePrincipalNames"], [W["provider_app_id"]])
        r = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]})
        self.assertGraphError(r, 409, "Request_MultipleObjectsWithSameKeyValue")
        self.assertIn("already in use", r.json["error"]["message"])
        r = self.graph("PATCH", "/servicePrincipals(appId='%s')" % W["provider_app_id"], g, {},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 204)
        self.assertEqual(self.graph("GET", "/servicePrincipals/" + sp["id"], g).json["appId"], W["provider_app_id"])
        self.assertEqual(self.graph("GET", "/servicePrincipals(appId='%s')" % W["provider_app_id"], g).json["id"],
                         sp["id"])
        r = self.graph("GET", "/servicePrincipals?$filter=" + quote("appId eq '%s'" % W["provider_app_id"]), g)
        self.assertEqual(len(r.json["value"]), 1)
        # unknown appId anywhere
        r = self.graph("POST", "/servicePrincipals", g, {"appId": str(uuid.uuid4())})
        self.assertGraphError(r, 400, "Request_BadRequest")
        self.assertIn("does not reference a valid application object", r.json["error"]["message"])
        # upsert without Prefer on a missing SP
        r = self.graph("PATCH", "/servicePrincipals(appId='%s')" % str(uuid.uuid4()), g, {})
        self.assertGraphError(r, 404, "Request_ResourceNotFound")
        # a single-tenant app of another tenant cannot get an SP here
        pr = self.seed(principals=[{"tenant": W["provider_tenant_id"], "name": "single",
                                    "sign_in_audience": "AzureADMyOrg"}])["principals"][0]
        r = self.graph("POST", "/servicePrincipals", g, {"appId": pr["app_id"]})
        self.assertGraphError(r, 400, "Request_BadRequest")
        self.assertIn("multi-tenant", r.json["error"]["message"])
        self.assertEqual(self.graph("DELETE", "/servicePrincipals/" + sp["id"], g).status, 204)
        self.assertEqual(self.graph("GET", "/servicePrincipals/" + sp["id"], g).status, 404)

    def test_limited_principal_owned_by(self):
        W = self.w
        g = self.token(W["tenant_id"], W["limited_client_id"], self.limited_secret, GRAPH_SCOPE)
        r = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]})
        self.assertGraphError(r, 403, "Authorization_RequestDenied")
        self.assertIn("backing application of the service principal being created must in the local tenant",
                      r.json["error"]["message"])
        r = self.graph("PATCH", "/servicePrincipals(appId='%s')" % W["provider_app_id"], g, {},
                       headers={"Prefer": "create-if-missing"})
        self.assertGraphError(r, 403, "Authorization_RequestDenied")
        # but it can create and manage its own apps
        r = self.graph("PATCH", "/applications(uniqueName='lim-app')", g, {"displayName": "lim-app"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201, r)
        app = r.json
        self.assertEqual(self.graph("POST", "/servicePrincipals", g, {"appId": app["appId"]}).status, 201)
        self.assertEqual(self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {}).status, 200)
        # not an app it does not own
        r = self.graph("POST", "/applications/%s/addPassword" % self.sp_app_obj(W["admin_client_id"]), g, {})
        self.assertGraphError(r, 403, "Authorization_RequestDenied")

    def sp_app_obj(self, app_id):
        for a in self.world()["applications"]:
            if a["appId"] == app_id:
                return a["id"]

    def test_replication_delay(self):
        W = self.w
        self.seed(settings={"graph_replication_seconds": 0.4})
        g = self.admin(GRAPH_SCOPE)
        a = self.admin(ARM_SCOPE)
        r = self.graph("POST", "/applications", g, {"displayName": "fresh", "signInAudience": "AzureADMultipleOrgs"})
        self.assertEqual(r.status, 201)
        app = r.json
        r = self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {})
        self.assertGraphError(r, 404, "Request_ResourceNotFound")
        self.assertIn("does not exist or one of its queried reference-property objects are not present",
                      r.json["error"]["message"])
        self.assertGraphError(self.graph("GET", "/applications/" + app["id"], g), 404, "Request_ResourceNotFound")
        r = self.graph("POST", "/servicePrincipals", g, {"appId": app["appId"]})
        self.assertGraphError(r, 404, "Request_ResourceNotFound")
        r, seen = self.eventually(lambda: self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {}),
                                  lambda r: r.status == 200)
        self.assertTrue(all(x.status == 404 for x in seen))
        r, _ = self.eventually(lambda: self.graph("POST", "/servicePrincipals", g, {"appId": app["appId"]}),
                               lambda r: r.status == 201)
        sp = r.json["id"]
        # role assignment without principalType while the SP replicates
        path = self.vnet_path + "/providers/Microsoft.Authorization/roleAssignments/"
        rdid = "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (W["subscription_id"],
                                                                                         NETWORK_CONTRIBUTOR)
        r = self.arm("PUT", path + str(uuid.uuid4()), a,
                     {"properties": {"roleDefinitionId": rdid, "principalId": sp}}, api=AUTHZ)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["code"], "PrincipalNotFound")
        self.assertIn("does not exist in the directory", r.json["error"]["message"])
        r = self.arm("PUT", path + str(uuid.uuid4()), a,
                     {"properties": {"roleDefinitionId": rdid, "principalId": sp,
                                     "principalType": "ServicePrincipal"}}, api=AUTHZ)
        self.assertEqual(r.status, 201, r)
        # the new SP cannot log in yet (AADSTS700016), then can
        secret = self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {}).json["secretText"]
        r, seen = self.eventually(lambda: self.token_req(W["tenant_id"], app["appId"], secret, ARM_SCOPE),
                                  lambda r: r.status == 200)
        self.assertTrue(seen and all(x.json["error_codes"] == [700016] for x in seen))


class TestArm(FakeCase):
    def assertArmError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json["error"]["code"], code, r)
        self.assertIn("message", r.json["error"])
        self.assertIn("details", r.json["error"])
        self.assertIn("x-ms-request-id", r.headers)

    def test_auth_and_api_version(self):
        W = self.w
        a = self.admin()
        self.assertArmError(self.arm("GET", self.vnet_path, a, api=None), 400, "MissingApiVersionParameter")
        self.assertArmError(self.arm("GET", self.vnet_path, self.admin(GRAPH_SCOPE)), 401,
                            "InvalidAuthenticationToken")
        self.assertArmError(self.arm("GET", self.vnet_path, "not-a-token"), 401, "InvalidAuthenticationToken")
        self.assertArmError(self.arm("GET", self.vnet_path, None), 401, "AuthenticationFailed")
        other = self.admin(tenant=W["other_tenant_id"])
        r = self.arm("GET", self.vnet_path, other)
        self.assertArmError(r, 401, "InvalidAuthenticationTokenTenant")
        self.assertIn(W["tenant_id"], r.json["error"]["message"])
        self.assertArmError(self.arm("GET", "/subscriptions/%s" % uuid.uuid4(), a, api=SUBS), 404,
                            "SubscriptionNotFound")
        # names compare case-insensitively
        r = self.arm("GET", "/subscriptions/%s/resourcegroups/RG-PEERING/providers/microsoft.network/"
                            "virtualnetworks/VNET-APP" % W["subscription_id"].upper(), a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["name"], "vnet-app")
        self.assertArmError(self.arm("GET", self.vnet_id("missing"), a), 404, "ResourceNotFound")
        self.assertArmError(self.arm("GET", "/subscriptions/%s/resourceGroups/nope/providers/Microsoft.Network/"
                                            "virtualNetworks/x" % W["subscription_id"], a), 404,
                            "ResourceGroupNotFound")

    def test_subscriptions_and_paging(self):
        W = self.w
        a = self.admin()
        r = self.arm("GET", "/subscriptions", a, api=SUBS)
        self.assertEqual([(s["subscriptionId"], s["tenantId"], s["state"]) for s in r.json["value"]],
                         [(W["subscription_id"], W["tenant_id"], "Enabled")])
        self.assertEqual(self.arm("GET", "/subscriptions/" + W["subscription_id"], a, api=SUBS).json["tenantId"],
                         W["tenant_id"])
        names = []
        url = "/arm/subscriptions/%s/providers/Microsoft.Network/virtualNetworks?api-version=%s" % (
            W["subscription_id"], NET)
        pages = 0
        while url:
            r = self.c.call("GET", url, headers={"Authorization": "Bearer " + a})
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["value"]), 2)
            names += [v["name"] for v in r.json["value"]]
            url = r.json.get("nextLink")
            pages += 1
            if url:
                self.assertTrue(url.startswith(W["base_url"] + "/arm/"), url)
        self.assertEqual(sorted(names), ["vnet-app", "vnet-app2", "vnet-overlap"])
        self.assertEqual(pages, 2)
        r = self.arm("GET", "/subscriptions/%s/resourceGroups/rg-peering/providers/Microsoft.Network/"
                            "virtualNetworks" % W["subscription_id"], a)
        self.assertIn("nextLink", r.json)
        v = [x for x in r.json["value"] if x["name"] == "vnet-app"][0]
        self.assertEqual(v["properties"]["addressSpace"]["addressPrefixes"], ["10.1.0.0/16"])
        self.assertEqual(v["location"], "westeurope")

    def test_role_definitions(self):
        W = self.w
        a = self.admin()
        scope = "/subscriptions/" + W["subscription_id"]
        r = self.arm("GET", scope + "/providers/Microsoft.Authorization/roleDefinitions", a, api=AUTHZ,
                     query={"$filter": "roleName eq 'Network Contributor'"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["name"] for x in r.json["value"]], [NETWORK_CONTRIBUTOR])
        self.assertEqual(r.json["value"][0]["properties"]["type"], "BuiltInRole")
        r = self.arm("GET", scope + "/providers/Microsoft.Authorization/roleDefinitions/" + NETWORK_CONTRIBUTOR, a,
                     api=AUTHZ)
        self.assertIn("Microsoft.Network/*", r.json["properties"]["permissions"][0]["actions"])
        rd1, rd2 = str(uuid.uuid4()), str(uuid.uuid4())
        body = {"properties": {"roleName": "peer-only", "type": "CustomRole", "description": "d",
                               "permissions": [{"actions": [PEER_ACTION]}], "assignableScopes": [scope]}}
        p = scope + "/providers/Microsoft.Authorization/roleDefinitions/"
        self.assertEqual(self.arm("PUT", p + rd1, a, body, api=AUTHZ).status, 201)
        self.assertEqual(self.arm("PUT", p + rd1, a, body, api=AUTHZ).status, 200)
        self.assertArmError(self.arm("PUT", p + rd2, a, body, api=AUTHZ), 409, "RoleDefinitionWithSameNameExists")
        # visible at a VNet scope below its assignable scope, with $filter
        r = self.arm("GET", self.vnet_path + "/providers/Microsoft.Authorization/roleDefinitions", a, api=AUTHZ,
                     query={"$filter": "roleName eq 'peer-only'"})
        self.assertEqual([x["name"] for x in r.json["value"]], [rd1])
        self.assertEqual(r.json["value"][0]["properties"]["type"], "CustomRole")
        self.assertArmError(self.arm("GET", p + str(uuid.uuid4()), a, api=AUTHZ), 404, "RoleDefinitionDoesNotExist")
        self.assertEqual(self.arm("DELETE", p + rd1, a, api=AUTHZ).status, 200)
        self.assertEqual(self.arm("DELETE", p + rd1, a, api=AUTHZ).status, 204)

    def test_role_assignments(self):
        W = self.w
        a = self.admin()
        g = self.admin(GRAPH_SCOPE)
        sp = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]}).json["id"]
        base = self.vnet_path + "/providers/Microsoft.Authorization/roleAssignments/"
        rdid = "/providers/Microsoft.Authorization/roleDefinitions/" + NETWORK_CONTRIBUTOR
        n1, n2 = str(uuid.uuid4()), str(uuid.uuid4())
        body = {"properties": {"roleDefinitionId": rdid, "principalId": sp, "principalType": "ServicePrincipal"}}
        r = self.arm("PUT", base + n1, a, body, api=AUTHZ)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["properties"]["scope"], self.vnet_path)
        self.assertEqual(r.json["properties"]["principalType"], "ServicePrincipal")
        self.assertEqual(self.arm("PUT", base + n1, a, body, api=AUTHZ).status, 200)
        self.assertArmError(self.arm("PUT", base + n2, a, body, api=AUTHZ), 409, "RoleAssignmentExists")
        r = self.arm("GET", base + n1, a, api=AUTHZ)
        self.assertEqual(r.json["properties"]["principalId"], sp)
        self.assertArmError(self.arm("GET", base + n2, a, api=AUTHZ), 404, "RoleAssignmentNotFound")
        # principalType that does not match the principal
        b2 = {"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/" + READER,
                             "principalId": sp, "principalType": "User"}}
        self.assertArmError(self.arm("PUT", base + n2, a, b2, api=AUTHZ), 400, "UnmatchedPrincipalType")
        # unknown principal without principalType
        b3 = {"properties": {"roleDefinitionId": rdid, "principalId": str(uuid.uuid4())}}
        self.assertArmError(self.arm("PUT", base + n2, a, b3, api=AUTHZ), 400, "PrincipalNotFound")
        # list with a principalId filter, at subscription scope (assignments below are included)
        r = self.arm("GET", "/subscriptions/%s/providers/Microsoft.Authorization/roleAssignments"
                     % W["subscription_id"], a, api=AUTHZ, query={"$filter": "principalId eq '%s'" % sp})
        self.assertEqual([x["name"] for x in r.json["value"]], [n1])
        r = self.arm("DELETE", base + n1, a, api=AUTHZ)
        self.assertEqual(r.status, 200)
        self.assertEqual(self.arm("DELETE", base + n1, a, api=AUTHZ).status, 204)
        # the limited principal (Reader) can read but not assign
        lim = self.token(W["tenant_id"], W["limited_client_id"], self.limited_secret)
        self.assertEqual(self.arm("GET", self.vnet_path, lim).status, 200)
        r = self.arm("PUT", base + n2, lim, body, api=AUTHZ)
        self.assertArmError(r, 403, "AuthorizationFailed")
        self.assertIn("Microsoft.Authorization/roleAssignments/write", r.json["error"]["message"])
        self.assertIn(W["limited_client_id"], r.json["error"]["message"])

    def test_same_tenant_peering_states(self):
        """vnet-app <-> vnet-app2 as the admin: Initiated, Connected, Disconnected."""
        a = self.admin()
        v1, v2 = self.vnet_id("vnet-app"), self.vnet_id("vnet-app2")
        body = lambda remote: {"properties": {"allowVirtualNetworkAccess": True,
                                              "remoteVirtualNetwork": {"id": remote}}}
        r = self.arm("PUT", v1 + "/virtualNetworkPeerings/p12", a, body(v2))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["properties"]["peeringState"], "Initiated")
        r = self.arm("PUT", v2 + "/virtualNetworkPeerings/p21", a, body(v1))
        self.assertEqual(r.json["properties"]["peeringState"], "Connected")
        self.assertEqual(self.arm("GET", v1 + "/virtualNetworkPeerings/p12", a).json["properties"]["peeringState"],
                         "Connected")
        r = self.arm("PUT", v1 + "/virtualNetworkPeerings/p12", a, body(v2))
        self.assertEqual(r.status, 200)
        r = self.arm("GET", v1 + "/virtualNetworkPeerings", a)
        self.assertEqual([p["name"] for p in r.json["value"]], ["p12"])
        self.assertEqual(self.arm("DELETE", v2 + "/virtualNetworkPeerings/p21", a).status, 202)
        r, _ = self.eventually(lambda: self.arm("GET", v1 + "/virtualNetworkPeerings/p12", a),
                               lambda r: r.json["properties"]["peeringState"] != "Connected")
        self.assertEqual(r.json["properties"]["peeringState"], "Disconnected")
        # overlapping address spaces are refused
        # a VNet of another tenant without an auxiliary token
        r = self.arm("PUT", v1 + "/virtualNetworkPeerings/px", a, body(self.w["provider_vnet_id"]))
        self.assertArmError(r, 403, "LinkedAuthorizationFailed")
        self.seed(vnets=[{"subscription": self.w["subscription_id"], "resource_group": "rg-peering",
                          "name": "vnet-dup", "address_prefixes": ["10.1.128.0/24"]}])
        r = self.arm("PUT", v1 + "/virtualNetworkPeerings/pdup", a, body(self.vnet_id("vnet-dup")))
        self.assertArmError(r, 400, "VnetAddressSpacesOverlap")
        r = self.arm("PUT", v1 + "/virtualNetworkPeerings/pbad", a, body("not-an-id"))
        self.assertArmError(r, 400, "LinkedInvalidPropertyId")
        r = self.arm("PUT", v1 + "/virtualNetworkPeerings/pbad", a,
                     body(self.vnet_id("vnet-missing")))
        self.assertArmError(r, 400, "InvalidResourceReference")

    def test_peering_rejections(self):
        W = self.w
        ctx = self.app_tokens(self.procedure_until_pending())
        # missing auxiliary token
        r = self.put_peering(ctx, aux=None)
        self.assertArmError(r, 403, "LinkedAuthorizationFailed")
        self.assertIn("is not authorized to access linked subscription", r.json["error"]["message"])
        # auxiliary token of another principal
        other = self.seed(principals=[{"tenant": W["provider_tenant_id"], "name": "intruder"}])["principals"][0]
        t_other = self.token(W["provider_tenant_id"], other["app_id"], other["secret"])
        r = self.put_peering(ctx, aux="Bearer " + t_other)
        self.assertArmError(r, 403, "LinkedAuthorizationFailed")
        # auxiliary token of a Graph audience is not a valid ARM token
        t_graph = self.token(W["provider_tenant_id"], ctx["app_id"], ctx["secret"], GRAPH_SCOPE)
        self.assertArmError(self.put_peering(ctx, aux="Bearer " + t_graph), 401, "InvalidAuthenticationToken")
        # the app's SP in the provider tenant lacks peer/action on the provider VNet
        sp = self.sp_in(W["provider_tenant_id"], ctx["app_id"])
        self.assertEqual(self.seed(revoke=[{"principal_id": sp["id"]}])["revoked"], 1)
        r = self.put_peering(ctx)
        self.assertArmError(r, 403, "LinkedAuthorizationFailed")
        self.assertIn("does not have permission to perform action", r.json["error"]["message"])
        self.assertIn(PEER_ACTION, r.json["error"]["message"])
        self.seed(grants=[{"principal_id": sp["id"], "role": "Network Contributor", "scope": W["provider_vnet_id"]}])
        # expired auxiliary token: 401 naming client and tenant
        self.seed(expire_tokens={"app_id": ctx["app_id"], "tenant": W["provider_tenant_id"]})
        r = self.put_peering(ctx)
        self.assertArmError(r, 401, "ExpiredAuthenticationToken")
        self.assertIn(ctx["app_id"], r.json["error"]["message"])
        self.assertIn(W["provider_tenant_id"], r.json["error"]["message"])
        ctx["t_prov"] = self.token(W["provider_tenant_id"], ctx["app_id"], ctx["secret"])
        # the admin (Owner) without the app's auxiliary token
        r = self.put_peering(ctx, tok=ctx["a"], aux=None)
        self.assertArmError(r, 403, "LinkedAuthorizationFailed")
        # a principal without virtualNetworkPeerings/write on the local VNet
        lim = self.token(W["tenant_id"], W["limited_client_id"], self.limited_secret)
        r = self.put_peering(ctx, tok=lim)
        self.assertArmError(r, 403, "AuthorizationFailed")
        self.assertIn("virtualNetworkPeerings/write", r.json["error"]["message"])
        # finally it works; but a peering without VNet access never makes Aiven ACTIVE
        self.assertEqual(self.put_peering(ctx, allow=False).status, 201)
        for _ in range(3):
            self.assertEqual(self.conn()["state"], "PENDING_PEER")
        self.assertEqual(self.put_peering(ctx, allow=True).status, 200)
        self.eventually(lambda: self.conn(), lambda c: c["state"] == "ACTIVE")


class TestDelays(FakeCase):
    def test_documented_transient_errors_then_success(self):
        W = self.w
        d = 0.3
        self.seed(settings={"graph_replication_seconds": d, "role_propagation_seconds": d,
                            "secret_propagation_seconds": d, "aiven_build_seconds": d,
                            "aiven_activate_seconds": d, "async_operation_seconds": d, "aiven_delete_seconds": d,
                            "deleted_retention_seconds": d})
        g, a = self.admin(GRAPH_SCOPE), self.admin()
        r = self.graph("PATCH", "/applications(uniqueName='slow')", g,
                       {"displayName": "slow", "signInAudience": "AzureADMultipleOrgs"},
                       headers={"Prefer": "create-if-missing"})
        app = r.json
        r, seen = self.eventually(lambda: self.graph("PATCH", "/servicePrincipals(appId='%s')" % app["appId"], g, {},
                                                     headers={"Prefer": "create-if-missing"}),
                                  lambda r: r.status == 201)
        self.assertTrue(seen and seen[0].json["error"]["code"] == "Request_ResourceNotFound")
        app_sp = r.json["id"]
        r, _ = self.eventually(lambda: self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {}),
                               lambda r: r.status == 200)
        secret = r.json["secretText"]
        r = self.token_req(W["tenant_id"], app["appId"], secret, ARM_SCOPE)
        self.assertIn(r.json["error_codes"][0], (700016, 7000215))
        r, seen = self.eventually(lambda: self.token_req(W["tenant_id"], app["appId"], secret, ARM_SCOPE),
                                  lambda r: r.status == 200)
        self.assertTrue(all(x.json["error_codes"][0] in (700016, 7000215) for x in seen))
        # role assignment then peering write denied until it propagates
        rdid = "/providers/Microsoft.Authorization/roleDefinitions/" + NETWORK_CONTRIBUTOR
        rg = "/subscriptions/%s/resourceGroups/rg-peering" % W["subscription_id"]  # covers both VNets
        r = self.arm("PUT", rg + "/providers/Microsoft.Authorization/roleAssignments/" +
                     str(uuid.uuid4()), a, {"properties": {"roleDefinitionId": rdid, "principalId": app_sp,
                                                           "principalType": "ServicePrincipal"}}, api=AUTHZ)
        self.assertEqual(r.status, 201)
        t = r = self.token(W["tenant_id"], app["appId"], secret)
        v2 = self.vnet_id("vnet-app2")
        body = {"properties": {"allowVirtualNetworkAccess": True, "remoteVirtualNetwork": {"id": v2}}}
        r = self.arm("PUT", self.vnet_path + "/virtualNetworkPeerings/slow", t, body)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["error"]["code"], "AuthorizationFailed")
        r, seen = self.eventually(lambda: self.arm("PUT", self.vnet_path + "/virtualNetworkPeerings/slow", t, body),
                                  lambda r: r.status == 201)
        self.assertTrue(all(x.json["error"]["code"] == "AuthorizationFailed" for x in seen))
        self.assertEqual(r.json["properties"]["provisioningState"], "Updating")
        op = r.headers["azure-asyncoperation"]
        st = self.c.call("GET", op, headers={"Authorization": "Bearer " + t})
        self.assertEqual(st.json["status"], "InProgress")
        self.eventually(lambda: self.c.call("GET", op, headers={"Authorization": "Bearer " + t}),
                        lambda r: r.json["status"] == "Succeeded")
        # Aiven: APPROVED for a while, then (no provider SP) INVALID_SPECIFICATION
        r = self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (W["project"], W["project_vpc_id"]),
                       {"peer_cloud_account": W["subscription_id"], "peer_resource_group": "rg-peering",
                        "peer_vpc": "vnet-app", "peer_azure_app_id": app["appId"], "peer_azure_tenant_id":
                            W["tenant_id"]})
        self.assertEqual(r.json["state"], "APPROVED")
        self.assertEqual(self.conn()["state"], "APPROVED")
        c, _ = self.eventually(self.conn, lambda c: c["state"] != "APPROVED")
        self.assertEqual(c["state"], "INVALID_SPECIFICATION")
        # delete: DELETING, then DELETED, then gone after the retention time
        r = self.aiven("DELETE", "/project/%s/vpcs/%s/peering-connections/peer-accounts/%s/peer-resource-groups/"
                                 "rg-peering/peer-vpcs/vnet-app" % (W["project"], W["project_vpc_id"],
                                                                    W["subscription_id"]))
        self.assertEqual(r.json["state"], "DELETING")
        self.assertEqual(self.conn()["state"], "DELETING")
        c, _ = self.eventually(self.conn, lambda c: c["state"] != "DELETING")
        self.assertEqual(c["state"], "DELETED")
        self.eventually(self.conn, lambda c: c is None)


class TestAiven(FakeCase):
    def post(self, body, vpc=None, project=None):
        return self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (
            project or self.w["project"], vpc or self.w["project_vpc_id"]), body)

    def body(self, **kw):
        b = {"peer_cloud_account": self.w["subscription_id"], "peer_resource_group": "rg-peering",
             "peer_vpc": "vnet-app", "peer_azure_app_id": str(uuid.uuid4()),
             "peer_azure_tenant_id": self.w["tenant_id"]}
        b.update(kw)
        return {k: v for k, v in b.items() if v is not None}

    def assertAivenError(self, r, status, fragment=None, error_code=None):
        self.assertEqual(r.status, status, r)
        self.assertIn("message", r.json)
        self.assertIsInstance(r.json["errors"], list)
        self.assertEqual(r.json["errors"][0]["status"], status)
        self.assertIn("message", r.json["errors"][0])
        if fragment:
            self.assertIn(fragment, r.json["message"])
        if error_code:
            self.assertEqual(r.json["errors"][0]["error_code"], error_code)

    def test_auth_and_lookup(self):
        W = self.w
        self.assertAivenError(self.aiven("GET", "/project/%s/vpcs" % W["project"], token="wrong"), 403)
        self.assertEqual(self.aiven("GET", "/project/%s/vpcs" % W["project"], scheme="Bearer").status, 200)
        self.assertAivenError(self.aiven("GET", "/project/nope/vpcs"), 404, error_code="project_not_found")
        self.assertAivenError(self.aiven("GET", "/project/%s/vpcs" % W["other_project"]), 403)
        self.assertAivenError(self.aiven("GET", "/project/%s/vpcs/%s" % (W["project"], uuid.uuid4())), 404)
        r = self.aiven("GET", "/project/%s/vpcs?limit=999" % W["project"])
        self.assertEqual(r.status, 200)
        ids = {v["project_vpc_id"]: v for v in r.json["vpcs"]}
        self.assertEqual(ids[W["project_vpc_id"]]["cloud_name"], "azure-westeurope")
        self.assertEqual(ids[W["project_vpc_id"]]["network_cidr"], W["vpc_network_cidr"])
        self.assertEqual(ids[W["aws_project_vpc_id"]]["cloud_name"], "aws-eu-west-1")
        for v in r.json["vpcs"]:
            self.assertNotIn("peering_connections", v)
            self.assertEqual(v["state"], "ACTIVE")
        r = self.aiven("GET", "/project/%s/vpcs/%s" % (W["project"], W["project_vpc_id"]),
                       headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.json["peering_connections"], [])
        self.assertIn("pending_build_only_peering_connections", r.json)
        self.assertIsNone(r.json["pending_build_only_peering_connections"])

    def test_create_validation(self):
        W = self.w
        for missing in ("peer_cloud_account", "peer_vpc", "peer_resource_group", "peer_azure_app_id",
                        "peer_azure_tenant_id"):
            r = self.post(self.body(**{missing: None}))
            self.assertAivenError(r, 400, missing)
        for field in ("peer_cloud_account", "peer_resource_group", "peer_vpc"):
            b = self.body()
            b[field] = b[field].upper() if field == "peer_cloud_account" else "Mixed-Case"
            self.assertAivenError(self.post(b), 400, field)
        # Azure fields on an AWS VPC
        self.assertAivenError(self.post(self.body(), vpc=W["aws_project_vpc_id"]), 400, "peer_resource_group")
        r = self.post({"peer_cloud_account": "123456789012", "peer_vpc": "vpc-0abc", "peer_region": "eu-west-1"},
                      vpc=W["aws_project_vpc_id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["vpc_peering_connection_type"], "aws-vpc-peering-connection")
        self.assertIsNone(r.json["peer_azure_app_id"])
        self.assertEqual(self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (
            W["project"], W["project_vpc_id"]), None, headers={"Content-Type": "application/json"}).status, 400)
        self.assertEqual(self.post(self.body(user_peer_network_cidrs=["nope"])).status, 400)

    def test_delete_paths(self):
        W = self.w
        r = self.aiven("DELETE", "/project/%s/vpcs/%s/peering-connections/peer-accounts/%s/peer-resource-groups/"
                                 "rg-peering/peer-vpcs/vnet-app" % (W["project"], W["project_vpc_id"],
                                                                    W["subscription_id"]))
        self.assertAivenError(r, 404)
        # resource group names with '(' and '.' are percent-decoded
        self.seed(vnets=[{"subscription": W["subscription_id"], "resource_group": "rg.(x)", "name": "vnet-odd",
                          "address_prefixes": ["10.50.0.0/16"]}])
        self.assertEqual(self.post(self.body(peer_resource_group="rg.(x)", peer_vpc="vnet-odd")).status, 200)
        r = self.aiven("DELETE", "/project/%s/vpcs/%s/peering-connections/peer-accounts/%s/peer-resource-groups/"
                                 "%s/peer-vpcs/%s" % (W["project"], W["project_vpc_id"], W["subscription_id"],
                                                      quote("rg.(x)", safe=""), quote("vnet-odd", safe="")))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "DELETING")

    def test_invalid_specification_cases(self):
        W = self.w
        g = self.admin(GRAPH_SCOPE)
        app = self.graph("POST", "/applications", g, {"displayName": "m", "signInAudience": "AzureADMultipleOrgs"}).json
        single = self.graph("POST", "/applications", g, {"displayName": "s", "signInAudience": "AzureADMyOrg"}).json

        def state_for(**kw):
            self.assertEqual(self.post(self.body(peer_azure_app_id=app["appId"], **kw)).status, 200)
            c, _ = self.eventually(lambda: self.conn(kw.get("peer_vpc", "vnet-app")),
                                   lambda c: c["state"] != "APPROVED")
            return c
        # no provider SP in the customer tenant
        c = state_for()
        self.assertEqual(c["state"], "INVALID_SPECIFICATION")
        self.assertIn("Service principal", c["state_info"]["message"])
        # provider SP without peer/action
        psp = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]}).json["id"]
        c = state_for()  # re-request of the INVALID_SPECIFICATION connection
        self.assertEqual(c["state"], "INVALID_SPECIFICATION")
        self.assertIn("permission", c["state_info"]["message"])
        # grant on the resource group (inherited by every VNet in it)
        self.seed(grants=[{"principal_id": psp, "role": "Network Contributor",
                           "scope": "/subscriptions/%s/resourceGroups/rg-peering" % W["subscription_id"]}])
        c = state_for(peer_vpc="vnet-missing")
        self.assertEqual(c["state"], "INVALID_SPECIFICATION")
        self.assertIn("not found", c["state_info"]["message"])
        c = state_for(peer_vpc="vnet-overlap")
        self.assertEqual(c["state"], "INVALID_SPECIFICATION")
        self.assertIn("overlap", c["state_info"]["message"])
        self.assertEqual(self.post(self.body(peer_vpc="vnet-app2", peer_azure_app_id=single["appId"])).status, 200)
        c, _ = self.eventually(lambda: self.conn("vnet-app2"), lambda c: c["state"] != "APPROVED")
        self.assertEqual(c["state"], "INVALID_SPECIFICATION")
        self.assertIn("multi-tenant", c["state_info"]["message"])
        c = state_for()
        self.assertEqual(c["state"], "PENDING_PEER")


class TestControl(FakeCase):
    def test_request_log_redaction_and_since(self):
        W = self.w
        self.fake("DELETE", "/_fake/requests")
        g = self.admin(GRAPH_SCOPE)
        r = self.graph("POST", "/applications", g, {"displayName": "logme"})
        secret = self.graph("POST", "/applications/%s/addPassword" % r.json["id"], g, {}).json["secretText"]
        self.aiven("GET", "/project/%s/vpcs" % W["project"])
        log = self.fake("GET", "/_fake/requests").json["requests"]
        text = json.dumps(log)
        for s in (self.admin_secret, secret, g, self.aiven_token):
            self.assertNotIn(s, text)
        self.assertEqual([e["seq"] for e in log], sorted(e["seq"] for e in log))
        self.assertEqual(log[0]["body"]["client_secret"], "REDACTED")
        self.assertEqual(log[0]["status"], 200)
        self.assertTrue(log[0]["path"].startswith("/login/"))
        self.assertEqual(log[1]["headers"]["Authorization"], "Bearer REDACTED")
        self.assertEqual(log[-1]["headers"]["Authorization"], "aivenv1 REDACTED")
        for e in log:
            for k in ("seq", "time", "method", "path", "query", "status", "headers", "body"):
                self.assertIn(k, e)
            self.assertFalse(e["path"].startswith("/_fake"))
        since = log[1]["seq"]
        later = self.fake("GET", "/_fake/requests?since=%d" % since).json["requests"]
        self.assertEqual([e["seq"] for e in later], [e["seq"] for e in log[2:]])
        self.fake("DELETE", "/_fake/requests")
        self.assertEqual(self.fake("GET", "/_fake/requests").json["requests"], [])

    def test_faults(self):
        W = self.w
        path = "/project/%s/vpcs" % W["project"]
        r = self.fake("POST", "/_fake/faults", {"method": "GET", "path": "/aiven/v1/project/[^/]+/vpcs$",
                                                "status": 429, "retry_after": 1, "count": 2})
        self.assertEqual(r.status, 200)
        self.assertIn("id", r.json)
        for _ in range(2):
            r = self.aiven("GET", path)
            self.assertEqual(r.status, 429)
            self.assertEqual(r.headers["retry-after"], "1")
            self.assertIn("errors", r.json)
        self.assertEqual(self.aiven("GET", path).status, 200)
        # method filter
        self.fake("POST", "/_fake/faults", {"method": "POST", "path": "/aiven/", "status": 503})
        self.assertEqual(self.aiven("GET", path).status, 200)
        self.fake("DELETE", "/_fake/faults")
        # delay alone, then normal service
        self.fake("POST", "/_fake/faults", {"method": "*", "path": "vpcs$", "delay_ms": 300})
        t0 = time.monotonic()
        self.assertEqual(self.aiven("GET", path).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        # ARM-shaped error with a custom body
        self.fake("POST", "/_fake/faults", {"path": "^/arm/", "status": 500,
                                            "body": {"error": {"code": "Boom", "message": "x"}}})
        r = self.arm("GET", "/subscriptions", self.admin(), api=SUBS)
        self.assertEqual((r.status, r.json["error"]["code"]), (500, "Boom"))
        # connection reset
        self.fake("POST", "/_fake/faults", {"path": "^/aiven/", "reset": True})
        c = Client(self.w)
        with self.assertRaises((ConnectionError, http.client.HTTPException, ssl.SSLError, OSError)):
            c.call("GET", "/aiven/v1" + path, headers={"Authorization": "aivenv1 " + self.aiven_token}, fresh=True)
        # malformed JSON
        self.fake("POST", "/_fake/faults", {"path": "^/aiven/", "malformed": True})
        r = self.aiven("GET", path)
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.json)
        self.assertEqual(int(r.headers["content-length"]), len(r.raw))
        with self.assertRaises(ValueError):
            json.loads(r.raw)
        self.assertEqual(self.aiven("GET", path).status, 200)
        log = self.fake("GET", "/_fake/requests").json["requests"]
        self.assertIn(429, [e["status"] for e in log])
        self.assertEqual(self.fake("POST", "/_fake/faults", {"path": "x"}).status, 400)

    def test_seed_and_reset(self):
        W = self.w
        a = self.admin()
        before = self.world()
        out = self.seed(
            settings={"page_size": 50},
            vnets=[{"subscription": W["subscription_id"], "resource_group": "rg-extra", "name": "vnet-extra",
                    "address_prefixes": ["10.60.0.0/16"]}],
            aiven_vpcs=[{"project": W["project"], "cloud_name": "azure-westeurope", "network_cidr": "10.100.0.0/24",
                         "count": 5}])
        self.assertEqual(out["settings"]["page_size"], 50)
        self.assertEqual(len(out["aiven_vpcs"]), 5)
        self.assertEqual(len({v["network_cidr"] for v in out["aiven_vpcs"]}), 5)
        self.assertTrue(all(v["provider_vnet_id"] for v in out["aiven_vpcs"]))
        vpcs = self.aiven("GET", "/project/%s/vpcs" % W["project"]).json["vpcs"]
        self.assertEqual(len(vpcs), 7)
        r = self.arm("GET", "/subscriptions/%s/providers/Microsoft.Network/virtualNetworks" % W["subscription_id"], a)
        self.assertEqual(len(r.json["value"]), 4)
        self.assertNotIn("nextLink", r.json)
        # a seeded VNet in a new subscription of another tenant
        sub = str(uuid.uuid4())
        self.seed(vnets=[{"subscription": sub, "tenant": W["other_tenant_id"], "resource_group": "rg",
                          "name": "vnet-o", "address_prefixes": ["10.70.0.0/16"]}])
        r = self.arm("GET", "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-o"
                     % sub, a)
        self.assertEqual(r.json["error"]["code"], "InvalidAuthenticationTokenTenant")
        self.assertEqual(self.seed(remove_vnets=[{"subscription": sub, "resource_group": "rg",
                                                  "name": "vnet-o"}])["removed_vnets"], 1)
        self.assertEqual(self.fake("POST", "/_fake/seed", {"bogus": 1}).status, 400)
        # reset restores the initial world with the same ids and secrets
        self.assertEqual(self.fake("POST", "/_fake/reset").status, 200)
        after = self.world()
        self.assertEqual(sorted(v["id"] for v in after["virtualNetworks"]),
                         sorted(v["id"] for v in before["virtualNetworks"]))
        self.assertEqual(after["settings"], before["settings"])
        self.assertEqual(self.arm("GET", "/subscriptions", a, api=SUBS).status, 200)  # tokens survive resets
        self.admin()

    def test_world_dump_shape(self):
        w = self.world()
        for k in ("tenants", "subscriptions", "applications", "servicePrincipals", "roleDefinitions",
                  "roleAssignments", "virtualNetworks", "aiven", "settings"):
            self.assertIn(k, w)
        types = {rd["type"] for rd in w["roleDefinitions"]}
        self.assertEqual(types, {"BuiltInRole"})
        names = {rd["id"]: rd["roleName"] for rd in w["roleDefinitions"]}
        self.assertEqual(names["8e3af657-a8ff-443c-a75c-2fe8c4bcb635"], "Owner")
        self.assertEqual(names[READER], "Reader")
        self.assertEqual(names[NETWORK_CONTRIBUTOR], "Network Contributor")
        self.assertNotIn(self.admin_secret, json.dumps(w))
        for a in w["applications"]:
            for p in a["passwordCredentials"]:
                self.assertEqual(sorted(p), ["displayName", "endDateTime", "hint", "keyId", "startDateTime"])
        psp = [s for s in w["servicePrincipals"] if s["appId"] == self.w["provider_app_id"]]
        self.assertEqual([s["tenant"] for s in psp], [self.w["provider_tenant_id"]])
        self.assertEqual(w["aiven"]["projects"][0]["vpcs"][0]["provider_vnet_id"], self.w["provider_vnet_id"])


class TestConcurrency(FakeCase):
    def test_many_concurrent_clients(self):
        W = self.w
        errors, statuses = [], []
        lock = threading.Lock()
        barrier = threading.Barrier(50)

        def worker():
            c = Client(self.w)
            try:
                barrier.wait(10)
                for _ in range(4):
                    r = c.call("GET", "/aiven/v1/project/%s/vpcs/%s" % (W["project"], W["project_vpc_id"]),
                               headers={"Authorization": "aivenv1 " + self.aiven_token})
                    with lock:
                        statuses.append(r.status)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                with lock:
                    errors.append(repr(e))
            finally:
                c.close()
        threads = [threading.Thread(target=worker) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(statuses, [200] * 200)

    def test_stuck_client_does_not_block_others(self):
        port = urlsplit(self.w["base_url"]).port
        stuck = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"\x16\x03\x01\x00")  # a partial TLS record, then silence
        try:
            t0 = time.monotonic()
            for _ in range(5):
                self.assertEqual(Client(self.w).call("GET", "/_fake/world", fresh=True).status, 200)
            self.assertLess(time.monotonic() - t0, 5.0)
        finally:
            for s in stuck + [half]:
                s.close()


if __name__ == "__main__":
    unittest.main()
