# Copyright (c) 2026, peering developers
"""The Aiven API: project VPCs and peering connections.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import unittest
import uuid
from urllib.parse import quote

from .fakecase import FakeCase, GRAPH_SCOPE, start_module_fake, stop_module_fake

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


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
        # the bodies users quote, without error_code (terraform-provider-aiven PR #477, #561)
        r = self.aiven("GET", "/project/nope/vpcs")
        self.assertEqual((r.status, r.json), (404, {"errors": [{"message": "Project does not exist", "status": 404}],
                                                    "message": "Project does not exist"}))
        r = self.aiven("GET", "/project/%s/vpcs" % W["other_project"])
        self.assertEqual((r.status, r.json), (403, {"errors": [{"message": "Not a project member", "status": 403}],
                                                    "message": "Not a project member"}))
        with open(W["other_aiven_token_file"]) as f:
            other_token = f.read().strip()
        self.assertEqual(self.aiven("GET", "/project/%s/vpcs" % W["project"], token=other_token).status, 403)
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

    def test_repost_while_deleting_is_refused_then_replaced(self):
        """terraform-provider-aiven PR #537: a re-create fails while the old connection is
        still being deleted; once DELETED, the same POST makes a fresh request."""
        W = self.w
        self.seed(settings={"aiven_delete_seconds": 60})
        self.assertEqual(self.post(self.body()).status, 200)
        r = self.aiven("DELETE", "/project/%s/vpcs/%s/peering-connections/peer-accounts/%s/peer-resource-groups/"
                                 "rg-peering/peer-vpcs/vnet-app" % (W["project"], W["project_vpc_id"],
                                                                    W["subscription_id"]))
        self.assertEqual(r.json["state"], "DELETING")
        self.assertAivenError(self.post(self.body()), 409, "being deleted", "peering_connection_deleting")
        self.assertEqual(self.conn()["state"], "DELETING")
        self.seed(settings={"aiven_delete_seconds": 0})
        r = self.post(self.body())
        self.assertEqual((r.status, r.json["state"]), (200, "APPROVED"), r)
        self.assertEqual(len(self.vpc_conns()), 1)

    def test_delete_after_vpc_or_project_is_gone(self):
        tok = self.seed(aiven_projects=[{"name": "gone-soon"}])["aiven_projects"][0]["token"]
        vpcs = self.seed(aiven_vpcs=[{"project": "gone-soon", "cloud_name": "azure-westeurope",
                                      "network_cidr": "10.230.0.0/24", "count": 2}])["aiven_vpcs"]
        conn = "/project/gone-soon/vpcs/%s/peering-connections/peer-accounts/" + self.w["subscription_id"] + \
               "/peer-resource-groups/rg-peering/peer-vpcs/vnet-app"
        for v in vpcs:
            r = self.aiven("POST", "/project/gone-soon/vpcs/%s/peering-connections" % v["project_vpc_id"],
                           self.body(), token=tok)
            self.assertEqual(r.status, 200, r)
        # the project VPC disappears (with its provider VNet): 404 project_vpc_not_found
        r = self.seed(remove_aiven_vpcs=[{"project": "gone-soon", "project_vpc_id": vpcs[0]["project_vpc_id"]}])
        self.assertEqual(r["removed_aiven_vpcs"], 1)
        self.assertNotIn(vpcs[0]["provider_vnet_id"].lower(), [v["id"].lower() for v in self.world()["virtualNetworks"]])
        r = self.aiven("DELETE", conn % vpcs[0]["project_vpc_id"], token=tok)
        self.assertAivenError(r, 404, "Project VPC does not exist", "project_vpc_not_found")
        self.assertEqual(self.aiven("DELETE", conn % vpcs[1]["project_vpc_id"], token=tok).status, 200)
        # then the whole project: 404 "Project does not exist", for its member token too
        self.assertEqual(self.seed(remove_aiven_projects=[{"name": "gone-soon"}])["removed_aiven_projects"], 1)
        r = self.aiven("DELETE", conn % vpcs[1]["project_vpc_id"], token=tok)
        self.assertAivenError(r, 404, "Project does not exist")
        self.assertNotIn("error_code", r.json["errors"][0])
        self.assertNotIn("gone-soon", [p["name"] for p in self.world()["aiven"]["projects"]])

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

    def test_user_peer_network_cidrs(self):
        """The networks routed through a connection: on the request, shown by the VPC's GET, and
        changed in place by PUT …/user-peer-network-cidrs with the difference (aiven-client
        `update_project_vpc_user_peer_network_cidrs`; terraform-provider-aiven `updateCIDRs`)."""
        W = self.w
        path = "/project/%s/vpcs/%s/user-peer-network-cidrs" % (W["project"], W["project_vpc_id"])
        key = {"peer_cloud_account": W["subscription_id"], "peer_resource_group": "rg-peering",
               "peer_vpc": "vnet-cidrs"}
        r = self.post(self.body(peer_vpc="vnet-cidrs", user_peer_network_cidrs=["10.70.0.0/16"]))
        self.assertEqual((r.status, r.json["user_peer_network_cidrs"]), (200, ["10.70.0.0/16"]), r)
        self.seed(aiven_set_state=[dict(key, project_vpc_id=W["project_vpc_id"], state="PENDING_PEER")])
        r = self.aiven("PUT", path, {"add": [dict(key, cidr="10.80.0.0/16")], "delete": ["10.70.0.0/16"]})
        self.assertEqual(r.status, 200, r)
        self.assertIn("peering_connections", r.json)
        c = self.conn("vnet-cidrs")
        self.assertEqual((c["user_peer_network_cidrs"], c["state"]), (["10.80.0.0/16"], "PENDING_PEER"))
        # a CIDR no connection routes is ignored; both keys are optional
        self.assertEqual(self.aiven("PUT", path, {"delete": ["10.99.0.0/16"]}).status, 200)
        self.assertEqual(self.aiven("PUT", path, {"add": [], "delete": []}).status, 200)
        # an add naming no live connection of the VPC
        self.assertAivenError(self.aiven("PUT", path, {"add": [dict(key, peer_resource_group="rg-other",
                                                                     cidr="10.81.0.0/16")]}),
                              404, error_code="peering_connection_not_found")
        # refused whole: not a CIDR, host bits set, a field missing, not a list, over 128
        many = [dict(key, cidr="10.%d.%d.0/24" % (100 + i // 200, i % 200)) for i in range(128)]
        for bad in ({"add": [dict(key, cidr="10.1.2.3/8")]}, {"add": [dict(key, cidr=7)]},
                    {"delete": ["nope"]}, {"add": [{"cidr": "10.82.0.0/16"}]}, {"add": "x"}, [1],
                    {"add": many}, {"add": [dict(key, cidr="10.83.0.0/16")], "delete": ["nope"]}):
            self.assertAivenError(self.aiven("PUT", path, bad), 400)
        self.assertEqual(self.conn("vnet-cidrs")["user_peer_network_cidrs"], ["10.80.0.0/16"])
        # the request itself is checked the same way
        self.assertAivenError(self.post(self.body(peer_vpc="vnet-c2", user_peer_network_cidrs=["10.1.2.3/8"])),
                              400, "user_peer_network_cidrs")


class TestServices(FakeCase):
    """The project's services and their IP filters (aiven-client get_services, update_service)."""

    def services(self):
        r = self.aiven("GET", "/project/%s/service" % self.w["project"])
        self.assertEqual(r.status, 200, r)
        return {s["service_name"]: s for s in r.json["services"]}

    def put(self, name, body):
        return self.aiven("PUT", "/project/%s/service/%s" % (self.w["project"], name), body)

    def test_seeded_services_and_their_update(self):
        W = self.w
        mixed = ["10.1.0.0/16", {"network": "192.168.0.0/24", "description": "office"}]
        self.seed(aiven_services=[{"service_name": "pg-a", "project_vpc_id": W["project_vpc_id"], "ip_filter": mixed},
                                  {"service_name": "pg-b", "project_vpc_id": None}])
        s = self.services()
        self.assertEqual(s["pg-a"]["project_vpc_id"], W["project_vpc_id"])
        self.assertEqual(s["pg-a"]["user_config"]["ip_filter"], mixed)
        self.assertEqual(s["pg-a"]["state"], "RUNNING")
        self.assertIsNone(s["pg-b"]["project_vpc_id"])
        self.assertEqual(s["pg-b"]["user_config"]["ip_filter"], ["0.0.0.0/0"])
        # other user_config keys are kept
        self.assertEqual(self.put("pg-a", {"user_config": {"pg_version": "15"}}).status, 200)
        new = mixed + [{"network": "10.2.0.0/16", "description": "peering connection 1"}]
        r = self.put("pg-a", {"user_config": {"ip_filter": new}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["service"]["user_config"], {"ip_filter": new, "pg_version": "15"})
        self.assertEqual(self.services()["pg-a"]["user_config"]["ip_filter"], new)

    def test_update_is_validated(self):
        self.seed(aiven_services=[{"service_name": "pg-a", "project_vpc_id": self.w["project_vpc_id"]}])
        for bad in ("10.1.0.0/33", "not-a-network", " 10.1.0.0/16", 5, {"description": "x"},
                    {"network": "10.1.0.0/16", "comment": "x"}):
            r = self.put("pg-a", {"user_config": {"ip_filter": [bad]}})
            self.assertEqual(r.status, 400, (bad, r))
            self.assertIn("Invalid 'user_config': Invalid input for ip_filter", r.json["message"])
            self.assertEqual(r.json["errors"][0]["status"], 400)
        r = self.put("pg-a", {"user_config": {"ip_filter": None}})
        self.assertEqual(r.json["message"],
                         "Invalid 'user_config': Invalid input for ip_filter: null is not of type 'array'")
        self.assertEqual(self.services()["pg-a"]["user_config"]["ip_filter"], ["0.0.0.0/0"])
        r = self.put("pg-nope", {"user_config": {"ip_filter": []}})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.fake("POST", "/_fake/seed", {"aiven_services": [
            {"service_name": "x", "project_vpc_id": str(uuid.uuid4())}]}).status, 400)
        self.assertEqual(self.fake("POST", "/_fake/seed", {"aiven_services": [
            {"service_name": "x", "ip_filter": ["10.0.0.0/40"]}]}).status, 400)


