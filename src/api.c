/*
 * api.c
 *		SQL entry points (docs/architecture.md §7).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * peering_create validates locally, checks read-only what it can remotely,
 * and records the desired peering; every mutating remote call is left to the
 * worker (or CALL peering_run()) after COMMIT, so a rolled-back transaction
 * leaves nothing behind, here or in the cloud.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "aiven.h"
#include "api.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "engine.h"
#include "graph.h"
#include "peering.h"
#include "steps.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(peering_credential_set);
PG_FUNCTION_INFO_V1(peering_credential_drop);
PG_FUNCTION_INFO_V1(peering_create);
PG_FUNCTION_INFO_V1(peering_status);
PG_FUNCTION_INFO_V1(peering_wait);
PG_FUNCTION_INFO_V1(peering_retry);
PG_FUNCTION_INFO_V1(peering_delete);
PG_FUNCTION_INFO_V1(peering_alter);
PG_FUNCTION_INFO_V1(peering_vpcs);

/* Aiven states peering_wait() accepts as a target. */
static const char *const wait_targets[] = {
	"APPROVED", "PENDING_PEER", "ACTIVE", "DELETED", NULL
};

/* ----------------------------------------------------------------
 * Argument helpers
 * ---------------------------------------------------------------- */

/*
 * A required argument, named for the error when it is NULL.  The functions
 * are CALLED ON NULL INPUT so that a NULL is an error here, not a silent
 * NULL result.
 */
static Datum
required_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", name)));
	return PG_GETARG_DATUM(argno);
}

static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	return TextDatumGetCString(required_arg(fcinfo, argno, name));
}

static char *
optional_text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static char *
uuid_arg(FunctionCallInfo fcinfo, int argno, const char *name, bool required)
{
	if (PG_ARGISNULL(argno) && !required)
		return NULL;
	return DatumGetCString(DirectFunctionCall1(uuid_out, required_arg(fcinfo, argno, name)));
}

/* Aiven's bound on user_peer_network_cidrs (docs/remote-apis.md). */
#define MAX_USER_PEER_NETWORK_CIDRS 128

/*
 * A cidr[] argument as a list of prefixes in canonical text form: not
 * NULL, no NULL element, no prefix twice, at most Aiven's 128.
 */
List *
api_cidr_list_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	ArrayType  *array = DatumGetArrayTypeP(required_arg(fcinfo, argno, name));
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *cidrs = NIL;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must be a one-dimensional array", name)));
	deconstruct_array(array, CIDROID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > MAX_USER_PEER_NETWORK_CIDRS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument \"%s\" has %d networks, more than Aiven's limit of %d",
						name, n, MAX_USER_PEER_NETWORK_CIDRS)));
	for (int i = 0; i < n; i++)
	{
		char	   *cidr;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain null", name)));
		cidr = DatumGetCString(DirectFunctionCall1(cidr_out, elems[i]));
		if (peering_string_list_member(cidrs, cidr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" names network %s twice", name, cidr)));
		cidrs = lappend(cidrs, cidr);
	}
	return cidrs;
}

static void
check_name(const char *field, const char *value, const char *problem)
{
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", field, value),
				 errdetail("%s", problem)));
}

/*
 * An Aiven project name, checked before it goes into a URL path: "..", "/"
 * or "?" would reach another endpoint.
 */
static void
check_project(const char *project)
{
	if (project[0] == '\0' || strlen(project) > 63 ||
		strspn(project, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(project))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid project \"%s\"", project),
				 errdetail("Aiven project names are 1 to 63 lower-case letters, digits, hyphens or underscores.")));
}

/* Refuses a function that writes on a hot standby (25006). */
void
refuse_on_standby(const char *function)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s() cannot run during recovery", function),
				 errhint("Run it on the primary.")));
}

static PeeringConn *
load_connection(int64 id, bool lock)
{
	PeeringConn *c = catalog_load(id, lock);

	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peering connection " INT64_FORMAT " does not exist", id),
				 errhint("SELECT * FROM peering_status() lists the connections.")));
	return c;
}

static bool
is_azure_kind(CredentialKind kind)
{
	return kind != CREDENTIAL_AIVEN_TOKEN;
}

/* The named credential, which must be of the right family. */
static Credential *
credential_for(const char *field, const char *name, bool azure)
{
	/* the applications' own secrets are not for users */
	Credential *cred = strncmp(name, "peering_app_", 12) == 0 ? NULL :
		catalog_get_credential(name, true);

	if (cred == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("credential \"%s\" does not exist", name),
				 errhint("Create it with peering_credential_set().")));

	if (azure != is_azure_kind(cred->kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is a credential of kind %s", field, name,
						credential_kind_name(cred->kind)),
				 errhint(azure ?
						 "Name a credential of kind azure_client_secret, azure_token or azure_managed_identity." :
						 "Name a credential of kind aiven_token.")));
	return cred;
}

/* ----------------------------------------------------------------
 * Credentials
 * ---------------------------------------------------------------- */

