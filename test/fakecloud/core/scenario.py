# Copyright (c) 2026, peering developers
"""The two scenarios (their settings) and the world every start and reset begins with."""

import time

from ..arm.models import RoleDefinition
from .common import (CONTRIBUTOR_ROLE, did, NETWORK_CONTRIBUTOR_ROLE, OWNER_ROLE, PROVIDER_APP_ID,
                     READ_WRITE_ALL, READ_WRITE_OWNED_BY, READER_ROLE, UAA_ROLE)
from .world import World

def _flag(v):
    """A JSON boolean (a string such as "false" would read as true)."""
    if not isinstance(v, bool):
        raise ValueError("expected true or false, not %r" % (v,))
    return v


SETTING_KEYS = {
    "aiven_build_seconds": float, "aiven_activate_seconds": float, "aiven_delete_seconds": float,
    "deleted_retention_seconds": float, "role_propagation_seconds": float,
    "role_definition_propagation_seconds": float, "graph_replication_seconds": float,
    "secret_propagation_seconds": float, "async_operation_seconds": float, "recycle_bin_seconds": float,
    "token_lifetime_seconds": float, "page_size": int, "latency_ms": float, "vpc_build_seconds": float,
    "aiven_null_state_info": _flag, "aiven_refresh_seconds": float,
}
_COMMON = {"token_lifetime_seconds": 3599.0, "page_size": 2, "latency_ms": 0.0,
           "recycle_bin_seconds": 30 * 86400.0, "vpc_build_seconds": 0.0, "aiven_null_state_info": False,
           "aiven_refresh_seconds": 0.0}
SCENARIOS = {
    # every delay 0: tests see the end state at once
    "test": dict(_COMMON, aiven_build_seconds=0.0, aiven_activate_seconds=0.0, aiven_delete_seconds=0.0,
                 deleted_retention_seconds=0.0, role_propagation_seconds=0.0,
                 role_definition_propagation_seconds=0.0, graph_replication_seconds=0.0,
                 secret_propagation_seconds=0.0, async_operation_seconds=0.0),
    # a few seconds each: a full lifecycle in well under a minute, every transient visible
    "demo": dict(_COMMON, aiven_build_seconds=5.0, aiven_activate_seconds=4.0, aiven_delete_seconds=3.0,
                 deleted_retention_seconds=10.0, role_propagation_seconds=3.0,
                 role_definition_propagation_seconds=2.0, graph_replication_seconds=2.0,
                 secret_propagation_seconds=3.0, async_operation_seconds=2.0),
}

BUILTIN_ROLES = [
    (OWNER_ROLE, "Owner", "Grants full access to manage all resources, including the ability to assign roles in "
                          "Azure RBAC.", ["*"], []),
    (CONTRIBUTOR_ROLE, "Contributor", "Grants full access to manage all resources, but does not allow you to assign "
                                      "roles in Azure RBAC.",
     ["*"], ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
             "Microsoft.Authorization/elevateAccess/Action"]),
    (READER_ROLE, "Reader", "View all resources, but does not allow you to make any changes.", ["*/read"], []),
    (NETWORK_CONTRIBUTOR_ROLE, "Network Contributor", "Lets you manage networks, but not access to them.",
     ["Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"], []),
    (UAA_ROLE, "User Access Administrator", "Lets you manage user access to Azure resources.",
     ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], []),
]


def ids():
    """The deterministic ids and names of the seeded world (world.json's contract keys among them)."""
    return {
        "tenant_id": did("tenant:customer"),
        "provider_tenant_id": did("tenant:provider"),
        "other_tenant_id": did("tenant:other"),
        "subscription_id": did("subscription:customer"),
        "provider_subscription_id": did("subscription:provider"),
        "other_subscription_id": did("subscription:other"),
        "resource_group": "rg-peering",
        "vnet_name": "vnet-app",
        "second_vnet_name": "vnet-app2",
        "overlap_vnet_name": "vnet-overlap",
        "admin_client_id": did("app:admin"),
        "limited_client_id": did("app:limited"),
        "provider_app_id": PROVIDER_APP_ID,
        "project": "acme-prod",
        "other_project": "other-corp",
        "project_vpc_id": did("vpc:acme-prod:azure"),
        "aws_project_vpc_id": did("vpc:acme-prod:aws"),
        "vpc_network_cidr": "10.213.2.0/24",
    }


