/*
 * aiven.h
 *		The Aiven API calls peering needs (docs/remote-apis.md §6).
 *		Every function raises ERROR through remote_raise() on failure unless
 *		it says otherwise.  Results are palloc'd.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
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
	List	   *user_peer_network_cidrs;	/* of char *, as Aiven lists them */
	bool		user_peer_network_cidrs_known;	/* the key was in the answer */
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

/*
 * An entry of a service's IP filter: a network string or a {network,
 * description} object, kept as Aiven sent it so that a write gives back
 * every entry it did not add exactly.
 */
typedef struct AivenIpFilterEntry
{
	char	   *network;
	char	   *description;	/* NULL for a plain string */
	char	   *json;			/* the entry as JSON text */
} AivenIpFilterEntry;

typedef struct AivenService
{
	char	   *service_name;
	char	   *project_vpc_id;	/* NULL outside any project VPC */
	List	   *ip_filter;		/* of AivenIpFilterEntry * */
} AivenService;

extern List *aiven_list_services(const char *token, const char *project,
								 bool project_gone_ok);

extern void aiven_update_ip_filter(const char *token, const char *project,
								   const char *service, const List *ip_filter);

extern void aiven_refresh_peerings(const char *token, const char *project,
								   const char *vpc_id);

extern AivenIpFilterEntry *aiven_ip_filter_entry(const char *network,
												 const char *description);

extern List *aiven_list_vpcs(const char *token, const char *project);

extern HttpRequest *aiven_vpc_request(const char *token, const char *project,
									  const char *vpc_id);
extern AivenVpc *aiven_get_vpc(const char *token, const char *project,
							   const char *vpc_id, bool project_gone_ok);

extern AivenPeering *aiven_find_peering(const AivenVpc *vpc, const char *subscription,
										const char *resource_group,
										const char *vnet);

extern AivenPeering *aiven_create_peering(const char *token, const char *project,
										  const char *vpc_id,
										  const char *subscription,
										  const char *resource_group,
										  const char *vnet, const char *app_id,
										  const char *tenant_id,
										  const List *user_peer_network_cidrs);

extern AivenPeering *aiven_delete_peering(const char *token, const char *project,
										  const char *vpc_id,
										  const char *subscription,
										  const char *resource_group,
										  const char *vnet);

extern void aiven_update_user_peer_network_cidrs(const char *token, const char *project,
												const char *vpc_id,
												const char *subscription,
												const char *resource_group,
												const char *vnet,
												const List *add, const List *remove);

#endif							/* PEERING_AIVEN_H */
