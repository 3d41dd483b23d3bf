/*
 * remote.c
 *		Classification of remote failures: one table maps (service, HTTP
 *		status, remote error code) to SQLSTATE, reason, hint and retry class.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * SQLSTATE classes used:
 *	28000 invalid_authorization_specification: a credential or token is wrong
 *	42501 insufficient_privilege: the identity lacks a permission or role
 *	42704 undefined_object / 42710 duplicate_object: remote object missing/there
 *	22023 invalid_parameter_value: the remote service rejected our input
 *	53400 configuration_limit_exceeded: throttled (429)
 *	55006 object_in_use: another operation holds the resource
 *	08001 sqlclient_unable_to_establish_sqlconnection: could not connect (DNS,
 *		  refused, TLS verification)
 *	08006 connection_failure: timeouts, resets and 5xx answers
 *	08P01 protocol_violation: a response we cannot use (bad body, redirect)
 *	54000 program_limit_exceeded: response body over the size cap
 *	XX000 internal_error: a request the service says is malformed by us
 *
 * The remote message quoted in errdetail is cut at anything that looks like
 * a secret (client_secret, access_token, …), flattened to one line and
 * truncated: the services do not echo secrets, but an error text is the last
 * place one should leak through.
 *
 * This file includes jansson (via jsonutil.h) and must not include
 * utils/builtins.h.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "jsonutil.h"
#include "remote.h"

/* Filled in just before remote_raise() and friends throw. */
static RemoteError last_error = {.retry_after = -1};

/* The service column of a rule that holds for every service. */
#define ANY_SERVICE		(-1)

typedef struct RemoteRule
{
	int			service;		/* a RemoteService, or ANY_SERVICE */
	long		status_min;		/* HTTP status range; 0..0: no response */
	long		status_max;
	const char *code;			/* remote error code (or transport class for
								 * no response), NULL: any */
	int			sqlstate;
	const char *reason;			/* NULL: the transport error text */
	const char *hint;			/* may be NULL */
	RemoteRetry retry;
	const char *marker;			/* text the message or a detail must contain
								 * (case-insensitive), NULL: any; for codes
								 * that cover several causes */
	/* what the hint's "%s" stands for, taken from the answer (remote_hint) */
	const char *detail_path;	/* a dotted JSON path into the error body */
	const char *detail_after;	/* or: the quoted text after this in the
								 * message */
} RemoteRule;

#define HTTP(s)			(s), (s)
#define HTTP_4XX		400, 499
#define HTTP_5XX		500, 599
#define HTTP_ANY		0, 999
#define NO_RESPONSE		0, 0

#define HINT_CONNECT \
	"Check that the database server can reach the service (peering.login_url, peering.graph_url, peering.arm_url, peering.aiven_url); a slow service may need a larger peering.http_timeout."
#define HINT_TIMEOUT \
	"The service did not answer within peering.http_timeout; the request is retried later.  Raise peering.http_timeout if the service is just slow."
#define HINT_TLS \
	"Check peering.ca_file; the server's certificate must be signed by a CA in that file or in the system store."
#define HINT_SECRET \
	"Check the secret file of the credential; a secret created in the last minute may not work yet."
#define HINT_TENANT \
	"Check tenant_id of the credential."
#define HINT_AIVEN_TOKEN \
	"Check the Aiven token file of the credential."
#define HINT_REPLICATION \
	"Microsoft Entra ID replicates a new object within minutes; the step is retried for up to peering.replication_retry_budget."
#define HINT_AIVEN_PROJECT \
	"Check the project name; the Aiven token's user must be a member of the project (avn project list shows the token's projects)."
#define HINT_AIVEN_MEMBER \
	"Add the Aiven token's user to the project with the role admin or operator (the roles that may manage the project's VPC peering connections), or use the token of such a member."
#define HINT_AIVEN_VPC_BUILDING \
	"The project VPC is still being built (state APPROVED); the request is retried until it is ACTIVE."
#define HINT_AZURE_POLICY \
	"The Azure Policy assignment %s denies it, so it is not retried: ask the owner of the policy for an exemption that covers the VNet (az policy exemption create --policy-assignment ...), then call peering_retry() with the peering's id."
#define HINT_AZURE_LOCK \
	"The scope %s is locked, so this is not retried: remove the lock (az lock list shows it, az lock delete --ids removes it), then call peering_retry() with the peering's id."

