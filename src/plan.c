/*
 * plan.c
 *		peering_plan(): what peering_create() would do, read-only.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * The pre-flight of peering_create(), then one row per step of the
 * procedure: "exists", "create", "update", "delete" or "blocked", with a
 * detail.  Only reads go out (and token requests); nothing is written, here
 * or in the cloud.  A check that fails is a "blocked" row saying why,
 * rather than an error, so that one call shows every problem it can see.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "aiven.h"
#include "api.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "graph.h"
#include "peering.h"
#include "steps.h"
#include "util.h"

typedef struct PeeringPlan
{
	ReturnSetInfo *rsinfo;
	PeeringConn *c;
	Credential *azure;
	Credential *aiven;
	Credential *app;			/* the own application's, or NULL */
	GraphApplication *found_app;
	GraphServicePrincipal *app_sp;
	GraphServicePrincipal *provider_sp;
	char	   *app_role_id;
	char	   *peer_role_id;
	AivenPeering *aiven_conn;
	bool		checked;		/* the pre-flight passed */
	int64		existing;		/* the live connection of the same peering, or 0 */
	const char *label;			/* what the rows are of: a step, or the pre-flight */
} PeeringPlan;

typedef void (*PlanCheck) (PeeringPlan *p);

static void
plan_row(PeeringPlan *p, const char *action, const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(p->label);
	values[1] = CStringGetTextDatum(action);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(p->rsinfo->setResult, p->rsinfo->setDesc, values, nulls);
}

static char *
token(PeeringPlan *p, AzureAudience aud)
{
	return auth_azure_token(p->azure, p->c->tenant_id, aud);
}

static void
plan_app(PeeringPlan *p)
{
	GraphApplication *deleted;

	if (p->app != NULL)
	{
		plan_row(p, "exists",
				 psprintf("application %s of credential \"%s\", used as it is",
						  p->app->client_id, p->app->name));
		return;
	}
	p->found_app = graph_find_application(token(p, AZURE_GRAPH), p->c->app_unique_name);
	if (p->found_app != NULL)
	{
		plan_row(p, "exists", psprintf("application %s (appId %s)",
											  p->c->app_unique_name, p->found_app->app_id));
		return;
	}
	deleted = graph_find_deleted_application(token(p, AZURE_GRAPH), p->c->app_unique_name);
	if (deleted != NULL)
		plan_row(p, "delete",
				 psprintf("permanently delete application %s, which holds the uniqueName %s in the recycle bin",
						  deleted->id, p->c->app_unique_name));
	plan_row(p, "create",
			 psprintf("multi-tenant application %s", p->c->app_unique_name));
}

static void
plan_app_sp(PeeringPlan *p)
{
	const char *app_id = p->app ? p->app->client_id :
		(p->found_app ? p->found_app->app_id : NULL);

	if (app_id != NULL)
		p->app_sp = graph_get_service_principal(token(p, AZURE_GRAPH), app_id);
	if (p->app_sp != NULL)
		plan_row(p, "exists", psprintf("service principal %s", p->app_sp->id));
	else if (p->app != NULL)
		plan_row(p, "blocked",
				 psprintf("application %s has no service principal in tenant %s: an administrator must run \"az ad sp create --id %s\"",
						  app_id, p->c->tenant_id, app_id));
	else
		plan_row(p, "create", "the application's service principal");
}

/* A custom role: exists under our GUID, taken by another, or to create. */
static char *
plan_custom_role(PeeringPlan *p, const char *base_name)
{
	char	   *name = step_custom_role_name(p->c, base_name);
	char	   *guid = step_custom_role_guid(p->c, name);
	ArmRoleDefinition *def = arm_get_role_definition(token(p, AZURE_ARM),
													 p->c->subscription_id, guid);

	if (def != NULL)
	{
		plan_row(p, "exists", psprintf("custom role \"%s\" (%s)", name, guid));
		return guid;
	}
	def = arm_find_role_definition(token(p, AZURE_ARM), p->c->subscription_id, name);
	if (def != NULL)
	{
		plan_row(p, "exists",
				 psprintf("custom role \"%s\" made by someone else (%s): used, never deleted",
						  name, def->name));
		return def->name;
	}
	plan_row(p, "create", psprintf("custom role \"%s\" (%s)", name, guid));
	return guid;
}

static void
plan_app_role(PeeringPlan *p)
{
	if (p->c->app_role == APP_ROLE_NETWORK_CONTRIBUTOR)
	{
		p->app_role_id = AZURE_NETWORK_CONTRIBUTOR_ROLE;
		plan_row(p, "exists", "built-in role Network Contributor");
		return;
	}
	p->app_role_id = plan_custom_role(p, ROLE_PEERING_WRITER);
}

