/*
 * aiven.c
 *		The Aiven API calls peering needs (docs/remote-apis.md §6).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Requests carry "Authorization: aivenv1 <token>"; every path segment is
 * percent-encoded.  Peering connections cannot be read one by one: they come
 * embedded in GET …/vpcs/{id}, and aiven_find_peering() picks one out.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "peering.h"
#include "http.h"
#include "jsonutil.h"
#include "remote.h"
#include "aiven.h"
#include "rest.h"


/* ----------------------------------------------------------------------
 * Aiven helpers
 * ----------------------------------------------------------------------
 */

/* {base}/v1/project/{project}/vpcs[/{vpc_id}] */
static char *
aiven_vpc_url(const char *project, const char *vpc_id)
{
	char	   *url = psprintf("%s/v1/project/%s/vpcs",
							   rest_base_url(peering_aiven_url),
							   http_escape(project));

	if (vpc_id)
		url = psprintf("%s/%s", url, http_escape(vpc_id));
	return url;
}

static HttpResponse *
aiven_send(const char *token, const char *method, const char *url,
		   const char *body)
{
	return http_perform(rest_request(SERVICE_AIVEN, method, url, "aivenv1",
									 token, body));
}

/*
 * The GET aiven_get_vpc() sends: for http_prefetch(), which hands its
 * answer to that read.
 */
HttpRequest *
aiven_vpc_request(const char *token, const char *project, const char *vpc_id)
{
	return rest_request(SERVICE_AIVEN, "GET", aiven_vpc_url(project, vpc_id), "aivenv1",
						token, NULL);
}

/*
 * Aiven's messages for two answers without an error_code, the markers of
 * their rules in remote.c: an unknown project, and a peering request in a
 * project VPC that is still being built.
 */
#define AIVEN_PROJECT_MISSING	"Project does not exist"
#define AIVEN_VPC_BUILDING		"is in state APPROVED, not ACTIVE"

/*
 * A 404 that means "no such VPC/connection" rather than "no such project":
 * an unknown project is the caller's mistake and must be reported as such.
 * Aiven says so in its message; the documented error_code is accepted too.
 */
static bool
aiven_absent(const HttpResponse *resp)
{
	return resp->status == 404 &&
		strcmp(remote_error_code(SERVICE_AIVEN, resp), "project_not_found") != 0 &&
		!remote_error_is(SERVICE_AIVEN, resp, 404, NULL, AIVEN_PROJECT_MISSING);
}

static char *
aiven_vpc_operation(const char *project, const char *vpc_id)
{
	return psprintf(_("could not read project VPC \"%s\" of project \"%s\""), vpc_id, project);
}

/* The operation on the connection, for messages: create or delete. */
static char *
aiven_peering_operation(bool create, const char *vpc_id,
						const char *subscription, const char *resource_group,
						const char *vnet)
{
	if (create)
		return psprintf(_("could not create the peering connection of project VPC \"%s\" with VNet \"%s\" (subscription \"%s\", resource group \"%s\")"),
						vpc_id, vnet, subscription, resource_group);
	return psprintf(_("could not delete the peering connection of project VPC \"%s\" with VNet \"%s\" (subscription \"%s\", resource group \"%s\")"),
					vpc_id, vnet, subscription, resource_group);
}

static AivenPeering *
aiven_peering_from_json(json_t *obj, const HttpResponse *resp,
						const char *operation)
{
	AivenPeering *p = palloc0(sizeof(AivenPeering));
	json_t	   *info;

	if (!json_is_object(obj))
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a peering connection is not a JSON object");
	p->peer_cloud_account = json_get_text(obj, "peer_cloud_account");
	p->peer_resource_group = json_get_text(obj, "peer_resource_group");
	p->peer_vpc = json_get_text(obj, "peer_vpc");
	p->peer_azure_app_id = json_get_text(obj, "peer_azure_app_id");
	p->peer_azure_tenant_id = json_get_text(obj, "peer_azure_tenant_id");
	p->state = json_get_text(obj, "state");
	p->create_time = json_get_text(obj, "create_time");
	p->update_time = json_get_text(obj, "update_time");
	if (!p->peer_cloud_account || !p->peer_vpc || !p->state)
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a peering connection lacks peer_cloud_account, peer_vpc or state");

	info = json_object_get(obj, "state_info");
	if (json_is_object(info))
	{
		p->state_info = json_to_text(info);
		p->state_message = json_get_text(info, "message");
		p->to_tenant_id = json_get_text(info, "to-tenant-id");
		p->to_network_id = json_get_text(info, "to-network-id");
	}
	return p;
}

