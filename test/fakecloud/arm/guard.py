# Copyright (c) 2026, peering developers
"""What ARM refuses before a resource provider sees a write: Azure Policy assignments with a deny
effect (403 RequestDisallowedByPolicy) and management locks (409 ScopeLocked).  Both are seeded
(`policy_denials`, `locks`); a mixin of ArmService (routes.py), after its authorization checks."""

import json

from ..core.common import action_match, scope_contains


def resource_type(rid):
    """`Microsoft.Network/virtualNetworks/virtualNetworkPeerings` for a peering's id."""
    tail = rid.rsplit("/providers/", 1)[-1].strip("/").split("/")
    return "/".join([tail[0]] + tail[1::2])


class GuardHandlers:
    def refuse_by_policy(self, rid):
        """403 RequestDisallowedByPolicy when a deny assignment covers this PUT: the body Microsoft
        shows (message with the policy identifiers, `target`, `additionalInfo` PolicyViolation)."""
        rtype = resource_type(rid)
        for d in self.w.policy_denials:
            if not scope_contains(d["scope"], rid):
                continue
            if d["resource_type"] and d["resource_type"].lower() != rtype.lower():
                continue
            if d["action"] and not action_match(d["action"], rtype + "/write"):
                continue
            assignment = "%s/providers/Microsoft.Authorization/policyAssignments/%s" % (d["scope"],
                                                                                       d["assignment_name"])
            definition = "/providers/Microsoft.Authorization/policyDefinitions/" + d["definition"]
            ids = json.dumps([{"policyAssignment": {"name": d["display_name"], "id": assignment},
                               "policyDefinition": {"name": d["display_name"], "id": definition}}],
                             separators=(",", ":"))
            name = rid.rstrip("/").rsplit("/", 1)[-1]
            info = {"policyDefinitionDisplayName": d["display_name"], "policyDefinitionId": definition,
                    "policyDefinitionName": d["definition"], "policyDefinitionEffect": "Deny",
                    "policyAssignmentId": assignment, "policyAssignmentName": d["assignment_name"],
                    "policyAssignmentDisplayName": d["display_name"], "policyAssignmentScope": d["scope"],
                    "policyAssignmentParameters": {}}
            raise self.error(403, "RequestDisallowedByPolicy",
                             "Resource '%s' was disallowed by policy. Policy identifiers: '%s'." % (name, ids),
                             target=name, extra={"additionalInfo": [{"type": "PolicyViolation", "info": info}]})

    def refuse_if_locked(self, rid, operation):
        """409 ScopeLocked: a ReadOnly lock at or above rid refuses writes and deletes, a
        CanNotDelete lock deletes."""
        locked = [x["scope"] for x in self.w.locks if scope_contains(x["scope"], rid)
                  and (operation == "delete" or x["level"] == "ReadOnly")]
        if locked:
            raise self.error(409, "ScopeLocked",
                             "The scope '%s' cannot perform %s operation because following scope(s) are locked: "
                             "'%s'. Please remove the lock and try again." % (rid, operation, "', '".join(locked)))
