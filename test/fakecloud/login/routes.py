# Copyright (c) 2026, peering developers
"""Entra ID's v2 token endpoint, client-credentials grant only: `POST /login/{tenant}/oauth2/v2.0/token`."""

import base64
import hmac
import json
import secrets
import time
from urllib.parse import parse_qsl, unquote

from ..core.common import HttpError, new_id, Resp
from ..core.models import Token
from ..core.routing import Service

ARM_SCOPES = {
    "https://management.azure.com/.default", "https://management.azure.com//.default",
    "https://management.core.windows.net/.default", "https://management.core.windows.net//.default",
    "797f4846-ba00-4fd7-ba43-dac1f8f63013/.default",
}
GRAPH_SCOPES = {
    "https://graph.microsoft.com/.default", "https://graph.microsoft.com//.default",
    "00000003-0000-0000-c000-000000000000/.default",
}
NO_STORE = ("Cache-Control", "no-store, no-cache")


class LoginService(Service):
    PREFIX = "/login"
    ROUTES = [
        ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token/?", "token"),
    ]

    def handle(self, req):
        return self.router.dispatch(req, req.raw_path[len(self.PREFIX):])

    # -- error shape ----------------------------------------------------------------------

    def error(self, status, error, code, text):
        """Entra's error body: `error`, `error_description` ("AADSTSnnnn: …" + trace lines), codes, ids."""
        tid, cid, ts = new_id(), new_id(), time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (code, text, tid, cid, ts)
        return HttpError(Resp(status, {"error": error, "error_description": desc, "error_codes": [code],
                                       "timestamp": ts, "trace_id": tid, "correlation_id": cid,
                                       "error_uri": self.cloud.base_url + "/login/error?code=%d" % code},
                              headers=[NO_STORE, ("x-ms-request-id", tid)]))

    def fault_error(self, status):
        """The body of an injected fault, shaped like this service's own errors."""
        return json.loads(self.error(status, "temporarily_unavailable", 50196,
                                     "Injected fault (HTTP %d)" % status).resp.body)

    def not_found(self, req):
        return self.error(404, "invalid_request", 900561,
                          "The endpoint only accepts POST /{tenant}/oauth2/v2.0/token requests.")

    def not_allowed(self, req):
        return self.error(405, "invalid_request", 900561,
                          "The endpoint only accepts POST requests. Received a %s request." % req.method)

    # -- the grant ------------------------------------------------------------------------

    def _form(self, req):
        """The form fields, with a client secret from HTTP Basic too (URL-encoded id:secret)."""
        form = {}
        if (req.header("Content-Type") or "").lower().startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                cid, _, csec = base64.b64decode(auth[6:].strip()).decode().partition(":")
                form.setdefault("client_id", unquote(cid))
                form.setdefault("client_secret", unquote(csec))
            except (ValueError, UnicodeDecodeError):
                pass
        for field in ("grant_type", "client_id", "scope"):
            if not form.get(field):
                raise self.error(400, "invalid_request", 900144,
                                 "The request body must contain the following parameter: '%s'." % field)
        if form["grant_type"] != "client_credentials":
            raise self.error(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type '%s'." % form["grant_type"])
        return form

    def _audience(self, scope):
        """arm or graph; scopes of two resources, or unknown ones, are refused."""
        auds = {"arm" if s in ARM_SCOPES else "graph" if s in GRAPH_SCOPES else None for s in scope.split()}
        if len(auds) != 1 or None in auds:
            raise self.error(400, "invalid_scope", 70011,
                             "The provided request must include a 'scope' input parameter. The provided value for "
                             "the input parameter 'scope' is not valid. The scope %s is not valid." % scope)
        return auds.pop()

    def _password(self, app, secret, now):
        """The app's password credential matching `secret`, if it is usable now."""
        w = self.cloud.world
        match = None
        for p in app.passwords:
            if hmac.compare_digest(p.secret.encode(), secret.encode()):
                match = p
        if match is None or now - match.created < w.settings["secret_propagation_seconds"] or now < match.start:
            raise self.error(401, "invalid_client", 7000215,
                             "Invalid client secret provided. Ensure the secret being sent in the request is the "
                             "client secret value, not the client secret ID, for a secret added to app '%s'."
                             % app.app_id)
        if now >= match.end:
            raise self.error(401, "invalid_client", 7000222,
                             "The provided client secret keys for app '%s' are expired." % app.app_id)
        return match

    def token(self, req, tenant):
        w = self.cloud.world
        t = w.tenant(tenant)
        if t is None:
            raise self.error(400, "invalid_tenant", 90002,
                             "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are "
                             "signing into the correct cloud." % tenant)
        form = self._form(req)
        aud = self._audience(form["scope"])
        client_id = form["client_id"]
        now = req.now
        sp = w.sp_for_app(t.tenant_id, client_id)
        app = w.app_anywhere(client_id)
        if sp is None or app is None or w.fresh(sp, now):
            raise self.error(400, "unauthorized_client", 700016,
                             "Application with identifier '%s' was not found in the directory '%s'. This can happen "
                             "if the application has not been installed by the administrator of the tenant or "
                             "consented to by any user in the tenant. You may have sent your authentication request "
                             "to the wrong tenant." % (client_id, t.display_name))
        if not form.get("client_secret"):
            raise self.error(401, "invalid_client", 7000218,
                             "The request body must contain the following parameter: 'client_assertion' or "
                             "'client_secret'.")
        self._password(app, form["client_secret"], now)
        life = float(w.settings["token_lifetime_seconds"])
        tok = secrets.token_urlsafe(40)
        self.cloud.tokens[tok] = Token(tenant=t.tenant_id, app_id=app.app_id, sp_id=sp.id, aud=aud, iat=now,
                                       exp=now + life)
        return Resp(200, {"token_type": "Bearer", "expires_in": int(life), "ext_expires_in": int(life),
                          "access_token": tok},
                    headers=[NO_STORE, ("Pragma", "no-cache"), ("x-ms-request-id", new_id())])
