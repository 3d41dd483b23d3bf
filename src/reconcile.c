/*
 * reconcile.c
 *		The peering state machine (docs/architecture.md §2): one idempotent
 *		step at a time, each committed when it completes.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * A step reads the connection, makes its remote calls, and records what it
 * learned and how it went in the PeeringConn; nothing here touches the
 * catalog, so the network work runs with no transaction, snapshot or lock.
 * Every mutating call is idempotent: deterministic names (UUIDv5), upserts,
 * look-up before create, "already exists" read back as success.
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aiven.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "graph.h"
#include "peering.h"
#include "reconcile.h"
#include "remote.h"
#include "util.h"

typedef enum StepOutcome
{
	STEP_ADVANCED,				/* done: go to the next step now */
	STEP_WAITING,				/* remote work in progress: poll again */
	STEP_RETRY,					/* failed, worth another attempt */
	STEP_FAILED					/* stopped: the user must fix something */
} StepOutcome;

typedef struct StepResult
{
	StepOutcome outcome;
	const char *next;			/* overrides the step table's next step */
	char	   *message;
	char	   *hint;
	char	   *error_code;
	char	   *request_id;
	int			retry_after;	/* seconds, -1 if none */
	RemoteRetry retry;
} StepResult;

/* Reads of the cycle, sent together in parallel before the steps run. */
typedef struct Prefetch
{
	List	   *vpcs;			/* of VpcFetch *: one per project VPC */
	List	   *peerings;		/* of PeeringFetch *: one per connection */
} Prefetch;

typedef struct StepContext
{
	Prefetch   *prefetch;		/* NULL: every read is made on the spot */
} StepContext;

typedef void (*StepFunction) (PeeringConn *c, StepContext *ctx, StepResult *r);

typedef struct StepDef
{
	const char *name;
	StepFunction fn;
	const char *next;
	bool		needs_vpc;		/* reads the Aiven VPC (prefetched) */
	bool		needs_peering;	/* reads the Azure peering (prefetched) */
} StepDef;

/* One GET of a project VPC, shared by every connection of that VPC. */
typedef struct VpcFetch
{
	const char *credential;
	const char *project;
	const char *vpc_id;
	int			slot;			/* index in the batch of requests */
	HttpResponse *resp;
} VpcFetch;

/* One GET of a connection's Azure peering. */
typedef struct PeeringFetch
{
	int64		id;
	int			slot;
	HttpResponse *resp;
} PeeringFetch;

#define MIN_POLL_DELAY_MS		250

#define ROLE_PEERING_WRITER		"peering VNet peering writer"
#define ROLE_PROVIDER_PEER		"peering provider VNet peer"

/* ----------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------- */

static bool
is_true(const char *s)
{
	return s != NULL && (s[0] == 't' || s[0] == 'T');
}

static bool
state_in(const char *state, const char *const *set)
{
	for (; *set; set++)
		if (peering_str_eq(state, *set))
			return true;
	return false;
}

static const char *const aiven_failed[] = {"INVALID_SPECIFICATION", "REJECTED_BY_PEER",
"ERROR", "DELETED_BY_PEER", NULL};

static void
advance(StepResult *r, const char *fmt,...) pg_attribute_printf(2, 3);
static void
advance(StepResult *r, const char *fmt,...)
{
	va_list		ap;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	r->outcome = STEP_ADVANCED;
	r->message = buf.data;
}

static void
jump(StepResult *r, const char *next, const char *message)
{
	r->outcome = STEP_ADVANCED;
	r->next = next;
	r->message = pstrdup(message);
}

static void
wait_for(StepResult *r, const char *message)
{
	r->outcome = STEP_WAITING;
	r->message = message ? pstrdup(message) : NULL;
}

/* Not an error of ours: a remote change has to settle first. */
static void
retry_later(StepResult *r, RemoteRetry retry, char *message)
{
	r->outcome = STEP_RETRY;
	r->retry = retry;
	r->message = message;
}

static void
fail(StepResult *r, char *message, char *hint)
{
	r->outcome = STEP_FAILED;
	r->message = message;
	r->hint = hint;
}

/* The automation identity's token, in the subscription's tenant. */
static char *
admin_token(PeeringConn *c, AzureAudience aud)
{
	return auth_azure_token(c->azure_cred, c->tenant_id, aud);
}

static char *
role_definition_path(const PeeringConn *c, const char *guid)
{
	return psprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s",
					c->subscription_id, guid);
}

/* ----------------------------------------------------------------
 * Aiven side: the project VPC, fetched once per cycle
 * ---------------------------------------------------------------- */

static VpcFetch *
find_fetch(List *fetches, const PeeringConn *c)
{
	ListCell   *lc;

	foreach(lc, fetches)
	{
		VpcFetch   *f = lfirst(lc);

		if (strcmp(f->credential, c->aiven_credential) == 0 &&
			strcmp(f->project, c->project) == 0 &&
			strcmp(f->vpc_id, c->project_vpc_id) == 0)
			return f;
	}
	return NULL;
}

