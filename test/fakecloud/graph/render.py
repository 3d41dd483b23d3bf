# Copyright (c) 2026, peering developers
"""Graph's JSON renderings of applications, password credentials and service principals."""

from ..core.common import iso
from .models import Application


def _with_context(context, obj):
    return dict([("@odata.context", context)] + list(obj.items()))


def pwd_json(p, with_secret):
    """A passwordCredential; `secretText` only in addPassword's answer, null in every read."""
    return {"customKeyIdentifier": None, "displayName": p.display_name, "endDateTime": iso(p.end), "hint": p.hint,
            "keyId": p.key_id, "secretText": p.secret if with_secret else None, "startDateTime": iso(p.start)}


def app_json(w, a, base_url, ctx=True):
    o = {"id": a.id, "appId": a.app_id, "displayName": a.display_name, "uniqueName": a.unique_name,
         "signInAudience": a.sign_in_audience, "createdDateTime": iso(a.created),
         "publisherDomain": w.tenant(a.tenant).default_domain,
         "deletedDateTime": iso(a.deleted) if a.deleted else None, "description": a.description, "notes": None,
         "tags": list(a.tags), "identifierUris": [], "keyCredentials": [], "requiredResourceAccess": [],
         "passwordCredentials": [pwd_json(p, False) for p in a.passwords]}
    return _with_context(base_url + "/graph/v1.0/$metadata#applications/$entity", o) if ctx else o


def sp_json(w, s, base_url, ctx=True):
    app = w.app_anywhere(s.app_id)
    o = {"id": s.id, "appId": s.app_id, "displayName": s.display_name,
         "appDisplayName": app.display_name if app else s.display_name,
         "appOwnerOrganizationId": s.app_owner_organization_id, "accountEnabled": True,
         "servicePrincipalNames": [s.app_id], "servicePrincipalType": "Application",
         "signInAudience": app.sign_in_audience if app else None,
         "deletedDateTime": iso(s.deleted) if s.deleted else None, "tags": [],
         "passwordCredentials": [], "keyCredentials": [], "appRoleAssignmentRequired": False}
    return _with_context(base_url + "/graph/v1.0/$metadata#servicePrincipals/$entity", o) if ctx else o


def directory_object_json(w, obj, base_url):
    """A deleted item as /directory/deletedItems/{id} returns it: typed by `@odata.type`."""
    if isinstance(obj, Application):
        kind, body = "application", app_json(w, obj, base_url, False)
    else:
        kind, body = "servicePrincipal", sp_json(w, obj, base_url, False)
    return dict([("@odata.context", base_url + "/graph/v1.0/$metadata#directoryObjects/$entity"),
                 ("@odata.type", "#microsoft.graph." + kind)] + list(body.items()))
