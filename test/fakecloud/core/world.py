# Copyright (c) 2026, peering developers
"""The world store: every record of the simulation, with the indexes the services look things
up by.  All mutation goes through these methods so that the indexes stay true.  Callers hold
the cloud's lock."""

import ipaddress
import time

from ..aiven.models import AivenProject, ProjectVpc
from ..arm.models import Operation, Peering, ResourceGroup, RoleAssignment, Subscription, VirtualNetwork
from ..graph.models import Application, PasswordCredential, ServicePrincipal
from .common import (action_match, did, iso, new_id, norm, scope_contains, scope_subscription,
                     VNET_ID_RE, vnet_id)
from .models import Tenant


def _k(s):
    return (s or "").lower()


class World:
    def __init__(self, settings):
        self.settings = settings
        self.tenants = {}  # lower tenant id -> Tenant
        self._tenant_by_domain = {}
        self.subscriptions = {}  # lower subscription id -> Subscription
        self.resource_groups = {}  # (lower sub, lower rg) -> ResourceGroup
        self.vnets = {}  # lower VNet id -> VirtualNetwork
        self.apps = {}  # lower object id -> live Application
        self._app_by_app_id = {}  # lower appId -> live Application (appIds are global)
        self._app_by_unique = {}  # (lower tenant, lower uniqueName) -> Application, live or deleted
        self.sps = {}  # lower object id -> live ServicePrincipal
        self._sp_by_app = {}  # (lower tenant, lower appId) -> live ServicePrincipal
        self.deleted = {}  # lower object id -> soft-deleted Application or ServicePrincipal
        self.role_definitions = {}  # lower GUID -> RoleDefinition
        self.role_assignments = {}  # lower name -> RoleAssignment
        self._ras_by_principal = {}  # lower principal id -> {lower name: RoleAssignment}
        self.operations = {}  # id -> Operation
        self.projects = {}  # name -> AivenProject
        self.aiven_tokens = {}  # token -> set of project names
        self.deleting = set()  # (lower VNet id, lower peering name) with a delete in progress
        # Who peers with whom, so that no request scans the world (the fake serves worlds of
        # 10,000 peerings: bench/run.sh):
        self._links = {}  # (lower VNet id, lower remote VNet id) -> {lower name: Peering}
        self._linked_from = {}  # lower remote VNet id -> {lower VNet ids with a peering toward it}
        self.dirty_links = set()  # (lower id, lower id) pairs, sorted: peering states to recompute
        # Aiven connections that time or an event may move (transitions.aiven_step visits only these)
        self._watched = {}  # uid -> (ProjectVpc, PeeringConnection)
        self._by_link = {}  # (lower customer VNet id, lower provider VNet id) -> {uid: (vpc, connection)}
        self.building_vpcs = {}  # project VPC id -> ProjectVpc in state APPROVED (transitions.vpc_step)
        self.refreshing_vpcs = {}  # project VPC id -> ProjectVpc with a refresh due (transitions.refresh_step)
        self.policy_denials = []  # seeded Azure Policy assignments with a deny effect (arm/guard.py)
        self.locks = []  # seeded management locks (arm/guard.py)
        self.visited = 0  # records the transitions examined; tests compare it across world sizes

    # -- directory: tenants, applications, service principals --------------------------------

    def add_tenant(self, tid, name, domain, role="other"):
        t = Tenant(tid, name, domain, role)
        self.tenants[_k(tid)] = t
        self._tenant_by_domain[_k(domain)] = t
        return t

    def tenant(self, id_or_domain):
        """A tenant by id or default domain, or None."""
        return self.tenants.get(_k(id_or_domain)) or self._tenant_by_domain.get(_k(id_or_domain))

    def add_app(self, tenant, display, audience, app_id=None, obj_id=None, unique=None, owners=None, created=None):
        a = Application(id=obj_id or new_id(), app_id=app_id or new_id(), tenant=tenant, display_name=display,
                        unique_name=unique, sign_in_audience=audience,
                        created=created if created is not None else time.time(), owners=list(owners or []))
        self._index_app(a)
        return a

    def _index_app(self, a):
        self.apps[_k(a.id)] = a
        self._app_by_app_id[_k(a.app_id)] = a
        if a.unique_name is not None:
            self._app_by_unique[(_k(a.tenant), _k(a.unique_name))] = a

    def app_anywhere(self, app_id):
        """The live application with this appId, in any tenant."""
        return self._app_by_app_id.get(_k(app_id))

    def find_app(self, tenant, kind, value):
        """A live application of the tenant by `id`, `appid` or `uniquename`."""
        if kind == "id":
            a = self.apps.get(_k(value))
        elif kind == "appid":
            a = self.app_anywhere(value)
        else:
            a = self._app_by_unique.get((_k(tenant), _k(value)))
            a = a if a is not None and a.deleted is None else None
        return a if a is not None and _k(a.tenant) == _k(tenant) else None

    def unique_name_holder(self, tenant, unique):
        """The application, live or in the recycle bin, that holds this uniqueName in the tenant."""
        return self._app_by_unique.get((_k(tenant), _k(unique)))

    def apps_of(self, tenant):
        return [a for a in self.apps.values() if _k(a.tenant) == _k(tenant)]

    @staticmethod
    def add_password(app, secret, display, created=None, start=None, end=None):
        t = created if created is not None else time.time()
        p = PasswordCredential(key_id=new_id(), secret=secret, hint=secret[:3], display_name=display,
                               start=start if start is not None else t,
                               end=end if end is not None else t + 2 * 365 * 86400, created=t)
        app.passwords.append(p)
        return p

    def add_sp(self, tenant, app_id, obj_id=None, created=None, graph_permissions=None, owners=None):
        app = self.app_anywhere(app_id)
        sp = ServicePrincipal(id=obj_id or new_id(), app_id=app_id, tenant=tenant,
                              display_name=app.display_name if app else app_id,
                              app_owner_organization_id=app.tenant if app else None,
                              created=created if created is not None else time.time(),
                              graph_permissions=list(graph_permissions or []), owners=list(owners or []))
        self._index_sp(sp)
        return sp

    def _index_sp(self, sp):
        self.sps[_k(sp.id)] = sp
        self._sp_by_app[(_k(sp.tenant), _k(sp.app_id))] = sp

    def sp_for_app(self, tenant, app_id):
        return self._sp_by_app.get((_k(tenant), _k(app_id)))

    def sp(self, oid):
        return self.sps.get(_k(oid))

    def principal(self, tenant, oid):
        """A live service principal of the tenant by object id (the only principals modelled)."""
        sp = self.sp(oid)
        return sp if sp is not None and _k(sp.tenant) == _k(tenant) else None

    def sps_of(self, tenant):
        return [s for s in self.sps.values() if _k(s.tenant) == _k(tenant)]

    def remove_sp(self, sp):
        """Gone for good (the provider's own clean-up, the test harness)."""
        self.sps.pop(_k(sp.id), None)
        if self._sp_by_app.get((_k(sp.tenant), _k(sp.app_id))) is sp:
            del self._sp_by_app[(_k(sp.tenant), _k(sp.app_id))]

    def fresh(self, obj, now):
        """Still replicating: invisible to most of Graph and to ARM principal lookups."""
        return now - obj.created < self.settings["graph_replication_seconds"]

    # -- the recycle bin ------------------------------------------------------------------

    def soft_delete(self, obj, now):
        """Moves an application (keeping its uniqueName reserved) or a service principal to the
        deleted items of its tenant."""
        if isinstance(obj, Application):
            self.apps.pop(_k(obj.id), None)
            self._app_by_app_id.pop(_k(obj.app_id), None)
        else:
            self.remove_sp(obj)
        obj.deleted = now
        self.deleted[_k(obj.id)] = obj

    def restore(self, obj):
        del self.deleted[_k(obj.id)]
        obj.deleted = None
        if isinstance(obj, Application):
            self._index_app(obj)
        else:
            self._index_sp(obj)

    def purge(self, obj):
        """Permanent deletion from the recycle bin; frees an application's uniqueName."""
        del self.deleted[_k(obj.id)]
        if isinstance(obj, Application) and obj.unique_name is not None:
            self._app_by_unique.pop((_k(obj.tenant), _k(obj.unique_name)), None)

    def purge_expired(self, now):
        keep = self.settings["recycle_bin_seconds"]
        for obj in [o for o in self.deleted.values() if now - o.deleted >= keep]:
            self.purge(obj)

    # -- ARM: subscriptions, resource groups, VNets, peerings ---------------------------------

    def add_subscription(self, sid, tid, name):
        s = Subscription(sid, tid, name)
        self.subscriptions[_k(sid)] = s
        return s

    def subscription(self, sid):
        return self.subscriptions.get(_k(sid))

    def scope_tenant(self, scope):
        """The tenant owning the subscription a scope lies in, or None."""
        s = self.subscription(scope_subscription(scope))
        return s.tenant_id if s else None

    def add_resource_group(self, sub, rg, location):
        key = (_k(sub), _k(rg))
        if key not in self.resource_groups:
            self.resource_groups[key] = ResourceGroup(self.subscription(sub).subscription_id, rg, location)
        return self.resource_groups[key]

    def resource_group(self, sub, rg):
        return self.resource_groups.get((_k(sub), _k(rg)))

    def add_vnet(self, sub, rg, name, prefixes, location="westeurope", created=None):
        s = self.subscription(sub)
        r = self.add_resource_group(s.subscription_id, rg, location)
        for p in prefixes:
            ipaddress.ip_network(p, strict=False)
        vid = vnet_id(s.subscription_id, r.name, name)
        v = VirtualNetwork(id=vid, subscription=s.subscription_id, resource_group=r.name, name=name,
                           location=location, address_prefixes=list(prefixes), tenant=s.tenant_id,
                           guid=did("vnetguid:" + vid.lower()), created=created or time.time())
        self.vnets[_k(vid)] = v
        for owner in self._linked_from.get(_k(vid), ()):
            self.touch_link(owner, vid)
        return v

    def vnet(self, sub, rg, name):
        return self.vnets.get(_k(vnet_id(sub, rg, name)))

    def vnet_by_id(self, vid):
        m = VNET_ID_RE.match(vid or "")
        return self.vnet(*m.groups()) if m else None

    def remove_vnet(self, vid):
        """Its peerings go with it; the peerings toward it lose their other side."""
        v = self.vnets.pop(_k(vid), None)
        if v is None:
            return False
        for name in list(v.peerings):
            self.remove_peering(v, name)
        for owner in list(self._linked_from.get(_k(vid), ())):
            self.touch_link(owner, vid)
        return True

    def add_peering(self, vnet, name, remote_id, allow_access, now, owner="customer", props=None):
        """A new peering in state Initiated; the customer's ones start an async operation."""
        props = props or {}
        p = Peering(name=name, id=vnet.id + "/virtualNetworkPeerings/" + name, remote_id=remote_id,
                    allow_vnet_access=bool(allow_access),
                    allow_forwarded_traffic=bool(props.get("allowForwardedTraffic", False)),
                    allow_gateway_transit=bool(props.get("allowGatewayTransit", False)),
                    use_remote_gateways=bool(props.get("useRemoteGateways", False)),
                    created=now, updated=now,
                    op_done_at=now + (self.settings["async_operation_seconds"] if owner == "customer" else 0),
                    guid=new_id(), etag=new_id(), owner=owner)
        self.sync_remote_address_space(p)
        vnet.peerings[_k(name)] = p
        self._links.setdefault((_k(vnet.id), norm(remote_id)), {})[_k(name)] = p
        self._linked_from.setdefault(norm(remote_id), set()).add(_k(vnet.id))
        self.touch_link(vnet.id, remote_id)
        return p

    def remove_peering(self, vnet, name):
        """The peering is gone (a finished delete, the provider's teardown, the harness)."""
        p = vnet.peerings.pop(_k(name), None)
        if p is None:
            return None
        key = (_k(vnet.id), norm(p.remote_id))
        link = self._links.get(key, {})
        link.pop(_k(name), None)
        if not link:
            self._links.pop(key, None)
            self._linked_from.get(key[1], set()).discard(key[0])
        self.touch_link(vnet.id, p.remote_id)
        return p

    def sync_remote_address_space(self, p):
        """The peering takes the remote VNet's current address space as its own."""
        rv = self.vnet_by_id(p.remote_id)
        p.synced_prefixes = list(rv.address_prefixes) if rv else []

    def link(self, vid, remote_id):
        """The peerings of VNet `vid` toward VNet `remote_id` (deleting ones included)."""
        return list(self._links.get((_k(vid), norm(remote_id)), {}).values())

    def touch_link(self, vid, remote_id):
        """Something changed between two VNets: their peerings' states are recomputed at the next
        tick, and the Aiven connections between them are looked at again."""
        a, b = _k(vid), norm(remote_id)
        self.dirty_links.add((a, b) if a < b else (b, a))
        for key in ((a, b), (b, a)):
            self._watched.update(self._by_link.get(key, {}))

    def new_operation(self, sub, location, kind, resource_id, now):
        op = Operation(id=new_id(), subscription=_k(sub), location=location, kind=kind, resource_id=resource_id,
                       start=now, done_at=now + self.settings["async_operation_seconds"])
        self.operations[op.id] = op
        return op

    # -- RBAC ---------------------------------------------------------------------------------

    def add_role_definition(self, rd):
        self.role_definitions[_k(rd.guid)] = rd
        return rd

    def role_definition(self, guid, tenant):
        """A built-in role, or a custom role of the tenant."""
        rd = self.role_definitions.get(_k(guid))
        if rd and (rd.tenant is None or (tenant and _k(rd.tenant) == _k(tenant))):
            return rd
        return None

    def role_definition_named(self, name, tenant):
        for rd in self.role_definitions.values():
            if _k(rd.role_name) == _k(name) and (rd.tenant is None or _k(rd.tenant) == _k(tenant)):
                return rd
        return None

    def add_role_assignment(self, name, scope, role_guid, principal_id, ptype, created=None, created_by=None):
        t = created if created is not None else time.time()
        ra = RoleAssignment(name=_k(name), scope=scope, role_guid=_k(role_guid), principal_id=principal_id,
                            principal_type=ptype, tenant=self.scope_tenant(scope), created=t, updated=t,
                            created_by=created_by)
        self.role_assignments[ra.name] = ra
        self._ras_by_principal.setdefault(_k(principal_id), {})[ra.name] = ra
        return ra

    def remove_role_assignment(self, name):
        ra = self.role_assignments.pop(_k(name), None)
        if ra is not None:
            self._ras_by_principal.get(_k(ra.principal_id), {}).pop(ra.name, None)
        return ra

    def assignments_of(self, principal_id):
        return list(self._ras_by_principal.get(_k(principal_id), {}).values())

    def role_in_use(self, guid):
        return any(ra.role_guid == _k(guid) for ra in self.role_assignments.values())

    def effective(self, ra, now):
        """A role assignment counts for permission checks once it has propagated."""
        return now - ra.created >= self.settings["role_propagation_seconds"]

    def allowed(self, tenant, principal_id, action, scope, now):
        """The principal's effective actions at the scope include `action`."""
        for ra in self.assignments_of(principal_id):
            if _k(ra.tenant) != _k(tenant) or not self.effective(ra, now) or not scope_contains(ra.scope, scope):
                continue
            rd = self.role_definitions.get(ra.role_guid)
            if rd and any(action_match(a, action) for a in rd.actions) and \
                    not any(action_match(a, action) for a in rd.not_actions):
                return True
        return False

    # -- Aiven --------------------------------------------------------------------------------

    def add_project(self, name, token):
        self.projects[name] = AivenProject(name)
        self.aiven_tokens.setdefault(token, set()).add(name)

    def add_project_vpc(self, project, cloud, cidr, provider_subscription, vpc_id=None, created=None,
                        state="ACTIVE"):
        """A project VPC; an Azure one gets its provider VNet (address space = the VPC's CIDR) in
        an RG of its own in the provider subscription."""
        ipaddress.ip_network(cidr, strict=True)
        t = created if created is not None else time.time()
        vpc = ProjectVpc(project=project, project_vpc_id=vpc_id or new_id(), cloud_name=cloud, network_cidr=cidr,
                         state="ACTIVE", create_time=iso(t), update_time=iso(t))
        self.set_vpc_state(vpc, state, t)
        if vpc.is_azure:
            location = cloud[len("azure-"):].replace("-", "")
            v = self.add_vnet(provider_subscription, "aiven-%s-%s" % (project, cloud),
                              "aiven-vpc-%s" % vpc.project_vpc_id[:8], [cidr], location, created=t)
            vpc.provider_vnet_id = v.id
        self.projects[project].vpcs[vpc.project_vpc_id] = vpc
        return vpc

    def set_vpc_state(self, vpc, state, now):
        """A project VPC enters a state; one in APPROVED is being built (watched until ACTIVE)."""
        vpc.state, vpc.since, vpc.update_time = state, now, iso(now)
        if state == "APPROVED":
            self.building_vpcs[vpc.project_vpc_id] = vpc
        else:
            self.building_vpcs.pop(vpc.project_vpc_id, None)

    def ask_refresh(self, vpc, now):
        """A refresh of the VPC's peerings: done at the next tick once `aiven_refresh_seconds`
        passed (a second call before then changes nothing)."""
        if vpc.refresh_due is None:
            vpc.refresh_due = now + self.settings["aiven_refresh_seconds"]
            self.refreshing_vpcs[vpc.project_vpc_id] = vpc

    def refresh_provider_peerings(self, vpc):
        """The provider's peerings of the VPC's connections take their customer VNets' current
        address spaces (what Aiven's refresh does)."""
        vpc.refresh_due = None
        self.refreshing_vpcs.pop(vpc.project_vpc_id, None)
        for c in vpc.connections:
            pv = self.vnets.get(_k(c.provider_peering[0])) if c.provider_peering else None
            q = pv.peerings.get(c.provider_peering[1]) if pv else None
            if q is not None:
                self.sync_remote_address_space(q)

    def remove_project_vpc(self, vpc):
        """The harness removes a project VPC: its provider VNet (and that VNet's peerings) go too."""
        self.projects[vpc.project].vpcs.pop(vpc.project_vpc_id, None)
        self.building_vpcs.pop(vpc.project_vpc_id, None)
        self.refreshing_vpcs.pop(vpc.project_vpc_id, None)
        for c in list(vpc.connections):
            self.remove_connection(vpc, c)
        if vpc.provider_vnet_id:
            self.remove_vnet(vpc.provider_vnet_id)

    def remove_project(self, name):
        proj = self.projects.get(name)
        if proj is None:
            return False
        for vpc in list(proj.vpcs.values()):
            self.remove_project_vpc(vpc)
        del self.projects[name]
        return True

    @staticmethod
    def _link_key(vpc, c):
        """(customer VNet, provider VNet): the peerings that decide an Azure connection's state."""
        return _k(vnet_id(c.peer_cloud_account, c.peer_resource_group, c.peer_vpc)), norm(vpc.provider_vnet_id)

    def add_connection(self, vpc, c):
        vpc.connections.append(c)
        self._by_link.setdefault(self._link_key(vpc, c), {})[c.uid] = (vpc, c)
        self.watch(vpc, c)

    def remove_connection(self, vpc, c):
        vpc.connections.remove(c)
        self._by_link.get(self._link_key(vpc, c), {}).pop(c.uid, None)
        self._watched.pop(c.uid, None)

    def has_connection(self, vpc, c):
        return c.uid in self._by_link.get(self._link_key(vpc, c), {})

    def watch(self, vpc, c):
        """The connection's state changed or may change: the next tick looks at it."""
        self._watched[c.uid] = (vpc, c)

    def unwatch(self, c):
        self._watched.pop(c.uid, None)

    def watched(self):
        return list(self._watched.values())

    def all_vpcs(self):
        return [v for p in self.projects.values() for v in p.vpcs.values()]

    def connections_of_app(self, app_id, states, but=None):
        """(VPC, connection) pairs of a customer app in the given states, except `but`."""
        return [(vpc, c) for vpc in self.all_vpcs() for c in vpc.connections
                if c is not but and c.state in states and _k(c.peer_azure_app_id) == _k(app_id)]
