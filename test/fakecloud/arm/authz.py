# Copyright (c) 2026, peering developers
"""Microsoft.Authorization at any scope: role definitions (built-in and custom) and role
assignments.  A mixin of ArmService (routes.py), whose error helpers and caller it uses."""

import re

from ..core.common import is_uuid, norm, odata_key, scope_contains, VNET_ID_RE
from .models import RoleDefinition
from .render import role_assignment_json, role_definition_json

ROLE_DEFINITION_ID_RE = re.compile(r"(?:^|/)providers/Microsoft\.Authorization/roleDefinitions/([^/]+)$", re.I)
PRINCIPAL_TYPES = {"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"}


class AuthorizationHandlers:
    # -- scopes ---------------------------------------------------------------------------

    def resolve_scope(self, caller, scope):
        """(canonical scope, subscription id or None) of a scope path; "" is the tenant level."""
        segs = [s for s in scope.split("/") if s]
        if not segs:
            return "", None
        low = [s.lower() for s in segs]
        if low[0] != "subscriptions" or len(segs) < 2:
            raise self.error(400, "InvalidScope", "The scope '/%s' is not valid." % "/".join(segs))
        sid = self.subscription(caller, segs[1]).subscription_id
        if len(segs) == 2:
            return "/subscriptions/" + sid, sid
        if low[2] != "resourcegroups" or len(segs) < 4:
            raise self.error(400, "InvalidScope", "The scope '/%s' is not valid." % "/".join(segs))
        group = self.w.resource_group(sid, segs[3])
        base = "/subscriptions/%s/resourceGroups/%s" % (sid, group.name if group else segs[3])
        if len(segs) == 4:
            return base, sid
        if low[4:7] == ["providers", "microsoft.network", "virtualnetworks"] and len(segs) == 8:
            v = self.w.vnet(sid, segs[3], segs[7])
            return "%s/providers/Microsoft.Network/virtualNetworks/%s" % (base, v.name if v else segs[7]), sid
        return "/" + "/".join(segs), sid

    def check_scope_exists(self, scope):
        m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+)(/.*)?)?$", scope, re.I)
        if not m:
            return
        sub, rg, rest = m.groups()
        if rg and self.w.resource_group(sub, rg) is None:
            raise self.group_not_found(rg)
        if rest:
            vm = VNET_ID_RE.match(scope)
            if not vm or self.w.vnet(*vm.groups()) is None:
                raise self.error(404, "ResourceNotFound", "The Resource '%s' was not found. For more details please "
                                                          "go to https://aka.ms/ARMResourceNotFoundFix" % scope)

    def require_at(self, req, caller, action, scope):
        """Permission checks apply at a real scope; the tenant level ("") is not checked."""
        if scope:
            self.require(req, caller, action, scope)

    # -- role definitions -----------------------------------------------------------------

    def list_role_definitions(self, req, caller, scope):
        """Built-ins and the tenant's custom roles assignable at the scope or above; `$filter`
        on roleName (case-insensitive) or type."""
        scope, sid = self.resolve_scope(caller, scope)
        self.require_at(req, caller, "Microsoft.Authorization/roleDefinitions/read", scope)
        items = [rd for rd in self.w.role_definitions.values()
                 if (rd.tenant is None or rd.tenant.lower() == caller.tenant.lower())
                 and (not scope or any(scope_contains(a, scope) for a in rd.assignable_scopes))]
        f = req.qlower.get("$filter") or ""
        m = re.search(r"roleName\s+eq\s+'((?:[^']|'')*)'", f, re.I)
        if m:
            items = [rd for rd in items if rd.role_name.lower() == odata_key(m.group(1)).lower()]
        m = re.search(r"type\s+eq\s+'((?:[^']|'')*)'", f, re.I)
        if m:
            items = [rd for rd in items if rd.type.lower() == m.group(1).lower()]
        items.sort(key=lambda rd: (rd.type, rd.role_name.lower()))
        return self.ok(200, self.page(req, [role_definition_json(rd, sid) for rd in items]))

    def role_definition_at(self, caller, scope, guid):
        scope, sid = self.resolve_scope(caller, scope)
        if not is_uuid(guid):
            raise self.error(400, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid. The role "
                                                             "definition ID must be a GUID." % guid)
        return scope, sid, self.w.role_definition(guid, caller.tenant)

    def get_role_definition(self, req, caller, scope, guid):
        scope, sid, rd = self.role_definition_at(caller, scope, guid)
        self.require_at(req, caller, "Microsoft.Authorization/roleDefinitions/read", scope)
        if rd is None:
            raise self.error(404, "RoleDefinitionDoesNotExist",
                             "The specified role definition with ID '%s' does not exist." % guid)
        return self.ok(200, role_definition_json(rd, sid))

    def delete_role_definition(self, req, caller, scope, guid):
        scope, sid, rd = self.role_definition_at(caller, scope, guid)
        self.require_at(req, caller, "Microsoft.Authorization/roleDefinitions/delete", scope)
        if rd is None:
            return self.ok(204, None)
        if rd.type == "BuiltInRole":
            raise self.error(403, "BuiltInRoleCannotBeDeleted", "Built-in role definitions cannot be deleted.")
        if self.w.role_in_use(rd.guid):
            # the message Microsoft's custom-roles article quotes
            raise self.error(409, "RoleDefinitionHasAssignments",
                             "There are existing role assignments referencing role")
        del self.w.role_definitions[rd.guid]
        return self.ok(200, role_definition_json(rd, sid))

    def _properties(self, req):
        """The `properties` object of a PUT body, which both authorization writes require."""
        try:
            body = req.json_body()
        except ValueError:
            body = None
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            raise self.error(400, "InvalidRequestFormat", "Cannot parse the request: 'properties' is required.")
        return props

    def _role_definition_request(self, req, caller):
        """(roleName, actions, notActions, assignableScopes, description) of a valid PUT body."""
        props = self._properties(req)
        name = props.get("roleName")
        if not isinstance(name, str) or not name.strip() or len(name) > 512:
            raise self.error(400, "RoleDefinitionNameNullOrEmpty", "The role definition name cannot be null or empty.")
        if props.get("type", "CustomRole") != "CustomRole":
            raise self.error(400, "InvalidRoleDefinitionType", "Only role definitions of type 'CustomRole' can be "
                                                               "created.")
        perms = props.get("permissions")
        if not isinstance(perms, list) or not perms or not all(isinstance(p, dict) for p in perms):
            raise self.error(400, "InvalidPermissions", "The role definition must have at least one permission.")
        actions = [a for p in perms for a in p.get("actions") or [] if isinstance(a, str)]
        not_actions = [a for p in perms for a in p.get("notActions") or [] if isinstance(a, str)]
        scopes = props.get("assignableScopes")
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
            raise self.error(400, "MissingAssignableScopes", "The role definition must have at least one assignable "
                                                             "scope.")
        for s in scopes:
            if self.w.scope_tenant(s) is None or self.w.scope_tenant(s).lower() != caller.tenant.lower():
                raise self.error(400, "InvalidAssignableScope", "The assignable scope '%s' is not valid." % s)
            self.require(req, caller, "Microsoft.Authorization/roleDefinitions/write", s)
        return name, actions, not_actions, list(scopes), props.get("description") or ""

    def put_role_definition(self, req, caller, scope, guid):
        """201 for a new role and for an update of the same id: RoleDefinitions_CreateOrUpdate
        defines no 200 (Azure/azure-rest-api-specs, 2022-04-01)."""
        scope, sid, rd = self.role_definition_at(caller, scope, guid)
        if not scope:
            raise self.error(400, "InvalidScope", "Custom role definitions are created at a subscription scope.")
        self.require(req, caller, "Microsoft.Authorization/roleDefinitions/write", scope)
        name, actions, not_actions, scopes, description = self._role_definition_request(req, caller)
        if rd is not None and rd.type == "BuiltInRole":
            raise self.error(400, "RoleDefinitionUpdateNotAllowed", "Built-in role definitions cannot be updated.")
        other = self.w.role_definition_named(name, caller.tenant)
        if other is not None and other.guid != guid.lower():
            raise self.error(409, "RoleDefinitionWithSameNameExists",
                             "A role definition cannot be updated with a name that already exists.")
        if rd is None:
            rd = self.w.add_role_definition(RoleDefinition(
                guid=guid.lower(), role_name=name, type="CustomRole", description=description, actions=actions,
                not_actions=not_actions, assignable_scopes=scopes, tenant=caller.tenant, created=req.now,
                updated=req.now))
        else:
            rd.role_name, rd.description, rd.actions, rd.not_actions = name, description, actions, not_actions
            rd.assignable_scopes, rd.updated = scopes, req.now
        return self.ok(201, role_definition_json(rd, sid))

    # -- role assignments -----------------------------------------------------------------

    def list_role_assignments(self, req, caller, scope):
        """Assignments at, above and below the scope (`atScope()`: at and above), filterable by
        `principalId eq` or `assignedTo()`."""
        scope, _ = self.resolve_scope(caller, scope)
        self.require_at(req, caller, "Microsoft.Authorization/roleAssignments/read", scope)
        f = req.qlower.get("$filter") or ""
        at_scope = bool(re.search(r"atScope\(\)", f, re.I))
        m = re.search(r"principalId\s+eq\s+'([^']*)'", f, re.I) or re.search(r"assignedTo\('([^']*)'\)", f, re.I)
        candidates = self.w.assignments_of(m.group(1)) if m else self.w.role_assignments.values()
        items = [role_assignment_json(ra) for ra in sorted(candidates, key=lambda r: (r.created, r.name))
                 if (ra.tenant or "").lower() == caller.tenant.lower()
                 and (scope_contains(ra.scope, scope) or (not at_scope and scope_contains(scope, ra.scope)))]
        return self.ok(200, self.page(req, items))

    def assignment_at(self, caller, scope, name):
        """(canonical scope, the tenant's assignment of that name or None)."""
        scope, _ = self.resolve_scope(caller, scope)
        if not scope:
            raise self.error(400, "InvalidScope", "Role assignments need a subscription, resource group or resource "
                                                  "scope.")
        if not is_uuid(name):
            raise self.error(400, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role "
                                                             "assignment ID must be a GUID." % name)
        ra = self.w.role_assignments.get(name.lower())
        return scope, ra if ra is not None and (ra.tenant or "").lower() == caller.tenant.lower() else None

    def get_role_assignment(self, req, caller, scope, name):
        scope, ra = self.assignment_at(caller, scope, name)
        self.require(req, caller, "Microsoft.Authorization/roleAssignments/read", scope)
        if ra is None or norm(ra.scope) != norm(scope):
            raise self.error(404, "RoleAssignmentNotFound", "The role assignment '%s' is not found." % name)
        return self.ok(200, role_assignment_json(ra))

    def delete_role_assignment(self, req, caller, scope, name):
        scope, ra = self.assignment_at(caller, scope, name)
        self.require(req, caller, "Microsoft.Authorization/roleAssignments/delete", scope)
        if ra is None or norm(ra.scope) != norm(scope):
            return self.ok(204, None)
        self.w.remove_role_assignment(ra.name)
        return self.ok(200, role_assignment_json(ra))

    def _assigned_role(self, req, caller, role_id, scope):
        """The role a PUT names; a custom role is unknown here until it has propagated
        (Azure/terraform-azurerm-caf-enterprise-scale docs/wiki/Troubleshooting.md)."""
        mm = ROLE_DEFINITION_ID_RE.search(role_id)
        if not mm or not is_uuid(mm.group(1)):
            raise self.error(400, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid." % role_id)
        rd = self.w.role_definition(mm.group(1), caller.tenant)
        if rd is None or (rd.type == "CustomRole" and
                          req.now - rd.created < self.w.settings["role_definition_propagation_seconds"]):
            raise self.error(400, "RoleDefinitionDoesNotExist",
                             "The specified role definition with ID '%s' does not exist." % mm.group(1))
        if not any(scope_contains(a, scope) for a in rd.assignable_scopes):
            raise self.error(400, "RoleDefinitionNotAssignableAtScope",
                             "The role definition '%s' is not assignable at scope '%s'." % (rd.guid, scope))
        return rd

    def _principal_type(self, req, caller, pid, ptype):
        """Without principalType ARM looks the principal up (PrincipalNotFound while unknown or
        replicating); with it, it does not, but a known principal of another type is refused."""
        sp = self.w.principal(caller.tenant, pid)
        known = sp is not None and not self.w.fresh(sp, req.now)
        if ptype is None:
            if not known:
                raise self.error(400, "PrincipalNotFound",
                                 "Principal %s does not exist in the directory %s. Check that you have the correct "
                                 "principal ID. If you are creating this principal and then immediately assigning a "
                                 "role, this error might be related to a replication delay. In this case, set the "
                                 "role assignment principalType property to a value, such as ServicePrincipal, User, "
                                 "or Group.  See https://aka.ms/docs-principaltype"
                                 % (pid.replace("-", ""), caller.tenant))
            return "ServicePrincipal"
        if ptype not in PRINCIPAL_TYPES:
            raise self.error(400, "InvalidPrincipalType", "The principal type '%s' is not valid." % ptype)
        if known and ptype != "ServicePrincipal":
            raise self.error(400, "UnmatchedPrincipalType",
                             "The PrincipalId '%s' has type 'ServicePrincipal' , which is different from specified "
                             "PrincipalType '%s'." % (pid.replace("-", ""), ptype))
        return ptype

    def put_role_assignment(self, req, caller, scope, name):
        scope, _ = self.assignment_at(caller, scope, name)
        ra = self.w.role_assignments.get(name.lower())  # names are global: another tenant's one blocks it too
        self.require(req, caller, "Microsoft.Authorization/roleAssignments/write", scope)
        self.check_scope_exists(scope)
        props = self._properties(req)
        role_id, pid = props.get("roleDefinitionId"), props.get("principalId")
        if not isinstance(role_id, str) or not role_id:
            raise self.error(400, "MissingRoleDefinitionId", "The request is missing the 'roleDefinitionId' property.")
        if not isinstance(pid, str) or not pid:
            raise self.error(400, "MissingPrincipalId", "The request is missing the 'principalId' property.")
        rd = self._assigned_role(req, caller, role_id, scope)
        ptype = self._principal_type(req, caller, pid, props.get("principalType"))
        self.refuse_by_policy("%s/providers/Microsoft.Authorization/roleAssignments/%s" % (scope.rstrip("/"), name))

        def same(x):
            return norm(x.scope) == norm(scope) and x.role_guid == rd.guid and x.principal_id.lower() == pid.lower()

        if ra is not None:
            if same(ra):
                return self.ok(200, role_assignment_json(ra))
            raise self.error(400, "RoleAssignmentUpdateNotPermitted",
                             "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
        if any(same(x) for x in self.w.assignments_of(pid)):
            raise self.error(409, "RoleAssignmentExists", "The role assignment already exists.")
        ra = self.w.add_role_assignment(name, scope, rd.guid, pid.lower(), ptype, created=req.now,
                                        created_by=caller.token.sp_id)
        return self.ok(201, role_assignment_json(ra))
