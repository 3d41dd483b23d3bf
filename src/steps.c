/*
 * steps.c
 *		The steps that create a peering and watch it once ACTIVE
 *		(docs/architecture.md §2), one function each.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * A step reads the connection, makes its remote calls and records what it
 * learned and how it went in the PeeringConn and its StepResult; nothing
 * here touches the catalog or decides when a request goes out (engine.c
 * does).  Every mutating call is idempotent: deterministic names (UUIDv5),
 * upserts, look-up before create, "already exists" read back as success.
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

static const char *const aiven_failed[] = {"INVALID_SPECIFICATION", "REJECTED_BY_PEER",
"ERROR", "DELETED_BY_PEER", NULL};

/* automatic repairs of one connection within the transient retry budget */
#define MAX_RECENT_REPAIRS		3


/* ----------------------------------------------------------------
 * Shared Azure objects: custom roles and their assignments
 * ---------------------------------------------------------------- */

/*
 * Creates (or updates) a custom role at the subscription under a GUID
 * derived from tenant and name; when a role of that name already exists
 * under another GUID, it is reused and not counted as ours.
 */
static void
ensure_custom_role(PeeringConn *c, StepResult *r, const char *base_name,
				   const char *description, List *actions,
				   const char *known_id, ConnBool known_owned,
				   char **role_id, ConnBool *owned)
{
	char	   *token;
	char	   *role_name = step_custom_role_name(c, base_name);
	char	   *guid;
	ArmRoleDefinition *def;

	/* one PUT per subscription: ARM's write budget is per subscription */
	if (known_id != NULL)
	{
		*role_id = pstrdup(known_id);
		*owned = known_owned;
		step_advance(r, "custom role \"%s\" is in place for another connection (%s)",
				role_name, known_id);
		return;
	}
	token = step_admin_token(c, AZURE_ARM);
	guid = step_custom_role_guid(c, role_name);
	def = arm_put_role_definition(token, c->subscription_id, guid, role_name,
								  description, actions);
	if (def != NULL)
	{
		*role_id = def->name;
		*owned = CONN_BOOL_TRUE;
		step_advance(r, "custom role \"%s\" is in place (%s)", role_name, def->name);
		return;
	}
	def = arm_find_role_definition(token, c->subscription_id, role_name);
	if (def == NULL)
	{
		/* the name clash came from a role not yet listed: try again */
		step_retry_later(r, REMOTE_RETRY_PROPAGATION,
					psprintf("role \"%s\" exists but cannot be read yet", role_name));
		return;
	}
	*role_id = def->name;
	if (*owned != CONN_BOOL_TRUE)
		*owned = CONN_BOOL_FALSE;
	step_advance(r, "found existing role \"%s\" (%s)", role_name, def->name);
}

/*
 * Assigns role to principal on the VNet under a GUID derived from scope,
 * role and principal.  An equal assignment under another name belongs to
 * someone else: it is used, not recorded, so teardown leaves it.  One that
 * another connection recorded under the same GUID (known_id) is in place.
 */
static void
ensure_role_assignment(PeeringConn *c, StepResult *r, const char *role_id,
					   const char *principal_id, const char *who,
					   const char *known_id, char **assignment_id)
{
	char	   *definition = step_role_definition_path(c, role_id);
	char	   *guid = step_role_assignment_guid(c, role_id, principal_id);
	ArmRoleAssignment *a;

	if (known_id != NULL && pg_strcasecmp(known_id, guid) == 0)
	{
		*assignment_id = guid;
		step_advance(r, "the %s holds role %s on the VNet for another connection (%s)",
				who, role_id, guid);
		return;
	}
	a = arm_put_role_assignment(step_admin_token(c, AZURE_ARM), c->vnet_id, guid,
								definition, principal_id);
	*assignment_id = a->existed ? NULL : guid;
	if (a->existed)
		step_advance(r, "the %s already holds role %s on the VNet", who, role_id);
	else
		step_advance(r, "assigned role %s to the %s on the VNet (%s)", role_id, who, guid);
}

/* ----------------------------------------------------------------
 * Networks routed through the VNet (Aiven's user_peer_network_cidrs)
 * ---------------------------------------------------------------- */

/* The CIDRs of a that b lacks. */
static List *
cidrs_missing_from(const List *a, const List *b)
{
	List	   *missing = NIL;
	ListCell   *lc;

	foreach(lc, a)
	{
		if (!peering_string_list_member(b, lfirst(lc)))
			missing = lappend(missing, lfirst(lc));
	}
	return missing;
}

/*
 * Does Aiven route other networks through the connection than those the
 * connection names?  Not when Aiven's answer does not list them.
 */