/* First match wins: specific rows first, then status classes, then fallbacks. */
static const RemoteRule remote_rules[] = {
	/* no response at all: the code is the transport failure class */
	{ANY_SERVICE, NO_RESPONSE, "tls", ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
	NULL, HINT_TLS, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, NO_RESPONSE, "timeout", ERRCODE_CONNECTION_FAILURE,
	NULL, HINT_TIMEOUT, REMOTE_RETRY_TRANSIENT},
	{ANY_SERVICE, NO_RESPONSE, "connect", ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
	NULL, HINT_CONNECT, REMOTE_RETRY_TRANSIENT},
	{ANY_SERVICE, NO_RESPONSE, "too_large", ERRCODE_PROGRAM_LIMIT_EXCEEDED,
	NULL, NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, NO_RESPONSE, "request", ERRCODE_INVALID_PARAMETER_VALUE,
	NULL, "Check the peering.*_url settings: only https URLs are allowed.",
	REMOTE_RETRY_NEVER},
	{ANY_SERVICE, NO_RESPONSE, NULL, ERRCODE_CONNECTION_FAILURE,
	NULL, HINT_CONNECT, REMOTE_RETRY_TRANSIENT},

	/* Microsoft Entra ID token endpoint (and IMDS) */
	{SERVICE_LOGIN, HTTP_ANY, "AADSTS7000215", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"invalid client secret", HINT_SECRET, REMOTE_RETRY_PROPAGATION},
	{SERVICE_LOGIN, HTTP_ANY, "AADSTS7000222", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"the client secret has expired",
	"Create a new client secret and store it in the secret file of the credential.",
	REMOTE_RETRY_NEVER},
	{SERVICE_LOGIN, HTTP_ANY, "AADSTS700016", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"application not found in the tenant",
	"The application has no service principal in that tenant yet, or the tenant id is wrong.",
	REMOTE_RETRY_PROPAGATION},
	{SERVICE_LOGIN, HTTP_ANY, "AADSTS90002", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"tenant not found", HINT_TENANT, REMOTE_RETRY_NEVER},
	{SERVICE_LOGIN, HTTP_ANY, "AADSTS900023", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"invalid tenant identifier", HINT_TENANT, REMOTE_RETRY_NEVER},
	{SERVICE_LOGIN, HTTP_ANY, "AADSTS70011", ERRCODE_INVALID_PARAMETER_VALUE,
	"invalid scope", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_LOGIN, 400, 401, NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"authentication failed",
	"Check tenant_id, client_id and the secret of the credential.",
	REMOTE_RETRY_NEVER},

	/* Microsoft Graph */
	/* az CLI retries this text while a new application replicates */
	{SERVICE_GRAPH, HTTP(403), "Authorization_RequestDenied", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"the application of the service principal is not in the tenant yet",
	"Right after an application is created this is replication and is retried; for the provider's application it means the automation identity holds only Application.ReadWrite.OwnedBy: grant it Application.ReadWrite.All, or have an administrator run \"az ad sp create --id\" with peering.provider_app_id.",
	REMOTE_RETRY_PROPAGATION, "must in the local tenant"},
	{SERVICE_GRAPH, HTTP(403), "Authorization_RequestDenied", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"permission denied in Microsoft Graph",
	"The automation identity needs the Microsoft Graph application permission Application.ReadWrite.All with admin consent, or the Application Administrator role.",
	REMOTE_RETRY_NEVER},
	{SERVICE_GRAPH, HTTP(404), "Request_ResourceNotFound", ERRCODE_UNDEFINED_OBJECT,
	"directory object not found",
	"A directory object created moments ago can take a while to replicate.",
	REMOTE_RETRY_PROPAGATION},
	{SERVICE_GRAPH, HTTP(409), "Request_MultipleObjectsWithSameKeyValue", ERRCODE_DUPLICATE_OBJECT,
	"a directory object with the same key already exists", NULL,
	REMOTE_RETRY_NEVER},
	{SERVICE_GRAPH, HTTP(401), "InvalidAuthenticationToken", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"invalid access token",
	"The token must be issued for Microsoft Graph in the tenant of the application.",
	REMOTE_RETRY_NEVER},

	/*
	 * Request_BadRequest covers real mistakes, so only these causes retry: a
	 * service principal created for an application that has not replicated
	 * yet (az CLI retries on " does not reference ").
	 */
	{SERVICE_GRAPH, HTTP(400), "Request_BadRequest", ERRCODE_UNDEFINED_OBJECT,
	"the application has not replicated yet", HINT_REPLICATION,
	REMOTE_RETRY_PROPAGATION, "NoBackingApplicationObject"},
	{SERVICE_GRAPH, HTTP(400), "Request_BadRequest", ERRCODE_UNDEFINED_OBJECT,
	"the application has not replicated yet", HINT_REPLICATION,
	REMOTE_RETRY_PROPAGATION, " does not reference a valid application object"},
	{SERVICE_GRAPH, HTTP(400), "Request_BadRequest", ERRCODE_DUPLICATE_OBJECT,
	"another directory object holds the same unique name",
	"A deleted application keeps its uniqueName for 30 days in the recycle bin (/directory/deletedItems); restore or permanently delete it.",
	REMOTE_RETRY_NEVER, "same value for property uniqueName"},

	/* Azure Resource Manager */
	{SERVICE_ARM, HTTP(403), "AuthorizationFailed", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"permission denied in Azure",
	"Grant the identity the role on that scope; a grant made in the last minutes may not have taken effect yet.",
	REMOTE_RETRY_PROPAGATION},
	{SERVICE_ARM, HTTP(403), "LinkedAuthorizationFailed", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"permission denied on the linked remote resource",
	"The request needs a token for the remote tenant (x-ms-authorization-auxiliary), and the provider's service principal needs a role with Microsoft.Network/virtualNetworks/peer/action on the virtual network; a recent grant can take minutes to apply.",
	REMOTE_RETRY_PROPAGATION},
	{SERVICE_ARM, HTTP(400), "PrincipalNotFound", ERRCODE_UNDEFINED_OBJECT,
	"principal not found",
	"A service principal created moments ago can take a while to replicate.",
	REMOTE_RETRY_PROPAGATION},
	{SERVICE_ARM, HTTP(401), "InvalidAuthenticationTokenTenant", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"access token issued for the wrong tenant",
	"The credential's tenant_id must be the tenant of the subscription.",
	REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(401), "InvalidAuthenticationToken", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"invalid access token", NULL, REMOTE_RETRY_TRANSIENT},
	{SERVICE_ARM, HTTP(401), "ExpiredAuthenticationToken", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"expired access token", NULL, REMOTE_RETRY_TRANSIENT},
	{SERVICE_ARM, HTTP(404), "SubscriptionNotFound", ERRCODE_UNDEFINED_OBJECT,
	"subscription not found",
	"Check subscription_id, and that the identity has access to the subscription.",
	REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(404), "ResourceGroupNotFound", ERRCODE_UNDEFINED_OBJECT,
	"resource group not found", "Check resource_group.", REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(404), "ResourceNotFound", ERRCODE_UNDEFINED_OBJECT,
	"resource not found", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(409), "RoleAssignmentExists", ERRCODE_DUPLICATE_OBJECT,
	"the role assignment already exists", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(409), "RoleDefinitionWithSameNameExists", ERRCODE_DUPLICATE_OBJECT,
	"a role definition with the same name already exists", NULL,
	REMOTE_RETRY_NEVER},
	/* a custom role is not assignable for a while after its PUT */
	{SERVICE_ARM, 400, 404, "RoleDefinitionDoesNotExist", ERRCODE_UNDEFINED_OBJECT,
	"the role definition does not exist yet",
	"A custom role created moments ago can take minutes to become assignable; the step is retried.",
	REMOTE_RETRY_PROPAGATION},
	{SERVICE_ARM, HTTP(409), "RoleDefinitionHasAssignments", ERRCODE_OBJECT_IN_USE,
	"the role definition is still assigned",
	"Remove the role assignments that use it first.",
	REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(403), "RequestDisallowedByPolicy", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"denied by Azure Policy", HINT_AZURE_POLICY, REMOTE_RETRY_NEVER, NULL,
	"error.additionalInfo.0.info.policyAssignmentName"},
	{SERVICE_ARM, HTTP(409), "ScopeLocked", ERRCODE_OBJECT_IN_USE,
	"the scope is locked", HINT_AZURE_LOCK, REMOTE_RETRY_NEVER, NULL,
	NULL, "are locked: '"},
	{SERVICE_ARM, HTTP(409), "AnotherOperationInProgress", ERRCODE_OBJECT_IN_USE,
	"another operation is in progress on the resource", NULL,
	REMOTE_RETRY_TRANSIENT},
	{SERVICE_ARM, HTTP(429), "RetryableErrorDueToAnotherOperation", ERRCODE_OBJECT_IN_USE,
	"another operation is in progress on the resource", NULL,
	REMOTE_RETRY_TRANSIENT},
	{SERVICE_ARM, HTTP(400), "RemotePeeringIsDisconnected", ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
	"the provider's side of the peering is disconnected",
	"The provider's peering was deleted or re-created; call peering_retry() to request the Aiven connection again.",
	REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(400), "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet", ERRCODE_INVALID_PARAMETER_VALUE,
	"the address space overlaps a virtual network already peered",
	"Peer a VNet whose address space overlaps neither the project VPC nor the VNets it is already peered with.",
	REMOTE_RETRY_NEVER},
	/* Azure allows 500 peerings per VNet by default ("Networking limits") */
	{SERVICE_ARM, HTTP(400), "PeeringLimitExceeded", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
	"the virtual network has as many peerings as Azure allows",
	"Azure allows 500 peerings per virtual network: delete a peering the VNet no longer needs, or peer another VNet, then call peering_retry().",
	REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP_4XX, "ReferencedResourceNotProvisioned", ERRCODE_OBJECT_IN_USE,
	"a referenced resource is still being provisioned", NULL,
	REMOTE_RETRY_TRANSIENT},
	{SERVICE_ARM, HTTP(400), "MissingApiVersionParameter", ERRCODE_INTERNAL_ERROR,
	"request rejected as malformed", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP(400), "InvalidApiVersionParameter", ERRCODE_INTERNAL_ERROR,
	"request rejected as malformed", NULL, REMOTE_RETRY_NEVER},

	/* Aiven */
	{SERVICE_AIVEN, HTTP(401), NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"authentication failed", HINT_AIVEN_TOKEN, REMOTE_RETRY_NEVER},
	/* Aiven's answers carry no error_code here: the message tells */
	{SERVICE_AIVEN, HTTP(403), NULL, ERRCODE_INSUFFICIENT_PRIVILEGE,
	"the token's user is not a member of the project", HINT_AIVEN_MEMBER,
	REMOTE_RETRY_NEVER, "Not a project member"},
	{SERVICE_AIVEN, HTTP(403), NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"permission denied", HINT_AIVEN_TOKEN, REMOTE_RETRY_NEVER},
	{SERVICE_AIVEN, HTTP(404), "project_not_found", ERRCODE_UNDEFINED_OBJECT,
	"the project does not exist", HINT_AIVEN_PROJECT, REMOTE_RETRY_NEVER},
	{SERVICE_AIVEN, HTTP(404), NULL, ERRCODE_UNDEFINED_OBJECT,
	"the project does not exist", HINT_AIVEN_PROJECT, REMOTE_RETRY_NEVER,
	"Project does not exist"},
	{SERVICE_AIVEN, HTTP(409), NULL, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
	"the project VPC is not active yet", HINT_AIVEN_VPC_BUILDING,
	REMOTE_RETRY_TRANSIENT, "is in state APPROVED, not ACTIVE"},

	/* any service, by status class */
	{ANY_SERVICE, HTTP(408), NULL, ERRCODE_CONNECTION_FAILURE,
	"request timed out", NULL, REMOTE_RETRY_TRANSIENT},
	/* Graph's answer while a dependency is not consistent yet */
	{SERVICE_GRAPH, HTTP(424), NULL, ERRCODE_CONNECTION_FAILURE,
	"failed dependency", NULL, REMOTE_RETRY_TRANSIENT},
	{ANY_SERVICE, HTTP(429), NULL, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
	"too many requests", NULL, REMOTE_RETRY_THROTTLING},
	{ANY_SERVICE, HTTP_5XX, NULL, ERRCODE_CONNECTION_FAILURE,
	"the service failed", NULL, REMOTE_RETRY_TRANSIENT},
	{ANY_SERVICE, HTTP(401), NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"authentication failed", NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, HTTP(403), NULL, ERRCODE_INSUFFICIENT_PRIVILEGE,
	"permission denied", NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, HTTP(404), NULL, ERRCODE_UNDEFINED_OBJECT,
	"not found", NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, HTTP(409), NULL, ERRCODE_DUPLICATE_OBJECT,
	"conflict with an existing object", NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, HTTP_4XX, NULL, ERRCODE_INVALID_PARAMETER_VALUE,
	"request rejected", NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, 200, 299, NULL, ERRCODE_PROTOCOL_VIOLATION,
	"unexpected response", NULL, REMOTE_RETRY_TRANSIENT},
	{ANY_SERVICE, 300, 399, NULL, ERRCODE_PROTOCOL_VIOLATION,
	"unexpected redirect",
	"Redirects are not followed; check the peering.*_url settings.",
	REMOTE_RETRY_NEVER},

	/* fallbacks */
	{SERVICE_LOGIN, HTTP_ANY, NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"unexpected answer from the token endpoint", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_GRAPH, HTTP_ANY, NULL, ERRCODE_PROTOCOL_VIOLATION,
	"unexpected answer from Microsoft Graph", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_ARM, HTTP_ANY, NULL, ERRCODE_PROTOCOL_VIOLATION,
	"unexpected answer from Azure Resource Manager", NULL, REMOTE_RETRY_NEVER},
	{SERVICE_AIVEN, HTTP_ANY, NULL, ERRCODE_PROTOCOL_VIOLATION,
	"unexpected answer from the Aiven API", NULL, REMOTE_RETRY_NEVER},
	{ANY_SERVICE, HTTP_ANY, NULL, ERRCODE_PROTOCOL_VIOLATION,
	"unexpected answer", NULL, REMOTE_RETRY_NEVER},
};