/*
 * The Aiven connection of c (NULL if none), from the prefetched VPC if any.
 * While tearing down, a VPC or project that is gone means no connection;
 * otherwise it is an error.
 */
static AivenPeering *
aiven_connection(PeeringConn *c, StepContext *ctx)
{
	VpcFetch   *f = ctx && ctx->prefetch ? find_fetch(ctx->prefetch->vpcs, c) : NULL;
	bool		teardown = peering_str_eq(c->desired, "absent");
	HttpResponse *resp;
	AivenVpc   *vpc;

	if (f != NULL)
		resp = f->resp;
	else
		resp = http_perform(aiven_get_vpc_request(auth_aiven_token(c->aiven_cred),
												  c->project, c->project_vpc_id));
	vpc = aiven_parse_vpc(resp, c->project, c->project_vpc_id, teardown);
	c->checked = true;
	if (vpc == NULL && teardown)
		return NULL;
	if (vpc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project VPC %s of project \"%s\" no longer exists",
						c->project_vpc_id, c->project)));
	return aiven_find_peering(vpc, peering_lower(c->subscription_id),
							  peering_lower(c->resource_group),
							  peering_lower(c->vnet_name));
}

/* Copies what Aiven says of the connection into c. */
static void
observe_aiven(PeeringConn *c, const AivenPeering *p)
{
	if (p == NULL)
		return;
	c->state = pstrdup(p->state);
	c->state_message = p->state_message ? pstrdup(p->state_message) : NULL;
	if (p->to_tenant_id)
		c->to_tenant_id = pstrdup(p->to_tenant_id);
	if (p->to_network_id)
		c->to_network_id = pstrdup(p->to_network_id);
}

static PeeringFetch *
find_peering_fetch(StepContext *ctx, const PeeringConn *c)
{
	ListCell   *lc;

	if (ctx == NULL || ctx->prefetch == NULL)
		return NULL;
	foreach(lc, ctx->prefetch->peerings)
	{
		PeeringFetch *f = lfirst(lc);

		if (f->id == c->id)
			return f;
	}
	return NULL;
}

/* Reads the Azure peering (as the automation identity) into c. */
static ArmPeering *
observe_azure(PeeringConn *c, StepContext *ctx)
{
	PeeringFetch *f = find_peering_fetch(ctx, c);
	ArmPeering *pe;

	if (f != NULL)
		pe = arm_parse_peering(f->resp, c->peering_name);
	else
		pe = arm_get_peering(admin_token(c, AZURE_ARM), c->vnet_id, c->peering_name);
	c->azure_peering_state = pe ? pstrdup(pe->peering_state) : NULL;
	if (pe)
		c->azure_peering_id = pstrdup(pe->id);
	return pe;
}

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
				   char **role_id, char **owned)
{
	char	   *token = admin_token(c, AZURE_ARM);
	char	   *role_name = psprintf("%s %s", base_name, c->subscription_id);
	char	   *guid = peering_uuid_v5(psprintf("role-definition/%s/%s",
												c->tenant_id, role_name));
	ArmRoleDefinition *def;

	def = arm_put_role_definition(token, c->subscription_id, guid, role_name,
								  description, actions);
	if (def != NULL)
	{
		*role_id = def->name;
		*owned = "true";
		advance(r, "custom role \"%s\" is in place (%s)", role_name, def->name);
		return;
	}
	def = arm_find_role_definition(token, c->subscription_id, role_name);
	if (def == NULL)
	{
		/* the name clash came from a role not yet listed: try again */
		retry_later(r, REMOTE_RETRY_PROPAGATION,
					psprintf("role \"%s\" exists but cannot be read yet", role_name));
		return;
	}
	*role_id = def->name;
	*owned = is_true(*owned) ? *owned : "false";
	advance(r, "found existing role \"%s\" (%s)", role_name, def->name);
}

/*
 * Assigns role to principal on the VNet under a GUID derived from scope,
 * role and principal.  An equal assignment under another name belongs to
 * someone else: it is used, not recorded, so teardown leaves it.
 */
static void
ensure_role_assignment(PeeringConn *c, StepResult *r, const char *role_id,
					   const char *principal_id, const char *who,
					   char **assignment_id)
{
	char	   *definition = role_definition_path(c, role_id);
	char	   *guid = peering_uuid_v5(psprintf("role-assignment/%s/%s/%s",
												peering_lower(c->vnet_id),
												role_id, principal_id));
	ArmRoleAssignment *a;

	a = arm_put_role_assignment(admin_token(c, AZURE_ARM), c->vnet_id, guid,
								definition, principal_id);
	*assignment_id = a->existed ? NULL : guid;
	if (a->existed)
		advance(r, "the %s already holds role %s on the VNet", who, role_id);
	else
		advance(r, "assigned role %s to the %s on the VNet (%s)", role_id, who, guid);
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
		fail(r, psprintf("another directory object holds the uniqueName \"%s\" of the peering application",
						 c->app_unique_name),
			 psprintf("Delete the object that holds it, then call peering_retry(" INT64_FORMAT ").",
					  c->id));
		return;
	}
	graph_purge_deleted(token, old->id);
	retry_later(r, REMOTE_RETRY_PROPAGATION,
				psprintf("permanently deleted application %s, which held the uniqueName \"%s\" in the recycle bin; creating the application again",
						 old->id, c->app_unique_name));
}