/* A role assignment on the VNet, for a principal that may not exist yet. */
static void
plan_role_assignment(PeeringPlan *p, const char *role_id,
					 const char *principal_id, const char *who)
{
	char	   *guid;

	if (principal_id == NULL)
	{
		plan_row(p, "create", psprintf("role %s for the %s on the VNet", role_id, who));
		return;
	}
	guid = step_role_assignment_guid(p->c, role_id, principal_id);
	plan_row(p,
			 arm_role_assignment_exists(token(p, AZURE_ARM), p->c->vnet_id, guid) ?
			 "exists" : "create",
			 psprintf("role %s for the %s on the VNet (assignment %s)", role_id, who, guid));
}

static void
plan_app_role_assignment(PeeringPlan *p)
{
	plan_role_assignment(p, p->app_role_id,
						 p->app_sp ? p->app_sp->id : NULL, "peering application");
}

static void
plan_provider_sp(PeeringPlan *p)
{
	p->provider_sp = graph_get_service_principal(token(p, AZURE_GRAPH),
												 peering_provider_app_id);
	if (p->provider_sp != NULL)
		plan_row(p, "exists",
				 psprintf("service principal %s of the provider's application %s",
						  p->provider_sp->id, peering_provider_app_id));
	else
		plan_row(p, "create",
				 psprintf("service principal of the provider's application %s (needs Application.ReadWrite.All)",
						  peering_provider_app_id));
}

static void
plan_peer_role(PeeringPlan *p)
{
	p->peer_role_id = plan_custom_role(p, ROLE_PROVIDER_PEER);
}

static void
plan_peer_role_assignment(PeeringPlan *p)
{
	plan_role_assignment(p, p->peer_role_id,
						 p->provider_sp ? p->provider_sp->id : NULL,
						 "provider's service principal");
}

static void
plan_aiven_request(PeeringPlan *p)
{
	AivenVpc   *vpc = aiven_get_vpc(auth_aiven_token(p->aiven), p->c->project,
									p->c->project_vpc_id, false);

	p->aiven_conn = step_aiven_peering_in(p->c, vpc);
	if (p->aiven_conn != NULL && strcmp(p->aiven_conn->state, "DELETED") != 0)
		plan_row(p, "exists",
				 psprintf("Aiven connection in state %s", p->aiven_conn->state));
	else if (p->c->user_peer_network_cidrs != NIL)
		plan_row(p, "create",
				 psprintf("Aiven connection of project VPC %s with VNet %s, routing also %s",
						  p->c->project_vpc_id, p->c->vnet_name,
						  peering_string_list_text(p->c->user_peer_network_cidrs)));
	else
		plan_row(p, "create",
				 psprintf("Aiven connection of project VPC %s with VNet %s",
						  p->c->project_vpc_id, p->c->vnet_name));
}

static void
plan_app_secret(PeeringPlan *p)
{
	if (p->app != NULL)
		plan_row(p, "exists",
				 psprintf("the secret of credential \"%s\"", p->app->name));
	else
		plan_row(p, "create",
				 psprintf("a secret valid for %d s, removed once the Azure peering exists",
						  peering_app_secret_lifetime));
}

/*
 * The Azure peering: ours, or a peering of the VNet to the provider's VNet
 * made by hand (known once Aiven has built its side).
 */
static void
plan_azure_peering(PeeringPlan *p)
{
	ArmPeering *pe = arm_get_peering(token(p, AZURE_ARM), p->c->vnet_id,
									 p->c->peering_name);
	const char *remote = p->aiven_conn ? p->aiven_conn->to_network_id : NULL;

	if (pe != NULL)
	{
		plan_row(p,
				 remote && pe->remote_vnet_id && pg_strcasecmp(pe->remote_vnet_id, remote) != 0 ?
				 "update" : "exists",
				 psprintf("peering %s (peeringState %s)", pe->name, pe->peering_state));
		return;
	}
	if (remote != NULL)
	{
		ArmPeering *other = arm_find_peering_to(token(p, AZURE_ARM), p->c->vnet_id, remote);

		if (other != NULL)
		{
			plan_row(p, "blocked",
					 psprintf("VNet %s is already peered with the provider's VNet by peering %s, made by hand: delete that peering first",
							  p->c->vnet_name, other->name));
			return;
		}
	}
	plan_row(p, "create",
			 psprintf("peering %s from VNet %s to the provider's VNet, VNet access allowed",
					  p->c->peering_name, p->c->vnet_name));
}

