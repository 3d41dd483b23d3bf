# Copyright (c) 2026, peering developers
"""`POST /_fake/seed`: tests add, change and remove things the real clouds would let an admin
do out of band.  Each key has a seeder; they run in table order and each reports under its
output key.  Seeded principals and grants are already past every delay."""

import ipaddress
import secrets

from ..aiven.models import AivenService, PeeringConnection
from ..aiven.routes import AivenService as AivenApi
from ..arm.authz import ROLE_DEFINITION_ID_RE
from ..arm.peering import PEERINGS_PER_VNET
from ..arm.render import role_assignment_id
from .common import did, is_uuid, iso, new_id, norm, overlapping
from .scenario import ids, SETTING_KEYS
from .transitions import ACTIVE_INFO, provider_peering_name, set_state, sync_peerings


def _role_guid(w, role, tenant):
    """A role given by GUID, role definition id or name."""
    if is_uuid(role):
        return role.lower()
    mm = ROLE_DEFINITION_ID_RE.search(role)
    if mm:
        return mm.group(1).lower()
    rd = w.role_definition_named(role, tenant)
    if rd is None:
        raise ValueError("unknown role %r" % role)
    return rd.guid


def _tenant(w, t):
    tenant = w.tenant(t)
    if tenant is None:
        raise ValueError("unknown tenant %r" % t)
    return tenant


def _sp_of(w, tenant, app_id):
    sp = w.sp_for_app(tenant, app_id)
    if sp is None:
        raise ValueError("no service principal for app %s in tenant %s" % (app_id, tenant))
    return sp


def settings(cloud, items, now):
    for k, v in (items or {}).items():
        if k not in SETTING_KEYS:
            raise ValueError("unknown setting %r" % k)
        cloud.world.settings[k] = SETTING_KEYS[k](v)
    return dict(cloud.world.settings)


def tenants(cloud, items, now):
    out = []
    for t in items or []:
        tid = t.get("id") or new_id()
        cloud.world.add_tenant(tid, t.get("name") or "tenant " + tid[:8], t.get("domain") or
                               "t%s.onmicrosoft.com" % tid[:8])
        out.append(tid)
    return out


def subscriptions(cloud, items, now):
    out = []
    for s in items or []:
        sid = s.get("id") or new_id()
        tenant = _tenant(cloud.world, s["tenant"]).tenant_id
        cloud.world.add_subscription(sid, tenant, s.get("name") or "sub " + sid[:8])
        out.append(sid)
    return out


def vnets(cloud, items, now):
    """A VNet in an unknown subscription creates it, in `tenant` (default: the customer's)."""
    w, out = cloud.world, []
    for v in items or []:
        sub = v.get("subscription") or ids()["subscription_id"]
        if w.subscription(sub) is None:
            w.add_subscription(sub, _tenant(w, v.get("tenant") or ids()["tenant_id"]).tenant_id, "sub " + sub[:8])
        if w.vnet(sub, v["resource_group"], v["name"]):
            raise ValueError("vnet %s/%s already exists" % (v["resource_group"], v["name"]))
        out.append(w.add_vnet(sub, v["resource_group"], v["name"], list(v["address_prefixes"]),
                              v.get("location") or "westeurope", created=now).id)
    return out


def remove_vnets(cloud, items, now):
    w, n = cloud.world, 0
    for v in items or []:
        x = w.vnet(v["subscription"], v["resource_group"], v["name"])
        if x and w.remove_vnet(x.id):
            n += 1
    return n


def address_spaces(cloud, items, now):
    """An admin changes a VNet's address prefixes, as Azure allows for a peered VNet: the
    peerings toward it fall out of sync until they are synced; no overlap with a peered VNet."""
    w, out = cloud.world, []
    for a in items or []:
        v = w.vnet(a["subscription"], a["resource_group"], a["name"])
        if v is None:
            raise ValueError("vnet %s/%s not found" % (a["resource_group"], a["name"]))
        prefixes = [str(ipaddress.ip_network(x)) for x in a["address_prefixes"]]
        for p in v.peerings.values():
            rv = w.vnet_by_id(p.remote_id)
            if rv is not None and overlapping(prefixes, rv.address_prefixes):
                raise ValueError("address space %s overlaps with peered vnet %s" % (", ".join(prefixes), rv.id))
        v.address_prefixes = prefixes
        out.append(v.id)
    return out


