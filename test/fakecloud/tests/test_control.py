# Copyright (c) 2026, peering developers
"""The control API: request log, faults, seed, reset and the world dump.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import http.client
import json
import ssl
import time
import unittest
import uuid

from .fakecase import (Client, FakeCase, GRAPH_SCOPE, NETWORK_CONTRIBUTOR, READER, start_module_fake,
                       stop_module_fake, SUBS)

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


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

    def test_fault_after_the_write(self):
        """"after": the request takes effect, then its answer is replaced, delayed or lost."""
        W = self.w
        g = self.admin(GRAPH_SCOPE)
        self.fake("POST", "/_fake/faults", {"method": "POST", "path": "/servicePrincipals$", "status": 503,
                                            "after": True})
        r = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]})
        self.assertEqual((r.status, r.json["error"]["code"]), (503, "serviceNotAvailable"))
        # the SP exists: posting again conflicts, reading it back works
        sps = [s for s in self.world()["servicePrincipals"]
               if s["appId"] == W["provider_app_id"] and s["tenant"] == W["tenant_id"]]
        self.assertEqual(len(sps), 1)
        r = self.graph("POST", "/servicePrincipals", g, {"appId": W["provider_app_id"]})
        self.assertEqual(r.status, 409)
        # a reset after the write: no answer at all, yet the application exists
        self.fake("POST", "/_fake/faults", {"method": "PATCH", "path": "/applications\\(", "reset": True,
                                            "after": True})
        c = Client(self.w)
        with self.assertRaises((ConnectionError, http.client.HTTPException, ssl.SSLError, OSError)):
            c.call("PATCH", "/graph/v1.0/applications(uniqueName='lost-answer')", body={"displayName": "x"},
                   headers={"Authorization": "Bearer " + g, "Prefer": "create-if-missing"}, fresh=True)
        self.assertIn("lost-answer", [a["uniqueName"] for a in self.world()["applications"]])
        log = self.fake("GET", "/_fake/requests").json["requests"]
        self.assertEqual([e["status"] for e in log if "lost-answer" in e["path"]], [0])
        # a delay after the write: the answer is the real one, late
        self.fake("POST", "/_fake/faults", {"path": "/servicePrincipals/", "delay_ms": 300, "after": True})
        t0 = time.monotonic()
        self.assertEqual(self.graph("GET", "/servicePrincipals/" + sps[0]["id"], g).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)

    PRESET_PATHS = {"graph": "/graph/v1.0/applications", "arm": "/arm/subscriptions/x/resourceGroups/rg/providers/"
                    "Microsoft.Network/virtualNetworks/v/virtualNetworkPeerings/p", "login": "/login/t/oauth2/v2.0/token",
                    "aiven": "/aiven/v1/project/p/vpcs"}

    def test_fault_presets(self):
        """Each preset answers with its service's envelope, status, code and headers."""
        presets = self.fake("GET", "/_fake/faults/presets").json["presets"]
        self.assertIn("NoBackingApplicationObject", presets)
        for name, p in presets.items():
            self.assertTrue(p["source"], name)
            body = p["body"]
            service = ("graph" if "innerError" in body.get("error", {}) else "login" if "error_codes" in body
                       else "aiven" if "errors" in body else "arm")
            self.fake("DELETE", "/_fake/faults")
            self.assertEqual(self.fake("POST", "/_fake/faults", {"path": "^/", "preset": name}).status, 200)
            r = self.c.call("GET", self.PRESET_PATHS[service])
            self.assertEqual(r.status, p["status"], name)
            for k, v in p["headers"].items():
                self.assertEqual(r.headers[k.lower()], v, name)
            if service == "graph":
                self.assertEqual(r.json["error"]["code"], body["error"]["code"], name)
                self.assertEqual(set(r.json["error"]["innerError"]), {"date", "request-id", "client-request-id"})
                self.assertNotIn("{uuid}", json.dumps(r.json), name)
            elif service == "arm":
                self.assertEqual(r.json["error"]["code"], body["error"]["code"], name)
                self.assertEqual(r.json["error"]["details"], [], name)
                self.assertIn("x-ms-request-id", r.headers)
                self.assertNotIn("{path}", r.json["error"]["message"], name)
            elif service == "login":
                self.assertEqual((r.json["error"], r.json["error_codes"]), (body["error"], body["error_codes"]), name)
                self.assertTrue(r.json["error_description"].startswith("AADSTS%d: " % body["error_codes"][0]))
            else:
                self.assertEqual(r.json["errors"][0]["status"], p["status"], name)
        # the replication 400 in both shapes
        self.fake("POST", "/_fake/faults", {"preset": "NoBackingApplicationObject", "path": "/servicePrincipals"})
        r = self.c.call("POST", "/graph/v1.0/servicePrincipals", body={"appId": "x"})
        self.assertEqual(r.json["error"]["details"][0]["code"], "NoBackingApplicationObject")
        self.assertRegex(r.json["error"]["message"], r"^The appId '[0-9a-f-]{36}' of the service principal does not")
        self.fake("POST", "/_fake/faults", {"preset": "NoBackingApplicationObjectLegacy", "path": "/servicePrincipals"})
        r = self.c.call("POST", "/graph/v1.0/servicePrincipals", body={"appId": "x"})
        self.assertEqual(r.json["error"]["message"]["lang"], "en")
        self.assertIn({"item": "PropertyErrorCode", "value": "NoBackingApplicationObject"}, r.json["error"]["values"])
        # ARM messages name the resource the request addressed
        self.fake("POST", "/_fake/faults", {"preset": "RemotePeeringIsDisconnected", "path": "/virtualNetworkPeerings/"})
        r = self.c.call("PUT", self.PRESET_PATHS["arm"], body={})
        self.assertIn("Cannot create or update peering /subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/"
                      "virtualNetworks/v/virtualNetworkPeerings/p because", r.json["error"]["message"])
        # the fault's own status, body and retry_after override the preset's; unknown presets are refused
        self.fake("POST", "/_fake/faults", {"preset": "GraphThrottled", "path": "^/graph/", "status": 503,
                                            "retry_after": 7})
        r = self.c.call("GET", "/graph/v1.0/applications")
        self.assertEqual((r.status, r.headers["retry-after"], r.json["error"]["code"]), (503, "7", "UnknownError"))
        self.fake("POST", "/_fake/faults", {"preset": "ArmThrottled", "path": "^/arm/", "body": {"x": 1}})
        r = self.c.call("GET", "/arm/subscriptions")
        self.assertEqual((r.status, r.json), (429, {"x": 1}))
        r = self.fake("POST", "/_fake/faults", {"preset": "NoSuchThing", "path": "x"})
        self.assertEqual(r.status, 400)
        self.assertIn("unknown preset", r.json["error"])

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

    # The dump's keys are a contract: t/PeeringTest.pm and the TAP tests read them.
    DUMP_KEYS = {
        "": {"scenario", "base_url", "time", "settings", "tenants", "subscriptions", "resourceGroups", "applications",
             "servicePrincipals", "deletedItems", "roleDefinitions", "roleAssignments", "virtualNetworks", "aiven",
             "operations", "tokens_issued", "faults"},
        "tenants": {"tenantId", "displayName", "defaultDomain", "role"},
        "subscriptions": {"subscriptionId", "tenantId", "displayName", "state"},
        "resourceGroups": {"subscription", "name", "location"},
        "applications": {"id", "appId", "tenant", "displayName", "uniqueName", "signInAudience", "createdDateTime",
                         "replicated", "owners", "passwordCredentials"},
        "servicePrincipals": {"id", "appId", "tenant", "displayName", "appOwnerOrganizationId", "graphPermissions",
                              "owners", "createdDateTime", "replicated"},
        "deletedItems": {"id", "kind", "tenant", "appId", "displayName", "uniqueName", "deletedDateTime"},
        "roleDefinitions": {"id", "roleName", "type", "tenant", "actions", "notActions", "assignableScopes"},
        "roleAssignments": {"name", "id", "scope", "roleDefinitionId", "roleName", "principalId", "principalType",
                            "tenant", "createdOn", "effective"},
        "virtualNetworks": {"id", "subscription", "resource_group", "name", "location", "tenant", "address_prefixes",
                            "peerings"},
        "peerings": {"name", "id", "remote_id", "peeringState", "peeringSyncLevel", "provisioningState", "allowVirtualNetworkAccess",
                     "allowForwardedTraffic", "allowGatewayTransit", "useRemoteGateways",
                     "owner"},
        "vpcs": {"cloud_name", "create_time", "network_cidr", "project_vpc_id", "state", "update_time",
                 "peering_connections", "pending_build_only_peering_connections", "provider_vnet_id"},
        "peering_connections": {"create_time", "peer_azure_app_id", "peer_azure_tenant_id", "peer_cloud_account",
                                "peer_region", "peer_resource_group", "peer_vpc", "state", "state_info",
                                "update_time", "user_peer_network_cidrs", "vpc_peering_connection_type"},
    }

    def test_world_dump_keys(self):
        ctx = self.procedure_until_pending()
        self.to_active(ctx)
        g = self.admin(GRAPH_SCOPE)
        self.graph("DELETE", "/applications/" + self.graph("POST", "/applications", g, {"displayName": "x"}).json["id"],
                   g)
        w = self.world()
        K = self.DUMP_KEYS
        self.assertEqual(set(w), K[""])
        for coll in ("tenants", "subscriptions", "resourceGroups", "applications", "servicePrincipals",
                     "deletedItems", "roleDefinitions", "roleAssignments", "virtualNetworks"):
            self.assertTrue(w[coll], coll)
            for item in w[coll]:
                self.assertEqual(set(item), K[coll], coll)
        peerings = [p for v in w["virtualNetworks"] for p in v["peerings"]]
        self.assertTrue(peerings)
        self.assertTrue(all(set(p) == K["peerings"] for p in peerings))
        vpcs = [v for p in w["aiven"]["projects"] for v in p["vpcs"]]
        self.assertTrue(all(set(v) == K["vpcs"] for v in vpcs))
        conns = [c for v in vpcs for c in v["peering_connections"]]
        self.assertTrue(conns)
        self.assertTrue(all(set(c) == K["peering_connections"] for c in conns))

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


if __name__ == "__main__":
    unittest.main()