/* ARM codes that only wrap the real cause, which is in details[0]. */
static const char *const arm_wrapper_codes[] = {
	"DeploymentFailed",
	"InvalidTemplateDeployment",
	"ResourceDeploymentFailure",
	"MultipleErrorsOccurred",
};

/* Where a remote message is cut: anything after these may be a secret. */
static const char *const secret_markers[] = {
	"client_secret",
	"client_assertion",
	"secretText",
	"access_token",
	"refresh_token",
	"Authorization:",
	"x-ms-authorization-auxiliary",
	"Bearer ",
	"aivenv1 ",
};

#define REMOTE_MESSAGE_MAX	300

/* Forgets the last remote error (before a step runs). */
void
remote_clear_error(void)
{
	memset(&last_error, 0, sizeof(last_error));
	last_error.retry_after = -1;
}

/*
 * The remote failure behind the last ERROR raised by remote_raise() or
 * rest_unexpected() since remote_clear_error(), or NULL when that ERROR did
 * not come from a remote service.  Points to static storage.
 */
const RemoteError *
remote_last_error(void)
{
	return last_error.recorded ? &last_error : NULL;
}

/* Records what is about to be raised for resp, so that callers can read it. */
static void
remote_record(RemoteService service, const HttpResponse *resp, const char *code,
			  RemoteRetry retry)
{
	remote_clear_error();
	last_error.recorded = true;
	last_error.service = service;
	last_error.http_status = resp ? resp->status : 0;
	if (code != NULL)
		strlcpy(last_error.code, code, sizeof(last_error.code));
	if (resp != NULL && resp->request_id != NULL)
		strlcpy(last_error.request_id, resp->request_id,
				sizeof(last_error.request_id));
	last_error.retry = retry;
	last_error.retry_after = resp ? resp->retry_after : -1;
}

