/*
 * arm.c
 *		The Azure Resource Manager calls peering needs (docs/remote-apis.md §4).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Every URL carries ?api-version= for its resource provider and every request
 * "Authorization: Bearer <token>".  ARM ids (a VNet id, a scope) are used as
 * paths as they are; names are percent-encoded.  Absolute URLs handed out by
 * ARM (nextLink, Azure-AsyncOperation) are requested verbatim, but only when
 * they lie under peering.arm_url: the token must not travel anywhere else.
 */
#include "postgres.h"

#include "peering.h"
#include "http.h"
#include "jsonutil.h"
#include "remote.h"
#include "rest.h"
#include "util.h"
#include "arm.h"


/* A list that pages on beyond this is not a list we asked for. */
#define ARM_MAX_PAGES	1000

/* ----------------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------------
 */

/* {base}{path}?api-version={version}[&{query}] */
static char *
arm_url(const char *path, const char *api_version, const char *query)
{
	return psprintf("%s%s%s?api-version=%s%s%s",
					rest_base_url(peering_arm_url),
					path[0] == '/' ? "" : "/", path, api_version,
					query ? "&" : "", query ? query : "");
}

static char *
arm_role_definition_path(const char *subscription, const char *guid)
{
	return psprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions%s%s",
					http_escape(subscription), guid ? "/" : "",
					guid ? http_escape(guid) : "");
}

static char *
arm_role_assignment_url(const char *scope, const char *guid)
{
	return arm_url(psprintf("%s/providers/Microsoft.Authorization/roleAssignments/%s",
							scope, http_escape(guid)),
				   ARM_API_AUTHORIZATION, NULL);
}

/* The URL of a VNet's peering (query: more parameters, or NULL). */
char *
arm_peering_url(const char *vnet_id, const char *name, const char *query)
{
	return arm_url(psprintf("%s/virtualNetworkPeerings/%s", vnet_id, http_escape(name)),
				   ARM_API_NETWORK, query);
}

/* Refuses an absolute URL from ARM that would carry the token elsewhere. */
static void
arm_check_link(const char *url, const char *operation, const HttpResponse *resp)
{
	char	   *base = rest_base_url(peering_arm_url);
	size_t		len = strlen(base);

	if (pg_strncasecmp(url, base, len) != 0 ||
		(url[len] != '/' && url[len] != '?' && url[len] != '\0'))
		rest_unexpected(SERVICE_ARM, operation, resp,
						"a link points outside peering.arm_url");
}

/*
 * The GET of url as every read here sends it: for http_prefetch(), which
 * hands its answer to the read that follows.
 */
HttpRequest *
arm_read_request(const char *token, const char *url)
{
	return rest_request(SERVICE_ARM, "GET", url, "Bearer", token, NULL);
}

/* The ARM id of a VNet, from the names the user gave. */
char *
arm_vnet_id(const char *subscription, const char *resource_group, const char *vnet)
{
	return psprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s",
					http_escape(subscription), http_escape(resource_group), http_escape(vnet));
}

/* The URL of that VNet. */
char *
arm_vnet_url(const char *subscription, const char *resource_group, const char *vnet)
{
	return arm_url(arm_vnet_id(subscription, resource_group, vnet), ARM_API_NETWORK, NULL);
}

/* The URL of the first page of GET /subscriptions. */
char *
arm_subscriptions_url(void)
{
	return arm_url("/subscriptions", ARM_API_SUBSCRIPTIONS, NULL);
}

/* Sends; aux_token, when given, goes in x-ms-authorization-auxiliary. */
static HttpResponse *
arm_send(const char *token, const char *aux_token, const char *method,
		 const char *url, const char *body)
{
	HttpRequest *req = rest_request(SERVICE_ARM, method, url, "Bearer", token, body);

	if (aux_token)
	{
		char	   *aux = psprintf("Bearer %s", aux_token);

		req->headers = http_add_header(req->headers,
									   "x-ms-authorization-auxiliary", aux);
		pfree(aux);
	}
	return http_perform(req);
}

/*
 * A 404 meaning "that resource is not there".  Other 404s (a subscription
 * that does not exist, an unknown route) are errors to report.
 */