Datum
peering_credential_set(PG_FUNCTION_ARGS)
{
	Credential	cred = {0};
	bool		has_secret;
	char	   *secret;
	char	   *kind;

	cred.name = text_arg(fcinfo, 0, "name");
	kind = text_arg(fcinfo, 1, "kind");
	cred.secret_file = optional_text_arg(fcinfo, 2);
	cred.tenant_id = uuid_arg(fcinfo, 3, "tenant_id", false);
	cred.client_id = uuid_arg(fcinfo, 4, "client_id", false);
	cred.secret = optional_text_arg(fcinfo, 5);
	if (cred.secret != NULL && cred.secret[0] == '\0')
		cred.secret = NULL;
	has_secret = cred.secret_file != NULL || cred.secret != NULL;

	refuse_on_standby("peering_credential_set");
	if (strspn(cred.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(cred.name) ||
		strlen(cred.name) < 1 || strlen(cred.name) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid credential name \"%s\"", cred.name),
				 errdetail("A name is 1 to 63 letters, digits, underscores, periods or hyphens.")));
	if (strncmp(cred.name, "peering_app_", 12) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("credential name \"%s\" is reserved", cred.name),
				 errdetail("Names starting with \"peering_app_\" hold the secrets of the applications this extension creates.")));
	if (!credential_kind_by_name(kind, &cred.kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid credential kind \"%s\"", kind),
				 errhint("The kinds are aiven_token, azure_client_secret, azure_token and azure_managed_identity.")));
	if (cred.secret_file != NULL && cred.secret != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret_file and secret cannot both be given")));
	if (cred.kind == CREDENTIAL_AZURE_MANAGED_IDENTITY && has_secret)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a credential of kind azure_managed_identity takes no secret"),
				 errhint("The token comes from the instance metadata service; give client_id to pick a user-assigned identity.")));
	if (cred.kind != CREDENTIAL_AZURE_MANAGED_IDENTITY && !has_secret)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a credential of kind %s needs secret_file", kind),
				 errhint("Write the secret to a file owned by the database server's user with mode 0600 and pass its path.")));
	if (cred.kind == CREDENTIAL_AZURE_CLIENT_SECRET &&
		(cred.tenant_id == NULL || cred.client_id == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a credential of kind azure_client_secret needs tenant_id and client_id"),
				 errhint("tenant_id is the Azure AD tenant of the subscription; client_id is the application (client) id of the automation identity.")));

	if (cred.secret_file != NULL)
	{
		/*
		 * Naming a server file is reading it: as for COPY FROM a file.  The
		 * function runs as its caller (SECURITY INVOKER), so this is the
		 * current user, also inside another role's SECURITY DEFINER code.
		 */
		if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to use a server file as a secret"),
					 errdetail("Only superusers and roles with privileges of pg_read_server_files may set secret_file.")));
		if (!is_absolute_path(cred.secret_file))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("secret_file must be an absolute path")));
		/* fail now, not in the worker: mode, owner, content */
		secret = auth_read_secret(&cred);
		explicit_bzero(secret, strlen(secret));
		pfree(secret);
	}
	if (cred.secret != NULL)
		ereport(WARNING,
				(errmsg("the secret of credential \"%s\" was passed in SQL text", cred.name),
				 errdetail("Statement logging and pg_stat_statements may have recorded it."),
				 errhint("Use secret_file instead.")));

	catalog_set_credential(&cred);
	if (cred.secret != NULL)
		explicit_bzero(cred.secret, strlen(cred.secret));
	PG_RETURN_VOID();
}

Datum
peering_credential_drop(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");

	refuse_on_standby("peering_credential_drop");
	/* as DROP without IF EXISTS: a name that matches nothing is an error */
	if (!catalog_drop_credential(name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("credential \"%s\" does not exist", name),
				 errhint("SELECT * FROM peering_credentials() lists the credentials.")));
	PG_RETURN_BOOL(true);
}

/* ----------------------------------------------------------------
 * peering_create
 * ---------------------------------------------------------------- */

/* Names Aiven needs in lower case: say so when we change them. */
static void
notice_lower_case(const char *field, const char *value)
{
	char	   *lower = peering_lower(value);

	if (strcmp(lower, value) != 0)
		ereport(NOTICE,
				(errmsg("%s \"%s\" is sent to Aiven in lower case, as \"%s\"",
						field, value, lower),
				 errdetail("The Aiven API accepts Azure names in lower case only; Azure compares them without regard to case.")));
}

static char *
default_peering_name(const char *project, const char *vpc_id)
{
	char	   *name = psprintf("aiven-%s-%.8s", project, vpc_id);

	if (azure_peering_name_problem(name) != NULL)
		name = psprintf("aiven-%.8s", vpc_id);
	return name;
}

/*
 * An application the user brings: a client secret that gets a token in the
 * subscription's tenant, and an application that other tenants may use
 * (checked when the automation identity may read it in Graph).
 */
