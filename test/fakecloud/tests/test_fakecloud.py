# Copyright (c) 2026, peering developers
"""The fake cloud as a whole: start-up, files and TLS, the manual peering procedure end to
end, and many clients at once.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
from urllib.parse import urlsplit

from .fakecase import (ARM_SCOPE, AUTHZ, Client, FakeCase, PACKAGE_DIR, start_fake, start_module_fake,
                       stop_fake, stop_module_fake)

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


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

    def test_runs_as_a_package_directory(self):
        """`/usr/bin/python3 test/fakecloud --dir D` is the same fake as fakecloud.py."""
        d = tempfile.mkdtemp(prefix="fakecloud-pkg-")
        try:
            proc, world = start_fake(d, target=PACKAGE_DIR)
            try:
                self.assertEqual(sorted(world), sorted(self.w))
                with open(world["aiven_token_file"]) as f:
                    auth = {"Authorization": "aivenv1 " + f.read()}
                r = Client(world).call("GET", "/aiven/v1/project/%s/vpcs" % world["project"], fresh=True, headers=auth)
                self.assertEqual(r.status, 200, r)
            finally:
                self.assertEqual(stop_fake(proc), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)

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
        # the application's role is on the VNet: the status URL (subscription level) is the admin's to read
        st = self.c.call("GET", op, headers={"Authorization": "Bearer " + ctx["t_cust"]})
        self.assertEqual((st.status, st.json["error"]["code"]), (403, "AuthorizationFailed"))
        st, _ = self.eventually(lambda: self.c.call("GET", op, headers={"Authorization": "Bearer " + self.admin()}),
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
        # like the status URL, the Location URL lies at subscription level: out of the VNet role's reach
        self.assertEqual(self.c.call("GET", loc, headers={"Authorization": "Bearer " + ctx["t_cust"]}).status, 403)
        fin, _ = self.eventually(lambda: self.c.call("GET", loc, headers={"Authorization": "Bearer " + self.admin()}),
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