static void
step_app(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	GraphApplication *app;

	char	   *token = admin_token(c, AZURE_GRAPH);

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
	advance(r, "%s application %s (appId %s)",
			app->created ? "created" : "found", c->app_unique_name, app->app_id);
}

static void
step_app_sp(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	GraphServicePrincipal *sp;

	sp = graph_upsert_service_principal(admin_token(c, AZURE_GRAPH), c->app_id);
	c->app_sp_id = sp->id;
	advance(r, "%s the application's service principal %s",
			sp->created ? "created" : "found", sp->id);
}

/*
 * One secret in use: kept when recorded and still listed; otherwise every
 * other password of the app is removed (a crash may have left one whose
 * text was never stored) and a new one is added.
 */
static void
step_app_secret(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	char	   *token = admin_token(c, AZURE_GRAPH);
	GraphApplication *app = graph_get_application(token, c->app_object_id);
	GraphPassword *pw;
	ListCell   *lc;

	if (app == NULL)
	{
		wait_for(r, "the new application is not readable yet");
		return;
	}
	foreach(lc, app->password_key_ids)
	{
		char	   *key = lfirst(lc);

		if (c->app_cred != NULL && peering_str_eq(key, c->app_secret_key_id))
		{
			advance(r, "the application's secret is in place");
			return;
		}
	}
	foreach(lc, app->password_key_ids)
		graph_remove_password(token, c->app_object_id, lfirst(lc));

	pw = graph_add_password(token, c->app_object_id, "peering");
	c->app_secret_key_id = pw->key_id;
	c->new_app_secret = pw->secret_text;
	advance(r, "added a secret to the application (key %s)", pw->key_id);
}

static void
step_app_role(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	if (strcmp(c->app_role, "network_contributor") == 0)
	{
		c->app_role_id = AZURE_NETWORK_CONTRIBUTOR_ROLE;
		c->app_role_owned = "false";
		advance(r, "using the built-in Network Contributor role");
		return;
	}
	ensure_custom_role(c, r, ROLE_PEERING_WRITER,
					   "Lets the peering application create VNet peerings (peering extension)",
					   list_make5("Microsoft.Network/virtualNetworks/read",
								  "Microsoft.Network/virtualNetworks/peer/action",
								  "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
								  "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
								  "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete"),
					   &c->app_role_id, &c->app_role_owned);
}

static void
step_app_role_assignment(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	ensure_role_assignment(c, r, c->app_role_id, c->app_sp_id,
						   "peering application", &c->app_role_assignment_id);
}

/* The provider's service principal is shared: look it up, create if absent. */
static void
step_provider_sp(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	char	   *token = admin_token(c, AZURE_GRAPH);
	GraphServicePrincipal *sp = graph_get_service_principal(token, peering_provider_app_id);

	if (sp == NULL)
		sp = graph_upsert_service_principal(token, peering_provider_app_id);
	c->provider_sp_id = sp->id;
	if (sp->created)
		c->provider_sp_created = "true";
	else if (c->provider_sp_created == NULL)
		c->provider_sp_created = "false";
	advance(r, "%s the provider's service principal %s",
			sp->created ? "created" : "found", sp->id);
}

static void
step_peer_role(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	ensure_custom_role(c, r, ROLE_PROVIDER_PEER,
					   "Lets the provider's application peer its VNet with VNets of this subscription (peering extension)",
					   list_make1("Microsoft.Network/virtualNetworks/peer/action"),
					   &c->peer_role_id, &c->peer_role_owned);
}

static void
step_peer_role_assignment(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	ensure_role_assignment(c, r, c->peer_role_id, c->provider_sp_id,
						   "provider's service principal", &c->peer_role_assignment_id);
}

/*
 * Requests the Aiven connection, adopting a live one; one Aiven refused
 * earlier is deleted first, since Aiven wants it recreated after a fix.
 */