static bool
routed_networks_differ(const PeeringConn *c, const AivenPeering *p)
{
	return p->user_peer_network_cidrs_known &&
		(cidrs_missing_from(c->user_peer_network_cidrs, p->user_peer_network_cidrs) != NIL ||
		 cidrs_missing_from(p->user_peer_network_cidrs, c->user_peer_network_cidrs) != NIL);
}

/*
 * Makes Aiven route through its connection (p, as read) the networks the
 * connection names, with one call for the difference: the same connection,
 * changed in place.  Returns what changed, for a message, or NULL when
 * nothing differed.
 */
static char *
sync_routed_networks(PeeringConn *c, const AivenPeering *p)
{
	List	   *add;
	List	   *remove;

	if (!routed_networks_differ(c, p))
		return NULL;
	add = cidrs_missing_from(c->user_peer_network_cidrs, p->user_peer_network_cidrs);
	remove = cidrs_missing_from(p->user_peer_network_cidrs, c->user_peer_network_cidrs);
	aiven_update_user_peer_network_cidrs(auth_aiven_token(c->attempt.aiven_cred),
										 c->project, c->project_vpc_id,
										 peering_lower(c->subscription_id),
										 peering_lower(c->resource_group),
										 peering_lower(c->vnet_name), add, remove);
	return psprintf("Aiven routes %s through the peering (added %s; removed %s)",
					peering_string_list_text(c->user_peer_network_cidrs), peering_string_list_text(add),
					peering_string_list_text(remove));
}

/* ----------------------------------------------------------------
 * Create steps
 * ---------------------------------------------------------------- */

/*
 * The uniqueName is held by another object.  One of our deleted
 * applications keeps it in the recycle bin for 30 days: purge it (restoring
 * it would bring back its old secrets) and create the application again.
 */
static void
purge_deleted_application(PeeringConn *c, const char *token, StepResult *r)
{
	GraphApplication *old = graph_find_deleted_application(token, c->app_unique_name);

	if (old == NULL)
	{
		step_fail(r, psprintf("another directory object holds the uniqueName \"%s\" of the peering application",
						 c->app_unique_name),
			 psprintf("Delete the object that holds it, then call peering_retry(" INT64_FORMAT ").",
					  c->id));
		return;
	}
	graph_purge_deleted(token, old->id);
	step_retry_later(r, REMOTE_RETRY_PROPAGATION,
				psprintf("permanently deleted application %s, which held the uniqueName \"%s\" in the recycle bin; creating the application again",
						 old->id, c->app_unique_name));
}

void
step_app(PeeringConn *c, StepResult *r)
{
	GraphApplication *app;
	char	   *token;

	if (step_brings_own_app(c))
	{
		c->app_id = pstrdup(c->attempt.app_cred->client_id);
		step_advance(r, "using the application %s of credential \"%s\", which is not ours to change",
				c->app_id, c->app_credential);
		return;
	}
	token = step_admin_token(c, AZURE_GRAPH);
	app = graph_upsert_application(token, c->app_unique_name,
								   psprintf("peering %s to Aiven %s",
											c->vnet_name, c->project));
	if (app == NULL)
	{
		purge_deleted_application(c, token, r);
		return;
	}
	c->app_id = app->app_id;
	c->app_object_id = app->id;
	step_advance(r, "%s application %s (appId %s)",
			app->created ? "created" : "found", c->app_unique_name, app->app_id);
}

void
step_app_sp(PeeringConn *c, StepResult *r)
{
	GraphServicePrincipal *sp;

	if (step_brings_own_app(c))
	{
		sp = graph_get_service_principal(step_admin_token(c, AZURE_GRAPH), c->app_id);
		if (sp == NULL)
		{
			step_fail(r, psprintf("application %s of credential \"%s\" has no service principal in tenant %s",
							 c->app_id, c->app_credential, c->tenant_id),
				 psprintf("An administrator of the tenant must run \"az ad sp create --id %s\"; then call peering_retry(" INT64_FORMAT ").",
						  c->app_id, c->id));
			return;
		}
		c->app_sp_id = sp->id;
		step_advance(r, "found the service principal %s of the application", sp->id);
		return;
	}
	sp = graph_upsert_service_principal(step_admin_token(c, AZURE_GRAPH), c->app_id);
	c->app_sp_id = sp->id;
	step_advance(r, "%s the application's service principal %s",
			sp->created ? "created" : "found", sp->id);
}

/* Removes every password of the peering application: all are ours. */
static void
remove_app_passwords(PeeringConn *c, const char *token, const GraphApplication *app)
{
	ListCell   *lc;

	foreach(lc, app->password_key_ids)
		graph_remove_password(token, c->app_object_id, lfirst(lc));
}

/*
 * Nothing needs the application's secret any more: its passwords go, and
 * so does the database's copy.
 */
