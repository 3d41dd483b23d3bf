# Copyright (c) 2026, peering developers
"""Fault presets: `POST /_fake/faults {"preset": NAME, …}` answers with a real service's
non-happy answer, built by that service's own error method so the envelope is the one the
fake uses everywhere.  Each preset names its public source (README "Fault presets").

Message placeholders: {uuid} a fresh UUID each, {hex} a fresh UUID without dashes, {path} the
request path below the service prefix (for ARM: the resource id), {parent} that path without
its last two segments (a peering's VNet)."""

import json
import re
import uuid
from dataclasses import dataclass, field

from .common import new_id, PEER_ACTION, PEERING_WRITE

NO_BACKING_APP = "The appId '{uuid}' of the service principal does not reference a valid application object."
PEERING = "{parent}/virtualNetworkPeerings"
REMOTE_VNET = "/subscriptions/{uuid}/resourceGroups/rg-remote/providers/Microsoft.Network/virtualNetworks/vnet-remote"


@dataclass(frozen=True)
class Preset:
    service: str  # login | graph | arm | aiven: whose error envelope
    status: int
    code: object  # Graph/ARM code; login: (error, AADSTS number); Aiven: error_code or None
    message: object  # str template, or for Graph's old shape {"lang","value"}
    source: str
    headers: tuple = ()
    extra: dict = field(default_factory=dict)  # more keys of Graph's error object (details, values)


PRESETS = {
    # Microsoft Graph
    "NoBackingApplicationObject": Preset(
        "graph", 400, "Request_BadRequest", NO_BACKING_APP,
        "hashicorp/vault-plugin-secrets-azure#8; PlaceOS/rest-api spec/graph_replication_retry_spec.cr (v1.0 details)",
        extra={"details": [{"code": "NoBackingApplicationObject", "message": NO_BACKING_APP, "target": "appId"}]}),
    "NoBackingApplicationObjectLegacy": Preset(
        "graph", 400, "Request_BadRequest", {"lang": "en", "value": NO_BACKING_APP},
        "hashicorp/vault-plugin-secrets-azure#8, kubernetes-retired/kubernetes-anywhere#251 (AAD Graph era; "
        "hashicorp/go-azure-sdk sdk/odata/errors.go: message sometimes an object)",
        extra={"values": [{"item": "PropertyName", "value": "appId"},
                          {"item": "PropertyErrorCode", "value": "NoBackingApplicationObject"}]}),
    "BackingApplicationNotLocal": Preset(
        "graph", 403, "Authorization_RequestDenied",
        "When using this permission, the backing application of the service principal being created must in the "
        "local tenant", "hashicorp/vault-plugin-secrets-azure#49"),
    "GraphReplicationNotFound": Preset(
        "graph", 404, "Request_ResourceNotFound",
        "Resource '{uuid}' does not exist or one of its queried reference-property objects are not present.",
        "hashicorp/vault-plugin-secrets-azure#20; microsoftgraph/msgraph-sdk-javascript#1999"),
    "GraphFailedDependency": Preset(
        "graph", 424, "FailedDependency", "Failed dependency.",
        "hashicorp/go-azure-sdk sdk/client/client.go retries 424 (body shape unconfirmed)"),
    "GraphThrottled": Preset(
        "graph", 429, "UnknownError", "",
        "learn.microsoft.com/graph/throttling (429 + Retry-After); body as in Microsoft's throttling blog example",
        headers=(("Retry-After", "1"),)),
    "GraphServiceNotAvailable": Preset(
        "graph", 503, "serviceNotAvailable",
        "The service is not available. Try the request again after a delay. There may be a Retry-After header.",
        "microsoft-graph-docs-contrib concepts/errors.md", headers=(("Retry-After", "1"),)),
    "UniqueNameTaken": Preset(
        "graph", 400, "Request_BadRequest",
        "Another object with the same value for property uniqueName already exists.",
        "microsoftgraph/msgraph-bicep-types#137, #202"),
    "AuthorizationRequestDenied": Preset(
        "graph", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
        "microsoft-graph-docs-contrib concepts/errors.md"),
    # Azure Resource Manager
    "RoleDefinitionDoesNotExist": Preset(
        "arm", 400, "RoleDefinitionDoesNotExist", "The specified role definition with ID '{uuid}' does not exist.",
        "hashicorp/terraform-provider-azurerm#10479, pulumi/pulumi-azure#840"),
    "PrincipalNotFound": Preset(
        "arm", 400, "PrincipalNotFound",
        "Principal {hex} does not exist in the directory {uuid}. Check that you have the correct principal ID. If you "
        "are creating this principal and then immediately assigning a role, this error might be related to a "
        "replication delay. In this case, set the role assignment principalType property to a value, such as "
        "ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype", "Azure/avdaccelerator#76"),
    "ReferencedResourceNotProvisioned": Preset(
        "arm", 400, "ReferencedResourceNotProvisioned",
        "Cannot proceed with operation because resource {parent} used by resource {path} is not in Succeeded state. "
        "Resource is in Updating state and the last operation that updated/is updating the resource is "
        "PutSubnetOperation.", "hashicorp/terraform-provider-azurerm PR #3392"),
    "AnotherOperationInProgress": Preset(
        "arm", 409, "AnotherOperationInProgress", "Another operation on this or dependent resource is in progress.",
        "MicrosoftDocs/azure-docs request-limits-and-throttling.md (Microsoft.Network resource locks)"),
    "RetryableErrorDueToAnotherOperation": Preset(
        "arm", 429, "RetryableErrorDueToAnotherOperation",
        "Operation on {path} is not allowed because another operation is in progress.",
        "MicrosoftDocs/azure-docs request-limits-and-throttling.md", headers=(("Retry-After", "1"),)),
    "RemotePeeringIsDisconnected": Preset(
        "arm", 400, "RemotePeeringIsDisconnected",
        "Cannot create or update peering {path} because remote peering " + REMOTE_VNET + "/virtualNetworkPeerings/back "
        "referencing parent virtual network {parent} is in Disconnected state. Update or re-create the remote peering "
        "to get it back to Initiated state. Peering gets Disconnected when remote vnet or remote peering is deleted "
        "and re-created.", "hashicorp/terraform-provider-azurerm#14051"),
    "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet": Preset(
        "arm", 400, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet",
        "Cannot create or update peering {path}. Virtual networks {parent} and " + REMOTE_VNET + " cannot be peered "
        "because address space of the first virtual network overlaps with address space of virtual network "
        "/subscriptions/{uuid}/resourceGroups/rg-other/providers/Microsoft.Network/virtualNetworks/vnet-other already "
        "peered with the second virtual network. Overlapping address prefixes: 10.0.0.0/24.",
        "Azure/ResourceModules#731"),
    "AuthorizationFailed": Preset(
        "arm", 403, "AuthorizationFailed",
        "The client '{uuid}' with object id '{uuid}' does not have authorization to perform action '" + PEERING_WRITE +
        "' over scope '{path}' or the scope is invalid. If access was recently granted, please refresh your "
        "credentials.", "MicrosoftDocs/azure-docs role-based-access-control/troubleshooting.md"),
    "LinkedAuthorizationFailed": Preset(
        "arm", 403, "LinkedAuthorizationFailed",
        "The client has permission to perform action '" + PEER_ACTION + "' on scope '{path}', however the current "
        "tenant '{uuid}' is not authorized to access linked subscription '{uuid}'.", "Azure/azure-cli#16691"),
    "ArmThrottled": Preset(
        "arm", 429, "TooManyRequests", "The request is being throttled.",
        "MicrosoftDocs/azure-docs azure-resource-manager/management/request-limits-and-throttling.md",
        headers=(("Retry-After", "1"), ("x-ms-ratelimit-remaining-subscription-writes", "0"))),
    "ArmInternalError": Preset("arm", 500, "InternalServerError", "Encountered internal server error.",
                               "MicrosoftDocs/azure-docs azure-resource-manager/management/async-operations.md"),
    "ArmNotImplemented": Preset("arm", 501, "NotImplemented", "The requested operation is not implemented.",
                                "hashicorp/go-azure-sdk sdk/client/client.go (501 is not retried)"),
    "RoleDefinitionHasAssignments": Preset(
        "arm", 409, "RoleDefinitionHasAssignments", "There are existing role assignments referencing role",
        "MicrosoftDocs/azure-docs role-based-access-control/custom-roles.md"),
    # Entra ID token endpoint
    "InvalidClientSecret": Preset(
        "login", 401, ("invalid_client", 7000215),
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not "
        "the client secret ID, for a secret added to app '{uuid}'.", "hashicorp/vault-plugin-secrets-azure#156"),
    "ApplicationNotFoundInTenant": Preset(
        "login", 400, ("unauthorized_client", 700016),
        "Application with identifier '{uuid}' was not found in the directory '{uuid}'. This can happen if the "
        "application has not been installed by the administrator of the tenant or consented to by any user in the "
        "tenant. You may have sent your authentication request to the wrong tenant.",
        "MicrosoftDocs/entra-docs docs/identity-platform/reference-error-codes.md"),
    # Aiven
    "AivenServiceUnavailable": Preset("aiven", 503, None, "Service temporarily unavailable",
                                      "aiven/go-client-codegen retry.go (5xx retried)"),
    "AivenConflict": Preset("aiven", 409, None, "Peering connection already exists",
                            "aiven/go-client-codegen error.go IsAlreadyExists (409 + \"already exists\")"),
}


