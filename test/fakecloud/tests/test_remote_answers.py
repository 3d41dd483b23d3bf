# Copyright (c) 2026, peering developers
"""Answers of the real services beyond the happy path: a project VPC still being built, Aiven's
`state_info: null`, Azure Policy denials, management locks, the async-operation URL out of a
VNet-scoped role's reach and an operation that ends Failed.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import unittest

from .fakecase import AUTHZ, FakeCase, NETWORK_CONTRIBUTOR, start_module_fake, stop_module_fake

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


class TestProjectVpcBuild(FakeCase):
    def vpc(self):
        return self.aiven("GET", "/project/%s/vpcs/%s" % (self.w["project"], self.w["project_vpc_id"]))

    def post(self):
        return self.aiven("POST", "/project/%s/vpcs/%s/peering-connections" % (self.w["project"],
                                                                              self.w["project_vpc_id"]),
                          {"peer_cloud_account": self.w["subscription_id"], "peer_resource_group": "rg-peering",
                           "peer_vpc": "vnet-app", "peer_azure_app_id": self.w["admin_client_id"],
                           "peer_azure_tenant_id": self.w["tenant_id"]})

    def test_approved_vpc_refuses_peering_until_active(self):
        self.assertEqual(self.fake("GET", "/_fake/world").json["settings"]["vpc_build_seconds"], 0)
        self.seed(settings={"vpc_build_seconds": 3600},
                  aiven_vpc_states=[{"project_vpc_id": self.w["project_vpc_id"], "state": "APPROVED"}])
        self.assertEqual(self.vpc().json["state"], "APPROVED")
        r = self.post()
        msg = "Project VPC %s is in state APPROVED, not ACTIVE" % self.w["project_vpc_id"]
        self.assertEqual((r.status, r.json), (409, {"errors": [{"message": msg, "status": 409}], "message": msg}))
        self.assertEqual(self.vpc().json["peering_connections"], [])
        # the build ends once the VPC is vpc_build_seconds old
        self.seed(settings={"vpc_build_seconds": 0})
        self.assertEqual(self.vpc().json["state"], "ACTIVE")
        self.assertEqual(self.post().status, 200)

    def test_seed_sets_the_state(self):
        self.seed(settings={"vpc_build_seconds": 3600},
                  aiven_vpc_states=[{"project_vpc_id": self.w["project_vpc_id"], "state": "APPROVED"}])
        self.seed(aiven_vpc_states=[{"project_vpc_id": self.w["project_vpc_id"], "state": "ACTIVE"}])
        self.assertEqual(self.vpc().json["state"], "ACTIVE")
        r = self.fake("POST", "/_fake/seed", {"aiven_vpc_states": [{"project_vpc_id": "nope", "state": "ACTIVE"}]})
        self.assertEqual(r.status, 400)
        r = self.fake("POST", "/_fake/seed", {"settings": {"aiven_null_state_info": "false"}})
        self.assertEqual(r.status, 400)


class TestNullStateInfo(FakeCase):
    def test_state_info_null_in_every_state(self):
        ctx = self.procedure_until_pending()
        self.assertIsNotNone(self.conn(ctx["vnet"])["state_info"])
        self.seed(settings={"aiven_null_state_info": True})
        c = self.conn(ctx["vnet"])
        self.assertEqual((c["state"], c["state_info"]), ("PENDING_PEER", None))
        self.to_active(ctx)
        self.assertIsNone(self.conn(ctx["vnet"])["state_info"])
        # the world dump keeps the truth
        vpcs = [v for p in self.world()["aiven"]["projects"] for v in p["vpcs"]]
        self.assertTrue(any(c["state_info"] for v in vpcs for c in v["peering_connections"]))
        self.seed(settings={"aiven_null_state_info": False})
        self.assertEqual(self.conn(ctx["vnet"])["state_info"]["type"], "azure-vnet-peering-active")


class TestPolicyAndLocks(FakeCase):
    def peering_body(self, remote):
        return {"properties": {"allowVirtualNetworkAccess": True, "remoteVirtualNetwork": {"id": remote}}}

    def test_policy_denies_peering_put(self):
        a = self.admin()
        rg = "/subscriptions/%s/resourceGroups/rg-peering" % self.w["subscription_id"]
        out = self.seed(policy_denials=[{"scope": rg, "assignment_name": "deny-peering",
                                         "display_name": "No VNet peering",
                                         "resource_type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"}])
        self.assertEqual(out["policy_denials"], [rg + "/providers/Microsoft.Authorization/policyAssignments/deny-peering"])
        r = self.arm("PUT", self.vnet_path + "/virtualNetworkPeerings/p1", a, self.peering_body(self.vnet_id("vnet-app2")))
        self.assertEqual(r.status, 403, r)
        e = r.json["error"]
        self.assertEqual((e["code"], e["target"]), ("RequestDisallowedByPolicy", "p1"))
        self.assertTrue(e["message"].startswith("Resource 'p1' was disallowed by policy. Policy identifiers: '[{"))
        self.assertIn('"policyAssignment":{"name":"No VNet peering","id":"%s/providers/Microsoft.Authorization/'
                      'policyAssignments/deny-peering"}' % rg, e["message"])
        info = e["additionalInfo"][0]
        self.assertEqual(info["type"], "PolicyViolation")
        self.assertEqual((info["info"]["policyAssignmentName"], info["info"]["policyAssignmentDisplayName"],
                          info["info"]["policyDefinitionEffect"]), ("deny-peering", "No VNet peering", "Deny"))
        self.assertEqual(self.arm("GET", self.vnet_path + "/virtualNetworkPeerings/p1", a).status, 404)
        # an action pattern, on a role assignment PUT; other scopes are not covered
        self.seed(remove_policy_denials=[{"assignment_name": "deny-peering"}],
                  policy_denials=[{"scope": self.vnet_path, "assignment_name": "no-rbac",
                                   "action": "Microsoft.Authorization/roleAssignments/*"}])
        self.assertEqual(self.arm("PUT", self.vnet_path + "/virtualNetworkPeerings/p1", a,
                                  self.peering_body(self.vnet_id("vnet-app2"))).status, 201)
        ra = {"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/" +
                             NETWORK_CONTRIBUTOR, "principalId": self.w["limited_sp_id"],
                             "principalType": "ServicePrincipal"}}
        r = self.arm("PUT", self.vnet_path + "/providers/Microsoft.Authorization/roleAssignments/"
                     "0b8e2a4e-1c1d-4f5e-9a55-3f0c8f0f7a01", a, ra, api=AUTHZ)
        self.assertEqual((r.status, r.json["error"]["code"]), (403, "RequestDisallowedByPolicy"))
        self.assertEqual(r.json["error"]["additionalInfo"][0]["info"]["policyAssignmentName"], "no-rbac")
        r = self.arm("PUT", "/subscriptions/%s/providers/Microsoft.Authorization/roleAssignments/"
                     "0b8e2a4e-1c1d-4f5e-9a55-3f0c8f0f7a02" % self.w["subscription_id"], a, ra, api=AUTHZ)
        self.assertEqual(r.status, 201, r)

    def test_locks(self):
        a = self.admin()
        rg = "/subscriptions/%s/resourceGroups/rg-peering" % self.w["subscription_id"]
        pid = self.vnet_path + "/virtualNetworkPeerings/p1"
        self.assertEqual(self.arm("PUT", pid, a, self.peering_body(self.vnet_id("vnet-app2"))).status, 201)
        self.seed(locks=[{"scope": rg, "level": "CanNotDelete", "name": "keep"}])
        r = self.arm("DELETE", pid, a)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "ScopeLocked"))
        self.assertEqual(r.json["error"]["message"],
                         "The scope '%s' cannot perform delete operation because following scope(s) are locked: "
                         "'%s'. Please remove the lock and try again." % (pid, rg))
        # CanNotDelete lets writes through, ReadOnly does not
        self.assertEqual(self.arm("PUT", pid, a, self.peering_body(self.vnet_id("vnet-app2"))).status, 200)
        self.seed(remove_locks=[{"name": "keep"}], locks=[{"scope": self.vnet_path, "level": "ReadOnly",
                                                           "name": "frozen"}])
        r = self.arm("PUT", pid, a, self.peering_body(self.vnet_id("vnet-app2")))
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "ScopeLocked"))
        self.assertIn("cannot perform write operation", r.json["error"]["message"])
        self.assertEqual(self.arm("DELETE", pid, a).status, 409)
        self.assertEqual(self.arm("GET", pid, a).status, 200)
        self.seed(remove_locks=[{"name": "frozen"}])
        self.assertEqual(self.arm("DELETE", pid, a).status, 202)


class TestAsyncOperations(FakeCase):
    def test_vnet_scoped_role_cannot_read_the_operation(self):
        ctx = self.procedure_until_pending()
        self.app_tokens(ctx)
        r = self.put_peering(ctx)
        self.assertEqual(r.status, 201, r)
        op = r.headers["azure-asyncoperation"]
        st = self.c.call("GET", op, headers={"Authorization": "Bearer " + ctx["t_cust"]})
        self.assertEqual((st.status, st.json["error"]["code"]), (403, "AuthorizationFailed"))
        self.assertIn("'Microsoft.Network/locations/operations/read'", st.json["error"]["message"])
        # the peering's own provisioningState is readable with the VNet's role
        r = self.arm("GET", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", ctx["t_cust"])
        self.assertEqual(r.json["properties"]["provisioningState"], "Succeeded")
        self.assertEqual(self.c.call("GET", op, headers={"Authorization": "Bearer " + self.admin()}).json["status"],
                         "Succeeded")

    def test_overlap_with_a_peered_vnet_fails_the_operation(self):
        """The provider's VNet is already peered with a VNet overlapping ours: the PUT is accepted,
        its operation ends Failed, the peering shows provisioningState Failed and never connects."""
        W = self.w
        self.seed(vnets=[{"resource_group": "rg-peering", "name": "vnet-near", "address_prefixes": ["10.1.200.0/24"]}],
                  active_peerings=[{"project_vpc_id": W["project_vpc_id"], "resource_group": "rg-peering",
                                    "vnet": "vnet-near", "peering_name": "near-to-mst"}])
        ctx = self.procedure_until_pending()
        self.app_tokens(ctx)
        r = self.put_peering(ctx)
        self.assertEqual(r.status, 201, r)  # accepted: the refusal comes with the operation
        st = self.c.call("GET", r.headers["azure-asyncoperation"],
                         headers={"Authorization": "Bearer " + self.admin()}).json
        self.assertEqual((st["status"], st["error"]["code"]), ("Failed", "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet"))
        self.assertIn("cannot be peered because address space of the first virtual network overlaps with address "
                      "space of virtual network %s" % self.vnet_id("vnet-near"), st["error"]["message"])
        self.assertIn("Overlapping address prefixes: 10.1.0.0/16.", st["error"]["message"])
        p = self.arm("GET", ctx["vnet_id"] + "/virtualNetworkPeerings/to-mst", self.admin()).json["properties"]
        self.assertEqual((p["provisioningState"], p["peeringState"]), ("Failed", "Initiated"))
        self.assertEqual(self.conn(ctx["vnet"])["state"], "PENDING_PEER")


if __name__ == "__main__":
    unittest.main()
