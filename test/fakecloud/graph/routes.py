# Copyright (c) 2026, peering developers
"""Microsoft Graph v1.0 (`/graph/v1.0/…`): applications, their passwords, service principals,
and the recycle bin (`/directory/deletedItems`)."""

import datetime
import re
import secrets
import time
from dataclasses import dataclass

from ..core.common import (GRAPH_PERMS, GRAPH_WRITERS, HttpError, iso, MULTI_TENANT, new_id, odata_key, READ_ALL,
                           READ_WRITE_ALL, READ_WRITE_OWNED_BY, Resp, SIGN_IN_AUDIENCES)
from ..core.models import Token
from ..core.routing import Service
from .models import Application
from .render import app_json, directory_object_json, pwd_json, sp_json

# an object addressed by id (`/applications/{id}`) or alternate key (`/applications(appId='…')`)
KEY = r"(?:/(?P<oid>[^/()]+)|\((?P<alt>appId|uniqueName|id)=(?:'(?P<quoted>(?:[^']|'')*)'|(?P<bare>[^')/]*))\))"
ACTION = r"/(?:microsoft\.graph\.)?"


@dataclass
class Caller:
    """The principal behind a Graph token and its app-only permissions."""
    token: Token
    perms: set

    @property
    def tenant(self):
        return self.token.tenant

    def may_read_any(self):
        return bool(self.perms & GRAPH_PERMS)

    def can_read(self, obj):
        if self.perms & {READ_WRITE_ALL, READ_ALL}:
            return True
        return READ_WRITE_OWNED_BY in self.perms and self.token.sp_id in obj.owners

    def can_write(self, obj):
        if READ_WRITE_ALL in self.perms:
            return True
        return READ_WRITE_OWNED_BY in self.perms and self.token.sp_id in obj.owners


def _key(oid=None, alt=None, quoted=None, bare=None):
    """(kind, value) of an addressed object; kind is id, appid or uniquename."""
    if oid is not None:
        return "id", oid
    return alt.lower(), odata_key(quoted) if quoted is not None else bare