static void
preflight_own_app(PeeringConn *c, Credential *azure, Credential *app)
{
	MemoryContext cxt = CurrentMemoryContext;
	GraphApplication *volatile found = NULL;

	if (app->kind != CREDENTIAL_AZURE_CLIENT_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("app_credential \"%s\" is a credential of kind %s", app->name,
						credential_kind_name(app->kind)),
				 errhint("Name an azure_client_secret credential holding the application's client id and secret: the peering needs its token in both tenants.")));
	(void) auth_azure_token(app, c->tenant_id, AZURE_ARM);

	PG_TRY();
	{
		found = graph_get_application_by_app_id(auth_azure_token(azure, NULL, AZURE_GRAPH),
												app->client_id);
	}
	PG_CATCH();
	{
		ErrorData  *ed = peering_catch_error(cxt);

		if (ed->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE)
			ReThrowError(ed);
		ereport(NOTICE,
				(errmsg("could not check that application %s accepts other tenants", app->client_id),
				 errdetail("Credential \"%s\" may not read applications in Microsoft Graph.", azure->name)));
	}
	PG_END_TRY();
	if (found != NULL && found->sign_in_audience != NULL &&
		strcmp(found->sign_in_audience, "AzureADMultipleOrgs") != 0 &&
		strcmp(found->sign_in_audience, "AzureADandPersonalMicrosoftAccount") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("application %s of app_credential \"%s\" is not multi-tenant", app->client_id, app->name),
				 errdetail("Its signInAudience is %s; the provider's tenant must be able to use it.", found->sign_in_audience),
				 errhint("Set signInAudience to AzureADMultipleOrgs (az ad app update --id %s --sign-in-audience AzureADMultipleOrgs).", app->client_id)));
}

/*
 * The peering name must be free, or held by a peering to the provider's
 * VNet (one a former connection made, or the manual procedure): the
 * extension never writes a peering it cannot prove its own.  The provider's
 * VNet is known once Aiven built its side of a connection with this VNet.
 */
static void
refuse_peering_name_taken(PeeringConn *c, const char *arm_token, const AivenPeering *p)
{
	ArmPeering *pe = arm_get_peering(arm_token, c->vnet_id, c->peering_name);
	const char *provider = p ? p->to_network_id : NULL;

	if (pe == NULL ||
		(provider != NULL && pe->remote_vnet_id != NULL &&
		 pg_strcasecmp(pe->remote_vnet_id, provider) == 0))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("virtual network \"%s\" already has a peering named \"%s\"",
					c->vnet_name, c->peering_name),
			 errdetail("The extension changes and deletes only peerings to the provider's virtual network."),
			 errhint("Peering \"%s\" connects to %s; choose another peering_name.",
					 pe->name, pe->remote_vnet_id ? pe->remote_vnet_id : "an unknown network")));
}

/*
 * A network routed through the VNet cannot be one of the project VPC's own
 * addresses.
 */
static void
refuse_cidrs_overlapping_vpc(const PeeringConn *c)
{
	ListCell   *lc;

	foreach(lc, c->user_peer_network_cidrs)
	{
		char	   *cidr = lfirst(lc);

		if (peering_networks_overlap(cidr, c->vpc_network_cidr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("user_peer_network_cidrs network %s overlaps network %s of project VPC %s",
							cidr, c->vpc_network_cidr, c->project_vpc_id),
					 errhint("Name only networks behind the virtual network, outside the project VPC.")));
	}
}

/*
 * What the pre-flights of one transaction read remotely and share: the
 * tenant of a subscription, a VNet.  Creates made together read each once
 * (the worker reads them again when it acts).  Kept in
 * TopTransactionContext, for the transaction that made them.
 */
typedef struct PreflightMemo
{
	char	   *key;			/* credential, subscription[, group, VNet] */
	char	   *tenant;			/* a subscription's, or NULL */
	ArmVnet    *vnet;			/* or NULL */
} PreflightMemo;

static List *preflight_memos = NIL;
static LocalTransactionId preflight_memos_lxid = InvalidLocalTransactionId;

static PreflightMemo *
preflight_memo(const char *key)
{
	ListCell   *lc;

	if (preflight_memos_lxid != MyProc->lxid)
	{
		preflight_memos = NIL;
		preflight_memos_lxid = MyProc->lxid;
	}
	foreach(lc, preflight_memos)
	{
		PreflightMemo *m = lfirst(lc);

		if (strcmp(m->key, key) == 0)
			return m;
	}
	return NULL;
}

static void
preflight_remember(const char *key, const char *tenant, const ArmVnet *vnet)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	PreflightMemo *m = palloc0(sizeof(PreflightMemo));
	ListCell   *lc;

	m->key = pstrdup(key);
	if (tenant != NULL)
		m->tenant = pstrdup(tenant);
	if (vnet != NULL)
	{
		m->vnet = palloc0(sizeof(ArmVnet));
		m->vnet->id = pstrdup(vnet->id);
		m->vnet->name = pstrdup(vnet->name);
		m->vnet->location = pstrdup(vnet->location);
		foreach(lc, vnet->address_prefixes)
			m->vnet->address_prefixes = lappend(m->vnet->address_prefixes,
												pstrdup(lfirst(lc)));
	}
	preflight_memos = lappend(preflight_memos, m);
	MemoryContextSwitchTo(old);
}

