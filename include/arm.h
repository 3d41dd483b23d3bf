/*
 * arm.h
 *		The Azure Resource Manager calls peering needs (docs/remote-apis.md §4).
 *		Every function raises ERROR through remote_raise() on failure unless it
 *		says otherwise.  Results are palloc'd.  "vnet_id" is a full ARM id
 *		(/subscriptions/…/virtualNetworks/…); a "scope" is such an id too.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_ARM_H
#define PEERING_ARM_H

#include "nodes/pg_list.h"

#include "http.h"

typedef struct ArmVnet
{
	char	   *id;
	char	   *name;
	char	   *location;
	List	   *address_prefixes;	/* of char * */
} ArmVnet;

typedef struct ArmRoleDefinition
{
	char	   *id;				/* full id */
	char	   *name;			/* GUID */
	char	   *role_name;
	char	   *type;			/* BuiltInRole / CustomRole */
} ArmRoleDefinition;

typedef struct ArmRoleAssignment
{
	char	   *id;
	char	   *name;			/* GUID */
	bool		existed;		/* 409 RoleAssignmentExists under another name */
} ArmRoleAssignment;

/* The flags of a peering besides VNet access (always allowed). */
typedef struct PeeringOptions
{
	bool		allow_forwarded_traffic;
	bool		allow_gateway_transit;
	bool		use_remote_gateways;
} PeeringOptions;

typedef struct ArmPeering
{
	char	   *id;
	char	   *name;
	char	   *peering_state;	/* Initiated / Connected / Disconnected */
	char	   *sync_level;		/* peeringSyncLevel: FullyInSync, …NotInSync */
	char	   *provisioning_state;
	char	   *remote_vnet_id;
	bool		allow_vnet_access;
	PeeringOptions options;
	char	   *async_operation;	/* Azure-AsyncOperation URL after a PUT */
} ArmPeering;

extern HttpRequest *arm_read_request(const char *token, const char *url);
extern char *arm_vnet_id(const char *subscription, const char *resource_group,
						 const char *vnet);
extern char *arm_vnet_url(const char *subscription, const char *resource_group,
						  const char *vnet);
extern char *arm_subscriptions_url(void);
extern char *arm_peering_url(const char *vnet_id, const char *name, const char *query);
extern char *arm_get_subscription_tenant(const char *token, const char *subscription);

extern char *arm_get_foreign_subscription_tenant(const char *token,
												 const char *subscription);

extern ArmVnet *arm_get_vnet(const char *token, const char *subscription,
							 const char *resource_group, const char *vnet);

extern ArmRoleDefinition *arm_get_role_definition(const char *token,
												  const char *subscription,
												  const char *guid);

extern ArmRoleDefinition *arm_find_role_definition(const char *token,
												   const char *subscription,
												   const char *role_name);

extern ArmRoleDefinition *arm_put_role_definition(const char *token,
												  const char *subscription,
												  const char *guid,
												  const char *role_name,
												  const char *description,
												  List *actions);

typedef enum ArmRoleDeletion
{
	ARM_ROLE_DELETED,
	ARM_ROLE_GONE,				/* there was none */
	ARM_ROLE_IN_USE				/* 409 RoleDefinitionHasAssignments */
} ArmRoleDeletion;

extern ArmRoleDeletion arm_delete_role_definition(const char *token,
												  const char *subscription,
												  const char *guid);

extern ArmRoleAssignment *arm_put_role_assignment(const char *token,
												  const char *scope,
												  const char *guid,
												  const char *role_definition_id,
												  const char *principal_id);

extern bool arm_role_assignment_exists(const char *token, const char *scope,
									   const char *guid);

extern bool arm_delete_role_assignment(const char *token, const char *scope,
									   const char *guid);

extern ArmPeering *arm_put_peering(const char *token, const char *aux_token,
								   const char *vnet_id, const char *name,
								   const char *remote_vnet_id,
								   const PeeringOptions *options,
								   bool sync_address_space);

extern bool arm_sync_level_local_stale(const char *sync_level);

extern bool arm_sync_level_remote_stale(const char *sync_level);

extern ArmPeering *arm_get_peering(const char *token, const char *vnet_id,
								   const char *name);

extern ArmPeering *arm_find_listed_peering(const char *token, const char *vnet_id,
										   const char *name);

extern List *arm_list_peerings(const char *token, const char *vnet_id);

extern ArmPeering *arm_find_peering_to(const char *token, const char *vnet_id,
									   const char *remote_vnet_id);

/* What an Azure-AsyncOperation URL says of the operation. */
typedef struct ArmOperation
{
	char	   *status;			/* InProgress, Succeeded, Failed, Canceled, … */
	char	   *error_code;		/* error.code once it failed, or NULL */
	char	   *error_message;	/* error.message once it failed, or NULL */
} ArmOperation;

extern ArmOperation *arm_get_operation(const char *token, const char *url);

extern bool arm_operation_failed(const ArmOperation *op);

extern bool arm_delete_peering(const char *token, const char *vnet_id,
							   const char *name);

#endif							/* PEERING_ARM_H */