def synced_peerings(cloud, items, now):
    """The owner of a peering syncs it (what the provider does for its side): as a PUT with
    ?syncRemoteAddressSpace=true."""
    w, n = cloud.world, 0
    for p in items or []:
        v = w.vnet_by_id(p["vnet_id"])
        q = v.peerings.get(p["name"].lower()) if v else None
        if q is None:
            raise ValueError("peering %s of %s not found" % (p["name"], p["vnet_id"]))
        w.sync_remote_address_space(q)
        n += 1
    return n


def peering_flags(cloud, items, now):
    """An admin changes a peering's settings in the portal (allow access to the remote VNet,
    forwarded traffic, gateway transit, remote gateways), as Azure allows on a live peering."""
    w, n = cloud.world, 0
    attrs = {"allowVirtualNetworkAccess": "allow_vnet_access", "allowForwardedTraffic": "allow_forwarded_traffic",
             "allowGatewayTransit": "allow_gateway_transit", "useRemoteGateways": "use_remote_gateways"}
    for p in items or []:
        v = w.vnet_by_id(p["vnet_id"])
        q = v.peerings.get(p["name"].lower()) if v else None
        if q is None:
            raise ValueError("peering %s of %s not found" % (p["name"], p["vnet_id"]))
        for flag, attr in attrs.items():
            if flag in p:
                setattr(q, attr, bool(p[flag]))
        n += 1
    return n


def remove_peerings(cloud, items, now):
    w, n = cloud.world, 0
    for p in items or []:
        v = w.vnet(p["subscription"], p["resource_group"], p["vnet"])
        if v and w.remove_peering(v, p["name"]) is not None:
            n += 1
    return n


def aiven_projects(cloud, items, now):
    out = []
    for p in items or []:
        tok = p.get("token") or secrets.token_urlsafe(32)
        if p["name"] in cloud.world.projects:
            raise ValueError("project %r exists" % p["name"])
        cloud.world.add_project(p["name"], tok)
        out.append({"name": p["name"], "token": tok})
    return out


def aiven_vpcs(cloud, items, now):
    """`count` N: N VPCs with consecutive CIDRs of the given size, each with its provider VNet."""
    w, out = cloud.world, []
    for spec in items or []:
        project = spec.get("project") or ids()["project"]
        if project not in w.projects:
            raise ValueError("unknown project %r" % project)
        count = int(spec.get("count", 1))
        base = ipaddress.ip_network(spec["network_cidr"], strict=True)
        for i in range(count):
            cidr = str(base) if count == 1 else str(ipaddress.ip_network(
                (int(base.network_address) + i * base.num_addresses, base.prefixlen)))
            vpc = w.add_project_vpc(project, spec.get("cloud_name") or "azure-westeurope", cidr,
                                    ids()["provider_subscription_id"], created=now, state=spec.get("state") or "ACTIVE")
            out.append({"project": project, "project_vpc_id": vpc.project_vpc_id, "cloud_name": vpc.cloud_name,
                        "network_cidr": cidr, "provider_vnet_id": vpc.provider_vnet_id})
    return out


def aiven_services(cloud, items, now):
    """Services of a project, in a project VPC or not (`project_vpc_id` null), with the IP
    filter given (checked as Aiven's PUT checks it; default Aiven's `0.0.0.0/0`)."""
    w, out = cloud.world, []
    for spec in items or []:
        project = spec.get("project") or ids()["project"]
        proj = w.projects.get(project)
        if proj is None:
            raise ValueError("unknown project %r" % project)
        vpc_id = spec.get("project_vpc_id")
        if vpc_id is not None and vpc_id not in proj.vpcs:
            raise ValueError("no project VPC %r" % vpc_id)
        ip_filter = spec.get("ip_filter", ["0.0.0.0/0"])
        try:
            AivenApi.check_ip_filter(ip_filter)
        except Exception:
            raise ValueError("invalid ip_filter %r" % (ip_filter,))
        proj.services[spec["service_name"]] = AivenService(
            service_name=spec["service_name"], project_vpc_id=vpc_id, user_config={"ip_filter": list(ip_filter)},
            create_time=iso(now), update_time=iso(now))
        out.append({"project": project, "service_name": spec["service_name"]})
    return out