/* The memo keys of the connection's subscription and VNet. */
static char *
tenant_key(const PeeringConn *c, const Credential *azure)
{
	return psprintf("%s/%s", azure->name, peering_lower(c->subscription_id));
}

static char *
vnet_key(const PeeringConn *c, const Credential *azure)
{
	return psprintf("%s/%s/%s/%s", azure->name, peering_lower(c->subscription_id),
					peering_lower(c->resource_group), peering_lower(c->vnet_name));
}

/* The subscription's tenant, checked against the credential's. */
static char *
preflight_tenant(PeeringConn *c, Credential *azure, const char *arm_token)
{
	char	   *key = tenant_key(c, azure);
	PreflightMemo *memo = preflight_memo(key);
	char	   *tenant = memo ? memo->tenant :
		arm_get_subscription_tenant(arm_token, c->subscription_id);

	if (tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription %s is not visible to credential \"%s\"",
						c->subscription_id, azure->name),
				 errhint("Check subscription_id, and that the credential's tenant_id is the subscription's tenant and its identity holds a role on the subscription.")));
	if (azure->tenant_id != NULL && pg_strcasecmp(tenant, azure->tenant_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("subscription %s belongs to tenant %s, but credential \"%s\" is for tenant %s",
						c->subscription_id, tenant, azure->name, azure->tenant_id),
				 errhint("Use a credential of the subscription's tenant.")));
	if (memo == NULL)
		preflight_remember(key, tenant, NULL);
	return tenant;
}

/* The VNet, which must exist. */
static ArmVnet *
preflight_vnet(PeeringConn *c, Credential *azure, const char *arm_token)
{
	char	   *key = vnet_key(c, azure);
	PreflightMemo *memo = preflight_memo(key);
	ArmVnet    *vnet = memo ? memo->vnet :
		arm_get_vnet(arm_token, c->subscription_id, c->resource_group, c->vnet_name);

	if (vnet == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("virtual network \"%s\" does not exist in resource group \"%s\" of subscription %s",
						c->vnet_name, c->resource_group, c->subscription_id),
				 errhint("Check vnet_name and resource_group.")));
	if (memo == NULL)
		preflight_remember(key, NULL, vnet);
	return vnet;
}

/*
 * The reads of preflight() that no earlier pre-flight of this transaction
 * made, sent together (http_prefetch): the subscriptions' first page, the
 * VNet, the project VPC and the peering by name.  One round trip, whatever
 * the number of peerings anywhere.
 */
static void
preflight_send_ahead(PeeringConn *c, Credential *azure, const char *arm_token,
					 const char *aiven_token)
{
	List	   *ahead = NIL;
	PreflightMemo *vnet = preflight_memo(vnet_key(c, azure));

	if (preflight_memo(tenant_key(c, azure)) == NULL)
		ahead = lappend(ahead, arm_read_request(arm_token, arm_subscriptions_url()));
	if (vnet == NULL)
		ahead = lappend(ahead, arm_read_request(arm_token,
												arm_vnet_url(c->subscription_id, c->resource_group,
															 c->vnet_name)));
	ahead = lappend(ahead, aiven_vpc_request(aiven_token, c->project, c->project_vpc_id));
	if (!c->adopted)
		ahead = lappend(ahead, arm_read_request(arm_token,
												arm_peering_url(vnet ? vnet->vnet->id :
																arm_vnet_id(c->subscription_id,
																			c->resource_group,
																			c->vnet_name),
																c->peering_name, NULL)));
	http_prefetch(ahead);
}

/* Read-only checks against Azure and Aiven; fills what they teach. */
static void
preflight(PeeringConn *c, Credential *azure, Credential *aiven)
{
	char	   *arm_token = auth_azure_token(azure, NULL, AZURE_ARM);
	char	   *aiven_token = auth_aiven_token(aiven);
	ArmVnet    *volatile vnet = NULL;
	AivenVpc   *volatile vpc = NULL;
	ListCell   *lc;

	/* a supplied token has one audience; other kinds must reach Graph too */
	if (azure->kind != CREDENTIAL_AZURE_TOKEN)
		(void) auth_azure_token(azure, NULL, AZURE_GRAPH);

	PG_TRY();
	{
		preflight_send_ahead(c, azure, arm_token, aiven_token);
		c->tenant_id = peering_lower(preflight_tenant(c, azure, arm_token));
		vnet = preflight_vnet(c, azure, arm_token);
		c->vnet_id = vnet->id;

		vpc = aiven_get_vpc(aiven_token, c->project, c->project_vpc_id, false);
		if (vpc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project VPC %s does not exist in project \"%s\"",
							c->project_vpc_id, c->project),
					 errhint("SELECT * FROM peering_vpcs('%s') lists the project's VPCs.", c->project)));
		if (strncmp(vpc->cloud_name, "azure-", 6) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project VPC %s is in cloud \"%s\", not in Azure",
							c->project_vpc_id, vpc->cloud_name),
					 errhint("Choose a project VPC whose cloud_name starts with \"azure-\".")));
		if (strcmp(vpc->state, "DELETING") == 0 || strcmp(vpc->state, "DELETED") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project VPC %s is %s", c->project_vpc_id, vpc->state)));
		c->vpc_network_cidr = vpc->network_cidr;
		if (!c->adopted)
			refuse_peering_name_taken(c, arm_token, step_aiven_peering_in(c, vpc));
	}
	PG_FINALLY();
	{
		http_prefetch_discard();
	}
	PG_END_TRY();

	foreach(lc, vnet->address_prefixes)
	{
		char	   *prefix = lfirst(lc);

		if (peering_networks_overlap(prefix, vpc->network_cidr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("address space %s of virtual network \"%s\" overlaps network %s of project VPC %s",
							prefix, c->vnet_name, vpc->network_cidr, c->project_vpc_id),
					 errhint("Peered networks must not overlap: use another VNet or another project VPC.")));
	}
	c->vnet_address_space = vnet->address_prefixes;
	refuse_cidrs_overlapping_vpc(c);
}