static void
step_aiven_request(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	AivenPeering *p = aiven_connection(c, ctx);
	char	   *token = auth_aiven_token(c->aiven_cred);

	observe_aiven(c, p);
	if (p != NULL && strcmp(p->state, "DELETING") == 0)
	{
		wait_for(r, "waiting for the earlier Aiven connection to be deleted");
		return;
	}
	if (p != NULL && state_in(p->state, aiven_failed))
	{
		observe_aiven(c, aiven_delete_peering(token, c->project, c->project_vpc_id,
											  peering_lower(c->subscription_id),
											  peering_lower(c->resource_group),
											  peering_lower(c->vnet_name)));
		wait_for(r, "deleting the refused Aiven connection before requesting it again");
		return;
	}
	if (p != NULL && strcmp(p->state, "DELETED") != 0)
	{
		advance(r, "found the Aiven connection in state %s", p->state);
		return;
	}
	p = aiven_create_peering(token, c->project, c->project_vpc_id,
							 peering_lower(c->subscription_id),
							 peering_lower(c->resource_group),
							 peering_lower(c->vnet_name), c->app_id, c->tenant_id);
	if (p == NULL)
	{
		/* the answer was lost or refused: what happened is read, not guessed */
		p = aiven_connection(c, NULL);
		if (p == NULL || peering_str_eq(p->state, "DELETED"))
		{
			retry_later(r, REMOTE_RETRY_TRANSIENT,
						pstrdup("the Aiven API gave no usable answer to the peering request, and no connection exists; requesting it again"));
			return;
		}
	}
	observe_aiven(c, p);
	advance(r, "requested the Aiven peering connection (state %s)", p->state);
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
	if (p == NULL || !state_in(p->state, aiven_failed))
		return false;
	fail(r, psprintf("Aiven set the peering connection to %s%s%s", p->state,
					 p->state_message ? ": " : "",
					 p->state_message ? p->state_message : ""),
		 aiven_failure_hint(c));
	return true;
}

static void
step_aiven_pending(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	AivenPeering *p = aiven_connection(c, ctx);

	if (p == NULL)
	{
		jump(r, "aiven_request", "the Aiven connection disappeared; requesting it again");
		return;
	}
	observe_aiven(c, p);
	if (fail_if_refused(c, p, r))
		return;
	if ((peering_str_eq(p->state, "PENDING_PEER") || peering_str_eq(p->state, "ACTIVE")) &&
		c->to_tenant_id != NULL && c->to_network_id != NULL)
		advance(r, "Aiven built its side: tenant %s, network %s",
				c->to_tenant_id, c->to_network_id);
	else
		wait_for(r, NULL);
}


static void
step_azure_peering(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	ArmPeering *pe;

	if (c->app_cred == NULL)
	{
		jump(r, "app_secret", "the application's secret is missing; adding one");
		return;
	}
	pe = observe_azure(c, ctx);
	if (pe != NULL && peering_str_eq(pe->peering_state, "Disconnected"))
	{
		arm_delete_peering(admin_token(c, AZURE_ARM), c->vnet_id, c->peering_name);
		wait_for(r, "deleting the disconnected Azure peering before creating it again");
		return;
	}

	pe = arm_put_peering(auth_azure_token(c->app_cred, c->tenant_id, AZURE_ARM),
						 auth_azure_token(c->app_cred, c->to_tenant_id, AZURE_ARM),
						 c->vnet_id, c->peering_name, c->to_network_id);

	c->azure_peering_id = pe->id;
	c->azure_peering_state = pe->peering_state;
	c->azure_operation = pe->async_operation;
	advance(r, "created the Azure peering %s (peeringState %s)",
			c->peering_name, pe->peering_state ? pe->peering_state : "unknown");
}

static void
step_azure_peering_wait(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	ArmPeering *pe;

	if (c->azure_operation != NULL && c->app_cred != NULL)
	{
		char	   *status = arm_get_operation_status(
													  auth_azure_token(c->app_cred, c->tenant_id, AZURE_ARM),
													  c->azure_operation);

		/* ARM spells it both ways */
		if (peering_str_eq(status, "Failed") || peering_str_eq(status, "Canceled") ||
			peering_str_eq(status, "Cancelled"))
		{
			c->azure_operation = NULL;
			jump(r, "azure_peering",
				 psprintf("the Azure peering operation ended %s; creating it again", status));
			return;
		}
		if (!peering_str_eq(status, "Succeeded"))
		{
			wait_for(r, NULL);
			return;
		}
		c->azure_operation = NULL;
	}
	pe = observe_azure(c, ctx);
	if (pe == NULL)
		jump(r, "azure_peering", "the Azure peering is gone; creating it again");
	else if (pe->provisioning_state && !peering_str_eq(pe->provisioning_state, "Succeeded"))
		wait_for(r, NULL);
	else
		advance(r, "the Azure peering is provisioned (peeringState %s)",
				pe->peering_state ? pe->peering_state : "unknown");
}

