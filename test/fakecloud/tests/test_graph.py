# Copyright (c) 2026, peering developers
"""Microsoft Graph: applications, passwords, service principals, replication, and the
recycle bin.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import json
import unittest
import uuid
from urllib.parse import quote

from .fakecase import (ARM_SCOPE, AUTHZ, FakeCase, GRAPH_SCOPE, NETWORK_CONTRIBUTOR, start_module_fake,
                       stop_module_fake)

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


class TestGraph(FakeCase):
    def assertGraphError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json["error"]["code"], code, r)
        self.assertIn("message", r.json["error"])
        self.assertIn("request-id", r.json["error"]["innerError"])
        self.assertIn("date", r.json["error"]["innerError"])
        self.assertIn("request-id", r.headers)

    def assertNoBackingApplication(self, r, app_id):
        """The 400 Graph gives for the SP of an unknown or still-replicating application."""
        self.assertGraphError(r, 400, "Request_BadRequest")
        message = ("The appId '%s' of the service principal does not reference a valid application object."
                   % app_id)
        self.assertEqual(r.json["error"]["message"], message)
        self.assertEqual(r.json["error"]["details"],
                         [{"code": "NoBackingApplicationObject", "message": message, "target": "appId"}])

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
        unknown = str(uuid.uuid4())
        self.assertNoBackingApplication(self.graph("POST", "/servicePrincipals", g, {"appId": unknown}), unknown)
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
        self.assertNoBackingApplication(r, app["appId"])
        r, seen = self.eventually(lambda: self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {}),
                                  lambda r: r.status == 200)
        self.assertTrue(all(x.status == 404 for x in seen))
        r, seen = self.eventually(lambda: self.graph("POST", "/servicePrincipals", g, {"appId": app["appId"]}),
                                  lambda r: r.status == 201)
        self.assertTrue(all(x.status == 400 for x in seen))
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


class TestRecycleBin(FakeCase):
    """Deleted applications and service principals go to /directory/deletedItems (Graph's recycle bin)."""

    def app_with_sp(self, g, unique):
        r = self.graph("PATCH", "/applications(uniqueName='%s')" % unique, g,
                       {"displayName": unique, "signInAudience": "AzureADMultipleOrgs"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201, r)
        sp = self.graph("POST", "/servicePrincipals", g, {"appId": r.json["appId"]})
        self.assertEqual(sp.status, 201, sp)
        return r.json, sp.json

    def deleted(self, g, kind, flt=None):
        q = "?$filter=" + quote(flt) if flt else ""
        r = self.graph("GET", "/directory/deletedItems/microsoft.graph.%s%s" % (kind, q), g)
        self.assertEqual(r.status, 200, r)
        return r.json["value"]

    def test_delete_keeps_unique_name_until_purged(self):
        g = self.admin(GRAPH_SCOPE)
        app, sp = self.app_with_sp(g, "rb-one")
        secret = self.graph("POST", "/applications/%s/addPassword" % app["id"], g, {}).json["secretText"]
        self.assertEqual(self.graph("DELETE", "/applications/" + app["id"], g).status, 204)
        # the app and its home-tenant SP are soft-deleted, visible in the dump
        w = self.world()
        self.assertNotIn(app["id"], [a["id"] for a in w["applications"]])
        self.assertEqual(sorted((d["kind"], d["id"]) for d in w["deletedItems"]),
                         sorted([("application", app["id"]), ("servicePrincipal", sp["id"])]))
        # the uniqueName stays taken: upsert and POST answer 400
        for r in (self.graph("PATCH", "/applications(uniqueName='rb-one')", g, {"displayName": "rb-one"},
                             headers={"Prefer": "create-if-missing"}),
                  self.graph("POST", "/applications", g, {"displayName": "x", "uniqueName": "rb-one"})):
            self.assertEqual((r.status, r.json["error"]["code"]), (400, "Request_BadRequest"), r)
            self.assertEqual(r.json["error"]["message"],
                             "Another object with the same value for property uniqueName already exists.")
        # listed by type, with $filter on uniqueName, displayName and appId
        for flt in ("uniqueName eq 'rb-one'", "displayName eq 'rb-one'", "appId eq '%s'" % app["appId"]):
            got = self.deleted(g, "application", flt)
            self.assertEqual([(x["id"], x["appId"]) for x in got], [(app["id"], app["appId"])], flt)
            self.assertIsNotNone(got[0]["deletedDateTime"])
        self.assertEqual(self.deleted(g, "application", "displayName eq 'other'"), [])
        self.assertEqual([x["id"] for x in self.deleted(g, "servicePrincipal")], [sp["id"]])
        r = self.graph("GET", "/directory/deletedItems/" + app["id"], g)
        self.assertEqual((r.status, r.json["@odata.type"]), (200, "#microsoft.graph.application"))
        # a deleted app cannot log in
        self.assertEqual(self.token_req(self.w["tenant_id"], app["appId"], secret, ARM_SCOPE).json["error_codes"],
                         [700016])
        # permanent delete frees the name
        self.assertEqual(self.graph("DELETE", "/directory/deletedItems/" + app["id"], g).status, 204)
        r = self.graph("DELETE", "/directory/deletedItems/" + app["id"], g)
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "Request_ResourceNotFound"))
        r = self.graph("PATCH", "/applications(uniqueName='rb-one')", g, {"displayName": "rb-one"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201, r)
        self.assertNotEqual(r.json["appId"], app["appId"])
        self.assertEqual(self.graph("DELETE", "/directory/deletedItems/" + sp["id"], g).status, 204)
        self.assertEqual(self.world()["deletedItems"], [])

    def test_restore(self):
        g = self.admin(GRAPH_SCOPE)
        app, sp = self.app_with_sp(g, "rb-two")
        self.assertEqual(self.graph("DELETE", "/applications/" + app["id"], g).status, 204)
        r = self.graph("POST", "/directory/deletedItems/%s/restore" % app["id"], g)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["id"], r.json["appId"], r.json["deletedDateTime"]), (app["id"], app["appId"], None))
        self.assertEqual(self.graph("GET", "/applications(uniqueName='rb-two')", g).json["id"], app["id"])
        # restoring the application does not restore its service principal
        self.assertEqual(self.graph("GET", "/servicePrincipals(appId='%s')" % app["appId"], g).status, 404)
        # a new SP for the appId meanwhile: the old one cannot come back
        new_sp = self.graph("POST", "/servicePrincipals", g, {"appId": app["appId"]})
        self.assertEqual(new_sp.status, 201)
        r = self.graph("POST", "/directory/deletedItems/%s/restore" % sp["id"], g)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "Request_MultipleObjectsWithSameKeyValue"))
        self.assertEqual(self.graph("DELETE", "/servicePrincipals/" + new_sp.json["id"], g).status, 204)
        r = self.graph("POST", "/directory/deletedItems/%s/restore" % sp["id"], g)
        self.assertEqual((r.status, r.json["id"]), (200, sp["id"]))
        self.assertEqual(self.graph("GET", "/servicePrincipals(appId='%s')" % app["appId"], g).json["id"], sp["id"])
        # an SP whose application is deleted cannot be restored
        self.assertEqual(self.graph("DELETE", "/applications/" + app["id"], g).status, 204)
        self.assertEqual(self.graph("DELETE", "/directory/deletedItems/" + app["id"], g).status, 204)
        r = self.graph("POST", "/directory/deletedItems/%s/restore" % sp["id"], g)
        self.assertEqual(r.json["error"]["details"][0]["code"], "NoBackingApplicationObject", r)

    def test_owned_by_sees_and_restores_only_its_own(self):
        W = self.w
        g = self.admin(GRAPH_SCOPE)
        lim = self.token(W["tenant_id"], W["limited_client_id"], self.limited_secret, GRAPH_SCOPE)
        mine = self.graph("POST", "/applications", lim, {"displayName": "lim-del"}).json
        theirs, _ = self.app_with_sp(g, "rb-admin")
        for tok, app in ((lim, mine), (g, theirs)):
            self.assertEqual(self.graph("DELETE", "/applications/" + app["id"], tok).status, 204)
        self.assertEqual([x["id"] for x in self.deleted(lim, "application")], [mine["id"]])
        self.assertEqual(sorted(x["id"] for x in self.deleted(g, "application")), sorted([mine["id"], theirs["id"]]))
        r = self.graph("POST", "/directory/deletedItems/%s/restore" % theirs["id"], lim)
        self.assertEqual((r.status, r.json["error"]["code"]), (403, "Authorization_RequestDenied"))
        self.assertEqual(self.graph("DELETE", "/directory/deletedItems/" + theirs["id"], lim).status, 403)
        self.assertEqual(self.graph("POST", "/directory/deletedItems/%s/restore" % mine["id"], lim).status, 200)
        # other tenants do not see them
        other = self.admin(GRAPH_SCOPE, tenant=W["other_tenant_id"])
        self.assertEqual(self.deleted(other, "application"), [])
        self.assertEqual(self.graph("GET", "/directory/deletedItems/" + theirs["id"], other).status, 404)

    def test_recycle_bin_retention(self):
        g = self.admin(GRAPH_SCOPE)
        app, _ = self.app_with_sp(g, "rb-old")
        self.seed(settings={"recycle_bin_seconds": 0.3})
        self.graph("DELETE", "/applications/" + app["id"], g)
        self.eventually(self.world, lambda w: w["deletedItems"] == [])
        r = self.graph("PATCH", "/applications(uniqueName='rb-old')", g, {"displayName": "rb-old"},
                       headers={"Prefer": "create-if-missing"})
        self.assertEqual(r.status, 201, r)


if __name__ == "__main__":
    unittest.main()