/*
 * The connection peering_create() and peering_plan() are asked for
 * (create_args), or peering_adopt() with its fewer arguments, checked
 * locally: nothing remote happens before this passes.  Sets *azure and
 * *aiven to the credentials it names.  Raises for a missing argument, a
 * bad name or an unknown credential.
 */
PeeringConn *
api_requested_connection(FunctionCallInfo fcinfo, bool create_args,
						 Credential **azure, Credential **aiven)
{
	PeeringConn *c = palloc0(sizeof(PeeringConn));
	char	   *app_role;

	c->project = text_arg(fcinfo, 0, "project");
	c->project_vpc_id = uuid_arg(fcinfo, 1, "project_vpc_id", true);
	c->subscription_id = uuid_arg(fcinfo, 2, "subscription_id", true);
	c->resource_group = text_arg(fcinfo, 3, "resource_group");
	c->vnet_name = text_arg(fcinfo, 4, "vnet_name");
	if (create_args)
	{
		c->peering_name = optional_text_arg(fcinfo, 5);
		c->azure_credential = text_arg(fcinfo, 6, "azure_credential");
		c->aiven_credential = text_arg(fcinfo, 7, "aiven_credential");
		app_role = text_arg(fcinfo, 8, "app_role");
		c->app_credential = optional_text_arg(fcinfo, 9);
		c->allow_forwarded_traffic = DatumGetBool(required_arg(fcinfo, 10, "allow_forwarded_traffic"));
		c->allow_gateway_transit = DatumGetBool(required_arg(fcinfo, 11, "allow_gateway_transit"));
		c->use_remote_gateways = DatumGetBool(required_arg(fcinfo, 12, "use_remote_gateways"));
		/* version 1.1 of the SQL functions passes neither */
		if (PG_NARGS() > 13)
		{
			c->user_peer_network_cidrs = api_cidr_list_arg(fcinfo, 13, "user_peer_network_cidrs");
			c->open_ip_filter = DatumGetBool(required_arg(fcinfo, 14, "open_ip_filter"));
		}
	}
	else
	{
		/*
		 * peering_adopt(): the peering's options are found, its name given
		 * or found (version 1.1 of the SQL function passes no name)
		 */
		c->azure_credential = text_arg(fcinfo, 5, "azure_credential");
		c->aiven_credential = text_arg(fcinfo, 6, "aiven_credential");
		c->peering_name = PG_NARGS() > 7 ? optional_text_arg(fcinfo, 7) : NULL;
		app_role = (char *) app_role_name(APP_ROLE_CUSTOM);
	}
	c->desired = DESIRED_PRESENT;

	check_project(c->project);
	check_name("resource_group", c->resource_group,
			   azure_resource_group_problem(c->resource_group));
	check_name("vnet_name", c->vnet_name, azure_vnet_name_problem(c->vnet_name));
	if (c->peering_name == NULL && create_args)
		c->peering_name = default_peering_name(c->project, c->project_vpc_id);
	if (c->peering_name != NULL)
		check_name("peering_name", c->peering_name,
				   azure_peering_name_problem(c->peering_name));
	if (!app_role_by_name(app_role, &c->app_role))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid app_role \"%s\"", app_role),
				 errhint("Use \"custom\" (a role holding only what peering needs) or \"network_contributor\".")));
	*azure = credential_for("azure_credential", c->azure_credential, true);
	*aiven = credential_for("aiven_credential", c->aiven_credential, false);
	notice_lower_case("resource_group", c->resource_group);
	notice_lower_case("vnet_name", c->vnet_name);
	return c;
}

/*
 * The checks peering_create() and peering_adopt() share: no live duplicate,
 * and what the remote services say (credentials work, the subscription, the
 * VNet and the project VPC exist, address spaces do not overlap).  Fills
 * what they learn: tenant, VNet id, address spaces.
 */