class TestRefresh(FakeCase):
    """POST …/peering-connections/refresh (aiven-client refresh_project_vpc_peering_connections):
    Aiven's side re-reads the customer VNet's address space."""

    def setUp(self):
        super().setUp()
        W = self.w
        self.seed(vnets=[{"resource_group": "rg-peering", "name": "vnet-grow", "address_prefixes": ["10.40.0.0/16"]}],
                  active_peerings=[{"project_vpc_id": W["project_vpc_id"], "resource_group": "rg-peering",
                                    "vnet": "vnet-grow", "peering_name": "grow-to-mst"}])
        self.path = self.vnet_id("vnet-grow") + "/virtualNetworkPeerings/grow-to-mst"

    def level(self):
        return self.arm("GET", self.path, self.admin()).json["properties"]["peeringSyncLevel"]

    def grow(self):
        self.seed(address_spaces=[{"subscription": self.w["subscription_id"], "resource_group": "rg-peering",
                                   "name": "vnet-grow", "address_prefixes": ["10.40.0.0/16", "10.41.0.0/16"]}])

    def refresh(self):
        return self.aiven("POST", "/project/%s/vpcs/%s/peering-connections/refresh" % (
            self.w["project"], self.w["project_vpc_id"]))

    def test_refresh_syncs_the_provider_side(self):
        self.grow()
        self.assertEqual(self.level(), "RemoteNotInSync")
        r = self.refresh()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["project_vpc_id"], self.w["project_vpc_id"])
        self.assertIn("peering_connections", r.json)
        self.assertEqual(self.level(), "FullyInSync")
        r = self.aiven("POST", "/project/%s/vpcs/%s/peering-connections/refresh" % (self.w["project"], uuid.uuid4()))
        self.assertEqual(r.status, 404, r)

    def test_refresh_after_a_delay(self):
        self.seed(settings={"aiven_refresh_seconds": 0.5})
        self.grow()
        self.assertEqual(self.refresh().status, 200)
        self.assertEqual(self.level(), "RemoteNotInSync")
        level, _ = self.eventually(self.level, lambda x: x != "RemoteNotInSync")
        self.assertEqual(level, "FullyInSync")

    def test_nothing_syncs_without_a_refresh(self):
        self.grow()
        self.assertEqual(self.aiven("GET", "/project/%s/vpcs/%s" % (self.w["project"], self.w["project_vpc_id"])).status,
                         200)
        self.assertEqual(self.level(), "RemoteNotInSync")


if __name__ == "__main__":
    unittest.main()