static void
step_aiven_active(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	AivenPeering *p = aiven_connection(c, ctx);
	ArmPeering *pe;

	if (p == NULL)
	{
		jump(r, "aiven_request", "the Aiven connection disappeared; requesting it again");
		return;
	}
	observe_aiven(c, p);
	if (fail_if_refused(c, p, r))
		return;
	pe = observe_azure(c, ctx);
	if (pe == NULL || peering_str_eq(pe->peering_state, "Disconnected"))
	{
		jump(r, "azure_peering", "the Azure peering is missing or disconnected; creating it again");
		return;
	}
	if (peering_str_eq(p->state, "ACTIVE") && peering_str_eq(pe->peering_state, "Connected"))
	{
		c->active_since = GetCurrentTimestamp();
		advance(r, "the peering is ACTIVE");
	}
	else
		wait_for(r, NULL);
}

/* Drift check of an ACTIVE connection: records any change and stops. */
static void
step_active(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	AivenPeering *p = aiven_connection(c, ctx);
	ArmPeering *pe;

	observe_aiven(c, p);
	if (p == NULL)
		c->state = "DELETED";
	pe = observe_azure(c, ctx);
	if (p != NULL && peering_str_eq(p->state, "ACTIVE") &&
		pe != NULL && peering_str_eq(pe->peering_state, "Connected"))
	{
		wait_for(r, NULL);
		return;
	}
	fail(r, psprintf("the peering drifted: Aiven state %s, Azure peering %s",
					 p ? p->state : "gone",
					 pe ? (pe->peering_state ? pe->peering_state : "unknown") : "gone"),
		 psprintf("Call peering_retry(" INT64_FORMAT ") to repair it, or peering_delete(" INT64_FORMAT ") to remove it.",
				  c->id, c->id));
	r->error_code = "drift";
}

/* ----------------------------------------------------------------
 * Delete steps
 * ---------------------------------------------------------------- */

/* Deletes the Azure peering and waits until ARM no longer has it. */
static void
step_delete_azure_peering(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	char	   *token;
	ArmPeering *pe;

	if (c->vnet_id == NULL)
	{
		advance(r, "no Azure peering to delete");
		return;
	}
	token = admin_token(c, AZURE_ARM);
	pe = arm_get_peering(token, c->vnet_id, c->peering_name);
	if (pe == NULL)
	{
		c->azure_peering_state = NULL;
		c->azure_operation = NULL;
		advance(r, "the Azure peering is deleted");
		return;
	}
	if (!peering_str_eq(pe->provisioning_state, "Deleting"))
		arm_delete_peering(token, c->vnet_id, c->peering_name);
	wait_for(r, NULL);
}

static void
step_delete_aiven(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	AivenPeering *p;

	p = aiven_delete_peering(auth_aiven_token(c->aiven_cred), c->project,
							 c->project_vpc_id, peering_lower(c->subscription_id),
							 peering_lower(c->resource_group),
							 peering_lower(c->vnet_name));
	observe_aiven(c, p);
	advance(r, p ? "asked Aiven to delete the connection" : "no Aiven connection to delete");
}

static void
step_aiven_deleted(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	AivenPeering *p = aiven_connection(c, ctx);

	observe_aiven(c, p);
	if (p == NULL || peering_str_eq(p->state, "DELETED"))
	{
		c->state = "DELETED";
		advance(r, "Aiven deleted the connection");
	}
	else if (!peering_str_eq(p->state, "DELETING"))
		jump(r, "delete_aiven", "the Aiven connection is not being deleted; asking again");
	else
		wait_for(r, NULL);
}