/* Records a 2xx answer we cannot use as a transient failure (rest.c). */
void
remote_note_unexpected(RemoteService service, const HttpResponse *resp)
{
	/* a garbled answer is worth another try later, like a 5xx */
	remote_record(service, resp, NULL, REMOTE_RETRY_TRANSIENT);
	last_error.retry_after = -1;
}

/* A service's name for messages: "Microsoft Graph" for SERVICE_GRAPH, … */
const char *
remote_service_label(RemoteService service)
{
#define SERVICE_LABEL(ID, name, label) [SERVICE_##ID] = label,
	static const char *const labels[REMOTE_SERVICES] = {REMOTE_SERVICE_LIST(SERVICE_LABEL)};
#undef SERVICE_LABEL

	return labels[service];
}

/* The table's code for a request that got no response. */
static const char *
transport_code(HttpFailure failure)
{
	switch (failure)
	{
		case HTTP_FAILURE_TLS:
			return "tls";
		case HTTP_FAILURE_TIMEOUT:
			return "timeout";
		case HTTP_FAILURE_CONNECT:
			return "connect";
		case HTTP_FAILURE_TOO_LARGE:
			return "too_large";
		case HTTP_FAILURE_REQUEST:
			return "request";
		case HTTP_FAILURE_NONE:
		case HTTP_FAILURE_INTERRUPTED:
			break;
	}
	return "";
}

