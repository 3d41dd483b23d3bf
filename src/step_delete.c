/*
 * step_delete.c
 *		The steps that tear a peering down (docs/architecture.md §2), in
 *		the order of the teardown: the Azure peering, the Aiven connection,
 *		the role assignments, the application, the custom roles.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include <time.h>

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aiven.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "graph.h"
#include "peering.h"
#include "steps.h"
#include "step_internal.h"
#include "remote.h"
#include "util.h"


/* Deletes the Azure peering and waits until ARM no longer has it. */
void
step_delete_azure_peering(PeeringConn *c, StepResult *r)
{
	char	   *token;
	ArmPeering *pe;

	if (c->vnet_id == NULL)
	{
		step_advance(r, "no Azure peering to delete");
		return;
	}
	token = step_admin_token(c, AZURE_ARM);
	pe = arm_get_peering(token, c->vnet_id, c->peering_name);
	if (pe == NULL || !step_azure_peering_is_ours(c, pe))
	{
		/*
		 * A peering of that name to another network is someone else's: ours
		 * was never made, or is gone.  It is left alone, and the teardown
		 * goes on, since nothing the user could fix is in the way.
		 */
		c->azure_peering_state = NULL;
		c->azure_operation = NULL;
		if (pe == NULL)
			step_advance(r, "the Azure peering is deleted");
		else
			step_advance(r, "left peering %s alone: it connects to %s, not to the provider's virtual network",
					pe->name, pe->remote_vnet_id ? pe->remote_vnet_id : "an unknown network");
		return;
	}
	if (!peering_str_eq(pe->provisioning_state, "Deleting"))
		arm_delete_peering(token, c->vnet_id, c->peering_name);
	step_wait_for(r, psprintf("Azure is deleting peering %s (provisioningState %s)",
						 c->peering_name, pe->provisioning_state ? pe->provisioning_state : "unknown"));
}

void
step_delete_aiven(PeeringConn *c, StepResult *r)
{
	AivenPeering *p;

	p = aiven_delete_peering(auth_aiven_token(c->attempt.aiven_cred), c->project,
							 c->project_vpc_id, peering_lower(c->subscription_id),
							 peering_lower(c->resource_group),
							 peering_lower(c->vnet_name));
	step_observe_aiven(c, p);
	step_advance(r, p ? "asked Aiven to delete the connection" : "no Aiven connection to delete");
}

void
step_aiven_deleted(PeeringConn *c, StepResult *r)
{
	AivenPeering *p = step_aiven_connection(c);

	step_observe_aiven(c, p);
	if (p == NULL || peering_str_eq(p->state, "DELETED"))
	{
		c->state = "DELETED";
		step_advance(r, "Aiven deleted the connection");
	}
	else if (!peering_str_eq(p->state, "DELETING"))
		step_jump(r, STEP_DELETE_AIVEN, "the Aiven connection is not being deleted; asking again");
	else
		step_wait_for_aiven(r, c, "Aiven has not deleted the connection yet");
}

void
step_delete_role_assignments(PeeringConn *c, StepResult *r)
{
	char	   *token = step_admin_token(c, AZURE_ARM);
	int			deleted = 0;

	if (c->app_role_assignment_id && c->vnet_id &&
		arm_delete_role_assignment(token, c->vnet_id, c->app_role_assignment_id))
		deleted++;
	/* the provider's assignment on a VNet serves every VPC peered with it */
	if (c->peer_role_assignment_id && c->vnet_id && !c->attempt.peer_assignment_shared &&
		arm_delete_role_assignment(token, c->vnet_id, c->peer_role_assignment_id))
		deleted++;
	c->app_role_assignment_id = NULL;
	c->peer_role_assignment_id = NULL;
	step_advance(r, "deleted %d role assignment%s", deleted, deleted == 1 ? "" : "s");
}

/*
 * Purges a directory object from the recycle bin after its delete.  One
 * deleted just now may not be listed there yet (replication): false, and r
 * says to try again.  Later attempts find it deleted, and a missing item
 * means it was purged.
 */
static bool
purge_after_delete(const char *token, const char *object_id, bool deleted_now,
				 StepResult *r)
{
	if (graph_purge_deleted(token, object_id) || !deleted_now)
		return true;
	step_retry_later(r, REMOTE_RETRY_PROPAGATION,
				psprintf("deleted directory object %s is not in the recycle bin yet; purging it later",
						 object_id));
	return false;
}

/*
 * Deletes the peering application and its service principal, and purges
 * both from the recycle bin: a soft-deleted application would keep its
 * uniqueName, so the same peering could not be created again for 30 days.
 * A second attempt finds them already deleted and only purges.
 */
void
step_delete_app(PeeringConn *c, StepResult *r)
{
	char	   *token;

	if (step_brings_own_app(c))
	{
		c->app_sp_id = NULL;
		step_advance(r, "the application of credential \"%s\" is the user's: kept", c->app_credential);
		return;
	}
	token = step_admin_token(c, AZURE_GRAPH);

	/* an application created just before a crash may not be recorded */
	if (c->app_object_id == NULL && c->app_unique_name != NULL)
	{
		GraphApplication *app = graph_find_application(token, c->app_unique_name);

		if (app == NULL)
			app = graph_find_deleted_application(token, c->app_unique_name);
		if (app != NULL)
			c->app_object_id = app->id;
	}
	if (c->app_sp_id &&
		!purge_after_delete(token, c->app_sp_id,
						  graph_delete_service_principal(token, c->app_sp_id), r))
		return;
	if (c->app_object_id &&
		!purge_after_delete(token, c->app_object_id,
						  graph_delete_application(token, c->app_object_id), r))
		return;
	c->app_sp_id = NULL;
	c->app_object_id = NULL;
	c->app_secret_key_id = NULL;
	c->attempt.drop_app_secret = true;
	step_advance(r, "deleted the peering application and its service principal");
}

/*
 * Deletes a role this extension created, unless still in use: by another
 * connection, or by an assignment someone else made (ARM refuses then).
 */
static const char *
delete_role_if_unused(PeeringConn *c, const char *role_id, ConnBool owned, bool shared)
{
	if (role_id == NULL || owned != CONN_BOOL_TRUE)
		return "not ours";
	if (shared)
		return "still used by another connection";
	switch (arm_delete_role_definition(step_admin_token(c, AZURE_ARM), c->subscription_id,
									   role_id))
	{
		case ARM_ROLE_DELETED:
			return "deleted";
		case ARM_ROLE_GONE:
			return "already gone";
		case ARM_ROLE_IN_USE:
			break;
	}
	return "kept, since someone else assigned it";
}

void
step_delete_roles(PeeringConn *c, StepResult *r)
{
	const char *app_role = delete_role_if_unused(c, c->app_role_id, c->app_role_owned,
												 c->attempt.app_role_shared);
	const char *peer_role = delete_role_if_unused(c, c->peer_role_id, c->peer_role_owned,
												  c->attempt.peer_role_shared);

	step_advance(r, "custom roles: application role %s, provider role %s", app_role, peer_role);
}

/* Each step, and the step that follows when it completes. */