def _fill(template, path):
    """The template with its placeholders filled (recursively in a Graph message object)."""
    if isinstance(template, dict):
        return {k: _fill(v, path) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, path) for v in template]
    if not isinstance(template, str):
        return template
    parent = path.rsplit("/", 2)[0]
    s = re.sub(r"\{uuid\}", lambda m: new_id(), template)
    s = re.sub(r"\{hex\}", lambda m: uuid.uuid4().hex, s)
    return s.replace("{path}", path).replace("{parent}", parent)


def render(cloud, name, path):
    """The preset's answer (a Resp) for a request to `path` (full request path)."""
    p = PRESETS[name]
    service = getattr(cloud, p.service)
    below = re.sub(r"^/(?:arm|aiven|login|graph/v1\.0)", "", path)
    message = _fill(p.message, below)
    if p.service == "graph":
        err = service.error(p.status, p.code, message, **_fill(p.extra, below))
    elif p.service == "arm":
        err = service.error(p.status, p.code, message)
    elif p.service == "login":
        err = service.error(p.status, p.code[0], p.code[1], message)
    else:
        err = service.error(p.status, message, p.code)
    err.resp.headers.extend(p.headers)
    return err.resp


def catalogue(cloud):
    """GET /_fake/faults/presets: name -> status, an example body (placeholders filled), source."""
    out = {}
    for name, p in PRESETS.items():
        resp = render(cloud, name, "/{path}/x/y")
        out[name] = {"status": p.status, "body": json.loads(resp.body), "headers": dict(p.headers),
                     "source": p.source}
    return out