/* Case-insensitive strstr. */
static const char *
find_marker(const char *haystack, const char *needle)
{
	size_t		n = strlen(needle);

	for (; *haystack != '\0'; haystack++)
		if (pg_strncasecmp(haystack, needle, n) == 0)
			return haystack;
	return NULL;
}

/*
 * The rule for an answer: service, status, remote code, and the text (the
 * message and the details' codes and values) that a rule's marker must be
 * found in.
 */
static const RemoteRule *
remote_lookup(RemoteService service, long status, const char *code,
			  const char *text)
{
	size_t		i;

	for (i = 0; i < lengthof(remote_rules); i++)
	{
		const RemoteRule *r = &remote_rules[i];

		if (r->service != ANY_SERVICE && r->service != (int) service)
			continue;
		if (status < r->status_min || status > r->status_max)
			continue;
		if (r->code != NULL && pg_strcasecmp(r->code, code) != 0)
			continue;
		if (r->marker != NULL && find_marker(text, r->marker) == NULL)
			continue;
		return r;
	}
	/* unreachable: the last row matches everything */
	return &remote_rules[lengthof(remote_rules) - 1];
}

static bool
arm_is_wrapper_code(const char *code)
{
	size_t		i;

	for (i = 0; i < lengthof(arm_wrapper_codes); i++)
		if (pg_strcasecmp(code, arm_wrapper_codes[i]) == 0)
			return true;
	return false;
}