void
api_preflight(PeeringConn *c, Credential *azure, Credential *aiven)
{
	int64		existing = catalog_find_live(c);

	if (existing != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("a peering connection of virtual network \"%s\" with project VPC %s already exists",
						c->vnet_name, c->project_vpc_id),
				 errdetail("It is connection " INT64_FORMAT ".", existing),
				 errhint("peering_status(" INT64_FORMAT ") shows it; peering_alter(" INT64_FORMAT ", ...) changes it in place; peering_delete(" INT64_FORMAT ") removes it.",
						 existing, existing, existing)));

	preflight(c, azure, aiven);
}

/*
 * The read-only pre-flight of peering_create() and peering_plan():
 * api_preflight(), and that an own application is usable.  Fills also the
 * application's uniqueName.
 */
void
api_check_connection(PeeringConn *c, Credential *azure, Credential *aiven)
{
	api_preflight(c, azure, aiven);
	if (c->app_credential != NULL)
		preflight_own_app(c, azure, credential_for("app_credential", c->app_credential, true));

	c->app_unique_name = psprintf("peering-%.12s",
								  peering_uuid_v5(psprintf("application/%s/%s",
														   peering_lower(c->vnet_id),
														   c->project_vpc_id)));
}

Datum
peering_create(PG_FUNCTION_ARGS)
{
	Credential *azure;
	Credential *aiven;
	PeeringConn *c;

	refuse_on_standby("peering_create");
	c = api_requested_connection(fcinfo, true, &azure, &aiven);
	catalog_lock_credentials(c);
	api_check_connection(c, azure, aiven);
	catalog_insert(c);
	peering_wake_worker_at_commit();
	PG_RETURN_DATUM(catalog_row_datum(c->id));
}

/* ----------------------------------------------------------------
 * Status, wait, retry, delete
 * ---------------------------------------------------------------- */

/*
 * Is the caller (SET ROLE included; not the owner this SECURITY DEFINER
 * function runs as) a member of peering_admin?
 */
static bool
caller_may_call_out(void)
{
	Oid			admin = get_role_oid("peering_admin", true);

	return OidIsValid(admin) && has_privs_of_role(GetOuterUserId(), admin);
}

Datum
peering_status(PG_FUNCTION_ARGS)
{
	int64		id = DatumGetInt64(required_arg(fcinfo, 0, "id"));
	bool		refresh = DatumGetBool(required_arg(fcinfo, 1, "refresh"));
	PeeringConn *c = load_connection(id, false);

	/* readers read what is recorded; calling out to Azure and Aiven is for admins */
	if (refresh && caller_may_call_out() && !RecoveryInProgress() &&
		!step_is(c, STEP_DELETED))
	{
		PeeringConn *before;

		catalog_load_credentials(c, NULL);
		before = conn_copy(c);
		step_refresh(c);
		(void) catalog_save(before, c, false, false);
	}
	PG_RETURN_DATUM(catalog_row_datum(id));
}

/* What peering.progress says of the connection, or its step and state. */
static char *
peering_progress_line(int64 id, const PeeringConn *c)
{
	char	   *line = catalog_progress(id);

	return line ? line : psprintf("step %s, state %s", step_name(c->step),
								  c->state ? c->state : "none");
}


/* The longest peering_wait(): a session is not meant to wait on for days. */
#define MAX_WAIT_SECONDS	(7 * SECS_PER_DAY)

