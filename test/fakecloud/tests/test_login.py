# Copyright (c) 2026, peering developers
"""The Entra ID token endpoint.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/fakecloud/tests -t test -v
"""

import unittest
import uuid
from urllib.parse import quote, urlencode

from .fakecase import (ARM_SCOPE, ARM_SCOPE_CLI, FakeCase, GRAPH_SCOPE, start_module_fake, stop_module_fake,
                       SUBS)

setUpModule, tearDownModule = start_module_fake, stop_module_fake  # one fake for this module's tests


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


if __name__ == "__main__":
    unittest.main()