/*
 * The "AADSTSnnnn" code of a token endpoint error: error_codes[0], else the
 * prefix of error_description, else NULL.
 */
static char *
login_aadsts_code(json_t *root)
{
	json_t	   *first = json_array_get(json_object_get(root, "error_codes"), 0);
	const char *desc;
	size_t		digits;

	if (json_is_integer(first))
		return psprintf("AADSTS%" JSON_INTEGER_FORMAT, json_integer_value(first));

	desc = json_string_value(json_object_get(root, "error_description"));
	if (desc == NULL || strncmp(desc, "AADSTS", 6) != 0)
		return NULL;
	digits = strspn(desc + 6, "0123456789");
	if (digits == 0)
		return NULL;
	return pnstrdup(desc, 6 + digits);
}

/*
 * The codes, messages and values of a Graph or ARM error's details, space
 * separated: Graph puts the cause of a Request_BadRequest there
 * ("details": [{"code": "NoBackingApplicationObject", …}], or the older
 * "values": [{"item": "PropertyErrorCode", "value": …}]).
 */
static char *
error_details_text(json_t *error)
{
	static const char *const lists[] = {"details", "values"};
	static const char *const fields[] = {"code", "message", "target", "value"};
	StringInfoData buf;
	size_t		l;

	initStringInfo(&buf);
	for (l = 0; l < lengthof(lists); l++)
	{
		json_t	   *list = json_object_get(error, lists[l]);
		json_t	   *item;
		size_t		i;

		/* Graph sometimes sends one detail as an object, not an array */
		if (json_is_object(list))
			list = json_pack("[O]", list);
		else
			json_incref(list);
		json_array_foreach(list, i, item)
		{
			size_t		f;

			for (f = 0; f < lengthof(fields); f++)
			{
				const char *v = json_string_value(json_object_get(item, fields[f]));

				if (v != NULL)
					appendStringInfo(&buf, " %s", v);
			}
		}
		json_decref(list);
	}
	return buf.data;
}

/*
 * Extracts the remote error code and message from a parsed error body, per
 * service, and the text a rule's marker is looked for in (the message and
 * the details).  Code and message may come back NULL, text never.
 */
static void
remote_parse_error(RemoteService service, json_t *root, char **code, char **message,
				   char **text)
{
	*code = NULL;
	*message = NULL;
	*text = "";

	if (root == NULL)
		return;

	if (service == SERVICE_LOGIN)
	{
		*code = login_aadsts_code(root);
		if (*code == NULL)
			*code = json_get_text(root, "error");
		*message = json_get_text(root, "error_description");
	}
	else if (service == SERVICE_AIVEN)
	{
		*code = json_get_text(root, "errors.0.error_code");
		*message = json_get_text(root, "errors.0.message");
		if (*message == NULL)
			*message = json_get_text(root, "message");
	}
	else
	{
		/* graph and arm: {"error": {"code", "message", "details": [...]}} */
		*code = json_get_text(root, "error.code");
		*message = json_get_text(root, "error.message");
		/* Graph sometimes sends {"lang": …, "value": …} as the message */
		if (*message == NULL)
			*message = json_get_text(root, "error.message.value");
		*text = psprintf("%s%s", *message ? *message : "",
						 error_details_text(json_object_get(root, "error")));
		if (service == SERVICE_ARM && *code != NULL &&
			arm_is_wrapper_code(*code))
		{
			char	   *inner = json_get_text(root, "error.details.0.code");

			if (inner != NULL)
			{
				*code = inner;
				*message = json_get_text(root, "error.details.0.message");
			}
		}
	}
	if ((*text)[0] == '\0' && *message != NULL)
		*text = *message;
}