static void
plan_app_secret_remove(PeeringPlan *p)
{
	if (p->app == NULL)
		plan_row(p, "delete", "the application's secret");
}

static void
plan_preflight(PeeringPlan *p)
{
	api_check_connection(p->c, p->azure, p->aiven);
	p->checked = true;
}

/* Runs one check; an error becomes a "blocked" row naming the cause. */
static void
plan_check(PeeringPlan *p, const char *label, PlanCheck check)
{
	MemoryContext cxt = CurrentMemoryContext;

	p->label = label;
	PG_TRY();
	{
		check(p);
	}
	PG_CATCH();
	{
		ErrorData  *ed = peering_catch_error(cxt);

		plan_row(p, "blocked",
				 ed->hint ? psprintf("%s (hint: %s)", ed->message, ed->hint) : ed->message);
	}
	PG_END_TRY();
}

/* One property of an existing connection: as asked, or to update. */
static void
plan_property(PeeringPlan *p, const char *name, const char *now, const char *asked)
{
	if (strcmp(now, asked) == 0)
		plan_row(p, "exists", psprintf("%s %s", name, now));
	else
		plan_row(p, "update", psprintf("%s from %s to %s, in place", name, now, asked));
}

static const char *
bool_text(bool value)
{
	return value ? "true" : "false";
}

/*
 * The peering exists (connection p->existing): what peering_alter() would
 * change of it to make it what is asked, one row per property, and what
 * keeps peering_alter() from it.  peering_create() is refused; a DBA who
 * plans the same peering again wants to see the difference.
 */
static void
plan_alter(PeeringPlan *p)
{
	PeeringConn *c = catalog_load(p->existing, false);
	const PeeringConn *asked = p->c;

	plan_property(p, "allow_forwarded_traffic", bool_text(c->allow_forwarded_traffic),
				  bool_text(asked->allow_forwarded_traffic));
	plan_property(p, "allow_gateway_transit", bool_text(c->allow_gateway_transit),
				  bool_text(asked->allow_gateway_transit));
	plan_property(p, "use_remote_gateways", bool_text(c->use_remote_gateways),
				  bool_text(asked->use_remote_gateways));
	if (peering_string_lists_same(c->user_peer_network_cidrs, asked->user_peer_network_cidrs))
		plan_row(p, "exists", psprintf("user_peer_network_cidrs %s",
									   peering_string_list_text(c->user_peer_network_cidrs)));
	else
		plan_row(p, "update", psprintf("user_peer_network_cidrs from %s to %s, in place",
									   peering_string_list_text(c->user_peer_network_cidrs),
									   peering_string_list_text(asked->user_peer_network_cidrs)));
	plan_property(p, "open_ip_filter", bool_text(c->open_ip_filter),
				  bool_text(asked->open_ip_filter));
	api_check_alter(c, asked);
}

PG_FUNCTION_INFO_V1(peering_plan);

Datum
peering_plan(PG_FUNCTION_ARGS)
{
	/* the steps that make something, and what they would find or do */
	static const struct
	{
		PeeringStep step;
		PlanCheck	check;
	}			checks[] = {
		{STEP_APP, plan_app},
		{STEP_APP_SP, plan_app_sp},
		{STEP_APP_ROLE, plan_app_role},
		{STEP_APP_ROLE_ASSIGNMENT, plan_app_role_assignment},
		{STEP_PROVIDER_SP, plan_provider_sp},
		{STEP_PEER_ROLE, plan_peer_role},
		{STEP_PEER_ROLE_ASSIGNMENT, plan_peer_role_assignment},
		{STEP_AIVEN_REQUEST, plan_aiven_request},
		{STEP_APP_SECRET, plan_app_secret},
		{STEP_AZURE_PEERING, plan_azure_peering},
		{STEP_APP_SECRET_REMOVE, plan_app_secret_remove},
	};
	PeeringPlan p = {0};
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	p.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	p.c = api_requested_connection(fcinfo, true, &p.azure, &p.aiven);
	if (p.c->app_credential != NULL)
		p.app = catalog_get_credential(p.c->app_credential, false);

	/* the pre-flight of peering_create(): a refusal is the one row */
	plan_check(&p, "preflight", plan_preflight);
	if (p.checked)
		for (i = 0; i < lengthof(checks); i++)
			plan_check(&p, step_name(checks[i].step), checks[i].check);
	else if ((p.existing = catalog_find_live(p.c)) != 0)
		plan_check(&p, step_name(STEP_ALTER), plan_alter);
	return (Datum) 0;
}