def aiven_vpc_states(cloud, items, now):
    """A project VPC enters a state: APPROVED (being built: ACTIVE after `vpc_build_seconds`, and
    peering requests answer 409 meanwhile), ACTIVE, DELETING."""
    w, n = cloud.world, 0
    for spec in items or []:
        proj = w.projects.get(spec.get("project") or ids()["project"])
        vpc = proj.vpcs.get(spec["project_vpc_id"]) if proj else None
        if vpc is None:
            raise ValueError("no project VPC %r" % spec["project_vpc_id"])
        if spec["state"] not in ("APPROVED", "ACTIVE", "DELETING"):
            raise ValueError("unknown project VPC state %r" % spec["state"])
        w.set_vpc_state(vpc, spec["state"], now)
        n += 1
    return n


def _scope(w, scope):
    if w.scope_tenant(scope) is None:
        raise ValueError("scope %r is not in a known subscription" % scope)
    return scope.rstrip("/")


def policy_denials(cloud, items, now):
    """Azure Policy assignments with a deny effect: a PUT at or below `scope` of a resource of
    `resource_type`, or needing `action`, answers 403 RequestDisallowedByPolicy."""
    w, out = cloud.world, []
    for spec in items or []:
        if not (spec.get("resource_type") or spec.get("action")) or not spec.get("assignment_name"):
            raise ValueError("a policy denial needs assignment_name and resource_type or action")
        d = {"scope": _scope(w, spec["scope"]), "resource_type": spec.get("resource_type"),
             "action": spec.get("action"), "assignment_name": spec["assignment_name"],
             "display_name": spec.get("display_name") or spec["assignment_name"],
             "definition": did("policy-definition:" + spec["assignment_name"])}
        w.policy_denials.append(d)
        out.append("%s/providers/Microsoft.Authorization/policyAssignments/%s" % (d["scope"], d["assignment_name"]))
    return out


def _remove_named(items, records, key):
    """The records whose `key` no item names, and how many went."""
    names = {spec[key] for spec in items or []}
    kept = [r for r in records if r[key] not in names]
    return kept, len(records) - len(kept)


def remove_policy_denials(cloud, items, now):
    w = cloud.world
    w.policy_denials, removed = _remove_named(items, w.policy_denials, "assignment_name")
    return removed


def locks(cloud, items, now):
    """Management locks: CanNotDelete refuses DELETEs at or below `scope`, ReadOnly PUTs too
    (409 ScopeLocked)."""
    w, out = cloud.world, []
    for spec in items or []:
        if spec.get("level") not in ("CanNotDelete", "ReadOnly"):
            raise ValueError("lock level must be CanNotDelete or ReadOnly")
        scope = _scope(w, spec["scope"])
        w.locks.append({"scope": scope, "level": spec["level"], "name": spec.get("name") or "lock"})
        out.append("%s/providers/Microsoft.Authorization/locks/%s" % (scope, spec.get("name") or "lock"))
    return out


def remove_locks(cloud, items, now):
    w = cloud.world
    w.locks, removed = _remove_named(items, w.locks, "name")
    return removed


def aiven_set_state(cloud, items, now):
    n = 0
    for spec in items or []:
        vpc = cloud.world.projects[spec.get("project") or ids()["project"]].vpcs[spec["project_vpc_id"]]
        for c in vpc.connections:
            if all(spec.get(k) is None or getattr(c, k) == spec[k]
                   for k in ("peer_cloud_account", "peer_resource_group", "peer_vpc")):
                info = spec.get("state_info")
                if info is None and spec["state"] != "APPROVED":
                    info = {"message": "State set by the test harness", "type": spec["state"].lower()}
                set_state(c, spec["state"], info, now)
                cloud.world.watch(vpc, c)
                n += 1
    return n