/* The remote error code in a failed response body ("" if none), palloc'd. */
char *
remote_error_code(RemoteService service, const HttpResponse *resp)
{
	json_t	   *root;
	char	   *code;
	char	   *message;
	char	   *text;

	if (resp == NULL || resp->status == 0)
		return pstrdup("");

	root = json_parse_body(resp);
	remote_parse_error(service, root, &code, &message, &text);
	if (root != NULL)
		json_decref(root);

	return code != NULL ? code : pstrdup("");
}

/*
 * Makes a remote message fit for errdetail: cut at the first secret marker,
 * one line, printable, valid in the database encoding, at most
 * REMOTE_MESSAGE_MAX bytes.
 */
static char *
remote_scrub(const char *message)
{
	StringInfoData buf;
	size_t		keep = strlen(message);
	bool		redacted = false;
	bool		ascii_only = (GetDatabaseEncoding() != PG_UTF8);
	bool		space = false;
	size_t		i;
	int			clip;

	for (i = 0; i < lengthof(secret_markers); i++)
	{
		const char *hit = find_marker(message, secret_markers[i]);

		if (hit != NULL && (size_t) (hit - message) < keep)
		{
			keep = hit - message;
			redacted = true;
		}
	}

	initStringInfo(&buf);
	for (i = 0; i < keep; i++)
	{
		unsigned char c = (unsigned char) message[i];

		if (c <= ' ' || c == 0x7f)
		{
			space = (buf.len > 0);
			continue;
		}
		if (space)
			appendStringInfoChar(&buf, ' ');
		space = false;
		/* jansson strings are UTF-8; other server encodings get ASCII only */
		appendStringInfoChar(&buf, (ascii_only && c >= 0x80) ? '?' : (char) c);
	}

	/* the detail sentence ends with its own period */
	while (buf.len > 0 && buf.data[buf.len - 1] == '.')
		buf.data[--buf.len] = '\0';

	clip = pg_mbcliplen(buf.data, buf.len, REMOTE_MESSAGE_MAX);
	if (clip < buf.len)
	{
		buf.data[clip] = '\0';
		buf.len = clip;
		appendStringInfoString(&buf, "...");
	}
	if (redacted)
		appendStringInfoString(&buf, " [rest redacted]");

	return buf.data;
}

/*
 * The rule's hint, its "%s" (if any) replaced by the detail the rule takes
 * from the answer: remote text, so scrubbed, and quoted; "named in the
 * detail" when the answer lacks it.  The hint is never a format string.
 */
static const char *
remote_hint(const RemoteRule *rule, const HttpResponse *resp, const char *message)
{
	const char *slot = rule->hint ? strstr(rule->hint, "%s") : NULL;
	char	   *detail = NULL;
	StringInfoData buf;

	if (slot == NULL)
		return rule->hint;
	if (rule->detail_path != NULL)
	{
		json_t	   *root = json_parse_body(resp);

		if (root != NULL)
		{
			detail = json_get_text(root, rule->detail_path);
			json_decref(root);
		}
	}
	else if (rule->detail_after != NULL && message != NULL)
	{
		const char *start = find_marker(message, rule->detail_after);
		size_t		after = strlen(rule->detail_after);

		/* the value runs to the quote that ends the marker */
		if (start != NULL)
			detail = pnstrdup(start + after,
							  strcspn(start + after, rule->detail_after + after - 1));
	}

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, rule->hint, slot - rule->hint);
	if (detail != NULL && detail[0] != '\0')
		appendStringInfo(&buf, "\"%s\"", remote_scrub(detail));
	else
		appendStringInfoString(&buf, "named in the detail");
	appendStringInfoString(&buf, slot + 2);
	return buf.data;
}

/*
 * Classifies a response: the matching rule, and the remote code and message.
 * text (may be NULL) receives what markers are looked for in.
 */