class GraphService(Service):
    PREFIX = "/graph/v1.0"
    ROUTES = [
        ("POST", r"/applications", "create_app"),
        ("GET", r"/applications", "list_apps"),
        ("GET", r"/applications" + KEY, "get_app"),
        ("PATCH", r"/applications" + KEY, "patch_app"),
        ("DELETE", r"/applications" + KEY, "delete_app"),
        ("POST", r"/applications" + KEY + ACTION + "addPassword", "add_password"),
        ("POST", r"/applications" + KEY + ACTION + "removePassword", "remove_password"),
        ("POST", r"/servicePrincipals", "create_sp"),
        ("GET", r"/servicePrincipals", "list_sps"),
        ("GET", r"/servicePrincipals" + KEY, "get_sp"),
        ("PATCH", r"/servicePrincipals" + KEY, "patch_sp"),
        ("DELETE", r"/servicePrincipals" + KEY, "delete_sp"),
        ("GET", r"/directory/deletedItems/microsoft\.graph\.(?P<cast>application|servicePrincipal)", "list_deleted"),
        ("GET", r"/directory/deletedItems/(?P<oid>[^/]+)", "get_deleted"),
        ("DELETE", r"/directory/deletedItems/(?P<oid>[^/]+)", "purge_deleted"),
        ("POST", r"/directory/deletedItems/(?P<oid>[^/]+)" + ACTION + "restore", "restore_deleted"),
    ]
    ROUTE_FLAGS = re.I

    def handle(self, req):
        m = re.match(r"^/graph/v1\.0(/.*)?$", req.raw_path)
        if not m:
            raise self.error(400, "BadRequest", "Invalid version: only v1.0 is served by the fake.", req)
        caller = self.authenticate(req)
        path = re.sub("/+", "/", m.group(1) or "").rstrip("/")
        return self.router.dispatch(req, path, caller=caller)

    # -- error shape and answers ----------------------------------------------------------

    def error(self, status, code, message, req=None, **extra):
        """Graph's error: {"error":{"code","message","innerError":{…},…extra (details, values)}} + request ids."""
        rid = new_id()
        crid = (req.header("client-request-id") if req else None) or rid
        err = {"code": code, "message": message, "innerError": {"date": iso(time.time()), "request-id": rid,
                                                                "client-request-id": crid}}
        err.update(extra)
        return HttpError(Resp(status, {"error": err}, headers=[("request-id", rid), ("client-request-id", crid)]))

    def ok(self, status, obj, req):
        rid = new_id()
        return Resp(status, obj, headers=[("request-id", rid), ("client-request-id",
                                                                req.header("client-request-id") or rid)])

    def fault_error(self, status):
        return {"error": {"code": "TooManyRequests" if status == 429 else "serviceNotAvailable",
                          "message": "Injected fault (HTTP %d)" % status,
                          "innerError": {"request-id": new_id(), "date": iso(time.time())}}}

    def not_found(self, req):
        segment = req.raw_path.rstrip("/").rsplit("/", 1)[-1]
        return self.error(400, "BadRequest", "Resource not found for the segment '%s'." % segment, req)

    def not_allowed(self, req):
        return self.error(405, "Request_BadRequest", "Method not allowed.", req)

    def missing(self, ident, req):
        return self.error(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried "
                                                           "reference-property objects are not present." % ident, req)

    def deny(self, req):
        return self.error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
                          req)

    def no_backing_app(self, app_id, req):
        """400 for the SP of an application Graph does not know, or not yet (replication):
        hashicorp/vault-plugin-secrets-azure#8, PlaceOS/rest-api spec/graph_replication_retry_spec.cr."""
        message = "The appId '%s' of the service principal does not reference a valid application object." % app_id
        return self.error(400, "Request_BadRequest", message, req,
                          details=[{"code": "NoBackingApplicationObject", "message": message, "target": "appId"}])

    def sp_name_in_use(self, app_id, req):
        return self.error(409, "Request_MultipleObjectsWithSameKeyValue",
                          "The service principal cannot be created, updated, or restored because the service "
                          "principal name %s is already in use." % app_id, req)

    def unique_name_taken(self, req):
        return self.error(400, "Request_BadRequest", "Another object with the same value for property uniqueName "
                                                     "already exists.", req)

    # -- request helpers ------------------------------------------------------------------

    def authenticate(self, req):
        auth = req.header("Authorization") or ""
        if not auth.strip():
            raise self.error(401, "InvalidAuthenticationToken", "Access token is empty.", req)
        if not auth.lower().startswith("bearer "):
            raise self.error(401, "InvalidAuthenticationToken", "Access token validation failure.", req)
        tok = self.cloud.tokens.get(auth[7:].strip())
        if tok is None:
            raise self.error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid token.", req)
        if tok.aud != "graph":
            raise self.error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.",
                             req)
        if req.now >= tok.exp:
            raise self.error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                             req)
        sp = self.w.sp(tok.sp_id)
        return Caller(tok, set(sp.graph_permissions) if sp else set())

    def body(self, req, required=True):
        try:
            b = req.json_body()
        except ValueError:
            raise self.error(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                                                "header is set and payload is of valid JSON format.", req)
        if b is None:
            if required:
                raise self.error(400, "BadRequest", "Empty Payload. JSON content expected.", req)
            return {}
        if not isinstance(b, dict):
            raise self.error(400, "BadRequest", "Invalid JSON payload: an object is expected.", req)
        return b

    def filtered(self, req, items, fields):
        """`$filter=<field> eq '<value>'` on one of `fields` (attribute names of the records)."""
        f = req.qlower.get("$filter")
        if not f:
            return items
        m = re.match(r"^\s*(\w+)\s+eq\s+'(.*)'\s*$", f)
        if not m or m.group(1) not in fields:
            raise self.error(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                                                              "specified: '%s'." % f, req)
        attr, val = fields[m.group(1)], odata_key(m.group(2)).lower()
        return [x for x in items if (getattr(x, attr, None) or "").lower() == val]

    def collection(self, name, items, req):
        return self.ok(200, {"@odata.context": self.cloud.base_url + "/graph/v1.0/$metadata#" + name,
                             "value": items}, req)

    def visible(self, obj, ident, caller, req, now):
        """`obj` if it exists and has replicated, else 404 (403 for a caller without any permission)."""
        if obj is None or self.w.fresh(obj, now):
            if obj is None and not caller.may_read_any():
                raise self.deny(req)
            raise self.missing(ident, req)
        return obj

    # -- applications ---------------------------------------------------------------------

    APP_FILTERS = {"appId": "app_id", "uniqueName": "unique_name", "displayName": "display_name", "id": "id"}

    def validate_app(self, req, body, creating):
        if creating and not isinstance(body.get("displayName"), str):
            raise self.error(400, "Request_BadRequest", "Property 'displayName' is required.", req)
        if "signInAudience" in body and body["signInAudience"] not in SIGN_IN_AUDIENCES:
            raise self.error(400, "Request_BadRequest", "Invalid value specified for property 'signInAudience' of "
                                                        "resource 'Application'.", req)
        if body.get("passwordCredentials") and not creating:
            raise self.error(400, "Request_BadRequest", "Updating 'passwordCredentials' is not supported; use "
                                                        "addPassword.", req)

    def new_app(self, req, caller, body, unique):
        if not (caller.perms & GRAPH_WRITERS):
            raise self.deny(req)
        self.validate_app(req, body, True)
        # a deleted application keeps its uniqueName until purged (msgraph-bicep-types#202)
        if unique is not None and self.w.unique_name_holder(caller.tenant, unique) is not None:
            raise self.unique_name_taken(req)
        a = self.w.add_app(caller.tenant, body["displayName"], body.get("signInAudience") or "AzureADMyOrg",
                           unique=unique, owners=[caller.token.sp_id], created=req.now)
        a.description = body.get("description")
        a.tags = list(body.get("tags") or [])
        return self.ok(201, app_json(self.w, a, self.cloud.base_url), req)

    @staticmethod
    def update_app(a, body):
        for field_name, attr in (("displayName", "display_name"), ("signInAudience", "sign_in_audience"),
                                 ("description", "description")):
            if field_name in body:
                setattr(a, attr, body[field_name])
        if "tags" in body:
            a.tags = list(body["tags"] or [])

    def app(self, req, caller, key, write=False):
        """The addressed live application, checked for the caller's permission."""
        kind, val = key
        a = self.visible(self.w.find_app(caller.tenant, kind, val), val, caller, req, req.now)
        if not (caller.can_write(a) if write else caller.can_read(a)):
            raise self.deny(req)
        return a

    def create_app(self, req, caller):
        body = self.body(req)
        return self.new_app(req, caller, body, body.get("uniqueName"))

    def list_apps(self, req, caller):
        if not caller.may_read_any():
            raise self.deny(req)
        items = [a for a in self.w.apps_of(caller.tenant) if not self.w.fresh(a, req.now) and caller.can_read(a)]
        items = self.filtered(req, items, self.APP_FILTERS)
        return self.collection("applications", [app_json(self.w, a, self.cloud.base_url, False) for a in items], req)

    def get_app(self, req, caller, **key):
        return self.ok(200, app_json(self.w, self.app(req, caller, _key(**key)), self.cloud.base_url), req)

    def patch_app(self, req, caller, **key):
        kind, val = _key(**key)
        if kind == "uniquename":  # the upsert: sees the app at once, replicating or not
            body = self.body(req)
            a = self.w.find_app(caller.tenant, kind, val)
            if a is None:
                if "create-if-missing" not in (req.header("Prefer") or "").lower():
                    raise self.missing(val, req)
                return self.new_app(req, caller, body, val)
            if not caller.can_write(a):
                raise self.deny(req)
        else:
            a = self.app(req, caller, (kind, val), write=True)
            body = self.body(req)
        self.validate_app(req, body, False)
        self.update_app(a, body)
        return self.ok(204, None, req)

    def delete_app(self, req, caller, **key):
        """A soft delete: the app and its SP in its home tenant go to the recycle bin."""
        a = self.app(req, caller, _key(**key), write=True)
        home_sp = self.w.sp_for_app(a.tenant, a.app_id)
        self.w.soft_delete(a, req.now)
        if home_sp:
            self.w.soft_delete(home_sp, req.now)
        return self.ok(204, None, req)

    def parse_time(self, v, default, req):
        if v is None:
            return default
        if not isinstance(v, str):
            raise self.error(400, "Request_BadRequest", "Invalid date value.", req)
        try:
            dt = datetime.datetime.fromisoformat(re.sub(r"\.\d+", "", v.strip()).replace("Z", "+00:00"))
        except ValueError:
            raise self.error(400, "Request_BadRequest", "Invalid date value '%s'." % v, req)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.timezone.utc)
        return dt.timestamp()

    def add_password(self, req, caller, **key):
        a = self.app(req, caller, _key(**key), write=True)
        pc = self.body(req, required=False).get("passwordCredential") or {}
        if not isinstance(pc, dict):
            raise self.error(400, "Request_BadRequest", "Invalid passwordCredential.", req)
        start = self.parse_time(pc.get("startDateTime"), req.now, req)
        end = self.parse_time(pc.get("endDateTime"), start + 2 * 365 * 86400, req)
        if end <= start:
            raise self.error(400, "Request_BadRequest", "endDateTime must be later than startDateTime.", req)
        secret = "Fk" + secrets.choice("0123456789") + "~" + secrets.token_urlsafe(30)[:36]
        p = self.w.add_password(a, secret, pc.get("displayName"), created=req.now, start=start, end=end)
        context = self.cloud.base_url + "/graph/v1.0/$metadata#microsoft.graph.passwordCredential"
        return self.ok(200, dict([("@odata.context", context)] + list(pwd_json(p, True).items())), req)

    def remove_password(self, req, caller, **key):
        a = self.app(req, caller, _key(**key), write=True)
        kid = self.body(req).get("keyId")
        for p in a.passwords:
            if isinstance(kid, str) and p.key_id.lower() == kid.lower():
                a.passwords.remove(p)
                return self.ok(204, None, req)
        raise self.error(400, "Request_BadRequest", "No password credential found with keyId '%s'." % kid, req)

    # -- service principals ---------------------------------------------------------------

    SP_FILTERS = {"appId": "app_id", "displayName": "display_name", "id": "id"}

    def new_sp(self, req, caller, app_id):
        """Shared by POST /servicePrincipals and the upsert."""
        w = self.w
        if not (caller.perms & GRAPH_WRITERS):
            raise self.deny(req)
        app = w.app_anywhere(app_id)
        if app is None or w.fresh(app, req.now):
            raise self.no_backing_app(app_id, req)
        local = app.tenant.lower() == caller.tenant.lower()
        if READ_WRITE_ALL not in caller.perms:
            if not local:
                raise self.error(403, "Authorization_RequestDenied",
                                 "When using this permission, the backing application of the service principal "
                                 "being created must in the local tenant", req)
            if caller.token.sp_id not in app.owners:
                raise self.deny(req)
        if w.sp_for_app(caller.tenant, app_id):
            raise self.sp_name_in_use(app_id, req)
        if not local and app.sign_in_audience not in MULTI_TENANT:
            raise self.error(400, "Request_BadRequest",
                             "The service principal cannot be created because the application '%s' is not "
                             "configured as a multi-tenant application (signInAudience '%s')."
                             % (app_id, app.sign_in_audience), req)
        sp = w.add_sp(caller.tenant, app.app_id, created=req.now, owners=[caller.token.sp_id])
        return self.ok(201, sp_json(w, sp, self.cloud.base_url), req)

    def find_sp(self, req, caller, key):
        kind, val = key
        if kind == "uniquename":
            raise self.error(400, "BadRequest", "Unsupported alternate key 'uniqueName' for servicePrincipals.", req)
        sp = self.w.sp(val) if kind == "id" else self.w.sp_for_app(caller.tenant, val)
        return sp if sp is not None and sp.tenant.lower() == caller.tenant.lower() else None

    def service_principal(self, req, caller, key, write=False):
        sp = self.visible(self.find_sp(req, caller, key), key[1], caller, req, req.now)
        if not (caller.can_write(sp) if write else caller.can_read(sp)):
            raise self.deny(req)
        return sp

    def create_sp(self, req, caller):
        app_id = self.body(req).get("appId")
        if not isinstance(app_id, str) or not app_id:
            raise self.error(400, "Request_BadRequest", "Property 'appId' is required.", req)
        return self.new_sp(req, caller, app_id)

    def list_sps(self, req, caller):
        if not caller.may_read_any():
            raise self.deny(req)
        items = [s for s in self.w.sps_of(caller.tenant) if not self.w.fresh(s, req.now)]
        items = self.filtered(req, items, self.SP_FILTERS)
        return self.collection("servicePrincipals", [sp_json(self.w, s, self.cloud.base_url, False) for s in items],
                               req)

    def get_sp(self, req, caller, **key):
        return self.ok(200, sp_json(self.w, self.service_principal(req, caller, _key(**key)), self.cloud.base_url), req)

    def patch_sp(self, req, caller, **key):
        key = _key(**key)
        if key[0] == "appid":  # the upsert: sees the SP at once
            body = self.body(req, required=False)
            sp = self.find_sp(req, caller, key)
            if sp is None:
                if "create-if-missing" not in (req.header("Prefer") or "").lower():
                    raise self.missing(key[1], req)
                return self.new_sp(req, caller, key[1])
            if not caller.can_write(sp):
                raise self.deny(req)
        else:
            sp = self.service_principal(req, caller, key, write=True)
            body = self.body(req, required=False)
        if isinstance(body.get("displayName"), str):
            sp.display_name = body["displayName"]
        return self.ok(204, None, req)

    def delete_sp(self, req, caller, **key):
        self.w.soft_delete(self.service_principal(req, caller, _key(**key), write=True), req.now)
        return self.ok(204, None, req)

    # -- the recycle bin: /directory/deletedItems -----------------------------------------

    def list_deleted(self, req, caller, cast):
        if not caller.may_read_any():
            raise self.deny(req)
        want_apps = cast.lower() == "application"
        items = [o for o in self.w.deleted.values()
                 if isinstance(o, Application) == want_apps and o.tenant.lower() == caller.tenant.lower()
                 and caller.can_read(o)]
        items = self.filtered(req, items, self.APP_FILTERS)
        render, name = (app_json, "applications") if want_apps else (sp_json, "servicePrincipals")
        return self.collection(name, [render(self.w, o, self.cloud.base_url, False) for o in items], req)

    def deleted_item(self, req, caller, oid, write):
        obj = self.w.deleted.get(oid.lower())
        if obj is None or obj.tenant.lower() != caller.tenant.lower():
            if not caller.may_read_any():
                raise self.deny(req)
            raise self.missing(oid, req)
        if not (caller.can_write(obj) if write else caller.can_read(obj)):
            raise self.deny(req)
        return obj

    def get_deleted(self, req, caller, oid):
        obj = self.deleted_item(req, caller, oid, False)
        return self.ok(200, directory_object_json(self.w, obj, self.cloud.base_url), req)

    def purge_deleted(self, req, caller, oid):
        self.w.purge(self.deleted_item(req, caller, oid, True))
        return self.ok(204, None, req)

    def restore_deleted(self, req, caller, oid):
        """Same id and appId again.  An app's SP is not restored with it.  (An app cannot meet a
        uniqueName conflict: deleted apps keep theirs reserved, and it cannot be changed.)"""
        obj = self.deleted_item(req, caller, oid, True)
        if not isinstance(obj, Application):
            if self.w.app_anywhere(obj.app_id) is None:
                raise self.no_backing_app(obj.app_id, req)
            if self.w.sp_for_app(obj.tenant, obj.app_id) is not None:
                raise self.sp_name_in_use(obj.app_id, req)
        self.w.restore(obj)
        return self.ok(200, directory_object_json(self.w, obj, self.cloud.base_url), req)