/* peering_wait()'s timeout: 0 to MAX_WAIT_SECONDS. */
static void
check_wait_timeout(Interval *timeout)
{
	double		seconds = DatumGetFloat8(DirectFunctionCall2(interval_part,
															 CStringGetTextDatum("epoch"),
															 IntervalPGetDatum(timeout)));

	if (seconds < 0 || seconds > MAX_WAIT_SECONDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid timeout \"%s\"",
						DatumGetCString(DirectFunctionCall1(interval_out,
															IntervalPGetDatum(timeout)))),
				 errdetail("peering_wait() waits from 0 seconds to 7 days.")));
}
Datum
peering_wait(PG_FUNCTION_ARGS)
{
	int64		id = DatumGetInt64(required_arg(fcinfo, 0, "id"));
	char	   *target = text_arg(fcinfo, 1, "target");
	Interval   *timeout = DatumGetIntervalP(required_arg(fcinfo, 2, "timeout"));
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz deadline;
	char	   *seen_state = NULL;
	int			seen_step = -1;
	MemoryContext outer_cxt = CurrentMemoryContext;
	MemoryContext poll_cxt;
	const char *const *t;

	for (t = wait_targets; *t && strcmp(*t, target) != 0; t++)
		;
	if (*t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid target state \"%s\"", target),
				 errhint("Wait for APPROVED, PENDING_PEER, ACTIVE or DELETED.")));
	check_wait_timeout(timeout);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("peering_wait() cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("Such a transaction would never see the state change.")));
	(void) load_connection(id, false);
	if (catalog_created_here(id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peering connection " INT64_FORMAT " was created in this transaction", id),
				 errhint("COMMIT first: the worker starts the work only after COMMIT.")));

	deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(start),
													   IntervalPGetDatum(timeout)));
	/* each poll allocates anew: a long wait must not grow */
	poll_cxt = AllocSetContextCreate(CurrentMemoryContext, "peering_wait poll",
									 ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		PeeringConn *c;
		bool		reached;

		MemoryContextReset(poll_cxt);
		MemoryContextSwitchTo(poll_cxt);
		c = load_connection(id, false);
		MemoryContextSwitchTo(outer_cxt);
		/* DELETED means the whole teardown, not only Aiven's side of it */
		reached = strcmp(target, "DELETED") == 0 ? step_is(c, STEP_DELETED) :
			peering_str_eq(c->state, target);

		if (!peering_str_same(c->state, seen_state) || c->step != seen_step)
		{
			ereport(NOTICE,
					(errmsg("peering " INT64_FORMAT ": %s (%.1f s)", id,
							peering_progress_line(id, c),
							(GetCurrentTimestamp() - start) / 1000000.0)));
			if (seen_state)
				pfree(seen_state);
			seen_state = c->state ? pstrdup(c->state) : NULL;
			seen_step = c->step;
		}
		if (reached)
			PG_RETURN_TEXT_P(cstring_to_text(target));
		if (c->failed || step_is(c, STEP_DELETED))
		{
			ereport(WARNING,
					(errmsg("peering connection " INT64_FORMAT " stopped at step %s before reaching %s",
							id, step_name(c->step), target),
					 c->last_error ? errdetail("%s", c->last_error) : 0,
					 errhint("Fix the cause, then call peering_retry(" INT64_FORMAT ").", id)));
			break;
		}
		if (GetCurrentTimestamp() >= deadline)
		{
			ereport(WARNING,
					(errmsg("peering connection " INT64_FORMAT " did not reach %s in time", id, target),
					 errdetail("It is at step %s.", step_name(c->step))));
			break;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 250L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (seen_state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(seen_state));
}

/*
 * The connection peering_retry() or peering_delete() re-arms, locked until
 * the end of the transaction.
 */
static PeeringConn *
connection_to_rearm(FunctionCallInfo fcinfo, const char *function)
{
	int64		id = DatumGetInt64(required_arg(fcinfo, 0, "id"));

	refuse_on_standby(function);
	return load_connection(id, true);
}

/* Re-arms the connection at step; the worker wakes when the caller commits. */
static void
rearm(int64 id, ConnDesired desired, PeeringStep step, EventKind kind, char *message)
{
	catalog_rearm(id, desired, step, kind, message);
	peering_wake_worker_at_commit();
}

Datum
peering_retry(PG_FUNCTION_ARGS)
{
	PeeringConn *c = connection_to_rearm(fcinfo, "peering_retry");
	int64		id = c->id;
	PeeringStep step;

	if (step_is(c, STEP_DELETED))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peering connection " INT64_FORMAT " is deleted", id),
				 errhint("Create it again with peering_create().")));
	if (!c->failed)
		ereport(NOTICE,
				(errmsg("peering connection " INT64_FORMAT " has not failed; it is due now", id)));
	step = c->failed ? step_restart(c) : (PeeringStep) c->step;
	rearm(id, c->desired, step, EVENT_RETRY,
		  psprintf("re-armed by %s at step %s", GetUserNameFromId(GetOuterUserId(), false),
				   step_name(step)));
	PG_RETURN_DATUM(catalog_row_datum(id));
}

Datum
peering_delete(PG_FUNCTION_ARGS)
{
	PeeringConn *c = connection_to_rearm(fcinfo, "peering_delete");
	int64		id = c->id;

	if (step_is(c, STEP_DELETED))
		ereport(NOTICE,
				(errmsg("peering connection " INT64_FORMAT " is already deleted", id)));
	else if (c->desired == DESIRED_ABSENT && !c->failed)
		ereport(NOTICE,
				(errmsg("peering connection " INT64_FORMAT " is already being deleted", id)));
	else
	{
		PeeringStep step = c->desired == DESIRED_ABSENT ? (PeeringStep) c->step :
			STEP_DELETE_AZURE_PEERING;

		rearm(id, DESIRED_ABSENT, step, EVENT_DELETE,
			  psprintf("deletion requested by %s", GetUserNameFromId(GetOuterUserId(), false)));
	}
	PG_RETURN_DATUM(catalog_row_datum(id));
}

/* ----------------------------------------------------------------
 * peering_alter
 * ---------------------------------------------------------------- */

/* A boolean property of peering_alter(): NULL leaves it as it is. */
static void
alter_bool_arg(FunctionCallInfo fcinfo, int argno, bool *property)
{
	if (!PG_ARGISNULL(argno))
		*property = PG_GETARG_BOOL(argno);
}

/*
 * Only a live connection is changed in place: one being deleted, failed
 * or still being created is refused, with what to do instead.
 */