def initial_world(scenario, latency_ms, static):
    """A fresh world: the scenario's settings and the seeded objects, all older than every delay."""
    settings = dict(SCENARIOS[scenario], latency_ms=latency_ms)
    w = World(settings)
    I = ids()
    past = time.time() - 86400.0
    w.add_tenant(I["tenant_id"], "Acme Corp (customer)", "acme.onmicrosoft.com", "customer")
    w.add_tenant(I["provider_tenant_id"], "Aiven (provider)", "aivenprovider.onmicrosoft.com", "provider")
    w.add_tenant(I["other_tenant_id"], "Other Corp", "othercorp.onmicrosoft.com", "other")
    w.add_subscription(I["subscription_id"], I["tenant_id"], "acme-subscription")
    w.add_subscription(I["provider_subscription_id"], I["provider_tenant_id"], "aiven-provider-subscription")
    w.add_subscription(I["other_subscription_id"], I["other_tenant_id"], "other-subscription")
    sub = I["subscription_id"]
    for name, prefix in (("vnet-app", "10.1.0.0/16"), ("vnet-app2", "10.2.0.0/16"), ("vnet-overlap", "10.213.0.0/16")):
        w.add_vnet(sub, "rg-peering", name, [prefix], "westeurope", created=past)
    for guid, name, desc, actions, not_actions in BUILTIN_ROLES:
        w.add_role_definition(RoleDefinition(guid=guid, role_name=name, type="BuiltInRole", description=desc,
                                             actions=list(actions), not_actions=list(not_actions),
                                             assignable_scopes=["/"], tenant=None, created=past, updated=past))
    _seed_principals(w, I, static, past)
    w.add_project("acme-prod", static["aiven_token"])
    w.add_project("other-corp", static["other_aiven_token"])
    psub = I["provider_subscription_id"]
    w.add_project_vpc("acme-prod", "azure-westeurope", "10.213.2.0/24", psub, vpc_id=I["project_vpc_id"], created=past)
    w.add_project_vpc("acme-prod", "aws-eu-west-1", "10.214.0.0/24", psub, vpc_id=I["aws_project_vpc_id"],
                      created=past)
    w.add_project_vpc("other-corp", "azure-northeurope", "10.220.0.0/24", psub, vpc_id=did("vpc:other-corp:azure"),
                      created=past)
    return w


def _seed_principals(w, I, static, past):
    sub = "/subscriptions/" + I["subscription_id"]
    # the admin automation principal: multi-tenant, so it also has an SP in the other tenant
    admin = w.add_app(I["tenant_id"], "fakecloud-admin", "AzureADMultipleOrgs", app_id=I["admin_client_id"],
                      obj_id=did("appobj:admin"), created=past)
    w.add_password(admin, static["admin_secret"], "admin", created=past)
    sp = w.add_sp(I["tenant_id"], admin.app_id, obj_id=did("sp:admin"), created=past,
                  graph_permissions=[READ_WRITE_ALL])
    w.add_role_assignment(did("ra:admin-owner"), sub, OWNER_ROLE, sp.id, "ServicePrincipal", created=past)
    w.add_sp(I["other_tenant_id"], admin.app_id, obj_id=did("sp:admin:other"), created=past,
             graph_permissions=[READ_WRITE_ALL])
    w.add_role_assignment(did("ra:admin-owner-other"), "/subscriptions/" + I["other_subscription_id"], OWNER_ROLE,
                          did("sp:admin:other"), "ServicePrincipal", created=past)
    # the limited principal: OwnedBy + Reader
    lim = w.add_app(I["tenant_id"], "fakecloud-limited", "AzureADMyOrg", app_id=I["limited_client_id"],
                    obj_id=did("appobj:limited"), created=past)
    w.add_password(lim, static["limited_secret"], "limited", created=past)
    lsp = w.add_sp(I["tenant_id"], lim.app_id, obj_id=did("sp:limited"), created=past,
                   graph_permissions=[READ_WRITE_OWNED_BY])
    w.add_role_assignment(did("ra:limited-reader"), sub, READER_ROLE, lsp.id, "ServicePrincipal", created=past)
    # the provider app (multi-tenant) with its SP in the provider tenant only
    papp = w.add_app(I["provider_tenant_id"], "Aiven platform (fake)", "AzureADMultipleOrgs", app_id=PROVIDER_APP_ID,
                     obj_id=did("appobj:provider"), created=past)
    w.add_password(papp, static["provider_secret"], "provider", created=past)
    w.add_sp(I["provider_tenant_id"], PROVIDER_APP_ID, obj_id=did("sp:provider"), created=past,
             graph_permissions=[READ_WRITE_ALL])
