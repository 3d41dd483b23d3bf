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

/* {base}/v1/project/{project}/{collection}[/{id}] */
static char *
aiven_project_url(const char *project, const char *collection, const char *id)
{
	char	   *url = psprintf("%s/v1/project/%s/%s",
							   rest_base_url(peering_aiven_url),
							   http_escape(project), collection);

	if (id)
		url = psprintf("%s/%s", url, http_escape(id));
	return url;
}

/* {base}/v1/project/{project}/vpcs[/{vpc_id}] */
static char *
aiven_vpc_url(const char *project, const char *vpc_id)
{
	return aiven_project_url(project, "vpcs", vpc_id);
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

/*
 * The networks Aiven routes through the peering (user_peer_network_cidrs),
 * an array of strings; an answer without the key leaves them unknown.
 */
static void
aiven_cidrs_from_json(AivenPeering *p, json_t *list, const HttpResponse *resp,
					  const char *operation)
{
	if (list == NULL || json_is_null(list))
		return;
	if (!json_get_string_list(list, &p->user_peer_network_cidrs))
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"\"user_peer_network_cidrs\" is not an array of strings");
	p->user_peer_network_cidrs_known = true;
}

/* A JSON array of the strings of list (for request bodies). */
static json_t *
aiven_string_array(const List *list)
{
	json_t	   *array = json_array();
	ListCell   *lc;

	foreach(lc, list)
		json_array_append_new(array, json_string(lfirst(lc)));
	return array;
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
	aiven_cidrs_from_json(p, json_object_get(obj, "user_peer_network_cidrs"), resp, operation);
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
					 const char *vnet, const char *app_id, const char *tenant_id,
					 const List *user_peer_network_cidrs)
{
	char	   *operation = aiven_peering_operation(true, vpc_id, subscription,
													resource_group, vnet);
	char	   *url = psprintf("%s/peering-connections",
							   aiven_vpc_url(project, vpc_id));
	char	   *body = rest_body(json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
										   "peer_cloud_account", subscription,
										   "peer_vpc", vnet,
										   "peer_resource_group", resource_group,
										   "peer_azure_app_id", app_id,
										   "peer_azure_tenant_id", tenant_id,
										   "user_peer_network_cidrs",
										   aiven_string_array(user_peer_network_cidrs)));
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

/*
 * PUT …/vpcs/{id}/user-peer-network-cidrs: Aiven routes the networks of add
 * (char * CIDRs) through the connection of this (lower-case) subscription,
 * group and VNet, and no longer those of remove.  Aiven applies the change
 * in place: the connection and the Azure peerings stay.
 */
void
aiven_update_user_peer_network_cidrs(const char *token, const char *project,
									 const char *vpc_id, const char *subscription,
									 const char *resource_group, const char *vnet,
									 const List *add, const List *remove)
{
	char	   *operation = psprintf(_("could not change the networks routed through the peering connection of project VPC \"%s\" with VNet \"%s\" (subscription \"%s\", resource group \"%s\")"),
									 vpc_id, vnet, subscription, resource_group);
	json_t	   *entries = json_array();
	ListCell   *lc;
	HttpResponse *resp;

	foreach(lc, add)
		json_array_append_new(entries,
							  json_pack("{s:s, s:s, s:s, s:s}",
										"cidr", (char *) lfirst(lc),
										"peer_cloud_account", subscription,
										"peer_resource_group", resource_group,
										"peer_vpc", vnet));
	resp = aiven_send(token, "PUT",
					  psprintf("%s/user-peer-network-cidrs", aiven_vpc_url(project, vpc_id)),
					  rest_body(json_pack("{s:o, s:o}", "add", entries,
										  "delete", aiven_string_array(remove))));
	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
}

/* ----------------------------------------------------------------------
 * Services and their IP filters; the refresh of a VPC's peerings
 * ----------------------------------------------------------------------
 */

static AivenIpFilterEntry *
aiven_ip_filter_entry_from_json(json_t *item, const HttpResponse *resp,
								const char *operation)
{
	AivenIpFilterEntry *e = palloc0(sizeof(AivenIpFilterEntry));

	if (json_is_string(item))
		e->network = pstrdup(json_string_value(item));
	else if (json_is_object(item))
	{
		e->network = json_get_text(item, "network");
		e->description = json_get_text(item, "description");
	}
	if (e->network == NULL)
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"an ip_filter entry is neither a network nor an object with one");
	e->json = json_to_text(item);
	return e;
}

