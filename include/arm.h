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

/* GET /subscriptions?api-version: tenantId of subscription, NULL if not listed */
extern char *arm_get_subscription_tenant(const char *token, const char *subscription);

/* GET virtualNetwork; NULL on 404 */
extern ArmVnet *arm_get_vnet(const char *token, const char *subscription,
							 const char *resource_group, const char *vnet);

/* GET roleDefinitions/{guid} at /subscriptions/{sub}; NULL on 404 */
extern ArmRoleDefinition *arm_get_role_definition(const char *token,
												  const char *subscription,
												  const char *guid);

/* list roleDefinitions with $filter=roleName eq '…'; NULL when none */
extern ArmRoleDefinition *arm_find_role_definition(const char *token,
												   const char *subscription,
												   const char *role_name);

/*
 * PUT a CustomRole at /subscriptions/{sub}, assignable there, holding
 * actions (List of char *).  NULL when another definition already has that
 * roleName (RoleDefinitionWithSameNameExists): look it up by name.
 */
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

/* DELETE roleDefinitions/{guid} */
extern ArmRoleDeletion arm_delete_role_definition(const char *token,
												  const char *subscription,
												  const char *guid);

/*
 * PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{guid} with
 * principalType ServicePrincipal; 409 RoleAssignmentExists counts as done.
 */
extern ArmRoleAssignment *arm_put_role_assignment(const char *token,
												  const char *scope,
												  const char *guid,
												  const char *role_definition_id,
												  const char *principal_id);

/* DELETE role assignment; false when already gone */
/* GET roleAssignments/{guid} on scope: does it exist? */
extern bool arm_role_assignment_exists(const char *token, const char *scope,
									   const char *guid);

extern bool arm_delete_role_assignment(const char *token, const char *scope,
									   const char *guid);

/*
 * PUT virtualNetworkPeerings/{name} with allowVirtualNetworkAccess, using
 * aux_token as x-ms-authorization-auxiliary for the remote tenant.  With
 * sync_address_space the PUT carries ?syncRemoteAddressSpace=true, which
 * makes the peering take the remote VNet's current address space (a PUT
 * of the same body alone does not).
 */
extern ArmPeering *arm_put_peering(const char *token, const char *aux_token,
								   const char *vnet_id, const char *name,
								   const char *remote_vnet_id,
								   const PeeringOptions *options,
								   bool sync_address_space);

/* peeringSyncLevel says this side's copy of the remote address space is stale */
extern bool arm_sync_level_local_stale(const char *sync_level);

/* … or that the remote side's copy of this VNet's address space is */
extern bool arm_sync_level_remote_stale(const char *sync_level);

/* GET virtualNetworkPeerings/{name}; NULL on 404 */
extern ArmPeering *arm_get_peering(const char *token, const char *vnet_id,
								   const char *name);

/*
 * The same peering found in GET …/virtualNetworks/{vnet}/virtualNetworkPeerings
 * (paged): one list per VNet serves the re-checks of all its peerings.  The
 * peerings these three return are shared by every reader of the list: read
 * only.
 */
extern ArmPeering *arm_find_listed_peering(const char *token, const char *vnet_id,
										   const char *name);

/* Every peering of the VNet (List of ArmPeering *). */
extern List *arm_list_peerings(const char *token, const char *vnet_id);

/* A peering of the VNet to that remote VNet, whatever its name, or NULL. */
extern ArmPeering *arm_find_peering_to(const char *token, const char *vnet_id,
									   const char *remote_vnet_id);

/* What an Azure-AsyncOperation URL tells of a PUT or DELETE. */
typedef struct ArmOperation
{
	char	   *status;			/* "InProgress", "Succeeded", "Failed", … */
	char	   *error_code;		/* error.code once Failed or Canceled, or NULL */
	char	   *error_message;	/* error.message likewise */
} ArmOperation;

/*
 * GET an Azure-AsyncOperation URL.  NULL when the identity may not read it:
 * the URL lies at subscription level, so a role on the VNet alone gets 403
 * AuthorizationFailed; the resource's provisioningState tells then.
 */
extern ArmOperation *arm_get_operation(const char *token, const char *url);

/* The status of arm_get_operation(), NULL when unknown. */
extern char *arm_get_operation_status(const char *token, const char *url);

/* DELETE virtualNetworkPeerings/{name}; false when already gone */
extern bool arm_delete_peering(const char *token, const char *vnet_id,
							   const char *name);

#endif							/* PEERING_ARM_H */