def _active_peering(w, spec, past):
    """One peering as a finished lifecycle leaves it (README "Seeding ACTIVE peerings")."""
    project = spec.get("project") or ids()["project"]
    vpc = w.projects[project].vpcs.get(spec["project_vpc_id"]) if project in w.projects else None
    if vpc is None or not vpc.is_azure:
        raise ValueError("no Azure project VPC %r in project %r" % (spec["project_vpc_id"], project))
    sub = w.subscription(spec.get("subscription") or ids()["subscription_id"])
    v = w.vnet(sub.subscription_id, spec["resource_group"], spec["vnet"]) if sub else None
    if v is None:
        raise ValueError("no VNet %s/%s to peer" % (spec["resource_group"], spec["vnet"]))
    if overlapping(v.address_prefixes, [vpc.network_cidr]):
        raise ValueError("VNet %s overlaps project VPC %s" % (v.id, vpc.network_cidr))
    if len(v.peerings) >= PEERINGS_PER_VNET:
        raise ValueError("VNet %s already has %d peerings, Azure's limit" % (v.id, PEERINGS_PER_VNET))
    account, rg, name = v.subscription.lower(), v.resource_group.lower(), v.name.lower()
    if any((c.peer_cloud_account, c.peer_resource_group, c.peer_vpc) == (account, rg, name)
           for c in vpc.connections):
        raise ValueError("project VPC %s already has a connection to %s" % (vpc.project_vpc_id, v.id))
    c = PeeringConnection(create_time=iso(past), update_time=iso(past), peer_cloud_account=account,
                          peer_resource_group=rg, peer_vpc=name, peer_region=None,
                          peer_azure_app_id=spec.get("app_id") or new_id(), peer_azure_tenant_id=v.tenant,
                          user_peer_network_cidrs=[], vpc_peering_connection_type="azure-vnet-peering",
                          since=past, uid=new_id(), state="ACTIVE", state_info=dict(ACTIVE_INFO))
    mine = w.add_peering(v, spec["peering_name"], vpc.provider_vnet_id, True, past)
    theirs = w.add_peering(w.vnet_by_id(vpc.provider_vnet_id), provider_peering_name(c), v.id, True, past,
                           owner="provider")
    c.customer_peering, c.provider_peering = mine.id, (vpc.provider_vnet_id, theirs.name.lower())
    w.add_connection(vpc, c)
    return {"peering_id": mine.id, "provider_peering_id": theirs.id, "app_id": c.peer_azure_app_id,
            "to_tenant_id": ids()["provider_tenant_id"], "to_network_id": vpc.provider_vnet_id}


def active_peerings(cloud, items, now):
    """ACTIVE peerings in bulk (benchmarks): the customer's peering (allowVirtualNetworkAccess)
    and the provider's reverse one, both Connected, and the Aiven connection ACTIVE, all past
    every delay; without the app, SP and role assignments a real lifecycle also makes."""
    w = cloud.world
    out = [_active_peering(w, spec, now - 86400) for spec in items or []]
    sync_peerings(w, now)
    return out


def remove_aiven_vpcs(cloud, items, now):
    """A removed project VPC takes its provider VNet (and that VNet's peerings) with it."""
    w, n = cloud.world, 0
    for spec in items or []:
        proj = w.projects.get(spec.get("project") or ids()["project"])
        vpc = proj.vpcs.get(spec["project_vpc_id"]) if proj else None
        if vpc:
            w.remove_project_vpc(vpc)
            n += 1
    return n


def remove_aiven_projects(cloud, items, now):
    return sum(1 for spec in items or [] if cloud.world.remove_project(spec["name"]))


def principals(cloud, items, now):
    w, out = cloud.world, []
    for p in items or []:
        tenant = _tenant(w, p.get("tenant") or ids()["tenant_id"])
        app = w.add_app(tenant.tenant_id, p.get("name") or "seeded-app", p.get("sign_in_audience") or "AzureADMyOrg",
                        created=now - 86400)
        res = {"name": app.display_name, "tenant": tenant.tenant_id, "app_id": app.app_id, "app_object_id": app.id,
               "sp_id": None, "secret": None}
        if p.get("secret", True):
            res["secret"] = "sd~" + secrets.token_urlsafe(30)
            w.add_password(app, res["secret"], "seeded", created=now - 86400)
        if p.get("service_principal", True):
            sp = w.add_sp(tenant.tenant_id, app.app_id, created=now - 86400,
                          graph_permissions=list(p.get("graph_permissions") or []))
            res["sp_id"] = sp.id
            for r in p.get("roles") or []:
                w.add_role_assignment(new_id(), r["scope"], _role_guid(w, r["role"], tenant.tenant_id), sp.id,
                                      "ServicePrincipal", created=now - 86400)
        out.append(res)
    return out


