/*
 * aiven.h
 *		The Aiven API calls peering needs (reference/aiven-api.md).
 *		Every function raises ERROR through remote_raise() on failure unless
 *		it says otherwise.  Results are palloc'd.
 */
#ifndef PEERING_AIVEN_H
#define PEERING_AIVEN_H

#include "http.h"

typedef struct AivenPeering
{
	char	   *peer_cloud_account;
	char	   *peer_resource_group;
	char	   *peer_vpc;
	char	   *peer_azure_app_id;
	char	   *peer_azure_tenant_id;
	char	   *state;
	char	   *state_info;		/* JSON text, NULL when null */
	char	   *state_message;	/* state_info.message, or NULL */
	char	   *to_tenant_id;	/* state_info."to-tenant-id", or NULL */
	char	   *to_network_id;	/* state_info."to-network-id", or NULL */
	char	   *create_time;
	char	   *update_time;
} AivenPeering;

typedef struct AivenVpc
{
	char	   *project_vpc_id;
	char	   *cloud_name;
	char	   *network_cidr;
	char	   *state;
	char	   *create_time;
	char	   *update_time;
	List	   *peerings;		/* of AivenPeering *; only from aiven_get_vpc */
} AivenVpc;

/* GET /v1/project/{project}/vpcs: list of AivenVpc * */
extern List *aiven_list_vpcs(const char *token, const char *project);

/* GET /v1/project/{project}/vpcs/{id}; NULL when the VPC does not exist (404) */
extern AivenVpc *aiven_get_vpc(const char *token, const char *project,
							   const char *vpc_id);

/* The same split in two, so the worker can send many GETs in parallel. */
extern HttpRequest *aiven_get_vpc_request(const char *token, const char *project,
										  const char *vpc_id);
extern AivenVpc *aiven_parse_vpc(const HttpResponse *resp, const char *project,
								 const char *vpc_id);

/*
 * The connection for this (lower-case) subscription, group and VNet, or NULL.
 * Names match exactly.  Should the list hold the same key twice (a DELETED
 * connection next to its re-creation), the one not DELETED wins.
 */
extern AivenPeering *aiven_find_peering(const AivenVpc *vpc, const char *subscription,
										const char *resource_group,
										const char *vnet);

/* POST …/vpcs/{id}/peering-connections; names must already be lower-case. */
extern AivenPeering *aiven_create_peering(const char *token, const char *project,
										  const char *vpc_id,
										  const char *subscription,
										  const char *resource_group,
										  const char *vnet, const char *app_id,
										  const char *tenant_id);

/* DELETE …/peer-accounts/{sub}/peer-resource-groups/{rg}/peer-vpcs/{vnet}; NULL on 404 */
extern AivenPeering *aiven_delete_peering(const char *token, const char *project,
										  const char *vpc_id,
										  const char *subscription,
										  const char *resource_group,
										  const char *vnet);

/*
 * Plumbing shared by aiven.c, graph.c and arm.c (defined in aiven.c).  Kept
 * free of jansson types so that this header stays includable next to
 * utils/builtins.h.
 */
struct json_t;

/* A URL setting without one trailing '/', palloc'd. */
extern char *rest_base_url(const char *setting);

/* A request carrying "Authorization: <scheme> <token>"; body may be NULL. */
extern HttpRequest *rest_request(const char *service, const char *method,
								 const char *url, const char *scheme,
								 const char *token, const char *body);

/* Is the status 2xx? */
extern bool rest_ok(const HttpResponse *resp);

/*
 * The body of a 2xx response as a JSON object (a new reference), or ERROR
 * "unexpected response from <service> while trying to <operation>".
 */
extern struct json_t *rest_json(const char *service, const char *operation,
								const HttpResponse *resp);

/*
 * That ERROR (SQLSTATE 22P02), for a 2xx answer lacking what was expected:
 * reason is a short constant phrase and the body is never quoted.  resp may
 * be NULL.  remote_last_error is filled in as a transient failure.
 */
extern void rest_unexpected(const char *service, const char *operation,
							const HttpResponse *resp, const char *reason)
			pg_attribute_noreturn();

/* Serialises a json_pack() result (consumed) or raises if packing failed. */
extern char *rest_body(struct json_t *value);

/* An OData string literal's content: single quotes doubled (not escaped). */
extern char *rest_odata_string(const char *value);

#endif							/* PEERING_AIVEN_H */