static AivenVpc *
aiven_vpc_from_json(json_t *obj, bool with_peerings, const HttpResponse *resp,
					const char *operation)
{
	AivenVpc   *vpc = palloc0(sizeof(AivenVpc));

	if (!json_is_object(obj))
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a VPC is not a JSON object");
	vpc->project_vpc_id = json_get_text(obj, "project_vpc_id");
	vpc->cloud_name = json_get_text(obj, "cloud_name");
	vpc->network_cidr = json_get_text(obj, "network_cidr");
	vpc->state = json_get_text(obj, "state");
	vpc->create_time = json_get_text(obj, "create_time");
	vpc->update_time = json_get_text(obj, "update_time");
	if (!vpc->project_vpc_id || !vpc->cloud_name || !vpc->network_cidr ||
		!vpc->state)
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a VPC lacks project_vpc_id, cloud_name, network_cidr or state");

	if (with_peerings)
	{
		json_t	   *list = json_object_get(obj, "peering_connections");
		json_t	   *item;
		size_t		i;

		if (!json_is_array(list))
			rest_unexpected(SERVICE_AIVEN, operation, resp,
							"no \"peering_connections\" array");
		json_array_foreach(list, i, item)
			vpc->peerings = lappend(vpc->peerings,
									aiven_peering_from_json(item, resp, operation));
	}
	return vpc;
}

/* A 2xx peering-connection answer, parsed; raises on anything else. */
static AivenPeering *
aiven_peering_response(const HttpResponse *resp, const char *operation)
{
	json_t	   *root;
	AivenPeering *p;

	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
	root = rest_json(SERVICE_AIVEN, operation, resp);
	p = aiven_peering_from_json(root, resp, operation);
	json_decref(root);
	return p;
}

/* ----------------------------------------------------------------------
 * Aiven API calls
 * ----------------------------------------------------------------------
 */

/* GET /v1/project/{project}/vpcs: list of AivenVpc * */
List *
aiven_list_vpcs(const char *token, const char *project)
{
	char	   *operation = psprintf(_("could not list the VPCs of project \"%s\""), project);
	HttpResponse *resp = aiven_send(token, "GET", aiven_vpc_url(project, NULL), NULL);
	json_t	   *root;
	json_t	   *list;
	json_t	   *item;
	size_t		i;
	List	   *vpcs = NIL;

	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
	root = rest_json(SERVICE_AIVEN, operation, resp);
	list = json_object_get(root, "vpcs");
	if (!json_is_array(list))
		rest_unexpected(SERVICE_AIVEN, operation, resp, "no \"vpcs\" array");
	json_array_foreach(list, i, item)
		vpcs = lappend(vpcs, aiven_vpc_from_json(item, false, resp, operation));
	json_decref(root);
	return vpcs;
}

/* A project VPC with its connections, parsed once for all its readers. */
static void *
aiven_vpc_parse(const HttpResponse *resp, const char *operation)
{
	json_t	   *root = rest_json(SERVICE_AIVEN, operation, resp);
	AivenVpc   *vpc = aiven_vpc_from_json(root, true, resp, operation);

	json_decref(root);
	return vpc;
}

/*
 * GET /v1/project/{project}/vpcs/{id}; NULL when the VPC does not exist
 * (404), and with project_gone_ok also when the project does not (teardown).
 * Shared with every reader of the same answer: read only.
 */