static void
refuse_alter_unless_active(const PeeringConn *c)
{
	if (c->desired == DESIRED_ABSENT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peering connection " INT64_FORMAT " is being deleted", c->id),
				 errhint("Create the peering again with peering_create() once it is deleted.")));
	if (c->failed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peering connection " INT64_FORMAT " stopped at step %s",
						c->id, step_name(c->step)),
				 c->last_error ? errdetail("%s", c->last_error) : 0,
				 errhint("Fix the cause and call peering_retry(" INT64_FORMAT "); alter it once it is ACTIVE.",
						 c->id)));
	if (!step_is(c, STEP_ACTIVE) && !step_is(c, STEP_ALTER))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peering connection " INT64_FORMAT " is not ACTIVE", c->id),
				 errdetail("It is at step %s.", step_name(c->step)),
				 errhint("peering_wait(" INT64_FORMAT ", 'ACTIVE') waits until it is; then alter it.",
						 c->id)));
}

/*
 * What peering_alter() checks of connection c and its new values (after),
 * peering_plan() too: c is ACTIVE, and no routed network of after lies in
 * the project VPC.
 */
void
api_check_alter(const PeeringConn *c, const PeeringConn *after)
{
	PeeringConn probe = *c;

	refuse_alter_unless_active(c);
	probe.user_peer_network_cidrs = after->user_peer_network_cidrs;
	refuse_cidrs_overlapping_vpc(&probe);
}

/*
 * Changes the flags of the Azure peering and the networks Aiven routes
 * through it (and open_ip_filter) of an ACTIVE connection; NULL leaves a
 * property as it is.  The new values are written and the worker armed at
 * the step alter in the same transaction: after COMMIT it changes the same
 * Azure peering and the same Aiven connection in place.
 */
Datum
peering_alter(PG_FUNCTION_ARGS)
{
	PeeringConn *c = connection_to_rearm(fcinfo, "peering_alter");
	PeeringConn *after = conn_copy(c);

	alter_bool_arg(fcinfo, 1, &after->allow_forwarded_traffic);
	alter_bool_arg(fcinfo, 2, &after->allow_gateway_transit);
	alter_bool_arg(fcinfo, 3, &after->use_remote_gateways);
	if (!PG_ARGISNULL(4))
	{
		List	   *cidrs = api_cidr_list_arg(fcinfo, 4, "user_peer_network_cidrs");

		/* a reordered list is the same networks: nothing to change */
		if (!peering_string_lists_same(cidrs, c->user_peer_network_cidrs))
			after->user_peer_network_cidrs = cidrs;
	}
	alter_bool_arg(fcinfo, 5, &after->open_ip_filter);
	api_check_alter(c, after);

	if (after->allow_forwarded_traffic == c->allow_forwarded_traffic &&
		after->allow_gateway_transit == c->allow_gateway_transit &&
		after->use_remote_gateways == c->use_remote_gateways &&
		peering_string_lists_same(after->user_peer_network_cidrs, c->user_peer_network_cidrs) &&
		after->open_ip_filter == c->open_ip_filter)
	{
		ereport(NOTICE,
				(errmsg("peering connection " INT64_FORMAT " already has these properties: nothing to change",
						c->id)));
		PG_RETURN_DATUM(catalog_row_datum(c->id));
	}
	if (c->adopted &&
		(after->allow_forwarded_traffic != c->allow_forwarded_traffic ||
		 after->allow_gateway_transit != c->allow_gateway_transit ||
		 after->use_remote_gateways != c->use_remote_gateways))
		ereport(NOTICE,
				(errmsg("the Azure peering \"%s\" of adopted connection " INT64_FORMAT " is not changed by the extension",
						c->peering_name, c->id),
				 errdetail("The re-check expects the new flags from now on and reports a drift until the peering has them."),
				 errhint("Change them with az network vnet peering update --resource-group %s --vnet-name %s --name %s.",
						 c->resource_group, c->vnet_name, c->peering_name)));
	catalog_alter(c, after, STEP_ALTER);
	peering_wake_worker_at_commit();
	PG_RETURN_DATUM(catalog_row_datum(c->id));
}

/* ----------------------------------------------------------------
 * peering_vpcs
 * ---------------------------------------------------------------- */

Datum
peering_vpcs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *project = text_arg(fcinfo, 0, "project");
	char	   *credential = text_arg(fcinfo, 1, "aiven_credential");
	Credential *aiven;
	AttInMetadata *attinmeta;
	List	   *vpcs;
	ListCell   *lc;

	check_project(project);
	aiven = credential_for("aiven_credential", credential, false);
	vpcs = aiven_list_vpcs(auth_aiven_token(aiven), project);

	InitMaterializedSRF(fcinfo, 0);
	attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);
	foreach(lc, vpcs)
	{
		AivenVpc   *vpc = lfirst(lc);
		char	   *values[6];

		values[0] = vpc->project_vpc_id;
		values[1] = vpc->cloud_name;
		values[2] = vpc->network_cidr;
		values[3] = vpc->state;
		values[4] = vpc->create_time;
		values[5] = vpc->update_time;
		tuplestore_puttuple(rsinfo->setResult, BuildTupleFromCStrings(attinmeta, values));
	}
	return (Datum) 0;
}