static AivenService *
aiven_service_from_json(json_t *obj, const HttpResponse *resp,
						const char *operation)
{
	AivenService *s = palloc0(sizeof(AivenService));
	json_t	   *filter;
	json_t	   *item;
	size_t		i;

	if (!json_is_object(obj))
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a service is not a JSON object");
	s->service_name = json_get_text(obj, "service_name");
	s->project_vpc_id = json_get_text(obj, "project_vpc_id");
	if (s->service_name == NULL)
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a service lacks service_name");
	/* no ip_filter: Aiven's default, 0.0.0.0/0 */
	filter = json_object_get(json_object_get(obj, "user_config"), "ip_filter");
	if (filter == NULL)
		s->ip_filter = list_make1(aiven_ip_filter_entry("0.0.0.0/0", NULL));
	else if (!json_is_array(filter))
		rest_unexpected(SERVICE_AIVEN, operation, resp,
						"a service's user_config.ip_filter is not an array");
	json_array_foreach(filter, i, item)
		s->ip_filter = lappend(s->ip_filter,
							   aiven_ip_filter_entry_from_json(item, resp, operation));
	return s;
}

/* A project's services, parsed once for all their readers. */
static void *
aiven_services_parse(const HttpResponse *resp, const char *operation)
{
	json_t	   *root = rest_json(SERVICE_AIVEN, operation, resp);
	json_t	   *list = json_object_get(root, "services");
	json_t	   *item;
	size_t		i;
	List	   *services = NIL;

	if (!json_is_array(list))
		rest_unexpected(SERVICE_AIVEN, operation, resp, "no \"services\" array");
	json_array_foreach(list, i, item)
		services = lappend(services, aiven_service_from_json(item, resp, operation));
	json_decref(root);
	/* NIL cannot be told from "not parsed yet": an empty list is a cell */
	return services ? services : list_make1(NULL);
}

/*
 * GET /v1/project/{project}/service: a list of AivenService *, shared with
 * every reader of the same answer (read only); with project_gone_ok, NIL
 * when the project does not exist (teardown).
 */
List *
aiven_list_services(const char *token, const char *project, bool project_gone_ok)
{
	char	   *operation = psprintf(_("could not list the services of project \"%s\""), project);
	HttpResponse *resp = aiven_send(token, "GET", aiven_project_url(project, "service", NULL), NULL);
	List	   *services;

	if (project_gone_ok && resp->status == 404)
		return NIL;
	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
	services = rest_parse_shared(resp, operation, aiven_services_parse);
	return linitial(services) == NULL ? NIL : services;
}

/* An entry of ours: {"network": network, "description": description}. */
AivenIpFilterEntry *
aiven_ip_filter_entry(const char *network, const char *description)
{
	AivenIpFilterEntry *e = palloc0(sizeof(AivenIpFilterEntry));

	e->network = pstrdup(network);
	e->description = description ? pstrdup(description) : NULL;
	e->json = description ?
		rest_body(json_pack("{s:s, s:s}", "network", network, "description", description)) :
		rest_body(json_string(network));
	return e;
}

/*
 * PUT /v1/project/{project}/service/{service} with {"user_config":
 * {"ip_filter": [...]}}: Aiven keeps the other keys of user_config.
 */
void
aiven_update_ip_filter(const char *token, const char *project,
					   const char *service, const List *ip_filter)
{
	char	   *operation = psprintf(_("could not update the IP filter of service \"%s\" of project \"%s\""),
									 service, project);
	json_t	   *entries = json_array();
	ListCell   *lc;
	HttpResponse *resp;

	foreach(lc, ip_filter)
	{
		const AivenIpFilterEntry *e = lfirst(lc);

		/* an entry lost here would be a network cut off the service */
		if (json_array_append_new(entries, json_loads(e->json, JSON_DECODE_ANY, NULL)) != 0)
			elog(ERROR, "could not rebuild IP filter entry %s of service \"%s\"",
				 e->network, service);
	}
	resp = aiven_send(token, "PUT", aiven_project_url(project, "service", service),
					  rest_body(json_pack("{s:{s:o}}", "user_config", "ip_filter", entries)));
	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
}

/*
 * POST …/vpcs/{id}/peering-connections/refresh: Aiven re-reads the peer
 * networks of the VPC's connections (a customer VNet that grew).
 */
void
aiven_refresh_peerings(const char *token, const char *project, const char *vpc_id)
{
	char	   *operation = psprintf(_("could not ask Aiven to refresh the peering connections of project VPC \"%s\" of project \"%s\""),
									 vpc_id, project);
	HttpResponse *resp = aiven_send(token, "POST",
									psprintf("%s/peering-connections/refresh",
											 aiven_vpc_url(project, vpc_id)),
									NULL);

	if (!rest_ok(resp))
		remote_raise(SERVICE_AIVEN, operation, resp);
}