AivenVpc *
aiven_get_vpc(const char *token, const char *project, const char *vpc_id,
			  bool project_gone_ok)
{
	char	   *operation = aiven_vpc_operation(project, vpc_id);
	HttpResponse *resp = aiven_send(token, "GET", aiven_vpc_url(project, vpc_id), NULL);

	if (aiven_absent(resp) || (project_gone_ok && resp->status == 404))
		return NULL;
	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
	return rest_parse_shared(resp, operation, aiven_vpc_parse);
}

/*
 * The connection for this (lower-case) subscription, group and VNet, or NULL.
 * Names match exactly.  Should the list hold the same key twice (a DELETED
 * connection next to its re-creation), the one not DELETED wins.
 */
AivenPeering *
aiven_find_peering(const AivenVpc *vpc, const char *subscription,
				   const char *resource_group, const char *vnet)
{
	AivenPeering *found = NULL;
	ListCell   *lc;

	foreach(lc, vpc->peerings)
	{
		AivenPeering *p = (AivenPeering *) lfirst(lc);

		if (p->peer_resource_group == NULL ||
			strcmp(p->peer_cloud_account, subscription) != 0 ||
			strcmp(p->peer_resource_group, resource_group) != 0 ||
			strcmp(p->peer_vpc, vnet) != 0)
			continue;
		if (strcmp(p->state, "DELETED") != 0)
			return p;
		if (found == NULL)
			found = p;
	}
	return found;
}

/*
 * POST …/vpcs/{id}/peering-connections; names must already be lower-case.
 * Sent once: NULL when the answer does not tell whether the connection was
 * created (409, 5xx, no answer), and the caller must read it back.
 */
AivenPeering *
aiven_create_peering(const char *token, const char *project, const char *vpc_id,
					 const char *subscription, const char *resource_group,
					 const char *vnet, const char *app_id, const char *tenant_id)
{
	char	   *operation = aiven_peering_operation(true, vpc_id, subscription,
													resource_group, vnet);
	char	   *url = psprintf("%s/peering-connections",
							   aiven_vpc_url(project, vpc_id));
	char	   *body = rest_body(json_pack("{s:s, s:s, s:s, s:s, s:s}",
										   "peer_cloud_account", subscription,
										   "peer_vpc", vnet,
										   "peer_resource_group", resource_group,
										   "peer_azure_app_id", app_id,
										   "peer_azure_tenant_id", tenant_id));
	HttpRequest *req = rest_request(SERVICE_AIVEN, "POST", url, "aivenv1", token, body);
	HttpResponse *resp;

	/* a retry in place could create a second connection after a lost answer */
	req->no_retry = true;
	resp = http_perform(req);
	/* refused before anything was written: its rule retries it */
	if (remote_error_is(SERVICE_AIVEN, resp, 409, NULL, AIVEN_VPC_BUILDING))
		remote_raise(SERVICE_AIVEN, operation, resp);
	if (resp->status == 0 || resp->status == 409 || resp->status >= 500)
		return NULL;
	return aiven_peering_response(resp, operation);
}

/*
 * DELETE …/peer-accounts/{sub}/peer-resource-groups/{rg}/peer-vpcs/{vnet};
 * NULL on any 404: with the connection, its VPC or its project gone, there
 * is nothing left to delete.
 */
AivenPeering *
aiven_delete_peering(const char *token, const char *project, const char *vpc_id,
					 const char *subscription, const char *resource_group,
					 const char *vnet)
{
	char	   *operation = aiven_peering_operation(false, vpc_id, subscription,
													resource_group, vnet);
	char	   *url = psprintf("%s/peering-connections/peer-accounts/%s/peer-resource-groups/%s/peer-vpcs/%s",
							   aiven_vpc_url(project, vpc_id),
							   http_escape(subscription),
							   http_escape(resource_group),
							   http_escape(vnet));
	HttpResponse *resp = aiven_send(token, "DELETE", url, NULL);

	if (resp->status == 404)
		return NULL;
	return aiven_peering_response(resp, operation);
}