static const RemoteRule *
remote_classify(RemoteService service, const HttpResponse *resp,
				char **code, char **message, char **text)
{
	json_t	   *root;
	char	   *t;

	*code = NULL;
	*message = NULL;
	if (text != NULL)
		*text = "";

	if (resp->status == 0)
		return remote_lookup(service, 0, transport_code(resp->failure), "");

	root = json_parse_body(resp);
	remote_parse_error(service, root, code, message, &t);
	if (root != NULL)
		json_decref(root);
	if (text != NULL)
		*text = t;

	return remote_lookup(service, resp->status, *code != NULL ? *code : "", t);
}

/*
 * The SQL name of a retry class, as peering.connections.retry_class holds
 * it: "transient", "replication", "throttling", "waiting"; NULL for
 * REMOTE_RETRY_NEVER.
 */
const char *
remote_retry_name(RemoteRetry retry)
{
	static const char *const names[REMOTE_RETRY_CLASSES] = {
		[REMOTE_RETRY_NEVER] = NULL,
		[REMOTE_RETRY_TRANSIENT] = "transient",
		[REMOTE_RETRY_PROPAGATION] = "replication",
		[REMOTE_RETRY_THROTTLING] = "throttling",
		[REMOTE_RETRY_WAITING] = "waiting",
	};

	return names[retry];
}

/*
 * Does resp carry this remote error: HTTP status, code (NULL: any) and a
 * marker (NULL: any) found in the message or in an error detail's code or
 * value?  For the few answers whose generic code covers several causes.
 */
bool
remote_error_is(RemoteService service, const HttpResponse *resp, long status,
				const char *code, const char *marker)
{
	char	   *got_code;
	char	   *message;
	char	   *text;

	if (resp == NULL || resp->status != status)
		return false;
	(void) remote_classify(service, resp, &got_code, &message, &text);
	if (code != NULL && (got_code == NULL || pg_strcasecmp(code, got_code) != 0))
		return false;
	return marker == NULL || find_marker(text, marker) != NULL;
}

/*
 * Raises ERROR for a failed response (NULL: none arrived), and records it
 * for remote_last_error().  "operation" is the whole message of the
 * failure, translatable on its own, naming what was attempted on which
 * object, e.g. _("could not read virtual network \"%s\"") formatted; the
 * message reads "<operation>: <reason>", as "%m" follows a message in
 * PostgreSQL's own.  The detail has the HTTP status, the remote code and
 * message (never a secret) and the request id; the SQLSTATE, the hint and
 * the retry class come from the table.
 */
void
remote_raise(RemoteService service, const char *operation,
			 const HttpResponse *resp)
{
	static const HttpResponse no_response = {
		.status = 0,
		.body = "",
		.retry_after = -1,
		.error = "no response",
	};
	const RemoteRule *rule;
	const char *label = remote_service_label(service);
	const char *hint;
	char	   *code;
	char	   *message;
	StringInfoData remote;
	StringInfoData request_id;

	if (resp == NULL)
		resp = &no_response;

	rule = remote_classify(service, resp, &code, &message, NULL);
	hint = remote_hint(rule, resp, message);

	/* the code is remote text too: scrubbed like the message */
	remote_record(service, resp, code ? remote_scrub(code) : NULL, rule->retry);

	/* the request id is a header value: remote text like the message */
	initStringInfo(&request_id);
	if (resp->request_id != NULL)
		appendStringInfo(&request_id, " (request id %s)",
						 remote_scrub(resp->request_id));

	if (resp->status == 0)
		ereport(ERROR,
				(errcode(rule->sqlstate),
				 errmsg("%s: %s", operation,
						resp->error != NULL ? resp->error : "no response"),
				 errdetail("No response from %s (attempts: %d)%s.",
						   label, resp->attempts, request_id.data),
				 hint ? errhint("%s", hint) : 0));

	initStringInfo(&remote);
	if (code != NULL && code[0] != '\0')
	{
		size_t		len = strlen(code);

		appendStringInfo(&remote, ", %s", remote_scrub(code));
		/* AADSTS descriptions start with their own code */
		if (message != NULL && strncmp(message, code, len) == 0 &&
			message[len] == ':')
			message += len + 1;
	}
	if (message != NULL && message[0] != '\0')
		appendStringInfo(&remote, "%s %s", remote.len > 0 ? ":" : ",",
						 remote_scrub(message));

	ereport(ERROR,
			(errcode(rule->sqlstate),
			 errmsg("%s: %s", operation, rule->reason),
			 errdetail("%s returned HTTP %ld%s%s.",
					   label, resp->status, remote.data, request_id.data),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}