static bool
arm_absent(const HttpResponse *resp)
{
	static const char *const codes[] = {
		"ResourceNotFound", "ResourceGroupNotFound", "ParentResourceNotFound",
		"NotFound", "RoleDefinitionDoesNotExist", "RoleAssignmentNotFound"
	};
	char	   *code;
	size_t		i;

	if (resp->status != 404)
		return false;
	code = remote_error_code(SERVICE_ARM, resp);
	for (i = 0; i < lengthof(codes); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* GET url: the 2xx response, NULL when absent; raises otherwise. */
static HttpResponse *
arm_read(const char *token, const char *url, const char *operation)
{
	HttpResponse *resp = arm_send(token, NULL, "GET", url, NULL);

	if (arm_absent(resp))
		return NULL;
	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	return resp;
}

/*
 * DELETE url: true when something was deleted (200, 202, and 204 when
 * no_content_deleted), false when it was already gone (404, or 204 when
 * ARM uses it for "did not exist"); raises otherwise.
 */
static bool
arm_delete(const char *token, const char *url, const char *operation,
		   bool no_content_deleted)
{
	HttpResponse *resp = arm_send(token, NULL, "DELETE", url, NULL);

	if (arm_absent(resp))
		return false;
	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	return resp->status != 204 || no_content_deleted;
}

/* Called for each item of a list; returns true to stop. */
typedef bool (*ArmVisit) (json_t *item, const HttpResponse *page, void *arg);

/* GET one page of a list; raises unless 2xx. */
static HttpResponse *
arm_get_page(const char *token, const char *url, const char *operation)
{
	HttpResponse *resp = arm_send(token, NULL, "GET", url, NULL);

	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	return resp;
}

/* The checked nextLink of page number *pages, counted; NULL after the last. */
static char *
arm_next_page(char *next_link, int *pages, const char *operation,
			  const HttpResponse *resp)
{
	if (next_link == NULL || next_link[0] == '\0')
		return NULL;
	arm_check_link(next_link, operation, resp);
	if (++*pages >= ARM_MAX_PAGES)
		rest_unexpected(SERVICE_ARM, operation, resp, "the list does not end");
	return next_link;
}

/* Pages through a list at url (following nextLink), item by item. */
static void
arm_each_item(const char *token, const char *url, const char *operation,
			  ArmVisit visit, void *arg)
{
	int			pages = 0;

	while (url != NULL)
	{
		HttpResponse *resp = arm_get_page(token, url, operation);
		json_t	   *root = rest_json(SERVICE_ARM, operation, resp);
		json_t	   *list = json_object_get(root, "value");
		json_t	   *item;
		size_t		i;

		if (!json_is_array(list))
			rest_unexpected(SERVICE_ARM, operation, resp, "no \"value\" array");
		json_array_foreach(list, i, item)
		{
			if (visit(item, resp, arg))
			{
				json_decref(root);
				return;
			}
		}
		url = arm_next_page(json_get_text(root, "nextLink"), &pages, operation, resp);
		json_decref(root);
	}
}

typedef struct ArmMatch
{
	const char *path;
	const char *value;
	json_t	   *item;			/* found: a new reference */
	const HttpResponse *page;
} ArmMatch;

static bool
arm_visit_match(json_t *item, const HttpResponse *page, void *arg)
{
	ArmMatch   *m = arg;
	char	   *text = json_get_text(item, m->path);

	if (text == NULL || pg_strcasecmp(text, m->value) != 0)
		return false;
	json_incref(item);
	m->item = item;
	m->page = page;
	return true;
}

/*
 * The first item of the list at url whose string at path (dotted) equals
 * value, case-insensitively (a new reference), and the page it came in;
 * NULL if none.
 */
static json_t *
arm_find(const char *token, const char *url, const char *path, const char *value,
		 const char *operation, const HttpResponse **page)
{
	ArmMatch	m = {path, value, NULL, NULL};

	arm_each_item(token, url, operation, arm_visit_match, &m);
	*page = m.page;
	return m.item;
}

static ArmRoleDefinition *
arm_role_definition_from(json_t *obj, const HttpResponse *resp,
						 const char *operation)
{
	ArmRoleDefinition *def = palloc0(sizeof(ArmRoleDefinition));

	def->id = json_get_text(obj, "id");
	def->name = json_get_text(obj, "name");
	def->role_name = json_get_text(obj, "properties.roleName");
	def->type = json_get_text(obj, "properties.type");
	if (!def->id || !def->name || !def->role_name)
		rest_unexpected(SERVICE_ARM, operation, resp,
						"the role definition lacks \"id\", \"name\" or \"properties.roleName\"");
	return def;
}

/* A 2xx role definition answer, parsed. */
static ArmRoleDefinition *
arm_role_definition_response(const HttpResponse *resp, const char *operation)
{
	json_t	   *root = rest_json(SERVICE_ARM, operation, resp);
	ArmRoleDefinition *def = arm_role_definition_from(root, resp, operation);

	json_decref(root);
	return def;
}

/* A peering object (a GET answer or an item of a list), parsed. */
static ArmPeering *
arm_peering_from(json_t *root, const HttpResponse *resp, const char *operation)
{
	json_t	   *props = json_object_get(root, "properties");
	ArmPeering *peering = palloc0(sizeof(ArmPeering));

	peering->id = json_get_text(root, "id");
	peering->name = json_get_text(root, "name");
	peering->peering_state = json_get_text(root, "properties.peeringState");
	peering->sync_level = json_get_text(root, "properties.peeringSyncLevel");
	peering->provisioning_state = json_get_text(root, "properties.provisioningState");
	peering->remote_vnet_id = json_get_text(root, "properties.remoteVirtualNetwork.id");
	peering->allow_vnet_access =
		json_is_true(json_object_get(props, "allowVirtualNetworkAccess"));
	peering->options.allow_forwarded_traffic =
		json_is_true(json_object_get(props, "allowForwardedTraffic"));
	peering->options.allow_gateway_transit =
		json_is_true(json_object_get(props, "allowGatewayTransit"));
	peering->options.use_remote_gateways =
		json_is_true(json_object_get(props, "useRemoteGateways"));
	if (resp->async_operation)
		peering->async_operation = pstrdup(resp->async_operation);
	if (!peering->id || !peering->name || !peering->peering_state)
		rest_unexpected(SERVICE_ARM, operation, resp,
						"the peering lacks \"id\", \"name\" or \"properties.peeringState\"");
	return peering;
}

/* A 2xx peering answer, parsed. */
static ArmPeering *
arm_peering_response(const HttpResponse *resp, const char *operation)
{
	json_t	   *root = rest_json(SERVICE_ARM, operation, resp);
	ArmPeering *peering = arm_peering_from(root, resp, operation);

	json_decref(root);
	return peering;
}

/* ----------------------------------------------------------------------
 * Subscriptions and virtual networks
 * ----------------------------------------------------------------------
 */

/*
 * GET /subscriptions (paged): the tenantId of subscription, or NULL when
 * the token does not list it.
 */
char *
arm_get_subscription_tenant(const char *token, const char *subscription)
{
	const char *operation = _("could not list subscriptions");
	const HttpResponse *page = NULL;
	json_t	   *sub = arm_find(token, arm_subscriptions_url(),
							   "subscriptionId", subscription, operation, &page);
	char	   *tenant;

	if (sub == NULL)
		return NULL;
	tenant = json_get_text(sub, "tenantId");
	if (tenant == NULL)
		rest_unexpected(SERVICE_ARM, operation, page,
						"the subscription lacks \"tenantId\"");
	json_decref(sub);
	return tenant;
}

/*
 * The tenant a WWW-Authenticate challenge sends the client to: the last
 * segment of its authorization_uri ("https://login.windows.net/{tenant}"),
 * or NULL.
 */
static char *
arm_challenge_tenant(const char *challenge)
{
	const char *key = "authorization_uri=\"";
	char	   *uri;
	char	   *end;
	char	   *tenant;

	if (challenge == NULL)
		return NULL;
	uri = strstr(peering_lower(challenge), key);
	if (uri == NULL)
		return NULL;
	uri += strlen(key);
	end = strchr(uri, '"');
	if (end == NULL)
		return NULL;
	while (end > uri && end[-1] == '/')
		end--;
	*end = '\0';
	tenant = strrchr(uri, '/');
	tenant = tenant ? tenant + 1 : uri;
	return peering_is_uuid(tenant) ? pstrdup(tenant) : NULL;
}

/*
 * GET /subscriptions/{id} with a token of another tenant: the tenant ARM's
 * refusal names; NULL when it names none (a subscription of the token's
 * own tenant, or none at all).
 *
 * ARM refuses a token of another tenant than the subscription's with 401
 * InvalidAuthenticationTokenTenant and a challenge naming the
 * subscription's tenant (docs/remote-apis.md §4.1): the one way to learn it
 * without a token of that tenant.
 */
char *
arm_get_foreign_subscription_tenant(const char *token, const char *subscription)
{
	char	   *operation = psprintf(_("could not read subscription %s"), subscription);
	char	   *path = psprintf("/subscriptions/%s", http_escape(subscription));
	HttpResponse *resp = arm_send(token, NULL, "GET",
								  arm_url(path, ARM_API_SUBSCRIPTIONS, NULL), NULL);

	if (remote_error_is(SERVICE_ARM, resp, 401, "InvalidAuthenticationTokenTenant", NULL))
		return arm_challenge_tenant(resp->www_authenticate);
	/* the token's own tenant, or no such subscription: no other tenant */
	if (rest_ok(resp) || resp->status == 403 || resp->status == 404)
		return NULL;
	remote_raise(SERVICE_ARM, operation, resp);
}

/* GET the virtual network; NULL on 404. */
ArmVnet *
arm_get_vnet(const char *token, const char *subscription,
			 const char *resource_group, const char *vnet)
{
	char	   *operation = psprintf(_("could not read virtual network \"%s\""), vnet);
	HttpResponse *resp = arm_read(token, arm_vnet_url(subscription, resource_group, vnet),
								  operation);
	json_t	   *root;
	json_t	   *prefixes;
	ArmVnet    *result;

	if (resp == NULL)
		return NULL;
	root = rest_json(SERVICE_ARM, operation, resp);
	result = palloc0(sizeof(ArmVnet));
	result->id = json_get_text(root, "id");
	result->name = json_get_text(root, "name");
	result->location = json_get_text(root, "location");
	if (!result->id || !result->name || !result->location)
		rest_unexpected(SERVICE_ARM, operation, resp,
						"the virtual network lacks \"id\", \"name\" or \"location\"");

	prefixes = json_object_get(json_object_get(json_object_get(root, "properties"),
											   "addressSpace"),
							   "addressPrefixes");
	if (!json_get_string_list(prefixes, &result->address_prefixes))
		rest_unexpected(SERVICE_ARM, operation, resp,
						"\"properties.addressSpace.addressPrefixes\" is not an array of strings");
	json_decref(root);
	return result;
}

/* ----------------------------------------------------------------------
 * Role definitions
 * ----------------------------------------------------------------------
 */

/* GET roleDefinitions/{guid} at /subscriptions/{sub}; NULL on 404 */
ArmRoleDefinition *
arm_get_role_definition(const char *token, const char *subscription,
						const char *guid)
{
	char	   *operation = psprintf(_("could not read role definition \"%s\""), guid);
	HttpResponse *resp = arm_read(token,
								  arm_url(arm_role_definition_path(subscription, guid),
										  ARM_API_AUTHORIZATION, NULL),
								  operation);

	return resp ? arm_role_definition_response(resp, operation) : NULL;
}

/* list roleDefinitions with $filter=roleName eq '…'; NULL when none */
ArmRoleDefinition *
arm_find_role_definition(const char *token, const char *subscription,
						 const char *role_name)
{
	char	   *operation = psprintf(_("could not look up role definition \"%s\""), role_name);
	char	   *filter = psprintf("roleName eq '%s'", rest_odata_string(role_name));
	char	   *url = arm_url(arm_role_definition_path(subscription, NULL),
							  ARM_API_AUTHORIZATION,
							  psprintf("$filter=%s", http_escape(filter)));
	const HttpResponse *page = NULL;
	json_t	   *item = arm_find(token, url, "properties.roleName", role_name,
								operation, &page);
	ArmRoleDefinition *def;

	if (item == NULL)
		return NULL;
	def = arm_role_definition_from(item, page, operation);
	json_decref(item);
	return def;
}

/*
 * PUT a CustomRole at /subscriptions/{sub}, assignable there, holding
 * actions (List of char *).  NULL when another definition already has that
 * roleName (RoleDefinitionWithSameNameExists): look it up by name.
 */
ArmRoleDefinition *
arm_put_role_definition(const char *token, const char *subscription,
						const char *guid, const char *role_name,
						const char *description, List *actions)
{
	char	   *operation = psprintf(_("could not create role definition \"%s\""), role_name);
	json_t	   *action_array = json_array();
	ListCell   *lc;
	char	   *body;
	HttpResponse *resp;

	foreach(lc, actions)
	{
		json_t	   *action = json_string((const char *) lfirst(lc));

		if (action == NULL || json_array_append_new(action_array, action) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("role definition action is not valid UTF-8")));
	}
	/* "o" hands action_array over to the packed value. */
	body = rest_body(json_pack("{s:{s:s, s:s, s:s, s:[{s:o, s:[], s:[], s:[]}], s:[s]}}",
							   "properties",
							   "roleName", role_name,
							   "description", description,
							   "type", "CustomRole",
							   "permissions",
							   "actions", action_array,
							   "notActions", "dataActions", "notDataActions",
							   "assignableScopes",
							   psprintf("/subscriptions/%s", subscription)));

	resp = arm_send(token, NULL, "PUT",
					arm_url(arm_role_definition_path(subscription, guid),
							ARM_API_AUTHORIZATION, NULL),
					body);
	if (resp->status == 409 &&
		strcmp(remote_error_code(SERVICE_ARM, resp),
			   "RoleDefinitionWithSameNameExists") == 0)
		return NULL;
	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	return arm_role_definition_response(resp, operation);
}

/*
 * DELETE roleDefinitions/{guid}: ARM_ROLE_GONE when there was none (404, or
 * ARM's 204).  A role someone assigned since we created it is in use: ARM
 * refuses with 409 RoleDefinitionHasAssignments, returned as ARM_ROLE_IN_USE
 * for the caller to report and accept.
 */
ArmRoleDeletion
arm_delete_role_definition(const char *token, const char *subscription,
						   const char *guid)
{
	char	   *operation = psprintf(_("could not delete role definition \"%s\""), guid);
	HttpResponse *resp = arm_send(token, NULL, "DELETE",
								  arm_url(arm_role_definition_path(subscription, guid),
										  ARM_API_AUTHORIZATION, NULL),
								  NULL);

	if (arm_absent(resp) || resp->status == 204)
		return ARM_ROLE_GONE;
	if (remote_error_is(SERVICE_ARM, resp, 409, "RoleDefinitionHasAssignments", NULL))
		return ARM_ROLE_IN_USE;
	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	return ARM_ROLE_DELETED;
}

/* ----------------------------------------------------------------------
 * Role assignments
 * ----------------------------------------------------------------------
 */

/*
 * PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{guid} with
 * principalType ServicePrincipal; 409 RoleAssignmentExists counts as done.
 */
ArmRoleAssignment *
arm_put_role_assignment(const char *token, const char *scope, const char *guid,
						const char *role_definition_id, const char *principal_id)
{
	char	   *operation = psprintf(_("could not create role assignment \"%s\" for principal \"%s\" on \"%s\""),
									 guid, principal_id, scope);
	char	   *body = rest_body(json_pack("{s:{s:s, s:s, s:s}}",
										   "properties",
										   "roleDefinitionId", role_definition_id,
										   "principalId", principal_id,
										   "principalType", "ServicePrincipal"));
	HttpResponse *resp = arm_send(token, NULL, "PUT",
								  arm_role_assignment_url(scope, guid), body);
	ArmRoleAssignment *ra = palloc0(sizeof(ArmRoleAssignment));
	json_t	   *root;

	if (resp->status == 409 &&
		strcmp(remote_error_code(SERVICE_ARM, resp), "RoleAssignmentExists") == 0)
	{
		/* id and name of the existing assignment are unknown: left NULL */
		ra->existed = true;
		return ra;
	}
	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	root = rest_json(SERVICE_ARM, operation, resp);
	ra->id = json_get_text(root, "id");
	ra->name = json_get_text(root, "name");
	if (!ra->id || !ra->name)
		rest_unexpected(SERVICE_ARM, operation, resp,
						"the role assignment lacks \"id\" or \"name\"");
	json_decref(root);
	return ra;
}

/* GET roleAssignments/{guid} on scope: does it exist? */
bool
arm_role_assignment_exists(const char *token, const char *scope, const char *guid)
{
	return arm_read(token, arm_role_assignment_url(scope, guid),
					psprintf(_("could not read role assignment \"%s\" on \"%s\""), guid, scope)) != NULL;
}

/* DELETE roleAssignments/{guid} on scope; false when already gone. */
bool
arm_delete_role_assignment(const char *token, const char *scope, const char *guid)
{
	return arm_delete(token, arm_role_assignment_url(scope, guid),
					  psprintf(_("could not delete role assignment \"%s\" on \"%s\""), guid, scope),
					  false);
}

/* ----------------------------------------------------------------------
 * Virtual network peerings
 * ----------------------------------------------------------------------
 */

/*
 * PUT virtualNetworkPeerings/{name} with allowVirtualNetworkAccess, using
 * aux_token as x-ms-authorization-auxiliary for the remote tenant.  With
 * sync_address_space the PUT carries ?syncRemoteAddressSpace=true, which
 * makes the peering take the remote VNet's current address space (a PUT
 * of the same body alone does not).
 */
ArmPeering *
arm_put_peering(const char *token, const char *aux_token, const char *vnet_id,
				const char *name, const char *remote_vnet_id,
				const PeeringOptions *options, bool sync_address_space)
{
	char	   *operation = psprintf(_("could not create virtual network peering \"%s\""), name);
	char	   *body = rest_body(json_pack("{s:{s:b, s:b, s:b, s:b, s:{s:s}}}",
										   "properties",
										   "allowVirtualNetworkAccess", 1,
										   "allowForwardedTraffic", options->allow_forwarded_traffic,
										   "allowGatewayTransit", options->allow_gateway_transit,
										   "useRemoteGateways", options->use_remote_gateways,
										   "remoteVirtualNetwork",
										   "id", remote_vnet_id));
	HttpResponse *resp = arm_send(token, aux_token, "PUT",
								  arm_peering_url(vnet_id, name,
												  sync_address_space ?
												  "syncRemoteAddressSpace=true" : NULL),
								  body);

	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	return arm_peering_response(resp, operation);
}

/*
 * Does peeringSyncLevel say this side's copy of the remote address space
 * is stale?
 */
bool
arm_sync_level_local_stale(const char *sync_level)
{
	return peering_str_eq(sync_level, "LocalNotInSync") ||
		peering_str_eq(sync_level, "LocalAndRemoteNotInSync");
}

/*
 * Does peeringSyncLevel say the remote side's copy of this VNet's address
 * space is stale?
 */
bool
arm_sync_level_remote_stale(const char *sync_level)
{
	return peering_str_eq(sync_level, "RemoteNotInSync") ||
		peering_str_eq(sync_level, "LocalAndRemoteNotInSync");
}

/* GET virtualNetworkPeerings/{name}; NULL on 404 */
ArmPeering *
arm_get_peering(const char *token, const char *vnet_id, const char *name)
{
	char	   *operation = psprintf(_("could not read virtual network peering \"%s\""), name);
	HttpResponse *resp = arm_read(token, arm_peering_url(vnet_id, name, NULL), operation);

	return resp ? arm_peering_response(resp, operation) : NULL;
}

/*
 * A page of a VNet's peerings, parsed once for every connection that reads
 * it (rest_parse_shared): a re-check of all the peerings of a VNet shares
 * one list.
 */
typedef struct ArmPeeringPage
{
	List	   *peerings;		/* of ArmPeering * */
	char	   *next_link;
} ArmPeeringPage;

static void *
arm_peering_page_parse(const HttpResponse *resp, const char *operation)
{
	json_t	   *root = rest_json(SERVICE_ARM, operation, resp);
	json_t	   *list = json_object_get(root, "value");
	json_t	   *item;
	size_t		i;
	ArmPeeringPage *page = palloc0(sizeof(ArmPeeringPage));

	if (!json_is_array(list))
		rest_unexpected(SERVICE_ARM, operation, resp, "no \"value\" array");
	json_array_foreach(list, i, item)
		page->peerings = lappend(page->peerings, arm_peering_from(item, resp, operation));
	page->next_link = json_get_text(root, "nextLink");
	json_decref(root);
	return page;
}

/*
 * The peerings of the VNet whose name (or, by_remote, remote VNet id) is
 * value, case-insensitively: the first, or all of them when value is NULL.
 * Shared with other readers of the list: read only.
 */
static List *
arm_select_peerings(const char *token, const char *vnet_id, bool by_remote,
					const char *value)
{
	char	   *operation = psprintf(_("could not list the peerings of virtual network \"%s\""), vnet_id);
	char	   *url = arm_url(psprintf("%s/virtualNetworkPeerings", vnet_id),
							  ARM_API_NETWORK, NULL);
	int			pages = 0;
	List	   *selected = NIL;

	while (url != NULL)
	{
		HttpResponse *resp = arm_get_page(token, url, operation);
		ArmPeeringPage *page = rest_parse_shared(resp, operation, arm_peering_page_parse);
		ListCell   *lc;

		foreach(lc, page->peerings)
		{
			ArmPeering *pe = lfirst(lc);
			const char *key = by_remote ? pe->remote_vnet_id : pe->name;

			if (value == NULL)
				selected = lappend(selected, pe);
			else if (key != NULL && pg_strcasecmp(key, value) == 0)
				return list_make1(pe);
		}
		url = arm_next_page(page->next_link, &pages, operation, resp);
	}
	return selected;
}

/*
 * Every peering of the VNet (List of ArmPeering *), from the paged list.
 * The peerings are shared by every reader of the list: read only.
 */
List *
arm_list_peerings(const char *token, const char *vnet_id)
{
	return arm_select_peerings(token, vnet_id, false, NULL);
}

/*
 * What arm_get_peering() returns, found in the paged GET
 * …/virtualNetworks/{vnet}/virtualNetworkPeerings instead (name matched
 * case-insensitively), or NULL: one list per VNet serves the re-checks of
 * all its peerings.  The peering is shared by every reader of the list:
 * read only.
 */
ArmPeering *
arm_find_listed_peering(const char *token, const char *vnet_id, const char *name)
{
	List	   *found = arm_select_peerings(token, vnet_id, false, name);

	return found ? linitial(found) : NULL;
}

/*
 * A peering of the VNet to that remote VNet, whatever its name, or NULL;
 * from the shared list, so read only.
 */
ArmPeering *
arm_find_peering_to(const char *token, const char *vnet_id, const char *remote_vnet_id)
{
	List	   *found = arm_select_peerings(token, vnet_id, true, remote_vnet_id);

	return found ? linitial(found) : NULL;
}

/*
 * GET an Azure-AsyncOperation URL.  NULL when ARM answers 403: reading the
 * operation needs Microsoft.Network/locations/operations/read above the
 * VNet, which a principal whose role is scoped to the VNet lacks; its
 * caller then reads the peering's own provisioningState instead.
 */
ArmOperation *
arm_get_operation(const char *token, const char *url)
{
	const char *operation = _("could not read the status of an Azure operation");
	HttpResponse *resp;
	json_t	   *root;
	ArmOperation *op;

	arm_check_link(url, operation, NULL);
	resp = arm_send(token, NULL, "GET", url, NULL);
	if (remote_error_is(SERVICE_ARM, resp, 403, "AuthorizationFailed", NULL))
		return NULL;
	if (!rest_ok(resp))
		remote_raise(SERVICE_ARM, operation, resp);
	root = rest_json(SERVICE_ARM, operation, resp);
	op = palloc0(sizeof(ArmOperation));
	op->status = json_get_text(root, "status");
	if (op->status == NULL)
		rest_unexpected(SERVICE_ARM, operation, resp, "no \"status\"");
	op->error_code = json_get_text(root, "error.code");
	op->error_message = json_get_text(root, "error.message");
	json_decref(root);
	return op;
}

/* Did the operation end without success (ARM spells Canceled both ways)? */
bool
arm_operation_failed(const ArmOperation *op)
{
	return pg_strcasecmp(op->status, "Failed") == 0 ||
		pg_strcasecmp(op->status, "Canceled") == 0 ||
		pg_strcasecmp(op->status, "Cancelled") == 0;
}

/* DELETE virtualNetworkPeerings/{name}; false when already gone */
bool
arm_delete_peering(const char *token, const char *vnet_id, const char *name)
{
	return arm_delete(token, arm_peering_url(vnet_id, name, NULL),
					  psprintf(_("could not delete virtual network peering \"%s\""), name),
					  true);
}
