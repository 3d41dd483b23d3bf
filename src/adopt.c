/*
 * adopt.c
 *		peering_adopt(): takes over a peering made by hand.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * A peering made with the manual procedure has an Aiven connection
 * (PENDING_PEER or ACTIVE) to the VNet and the customer's Azure peering to
 * the provider's VNet.  Adopting records them with the ids found and creates
 * nothing: the application, its service principal and the role assignments
 * stay the user's (the row records none of them as ours), so peering_delete
 * removes the Azure peering and the Aiven connection and nothing else.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "aiven.h"
#include "api.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "peering.h"
#include "steps.h"
#include "util.h"
#include "worker.h"

/* The Aiven connection of the VNet that a hand-made peering left. */
static AivenPeering *
adoptable_aiven_connection(PeeringConn *c, Credential *aiven)
{
	AivenVpc   *vpc = aiven_get_vpc(auth_aiven_token(aiven), c->project,
									c->project_vpc_id, false);
	AivenPeering *p = step_aiven_peering_in(c, vpc);

	if (p == NULL || (strcmp(p->state, "ACTIVE") != 0 && strcmp(p->state, "PENDING_PEER") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("nothing to adopt: project VPC %s has no connection with virtual network \"%s\" in state ACTIVE or PENDING_PEER",
						c->project_vpc_id, c->vnet_name),
				 p ? errdetail("Its connection is in state %s.", p->state) : 0,
				 errhint("peering_create() makes a new peering.")));
	return p;
}

/*
 * The customer's Azure peering to the provider's VNet.  Aiven names that
 * VNet (to-network-id) in PENDING_PEER but not always once ACTIVE; then the
 * candidate is the one peering of the VNet to another subscription.
 */
static ArmPeering *
adoptable_azure_peering(PeeringConn *c, const char *token, const AivenPeering *p)
{
	char	   *ours = psprintf("/subscriptions/%s/", c->subscription_id);
	ArmPeering *found = NULL;
	StringInfoData names;
	int			candidates = 0;
	ListCell   *lc;

	if (p->to_network_id != NULL)
		return arm_find_peering_to(token, c->vnet_id, p->to_network_id);

	initStringInfo(&names);
	foreach(lc, arm_list_peerings(token, c->vnet_id))
	{
		ArmPeering *pe = lfirst(lc);

		if (pe->remote_vnet_id == NULL ||
			pg_strncasecmp(pe->remote_vnet_id, ours, strlen(ours)) == 0)
			continue;
		appendStringInfo(&names, "%s%s", candidates++ ? ", " : "", pe->name);
		found = pe;
	}
	if (candidates > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("virtual network \"%s\" has %d peerings that could be the provider's: %s",
						c->vnet_name, candidates, names.data),
				 errhint("Adopt it once Aiven shows to-network-id (while PENDING_PEER), or remove the peerings that are not the provider's.")));
	return found;
}

PG_FUNCTION_INFO_V1(peering_adopt);

Datum
peering_adopt(PG_FUNCTION_ARGS)
{
	Credential *azure;
	Credential *aiven;
	PeeringConn *c;
	AivenPeering *p;
	ArmPeering *pe;
	int64		existing;

	refuse_on_standby("peering_adopt");
	c = api_requested_connection(fcinfo, false, &azure, &aiven);
	catalog_lock_credentials(c);
	existing = catalog_find_live(c);
	if (existing != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("the peering of virtual network \"%s\" with project VPC %s is connection " INT64_FORMAT " already",
						c->vnet_name, c->project_vpc_id, existing)));
	c->tenant_id = peering_lower(arm_get_subscription_tenant(auth_azure_token(azure, NULL, AZURE_ARM),
															 c->subscription_id));
	c->vnet_id = arm_get_vnet(auth_azure_token(azure, c->tenant_id, AZURE_ARM),
							  c->subscription_id, c->resource_group, c->vnet_name)->id;

	p = adoptable_aiven_connection(c, aiven);
	pe = adoptable_azure_peering(c, auth_azure_token(azure, c->tenant_id, AZURE_ARM), p);
	if (pe == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("nothing to adopt: virtual network \"%s\" has no peering to the provider's VNet",
						c->vnet_name),
				 errhint("The manual procedure creates that peering after Aiven's PENDING_PEER; peering_create() makes the whole peering instead.")));

	/* what was found, and nothing recorded as ours */
	c->peering_name = pe->name;
	c->app_id = p->peer_azure_app_id;
	c->to_tenant_id = p->to_tenant_id;
	c->to_network_id = p->to_network_id ? p->to_network_id : pe->remote_vnet_id;
	c->azure_peering_id = pe->id;
	c->azure_peering_state = pe->peering_state;
	c->state = p->state;
	c->adopted = true;
	c->app_role_owned = CONN_BOOL_FALSE;
	c->peer_role_owned = CONN_BOOL_FALSE;
	c->provider_sp_created = CONN_BOOL_FALSE;
	c->step = pstrdup(step_name(strcmp(p->state, "ACTIVE") == 0 &&
								peering_str_eq(pe->peering_state, "Connected") ?
								STEP_ACTIVE : STEP_AIVEN_ACTIVE));
	catalog_insert(c);
	peering_wake_worker_at_commit();
	PG_RETURN_DATUM(catalog_row_datum(c->id));
}