static void
discard_app_secret(PeeringConn *c)
{
	char	   *token = step_admin_token(c, AZURE_GRAPH);
	GraphApplication *app = graph_get_application(token, c->app_object_id);

	if (app != NULL)
		remove_app_passwords(c, token, app);
	c->app_secret_key_id = NULL;
	c->attempt.drop_app_secret = true;
}

/*
 * The start of the attempt + peering.app_secret_lifetime, as Graph wants an
 * endDateTime.  Not "now": the request must be the same each time the
 * engine runs the step again, or it would be sent again.
 */
static char *
app_secret_end_time(const PeeringConn *c)
{
	TimestampTz start = c->attempt.started ? c->attempt.started : GetCurrentTimestamp();
	time_t		end = timestamptz_to_time_t(start) + peering_app_secret_lifetime;
	struct tm	tm;
	char		buf[32];

	gmtime_r(&end, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return pstrdup(buf);
}

/*
 * The application's secret, just in time for the Azure peering: kept when
 * recorded and still listed; otherwise every password of the application is
 * removed (a crash may have left one whose text was never stored) and one is
 * added that expires after peering.app_secret_lifetime.
 */
void
step_app_secret(PeeringConn *c, StepResult *r)
{
	char	   *token;
	GraphApplication *app;
	GraphPassword *pw;
	ListCell   *lc;

	if (step_brings_own_app(c))
	{
		step_advance(r, "the application's secret is that of credential \"%s\"", c->app_credential);
		return;
	}
	/* a connection of 1.0 stopped here before its roles were made */
	if (c->to_network_id == NULL)
	{
		step_jump(r, STEP_APP_ROLE, "the secret comes later, right before the Azure peering");
		return;
	}
	token = step_admin_token(c, AZURE_GRAPH);
	app = graph_get_application(token, c->app_object_id);
	if (app == NULL)
	{
		step_wait_for(r, "the new application is not readable yet");
		return;
	}
	foreach(lc, app->password_key_ids)
	{
		if (c->attempt.app_cred != NULL && peering_str_eq(lfirst(lc), c->app_secret_key_id))
		{
			step_advance(r, "the application's secret is in place");
			return;
		}
	}
	remove_app_passwords(c, token, app);
	pw = graph_add_password(token, c->app_object_id, "peering", app_secret_end_time(c));
	c->app_secret_key_id = pw->key_id;
	c->attempt.new_app_secret = pw->secret_text;
	step_advance(r, "added a secret to the application (key %s, valid until %s)",
			pw->key_id, pw->end_date_time ? pw->end_date_time : "unknown");
}

/* The Azure peering exists: nothing needs the application's secret now. */
void
step_app_secret_remove(PeeringConn *c, StepResult *r)
{
	if (step_brings_own_app(c))
	{
		step_advance(r, "the secret of credential \"%s\" is the user's to keep", c->app_credential);
		return;
	}
	discard_app_secret(c);
	step_advance(r, "removed the application's secret: nothing needs it once the Azure peering exists");
}

void
step_app_role(PeeringConn *c, StepResult *r)
{
	if (c->app_role == APP_ROLE_NETWORK_CONTRIBUTOR)
	{
		c->app_role_id = AZURE_NETWORK_CONTRIBUTOR_ROLE;
		c->app_role_owned = CONN_BOOL_FALSE;
		step_advance(r, "using the built-in Network Contributor role");
		return;
	}
	ensure_custom_role(c, r, ROLE_PEERING_WRITER,
					   "Lets the peering application create VNet peerings (peering extension)",
					   list_make5("Microsoft.Network/virtualNetworks/read",
								  "Microsoft.Network/virtualNetworks/peer/action",
								  "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
								  "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
								  "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete"),
					   c->attempt.known.app_role_id, c->attempt.known.app_role_owned,
					   &c->app_role_id, &c->app_role_owned);
}

void
step_app_role_assignment(PeeringConn *c, StepResult *r)
{
	ensure_role_assignment(c, r, c->app_role_id, c->app_sp_id,
						   "peering application", NULL, &c->app_role_assignment_id);
}

/*
 * The provider's service principal is shared: the one another connection
 * recorded, else look it up, and create it if absent.
 */
void
step_provider_sp(PeeringConn *c, StepResult *r)
{
	char	   *token;
	GraphServicePrincipal *sp;

	if (c->attempt.known.provider_sp_id != NULL)
	{
		c->provider_sp_id = pstrdup(c->attempt.known.provider_sp_id);
		if (c->provider_sp_created == CONN_BOOL_NULL)
			c->provider_sp_created = CONN_BOOL_FALSE;
		step_advance(r, "the provider's service principal %s is in place for another connection",
				c->provider_sp_id);
		return;
	}
	token = step_admin_token(c, AZURE_GRAPH);
	sp = graph_get_service_principal(token, peering_provider_app_id);

	if (sp == NULL)
		sp = graph_upsert_service_principal(token, peering_provider_app_id);
	c->provider_sp_id = sp->id;
	if (sp->created)
		c->provider_sp_created = CONN_BOOL_TRUE;
	else if (c->provider_sp_created == CONN_BOOL_NULL)
		c->provider_sp_created = CONN_BOOL_FALSE;
	step_advance(r, "%s the provider's service principal %s",
			sp->created ? "created" : "found", sp->id);
}

void
step_peer_role(PeeringConn *c, StepResult *r)
{
	ensure_custom_role(c, r, ROLE_PROVIDER_PEER,
					   "Lets the provider's application peer its VNet with VNets of this subscription (peering extension)",
					   list_make1("Microsoft.Network/virtualNetworks/peer/action"),
					   c->attempt.known.peer_role_id, c->attempt.known.peer_role_owned,
					   &c->peer_role_id, &c->peer_role_owned);
}

void
step_peer_role_assignment(PeeringConn *c, StepResult *r)
{
	ensure_role_assignment(c, r, c->peer_role_id, c->provider_sp_id,
						   "provider's service principal", c->attempt.known.peer_role_assignment_id,
						   &c->peer_role_assignment_id);
}

/*
 * Requests the Aiven connection, adopting a live one; one Aiven refused
 * earlier is deleted first, since Aiven wants it recreated after a fix.
 */
void
step_aiven_request(PeeringConn *c, StepResult *r)
{
	AivenVpc   *vpc = step_aiven_vpc(c);
	AivenPeering *p = step_aiven_peering_in(c, vpc);
	char	   *token = auth_aiven_token(c->attempt.aiven_cred);

	step_observe_aiven(c, p);
	if (p != NULL && strcmp(p->state, "DELETING") == 0)
	{
		step_wait_for_aiven(r, c, "the earlier Aiven connection is being deleted");
		return;
	}
	/* Aiven answers 409 to a request in a VPC it has not built yet */
	if ((p == NULL || strcmp(p->state, "DELETED") == 0) &&
		peering_str_eq(vpc->state, "APPROVED"))
	{
		step_wait_for(r, psprintf("project VPC %s is still being built (state APPROVED)",
							 c->project_vpc_id));
		return;
	}
	if (p != NULL && step_state_in(p->state, aiven_failed))
	{
		step_observe_aiven(c, aiven_delete_peering(token, c->project, c->project_vpc_id,
											  peering_lower(c->subscription_id),
											  peering_lower(c->resource_group),
											  peering_lower(c->vnet_name)));
		step_wait_for_aiven(r, c, "the refused Aiven connection is being deleted before it is requested again");
		return;
	}
	if (p != NULL && strcmp(p->state, "DELETED") != 0)
	{
		step_advance(r, "found the Aiven connection in state %s", p->state);
		return;
	}
	p = aiven_create_peering(token, c->project, c->project_vpc_id,
							 peering_lower(c->subscription_id),
							 peering_lower(c->resource_group),
							 peering_lower(c->vnet_name), c->app_id, c->tenant_id,
							 c->user_peer_network_cidrs);
	if (p == NULL)
	{
		/* the answer was lost or refused: what happened is read, not guessed */
		p = step_aiven_connection(c);
		if (p == NULL || peering_str_eq(p->state, "DELETED"))
		{
			step_retry_later(r, REMOTE_RETRY_TRANSIENT,
						pstrdup("the Aiven API gave no usable answer to the peering request, and no connection exists; requesting it again"));
			return;
		}
	}
	step_observe_aiven(c, p);
	step_advance(r, "requested the Aiven peering connection (state %s)", p->state);
}

static char *
aiven_failure_hint(const PeeringConn *c)
{
	return psprintf("Check that the VNet exists, that its address space does not overlap the project VPC and that the provider's service principal holds the peer role on it; then call peering_retry(" INT64_FORMAT ").",
					c->id);
}

/* Stops on Aiven's refusal; NULL-safe.  Returns true when it stopped. */
static bool
fail_if_refused(PeeringConn *c, const AivenPeering *p, StepResult *r)
{
	if (p == NULL || !step_state_in(p->state, aiven_failed))
		return false;
	step_fail(r, psprintf("Aiven set the peering connection to %s%s%s", p->state,
					 p->state_message ? ": " : "",
					 p->state_message ? p->state_message : ""),
		 aiven_failure_hint(c));
	return true;
}

/*
 * The Aiven connection, observed, while it is neither gone (then it is
 * requested again) nor refused (then the connection stops); else NULL.
 */
static AivenPeering *
live_aiven_connection(PeeringConn *c, StepResult *r)
{
	AivenPeering *p = step_aiven_connection(c);

	if (p == NULL)
	{
		step_jump(r, STEP_AIVEN_REQUEST, "the Aiven connection disappeared; requesting it again");
		return NULL;
	}
	step_observe_aiven(c, p);
	return fail_if_refused(c, p, r) ? NULL : p;
}

void
step_aiven_pending(PeeringConn *c, StepResult *r)
{
	AivenPeering *p = live_aiven_connection(c, r);

	if (p == NULL)
		return;
	if ((peering_str_eq(p->state, "PENDING_PEER") || peering_str_eq(p->state, "ACTIVE")) &&
		c->to_tenant_id != NULL && c->to_network_id != NULL)
		step_advance(r, "Aiven built its side: tenant %s, network %s",
				c->to_tenant_id, c->to_network_id);
	else if (peering_str_eq(p->state, "APPROVED"))
		step_wait_for_aiven(r, c, "Aiven has not built its side");
	else
		step_wait_for_aiven(r, c, "Aiven has not named the provider's tenant and network (state_info to-tenant-id, to-network-id)");
}


/* PUTs the Azure peering as the application, with the provider's tenant's token. */
static void
put_azure_peering(PeeringConn *c, bool sync)
{
	ArmPeering *pe;

	pe = arm_put_peering(auth_azure_token(c->attempt.app_cred, c->tenant_id, AZURE_ARM),
						 auth_azure_token(c->attempt.app_cred, c->to_tenant_id, AZURE_ARM),
						 c->vnet_id, c->peering_name, c->to_network_id,
						 step_desired_options(c), sync);
	step_record_azure(c, pe);
	c->azure_operation = pe->async_operation;
}

void
step_azure_peering(PeeringConn *c, StepResult *r)
{
	ArmPeering *pe;
	bool		sync;

	if (c->attempt.app_cred == NULL)
	{
		step_jump(r, STEP_APP_SECRET, "the application's secret is missing; adding one");
		return;
	}
	pe = step_observe_azure(c);
	if (step_refuse_foreign_peering(c, pe, r))
		return;
	if (pe != NULL && peering_str_eq(pe->peering_state, "Disconnected"))
	{
		arm_delete_peering(step_admin_token(c, AZURE_ARM), c->vnet_id, c->peering_name);
		step_wait_for(r, psprintf("the disconnected Azure peering %s is being deleted before it is created again",
							 c->peering_name));
		return;
	}

	/* the provider's VNet changed its address space since the peering took it */
	sync = pe != NULL && arm_sync_level_local_stale(pe->sync_level);
	put_azure_peering(c, sync);
	if (sync)
		step_advance(r, "synced the Azure peering %s with the address space of the provider's VNet",
				c->peering_name);
	else if (pe != NULL)
		step_advance(r, "updated the Azure peering %s in place (peeringState %s)",
				c->peering_name, c->azure_peering_state ? c->azure_peering_state : "unknown");
	else
		step_advance(r, "created the Azure peering %s (peeringState %s)",
				c->peering_name, c->azure_peering_state ? c->azure_peering_state : "unknown");
}

/*
 * Codes of a failed peering operation whose cause may be gone by itself
 * (another operation on the VNet, a remote VNet still updating, ARM's own
 * trouble): the peering is PUT once more.  Any other code needs a fix.
 */
static bool
azure_failure_may_pass(const ArmOperation *op)
{
	static const char *const passing[] = {"AnotherOperationInProgress",
		"ReferencedResourceNotProvisioned", "RetryableError", "InternalServerError",
	"OperationPreempted", NULL};

	return op->error_code == NULL ? !peering_str_eq(op->status, "Failed") :
		step_state_in(op->error_code, passing);
}

/*
 * The peering operation ended without success: PUT once more when the
 * cause may be gone and this step has not failed before, else stop with
 * ARM's own code and message.
 */
static void
azure_operation_failed(PeeringConn *c, const ArmOperation *op, StepResult *r)
{
	char	   *what = psprintf("the Azure operation creating peering %s ended %s%s%s%s%s",
								c->peering_name, op->status,
								op->error_code ? " with " : "",
								op->error_code ? op->error_code : "",
								op->error_message ? ": " : "",
								op->error_message ? op->error_message : "");

	c->azure_operation = NULL;
	if (c->attempts == 0 && azure_failure_may_pass(op))
	{
		put_azure_peering(c, false);
		step_retry_later(r, REMOTE_RETRY_TRANSIENT, psprintf("%s; put the peering once more", what));
		return;
	}
	step_fail(r, what,
		 psprintf("Fix what ARM reports (an overlap needs another address space, or removing the peering it overlaps with), then call peering_retry(" INT64_FORMAT ").",
				  c->id));
	r->error_code = psprintf("55000 %s", op->error_code ? op->error_code : op->status);
}

void
step_azure_peering_wait(PeeringConn *c, StepResult *r)
{
	ArmPeering *pe;

	if (c->azure_operation != NULL && c->attempt.app_cred != NULL)
	{
		ArmOperation *op = arm_get_operation(auth_azure_token(c->attempt.app_cred,
															  c->tenant_id, AZURE_ARM),
											 c->azure_operation);

		/* NULL: the operation may not be read; the peering tells instead */
		if (op != NULL && arm_operation_failed(op))
		{
			azure_operation_failed(c, op, r);
			return;
		}
		if (op != NULL && !peering_str_eq(op->status, "Succeeded"))
		{
			step_wait_for(r, psprintf("Azure is provisioning peering %s (operation %s)",
								 c->peering_name, op->status));
			return;
		}
		c->azure_operation = NULL;
	}
	pe = step_observe_azure(c);
	if (pe == NULL)
		step_jump(r, STEP_AZURE_PEERING, "the Azure peering is gone; creating it again");
	else if (peering_str_eq(pe->provisioning_state, "Failed"))
	{
		step_fail(r, psprintf("Azure could not provision peering %s (provisioningState Failed)",
						 c->peering_name),
			 psprintf("az network vnet peering show --resource-group %s --vnet-name %s --name %s shows it; fix the cause, then call peering_retry(" INT64_FORMAT ").",
					  c->resource_group, c->vnet_name, c->peering_name, c->id));
		r->error_code = "55000 Failed";
	}
	else if (pe->provisioning_state && !peering_str_eq(pe->provisioning_state, "Succeeded"))
		step_wait_for(r, psprintf("Azure is provisioning peering %s (provisioningState %s)",
							 c->peering_name, pe->provisioning_state));
	else
		step_advance(r, "the Azure peering is provisioned (peeringState %s)",
				pe->peering_state ? pe->peering_state : "unknown");
}

void
step_aiven_active(PeeringConn *c, StepResult *r)
{
	AivenPeering *p = live_aiven_connection(c, r);
	ArmPeering *pe;

	if (p == NULL)
		return;
	pe = step_observe_azure(c);
	if (pe == NULL || peering_str_eq(pe->peering_state, "Disconnected"))
	{
		step_jump(r, STEP_AZURE_PEERING, "the Azure peering is missing or disconnected; creating it again");
		return;
	}
	if (peering_str_eq(p->state, "ACTIVE") && peering_str_eq(pe->peering_state, "Connected"))
	{
		/* an existing connection found, or one repaired, may route others */
		char	   *routed = sync_routed_networks(c, p);

		/* ACTIVE is known reachable, or not, from the first moment */
		step_check_reachability(c, false);
		c->active_since = GetCurrentTimestamp();
		if (routed != NULL)
			step_advance(r, "the peering is ACTIVE; %s", routed);
		else
			step_advance(r, "the peering is ACTIVE");
	}
	else
		step_wait_for_aiven(r, c, psprintf("Aiven has not seen the peering yet (Azure peeringState %s)",
									  pe->peering_state ? pe->peering_state : "unknown"));
}

/* A return to FullyInSync is recorded (a stale side is reported elsewhere). */
static void
report_sync_level(PeeringConn *c, const char *was)
{
	if (c->azure_sync_level == NULL || peering_str_eq(was, c->azure_sync_level))
		return;
	if (was != NULL && !arm_sync_level_remote_stale(c->azure_sync_level) &&
		!arm_sync_level_local_stale(c->azure_sync_level))
		conn_event(c, EVENT_STEP,
				   psprintf("the address spaces of the peering are in sync again (peeringSyncLevel %s)",
							c->azure_sync_level),
				   NULL, NULL);
}

/*
 * A change of the customer's VNet address space leaves the provider's
 * peering back to it RemoteNotInSync.  Nothing here may write that side:
 * Aiven is asked to re-read the VNet once per change (a new address space,
 * or a peering newly stale), and the sync level is followed as a retry of
 * class replication.  Once peering.replication_retry_budget is spent it is
 * reported once as drift, never failed.  True when r says what to do.
 */
static bool
follow_remote_sync(PeeringConn *c, StepResult *r, const char *was, bool space_changed)
{
	bool		following = peering_str_eq(c->retry_class,
										   remote_retry_name(REMOTE_RETRY_PROPAGATION));
	char	   *waiting = psprintf("Aiven has not synced its side of the peering with the address space of VNet %s yet (peeringSyncLevel %s)",
								   c->vnet_name, c->azure_sync_level);

	if (space_changed || !arm_sync_level_remote_stale(was))
	{
		aiven_refresh_peerings(auth_aiven_token(c->attempt.aiven_cred), c->project,
							   c->project_vpc_id);
		conn_event(c, EVENT_STEP,
				   psprintf("asked Aiven to re-read the address space of VNet %s (peeringSyncLevel %s)",
							c->vnet_name, c->azure_sync_level),
				   NULL, NULL);
		step_retry_later(r, REMOTE_RETRY_PROPAGATION, waiting);
		return true;
	}
	if (!following)
		return false;
	/* a second short of the budget: the engine would fail the retry */
	if (GetCurrentTimestamp() < TimestampTzPlusMilliseconds(c->retry_until, -1000))
	{
		step_retry_later(r, REMOTE_RETRY_PROPAGATION, waiting);
		return true;
	}
	conn_event(c, EVENT_DRIFT,
			   psprintf("the address space of VNet %s changed and the provider's peering back to it has not taken it yet (peeringSyncLevel %s), although Aiven was asked to refresh it: the new addresses are not reachable from project VPC %s until the provider syncs its side; ask the provider's support if this lasts",
						c->vnet_name, c->azure_sync_level, c->project_vpc_id),
			   NULL, NULL);
	return false;
}

/* What to do about a drift that was not (or no longer) repaired. */
static char *
drift_hint(const PeeringConn *c, bool stale)
{
	if (step_is_adopted(c) && stale)
		return psprintf("An adopted peering is watched, not written: sync it with az network vnet peering sync --resource-group %s --vnet-name %s --name %s, then call peering_retry(" INT64_FORMAT ").",
						c->resource_group, c->vnet_name, c->peering_name, c->id);
	if (peering_auto_repair && !step_is_adopted(c))
		return psprintf("It was repaired %d times within peering.transient_retry_budget and drifted again: find the cause, then call peering_retry(" INT64_FORMAT ") or peering_delete(" INT64_FORMAT ").",
						c->attempt.recent_repairs, c->id, c->id);
	return psprintf("Call peering_retry(" INT64_FORMAT ") to repair it, or peering_delete(" INT64_FORMAT ") to remove it; peering.auto_repair = on repairs it without a call.",
					c->id, c->id);
}

/* Drift check of an ACTIVE connection: records any change and stops. */
void
step_active(PeeringConn *c, StepResult *r)
{
	AivenPeering *p;
	ArmPeering *pe;
	const char *was_sync_level = c->azure_sync_level;
	bool		stale;
	bool		routed_differ;
	bool		in_place;
	char	   *drift;

	/* a secret left by a crash, or kept by version 1.0: nothing needs it */
	if (!step_brings_own_app(c) && (c->app_secret_key_id != NULL || c->attempt.app_cred != NULL))
	{
		discard_app_secret(c);
		conn_event(c, EVENT_STEP, "removed an application secret that nothing needs", NULL, NULL);
	}
	p = step_aiven_connection(c);
	step_observe_aiven(c, p);
	if (p == NULL)
		c->state = "DELETED";
	pe = step_observe_azure_listed(c);
	/* a peering to another network holds the name: ours is gone */
	if (pe != NULL && !step_azure_peering_is_ours(c, pe))
		pe = step_record_azure(c, NULL);
	report_sync_level(c, was_sync_level);
	/* the provider's VNet changed its address space: the peering must sync */
	stale = pe != NULL && arm_sync_level_local_stale(pe->sync_level);
	routed_differ = p != NULL && routed_networks_differ(c, p);
	/* both sides live: only what peering_alter() changes in place differs */
	in_place = p != NULL && peering_str_eq(p->state, "ACTIVE") &&
		pe != NULL && peering_str_eq(pe->peering_state, "Connected") &&
		pe->allow_vnet_access && !stale;
	if (in_place && step_options_equal(&pe->options, step_desired_options(c)) && !routed_differ)
	{
		bool		remote_stale = arm_sync_level_remote_stale(pe->sync_level);
		bool		space_changed = step_check_reachability(c, remote_stale);

		if (remote_stale && follow_remote_sync(c, r, was_sync_level, space_changed))
			return;
		step_wait_for(r, pstrdup("the next re-check"));
		return;
	}
	drift = psprintf("the peering drifted: Aiven state %s, Azure peering %s%s%s%s%s",
					 p ? p->state : "gone",
					 pe ? (pe->peering_state ? pe->peering_state : "unknown") : "gone",
					 pe && !pe->allow_vnet_access ?
					 ", its VNet access is switched off (allowVirtualNetworkAccess false): no traffic passes" : "",
					 pe && !step_options_equal(&pe->options, step_desired_options(c)) ?
					 ", its options changed" : "",
					 stale ? psprintf(", the address space of the provider's VNet changed (peeringSyncLevel %s)",
									  pe->sync_level) : "",
					 routed_differ ?
					 psprintf(", Aiven routes other networks through it (user_peer_network_cidrs %s, not %s)",
							  peering_string_list_text(p->user_peer_network_cidrs),
							  peering_string_list_text(c->user_peer_network_cidrs)) : "");
	if (peering_auto_repair && !step_is_adopted(c) && c->attempt.recent_repairs < MAX_RECENT_REPAIRS)
	{
		/*
		 * Changed flags or routed networks of a live peering are put back
		 * in place, as peering_alter() changes them.  Otherwise the Aiven
		 * request re-requests a connection that is gone or refused, the
		 * Azure peering step re-creates a missing or disconnected peering,
		 * or syncs a stale one: from there on the create steps repair what
		 * is missing.
		 */
		conn_event(c, EVENT_REPAIR, psprintf("%s; repairing it (peering.auto_repair)", drift),
				   NULL, NULL);
		step_jump(r, in_place ? STEP_ALTER : STEP_AIVEN_REQUEST, "repairing the drifted peering");
		return;
	}
	step_fail(r, drift, drift_hint(c, stale));
	r->error_code = "drift";
}

/* The flags of the Azure peering, for messages. */
static char *
options_text(const PeeringOptions *o)
{
	return psprintf("allowForwardedTraffic %s, allowGatewayTransit %s, useRemoteGateways %s",
					o->allow_forwarded_traffic ? "true" : "false",
					o->allow_gateway_transit ? "true" : "false",
					o->use_remote_gateways ? "true" : "false");
}

/*
 * Applies peering_alter() in place: Aiven's routed networks with one call
 * for the difference, the flags of the same Azure peering with one PUT
 * (made by the Azure peering step, which gets the application a secret
 * first when it has none; the create steps that follow see it provisioned
 * and ACTIVE again).  A peering not live on both sides goes to the
 * re-check, whose drift rules take over.
 */
void
step_alter(PeeringConn *c, StepResult *r)
{
	AivenPeering *p = step_aiven_connection(c);
	ArmPeering *pe;
	char	   *routed;
	bool		flags_differ;

	step_observe_aiven(c, p);
	pe = step_observe_azure(c);
	if (step_refuse_foreign_peering(c, pe, r))
		return;
	if (p == NULL || !peering_str_eq(p->state, "ACTIVE") || pe == NULL ||
		!peering_str_eq(pe->peering_state, "Connected"))
	{
		step_jump(r, STEP_ACTIVE, "the peering is not live on both sides: the re-check takes over");
		return;
	}
	routed = sync_routed_networks(c, p);
	/* an adopted peering is not ours to write: the re-check reports it */
	flags_differ = !step_options_equal(&pe->options, step_desired_options(c)) &&
		!step_is_adopted(c);
	conn_event(c, EVENT_ALTERED,
			   psprintf("%s; %s; open_ip_filter %s",
						routed ? routed : psprintf("Aiven routes %s through the peering, unchanged",
												   peering_string_list_text(c->user_peer_network_cidrs)),
						flags_differ ?
						psprintf("the Azure peering %s is updated in place from %s to %s",
								 c->peering_name, options_text(&pe->options),
								 options_text(step_desired_options(c))) :
						psprintf("the Azure peering %s keeps %s", c->peering_name,
								 options_text(&pe->options)),
						c->open_ip_filter ? "on" : "off"),
			   NULL, NULL);
	if (flags_differ)
		step_jump(r, STEP_AZURE_PEERING, "updating the flags of the Azure peering in place");
	else
		step_jump(r, STEP_ACTIVE, "the change is applied");
}

/*
 * The step a re-armed connection restarts from (peering_retry()): a
 * teardown goes on where it stopped, a creation starts again from the top,
 * an adopted peering from the watch of Aiven's state.
 */
PeeringStep
step_restart(const PeeringConn *c)
{
	/* creation restarts from the top: every step is idempotent */
	if (c->desired != DESIRED_PRESENT)
		return (PeeringStep) c->step;
	/* an adopted peering has nothing of ours to make: it is watched again */
	return step_is_adopted(c) ? STEP_AIVEN_ACTIVE : STEP_APP;
}

/*
 * Reads the Aiven connection and, once known, the Azure peering into c,
 * for peering_status(); nothing for a deleted connection.  Raises on a
 * remote failure.  The two reads go out together.
 */
void
step_refresh(PeeringConn *c)
{
	bool		azure = c->vnet_id != NULL && c->azure_peering_id != NULL;

	if (step_is(c, STEP_DELETED))
		return;
	/* the two reads do not wait for each other: one round trip */
	if (azure)
		http_prefetch(list_make2(aiven_vpc_request(auth_aiven_token(c->attempt.aiven_cred),
												   c->project, c->project_vpc_id),
								 arm_read_request(step_admin_token(c, AZURE_ARM),
												  arm_peering_url(c->vnet_id, c->peering_name,
																  NULL))));
	PG_TRY();
	{
		step_observe_aiven(c, step_aiven_connection(c));
		if (azure)
			step_observe_azure(c);
	}
	PG_FINALLY();
	{
		http_prefetch_discard();
	}
	PG_END_TRY();
}