def grants(cloud, items, now):
    w, out = cloud.world, []
    for g in items or []:
        pid = g.get("principal_id") or _sp_of(w, g["tenant"], g["app_id"]).id
        tenant = w.scope_tenant(g["scope"])
        if tenant is None:
            raise ValueError("scope %r is not in a known subscription" % g["scope"])
        guid = _role_guid(w, g["role"], tenant)
        if guid not in w.role_definitions:
            raise ValueError("unknown role %r" % g["role"])
        name = (g.get("name") or new_id()).lower()
        ra = w.add_role_assignment(name, g["scope"], guid, pid, g.get("principal_type") or "ServicePrincipal",
                                   created=now - 1e6 if g.get("propagated", True) else now)
        out.append({"name": name, "id": role_assignment_id(ra)})
    return out


def _revokes(w, r, ra):
    """An assignment matches a revoke entry when it matches every criterion given (at least one)."""
    if not any(r.get(k) for k in ("name", "principal_id", "scope", "role")):
        return False
    if r.get("name") and ra.name not in (r["name"].lower(), r["name"].rsplit("/", 1)[-1].lower()):
        return False
    if r.get("principal_id") and ra.principal_id.lower() != r["principal_id"].lower():
        return False
    if r.get("scope") and norm(ra.scope) != norm(r["scope"]):
        return False
    return not r.get("role") or ra.role_guid == _role_guid(w, r["role"], ra.tenant)


def revoke(cloud, items, now):
    w, n = cloud.world, 0
    for r in items or []:
        for ra in list(w.role_assignments.values()):
            if _revokes(w, r, ra):
                w.remove_role_assignment(ra.name)
                n += 1
    return n


def graph_permissions(cloud, items, now):
    for g in items or []:
        _sp_of(cloud.world, g["tenant"], g["app_id"]).graph_permissions = list(g["permissions"])


def remove_service_principals(cloud, items, now):
    w, n = cloud.world, 0
    for r in items or []:
        sp = w.sp_for_app(r["tenant"], r["app_id"])
        if sp:
            w.remove_sp(sp)
            n += 1
    return n


def expire_tokens(cloud, spec, now):
    """All tokens (`true`) or those of an app and/or tenant expire now."""
    if not spec:
        return 0
    flt = spec if isinstance(spec, dict) else {}
    n = 0
    for tok in cloud.tokens.values():
        if flt.get("app_id") and tok.app_id.lower() != flt["app_id"].lower():
            continue
        if flt.get("tenant") and tok.tenant.lower() != flt["tenant"].lower():
            continue
        if tok.exp > now:
            tok.exp = now
            n += 1
    return n


# (input key, output key or None, seeder), in the order they run
SEEDERS = [
    ("settings", "settings", settings),
    ("tenants", "tenants", tenants),
    ("subscriptions", "subscriptions", subscriptions),
    ("vnets", "vnets", vnets),
    ("remove_vnets", "removed_vnets", remove_vnets),
    ("address_spaces", "address_spaces", address_spaces),
    ("sync_peerings", "synced_peerings", synced_peerings),
    ("peering_flags", "peering_flags", peering_flags),
    ("remove_peerings", "removed_peerings", remove_peerings),
    ("aiven_projects", "aiven_projects", aiven_projects),
    ("aiven_vpcs", "aiven_vpcs", aiven_vpcs),
    ("aiven_vpc_states", "aiven_vpc_states", aiven_vpc_states),
    ("aiven_services", "aiven_services", aiven_services),
    ("active_peerings", "active_peerings", active_peerings),
    ("aiven_set_state", "aiven_set_state", aiven_set_state),
    ("remove_aiven_vpcs", "removed_aiven_vpcs", remove_aiven_vpcs),
    ("remove_aiven_projects", "removed_aiven_projects", remove_aiven_projects),
    ("principals", "principals", principals),
    ("grants", "grants", grants),
    ("revoke", "revoked", revoke),
    ("graph_permissions", None, graph_permissions),
    ("remove_service_principals", "removed_service_principals", remove_service_principals),
    ("expire_tokens", "expired_tokens", expire_tokens),
    ("policy_denials", "policy_denials", policy_denials),
    ("remove_policy_denials", "removed_policy_denials", remove_policy_denials),
    ("locks", "locks", locks),
    ("remove_locks", "removed_locks", remove_locks),
]


def seed(cloud, body, now):
    unknown = set(body) - {key for key, _, _ in SEEDERS}
    if unknown:
        raise ValueError("unknown seed keys: %s" % ", ".join(sorted(unknown)))
    out = {}
    for key, out_key, seeder in SEEDERS:
        result = seeder(cloud, body.get(key), now)
        if out_key:
            out[out_key] = result
    return out
