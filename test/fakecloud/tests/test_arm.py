# Copyright (c) 2026, peering developers
"""Azure Resource Manager: auth, subscriptions, RBAC, peerings; and the transient errors
every delay produces.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import unittest
import uuid

from .fakecase import (ARM_SCOPE, AUTHZ, FakeCase, GRAPH_SCOPE, NET, NETWORK_CONTRIBUTOR, PEER_ACTION, READER,
                       start_module_fake, stop_module_fake, SUBS)

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


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

    def test_subscription_of_another_tenant_names_its_tenant(self):
        # a token of the customer's tenant, the provider's subscription: refused, naming its tenant
        W = self.w
        r = self.arm("GET", "/subscriptions/" + W["provider_subscription_id"], self.admin(), api=SUBS)
        self.assertArmError(r, 401, "InvalidAuthenticationTokenTenant")
        self.assertIn("It must match the tenant 'https://sts.windows.net/%s/' associated with this subscription"
                      % W["provider_tenant_id"], r.json["error"]["message"])
        self.assertRegex(r.headers["www-authenticate"],
                         r'^Bearer authorization_uri="https://[^"]+/%s", error="invalid_token", '
                         r'error_description="The access token is from the wrong issuer\. ' % W["provider_tenant_id"])
        # no such subscription: nothing named
        r = self.arm("GET", "/subscriptions/%s" % uuid.uuid4(), self.admin(), api=SUBS)
        self.assertArmError(r, 404, "SubscriptionNotFound")
        self.assertNotIn("www-authenticate", r.headers)

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
        # an update answers 201 too: the 2022-04-01 spec defines no 200 (the Azure SDK rejects one)
        self.assertEqual(self.arm("PUT", p + rd1, a, body, api=AUTHZ).status, 201)
        self.assertArmError(self.arm("PUT", p + rd2, a, body, api=AUTHZ), 409, "RoleDefinitionWithSameNameExists")
        # visible at a VNet scope below its assignable scope, with $filter
        r = self.arm("GET", self.vnet_path + "/providers/Microsoft.Authorization/roleDefinitions", a, api=AUTHZ,
                     query={"$filter": "roleName eq 'peer-only'"})
        self.assertEqual([x["name"] for x in r.json["value"]], [rd1])
        self.assertEqual(r.json["value"][0]["properties"]["type"], "CustomRole")
        self.assertArmError(self.arm("GET", p + str(uuid.uuid4()), a, api=AUTHZ), 404, "RoleDefinitionDoesNotExist")
        self.assertEqual(self.arm("DELETE", p + rd1, a, api=AUTHZ).status, 200)
        self.assertEqual(self.arm("DELETE", p + rd1, a, api=AUTHZ).status, 204)

    def test_new_custom_role_not_assignable_until_propagated(self):
        W = self.w
        a = self.admin()
        self.seed(settings={"role_definition_propagation_seconds": 0.4})
        scope = "/subscriptions/" + W["subscription_id"]
        rd = str(uuid.uuid4())
        r = self.arm("PUT", scope + "/providers/Microsoft.Authorization/roleDefinitions/" + rd, a,
                     {"properties": {"roleName": "fresh-role", "permissions": [{"actions": [PEER_ACTION]}],
                                     "assignableScopes": [scope]}}, api=AUTHZ)
        self.assertEqual(r.status, 201, r)
        path = self.vnet_path + "/providers/Microsoft.Authorization/roleAssignments/" + str(uuid.uuid4())
        body = {"properties": {"roleDefinitionId": r.json["id"], "principalId": W["limited_sp_id"],
                               "principalType": "ServicePrincipal"}}
        r = self.arm("PUT", path, a, body, api=AUTHZ)
        self.assertArmError(r, 400, "RoleDefinitionDoesNotExist")
        self.assertEqual(r.json["error"]["message"], "The specified role definition with ID '%s' does not exist." % rd)
        r, seen = self.eventually(lambda: self.arm("PUT", path, a, body, api=AUTHZ), lambda r: r.status == 201)
        self.assertTrue(all(x.json["error"]["code"] == "RoleDefinitionDoesNotExist" for x in seen))
        # and now it cannot be deleted while assigned
        r = self.arm("DELETE", scope + "/providers/Microsoft.Authorization/roleDefinitions/" + rd, a, api=AUTHZ)
        self.assertArmError(r, 409, "RoleDefinitionHasAssignments")
        self.assertEqual(r.json["error"]["message"], "There are existing role assignments referencing role")

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

    def test_address_space_sync(self):
        """After vnet1's address space grows, its peering is RemoteNotInSync and the one back
        LocalNotInSync (the Az.Network test of Sync-AzVirtualNetworkPeering); a PUT of the same
        body does not sync, a PUT with syncRemoteAddressSpace=true does."""
        a = self.admin()
        v1, v2 = self.vnet_id("vnet-app"), self.vnet_id("vnet-app2")
        body = lambda remote: {"properties": {"allowVirtualNetworkAccess": True,
                                              "remoteVirtualNetwork": {"id": remote}}}
        self.arm("PUT", v1 + "/virtualNetworkPeerings/p12", a, body(v2))
        self.arm("PUT", v2 + "/virtualNetworkPeerings/p21", a, body(v1))
        level = lambda v, n: self.arm("GET", v + "/virtualNetworkPeerings/" + n, a).json["properties"]
        self.assertEqual(level(v1, "p12")["peeringSyncLevel"], "FullyInSync")
        before = level(v1, "p12")["remoteAddressSpace"]
        grown = self.arm("GET", v1, a).json["properties"]["addressSpace"]["addressPrefixes"] + ["10.99.0.0/16"]
        self.seed(address_spaces=[{"subscription": self.w["subscription_id"], "resource_group": "rg-peering",
                                   "name": "vnet-app", "address_prefixes": grown}])
        self.assertEqual(level(v1, "p12")["peeringSyncLevel"], "RemoteNotInSync")
        p21 = level(v2, "p21")
        self.assertEqual(p21["peeringSyncLevel"], "LocalNotInSync")
        self.assertNotIn("10.99.0.0/16", p21["remoteAddressSpace"]["addressPrefixes"])
        self.assertIn("10.99.0.0/16", p21["remoteVirtualNetworkAddressSpace"]["addressPrefixes"])
        self.assertEqual(level(v1, "p12")["remoteAddressSpace"], before)
        # the same body again: still out of sync
        self.assertEqual(self.arm("PUT", v2 + "/virtualNetworkPeerings/p21", a, body(v1)).status, 200)
        self.assertEqual(level(v2, "p21")["peeringSyncLevel"], "LocalNotInSync")
        r = self.arm("PUT", v2 + "/virtualNetworkPeerings/p21", a, body(v1),
                     query={"syncRemoteAddressSpace": "true"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["properties"]["peeringSyncLevel"], "FullyInSync")
        self.assertEqual(level(v1, "p12")["peeringSyncLevel"], "FullyInSync")
        self.assertIn("10.99.0.0/16", level(v2, "p21")["remoteAddressSpace"]["addressPrefixes"])
        # both sides changed
        for name, v in (("vnet-app", v1), ("vnet-app2", v2)):
            grown = self.arm("GET", v, a).json["properties"]["addressSpace"]["addressPrefixes"]
            self.seed(address_spaces=[{"subscription": self.w["subscription_id"], "resource_group": "rg-peering",
                                       "name": name, "address_prefixes": grown + [
                                           "10.98.0.0/16" if v == v1 else "10.97.0.0/16"]}])
        self.assertEqual(level(v1, "p12")["peeringSyncLevel"], "LocalAndRemoteNotInSync")
        # an address space that overlaps the peered VNet's is refused
        r = self.fake("POST", "/_fake/seed", {"address_spaces": [{
            "subscription": self.w["subscription_id"], "resource_group": "rg-peering", "name": "vnet-app",
            "address_prefixes": grown}]})
        self.assertEqual(r.status, 400, r)

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
        self.assertTrue(seen and all(x.status == 400 and x.json["error"]["details"][0]["code"] ==
                                     "NoBackingApplicationObject" for x in seen))
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
        # a role on the resource group does not reach the status URL (subscription level)
        st = self.c.call("GET", op, headers={"Authorization": "Bearer " + t})
        self.assertEqual((st.status, st.json["error"]["code"]), (403, "AuthorizationFailed"))
        self.assertIn("Microsoft.Network/locations/operations/read", st.json["error"]["message"])
        st = self.c.call("GET", op, headers={"Authorization": "Bearer " + a})
        self.assertEqual(st.json["status"], "InProgress")
        self.eventually(lambda: self.c.call("GET", op, headers={"Authorization": "Bearer " + a}),
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


if __name__ == "__main__":
    unittest.main()