static void
step_delete_role_assignments(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	char	   *token = admin_token(c, AZURE_ARM);
	int			deleted = 0;

	if (c->app_role_assignment_id && c->vnet_id &&
		arm_delete_role_assignment(token, c->vnet_id, c->app_role_assignment_id))
		deleted++;
	/* the provider's assignment on a VNet serves every VPC peered with it */
	if (c->peer_role_assignment_id && c->vnet_id && !c->peer_assignment_shared &&
		arm_delete_role_assignment(token, c->vnet_id, c->peer_role_assignment_id))
		deleted++;
	c->app_role_assignment_id = NULL;
	c->peer_role_assignment_id = NULL;
	advance(r, "deleted %d role assignment%s", deleted, deleted == 1 ? "" : "s");
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
	retry_later(r, REMOTE_RETRY_PROPAGATION,
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
static void
step_delete_app(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	char	   *token = admin_token(c, AZURE_GRAPH);

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
	c->drop_app_secret = true;
	advance(r, "deleted the peering application and its service principal");
}

/*
 * Deletes a role this extension created, unless still in use: by another
 * connection, or by an assignment someone else made (ARM refuses then).
 */
static const char *
delete_role_if_unused(PeeringConn *c, const char *role_id, const char *owned, bool shared)
{
	if (role_id == NULL || !is_true(owned))
		return "not ours";
	if (shared)
		return "still used by another connection";
	switch (arm_delete_role_definition(admin_token(c, AZURE_ARM), c->subscription_id,
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

static void
step_delete_roles(PeeringConn *c, StepContext *ctx, StepResult *r)
{
	const char *app_role = delete_role_if_unused(c, c->app_role_id, c->app_role_owned,
												 c->app_role_shared);
	const char *peer_role = delete_role_if_unused(c, c->peer_role_id, c->peer_role_owned,
												  c->peer_role_shared);

	advance(r, "custom roles: application role %s, provider role %s", app_role, peer_role);
}

static const StepDef step_table[] = {
	{"app", step_app, "app_sp", false, false},
	{"app_sp", step_app_sp, "app_secret", false, false},
	{"app_secret", step_app_secret, "app_role", false, false},
	{"app_role", step_app_role, "app_role_assignment", false, false},
	{"app_role_assignment", step_app_role_assignment, "provider_sp", false, false},
	{"provider_sp", step_provider_sp, "peer_role", false, false},
	{"peer_role", step_peer_role, "peer_role_assignment", false, false},
	{"peer_role_assignment", step_peer_role_assignment, "aiven_request", false, false},
	{"aiven_request", step_aiven_request, "aiven_pending", true, false},
	{"aiven_pending", step_aiven_pending, "azure_peering", true, false},
	{"azure_peering", step_azure_peering, "azure_peering_wait", false, false},
	{"azure_peering_wait", step_azure_peering_wait, "aiven_active", false, false},
	{"aiven_active", step_aiven_active, "active", true, true},
	{"active", step_active, "active", true, true},
	{"delete_azure_peering", step_delete_azure_peering, "delete_aiven", false, false},
	{"delete_aiven", step_delete_aiven, "aiven_deleted", false, false},
	{"aiven_deleted", step_aiven_deleted, "delete_role_assignments", true, false},
	{"delete_role_assignments", step_delete_role_assignments, "delete_app", false, false},
	{"delete_app", step_delete_app, "delete_roles", false, false},
	{"delete_roles", step_delete_roles, "deleted", false, false},
};

static const StepDef *
step_lookup(const char *name)
{
	size_t		i;

	for (i = 0; i < lengthof(step_table); i++)
		if (strcmp(step_table[i].name, name) == 0)
			return &step_table[i];
	elog(ERROR, "unknown peering step \"%s\"", name);
	return NULL;				/* keep compiler quiet */
}

const char *
reconcile_restart_step(const PeeringConn *c)
{
	/* creation restarts from the top: every step is idempotent */
	return strcmp(c->desired, "present") == 0 ? "app" : c->step;
}

/* ----------------------------------------------------------------
 * Outcomes and scheduling
 * ---------------------------------------------------------------- */

/* Poll soon after a step began, then less often, up to poll_interval. */
static TimestampTz
next_poll(const PeeringConn *c, TimestampTz now)
{
	long		elapsed_ms;
	long		delay_ms;

	if (strcmp(c->step, "active") == 0)
		return TimestampTzPlusMilliseconds(now, (int64) peering_recheck_interval * 1000);
	elapsed_ms = (long) ((now - c->step_since) / 1000);
	delay_ms = Max(elapsed_ms / 4, MIN_POLL_DELAY_MS);
	delay_ms = Min(delay_ms, (long) peering_poll_interval * 1000);
	return TimestampTzPlusMilliseconds(now, delay_ms);
}

/* Exponential backoff with ±25% jitter, capped at poll_interval. */
static TimestampTz
next_retry(const PeeringConn *c, const StepResult *r, TimestampTz now)
{
	double		delay_ms = 500.0 * ((int64) 1 << Min(c->attempts, 16));

	delay_ms = Min(delay_ms, peering_poll_interval * 1000.0);
	delay_ms *= 0.75 + 0.5 * pg_prng_double(&pg_global_prng_state);
	if (r->retry_after > 0)
		delay_ms = Max(delay_ms, r->retry_after * 1000.0);
	return TimestampTzPlusMilliseconds(now, (int64) delay_ms);
}

static char *
error_text(const StepResult *r)
{
	if (r->hint)
		return psprintf("%s (hint: %s)", r->message, r->hint);
	return pstrdup(r->message);
}

/* The time budget of a retry class, in seconds (peering.*_retry_budget). */
static int
retry_budget(RemoteRetry retry)
{
	switch (retry)
	{
		case REMOTE_RETRY_PROPAGATION:
			return peering_replication_retry_budget;
		case REMOTE_RETRY_THROTTLING:
			return peering_throttling_retry_budget;
		case REMOTE_RETRY_TRANSIENT:
		case REMOTE_RETRY_NEVER:
			break;
	}
	return peering_transient_retry_budget;
}

/*
 * Counts a failed attempt against the budget of its class, measured from
 * the first failure of the run; false once the budget is spent.
 */
static bool
within_retry_budget(PeeringConn *c, RemoteRetry retry, TimestampTz now)
{
	if (c->retry_since == 0)
		c->retry_since = now;
	c->retry_class = pstrdup(remote_retry_name(retry));
	c->retry_until = TimestampTzPlusMilliseconds(c->retry_since,
												 (int64) retry_budget(retry) * 1000);
	return now < c->retry_until;
}

/* The step went through, or is waiting on the remote side: no error run. */
static void
clear_retry(PeeringConn *c)
{
	c->attempts = 0;
	c->last_error = NULL;
	c->last_error_code = NULL;
	c->retry_class = NULL;
	c->retry_since = 0;
	c->retry_until = 0;
}

static void
apply_outcome(PeeringConn *c, const StepDef *def, StepResult *r)
{
	TimestampTz now = GetCurrentTimestamp();

	if (r->outcome == STEP_RETRY && !within_retry_budget(c, r->retry, now))
	{
		r->outcome = STEP_FAILED;
		r->message = psprintf("%s; gave up after %d attempts since %s (peering.%s_retry_budget)",
							  r->message, c->attempts + 1,
							  timestamptz_to_str(c->retry_since), c->retry_class);
	}

	switch (r->outcome)
	{
		case STEP_ADVANCED:
			conn_event(c, "step", r->message, NULL, NULL);
			c->step = pstrdup(r->next ? r->next : def->next);
			clear_retry(c);
			c->step_since = now;
			c->next_attempt_at = strcmp(c->step, "deleted") == 0 ? 0 : now;
			break;
		case STEP_WAITING:
			clear_retry(c);
			c->next_attempt_at = next_poll(c, now);
			break;
		case STEP_RETRY:
			c->attempts++;
			c->last_error = error_text(r);
			c->last_error_code = r->error_code;
			c->next_attempt_at = next_retry(c, r, now);
			conn_event(c, "error",
					   psprintf("%s; retrying (%s) until %s", c->last_error,
								c->retry_class, timestamptz_to_str(c->retry_until)),
					   r->error_code, r->request_id);
			break;
		case STEP_FAILED:
			if (r->retry == REMOTE_RETRY_NEVER)
			{
				c->retry_class = NULL;
				c->retry_until = 0;
			}
			c->attempts++;
			c->failed = true;
			c->last_error = error_text(r);
			c->last_error_code = r->error_code;
			c->next_attempt_at = 0;
			conn_event(c, strcmp(c->step, "active") == 0 ? "drift" : "failed",
					   c->last_error, r->error_code, r->request_id);
			break;
	}
}

/* Errors not from a remote service that a later attempt may not see. */
static bool
local_error_is_transient(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_PROTOCOL_VIOLATION ||
		sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION ||
		sqlerrcode == ERRCODE_CONNECTION_FAILURE ||
		sqlerrcode == ERRCODE_CONNECTION_EXCEPTION ||
		sqlerrcode == ERRCODE_INTERNAL_ERROR;
}

/*
 * After a 401 or 403 the next attempt gets new tokens: the cached one may
 * have been revoked, or may predate a grant made since.
 */
static void
forget_tokens(PeeringConn *c)
{
	auth_forget(c->azure_cred, c->tenant_id, AZURE_ARM);
	auth_forget(c->azure_cred, c->tenant_id, AZURE_GRAPH);
	if (c->app_cred != NULL)
	{
		auth_forget(c->app_cred, c->tenant_id, AZURE_ARM);
		if (c->to_tenant_id != NULL)
			auth_forget(c->app_cred, c->to_tenant_id, AZURE_ARM);
	}
}

/* Turns a caught ERROR into the step's outcome. */
static void
classify_error(ErrorData *ed, StepResult *r)
{
	const RemoteError *remote = remote_last_error();

	r->message = ed->message;
	r->hint = ed->hint;
	r->error_code = pstrdup(unpack_sql_state(ed->sqlerrcode));
	if (remote)
	{
		r->retry = remote->retry;
		r->retry_after = remote->retry_after;
		if (remote->code[0])
			r->error_code = psprintf("%s %s", r->error_code, remote->code);
		if (remote->request_id[0])
			r->request_id = pstrdup(remote->request_id);
	}
	else
		r->retry = local_error_is_transient(ed->sqlerrcode) ?
			REMOTE_RETRY_TRANSIENT : REMOTE_RETRY_NEVER;
	r->outcome = r->retry == REMOTE_RETRY_NEVER ? STEP_FAILED : STEP_RETRY;
}

static void
perform_step(PeeringConn *c, Prefetch *prefetch)
{
	const StepDef *def = step_lookup(c->step);
	StepContext ctx = {prefetch};
	StepResult	r = {0};
	MemoryContext cxt = CurrentMemoryContext;

	r.retry_after = -1;
	c->checked = false;
	remote_clear_error();
	if (c->azure_cred == NULL || c->aiven_cred == NULL)
	{
		fail(&r, psprintf("credential \"%s\" does not exist",
						  c->azure_cred == NULL ? c->azure_credential : c->aiven_credential),
			 pstrdup("Create it again with peering_credential_set(), then call peering_retry()."));
		apply_outcome(c, def, &r);
		return;
	}
	PG_TRY();
	{
		def->fn(c, &ctx, &r);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		/* cancels and timeouts belong to the caller */
		if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			ed->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		FlushErrorState();
		classify_error(ed, &r);
		if (remote_last_error() != NULL &&
			(remote_last_error()->http_status == 401 ||
			 remote_last_error()->http_status == 403))
			forget_tokens(c);
	}
	PG_END_TRY();
	apply_outcome(c, def, &r);
}

void
reconcile_refresh(PeeringConn *c)
{
	AivenPeering *p;

	if (strcmp(c->step, "deleted") == 0)
		return;
	p = aiven_connection(c, NULL);
	observe_aiven(c, p);
	if (c->vnet_id != NULL && c->azure_peering_id != NULL)
		observe_azure(c, NULL);
}

/* ----------------------------------------------------------------
 * The cycle
 * ---------------------------------------------------------------- */

/*
 * The reads the claimed steps will make, sent in parallel: one GET per
 * distinct project VPC, one per Azure peering to check.
 */
static Prefetch *
prefetch_reads(List *conns)
{
	Prefetch   *pre = palloc0(sizeof(Prefetch));
	List	   *reqs = NIL;
	HttpRequest **req_array;
	HttpResponse **resps;
	ListCell   *lc;
	int			n = 0;

	foreach(lc, conns)
	{
		PeeringConn *c = lfirst(lc);
		const StepDef *def = step_lookup(c->step);

		if (def->needs_vpc && find_fetch(pre->vpcs, c) == NULL)
		{
			VpcFetch   *f = palloc0(sizeof(VpcFetch));

			f->credential = c->aiven_credential;
			f->project = c->project;
			f->vpc_id = c->project_vpc_id;
			f->slot = list_length(reqs);
			pre->vpcs = lappend(pre->vpcs, f);
			reqs = lappend(reqs, aiven_get_vpc_request(auth_aiven_token(c->aiven_cred),
													   c->project, c->project_vpc_id));
		}
		if (def->needs_peering && c->vnet_id != NULL)
		{
			PeeringFetch *f = palloc0(sizeof(PeeringFetch));

			f->id = c->id;
			f->slot = list_length(reqs);
			pre->peerings = lappend(pre->peerings, f);
			reqs = lappend(reqs, arm_get_peering_request(admin_token(c, AZURE_ARM),
														 c->vnet_id, c->peering_name));
		}
	}
	if (reqs == NIL)
		return pre;

	req_array = palloc(sizeof(HttpRequest *) * list_length(reqs));
	resps = palloc0(sizeof(HttpResponse *) * list_length(reqs));
	foreach(lc, reqs)
		req_array[n++] = lfirst(lc);
	http_perform_many(req_array, resps, n, peering_max_parallel_requests);

	foreach(lc, pre->vpcs)
	{
		VpcFetch   *f = lfirst(lc);

		f->resp = resps[f->slot];
	}
	foreach(lc, pre->peerings)
	{
		PeeringFetch *f = lfirst(lc);

		f->resp = resps[f->slot];
	}
	return pre;
}

/*
 * A failure to prepare the reads (an unreadable token, say) leaves each step
 * to read, and report the failure, for itself.
 */
static Prefetch *
prefetch_or_nothing(List *conns)
{
	MemoryContext cxt = CurrentMemoryContext;
	Prefetch   *volatile pre = NULL;

	PG_TRY();
	{
		pre = prefetch_reads(conns);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		pre = NULL;
	}
	PG_END_TRY();
	return pre;
}

int
reconcile_cycle(const CycleHooks *hooks, MemoryContext cycle_cxt, int limit)
{
	List	   *conns;
	List	   *befores = NIL;
	Prefetch   *prefetch;
	ListCell   *lc;
	ListCell   *lc2;
	int			advanced = 0;

	/* phase 1: claim due work in a short transaction */
	hooks->begin();
	MemoryContextSwitchTo(cycle_cxt);
	conns = catalog_claim_due(limit);
	hooks->commit();
	MemoryContextSwitchTo(cycle_cxt);
	if (conns == NIL)
		return 0;

	/* phase 2: the network, with no transaction, snapshot or lock */
	prefetch = prefetch_or_nothing(conns);

	foreach(lc, conns)
	{
		PeeringConn *c = lfirst(lc);

		befores = lappend(befores, conn_copy(c));
		perform_step(c, prefetch);
		if (c->next_attempt_at != 0 && c->next_attempt_at <= GetCurrentTimestamp())
			advanced++;
	}

	/* phase 3: write each result in its own short transaction */
	forboth(lc, befores, lc2, conns)
	{
		hooks->begin();
		MemoryContextSwitchTo(cycle_cxt);
		catalog_save(lfirst(lc), lfirst(lc2), true);
		hooks->commit();
		MemoryContextSwitchTo(cycle_cxt);
	}
	return advanced;
}
