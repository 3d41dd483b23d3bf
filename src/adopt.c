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

/* Is the ARM id that of something in the subscription? */
static bool
in_subscription(const char *id, const char *subscription)
{
	char	   *prefix = psprintf("/subscriptions/%s/", subscription);

	return id != NULL && pg_strncasecmp(id, prefix, strlen(prefix)) == 0;
}

/*
 * The names of the VNet's peerings to other subscriptions, those that may
 * be the provider's ("" when there are none).
 */
static char *
peerings_to_other_subscriptions(PeeringConn *c, const char *token)
{
	StringInfoData names;
	ListCell   *lc;

	initStringInfo(&names);
	foreach(lc, arm_list_peerings(token, c->vnet_id))
	{
		ArmPeering *pe = lfirst(lc);

		if (pe->remote_vnet_id != NULL && !in_subscription(pe->remote_vnet_id, c->subscription_id))
			appendStringInfo(&names, "%s%s", names.len ? ", " : "", pe->name);
	}
	return names.data;
}

/* A hint naming the peerings that may be the provider's. */
static char *
candidates_hint(PeeringConn *c, const char *token)
{
	char	   *names = peerings_to_other_subscriptions(c, token);

	if (names[0] == '\0')
		return psprintf("Virtual network \"%s\" has no peering to another subscription.",
						c->vnet_name);
	return psprintf("The peerings of virtual network \"%s\" to other subscriptions are: %s.",
					c->vnet_name, names);
}

/* The peering the caller named, which must lead to the provider's VNet. */
static ArmPeering *
named_azure_peering(PeeringConn *c, const char *token, const AivenPeering *p)
{
	ArmPeering *pe = arm_get_peering(token, c->vnet_id, c->peering_name);

	if (pe == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("virtual network \"%s\" has no peering \"%s\"", c->vnet_name, c->peering_name),
				 errhint("%s", candidates_hint(c, token))));
	if (pe->remote_vnet_id == NULL || in_subscription(pe->remote_vnet_id, c->subscription_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("peering \"%s\" of virtual network \"%s\" does not lead to another subscription",
						c->peering_name, c->vnet_name),
				 errdetail("Its remote virtual network is %s.",
						   pe->remote_vnet_id ? pe->remote_vnet_id : "unknown"),
				 errhint("%s", candidates_hint(c, token))));
	if (p->to_network_id != NULL && pg_strcasecmp(pe->remote_vnet_id, p->to_network_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("peering \"%s\" of virtual network \"%s\" does not lead to the provider's VNet",
						c->peering_name, c->vnet_name),
				 errhint("Peering \"%s\" leads to %s, but Aiven names the provider's VNet %s: name the peering to that VNet, or leave peering_name out.",
						 c->peering_name, pe->remote_vnet_id, p->to_network_id)));
	return pe;
}

/*
 * The customer's Azure peering to the provider's VNet: the one the caller
 * names, else the one to the VNet Aiven names (to-network-id, which Aiven
 * shows in PENDING_PEER but not always once ACTIVE).  Never a guess: without
 * either, the caller must name it.  NULL when Aiven's VNet has no peering.
 */
static ArmPeering *
adoptable_azure_peering(PeeringConn *c, const char *token, const AivenPeering *p)
{
	char	   *candidates;

	if (c->peering_name != NULL)
		return named_azure_peering(c, token, p);
	if (p->to_network_id != NULL)
		return arm_find_peering_to(token, c->vnet_id, p->to_network_id);

	candidates = peerings_to_other_subscriptions(c, token);
	if (candidates[0] == '\0')
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("peering_name is needed to adopt the peering of virtual network \"%s\"",
					c->vnet_name),
			 errdetail("Aiven's connection does not name the provider's VNet (no to-network-id in its state_info)."),
			 errhint("Pass peering_name => '<name>' naming the peering to the provider's VNet; the peerings of virtual network \"%s\" to other subscriptions are: %s.",
					 c->vnet_name, candidates)));
	return NULL;				/* keep the compiler quiet */
}

/*
 * The provider's tenant: Aiven's to-tenant-id, else the tenant ARM names
 * for the subscription of the provider's VNet (Aiven's state_info may be
 * null for an existing connection).
 */
static char *
provider_tenant(PeeringConn *c, const char *token, const AivenPeering *p)
{
	const char *prefix = "/subscriptions/";
	char	   *subscription;
	char	   *tenant = NULL;

	if (p->to_tenant_id != NULL)
		return peering_lower(p->to_tenant_id);
	if (pg_strncasecmp(c->to_network_id, prefix, strlen(prefix)) == 0)
	{
		subscription = pnstrdup(c->to_network_id + strlen(prefix), 36);
		if (peering_is_uuid(subscription) && c->to_network_id[strlen(prefix) + 36] == '/')
			tenant = arm_get_foreign_subscription_tenant(token, subscription);
	}
	if (tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the tenant of virtual network %s is unknown", c->to_network_id),
				 errdetail("Aiven's connection names no to-tenant-id, and Azure names no other tenant for the virtual network's subscription."),
				 errhint("Peering \"%s\" of virtual network \"%s\" must lead to the provider's VNet, in the provider's tenant.",
						 c->peering_name, c->vnet_name)));
	return tenant;
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
	char	   *token;

	refuse_on_standby("peering_adopt");
	c = api_requested_connection(fcinfo, false, &azure, &aiven);
	catalog_lock_credentials(c);
	/* the peering to adopt holds its name: the pre-flight must not refuse it */
	c->adopted = true;
	api_preflight(c, azure, aiven);
	token = auth_azure_token(azure, c->tenant_id, AZURE_ARM);

	p = adoptable_aiven_connection(c, aiven);
	pe = adoptable_azure_peering(c, token, p);
	if (pe == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("nothing to adopt: virtual network \"%s\" has no peering to the provider's VNet",
						c->vnet_name),
				 errhint("The manual procedure creates that peering after Aiven's PENDING_PEER; peering_create() makes the whole peering instead.")));

	/* what was found, the provider's side from Azure, nothing recorded as ours */
	c->peering_name = pe->name;
	c->to_network_id = pe->remote_vnet_id;
	c->to_tenant_id = provider_tenant(c, token, p);
	c->app_id = p->peer_azure_app_id;
	c->user_peer_network_cidrs = p->user_peer_network_cidrs;
	c->azure_peering_id = pe->id;
	c->azure_peering_state = pe->peering_state;
	c->state = p->state;
	c->app_role_owned = CONN_BOOL_FALSE;
	c->peer_role_owned = CONN_BOOL_FALSE;
	c->provider_sp_created = CONN_BOOL_FALSE;
	c->step = strcmp(p->state, "ACTIVE") == 0 &&
		peering_str_eq(pe->peering_state, "Connected") ? STEP_ACTIVE : STEP_AIVEN_ACTIVE;
	catalog_insert(c);
	peering_wake_worker_at_commit();
	PG_RETURN_DATUM(catalog_row_datum(c->id));
}
