# Copyright (c) 2026, peering developers
"""Seeding ACTIVE peerings in bulk, and a world of 10,000 peerings costing a request no more work
than a world of 10: the fake serves the benchmark (bench/run.sh) at that size.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import unittest

from .fakecase import ARM_SCOPE, FakeCase, start_module_fake, stop_module_fake

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests

PEERINGS_PER_VNET = 200


class TestScale(FakeCase):
    def seed_mesh(self, count, vnets, vpcs):
        """`count` ACTIVE peerings between `vnets` seeded VNets and `vpcs` project VPCs, each VNet
        peered with consecutive VPCs (so each VPC has count/vpcs connections)."""
        W = self.w
        per_vnet = -(-count // vnets)
        out = self.seed(
            vnets=[{"resource_group": "rg-mesh", "name": "vnet-mesh-%d" % j,
                    "address_prefixes": ["10.%d.0.0/16" % (j + 20)]} for j in range(vnets)],
            aiven_vpcs=[{"network_cidr": "10.100.0.0/24", "count": vpcs}])
        vpc_ids = [v["project_vpc_id"] for v in out["aiven_vpcs"]]
        specs = [{"project_vpc_id": vpc_ids[(j * per_vnet + m) % vpcs], "resource_group": "rg-mesh",
                  "vnet": "vnet-mesh-%d" % j, "peering_name": "to-vpc-%d" % ((j * per_vnet + m) % vpcs),
                  "subscription": W["subscription_id"]}
                 for j in range(vnets) for m in range(per_vnet) if j * per_vnet + m < count]
        return vpc_ids, self.seed(active_peerings=specs)["active_peerings"]

    def stats(self):
        return self.fake("GET", "/_fake/stats").json

    def mesh_path(self, j):
        return "/subscriptions/%s/resourceGroups/rg-mesh/providers/Microsoft.Network/virtualNetworks/vnet-mesh-%d" % (
            self.w["subscription_id"], j)

    def test_active_peerings_seed(self):
        W = self.w
        vpc_ids, seeded = self.seed_mesh(4, 2, 2)
        self.assertEqual(len(seeded), 4)
        a = self.admin(ARM_SCOPE)
        conns = self.vpc_conns(vpc_ids[0])
        self.assertEqual(sorted(c["peer_vpc"] for c in conns), ["vnet-mesh-0", "vnet-mesh-1"])
        c = conns[0]
        self.assertEqual((c["state"], c["peer_cloud_account"], c["peer_resource_group"], c["peer_azure_tenant_id"]),
                         ("ACTIVE", W["subscription_id"].lower(), "rg-mesh", W["tenant_id"]))
        self.assertEqual(c["state_info"]["type"], "azure-vnet-peering-active")
        mine = self.arm("GET", self.mesh_path(0) + "/virtualNetworkPeerings/to-vpc-0", a).json
        self.assertEqual(mine["properties"]["peeringState"], "Connected")
        self.assertTrue(mine["properties"]["allowVirtualNetworkAccess"])
        provider = {v["id"]: v for v in self.world()["virtualNetworks"]}[seeded[0]["to_network_id"]]
        self.assertEqual(mine["properties"]["remoteVirtualNetwork"]["id"], provider["id"])
        back = [p for p in provider["peerings"] if p["id"] == seeded[0]["provider_peering_id"]]
        self.assertEqual([(p["remote_id"], p["peeringState"], p["owner"]) for p in back],
                         [(self.mesh_path(0), "Connected", "provider")])
        self.assertEqual(seeded[0]["to_tenant_id"], W["provider_tenant_id"])
        # what Aiven would refuse to build is refused
        dup = {"project_vpc_id": vpc_ids[0], "resource_group": "rg-mesh", "vnet": "vnet-mesh-0", "peering_name": "x"}
        self.assertEqual(self.fake("POST", "/_fake/seed", {"active_peerings": [dup]}).status, 400)
        overlap = dict(dup, resource_group=W["resource_group"], vnet="vnet-overlap", project_vpc_id=W["project_vpc_id"])
        self.assertEqual(self.fake("POST", "/_fake/seed", {"active_peerings": [overlap]}).status, 400)
        self.assertEqual(self.fake("POST", "/_fake/seed", {"active_peerings": [dict(dup, vnet="nope")]}).status, 400)
        # the customer deleting its side ends the connection and the provider's side
        self.seed(remove_peerings=[{"subscription": W["subscription_id"], "resource_group": "rg-mesh",
                                    "vnet": "vnet-mesh-0", "name": "to-vpc-0"}])
        gone = [c for c in self.vpc_conns(vpc_ids[0]) if c["peer_vpc"] == "vnet-mesh-0"]
        self.assertEqual(gone[0]["state"], "DELETED_BY_PEER")
        provider = {v["id"]: v for v in self.world()["virtualNetworks"]}[seeded[0]["to_network_id"]]
        self.assertNotIn(seeded[0]["provider_peering_id"], [p["id"] for p in provider["peerings"]])
        self.assertEqual([c["state"] for c in self.vpc_conns(vpc_ids[0]) if c["peer_vpc"] == "vnet-mesh-1"],
                         ["ACTIVE"])

    def test_a_vnet_holds_at_most_500_peerings(self):
        """Azure's default limit of peerings per virtual network: the 501st PUT is refused, and so
        is a seeded 501st; once one is gone the PUT goes through."""
        self.assertEqual(self.fake("POST", "/_fake/reset").status, 200)
        W = self.w
        self.seed_mesh(500, 1, 500)
        a = self.admin(ARM_SCOPE)
        path = self.mesh_path(0) + "/virtualNetworkPeerings/one-too-many"
        body = {"properties": {"remoteVirtualNetwork": {"id": self.vnet_id(W["second_vnet_name"])},
                               "allowVirtualNetworkAccess": True}}
        r = self.arm("PUT", path, a, body)
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "PeeringLimitExceeded"), r)
        self.assertIn("already has 500 peerings", r.json["error"]["message"])
        more = self.seed(aiven_vpcs=[{"network_cidr": "10.210.0.0/24"}])["aiven_vpcs"][0]["project_vpc_id"]
        r = self.fake("POST", "/_fake/seed", {"active_peerings": [{
            "project_vpc_id": more, "subscription": W["subscription_id"], "resource_group": "rg-mesh",
            "vnet": "vnet-mesh-0", "peering_name": "x"}]})
        self.assertEqual(r.status, 400, r)
        self.seed(remove_peerings=[{"subscription": W["subscription_id"], "resource_group": "rg-mesh",
                                    "vnet": "vnet-mesh-0", "name": "to-vpc-0"}])
        self.assertEqual(self.arm("PUT", path, a, body).status, 201)
        self.assertEqual(self.arm("PUT", path, a, body).status, 200)  # an update is no new peering

    def work_of_requests(self, count, vnets, vpcs):
        """Records the transitions visit serving a fixed set of requests in a world of `count`
        ACTIVE peerings: reads whose answers do not depend on the world's size, and a change
        (one seeded peering deleted by the customer) that ends one connection."""
        self.assertEqual(self.fake("POST", "/_fake/reset").status, 200)
        W = self.w
        vpc_ids, _ = self.seed_mesh(count, vnets, vpcs)
        self.assertEqual(self.stats()["aiven_connections"], count)
        a = self.admin(ARM_SCOPE)
        self.vpc_conns()  # the first tick after seeding settles what the seed made
        before = self.stats()["records_visited"]
        for _ in range(5):
            self.vpc_conns()
            self.assertEqual(self.arm("GET", self.vnet_path + "/virtualNetworkPeerings", a).status, 200)
            self.admin(ARM_SCOPE)
        self.seed(remove_peerings=[{"subscription": W["subscription_id"], "resource_group": "rg-mesh",
                                    "vnet": "vnet-mesh-0", "name": "to-vpc-0"}])
        self.assertEqual([c["state"] for c in self.vpc_conns(vpc_ids[0]) if c["peer_vpc"] == "vnet-mesh-0"],
                         ["DELETED_BY_PEER"])
        return self.stats()["records_visited"] - before

    def test_request_work_does_not_grow_with_the_world(self):
        small = self.work_of_requests(10, 1, 10)
        large = self.work_of_requests(10000, 50, 500)
        self.assertGreater(small, 0)  # the counter counts: the deletion is noticed through it
        self.assertEqual(large, small)


if __name__ == "__main__":
    unittest.main()
